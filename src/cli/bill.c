/* `stratus bill` (see bill.h and docs/pricing.md). Reads <data-dir>/stratus.db, which the
 * running service keeps writing (SQLite WAL lets both go on). */
#define ALLOC_ROOM ROOM_CLI
#include "cli/bill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "control/store.h"
#include "control/usage.h"
#include "meter/bill.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: stratus bill [CACHE] [--since T] [--until T] [--prices SHEET] "
               "[--min-storage GB] [--data-dir D]\n"
               "  T: YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC); default: this month so far\n"
               "  SHEET: redis-oss (default), valkey, or a file (format in docs/pricing.md)\n"
               "  --min-storage: minimum GB billed per hour (default 0: none)\n");
}

static void when(int64_t minute, char *out, size_t n)
{
    time_t t = (time_t)(minute * 60);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M", &tm);
}

int cmd_bill(int argc, char **argv)
{
    const char *cname = "default", *data_dir = "./stratus-data", *prices = "redis-oss";
    const char *since = NULL, *until = NULL;
    double min_gb = 0;
    if (argc > 0 && argv[0][0] != '-') {
        cname = argv[0];
        argc--;
        argv++;
    }
    const char *env = getenv("STRATUS_DATA_DIR");
    if (env && *env)
        data_dir = env;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *endp = NULL;
        if (!v) {
            fprintf(stderr, "stratus bill: %s needs a value\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--since") == 0)
            since = v;
        else if (strcmp(argv[i], "--until") == 0)
            until = v;
        else if (strcmp(argv[i], "--prices") == 0)
            prices = v;
        else if (strcmp(argv[i], "--data-dir") == 0)
            data_dir = v;
        else if (strcmp(argv[i], "--min-storage") == 0 &&
                 ((min_gb = strtod(v, &endp)) >= 0 && endp != v && !*endp))
            ;
        else {
            fprintf(stderr, "stratus bill: bad option %s %s\n", argv[i], v);
            usage(stderr);
            return 2;
        }
        i++;
    }
    int64_t from, to;
    if (bill_period(since, until, (int64_t)time(NULL), &from, &to) != 0) {
        fprintf(stderr, "stratus bill: --since/--until must be YYYY-MM-DD or YYYY-MM-DDTHH:MM "
                        "(UTC), since before until\n");
        return 2;
    }
    price_sheet sheet;
    char err[512];
    if (bill_sheet_builtin(prices, &sheet) != 0 &&
        bill_sheet_load(prices, &sheet, err, sizeof(err)) != 0) {
        fprintf(stderr, "stratus bill: %s\n", err);
        return 2;
    }
    char db[4200];
    snprintf(db, sizeof(db), "%s/stratus.db", data_dir);
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "stratus bill: no state at %s (is --data-dir right?)\n", db);
        return 1;
    }
    store *st = store_open(db, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "stratus bill: %s\n", err);
        return 1;
    }
    bill_report r;
    bill_begin(&r, from, to);
    int rc = store_usage_each(st, cname, from, to, usage_bill_row, &r);
    store_close(st);
    if (rc != 0) {
        fprintf(stderr, "stratus bill: cannot read the usage records in %s\n", db);
        bill_end(&r);
        return 1;
    }
    bill_finish(&r, &sheet, min_gb);
    char a[32], b[32];
    when(from, a, sizeof(a));
    when(to, b, sizeof(b));
    printf("Bill for cache \"%s\", %s to %s UTC\n", cname, a, b);
    printf("Prices: %s\n        (%s)\n", sheet.name, sheet.source[0] ? sheet.source : "your sheet");
    if (!r.nmins) {
        printf("No usage recorded in this period (records are written once a minute).\n");
        bill_end(&r);
        return 1;
    }
    when(r.first_minute, a, sizeof(a));
    when(r.last_minute, b, sizeof(b));
    printf("Recorded: %s to %s, %zu minute(s) with records\n\n", a, b, r.nmins);
    printf("  %-10s %18.3f ECPU      $%10.2f  ($%g per million)\n", "requests",
           (double)r.mecpu / 1000.0, r.ecpu_cost, sheet.per_million_ecpu);
    printf("  %-10s %18.6f GB-hours  $%10.2f  ($%g per GB-hour; at least %g GB per hour)\n",
           "storage", r.billed_gb_hours, r.storage_cost, sheet.per_gb_hour, min_gb);
    printf("  %-10s %18.6f GB-hours  $%10.2f  (hibernated: snapshot on disk, $%g per GB-month)\n",
           "at rest", r.rest_gb_hours, r.rest_cost, sheet.rest_per_gb_month);
    printf("  %-10s %18s           $%10.2f\n", "total", "", r.total);
    printf("  month forecast at the last 24 recorded hours' rate (730 h): $%.2f\n",
           r.forecast_month);
    if (sheet.min_gb > min_gb) {
        /* The same records at the offer's own minimum, for comparison. */
        bill_report own;
        bill_begin(&own, from, to);
        for (size_t i = 0; i < r.nmins; i++) {
            bill_row row = {.minute = r.mins[i].minute,
                            .cmd = "",
                            .mecpu = r.mins[i].mecpu,
                            .storage_byte_s = r.mins[i].storage_byte_s};
            bill_add(&own, &row);
        }
        bill_finish(&own, &sheet, sheet.min_gb);
        printf("  with the offer's own %g GB minimum: $%.2f so far, $%.2f a month\n", sheet.min_gb,
               own.total, own.forecast_month);
        bill_end(&own);
    }
    printf("\nTop command types by ECPU:\n");
    for (int i = 0; i < r.ncmds && i < 10; i++)
        printf("  %-22s %12llu calls %16.3f ECPU %6.1f%%\n", r.cmds[i].cmd,
               (unsigned long long)r.cmds[i].calls, (double)r.cmds[i].mecpu / 1000.0,
               r.mecpu ? 100.0 * (double)r.cmds[i].mecpu / (double)r.mecpu : 0.0);
    printf("\nTop key prefixes by ECPU (a key's prefix ends at its first ':'):\n");
    for (int i = 0; i < r.nprefixes && i < 10; i++)
        printf("  %-22s %12llu calls %16.3f ECPU %6.1f%%\n",
               r.prefixes[i].cmd[0] ? r.prefixes[i].cmd : "(no prefix)",
               (unsigned long long)r.prefixes[i].calls, (double)r.prefixes[i].mecpu / 1000.0,
               r.mecpu ? 100.0 * (double)r.prefixes[i].mecpu / (double)r.mecpu : 0.0);
    if (!r.nprefixes)
        printf("  (none recorded)\n");
    if (r.fixed_node >= 0) {
        const bill_node *nd = &sheet.nodes[r.fixed_node];
        printf("\nFixed nodes for the same peak (%.3f GB stored, %.1f ECPU/s):\n", r.peak_gb,
               r.peak_ecpu_s);
        printf("  %d x %s ($%g/h): $%.2f a month; with a replica per shard: $%.2f a month\n",
               r.fixed_count, nd->type, nd->hourly, r.fixed_month, r.fixed_month_replicas);
        printf("\nRecommendation: ");
        if (r.forecast_month <= r.fixed_month)
            printf("serverless pricing is cheaper for this workload ($%.2f vs $%.2f a month "
                   "without replicas).\n",
                   r.forecast_month, r.fixed_month);
        else
            printf("fixed nodes are cheaper for this workload: %d x %s at $%.2f a month (or "
                   "$%.2f with replicas) vs $%.2f serverless.\n",
                   r.fixed_count, nd->type, r.fixed_month, r.fixed_month_replicas,
                   r.forecast_month);
    }
    bill_end(&r);
    return 0;
}
