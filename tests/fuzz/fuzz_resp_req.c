/* libFuzzer target: the RESP request parser (what clients send), fed in chunks the way a
 * socket delivers them, with the limits before and after AUTH. Every command it accepts must
 * have its arguments inside the bytes it was given (or its inline buffer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    resp_limits lim = {.max_args = 1048576,
                       .max_bulk = RESP_LIMIT_BULK,
                       .max_inline = RESP_LIMIT_INLINE};
    if (mode & 1) {
        lim.max_args = RESP_LIMIT_ARGS_NOAUTH;
        lim.max_bulk = RESP_LIMIT_BULK_NOAUTH;
        lim.unauthenticated = 1;
    }
    size_t step = (size_t)(mode >> 1) + 1; /* bytes arriving per read */
    resp_req_parser p;
    resp_req_parser_init(&p, &lim);
    size_t start = 0, avail = 0;
    while (start < n) {
        avail = avail + step < n ? avail + step : n;
        size_t consumed = 0;
        int r = resp_req_parse(&p, in + start, avail - start, &consumed);
        if (r == RESP_ERR)
            break;
        if (r == RESP_AGAIN) {
            if (avail == n)
                break;
            continue;
        }
        if (consumed == 0 || consumed > avail - start)
            abort(); /* a command must consume its bytes, and only those */
        for (size_t i = 0; i < p.argc; i++) {
            const char *a = resp_req_arg(&p, in + start, i);
            size_t len = p.argv[i].len;
            if (!p.is_inline && (a < in + start || a + len > in + start + consumed))
                abort();
            volatile char sink = len ? a[len - 1] : 0; /* the argument is readable */
            (void)sink;
        }
        start += consumed;
        if (avail < start)
            avail = start;
    }
    resp_req_parser_deinit(&p);
    return 0;
}
