/* Engine diagnostics over every shard, answered as one node would: SLOWLOG GET, LATENCY
 * LATEST/HISTORY/HISTOGRAM/RESET/DOCTOR and MEMORY STATS merge the replies of every shard's
 * primary (router.c fans them out), and SCRIPT KILL / FUNCTION KILL succeed when any shard had
 * something to kill. Merging keeps each engine's own encoding of the parts it copies, so RESP2
 * and RESP3 clients get what a single engine would send them. */
#define ALLOC_ROOM ROOM_PROXY
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl_engine.h"
#include "common/alloc.h"
#include "proxy/proxy_int.h"

static const char *const doctor_argv[] = {"LATENCY", "LATEST"};
static const size_t doctor_lens[] = {7, 6};
static const char *const slowlog_all_argv[] = {"SLOWLOG", "GET", "-1"};
static const size_t slowlog_all_lens[] = {7, 3, 2};

int diag_child_cmd(const cmd_def *d, req *ch, size_t argc, const char *const *argv,
                   const size_t *lens)
{
    if (d->merge == MERGE_LATENCY_DOCTOR) {
        /* The report is the endpoint's own, written from every shard's events. */
        resp_add_command(&ch->cmd, 2, doctor_argv, doctor_lens);
        return 1;
    }
    if (d->merge == MERGE_SLOWLOG_LEN) {
        /* The length is that of the merged log, where a fanned-out command counts once. */
        resp_add_command(&ch->cmd, 3, slowlog_all_argv, slowlog_all_lens);
        return 1;
    }
    if (d->merge == MERGE_LATENCY_RESET) {
        /* RESET counts the events it reset; the same event on two shards is one event to the
         * client. Each shard lists its events and resets them atomically, and the endpoint
         * counts distinct names. Replies before EXEC's (OK, QUEUED, QUEUED) are dropped. */
        static const char *const multi[] = {"MULTI"}, *const exec[] = {"EXEC"};
        static const size_t multi_len[] = {5}, exec_len[] = {4};
        resp_add_command(&ch->cmd, 1, multi, multi_len);
        resp_add_command(&ch->cmd, 2, doctor_argv, doctor_lens);
        resp_add_command(&ch->cmd, argc, argv, lens);
        resp_add_command(&ch->cmd, 1, exec, exec_len);
        ch->preamble = 3;
        return 1;
    }
    return 0;
}

/* ---- helpers over parsed replies ---- */

/* Children's replies parsed; NULL entries where a reply did not parse. */
static int is_list(const resp_value *v)
{
    return v && (v->type == RESP_T_ARRAY || v->type == RESP_T_SET);
}

/* A map in RESP3, or an array of key, value, key, value in RESP2. */
static int is_pairs(const resp_value *v)
{
    return v && (v->type == RESP_T_MAP || (v->type == RESP_T_ARRAY && v->nelem % 2 == 0));
}

static int str_eq(const resp_value *v, const char *s, size_t n)
{
    return v->len == n && (v->type == RESP_T_BULK || v->type == RESP_T_SIMPLE) &&
           memcmp(v->str, s, n) == 0;
}

static long long as_int(const resp_value *v)
{
    if (v->type == RESP_T_INTEGER)
        return v->integer;
    if (v->type == RESP_T_BULK || v->type == RESP_T_SIMPLE) {
        char tmp[32];
        snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(v->len, 30), v->str);
        return strtoll(tmp, NULL, 10);
    }
    return 0;
}

static double as_double(const resp_value *v)
{
    if (v->type == RESP_T_INTEGER)
        return (double)v->integer;
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(v->len, 60), v->str);
    return strtod(tmp, NULL);
}

/* A double as Redis writes one: RESP3 ",", RESP2 a bulk string, with 17 significant digits. */
static void add_double(buf *b, double d, int proto)
{
    char tmp[64];
    if (isinf(d))
        snprintf(tmp, sizeof(tmp), "%s", d > 0 ? "inf" : "-inf");
    else
        snprintf(tmp, sizeof(tmp), "%.17g", d);
    if (proto == 3)
        buf_appendf(b, ",%s\r\n", tmp);
    else
        resp_add_cstr(b, tmp);
}

/* The arguments of a child's command (its last frame unless MULTI-wrapped), parsed. */
static resp_value *child_command(const req *ch, int frame)
{
    const char *p = buf_rptr(&ch->cmd);
    size_t left = buf_used(&ch->cmd);
    for (int i = 0;; i++) {
        resp_value *v = NULL;
        size_t used;
        if (resp_value_parse(p, left, &v, &used) != RESP_DONE)
            return NULL;
        if (i == frame)
            return v;
        resp_value_free(v);
        p += used;
        left -= used;
    }
}

/* ---- SLOWLOG GET and LEN ---- */

typedef struct {
    const resp_value *v;
    long long id, time;
    uint32_t shard;
    int fanout;   /* a command the endpoint runs on every shard */
    size_t group; /* its copies on other shards share a group; SIZE_MAX: none */
} slow_entry;

/* Each shard's entries together, each shard's newest first (an engine's ids only grow). */
static int slow_cmp(const void *a, const void *b)
{
    const slow_entry *x = a, *y = b;
    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return x->id > y->id ? -1 : x->id < y->id;
}

/* Whether an entry is a command of Stratus's own, not a client's: the control plane's (its
 * connections are named) or a link's setup (AUTH, HELLO, READONLY: a client's are answered by
 * the endpoint and never reach an engine). */
static int is_stratus_own(const resp_value *v)
{
    static const char name[] = ACL_ENGINE_CONTROL_NAME;
    if (v->nelem >= 6 && str_eq(&v->elem[5], name, sizeof(name) - 1))
        return 1;
    const resp_value *args = &v->elem[3];
    if (args->type != RESP_T_ARRAY || args->nelem == 0 || args->elem[0].type != RESP_T_BULK)
        return 0;
    const resp_value *c = &args->elem[0];
    static const char *const setup[] = {"auth", "hello", "readonly", "readwrite"};
    for (size_t i = 0; i < ARRAY_LEN(setup); i++)
        if (c->len == strlen(setup[i]) && strncasecmp(c->str, setup[i], c->len) == 0)
            return 1;
    return 0;
}

/* Whether the endpoint runs the logged command (its arguments, as an entry shows them) on every
 * primary: each shard then logs its own copy, which is one command to the client. */
static int runs_on_every_shard(const resp_value *args)
{
    if (args->type != RESP_T_ARRAY || args->nelem == 0 || args->elem[0].type != RESP_T_BULK)
        return 0;
    const cmd_def *d = cmd_lookup(args->elem[0].str, args->elem[0].len);
    if (d && d->route == ROUTE_PARENT)
        d = args->nelem > 1 && args->elem[1].type == RESP_T_BULK
                ? cmd_lookup_sub(d, args->elem[1].str, args->elem[1].len)
                : NULL;
    if (!d)
        return 0;
    return d->route == ROUTE_ALL ||
           (d->route == ROUTE_LOCAL && (d->local == LOCAL_CONFIG_SET || d->local == LOCAL_ACL));
}

static int same_args(const slow_entry *x, const slow_entry *y)
{
    const resp_value *a = &x->v->elem[3], *b = &y->v->elem[3];
    return a->raw_len == b->raw_len && memcmp(a->raw, b->raw, a->raw_len) == 0;
}

/* Every shard's entries of clients' commands as one log, newest first: *n entries, which the
 * caller frees; NULL when a reply is not a list.
 *
 * A fanned-out command is logged by each shard; its copies (the same arguments, logged within
 * a second on other shards) are one entry. Entries carry whole seconds, and an engine's ids say
 * nothing of another's, so the merge keeps each shard's own order and places a fanned-out
 * command after whatever any shard logged after its copy: SLOWLOG RESET, then SADD on one
 * shard, lists SADD first, whatever the ids. Between shards, within one second, the order is
 * the shards'. */
static slow_entry *slow_collect(req *p, resp_value **vals, size_t *n)
{
    size_t total = 0;
    for (uint32_t i = 0; i < p->nchildren; i++) {
        if (!is_list(vals[i]))
            return NULL;
        total += vals[i]->nelem;
    }
    slow_entry *e = xmalloc((total ? total : 1) * sizeof(*e));
    size_t all = 0;
    for (uint32_t i = 0; i < p->nchildren; i++) {
        for (size_t j = 0; j < vals[i]->nelem; j++) {
            const resp_value *v = &vals[i]->elem[j];
            if (v->type != RESP_T_ARRAY || v->nelem < 4 || is_stratus_own(v))
                continue;
            e[all++] = (slow_entry){v,
                                    as_int(&v->elem[0]),
                                    as_int(&v->elem[1]),
                                    i,
                                    runs_on_every_shard(&v->elem[3]),
                                    SIZE_MAX};
        }
    }
    qsort(e, all, sizeof(*e), slow_cmp);
    uint32_t ns = p->nchildren;
    size_t *head = xcalloc(ns + 1, sizeof(*head)); /* each shard's next entry */
    size_t *end = xcalloc(ns + 1, sizeof(*end));
    for (size_t i = 0, sh = 0; sh < ns; sh++) {
        head[sh] = i;
        while (i < all && e[i].shard == sh)
            i++;
        end[sh] = i;
    }
    /* Groups: a fanned-out entry and, on each other shard, its first ungrouped copy. */
    size_t *size = xcalloc(all + 1, sizeof(*size)), *at_head = xcalloc(all + 1, sizeof(*at_head));
    size_t ngroups = 0;
    for (size_t i = 0; i < all; i++) {
        if (!e[i].fanout || e[i].group != SIZE_MAX)
            continue;
        size_t g = ngroups++;
        e[i].group = g;
        size[g] = 1;
        for (uint32_t sh = e[i].shard + 1; sh < ns; sh++)
            for (size_t j = head[sh]; j < end[sh]; j++)
                if (e[j].fanout && e[j].group == SIZE_MAX && llabs(e[j].time - e[i].time) <= 1 &&
                    same_args(&e[i], &e[j])) {
                    e[j].group = g;
                    size[g]++;
                    break;
                }
    }
    for (uint32_t sh = 0; sh < ns; sh++)
        if (head[sh] < end[sh] && e[head[sh]].group != SIZE_MAX)
            at_head[e[head[sh]].group]++;
    /* Merge: the newest head that may go (a group once every copy is at its shard's head). */
    slow_entry *out = xmalloc((all ? all : 1) * sizeof(*out));
    size_t nout = 0;
    while (nout < all) {
        uint32_t best = UINT32_MAX, any = UINT32_MAX;
        for (uint32_t sh = 0; sh < ns; sh++) {
            if (head[sh] == end[sh])
                continue;
            const slow_entry *h = &e[head[sh]];
            if (any == UINT32_MAX || h->time > e[head[any]].time)
                any = sh;
            if ((h->group == SIZE_MAX || at_head[h->group] == size[h->group]) &&
                (best == UINT32_MAX || h->time > e[head[best]].time))
                best = sh;
        }
        if (any == UINT32_MAX)
            break;
        if (best == UINT32_MAX) {
            /* Copies that cannot all be at their heads (two commands of one second crossed):
             * the newest goes alone. */
            best = any;
            size_t g = e[head[best]].group;
            size[g]--, at_head[g]--;
            e[head[best]].group = SIZE_MAX;
        }
        size_t g = e[head[best]].group;
        out[nout++] = e[head[best]];
        for (uint32_t sh = 0; sh < ns; sh++) {
            if (head[sh] == end[sh] || (sh != best && (g == SIZE_MAX || e[head[sh]].group != g)))
                continue;
            if (sh != best)
                all--; /* a copy: one entry less in the log */
            head[sh]++;
            if (head[sh] < end[sh] && e[head[sh]].group != SIZE_MAX)
                at_head[e[head[sh]].group]++;
        }
    }
    xfree(head);
    xfree(end);
    xfree(size);
    xfree(at_head);
    xfree(e);
    *n = nout;
    return out;
}

/* SLOWLOG GET [count]: as one engine's log. */
int diag_merge_slowlog(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    long long count = 10;
    resp_value *cmd = child_command(p->children[0], 0);
    if (cmd && cmd->type == RESP_T_ARRAY && cmd->nelem >= 3)
        count = as_int(&cmd->elem[2]);
    resp_value_free(cmd);
    size_t n;
    slow_entry *e = slow_collect(p, vals, &n);
    if (!e)
        return -1;
    size_t keep = count < 0 ? n : MIN(n, (size_t)count);
    resp_add_array(out, keep);
    for (size_t i = 0; i < keep; i++) {
        /* The client fields are the engine's view of a connection shared by many clients
         * (its socket path): they are left empty, never shown. */
        const resp_value *v = e[i].v;
        resp_add_array(out, v->nelem);
        for (size_t j = 0; j < v->nelem; j++) {
            if (j >= 4)
                resp_add_bulk(out, "", 0);
            else
                buf_append(out, v->elem[j].raw, v->elem[j].raw_len);
        }
    }
    xfree(e);
    return 0;
}

/* SLOWLOG LEN: the entries GET -1 lists (each shard was asked for all of its log). */
int diag_merge_slowlog_len(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    size_t n;
    slow_entry *e = slow_collect(p, vals, &n);
    if (!e)
        return -1;
    xfree(e);
    resp_add_int(out, (long long)n);
    return 0;
}

/* ---- LATENCY LATEST, and DOCTOR and RESET built on it ---- */

typedef struct {
    const char *name;
    size_t len;
    long long time, latest, max;
} lat_event;

static int event_cmp(const void *a, const void *b)
{
    const lat_event *x = a, *y = b;
    int c = memcmp(x->name, y->name, MIN(x->len, y->len));
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Union of LATEST lists by event: the latest sample is the newest shard's, the maximum the
 * highest. Returns the events sorted by name in *out (caller frees), or -1. */
static int latest_union(resp_value *const *lists, uint32_t nlists, lat_event **out, size_t *nout)
{
    size_t cap = 8, n = 0;
    lat_event *ev = xmalloc(cap * sizeof(*ev));
    for (uint32_t i = 0; i < nlists; i++) {
        if (!is_list(lists[i])) {
            xfree(ev);
            return -1;
        }
        for (size_t j = 0; j < lists[i]->nelem; j++) {
            const resp_value *v = &lists[i]->elem[j];
            if (v->type != RESP_T_ARRAY || v->nelem < 4)
                continue;
            lat_event cur = {v->elem[0].str, v->elem[0].len, as_int(&v->elem[1]),
                             as_int(&v->elem[2]), as_int(&v->elem[3])};
            size_t k;
            for (k = 0; k < n; k++)
                if (event_cmp(&ev[k], &cur) == 0)
                    break;
            if (k == n) {
                if (n == cap) {
                    cap *= 2;
                    ev = xrealloc(ev, cap * sizeof(*ev));
                }
                ev[n++] = cur;
                continue;
            }
            if (cur.time > ev[k].time) {
                ev[k].time = cur.time;
                ev[k].latest = cur.latest;
            }
            ev[k].max = MAX(ev[k].max, cur.max);
        }
    }
    qsort(ev, n, sizeof(*ev), event_cmp);
    *out = ev;
    *nout = n;
    return 0;
}

int diag_merge_latest(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    lat_event *ev;
    size_t n;
    if (latest_union(vals, p->nchildren, &ev, &n) != 0)
        return -1;
    resp_add_array(out, n);
    for (size_t i = 0; i < n; i++) {
        resp_add_array(out, 4);
        resp_add_bulk(out, ev[i].name, ev[i].len);
        resp_add_int(out, ev[i].time);
        resp_add_int(out, ev[i].latest);
        resp_add_int(out, ev[i].max);
    }
    xfree(ev);
    return 0;
}

int diag_merge_doctor(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    lat_event *ev;
    size_t n;
    if (latest_union(vals, p->nchildren, &ev, &n) != 0)
        return -1;
    buf text;
    buf_init(&text);
    buf_appendf(&text, "Stratus latency report, from the engines of all %u shard(s).\n\n",
                p->nchildren);
    if (n == 0) {
        buf_appendf(&text, "No engine has recorded a latency spike: nothing to report.\n");
    } else {
        buf_appendf(&text, "Events recorded (a spike is an event slower than the engines' "
                           "latency-monitor-threshold):\n\n");
        for (size_t i = 0; i < n; i++)
            buf_appendf(&text, "%zu. %.*s: latest %lld ms (unix time %lld), worst %lld ms.\n",
                        i + 1, (int)ev[i].len, ev[i].name, ev[i].latest, ev[i].time, ev[i].max);
        buf_appendf(&text, "\nSLOWLOG GET names the slowest commands of every shard, newest first; "
                           "LATENCY HISTORY <event> gives an event's samples over time. Large keys "
                           "deleted or expired at once, and long scripts, are the usual causes.\n");
    }
    resp_add_verbatim(out, buf_rptr(&text), buf_used(&text), p->proto);
    buf_deinit(&text);
    xfree(ev);
    return 0;
}

int diag_merge_latency_reset(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    resp_value **lists = xcalloc(p->nchildren, sizeof(*lists));
    for (uint32_t i = 0; i < p->nchildren; i++) {
        /* EXEC's reply: [LATEST's events, RESET's count]. */
        if (!is_list(vals[i]) || vals[i]->nelem != 2) {
            xfree(lists);
            return -1;
        }
        lists[i] = &vals[i]->elem[0];
    }
    lat_event *ev;
    size_t n;
    int rc = latest_union(lists, p->nchildren, &ev, &n);
    xfree(lists);
    if (rc != 0)
        return -1;
    long long count = 0;
    resp_value *cmd = child_command(p->children[0], 2); /* MULTI, LATEST, RESET ..., EXEC */
    for (size_t i = 0; i < n; i++) {
        int named = !cmd || cmd->type != RESP_T_ARRAY || cmd->nelem <= 2;
        for (size_t a = 2; !named && a < cmd->nelem; a++)
            named = cmd->elem[a].len == ev[i].len &&
                    memcmp(cmd->elem[a].str, ev[i].name, ev[i].len) == 0;
        count += named;
    }
    resp_value_free(cmd);
    xfree(ev);
    resp_add_int(out, count);
    return 0;
}

/* ---- LATENCY HISTORY ---- */

typedef struct {
    long long time, latency;
} lat_sample;

static int sample_cmp(const void *a, const void *b)
{
    const lat_sample *x = a, *y = b;
    return (x->time > y->time) - (x->time < y->time);
}

int diag_merge_history(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    size_t total = 0;
    for (uint32_t i = 0; i < p->nchildren; i++) {
        if (!is_list(vals[i]))
            return -1;
        total += vals[i]->nelem;
    }
    lat_sample *s = xmalloc((total ? total : 1) * sizeof(*s));
    size_t n = 0;
    for (uint32_t i = 0; i < p->nchildren; i++)
        for (size_t j = 0; j < vals[i]->nelem; j++) {
            const resp_value *v = &vals[i]->elem[j];
            if (v->type == RESP_T_ARRAY && v->nelem == 2)
                s[n++] = (lat_sample){as_int(&v->elem[0]), as_int(&v->elem[1])};
        }
    qsort(s, n, sizeof(*s), sample_cmp);
    /* An engine keeps one sample per second (its highest); so does the merge. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && s[m - 1].time == s[i].time)
            s[m - 1].latency = MAX(s[m - 1].latency, s[i].latency);
        else
            s[m++] = s[i];
    }
    resp_add_array(out, m);
    for (size_t i = 0; i < m; i++) {
        resp_add_array(out, 2);
        resp_add_int(out, s[i].time);
        resp_add_int(out, s[i].latency);
    }
    xfree(s);
    return 0;
}

/* ---- LATENCY HISTOGRAM ---- */

/* The engines' buckets are cumulative (calls at or under each bound) and listed only where the
 * count grows, so a shard's count at any bound is its count at its nearest listed bound below
 * (0 when none). Summing that over shards at every bound any shard listed is the exact
 * histogram of all the calls. */
static long long cumulative_at(const resp_value *h, long long bound)
{
    long long c = 0;
    for (size_t i = 0; i + 1 < h->nelem; i += 2)
        if (as_int(&h->elem[i]) <= bound)
            c = MAX(c, as_int(&h->elem[i + 1]));
    return c;
}

static const resp_value *field(const resp_value *pairs, const char *name)
{
    for (size_t i = 0; i + 1 < pairs->nelem; i += 2)
        if (str_eq(&pairs->elem[i], name, strlen(name)))
            return &pairs->elem[i + 1];
    return NULL;
}

static int ll_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int diag_merge_histogram(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (!is_pairs(vals[i]))
            return -1;
    /* Commands in the order the shards name them, shard 0 first. */
    size_t ncmd = 0, cap = 16;
    const resp_value **names = xmalloc(cap * sizeof(*names));
    for (uint32_t i = 0; i < p->nchildren; i++)
        for (size_t j = 0; j + 1 < vals[i]->nelem; j += 2) {
            const resp_value *nm = &vals[i]->elem[j];
            size_t k;
            for (k = 0; k < ncmd; k++)
                if (str_eq(names[k], nm->str, nm->len))
                    break;
            if (k < ncmd)
                continue;
            if (ncmd == cap) {
                cap *= 2;
                names = xrealloc(names, cap * sizeof(*names));
            }
            names[ncmd++] = nm;
        }
    resp_add_map(out, ncmd, p->proto);
    for (size_t k = 0; k < ncmd; k++) {
        long long calls = 0;
        size_t nb = 0, bcap = 8;
        long long *bounds = xmalloc(bcap * sizeof(*bounds));
        const resp_value **hists = xcalloc(p->nchildren, sizeof(*hists));
        for (uint32_t i = 0; i < p->nchildren; i++) {
            const resp_value *entry = NULL;
            for (size_t j = 0; j + 1 < vals[i]->nelem; j += 2)
                if (str_eq(&vals[i]->elem[j], names[k]->str, names[k]->len))
                    entry = &vals[i]->elem[j + 1];
            if (!entry || !is_pairs(entry))
                continue;
            const resp_value *c = field(entry, "calls");
            const resp_value *h = field(entry, "histogram_usec");
            calls += c ? as_int(c) : 0;
            if (!h || !is_pairs(h))
                continue;
            hists[i] = h;
            for (size_t j = 0; j + 1 < h->nelem; j += 2) {
                if (nb == bcap) {
                    bcap *= 2;
                    bounds = xrealloc(bounds, bcap * sizeof(*bounds));
                }
                bounds[nb++] = as_int(&h->elem[j]);
            }
        }
        qsort(bounds, nb, sizeof(*bounds), ll_cmp);
        long long *counts = xmalloc((nb ? nb : 1) * sizeof(*counts));
        size_t nout = 0;
        long long prev = 0;
        for (size_t b = 0; b < nb; b++) {
            if (nout > 0 && bounds[b] == bounds[nout - 1])
                continue;
            long long sum = 0;
            for (uint32_t i = 0; i < p->nchildren; i++)
                if (hists[i])
                    sum += cumulative_at(hists[i], bounds[b]);
            if (sum == prev)
                continue; /* listed only where the count grows, as the engines do */
            bounds[nout] = bounds[b];
            counts[nout++] = sum;
            prev = sum;
        }
        buf_append(out, names[k]->raw, names[k]->raw_len);
        resp_add_map(out, 2, p->proto);
        resp_add_cstr(out, "calls");
        resp_add_int(out, calls);
        resp_add_cstr(out, "histogram_usec");
        resp_add_map(out, nout, p->proto);
        for (size_t b = 0; b < nout; b++) {
            resp_add_int(out, bounds[b]);
            resp_add_int(out, counts[b]);
        }
        xfree(counts);
        xfree(hists);
        xfree(bounds);
    }
    xfree(names);
    return 0;
}

/* ---- MEMORY STATS ---- */

/* Figures are summed over the shards (nested maps such as db.0 too). Ratios are recomputed from
 * the summed figures with Redis's own definitions; a ratio without one is averaged. Summed peaks
 * are an upper bound (the shards peaked at different times). */
typedef struct mem_field {
    const resp_value *key;
    int kind; /* 0 integer, 1 double, 2 nested */
    long long sum;
    double dsum;
    int ndouble;
    struct mem_field *nested;
    size_t nnested;
} mem_field;

static double mem_get(const mem_field *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(f[i].key, name, strlen(name)))
            return (double)f[i].sum;
    return 0;
}

static void mem_sum(mem_field **fields, size_t *n, size_t *cap, const resp_value *pairs)
{
    for (size_t j = 0; j + 1 < pairs->nelem; j += 2) {
        const resp_value *k = &pairs->elem[j], *v = &pairs->elem[j + 1];
        size_t i;
        for (i = 0; i < *n; i++)
            if (str_eq((*fields)[i].key, k->str, k->len))
                break;
        if (i == *n) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 32;
                *fields = xrealloc(*fields, *cap * sizeof(**fields));
            }
            memset(&(*fields)[i], 0, sizeof(**fields));
            (*fields)[i].key = k;
            (*fields)[i].kind = v->type == RESP_T_INTEGER ? 0 : is_pairs(v) ? 2 : 1;
            (*n)++;
        }
        mem_field *f = &(*fields)[i];
        if (f->kind == 0) {
            f->sum += as_int(v);
        } else if (f->kind == 1) {
            f->dsum += as_double(v);
            f->ndouble++;
        } else if (is_pairs(v)) {
            size_t ncap = f->nnested;
            mem_sum(&f->nested, &f->nnested, &ncap, v);
        }
    }
}

static double ratio(double num, double den)
{
    return den > 0 ? num / den : 0;
}

static void mem_write(buf *out, const mem_field *f, size_t n, int proto, int top)
{
    double total = mem_get(f, n, "total.allocated"), startup = mem_get(f, n, "startup.allocated");
    double active = mem_get(f, n, "allocator.active"), alloc = mem_get(f, n, "allocator.allocated");
    double resident = mem_get(f, n, "allocator.resident");
    resp_add_map(out, n, proto);
    for (size_t i = 0; i < n; i++) {
        const mem_field *x = &f[i];
        buf_append(out, x->key->raw, x->key->raw_len);
        const resp_value *k = x->key;
        if (x->kind == 2) {
            mem_write(out, x->nested, x->nnested, proto, 0);
        } else if (top && str_eq(k, "keys.bytes-per-key", 18)) {
            double keys = mem_get(f, n, "keys.count");
            resp_add_int(out, keys > 0 ? (long long)((total - startup) / keys) : 0);
        } else if (x->kind == 0) {
            resp_add_int(out, x->sum);
        } else if (top && str_eq(k, "dataset.percentage", 18)) {
            add_double(out, ratio(mem_get(f, n, "dataset.bytes") * 100, total - startup), proto);
        } else if (top && str_eq(k, "peak.percentage", 15)) {
            add_double(out, ratio(total * 100, mem_get(f, n, "peak.allocated")), proto);
        } else if (top && str_eq(k, "allocator-fragmentation.ratio", 29)) {
            add_double(out, ratio(active, alloc), proto);
        } else if (top && str_eq(k, "allocator-rss.ratio", 19)) {
            add_double(out, ratio(resident, active), proto);
        } else if (top && str_eq(k, "rss-overhead.ratio", 18)) {
            add_double(out, ratio(resident + mem_get(f, n, "rss-overhead.bytes"), resident), proto);
        } else if (top && str_eq(k, "fragmentation", 13)) {
            add_double(out, ratio(total + mem_get(f, n, "fragmentation.bytes"), total), proto);
        } else {
            add_double(out, x->ndouble ? x->dsum / x->ndouble : 0, proto);
        }
    }
}

static void mem_free(mem_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mem_free(f[i].nested, f[i].nnested);
    xfree(f);
}

int diag_merge_memory_stats(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    mem_field *fields = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t i = 0; i < p->nchildren; i++) {
        if (!is_pairs(vals[i])) {
            mem_free(fields, n);
            return -1;
        }
        mem_sum(&fields, &n, &cap, vals[i]);
    }
    mem_write(out, fields, n, p->proto, 1);
    mem_free(fields, n);
    return 0;
}

/* ---- entry points ---- */

/* FUNCTION STATS: every shard has the same libraries (FUNCTION LOAD goes to each); the
 * running function is the one shard's that runs one. That shard's reply, else the first's. */
int diag_merge_function_stats(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w;
    uint32_t pick = 0;
    for (uint32_t i = 0; i < p->nchildren; i++) {
        if (!is_pairs(vals[i]))
            return -1;
        for (size_t j = 0; j + 1 < vals[i]->nelem; j += 2)
            if (str_eq(&vals[i]->elem[j], "running_script", 14) &&
                (vals[i]->elem[j + 1].type == RESP_T_ARRAY ||
                 vals[i]->elem[j + 1].type == RESP_T_MAP) &&
                pick == 0)
                pick = i;
    }
    buf_append(out, vals[pick]->raw, vals[pick]->raw_len);
    return 0;
}

int diag_merge_kill(worker *w, req *p, resp_value **vals, buf *out)
{
    (void)w, (void)vals;
    /* As one node: OK when a script or function was killed somewhere; otherwise a shard's own
     * error (UNKILLABLE, ...) before NOTBUSY, which means no shard was running one. */
    const buf *pick = NULL;
    for (uint32_t i = 0; i < p->nchildren; i++) {
        const buf *rb = &p->children[i]->reply;
        if (buf_used(rb) && buf_rptr(rb)[0] == '+') {
            pick = rb;
            break;
        }
        if (!pick || (buf_used(rb) > 8 && memcmp(buf_rptr(rb), "-NOTBUSY", 8) != 0))
            pick = rb;
    }
    if (pick)
        buf_append(out, buf_rptr(pick), buf_used(pick));
    return 0;
}
