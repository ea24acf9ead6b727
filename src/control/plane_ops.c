/* What the API asks of a cache (see plane.h): create, modify, delete, sleep and wake, and what
 * it shows (descriptions, series, bills). Long operations hold the cache (busy) and work
 * unlocked; the processes themselves are plane_child.c's. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/plane_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/file.h"
#include "control/endpoint.h"
#include "control/hibernate.h"
#include "control/usage.h"
#include "meter/bill.h"
#include "net/ev.h"

static const char *const status_names[] = {"creating", "available", "hibernating", "failed",
                                           "deleting"};

int plane_create(plane *p, const plane_def *d, char *err, size_t errlen)
{
    int rc = plane_def_check(d, err, errlen);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if (plane_find_locked(p, d->name)) {
        pthread_mutex_unlock(&p->lock);
        snprintf(err, errlen, "a cache named \"%s\" exists already; pick another name or delete it",
                 d->name);
        return -EEXIST;
    }
    char dir[4300];
    plane_cache_dir(p, d->name, dir, sizeof(dir));
    if (access(dir, F_OK) == 0) {
        /* Data of a cache this plane does not know (`stratus up` ran on this data dir, say):
         * never overwritten. */
        pthread_mutex_unlock(&p->lock);
        snprintf(err, errlen,
                 "%s holds the data of an earlier cache named \"%s\"; pick another name, or move "
                 "that directory away first",
                 dir, d->name);
        return -EEXIST;
    }
    pcache *pc = xcalloc(1, sizeof(*pc));
    pc->def = *d;
    pc->def.port = 0;
    if (!pc->def.created_ms)
        pc->def.created_ms = (int64_t)time(NULL) * 1000;
    pc->status = PLANE_CREATING;
    pc->busy = 1;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->caches = xrealloc(p->caches, p->cap * sizeof(*p->caches));
    }
    p->caches[p->n++] = pc;
    rc = plane_def_save(p, &pc->def) == 0 && plane_child_spawn(p, pc) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "cannot start it: %s", pc->error[0] ? pc->error : "store error");
    pthread_mutex_unlock(&p->lock);
    if (rc == 0)
        rc = plane_child_wait_ready(p, pc, err, errlen);
    pthread_mutex_lock(&p->lock);
    if (rc == 0) {
        plane_child_learn_port(p, pc);
        pc->status = PLANE_AVAILABLE;
        pc->busy = 0;
        plane_event_locked(p, d->name, "create", "created and answering PING");
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    pc->status = PLANE_FAILED;
    snprintf(pc->error, sizeof(pc->error), "%s", err);
    pthread_mutex_unlock(&p->lock);
    /* A cache that never served is not kept: the caller may fix the setting and try again. */
    plane_child_stop(p, pc);
    pthread_mutex_lock(&p->lock);
    store_clear(p->st, d->name, "definition");
    for (size_t i = 0; i < p->n; i++)
        if (p->caches[i] == pc) {
            p->caches[i] = p->caches[--p->n];
            break;
        }
    pthread_mutex_unlock(&p->lock);
    plane_wait_unsampled(p, pc);
    file_remove_tree(dir);
    buf_deinit(&pc->metrics);
    xfree(pc);
    return -EIO;
}

/* Take a cache for a long API operation: it exists, is not embedded (unless allowed), and no
 * other operation holds it. */
static pcache *take(plane *p, const char *name, int embedded_ok, char *err, size_t errlen, int *rc)
{
    pthread_mutex_lock(&p->lock);
    pcache *pc = plane_find_locked(p, name);
    if (!pc) {
        *rc = -ENOENT;
        snprintf(err, errlen, "no cache named \"%s\"; `stratus cache list` shows the caches", name);
    } else if (pc->c && !embedded_ok) {
        *rc = -EBUSY;
        snprintf(err, errlen,
                 "cache \"%s\" is the one `stratus up` runs in its own process: restart `stratus "
                 "up` with other settings instead",
                 name);
        pc = NULL;
    } else if (pc->busy) {
        *rc = -EBUSY;
        snprintf(err, errlen, "cache \"%s\" is %s; retry when it is done", name,
                 status_names[pc->status]);
        pc = NULL;
    } else {
        pc->busy = 1;
        *rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return pc;
}

static void give_back(plane *p, pcache *pc)
{
    pthread_mutex_lock(&p->lock);
    pc->busy = 0;
    pthread_mutex_unlock(&p->lock);
}

int plane_modify(plane *p, const plane_def *d, int *restarted, char *err, size_t errlen)
{
    *restarted = 0;
    int rc = plane_def_check(d, err, errlen);
    if (rc != 0)
        return rc;
    pcache *pc = take(p, d->name, 0, err, errlen, &rc);
    if (!pc)
        return rc;
    plane_def old = pc->def;
    plane_def nd = *d;
    nd.port = old.port;
    nd.created_ms = old.created_ms;
    if (nd.replicas != old.replicas) {
        give_back(p, pc);
        snprintf(err, errlen,
                 "replicas are set at creation; restore a snapshot into a new cache "
                 "with other replicas");
        return -EINVAL;
    }
    int restart =
        nd.max_ecpu_per_second != old.max_ecpu_per_second ||
        strcmp(nd.max_storage, old.max_storage) != 0 || strcmp(nd.eviction, old.eviction) != 0 ||
        nd.hibernate_after != old.hibernate_after || strcmp(nd.durability, old.durability) != 0 ||
        strcmp(nd.zones, old.zones) != 0 || strcmp(nd.preferred_zone, old.preferred_zone) != 0;
    pthread_mutex_lock(&p->lock);
    pc->def = nd;
    plane_def_save(p, &nd);
    pthread_mutex_unlock(&p->lock);
    if (nd.shards != old.shards) {
        /* Shards change live: a reshard, clients see nothing. */
        char dir[4300], out[256], n[16];
        plane_cache_dir(p, nd.name, dir, sizeof(dir));
        snprintf(n, sizeof(n), "%d", nd.shards);
        const char *argv[] = {"STRATUS", "SCALE", n};
        if (endpoint_call(dir, 3, argv, out, sizeof(out), err, errlen) != 0 && !restart) {
            give_back(p, pc);
            return -EIO;
        }
    }
    if (restart) {
        plane_child_stop(p, pc);
        pthread_mutex_lock(&p->lock);
        pc->status = PLANE_CREATING;
        rc = plane_child_spawn(p, pc);
        pthread_mutex_unlock(&p->lock);
        rc = rc == 0 ? plane_child_wait_ready(p, pc, err, errlen) : -1;
        pthread_mutex_lock(&p->lock);
        pc->status = rc == 0 ? PLANE_AVAILABLE : PLANE_FAILED;
        if (rc != 0)
            snprintf(pc->error, sizeof(pc->error), "%s", err);
        pthread_mutex_unlock(&p->lock);
        *restarted = 1;
    }
    plane_event(p, nd.name, "modify", "settings changed%s",
                restart ? "; its process was restarted with them (clients reconnect)" : "");
    give_back(p, pc);
    return rc == 0 ? 0 : -EIO;
}

int plane_delete(plane *p, const char *name, char *err, size_t errlen)
{
    int rc;
    pcache *pc = take(p, name, 0, err, errlen, &rc);
    if (!pc)
        return rc;
    pthread_mutex_lock(&p->lock);
    pc->status = PLANE_DELETING;
    pthread_mutex_unlock(&p->lock);
    plane_child_stop(p, pc);
    char dir[4300];
    plane_cache_dir(p, name, dir, sizeof(dir));
    pthread_mutex_lock(&p->lock);
    store_clear(p->st, name, "definition");
    /* What clients changed belongs to the cache: a new cache of that name starts clean. */
    static const char *const kinds[] = {"config", "user", "script"};
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++)
        store_clear(p->st, name, kinds[k]);
    for (size_t i = 0; i < p->n; i++)
        if (p->caches[i] == pc) {
            p->caches[i] = p->caches[--p->n];
            break;
        }
    plane_event_locked(p, name, "delete", "stopped and removed with its data (usage records kept)");
    pthread_mutex_unlock(&p->lock);
    plane_wait_unsampled(p, pc);
    rc = file_remove_tree(dir);
    buf_deinit(&pc->metrics);
    xfree(pc);
    if (rc != 0) {
        snprintf(err, errlen, "stopped, but %s could not be removed: %s", dir, strerror(-rc));
        return -EIO;
    }
    return 0;
}

/* ---- sleep and wake ---- */

int plane_hibernate(plane *p, const char *name, char *err, size_t errlen)
{
    int rc;
    pcache *pc = take(p, name, 1, err, errlen, &rc);
    if (!pc)
        return rc;
    char dir[4300], out[256];
    plane_cache_dir(p, name, dir, sizeof(dir));
    const char *argv[] = {"STRATUS", "HIBERNATE"};
    rc = endpoint_call(dir, 2, argv, out, sizeof(out), err, errlen);
    if (rc > 0)
        snprintf(err, errlen, "%s", out);
    /* Return once it sleeps: the manifest is written after the engines stopped. */
    uint64_t deadline = ev_clock_ms() + STOP_MS;
    while (rc == 0 && !hibernate_present(dir)) {
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen, "it did not fall asleep within %d ms; see %s/stratus.log",
                     STOP_MS, dir);
            rc = -1;
        }
        poll(NULL, 0, 10);
    }
    give_back(p, pc);
    return rc == 0 ? 0 : -EIO;
}

int plane_wake(plane *p, const char *name, char *err, size_t errlen)
{
    int rc;
    pcache *pc = take(p, name, 1, err, errlen, &rc);
    if (!pc)
        return rc;
    char dir[4300], out[512];
    plane_cache_dir(p, name, dir, sizeof(dir));
    /* Any command that needs data wakes it; DBSIZE returns once every shard answers. */
    const char *argv[] = {"DBSIZE"};
    rc = endpoint_call(dir, 1, argv, out, sizeof(out), err, errlen);
    if (rc > 0)
        snprintf(err, errlen, "%s", out);
    give_back(p, pc);
    return rc == 0 ? 0 : -EIO;
}

/* ---- what the API shows ---- */

int plane_endpoint(plane *p, const char *name, char *host, size_t hostlen, int *port, char *ca,
                   size_t calen, char *password, size_t pwlen)
{
    (void)p;
    char dir[4300], path[4400];
    int metrics;
    plane_cache_dir(p, name, dir, sizeof(dir));
    if (endpoint_read(dir, host, hostlen, port, ca, calen, &metrics) != 0)
        return -ENOENT;
    snprintf(path, sizeof(path), "%s/password", dir);
    file_read_line(path, password, pwlen);
    return 0;
}

static void info_of(plane *p, pcache *pc, plane_info *out)
{
    memset(out, 0, sizeof(*out));
    out->def = pc->def;
    out->status = pc->status;
    out->embedded = pc->c != NULL;
    out->pid = pc->c ? (int)getpid() : (int)pc->pid;
    snprintf(out->error, sizeof(out->error), "%s", pc->error);
    if (pc->npts)
        out->last = pc->pts[(pc->head + PLANE_POINTS - 1) % PLANE_POINTS];
    out->ecpu_total = pc->ecpu_total;
    out->cost_to_date = pc->cost_to_date;
    out->month_forecast = pc->month_forecast;
    (void)p;
}

/* Fill what needs files (outside the plane's lock). */
static void info_extra(plane *p, plane_info *out)
{
    plane_endpoint(p, out->def.name, out->host, sizeof(out->host), &out->def.port, out->ca,
                   sizeof(out->ca), out->password, sizeof(out->password));
}

int plane_describe(plane *p, const char *name, plane_info *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    pcache *pc = plane_find_locked(p, name);
    if (pc)
        info_of(p, pc, out);
    pthread_mutex_unlock(&p->lock);
    if (!pc) {
        snprintf(err, errlen, "no cache named \"%s\"; `stratus cache list` shows the caches", name);
        return -ENOENT;
    }
    info_extra(p, out);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const plane_info *)a)->def.name, ((const plane_info *)b)->def.name);
}

plane_def *plane_defs(plane *p, size_t *n)
{
    pthread_mutex_lock(&p->lock);
    plane_def *list = xcalloc(p->n ? p->n : 1, sizeof(*list));
    *n = p->n;
    for (size_t i = 0; i < p->n; i++)
        list[i] = p->caches[i]->def;
    pthread_mutex_unlock(&p->lock);
    return list;
}

plane_info *plane_list(plane *p, size_t *n)
{
    pthread_mutex_lock(&p->lock);
    plane_info *list = xcalloc(p->n ? p->n : 1, sizeof(*list));
    *n = p->n;
    for (size_t i = 0; i < p->n; i++)
        info_of(p, p->caches[i], &list[i]);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < *n; i++)
        info_extra(p, &list[i]);
    qsort(list, *n, sizeof(*list), by_name);
    return list;
}

size_t plane_series(plane *p, const char *name, plane_point *out, size_t max)
{
    size_t got = 0;
    pthread_mutex_lock(&p->lock);
    pcache *pc = plane_find_locked(p, name);
    if (pc) {
        size_t start = pc->npts > max ? pc->npts - max : 0;
        for (size_t i = start; i < pc->npts; i++)
            out[got++] = pc->pts[(pc->head + PLANE_POINTS - pc->npts + i) % PLANE_POINTS];
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

int plane_bill(plane *p, const char *name, int64_t from, int64_t to, const price_sheet *sheet,
               bill_report *r)
{
    bill_begin(r, from, to);
    pthread_mutex_lock(&p->lock);
    int rc = store_usage_each(p->st, name, from, to, usage_bill_row, r);
    pthread_mutex_unlock(&p->lock);
    bill_finish(r, sheet, 0);
    return rc;
}

int plane_cost(plane *p, const char *name, double *to_date, double *forecast, double *ecpu,
               double *gb_hours, double *rest_gb_hours)
{
    price_sheet sheet;
    bill_sheet_builtin("redis-oss", &sheet);
    bill_report r;
    int rc = plane_bill(p, name, 0, (int64_t)(time(NULL) / 60) + 1, &sheet, &r);
    *to_date = r.total;
    *forecast = r.forecast_month;
    *ecpu = (double)r.mecpu / 1000.0;
    *gb_hours = r.gb_hours;
    *rest_gb_hours = r.rest_gb_hours;
    bill_end(&r);
    return rc;
}
