/* Topology snapshots (cluster/topology.c): an empty snapshot, finding a node by its cluster
 * address or its endpoint address, and which differences change the routes. */
#define ALLOC_ROOM ROOM_TEST
#include <stdio.h>
#include <string.h>

#include "cluster/topology.h"
#include "common/alloc.h"
#include "test.h"

/* Two shards, each a primary and a replica; slots split in halves. */
static topology *two_shards(void)
{
    topology *t = topo_create();
    t->version = 7;
    t->nshards = 2;
    t->nnodes = 4;
    for (int i = 0; i < 4; i++) {
        topo_node *n = &t->nodes[i];
        snprintf(n->id, sizeof(n->id), "%040d", i);
        snprintf(n->addr, sizeof(n->addr), "/tmp/n%d/redis.sock", i);
        snprintf(n->cluster_addr, sizeof(n->cluster_addr), "127.0.0.1:%d", 30001 + i);
        snprintf(n->zone, sizeof(n->zone), "z%d", i % 2 + 1);
        n->shard = i / 2;
        n->primary = i % 2 == 0;
    }
    for (int sh = 0; sh < 2; sh++) {
        t->shards[sh].primary = sh * 2;
        t->shards[sh].nreplicas = 1;
        t->shards[sh].replicas[0] = sh * 2 + 1;
    }
    for (int sl = 0; sl < TOPO_SLOTS; sl++)
        t->slot_shard[sl] = sl < TOPO_SLOTS / 2 ? 0 : 1;
    return t;
}

TEST(topo_create_is_empty)
{
    int64_t before = alloc_live_bytes(ROOM_CLUSTER);
    topology *t = topo_create();
    ASSERT_EQ(alloc_live_bytes(ROOM_CLUSTER) - before, (long long)sizeof(topology));
    ASSERT_EQ(t->version, 0);
    ASSERT_EQ(t->nshards, 0);
    ASSERT_EQ(t->nnodes, 0);
    int unowned = 0;
    for (int sl = 0; sl < TOPO_SLOTS; sl++)
        unowned += t->slot_shard[sl] == TOPO_NO_SHARD;
    ASSERT_EQ(unowned, TOPO_SLOTS);
    for (int sh = 0; sh < TOPO_MAX_SHARDS; sh++) {
        ASSERT_EQ(t->shards[sh].primary, -1);
        ASSERT_EQ(t->shards[sh].nreplicas, 0);
    }
    ASSERT_EQ(atomic_load(&t->nodes[0].available), 0);
    ASSERT_EQ(t->nodes[TOPO_MAX_NODES - 1].id[0], '\0');
    topo_destroy(t);
    ASSERT_EQ(alloc_live_bytes(ROOM_CLUSTER), before);
    topo_destroy(NULL); /* allowed, like xfree */
    ASSERT_EQ(alloc_live_bytes(ROOM_CLUSTER), before);
}

TEST(topo_find_node_by_cluster_address)
{
    topology *t = two_shards();
    ASSERT_EQ(topo_find_node(t, "127.0.0.1:30001", 15), 0);
    ASSERT_EQ(topo_find_node(t, "127.0.0.1:30004", 15), 3);
    /* Length-bounded: a MOVED reply's address is not NUL-terminated. */
    const char moved[] = "MOVED 3999 127.0.0.1:30003\r\n";
    ASSERT_EQ(topo_find_node(t, moved + 11, 15), 2);
    /* A prefix or an extension of an address is another address. */
    ASSERT_EQ(topo_find_node(t, "127.0.0.1:3000", 14), -1);
    ASSERT_EQ(topo_find_node(t, "127.0.0.1:300011", 16), -1);
    ASSERT_EQ(topo_find_node(t, "127.0.0.1:30005", 15), -1);
    ASSERT_EQ(topo_find_node(t, "", 0), -1);
    /* Only the first nnodes count. */
    t->nnodes = 2;
    ASSERT_EQ(topo_find_node(t, "127.0.0.1:30003", 15), -1);
    topo_destroy(t);
}

TEST(topo_find_addr_by_endpoint_address)
{
    topology *t = two_shards();
    ASSERT_EQ(topo_find_addr(t, "/tmp/n0/redis.sock"), 0);
    ASSERT_EQ(topo_find_addr(t, "/tmp/n3/redis.sock"), 3);
    ASSERT_EQ(topo_find_addr(t, "/tmp/n3/redis.soc"), -1);
    ASSERT_EQ(topo_find_addr(t, "127.0.0.1:30001"), -1); /* a cluster address is not one */
    ASSERT_EQ(topo_find_addr(t, ""), -1);
    topology *empty = topo_create();
    ASSERT_EQ(topo_find_addr(empty, ""), -1);
    ASSERT_EQ(topo_find_node(empty, "", 0), -1);
    topo_destroy(empty);
    topo_destroy(t);
}

TEST(topo_same_routes_compares_what_routes)
{
    topology *a = two_shards(), *b = two_shards();
    ASSERT_EQ(topo_same_routes(a, b), 1);
    ASSERT_EQ(topo_same_routes(a, a), 1);
    /* What does not route: the version, zones, cluster addresses, availability. */
    b->version = 8;
    snprintf(b->nodes[1].zone, sizeof(b->nodes[1].zone), "z9");
    snprintf(b->nodes[2].cluster_addr, sizeof(b->nodes[2].cluster_addr), "10.0.0.1:1");
    atomic_store(&b->nodes[0].available, 1);
    b->pubsub_home = 2;
    ASSERT_EQ(topo_same_routes(a, b), 1);
    topo_destroy(b);

    /* Each of these does. */
    for (int change = 0; change < 9; change++) {
        b = two_shards();
        switch (change) {
        case 0:
            b->slot_shard[TOPO_SLOTS - 1] = 0; /* a slot moved */
            break;
        case 1:
            b->slot_shard[5] = TOPO_NO_SHARD; /* a slot lost */
            break;
        case 2:
            b->nshards = 3;
            break;
        case 3:
            b->nnodes = 3;
            break;
        case 4:
            snprintf(b->nodes[3].addr, sizeof(b->nodes[3].addr), "127.0.0.1:30004");
            break;
        case 5:
            b->nodes[1].id[39] = 'x';
            break;
        case 6:
            b->nodes[1].shard = 1;
            break;
        case 7:
            b->nodes[1].primary = 1; /* roles swapped within the shard ... */
            b->nodes[0].primary = 0;
            break;
        case 8:
            b->shards[1].nreplicas = 0;
            break;
        }
        int same = topo_same_routes(a, b);
        topo_destroy(b);
        if (same) {
            char m[64];
            snprintf(m, sizeof(m), "change %d routes the same", change);
            test_fail(__FILE__, __LINE__, m);
            break;
        }
    }
    /* ... and a shard's primary index, whatever the nodes say. */
    b = two_shards();
    b->shards[0].primary = 1;
    ASSERT_EQ(topo_same_routes(a, b), 0);
    topo_destroy(b);
    topo_destroy(a);
}
