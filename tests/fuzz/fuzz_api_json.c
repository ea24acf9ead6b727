/* libFuzzer target: the HTTP API's JSON handling of a cache definition (POST/PATCH
 * /v1/caches bodies): any bytes give a checked definition or a clear error. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "control/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plane_def d;
    memset(&d, 0, sizeof(d));
    d.shards = 1;
    d.replicas = 1;
    snprintf(d.durability, sizeof(d.durability), "async");
    snprintf(d.max_storage, sizeof(d.max_storage), "0");
    char err[800];
    err[0] = '\0';
    int rc = api_parse_def((const char *)data, size, &d, size & 1, err, sizeof(err));
    if (rc != 0 && err[0] == '\0')
        __builtin_trap(); /* every refusal says why */
    if (rc == 0 && plane_def_check(&d, err, sizeof(err)) != 0)
        __builtin_trap();
    return 0;
}
