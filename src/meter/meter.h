/* Metering: what one command costs, in milli-ECPU integers, by the formula docs/pricing.md
 * publishes. The data part counts the bytes the command moved between the client and the
 * endpoint (request + reply, 1 ECPU per KiB); the CPU part is the engine time that command type
 * takes per call (measured from the engines' INFO commandstats); the command is charged the
 * larger of the two, and at least 1 ECPU. Connection commands are free. Pure functions and
 * plain counters: the endpoint's workers count, the control thread sums. */
#ifndef STRATUS_METER_H
#define STRATUS_METER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cmdtable.h"

#define METER_BYTES_PER_ECPU 1024 /* data part: 1 ECPU per KiB moved */
#define METER_MIN_MECPU 1000      /* a metered command costs at least 1 ECPU */
#define METER_US_PER_ECPU 10      /* CPU part: 1 ECPU per 10 us of engine time (default) */

/* One command type's counters on one worker (written by that worker only; relaxed atomics so
 * the control thread may read them at any time). Monotonic: never reset. */
typedef struct {
    _Atomic uint64_t calls;     /* commands charged */
    _Atomic uint64_t mecpu;     /* milli-ECPU charged */
    _Atomic uint64_t bytes_in;  /* request bytes */
    _Atomic uint64_t bytes_out; /* reply bytes */
} meter_cell;

/* The parts of one command's cost. */
typedef struct {
    uint64_t data;  /* milli-ECPU from the bytes moved */
    uint64_t cpu;   /* milli-ECPU from the engine time */
    uint64_t total; /* what is charged: max(data, cpu, METER_MIN_MECPU); 0 for a free command */
} meter_cost;

/* A token bucket of milli-ECPU (the ECPU/s limit). Commands are admitted while tokens >= 0 and
 * charged after their reply, so one may leave it in debt; the debt is the wait of the next. */
typedef struct {
    int64_t tokens;  /* milli-ECPU available (negative: owed) */
    uint64_t at_ms;  /* tokens counted up to then */
    int64_t rate;    /* milli-ECPU added per second */
    int64_t burst;   /* tokens never exceed this */
} meter_bucket;

#define METER_PREFIX_MAX 24 /* bytes of a key prefix kept */

/* ECPU by key prefix, summed in a bounded table: when it is full, the smallest entry gives its
 * place to a new prefix and the newcomer starts from that entry's count (the "space-saving"
 * rule: the heaviest prefixes stay, each overestimated by at most the smallest count). */
typedef struct {
    char p[METER_PREFIX_MAX];
    uint8_t len;
    uint64_t mecpu, calls;
} meter_prefix;

/* Whether d is free (connection-level commands AWS leaves unmetered, and Stratus's own). */
int meter_is_free(const cmd_def *d);
/* The cost of a command that moved bytes_in + bytes_out and whose type takes cpu_mecpu per call
 * on the engine. */
meter_cost meter_price(uint64_t bytes_in, uint64_t bytes_out, uint64_t cpu_mecpu);
/* Milli-ECPU of the engine time usec_per_call, at us_per_ecpu microseconds per ECPU (rounded
 * up to the next milli-ECPU; 0 when us_per_ecpu is 0: no CPU part). */
uint64_t meter_cpu_mecpu(double usec_per_call, long us_per_ecpu);
/* A full bucket refilled at ecpu_per_s (bursts of a tenth of a second's worth). */
void meter_bucket_init(meter_bucket *b, long ecpu_per_s, uint64_t now_ms);
/* Milliseconds before a command may run at now_ms (0: now). */
uint64_t meter_bucket_wait(meter_bucket *b, uint64_t now_ms);
/* Take mecpu out of the bucket at now_ms. */
void meter_bucket_take(meter_bucket *b, uint64_t mecpu, uint64_t now_ms);
/* The prefix of key: up to and including its first ':' (session:42 -> "session:"), cut at
 * METER_PREFIX_MAX bytes; a key without ':' has the prefix "" (no prefix). Its length. */
size_t meter_key_prefix(const char *key, size_t len, char out[METER_PREFIX_MAX]);
/* Add mecpu and calls to prefix p in table t of cap entries (*n in use). */
void meter_prefix_add(meter_prefix *t, size_t cap, size_t *n, const char *p, size_t len,
                      uint64_t mecpu, uint64_t calls);
/* Add one charged command to cell. */
void meter_cell_add(meter_cell *cell, uint64_t mecpu, uint64_t bytes_in, uint64_t bytes_out);

#endif
