/* The `stratus` command: `stratus up` starts the embedded default (a cache named "default"
 * behind one TLS endpoint), `stratus version`, `stratus --help`; every subcommand is a row of
 * the table at the end of this file. The main thread becomes the control thread once the
 * workers run. */
#define ALLOC_ROOM ROOM_CLI
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/api_client.h"
#include "cli/bill.h"
#include "cluster/agent.h"
#include "common/alloc.h"
#include "common/compiler.h"
#include "common/file.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/version.h"
#include "control/cache.h"
#include "control/api.h"
#include "control/endpoint.h"
#include "control/metrics.h"
#include "control/plane.h"
#include "control/snapshot.h"
#include "control/settings.h"
#include "control/store.h"
#include "net/ev.h"
#include "net/tls.h"
#include "proto/resp.h"
#include "proxy/worker.h"

static int fail(const char *msg)
{
    fprintf(stderr, "stratus: %s\n", msg);
    return 1;
}

/* Whether this process is a cache started by `stratus serve` (or `up`) for its control plane. */
static int plane_child(void)
{
    const char *v = getenv("STRATUS_PLANE_CHILD");
    return v && strcmp(v, "1") == 0;
}

static int prepare_dir(settings *cfg, char *err, size_t errlen)
{
    if (mkdir(cfg->data_dir, 0700) == -1 && errno != EEXIST) {
        snprintf(err, errlen, "--data-dir: cannot create %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    char abs[PATH_MAX];
    if (!realpath(cfg->data_dir, abs)) {
        snprintf(err, errlen, "--data-dir: %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", abs);
    /* Stratus makes the data dir 0700; one that existed before keeps its mode, and the files in
     * it that are not secrets themselves (stratus.db holds ACL users' password hashes) rely on
     * the directory being closed. */
    struct stat st;
    if (!plane_child() && stat(abs, &st) == 0 && (st.st_mode & 077))
        log_warn("--data-dir: %s can be entered by other users (mode %03o); it holds the caches' "
                 "data and secrets: chmod 700 %s",
                 abs, (unsigned)(st.st_mode & 0777), abs);
    /* One Stratus per data dir: a second one would take the first one's engines for leftovers
     * of a crash and stop them. The lock lives as long as the process (fd kept open). A cache
     * process started by the control plane locks its cache's directory instead (the plane
     * holds the data dir's). */
    char lock[PATH_MAX + 128];
    if (plane_child()) {
        snprintf(lock, sizeof(lock), "%s/caches/%s", cfg->data_dir, cfg->cache_name);
        file_mkdir_p(lock, 0700);
        snprintf(lock, sizeof(lock), "%s/caches/%s/lock", cfg->data_dir, cfg->cache_name);
    } else {
        snprintf(lock, sizeof(lock), "%s/stratus.lock", cfg->data_dir);
    }
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        snprintf(err, errlen, "--data-dir: cannot create %s: %s", lock, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        char pid[32] = "?";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 1] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen,
                 "--data-dir: %s is in use by another stratus (pid %s); stop it first, or use "
                 "another --data-dir",
                 cfg->data_dir, pid);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
        log_warn("cannot record the pid in %s", lock);
    return 0;
}

static int setup_tls(const settings *cfg, tls_files *files, char *err, size_t errlen)
{
    if (cfg->tls_cert[0]) {
        snprintf(files->cert, sizeof(files->cert), "%s", cfg->tls_cert);
        snprintf(files->key, sizeof(files->key), "%s", cfg->tls_key);
        snprintf(files->ca, sizeof(files->ca), "%s", cfg->tls_ca[0] ? cfg->tls_ca : cfg->tls_cert);
    } else {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/tls", cfg->data_dir);
        if (tls_certs_ensure(dir, files, err, errlen) != 0)
            return -1;
    }
    return tls_init(files, err, errlen);
}

/* The host part of URLs that reach bind: loopback for a wildcard address, an IPv6 address in
 * brackets. */
static const char *url_host(const char *bind, char *out, size_t outlen)
{
    if (strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0)
        return "127.0.0.1";
    if (!strchr(bind, ':'))
        return bind;
    snprintf(out, outlen, "[%s]", bind);
    return out;
}

static void print_banner(const cache *c, const tls_files *files, const metrics_server *metrics)
{
    char hostbuf[80];
    const char *host = url_host(c->cfg->bind, hostbuf, sizeof(hostbuf));
    char url[512];
    snprintf(url, sizeof(url), "rediss://default:%s@%s:%d", c->password, host, c->view.port);
    printf("Stratus %s is up: cache \"%s\", %d shard(s) x %ld engine(s)\n", STRATUS_VERSION,
           c->view.name, c->view.topo->nshards, 1 + c->cfg->replicas);
    printf("  url        %s\n", url);
    printf("  ca         %s\n", files->ca);
    if (c->view.plaintext_port >= 0)
        printf("  plaintext  redis://default:%s@%s:%d\n", c->password, host,
               c->view.plaintext_port);
    if (c->view.reader_port >= 0)
        printf("  reader     rediss://default:%s@%s:%d (reads from zone %s's replicas)\n",
               c->password, host, c->view.reader_port, c->view.zone);
    if (metrics)
        printf("  metrics    http://%s:%d/metrics\n", host, metrics_port(metrics));
    printf("  redis-cli  redis-cli --tls --cacert %s -u %s\n", files->ca, url);
    printf("  ioredis    new Redis(\"%s\", { tls: { ca: fs.readFileSync(\"%s\") } })\n", url,
           files->ca);
    printf("  redis-py   redis.Redis.from_url(\"%s\", ssl_ca_certs=\"%s\")\n", url, files->ca);
    printf("Press Ctrl-C to stop.\n");
    fflush(stdout);
}

static void print_api(const settings *cfg, const api_server *api)
{
    char hostbuf[80];
    const char *host = url_host(cfg->bind, hostbuf, sizeof(hostbuf));
    printf("  api        http://%s:%d/v1  (token in %s/admin-token)\n", host, api_port(api),
           cfg->data_dir);
    printf("  console    http://%s:%d/\n", host, api_port(api));
    fflush(stdout);
    /* <data-dir>/api tells the CLI where the API listens. */
    char path[PATH_MAX + 16], text[128];
    snprintf(path, sizeof(path), "%s/api", cfg->data_dir);
    int n = snprintf(text, sizeof(text), "http://%s:%d\n", host, api_port(api));
    if (file_write_atomic(path, text, (size_t)n, 0600) != 0)
        log_warn("cannot write %s: `stratus cache` commands will need --api", path);
}

static void remove_api_file(const settings *cfg)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/api", cfg->data_dir);
    unlink(path);
}

/* <cache dir>/endpoint tells the CLI where the running endpoint listens (host, port, CA). */
static void endpoint_path(const cache *c, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/endpoint", c->dir);
}

static void write_endpoint_file(const cache *c, const tls_files *files, int metrics)
{
    const char *host = strcmp(c->cfg->bind, "0.0.0.0") == 0 || strcmp(c->cfg->bind, "::") == 0
                           ? "127.0.0.1"
                           : c->cfg->bind;
    if (endpoint_write(c->dir, host, c->view.port, files->ca, metrics) != 0)
        log_warn("cannot write %s/endpoint: `stratus cache` commands will not find this endpoint",
                 c->dir);
}

static void remove_endpoint_file(const cache *c)
{
    char path[4300];
    endpoint_path(c, path, sizeof(path));
    unlink(path);
}

/* Settings of `up` and `serve`, and the log level they set; 0, or -1 after saying why. */
static int load_settings(settings *cfg, int argc, char **argv)
{
    char err[1024];
    if (settings_load(cfg, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "stratus: %s\n", err);
        return -1;
    }
    log_level lvl;
    if (log_parse_level(cfg->log_level, &lvl) != 0) {
        fprintf(stderr, "stratus: --log-level: must be debug, info, warn or error (got \"%s\")\n",
                cfg->log_level);
        return -1;
    }
    log_set_level(lvl);
    return 0;
}

/* This program's path, for the caches the control plane starts. */
static void self_path(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* What `up` and `serve` need before anything runs: the engine binary, the data dir (locked)
 * and the TLS files. 0, or -1 after saying why. */
/* Room for --maxclients clients and the private engine links beside them (a blocked client
 * holds two descriptors): the soft open-file limit is raised to what the settings need (the hard
 * one too when allowed), silently when it fits; then the limits are set to what fits, with a
 * warning that names what was cut and how to raise it. */
static void raise_fd_limit(settings *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)settings_fds_wanted(cfg->maxclients, cfg->max_blocking_clients);
    if (rl.rlim_cur < want) {
        struct rlimit up = {want, rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? rl.rlim_max
                                                                                      : want};
        if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
            /* Not allowed above the hard limit: as far as it goes. */
            up.rlim_cur = up.rlim_max = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &up);
        }
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    settings_fd_budget b;
    settings_budget((uint64_t)rl.rlim_cur, cfg->maxclients, cfg->max_blocking_clients,
                    cfg->max_blocking_per_user, &b);
    if (b.maxclients < cfg->maxclients)
        log_warn("open file limit %llu: --maxclients %ld reduced to %ld (raise `ulimit -n` to "
                 "%llu)",
                 (unsigned long long)rl.rlim_cur, cfg->maxclients, b.maxclients,
                 (unsigned long long)want);
    if (cfg->max_blocking_clients && b.blocking < cfg->max_blocking_clients)
        log_warn("open file limit %llu: --max-blocking-clients %ld reduced to %ld, what is left "
                 "after %ld clients (raise `ulimit -n` to %llu)",
                 (unsigned long long)rl.rlim_cur, cfg->max_blocking_clients, b.blocking,
                 b.maxclients, (unsigned long long)want);
    cfg->maxclients = b.maxclients;
    cfg->max_blocking_clients = b.blocking;
    cfg->max_blocking_per_user = b.per_user;
    log_info("open file limit %llu: up to %ld clients, %ld of them in blocking commands (%ld "
             "per ACL user)",
             (unsigned long long)rl.rlim_cur, b.maxclients, b.blocking, b.per_user);
}

static int prepare_service(settings *cfg, char *engine_bin, size_t binlen, tls_files *files)
{
    char err[1024];
    raise_fd_limit(cfg);
    if (supervisor_find_engine(cfg->engine_binary, engine_bin, binlen, err, sizeof(err)) != 0 ||
        prepare_dir(cfg, err, sizeof(err)) != 0 || setup_tls(cfg, files, err, sizeof(err)) != 0) {
        fail(err);
        return -1;
    }
    return 0;
}

/* Block SIGINT and SIGTERM (and SIGCHLD when engines are reaped here) and return a
 * non-blocking signalfd for them, or -1. Threads started afterwards inherit the mask. */
static int signal_fd(int with_chld)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (with_chld)
        sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int cmd_up(int argc, char **argv)
{
    static settings cfg;
    char err[1024];
    if (load_settings(&cfg, argc, argv) != 0)
        return 2;
    char engine_bin[4096];
    tls_files files;
    if (prepare_service(&cfg, engine_bin, sizeof(engine_bin), &files) != 0)
        return 1;
    /* Signals are taken synchronously by the control thread; workers inherit the mask. */
    int sfd = signal_fd(1);
    if (sfd == -1)
        return fail("cannot create a signalfd");

    int threads = cfg.threads > 0 ? (int)cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    int rc = 1;
    worker_pool *pool = NULL;
    metrics_server *metrics = NULL;
    plane *pl = NULL;
    api_server *api = NULL;
    char db[4200];
    snprintf(db, sizeof(db), "%s/stratus.db", cfg.data_dir);
    store *st = store_open(db, err, sizeof(err));
    cache *c = st ? cache_create(cfg.cache_name, &cfg, engine_bin, err, sizeof(err)) : NULL;
    if (!c || cache_attach_store(c, st, err, sizeof(err)) != 0) {
        fail(err);
        goto out;
    }
    pool = worker_pool_create(cache_view(c, threads), threads, err, sizeof(err));
    if (!pool) {
        fail(err);
        goto out;
    }
    if (cache_start(c, err, sizeof(err)) != 0) {
        fail(err);
        goto stop;
    }
    if (worker_pool_run(pool, err, sizeof(err)) != 0) {
        fail(err);
        goto stop;
    }
    log_info("endpoint: TLS on %s:%d%s, %d worker thread(s)", cfg.bind, c->view.port,
             c->view.plaintext_port >= 0 ? ", plaintext on too" : "", threads);
    if (cfg.metrics_port >= 0) {
        metrics =
            metrics_start(c, cfg.bind, (int)cfg.metrics_port, cfg.api_hosts, err, sizeof(err));
        if (!metrics) {
            fail(err);
            goto stop;
        }
        log_info("metrics: http://%s:%d/metrics", cfg.bind, metrics_port(metrics));
    }
    if (!plane_child() && cfg.api_port >= 0 && !c->view.follow) {
        char self[PATH_MAX];
        self_path(self, sizeof(self));
        pl = plane_start(&cfg, self, c, err, sizeof(err));
        api =
            pl ? api_start(pl, cfg.bind, (int)cfg.api_port, cfg.api_hosts, err, sizeof(err)) : NULL;
        if (!api) {
            fail(err);
            goto stop;
        }
    }
    print_banner(c, &files, metrics);
    if (api)
        print_api(&cfg, api);
    write_endpoint_file(c, &files, metrics ? metrics_port(metrics) : -1);
    pid_t parent = getppid();
    uint64_t next_daily = 0;

    uint64_t next_full = ev_clock_ms() + 1000;
    uint64_t healthy_deadline = ev_clock_ms() + (uint64_t)cfg.start_timeout;
    int healthy = 0;
    for (;;) {
        /* Every 100 ms, or at once for a signal or a wake (an ACL change for the engines). */
        struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
                                {.fd = c->wake_fd, .events = POLLIN}};
        poll(pfd, 2, cache_busy(c) ? 0 : 100);
        uint64_t wakes;
        if (pfd[1].revents & POLLIN && read(c->wake_fd, &wakes, sizeof(wakes)) == -1)
            log_debug("control thread: wake: %s", strerror(errno));
        struct signalfd_siginfo si;
        int stop = 0;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
                stop = 1;
        }
        if (stop)
            break;
        if (plane_child() && getppid() != parent) {
            log_warn("the control plane that started this cache is gone; stopping");
            break;
        }
        uint64_t now = ev_clock_ms();
        if (pl && now >= next_daily) {
            next_daily = now + 5000;
            snapshot_daily(pl);
        }
        int full = now >= next_full;
        if (full)
            next_full = now + 1000;
        cache_tick(c, full);
        if (!healthy) {
            healthy = atomic_load(&c->view.sleep.asleep) || supervisor_cluster_ok(c->sup);
            if (healthy) {
                log_info("cache %s: cluster healthy", c->view.name);
            } else if (now > healthy_deadline) {
                log_error("cache %s: the cluster did not become healthy within %ld ms; see the "
                          "engine logs under %s/engines",
                          c->view.name, cfg.start_timeout, c->dir);
                goto stop;
            }
        }
    }
    log_info("stopping: closing clients, saving and stopping engines");
    remove_endpoint_file(c);
    rc = 0;
stop:
    if (rc != 0)
        log_error("stopping after an error");
    if (api)
        remove_api_file(&cfg);
    api_stop(api);
    api = NULL;
    plane_stop(pl);
    pl = NULL;
    metrics_stop(metrics);
    metrics = NULL;
    worker_pool_stop(pool);
    pool = NULL;
    if (c)
        cache_stop(c);
out:
    worker_pool_stop(pool);
    cache_destroy(c);
    store_close(st);
    tls_deinit();
    close(sfd);
    if (rc == 0)
        log_info("stopped");
    return rc;
}

/* ---- stratus serve ---- */

static int cmd_serve(int argc, char **argv)
{
    static settings cfg;
    char err[1024];
    if (load_settings(&cfg, argc, argv) != 0)
        return 2;
    if (cfg.api_port < 0) {
        fprintf(stderr, "stratus: serve: --api-port cannot be off (the API is how caches are "
                        "made)\n");
        return 2;
    }
    /* The caches share the service's certificate: made once here, before any of them starts. */
    char engine_bin[4096];
    tls_files files;
    if (prepare_service(&cfg, engine_bin, sizeof(engine_bin), &files) != 0)
        return 1;
    int sfd = signal_fd(0);
    if (sfd == -1)
        return fail("cannot create a signalfd");
    char self[PATH_MAX];
    self_path(self, sizeof(self));
    int rc = 1;
    plane *pl = plane_start(&cfg, self, NULL, err, sizeof(err));
    api_server *api =
        pl ? api_start(pl, cfg.bind, (int)cfg.api_port, cfg.api_hosts, err, sizeof(err)) : NULL;
    if (!api) {
        fail(err);
        goto out;
    }
    size_t n;
    xfree(plane_list(pl, &n));
    printf("Stratus %s control plane is up: %zu cache(s)\n", STRATUS_VERSION, n);
    print_api(&cfg, api);
    printf("  ca         %s\n", files.ca);
    printf("  create     stratus cache create NAME --data-dir %s\n", cfg.data_dir);
    printf("Press Ctrl-C to stop.\n");
    fflush(stdout);
    for (;;) {
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) > 0) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
                (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM))
                break;
        }
        snapshot_daily(pl);
    }
    log_info("stopping: every cache saves and stops");
    rc = 0;
out:
    if (api)
        remove_api_file(&cfg);
    api_stop(api);
    plane_stop(pl);
    tls_deinit();
    close(sfd);
    if (rc == 0)
        log_info("stopped");
    return rc;
}

/* ---- stratus events ---- */

typedef struct {
    char **lines;
    size_t n, cap;
} event_list;

static void collect_event(void *arg, const char *name, const char *value, size_t vlen)
{
    event_list *l = arg;
    long long ms = strtoll(name, NULL, 10);
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char when[32];
    localtime_r(&sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    const char *tab = memchr(value, '\t', vlen);
    size_t kl = tab ? (size_t)(tab - value) : 0;
    char line[800];
    snprintf(line, sizeof(line), "%s.%03lld  %-14.*s %.*s", when, ms % 1000, (int)kl, value,
             (int)(vlen - (tab ? kl + 1 : 0)), tab ? tab + 1 : value);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->lines = xrealloc(l->lines, l->cap * sizeof(char *));
    }
    l->lines[l->n++] = xstrdup(line);
}

static int cmd_events(int argc, char **argv)
{
    const char *cache_name = "default";
    if (argc > 0 && argv[0][0] != '-') {
        cache_name = argv[0];
        argc--;
        argv++;
    }
    settings cfg;
    char err[512];
    if (settings_load(&cfg, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "stratus: %s\n", err);
        return 2;
    }
    char db[4200];
    snprintf(db, sizeof(db), "%s/stratus.db", cfg.data_dir);
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "stratus: no state at %s (is --data-dir right?)\n", db);
        return 1;
    }
    store *st = store_open(db, err, sizeof(err));
    if (!st)
        return fail(err);
    event_list l = {0};
    int rc = store_each(st, cache_name, "event", collect_event, &l);
    store_close(st);
    if (rc != 0)
        return fail("cannot read the events");
    if (l.n == 0)
        printf("no scaling events for cache \"%s\"\n", cache_name);
    for (size_t i = l.n; i-- > 0;) {
        printf("%s\n", l.lines[i]);
        xfree(l.lines[i]);
    }
    xfree(l.lines);
    return 0;
}

/* ---- stratus cache scale ---- */

static int cmd_cache_scale(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "stratus: cache scale: name the cache (\"default\" for `stratus up`)\n");
        return 2;
    }
    const char *name = argv[0], *shards = NULL;
    char *rest[64];
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shards") == 0 && i + 1 < argc)
            shards = argv[++i];
        else if (strncmp(argv[i], "--shards=", 9) == 0)
            shards = argv[i] + 9;
        else if (nrest < (int)ARRAY_LEN(rest) - 1)
            rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    if (!shards) {
        fprintf(stderr, "stratus: cache scale: --shards N (1 to %d) or --shards auto is needed\n",
                TOPO_MAX_SHARDS);
        return 2;
    }
    char *end;
    long n = strtol(shards, &end, 10);
    int isauto = strcasecmp(shards, "auto") == 0;
    if (!isauto && (*shards == '\0' || *end != '\0' || n < 1 || n > TOPO_MAX_SHARDS)) {
        fprintf(stderr, "stratus: cache scale: --shards must be 1 to %d or auto (got \"%s\")\n",
                TOPO_MAX_SHARDS, shards);
        return 2;
    }
    settings cfg;
    char err[1024], out[1024];
    if (settings_load(&cfg, nrest, rest, err, sizeof(err)) != 0) {
        fprintf(stderr, "stratus: %s\n", err);
        return 2;
    }
    char dir[4400];
    snprintf(dir, sizeof(dir), "%s/caches/%s", cfg.data_dir, name);
    if (access(dir, F_OK) != 0) {
        fprintf(stderr, "stratus: no cache named \"%s\" under %s\n", name, cfg.data_dir);
        return 1;
    }
    const char *argv2[] = {"STRATUS", "SCALE", isauto ? "AUTO" : shards};
    int rc = endpoint_call(dir, 3, argv2, out, sizeof(out), err, sizeof(err));
    if (rc < 0)
        return fail(err);
    if (rc > 0) {
        fprintf(stderr, "stratus: cache %s: %s\n", name, out);
        return 1;
    }
    if (isauto)
        printf("cache %s: the autoscaler decides the shard count again\n", name);
    else
        printf("cache %s: scaling to %ld shard(s); `stratus events %s` shows the progress\n", name,
               n, name);
    return 0;
}

/* ---- the subcommands ---- */

static void usage(FILE *out);

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("stratus %s\n", STRATUS_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

/* A subcommand: the words that name it, what runs it (with the words after them), and its lines
 * of `stratus --help`. Rows are in the order --help lists them; a row without help is another
 * name for the one above it. */
typedef struct {
    const char *name, *sub; /* "cache" "scale", or a name alone (sub NULL) */
    int (*run)(int argc, char **argv);
    const char *help;
    int settings; /* --help among its words shows the full help, settings included */
} subcommand;

static const subcommand subcommands[] = {
    {"up", NULL, cmd_up,
     "  stratus up [settings]   start the cache \"default\" behind one TLS endpoint, with\n"
     "                          the control plane's API and console (--api-port)\n",
     1},
    {"serve", NULL, cmd_serve,
     "  stratus serve [settings]\n"
     "                          run the control plane alone: caches made with the API\n",
     1},
    {"cache", NULL, cli_cache,
     "  stratus cache create NAME [--shards N] [--max-ecpu-per-second N] [...]\n"
     "  stratus cache list | describe NAME | modify NAME [...] | delete NAME\n"
     "  stratus cache hibernate NAME | wake NAME\n"
     "                          manage caches through the API (--json for scripts)\n",
     0},
    {"snapshot", NULL, cli_snapshot,
     "  stratus snapshot create CACHE NAME | list | describe NAME | delete NAME\n"
     "  stratus snapshot restore NAME NEW-CACHE [--shards N] | export NAME DIR\n"
     "  stratus snapshot import NAME RDB-FILE\n",
     0},
    {"usage", NULL, cli_usage, "  stratus usage CACHE     ECPU, storage and cost so far\n", 0},
    {"events", NULL, cmd_events,
     "  stratus events [CACHE] [--data-dir D]\n"
     "                          scaling decisions and actions, newest first\n",
     0},
    {"cache", "scale", cmd_cache_scale,
     "  stratus cache scale NAME --shards N|auto [--data-dir D]\n"
     "                          set a running cache's shard count (auto: the autoscaler\n"
     "                          decides again)\n",
     0},
    {"bill", NULL, cmd_bill,
     "  stratus bill [CACHE] [--since T] [--until T] [--prices SHEET] [--data-dir D]\n"
     "                          what the recorded usage costs at ElastiCache Serverless\n"
     "                          prices, a month forecast, and fixed nodes instead\n",
     0},
    {"agent", NULL, agent_main,
     "  stratus agent --token-file F [--listen HOST:PORT] [--dir D]\n"
     "                          run a zone's engines on this host for a control plane\n"
     "                          elsewhere (its --zone-agents names this host)\n",
     0},
    {"version", NULL, cmd_version, "  stratus version         print the version\n", 0},
    {"--version", NULL, cmd_version, NULL, 0},
    {"--help", NULL, cmd_help, "  stratus --help          this help\n", 0},
    {"-h", NULL, cmd_help, NULL, 0},
    {"help", NULL, cmd_help, NULL, 0},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Stratus %s: a serverless Redis-compatible cache on your own machine.\n\n"
            "Usage:\n",
            STRATUS_VERSION);
    for (size_t i = 0; i < ARRAY_LEN(subcommands); i++)
        if (subcommands[i].help)
            fputs(subcommands[i].help, out);
    fprintf(out, "\nSettings (flags; also STRATUS_<NAME> variables and a config file):\n");
    if (out == stdout)
        settings_print_help();
}

/* The row that words names: "cache scale" before "cache". NULL when none does. */
static const subcommand *subcommand_find(int argc, char **argv)
{
    const subcommand *found = NULL;
    for (size_t i = 0; i < ARRAY_LEN(subcommands); i++) {
        const subcommand *c = &subcommands[i];
        if (strcmp(argv[0], c->name) != 0)
            continue;
        if (!c->sub && !found)
            found = c;
        else if (c->sub && argc > 1 && strcmp(argv[1], c->sub) == 0)
            return c;
    }
    return found;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const subcommand *c = subcommand_find(argc - 1, argv + 1);
    if (!c) {
        fprintf(stderr, "stratus: unknown command \"%s\" (see `stratus --help`)\n", argv[1]);
        return 2;
    }
    int words = c->sub ? 2 : 1;
    for (int i = 1 + words; c->settings && i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    return c->run(argc - 1 - words, argv + 1 + words);
}
