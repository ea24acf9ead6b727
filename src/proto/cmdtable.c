/* Command lookup and key extraction over the generated table. Key extraction interprets
 * Redis 7 key specs (begin_search + find_keys) exactly as Redis does, so a key is found where
 * the engine will look for it. */
#define ALLOC_ROOM ROOM_PROTO
#include "proto/cmdtable.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/compiler.h"

#define LOOKUP_BUCKETS 1024u

static const cmd_def *buckets[LOOKUP_BUCKETS];
static pthread_once_t buckets_once = PTHREAD_ONCE_INIT;

static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)(s[i] | 0x20);
        h *= 16777619u;
    }
    return h;
}

static const cmd_def **by_id; /* cmd_ids entries, built with the buckets */

static void build_buckets(void)
{
    static const cmd_def *ids[1024];
    by_id = ids;
    for (size_t i = 0; i < cmd_table_len; i++) {
        const cmd_def *d = &cmd_table[i];
        if (d->id < ARRAY_LEN(ids))
            ids[d->id] = d;
        for (uint16_t k = 0; k < d->nsubs; k++)
            if (d->subs[k].id < ARRAY_LEN(ids))
                ids[d->subs[k].id] = &d->subs[k];
        uint32_t b = name_hash(d->name, strlen(d->name)) & (LOOKUP_BUCKETS - 1);
        while (buckets[b])
            b = (b + 1) & (LOOKUP_BUCKETS - 1);
        buckets[b] = d;
    }
}

const cmd_def *cmd_by_id(uint16_t id)
{
    pthread_once(&buckets_once, build_buckets);
    return id < cmd_ids && id < 1024 ? by_id[id] : NULL;
}

const cmd_def *cmd_lookup(const char *name, size_t len)
{
    pthread_once(&buckets_once, build_buckets);
    if (len == 0 || len > 32)
        return NULL;
    uint32_t b = name_hash(name, len) & (LOOKUP_BUCKETS - 1);
    while (buckets[b]) {
        const cmd_def *d = buckets[b];
        /* Length first: a name with a NUL byte ("GET\0x") must not match "get" (found by
         * fuzz_cmd_keys; strncasecmp stops at the NUL and d->name[len] was out of bounds). */
        if (strlen(d->name) == len && strncasecmp(d->name, name, len) == 0)
            return d;
        b = (b + 1) & (LOOKUP_BUCKETS - 1);
    }
    return NULL;
}

const cmd_def *cmd_lookup_sub(const cmd_def *parent, const char *name, size_t len)
{
    for (uint16_t i = 0; i < parent->nsubs; i++) {
        const cmd_def *s = &parent->subs[i];
        if (strlen(s->sub) == len && strncasecmp(s->sub, name, len) == 0)
            return s;
    }
    return NULL;
}

int cmd_arity_ok(const cmd_def *d, size_t argc)
{
    if (d->arity >= 0)
        return argc == (size_t)d->arity;
    return argc >= (size_t)(-d->arity);
}

static int arg_eq(const char *a, size_t alen, const char *word)
{
    size_t wl = strlen(word);
    return alen == wl && strncasecmp(a, word, wl) == 0;
}

static int parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > 20)
        return -1;
    char tmp[24];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end != '\0' || tmp[0] == ' ' || tmp[0] == '+')
        return -1;
    *out = v;
    return 0;
}

int cmd_get_keys(const cmd_def *d, size_t argc, const char *const *argv, const size_t *lens,
                 uint32_t *keys, size_t max)
{
    return cmd_get_keys_access(d, argc, argv, lens, keys, NULL, max);
}

/* Redis 7.0's getkeys procs where the key specs are incomplete or their flags vary: SORT and
 * SORT_RO (the STORE key, after skipping LIMIT/GET/BY arguments; the last STORE counts), SET
 * (read access only with GET), BITFIELD (write access unless it only GETs). */
static int keys_proc(const cmd_def *d, size_t argc, const char *const *argv, const size_t *lens,
                     uint32_t *keys, uint8_t *access, size_t max)
{
    if (argc < 2)
        return d->arity < 0 ? -EINVAL : 0;
    if (max < 2)
        return -E2BIG;
    uint8_t acc = KS_ACC_READ;
    keys[0] = 1;
    int n = 1;
    if (strncmp(d->name, "sort", 4) == 0) {
        int sort_ro = strcmp(d->name, "sort_ro") == 0;
        long store = -1;
        for (size_t i = 2; i < argc && !sort_ro; i++) {
            if (arg_eq(argv[i], lens[i], "limit"))
                i += 2;
            else if (arg_eq(argv[i], lens[i], "get") || arg_eq(argv[i], lens[i], "by"))
                i += 1;
            else if (arg_eq(argv[i], lens[i], "store") && i + 1 < argc)
                store = (long)i + 1;
        }
        if (store > 0) {
            keys[n] = (uint32_t)store;
            if (access)
                access[n] = KS_ACC_WRITE;
            n++;
        }
    } else if (strcmp(d->name, "set") == 0) {
        acc = KS_ACC_WRITE;
        for (size_t i = 3; i < argc; i++)
            if (arg_eq(argv[i], lens[i], "get"))
                acc = KS_ACC_READ | KS_ACC_WRITE;
    } else { /* bitfield */
        for (size_t i = 2; i < argc; i++) {
            size_t rem = argc - i - 1;
            if (arg_eq(argv[i], lens[i], "get") && rem >= 2) {
                i += 2;
            } else if (arg_eq(argv[i], lens[i], "overflow") && rem >= 1) {
                i += 1;
            } else {
                acc = KS_ACC_READ | KS_ACC_WRITE; /* SET, INCRBY, or a syntax error */
                break;
            }
        }
    }
    if (access)
        access[0] = acc;
    return n;
}

int cmd_get_keys_access(const cmd_def *d, size_t argc, const char *const *argv, const size_t *lens,
                        uint32_t *keys, uint8_t *access, size_t max)
{
    if (unlikely(d->flags & CMD_F_KEYS_PROC))
        return keys_proc(d, argc, argv, lens, keys, access, max);
    size_t n = 0;
    long ac = (long)argc;
    for (uint8_t s = 0; s < d->nspecs; s++) {
        const cmd_keyspec *ks = &d->specs[s];
        long first = 0, last, step;
        if (ks->begin == KS_BS_INDEX) {
            first = ks->pos;
        } else if (ks->begin == KS_BS_KEYWORD) {
            long start = ks->pos > 0 ? ks->pos : ac + ks->pos;
            long end = ks->pos > 0 ? ac - 1 : 1;
            for (long i = start; i != end; i = start <= end ? i + 1 : i - 1) {
                if (i >= ac || i < 1)
                    break;
                if (arg_eq(argv[i], lens[i], ks->keyword)) {
                    first = i + 1;
                    break;
                }
            }
            if (!first)
                continue;
        } else {
            continue;
        }
        if (first >= ac)
            continue;
        if (ks->find == KS_FK_RANGE) {
            step = ks->b;
            if (ks->a >= 0)
                last = first + ks->a;
            else if (!ks->c)
                last = ac + ks->a;
            else
                last = first + ((ac - first) / ks->c + ks->a);
        } else if (ks->find == KS_FK_KEYNUM) {
            step = ks->c;
            long long numkeys;
            if (ks->a >= ac - first)
                return -EINVAL;
            long idx = first + ks->a;
            if (parse_ll(argv[idx], lens[idx], &numkeys) != 0 || numkeys < 0 || numkeys > ac)
                return -EINVAL;
            first += ks->b;
            last = first + (long)numkeys - 1;
        } else {
            continue;
        }
        if (step <= 0)
            step = 1;
        for (long i = first; i <= last; i += step) {
            if (i >= ac || i < first) {
                if (d->arity < 0)
                    return -EINVAL;
                break;
            }
            if (n >= max)
                return -E2BIG;
            if (access)
                access[n] = ks->access;
            keys[n++] = (uint32_t)i;
        }
    }
    return (int)n;
}

int cmd_blocks(const cmd_def *d, size_t argc, const char *const *argv, const size_t *lens)
{
    if (!(d->flags & CMD_F_BLOCKING))
        return 0;
    /* XREAD and XREADGROUP (keys after STREAMS) block only with a BLOCK option before it. */
    if (d->nspecs == 0 || d->specs[0].begin != KS_BS_KEYWORD)
        return 1;
    for (size_t i = 1; i < argc; i++) {
        if (arg_eq(argv[i], lens[i], "streams"))
            break;
        if (arg_eq(argv[i], lens[i], "block"))
            return 1;
    }
    return 0;
}

int cmd_block_timeout_arg(size_t argc, const char *const *argv, const size_t *lens, int *in_ms)
{
    *in_ms = 0;
    if (argc < 2)
        return -1;
    static const char *const last[] = {"blpop",    "brpop",  "bzpopmin",
                                       "bzpopmax", "blmove", "brpoplpush"};
    for (size_t i = 0; i < ARRAY_LEN(last); i++)
        if (arg_eq(argv[0], lens[0], last[i]))
            return (int)argc - 1;
    if (arg_eq(argv[0], lens[0], "blmpop") || arg_eq(argv[0], lens[0], "bzmpop"))
        return 1;
    if (arg_eq(argv[0], lens[0], "xread") || arg_eq(argv[0], lens[0], "xreadgroup")) {
        for (size_t i = 1; i + 1 < argc; i++) {
            if (arg_eq(argv[i], lens[i], "streams"))
                break;
            if (arg_eq(argv[i], lens[i], "block")) {
                *in_ms = 1;
                return (int)i + 1;
            }
        }
    }
    return -1;
}

const char *cmd_local_name(cmd_local id)
{
#define CMD_LOCAL_NAME(n) #n,
    static const char *const names[] = {CMD_LOCAL_LIST(CMD_LOCAL_NAME)};
#undef CMD_LOCAL_NAME
    return (unsigned)id < ARRAY_LEN(names) ? names[id] : "?";
}
