/* The bill: a price sheet applied to a cache's usage records (per minute: ECPU by command type,
 * storage), with a month forecast from the recent rate and what the same workload would cost on
 * fixed nodes. Pure computation: the CLI reads the records and prints the report. */
#ifndef STRATUS_BILL_H
#define STRATUS_BILL_H

#include <stddef.h>
#include <stdint.h>

#define BILL_MAX_NODES 32
#define BILL_MAX_CMDS 512

/* One fixed node type: on-demand price, memory, and the ECPU/s one node is taken to sustain. */
typedef struct {
    char type[40];
    double hourly;  /* USD per hour */
    double mem_gb;  /* memory for data, GiB */
    double ecpu_s;  /* sustained ECPU per second (the sheet's assumption) */
} bill_node;

/* Prices of a serverless offer and of its fixed nodes. */
typedef struct {
    char name[160];          /* what it prices */
    char source[256];        /* where the figures come from, and when */
    double per_million_ecpu; /* USD per million ECPU */
    double per_gb_hour;      /* USD per GB-hour */
    double min_gb;           /* the offer's own minimum billed storage, GB (shown apart) */
    double rest_per_gb_month; /* USD per GB-month of a hibernated cache's snapshot (Stratus's
                                 own line: priced as the offer's snapshot storage) */
    bill_node nodes[BILL_MAX_NODES];
    int nnodes;
} price_sheet;

/* One minute of usage, as recorded. */
typedef struct {
    int64_t minute;          /* unix time / 60 */
    const char *cmd;         /* command type, "" for the minute's own row, "key:<prefix>" for a
                                key prefix's share (counted in the command rows already) */
    uint64_t calls, mecpu;   /* command rows */
    uint64_t storage_byte_s; /* minute row */
    uint64_t rest_byte_s;    /* minute row: snapshot bytes x seconds while hibernated */
} bill_row;

/* A command type's share. */
typedef struct {
    char cmd[48];
    uint64_t calls, mecpu;
} bill_cmd;

/* One minute's sums (bill_add keeps them; bill_finish reads them). */
typedef struct {
    int64_t minute;
    uint64_t mecpu, storage_byte_s, rest_byte_s;
} bill_minute;

/* What the bill says. Invariant: mins is ordered by minute. */
typedef struct {
    bill_minute *mins;       /* per minute, in order */
    size_t nmins, capmins;
    int64_t from_minute, to_minute; /* the period read */
    int64_t first_minute, last_minute; /* the first and last minute with records, 0 if none */
    uint64_t mecpu, calls;
    double gb_hours;         /* storage integrated */
    double billed_gb_hours;  /* with min_storage_gb applied hour by hour */
    double rest_gb_hours;    /* snapshot storage while hibernated */
    double ecpu_cost, storage_cost, rest_cost, total; /* USD */
    double forecast_month;   /* USD for a 730-hour month at the recent rate */
    double peak_gb;          /* the largest minute's average storage */
    double peak_ecpu_s;      /* the busiest minute's ECPU per second */
    bill_cmd cmds[BILL_MAX_CMDS]; /* by ECPU, largest first */
    int ncmds;
    bill_cmd prefixes[BILL_MAX_CMDS]; /* key prefixes ("" for keys without one), by ECPU */
    int nprefixes;
    int fixed_node;          /* index in the sheet of the cheapest fit, -1 if none fits */
    int fixed_count;         /* nodes of it (without replicas) */
    double fixed_month, fixed_month_replicas; /* USD per 730-hour month */
} bill_report;

/* A built-in sheet by name ("redis-oss", "valkey"). 0, or -1 if unknown. */
int bill_sheet_builtin(const char *name, price_sheet *out);
/* Read a sheet from a file (format in docs/pricing.md). 0, or -1 with the line at fault in err. */
int bill_sheet_load(const char *path, price_sheet *out, char *err, size_t errlen);
/* The period [from, to) in unix minutes of since/until (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC;
 * NULL: from the start of now's month, to now's minute inclusive). 0, or -1 if either is not
 * such a time or since is not before until. */
int bill_period(const char *since, const char *until, int64_t now_s, int64_t *from, int64_t *to);
/* Start a report for [from, to) minutes. */
void bill_begin(bill_report *r, int64_t from_minute, int64_t to_minute);
/* Add one recorded row. */
void bill_add(bill_report *r, const bill_row *row);
/* Free what bill_add kept. */
void bill_end(bill_report *r);
/* Price the rows added: costs, forecast (from the last 24 recorded hours), top commands and the
 * cheapest fixed-node set that holds the peak storage (75% full at most) and the peak ECPU/s. */
void bill_finish(bill_report *r, const price_sheet *sheet, double min_storage_gb);

#endif
