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

void local_ping(const local_call *c)
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
    /* ASKING: the endpoint owns every slot, nothing migrates; CLIENT UNPAUSE: nothing is ever
     * paused */
    resp_add_simple(c->b, "OK");
}

static void role(const local_call *c)
{
    resp_add_array(c->b, 3);
    resp_add_cstr(c->b, "master");
    resp_add_int(c->b, 0);
    resp_add_array(c->b, 0);
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

/* CLIENT TRACKING OFF: tracking is never on (ON is refused, with the reason). */
static void tracking(const local_call *c)
{
    if (c->argc >= 3 && c->lens[2] == 3 && strncasecmp(c->argv[2], "off", 3) == 0)
        resp_add_simple(c->b, "OK");
    else if (c->argc >= 3 && c->lens[2] == 2 && strncasecmp(c->argv[2], "on", 2) == 0)
        resp_add_error(c->b, "ERR 'client|tracking' is not available on Stratus: %s", c->d->reason);
    else
        resp_add_error(c->b, "ERR syntax error");
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
    [LOCAL_PING] = TAKE(request_ping, LOCAL_F_QUEUED),
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
    [LOCAL_CLIENT_TRACKING] = ANSWER(tracking, 0),
    [LOCAL_CLIENT_PAUSE] = TAKE(pause_command, 0),
    [LOCAL_CLIENT_UNPAUSE] = TAKE(unpause_command, 0),
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
