/* Control plane internals shared by plane.c (definitions, events, start and stop),
 * plane_child.c (the caches' processes and the manager thread that watches them), plane_ops.c
 * (what the API asks of a cache) and plane_sample.c (reading the caches' figures). */
#ifndef STRATUS_PLANE_INT_H
#define STRATUS_PLANE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "control/cache.h"
#include "control/plane.h"
#include "control/settings.h"
#include "control/store.h"

#define READY_MS 30000 /* a new cache must answer PING within this */
#define STOP_MS 60000  /* a child must exit within this after SIGTERM */

/* A cache the plane runs. Invariant: pid > 0 exactly while its child process runs (not yet
 * reaped); the embedded cache has pid 0 and c set. */
typedef struct {
    plane_def def;
    plane_status status;
    cache *c;            /* embedded (`stratus up`): the in-process cache */
    pid_t pid;           /* child process */
    int stopping;        /* SIGTERM sent on purpose: its exit is not a crash */
    int failures;        /* consecutive quick exits */
    uint64_t started_ms; /* last spawn (monotonic) */
    uint64_t restart_at; /* after a crash: spawn again then (monotonic), 0: not pending */
    char error[300];
    plane_point pts[PLANE_POINTS]; /* ring of samples */
    size_t npts, head;             /* entries, next slot */
    double prev_ecpu;              /* counters at the previous sample */
    uint64_t prev_lat[VIEW_LATENCY_BUCKETS];
    int64_t prev_t;
    int busy;     /* an API call is working on it (create, modify, delete): the manager keeps off */
    buf metrics;  /* its last /metrics text (for the plane's own /metrics) */
    int sampling; /* the manager is sampling it unlocked: not freed until it is done */
    double ecpu_total, cost_to_date, month_forecast; /* from its usage records, refreshed by
                                                        the manager once a minute */
} pcache;

struct plane {
    settings cfg;
    char self[4096];
    char token[65];
    store *st;            /* guarded by lock */
    pthread_mutex_t lock; /* guards everything below and st */
    pcache **caches;
    size_t n, cap;
    pthread_t manager;
    int running;
    _Atomic int quit;
};

/* ---- plane.c ---- */

/* The cache named name, or NULL (lock held). */
pcache *plane_find_locked(plane *p, const char *name);
/* Store a cache's definition. 0 or the store's error (lock held). */
int plane_def_save(plane *p, const plane_def *d);
/* Log and store an event of cache cname (lock held). */
void plane_event_locked(plane *p, const char *cname, const char *kind, const char *msg);

/* ---- plane_child.c ---- */

/* Start pc's process (lock held). 0, or -1 with pc->error. */
int plane_child_spawn(plane *p, pcache *pc);
/* Wait (unlocked) until the child of pc answers PING over TLS; 0, or -1 with err. */
int plane_child_wait_ready(plane *p, pcache *pc, char *err, size_t errlen);
/* Ask the child to stop and wait for it (unlocked). */
void plane_child_stop(plane *p, pcache *pc);
/* Read the port the child bound (first start with port 0) into the definition (lock held). */
void plane_child_learn_port(plane *p, pcache *pc);
/* The manager thread: restarts children that died, marks started ones available, samples every
 * cache every PLANE_SAMPLE_MS and prices their usage once a minute, until p->quit. */
void *plane_manager_main(void *arg);

/* ---- plane_sample.c ---- */

/* Sample every cache's figures once into its series (unlocked; the manager thread). */
void plane_sample_all(plane *p, int64_t now_ms);
/* Wait until the manager no longer samples pc (already out of the list), so it can be freed. */
void plane_wait_unsampled(plane *p, pcache *pc);
/* The q-quantile (ms) of the replies counted between two cumulative latency histograms of n
 * buckets (view_latency_us), interpolated within its bucket; 0 without replies. */
double plane_quantile_ms(const uint64_t *now, const uint64_t *prev, int n, double q);

#endif
