/* Transport-independent half of connections: creation, handler registration and close. */
#define ALLOC_ROOM ROOM_NET
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "net/sock.h"

#define CONN_HANDSHAKE_MS 10000

static void conn_dispatch(ev_loop *loop, ev_handler *h, uint32_t events)
{
    (void)loop;
    conn *c = h->data;
    c->type->event(c, events);
}

static conn *conn_new(ev_loop *loop, int fd, const conn_type *type, conn_state state)
{
    conn *c = xcalloc(1, sizeof(*c));
    c->h.fd = fd;
    c->h.fn = conn_dispatch;
    c->h.data = c;
    c->type = type;
    c->loop = loop;
    c->state = state;
    c->created_ms = ev_now_ms(loop);
    c->deadline_ms = c->created_ms + CONN_HANDSHAKE_MS;
    return c;
}

conn *conn_create_accepted(ev_loop *loop, int fd, const conn_type *type)
{
    conn *c = conn_new(loop, fd, type, CONN_HANDSHAKE);
    if (ev_add(loop, &c->h, 0) != 0) {
        close(fd);
        c->h.fd = -1;
        c->state = CONN_CLOSED;
    }
    return c;
}

void conn_accept(conn *c, conn_cb ready)
{
    c->ready_handler = ready;
    if (c->state == CONN_CLOSED) {
        ready(c);
        return;
    }
    c->type->handshake(c);
}

conn *conn_connect(ev_loop *loop, const char *addr, conn_cb ready, int *err)
{
    int in_progress = 0;
    int fd = sock_connect(addr, &in_progress);
    if (fd < 0) {
        *err = fd;
        return NULL;
    }
    conn *c = conn_new(loop, fd, &conn_type_tcp, in_progress ? CONN_CONNECTING : CONN_CONNECTED);
    c->ready_handler = ready;
    int rc = ev_add(loop, &c->h, in_progress ? EV_WRITE : 0);
    if (rc != 0) {
        close(fd);
        xfree(c);
        *err = rc;
        return NULL;
    }
    return c;
}

void conn_update_interest(conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    uint32_t mask = c->tls_want;
    if (c->state == CONN_CONNECTED) {
        if (c->read_handler)
            mask |= EV_READ;
        if (c->write_handler)
            mask |= EV_WRITE;
    }
    if (c->state == CONN_CONNECTING)
        mask |= EV_WRITE;
    if (ev_set(c->loop, &c->h, mask) != 0)
        c->err = -errno;
}

void conn_set_read_handler(conn *c, conn_cb cb)
{
    c->read_handler = cb;
    conn_update_interest(c);
}

void conn_set_write_handler(conn *c, conn_cb cb)
{
    c->write_handler = cb;
    conn_update_interest(c);
}

ssize_t conn_read(conn *c, void *p, size_t n)
{
    if (c->state != CONN_CONNECTED)
        return -ENOTCONN;
    return c->type->read(c, p, n);
}

ssize_t conn_write(conn *c, const void *p, size_t n)
{
    if (c->state != CONN_CONNECTED)
        return -ENOTCONN;
    return c->type->write(c, p, n);
}

int conn_has_pending(const conn *c)
{
    return c->state == CONN_CONNECTED && c->type->has_pending && c->type->has_pending(c);
}

void conn_close(conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    ev_del(c->loop, &c->h);
    if (c->type->release)
        c->type->release(c);
    close(c->h.fd);
    c->h.fd = -1;
    c->state = CONN_CLOSED;
    c->read_handler = c->write_handler = NULL;
}

void conn_free(conn *c)
{
    if (!c)
        return;
    conn_close(c);
    xfree(c);
}

static void format_sockaddr(const struct sockaddr_storage *ss, char *ip, size_t iplen, int *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(s4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(s6->sin6_port);
    } else {
        snprintf(ip, iplen, "127.0.0.1");
        *port = 0;
    }
}

int conn_local_addr(const conn *c, char *ip, size_t iplen, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (c->h.fd < 0 || getsockname(c->h.fd, (struct sockaddr *)&ss, &sl) == -1)
        return -errno;
    format_sockaddr(&ss, ip, iplen, port);
    return 0;
}

int conn_peer_addr(const conn *c, char *ip, size_t iplen, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (c->h.fd < 0)
        return -EBADF;
    if (getpeername(c->h.fd, (struct sockaddr *)&ss, &sl) == -1)
        return -errno;
    format_sockaddr(&ss, ip, iplen, port);
    return 0;
}
