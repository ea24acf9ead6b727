/* libFuzzer target: what engines send back. The frame scanner (the hot path, which only finds
 * where a reply ends) and the value parser (the control plane's) must agree on where a
 * complete reply ends, and neither may read past the bytes given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so a read past the end is caught. */
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    size_t off = 0;
    while (off < size) {
        resp_reply_scanner sc;
        resp_reply_scanner_init(&sc);
        size_t frame = 0;
        int r = resp_reply_scan(&sc, in + off, size - off, &frame);
        resp_value *v = NULL;
        size_t used = 0;
        int q = resp_value_parse(in + off, size - off, &v, &used);
        if (q == RESP_DONE) {
            if (used == 0 || used > size - off)
                abort();
            resp_value_free(v);
        }
        if (r != RESP_DONE)
            break;
        if (frame == 0 || frame > size - off)
            abort();
        if (q == RESP_DONE && used != frame)
            abort(); /* the two parsers disagree on where the reply ends */
        off += frame;
    }
    free(in);
    return 0;
}
