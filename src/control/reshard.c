/* Live resharding, the actuator behind STRATUS SCALE and the autoscaler: it plans slot moves
 * from one topology snapshot, runs them in pipelined batches a slice per control-loop turn, and
 * removes the shards left without slots. Control thread only (cache_int.h). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/cache_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "net/ev.h"
#include "scale/policy.h"

#define RESHARD_SLICE_MS 80   /* slot moves per control-loop turn, so health checks keep running */
#define RESHARD_BATCH_MS 20   /* aim of one pipelined batch of slot moves */
#define RESHARD_BATCH_MAX 512 /* slots per batch */

/* Plan, from one topology snapshot: kept shards end with an even share of slots (quota),
 * drained ones with none. Receivers are filled one after the other from the top of the slot
 * space, so each gets long contiguous runs. One move per slot. */
/* Plan a reshard to `target` shards with scale_plan_moves. Plan indices: the shards owning
 * slots first, then empty primaries (just added, or left by an earlier reshard) as receivers.
 * Loads are slot counts, so scale-in drains the shards owning the fewest slots; the pub/sub home
 * is never drained (its subscribers would have to subscribe again). Every shard left with no
 * slot is queued for removal. 0, or -1 when a slot has no owner (nothing is planned). */
static int plan_moves(cache *c, const topology *t, int target)
{
    cache_reshard *rs = &c->reshard;
    int idx[TOPO_MAX_SHARDS], pidx[TOPO_MAX_SHARDS], slots[TOPO_MAX_SHARDS] = {0};
    for (int i = 0; i < TOPO_SLOTS; i++) {
        if (t->slot_shard[i] >= t->nshards)
            return -1;
        slots[t->slot_shard[i]]++;
    }
    int n = 0;
    for (int i = 0; i < t->nshards; i++)
        if (slots[i] > 0)
            idx[n++] = i;
    int nold = n;
    for (int i = 0; i < t->nshards; i++)
        if (slots[i] == 0 && t->shards[i].primary >= 0)
            idx[n++] = i;
    for (int j = 0; j < n; j++)
        pidx[idx[j]] = j;
    int now = target > nold ? nold : n, to = MIN(target, n);
    uint16_t *owner = xmalloc(TOPO_SLOTS * sizeof(uint16_t));
    uint64_t load[TOPO_MAX_SHARDS];
    for (int i = 0; i < TOPO_SLOTS; i++)
        owner[i] = (uint16_t)pidx[t->slot_shard[i]];
    for (int j = 0; j < n; j++)
        load[j] =
            t->shards[idx[j]].primary == t->pubsub_home ? UINT64_MAX : (uint64_t)slots[idx[j]];
    scale_move *mv = NULL;
    size_t nmv = 0;
    int rc = scale_plan_moves(owner, now, to, load, &mv, &nmv);
    xfree(owner);
    if (rc != 0)
        return -1;
    int after[TOPO_MAX_SHARDS] = {0};
    for (int j = 0; j < nold; j++)
        after[j] = slots[idx[j]];
    rs->moves = xmalloc(TOPO_SLOTS * sizeof(cache_move));
    rs->nmoves = 0;
    for (size_t k = 0; k < nmv; k++) {
        const char *from = t->nodes[t->shards[idx[mv[k].from]].primary].id;
        const char *dst = t->nodes[t->shards[idx[mv[k].to]].primary].id;
        for (int sl = mv[k].slot_first; sl <= mv[k].slot_last; sl++) {
            cache_move *m = &rs->moves[rs->nmoves++];
            m->slot = (uint16_t)sl;
            snprintf(m->from, sizeof(m->from), "%s", from);
            snprintf(m->to, sizeof(m->to), "%s", dst);
        }
        int cnt = mv[k].slot_last - mv[k].slot_first + 1;
        after[mv[k].from] -= cnt;
        after[mv[k].to] += cnt;
    }
    xfree(mv);
    for (int j = 0; j < n; j++)
        if (after[j] == 0 && rs->ndrain < (int)ARRAY_LEN(rs->drain))
            snprintf(rs->drain[rs->ndrain++], 41, "%s", t->nodes[t->shards[idx[j]].primary].id);
    return 0;
}

static void refresh_topology(cache *c)
{
    atomic_store(&c->view.refresh_wanted, 0);
    cache_rebuild_topology(c);
}

/* Start a reshard to target shards (again: even when the count is already there, to finish an
 * interrupted plan). */
static void reshard_begin(cache *c, int target, int again)
{
    cache_reshard *rs = &c->reshard;
    int nnow = c->view.topo->nshards;
    if ((target == nnow && !again) || target < 1 || target > TOPO_MAX_SHARDS)
        return;
    memset(rs, 0, sizeof(*rs));
    rs->target = target;
    rs->started_ms = ev_clock_ms();
    if (c->pending_reason[0]) {
        snprintf(rs->reason, sizeof(rs->reason), "%s", c->pending_reason);
    } else {
        /* An operator's count holds until STRATUS SCALE AUTO: the autoscaler keeps to it. */
        scale_state_override(&c->scale, target);
        snprintf(rs->reason, sizeof(rs->reason), "STRATUS SCALE %d (from %d shard(s))", target,
                 nnow);
    }
    c->pending_reason[0] = '\0';
    char err[256], id[41];
    for (int i = nnow; i < target; i++) {
        if (supervisor_add_shard(c->sup, (int)c->cfg->start_timeout, id, sizeof(id), err,
                                 sizeof(err)) != 0) {
            log_error("cache %s: cannot add a shard: %s; resharding to %d shard(s) instead",
                      c->view.name, err, i);
            target = i;
            break;
        }
    }
    /* One snapshot for the whole plan; the endpoint knows the new primaries before any slot
     * moves to them. */
    refresh_topology(c);
    if (plan_moves(c, c->view.topo, target) != 0) {
        log_error("cache %s: a slot has no owner; resharding waits for the cluster to be whole",
                  c->view.name);
        return;
    }
    rs->moves_started_ms = ev_clock_ms();
    rs->active = 1;
    atomic_store(&c->view.resharding, 1);
    cache_event(c, "reshard-start", "%d -> %d shard(s), %zu slot(s) to move; %s", nnow, target,
                rs->nmoves, rs->reason);
}

static void reshard_finish(cache *c)
{
    cache_reshard *rs = &c->reshard;
    char err[256];
    refresh_topology(c);
    for (int i = 0; i < rs->ndrain; i++) {
        /* Never remove a primary that still owns a slot (a move that did not happen). */
        const topology *t = c->view.topo;
        int owns = 0;
        for (int sh = 0; sh < t->nshards && !owns; sh++) {
            if (t->shards[sh].primary < 0 ||
                strcmp(t->nodes[t->shards[sh].primary].id, rs->drain[i]) != 0)
                continue;
            for (int sl = 0; sl < TOPO_SLOTS && !owns; sl++)
                owns = t->slot_shard[sl] == sh;
        }
        if (owns) {
            log_error("cache %s: shard of %s still owns slots; it is kept", c->view.name,
                      rs->drain[i]);
            continue;
        }
        if (supervisor_remove_shard(c->sup, rs->drain[i], err, sizeof(err)) != 0)
            log_error("cache %s: %s", c->view.name, err);
    }
    refresh_topology(c);
    uint64_t now = ev_clock_ms(), ms = now - rs->started_ms;
    cache_event(c, "reshard-done",
                "resharded to %d shard(s) in %llu ms: %zu slot(s), %llu key(s) moved in %llu ms "
                "(%s)",
                c->view.topo->nshards, (unsigned long long)ms, rs->nmoves,
                (unsigned long long)rs->keys, (unsigned long long)(now - rs->moves_started_ms),
                rs->reason);
    xfree(rs->moves);
    rs->moves = NULL;
    rs->active = 0;
    atomic_store(&c->view.resharding, 0);
}

/* A primary named in the plan was replaced by its replica: finish the half-moved slots from
 * their owners now, then plan the rest again from the new topology. */
void reshard_replan(cache *c)
{
    cache_reshard *rs = &c->reshard;
    int repaired = supervisor_repair_slots(c->sup);
    refresh_topology(c);
    char reason[sizeof(rs->reason)];
    snprintf(reason, sizeof(reason), "%s", rs->reason);
    int target = rs->target;
    xfree(rs->moves);
    rs->moves = NULL;
    rs->active = 0;
    snprintf(c->pending_reason, sizeof(c->pending_reason), "%s (planned again after a failover)",
             reason);
    log_warn("cache %s: a failover during the reshard: %d slot(s) repaired, planning again",
             c->view.name, repaired);
    reshard_begin(c, target, 1);
    if (!rs->active)
        atomic_store(&c->view.resharding, 0);
}

void reshard_step(cache *c)
{
    cache_reshard *rs = &c->reshard;
    if (!rs->active) {
        int want = atomic_exchange(&c->view.scale_request, 0);
        if (want < 0) {
            scale_state_override_clear(&c->scale);
            log_info("cache %s: STRATUS SCALE AUTO: the autoscaler decides the shard count",
                     c->view.name);
        }
        if (want > 0)
            reshard_begin(c, want, 0);
        if (!rs->active)
            return;
    }
    uint64_t until = ev_clock_ms() + RESHARD_SLICE_MS;
    char err[256];
    int slots[RESHARD_BATCH_MAX];
    while (rs->next < rs->nmoves && ev_clock_ms() < until) {
        /* The next moves between the same two primaries go together, in one pipelined batch
         * sized to take about RESHARD_BATCH_MS. */
        const cache_move *m = &rs->moves[rs->next];
        size_t n = 0;
        if (rs->batch < 1)
            rs->batch = 16;
        while (rs->next + n < rs->nmoves && n < (size_t)rs->batch &&
               strcmp(rs->moves[rs->next + n].from, m->from) == 0 &&
               strcmp(rs->moves[rs->next + n].to, m->to) == 0) {
            slots[n] = rs->moves[rs->next + n].slot;
            n++;
        }
        uint64_t t0 = ev_clock_ms();
        long keys = supervisor_move_slots(c->sup, slots, n, m->from, m->to, err, sizeof(err));
        if (keys < 0) {
            /* Left for the next turn (an engine restarting?); repaired at a restart if need be. */
            log_warn("cache %s: %s; retrying", c->view.name, err);
            rs->batch = 1;
            break;
        }
        uint64_t took = ev_clock_ms() - t0;
        if (took < RESHARD_BATCH_MS / 2 && rs->batch < RESHARD_BATCH_MAX)
            rs->batch *= 2;
        else if (took > RESHARD_BATCH_MS && rs->batch > 1)
            rs->batch /= 2;
        rs->keys += (uint64_t)keys;
        rs->next += n;
        atomic_fetch_add(&c->view.slots_moved, (int64_t)n);
    }
    /* The endpoint follows MOVED at once; its full map is refreshed with the 1 s tick. */
    if (rs->next == rs->nmoves)
        reshard_finish(c);
}

int cache_busy(const cache *c)
{
    return c->reshard.active || atomic_load(&c->view.scale_request) > 0;
}
