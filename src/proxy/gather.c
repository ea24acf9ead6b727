/* Cross-slot reads: SINTER, SUNION, SDIFF, SINTERCARD, ZUNION, ZINTER, ZDIFF, ZINTERCARD,
 * PFCOUNT and LCS over keys of several slots, answered by one engine running the command itself,
 * so the reply is Redis's own (no set or HyperLogLog arithmetic is re-implemented here). The
 * stores that write only their first key (SUNIONSTORE, SINTERSTORE, SDIFFSTORE, ZUNIONSTORE,
 * ZINTERSTORE, ZDIFFSTORE, ZRANGESTORE, PFMERGE, BITOP) are served the same way: the sources
 * are copied into the destination's slot, and the destination's primary runs the store.
 *
 *   SINTER a b c  (b, c on other slots than a)
 *     phase 1: DUMP b ──▶ b's primary       one child per foreign key, in parallel
 *              DUMP c ──▶ c's primary
 *     phase 2: MULTI, RESTORE {a}__stratus_tmp:W:N:0 0 <b's dump> REPLACE, RESTORE …:1 …,
 *              SINTER a {a}…:0 {a}…:1, UNLINK {a}…:0 {a}…:1, EXEC ──▶ a's primary
 *
 * The temporary keys hash to the first key's slot, so the batch is one slot's, as Redis Cluster
 * requires; MULTI makes it atomic on that engine, so no other client ever sees them and none is
 * left behind. A foreign key that does not exist gets a name that is never created: the command
 * reads it as missing, as it would read the key itself. Both phases run under the endpoint's
 * own engine user (the client's may not DUMP or RESTORE; the endpoint checked its read access
 * to every key), on other links than the client's: so the read starts once the client's earlier
 * commands are answered, and the session parses nothing further until it is answered. */
#define ALLOC_ROOM ROOM_PROXY
#include <string.h>

#include "common/alloc.h"
#include "proto/keyslot.h"
#include "proxy/proxy_int.h"

#define TAG_MAX 64 /* a longer hashed part is replaced by a short tag of the same slot */

static const char tmp_infix[] = "__stratus_tmp:";

/* Resume reading the session's input, held since the gather started. */
static void release_session(session *s)
{
    s->barrier = 0;
    session_process_input(s);
}

/* Answer p (or free it, orphaned) with data, which may point into a child's reply; then drop
 * the children. */
static void finish(worker *w, req *p, const char *data, size_t len)
{
    session *s = p->s;
    int held = s != NULL;
    req **children = p->children;
    uint32_t n = p->nchildren;
    p->children = NULL;
    p->nchildren = 0;
    router_deliver_final(w, p, data, len);
    for (uint32_t i = 0; i < n; i++)
        req_put(w, children[i]);
    xfree(children);
    if (held)
        release_session(s);
}

static void finish_error(worker *w, req *p, const char *msg)
{
    buf b;
    buf_init(&b);
    resp_add_error(&b, "%s", msg);
    finish(w, p, buf_rptr(&b), buf_used(&b));
    buf_deinit(&b);
}

void gather_dispatch(session *s, size_t argc, const char *const *argv, const size_t *lens,
                     const char *raw, size_t rawlen, const uint32_t *keys, int nkeys, int writes)
{
    worker *w = s->w;
    unsigned target = keyslot(argv[keys[0]], lens[keys[0]]);
    uint32_t nforeign = 0;
    for (int i = 1; i < nkeys; i++)
        nforeign += keyslot(argv[keys[i]], lens[keys[i]]) != target;
    req *p = session_queue_req(s);
    p->merge = MERGE_GATHER;
    p->gather_phase = 1;
    p->gather_write = (uint8_t)writes;
    p->target = TARGET_SLOT;
    p->slot = (uint16_t)target;
    /* The command's bytes wait here until phase 2 rewrites them; p itself is never sent. */
    if (raw)
        buf_append(&p->cmd, raw, rawlen);
    else
        resp_add_command(&p->cmd, argc, argv, lens);
    p->key_map = xmalloc((1 + (size_t)nforeign) * sizeof(uint32_t));
    p->nkeys = 1 + nforeign;
    p->key_map[0] = keys[0];
    p->children = xcalloc(nforeign, sizeof(req *));
    p->nchildren = p->pending = nforeign;
    uint32_t c = 0;
    for (int i = 1; i < nkeys; i++) {
        unsigned slot = keyslot(argv[keys[i]], lens[keys[i]]);
        if (slot == target)
            continue;
        p->key_map[1 + c] = keys[i];
        req *ch = req_get(w);
        ch->parent = p;
        ch->proto = p->proto; /* the session's link: DUMP sees its earlier writes */
        ch->target = TARGET_SLOT;
        ch->slot = (uint16_t)slot;
        ch->deadline_ms = p->deadline_ms;
        ch->flags |= REQ_F_READONLY | REQ_F_ENDPOINT; /* the client's user may lack DUMP */
        const char *dump[] = {"DUMP", argv[keys[i]]};
        const size_t dump_lens[] = {4, lens[keys[i]]};
        resp_add_command(&ch->cmd, 2, dump, dump_lens);
        p->children[c++] = ch;
    }
    atomic_fetch_add_explicit(&s->view->counters.cross_slot_reads, 1, memory_order_relaxed);
    s->barrier = 1;
    /* The last child may be answered at once (an error): p must not be used after the loop. */
    for (uint32_t i = 0; i < nforeign; i++)
        router_send(w, p->children[i]);
}

/* Append the "{tag}" of p's temporary keys: the first key's hashed part when it can serve as a
 * tag (not empty, no '}', short), else a number that hashes to the same slot. */
static void add_tag(buf *b, const char *key, size_t len, unsigned slot)
{
    size_t n;
    const char *part = keyslot_hashed(key, len, &n);
    if (n > 0 && n <= TAG_MAX && !memchr(part, '}', n)) {
        buf_append(b, "{", 1);
        buf_append(b, part, n);
        buf_append(b, "}", 1);
    } else {
        buf_appendf(b, "{%u}", keyslot_number(slot));
    }
}

/* The name of foreign key i's temporary key in names (every name ends at name_end[i]). */
static void name_of(const buf *names, const size_t *name_end, uint32_t i, const char **p, size_t *n)
{
    size_t start = i ? name_end[i - 1] : 0;
    *p = buf_rptr(names) + start;
    *n = name_end[i] - start;
}

/* Append p's phase 2 batch to cmd: MULTI, a RESTORE per foreign key that exists, the command
 * (orig) with temporary names for the foreign keys, an UNLINK of the restored ones, EXEC. */
static void build_batch(worker *w, const req *p, resp_value *const *dumps, uint32_t nforeign,
                        uint32_t nrestore, const resp_value *orig, buf *cmd)
{
    static const char multi[] = "*1\r\n$5\r\nMULTI\r\n";
    static const char exec[] = "*1\r\n$4\r\nEXEC\r\n";
    /* Every foreign key gets a name; only those that exist are restored, so a missing key reads
     * as missing. */
    buf names;
    buf_init(&names);
    size_t *name_end = xmalloc(nforeign * sizeof(size_t));
    uint64_t seq = w->gather_seq++;
    const resp_value *first = &orig->elem[p->key_map[0]];
    for (uint32_t i = 0; i < nforeign; i++) {
        add_tag(&names, first->str, first->len, p->slot);
        buf_appendf(&names, "%s%d:%llu:%u", tmp_infix, w->id, (unsigned long long)seq, i);
        name_end[i] = buf_used(&names);
    }
    size_t cap = MAX(orig->nelem, 1 + (size_t)nrestore);
    const char **argv = xmalloc(cap * sizeof(char *));
    size_t *lens = xmalloc(cap * sizeof(size_t));

    buf_append(cmd, multi, sizeof(multi) - 1);
    for (uint32_t i = 0; i < nforeign; i++) {
        if (dumps[i]->type != RESP_T_BULK)
            continue;
        const char *restore[] = {"RESTORE", NULL, "0", dumps[i]->str, "REPLACE"};
        size_t restore_lens[] = {7, 0, 1, dumps[i]->len, 7};
        name_of(&names, name_end, i, &restore[1], &restore_lens[1]);
        resp_add_command(cmd, 5, restore, restore_lens);
    }
    for (size_t i = 0; i < orig->nelem; i++) {
        argv[i] = orig->elem[i].str;
        lens[i] = orig->elem[i].len;
    }
    for (uint32_t i = 0; i < nforeign; i++)
        name_of(&names, name_end, i, &argv[p->key_map[1 + i]], &lens[p->key_map[1 + i]]);
    resp_add_command(cmd, orig->nelem, argv, lens);
    if (nrestore > 0) {
        /* UNLINK: a large copy is freed off the engine's main thread. */
        size_t n = 0;
        argv[n] = "UNLINK";
        lens[n++] = 6;
        for (uint32_t i = 0; i < nforeign; i++) {
            if (dumps[i]->type != RESP_T_BULK)
                continue;
            name_of(&names, name_end, i, &argv[n], &lens[n]);
            n++;
        }
        resp_add_command(cmd, n, argv, lens);
    }
    buf_append(cmd, exec, sizeof(exec) - 1);
    xfree(argv);
    xfree(lens);
    xfree(name_end);
    buf_deinit(&names);
}

/* Phase 1 is over: check the DUMPs, then send the batch that runs the command (phase 2). */
static void run_command(worker *w, req *p)
{
    session *s = p->s;
    if (!s) {
        finish(w, p, NULL, 0); /* the client is gone: nothing more to do */
        return;
    }
    uint32_t nforeign = p->nchildren, nrestore = 0;
    resp_value **dumps = xcalloc(nforeign, sizeof(*dumps));
    resp_value *orig = NULL;
    const resp_value *refused = NULL;
    int bad = 0;
    size_t used;
    for (uint32_t i = 0; i < nforeign && !bad && !refused; i++) {
        const buf *rb = &p->children[i]->reply;
        if (resp_value_parse(buf_rptr(rb), buf_used(rb), &dumps[i], &used) != RESP_DONE)
            bad = 1;
        else if (dumps[i]->type == RESP_T_ERROR || dumps[i]->type == RESP_T_BLOBERR)
            refused = dumps[i]; /* the engine's own error, as one node would give it */
        else if (dumps[i]->type == RESP_T_BULK)
            nrestore++;
        else if (dumps[i]->type != RESP_T_NULL)
            bad = 1;
    }
    if (!bad && !refused)
        bad = resp_value_parse(buf_rptr(&p->cmd), buf_used(&p->cmd), &orig, &used) != RESP_DONE ||
              orig->type != RESP_T_ARRAY;
    if (refused) {
        finish(w, p, refused->raw, refused->raw_len);
    } else if (bad) {
        finish_error(w, p, "ERR unexpected reply from an engine while gathering keys");
    } else {
        req *ch = req_get(w);
        build_batch(w, p, dumps, nforeign, nrestore, orig, &ch->cmd);
        ch->parent = p;
        ch->proto = p->proto;
        ch->target = TARGET_SLOT;
        ch->slot = p->slot;
        /* A fresh deadline: phase 1 may have used most of the first, and a request past its
         * deadline on a link makes the link be dropped. */
        ch->deadline_ms = ev_now_ms(w->loop) + (uint64_t)w->view->limits.backend_timeout;
        /* Safe to resend: RESTORE ... REPLACE, the command (a read, or a store that replaces
         * its destination) and UNLINK give the same result twice. A store is a write: it goes
         * to the primary whatever the session's READONLY. */
        ch->flags |= REQ_F_OWN_MULTI | REQ_F_ENDPOINT | (p->gather_write ? 0 : REQ_F_READONLY);
        ch->preamble = 1 + nrestore + 1 + (nrestore > 0); /* MULTI's OK and each QUEUED */
        for (uint32_t i = 0; i < p->nchildren; i++)
            req_put(w, p->children[i]);
        p->children[0] = ch;
        p->nchildren = p->pending = 1;
        xfree(p->key_map);
        p->key_map = NULL;
        p->nkeys = nrestore;
        p->gather_phase = 2;
        router_send(w, ch); /* may answer p at once: p is not used after this */
    }
    for (uint32_t i = 0; i < nforeign; i++)
        resp_value_free(dumps[i]);
    xfree(dumps);
    resp_value_free(orig);
}

/* Phase 2 is over: the command's reply is EXEC's element after the RESTOREs. */
static void command_done(worker *w, req *p)
{
    const buf *rb = &p->children[0]->reply;
    resp_value *v = NULL;
    size_t used;
    uint32_t nrestore = p->nkeys;
    if (resp_value_parse(buf_rptr(rb), buf_used(rb), &v, &used) != RESP_DONE) {
        finish_error(w, p, "ERR unexpected reply from an engine while gathering keys");
    } else if (v->type == RESP_T_ERROR || v->type == RESP_T_BLOBERR) {
        finish(w, p, v->raw, v->raw_len); /* refused as a whole (see REQ_F_OWN_MULTI) */
    } else if (v->type != RESP_T_ARRAY || v->nelem != (size_t)nrestore + 1 + (nrestore > 0)) {
        finish_error(w, p, "ERR unexpected reply from an engine while gathering keys");
    } else {
        const resp_value *reply = &v->elem[nrestore];
        for (uint32_t i = 0; i < nrestore; i++) {
            resp_type t = v->elem[i].type;
            if (t == RESP_T_ERROR || t == RESP_T_BLOBERR) {
                reply = &v->elem[i]; /* a copy was refused: the command did not see its data */
                break;
            }
        }
        finish(w, p, reply->raw, reply->raw_len);
    }
    resp_value_free(v);
}

void gather_merge(worker *w, req *p)
{
    if (p->gather_phase == 1)
        run_command(w, p);
    else
        command_done(w, p);
}
