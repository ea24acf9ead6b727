/* SQLite adapter: one table of (cache, kind, name) -> value items, in WAL mode so a crash never
 * tears a write. Statements are prepared per call: the store is touched when a client changes a
 * cache's state, never per command. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>

#include "common/alloc.h"
#include "common/log.h"

struct store {
    sqlite3 *db;
    char path[4200];
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "CREATE TABLE IF NOT EXISTS cache_items ("
                             " cache TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,"
                             " value BLOB NOT NULL, PRIMARY KEY (cache, kind, name));";

store *store_open(const char *path, char *err, size_t errlen)
{
    store *st = xcalloc(1, sizeof(*st));
    snprintf(st->path, sizeof(st->path), "%s", path);
    char *msg = NULL;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if (sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare %s: %s (delete it if it is not a Stratus database)",
                 path, msg ? msg : "unknown error");
        sqlite3_free(msg);
        goto fail;
    }
    return st;
fail:
    sqlite3_close(st->db);
    xfree(st);
    return NULL;
}

void store_close(store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    xfree(st);
}

static int run(store *st, const char *sql, const char *cache, const char *kind, const char *name,
               const char *value, size_t vlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, cache, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
        if (name)
            sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
        if (value)
            sqlite3_bind_blob(stmt, 4, value, (int)vlen, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("store %s: %s", st->path, sqlite3_errmsg(st->db));
        return -EIO;
    }
    return 0;
}

int store_put(store *st, const char *cache, const char *kind, const char *name, const char *value,
              size_t vlen)
{
    if (value)
        return run(st,
                   "INSERT INTO cache_items (cache, kind, name, value) VALUES (?1, ?2, ?3, ?4) "
                   "ON CONFLICT (cache, kind, name) DO UPDATE SET value = excluded.value",
                   cache, kind, name, value, vlen);
    return run(st, "DELETE FROM cache_items WHERE cache = ?1 AND kind = ?2 AND name = ?3", cache,
               kind, name, NULL, 0);
}

int store_clear(store *st, const char *cache, const char *kind)
{
    return run(st, "DELETE FROM cache_items WHERE cache = ?1 AND kind = ?2", cache, kind, NULL,
               NULL, 0);
}

int store_each(store *st, const char *cache, const char *kind,
               void (*fn)(void *arg, const char *name, const char *value, size_t vlen), void *arg)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        st->db, "SELECT name, value FROM cache_items WHERE cache = ?1 AND kind = ?2 ORDER BY name",
        -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, cache, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(stmt, 0);
            const char *value = sqlite3_column_blob(stmt, 1);
            int n = sqlite3_column_bytes(stmt, 1);
            fn(arg, name ? name : "", value ? value : "", (size_t)n);
        }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("store %s: %s", st->path, sqlite3_errmsg(st->db));
        return -EIO;
    }
    return 0;
}
