/* Blocking HTTP calls through libcurl, for the CLI (the control plane's API) and the control
 * plane (its caches' figures). Plain http:// only, never through a proxy from the environment,
 * no redirects. The only file that includes curl/curl.h is http_client.c. */
#ifndef STRATUS_HTTP_CLIENT_H
#define STRATUS_HTTP_CLIENT_H

#include <stddef.h>

#include "common/buf.h"

/* One call. */
typedef struct {
    const char *method; /* "GET", "POST", "PATCH", "DELETE" ... */
    const char *url;    /* http://host:port/path */
    const char *token;  /* sent as "Authorization: Bearer <token>", or NULL */
    const char *body;   /* a JSON body, or NULL */
    long timeout_ms;    /* the whole call, 0: no limit */
    long idle_s;        /* give up after this many seconds without a byte, 0: never */
    size_t max;         /* reply bytes at most (more fails the call), 0: no limit */
} http_call;

/* Make call c: its status in *status and its body appended to out. 0; -ENOTCONN when nothing
 * listens there (err: the system's word, e.g. "Connection refused"); -EIO when the call got no
 * complete answer (err: why). Any thread. */
int http_request(const http_call *c, long *status, buf *out, char *err, size_t errlen);

#endif
