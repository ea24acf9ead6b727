/* Pub/Sub through the one endpoint: SUBSCRIBE/PSUBSCRIBE/UNSUBSCRIBE/PUNSUBSCRIBE, shard
 * channels (SSUBSCRIBE/SUNSUBSCRIBE) and keyspace notifications from every shard.
 *
 * Redis Cluster broadcasts every PUBLISH to every node over its bus, so one engine connection
 * hears every channel: the session's private link to shard 0's primary (its "home" link).
 * Two things are local to a shard instead: shard channels (SPUBLISH reaches the nodes of the
 * channel's slot only) and keyspace notifications (an engine reports its own keys). For those,
 * a subscriber also gets a link to each other shard that matters:
 *   - SSUBSCRIBE goes to the link of the shard owning the channel's slot;
 *   - a SUBSCRIBE/PSUBSCRIBE that can match __keyspace@.../__keyevent@... goes to every shard.
 * Links run in pass-through: frames go to the client in the order the engine sent them. The
 * home link forwards everything; the others forward only what is theirs alone (keyspace and
 * keyevent messages, shard messages and shard confirmations), so a broadcast message or a
 * confirmation is never seen twice. A change written to other shards' links is followed there by
 * a sentinel PING; the home link's confirmations are held until every sentinel is back, so a
 * client told "subscribed" hears every shard from then on, and one told "unsubscribed" hears no
 * more. Shard-channel counts are summed over the links, as one node would count them. A
 * subscriber that does not read is cut off past an output-buffer limit instead of growing the
 * endpoint. */
#define ALLOC_ROOM ROOM_PROXY
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/log.h"
#include "proto/keyslot.h"
#include "proxy/proxy_int.h"

#define PUBSUB_OUT_LIMIT ((size_t)32 * 1024 * 1024)
#define SYNC_TOKEN "__stratus_sync"
static const char sync_ping[] = "*2\r\n$4\r\nPING\r\n$14\r\n" SYNC_TOKEN "\r\n";
static const char sync_tail[] = "$14\r\n" SYNC_TOKEN "\r\n";

enum { PS_SUB, PS_PSUB, PS_UNSUB, PS_PUNSUB, PS_SSUB, PS_SUNSUB };

/* Where a subscribe-family command is written. */
enum {
    PS_MODE_HOME,       /* the home link only */
    PS_MODE_OWNER,      /* the link to the engine owning the shard channel's slot */
    PS_MODE_SSUB_LINKS, /* every link holding shard channels (SUNSUBSCRIBE with none named) */
    PS_MODE_ALL_SHARDS, /* home, and a link to every other shard (keyspace subscriptions) */
    PS_MODE_ALL_LINKS   /* home, and every other link open (unsubscribes) */
};

static int ps_kind(const cmd_def *d)
{
    static const char *const names[] = {"subscribe",    "psubscribe", "unsubscribe",
                                        "punsubscribe", "ssubscribe", "sunsubscribe"};
    for (int i = 0; i < (int)ARRAY_LEN(names); i++)
        if (strcmp(d->name, names[i]) == 0)
            return i;
    return -1;
}

int pubsub_restricted(const session *s, const cmd_def *d)
{
    /* RESP2 subscribers may only (un)subscribe, PING and QUIT, as on Redis. */
    if (!s->subscribed || s->proto == 3)
        return 0;
    return !(d->route == ROUTE_LOCAL &&
             (d->local == LOCAL_SUBSCRIBE || d->local == LOCAL_PING || d->local == LOCAL_QUIT));
}

static const char *const keyspace_prefixes[] = {"__keyspace@", "__keyevent@"};

/* Whether a channel (or pattern) can name keyspace notifications, which every shard sends for
 * its own keys. */
static int may_be_keyspace(const char *a, size_t n, int pattern)
{
    size_t lit = n;
    if (pattern)
        for (lit = 0; lit < n && !strchr("*?[\\", a[lit]); lit++)
            ;
    for (size_t i = 0; i < ARRAY_LEN(keyspace_prefixes); i++) {
        size_t pl = strlen(keyspace_prefixes[i]);
        size_t m = MIN(lit, pl);
        if (memcmp(a, keyspace_prefixes[i], m) == 0 && (lit < pl ? pattern : 1))
            return 1;
    }
    return 0;
}

/* The session's home link: its private link in pass-through (created on first use). */
static backend *home_link(session *s, const char *addr, int proto, int *limited)
{
    if (s->priv && s->priv->passthrough && s->priv->owner == s)
        return s->priv; /* any engine hears every broadcast: it stays through resharding */
    return backend_private(s, addr, proto, session_engine_user(s), limited);
}

/* The session's filtered pass-through link to the engine at addr; created when create is set
 * (NULL with *limited when the cache's limit of private links is reached). Links are found by
 * address, so they stay right when resharding renumbers the shards. */
static backend *other_link(session *s, const char *addr, int proto, int create, int *limited)
{
    *limited = 0;
    if (s->priv && s->priv->passthrough && s->priv->owner == s && strcmp(s->priv->addr, addr) == 0)
        return s->priv;
    int free_slot = -1;
    for (int i = 0; s->sublinks && i < TOPO_MAX_SHARDS; i++) {
        if (s->sublinks[i] && strcmp(s->sublinks[i]->addr, addr) == 0)
            return s->sublinks[i];
        if (!s->sublinks[i] && free_slot < 0)
            free_slot = i;
    }
    if (!create)
        return NULL;
    if (!s->sublinks) {
        s->sublinks = xcalloc(TOPO_MAX_SHARDS, sizeof(backend *));
        free_slot = 0;
    }
    if (free_slot < 0)
        return NULL;
    backend *b = backend_create_private(s, addr, proto, session_engine_user(s), limited);
    if (!b)
        return NULL;
    b->passthrough = 1;
    b->filtered = 1;
    s->sublinks[free_slot] = b;
    return b;
}

void pubsub_release(session *s)
{
    buf_deinit(&s->ks_replay);
    buf_deinit(&s->ps_set);
    if (!s->sublinks)
        return;
    for (unsigned i = 0; i < TOPO_MAX_SHARDS; i++)
        if (s->sublinks[i])
            backend_destroy_private(s->sublinks[i]);
    xfree(s->sublinks);
    s->sublinks = NULL;
}

void pubsub_reset(session *s)
{
    if (s->sublinks) {
        for (unsigned i = 0; i < TOPO_MAX_SHARDS; i++)
            if (s->sublinks[i])
                backend_drop_private(s->sublinks[i]);
        xfree(s->sublinks);
        s->sublinks = NULL;
    }
    s->ps_pending = 0;
    buf_deinit(&s->ps_hold_home);
    buf_deinit(&s->ps_hold_other);
    buf_deinit(&s->ks_replay);
    buf_deinit(&s->ps_set);
    s->resub = s->resub_home = 0;
    s->resub_skip = 0;
    s->sub_count = 0;
}

#define KS_REPLAY_MAX (64u * 1024u) /* keyspace (un)subscriptions kept to replay on new shards */

void pubsub_command(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                    const size_t *lens, const char *raw, size_t rawlen)
{
    const topology *t = worker_topology(s->w);
    int kind = ps_kind(d);
    int mode = PS_MODE_HOME;
    unsigned target = 0;
    if (kind == PS_SSUB || (kind == PS_SUNSUB && argc > 1)) {
        int slot;
        if (router_keys_slot(s, d, argc, argv, lens, &slot) < 0)
            return; /* CROSSSLOT, as Redis Cluster answers */
        if (t->slot_shard[slot] < t->nshards && t->shards[t->slot_shard[slot]].primary >= 0) {
            /* Even a channel never subscribed is answered by its owner: another engine would
             * answer MOVED, naming itself. */
            target = t->slot_shard[slot];
            mode = PS_MODE_OWNER;
        }
    } else if (kind == PS_SUNSUB) {
        mode = PS_MODE_SSUB_LINKS; /* every link holding shard channels answers for its own */
    } else if (kind == PS_SUB || kind == PS_PSUB) {
        for (size_t i = 1; i < argc && mode == PS_MODE_HOME; i++)
            if (may_be_keyspace(argv[i], lens[i], kind == PS_PSUB))
                mode = PS_MODE_ALL_SHARDS;
    } else if (s->sublinks) {
        mode = PS_MODE_ALL_LINKS; /* they may hold keyspace subscriptions */
    }
    req *r = session_queue_req(s);
    if (raw)
        buf_append(&r->cmd, raw, rawlen);
    else
        resp_add_command(&r->cmd, argc, argv, lens);
    r->flags |= REQ_F_PUBSUB;
    r->target = mode == PS_MODE_OWNER ? TARGET_SHARD : TARGET_HOME;
    r->shard = (uint16_t)target;
    r->pubsub_mode = (uint8_t)mode;
    if (mode == PS_MODE_ALL_SHARDS || mode == PS_MODE_ALL_LINKS) {
        /* Kept to replay on shards added later, so keyspace events of every shard keep
         * coming through a scale-out. */
        if (buf_used(&s->ks_replay) + buf_used(&r->cmd) <= KS_REPLAY_MAX)
            buf_append(&s->ks_replay, buf_rptr(&r->cmd), buf_used(&r->cmd));
        else if (!s->ks_replay_full)
            log_warn("session %llu: over %u KB of keyspace (un)subscriptions; shards added "
                     "later will not get them",
                     (unsigned long long)s->id, KS_REPLAY_MAX >> 10);
        s->ks_replay_full |= buf_used(&s->ks_replay) + buf_used(&r->cmd) > KS_REPLAY_MAX;
    }
    if (kind == PS_SUB || kind == PS_PSUB || kind == PS_SSUB)
        s->subscribed = 1;
    if (kind == PS_SSUB)
        r->flags |= REQ_F_SSUB;
    router_queue_or_send(s, r);
}

/* Write r's command (and a sentinel PING) to a link other than the one that answers for it. */
static void send_other(session *s, backend *o, req *r)
{
    if (o && backend_send_passthrough(o, buf_rptr(&r->cmd), buf_used(&r->cmd)) == 0 &&
        backend_send_passthrough(o, sync_ping, sizeof(sync_ping) - 1) == 0)
        s->ps_pending++;
    else
        log_warn("session %llu: cannot reach a shard's engine for a subscription change; its "
                 "events may be missing",
                 (unsigned long long)s->id);
}

int pubsub_send(worker *w, req *r, const topology *t, int node)
{
    session *s = r->s;
    if (!s) {
        req_put(w, r);
        return 0;
    }
    int limited = 0;
    const char *addr = t->nodes[node].addr;
    backend *b = NULL;
    if (r->pubsub_mode == PS_MODE_SSUB_LINKS) {
        /* The first link holding shard channels answers; the others are written below. */
        if (s->priv && s->priv->passthrough && s->priv->had_ssub)
            b = s->priv;
        for (int i = 0; !b && s->sublinks && i < TOPO_MAX_SHARDS; i++)
            if (s->sublinks[i] && s->sublinks[i]->had_ssub)
                b = s->sublinks[i];
    }
    if (!b)
        b = r->pubsub_mode == PS_MODE_OWNER ? other_link(s, addr, r->proto, 1, &limited)
                                            : home_link(s, addr, r->proto, &limited);
    if (!b) {
        char why[400];
        if (limited == 2)
            snprintf(why, sizeof(why),
                     "ERR subscribing is not available while a blocking command or WATCH holds "
                     "this connection; use another connection");
        else
            backend_limited_error(s, limited, why, sizeof(why));
        router_fail(w, r, "%s", why);
        return 0;
    }
    int rc = backend_send_passthrough(b, buf_rptr(&r->cmd), buf_used(&r->cmd));
    if (rc != 0)
        return rc;
    if (r->flags & REQ_F_SSUB)
        b->had_ssub = 1;
    if (r->pubsub_mode == PS_MODE_SSUB_LINKS) {
        b->had_ssub = 0;
        backend *all[TOPO_MAX_SHARDS + 1];
        int n = 0;
        if (s->priv && s->priv->passthrough && s->priv != b && s->priv->had_ssub)
            all[n++] = s->priv;
        for (int i = 0; s->sublinks && i < TOPO_MAX_SHARDS; i++)
            if (s->sublinks[i] && s->sublinks[i] != b && s->sublinks[i]->had_ssub)
                all[n++] = s->sublinks[i];
        for (int i = 0; i < n; i++) {
            all[i]->had_ssub = 0;
            send_other(s, all[i], r);
        }
    } else if (r->pubsub_mode == PS_MODE_ALL_LINKS) {
        for (int i = 0; s->sublinks && i < TOPO_MAX_SHARDS; i++)
            if (s->sublinks[i] && s->sublinks[i] != b)
                send_other(s, s->sublinks[i], r);
    } else if (r->pubsub_mode == PS_MODE_ALL_SHARDS) {
        for (int k = 0; k < t->nshards; k++) {
            if (t->shards[k].primary < 0)
                continue;
            const char *a = t->nodes[t->shards[k].primary].addr;
            if (strcmp(a, b->addr) == 0)
                continue;
            send_other(s, other_link(s, a, r->proto, 1, &limited), r);
        }
    }
    /* Its answers come by pass-through: the request's own slot is done once it is sent. */
    router_deliver_final(w, r, "", 0);
    return 0;
}

/* Shards with no link of s's get its keyspace (un)subscriptions replayed, so their events
 * reach it too. Their confirmations are filtered out. */
static void ks_links(session *s, const topology *t)
{
    if (s->dead || !s->subscribed || !buf_used(&s->ks_replay) || !s->priv)
        return;
    for (int k = 0; k < t->nshards; k++) {
        if (t->shards[k].primary < 0)
            continue;
        const char *a = t->nodes[t->shards[k].primary].addr;
        int limited;
        if (strcmp(a, s->priv->addr) == 0 || other_link(s, a, s->proto, 0, &limited))
            continue;
        backend *o = other_link(s, a, s->proto, 1, &limited);
        if (!o ||
            backend_send_passthrough(o, buf_rptr(&s->ks_replay), buf_used(&s->ks_replay)) != 0)
            log_warn("session %llu: cannot subscribe on a new shard; its keyspace events "
                     "will be missing",
                     (unsigned long long)s->id);
    }
}

void pubsub_topology_changed(worker *w, const topology *t)
{
    for (session *s = w->sessions; s; s = s->list_next)
        ks_links(s, t);
}

/* ---- subscriptions across a failover ---- */

/* Find name in s->ps_set: its entry's offset, or -1. */
static long set_find(const session *s, char kind, const char *name, size_t n)
{
    const char *p = buf_rptr(&s->ps_set), *end = p + buf_used(&s->ps_set);
    while (p + 5 <= end) {
        uint32_t len;
        memcpy(&len, p + 1, 4);
        if (p[0] == kind && len == n && memcmp(p + 5, name, n) == 0)
            return (long)(p - buf_rptr(&s->ps_set));
        p += 5 + len;
    }
    return -1;
}

/* A confirmation from the home link: keep the set of what the client is subscribed to. */
static void set_update(session *s, char kind, int add, const char *name, size_t n)
{
    long at = set_find(s, kind, name, n);
    if (add && at < 0) {
        uint32_t len = (uint32_t)n;
        buf_append(&s->ps_set, &kind, 1);
        buf_append(&s->ps_set, &len, 4);
        buf_append(&s->ps_set, name, n);
    } else if (!add && at >= 0) {
        char *base = buf_rptr(&s->ps_set);
        size_t used = buf_used(&s->ps_set), gone = 5 + n;
        memmove(base + at, base + at + gone, used - (size_t)at - gone);
        s->ps_set.len -= gone;
    }
}

int pubsub_link_lost(session *s, backend *b)
{
    if (b->had_ssub || b->ssub_count > 0)
        return -1; /* shard channels live on that shard's engine: the client subscribes again */
    if (b == s->priv)
        s->resub_home = 1;
    s->resub = 1;
    s->w->resub_pending = 1;
    return 0;
}

/* Replay kind's entries of the set as one command ("SUBSCRIBE a b ..."); entries replayed. */
static uint32_t replay(const session *s, char kind, const char *cmd, buf *out)
{
    size_t n = 0;
    const char *p = buf_rptr(&s->ps_set), *end = p + buf_used(&s->ps_set);
    for (const char *q = p; q + 5 <= end;) {
        uint32_t len;
        memcpy(&len, q + 1, 4);
        n += q[0] == kind;
        q += 5 + len;
    }
    if (n == 0)
        return 0;
    const char **argv = xmalloc((n + 1) * sizeof(char *));
    size_t *lens = xmalloc((n + 1) * sizeof(size_t));
    size_t a = 0;
    argv[a] = cmd;
    lens[a++] = strlen(cmd);
    for (const char *q = p; q + 5 <= end;) {
        uint32_t len;
        memcpy(&len, q + 1, 4);
        if (q[0] == kind) {
            argv[a] = q + 5;
            lens[a++] = len;
        }
        q += 5 + len;
    }
    resp_add_command(out, a, argv, lens);
    xfree(argv);
    xfree(lens);
    return (uint32_t)n;
}

void pubsub_resubscribe(worker *w)
{
    const topology *t = worker_topology(w);
    w->resub_pending = 0;
    int home = t->pubsub_home;
    for (session *s = w->sessions; s; s = s->list_next) {
        if (!s->resub || s->dead || s->doomed)
            continue;
        if (home < 0 || !atomic_load_explicit(&t->nodes[home].available, memory_order_relaxed)) {
            w->resub_pending = 1; /* the new home is not serving yet: next tick */
            continue;
        }
        /* Links to engines that are gone go; the home link is made again on the current home
         * engine, and every channel and pattern is subscribed there again. Messages published
         * in between are lost, as Pub/Sub never keeps any. */
        for (int i = 0; s->sublinks && i < TOPO_MAX_SHARDS; i++) {
            if (s->sublinks[i] && !s->sublinks[i]->c) {
                backend_drop_private(s->sublinks[i]);
                s->sublinks[i] = NULL;
            }
        }
        if (!s->resub_home) {
            s->resub = 0; /* only a keyspace link was lost: the new shard engine gets one */
            ks_links(s, t);
            continue;
        }
        /* A home link made meanwhile (a SUBSCRIBE in the gap) is replaced too: the replay on the
         * new one holds everything, that SUBSCRIBE's channels included. */
        if (s->priv) {
            backend_drop_private(s->priv);
            s->priv = NULL;
        }
        int limited;
        backend *b = home_link(s, t->nodes[home].addr, s->proto, &limited);
        buf cmds;
        buf_init(&cmds);
        uint32_t n = replay(s, 'c', "SUBSCRIBE", &cmds) + replay(s, 'p', "PSUBSCRIBE", &cmds);
        if (!b || (n && backend_send_passthrough(b, buf_rptr(&cmds), buf_used(&cmds)) != 0)) {
            buf_deinit(&cmds);
            w->resub_pending = 1; /* not reachable yet: next tick */
            continue;
        }
        b->passthrough = 1;
        buf_deinit(&cmds);
        s->resub_skip = n;
        s->resub = s->resub_home = 0;
        log_info("session %llu: subscribed again to %u channel(s) and pattern(s) on %s",
                 (unsigned long long)s->id, n, t->nodes[home].addr);
        ks_links(s, t);
    }
}

/* Keep CLIENT LIST's sub= and psub= exact: every (un)subscribe confirmation ends with the
 * client's total of channels and patterns, so its change is what this confirmation did. */
static void count_subscriptions(session *s, const char *frame, size_t len)
{
    static const struct {
        const char *head;
        int pattern;
    } kinds[] = {{"3\r\n$9\r\nsubscribe\r\n", 0},
                 {"3\r\n$11\r\nunsubscribe\r\n", 0},
                 {"3\r\n$10\r\npsubscribe\r\n", 1},
                 {"3\r\n$12\r\npunsubscribe\r\n", 1}};
    if (len < 8 || (frame[0] != '*' && frame[0] != '>') || frame[len - 2] != '\r')
        return;
    for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
        size_t hl = strlen(kinds[i].head);
        if (len <= hl + 1 || memcmp(frame + 1, kinds[i].head, hl) != 0)
            continue;
        const char *p = frame + len - 2; /* the count: ":<n>\r\n" ends the frame */
        while (p > frame && p[-1] != ':')
            p--;
        long total = strtol(p, NULL, 10);
        int *field = kinds[i].pattern ? &s->npsub : &s->nsub;
        *field = MAX(0, *field + (int)(total - (s->nsub + s->npsub)));
        return;
    }
}

/* The frame's kind (first element) and, for messages, the channel; 0 if not a pub/sub frame. */
static int frame_parts(const char *f, size_t len, const char **kind, size_t *klen,
                       const char **chan, size_t *clen, long long *count)
{
    resp_value *v = NULL;
    size_t used;
    int ok = resp_value_parse(f, len, &v, &used) == RESP_DONE &&
             (v->type == RESP_T_ARRAY || v->type == RESP_T_PUSH) && v->nelem >= 2 &&
             v->elem[0].type == RESP_T_BULK;
    if (ok) {
        *kind = v->elem[0].str; /* points into f, which outlives v */
        *klen = v->elem[0].len;
        /* pmessage: pattern, channel, payload; the others: channel first. */
        const resp_value *c = (v->nelem == 4) ? &v->elem[2] : &v->elem[1];
        *chan = c->type == RESP_T_BULK ? c->str : "";
        *clen = c->type == RESP_T_BULK ? c->len : 0;
        const resp_value *last = &v->elem[v->nelem - 1];
        *count = last->type == RESP_T_INTEGER ? last->integer : -1;
    }
    resp_value_free(v);
    return ok;
}

static int kind_is(const char *k, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(k, w, n) == 0;
}

static long long ssub_total(const session *s)
{
    long long n = s->priv ? s->priv->ssub_count : 0;
    for (unsigned i = 0; s->sublinks && i < TOPO_MAX_SHARDS; i++)
        if (s->sublinks[i])
            n += s->sublinks[i]->ssub_count;
    return n;
}

/* Append frame with its last element (the count) replaced by count. */
static void append_with_count(buf *out, const char *f, size_t len, long long count)
{
    size_t i = len >= 2 ? len - 2 : 0; /* before the final CRLF */
    while (i > 0 && f[i - 1] != ':')
        i--;
    if (i == 0) {
        buf_append(out, f, len);
        return;
    }
    buf_append(out, f, i);
    buf_appendf(out, "%lld\r\n", count);
}

static void release_held(session *s)
{
    buf_append(&s->out, buf_rptr(&s->ps_hold_home), buf_used(&s->ps_hold_home));
    buf_append(&s->out, buf_rptr(&s->ps_hold_other), buf_used(&s->ps_hold_other));
    buf_deinit(&s->ps_hold_home);
    buf_deinit(&s->ps_hold_other);
    worker_flush_session(s);
}

void pubsub_passthrough(backend *b, const char *frame, size_t len)
{
    session *s = b->owner;
    if (s->dead)
        return;
    if (b->filtered && len >= sizeof(sync_tail) - 1 &&
        memcmp(frame + len - (sizeof(sync_tail) - 1), sync_tail, sizeof(sync_tail) - 1) == 0) {
        /* That shard has applied the change: once all have, what was held goes out. */
        if (s->ps_pending > 0 && --s->ps_pending == 0)
            release_held(s);
        return;
    }
    if (len > 5 && (memcmp(frame, "-MOVED", 6) == 0 || memcmp(frame, "-ASK ", 5) == 0)) {
        /* A redirection names an engine: never passed on (a shard channel whose slot just
         * moved; the client's cluster logic subscribes again). */
        static const char moving[] =
            "-TRYAGAIN the cache is moving this shard channel's slot; retry shortly\r\n";
        frame = moving;
        len = sizeof(moving) - 1;
    }
    const char *kind = "", *chan = "";
    size_t klen = 0, clen = 0;
    long long count = -1;
    int parsed = frame_parts(frame, len, &kind, &klen, &chan, &clen, &count);
    int forward = 1, unsub = 0, rewrite = 0;
    if (parsed) {
        int message = kind_is(kind, klen, "message") || kind_is(kind, klen, "pmessage");
        int regular_conf = kind_is(kind, klen, "subscribe") || kind_is(kind, klen, "psubscribe") ||
                           kind_is(kind, klen, "unsubscribe") ||
                           kind_is(kind, klen, "punsubscribe");
        int shard_conf = kind_is(kind, klen, "ssubscribe") || kind_is(kind, klen, "sunsubscribe");
        if (b->filtered) {
            if (message) {
                forward = 0;
                for (size_t i = 0; i < ARRAY_LEN(keyspace_prefixes) && !forward; i++)
                    forward = clen > strlen(keyspace_prefixes[i]) &&
                              memcmp(chan, keyspace_prefixes[i], strlen(keyspace_prefixes[i])) == 0;
            } else if (regular_conf || kind_is(kind, klen, "pong")) {
                forward = 0; /* the home link answers for these */
            }
        } else if (regular_conf) {
            s->sub_count = count;
            if (s->resub_skip > 0) {
                s->resub_skip--; /* a replayed subscription: the client has it already */
                return;
            }
            count_subscriptions(s, frame, len);
            int pat = kind_is(kind, klen, "psubscribe") || kind_is(kind, klen, "punsubscribe");
            int add = kind_is(kind, klen, "subscribe") || kind_is(kind, klen, "psubscribe");
            if (clen)
                set_update(s, pat ? 'p' : 'c', add, chan, clen);
        }
        if (shard_conf) {
            b->ssub_count = count;
            count = ssub_total(s); /* one node counts every shard channel of the client */
        }
        rewrite = shard_conf;
        unsub = kind_is(kind, klen, "unsubscribe") || kind_is(kind, klen, "punsubscribe") ||
                kind_is(kind, klen, "sunsubscribe");
    }
    if (!forward)
        return;
    buf *out = &s->out;
    if (s->ps_pending > 0)
        out = b->filtered ? &s->ps_hold_other : &s->ps_hold_home;
    /* Written even under CLIENT REPLY OFF: Redis sends pub/sub messages and subscription
     * confirmations regardless (they are pushes, in RESP2 too). */
    if (rewrite)
        append_with_count(out, frame, len, count);
    else
        buf_append(out, frame, len);
    worker_flush_session(s);
    if (unsub && s->sub_count <= 0 && ssub_total(s) <= 0) {
        s->subscribed = 0;
        s->nsub = s->npsub = 0;
    }
    if (buf_used(&s->out) + buf_used(&s->ps_hold_home) + buf_used(&s->ps_hold_other) >
        PUBSUB_OUT_LIMIT) {
        log_warn("session %llu: subscriber not reading, over %zu MB of messages waiting; "
                 "disconnecting it",
                 (unsigned long long)s->id, PUBSUB_OUT_LIMIT >> 20);
        worker_doom_session(s);
    }
}
