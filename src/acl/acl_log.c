/* The ACL log of a cache (see acl_log.h): a short array, newest first, behind one mutex. Redis's
 * addACLLogEntry is followed step by step: look at the ten newest entries for one with the same
 * reason, context, object and user at most a minute apart; bump it to the front and count it, or
 * add a new entry at the front and drop the oldest beyond the maximum length. */
#define ALLOC_ROOM ROOM_ACL
#include "acl/acl_log.h"

#include <string.h>
#include <time.h>

#include "common/alloc.h"

acl_log *acl_log_create(size_t max_len)
{
    acl_log *l = xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    l->max_len = max_len;
    return l;
}

static void entry_free(acl_log_entry *e)
{
    xfree(e->object);
    xfree(e->username);
    xfree(e->client_info);
}

/* Drop entries beyond max_len (lock held). */
static void trim(acl_log *l)
{
    while (l->n > l->max_len)
        entry_free(&l->entries[--l->n]);
}

void acl_log_destroy(acl_log *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        entry_free(&l->entries[i]);
    xfree(l->entries);
    pthread_mutex_destroy(&l->lock);
    xfree(l);
}

uint64_t acl_log_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int similar(const acl_log_entry *e, uint64_t now_ms, acl_log_reason reason,
                   acl_log_context context, const char *object, size_t object_len,
                   const char *username)
{
    uint64_t delta = now_ms > e->ms ? now_ms - e->ms : e->ms - now_ms;
    return e->reason == reason && e->context == context && delta <= ACL_LOG_GROUP_MS &&
           e->object_len == object_len && memcmp(e->object, object, object_len) == 0 &&
           strcmp(e->username, username) == 0;
}

/* A copy of n bytes plus a NUL (keys may hold NULs: no strndup). */
static char *memdup0(const char *p, size_t n)
{
    char *c = xmalloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

void acl_log_add_at(acl_log *l, uint64_t now_ms, acl_log_reason reason, acl_log_context context,
                    const char *object, size_t object_len, const char *username,
                    const char *client_info)
{
    /* Copies are made before the lock is taken, and what is left over freed after it: a worker
     * holds the lock only to move entries. */
    acl_log_entry e = {.count = 1,
                       .reason = reason,
                       .context = context,
                       .object = memdup0(object, object_len),
                       .object_len = object_len,
                       .username = xstrdup(username),
                       .client_info = xstrdup(client_info ? client_info : ""),
                       .ms = now_ms};
    pthread_mutex_lock(&l->lock);
    size_t i = 0;
    while (i < l->n && i < ACL_LOG_GROUP_SCAN &&
           !similar(&l->entries[i], now_ms, reason, context, object, object_len, username))
        i++;
    if (i < l->n && i < ACL_LOG_GROUP_SCAN) {
        /* The similar entry moves to the front with this client's line and time. */
        acl_log_entry m = l->entries[i];
        memmove(&l->entries[1], &l->entries[0], i * sizeof(*l->entries));
        char *old_info = m.client_info;
        m.client_info = e.client_info;
        m.ms = now_ms;
        m.count++;
        l->entries[0] = m;
        e.client_info = old_info;
    } else {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 16;
            l->entries = xrealloc(l->entries, l->cap * sizeof(*l->entries));
        }
        memmove(&l->entries[1], &l->entries[0], l->n * sizeof(*l->entries));
        l->entries[0] = e;
        l->n++;
        memset(&e, 0, sizeof(e));
        trim(l);
    }
    pthread_mutex_unlock(&l->lock);
    entry_free(&e);
}

void acl_log_add(acl_log *l, acl_log_reason reason, acl_log_context context, const char *object,
                 size_t object_len, const char *username, const char *client_info)
{
    acl_log_add_at(l, acl_log_now_ms(), reason, context, object, object_len, username, client_info);
}

void acl_log_reset(acl_log *l)
{
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n; i++)
        entry_free(&l->entries[i]);
    l->n = 0;
    pthread_mutex_unlock(&l->lock);
}

void acl_log_set_max_len(acl_log *l, size_t max_len)
{
    pthread_mutex_lock(&l->lock);
    l->max_len = max_len;
    trim(l);
    pthread_mutex_unlock(&l->lock);
}

acl_log_entry *acl_log_copy(acl_log *l, size_t max, size_t *n)
{
    pthread_mutex_lock(&l->lock);
    size_t k = l->n < max ? l->n : max;
    acl_log_entry *out = xcalloc(k + 1, sizeof(*out));
    for (size_t i = 0; i < k; i++) {
        const acl_log_entry *e = &l->entries[i];
        out[i] = *e;
        out[i].object = memdup0(e->object, e->object_len);
        out[i].username = xstrdup(e->username);
        out[i].client_info = xstrdup(e->client_info);
    }
    pthread_mutex_unlock(&l->lock);
    *n = k;
    return out;
}

void acl_log_copy_free(acl_log_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        entry_free(&e[i]);
    xfree(e);
}

const char *acl_log_reason_name(acl_log_reason r)
{
    switch (r) {
    case ACL_LOG_COMMAND:
        return "command";
    case ACL_LOG_KEY:
        return "key";
    case ACL_LOG_CHANNEL:
        return "channel";
    case ACL_LOG_AUTH:
        return "auth";
    }
    return "unknown";
}

const char *acl_log_context_name(acl_log_context c)
{
    switch (c) {
    case ACL_LOG_TOPLEVEL:
        return "toplevel";
    case ACL_LOG_MULTI:
        return "multi";
    case ACL_LOG_LUA:
        return "lua";
    }
    return "unknown";
}
