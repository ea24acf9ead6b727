/* The autoscaler's actuator side: samples each shard's load, asks the policy (scale/policy.c)
 * and carries out what it decides: a vertical memory step now, or a reshard request for
 * reshard.c. It also guards memory while slots move. Control thread only (cache_int.h). */
#include "control/cache_int.h"

#include <stdatomic.h>
#include <stdio.h>

#include "common/compiler.h"
#include "common/log.h"
#include "net/ev.h"
#include "scale/policy.h"

static uint64_t host_free_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

#define SAMPLE_EVERY_MS 250 /* memory fills fast: a spike must be seen before writes hit OOM */

/* While slots move, the policy does not judge (migration skews the samples), but memory is
 * still watched: a shard over its mark gets the vertical step at once, so neither the writes
 * of clients nor the keys arriving by MIGRATE hit OOM. */
static void memory_guard(cache *c, const supervisor_shard_load *loads, int n)
{
    const scale_policy_config *p = &c->policy;
    for (int i = 0; i < n; i++) {
        const supervisor_shard_load *l = &loads[i];
        if (!l->maxmemory || (double)l->used_memory < p->out_memory * (double)l->maxmemory)
            continue;
        uint64_t want = (uint64_t)((double)l->maxmemory * p->vertical_factor);
        want = MIN(want, p->vertical_max_bytes);
        if (want <= l->maxmemory ||
            (double)host_free_bytes() < p->vertical_host_factor * (double)(want - l->maxmemory))
            continue;
        cache_event(c, "raise-memory",
                    "shard %d memory %.0f%% of %llu bytes while resharding: maxmemory -> %llu", i,
                    100.0 * (double)l->used_memory / (double)l->maxmemory,
                    (unsigned long long)l->maxmemory, (unsigned long long)want);
        supervisor_set_maxmemory(c->sup, l->id, want);
    }
}

/* While adding a shard holds the control loop (seconds: Redis's writable delay, longer on a
 * loaded host), shards near their memory mark still get the vertical step, so the writes that
 * made the cache grow keep landing instead of running into OOM. */
void autoscale_guard_memory(cache *c)
{
    uint64_t now = ev_clock_ms();
    if (!c->autoscale || !c->view.topo || now < c->next_guard_ms)
        return;
    c->next_guard_ms = now + SAMPLE_EVERY_MS;
    supervisor_shard_load loads[TOPO_MAX_SHARDS];
    if (supervisor_sample_shards(c->sup, c->view.topo, loads) == 0)
        memory_guard(c, loads, c->view.topo->nshards);
}

/* Sample each shard, ask the policy, carry out what it decides. */
void autoscale_step(cache *c)
{
    uint64_t now = ev_clock_ms();
    if (atomic_exchange(&c->view.memory_pressure, 0))
        c->next_sample_ms = 0;
    if (!c->autoscale || now < c->next_sample_ms || atomic_load(&c->view.scale_request) != 0)
        return;
    c->next_sample_ms = now + SAMPLE_EVERY_MS;
    const topology *t = c->view.topo;
    if (!t || t->nshards < 1)
        return;
    supervisor_shard_load loads[TOPO_MAX_SHARDS];
    if (supervisor_sample_shards(c->sup, t, loads) != 0)
        return; /* an engine is restarting: judge on complete samples only */
    /* OOM is transient while a shard can still grow (vertically or by scaling out). */
    int room = t->nshards < c->policy.max_shards;
    for (int i = 0; i < t->nshards && !room; i++)
        room = loads[i].maxmemory < c->policy.vertical_max_bytes;
    atomic_store(&c->view.oom_absorb, room);
    if (c->reshard.active) {
        memory_guard(c, loads, t->nshards);
        return;
    }
    scale_sample samples[TOPO_MAX_SHARDS];
    for (int i = 0; i < t->nshards; i++) {
        samples[i] = (scale_sample){
            .t_ms = loads[i].t_ms,
            .used_memory = loads[i].used_memory,
            .maxmemory = loads[i].maxmemory,
            .cpu = loads[i].cpu,
            .ops = loads[i].ops,
            .net_in = loads[i].net_in,
            .net_out = loads[i].net_out,
            .keys = loads[i].keys,
        };
    }
    scale_decision d;
    if (scale_decide(&c->policy, &c->scale, samples, t->nshards, ev_clock_ms(), host_free_bytes(),
                     &d) != 0 ||
        d.actions == 0)
        return;
    cache_event(c, "decision",
                "%s (trigger %s, value %.3g, threshold %.3g, held %llu ms; %d -> %d shard(s))",
                d.reason, scale_trigger_name(d.trigger), d.value, d.threshold,
                (unsigned long long)d.held_ms, d.nshards, d.target_shards);
    if ((d.actions & SCALE_ACT_RAISE_MEMORY) && d.raise_shard >= 0 && d.raise_shard < t->nshards) {
        if (supervisor_set_maxmemory(c->sup, loads[d.raise_shard].id, d.raise_maxmemory) != 0)
            log_warn("cache %s: could not raise the maxmemory of shard %d", c->view.name,
                     d.raise_shard);
    }
    if (d.actions & (SCALE_ACT_OUT | SCALE_ACT_IN)) {
        atomic_store(&c->view.scale_request, d.target_shards);
        snprintf(c->pending_reason, sizeof(c->pending_reason), "autoscaler: %s", d.reason);
    }
}
