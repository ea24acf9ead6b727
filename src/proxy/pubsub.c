/* Pub/Sub: SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE through the one endpoint.
 *
 * Redis Cluster broadcasts every PUBLISH to every node over its bus, so a subscriber needs one
 * engine connection, whatever the channel: its session's private link to shard 0's primary.
 * Subscribe-family commands (and PING from a RESP2 subscriber) are written to that link without
 * a reply slot, and the link runs in pass-through: every frame the engine sends (confirmations,
 * messages, pongs) goes straight to the client in the order the engine sent it. A subscriber
 * that does not read is cut off past an output-buffer limit instead of growing the endpoint. */
#define ALLOC_ROOM ROOM_PROXY
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "proxy/proxy_int.h"

#define PUBSUB_OUT_LIMIT ((size_t)32 * 1024 * 1024)

int pubsub_restricted(const session *s, const cmd_def *d)
{
    /* RESP2 subscribers may only (un)subscribe, PING and QUIT, as on Redis. */
    if (!s->subscribed || s->proto == 3)
        return 0;
    return !(d->route == ROUTE_LOCAL &&
             (d->local == LOCAL_SUBSCRIBE || d->local == LOCAL_PING || d->local == LOCAL_QUIT));
}

void pubsub_command(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                    const size_t *lens, const char *raw, size_t rawlen)
{
    req *r = session_queue_req(s);
    if (raw)
        buf_append(&r->cmd, raw, rawlen);
    else
        resp_add_command(&r->cmd, argc, argv, lens);
    r->flags |= REQ_F_PUBSUB;
    r->target = TARGET_SHARD;
    r->shard = 0;
    if (d->local == LOCAL_SUBSCRIBE &&
        (strcasecmp(d->name, "subscribe") == 0 || strcasecmp(d->name, "psubscribe") == 0))
        s->subscribed = 1;
    router_queue_or_send(s, r);
}

/* Whether frame is an (p)unsubscribe confirmation saying no subscription is left. */
static int last_unsubscribe(const char *frame, size_t len)
{
    static const char *const heads[] = {
        "*3\r\n$11\r\nunsubscribe\r\n", ">3\r\n$11\r\nunsubscribe\r\n",
        "*3\r\n$12\r\npunsubscribe\r\n", ">3\r\n$12\r\npunsubscribe\r\n"};
    int match = 0;
    for (size_t i = 0; i < ARRAY_LEN(heads) && !match; i++)
        match = len > strlen(heads[i]) && memcmp(frame, heads[i], strlen(heads[i])) == 0;
    if (!match)
        return 0;
    return len >= 6 && memcmp(frame + len - 6, "\r\n:0\r\n", 6) == 0; /* count 0 */
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

void pubsub_passthrough(session *s, const char *frame, size_t len)
{
    if (s->dead)
        return;
    count_subscriptions(s, frame, len);
    if (!s->reply_off) {
        buf_append(&s->out, frame, len);
        worker_flush_session(s);
    }
    if (last_unsubscribe(frame, len)) {
        s->subscribed = 0;
        s->nsub = s->npsub = 0;
    }
    if (buf_used(&s->out) > PUBSUB_OUT_LIMIT) {
        log_warn("session %llu: subscriber not reading, over %zu MB of messages waiting; "
                 "disconnecting it",
                 (unsigned long long)s->id, PUBSUB_OUT_LIMIT >> 20);
        worker_doom_session(s);
    }
}
