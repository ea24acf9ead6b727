/* The control plane's HTTP API (see api.h and docs/api.md). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "control/http.h"
#include "control/snapshot.h"
#include "control/web.h"
#include "net/tls.h"

struct api_server {
    http_server *h;
    plane *p;
};

/* ---- replies ---- */

static void reply_json(http_reply *rp, buf *out, unsigned status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    rp->status = status;
    rp->type = "application/json";
    buf_appendf(out, "%s\n", text ? text : "{}");
    free(text);
    json_decref(j);
}

static void reply_error(http_reply *rp, buf *out, unsigned status, const char *code,
                        const char *msg)
{
    reply_json(rp, out, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

/* A plane error code as HTTP. */
static void reply_rc(http_reply *rp, buf *out, int rc, const char *what_missing, const char *msg)
{
    switch (rc) {
    case -ENOENT:
        reply_error(rp, out, 404, what_missing, msg);
        break;
    case -EEXIST:
        reply_error(rp, out, 409, "AlreadyExists", msg);
        break;
    case -EINVAL:
        reply_error(rp, out, 400, "InvalidParameterValue", msg);
        break;
    case -EBUSY:
        reply_error(rp, out, 409, "InvalidState", msg);
        break;
    default:
        reply_error(rp, out, 500, "InternalError", msg);
    }
}

/* The reply to a call of the plane: j with status when rc is 0, else the error rc names (j is
 * NULL then). Takes ownership of j. */
static void reply_result(http_reply *rp, buf *out, int rc, unsigned status, json_t *j,
                         const char *what_missing, const char *msg)
{
    if (rc == 0) {
        reply_json(rp, out, status, j);
        return;
    }
    json_decref(j);
    reply_rc(rp, out, rc, what_missing, msg);
}

static void iso_time(int64_t ms, char *out, size_t n)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03dZ", base, (int)(ms % 1000));
}

static const char *status_name(plane_status s)
{
    static const char *const names[] = {"creating", "available", "hibernating", "failed",
                                        "deleting"};
    return names[s];
}

static json_t *cache_json(const plane_info *c)
{
    char created[40], url[512];
    iso_time(c->def.created_ms, created, sizeof(created));
    int v6 = strchr(c->host, ':') != NULL; /* an IPv6 address goes in brackets in a URL */
    snprintf(url, sizeof(url), "rediss://default:%s@%s%s%s:%d", c->password, v6 ? "[" : "", c->host,
             v6 ? "]" : "", c->def.port);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:b,s:i}", "name", c->def.name, "description",
                          c->def.description, "status", status_name(c->status), "created_at",
                          created, "embedded", c->embedded, "pid", c->pid);
    if (c->host[0])
        json_object_set_new(j, "endpoint",
                            json_pack("{s:s,s:i,s:s,s:s,s:s}", "host", c->host, "port", c->def.port,
                                      "url", url, "ca", c->ca, "password", c->password));
    json_object_set_new(
        j, "settings",
        json_pack("{s:i,s:i,s:s,s:{s:I,s:s},s:s,s:I,s:s,s:s,s:s,s:i}", "shards", c->def.shards,
                  "replicas", c->def.replicas, "durability", c->def.durability, "usage_limits",
                  "max_ecpu_per_second", (json_int_t)c->def.max_ecpu_per_second, "max_storage",
                  c->def.max_storage, "eviction", c->def.eviction, "hibernate_after_seconds",
                  (json_int_t)c->def.hibernate_after, "zones", c->def.zones, "preferred_zone",
                  c->def.preferred_zone, "daily_snapshot_time", c->def.daily_snapshot_time,
                  "snapshot_retention_limit", c->def.snapshot_retention));
    json_object_set_new(j, "usage",
                        json_pack("{s:f,s:I,s:i,s:i,s:f,s:f,s:f}", "ecpu_per_second",
                                  c->last.ecpu_s, "storage_bytes", (json_int_t)c->last.storage,
                                  "connections", c->last.connections, "shards", c->last.shards,
                                  "p50_ms", c->last.p50_ms, "p99_ms", c->last.p99_ms, "ecpu_total",
                                  c->ecpu_total));
    json_object_set_new(j, "cost",
                        json_pack("{s:f,s:f,s:s}", "to_date_usd", c->cost_to_date,
                                  "month_forecast_usd", c->month_forecast, "prices",
                                  "ElastiCache Serverless for Redis OSS, us-east-1"));
    if (c->error[0])
        json_object_set_new(j, "error", json_string(c->error));
    return j;
}

static json_t *snapshot_json(const snapshot_info *s)
{
    char created[40];
    iso_time(s->created_ms, created, sizeof(created));
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:I}", "name", s->name, "cache", s->cache, "kind",
                     s->kind, "created_at", created, "files", s->files, "bytes",
                     (json_int_t)s->bytes, "keys", (json_int_t)s->keys);
}

/* ---- request bodies ---- */

/* Parse a request body as a JSON object in which no key appears twice (a duplicate would make
 * "which one counts" a guess: jansson keeps the last, other parsers the first). NULL with err,
 * which names the duplicated key when jansson does (keys up to 18 characters). */
static json_t *parse_object(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t e;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (j && json_is_object(j))
        return j;
    json_decref(j);
    if (j) {
        snprintf(err, errlen, "the body must be a JSON object, not another JSON value");
    } else if (json_error_code(&e) == json_error_duplicate_key) {
        /* jansson's text is "duplicate object key near '\"KEY\"'" (the key as sent). */
        const char *near = strstr(e.text, " near '");
        size_t klen = near ? strlen(near + 7) : 0;
        if (klen > 1 && near[7 + klen - 1] == '\'')
            snprintf(err, errlen,
                     "the body has the key %.*s twice (line %d): give each key once (JSON "
                     "parsers differ on which value of a repeated key counts)",
                     (int)(klen - 1), near + 7, e.line);
        else
            snprintf(err, errlen,
                     "the body has a key twice (line %d, column %d): give each key once (JSON "
                     "parsers differ on which value of a repeated key counts)",
                     e.line, e.column);
    } else {
        snprintf(err, errlen, "the body must be a JSON object (%s at line %d)", e.text, e.line);
    }
    return NULL;
}

/* Parse the body as a JSON object; NULL after replying 400. */
static json_t *body_object(const http_request *rq, http_reply *rp, buf *out)
{
    if (rq->body_len == 0)
        return json_object();
    char msg[300];
    json_t *j = parse_object(rq->body, rq->body_len, msg, sizeof(msg));
    if (!j)
        reply_error(rp, out, 400, "InvalidRequest", msg);
    return j;
}

/* Fields of a cache definition a body may carry (AWS's CreateServerlessCache names in
 * docs/api.md). */
static const char *const def_fields[] = {"name",
                                         "description",
                                         "shards",
                                         "replicas",
                                         "durability",
                                         "usage_limits",
                                         "eviction",
                                         "hibernate_after_seconds",
                                         "zones",
                                         "preferred_zone",
                                         "daily_snapshot_time",
                                         "snapshot_retention_limit",
                                         "snapshot",
                                         NULL};

static int field_known(const char *k, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(k, list[i]) == 0)
            return 1;
    return 0;
}

static int get_int(json_t *j, const char *k, long *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(j, k);
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        snprintf(err, errlen, "%s must be an integer", k);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

static int get_str(json_t *j, const char *k, char *out, size_t outlen, char *err, size_t errlen)
{
    json_t *v = json_object_get(j, k);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= outlen) {
        snprintf(err, errlen, "%s must be a string of at most %zu characters", k, outlen - 1);
        return -1;
    }
    snprintf(out, outlen, "%s", json_string_value(v));
    return 0;
}

/* Apply the fields of body j onto d. 0, or -1 with err. */
static int def_from_json(json_t *j, plane_def *d, int creating, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "user_group_id") == 0) {
            snprintf(err, errlen,
                     "user_group_id is not supported: a cache's users are made with "
                     "ACL SETUSER on the cache itself (docs/commands.md)");
            return -1;
        }
        if (!field_known(k, def_fields)) {
            snprintf(err, errlen,
                     "unknown field \"%s\"; known: name, description, shards, replicas, "
                     "durability, usage_limits {max_ecpu_per_second, max_storage}, eviction, "
                     "hibernate_after_seconds, zones, preferred_zone, daily_snapshot_time, "
                     "snapshot_retention_limit",
                     k);
            return -1;
        }
    }
    if (!creating && json_object_get(j, "name") &&
        (!json_is_string(json_object_get(j, "name")) ||
         strcmp(json_string_value(json_object_get(j, "name")), d->name) != 0)) {
        snprintf(err, errlen, "a cache cannot be renamed; restore a snapshot into a new cache");
        return -1;
    }
    long shards = d->shards, replicas = d->replicas, ret = d->snapshot_retention;
    if (get_str(j, "name", d->name, sizeof(d->name), err, errlen) ||
        get_str(j, "description", d->description, sizeof(d->description), err, errlen) ||
        get_int(j, "shards", &shards, err, errlen) ||
        get_int(j, "replicas", &replicas, err, errlen) ||
        get_str(j, "durability", d->durability, sizeof(d->durability), err, errlen) ||
        get_str(j, "eviction", d->eviction, sizeof(d->eviction), err, errlen) ||
        get_int(j, "hibernate_after_seconds", &d->hibernate_after, err, errlen) ||
        get_str(j, "preferred_zone", d->preferred_zone, sizeof(d->preferred_zone), err, errlen) ||
        get_str(j, "daily_snapshot_time", d->daily_snapshot_time, sizeof(d->daily_snapshot_time),
                err, errlen) ||
        get_int(j, "snapshot_retention_limit", &ret, err, errlen))
        return -1;
    if (shards < 1 || shards > 64 || replicas < 0 || replicas > 2) {
        snprintf(err, errlen, "shards must be 1 to 64 and replicas 0 to 2");
        return -1;
    }
    d->shards = (int)shards;
    d->replicas = (int)replicas;
    d->snapshot_retention = (int)ret;
    json_t *z = json_object_get(j, "zones");
    if (z && json_is_array(z)) {
        size_t i;
        json_t *e;
        d->zones[0] = '\0';
        json_array_foreach(z, i, e)
        {
            if (!json_is_string(e)) {
                snprintf(err, errlen, "zones must be strings");
                return -1;
            }
            size_t l = strlen(d->zones);
            snprintf(d->zones + l, sizeof(d->zones) - l, "%s%s", i ? "," : "",
                     json_string_value(e));
        }
    } else if (z && get_str(j, "zones", d->zones, sizeof(d->zones), err, errlen)) {
        return -1;
    }
    json_t *ul = json_object_get(j, "usage_limits");
    if (ul) {
        if (!json_is_object(ul)) {
            snprintf(err, errlen,
                     "usage_limits must be an object {max_ecpu_per_second, "
                     "max_storage}");
            return -1;
        }
        json_object_foreach(ul, k, v)
        {
            if (strcmp(k, "max_ecpu_per_second") != 0 && strcmp(k, "max_storage") != 0) {
                snprintf(err, errlen,
                         "usage_limits: unknown field \"%s\" (max_ecpu_per_second, "
                         "max_storage)",
                         k);
                return -1;
            }
        }
        if (get_int(ul, "max_ecpu_per_second", &d->max_ecpu_per_second, err, errlen) ||
            get_str(ul, "max_storage", d->max_storage, sizeof(d->max_storage), err, errlen))
            return -1;
    }
    return 0;
}

int api_parse_def(const char *body, size_t len, plane_def *d, int creating, char *err,
                  size_t errlen)
{
    json_t *j = parse_object(body, len, err, errlen);
    if (!j)
        return -EINVAL;
    int rc = def_from_json(j, d, creating, err, errlen) == 0 ? 0 : -EINVAL;
    json_decref(j);
    return rc == 0 ? plane_def_check(d, err, errlen) : rc;
}

/* ---- routes ----
 * Each call of the API is one row of `routes` below: a method, a path pattern and the handler
 * that answers it. A handler gets the path's parts after /v1 ("caches", NAME, "usage"). */

typedef void route_fn(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                      api_path_parts parts);

typedef struct {
    json_t *arr;
} json_acc;

static void add_event(void *arg, int64_t ms, const char *cname, const char *kind, const char *msg)
{
    json_acc *a = arg;
    char when[40];
    iso_time(ms, when, sizeof(when));
    json_array_append_new(a->arr, json_pack("{s:s,s:s,s:s,s:s}", "time", when, "cache", cname,
                                            "kind", kind, "message", msg));
}

int api_path_split(const char *path, api_path_parts parts)
{
    int n = 0;
    const char *p = path + 3;
    while (*p == '/' && n < 4) {
        p++;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || l >= 72)
            return l == 0 && !e ? n : -1;
        memcpy(parts[n], p, l);
        parts[n][l] = '\0';
        n++;
        p += l;
    }
    return *p ? -1 : n;
}

/* Up to 10 command types or key prefixes of a bill, largest ECPU first. */
static json_t *bill_top(const bill_cmd *list, int n, uint64_t total_mecpu, const char *key)
{
    json_t *arr = json_array();
    for (int i = 0; i < n && i < 10; i++)
        json_array_append_new(
            arr,
            json_pack("{s:s,s:I,s:f,s:f}", key, list[i].cmd, "calls", (json_int_t)list[i].calls,
                      "ecpu", (double)list[i].mecpu / 1000.0, "share",
                      total_mecpu ? (double)list[i].mecpu / (double)total_mecpu : 0.0));
    return arr;
}

/* GET /v1/caches/NAME/bill[?since=T&until=T&prices=redis-oss|valkey]: what `stratus bill` prints,
 * as JSON. */
static void route_bill(api_server *api, const http_request *rq, http_reply *rp, buf *out,
                       api_path_parts parts)
{
    plane *p = api->p;
    const char *name = parts[1];
    plane_info info;
    char err[800];
    if (plane_describe(p, name, &info, err, sizeof(err)) != 0) {
        reply_rc(rp, out, -ENOENT, "CacheNotFound", err);
        return;
    }
    const char *prices = http_query(rq, "prices");
    price_sheet sheet;
    if (bill_sheet_builtin(prices ? prices : "redis-oss", &sheet) != 0) {
        reply_error(rp, out, 400, "InvalidParameterValue",
                    "prices must be redis-oss or valkey (`stratus bill --prices FILE` prices "
                    "with a sheet of your own)");
        return;
    }
    int64_t from, to;
    if (bill_period(http_query(rq, "since"), http_query(rq, "until"), (int64_t)time(NULL), &from,
                    &to) != 0) {
        reply_error(rp, out, 400, "InvalidParameterValue",
                    "since and until must be YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC), since before "
                    "until; without them the bill covers this month so far");
        return;
    }
    bill_report *r = xmalloc(sizeof(*r));
    if (plane_bill(p, name, from, to, &sheet, r) != 0) {
        bill_end(r);
        xfree(r);
        reply_error(rp, out, 500, "InternalError", "cannot read the cache's usage records");
        return;
    }
    char a[40], b[40];
    iso_time(from * 60000, a, sizeof(a));
    iso_time(to * 60000, b, sizeof(b));
    json_t *fixed = json_null();
    if (r->fixed_node >= 0) {
        const bill_node *nd = &sheet.nodes[r->fixed_node];
        fixed = json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:s}", "node_type", nd->type, "count",
                          r->fixed_count, "month_usd", r->fixed_month, "month_usd_with_replicas",
                          r->fixed_month_replicas, "peak_gb", r->peak_gb, "peak_ecpu_per_second",
                          r->peak_ecpu_s, "cheaper",
                          r->forecast_month <= r->fixed_month ? "serverless" : "fixed nodes");
    }
    json_t *j = json_pack(
        "{s:s,s:{s:s,s:s},s:{s:s,s:s},s:I,s:{s:{s:f,s:f},s:{s:f,s:f},s:{s:f,s:f}},s:f,s:f,s:o,s:o,"
        "s:o}",
        "name", name, "period", "from", a, "to", b, "prices", "name", sheet.name, "source",
        sheet.source, "recorded_minutes", (json_int_t)r->nmins, "lines", "requests", "ecpu",
        (double)r->mecpu / 1000.0, "usd", r->ecpu_cost, "storage", "gb_hours", r->billed_gb_hours,
        "usd", r->storage_cost, "at_rest", "gb_hours", r->rest_gb_hours, "usd", r->rest_cost,
        "total_usd", r->total, "month_forecast_usd", r->forecast_month, "top_commands",
        bill_top(r->cmds, r->ncmds, r->mecpu, "command"), "top_prefixes",
        bill_top(r->prefixes, r->nprefixes, r->mecpu, "prefix"), "fixed_nodes", fixed);
    bill_end(r);
    xfree(r);
    reply_json(rp, out, 200, j);
}

/* GET /v1/caches */
static void route_cache_list(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                             api_path_parts parts)
{
    (void)rq;
    (void)parts;
    size_t cnt;
    plane_info *list = plane_list(a->p, &cnt);
    json_t *arr = json_array();
    for (size_t i = 0; i < cnt; i++)
        json_array_append_new(arr, cache_json(&list[i]));
    xfree(list);
    reply_json(rp, out, 200, json_pack("{s:o}", "caches", arr));
}

/* POST /v1/caches: create a cache, or restore a snapshot into a new one. */
static void route_cache_create(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                               api_path_parts parts)
{
    (void)parts;
    plane *p = a->p;
    char err[800];
    json_t *j = body_object(rq, rp, out);
    if (!j)
        return;
    plane_def d;
    plane_def_defaults(p, &d);
    if (!json_is_string(json_object_get(j, "name"))) {
        json_decref(j);
        reply_error(rp, out, 400, "InvalidParameterValue",
                    "name is required: 1 to 40 lowercase letters, digits and hyphens");
        return;
    }
    int rc = def_from_json(j, &d, 1, err, sizeof(err)) == 0 ? 0 : -EINVAL;
    json_t *snap = json_object_get(j, "snapshot");
    char snapname[72] = "";
    if (rc == 0 && snap && !json_is_string(snap)) {
        snprintf(err, sizeof(err), "snapshot must be the name of a snapshot to restore");
        rc = -EINVAL;
    } else if (snap) {
        snprintf(snapname, sizeof(snapname), "%s", json_string_value(snap));
    }
    json_decref(j);
    uint64_t keys = 0;
    if (rc == 0)
        rc = snapname[0] ? snapshot_restore(p, snapname, &d, &keys, err, sizeof(err))
                         : plane_create(p, &d, err, sizeof(err));
    if (rc != 0) {
        reply_rc(rp, out, rc, "SnapshotNotFound", err);
        return;
    }
    plane_info info;
    plane_describe(p, d.name, &info, err, sizeof(err));
    json_t *cj = cache_json(&info);
    if (snapname[0])
        json_object_set_new(cj, "restored_keys", json_integer((json_int_t)keys));
    reply_json(rp, out, 201, cj);
}

/* GET /v1/caches/NAME */
static void route_cache_get(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                            api_path_parts parts)
{
    (void)rq;
    char err[800];
    plane_info info;
    int rc = plane_describe(a->p, parts[1], &info, err, sizeof(err));
    reply_result(rp, out, rc, 200, rc == 0 ? cache_json(&info) : NULL, "CacheNotFound", err);
}

/* PATCH (or PUT) /v1/caches/NAME: change a cache's definition. */
static void route_cache_modify(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                               api_path_parts parts)
{
    plane *p = a->p;
    const char *name = parts[1];
    char err[800];
    plane_info info;
    int rc = plane_describe(p, name, &info, err, sizeof(err));
    if (rc != 0) {
        reply_rc(rp, out, rc, "CacheNotFound", err);
        return;
    }
    json_t *j = body_object(rq, rp, out);
    if (!j)
        return;
    plane_def d = info.def;
    rc = def_from_json(j, &d, 0, err, sizeof(err)) == 0 ? 0 : -EINVAL;
    json_decref(j);
    int restarted = 0;
    if (rc == 0)
        rc = plane_modify(p, &d, &restarted, err, sizeof(err));
    if (rc != 0) {
        reply_rc(rp, out, rc, "CacheNotFound", err);
        return;
    }
    plane_describe(p, name, &info, err, sizeof(err));
    json_t *cj = cache_json(&info);
    json_object_set_new(cj, "restarted", json_boolean(restarted));
    reply_json(rp, out, 200, cj);
}

/* DELETE /v1/caches/NAME[?final_snapshot=SNAP] */
static void route_cache_delete(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                               api_path_parts parts)
{
    plane *p = a->p;
    const char *name = parts[1];
    char err[800];
    const char *final = http_query(rq, "final_snapshot");
    if (final && *final) {
        snapshot_info si;
        int rc = snapshot_create(p, name, final, "final", &si, err, sizeof(err));
        if (rc != 0) {
            reply_rc(rp, out, rc, "CacheNotFound", err);
            return;
        }
    }
    int rc = plane_delete(p, name, err, sizeof(err));
    reply_result(rp, out, rc, 200,
                 rc == 0 ? json_pack("{s:s,s:s}", "name", name, "status", "deleted") : NULL,
                 "CacheNotFound", err);
}

/* POST /v1/caches/NAME/hibernate and POST /v1/caches/NAME/wake */
static void route_cache_sleep(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                              api_path_parts parts)
{
    (void)rq;
    plane *p = a->p;
    const char *name = parts[1];
    int hibernate = strcmp(parts[2], "hibernate") == 0;
    char err[800];
    int rc = hibernate ? plane_hibernate(p, name, err, sizeof(err))
                       : plane_wake(p, name, err, sizeof(err));
    if (rc != 0) {
        reply_rc(rp, out, rc, "CacheNotFound", err);
        return;
    }
    plane_info info;
    plane_describe(p, name, &info, err, sizeof(err));
    json_t *cj = cache_json(&info);
    json_object_set_new(cj, "status", json_string(hibernate ? "hibernating" : "available"));
    reply_json(rp, out, 200, cj);
}

/* GET /v1/caches/NAME/series: the samples the console draws. */
static void route_cache_series(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                               api_path_parts parts)
{
    (void)rq;
    plane *p = a->p;
    const char *name = parts[1];
    char err[800];
    plane_info info;
    if (plane_describe(p, name, &info, err, sizeof(err)) != 0) {
        reply_rc(rp, out, -ENOENT, "CacheNotFound", err);
        return;
    }
    plane_point *pts = xmalloc(PLANE_POINTS * sizeof(*pts));
    size_t np = plane_series(p, name, pts, PLANE_POINTS);
    json_t *arr = json_array();
    for (size_t i = 0; i < np; i++)
        json_array_append_new(
            arr,
            json_pack("{s:I,s:f,s:I,s:f,s:f,s:i,s:i,s:b}", "t", (json_int_t)pts[i].t_ms,
                      "ecpu_per_second", pts[i].ecpu_s, "storage_bytes", (json_int_t)pts[i].storage,
                      "p50_ms", pts[i].p50_ms, "p99_ms", pts[i].p99_ms, "shards", pts[i].shards,
                      "connections", pts[i].connections, "asleep", pts[i].asleep));
    xfree(pts);
    reply_json(rp, out, 200, json_pack("{s:s,s:o}", "name", name, "points", arr));
}

/* GET /v1/caches/NAME/usage: what `stratus usage` prints. */
static void route_cache_usage(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                              api_path_parts parts)
{
    (void)rq;
    plane *p = a->p;
    const char *name = parts[1];
    char err[800];
    plane_info info;
    if (plane_describe(p, name, &info, err, sizeof(err)) != 0) {
        reply_rc(rp, out, -ENOENT, "CacheNotFound", err);
        return;
    }
    double to_date, forecast, ecpu, gbh, rest;
    plane_cost(p, name, &to_date, &forecast, &ecpu, &gbh, &rest);
    reply_json(rp, out, 200,
               json_pack("{s:s,s:f,s:f,s:f,s:f,s:f,s:s}", "name", name, "ecpu", ecpu,
                         "storage_gb_hours", gbh, "storage_at_rest_gb_hours", rest,
                         "cost_to_date_usd", to_date, "month_forecast_usd", forecast, "prices",
                         "ElastiCache Serverless for Redis OSS, us-east-1 "
                         "(GET .../bill for the full bill)"));
}

/* GET /v1/snapshots[?cache=NAME] */
static void route_snapshot_list(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                                api_path_parts parts)
{
    (void)parts;
    size_t cnt;
    snapshot_info *list = snapshot_list(a->p, http_query(rq, "cache"), &cnt);
    json_t *arr = json_array();
    for (size_t i = 0; i < cnt; i++)
        json_array_append_new(arr, snapshot_json(&list[i]));
    xfree(list);
    reply_json(rp, out, 200, json_pack("{s:o}", "snapshots", arr));
}

/* POST /v1/snapshots: take a snapshot of a cache, or import a plain RDB file. */
static void route_snapshot_create(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                                  api_path_parts parts)
{
    (void)parts;
    plane *p = a->p;
    char err[800];
    snapshot_info si;
    json_t *j = body_object(rq, rp, out);
    if (!j)
        return;
    json_t *nm = json_object_get(j, "name"), *c = json_object_get(j, "cache"),
           *rdb = json_object_get(j, "rdb_path");
    int rc;
    if (!json_is_string(nm) || (!json_is_string(c) && !json_is_string(rdb))) {
        snprintf(err, sizeof(err),
                 "give \"name\" and either \"cache\" (take a snapshot of it) "
                 "or \"rdb_path\" (import a plain RDB file)");
        rc = -EINVAL;
    } else if (json_is_string(c)) {
        rc = snapshot_create(p, json_string_value(c), json_string_value(nm), "manual", &si, err,
                             sizeof(err));
    } else {
        rc = snapshot_import(p, json_string_value(nm), json_string_value(rdb), &si, err,
                             sizeof(err));
    }
    json_decref(j);
    reply_result(rp, out, rc, 201, rc == 0 ? snapshot_json(&si) : NULL, "CacheNotFound", err);
}

/* GET /v1/snapshots/NAME */
static void route_snapshot_get(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                               api_path_parts parts)
{
    (void)rq;
    char err[800];
    snapshot_info si;
    int rc = snapshot_describe(a->p, parts[1], &si, err, sizeof(err));
    reply_result(rp, out, rc, 200, rc == 0 ? snapshot_json(&si) : NULL, "SnapshotNotFound", err);
}

/* DELETE /v1/snapshots/NAME */
static void route_snapshot_delete(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                                  api_path_parts parts)
{
    (void)rq;
    char err[800];
    int rc = snapshot_delete(a->p, parts[1], err, sizeof(err));
    reply_result(rp, out, rc, 200,
                 rc == 0 ? json_pack("{s:s,s:s}", "name", parts[1], "status", "deleted") : NULL,
                 "SnapshotNotFound", err);
}

/* POST /v1/snapshots/NAME/export {"path": DIR}: write NAME.rdb and NAME.json into DIR. */
static void route_snapshot_export(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                                  api_path_parts parts)
{
    const char *name = parts[1];
    char err[800];
    json_t *j = body_object(rq, rp, out);
    if (!j)
        return;
    json_t *dir = json_object_get(j, "path");
    char path[4400];
    int rc;
    if (!json_is_string(dir)) {
        snprintf(err, sizeof(err),
                 "give \"path\": the directory to write <name>.rdb and "
                 "<name>.json into");
        rc = -EINVAL;
    } else {
        rc = snapshot_export(a->p, name, json_string_value(dir), path, sizeof(path), err,
                             sizeof(err));
    }
    json_decref(j);
    reply_result(rp, out, rc, 200,
                 rc == 0 ? json_pack("{s:s,s:s}", "name", name, "rdb", path) : NULL,
                 "SnapshotNotFound", err);
}

/* GET /v1/events[?cache=NAME&limit=N]: newest first, 100 unless limit says 1 to 10000. */
static void route_event_list(api_server *a, const http_request *rq, http_reply *rp, buf *out,
                             api_path_parts parts)
{
    (void)parts;
    const char *lim = http_query(rq, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 100;
    if (limit < 1 || limit > 10000)
        limit = 100;
    json_acc acc = {.arr = json_array()};
    plane_events(a->p, http_query(rq, "cache"), (size_t)limit, add_event, &acc);
    reply_json(rp, out, 200, json_pack("{s:o}", "events", acc.arr));
}

/* The API's calls (docs/api.md). In a pattern, "*" stands for one part: a name. */
static const struct {
    const char *method, *pattern;
    route_fn *handler;
} routes[] = {
    {"GET", "caches", route_cache_list},
    {"POST", "caches", route_cache_create},
    {"GET", "caches/*", route_cache_get},
    {"PATCH", "caches/*", route_cache_modify},
    {"PUT", "caches/*", route_cache_modify},
    {"DELETE", "caches/*", route_cache_delete},
    {"POST", "caches/*/hibernate", route_cache_sleep},
    {"POST", "caches/*/wake", route_cache_sleep},
    {"GET", "caches/*/series", route_cache_series},
    {"GET", "caches/*/bill", route_bill},
    {"GET", "caches/*/usage", route_cache_usage},
    {"GET", "snapshots", route_snapshot_list},
    {"POST", "snapshots", route_snapshot_create},
    {"GET", "snapshots/*", route_snapshot_get},
    {"DELETE", "snapshots/*", route_snapshot_delete},
    {"POST", "snapshots/*/export", route_snapshot_export},
    {"GET", "events", route_event_list},
};

/* What a call under a collection that no route answers gets: 405 on the collection itself, 404
 * below it, each naming the calls there are. */
static const struct {
    const char *collection, *methods, *calls;
} misses[] = {
    {"caches", "use GET or POST /v1/caches",
     "no such call; see docs/api.md (GET/POST /v1/caches, GET/PATCH/DELETE /v1/caches/NAME, POST "
     "/v1/caches/NAME/hibernate|wake, GET /v1/caches/NAME/series|usage|bill)"},
    {"snapshots", "use GET or POST /v1/snapshots",
     "no such call; see docs/api.md (GET/POST /v1/snapshots, GET/DELETE /v1/snapshots/NAME, POST "
     "/v1/snapshots/NAME/export; restore with POST /v1/caches {\"name\": ..., \"snapshot\": "
     "NAME})"},
};

int api_route_match(const char *pattern, api_path_parts parts, int n)
{
    int i = 0;
    for (const char *p = pattern; *p && i < n; i++) {
        size_t l = strcspn(p, "/");
        if (!(l == 1 && *p == '*') && (strlen(parts[i]) != l || memcmp(parts[i], p, l) != 0))
            return 0;
        p += l + (p[l] == '/');
        if (!*p)
            return i + 1 == n;
    }
    return 0;
}

/* Answer a /v1 call whose token was checked. */
static void route(api_server *a, const http_request *rq, http_reply *rp, buf *out)
{
    api_path_parts parts;
    int n = api_path_split(rq->path, parts);
    for (size_t i = 0; n >= 1 && i < ARRAY_LEN(routes); i++) {
        if (strcmp(rq->method, routes[i].method) == 0 &&
            api_route_match(routes[i].pattern, parts, n)) {
            routes[i].handler(a, rq, rp, out, parts);
            return;
        }
    }
    for (size_t i = 0; n >= 1 && i < ARRAY_LEN(misses); i++) {
        if (strcmp(parts[0], misses[i].collection) == 0) {
            if (n == 1)
                reply_error(rp, out, 405, "MethodNotAllowed", misses[i].methods);
            else
                reply_error(rp, out, 404, "NotFound", misses[i].calls);
            return;
        }
    }
    reply_error(rp, out, 404, "NotFound", "see docs/api.md: /v1/caches, /v1/snapshots, /v1/events");
}

static void answer(void *arg, const http_request *rq, http_reply *rp, buf *out)
{
    api_server *a = arg;
    if (strcmp(rq->path, "/metrics") == 0 && strcmp(rq->method, "GET") == 0) {
        rp->status = 200;
        rp->type = "text/plain; version=0.0.4; charset=utf-8";
        plane_metrics(a->p, out);
        return;
    }
    if (strncmp(rq->path, "/v1", 3) != 0 || (rq->path[3] != '/' && rq->path[3] != '\0')) {
        const web_file *f = strcmp(rq->method, "GET") == 0 ? web_find(rq->path) : NULL;
        if (!f) {
            reply_error(rp, out, 404, "NotFound",
                        "not found: the API is under /v1 (docs/api.md), the console at /");
            return;
        }
        rp->status = 200;
        rp->type = f->type;
        buf_append(out, f->data, f->len);
        return;
    }
    const char *auth = http_header(rq, "Authorization");
    const char *token = plane_token(a->p);
    if (!auth || strncmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != strlen(token) ||
        !crypto_equal(auth + 7, token, strlen(token))) {
        rp->extra_name = "WWW-Authenticate";
        rp->extra_value = "Bearer";
        reply_error(rp, out, 401, "Unauthorized",
                    "send \"Authorization: Bearer <token>\" with the admin token from "
                    "<data-dir>/admin-token");
        return;
    }
    route(a, rq, rp, out);
}

api_server *api_start(plane *p, const char *bind, int port, const char *hosts, char *err,
                      size_t errlen)
{
    api_server *a = xcalloc(1, sizeof(*a));
    a->p = p;
    a->h = http_start("--api-port", bind, port, hosts, 1, answer, a, err, errlen);
    if (!a->h) {
        xfree(a);
        return NULL;
    }
    return a;
}

int api_port(const api_server *a)
{
    return http_port(a->h);
}

void api_stop(api_server *a)
{
    if (!a)
        return;
    http_stop(a->h);
    xfree(a);
}
