/* Prometheus metrics over HTTP (GET /metrics), served by libmicrohttpd on its own thread: the
 * meter (ECPU, storage, throttled commands, per command type) with names that mirror
 * ElastiCache's CloudWatch metrics, and the endpoint's counters. GET /metrics.json gives the
 * control plane the figures it charts with that text (control/figures.h). Reads only atomics
 * and RCU-free snapshots: it never blocks a worker. */
#ifndef STRATUS_METRICS_H
#define STRATUS_METRICS_H

#include <stddef.h>

#include "common/buf.h"
#include "control/cache.h"

typedef struct metrics_server metrics_server;

/* Listen on bind:port (0: any free port) and serve c's metrics to requests whose Host names
 * bind, localhost or one of hosts (--api-hosts). NULL with err. */
metrics_server *metrics_start(cache *c, const char *bind, int port, const char *hosts, char *err,
                              size_t errlen);
/* The port bound. */
int metrics_port(const metrics_server *m);
/* Stop serving and free; NULL is allowed. */
void metrics_stop(metrics_server *m);
/* The exposition text for c (Prometheus text format 0.0.4), appended to out. */
void metrics_render(cache *c, buf *out);

#endif
