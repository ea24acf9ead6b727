/* AUTH brute-force guard (see authguard.h). A token bucket per address in a fixed-size open
 * hash table: memory stays bounded however many addresses try. When the table is full the
 * address whose bucket is fullest (the least suspicious) gives up its slot. */
#define ALLOC_ROOM ROOM_ACL
#include "acl/authguard.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

#define GUARD_SLOTS 4096 /* power of two */
#define GUARD_PROBE 16   /* slots looked at per address */
#define SRC_MAX 64

typedef struct {
    char src[SRC_MAX]; /* "" when free */
    double tokens;     /* attempts left; refills at rate per ms up to burst */
    uint64_t at_ms;    /* when tokens was computed */
} guard_slot;

struct auth_guard {
    pthread_mutex_t lock;
    double burst;      /* failures allowed at once */
    double rate;       /* tokens per millisecond */
    uint64_t refused;  /* attempts refused */
    guard_slot *slots; /* GUARD_SLOTS */
};

auth_guard *auth_guard_create(unsigned per_minute)
{
    if (per_minute == 0)
        return NULL;
    auth_guard *g = xcalloc(1, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    g->burst = per_minute;
    g->rate = per_minute / 60000.0;
    g->slots = xcalloc(GUARD_SLOTS, sizeof(*g->slots));
    return g;
}

void auth_guard_destroy(auth_guard *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->lock);
    xfree(g->slots);
    xfree(g);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void refill(const auth_guard *g, guard_slot *e, uint64_t now_ms)
{
    if (now_ms > e->at_ms) {
        e->tokens += (double)(now_ms - e->at_ms) * g->rate;
        if (e->tokens > g->burst)
            e->tokens = g->burst;
    }
    e->at_ms = now_ms;
}

/* The slot of src, or NULL if it has none (create: take one, evicting the fullest bucket). */
static guard_slot *find(auth_guard *g, const char *src, uint64_t now_ms, int create)
{
    uint32_t h = hash(src);
    guard_slot *victim = NULL;
    double best = -1;
    for (uint32_t i = 0; i < GUARD_PROBE; i++) {
        guard_slot *e = &g->slots[(h + i) & (GUARD_SLOTS - 1)];
        if (e->src[0] && strcmp(e->src, src) == 0)
            return e;
        if (!create)
            continue;
        if (!e->src[0]) {
            if (best < g->burst + 1) {
                victim = e;
                best = g->burst + 1;
            }
            continue;
        }
        refill(g, e, now_ms);
        if (e->tokens > best) {
            victim = e;
            best = e->tokens;
        }
    }
    if (!victim)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    snprintf(victim->src, sizeof(victim->src), "%s", src);
    victim->tokens = g->burst;
    victim->at_ms = now_ms;
    return victim;
}

uint64_t auth_guard_check(auth_guard *g, const char *src, uint64_t now_ms)
{
    if (!g)
        return 0;
    pthread_mutex_lock(&g->lock);
    uint64_t wait = 0;
    guard_slot *e = find(g, src, now_ms, 0);
    if (e) {
        refill(g, e, now_ms);
        if (e->tokens < 1.0) {
            wait = (uint64_t)((1.0 - e->tokens) / g->rate) + 1;
            g->refused++;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return wait;
}

int auth_guard_failed(auth_guard *g, const char *src, uint64_t now_ms)
{
    if (!g)
        return 0;
    pthread_mutex_lock(&g->lock);
    int spent = 0;
    guard_slot *e = find(g, src, now_ms, 1);
    refill(g, e, now_ms);
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
        spent = e->tokens < 1.0;
    }
    pthread_mutex_unlock(&g->lock);
    return spent;
}

void auth_guard_stats(auth_guard *g, uint64_t *refused)
{
    *refused = 0;
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    *refused = g->refused;
    pthread_mutex_unlock(&g->lock);
}
