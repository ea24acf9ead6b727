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
#include "meter/ledger.h"
#include "proxy/view.h"
#include "scale/policy.h"

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

/* Scale to zero, the control thread's side (what the workers see is view.sleep). */
typedef struct {
    long after_ms;                       /* --hibernate-after (0: never) */
    uint64_t seen_activity;              /* control thread: commands done at the last check
                                            (hibernate.c: activity) */
    uint64_t idle_since_ms;              /* control thread: no activity since then */
    _Atomic uint64_t rest_bytes;         /* bytes of the hibernation snapshot (storage at rest) */
    _Atomic int64_t hibernations, wakes; /* since start */
    _Atomic int64_t last_wake_ms;        /* how long the last wake took */
    uint64_t asleep_since_ms;            /* wall clock (unix ms) when it fell asleep */
} cache_sleep;

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

/* Invariant: view.topo is never NULL after cache_start; it is replaced, never modified.
 * view.acl is never NULL after cache_create; it too is replaced, never modified (changes under
 * state_lock). Everything the endpoint's workers read or write is in view (proxy/view.h); the
 * rest is the control thread's, or guarded by the lock its comment names. */
typedef struct cache {
    proxy_view view;              /* the data path's view: identity, limits, published topology
                                     and users, counters, metering, sleep state */
    char dir[4200];               /* <data-dir>/caches/<name> */
    char password[65];            /* default user's password (hex) */
    char internal_password[65];   /* engines' requirepass; never shown to clients */
    const settings *cfg;          /* service settings */
    supervisor *sup;              /* engines */
    pthread_mutex_t scripts_lock; /* guards scripts */
    struct cache_script *scripts; /* Lua scripts clients loaded (SCRIPT LOAD, EVAL), by sha */
    size_t nscripts, scripts_cap;
    pthread_mutex_t stats_lock; /* guards stats */
    supervisor_stats stats;     /* last engine sample */
    store *store;               /* durable state (control thread only), NULL: in memory only */
    pthread_mutex_t state_lock; /* guards overrides, acl changes, retired and the dirty flags */
    cache_override *overrides;  /* CONFIG SET values in force, by name */
    size_t noverrides;
    int overrides_dirty;           /* overrides changed: persist and apply to the engines */
    int overrides_primaries;       /* ... primaries too (values not from a client's CONFIG SET) */
    int users_dirty;               /* ACL users changed: persist */
    int scripts_dirty;             /* a script was added or the scripts flushed: persist */
    uint64_t engine_users_version; /* control thread: version rendered for engines */
    int wake_fd;         /* eventfd: wakes the control thread (an ACL change for the engines) */
    acl_table **retired; /* replaced tables, freed by the control thread after a grace
                            period */
    size_t nretired;
    cache_reshard reshard;      /* control thread only */
    int autoscale;              /* --autoscale on */
    uint64_t shard_memory;      /* --shard-memory, bytes; view.max_storage is split over the
                                   shards as their maxmemory, keys evicted as view.eviction says */
    scale_policy_config policy; /* thresholds, windows, bounds (control thread) */
    scale_state scale;          /* what the policy remembers (control thread) */
    char pending_reason[200];   /* why the next reshard runs (the autoscaler's reason) */
    uint64_t next_sample_ms;    /* autoscaler: next load sample */
    uint64_t next_guard_ms;     /* memory guard while a shard is being added: next sample */
    cache_sleep sleep;          /* scale to zero (control/hibernate.c) */
} cache;

/* 1 if `policy` is a maxmemory-policy the --eviction setting accepts. */
int cache_eviction_ok(const char *policy);

/* The policies cache_eviction_ok accepts, for error messages ("a, b, ..."). */
const char *cache_eviction_policies(void);
/* Record CONFIG SET name value. Thread-safe. from_client: every primary accepted it from the
 * client's own CONFIG SET, so the control thread gives it to the replicas only; else (values
 * loaded at start) to every engine. */
void cache_config_record(cache *c, const char *name, size_t nlen, const char *value, size_t vlen,
                         int from_client);
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
/* Open the durable store and load what clients changed before (before cache_start). */
int cache_attach_store(cache *c, store *st, char *err, size_t errlen);

/* Create the cache directory and its secrets (generated at first start, mode 0600). */
cache *cache_create(const char *name, const settings *cfg, const char *engine_binary, char *err,
                    size_t errlen);
/* The view the endpoint's workers get, its metering ledger sized for `workers` of them (once,
 * before worker_pool_create). */
proxy_view *cache_view(cache *c, int workers);
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
