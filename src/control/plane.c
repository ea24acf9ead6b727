/* The control plane (see plane.h): definitions in the store, one child process per cache, a
 * manager thread that reaps and restarts children and samples their metrics. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/plane.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/file.h"
#include "common/log.h"
#include "control/endpoint.h"
#include "control/hibernate.h"
#include "control/metrics.h"
#include "control/store.h"
#include "control/usage.h"
#include "meter/bill.h"
#include "net/ev.h"
#include "net/tls.h"
#include "proto/resp.h"

#define READY_MS 30000 /* a new cache must answer PING within this */
#define STOP_MS 60000  /* a child must exit within this after SIGTERM */

/* A cache the plane runs. Invariant: pid > 0 exactly while its child process runs (not yet
 * reaped); the embedded cache has pid 0 and c set. */
typedef struct {
    plane_def def;
    plane_status status;
    cache *c;            /* embedded (`stratus up`): the in-process cache */
    pid_t pid;           /* child process */
    int stopping;        /* SIGTERM sent on purpose: its exit is not a crash */
    int failures;        /* consecutive quick exits */
    uint64_t started_ms; /* last spawn (monotonic) */
    uint64_t restart_at; /* after a crash: spawn again then (monotonic), 0: not pending */
    char error[300];
    plane_point pts[PLANE_POINTS]; /* ring of samples */
    size_t npts, head;             /* entries, next slot */
    double prev_ecpu;              /* counters at the previous sample */
    uint64_t prev_lat[VIEW_LATENCY_BUCKETS];
    int64_t prev_t;
    int busy;     /* an API call is working on it (create, modify, delete): the manager keeps off */
    buf metrics;  /* its last /metrics text (for the plane's own /metrics) */
    int sampling; /* the manager is sampling it unlocked: not freed until it is done */
    double ecpu_total, cost_to_date, month_forecast; /* from its usage records, refreshed by
                                                        the manager once a minute */
} pcache;

struct plane {
    settings cfg;
    char self[4096];
    char token[65];
    store *st;            /* guarded by lock */
    pthread_mutex_t lock; /* guards everything below and st */
    pcache **caches;
    size_t n, cap;
    pthread_t manager;
    int running;
    _Atomic int quit;
};

static const char *const status_names[] = {"creating", "available", "hibernating", "failed",
                                           "deleting"};

/* ---- definitions ---- */

static void def_encode(const plane_def *d, buf *out)
{
    buf_appendf(out,
                "description=%s\nshards=%d\nreplicas=%d\ndurability=%s\nmax_ecpu_per_second=%ld\n"
                "max_storage=%s\neviction=%s\nhibernate_after=%ld\nzones=%s\npreferred_zone=%s\n"
                "daily_snapshot_time=%s\nsnapshot_retention=%d\nport=%d\ncreated_ms=%lld\n",
                d->description, d->shards, d->replicas, d->durability, d->max_ecpu_per_second,
                d->max_storage, d->eviction, d->hibernate_after, d->zones, d->preferred_zone,
                d->daily_snapshot_time, d->snapshot_retention, d->port, (long long)d->created_ms);
}

static void def_decode(plane_def *d, const char *text, size_t len)
{
    char *copy = xstrndup(text, len), *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = l, *v = eq + 1;
        if (strcmp(k, "description") == 0)
            snprintf(d->description, sizeof(d->description), "%s", v);
        else if (strcmp(k, "shards") == 0)
            d->shards = atoi(v);
        else if (strcmp(k, "replicas") == 0)
            d->replicas = atoi(v);
        else if (strcmp(k, "durability") == 0)
            snprintf(d->durability, sizeof(d->durability), "%s", v);
        else if (strcmp(k, "max_ecpu_per_second") == 0)
            d->max_ecpu_per_second = atol(v);
        else if (strcmp(k, "max_storage") == 0)
            snprintf(d->max_storage, sizeof(d->max_storage), "%s", v);
        else if (strcmp(k, "eviction") == 0)
            snprintf(d->eviction, sizeof(d->eviction), "%s", v);
        else if (strcmp(k, "hibernate_after") == 0)
            d->hibernate_after = atol(v);
        else if (strcmp(k, "zones") == 0)
            snprintf(d->zones, sizeof(d->zones), "%s", v);
        else if (strcmp(k, "preferred_zone") == 0)
            snprintf(d->preferred_zone, sizeof(d->preferred_zone), "%s", v);
        else if (strcmp(k, "daily_snapshot_time") == 0)
            snprintf(d->daily_snapshot_time, sizeof(d->daily_snapshot_time), "%s", v);
        else if (strcmp(k, "snapshot_retention") == 0)
            d->snapshot_retention = atoi(v);
        else if (strcmp(k, "port") == 0)
            d->port = atoi(v);
        else if (strcmp(k, "created_ms") == 0)
            d->created_ms = atoll(v);
    }
    xfree(copy);
}

static int def_save(plane *p, const plane_def *d)
{
    buf b;
    buf_init(&b);
    def_encode(d, &b);
    int rc = store_put(p->st, d->name, "definition", "v1", buf_rptr(&b), buf_used(&b));
    buf_deinit(&b);
    return rc;
}

void plane_def_defaults(const plane *p, plane_def *d)
{
    memset(d, 0, sizeof(*d));
    d->shards = (int)p->cfg.shards;
    d->replicas = (int)p->cfg.replicas;
    snprintf(d->durability, sizeof(d->durability), "%s", p->cfg.durability);
    d->max_ecpu_per_second = p->cfg.max_ecpu_per_second;
    snprintf(d->max_storage, sizeof(d->max_storage), "%s", p->cfg.max_storage);
    snprintf(d->eviction, sizeof(d->eviction), "%s", p->cfg.eviction);
    d->hibernate_after = p->cfg.hibernate_after;
    snprintf(d->zones, sizeof(d->zones), "%s", p->cfg.zones);
    snprintf(d->preferred_zone, sizeof(d->preferred_zone), "%s", p->cfg.preferred_zone);
    d->snapshot_retention = 7;
}

/* AWS's rule for cache names: 1-40 characters, lowercase letters, digits and hyphens, starting
 * with a letter, no two hyphens in a row, not ending with a hyphen. */
static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > 40 || !islower((unsigned char)n[0]) || n[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '-'))
            return 0;
        if (ch == '-' && n[i + 1] == '-')
            return 0;
    }
    return 1;
}

int plane_def_check(const plane_def *d, char *err, size_t errlen)
{
    if (!name_ok(d->name)) {
        snprintf(err, errlen,
                 "name \"%s\": use 1 to 40 lowercase letters, digits and hyphens, starting with a "
                 "letter (no \"--\", no trailing hyphen)",
                 d->name);
        return -EINVAL;
    }
    if (d->shards < 1 || d->shards > 64 || d->replicas < 0 || d->replicas > 2) {
        snprintf(err, errlen, "shards must be 1 to 64 and replicas 0 to 2 (got %d and %d)",
                 d->shards, d->replicas);
        return -EINVAL;
    }
    if (d->shards * (1 + d->replicas) > 64) {
        snprintf(err, errlen, "shards x (1 + replicas) must be at most 64");
        return -EINVAL;
    }
    if (strcmp(d->durability, "async") != 0 && strcmp(d->durability, "sync") != 0) {
        snprintf(err, errlen, "durability must be \"async\" or \"sync\" (got \"%s\")",
                 d->durability);
        return -EINVAL;
    }
    if (strcmp(d->durability, "sync") == 0 && d->replicas < 1) {
        snprintf(err, errlen, "durability \"sync\" needs at least one replica");
        return -EINVAL;
    }
    if (d->max_ecpu_per_second < 0 || d->max_ecpu_per_second > 1000000000) {
        snprintf(err, errlen, "max_ecpu_per_second must be 0 (no limit) to 1000000000");
        return -EINVAL;
    }
    if (!cache_eviction_ok(d->eviction)) {
        snprintf(err, errlen, "eviction \"%s\" is not one of %s", d->eviction,
                 cache_eviction_policies());
        return -EINVAL;
    }
    if (d->hibernate_after < 0 || d->hibernate_after > 31536000) {
        snprintf(err, errlen, "hibernate_after_seconds must be 0 (never) to 31536000");
        return -EINVAL;
    }
    char *end;
    double v = strtod(d->max_storage, &end);
    if (end == d->max_storage || v < 0 ||
        (*end && strcasecmp(end, "b") && strcasecmp(end, "kb") && strcasecmp(end, "mb") &&
         strcasecmp(end, "gb"))) {
        snprintf(err, errlen,
                 "max_storage must be a size such as 0 (no limit), 512mb or 10gb "
                 "(got \"%s\")",
                 d->max_storage);
        return -EINVAL;
    }
    if (strpbrk(d->description, "\n\r")) {
        snprintf(err, errlen, "description must be one line");
        return -EINVAL;
    }
    int hh, mm;
    char extra;
    if (d->daily_snapshot_time[0] &&
        (sscanf(d->daily_snapshot_time, "%2d:%2d%c", &hh, &mm, &extra) != 2 || hh < 0 || hh > 23 ||
         mm < 0 || mm > 59)) {
        snprintf(err, errlen, "daily_snapshot_time must be HH:MM in UTC (got \"%s\")",
                 d->daily_snapshot_time);
        return -EINVAL;
    }
    if (d->snapshot_retention < 0 || d->snapshot_retention > 35) {
        snprintf(err, errlen, "snapshot_retention_limit must be 0 to 35 (AWS's bound)");
        return -EINVAL;
    }
    for (const char *s = d->zones; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == ',' || *s == '-')) {
            snprintf(err, errlen, "zones must be a comma-separated list of zone names");
            return -EINVAL;
        }
    return 0;
}

/* ---- events ---- */

static void event_locked(plane *p, const char *cname, const char *kind, const char *msg)
{
    log_info("cache %s: %s: %s", cname, kind, msg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static unsigned seq;
    char name[48], value[600];
    snprintf(name, sizeof(name), "%013lld-p%05u",
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, seq++ % 100000);
    int n = snprintf(value, sizeof(value), "%s\t%s", kind, msg);
    store_put(p->st, cname, "event", name, value, (size_t)MIN((size_t)n, sizeof(value) - 1));
}

void plane_event(plane *p, const char *cname, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->lock);
    event_locked(p, cname, kind, msg);
    pthread_mutex_unlock(&p->lock);
}

typedef struct {
    int64_t ms;
    char cache[41], kind[32], msg[520];
} event_row;

typedef struct {
    event_row *rows;
    size_t n, cap;
} event_list;

static void collect_event(void *arg, const char *cname, const char *name, const char *value,
                          size_t vlen)
{
    event_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->rows = xrealloc(l->rows, l->cap * sizeof(*l->rows));
    }
    event_row *r = &l->rows[l->n++];
    r->ms = strtoll(name, NULL, 10);
    snprintf(r->cache, sizeof(r->cache), "%s", cname);
    const char *tab = memchr(value, '\t', vlen);
    size_t kl = tab ? (size_t)(tab - value) : 0;
    snprintf(r->kind, sizeof(r->kind), "%.*s", (int)kl, value);
    size_t off = tab ? kl + 1 : 0;
    snprintf(r->msg, sizeof(r->msg), "%.*s", (int)(vlen - off), value + off);
}

static int newest_first(const void *a, const void *b)
{
    const event_row *x = a, *y = b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

void plane_events(plane *p, const char *cname, size_t limit,
                  void (*fn)(void *arg, int64_t ms, const char *cache, const char *kind,
                             const char *msg),
                  void *arg)
{
    event_list l = {0};
    pthread_mutex_lock(&p->lock);
    store_each_cache(p->st, "event", collect_event, &l);
    pthread_mutex_unlock(&p->lock);
    if (l.n)
        qsort(l.rows, l.n, sizeof(*l.rows), newest_first);
    size_t shown = 0;
    for (size_t i = 0; i < l.n && shown < limit; i++) {
        if (cname && strcmp(cname, l.rows[i].cache) != 0)
            continue;
        fn(arg, l.rows[i].ms, l.rows[i].cache, l.rows[i].kind, l.rows[i].msg);
        shown++;
    }
    xfree(l.rows);
}

/* ---- children ---- */

void plane_cache_dir(const plane *p, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/caches/%s", p->cfg.data_dir, name);
}

static pcache *find_locked(plane *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->caches[i]->def.name, name) == 0)
            return p->caches[i];
    return NULL;
}

static int spawn(plane *p, pcache *pc)
{
    char dir[4300], logpath[4400];
    plane_cache_dir(p, pc->def.name, dir, sizeof(dir));
    int rc = file_mkdir_p(dir, 0700);
    if (rc != 0) {
        snprintf(pc->error, sizeof(pc->error), "cannot create %s: %s", dir, strerror(-rc));
        return -1;
    }
    /* A stale endpoint file would announce the previous process. */
    char ep[4400];
    snprintf(ep, sizeof(ep), "%s/endpoint", dir);
    unlink(ep);
    snprintf(logpath, sizeof(logpath), "%s/stratus.log", dir);
    char port[16], shards[16], replicas[16], ecpu[24], hib[24], threads[16];
    snprintf(port, sizeof(port), "%d", pc->def.port);
    snprintf(shards, sizeof(shards), "%d", pc->def.shards);
    snprintf(replicas, sizeof(replicas), "%d", pc->def.replicas);
    snprintf(ecpu, sizeof(ecpu), "%ld", pc->def.max_ecpu_per_second);
    snprintf(hib, sizeof(hib), "%ld", pc->def.hibernate_after);
    /* Many small caches share the machine: one worker thread each unless told otherwise. */
    snprintf(threads, sizeof(threads), "%ld", p->cfg.threads > 0 ? p->cfg.threads : 1);
    /* Flags with a value; optional ones only when set (an empty value is left out). */
    const char *const flags[][2] = {
        {"--data-dir", p->cfg.data_dir},
        {"--cache-name", pc->def.name},
        {"--api-port", "off"},
        {"--metrics-port", "0"},
        {"--port", port},
        {"--bind", p->cfg.bind},
        {"--api-hosts", p->cfg.api_hosts},
        {"--shards", shards},
        {"--replicas", replicas},
        {"--durability", pc->def.durability},
        {"--max-ecpu-per-second", ecpu},
        {"--max-storage", pc->def.max_storage},
        {"--eviction", pc->def.eviction},
        {"--hibernate-after", hib},
        {"--threads", threads},
        {"--log-level", p->cfg.log_level},
        {"--zones", pc->def.zones},
        {"--preferred-zone", pc->def.preferred_zone},
        {"--engine-binary", p->cfg.engine_binary},
        {"--tls-cert", p->cfg.tls_cert},
        {"--tls-key", p->cfg.tls_cert[0] ? p->cfg.tls_key : ""},
        {"--tls-ca", p->cfg.tls_cert[0] ? p->cfg.tls_ca : ""},
    };
    const char *argv[2 + 2 * ARRAY_LEN(flags) + 1];
    size_t n = 0;
    argv[n++] = p->self;
    argv[n++] = "up";
    for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
        if (flags[i][1][0]) {
            argv[n++] = flags[i][0];
            argv[n++] = flags[i][1];
        }
    }
    argv[n] = NULL;
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd == -1) {
        snprintf(pc->error, sizeof(pc->error), "cannot open %s: %s", logpath, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == -1) {
        close(fd);
        snprintf(pc->error, sizeof(pc->error), "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fd, 1);
        dup2(fd, 2);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        setenv("STRATUS_PLANE_CHILD", "1", 1);
        execv(p->self, (char *const *)argv);
        _exit(127);
    }
    close(fd);
    pc->pid = pid;
    pc->stopping = 0;
    pc->started_ms = ev_clock_ms();
    pc->restart_at = 0;
    pc->error[0] = '\0';
    return 0;
}

/* Whether pid ended (reaped now); its status to *status. */
static int reap(pid_t pid, int *status)
{
    pid_t r = waitpid(pid, status, WNOHANG);
    return r == pid || (r == -1 && errno == ECHILD);
}

/* The last lines of a cache's log, for error messages. */
static void log_tail(const plane *p, const char *name, char *out, size_t outlen)
{
    char path[4400];
    plane_cache_dir(p, name, path, sizeof(path));
    strncat(path, "/stratus.log", sizeof(path) - strlen(path) - 1);
    buf b;
    buf_init(&b);
    out[0] = '\0';
    if (file_read_all(path, &b, 64u << 20) == 0 && buf_used(&b)) {
        size_t len = buf_used(&b);
        const char *s = buf_rptr(&b);
        while (len > 0 && (s[len - 1] == '\n'))
            len--;
        size_t start = len;
        int lines = 0;
        while (start > 0 && lines < 2)
            if (s[--start] == '\n')
                lines++;
        if (s[start] == '\n')
            start++;
        snprintf(out, outlen, "%.*s", (int)(len - start), s + start);
        for (char *q = out; *q; q++)
            if (*q == '\n')
                *q = ' ';
    }
    buf_deinit(&b);
}

/* Wait (unlocked) until the child of pc answers PING over TLS; 0, or -1 with err. */
static int wait_ready(plane *p, pcache *pc, char *err, size_t errlen)
{
    char dir[4300];
    plane_cache_dir(p, pc->def.name, dir, sizeof(dir));
    uint64_t deadline = ev_clock_ms() + READY_MS;
    const char *ping[] = {"PING"};
    for (;;) {
        char out[128], why[256];
        pthread_mutex_lock(&p->lock);
        pid_t pid = pc->pid;
        int status = 0, ended = pid > 0 && reap(pid, &status);
        if (ended)
            pc->pid = 0;
        pthread_mutex_unlock(&p->lock);
        if (pid <= 0 || ended) {
            char tail[200];
            log_tail(p, pc->def.name, tail, sizeof(tail));
            snprintf(err, errlen, "its process exited before serving: %s", tail);
            return -1;
        }
        if (endpoint_call(dir, 1, ping, out, sizeof(out), why, sizeof(why)) == 0)
            return 0;
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen, "it did not answer PING within %d ms (%s); see %s/stratus.log",
                     READY_MS, why, dir);
            return -1;
        }
        poll(NULL, 0, 5);
    }
}

/* Ask the child to stop and wait for it (unlocked). */
static void stop_child(plane *p, pcache *pc)
{
    pthread_mutex_lock(&p->lock);
    pid_t pid = pc->pid;
    pc->stopping = 1;
    pthread_mutex_unlock(&p->lock);
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    uint64_t deadline = ev_clock_ms() + STOP_MS;
    int status;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int ended = pc->pid <= 0 || reap(pid, &status);
        if (ended)
            pc->pid = 0;
        pthread_mutex_unlock(&p->lock);
        if (ended)
            return;
        if (ev_clock_ms() > deadline) {
            log_warn("cache %s: its process did not stop in %d ms; killing it", pc->def.name,
                     STOP_MS);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            pthread_mutex_lock(&p->lock);
            pc->pid = 0;
            pthread_mutex_unlock(&p->lock);
            return;
        }
        poll(NULL, 0, 10);
    }
}

/* Read the port the child bound (first start with port 0) into the definition. */
static void learn_port(plane *p, pcache *pc)
{
    char dir[4300], host[64], ca[4096];
    int port, metrics;
    plane_cache_dir(p, pc->def.name, dir, sizeof(dir));
    if (endpoint_read(dir, host, sizeof(host), &port, ca, sizeof(ca), &metrics) == 0 &&
        port != pc->def.port) {
        pc->def.port = port;
        def_save(p, &pc->def);
    }
}

/* Wait until the manager no longer samples pc (already out of the list), so it can be freed. */
static void wait_unsampled(plane *p, pcache *pc)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int busy = pc->sampling;
        pthread_mutex_unlock(&p->lock);
        if (!busy)
            return;
        poll(NULL, 0, 5);
    }
}

int plane_create(plane *p, const plane_def *d, char *err, size_t errlen)
{
    int rc = plane_def_check(d, err, errlen);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    if (find_locked(p, d->name)) {
        pthread_mutex_unlock(&p->lock);
        snprintf(err, errlen, "a cache named \"%s\" exists already; pick another name or delete it",
                 d->name);
        return -EEXIST;
    }
    char dir[4300];
    plane_cache_dir(p, d->name, dir, sizeof(dir));
    if (access(dir, F_OK) == 0) {
        /* Data of a cache this plane does not know (`stratus up` ran on this data dir, say):
         * never overwritten. */
        pthread_mutex_unlock(&p->lock);
        snprintf(err, errlen,
                 "%s holds the data of an earlier cache named \"%s\"; pick another name, or move "
                 "that directory away first",
                 dir, d->name);
        return -EEXIST;
    }
    pcache *pc = xcalloc(1, sizeof(*pc));
    pc->def = *d;
    pc->def.port = 0;
    if (!pc->def.created_ms)
        pc->def.created_ms = (int64_t)time(NULL) * 1000;
    pc->status = PLANE_CREATING;
    pc->busy = 1;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->caches = xrealloc(p->caches, p->cap * sizeof(*p->caches));
    }
    p->caches[p->n++] = pc;
    rc = def_save(p, &pc->def) == 0 && spawn(p, pc) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "cannot start it: %s", pc->error[0] ? pc->error : "store error");
    pthread_mutex_unlock(&p->lock);
    if (rc == 0)
        rc = wait_ready(p, pc, err, errlen);
    pthread_mutex_lock(&p->lock);
    if (rc == 0) {
        learn_port(p, pc);
        pc->status = PLANE_AVAILABLE;
        pc->busy = 0;
        event_locked(p, d->name, "create", "created and answering PING");
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    pc->status = PLANE_FAILED;
    snprintf(pc->error, sizeof(pc->error), "%s", err);
    pthread_mutex_unlock(&p->lock);
    /* A cache that never served is not kept: the caller may fix the setting and try again. */
    stop_child(p, pc);
    pthread_mutex_lock(&p->lock);
    store_clear(p->st, d->name, "definition");
    for (size_t i = 0; i < p->n; i++)
        if (p->caches[i] == pc) {
            p->caches[i] = p->caches[--p->n];
            break;
        }
    pthread_mutex_unlock(&p->lock);
    wait_unsampled(p, pc);
    file_remove_tree(dir);
    buf_deinit(&pc->metrics);
    xfree(pc);
    return -EIO;
}

/* Take a cache for a long API operation: it exists, is not embedded (unless allowed), and no
 * other operation holds it. */
static pcache *take(plane *p, const char *name, int embedded_ok, char *err, size_t errlen, int *rc)
{
    pthread_mutex_lock(&p->lock);
    pcache *pc = find_locked(p, name);
    if (!pc) {
        *rc = -ENOENT;
        snprintf(err, errlen, "no cache named \"%s\"; `stratus cache list` shows the caches", name);
    } else if (pc->c && !embedded_ok) {
        *rc = -EBUSY;
        snprintf(err, errlen,
                 "cache \"%s\" is the one `stratus up` runs in its own process: restart `stratus "
                 "up` with other settings instead",
                 name);
        pc = NULL;
    } else if (pc->busy) {
        *rc = -EBUSY;
        snprintf(err, errlen, "cache \"%s\" is %s; retry when it is done", name,
                 status_names[pc->status]);
        pc = NULL;
    } else {
        pc->busy = 1;
        *rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return pc;
}

static void give_back(plane *p, pcache *pc)
{
    pthread_mutex_lock(&p->lock);
    pc->busy = 0;
    pthread_mutex_unlock(&p->lock);
}

int plane_modify(plane *p, const plane_def *d, int *restarted, char *err, size_t errlen)
{
    *restarted = 0;
    int rc = plane_def_check(d, err, errlen);
    if (rc != 0)
        return rc;
    pcache *pc = take(p, d->name, 0, err, errlen, &rc);
    if (!pc)
        return rc;
    plane_def old = pc->def;
    plane_def nd = *d;
    nd.port = old.port;
    nd.created_ms = old.created_ms;
    if (nd.replicas != old.replicas) {
        give_back(p, pc);
        snprintf(err, errlen,
                 "replicas are set at creation; restore a snapshot into a new cache "
                 "with other replicas");
        return -EINVAL;
    }
    int restart =
        nd.max_ecpu_per_second != old.max_ecpu_per_second ||
        strcmp(nd.max_storage, old.max_storage) != 0 || strcmp(nd.eviction, old.eviction) != 0 ||
        nd.hibernate_after != old.hibernate_after || strcmp(nd.durability, old.durability) != 0 ||
        strcmp(nd.zones, old.zones) != 0 || strcmp(nd.preferred_zone, old.preferred_zone) != 0;
    pthread_mutex_lock(&p->lock);
    pc->def = nd;
    def_save(p, &nd);
    pthread_mutex_unlock(&p->lock);
    if (nd.shards != old.shards) {
        /* Shards change live: a reshard, clients see nothing. */
        char dir[4300], out[256], n[16];
        plane_cache_dir(p, nd.name, dir, sizeof(dir));
        snprintf(n, sizeof(n), "%d", nd.shards);
        const char *argv[] = {"STRATUS", "SCALE", n};
        if (endpoint_call(dir, 3, argv, out, sizeof(out), err, errlen) != 0 && !restart) {
            give_back(p, pc);
            return -EIO;
        }
    }
    if (restart) {
        stop_child(p, pc);
        pthread_mutex_lock(&p->lock);
        pc->status = PLANE_CREATING;
        rc = spawn(p, pc);
        pthread_mutex_unlock(&p->lock);
        rc = rc == 0 ? wait_ready(p, pc, err, errlen) : -1;
        pthread_mutex_lock(&p->lock);
        pc->status = rc == 0 ? PLANE_AVAILABLE : PLANE_FAILED;
        if (rc != 0)
            snprintf(pc->error, sizeof(pc->error), "%s", err);
        pthread_mutex_unlock(&p->lock);
        *restarted = 1;
    }
    plane_event(p, nd.name, "modify", "settings changed%s",
                restart ? "; its process was restarted with them (clients reconnect)" : "");
    give_back(p, pc);
    return rc == 0 ? 0 : -EIO;
}

int plane_delete(plane *p, const char *name, char *err, size_t errlen)
{
    int rc;
    pcache *pc = take(p, name, 0, err, errlen, &rc);
    if (!pc)
        return rc;
    pthread_mutex_lock(&p->lock);
    pc->status = PLANE_DELETING;
    pthread_mutex_unlock(&p->lock);
    stop_child(p, pc);
    char dir[4300];
    plane_cache_dir(p, name, dir, sizeof(dir));
    pthread_mutex_lock(&p->lock);
    store_clear(p->st, name, "definition");
    /* What clients changed belongs to the cache: a new cache of that name starts clean. */
    static const char *const kinds[] = {"config", "user", "script"};
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++)
        store_clear(p->st, name, kinds[k]);
    for (size_t i = 0; i < p->n; i++)
        if (p->caches[i] == pc) {
            p->caches[i] = p->caches[--p->n];
            break;
        }
    event_locked(p, name, "delete", "stopped and removed with its data (usage records kept)");
    pthread_mutex_unlock(&p->lock);
    wait_unsampled(p, pc);
    rc = file_remove_tree(dir);
    buf_deinit(&pc->metrics);
    xfree(pc);
    if (rc != 0) {
        snprintf(err, errlen, "stopped, but %s could not be removed: %s", dir, strerror(-rc));
        return -EIO;
    }
    return 0;
}

/* ---- sleep and wake ---- */

int plane_hibernate(plane *p, const char *name, char *err, size_t errlen)
{
    int rc;
    pcache *pc = take(p, name, 1, err, errlen, &rc);
    if (!pc)
        return rc;
    char dir[4300], out[256];
    plane_cache_dir(p, name, dir, sizeof(dir));
    const char *argv[] = {"STRATUS", "HIBERNATE"};
    rc = endpoint_call(dir, 2, argv, out, sizeof(out), err, errlen);
    if (rc > 0)
        snprintf(err, errlen, "%s", out);
    /* Return once it sleeps: the manifest is written after the engines stopped. */
    uint64_t deadline = ev_clock_ms() + STOP_MS;
    while (rc == 0 && !hibernate_present(dir)) {
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen, "it did not fall asleep within %d ms; see %s/stratus.log",
                     STOP_MS, dir);
            rc = -1;
        }
        poll(NULL, 0, 10);
    }
    give_back(p, pc);
    return rc == 0 ? 0 : -EIO;
}

int plane_wake(plane *p, const char *name, char *err, size_t errlen)
{
    int rc;
    pcache *pc = take(p, name, 1, err, errlen, &rc);
    if (!pc)
        return rc;
    char dir[4300], out[512];
    plane_cache_dir(p, name, dir, sizeof(dir));
    /* Any command that needs data wakes it; DBSIZE returns once every shard answers. */
    const char *argv[] = {"DBSIZE"};
    rc = endpoint_call(dir, 1, argv, out, sizeof(out), err, errlen);
    if (rc > 0)
        snprintf(err, errlen, "%s", out);
    give_back(p, pc);
    return rc == 0 ? 0 : -EIO;
}

/* ---- what the API shows ---- */

int plane_endpoint(plane *p, const char *name, char *host, size_t hostlen, int *port, char *ca,
                   size_t calen, char *password, size_t pwlen)
{
    (void)p;
    char dir[4300], path[4400];
    int metrics;
    plane_cache_dir(p, name, dir, sizeof(dir));
    if (endpoint_read(dir, host, hostlen, port, ca, calen, &metrics) != 0)
        return -ENOENT;
    snprintf(path, sizeof(path), "%s/password", dir);
    file_read_line(path, password, pwlen);
    return 0;
}

static void info_of(plane *p, pcache *pc, plane_info *out)
{
    memset(out, 0, sizeof(*out));
    out->def = pc->def;
    out->status = pc->status;
    out->embedded = pc->c != NULL;
    out->pid = pc->c ? (int)getpid() : (int)pc->pid;
    snprintf(out->error, sizeof(out->error), "%s", pc->error);
    if (pc->npts)
        out->last = pc->pts[(pc->head + PLANE_POINTS - 1) % PLANE_POINTS];
    out->ecpu_total = pc->ecpu_total;
    out->cost_to_date = pc->cost_to_date;
    out->month_forecast = pc->month_forecast;
    (void)p;
}

/* Fill what needs files (outside the plane's lock). */
static void info_extra(plane *p, plane_info *out)
{
    plane_endpoint(p, out->def.name, out->host, sizeof(out->host), &out->def.port, out->ca,
                   sizeof(out->ca), out->password, sizeof(out->password));
}

int plane_describe(plane *p, const char *name, plane_info *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    pcache *pc = find_locked(p, name);
    if (pc)
        info_of(p, pc, out);
    pthread_mutex_unlock(&p->lock);
    if (!pc) {
        snprintf(err, errlen, "no cache named \"%s\"; `stratus cache list` shows the caches", name);
        return -ENOENT;
    }
    info_extra(p, out);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const plane_info *)a)->def.name, ((const plane_info *)b)->def.name);
}

plane_def *plane_defs(plane *p, size_t *n)
{
    pthread_mutex_lock(&p->lock);
    plane_def *list = xcalloc(p->n ? p->n : 1, sizeof(*list));
    *n = p->n;
    for (size_t i = 0; i < p->n; i++)
        list[i] = p->caches[i]->def;
    pthread_mutex_unlock(&p->lock);
    return list;
}

plane_info *plane_list(plane *p, size_t *n)
{
    pthread_mutex_lock(&p->lock);
    plane_info *list = xcalloc(p->n ? p->n : 1, sizeof(*list));
    *n = p->n;
    for (size_t i = 0; i < p->n; i++)
        info_of(p, p->caches[i], &list[i]);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < *n; i++)
        info_extra(p, &list[i]);
    qsort(list, *n, sizeof(*list), by_name);
    return list;
}

size_t plane_series(plane *p, const char *name, plane_point *out, size_t max)
{
    size_t got = 0;
    pthread_mutex_lock(&p->lock);
    pcache *pc = find_locked(p, name);
    if (pc) {
        size_t start = pc->npts > max ? pc->npts - max : 0;
        for (size_t i = start; i < pc->npts; i++)
            out[got++] = pc->pts[(pc->head + PLANE_POINTS - pc->npts + i) % PLANE_POINTS];
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

int plane_bill(plane *p, const char *name, int64_t from, int64_t to, const price_sheet *sheet,
               bill_report *r)
{
    bill_begin(r, from, to);
    pthread_mutex_lock(&p->lock);
    int rc = store_usage_each(p->st, name, from, to, usage_bill_row, r);
    pthread_mutex_unlock(&p->lock);
    bill_finish(r, sheet, 0);
    return rc;
}

int plane_cost(plane *p, const char *name, double *to_date, double *forecast, double *ecpu,
               double *gb_hours, double *rest_gb_hours)
{
    price_sheet sheet;
    bill_sheet_builtin("redis-oss", &sheet);
    bill_report r;
    int rc = plane_bill(p, name, 0, (int64_t)(time(NULL) / 60) + 1, &sheet, &r);
    *to_date = r.total;
    *forecast = r.forecast_month;
    *ecpu = (double)r.mecpu / 1000.0;
    *gb_hours = r.gb_hours;
    *rest_gb_hours = r.rest_gb_hours;
    bill_end(&r);
    return rc;
}

/* ---- sampling ---- */

/* GET /metrics from host:port into out (1 s at most); host is the address the cache's endpoint
 * file names (its --bind, or 127.0.0.1 for a wildcard). 0 or -1. */
static int http_get_metrics(const char *host, int port, buf *out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    int v6 = inet_pton(AF_INET6, host, &sa6.sin6_addr) == 1;
    if (!v6 && inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    /* The Host names the address connected to, which the metrics server accepts. */
    char req[160];
    int reqlen = snprintf(req, sizeof(req), "GET /metrics HTTP/1.0\r\nHost: %s%s%s\r\n\r\n",
                          v6 ? "[" : "", host, v6 ? "]" : "");
    int rc = -1;
    if (connect(fd, v6 ? (struct sockaddr *)&sa6 : (struct sockaddr *)&sa,
                v6 ? sizeof(sa6) : sizeof(sa)) == 0 &&
        reqlen > 0 && (size_t)reqlen < sizeof(req) && write(fd, req, (size_t)reqlen) == reqlen) {
        for (;;) {
            buf_reserve(out, 65536);
            ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
            if (n <= 0) {
                rc = n == 0 ? 0 : -1;
                break;
            }
            out->len += (size_t)n;
        }
    }
    close(fd);
    /* Keep the body only. */
    const char *body =
        rc == 0 && buf_used(out) ? memmem(buf_rptr(out), buf_used(out), "\r\n\r\n", 4) : NULL;
    if (!body)
        return -1;
    buf_consume(out, (size_t)(body + 4 - buf_rptr(out)));
    return 0;
}

/* The figures of one exposition text the console charts. */
typedef struct {
    double ecpu;
    uint64_t storage;
    int shards, connections, asleep;
    uint64_t lat[VIEW_LATENCY_BUCKETS]; /* cumulative, as exposed */
    int nlat;
} scraped;

static void parse_metrics(const char *text, size_t len, scraped *s)
{
    memset(s, 0, sizeof(*s));
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)MIN(ll, sizeof(line) - 1), p);
        p += ll + 1;
        if (line[0] == '#')
            continue;
        char *sp = strrchr(line, ' ');
        if (!sp)
            continue;
        double v = strtod(sp + 1, NULL);
        if (strncmp(line, "stratus_elasticache_processing_units_total{", 43) == 0)
            s->ecpu = v;
        else if (strncmp(line, "stratus_bytes_used_for_cache{", 29) == 0)
            s->storage = (uint64_t)v;
        else if (strncmp(line, "stratus_shards{", 15) == 0)
            s->shards = (int)v;
        else if (strncmp(line, "stratus_curr_connections{", 25) == 0)
            s->connections = (int)v;
        else if (strncmp(line, "stratus_hibernating{", 20) == 0)
            s->asleep = v > 0;
        else if (strncmp(line, "stratus_reply_latency_seconds_bucket{", 37) == 0 &&
                 s->nlat < VIEW_LATENCY_BUCKETS)
            s->lat[s->nlat++] = (uint64_t)v;
    }
}

/* The q-quantile (ms) of the replies counted between two cumulative histograms, interpolated
 * within its bucket as Prometheus's histogram_quantile does. */
static double quantile_ms(const uint64_t *now, const uint64_t *prev, int n, double q)
{
    uint64_t total = now[n - 1] - prev[n - 1];
    if (n < 2 || total == 0)
        return 0;
    double want = q * (double)total;
    uint64_t below = 0;
    for (int i = 0; i < n; i++) {
        uint64_t c = now[i] - prev[i];
        if ((double)c >= want) {
            double lo = i == 0 ? 0 : (double)view_latency_us[i - 1];
            double hi = i < VIEW_LATENCY_BUCKETS - 1 ? (double)view_latency_us[i] : lo;
            double in = (double)(c - below);
            double frac = in > 0 ? (want - (double)below) / in : 1;
            return (lo + (hi - lo) * frac) / 1000.0;
        }
        below = c;
    }
    return 0;
}

static void sample_one(plane *p, pcache *pc, int64_t now_ms)
{
    buf text;
    buf_init(&text);
    int ok = 0;
    if (pc->c) {
        metrics_render(pc->c, &text);
        ok = 1;
    } else {
        char dir[4300], host[64], ca[4096];
        int port, mport;
        plane_cache_dir(p, pc->def.name, dir, sizeof(dir));
        ok = endpoint_read(dir, host, sizeof(host), &port, ca, sizeof(ca), &mport) == 0 &&
             mport > 0 && http_get_metrics(host, mport, &text) == 0;
    }
    if (!ok) {
        buf_deinit(&text);
        return;
    }
    scraped s;
    parse_metrics(buf_rptr(&text), buf_used(&text), &s);
    pthread_mutex_lock(&p->lock);
    buf_consume(&pc->metrics, buf_used(&pc->metrics));
    buf_append(&pc->metrics, buf_rptr(&text), buf_used(&text));
    buf_deinit(&text);
    plane_point pt = {.t_ms = now_ms,
                      .storage = s.storage,
                      .shards = s.shards,
                      .connections = s.connections,
                      .asleep = s.asleep};
    if (pc->prev_t && now_ms > pc->prev_t) {
        pt.ecpu_s = (s.ecpu - pc->prev_ecpu) * 1000.0 / (double)(now_ms - pc->prev_t);
        if (pt.ecpu_s < 0)
            pt.ecpu_s = 0;
        if (s.nlat == VIEW_LATENCY_BUCKETS) {
            pt.p50_ms = quantile_ms(s.lat, pc->prev_lat, s.nlat, 0.5);
            pt.p99_ms = quantile_ms(s.lat, pc->prev_lat, s.nlat, 0.99);
        }
    }
    pc->prev_ecpu = s.ecpu;
    if (s.nlat == VIEW_LATENCY_BUCKETS)
        memcpy(pc->prev_lat, s.lat, sizeof(s.lat));
    pc->prev_t = now_ms;
    pc->pts[pc->head] = pt;
    pc->head = (pc->head + 1) % PLANE_POINTS;
    if (pc->npts < PLANE_POINTS)
        pc->npts++;
    if (pc->status == PLANE_AVAILABLE && s.asleep)
        pc->status = PLANE_HIBERNATING;
    else if (pc->status == PLANE_HIBERNATING && !s.asleep)
        pc->status = PLANE_AVAILABLE;
    pthread_mutex_unlock(&p->lock);
}

/* ---- the manager thread ---- */

/* Price every cache's usage records (they grow by a row a minute; the console lists caches
 * every 2 s, so the bill is read here, once a minute, not per request). */
static void refresh_costs(plane *p)
{
    size_t n;
    plane_def *defs = plane_defs(p, &n);
    for (size_t i = 0; i < n; i++) {
        double to_date, forecast, ecpu, gbh, rest;
        plane_cost(p, defs[i].name, &to_date, &forecast, &ecpu, &gbh, &rest);
        pthread_mutex_lock(&p->lock);
        pcache *pc = find_locked(p, defs[i].name);
        if (pc) {
            pc->cost_to_date = to_date;
            pc->month_forecast = forecast;
            pc->ecpu_total = ecpu;
        }
        pthread_mutex_unlock(&p->lock);
    }
    xfree(defs);
}

static void manage(plane *p)
{
    uint64_t now = ev_clock_ms();
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n; i++) {
        pcache *pc = p->caches[i];
        if (pc->c || pc->busy)
            continue;
        int status;
        if (pc->pid > 0 && reap(pc->pid, &status)) {
            pc->pid = 0;
            int quick = now - pc->started_ms < 10000;
            pc->failures = quick ? pc->failures + 1 : 0;
            uint64_t backoff = MIN(200ull << MIN(pc->failures, 8), 30000ull);
            pc->restart_at = now + backoff;
            char tail[200];
            log_tail(p, pc->def.name, tail, sizeof(tail));
            snprintf(pc->error, sizeof(pc->error), "its process exited (%s): %s",
                     WIFSIGNALED(status) ? "killed by a signal" : "exit status", tail);
            pc->status = PLANE_FAILED;
            char msg[400];
            snprintf(msg, sizeof(msg), "%s; restarting it in %llu ms", pc->error,
                     (unsigned long long)backoff);
            event_locked(p, pc->def.name, "process-exit", msg);
        }
        if (pc->pid == 0 && pc->restart_at && now >= pc->restart_at) {
            if (spawn(p, pc) == 0)
                pc->status = PLANE_CREATING;
            else
                pc->restart_at = now + 5000;
        }
        if (pc->pid > 0 && pc->status == PLANE_CREATING) {
            char dir[4300], host[64], ca[4096];
            int port, mport;
            plane_cache_dir(p, pc->def.name, dir, sizeof(dir));
            if (endpoint_read(dir, host, sizeof(host), &port, ca, sizeof(ca), &mport) == 0) {
                pc->status = PLANE_AVAILABLE;
                pc->error[0] = '\0';
                learn_port(p, pc);
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
}

static void *manager_main(void *arg)
{
    plane *p = arg;
    uint64_t next_sample = 0, next_costs = 0;
    while (!atomic_load(&p->quit)) {
        manage(p);
        uint64_t now = ev_clock_ms();
        if (now >= next_costs) {
            next_costs = now + 60000;
            refresh_costs(p);
        }
        if (now >= next_sample) {
            next_sample = now + PLANE_SAMPLE_MS;
            int64_t wall = (int64_t)time(NULL) * 1000;
            pthread_mutex_lock(&p->lock);
            size_t n = p->n;
            pcache **list = xmalloc((n ? n : 1) * sizeof(*list));
            if (n)
                memcpy(list, p->caches, n * sizeof(*list));
            for (size_t i = 0; i < n; i++)
                list[i]->sampling++; /* kept alive while sampled */
            pthread_mutex_unlock(&p->lock);
            for (size_t i = 0; i < n; i++)
                if (list[i]->c || list[i]->pid > 0)
                    sample_one(p, list[i], wall);
            pthread_mutex_lock(&p->lock);
            for (size_t i = 0; i < n; i++)
                list[i]->sampling--;
            pthread_mutex_unlock(&p->lock);
            xfree(list);
        }
        poll(NULL, 0, 100);
    }
    return NULL;
}

/* ---- start and stop ---- */

static void load_def(void *arg, const char *cname, const char *name, const char *value, size_t vlen)
{
    (void)name;
    plane *p = arg;
    if (find_locked(p, cname))
        return;
    pcache *pc = xcalloc(1, sizeof(*pc));
    plane_def_defaults(p, &pc->def);
    snprintf(pc->def.name, sizeof(pc->def.name), "%s", cname);
    def_decode(&pc->def, value, vlen);
    pc->status = PLANE_CREATING;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->caches = xrealloc(p->caches, p->cap * sizeof(*p->caches));
    }
    p->caches[p->n++] = pc;
}

static int token_file(plane *p, char *err, size_t errlen)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/admin-token", p->cfg.data_dir);
    buf b;
    buf_init(&b);
    int rc = file_read_all(path, &b, 4096);
    if (rc == 0 && buf_used(&b) >= 64) {
        snprintf(p->token, sizeof(p->token), "%.64s", buf_rptr(&b));
        buf_deinit(&b);
        return 0;
    }
    buf_deinit(&b);
    if (crypto_random_hex(p->token, 32) != 0) {
        snprintf(err, errlen, "cannot generate the admin token");
        return -1;
    }
    char text[80];
    int n = snprintf(text, sizeof(text), "%s\n", p->token);
    rc = file_write_atomic(path, text, (size_t)n, 0600);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
        return -1;
    }
    return 0;
}

plane *plane_start(const settings *cfg, const char *self, cache *embedded, char *err, size_t errlen)
{
    plane *p = xcalloc(1, sizeof(*p));
    p->cfg = *cfg;
    snprintf(p->self, sizeof(p->self), "%s", self);
    pthread_mutex_init(&p->lock, NULL);
    char db[4300];
    snprintf(db, sizeof(db), "%s/stratus.db", cfg->data_dir);
    if (token_file(p, err, errlen) != 0 || !(p->st = store_open(db, err, errlen)))
        goto fail;
    pthread_mutex_lock(&p->lock);
    if (embedded) {
        pcache *pc = xcalloc(1, sizeof(*pc));
        plane_def_defaults(p, &pc->def);
        snprintf(pc->def.name, sizeof(pc->def.name), "%s", embedded->view.name);
        pc->def.port = embedded->view.port;
        pc->c = embedded;
        pc->status = PLANE_AVAILABLE;
        p->caches = xcalloc(16, sizeof(*p->caches));
        p->cap = 16;
        p->caches[p->n++] = pc;
    }
    store_each_cache(p->st, "definition", load_def, p);
    for (size_t i = 0; i < p->n; i++) {
        pcache *pc = p->caches[i];
        if (!pc->c && spawn(p, pc) != 0) {
            pc->status = PLANE_FAILED;
            pc->restart_at = ev_clock_ms() + 5000;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (pthread_create(&p->manager, NULL, manager_main, p) != 0) {
        snprintf(err, errlen, "cannot start the control plane's thread");
        goto fail;
    }
    p->running = 1;
    return p;
fail:
    plane_stop(p);
    return NULL;
}

void plane_stop(plane *p)
{
    if (!p)
        return;
    atomic_store(&p->quit, 1);
    if (p->running)
        pthread_join(p->manager, NULL);
    /* Children stop together: each saves its engines. */
    for (size_t i = 0; i < p->n; i++) {
        pcache *pc = p->caches[i];
        pc->stopping = 1;
        if (pc->pid > 0)
            kill(pc->pid, SIGTERM);
    }
    for (size_t i = 0; i < p->n; i++) {
        stop_child(p, p->caches[i]);
        buf_deinit(&p->caches[i]->metrics);
        xfree(p->caches[i]);
    }
    xfree(p->caches);
    store_close(p->st);
    pthread_mutex_destroy(&p->lock);
    xfree(p);
}

/* One metric family of the merged text: its HELP and TYPE lines once, every cache's series. */
typedef struct {
    char name[128];
    buf meta, series;
} family;

void plane_metrics(plane *p, buf *out)
{
    /* Each cache's text lists families as HELP, TYPE, then series; Prometheus wants a family's
     * lines together, so series are grouped under the family last declared in their text. */
    family *fams = NULL;
    size_t nf = 0, cap = 0;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n; i++) {
        const char *q = buf_rptr(&p->caches[i]->metrics);
        const char *end = q + buf_used(&p->caches[i]->metrics);
        family *cur = NULL;
        while (q < end) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            size_t ll = nl ? (size_t)(nl - q) : (size_t)(end - q);
            if (ll > 7 && (strncmp(q, "# HELP ", 7) == 0 || strncmp(q, "# TYPE ", 7) == 0)) {
                const char *sp = memchr(q + 7, ' ', ll - 7);
                size_t nlen = sp ? (size_t)(sp - q - 7) : ll - 7;
                cur = NULL;
                for (size_t f = 0; f < nf && !cur; f++)
                    if (strlen(fams[f].name) == nlen && memcmp(fams[f].name, q + 7, nlen) == 0)
                        cur = &fams[f];
                if (!cur) {
                    if (nf == cap) {
                        cap = cap ? cap * 2 : 64;
                        fams = xrealloc(fams, cap * sizeof(*fams));
                    }
                    cur = &fams[nf++];
                    snprintf(cur->name, sizeof(cur->name), "%.*s", (int)MIN(nlen, 127), q + 7);
                    buf_init(&cur->meta);
                    buf_init(&cur->series);
                }
                /* HELP and TYPE once each. */
                if (!buf_used(&cur->meta) ||
                    !memmem(buf_rptr(&cur->meta), buf_used(&cur->meta), q, 7)) {
                    buf_append(&cur->meta, q, ll);
                    buf_append(&cur->meta, "\n", 1);
                }
            } else if (cur && ll) {
                buf_append(&cur->series, q, ll);
                buf_append(&cur->series, "\n", 1);
            }
            q += ll + (nl ? 1 : 0);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t f = 0; f < nf; f++) {
        buf_append(out, buf_rptr(&fams[f].meta), buf_used(&fams[f].meta));
        buf_append(out, buf_rptr(&fams[f].series), buf_used(&fams[f].series));
        buf_deinit(&fams[f].meta);
        buf_deinit(&fams[f].series);
    }
    xfree(fams);
}

const char *plane_token(const plane *p)
{
    return p->token;
}

const settings *plane_settings(const plane *p)
{
    return &p->cfg;
}
