/* Snapshots of caches: the RDB of every shard's primary, copied under
 * <data-dir>/snapshots/<name>/ with a manifest (file, size, SHA-256 of each), written
 * atomically (temp, fsync, rename) and checked before any use. A snapshot restores into a new
 * cache of any shard count (its keys are replayed with RESTORE through the new cache's
 * endpoint), exports as one plain RDB file plus a JSON manifest (loadable by a plain
 * redis-server), and imports from a plain RDB file. */
#ifndef STRATUS_SNAPSHOT_H
#define STRATUS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "control/plane.h"

typedef struct {
    char name[64];
    char cache[41];     /* the cache it was taken of ("" for an import) */
    char kind[12];      /* manual, daily, final, import */
    int64_t created_ms; /* unix ms */
    int files;          /* RDB files (one per shard) */
    uint64_t bytes;     /* their total size */
    uint64_t keys;      /* keys in it */
} snapshot_info;

/* Take a snapshot of cache (running or asleep). */
int snapshot_create(plane *p, const char *cname, const char *name, const char *kind,
                    snapshot_info *out, char *err, size_t errlen);
/* Every snapshot (of cache, or all when NULL), newest first; xfree the array. */
snapshot_info *snapshot_list(plane *p, const char *cname, size_t *n);
/* One snapshot. */
int snapshot_describe(plane *p, const char *name, snapshot_info *out, char *err, size_t errlen);
/* Remove a snapshot. */
int snapshot_delete(plane *p, const char *name, char *err, size_t errlen);
/* Create cache d and load the snapshot into it; the keys loaded to *keys. */
int snapshot_restore(plane *p, const char *name, const plane_def *d, uint64_t *keys, char *err,
                     size_t errlen);
/* Write <dir>/<name>.rdb (one RDB, every shard merged) and <dir>/<name>.json. */
int snapshot_export(plane *p, const char *name, const char *dir, char *path, size_t pathlen,
                    char *err, size_t errlen);
/* Make snapshot name from a plain RDB file. */
int snapshot_import(plane *p, const char *name, const char *rdb, snapshot_info *out, char *err,
                    size_t errlen);
/* Daily snapshots due now (HH:MM UTC of a definition) and retention: call once a minute. */
void snapshot_daily(plane *p);

#endif
