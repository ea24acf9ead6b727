/* The reply direction: a reply (or its failure) goes back up to its request: fan-out parts
 * are merged (merge.c), MOVED/ASK/TRYAGAIN/LOADING from the engines are absorbed and the
 * request sent again, and the final reply reaches its place in the session queue
 * (session_append_reply). The request direction is request.c; sending is router.c. */
#define ALLOC_ROOM ROOM_PROXY
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "net/tls.h"
#include "proto/keyslot.h"
#include "proxy/proxy_int.h"

#define MAX_REDIRECTS 5

/* ---- delivery ---- */

void router_deliver_final(worker *w, req *r, const char *data, size_t len)
{
    r->flags |= REQ_F_DONE;
    session *s = r->s;
    buf probe;
    if (unlikely(r->cost_probe)) {
        /* STRATUS COST ran a read to measure its reply: the client gets the cost instead. */
        buf_init(&probe);
        admin_cost_reply(w, r, data, len, &probe);
        buf_consume(&r->reply, buf_used(&r->reply));
        buf_append(&r->reply, buf_rptr(&probe), buf_used(&probe));
        buf_deinit(&probe);
        data = buf_rptr(&r->reply);
        len = buf_used(&r->reply);
    }
    if (!s) {
        if (r->meter_cmd)
            meter_charge(w, r, len); /* the engine did the work for a client that left */
        req_put(w, r);
        return;
    }
    if (s->head == r) {
        /* The common case: the oldest request's reply goes straight to the client buffer. */
        session_append_reply(s, r, data, len);
        s->head = r->next;
        if (!s->head)
            s->tail = NULL;
        s->queued--;
        req_put(w, r);
        session_reply_ready(s);
        return;
    }
    if (data != buf_rptr(&r->reply)) {
        buf_consume(&r->reply, buf_used(&r->reply));
        buf_append(&r->reply, data, len);
    }
}

void router_deliver(worker *w, req *r, const char *data, size_t len)
{
    if (unlikely(r->flags & REQ_F_WAIT) && wait_continue(w, r, data, len))
        return;
    if (unlikely(r->flags & REQ_F_ACL_FETCH)) {
        admin_acl_engine_fetched(w, r, data, len);
        req *denied = r->ack; /* the script's request, its reply held until now */
        req_put(w, r);        /* unlinks both */
        if (denied) {
            buf held = denied->reply;
            buf_init(&denied->reply);
            router_deliver(w, denied, buf_rptr(&held), buf_used(&held));
            buf_deinit(&held);
        }
        return;
    }
    if (r->parent) {
        req *p = r->parent;
        buf_append(&r->reply, data, len);
        r->flags |= REQ_F_DONE;
        if (--p->pending == 0)
            merge_children(w, p);
        return;
    }
    router_deliver_final(w, r, data, len);
}

void router_fail(worker *w, req *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf tmp;
    buf_init(&tmp);
    resp_add_error(&tmp, "%s", msg);
    router_deliver(w, r, buf_rptr(&tmp), buf_used(&tmp));
    buf_deinit(&tmp);
}

void router_on_error_reply(worker *w, req *r, const char *data, size_t len)
{
    uint64_t now = ev_now_ms(w->loop);
    atomic_fetch_add_explicit(&w->view->counters.redirects, 1, memory_order_relaxed);
    if (len > 9 && memcmp(data, "-NOSCRIPT", 9) == 0) {
        /* The engine lacks a script this cache was given (another shard ran the EVAL, or the
         * engine restarted): load it there and run the EVALSHA again, so NOSCRIPT never
         * reaches a client that loaded the script. */
        buf body;
        buf_init(&body);
        resp_value *v = NULL;
        size_t used;
        int known =
            r->script_sha && r->redirects++ < MAX_REDIRECTS &&
            resp_value_parse(buf_rptr(&r->cmd), buf_used(&r->cmd), &v, &used) == RESP_DONE &&
            v->type == RESP_T_ARRAY && v->nelem >= 2 &&
            w->view->ops->script_get(w->view->owner, v->elem[1].str, v->elem[1].len, &body) == 0;
        resp_value_free(v);
        if (!known) {
            buf_deinit(&body);
            router_deliver(w, r, data, len);
            return;
        }
        buf cmd;
        buf_init(&cmd);
        const char *load[] = {"SCRIPT", "LOAD", buf_rptr(&body)};
        size_t load_lens[] = {6, 4, buf_used(&body)};
        resp_add_command(&cmd, 3, load, load_lens);
        buf_append(&cmd, buf_rptr(&r->cmd), buf_used(&r->cmd));
        buf_deinit(&r->cmd);
        r->cmd = cmd;
        r->preamble++;
        buf_deinit(&body);
        router_resend(w, r);
        return;
    }
    int moved = len > 7 && memcmp(data, "-MOVED ", 7) == 0;
    int ask = len > 5 && memcmp(data, "-ASK ", 5) == 0;
    if (moved || ask) {
        if (r->redirects++ >= MAX_REDIRECTS) {
            /* Redirections going round (two nodes each naming the other while a failover or a
             * slot move settles): wait a little for the topology, until the deadline. */
            if (now + RETRY_DELAY_MS < r->deadline_ms) {
                r->redirects = MAX_REDIRECTS; /* the next one waits again */
                r->moving = 1;
                r->target = TARGET_SLOT;
                r->flags &= (uint32_t)~REQ_F_ASKING;
                atomic_store(&w->view->refresh_wanted, 1);
                worker_retry_later(w, r);
                return;
            }
            router_fail(w, r, "TRYAGAIN the cache is moving this slot; retry shortly");
            return;
        }
        /* "-MOVED <slot> <ip:port>\r\n": the address is the last word. */
        const char *end = data + len;
        while (end > data && (end[-1] == '\r' || end[-1] == '\n'))
            end--;
        const char *sp = end;
        while (sp > data && sp[-1] != ' ')
            sp--;
        size_t al = (size_t)(end - sp);
        if (al == 0 || al >= sizeof(r->ask_addr)) {
            router_fail(w, r, "ERR malformed redirection from an engine");
            return;
        }
        memcpy(r->ask_addr, sp, al);
        r->ask_addr[al] = '\0';
        r->target = TARGET_NODE;
        if (ask)
            r->flags |= REQ_F_ASKING;
        else {
            r->flags &= (uint32_t)~REQ_F_ASKING;
            atomic_store(&w->view->refresh_wanted, 1);
        }
        router_resend(w, r);
        return;
    }
    static const char unblocked[] = "-UNBLOCKED force unblock";
    if (len > sizeof(unblocked) - 1 && memcmp(data, unblocked, sizeof(unblocked) - 1) == 0) {
        /* The engine turned replica under a blocked client (a failover Stratus did not make):
         * the command blocks again on the new primary for the time it has left. CLIENT
         * UNBLOCK ... ERROR's own "-UNBLOCKED client unblocked" is the client's reply. */
        if (!(r->flags & REQ_F_BLOCKING) || r->redirects++ >= MAX_REDIRECTS) {
            router_deliver(w, r, data, len);
            return;
        }
        router_reblock(w, r);
        r->target = TARGET_SLOT;
        r->flags &= (uint32_t)~REQ_F_ASKING;
        atomic_store(&w->view->refresh_wanted, 1);
        worker_retry_later(w, r);
        return;
    }
    /* TRYAGAIN, LOADING, CLUSTERDOWN, MASTERDOWN, NOREPLICAS (sync durability: the primary has no
     * replica in reach yet), and OOM while the autoscaler can still grow
     * the shard: nothing ran; try again until the deadline. */
    if (len > 4 && memcmp(data, "-OOM", 4) == 0)
        atomic_store(&w->view->memory_pressure, 1); /* sample now, not at the next turn */
    if (len > 9 && memcmp(data, "-TRYAGAIN", 9) == 0)
        r->moving = 1;
    if (now + RETRY_DELAY_MS < r->deadline_ms) {
        if (r->target == TARGET_NODE)
            r->target = TARGET_SLOT;
        r->flags &= (uint32_t)~REQ_F_ASKING;
        atomic_store(&w->view->refresh_wanted, 1);
        worker_retry_later(w, r);
        return;
    }
    router_deliver(w, r, data, len);
}

void router_reblock(worker *w, req *r)
{
    /* Time to find the new primary counts from now, whatever happens to the timeout. */
    r->deadline_ms = ev_now_ms(w->loop) + (uint64_t)w->view->limits.backend_timeout;
    resp_value *v = NULL;
    size_t used;
    if (r->preamble ||
        resp_value_parse(buf_rptr(&r->cmd), buf_used(&r->cmd), &v, &used) != RESP_DONE ||
        v->type != RESP_T_ARRAY || v->nelem == 0) {
        resp_value_free(v);
        return;
    }
    size_t argc = v->nelem;
    const char **argv = xmalloc(argc * sizeof(char *));
    size_t *lens = xmalloc(argc * sizeof(size_t));
    for (size_t i = 0; i < argc; i++) {
        argv[i] = v->elem[i].str ? v->elem[i].str : "";
        lens[i] = v->elem[i].len;
    }
    int in_ms;
    int at = cmd_block_timeout_arg(argc, argv, lens, &in_ms);
    char num[32], text[32];
    snprintf(num, sizeof(num), "%.*s", at > 0 ? (int)MIN(lens[at], sizeof(num) - 1) : 0,
             at > 0 ? argv[at] : "");
    double asked = strtod(num, NULL); /* seconds, or ms for BLOCK */
    if (at > 0 && asked > 0) {
        /* 0 blocks forever and stays 0; an expired wait becomes the smallest one, so the
         * engine itself gives the timeout's reply in the client's protocol. */
        double spent = (double)(ev_now_ms(w->loop) - r->born_ms);
        double left = in_ms ? asked - spent : asked - spent / 1000.0;
        if (in_ms)
            snprintf(text, sizeof(text), "%lld", left >= 1 ? (long long)left : 1LL);
        else
            snprintf(text, sizeof(text), "%.3f", left >= 0.001 ? left : 0.001);
        argv[at] = text;
        lens[at] = strlen(text);
        buf cmd;
        buf_init(&cmd);
        resp_add_command(&cmd, argc, argv, lens);
        buf_deinit(&r->cmd);
        r->cmd = cmd;
    }
    xfree(argv);
    xfree(lens);
    resp_value_free(v);
}
