/* The bill (see bill.h). Figures are computed in doubles from integer records; the report is
 * printed to the cent, and the same records always give the same cents. */
#define ALLOC_ROOM ROOM_COMMON
#include "meter/bill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/compiler.h"

#define GIB 1073741824.0
#define MONTH_HOURS 730.0
#define FILL 0.75 /* a fixed node is sized to be at most this full */

/* List prices, US East (N. Virginia), on-demand, as published on
 * aws.amazon.com/elasticache/pricing/ (serverless: per million ECPU and per GB-hour; nodes: per
 * hour). The ECPU/s a node sustains is Stratus's assumption, not AWS's: about 1 ECPU per simple
 * command, at the rates redis-benchmark reaches on such nodes. Edit a copy (--prices FILE). */
static const price_sheet builtin_sheets[] = {
    {.name = "ElastiCache Serverless for Redis OSS, us-east-1",
     .source = "aws.amazon.com/elasticache/pricing (list prices, noted 2026-11-22; node ECPU/s "
               "are Stratus's assumption)",
     .per_million_ecpu = 0.0034,
     .per_gb_hour = 0.125,
     .min_gb = 1.0,
     .rest_per_gb_month = 0.085,
     .nodes = {{"cache.t4g.micro", 0.016, 0.5, 20000},
               {"cache.t4g.small", 0.032, 1.37, 40000},
               {"cache.t4g.medium", 0.065, 3.09, 60000},
               {"cache.m7g.large", 0.158, 6.38, 120000},
               {"cache.r7g.large", 0.219, 13.07, 120000},
               {"cache.r7g.xlarge", 0.437, 26.32, 240000},
               {"cache.r7g.2xlarge", 0.873, 52.82, 480000}},
     .nnodes = 7},
    {.name = "ElastiCache Serverless for Valkey, us-east-1",
     .source = "aws.amazon.com/elasticache/pricing (list prices, noted 2026-11-22; Valkey nodes "
               "at 20% below Redis OSS; node ECPU/s are Stratus's assumption)",
     .per_million_ecpu = 0.0023,
     .per_gb_hour = 0.084,
     .min_gb = 0.1,
     .rest_per_gb_month = 0.085,
     .nodes = {{"cache.t4g.micro", 0.0128, 0.5, 20000},
               {"cache.t4g.small", 0.0256, 1.37, 40000},
               {"cache.t4g.medium", 0.052, 3.09, 60000},
               {"cache.m7g.large", 0.1264, 6.38, 120000},
               {"cache.r7g.large", 0.1752, 13.07, 120000},
               {"cache.r7g.xlarge", 0.3496, 26.32, 240000},
               {"cache.r7g.2xlarge", 0.6984, 52.82, 480000}},
     .nnodes = 7},
};

int bill_sheet_builtin(const char *name, price_sheet *out)
{
    if (strcmp(name, "redis-oss") == 0 || strcmp(name, "redis") == 0)
        *out = builtin_sheets[0];
    else if (strcmp(name, "valkey") == 0)
        *out = builtin_sheets[1];
    else
        return -1;
    return 0;
}

int bill_sheet_load(const char *path, price_sheet *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "--prices: cannot read %s (a file, or redis-oss / valkey)", path);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", path);
    char line[512];
    int n = 0, rc = 0, have_ecpu = 0, have_gb = 0;
    while (fgets(line, sizeof(line), f)) {
        n++;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\0')
            continue;
        bill_node *nd = &out->nodes[out->nnodes];
        if (strncmp(p, "name ", 5) == 0) {
            snprintf(out->name, sizeof(out->name), "%s", p + 5);
        } else if (strncmp(p, "source ", 7) == 0) {
            snprintf(out->source, sizeof(out->source), "%s", p + 7);
        } else if (sscanf(p, "per_million_ecpu %lf", &out->per_million_ecpu) == 1) {
            have_ecpu = 1;
        } else if (sscanf(p, "per_gb_hour %lf", &out->per_gb_hour) == 1) {
            have_gb = 1;
        } else if (sscanf(p, "rest_per_gb_month %lf", &out->rest_per_gb_month) == 1) {
        } else if (sscanf(p, "min_gb %lf", &out->min_gb) == 1) {
        } else if (out->nnodes < BILL_MAX_NODES &&
                   sscanf(p, "node %39s %lf %lf %lf", nd->type, &nd->hourly, &nd->mem_gb,
                          &nd->ecpu_s) == 4 &&
                   nd->hourly > 0 && nd->mem_gb > 0 && nd->ecpu_s > 0) {
            out->nnodes++;
        } else {
            snprintf(err, errlen,
                     "--prices: %s line %d: '%s' is not one of: name TEXT, source TEXT, "
                     "per_million_ecpu USD, per_gb_hour USD, min_gb GB, node TYPE USD_PER_HOUR "
                     "MEMORY_GB ECPU_PER_S",
                     path, n, p);
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc == 0 && (!have_ecpu || !have_gb)) {
        snprintf(err, errlen, "--prices: %s needs per_million_ecpu and per_gb_hour", path);
        rc = -1;
    }
    return rc;
}

/* YYYY-MM-DD[THH:MM] (UTC) as a unix minute; -1 if it is not one. */
static int64_t parse_minute(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
    if (!end || *end) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, "%Y-%m-%d", &tm);
    }
    if (!end || *end)
        return -1;
    return (int64_t)(timegm(&tm) / 60);
}

int bill_period(const char *since, const char *until, int64_t now_s, int64_t *from, int64_t *to)
{
    time_t now = (time_t)now_s;
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    *from = since ? parse_minute(since) : (int64_t)(timegm(&tm) / 60);
    *to = until ? parse_minute(until) : now_s / 60 + 1;
    return *from < 0 || *to < 0 || *to <= *from ? -1 : 0;
}

void bill_begin(bill_report *r, int64_t from_minute, int64_t to_minute)
{
    memset(r, 0, sizeof(*r));
    r->from_minute = from_minute;
    r->to_minute = to_minute;
    r->fixed_node = -1;
}

void bill_end(bill_report *r)
{
    xfree(r->mins);
    r->mins = NULL;
    r->nmins = r->capmins = 0;
}

static bill_minute *minute_of(bill_report *r, int64_t minute)
{
    if (r->nmins && r->mins[r->nmins - 1].minute == minute)
        return &r->mins[r->nmins - 1];
    if (r->nmins == r->capmins) {
        r->capmins = r->capmins ? r->capmins * 2 : 1024;
        r->mins = xrealloc(r->mins, r->capmins * sizeof(*r->mins));
    }
    bill_minute *m = &r->mins[r->nmins++];
    memset(m, 0, sizeof(*m));
    m->minute = minute;
    return m;
}

static void add_share(bill_cmd *list, int *n, const char *name, const bill_row *row)
{
    int i = 0;
    while (i < *n && strcmp(list[i].cmd, name) != 0)
        i++;
    if (i == *n) {
        if (*n == BILL_MAX_CMDS)
            return;
        snprintf(list[(*n)++].cmd, sizeof(list[0].cmd), "%s", name);
    }
    list[i].calls += row->calls;
    list[i].mecpu += row->mecpu;
}

void bill_add(bill_report *r, const bill_row *row)
{
    if (strncmp(row->cmd, "key:", 4) == 0) {
        add_share(r->prefixes, &r->nprefixes, row->cmd + 4, row);
        return;
    }
    bill_minute *m = minute_of(r, row->minute);
    m->mecpu += row->mecpu;
    m->storage_byte_s += row->storage_byte_s;
    m->rest_byte_s += row->rest_byte_s;
    r->mecpu += row->mecpu;
    r->calls += row->calls;
    if (row->cmd[0])
        add_share(r->cmds, &r->ncmds, row->cmd, row);
}

static int by_ecpu(const void *a, const void *b)
{
    const bill_cmd *x = a, *y = b;
    if (x->mecpu != y->mecpu)
        return x->mecpu < y->mecpu ? 1 : -1;
    return strcmp(x->cmd, y->cmd);
}

/* Storage billed for the minutes [i, j): hour by hour, at least min_gb for the part of an hour
 * the cache ran (each minute it ran has a record; a minute asleep is not running). */
static void storage_of(const bill_report *r, size_t i, size_t j, double min_gb, double *gbh,
                       double *billed)
{
    *gbh = *billed = 0;
    while (i < j) {
        int64_t hour = r->mins[i].minute / 60;
        double byte_s = 0, minutes = 0;
        for (; i < j && r->mins[i].minute / 60 == hour; i++) {
            byte_s += (double)r->mins[i].storage_byte_s;
            minutes += r->mins[i].rest_byte_s == 0;
        }
        double h = byte_s / GIB / 3600.0, floor_gbh = min_gb * minutes / 60.0;
        *gbh += h;
        *billed += h > floor_gbh ? h : floor_gbh;
    }
}

void bill_finish(bill_report *r, const price_sheet *sheet, double min_storage_gb)
{
    qsort(r->cmds, (size_t)r->ncmds, sizeof(r->cmds[0]), by_ecpu);
    qsort(r->prefixes, (size_t)r->nprefixes, sizeof(r->prefixes[0]), by_ecpu);
    if (r->nmins == 0)
        return;
    r->first_minute = r->mins[0].minute;
    r->last_minute = r->mins[r->nmins - 1].minute;
    storage_of(r, 0, r->nmins, min_storage_gb, &r->gb_hours, &r->billed_gb_hours);
    r->ecpu_cost = (double)r->mecpu / 1000.0 / 1e6 * sheet->per_million_ecpu;
    r->storage_cost = r->billed_gb_hours * sheet->per_gb_hour;
    uint64_t rest = 0;
    for (size_t i = 0; i < r->nmins; i++)
        rest += r->mins[i].rest_byte_s;
    r->rest_gb_hours = (double)rest / GIB / 3600.0;
    r->rest_cost = r->rest_gb_hours * sheet->rest_per_gb_month / MONTH_HOURS;
    r->total = r->ecpu_cost + r->storage_cost + r->rest_cost;
    for (size_t i = 0; i < r->nmins; i++) {
        double gb = (double)r->mins[i].storage_byte_s / 60.0 / GIB;
        double eps = (double)r->mins[i].mecpu / 1000.0 / 60.0;
        r->peak_gb = gb > r->peak_gb ? gb : r->peak_gb;
        r->peak_ecpu_s = eps > r->peak_ecpu_s ? eps : r->peak_ecpu_s;
    }
    /* The recent rate: the last 24 recorded hours (or all of them, if fewer). */
    size_t w = r->nmins;
    while (w > 0 && r->mins[w - 1].minute > r->last_minute - 24 * 60)
        w--;
    double hours = (double)(r->last_minute - r->mins[w].minute + 1) / 60.0;
    uint64_t mecpu = 0, rest_w = 0;
    for (size_t i = w; i < r->nmins; i++) {
        mecpu += r->mins[i].mecpu;
        rest_w += r->mins[i].rest_byte_s;
    }
    double gbh, billed;
    storage_of(r, w, r->nmins, min_storage_gb, &gbh, &billed);
    double per_hour =
        ((double)mecpu / 1000.0 / 1e6 * sheet->per_million_ecpu + billed * sheet->per_gb_hour +
         (double)rest_w / GIB / 3600.0 * sheet->rest_per_gb_month / MONTH_HOURS) /
        (hours > 0 ? hours : 1);
    r->forecast_month = per_hour * MONTH_HOURS;
    for (int k = 0; k < sheet->nnodes; k++) {
        const bill_node *nd = &sheet->nodes[k];
        double by_mem = r->peak_gb / (nd->mem_gb * FILL), by_cpu = r->peak_ecpu_s / nd->ecpu_s;
        int n = (int)(by_mem > by_cpu ? by_mem : by_cpu);
        if ((double)n < by_mem || (double)n < by_cpu)
            n++;
        if (n < 1)
            n = 1;
        double month = (double)n * nd->hourly * MONTH_HOURS;
        if (r->fixed_node < 0 || month < r->fixed_month) {
            r->fixed_node = k;
            r->fixed_count = n;
            r->fixed_month = month;
            r->fixed_month_replicas = 2 * month;
        }
    }
}
