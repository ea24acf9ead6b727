/* Engine supervisor: orchestration. Each engine is one redis-server child in its own directory
 * (<cache>/engines/nK/) with a rendered redis.conf, cluster state in nodes.conf and its data in
 * AOF + RDB. A manifest records the engines and their ports so a restart re-uses them. The
 * proxy reaches engines over their unix socket; the cluster bus and replication use loopback
 * TCP. Children get their own session, so a terminal's Ctrl-C reaches only Stratus, which then
 * stops them in order. This file starts, restarts and stops them, keeps their users and settings
 * in step and reports topology and load; spawn.c runs the processes (and the manifest),
 * health.c fails over, migrate.c reshards and nodes.c reads CLUSTER NODES. */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/supervisor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/nodes.h"
#include "cluster/supervisor_int.h"
#include "common/alloc.h"
#include "common/compiler.h"
#include "common/file.h"
#include "common/log.h"
#include "net/ev.h"
#include "net/sock.h"

supervisor *supervisor_create(const supervisor_config *cfg)
{
    supervisor *s = xcalloc(1, sizeof(*s));
    s->cache_name = xstrdup(cfg->cache_name);
    s->dir = xstrdup(cfg->dir);
    s->binary = xstrdup(cfg->engine_binary);
    s->password = xstrdup(cfg->password);
    s->proxy_password = xstrdup(cfg->proxy_password ? cfg->proxy_password : cfg->password);
    s->proxy_rules = xstrdup(cfg->proxy_rules ? cfg->proxy_rules : "on nopass -@all");
    buf_init(&s->users_cmds);
    s->shards = cfg->shards;
    s->replicas = cfg->replicas;
    s->node_timeout_ms = cfg->node_timeout_ms > 0 ? cfg->node_timeout_ms : 5000;
    s->failover_timeout_ms = cfg->failover_timeout_ms > 0 ? cfg->failover_timeout_ms : 1000;
    s->sync_writes = cfg->sync_writes;
    s->engine_maxclients = cfg->engine_maxclients;
    s->failback_delay_ms = cfg->failback_delay_ms;
    snprintf(s->maxmemory_policy, sizeof(s->maxmemory_policy), "%s",
             cfg->maxmemory_policy ? cfg->maxmemory_policy : "noeviction");
    s->follow = xstrdup(cfg->follow ? cfg->follow : "");
    s->preferred = -1;
    if (cfg->zone_netns && cfg->zone_netns[0]) {
        char list[1024];
        snprintf(list, sizeof(list), "%s", cfg->zone_netns);
        char *save = NULL;
        for (char *z = strtok_r(list, ",", &save); z && s->nznet < 8;
             z = strtok_r(NULL, ",", &save)) {
            zone_net *n = &s->znet[s->nznet];
            if (sscanf(z, "%15[^:]:%63[^:]:%47s", n->zone, n->netns, n->ip) == 3)
                s->nznet++;
        }
    }
    if (cfg->zone_agents && cfg->zone_agents[0]) {
        char list[1024];
        snprintf(list, sizeof(list), "%s", cfg->zone_agents);
        char *save = NULL;
        for (char *z = strtok_r(list, ",", &save); z && s->nznet < 8;
             z = strtok_r(NULL, ",", &save)) {
            zone_net *n = &s->znet[s->nznet];
            int port = 0;
            if (sscanf(z, "%15[^=]=%47[^:]:%d", n->zone, n->ip, &port) == 3 && port > 0) {
                n->agent = agent_link_create(n->zone, n->ip, port, cfg->agent_token);
                s->nznet++;
            }
        }
    }
    if (cfg->zones && cfg->zones[0]) {
        char list[256];
        snprintf(list, sizeof(list), "%s", cfg->zones);
        char *save = NULL;
        for (char *z = strtok_r(list, ",", &save); z && s->nzones < 8;
             z = strtok_r(NULL, ",", &save))
            snprintf(s->zones[s->nzones++], sizeof(s->zones[0]), "%s", z);
    }
    if (s->nzones == 0)
        for (int i = 0; i <= cfg->replicas && i < 8; i++)
            snprintf(s->zones[s->nzones++], sizeof(s->zones[0]), "z%d", i + 1);
    for (int i = 0; cfg->preferred_zone && i < s->nzones; i++)
        if (strcmp(s->zones[i], cfg->preferred_zone) == 0)
            s->preferred = i;
    s->maxmemory = cfg->maxmemory;
    for (int i = 0; i < MAX_ENGINES; i++)
        engine_client_init(&s->engines[i].cli);
    return s;
}

void supervisor_destroy(supervisor *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nznet; i++)
        agent_link_destroy(s->znet[i].agent);
    xfree(s->follow);
    for (int i = 0; i < MAX_ENGINES; i++)
        engine_client_deinit(&s->engines[i].cli);
    xfree(s->cache_name);
    xfree(s->dir);
    xfree(s->binary);
    xfree(s->password);
    xfree(s->proxy_password);
    xfree(s->proxy_rules);
    buf_deinit(&s->users_cmds);
    for (size_t i = 0; i < s->nuser_names; i++)
        xfree(s->user_names[i]);
    xfree(s->user_names);
    xfree(s->users_prefix);
    xfree(s->overrides);
    xfree(s);
}

/* Whether e says it is a replica now (ROLE); 0 if it does not answer. */
static int is_replica(supervisor *s, engine *e)
{
    const resp_value *v = ECALL(s, e, "ROLE");
    return v && v->type == RESP_T_ARRAY && v->nelem > 0 && v->elem[0].len == 5 &&
           memcmp(v->elem[0].str, "slave", 5) == 0;
}

void supervisor_set_overrides(supervisor *s, size_t n, const char *const *names,
                              const char *const *values, int primaries)
{
    buf text;
    buf_init(&text);
    for (size_t i = 0; i < n; i++) {
        /* Values come from CONFIG SET, already accepted by an engine; quote them for the file. */
        buf_appendf(&text, "%s \"", names[i]);
        for (const char *v = values[i]; *v; v++) {
            if (*v == '"' || *v == '\\')
                buf_append(&text, "\\", 1);
            buf_append(&text, v, 1);
        }
        buf_appendf(&text, "\"\n");
    }
    xfree(s->overrides);
    s->overrides = n ? xstrndup(buf_rptr(&text), buf_used(&text)) : NULL;
    buf_deinit(&text);
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->pid <= 0)
            continue; /* it will read them from its rendered file when it starts */
        /* A primary took every value from the client's CONFIG SET itself, in the client's
         * order; these values were read before a later CONFIG SET may have reached it, so
         * they are for replicas only (a replica promoted later has had them). */
        if (!primaries && !is_replica(s, e))
            continue;
        for (size_t j = 0; j < n; j++) {
            const resp_value *v = ECALL(s, e, "CONFIG", "SET", names[j], values[j]);
            if (!sup_reply_ok(v))
                log_warn("engine %s: CONFIG SET %s failed: %.*s", e->name, names[j],
                         SUP_REPLY_LEN(v, e->cli.err), SUP_REPLY_TEXT(v, e->cli.err));
        }
    }
}

/* ---- talking to engines ---- */

/* Connect the control client if needed; 0 when the engine answers. */
int sup_engine_ready(supervisor *s, engine *e, int timeout_ms)
{
    if (e->cli.fd != -1)
        return 0;
    return engine_client_connect(&e->cli, e->addr, s->password, timeout_ms);
}

/* Whether e's last health check went unanswered while its process runs (frozen, overloaded):
 * calls to it then wait HEALTH_MS, not CALL_MS, so one engine cannot stall the control loop. */
static int unresponsive(const engine *e)
{
    return e->pid > 0 && e->checked_ms && e->last_ok_ms != e->checked_ms;
}

const resp_value *sup_ecall(supervisor *s, engine *e, const char *const *argv)
{
    int ms = unresponsive(e) ? HEALTH_MS : CALL_MS;
    if (sup_engine_ready(s, e, ms) != 0)
        return NULL;
    return engine_call(&e->cli, ms, argv);
}

int sup_reply_ok(const resp_value *v)
{
    return v && v->type != RESP_T_ERROR;
}

/* Find "field:" in an INFO-like text; copies the value. */
int sup_info_field(const resp_value *v, const char *field, char *out, size_t n)
{
    if (!v || (v->type != RESP_T_BULK && v->type != RESP_T_VERBATIM))
        return -1;
    size_t fl = strlen(field);
    const char *p = v->str, *end = v->str + v->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if ((size_t)(le - p) > fl && memcmp(p, field, fl) == 0 && p[fl] == ':') {
            size_t vl = (size_t)(le - p) - fl - 1;
            if (vl && p[fl + 1 + vl - 1] == '\r')
                vl--;
            snprintf(out, n, "%.*s", (int)vl, p + fl + 1);
            return 0;
        }
        p = le + 1;
    }
    return -1;
}

int sup_node_id(supervisor *s, engine *e, char *out, size_t n)
{
    /* A node keeps its id for life: once known, it is remembered (a dead engine has one). */
    const resp_value *v = e->id[0] ? NULL : ECALL(s, e, "CLUSTER", "MYID");
    if (v && sup_reply_ok(v) && v->len < sizeof(e->id))
        snprintf(e->id, sizeof(e->id), "%.*s", (int)v->len, v->str);
    if (!e->id[0] || strlen(e->id) >= n)
        return -1;
    if (out != e->id)
        snprintf(out, n, "%s", e->id);
    return 0;
}

int sup_count_known_nodes(supervisor *s, engine *e)
{
    const resp_value *v = ECALL(s, e, "CLUSTER", "NODES");
    if (!sup_reply_ok(v))
        return -1;
    int n = 0;
    for (size_t i = 0; i < v->len; i++)
        n += v->str[i] == '\n';
    /* Nodes still in handshake are listed but not usable yet. */
    const char *p = v->str, *end = v->str + v->len;
    while ((p = memmem(p, (size_t)(end - p), "handshake", 9)) != NULL) {
        n--;
        p += 9;
    }
    return n;
}

int sup_cluster_state_ok(supervisor *s, engine *e)
{
    char state[16];
    const resp_value *v = ECALL(s, e, "CLUSTER", "INFO");
    return sup_info_field(v, "cluster_state", state, sizeof(state)) == 0 &&
           strcmp(state, "ok") == 0;
}

void sup_pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

engine *sup_engine_by_id(supervisor *s, const char *id)
{
    /* Node ids never change for an engine's data dir: ask each engine once. */
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (!e->id[0] && e->pid > 0)
            sup_node_id(s, e, e->id, sizeof(e->id));
        if (e->pid > 0 && strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

/* ---- users ---- */

void supervisor_set_users(supervisor *s, uint64_t version, const buf *cmds, size_t ncmds,
                          const char *const *names, size_t nnames, const char *prefix)
{
    s->users_version = version;
    buf_consume(&s->users_cmds, buf_used(&s->users_cmds));
    buf_append(&s->users_cmds, buf_rptr(cmds), buf_used(cmds));
    s->nusers_cmds = ncmds;
    for (size_t i = 0; i < s->nuser_names; i++)
        xfree(s->user_names[i]);
    xfree(s->user_names);
    s->user_names = nnames ? xmalloc(nnames * sizeof(char *)) : NULL;
    for (size_t i = 0; i < nnames; i++)
        s->user_names[i] = xstrdup(names[i]);
    s->nuser_names = nnames;
    xfree(s->users_prefix);
    s->users_prefix = xstrdup(prefix);
}

static int user_named(const supervisor *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nuser_names; i++)
        if (strlen(s->user_names[i]) == len && memcmp(s->user_names[i], name, len) == 0)
            return 1;
    return 0;
}

/* One engine in step with the users: the cache's engine users it has that are gone are
 * deleted, and every user is set again from scratch (ACL SETUSER ... reset ...), in one
 * pipeline. 0 when every command succeeded. */
static int sync_engine_users(supervisor *s, engine *e)
{
    int ms = unresponsive(e) ? HEALTH_MS : CALL_MS;
    const resp_value *v =
        sup_engine_ready(s, e, ms) == 0
            ? engine_call(&e->cli, ms, (const char *const[]){"ACL", "USERS", NULL})
            : NULL;
    if (!v || v->type != RESP_T_ARRAY)
        return -1;
    buf q;
    buf_init(&q);
    size_t n = 0, plen = strlen(s->users_prefix);
    for (size_t i = 0; i < v->nelem; i++) {
        const resp_value *u = &v->elem[i];
        if (u->type != RESP_T_BULK || u->len < plen || memcmp(u->str, s->users_prefix, plen) != 0 ||
            user_named(s, u->str, u->len))
            continue;
        const char *del[] = {"ACL", "DELUSER", u->str};
        const size_t dl[] = {3, 7, u->len};
        resp_add_command(&q, 3, del, dl);
        n++;
    }
    buf_append(&q, buf_rptr(&s->users_cmds), buf_used(&s->users_cmds));
    n += s->nusers_cmds;
    resp_value *const *r = n ? engine_pipeline(&e->cli, ms, &q, n) : NULL;
    buf_deinit(&q);
    if (n && !r)
        return -1;
    size_t ndel = n - s->nusers_cmds, nref = 0;
    size_t *refused = xmalloc((n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        if (r[i]->type != RESP_T_ERROR)
            continue;
        uint64_t now = ev_clock_ms();
        if (now - s->users_warned_ms > 10000) {
            s->users_warned_ms = now;
            log_error("engine %s refused an ACL change of the cache's users: %.*s", e->name,
                      (int)MIN(r[i]->len, 200), r[i]->str);
        }
        if (i >= ndel && i - ndel < s->nuser_names)
            refused[nref++] = i - ndel;
    }
    /* A user the engine would not take must not keep older, wider rules there: it is removed
     * (its links then fail to authenticate, and their requests get an error). */
    for (size_t i = 0; i < nref; i++)
        engine_callv(&e->cli, ms, "ACL", "DELUSER", s->user_names[refused[i]], NULL);
    xfree(refused);
    return 0;
}

uint64_t supervisor_sync_users(supervisor *s)
{
    uint64_t min = s->users_version;
    if (s->follow[0] || !s->users_prefix)
        return min; /* a zone endpoint uses the users its control plane keeps on the engines */
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->pid <= 0)
            continue;
        if ((e->users_pid != e->pid || e->users_version != s->users_version) &&
            sync_engine_users(s, e) == 0) {
            e->users_pid = e->pid;
            e->users_version = s->users_version;
        }
        if (e->users_pid != e->pid)
            min = 0;
        else if (e->users_version < min)
            min = e->users_version;
    }
    return min;
}

/* ---- start, restarts, stop ---- */

static int follow_add(supervisor *s, const char *ip, size_t iplen, int port);

/* A follower starts from its seeds: the first that answers CLUSTER NODES names the rest. */
static int follow_start(supervisor *s, uint64_t deadline, char *err, size_t errlen)
{
    char list[1024];
    snprintf(list, sizeof(list), "%s", s->follow);
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a && s->nengines < MAX_ENGINES;
         a = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(a, ':');
        if (!colon || atoi(colon + 1) <= 0) {
            snprintf(err, errlen, "--follow: '%s' is not host:port", a);
            return -1;
        }
        follow_add(s, a, (size_t)(colon - a), atoi(colon + 1));
    }
    if (s->nengines == 0) {
        snprintf(err, errlen, "--follow: name at least one engine (host:port)");
        return -1;
    }
    for (;;) {
        topology *t = supervisor_topology(s);
        int shards = t ? t->nshards : 0;
        topo_destroy(t);
        if (shards > 0)
            break;
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen,
                     "--follow: no engine among %s answered CLUSTER NODES with the cache's "
                     "internal password (is internal-password the control plane's?)",
                     s->follow);
            return -1;
        }
        sup_pause_ms(100);
    }
    const resp_value *v = ECALL(s, &s->engines[0], "INFO", "server");
    if (sup_info_field(v, "redis_version", s->version, sizeof(s->version)) != 0)
        snprintf(s->version, sizeof(s->version), "7.0.0");
    log_info("cache %s: following %d engine(s) of a control plane elsewhere", s->cache_name,
             s->nengines);
    return 0;
}

int supervisor_start(supervisor *s, int timeout_ms, char *err, size_t errlen)
{
    uint64_t deadline = ev_clock_ms() + (uint64_t)timeout_ms;
    if (s->follow[0])
        return follow_start(s, deadline, err, errlen);
    srand((unsigned)(ev_clock_ms() ^ (uint64_t)getpid()));
    char edir[4200];
    snprintf(edir, sizeof(edir), "%s/engines", s->dir);
    int rc = file_mkdir_p(edir, 0700);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create %s: %s", edir, strerror(-rc));
        return -1;
    }
    /* Another host's engines live under its agent's directory: learn it before anything. */
    for (int i = 0; i < s->nznet; i++) {
        agent_link *a = s->znet[i].agent;
        while (a && agent_link_ready(a) != 0) {
            if (ev_clock_ms() > deadline) {
                snprintf(err, errlen,
                         "cannot reach the agent of zone %s at %s: %s (is `stratus agent` running "
                         "there with this data dir's agent-token? see docs/operations.md)",
                         s->znet[i].zone, agent_link_host(a), agent_link_error(a));
                return -1;
            }
            sup_pause_ms(100);
        }
    }
    int loaded = sup_load_manifest(s);
    if (loaded < 0) {
        snprintf(err, errlen, "cannot read the engine manifest in %s: %s", edir, strerror(-loaded));
        return -1;
    }
    int fresh = loaded == 0;
    if (fresh) {
        s->nengines = s->shards * (1 + s->replicas);
        if (s->nengines > MAX_ENGINES) {
            snprintf(err, errlen, "--shards x (1 + --replicas) must be at most %d", MAX_ENGINES);
            return -1;
        }
        for (int i = 0; i < s->nengines; i++) {
            engine *e = &s->engines[i];
            snprintf(e->name, sizeof(e->name), "n%d", i);
            e->shard = i / (1 + s->replicas);
            e->primary = i % (1 + s->replicas) == 0;
            sup_place(s, e, e->shard, i % (1 + s->replicas));
        }
    } else {
        if (s->shards != 0 && loaded != s->shards * (1 + s->replicas))
            log_warn("cache %s: the data dir holds %d engines; keeping them (the shard and replica "
                     "settings apply to a new data dir only)",
                     s->cache_name, loaded);
        if (sup_adopt_running(s) > 0)
            sup_save_manifest(s);
    }
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        /* Keep recorded ports when still free: the cluster knows the nodes by them. (Those of
         * another host's engine are kept: only its agent could tell.) */
        int remote = sup_agent_of(s, e) != NULL;
        if (!e->adopted && (e->port == 0 || (!remote && (!sock_port_free(e->port) ||
                                                         !sock_port_free(e->bus_port))))) {
            if (e->port)
                log_warn("engine %s: port %d is taken, choosing another", e->name, e->port);
            for (int tries = 0; tries < 50; tries++) {
                int p, b;
                sup_free_ports(s, e, &p, &b);
                int clash = p <= 0 || b <= 0;
                for (int j = 0; j < i; j++)
                    clash |= s->engines[j].port == p || s->engines[j].bus_port == p ||
                             s->engines[j].port == b || s->engines[j].bus_port == b;
                if (p > 0 && b > 0 && !clash) {
                    e->port = p;
                    e->bus_port = b;
                    break;
                }
            }
            if (e->port <= 0) {
                snprintf(err, errlen, "no free port for engine %s%s%s", e->name, remote ? ": " : "",
                         remote ? agent_link_error(sup_agent_of(s, e)) : "");
                return -1;
            }
        }
        sup_engine_paths(s, e);
    }
    if (sup_save_manifest(s) != 0) {
        snprintf(err, errlen, "cannot write the engine manifest in %s", edir);
        return -1;
    }
    int nadopted = 0;
    for (int i = 0; i < s->nengines; i++) {
        nadopted += s->engines[i].adopted;
        if (!s->engines[i].adopted && sup_spawn_engine(s, &s->engines[i]) != 0) {
            snprintf(err, errlen, "cannot start engine %s with %s", s->engines[i].name, s->binary);
            return -1;
        }
    }
    if (sup_wait_engines_up(s, deadline, err, errlen) != 0)
        return -1;
    if (fresh && sup_build_cluster(s, deadline, err, errlen) != 0)
        return -1;
    /* A primary reports cluster_state:fail for its first 2 s (Redis's writable delay after a
     * start). Its slots are already assigned, so the endpoint serves now: the proxy retries
     * the CLUSTERDOWN replies of that window until the cluster says ok. The control loop
     * watches for that with supervisor_cluster_ok while it keeps engines running. */
    const resp_value *v = ECALL(s, &s->engines[0], "INFO", "server");
    if (sup_info_field(v, "redis_version", s->version, sizeof(s->version)) != 0)
        snprintf(s->version, sizeof(s->version), "7.0.0");
    if (fresh)
        log_info("cache %s: %d engine(s) created", s->cache_name, s->nengines);
    else
        log_info("cache %s: %d engine(s) adopted running, %d restarted with their data",
                 s->cache_name, nadopted, s->nengines - nadopted);
    return 0;
}

void supervisor_poll(supervisor *s)
{
    uint64_t now = ev_clock_ms();
    if (s->follow[0])
        return; /* another host's control plane restarts engines */
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        int status;
        if (e->pid > 0 && sup_engine_ended(s, e, &status)) {
            e->pid = 0;
            e->adopted = 0;
            int quick = now - e->started_ms < 5000;
            e->failures = quick ? e->failures + 1 : 0;
            uint64_t backoff = e->failures ? MIN(50ull << MIN(e->failures, 7), 5000ull) : 0;
            e->next_start_ms = now + backoff;
            engine_client_deinit(&e->cli);
            engine_client_init(&e->cli);
            /* A primary's replica takes over first (supervisor_check_primaries); restarted
             * at once, the primary would come back from its AOF, possibly behind what its
             * replica acknowledged, and the replica would resync from it. */
            e->held = e->primary && sup_live_replica(s, e) != NULL;
            const char *then = e->held ? "failing over to its replica" : "restarting";
            if (status == -1)
                log_warn("engine %s: its process is gone; %s", e->name, then);
            else if (WIFSIGNALED(status))
                log_warn("engine %s: killed by signal %d; %s", e->name, WTERMSIG(status), then);
            else
                log_warn("engine %s: exited with status %d; %s", e->name, WEXITSTATUS(status),
                         then);
        }
        if (e->pid == 0 && !e->held && now >= e->next_start_ms) {
            if (sup_spawn_engine(s, e) == 0)
                s->restarts++;
            else
                e->next_start_ms = now + 1000;
        }
    }
}

/* A follower learns an engine from CLUSTER NODES: known by its address, in the zone whose
 * address it has (--zone-agents, --zone-netns), else in no zone. Its index. */
static int follow_add(supervisor *s, const char *ip, size_t iplen, int port)
{
    engine *e = &s->engines[s->nengines];
    memset(e, 0, sizeof(*e));
    engine_client_init(&e->cli);
    char host[48];
    snprintf(host, sizeof(host), "%.*s", (int)iplen, ip);
    snprintf(e->host, sizeof(e->host), "%s", host);
    snprintf(e->addr, sizeof(e->addr), "%s:%d", host, port);
    snprintf(e->name, sizeof(e->name), "e%d", port);
    e->port = port;
    e->pid = 1;
    e->adopted = 1;
    snprintf(e->zone, sizeof(e->zone), "-");
    for (int i = 0; i < s->nznet; i++)
        if (strcmp(s->znet[i].ip, e->host) == 0)
            snprintf(e->zone, sizeof(e->zone), "%s", s->znet[i].zone);
    log_info("engine %s: followed at %s (zone %s)", e->name, e->addr, e->zone);
    return s->nengines++;
}

void supervisor_stop(supervisor *s, int timeout_ms)
{
    if (s->follow[0]) {
        for (int i = 0; i < s->nengines; i++)
            engine_client_deinit(&s->engines[i].cli);
        return; /* the engines are not ours to stop */
    }
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        engine_client_deinit(&e->cli);
        engine_client_init(&e->cli);
        if (e->pid > 0)
            sup_engine_signal(s, e, SIGTERM);
    }
    uint64_t deadline = ev_clock_ms() + (uint64_t)timeout_ms;
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        uint64_t again = ev_clock_ms() + 500;
        while (e->pid > 0) {
            int status;
            if (sup_engine_ended(s, e, &status)) {
                e->pid = 0;
                break;
            }
            /* An engine refuses to stop while it writes its first AOF ("Writing initial AOF,
             * can't exit", right after a replica's full sync): ask again until it can. */
            if (ev_clock_ms() > again) {
                sup_engine_signal(s, e, SIGTERM);
                again = ev_clock_ms() + 500;
            }
            if (ev_clock_ms() > deadline) {
                log_warn("engine %s: did not stop in time; killing it", e->name);
                sup_engine_signal(s, e, SIGKILL);
                if (!e->adopted && !sup_agent_of(s, e))
                    waitpid(e->pid, &status, 0);
                e->pid = 0;
                break;
            }
            sup_pause_ms(10);
        }
    }
    log_info("cache %s: engines saved and stopped", s->cache_name);
}

/* ---- topology ---- */

/* nodes_parse's view of the engines: a line names one by its port. A follower learns from the
 * lines the engines it does not know yet, and takes their roles from them. */
static int nodes_find(void *arg, const char *ip, size_t iplen, int port)
{
    supervisor *s = arg;
    int eng = -1;
    for (int i = 0; i < s->nengines; i++)
        if (s->engines[i].port == port)
            eng = i;
    if (eng < 0 && s->follow[0] && ip && s->nengines < MAX_ENGINES)
        eng = follow_add(s, ip, iplen, port);
    return eng;
}

static int nodes_role(void *arg, int i, int is_master)
{
    supervisor *s = arg;
    if (s->follow[0])
        s->engines[i].primary = is_master;
    return !s->follow[0] && s->engines[i].primary;
}

static void nodes_describe(void *arg, int i, topo_node *n)
{
    supervisor *s = arg;
    engine *e = &s->engines[i];
    snprintf(n->addr, sizeof(n->addr), "%s", e->addr);
    snprintf(n->cluster_addr, sizeof(n->cluster_addr), "%s:%d", sup_engine_ip(s, e), e->port);
    snprintf(n->zone, sizeof(n->zone), "%s", e->zone);
}

/* Parse CLUSTER NODES into a topology, mapping cluster addresses to our engines. */
static topology *parse_nodes(supervisor *s, const char *text, size_t len)
{
    const nodes_map map = {nodes_find, nodes_role, nodes_describe, s};
    return nodes_parse(text, len, &map);
}

topology *supervisor_topology(supervisor *s)
{
    /* Ask a node created as a primary first: it is the most likely to be current. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < s->nengines; i++) {
            engine *e = &s->engines[i];
            if ((pass == 0) != (e->primary != 0) || e->pid == 0 || unresponsive(e))
                continue;
            const resp_value *v = ECALL(s, e, "CLUSTER", "NODES");
            if (sup_reply_ok(v) && (v->type == RESP_T_BULK || v->type == RESP_T_VERBATIM))
                return parse_nodes(s, v->str, v->len);
        }
    }
    return NULL;
}

topology *supervisor_topology_at_rest(supervisor *s)
{
    if (s->nengines == 0 && sup_load_manifest(s) <= 0)
        return NULL;
    for (int i = 0; i < s->nengines; i++) {
        char path[4300];
        snprintf(path, sizeof(path), "%s/nodes.conf", s->engines[i].dir);
        buf text;
        buf_init(&text);
        topology *t = NULL;
        if (file_read_all(path, &text, 1u << 20) == 0 && buf_used(&text))
            t = parse_nodes(s, buf_rptr(&text), buf_used(&text));
        buf_deinit(&text);
        if (t && t->nshards > 0)
            return t;
        if (t)
            topo_destroy(t);
    }
    return NULL;
}

void supervisor_sample(supervisor *s, supervisor_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->engines_total = s->nengines;
    out->restarts = s->restarts;
    out->failovers = s->failovers;
    snprintf(out->engine_version, sizeof(out->engine_version), "%s", s->version);
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->pid == 0 || unresponsive(e))
            continue;
        /* Memory and keys are summed per INFO request by the endpoint (exact, not a second
         * old); the sample only says which engines answer. */
        if (sup_reply_ok(ECALL(s, e, "PING")))
            out->engines_up++;
    }
}

void supervisor_set_idle(supervisor *s, void (*idle)(void *arg), void *arg)
{
    s->idle = idle;
    s->idle_arg = arg;
}

/* ---- load samples (autoscaler) ---- */

static double info_double(const resp_value *v, const char *field)
{
    char text[64];
    return sup_info_field(v, field, text, sizeof(text)) == 0 ? strtod(text, NULL) : 0;
}

int supervisor_sample_shards(supervisor *s, const topology *t, supervisor_shard_load *out)
{
    int rc = 0;
    for (int sh = 0; sh < t->nshards; sh++) {
        supervisor_shard_load *l = &out[sh];
        memset(l, 0, sizeof(*l));
        if (t->shards[sh].primary < 0)
            continue;
        snprintf(l->id, sizeof(l->id), "%s", t->nodes[t->shards[sh].primary].id);
        engine *e = sup_engine_by_id(s, l->id);
        if (!e) {
            rc = -1;
            continue;
        }
        const resp_value *v = ECALL(s, e, "INFO", "everything");
        if (!sup_reply_ok(v)) {
            rc = -1;
            continue;
        }
        uint64_t now = ev_clock_ms();
        l->t_ms = now;
        l->used_memory = (uint64_t)info_double(v, "used_memory");
        l->maxmemory = (uint64_t)info_double(v, "maxmemory");
        l->ops = info_double(v, "instantaneous_ops_per_sec");
        l->net_in = info_double(v, "instantaneous_input_kbps") * 1024 / 8;
        l->net_out = info_double(v, "instantaneous_output_kbps") * 1024 / 8;
        char ks[128];
        if (sup_info_field(v, "db0", ks, sizeof(ks)) == 0 && strncmp(ks, "keys=", 5) == 0)
            l->keys = strtoull(ks + 5, NULL, 10);
        double cpu = info_double(v, "used_cpu_sys") + info_double(v, "used_cpu_user");
        if (e->cpu_prev_ms && now > e->cpu_prev_ms)
            l->cpu = MAX(0.0, (cpu - e->cpu_prev) * 1000.0 / (double)(now - e->cpu_prev_ms));
        e->cpu_prev = cpu;
        e->cpu_prev_ms = now;
    }
    return rc;
}

int supervisor_set_maxmemory(supervisor *s, const char *primary_id, uint64_t bytes)
{
    engine *p = sup_engine_by_id(s, primary_id);
    if (!p)
        return -1;
    char val[32];
    snprintf(val, sizeof(val), "%llu", (unsigned long long)bytes);
    int rc = 0;
    for (int i = 0; i < s->nengines; i++) {
        engine *e = &s->engines[i];
        if (e->shard != p->shard)
            continue;
        e->maxmemory = bytes; /* kept in the rendered config if it restarts */
        if (e->pid > 0 && !sup_reply_ok(ECALL(s, e, "CONFIG", "SET", "maxmemory", val)))
            rc = -1;
    }
    sup_save_manifest(s); /* and across Stratus restarts */
    return rc;
}

int supervisor_info_primaries(supervisor *s, const topology *t, const char *section,
                              void (*fn)(void *arg, const char *text, size_t len), void *arg)
{
    int rc = 0;
    for (int sh = 0; sh < t->nshards; sh++) {
        if (t->shards[sh].primary < 0)
            continue;
        engine *e = sup_engine_by_id(s, t->nodes[t->shards[sh].primary].id);
        const resp_value *v = e && !unresponsive(e) ? ECALL(s, e, "INFO", section) : NULL;
        if (!sup_reply_ok(v) || (v->type != RESP_T_BULK && v->type != RESP_T_VERBATIM)) {
            rc = -1;
            continue;
        }
        fn(arg, v->str, v->len);
    }
    return rc;
}
