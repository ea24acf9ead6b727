/* The endpoint's clients as Redis shows them to an operator: CLIENT LIST, INFO, KILL and
 * UNBLOCK over every worker thread, CLIENT REPLY/NO-EVICT state, and RESET.
 *
 * Threading. A session belongs to its worker thread, and every field of it is read and written
 * on that thread only; these commands keep it so. The asking worker answers for its own
 * sessions at once and posts a message to every other worker (a mutex-guarded inbox plus the
 * loop's eventfd wake). Each worker answers on its own thread about its own sessions (the lines
 * of CLIENT LIST, the sessions KILL matched, which it closes itself, the engine connection a
 * client is blocked on) and posts the message back; the request is answered when the last one
 * has returned. So the per-command path takes no lock and touches no atomic for this, the
 * inbox lock is taken only by these admin commands, and every CLIENT LIST field is the owner
 * thread's exact value rather than a racy read.
 *
 *   worker A: CLIENT KILL ...  ──msg──▶ worker B inbox ──(B's thread: match, close)──┐
 *      ▲  its own sessions at once                                                  │
 *      └──────────────── msg back to A's inbox (count) ◀───────────────────────────-┘
 *
 * CLIENT UNBLOCK: a blocked client waits on its session's private engine link, whose engine-side
 * id the link learns when it connects (backend.c pipelines CLIENT ID). The owner worker reports
 * that id and the engine; the asking worker sends CLIENT UNBLOCK <engine id> to that engine, so
 * the reply (:1 or :0) and what the blocked client receives (nil, or -UNBLOCKED) are the
 * engine's own. */
#define ALLOC_ROOM ROOM_PROXY
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "proxy/proxy_int.h"

#define REPLY_STATIC                                                                               \
    ((size_t)16 * 1024) /* Redis's per-client reply buffer (PROTO_REPLY_CHUNK_BYTES) */

#define WORKER_ID_STRIDE 64 /* session ids are worker index + 1 + 64 * n (session.c) */

typedef enum { JOB_LIST, JOB_KILL, JOB_UNBLOCK } job_kind;

/* Client types of CLIENT LIST TYPE / CLIENT KILL TYPE. Masters and replicas are valid names, but
 * never clients of the endpoint. */
enum { TYPE_ANY = -1, TYPE_NORMAL, TYPE_PUBSUB, TYPE_NONE };

/* One admin command spanning the workers. Its filters are written by the asking worker before
 * any message is posted and only read afterwards; its results are written by the asking worker
 * alone, from the messages that come back. It lives until its request is freed, which happens
 * only once every message has returned (req.pending). */
struct client_job {
    job_kind kind;
    worker *origin;       /* the asking session's worker */
    uint64_t caller;      /* the asking session's id */
    int type;             /* TYPE_* */
    uint64_t *ids;        /* LIST ID ... (in the order given), KILL ID, UNBLOCK id */
    size_t nids;          /* entries in ids; 0: no id filter */
    char *addr;           /* KILL ADDR or the old form's ip:port; NULL if not given */
    char *laddr;          /* KILL LADDR; NULL if not given */
    char *user;           /* KILL USER; NULL if not given */
    int skipme;           /* KILL: spare the asking client */
    int old_form;         /* KILL ip:port: +OK, or -ERR No such client */
    int unblock_error;    /* UNBLOCK ... ERROR */
    buf lines;            /* LIST: every line gathered so far */
    long long count;      /* KILL: clients matched */
    uint64_t engine_id;   /* UNBLOCK: engine's id of the blocked client's link; 0: not blocked */
    char engine_node[48]; /* UNBLOCK: that engine's cluster address */
};

/* A job's visit to one worker. Posted to it unanswered; it fills in the results and posts the
 * message back to the job's worker (answered). */
struct worker_msg {
    worker_msg *next;     /* inbox */
    client_job *job;      /* read only, by the answering worker */
    req *r;               /* the asking request: only the asking worker touches it */
    int answered;         /* results filled in */
    buf lines;            /* LIST */
    long long count;      /* KILL */
    uint64_t engine_id;   /* UNBLOCK */
    char engine_node[48]; /* UNBLOCK */
};

/* A whole argument as a signed 64-bit integer, as Redis's string2ll accepts it. */
static int parse_ll(const char *p, size_t n, long long *out)
{
    char tmp[32];
    if (n == 0 || n >= sizeof(tmp) || (n > 1 && p[0] == '0') || p[0] == '+')
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end || end == tmp || (tmp[0] == '-' && (n == 1 || tmp[1] == '0')))
        return -1;
    *out = v;
    return 0;
}

static int client_type(const char *p, size_t n)
{
    if (arg_is(p, n, "normal"))
        return TYPE_NORMAL;
    if (arg_is(p, n, "pubsub"))
        return TYPE_PUBSUB;
    if (arg_is(p, n, "master") || arg_is(p, n, "replica") || arg_is(p, n, "slave"))
        return TYPE_NONE;
    return TYPE_ANY;
}

static int type_matches(const session *s, int type)
{
    if (type == TYPE_ANY)
        return 1;
    if (type == TYPE_NONE)
        return 0;
    return s->subscribed ? type == TYPE_PUBSUB : type == TYPE_NORMAL;
}

/* Whether s waits in a blocking command its engine has started: one is in flight on its private
 * link, and the link's engine id (learned before the command ran) is known. */
static int session_blocked(const session *s)
{
    const backend *b = s->priv;
    if (!b || !b->engine_id)
        return 0;
    for (const req *r = b->head; r; r = r->bnext)
        if (r->flags & REQ_F_BLOCKING)
            return 1;
    return 0;
}

/* One CLIENT LIST line, with the fields of Redis 7.0 in its order. Fields the endpoint has no
 * counterpart for are 0 (argv-mem: arguments stay in the query buffer; rbp, oll) or fixed
 * (db=0, ssub=0, user=default, redir=-1). */
static void client_line(const session *s, uint64_t now, buf *out)
{
    char flags[16];
    size_t n = 0;
    if (s->subscribed)
        flags[n++] = 'P';
    if (s->multi)
        flags[n++] = 'x';
    if (session_blocked(s))
        flags[n++] = 'b';
    if (s->closing)
        flags[n++] = 'c';
    if (s->doomed)
        flags[n++] = 'A';
    if (s->readonly)
        flags[n++] = 'r';
    if (s->no_evict)
        flags[n++] = 'e';
    if (n == 0)
        flags[n++] = 'N';
    flags[n] = '\0';
    char events[3];
    n = 0;
    if (s->c->read_handler)
        events[n++] = 'r';
    if (s->c->write_handler)
        events[n++] = 'w';
    events[n] = '\0';
    uint64_t created = s->c->created_ms;
    size_t mem = sizeof(*s) + s->in.cap + s->out.cap + s->multi_cmds.cap;
    /* As Redis counts them: obl, what waits in its 16 KB reply buffer; omem, the replies
     * waiting beyond it (0 for a client whose replies have all been written). */
    size_t pending_beyond = buf_used(&s->out) > REPLY_STATIC ? buf_used(&s->out) - REPLY_STATIC : 0;
    buf_appendf(out,
                "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=0 sub=%d "
                "psub=%d ssub=0 multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=%zu rbs=%zu "
                "rbp=0 obl=%zu oll=0 omem=%zu tot-mem=%zu events=%s cmd=%s user=%s "
                "redir=-1 resp=%d\n",
                (unsigned long long)s->id, s->addr, s->laddr, s->c->h.fd, s->name ? s->name : "",
                (unsigned long long)(now > created ? (now - created) / 1000 : 0),
                (unsigned long long)(now > s->last_ms ? (now - s->last_ms) / 1000 : 0), flags,
                s->nsub, s->npsub, s->multi ? (int)s->multi_count : -1, buf_used(&s->in),
                s->in.cap - s->in.len, buf_used(&s->multi_cmds), s->in.cap,
                MIN(buf_used(&s->out), REPLY_STATIC), pending_beyond, mem, events, s->last_cmd,
                s->user_name ? s->user_name : "default", s->proto);
}

/* ---- a job on one worker (its own thread) ---- */

static int id_wanted(const client_job *job, uint64_t id)
{
    if (job->nids == 0)
        return 1;
    for (size_t i = 0; i < job->nids; i++)
        if (job->ids[i] == id)
            return 1;
    return 0;
}

static void engine_node_of(worker *w, const backend *b, char *out, size_t n)
{
    const topology *t = worker_topology(w);
    int node = topo_find_addr(t, b->addr);
    snprintf(out, n, "%s", node >= 0 ? t->nodes[node].cluster_addr : "");
}

static void run_job(worker *w, const client_job *job, worker_msg *m)
{
    uint64_t now = ev_now_ms(w->loop);
    for (session *s = w->sessions, *next; s; s = next) {
        next = s->list_next;
        if (s->dead || !id_wanted(job, s->id))
            continue;
        switch (job->kind) {
        case JOB_LIST:
            if (type_matches(s, job->type))
                client_line(s, now, &m->lines);
            break;
        case JOB_KILL:
            if (!type_matches(s, job->type) || (job->addr && strcmp(job->addr, s->addr) != 0) ||
                (job->laddr && strcmp(job->laddr, s->laddr) != 0) ||
                (job->user && strcmp(job->user, s->user_name ? s->user_name : "default") != 0) ||
                (job->skipme && s->id == job->caller))
                break;
            m->count++;
            if (w == job->origin && s->id == job->caller)
                s->closing = 1; /* itself: closed once this reply is written, as Redis does */
            else
                worker_doom_session(s); /* closed in before_sleep, out of any callback of its */
            break;
        case JOB_UNBLOCK:
            if (session_blocked(s)) {
                m->engine_id = s->priv->engine_id;
                engine_node_of(w, s->priv, m->engine_node, sizeof(m->engine_node));
            }
            break;
        }
    }
}

static void merge_results(client_job *job, const worker_msg *m)
{
    buf_append(&job->lines, buf_rptr(&m->lines), buf_used(&m->lines));
    job->count += m->count;
    if (m->engine_id && m->engine_node[0]) {
        job->engine_id = m->engine_id;
        snprintf(job->engine_node, sizeof(job->engine_node), "%s", m->engine_node);
    }
}

/* ---- answering the asking client ---- */

typedef struct {
    uint64_t id;
    const char *p;
    size_t n;
} line_ref;

static int line_cmp(const void *a, const void *b)
{
    const line_ref *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* CLIENT LIST: lines by id (ascending, as Redis lists clients in creation order), or in the
 * order the ID filter named them. */
static void list_reply(const client_job *job, int proto, buf *out)
{
    const char *p = buf_rptr(&job->lines), *end = p + buf_used(&job->lines);
    size_t n = 0, cap = 16;
    line_ref *lines = xmalloc(cap * sizeof(*lines));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (n == cap) {
            cap *= 2;
            lines = xrealloc(lines, cap * sizeof(*lines));
        }
        lines[n].id = strtoull(p + 3, NULL, 10); /* "id=" */
        lines[n].p = p;
        lines[n].n = len;
        n++;
        p += len;
    }
    qsort(lines, n, sizeof(*lines), line_cmp);
    buf text;
    buf_init(&text);
    if (job->nids == 0) {
        for (size_t i = 0; i < n; i++)
            buf_append(&text, lines[i].p, lines[i].n);
    } else {
        for (size_t k = 0; k < job->nids; k++) {
            line_ref key = {job->ids[k], NULL, 0};
            const line_ref *hit = bsearch(&key, lines, n, sizeof(*lines), line_cmp);
            if (hit)
                buf_append(&text, hit->p, hit->n);
        }
    }
    resp_add_verbatim(out, buf_rptr(&text), buf_used(&text), proto);
    buf_deinit(&text);
    xfree(lines);
}

static void finish(worker *w, req *r)
{
    client_job *job = r->job;
    if (!r->s) {
        req_put(w, r); /* the client left while the workers answered */
        return;
    }
    buf out;
    buf_init(&out);
    switch (job->kind) {
    case JOB_LIST:
        list_reply(job, r->proto, &out);
        break;
    case JOB_KILL:
        if (!job->old_form)
            resp_add_int(&out, job->count);
        else if (job->count > 0)
            resp_add_simple(&out, "OK");
        else
            resp_add_error(&out, "ERR No such client");
        break;
    case JOB_UNBLOCK: {
        const topology *t = worker_topology(w);
        if (!job->engine_id || topo_find_node(t, job->engine_node, strlen(job->engine_node)) < 0) {
            resp_add_int(&out, 0);
            break;
        }
        char id[24];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)job->engine_id);
        const char *argv[] = {"CLIENT", "UNBLOCK", id, job->unblock_error ? "ERROR" : "TIMEOUT"};
        size_t lens[] = {6, 7, strlen(id), strlen(argv[3])};
        buf_consume(&r->cmd, buf_used(&r->cmd));
        resp_add_command(&r->cmd, 4, argv, lens);
        r->target = TARGET_NODE;
        r->flags |= REQ_F_ENDPOINT; /* the engine's clients are the endpoint's to unblock */
        snprintf(r->ask_addr, sizeof(r->ask_addr), "%s", job->engine_node);
        buf_deinit(&out);
        router_send(w, r); /* the engine's :1 or :0 is the reply */
        return;
    }
    }
    router_deliver_final(w, r, buf_rptr(&out), buf_used(&out));
    buf_deinit(&out);
}

static void post(worker *to, worker_msg *m)
{
    pthread_mutex_lock(&to->inbox_lock);
    m->next = to->inbox;
    to->inbox = m;
    pthread_mutex_unlock(&to->inbox_lock);
    ev_wake(to->loop);
}

static void msg_free(worker_msg *m)
{
    buf_deinit(&m->lines);
    xfree(m);
}

/* Run job on the workers (only: one worker index, or -1 for all) and answer r when all have. */
static void fan_out(session *s, req *r, client_job *job, int only)
{
    worker *w = s->w;
    r->job = job;
    job->origin = w;
    job->caller = s->id;
    r->pending = 1; /* held until this worker's own part is merged */
    for (int i = 0; i < w->npeers; i++) {
        if (i == w->id || (only >= 0 && i != only))
            continue;
        worker_msg *m = xcalloc(1, sizeof(*m));
        m->job = job;
        m->r = r;
        r->pending++;
        post(&w->peers[i], m);
    }
    if (only < 0 || only == w->id) {
        worker_msg own;
        memset(&own, 0, sizeof(own));
        run_job(w, job, &own);
        merge_results(job, &own);
        buf_deinit(&own.lines);
    }
    if (--r->pending == 0)
        finish(w, r);
}

void clients_inbox(worker *w)
{
    pthread_mutex_lock(&w->inbox_lock);
    worker_msg *list = w->inbox;
    w->inbox = NULL;
    pthread_mutex_unlock(&w->inbox_lock);
    while (list) {
        worker_msg *m = list;
        list = m->next;
        if (!m->answered) {
            run_job(w, m->job, m);
            m->answered = 1;
            post(m->job->origin, m);
            continue;
        }
        req *r = m->r;
        merge_results(r->job, m);
        msg_free(m);
        if (--r->pending == 0)
            finish(w, r);
    }
}

void clients_drain(worker *w)
{
    while (w->inbox) {
        worker_msg *m = w->inbox;
        w->inbox = m->next;
        req *r = m->r;
        msg_free(m);
        if (--r->pending == 0)
            req_free(r); /* its client was closed when its worker stopped */
    }
}

void client_job_free(client_job *job)
{
    xfree(job->ids);
    xfree(job->addr);
    xfree(job->laddr);
    xfree(job->user);
    buf_deinit(&job->lines);
    xfree(job);
}

/* ---- parsing the commands ---- */

static void reply_error(session *s, req *r, const char *msg)
{
    resp_add_error(&r->reply, "%s", msg);
    router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
}

static void client_list(session *s, req *r, size_t argc, const char *const *argv,
                        const size_t *lens)
{
    client_job *job = xcalloc(1, sizeof(*job));
    job->kind = JOB_LIST;
    job->type = TYPE_ANY;
    if (argc == 4 && arg_is(argv[2], lens[2], "type")) {
        job->type = client_type(argv[3], lens[3]);
        if (job->type == TYPE_ANY) {
            char msg[128];
            snprintf(msg, sizeof(msg), "ERR Unknown client type '%.*s'", (int)MIN(lens[3], 64),
                     argv[3]);
            client_job_free(job);
            reply_error(s, r, msg);
            return;
        }
    } else if (argc > 3 && arg_is(argv[2], lens[2], "id")) {
        job->ids = xmalloc((argc - 3) * sizeof(uint64_t));
        for (size_t i = 3; i < argc; i++) {
            long long v;
            if (parse_ll(argv[i], lens[i], &v) != 0) {
                client_job_free(job);
                reply_error(s, r, "ERR Invalid client ID");
                return;
            }
            job->ids[job->nids++] = (uint64_t)v; /* negative: matches no client */
        }
    } else if (argc != 2) {
        client_job_free(job);
        reply_error(s, r, "ERR syntax error");
        return;
    }
    fan_out(s, r, job, -1);
}

static void client_kill(session *s, req *r, size_t argc, const char *const *argv,
                        const size_t *lens)
{
    client_job *job = xcalloc(1, sizeof(*job));
    job->kind = JOB_KILL;
    job->type = TYPE_ANY;
    char msg[160];
    if (argc == 3) {
        job->old_form = 1; /* CLIENT KILL ip:port: the caller itself included */
        job->addr = xstrndup(argv[2], lens[2]);
        fan_out(s, r, job, -1);
        return;
    }
    job->skipme = 1;
    for (size_t i = 2; i < argc; i += 2) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        size_t vl = i + 1 < argc ? lens[i + 1] : 0;
        const char *err = NULL;
        if (!val) {
            err = "ERR syntax error";
        } else if (arg_is(argv[i], lens[i], "id")) {
            long long v;
            if (parse_ll(val, vl, &v) != 0 || v < 1) {
                err = "ERR client-id should be greater than 0";
            } else {
                xfree(job->ids);
                job->ids = xmalloc(sizeof(uint64_t));
                job->ids[0] = (uint64_t)v;
                job->nids = 1;
            }
        } else if (arg_is(argv[i], lens[i], "type")) {
            job->type = client_type(val, vl);
            if (job->type == TYPE_ANY) {
                snprintf(msg, sizeof(msg), "ERR Unknown client type '%.*s'", (int)MIN(vl, 64), val);
                err = msg;
            }
        } else if (arg_is(argv[i], lens[i], "addr")) {
            xfree(job->addr);
            job->addr = xstrndup(val, vl);
        } else if (arg_is(argv[i], lens[i], "laddr")) {
            xfree(job->laddr);
            job->laddr = xstrndup(val, vl);
        } else if (arg_is(argv[i], lens[i], "user")) {
            if (!acl_table_find(view_acl(s->view), val, vl)) {
                snprintf(msg, sizeof(msg), "ERR No such user '%.*s'", (int)MIN(vl, 64), val);
                err = msg;
            } else {
                xfree(job->user);
                job->user = xstrndup(val, vl);
            }
        } else if (arg_is(argv[i], lens[i], "skipme")) {
            if (arg_is(val, vl, "yes"))
                job->skipme = 1;
            else if (arg_is(val, vl, "no"))
                job->skipme = 0;
            else
                err = "ERR syntax error";
        } else {
            err = "ERR syntax error";
        }
        if (err) {
            client_job_free(job);
            reply_error(s, r, err);
            return;
        }
    }
    fan_out(s, r, job, -1);
}

static void client_unblock(session *s, req *r, size_t argc, const char *const *argv,
                           const size_t *lens)
{
    long long id;
    int error = 0;
    if (argc > 4) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try CLIENT "
                 "HELP.",
                 (int)MIN(lens[1], 64), argv[1]);
        reply_error(s, r, msg);
        return;
    }
    if (parse_ll(argv[2], lens[2], &id) != 0) {
        reply_error(s, r, "ERR value is not an integer or out of range");
        return;
    }
    if (argc == 4) {
        if (arg_is(argv[3], lens[3], "error"))
            error = 1;
        else if (!arg_is(argv[3], lens[3], "timeout")) {
            reply_error(s, r, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    }
    /* Only the worker whose ids have this form can own the client. */
    int owner = id > 0 ? (int)((uint64_t)(id - 1) % WORKER_ID_STRIDE) : -1;
    if (owner < 0 || owner >= s->w->npeers) {
        resp_add_int(&r->reply, 0);
        router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
        return;
    }
    client_job *job = xcalloc(1, sizeof(*job));
    job->kind = JOB_UNBLOCK;
    job->type = TYPE_ANY;
    job->ids = xmalloc(sizeof(uint64_t));
    job->ids[0] = (uint64_t)id;
    job->nids = 1;
    job->unblock_error = error;
    fan_out(s, r, job, owner);
}

void clients_command(session *s, req *r, const cmd_def *d, size_t argc, const char *const *argv,
                     const size_t *lens)
{
    switch ((cmd_local)d->local) {
    case LOCAL_CLIENT_LIST:
        client_list(s, r, argc, argv, lens);
        return;
    case LOCAL_CLIENT_KILL:
        client_kill(s, r, argc, argv, lens);
        return;
    case LOCAL_CLIENT_UNBLOCK:
        client_unblock(s, r, argc, argv, lens);
        return;
    default:
        reply_error(s, r, "ERR internal: not a CLIENT command of clients.c");
        return;
    }
}

void clients_info_line(session *s, buf *out)
{
    size_t before = buf_used(out);
    client_line(s, ev_now_ms(s->w->loop), out);
    if (buf_used(out) > before && buf_rptr(out)[buf_used(out) - 1] == '\n')
        out->len--; /* CLIENT INFO's line without its newline */
}

void clients_info(session *s, buf *b)
{
    buf line;
    buf_init(&line);
    client_line(s, ev_now_ms(s->w->loop), &line);
    resp_add_verbatim(b, buf_rptr(&line), buf_used(&line), s->proto);
    buf_deinit(&line);
}

void clients_reset(session *s)
{
    /* As Redis 7.0's RESET: no transaction, no WATCH, no subscription, replies on, RESP2, no
     * name, not authenticated (a cache always has a password). Dropping the private link ends
     * the engine-side WATCH and subscriptions with it; router.c runs RESET only once the
     * client's earlier requests are answered, so nothing of theirs is on that link. */
    txn_reset(s);
    if (s->priv && (s->subscribed || s->watching)) {
        backend_drop_private(s->priv);
        s->priv = NULL;
    }
    pubsub_reset(s);
    s->watching = 0;
    s->subscribed = 0;
    s->nsub = s->npsub = 0;
    s->reply_off = 0;
    s->reply_skip = 0;
    s->readonly = 0;
    s->proto = 2;
    xfree(s->name);
    s->name = NULL;
    session_deauthenticate(s);
    req *r = session_queue_req(s);
    resp_add_simple(&r->reply, "RESET");
    router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
}
