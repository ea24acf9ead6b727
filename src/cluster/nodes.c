/* CLUSTER NODES parsing (see nodes.h): one line a node, "id addr flags master ping pong epoch
 * link slot...", made a topology with shards numbered the same whichever engine answered. */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"

#define MAX_ENGINES TOPO_MAX_NODES /* lines kept, one an engine (the supervisor's limit) */

topology *nodes_parse(const char *text, size_t len, const nodes_map *map)
{
    topology *t = topo_create();
    char masters[MAX_ENGINES][41];
    int first_slot[MAX_ENGINES];
    int nmasters = 0;
    struct {
        char id[41], master[41];
        int engine, is_master;
    } rows[MAX_ENGINES];
    int nrows = 0;
    const char *p = text, *end = text + len;
    while (p < end && nrows < MAX_ENGINES) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[8192];
        snprintf(line, sizeof(line), "%.*s", (int)MIN(ll, sizeof(line) - 1), p);
        p += ll + 1;
        /* The 8 fields every line has; the slot ranges (any number of them) follow in save. */
        char *save = NULL, *fields[8];
        int nf = 0;
        for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            fields[nf++] = tok;
            if (nf == 8)
                break;
        }
        if (nf < 8 || strstr(fields[2], "handshake") || strstr(fields[2], "noaddr"))
            continue;
        int port = 0;
        char *colon = strchr(fields[1], ':');
        if (colon)
            port = atoi(colon + 1);
        int eng = map->find(map->arg, colon ? fields[1] : NULL,
                            colon ? (size_t)(colon - fields[1]) : 0, port);
        if (eng < 0)
            continue;
        int is_master = strstr(fields[2], "master") != NULL;
        int made_primary = map->role(map->arg, eng, is_master);
        snprintf(rows[nrows].id, sizeof(rows[nrows].id), "%s", fields[0]);
        snprintf(rows[nrows].master, sizeof(rows[nrows].master), "%s", fields[3]);
        rows[nrows].engine = eng;
        rows[nrows].is_master = is_master;
        if (is_master) {
            int first = TOPO_SLOTS;
            for (char *f = strtok_r(NULL, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
                if (f[0] == '[')
                    continue; /* migrating/importing markers */
                char *endp = NULL;
                long lo = strtol(f, &endp, 10), hi = lo;
                if (endp == f || lo < 0 || lo >= TOPO_SLOTS)
                    continue; /* not a slot: nothing is written for it */
                if (*endp == '-') {
                    char *e2 = NULL;
                    hi = strtol(endp + 1, &e2, 10);
                    if (e2 == endp + 1 || hi < lo)
                        continue;
                }
                first = MIN(first, (int)lo);
                for (long sl = lo; sl <= hi && sl < TOPO_SLOTS; sl++)
                    t->slot_shard[sl] = (uint16_t)nmasters;
            }
            /* A master without slots is a shard only when Stratus made it a primary (a shard
             * just added, about to receive slots, must be reachable before its first MOVED);
             * otherwise it is a replica not yet known as one by this node. A follower cannot
             * tell the two apart: it waits for the slots. */
            if ((first < TOPO_SLOTS || made_primary) && nmasters < TOPO_MAX_SHARDS) {
                snprintf(masters[nmasters], 41, "%s", fields[0]);
                first_slot[nmasters] = first;
                nmasters++;
            }
        }
        nrows++;
    }
    /* Shards are numbered by the first slot they own (then node id), not by the order this
     * engine listed them: another engine lists them in another order, and a request waiting
     * for shard i (a fan-out part) must find the same primary in the next topology. */
    int order[MAX_ENGINES], rank[MAX_ENGINES];
    for (int i = 0; i < nmasters; i++)
        order[i] = i;
    for (int i = 1; i < nmasters; i++)
        for (int j = i; j > 0; j--) {
            int a = order[j - 1], b = order[j];
            if (first_slot[a] < first_slot[b] ||
                (first_slot[a] == first_slot[b] && strcmp(masters[a], masters[b]) <= 0))
                break;
            order[j - 1] = b;
            order[j] = a;
        }
    for (int i = 0; i < nmasters; i++)
        rank[order[i]] = i;
    char sorted[MAX_ENGINES][41];
    for (int i = 0; i < nmasters; i++)
        memcpy(sorted[rank[i]], masters[i], 41);
    memcpy(masters, sorted, sizeof(masters[0]) * (size_t)nmasters);
    for (int sl = 0; sl < TOPO_SLOTS && nmasters > 0; sl++)
        if (t->slot_shard[sl] < nmasters)
            t->slot_shard[sl] = (uint16_t)rank[t->slot_shard[sl]];
    t->nshards = nmasters;
    for (int r = 0; r < nrows; r++) {
        int shard = -1;
        const char *mid = rows[r].is_master ? rows[r].id : rows[r].master;
        for (int m = 0; m < nmasters; m++)
            if (strcmp(masters[m], mid) == 0)
                shard = m;
        if (shard < 0 || t->nnodes >= TOPO_MAX_NODES)
            continue;
        topo_node *n = &t->nodes[t->nnodes];
        snprintf(n->id, sizeof(n->id), "%s", rows[r].id);
        map->describe(map->arg, rows[r].engine, n);
        n->shard = shard;
        n->primary = rows[r].is_master;
        topo_shard *sh = &t->shards[shard];
        if (n->primary)
            sh->primary = t->nnodes;
        else if (sh->nreplicas < (int)ARRAY_LEN(sh->replicas))
            sh->replicas[sh->nreplicas++] = t->nnodes;
        t->nnodes++;
    }
    return t;
}
