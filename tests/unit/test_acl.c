/* ACL rules and checks (control/acl.c) and the durable store (control/store.c). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/alloc.h"
#include "control/acl.h"
#include "control/store.h"
#include "test.h"

static acl_verdict check(const acl_user *u, size_t argc, const char *const *argv)
{
    size_t lens[16];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    const cmd_def *d = cmd_lookup(argv[0], lens[0]);
    if (d->nsubs && argc > 1)
        d = cmd_lookup_sub(d, argv[1], lens[1]);
    return acl_check(u, d, argc, argv, lens);
}

#define GLOB(p, s) acl_glob_match(p, strlen(p), s, strlen(s), 0)

TEST(acl_glob)
{
    ASSERT_TRUE(GLOB("*", ""));
    ASSERT_TRUE(GLOB("*", "anything"));
    ASSERT_TRUE(GLOB("session:*", "session:42"));
    ASSERT_TRUE(!GLOB("session:*", "sessions:42"));
    ASSERT_TRUE(GLOB("h?llo", "hello"));
    ASSERT_TRUE(!GLOB("h?llo", "hllo"));
    ASSERT_TRUE(GLOB("h[ae]llo", "hallo"));
    ASSERT_TRUE(!GLOB("h[^e]llo", "hello"));
    ASSERT_TRUE(GLOB("h[a-c]llo", "hbllo"));
    ASSERT_TRUE(GLOB("a\\*b", "a*b"));
    ASSERT_TRUE(!GLOB("a\\*b", "axb"));
    ASSERT_TRUE(GLOB("*:*:end", "x:y:z:end"));
    ASSERT_TRUE(GLOB("__key*@0__:*", "__keyspace@0__:foo"));
    ASSERT_TRUE(acl_glob_match("ABC", 3, "abc", 3, 1));
}

TEST(acl_new_user_has_nothing)
{
    acl_user *u = acl_user_create("app", 3);
    const char *get[] = {"GET", "k"};
    ASSERT_EQ(u->enabled, 0);
    ASSERT_EQ(check(u, 2, get), ACL_DENY_CMD);
    ASSERT_TRUE(!acl_user_password_ok(u, "x", 1));
    acl_user_destroy(u);
}

TEST(acl_rules_and_checks)
{
    acl_user *u = acl_user_create("app", 3);
    char err[256];
    ASSERT_EQ(acl_user_apply_text(u, "on >secret ~session:* %R~ro:* &news.* +@read +set -keys", err,
                                  sizeof(err)),
              0);
    ASSERT_TRUE(u->enabled);
    ASSERT_TRUE(acl_user_password_ok(u, "secret", 6));
    ASSERT_TRUE(!acl_user_password_ok(u, "secreT", 6));
    const char *get_ok[] = {"GET", "session:1"};
    const char *get_other[] = {"GET", "other"};
    const char *get_ro[] = {"GET", "ro:1"};
    const char *set_ro[] = {"SET", "ro:1", "v"};
    const char *set_ok[] = {"SET", "session:1", "v"};
    const char *del[] = {"DEL", "session:1"};
    const char *keys[] = {"KEYS", "*"};
    const char *mget[] = {"MGET", "session:1", "other"};
    const char *pub_ok[] = {"PUBLISH", "news.tech", "x"};
    const char *pub_no[] = {"PUBLISH", "sports", "x"};
    const char *psub_exact[] = {"PSUBSCRIBE", "news.*"};
    const char *psub_other[] = {"PSUBSCRIBE", "news.t*"};
    ASSERT_EQ(check(u, 2, get_ok), ACL_OK);
    ASSERT_EQ(check(u, 2, get_other), ACL_DENY_KEY);
    ASSERT_EQ(check(u, 2, get_ro), ACL_OK);
    ASSERT_EQ(check(u, 3, set_ro), ACL_DENY_KEY);
    ASSERT_EQ(check(u, 3, set_ok), ACL_OK);
    ASSERT_EQ(check(u, 2, del), ACL_DENY_CMD);
    ASSERT_EQ(check(u, 2, keys), ACL_DENY_CMD);
    ASSERT_EQ(check(u, 3, mget), ACL_DENY_KEY);
    ASSERT_EQ(check(u, 3, pub_ok), ACL_DENY_CMD); /* PUBLISH is not @read */
    ASSERT_EQ(acl_user_apply_text(u, "+publish +psubscribe", err, sizeof(err)), 0);
    ASSERT_EQ(check(u, 3, pub_ok), ACL_OK);
    ASSERT_EQ(check(u, 3, pub_no), ACL_DENY_CHANNEL);
    ASSERT_EQ(check(u, 2, psub_exact), ACL_OK);
    ASSERT_EQ(check(u, 2, psub_other), ACL_DENY_CHANNEL); /* patterns must match literally */
    buf d;
    buf_init(&d);
    acl_user_describe(u, &d);
    buf_append(&d, "", 1);
    ASSERT_TRUE(strstr(buf_rptr(&d), "on #") == buf_rptr(&d));
    ASSERT_TRUE(strstr(buf_rptr(&d), " ~session:* %R~ro:* &news.* -@all +@read +set -keys"));
    /* The description is itself a rule list that rebuilds the same user. */
    acl_user *v = acl_user_create("app", 3);
    ASSERT_EQ(acl_user_apply_text(v, buf_rptr(&d), err, sizeof(err)), 0);
    ASSERT_EQ(check(v, 2, get_ok), ACL_OK);
    ASSERT_EQ(check(v, 2, keys), ACL_DENY_CMD);
    ASSERT_TRUE(acl_user_password_ok(v, "secret", 6));
    acl_user_destroy(v);
    buf_deinit(&d);
    acl_user_destroy(u);
}

TEST(acl_subcommands_and_categories)
{
    acl_user *u = acl_user_create("ops", 3);
    char err[256];
    ASSERT_EQ(
        acl_user_apply_text(u, "on nopass allkeys +config|get +@connection", err, sizeof(err)), 0);
    const char *cget[] = {"CONFIG", "GET", "x"};
    const char *cset[] = {"CONFIG", "SET", "x", "y"};
    const char *ping[] = {"PING"};
    ASSERT_EQ(check(u, 3, cget), ACL_OK);
    ASSERT_EQ(check(u, 4, cset), ACL_DENY_CMD);
    ASSERT_EQ(check(u, 1, ping), ACL_OK);
    ASSERT_TRUE(acl_user_password_ok(u, "anything", 8));
    ASSERT_EQ(acl_user_apply_text(u, "allcommands allchannels", err, sizeof(err)), 0);
    ASSERT_TRUE(u->unrestricted);
    ASSERT_EQ(acl_user_apply_text(u, "reset", err, sizeof(err)), 0);
    ASSERT_TRUE(!u->enabled && !u->unrestricted && !u->nopass);
    ASSERT_EQ(check(u, 1, ping), ACL_DENY_CMD);
    acl_user_destroy(u);
}

TEST(acl_bad_rules)
{
    acl_user *u = acl_user_create("x", 1);
    char err[256];
    ASSERT_EQ(acl_user_apply(u, "+nosuchcmd", 10, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(acl_user_apply(u, "+@nosuchcat", 11, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(acl_user_apply(u, "#abc", 4, err, sizeof(err)), -EINVAL);
    ASSERT_TRUE(strstr(err, "64 characters"));
    ASSERT_EQ(acl_user_apply(u, "<nope", 5, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(acl_user_apply(u, "(~x +get)", 9, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(acl_user_apply(u, "bogus", 5, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(acl_user_apply(u, "%X~a", 4, err, sizeof(err)), -EINVAL);
    ASSERT_EQ(acl_user_apply(u, "+get|sub", 8, err, sizeof(err)), -EINVAL);
    acl_user_destroy(u);
}

TEST(acl_tables_are_immutable)
{
    acl_table *t0 = acl_table_create();
    acl_table *t1 = acl_table_with(t0, acl_user_create_superuser("default"));
    acl_table *t2 = acl_table_with(t1, acl_user_create("a", 1));
    acl_table *t3 = acl_table_without(t2, "default", 7);
    ASSERT_EQ(t0->n, 0);
    ASSERT_EQ(t1->n, 1);
    ASSERT_EQ(t2->n, 2);
    ASSERT_EQ(t3->n, 1);
    ASSERT_TRUE(t3->version > t2->version && t2->version > t1->version);
    ASSERT_TRUE(acl_table_find(t2, "a", 1) != NULL);
    ASSERT_TRUE(acl_table_find(t3, "default", 7) == NULL);
    ASSERT_TRUE(acl_table_find(t1, "default", 7)->unrestricted);
    acl_table_destroy(t0);
    acl_table_destroy(t1);
    acl_table_destroy(t2);
    acl_table_destroy(t3);
}

static void collect(void *arg, const char *name, const char *value, size_t vlen)
{
    buf *b = arg;
    buf_appendf(b, "%s=%.*s;", name, (int)vlen, value);
}

TEST(store_round_trip)
{
    char dir[] = "/tmp/stratus-store-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char path[64], err[256];
    snprintf(path, sizeof(path), "%s/t.db", dir);
    store *st = store_open(path, err, sizeof(err));
    ASSERT_TRUE(st != NULL);
    ASSERT_EQ(store_put(st, "c1", "config", "b", "2", 1), 0);
    ASSERT_EQ(store_put(st, "c1", "config", "a", "1", 1), 0);
    ASSERT_EQ(store_put(st, "c1", "config", "a", "one", 3), 0);
    ASSERT_EQ(store_put(st, "c2", "config", "z", "9", 1), 0);
    store_close(st);
    st = store_open(path, err, sizeof(err)); /* survives a reopen */
    buf b;
    buf_init(&b);
    ASSERT_EQ(store_each(st, "c1", "config", collect, &b), 0);
    buf_append(&b, "", 1);
    ASSERT_TRUE(strcmp(buf_rptr(&b), "a=one;b=2;") == 0);
    ASSERT_EQ(store_put(st, "c1", "config", "a", NULL, 0), 0);
    ASSERT_EQ(store_clear(st, "c2", "config"), 0);
    buf_consume(&b, buf_used(&b));
    store_each(st, "c1", "config", collect, &b);
    store_each(st, "c2", "config", collect, &b);
    buf_append(&b, "", 1);
    ASSERT_TRUE(strcmp(buf_rptr(&b), "b=2;") == 0);
    buf_deinit(&b);
    store_close(st);
    char cmdline[128];
    snprintf(cmdline, sizeof(cmdline), "rm -rf %s", dir);
    ASSERT_EQ(system(cmdline), 0);
}
