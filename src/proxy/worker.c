/* Worker thread: event loop, listeners, per-iteration batching, backend link table, retries.
 *
 * Each iteration: epoll events are handled (client input parsed and routed, engine replies
 * matched), then before_sleep writes every dirty backend once and every dirty session once,
 * so requests of many clients read in one iteration reach an engine in one write. */
#define ALLOC_ROOM ROOM_PROXY
#include "proxy/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/alloc.h"
#include "acl/acl_engine.h"
#include "meter/ledger.h"
#include "common/compiler.h"
#include "common/log.h"
#include "net/sock.h"
#include "proxy/proxy_int.h"

#define TICK_MS 10
#define SCAN_MS 100
#define ACCEPT_PAUSE_MS 100
#define REQ_POOL_MAX 4096
#define REQ_BUF_KEEP 4096

struct worker_pool {
    int n;
    int running; /* threads started */
    worker *workers;
    pthread_t *threads;
};

/* ---- request pool ---- */

req *req_get(worker *w)
{
    req *r = w->free_reqs;
    if (r) {
        w->free_reqs = r->next;
        w->nfree_reqs--;
        buf cmd = r->cmd, reply = r->reply;
        memset(r, 0, sizeof(*r));
        r->cmd = cmd;
        r->reply = reply;
        return r;
    }
    r = xcalloc(1, sizeof(*r));
    return r;
}

void req_put(worker *w, req *r)
{
    xfree(r->note);
    r->note = NULL;
    if (r->ident) {
        ident_put(w, r->ident);
        r->ident = NULL;
    }
    if (r->ack) {
        r->ack->ack = NULL;
        r->ack = NULL;
    }
    for (uint32_t i = 0; i < r->nchildren; i++)
        req_put(w, r->children[i]);
    xfree(r->children);
    xfree(r->key_map);
    r->children = NULL;
    r->key_map = NULL;
    r->nchildren = 0;
    if (r->job) {
        client_job_free(r->job);
        r->job = NULL;
    }
    if (w->nfree_reqs >= REQ_POOL_MAX) {
        buf_deinit(&r->cmd);
        buf_deinit(&r->reply);
        xfree(r);
        return;
    }
    buf_consume(&r->cmd, buf_used(&r->cmd));
    buf_consume(&r->reply, buf_used(&r->reply));
    buf_shrink(&r->cmd, REQ_BUF_KEEP);
    buf_shrink(&r->reply, REQ_BUF_KEEP);
    r->next = w->free_reqs;
    w->free_reqs = r;
    w->nfree_reqs++;
}

/* Free r at once, bypassing the pool: for requests whose worker has stopped. */
void req_free(req *r)
{
    xfree(r->note);
    for (uint32_t i = 0; i < r->nchildren; i++)
        req_free(r->children[i]);
    xfree(r->children);
    xfree(r->key_map);
    if (r->job)
        client_job_free(r->job);
    buf_deinit(&r->cmd);
    buf_deinit(&r->reply);
    xfree(r);
}

session *req_session(const req *r)
{
    return r->parent ? r->parent->s : r->s;
}

/* Put requests (linked by bnext, oldest first) ahead of everything waiting: they were sent to
 * an engine before anything now in the queue, so they must be retried first. */
void worker_retry_first(worker *w, req *head, req *tail)
{
    uint64_t at = ev_now_ms(w->loop) + RETRY_DELAY_MS;
    for (req *r = head; r; r = r->bnext) {
        r->retry_at_ms = at;
        r->flags |= REQ_F_RETRY;
        session *s = req_session(r);
        if (s)
            s->retrying++;
        if (r == tail)
            break;
    }
    tail->bnext = w->retry_head;
    if (!w->retry_head)
        w->retry_tail = tail;
    w->retry_head = head;
}

/* Queue r behind everything waiting; process_retries keeps each session's order. */
void worker_retry_later(worker *w, req *r)
{
    r->retry_at_ms = ev_now_ms(w->loop) + RETRY_DELAY_MS;
    r->flags |= REQ_F_RETRY;
    r->bnext = NULL;
    if (w->retry_tail)
        w->retry_tail->bnext = r;
    else
        w->retry_head = r;
    w->retry_tail = r;
    session *s = req_session(r);
    if (s)
        s->retrying++;
}

/* ---- flush lists ---- */

void worker_flush_session(session *s)
{
    if (s->dirty || s->dead)
        return;
    s->dirty = 1;
    s->flush_next = s->w->flush_sessions;
    s->w->flush_sessions = s;
}

void worker_flush_backend(backend *b)
{
    if (b->dirty)
        return;
    b->dirty = 1;
    b->flush_next = b->w->flush_backends;
    b->w->flush_backends = b;
}

void worker_defer_free_conn(worker *w, conn *c)
{
    conn_close(c);
    if (w->ndead == w->dead_cap) {
        w->dead_cap = w->dead_cap ? w->dead_cap * 2 : 64;
        w->dead_conns = xrealloc(w->dead_conns, (size_t)w->dead_cap * sizeof(conn *));
    }
    w->dead_conns[w->ndead++] = c;
}

/* ---- engine identities and their links ---- */

/* The links of a user nobody holds stay this long: a client that reconnects finds them warm. */
#define IDENT_KEEP_MS 30000

ident *ident_get(worker *w, const char *user)
{
    for (ident *id = w->idents; id; id = id->next) {
        if (strcmp(id->user, user) == 0) {
            id->refs++;
            return id;
        }
    }
    ident *id = xcalloc(1, sizeof(*id));
    id->user = xstrdup(user);
    id->refs = 1;
    id->next = w->idents;
    w->idents = id;
    return id;
}

void ident_put(worker *w, ident *id)
{
    if (!id)
        return;
    if (--id->refs == 0)
        id->unused_since_ms = ev_now_ms(w->loop);
}

static int ident_idle(const ident *id, int nlinks)
{
    for (int p = 0; p < LINK_KINDS; p++)
        for (int i = 0; i < nlinks; i++)
            if (id->links[p][i] && !backend_idle(id->links[p][i]))
                return 0;
    return 1;
}

static void ident_destroy(worker *w, ident *id)
{
    for (int p = 0; p < LINK_KINDS; p++)
        for (int i = 0; i < w->nlinks; i++)
            if (id->links[p][i])
                backend_destroy(id->links[p][i]);
    xfree(id->user);
    xfree(id);
}

/* Free every identity (shutdown: their links are idle or gone). */
static void free_idents(worker *w)
{
    while (w->idents) {
        ident *id = w->idents;
        w->idents = id->next;
        ident_destroy(w, id);
    }
    w->endpoint = NULL;
}

/* Free the identities nobody has held for a while (a user whose clients left, or was
 * deleted); their links close. Never from inside a link's callback: the tick only. */
static void reap_idents(worker *w, uint64_t now)
{
    for (ident **pp = &w->idents; *pp;) {
        ident *id = *pp;
        if (id != w->endpoint && id->refs == 0 && now - id->unused_since_ms >= IDENT_KEEP_MS &&
            ident_idle(id, w->nlinks)) {
            *pp = id->next;
            ident_destroy(w, id);
            continue;
        }
        pp = &id->next;
    }
}

static backend *find_reusable(worker *w, const char *addr, int proto, backend **old, int nold)
{
    for (int i = 0; i < nold; i++) {
        if (old[i] && old[i]->proto == proto && strcmp(old[i]->addr, addr) == 0) {
            backend *b = old[i];
            old[i] = NULL;
            return b;
        }
    }
    (void)w;
    return NULL;
}

/* A link whose engine left the topology closes once its requests are answered, at the next
 * tick: never at once, since a topology change is often noticed inside a link's own read
 * callback (a merge that asks for the shard count), maybe this very link's. */
static void retire(worker *w, backend *b)
{
    b->retired = 1;
    b->retired_next = w->retired;
    w->retired = b;
}

static void reap_retired(worker *w)
{
    backend **pp = &w->retired;
    while (*pp) {
        backend *b = *pp;
        if (backend_idle(b)) {
            *pp = b->retired_next;
            backend_destroy(b);
        } else {
            pp = &b->retired_next;
        }
    }
}

const topology *worker_topology(worker *w)
{
    const topology *t = view_topology(w->view);
    if (likely(t->version == w->topo_version))
        return t;
    /* Links follow their engine by address: node indexes change when the topology does. */
    for (ident *id = w->idents; id; id = id->next) {
        backend *old[LINK_KINDS][TOPO_MAX_NODES];
        memcpy(old, id->links, sizeof(old));
        memset(id->links, 0, sizeof(id->links));
        for (int p = 0; p < LINK_KINDS; p++)
            for (int i = 0; i < t->nnodes; i++)
                id->links[p][i] =
                    find_reusable(w, t->nodes[i].addr, LINK_PROTO(p), old[p], w->nlinks);
        for (int p = 0; p < LINK_KINDS; p++)
            for (int i = 0; i < w->nlinks; i++)
                if (old[p][i])
                    retire(w, old[p][i]);
    }
    w->nlinks = t->nnodes;
    w->topo_version = t->version;
    pubsub_topology_changed(w, t);
    return t;
}

/* ---- loop hooks ---- */

/* One pass over the retry queue. A request is sent when it is due and its target can take it;
 * once one request of a session has to keep waiting, every later request of that session
 * keeps waiting behind it, so each session leaves the queue in the order it entered. */
static void process_retries(worker *w, uint64_t now)
{
    req *list = w->retry_head, *keep_head = NULL, *keep_tail = NULL;
    w->retry_head = w->retry_tail = NULL;
    uint64_t pass = ++w->retry_pass;
    while (list) {
        req *r = list;
        list = r->bnext;
        r->bnext = NULL;
        session *s = req_session(r);
        int wait = r->retry_at_ms > now || (s && s->retry_blocked == pass);
        if (!wait) {
            r->flags &= (uint32_t)~REQ_F_RETRY;
            if (s)
                s->retrying--;
            if (router_try_send(w, r) != -EAGAIN)
                continue;
            r->flags |= REQ_F_RETRY;
            r->retry_at_ms = now + RETRY_DELAY_MS;
            if (s)
                s->retrying++;
        }
        if (s)
            s->retry_blocked = pass;
        if (keep_tail)
            keep_tail->bnext = r;
        else
            keep_head = r;
        keep_tail = r;
    }
    /* Requests queued during the pass (none today) stay after the ones kept. */
    if (keep_head) {
        keep_tail->bnext = w->retry_head;
        if (!w->retry_head)
            w->retry_tail = keep_tail;
        w->retry_head = keep_head;
    }
}

/* Listen (mask EV_READ) or not (0) on every listener of w. */
static void listeners_set(worker *w, uint32_t mask)
{
    ev_handler *ls[] = {&w->tls_listener, &w->plain_listener, &w->reader_listener};
    for (size_t i = 0; i < ARRAY_LEN(ls); i++)
        if (ls[i]->fd >= 0)
            ev_set(w->loop, ls[i], mask);
}

static void on_tick(ev_loop *loop, void *data)
{
    worker *w = data;
    uint64_t now = ev_now_ms(loop);
    /* A worker that serves no request still follows the topology (its subscribers' links to
     * shards added by a scale-out are made here). */
    worker_topology(w);
    if (w->resub_pending)
        pubsub_resubscribe(w);
    process_retries(w, now);
    if (now >= w->prefixes_flush_ms) {
        w->prefixes_flush_ms = now + 1000;
        meter_ledger_add_prefixes(&w->view->meter, w->prefixes, w->nprefixes);
        w->nprefixes = 0;
    }
    for (ident *id = w->idents; id; id = id->next)
        for (int p = 0; p < LINK_KINDS; p++)
            for (int i = 0; i < w->nlinks; i++)
                if (id->links[p][i])
                    backend_check_deadline(id->links[p][i], now);
    reap_retired(w);
    reap_idents(w, now);
    if (w->acl_waiting)
        admin_acl_waiting(w, now);
    if (w->accept_resume_ms && now >= w->accept_resume_ms) {
        w->accept_resume_ms = 0;
        listeners_set(w, EV_READ);
    }
    /* Deadlines are looked at ten times a second (every tick while a session waits out the
     * ECPU/s limit): with many idle clients a pass over all of them is not free. */
    if (now >= w->next_scan_ms || w->scan_soon) {
        w->next_scan_ms = now + SCAN_MS;
        int waiting = 0;
        for (session *s = w->sessions, *next; s; s = next) {
            next = s->list_next;
            waiting |= session_check_deadlines(s, now);
        }
        w->scan_soon = waiting;
    }
}

void worker_doom_session(session *s)
{
    if (s->doomed || s->dead)
        return;
    s->doomed = 1;
    s->doom_next = s->w->doomed;
    s->w->doomed = s;
}

static void before_sleep(ev_loop *loop, void *data)
{
    worker *w = data;
    /* Sessions condemned while their private link was being read are closed here, where no
     * link of theirs is in use. */
    while (w->doomed) {
        session *s = w->doomed;
        w->doomed = s->doom_next;
        session_close(s, "cut off");
    }
    backend_reap_dropped(w);
    /* Sessions whose transport still holds decrypted input are read again now. */
    session *again = w->again_sessions;
    w->again_sessions = NULL;
    while (again) {
        session *s = again;
        again = s->again_next;
        s->again_next = NULL;
        s->again = 0;
        if (!s->dead)
            session_read(s);
    }
    while (w->flush_backends) {
        backend *b = w->flush_backends;
        w->flush_backends = b->flush_next;
        b->flush_next = NULL;
        b->dirty = 0;
        backend_write(b);
    }
    while (w->flush_sessions) {
        session *s = w->flush_sessions;
        w->flush_sessions = s->flush_next;
        s->flush_next = NULL;
        s->dirty = 0;
        if (!s->dead)
            session_write(s);
    }
    session_free_all(w);
    for (int i = 0; i < w->ndead; i++)
        conn_free(w->dead_conns[i]);
    w->ndead = 0;
    (void)loop;
    rcu_quiescent_state();
}

static void on_wake(ev_loop *loop, void *data)
{
    worker *w = data;
    clients_inbox(w);
    if (atomic_load_explicit(&w->stopping, memory_order_relaxed))
        ev_stop(loop);
}

static void on_accept(ev_loop *loop, ev_handler *h, uint32_t events)
{
    (void)events;
    worker *w = h->data;
    int plaintext = h == &w->plain_listener, reader = h == &w->reader_listener;
    for (int i = 0; i < 64; i++) {
        int fd = sock_accept(h->fd);
        if (fd == -EAGAIN)
            break;
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE) {
                /* Out of descriptors: the pending connection stays queued, and epoll would
                 * report it again at once. Listen again a little later instead of spinning;
                 * say so once a minute, with how often it happened. */
                uint64_t now = ev_now_ms(loop);
                w->accept_pauses++;
                if (now - w->accept_warned_ms >= 60000) {
                    log_warn("worker %d: accept: %s; accepting again in %d ms (%llu pause(s) "
                             "since the last warning; see --maxclients and `ulimit -n`)",
                             w->id, strerror(-fd), ACCEPT_PAUSE_MS,
                             (unsigned long long)w->accept_pauses);
                    w->accept_warned_ms = now;
                    w->accept_pauses = 0;
                }
                w->accept_resume_ms = now + ACCEPT_PAUSE_MS;
                listeners_set(w, 0);
            } else if (fd != -ECONNABORTED && fd != -EINTR) {
                log_warn("worker %d: accept: %s", w->id, strerror(-fd));
            }
            break;
        }
        session_accept(w, fd, plaintext, reader);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    rcu_register_thread();
    ev_run(w->loop, rcu_thread_offline, rcu_thread_online);
    /* Shutdown: drop clients, then links, then free what they deferred. */
    while (w->sessions)
        session_close(w->sessions, "shutdown");
    backend_reap_dropped(w);
    while (w->acl_waiting) {
        req *r = w->acl_waiting;
        w->acl_waiting = r->bnext;
        r->bnext = NULL;
        req_put(w, r);
    }
    /* Requests on the links let go of their identities as the links settle them. */
    for (ident *id = w->idents; id; id = id->next)
        for (int p = 0; p < LINK_KINDS; p++)
            for (int i = 0; i < w->nlinks; i++)
                if (id->links[p][i]) {
                    backend_destroy(id->links[p][i]);
                    id->links[p][i] = NULL;
                }
    for (backend *b = w->retired, *next; b; b = next) {
        next = b->retired_next;
        backend_destroy(b);
    }
    w->retired = NULL;
    session_free_all(w);
    meter_ledger_add_prefixes(&w->view->meter, w->prefixes,
                              w->nprefixes); /* recorded at the cache's stop */
    w->nprefixes = 0;
    for (int i = 0; i < w->ndead; i++)
        conn_free(w->dead_conns[i]);
    w->ndead = 0;
    xfree(w->dead_conns);
    w->dead_conns = NULL;
    while (w->retry_head) {
        /* Failing it (rather than freeing it) completes a fan-out parent too, which frees it. */
        req *r = w->retry_head;
        w->retry_head = r->bnext;
        r->bnext = NULL;
        r->flags &= (uint32_t)~REQ_F_RETRY;
        router_fail(w, r, "ERR the endpoint is shutting down");
    }
    w->retry_tail = NULL;
    while (w->free_reqs) {
        req *r = w->free_reqs;
        w->free_reqs = r->next;
        buf_deinit(&r->cmd);
        buf_deinit(&r->reply);
        xfree(r);
    }
    free_idents(w);
    rcu_unregister_thread();
    return NULL;
}

/* Listen on *port (bound port written back; -1: off) for one worker's optional listener. */
static int listen_optional(const char *bind, const char *flag, int *port, ev_handler *h, char *err,
                           size_t errlen)
{
    if (*port < 0)
        return 0;
    int fd = sock_listen(bind, *port, 1024);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d: %s", flag, bind, *port, strerror(-fd));
        return -1;
    }
    *port = sock_port(fd);
    h->fd = fd;
    return 0;
}

static int listen_all(worker_pool *p, proxy_view *c, char *err, size_t errlen)
{
    const view_limits *limits = &c->limits;
    int tls_port = (int)limits->port, plain_port = (int)limits->plaintext_port;
    int reader_port = (int)limits->reader_port;
    for (int i = 0; i < p->n; i++) {
        worker *w = &p->workers[i];
        int fd = sock_listen(limits->bind, tls_port, 1024);
        if (fd < 0) {
            snprintf(err, errlen, "--port: cannot listen on %s:%d: %s%s", limits->bind, tls_port,
                     strerror(-fd),
                     fd == -EADDRINUSE ? " (choose another port with --port, or stop what uses it)"
                                       : "");
            return -1;
        }
        tls_port = sock_port(fd);
        w->tls_listener.fd = fd;
        if (listen_optional(limits->bind, "--plaintext-port", &plain_port, &w->plain_listener, err,
                            errlen) != 0 ||
            listen_optional(limits->bind, "--reader-port", &reader_port, &w->reader_listener, err,
                            errlen) != 0)
            return -1;
    }
    c->port = tls_port;
    c->plaintext_port = plain_port;
    c->reader_port = reader_port;
    return 0;
}

worker_pool *worker_pool_create(proxy_view *c, int nthreads, char *err, size_t errlen)
{
    worker_pool *p = xcalloc(1, sizeof(*p));
    p->n = nthreads;
    p->workers = xcalloc((size_t)nthreads, sizeof(worker));
    p->threads = xcalloc((size_t)nthreads, sizeof(pthread_t));
    for (int i = 0; i < nthreads; i++) {
        worker *w = &p->workers[i];
        w->id = i;
        w->view = c;
        w->tls_listener.fd = w->plain_listener.fd = w->reader_listener.fd = -1;
        w->next_session_id = (uint64_t)i + 1;
        w->peers = p->workers;
        w->npeers = nthreads;
        w->endpoint = ident_get(w, ACL_ENGINE_ENDPOINT_USER);
        pthread_mutex_init(&w->inbox_lock, NULL);
    }
    for (int i = 0; i < nthreads; i++)
        p->workers[i].meter = c->meter.cells + (size_t)i * cmd_ids;
    if (listen_all(p, c, err, errlen) != 0)
        goto fail;
    for (int i = 0; i < nthreads; i++) {
        worker *w = &p->workers[i];
        w->loop = ev_create(TICK_MS, on_tick, w);
        if (!w->loop) {
            snprintf(err, errlen, "cannot create an event loop");
            goto fail;
        }
        ev_set_before_sleep(w->loop, before_sleep, w);
        ev_set_wake(w->loop, on_wake, w);
        w->tls_listener.fn = w->plain_listener.fn = w->reader_listener.fn = on_accept;
        w->tls_listener.data = w->plain_listener.data = w->reader_listener.data = w;
        if (ev_add(w->loop, &w->tls_listener, EV_READ) != 0 ||
            (w->plain_listener.fd >= 0 && ev_add(w->loop, &w->plain_listener, EV_READ) != 0) ||
            (w->reader_listener.fd >= 0 && ev_add(w->loop, &w->reader_listener, EV_READ) != 0)) {
            snprintf(err, errlen, "cannot watch the listeners: %s", strerror(errno));
            goto fail;
        }
    }
    return p;
fail:
    for (int i = 0; i < nthreads; i++) {
        worker *w = &p->workers[i];
        free_idents(w);
        if (w->tls_listener.fd >= 0)
            close(w->tls_listener.fd);
        if (w->plain_listener.fd >= 0)
            close(w->plain_listener.fd);
        if (w->reader_listener.fd >= 0)
            close(w->reader_listener.fd);
        ev_destroy(w->loop);
        pthread_mutex_destroy(&w->inbox_lock);
    }
    xfree(p->workers);
    xfree(p->threads);
    xfree(p);
    return NULL;
}

int worker_pool_run(worker_pool *p, char *err, size_t errlen)
{
    for (int i = 0; i < p->n; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start worker thread: %s", strerror(rc));
            p->running = i;
            return -1;
        }
        p->running = i + 1;
    }
    return 0;
}

void worker_pool_stop(worker_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->running; i++) {
        atomic_store_explicit(&p->workers[i].stopping, 1, memory_order_relaxed);
        ev_wake(p->workers[i].loop);
    }
    for (int i = 0; i < p->running; i++)
        pthread_join(p->threads[i], NULL);
    /* Messages posted to a worker that had already stopped are settled now that none runs. */
    for (int i = 0; i < p->n; i++)
        clients_drain(&p->workers[i]);
    for (int i = 0; i < p->n; i++) {
        worker *w = &p->workers[i];
        free_idents(w); /* a worker whose thread never ran still has the endpoint's */
        pthread_mutex_destroy(&w->inbox_lock);
        if (w->tls_listener.fd >= 0) {
            ev_del(w->loop, &w->tls_listener);
            close(w->tls_listener.fd);
        }
        if (w->reader_listener.fd >= 0) {
            ev_del(w->loop, &w->reader_listener);
            close(w->reader_listener.fd);
        }
        if (w->plain_listener.fd >= 0) {
            ev_del(w->loop, &w->plain_listener);
            close(w->plain_listener.fd);
        }
        ev_destroy(w->loop);
    }
    xfree(p->workers);
    xfree(p->threads);
    xfree(p);
}
