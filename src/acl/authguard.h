/* AUTH brute-force guard: each client address has a budget of failed AUTH attempts that refills
 * at a fixed rate; an address that spent it gets its AUTH refused without a password check until
 * the budget refills. One table per cache, shared by every worker. */
#ifndef STRATUS_AUTHGUARD_H
#define STRATUS_AUTHGUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct auth_guard auth_guard;

/* A guard allowing per_minute failures per address per minute (burst: per_minute); 0: none. */
auth_guard *auth_guard_create(unsigned per_minute);
/* Free a guard (NULL is fine). */
void auth_guard_destroy(auth_guard *g);
/* 0 if src may try a password now; else milliseconds until it may (at least 1). */
uint64_t auth_guard_check(auth_guard *g, const char *src, uint64_t now_ms);
/* Count a failed attempt of src; 1 if that spent its budget (the first refusal follows). */
int auth_guard_failed(auth_guard *g, const char *src, uint64_t now_ms);
/* AUTH attempts refused since start (INFO stats). */
void auth_guard_stats(auth_guard *g, uint64_t *refused);

#endif
