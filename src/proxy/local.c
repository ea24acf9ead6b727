/* Commands the endpoint answers itself: connection state (AUTH, HELLO, SELECT, QUIT, CLIENT
 * SETNAME ...), and the single-node view of the cluster (CLUSTER SLOTS/SHARDS/NODES/INFO/MYID/
 * KEYSLOT) that lets cluster-aware clients use the one endpoint, plus INFO aggregated over the
 * engines. */
#define ALLOC_ROOM ROOM_PROXY
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/version.h"
#include "proto/keyslot.h"
#include "acl/authguard.h"
#include "proxy/proxy_int.h"

static int arg_is(const char *a, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(a, word, n) == 0;
}

static const char wrongpass[] = "WRONGPASS invalid username-password pair or user is disabled.";

/* AUTH user pass (cmd: "AUTH" or "HELLO" as the client sent it, for the ACL LOG), within the
 * client address's budget of failures: 1 authenticated, 0 refused with the error added to b. An
 * address over its budget gets no password check at all, so guessing faster than the budget
 * refills learns nothing (and no ACL LOG entry is made: no credentials were checked). */
static int check_auth(session *s, buf *b, const char *cmd, size_t cmdlen, const char *user,
                      size_t ulen, const char *pass, size_t plen)
{
    uint64_t now = ev_now_ms(s->w->loop);
    uint64_t wait = auth_guard_check(s->view->auth_guard, s->src, now);
    if (wait) {
        resp_add_error(b,
                       "ERR too many failed AUTH attempts from %s (%ld a minute allowed, "
                       "--auth-failures-per-minute); retry in %llu s",
                       s->src, s->view->limits.auth_failures_per_minute,
                       (unsigned long long)(wait + 999) / 1000);
        return 0;
    }
    if (admin_auth(s, cmd, cmdlen, user, ulen, pass, plen))
        return 1;
    if (auth_guard_failed(s->view->auth_guard, s->src, now))
        log_warn("cache %s: %s spent its budget of failed AUTH attempts (%ld a minute): its AUTH "
                 "is refused until it refills",
                 s->view->name, s->src, s->view->limits.auth_failures_per_minute);
    resp_add_error(b, "%s", wrongpass);
    return 0;
}

static void cluster_slots(session *s, buf *b)
{
    resp_add_array(b, 1);
    resp_add_array(b, 3);
    resp_add_int(b, 0);
    resp_add_int(b, TOPO_SLOTS - 1);
    resp_add_array(b, 3);
    resp_add_cstr(b, s->local_ip);
    resp_add_int(b, s->local_port);
    resp_add_cstr(b, s->view->node_id);
}

static void cluster_shards(session *s, buf *b)
{
    resp_add_array(b, 1);
    resp_add_map(b, 2, s->proto);
    resp_add_cstr(b, "slots");
    resp_add_array(b, 2);
    resp_add_int(b, 0);
    resp_add_int(b, TOPO_SLOTS - 1);
    resp_add_cstr(b, "nodes");
    resp_add_array(b, 1);
    resp_add_map(b, 7, s->proto);
    resp_add_cstr(b, "id");
    resp_add_cstr(b, s->view->node_id);
    resp_add_cstr(b, s->plaintext_listener ? "port" : "tls-port");
    resp_add_int(b, s->local_port);
    resp_add_cstr(b, "ip");
    resp_add_cstr(b, s->local_ip);
    resp_add_cstr(b, "endpoint");
    resp_add_cstr(b, s->local_ip);
    resp_add_cstr(b, "role");
    resp_add_cstr(b, "master");
    resp_add_cstr(b, "replication-offset");
    resp_add_int(b, 0);
    resp_add_cstr(b, "health");
    resp_add_cstr(b, "online");
}

static void cluster_nodes(session *s, buf *b)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "%s %s:%d@%d myself,master - 0 0 1 connected 0-%d\n",
                     s->view->node_id, s->local_ip, s->local_port, s->local_port, TOPO_SLOTS - 1);
    resp_add_verbatim(b, line, (size_t)n, s->proto);
}

static void cluster_info(session *s, buf *b)
{
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "cluster_state:ok\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"
                     "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\n"
                     "cluster_size:1\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n"
                     "cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
                     "total_cluster_links_buffer_limit_exceeded:0\r\n",
                     TOPO_SLOTS, TOPO_SLOTS);
    resp_add_verbatim(b, text, (size_t)n, s->proto);
}

static void human_bytes(char *out, size_t n, int64_t v)
{
    const char *units = "BKMGT";
    double d = (double)v;
    int u = 0;
    while (d >= 1024 && u < 4) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, n, "%lldB", (long long)v);
    else
        snprintf(out, n, "%.2f%c", d, units[u]);
}

static const struct {
    const char *name;
    uint32_t bit;
} info_names[] = {
    {"server", INFO_SERVER},     {"clients", INFO_CLIENTS},
    {"memory", INFO_MEMORY},     {"persistence", INFO_PERSISTENCE},
    {"stats", INFO_STATS},       {"replication", INFO_REPLICATION},
    {"cluster", INFO_CLUSTER},   {"stratus", INFO_STRATUS},
    {"keyspace", INFO_KEYSPACE}, {"cpu", INFO_CPU},
};

uint32_t local_info_sections(size_t argc, const char *const *argv, const size_t *lens)
{
    if (argc < 2)
        return ~0u;
    uint32_t mask = 0;
    for (size_t i = 1; i < argc; i++) {
        if (arg_is(argv[i], lens[i], "all") || arg_is(argv[i], lens[i], "everything") ||
            arg_is(argv[i], lens[i], "default"))
            return ~0u;
        for (size_t j = 0; j < ARRAY_LEN(info_names); j++)
            if (arg_is(argv[i], lens[i], info_names[j].name))
                mask |= info_names[j].bit;
    }
    return mask;
}

/* Integer after "field" at the start of a line of an INFO text, 0 if absent. */
static int64_t text_field(const char *text, size_t len, const char *field)
{
    size_t fl = strlen(field);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if ((size_t)(le - p) > fl && memcmp(p, field, fl) == 0)
            return strtoll(p + fl, NULL, 10);
        p = le + 1;
    }
    return 0;
}

void local_info_add_engine(info_sums *sums, const char *text, size_t len)
{
    sums->used_memory += text_field(text, len, "used_memory:");
    sums->keys += text_field(text, len, "db0:keys=");
    sums->blocked_clients += text_field(text, len, "blocked_clients:");
    const char *db = memmem(text, len, "db0:", 4);
    if (db) {
        const char *ex = memmem(db, len - (size_t)(db - text), "expires=", 8);
        if (ex)
            sums->expires += strtoll(ex + 8, NULL, 10);
    }
}

/* The INFO lines of the counters of section (VIEW_COUNTERS, proxy/view.h). */
static void counter_lines(buf *text, const view_counters *k, uint32_t section)
{
    size_t n;
    const view_counter_row *rows = view_counter_rows(&n);
    for (size_t i = 0; i < n; i++)
        if (rows[i].info_section == section)
            buf_appendf(text, "%s:%lld\r\n", rows[i].info_name,
                        (long long)view_counter_value(k, &rows[i]));
}

void local_info_build(session *s, buf *b, uint32_t sections, const info_sums *sums)
{
    proxy_view *c = s->view;
    view_stats st;
    c->ops->stats(c->owner, &st);
    const topology *t = worker_topology(s->w);
    buf text;
    buf_init(&text);
    uint64_t up = (ev_now_ms(s->w->loop) - c->started_ms) / 1000;
    if (sections & INFO_SERVER) {
        struct utsname un;
        uname(&un);
        buf_appendf(&text,
                    "# Server\r\nredis_version:%s\r\nstratus_version:%s\r\nredis_mode:cluster\r\n"
                    "os:%s %s %s\r\narch_bits:64\r\nprocess_id:%d\r\ntcp_port:%d\r\n"
                    "uptime_in_seconds:%llu\r\nuptime_in_days:%llu\r\n\r\n",
                    st.engine_version[0] ? st.engine_version : "7.0.0", STRATUS_VERSION, un.sysname,
                    un.release, un.machine, (int)getpid(), s->local_port, (unsigned long long)up,
                    (unsigned long long)(up / 86400));
    }
    if (sections & INFO_CLIENTS) {
        buf_appendf(&text, "# Clients\r\n");
        counter_lines(&text, &c->counters, VIEW_INFO_CLIENTS);
        buf_appendf(&text, "maxclients:%ld\r\nblocked_clients:%lld\r\n\r\n", c->limits.maxclients,
                    (long long)sums->blocked_clients);
    }
    if (sections & INFO_MEMORY) {
        char human[32];
        human_bytes(human, sizeof(human), sums->used_memory);
        buf_appendf(&text,
                    "# Memory\r\nused_memory:%lld\r\nused_memory_human:%s\r\nmaxmemory:%llu\r\n"
                    "maxmemory_policy:%s\r\n\r\n",
                    (long long)sums->used_memory, human, (unsigned long long)c->max_storage,
                    c->max_storage ? c->eviction : "noeviction");
    }
    if (sections & INFO_PERSISTENCE)
        buf_appendf(&text, "# Persistence\r\nloading:0\r\naof_enabled:1\r\n\r\n");
    if (sections & INFO_STATS) {
        uint64_t refused;
        auth_guard_stats(c->auth_guard, &refused);
        buf_appendf(&text, "# Stats\r\n");
        counter_lines(&text, &c->counters, VIEW_INFO_STATS);
        buf_appendf(&text, "auth_throttled:%llu\r\nengine_restarts:%lld\r\n\r\n",
                    (unsigned long long)refused, (long long)st.restarts);
    }
    if (sections & INFO_REPLICATION)
        buf_appendf(&text, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
    if (sections & INFO_CPU) {
        /* The endpoint's own process, as Redis reports its own (the engines' are theirs). */
        struct rusage self, children, thread;
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &children);
        getrusage(RUSAGE_THREAD, &thread);
        buf_appendf(&text,
                    "# CPU\r\nused_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n"
                    "used_cpu_sys_children:%ld.%06ld\r\nused_cpu_user_children:%ld.%06ld\r\n"
                    "used_cpu_sys_main_thread:%ld.%06ld\r\nused_cpu_user_main_thread:%ld.%06ld"
                    "\r\n\r\n",
                    (long)self.ru_stime.tv_sec, (long)self.ru_stime.tv_usec,
                    (long)self.ru_utime.tv_sec, (long)self.ru_utime.tv_usec,
                    (long)children.ru_stime.tv_sec, (long)children.ru_stime.tv_usec,
                    (long)children.ru_utime.tv_sec, (long)children.ru_utime.tv_usec,
                    (long)thread.ru_stime.tv_sec, (long)thread.ru_stime.tv_usec,
                    (long)thread.ru_utime.tv_sec, (long)thread.ru_utime.tv_usec);
    }
    if (sections & INFO_CLUSTER)
        buf_appendf(&text, "# Cluster\r\ncluster_enabled:1\r\n\r\n");
    if (sections & INFO_STRATUS)
        buf_appendf(&text,
                    "# Stratus\r\ncache:%s\r\nshards:%d\r\nengines:%d\r\nengines_up:%d\r\n"
                    "topology_version:%llu\r\nresharding:%d\r\nslots_moved:%lld\r\n"
                    "failovers:%lld\r\nzone:%s\r\nreader_port:%d\r\n\r\n",
                    c->name, t->nshards, st.engines_total, st.engines_up,
                    (unsigned long long)t->version, atomic_load(&c->resharding),
                    (long long)atomic_load(&c->slots_moved), (long long)st.failovers, c->zone,
                    c->reader_port);
    if (sections & INFO_KEYSPACE) {
        buf_appendf(&text, "# Keyspace\r\n");
        if (sums->keys > 0)
            buf_appendf(&text, "db0:keys=%lld,expires=%lld,avg_ttl=0\r\n", (long long)sums->keys,
                        (long long)sums->expires);
    }
    resp_add_verbatim(b, buf_rptr(&text), buf_used(&text), s->proto);
    buf_deinit(&text);
}

static void hello(session *s, buf *b, size_t argc, const char *const *argv, const size_t *lens)
{
    int proto = s->proto;
    size_t i = 1;
    if (argc >= 2) {
        if (lens[1] == 1 && (argv[1][0] == '2' || argv[1][0] == '3')) {
            proto = argv[1][0] - '0';
        } else {
            resp_add_error(b, "NOPROTO unsupported protocol version");
            return;
        }
        i = 2;
    }
    const char *name = NULL;
    size_t namelen = 0;
    for (; i < argc; i++) {
        if (arg_is(argv[i], lens[i], "auth") && i + 2 < argc) {
            if (!check_auth(s, b, argv[0], lens[0], argv[i + 1], lens[i + 1], argv[i + 2],
                            lens[i + 2]))
                return;
            i += 2;
        } else if (arg_is(argv[i], lens[i], "setname") && i + 1 < argc) {
            name = argv[i + 1];
            namelen = lens[i + 1];
            i += 1;
        } else {
            resp_add_error(b, "ERR Syntax error in HELLO option '%.*s'", (int)MIN(lens[i], 64),
                           argv[i]);
            return;
        }
    }
    if (!s->authed) {
        resp_add_error(b, "NOAUTH HELLO must be called with the client already authenticated, "
                          "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                          "authenticate the client and select the RESP protocol version at the "
                          "same time");
        return;
    }
    if (name) {
        xfree(s->name);
        s->name = xstrndup(name, namelen);
    }
    if (proto != s->proto) {
        /* Later commands use links of the other protocol; let earlier ones finish first. */
        s->proto = proto;
        s->barrier = 1;
    }
    view_stats st;
    s->view->ops->stats(s->view->owner, &st);
    resp_add_map(b, 7, proto);
    resp_add_cstr(b, "server");
    resp_add_cstr(b, "redis");
    resp_add_cstr(b, "version");
    resp_add_cstr(b, st.engine_version[0] ? st.engine_version : "7.0.0");
    resp_add_cstr(b, "proto");
    resp_add_int(b, proto);
    resp_add_cstr(b, "id");
    resp_add_int(b, (long long)s->id);
    resp_add_cstr(b, "mode");
    resp_add_cstr(b, "standalone");
    resp_add_cstr(b, "role");
    resp_add_cstr(b, "master");
    resp_add_cstr(b, "modules");
    resp_add_array(b, 0);
}

/* CLIENT REPLY ON|OFF|SKIP: the endpoint drops the replies itself (session_queue_req marks the
 * requests, delivery skips them). OFF and SKIP are not answered; SKIP under OFF changes nothing. */
static void client_reply(session *s, req *r, const char *arg, size_t n)
{
    if (arg_is(arg, n, "on")) {
        s->reply_off = 0;
        s->reply_skip = 0;
        r->flags &= (uint32_t)~REQ_F_NOREPLY;
        resp_add_simple(&r->reply, "OK");
    } else if (arg_is(arg, n, "off")) {
        s->reply_off = 1;
        r->flags |= REQ_F_NOREPLY;
    } else if (arg_is(arg, n, "skip")) {
        if (!s->reply_off)
            s->reply_skip = 1;
        r->flags |= REQ_F_NOREPLY;
    } else {
        resp_add_error(&r->reply, "ERR syntax error");
    }
}

/* ---- the answers (rows with an answer: the router queued c->r, the reply goes to c->b) ---- */

static void ping(const local_call *c)
{
    if (c->argc > 2) /* PING's arity is -1; it takes at most one argument (as pingCommand) */
        resp_add_error(c->b, "ERR wrong number of arguments for 'ping' command");
    else if (c->argc > 1)
        resp_add_bulk(c->b, c->argv[1], c->lens[1]);
    else
        resp_add_simple(c->b, "PONG");
}

static void echo(const local_call *c)
{
    resp_add_bulk(c->b, c->argv[1], c->lens[1]);
}

static void auth(const local_call *c)
{
    const char *const *argv = c->argv;
    const size_t *lens = c->lens;
    if (c->argc > 3)
        resp_add_error(c->b, "ERR syntax error");
    else if (c->argc == 2
                 ? check_auth(c->s, c->b, argv[0], lens[0], "default", 7, argv[1], lens[1])
                 : check_auth(c->s, c->b, argv[0], lens[0], argv[1], lens[1], argv[2], lens[2]))
        resp_add_simple(c->b, "OK");
}

static void hello_answer(const local_call *c)
{
    hello(c->s, c->b, c->argc, c->argv, c->lens);
}

static void select_db(const local_call *c)
{
    if (c->lens[1] == 1 && c->argv[1][0] == '0')
        resp_add_simple(c->b, "OK");
    else
        resp_add_error(c->b, "ERR SELECT is not allowed: a Stratus cache has one database (0), "
                             "as in Redis Cluster; use key prefixes instead");
}

static void quit(const local_call *c)
{
    resp_add_simple(c->b, "OK");
    c->s->closing = 1;
}

/* READONLY: reads go to the replica in this endpoint's zone when one serves (as on the reader
 * port), else to primaries; shown in CLIENT LIST. READWRITE ends it. */
static void readonly(const local_call *c)
{
    c->s->readonly = c->d->local == LOCAL_READONLY;
    resp_add_simple(c->b, "OK");
}

static void ok(const local_call *c)
{
    resp_add_simple(c->b, "OK"); /* ASKING: the endpoint owns every slot, nothing migrates */
}

static void role(const local_call *c)
{
    resp_add_array(c->b, 3);
    resp_add_cstr(c->b, "master");
    resp_add_int(c->b, 0);
    resp_add_array(c->b, 0);
}

void local_info_answer(const local_call *c)
{
    /* Only when no engine figure is needed (request_info fans out otherwise). */
    info_sums none = {0, 0, 0, 0};
    local_info_build(c->s, c->b, local_info_sections(c->argc, c->argv, c->lens), &none);
}

static void slots(const local_call *c)
{
    cluster_slots(c->s, c->b);
}

static void shards(const local_call *c)
{
    cluster_shards(c->s, c->b);
}

static void nodes(const local_call *c)
{
    cluster_nodes(c->s, c->b);
}

static void cluster_info_answer(const local_call *c)
{
    cluster_info(c->s, c->b);
}

static void myid(const local_call *c)
{
    resp_add_cstr(c->b, c->s->view->node_id);
}

static void keyslot_answer(const local_call *c)
{
    resp_add_int(c->b, keyslot(c->argv[2], c->lens[2]));
}

static void replicas(const local_call *c)
{
    if (arg_is(c->argv[2], c->lens[2], c->s->view->node_id))
        resp_add_array(c->b, 0);
    else
        resp_add_error(c->b, "ERR Unknown node %.*s", (int)MIN(c->lens[2], 64), c->argv[2]);
}

static void setname(const local_call *c)
{
    const char *name = c->argv[2];
    size_t len = c->lens[2];
    if (memchr(name, ' ', len) || memchr(name, '\n', len)) {
        resp_add_error(c->b, "ERR Client names cannot contain spaces, newlines or special "
                             "characters.");
        return;
    }
    xfree(c->s->name);
    c->s->name = len ? xstrndup(name, len) : NULL;
    resp_add_simple(c->b, "OK");
}

static void getname(const local_call *c)
{
    if (c->s->name)
        resp_add_cstr(c->b, c->s->name);
    else
        resp_add_null(c->b, c->s->proto);
}

static void client_id(const local_call *c)
{
    resp_add_int(c->b, (long long)c->s->id);
}

/* CLIENT LIST, KILL, UNBLOCK: answered once every worker has (clients.c). */
static void clients_across(const local_call *c)
{
    clients_command(c->s, c->r, c->d, c->argc, c->argv, c->lens);
}

static void client_info(const local_call *c)
{
    clients_info(c->s, c->b);
}

static void client_reply_answer(const local_call *c)
{
    client_reply(c->s, c->r, c->argv[2], c->lens[2]);
}

static void no_evict(const local_call *c)
{
    if (arg_is(c->argv[2], c->lens[2], "on") || arg_is(c->argv[2], c->lens[2], "off")) {
        c->s->no_evict = arg_is(c->argv[2], c->lens[2], "on");
        resp_add_simple(c->b, "OK");
    } else {
        resp_add_error(c->b, "ERR syntax error");
    }
}

static void getredir(const local_call *c)
{
    resp_add_int(c->b, -1); /* client tracking is never on */
}

static void trackinginfo(const local_call *c)
{
    buf *b = c->b;
    resp_add_map(b, 3, c->s->proto);
    resp_add_cstr(b, "flags");
    resp_add_set(b, 1, c->s->proto);
    resp_add_cstr(b, "off");
    resp_add_cstr(b, "redirect");
    resp_add_int(b, -1);
    resp_add_cstr(b, "prefixes");
    resp_add_array(b, 0);
}

/* SCRIPT EXISTS: the cache's registry is the truth (a script it knows is loaded on demand
 * anywhere). */
static void script_exists(const local_call *c)
{
    proxy_view *v = c->s->view;
    buf tmp;
    buf_init(&tmp);
    resp_add_array(c->b, c->argc - 2);
    for (size_t i = 2; i < c->argc; i++) {
        buf_consume(&tmp, buf_used(&tmp));
        resp_add_int(c->b, v->ops->script_get(v->owner, c->argv[i], c->lens[i], &tmp) == 0);
    }
    buf_deinit(&tmp);
}

/* ---- the takers (rows with take: the command is theirs from the router on) ---- */

static void subscribe(const local_call *c)
{
    pubsub_command(c->s, c->d, c->argc, c->argv, c->lens, c->raw, c->rawlen);
}

static void config_get(const local_call *c)
{
    if (!router_endpoint_turn(c->s))
        admin_config_get(c->s, c->argc, c->argv, c->lens);
}

static void config_set(const local_call *c)
{
    if (!router_endpoint_turn(c->s))
        admin_config_set(c->s, c->d, c->argc, c->argv, c->lens);
}

static void acl(const local_call *c)
{
    admin_acl(c->s, c->d, c->argc, c->argv, c->lens);
}

static void scale(const local_call *c)
{
    admin_stratus_scale(c->s, c->argc, c->argv, c->lens);
}

static void hibernate(const local_call *c)
{
    admin_stratus_hibernate(c->s);
}

static void meter(const local_call *c)
{
    admin_stratus_meter(c->s, c->d, c->argc, c->argv, c->lens);
}

static void wait_cmd(const local_call *c)
{
    wait_dispatch(c->s, c->argc, c->argv, c->lens);
}

static void txn(const local_call *c)
{
    txn_execute(c->s, c->d, c->argc, c->argv, c->lens, c->raw, c->rawlen);
}

static void reset(const local_call *c)
{
    clients_reset(c->s); /* the router ran it once the earlier requests were answered */
}

/* ---- the table: one row per command the endpoint answers (cmd_local) ---- */

#define TAKE(fn, flags)                                                                            \
    {                                                                                              \
        fn, NULL, flags                                                                            \
    }
#define ANSWER(fn, flags)                                                                          \
    {                                                                                              \
        NULL, fn, flags                                                                            \
    }

static const local_row rows[LOCAL__COUNT] = {
    [LOCAL_PING] = ANSWER(ping, LOCAL_F_QUEUED),
    [LOCAL_ECHO] = ANSWER(echo, LOCAL_F_QUEUED),
    [LOCAL_AUTH] = ANSWER(auth, 0),
    [LOCAL_HELLO] = ANSWER(hello_answer, 0),
    [LOCAL_SELECT] = ANSWER(select_db, 0),
    [LOCAL_QUIT] = ANSWER(quit, 0),
    [LOCAL_READONLY] = ANSWER(readonly, 0),
    [LOCAL_READWRITE] = ANSWER(readonly, 0),
    [LOCAL_ASKING] = ANSWER(ok, 0),
    [LOCAL_ROLE] = ANSWER(role, 0),
    [LOCAL_INFO] = TAKE(request_info, 0),
    [LOCAL_CLUSTER_SLOTS] = ANSWER(slots, 0),
    [LOCAL_CLUSTER_SHARDS] = ANSWER(shards, 0),
    [LOCAL_CLUSTER_NODES] = ANSWER(nodes, 0),
    [LOCAL_CLUSTER_INFO] = ANSWER(cluster_info_answer, 0),
    [LOCAL_CLUSTER_MYID] = ANSWER(myid, 0),
    [LOCAL_CLUSTER_KEYSLOT] = ANSWER(keyslot_answer, 0),
    [LOCAL_CLUSTER_REPLICAS] = ANSWER(replicas, 0),
    [LOCAL_CLIENT_SETNAME] = ANSWER(setname, 0),
    [LOCAL_CLIENT_GETNAME] = ANSWER(getname, 0),
    [LOCAL_CLIENT_ID] = ANSWER(client_id, 0),
    [LOCAL_CLIENT_LIST] = ANSWER(clients_across, LOCAL_F_DEFERRED),
    [LOCAL_CLIENT_KILL] = ANSWER(clients_across, LOCAL_F_DEFERRED),
    [LOCAL_CLIENT_UNBLOCK] = ANSWER(clients_across, LOCAL_F_DEFERRED),
    [LOCAL_CLIENT_INFO] = ANSWER(client_info, 0),
    [LOCAL_CLIENT_REPLY] = ANSWER(client_reply_answer, 0),
    [LOCAL_CLIENT_NO_EVICT] = ANSWER(no_evict, 0),
    [LOCAL_CLIENT_TRACKINGINFO] = ANSWER(trackinginfo, 0),
    [LOCAL_CLIENT_GETREDIR] = ANSWER(getredir, 0),
    [LOCAL_RESET] = TAKE(reset, 0),
    [LOCAL_STRATUS_SCALE] = TAKE(scale, 0),
    [LOCAL_STRATUS_HIBERNATE] = TAKE(hibernate, 0),
    [LOCAL_STRATUS_COST] = TAKE(meter, 0),
    [LOCAL_STRATUS_USAGE] = TAKE(meter, 0),
    [LOCAL_STRATUS_RECEIPTS] = TAKE(meter, 0),
    [LOCAL_STRATUS_RECEIPT] = TAKE(meter, 0),
    [LOCAL_SCRIPT_EXISTS] = ANSWER(script_exists, 0),
    [LOCAL_SCAN] = TAKE(request_scan, 0),
    [LOCAL_SUBSCRIBE] = TAKE(subscribe, 0),
    [LOCAL_PUBSUB_QUERY] = TAKE(request_pubsub_query, 0),
    [LOCAL_MULTI] = TAKE(txn, LOCAL_F_TXN),
    [LOCAL_EXEC] = TAKE(txn, LOCAL_F_TXN),
    [LOCAL_DISCARD] = TAKE(txn, LOCAL_F_TXN),
    [LOCAL_WATCH] = TAKE(txn, LOCAL_F_TXN),
    [LOCAL_UNWATCH] = TAKE(txn, LOCAL_F_TXN),
    [LOCAL_CONFIG_GET] = TAKE(config_get, 0),
    [LOCAL_CONFIG_SET] = TAKE(config_set, 0),
    [LOCAL_ACL] = TAKE(acl, 0),
    [LOCAL_WAIT] = TAKE(wait_cmd, 0),
    /* Inside MULTI, PUBLISH runs on the transaction's shard: the cluster passes it on to every
     * subscriber; its count is that engine's own, as Redis Cluster counts. */
    [LOCAL_PUBLISH] = TAKE(request_pubsub_query, LOCAL_F_QUEUED),
};

const local_row *local_row_of(const cmd_def *d)
{
    if (d->route != ROUTE_LOCAL || d->local >= LOCAL__COUNT)
        return NULL;
    const local_row *row = &rows[d->local];
    return row->take || row->answer ? row : NULL;
}

void local_answer(const local_call *c, local_fn *answer)
{
    local_call call = *c;
    call.r = session_queue_req(c->s);
    call.b = &call.r->reply;
    answer(&call);
    const local_row *row = local_row_of(c->d);
    if (!row || !(row->flags & LOCAL_F_DEFERRED))
        router_deliver_final(c->s->w, call.r, buf_rptr(call.b), buf_used(call.b));
}

void local_run(const local_call *c)
{
    const local_row *row = local_row_of(c->d);
    if (!row)
        router_reply_error(c->s, "ERR internal: no local handler for '%s'", c->d->name);
    else if (row->take)
        row->take(c);
    else
        local_answer(c, row->answer);
}
