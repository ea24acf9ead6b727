/* ACL rules, checks and descriptions (acl/acl.c), the ACL log (acl/acl_log.c) and the
 * durable store (control/store.c). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "acl/acl.h"
#include "acl/acl_log.h"
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
    ASSERT_TRUE(strstr(buf_rptr(&d), " ~session:* %R~ro:* resetchannels &news.* -@all +@read "
                                     "-keys +psubscribe +publish +set"));
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

/* The user built from rules, described as ACL LIST does. */
static void describe_rules(const char *rules, buf *out)
{
    acl_user *u = acl_user_create("x", 1);
    char err[256];
    if (acl_user_apply_text(u, rules, err, sizeof(err)) != 0)
        buf_appendf(out, "ERR %s", err);
    else
        acl_user_describe(u, out);
    buf_append(out, "", 1);
    acl_user_destroy(u);
}

#define ASSERT_DESCRIBES(rules, want)                                                              \
    do {                                                                                           \
        buf d_;                                                                                    \
        buf_init(&d_);                                                                             \
        describe_rules(rules, &d_);                                                                \
        char got_[1024];                                                                           \
        snprintf(got_, sizeof(got_), "%s", buf_rptr(&d_));                                         \
        buf_deinit(&d_);                                                                           \
        ASSERT_STR_EQ(got_, want);                                                                 \
    } while (0)

TEST(acl_describe_normalises_like_redis)
{
    /* Expected texts are Redis 7.0.15's (ACL LIST) with the single commands in table order. */
    ASSERT_DESCRIBES("", "off resetchannels -@all");
    ASSERT_DESCRIBES("reset", "off sanitize-payload resetchannels -@all");
    ASSERT_DESCRIBES("-@all +@set +@hash -@geo", "off resetchannels -@all +@set +@hash");
    ASSERT_DESCRIBES("+@all -@all +@all -get", "off resetchannels +@all -get");
    ASSERT_DESCRIBES("allcommands -@all", "off resetchannels -@all");
    ASSERT_DESCRIBES("+@all -@dangerous +info",
                     "off resetchannels +@all -@admin -flushall -flushdb -keys -migrate -restore "
                     "-restore-asking -sort -sort_ro -swapdb");
    ASSERT_DESCRIBES("-@all +client +acl -acl|log",
                     "off resetchannels -@all +acl -acl|log +client");
    ASSERT_DESCRIBES("+memory|doctor +memory", "off resetchannels -@all +memory");
    ASSERT_DESCRIBES("+@all -memory|doctor", "off resetchannels +@all -memory|doctor");
    ASSERT_DESCRIBES("+@all +client|id", "off resetchannels +@all");
    ASSERT_DESCRIBES("on nopass skip-sanitize-payload allkeys allchannels +@all",
                     "on nopass skip-sanitize-payload ~* &* +@all");
    ASSERT_DESCRIBES(">a >b %R~r:* %W~w:* ~rw:* %R~w:* &c1 &c2",
                     "off #ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb "
                     "#3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d %R~r:* "
                     "~w:* ~rw:* resetchannels &c1 &c2 -@all");
    ASSERT_DESCRIBES("%RW~* ~foo", "off ~* ~foo resetchannels -@all");
    ASSERT_DESCRIBES("%R", "off %R~ resetchannels -@all");
    ASSERT_DESCRIBES("~a ~* resetkeys ~b", "off ~b resetchannels -@all");
}

TEST(acl_describe_round_trips)
{
    /* The stored text applied to a new user gives the same user, described the same. */
    const char *const sets[] = {
        "-@all +@read -@fast",
        "+@all -@dangerous +info -config|set",
        "on nopass ~* &* +@all -@write +set +client|id -@scripting",
        "-@all +@slow +@fast -@admin +acl|whoami +debug",
        "+@all -@connection +ping +hello",
        "-@all +@stream +@pubsub -xadd +xgroup|create",
        "on >pw %R~r:* %RW~* ~w resetchannels &news skip-sanitize-payload",
        "sanitize-payload nopass allchannels %W~w:* %R~w:*",
    };
    for (size_t i = 0; i < ARRAY_LEN(sets); i++) {
        char err[256];
        acl_user *a = acl_user_create("a", 1);
        ASSERT_EQ(acl_user_apply_text(a, sets[i], err, sizeof(err)), 0);
        buf d;
        buf_init(&d);
        acl_user_describe_stored(a, &d);
        buf_append(&d, "", 1);
        acl_user *b = acl_user_create("b", 1);
        int rc = acl_user_apply_text(b, buf_rptr(&d), err, sizeof(err));
        int same = memcmp(a->cmds, b->cmds, sizeof(a->cmds)) == 0 && a->all_base == b->all_base;
        buf_consume(&d, buf_used(&d));
        acl_user_describe(a, &d);
        buf_append(&d, "", 1);
        buf e;
        buf_init(&e);
        acl_user_describe(b, &e);
        buf_append(&e, "", 1);
        int same_text = strcmp(buf_rptr(&d), buf_rptr(&e)) == 0;
        buf_deinit(&d);
        buf_deinit(&e);
        acl_user_destroy(a);
        acl_user_destroy(b);
        ASSERT_EQ(rc, 0);
        ASSERT_TRUE(same);
        ASSERT_TRUE(same_text);
    }
}

#define ASSERT_RULE_ERR(rule, want)                                                                \
    do {                                                                                           \
        acl_user *u_ = acl_user_create("x", 1);                                                    \
        char err_[256] = "";                                                                       \
        int rc_ = acl_user_apply_text(u_, rule, err_, sizeof(err_));                               \
        acl_user_destroy(u_);                                                                      \
        ASSERT_EQ(rc_, -EINVAL);                                                                   \
        ASSERT_TRUE(strstr(err_, want) == err_);                                                   \
    } while (0)

TEST(acl_setuser_errors_like_redis)
{
    ASSERT_RULE_ERR("~* ~foo", "Adding a pattern after the * pattern (or the 'allkeys' flag)");
    ASSERT_RULE_ERR("allkeys %R~foo", "Adding a pattern after the * pattern (or the 'allkeys'");
    ASSERT_RULE_ERR("&* &foo", "Adding a pattern after the * pattern (or the 'allchannels'");
    ASSERT_RULE_ERR("%~foo", "Syntax error");
    ASSERT_RULE_ERR("%", "Syntax error");
    ASSERT_RULE_ERR("%RR~a", "Syntax error");
    ASSERT_RULE_ERR("%RX~a", "Syntax error");
    ASSERT_RULE_ERR("~a\tb", "Syntax error");
    ASSERT_RULE_ERR("+", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("-@", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("+@nosuch", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("+config|", "Syntax error");
    ASSERT_RULE_ERR("-config|", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("+|get", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("+get|", "Syntax error");
    ASSERT_RULE_ERR("-get|x", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("-select|0", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("+select|0|1", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("+config|get|x", "Allowing first-arg of a subcommand is not supported");
    ASSERT_RULE_ERR("+config|nosuch", "Unknown command or category name in ACL");
    ASSERT_RULE_ERR("+select|0", "Stratus does not support allowing one first argument");
    ASSERT_RULE_ERR("#", "The password hash must be exactly 64 characters");
    ASSERT_RULE_ERR("!abc", "The password hash must be exactly 64 characters");
    ASSERT_RULE_ERR("<nope", "The password you are trying to remove from the user does not");
    ASSERT_RULE_ERR("foo", "Syntax error");
    ASSERT_RULE_ERR("(+get)", "selectors are not supported by Stratus");
    /* What Redis accepts. */
    acl_user *u = acl_user_create("x", 1);
    char err[256];
    ASSERT_EQ(acl_user_apply(u, "", 0, err, sizeof(err)), 0);
    ASSERT_EQ(acl_user_apply_text(u, "+@ALL -@Set +GET +config|GET ~ & > < ~* &* AllKeys ON", err,
                                  sizeof(err)),
              0);
    ASSERT_TRUE(u->enabled && u->allkeys && u->allchannels && u->npass == 0 && u->all_base);
    acl_user_destroy(u);
}

TEST(acl_check_names_the_refused_argument)
{
    acl_user *u = acl_user_create("x", 1);
    char err[256];
    ASSERT_EQ(acl_user_apply_text(u, "on +@all ~a:* &ch:*", err, sizeof(err)), 0);
    const char *mset[] = {"MSET", "a:1", "v", "b:2", "v"};
    const char *pub[] = {"PUBLISH", "other", "m"};
    const char *sub[] = {"SUBSCRIBE", "ch:1", "x", "y"};
    size_t lens[8];
    size_t pos = 99;
    for (size_t i = 0; i < 5; i++)
        lens[i] = strlen(mset[i]);
    ASSERT_EQ(acl_check_at(u, cmd_lookup("mset", 4), 5, mset, lens, &pos), ACL_DENY_KEY);
    ASSERT_EQ(pos, 3);
    for (size_t i = 0; i < 3; i++)
        lens[i] = strlen(pub[i]);
    ASSERT_EQ(acl_check_at(u, cmd_lookup("publish", 7), 3, pub, lens, &pos), ACL_DENY_CHANNEL);
    ASSERT_EQ(pos, 1);
    for (size_t i = 0; i < 4; i++)
        lens[i] = strlen(sub[i]);
    ASSERT_EQ(acl_check_at(u, cmd_lookup("subscribe", 9), 4, sub, lens, &pos), ACL_DENY_CHANNEL);
    ASSERT_EQ(pos, 2);
    char msg[200];
    const cmd_def *ck = cmd_lookup_sub(cmd_lookup("client", 6), "kill", 4);
    acl_deny_message(ACL_DENY_CMD, ck, msg, sizeof(msg));
    ASSERT_STR_EQ(msg, "NOPERM this user has no permissions to run the 'client|kill' command");
    acl_user_destroy(u);
}

/* ---- ACL LOG (acl/acl_log.c) ---- */

static void log_cmd(acl_log *l, uint64_t ms, const char *object, const char *user)
{
    acl_log_add_at(l, ms, ACL_LOG_COMMAND, ACL_LOG_TOPLEVEL, object, strlen(object), user,
                   "id=1 addr=x user=u");
}

TEST(acl_log_groups_similar_entries)
{
    acl_log *l = acl_log_create(ACL_LOG_MAX_LEN_DEFAULT);
    log_cmd(l, 1000, "get", "u");
    log_cmd(l, 2000, "get", "u");
    log_cmd(l, 3000, "set", "u");
    log_cmd(l, 4000, "get", "u"); /* moves to the front, count 3 */
    acl_log_add_at(l, 5000, ACL_LOG_COMMAND, ACL_LOG_MULTI, "get", 3, "u", "new");
    log_cmd(l, 6000, "get", "v");
    size_t n;
    acl_log_entry *e = acl_log_copy(l, 100, &n);
    ASSERT_EQ(n, 4);
    ASSERT_STR_EQ(e[0].username, "v");
    ASSERT_EQ(e[1].context, ACL_LOG_MULTI);
    ASSERT_STR_EQ(e[1].client_info, "new");
    ASSERT_STR_EQ(e[2].object, "get");
    ASSERT_EQ(e[2].count, 3);
    ASSERT_EQ(e[2].ms, 4000);
    ASSERT_STR_EQ(e[3].object, "set");
    ASSERT_EQ(e[3].count, 1);
    acl_log_copy_free(e, n);
    /* More than a minute later: a new entry. */
    log_cmd(l, 4000 + ACL_LOG_GROUP_MS + 1, "get", "u");
    e = acl_log_copy(l, 1, &n);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(e[0].count, 1);
    acl_log_copy_free(e, n);
    /* Binary objects (keys) are kept whole. */
    acl_log_add_at(l, 9000, ACL_LOG_KEY, ACL_LOG_TOPLEVEL, "a\0b", 3, "u", NULL);
    acl_log_add_at(l, 9001, ACL_LOG_KEY, ACL_LOG_TOPLEVEL, "a\0c", 3, "u", NULL);
    e = acl_log_copy(l, 2, &n);
    ASSERT_EQ(n, 2);
    ASSERT_MEM_EQ(e[0].object, e[0].object_len, "a\0c", 3);
    ASSERT_MEM_EQ(e[1].object, e[1].object_len, "a\0b", 3);
    ASSERT_STR_EQ(e[0].client_info, "");
    ASSERT_STR_EQ(acl_log_reason_name(e[0].reason), "key");
    ASSERT_STR_EQ(acl_log_context_name(e[0].context), "toplevel");
    acl_log_copy_free(e, n);
    acl_log_destroy(l);
}

TEST(acl_log_scans_ten_entries_for_a_match)
{
    /* As Redis: only the ten newest entries are looked at for grouping. */
    acl_log *l = acl_log_create(ACL_LOG_MAX_LEN_DEFAULT);
    log_cmd(l, 1, "old", "u");
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        log_cmd(l, 2, name, "u");
    }
    log_cmd(l, 3, "old", "u");
    size_t n;
    acl_log_entry *e = acl_log_copy(l, 100, &n);
    ASSERT_EQ(n, 12);
    ASSERT_EQ(e[0].count, 1);
    ASSERT_STR_EQ(e[11].object, "old");
    acl_log_copy_free(e, n);
    log_cmd(l, 4, "k0", "u"); /* the 11th newest: not grouped */
    log_cmd(l, 5, "k5", "u"); /* within the ten: grouped */
    e = acl_log_copy(l, 100, &n);
    ASSERT_EQ(n, 13);
    ASSERT_STR_EQ(e[0].object, "k5");
    ASSERT_EQ(e[0].count, 2);
    ASSERT_STR_EQ(e[1].object, "k0");
    ASSERT_EQ(e[1].count, 1);
    acl_log_copy_free(e, n);
    acl_log_destroy(l);
}

TEST(acl_log_max_len_reset_and_count)
{
    acl_log *l = acl_log_create(5);
    char name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "obj:%d", i);
        acl_log_add_at(l, 100, ACL_LOG_KEY, ACL_LOG_TOPLEVEL, name, strlen(name), "u", "c");
    }
    size_t n;
    acl_log_entry *e = acl_log_copy(l, 100, &n);
    ASSERT_EQ(n, 5);
    ASSERT_STR_EQ(e[0].object, "obj:9");
    ASSERT_STR_EQ(e[4].object, "obj:5");
    acl_log_copy_free(e, n);
    e = acl_log_copy(l, 2, &n); /* ACL LOG 2 */
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(e[1].object, "obj:8");
    acl_log_copy_free(e, n);
    e = acl_log_copy(l, 0, &n);
    ASSERT_EQ(n, 0);
    acl_log_copy_free(e, n);
    acl_log_set_max_len(l, 2);
    e = acl_log_copy(l, 100, &n);
    ASSERT_EQ(n, 2);
    acl_log_copy_free(e, n);
    acl_log_set_max_len(l, 0); /* acllog-max-len 0: nothing is kept */
    log_cmd(l, 200, "get", "u");
    e = acl_log_copy(l, 100, &n);
    ASSERT_EQ(n, 0);
    acl_log_copy_free(e, n);
    acl_log_set_max_len(l, 128);
    log_cmd(l, 300, "get", "u");
    acl_log_reset(l);
    e = acl_log_copy(l, 100, &n);
    ASSERT_EQ(n, 0);
    acl_log_copy_free(e, n);
    acl_log_destroy(l);
}

static void *log_from_thread(void *arg)
{
    acl_log *l = arg;
    char name[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "k%d", i % 7);
        acl_log_add(l, ACL_LOG_KEY, ACL_LOG_LUA, name, strlen(name), "u", "c");
    }
    return NULL;
}

TEST(acl_log_is_shared_by_threads)
{
    acl_log *l = acl_log_create(ACL_LOG_MAX_LEN_DEFAULT);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, log_from_thread, l);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    size_t n;
    acl_log_entry *e = acl_log_copy(l, 100, &n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += e[i].count;
    ASSERT_EQ(n, 7); /* every event within a minute, one entry per key */
    ASSERT_EQ(total, 8000);
    acl_log_copy_free(e, n);
    acl_log_destroy(l);
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
