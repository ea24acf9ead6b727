/* `stratus cache|snapshot|usage` subcommands: calls to the control plane's HTTP API (through
 * common/http_client.c), shown as tables laid out by cli/table.c (or the API's JSON with --json).
 * The CLI's one file that includes jansson.h.
 * Exit codes: 0 done, 1 the API refused (4xx other than below) or failed, 2 bad usage,
 * 3 not found, 4 conflict (exists already, busy), 5 the API cannot be reached. */
#define ALLOC_ROOM ROOM_CLI
#include "cli/api_client.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_client.h"
#include "cli/table.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "common/file.h"

enum {
    EX_OK = 0,
    EX_REFUSED = 1,
    EX_USAGE = 2,
    EX_NOTFOUND = 3,
    EX_CONFLICT = 4,
    EX_UNREACHABLE = 5
};

/* Options every subcommand takes. */
typedef struct {
    const char *data_dir;
    const char *api;   /* http://host:port, else <data-dir>/api */
    const char *token; /* else <data-dir>/admin-token */
    int json;
    char api_buf[256], token_buf[128];
} opts;

/* Take the common options out of argv (the rest stays, in order); -1 on a bad option. */
static int parse_opts(int *argc, char **argv, opts *o)
{
    int out = 0;
    o->data_dir = getenv("STRATUS_DATA_DIR") ? getenv("STRATUS_DATA_DIR") : "./stratus-data";
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        const char **dst = strcmp(a, "--data-dir") == 0 ? &o->data_dir
                           : strcmp(a, "--api") == 0    ? &o->api
                           : strcmp(a, "--token") == 0  ? &o->token
                                                        : NULL;
        if (dst) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "stratus: %s needs a value\n", a);
                return -1;
            }
            *dst = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    return 0;
}

static int read_line_file(const char *dir, const char *name, char *out, size_t outlen)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return file_read_line(path, out, outlen) == 0 && out[0] ? 0 : -1;
}

/* Call the API: method path [body]; the status to *status and the body to out. 0 or -1 (could
 * not reach it; a message was printed). */
static int call(opts *o, const char *method, const char *path, const char *body, int *status,
                buf *out)
{
    if (!o->api) {
        if (read_line_file(o->data_dir, "api", o->api_buf, sizeof(o->api_buf)) != 0) {
            fprintf(stderr,
                    "stratus: no control plane runs for data dir %s (no %s/api): start `stratus "
                    "serve` (or `stratus up`) there, or pass --api http://HOST:PORT\n",
                    o->data_dir, o->data_dir);
            return -1;
        }
        o->api = o->api_buf;
    }
    if (!o->token) {
        if (read_line_file(o->data_dir, "admin-token", o->token_buf, sizeof(o->token_buf)) != 0) {
            fprintf(stderr, "stratus: cannot read %s/admin-token: pass --token\n", o->data_dir);
            return -1;
        }
        o->token = o->token_buf;
    }
    char host[128];
    int port = 0;
    /* An IPv6 address comes in brackets: http://[::1]:8379. */
    int v6 = strncmp(o->api, "http://[", 8) == 0;
    if ((v6 ? sscanf(o->api, "http://[%127[^]]]:%d", host, &port)
            : sscanf(o->api, "http://%127[^:/]:%d", host, &port)) != 2 ||
        port <= 0) {
        fprintf(stderr,
                "stratus: --api must look like http://127.0.0.1:8379 or http://[::1]:8379 (got "
                "\"%s\")\n",
                o->api);
        return -1;
    }
    buf url;
    buf_init(&url);
    buf_appendf(&url, "http://%s%s%s:%d%s", v6 ? "[" : "", host, v6 ? "]" : "", port, path);
    buf_append(&url, "", 1);
    char err[256];
    long code = 0;
    /* A call may wait: creating a cache, a snapshot or a restore takes a while, so only an API
     * silent for 10 minutes is given up on. */
    http_call call = {
        .method = method, .url = buf_rptr(&url), .token = o->token, .body = body, .idle_s = 600};
    int rc = http_request(&call, &code, out, err, sizeof(err));
    buf_deinit(&url);
    if (rc == -ENOTCONN)
        fprintf(stderr, "stratus: cannot reach the API at %s: %s (is `stratus serve` running?)\n",
                o->api, err);
    else if (rc != 0)
        fprintf(stderr, "stratus: no answer from the API at %s\n", o->api);
    *status = (int)code;
    return rc == 0 ? 0 : -1;
}

/* Print an API error and map its status to an exit code. */
static int api_error(int status, const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    json_t *e = j ? json_object_get(j, "error") : NULL;
    const char *msg = e ? json_string_value(json_object_get(e, "message")) : NULL;
    const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
    fprintf(stderr, "stratus: %s%s%s\n", code ? code : "", code ? ": " : "", msg ? msg : body);
    json_decref(j);
    return status == 404 ? EX_NOTFOUND : status == 409 ? EX_CONFLICT : EX_REFUSED;
}

/* Run a call; on success hand the parsed JSON to show (or print it with --json). */
static int run(opts *o, const char *method, const char *path, json_t *body, void (*show)(json_t *j))
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int status = 0;
    buf out;
    buf_init(&out);
    int rc = call(o, method, path, text, &status, &out);
    free(text);
    if (rc != 0) {
        buf_deinit(&out);
        return EX_UNREACHABLE;
    }
    buf_append(&out, "", 1);
    if (status >= 300) {
        rc = api_error(status, buf_rptr(&out));
    } else if (o->json || !show) {
        fputs(buf_rptr(&out), stdout);
    } else {
        json_t *j = json_loads(buf_rptr(&out), 0, NULL);
        show(j);
        json_decref(j);
    }
    buf_deinit(&out);
    return rc;
}

/* ---- showing ---- */

/* The field at a dotted path ("settings.shards") of o, or NULL. */
static json_t *field_at(json_t *o, const char *path)
{
    json_t *v = o;
    char key[64];
    while (v && *path) {
        size_t l = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)l, path);
        v = json_object_get(v, key);
        path += l + (path[l] == '.');
    }
    return v;
}

/* A field as the CLI shows any value: an integer as is, a real with 3 decimals, a boolean as
 * yes/no, a string as is, anything else (or nothing) as "-". */
static void cell_value(cli_cell *c, json_t *o, const char *path)
{
    json_t *v = field_at(o, path);
    if (json_is_integer(v))
        cli_cell_int(c, (long long)json_integer_value(v));
    else if (json_is_real(v))
        cli_cell_real(c, json_real_value(v), 3);
    else if (json_is_boolean(v))
        cli_cell_str(c, json_is_true(v) ? "yes" : "no");
    else
        cli_cell_str(c, json_is_string(v) ? json_string_value(v) : "-");
}

/* A number field with 1 or 2 decimals (0 when missing). */
static void cell_tenths(cli_cell *c, json_t *o, const char *path)
{
    cli_cell_real(c, json_number_value(field_at(o, path)), 1);
}

static void cell_cents(cli_cell *c, json_t *o, const char *path)
{
    cli_cell_real(c, json_number_value(field_at(o, path)), 2);
}

/* A byte count field for people ("6.5 KB"). */
static void cell_bytes(cli_cell *c, json_t *o, const char *path)
{
    cli_cell_bytes(c, json_number_value(field_at(o, path)));
}

/* An endpoint object's host:port. */
static void cell_endpoint(cli_cell *c, json_t *o, const char *path)
{
    json_t *ep = field_at(o, path);
    cli_cell host, port;
    cell_value(&host, ep, "host");
    cell_value(&port, ep, "port");
    cli_cell_address(c, cli_cell_text(&host), cli_cell_text(&port));
}

/* A column of a table: its layout and the field of each row that fills it. */
typedef struct {
    cli_col col;
    const char *path;
    void (*fill)(cli_cell *c, json_t *row, const char *path);
} column;

static const column cache_columns[] = {
    {{"NAME", 20, 1}, "name", cell_value},
    {{"STATUS", 12, 1}, "status", cell_value},
    {{"ENDPOINT", 22, 1}, "endpoint", cell_endpoint},
    {{"SHARDS", 6, 0}, "settings.shards", cell_value},
    {{"ECPU/S", 9, 0}, "usage.ecpu_per_second", cell_tenths},
    {{"STORAGE", 10, 0}, "usage.storage_bytes", cell_bytes},
    {{"COST $", 10, 0}, "cost.to_date_usd", cell_cents},
};

static const column snapshot_columns[] = {
    {{"NAME", 28, 1}, "name", cell_value},  {{"CACHE", 16, 1}, "cache", cell_value},
    {{"KIND", 7, 1}, "kind", cell_value},   {{"CREATED", 24, 1}, "created_at", cell_value},
    {{"FILES", 5, 0}, "files", cell_value}, {{"SIZE", 10, 0}, "bytes", cell_bytes},
    {{"KEYS", 10, 0}, "keys", cell_value},
};

/* Print a table: the header line, then a line for each row (an array of objects, or one). */
static void print_table(const column *cols, size_t n, json_t *rows)
{
    buf out;
    buf_init(&out);
    for (size_t i = 0; i < n; i++)
        cli_table_put(&out, &cols[i].col, cols[i].col.header, i == 0);
    buf_append(&out, "\n", 1);
    size_t count = json_is_array(rows) ? json_array_size(rows) : 1;
    for (size_t r = 0; r < count; r++) {
        json_t *row = json_is_array(rows) ? json_array_get(rows, r) : rows;
        for (size_t i = 0; i < n; i++) {
            cli_cell c;
            cols[i].fill(&c, row, cols[i].path);
            cli_table_put(&out, &cols[i].col, cli_cell_text(&c), i == 0);
        }
        buf_append(&out, "\n", 1);
    }
    fwrite(buf_rptr(&out), 1, buf_used(&out), stdout);
    buf_deinit(&out);
}

static void show_list(json_t *j)
{
    json_t *arr = json_object_get(j, "caches");
    if (!json_array_size(arr)) {
        printf("no caches yet: `stratus cache create NAME`\n");
        return;
    }
    print_table(cache_columns, ARRAY_LEN(cache_columns), arr);
}

static void show_cache(json_t *c)
{
    /* Label, field, and whether it is shown when the reply lacks it. */
    static const struct {
        const char *label, *path;
        int always;
    } rows[] = {
        {"name", "name", 1},
        {"status", "status", 1},
        {"description", "description", 1},
        {"created", "created_at", 1},
        {"url", "endpoint.url", 1},
        {"ca", "endpoint.ca", 0},
        {"shards", "settings.shards", 0},
        {"replicas", "settings.replicas", 0},
        {"durability", "settings.durability", 0},
        {"max ECPU/s", "settings.usage_limits.max_ecpu_per_second", 0},
        {"max storage", "settings.usage_limits.max_storage", 0},
        {"eviction", "settings.eviction", 0},
        {"hibernate", "settings.hibernate_after_seconds", 0},
        {"zones", "settings.zones", 0},
        {"daily snap", "settings.daily_snapshot_time", 0},
        {"retention", "settings.snapshot_retention_limit", 0},
        {"ECPU/s now", "usage.ecpu_per_second", 0},
        {"storage B", "usage.storage_bytes", 0},
        {"p50 ms", "usage.p50_ms", 0},
        {"p99 ms", "usage.p99_ms", 0},
        {"cost $", "cost.to_date_usd", 0},
        {"month $", "cost.month_forecast_usd", 0},
        {"error", "error", 0},
        {"restored", "restored_keys", 0},
        {"restarted", "restarted", 0},
    };
    static const cli_col label = {NULL, 12, 1}, value = {NULL, 0, 1};
    buf out;
    buf_init(&out);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        cli_cell v;
        cell_value(&v, c, rows[i].path);
        if (!rows[i].always && strcmp(cli_cell_text(&v), "-") == 0)
            continue;
        cli_table_put(&out, &label, rows[i].label, 1);
        cli_table_put(&out, &value, cli_cell_text(&v), 0);
        buf_append(&out, "\n", 1);
    }
    fwrite(buf_rptr(&out), 1, buf_used(&out), stdout);
    buf_deinit(&out);
}

static void show_snapshot_one(json_t *s)
{
    print_table(snapshot_columns, ARRAY_LEN(snapshot_columns), s);
}

static void show_snapshots(json_t *j)
{
    json_t *arr = json_object_get(j, "snapshots");
    if (!json_array_size(arr)) {
        printf("no snapshots yet: `stratus snapshot create CACHE NAME`\n");
        return;
    }
    print_table(snapshot_columns, ARRAY_LEN(snapshot_columns), arr);
}

/* Fill cells[i] with the field paths[i] of j, each as cell_value shows it. */
static void cells_of(json_t *j, const char *const *paths, cli_cell *cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cell_value(&cells[i], j, paths[i]);
}

static void show_usage(json_t *j)
{
    static const char *const paths[] = {"name",
                                        "ecpu",
                                        "storage_gb_hours",
                                        "storage_at_rest_gb_hours",
                                        "cost_to_date_usd",
                                        "month_forecast_usd",
                                        "prices"};
    cli_cell v[ARRAY_LEN(paths)];
    cells_of(j, paths, v, ARRAY_LEN(paths));
    printf("cache %s: %s ECPU, %s GB-hours of storage, %s GB-hours at rest (hibernated)\n",
           cli_cell_text(&v[0]), cli_cell_text(&v[1]), cli_cell_text(&v[2]), cli_cell_text(&v[3]));
    printf("cost so far $%s, month forecast $%s (%s)\n", cli_cell_text(&v[4]), cli_cell_text(&v[5]),
           cli_cell_text(&v[6]));
}

static void show_done(json_t *j)
{
    static const char *const paths[] = {"name", "status"};
    cli_cell v[ARRAY_LEN(paths)];
    cells_of(j, paths, v, ARRAY_LEN(paths));
    printf("%s: %s\n", cli_cell_text(&v[0]), cli_cell_text(&v[1]));
}

static void show_export(json_t *j)
{
    static const char *const paths[] = {"name", "rdb"};
    cli_cell v[ARRAY_LEN(paths)];
    cells_of(j, paths, v, ARRAY_LEN(paths));
    printf("snapshot %s written to %s (and its .json manifest beside it)\n", cli_cell_text(&v[0]),
           cli_cell_text(&v[1]));
}

/* ---- options that define a cache ---- */

/* Read --flag value pairs of a cache definition into body; -1 on an unknown flag. */
static int def_flags(int argc, char **argv, int from, json_t *body)
{
    json_t *limits = json_object();
    for (int i = from; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v || strncmp(f, "--", 2) != 0) {
            fprintf(stderr, "stratus: unexpected \"%s\" (flags take a value: --shards 2)\n", f);
            json_decref(limits);
            return -1;
        }
        i++;
        char *end;
        long n = strtol(v, &end, 10);
        int isnum = *v && !*end;
        if (strcmp(f, "--description") == 0)
            json_object_set_new(body, "description", json_string(v));
        else if (strcmp(f, "--shards") == 0 || strcmp(f, "--replicas") == 0 ||
                 strcmp(f, "--hibernate-after") == 0 || strcmp(f, "--snapshot-retention") == 0 ||
                 strcmp(f, "--max-ecpu-per-second") == 0) {
            if (!isnum) {
                fprintf(stderr, "stratus: %s takes a number (got \"%s\")\n", f, v);
                json_decref(limits);
                return -1;
            }
            const char *key = strcmp(f, "--shards") == 0               ? "shards"
                              : strcmp(f, "--replicas") == 0           ? "replicas"
                              : strcmp(f, "--hibernate-after") == 0    ? "hibernate_after_seconds"
                              : strcmp(f, "--snapshot-retention") == 0 ? "snapshot_retention_limit"
                                                                       : NULL;
            if (key)
                json_object_set_new(body, key, json_integer(n));
            else
                json_object_set_new(limits, "max_ecpu_per_second", json_integer(n));
        } else if (strcmp(f, "--max-storage") == 0)
            json_object_set_new(limits, "max_storage", json_string(v));
        else if (strcmp(f, "--durability") == 0)
            json_object_set_new(body, "durability", json_string(v));
        else if (strcmp(f, "--eviction") == 0)
            json_object_set_new(body, "eviction", json_string(v));
        else if (strcmp(f, "--zones") == 0)
            json_object_set_new(body, "zones", json_string(v));
        else if (strcmp(f, "--preferred-zone") == 0)
            json_object_set_new(body, "preferred_zone", json_string(v));
        else if (strcmp(f, "--daily-snapshot-time") == 0)
            json_object_set_new(body, "daily_snapshot_time", json_string(v));
        else if (strcmp(f, "--from-snapshot") == 0)
            json_object_set_new(body, "snapshot", json_string(v));
        else {
            fprintf(stderr,
                    "stratus: unknown flag %s (--description, --shards, --replicas, --durability, "
                    "--max-ecpu-per-second, --max-storage, --eviction, --hibernate-after, --zones, "
                    "--preferred-zone, --daily-snapshot-time, --snapshot-retention)\n",
                    f);
            json_decref(limits);
            return -1;
        }
    }
    if (json_object_size(limits))
        json_object_set_new(body, "usage_limits", limits);
    else
        json_decref(limits);
    return 0;
}

static int usage_error(const char *text)
{
    fprintf(stderr, "stratus: usage: %s\n", text);
    return EX_USAGE;
}

static const char cache_usage[] =
    "stratus cache create NAME [--shards N] [--replicas N] [--durability async|sync] "
    "[--max-ecpu-per-second N] [--max-storage SIZE] [--eviction POLICY] [--hibernate-after S] "
    "[--zones a,b] "
    "[--preferred-zone Z] [--daily-snapshot-time HH:MM] [--snapshot-retention N] "
    "[--description T]\n"
    "       stratus cache list | describe NAME | modify NAME [flags as create] | delete NAME "
    "[--final-snapshot SNAP] | hibernate NAME | wake NAME | scale NAME --shards N|auto\n"
    "       (every command: [--data-dir D] [--api URL] [--token T] [--json])";

int cli_cache(int argc, char **argv)
{
    opts o = {0};
    if (parse_opts(&argc, argv, &o) != 0)
        return EX_USAGE;
    if (argc < 1)
        return usage_error(cache_usage);
    const char *sub = argv[0];
    char path[256];
    if (strcmp(sub, "list") == 0)
        return argc == 1 ? run(&o, "GET", "/v1/caches", NULL, show_list) : usage_error(cache_usage);
    if (argc < 2 || argv[1][0] == '-')
        return usage_error(cache_usage);
    const char *name = argv[1];
    if (strlen(name) > 64 || strpbrk(name, "/?#% "))
        return usage_error("a cache name is at most 40 lowercase letters, digits and hyphens");
    snprintf(path, sizeof(path), "/v1/caches/%s", name);
    if (strcmp(sub, "create") == 0 || strcmp(sub, "modify") == 0) {
        json_t *body = json_object();
        if (strcmp(sub, "create") == 0)
            json_object_set_new(body, "name", json_string(name));
        if (def_flags(argc, argv, 2, body) != 0) {
            json_decref(body);
            return EX_USAGE;
        }
        return sub[0] == 'c' ? run(&o, "POST", "/v1/caches", body, show_cache)
                             : run(&o, "PATCH", path, body, show_cache);
    }
    if (strcmp(sub, "describe") == 0 && argc == 2)
        return run(&o, "GET", path, NULL, show_cache);
    if (strcmp(sub, "delete") == 0) {
        if (argc == 4 && strcmp(argv[2], "--final-snapshot") == 0) {
            char p2[400];
            snprintf(p2, sizeof(p2), "%s?final_snapshot=%s", path, argv[3]);
            return run(&o, "DELETE", p2, NULL, show_done);
        }
        return argc == 2 ? run(&o, "DELETE", path, NULL, show_done) : usage_error(cache_usage);
    }
    if ((strcmp(sub, "hibernate") == 0 || strcmp(sub, "wake") == 0) && argc == 2) {
        char p2[300];
        snprintf(p2, sizeof(p2), "%s/%s", path, sub);
        return run(&o, "POST", p2, NULL, show_done);
    }
    return usage_error(cache_usage);
}

static const char snapshot_usage[] =
    "stratus snapshot create CACHE NAME | list [CACHE] | describe NAME | delete NAME | restore "
    "NAME NEW-CACHE [--shards N] [other create flags] | export NAME DIR | import NAME RDB-FILE\n"
    "       (every command: [--data-dir D] [--api URL] [--token T] [--json])";

int cli_snapshot(int argc, char **argv)
{
    opts o = {0};
    if (parse_opts(&argc, argv, &o) != 0)
        return EX_USAGE;
    if (argc < 1)
        return usage_error(snapshot_usage);
    const char *sub = argv[0];
    char path[512];
    if (strcmp(sub, "list") == 0 && argc <= 2) {
        if (argc == 2)
            snprintf(path, sizeof(path), "/v1/snapshots?cache=%s", argv[1]);
        else
            snprintf(path, sizeof(path), "/v1/snapshots");
        return run(&o, "GET", path, NULL, show_snapshots);
    }
    if (argc < 2 || strpbrk(argv[1], "/?#% "))
        return usage_error(snapshot_usage);
    snprintf(path, sizeof(path), "/v1/snapshots/%s", argv[1]);
    if (strcmp(sub, "create") == 0 && argc == 3)
        return run(&o, "POST", "/v1/snapshots",
                   json_pack("{s:s,s:s}", "cache", argv[1], "name", argv[2]), show_snapshot_one);
    if (strcmp(sub, "describe") == 0 && argc == 2)
        return run(&o, "GET", path, NULL, show_snapshot_one);
    if (strcmp(sub, "delete") == 0 && argc == 2)
        return run(&o, "DELETE", path, NULL, show_done);
    if (strcmp(sub, "export") == 0 && argc == 3) {
        char abs[4096];
        if (!realpath(argv[2], abs) && argv[2][0] != '/')
            snprintf(abs, sizeof(abs), "%s", argv[2]);
        char p2[600];
        snprintf(p2, sizeof(p2), "%s/export", path);
        return run(&o, "POST", p2, json_pack("{s:s}", "path", argv[2][0] == '/' ? argv[2] : abs),
                   show_export);
    }
    if (strcmp(sub, "import") == 0 && argc == 3) {
        char abs[4096];
        if (!realpath(argv[2], abs)) {
            fprintf(stderr, "stratus: %s: %s\n", argv[2], strerror(errno));
            return EX_USAGE;
        }
        return run(&o, "POST", "/v1/snapshots",
                   json_pack("{s:s,s:s}", "name", argv[1], "rdb_path", abs), show_snapshot_one);
    }
    if (strcmp(sub, "restore") == 0 && argc >= 3) {
        json_t *body = json_pack("{s:s,s:s}", "name", argv[2], "snapshot", argv[1]);
        if (def_flags(argc, argv, 3, body) != 0) {
            json_decref(body);
            return EX_USAGE;
        }
        return run(&o, "POST", "/v1/caches", body, show_cache);
    }
    return usage_error(snapshot_usage);
}

int cli_usage(int argc, char **argv)
{
    opts o = {0};
    if (parse_opts(&argc, argv, &o) != 0)
        return EX_USAGE;
    if (argc != 1)
        return usage_error("stratus usage CACHE [--data-dir D] [--api URL] [--json]");
    char path[256];
    snprintf(path, sizeof(path), "/v1/caches/%s/usage", argv[0]);
    return run(&o, "GET", path, NULL, show_usage);
}
