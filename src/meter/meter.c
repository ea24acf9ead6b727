/* The metering formula (see meter.h and docs/pricing.md). */
#include "meter/meter.h"

#include <string.h>

/* Connection and session commands: they touch no data, as AWS leaves AUTH, HELLO, PING and the
 * like unmetered. Transaction brackets are free too: the commands inside are each charged. */
static const char *const free_names[] = {
    "auth",           "hello",          "ping",           "echo",          "quit",
    "reset",          "select",         "readonly",       "readwrite",     "asking",
    "multi",          "discard",        "watch",         "unwatch",
    "client|setname", "client|getname", "client|id",      "client|info",   "client|reply",
    "client|no-evict", "command",       "command|count",  "command|docs",  "command|info",
    "command|list",   "command|getkeys", "command|getkeysandflags", "command|help", "stratus",
    "stratus|scale",  "stratus|cost",   "stratus|usage",  "stratus|receipts", "stratus|receipt",
};

int meter_is_free(const cmd_def *d)
{
    for (size_t i = 0; i < sizeof(free_names) / sizeof(free_names[0]); i++)
        if (strcmp(d->name, free_names[i]) == 0)
            return 1;
    return 0;
}

meter_cost meter_price(uint64_t bytes_in, uint64_t bytes_out, uint64_t cpu_mecpu)
{
    meter_cost c;
    /* 1 ECPU per KiB, in milli-ECPU rounded up: 1 byte costs 1 milli-ECPU (0.98 rounded up). */
    c.data = ((bytes_in + bytes_out) * 1000 + METER_BYTES_PER_ECPU - 1) / METER_BYTES_PER_ECPU;
    c.cpu = cpu_mecpu;
    c.total = c.data > c.cpu ? c.data : c.cpu;
    if (c.total < METER_MIN_MECPU)
        c.total = METER_MIN_MECPU;
    return c;
}

uint64_t meter_cpu_mecpu(double usec_per_call, long us_per_ecpu)
{
    if (us_per_ecpu <= 0 || !(usec_per_call > 0))
        return 0;
    double x = usec_per_call * 1000.0 / (double)us_per_ecpu;
    uint64_t v = (uint64_t)x;
    return (double)v < x ? v + 1 : v;
}

void meter_cell_add(meter_cell *cell, uint64_t mecpu, uint64_t bytes_in, uint64_t bytes_out)
{
    /* Only the owning worker writes: load + store is enough, and cheaper than an RMW. */
    atomic_store_explicit(&cell->calls, atomic_load_explicit(&cell->calls, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&cell->mecpu,
                          atomic_load_explicit(&cell->mecpu, memory_order_relaxed) + mecpu,
                          memory_order_relaxed);
    atomic_store_explicit(&cell->bytes_in,
                          atomic_load_explicit(&cell->bytes_in, memory_order_relaxed) + bytes_in,
                          memory_order_relaxed);
    atomic_store_explicit(&cell->bytes_out,
                          atomic_load_explicit(&cell->bytes_out, memory_order_relaxed) + bytes_out,
                          memory_order_relaxed);
}

void meter_bucket_init(meter_bucket *b, long ecpu_per_s, uint64_t now_ms)
{
    b->rate = (int64_t)ecpu_per_s * 1000;
    b->burst = b->rate / 10 > 0 ? b->rate / 10 : 1;
    b->tokens = b->burst;
    b->at_ms = now_ms;
}

static void refill(meter_bucket *b, uint64_t now_ms)
{
    if (now_ms <= b->at_ms)
        return;
    int64_t add = b->rate * (int64_t)(now_ms - b->at_ms) / 1000;
    if (add <= 0)
        return; /* too little time for a milli-ECPU: count it later */
    b->tokens = b->tokens + add > b->burst ? b->burst : b->tokens + add;
    b->at_ms = now_ms;
}

uint64_t meter_bucket_wait(meter_bucket *b, uint64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens >= 0 || b->rate <= 0)
        return 0;
    return (uint64_t)((-b->tokens * 1000 + b->rate - 1) / b->rate);
}

void meter_bucket_take(meter_bucket *b, uint64_t mecpu, uint64_t now_ms)
{
    refill(b, now_ms);
    b->tokens -= (int64_t)mecpu;
}

size_t meter_key_prefix(const char *key, size_t len, char out[METER_PREFIX_MAX])
{
    const char *colon = memchr(key, ':', len < METER_PREFIX_MAX ? len : METER_PREFIX_MAX);
    if (!colon)
        return 0;
    size_t n = (size_t)(colon - key) + 1;
    memcpy(out, key, n);
    return n;
}

void meter_prefix_add(meter_prefix *t, size_t cap, size_t *n, const char *p, size_t len,
                      uint64_t mecpu, uint64_t calls)
{
    size_t low = 0;
    for (size_t i = 0; i < *n; i++) {
        if (t[i].len == len && memcmp(t[i].p, p, len) == 0) {
            t[i].mecpu += mecpu;
            t[i].calls += calls;
            return;
        }
        if (t[i].mecpu < t[low].mecpu)
            low = i;
    }
    meter_prefix *e;
    if (*n < cap) {
        e = &t[(*n)++];
        e->mecpu = mecpu;
        e->calls = calls;
    } else {
        e = &t[low]; /* space-saving: the newcomer inherits the smallest count */
        e->mecpu += mecpu;
        e->calls += calls;
    }
    memcpy(e->p, p, len);
    e->len = (uint8_t)len;
}
