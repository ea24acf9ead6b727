/* The control plane's HTTP JSON API (/v1/...), its web console (/) and its metrics (/metrics),
 * served by control/http.c. Every /v1 call needs "Authorization: Bearer <admin token>"; errors
 * are {"error": {"code": ..., "message": ...}} with an HTTP status. The only server file that
 * includes jansson.h. Reference: docs/api.md. */
#ifndef STRATUS_API_H
#define STRATUS_API_H

#include <stddef.h>

#include "control/plane.h"

typedef struct api_server api_server;

/* The parts of a call's path after /v1 ("caches", "orders", "usage"), as its route sees them. */
typedef char api_path_parts[4][72];

/* Serve p on bind:port (0: any free port) to requests whose Host names bind, localhost or one of
 * hosts (--api-hosts). NULL with err. */
api_server *api_start(plane *p, const char *bind, int port, const char *hosts, char *err,
                      size_t errlen);
/* The port bound. */
int api_port(const api_server *a);
/* Apply a JSON body (the fields of POST/PATCH /v1/caches) onto d and check the result: 0, or
 * -EINVAL with err. */
int api_parse_def(const char *body, size_t len, plane_def *d, int creating, char *err,
                  size_t errlen);
/* Split path "/v1/a/b/c" into parts after "/v1" (at most 4, each 1 to 71 characters; a trailing
 * "/" ends the path): their count, or -1 for a path that is not so. */
int api_path_split(const char *path, api_path_parts parts);
/* Whether n parts match a route's pattern: its parts joined by '/', where "*" stands for any one
 * part (a name). */
int api_route_match(const char *pattern, api_path_parts parts, int n);
/* Stop serving and free; NULL is allowed. */
void api_stop(api_server *a);

#endif
