/* The data path's tables: local commands (proxy/local.c), merges (proxy/merge.c), the endpoint
 * counters (proxy/view.h VIEW_COUNTERS) and the private link budget of the view. */
#define ALLOC_ROOM ROOM_TEST
#include <errno.h>
#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "proxy/proxy_int.h"
#include "proxy/view.h"
#include "test.h"

static const cmd_def *named(const char *name, const char *sub)
{
    const cmd_def *d = cmd_lookup(name, strlen(name));
    if (d && sub)
        d = cmd_lookup_sub(d, sub, strlen(sub));
    return d;
}

TEST(local_every_endpoint_command_has_one_handler)
{
    int local = 0;
    for (uint16_t id = 0; id < cmd_ids; id++) {
        const cmd_def *d = cmd_by_id(id);
        if (!d || d->route != ROUTE_LOCAL)
            continue;
        local++;
        const local_row *row = local_row_of(d);
        ASSERT_TRUE(row != NULL);
        ASSERT_TRUE((row->take != NULL) != (row->answer != NULL));
    }
    ASSERT_TRUE(local >= 40);
    ASSERT_TRUE(local_row_of(named("GET", NULL)) == NULL);
    ASSERT_TRUE(local_row_of(named("CLUSTER", "NODES"))->answer != NULL);
    ASSERT_TRUE(local_row_of(named("INFO", NULL))->take != NULL); /* may fan out */
}

TEST(local_transaction_control_and_queueable_commands_are_marked)
{
    static const char *const txn[] = {"MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"};
    for (size_t i = 0; i < ARRAY_LEN(txn); i++)
        ASSERT_EQ(local_row_of(named(txn[i], NULL))->flags & LOCAL_F_TXN, LOCAL_F_TXN);
    ASSERT_EQ(local_row_of(named("PING", NULL))->flags, LOCAL_F_QUEUED);
    ASSERT_EQ(local_row_of(named("ECHO", NULL))->flags, LOCAL_F_QUEUED);
    ASSERT_EQ(local_row_of(named("CLIENT", "LIST"))->flags, LOCAL_F_DEFERRED);
    int txn_rows = 0, queued = 0;
    for (uint16_t id = 0; id < cmd_ids; id++) {
        const cmd_def *d = cmd_by_id(id);
        const local_row *row = d ? local_row_of(d) : NULL;
        txn_rows += row && (row->flags & LOCAL_F_TXN);
        queued += row && (row->flags & LOCAL_F_QUEUED);
    }
    ASSERT_EQ(txn_rows, 5);
    ASSERT_EQ(queued, 3); /* PING, ECHO, PUBLISH */
    ASSERT_EQ(local_row_of(named("PUBLISH", NULL))->flags, LOCAL_F_QUEUED);
}

TEST(merge_every_merge_a_command_uses_has_a_row)
{
    for (uint16_t id = 0; id < cmd_ids; id++) {
        const cmd_def *d = cmd_by_id(id);
        if (!d || d->merge == MERGE_NONE || d->merge == MERGE_GATHER)
            continue;
        ASSERT_TRUE(merge_row_of(d->merge) != NULL);
    }
    ASSERT_TRUE(merge_row_of(MERGE_NONE) == NULL);
    ASSERT_TRUE(merge_row_of(MERGE_GATHER) == NULL);
    ASSERT_TRUE(merge_row_of(MERGE_MEMORY_STATS) != NULL);
    ASSERT_TRUE(merge_row_of(1000) == NULL);
}

/* A fan-out parent of kind merge whose children answered replies[i]. */
static req *parent_of(uint8_t merge, const char *const *replies, uint32_t n)
{
    req *p = xcalloc(1, sizeof(*p));
    p->merge = merge;
    p->proto = 2;
    p->nchildren = n;
    p->children = xcalloc(n, sizeof(req *));
    for (uint32_t i = 0; i < n; i++) {
        p->children[i] = xcalloc(1, sizeof(req));
        buf_init(&p->children[i]->reply);
        buf_append(&p->children[i]->reply, replies[i], strlen(replies[i]));
    }
    return p;
}

static void parent_free(req *p)
{
    for (uint32_t i = 0; i < p->nchildren; i++) {
        buf_deinit(&p->children[i]->reply);
        xfree(p->children[i]);
    }
    xfree(p->children);
    xfree(p->key_map);
    xfree(p);
}

/* The merged reply of kind over replies, as a string in out. */
static void merged(uint8_t kind, const char *const *replies, uint32_t n, char *out, size_t cap)
{
    req *p = parent_of(kind, replies, n);
    buf b;
    buf_init(&b);
    merge_reply(NULL, p, &b);
    snprintf(out, cap, "%.*s", (int)buf_used(&b), buf_rptr(&b));
    buf_deinit(&b);
    parent_free(p);
}

TEST(merge_sum_max_all_ok_first)
{
    char out[256];
    const char *const ints[] = {":1\r\n", ":5\r\n", ":2\r\n"};
    merged(MERGE_SUM, ints, 3, out, sizeof(out));
    ASSERT_STR_EQ(out, ":8\r\n");
    merged(MERGE_MAX, ints, 3, out, sizeof(out));
    ASSERT_STR_EQ(out, ":5\r\n");
    const char *const oks[] = {"+OK\r\n", "+OK\r\n"};
    merged(MERGE_ALL_OK, oks, 2, out, sizeof(out));
    ASSERT_STR_EQ(out, "+OK\r\n");
    merged(MERGE_FIRST, ints, 3, out, sizeof(out));
    ASSERT_STR_EQ(out, ":1\r\n");
}

TEST(merge_a_shards_error_is_the_commands_error)
{
    char out[256];
    const char *const replies[] = {":1\r\n", "-OOM command not allowed\r\n", ":2\r\n"};
    merged(MERGE_SUM, replies, 3, out, sizeof(out));
    ASSERT_STR_EQ(out, "-OOM command not allowed\r\n");
    /* SCRIPT KILL: NOTBUSY from a shard is not the error when another killed one. */
    const char *const kill[] = {"-NOTBUSY No scripts in execution right now.\r\n", "+OK\r\n"};
    merged(MERGE_KILL, kill, 2, out, sizeof(out));
    ASSERT_STR_EQ(out, "+OK\r\n");
}

TEST(merge_concat_and_numsub)
{
    char out[256];
    const char *const keys[] = {"*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*0\r\n", "*1\r\n$1\r\nc\r\n"};
    merged(MERGE_CONCAT, keys, 3, out, sizeof(out));
    ASSERT_STR_EQ(out, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    const char *const numsub[] = {"*4\r\n$1\r\nx\r\n:1\r\n$1\r\ny\r\n:0\r\n",
                                  "*4\r\n$1\r\nx\r\n:2\r\n$1\r\ny\r\n:3\r\n"};
    merged(MERGE_NUMSUB, numsub, 2, out, sizeof(out));
    ASSERT_STR_EQ(out, "*4\r\n$1\r\nx\r\n:3\r\n$1\r\ny\r\n:3\r\n");
}

TEST(merge_unreadable_replies_are_an_error_not_a_guess)
{
    char out[256];
    const char *const bad[] = {"*2\r\n$1\r\na\r\n$1\r\nb\r\n", ":7\r\n"};
    merged(MERGE_CONCAT, bad, 2, out, sizeof(out));
    ASSERT_STR_EQ(out, "-ERR unexpected reply from an engine while merging\r\n");
    const char *const cut[] = {"*2\r\n$1\r\na\r\n"};
    merged(MERGE_MGET, cut, 1, out, sizeof(out));
    ASSERT_STR_EQ(out, "-ERR unexpected reply from an engine while merging MGET\r\n");
}

TEST(merge_mget_puts_values_back_in_key_order)
{
    /* MGET a b c: a and c on shard 0 (indexes 0, 1), b on shard 1 (index 0). */
    const char *const replies[] = {"*2\r\n$2\r\nva\r\n$2\r\nvc\r\n", "*1\r\n$-1\r\n"};
    req *p = parent_of(MERGE_MGET, replies, 2);
    p->nkeys = 3;
    p->key_map = xcalloc(6, sizeof(uint32_t));
    static const uint32_t map[] = {0, 0, 1, 0, 0, 1};
    memcpy(p->key_map, map, sizeof(map));
    buf b;
    buf_init(&b);
    merge_reply(NULL, p, &b);
    char out[128];
    snprintf(out, sizeof(out), "%.*s", (int)buf_used(&b), buf_rptr(&b));
    ASSERT_STR_EQ(out, "*3\r\n$2\r\nva\r\n$-1\r\n$2\r\nvc\r\n");
    /* A map naming an element a shard did not return is refused, not read past. */
    p->key_map[5] = 7;
    buf_consume(&b, buf_used(&b));
    merge_reply(NULL, p, &b);
    ASSERT_TRUE(buf_used(&b) > 0 && buf_rptr(&b)[0] == '-');
    buf_deinit(&b);
    parent_free(p);
}

TEST(view_counters_one_row_each_with_its_names)
{
    size_t n;
    const view_counter_row *rows = view_counter_rows(&n);
    ASSERT_EQ(n, sizeof(view_counters) / sizeof(int64_t));
    view_counters k;
    memset(&k, 0, sizeof(k));
    atomic_store(&k.redirects, 42);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        ASSERT_TRUE(rows[i].info_name && rows[i].family && rows[i].help && rows[i].type);
        ASSERT_TRUE(strncmp(rows[i].family, "stratus_", 8) == 0);
        for (size_t j = 0; j < i; j++) {
            ASSERT_TRUE(strcmp(rows[i].family, rows[j].family) != 0);
            ASSERT_TRUE(strcmp(rows[i].info_name, rows[j].info_name) != 0);
        }
        if (strcmp(rows[i].info_name, "redirections_absorbed") == 0) {
            ASSERT_EQ(view_counter_value(&k, &rows[i]), 42);
            found = 1;
        } else {
            ASSERT_EQ(view_counter_value(&k, &rows[i]), 0);
        }
    }
    ASSERT_TRUE(found);
}

TEST(view_private_link_budget_per_cache_and_per_user)
{
    proxy_view *v = xcalloc(1, sizeof(*v));
    view_init(v);
    v->limits.max_blocking_clients = 3;
    v->limits.max_blocking_per_user = 2;
    ASSERT_EQ(view_link_take(v, "app"), 0);
    ASSERT_EQ(view_link_take(v, "app"), 0);
    ASSERT_EQ(view_link_take(v, "app"), -EDQUOT); /* the user's share */
    ASSERT_EQ(view_link_take(v, "ops"), 0);
    ASSERT_EQ(view_link_take(v, "ops"), -ENOSPC); /* the cache's limit */
    ASSERT_EQ(atomic_load(&v->counters.private_links), 3);
    view_link_give(v, "app");
    ASSERT_EQ(view_link_take(v, "ops"), 0);
    view_link_give(v, "app");
    view_link_give(v, "ops");
    view_link_give(v, "ops");
    ASSERT_EQ(atomic_load(&v->counters.private_links), 0);
    ASSERT_EQ(v->nlink_users, 0); /* an entry lives only while its user holds links */
    view_deinit(v);
    xfree(v);
}
