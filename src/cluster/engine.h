/* Blocking client for the control thread to talk to engines (never used on a worker): connect
 * over a unix socket or loopback TCP, authenticate, send a command, read one reply with a
 * deadline. */
#ifndef STRATUS_ENGINE_H
#define STRATUS_ENGINE_H

#include <stddef.h>

#include "common/buf.h"
#include "proto/resp.h"

/* Invariant: fd == -1 when not connected; reply points into in and lives until the next call. */
typedef struct {
    int fd;               /* socket */
    buf in;               /* bytes read */
    buf out;              /* request being written */
    resp_value *reply;    /* last reply (replies[0] of a pipeline) */
    resp_value **replies; /* last pipeline's replies */
    size_t nreplies;      /* entries in replies */
    char err[160];        /* last error, for logs */
} engine_client;

/* Initialise a disconnected client. */
void engine_client_init(engine_client *c);
/* Close and free everything. */
void engine_client_deinit(engine_client *c);
/* Connect to addr (unix path or host:port) and AUTH with password (if non-empty). 0 or -1. */
int engine_client_connect(engine_client *c, const char *addr, const char *password, int timeout_ms);
/* Send argv (NULL-terminated strings) and wait for the reply; NULL on I/O error or timeout
 * (c->err says which). The reply is valid until the next call. */
const resp_value *engine_call(engine_client *c, int timeout_ms, const char *const *argv);
/* As engine_call, with argc arguments of the given lengths (binary-safe, any count). */
const resp_value *engine_call_lens(engine_client *c, int timeout_ms, size_t argc,
                                   const char *const *argv, const size_t *lens);
/* Pipeline: send the n commands already encoded in cmds (resp_add_command) in one write and
 * wait for their n replies, which stay valid until the next call. Returns the replies array, or
 * NULL on I/O error or timeout (c->err says which). */
resp_value *const *engine_pipeline(engine_client *c, int timeout_ms, const buf *cmds, size_t n);
/* Convenience: engine_call with a NULL-terminated variadic list of strings. */
const resp_value *engine_callv(engine_client *c, int timeout_ms, ...);

#endif
