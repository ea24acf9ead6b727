/* A cache's running endpoint as other processes find it: <cache dir>/endpoint (written by the
 * cache's process once it serves: host, TLS port, CA file, metrics port), and a blocking call
 * over TLS as the default user (the CLI and the control plane use it). */
#ifndef STRATUS_ENDPOINT_H
#define STRATUS_ENDPOINT_H

#include <stddef.h>

/* Write dir/endpoint atomically. 0 or -errno. */
int endpoint_write(const char *dir, const char *host, int port, const char *ca, int metrics_port);
/* Read dir/endpoint. 0, or -ENOENT when the cache is not running. */
int endpoint_read(const char *dir, char *host, size_t hostlen, int *port, char *ca, size_t calen,
                  int *metrics_port);
/* Send argv to the endpoint of the cache in dir as the default user; the reply (a line of text)
 * to out. 0 when the command succeeded, 1 when the cache refused it (out holds why), -1 with
 * err. */
int endpoint_call(const char *dir, size_t argc, const char *const *argv, char *out, size_t outlen,
                  char *err, size_t errlen);

#endif
