/* Autoscaler policy: pure functions that turn per-shard samples into one scaling decision
 * (scale out, scale in, raise a shard's maxmemory) and a decision into a plan of slot moves.
 * No I/O, no clock, no threads: the caller passes every input, times in milliseconds, so every
 * rule is unit-tested; the actuator (and the control thread) carry the decisions out. */
#ifndef STRATUS_SCALE_POLICY_H
#define STRATUS_SCALE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define SCALE_SLOTS 16384    /* hash slots (Redis Cluster) */
#define SCALE_MAX_SHARDS 64  /* hard bound: the topology's shard table */
#define SCALE_RING 64        /* aggregate samples the state remembers */
#define SCALE_REASON_LEN 256 /* bytes of a decision's reason, NUL included */
#define SCALE_METRICS 3      /* memory, cpu, ops: the metrics with marks */

/* One shard's sample at t_ms. cpu is a fraction of one core (the engine runs commands on one
 * thread), computed by the caller from INFO cpu deltas; rates are per second. */
typedef struct scale_sample {
    uint64_t t_ms;        /* when it was taken (monotonic clock) */
    uint64_t used_memory; /* INFO memory used_memory, bytes */
    uint64_t maxmemory;   /* the shard's memory budget, bytes (0: unknown, memory is ignored) */
    double cpu;           /* engine CPU, 0..1 of one core */
    double ops;           /* commands per second */
    double net_in;        /* bytes received per second */
    double net_out;       /* bytes sent per second */
    uint64_t keys;        /* keys held */
} scale_sample;

/* The policy's defaults, defined once. X(type, field, default, proposed setting, why).
 * Memory is judged on a single sample, CPU and ops over out_window_ms: memory does not come back
 * by itself (a cache fills until eviction or OOM, and with noeviction an OOM is an error for
 * every write), while CPU and ops are bursty and a burst shorter than a migration is over before
 * a new shard could help. The scale-in marks are far below the scale-out marks (hysteresis):
 * removing one of n shards raises the others' load by n/(n-1), at most 2x, and 2x each in-mark
 * is still under its out-mark, so a scale-in cannot cause the next scale-out. */
#define SCALE_POLICY_DEFAULTS(X)                                                                   \
    X(double, out_memory, 0.70, "scale-out-memory",                                                \
      "a shard at 70% of maxmemory scales out at once: the other 30% absorbs writes while slots "  \
      "migrate and the copy-on-write of a fork (BGSAVE, replica sync)")                            \
    X(double, out_cpu, 0.75, "scale-out-cpu",                                                      \
      "an engine over 75% of its one core for the window scales out: queueing delay grows as "     \
      "load/(1-load), 3x the service time at 75%, 9x at 90%")                                      \
    X(double, out_ops, 50000, "scale-out-ops",                                                     \
      "a shard over 50000 ops/s for the window scales out: about half of what one engine core "    \
      "serves for simple commands, leaving room for heavier ones and for migration traffic")       \
    X(uint64_t, out_window_ms, 30000, "scale-out-window",                                          \
      "CPU and ops must stay over their marks 30 s: a burst (a batch job, a warm-up) is ignored, " \
      "a lasting rise is acted on within a minute")                                                \
    X(double, in_memory, 0.30, "scale-in-memory",                                                  \
      "every shard under 30% memory (2x 30% = 60% < 70%)")                                         \
    X(double, in_cpu, 0.20, "scale-in-cpu", "every shard under 20% CPU (2x 20% = 40% < 75%)")      \
    X(double, in_ops, 10000, "scale-in-ops",                                                       \
      "every shard under 10000 ops/s (2x 10000 = 20000 < 50000)")                                  \
    X(uint64_t, in_window_ms, 300000, "scale-in-window",                                           \
      "every shard must stay under every in-mark 5 min: a scale-in costs a migration and gives "   \
      "back capacity that the next peak may need, so it waits for a lasting lull")                 \
    X(uint64_t, out_cooldown_ms, 60000, "scale-out-cooldown",                                      \
      "no scale-out within 60 s of the last scale-out or scale-in: the migration finishes and "    \
      "the new layout shows in the samples before it is judged")                                   \
    X(uint64_t, in_cooldown_ms, 300000, "scale-in-cooldown",                                       \
      "no scale-in within 5 min of any action: out fast, in slowly")                               \
    X(int, min_shards, 1, "min-shards", "never fewer shards than this")                            \
    X(int, max_shards, 16, "max-shards",                                                           \
      "never more shards than this: bounds cost and processes (16 primaries and their replicas "   \
      "on one host); at most 64")                                                                  \
    X(double, vertical_factor, 1.5, "scale-memory-factor",                                         \
      "when memory triggers and the host has room, the shard's maxmemory is multiplied by 1.5 "    \
      "at once (CONFIG SET, no migration) to buy time while the scale-out runs")                   \
    X(uint64_t, vertical_max_bytes, 4ull << 30, "max-shard-memory",                                \
      "the vertical step stops at 4 GiB per shard: bigger shards make full resyncs, failovers "    \
      "and migrations slow, so past it only scale-out adds memory")                                \
    X(double, vertical_host_factor, 2.0, "scale-memory-host-factor",                               \
      "the host must have 2x the added bytes free: the shard's replica grows by the same amount "  \
      "and, on one machine, lives on the same host")                                               \
    X(uint64_t, max_sample_gap_ms, 10000, "",                                                      \
      "internal: samples more than 10 s apart restart every window, since nothing is known of "    \
      "the time between them")

#define SCALE_POLICY_FIELD_(type, field, def, setting, why) type field;

/* Thresholds, windows, cooldowns and bounds; fill with scale_policy_config_default. */
typedef struct scale_policy_config {
    SCALE_POLICY_DEFAULTS(SCALE_POLICY_FIELD_)
} scale_policy_config;

/* What triggered a decision. X(id, name for the events log) */
#define SCALE_TRIGGERS(X)                                                                          \
    X(SCALE_TRIGGER_NONE, "none")                                                                  \
    X(SCALE_TRIGGER_MEMORY, "memory")                                                              \
    X(SCALE_TRIGGER_CPU, "cpu")                                                                    \
    X(SCALE_TRIGGER_OPS, "ops")                                                                    \
    X(SCALE_TRIGGER_LOW_LOAD, "low-load")                                                          \
    X(SCALE_TRIGGER_OVERRIDE, "override")                                                          \
    X(SCALE_TRIGGER_BOUNDS, "bounds")

/* Why an action the load called for was not taken. X(id, name for the events log) */
#define SCALE_BLOCKS(X)                                                                            \
    X(SCALE_BLOCK_NONE, "none")                                                                    \
    X(SCALE_BLOCK_COOLDOWN, "cooldown")                                                            \
    X(SCALE_BLOCK_AT_MAX, "at max shards")                                                         \
    X(SCALE_BLOCK_AT_MIN, "at min shards")                                                         \
    X(SCALE_BLOCK_PINNED, "pinned by override")                                                    \
    X(SCALE_BLOCK_LOAD_AFTER, "load after scale-in")

#define SCALE_ENUM_(id, name) id,
typedef enum { SCALE_TRIGGERS(SCALE_ENUM_) SCALE_TRIGGER__COUNT } scale_trigger;
typedef enum { SCALE_BLOCKS(SCALE_ENUM_) SCALE_BLOCK__COUNT } scale_block;

/* Action bits of a decision; 0 is "none". A memory trigger may carry RAISE_MEMORY and OUT. */
#define SCALE_ACT_OUT 1u          /* add shards up to target_shards */
#define SCALE_ACT_IN 2u           /* drain drain_shard; target_shards = nshards - 1 */
#define SCALE_ACT_RAISE_MEMORY 4u /* set raise_shard's maxmemory to raise_maxmemory */

/* One decision. Fields of an action not in `actions` hold -1 or 0. The metric fields say what
 * triggered it, for the events log: value now, threshold, and how long the condition held. */
typedef struct scale_decision {
    unsigned actions;              /* SCALE_ACT_* bits */
    scale_trigger trigger;         /* what called for the action (or for the blocked one) */
    scale_block blocked;           /* why the shard count did not change although asked */
    int nshards;                   /* shards now */
    int target_shards;             /* shards after the action (== nshards when no OUT/IN) */
    int ndonors;                   /* OUT: entries in donors */
    int donors[SCALE_MAX_SHARDS];  /* OUT: shards to take slots from, busiest first */
    int drain_shard;               /* IN: shard to empty (least used memory), else -1 */
    int raise_shard;               /* RAISE_MEMORY: shard, else -1 */
    uint64_t raise_maxmemory;      /* RAISE_MEMORY: its new maxmemory, bytes */
    int shard;                     /* shard whose metric triggered, -1 for all/none */
    double value;                  /* the triggering metric now (fraction, or ops/s) */
    double threshold;              /* the mark it was compared with */
    double sustained;              /* over the window: lowest (out) or highest (in) busiest-shard
                                    * value among the remembered samples */
    uint64_t held_ms;              /* how long the condition has held */
    int override_clamped;          /* the override asked for this many shards (0: not clamped) */
    char reason[SCALE_REASON_LEN]; /* one line for humans and the events log */
} scale_decision;

/* The aggregate of one call's samples: the busiest shard's value of each metric. */
typedef struct scale_point {
    uint64_t t_ms;  /* when */
    int nshards;    /* shards sampled */
    double memory;  /* highest used_memory / maxmemory */
    double cpu;     /* highest cpu */
    double ops;     /* highest ops/s */
    uint64_t bytes; /* total used_memory */
} scale_point;

/* What the policy remembers between calls; owned by the caller (init/deinit). A *_since field
 * is the time of the first sample of an unbroken run where the condition held; *_held says
 * whether the run is live. Windows restart on a sample gap, a change of shard count, and an
 * action. */
typedef struct scale_state {
    scale_point ring[SCALE_RING];      /* recent aggregates, oldest overwritten */
    unsigned ring_next;                /* index of the next write */
    unsigned ring_len;                 /* valid entries (<= SCALE_RING) */
    int have_last;                     /* a previous call exists */
    uint64_t last_t_ms;                /* its time */
    int last_nshards;                  /* its shard count */
    int out_held[SCALE_METRICS];       /* memory, cpu, ops over their out-marks (some shard) */
    uint64_t out_since[SCALE_METRICS]; /* start of each run */
    int in_held;                       /* every shard under every in-mark */
    uint64_t in_since;                 /* start of that run */
    int have_out, have_in, have_raise; /* an action of that kind happened */
    uint64_t last_out_ms, last_in_ms;  /* when the last OUT / IN was decided */
    uint64_t last_raise_ms;            /* when the last RAISE_MEMORY was decided */
    int override_shards;               /* operator's pin, 0: none */
    scale_decision last;               /* the previous decision */
} scale_state;

/* One move of a plan: slots [slot_first, slot_last] go from shard `from` to shard `to`. */
typedef struct scale_move {
    uint16_t slot_first; /* first slot of the range */
    uint16_t slot_last;  /* last slot, inclusive */
    uint16_t from;       /* owner now */
    uint16_t to;         /* owner after (never == from) */
} scale_move;

/* Fill cfg with the defaults of SCALE_POLICY_DEFAULTS. */
void scale_policy_config_default(scale_policy_config *cfg);
/* 0 if cfg is coherent (marks in range, in-marks below out-marks, 1 <= min <= max <= 64,
 * factors above 1), else -EINVAL with a message naming the field and the fix in err. */
int scale_policy_config_check(const scale_policy_config *cfg, char *err, size_t errlen);
/* Name of a trigger for the events log ("memory", "override" ...). */
const char *scale_trigger_name(scale_trigger t);
/* Name of a block reason ("at max shards" ...). */
const char *scale_block_name(scale_block b);

/* Start with no history, no override, no past action. */
void scale_state_init(scale_state *st);
/* Release the state (it owns no memory today; kept so callers need not change). */
void scale_state_deinit(scale_state *st);
/* Pin the shard count at `shards` (stratus cache scale NAME --shards N) until cleared; clamped
 * to [min, max] when decided, the clamping reported. 0, or -EINVAL if shards < 1. */
int scale_state_override(scale_state *st, int shards);
/* Remove the pin: the policy decides again. */
void scale_state_override_clear(scale_state *st);
/* The i-th most recent aggregate (0 = newest), or NULL past the remembered ones. */
const scale_point *scale_state_recent(const scale_state *st, unsigned i);

/* Decide from one sample per shard (shards[0..nshards)) taken at now_ms, with host_free_bytes
 * free on the host. Order: memory over its mark (one sample) -> RAISE_MEMORY if allowed, and OUT;
 * CPU or ops over theirs for the window -> OUT to enough shards for the band's middle (at least
 * +1, at most 2x, at most max); every shard under every in-mark for the in-window -> IN of one
 * shard. An override or a count outside [min, max] steers the count instead, ignoring windows
 * and cooldowns. Fills *out (actions 0 = none; reason always set) and records it in st as
 * carried out: cooldowns start at now_ms. Call it only while no OUT/IN is in progress (migration
 * skews the samples, and a pin is re-decided on every call). 0, or -EINVAL for nshards outside
 * [1, 64], now_ms before the previous call, or a NULL pointer. */
int scale_decide(const scale_policy_config *cfg, scale_state *st, const scale_sample *shards,
                 int nshards, uint64_t now_ms, uint64_t host_free_bytes, scale_decision *out);

/* Plan the slot moves from nshards_now to nshards_target shards (either may be the larger; equal
 * rebalances). slot_shard[16384] is each slot's owner; shard_load[nshards_now] (NULL: all equal)
 * orders donors, most loaded first. Out: new shards nshards_now.. receive. In: the
 * (now - target) least-loaded shards are drained (ties: higher index), so pass used_memory to
 * match scale_decide's drain_shard. Afterwards every remaining shard owns 16384/target slots,
 * rounded down or up. Moves are contiguous ranges, few (greedy: the tail of the smallest run
 * that covers the rest); *moves is the caller's to xfree (NULL when none). 0, or -EINVAL for
 * counts outside [1, 64] or an owner >= nshards_now. */
int scale_plan_moves(const uint16_t *slot_shard, int nshards_now, int nshards_target,
                     const uint64_t *shard_load, scale_move **moves, size_t *nmoves);

#endif
