/* Sampling the caches (see plane_int.h): every PLANE_SAMPLE_MS the manager thread reads each
 * cache's figures into its series for the console, and keeps its Prometheus text for the plane's
 * own /metrics, where every cache's texts are merged.
 *
 * The channel: the plane asks each cache's process for GET /metrics.json on the metrics port it
 * was started with (--metrics-port 0; the port is in its endpoint file), and parses the JSON
 * object (control/figures.h) with jansson. A pull over the HTTP server the child already runs
 * was chosen over a pipe the child writes to: the child's HTTP thread answers from atomics even
 * while its control thread is held (adding a shard takes seconds), so each sample is the figures
 * of that moment; there is no stale line, no writer thread and no descriptor to pass to manage
 * across restarts; and libcurl (http_client.c) replaces the hand-written HTTP client. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/plane_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "control/endpoint.h"
#include "control/figures.h"
#include "common/http_client.h"

#define FIGURES_TIMEOUT_MS 1000 /* a cache that does not answer within this misses a sample */

/* GET http://host:port/metrics.json of a cache's process into out: 0, or -EIO with err. */
static int get_figures(const char *host, int port, buf *out, char *err, size_t errlen)
{
    char url[512];
    snprintf(url, sizeof(url), "http://%s%s%s:%d/metrics.json", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
    http_call call = {
        .method = "GET", .url = url, .timeout_ms = FIGURES_TIMEOUT_MS, .max = FIGURES_MAX_BYTES};
    long status = 0;
    char why[256] = "";
    int rc = http_request(&call, &status, out, why, sizeof(why));
    if (rc == 0 && status != 200)
        snprintf(why, sizeof(why), "HTTP status %ld", status);
    if (rc != 0 || status != 200) {
        snprintf(err, errlen, "GET %s: %s", url, why);
        return -EIO;
    }
    return 0;
}

/* Read the figures of cache pc, rendered in process for the embedded cache; 0, or a negative
 * code (logged at debug level: a cache starting or stopping has none to give). */
static int fetch_figures(plane *p, pcache *pc, cache_figures *f, buf *prom)
{
    buf text;
    buf_init(&text);
    char err[512] = "";
    int rc = 0;
    if (pc->c) {
        figures_render(pc->c, &text);
    } else {
        /* host is the address the endpoint file names: the cache's --bind, or 127.0.0.1 for a
         * wildcard. */
        char dir[4300], host[64], ca[4096];
        int port, mport;
        plane_cache_dir(p, pc->def.name, dir, sizeof(dir));
        if (endpoint_read(dir, host, sizeof(host), &port, ca, sizeof(ca), &mport) != 0 ||
            mport <= 0)
            rc = -ENOENT;
        else
            rc = get_figures(host, mport, &text, err, sizeof(err));
    }
    if (rc == 0)
        rc = figures_decode(buf_used(&text) ? buf_rptr(&text) : "", buf_used(&text), f, prom, err,
                            sizeof(err));
    if (rc == 0 && strcmp(f->cache, pc->def.name) != 0) {
        /* Its process is gone and another cache's took its metrics port. */
        snprintf(err, sizeof(err), "the figures at its metrics port are cache %s's", f->cache);
        rc = -ESTALE;
    }
    if (rc != 0 && err[0])
        log_debug("cache %s: no figures this time: %s", pc->def.name, err);
    buf_deinit(&text);
    return rc;
}

static void sample_one(plane *p, pcache *pc, int64_t now_ms)
{
    cache_figures f;
    buf prom;
    buf_init(&prom);
    if (fetch_figures(p, pc, &f, &prom) != 0) {
        buf_deinit(&prom);
        return;
    }
    double ecpu = (double)f.mecpu / 1000.0;
    pthread_mutex_lock(&p->lock);
    buf old = pc->metrics;
    pc->metrics = prom;
    buf_deinit(&old);
    plane_point pt = {.t_ms = now_ms,
                      .storage = f.storage,
                      .shards = f.shards,
                      .connections = f.connections,
                      .asleep = f.asleep};
    if (pc->prev_t && now_ms > pc->prev_t) {
        pt.ecpu_s = (ecpu - pc->prev_ecpu) * 1000.0 / (double)(now_ms - pc->prev_t);
        if (pt.ecpu_s < 0)
            pt.ecpu_s = 0;
        pt.p50_ms = plane_quantile_ms(f.lat, pc->prev_lat, VIEW_LATENCY_BUCKETS, 0.5);
        pt.p99_ms = plane_quantile_ms(f.lat, pc->prev_lat, VIEW_LATENCY_BUCKETS, 0.99);
    }
    pc->prev_ecpu = ecpu;
    memcpy(pc->prev_lat, f.lat, sizeof(f.lat));
    pc->prev_t = now_ms;
    pc->pts[pc->head] = pt;
    pc->head = (pc->head + 1) % PLANE_POINTS;
    if (pc->npts < PLANE_POINTS)
        pc->npts++;
    if (pc->status == PLANE_AVAILABLE && f.asleep)
        pc->status = PLANE_HIBERNATING;
    else if (pc->status == PLANE_HIBERNATING && !f.asleep)
        pc->status = PLANE_AVAILABLE;
    pthread_mutex_unlock(&p->lock);
}

void plane_sample_all(plane *p, int64_t now_ms)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->n;
    pcache **list = xmalloc((n ? n : 1) * sizeof(*list));
    if (n)
        memcpy(list, p->caches, n * sizeof(*list));
    for (size_t i = 0; i < n; i++)
        list[i]->sampling++; /* kept alive while sampled */
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < n; i++)
        if (list[i]->c || list[i]->pid > 0)
            sample_one(p, list[i], now_ms);
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < n; i++)
        list[i]->sampling--;
    pthread_mutex_unlock(&p->lock);
    xfree(list);
}

/* The q-quantile (ms) of the replies counted between two cumulative histograms, interpolated
 * within its bucket as Prometheus's histogram_quantile does. */
double plane_quantile_ms(const uint64_t *now, const uint64_t *prev, int n, double q)
{
    uint64_t total = now[n - 1] - prev[n - 1];
    if (n < 2 || total == 0)
        return 0;
    double want = q * (double)total;
    uint64_t below = 0;
    for (int i = 0; i < n; i++) {
        uint64_t c = now[i] - prev[i];
        if ((double)c >= want) {
            double lo = i == 0 ? 0 : (double)view_latency_us[i - 1];
            double hi = i < VIEW_LATENCY_BUCKETS - 1 ? (double)view_latency_us[i] : lo;
            double in = (double)(c - below);
            double frac = in > 0 ? (want - (double)below) / in : 1;
            return (lo + (hi - lo) * frac) / 1000.0;
        }
        below = c;
    }
    return 0;
}

/* Wait until the manager no longer samples pc (already out of the list), so it can be freed. */
void plane_wait_unsampled(plane *p, pcache *pc)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int busy = pc->sampling;
        pthread_mutex_unlock(&p->lock);
        if (!busy)
            return;
        poll(NULL, 0, 5);
    }
}

/* One metric family of the merged text: its HELP and TYPE lines once, every cache's series. */
typedef struct {
    char name[128];
    buf meta, series;
} family;

void plane_metrics(plane *p, buf *out)
{
    /* Each cache's text lists families as HELP, TYPE, then series; Prometheus wants a family's
     * lines together, so series are grouped under the family last declared in their text. */
    family *fams = NULL;
    size_t nf = 0, cap = 0;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n; i++) {
        const char *q = buf_rptr(&p->caches[i]->metrics);
        const char *end = q + buf_used(&p->caches[i]->metrics);
        family *cur = NULL;
        while (q < end) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            size_t ll = nl ? (size_t)(nl - q) : (size_t)(end - q);
            if (ll > 7 && (strncmp(q, "# HELP ", 7) == 0 || strncmp(q, "# TYPE ", 7) == 0)) {
                const char *sp = memchr(q + 7, ' ', ll - 7);
                size_t nlen = sp ? (size_t)(sp - q - 7) : ll - 7;
                cur = NULL;
                for (size_t f = 0; f < nf && !cur; f++)
                    if (strlen(fams[f].name) == nlen && memcmp(fams[f].name, q + 7, nlen) == 0)
                        cur = &fams[f];
                if (!cur) {
                    if (nf == cap) {
                        cap = cap ? cap * 2 : 64;
                        fams = xrealloc(fams, cap * sizeof(*fams));
                    }
                    cur = &fams[nf++];
                    snprintf(cur->name, sizeof(cur->name), "%.*s", (int)MIN(nlen, 127), q + 7);
                    buf_init(&cur->meta);
                    buf_init(&cur->series);
                }
                /* HELP and TYPE once each. */
                if (!buf_used(&cur->meta) ||
                    !memmem(buf_rptr(&cur->meta), buf_used(&cur->meta), q, 7)) {
                    buf_append(&cur->meta, q, ll);
                    buf_append(&cur->meta, "\n", 1);
                }
            } else if (cur && ll) {
                buf_append(&cur->series, q, ll);
                buf_append(&cur->series, "\n", 1);
            }
            q += ll + (nl ? 1 : 0);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t f = 0; f < nf; f++) {
        buf_append(out, buf_rptr(&fams[f].meta), buf_used(&fams[f].meta));
        buf_append(out, buf_rptr(&fams[f].series), buf_used(&fams[f].series));
        buf_deinit(&fams[f].meta);
        buf_deinit(&fams[f].series);
    }
    xfree(fams);
}
