/* WAIT numreplicas timeout through the endpoint.
 *
 * A client's writes travel on links shared with other clients, so the engine cannot tell which
 * replication offset is "this client's". The endpoint records which shards a session wrote to;
 * WAIT then visits each of them in turn on the session's private link: a tiny MULTI/INCR/DEL/EXEC
 * on an internal key makes that link's last write at least as recent as the client's, and the
 * engine's own WAIT (with what is left of the timeout) counts the replicas that have it. The
 * reply is the smallest count over the shards visited: every replica counted has all of the
 * client's writes of that shard. With no write since the last satisfied WAIT, a plain WAIT on
 * one shard counts the replicas in sync, as Redis does for a client with nothing to wait for. */
#define ALLOC_ROOM ROOM_PROXY
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "proto/keyslot.h"
#include "proxy/proxy_int.h"

#define WAIT_KEY "__stratus_wait:{%u}"

/* Rebuild r's command for shard: the bump transaction, then WAIT with the time left. */
static int wait_build(worker *w, req *r, unsigned shard)
{
    const topology *t = worker_topology(w);
    int slot = -1;
    for (int i = 0; i < TOPO_SLOTS && slot < 0; i++)
        if (t->slot_shard[i] == shard)
            slot = i;
    if (slot < 0)
        return -ENOENT;
    char key[64], tmo[24];
    snprintf(key, sizeof(key), WAIT_KEY, keyslot_number((unsigned)slot));
    uint64_t now = ev_now_ms(w->loop);
    long long left = 0;
    if (r->wait_until) /* 0: wait for ever, as Redis's timeout 0 */
        left = r->wait_until > now ? (long long)(r->wait_until - now) : -1;
    snprintf(tmo, sizeof(tmo), "%lld", left < 0 ? 1 : left);
    buf_consume(&r->cmd, buf_used(&r->cmd));
    r->preamble = 0;
    if (r->wait_bump) {
        const char *multi[] = {"MULTI"}, *incr[] = {"INCR", key}, *del[] = {"DEL", key},
                   *exec[] = {"EXEC"};
        size_t l1[] = {5}, l2[] = {4, strlen(key)}, l3[] = {3, strlen(key)}, l4[] = {4};
        resp_add_command(&r->cmd, 1, multi, l1);
        resp_add_command(&r->cmd, 2, incr, l2);
        resp_add_command(&r->cmd, 2, del, l3);
        resp_add_command(&r->cmd, 1, exec, l4);
        r->preamble = 4; /* +OK, QUEUED, QUEUED and EXEC's array */
    }
    /* With no time left, WAIT 0 reports at once how many replicas already have the writes. */
    const char *wait[] = {"WAIT", left < 0 ? "0" : r->wait_num, tmo};
    size_t l5[] = {4, strlen(wait[1]), strlen(tmo)};
    resp_add_command(&r->cmd, 3, wait, l5);
    r->target = TARGET_SHARD;
    r->shard = (uint16_t)shard;
    r->deadline_ms = now + (uint64_t)w->view->limits.backend_timeout;
    return 0;
}

static int parse_ll(const char *p, size_t n, long long *out)
{
    char tmp[24], *end;
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoll(tmp, &end, 10);
    return errno || *end ? -1 : 0;
}

void wait_dispatch(session *s, size_t argc, const char *const *argv, const size_t *lens)
{
    long long num, timeout;
    (void)argc;
    if (parse_ll(argv[1], lens[1], &num) != 0) {
        router_reply_error(s, "ERR value is not an integer or out of range");
        return;
    }
    if (parse_ll(argv[2], lens[2], &timeout) != 0 || timeout < 0) {
        router_reply_error(s, timeout < 0 ? "ERR timeout is negative"
                                          : "ERR timeout is not an integer or out of range");
        return;
    }
    const topology *t = worker_topology(s->w);
    uint64_t mask = s->wrote_shards;
    req *r = session_queue_req(s);
    r->wait_bump = mask != 0;
    if (!mask) /* nothing new written: any shard's WAIT counts the replicas in sync */
        mask = 1ull << (s->id % (uint64_t)MAX(t->nshards, 1));
    /* The endpoint's own engine user: its bump writes an internal key no client may touch. */
    r->flags |= REQ_F_BLOCKING | REQ_F_WAIT | REQ_F_ENDPOINT;
    r->wait_mask = mask;
    r->wait_min = LLONG_MAX;
    r->wait_until = timeout ? ev_now_ms(s->w->loop) + (uint64_t)timeout : 0;
    snprintf(r->wait_num, sizeof(r->wait_num), "%lld", num < 0 ? 0 : num);
    r->wait_target = num;
    if (wait_build(s->w, r, (unsigned)__builtin_ctzll(mask)) != 0) {
        router_fail(s->w, r, "CLUSTERDOWN the cache has no shard to wait on right now");
        return;
    }
    router_queue_or_send(s, r);
}

int wait_continue(worker *w, req *r, const char *data, size_t len)
{
    long long n;
    if (len < 3 || data[0] != ':' || parse_ll(data + 1, len - 3, &n) != 0) {
        r->flags &= (uint32_t)~REQ_F_WAIT; /* an error: the client gets it as it is */
        return 0;
    }
    r->wait_min = MIN(r->wait_min, n);
    r->wait_mask &= ~(1ull << r->shard);
    session *s = r->s;
    if (r->wait_mask && s && wait_build(w, r, (unsigned)__builtin_ctzll(r->wait_mask)) == 0) {
        /* The next shard, on the private link: sent from the retry queue, not from inside this
         * link's read callback, since moving the private link closes this one. */
        worker_retry_later(w, r);
        return 1;
    }
    if (s && r->wait_min >= r->wait_target)
        s->wrote_shards = 0; /* every write so far is on enough replicas */
    char out[32];
    int ol = snprintf(out, sizeof(out), ":%lld\r\n", r->wait_min);
    r->flags &= (uint32_t)~REQ_F_WAIT;
    router_deliver_final(w, r, out, (size_t)ol);
    return 1;
}
