/* CLIENT PAUSE and CLIENT UNPAUSE, cache-wide, as Redis pauses its clients.
 *
 * The pause is the view's (every worker of the cache sees it): a command the mode pauses waits
 * at the endpoint, parsed again every PAUSE_RECHECK_MS until the pause ends, and counts in INFO's
 * blocked_clients as Redis counts a paused client. WRITE pauses what Redis's processCommand
 * pauses: writes, and commands that may replicate (PUBLISH, SPUBLISH, PFCOUNT, scripts), a script
 * by its own flags when it declares them, EXEC by what the transaction queued. ALL pauses every
 * command. Every primary is paused too (in WRITE mode whatever the client's, so that the control
 * plane's health checks are answered): no key expires meanwhile, and a function, whose flags only
 * the engine knows, goes on the client's own engine link and waits there if the engine says so. */
#define ALLOC_ROOM ROOM_PROXY
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "net/ev.h"
#include "proxy/proxy_int.h"

/* A paused command is parsed again this often (the worker's tick). */
#define PAUSE_RECHECK_MS 10

static int word_is(const char *s, size_t n, const char *w)
{
    return n == strlen(w) && strncasecmp(s, w, n) == 0;
}

/* The mode in force now (VIEW_PAUSE_*): a pause whose time is over is off. */
static int pause_mode(const proxy_view *v)
{
    int type = atomic_load_explicit(&v->pause_type, memory_order_relaxed);
    if (likely(type == VIEW_PAUSE_OFF))
        return VIEW_PAUSE_OFF;
    uint64_t end = atomic_load_explicit(&v->pause_end_ms, memory_order_relaxed);
    return ev_clock_ms() < end ? type : VIEW_PAUSE_OFF;
}

/* Whether a script body lets its caller write, as Redis decides: without a shebang it may
 * (compatibility mode); with one, unless its flags say no-writes. */
static int script_may_write(const char *body, size_t len)
{
    if (len < 2 || body[0] != '#' || body[1] != '!')
        return 1;
    const char *nl = memchr(body, '\n', len);
    size_t n = nl ? (size_t)(nl - body) : len;
    const char *p = body + 2, *end = body + n;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *w = p;
        while (p < end && *p != ' ')
            p++;
        size_t wn = (size_t)(p - w);
        if (wn > 6 && strncmp(w, "flags=", 6) == 0) {
            const char *f = w + 6, *fend = w + wn;
            while (f < fend) {
                const char *comma = memchr(f, ',', (size_t)(fend - f));
                const char *fe = comma ? comma : fend;
                if ((size_t)(fe - f) == 9 && strncmp(f, "no-writes", 9) == 0)
                    return 0;
                f = fe + 1;
            }
        }
    }
    return 1;
}

int pause_may_replicate(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                        const size_t *lens, int lookup)
{
    if (d->route == ROUTE_LOCAL && d->local == LOCAL_EXEC)
        return s->multi_writes;
    /* A multi-key read served across slots writes temporary copies (proxy/gather.c) on the
     * endpoint's shared link, which a paused engine would hold for every client: it waits
     * here instead (stricter than Redis, which would serve the read). */
    if (d->flags & (CMD_F_WRITE | CMD_F_GATHER))
        return 1;
    if (!(d->flags & CMD_F_MAY_REPLICATE))
        return 0;
    if ((d->flags & CMD_F_SCRIPT_BODY) && argc > 1)
        return script_may_write(argv[1], lens[1]); /* EVAL */
    if ((d->flags & CMD_F_SCRIPT_SHA) && argc > 1) {
        /* EVALSHA: the body the endpoint has seen; an unknown one may write (as Redis says of
         * a script it does not have). Without lookup (a command queued in MULTI, when no
         * pause may be in force), it may. */
        if (!lookup)
            return 1;
        buf body;
        buf_init(&body);
        int known = s->view->ops->script_get(s->view->owner, argv[1], lens[1], &body) == 0;
        int writes = !known || script_may_write(buf_rptr(&body), buf_used(&body));
        buf_deinit(&body);
        return writes;
    }
    if (d->flags & CMD_F_RUNS_CODE)
        return -1; /* FCALL: the function's flags are the engine's */
    return 1;      /* PUBLISH, SPUBLISH, PFCOUNT */
}

static void pause_over(session *s)
{
    s->pause_waiting = 0;
    atomic_fetch_sub_explicit(&s->view->pause_waiting, 1, memory_order_relaxed);
}

int pause_holds(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                const size_t *lens)
{
    int mode = pause_mode(s->view);
    int hold = mode == VIEW_PAUSE_ALL ||
               (mode == VIEW_PAUSE_WRITE && pause_may_replicate(s, d, argc, argv, lens, 1) == 1);
    if (!hold) {
        if (unlikely(s->pause_waiting))
            pause_over(s);
        return 0;
    }
    /* Parsed again later, and counted and charged then (as the ECPU/s wait does). */
    s->meter_cmd = 0;
    atomic_fetch_sub_explicit(&s->view->counters.total_commands, 1, memory_order_relaxed);
    if (!s->pause_waiting) {
        s->pause_waiting = 1;
        atomic_fetch_add_explicit(&s->view->pause_waiting, 1, memory_order_relaxed);
    }
    s->throttled_until = ev_now_ms(s->w->loop) + PAUSE_RECHECK_MS;
    s->w->scan_soon = 1;
    return 1;
}

int pause_engine_decides(session *s, const cmd_def *d)
{
    return (d->flags & CMD_F_MAY_REPLICATE) && (d->flags & CMD_F_RUNS_CODE) &&
           !(d->flags & (CMD_F_SCRIPT_BODY | CMD_F_SCRIPT_SHA)) &&
           pause_mode(s->view) == VIEW_PAUSE_WRITE;
}

void pause_session_gone(session *s)
{
    if (s->pause_waiting)
        pause_over(s);
}

int64_t pause_waiting_clients(const proxy_view *v)
{
    return pause_mode(v) == VIEW_PAUSE_OFF
               ? 0
               : atomic_load_explicit(&v->pause_waiting, memory_order_relaxed);
}

/* ---- CLIENT PAUSE timeout [WRITE|ALL], CLIENT UNPAUSE ---- */

/* The arguments of CLIENT PAUSE checked as Redis checks them: 0 with *ms and *type, or -1 with
 * Redis's error in err. */
static int parse_pause(size_t argc, const char *const *argv, const size_t *lens, long long *ms,
                       int *type, char *err, size_t errlen)
{
    if (argc > 4) {
        snprintf(err, errlen,
                 "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try CLIENT "
                 "HELP.",
                 (int)MIN(lens[1], 128), argv[1]);
        return -1;
    }
    *type = VIEW_PAUSE_ALL;
    if (argc == 4) {
        if (word_is(argv[3], lens[3], "write"))
            *type = VIEW_PAUSE_WRITE;
        else if (!word_is(argv[3], lens[3], "all")) {
            snprintf(err, errlen, "ERR CLIENT PAUSE mode must be WRITE or ALL");
            return -1;
        }
    }
    char num[32], *endp;
    snprintf(num, sizeof(num), "%.*s", (int)MIN(lens[2], sizeof(num) - 1), argv[2]);
    errno = 0;
    *ms = strtoll(num, &endp, 10);
    if (lens[2] == 0 || lens[2] >= sizeof(num) || *endp || errno) {
        snprintf(err, errlen, "ERR timeout is not an integer or out of range");
        return -1;
    }
    if (*ms < 0) {
        snprintf(err, errlen, "ERR timeout is negative");
        return -1;
    }
    return 0;
}

/* The endpoint's pause: as Redis, the stricter mode and the later end of this pause and the
 * one in force. */
static void pause_start(proxy_view *v, long long ms, int type)
{
    uint64_t end = ev_clock_ms() + (uint64_t)ms;
    if (pause_mode(v) == VIEW_PAUSE_OFF) {
        atomic_store_explicit(&v->pause_end_ms, end, memory_order_relaxed);
        atomic_store_explicit(&v->pause_type, type, memory_order_relaxed);
        return;
    }
    uint64_t was = atomic_load_explicit(&v->pause_end_ms, memory_order_relaxed);
    while (was < end && !atomic_compare_exchange_weak(&v->pause_end_ms, &was, end))
        ;
    int t = atomic_load_explicit(&v->pause_type, memory_order_relaxed);
    while (t < type && !atomic_compare_exchange_weak(&v->pause_type, &t, type))
        ;
}

int pause_queue(session *s, size_t argc, const char *const *argv, const size_t *lens)
{
    long long ms;
    int type;
    char err[200];
    if (parse_pause(argc, argv, lens, &ms, &type, err, sizeof(err)) != 0)
        return 0; /* queued as sent: its engine answers Redis's error inside EXEC's reply */
    /* The transaction's engine pauses at its end (in WRITE mode, as every engine). */
    char num[32];
    snprintf(num, sizeof(num), "%lld", ms);
    const char *wargv[] = {"CLIENT", "PAUSE", num, "WRITE"};
    const size_t wlens[] = {6, 5, strlen(num), 5};
    resp_add_command(&s->multi_cmds, 4, wargv, wlens);
    s->multi_pause_ms = MAX(s->multi_pause_ms, ms);
    s->multi_pause_type = MAX(s->multi_pause_type, type);
    return 1;
}

void pause_after_exec(session *s, int txn_shard)
{
    if (!s->multi_pause_type)
        return;
    pause_start(s->view, s->multi_pause_ms, s->multi_pause_type);
    /* The other primaries pause now (the transaction's pauses at its end, with the transaction:
     * a pause sent to it on another link could arrive first and hold the transaction's own
     * writes). Their replies are the endpoint's, not the client's. */
    char num[32];
    snprintf(num, sizeof(num), "%lld", s->multi_pause_ms);
    const char *argv[] = {"CLIENT", "PAUSE", num, "WRITE"};
    const size_t lens[] = {6, 5, strlen(num), 5};
    worker *w = s->w;
    int n = MAX(worker_topology(w)->nshards, 1);
    for (int i = 0; i < n; i++) {
        if (i == txn_shard)
            continue;
        req *r = req_get(w);
        r->proto = 2;
        r->target = TARGET_SHARD;
        r->shard = (uint16_t)i;
        r->deadline_ms = ev_now_ms(w->loop) + (uint64_t)s->view->limits.backend_timeout;
        r->flags |= REQ_F_ENDPOINT;
        resp_add_command(&r->cmd, 4, argv, lens);
        router_send(w, r);
    }
}

void pause_command(const local_call *c)
{
    session *s = c->s;
    proxy_view *v = s->view;
    long long ms;
    int type;
    char err[200];
    if (parse_pause(c->argc, c->argv, c->lens, &ms, &type, err, sizeof(err)) != 0) {
        router_reply_error(s, "%s", err);
        return;
    }
    char num[32];
    snprintf(num, sizeof(num), "%lld", ms);
    pause_start(v, ms, type);
    /* Every primary pauses writes for as long: keys do not expire meanwhile, and a function
     * that may write waits there. */
    const char *argv[] = {"CLIENT", "PAUSE", num, "WRITE"};
    const size_t lens[] = {6, 5, strlen(num), 5};
    router_fan_out(s, 4, argv, lens, MERGE_ALL_OK, 0);
}

void unpause_command(const local_call *c)
{
    proxy_view *v = c->s->view;
    atomic_store_explicit(&v->pause_type, VIEW_PAUSE_OFF, memory_order_relaxed);
    const char *argv[] = {"CLIENT", "UNPAUSE"};
    const size_t lens[] = {6, 7};
    router_fan_out(c->s, 2, argv, lens, MERGE_ALL_OK, 0);
}
