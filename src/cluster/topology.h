/* Topology snapshot: which shard owns each slot and where its primary and replicas listen.
 * Built by the control thread, published to workers with RCU (urcu-qsbr) and never modified
 * after publication; a change is a new snapshot with a higher version. */
#ifndef STRATUS_TOPOLOGY_H
#define STRATUS_TOPOLOGY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TOPO_SLOTS 16384
#define TOPO_NO_SHARD 0xffffu

/* One engine process as the proxy reaches it. */
typedef struct {
    char id[41];           /* cluster node id */
    char addr[112];        /* where the proxy connects: unix socket path or 127.0.0.1:port */
    char cluster_addr[48]; /* ip:port the cluster announces (MOVED/ASK name this) */
    int shard;             /* shard index */
    int primary;           /* 1 for the shard's primary */
    char zone[16];         /* zone the engine runs in */
    _Atomic int available; /* process up and cluster_state ok; the one field the control
                            * thread updates in a published snapshot, with busy */
    _Atomic int busy;      /* running a script or a long command (it answers -BUSY, or is
                            * silent while using CPU): PING goes to it, as to one Redis */
} topo_node;

typedef struct {
    int primary;     /* node index of the primary, -1 if none reachable */
    int nreplicas;   /* replicas attached */
    int replicas[8]; /* node indexes */
} topo_shard;

/* Invariant: every slot_shard entry is < nshards or TOPO_NO_SHARD. */
typedef struct topology {
    uint64_t version;                /* strictly increasing per cache */
    int nshards;                     /* shards with at least one slot or a primary */
    int nnodes;                      /* entries in nodes */
    topo_shard shards[64];           /* by shard index */
    topo_node nodes[192];            /* all engines */
    uint16_t slot_shard[TOPO_SLOTS]; /* slot -> shard index */
    int pubsub_home;                 /* node index of the primary every subscriber's connection
                                        is on (stable across resharding while it lives), -1 */
} topology;

#define TOPO_MAX_SHARDS 64
#define TOPO_MAX_NODES 192

/* Allocate an empty snapshot (every slot unowned). */
topology *topo_create(void);
/* Free a snapshot (after an RCU grace period if it was published). */
void topo_destroy(topology *t);
/* Node index whose cluster address is addr ("ip:port"), or -1. */
int topo_find_node(const topology *t, const char *addr, size_t len);
/* Node index whose address for the endpoint's links is addr (unix path or host:port), or -1. */
int topo_find_addr(const topology *t, const char *addr);
/* Whether two snapshots route identically (same slots, same primaries, same addresses). */
int topo_same_routes(const topology *a, const topology *b);

#endif
