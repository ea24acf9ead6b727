/* The ACL log of a cache (Redis 7.0's ACL LOG): the most recent permission denials and failed
 * AUTHs, newest first, each with its reason, context, object, user and the client's CLIENT INFO
 * line. Similar denials within a minute are counted in one entry, as Redis's addACLLogEntry
 * groups them. One log per cache, shared by every worker thread behind a mutex that is taken
 * only when something is denied (and by ACL LOG), never on a command that is allowed. */
#ifndef STRATUS_ACL_LOG_H
#define STRATUS_ACL_LOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define ACL_LOG_MAX_LEN_DEFAULT 128 /* Redis's acllog-max-len default */
#define ACL_LOG_GROUP_MS 60000      /* similar entries this close in time are grouped */
#define ACL_LOG_GROUP_SCAN 10       /* how many recent entries are looked at for grouping */

/* Why an entry was logged (ACL LOG "reason"). */
typedef enum {
    ACL_LOG_COMMAND, /* "command": the user may not run the command or subcommand */
    ACL_LOG_KEY,     /* "key": object is the key refused */
    ACL_LOG_CHANNEL, /* "channel": object is the channel refused */
    ACL_LOG_AUTH     /* "auth": AUTH or HELLO ... AUTH failed; object is the command name */
} acl_log_reason;

/* Where the denied command ran (ACL LOG "context"). */
typedef enum {
    ACL_LOG_TOPLEVEL, /* "toplevel": a command of the client */
    ACL_LOG_MULTI,    /* "multi": a command queued in MULTI, or run by EXEC */
    ACL_LOG_LUA       /* "lua": a redis.call() inside a script or function */
} acl_log_context;

/* One entry; the strings are owned by the entry (NUL-terminated, object may hold NULs). */
typedef struct {
    uint64_t count;          /* similar events grouped in this entry */
    acl_log_reason reason;   /* why */
    acl_log_context context; /* where */
    char *object;            /* command name ("get", "client|kill"), key, channel, or "AUTH" */
    size_t object_len;       /* its length */
    char *username;          /* user the client ran as, or the name AUTH tried */
    char *client_info;       /* CLIENT INFO line of the client (of the last grouped event) */
    uint64_t ms;             /* monotonic milliseconds of the last grouped event */
} acl_log_entry;

/* Invariant: n <= max_len; entries[0] is the newest. All fields under lock. */
typedef struct acl_log {
    pthread_mutex_t lock;
    acl_log_entry *entries; /* newest first */
    size_t n;               /* entries in use */
    size_t cap;             /* entries allocated */
    size_t max_len;         /* acllog-max-len: older entries are dropped */
} acl_log;

/* An empty log keeping at most max_len entries. */
acl_log *acl_log_create(size_t max_len);
/* Free the log; NULL is allowed. */
void acl_log_destroy(acl_log *l);
/* Record a denial now (thread-safe; copies every string). object/object_len is the command's
 * full name ("get", "config|set"), the key or channel refused, or for ACL_LOG_AUTH the command
 * as the client sent it ("AUTH", "hello"). username is the user the client runs as (for
 * ACL_LOG_AUTH: the name it tried), client_info its CLIENT INFO line (without "\n"; may be ""). A
 * denial on an engine inside a script is logged by its caller with context ACL_LOG_LUA:
 *     acl_log_add(cache->acl_log, ACL_LOG_COMMAND, ACL_LOG_LUA, "incr", 4, user, info); */
void acl_log_add(acl_log *l, acl_log_reason reason, acl_log_context context, const char *object,
                 size_t object_len, const char *username, const char *client_info);
/* acl_log_add at a given monotonic time in milliseconds (for tests). */
void acl_log_add_at(acl_log *l, uint64_t now_ms, acl_log_reason reason, acl_log_context context,
                    const char *object, size_t object_len, const char *username,
                    const char *client_info);
/* Forget every entry (ACL LOG RESET). Thread-safe. */
void acl_log_reset(acl_log *l);
/* Change the maximum length (CONFIG SET acllog-max-len), dropping the oldest entries beyond it.
 * Thread-safe. */
void acl_log_set_max_len(acl_log *l, size_t max_len);
/* Copy the newest entries, at most max, into a new array (*n entries) that the caller frees with
 * acl_log_copy_free. Thread-safe. */
acl_log_entry *acl_log_copy(acl_log *l, size_t max, size_t *n);
/* Free what acl_log_copy returned. */
void acl_log_copy_free(acl_log_entry *e, size_t n);
/* Milliseconds on the clock the entries are stamped with (for ACL LOG's age-seconds). */
uint64_t acl_log_now_ms(void);
/* ACL LOG's names: "command", "key", "channel", "auth"; "toplevel", "multi", "lua". */
const char *acl_log_reason_name(acl_log_reason r);
const char *acl_log_context_name(acl_log_context c);

#endif
