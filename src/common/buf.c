/* Growable byte buffer: doubling growth, compaction on demand, and shrinking above a watermark
 * so one burst never pins memory for the life of a connection (twemproxy's mbuf lesson). */
#define ALLOC_ROOM ROOM_COMMON
#include "common/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"

void buf_init(buf *b)
{
    memset(b, 0, sizeof(*b));
}

void buf_deinit(buf *b)
{
    xfree(b->data);
    buf_init(b);
}

int buf_reserve(buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    if (b->rpos > 0 && b->cap - buf_used(b) >= n && b->rpos >= buf_used(b)) {
        buf_compact(b);
        return 0;
    }
    size_t need = buf_used(b) + n;
    if (need < n)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    buf_compact(b);
    char *d = xtry_realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

void buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (buf_reserve(b, n) != 0) {
        /* Our own replies are bounded by what we accepted; fall back to the aborting path. */
        size_t cap = buf_used(b) + n;
        buf_compact(b);
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void buf_appendf(buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        buf_append(b, small, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n + 1) != 0) {
        buf_append(b, small, 0);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_consume(buf *b, size_t n)
{
    b->rpos += n;
    if (b->rpos >= b->len)
        b->rpos = b->len = 0;
}

void buf_compact(buf *b)
{
    if (b->rpos == 0)
        return;
    size_t used = buf_used(b);
    if (used)
        memmove(b->data, b->data + b->rpos, used);
    b->rpos = 0;
    b->len = used;
}

void buf_shrink(buf *b, size_t keep)
{
    if (buf_used(b) == 0 && b->cap > keep) {
        xfree(b->data);
        buf_init(b);
    }
}
