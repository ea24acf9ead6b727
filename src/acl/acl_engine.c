/* The engine identity of each cache user (see acl_engine.h): which commands it loses and gains,
 * and the ACL SETUSER that creates it. Pure functions over the command table and a user. */
#define ALLOC_ROOM ROOM_ACL
#include "acl/acl_engine.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "proto/resp.h"

/* Commands whose engine reply shows what the endpoint hides: engine addresses, node ids, pids,
 * ports, socket paths, the engines' own clients and users. The endpoint answers these itself,
 * so no client (and no client's script) runs them on an engine. */
static const char *const hidden[] = {
    "info",           "role",           "slowlog|get",  "cluster|info",  "cluster|nodes",
    "cluster|slots",  "cluster|shards", "cluster|myid", "cluster|links", "cluster|replicas",
    "cluster|slaves", "config|get",     "config|set",
};

/* What the endpoint sends on a user's link for itself: a redirection's ASKING, the READONLY of
 * every link (reads from replicas), the CLIENT ID of a private link (CLIENT UNBLOCK names it),
 * the UNWATCH after DISCARD, and the WAIT 1 behind each write with --durability sync. */
static const char *const mechanics[] = {"asking", "readonly", "client|id", "unwatch", "wait"};

static int named(const cmd_def *d, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(d->name, names[i]) == 0)
            return 1;
    return 0;
}

static int may_run_evalsha(const acl_user *u)
{
    const cmd_def *a = cmd_lookup("evalsha", 7), *b = cmd_lookup("evalsha_ro", 10);
    return (a && acl_user_may(u, a->id)) || (b && acl_user_may(u, b->id));
}

/* STRATUS and its subcommands are the endpoint's own: the engines do not know them. */
static int endpoint_own(const cmd_def *d)
{
    return strncmp(d->name, "stratus", 7) == 0 && (d->name[7] == '|' || d->name[7] == '\0');
}

/* A command or subcommand the engines have that runs (not a pure container). */
static const cmd_def *leaf_by_id(unsigned id)
{
    const cmd_def *d = cmd_by_id((uint16_t)id);
    if (!d || d->route == ROUTE_PARENT || endpoint_own(d))
        return NULL;
    return d;
}

int acl_engine_override(unsigned id, const acl_user *u)
{
    const cmd_def *d = leaf_by_id(id);
    if (!d)
        return -1;
    if (named(d, mechanics, ARRAY_LEN(mechanics)))
        return 1;
    if (strcmp(d->name, "script|load") == 0 && may_run_evalsha(u))
        return 1; /* NOSCRIPT is repaired on the user's own link: SCRIPT LOAD, then EVALSHA */
    if (d->route == ROUTE_REFUSED || d->route == ROUTE_LATER || named(d, hidden, ARRAY_LEN(hidden)))
        return 0;
    /* CLIENT and ACL are the endpoint's own (its clients, its users); their HELP is the
     * engine's text, and CLIENT PAUSE queued in a transaction runs on its engine too (its
     * user's right, checked by the endpoint as well; no script may call it). */
    if ((strncmp(d->name, "client|", 7) == 0 || strncmp(d->name, "acl|", 4) == 0) && d->sub &&
        strcmp(d->sub, "help") != 0 && strcmp(d->name, "client|pause") != 0)
        return 0;
    return -1;
}

/* Whether u's engine identity may run command id. */
static int wanted(unsigned id, const acl_user *u)
{
    int o = acl_engine_override(id, u);
    return o == 1 || (o == -1 && acl_user_may(u, id));
}

void acl_engine_user_name(const char *name, size_t len, buf *out)
{
    buf_append(out, ACL_ENGINE_PREFIX, sizeof(ACL_ENGINE_PREFIX) - 1);
    buf_append(out, name, len);
}

/* Words of an ACL SETUSER, kept as one text with NUL separators (patterns may hold any byte
 * but a space, as Redis's own rule parser requires). */
typedef struct {
    buf text;
    size_t n;
} words;

static void word(words *w, const char *p, size_t n)
{
    buf_append(&w->text, p, n);
    buf_append(&w->text, "", 1);
    w->n++;
}

static void wordf(words *w, const char *prefix, const char *s)
{
    buf_append(&w->text, prefix, strlen(prefix));
    word(w, s, strlen(s));
}

/* Append the words as one RESP command to cmds, and free them. */
static void words_command(words *w, buf *cmds)
{
    const char **argv = xmalloc((w->n + 1) * sizeof(char *));
    size_t *lens = xmalloc((w->n + 1) * sizeof(size_t));
    const char *p = buf_rptr(&w->text);
    for (size_t i = 0; i < w->n; i++) {
        argv[i] = p;
        lens[i] = strlen(p);
        p += lens[i] + 1;
    }
    resp_add_command(cmds, w->n, argv, lens);
    xfree(argv);
    xfree(lens);
    buf_deinit(&w->text);
}

void acl_engine_setuser(const acl_user *u, const char *pass_hash, buf *cmds)
{
    words w = {.n = 0};
    buf_init(&w.text);
    word(&w, "ACL", 3);
    word(&w, "SETUSER", 7);
    buf name;
    buf_init(&name);
    acl_engine_user_name(u->name, strlen(u->name), &name);
    word(&w, buf_rptr(&name), buf_used(&name));
    buf_deinit(&name);
    /* Always on: whether the client may log in is the endpoint's check (AUTH); the engine user
     * is only ever reached with the endpoint's link password. */
    word(&w, "reset", 5);
    word(&w, "on", 2);
    wordf(&w, "#", pass_hash);
    if (u->payload == ACL_PAYLOAD_SKIP)
        word(&w, "skip-sanitize-payload", 21);
    if (u->allkeys)
        word(&w, "~*", 2);
    for (size_t i = 0; i < u->nkeys; i++)
        wordf(&w, acl_key_rule_prefix(&u->keys[i]), u->keys[i].pattern);
    if (u->allchannels)
        word(&w, "&*", 2);
    for (size_t i = 0; i < u->nchannels; i++)
        wordf(&w, "&", u->channels[i]);
    /* Commands from the bitmap the endpoint checks with, one rule per command: from +@all
     * taking away, or from -@all giving, whichever is shorter. A container's rule sets its
     * subcommands too (as Redis applies it), so they follow it where they differ. */
    size_t allowed = 0, leaves = 0;
    for (unsigned id = 0; id < cmd_ids; id++) {
        if (!leaf_by_id(id))
            continue;
        leaves++;
        allowed += wanted(id, u);
    }
    int base = allowed * 2 > leaves;
    word(&w, base ? "+@all" : "-@all", 5);
    for (size_t i = 0; i < cmd_table_len; i++) {
        const cmd_def *d = &cmd_table[i];
        int state = base;
        if (endpoint_own(d))
            continue;
        if (d->route != ROUTE_PARENT) {
            int on = wanted(d->id, u);
            if (on != state)
                wordf(&w, on ? "+" : "-", d->name);
            state = on;
        }
        for (uint16_t j = 0; j < d->nsubs; j++) {
            int on = wanted(d->subs[j].id, u);
            if (on != state)
                wordf(&w, on ? "+" : "-", d->subs[j].name);
        }
    }
    words_command(&w, cmds);
}

void acl_engine_endpoint_rules(const char *password, buf *out)
{
    /* The endpoint's links carry what it composes itself (fan-outs for INFO, CONFIG, SLOWLOG,
     * LATENCY, MEMORY; DUMP/RESTORE of cross-slot reads; WAIT; CLIENT UNBLOCK; SCRIPT KILL,
     * FUNCTION KILL and FUNCTION STATS, out of band while a script runs: the client's own user
     * was checked by the endpoint). Nothing that changes the cluster, moves data off the cache
     * or runs code. */
    buf_appendf(out,
                "on >%s ~* &* +@all -@scripting +script|kill +function|kill +function|stats "
                "-cluster +cluster|countkeysinslot +cluster|getkeysinslot +cluster|keyslot "
                "+cluster|info +cluster|myid +cluster|nodes +cluster|slots +cluster|shards "
                "+cluster|help -migrate -module -swapdb -pfdebug -debug -shutdown -replicaof "
                "-slaveof -failover -sync -psync -monitor -save -bgsave -bgrewriteaof",
                password);
}

void acl_engine_endpoint_setuser(const char *password, buf *cmds)
{
    words w = {.n = 0};
    buf_init(&w.text);
    word(&w, "ACL", 3);
    word(&w, "SETUSER", 7);
    word(&w, ACL_ENGINE_ENDPOINT_USER, sizeof(ACL_ENGINE_ENDPOINT_USER) - 1);
    word(&w, "reset", 5);
    buf rules;
    buf_init(&rules);
    acl_engine_endpoint_rules(password, &rules);
    const char *p = buf_rptr(&rules), *end = p + buf_used(&rules);
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        size_t n = sp ? (size_t)(sp - p) : (size_t)(end - p);
        if (n)
            word(&w, p, n);
        p += n + 1;
    }
    buf_deinit(&rules);
    words_command(&w, cmds);
}
