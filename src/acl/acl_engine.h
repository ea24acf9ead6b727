/* The engines' side of a cache's ACL users. Every user of the cache exists on every engine as
 * "u:<name>" with the same key, channel and command rules, so a command the endpoint forwards
 * runs under its user's identity and Redis itself checks every call a script or a function
 * makes. The endpoint's own check stays the fast path; the engine is the last line of defence.
 *
 * An engine identity is the user's rules with two changes: commands whose engine reply would
 * reveal the engines (INFO, CLUSTER NODES ..., ROLE, SLOWLOG GET) and commands the service
 * refuses to every client (MIGRATE, DEBUG, CONFIG, ACL, CLIENT ...) are taken away, and the few
 * commands the endpoint itself sends on a link (ASKING, READONLY, CLIENT ID, UNWATCH, WAIT; and
 * SCRIPT LOAD for a user who may run EVALSHA, to repair a NOSCRIPT) are given. Engine users
 * authenticate with the endpoint's link password, never with the client's. */
#ifndef STRATUS_ACL_ENGINE_H
#define STRATUS_ACL_ENGINE_H

#include <stddef.h>

#include "common/buf.h"
#include "acl/acl.h"

/* Prefix of the engine users that stand for cache users. */
#define ACL_ENGINE_PREFIX "u:"
/* The engine user of the endpoint's own requests (INFO and CONFIG fan-outs, cross-slot reads,
 * WAIT, SCRIPT KILL ...): it runs no client code. */
#define ACL_ENGINE_ENDPOINT_USER "stratus-proxy"
/* The client name of the control plane's own engine connections (health checks, topology,
 * resharding, snapshots): engine diagnostics (SLOWLOG GET) leave their commands out. */
#define ACL_ENGINE_CONTROL_NAME "stratus:control"

/* The engine's name for cache user name (len bytes): "u:<name>", into out (appended). */
void acl_engine_user_name(const char *name, size_t len, buf *out);
/* Append, RESP-encoded, the ACL SETUSER command that makes u's engine identity: authenticated
 * by the password whose SHA-256 is pass_hash (64 hex digits). */
void acl_engine_setuser(const acl_user *u, const char *pass_hash, buf *cmds);
/* The rules of the endpoint's own engine user (for the rendered configuration and the sync),
 * with its password (plain text, rendered as ">password"): everything a link of the endpoint
 * sends, and no script or function. */
void acl_engine_endpoint_rules(const char *password, buf *out);
/* Append, RESP-encoded, the ACL SETUSER that gives the endpoint's own engine user these rules
 * (engines adopted from an older start may have older ones). */
void acl_engine_endpoint_setuser(const char *password, buf *cmds);
/* Whether an engine identity may run command id (after the user's own bit): 0 for the
 * commands taken away, 1 for the ones given, -1 when the user's own bit decides. */
int acl_engine_override(unsigned id, const acl_user *u);

#endif
