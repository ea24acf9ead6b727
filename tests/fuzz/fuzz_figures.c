/* libFuzzer target: the control plane's reading of a cache's figures (GET /metrics.json):
 * any bytes give figures that encode and decode again to the same, or a clear error. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "control/figures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cache_figures f, again;
    buf prom, json, prom2;
    buf_init(&prom);
    buf_init(&json);
    buf_init(&prom2);
    char err[512];
    err[0] = '\0';
    int rc = figures_decode((const char *)data, size, &f, &prom, err, sizeof(err));
    if (rc != 0 && (rc != -EINVAL || err[0] == '\0'))
        __builtin_trap(); /* every refusal says why */
    if (rc == 0) {
        for (int i = 1; i < VIEW_LATENCY_BUCKETS; i++)
            if (f.lat[i] < f.lat[i - 1])
                __builtin_trap();
        /* An empty buffer has no memory: NULL, not a pointer into it. */
        figures_encode(&f, buf_used(&prom) ? buf_rptr(&prom) : NULL, buf_used(&prom), &json);
        if (figures_decode(buf_rptr(&json), buf_used(&json), &again, &prom2, err, sizeof(err)) !=
                0 ||
            memcmp(&f, &again, sizeof(f)) != 0 || buf_used(&prom) != buf_used(&prom2) ||
            (buf_used(&prom) && memcmp(buf_rptr(&prom), buf_rptr(&prom2), buf_used(&prom)) != 0))
            __builtin_trap();
    }
    buf_deinit(&prom);
    buf_deinit(&json);
    buf_deinit(&prom2);
    return 0;
}
