/* Command table and key extraction: lookups, arity, routing decisions and Redis 7 key specs. */
#include <errno.h>
#include <string.h>

#include "proto/cmdtable.h"
#include "test.h"

/* Split a space-separated command line into argv/lens (test helper; no quoting). */
typedef struct {
    char store[1024];
    const char *argv[64];
    size_t lens[64];
    size_t argc;
} cmdline;

static void split(cmdline *c, const char *line)
{
    snprintf(c->store, sizeof(c->store), "%s", line);
    c->argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(c->store, " ", &save); t && c->argc < 64;
         t = strtok_r(NULL, " ", &save)) {
        c->argv[c->argc] = t;
        c->lens[c->argc] = strlen(t);
        c->argc++;
    }
}

/* Keys of a command line as "k1,k2"; "!EINVAL" or "!E2BIG" on errors. */
static void keys_of(const char *line, char *out, size_t outlen)
{
    cmdline c;
    split(&c, line);
    const cmd_def *d = cmd_lookup(c.argv[0], c.lens[0]);
    if (d && d->route == ROUTE_PARENT)
        d = cmd_lookup_sub(d, c.argv[1], c.lens[1]);
    if (!d) {
        snprintf(out, outlen, "!unknown");
        return;
    }
    uint32_t keys[16];
    int n = cmd_get_keys(d, c.argc, c.argv, c.lens, keys, 16);
    if (n < 0) {
        snprintf(out, outlen, "%s", n == -EINVAL ? "!EINVAL" : "!E2BIG");
        return;
    }
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? "," : "", c.argv[keys[i]]);
}

#define ASSERT_KEYS(line, expected)                                                                \
    do {                                                                                           \
        char got_[256];                                                                            \
        keys_of(line, got_, sizeof(got_));                                                         \
        ASSERT_STR_EQ(got_, expected);                                                             \
    } while (0)

TEST(cmd_lookup_is_case_insensitive)
{
    ASSERT_TRUE(cmd_lookup("GET", 3) != NULL);
    ASSERT_TRUE(cmd_lookup("get", 3) == cmd_lookup("GeT", 3));
    ASSERT_TRUE(cmd_lookup("nosuchcommand", 13) == NULL);
    ASSERT_TRUE(cmd_lookup("", 0) == NULL);
    ASSERT_TRUE(cmd_lookup("ge", 2) == NULL);
    const cmd_def *cl = cmd_lookup("cluster", 7);
    ASSERT_EQ(cl->route, ROUTE_PARENT);
    const cmd_def *slots = cmd_lookup_sub(cl, "SLOTS", 5);
    ASSERT_TRUE(slots != NULL);
    ASSERT_EQ(slots->local, LOCAL_CLUSTER_SLOTS);
    ASSERT_TRUE(cmd_lookup_sub(cl, "slot", 4) == NULL);
}

TEST(cmd_every_table_entry_is_consistent)
{
    for (size_t i = 0; i < cmd_table_len; i++) {
        const cmd_def *d = &cmd_table[i];
        ASSERT_TRUE(cmd_lookup(d->name, strlen(d->name)) == d);
        ASSERT_TRUE(d->route != ROUTE_LOCAL || d->local != LOCAL_NONE);
        ASSERT_TRUE((d->route != ROUTE_REFUSED && d->route != ROUTE_LATER) || d->reason);
        ASSERT_TRUE(d->route != ROUTE_PARENT || d->nsubs > 0);
        for (uint16_t j = 0; j < d->nsubs; j++) {
            const cmd_def *s = &d->subs[j];
            ASSERT_TRUE(cmd_lookup_sub(d, s->sub, strlen(s->sub)) == s);
            ASSERT_TRUE(s->route != ROUTE_LOCAL || s->local != LOCAL_NONE);
        }
    }
    ASSERT_TRUE(cmd_table_len >= 200);
}

TEST(cmd_arity)
{
    const cmd_def *get = cmd_lookup("get", 3), *mset = cmd_lookup("mset", 4);
    ASSERT_TRUE(cmd_arity_ok(get, 2));
    ASSERT_TRUE(!cmd_arity_ok(get, 1));
    ASSERT_TRUE(!cmd_arity_ok(get, 3));
    ASSERT_TRUE(!cmd_arity_ok(mset, 2));
    ASSERT_TRUE(cmd_arity_ok(mset, 3));
    ASSERT_TRUE(cmd_arity_ok(mset, 5));
}

TEST(cmd_routes)
{
    ASSERT_EQ(cmd_lookup("get", 3)->route, ROUTE_KEYS);
    ASSERT_EQ(cmd_lookup("mget", 4)->route, ROUTE_SPLIT);
    ASSERT_EQ(cmd_lookup("mget", 4)->merge, MERGE_MGET);
    ASSERT_EQ(cmd_lookup("del", 3)->merge, MERGE_SUM);
    ASSERT_EQ(cmd_lookup("mset", 4)->merge, MERGE_ALL_OK);
    ASSERT_EQ(cmd_lookup("dbsize", 6)->route, ROUTE_ALL);
    ASSERT_EQ(cmd_lookup("flushall", 8)->route, ROUTE_ALL);
    ASSERT_EQ(cmd_lookup("auth", 4)->local, LOCAL_AUTH);
    ASSERT_TRUE(cmd_lookup("auth", 4)->flags & CMD_F_NOAUTH);
    ASSERT_TRUE(cmd_lookup("hello", 5)->flags & CMD_F_NOAUTH);
    ASSERT_TRUE(!(cmd_lookup("get", 3)->flags & CMD_F_NOAUTH));
    ASSERT_EQ(cmd_lookup("shutdown", 8)->route, ROUTE_REFUSED);
    ASSERT_EQ(cmd_lookup("blpop", 5)->route, ROUTE_KEYS);
    ASSERT_EQ(cmd_lookup("wait", 4)->local, LOCAL_WAIT);
    ASSERT_EQ(cmd_lookup_sub(cmd_lookup("config", 6), "set", 3)->local, LOCAL_CONFIG_SET);
    ASSERT_EQ(cmd_lookup_sub(cmd_lookup("pubsub", 6), "shardnumsub", 11)->merge, MERGE_NUMSUB);
    ASSERT_EQ(cmd_lookup("time", 4)->route, ROUTE_ANY);
    const cmd_def *cl = cmd_lookup("cluster", 7);
    ASSERT_EQ(cmd_lookup_sub(cl, "setslot", 7)->route, ROUTE_REFUSED);
    ASSERT_EQ(cmd_lookup_sub(cl, "countkeysinslot", 15)->route, ROUTE_SLOT_ARG);
}

TEST(cmd_keys_single_and_ranges)
{
    ASSERT_KEYS("get k", "k");
    ASSERT_KEYS("set k v EX 10", "k");
    ASSERT_KEYS("mset a 1 b 2 c 3", "a,b,c");
    ASSERT_KEYS("mget a b c", "a,b,c");
    ASSERT_KEYS("del a b", "a,b");
    ASSERT_KEYS("rename a b", "a,b");
    ASSERT_KEYS("lmove src dst LEFT RIGHT", "src,dst");
    ASSERT_KEYS("smove src dst m", "src,dst");
    ASSERT_KEYS("hset h f v f2 v2", "h");
    ASSERT_KEYS("object encoding k", "k");
    ASSERT_KEYS("ping", "");
}

TEST(cmd_keys_numkeys)
{
    ASSERT_KEYS("zunionstore dst 2 a b WEIGHTS 1 2", "dst,a,b");
    ASSERT_KEYS("eval script 2 k1 k2 a1", "k1,k2");
    ASSERT_KEYS("eval script 0 a1", "");
    ASSERT_KEYS("lmpop 2 a b LEFT", "a,b");
    ASSERT_KEYS("sintercard 2 a b LIMIT 1", "a,b");
    ASSERT_KEYS("zunionstore dst x a", "!EINVAL");
    ASSERT_KEYS("zunionstore dst -1 a", "!EINVAL");
    ASSERT_KEYS("eval script 5 k1", "!EINVAL");
}

TEST(cmd_keys_keyword)
{
    ASSERT_KEYS("xread COUNT 2 STREAMS s1 s2 0 0", "s1,s2");
    ASSERT_KEYS("xreadgroup GROUP g c STREAMS s1 >", "s1");
    ASSERT_KEYS("georadius g 0 0 10 km STORE dst", "g,dst");
    ASSERT_KEYS("georadius g 0 0 10 km", "g");
}

TEST(cmd_keys_too_many)
{
    cmdline c;
    split(&c, "mget a b c d");
    uint32_t keys[2];
    const cmd_def *d = cmd_lookup("mget", 4);
    ASSERT_EQ(cmd_get_keys(d, c.argc, c.argv, c.lens, keys, 2), -E2BIG);
}

TEST(cmd_blocks)
{
    cmdline c;
    const cmd_def *xread = cmd_lookup("xread", 5);
    split(&c, "xread BLOCK 0 STREAMS s 0");
    ASSERT_TRUE(cmd_blocks(xread, c.argc, c.argv, c.lens));
    split(&c, "xread COUNT 1 STREAMS block 0");
    ASSERT_TRUE(!cmd_blocks(xread, c.argc, c.argv, c.lens));
    split(&c, "blpop q 0");
    ASSERT_TRUE(cmd_blocks(cmd_lookup("blpop", 5), c.argc, c.argv, c.lens));
    split(&c, "get block");
    ASSERT_TRUE(!cmd_blocks(cmd_lookup("get", 3), c.argc, c.argv, c.lens));
}

TEST(cmd_block_timeout_arg)
{
    cmdline c;
    int ms;
    split(&c, "BLPOP a b 2.5");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), 3);
    ASSERT_EQ(ms, 0);
    split(&c, "blmove a b LEFT RIGHT 1");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), 5);
    split(&c, "BZMPOP 0.5 2 a b MIN");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), 1);
    split(&c, "XREADGROUP GROUP g c COUNT 1 BLOCK 2000 STREAMS s >");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), 7);
    ASSERT_EQ(ms, 1);
    /* "block" after STREAMS is a key, and a trailing BLOCK has no value. */
    split(&c, "XREAD STREAMS block 0");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), -1);
    split(&c, "XREAD COUNT 1 BLOCK");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), -1);
    split(&c, "GET k");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), -1);
    split(&c, "BLPOP");
    ASSERT_EQ(cmd_block_timeout_arg(c.argc, c.argv, c.lens, &ms), -1);
}

TEST(cmdtable_names_with_nul_bytes_are_unknown)
{
    /* Found by fuzz_cmd_keys: a name with a NUL matched the command before the NUL, and the
     * comparison read past the table's string. */
    ASSERT_TRUE(cmd_lookup("GET\0xxxxxxxxxxxxxx", 18) == NULL);
    ASSERT_TRUE(cmd_lookup("GEORADIUS\0\0\0\0\0\0\0\0\0\0\0\0", 21) == NULL);
    ASSERT_TRUE(cmd_lookup("GET", 3) != NULL);
    const cmd_def *client = cmd_lookup("CLIENT", 6);
    ASSERT_TRUE(client != NULL);
    ASSERT_TRUE(cmd_lookup_sub(client, "KILL\0xxxxxxxxxxxxxxxxxxx", 24) == NULL);
    ASSERT_TRUE(cmd_lookup_sub(client, "kill", 4) != NULL);
}

/* Keys with their ACL access of a command line as "k1:rw,k2:w". */
static void access_of(const char *line, char *out, size_t outlen)
{
    cmdline c;
    split(&c, line);
    const cmd_def *d = cmd_lookup(c.argv[0], c.lens[0]);
    uint32_t keys[16];
    uint8_t acc[16];
    int n = cmd_get_keys_access(d, c.argc, c.argv, c.lens, keys, acc, 16);
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < n && at < outlen; i++)
        at += (size_t)snprintf(out + at, outlen - at, "%s%.*s:%s%s", i ? "," : "",
                               (int)c.lens[keys[i]], c.argv[keys[i]],
                               acc[i] & KS_ACC_READ ? "r" : "", acc[i] & KS_ACC_WRITE ? "w" : "");
}

TEST(cmdtable_keys_whose_access_depends_on_arguments)
{
    char got[256];
    /* As Redis 7.0's getkeys procs: SET needs read access only with GET. */
    access_of("SET k v", got, sizeof(got));
    ASSERT_STR_EQ(got, "k:w");
    access_of("SET k v EX 10 GET", got, sizeof(got));
    ASSERT_STR_EQ(got, "k:rw");
    access_of("SET k v get", got, sizeof(got));
    ASSERT_STR_EQ(got, "k:rw");
    /* BITFIELD with only GETs reads; a SET or INCRBY (or anything it cannot parse) writes. */
    access_of("BITFIELD k GET u8 0 GET u4 8", got, sizeof(got));
    ASSERT_STR_EQ(got, "k:r");
    access_of("BITFIELD k GET u8 0 INCRBY u8 0 1", got, sizeof(got));
    ASSERT_STR_EQ(got, "k:rw");
    access_of("BITFIELD k OVERFLOW SAT GET u8 0", got, sizeof(got));
    ASSERT_STR_EQ(got, "k:r");
    /* SORT's STORE key (the last STORE), after LIMIT/GET/BY arguments are skipped. */
    access_of("SORT src", got, sizeof(got));
    ASSERT_STR_EQ(got, "src:r");
    access_of("SORT src BY w_* LIMIT 0 10 GET # STORE dst", got, sizeof(got));
    ASSERT_STR_EQ(got, "src:r,dst:w");
    access_of("SORT src GET store STORE a STORE b", got, sizeof(got));
    ASSERT_STR_EQ(got, "src:r,b:w");
    access_of("SORT_RO src BY w_* STORE x", got, sizeof(got));
    ASSERT_STR_EQ(got, "src:r");
}
