/* The caches' processes (see plane_int.h): each cache runs as a child `stratus up --cache-name
 * NAME` that the plane spawns, waits for, stops, and restarts when it dies (the manager thread,
 * which also samples the caches through plane_sample.c). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/plane_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/file.h"
#include "common/log.h"
#include "control/endpoint.h"
#include "net/ev.h"

/* ---- processes ---- */

/* Start pc's process (lock held): `stratus up` with the cache's settings, its output to
 * <cache dir>/stratus.log. 0, or -1 with pc->error. */
int plane_child_spawn(plane *p, pcache *pc)
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
int plane_child_wait_ready(plane *p, pcache *pc, char *err, size_t errlen)
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
void plane_child_stop(plane *p, pcache *pc)
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
void plane_child_learn_port(plane *p, pcache *pc)
{
    char dir[4300], host[64], ca[4096];
    int port, metrics;
    plane_cache_dir(p, pc->def.name, dir, sizeof(dir));
    if (endpoint_read(dir, host, sizeof(host), &port, ca, sizeof(ca), &metrics) == 0 &&
        port != pc->def.port) {
        pc->def.port = port;
        plane_def_save(p, &pc->def);
    }
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
        pcache *pc = plane_find_locked(p, defs[i].name);
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
            plane_event_locked(p, pc->def.name, "process-exit", msg);
        }
        if (pc->pid == 0 && pc->restart_at && now >= pc->restart_at) {
            if (plane_child_spawn(p, pc) == 0)
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
                plane_child_learn_port(p, pc);
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
}

void *plane_manager_main(void *arg)
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
            plane_sample_all(p, (int64_t)time(NULL) * 1000);
        }
        poll(NULL, 0, 100);
    }
    return NULL;
}
