/* Blocking engine client with poll() deadlines. Only the control thread uses it. */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/engine.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "acl/acl_engine.h"
#include "common/alloc.h"
#include "common/compiler.h"
#include "net/ev.h"
#include "net/sock.h"

void engine_client_init(engine_client *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void free_replies(engine_client *c)
{
    for (size_t i = 0; i < c->nreplies; i++)
        resp_value_free(c->replies[i]);
    xfree(c->replies);
    c->replies = NULL;
    c->nreplies = 0;
    c->reply = NULL;
}

static void drop(engine_client *c)
{
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
    free_replies(c);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
}

void engine_client_deinit(engine_client *c)
{
    drop(c);
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = ev_clock_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(deadline - now));
        if (r > 0)
            return 0;
        if (r == -1 && errno != EINTR)
            return -errno;
    }
}

int engine_client_connect(engine_client *c, const char *addr, const char *password, int timeout_ms)
{
    drop(c);
    int in_progress = 0;
    int fd = sock_connect(addr, &in_progress);
    if (fd < 0) {
        snprintf(c->err, sizeof(c->err), "connect %s: %s", addr, strerror(-fd));
        return -1;
    }
    c->fd = fd;
    uint64_t deadline = ev_clock_ms() + (uint64_t)timeout_ms;
    if (in_progress) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (wait_fd(fd, POLLOUT, deadline) != 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1 || soerr != 0) {
            snprintf(c->err, sizeof(c->err), "connect %s: %s", addr,
                     strerror(soerr ? soerr : ETIMEDOUT));
            drop(c);
            return -1;
        }
    }
    if (password && password[0]) {
        const resp_value *v = engine_callv(c, timeout_ms, "AUTH", password, NULL);
        if (!v || v->type == RESP_T_ERROR) {
            if (v)
                snprintf(c->err, sizeof(c->err), "AUTH refused by %s: %.*s", addr, (int)v->len,
                         v->str);
            drop(c);
            return -1;
        }
        /* Named, so that engine diagnostics can tell its commands from clients'. A busy or
         * loading engine refuses the name (-BUSY, -LOADING): the connection serves unnamed. */
        if (!engine_callv(c, timeout_ms, "CLIENT", "SETNAME", ACL_ENGINE_CONTROL_NAME, NULL)) {
            drop(c);
            return -1;
        }
    }
    return 0;
}

const resp_value *engine_call(engine_client *c, int timeout_ms, const char *const *argv)
{
    size_t argc = 0;
    while (argv[argc])
        argc++;
    size_t *lens = xmalloc((argc + 1) * sizeof(size_t));
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    const resp_value *v = engine_call_lens(c, timeout_ms, argc, argv, lens);
    xfree(lens);
    return v;
}

/* Write c->out, then read until n complete replies are in c->in and parse them into
 * c->replies (trees point into c->in, so they are parsed once every byte is there). */
static resp_value *const *exchange(engine_client *c, int timeout_ms, size_t n)
{
    uint64_t deadline = ev_clock_ms() + (uint64_t)timeout_ms;
    while (buf_used(&c->out)) {
        ssize_t w = write(c->fd, buf_rptr(&c->out), buf_used(&c->out));
        if (w > 0) {
            buf_consume(&c->out, (size_t)w);
            continue;
        }
        if (w == -1 && (errno == EAGAIN || errno == EINTR) &&
            wait_fd(c->fd, POLLOUT, deadline) == 0)
            continue;
        snprintf(c->err, sizeof(c->err), "write: %s", w == -1 ? strerror(errno) : "closed");
        drop(c);
        return NULL;
    }
    size_t off = 0, got = 0; /* complete frames seen so far end at off */
    for (;;) {
        while (got < n && off < buf_used(&c->in)) {
            resp_value *v;
            size_t consumed;
            int r = resp_value_parse(buf_rptr(&c->in) + off, buf_used(&c->in) - off, &v, &consumed);
            if (r == RESP_ERR) {
                snprintf(c->err, sizeof(c->err), "protocol error from engine");
                drop(c);
                return NULL;
            }
            if (r != RESP_DONE)
                break;
            resp_value_free(v);
            off += consumed;
            got++;
        }
        if (got == n)
            break;
        if (buf_reserve(&c->in, 16384) != 0) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            drop(c);
            return NULL;
        }
        ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (r > 0) {
            c->in.len += (size_t)r;
            continue;
        }
        if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
            int wr = wait_fd(c->fd, POLLIN, deadline);
            if (wr == 0)
                continue;
            snprintf(c->err, sizeof(c->err), "%s", strerror(-wr));
        } else {
            snprintf(c->err, sizeof(c->err), "read: %s",
                     r == 0 ? "connection closed" : strerror(errno));
        }
        drop(c);
        return NULL;
    }
    c->replies = xmalloc(n * sizeof(resp_value *));
    off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t consumed;
        resp_value_parse(buf_rptr(&c->in) + off, buf_used(&c->in) - off, &c->replies[i], &consumed);
        off += consumed;
        c->nreplies++;
    }
    c->reply = c->replies[0];
    return c->replies;
}

/* Forget the last call's replies and bytes; 0, or -1 when not connected. */
static int begin(engine_client *c)
{
    free_replies(c);
    buf_consume(&c->in, buf_used(&c->in));
    buf_consume(&c->out, buf_used(&c->out));
    if (c->fd == -1) {
        snprintf(c->err, sizeof(c->err), "not connected");
        return -1;
    }
    return 0;
}

const resp_value *engine_call_lens(engine_client *c, int timeout_ms, size_t argc,
                                   const char *const *argv, const size_t *lens)
{
    if (begin(c) != 0)
        return NULL;
    resp_add_command(&c->out, argc, argv, lens);
    resp_value *const *r = exchange(c, timeout_ms, 1);
    return r ? r[0] : NULL;
}

resp_value *const *engine_pipeline(engine_client *c, int timeout_ms, const buf *cmds, size_t n)
{
    if (n == 0 || begin(c) != 0)
        return NULL;
    buf_append(&c->out, buf_rptr(cmds), buf_used(cmds));
    return exchange(c, timeout_ms, n);
}

const resp_value *engine_callv(engine_client *c, int timeout_ms, ...)
{
    const char *argv[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, timeout_ms);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < ARRAY_LEN(argv) - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return engine_call(c, timeout_ms, argv);
}
