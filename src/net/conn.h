/* Connections behind a transport vtable (Redis ConnectionType): sessions and backends call
 * conn_read/conn_write and set handlers; only conn_tcp.c and conn_tls.c know the transport.
 *
 * Lifecycle: create (accepted fd or outgoing connect) -> accept/connect handshake ->
 * connected (handlers fire) -> conn_close (fd gone, handlers off) -> conn_free on the owner
 * thread once no event of the current loop batch can still reference it. */
#ifndef STRATUS_CONN_H
#define STRATUS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/ev.h"

typedef struct conn conn;
typedef void (*conn_cb)(conn *c);

typedef enum {
    CONN_HANDSHAKE,  /* accepted, transport handshake (TLS) not finished */
    CONN_CONNECTING, /* outgoing connect in progress */
    CONN_CONNECTED,  /* ready for reads and writes */
    CONN_CLOSED      /* fd closed; only conn_free remains */
} conn_state;

/* Transport operations; every function returns bytes moved, 0 for EOF (read), or -errno with
 * -EAGAIN meaning "try again when the loop says so". */
typedef struct conn_type {
    const char *name;                                   /* "tcp", "tls" */
    ssize_t (*read)(conn *c, void *p, size_t n);        /* read up to n bytes */
    ssize_t (*write)(conn *c, const void *p, size_t n); /* write up to n bytes */
    void (*event)(conn *c, uint32_t events);            /* loop dispatch */
    void (*handshake)(conn *c);                         /* begin the server handshake */
    int (*has_pending)(const conn *c);                  /* bytes buffered in the transport */
    void (*release)(conn *c);                           /* free transport state on close */
} conn_type;

/* Invariant: h.fd == -1 exactly when state == CONN_CLOSED. */
struct conn {
    ev_handler h;          /* loop registration; h.data == this conn */
    const conn_type *type; /* transport */
    ev_loop *loop;         /* owner thread's loop */
    conn_state state;      /* lifecycle */
    int err;               /* last errno-style error, 0 if none */
    conn_cb read_handler;  /* readable (or EOF/error) */
    conn_cb write_handler; /* writable */
    conn_cb ready_handler; /* handshake or connect finished (check state/err) */
    void *data;            /* owner: session or backend link */
    void *tls;             /* transport private state (SSL *) */
    uint32_t tls_want;     /* extra interest the transport needs (EV_READ|EV_WRITE) */
    uint32_t tls_flags;    /* transport-private state bits */
    int plaintext_on_tls;  /* a plaintext client on the TLS port, handed over as plain TCP */
    uint64_t created_ms;   /* when it was created */
    uint64_t deadline_ms;  /* a handshake not finished by then is dropped */
};

extern const conn_type conn_type_tcp;
/* The TLS transport; available once tls_init succeeded. */
extern const conn_type conn_type_tls;

/* Wrap an accepted, non-blocking fd; the conn owns the fd. */
conn *conn_create_accepted(ev_loop *loop, int fd, const conn_type *type);
/* Start the handshake; ready fires once connected or closed (state tells which). */
void conn_accept(conn *c, conn_cb ready);
/* Start a non-blocking connect to a unix socket path or "host:port". If it completes at once
 * (unix sockets) the conn is returned CONN_CONNECTED and ready never fires; otherwise ready
 * fires when it completes or fails. NULL with *err on immediate failure. */
conn *conn_connect(ev_loop *loop, const char *addr, conn_cb ready, int *err);
/* Set (or clear with NULL) the readable handler. */
void conn_set_read_handler(conn *c, conn_cb cb);
/* Set (or clear with NULL) the writable handler. */
void conn_set_write_handler(conn *c, conn_cb cb);
/* Read up to n bytes: >0, 0 on EOF, -EAGAIN, or -errno. */
ssize_t conn_read(conn *c, void *p, size_t n);
/* Write up to n bytes: >0, -EAGAIN, or -errno. */
ssize_t conn_write(conn *c, const void *p, size_t n);
/* Whether the transport holds decrypted bytes that epoll cannot see. */
int conn_has_pending(const conn *c);
/* Close the fd and stop all handlers; safe to call twice. Memory stays until conn_free. */
void conn_close(conn *c);
/* Free a closed connection (owner thread, after the current event batch). */
void conn_free(conn *c);
/* Recompute the loop interest from handlers and transport needs (transport-internal). */
void conn_update_interest(conn *c);
/* Local address the client connected to, as "ip" and port; 0 or -errno. */
int conn_local_addr(const conn *c, char *ip, size_t iplen, int *port);
/* Address of the peer, as "ip" and port; 0 or -errno. */
int conn_peer_addr(const conn *c, char *ip, size_t iplen, int *port);

#endif
