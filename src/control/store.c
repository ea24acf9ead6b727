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
                             " value BLOB NOT NULL, PRIMARY KEY (cache, kind, name));"
                             /* Metering, per cache and minute: one row per command type, and
                              * one with cmd '' for the minute's storage, connections and
                              * throttled/rejected commands (docs/pricing.md). */
                             "CREATE TABLE IF NOT EXISTS usage ("
                             " cache TEXT NOT NULL, minute INTEGER NOT NULL, cmd TEXT NOT NULL,"
                             " calls INTEGER NOT NULL DEFAULT 0, mecpu INTEGER NOT NULL DEFAULT 0,"
                             " bytes_in INTEGER NOT NULL DEFAULT 0,"
                             " bytes_out INTEGER NOT NULL DEFAULT 0,"
                             " storage_byte_s INTEGER NOT NULL DEFAULT 0,"
                             " connections INTEGER NOT NULL DEFAULT 0,"
                             " throttled INTEGER NOT NULL DEFAULT 0,"
                             " rejected INTEGER NOT NULL DEFAULT 0,"
                             " rest_byte_s INTEGER NOT NULL DEFAULT 0,"
                             " PRIMARY KEY (cache, minute, cmd));";

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
    /* Databases made before hibernation lack the column; adding it again fails harmlessly. */
    sqlite3_exec(st->db, "ALTER TABLE usage ADD COLUMN rest_byte_s INTEGER NOT NULL DEFAULT 0",
                 NULL, NULL, NULL);
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

int store_each_cache(store *st, const char *kind,
                     void (*fn)(void *arg, const char *cache, const char *name, const char *value,
                                size_t vlen),
                     void *arg)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        st->db, "SELECT cache, name, value FROM cache_items WHERE kind = ?1 ORDER BY cache, name",
        -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            const char *cache = (const char *)sqlite3_column_text(stmt, 0);
            const char *name = (const char *)sqlite3_column_text(stmt, 1);
            const char *value = sqlite3_column_blob(stmt, 2);
            int n = sqlite3_column_bytes(stmt, 2);
            fn(arg, cache ? cache : "", name ? name : "", value ? value : "", (size_t)n);
        }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("store %s: %s", st->path, sqlite3_errmsg(st->db));
        return -EIO;
    }
    return 0;
}

/* ---- usage ---- */

int store_usage_add(store *st, const char *cache, int64_t minute, const store_usage *rows,
                    size_t n)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            st->db,
            "INSERT INTO usage (cache, minute, cmd, calls, mecpu, bytes_in, bytes_out, "
            "storage_byte_s, connections, throttled, rejected, rest_byte_s) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
            "ON CONFLICT (cache, minute, cmd) DO UPDATE SET calls = calls + excluded.calls, "
            "mecpu = mecpu + excluded.mecpu, bytes_in = bytes_in + excluded.bytes_in, "
            "bytes_out = bytes_out + excluded.bytes_out, "
            "storage_byte_s = storage_byte_s + excluded.storage_byte_s, "
            "connections = MAX(connections, excluded.connections), "
            "throttled = throttled + excluded.throttled, rejected = rejected + excluded.rejected, "
            "rest_byte_s = rest_byte_s + excluded.rest_byte_s",
            -1, &stmt, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        const store_usage *u = &rows[i];
        sqlite3_reset(stmt);
        sqlite3_bind_text(stmt, 1, cache, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, minute);
        sqlite3_bind_text(stmt, 3, u->cmd, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, (sqlite3_int64)u->calls);
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)u->mecpu);
        sqlite3_bind_int64(stmt, 6, (sqlite3_int64)u->bytes_in);
        sqlite3_bind_int64(stmt, 7, (sqlite3_int64)u->bytes_out);
        sqlite3_bind_int64(stmt, 8, (sqlite3_int64)u->storage_byte_s);
        sqlite3_bind_int64(stmt, 9, (sqlite3_int64)u->connections);
        sqlite3_bind_int64(stmt, 10, (sqlite3_int64)u->throttled);
        sqlite3_bind_int64(stmt, 11, (sqlite3_int64)u->rejected);
        sqlite3_bind_int64(stmt, 12, (sqlite3_int64)u->rest_byte_s);
        rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_error("store %s: usage: %s", st->path, sqlite3_errmsg(st->db));
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -EIO;
    }
    return 0;
}

int store_usage_each(store *st, const char *cache, int64_t from, int64_t to,
                     void (*fn)(void *arg, int64_t minute, const store_usage *u), void *arg)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        st->db,
        "SELECT minute, cmd, calls, mecpu, bytes_in, bytes_out, storage_byte_s, connections, "
        "throttled, rejected, rest_byte_s FROM usage WHERE cache = ?1 AND minute >= ?2 AND minute < ?3 "
        "ORDER BY minute, cmd",
        -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, cache, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, from);
        sqlite3_bind_int64(stmt, 3, to);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            const char *cmd = (const char *)sqlite3_column_text(stmt, 1);
            store_usage u = {
                .cmd = cmd ? cmd : "",
                .calls = (uint64_t)sqlite3_column_int64(stmt, 2),
                .mecpu = (uint64_t)sqlite3_column_int64(stmt, 3),
                .bytes_in = (uint64_t)sqlite3_column_int64(stmt, 4),
                .bytes_out = (uint64_t)sqlite3_column_int64(stmt, 5),
                .storage_byte_s = (uint64_t)sqlite3_column_int64(stmt, 6),
                .connections = (uint64_t)sqlite3_column_int64(stmt, 7),
                .throttled = (uint64_t)sqlite3_column_int64(stmt, 8),
                .rejected = (uint64_t)sqlite3_column_int64(stmt, 9),
                .rest_byte_s = (uint64_t)sqlite3_column_int64(stmt, 10),
            };
            fn(arg, sqlite3_column_int64(stmt, 0), &u);
        }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        log_error("store %s: usage: %s", st->path, sqlite3_errmsg(st->db));
        return -EIO;
    }
    return 0;
}

int store_usage_prune(store *st, int64_t before)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, "DELETE FROM usage WHERE minute < ?1", -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(stmt, 1, before);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -EIO;
}
