/* Autoscaler policy (scale/policy.c): marks, windows, hysteresis, cooldowns, bounds, the
 * vertical step, the operator's override, and the slot-move plans. */
#include <errno.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "scale/policy.h"
#include "test.h"

#define MB (1024ull * 1024)
#define SHARD_MEM (4 * MB)
#define NEVER UINT64_MAX

/* A shard at t with memory as a fraction of a 4 MB maxmemory. */
static scale_sample shard(double mem, double cpu, double ops)
{
    scale_sample s = {0};
    s.maxmemory = SHARD_MEM;
    s.used_memory = (uint64_t)(mem * (double)SHARD_MEM);
    s.cpu = cpu;
    s.ops = ops;
    return s;
}

static void fill(scale_sample *s, int n, double mem, double cpu, double ops)
{
    for (int i = 0; i < n; i++)
        s[i] = shard(mem, cpu, ops);
}

/* Feed the same samples every step ms over [from, to]; returns the first time a decision had an
 * action (NEVER if none) and stops there, leaving that (or the last) decision in *d. */
static uint64_t feed(const scale_policy_config *cfg, scale_state *st, scale_sample *s, int n,
                     uint64_t from, uint64_t to, uint64_t step, uint64_t host_free,
                     scale_decision *d)
{
    for (uint64_t t = from; t <= to; t += step) {
        for (int i = 0; i < n; i++)
            s[i].t_ms = t;
        if (scale_decide(cfg, st, s, n, t, host_free, d) != 0)
            return 0;
        if (d->actions)
            return t;
    }
    return NEVER;
}

static scale_policy_config defaults(void)
{
    scale_policy_config c;
    scale_policy_config_default(&c);
    return c;
}

TEST(policy_defaults_table)
{
    scale_policy_config c = defaults();
    char err[256];
    ASSERT_TRUE(c.out_memory == 0.70 && c.out_cpu == 0.75 && c.out_ops == 50000);
    ASSERT_TRUE(c.in_memory == 0.30 && c.in_cpu == 0.20 && c.in_ops == 10000);
    ASSERT_EQ(c.out_window_ms, 30000);
    ASSERT_EQ(c.in_window_ms, 300000);
    ASSERT_EQ(c.out_cooldown_ms, 60000);
    ASSERT_EQ(c.in_cooldown_ms, 300000);
    ASSERT_EQ(c.min_shards, 1);
    ASSERT_EQ(c.max_shards, 16);
    ASSERT_TRUE(c.vertical_factor == 1.5);
    ASSERT_EQ(c.vertical_max_bytes, 4ull << 30);
    ASSERT_EQ(scale_policy_config_check(&c, err, sizeof(err)), 0);
    /* Hysteresis by construction: twice each in-mark stays under its out-mark. */
    ASSERT_TRUE(2 * c.in_memory < c.out_memory && 2 * c.in_cpu < c.out_cpu &&
                2 * c.in_ops < c.out_ops);
    c.in_cpu = 0.8;
    ASSERT_EQ(scale_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    ASSERT_TRUE(strstr(err, "scale-in-cpu"));
    c = defaults();
    c.min_shards = 5;
    c.max_shards = 4;
    ASSERT_EQ(scale_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    ASSERT_TRUE(strstr(err, "min-shards"));
    c = defaults();
    c.vertical_factor = 1.0;
    ASSERT_EQ(scale_policy_config_check(&c, err, sizeof(err)), -EINVAL);
    ASSERT_STR_EQ(scale_trigger_name(SCALE_TRIGGER_MEMORY), "memory");
    ASSERT_STR_EQ(scale_block_name(SCALE_BLOCK_AT_MAX), "at max shards");
}

TEST(policy_memory_triggers_at_once)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[3];
    fill(s, 3, 0.10, 0.05, 100);
    s[2] = shard(0.73, 0.05, 100);
    scale_decision d;
    ASSERT_EQ(scale_decide(&c, &st, s, 3, 1000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_MEMORY);
    ASSERT_EQ(d.shard, 2);
    ASSERT_TRUE(d.value > 0.72 && d.value < 0.74);
    ASSERT_TRUE(d.threshold == 0.70);
    ASSERT_EQ(d.ndonors, 1);
    ASSERT_EQ(d.donors[0], 2);
    ASSERT_EQ(d.target_shards, 4);
    ASSERT_TRUE(strstr(d.reason, "shard 2 memory 73% >= 70% of 4.0 MB"));
    ASSERT_TRUE(strstr(d.reason, "scale out 3 -> 4 shards from shard 2"));
    scale_state_deinit(&st);
}

TEST(policy_cpu_needs_window)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[1];
    fill(s, 1, 0.10, 0.90, 1000);
    scale_decision d;
    ASSERT_EQ(feed(&c, &st, s, 1, 0, 25000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.actions, 0);
    ASSERT_EQ(feed(&c, &st, s, 1, 30000, 60000, 5000, 0, &d), 30000);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_CPU);
    ASSERT_EQ(d.held_ms, 30000);
    ASSERT_TRUE(d.sustained > 0.89 && d.sustained < 0.91);
    ASSERT_EQ(d.target_shards, 2);
    ASSERT_TRUE(strstr(d.reason, "shard 0 cpu 90% >= 75% for 30 s"));
    scale_state_deinit(&st);
}

TEST(policy_ops_needs_window)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[2];
    fill(s, 2, 0.10, 0.10, 1000);
    s[1].ops = 61000;
    scale_decision d;
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 29000, 1000, 0, &d), NEVER);
    ASSERT_EQ(feed(&c, &st, s, 2, 30000, 30000, 1000, 0, &d), 30000);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_OPS);
    ASSERT_EQ(d.donors[0], 1);
    ASSERT_TRUE(strstr(d.reason, "shard 1 ops 61000/s >= 50000/s for 30 s"));
    scale_state_deinit(&st);
}

TEST(policy_spike_shorter_than_window)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[1];
    scale_decision d;
    fill(s, 1, 0.10, 0.95, 1000);
    ASSERT_EQ(feed(&c, &st, s, 1, 0, 20000, 1000, 0, &d), NEVER);
    fill(s, 1, 0.10, 0.50, 1000);
    ASSERT_EQ(feed(&c, &st, s, 1, 21000, 30000, 1000, 0, &d), NEVER);
    fill(s, 1, 0.10, 0.95, 1000);
    ASSERT_EQ(feed(&c, &st, s, 1, 31000, 60000, 1000, 0, &d), NEVER);
    ASSERT_EQ(feed(&c, &st, s, 1, 61000, 61000, 1000, 0, &d), 61000);
    scale_state_deinit(&st);
}

TEST(policy_sample_gap_restarts_window)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[1];
    scale_decision d;
    fill(s, 1, 0.10, 0.95, 1000);
    ASSERT_EQ(feed(&c, &st, s, 1, 0, 0, 1000, 0, &d), NEVER);
    /* 20 s of silence: nothing is known of them, so the run starts again at 20 s. */
    ASSERT_EQ(feed(&c, &st, s, 1, 20000, 45000, 5000, 0, &d), NEVER);
    ASSERT_EQ(feed(&c, &st, s, 1, 50000, 50000, 5000, 0, &d), 50000);
    scale_state_deinit(&st);
}

TEST(policy_hysteresis_band_does_nothing)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[2];
    scale_decision d;
    fill(s, 2, 0.50, 0.50, 30000);
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 3600000, 5000, 1ull << 40, &d), NEVER);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_NONE);
    ASSERT_TRUE(strstr(d.reason, "busiest shard: memory 50%, cpu 50%, ops 30000/s"));
    scale_state_deinit(&st);
}

TEST(policy_cooldown_no_second_out)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[3];
    scale_decision d;
    fill(s, 2, 0.80, 0.10, 1000);
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 0, 1000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    fill(s, 3, 0.75, 0.10, 1000);
    ASSERT_EQ(feed(&c, &st, s, 3, 5000, 55000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_COOLDOWN);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_MEMORY);
    ASSERT_TRUE(strstr(d.reason, "cooldown: last scale 55 s ago, scale-out waits 60 s"));
    ASSERT_EQ(feed(&c, &st, s, 3, 60000, 60000, 5000, 0, &d), 60000);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    scale_state_deinit(&st);
}

TEST(policy_cooldown_in_after_out_and_out_after_in)
{
    scale_policy_config c = defaults();
    c.in_window_ms = 60000; /* shorter than the in-cooldown, so the cooldown is what waits */
    scale_state st;
    scale_state_init(&st);
    scale_sample s[3];
    scale_decision d;
    fill(s, 2, 0.72, 0.10, 1000);
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 0, 1000, 0, &d), 0);
    ASSERT_EQ(d.target_shards, 3);
    fill(s, 3, 0.05, 0.01, 10);
    ASSERT_EQ(feed(&c, &st, s, 3, 5000, 295000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_LOW_LOAD);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_COOLDOWN);
    ASSERT_EQ(feed(&c, &st, s, 3, 300000, 300000, 5000, 0, &d), 300000);
    ASSERT_EQ(d.actions, SCALE_ACT_IN);
    /* Vice versa: right after a scale-in, memory over its mark waits the out-cooldown. */
    fill(s, 2, 0.75, 0.01, 10);
    ASSERT_EQ(feed(&c, &st, s, 2, 305000, 355000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_COOLDOWN);
    ASSERT_EQ(feed(&c, &st, s, 2, 360000, 360000, 5000, 0, &d), 360000);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    scale_state_deinit(&st);
}

TEST(policy_max_bound)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[16];
    scale_decision d;
    fill(s, 16, 0.90, 0.95, 90000);
    ASSERT_EQ(feed(&c, &st, s, 16, 0, 600000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.actions, 0);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_AT_MAX);
    ASSERT_EQ(d.target_shards, 16);
    ASSERT_TRUE(strstr(d.reason, "at max shards (16)"));
    /* A step toward the max never passes it. */
    c.max_shards = 3;
    scale_state_init(&st);
    fill(s, 2, 0.10, 0.95, 1000);
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 60000, 5000, 0, &d), 30000);
    ASSERT_EQ(d.target_shards, 3);
    scale_state_deinit(&st);
}

TEST(policy_min_bound_and_bounds_steer)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[6];
    scale_decision d;
    fill(s, 1, 0.01, 0.01, 1);
    ASSERT_EQ(feed(&c, &st, s, 1, 0, 900000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_AT_MIN);
    ASSERT_TRUE(strstr(d.reason, "at min shards (1)"));
    /* A cache outside [min, max] (the operator changed them) is steered back at once. */
    c.max_shards = 4;
    scale_state_init(&st);
    fill(s, 5, 0.50, 0.50, 1000);
    ASSERT_EQ(feed(&c, &st, s, 5, 0, 0, 5000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_IN);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_BOUNDS);
    ASSERT_EQ(d.target_shards, 4);
    c = defaults();
    c.min_shards = 2;
    scale_state_init(&st);
    ASSERT_EQ(feed(&c, &st, s, 1, 0, 0, 5000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_EQ(d.target_shards, 2);
    scale_state_deinit(&st);
}

TEST(policy_in_needs_every_shard)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[3];
    scale_decision d;
    fill(s, 3, 0.05, 0.02, 100);
    s[1].cpu = 0.25; /* one shard between its in-mark and out-mark */
    ASSERT_EQ(feed(&c, &st, s, 3, 0, 900000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_NONE);
    s[1].cpu = 0.02;
    ASSERT_EQ(feed(&c, &st, s, 3, 905000, 2000000, 5000, 0, &d), 1205000);
    ASSERT_EQ(d.actions, SCALE_ACT_IN);
    ASSERT_EQ(d.target_shards, 2);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_LOW_LOAD);
    ASSERT_TRUE(strstr(d.reason, "every shard under memory 30%, cpu 20%, ops 10000/s for 300 s"));
    scale_state_deinit(&st);
}

TEST(policy_in_needs_whole_window)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[2];
    scale_decision d;
    fill(s, 2, 0.05, 0.02, 100);
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 145000, 5000, 0, &d), NEVER);
    s[0].ops = 15000; /* one sample over the ops in-mark breaks the lull */
    ASSERT_EQ(feed(&c, &st, s, 2, 150000, 150000, 5000, 0, &d), NEVER);
    s[0].ops = 100;
    ASSERT_EQ(feed(&c, &st, s, 2, 155000, 450000, 5000, 0, &d), NEVER);
    ASSERT_EQ(feed(&c, &st, s, 2, 455000, 455000, 5000, 0, &d), 455000);
    ASSERT_EQ(d.held_ms, 300000);
    scale_state_deinit(&st);
}

TEST(policy_in_drains_least_loaded_like_the_plan)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[4];
    scale_decision d;
    fill(s, 4, 0.05, 0.02, 100);
    s[0].used_memory = 3 * MB / 10;
    s[1].used_memory = 1 * MB / 10;
    s[2].used_memory = 2 * MB / 10;
    s[3].used_memory = 1 * MB / 10;
    ASSERT_EQ(feed(&c, &st, s, 4, 0, 300000, 5000, 0, &d), 300000);
    ASSERT_EQ(d.drain_shard, 3); /* least used memory, the higher index on ties */
    uint16_t *slot_shard = xmalloc(SCALE_SLOTS * sizeof(*slot_shard));
    for (int i = 0; i < SCALE_SLOTS; i++)
        slot_shard[i] = (uint16_t)(i / 4096);
    uint64_t load[4];
    for (int i = 0; i < 4; i++)
        load[i] = s[i].used_memory;
    scale_move *mv;
    size_t n;
    ASSERT_EQ(scale_plan_moves(slot_shard, 4, 3, load, &mv, &n), 0);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(mv[i].from, d.drain_shard);
    xfree(mv);
    xfree(slot_shard);
    scale_state_deinit(&st);
}

TEST(policy_in_refused_when_the_rest_would_overflow)
{
    scale_policy_config c = defaults();
    c.in_memory = 0.60; /* a careless in-mark, close to the out-mark */
    scale_state st;
    scale_state_init(&st);
    scale_sample s[2];
    scale_decision d;
    fill(s, 2, 0.50, 0.02, 100);
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 600000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_LOAD_AFTER);
    ASSERT_TRUE(strstr(d.reason, "one shard fewer would put memory at 100% >= 70%"));
    scale_state_deinit(&st);
}

TEST(policy_vertical_step_with_room)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[1];
    scale_decision d;
    fill(s, 1, 0.73, 0.05, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 1, 0, 1ull << 30, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_RAISE_MEMORY | SCALE_ACT_OUT);
    ASSERT_EQ(d.raise_shard, 0);
    ASSERT_EQ(d.raise_maxmemory, 6 * MB);
    ASSERT_EQ(d.target_shards, 2);
    ASSERT_TRUE(strstr(d.reason, "raise its maxmemory 4.0 MB -> 6.0 MB; scale out 1 -> 2"));
    /* In the out-cooldown, memory still rising gets the vertical step alone. */
    fill(s, 1, 0.72, 0.05, 100);
    s[0].maxmemory = 6 * MB;
    s[0].used_memory = (uint64_t)(0.72 * 6 * MB);
    ASSERT_EQ(scale_decide(&c, &st, s, 1, 5000, 1ull << 30, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_RAISE_MEMORY);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_COOLDOWN);
    ASSERT_EQ(d.raise_maxmemory, 9 * MB);
    scale_state_deinit(&st);
}

TEST(policy_vertical_step_without_room)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[1];
    scale_decision d;
    fill(s, 1, 0.73, 0.05, 100);
    /* +2 MB needs 4 MB free (the replica grows too); 3 MB is not enough. */
    ASSERT_EQ(scale_decide(&c, &st, s, 1, 0, 3 * MB, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_EQ(d.raise_shard, -1);
    ASSERT_TRUE(strstr(d.reason, "no room on the host to grow it (3.0 MB free, needs 4.0 MB)"));
    scale_state_init(&st);
    ASSERT_EQ(scale_decide(&c, &st, s, 1, 0, 4 * MB, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT | SCALE_ACT_RAISE_MEMORY);
    scale_state_deinit(&st);
}

TEST(policy_vertical_step_cap)
{
    scale_policy_config c = defaults();
    c.vertical_max_bytes = 5 * MB;
    scale_state st;
    scale_state_init(&st);
    scale_sample s[2];
    scale_decision d;
    fill(s, 2, 0.10, 0.05, 100);
    s[1] = shard(0.80, 0.05, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 0, 1ull << 30, &d), 0);
    ASSERT_EQ(d.raise_shard, 1);
    ASSERT_EQ(d.raise_maxmemory, 5 * MB);
    s[1].maxmemory = 5 * MB;
    s[1].used_memory = 4 * MB;
    scale_state_init(&st);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 0, 1ull << 30, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_TRUE(strstr(d.reason, "shard at its 5.0 MB cap"));
    /* At max shards, the vertical step still runs. */
    c = defaults();
    c.max_shards = 2;
    scale_state_init(&st);
    s[1] = shard(0.80, 0.05, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 0, 1ull << 30, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_RAISE_MEMORY);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_AT_MAX);
    ASSERT_TRUE(strstr(d.reason, "at max shards (2)"));
    scale_state_deinit(&st);
}

TEST(policy_override_pins_the_count)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[4];
    scale_decision d;
    fill(s, 2, 0.80, 0.05, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 0, 0, &d), 0); /* an automatic out just happened */
    ASSERT_EQ(scale_state_override(&st, 4), 0);
    fill(s, 3, 0.10, 0.05, 100);
    s[1].used_memory = 2 * MB;
    ASSERT_EQ(scale_decide(&c, &st, s, 3, 1000, 0, &d), 0); /* no cooldown for the operator */
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_OVERRIDE);
    ASSERT_EQ(d.target_shards, 4);
    ASSERT_EQ(d.ndonors, 3);
    ASSERT_EQ(d.donors[0], 1);
    /* Pinned: load does not move the count, but the vertical step still protects memory. */
    fill(s, 4, 0.80, 0.95, 90000);
    ASSERT_EQ(feed(&c, &st, s, 4, 2000, 600000, 5000, 0, &d), NEVER);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_PINNED);
    ASSERT_TRUE(strstr(d.reason, "pinned at 4 shards by override"));
    ASSERT_EQ(feed(&c, &st, s, 4, 605000, 605000, 5000, 1ull << 30, &d), 605000);
    ASSERT_EQ(d.actions, SCALE_ACT_RAISE_MEMORY);
    /* Down to 2: one shard per step. */
    ASSERT_EQ(scale_state_override(&st, 2), 0);
    fill(s, 4, 0.50, 0.50, 1000);
    ASSERT_EQ(scale_decide(&c, &st, s, 4, 606000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_IN);
    ASSERT_EQ(d.target_shards, 3);
    ASSERT_EQ(scale_decide(&c, &st, s, 3, 607000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_IN);
    ASSERT_EQ(d.target_shards, 2);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 608000, 0, &d), 0);
    ASSERT_EQ(d.actions, 0);
    scale_state_deinit(&st);
}

TEST(policy_override_clamped_and_reported)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[3];
    scale_decision d;
    ASSERT_EQ(scale_state_override(&st, 0), -EINVAL);
    ASSERT_EQ(scale_state_override(&st, 40), 0);
    fill(s, 2, 0.10, 0.05, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 0, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_EQ(d.target_shards, 16);
    ASSERT_EQ(d.override_clamped, 40);
    ASSERT_TRUE(strstr(d.reason, "override 40 clamped to 16 (max-shards 16)"));
    c.min_shards = 2;
    ASSERT_EQ(scale_state_override(&st, 1), 0);
    fill(s, 3, 0.10, 0.05, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 3, 1000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_IN);
    ASSERT_EQ(d.target_shards, 2);
    ASSERT_EQ(d.override_clamped, 1);
    ASSERT_TRUE(strstr(d.reason, "override 1 clamped to 2 (min-shards 2)"));
    scale_state_deinit(&st);
}

TEST(policy_override_cleared)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[2];
    scale_decision d;
    ASSERT_EQ(scale_state_override(&st, 2), 0);
    fill(s, 2, 0.80, 0.05, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 0, 0, &d), 0);
    ASSERT_EQ(d.actions, 0);
    ASSERT_EQ(d.blocked, SCALE_BLOCK_PINNED);
    scale_state_override_clear(&st);
    ASSERT_EQ(scale_decide(&c, &st, s, 2, 1000, 0, &d), 0);
    ASSERT_EQ(d.actions, SCALE_ACT_OUT);
    ASSERT_EQ(d.trigger, SCALE_TRIGGER_MEMORY);
    scale_state_deinit(&st);
}

TEST(policy_out_target_follows_the_load)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[4];
    scale_decision d;
    /* Total cpu 2.6 over the band's middle (0.475) needs 6 shards. */
    fill(s, 4, 0.10, 0.60, 1000);
    s[2].cpu = 0.80;
    ASSERT_EQ(feed(&c, &st, s, 4, 0, 60000, 5000, 0, &d), 30000);
    ASSERT_EQ(d.target_shards, 6);
    ASSERT_EQ(d.ndonors, 1);
    ASSERT_EQ(d.donors[0], 2);
    /* At most twice the shards in one step. */
    scale_state_init(&st);
    fill(s, 2, 0.10, 1.0, 1000);
    ASSERT_EQ(feed(&c, &st, s, 2, 0, 60000, 5000, 0, &d), 30000);
    ASSERT_EQ(d.target_shards, 4);
    ASSERT_EQ(d.ndonors, 2);
    scale_state_deinit(&st);
}

TEST(policy_bad_arguments_and_history)
{
    scale_policy_config c = defaults();
    scale_state st;
    scale_state_init(&st);
    scale_sample s[1];
    scale_decision d;
    fill(s, 1, 0.10, 0.10, 100);
    ASSERT_EQ(scale_decide(&c, &st, s, 0, 0, 0, &d), -EINVAL);
    ASSERT_EQ(scale_decide(&c, &st, s, SCALE_MAX_SHARDS + 1, 0, 0, &d), -EINVAL);
    ASSERT_TRUE(scale_state_recent(&st, 0) == NULL);
    ASSERT_EQ(feed(&c, &st, s, 1, 1000, 100000, 1000, 0, &d), NEVER);
    ASSERT_EQ(scale_decide(&c, &st, s, 1, 99999, 0, &d), -EINVAL); /* time went back */
    ASSERT_EQ(scale_state_recent(&st, 0)->t_ms, 100000);
    ASSERT_EQ(scale_state_recent(&st, SCALE_RING - 1)->t_ms, 100000 - (SCALE_RING - 1) * 1000);
    ASSERT_TRUE(scale_state_recent(&st, SCALE_RING) == NULL);
    ASSERT_EQ(st.last.nshards, 1);
    scale_state_deinit(&st);
}

/* ---- plans ------------------------------------------------------------------------------- */

/* Apply a plan to owner[], checking each move; returns 0 or the line of the broken rule. */
static int apply_plan(uint16_t *owner, const scale_move *mv, size_t n, int nall)
{
    unsigned char *moved = xcalloc(SCALE_SLOTS, 1);
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        if (mv[i].from == mv[i].to || mv[i].to >= nall || mv[i].slot_first > mv[i].slot_last)
            bad = __LINE__;
        for (int s = mv[i].slot_first; s <= mv[i].slot_last && !bad; s++) {
            if (owner[s] != mv[i].from || moved[s])
                bad = __LINE__;
            owner[s] = mv[i].to;
            moved[s] = 1;
        }
    }
    xfree(moved);
    return bad;
}

/* Slots each shard owns; checks that the live ones are within one of even and `drained` own 0. */
static int counts_even(const uint16_t *owner, int nall, int target)
{
    int cnt[SCALE_MAX_SHARDS] = {0}, zero = 0;
    for (int s = 0; s < SCALE_SLOTS; s++)
        cnt[owner[s]]++;
    int lo = SCALE_SLOTS / target, hi = lo + (SCALE_SLOTS % target != 0);
    for (int i = 0; i < nall; i++) {
        if (cnt[i] == 0 && lo > 0 && zero < nall - target)
            zero++;
        else if (cnt[i] < lo || cnt[i] > hi)
            return 0;
    }
    return zero == nall - target;
}

static uint16_t *layout_even(int n)
{
    uint16_t *o = xmalloc(SCALE_SLOTS * sizeof(*o));
    for (int s = 0; s < SCALE_SLOTS; s++)
        o[s] = (uint16_t)((long)s * n / SCALE_SLOTS);
    return o;
}

TEST(plan_out_1_to_2)
{
    uint16_t *o = layout_even(1);
    scale_move *mv;
    size_t n;
    ASSERT_EQ(scale_plan_moves(o, 1, 2, NULL, &mv, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(mv[0].slot_first, 8192);
    ASSERT_EQ(mv[0].slot_last, 16383);
    ASSERT_EQ(mv[0].from, 0);
    ASSERT_EQ(mv[0].to, 1);
    ASSERT_EQ(apply_plan(o, mv, n, 2), 0);
    ASSERT_TRUE(counts_even(o, 2, 2));
    xfree(mv);
    xfree(o);
}

TEST(plan_out_2_to_4_busiest_first)
{
    uint16_t *o = layout_even(2);
    uint64_t load[2] = {10, 20};
    scale_move *mv;
    size_t n;
    ASSERT_EQ(scale_plan_moves(o, 2, 4, load, &mv, &n), 0);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(mv[0].from, 1); /* the busier shard gives first */
    ASSERT_EQ(mv[0].to, 2);
    ASSERT_EQ(mv[0].slot_first, 12288);
    ASSERT_EQ(mv[0].slot_last, 16383);
    ASSERT_EQ(mv[1].from, 0);
    ASSERT_EQ(mv[1].to, 3);
    ASSERT_EQ(mv[1].slot_first, 4096);
    ASSERT_EQ(mv[1].slot_last, 8191);
    ASSERT_EQ(apply_plan(o, mv, n, 4), 0);
    ASSERT_TRUE(counts_even(o, 4, 4));
    xfree(mv);
    xfree(o);
}

TEST(plan_out_3_to_4)
{
    uint16_t *o = layout_even(3);
    scale_move *mv;
    size_t n;
    ASSERT_EQ(scale_plan_moves(o, 3, 4, NULL, &mv, &n), 0);
    ASSERT_EQ(n, 3); /* one range from each old shard */
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(mv[i].to, 3);
        ASSERT_EQ(mv[i].from, (int)i);
        total += mv[i].slot_last - mv[i].slot_first + 1;
    }
    ASSERT_EQ(total, 4096);
    ASSERT_EQ(apply_plan(o, mv, n, 4), 0);
    ASSERT_TRUE(counts_even(o, 4, 4));
    xfree(mv);
    xfree(o);
}

TEST(plan_in_4_to_3)
{
    uint16_t *o = layout_even(4);
    uint64_t load[4] = {5, 9, 1, 7};
    scale_move *mv;
    size_t n;
    ASSERT_EQ(scale_plan_moves(o, 4, 3, load, &mv, &n), 0);
    ASSERT_EQ(n, 3);
    int to_seen = 0;
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(mv[i].from, 2);
        to_seen |= 1 << mv[i].to;
    }
    ASSERT_EQ(to_seen, (1 << 0) | (1 << 1) | (1 << 3));
    ASSERT_EQ(apply_plan(o, mv, n, 4), 0);
    ASSERT_TRUE(counts_even(o, 4, 3));
    xfree(mv);
    xfree(o);
}

TEST(plan_in_2_to_1_and_nothing_to_do)
{
    uint16_t *o = layout_even(2);
    scale_move *mv;
    size_t n;
    ASSERT_EQ(scale_plan_moves(o, 2, 1, NULL, &mv, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(mv[0].from, 1); /* equal loads: the higher index is drained */
    ASSERT_EQ(mv[0].to, 0);
    ASSERT_EQ(mv[0].slot_first, 8192);
    ASSERT_EQ(mv[0].slot_last, 16383);
    ASSERT_EQ(apply_plan(o, mv, n, 2), 0);
    ASSERT_TRUE(counts_even(o, 2, 1));
    xfree(mv);
    ASSERT_EQ(scale_plan_moves(o, 1, 1, NULL, &mv, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_TRUE(mv == NULL);
    o[5] = 3;
    ASSERT_EQ(scale_plan_moves(o, 1, 2, NULL, &mv, &n), -EINVAL);
    ASSERT_EQ(scale_plan_moves(o, 4, 0, NULL, &mv, &n), -EINVAL);
    ASSERT_EQ(scale_plan_moves(o, 4, SCALE_MAX_SHARDS + 1, NULL, &mv, &n), -EINVAL);
    xfree(o);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

TEST(plan_random_properties)
{
    uint16_t *o = xmalloc(SCALE_SLOTS * sizeof(*o));
    for (int iter = 0; iter < 300; iter++) {
        int now = 1 + (int)(rnd() % 16), target = 1 + (int)(rnd() % 16);
        if (iter % 3 == 0) {
            for (int s = 0; s < SCALE_SLOTS; s++) /* scattered: every slot anywhere */
                o[s] = (uint16_t)(rnd() % (uint64_t)now);
        } else {
            for (int s = 0; s < SCALE_SLOTS;) { /* contiguous chunks of random owners */
                int len = 1 + (int)(rnd() % 3000);
                uint16_t who = (uint16_t)(rnd() % (uint64_t)now);
                for (int k = 0; k < len && s < SCALE_SLOTS; k++)
                    o[s++] = who;
            }
        }
        uint64_t load[16] = {0};
        for (int i = 0; i < now; i++)
            load[i] = rnd() % 1000;
        scale_move *mv;
        size_t n;
        ASSERT_EQ(scale_plan_moves(o, now, target, load, &mv, &n), 0);
        int nall = now > target ? now : target;
        int bad = apply_plan(o, mv, n, nall);
        xfree(mv);
        ASSERT_EQ(bad, 0);
        ASSERT_TRUE(counts_even(o, nall, target));
        /* The drained shards are the least loaded, and the result needs no further move. */
        int cnt[16] = {0};
        for (int s = 0; s < SCALE_SLOTS; s++)
            cnt[o[s]]++;
        for (int i = 0; i < now; i++)
            for (int j = 0; j < now; j++)
                ASSERT_TRUE(cnt[i] > 0 || cnt[j] == 0 || load[i] <= load[j]);
        ASSERT_EQ(scale_plan_moves(o, nall, target, load, &mv, &n), 0);
        ASSERT_EQ(n, 0);
    }
    xfree(o);
}
