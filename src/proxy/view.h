/* The data path's view of its cache: what the control plane publishes to the endpoint's workers
 * and the few calls they make back. It is all the proxy knows of the control plane.
 *
 * Dependency rule: no file under src/proxy/ includes a header of src/control/, and the control
 * plane includes only this header and proxy/worker.h of the proxy. What both sides use lives in
 * rooms of its own: the users model (acl/), the topology (cluster/topology.h), the metering
 * ledger (meter/ledger.h).
 *
 * The control plane owns the view (it is part of its cache), fills it before the workers start,
 * and changes it afterwards only as each field says: published pointers are replaced with RCU,
 * never modified; atomics are written by the side named. The workers read it and write only
 * the counters, the ledger, the link budget and the requests marked "worker sets". */
#ifndef STRATUS_PROXY_VIEW_H
#define STRATUS_PROXY_VIEW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "acl/acl.h"
#include "acl/acl_log.h"
#include "acl/authguard.h"
#include "cluster/topology.h"
#include "common/buf.h"
#include "meter/ledger.h"

/* CLIENT PAUSE modes, as Redis's: WRITE pauses writes and what may replicate, ALL everything. */
#define VIEW_PAUSE_OFF 0
#define VIEW_PAUSE_WRITE 1
#define VIEW_PAUSE_ALL 2

/* The endpoint's counters, one row each: X(field, INFO section, INFO name, Prometheus family,
 * type, help). Workers add to them (relaxed atomics); INFO (proxy/local.c) and /metrics
 * (control/metrics.c) show every row, in this order. */
#define VIEW_COUNTERS(X)                                                                           \
    X(connected_clients, VIEW_INFO_CLIENTS, "connected_clients", "stratus_curr_connections",       \
      "gauge", "client connections (CurrConnections)")                                             \
    X(total_connections, VIEW_INFO_STATS, "total_connections_received",                            \
      "stratus_new_connections_total", "counter", "client connections accepted (NewConnections)")  \
    X(total_commands, VIEW_INFO_STATS, "total_commands_processed",                                 \
      "stratus_commands_processed_total", "counter",                                               \
      "commands received by the endpoint, metered or not (CloudWatch: GetTypeCmds + "              \
      "SetTypeCmds + ...)")                                                                        \
    X(rejected_conns, VIEW_INFO_STATS, "rejected_connections",                                     \
      "stratus_rejected_connections_total", "counter", "connections refused at --maxclients")      \
    X(output_limit_kills, VIEW_INFO_STATS, "client_output_buffer_limit_disconnections",            \
      "stratus_client_output_limit_disconnections_total", "counter",                               \
      "clients disconnected at --client-output-limit")                                             \
    X(idle_kills, VIEW_INFO_STATS, "client_idle_timeouts", "stratus_client_idle_timeouts_total",   \
      "counter", "clients closed after --idle-timeout")                                            \
    X(auth_timeouts, VIEW_INFO_STATS, "client_auth_timeouts",                                      \
      "stratus_client_auth_timeouts_total", "counter",                                             \
      "clients closed for not authenticating within --auth-timeout")                               \
    X(rejected_tls, VIEW_INFO_STATS, "rejected_tls_connections",                                   \
      "stratus_rejected_tls_connections_total", "counter",                                         \
      "plaintext clients or failed handshakes on the TLS port")                                    \
    X(backend_errors, VIEW_INFO_STATS, "engine_errors", "stratus_engine_errors_total", "counter",  \
      "replies turned into errors by engine failures")                                             \
    X(redirects, VIEW_INFO_STATS, "redirections_absorbed", "stratus_redirections_absorbed_total",  \
      "counter", "MOVED, ASK and TRYAGAIN answered by the endpoint instead of the client")         \
    X(cross_slot_reads, VIEW_INFO_STATS, "cross_slot_reads", "stratus_cross_slot_reads_total",     \
      "counter", "reads served across slots by gathering their keys")                              \
    X(private_links, VIEW_INFO_STATS, "blocking_links", "stratus_blocking_links", "gauge",         \
      "private engine links held (blocking commands, WATCH, subscriptions)")

/* INFO sections the counters go to. */
#define VIEW_INFO_CLIENTS 0x02u
#define VIEW_INFO_STATS 0x10u

typedef struct {
#define VIEW_COUNTER_FIELD(field, section, info, family, type, help) _Atomic int64_t field;
    VIEW_COUNTERS(VIEW_COUNTER_FIELD)
#undef VIEW_COUNTER_FIELD
} view_counters;

/* One counter's description (view_counter_rows). */
typedef struct {
    uint32_t info_section; /* VIEW_INFO_* */
    const char *info_name, *family, *type, *help;
    size_t offset; /* of its field in view_counters */
} view_counter_row;

/* The rows of VIEW_COUNTERS, in order; *n gets their count. */
const view_counter_row *view_counter_rows(size_t *n);
/* The value of row r's counter in k. */
int64_t view_counter_value(const view_counters *k, const view_counter_row *r);

/* Upper bounds (microseconds) of the reply latency histogram; the last bucket is unbounded. */
#define VIEW_LATENCY_BUCKETS 16
extern const uint64_t view_latency_us[VIEW_LATENCY_BUCKETS - 1];

/* Replies by time from request to reply (workers add). */
typedef struct {
    _Atomic uint64_t bucket[VIEW_LATENCY_BUCKETS]; /* bucket i: up to view_latency_us[i] */
    _Atomic uint64_t sum_us;                       /* their sum */
} view_latency;

/* The limits the endpoint enforces (copied from the settings before the workers start). */
typedef struct {
    char bind[256];                /* address the listeners bind */
    long port;                     /* TLS port asked for (0: any free) */
    long plaintext_port;           /* plaintext port asked for, -1 off */
    long reader_port;              /* reader port asked for, -1 off */
    long backend_timeout;          /* ms an engine may take to answer */
    long handshake_timeout;        /* ms a TLS handshake may take */
    long auth_timeout;             /* ms a client may stay unauthenticated */
    long idle_timeout;             /* s a client may stay idle (0: forever) */
    long maxclients;               /* client connections */
    long max_blocking_clients;     /* private links of the cache (resolved: never 0) */
    long max_blocking_per_user;    /* private links of one ACL user (resolved) */
    long auth_failures_per_minute; /* failed AUTH budget of one address */
    uint64_t output_limit;         /* bytes a client's output may hold (0: no limit) */
} view_limits;

/* Scale to zero, as the workers see it. Invariant: asleep is set while the engines are stopped
 * (or not started) and a verified hibernation manifest is on disk; workers then hold requests
 * (up to VIEW_WAKE_WAIT_MS) and ask for a wake. */
typedef struct {
    _Atomic int asleep;       /* control sets: engines stopped, requests wait for the wake */
    _Atomic int wake_wanted;  /* worker sets: a request arrived while asleep */
    _Atomic int sleep_wanted; /* worker sets: STRATUS HIBERNATE */
    _Atomic int wake_failed;  /* control sets: the snapshot did not verify: requests get
                                 wake_error */
    char wake_error[300];     /* written before wake_failed is set */
} view_sleep;

/* How long a request waits for a sleeping cache to wake before it fails. */
#define VIEW_WAKE_WAIT_MS 30000

/* Engine figures for INFO (the control thread's last sample). */
typedef struct {
    char engine_version[32];
    int engines_total, engines_up;
    int64_t restarts, failovers;
} view_stats;

/* What the data path asks of the control plane (owner is view.owner). Any worker calls them;
 * each is thread-safe. */
typedef struct {
    /* A script body clients loaded, kept (and persisted) so NOSCRIPT never reaches a client that
     * loaded it: remember sha's body, copy it into out (0, or -ENOENT), forget them all. */
    void (*script_add)(void *owner, const char *sha, const char *body, size_t len);
    int (*script_get)(void *owner, const char *sha, size_t shalen, buf *out);
    void (*scripts_clear)(void *owner);
    /* Record CONFIG SET name value (already accepted by every primary). */
    void (*config_record)(void *owner, const char *name, size_t nlen, const char *value,
                          size_t vlen);
    /* ACL SETUSER / DELUSER (see control/cache.h cache_acl_setuser/cache_acl_deluser). */
    int (*acl_setuser)(void *owner, const char *name, size_t nlen, size_t nrules,
                       const char *const *rules, const size_t *lens, uint64_t *version, char *err,
                       size_t errlen);
    int (*acl_deluser)(void *owner, size_t n, const char *const *names, const size_t *lens,
                       uint64_t *version, char *err, size_t errlen);
    /* The engines' figures of the last sample. */
    void (*stats)(void *owner, view_stats *out);
    /* Wake the control thread now (it brings the engines' users in step). */
    void (*wake)(void *owner);
} view_ops;

/* Private engine links one ACL user holds (view_link_take). */
typedef struct {
    char *user;
    long n;
} view_link_user;

typedef struct proxy_view {
    /* Identity and limits: set before the workers start, then read-only. */
    char name[64];                 /* the cache's name */
    char node_id[41];              /* id the endpoint presents in CLUSTER replies */
    char proxy_password[65];       /* the endpoint's engine user "stratus-proxy" */
    char zone[16];                 /* this endpoint's zone: the reader port reads from it */
    int follow;                    /* a zone endpoint; the control plane is elsewhere */
    int sync_writes;               /* --durability sync: a write is acknowledged once a replica
                                      has it (the endpoint sends WAIT 1 after it) */
    uint64_t max_storage;          /* --max-storage, bytes (0: none), for INFO */
    char eviction[24];             /* the engines' maxmemory-policy at that limit */
    uint64_t started_ms;           /* monotonic start time */
    view_limits limits;            /* what the endpoint enforces */
    int port;                      /* TLS port bound (worker_pool_create) */
    int plaintext_port;            /* plaintext port bound, -1 if off */
    int reader_port;               /* reader port bound, -1 if off */
    struct auth_guard *auth_guard; /* failed AUTH budget per client address (NULL: none) */
    struct acl_log *acl_log;       /* ACL LOG: denials and failed AUTHs (any worker) */
    const view_ops *ops;           /* calls back */
    void *owner;                   /* their first argument */

    /* Published by the control thread with RCU: replaced, never modified; never NULL once the
     * workers run. */
    topology *topo;
    acl_table *acl;
    _Atomic uint64_t acl_engines_version; /* control sets: users version every engine has */
    _Atomic int nshards;                  /* control sets: shards of topo */
    _Atomic int resharding;               /* control sets: a reshard is running */
    _Atomic int64_t slots_moved;          /* control sets: slots moved since start */
    _Atomic int oom_absorb;               /* control sets: the autoscaler can still add memory,
                                             so an OOM reply is retried (within
                                             --backend-timeout) */
    view_sleep sleep;

    /* Requests to the control thread. */
    _Atomic int code_links_out;  /* code links with requests out: a script may be running */
    _Atomic int refresh_wanted;  /* worker sets: a MOVED was seen, rebuild the topology */
    _Atomic int scale_request;   /* worker sets: shards asked for (STRATUS SCALE), 0: none */
    _Atomic int memory_pressure; /* worker sets: an OOM reply was seen, sample at once */

    /* CLIENT PAUSE, cache-wide (worker sets): VIEW_PAUSE_WRITE or VIEW_PAUSE_ALL until end_ms
     * (ev_clock_ms), and the clients whose command waits for it to end (INFO blocked_clients
     * counts them, as Redis counts its paused clients). */
    _Atomic int pause_type;
    _Atomic uint64_t pause_end_ms;
    _Atomic int64_t pause_waiting;

    /* Written by the workers. */
    view_counters counters;
    view_latency latency;
    meter_ledger meter;         /* metering (the control thread fills and flushes it) */
    pthread_mutex_t links_lock; /* guards link_users */
    view_link_user *link_users; /* private engine links held, per ACL user */
    size_t nlink_users;
} proxy_view;

/* Prepare v's locks and zero it (the control plane then fills it). */
void view_init(proxy_view *v);
/* Free what the workers left in v (after they stopped). */
void view_deinit(proxy_view *v);
/* The topology / the users table, inside an RCU read-side section (workers: between quiescent
 * states). */
const topology *view_topology(const proxy_view *v);
const acl_table *view_acl(const proxy_view *v);
/* Count one reply that took us microseconds (any worker; inline: once per reply). */
static inline void view_count_latency(proxy_view *v, uint64_t us)
{
    int i = 0;
    while (i < VIEW_LATENCY_BUCKETS - 1 && us > view_latency_us[i])
        i++;
    atomic_fetch_add_explicit(&v->latency.bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&v->latency.sum_us, us, memory_order_relaxed);
}
/* One more private engine link for user (any thread): 0 when taken, -ENOSPC when the cache's
 * max_blocking_clients are all held, -EDQUOT when the user holds its max_blocking_per_user
 * share. */
int view_link_take(proxy_view *v, const char *user);
/* Give back a link view_link_take gave user. */
void view_link_give(proxy_view *v, const char *user);

#endif
