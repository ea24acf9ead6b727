/* Autoscaler policy: marks, windows, cooldowns and bounds turned into one decision per call, and
 * decisions turned into slot moves. Pure: everything it knows arrives as arguments or lives in
 * the caller's scale_state. */
#define ALLOC_ROOM ROOM_SCALE
#include "scale/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cluster/topology.h"
#include "common/alloc.h"
#include "common/compiler.h"

_Static_assert(SCALE_SLOTS == TOPO_SLOTS, "one slot count");
_Static_assert(SCALE_MAX_SHARDS == TOPO_MAX_SHARDS, "one shard bound");
_Static_assert(SCALE_MAX_SHARDS <= 0xffff, "shard indexes fit a scale_move");

/* The metrics with marks, in the order they are judged: memory first, since it cannot wait. */
enum { M_MEMORY, M_CPU, M_OPS };
_Static_assert(SCALE_METRICS == 3, "memory, cpu, ops");

static const char *const metric_names[SCALE_METRICS] = {"memory", "cpu", "ops"};
static const scale_trigger metric_triggers[SCALE_METRICS] = {SCALE_TRIGGER_MEMORY,
                                                             SCALE_TRIGGER_CPU, SCALE_TRIGGER_OPS};

/* The config's marks as arrays indexed by metric. */
typedef struct {
    double out[SCALE_METRICS];
    uint64_t window[SCALE_METRICS];
    double in[SCALE_METRICS];
} marks;

static void marks_of(const scale_policy_config *cfg, marks *mk)
{
    mk->out[M_MEMORY] = cfg->out_memory;
    mk->out[M_CPU] = cfg->out_cpu;
    mk->out[M_OPS] = cfg->out_ops;
    /* Memory is judged on one sample: it does not come back by itself, and an OOM is an error
     * for the client's write, so waiting out a window only brings the OOM closer. */
    mk->window[M_MEMORY] = 0;
    mk->window[M_CPU] = cfg->out_window_ms;
    mk->window[M_OPS] = cfg->out_window_ms;
    mk->in[M_MEMORY] = cfg->in_memory;
    mk->in[M_CPU] = cfg->in_cpu;
    mk->in[M_OPS] = cfg->in_ops;
}

/* NaN and negative readings (a counter reset) count as zero. */
static double clean(double v)
{
    return v >= 0 ? v : 0;
}

static void sample_metrics(const scale_sample *s, double v[SCALE_METRICS])
{
    v[M_MEMORY] = s->maxmemory ? (double)s->used_memory / (double)s->maxmemory : 0;
    v[M_CPU] = clean(s->cpu);
    v[M_OPS] = clean(s->ops);
}

/* ---- names and text -------------------------------------------------------------------- */

#define SCALE_NAME_(id, name) name,
static const char *const trigger_names[] = {SCALE_TRIGGERS(SCALE_NAME_)};
static const char *const block_names[] = {SCALE_BLOCKS(SCALE_NAME_)};

const char *scale_trigger_name(scale_trigger t)
{
    return (unsigned)t < ARRAY_LEN(trigger_names) ? trigger_names[t] : "?";
}

const char *scale_block_name(scale_block b)
{
    return (unsigned)b < ARRAY_LEN(block_names) ? block_names[b] : "?";
}

typedef struct {
    char s[24];
} numtext;

static numtext fmt_bytes(uint64_t v)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    numtext t;
    double x = (double)v;
    unsigned u = 0;
    while (x >= 1024 && u + 1 < ARRAY_LEN(units)) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(t.s, sizeof(t.s), "%llu B", (unsigned long long)v);
    else
        snprintf(t.s, sizeof(t.s), "%.1f %s", x, units[u]);
    return t;
}

/* Memory and CPU read as percentages, ops as a rate. */
static numtext fmt_metric(int m, double v)
{
    numtext t;
    if (m == M_OPS)
        snprintf(t.s, sizeof(t.s), "%.0f/s", v);
    else
        snprintf(t.s, sizeof(t.s), "%.0f%%", v * 100);
    return t;
}

static numtext fmt_secs(uint64_t ms)
{
    numtext t;
    snprintf(t.s, sizeof(t.s), "%llu s", (unsigned long long)(ms / 1000));
    return t;
}

/* Append to the decision's reason; a full reason is cut, never overrun. */
ATTR_PRINTF(2, 3) static void say(scale_decision *d, const char *fmt, ...)
{
    size_t used = strlen(d->reason);
    if (used + 1 >= sizeof(d->reason))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason + used, sizeof(d->reason) - used, fmt, ap);
    va_end(ap);
}

/* ---- config ------------------------------------------------------------------------------ */

void scale_policy_config_default(scale_policy_config *cfg)
{
#define SCALE_DEFAULT_(type, field, def, setting, why) cfg->field = (type)(def);
    SCALE_POLICY_DEFAULTS(SCALE_DEFAULT_)
#undef SCALE_DEFAULT_
}

int scale_policy_config_check(const scale_policy_config *cfg, char *err, size_t errlen)
{
    static const char *const fraction_names[] = {"scale-out-memory", "scale-out-cpu"};
    const double fractions[] = {cfg->out_memory, cfg->out_cpu};
    for (size_t i = 0; i < ARRAY_LEN(fractions); i++) {
        if (!(fractions[i] > 0 && fractions[i] <= 1)) {
            snprintf(err, errlen, "%s: must be a fraction above 0 and at most 1 (got %g)",
                     fraction_names[i], fractions[i]);
            return -EINVAL;
        }
    }
    if (!(cfg->out_ops > 0)) {
        snprintf(err, errlen, "scale-out-ops: must be above 0 (got %g)", cfg->out_ops);
        return -EINVAL;
    }
    marks mk;
    marks_of(cfg, &mk);
    static const char *const in_names[] = {"scale-in-memory", "scale-in-cpu", "scale-in-ops"};
    for (int m = 0; m < SCALE_METRICS; m++) {
        if (!(mk.in[m] >= 0 && mk.in[m] < mk.out[m])) {
            snprintf(err, errlen,
                     "%s: must be at least 0 and below the scale-out mark %g (got %g); keep it "
                     "under half of it so a scale-in cannot trigger a scale-out",
                     in_names[m], mk.out[m], mk.in[m]);
            return -EINVAL;
        }
    }
    if (cfg->min_shards < 1 || cfg->max_shards > SCALE_MAX_SHARDS ||
        cfg->min_shards > cfg->max_shards) {
        snprintf(err, errlen,
                 "min-shards %d, max-shards %d: need 1 <= min-shards <= max-shards <= %d",
                 cfg->min_shards, cfg->max_shards, SCALE_MAX_SHARDS);
        return -EINVAL;
    }
    if (!(cfg->vertical_factor > 1)) {
        snprintf(err, errlen, "scale-memory-factor: must be above 1 (got %g)",
                 cfg->vertical_factor);
        return -EINVAL;
    }
    if (!(cfg->vertical_host_factor >= 1)) {
        snprintf(err, errlen, "scale-memory-host-factor: must be at least 1 (got %g)",
                 cfg->vertical_host_factor);
        return -EINVAL;
    }
    return 0;
}

/* ---- state ------------------------------------------------------------------------------- */

void scale_state_init(scale_state *st)
{
    memset(st, 0, sizeof(*st));
    st->last.drain_shard = st->last.raise_shard = st->last.shard = -1;
}

void scale_state_deinit(scale_state *st)
{
    memset(st, 0, sizeof(*st));
}

int scale_state_override(scale_state *st, int shards)
{
    if (shards < 1)
        return -EINVAL;
    st->override_shards = shards;
    return 0;
}

void scale_state_override_clear(scale_state *st)
{
    st->override_shards = 0;
}

const scale_point *scale_state_recent(const scale_state *st, unsigned i)
{
    if (i >= st->ring_len)
        return NULL;
    return &st->ring[(st->ring_next + SCALE_RING - 1 - i) % SCALE_RING];
}

static void ring_push(scale_state *st, const scale_point *p)
{
    st->ring[st->ring_next] = *p;
    st->ring_next = (st->ring_next + 1) % SCALE_RING;
    if (st->ring_len < SCALE_RING)
        st->ring_len++;
}

static double point_metric(const scale_point *p, int m)
{
    const double v[SCALE_METRICS] = {p->memory, p->cpu, p->ops};
    return v[m];
}

/* Lowest (want_max 0) or highest (1) busiest-shard value of metric m remembered since since_ms. */
static double ring_extreme(const scale_state *st, int m, uint64_t since_ms, int want_max)
{
    double best = 0;
    int any = 0;
    const scale_point *p;
    for (unsigned i = 0; (p = scale_state_recent(st, i)) && p->t_ms >= since_ms; i++) {
        double v = point_metric(p, m);
        if (!any || (want_max ? v > best : v < best))
            best = v;
        any = 1;
    }
    return best;
}

/* Every run restarts: after an action, a sample gap, or a new shard count, the past samples no
 * longer describe the cache. */
static void windows_restart(scale_state *st)
{
    for (int m = 0; m < SCALE_METRICS; m++)
        st->out_held[m] = 0;
    st->in_held = 0;
}

static void run_update(int *held, uint64_t *since, int holds, uint64_t now_ms)
{
    if (!holds)
        *held = 0;
    else if (!*held) {
        *held = 1;
        *since = now_ms;
    }
}

/* ---- decisions --------------------------------------------------------------------------- */

/* What one call's samples say, across shards. */
typedef struct {
    double v[SCALE_MAX_SHARDS][SCALE_METRICS]; /* per shard */
    double busiest[SCALE_METRICS];             /* highest value of each metric */
    int busiest_shard[SCALE_METRICS];          /* its shard (lowest index on ties) */
    double total[SCALE_METRICS];               /* sums (memory: in bytes, below) */
    uint64_t used;                             /* total used_memory */
    uint64_t budget;                           /* total maxmemory */
    int all_under;                             /* every shard under every in-mark */
} survey;

static void survey_take(const marks *mk, const scale_sample *shards, int n, survey *sv)
{
    memset(sv, 0, sizeof(*sv));
    sv->all_under = 1;
    for (int i = 0; i < n; i++) {
        sample_metrics(&shards[i], sv->v[i]);
        for (int m = 0; m < SCALE_METRICS; m++) {
            double x = sv->v[i][m];
            if (i == 0 || x > sv->busiest[m]) {
                sv->busiest[m] = x;
                sv->busiest_shard[m] = i;
            }
            sv->total[m] += x;
            if (x >= mk->in[m])
                sv->all_under = 0;
        }
        sv->used += shards[i].used_memory;
        sv->budget += shards[i].maxmemory;
    }
}

/* How far a shard is toward its out-marks (1.0: at a mark); the busiest has the highest. */
static double shard_score(const marks *mk, const survey *sv, int i)
{
    double s = 0;
    for (int m = 0; m < SCALE_METRICS; m++)
        s = MAX(s, sv->v[i][m] / mk->out[m]);
    return s;
}

/* Shards busiest first: by metric m (m >= 0, only those at its out-mark) or by score (m < 0). */
static void pick_donors(const marks *mk, const survey *sv, int n, int m, scale_decision *d)
{
    double key[SCALE_MAX_SHARDS];
    d->ndonors = 0;
    for (int i = 0; i < n; i++) {
        key[i] = m >= 0 ? sv->v[i][m] : shard_score(mk, sv, i);
        if (m >= 0 && key[i] < mk->out[m])
            continue;
        int j = d->ndonors++;
        while (j > 0 && key[d->donors[j - 1]] < key[i]) {
            d->donors[j] = d->donors[j - 1];
            j--;
        }
        d->donors[j] = i;
    }
}

/* The shard cheapest to empty: least used memory (bytes to migrate), the higher index on ties,
 * the same rule scale_plan_moves applies to the loads it is given. */
static int pick_drain(const scale_sample *shards, int n)
{
    int best = n - 1;
    for (int i = n - 2; i >= 0; i--)
        if (shards[i].used_memory < shards[best].used_memory)
            best = i;
    return best;
}

/* Shards for an automatic scale-out on metric m: enough to bring the average to the middle of
 * the hysteresis band, at least one more, at most twice as many (one migration at a time). */
static int out_target(const scale_policy_config *cfg, const marks *mk, const survey *sv, int n,
                      int m)
{
    double level = (mk->in[m] + mk->out[m]) / 2, need;
    if (m == M_MEMORY)
        need = sv->budget ? (double)sv->used * n / ((double)sv->budget * level) : 0;
    else
        need = sv->total[m] / level;
    int target = (int)need;
    if (target < need)
        target++;
    target = MAX(target, n + 1);
    target = MIN(target, 2 * n);
    return MIN(target, cfg->max_shards);
}

static int out_allowed(const scale_policy_config *cfg, const scale_state *st, uint64_t now_ms,
                       uint64_t *since_ms)
{
    if (st->have_out && now_ms - st->last_out_ms < cfg->out_cooldown_ms) {
        *since_ms = now_ms - st->last_out_ms;
        return 0;
    }
    if (st->have_in && now_ms - st->last_in_ms < cfg->out_cooldown_ms) {
        *since_ms = now_ms - st->last_in_ms;
        return 0;
    }
    return 1;
}

static int in_allowed(const scale_policy_config *cfg, const scale_state *st, uint64_t now_ms,
                      uint64_t *since_ms)
{
    const int have[] = {st->have_out, st->have_in, st->have_raise};
    const uint64_t at[] = {st->last_out_ms, st->last_in_ms, st->last_raise_ms};
    for (size_t i = 0; i < ARRAY_LEN(have); i++) {
        if (have[i] && now_ms - at[i] < cfg->in_cooldown_ms) {
            *since_ms = now_ms - at[i];
            return 0;
        }
    }
    return 1;
}

static void decision_reset(scale_decision *d, int n)
{
    memset(d, 0, sizeof(*d));
    d->nshards = d->target_shards = n;
    d->drain_shard = d->raise_shard = d->shard = -1;
}

static void act_out(scale_decision *d, int target)
{
    d->actions |= SCALE_ACT_OUT;
    d->target_shards = target;
    say(d, "; scale out %d -> %d shards", d->nshards, target);
    if (d->ndonors) {
        say(d, " from shard %d", d->donors[0]);
        for (int i = 1; i < d->ndonors && i < 4; i++)
            say(d, ",%d", d->donors[i]);
        if (d->ndonors > 4)
            say(d, ",...");
    }
}

static void act_in(scale_decision *d, const scale_sample *shards)
{
    d->actions |= SCALE_ACT_IN;
    d->target_shards = d->nshards - 1;
    d->drain_shard = pick_drain(shards, d->nshards);
    say(d, "; scale in %d -> %d shards, drain shard %d", d->nshards, d->target_shards,
        d->drain_shard);
}

/* The vertical step: a shard over its memory mark gets a bigger maxmemory now, if under its cap
 * and the host has the room (the replica grows too). */
static void try_raise(const scale_policy_config *cfg, const scale_sample *s, int i,
                      uint64_t host_free, scale_decision *d)
{
    if (!s->maxmemory)
        return;
    if (s->maxmemory >= cfg->vertical_max_bytes) {
        say(d, "; shard at its %s cap", fmt_bytes(cfg->vertical_max_bytes).s);
        return;
    }
    double grown = (double)s->maxmemory * cfg->vertical_factor;
    uint64_t next =
        grown >= (double)cfg->vertical_max_bytes ? cfg->vertical_max_bytes : (uint64_t)grown;
    uint64_t added = next - s->maxmemory;
    double need = (double)added * cfg->vertical_host_factor;
    if ((double)host_free < need) {
        say(d, "; no room on the host to grow it (%s free, needs %s)", fmt_bytes(host_free).s,
            fmt_bytes((uint64_t)need).s);
        return;
    }
    d->actions |= SCALE_ACT_RAISE_MEMORY;
    d->raise_shard = i;
    d->raise_maxmemory = next;
    say(d, "; raise its maxmemory %s -> %s", fmt_bytes(s->maxmemory).s, fmt_bytes(next).s);
}

/* An operator's pin or the configured bounds ask for a shard count: reach it one step per call
 * (an OUT to the count, or an IN of one shard), ignoring windows and cooldowns. */
static void steer(const marks *mk, const survey *sv, const scale_sample *shards, int want,
                  scale_trigger why, scale_decision *d)
{
    int n = d->nshards;
    if (want == n)
        return;
    d->trigger = why;
    d->blocked = SCALE_BLOCK_NONE;
    if (why == SCALE_TRIGGER_OVERRIDE && !d->override_clamped)
        say(d, "; override asks for %d shards", want);
    else
        say(d, "; %d shards is outside [min, max], going to %d", n, want);
    if (want > n) {
        pick_donors(mk, sv, n, -1, d);
        act_out(d, want);
    } else {
        act_in(d, shards);
    }
}

int scale_decide(const scale_policy_config *cfg, scale_state *st, const scale_sample *shards,
                 int nshards, uint64_t now_ms, uint64_t host_free_bytes, scale_decision *out)
{
    if (!cfg || !st || !shards || !out || nshards < 1 || nshards > SCALE_MAX_SHARDS)
        return -EINVAL;
    if (st->have_last && now_ms < st->last_t_ms)
        return -EINVAL;
    marks mk;
    marks_of(cfg, &mk);
    survey sv;
    survey_take(&mk, shards, nshards, &sv);
    scale_decision *d = out;
    decision_reset(d, nshards);

    if (st->have_last &&
        (now_ms - st->last_t_ms > cfg->max_sample_gap_ms || nshards != st->last_nshards))
        windows_restart(st);
    for (int m = 0; m < SCALE_METRICS; m++)
        run_update(&st->out_held[m], &st->out_since[m], sv.busiest[m] >= mk.out[m], now_ms);
    run_update(&st->in_held, &st->in_since, sv.all_under, now_ms);
    scale_point pt = {now_ms, nshards, sv.busiest[M_MEMORY], sv.busiest[M_CPU], sv.busiest[M_OPS],
                      sv.used};
    ring_push(st, &pt);
    st->have_last = 1;
    st->last_t_ms = now_ms;
    st->last_nshards = nshards;

    /* The first metric over its out-mark for its whole window triggers. */
    int trig = -1;
    for (int m = 0; m < SCALE_METRICS && trig < 0; m++)
        if (st->out_held[m] && now_ms - st->out_since[m] >= mk.window[m])
            trig = m;
    int in_due = st->in_held && now_ms - st->in_since >= cfg->in_window_ms;

    if (trig >= 0) {
        int i = sv.busiest_shard[trig];
        d->trigger = metric_triggers[trig];
        d->shard = i;
        d->value = sv.v[i][trig];
        d->threshold = mk.out[trig];
        d->held_ms = now_ms - st->out_since[trig];
        d->sustained = ring_extreme(st, trig, st->out_since[trig], 0);
        say(d, "shard %d %s %s >= %s", i, metric_names[trig], fmt_metric(trig, d->value).s,
            fmt_metric(trig, d->threshold).s);
        if (trig == M_MEMORY)
            say(d, " of %s", fmt_bytes(shards[i].maxmemory).s);
        else
            say(d, " for %s", fmt_secs(d->held_ms).s);
        if (trig == M_MEMORY)
            try_raise(cfg, &shards[i], i, host_free_bytes, d);
    } else if (in_due) {
        /* Report the metric closest to its in-mark: the one that would end the lull first. */
        int worst = 0;
        for (int m = 1; m < SCALE_METRICS; m++)
            if (sv.busiest[m] / MAX(mk.in[m], 1e-9) > sv.busiest[worst] / MAX(mk.in[worst], 1e-9))
                worst = m;
        d->trigger = SCALE_TRIGGER_LOW_LOAD;
        d->value = sv.busiest[worst];
        d->threshold = mk.in[worst];
        d->held_ms = now_ms - st->in_since;
        d->sustained = ring_extreme(st, worst, st->in_since, 1);
        say(d, "every shard under memory %s, cpu %s, ops %s for %s",
            fmt_metric(M_MEMORY, mk.in[M_MEMORY]).s, fmt_metric(M_CPU, mk.in[M_CPU]).s,
            fmt_metric(M_OPS, mk.in[M_OPS]).s, fmt_secs(d->held_ms).s);
    } else {
        say(d, "busiest shard: memory %s, cpu %s, ops %s",
            fmt_metric(M_MEMORY, sv.busiest[M_MEMORY]).s, fmt_metric(M_CPU, sv.busiest[M_CPU]).s,
            fmt_metric(M_OPS, sv.busiest[M_OPS]).s);
    }

    /* The shard count: an operator's pin first, then the configured bounds, then the load. */
    int want = 0;
    scale_trigger why = SCALE_TRIGGER_OVERRIDE;
    if (st->override_shards) {
        want = MIN(MAX(st->override_shards, cfg->min_shards), cfg->max_shards);
        if (want != st->override_shards) {
            d->override_clamped = st->override_shards;
            say(d, "; override %d clamped to %d (%s %d)", st->override_shards, want,
                want == cfg->max_shards ? "max-shards" : "min-shards", want);
        }
    } else if (nshards > cfg->max_shards || nshards < cfg->min_shards) {
        want = MIN(MAX(nshards, cfg->min_shards), cfg->max_shards);
        why = SCALE_TRIGGER_BOUNDS;
    }
    uint64_t ago = 0;
    if (want) {
        if (want == nshards && (trig >= 0 || in_due)) {
            d->blocked = SCALE_BLOCK_PINNED;
            say(d, "; pinned at %d shards by override", want);
        }
        steer(&mk, &sv, shards, want, why, d);
    } else if (trig >= 0) {
        if (nshards >= cfg->max_shards) {
            d->blocked = SCALE_BLOCK_AT_MAX;
            say(d, "; at max shards (%d)", cfg->max_shards);
        } else if (!out_allowed(cfg, st, now_ms, &ago)) {
            d->blocked = SCALE_BLOCK_COOLDOWN;
            say(d, "; cooldown: last scale %s ago, scale-out waits %s", fmt_secs(ago).s,
                fmt_secs(cfg->out_cooldown_ms).s);
        } else {
            pick_donors(&mk, &sv, nshards, trig, d);
            act_out(d, out_target(cfg, &mk, &sv, nshards, trig));
        }
    } else if (in_due) {
        int drain = pick_drain(shards, nshards);
        uint64_t budget_after = sv.budget - shards[drain].maxmemory;
        double after[SCALE_METRICS] = {budget_after ? (double)sv.used / (double)budget_after : 0,
                                       nshards > 1 ? sv.total[M_CPU] / (nshards - 1) : 0,
                                       nshards > 1 ? sv.total[M_OPS] / (nshards - 1) : 0};
        int over = -1;
        for (int m = 0; m < SCALE_METRICS && over < 0; m++)
            if (after[m] >= mk.out[m])
                over = m;
        if (nshards <= cfg->min_shards) {
            d->blocked = SCALE_BLOCK_AT_MIN;
            say(d, "; at min shards (%d)", cfg->min_shards);
        } else if (!in_allowed(cfg, st, now_ms, &ago)) {
            d->blocked = SCALE_BLOCK_COOLDOWN;
            say(d, "; cooldown: last action %s ago, scale-in waits %s", fmt_secs(ago).s,
                fmt_secs(cfg->in_cooldown_ms).s);
        } else if (over >= 0) {
            d->blocked = SCALE_BLOCK_LOAD_AFTER;
            say(d, "; one shard fewer would put %s at %s >= %s", metric_names[over],
                fmt_metric(over, after[over]).s, fmt_metric(over, mk.out[over]).s);
        } else {
            act_in(d, shards);
        }
    }

    if (d->actions & SCALE_ACT_OUT) {
        st->have_out = 1;
        st->last_out_ms = now_ms;
    }
    if (d->actions & SCALE_ACT_IN) {
        st->have_in = 1;
        st->last_in_ms = now_ms;
    }
    if (d->actions & SCALE_ACT_RAISE_MEMORY) {
        st->have_raise = 1;
        st->last_raise_ms = now_ms;
    }
    if (d->actions)
        windows_restart(st);
    st->last = *d;
    return 0;
}

/* ---- slot moves -------------------------------------------------------------------------- */

typedef struct {
    int first; /* first slot */
    int len;   /* slots in the run */
} slot_run;

typedef struct {
    scale_move *v;
    size_t n, cap;
} move_list;

static void move_push(move_list *l, int first, int len, int from, int to)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] =
        (scale_move){(uint16_t)first, (uint16_t)(first + len - 1), (uint16_t)from, (uint16_t)to};
}

static int run_by_len_desc(const void *a, const void *b)
{
    const slot_run *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->first > y->first ? -1 : x->first < y->first; /* later runs first: give the tail */
}

static int run_by_first(const void *a, const void *b)
{
    const slot_run *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

/* Choose k of shard d's slots as few ranges as possible (greedy): the tail of the smallest run
 * that covers what is left, else the longest run whole. Returns the ranges in slot order. */
static slot_run *take_slots(const uint16_t *slot_shard, int d, int k, int *ntaken)
{
    slot_run *runs = xmalloc(sizeof(*runs) * SCALE_SLOTS);
    int nruns = 0;
    for (int s = 0; s < SCALE_SLOTS; s++) {
        if (slot_shard[s] != d)
            continue;
        if (nruns && runs[nruns - 1].first + runs[nruns - 1].len == s)
            runs[nruns - 1].len++;
        else
            runs[nruns++] = (slot_run){s, 1};
    }
    qsort(runs, (size_t)nruns, sizeof(*runs), run_by_len_desc);
    slot_run *taken = xmalloc(sizeof(*taken) * (size_t)(nruns ? nruns : 1));
    int nt = 0, i = 0;
    while (k > 0 && i < nruns) {
        if (runs[i].len >= k) {
            /* runs[i..] are sorted by length, longest first: find the last one still >= k. */
            int lo = i, hi = nruns - 1;
            while (lo < hi) {
                int mid = lo + (hi - lo + 1) / 2;
                if (runs[mid].len >= k)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            taken[nt++] = (slot_run){runs[lo].first + runs[lo].len - k, k};
            k = 0;
        } else {
            taken[nt++] = runs[i];
            k -= runs[i].len;
            i++;
        }
    }
    xfree(runs);
    qsort(taken, (size_t)nt, sizeof(*taken), run_by_first);
    *ntaken = nt;
    return taken;
}

int scale_plan_moves(const uint16_t *slot_shard, int nshards_now, int nshards_target,
                     const uint64_t *shard_load, scale_move **moves, size_t *nmoves)
{
    if (!slot_shard || !moves || !nmoves || nshards_now < 1 || nshards_now > SCALE_MAX_SHARDS ||
        nshards_target < 1 || nshards_target > SCALE_MAX_SHARDS)
        return -EINVAL;
    *moves = NULL;
    *nmoves = 0;
    int owned[SCALE_MAX_SHARDS] = {0}, want[SCALE_MAX_SHARDS] = {0};
    int live[SCALE_MAX_SHARDS], order[SCALE_MAX_SHARDS];
    uint64_t load[SCALE_MAX_SHARDS] = {0};
    for (int s = 0; s < SCALE_SLOTS; s++) {
        if (slot_shard[s] >= nshards_now)
            return -EINVAL;
        owned[slot_shard[s]]++;
    }
    int nall = MAX(nshards_now, nshards_target);
    for (int i = 0; i < nall; i++) {
        live[i] = 1;
        load[i] = shard_load && i < nshards_now ? shard_load[i] : 0;
    }

    /* Scale-in drains the least loaded shards, the higher index on ties. */
    for (int k = 0; k < nshards_now - nshards_target; k++) {
        int best = -1;
        for (int i = nshards_now - 1; i >= 0; i--)
            if (live[i] && (best < 0 || load[i] < load[best]))
                best = i;
        live[best] = 0;
    }

    /* Even shares; the remainder's extra slot stays with the shards that own the most, which
     * moves the fewest slots. */
    int nlive = 0;
    for (int i = 0; i < nall; i++) {
        if (!live[i])
            continue;
        int j = nlive++;
        while (j > 0 && owned[order[j - 1]] < owned[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int j = 0; j < nlive; j++)
        want[order[j]] = SCALE_SLOTS / nlive + (j < SCALE_SLOTS % nlive);

    /* Donors, most loaded first (then most surplus, then lowest index). */
    int donors[SCALE_MAX_SHARDS], ndonors = 0;
    for (int i = 0; i < nall; i++) {
        if (owned[i] <= want[i])
            continue;
        int j = ndonors++;
        while (j > 0 && (load[donors[j - 1]] < load[i] ||
                         (load[donors[j - 1]] == load[i] &&
                          owned[donors[j - 1]] - want[donors[j - 1]] < owned[i] - want[i]))) {
            donors[j] = donors[j - 1];
            j--;
        }
        donors[j] = i;
    }

    /* Receivers in index order, each filled before the next, so a receiver's slots come from as
     * few donors as possible. */
    move_list l = {0};
    int r = 0;
    for (int k = 0; k < ndonors; k++) {
        int d = donors[k], ntaken;
        slot_run *taken = take_slots(slot_shard, d, owned[d] - want[d], &ntaken);
        for (int t = 0; t < ntaken; t++) {
            int first = taken[t].first, len = taken[t].len;
            while (len > 0) {
                while (owned[r] >= want[r])
                    r++;
                int m = MIN(len, want[r] - owned[r]);
                move_push(&l, first, m, d, r);
                owned[r] += m;
                first += m;
                len -= m;
            }
        }
        owned[d] = want[d];
        xfree(taken);
    }
    *moves = l.v;
    *nmoves = l.n;
    return 0;
}
