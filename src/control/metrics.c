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

/* One metric family: its help line and type. */
static void family(buf *out, const char *name, const char *type, const char *help)
{
    buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with one integer series for cache c. */
static void scalar(buf *out, const cache *c, const char *name, const char *type,
                   const char *help, long long v)
{
    family(out, name, type, help);
    buf_appendf(out, "%s{cache=\"%s\"} %lld\n", name, c->name, v);
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
        usage_totals t;
        usage_command_now(c, id, &t);
        if (!x || !t.calls)
            continue;
        buf_appendf(out, "%s{cache=\"%s\",command=\"%s\"} ", name, c->name, x->name);
        if (ecpu)
            add_ecpu(out, t.mecpu);
        else
            buf_appendf(out, "%llu\n", (unsigned long long)t.calls);
    }
}

void metrics_render(cache *c, buf *out)
{
    usage_totals t;
    usage_totals_now(c, &t);
    supervisor_stats st;
    cache_get_stats(c, &st);
    family(out, "stratus_elasticache_processing_units_total", "counter",
           "ECPU charged (CloudWatch: ElastiCacheProcessingUnits), docs/pricing.md");
    buf_appendf(out, "stratus_elasticache_processing_units_total{cache=\"%s\"} ", c->name);
    add_ecpu(out, t.mecpu);
    scalar(out, c, "stratus_bytes_used_for_cache", "gauge",
           "data held, dataset bytes over the primaries (CloudWatch: BytesUsedForCache)",
           (long long)atomic_load_explicit(&c->meter.storage_bytes, memory_order_relaxed));
    family(out, "stratus_storage_gb_hours_total", "counter", "storage integrated over time");
    buf_appendf(out, "stratus_storage_gb_hours_total{cache=\"%s\"} %.9f\n", c->name,
                (double)t.storage_byte_s / (1073741824.0 * 3600.0));
    scalar(out, c, "stratus_throttled_cmds_total", "counter",
           "commands refused by the ECPU/s limit (CloudWatch: ThrottledCmds)",
           (long long)t.throttled);
    scalar(out, c, "stratus_network_bytes_in_total", "counter",
           "request bytes of metered commands (CloudWatch: NetworkBytesIn)",
           (long long)t.bytes_in);
    scalar(out, c, "stratus_network_bytes_out_total", "counter",
           "reply bytes of metered commands (CloudWatch: NetworkBytesOut)",
           (long long)t.bytes_out);
    scalar(out, c, "stratus_curr_connections", "gauge", "client connections (CurrConnections)",
           (long long)atomic_load(&c->counters.connected_clients));
    scalar(out, c, "stratus_new_connections_total", "counter",
           "client connections accepted (NewConnections)",
           (long long)atomic_load(&c->counters.total_connections));
    scalar(out, c, "stratus_engines", "gauge", "engine processes supervised", st.engines_total);
    scalar(out, c, "stratus_engines_up", "gauge", "engines answering PING at the last sample",
           st.engines_up);
    scalar(out, c, "stratus_engine_restarts_total", "counter", "engine processes restarted",
           (long long)st.restarts);
    scalar(out, c, "stratus_failovers_total", "counter",
           "primaries replaced by a replica, failbacks included", (long long)st.failovers);
    scalar(out, c, "stratus_resharding", "gauge", "1 while slots are being moved",
           atomic_load(&c->resharding));
    scalar(out, c, "stratus_slots_moved_total", "counter", "slots moved by resharding",
           (long long)atomic_load(&c->slots_moved));
    scalar(out, c, "stratus_commands_processed_total", "counter",
           "commands received by the endpoint, metered or not (CloudWatch: GetTypeCmds + "
           "SetTypeCmds + ...)",
           (long long)atomic_load(&c->counters.total_commands));
    scalar(out, c, "stratus_engine_errors_total", "counter",
           "replies turned into errors by engine failures",
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
