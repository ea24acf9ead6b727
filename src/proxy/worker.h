/* Worker threads: each runs one event loop that owns its listeners' accepted connections for
 * life, its backend links, and its retry list. Topology arrives by RCU from the control
 * thread. */
#ifndef STRATUS_WORKER_H
#define STRATUS_WORKER_H

#include <stddef.h>

#include "proxy/view.h"

typedef struct worker_pool worker_pool;

/* Bind the cache's listeners (one SO_REUSEPORT socket per worker; port 0 resolved once and
 * recorded in the cache) for nthreads workers. NULL with err on failure. */
worker_pool *worker_pool_create(proxy_view *c, int nthreads, char *err, size_t errlen);
/* Start the worker threads (the cache's topology must be published). 0 or -1 with err. */
int worker_pool_run(worker_pool *p, char *err, size_t errlen);
/* Stop every worker (clients are disconnected) and join the threads. */
void worker_pool_stop(worker_pool *p);

#endif
