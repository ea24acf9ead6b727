/* Topology snapshots: allocation and comparisons. Publication (RCU) is the owner's job. */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/topology.h"

#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"

topology *topo_create(void)
{
    topology *t = xcalloc(1, sizeof(*t));
    for (int i = 0; i < TOPO_SLOTS; i++)
        t->slot_shard[i] = TOPO_NO_SHARD;
    for (int i = 0; i < TOPO_MAX_SHARDS; i++)
        t->shards[i].primary = -1;
    return t;
}

void topo_destroy(topology *t)
{
    xfree(t);
}

int topo_find_node(const topology *t, const char *addr, size_t len)
{
    for (int i = 0; i < t->nnodes; i++) {
        if (strlen(t->nodes[i].cluster_addr) == len &&
            memcmp(t->nodes[i].cluster_addr, addr, len) == 0)
            return i;
    }
    return -1;
}

int topo_find_addr(const topology *t, const char *addr)
{
    for (int i = 0; i < t->nnodes; i++)
        if (strcmp(t->nodes[i].addr, addr) == 0)
            return i;
    return -1;
}

int topo_same_routes(const topology *a, const topology *b)
{
    if (a->nshards != b->nshards || a->nnodes != b->nnodes)
        return 0;
    if (memcmp(a->slot_shard, b->slot_shard, sizeof(a->slot_shard)) != 0)
        return 0;
    for (int i = 0; i < a->nnodes; i++) {
        const topo_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (strcmp(x->addr, y->addr) || strcmp(x->id, y->id) || x->shard != y->shard ||
            x->primary != y->primary)
            return 0;
    }
    for (int i = 0; i < a->nshards; i++) {
        if (a->shards[i].primary != b->shards[i].primary ||
            a->shards[i].nreplicas != b->shards[i].nreplicas)
            return 0;
    }
    return 1;
}
