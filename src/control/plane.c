/* The control plane (see plane.h): cache definitions and events in the store, start and stop.
 * The caches' processes and the manager thread are plane_child.c's, what the API asks of a cache
 * plane_ops.c's, reading the caches' figures plane_sample.c's (plane_int.h). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/plane_int.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/file.h"
#include "common/log.h"
#include "net/ev.h"
#include "net/tls.h"

/* ---- definitions ---- */

static void def_encode(const plane_def *d, buf *out)
{
    buf_appendf(out,
                "description=%s\nshards=%d\nreplicas=%d\ndurability=%s\nmax_ecpu_per_second=%ld\n"
                "max_storage=%s\neviction=%s\nhibernate_after=%ld\nzones=%s\npreferred_zone=%s\n"
                "daily_snapshot_time=%s\nsnapshot_retention=%d\nport=%d\ncreated_ms=%lld\n",
                d->description, d->shards, d->replicas, d->durability, d->max_ecpu_per_second,
                d->max_storage, d->eviction, d->hibernate_after, d->zones, d->preferred_zone,
                d->daily_snapshot_time, d->snapshot_retention, d->port, (long long)d->created_ms);
}

static void def_decode(plane_def *d, const char *text, size_t len)
{
    char *copy = xstrndup(text, len), *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = l, *v = eq + 1;
        if (strcmp(k, "description") == 0)
            snprintf(d->description, sizeof(d->description), "%s", v);
        else if (strcmp(k, "shards") == 0)
            d->shards = atoi(v);
        else if (strcmp(k, "replicas") == 0)
            d->replicas = atoi(v);
        else if (strcmp(k, "durability") == 0)
            snprintf(d->durability, sizeof(d->durability), "%s", v);
        else if (strcmp(k, "max_ecpu_per_second") == 0)
            d->max_ecpu_per_second = atol(v);
        else if (strcmp(k, "max_storage") == 0)
            snprintf(d->max_storage, sizeof(d->max_storage), "%s", v);
        else if (strcmp(k, "eviction") == 0)
            snprintf(d->eviction, sizeof(d->eviction), "%s", v);
        else if (strcmp(k, "hibernate_after") == 0)
            d->hibernate_after = atol(v);
        else if (strcmp(k, "zones") == 0)
            snprintf(d->zones, sizeof(d->zones), "%s", v);
        else if (strcmp(k, "preferred_zone") == 0)
            snprintf(d->preferred_zone, sizeof(d->preferred_zone), "%s", v);
        else if (strcmp(k, "daily_snapshot_time") == 0)
            snprintf(d->daily_snapshot_time, sizeof(d->daily_snapshot_time), "%s", v);
        else if (strcmp(k, "snapshot_retention") == 0)
            d->snapshot_retention = atoi(v);
        else if (strcmp(k, "port") == 0)
            d->port = atoi(v);
        else if (strcmp(k, "created_ms") == 0)
            d->created_ms = atoll(v);
    }
    xfree(copy);
}

int plane_def_save(plane *p, const plane_def *d)
{
    buf b;
    buf_init(&b);
    def_encode(d, &b);
    int rc = store_put(p->st, d->name, "definition", "v1", buf_rptr(&b), buf_used(&b));
    buf_deinit(&b);
    return rc;
}

void plane_def_defaults(const plane *p, plane_def *d)
{
    memset(d, 0, sizeof(*d));
    d->shards = (int)p->cfg.shards;
    d->replicas = (int)p->cfg.replicas;
    snprintf(d->durability, sizeof(d->durability), "%s", p->cfg.durability);
    d->max_ecpu_per_second = p->cfg.max_ecpu_per_second;
    snprintf(d->max_storage, sizeof(d->max_storage), "%s", p->cfg.max_storage);
    snprintf(d->eviction, sizeof(d->eviction), "%s", p->cfg.eviction);
    d->hibernate_after = p->cfg.hibernate_after;
    snprintf(d->zones, sizeof(d->zones), "%s", p->cfg.zones);
    snprintf(d->preferred_zone, sizeof(d->preferred_zone), "%s", p->cfg.preferred_zone);
    d->snapshot_retention = 7;
}

/* AWS's rule for cache names: 1-40 characters, lowercase letters, digits and hyphens, starting
 * with a letter, no two hyphens in a row, not ending with a hyphen. */
static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > 40 || !islower((unsigned char)n[0]) || n[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '-'))
            return 0;
        if (ch == '-' && n[i + 1] == '-')
            return 0;
    }
    return 1;
}

int plane_def_check(const plane_def *d, char *err, size_t errlen)
{
    if (!name_ok(d->name)) {
        snprintf(err, errlen,
                 "name \"%s\": use 1 to 40 lowercase letters, digits and hyphens, starting with a "
                 "letter (no \"--\", no trailing hyphen)",
                 d->name);
        return -EINVAL;
    }
    if (d->shards < 1 || d->shards > 64 || d->replicas < 0 || d->replicas > 2) {
        snprintf(err, errlen, "shards must be 1 to 64 and replicas 0 to 2 (got %d and %d)",
                 d->shards, d->replicas);
        return -EINVAL;
    }
    if (d->shards * (1 + d->replicas) > 64) {
        snprintf(err, errlen, "shards x (1 + replicas) must be at most 64");
        return -EINVAL;
    }
    if (strcmp(d->durability, "async") != 0 && strcmp(d->durability, "sync") != 0) {
        snprintf(err, errlen, "durability must be \"async\" or \"sync\" (got \"%s\")",
                 d->durability);
        return -EINVAL;
    }
    if (strcmp(d->durability, "sync") == 0 && d->replicas < 1) {
        snprintf(err, errlen, "durability \"sync\" needs at least one replica");
        return -EINVAL;
    }
    if (d->max_ecpu_per_second < 0 || d->max_ecpu_per_second > 1000000000) {
        snprintf(err, errlen, "max_ecpu_per_second must be 0 (no limit) to 1000000000");
        return -EINVAL;
    }
    if (!cache_eviction_ok(d->eviction)) {
        snprintf(err, errlen, "eviction \"%s\" is not one of %s", d->eviction,
                 cache_eviction_policies());
        return -EINVAL;
    }
    if (d->hibernate_after < 0 || d->hibernate_after > 31536000) {
        snprintf(err, errlen, "hibernate_after_seconds must be 0 (never) to 31536000");
        return -EINVAL;
    }
    char *end;
    double v = strtod(d->max_storage, &end);
    if (end == d->max_storage || v < 0 ||
        (*end && strcasecmp(end, "b") && strcasecmp(end, "kb") && strcasecmp(end, "mb") &&
         strcasecmp(end, "gb"))) {
        snprintf(err, errlen,
                 "max_storage must be a size such as 0 (no limit), 512mb or 10gb "
                 "(got \"%s\")",
                 d->max_storage);
        return -EINVAL;
    }
    if (strpbrk(d->description, "\n\r")) {
        snprintf(err, errlen, "description must be one line");
        return -EINVAL;
    }
    int hh, mm;
    char extra;
    if (d->daily_snapshot_time[0] &&
        (sscanf(d->daily_snapshot_time, "%2d:%2d%c", &hh, &mm, &extra) != 2 || hh < 0 || hh > 23 ||
         mm < 0 || mm > 59)) {
        snprintf(err, errlen, "daily_snapshot_time must be HH:MM in UTC (got \"%s\")",
                 d->daily_snapshot_time);
        return -EINVAL;
    }
    if (d->snapshot_retention < 0 || d->snapshot_retention > 35) {
        snprintf(err, errlen, "snapshot_retention_limit must be 0 to 35 (AWS's bound)");
        return -EINVAL;
    }
    for (const char *s = d->zones; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == ',' || *s == '-')) {
            snprintf(err, errlen, "zones must be a comma-separated list of zone names");
            return -EINVAL;
        }
    return 0;
}

/* ---- events ---- */

void plane_event_locked(plane *p, const char *cname, const char *kind, const char *msg)
{
    log_info("cache %s: %s: %s", cname, kind, msg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static unsigned seq;
    char name[48], value[600];
    snprintf(name, sizeof(name), "%013lld-p%05u",
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, seq++ % 100000);
    int n = snprintf(value, sizeof(value), "%s\t%s", kind, msg);
    store_put(p->st, cname, "event", name, value, (size_t)MIN((size_t)n, sizeof(value) - 1));
}

void plane_event(plane *p, const char *cname, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->lock);
    plane_event_locked(p, cname, kind, msg);
    pthread_mutex_unlock(&p->lock);
}

typedef struct {
    int64_t ms;
    char cache[41], kind[32], msg[520];
} event_row;

typedef struct {
    event_row *rows;
    size_t n, cap;
} event_list;

static void collect_event(void *arg, const char *cname, const char *name, const char *value,
                          size_t vlen)
{
    event_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->rows = xrealloc(l->rows, l->cap * sizeof(*l->rows));
    }
    event_row *r = &l->rows[l->n++];
    r->ms = strtoll(name, NULL, 10);
    snprintf(r->cache, sizeof(r->cache), "%s", cname);
    const char *tab = memchr(value, '\t', vlen);
    size_t kl = tab ? (size_t)(tab - value) : 0;
    snprintf(r->kind, sizeof(r->kind), "%.*s", (int)kl, value);
    size_t off = tab ? kl + 1 : 0;
    snprintf(r->msg, sizeof(r->msg), "%.*s", (int)(vlen - off), value + off);
}

static int newest_first(const void *a, const void *b)
{
    const event_row *x = a, *y = b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

void plane_events(plane *p, const char *cname, size_t limit,
                  void (*fn)(void *arg, int64_t ms, const char *cache, const char *kind,
                             const char *msg),
                  void *arg)
{
    event_list l = {0};
    pthread_mutex_lock(&p->lock);
    store_each_cache(p->st, "event", collect_event, &l);
    pthread_mutex_unlock(&p->lock);
    if (l.n)
        qsort(l.rows, l.n, sizeof(*l.rows), newest_first);
    size_t shown = 0;
    for (size_t i = 0; i < l.n && shown < limit; i++) {
        if (cname && strcmp(cname, l.rows[i].cache) != 0)
            continue;
        fn(arg, l.rows[i].ms, l.rows[i].cache, l.rows[i].kind, l.rows[i].msg);
        shown++;
    }
    xfree(l.rows);
}

/* ---- the caches ---- */

void plane_cache_dir(const plane *p, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/caches/%s", p->cfg.data_dir, name);
}

pcache *plane_find_locked(plane *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->caches[i]->def.name, name) == 0)
            return p->caches[i];
    return NULL;
}

/* ---- start and stop ---- */

static void load_def(void *arg, const char *cname, const char *name, const char *value, size_t vlen)
{
    (void)name;
    plane *p = arg;
    if (plane_find_locked(p, cname))
        return;
    pcache *pc = xcalloc(1, sizeof(*pc));
    plane_def_defaults(p, &pc->def);
    snprintf(pc->def.name, sizeof(pc->def.name), "%s", cname);
    def_decode(&pc->def, value, vlen);
    pc->status = PLANE_CREATING;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->caches = xrealloc(p->caches, p->cap * sizeof(*p->caches));
    }
    p->caches[p->n++] = pc;
}

static int token_file(plane *p, char *err, size_t errlen)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/admin-token", p->cfg.data_dir);
    buf b;
    buf_init(&b);
    int rc = file_read_all(path, &b, 4096);
    if (rc == 0 && buf_used(&b) >= 64) {
        snprintf(p->token, sizeof(p->token), "%.64s", buf_rptr(&b));
        buf_deinit(&b);
        return 0;
    }
    buf_deinit(&b);
    if (crypto_random_hex(p->token, 32) != 0) {
        snprintf(err, errlen, "cannot generate the admin token");
        return -1;
    }
    char text[80];
    int n = snprintf(text, sizeof(text), "%s\n", p->token);
    rc = file_write_atomic(path, text, (size_t)n, 0600);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
        return -1;
    }
    return 0;
}

plane *plane_start(const settings *cfg, const char *self, cache *embedded, char *err, size_t errlen)
{
    plane *p = xcalloc(1, sizeof(*p));
    p->cfg = *cfg;
    snprintf(p->self, sizeof(p->self), "%s", self);
    pthread_mutex_init(&p->lock, NULL);
    char db[4300];
    snprintf(db, sizeof(db), "%s/stratus.db", cfg->data_dir);
    if (token_file(p, err, errlen) != 0 || !(p->st = store_open(db, err, errlen)))
        goto fail;
    pthread_mutex_lock(&p->lock);
    if (embedded) {
        pcache *pc = xcalloc(1, sizeof(*pc));
        plane_def_defaults(p, &pc->def);
        snprintf(pc->def.name, sizeof(pc->def.name), "%s", embedded->view.name);
        pc->def.port = embedded->view.port;
        pc->c = embedded;
        pc->status = PLANE_AVAILABLE;
        p->caches = xcalloc(16, sizeof(*p->caches));
        p->cap = 16;
        p->caches[p->n++] = pc;
    }
    store_each_cache(p->st, "definition", load_def, p);
    for (size_t i = 0; i < p->n; i++) {
        pcache *pc = p->caches[i];
        if (!pc->c && plane_child_spawn(p, pc) != 0) {
            pc->status = PLANE_FAILED;
            pc->restart_at = ev_clock_ms() + 5000;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (pthread_create(&p->manager, NULL, plane_manager_main, p) != 0) {
        snprintf(err, errlen, "cannot start the control plane's thread");
        goto fail;
    }
    p->running = 1;
    return p;
fail:
    plane_stop(p);
    return NULL;
}

void plane_stop(plane *p)
{
    if (!p)
        return;
    atomic_store(&p->quit, 1);
    if (p->running)
        pthread_join(p->manager, NULL);
    /* Children stop together: each saves its engines. */
    for (size_t i = 0; i < p->n; i++) {
        pcache *pc = p->caches[i];
        pc->stopping = 1;
        if (pc->pid > 0)
            kill(pc->pid, SIGTERM);
    }
    for (size_t i = 0; i < p->n; i++) {
        plane_child_stop(p, p->caches[i]);
        buf_deinit(&p->caches[i]->metrics);
        xfree(p->caches[i]);
    }
    xfree(p->caches);
    store_close(p->st);
    pthread_mutex_destroy(&p->lock);
    xfree(p);
}

const char *plane_token(const plane *p)
{
    return p->token;
}

const settings *plane_settings(const plane *p)
{
    return &p->cfg;
}
