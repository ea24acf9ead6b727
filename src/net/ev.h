/* One epoll loop per thread: fd handlers, a periodic tick, cross-thread wake-ups, and a
 * before-sleep hook where each worker flushes the writes it batched during the iteration. */
#ifndef STRATUS_EV_H
#define STRATUS_EV_H

#include <stdint.h>

#define EV_READ 1u
#define EV_WRITE 2u

typedef struct ev_loop ev_loop;
typedef struct ev_handler ev_handler;

/* Called with the events that fired (EV_READ|EV_WRITE, errors reported as both). */
typedef void (*ev_fn)(ev_loop *loop, ev_handler *h, uint32_t events);

/* One registered fd. Embedded in its owner (a conn, a listener); the loop never frees it. */
struct ev_handler {
    int fd;        /* watched descriptor */
    uint32_t mask; /* EV_READ|EV_WRITE currently requested */
    ev_fn fn;      /* dispatch target */
    void *data;    /* owner */
};

/* Create a loop; tick_ms > 0 calls tick every tick_ms milliseconds. */
ev_loop *ev_create(int tick_ms, void (*tick)(ev_loop *, void *), void *tick_data);
/* Destroy a loop; every handler must have been removed. */
void ev_destroy(ev_loop *loop);
/* Register h->fd with mask; 0 or -errno. */
int ev_add(ev_loop *loop, ev_handler *h, uint32_t mask);
/* Change the requested events of a registered handler (no syscall if unchanged). */
int ev_set(ev_loop *loop, ev_handler *h, uint32_t mask);
/* Unregister a handler (before its fd is closed). */
void ev_del(ev_loop *loop, ev_handler *h);
/* Set the hook run after each batch of events, before waiting again. */
void ev_set_before_sleep(ev_loop *loop, void (*fn)(ev_loop *, void *), void *data);
/* Ask the next wait not to block (work is pending outside epoll, e.g. TLS-buffered bytes). */
void ev_no_wait(ev_loop *loop);
/* Wake the loop from another thread; wake_fn runs on the loop's thread. Thread-safe. */
void ev_wake(ev_loop *loop);
/* Set the function run on the loop's thread after ev_wake. */
void ev_set_wake(ev_loop *loop, void (*fn)(ev_loop *, void *), void *data);
/* Run until ev_stop; idle/online hooks let RCU readers go quiescent while blocked. */
void ev_run(ev_loop *loop, void (*offline)(void), void (*online)(void));
/* Make ev_run return after the current iteration (call on the loop's thread or via wake). */
void ev_stop(ev_loop *loop);
/* Monotonic milliseconds, cached once per iteration. */
uint64_t ev_now_ms(const ev_loop *loop);
/* Monotonic clock in milliseconds, read now. */
uint64_t ev_clock_ms(void);
/* The same clock in microseconds. */
uint64_t ev_clock_us(void);

#endif
