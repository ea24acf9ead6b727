/* The request direction: what each client command becomes. Table-driven by the command table
 * (proto/cmdtable.h): answered by the endpoint (local.c's table), refused, sent to the shard
 * owning its keys' slot, split across slots (MGET, DEL ...) or fanned out to every shard,
 * served across slots by gathering its keys (gather.c); then sent (router.c). */
#define ALLOC_ROOM ROOM_PROXY
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "net/tls.h"
#include "proto/keyslot.h"
#include "proxy/proxy_int.h"

#define KEYS_STACK 64

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

/* Send every child of p, once all exist (an answer may complete p). */
static void send_children(worker *w, req *p)
{
    for (uint32_t i = 0; i < p->nchildren; i++)
        router_send(w, p->children[i]);
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
    send_children(w, p);
}

/* A fan-out parent of s, merged by merge, with n children not yet sent: child i goes to the
 * primary of shard (first + i) modulo the shards, and carries flags. */
static req *fan_out(session *s, uint8_t merge, uint32_t n, uint64_t first, uint32_t flags)
{
    worker *w = s->w;
    uint64_t nshards = (uint64_t)MAX(worker_topology(w)->nshards, 1);
    req *p = session_queue_req(s);
    p->merge = merge;
    p->children = xcalloc(n, sizeof(req *));
    p->nchildren = p->pending = n;
    for (uint32_t i = 0; i < n; i++) {
        req *ch = req_get(w);
        ch->parent = p;
        ch->proto = p->proto;
        ch->target = TARGET_SHARD;
        ch->shard = (uint16_t)((first + i) % nshards);
        ch->deadline_ms = p->deadline_ms;
        ch->flags |= flags;
        p->children[i] = ch;
    }
    return p;
}

/* Send the same command to every shard's primary. */
static void dispatch_all(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                         const size_t *lens, const char *raw, size_t rawlen)
{
    uint32_t flags = ((d->flags & CMD_F_READONLY) ? REQ_F_READONLY : 0) |
                     ((d->flags & CMD_F_OOB) ? REQ_F_OOB : 0) |
                     ((d->flags & CMD_F_ENDPOINT) ? REQ_F_ENDPOINT : 0);
    req *p = fan_out(s, d->merge, (uint32_t)MAX(worker_topology(s->w)->nshards, 1), 0, flags);
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (!diag_child_cmd(d, p->children[i], argc, argv, lens))
            set_cmd(p->children[i], argc, argv, lens, raw, rawlen);
    send_children(s->w, p);
}

req *router_fan_out(session *s, size_t argc, const char *const *argv, const size_t *lens,
                    uint8_t merge, int one_shard)
{
    uint32_t n = one_shard ? 1 : (uint32_t)MAX(worker_topology(s->w)->nshards, 1);
    /* CONFIG GET/SET: checked and filtered here, run as the endpoint. */
    req *p = fan_out(s, merge, n, one_shard ? s->id : 0, REQ_F_ENDPOINT);
    for (uint32_t i = 0; i < n; i++)
        resp_add_command(&p->children[i]->cmd, argc, argv, lens);
    send_children(s->w, p);
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

/* SCAN: the cursor names a shard and that shard's own cursor; see merge.c (merge_scan). */
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
int router_endpoint_turn(session *s)
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
            /* Redis's words: the container as the client typed it, in capitals. */
            char name[32];
            size_t n = MIN(lens[0], sizeof(name) - 1);
            for (size_t i = 0; i < n; i++)
                name[i] = (char)toupper((unsigned char)argv[0][i]);
            name[n] = '\0';
            router_reply_error(s, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                               (int)MIN(lens[1], 128), argv[1], name);
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
        if (!after_earlier(s)) {
            local_call call = {s, d, argc, argv, lens, raw, rawlen, NULL, NULL};
            local_run(&call);
        }
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
    s->meter_cmd = s->view->meter.on && !s->view->meter.is_free[d->id] ? (uint16_t)(d->id + 1) : 0;
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
    if (unlikely(atomic_load_explicit(&s->view->pause_type, memory_order_relaxed) ||
                 s->pause_waiting) &&
        pause_holds(s, d, argc, argv, lens))
        return;
    if (s->multi && !(local_row_of(d) && (local_row_of(d)->flags & LOCAL_F_TXN))) {
        txn_queue(s, d, argc, argv, lens, raw, rawlen);
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
        local_call call = {s, d, argc, argv, lens, raw, rawlen, NULL, NULL};
        local_run(&call); /* local.c's table: the command's row carries its handler */
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
        if ((d->flags & CMD_F_ENDPOINT) && router_endpoint_turn(s))
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
                    if (!router_endpoint_turn(s))
                        gather_dispatch(s, argc, argv, lens, raw, rawlen, keys, nkeys,
                                        (d->flags & CMD_F_WRITE) != 0);
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
    if (d->flags & CMD_F_RUNS_CODE)
        r->flags |= REQ_F_RUNS_CODE;
    if (pin_to_watch(s, r, nkeys, (int)slot) != 0)
        goto out;
    if (unlikely(d->flags & CMD_F_MAY_REPLICATE) && pause_engine_decides(s, d)) {
        /* A function under CLIENT PAUSE WRITE: its engine, paused too, knows its flags and
         * holds it if it may write; on the client's own link, that holds no one else. */
        r->flags |= REQ_F_PINNED;
        router_queue_or_send(s, r);
        goto out;
    }
    if (blocking) {
        r->flags |= REQ_F_BLOCKING;
        router_queue_or_send(s, r);
        goto out;
    }
    if ((r->flags & REQ_F_RUNS_CODE) && !(r->flags & REQ_F_PINNED) && s->head != r &&
        !s->code_link) {
        /* The session's earlier commands are out on a shared link: the script would follow
         * them there (their order), and while it ran no other client's command on that link
         * would be read. It goes on a code link once they are answered. */
        router_queue_or_send(s, r);
        goto out;
    }
    router_send(s->w, r);
out:
    if (keys != stack_keys)
        xfree(keys);
}

/* ---- local commands served here (rows of local.c's table) ---- */

/* SCAN: one shard at a time. */
void request_scan(const local_call *c)
{
    dispatch_scan(c->s, c->argc, c->argv, c->lens);
}

/* PUBSUB CHANNELS/NUMSUB/NUMPAT: every subscriber's connection is on the pub/sub home, which
 * knows them all. */
void request_pubsub_query(const local_call *c)
{
    req *r = session_queue_req(c->s);
    r->target = TARGET_HOME;
    r->flags |= REQ_F_READONLY;
    set_cmd(r, c->argc, c->argv, c->lens, c->raw, c->rawlen);
    router_send(c->s->w, r);
}

/* PING: the endpoint's PONG, unless a script may be running (a code link has requests out)
 * or a primary is busy with a long command: then the primaries answer, so PING waits for a
 * short script and gets -BUSY past busy-reply-threshold, as a client of one Redis sees. */
void request_ping(const local_call *c)
{
    session *s = c->s;
    const topology *t = worker_topology(s->w);
    int engines =
        c->argc <= 2 && atomic_load_explicit(&s->view->code_links_out, memory_order_relaxed) > 0;
    for (int i = 0; i < t->nshards && !engines && c->argc <= 2; i++) {
        int n = t->shards[i].primary;
        engines = n >= 0 && atomic_load_explicit(&t->nodes[n].busy, memory_order_relaxed);
    }
    if (!engines) {
        local_answer(c, local_ping);
        return;
    }
    /* Every primary: a shard's -BUSY is the answer, else the first one's. */
    req *p = fan_out(s, MERGE_FIRST, (uint32_t)MAX(t->nshards, 1), 0, REQ_F_READONLY);
    for (uint32_t i = 0; i < p->nchildren; i++)
        set_cmd(p->children[i], c->argc, c->argv, c->lens, c->raw, c->rawlen);
    send_children(s->w, p);
}

/* INFO: the endpoint's lines, with the primaries' own INFO when a section is made of them. */
void request_info(const local_call *c)
{
    session *s = c->s;
    uint32_t sections = info_sections(c->argc, c->argv, c->lens);
    uint32_t engine_sections = info_engine_sections();
    /* Asleep, the sections the endpoint can answer alone do not wake the cache: no client is
     * blocked and nothing runs. */
    if (atomic_load_explicit(&s->view->sleep.asleep, memory_order_relaxed))
        engine_sections &=
            ~(INFO_SERVER | INFO_CLIENTS | INFO_STATS | INFO_REPLICATION | INFO_MODULES);
    if (!(sections & engine_sections)) {
        local_answer(c, info_answer);
        return;
    }
    if (router_endpoint_turn(s))
        return;
    /* The primaries are asked the same sections (they ignore "stratus"). */
    dispatch_all(s, c->d, c->argc, c->argv, c->lens, NULL, 0);
    s->tail->merge = MERGE_INFO;
    s->tail->info_sections = sections;
}
