/* Engine health and failover: health checks that say which engines serve, failover of a primary
 * that died or stopped answering (its replica takes over, the old one is fenced), failback to the
 * preferred zone, and the replica takeovers around hibernation. */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/supervisor_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "common/log.h"
#include "net/ev.h"

/* ---- health ---- */

/* A running replica of primary p's shard, or NULL. */
engine *sup_live_replica(supervisor *s, const engine *p)
{
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e != p && e->shard == p->shard && !e->primary && e->pid > 0)
            return e;
    }
    return NULL;
}

#define HEALTH_EVERY_MS 50 /* a check answers for this long */

/* Whether e, silent, is busy rather than frozen: its process (on this host) is running, or has
 * used CPU since the previous silent check (each one records the time it has used). An engine
 * running a long script or command answers nobody until busy-reply-threshold, then -BUSY; it is
 * alive (Redis would not fail it over either: SCRIPT KILL is the remedy). A stopped or hung process
 * uses no CPU. */
static int busy_running(supervisor *s, engine *e)
{
    if (sup_agent_of(s, e) || e->pid <= 0)
        return 0; /* another host's: its agent's lease is the test */
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)e->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')'); /* the name may hold spaces and parentheses */
    char state = 0;
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &state, &utime,
                     &stime) != 3)
        return 0;
    uint64_t ticks = utime + stime, before = e->cpu_ticks;
    e->cpu_ticks = ticks;
    return state == 'R' || (before && ticks > before);
}

/* CLUSTER INFO with a short timeout, at most every HEALTH_EVERY_MS: refreshes last_ok_ms and
 * state_ok. 0 when the engine answered (BUSY and LOADING are answers). */
static int health_check(supervisor *s, engine *e)
{
    uint64_t now = ev_clock_ms();
    if (e->pid <= 0) {
        e->state_ok = 0;
        return -1;
    }
    if (now - e->checked_ms < HEALTH_EVERY_MS)
        return e->last_ok_ms == e->checked_ms ? 0 : -1;
    e->checked_ms = now;
    /* One round trip: the cluster's state, and how far the replication stream has gone (a
     * replica behind that is not promoted: see failover). */
    buf q;
    buf_init(&q);
    const char *ci[] = {"CLUSTER", "INFO"}, *ir[] = {"INFO", "replication"};
    const size_t cil[] = {7, 4}, irl[] = {4, 11};
    resp_add_command(&q, 2, ci, cil);
    resp_add_command(&q, 2, ir, irl);
    resp_value *const *v =
        sup_engine_ready(s, e, HEALTH_MS) == 0 ? engine_pipeline(&e->cli, HEALTH_MS, &q, 2) : NULL;
    buf_deinit(&q);
    if (!v) {
        if (busy_running(s, e)) {
            e->last_ok_ms = now; /* busy, not gone: it keeps serving as it was */
            e->busy = 1;
            return 0;
        }
        e->busy = 0;
        e->state_ok = 0;
        return -1;
    }
    e->cpu_ticks = 0; /* it answers: a later silence measures its CPU time from there */
    if (v[0]->type == RESP_T_ERROR && v[0]->len >= 4 && memcmp(v[0]->str, "BUSY", 4) == 0) {
        /* Running a script or a function past busy-reply-threshold: alive, its cluster state
         * as it was. It keeps serving, so clients get its -BUSY as from Redis (and SCRIPT KILL
         * reaches it); it is never failed over for being busy. */
        e->last_ok_ms = now;
        e->busy = 1;
        return 0;
    }
    e->busy = 0;
    char state[16], off[32];
    e->state_ok = sup_info_field(v[0], "cluster_state", state, sizeof(state)) == 0 &&
                  strcmp(state, "ok") == 0;
    if (sup_info_field(v[1], "master_repl_offset", off, sizeof(off)) == 0)
        e->repl_offset = atoll(off);
    e->last_ok_ms = now;
    return 0;
}

void supervisor_update_availability(supervisor *s, topology *t)
{
    for (int i = 0; i < t->nnodes; i++) {
        topo_node *n = &t->nodes[i];
        engine *e = NULL;
        for (int j = 0; j < s->nengines && !e; j++)
            if (strcmp(s->engines[j].addr, n->addr) == 0)
                e = &s->engines[j];
        /* A follower cannot see processes: a replica too must answer its health check. An
         * engine serves only once it has the cache's users (a client's command runs there
         * under its user's identity). */
        int ok = e && e->pid > 0 && (s->follow[0] || e->users_pid == e->pid) &&
                 ((!n->primary && !s->follow[0]) ||
                  (health_check(s, e) == 0 && (!n->primary || e->state_ok)));
        atomic_store(&n->busy, ok && e->busy);
        if (atomic_load(&n->available) != ok) {
            atomic_store(&n->available, ok);
            log_info("engine %s: %s", e ? e->name : n->addr,
                     ok ? "serving" : "not serving (requests wait for it)");
        }
    }
}

int supervisor_cluster_ok(supervisor *s)
{
    if (s->follow[0])
        return 1; /* the control plane elsewhere answers for the cluster's health */
    for (int i = 0; i < s->nengines; i++)
        if (s->engines[i].pid == 0 || !sup_cluster_state_ok(s, &s->engines[i]))
            return 0;
    return 1;
}

/* ---- failover ---- */

/* The replica's replication offset (what it has of its primary's stream), or -1. */
static long long replica_offset(supervisor *s, engine *e)
{
    char text[32];
    const resp_value *v = sup_engine_ready(s, e, HEALTH_MS) == 0
                              ? engine_callv(&e->cli, HEALTH_MS, "INFO", "replication", NULL)
                              : NULL;
    return sup_info_field(v, "slave_repl_offset", text, sizeof(text)) == 0 ? atoll(text) : -1;
}

/* Whether e's own line in CLUSTER NODES lists slots. */
static int owns_slots(supervisor *s, engine *e)
{
    const resp_value *v = ECALL(s, e, "CLUSTER", "NODES");
    if (!sup_reply_ok(v) || !v->str)
        return 0;
    const char *p = v->str, *end = v->str + v->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)MIN(ll, sizeof(line) - 1), p);
        p += ll + 1;
        if (!strstr(line, "myself"))
            continue;
        int fields = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save))
            fields += t[0] != '[';
        return fields > 8; /* id addr flags master ping pong epoch link, then slots */
    }
    return 0;
}

/* Wait up to ms for e to say it is a master (after CLUSTER FAILOVER); 1 when it did. */
static int became_primary(supervisor *s, engine *e, int ms)
{
    for (uint64_t until = ev_clock_ms() + (uint64_t)ms;;) {
        char role[16];
        const resp_value *v = ECALL(s, e, "INFO", "replication");
        if (sup_info_field(v, "role", role, sizeof(role)) == 0 && strcmp(role, "master") == 0)
            return 1;
        if (ev_clock_ms() > until)
            return 0;
        sup_pause_ms(5);
    }
}

/* Promote the most up-to-date replica of p's shard (CLUSTER FAILOVER TAKEOVER: no vote needed,
 * the control plane decides) after fencing p: a primary that still runs (frozen, or cut off) is
 * killed, so it can never take a write again as a primary; restarted, it rejoins as a replica
 * of the new primary and resyncs from it. 0, or -1 (p is then restarted in place). */
static int failover(supervisor *s, engine *p, const char *why)
{
    uint64_t t0 = ev_clock_ms();
    engine *best = NULL;
    long long best_off = -1;
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e == p || e->shard != p->shard || e->primary || e->pid <= 0)
            continue;
        long long off = replica_offset(s, e);
        if (off > best_off) {
            best = e;
            best_off = off;
        }
    }
    p->held = 0;
    if (!best) {
        log_error("cache %s: primary %s %s and no replica answers; restarting it in place",
                  s->cache_name, p->name, why);
        if (p->pid > 0)
            sup_engine_signal(s, p, SIGKILL);
        return -1;
    }
    /* The fence; supervisor_poll reaps and restarts it. An agent out of reach does not get it,
     * but its lease (half the failover timeout) has run out by now: it paused the writes. */
    if (p->pid > 0)
        sup_engine_signal(s, p, SIGKILL);
    /* A replica behind what the primary had already sent would lose acknowledged writes; the
     * primary's own AOF has them all (Redis writes it before replying), so with async
     * durability the primary is restarted in place instead: slower (a reload and Redis's 2 s
     * writable delay), but nothing acknowledged is lost. With sync durability every
     * acknowledged write is on a replica, so the fastest replica is always promoted. */
    if (!s->sync_writes && best_off < p->repl_offset) {
        log_warn("cache %s: primary %s %s; its best replica %s is behind (offset %lld < %lld): "
                 "restarting %s in place from its own data instead of promoting it",
                 s->cache_name, p->name, why, best->name, best_off, p->repl_offset, p->name);
        return -1;
    }
    char id[41];
    if (sup_node_id(s, best, id, sizeof(id)) != 0 ||
        !sup_reply_ok(ECALL(s, best, "CLUSTER", "FAILOVER", "TAKEOVER"))) {
        log_error("cache %s: replica %s refused to take over from %s", s->cache_name, best->name,
                  p->name);
        return -1;
    }
    became_primary(s, best, CALL_MS);
    if (!owns_slots(s, best)) {
        /* It became a master without its old master's slots (it did not know it as its
         * master yet: a replica attached an instant before). The old primary is restarted
         * with its slots and its data, and this one goes back to replicating it. */
        char old[41];
        log_error("cache %s: %s took over without the slots of %s; restarting %s in place",
                  s->cache_name, best->name, p->name, p->name);
        if (sup_node_id(s, p, old, sizeof(old)) == 0)
            snprintf(best->replicate_to, sizeof(best->replicate_to), "%s", old);
        return -1;
    }
    best->primary = 1;
    p->primary = 0;
    /* The old primary (once restarted) and the shard's other replicas follow the new one. */
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e != best && e->shard == best->shard)
            snprintf(e->replicate_to, sizeof(e->replicate_to), "%s", id);
    }
    s->failovers++;
    sup_save_manifest(s);
    log_warn("cache %s: failover: primary %s %s; replica %s (offset %lld) took over in %llu ms",
             s->cache_name, p->name, why, best->name, best_off,
             (unsigned long long)(ev_clock_ms() - t0));
    return 0;
}

/* ---- hibernation ---- */

int supervisor_replicas_caught_up(supervisor *s, int timeout_ms)
{
    uint64_t until = ev_clock_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int all = 1, any = 0;
        for (int i = 0; i < s->nengines && all; i++) {
            engine *p = &s->engines[i];
            if (!p->primary || p->pid <= 0)
                continue;
            char off[32];
            const resp_value *v = ECALL(s, p, "INFO", "replication");
            if (sup_info_field(v, "master_repl_offset", off, sizeof(off)) != 0) {
                all = 0;
                break;
            }
            long long want = atoll(off);
            int have = 0;
            for (int j = 0; j < s->nengines; j++) {
                engine *r = &s->engines[j];
                if (r != p && r->shard == p->shard && !r->primary && r->pid > 0 &&
                    replica_offset(s, r) == want)
                    have = 1;
            }
            all = have;
            any = 1;
        }
        if (all && any)
            return 1;
        if (ev_clock_ms() > until || s->replicas == 0)
            return 0;
        sup_pause_ms(10);
    }
}

int supervisor_promote_fresh_replicas(supervisor *s, int timeout_ms)
{
    uint64_t until = ev_clock_ms() + (uint64_t)timeout_ms;
    int promoted = 0;
    /* The primaries as they were at the wake: a replica promoted below is not one of them. */
    engine *primaries[MAX_ENGINES];
    int np = 0;
    for (int i = 0; i < s->nengines; i++)
        if (s->engines[i].primary && !sup_agent_of(s, &s->engines[i]))
            primaries[np++] = &s->engines[i];
    for (int i = 0; i < np; i++) {
        engine *p = primaries[i];
        engine *r = NULL;
        for (int j = 0; j < s->nengines && !r; j++) {
            engine *e = &s->engines[j];
            if (e != p && e->shard == p->shard && !e->primary && e->pid > 0 && !sup_agent_of(s, e))
                r = e;
        }
        if (!r)
            continue;
        /* A replica is not held by the writable delay: once it sees its shard's slots served
         * (cluster_state:ok), a takeover makes it a primary that is writable at once. */
        int ok = 0;
        for (;;) {
            char state[16];
            const resp_value *v = ECALL(s, r, "CLUSTER", "INFO");
            ok = sup_info_field(v, "cluster_state", state, sizeof(state)) == 0 &&
                 strcmp(state, "ok") == 0;
            if (ok || ev_clock_ms() >= until)
                break;
            sup_pause_ms(2);
        }
        char id[41];
        if (!ok || sup_node_id(s, r, id, sizeof(id)) != 0 ||
            !sup_reply_ok(ECALL(s, r, "CLUSTER", "FAILOVER", "TAKEOVER")) ||
            !became_primary(s, r, CALL_MS) || !owns_slots(s, r)) {
            log_warn("cache %s: replica %s did not take over from %s after the wake; %s serves "
                     "after Redis's writable delay",
                     s->cache_name, r->name, p->name, p->name);
            continue;
        }
        r->primary = 1;
        p->primary = 0;
        for (int j = 0; j < s->nengines; j++) {
            engine *e = &s->engines[j];
            if (e != r && e->shard == r->shard)
                snprintf(e->replicate_to, sizeof(e->replicate_to), "%s", id);
        }
        promoted++;
        log_info("cache %s: %s took over shard %d from %s (writable at once)", s->cache_name,
                 r->name, r->shard, p->name);
    }
    if (promoted)
        sup_save_manifest(s);
    return promoted;
}

/* ---- failback and the control loop's check ---- */

#define FAILBACK_WAIT_MS 5000 /* a graceful CLUSTER FAILOVER takes this long at most */

/* The primary p answers but is not in --preferred-zone (a failover moved it): once the shard's
 * replica in that zone has been in sync for --failback-delay, it takes over gracefully (CLUSTER
 * FAILOVER: the primary pauses writes until the replica has everything, so nothing is lost;
 * writes wait, blocked clients block again, see the endpoint). 0 when it did. */
static int failback(supervisor *s, engine *p)
{
    if (s->preferred < 0 || strcmp(p->zone, s->zones[s->preferred]) == 0)
        return -1;
    uint64_t now = ev_clock_ms();
    engine *r = NULL;
    for (int i = 0; i < s->nengines && !r; i++) {
        engine *e = &s->engines[i];
        if (e != p && e->shard == p->shard && !e->primary && e->pid > 0 &&
            strcmp(e->zone, s->zones[s->preferred]) == 0)
            r = e;
    }
    if (!r || replica_offset(s, r) < p->repl_offset) {
        if (r)
            r->in_sync_since = 0;
        return -1;
    }
    if (!r->in_sync_since)
        r->in_sync_since = now;
    if (now - r->in_sync_since < (uint64_t)s->failback_delay_ms)
        return -1;
    r->in_sync_since = 0;
    if (!sup_reply_ok(ECALL(s, r, "CLUSTER", "FAILOVER"))) {
        log_warn("cache %s: %s refused CLUSTER FAILOVER; the primary stays in zone %s",
                 s->cache_name, r->name, p->zone);
        return -1;
    }
    if (!became_primary(s, r, FAILBACK_WAIT_MS)) {
        log_warn("cache %s: %s did not take over within %d ms; the primary stays in zone %s",
                 s->cache_name, r->name, FAILBACK_WAIT_MS, p->zone);
        return -1;
    }
    r->primary = 1;
    p->primary = 0;
    s->failovers++;
    sup_save_manifest(s);
    log_warn("cache %s: failback: %s (zone %s) is the primary again, %s (zone %s) its replica, "
             "in %llu ms",
             s->cache_name, r->name, r->zone, p->name, p->zone,
             (unsigned long long)(ev_clock_ms() - now));
    return 0;
}

int supervisor_check_primaries(supervisor *s)
{
    int done = 0;
    if (s->follow[0]) {
        /* The control plane elsewhere decides failovers; a follower only watches, so that it
         * holds requests for what it cannot reach and re-reads the slot map. */
        for (int i = 0; i < s->nengines; i++)
            health_check(s, &s->engines[i]);
        return 0;
    }
    /* Agents fence their primaries when this stops: half the failover timeout, so a host cut off
     * has paused its writes before its replica elsewhere is promoted. */
    for (int i = 0; i < s->nznet; i++) {
        if (!s->znet[i].agent)
            continue;
        char names[MAX_ENGINES][96];
        const char *list[MAX_ENGINES];
        size_t n = 0;
        for (int j = 0; j < s->nengines; j++)
            if (s->engines[j].primary && sup_zone_of(s, &s->engines[j]) == &s->znet[i]) {
                snprintf(names[n], sizeof(names[n]), "%s/%s", s->cache_name, s->engines[j].name);
                list[n] = names[n];
                n++;
            }
        agent_link_renew(s->znet[i].agent, s->failover_timeout_ms / 2, n, list);
    }
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->replicate_to[0] && e->pid > 0 && sup_engine_ready(s, e, HEALTH_MS) == 0) {
            const resp_value *v =
                engine_callv(&e->cli, HEALTH_MS, "CLUSTER", "REPLICATE", e->replicate_to, NULL);
            if (sup_reply_ok(v))
                e->replicate_to[0] = '\0';
        }
        if (!e->primary) {
            health_check(s, e); /* so calls to a frozen replica wait HEALTH_MS, not CALL_MS */
            continue;
        }
        if (e->held) {
            done += failover(s, e, "died") == 0;
            continue;
        }
        if (e->pid <= 0)
            continue;
        if (health_check(s, e) == 0) {
            done += failback(s, e) == 0;
            continue;
        }
        uint64_t since = MAX(e->last_ok_ms, e->started_ms);
        uint64_t now = ev_clock_ms();
        if (now - since > (uint64_t)s->failover_timeout_ms && sup_live_replica(s, e)) {
            char why[64];
            snprintf(why, sizeof(why), "did not answer for %llu ms",
                     (unsigned long long)(now - since));
            done += failover(s, e, why) == 0;
        }
    }
    return done;
}

int64_t supervisor_failovers(const supervisor *s)
{
    return s->failovers;
}
