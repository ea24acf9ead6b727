/* A cache's metering ledger: what workers and the control thread share (see ledger.h). */
#include "meter/ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"

void meter_ledger_command(const meter_ledger *m, uint16_t id, meter_totals *out)
{
    memset(out, 0, sizeof(*out));
    for (int w = 0; m->cells && w < m->workers; w++) {
        const meter_cell *cell = &m->cells[(size_t)w * cmd_ids + id];
        out->calls += atomic_load_explicit(&cell->calls, memory_order_relaxed);
        out->mecpu += atomic_load_explicit(&cell->mecpu, memory_order_relaxed);
        out->bytes_in += atomic_load_explicit(&cell->bytes_in, memory_order_relaxed);
        out->bytes_out += atomic_load_explicit(&cell->bytes_out, memory_order_relaxed);
    }
}

void meter_ledger_totals(const meter_ledger *m, meter_totals *out)
{
    *out = m->base;
    for (uint16_t id = 0; id < cmd_ids; id++) {
        meter_totals t;
        meter_ledger_command(m, id, &t);
        out->calls += t.calls;
        out->mecpu += t.mecpu;
        out->bytes_in += t.bytes_in;
        out->bytes_out += t.bytes_out;
    }
    out->storage_byte_s += atomic_load_explicit(&m->storage_byte_s, memory_order_relaxed);
    out->throttled += atomic_load_explicit(&m->throttled, memory_order_relaxed);
    out->rejected += atomic_load_explicit(&m->rejected, memory_order_relaxed);
}

void meter_ledger_add_prefixes(meter_ledger *m, const meter_prefix *p, size_t n)
{
    if (!n || !m->cells)
        return;
    pthread_mutex_lock(&m->prefix_lock);
    for (size_t i = 0; i < n; i++)
        meter_prefix_add(m->prefixes, ARRAY_LEN(m->prefixes), &m->nprefixes, p[i].p, p[i].len,
                         p[i].mecpu, p[i].calls);
    pthread_mutex_unlock(&m->prefix_lock);
}

meter_quota *meter_ledger_quota(meter_ledger *m, const char *user)
{
    for (int i = 0; user && i < m->nquotas; i++)
        if (strcmp(m->quotas[i].user, user) == 0)
            return &m->quotas[i];
    return NULL;
}

int meter_quotas_parse(const char *text, meter_quota *out, int *n, char *err, size_t errlen)
{
    char list[4096];
    snprintf(list, sizeof(list), "%s", text);
    char *save = NULL;
    int k = 0;
    for (char *q = strtok_r(list, ",", &save); q; q = strtok_r(NULL, ",", &save), k++) {
        char *eq = strchr(q, '='), *end = NULL;
        long v = eq ? strtol(eq + 1, &end, 10) : 0;
        if (!eq || eq == q || eq - q >= 64 || !end || *end || v < 1 || k >= METER_MAX_QUOTAS) {
            snprintf(err, errlen,
                     "--user-ecpu-per-second: '%s' is not user=N (N ECPU per second, at least 1; "
                     "up to 32 users)",
                     q);
            return -1;
        }
        if (out) {
            snprintf(out[k].user, sizeof(out[k].user), "%.*s", (int)(eq - q), q);
            out[k].ecpu_s = v;
        }
    }
    if (n)
        *n = k;
    return 0;
}
