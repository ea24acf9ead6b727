/* Engine supervisor: runs a cache's redis-server (or valkey-server) processes as a Redis
 * Cluster. It renders their configuration, spawns them, builds the cluster on first start
 * (slots, replicas), adopts their data on later starts, restarts a child that dies, reports the
 * topology, and stops them with a save. Control thread only: it blocks. */
#ifndef STRATUS_SUPERVISOR_H
#define STRATUS_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cluster/topology.h"
#include "common/buf.h"

typedef struct supervisor supervisor;

/* What the supervisor needs to know about its cache. */
typedef struct {
    const char *cache_name;     /* for logs */
    const char *dir;            /* <data-dir>/caches/<name>: engines live under it */
    const char *engine_binary;  /* absolute path of redis-server / valkey-server */
    const char *password;       /* internal password (requirepass/masterauth) */
    const char *proxy_password; /* password of the engines' "stratus-proxy" user */
    const char *proxy_rules;    /* that user's ACL rules, password included (">...") */
    int shards;                 /* shards to create on first start */
    int replicas;               /* replicas per shard */
    int node_timeout_ms;        /* cluster-node-timeout */
    int failover_timeout_ms;    /* a primary silent this long is replaced by its replica */
    uint64_t maxmemory;         /* each engine's maxmemory (the shard size), 0 for none */
    int sync_writes;            /* --durability sync: primaries refuse writes with no replica */
    const char *zones;          /* comma-separated zones of a new cache ("" for z1, z2, ...) */
    const char *preferred_zone; /* zone of every new primary ("" to spread them) */
    const char *zone_netns;     /* zones run in network namespaces: "zone:netns:ip,..." */
    const char *zone_agents;    /* zones run on other hosts' agents: "zone=host:port,..." */
    const char *agent_token;    /* the token agents check (with zone_agents) */
    const char *follow;         /* "host:port,...": run no engine, follow these (a zone endpoint) */
    int failback_delay_ms;      /* a replica in the preferred zone in sync this long takes back
                                   the primary role */
    const char *maxmemory_policy; /* the engines' maxmemory-policy (NULL: noeviction) */
    long engine_maxclients;       /* each engine's maxclients (0: Redis's default) */
} supervisor_config;

/* One shard primary's load, sampled from its INFO (rates over the last sample interval). */
typedef struct {
    char id[41];          /* primary's node id */
    uint64_t t_ms;        /* when */
    uint64_t used_memory; /* bytes */
    uint64_t maxmemory;   /* bytes, 0 if none */
    double cpu;           /* fraction of one core since the previous sample */
    double ops;           /* instantaneous ops/s */
    double net_in;        /* bytes/s received (instantaneous) */
    double net_out;       /* bytes/s sent (instantaneous) */
    uint64_t keys;        /* keys in db0 */
} supervisor_shard_load;

/* Engine health, sampled by supervisor_sample (INFO figures are summed at request time). */
typedef struct {
    int engines_up;          /* engines answering PING */
    int engines_total;       /* engines supervised */
    int64_t restarts;        /* engine restarts since start */
    int64_t failovers;       /* primaries replaced by a replica since start */
    char engine_version[32]; /* e.g. "7.0.15" */
} supervisor_stats;

/* Find the engine binary: explicit path, else redis-server then valkey-server on PATH.
 * Fills out (size outlen) or returns -1 with the fix in err. */
int supervisor_find_engine(const char *wanted, char *out, size_t outlen, char *err, size_t errlen);
/* Create a supervisor (nothing runs yet); config strings are copied. */
supervisor *supervisor_create(const supervisor_config *cfg);
/* Start every engine (building the cluster on first start) and wait (up to timeout_ms) until
 * each answers and every slot is assigned; cluster_state may still be settling. */
int supervisor_start(supervisor *s, int timeout_ms, char *err, size_t errlen);
/* Fail over every primary that died or has not answered for the failover timeout: its most
 * up-to-date replica takes over, the old one is fenced (killed) and rejoins as a replica.
 * Failovers done (the topology must be rebuilt when > 0). Control thread only. */
int supervisor_check_primaries(supervisor *s);
/* Failovers since start. */
int64_t supervisor_failovers(const supervisor *s);
/* Mark each node of t available when its process runs and, for a primary, it reports
 * cluster_state:ok; workers hold requests for unavailable primaries. Control thread only. */
void supervisor_update_availability(supervisor *s, topology *t);
/* Whether every engine runs and reports cluster_state:ok (one round of checks). */
int supervisor_cluster_ok(supervisor *s);
/* Reap and restart dead engines; cheap, call often (every ~100 ms). */
void supervisor_poll(supervisor *s);
/* Build a fresh topology from the engines (CLUSTER NODES); NULL if no engine answered. */
topology *supervisor_topology(supervisor *s);
/* The topology the stopped engines had (their nodes.conf), or NULL: routes for a cache that
 * starts asleep, so requests wait for the wake instead of finding no shard. */
topology *supervisor_topology_at_rest(supervisor *s);
/* Count the engines that answer PING, with restarts and the engine version. */
void supervisor_sample(supervisor *s, supervisor_stats *out);
/* Engine settings clients changed (CONFIG SET): applied now to every running replica (and to
 * the primaries too when primaries is set: values loaded at start, not a client's command,
 * which the primaries have run themselves), and rendered into the configuration of every
 * engine started later (restarts, new shards). */
void supervisor_set_overrides(supervisor *s, size_t n, const char *const *names,
                              const char *const *values, int primaries);
/* The cache's users as every engine must have them: version (increasing), the ncmds ACL
 * SETUSER commands that make them (RESP-encoded in cmds), the names they set, and the prefix
 * of the engine users the cache owns (one with that prefix that is not named is deleted). An
 * engine process serves (supervisor_update_availability) only once it has been brought in step
 * with them; supervisor_sync_users does it. */
void supervisor_set_users(supervisor *s, uint64_t version, const buf *cmds, size_t ncmds,
                          const char *const *names, size_t nnames, const char *prefix);
/* Bring every running engine that is behind in step with the users (one pipeline each); the
 * version every running engine has (the wanted one when none runs). Control thread only. */
uint64_t supervisor_sync_users(supervisor *s);
/* Set a function the supervisor calls while a long operation waits, so restarts and health
 * checks go on (NULL: none). */
void supervisor_set_idle(supervisor *s, void (*idle)(void *arg), void *arg);
/* Add a shard: a new primary (and --replicas replicas) spawned, met into the cluster, with the
 * cache's functions; it owns no slot yet. Its node id goes to id_out. 0, or -1 with err. */
int supervisor_add_shard(supervisor *s, int timeout_ms, char *id_out, size_t idlen, char *err,
                         size_t errlen);
/* Move the n slots (at most 1024), keys included, from primary `from` to primary `to` (node
 * ids), live and pipelined: IMPORTING/MIGRATING for all, MIGRATE in batches, SETSLOT NODE
 * everywhere. A slot `from` no longer owns is skipped. Keys moved, or -1 with err (slots stay
 * half-moved until a retry or supervisor_repair_slots finishes them). */
long supervisor_move_slots(supervisor *s, const int *slots, size_t n, const char *from,
                           const char *to, char *err, size_t errlen);
/* supervisor_move_slots of one slot. */
long supervisor_move_slot(supervisor *s, int slot, const char *from, const char *to, char *err,
                          size_t errlen);
/* Remove the shard of primary_id (it must own no slot): its engines stop, every other node
 * forgets them, their directories go. 0, or -1 with err. */
int supervisor_remove_shard(supervisor *s, const char *primary_id, char *err, size_t errlen);
/* Finish slot moves a crash left half-done (MIGRATING/IMPORTING); the number repaired. */
int supervisor_repair_slots(supervisor *s);
/* Sample every primary that owns a shard of t (index = shard); 0, or -1 if one did not answer. */
int supervisor_sample_shards(supervisor *s, const topology *t, supervisor_shard_load *out);
/* INFO section of every primary of t, each reply's text passed to fn; 0, or -1 if one did not
 * answer. */
int supervisor_info_primaries(supervisor *s, const topology *t, const char *section,
                              void (*fn)(void *arg, const char *text, size_t len), void *arg);
/* Set the maxmemory of a shard's primary and its replicas now (the vertical scaling step). */
int supervisor_set_maxmemory(supervisor *s, const char *primary_id, uint64_t bytes);
/* Before hibernating: whether every primary has a replica with all of its replication stream
 * (waits up to timeout_ms for them to catch up). */
int supervisor_replicas_caught_up(supervisor *s, int timeout_ms);
/* Right after a wake whose replicas were caught up: each shard's replica takes over from its
 * primary (CLUSTER FAILOVER TAKEOVER), so the shard is writable at once instead of after the
 * 2 s writable delay Redis imposes on a primary that just started. The number promoted. */
int supervisor_promote_fresh_replicas(supervisor *s, int timeout_ms);
/* Stop every engine with a save (SIGTERM, then SIGKILL after timeout_ms). */
void supervisor_stop(supervisor *s, int timeout_ms);
/* Free the supervisor (after stop). */
void supervisor_destroy(supervisor *s);

#endif
