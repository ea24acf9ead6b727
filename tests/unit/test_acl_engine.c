/* The engine identity of a cache user (acl/acl_engine.c): the ACL SETUSER the engines get. */
#include <string.h>

#include "common/alloc.h"
#include "acl/acl.h"
#include "acl/acl_engine.h"
#include "proto/resp.h"
#include "test.h"

static const char hash[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* The words of the ACL SETUSER made for a user with these rules, in out (NUL-separated, each
 * followed by a space for strstr) and the parsed value's word count. */
static size_t engine_words(const char *rules, buf *out)
{
    acl_user *u = acl_user_create("app", 3);
    char err[128];
    if (acl_user_apply_text(u, rules, err, sizeof(err)) != 0) {
        acl_user_destroy(u);
        return 0;
    }
    buf cmd;
    buf_init(&cmd);
    acl_engine_setuser(u, hash, &cmd);
    acl_user_destroy(u);
    resp_value *v = NULL;
    size_t used, n = 0;
    if (resp_value_parse(buf_rptr(&cmd), buf_used(&cmd), &v, &used) == RESP_DONE &&
        v->type == RESP_T_ARRAY) {
        buf_append(out, " ", 1);
        for (size_t i = 0; i < v->nelem; i++) {
            buf_append(out, v->elem[i].str, v->elem[i].len);
            buf_append(out, " ", 1);
        }
        buf_append(out, "", 1);
        n = v->nelem;
    }
    resp_value_free(v);
    buf_deinit(&cmd);
    return n;
}

static int has_word(const buf *b, const char *w)
{
    char pat[128];
    snprintf(pat, sizeof(pat), " %s ", w);
    return strstr(buf_rptr(b), pat) != NULL;
}

TEST(acl_engine_user_keeps_keys_channels_and_password)
{
    buf w;
    buf_init(&w);
    ASSERT_TRUE(engine_words("on >pw ~app:* %R~ro:* %W~wo:* &app:* +@all -@dangerous", &w) > 0);
    ASSERT_TRUE(strncmp(buf_rptr(&w), " ACL SETUSER u:app reset on #", 29) == 0);
    ASSERT_TRUE(has_word(&w, "~app:*"));
    ASSERT_TRUE(has_word(&w, "%R~ro:*"));
    ASSERT_TRUE(has_word(&w, "%W~wo:*"));
    ASSERT_TRUE(has_word(&w, "&app:*"));
    ASSERT_TRUE(!has_word(&w, "~*"));
    ASSERT_TRUE(!has_word(&w, "&*"));
    /* The client's password never reaches the engines: only the link password's hash. */
    ASSERT_TRUE(!has_word(&w, ">pw"));
    char h[80];
    snprintf(h, sizeof(h), "#%s", hash);
    ASSERT_TRUE(has_word(&w, h));
    buf_deinit(&w);
}

TEST(acl_engine_user_commands_follow_the_bitmap)
{
    buf w;
    buf_init(&w);
    ASSERT_TRUE(engine_words("on ~app:* +@all -@dangerous", &w) > 0);
    /* More allowed than not: +@all, then what is taken away. */
    ASSERT_TRUE(has_word(&w, "+@all"));
    ASSERT_TRUE(has_word(&w, "-flushall"));
    ASSERT_TRUE(has_word(&w, "-keys"));
    ASSERT_TRUE(!has_word(&w, "-get"));
    /* What would show the engines is taken from every identity, even one allowed it. */
    ASSERT_TRUE(has_word(&w, "-info"));
    ASSERT_TRUE(has_word(&w, "-cluster|nodes"));
    ASSERT_TRUE(has_word(&w, "-cluster|slots"));
    ASSERT_TRUE(has_word(&w, "-role"));
    ASSERT_TRUE(has_word(&w, "-slowlog|get"));
    ASSERT_TRUE(has_word(&w, "-client|list"));
    /* Cluster commands that only compute or count stay the user's. */
    ASSERT_TRUE(!has_word(&w, "-cluster|keyslot"));
    ASSERT_TRUE(!has_word(&w, "-cluster|countkeysinslot"));
    /* The endpoint's own commands are not the engines'. */
    ASSERT_TRUE(strstr(buf_rptr(&w), "stratus") == NULL);
    buf_deinit(&w);

    buf_init(&w);
    ASSERT_TRUE(engine_words("on ~* -@all +get +set +eval", &w) > 0);
    /* Fewer allowed: -@all, then what is given, the link's own commands included. */
    ASSERT_TRUE(has_word(&w, "-@all"));
    ASSERT_TRUE(has_word(&w, "+get"));
    ASSERT_TRUE(has_word(&w, "+set"));
    ASSERT_TRUE(has_word(&w, "+eval"));
    ASSERT_TRUE(has_word(&w, "+asking"));
    ASSERT_TRUE(has_word(&w, "+readonly"));
    ASSERT_TRUE(has_word(&w, "+client|id"));
    ASSERT_TRUE(has_word(&w, "+wait"));
    ASSERT_TRUE(has_word(&w, "+unwatch"));
    ASSERT_TRUE(!has_word(&w, "+del"));
    ASSERT_TRUE(!has_word(&w, "+evalsha"));
    ASSERT_TRUE(!has_word(&w, "+script|load"));
    buf_deinit(&w);

    buf_init(&w);
    ASSERT_TRUE(engine_words("on ~* -@all +evalsha", &w) > 0);
    ASSERT_TRUE(has_word(&w, "+evalsha"));
    ASSERT_TRUE(has_word(&w, "+script|load")); /* a NOSCRIPT is repaired on its own link */
    ASSERT_TRUE(!has_word(&w, "+eval"));
    buf_deinit(&w);
}

TEST(acl_engine_user_all_keys_and_channels)
{
    buf w;
    buf_init(&w);
    ASSERT_TRUE(engine_words("on nopass allkeys allchannels +@all", &w) > 0);
    ASSERT_TRUE(has_word(&w, "~*"));
    ASSERT_TRUE(has_word(&w, "&*"));
    ASSERT_TRUE(!has_word(&w, "nopass"));
    buf_deinit(&w);
}

TEST(acl_engine_overrides)
{
    acl_user *u = acl_user_create("x", 1);
    const cmd_def *info = cmd_lookup("info", 4), *get = cmd_lookup("get", 3);
    const cmd_def *asking = cmd_lookup("asking", 6), *migrate = cmd_lookup("migrate", 7);
    ASSERT_EQ(acl_engine_override(info->id, u), 0);
    ASSERT_EQ(acl_engine_override(migrate->id, u), 0);
    ASSERT_EQ(acl_engine_override(asking->id, u), 1);
    ASSERT_EQ(acl_engine_override(get->id, u), -1);
    const cmd_def *client = cmd_lookup("client", 6);
    ASSERT_EQ(acl_engine_override(cmd_lookup_sub(client, "help", 4)->id, u), -1);
    ASSERT_EQ(acl_engine_override(cmd_lookup_sub(client, "kill", 4)->id, u), 0);
    acl_user_destroy(u);
}

TEST(acl_engine_endpoint_rules_run_no_code)
{
    buf r;
    buf_init(&r);
    acl_engine_endpoint_rules("secret", &r);
    buf_append(&r, "", 1);
    ASSERT_TRUE(strstr(buf_rptr(&r), ">secret") != NULL);
    ASSERT_TRUE(strstr(buf_rptr(&r), "-@scripting") != NULL);
    ASSERT_TRUE(strstr(buf_rptr(&r), "-migrate") != NULL);
    buf_deinit(&r);
}

TEST(acl_engine_user_containers_and_their_subcommands)
{
    buf w;
    buf_init(&w);
    ASSERT_TRUE(engine_words("on ~* -@all +command|count", &w) > 0);
    ASSERT_TRUE(has_word(&w, "+command|count"));
    ASSERT_TRUE(!has_word(&w, "+command"));
    buf_deinit(&w);
    buf_init(&w);
    ASSERT_TRUE(engine_words("on ~* -@all +command -command|docs", &w) > 0);
    /* The container's rule sets every subcommand; the one taken away follows it. */
    ASSERT_TRUE(has_word(&w, "+command"));
    ASSERT_TRUE(has_word(&w, "-command|docs"));
    ASSERT_TRUE(!has_word(&w, "+command|count"));
    buf_deinit(&w);
}

TEST(acl_engine_endpoint_setuser_is_its_rules)
{
    buf cmd, rules;
    buf_init(&cmd);
    buf_init(&rules);
    acl_engine_endpoint_setuser("secret", &cmd);
    acl_engine_endpoint_rules("secret", &rules);
    resp_value *v = NULL;
    size_t used, nrules = 1;
    for (size_t i = 0; i < buf_used(&rules); i++)
        nrules += buf_rptr(&rules)[i] == ' ';
    ASSERT_TRUE(resp_value_parse(buf_rptr(&cmd), buf_used(&cmd), &v, &used) == RESP_DONE);
    /* ACL SETUSER stratus-proxy reset, then every word of the rules, in order. */
    ASSERT_EQ(v->nelem, 4 + nrules);
    ASSERT_MEM_EQ(v->elem[2].str, v->elem[2].len, "stratus-proxy", 13);
    ASSERT_MEM_EQ(v->elem[4].str, v->elem[4].len, "on", 2);
    ASSERT_MEM_EQ(v->elem[5].str, v->elem[5].len, ">secret", 7);
    ASSERT_MEM_EQ(v->elem[v->nelem - 1].str, v->elem[v->nelem - 1].len, "-bgrewriteaof", 13);
    resp_value_free(v);
    buf_deinit(&cmd);
    buf_deinit(&rules);
}

TEST(acl_engine_user_read_write_star_pattern_stays_a_pattern)
{
    buf w;
    buf_init(&w);
    /* "~*" would be allkeys on the engine, which refuses any pattern after it. */
    ASSERT_TRUE(engine_words("on %RW~* ~app:* +get", &w) > 0);
    ASSERT_TRUE(has_word(&w, "%RW~*"));
    ASSERT_TRUE(has_word(&w, "~app:*"));
    ASSERT_TRUE(!has_word(&w, "~*"));
    buf_deinit(&w);
}
