/* CLUSTER NODES parsing (cluster/nodes.c): masters and replicas, slot ranges, migration markers,
 * flags, address forms, a follower's view, shard numbering, and malformed lines, against a table
 * of engines of the test's own (the supervisor's is the real one). */
#define ALLOC_ROOM ROOM_TEST
#include <stdio.h>
#include <string.h>

#include "cluster/nodes.h"
#include "common/compiler.h"
#include "test.h"

/* Node ids: 40 times one character. */
#define R10(c) c c c c c c c c c c
#define NID(c) R10(c) R10(c) R10(c) R10(c)
#define IA NID("a")
#define IB NID("b")
#define IC NID("c")
#define ID NID("d")
#define IE NID("e")
#define IF NID("f")
#define I9 NID("9")

/* The caller's engines, as the supervisor keeps them: found by port; a follower adds the ones it
 * does not know and takes their roles from the lines. */
typedef struct {
    int port;
    int primary; /* made a primary (or, following, what the line said) */
    char addr[64];
    char zone[8];
} fake_engine;

typedef struct {
    fake_engine e[16];
    int n;
    int follow;
    int finds;        /* calls of find */
    char last_ip[64]; /* the ip find was last given, "(none)" for NULL */
    int last_port;    /* the port it was last given */
} fake;

static int fake_find(void *arg, const char *ip, size_t iplen, int port)
{
    fake *f = arg;
    f->finds++;
    snprintf(f->last_ip, sizeof(f->last_ip), "%.*s", ip ? (int)iplen : 6, ip ? ip : "(none)");
    f->last_port = port;
    int eng = -1;
    for (int i = 0; i < f->n; i++)
        if (f->e[i].port == port)
            eng = i;
    if (eng < 0 && f->follow && ip && f->n < (int)ARRAY_LEN(f->e)) {
        fake_engine *e = &f->e[f->n];
        e->port = port;
        snprintf(e->addr, sizeof(e->addr), "%.*s:%d", (int)iplen, ip, port);
        snprintf(e->zone, sizeof(e->zone), "-");
        eng = f->n++;
    }
    return eng;
}

static int fake_role(void *arg, int i, int is_master)
{
    fake *f = arg;
    if (f->follow)
        f->e[i].primary = is_master;
    return !f->follow && f->e[i].primary;
}

static void fake_describe(void *arg, int i, topo_node *n)
{
    fake *f = arg;
    snprintf(n->addr, sizeof(n->addr), "%s", f->e[i].addr);
    snprintf(n->cluster_addr, sizeof(n->cluster_addr), "10.1.0.%d:%d", i, f->e[i].port);
    snprintf(n->zone, sizeof(n->zone), "%s", f->e[i].zone);
}

/* n engines on ports 30001.., the first `primaries` of them made primaries. */
static void fake_init(fake *f, int n, int primaries)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < n; i++) {
        f->e[i].port = 30001 + i;
        f->e[i].primary = i < primaries;
        snprintf(f->e[i].addr, sizeof(f->e[i].addr), "/tmp/n%d.sock", i);
        snprintf(f->e[i].zone, sizeof(f->e[i].zone), "z%d", i % 2 + 1);
    }
    f->n = n;
}

static topology *parse(fake *f, const char *text)
{
    const nodes_map map = {fake_find, fake_role, fake_describe, f};
    return nodes_parse(text, strlen(text), &map);
}

/* Index of the node with id, or -1. */
static int node_of(const topology *t, const char *id)
{
    for (int i = 0; i < t->nnodes; i++)
        if (strcmp(t->nodes[i].id, id) == 0)
            return i;
    return -1;
}

/* Node id of shard sh's primary, "" if none. */
static const char *primary_of(const topology *t, int sh)
{
    return t->shards[sh].primary >= 0 ? t->nodes[t->shards[sh].primary].id : "";
}

/* Slots owned by any shard; -1 if one breaks the invariant (< nshards or TOPO_NO_SHARD). */
static int owned_slots(const topology *t)
{
    int n = 0;
    for (int sl = 0; sl < TOPO_SLOTS; sl++) {
        if (t->slot_shard[sl] == TOPO_NO_SHARD)
            continue;
        if (t->slot_shard[sl] >= t->nshards)
            return -1;
        n++;
    }
    return n;
}

static const char THREE_SHARDS[] =
    IA " 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460\n" IB
       " 127.0.0.1:30002@40002 master - 0 1700000000000 2 connected 5461-10922\n" IC
       " 127.0.0.1:30003@40003 master - 0 1700000000000 3 connected 10923-16383\n" ID
       " 127.0.0.1:30004@40004 slave " IA " 0 1700000000000 1 connected\n" IE
       " 127.0.0.1:30005@40005 slave " IB " 0 1700000000000 2 connected\n" IF
       " 127.0.0.1:30006@40006 slave " IC " 0 1700000000000 3 connected\n";

TEST(nodes_masters_and_replicas)
{
    fake f;
    fake_init(&f, 6, 3);
    topology *t = parse(&f, THREE_SHARDS);
    ASSERT_EQ(t->nshards, 3);
    ASSERT_EQ(t->nnodes, 6);
    ASSERT_EQ(t->version, 0);
    ASSERT_EQ(owned_slots(t), TOPO_SLOTS);
    ASSERT_EQ(t->slot_shard[0], 0);
    ASSERT_EQ(t->slot_shard[5460], 0);
    ASSERT_EQ(t->slot_shard[5461], 1);
    ASSERT_EQ(t->slot_shard[10922], 1);
    ASSERT_EQ(t->slot_shard[10923], 2);
    ASSERT_EQ(t->slot_shard[16383], 2);
    ASSERT_STR_EQ(primary_of(t, 0), IA);
    ASSERT_STR_EQ(primary_of(t, 1), IB);
    ASSERT_STR_EQ(primary_of(t, 2), IC);
    /* The primary's node as the caller described it. */
    const topo_node *a = &t->nodes[t->shards[0].primary];
    ASSERT_EQ(a->primary, 1);
    ASSERT_EQ(a->shard, 0);
    ASSERT_STR_EQ(a->addr, "/tmp/n0.sock");
    ASSERT_STR_EQ(a->cluster_addr, "10.1.0.0:30001");
    ASSERT_STR_EQ(a->zone, "z1");
    ASSERT_EQ(atomic_load(&a->available), 0);
    /* Each replica under its master's shard. */
    static const char *const replica[] = {ID, IE, IF};
    for (int sh = 0; sh < 3; sh++) {
        ASSERT_EQ(t->shards[sh].nreplicas, 1);
        const topo_node *r = &t->nodes[t->shards[sh].replicas[0]];
        ASSERT_STR_EQ(r->id, replica[sh]);
        ASSERT_EQ(r->primary, 0);
        ASSERT_EQ(r->shard, sh);
    }
    ASSERT_STR_EQ(t->nodes[node_of(t, IE)].addr, "/tmp/n4.sock");
    ASSERT_STR_EQ(t->nodes[node_of(t, IE)].zone, "z1");
    ASSERT_EQ(t->shards[3].primary, -1);
    topo_destroy(t);
}

TEST(nodes_shards_numbered_by_first_slot_whatever_the_line_order)
{
    /* Another engine lists the same cluster in another order: replicas first, masters backwards. */
    static const char text[] = IF " 127.0.0.1:30006@40006 slave " IC " 0 1 3 connected\n" ID
                                  " 127.0.0.1:30004@40004 myself,slave " IA " 0 1 1 connected\n" IC
                                  " 127.0.0.1:30003@40003 master - 0 1 3 connected 10923-16383\n" IB
                                  " 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-10922\n" IA
                                  " 127.0.0.1:30001@40001 master - 0 1 1 connected 0-5460\n" IE
                                  " 127.0.0.1:30005@40005 slave " IB " 0 1 2 connected\n";
    fake f;
    fake_init(&f, 6, 3);
    topology *t1 = parse(&f, THREE_SHARDS);
    topology *t2 = parse(&f, text);
    ASSERT_EQ(t2->nshards, 3);
    ASSERT_EQ(t2->nnodes, 6);
    for (int sh = 0; sh < 3; sh++) {
        ASSERT_STR_EQ(primary_of(t2, sh), primary_of(t1, sh));
        ASSERT_EQ(t2->shards[sh].nreplicas, 1);
        ASSERT_STR_EQ(t2->nodes[t2->shards[sh].replicas[0]].id,
                      t1->nodes[t1->shards[sh].replicas[0]].id);
    }
    ASSERT_EQ(memcmp(t1->slot_shard, t2->slot_shard, sizeof(t1->slot_shard)), 0);
    topo_destroy(t1);
    topo_destroy(t2);
}

TEST(nodes_slot_ranges_and_single_slots)
{
    static const char text[] =
        IB " 127.0.0.1:30002@40002 master - 0 0 2 connected 100-199\n" IA
           " 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-99 200 300-301 16383\n";
    fake f;
    fake_init(&f, 2, 2);
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 2);
    ASSERT_STR_EQ(primary_of(t, 0), IA); /* first slot 0 */
    ASSERT_STR_EQ(primary_of(t, 1), IB); /* first slot 100 */
    ASSERT_EQ(owned_slots(t), 100 + 100 + 1 + 2 + 1);
    ASSERT_EQ(t->slot_shard[0], 0);
    ASSERT_EQ(t->slot_shard[99], 0);
    ASSERT_EQ(t->slot_shard[100], 1);
    ASSERT_EQ(t->slot_shard[199], 1);
    ASSERT_EQ(t->slot_shard[200], 0);
    ASSERT_EQ(t->slot_shard[201], TOPO_NO_SHARD);
    ASSERT_EQ(t->slot_shard[299], TOPO_NO_SHARD);
    ASSERT_EQ(t->slot_shard[300], 0);
    ASSERT_EQ(t->slot_shard[301], 0);
    ASSERT_EQ(t->slot_shard[302], TOPO_NO_SHARD);
    ASSERT_EQ(t->slot_shard[16382], TOPO_NO_SHARD);
    ASSERT_EQ(t->slot_shard[16383], 0);
    topo_destroy(t);
}

TEST(nodes_migrating_and_importing_markers_are_not_slots)
{
    /* A moves slot 100 to B: A's line marks it migrating, B's own line marks it importing. The
     * slot stays A's until SETSLOT NODE. */
    static const char text[] =
        IA " 127.0.0.1:30001@40001 master - 0 0 1 connected 0-100 [100->-" IB "]\n" IB
           " 127.0.0.1:30002@40002 myself,master - 0 0 2 connected 101-200 [100-<-" IA "]\n";
    fake f;
    fake_init(&f, 2, 2);
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 2);
    ASSERT_STR_EQ(primary_of(t, 0), IA);
    ASSERT_STR_EQ(primary_of(t, 1), IB);
    ASSERT_EQ(t->slot_shard[100], 0);
    ASSERT_EQ(t->slot_shard[101], 1);
    ASSERT_EQ(owned_slots(t), 201);
    topo_destroy(t);

    /* A master whose only field is a marker owns nothing: a shard only if Stratus made it a
     * primary (a shard just added), numbered after the shards with slots. */
    static const char only_marker[] =
        IA " 127.0.0.1:30001@40001 master - 0 0 1 connected 0-16383 [7->-" IB "]\n" IB
           " 127.0.0.1:30002@40002 myself,master - 0 0 2 connected [7-<-" IA "]\n";
    t = parse(&f, only_marker);
    ASSERT_EQ(t->nshards, 2);
    ASSERT_STR_EQ(primary_of(t, 1), IB);
    ASSERT_EQ(t->slot_shard[7], 0);
    ASSERT_EQ(owned_slots(t), TOPO_SLOTS);
    topo_destroy(t);
    f.e[1].primary = 0;
    t = parse(&f, only_marker);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(t->nnodes, 1);
    ASSERT_EQ(node_of(t, IB), -1);
    topo_destroy(t);
}

TEST(nodes_flags)
{
    /* fail and pfail (fail?) nodes stay in the map (availability is the health checks' call);
     * handshake and noaddr lines are skipped before any engine is looked up. */
    static const char text[] =
        IA " 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-8191\n" IB
           " 127.0.0.1:30002@40002 master,fail - 0 0 2 connected 8192-16383\n" ID
           " 127.0.0.1:30004@40004 slave,fail? " IA " 0 0 1 connected\n" IE
           " 127.0.0.1:30005@40005 handshake - 0 0 0 connected\n" IF
           " :0@0 master,noaddr - 0 0 3 connected\n" IC
           " 127.0.0.1:30003@40003 slave,nofailover " IB " 0 0 2 connected\n";
    fake f;
    fake_init(&f, 6, 3);
    topology *t = parse(&f, text);
    ASSERT_EQ(f.finds, 4);
    ASSERT_EQ(t->nshards, 2);
    ASSERT_EQ(t->nnodes, 4);
    ASSERT_STR_EQ(primary_of(t, 0), IA);
    ASSERT_STR_EQ(primary_of(t, 1), IB);
    ASSERT_EQ(t->nodes[node_of(t, IB)].primary, 1);
    ASSERT_EQ(t->shards[0].nreplicas, 1);
    ASSERT_STR_EQ(t->nodes[t->shards[0].replicas[0]].id, ID);
    ASSERT_EQ(t->shards[1].nreplicas, 1);
    ASSERT_STR_EQ(t->nodes[t->shards[1].replicas[0]].id, IC);
    ASSERT_EQ(node_of(t, IE), -1);
    ASSERT_EQ(node_of(t, IF), -1);
    ASSERT_EQ(owned_slots(t), TOPO_SLOTS);
    topo_destroy(t);
}

TEST(nodes_address_forms)
{
    /* ip:port@bus-port,hostname (Redis 7), ip:port@bus-port, and the older ip:port: the port is
     * what names the engine, and the ip is what find gets. */
    static const char text[] =
        IA " 127.0.0.1:30001@40001,host-a.example master - 0 0 1 connected 0-5000\n" IB
           " 127.0.0.1:30002@40002 master - 0 0 2 connected 5001-10000\n" IC
           " 127.0.0.1:30003 master - 0 0 3 connected 10001-16383\n";
    fake f;
    fake_init(&f, 3, 3);
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 3);
    ASSERT_EQ(t->nnodes, 3);
    ASSERT_EQ(f.last_port, 30003);
    ASSERT_STR_EQ(f.last_ip, "127.0.0.1");
    ASSERT_STR_EQ(t->nodes[node_of(t, IA)].addr, "/tmp/n0.sock");
    ASSERT_EQ(owned_slots(t), TOPO_SLOTS);
    topo_destroy(t);

    /* An address with no ':' names no port: find gets no ip and port 0, and nothing matches. */
    t = parse(&f, IA " nohostport master - 0 0 1 connected 0-16383\n");
    ASSERT_STR_EQ(f.last_ip, "(none)");
    ASSERT_EQ(f.last_port, 0);
    ASSERT_EQ(t->nnodes, 0);
    ASSERT_EQ(owned_slots(t), 0);
    topo_destroy(t);
}

TEST(nodes_follower_learns_engines_and_roles)
{
    static const char text[] =
        IA " 10.2.0.7:7001@17001,cache-7.example myself,master - 0 0 1 connected 0-16383\n" ID
           " 10.2.0.8:7002@17002 slave " IA " 0 0 1 connected\n" IB
           " 10.2.0.9:7003@17003 master - 0 0 2 connected\n" IE " 10.2.0.10:7004@17004 slave " IB
           " 0 0 2 connected\n" IC " nohostport master - 0 0 3 connected\n";
    fake f;
    memset(&f, 0, sizeof(f));
    f.follow = 1;
    topology *t = parse(&f, text);
    /* Every line with an address made an engine, its role the line's. */
    ASSERT_EQ(f.n, 4);
    ASSERT_STR_EQ(f.e[0].addr, "10.2.0.7:7001");
    ASSERT_STR_EQ(f.e[1].addr, "10.2.0.8:7002");
    ASSERT_STR_EQ(f.e[3].addr, "10.2.0.10:7004");
    ASSERT_EQ(f.e[0].primary, 1);
    ASSERT_EQ(f.e[1].primary, 0);
    ASSERT_EQ(f.e[2].primary, 1);
    ASSERT_EQ(f.e[3].primary, 0);
    /* A follower cannot tell a slotless master from a replica not known as one yet: it waits for
     * the slots, so that master and its replica are not in the map. */
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(t->nnodes, 2);
    ASSERT_STR_EQ(primary_of(t, 0), IA);
    ASSERT_STR_EQ(t->nodes[t->shards[0].primary].addr, "10.2.0.7:7001");
    ASSERT_EQ(node_of(t, IB), -1);
    topo_destroy(t);
    /* Parsed again, the engines are found, not added twice. */
    t = parse(&f, text);
    ASSERT_EQ(f.n, 4);
    ASSERT_EQ(t->nnodes, 2);
    topo_destroy(t);
}

TEST(nodes_slotless_masters)
{
    /* B and 9 were made primaries (shards just added): shards with no slot, after the shards
     * with slots, by node id. C is a master Stratus did not make a primary (a replica this
     * engine does not know as one yet): not a shard, and neither is its replica F. */
    static const char text[] =
        IB " 127.0.0.1:30002@40002 master - 0 0 2 connected\n" IA
           " 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-16383\n" IC
           " 127.0.0.1:30004@40004 master - 0 0 0 connected\n" I9
           " 127.0.0.1:30003@40003 master - 0 0 3 connected\n" IF " 127.0.0.1:30005@40005 slave " IC
           " 0 0 0 connected\n";
    fake f;
    fake_init(&f, 5, 3);
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 3);
    ASSERT_EQ(t->nnodes, 3);
    ASSERT_STR_EQ(primary_of(t, 0), IA);
    ASSERT_STR_EQ(primary_of(t, 1), I9);
    ASSERT_STR_EQ(primary_of(t, 2), IB);
    ASSERT_EQ(node_of(t, IC), -1);
    ASSERT_EQ(node_of(t, IF), -1);
    ASSERT_EQ(owned_slots(t), TOPO_SLOTS);
    topo_destroy(t);
}

TEST(nodes_unknown_engines_and_masters_skipped)
{
    /* A line of no engine of ours is skipped, and so is a replica whose master is not mapped. */
    static const char text[] =
        IA " 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-8191\n" IB
           " 127.0.0.1:31999@41999 master - 0 0 2 connected 8192-16383\n" ID
           " 127.0.0.1:30002@40002 slave " IB " 0 0 2 connected\n" IE
           " 127.0.0.1:30003@40003 slave " IA " 0 0 1 connected\n";
    fake f;
    fake_init(&f, 3, 1);
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(t->nnodes, 2);
    ASSERT_EQ(node_of(t, IB), -1);
    ASSERT_EQ(node_of(t, ID), -1);
    ASSERT_EQ(t->slot_shard[8191], 0);
    ASSERT_EQ(t->slot_shard[8192], TOPO_NO_SHARD);
    ASSERT_EQ(owned_slots(t), 8192);
    topo_destroy(t);
}

TEST(nodes_replicas_beyond_eight_stay_nodes)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text),
                                IA " 127.0.0.1:30001@40001 master - 0 0 1 connected 0-16383\n");
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "%040d 127.0.0.1:%d@%d slave " IA " 0 0 1 connected\n", i + 1,
                              30002 + i, 40002 + i);
    fake f;
    fake_init(&f, 11, 1);
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(t->nnodes, 11);
    ASSERT_EQ(t->shards[0].nreplicas, 8);
    ASSERT_EQ(t->nodes[10].shard, 0);
    ASSERT_EQ(t->nodes[10].primary, 0);
    topo_destroy(t);
}

TEST(nodes_malformed_lines_skipped)
{
    fake f;
    fake_init(&f, 2, 1);
    /* Nothing, blank lines, a line of one word, one of 7 fields, the trailer of a nodes.conf. */
    static const char *const empty[] = {
        "",
        "\n\n\n",
        "garbage\n",
        IA " 127.0.0.1:30001@40001 master - 0 0 1\n",
        "vars currentEpoch 6 lastVoteEpoch 0\n",
        "        \n",
    };
    for (size_t i = 0; i < ARRAY_LEN(empty); i++) {
        topology *t = parse(&f, empty[i]);
        int nshards = t->nshards, nnodes = t->nnodes, owned = owned_slots(t);
        topo_destroy(t);
        ASSERT_EQ(nshards, 0);
        ASSERT_EQ(nnodes, 0);
        ASSERT_EQ(owned, 0);
    }
    ASSERT_EQ(f.finds, 0);
    /* The same among good lines; the last line has no newline. */
    static const char text[] = "garbage\n\n" IA " 127.0.0.1:30001@40001 master - 0 0 1\n"
                               "vars currentEpoch 6 lastVoteEpoch 0\n" IA
                               " 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-16383\n" IB
                               " 127.0.0.1:30002@40002 slave " IA " 0 0 1 connected";
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(t->nnodes, 2);
    ASSERT_EQ(t->shards[0].nreplicas, 1);
    ASSERT_EQ(owned_slots(t), TOPO_SLOTS);
    topo_destroy(t);
    /* len is the end: what comes after it is not read (the text need not end with a NUL). */
    const nodes_map map = {fake_find, fake_role, fake_describe, &f};
    const char *two = THREE_SHARDS;
    size_t first_line = (size_t)(strchr(two, '\n') - two);
    t = nodes_parse(two, first_line, &map);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(t->nnodes, 1);
    ASSERT_EQ(owned_slots(t), 5461);
    topo_destroy(t);
}

TEST(nodes_malformed_slots_stay_in_range)
{
    fake f;
    fake_init(&f, 2, 2);
    /* Slots past the last, a reversed range, a range running past the last slot. */
    static const char text[] =
        IA " 127.0.0.1:30001@40001 master - 0 0 1 connected 0-1 16384 99999-100000 20-10 "
           "16380-99999\n" IB " 127.0.0.1:30002@40002 master - 0 0 2 connected 2-9\n";
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 2);
    ASSERT_EQ(owned_slots(t), 2 + 4 + 8);
    ASSERT_EQ(t->slot_shard[1], 0);
    ASSERT_EQ(t->slot_shard[2], 1);
    ASSERT_EQ(t->slot_shard[10], TOPO_NO_SHARD);
    ASSERT_EQ(t->slot_shard[20], TOPO_NO_SHARD);
    ASSERT_EQ(t->slot_shard[16379], TOPO_NO_SHARD);
    ASSERT_EQ(t->slot_shard[16380], 0);
    ASSERT_EQ(t->slot_shard[16383], 0);
    topo_destroy(t);

    /* A line longer than the parser's line buffer is cut, not overrun. */
    char big[20000];
    size_t n = (size_t)snprintf(big, sizeof(big),
                                IA " 127.0.0.1:30001@40001 master - 0 0 1 connected 0-16383 ");
    memset(big + n, 'x', sizeof(big) - n - 2);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = '\0';
    t = parse(&f, big);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(owned_slots(t), TOPO_SLOTS);
    topo_destroy(t);
}

TEST(nodes_negative_or_garbled_slots_are_skipped)
{
    fake f;
    fake_init(&f, 1, 1);
    /* "-5" once wrote before slot_shard (UBSan); "x" once counted as slot 0. */
    static const char text[] = IA " 127.0.0.1:30001@40001 master - 0 0 1 connected -5 x 7 -3-2\n";
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(owned_slots(t), 1);
    ASSERT_EQ(t->slot_shard[7], 0);
    ASSERT_EQ(t->slot_shard[0], TOPO_NO_SHARD);
    topo_destroy(t);
}

TEST(nodes_a_master_with_many_ranges_keeps_them_all)
{
    /* After scaling in and out, a primary can own many separate ranges: every one counts (the
     * parser once kept 8 slot fields a line). */
    fake f;
    fake_init(&f, 1, 1);
    char text[4096];
    size_t n =
        (size_t)snprintf(text, sizeof(text), IA " 127.0.0.1:30001@40001 master - 0 0 1 connected");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, " %d-%d", i * 100, i * 100 + 9);
    snprintf(text + n, sizeof(text) - n, " [3999->-%s]\n",
             "0123456789012345678901234567890123456789");
    topology *t = parse(&f, text);
    ASSERT_EQ(t->nshards, 1);
    ASSERT_EQ(owned_slots(t), 400);
    ASSERT_EQ(t->slot_shard[3909], 0);
    ASSERT_EQ(t->slot_shard[3910], TOPO_NO_SHARD);
    topo_destroy(t);
}
