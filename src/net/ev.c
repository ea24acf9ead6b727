/* epoll event loop. Level-triggered: a handler that stops early (fairness caps) is simply called
 * again next iteration. The tick is a timerfd and the wake-up an eventfd, so the loop has one
 * blocking point, epoll_wait. */
#define ALLOC_ROOM ROOM_NET
#include "net/ev.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"

#define EV_BATCH 256

struct ev_loop {
    int epfd;
    int stop;
    int no_wait;
    uint64_t now_ms;
    ev_handler tick_h; /* timerfd */
    ev_handler wake_h; /* eventfd */
    void (*tick)(ev_loop *, void *);
    void *tick_data;
    void (*before_sleep)(ev_loop *, void *);
    void *before_sleep_data;
    void (*wake)(ev_loop *, void *);
    void *wake_data;
    _Atomic int wake_pending;
};

uint64_t ev_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ev_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t to_epoll(uint32_t mask)
{
    return ((mask & EV_READ) ? EPOLLIN : 0) | ((mask & EV_WRITE) ? EPOLLOUT : 0);
}

static void on_tick(ev_loop *loop, ev_handler *h, uint32_t events)
{
    (void)events;
    uint64_t n;
    if (read(h->fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
        log_warn("ev: timerfd read: %s", strerror(errno));
    if (loop->tick)
        loop->tick(loop, loop->tick_data);
}

static void on_wake(ev_loop *loop, ev_handler *h, uint32_t events)
{
    (void)events;
    uint64_t n;
    if (read(h->fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
        log_warn("ev: eventfd read: %s", strerror(errno));
    atomic_store(&loop->wake_pending, 0);
    if (loop->wake)
        loop->wake(loop, loop->wake_data);
}

ev_loop *ev_create(int tick_ms, void (*tick)(ev_loop *, void *), void *tick_data)
{
    ev_loop *loop = xcalloc(1, sizeof(*loop));
    loop->tick_h.fd = loop->wake_h.fd = -1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd == -1)
        goto fail;
    loop->wake_h.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wake_h.fd == -1)
        goto fail;
    loop->wake_h.fn = on_wake;
    if (ev_add(loop, &loop->wake_h, EV_READ) != 0)
        goto fail;
    if (tick_ms > 0) {
        loop->tick = tick;
        loop->tick_data = tick_data;
        loop->tick_h.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (loop->tick_h.fd == -1)
            goto fail;
        struct itimerspec its = {0};
        its.it_interval.tv_sec = tick_ms / 1000;
        its.it_interval.tv_nsec = (long)(tick_ms % 1000) * 1000000L;
        its.it_value = its.it_interval;
        if (timerfd_settime(loop->tick_h.fd, 0, &its, NULL) == -1)
            goto fail;
        loop->tick_h.fn = on_tick;
        if (ev_add(loop, &loop->tick_h, EV_READ) != 0)
            goto fail;
    }
    loop->now_ms = ev_clock_ms();
    return loop;
fail:
    log_error("ev: cannot create event loop: %s", strerror(errno));
    ev_destroy(loop);
    return NULL;
}

void ev_destroy(ev_loop *loop)
{
    if (!loop)
        return;
    if (loop->tick_h.fd != -1)
        close(loop->tick_h.fd);
    if (loop->wake_h.fd != -1)
        close(loop->wake_h.fd);
    if (loop->epfd != -1)
        close(loop->epfd);
    xfree(loop);
}

int ev_add(ev_loop *loop, ev_handler *h, uint32_t mask)
{
    struct epoll_event ee = {.events = to_epoll(mask), .data.ptr = h};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, h->fd, &ee) == -1)
        return -errno;
    h->mask = mask;
    return 0;
}

int ev_set(ev_loop *loop, ev_handler *h, uint32_t mask)
{
    if (h->mask == mask)
        return 0;
    struct epoll_event ee = {.events = to_epoll(mask), .data.ptr = h};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, h->fd, &ee) == -1)
        return -errno;
    h->mask = mask;
    return 0;
}

void ev_del(ev_loop *loop, ev_handler *h)
{
    if (h->fd >= 0)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
    h->mask = 0;
}

void ev_set_before_sleep(ev_loop *loop, void (*fn)(ev_loop *, void *), void *data)
{
    loop->before_sleep = fn;
    loop->before_sleep_data = data;
}

void ev_set_wake(ev_loop *loop, void (*fn)(ev_loop *, void *), void *data)
{
    loop->wake = fn;
    loop->wake_data = data;
}

void ev_no_wait(ev_loop *loop)
{
    loop->no_wait = 1;
}

void ev_wake(ev_loop *loop)
{
    if (atomic_exchange(&loop->wake_pending, 1))
        return;
    uint64_t one = 1;
    if (write(loop->wake_h.fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
        log_warn("ev: eventfd write: %s", strerror(errno));
}

void ev_stop(ev_loop *loop)
{
    loop->stop = 1;
}

uint64_t ev_now_ms(const ev_loop *loop)
{
    return loop->now_ms;
}

void ev_run(ev_loop *loop, void (*offline)(void), void (*online)(void))
{
    struct epoll_event events[EV_BATCH];
    while (!loop->stop) {
        int timeout = loop->no_wait ? 0 : -1;
        loop->no_wait = 0;
        if (offline && timeout != 0)
            offline();
        int n = epoll_wait(loop->epfd, events, EV_BATCH, timeout);
        if (online && timeout != 0)
            online();
        loop->now_ms = ev_clock_ms();
        if (n == -1) {
            if (errno == EINTR)
                continue;
            log_error("ev: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            ev_handler *h = events[i].data.ptr;
            /* A handler closed earlier in this batch stays allocated until before_sleep. */
            if (h->fd < 0)
                continue;
            uint32_t e = events[i].events, mask = 0;
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                mask |= EV_READ;
            if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                mask |= EV_WRITE;
            h->fn(loop, h, mask & (h->mask | ((e & (EPOLLERR | EPOLLHUP)) ? EV_READ : 0)));
        }
        if (loop->before_sleep)
            loop->before_sleep(loop, loop->before_sleep_data);
    }
}
