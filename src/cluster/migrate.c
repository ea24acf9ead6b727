/* Resharding: a shard added (its engines spawned and met into the cluster, owning no slot yet)
 * or removed (stopped, forgotten, its directories gone), slots moved live between primaries
 * (IMPORTING/MIGRATING, pipelined MIGRATE, SETSLOT NODE everywhere), and moves a crash left
 * half-done finished. Control thread only. */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/supervisor_int.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "net/ev.h"

/* ---- resharding (control thread) ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove a directory tree (a removed engine's). */
static void rm_rf(const char *dir)
{
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        log_warn("cannot remove %s: %s", dir, strerror(errno));
}

/* Ports for a new engine that clash with no engine of this cache. */
static int pick_engine_ports(supervisor *s, engine *e)
{
    for (int tries = 0; tries < 50; tries++) {
        int p, b;
        sup_free_ports(s, e, &p, &b);
        int clash = p <= 0 || b <= 0;
        for (int j = 0; j < s->nengines && !clash; j++)
            clash |= s->engines[j].port == p || s->engines[j].bus_port == p ||
                     s->engines[j].port == b || s->engines[j].bus_port == b;
        if (!clash) {
            e->port = p;
            e->bus_port = b;
            return 0;
        }
    }
    return -1;
}

/* Wait ms, letting the owner run its health checks first (a shard takes seconds to add). */
static void wait_idle(supervisor *s, long ms)
{
    if (s->idle)
        s->idle(s->idle_arg);
    sup_pause_ms(ms);
}

int supervisor_add_shard(supervisor *s, int timeout_ms, char *id_out, size_t idlen, char *err,
                         size_t errlen)
{
    uint64_t deadline = ev_clock_ms() + (uint64_t)timeout_ms;
    int n = 1 + s->replicas;
    if (s->nengines + n > MAX_ENGINES) {
        snprintf(err, errlen, "at most %d engines per cache", MAX_ENGINES);
        return -1;
    }
    int shard = 0, next = 0;
    uint64_t biggest = 0; /* a shard raised by the vertical step holds more than the shard size */
    for (int i = 0; i < s->nengines; i++) {
        shard = MAX(shard, s->engines[i].shard + 1);
        next = MAX(next, atoi(s->engines[i].name + 1) + 1);
        biggest = MAX(biggest, s->engines[i].maxmemory);
    }
    int first = s->nengines;
    for (int k = 0; k < n; k++) {
        engine *e = &s->engines[first + k];
        memset(e, 0, sizeof(*e));
        engine_client_init(&e->cli);
        snprintf(e->name, sizeof(e->name), "n%d", next + k);
        e->shard = shard;
        e->primary = k == 0;
        /* As big as the biggest shard now: its share of the slots may hold that much, and a
         * MIGRATE into a smaller one would hit OOM half-way. */
        e->maxmemory = biggest;
        sup_place(s, e, shard, k);
        if (pick_engine_ports(s, e) != 0) {
            snprintf(err, errlen, "no free loopback port for a new engine");
            return -1;
        }
        sup_engine_paths(s, e);
        s->nengines++;
        if (sup_spawn_engine(s, e) != 0) {
            snprintf(err, errlen, "cannot start engine %s", e->name);
            return -1;
        }
    }
    sup_save_manifest(s);
    engine *p = &s->engines[first];
    for (int k = 0; k < n; k++) {
        engine *e = &s->engines[first + k];
        while (sup_engine_ready(s, e, 200) != 0 || !sup_reply_ok(ECALL(s, e, "PING"))) {
            if (ev_clock_ms() > deadline) {
                snprintf(err, errlen, "new engine %s did not answer in time", e->name);
                return -1;
            }
            wait_idle(s, 10);
        }
        char port[16], bus[16];
        snprintf(port, sizeof(port), "%d", e->port);
        snprintf(bus, sizeof(bus), "%d", e->bus_port);
        if (!sup_reply_ok(
                ECALL(s, &s->engines[0], "CLUSTER", "MEET", sup_engine_ip(s, e), port, bus))) {
            snprintf(err, errlen, "CLUSTER MEET of %s failed", e->name);
            return -1;
        }
    }
    for (int k = 0; k < n; k++) {
        engine *e = &s->engines[first + k];
        while (sup_count_known_nodes(s, e) < s->nengines) {
            if (ev_clock_ms() > deadline) {
                snprintf(err, errlen, "new engine %s did not meet the cluster in time", e->name);
                return -1;
            }
            wait_idle(s, 20);
        }
    }
    char pid[41];
    if (sup_node_id(s, p, pid, sizeof(pid)) != 0) {
        snprintf(err, errlen, "CLUSTER MYID of %s failed", p->name);
        return -1;
    }
    for (int k = 1; k < n; k++) {
        engine *e = &s->engines[first + k];
        while (!sup_reply_ok(ECALL(s, e, "CLUSTER", "REPLICATE", pid))) {
            if (ev_clock_ms() > deadline) {
                snprintf(err, errlen, "CLUSTER REPLICATE on %s failed", e->name);
                return -1;
            }
            wait_idle(s, 20);
        }
    }
    /* MIGRATE to a primary still settling fails with CLUSTERDOWN: wait for it to be ok. */
    while (!sup_cluster_state_ok(s, p)) {
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen, "new engine %s did not report cluster_state:ok in time", p->name);
            return -1;
        }
        wait_idle(s, 20);
    }
    /* Functions live in the engines: the new primary gets every library the cache has. */
    const resp_value *dump = ECALL(s, &s->engines[0], "FUNCTION", "DUMP");
    if (sup_reply_ok(dump) && dump->type == RESP_T_BULK) {
        char *payload = xmalloc(dump->len + 1);
        memcpy(payload, dump->str, dump->len);
        const char *argv[] = {"FUNCTION", "RESTORE", payload, "REPLACE"};
        const size_t lens[] = {8, 7, dump->len, 7};
        const resp_value *v = engine_call_lens(&p->cli, CALL_MS, 4, argv, lens);
        if (!sup_reply_ok(v))
            log_warn("engine %s: FUNCTION RESTORE failed: %.*s", p->name,
                     SUP_REPLY_LEN(v, p->cli.err), SUP_REPLY_TEXT(v, p->cli.err));
        xfree(payload);
    }
    snprintf(id_out, idlen, "%s", pid);
    log_info("cache %s: shard %d added (%s primary, %d replica(s))", s->cache_name, shard, p->name,
             n - 1);
    return 0;
}

/* Send the n commands in cmds to e in one pipeline; NULL when e cannot be reached. */
static resp_value *const *epipe(supervisor *s, engine *e, const buf *cmds, size_t n, int ms)
{
    if (sup_engine_ready(s, e, CALL_MS) != 0)
        return NULL;
    return engine_pipeline(&e->cli, ms, cmds, n);
}

/* Append CLUSTER SETSLOT slot what [id] to b. */
static void add_setslot(buf *b, int slot, const char *what, const char *id)
{
    char sl[16];
    snprintf(sl, sizeof(sl), "%d", slot);
    const char *argv[] = {"CLUSTER", "SETSLOT", sl, what, id};
    const size_t lens[] = {7, 7, strlen(sl), strlen(what), id ? strlen(id) : 0};
    resp_add_command(b, id ? 5 : 4, argv, lens);
}

/* SETSLOT slot what [id] for the n slots whose live[] is set, pipelined to e. Replies, or NULL
 * when e cannot be reached. */
static resp_value *const *setslots(supervisor *s, engine *e, const int *slots, const char *live,
                                   size_t n, const char *what, const char *id, size_t *sent)
{
    buf b;
    buf_init(&b);
    *sent = 0;
    for (size_t i = 0; i < n; i++)
        if (live[i]) {
            add_setslot(&b, slots[i], what, id);
            (*sent)++;
        }
    resp_value *const *r = *sent ? epipe(s, e, &b, *sent, CALL_MS) : NULL;
    buf_deinit(&b);
    return r;
}

#define MIGRATE_MS 10000      /* MIGRATE's own timeout, and a MIGRATE pipeline's */
#define MIGRATE_KEYS 1000     /* keys per GETKEYSINSLOT; most per MIGRATE pipeline */
#define MIGRATE_BLOCK_US 1000 /* aim: how long one MIGRATE pipeline keeps the source busy */
#define ASK_SLOTS 64          /* slots per GETKEYSINSLOT pipeline */
#define MOVE_BATCH_MAX 1024   /* slots per supervisor_move_slots call */

/* MIGRATE every key the source still has in the live slots, a pipeline of at most
 * MIGRATE_KEYS keys at a time, until GETKEYSINSLOT finds them all empty. Keys moved, or -1. */
static long migrate_keys(supervisor *s, engine *src, engine *dst, const int *slots, char *live,
                         size_t n, char *err, size_t errlen)
{
    char port[16], cnt[16];
    snprintf(port, sizeof(port), "%d", dst->port);
    snprintf(cnt, sizeof(cnt), "%d", MIGRATE_KEYS);
    long moved = 0;
    char *busy = xmalloc(n);
    memcpy(busy, live, n);
    buf q, mig;
    buf_init(&q);
    buf_init(&mig);
    long rc = -1;
    for (;;) {
        /* Which keys are left in up to ASK_SLOTS slots. */
        size_t asked = 0, *idx = xmalloc(n * sizeof(size_t));
        buf_consume(&q, buf_used(&q));
        for (size_t i = 0; i < n && asked < ASK_SLOTS; i++) {
            if (!busy[i])
                continue;
            char sl[16];
            snprintf(sl, sizeof(sl), "%d", slots[i]);
            const char *argv[] = {"CLUSTER", "GETKEYSINSLOT", sl, cnt};
            const size_t lens[] = {7, 13, strlen(sl), strlen(cnt)};
            resp_add_command(&q, 4, argv, lens);
            idx[asked++] = i;
        }
        if (asked == 0) {
            xfree(idx);
            rc = moved;
            break;
        }
        resp_value *const *r = epipe(s, src, &q, asked, CALL_MS);
        if (!r) {
            snprintf(err, errlen, "GETKEYSINSLOT on %s failed: %s", src->name, src->cli.err);
            xfree(idx);
            break;
        }
        /* MIGRATE host port "" 0 timeout AUTH password KEYS k1 ... kn, one per slot (keys of
         * one command share a slot), encoded now: the replies die with the next call. Slots
         * past the pipeline's key budget wait for the next round: the source runs a
         * pipeline's MIGRATEs back to back, so the budget adapts to keep that near
         * MIGRATE_BLOCK_US and clients' commands get their turns in between. */
        if (s->migrate_keys < 1)
            s->migrate_keys = 64;
        buf_consume(&mig, buf_used(&mig));
        size_t nmig = 0, nkeys = 0;
        int bad = 0;
        for (size_t j = 0; j < asked && !bad; j++) {
            const resp_value *v = r[j];
            if (nkeys >= (size_t)s->migrate_keys && v->type == RESP_T_ARRAY && v->nelem)
                continue;
            if (v->type != RESP_T_ARRAY) {
                snprintf(err, errlen, "slot %d: GETKEYSINSLOT failed: %.*s", slots[idx[j]],
                         (int)v->len, v->str ? v->str : "");
                bad = 1;
                break;
            }
            if (v->nelem == 0) {
                busy[idx[j]] = 0;
                continue;
            }
            size_t nk = v->nelem, a = 0;
            const char **argv = xmalloc((nk + 9) * sizeof(char *));
            size_t *lens = xmalloc((nk + 9) * sizeof(size_t));
            const char *head[] = {"MIGRATE", sup_engine_ip(s, dst), port,  "", "0", "10000",
                                  "AUTH",    s->password,           "KEYS"};
            for (size_t h = 0; h < ARRAY_LEN(head); h++) {
                argv[a] = head[h];
                lens[a++] = strlen(head[h]);
            }
            for (size_t k = 0; k < nk; k++) {
                argv[a] = v->elem[k].str;
                lens[a++] = v->elem[k].len;
            }
            resp_add_command(&mig, a, argv, lens);
            xfree(argv);
            xfree(lens);
            nmig++;
            nkeys += nk;
        }
        xfree(idx);
        if (bad)
            break;
        if (nmig == 0)
            continue; /* every slot asked was empty; ask the next ones */
        uint64_t t0 = ev_clock_us();
        r = epipe(s, src, &mig, nmig, MIGRATE_MS + CALL_MS);
        uint64_t took = ev_clock_us() - t0;
        if (took < MIGRATE_BLOCK_US / 2 && s->migrate_keys < MIGRATE_KEYS)
            s->migrate_keys *= 2;
        else if (took > MIGRATE_BLOCK_US * 2 && s->migrate_keys > 1)
            s->migrate_keys /= 2;
        if (!r) {
            snprintf(err, errlen, "MIGRATE from %s failed: %s", src->name, src->cli.err);
            break;
        }
        for (size_t j = 0; j < nmig && !bad; j++) {
            if (r[j]->type == RESP_T_ERROR) {
                snprintf(err, errlen, "MIGRATE from %s failed: %.*s", src->name, (int)r[j]->len,
                         r[j]->str);
                bad = 1;
            }
        }
        if (bad)
            break;
        moved += (long)nkeys;
    }
    buf_deinit(&q);
    buf_deinit(&mig);
    xfree(busy);
    return rc;
}

long supervisor_move_slots(supervisor *s, const int *slots, size_t n, const char *from,
                           const char *to, char *err, size_t errlen)
{
    engine *src = sup_engine_by_id(s, from), *dst = sup_engine_by_id(s, to);
    if (!src || !dst) {
        snprintf(err, errlen, "engine %s or %s is not running", from, to);
        return -1;
    }
    if (n == 0 || n > MOVE_BATCH_MAX) {
        snprintf(err, errlen, "%zu slots in one move (1 to %d)", n, MOVE_BATCH_MAX);
        return -1;
    }
    char *live = xmalloc(n);
    memset(live, 1, n);
    long rc = -1;
    size_t sent;
    resp_value *const *r = setslots(s, dst, slots, live, n, "IMPORTING", from, &sent);
    if (!r) {
        snprintf(err, errlen, "SETSLOT IMPORTING on %s failed: %s", dst->name, dst->cli.err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i]->type == RESP_T_ERROR) {
            snprintf(err, errlen, "slot %d: SETSLOT IMPORTING refused by the target: %.*s",
                     slots[i], (int)r[i]->len, r[i]->str);
            goto out;
        }
    }
    r = setslots(s, src, slots, live, n, "MIGRATING", to, &sent);
    if (!r) {
        snprintf(err, errlen, "SETSLOT MIGRATING on %s failed: %s", src->name, src->cli.err);
        goto out;
    }
    /* A slot the source does not own (any more) has nothing to move: its import mark is undone.
     * Any other refusal fails the batch after the same undo. */
    char *undo = xmalloc(n);
    int refused = 0;
    for (size_t i = 0; i < n; i++) {
        undo[i] = r[i]->type == RESP_T_ERROR;
        if (undo[i] && !(r[i]->str && strstr(r[i]->str, "not the owner"))) {
            snprintf(err, errlen, "slot %d: SETSLOT MIGRATING refused by the source: %.*s",
                     slots[i], (int)r[i]->len, r[i]->str);
            refused = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        live[i] = (char)!undo[i];
    setslots(s, dst, slots, undo, n, "STABLE", NULL, &sent);
    xfree(undo);
    if (refused)
        goto out;
    long moved = migrate_keys(s, src, dst, slots, live, n, err, errlen);
    if (moved < 0)
        goto out;
    /* The target first, so it serves the slots before the source stops redirecting (Redis's
     * documented order), then the source, then every other primary (replicas learn it from
     * their primary's gossip). */
    setslots(s, dst, slots, live, n, "NODE", to, &sent);
    setslots(s, src, slots, live, n, "NODE", to, &sent);
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->pid > 0 && e->primary && e != src && e != dst)
            setslots(s, e, slots, live, n, "NODE", to, &sent);
    }
    rc = moved;
out:
    xfree(live);
    return rc;
}

long supervisor_move_slot(supervisor *s, int slot, const char *from, const char *to, char *err,
                          size_t errlen)
{
    return supervisor_move_slots(s, &slot, 1, from, to, err, errlen);
}

int supervisor_remove_shard(supervisor *s, const char *primary_id, char *err, size_t errlen)
{
    engine *p = sup_engine_by_id(s, primary_id);
    if (!p) {
        snprintf(err, errlen, "no running engine has node id %s", primary_id);
        return -1;
    }
    int shard = p->shard;
    char ids[MAX_ENGINES][41];
    int gone[MAX_ENGINES] = {0};
    for (int i = 0; i < s->nengines; i++) {
        ids[i][0] = '\0';
        if (s->engines[i].shard == shard) {
            gone[i] = 1;
            sup_node_id(s, &s->engines[i], ids[i], sizeof(ids[i]));
        }
    }
    /* Stop them first (their data is already elsewhere), then make everyone forget them. */
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (!gone[i] || e->pid <= 0)
            continue;
        if (sup_agent_of(s, e)) {
            agent_link_callv(sup_agent_of(s, e), "REMOVE", s->cache_name, e->name, NULL);
        } else {
            kill(e->pid, SIGKILL);
            int status;
            waitpid(e->pid, &status, 0);
        }
        e->pid = 0;
        engine_client_deinit(&e->cli);
        engine_client_init(&e->cli);
    }
    for (int i = 0; i < s->nengines; i++) {
        if (gone[i])
            continue;
        for (int j = 0; j < s->nengines; j++)
            if (gone[j] && ids[j][0])
                ECALL(s, &s->engines[i], "CLUSTER", "FORGET", ids[j]);
    }
    int w = 0;
    for (int i = 0; i < s->nengines; i++) {
        if (gone[i]) {
            if (sup_agent_of(s, &s->engines[i]))
                agent_link_callv(sup_agent_of(s, &s->engines[i]), "REMOVE", s->cache_name,
                                 s->engines[i].name, NULL);
            else
                rm_rf(s->engines[i].dir);
            continue;
        }
        if (w != i) {
            s->engines[w] = s->engines[i];
            engine_client_init(&s->engines[i].cli);
        }
        w++;
    }
    s->nengines = w;
    sup_save_manifest(s);
    log_info("cache %s: shard %d removed", s->cache_name, shard);
    return 0;
}

int supervisor_repair_slots(supervisor *s)
{
    /* A move interrupted by a crash leaves its slot MIGRATING on the source and IMPORTING on the
     * target, with keys on either side. Finishing the move is always safe: MIGRATE what is left
     * and give the slot to the target. */
    int repaired = 0;
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->pid <= 0)
            continue;
        const resp_value *v = ECALL(s, e, "CLUSTER", "NODES");
        if (!sup_reply_ok(v) || (v->type != RESP_T_BULK && v->type != RESP_T_VERBATIM))
            continue;
        char *text = xstrndup(v->str, v->len);
        char mine[41] = "";
        sup_node_id(s, e, mine, sizeof(mine));
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (!strstr(line, "myself"))
                continue;
            /* "[slot->-target]" marks a slot this node is migrating. */
            for (char *m = strstr(line, "->-"); m; m = strstr(m + 3, "->-")) {
                char *open = m;
                while (open > line && open[-1] != '[')
                    open--;
                int slot = atoi(open);
                char to[41];
                snprintf(to, sizeof(to), "%.40s", m + 3);
                char err[256] = "";
                log_warn("cache %s: slot %d was being moved when Stratus stopped; finishing the "
                         "move",
                         s->cache_name, slot);
                if (supervisor_move_slot(s, slot, mine, to, err, sizeof(err)) >= 0)
                    repaired++;
                else
                    log_error("cache %s: %s", s->cache_name, err);
            }
        }
        xfree(text);
    }
    /* A slot left IMPORTING alone: its source lost the MIGRATING mark (it failed over: the
     * promoted replica never had it, and lacks the keys already moved) or the crash came before
     * the mark. The importing node may hold keys of the slot already, so the move is finished
     * from the slot's owner now; a slot the importing node owns already is made stable. */
    topology *t = supervisor_topology(s);
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->pid <= 0)
            continue;
        const resp_value *v = ECALL(s, e, "CLUSTER", "NODES");
        if (!sup_reply_ok(v) || !v->str)
            continue;
        char *text = xstrndup(v->str, v->len);
        char mine[41] = "";
        sup_node_id(s, e, mine, sizeof(mine));
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (!strstr(line, "myself"))
                continue;
            for (char *m = strstr(line, "-<-"); m; m = strstr(m + 3, "-<-")) {
                char *open = m;
                while (open > line && open[-1] != '[')
                    open--;
                int slot = atoi(open);
                int sh = t && slot >= 0 && slot < TOPO_SLOTS ? t->slot_shard[slot] : TOPO_NO_SHARD;
                const char *owner = t && sh < t->nshards && t->shards[sh].primary >= 0
                                        ? t->nodes[t->shards[sh].primary].id
                                        : NULL;
                char err[256] = "";
                if (owner && strcmp(owner, mine) != 0) {
                    log_warn("cache %s: slot %d was half moved to %s; finishing the move from %s",
                             s->cache_name, slot, e->name, owner);
                    if (supervisor_move_slot(s, slot, owner, mine, err, sizeof(err)) < 0)
                        log_error("cache %s: %s", s->cache_name, err);
                } else {
                    char sl[16];
                    snprintf(sl, sizeof(sl), "%d", slot);
                    ECALL(s, e, "CLUSTER", "SETSLOT", sl, "STABLE");
                }
                repaired++;
            }
        }
        xfree(text);
    }
    if (t)
        topo_destroy(t);
    return repaired;
}
