/* Prometheus metrics (see metrics.h). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/metrics.h"

#include <stdio.h>
#include <string.h>

#include "acl/authguard.h"
#include "common/alloc.h"
#include "control/figures.h"
#include "control/http.h"
#include "control/usage.h"

struct metrics_server {
    http_server *h;
    cache *c;
};

/* One metric family: its help line and type. */
static void family(buf *out, const char *name, const char *type, const char *help)
{
    buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with one integer series for cache c. */
static void scalar(buf *out, const cache *c, const char *name, const char *type, const char *help,
                   long long v)
{
    family(out, name, type, help);
    buf_appendf(out, "%s{cache=\"%s\"} %lld\n", name, c->view.name, v);
}

/* Milli-ECPU as ECPU with three decimals. */
static void add_ecpu(buf *out, uint64_t mecpu)
{
    buf_appendf(out, "%llu.%03llu\n", (unsigned long long)(mecpu / 1000),
                (unsigned long long)(mecpu % 1000));
}

/* Per command type: calls (ecpu == 0) or ECPU (ecpu == 1) of every type that ran. */
static void cmd_series(buf *out, const cache *c, const char *name, int ecpu)
{
    for (uint16_t id = 0; id < cmd_ids; id++) {
        const cmd_def *x = cmd_by_id(id);
        meter_totals t;
        meter_ledger_command(&c->view.meter, id, &t);
        if (!x || !t.calls)
            continue;
        buf_appendf(out, "%s{cache=\"%s\",command=\"%s\"} ", name, c->view.name, x->name);
        if (ecpu)
            add_ecpu(out, t.mecpu);
        else
            buf_appendf(out, "%llu\n", (unsigned long long)t.calls);
    }
}

void metrics_render(cache *c, buf *out)
{
    meter_totals t;
    meter_ledger_totals(&c->view.meter, &t);
    supervisor_stats st;
    cache_get_stats(c, &st);
    family(out, "stratus_elasticache_processing_units_total", "counter",
           "ECPU charged (CloudWatch: ElastiCacheProcessingUnits), docs/pricing.md");
    buf_appendf(out, "stratus_elasticache_processing_units_total{cache=\"%s\"} ", c->view.name);
    add_ecpu(out, t.mecpu);
    scalar(out, c, "stratus_bytes_used_for_cache", "gauge",
           "data held, dataset bytes over the primaries (CloudWatch: BytesUsedForCache)",
           (long long)atomic_load_explicit(&c->view.meter.storage_bytes, memory_order_relaxed));
    family(out, "stratus_storage_gb_hours_total", "counter", "storage integrated over time");
    buf_appendf(out, "stratus_storage_gb_hours_total{cache=\"%s\"} %.9f\n", c->view.name,
                (double)t.storage_byte_s / (1073741824.0 * 3600.0));
    scalar(out, c, "stratus_throttled_cmds_total", "counter",
           "commands refused by the ECPU/s limit (CloudWatch: ThrottledCmds)",
           (long long)t.throttled);
    scalar(out, c, "stratus_network_bytes_in_total", "counter",
           "request bytes of metered commands (CloudWatch: NetworkBytesIn)", (long long)t.bytes_in);
    scalar(out, c, "stratus_network_bytes_out_total", "counter",
           "reply bytes of metered commands (CloudWatch: NetworkBytesOut)", (long long)t.bytes_out);
    scalar(out, c, "stratus_client_limit_disconnections_total", "counter",
           "clients closed by a limit: --client-output-limit, --idle-timeout, --auth-timeout",
           (long long)(atomic_load(&c->view.counters.output_limit_kills) +
                       atomic_load(&c->view.counters.idle_kills) +
                       atomic_load(&c->view.counters.auth_timeouts)));
    size_t nrows;
    const view_counter_row *rows = view_counter_rows(&nrows);
    for (size_t i = 0; i < nrows; i++) /* the endpoint's counters (VIEW_COUNTERS) */
        scalar(out, c, rows[i].family, rows[i].type, rows[i].help,
               (long long)view_counter_value(&c->view.counters, &rows[i]));
    uint64_t refused;
    auth_guard_stats(c->view.auth_guard, &refused);
    scalar(out, c, "stratus_auth_throttled_total", "counter",
           "AUTH attempts refused unchecked: their address spent its failure budget",
           (long long)refused);
    scalar(out, c, "stratus_engines", "gauge", "engine processes supervised", st.engines_total);
    scalar(out, c, "stratus_engines_up", "gauge", "engines answering PING at the last sample",
           st.engines_up);
    scalar(out, c, "stratus_engine_restarts_total", "counter", "engine processes restarted",
           (long long)st.restarts);
    scalar(out, c, "stratus_failovers_total", "counter",
           "primaries replaced by a replica, failbacks included", (long long)st.failovers);
    scalar(out, c, "stratus_resharding", "gauge", "1 while slots are being moved",
           atomic_load(&c->view.resharding));
    scalar(out, c, "stratus_slots_moved_total", "counter", "slots moved by resharding",
           (long long)atomic_load(&c->view.slots_moved));
    scalar(out, c, "stratus_shards", "gauge", "shards (primaries) serving the cache",
           (long long)atomic_load(&c->view.nshards));
    scalar(out, c, "stratus_hibernating", "gauge",
           "1 while the cache is asleep (engines saved and stopped; the next request wakes it)",
           (long long)atomic_load(&c->view.sleep.asleep));
    scalar(out, c, "stratus_hibernations_total", "counter", "times the cache fell asleep",
           (long long)atomic_load(&c->sleep.hibernations));
    scalar(out, c, "stratus_wakes_total", "counter", "times a request woke the cache",
           (long long)atomic_load(&c->sleep.wakes));
    scalar(out, c, "stratus_storage_at_rest_bytes", "gauge",
           "bytes of the hibernation snapshot on disk while asleep",
           (long long)atomic_load(&c->sleep.rest_bytes));
    family(out, "stratus_reply_latency_seconds", "histogram",
           "time from a request read to its reply queued, at the endpoint");
    uint64_t cum = 0;
    for (int i = 0; i < VIEW_LATENCY_BUCKETS; i++) {
        cum += atomic_load_explicit(&c->view.latency.bucket[i], memory_order_relaxed);
        if (i < VIEW_LATENCY_BUCKETS - 1)
            buf_appendf(out, "stratus_reply_latency_seconds_bucket{cache=\"%s\",le=\"%g\"} %llu\n",
                        c->view.name, (double)view_latency_us[i] / 1e6, (unsigned long long)cum);
        else
            buf_appendf(out,
                        "stratus_reply_latency_seconds_bucket{cache=\"%s\",le=\"+Inf\"} %llu\n",
                        c->view.name, (unsigned long long)cum);
    }
    buf_appendf(out, "stratus_reply_latency_seconds_sum{cache=\"%s\"} %.6f\n", c->view.name,
                (double)atomic_load_explicit(&c->view.latency.sum_us, memory_order_relaxed) / 1e6);
    buf_appendf(out, "stratus_reply_latency_seconds_count{cache=\"%s\"} %llu\n", c->view.name,
                (unsigned long long)cum);
    family(out, "stratus_commands_total", "counter", "metered commands, by command type");
    cmd_series(out, c, "stratus_commands_total", 0);
    family(out, "stratus_command_processing_units_total", "counter",
           "ECPU charged, by command type");
    cmd_series(out, c, "stratus_command_processing_units_total", 1);
}

static void answer(void *arg, const http_request *rq, http_reply *reply, buf *out)
{
    metrics_server *m = arg;
    reply->type = "text/plain; version=0.0.4; charset=utf-8";
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
        reply->status = 405;
        buf_appendf(out, "use GET /metrics\n");
    } else if (strcmp(rq->path, "/metrics.json") == 0) {
        /* For the control plane that started this cache (control/figures.h). */
        reply->type = "application/json";
        figures_render(m->c, out);
    } else if (strcmp(rq->path, "/metrics") != 0) {
        reply->status = 404;
        buf_appendf(out, "not found: the metrics are at /metrics\n");
    } else {
        metrics_render(m->c, out);
    }
}

metrics_server *metrics_start(cache *c, const char *bind, int port, const char *hosts, char *err,
                              size_t errlen)
{
    metrics_server *m = xcalloc(1, sizeof(*m));
    m->c = c;
    m->h = http_start("--metrics-port", bind, port, hosts, 0, answer, m, err, errlen);
    if (!m->h) {
        xfree(m);
        return NULL;
    }
    return m;
}

int metrics_port(const metrics_server *m)
{
    return http_port(m->h);
}

void metrics_stop(metrics_server *m)
{
    if (!m)
        return;
    http_stop(m->h);
    xfree(m);
}
