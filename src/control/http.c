/* libmicrohttpd adapter: checks a request's Host, collects its body, calls the handler, sends
 * its answer. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/alloc.h"

struct http_server {
    struct MHD_Daemon *d;
    http_handler handler;
    void *arg;
    int port;
    char *hosts; /* the operator's extra Host names (--api-hosts), "" when none */
};

/* A request being received: its body so far. misdirected holds the 421's text when the Host
 * header is refused; the body is then read and dropped. */
typedef struct {
    buf body;
    int too_big;
    char misdirected[256];
} pending;

/* ---- the Host check (DNS rebinding) ---- */

/* The address of host text h (an IPv4 or IPv6 literal, no brackets) into a 16-byte form
 * (IPv4 as IPv4-mapped IPv6) so both families compare with one memcmp. 0, or -1 for a name. */
static int ip_bytes(const char *h, unsigned char out[16])
{
    struct in_addr a4;
    if (inet_pton(AF_INET, h, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, h, out) == 1 ? 0 : -1;
}

/* The host part of a Host header value into out, without brackets or port; -1 when it is not
 * host[:port] or [IPv6]:port, or the port is not a number. */
static int host_part(const char *v, char *out, size_t outlen)
{
    const char *end, *port;
    if (v[0] == '[') {
        end = strchr(v, ']');
        if (!end)
            return -1;
        port = end + 1;
        v++;
    } else {
        end = strchr(v, ':');
        port = end ? end : v + strlen(v);
        end = port;
        if (*port && strchr(port + 1, ':'))
            return -1; /* an IPv6 literal must be in brackets */
    }
    if (*port) {
        size_t digits = strspn(port + 1, "0123456789");
        if (port[0] != ':' || digits < 1 || digits > 5 || port[1 + digits] != '\0')
            return -1;
    }
    size_t len = (size_t)(end - v);
    if (len == 0 || len >= outlen)
        return -1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

/* Copy the first entry of a comma-separated list into out, trimmed and without brackets
 * (*bracketed says whether it had them; may be NULL); the position after it, or NULL when the
 * list has no more. */
static const char *next_name(const char *list, char *out, size_t outlen, int *bracketed)
{
    while (*list == ' ' || *list == ',')
        list++;
    if (!*list)
        return NULL;
    size_t len = strcspn(list, ",");
    const char *next = list + len;
    while (len && list[len - 1] == ' ')
        len--;
    int br = len >= 2 && list[0] == '[' && list[len - 1] == ']';
    if (br) {
        list++;
        len -= 2;
    }
    if (bracketed)
        *bracketed = br;
    snprintf(out, outlen, "%.*s", (int)len, list);
    return next;
}

int http_hosts_check(const char *names, char *err, size_t errlen)
{
    char n[256];
    unsigned char ip[16];
    int br;
    for (const char *p = names; (p = next_name(p, n, sizeof(n), &br));) {
        size_t ok = strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
        if (br ? strchr(n, ':') && ip_bytes(n, ip) == 0
               : (n[0] && n[ok] == '\0' && ok < 254) || ip_bytes(n, ip) == 0)
            continue;
        snprintf(err, errlen,
                 "--api-hosts: \"%.100s\" is neither a host name nor an IP address (give names "
                 "without a port or scheme, comma-separated: any port is accepted)",
                 n);
        return -1;
    }
    return 0;
}

int http_host_allowed(const char *host, const char *local, const char *names)
{
    char h[256], n[256];
    unsigned char hip[16], nip[16];
    if (!host || host_part(host, h, sizeof(h)) != 0)
        return 0;
    int is_ip = ip_bytes(h, hip) == 0;
    if (host[0] == '[' && (!is_ip || !strchr(h, ':')))
        return 0; /* brackets hold an IPv6 address and nothing else */
    /* "localhost" never resolves to another host; an address must be the one the request
     * arrived on (with a wildcard bind, any of the host's). */
    if (!is_ip && strcasecmp(h, "localhost") == 0)
        return 1;
    if (is_ip && local && ip_bytes(local, nip) == 0 && memcmp(hip, nip, 16) == 0)
        return 1;
    for (const char *p = names ? names : ""; (p = next_name(p, n, sizeof(n), NULL));)
        if (is_ip ? ip_bytes(n, nip) == 0 && memcmp(hip, nip, 16) == 0 : strcasecmp(h, n) == 0)
            return 1;
    return 0;
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

/* The address conn arrived on, as text (an IPv4-mapped IPv6 address as IPv4); "" if unknown. */
static void local_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) == -1)
        return;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)outlen);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)outlen);
        else
            inet_ntop(AF_INET6, a6, out, (socklen_t)outlen);
    }
}

/* Refuse a request whose Host header does not name this server (a page served from another
 * name reaching it through DNS rebinding): the 421's text into p->misdirected. */
static void check_host(const http_server *h, struct MHD_Connection *conn, pending *p)
{
    int nhost = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_host, &nhost);
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char local[INET6_ADDRSTRLEN];
    local_address(conn, local, sizeof(local));
    if (nhost == 1 && http_host_allowed(host, local, h->hosts))
        return;
    char shown[64];
    size_t i = 0;
    for (; host && host[i] && i < sizeof(shown) - 1; i++)
        shown[i] = isprint((unsigned char)host[i]) ? host[i] : '?';
    shown[i] = '\0';
    if (nhost == 0)
        snprintf(p->misdirected, sizeof(p->misdirected),
                 "misdirected request: send a Host header naming this server (%s or localhost)\n",
                 local);
    else if (nhost > 1)
        snprintf(p->misdirected, sizeof(p->misdirected),
                 "misdirected request: send one Host header, not %d\n", nhost);
    else
        snprintf(p->misdirected, sizeof(p->misdirected),
                 "misdirected request: Host \"%s\" is not this server (%s, localhost or a name "
                 "in --api-hosts)\n",
                 shown, local);
}

/* ---- serving ---- */

static enum MHD_Result send_reply(struct MHD_Connection *conn, const http_reply *rp, buf *out)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(buf_used(out), buf_rptr(out), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", rp->type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (rp->extra_name)
        MHD_add_response_header(r, rp->extra_name, rp->extra_value);
    enum MHD_Result ok = MHD_queue_response(conn, rp->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    http_server *h = cls;
    pending *p = *state;
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        buf_init(&p->body);
        check_host(h, conn, p);
        *state = p;
        return MHD_YES;
    }
    if (*upload_size) {
        if (buf_used(&p->body) + *upload_size > HTTP_MAX_BODY)
            p->too_big = 1;
        else if (!p->misdirected[0]) /* else read and dropped */
            buf_append(&p->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    buf out;
    buf_init(&out);
    http_reply rp = {.status = 200, .type = "application/json"};
    if (p->misdirected[0]) {
        rp.status = 421;
        rp.type = "text/plain; charset=utf-8";
        buf_append(&out, p->misdirected, strlen(p->misdirected));
    } else if (p->too_big) {
        rp.status = 413;
        buf_appendf(&out,
                    "{\"error\":{\"code\":\"RequestTooLarge\",\"message\":\"the request body is "
                    "over %u bytes\"}}\n",
                    HTTP_MAX_BODY);
    } else {
        buf_append(&p->body, "", 1); /* NUL-terminate for the handler */
        http_request rq = {.method = method,
                           .path = url,
                           .body = buf_rptr(&p->body),
                           .body_len = buf_used(&p->body) - 1,
                           .conn = conn};
        h->handler(h->arg, &rq, &rp, &out);
    }
    enum MHD_Result ok = send_reply(conn, &rp, &out);
    buf_deinit(&out);
    return ok;
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
                      enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    pending *p = *state;
    if (p) {
        buf_deinit(&p->body);
        xfree(p);
        *state = NULL;
    }
}

http_server *http_start(const char *what, const char *bind, int port, const char *hosts,
                        int threaded, http_handler handler, void *arg, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    struct sockaddr_in6 sa6;
    memset(&sa, 0, sizeof(sa));
    memset(&sa6, 0, sizeof(sa6));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = htons((uint16_t)port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr *addr = (struct sockaddr *)&sa;
    if (inet_pton(AF_INET6, bind, &sa6.sin6_addr) == 1) {
        /* "::" takes IPv4 too, as the endpoint's own listener does. */
        flags |= MHD_USE_DUAL_STACK;
        addr = (struct sockaddr *)&sa6;
    } else if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "%s: cannot listen on '%s' (an IPv4 or IPv6 address)", what, bind);
        return NULL;
    }
    if (http_hosts_check(hosts ? hosts : "", err, errlen) != 0)
        return NULL;
    http_server *h = xcalloc(1, sizeof(*h));
    h->handler = handler;
    h->arg = arg;
    h->hosts = xstrdup(hosts ? hosts : "");
    if (threaded)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d (in use? pick another port)", what, bind,
                 port);
        xfree(h->hosts);
        xfree(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : port;
    return h;
}

int http_port(const http_server *h)
{
    return h->port;
}

void http_stop(http_server *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    xfree(h->hosts);
    xfree(h);
}

const char *http_query(const http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}
