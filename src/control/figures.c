/* A cache's figures as JSON (see figures.h). With api.c (the API) and cli/api_client.c (its
 * client), the third file that includes jansson.h: this one for the plane's channel to its
 * caches. */
#include "control/figures.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/compiler.h"
#include "control/metrics.h"
#include "control/usage.h"

/* JSON integers are signed 64-bit; no counter gets near the top. */
static json_int_t json_u64(uint64_t v)
{
    return (json_int_t)MIN(v, (uint64_t)INT64_MAX);
}

static int append_json(const char *p, size_t n, void *arg)
{
    buf_append(arg, p, n);
    return 0;
}

void figures_encode(const cache_figures *f, const char *prom, size_t plen, buf *out)
{
    json_t *le = json_array(), *cum = json_array();
    for (int i = 0; i < VIEW_LATENCY_BUCKETS - 1; i++)
        json_array_append_new(le, json_integer(json_u64(view_latency_us[i])));
    for (int i = 0; i < VIEW_LATENCY_BUCKETS; i++)
        json_array_append_new(cum, json_integer(json_u64(f->lat[i])));
    /* "o" hands le and cum over to the object. */
    json_t *j =
        json_pack("{s:s, s:I, s:I, s:i, s:i, s:b, s:{s:o, s:o}, s:s%}", "cache", f->cache,
                  "ecpu_milli", json_u64(f->mecpu), "storage_bytes", json_u64(f->storage), "shards",
                  f->shards, "connections", f->connections, "asleep", f->asleep, "reply_latency",
                  "le_us", le, "cumulative", cum, "prometheus", plen ? prom : "", plen);
    /* Only text that is not UTF-8 fails to pack; the plane then skips this sample. */
    if (!j || json_dump_callback(j, append_json, out, JSON_COMPACT) != 0)
        buf_appendf(out, "{}");
    json_decref(j);
}

void figures_render(cache *c, buf *out)
{
    cache_figures f = {0};
    snprintf(f.cache, sizeof(f.cache), "%s", c->view.name);
    meter_totals t;
    meter_ledger_totals(&c->view.meter, &t);
    f.mecpu = t.mecpu;
    f.storage = atomic_load_explicit(&c->view.meter.storage_bytes, memory_order_relaxed);
    f.shards = atomic_load(&c->view.nshards);
    int64_t conns = atomic_load(&c->view.counters.connected_clients);
    f.connections = conns > 0 ? (int)MIN(conns, (int64_t)INT_MAX) : 0;
    f.asleep = atomic_load(&c->view.sleep.asleep) != 0;
    uint64_t cum = 0;
    for (int i = 0; i < VIEW_LATENCY_BUCKETS; i++) {
        cum += atomic_load_explicit(&c->view.latency.bucket[i], memory_order_relaxed);
        f.lat[i] = cum;
    }
    buf prom;
    buf_init(&prom);
    metrics_render(c, &prom);
    figures_encode(&f, buf_rptr(&prom), buf_used(&prom), out);
    buf_deinit(&prom);
}

/* The histogram: bounds that are the ones this program counts with, and cumulative counts. */
static int decode_latency(json_t *le, json_t *cum, cache_figures *f, char *err, size_t errlen)
{
    if (!json_is_array(le) || json_array_size(le) != VIEW_LATENCY_BUCKETS - 1 ||
        !json_is_array(cum) || json_array_size(cum) != VIEW_LATENCY_BUCKETS) {
        snprintf(err, errlen,
                 "reply_latency: le_us must be an array of %d bounds and cumulative one of %d "
                 "counts",
                 VIEW_LATENCY_BUCKETS - 1, VIEW_LATENCY_BUCKETS);
        return -EINVAL;
    }
    for (int i = 0; i < VIEW_LATENCY_BUCKETS - 1; i++) {
        json_t *v = json_array_get(le, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) != (json_int_t)view_latency_us[i]) {
            snprintf(err, errlen, "reply_latency: le_us[%d] is not %llu, this program's bound", i,
                     (unsigned long long)view_latency_us[i]);
            return -EINVAL;
        }
    }
    for (int i = 0; i < VIEW_LATENCY_BUCKETS; i++) {
        json_t *v = json_array_get(cum, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (i > 0 && (uint64_t)json_integer_value(v) < f->lat[i - 1])) {
            snprintf(err, errlen,
                     "reply_latency: cumulative[%d] must be an integer, at least the one before",
                     i);
            return -EINVAL;
        }
        f->lat[i] = (uint64_t)json_integer_value(v);
    }
    return 0;
}

/* A count member k of j: an integer from 0 to max. */
static int get_count(json_t *j, const char *k, json_int_t max, json_int_t *out, char *err,
                     size_t errlen)
{
    json_t *v = json_object_get(j, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
        snprintf(err, errlen, "figures: %s must be an integer from 0 to %lld", k, (long long)max);
        return -EINVAL;
    }
    *out = json_integer_value(v);
    return 0;
}

int figures_decode(const char *text, size_t len, cache_figures *f, buf *prom, char *err,
                   size_t errlen)
{
    memset(f, 0, sizeof(*f));
    json_error_t je;
    /* NUL is allowed in strings so the Prometheus text arrives byte for byte. */
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!j) {
        snprintf(err, errlen, "figures: not JSON: %s (at %d)", je.text, je.position);
        return -EINVAL;
    }
    /* Members not named here are allowed: a newer cache process may send more. */
    json_t *name = json_object_get(j, "cache"), *asleep = json_object_get(j, "asleep"),
           *lat = json_object_get(j, "reply_latency"), *ptext = json_object_get(j, "prometheus");
    json_int_t mecpu, storage, shards, conns;
    int rc = -EINVAL;
    if (!json_is_object(j))
        snprintf(err, errlen, "figures: not a JSON object");
    else if (!json_is_string(name) || json_string_length(name) == 0 ||
             json_string_length(name) >= sizeof(f->cache) ||
             strlen(json_string_value(name)) != json_string_length(name))
        snprintf(err, errlen, "figures: cache must be a name of 1 to %zu characters",
                 sizeof(f->cache) - 1);
    else if (get_count(j, "ecpu_milli", INT64_MAX, &mecpu, err, errlen) != 0 ||
             get_count(j, "storage_bytes", INT64_MAX, &storage, err, errlen) != 0 ||
             get_count(j, "shards", INT_MAX, &shards, err, errlen) != 0 ||
             get_count(j, "connections", INT_MAX, &conns, err, errlen) != 0)
        ; /* err says which */
    else if (!json_is_boolean(asleep))
        snprintf(err, errlen, "figures: asleep must be true or false");
    else if (!json_is_object(lat))
        snprintf(err, errlen, "figures: reply_latency must be an object (le_us, cumulative)");
    else if (!json_is_string(ptext))
        snprintf(err, errlen, "figures: prometheus must be a string (the cache's /metrics text)");
    else if (decode_latency(json_object_get(lat, "le_us"), json_object_get(lat, "cumulative"), f,
                            err, errlen) == 0) {
        snprintf(f->cache, sizeof(f->cache), "%s", json_string_value(name));
        f->mecpu = (uint64_t)mecpu;
        f->storage = (uint64_t)storage;
        f->shards = (int)shards;
        f->connections = (int)conns;
        f->asleep = json_is_true(asleep);
        buf_consume(prom, buf_used(prom));
        buf_append(prom, json_string_value(ptext), json_string_length(ptext));
        rc = 0;
    }
    json_decref(j);
    return rc;
}
