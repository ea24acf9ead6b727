/* Server commands the endpoint owns for the whole cache: ACL users (AUTH, the permission check
 * before every command, ACL SETUSER/DELUSER/GETUSER/LIST/USERS/WHOAMI/CAT/GENPASS/DRYRUN/LOG)
 * and CONFIG GET/SET for an allow-list of engine settings applied to every shard. */
#define ALLOC_ROOM ROOM_PROXY
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/alloc.h"
#include "common/log.h"
#include "acl/acl_engine.h"
#include "meter/ledger.h"
#include "proxy/proxy_int.h"

/* ---- AUTH and the permission check ---- */

void admin_acl_log(session *s, acl_log_reason reason, acl_log_context context, const char *object,
                   size_t olen, const char *user, size_t ulen)
{
    buf text; /* the user's name, then the client's line, each NUL-terminated */
    buf_init(&text);
    buf_append(&text, user, ulen);
    buf_append(&text, "", 1);
    clients_info_line(s, &text);
    buf_append(&text, "", 1);
    acl_log_add(s->view->acl_log, reason, context, object, olen, buf_rptr(&text),
                buf_rptr(&text) + ulen + 1);
    buf_deinit(&text);
}

/* ---- denials on the engines (scripts and functions) ---- */

static const char script_denied[] = "The user executing the script";

int admin_acl_engine_denial(worker *w, req *r, const char *addr, const char *frame, size_t len)
{
    session *s = req_session(r);
    if (!s || !s->user_name || len > 4096 || r->ack || buf_used(&r->reply) ||
        !memmem(frame, len, script_denied, sizeof(script_denied) - 1))
        return 0; /* (a reply buffer in use holds a preamble's error: not for holding this) */
    /* The engine logged what its script called (reason, object): read it back, under the
     * endpoint's own user, and log it with this client as the engine cannot know it. */
    const topology *t = worker_topology(w);
    int node = topo_find_addr(t, addr);
    if (node < 0)
        return 0; /* the engine left the topology meanwhile */
    req *q = req_get(w);
    q->flags = REQ_F_ENDPOINT | REQ_F_ACL_FETCH | REQ_F_READONLY;
    q->target = TARGET_NODE; /* that very engine, by the address the cluster knows it by */
    snprintf(q->ask_addr, sizeof(q->ask_addr), "%s", t->nodes[node].cluster_addr);
    q->proto = 2;
    q->born_ms = ev_now_ms(w->loop);
    q->deadline_ms = q->born_ms + (uint64_t)w->view->limits.backend_timeout;
    static const char *const argv[] = {"ACL", "LOG", "10"};
    static const size_t lens[] = {3, 3, 2};
    resp_add_command(&q->cmd, 3, argv, lens);
    buf note; /* the user's engine name, then the client's line, each NUL-terminated */
    buf_init(&note);
    acl_engine_user_name(s->user_name, strlen(s->user_name), &note);
    buf_append(&note, "", 1);
    clients_info_line(s, &note);
    buf_append(&note, "", 1);
    q->note = xmalloc(buf_used(&note));
    memcpy(q->note, buf_rptr(&note), buf_used(&note));
    buf_deinit(&note);
    /* As in Redis, the entry is in the log by the time the client reads the error: r's reply
     * waits for q (router_deliver hands it on once q is answered or fails). */
    buf_append(&r->reply, frame, len);
    q->ack = r;
    r->ack = q;
    router_send(w, q);
    return 1;
}

/* A field of one ACL LOG entry (a map, or a flat array in RESP2). */
static const resp_value *entry_field(const resp_value *e, const char *name)
{
    for (size_t i = 0; i + 1 < e->nelem; i += 2)
        if (e->elem[i].str && e->elem[i].len == strlen(name) &&
            memcmp(e->elem[i].str, name, e->elem[i].len) == 0)
            return &e->elem[i + 1];
    return NULL;
}

static int field_is(const resp_value *v, const char *w)
{
    return v && v->str && v->len == strlen(w) && memcmp(v->str, w, v->len) == 0;
}

void admin_acl_engine_fetched(worker *w, req *q, const char *frame, size_t len)
{
    if (!q->note)
        return;
    const char *ename = q->note;
    const char *info = ename + strlen(ename) + 1;
    resp_value *v = NULL;
    size_t used;
    if (resp_value_parse(frame, len, &v, &used) == RESP_DONE && v->type == RESP_T_ARRAY) {
        /* The newest entry of this client's user: its latest denial there. */
        for (size_t i = 0; i < v->nelem; i++) {
            const resp_value *e = &v->elem[i];
            const resp_value *user = entry_field(e, "username"), *ctx = entry_field(e, "context");
            const resp_value *reason = entry_field(e, "reason"), *obj = entry_field(e, "object");
            if (!field_is(user, ename) || !obj || !obj->str || !field_is(ctx, "lua"))
                continue;
            acl_log_reason why = field_is(reason, "key")       ? ACL_LOG_KEY
                                 : field_is(reason, "channel") ? ACL_LOG_CHANNEL
                                                               : ACL_LOG_COMMAND;
            const char *name = ename + sizeof(ACL_ENGINE_PREFIX) - 1; /* the cache user's */
            acl_log_add(w->view->acl_log, why, ACL_LOG_LUA, obj->str, obj->len, name, info);
            break;
        }
    }
    resp_value_free(v);
}

/* A denial of the session's own command: "multi" inside MULTI, else "toplevel". */
static void log_denial(session *s, acl_log_reason reason, const char *object, size_t olen,
                       const char *user, size_t ulen)
{
    admin_acl_log(s, reason, s->multi ? ACL_LOG_MULTI : ACL_LOG_TOPLEVEL, object, olen, user, ulen);
}

int admin_auth(session *s, const char *cmd, size_t cmdlen, const char *user, size_t ulen,
               const char *pass, size_t plen)
{
    const acl_table *t = view_acl(s->view);
    const acl_user *u = acl_table_find(t, user, ulen);
    if (!u || !u->enabled || !acl_user_password_ok(u, pass, plen)) {
        log_denial(s, ACL_LOG_AUTH, cmd, cmdlen, user, ulen);
        return 0;
    }
    session_authenticated(s, u, t->version);
    return 1;
}

int admin_acl_guard(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                    const size_t *lens)
{
    if (!s->authed || (d->flags & CMD_F_NOAUTH))
        return 0;
    const acl_table *t = view_acl(s->view);
    if (unlikely(t->version != s->acl_version)) {
        /* The users changed: find ours again in the new table (the old one may be freed once
         * this thread passes its next quiescent state). */
        const acl_user *u = acl_table_find(t, s->user_name, strlen(s->user_name));
        if (!u) {
            router_reply_error(s, "ERR the user this connection authenticated as was deleted "
                                  "(ACL DELUSER); the connection is closed");
            s->closing = 1;
            return -1;
        }
        s->user = u;
        s->acl_version = t->version;
    }
    if (likely(s->user->unrestricted))
        return 0;
    size_t pos = 0;
    acl_verdict v = acl_check_at(s->user, d, argc, argv, lens, &pos);
    if (v == ACL_OK)
        return 0;
    /* As Redis: a command is logged by its full name ("client|kill"), a key or a channel by
     * itself; inside MULTI the context is "multi". */
    const char *name = s->user->name;
    if (v == ACL_DENY_CMD)
        log_denial(s, ACL_LOG_COMMAND, d->name, strlen(d->name), name, strlen(name));
    else
        log_denial(s, v == ACL_DENY_KEY ? ACL_LOG_KEY : ACL_LOG_CHANNEL, argv[pos], lens[pos], name,
                   strlen(name));
    char msg[200];
    acl_deny_message(v, d, msg, sizeof(msg));
    router_reply_error(s, "%s", msg);
    txn_mark_dirty(s);
    return -1;
}

/* ---- CONFIG SET allow-list ---- */

/* Engine settings clients may change: behaviour and tuning of the data, never where it lives,
 * how much memory it gets (the service's limits), persistence or security. */
static const char *const config_allowed[] = {
    "notify-keyspace-events",
    "maxmemory-policy",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "lfu-log-factor",
    "lfu-decay-time",
    "lua-time-limit",
    "busy-reply-threshold",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "list-compress-depth",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
    "hll-sparse-max-bytes",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "active-expire-effort",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "activedefrag",
    "acllog-max-len", /* the endpoint's ACL LOG keeps this many entries too */
};

static int config_allowed_name(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(config_allowed); i++)
        if (strlen(config_allowed[i]) == len && strncasecmp(config_allowed[i], name, len) == 0)
            return 1;
    return 0;
}

static char allowed_text[1400];

static void build_allowed_text(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(config_allowed); i++)
        n += (size_t)snprintf(allowed_text + n, sizeof(allowed_text) - n, "%s%s", i ? ", " : "",
                              config_allowed[i]);
}

static const char *config_allowed_text(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_allowed_text);
    return allowed_text;
}

/* ---- CONFIG GET / SET ---- */

/* Settings clients may read but not change (what libraries commonly check at start). */
static const char *const config_readable[] = {"maxmemory", "appendonly", "save"};

static int config_visible(const char *name, size_t len)
{
    if (config_allowed_name(name, len))
        return 1;
    for (size_t i = 0; i < ARRAY_LEN(config_readable); i++)
        if (arg_is(name, len, config_readable[i]))
            return 1;
    return 0;
}

void admin_config_get(session *s, size_t argc, const char *const *argv, const size_t *lens)
{
    router_fan_out(s, argc, argv, lens, MERGE_CONFIG_GET, 1);
}

/* CONFIG GET's reply with only the visible settings: engine paths, ports and secrets never leave
 * the endpoint. */
void admin_config_filter(int proto, const char *data, size_t len, buf *out)
{
    resp_value *v = NULL;
    size_t used;
    if (resp_value_parse(data, len, &v, &used) != RESP_DONE ||
        (v->type != RESP_T_ARRAY && v->type != RESP_T_MAP) || v->nelem % 2) {
        buf_append(out, data, len);
        resp_value_free(v);
        return;
    }
    size_t keep = 0;
    for (size_t i = 0; i + 1 < v->nelem; i += 2)
        keep += config_visible(v->elem[i].str, v->elem[i].len);
    resp_add_map(out, keep, proto);
    for (size_t i = 0; i + 1 < v->nelem; i += 2) {
        if (!config_visible(v->elem[i].str, v->elem[i].len))
            continue;
        buf_append(out, v->elem[i].raw, v->elem[i].raw_len);
        buf_append(out, v->elem[i + 1].raw, v->elem[i + 1].raw_len);
    }
    resp_value_free(v);
}

/* A zone endpoint (--follow) leaves the cache's settings, users and size to the control
 * plane's endpoint, so that every zone keeps the same ones. 1 when it refused. */
static int follower_refuses(session *s, const char *what)
{
    if (!s->view->follow)
        return 0;
    router_reply_error(s,
                       "ERR %s is not available on a zone endpoint: run it on the cache's main "
                       "endpoint (the control plane's), which every zone follows",
                       what);
    return 1;
}

void admin_config_set(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                      const size_t *lens)
{
    if (follower_refuses(s, "CONFIG SET"))
        return;
    if (argc < 4 || (argc - 2) % 2) {
        router_reply_error(s, "ERR wrong number of arguments for '%s' command", d->name);
        return;
    }
    for (size_t i = 2; i < argc; i += 2) {
        if (s->view->max_storage && lens[i] == 16 &&
            strncasecmp(argv[i], "maxmemory-policy", 16) == 0) {
            router_reply_error(s,
                               "ERR CONFIG SET maxmemory-policy: this cache has a storage limit "
                               "and evicts with its eviction setting (%s); change it with "
                               "`stratus cache modify %s --eviction POLICY` or --eviction",
                               s->view->eviction, s->view->name);
            return;
        }
        if (!config_allowed_name(argv[i], lens[i])) {
            router_reply_error(
                s,
                "ERR CONFIG SET '%.*s' is not available on Stratus: engine memory, persistence, "
                "networking and security are managed by the service. Settable: %s",
                (int)MIN(lens[i], 64), argv[i], config_allowed_text());
            return;
        }
    }
    router_fan_out(s, argc, argv, lens, MERGE_CONFIG_SET, 0);
}

void admin_config_record(worker *w, req *p)
{
    /* Every primary accepted it: the cache keeps the values, persists them, and the control
     * thread applies them to replicas and to engines started later. */
    const buf *cmd = &p->children[0]->cmd;
    resp_value *v = NULL;
    size_t used;
    if (resp_value_parse(buf_rptr(cmd), buf_used(cmd), &v, &used) == RESP_DONE &&
        v->type == RESP_T_ARRAY) {
        for (size_t i = 2; i + 1 < v->nelem; i += 2)
            w->view->ops->config_record(w->view->owner, v->elem[i].str, v->elem[i].len,
                                        v->elem[i + 1].str, v->elem[i + 1].len);
    }
    resp_value_free(v);
}

/* ---- ACL ---- */

static int acl_wait_engines(worker *w, req *r, uint64_t version);

static int cmp_names(const void *a, const void *b)
{
    return strcmp((*(const acl_user *const *)a)->name, (*(const acl_user *const *)b)->name);
}

/* The users sorted by name (as Redis lists them); the array is the caller's to free. */
static const acl_user **sorted_users(const acl_table *t)
{
    const acl_user **u = xmalloc((t->n + 1) * sizeof(*u));
    for (size_t i = 0; i < t->n; i++)
        u[i] = t->users[i];
    qsort(u, t->n, sizeof(*u), cmp_names);
    return u;
}

/* ACL GETUSER as Redis 7.0: flags, passwords, and the rules described from what the user can
 * do (acl_user_describe_*), not echoed as given. */
static void getuser(session *s, buf *b, const acl_user *u)
{
    resp_add_map(b, 6, s->proto);
    resp_add_cstr(b, "flags");
    resp_add_set(b, 1 + (size_t)u->nopass + (u->payload != ACL_PAYLOAD_UNSET), s->proto);
    resp_add_cstr(b, u->enabled ? "on" : "off");
    if (u->nopass)
        resp_add_cstr(b, "nopass");
    if (u->payload == ACL_PAYLOAD_SKIP)
        resp_add_cstr(b, "skip-sanitize-payload");
    else if (u->payload == ACL_PAYLOAD_SANITIZE)
        resp_add_cstr(b, "sanitize-payload");
    resp_add_cstr(b, "passwords");
    resp_add_array(b, u->npass);
    for (size_t i = 0; i < u->npass; i++)
        resp_add_cstr(b, u->pass[i]);
    buf text;
    buf_init(&text);
    resp_add_cstr(b, "commands");
    acl_user_describe_commands(u, &text);
    resp_add_bulk(b, buf_rptr(&text), buf_used(&text));
    buf_consume(&text, buf_used(&text));
    resp_add_cstr(b, "keys");
    acl_user_describe_keys(u, &text);
    resp_add_bulk(b, buf_rptr(&text), buf_used(&text));
    buf_consume(&text, buf_used(&text));
    resp_add_cstr(b, "channels");
    acl_user_describe_channels(u, &text);
    resp_add_bulk(b, buf_rptr(&text), buf_used(&text));
    buf_deinit(&text);
    resp_add_cstr(b, "selectors");
    resp_add_array(b, 0);
}

/* A whole-string integer as Redis's string2l reads it (no sign +, no leading zero, no space). */
static int parse_long(const char *p, size_t n, long long *out)
{
    size_t i = n && p[0] == '-';
    if (n == 0 || n > 20 || i == n || (p[i] == '0' && n > 1))
        return -EINVAL;
    for (size_t j = i; j < n; j++)
        if (p[j] < '0' || p[j] > '9')
            return -EINVAL;
    char num[24];
    snprintf(num, sizeof(num), "%.*s", (int)n, p);
    errno = 0;
    *out = strtoll(num, NULL, 10);
    return errno ? -EINVAL : 0;
}

/* ACL LOG [count | RESET]: the newest entries first, with Redis 7.0's seven fields. */
static void acl_log_reply(session *s, buf *b, size_t argc, const char *const *argv,
                          const size_t *lens)
{
    long long count = 10;
    if (argc > 3) {
        resp_add_error(b,
                       "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
                       "ACL HELP.",
                       (int)MIN(lens[1], 128), argv[1]);
        return;
    }
    if (argc == 3) {
        if (arg_is(argv[2], lens[2], "reset")) {
            acl_log_reset(s->view->acl_log);
            resp_add_simple(b, "OK");
            return;
        }
        if (parse_long(argv[2], lens[2], &count) != 0) {
            resp_add_error(b, "ERR value is not an integer or out of range");
            return;
        }
        if (count < 0)
            count = 0;
    }
    size_t n;
    acl_log_entry *e = acl_log_copy(s->view->acl_log, (size_t)count, &n);
    uint64_t now = acl_log_now_ms();
    resp_add_array(b, n);
    for (size_t i = 0; i < n; i++) {
        resp_add_map(b, 7, s->proto);
        resp_add_cstr(b, "count");
        resp_add_int(b, (long long)e[i].count);
        resp_add_cstr(b, "reason");
        resp_add_cstr(b, acl_log_reason_name(e[i].reason));
        resp_add_cstr(b, "context");
        resp_add_cstr(b, acl_log_context_name(e[i].context));
        resp_add_cstr(b, "object");
        resp_add_bulk(b, e[i].object, e[i].object_len);
        resp_add_cstr(b, "username");
        resp_add_cstr(b, e[i].username);
        resp_add_cstr(b, "age-seconds");
        resp_add_double(b, (double)(now > e[i].ms ? now - e[i].ms : 0) / 1000, s->proto);
        resp_add_cstr(b, "client-info");
        resp_add_cstr(b, e[i].client_info);
    }
    acl_log_copy_free(e, n);
}

static void acl_cat(session *s, buf *b, size_t argc, const char *const *argv, const size_t *lens)
{
    if (argc == 2) {
        resp_add_array(b, cmd_acl_ncategories);
        for (size_t i = 0; i < cmd_acl_ncategories; i++)
            resp_add_cstr(b, cmd_acl_categories[i]);
        return;
    }
    int cat = -1;
    for (size_t i = 0; i < cmd_acl_ncategories; i++)
        if (arg_is(argv[2], lens[2], cmd_acl_categories[i]))
            cat = (int)i;
    if (cat < 0) {
        resp_add_error(b, "ERR Unknown category '%.*s'", (int)MIN(lens[2], 64), argv[2]);
        return;
    }
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            resp_add_array(b, n);
        for (size_t i = 0; i < cmd_table_len; i++) {
            const cmd_def *d = &cmd_table[i];
            if ((d->acl >> cat) & 1u) {
                if (pass)
                    resp_add_cstr(b, d->name);
                else
                    n++;
            }
            for (uint16_t j = 0; j < d->nsubs; j++) {
                if (!((d->subs[j].acl >> cat) & 1u))
                    continue;
                if (pass)
                    resp_add_cstr(b, d->subs[j].name);
                else
                    n++;
            }
        }
    }
    (void)s;
}

static void dryrun(session *s, buf *b, size_t argc, const char *const *argv, const size_t *lens)
{
    const acl_user *u = acl_table_find(view_acl(s->view), argv[2], lens[2]);
    if (!u) {
        resp_add_error(b, "ERR User '%.*s' not found", (int)MIN(lens[2], 64), argv[2]);
        return;
    }
    const cmd_def *d = cmd_lookup(argv[3], lens[3]);
    if (d && d->nsubs && argc > 4)
        d = cmd_lookup_sub(d, argv[4], lens[4]);
    if (!d) {
        resp_add_error(b, "ERR Command '%.*s' not found", (int)MIN(lens[3], 64), argv[3]);
        return;
    }
    if (!cmd_arity_ok(d, argc - 3)) {
        resp_add_error(b, "ERR wrong number of arguments for '%s' command", d->name);
        return;
    }
    size_t pos = 0;
    acl_verdict v = acl_check_at(u, d, argc - 3, argv + 3, lens + 3, &pos);
    if (v == ACL_OK) {
        resp_add_simple(b, "OK");
        return;
    }
    /* DRYRUN answers with the reason as text, naming the key or channel refused. */
    buf text;
    buf_init(&text);
    if (v == ACL_DENY_CMD)
        buf_appendf(&text, "This user has no permissions to run the '%s' command", d->name);
    else
        buf_appendf(&text, "This user has no permissions to access the '%.*s' %s",
                    (int)lens[3 + pos], argv[3 + pos], v == ACL_DENY_KEY ? "key" : "channel");
    resp_add_bulk(b, buf_rptr(&text), buf_used(&text));
    buf_deinit(&text);
}

void admin_acl(session *s, const cmd_def *d, size_t argc, const char *const *argv,
               const size_t *lens)
{
    const char *sub = d->sub;
    if ((!strcmp(sub, "setuser") || !strcmp(sub, "deluser")) &&
        follower_refuses(s, !strcmp(sub, "setuser") ? "ACL SETUSER" : "ACL DELUSER"))
        return;
    req *r = session_queue_req(s);
    buf *b = &r->reply;
    char err[512];
    uint64_t version = 0;
    if (!strcmp(sub, "setuser")) {
        if (s->view->ops->acl_setuser(s->view->owner, argv[2], lens[2], argc - 3, argv + 3,
                                      lens + 3, &version, err, sizeof(err)) != 0)
            resp_add_error(b, "%s", err);
        else
            resp_add_simple(b, "OK");
    } else if (!strcmp(sub, "deluser")) {
        int n = s->view->ops->acl_deluser(s->view->owner, argc - 2, argv + 2, lens + 2, &version,
                                          err, sizeof(err));
        if (n < 0)
            resp_add_error(b, "%s", err);
        else
            resp_add_int(b, n);
    } else if (!strcmp(sub, "getuser")) {
        const acl_user *u = acl_table_find(view_acl(s->view), argv[2], lens[2]);
        if (u)
            getuser(s, b, u);
        else
            resp_add_null(b, s->proto);
    } else if (!strcmp(sub, "list") || !strcmp(sub, "users")) {
        const acl_table *t = view_acl(s->view);
        const acl_user **u = sorted_users(t);
        resp_add_array(b, t->n);
        buf line;
        buf_init(&line);
        for (size_t i = 0; i < t->n; i++) {
            if (sub[0] == 'u') {
                resp_add_cstr(b, u[i]->name);
                continue;
            }
            buf_consume(&line, buf_used(&line));
            buf_appendf(&line, "user %s ", u[i]->name);
            acl_user_describe(u[i], &line);
            resp_add_bulk(b, buf_rptr(&line), buf_used(&line));
        }
        buf_deinit(&line);
        xfree(u);
    } else if (!strcmp(sub, "whoami")) {
        resp_add_cstr(b, s->user_name ? s->user_name : "default");
    } else if (!strcmp(sub, "cat")) {
        acl_cat(s, b, argc, argv, lens);
    } else if (!strcmp(sub, "genpass")) {
        long bits = 256;
        if (argc == 3) {
            char num[24], *end;
            snprintf(num, sizeof(num), "%.*s", (int)MIN(lens[2], 20), argv[2]);
            bits = strtol(num, &end, 10);
            if (*end || bits <= 0 || bits > 4096) {
                resp_add_error(b, "ERR ACL GENPASS argument must be the number of bits for the "
                                  "output password, a positive number up to 4096");
                goto done;
            }
        }
        size_t chars = (size_t)(bits + 3) / 4;
        unsigned char raw[512];
        char hex[1025];
        if (getrandom(raw, (chars + 1) / 2, 0) != (ssize_t)((chars + 1) / 2)) {
            resp_add_error(b, "ERR cannot read random bytes");
            goto done;
        }
        for (size_t i = 0; i < (chars + 1) / 2; i++)
            snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        resp_add_bulk(b, hex, chars);
    } else if (!strcmp(sub, "dryrun")) {
        dryrun(s, b, argc, argv, lens);
    } else if (!strcmp(sub, "log")) {
        acl_log_reply(s, b, argc, argv, lens);
    } else {
        resp_add_error(b, "ERR internal: no ACL handler for '%s'", d->name);
    }
done:
    if (version && acl_wait_engines(s->w, r, version))
        return;
    router_deliver_final(s->w, r, buf_rptr(b), buf_used(b));
}

/* A change of users is answered once every running engine has it (the control thread brings
 * them in step at once): from then on a script of a changed user is held to its new rules
 * there too. 1 when r waits (its reply is ready in r->reply). */
static int acl_wait_engines(worker *w, req *r, uint64_t version)
{
    if (atomic_load_explicit(&w->view->acl_engines_version, memory_order_acquire) >= version)
        return 0;
    r->acl_wait = version;
    r->flags |= REQ_F_ACL_WAIT;
    r->bnext = w->acl_waiting;
    w->acl_waiting = r;
    return 1;
}

void admin_acl_waiting(worker *w, uint64_t now)
{
    uint64_t have = atomic_load_explicit(&w->view->acl_engines_version, memory_order_acquire);
    req **pp = &w->acl_waiting;
    while (*pp) {
        req *r = *pp;
        /* An engine that does not answer (frozen) gets the change when it answers again, and
         * cannot serve before: the client is not held beyond the engine deadline. */
        if (have < r->acl_wait && now < r->deadline_ms) {
            pp = &r->bnext;
            continue;
        }
        if (have < r->acl_wait)
            log_warn("cache %s: an engine did not take an ACL change within %ld ms; it gets it "
                     "when it answers again",
                     w->view->name, w->view->limits.backend_timeout);
        *pp = r->bnext;
        r->bnext = NULL;
        r->flags &= (uint32_t)~REQ_F_ACL_WAIT;
        router_deliver_final(w, r, buf_rptr(&r->reply), buf_used(&r->reply));
    }
}

/* ---- STRATUS SCALE ---- */

void admin_stratus_scale(session *s, size_t argc, const char *const *argv, const size_t *lens)
{
    (void)argc;
    if (follower_refuses(s, "STRATUS SCALE"))
        return;
    if (s->view->max_storage) {
        router_reply_error(s, "ERR a cache with --max-storage keeps its shard count: its limit is "
                              "split evenly over the shards");
        return;
    }
    char num[16], *end;
    snprintf(num, sizeof(num), "%.*s", (int)MIN(lens[2], 12), argv[2]);
    long n = strtol(num, &end, 10);
    if (lens[2] == 4 && strncasecmp(argv[2], "auto", 4) == 0) {
        n = -1; /* the autoscaler decides again */
    } else if (*end || lens[2] == 0 || lens[2] > 12 || n < 1 || n > TOPO_MAX_SHARDS) {
        router_reply_error(s,
                           "ERR STRATUS SCALE takes a shard count from 1 to %d, or AUTO to let "
                           "the autoscaler decide",
                           TOPO_MAX_SHARDS);
        return;
    }
    /* The control thread starts the reshard at its next turn; INFO stratus shows its progress
     * (resharding:1, then shards:<n>). */
    atomic_store(&s->view->scale_request, (int)n);
    req *r = session_queue_req(s);
    resp_add_simple(&r->reply, "OK");
    router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
}

/* ---- STRATUS HIBERNATE ---- */

void admin_stratus_hibernate(session *s)
{
    if (follower_refuses(s, "STRATUS HIBERNATE"))
        return;
    /* The control thread saves and stops the engines at its next turn; the next request that
     * needs data wakes them. */
    atomic_store(&s->view->sleep.sleep_wanted, 1);
    req *r = session_queue_req(s);
    resp_add_simple(&r->reply, "OK");
    router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
}

/* ---- metering: STRATUS COST, USAGE, RECEIPTS, RECEIPT ---- */

/* One key and its integer value of a reply map. */
static void kv_int(buf *b, const char *key, long long v)
{
    resp_add_cstr(b, key);
    resp_add_int(b, v);
}

static void add_ecpu(buf *b, uint64_t mecpu)
{
    char t[32];
    snprintf(t, sizeof(t), "%llu.%03llu", (unsigned long long)(mecpu / 1000),
             (unsigned long long)(mecpu % 1000));
    resp_add_cstr(b, t);
}

/* The cost map of a command with the given bytes; how says where the reply size came from. */
static void cost_map(buf *b, int proto, const proxy_view *c, uint16_t id, uint64_t in, uint64_t out,
                     const char *how)
{
    int is_free = c->meter.is_free[id];
    uint64_t cpu = atomic_load_explicit(&c->meter.cpu_mecpu[id], memory_order_relaxed);
    meter_cost mc = meter_price(in, out, cpu);
    if (is_free)
        mc.total = 0;
    resp_add_map(b, 7, proto);
    resp_add_cstr(b, "ecpu");
    add_ecpu(b, mc.total);
    kv_int(b, "mecpu", (long long)mc.total);
    kv_int(b, "data_mecpu", (long long)mc.data);
    kv_int(b, "cpu_mecpu", (long long)mc.cpu);
    kv_int(b, "request_bytes", (long long)in);
    kv_int(b, "reply_bytes", (long long)out);
    resp_add_cstr(b, "reply");
    resp_add_cstr(b, is_free ? "free" : how);
}

void admin_cost_reply(worker *w, req *r, const char *reply, size_t reply_len, buf *out)
{
    uint16_t id = (uint16_t)(r->cost_probe - 1);
    r->cost_probe = 0;
    r->meter_cmd = 0; /* STRATUS COST itself is free, and so is the read it ran */
    if (reply_len && (reply[0] == '-' || reply[0] == '!')) {
        buf_append(out, reply, reply_len); /* the command's error is the answer */
        return;
    }
    cost_map(out, r->proto, w->view, id, r->meter_in, reply_len, "measured");
}

static uint64_t request_bytes(size_t argc, const size_t *lens)
{
    char tmp[32];
    uint64_t n = (uint64_t)snprintf(tmp, sizeof(tmp), "*%zu\r\n", argc);
    for (size_t i = 0; i < argc; i++)
        n += (uint64_t)snprintf(tmp, sizeof(tmp), "$%zu\r\n", lens[i]) + lens[i] + 2;
    return n;
}

static void stratus_cost(session *s, size_t argc, const char *const *argv, const size_t *lens)
{
    const cmd_def *d = cmd_lookup(argv[2], lens[2]);
    if (d && (d->route == ROUTE_PARENT || (d->nsubs && argc > 3)))
        d = argc > 3 ? cmd_lookup_sub(d, argv[3], lens[3]) : NULL;
    if (!d) {
        router_reply_error(s, "ERR STRATUS COST: unknown command '%.*s'", (int)MIN(lens[2], 64),
                           argv[2]);
        return;
    }
    if (!cmd_arity_ok(d, argc - 2)) {
        router_reply_error(s, "ERR STRATUS COST: wrong number of arguments for '%s' command",
                           d->name);
        return;
    }
    uint64_t in = request_bytes(argc - 2, lens + 2);
    /* A read changes nothing: it is run and its reply measured (and dropped). A write's reply
     * is the average of that command's replies so far, or a status reply's 5 bytes. */
    int runnable = (d->flags & CMD_F_READONLY) && !cmd_blocks(d, argc - 2, argv + 2, lens + 2) &&
                   (d->route == ROUTE_KEYS || d->route == ROUTE_ANY || d->route == ROUTE_SPLIT ||
                    d->route == ROUTE_ALL) &&
                   !s->multi && !s->view->meter.is_free[d->id];
    if (runnable) {
        /* The probe marks the read's request: its reply becomes the cost, and nothing (neither
         * STRATUS COST nor the read) is charged. */
        s->cost_probe = (uint16_t)(d->id + 1);
        router_dispatch(s, argc - 2, argv + 2, lens + 2, NULL, in);
        s->cost_probe = 0;
        return;
    }
    meter_totals t;
    meter_ledger_command(&s->view->meter, d->id, &t);
    req *r = session_queue_req(s);
    cost_map(&r->reply, s->proto, s->view, d->id, in, t.calls ? t.bytes_out / t.calls : 5,
             t.calls ? "average" : "assumed");
    router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
}

void admin_stratus_meter(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                         const size_t *lens)
{
    if (d->local == LOCAL_STRATUS_COST) {
        stratus_cost(s, argc, argv, lens);
        return;
    }
    req *r = session_queue_req(s);
    buf *b = &r->reply;
    if (d->local == LOCAL_STRATUS_RECEIPTS) {
        if (lens[2] == 2 && strncasecmp(argv[2], "on", 2) == 0) {
            s->receipts = 1;
            resp_add_simple(b, "OK");
        } else if (lens[2] == 3 && strncasecmp(argv[2], "off", 3) == 0) {
            s->receipts = 0;
            resp_add_simple(b, "OK");
        } else {
            resp_add_error(b, "ERR STRATUS RECEIPTS takes ON or OFF");
        }
    } else if (d->local == LOCAL_STRATUS_RECEIPT) {
        resp_add_map(b, 5, s->proto);
        resp_add_cstr(b, "command");
        if (s->receipt_calls) {
            const cmd_def *x = cmd_by_id(s->receipt_cmd);
            resp_add_cstr(b, x ? x->name : "?");
        } else {
            resp_add_null(b, s->proto);
        }
        resp_add_cstr(b, "ecpu");
        add_ecpu(b, s->receipt_last);
        kv_int(b, "mecpu", (long long)s->receipt_last);
        kv_int(b, "connection_mecpu", (long long)s->receipt_total);
        kv_int(b, "connection_commands", (long long)s->receipt_calls);
    } else {
        meter_totals t;
        meter_ledger_totals(&s->view->meter, &t);
        uint64_t bytes = atomic_load_explicit(&s->view->meter.storage_bytes, memory_order_relaxed);
        char gbh[48];
        /* GB-hours: byte-seconds / (2^30 bytes x 3600 s). */
        snprintf(gbh, sizeof(gbh), "%.9f", (double)t.storage_byte_s / (1073741824.0 * 3600.0));
        resp_add_map(b, 10, s->proto);
        resp_add_cstr(b, "ecpu");
        add_ecpu(b, t.mecpu);
        kv_int(b, "mecpu", (long long)t.mecpu);
        kv_int(b, "commands", (long long)t.calls);
        kv_int(b, "bytes_in", (long long)t.bytes_in);
        kv_int(b, "bytes_out", (long long)t.bytes_out);
        kv_int(b, "storage_bytes", (long long)bytes);
        resp_add_cstr(b, "storage_gb_hours");
        resp_add_cstr(b, gbh);
        kv_int(b, "throttled", (long long)t.throttled);
        kv_int(b, "rejected", (long long)t.rejected);
        resp_add_cstr(b, "metering");
        resp_add_cstr(b, s->view->meter.on ? "on" : "off");
    }
    router_deliver_final(s->w, r, buf_rptr(b), buf_used(b));
}
