/* Backend links: one multiplexed, pipelined connection per (worker, engine identity, engine,
 * protocol). Requests of many sessions are appended to out in order and written once per loop
 * iteration; replies are matched to the in-flight FIFO by frame boundaries. The link
 * authenticates as its engine user (a cache user's "u:<name>", or the endpoint's own) with the
 * endpoint's link password, and switches to RESP3 when it serves RESP3 sessions, by pipelining
 * AUTH/HELLO ahead of the first request: no extra round trip. */
#define ALLOC_ROOM ROOM_PROXY
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "proxy/proxy_int.h"

#define BACKEND_READ_CHUNK 65536
#define BACKEND_KEEP 65536
#define RECONNECT_MS 50

static void give_share(backend *b);

backend *backend_create(worker *w, const char *addr, int proto, const char *user)
{
    backend *b = xcalloc(1, sizeof(*b));
    b->w = w;
    b->proto = proto;
    b->user = xstrdup(user);
    snprintf(b->addr, sizeof(b->addr), "%s", addr);
    resp_reply_scanner_init(&b->scan);
    return b;
}

int backend_idle(const backend *b)
{
    return b->head == NULL;
}

/* A code link's requests out: the view counts the code links that have some. */
static void code_out(backend *b, int delta)
{
    if (b->code)
        atomic_fetch_add_explicit(&b->w->view->code_links_out, delta, memory_order_relaxed);
}

static void unlink_all(backend *b, req **list)
{
    *list = b->head;
    if (b->inflight)
        code_out(b, -1);
    b->head = b->tail = NULL;
    b->inflight = 0;
}

/* The connection is unusable: settle every in-flight request by what is safe. */
static void backend_lost(backend *b, const char *why, int timed_out)
{
    worker *w = b->w;
    if (b->c) {
        worker_defer_free_conn(w, b->c);
        b->c = NULL;
    }
    b->connected = 0;
    b->engine_id = 0; /* a new connection is a new engine client */
    b->next_connect_ms = ev_now_ms(w->loop) + RECONNECT_MS;
    uint64_t written = b->written_bytes;
    int partial = buf_used(&b->in) > 0; /* the first request's reply had begun */
    buf_consume(&b->out, buf_used(&b->out));
    buf_shrink(&b->out, BACKEND_KEEP);
    buf_consume(&b->in, buf_used(&b->in));
    buf_shrink(&b->in, BACKEND_KEEP);
    resp_reply_scanner_init(&b->scan);
    b->queued_bytes = b->written_bytes = 0;
    req *list;
    unlink_all(b, &list);
    int failed = 0;
    req *again_head = NULL, *again_tail = NULL;
    while (list) {
        req *r = list;
        list = r->bnext;
        r->bnext = NULL;
        r->flags &= (uint32_t)~REQ_F_INQUEUE;
        if (r->flags & REQ_F_DISCARD) {
            if ((r->flags & REQ_F_ACK) && r->ack) {
                req *wr = r->ack;
                req_put(w, r); /* unlinks both */
                router_fail(w, wr,
                            "ERR the write was applied on the primary, but the connection was "
                            "lost before a replica confirmed it (--durability sync); it may be "
                            "lost if that primary failed");
                continue;
            }
            req_put(w, r);
            continue;
        }
        if (r->ack && (r->ack->flags & REQ_F_ACK)) {
            /* Its WAIT goes with this link; a resent write gets a new one. (An ACL LOG read
             * keeps the reply it holds: it is sent again, or fails, and hands it on then.) */
            r->ack->ack = NULL;
            r->ack = NULL;
        }
        /* A request never fully written cannot have run; a read-only one is safe to repeat. A
         * blocked command that got no reply has taken nothing (a pop answers at once): it
         * blocks again on the new primary for the time it has left, so a failover never shows
         * through as an error (or as UNBLOCKED) to a queue consumer. */
        int unsent = r->boff > written;
        int blocked = (r->flags & REQ_F_BLOCKING) && !(r->flags & REQ_F_WAIT) && !partial;
        partial = 0;
        if (blocked && !unsent)
            router_reblock(w, r);
        if (unsent || blocked || ((r->flags & REQ_F_READONLY) && !timed_out)) {
            if (again_tail)
                again_tail->bnext = r;
            else
                again_head = r;
            again_tail = r;
            continue;
        }
        failed++;
        router_fail(w, r, "ERR %s; the command may or may not have been applied", why);
    }
    /* A subscriber's subscriptions died with the link: it must reconnect and subscribe again,
     * which closing it tells it (a silent loss of messages would be worse). */
    if (b->owner && b->owner->subscribed && pubsub_link_lost(b->owner, b) != 0)
        worker_doom_session(b->owner);
    /* They were sent before anything now waiting in the retry queue: they go first. */
    if (again_head)
        worker_retry_first(w, again_head, again_tail);
    if (failed) {
        atomic_fetch_add_explicit(&w->view->counters.backend_errors, failed, memory_order_relaxed);
        log_warn("worker %d: engine %s: %s (%d request(s) failed)", w->id, b->addr, why, failed);
    }
}

void backend_destroy(backend *b)
{
    if (!b)
        return;
    /* A link written to in this iteration is on the flush list: take it off. */
    if (b->dirty) {
        for (backend **pp = &b->w->flush_backends; *pp; pp = &(*pp)->flush_next) {
            if (*pp == b) {
                *pp = b->flush_next;
                break;
            }
        }
        b->dirty = 0;
    }
    if (b->head)
        backend_lost(b, "shutting down", 1);
    if (b->c) {
        worker_defer_free_conn(b->w, b->c);
        b->c = NULL;
    }
    buf_deinit(&b->out);
    buf_deinit(&b->in);
    give_share(b);
    xfree(b->user);
    xfree(b);
}

static void append_req(backend *b, req *r)
{
    r->bnext = NULL;
    if (b->tail)
        b->tail->bnext = r;
    else
        b->head = r;
    b->tail = r;
    if (b->inflight++ == 0)
        code_out(b, 1);
    r->flags |= REQ_F_INQUEUE;
    r->boff = b->queued_bytes;
}

static req *queue_internal(backend *b, const char *const *argv, size_t argc)
{
    size_t lens[4];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    size_t before = buf_used(&b->out);
    resp_add_command(&b->out, argc, argv, lens);
    b->queued_bytes += buf_used(&b->out) - before;
    req *r = req_get(b->w);
    r->flags = REQ_F_DISCARD;
    append_req(b, r);
    return r;
}

static void on_backend_readable(conn *c);

static void on_connected(conn *c)
{
    backend *b = c->data;
    if (c->state != CONN_CONNECTED) {
        char why[160];
        snprintf(why, sizeof(why), "cannot connect to engine: %s", strerror(-c->err));
        backend_lost(b, why, 0);
        return;
    }
    b->connected = 1;
    conn_set_read_handler(c, on_backend_readable);
    worker_flush_backend(b);
}

static int ensure_connected(backend *b)
{
    if (b->c)
        return 0;
    worker *w = b->w;
    uint64_t now = ev_now_ms(w->loop);
    if (now < b->next_connect_ms)
        return -EAGAIN;
    int err = 0;
    /* AUTH (and HELLO 3) go first; they are queued before the connect completes. */
    const char *auth[] = {"AUTH", b->user, w->view->proxy_password};
    queue_internal(b, auth, 3)->flags |= REQ_F_LINK_AUTH;
    if (b->proto == 3) {
        const char *hello[] = {"HELLO", "3"};
        queue_internal(b, hello, 2);
    }
    /* A replica serves reads (the reader port's) only to a connection that said READONLY; on a
     * primary it changes nothing. */
    const char *readonly[] = {"READONLY"};
    queue_internal(b, readonly, 1);
    if (b->owner) {
        /* The engine's id for this connection is what CLIENT UNBLOCK names (clients.c). */
        const char *client_id[] = {"CLIENT", "ID"};
        queue_internal(b, client_id, 2)->flags |= REQ_F_LINK_ID;
    }
    conn *c = conn_connect(w->loop, b->addr, on_connected, &err);
    if (!c) {
        req *list;
        unlink_all(b, &list);
        while (list) {
            req *r = list;
            list = r->bnext;
            req_put(w, r);
        }
        buf_consume(&b->out, buf_used(&b->out));
        b->queued_bytes = b->written_bytes = 0;
        b->next_connect_ms = now + RECONNECT_MS;
        return err;
    }
    c->data = b;
    b->c = c;
    if (c->state == CONN_CONNECTED && !b->connected) {
        b->connected = 1;
        conn_set_read_handler(c, on_backend_readable);
    }
    return 0;
}

int backend_send(backend *b, req *r)
{
    /* An unreachable engine (restarting?) is the caller's to retry, until the deadline. */
    if (ensure_connected(b) != 0)
        return -EAGAIN;
    size_t before = buf_used(&b->out);
    if (r->flags & REQ_F_ASKING) {
        static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
        buf_append(&b->out, asking, sizeof(asking) - 1);
        b->queued_bytes += sizeof(asking) - 1;
        req *a = req_get(b->w);
        a->flags = REQ_F_DISCARD;
        append_req(b, a);
        before = buf_used(&b->out);
    }
    /* Replies that come before this request's own (MULTI's OK, each QUEUED) are dropped. */
    for (uint32_t i = 0; i < r->preamble; i++) {
        req *p = req_get(b->w);
        p->flags = REQ_F_DISCARD;
        p->preamble_of = r; /* answered just before r, so r is still in flight then */
        append_req(b, p);
    }
    buf_append(&b->out, buf_rptr(&r->cmd), buf_used(&r->cmd));
    b->queued_bytes += buf_used(&b->out) - before;
    append_req(b, r);
    r->boff = b->queued_bytes;
    /* --durability sync: WAIT 1 right behind a write; its reply is held until the WAIT says a
     * replica has it (reads, blocking commands, pub/sub and WAIT itself need none). */
    if (b->w->view->sync_writes &&
        !(r->flags & (REQ_F_READONLY | REQ_F_BLOCKING | REQ_F_PUBSUB | REQ_F_WAIT | REQ_F_OOB))) {
        char ms[24];
        snprintf(ms, sizeof(ms), "%ld", b->w->view->limits.backend_timeout / 2);
        const char *wait[] = {"WAIT", "1", ms};
        req *a = queue_internal(b, wait, 3);
        a->flags |= REQ_F_ACK;
        a->ack = r;
        r->ack = a;
    }
    worker_flush_backend(b);
    return 0;
}

static void backend_write_cb(conn *c)
{
    backend_write(c->data);
}

void backend_write(backend *b)
{
    if (!b->c || !b->connected)
        return;
    while (buf_used(&b->out)) {
        ssize_t n = conn_write(b->c, buf_rptr(&b->out), buf_used(&b->out));
        if (n > 0) {
            buf_consume(&b->out, (size_t)n);
            b->written_bytes += (uint64_t)n;
            continue;
        }
        if (n == -EAGAIN) {
            conn_set_write_handler(b->c, backend_write_cb);
            return;
        }
        backend_lost(b, "engine connection lost", 0);
        return;
    }
    buf_shrink(&b->out, BACKEND_KEEP);
    if (b->c->write_handler)
        conn_set_write_handler(b->c, NULL);
}

/* The engine refused a write at its maxmemory with nothing left to evict: the cache is at its
 * --max-storage, and the client is told so in those terms. */
static void storage_limit_reached(worker *w, req *r)
{
    const char *ev = w->view->eviction;
    const char *why = strncmp(ev, "volatile-", 9) == 0
                          ? "keys without a TTL are never evicted; delete keys, give keys a TTL, "
                            "choose an allkeys- eviction policy, or raise the limit"
                      : strcmp(ev, "noeviction") == 0
                          ? "no key is ever evicted; delete keys, choose an eviction policy, or "
                            "raise the limit"
                          : "nothing could be evicted to make room for this write; delete keys "
                            "or raise the limit";
    char msg[400];
    int n = snprintf(msg, sizeof(msg),
                     "-OOM storage limit of cache %s reached (--max-storage %llu bytes, eviction "
                     "%s): %s\r\n",
                     w->view->name, (unsigned long long)w->view->max_storage, ev, why);
    router_deliver(w, r, msg, (size_t)MIN((size_t)n, sizeof(msg) - 1));
}

static int is_redirect_or_retry(const char *p, size_t n)
{
    static const char *const prefixes[] = {
        "-MOVED ",      "-ASK ",       "-TRYAGAIN", "-LOADING",
        "-CLUSTERDOWN", "-MASTERDOWN", "-NOSCRIPT", "-UNBLOCKED force unblock",
        "-NOREPLICAS"};
    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++) {
        size_t pl = strlen(prefixes[i]);
        if (n >= pl && memcmp(p, prefixes[i], pl) == 0)
            return 1;
    }
    return 0;
}

/* r's frame arrives after one of its preamble's commands was refused (its error is in r->reply).
 * When that aborted a MULTI batch (EXECABORT), nothing ran: a redirection or a transient refusal
 * sends the whole batch again, and a batch of the endpoint's own gets the refusal itself as its
 * reply. 1 when r was dealt with, 0 to handle frame as usual. */
static int preamble_refused(worker *w, req *r, const char *frame, size_t flen)
{
    buf err = r->reply;
    buf_init(&r->reply);
    int aborted = flen >= 10 && memcmp(frame, "-EXECABORT", 10) == 0;
    int done = 1;
    if (aborted && is_redirect_or_retry(buf_rptr(&err), buf_used(&err)))
        router_on_error_reply(w, r, buf_rptr(&err), buf_used(&err));
    else if (aborted && (r->flags & REQ_F_OWN_MULTI))
        router_deliver(w, r, buf_rptr(&err), buf_used(&err));
    else
        done = 0;
    buf_deinit(&err);
    return done;
}

/* The WAIT 1 behind a write (--durability sync) answered: the write's held reply goes out when
 * a replica has it, else an error that says the write ran but may not survive a failover. */
static void ack_reply(worker *w, req *a, const char *frame, size_t flen)
{
    req *wr = a->ack;
    req_put(w, a); /* unlinks both */
    if (!wr)
        return;
    if (frame[0] == ':' && flen > 1 && frame[1] != '0' && frame[1] != '-') {
        buf held = wr->reply;
        buf_init(&wr->reply);
        router_deliver(w, wr, buf_rptr(&held), buf_used(&held));
        buf_deinit(&held);
        return;
    }
    buf_consume(&wr->reply, buf_used(&wr->reply));
    router_fail(w, wr,
                "ERR the write was applied on the primary, but no replica confirmed it within "
                "%ld ms (--durability sync); it may be lost if that primary fails now",
                w->view->limits.backend_timeout / 2);
}

static void on_backend_readable(conn *c)
{
    backend *b = c->data;
    worker *w = b->w;
    if (b->dropped)
        return;
    for (;;) {
        if (buf_reserve(&b->in, BACKEND_READ_CHUNK) != 0) {
            backend_lost(b, "out of memory reading an engine reply", 0);
            return;
        }
        ssize_t n = conn_read(c, b->in.data + b->in.len, b->in.cap - b->in.len);
        if (n > 0) {
            b->in.len += (size_t)n;
            if ((size_t)n < BACKEND_READ_CHUNK)
                break;
            continue;
        }
        if (n == -EAGAIN)
            break;
        backend_lost(b, n == 0 ? "engine closed the connection" : "engine connection lost", 0);
        return;
    }
    size_t off = 0, avail = buf_used(&b->in);
    const char *base = buf_rptr(&b->in);
    while (off < avail) {
        if (b->dropped) {
            off = avail; /* let go of while its replies were delivered (RESET): nothing more */
            break;
        }
        size_t flen = 0;
        int rc = resp_reply_scan(&b->scan, base + off, avail - off, &flen);
        if (rc == RESP_AGAIN)
            break;
        if (rc == RESP_DONE && !b->head && b->owner && b->passthrough) {
            /* Pub/sub: confirmations and messages belong to no request; in order, to the
             * client. */
            const char *frame = base + off;
            off += flen;
            pubsub_passthrough(b, frame, flen);
            continue;
        }
        if (rc == RESP_ERR || !b->head) {
            buf_consume(&b->in, off);
            backend_lost(
                b, rc == RESP_ERR ? "protocol error from engine" : "unexpected engine reply", 0);
            return;
        }
        req *r = b->head;
        b->head = r->bnext;
        if (!b->head)
            b->tail = NULL;
        if (--b->inflight == 0)
            code_out(b, -1);
        r->bnext = NULL;
        r->flags &= (uint32_t)~REQ_F_INQUEUE;
        const char *frame = base + off;
        off += flen;
        if (r->flags & REQ_F_ACK) {
            ack_reply(w, r, frame, flen);
            continue;
        }
        int has_wait = r->ack && (r->ack->flags & REQ_F_ACK); /* --durability sync */
        if (has_wait && frame[0] != '-' && !buf_used(&r->reply)) {
            /* A write's reply waits for its WAIT's (the next frame on this link). */
            buf_append(&r->reply, frame, flen);
            continue;
        }
        if (has_wait) {
            /* Refused or redirected: nothing ran, and its WAIT has nothing to confirm. */
            r->ack->ack = NULL;
            r->ack = NULL;
        }
        if ((r->flags & REQ_F_LINK_AUTH) && frame[0] == '-') {
            /* The engine does not know this link's user yet (a user just created, an engine
             * that has just started and is being given the cache's users): nothing behind the
             * AUTH ran, so every request on the link is sent again once it connects anew. */
            req_put(w, r);
            uint64_t now = ev_now_ms(w->loop);
            if (now - w->auth_warned_ms > 10000) {
                w->auth_warned_ms = now;
                log_warn("worker %d: engine %s refused user %s: %.*s; retrying", w->id, b->addr,
                         b->user, (int)MIN(flen, 120), frame);
            }
            buf_consume(&b->in, buf_used(&b->in));
            b->written_bytes = 0; /* every request counts as never sent */
            backend_lost(b, "the engine refused the link's user", 0);
            return;
        }
        if (r->flags & REQ_F_DISCARD) {
            if ((r->flags & REQ_F_LINK_ID) && frame[0] == ':')
                b->engine_id = strtoull(frame + 1, NULL, 10);
            /* A preamble's error is kept in its request's (still empty) reply buffer. */
            if (frame[0] == '-' && r->preamble_of && !buf_used(&r->preamble_of->reply))
                buf_append(&r->preamble_of->reply, frame, flen);
            else if (frame[0] == '-' && !r->preamble_of)
                log_warn("worker %d: engine %s refused a link setup command: %.*s", w->id, b->addr,
                         (int)MIN(flen, 120), frame);
            req_put(w, r);
            continue;
        }
        if (buf_used(&r->reply) && preamble_refused(w, r, frame, flen))
            continue;
        if (frame[0] == '-' && (is_redirect_or_retry(frame, flen) ||
                                (flen > 4 && memcmp(frame, "-OOM", 4) == 0 &&
                                 atomic_load_explicit(&w->view->oom_absorb, memory_order_relaxed))))
            router_on_error_reply(w, r, frame, flen);
        else if (unlikely(w->view->max_storage) && flen > 4 && memcmp(frame, "-OOM", 4) == 0)
            storage_limit_reached(w, r);
        else {
            if (unlikely(frame[0] == '-') && admin_acl_engine_denial(w, r, b->addr, frame, flen))
                continue; /* a script's: delivered once its ACL LOG entry is logged */
            router_deliver(w, r, frame, flen);
        }
    }
    buf_consume(&b->in, off);
    if (buf_used(&b->in) == 0)
        buf_shrink(&b->in, BACKEND_KEEP);
    if (b->retired && !b->head && b->c) {
        worker_defer_free_conn(w, b->c);
        b->c = NULL;
    }
}

/* The session's private link to addr under user (created or re-created as needed); NULL with
 * *limited set when the cache's limit of private links is reached. */
backend *backend_private(session *s, const char *addr, int proto, const char *user, int *limited)
{
    *limited = 0;
    backend *b = s->priv;
    if (b && b->proto == proto && strcmp(b->addr, addr) == 0 && strcmp(b->user, user) == 0)
        return b;
    if (b && b->passthrough) {
        *limited = 2; /* its subscriptions live on this link */
        return NULL;
    }
    if (b) {
        /* Often reached from this very link's read callback (its reply let the session's next
         * blocking command go out): the link is closed in before_sleep, not here. */
        backend_drop_private(b);
        s->priv = NULL;
    }
    b = backend_create_private(s, addr, proto, user, limited);
    s->priv = b;
    return b;
}

backend *backend_create_private(session *s, const char *addr, int proto, const char *user,
                                int *limited)
{
    /* The share is the client's user's, whatever engine user the link runs as (WAIT's is the
     * endpoint's): one user's clients cannot hold every private link of the cache. */
    const char *share = s->user_name ? s->user_name : "";
    int rc = view_link_take(s->view, share);
    if (rc != 0) {
        *limited = rc == -EDQUOT ? 3 : 1;
        return NULL;
    }
    backend *b = backend_create(s->w, addr, proto, user);
    b->owner = s;
    b->share = xstrdup(share);
    return b;
}

void backend_limited_error(const session *s, int limited, char *out, size_t outlen)
{
    const proxy_view *c = s->view;
    if (limited == 3)
        snprintf(out, outlen,
                 "ERR too many clients of user '%s' in blocking commands, WATCH or subscriptions "
                 "on this cache (each user may hold %ld of its %ld, --max-blocking-per-user); "
                 "retry later or raise the limit",
                 s->user_name ? s->user_name : "", c->limits.max_blocking_per_user,
                 c->limits.max_blocking_clients);
    else
        snprintf(out, outlen,
                 "ERR too many clients in blocking commands, WATCH or subscriptions on this cache "
                 "(limit %ld, --max-blocking-clients); retry later or raise the limit",
                 c->limits.max_blocking_clients);
}

/* Give back the private link share b holds (once). */
static void give_share(backend *b)
{
    if (!b->share)
        return;
    view_link_give(b->w->view, b->share);
    xfree(b->share);
    b->share = NULL;
}

/* Close a private link at once: its requests belong to a session that is gone or moving on,
 * and closing is what tells the engine to unblock the command without serving it. */
void backend_destroy_private(backend *b)
{
    worker *w = b->w;
    req *list;
    unlink_all(b, &list);
    while (list) {
        req *r = list;
        list = r->bnext;
        r->bnext = NULL;
        r->flags &= (uint32_t)~REQ_F_INQUEUE;
        if ((r->flags & REQ_F_DISCARD) || !r->s)
            req_put(w, r);
        else
            router_fail(w, r, "ERR the blocking command was cancelled");
    }
    give_share(b); /* a dropped link gave it back when it was dropped */
    b->owner = NULL;
    backend_destroy(b);
}

/* Let go of a session's private link at a moment its own read callback may be running (RESET,
 * or a blocking command for another shard, right after a reply of this link): it stops passing
 * anything on now and is closed in before_sleep. */
void backend_drop_private(backend *b)
{
    give_share(b);
    b->owner = NULL;
    b->passthrough = 0;
    b->dropped = 1;
    b->dropped_next = b->w->dropped_links;
    b->w->dropped_links = b;
}

void backend_reap_dropped(worker *w)
{
    while (w->dropped_links) {
        backend *b = w->dropped_links;
        w->dropped_links = b->dropped_next;
        backend_destroy_private(b);
    }
}

int backend_send_passthrough(backend *b, const char *data, size_t len)
{
    if (ensure_connected(b) != 0)
        return -EAGAIN;
    buf_append(&b->out, data, len);
    b->queued_bytes += len;
    b->passthrough = 1;
    worker_flush_backend(b);
    return 0;
}

void backend_check_deadline(backend *b, uint64_t now)
{
    req *r = b->head;
    while (r && (r->flags & REQ_F_DISCARD))
        r = r->bnext;
    /* A blocking command waits as long as its own timeout says, and a script or function runs
     * as long as it runs (Redis sets it no limit; past busy-reply-threshold the engine answers
     * others -BUSY and SCRIPT KILL ends it): neither has an engine deadline. A dead engine
     * closes the link, a frozen one is failed over. */
    if (r && (r->flags & (REQ_F_BLOCKING | REQ_F_RUNS_CODE)))
        return;
    if (r && r->deadline_ms && now > r->deadline_ms) {
        char why[128];
        snprintf(why, sizeof(why), "engine did not answer within %ld ms",
                 b->w->view->limits.backend_timeout);
        backend_lost(b, why, 1);
    }
}
