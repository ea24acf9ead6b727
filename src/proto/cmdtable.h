/* Command table: every Redis 7.0 command and subcommand as data (arity, flags, key specs, and
 * how Stratus routes it), generated into cmdtable_gen.c by scripts/gen-commands.py from the
 * COMMAND output of a real redis-server plus Stratus's routing policy. */
#ifndef STRATUS_CMDTABLE_H
#define STRATUS_CMDTABLE_H

#include <stddef.h>
#include <stdint.h>

/* How the endpoint serves a command. */
typedef enum {
    ROUTE_KEYS,     /* keys must share one slot; sent to that slot's primary */
    ROUTE_ANY,      /* no keys: any primary answers (TIME, COMMAND ...) */
    ROUTE_LOCAL,    /* answered by the endpoint itself (cmd_def.local says which) */
    ROUTE_SPLIT,    /* multi-key: split per shard, replies merged in key order */
    ROUTE_ALL,      /* sent to every primary, replies merged */
    ROUTE_SLOT_ARG, /* argument 2 is a slot number (CLUSTER COUNTKEYSINSLOT) */
    ROUTE_REFUSED,  /* refused by design; reason says why and what to use instead */
    ROUTE_LATER,    /* not served by this release yet; reason names the plan */
    ROUTE_PARENT    /* container: the subcommand decides */
} cmd_route;

/* How the replies of a ROUTE_SPLIT/ROUTE_ALL command are merged. */
typedef enum {
    MERGE_NONE,
    MERGE_SUM,        /* integers added (DEL, EXISTS, DBSIZE ...) */
    MERGE_MGET,       /* arrays re-ordered into the request's key order */
    MERGE_ALL_OK,     /* +OK when every shard said OK, else the first error */
    MERGE_INFO,       /* INFO: engine figures summed into the endpoint's own INFO text */
    MERGE_FIRST,      /* every shard must succeed; the first shard's reply is the reply */
    MERGE_CONCAT,     /* arrays concatenated (KEYS) */
    MERGE_RANDOM,     /* a non-nil reply of a shard taken in turn (RANDOMKEY) */
    MERGE_SCAN,       /* one shard's SCAN reply with its cursor made cache-wide */
    MERGE_NUMSUB,     /* [name, count ...] with counts added per name (PUBSUB SHARDNUMSUB) */
    MERGE_CONFIG_GET, /* one engine's CONFIG GET with only the settings clients may see */
    MERGE_CONFIG_SET, /* +OK from every primary, then the values are kept for the cache */
    MERGE_GATHER,     /* cross-slot read: foreign keys copied in, the command run on one shard */

    /* Server commands, merged by proxy/diag.c (MERGE_MAX, MERGE_KILL: router.c). */
    MERGE_MAX,               /* the largest integer (LASTSAVE) */
    MERGE_KILL,              /* SCRIPT/FUNCTION KILL: OK if any shard killed, else NOTBUSY */
    MERGE_SLOWLOG,           /* SLOWLOG GET: entries of every shard, newest first, first n */
    MERGE_LATENCY_LATEST,    /* union of events: latest sample, highest maximum */
    MERGE_LATENCY_HISTORY,   /* samples of every shard by time, the highest per second */
    MERGE_LATENCY_HISTOGRAM, /* calls and cumulative buckets added per command */
    MERGE_LATENCY_RESET,     /* distinct events reset (shards run LATEST and RESET atomically) */
    MERGE_LATENCY_DOCTOR,    /* the endpoint's report from every shard's LATEST */
    MERGE_MEMORY_STATS,      /* figures summed, ratios recomputed from the sums */
    MERGE_SLOWLOG_LEN,       /* SLOWLOG LEN: the entries MERGE_SLOWLOG lists for GET -1 */
    MERGE_FUNCTION_STATS     /* FUNCTION STATS: the reply of the shard running a function */
} cmd_merge;

/* Commands the endpoint answers itself. */
/* clang-format off */
#define CMD_LOCAL_LIST(X) \
    X(NONE) \
    X(PING) \
    X(ECHO) \
    X(AUTH) \
    X(HELLO) \
    X(SELECT) \
    X(QUIT) \
    X(READONLY) \
    X(READWRITE) \
    X(INFO) \
    X(CLUSTER_SLOTS) \
    X(CLUSTER_SHARDS) \
    X(CLUSTER_NODES) \
    X(CLUSTER_INFO) \
    X(CLUSTER_MYID) \
    X(CLUSTER_KEYSLOT) \
    X(CLIENT_SETNAME) \
    X(CLIENT_GETNAME) \
    X(CLIENT_ID) \
    X(CLIENT_LIST) \
    X(CLIENT_INFO) \
    X(CLIENT_KILL) \
    X(CLIENT_UNBLOCK) \
    X(CLIENT_REPLY) \
    X(CLIENT_NO_EVICT) \
    X(CLIENT_TRACKINGINFO) \
    X(CLIENT_TRACKING) \
    X(CLIENT_PAUSE) \
    X(CLIENT_UNPAUSE) \
    X(CLIENT_GETREDIR) \
    X(RESET) \
    X(ROLE) \
    X(ASKING) \
    X(STRATUS_SCALE) \
    X(STRATUS_HIBERNATE) \
    X(STRATUS_COST) \
    X(STRATUS_USAGE) \
    X(STRATUS_RECEIPTS) \
    X(STRATUS_RECEIPT) \
    X(CLUSTER_REPLICAS) \
    X(SCRIPT_EXISTS) \
    X(SCAN) \
    X(SUBSCRIBE) \
    X(PUBSUB_QUERY) \
    X(MULTI) \
    X(EXEC) \
    X(DISCARD) \
    X(WATCH) \
    X(UNWATCH) \
    X(CONFIG_GET) \
    X(CONFIG_SET) \
    X(ACL) \
    X(WAIT) \
    X(PUBLISH)
/* clang-format on */

#define CMD_LOCAL_ENUM(n) LOCAL_##n,
typedef enum { CMD_LOCAL_LIST(CMD_LOCAL_ENUM) LOCAL__COUNT } cmd_local;
#undef CMD_LOCAL_ENUM

#define CMD_F_WRITE 0x01u         /* may modify data */
#define CMD_F_READONLY 0x02u      /* never modifies data: safe to retry */
#define CMD_F_BLOCKING 0x04u      /* may block the connection */
#define CMD_F_NOAUTH 0x08u        /* allowed before AUTH */
#define CMD_F_MOVABLE 0x10u       /* key positions depend on arguments */
#define CMD_F_FAST 0x20u          /* O(1) or O(log n) */
#define CMD_F_SCRIPT_BODY 0x40u   /* carries a Lua script (EVAL: argument 1, SCRIPT LOAD: 2) */
#define CMD_F_SCRIPT_SHA 0x80u    /* names a script by sha (EVALSHA): NOSCRIPT is repaired */
#define CMD_F_SCRIPT_FLUSH 0x100u /* forgets every script (SCRIPT FLUSH) */
#define CMD_F_GATHER 0x200u     /* multi-key read or store: served across slots (proxy/gather.c) */
#define CMD_F_OOB 0x400u        /* must not wait behind a running script: own engine link */
#define CMD_F_ENDPOINT 0x800u   /* its engine requests are the endpoint's own (merged, filtered) */
#define CMD_F_KEYS_PROC 0x1000u /* keys or their access depend on the arguments (SORT, SET ...) */
#define CMD_F_RUNS_CODE 0x2000u /* runs a script or function: sent on the code link */
#define CMD_F_NO_MULTI 0x4000u  /* refused inside MULTI (Redis's no_multi: SAVE, SHUTDOWN ...) */
#define CMD_F_MAY_REPLICATE 0x8000u /* Redis's may_replicate: paused by CLIENT PAUSE WRITE */

/* Where keys are (Redis 7 key specs). */
typedef enum { KS_BS_INDEX, KS_BS_KEYWORD, KS_BS_UNKNOWN } cmd_ks_begin;
typedef enum { KS_FK_RANGE, KS_FK_KEYNUM, KS_FK_UNKNOWN } cmd_ks_find;

typedef struct {
    uint8_t begin;       /* cmd_ks_begin */
    uint8_t find;        /* cmd_ks_find */
    int16_t pos;         /* INDEX: argument index; KEYWORD: startfrom (negative = from end) */
    const char *keyword; /* KEYWORD: the word after which keys start */
    int16_t a;           /* RANGE: lastkey (relative, -1 = end); KEYNUM: keynumidx */
    int16_t b;           /* RANGE: keystep; KEYNUM: firstkey */
    int16_t c;           /* RANGE: limit; KEYNUM: keystep */
    uint8_t access;      /* KS_ACC_*: ACL key permissions its keys need */
} cmd_keyspec;

#define KS_ACC_READ 0x01u   /* the command reads the key's value (ACL %R~) */
#define KS_ACC_WRITE 0x02u  /* the command inserts, deletes or updates (ACL %W~) */
#define KS_ACC_NOTKEY 0x04u /* a name routed like a key that is not one (shard channels) */

typedef struct cmd_def {
    const char *name;           /* lowercase; subcommands as "parent|sub" */
    const char *sub;            /* subcommand name alone ("slots"), NULL for top level */
    int16_t arity;              /* n: exactly n args; -n: at least n (Redis convention) */
    uint16_t flags;             /* CMD_F_* */
    uint8_t route;              /* cmd_route */
    uint8_t merge;              /* cmd_merge */
    uint8_t local;              /* cmd_local for ROUTE_LOCAL */
    uint8_t nspecs;             /* entries in specs */
    const cmd_keyspec *specs;   /* key specs */
    const char *reason;         /* ROUTE_REFUSED / ROUTE_LATER explanation */
    const struct cmd_def *subs; /* subcommands */
    uint16_t nsubs;             /* entries in subs */
    uint16_t id;                /* dense index over commands and subcommands (< cmd_ids) */
    uint32_t acl;               /* ACL categories: bit i is cmd_acl_categories[i] */
} cmd_def;

/* The generated table (sorted by name). */
extern const cmd_def cmd_table[];
extern const size_t cmd_table_len;
/* Number of command ids (commands plus subcommands). */
extern const size_t cmd_ids;
/* ACL category names without '@', by bit. */
extern const char *const cmd_acl_categories[];
extern const size_t cmd_acl_ncategories;

/* Find a command by name, case-insensitively; NULL if unknown. */
const cmd_def *cmd_lookup(const char *name, size_t len);
/* The command or subcommand whose id is id (< cmd_ids), else NULL. */
const cmd_def *cmd_by_id(uint16_t id);
/* Find a subcommand of parent, case-insensitively; NULL if unknown. */
const cmd_def *cmd_lookup_sub(const cmd_def *parent, const char *name, size_t len);
/* Whether argc satisfies the command's arity. */
int cmd_arity_ok(const cmd_def *d, size_t argc);
/* Argument indexes of the keys of a command into keys[] (up to max); returns the key count,
 * or -EINVAL when the arguments don't parse (let the engine produce its own error), or
 * -E2BIG when more than max keys. */
int cmd_get_keys(const cmd_def *d, size_t argc, const char *const *argv, const size_t *lens,
                 uint32_t *keys, size_t max);
/* As cmd_get_keys, also filling access[i] with the KS_ACC_* needs of key i (for ACL checks). */
int cmd_get_keys_access(const cmd_def *d, size_t argc, const char *const *argv, const size_t *lens,
                        uint32_t *keys, uint8_t *access, size_t max);
/* Whether this invocation may block its connection (BLPOP ..., XREAD/XREADGROUP with BLOCK). */
int cmd_blocks(const cmd_def *d, size_t argc, const char *const *argv, const size_t *lens);
/* Where a blocking invocation's timeout is: its argument index (argv[0] is the name), with
 * *in_ms set when it counts milliseconds (XREAD/XREADGROUP BLOCK) rather than seconds; -1 when
 * it has none. */
int cmd_block_timeout_arg(size_t argc, const char *const *argv, const size_t *lens, int *in_ms);
/* Name of a local handler (for logs and docs). */
const char *cmd_local_name(cmd_local id);

#endif
