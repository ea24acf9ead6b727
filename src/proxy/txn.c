/* Transactions: MULTI/EXEC/DISCARD/WATCH/UNWATCH through the one endpoint.
 *
 * Without WATCH, the endpoint queues the block itself (validating each command as Redis does at
 * queue time: unknown commands and wrong arity abort the transaction, and so do keys outside the
 * transaction's slot, which Redis Cluster requires to be one) and at EXEC sends MULTI, the
 * commands and EXEC to the slot's primary as one contiguous batch on the shared link: the engine
 * runs them atomically and the link is back to normal right after. With WATCH, the watched keys'
 * slot pins the session to its private link until EXEC, DISCARD or UNWATCH, so the engine sees
 * WATCH, the reads in between and the transaction on one connection, as a cluster client would
 * do it. */
#define ALLOC_ROOM ROOM_PROXY
#include <string.h>

#include "common/alloc.h"
#include "proxy/proxy_int.h"

#define MULTI_MAX_BYTES ((size_t)512 * 1024 * 1024)

static const char cmd_multi[] = "*1\r\n$5\r\nMULTI\r\n";
static const char cmd_exec[] = "*1\r\n$4\r\nEXEC\r\n";
static const char cmd_unwatch[] = "*1\r\n$7\r\nUNWATCH\r\n";

void txn_reset(session *s)
{
    s->multi = 0;
    s->multi_dirty = 0;
    s->multi_all = 0;
    s->multi_slot = -1;
    s->multi_count = 0;
    s->multi_writes = 0;
    s->multi_pause_ms = 0;
    s->multi_pause_type = VIEW_PAUSE_OFF;
    buf_consume(&s->multi_cmds, buf_used(&s->multi_cmds));
    buf_shrink(&s->multi_cmds, 4096);
}

void txn_mark_dirty(session *s)
{
    if (s->multi)
        s->multi_dirty = 1;
}

static void reply_simple(session *s, const char *text)
{
    req *r = session_queue_req(s);
    resp_add_simple(&r->reply, text);
    router_deliver_final(s->w, r, buf_rptr(&r->reply), buf_used(&r->reply));
}

/* The engine drops WATCHed keys on DISCARD and on an aborted EXEC; so must its connection. */
static void unwatch_engine(session *s)
{
    if (!s->watching)
        return;
    s->watching = 0;
    if (!s->priv)
        return;
    req *u = req_get(s->w);
    u->flags = REQ_F_DISCARD;
    buf_append(&u->cmd, cmd_unwatch, sizeof(cmd_unwatch) - 1);
    if (backend_send(s->priv, u) != 0)
        req_put(s->w, u); /* not connected: the link has no WATCH to drop */
}

/* A command sent to every shard whose reply needs no merging on one shard (FLUSHALL, DBSIZE,
 * KEYS, SLOWLOG RESET ...): queued in a transaction when the cache has a single shard, where
 * it is a plain command of that engine. */
static int all_in_one_shard(const session *s, const cmd_def *d)
{
    if (worker_topology(s->w)->nshards != 1 ||
        (d->flags & (CMD_F_SCRIPT_BODY | CMD_F_SCRIPT_FLUSH)))
        return 0;
    switch ((cmd_merge)d->merge) {
    case MERGE_ALL_OK:
    case MERGE_SUM:
    case MERGE_CONCAT:
    case MERGE_MAX:
    case MERGE_RANDOM:
        return 1;
    default:
        return 0;
    }
}

void txn_queue(session *s, const cmd_def *d, size_t argc, const char *const *argv,
               const size_t *lens, const char *raw, size_t rawlen)
{
    if (d->flags & CMD_F_NO_MULTI) {
        router_reply_error(s, "ERR Command not allowed inside a transaction");
        txn_mark_dirty(s);
        return;
    }
    if (d->route == ROUTE_LOCAL && d->local == LOCAL_CLIENT_PAUSE) {
        /* Sent with the transaction, and the endpoint's pause begins with its EXEC. */
        if (!pause_queue(s, argc, argv, lens))
            resp_add_command(&s->multi_cmds, argc, argv, lens);
        s->multi_count++;
        reply_simple(s, "QUEUED");
        return;
    }
    const char *why = NULL;
    switch ((cmd_route)d->route) {
    case ROUTE_KEYS:
    case ROUTE_SPLIT:
    case ROUTE_ANY:
        break;
    case ROUTE_LOCAL:
        if (!local_row_of(d) || !(local_row_of(d)->flags & LOCAL_F_QUEUED))
            why = "is answered by the endpoint and cannot be queued in a transaction";
        break;
    case ROUTE_ALL:
        if (all_in_one_shard(s, d))
            s->multi_all = 1;
        else
            why = "spans every shard and cannot be part of a transaction";
        break;
    case ROUTE_REFUSED:
    case ROUTE_LATER:
        why = d->reason;
        break;
    case ROUTE_SLOT_ARG:
    case ROUTE_PARENT:
        why = "cannot be queued in a transaction";
        break;
    }
    if (why) {
        router_reply_error(s, "ERR '%s' %s", d->name, why);
        txn_mark_dirty(s);
        return;
    }
    int slot = 0;
    int nkeys = router_keys_slot(s, d, argc, argv, lens, &slot);
    if (nkeys < 0) {
        txn_mark_dirty(s);
        return;
    }
    if (nkeys > 0) {
        if (s->multi_slot < 0) {
            s->multi_slot = slot;
        } else if (slot != s->multi_slot) {
            router_reply_error(s,
                               "CROSSSLOT Keys in request don't hash to the same slot as the "
                               "transaction's other keys (slot %d, this command's slot %d); give "
                               "them the same hash tag, e.g. {user}:1 and {user}:2",
                               s->multi_slot, slot);
            txn_mark_dirty(s);
            return;
        }
    }
    if (buf_used(&s->multi_cmds) + rawlen > MULTI_MAX_BYTES) {
        router_reply_error(s, "ERR transaction too large (over 512 MB queued)");
        txn_mark_dirty(s);
        return;
    }
    if (raw)
        buf_append(&s->multi_cmds, raw, rawlen);
    else
        resp_add_command(&s->multi_cmds, argc, argv, lens);
    s->multi_count++;
    if (!s->multi_writes && pause_may_replicate(s, d, argc, argv, lens, 0) != 0)
        s->multi_writes = 1;
    reply_simple(s, "QUEUED");
}

static void exec(session *s)
{
    if (!s->multi) {
        router_reply_error(s, "ERR EXEC without MULTI");
        return;
    }
    if (s->multi_dirty) {
        unwatch_engine(s);
        txn_reset(s);
        router_reply_error(s, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    if (s->multi_all && worker_topology(s->w)->nshards != 1) {
        unwatch_engine(s);
        txn_reset(s);
        router_reply_error(s, "EXECABORT Transaction discarded because the cache was given more "
                              "shards while it was queued, and one of its commands spans every "
                              "shard; run it again");
        return;
    }
    req *r = session_queue_req(s);
    buf_append(&r->cmd, cmd_multi, sizeof(cmd_multi) - 1);
    buf_append(&r->cmd, buf_rptr(&s->multi_cmds), buf_used(&s->multi_cmds));
    buf_append(&r->cmd, cmd_exec, sizeof(cmd_exec) - 1);
    r->preamble = 1 + s->multi_count;
    if (s->watching) {
        r->flags |= REQ_F_PINNED;
        r->target = TARGET_SLOT;
        r->slot = s->pin_slot;
        s->watching = 0; /* EXEC ends the WATCH on the engine too */
    } else if (s->multi_slot >= 0) {
        r->target = TARGET_SLOT;
        r->slot = (uint16_t)s->multi_slot;
    } else {
        r->target = TARGET_SHARD;
        r->shard = 0;
    }
    const topology *t = worker_topology(s->w);
    pause_after_exec(s, r->target == TARGET_SHARD ? r->shard : t->slot_shard[r->slot]);
    txn_reset(s);
    router_queue_or_send(s, r);
}

static void watch(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                  const size_t *lens, const char *raw, size_t rawlen)
{
    if (s->multi) {
        router_reply_error(s, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    int slot = 0;
    int nkeys = router_keys_slot(s, d, argc, argv, lens, &slot);
    if (nkeys < 0)
        return;
    if (s->watching && slot != s->pin_slot) {
        router_reply_error(s,
                           "CROSSSLOT Keys in request don't hash to the same slot as the keys "
                           "already watched (slot %u, these: slot %d); give them the same hash "
                           "tag, e.g. {user}:1 and {user}:2",
                           s->pin_slot, slot);
        return;
    }
    req *r = session_queue_req(s);
    if (raw)
        buf_append(&r->cmd, raw, rawlen);
    else
        resp_add_command(&r->cmd, argc, argv, lens);
    r->flags |= REQ_F_PINNED | REQ_F_READONLY;
    r->target = TARGET_SLOT;
    r->slot = (uint16_t)slot;
    s->watching = 1;
    s->pin_slot = (uint16_t)slot;
    router_queue_or_send(s, r);
}

void txn_execute(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                 const size_t *lens, const char *raw, size_t rawlen)
{
    switch ((cmd_local)d->local) {
    case LOCAL_MULTI:
        if (s->multi) {
            router_reply_error(s, "ERR MULTI calls can not be nested");
            return;
        }
        txn_reset(s);
        s->multi = 1;
        if (s->watching)
            s->multi_slot = s->pin_slot;
        reply_simple(s, "OK");
        return;
    case LOCAL_EXEC:
        exec(s);
        return;
    case LOCAL_DISCARD:
        if (!s->multi) {
            router_reply_error(s, "ERR DISCARD without MULTI");
            return;
        }
        txn_reset(s);
        unwatch_engine(s);
        reply_simple(s, "OK");
        return;
    case LOCAL_WATCH:
        watch(s, d, argc, argv, lens, raw, rawlen);
        return;
    case LOCAL_UNWATCH:
        if (!s->watching) {
            reply_simple(s, "OK");
            return;
        }
        req *r = session_queue_req(s);
        buf_append(&r->cmd, cmd_unwatch, sizeof(cmd_unwatch) - 1);
        r->flags |= REQ_F_PINNED | REQ_F_READONLY;
        r->target = TARGET_SLOT;
        r->slot = s->pin_slot;
        s->watching = 0;
        router_queue_or_send(s, r);
        return;
    default:
        router_reply_error(s, "ERR internal: '%s' is not a transaction command", d->name);
        return;
    }
}
