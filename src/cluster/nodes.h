/* CLUSTER NODES parsing: an engine's view of the cluster (its CLUSTER NODES reply, or the
 * nodes.conf it left on disk) made a topology snapshot, each line mapped to an engine the caller
 * knows. Pure but for the caller's callbacks, so it is unit-tested with a table of its own. */
#ifndef STRATUS_NODES_H
#define STRATUS_NODES_H

#include <stddef.h>

#include "cluster/topology.h"

/* How the lines map to the caller's engines (the supervisor's, or a test's table). */
typedef struct {
    /* Index of the engine whose client port is port, or -1 to skip the line. ip (iplen bytes,
     * not NUL-terminated) is the host the line's address names, NULL when it has no ':'. */
    int (*find)(void *arg, const char *ip, size_t iplen, int port);
    /* Engine i's line says it is a master (is_master) or not: whether a master line of it with
     * no slot is a shard all the same (Stratus made it a primary, about to receive slots). */
    int (*role)(void *arg, int i, int is_master);
    /* Fill addr, cluster_addr and zone of n, the node of engine i. */
    void (*describe)(void *arg, int i, topo_node *n);
    void *arg; /* passed to each */
} nodes_map;

/* Parse len bytes of CLUSTER NODES text into a new topology (topo_destroy it). Lines with fewer
 * than 8 fields, in handshake or with no address, and those of no known engine are skipped;
 * shards are numbered by the first slot they own, then node id. */
topology *nodes_parse(const char *text, size_t len, const nodes_map *map);

#endif
