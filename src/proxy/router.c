/* Sending: the engine link each request travels on (its identity, its node, its protocol)
 * and the write to it; a request that cannot go now waits on the worker's retry list. The
 * request direction (what a command becomes) is request.c, the reply direction reply.c. */
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

/* The kind of shared link r goes on (LINK_*, proxy_int.h): SCRIPT KILL out of band, a script
 * on a code link, anything else on the link of its protocol; a session's request follows the
 * kind of the ones it has out, so its commands run in order. */
static int link_kind(const req *r)
{
    if (r->flags & REQ_F_OOB)
        return LINK_OOB;
    session *owner = req_session(r);
    int code = (r->flags & REQ_F_RUNS_CODE) != 0;
    if (owner) {
        /* Nothing of the session's is out before r: r chooses; else it follows them. */
        const req *top = r->parent ? r->parent : r;
        if (owner->head == top)
            owner->code_link = code;
        code = owner->code_link;
    }
    if (code)
        return r->proto == 3 ? LINK_CODE_RESP3 : LINK_CODE_RESP2;
    return r->proto == 3 ? LINK_RESP3 : LINK_RESP2;
}

/* The shared link of identity id to node of that kind, created on first use. */
static backend *link_for(worker *w, ident *id, const topology *t, int node, int kind)
{
    backend *b = id->links[kind][node];
    if (!b) {
        b = backend_create(w, t->nodes[node].addr, LINK_PROTO(kind), id->user);
        b->code = kind == LINK_CODE_RESP2 || kind == LINK_CODE_RESP3;
        id->links[kind][node] = b;
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
    return backend_send(link_for(w, id, t, node, link_kind(r)), r);
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
