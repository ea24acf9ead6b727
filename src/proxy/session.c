/* Client sessions: read, parse, route, and write replies back in request order.
 *
 *   client ──TLS/TCP──▶ conn ──▶ session.in ──parse──▶ router ──▶ backend.out ──▶ engine
 *                                    │                   │ (one write per loop iteration)
 *                                    │            local commands answered here
 *                                    ▼
 *                          session queue: req1 ─ req2 ─ req3   (one slot per request)
 *                                    ▲
 *   client ◀──────── session.out ◀───┘ replies appended strictly in queue order;
 *                                      a reply for a later req waits in req.reply
 *
 *   engine ──▶ backend.in ──frame scan──▶ in-flight FIFO head ──▶ router_deliver ──▶ queue slot
 *
 * Memory stays bounded: parsing pauses while too many requests are in flight or the output
 * buffer is large, and resumes as replies drain. */
#define ALLOC_ROOM ROOM_PROXY
#include <errno.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "acl/acl_engine.h"
#include "meter/ledger.h"
#include "net/tls.h"
#include "proxy/proxy_int.h"

#define READ_CHUNK 16384
#define READ_BUDGET (256 * 1024)
#define MAX_QUEUED 4096
#define OUT_PAUSE_BYTES (8 * 1024 * 1024)
#define QUERY_BUF_MAX ((size_t)1 << 30)
#define OUT_KEEP 65536
#define ARGV_STACK 64
#define REJECT_GRACE_MS 250
#define OUT_LIMIT_BEFORE_AUTH                                                                      \
    (1024 * 1024)            /* a client not yet authenticated gets only short                     \
                                replies: more unread is an attack */
#define MAXCLIENTS_SLACK 256 /* refused clients told why while in handshake, at most */

static const char maxclients_error[] = "ERR max number of clients reached";

static const resp_limits limits_before_auth = {
    .max_args = 10, .max_bulk = 16384, .max_inline = 16384, .unauthenticated = 1};
static const resp_limits limits_after_auth = {
    .max_args = 1024 * 1024, .max_bulk = 512u * 1024 * 1024, .max_inline = 64 * 1024};

static void on_readable(conn *c);
static void process_loop(session *s);
static void on_writable(conn *c);

static void session_unpause_check(session *s)
{
    if (s->paused && s->queued < MAX_QUEUED / 2 && buf_used(&s->out) < OUT_PAUSE_BYTES / 2) {
        s->paused = 0;
        conn_set_read_handler(s->c, on_readable);
        session_process_input(s);
    }
}

void session_reply_ready(session *s)
{
    while (s->head && (s->head->flags & REQ_F_DONE)) {
        req *r = s->head;
        s->head = r->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        session_append_reply(s, r, buf_rptr(&r->reply), buf_used(&r->reply));
        req_put(s->w, r);
    }
    worker_flush_session(s);
    if (s->held && s->head == s->held) {
        req *r = s->held;
        s->held = NULL;
        router_send(s->w, r);
        return;
    }
    if (s->barrier && s->queued == 0) {
        s->barrier = 0;
        session_process_input(s);
    }
    session_unpause_check(s);
}

void session_write(session *s)
{
    while (buf_used(&s->out)) {
        ssize_t n = conn_write(s->c, buf_rptr(&s->out), buf_used(&s->out));
        if (n > 0) {
            buf_consume(&s->out, (size_t)n);
            continue;
        }
        if (n == -EAGAIN) {
            uint64_t limit = s->view->limits.output_limit;
            if (!s->authed && (!limit || limit > OUT_LIMIT_BEFORE_AUTH))
                limit = OUT_LIMIT_BEFORE_AUTH;
            if (unlikely(limit && buf_used(&s->out) > limit)) {
                /* It does not read its replies: drop it before they use up memory (Redis's
                 * client-output-buffer-limit, hard limit). */
                atomic_fetch_add_explicit(&s->view->counters.output_limit_kills, 1,
                                          memory_order_relaxed);
                log_info("client %s closed: %zu bytes of replies unread, over the output limit "
                         "of %llu (--client-output-limit)",
                         s->addr, buf_used(&s->out), (unsigned long long)limit);
                session_close(s, "output limit");
                return;
            }
            conn_set_write_handler(s->c, on_writable);
            return;
        }
        session_close(s, "write error");
        return;
    }
    buf_shrink(&s->out, OUT_KEEP);
    if (s->c->write_handler)
        conn_set_write_handler(s->c, NULL);
    if (s->closing && s->queued == 0) {
        session_close(s, "closing");
        return;
    }
    session_unpause_check(s);
}

void meter_charge(worker *w, req *r, size_t out)
{
    uint16_t id = (uint16_t)(r->meter_cmd - 1);
    r->meter_cmd = 0;
    uint64_t cpu = atomic_load_explicit(&w->view->meter.cpu_mecpu[id], memory_order_relaxed);
    meter_cost c = meter_price(r->meter_in, out, cpu);
    meter_cell_add(&w->meter[id], c.total, r->meter_in, out);
    if (r->meter_haskey)
        meter_prefix_add(w->prefixes, ARRAY_LEN(w->prefixes), &w->nprefixes, r->meter_prefix,
                         r->meter_plen, c.total, 1);
    meter_ledger *m = &w->view->meter;
    session *s = r->s;
    if (unlikely(m->max_ecpu_s)) {
        pthread_mutex_lock(&m->bucket_lock);
        meter_bucket_take(&m->bucket, c.total, ev_now_ms(w->loop));
        pthread_mutex_unlock(&m->bucket_lock);
    }
    if (unlikely(s && s->quota)) {
        pthread_mutex_lock(&s->quota->lock);
        meter_bucket_take(&s->quota->bucket, c.total, ev_now_ms(w->loop));
        pthread_mutex_unlock(&s->quota->lock);
    }
    if (s) {
        s->receipt_last = c.total;
        s->receipt_total += c.total;
        s->receipt_calls++;
        s->receipt_cmd = id;
    }
}

void session_append_reply(session *s, req *r, const char *data, size_t len)
{
    /* A RESP3 push (subscribe confirmations) is sent even under CLIENT REPLY OFF, as Redis
     * does: it is not a reply. */
    int sent = !(r->flags & REQ_F_NOREPLY) || (len && data[0] == '>');
    view_count_latency(s->view, ev_clock_us() - r->born_us);
    if (r->meter_cmd) {
        meter_charge(s->w, r, sent ? len : 0);
        if (s->receipts && s->proto == 3 && sent) {
            /* RESP3 attribute ahead of the reply: clients that do not know it skip it. */
            buf_appendf(&s->out, "|1\r\n+ecpu\r\n,%llu.%03llu\r\n",
                        (unsigned long long)(s->receipt_last / 1000),
                        (unsigned long long)(s->receipt_last % 1000));
        }
    }
    if (sent)
        buf_append(&s->out, data, len);
}

req *session_queue_req(session *s)
{
    req *r = req_get(s->w);
    r->s = s;
    /* The command's first request carries its cost: its bytes and its type. */
    r->meter_cmd = s->meter_cmd;
    r->meter_in = s->meter_in;
    if (s->meter_cmd && s->meter_haskey) {
        r->meter_haskey = 1;
        r->meter_plen = s->meter_plen;
        memcpy(r->meter_prefix, s->meter_prefix, s->meter_plen);
    }
    s->meter_haskey = 0;
    r->cost_probe = s->cost_probe;
    s->meter_cmd = s->cost_probe = 0;
    s->meter_in = 0;
    r->proto = (uint8_t)s->proto;
    r->born_ms = ev_now_ms(s->w->loop);
    r->born_us = ev_clock_us();
    r->deadline_ms = r->born_ms + (uint64_t)s->view->limits.backend_timeout;
    if (unlikely(s->reply_off || s->reply_skip)) {
        r->flags |= REQ_F_NOREPLY; /* CLIENT REPLY OFF or SKIP */
        if (s->reply_skip)
            s->reply_skip--;
    }
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    s->queued++;
    return r;
}

/* Queue a reply produced by the endpoint itself, in order. */
static void queue_local_error(session *s, const char *msg)
{
    req *r = session_queue_req(s);
    resp_add_error(&r->reply, "%s", msg);
    r->flags |= REQ_F_DONE;
    session_reply_ready(s);
}

void session_process_input(session *s)
{
    /* Replies delivered while dispatching (local commands) may clear a barrier or a pause;
     * the loop below picks that up, so a nested call has nothing to do. */
    if (s->processing)
        return;
    s->processing = 1;
    process_loop(s);
    s->processing = 0;
}

static void process_loop(session *s)
{
    while (!s->closing && !s->dead && !s->paused && !s->throttled_until && buf_used(&s->in)) {
        if (s->barrier && s->queued > 0)
            return;
        size_t consumed = 0;
        int rc = resp_req_parse(&s->parser, buf_rptr(&s->in), buf_used(&s->in), &consumed);
        if (rc == RESP_AGAIN) {
            if (buf_used(&s->in) > QUERY_BUF_MAX) {
                queue_local_error(s, "ERR Protocol error: query buffer limit reached");
                s->closing = 1;
            }
            return;
        }
        if (rc == RESP_ERR && s->reject_error) {
            if (!s->reject_prepaid)
                queue_local_error(s, s->reject_error);
            s->closing = 1;
            buf_consume(&s->in, buf_used(&s->in));
            return;
        }
        if (rc == RESP_ERR) {
            char msg[200];
            snprintf(msg, sizeof(msg), "ERR %s", s->parser.err);
            log_debug("session %llu: %s", (unsigned long long)s->id, s->parser.err);
            queue_local_error(s, msg);
            s->closing = 1;
            buf_consume(&s->in, buf_used(&s->in));
            return;
        }
        size_t argc = s->parser.argc;
        if (argc > 0 && s->reject_error) {
            if (s->reject_prepaid)
                s->reject_prepaid = 0;
            else
                queue_local_error(s, s->reject_error);
        } else if (argc > 0) {
            const char *stack_argv[ARGV_STACK];
            size_t stack_lens[ARGV_STACK];
            const char **argv = stack_argv;
            size_t *lens = stack_lens;
            if (argc > ARGV_STACK) {
                argv = xmalloc(argc * sizeof(*argv));
                lens = xmalloc(argc * sizeof(*lens));
            }
            const char *base = buf_rptr(&s->in);
            for (size_t i = 0; i < argc; i++) {
                argv[i] = resp_req_arg(&s->parser, base, i);
                lens[i] = s->parser.argv[i].len;
            }
            router_dispatch(s, argc, argv, lens, s->parser.is_inline ? NULL : base, consumed);
            if (argv != stack_argv) {
                xfree(argv);
                xfree(lens);
            }
            if (s->redo) {
                /* The command runs once the earlier ones are answered: parsed again then. */
                s->redo = 0;
                s->barrier = 1;
                return;
            }
            if (s->throttled_until)
                return; /* over the ECPU/s limit: parsed again when the worker's tick allows */
        }
        buf_consume(&s->in, consumed);
        if (s->queued >= MAX_QUEUED || buf_used(&s->out) >= OUT_PAUSE_BYTES) {
            s->paused = 1;
            conn_set_read_handler(s->c, NULL);
        }
    }
}

void session_read(session *s)
{
    size_t total = 0;
    while (!s->dead && !s->paused) {
        if (buf_reserve(&s->in, READ_CHUNK) != 0) {
            session_close(s, "out of memory for the query buffer");
            return;
        }
        size_t room = s->in.cap - s->in.len;
        ssize_t n = conn_read(s->c, s->in.data + s->in.len, room);
        if (n > 0) {
            s->in.len += (size_t)n;
            total += (size_t)n;
            /* A short read drained the socket: epoll (level-triggered) reports more bytes, so
             * a second read only to collect EAGAIN would be a wasted syscall per event. */
            if ((size_t)n < room && !conn_has_pending(s->c))
                break;
            if (total >= READ_BUDGET) {
                if (conn_has_pending(s->c) && !s->again) {
                    s->again = 1;
                    s->again_next = s->w->again_sessions;
                    s->w->again_sessions = s;
                    ev_no_wait(s->w->loop);
                }
                break;
            }
            continue;
        }
        if (n == -EAGAIN)
            break;
        session_process_input(s);
        session_close(s, n == 0 ? "client closed" : "read error");
        return;
    }
    session_process_input(s);
}

static void on_readable(conn *c)
{
    session_read(c->data);
}

static void on_ready(conn *c)
{
    session *s = c->data;
    if (c->state != CONN_CONNECTED) {
        if (!s->plaintext_listener)
            atomic_fetch_add_explicit(&s->view->counters.rejected_tls, 1, memory_order_relaxed);
        session_close(s, "handshake failed");
        return;
    }
    conn_local_addr(c, s->local_ip, sizeof(s->local_ip), &s->local_port);
    if (c->plaintext_on_tls || s->over_limit) {
        /* Told why at once (its first command is answered by that), every later command gets
         * the same error for a short while, then it is closed (worker tick): a client that
         * writes before it reads still sees the reason rather than a reset. */
        s->reject_error = c->plaintext_on_tls ? tls_plaintext_error : maxclients_error;
        s->close_at_ms = ev_now_ms(s->w->loop) + REJECT_GRACE_MS;
        if (c->plaintext_on_tls)
            atomic_fetch_add_explicit(&s->view->counters.rejected_tls, 1, memory_order_relaxed);
        queue_local_error(s, s->reject_error);
        s->reject_prepaid = 1;
    }
    conn_set_read_handler(c, on_readable);
}

/* "ip:port", or "[ip]:port" for IPv6, as Redis prints addresses. */
static void format_addr(char *out, size_t n, const char *ip, int port)
{
    snprintf(out, n, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
}

void session_accept(worker *w, int fd, int plaintext, int reader)
{
    session *s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->view = w->view;
    s->proto = 2;
    s->multi_slot = -1;
    s->id = w->next_session_id;
    w->next_session_id += 64; /* ids stay unique across up to 64 workers */
    s->plaintext_listener = plaintext;
    s->reader = reader;
    s->last_ms = ev_now_ms(w->loop);
    s->last_cmd = "NULL";
    resp_req_parser_init(&s->parser, &limits_before_auth);
    s->c = conn_create_accepted(w->loop, fd, plaintext ? &conn_type_tcp : &conn_type_tls);
    s->c->data = s;
    s->c->write_handler = NULL;
    s->c->deadline_ms = s->c->created_ms + (uint64_t)w->view->limits.handshake_timeout;
    s->born_ms = s->last_ms;
    char ip[64];
    int port = 0;
    if (conn_peer_addr(s->c, ip, sizeof(ip), &port) == 0) {
        format_addr(s->addr, sizeof(s->addr), ip, port);
        snprintf(s->src, sizeof(s->src), "%s", ip);
    }
    if (conn_local_addr(s->c, ip, sizeof(ip), &port) == 0)
        format_addr(s->laddr, sizeof(s->laddr), ip, port);
    s->list_next = w->sessions;
    if (w->sessions)
        w->sessions->list_prev = s;
    w->sessions = s;
    int64_t now_open =
        atomic_fetch_add_explicit(&s->view->counters.connected_clients, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->view->counters.total_connections, 1, memory_order_relaxed);
    if (unlikely(now_open >= w->view->limits.maxclients)) {
        atomic_fetch_add_explicit(&s->view->counters.rejected_conns, 1, memory_order_relaxed);
        if (now_open >= w->view->limits.maxclients + MAXCLIENTS_SLACK) {
            /* A flood: no handshake spent on telling it why. */
            session_close(s, "max clients");
            return;
        }
        s->over_limit = 1;
    }
    conn_accept(s->c, on_ready);
}

void session_expire(session *s, const char *why, const char *err)
{
    if (err && s->c->state == CONN_CONNECTED && !s->reject_error) {
        /* One best-effort write: a client that does not read is not waited for. */
        buf_appendf(&s->out, "-%s\r\n", err);
        conn_write(s->c, buf_rptr(&s->out), buf_used(&s->out));
    }
    session_close(s, why);
}

int session_check_deadlines(session *s, uint64_t now)
{
    const view_limits *limits = &s->view->limits;
    if (s->c->state == CONN_HANDSHAKE) {
        if (now > s->c->deadline_ms)
            session_close(s, "TLS handshake timeout");
        return 0;
    }
    if (s->reject_error) {
        if (!s->closing && now > s->close_at_ms) {
            s->closing = 1;
            worker_flush_session(s);
        }
        return 0;
    }
    if (!s->authed && now > s->born_ms + (uint64_t)limits->auth_timeout) {
        atomic_fetch_add_explicit(&s->view->counters.auth_timeouts, 1, memory_order_relaxed);
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "ERR authentication timeout: AUTH must succeed within %ld ms of connecting "
                 "(--auth-timeout)",
                 limits->auth_timeout);
        session_expire(s, "auth timeout", msg);
        return 0;
    }
    if (limits->idle_timeout && s->queued == 0 && !s->subscribed && !s->closing &&
        now > s->last_ms + (uint64_t)limits->idle_timeout * 1000) {
        /* As Redis's `timeout`: closed without a word; a blocked or subscribed client is
         * never idle. */
        atomic_fetch_add_explicit(&s->view->counters.idle_kills, 1, memory_order_relaxed);
        session_close(s, "idle timeout");
        return 0;
    }
    if (s->throttled_until && now >= s->throttled_until) {
        s->throttled_until = 0; /* its wait for the ECPU/s limit is over */
        session_process_input(s);
    }
    return s->throttled_until != 0;
}

void session_authenticated(session *s, const acl_user *u, uint64_t version)
{
    s->authed = 1;
    xfree(s->user_name);
    s->user_name = xstrdup(u->name);
    s->user = u;
    s->acl_version = version;
    s->quota = meter_ledger_quota(&s->view->meter, u->name);
    s->parser.limits = limits_after_auth;
    /* Its commands reach the engines as its user, so Redis checks what its scripts do. */
    buf name;
    buf_init(&name);
    acl_engine_user_name(u->name, strlen(u->name), &name);
    buf_append(&name, "", 1);
    ident *old = s->ident;
    s->ident = ident_get(s->w, buf_rptr(&name));
    ident_put(s->w, old);
    buf_deinit(&name);
}

const char *session_engine_user(const session *s)
{
    return s->ident ? s->ident->user : "-";
}

void session_deauthenticate(session *s)
{
    s->authed = 0;
    xfree(s->user_name);
    s->user_name = NULL;
    s->quota = NULL;
    s->user = NULL;
    ident_put(s->w, s->ident);
    s->ident = NULL;
    s->parser.limits = limits_before_auth;
    s->born_ms = ev_now_ms(s->w->loop); /* --auth-timeout starts again */
}

void session_close(session *s, const char *why)
{
    if (s->dead)
        return;
    log_debug("session %llu: closed (%s)", (unsigned long long)s->id, why);
    s->dead = 1;
    pause_session_gone(s);
    worker *w = s->w;
    if (s->again) {
        for (session **pp = &w->again_sessions; *pp; pp = &(*pp)->again_next) {
            if (*pp == s) {
                *pp = s->again_next;
                break;
            }
        }
        s->again = 0;
    }
    /* Requests still waiting for engines become orphans: their replies are dropped on arrival. */
    while (s->head) {
        req *r = s->head;
        s->head = r->next;
        r->next = NULL;
        int waiting = (r->flags & (REQ_F_INQUEUE | REQ_F_RETRY | REQ_F_ACL_WAIT)) || r->pending > 0;
        if ((r->flags & REQ_F_DONE) || !waiting)
            req_put(w, r);
        else
            r->s = NULL;
    }
    s->tail = NULL;
    s->queued = 0;
    s->held = NULL;
    ident_put(w, s->ident); /* requests still out hold it themselves */
    s->ident = NULL;
    buf_deinit(&s->multi_cmds);
    pubsub_release(s);
    if (s->priv) {
        backend_destroy_private(s->priv);
        s->priv = NULL;
    }
    if (s->list_prev)
        s->list_prev->list_next = s->list_next;
    else
        w->sessions = s->list_next;
    if (s->list_next)
        s->list_next->list_prev = s->list_prev;
    s->list_prev = s->list_next = NULL;
    s->list_next = w->dead_sessions;
    w->dead_sessions = s;
    atomic_fetch_sub_explicit(&s->view->counters.connected_clients, 1, memory_order_relaxed);
    worker_defer_free_conn(w, s->c);
}

void session_free_all(worker *w)
{
    while (w->dead_sessions) {
        session *s = w->dead_sessions;
        w->dead_sessions = s->list_next;
        resp_req_parser_deinit(&s->parser);
        buf_deinit(&s->in);
        buf_deinit(&s->out);
        xfree(s->name);
        xfree(s->user_name);
        buf_deinit(&s->ps_hold_home);
        buf_deinit(&s->ps_hold_other);
        buf_deinit(&s->ks_replay);
        xfree(s);
    }
}

static void on_writable(conn *c)
{
    session *s = c->data;
    session_write(s);
}
