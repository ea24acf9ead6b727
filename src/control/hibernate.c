/* Scale to zero (see hibernate.h). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/hibernate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/file.h"
#include "common/log.h"
#include "control/usage.h"
#include "net/ev.h"
#include "net/tls.h"

static void manifest_path(const char *dir, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", dir, HIBERNATE_MANIFEST);
}

int hibernate_present(const char *dir)
{
    char path[4300];
    manifest_path(dir, path, sizeof(path));
    return access(path, F_OK) == 0;
}

/* Whether an engine's file holds data the engine needs back: logs, sockets, the rendered
 * config and files an engine was still writing are not part of a snapshot. */
static int is_data_file(const char *name)
{
    size_t n = strlen(name);
    return !(strncmp(name, "temp-", 5) == 0 || strstr(name, ".tmp") ||
             (n > 4 && strcmp(name + n - 4, ".log") == 0) ||
             (n > 5 && strcmp(name + n - 5, ".sock") == 0) || strcmp(name, "redis.conf") == 0);
}

/* List the data files under root/rel (recursively) with their SHA-256 into out, as lines
 * "<sha256> <size> <path relative to root>". 0 or -errno. */
static int list_files(const char *root, const char *rel, buf *out, uint64_t *total)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4300], full[4400];
        snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
        snprintf(full, sizeof(full), "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st) == -1)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = list_files(root, sub, out, total);
        } else if (S_ISREG(st.st_mode) && is_data_file(de->d_name)) {
            char sha[65];
            uint64_t size;
            rc = crypto_sha256_file(full, sha, &size);
            if (rc == 0) {
                buf_appendf(out, "%s %llu %s\n", sha, (unsigned long long)size, sub);
                *total += size;
            }
        }
    }
    closedir(d);
    return rc;
}

/* Whether the manifest of dir says every primary's replica had all of its data. */
static int replicas_caught_up(const char *dir)
{
    char path[4300];
    manifest_path(dir, path, sizeof(path));
    buf text;
    buf_init(&text);
    int yes = file_read_all(path, &text, 16u << 20) == 0 && buf_used(&text) &&
              memmem(buf_rptr(&text), buf_used(&text), "\n# replicas caught up\n", 22) != NULL;
    buf_deinit(&text);
    return yes;
}

int hibernate_verify(const char *dir, uint64_t *bytes, char *err, size_t errlen)
{
    char path[4300];
    manifest_path(dir, path, sizeof(path));
    buf text;
    buf_init(&text);
    int rc = file_read_all(path, &text, 16u << 20);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
        buf_deinit(&text);
        return -1;
    }
    buf_append(&text, "", 1);
    *bytes = 0;
    int files = 0, ended = 0;
    char *save = NULL;
    for (char *line = strtok_r(text.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            ended |= strcmp(line, "# end") == 0;
            continue;
        }
        char want[65], rel[4096], full[4400], got[65];
        unsigned long long size;
        uint64_t have;
        if (sscanf(line, "%64s %llu %4095[^\n]", want, &size, rel) != 3) {
            snprintf(err, errlen, "%s: unreadable line \"%.80s\"", path, line);
            goto fail;
        }
        snprintf(full, sizeof(full), "%s/%s", dir, rel);
        if (crypto_sha256_file(full, got, &have) != 0) {
            snprintf(err, errlen, "%s is missing", rel);
            goto fail;
        }
        if (have != size || strcmp(got, want) != 0) {
            snprintf(err, errlen,
                     "%s changed since the cache fell asleep (%llu bytes, expected %llu)", rel,
                     (unsigned long long)have, size);
            goto fail;
        }
        *bytes += have;
        files++;
    }
    if (!ended || files == 0) {
        snprintf(err, errlen, "%s is incomplete", path);
        goto fail;
    }
    buf_deinit(&text);
    return 0;
fail:
    buf_deinit(&text);
    return -1;
}

int hibernate_sleep(cache *c, char *err, size_t errlen)
{
    cache_sleep *sl = &c->sleep;
    view_sleep *vs = &c->view.sleep;
    uint64_t t0 = ev_clock_ms();
    atomic_store(&vs->wake_wanted, 0);
    atomic_store(&vs->asleep, 1); /* from now on requests wait for the wake */
    usage_flush(c);
    /* Replicas with everything their primary had can take over at the wake (no writable
     * delay): nothing acknowledged is lost that way. */
    int caught_up = c->cfg->replicas > 0 && supervisor_replicas_caught_up(c->sup, 2000);
    supervisor_stop(c->sup, 30000);
    buf text;
    buf_init(&text);
    buf_appendf(&text, "# stratus hibernation 1 %lld\n", (long long)time(NULL));
    if (caught_up)
        buf_appendf(&text, "# replicas caught up\n");
    uint64_t total = 0;
    int rc = list_files(c->dir, "engines", &text, &total);
    buf_appendf(&text, "# end\n");
    char path[4300];
    manifest_path(c->dir, path, sizeof(path));
    if (rc == 0)
        rc = file_write_atomic(path, buf_rptr(&text), buf_used(&text), 0600);
    buf_deinit(&text);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s; the engines are started again", path,
                 strerror(-rc));
        char why[256];
        if (supervisor_start(c->sup, (int)c->cfg->start_timeout, why, sizeof(why)) != 0)
            log_error("cache %s: %s", c->view.name, why);
        atomic_store(&vs->asleep, 0);
        return -1;
    }
    atomic_store(&sl->rest_bytes, total);
    atomic_fetch_add(&sl->hibernations, 1);
    sl->asleep_since_ms = (uint64_t)time(NULL) * 1000;
    cache_event(c, "hibernate",
                "idle for %ld s: engines saved and stopped in %llu ms, %llu bytes at rest; the "
                "next request wakes it",
                (long)((ev_clock_ms() - sl->idle_since_ms) / 1000),
                (unsigned long long)(ev_clock_ms() - t0), (unsigned long long)total);
    return 0;
}

int hibernate_wake(cache *c, char *err, size_t errlen)
{
    cache_sleep *sl = &c->sleep;
    view_sleep *vs = &c->view.sleep;
    uint64_t t0 = ev_clock_ms(), bytes = 0;
    char why[400];
    if (hibernate_verify(c->dir, &bytes, why, sizeof(why)) != 0) {
        snprintf(err, errlen,
                 "the snapshot it hibernated to did not verify (%s); nothing was loaded. Restore "
                 "a snapshot into a new cache, or see docs/operations.md",
                 why);
        return -1;
    }
    if (supervisor_start(c->sup, (int)c->cfg->start_timeout, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "its engines did not start: %s", why);
        supervisor_stop(c->sup, 5000);
        return -1;
    }
    int promoted = replicas_caught_up(c->dir) ? supervisor_promote_fresh_replicas(c->sup, 2000) : 0;
    char path[4300];
    manifest_path(c->dir, path, sizeof(path));
    unlink(path);
    atomic_store(&sl->rest_bytes, 0);
    atomic_store(&c->view.refresh_wanted, 1);
    atomic_store(&vs->asleep, 0);
    /* Requests that arrived while the engines started asked again: they are served now. */
    atomic_store(&vs->wake_wanted, 0);
    atomic_fetch_add(&sl->wakes, 1);
    int64_t took = (int64_t)(ev_clock_ms() - t0);
    atomic_store(&sl->last_wake_ms, took);
    sl->idle_since_ms = ev_clock_ms();
    cache_event(c, "wake",
                "a request arrived: %llu bytes verified and engines started in %lld ms (%d "
                "replica(s) took over, writable at once)",
                (unsigned long long)bytes, (long long)took, promoted);
    return 0;
}

/* What keeps a cache awake: commands charged by the meter (the free ones, PING among them, do
 * not count), or, with metering off, every command the endpoint received. Both are counted by
 * the workers already; idle detection reads them once a second. */
static uint64_t activity(const cache *c)
{
    if (c->view.meter.on && c->view.meter.cells) {
        meter_totals t;
        meter_ledger_totals(&c->view.meter, &t);
        return t.calls;
    }
    return (uint64_t)atomic_load_explicit(&c->view.counters.total_commands, memory_order_relaxed);
}

int hibernate_tick(cache *c, int full)
{
    cache_sleep *sl = &c->sleep;
    view_sleep *vs = &c->view.sleep;
    uint64_t now = ev_clock_ms();
    char err[600];
    if (atomic_load(&vs->asleep)) {
        if (atomic_exchange(&vs->wake_wanted, 0) && !atomic_load(&vs->wake_failed) &&
            hibernate_wake(c, err, sizeof(err)) != 0) {
            snprintf(vs->wake_error, sizeof(vs->wake_error), "ERR cache %s cannot wake: %s",
                     c->view.name, err);
            atomic_store(&vs->wake_failed, 1);
            cache_event(c, "wake-refused", "%s", err);
        }
        atomic_store(&vs->sleep_wanted, 0);
        return atomic_load(&vs->asleep);
    }
    if (c->view.follow)
        return 0;
    uint64_t act = full || !sl->idle_since_ms ? activity(c) : sl->seen_activity;
    if (!sl->idle_since_ms || act != sl->seen_activity ||
        atomic_load(&c->view.counters.private_links) > 0 || c->reshard.active) {
        sl->seen_activity = act;
        sl->idle_since_ms = now;
    }
    int wanted = atomic_exchange(&vs->sleep_wanted, 0);
    if (wanted || (full && sl->after_ms > 0 && now - sl->idle_since_ms >= (uint64_t)sl->after_ms)) {
        if (hibernate_sleep(c, err, sizeof(err)) != 0)
            cache_event(c, "hibernate-failed", "%s", err);
    }
    return atomic_load(&vs->asleep);
}
