/* A cache's figures for its control plane, as one JSON object: what the console charts (ECPU,
 * storage, shards, connections, sleep, the reply latency histogram) as typed members, and the
 * cache's Prometheus text for the plane's own /metrics. The cache's process renders it (GET
 * /metrics.json on its --metrics-port, control/metrics.c); the plane parses it
 * (control/plane_sample.c). The format is defined here only, both ways. */
#ifndef STRATUS_FIGURES_H
#define STRATUS_FIGURES_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "control/cache.h"

/* One sample of a cache's figures. Invariant: lat is cumulative (non-decreasing), bucket i
 * counting the replies that took up to view_latency_us[i], the last one every reply. */
typedef struct {
    char cache[64];                     /* the cache's name */
    uint64_t mecpu;                     /* ECPU charged, in milli-ECPU (recorded + live) */
    uint64_t storage;                   /* dataset bytes over the primaries, last sample */
    int shards;                         /* shards of the published topology */
    int connections;                    /* client connections open now */
    int asleep;                         /* hibernating: engines saved and stopped */
    uint64_t lat[VIEW_LATENCY_BUCKETS]; /* replies by time to reply, cumulative */
} cache_figures;

/* Most bytes a figures object may take (the Prometheus text is most of it). */
#define FIGURES_MAX_BYTES (8u << 20)

/* Encode f and the Prometheus text prom (plen bytes; NULL when 0) as one JSON object, appended
 * to out. */
void figures_encode(const cache_figures *f, const char *prom, size_t plen, buf *out);
/* The figures of c now, encoded (any thread: reads atomics and the stats lock only). */
void figures_render(cache *c, buf *out);
/* Decode a figures object of len bytes into f, its Prometheus text into prom (replacing what
 * prom held). 0, or -EINVAL with err naming what is wrong (f and prom are then unspecified). */
int figures_decode(const char *text, size_t len, cache_figures *f, buf *prom, char *err,
                   size_t errlen);

#endif
