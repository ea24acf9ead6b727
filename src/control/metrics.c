/* Prometheus metrics (see metrics.h). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/alloc.h"
#include "control/usage.h"

struct metrics_server {
    struct MHD_Daemon *d;
    cache *c;
    int port;
};

/* One metric family: its help line, type, and the CloudWatch metric it mirrors. */
static void family(buf *out, const char *name, const char *type, const char *help)
{
    buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void cmd_series(buf *out, const cache *c, const char *name, int field)
{
    for (size_t i = 0; i < cmd_table_len; i++) {
        const cmd_def *d = &cmd_table[i];
        for (int k = -1; k < (int)d->nsubs; k++) {
            const cmd_def *x = k < 0 ? d : &d->subs[k];
            usage_totals t;
            usage_command_now(c, x->id, &t);
            if (!t.calls)
                continue;
            if (field == 0)
                buf_appendf(out, "%s{cache=\"%s\",command=\"%s\"} %llu\n", name, c->name, x->name,
                            (unsigned long long)t.calls);
            else
                buf_appendf(out, "%s{cache=\"%s\",command=\"%s\"} %llu.%03llu\n", name, c->name,
                            x->name, (unsigned long long)(t.mecpu / 1000),
                            (unsigned long long)(t.mecpu % 1000));
        }
    }
}

void metrics_render(cache *c, buf *out)
{
    usage_totals t;
    usage_totals_now(c, &t);
    const char *n = c->name;
    family(out, "stratus_elasticache_processing_units_total", "counter",
           "ECPU charged (CloudWatch: ElastiCacheProcessingUnits), docs/pricing.md");
    buf_appendf(out, "stratus_elasticache_processing_units_total{cache=\"%s\"} %llu.%03llu\n", n,
                (unsigned long long)(t.mecpu / 1000), (unsigned long long)(t.mecpu % 1000));
    family(out, "stratus_bytes_used_for_cache", "gauge",
           "data held, dataset bytes over the primaries (CloudWatch: BytesUsedForCache)");
    buf_appendf(out, "stratus_bytes_used_for_cache{cache=\"%s\"} %llu\n", n,
                (unsigned long long)atomic_load_explicit(&c->meter.storage_bytes,
                                                         memory_order_relaxed));
    family(out, "stratus_storage_gb_hours_total", "counter", "storage integrated over time");
    buf_appendf(out, "stratus_storage_gb_hours_total{cache=\"%s\"} %.9f\n", n,
                (double)t.storage_byte_s / (1073741824.0 * 3600.0));
    family(out, "stratus_throttled_cmds_total", "counter",
           "commands refused by the ECPU/s limit (CloudWatch: ThrottledCmds)");
    buf_appendf(out, "stratus_throttled_cmds_total{cache=\"%s\"} %llu\n", n,
                (unsigned long long)t.throttled);
    family(out, "stratus_network_bytes_in_total", "counter",
           "request bytes of metered commands (CloudWatch: NetworkBytesIn)");
    buf_appendf(out, "stratus_network_bytes_in_total{cache=\"%s\"} %llu\n", n,
                (unsigned long long)t.bytes_in);
    family(out, "stratus_network_bytes_out_total", "counter",
           "reply bytes of metered commands (CloudWatch: NetworkBytesOut)");
    buf_appendf(out, "stratus_network_bytes_out_total{cache=\"%s\"} %llu\n", n,
                (unsigned long long)t.bytes_out);
    family(out, "stratus_curr_connections", "gauge", "client connections (CurrConnections)");
    buf_appendf(out, "stratus_curr_connections{cache=\"%s\"} %lld\n", n,
                (long long)atomic_load(&c->counters.connected_clients));
    family(out, "stratus_new_connections_total", "counter",
           "client connections accepted (NewConnections)");
    buf_appendf(out, "stratus_new_connections_total{cache=\"%s\"} %lld\n", n,
                (long long)atomic_load(&c->counters.total_connections));
    supervisor_stats st;
    cache_get_stats(c, &st);
    family(out, "stratus_engines", "gauge", "engine processes supervised");
    buf_appendf(out, "stratus_engines{cache=\"%s\"} %d\n", n, st.engines_total);
    family(out, "stratus_engines_up", "gauge", "engines answering PING at the last sample");
    buf_appendf(out, "stratus_engines_up{cache=\"%s\"} %d\n", n, st.engines_up);
    family(out, "stratus_engine_restarts_total", "counter", "engine processes restarted");
    buf_appendf(out, "stratus_engine_restarts_total{cache=\"%s\"} %lld\n", n,
                (long long)st.restarts);
    family(out, "stratus_failovers_total", "counter",
           "primaries replaced by a replica, failbacks included");
    buf_appendf(out, "stratus_failovers_total{cache=\"%s\"} %lld\n", n, (long long)st.failovers);
    family(out, "stratus_resharding", "gauge", "1 while slots are being moved");
    buf_appendf(out, "stratus_resharding{cache=\"%s\"} %d\n", n, atomic_load(&c->resharding));
    family(out, "stratus_slots_moved_total", "counter", "slots moved by resharding");
    buf_appendf(out, "stratus_slots_moved_total{cache=\"%s\"} %lld\n", n,
                (long long)atomic_load(&c->slots_moved));
    family(out, "stratus_commands_processed_total", "counter",
           "commands received by the endpoint, metered or not (CloudWatch: GetTypeCmds + "
           "SetTypeCmds + ...)");
    buf_appendf(out, "stratus_commands_processed_total{cache=\"%s\"} %lld\n", n,
                (long long)atomic_load(&c->counters.total_commands));
    family(out, "stratus_engine_errors_total", "counter",
           "replies turned into errors by engine failures");
    buf_appendf(out, "stratus_engine_errors_total{cache=\"%s\"} %lld\n", n,
                (long long)atomic_load(&c->counters.backend_errors));
    family(out, "stratus_commands_total", "counter", "metered commands, by command type");
    cmd_series(out, c, "stratus_commands_total", 0);
    family(out, "stratus_command_processing_units_total", "counter",
           "ECPU charged, by command type");
    cmd_series(out, c, "stratus_command_processing_units_total", 1);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    metrics_server *m = cls;
    buf out;
    buf_init(&out);
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        buf_appendf(&out, "use GET /metrics\n");
    } else if (strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        buf_appendf(&out, "not found: the metrics are at /metrics\n");
    } else {
        metrics_render(m->c, &out);
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(buf_used(&out), buf_rptr(&out), MHD_RESPMEM_MUST_COPY);
    buf_deinit(&out);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

metrics_server *metrics_start(cache *c, const char *bind, int port, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "--metrics-port: cannot listen on '%s' (an IPv4 address)", bind);
        return NULL;
    }
    metrics_server *m = xcalloc(1, sizeof(*m));
    m->c = c;
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            answer, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            MHD_OPTION_END);
    if (!m->d) {
        snprintf(err, errlen, "--metrics-port: cannot listen on %s:%d (in use?)", bind, port);
        xfree(m);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? (int)info->port : port;
    return m;
}

int metrics_port(const metrics_server *m)
{
    return m->port;
}

void metrics_stop(metrics_server *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->d);
    xfree(m);
}
