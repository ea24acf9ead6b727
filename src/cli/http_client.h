/* The CLI's HTTP client: one request to the control plane's API. The only file that includes
 * curl/curl.h (libcurl). */
#ifndef STRATUS_CLI_HTTP_CLIENT_H
#define STRATUS_CLI_HTTP_CLIENT_H

#include <stddef.h>

#include "common/buf.h"

/* One call: method url (plain http://) with "Authorization: Bearer token" and a JSON body
 * (NULL: none). The reply's status goes to *status and its body is appended to out. 0;
 * -ENOTCONN when nothing listens there (err: why, e.g. "Connection refused"); -EIO when the
 * call got no complete answer (err: why). */
int cli_http_call(const char *method, const char *url, const char *token, const char *body,
                  long *status, buf *out, char *err, size_t errlen);

#endif
