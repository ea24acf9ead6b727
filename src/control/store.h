/* Durable state of the service in SQLite (<data-dir>/stratus.db): what clients changed on a
 * cache that must survive a restart (CONFIG SET overrides, ACL users, loaded scripts). The only
 * file that includes sqlite3.h is store.c. Control thread only: SQLite may block on disk. */
#ifndef STRATUS_STORE_H
#define STRATUS_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* Open (creating if needed) the database at path. NULL with the fix in err. */
store *store_open(const char *path, char *err, size_t errlen);
/* Close the database; NULL is allowed. */
void store_close(store *st);
/* Set (value non-NULL) or delete (value NULL) item name of kind for cache. 0 or -EIO. */
int store_put(store *st, const char *cache, const char *kind, const char *name, const char *value,
              size_t vlen);
/* Delete every item of kind for cache. 0 or -EIO. */
int store_clear(store *st, const char *cache, const char *kind);
/* Call fn for each item of kind for cache, in name order. 0 or -EIO. */
int store_each(store *st, const char *cache, const char *kind,
               void (*fn)(void *arg, const char *name, const char *value, size_t vlen), void *arg);

/* Call fn for each item of kind of every cache, by cache then name. 0 or -EIO. */
int store_each_cache(store *st, const char *kind,
                     void (*fn)(void *arg, const char *cache, const char *name, const char *value,
                                size_t vlen),
                     void *arg);

/* One usage row of a cache's minute: a command type's counters (cmd its name), or the minute's
 * own figures (cmd ""): storage integrated over the minute, peak connections, throttled and
 * rejected commands. */
typedef struct {
    const char *cmd;
    uint64_t calls, mecpu, bytes_in, bytes_out;
    uint64_t storage_byte_s; /* dataset bytes x seconds */
    uint64_t rest_byte_s;    /* hibernation snapshot bytes x seconds (asleep) */
    uint64_t connections;    /* the most connected at a sample */
    uint64_t throttled, rejected;
} store_usage;

/* Add rows to cache's usage at minute (unix time / 60), in one transaction: counters add up,
 * connections keep the larger. 0 or -EIO. */
int store_usage_add(store *st, const char *cache, int64_t minute, const store_usage *rows,
                    size_t n);
/* Call fn for each usage row of cache with from <= minute < to, by minute then command. */
int store_usage_each(store *st, const char *cache, int64_t from, int64_t to,
                     void (*fn)(void *arg, int64_t minute, const store_usage *u), void *arg);
/* Drop every cache's usage before minute (retention). 0 or -EIO. */
int store_usage_prune(store *st, int64_t before);

#endif
