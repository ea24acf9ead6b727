/* Counting allocator: every heap byte is charged to a room, so a leak or a growth can be
 * traced to its owner, and tests can make the Nth fallible allocation fail (SQLite faultsim).
 *
 * xmalloc/xcalloc/xrealloc never return NULL: on real exhaustion they log and abort, as Redis
 * does, which keeps the hot path free of impossible branches. Paths fed by untrusted sizes
 * (client buffers) use xtry_malloc/xtry_realloc, which return NULL on failure (real or injected)
 * and let the caller turn it into an error reply. */
#ifndef STRATUS_ALLOC_H
#define STRATUS_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Rooms that memory is charged to. */
typedef enum {
    ROOM_COMMON,
    ROOM_NET,
    ROOM_PROTO,
    ROOM_ACL,
    ROOM_PROXY,
    ROOM_CLUSTER,
    ROOM_SCALE,
    ROOM_CONTROL,
    ROOM_CLI,
    ROOM_TEST,
    ROOM__COUNT
} alloc_room;

#ifndef ALLOC_ROOM
#define ALLOC_ROOM ROOM_COMMON
#endif

/* Allocate size bytes charged to room; aborts on exhaustion. */
void *xmalloc_room(alloc_room room, size_t size);
/* Allocate n*size zeroed bytes charged to room; aborts on exhaustion or overflow. */
void *xcalloc_room(alloc_room room, size_t n, size_t size);
/* Resize p (may be NULL) to size bytes charged to room; aborts on exhaustion. */
void *xrealloc_room(alloc_room room, void *p, size_t size);
/* Like xmalloc_room but returns NULL on failure, real or injected. */
void *xtry_malloc_room(alloc_room room, size_t size);
/* Like xrealloc_room but returns NULL on failure (p is left untouched). */
void *xtry_realloc_room(alloc_room room, void *p, size_t size);
/* Duplicate a NUL-terminated string charged to room. */
char *xstrdup_room(alloc_room room, const char *s);
/* Duplicate len bytes as a NUL-terminated string charged to room. */
char *xstrndup_room(alloc_room room, const char *s, size_t len);
/* Free memory returned by any of the above; NULL is allowed. */
void xfree(void *p);

/* Bytes currently live in one room. */
int64_t alloc_live_bytes(alloc_room room);
/* Allocations currently live in all rooms together. */
int64_t alloc_live_count(void);
/* Make the nth fallible (xtry_*) allocation from now fail (n >= 1); 0 disables injection. */
void alloc_fail_after(int64_t n);

#define xmalloc(sz) xmalloc_room(ALLOC_ROOM, (sz))
#define xcalloc(n, sz) xcalloc_room(ALLOC_ROOM, (n), (sz))
#define xrealloc(p, sz) xrealloc_room(ALLOC_ROOM, (p), (sz))
#define xtry_malloc(sz) xtry_malloc_room(ALLOC_ROOM, (sz))
#define xtry_realloc(p, sz) xtry_realloc_room(ALLOC_ROOM, (p), (sz))
#define xstrdup(s) xstrdup_room(ALLOC_ROOM, (s))
#define xstrndup(s, n) xstrndup_room(ALLOC_ROOM, (s), (n))

#endif
