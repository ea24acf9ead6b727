/* Counting allocator: a 16-byte header before each block records its size and room, so the
 * per-room gauges stay exact without a lookup table. */
#include "common/alloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"

typedef struct {
    size_t size;   /* bytes requested by the caller */
    uint32_t room; /* alloc_room charged */
    uint32_t magic;
} alloc_hdr;

#define ALLOC_MAGIC 0x57a7a11cu
#define HDR_SIZE 16

_Static_assert(sizeof(alloc_hdr) <= HDR_SIZE, "header must fit");

static _Atomic int64_t live_bytes[ROOM__COUNT];
static _Atomic int64_t live_count;
static _Atomic int64_t fail_countdown;

static void *finish(void *raw, alloc_room room, size_t size)
{
    alloc_hdr *h = raw;
    h->size = size;
    h->room = (uint32_t)room;
    h->magic = ALLOC_MAGIC;
    atomic_fetch_add_explicit(&live_bytes[room], (int64_t)size, memory_order_relaxed);
    atomic_fetch_add_explicit(&live_count, 1, memory_order_relaxed);
    return (char *)raw + HDR_SIZE;
}

static alloc_hdr *header_of(void *p)
{
    alloc_hdr *h = (alloc_hdr *)((char *)p - HDR_SIZE);
    if (unlikely(h->magic != ALLOC_MAGIC)) {
        fprintf(stderr, "alloc: bad block %p (double free or foreign pointer)\n", p);
        abort();
    }
    return h;
}

ATTR_NORETURN static void oom(size_t size)
{
    fprintf(stderr, "alloc: out of memory allocating %zu bytes\n", size);
    abort();
}

static int injected_failure(void)
{
    int64_t v = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (likely(v == 0))
        return 0;
    v = atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return v == 1;
}

void *xtry_malloc_room(alloc_room room, size_t size)
{
    if (injected_failure() || size > SIZE_MAX - HDR_SIZE)
        return NULL;
    void *raw = malloc(size + HDR_SIZE);
    return raw ? finish(raw, room, size) : NULL;
}

void *xmalloc_room(alloc_room room, size_t size)
{
    if (size > SIZE_MAX - HDR_SIZE)
        oom(size);
    void *raw = malloc(size + HDR_SIZE);
    if (!raw)
        oom(size);
    return finish(raw, room, size);
}

void *xcalloc_room(alloc_room room, size_t n, size_t size)
{
    if (size && n > (SIZE_MAX - HDR_SIZE) / size)
        oom(SIZE_MAX);
    void *raw = calloc(1, n * size + HDR_SIZE);
    if (!raw)
        oom(n * size);
    return finish(raw, room, n * size);
}

static void *resize(alloc_room room, void *p, size_t size, int fallible)
{
    if (!p)
        return fallible ? xtry_malloc_room(room, size) : xmalloc_room(room, size);
    alloc_hdr *h = header_of(p);
    size_t old = h->size;
    alloc_room old_room = (alloc_room)h->room;
    if ((fallible && injected_failure()) || size > SIZE_MAX - HDR_SIZE) {
        if (fallible)
            return NULL;
        oom(size);
    }
    void *raw = realloc(h, size + HDR_SIZE);
    if (!raw) {
        if (fallible)
            return NULL;
        oom(size);
    }
    atomic_fetch_sub_explicit(&live_bytes[old_room], (int64_t)old, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
    return finish(raw, room, size);
}

void *xrealloc_room(alloc_room room, void *p, size_t size)
{
    return resize(room, p, size, 0);
}

void *xtry_realloc_room(alloc_room room, void *p, size_t size)
{
    return resize(room, p, size, 1);
}

char *xstrndup_room(alloc_room room, const char *s, size_t len)
{
    char *d = xmalloc_room(room, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *xstrdup_room(alloc_room room, const char *s)
{
    return xstrndup_room(room, s, strlen(s));
}

void xfree(void *p)
{
    if (!p)
        return;
    alloc_hdr *h = header_of(p);
    atomic_fetch_sub_explicit(&live_bytes[h->room], (int64_t)h->size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_count, 1, memory_order_relaxed);
    h->magic = 0;
    free(h);
}

int64_t alloc_live_bytes(alloc_room room)
{
    return atomic_load_explicit(&live_bytes[room], memory_order_relaxed);
}

int64_t alloc_live_count(void)
{
    return atomic_load_explicit(&live_count, memory_order_relaxed);
}

void alloc_fail_after(int64_t n)
{
    atomic_store_explicit(&fail_countdown, n < 0 ? 0 : n, memory_order_relaxed);
}
