/* Socket helpers: listening sockets with SO_REUSEPORT (one per worker), non-blocking
 * connects to unix paths or host:port, and free-port probing for the engines. */
#ifndef STRATUS_SOCK_H
#define STRATUS_SOCK_H

/* Listen on bind_addr:port (port 0 = kernel's choice) with SO_REUSEPORT; fd or -errno. */
int sock_listen(const char *bind_addr, int port, int backlog);
/* Port a bound socket listens on; -errno on failure. */
int sock_port(int fd);
/* Accept one connection as non-blocking, close-on-exec, TCP_NODELAY; fd or -errno (-EAGAIN). */
int sock_accept(int lfd);
/* Connect to "/unix/path" or "host:port" without blocking; fd or -errno. */
int sock_connect(const char *addr, int *in_progress);
/* Whether 127.0.0.1:port can be bound right now (for choosing engine ports). */
int sock_port_free(int port);

#endif
