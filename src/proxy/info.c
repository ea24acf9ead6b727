/* INFO: Redis's sections, composed from the primaries' own INFO and the endpoint's lines.
 *
 * The engines know what Redis reports about data and commands (memory, persistence, stats,
 * errorstats, commandstats, latencystats, keyspace); the endpoint knows what a client of the one
 * endpoint sees (its connections, its process, its CPU, the cluster it pretends to be). Each
 * section has a policy (the table `sections`): ENGINE sections are the primaries' lines merged
 * key by key, with the endpoint's lines of the same section replacing values of the same key and
 * added after them, and the engine's internal keys (paths, replicas' addresses) left out; OWN
 * sections are the endpoint's lines alone. With one shard an engine's value goes out verbatim;
 * with several, integers are summed (or the largest taken, for flags, times and settings), a
 * `k=v,...` value is merged field by field (usec_per_call recomputed), anything else is the
 * first primary's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "acl/authguard.h"
#include "common/alloc.h"
#include "common/version.h"
#include "proxy/proxy_int.h"

enum { OWN, ENGINE };

/* The commands the endpoint itself sends its engines (replication, cluster and user set-up,
 * health checks), or answers without them: their engine figures are the service's, not the
 * client's. */
#define INTERNAL_COMMANDS(p)                                                                       \
    p "replconf", p "psync", p "sync", p "cluster|*", p "readonly", p "readwrite", p "auth",       \
        p "hello", p "ping", p "info", p "acl|*", p "config|*", p "select", NULL
static const char *const internal_commands[] = {INTERNAL_COMMANDS("cmdstat_")};
static const char *const internal_latencies[] = {INTERNAL_COMMANDS("latency_percentiles_usec_")};

static const struct {
    const char *name; /* as INFO's argument, lower case */
    const char *title;
    uint32_t bit;
    int policy;
    const char *const *hidden; /* engine keys never shown, NULL-terminated; "x*" is a prefix */
} sections[] = {
    {"server", "Server", INFO_SERVER, ENGINE,
     (const char *const[]){"executable", "config_file", "run_id", NULL}},
    {"clients", "Clients", INFO_CLIENTS, ENGINE, (const char *const[]){NULL}},
    {"memory", "Memory", INFO_MEMORY, ENGINE, (const char *const[]){NULL}},
    {"persistence", "Persistence", INFO_PERSISTENCE, ENGINE, (const char *const[]){NULL}},
    {"stats", "Stats", INFO_STATS, ENGINE, (const char *const[]){NULL}},
    {"replication", "Replication", INFO_REPLICATION, ENGINE,
     (const char *const[]){"slave*", "master_host", "master_port", "master_link*", "master_sync*",
                           "master_last_io*", "replica_announced", "min_slaves*", NULL}},
    {"cpu", "CPU", INFO_CPU, OWN, NULL},
    {"modules", "Modules", INFO_MODULES, ENGINE, (const char *const[]){NULL}},
    {"errorstats", "Errorstats", INFO_ERRORSTATS, ENGINE,
     (const char *const[]){"errorstat_NOAUTH", NULL}},
    {"cluster", "Cluster", INFO_CLUSTER, OWN, NULL},
    {"stratus", "Stratus", INFO_STRATUS, OWN, NULL},
    {"keyspace", "Keyspace", INFO_KEYSPACE, ENGINE, (const char *const[]){NULL}},
    {"commandstats", "Commandstats", INFO_COMMANDSTATS, ENGINE, internal_commands},
    {"latencystats", "Latencystats", INFO_LATENCYSTATS, ENGINE, internal_latencies},
};

#define INFO_DEFAULT (INFO_ALL & ~(INFO_COMMANDSTATS | INFO_LATENCYSTATS))

uint32_t info_sections(size_t argc, const char *const *argv, const size_t *lens)
{
    if (argc < 2)
        return INFO_DEFAULT;
    uint32_t mask = 0;
    for (size_t i = 1; i < argc; i++) {
        if (arg_is(argv[i], lens[i], "all") || arg_is(argv[i], lens[i], "everything"))
            mask |= INFO_ALL;
        else if (arg_is(argv[i], lens[i], "default"))
            mask |= INFO_DEFAULT;
        for (size_t j = 0; j < ARRAY_LEN(sections); j++)
            if (arg_is(argv[i], lens[i], sections[j].name))
                mask |= sections[j].bit;
    }
    return mask;
}

uint32_t info_engine_sections(void)
{
    uint32_t mask = 0;
    for (size_t j = 0; j < ARRAY_LEN(sections); j++)
        if (sections[j].policy == ENGINE)
            mask |= sections[j].bit;
    return mask;
}

/* ---- one INFO text, as lines of sections ----------------------------------------------------- */

typedef struct {
    const char *p, *end;
} cursor;

/* Next "key:value" line of section `want` (lower case) in text; 0 at the end. */
static int next_line(cursor *cur, int *in_section, const char *want, const char **key, size_t *klen,
                     const char **val, size_t *vlen)
{
    while (cur->p < cur->end) {
        const char *nl = memchr(cur->p, '\n', (size_t)(cur->end - cur->p));
        const char *le = nl ? nl : cur->end;
        const char *line = cur->p;
        size_t n = (size_t)(le - line);
        if (n && line[n - 1] == '\r')
            n--;
        cur->p = nl ? nl + 1 : cur->end;
        if (n >= 2 && line[0] == '#') {
            const char *t = line + 1;
            size_t tn = n - 1;
            while (tn && *t == ' ')
                t++, tn--;
            *in_section = arg_is(t, tn, want);
            continue;
        }
        if (!*in_section || n == 0)
            continue;
        const char *colon = memchr(line, ':', n);
        if (!colon)
            continue;
        *key = line;
        *klen = (size_t)(colon - line);
        *val = colon + 1;
        *vlen = n - *klen - 1;
        return 1;
    }
    return 0;
}

static int key_is(const char *k, size_t kn, const char *pattern)
{
    size_t pn = strlen(pattern);
    if (pn && pattern[pn - 1] == '*')
        return kn >= pn - 1 && memcmp(k, pattern, pn - 1) == 0;
    return kn == pn && memcmp(k, pattern, pn) == 0;
}

static int hidden(const char *const *list, const char *k, size_t kn)
{
    for (; list && *list; list++)
        if (key_is(k, kn, *list))
            return 1;
    return 0;
}

/* An integer field that is a flag, a time, a setting or a per-process figure: over several
 * primaries the largest is shown, not the sum. */
static int not_additive(const char *k, size_t kn)
{
    static const char *const exact[] = {"loading",
                                        "async_loading",
                                        "aof_enabled",
                                        "aof_rewrite_scheduled",
                                        "maxmemory",
                                        "lru_clock",
                                        "hz",
                                        "configured_hz",
                                        "io_threads_active",
                                        "arch_bits",
                                        "redis_git_dirty",
                                        "server_time_usec",
                                        "uptime_in_seconds",
                                        "uptime_in_days",
                                        "tcp_port",
                                        "process_id",
                                        "avg_ttl",
                                        "second_repl_offset",
                                        "master_repl_offset",
                                        "connected_slaves",
                                        "maxclients",
                                        "cluster_enabled",
                                        "tracking_total_prefixes",
                                        "client_recent_max_input_buffer",
                                        "client_recent_max_output_buffer"};
    static const char *const within[] = {"_in_progress", "_time",     "scripts",      "_vm",
                                         "_lua",         "functions", "libraries",    "_perc",
                                         "maxmemory",    "_status",   "repl_backlog", "monotonic",
                                         "_rss"};
    for (size_t i = 0; i < ARRAY_LEN(exact); i++)
        if (key_is(k, kn, exact[i]))
            return 1;
    for (size_t i = 0; i < ARRAY_LEN(within); i++)
        if (memmem(k, kn, within[i], strlen(within[i])))
            return 1;
    return 0;
}

/* ---- merging values over the primaries --------------------------------------------------------
 */

enum { V_INT, V_FLOAT, V_STR };

static int parse_value(const char *v, size_t n, long long *iv, double *dv)
{
    char tmp[64];
    /* "00000000" (redis_git_sha1) and "+1" are text, not numbers. */
    if (n == 0 || n >= sizeof(tmp) || (n > 1 && v[0] == '0' && v[1] != '.') || v[0] == '+')
        return V_STR;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    char *end;
    *iv = strtoll(tmp, &end, 10);
    if (*end == '\0')
        return V_INT;
    *dv = strtod(tmp, &end);
    return *end == '\0' ? V_FLOAT : V_STR;
}

#define MAX_SUBS 12

typedef struct {
    const char *name;
    size_t nlen;
    int kind;
    long long iv;
    double dv;
} sub;

typedef struct {
    const char *key;
    size_t klen;
    const char *first; /* the first primary's value, verbatim */
    size_t flen;
    int sources; /* primaries that had this key */
    int kind;
    long long iv;
    double dv;
    int nsubs; /* > 0: a "k=v,..." value merged field by field */
    sub subs[MAX_SUBS];
} entry;

static void merge_subs(entry *e, const char *v, size_t n)
{
    const char *p = v, *end = v + n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *fe = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));
        if (eq) {
            long long iv = 0;
            double dv = 0;
            int kind = parse_value(eq + 1, (size_t)(fe - eq - 1), &iv, &dv);
            size_t nl = (size_t)(eq - p);
            int j = 0;
            while (j < e->nsubs && !(e->subs[j].nlen == nl && memcmp(e->subs[j].name, p, nl) == 0))
                j++;
            if (j == e->nsubs && j < MAX_SUBS) {
                e->subs[j] = (sub){p, nl, kind, iv, dv};
                e->nsubs++;
            } else if (j < e->nsubs) {
                sub *s = &e->subs[j];
                if (s->kind == V_INT && kind == V_INT)
                    s->iv = not_additive(p, nl) ? (iv > s->iv ? iv : s->iv) : s->iv + iv;
                else if (s->kind == V_FLOAT && kind != V_STR && (kind == V_INT ? iv : dv) > s->dv)
                    s->dv = kind == V_INT ? (double)iv : dv;
            }
        }
        p = comma ? comma + 1 : end;
    }
}

static void merge_value(entry *e, const char *v, size_t n)
{
    e->sources++;
    int is_list = memchr(v, '=', n) != NULL;
    if (e->sources == 1) {
        e->first = v;
        e->flen = n;
        e->kind = parse_value(v, n, &e->iv, &e->dv);
    } else if (!is_list && e->kind == V_INT) {
        long long iv;
        double dv;
        if (parse_value(v, n, &iv, &dv) == V_INT)
            e->iv = not_additive(e->key, e->klen) ? (iv > e->iv ? iv : e->iv) : e->iv + iv;
    }
    if (is_list)
        merge_subs(e, v, n);
}

static void human(char *out, size_t n, long long v)
{
    static const char units[] = "BKMGT";
    double d = (double)v;
    int u = 0;
    while (d >= 1024 && u < 4) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, n, "%lldB", v);
    else
        snprintf(out, n, "%.2f%c", d, units[u]);
}

static void put_value(buf *text, const entry *e, const entry *all, size_t nall)
{
    if (e->sources <= 1) {
        buf_append(text, e->first, e->flen);
        return;
    }
    if (e->nsubs) {
        long long calls = 0, usec = 0;
        for (int j = 0; j < e->nsubs; j++) {
            if (key_is(e->subs[j].name, e->subs[j].nlen, "calls"))
                calls = e->subs[j].iv;
            if (key_is(e->subs[j].name, e->subs[j].nlen, "usec"))
                usec = e->subs[j].iv;
        }
        for (int j = 0; j < e->nsubs; j++) {
            const sub *s = &e->subs[j];
            buf_appendf(text, "%s%.*s=", j ? "," : "", (int)s->nlen, s->name);
            if (key_is(s->name, s->nlen, "usec_per_call"))
                buf_appendf(text, "%.2f", calls ? (double)usec / (double)calls : 0.0);
            else if (s->kind == V_INT)
                buf_appendf(text, "%lld", s->iv);
            else if (s->kind == V_FLOAT)
                buf_appendf(text, "%.3f", s->dv);
            else
                buf_append(text, "", 0);
        }
        return;
    }
    /* "x_human" follows the merged "x". */
    if (e->klen > 6 && memcmp(e->key + e->klen - 6, "_human", 6) == 0)
        for (size_t i = 0; i < nall; i++)
            if (all[i].klen == e->klen - 6 && memcmp(all[i].key, e->key, e->klen - 6) == 0 &&
                all[i].kind == V_INT) {
                char h[32];
                human(h, sizeof(h), all[i].iv);
                buf_appendf(text, "%s", h);
                return;
            }
    if (e->kind == V_INT)
        buf_appendf(text, "%lld", e->iv);
    else
        buf_append(text, e->first, e->flen);
}

/* ---- the endpoint's own lines --------------------------------------------------------------- */

/* The INFO lines of the counters of section (VIEW_COUNTERS, proxy/view.h). */
static void counter_lines(buf *text, const view_counters *k, uint32_t section)
{
    size_t n;
    const view_counter_row *rows = view_counter_rows(&n);
    for (size_t i = 0; i < n; i++)
        if (rows[i].info_section == section)
            buf_appendf(text, "%s:%lld\r\n", rows[i].info_name,
                        (long long)view_counter_value(k, &rows[i]));
}

/* The endpoint's lines of one section (no title); engines: whether engine lines come too; st:
 * the cache's figures, asked once per INFO. */
static void own_lines(session *s, buf *text, uint32_t bit, int engines, const view_stats *st)
{
    proxy_view *c = s->view;
    const topology *t = worker_topology(s->w);
    uint64_t up = (ev_now_ms(s->w->loop) - c->started_ms) / 1000;
    switch (bit) {
    case INFO_SERVER: {
        struct utsname un;
        uname(&un);
        buf_appendf(text,
                    "redis_version:%s\r\nstratus_version:%s\r\nredis_mode:cluster\r\n"
                    "os:%s %s %s\r\narch_bits:64\r\nprocess_id:%d\r\ntcp_port:%d\r\n"
                    "uptime_in_seconds:%llu\r\nuptime_in_days:%llu\r\n",
                    st->engine_version[0] ? st->engine_version : "7.0.0", STRATUS_VERSION,
                    un.sysname, un.release, un.machine, (int)getpid(), s->local_port,
                    (unsigned long long)up, (unsigned long long)(up / 86400));
        break;
    }
    case INFO_CLIENTS:
        counter_lines(text, &c->counters, VIEW_INFO_CLIENTS);
        buf_appendf(text, "maxclients:%ld\r\n", c->limits.maxclients);
        if (!engines) /* asleep: no client is blocked */
            buf_appendf(text, "blocked_clients:0\r\n");
        break;
    case INFO_MEMORY: {
        char h[32];
        human(h, sizeof(h), (long long)c->max_storage);
        buf_appendf(text, "maxmemory:%llu\r\nmaxmemory_human:%s\r\nmaxmemory_policy:%s\r\n",
                    (unsigned long long)c->max_storage, h,
                    c->max_storage ? c->eviction : "noeviction");
        break;
    }
    case INFO_STATS: {
        uint64_t refused;
        auth_guard_stats(c->auth_guard, &refused);
        counter_lines(text, &c->counters, VIEW_INFO_STATS);
        buf_appendf(text, "auth_throttled:%llu\r\nengine_restarts:%lld\r\n",
                    (unsigned long long)refused, (long long)st->restarts);
        break;
    }
    case INFO_REPLICATION:
        buf_appendf(text, "role:master\r\nconnected_slaves:0\r\n");
        break;
    case INFO_CPU: {
        /* The endpoint's own process, as Redis reports its own (the engines' are theirs). */
        struct rusage self, children, thread;
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &children);
        getrusage(RUSAGE_THREAD, &thread);
        buf_appendf(text,
                    "used_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n"
                    "used_cpu_sys_children:%ld.%06ld\r\nused_cpu_user_children:%ld.%06ld\r\n"
                    "used_cpu_sys_main_thread:%ld.%06ld\r\nused_cpu_user_main_thread:%ld.%06ld"
                    "\r\n",
                    (long)self.ru_stime.tv_sec, (long)self.ru_stime.tv_usec,
                    (long)self.ru_utime.tv_sec, (long)self.ru_utime.tv_usec,
                    (long)children.ru_stime.tv_sec, (long)children.ru_stime.tv_usec,
                    (long)children.ru_utime.tv_sec, (long)children.ru_utime.tv_usec,
                    (long)thread.ru_stime.tv_sec, (long)thread.ru_stime.tv_usec,
                    (long)thread.ru_utime.tv_sec, (long)thread.ru_utime.tv_usec);
        break;
    }
    case INFO_CLUSTER:
        buf_appendf(text, "cluster_enabled:1\r\n");
        break;
    case INFO_STRATUS:
        buf_appendf(text,
                    "cache:%s\r\nshards:%d\r\nengines:%d\r\nengines_up:%d\r\n"
                    "topology_version:%llu\r\nresharding:%d\r\nslots_moved:%lld\r\n"
                    "failovers:%lld\r\nzone:%s\r\nreader_port:%d\r\n",
                    c->name, t->nshards, st->engines_total, st->engines_up,
                    (unsigned long long)t->version, atomic_load(&c->resharding),
                    (long long)atomic_load(&c->slots_moved), (long long)st->failovers, c->zone,
                    c->reader_port);
        break;
    default:
        break;
    }
}

/* ---- composing ---------------------------------------------------------------------------- */

typedef struct {
    entry *v;
    size_t n, cap;
} entries;

static entry *find(const entries *es, const char *k, size_t kn)
{
    for (size_t i = 0; i < es->n; i++)
        if (es->v[i].klen == kn && memcmp(es->v[i].key, k, kn) == 0)
            return &es->v[i];
    return NULL;
}

static entry *add(entries *es, const char *k, size_t kn)
{
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 64;
        es->v = xrealloc_room(ROOM_PROXY, es->v, es->cap * sizeof(entry));
    }
    es->v[es->n] = (entry){.key = k, .klen = kn};
    return &es->v[es->n++];
}

/* The clients whose command waits for a CLIENT PAUSE at the endpoint are blocked clients, as
 * Redis counts its paused ones: added to the primaries' blocked_clients. */
static void add_paused(entries *es, int64_t n)
{
    entry *e = n > 0 ? find(es, "blocked_clients", 15) : NULL;
    if (!e || e->kind != V_INT)
        return;
    e->iv += n;
    e->sources = MAX(e->sources, 2); /* written from iv, not as the first primary's text */
}

void info_build(session *s, buf *b, uint32_t mask, const char *const *texts, const size_t *lens,
                int ntexts)
{
    buf out, own;
    buf_init(&out);
    buf_init(&own);
    entries es = {NULL, 0, 0};
    view_stats st;
    s->view->ops->stats(s->view->owner, &st);
    int first = 1;
    for (size_t j = 0; j < ARRAY_LEN(sections); j++) {
        if (!(mask & sections[j].bit))
            continue;
        if (!first)
            buf_appendf(&out, "\r\n");
        first = 0;
        buf_appendf(&out, "# %s\r\n", sections[j].title);
        int engines = sections[j].policy == ENGINE && ntexts > 0;
        buf_consume(&own, buf_used(&own));
        own_lines(s, &own, sections[j].bit, engines, &st);
        if (!engines) {
            buf_append(&out, buf_rptr(&own), buf_used(&own));
            continue;
        }
        /* The primaries' lines, merged key by key in the first one's order. */
        es.n = 0;
        for (int i = 0; i < ntexts; i++) {
            cursor cur = {texts[i], texts[i] + lens[i]};
            int in = 0;
            const char *k, *v;
            size_t kn, vn;
            while (next_line(&cur, &in, sections[j].name, &k, &kn, &v, &vn)) {
                if (hidden(sections[j].hidden, k, kn))
                    continue;
                entry *e = find(&es, k, kn);
                merge_value(e ? e : add(&es, k, kn), v, vn);
            }
        }
        if (sections[j].bit == INFO_CLIENTS)
            add_paused(&es, pause_waiting_clients(s->view));
        /* The endpoint's values replace the engines' of the same key; its other keys follow. */
        const entry *all = es.v;
        size_t nall = es.n;
        for (size_t i = 0; i < nall; i++) {
            cursor oc = {buf_rptr(&own), buf_rptr(&own) + buf_used(&own)};
            int in = 1;
            const char *k, *v = NULL;
            size_t kn, vn = 0;
            int mine = 0;
            while (next_line(&oc, &in, "", &k, &kn, &v, &vn))
                if (kn == all[i].klen && memcmp(k, all[i].key, kn) == 0) {
                    mine = 1;
                    break;
                }
            buf_append(&out, all[i].key, all[i].klen);
            buf_append(&out, ":", 1);
            if (mine)
                buf_append(&out, v, vn);
            else
                put_value(&out, &all[i], all, nall);
            buf_append(&out, "\r\n", 2);
        }
        cursor oc = {buf_rptr(&own), buf_rptr(&own) + buf_used(&own)};
        int in = 1;
        const char *k, *v;
        size_t kn, vn;
        while (next_line(&oc, &in, "", &k, &kn, &v, &vn))
            if (!find(&es, k, kn))
                buf_appendf(&out, "%.*s:%.*s\r\n", (int)kn, k, (int)vn, v);
    }
    resp_add_verbatim(b, buf_rptr(&out), buf_used(&out), s->proto);
    buf_deinit(&out);
    buf_deinit(&own);
    xfree(es.v);
}

void info_answer(const local_call *c)
{
    /* Only when no engine figure is needed (request_info fans out otherwise). */
    info_build(c->s, c->b, info_sections(c->argc, c->argv, c->lens), NULL, NULL, 0);
}
