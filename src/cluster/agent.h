/* Host agent: `stratus agent` runs on each host of a zone that is not the control plane's own and
 * starts, signals and removes the cache's engines there on request of the control plane, over one
 * TLS connection both ends authenticate with a shared token (an HMAC bound to the TLS channel,
 * so the token never crosses the wire and a man in the middle cannot relay a proof). The agent
 * also holds the control plane's lease: when the control plane has been silent for longer than
 * the lease, it pauses writes on the primaries it runs, so a host cut off from the control plane
 * cannot take writes the rest of the cache will never see. agent_link is the control plane's
 * side of that connection (control thread only; blocking, with short timeouts). */
#ifndef STRATUS_AGENT_H
#define STRATUS_AGENT_H

#include <stddef.h>

#include "proto/resp.h"

typedef struct agent_link agent_link;

/* `stratus agent [--listen HOST:PORT] [--dir DIR] [--token-file F] [--engine-binary B]`: run the
 * agent until SIGINT/SIGTERM. Exit code (2: usage). */
int agent_main(int argc, char **argv);
/* Read the shared token from path (at least 32 characters; the file must not be readable by
 * group or others). 0, or -1 with the fix in err. */
int agent_token_load(const char *path, char *out, size_t outlen, char *err, size_t errlen);
/* Create path with a fresh token (mode 0600) unless it exists, then load it as above. */
int agent_token_ensure(const char *path, char *out, size_t outlen, char *err, size_t errlen);
/* A link to the agent at host:port for zone; nothing is connected yet. token is copied. */
agent_link *agent_link_create(const char *zone, const char *host, int port, const char *token);
/* Close and free; NULL is allowed. */
void agent_link_destroy(agent_link *a);
/* Connect and authenticate unless connected (at most one attempt per backoff period, so an agent
 * out of reach costs the control loop little). 0 when the link is up. */
int agent_link_ready(agent_link *a);
/* Send argv (argc strings of the given lengths) and read the reply, valid until the next call;
 * NULL when the agent is out of reach (the link is dropped; agent_link_error says why). */
const resp_value *agent_link_call(agent_link *a, size_t argc, const char *const *argv,
                                  const size_t *lens);
/* As agent_link_call with a NULL-terminated list of strings. */
const resp_value *agent_link_callv(agent_link *a, ...);
/* Renew the lease (lease_ms) if a quarter of it has passed since the last renewal, naming the n
 * engines ("cache/name") there the control plane counts as primaries. */
void agent_link_renew(agent_link *a, int lease_ms, size_t n, const char *const *primaries);
/* The agent's engine directory root (valid once the link was up), "" before. */
const char *agent_link_root(const agent_link *a);
/* The agent's host (its engines bind to it). */
const char *agent_link_host(const agent_link *a);
/* The last error, for logs. */
const char *agent_link_error(const agent_link *a);

#endif
