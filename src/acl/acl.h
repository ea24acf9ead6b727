/* ACL users of a cache, enforced by the endpoint: Redis 7.0's rule language (on/off, >pass,
 * #hash, nopass, ~keys, %R~ %W~, &channels, +cmd, -cmd, +@category, reset ...) applied to a user,
 * and the checks the router makes before a command leaves the endpoint; the engines hold the
 * same users and check what scripts do (acl_engine.h). The acl/ room is the users model both
 * the control plane (which changes and persists it) and the data path (which checks it) use.
 * Users are kept in immutable tables: a change makes a new table (published with RCU). */
#ifndef STRATUS_ACL_H
#define STRATUS_ACL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/cmdtable.h"

#define ACL_CMD_WORDS 8 /* command-id bits: up to 512 commands and subcommands */

/* A key pattern with the permissions it grants (KS_ACC_READ | KS_ACC_WRITE). */
typedef struct {
    char *pattern;
    uint8_t perm;
} acl_key_pattern;

/* Which of sanitize-payload / skip-sanitize-payload a user was last given: a new user has
 * neither flag (Redis 7.0's ACL GETUSER shows none), "reset" sets sanitize-payload. */
typedef enum { ACL_PAYLOAD_UNSET, ACL_PAYLOAD_SANITIZE, ACL_PAYLOAD_SKIP } acl_payload;

/* One user. Invariants: unrestricted == (every command bit set && allkeys && allchannels);
 * allkeys implies nkeys == 0 and allchannels implies nchannels == 0 (Redis refuses a pattern
 * after ~* or &*). The command rules are not kept as text: ACL LIST and ACL GETUSER describe
 * cmds as Redis does (acl_user_describe_commands), from all_base and the bits. */
typedef struct acl_user {
    char *name;
    int enabled;                  /* "on" */
    int nopass;                   /* any password is accepted */
    acl_payload payload;          /* sanitize-payload flag (recorded, the engines always check) */
    size_t npass;                 /* entries in pass */
    char (*pass)[65];             /* SHA-256 hex of each password */
    uint64_t cmds[ACL_CMD_WORDS]; /* allowed command ids */
    int all_base;                 /* +@all (allcommands) was applied and no -@all (nocommands,
                                     reset) since: Redis's "can run future commands" bit, which
                                     makes the description start with +@all rather than -@all */
    int allkeys;                  /* ~* or allkeys (a %RW~* pattern is a pattern, as in Redis) */
    size_t nkeys;                 /* entries in keys */
    acl_key_pattern *keys;        /* key patterns, in the order given */
    int allchannels;              /* &* or allchannels */
    size_t nchannels;             /* entries in channels */
    char **channels;              /* channel patterns */
    int unrestricted;             /* fast path: no check needed */
} acl_user;

/* Outcome of a permission check. */
typedef enum { ACL_OK, ACL_DENY_CMD, ACL_DENY_KEY, ACL_DENY_CHANNEL } acl_verdict;

/* A set of users; immutable once published. */
typedef struct acl_table {
    uint64_t version; /* strictly increasing per cache */
    size_t n;         /* entries in users */
    acl_user **users; /* owned */
} acl_table;

/* A new user with Redis's defaults for ACL SETUSER: off, no password, no commands, no keys, no
 * channels. */
acl_user *acl_user_create(const char *name, size_t len);
/* The all-powerful user (on, every command, key and channel); its password is checked by the
 * caller (the cache's default user). */
acl_user *acl_user_create_superuser(const char *name);
/* A deep copy. */
acl_user *acl_user_dup(const acl_user *u);
/* Free a user; NULL is allowed. */
void acl_user_destroy(acl_user *u);
/* Apply one rule; 0, or -EINVAL with Redis's reason in err (the user may be half-changed: apply
 * rules to a copy). */
int acl_user_apply(acl_user *u, const char *rule, size_t len, char *err, size_t errlen);
/* Apply a space-separated list of rules (the ACL LIST form, "user" and name excluded). */
int acl_user_apply_text(acl_user *u, const char *text, char *err, size_t errlen);
/* Append the user's rules in Redis's ACL LIST form ("on #hash ~key:* resetchannels -@all +get"):
 * flags, password hashes, key patterns, channels, then the command rules. */
void acl_user_describe(const acl_user *u, buf *out);
/* As acl_user_describe, in the form that acl_user_apply_text reads back into the same user (what
 * is stored): a key pattern "*" given as %RW~* is written %RW~*, not ~* (which means allkeys and
 * refuses the patterns after it). */
void acl_user_describe_stored(const acl_user *u, buf *out);
/* Append the user's command rules as Redis 7.0's ACLDescribeSelectorCommandRules computes them
 * from the command bitmap: +@all or -@all (all_base), then the categories that fit best (greedy,
 * in Redis's category order), then single commands and subcommands ("-@all +@set -sadd
 * +config|get"). Single commands come in command-table order (Redis: its hash order). */
void acl_user_describe_commands(const acl_user *u, buf *out);
/* Append the key patterns as ACL GETUSER's "keys" shows them ("~*", or "~a %R~b %W~c", or ""). */
void acl_user_describe_keys(const acl_user *u, buf *out);
/* Append the channel patterns as ACL GETUSER's "channels" shows them ("&*", "&a &b" or ""). */
void acl_user_describe_channels(const acl_user *u, buf *out);
/* Whether pass is one of the user's passwords (or nopass). Constant time per stored hash. */
int acl_user_password_ok(const acl_user *u, const char *pass, size_t n);
/* Whether the user may run d with these arguments (d is the subcommand when there is one). */
acl_verdict acl_check(const acl_user *u, const cmd_def *d, size_t argc, const char *const *argv,
                      const size_t *lens);
/* As acl_check; on ACL_DENY_KEY / ACL_DENY_CHANNEL *pos is the index in argv of the first key or
 * channel refused (what Redis's ACL LOG and ACL DRYRUN name). pos may be NULL. */
acl_verdict acl_check_at(const acl_user *u, const cmd_def *d, size_t argc, const char *const *argv,
                         const size_t *lens, size_t *pos);
/* The rule that gives key pattern k back, before its pattern: "~", "%R~" or "%W~", and "%RW~" for
 * a read-write "*" (which "~*" would turn into allkeys, refusing any pattern after it). */
const char *acl_key_rule_prefix(const acl_key_pattern *k);
/* Whether u's command bitmap allows command id (its rules alone: no key or channel check). */
int acl_user_may(const acl_user *u, unsigned id);
/* Redis's NOPERM message for a verdict (without the "-"). */
void acl_deny_message(acl_verdict v, const cmd_def *d, char *out, size_t outlen);

/* An empty table (version 1). */
acl_table *acl_table_create(void);
/* The user called name, or NULL. */
acl_user *acl_table_find(const acl_table *t, const char *name, size_t len);
/* A new table: t with u added or replacing its namesake (takes ownership of u); version + 1. */
acl_table *acl_table_with(const acl_table *t, acl_user *u);
/* A new table: t without user name; version + 1. */
acl_table *acl_table_without(const acl_table *t, const char *name, size_t len);
/* Free a table and its users; NULL is allowed. */
void acl_table_destroy(acl_table *t);

/* Redis's glob matching (*, ?, [a-z], [^a], \x), as used for key and channel patterns. */
int acl_glob_match(const char *pat, size_t plen, const char *str, size_t slen, int nocase);

#endif
