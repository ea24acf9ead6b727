/* Durable state of the service in SQLite (<data-dir>/stratus.db): what clients changed on a
 * cache that must survive a restart (CONFIG SET overrides, ACL users, loaded scripts). The only
 * file that includes sqlite3.h is store.c. Control thread only: SQLite may block on disk. */
#ifndef STRATUS_STORE_H
#define STRATUS_STORE_H

#include <stddef.h>

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

#endif
