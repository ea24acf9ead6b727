/* Engine processes: finding the engine binary, the manifest that lets a restart re-use each
 * engine's directory and ports, rendering a configuration and spawning it (here, in a zone's
 * network namespace, or on another host's agent), building the cluster on first start, and
 * adopting the engines a Stratus that died left running. */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/supervisor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/compiler.h"
#include "common/file.h"
#include "common/log.h"
#include "net/ev.h"
#include "net/sock.h"

extern char **environ;

#define SYNC_MAX_LAG_S 5 /* --durability sync: min-replicas-max-lag */

/* ---- engine binary ---- */

int supervisor_find_engine(const char *wanted, char *out, size_t outlen, char *err, size_t errlen)
{
    if (wanted && wanted[0]) {
        if (access(wanted, X_OK) == 0) {
            snprintf(out, outlen, "%s", wanted);
            return 0;
        }
        snprintf(err, errlen, "--engine-binary: %s is not an executable file", wanted);
        return -1;
    }
    static const char *const names[] = {"redis-server", "valkey-server"};
    const char *path = getenv("PATH");
    char dirs[8192];
    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        char copy[8192];
        snprintf(copy, sizeof(copy), "%s", dirs);
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            char cand[4200];
            snprintf(cand, sizeof(cand), "%s/%s", d, names[i]);
            if (access(cand, X_OK) == 0) {
                snprintf(out, outlen, "%s", cand);
                return 0;
            }
        }
    }
    snprintf(err, errlen,
             "redis-server not found: install it with `apt-get install redis-server` "
             "(a valkey-server binary is accepted too), or set --engine-binary PATH");
    return -1;
}

/* ---- manifest ---- */

static void manifest_path(const supervisor *s, char *out, size_t n)
{
    snprintf(out, n, "%s/engines/manifest", s->dir);
}

/* The network namespace and address of e's zone (--zone-netns), or NULL. */
const zone_net *sup_zone_of(const supervisor *s, const engine *e)
{
    for (int i = 0; i < s->nznet; i++)
        if (strcmp(s->znet[i].zone, e->zone) == 0)
            return &s->znet[i];
    return NULL;
}

/* The address e listens on and the cluster knows it by. */
const char *sup_engine_ip(const supervisor *s, const engine *e)
{
    if (e->host[0])
        return e->host;
    const zone_net *z = sup_zone_of(s, e);
    return z ? z->ip : "127.0.0.1";
}

/* The agent that runs e (another host), or NULL when this process does. */
agent_link *sup_agent_of(const supervisor *s, const engine *e)
{
    const zone_net *z = sup_zone_of(s, e);
    return z ? z->agent : NULL;
}

void sup_engine_paths(supervisor *s, engine *e)
{
    agent_link *a = sup_agent_of(s, e);
    if (a)
        snprintf(e->dir, sizeof(e->dir), "%s/%s/%s", agent_link_root(a), s->cache_name, e->name);
    else
        snprintf(e->dir, sizeof(e->dir), "%s/engines/%s", s->dir, e->name);
    if (sup_zone_of(s, e)) {
        /* In another network namespace: reached over TCP, through its zone's network. */
        snprintf(e->addr, sizeof(e->addr), "%s:%d", sup_engine_ip(s, e), e->port);
        return;
    }
    char sock[4200];
    snprintf(sock, sizeof(sock), "%s/redis.sock", e->dir);
    struct sockaddr_un su;
    if (strlen(sock) < sizeof(su.sun_path))
        snprintf(e->addr, sizeof(e->addr), "%s", sock);
    else
        snprintf(e->addr, sizeof(e->addr), "127.0.0.1:%d", e->port);
}

/* Zone of the k-th engine (k == 0: the primary) of a new shard: the primary in the preferred
 * zone (or the zones in turn, shard by shard), each replica in the next zone along. */
void sup_place(const supervisor *s, engine *e, int shard, int k)
{
    int first = s->preferred >= 0 ? s->preferred : shard % s->nzones;
    snprintf(e->zone, sizeof(e->zone), "%s", s->zones[(first + k) % s->nzones]);
}

int sup_save_manifest(supervisor *s)
{
    char text[16384];
    size_t n = (size_t)snprintf(text, sizeof(text),
                                "# Stratus engines of cache %s: name port bus-port shard role "
                                "zone maxmemory (0: the shard size)\n",
                                s->cache_name);
    for (int i = 0; i < s->nengines && n < sizeof(text); i++) {
        engine *e = &s->engines[i];
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s %d %d %d %s %s %llu\n", e->name,
                              e->port, e->bus_port, e->shard, e->primary ? "primary" : "replica",
                              e->zone[0] ? e->zone : "z1", (unsigned long long)e->maxmemory);
    }
    char path[4200];
    manifest_path(s, path, sizeof(path));
    return file_write_atomic(path, text, MIN(n, sizeof(text)), 0600);
}

int sup_load_manifest(supervisor *s)
{
    /* Loaded again after a stop (a wake): start from clean engine records. */
    for (int i = 0; i < s->nengines; i++) {
        engine_client_deinit(&s->engines[i].cli);
        memset(&s->engines[i], 0, sizeof(s->engines[i]));
        engine_client_init(&s->engines[i].cli);
    }
    s->nengines = 0;
    char path[4200];
    manifest_path(s, path, sizeof(path));
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char line[256];
    while (fgets(line, sizeof(line), f) && s->nengines < MAX_ENGINES) {
        if (line[0] == '#')
            continue;
        engine *e = &s->engines[s->nengines];
        char role[16];
        unsigned long long mm = 0;
        int got = sscanf(line, "%15s %d %d %d %15s %15s %llu", e->name, &e->port, &e->bus_port,
                         &e->shard, role, e->zone, &mm);
        e->maxmemory = got >= 7 ? (uint64_t)mm : 0; /* the vertical step, kept across starts */
        if (got < 5)
            continue;
        if (got < 6) /* written before zones */
            snprintf(e->zone, sizeof(e->zone), "%s", s->zones[0]);
        e->primary = strcmp(role, "primary") == 0;
        sup_engine_paths(s, e);
        s->nengines++;
    }
    fclose(f);
    return s->nengines;
}

/* ---- processes ---- */

static int pick_port(int avoid_a, int avoid_b);

/* Two free ports for e: a client port and a bus port, where e runs (this host, or its agent's:
 * the ports of another host are only known there). */
void sup_free_ports(supervisor *s, engine *e, int *port, int *bus)
{
    agent_link *a = sup_agent_of(s, e);
    *port = *bus = -1;
    if (!a) {
        *port = pick_port(0, 0);
        *bus = pick_port(*port, 0);
        return;
    }
    const resp_value *v = agent_link_callv(a, "PORTS", NULL);
    if (v && v->type == RESP_T_ARRAY && v->nelem == 2) {
        *port = (int)v->elem[0].integer;
        *bus = (int)v->elem[1].integer;
    }
}

static int pick_port(int avoid_a, int avoid_b)
{
    for (int tries = 0; tries < 200; tries++) {
        int p = 20000 + (int)(((unsigned)rand() ^ (unsigned)getpid() * 7919u) % 30000u);
        if (p == avoid_a || p == avoid_b)
            continue;
        if (sock_port_free(p))
            return p;
    }
    return -1;
}

/* Render e's configuration into conf (cap bytes). Its length, or -ENAMETOOLONG. */
static int render_config(supervisor *s, engine *e, char *conf, size_t cap)
{
    int n =
        snprintf(conf, cap,
                 "# Rendered by Stratus at every start; edits are overwritten.\n"
                 "port %d\nbind %s\nprotected-mode no\n"
                 "%s%s%s"
                 "dir %s\ndaemonize no\nlogfile engine.log\nloglevel notice\n"
                 "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-port %d\n"
                 "cluster-node-timeout %d\ncluster-require-full-coverage yes\n"
                 "requirepass %s\nmasterauth %s\n"
                 "appendonly yes\nappendfsync everysec\nappenddirname appendonly\n"
                 "save 3600 1 300 100 60 10000\ndbfilename dump.rdb\n"
                 "maxmemory-policy %s\ntcp-keepalive 60\nlatency-monitor-threshold 100\n"
                 "cluster-allow-replica-migration no\nrepl-diskless-sync-delay 0\n"
                 "shutdown-on-sigterm default\n"
                 "user stratus-proxy %s\n",
                 e->port, sup_engine_ip(s, e), e->addr[0] == '/' ? "unixsocket " : "",
                 e->addr[0] == '/' ? e->addr : "",
                 e->addr[0] == '/' ? "\nunixsocketperm 700\n" : "", e->dir, e->bus_port,
                 s->node_timeout_ms, s->password, s->password, s->maxmemory_policy, s->proxy_rules);
    /* Sync durability: a primary with no replica in reach refuses writes (NOREPLICAS, retried
     * by the endpoint), so one that is cut off cannot take writes nobody else will have. */
    if (s->sync_writes && n > 0 && (size_t)n < cap)
        n += snprintf(conf + n, cap - (size_t)n,
                      "min-replicas-to-write 1\nmin-replicas-max-lag %d\n", SYNC_MAX_LAG_S);
    /* Every private link of the endpoint (blocked clients) may go to one engine. */
    if (s->engine_maxclients && n > 0 && (size_t)n < cap)
        n += snprintf(conf + n, cap - (size_t)n, "maxclients %ld\n", s->engine_maxclients);
    uint64_t mm = e->maxmemory ? e->maxmemory : s->maxmemory;
    if (mm && n > 0 && (size_t)n < cap)
        n += snprintf(conf + n, cap - (size_t)n, "maxmemory %llu\n", (unsigned long long)mm);
    if (s->overrides && n > 0 && (size_t)n < cap)
        n +=
            snprintf(conf + n, cap - (size_t)n, "# Set by clients (CONFIG SET):\n%s", s->overrides);
    if (n < 0 || (size_t)n >= cap) {
        log_error("engine %s: rendered configuration too long", e->name);
        return -ENAMETOOLONG;
    }
    return n;
}

/* Start e on its zone's agent (another host). */
static int spawn_remote(supervisor *s, engine *e, agent_link *a)
{
    char conf[8192];
    int n = render_config(s, e, conf, sizeof(conf));
    if (n < 0)
        return n;
    const char *argv[] = {"START", s->cache_name, e->name, conf};
    const size_t lens[] = {5, strlen(s->cache_name), strlen(e->name), (size_t)n};
    const resp_value *v = agent_link_call(a, 4, argv, lens);
    if (!v || v->type != RESP_T_INTEGER) {
        log_error("engine %s: the agent of zone %s did not start it: %.*s", e->name, e->zone,
                  v ? (int)v->len : (int)strlen(agent_link_error(a)),
                  v ? v->str : agent_link_error(a));
        return -EIO;
    }
    e->pid = (pid_t)v->integer;
    e->users_pid = 0; /* a new process has only the users of its configuration */
    e->started_ms = ev_clock_ms();
    e->checked_ms = e->last_ok_ms = 0;
    engine_client_deinit(&e->cli);
    engine_client_init(&e->cli);
    log_info("engine %s: started by the agent of zone %s (pid %d there, %s)", e->name, e->zone,
             (int)e->pid, e->addr);
    return 0;
}

/* Send sig to e's process (through its agent for another host's engine; best effort). */
void sup_engine_signal(supervisor *s, engine *e, int sig)
{
    agent_link *a = sup_agent_of(s, e);
    if (!a) {
        kill(e->pid, sig);
        return;
    }
    char num[8];
    snprintf(num, sizeof(num), "%d", sig);
    agent_link_callv(a, "SIGNAL", s->cache_name, e->name, num, NULL);
}

int sup_spawn_engine(supervisor *s, engine *e)
{
    agent_link *a = sup_agent_of(s, e);
    if (a)
        return spawn_remote(s, e, a);
    char text[8192], path[4200];
    int rc = file_mkdir_p(e->dir, 0700);
    int n = rc == 0 ? render_config(s, e, text, sizeof(text)) : rc;
    snprintf(path, sizeof(path), "%s/redis.conf", e->dir);
    rc = n < 0 ? n : file_write_atomic(path, text, (size_t)n, 0600);
    if (rc != 0) {
        log_error("engine %s: cannot prepare %s: %s", e->name, e->dir, strerror(-rc));
        return rc;
    }
    char conf[4200];
    snprintf(conf, sizeof(conf), "%s/redis.conf", e->dir);
    const zone_net *zn = sup_zone_of(s, e);
    char *const local_argv[] = {s->binary, conf, NULL};
    char *const netns_argv[] = {"ip",      "netns", "exec", zn ? (char *)zn->netns : "",
                                s->binary, conf,    NULL};
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGCHLD);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGHUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    /* In a zone's namespace, `ip netns exec` enters it and execs the engine: same pid. */
    rc = zn ? posix_spawnp(&pid, "ip", &fa, &attr, netns_argv, environ)
            : posix_spawn(&pid, s->binary, &fa, &attr, local_argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        log_error("engine %s: cannot run %s: %s", e->name, s->binary, strerror(rc));
        return -rc;
    }
    e->pid = pid;
    e->users_pid = 0; /* a new process has only the users of its configuration */
    e->started_ms = ev_clock_ms();
    e->checked_ms = e->last_ok_ms = 0;
    engine_client_deinit(&e->cli);
    engine_client_init(&e->cli);
    log_info("engine %s: started %s (pid %d, port %d)", e->name, s->binary, (int)pid, e->port);
    return 0;
}

/* Whether e's process has ended: reaped (our child) or gone (adopted, or not our child at
 * all); *status is set for a reaped child, else -1. */
int sup_engine_ended(supervisor *s, engine *e, int *status)
{
    *status = -1;
    agent_link *a = sup_agent_of(s, e);
    if (a) {
        /* An agent out of reach cannot say: the engine is taken as running (its health checks
         * fail, so a primary fails over, and the agent's lease fences it). */
        const resp_value *v = agent_link_callv(a, "STATUS", s->cache_name, e->name, NULL);
        if (!v || v->type != RESP_T_ARRAY || v->nelem != 3 || v->elem[0].type != RESP_T_BULK ||
            (v->elem[0].len == 7 && !memcmp(v->elem[0].str, "running", 7)))
            return 0;
        *status = (int)v->elem[2].integer;
        return 1;
    }
    if (!e->adopted) {
        pid_t r = waitpid(e->pid, status, WNOHANG);
        return r == e->pid || (r == -1 && errno == ECHILD);
    }
    return kill(e->pid, 0) == -1 && errno == ESRCH;
}

/* ---- first start ---- */

/* Wait until every engine answers PING (children that died are reported). */
int sup_wait_engines_up(supervisor *s, uint64_t deadline, char *err, size_t errlen)
{
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        for (;;) {
            if (sup_engine_ready(s, e, 200) == 0) {
                const resp_value *v = ECALL(s, e, "PING");
                if (sup_reply_ok(v))
                    break;
                /* LOADING: the engine is reading its data; keep waiting. */
            }
            int status;
            if (e->pid > 0 && sup_engine_ended(s, e, &status)) {
                e->pid = 0;
                snprintf(err, errlen, "engine %s exited at start (status %d); see %s/engine.log",
                         e->name, WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status),
                         e->dir);
                return -1;
            }
            if (ev_clock_ms() > deadline) {
                snprintf(err, errlen, "engine %s did not answer in time (%s); see %s/engine.log",
                         e->name, e->cli.err, e->dir);
                return -1;
            }
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

int sup_build_cluster(supervisor *s, uint64_t deadline, char *err, size_t errlen)
{
    char ids[MAX_ENGINES][41];
    for (int i = 0; i < s->nengines; i++) {
        if (sup_node_id(s, &s->engines[i], ids[i], sizeof(ids[i])) != 0) {
            snprintf(err, errlen, "engine %s: CLUSTER MYID failed", s->engines[i].name);
            return -1;
        }
    }
    /* Distinct epochs for the primaries up front, as redis-cli --cluster create does, so the
     * cluster does not spend time resolving epoch collisions. */
    int epoch = 1;
    for (int i = 0; i < s->nengines; i++) {
        char ep[16];
        snprintf(ep, sizeof(ep), "%d", epoch++);
        ECALL(s, &s->engines[i], "CLUSTER", "SET-CONFIG-EPOCH", ep);
    }
    for (int i = 1; i < s->nengines; i++) {
        char port[16], bus[16];
        snprintf(port, sizeof(port), "%d", s->engines[i].port);
        snprintf(bus, sizeof(bus), "%d", s->engines[i].bus_port);
        if (!sup_reply_ok(ECALL(s, &s->engines[0], "CLUSTER", "MEET",
                                sup_engine_ip(s, &s->engines[i]), port, bus))) {
            snprintf(err, errlen, "CLUSTER MEET %s failed: %s", s->engines[i].name,
                     s->engines[0].cli.err);
            return -1;
        }
    }
    for (int sh = 0; sh < s->shards; sh++) {
        char lo[16], hi[16];
        snprintf(lo, sizeof(lo), "%d", sh * TOPO_SLOTS / s->shards);
        snprintf(hi, sizeof(hi), "%d", (sh + 1) * TOPO_SLOTS / s->shards - 1);
        for (int i = 0; i < s->nengines; i++) {
            engine *e = &s->engines[i];
            if (e->shard == sh && e->primary &&
                !sup_reply_ok(ECALL(s, e, "CLUSTER", "ADDSLOTSRANGE", lo, hi))) {
                snprintf(err, errlen, "CLUSTER ADDSLOTSRANGE on %s failed", e->name);
                return -1;
            }
        }
    }
    /* Every node must know every other before replicas can be attached. */
    for (int i = 0; i < s->nengines; i++) {
        while (sup_count_known_nodes(s, &s->engines[i]) < s->nengines) {
            if (ev_clock_ms() > deadline) {
                snprintf(err, errlen, "engines did not all meet in time");
                return -1;
            }
            sup_pause_ms(20);
        }
    }
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->primary)
            continue;
        int p = -1;
        for (int j = 0; j < s->nengines; j++)
            if (s->engines[j].primary && s->engines[j].shard == e->shard)
                p = j;
        for (;;) {
            const resp_value *v = ECALL(s, e, "CLUSTER", "REPLICATE", ids[p]);
            if (sup_reply_ok(v))
                break;
            if (ev_clock_ms() > deadline) {
                snprintf(err, errlen, "CLUSTER REPLICATE on %s failed: %.*s", e->name,
                         v ? (int)v->len : 0, v ? v->str : "");
                return -1;
            }
            sup_pause_ms(20);
        }
    }
    return 0;
}

/* ---- adoption after a crash ---- */

/* Whether an engine process still holds dir/nodes.conf (Redis locks it while it runs). */
static int nodes_conf_locked(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/nodes.conf", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return 0;
    int locked = flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK;
    close(fd); /* releases our lock if we took it */
    return locked;
}

#define STALE_STOP_MS 30000 /* a leftover engine saves and stops within this, or is forced */

/* Stop engines left running by a Stratus that died without stopping them, and wait until each
 * has exited (its nodes.conf is free for the engine started in its place). An engine may refuse
 * SHUTDOWN for a moment ("Writing initial AOF, can't exit"): it is asked again, and forced
 * (SHUTDOWN SAVE FORCE) when the deadline passes. */
static void stop_stale(supervisor *s, engine *e)
{
    {
        engine_client probe;
        engine_client_init(&probe);
        if (engine_client_connect(&probe, e->addr, s->password, 200) == 0) {
            log_warn("engine %s: still running from a previous start; asking it to save and stop",
                     e->name);
            uint64_t until = ev_clock_ms() + STALE_STOP_MS;
            for (;;) {
                int force = ev_clock_ms() > until;
                const resp_value *v =
                    force ? engine_callv(&probe, STALE_STOP_MS, "SHUTDOWN", "SAVE", "FORCE", NULL)
                          : engine_callv(&probe, STALE_STOP_MS, "SHUTDOWN", "SAVE", NULL);
                if (!v || force)
                    break; /* no reply: it closed the connection on its way out */
                log_warn("engine %s: SHUTDOWN refused (%.*s); asking again", e->name, (int)v->len,
                         v->str ? v->str : "");
                sup_pause_ms(100);
            }
        }
        engine_client_deinit(&probe);
        uint64_t until = ev_clock_ms() + STALE_STOP_MS;
        int status;
        if (sup_agent_of(s, e))
            while (!sup_engine_ended(s, e, &status) && ev_clock_ms() < until)
                sup_pause_ms(20);
        else
            while (nodes_conf_locked(e->dir) && ev_clock_ms() < until)
                sup_pause_ms(20);
    }
}

/* Engines left running by a Stratus that died keep serving: each one that answers and runs from
 * its own directory is adopted as it is (no data reload, no failover); its role is what it says
 * now. One that answers but cannot be adopted is stopped. Engines adopted. */
int sup_adopt_running(supervisor *s)
{
    int adopted = 0;
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        sup_engine_paths(s, e);
        if (engine_client_connect(&e->cli, e->addr, s->password, 200) != 0) {
            engine_client_deinit(&e->cli);
            engine_client_init(&e->cli);
            continue;
        }
        char conf[4200], want[4200], pid[32], role[16];
        snprintf(want, sizeof(want), "%s/redis.conf", e->dir);
        const resp_value *v = engine_callv(&e->cli, CALL_MS, "INFO", "server", NULL);
        int ours = sup_info_field(v, "config_file", conf, sizeof(conf)) == 0 &&
                   strcmp(conf, want) == 0 &&
                   sup_info_field(v, "process_id", pid, sizeof(pid)) == 0;
        v = ours ? engine_callv(&e->cli, CALL_MS, "INFO", "replication", NULL) : NULL;
        if (!ours || sup_info_field(v, "role", role, sizeof(role)) != 0) {
            engine_client_deinit(&e->cli);
            engine_client_init(&e->cli);
            stop_stale(s, e);
            continue;
        }
        e->pid = (pid_t)atoi(pid);
        e->users_pid = 0; /* a new process has only the users of its configuration */
        e->adopted = 1;
        e->primary = strcmp(role, "master") == 0;
        e->started_ms = ev_clock_ms();
        adopted++;
        log_info("engine %s: still running (pid %d, %s): adopted", e->name, (int)e->pid,
                 e->primary ? "primary" : "replica");
    }
    return adopted;
}
