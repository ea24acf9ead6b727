/* A small HTTP/1.1 server (libmicrohttpd): the metrics endpoint and the control plane's API and
 * console are served through it. A request whose Host header does not name the server (its
 * address, localhost or an operator's name) gets 421 before any handler runs, so a web page
 * cannot read these through DNS rebinding. The only file that includes microhttpd.h is http.c. */
#ifndef STRATUS_HTTP_H
#define STRATUS_HTTP_H

#include <stddef.h>

#include "common/buf.h"

typedef struct http_server http_server;
typedef struct http_request http_request;

/* A request as handlers see it: the body is complete (at most HTTP_MAX_BODY bytes). */
struct http_request {
    const char *method; /* "GET", "POST" ... */
    const char *path;   /* without the query string */
    const char *body;   /* request body (NUL-terminated), "" when none */
    size_t body_len;
    void *conn; /* the library's connection, for http_query/http_header */
};

/* What a handler answers: status, content type and the body in out. */
typedef struct {
    unsigned status;
    const char *type;       /* content type (static string) */
    const char *extra_name; /* one more header, or NULL */
    const char *extra_value;
} http_reply;

#define HTTP_MAX_BODY (1u << 20)

/* Fill reply and append the body to out. Runs on the server's thread(s). */
typedef void (*http_handler)(void *arg, const http_request *rq, http_reply *reply, buf *out);

/* Listen on bind:port (an IPv4 or IPv6 address; port 0: any free port) and serve requests with
 * handler; hosts: more names the Host header may carry (--api-hosts, comma-separated, may be
 * NULL). threaded: one thread per connection (for handlers that may wait, e.g. create a cache),
 * else one thread for all. NULL with err (what names the setting in messages, e.g. "--api-port").
 */
http_server *http_start(const char *what, const char *bind, int port, const char *hosts,
                        int threaded, http_handler handler, void *arg, char *err, size_t errlen);
/* The port bound. */
int http_port(const http_server *h);
/* Stop serving (waits for handlers to return) and free; NULL is allowed. */
void http_stop(http_server *h);
/* Query argument name of rq, or NULL. */
const char *http_query(const http_request *rq, const char *name);
/* Request header name of rq, or NULL. */
const char *http_header(const http_request *rq, const char *name);
/* Whether a Host header value names this server: local (the address the request arrived on, as
 * text), localhost, or one of names (comma-separated host names or IP addresses), with or
 * without a port; an IPv6 address in brackets. NULL host: no. */
int http_host_allowed(const char *host, const char *local, const char *names);
/* 0 when names is a valid --api-hosts list (host names or IP addresses, comma-separated), else
 * -1 with err. */
int http_hosts_check(const char *names, char *err, size_t errlen);

#endif
