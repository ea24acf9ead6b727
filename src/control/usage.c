/* Usage of a cache: CPU table, storage sampling and per-minute records (see usage.h). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "meter/bill.h"
#include "net/ev.h"

#define SAMPLE_MS 5000 /* storage and the CPU table are refreshed this often */

void usage_init(cache *c, int workers)
{
    meter_ledger *m = &c->view.meter;
    m->on = strcmp(c->cfg->metering, "on") == 0;
    m->us_per_ecpu = c->cfg->meter_us_per_ecpu;
    m->is_free = xcalloc(cmd_ids, 1);
    m->cpu_mecpu = xcalloc(cmd_ids, sizeof(*m->cpu_mecpu));
    m->cells = xcalloc((size_t)workers * cmd_ids, sizeof(meter_cell));
    m->flushed = xcalloc(cmd_ids, sizeof(meter_totals));
    m->workers = workers;
    for (uint16_t id = 0; id < cmd_ids; id++)
        m->is_free[id] = cmd_by_id(id) && meter_is_free(cmd_by_id(id));
    m->max_ecpu_s = m->on ? c->cfg->max_ecpu_per_second : 0;
    pthread_mutex_init(&m->bucket_lock, NULL);
    pthread_mutex_init(&m->prefix_lock, NULL);
    /* The text was checked by the same parser at cache creation. */
    char err[256];
    if (m->on && meter_quotas_parse(c->cfg->user_ecpu_per_second, m->quotas, &m->nquotas, err,
                                    sizeof(err)) != 0)
        m->nquotas = 0;
    for (int i = 0; i < m->nquotas; i++) {
        pthread_mutex_init(&m->quotas[i].lock, NULL);
        meter_bucket_init(&m->quotas[i].bucket, m->quotas[i].ecpu_s, ev_clock_ms());
    }
    meter_bucket_init(&m->bucket, m->max_ecpu_s, ev_clock_ms());
}

void usage_deinit(cache *c)
{
    meter_ledger *m = &c->view.meter;
    xfree(m->is_free);
    xfree(m->cpu_mecpu);
    xfree(m->cells);
    xfree(m->flushed);
    if (m->cells) {
        pthread_mutex_destroy(&m->bucket_lock);
        pthread_mutex_destroy(&m->prefix_lock);
        for (int i = 0; i < m->nquotas; i++)
            pthread_mutex_destroy(&m->quotas[i].lock);
    }
    memset(m, 0, sizeof(*m));
}

static void add_base(void *arg, int64_t minute, const store_usage *u)
{
    (void)minute;
    meter_totals *b = arg;
    if (strncmp(u->cmd, "key:", 4) == 0)
        return; /* by key prefix: already counted in the command rows */
    b->calls += u->calls;
    b->mecpu += u->mecpu;
    b->bytes_in += u->bytes_in;
    b->bytes_out += u->bytes_out;
    b->storage_byte_s += u->storage_byte_s;
    b->throttled += u->throttled;
    b->rejected += u->rejected;
}

void usage_load(cache *c)
{
    if (c->store)
        store_usage_each(c->store, c->view.name, 0, INT64_MAX, add_base, &c->view.meter.base);
}

/* ---- sampling ---- */

typedef struct {
    uint64_t *usec, *calls; /* by command id */
    uint64_t dataset;       /* used_memory_dataset summed */
} sample;

static const cmd_def *cmd_by_stat_name(const char *name, size_t len)
{
    const char *bar = memchr(name, '|', len);
    const cmd_def *d = cmd_lookup(name, bar ? (size_t)(bar - name) : len);
    if (d && bar)
        d = cmd_lookup_sub(d, bar + 1, len - (size_t)(bar - name) - 1);
    return d;
}

/* cmdstat_<name>:calls=N,usec=N,... lines of INFO commandstats, added up per command. */
static void add_commandstats(void *arg, const char *text, size_t len)
{
    sample *sm = arg;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol - p > 8 && memcmp(p, "cmdstat_", 8) == 0) {
            const char *name = p + 8, *colon = memchr(name, ':', (size_t)(eol - name));
            const cmd_def *d = colon ? cmd_by_stat_name(name, (size_t)(colon - name)) : NULL;
            unsigned long long calls = 0, usec = 0;
            char line[256];
            snprintf(line, sizeof(line), "%.*s", (int)MIN((size_t)(eol - p), sizeof(line) - 1),
                     colon ? colon + 1 : p);
            if (d && sscanf(line, "calls=%llu,usec=%llu", &calls, &usec) == 2) {
                sm->calls[d->id] += calls;
                sm->usec[d->id] += usec;
            }
        }
        p = eol + 1;
    }
}

static void add_dataset(void *arg, const char *text, size_t len)
{
    sample *sm = arg;
    const char *f = "used_memory_dataset:";
    char tmp[64];
    for (const char *p = text; p && p < text + len; p = memchr(p, '\n', (size_t)(text + len - p))) {
        if (*p == '\n')
            p++;
        if ((size_t)(text + len - p) > strlen(f) && memcmp(p, f, strlen(f)) == 0) {
            snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(20, (size_t)(text + len - p) - strlen(f)),
                     p + strlen(f));
            sm->dataset += strtoull(tmp, NULL, 10);
            return;
        }
    }
}

static void sample_now(cache *c, uint64_t now)
{
    meter_ledger *m = &c->view.meter;
    const topology *t = c->view.topo;
    if (!t)
        return; /* the cache never started: nothing to sample */
    if (atomic_load(&c->view.sleep.asleep)) {
        /* Asleep: no data in memory, the snapshot at rest instead (billed apart). */
        if (m->last_sample_ms)
            m->minute_rest_byte_s +=
                atomic_load(&c->sleep.rest_bytes) * (now - m->last_sample_ms) / 1000;
        atomic_store_explicit(&m->storage_bytes, 0, memory_order_relaxed);
        m->last_sample_ms = now;
        return;
    }
    sample sm = {.usec = xcalloc(cmd_ids, sizeof(uint64_t)),
                 .calls = xcalloc(cmd_ids, sizeof(uint64_t))};
    /* Storage first: integrated with the previous sample over the time since. */
    int ok = supervisor_info_primaries(c->sup, t, "memory", add_dataset, &sm) == 0;
    if (m->last_sample_ms) {
        uint64_t prev = atomic_load_explicit(&m->storage_bytes, memory_order_relaxed);
        uint64_t byte_s = prev * (now - m->last_sample_ms) / 1000;
        atomic_fetch_add_explicit(&m->storage_byte_s, byte_s, memory_order_relaxed);
        m->minute_storage_byte_s += byte_s;
    }
    if (ok)
        atomic_store_explicit(&m->storage_bytes, sm.dataset, memory_order_relaxed);
    m->last_sample_ms = now;
    if (m->us_per_ecpu > 0 &&
        supervisor_info_primaries(c->sup, t, "commandstats", add_commandstats, &sm) == 0) {
        for (uint16_t id = 0; id < cmd_ids; id++)
            if (sm.calls[id])
                atomic_store_explicit(
                    &m->cpu_mecpu[id],
                    meter_cpu_mecpu((double)sm.usec[id] / (double)sm.calls[id], m->us_per_ecpu),
                    memory_order_relaxed);
    }
    xfree(sm.usec);
    xfree(sm.calls);
}

/* ---- records ---- */

static void record(cache *c, int64_t minute)
{
    meter_ledger *m = &c->view.meter;
    meter_prefix prefixes[ARRAY_LEN(m->prefixes)];
    pthread_mutex_lock(&m->prefix_lock);
    size_t np = m->nprefixes;
    memcpy(prefixes, m->prefixes, np * sizeof(prefixes[0]));
    m->nprefixes = 0;
    pthread_mutex_unlock(&m->prefix_lock);
    store_usage *rows = xcalloc((size_t)cmd_ids + 1 + np, sizeof(*rows));
    char(*names)[METER_PREFIX_MAX + 8] = xcalloc(np ? np : 1, sizeof(*names));
    size_t n = 0;
    /* Key prefixes as rows "key:<prefix>": their ECPU is already in the command rows. */
    for (size_t i = 0; i < np; i++) {
        snprintf(names[i], sizeof(names[i]), "key:%.*s", (int)prefixes[i].len, prefixes[i].p);
        rows[n++] =
            (store_usage){.cmd = names[i], .calls = prefixes[i].calls, .mecpu = prefixes[i].mecpu};
    }
    for (uint16_t id = 0; id < cmd_ids; id++) {
        meter_totals now;
        meter_ledger_command(&c->view.meter, id, &now);
        meter_totals *f = &m->flushed[id];
        if (now.calls == f->calls)
            continue;
        rows[n++] = (store_usage){.cmd = cmd_by_id(id) ? cmd_by_id(id)->name : "?",
                                  .calls = now.calls - f->calls,
                                  .mecpu = now.mecpu - f->mecpu,
                                  .bytes_in = now.bytes_in - f->bytes_in,
                                  .bytes_out = now.bytes_out - f->bytes_out};
        *f = now;
    }
    uint64_t thr = atomic_load_explicit(&m->throttled, memory_order_relaxed);
    uint64_t rej = atomic_load_explicit(&m->rejected, memory_order_relaxed);
    rows[n++] = (store_usage){.cmd = "",
                              .storage_byte_s = m->minute_storage_byte_s,
                              .rest_byte_s = m->minute_rest_byte_s,
                              .connections = m->minute_connections,
                              .throttled = thr - m->flushed_throttled,
                              .rejected = rej - m->flushed_rejected};
    m->flushed_throttled = thr;
    m->flushed_rejected = rej;
    m->minute_storage_byte_s = 0;
    m->minute_rest_byte_s = 0;
    m->minute_connections = 0;
    if (c->store && store_usage_add(c->store, c->view.name, minute, rows, n) != 0)
        log_warn("cache %s: usage of minute %lld not recorded", c->view.name, (long long)minute);
    xfree(rows);
    xfree(names);
}

void usage_flush(cache *c)
{
    if (!c->view.meter.on || !c->view.meter.cells || !c->view.topo)
        return; /* a cache that never started has nothing to record */
    sample_now(c, ev_clock_ms());
    record(c, c->view.meter.minute ? c->view.meter.minute : (int64_t)(time(NULL) / 60));
}

void usage_tick(cache *c)
{
    meter_ledger *m = &c->view.meter;
    if (!m->on || !m->cells)
        return;
    uint64_t now = ev_clock_ms();
    int64_t minute = (int64_t)(time(NULL) / 60);
    uint64_t conns = (uint64_t)atomic_load(&c->view.counters.connected_clients);
    if (conns > m->minute_connections)
        m->minute_connections = conns;
    if (!m->minute)
        m->minute = minute;
    if (now - m->last_sample_ms >= SAMPLE_MS || minute != m->minute)
        sample_now(c, now);
    if (minute != m->minute) {
        record(c, m->minute);
        m->minute = minute;
    }
    int64_t day = minute / 1440;
    if (c->store && day != m->pruned_day) {
        m->pruned_day = day;
        store_usage_prune(c->store, minute - (int64_t)c->cfg->usage_retention_days * 1440);
    }
}

void usage_bill_row(void *arg, int64_t minute, const store_usage *u)
{
    bill_row row = {.minute = minute,
                    .cmd = u->cmd,
                    .calls = u->calls,
                    .mecpu = u->mecpu,
                    .storage_byte_s = u->storage_byte_s,
                    .rest_byte_s = u->rest_byte_s};
    bill_add(arg, &row);
}
