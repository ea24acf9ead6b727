/* A blocking HTTP GET with a deadline, for the control plane reading its caches' figures
 * (control/plane_sample.c). The only file that includes curl.h is http_client.c. */
#ifndef STRATUS_HTTP_CLIENT_H
#define STRATUS_HTTP_CLIENT_H

#include <stddef.h>

#include "common/buf.h"

/* GET http://host:port/path (host: an IPv4 or IPv6 address or a name) within timeout_ms, never
 * through a proxy; a body of at most max bytes appended to out. 0 on status 200, else -EIO
 * with err (out may then hold part of a body). */
int http_client_get(const char *host, int port, const char *path, long timeout_ms, size_t max,
                    buf *out, char *err, size_t errlen);

#endif
