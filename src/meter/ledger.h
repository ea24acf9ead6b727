/* A cache's metering ledger: the counters the endpoint's workers add to (one meter_cell row per
 * worker and command type), the ECPU/s buckets they draw from, the key-prefix table they flush
 * into, and the figures the control thread keeps current (the CPU part per command type, the
 * storage sample) and records each minute (control/usage.c). It lives in the proxy's view of
 * its cache (proxy/view.h); both sides use these functions, from any thread unless said. */
#ifndef STRATUS_METER_LEDGER_H
#define STRATUS_METER_LEDGER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "meter/meter.h"

/* Totals of a cache's metering: what was recorded before this start (from the store) plus what
 * was flushed since, or a per-command snapshot. */
typedef struct {
    uint64_t calls, mecpu, bytes_in, bytes_out;
    uint64_t storage_byte_s; /* dataset bytes x seconds */
    uint64_t throttled, rejected;
} meter_totals;

/* One ACL user's ECPU/s quota. */
typedef struct {
    char user[64];
    long ecpu_s;
    pthread_mutex_t lock; /* guards bucket (any worker) */
    meter_bucket bucket;
} meter_quota;

#define METER_MAX_QUOTAS 32 /* users with an ECPU/s quota (--user-ecpu-per-second) */

/* Metering state. Workers write their own meter_cell rows (cells + worker id * cmd_ids); the
 * control thread refreshes cpu_mecpu and the storage figures and flushes a minute's deltas to
 * the store. Invariant: cells, cpu_mecpu and is_free have cmd_ids entries per worker / each. */
typedef struct {
    int on;                      /* --metering on */
    long us_per_ecpu;            /* --meter-us-per-ecpu (0: no CPU part) */
    uint8_t *is_free;            /* by command id: not metered */
    _Atomic uint64_t *cpu_mecpu; /* by command id: milli-ECPU of engine time per call */
    meter_cell *cells;           /* workers x cmd_ids counters */
    int workers;                 /* rows in cells */
    meter_totals *flushed; /* control thread: per command id, cells summed at the last flush */
    meter_totals base;     /* recorded before this start (store) */
    _Atomic uint64_t storage_bytes;       /* dataset bytes over the primaries, last sample */
    _Atomic uint64_t storage_byte_s;      /* integrated since this start */
    _Atomic uint64_t throttled;           /* commands refused by the ECPU/s limit since start */
    _Atomic uint64_t rejected;            /* commands refused before running since start */
    uint64_t flushed_rejected;            /* rejected at the last flush */
    uint64_t last_sample_ms;              /* storage and CPU table sampled then */
    uint64_t minute_storage_byte_s;       /* integrated in the minute being recorded */
    uint64_t minute_rest_byte_s;          /* snapshot at rest (asleep), same minute */
    uint64_t minute_connections;          /* peak connections in it */
    uint64_t flushed_throttled;           /* throttled at the last flush */
    int64_t minute;                       /* unix minute being recorded */
    int64_t pruned_day;                   /* last retention pass (unix day) */
    long max_ecpu_s;                      /* --max-ecpu-per-second, 0: no limit */
    pthread_mutex_t bucket_lock;          /* guards bucket (any worker) */
    meter_bucket bucket;                  /* the ECPU/s limit */
    meter_quota quotas[METER_MAX_QUOTAS]; /* --user-ecpu-per-second */
    int nquotas;
    pthread_mutex_t prefix_lock; /* guards prefixes (workers add, the control thread takes) */
    meter_prefix prefixes[256];  /* ECPU by key prefix in the minute being recorded */
    size_t nprefixes;
} meter_ledger;

/* Live counters of command id summed over the workers. */
void meter_ledger_command(const meter_ledger *m, uint16_t id, meter_totals *out);
/* The usage so far: recorded before this start plus live. */
void meter_ledger_totals(const meter_ledger *m, meter_totals *out);
/* A worker's ECPU by key prefix, added to the minute being recorded. */
void meter_ledger_add_prefixes(meter_ledger *m, const meter_prefix *p, size_t n);
/* The ECPU/s quota of ACL user, or NULL if it has none. */
meter_quota *meter_ledger_quota(meter_ledger *m, const char *user);
/* Parse --user-ecpu-per-second ("user=N,...", at most METER_MAX_QUOTAS) into out[*n] (out may
 * be NULL: only check it). 0, or -1 with the fix in err. */
int meter_quotas_parse(const char *text, meter_quota *out, int *n, char *err, size_t errlen);

#endif
