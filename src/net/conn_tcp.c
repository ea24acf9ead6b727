/* Plain socket transport (TCP and unix sockets): the identity adapter over read/write. */
#include "net/conn.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/compiler.h"

/* A read/write result in the conn contract: bytes, -EAGAIN to wait, or -errno (kept in c). */
static ssize_t io_result(conn *c, ssize_t r)
{
    if (r >= 0)
        return r;
    if (errno == EINTR || errno == EWOULDBLOCK)
        return -EAGAIN;
    c->err = -errno;
    return -errno;
}

static ssize_t tcp_read(conn *c, void *p, size_t n)
{
    return io_result(c, read(c->h.fd, p, n));
}

static ssize_t tcp_write(conn *c, const void *p, size_t n)
{
    return io_result(c, send(c->h.fd, p, n, MSG_NOSIGNAL));
}

static void tcp_event(conn *c, uint32_t events)
{
    if (c->state == CONN_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(c->h.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
            soerr = errno;
        if (soerr != 0) {
            c->err = -soerr;
            conn_close(c);
        } else {
            c->state = CONN_CONNECTED;
            conn_update_interest(c);
        }
        if (c->ready_handler)
            c->ready_handler(c);
        return;
    }
    if ((events & EV_READ) && c->read_handler)
        c->read_handler(c);
    if ((events & EV_WRITE) && c->write_handler && c->state == CONN_CONNECTED)
        c->write_handler(c);
}

static void tcp_handshake(conn *c)
{
    c->state = CONN_CONNECTED;
    c->ready_handler(c);
}

const conn_type conn_type_tcp = {
    .name = "tcp",
    .read = tcp_read,
    .write = tcp_write,
    .event = tcp_event,
    .handshake = tcp_handshake,
    .has_pending = NULL,
    .release = NULL,
};
