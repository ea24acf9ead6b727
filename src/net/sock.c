/* Socket helpers. All sockets are non-blocking and close-on-exec, so engine children never
 * inherit a client's connection. */
#include "net/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/compiler.h"

static int fill_inet(const char *host, int port, struct sockaddr_storage *ss, socklen_t *sl)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*s6);
        return 0;
    }
    return -EINVAL;
}

int sock_listen(const char *bind_addr, int port, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (fill_inet(bind_addr, port, &ss, &sl) != 0)
        return -EINVAL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
        bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, backlog) == -1) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int sock_accept(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd == -1)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int sock_connect(const char *addr, int *in_progress)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (addr[0] == '/') {
        struct sockaddr_un *su = (struct sockaddr_un *)&ss;
        size_t n = strlen(addr);
        if (n >= sizeof(su->sun_path))
            return -ENAMETOOLONG;
        su->sun_family = AF_UNIX;
        memcpy(su->sun_path, addr, n + 1);
        sl = sizeof(*su);
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || colon == addr)
            return -EINVAL;
        char host[64];
        size_t hl = (size_t)(colon - addr);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, addr, hl);
        host[hl] = '\0';
        if (fill_inet(host, atoi(colon + 1), &ss, &sl) != 0)
            return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    if (ss.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    *in_progress = 0;
    if (connect(fd, (struct sockaddr *)&ss, sl) == -1) {
        if (errno == EINPROGRESS || errno == EAGAIN) {
            *in_progress = 1;
        } else {
            int e = -errno;
            close(fd);
            return e;
        }
    }
    return fd;
}

int sock_port_free(int port)
{
    /* No SO_REUSEPORT here: the probe must fail if anything at all holds the port. */
    struct sockaddr_storage ss;
    socklen_t sl;
    fill_inet("127.0.0.1", port, &ss, &sl);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int ok = bind(fd, (struct sockaddr *)&ss, sl) == 0;
    close(fd);
    return ok;
}
