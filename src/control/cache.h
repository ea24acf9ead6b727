/* A cache: the unit users see. It owns its engines (supervisor), its topology (published to
 * workers with RCU), its secrets (the default user's password, the engines' internal password),
 * its settings and its endpoint ports. Only the cache "default" exists so far; every structure
 * is already per cache so more can be added without reshaping the data path. */
#ifndef STRATUS_CACHE_H
#define STRATUS_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cluster/supervisor.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "cluster/topology.h"
#include "acl/acl.h"
#include "control/settings.h"
#include "control/store.h"
#include "meter/meter.h"
#include "scale/policy.h"

/* Upper bounds (microseconds) of the reply latency histogram; the last bucket is unbounded. */
#define CACHE_LATENCY_BUCKETS 16
extern const uint64_t cache_latency_us[CACHE_LATENCY_BUCKETS - 1];

/* Counters workers add to (relaxed atomics) and the control thread reads. */
typedef struct {
    _Atomic int64_t connected_clients;  /* sessions open now */
    _Atomic int64_t total_connections;  /* sessions accepted since start */
    _Atomic int64_t total_commands;     /* commands received */
    _Atomic int64_t rejected_tls;       /* plaintext or failed handshakes on the TLS port */
    _Atomic int64_t backend_errors;     /* replies turned into errors by engine failures */
    _Atomic int64_t redirects;          /* MOVED/ASK/TRYAGAIN absorbed */
    _Atomic int64_t private_links;      /* private engine connections (blocking commands) */
    _Atomic int64_t cross_slot_reads;   /* reads served across slots by gathering their keys */
    _Atomic int64_t rejected_conns;     /* connections refused at --maxclients */
    _Atomic int64_t output_limit_kills; /* clients disconnected at --client-output-limit */
    _Atomic int64_t idle_kills;         /* clients closed after --idle-timeout */
    _Atomic int64_t auth_timeouts;      /* clients closed for not authenticating in time */
    _Atomic uint64_t latency[CACHE_LATENCY_BUCKETS]; /* replies by time from request to reply,
                                                        bucket i: up to cache_latency_us[i] */
    _Atomic uint64_t latency_sum_us;                 /* their sum */
} cache_counters;

/* A script body the cache keeps so NOSCRIPT never reaches a client that loaded it. */
typedef struct cache_script {
    char sha[41]; /* sha1, lowercase hex */
    char *body;   /* the script */
    size_t len;   /* its length */
} cache_script;

/* An engine setting a client changed with CONFIG SET (allow-listed). */
typedef struct {
    char name[64];
    char *value;
} cache_override;

/* Totals of a cache's metering: what was recorded before this start (from the store) plus what
 * was flushed since, or a per-command snapshot. */
typedef struct {
    uint64_t calls, mecpu, bytes_in, bytes_out;
    uint64_t storage_byte_s; /* dataset bytes x seconds */
    uint64_t throttled, rejected;
} usage_totals;

/* One ACL user's ECPU/s quota. */
typedef struct {
    char user[64];
    long ecpu_s;
    pthread_mutex_t lock; /* guards bucket (any worker) */
    meter_bucket bucket;
} cache_user_quota;

/* Metering state. Workers write their own meter_cell rows (cells + worker id * cmd_ids); the
 * control thread refreshes cpu_mecpu and the storage figures and flushes a minute's deltas to
 * the store. Invariant: cells, cpu_mecpu and is_free have cmd_ids entries per worker / each. */
typedef struct {
    int on;                      /* --metering on */
    long us_per_ecpu;            /* --meter-us-per-ecpu (0: no CPU part) */
    uint8_t *is_free;            /* by command id: not metered */
    _Atomic uint64_t *cpu_mecpu; /* by command id: milli-ECPU of engine time per call */
    meter_cell *cells;           /* workers x cmd_ids counters */
    int workers;                 /* rows in cells */
    usage_totals *flushed; /* control thread: per command id, cells summed at the last flush */
    usage_totals base;     /* recorded before this start (store) */
    _Atomic uint64_t storage_bytes;  /* dataset bytes over the primaries, last sample */
    _Atomic uint64_t storage_byte_s; /* integrated since this start */
    _Atomic uint64_t throttled;      /* commands refused by the ECPU/s limit since start */
    _Atomic uint64_t rejected;       /* commands refused before running since start */
    uint64_t flushed_rejected;       /* rejected at the last flush */
    uint64_t last_sample_ms;         /* storage and CPU table sampled then */
    uint64_t minute_storage_byte_s;  /* integrated in the minute being recorded */
    uint64_t minute_rest_byte_s;     /* snapshot at rest (asleep), same minute */
    uint64_t minute_connections;     /* peak connections in it */
    uint64_t flushed_throttled;      /* throttled at the last flush */
    int64_t minute;                  /* unix minute being recorded */
    int64_t pruned_day;              /* last retention pass (unix day) */
    long max_ecpu_s;                 /* --max-ecpu-per-second, 0: no limit */
    pthread_mutex_t bucket_lock;     /* guards bucket (any worker) */
    meter_bucket bucket;             /* the ECPU/s limit */
    cache_user_quota quotas[32];     /* --user-ecpu-per-second */
    int nquotas;
    pthread_mutex_t prefix_lock; /* guards prefixes (workers add, the control thread takes) */
    meter_prefix prefixes[256];  /* ECPU by key prefix in the minute being recorded */
    size_t nprefixes;
} cache_meter;

/* Scale to zero. Invariant: asleep is set while the engines are stopped (or not started) and
 * a verified hibernation manifest is on disk; workers then hold requests (up to WAKE_WAIT_MS)
 * and ask for a wake. */
typedef struct {
    long after_ms;                       /* --hibernate-after (0: never) */
    _Atomic int asleep;                  /* engines stopped: requests wait for the wake */
    _Atomic int wake_wanted;             /* a request arrived while asleep */
    _Atomic int sleep_wanted;            /* STRATUS HIBERNATE */
    _Atomic int wake_failed;             /* the snapshot did not verify: requests get wake_error */
    char wake_error[300];                /* written before wake_failed is set */
    uint64_t seen_activity;              /* control thread: commands done at the last check
                                            (hibernate.c: activity) */
    uint64_t idle_since_ms;              /* control thread: no activity since then */
    _Atomic uint64_t rest_bytes;         /* bytes of the hibernation snapshot (storage at rest) */
    _Atomic int64_t hibernations, wakes; /* since start */
    _Atomic int64_t last_wake_ms;        /* how long the last wake took */
    uint64_t asleep_since_ms;            /* wall clock (unix ms) when it fell asleep */
} cache_sleep;

/* How long a request waits for a sleeping cache to wake before it fails. */
#define WAKE_WAIT_MS 30000

/* One slot to move during a reshard (node ids of the primaries). */
typedef struct {
    uint16_t slot;
    char from[41], to[41];
} cache_move;

/* A live reshard in progress (control thread only). */
typedef struct {
    int active;          /* moves remain */
    int target;          /* shards wanted */
    cache_move *moves;   /* planned, in order */
    size_t nmoves, next; /* entries, next to run */
    char drain[64][41];  /* primaries to remove once their slots are gone */
    int ndrain;
    uint64_t started_ms;       /* when the reshard began */
    uint64_t moves_started_ms; /* when new shards were ready and the first slot moved */
    uint64_t keys;             /* keys moved so far */
    int batch;                 /* slots per pipelined move batch (adapts to how long one takes) */
    char reason[160];          /* why it runs */
    uint64_t retry_at;         /* after a failed move: not before (ms) */
    uint64_t failures;         /* failed move attempts */
} cache_reshard;

/* Invariant: topo is never NULL after cache_start; it is replaced, never modified. acl is never
 * NULL after cache_create; it too is replaced, never modified (changes under state_lock). */
typedef struct cache {
    char name[64];                 /* "default" */
    char dir[4200];                /* <data-dir>/caches/<name> */
    char password[65];             /* default user's password (hex) */
    char internal_password[65];    /* engines' requirepass; never shown to clients */
    char proxy_password[65];       /* engines' "stratus-proxy" user (the endpoint's links) */
    char node_id[41];              /* id the endpoint presents in CLUSTER replies */
    const settings *cfg;           /* service settings */
    int port;                      /* TLS port actually bound */
    int plaintext_port;            /* plaintext port actually bound, -1 if off */
    int reader_port;               /* reader (TLS) port actually bound, -1 if off */
    char zone[16];                 /* this endpoint's zone: the reader port reads from it */
    topology *topo;                /* RCU-published snapshot */
    _Atomic int refresh_wanted;    /* a worker saw MOVED: rebuild the topology soon */
    supervisor *sup;               /* engines */
    uint64_t started_ms;           /* monotonic start time */
    cache_counters counters;       /* endpoint counters */
    struct auth_guard *auth_guard; /* failed AUTH budget per client address (NULL: none) */
    struct acl_log *acl_log;       /* ACL LOG: denials and failed AUTHs, any worker (acl_log.h) */
    uint64_t output_limit;         /* --client-output-limit, bytes (0: none) */
    pthread_mutex_t scripts_lock;  /* guards scripts */
    struct cache_script *scripts;  /* Lua scripts clients loaded (SCRIPT LOAD, EVAL), by sha */
    size_t nscripts, scripts_cap;
    pthread_mutex_t stats_lock; /* guards stats */
    supervisor_stats stats;     /* last engine sample */
    store *store;               /* durable state (control thread only), NULL: in memory only */
    pthread_mutex_t state_lock; /* guards overrides, acl changes, retired and the dirty flags */
    cache_override *overrides;  /* CONFIG SET values in force, by name */
    size_t noverrides;
    int overrides_dirty;                  /* overrides changed: persist and apply to every engine */
    int users_dirty;                      /* ACL users changed: persist */
    int scripts_dirty;                    /* a script was added or the scripts flushed: persist */
    acl_table *acl;                       /* RCU-published users */
    _Atomic uint64_t acl_engines_version; /* users version every running engine has */
    uint64_t engine_users_version;        /* control thread: version rendered for engines */
    int wake_fd;         /* eventfd: wakes the control thread (an ACL change for the engines) */
    acl_table **retired; /* replaced tables, freed by the control thread after a grace
                            period */
    size_t nretired;
    _Atomic int scale_request;   /* shards asked for (STRATUS SCALE), 0 when none is pending */
    _Atomic int resharding;      /* a reshard is running (INFO stratus) */
    _Atomic int64_t slots_moved; /* slots moved by resharding since start (INFO stratus) */
    cache_reshard reshard;       /* control thread only */
    int autoscale;               /* --autoscale on */
    int follow;                  /* --follow: a zone endpoint; the control plane is elsewhere */
    int sync_writes;             /* --durability sync: a write is acknowledged once a replica
                                    has it (the endpoint sends WAIT 1 after it) */
    uint64_t shard_memory;       /* --shard-memory, bytes */
    uint64_t max_storage;        /* --max-storage, bytes (0: none): split over the shards as
                                    their maxmemory, keys evicted as `eviction` says */
    char eviction[24];           /* --eviction: the engines' maxmemory-policy at the limit */
    scale_policy_config policy;  /* thresholds, windows, bounds (control thread) */
    scale_state scale;           /* what the policy remembers (control thread) */
    char pending_reason[200];    /* why the next reshard runs (the autoscaler's reason) */
    uint64_t next_sample_ms;     /* autoscaler: next load sample */
    uint64_t next_guard_ms;      /* memory guard while a shard is being added: next sample */
    _Atomic int oom_absorb;      /* the autoscaler can still add memory: an OOM reply is
                                    retried by the endpoint (within --backend-timeout) */
    _Atomic int memory_pressure; /* a worker saw OOM: sample at once */
    cache_meter meter;           /* metering (control/usage.c) */
    cache_sleep sleep;           /* scale to zero (control/hibernate.c) */
    _Atomic int nshards;         /* shards of the published topology (for other threads) */
    pthread_mutex_t links_lock;  /* guards link_users */
    struct cache_link_user *link_users; /* private engine links held, per ACL user */
    size_t nlink_users;
} cache;

/* Private engine links (blocking commands, WATCH, subscriptions) one ACL user holds. */
typedef struct cache_link_user {
    char *user;
    long n;
} cache_link_user;

/* Count one reply that took us microseconds (any worker). */
static inline void cache_count_latency(cache *c, uint64_t us)
{
    int i = 0;
    while (i < CACHE_LATENCY_BUCKETS - 1 && us > cache_latency_us[i])
        i++;
    atomic_fetch_add_explicit(&c->counters.latency[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->counters.latency_sum_us, us, memory_order_relaxed);
}

/* CONFIG SET allow-list: whether name may be set by clients. */
int cache_config_allowed(const char *name, size_t len);

/* 1 if `policy` is a maxmemory-policy the --eviction setting accepts. */
int cache_eviction_ok(const char *policy);

/* The policies cache_eviction_ok accepts, for error messages ("a, b, ..."). */
const char *cache_eviction_policies(void);
/* The allow-list, comma-separated, for error messages. */
const char *cache_config_allowed_text(void);
/* Record CONFIG SET name value (already accepted by every primary). Thread-safe. */
void cache_config_record(cache *c, const char *name, size_t nlen, const char *value, size_t vlen);
/* The users table (inside an RCU read-side section). */
const acl_table *cache_acl(const cache *c);
/* ACL SETUSER: create or change user name with rules; 0 with the new table's version in
 * *version (the engines have it once acl_engines_version reaches it), or -EINVAL with Redis's
 * message (the table is unchanged). Thread-safe. */
int cache_acl_setuser(cache *c, const char *name, size_t nlen, size_t nrules,
                      const char *const *rules, const size_t *lens, uint64_t *version, char *err,
                      size_t errlen);
/* ACL DELUSER: remove the named users; the count removed (the table's version in *version), or
 * -EINVAL (default). Thread-safe. */
int cache_acl_deluser(cache *c, size_t n, const char *const *names, const size_t *lens,
                      uint64_t *version, char *err, size_t errlen);
/* Wake the control thread now (any thread): it brings the engines' users in step. */
void cache_wake(cache *c);
/* One more private engine link for user (any thread): 0 when taken, -ENOSPC when the cache's
 * --max-blocking-clients are all held, -EDQUOT when the user holds its --max-blocking-per-user
 * share. */
int cache_private_link_take(cache *c, const char *user);
/* Give back a link cache_private_link_take gave user. */
void cache_private_link_give(cache *c, const char *user);
/* Open the durable store and load what clients changed before (before cache_start). */
int cache_attach_store(cache *c, store *st, char *err, size_t errlen);

/* Create the cache directory and its secrets (generated at first start, mode 0600). */
cache *cache_create(const char *name, const settings *cfg, const char *engine_binary, char *err,
                    size_t errlen);
/* Start the engines and publish the first topology. 0 or -1 with err. */
int cache_start(cache *c, char *err, size_t errlen);
/* Control-thread housekeeping: restart engines, refresh topology, sample stats. */
void cache_tick(cache *c, int full);
/* Read the topology inside an RCU read-side section (workers: between quiescent states). */
const topology *cache_topology(const cache *c);
/* Copy the latest engine statistics. */
void cache_get_stats(cache *c, supervisor_stats *out);
/* Remember a script body under its sha1 (hex); a no-op when known. Thread-safe. */
void cache_script_add(cache *c, const char *sha, const char *body, size_t len);
/* Copy the body of script sha into out (appended); 0, or -ENOENT. Thread-safe. */
int cache_script_get(cache *c, const char *sha, size_t shalen, buf *out);
/* Forget every script (SCRIPT FLUSH). Thread-safe. */
void cache_scripts_clear(cache *c);
/* Whether the control loop has work to do at once (a reshard runs): it should not sleep. */
int cache_busy(const cache *c);
/* Record an event (scaling, failover, hibernation): logged, and kept in the store for
 * `stratus events` and the API (control thread). */
void cache_event(cache *c, const char *kind, const char *fmt, ...) ATTR_PRINTF(3, 4);
/* Stop the engines with a save. */
void cache_stop(cache *c);
/* Free the cache (after stop, once no worker runs). */
void cache_destroy(cache *c);

#endif
