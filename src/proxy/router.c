/* Router: decides where each command goes (table-driven, by hash slot), splits multi-key
 * commands across slots and merges their replies in key order, absorbs MOVED/ASK/TRYAGAIN/
 * LOADING from the engines, and delivers replies to their slot in the session queue. */
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
#define RETRY_DELAY_MS 20 /* as worker.c: retries leave the queue in order */
#define KEYS_STACK 64

/* ---- delivery ---- */

static void merge_children(worker *w, req *p);

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
        req_put(w, r);
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

/* ---- merging fan-out replies ---- */

#define SCAN_SHARD_BITS 64u /* cursor = engine cursor * 64 + shard (at most 64 shards) */

/* KEYS (arrays concatenated), RANDOMKEY (a non-nil reply, shards taken in turn) and SCAN (the
 * one shard's reply, its cursor made cache-wide). */
static void merge_values(worker *w, req *p, buf *out)
{
    resp_value **vals = xcalloc(p->nchildren, sizeof(*vals));
    int ok = 1;
    for (uint32_t i = 0; i < p->nchildren && ok; i++) {
        const buf *rb = &p->children[i]->reply;
        size_t used;
        ok = resp_value_parse(buf_rptr(rb), buf_used(rb), &vals[i], &used) == RESP_DONE;
    }
    if (ok && p->merge == MERGE_CONCAT) {
        size_t total = 0;
        for (uint32_t i = 0; i < p->nchildren && ok; i++) {
            ok = vals[i]->type == RESP_T_ARRAY || vals[i]->type == RESP_T_SET;
            total += ok ? vals[i]->nelem : 0;
        }
        if (ok) {
            resp_add_array(out, total);
            for (uint32_t i = 0; i < p->nchildren; i++)
                for (size_t j = 0; j < vals[i]->nelem; j++)
                    buf_append(out, vals[i]->elem[j].raw, vals[i]->elem[j].raw_len);
        }
    } else if (ok && p->merge == MERGE_RANDOM) {
        uint32_t start = w->rotation++ % p->nchildren, i;
        for (i = 0; i < p->nchildren; i++) {
            const resp_value *v = vals[(start + i) % p->nchildren];
            if (v->type != RESP_T_NULL) {
                buf_append(out, v->raw, v->raw_len);
                break;
            }
        }
        if (i == p->nchildren)
            buf_append(out, vals[0]->raw, vals[0]->raw_len);
    } else if (ok && p->merge == MERGE_SCAN) {
        const resp_value *v = vals[0];
        ok = v->type == RESP_T_ARRAY && v->nelem == 2 && v->elem[0].type == RESP_T_BULK;
        if (ok) {
            char num[32];
            snprintf(num, sizeof(num), "%.*s", (int)MIN(v->elem[0].len, 30), v->elem[0].str);
            unsigned long long ec = strtoull(num, NULL, 10), next = 0;
            unsigned shard = p->shard;
            const topology *t = worker_topology(w);
            if (ec != 0)
                next = ec * SCAN_SHARD_BITS + shard;
            else if (shard + 1 < (unsigned)t->nshards)
                next = shard + 1; /* this shard is done: the next one from its start */
            snprintf(num, sizeof(num), "%llu", next);
            resp_add_array(out, 2);
            resp_add_cstr(out, num);
            buf_append(out, v->elem[1].raw, v->elem[1].raw_len);
        }
    }
    if (!ok) {
        buf_consume(out, buf_used(out));
        resp_add_error(out, "ERR unexpected reply from an engine while merging");
    }
    for (uint32_t i = 0; i < p->nchildren; i++)
        resp_value_free(vals[i]);
    xfree(vals);
}

/* PUBSUB SHARDNUMSUB: every shard answers [channel, count ...] in the same order; a shard
 * channel lives on one shard, so the counts add up exactly. */
static void merge_numsub(req *p, buf *out)
{
    resp_value **vals = xcalloc(p->nchildren, sizeof(*vals));
    int ok = 1;
    for (uint32_t i = 0; i < p->nchildren && ok; i++) {
        const buf *rb = &p->children[i]->reply;
        size_t used;
        ok = resp_value_parse(buf_rptr(rb), buf_used(rb), &vals[i], &used) == RESP_DONE &&
             (vals[i]->type == RESP_T_ARRAY || vals[i]->type == RESP_T_MAP) &&
             vals[i]->nelem == vals[0]->nelem;
    }
    if (ok) {
        resp_add_map(out, vals[0]->nelem / 2, p->proto);
        for (size_t j = 0; j + 1 < vals[0]->nelem; j += 2) {
            long long sum = 0;
            for (uint32_t i = 0; i < p->nchildren; i++)
                sum += vals[i]->elem[j + 1].integer;
            buf_append(out, vals[0]->elem[j].raw, vals[0]->elem[j].raw_len);
            resp_add_int(out, sum);
        }
    } else {
        resp_add_error(out, "ERR unexpected reply from an engine while merging");
    }
    for (uint32_t i = 0; i < p->nchildren; i++)
        resp_value_free(vals[i]);
    xfree(vals);
}

static void merge_children(worker *w, req *p)
{
    if (p->merge == MERGE_GATHER) {
        gather_merge(w, p); /* a cross-slot read: its phases are gather.c's */
        return;
    }
    buf out;
    buf_init(&out);
    if (p->merge == MERGE_KILL) {
        diag_merge_kill(p, &out); /* NOTBUSY from one shard is not the command's error */
        goto done;
    }
    /* Any shard's error is the command's error, as a single node would report it. */
    for (uint32_t i = 0; i < p->nchildren; i++) {
        const buf *rb = &p->children[i]->reply;
        if (buf_used(rb) && (buf_rptr(rb)[0] == '-' || buf_rptr(rb)[0] == '!')) {
            buf_append(&out, buf_rptr(rb), buf_used(rb));
            goto done;
        }
    }
    if (p->merge == MERGE_SUM) {
        long long sum = 0;
        for (uint32_t i = 0; i < p->nchildren; i++) {
            const buf *rb = &p->children[i]->reply;
            sum += strtoll(buf_rptr(rb) + 1, NULL, 10);
        }
        resp_add_int(&out, sum);
    } else if (p->merge == MERGE_MAX) {
        long long max = 0;
        for (uint32_t i = 0; i < p->nchildren; i++) {
            const buf *rb = &p->children[i]->reply;
            max = MAX(max, strtoll(buf_rptr(rb) + 1, NULL, 10));
        }
        resp_add_int(&out, max);
    } else if (p->merge == MERGE_ALL_OK) {
        resp_add_simple(&out, "OK");
    } else if (p->merge == MERGE_CONCAT || p->merge == MERGE_RANDOM || p->merge == MERGE_SCAN) {
        merge_values(w, p, &out);
    } else if (p->merge == MERGE_FIRST) {
        const buf *rb = &p->children[0]->reply;
        buf_append(&out, buf_rptr(rb), buf_used(rb));
    } else if (p->merge == MERGE_CONFIG_SET) {
        admin_config_record(w, p);
        resp_add_simple(&out, "OK");
    } else if (p->merge == MERGE_CONFIG_GET) {
        const buf *rb = &p->children[0]->reply;
        admin_config_filter(p->proto, buf_rptr(rb), buf_used(rb), &out);
    } else if (p->merge == MERGE_NUMSUB) {
        merge_numsub(p, &out);
    } else if (p->merge == MERGE_INFO) {
        info_sums sums = {0, 0, 0};
        for (uint32_t i = 0; i < p->nchildren; i++) {
            const buf *rb = &p->children[i]->reply;
            resp_value *v = NULL;
            size_t used;
            if (resp_value_parse(buf_rptr(rb), buf_used(rb), &v, &used) == RESP_DONE &&
                (v->type == RESP_T_BULK || v->type == RESP_T_VERBATIM))
                local_info_add_engine(&sums, v->str, v->len);
            resp_value_free(v);
        }
        if (p->s)
            local_info_build(p->s, &out, p->info_sections, &sums);
    } else if (p->merge == MERGE_MGET) {
        resp_value **vals = xcalloc(p->nchildren, sizeof(*vals));
        int ok = 1;
        for (uint32_t i = 0; i < p->nchildren && ok; i++) {
            const buf *rb = &p->children[i]->reply;
            size_t used;
            ok = resp_value_parse(buf_rptr(rb), buf_used(rb), &vals[i], &used) == RESP_DONE &&
                 vals[i]->type == RESP_T_ARRAY;
        }
        if (ok) {
            resp_add_array(&out, p->nkeys);
            for (uint32_t k = 0; k < p->nkeys && ok; k++) {
                uint32_t child = p->key_map[2 * k], idx = p->key_map[2 * k + 1];
                const resp_value *v = vals[child];
                if (idx >= v->nelem) {
                    ok = 0;
                    break;
                }
                buf_append(&out, v->elem[idx].raw, v->elem[idx].raw_len);
            }
        }
        if (!ok) {
            buf_consume(&out, buf_used(&out));
            resp_add_error(&out, "ERR unexpected reply from an engine while merging MGET");
        }
        for (uint32_t i = 0; i < p->nchildren; i++)
            resp_value_free(vals[i]);
        xfree(vals);
    } else {
        diag_merge(p, &out); /* SLOWLOG, LATENCY, MEMORY STATS */
    }
done:
    for (uint32_t i = 0; i < p->nchildren; i++)
        req_put(w, p->children[i]);
    xfree(p->children);
    p->children = NULL;
    p->nchildren = 0;
    router_deliver_final(w, p, buf_rptr(&out), buf_used(&out));
    buf_deinit(&out);
}

/* ---- sending ---- */

/* The identity r runs under, bound (and held) the first time it is sent: the endpoint's own
 * for what the endpoint composes, else its client's user. A request whose client left before
 * it was ever sent has none. */
static ident *req_ident(worker *w, req *r)
{
    if (r->ident)
        return r->ident;
    ident *id = NULL;
    if (r->flags & (REQ_F_ENDPOINT | REQ_F_OOB)) {
        id = w->endpoint;
    } else {
        session *s = req_session(r);
        id = s ? s->ident : NULL;
    }
    if (id) {
        id->refs++;
        r->ident = id;
    }
    return id;
}

/* The shared link of identity id to node for proto, or its out-of-band link: a command that
 * must not wait behind a script running on the shared link (SCRIPT KILL) goes on a link of its
 * own. */
static backend *link_for(worker *w, ident *id, const topology *t, int node, int proto, int oob)
{
    int pi = oob ? 2 : proto == 3 ? 1 : 0;
    backend *b = id->links[pi][node];
    if (!b) {
        b = backend_create(w, t->nodes[node].addr, oob ? 2 : proto, id->user);
        id->links[pi][node] = b;
    }
    return b;
}

/* A read of a session on the reader port (or one that sent READONLY): the shard's replica in
 * this endpoint's zone when it is serving, else node (the primary). Eventually consistent. */
static int zone_reader(worker *w, const req *r, const topology *t, int node)
{
    session *owner = req_session(r);
    if (!owner || !(owner->reader || owner->readonly) || owner->watching || owner->multi ||
        (r->flags & (REQ_F_BLOCKING | REQ_F_PINNED | REQ_F_PUBSUB | REQ_F_OOB)))
        return node;
    const topo_shard *sh = &t->shards[t->nodes[node].shard];
    for (int i = 0; i < sh->nreplicas; i++) {
        const topo_node *n = &t->nodes[sh->replicas[i]];
        if (strcmp(n->zone, w->view->zone) == 0 &&
            atomic_load_explicit(&n->available, memory_order_relaxed))
            return sh->replicas[i];
    }
    return node;
}

int router_try_send(worker *w, req *r)
{
    uint64_t now = ev_now_ms(w->loop);
    ident *id = req_ident(w, r);
    if (unlikely(!id)) {
        /* Only a client's own command lacks one, and only once its client is gone: it never
         * runs under another user's identity. */
        router_fail(w, r, "ERR the client of this command disconnected before it was sent");
        return 0;
    }
    view_sleep *sl = &w->view->sleep;
    if (atomic_load_explicit(&sl->asleep, memory_order_relaxed)) {
        /* Hibernated: the request waits for the wake it asks for (longer than for a failover:
         * engines load their data first), unless the wake already failed. */
        if (atomic_load_explicit(&sl->wake_failed, memory_order_acquire)) {
            router_fail(w, r, "%s", sl->wake_error);
            return 0;
        }
        if (!atomic_exchange_explicit(&sl->wake_wanted, 1, memory_order_relaxed)) {
            session *owner = req_session(r);
            log_info("cache %s: woken by a request (%s) from %s", w->view->name,
                     owner && owner->last_cmd ? owner->last_cmd : "internal",
                     owner ? owner->addr : "the endpoint");
        }
        if (r->deadline_ms < r->born_ms + VIEW_WAKE_WAIT_MS)
            r->deadline_ms = r->born_ms + VIEW_WAKE_WAIT_MS;
        return -EAGAIN;
    }
    const topology *t = worker_topology(w);
    int node = -1;
    if (r->target == TARGET_NODE) {
        node = topo_find_node(t, r->ask_addr, strlen(r->ask_addr));
        if (node < 0) {
            /* The named node is not in our snapshot yet: route by slot after a refresh. */
            atomic_store(&w->view->refresh_wanted, 1);
            r->target = TARGET_SLOT;
            r->flags &= (uint32_t)~REQ_F_ASKING;
        }
    }
    if (r->target == TARGET_HOME)
        node = t->pubsub_home;
    if (node < 0 && r->target != TARGET_HOME) {
        unsigned shard = r->target == TARGET_SHARD ? r->shard : t->slot_shard[r->slot];
        if (shard < (unsigned)t->nshards)
            node = t->shards[shard].primary;
    }
    if (node >= 0 && (r->flags & REQ_F_READONLY) && r->target != TARGET_NODE)
        node = zone_reader(w, r, t, node);
    if (node >= 0 && !(r->flags & REQ_F_READONLY)) {
        session *owner = req_session(r);
        if (owner && t->nodes[node].shard < 64)
            owner->wrote_shards |= 1ull << t->nodes[node].shard; /* for WAIT */
    }
    /* A primary that is restarting or still settling (cluster_state not ok yet) gets nothing:
     * its requests wait rather than bounce off CLUSTERDOWN or LOADING. Out-of-band requests go
     * anyway: a primary busy with a script looks unavailable, and SCRIPT KILL is for it. */
    int available =
        atomic_load_explicit(&t->nodes[node < 0 ? 0 : node].available, memory_order_relaxed) ||
        (r->flags & REQ_F_OOB);
    if (node < 0 || !available) {
        if (now < r->deadline_ms)
            return -EAGAIN;
        router_fail(w, r,
                    "CLUSTERDOWN the cache has no engine serving slot %u right now; "
                    "retry shortly",
                    r->slot);
        return 0;
    }
    if (now >= r->deadline_ms) {
        if (r->moving)
            router_fail(w, r, "TRYAGAIN the cache is moving this slot; retry shortly");
        else
            router_fail(w, r, "ERR engine unavailable for %ld ms; the command was not applied",
                        w->view->limits.backend_timeout);
        return 0;
    }
    if (r->flags & REQ_F_PUBSUB)
        return pubsub_send(w, r, t, node);
    if (r->flags & (REQ_F_BLOCKING | REQ_F_PINNED)) {
        /* Blocking commands never share a link (they would hold up everyone behind them), and
         * a WATCH lives on one connection: both use the session's private link. */
        if (!r->s) {
            req_put(w, r);
            return 0;
        }
        int limited = 0;
        backend *b = backend_private(r->s, t->nodes[node].addr, r->proto, id->user, &limited);
        if (!b && limited == 2) {
            router_fail(w, r,
                        "ERR blocking commands and WATCH on keys of another shard are not "
                        "available while subscribed; use another connection");
            return 0;
        }
        if (!b) {
            char why[400];
            backend_limited_error(r->s, limited, why, sizeof(why));
            router_fail(w, r, "%s", why);
            return 0;
        }
        return backend_send(b, r);
    }
    return backend_send(link_for(w, id, t, node, r->proto, (r->flags & REQ_F_OOB) != 0), r);
}

void router_send(worker *w, req *r)
{
    req_ident(w, r); /* bound now, while its client is surely there */
    /* While a request of this session waits to be retried, later ones queue behind it, so a
     * client never sees a later command run before an earlier one (read your writes). */
    session *owner = req_session(r);
    if ((owner && owner->retrying > 0) || router_try_send(w, r) == -EAGAIN)
        worker_retry_later(w, r);
}

void router_resend(worker *w, req *r)
{
    if (router_try_send(w, r) == -EAGAIN)
        worker_retry_later(w, r);
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

/* ---- dispatch ---- */

void router_reply_error(session *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    req *r = session_queue_req(s);
    resp_add_error(&r->reply, "%s", msg);
    router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
}

static void set_cmd(req *r, size_t argc, const char *const *argv, const size_t *lens,
                    const char *raw, size_t rawlen)
{
    if (raw)
        buf_append(&r->cmd, raw, rawlen);
    else
        resp_add_command(&r->cmd, argc, argv, lens);
}

static void unknown_command(session *s, size_t argc, const char *const *argv, const size_t *lens)
{
    char args[256];
    size_t n = 0;
    args[0] = '\0';
    for (size_t i = 1; i < argc && n < 160; i++)
        n +=
            (size_t)snprintf(args + n, sizeof(args) - n, "'%.*s' ", (int)MIN(lens[i], 40), argv[i]);
    router_reply_error(s, "ERR unknown command '%.*s', with args beginning with: %s",
                       (int)MIN(lens[0], 64), argv[0], args);
}

static void crossslot(session *s, const char *const *argv, const size_t *lens, const uint32_t *keys,
                      int nkeys)
{
    char detail[400];
    size_t n = 0;
    unsigned first = keyslot(argv[keys[0]], lens[keys[0]]);
    for (int i = 0; i < nkeys && n < 300; i++) {
        unsigned sl = keyslot(argv[keys[i]], lens[keys[i]]);
        if (i > 0 && sl == first)
            continue;
        n += (size_t)snprintf(detail + n, sizeof(detail) - n, "%s'%.*s' slot %u", n ? ", " : "",
                              (int)MIN(lens[keys[i]], 40), argv[keys[i]], sl);
    }
    router_reply_error(
        s,
        "CROSSSLOT Keys in request don't hash to the same slot (%s); give related keys "
        "the same hash tag, e.g. {user}:1 and {user}:2",
        detail);
}

static int slot_arg(const char *p, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v < TOPO_SLOTS ? v : -1;
}

/* Split a multi-key command by slot; one child request per distinct slot. */
static void dispatch_split(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                           const size_t *lens, const char *raw, size_t rawlen)
{
    worker *w = s->w;
    size_t per = d->merge == MERGE_ALL_OK ? 2 : 1; /* MSET: key value pairs */
    size_t nkeys = (argc - 1) / per;
    if (per == 2 && (argc - 1) % 2 != 0) {
        router_reply_error(s, "ERR wrong number of arguments for '%s' command", d->name);
        return;
    }
    uint16_t *slots = xmalloc(nkeys * sizeof(*slots));
    int same = 1;
    for (size_t k = 0; k < nkeys; k++) {
        slots[k] = (uint16_t)keyslot(argv[1 + k * per], lens[1 + k * per]);
        same &= slots[k] == slots[0];
    }
    req *p = session_queue_req(s);
    if (same) {
        p->target = TARGET_SLOT;
        p->slot = slots[0];
        if (d->flags & CMD_F_READONLY)
            p->flags |= REQ_F_READONLY;
        set_cmd(p, argc, argv, lens, raw, rawlen);
        xfree(slots);
        router_send(w, p);
        return;
    }
    /* Group keys by slot: children in order of first appearance. */
    int32_t *child_of_slot = xmalloc(TOPO_SLOTS * sizeof(int32_t));
    memset(child_of_slot, 0xff, TOPO_SLOTS * sizeof(int32_t));
    uint32_t nchildren = 0;
    uint32_t *count = xcalloc(nkeys, sizeof(uint32_t));
    p->merge = d->merge;
    p->key_map = xmalloc(2 * nkeys * sizeof(uint32_t));
    p->nkeys = (uint32_t)nkeys;
    for (size_t k = 0; k < nkeys; k++) {
        if (child_of_slot[slots[k]] < 0)
            child_of_slot[slots[k]] = (int32_t)nchildren++;
        uint32_t c = (uint32_t)child_of_slot[slots[k]];
        p->key_map[2 * k] = c;
        p->key_map[2 * k + 1] = count[c]++;
    }
    p->children = xcalloc(nchildren, sizeof(req *));
    p->nchildren = p->pending = nchildren;
    const char **sub_argv = xmalloc((1 + count[0] * per + nkeys * per) * sizeof(char *));
    size_t *sub_lens = xmalloc((1 + count[0] * per + nkeys * per) * sizeof(size_t));
    for (uint32_t c = 0; c < nchildren; c++) {
        size_t n = 0;
        sub_argv[n] = argv[0];
        sub_lens[n++] = lens[0];
        uint16_t slot = 0;
        for (size_t k = 0; k < nkeys; k++) {
            if (p->key_map[2 * k] != c)
                continue;
            slot = slots[k];
            for (size_t j = 0; j < per; j++) {
                sub_argv[n] = argv[1 + k * per + j];
                sub_lens[n++] = lens[1 + k * per + j];
            }
        }
        req *ch = req_get(w);
        ch->parent = p;
        ch->proto = p->proto;
        ch->target = TARGET_SLOT;
        ch->slot = slot;
        ch->deadline_ms = p->deadline_ms;
        if (d->flags & CMD_F_READONLY)
            ch->flags |= REQ_F_READONLY;
        resp_add_command(&ch->cmd, n, sub_argv, sub_lens);
        p->children[c] = ch;
    }
    xfree(sub_argv);
    xfree(sub_lens);
    xfree(count);
    xfree(child_of_slot);
    xfree(slots);
    for (uint32_t c = 0; c < nchildren; c++)
        router_send(w, p->children[c]);
}

/* Send the same command to every shard's primary. */
static void dispatch_all(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                         const size_t *lens, const char *raw, size_t rawlen)
{
    worker *w = s->w;
    const topology *t = worker_topology(w);
    req *p = session_queue_req(s);
    p->merge = d->merge;
    uint32_t n = (uint32_t)MAX(t->nshards, 1);
    p->children = xcalloc(n, sizeof(req *));
    p->nchildren = p->pending = n;
    for (uint32_t i = 0; i < n; i++) {
        req *ch = req_get(w);
        ch->parent = p;
        ch->proto = p->proto;
        ch->target = TARGET_SHARD;
        ch->shard = (uint16_t)i;
        ch->deadline_ms = p->deadline_ms;
        if (d->flags & CMD_F_READONLY)
            ch->flags |= REQ_F_READONLY;
        if (d->flags & CMD_F_OOB)
            ch->flags |= REQ_F_OOB;
        if (d->flags & CMD_F_ENDPOINT)
            ch->flags |= REQ_F_ENDPOINT;
        if (!diag_child_cmd(d, ch, argc, argv, lens))
            set_cmd(ch, argc, argv, lens, raw, rawlen);
        p->children[i] = ch;
    }
    for (uint32_t i = 0; i < n; i++)
        router_send(w, p->children[i]);
}

req *router_fan_out(session *s, size_t argc, const char *const *argv, const size_t *lens,
                    uint8_t merge, int one_shard)
{
    worker *w = s->w;
    const topology *t = worker_topology(w);
    req *p = session_queue_req(s);
    p->merge = merge;
    uint32_t n = one_shard ? 1 : (uint32_t)MAX(t->nshards, 1);
    p->children = xcalloc(n, sizeof(req *));
    p->nchildren = p->pending = n;
    for (uint32_t i = 0; i < n; i++) {
        req *ch = req_get(w);
        ch->parent = p;
        ch->proto = p->proto;
        ch->target = TARGET_SHARD;
        ch->shard = (uint16_t)(one_shard ? s->id % (uint64_t)MAX(t->nshards, 1) : i);
        ch->deadline_ms = p->deadline_ms;
        ch->flags |= REQ_F_ENDPOINT; /* CONFIG GET/SET, checked and filtered here */
        resp_add_command(&ch->cmd, argc, argv, lens);
        p->children[i] = ch;
    }
    for (uint32_t i = 0; i < n; i++)
        router_send(w, p->children[i]);
    return p;
}

void router_queue_or_send(session *s, req *r)
{
    /* As on a Redis connection: r runs after the client's earlier commands, and nothing the
     * client sends after it runs until it returns. */
    s->barrier = 1;
    if (s->head != r) {
        s->held = r;
        return;
    }
    router_send(s->w, r);
}

int router_keys_slot(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                     const size_t *lens, int *slot)
{
    uint32_t stack_keys[KEYS_STACK];
    uint32_t *keys = stack_keys;
    int n = cmd_get_keys(d, argc, argv, lens, keys, KEYS_STACK);
    if (n == -E2BIG) {
        keys = xmalloc(argc * sizeof(uint32_t));
        n = cmd_get_keys(d, argc, argv, lens, keys, argc);
    }
    if (n < 0)
        n = 0; /* arguments that do not parse: the engine reports its own error */
    *slot = n > 0 ? (int)keyslot(argv[keys[0]], lens[keys[0]]) : 0;
    for (int i = 1; i < n; i++) {
        if ((int)keyslot(argv[keys[i]], lens[keys[i]]) != *slot) {
            crossslot(s, argv, lens, keys, n);
            n = -1;
            break;
        }
    }
    if (keys != stack_keys)
        xfree(keys);
    return n;
}

/* While WATCH is in force every command goes to the watched slot's engine connection. 0, or
 * -1 when r was answered with an error. */
static int pin_to_watch(session *s, req *r, int nkeys, int slot)
{
    if (!s->watching)
        return 0;
    if (nkeys > 0 && slot != s->pin_slot) {
        router_fail(s->w, r,
                    "CROSSSLOT Keys in request don't hash to the slot of the WATCHed keys (slot "
                    "%u, this command's slot %d); give them the same hash tag, or UNWATCH first",
                    s->pin_slot, slot);
        return -1;
    }
    r->flags |= REQ_F_PINNED;
    r->target = TARGET_SLOT;
    r->slot = s->pin_slot;
    return 0;
}

/* SCAN: the cursor names a shard and that shard's own cursor; see merge_values. */
static void dispatch_scan(session *s, size_t argc, const char *const *argv, const size_t *lens)
{
    char num[32];
    char *end;
    snprintf(num, sizeof(num), "%.*s", (int)MIN(lens[1], 30), argv[1]);
    errno = 0;
    unsigned long long cursor = strtoull(num, &end, 10);
    const topology *t = worker_topology(s->w);
    if (errno || *end || num[0] == '-' || lens[1] > 30 ||
        cursor % SCAN_SHARD_BITS >= (unsigned long long)MAX(t->nshards, 1)) {
        router_reply_error(s, "ERR invalid cursor");
        return;
    }
    char ec[32];
    snprintf(ec, sizeof(ec), "%llu", cursor / SCAN_SHARD_BITS);
    const char **sub = xmalloc(argc * sizeof(char *));
    size_t *sub_lens = xmalloc(argc * sizeof(size_t));
    for (size_t i = 0; i < argc; i++) {
        sub[i] = argv[i];
        sub_lens[i] = lens[i];
    }
    sub[1] = ec;
    sub_lens[1] = strlen(ec);
    req *p = session_queue_req(s);
    p->merge = MERGE_SCAN;
    p->shard = (uint16_t)(cursor % SCAN_SHARD_BITS);
    p->children = xcalloc(1, sizeof(req *));
    p->nchildren = p->pending = 1;
    req *ch = req_get(s->w);
    ch->parent = p;
    ch->proto = p->proto;
    ch->target = TARGET_SHARD;
    ch->shard = p->shard;
    ch->deadline_ms = p->deadline_ms;
    ch->flags |= REQ_F_READONLY;
    resp_add_command(&ch->cmd, argc, sub, sub_lens);
    p->children[0] = ch;
    xfree(sub);
    xfree(sub_lens);
    router_send(s->w, ch);
}

/* A command refused before it could run (unknown, wrong arity, NOAUTH, NOPERM): not charged,
 * counted in the minute's usage record. */
static void rejected(session *s)
{
    if (s->view->meter.on)
        atomic_fetch_add_explicit(&s->view->meter.rejected, 1, memory_order_relaxed);
}

/* The command being dispatched runs once the client's earlier commands are answered: it is
 * parsed again then (and counted and charged then). 1 when it must wait. */
static int after_earlier(session *s)
{
    if (s->queued == 0)
        return 0;
    s->redo = 1;
    s->meter_cmd = 0;
    atomic_fetch_sub_explicit(&s->view->counters.total_commands, 1, memory_order_relaxed);
    return 1;
}

/* A command whose engine requests are the endpoint's own (REQ_F_ENDPOINT) travels on other
 * links than the client's, so the order of one connection is kept by waiting instead: it runs
 * once the client's earlier commands are answered (1: it is parsed again then), and the
 * client's later commands wait until it is answered (the barrier). */
static int endpoint_turn(session *s)
{
    if (after_earlier(s))
        return 1;
    s->barrier = 1;
    return 0;
}

#define THROTTLE_ABSORB_MS 100 /* over the ECPU/s limit, a command waits this long at most */

/* The cache's ECPU/s limit: 0 when the command may run now. Otherwise it either waits (a short
 * wait is absorbed: the command is parsed again once it is over) or gets THROTTLED with the
 * wait it would need; 1 either way. */
static int throttle(session *s)
{
    meter_ledger *m = &s->view->meter;
    uint64_t now = ev_now_ms(s->w->loop);
    uint64_t wait = 0, user_wait = 0;
    if (m->max_ecpu_s) {
        pthread_mutex_lock(&m->bucket_lock);
        wait = meter_bucket_wait(&m->bucket, now);
        pthread_mutex_unlock(&m->bucket_lock);
    }
    if (s->quota) {
        pthread_mutex_lock(&s->quota->lock);
        user_wait = meter_bucket_wait(&s->quota->bucket, now);
        pthread_mutex_unlock(&s->quota->lock);
    }
    int by_user = user_wait > wait;
    wait = MAX(wait, user_wait);
    if (wait == 0)
        return 0;
    s->meter_cmd = 0;
    atomic_fetch_sub_explicit(&s->view->counters.total_commands, 1,
                              memory_order_relaxed); /* counted when it runs */
    if (wait <= THROTTLE_ABSORB_MS) {
        s->throttled_until = now + wait;
        s->w->scan_soon = 1;
        return 1;
    }
    atomic_fetch_add_explicit(&m->throttled, 1, memory_order_relaxed);
    if (by_user)
        router_reply_error(s,
                           "THROTTLED ECPU/s quota of user %s on cache %s reached (%ld ECPU/s), "
                           "retry after %llu ms",
                           s->quota->user, s->view->name, s->quota->ecpu_s,
                           (unsigned long long)wait);
    else
        router_reply_error(s,
                           "THROTTLED ECPU/s limit of cache %s reached (%ld ECPU/s), retry after "
                           "%llu ms",
                           s->view->name, m->max_ecpu_s, (unsigned long long)wait);
    return 1;
}

void router_dispatch(session *s, size_t argc, const char *const *argv, const size_t *lens,
                     const char *raw, size_t rawlen)
{
    atomic_fetch_add_explicit(&s->view->counters.total_commands, 1, memory_order_relaxed);
    s->meter_cmd = 0; /* an error answered before the metering point below is not charged */
    s->meter_in = 0;
    const cmd_def *d = cmd_lookup(argv[0], lens[0]);
    if (!d) {
        unknown_command(s, argc, argv, lens);
        txn_mark_dirty(s);
        rejected(s);
        return;
    }
    /* A container's subcommand is the command (COMMAND runs alone too, COMMAND COUNT is
     * command|count for ACL and routing alike). */
    if (d->route == ROUTE_PARENT || (d->nsubs && argc >= 2)) {
        if (argc < 2) {
            router_reply_error(s, "ERR wrong number of arguments for '%s' command", d->name);
            rejected(s);
            return;
        }
        const cmd_def *sub = cmd_lookup_sub(d, argv[1], lens[1]);
        int refused = d->route == ROUTE_REFUSED || d->route == ROUTE_LATER;
        if (!sub && !refused) {
            router_reply_error(s, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                               (int)MIN(lens[1], 64), argv[1], d->name);
            txn_mark_dirty(s);
            rejected(s);
            return;
        }
        if (!sub)
            sub = d; /* a container refused as a whole says why, whatever follows it */
        d = sub;
    }
    s->last_cmd = d->name; /* CLIENT LIST cmd= and idle= */
    s->last_ms = ev_now_ms(s->w->loop);
    if (!cmd_arity_ok(d, argc)) {
        router_reply_error(s, "ERR wrong number of arguments for '%s' command", d->name);
        txn_mark_dirty(s);
        rejected(s);
        return;
    }
    if (!s->authed && !(d->flags & CMD_F_NOAUTH)) {
        router_reply_error(s, "NOAUTH Authentication required.");
        rejected(s);
        return;
    }
    if (unlikely(d->route == ROUTE_LOCAL && d->local == LOCAL_RESET)) {
        /* RESET ends what earlier commands started (a WATCH, subscriptions): it runs once they
         * are answered, in or out of MULTI, subscribed or not. */
        if (!after_earlier(s))
            clients_reset(s);
        return;
    }
    /* Another user means other engine links: the commands sent before an AUTH run first, as on
     * one connection. */
    if (unlikely(d->route == ROUTE_LOCAL && (d->local == LOCAL_AUTH || d->local == LOCAL_HELLO) &&
                 s->authed && after_earlier(s)))
        return;
    if (admin_acl_guard(s, d, argc, argv, lens) != 0) {
        rejected(s);
        return;
    }
    if (pubsub_restricted(s, d)) {
        router_reply_error(
            s,
            "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
            "QUIT / RESET are allowed in this context",
            d->name);
        return;
    }
    if (s->subscribed && s->proto == 2 && d->route == ROUTE_LOCAL && d->local == LOCAL_PING) {
        pubsub_command(s, d, argc, argv, lens, raw, rawlen); /* the engine's subscribed pong */
        return;
    }
    /* Metering: the request this command queues first carries its bytes and its type. */
    s->meter_cmd =
        s->view->meter.on && !s->view->meter.is_free[d->id] ? (uint16_t)(d->id + 1) : 0;
    s->meter_in = (uint32_t)MIN(rawlen, UINT32_MAX);
    s->meter_haskey = 0;
    if (s->meter_cmd && d->nspecs && d->specs[0].begin == KS_BS_INDEX && d->specs[0].pos > 0 &&
        (size_t)d->specs[0].pos < argc) {
        size_t k = (size_t)d->specs[0].pos;
        s->meter_plen = (uint8_t)meter_key_prefix(argv[k], lens[k], s->meter_prefix);
        s->meter_haskey = 1;
    }
    if (unlikely(s->view->meter.max_ecpu_s || s->quota) && s->meter_cmd && throttle(s))
        return;
    if (s->multi && !txn_is_control(d)) {
        txn_queue(s, d, argc, argv, lens, raw, rawlen);
        return;
    }
    if (txn_is_control(d)) {
        txn_execute(s, d, argc, argv, lens, raw, rawlen);
        return;
    }
    if (d->flags & CMD_F_SCRIPT_FLUSH)
        s->view->ops->scripts_clear(s->view->owner);
    if (d->flags & CMD_F_SCRIPT_BODY) {
        size_t at = d->sub ? 2 : 1; /* EVAL script ... / SCRIPT LOAD script */
        char sha[41];
        crypto_sha1_hex(argv[at], lens[at], sha);
        s->view->ops->script_add(s->view->owner, sha, argv[at], lens[at]);
    }
    switch ((cmd_route)d->route) {
    case ROUTE_LOCAL: {
        if (d->local == LOCAL_SUBSCRIBE) {
            pubsub_command(s, d, argc, argv, lens, raw, rawlen);
            return;
        }
        if (d->local == LOCAL_PUBSUB_QUERY) {
            /* Every subscriber's connection is on the pub/sub home: it knows them all. */
            req *r = session_queue_req(s);
            r->target = TARGET_HOME;
            r->flags |= REQ_F_READONLY;
            set_cmd(r, argc, argv, lens, raw, rawlen);
            router_send(s->w, r);
            return;
        }
        if (d->local == LOCAL_SCAN) {
            dispatch_scan(s, argc, argv, lens);
            return;
        }
        if (d->local == LOCAL_CONFIG_GET) {
            if (!endpoint_turn(s))
                admin_config_get(s, argc, argv, lens);
            return;
        }
        if (d->local == LOCAL_CONFIG_SET) {
            if (!endpoint_turn(s))
                admin_config_set(s, d, argc, argv, lens);
            return;
        }
        if (d->local == LOCAL_ACL) {
            admin_acl(s, d, argc, argv, lens);
            return;
        }
        if (d->local == LOCAL_STRATUS_SCALE) {
            admin_stratus_scale(s, argc, argv, lens);
            return;
        }
        if (d->local == LOCAL_STRATUS_HIBERNATE) {
            admin_stratus_hibernate(s);
            return;
        }
        if (d->local == LOCAL_STRATUS_COST || d->local == LOCAL_STRATUS_USAGE ||
            d->local == LOCAL_STRATUS_RECEIPTS || d->local == LOCAL_STRATUS_RECEIPT) {
            admin_stratus_meter(s, d, argc, argv, lens);
            return;
        }
        if (d->local == LOCAL_WAIT) {
            wait_dispatch(s, argc, argv, lens);
            return;
        }
        if (d->local == LOCAL_INFO) {
            uint32_t sections = local_info_sections(argc, argv, lens);
            if (sections & (INFO_MEMORY | INFO_KEYSPACE)) {
                if (endpoint_turn(s))
                    return;
                static const char *const info_argv[] = {"INFO", "memory", "keyspace"};
                static const size_t info_lens[] = {4, 6, 8};
                dispatch_all(s, d, 3, info_argv, info_lens, NULL, 0);
                s->tail->merge = MERGE_INFO;
                s->tail->info_sections = sections;
                return;
            }
        }
        req *r = session_queue_req(s);
        local_execute(s, r, d, argc, argv, lens);
        return;
    }
    case ROUTE_REFUSED:
        router_reply_error(s, "ERR '%s' is not available on Stratus: %s", d->name, d->reason);
        return;
    case ROUTE_LATER:
        router_reply_error(s, "ERR '%s' is not supported by Stratus yet: %s", d->name, d->reason);
        return;
    case ROUTE_SPLIT:
        if (!s->watching) {
            dispatch_split(s, d, argc, argv, lens, raw, rawlen);
            return;
        }
        break; /* one slot only while watching: served as a keyed command below */
    case ROUTE_ALL:
        if ((d->flags & CMD_F_ENDPOINT) && endpoint_turn(s))
            return;
        dispatch_all(s, d, argc, argv, lens, raw, rawlen);
        return;
    case ROUTE_ANY: {
        req *r = session_queue_req(s);
        r->target = TARGET_SHARD;
        r->shard = (uint16_t)(s->id % (uint64_t)MAX(worker_topology(s->w)->nshards, 1));
        r->flags |= (d->flags & CMD_F_READONLY) ? REQ_F_READONLY : 0;
        set_cmd(r, argc, argv, lens, raw, rawlen);
        pin_to_watch(s, r, 0, 0);
        router_send(s->w, r);
        return;
    }
    case ROUTE_SLOT_ARG: {
        int slot = slot_arg(argv[2], lens[2]);
        if (slot < 0) {
            router_reply_error(s, "ERR Invalid or out of range slot");
            return;
        }
        req *r = session_queue_req(s);
        r->target = TARGET_SLOT;
        r->slot = (uint16_t)slot;
        r->flags |= REQ_F_READONLY;
        set_cmd(r, argc, argv, lens, raw, rawlen);
        router_send(s->w, r);
        return;
    }
    case ROUTE_KEYS:
    case ROUTE_PARENT:
        break;
    }
    int blocking = cmd_blocks(d, argc, argv, lens);
    uint32_t stack_keys[KEYS_STACK];
    uint32_t *keys = stack_keys;
    size_t maxkeys = KEYS_STACK;
    int nkeys = cmd_get_keys(d, argc, argv, lens, keys, maxkeys);
    if (nkeys == -E2BIG) {
        maxkeys = argc;
        keys = xmalloc(maxkeys * sizeof(uint32_t));
        nkeys = cmd_get_keys(d, argc, argv, lens, keys, maxkeys);
    }
    req *r = NULL;
    unsigned slot = 0;
    if (nkeys > 0) {
        slot = keyslot(argv[keys[0]], lens[keys[0]]);
        for (int i = 1; i < nkeys; i++) {
            if (keyslot(argv[keys[i]], lens[keys[i]]) != slot) {
                /* Read-only set/sorted-set/HLL/LCS commands are served across slots, except
                 * while WATCH pins the session to one slot (MULTI never gets here). */
                if ((d->flags & CMD_F_GATHER) && !s->watching) {
                    if (!endpoint_turn(s))
                        gather_dispatch(s, argc, argv, lens, raw, rawlen, keys, nkeys);
                } else
                    crossslot(s, argv, lens, keys, nkeys);
                goto out;
            }
        }
    }
    /* No keys found (or arguments that do not parse): any engine gives the right answer or
     * its own exact error. */
    r = session_queue_req(s);
    r->target = TARGET_SLOT;
    r->slot = (uint16_t)slot;
    if (d->flags & CMD_F_READONLY)
        r->flags |= REQ_F_READONLY;
    set_cmd(r, argc, argv, lens, raw, rawlen);
    r->script_sha = (d->flags & CMD_F_SCRIPT_SHA) != 0;
    if (pin_to_watch(s, r, nkeys, (int)slot) != 0)
        goto out;
    if (blocking) {
        r->flags |= REQ_F_BLOCKING;
        router_queue_or_send(s, r);
        goto out;
    }
    router_send(s->w, r);
out:
    if (keys != stack_keys)
        xfree(keys);
}
