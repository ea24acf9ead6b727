/* Fan-out replies merged into one: one table row per merge kind (cmd_merge, proto/cmdtable.h),
 * as Redis's command table carries each command's function. The server commands' merges
 * (SLOWLOG, LATENCY, MEMORY STATS, SCRIPT KILL) are diag.c's; CONFIG's are admin.c's; INFO's is
 * local.c's; a cross-slot read (MERGE_GATHER) runs its own phases in gather.c. */
#define ALLOC_ROOM ROOM_PROXY
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "proxy/proxy_int.h"

/* DEL, EXISTS, DBSIZE ...: integers added. */
static int merge_sum(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w, (void)vals;
    long long sum = 0;
    for (uint32_t i = 0; i < p->nchildren; i++)
        sum += strtoll(buf_rptr(&p->children[i]->reply) + 1, NULL, 10);
    resp_add_int(out, sum);
    return 0;
}

/* LASTSAVE: the largest integer. */
static int merge_max(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w, (void)vals;
    long long max = 0;
    for (uint32_t i = 0; i < p->nchildren; i++)
        max = MAX(max, strtoll(buf_rptr(&p->children[i]->reply) + 1, NULL, 10));
    resp_add_int(out, max);
    return 0;
}

/* FLUSHALL, SCRIPT FLUSH ...: +OK (every shard said so: errors win before). */
static int merge_all_ok(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w, (void)p, (void)vals;
    resp_add_simple(out, "OK");
    return 0;
}

/* The first shard's reply. */
static int merge_first(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w, (void)vals;
    const buf *rb = &p->children[0]->reply;
    buf_append(out, buf_rptr(rb), buf_used(rb));
    return 0;
}

/* KEYS: arrays concatenated. */
static int merge_concat(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    size_t total = 0;
    for (uint32_t i = 0; i < p->nchildren; i++) {
        if (!vals[i] || (vals[i]->type != RESP_T_ARRAY && vals[i]->type != RESP_T_SET))
            return -1;
        total += vals[i]->nelem;
    }
    resp_add_array(out, total);
    for (uint32_t i = 0; i < p->nchildren; i++)
        for (size_t j = 0; j < vals[i]->nelem; j++)
            buf_append(out, vals[i]->elem[j].raw, vals[i]->elem[j].raw_len);
    return 0;
}

/* RANDOMKEY: a non-nil reply of a shard taken in turn (the worker's rotation). */
static int merge_random(worker *w, req *p, resp_value **vals, buf *out)
{
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (!vals[i])
            return -1;
    uint32_t start = w->rotation++ % p->nchildren, i;
    for (i = 0; i < p->nchildren; i++) {
        const resp_value *v = vals[(start + i) % p->nchildren];
        if (v->type != RESP_T_NULL) {
            buf_append(out, v->raw, v->raw_len);
            return 0;
        }
    }
    buf_append(out, vals[0]->raw, vals[0]->raw_len);
    return 0;
}

/* SCAN: the one shard's reply, its cursor made cache-wide. */
static int merge_scan(worker *w, req *p, resp_value **vals, buf *out)
{
    const resp_value *v = vals[0];
    if (!v || v->type != RESP_T_ARRAY || v->nelem != 2 || v->elem[0].type != RESP_T_BULK)
        return -1;
    char num[32];
    snprintf(num, sizeof(num), "%.*s", (int)MIN(v->elem[0].len, 30), v->elem[0].str);
    unsigned long long ec = strtoull(num, NULL, 10), next = 0;
    unsigned shard = p->shard;
    if (ec != 0)
        next = ec * SCAN_SHARD_BITS + shard;
    else if (shard + 1 < (unsigned)worker_topology(w)->nshards)
        next = shard + 1; /* this shard is done: the next one from its start */
    snprintf(num, sizeof(num), "%llu", next);
    resp_add_array(out, 2);
    resp_add_cstr(out, num);
    buf_append(out, v->elem[1].raw, v->elem[1].raw_len);
    return 0;
}

/* PUBSUB SHARDNUMSUB: every shard answers [channel, count ...] in the same order; a shard
 * channel lives on one shard, so the counts add up exactly. */
static int merge_numsub(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (!vals[i] || (vals[i]->type != RESP_T_ARRAY && vals[i]->type != RESP_T_MAP) ||
            vals[i]->nelem != vals[0]->nelem)
            return -1;
    resp_add_map(out, vals[0]->nelem / 2, p->proto);
    for (size_t j = 0; j + 1 < vals[0]->nelem; j += 2) {
        long long sum = 0;
        for (uint32_t i = 0; i < p->nchildren; i++)
            sum += vals[i]->elem[j + 1].integer;
        buf_append(out, vals[0]->elem[j].raw, vals[0]->elem[j].raw_len);
        resp_add_int(out, sum);
    }
    return 0;
}

/* MGET: each shard's array re-ordered into the request's key order (key_map). */
static int merge_mget(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (!vals[i] || vals[i]->type != RESP_T_ARRAY)
            return -1;
    resp_add_array(out, p->nkeys);
    for (uint32_t k = 0; k < p->nkeys; k++) {
        uint32_t child = p->key_map[2 * k], idx = p->key_map[2 * k + 1];
        if (child >= p->nchildren || idx >= vals[child]->nelem)
            return -1;
        buf_append(out, vals[child]->elem[idx].raw, vals[child]->elem[idx].raw_len);
    }
    return 0;
}

/* INFO: the engines' figures summed into the endpoint's own INFO text. */
static int merge_info(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    const char **texts = xcalloc(p->nchildren + 1, sizeof(*texts));
    size_t *lens = xcalloc(p->nchildren + 1, sizeof(*lens));
    int n = 0;
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (vals[i] && (vals[i]->type == RESP_T_BULK || vals[i]->type == RESP_T_VERBATIM)) {
            texts[n] = vals[i]->str;
            lens[n++] = vals[i]->len;
        }
    if (p->s)
        info_build(p->s, out, p->info_sections, texts, lens, n);
    xfree(texts);
    xfree(lens);
    return 0;
}

/* CONFIG SET: +OK from every primary, then the values are kept for the cache. */
static int merge_config_set(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)vals;
    admin_config_record(w, p);
    resp_add_simple(out, "OK");
    return 0;
}

/* CONFIG GET: one engine's reply with only the settings clients may see. */
static int merge_config_get(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w, (void)vals;
    const buf *rb = &p->children[0]->reply;
    admin_config_filter(p->proto, buf_rptr(rb), buf_used(rb), out);
    return 0;
}

#define RAW 0, 1    /* reads the raw replies; a shard's error is the command's */
#define PARSED 1, 1 /* reads the parsed replies; a shard's error is the command's */

static const merge_row rows[] = {
    [MERGE_SUM] = {merge_sum, RAW, ""},
    [MERGE_MGET] = {merge_mget, PARSED, " MGET"},
    [MERGE_ALL_OK] = {merge_all_ok, RAW, ""},
    [MERGE_INFO] = {merge_info, PARSED, ""},
    [MERGE_FIRST] = {merge_first, RAW, ""},
    [MERGE_CONCAT] = {merge_concat, PARSED, ""},
    [MERGE_RANDOM] = {merge_random, PARSED, ""},
    [MERGE_SCAN] = {merge_scan, PARSED, ""},
    [MERGE_NUMSUB] = {merge_numsub, PARSED, ""},
    [MERGE_CONFIG_GET] = {merge_config_get, RAW, ""},
    [MERGE_CONFIG_SET] = {merge_config_set, RAW, ""},
    [MERGE_MAX] = {merge_max, RAW, ""},
    /* NOTBUSY from one shard is not the command's error: the merge decides. */
    [MERGE_KILL] = {diag_merge_kill, 0, 0, ""},
    [MERGE_SLOWLOG] = {diag_merge_slowlog, PARSED, ""},
    [MERGE_LATENCY_LATEST] = {diag_merge_latest, PARSED, ""},
    [MERGE_LATENCY_HISTORY] = {diag_merge_history, PARSED, ""},
    [MERGE_LATENCY_HISTOGRAM] = {diag_merge_histogram, PARSED, ""},
    [MERGE_LATENCY_RESET] = {diag_merge_latency_reset, PARSED, ""},
    [MERGE_LATENCY_DOCTOR] = {diag_merge_doctor, PARSED, ""},
    [MERGE_MEMORY_STATS] = {diag_merge_memory_stats, PARSED, ""},
    [MERGE_SLOWLOG_LEN] = {diag_merge_slowlog_len, PARSED, ""},
    [MERGE_FUNCTION_STATS] = {diag_merge_function_stats, PARSED, ""},
};

const merge_row *merge_row_of(unsigned kind)
{
    return kind < ARRAY_LEN(rows) && rows[kind].fn ? &rows[kind] : NULL;
}

void merge_reply(worker *w, req *p, buf *out)
{
    const merge_row *row = merge_row_of(p->merge);
    if (!row) {
        resp_add_error(out, "ERR internal: no merge for this command");
        return;
    }
    /* Any shard's error is the command's error, as a single node would report it. */
    for (uint32_t i = 0; row->errors_win && i < p->nchildren; i++) {
        const buf *rb = &p->children[i]->reply;
        if (buf_used(rb) && (buf_rptr(rb)[0] == '-' || buf_rptr(rb)[0] == '!')) {
            buf_append(out, buf_rptr(rb), buf_used(rb));
            return;
        }
    }
    resp_value **vals = NULL;
    if (row->parsed) {
        vals = xcalloc(MAX(p->nchildren, 1), sizeof(*vals));
        for (uint32_t i = 0; i < p->nchildren; i++) {
            const buf *rb = &p->children[i]->reply;
            size_t used;
            if (resp_value_parse(buf_rptr(rb), buf_used(rb), &vals[i], &used) != RESP_DONE)
                vals[i] = NULL; /* the merge decides what a reply it cannot read means */
        }
    }
    if (row->fn(w, p, vals, out) != 0) {
        buf_consume(out, buf_used(out));
        resp_add_error(out, "ERR unexpected reply from an engine while merging%s", row->what);
    }
    for (uint32_t i = 0; vals && i < p->nchildren; i++)
        resp_value_free(vals[i]);
    xfree(vals);
}

void merge_children(worker *w, req *p)
{
    if (p->merge == MERGE_GATHER) {
        gather_merge(w, p); /* a cross-slot read: its phases are gather.c's */
        return;
    }
    buf out;
    buf_init(&out);
    merge_reply(w, p, &out);
    for (uint32_t i = 0; i < p->nchildren; i++)
        req_put(w, p->children[i]);
    xfree(p->children);
    p->children = NULL;
    p->nchildren = 0;
    router_deliver_final(w, p, buf_rptr(&out), buf_used(&out));
    buf_deinit(&out);
}
