/* Growable byte buffer with a read cursor: the unit of I/O between sockets, parsers and
 * reply queues. Data lives in [data+rpos, data+len); space after len is free to fill. */
#ifndef STRATUS_BUF_H
#define STRATUS_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Invariant: rpos <= len <= cap; data is NULL only while cap == 0. */
typedef struct {
    char *data;  /* heap block (room-charged) or NULL */
    size_t rpos; /* first unread byte */
    size_t len;  /* end of written bytes */
    size_t cap;  /* allocated bytes */
} buf;

/* Bytes readable. */
static inline size_t buf_used(const buf *b)
{
    return b->len - b->rpos;
}
/* Pointer to the first readable byte. */
static inline char *buf_rptr(const buf *b)
{
    return b->data + b->rpos;
}
/* Initialise an empty buffer (no allocation). */
void buf_init(buf *b);
/* Release the buffer's memory; it is empty and reusable afterwards. */
void buf_deinit(buf *b);
/* Make room for at least n more bytes after len; 0 or -ENOMEM (fallible, for client input). */
int buf_reserve(buf *b, size_t n);
/* Append n bytes; aborts on exhaustion (used for replies we produce ourselves). */
void buf_append(buf *b, const void *p, size_t n);
/* Append a printf-formatted string. */
void buf_appendf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Consume n readable bytes; resets to empty when everything is consumed. */
void buf_consume(buf *b, size_t n);
/* Move unread bytes to the front so free space is contiguous at the end. */
void buf_compact(buf *b);
/* Give memory back when the buffer is empty and larger than keep bytes (pool watermark). */
void buf_shrink(buf *b, size_t keep);

#endif
