/* The data path's view of its cache (see view.h): the counters table, the published pointers
 * and the private link budget. */
#define ALLOC_ROOM ROOM_PROXY
#include "proxy/view.h"

#include <errno.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "common/alloc.h"
#include "common/compiler.h"

const uint64_t view_latency_us[VIEW_LATENCY_BUCKETS - 1] = {
    50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 500000, 1000000};

static const view_counter_row counter_rows[] = {
#define VIEW_COUNTER_ROW(field, section, info, fam, typ, hlp)                                      \
    {.info_section = (section),                                                                    \
     .info_name = (info),                                                                          \
     .family = (fam),                                                                              \
     .type = (typ),                                                                                \
     .help = (hlp),                                                                                \
     .offset = offsetof(view_counters, field)},
    VIEW_COUNTERS(VIEW_COUNTER_ROW)
#undef VIEW_COUNTER_ROW
};

const view_counter_row *view_counter_rows(size_t *n)
{
    *n = ARRAY_LEN(counter_rows);
    return counter_rows;
}

int64_t view_counter_value(const view_counters *k, const view_counter_row *r)
{
    const _Atomic int64_t *field = (const _Atomic int64_t *)((const char *)k + r->offset);
    return atomic_load_explicit(field, memory_order_relaxed);
}

void view_init(proxy_view *v)
{
    memset(v, 0, sizeof(*v));
    v->plaintext_port = -1;
    v->reader_port = -1;
    pthread_mutex_init(&v->links_lock, NULL);
}

void view_deinit(proxy_view *v)
{
    for (size_t i = 0; i < v->nlink_users; i++)
        xfree(v->link_users[i].user);
    xfree(v->link_users);
    v->link_users = NULL;
    v->nlink_users = 0;
    pthread_mutex_destroy(&v->links_lock);
}

const topology *view_topology(const proxy_view *v)
{
    return rcu_dereference(v->topo);
}

const acl_table *view_acl(const proxy_view *v)
{
    return rcu_dereference(v->acl);
}

int view_link_take(proxy_view *v, const char *user)
{
    int64_t n = atomic_fetch_add_explicit(&v->counters.private_links, 1, memory_order_relaxed);
    if (n >= v->limits.max_blocking_clients) {
        atomic_fetch_sub_explicit(&v->counters.private_links, 1, memory_order_relaxed);
        return -ENOSPC;
    }
    pthread_mutex_lock(&v->links_lock);
    size_t i = 0;
    while (i < v->nlink_users && strcmp(v->link_users[i].user, user) != 0)
        i++;
    if (i == v->nlink_users) {
        v->link_users = xrealloc(v->link_users, (v->nlink_users + 1) * sizeof(*v->link_users));
        v->link_users[i].user = xstrdup(user);
        v->link_users[i].n = 0;
        v->nlink_users++;
    }
    int rc = 0;
    if (v->link_users[i].n >= v->limits.max_blocking_per_user)
        rc = -EDQUOT;
    else
        v->link_users[i].n++;
    pthread_mutex_unlock(&v->links_lock);
    if (rc)
        atomic_fetch_sub_explicit(&v->counters.private_links, 1, memory_order_relaxed);
    return rc;
}

void view_link_give(proxy_view *v, const char *user)
{
    atomic_fetch_sub_explicit(&v->counters.private_links, 1, memory_order_relaxed);
    pthread_mutex_lock(&v->links_lock);
    for (size_t i = 0; i < v->nlink_users; i++) {
        if (strcmp(v->link_users[i].user, user) != 0)
            continue;
        if (--v->link_users[i].n == 0) {
            /* Users come and go: an entry lives only while its user holds links. */
            xfree(v->link_users[i].user);
            v->link_users[i] = v->link_users[--v->nlink_users];
        }
        break;
    }
    pthread_mutex_unlock(&v->links_lock);
}
