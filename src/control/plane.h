/* The control plane: many caches on one machine. It keeps their definitions in the store,
 * runs each cache as a child `stratus up --cache-name NAME` process (so one cache's crash or
 * memory never touches another's), restarts children that die, samples their metrics for the
 * console, and takes snapshots (control/snapshot.c). Served over HTTP by control/api.c.
 * Thread-safe: every entry point takes the plane's lock for what it touches. */
#ifndef STRATUS_PLANE_H
#define STRATUS_PLANE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "control/cache.h"
#include "control/settings.h"
#include "meter/bill.h"

/* A cache as its owner defined it (CreateServerlessCache's fields, plus Stratus's own). */
typedef struct {
    char name[41]; /* lowercase letters, digits, hyphens; starts with a letter */
    char description[256];
    int shards;                  /* at creation */
    int replicas;                /* per shard */
    char durability[8];          /* async | sync */
    long max_ecpu_per_second;    /* usage limit, 0: none */
    char max_storage[24];        /* usage limit ("0": none), e.g. "10gb" */
    char eviction[24];           /* maxmemory-policy at max_storage, e.g. "volatile-lru" */
    long hibernate_after;        /* seconds, 0: never */
    char zones[64];              /* --zones */
    char preferred_zone[16];     /* --preferred-zone */
    char daily_snapshot_time[6]; /* "HH:MM" UTC, "" for none */
    int snapshot_retention;      /* daily snapshots kept */
    int port;                    /* TLS port (0 until first start) */
    int64_t created_ms;          /* unix ms */
} plane_def;

/* What a cache is doing now. */
typedef enum {
    PLANE_CREATING,
    PLANE_AVAILABLE,
    PLANE_HIBERNATING,
    PLANE_FAILED,
    PLANE_DELETING,
} plane_status;

/* One sample of a cache (every PLANE_SAMPLE_MS). */
typedef struct {
    int64_t t_ms;          /* unix ms */
    double ecpu_s;         /* ECPU per second since the previous sample */
    uint64_t storage;      /* dataset bytes */
    double p50_ms, p99_ms; /* reply latency over the interval (0 without replies) */
    int shards;
    int connections;
    int asleep;
} plane_point;

#define PLANE_SAMPLE_MS 2000
#define PLANE_POINTS 1800 /* one hour of samples */

/* A cache as the API shows it. */
typedef struct {
    plane_def def;
    plane_status status;
    int embedded; /* the `stratus up` cache, in the plane's own process */
    char host[64];
    char password[65];
    char ca[4096];
    int pid;
    plane_point last;                                /* latest sample */
    double ecpu_total, cost_to_date, month_forecast; /* from the usage records */
    char error[300];                                 /* why it failed */
} plane_info;

typedef struct plane plane;

/* Errors: negative errno-style codes the API maps to HTTP (-ENOENT 404, -EEXIST 409, -EINVAL
 * 400, -EBUSY 409, others 500); err says what to do. */

/* Start the plane for cfg (its data dir locked by the caller): load definitions, start every
 * cache's process, and sample them. embedded: the in-process cache of `stratus up`, or NULL.
 * self: this program's path (for the children). NULL with err. */
plane *plane_start(const settings *cfg, const char *self, cache *embedded, char *err,
                   size_t errlen);
/* Stop every child (they save and stop their engines) and free. */
void plane_stop(plane *p);
/* Every cache's latest metrics, merged into one Prometheus text (each family once). */
void plane_metrics(plane *p, buf *out);
/* The admin token (64 hex digits). */
const char *plane_token(const plane *p);
/* The service settings. */
const settings *plane_settings(const plane *p);
/* Default definition for a new cache named name (the service's settings). */
void plane_def_defaults(const plane *p, plane_def *d);
/* Check a definition; 0 or -EINVAL with err. */
int plane_def_check(const plane_def *d, char *err, size_t errlen);
/* Create a cache and return once it answers PING over TLS (or fail). */
int plane_create(plane *p, const plane_def *d, char *err, size_t errlen);
/* Replace a cache's definition (name and port are kept) and restart its process when a
 * setting of its engines or endpoint changed (*restarted says so). */
int plane_modify(plane *p, const plane_def *d, int *restarted, char *err, size_t errlen);
/* Stop a cache and remove it with its data (its usage records stay for the bill). */
int plane_delete(plane *p, const char *name, char *err, size_t errlen);
/* Describe one cache. */
int plane_describe(plane *p, const char *name, plane_info *out, char *err, size_t errlen);
/* Every cache, by name; *n entries (xfree the array). */
plane_info *plane_list(plane *p, size_t *n);
/* Every cache's definition (cheap: no files, no usage); *n entries (xfree the array). */
plane_def *plane_defs(plane *p, size_t *n);
/* Put a cache to sleep now (hibernate) or wake it. */
int plane_hibernate(plane *p, const char *name, char *err, size_t errlen);
int plane_wake(plane *p, const char *name, char *err, size_t errlen);
/* Copy a cache's samples (oldest first) into out (at most max); their number. */
size_t plane_series(plane *p, const char *name, plane_point *out, size_t max);
/* Call fn for the newest limit events (of cache, or of every cache when NULL), newest first. */
void plane_events(plane *p, const char *cname, size_t limit,
                  void (*fn)(void *arg, int64_t ms, const char *cname, const char *kind,
                             const char *msg),
                  void *arg);
/* Record an event of cache (API actions: create, modify, delete, snapshots). */
void plane_event(plane *p, const char *cname, const char *kind, const char *fmt, ...)
    ATTR_PRINTF(4, 5);
/* Price cache name's usage records in [from, to) minutes with sheet into r (begun and finished
 * here; the caller ends it with bill_end). 0, or -1 if the records cannot be read. */
int plane_bill(plane *p, const char *name, int64_t from, int64_t to, const price_sheet *sheet,
               bill_report *r);
/* The bill of a cache so far, at ElastiCache Serverless for Redis OSS prices: to-date cost and
 * month forecast, ECPU, storage and at-rest GB-hours. */
int plane_cost(plane *p, const char *name, double *to_date, double *forecast, double *ecpu,
               double *gb_hours, double *rest_gb_hours);
/* The directory of cache name (where its engines and endpoint file live). */
void plane_cache_dir(const plane *p, const char *name, char *out, size_t outlen);
/* The TLS endpoint of a running cache: host, port, CA file and password. 0 or -ENOENT. */
int plane_endpoint(plane *p, const char *name, char *host, size_t hostlen, int *port, char *ca,
                   size_t calen, char *password, size_t pwlen);

#endif
