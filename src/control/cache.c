/* Cache lifecycle: secrets on disk, engines through the supervisor, topology publication. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/cache_int.h"

#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "cluster/agent.h"
#include "acl/acl_engine.h"
#include "acl/acl_log.h"
#include "control/hibernate.h"
#include "control/usage.h"
#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "net/ev.h"
#include "net/tls.h"
#include "acl/authguard.h"

static void choose_home(const topology *cur, topology *t);

void cache_event(cache *c, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_info("cache %s: %s: %s", c->view.name, kind, msg);
    if (!c->store)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static unsigned seq;
    char name[48], value[600];
    snprintf(name, sizeof(name), "%013lld-%06u", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
             seq++ % 1000000);
    int n = snprintf(value, sizeof(value), "%s\t%s", kind, msg);
    store_put(c->store, c->view.name, "event", name, value,
              (size_t)MIN((size_t)n, sizeof(value) - 1));
}

/* Read a secret file, or create it with nbytes of randomness (hex) and mode 0600. */
static int secret_file(const char *dir, const char *name, char *out, size_t outlen, size_t nbytes,
                       char *err, size_t errlen)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (f) {
        char line[256] = "";
        if (!fgets(line, sizeof(line), f))
            line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        if (strlen(line) >= 16 && strlen(line) < outlen) {
            snprintf(out, outlen, "%s", line);
            return 0;
        }
        snprintf(err, errlen, "%s is empty or damaged: delete it to generate a new one", path);
        return -1;
    }
    if (crypto_random_hex(out, nbytes) != 0) {
        snprintf(err, errlen, "cannot read random bytes for %s", path);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    char line[160];
    int n = snprintf(line, sizeof(line), "%s\n", out);
    int ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    return 0;
}

static int mkdirs(const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) == -1 && errno != EEXIST ? -1 : 0;
}

static void sync_users(cache *c);

/* While the supervisor waits (adding a shard): restarts, failovers, availability and the memory
 * guard go on. */
static void cache_idle(void *arg)
{
    cache *c = arg;
    autoscale_guard_memory(c);
    supervisor_poll(c->sup);
    sync_users(c);
    if (supervisor_check_primaries(c->sup))
        atomic_store(&c->view.refresh_wanted, 1);
    if (c->view.topo)
        supervisor_update_availability(c->sup, c->view.topo);
}

/* ---- the data path's view ---- */

/* The calls the endpoint's workers make back (proxy/view.h view_ops). */
static void op_script_add(void *owner, const char *sha, const char *body, size_t len)
{
    cache_script_add(owner, sha, body, len);
}

static int op_script_get(void *owner, const char *sha, size_t shalen, buf *out)
{
    return cache_script_get(owner, sha, shalen, out);
}

static void op_scripts_clear(void *owner)
{
    cache_scripts_clear(owner);
}

static void op_config_record(void *owner, const char *name, size_t nlen, const char *value,
                             size_t vlen)
{
    cache_config_record(owner, name, nlen, value, vlen, 1);
}

static int op_acl_setuser(void *owner, const char *name, size_t nlen, size_t nrules,
                          const char *const *rules, const size_t *lens, uint64_t *version,
                          char *err, size_t errlen)
{
    return cache_acl_setuser(owner, name, nlen, nrules, rules, lens, version, err, errlen);
}

static int op_acl_deluser(void *owner, size_t n, const char *const *names, const size_t *lens,
                          uint64_t *version, char *err, size_t errlen)
{
    return cache_acl_deluser(owner, n, names, lens, version, err, errlen);
}

static void op_stats(void *owner, view_stats *out)
{
    supervisor_stats st;
    cache_get_stats(owner, &st);
    memset(out, 0, sizeof(*out));
    snprintf(out->engine_version, sizeof(out->engine_version), "%s", st.engine_version);
    out->engines_total = st.engines_total;
    out->engines_up = st.engines_up;
    out->restarts = st.restarts;
    out->failovers = st.failovers;
}

static void op_wake(void *owner)
{
    cache_wake(owner);
}

static const view_ops view_ops_of_cache = {
    .script_add = op_script_add,
    .script_get = op_script_get,
    .scripts_clear = op_scripts_clear,
    .config_record = op_config_record,
    .acl_setuser = op_acl_setuser,
    .acl_deluser = op_acl_deluser,
    .stats = op_stats,
    .wake = op_wake,
};

/* The endpoint's limits from the settings (after the open-file budget resolved them). */
static void set_limits(view_limits *l, const settings *cfg)
{
    snprintf(l->bind, sizeof(l->bind), "%s", cfg->bind);
    l->port = cfg->port;
    l->plaintext_port = cfg->plaintext_port;
    l->reader_port = cfg->reader_port;
    l->backend_timeout = cfg->backend_timeout;
    l->handshake_timeout = cfg->handshake_timeout;
    l->auth_timeout = cfg->auth_timeout;
    l->idle_timeout = cfg->idle_timeout;
    l->maxclients = cfg->maxclients;
    l->max_blocking_clients = cfg->max_blocking_clients;
    l->max_blocking_per_user = cfg->max_blocking_per_user;
    l->auth_failures_per_minute = cfg->auth_failures_per_minute;
}

proxy_view *cache_view(cache *c, int workers)
{
    usage_init(c, workers);
    return &c->view;
}

/* The cache's admin user: every permission, the cache password. Clients cannot change it. */
static acl_user *default_user(const cache *c)
{
    acl_user *u = acl_user_create_superuser("default");
    char rule[80], err[128];
    snprintf(rule, sizeof(rule), ">%s", c->password);
    acl_user_apply(u, rule, strlen(rule), err, sizeof(err));
    return u;
}

cache *cache_create(const char *name, const settings *cfg, const char *engine_binary, char *err,
                    size_t errlen)
{
    cache *c = xcalloc(1, sizeof(*c));
    view_init(&c->view);
    c->view.ops = &view_ops_of_cache;
    c->view.owner = c;
    set_limits(&c->view.limits, cfg);
    snprintf(c->view.name, sizeof(c->view.name), "%s", name);
    snprintf(c->dir, sizeof(c->dir), "%s/caches/%s", cfg->data_dir, name);
    c->cfg = cfg;
    c->wake_fd = -1;
    /* The endpoint's zone: --zone, else the preferred zone, else the first of --zones (z1). */
    char first[16] = "z1";
    if (cfg->zones[0])
        snprintf(first, sizeof(first), "%.*s", (int)strcspn(cfg->zones, ","), cfg->zones);
    snprintf(c->view.zone, sizeof(c->view.zone), "%s",
             cfg->zone[0]             ? cfg->zone
             : cfg->preferred_zone[0] ? cfg->preferred_zone
                                      : first);
    pthread_mutex_init(&c->stats_lock, NULL);
    pthread_mutex_init(&c->scripts_lock, NULL);
    pthread_mutex_init(&c->state_lock, NULL);
    if (mkdirs(c->dir) != 0) {
        snprintf(err, errlen, "--data-dir: cannot create %s: %s", c->dir, strerror(errno));
        goto fail;
    }
    c->view.follow = cfg->follow[0] != 0;
    static const char *const shared[] = {"password", "internal-password", "proxy-password"};
    for (size_t i = 0; c->view.follow && i < ARRAY_LEN(shared); i++) {
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", c->dir, shared[i]);
        if (access(path, R_OK) != 0) {
            snprintf(err, errlen,
                     "--follow: %s is missing: a zone endpoint serves the cache of a control "
                     "plane elsewhere; copy password, internal-password and proxy-password from "
                     "its <data-dir>/caches/%s (and its tls directory) here",
                     path, name);
            goto fail;
        }
    }
    if (secret_file(c->dir, "password", c->password, sizeof(c->password), 24, err, errlen) != 0 ||
        secret_file(c->dir, "internal-password", c->internal_password, sizeof(c->internal_password),
                    32, err, errlen) != 0 ||
        secret_file(c->dir, "proxy-password", c->view.proxy_password,
                    sizeof(c->view.proxy_password), 32, err, errlen) != 0 ||
        secret_file(c->dir, "node-id", c->view.node_id, sizeof(c->view.node_id), 20, err, errlen) !=
            0)
        goto fail;
    unsigned long long mem;
    if (settings_parse_size(cfg->shard_memory, &mem) != 0 || mem < 1024 * 1024) {
        snprintf(err, errlen,
                 "--shard-memory: '%s' is not a size of at least 1mb (e.g. 512mb, 1gb)",
                 cfg->shard_memory);
        goto fail;
    }
    if (strcmp(cfg->autoscale, "on") != 0 && strcmp(cfg->autoscale, "off") != 0) {
        snprintf(err, errlen, "--autoscale: '%s' is not on or off", cfg->autoscale);
        goto fail;
    }
    if (cfg->min_shards > cfg->max_shards) {
        snprintf(err, errlen, "--min-shards (%ld) is above --max-shards (%ld)", cfg->min_shards,
                 cfg->max_shards);
        goto fail;
    }
    if (meter_quotas_parse(cfg->user_ecpu_per_second, NULL, NULL, err, errlen) != 0)
        goto fail;
    if (strcmp(cfg->metering, "on") != 0 && strcmp(cfg->metering, "off") != 0) {
        snprintf(err, errlen, "--metering: '%s' is not on or off", cfg->metering);
        goto fail;
    }
    if (strcmp(cfg->durability, "async") != 0 && strcmp(cfg->durability, "sync") != 0) {
        snprintf(err, errlen, "--durability: '%s' is not async or sync", cfg->durability);
        goto fail;
    }
    c->view.sync_writes = strcmp(cfg->durability, "sync") == 0;
    if (c->view.sync_writes && cfg->replicas < 1) {
        snprintf(err, errlen,
                 "--durability sync needs a replica to confirm writes: use "
                 "--replicas 1 or more, or --durability async");
        goto fail;
    }
    char token[256] = "";
    if (cfg->zone_agents[0] && !c->view.follow) {
        char tpath[4200];
        snprintf(tpath, sizeof(tpath), "%s", cfg->agent_token_file[0] ? cfg->agent_token_file : "");
        if (!tpath[0])
            snprintf(tpath, sizeof(tpath), "%s/agent-token", cfg->data_dir);
        if (agent_token_ensure(tpath, token, sizeof(token), err, errlen) != 0)
            goto fail;
    }
    unsigned long long limit = 0;
    if (strcmp(cfg->max_storage, "0") != 0 &&
        (settings_parse_size(cfg->max_storage, &limit) != 0 ||
         limit < (unsigned long long)cfg->shards * 4 * 1024 * 1024)) {
        snprintf(err, errlen,
                 "--max-storage: '%s' is not a size of at least 4mb per shard (e.g. 1gb), or 0 "
                 "for none",
                 cfg->max_storage);
        goto fail;
    }
    if (!cache_eviction_ok(cfg->eviction)) {
        snprintf(err, errlen, "--eviction: '%s' is not one of %s", cfg->eviction,
                 cache_eviction_policies());
        goto fail;
    }
    snprintf(c->view.eviction, sizeof(c->view.eviction), "%s", cfg->eviction);
    unsigned long long out_limit;
    if (settings_parse_size(cfg->client_output_limit, &out_limit) != 0 ||
        (out_limit && out_limit < 64 * 1024)) {
        snprintf(err, errlen,
                 "--client-output-limit: '%s' is not a size of at least 64kb (e.g. 256mb), or 0 "
                 "for none",
                 cfg->client_output_limit);
        goto fail;
    }
    c->view.limits.output_limit = out_limit;
    c->view.auth_guard = auth_guard_create((unsigned)cfg->auth_failures_per_minute);
    if (!limit && strcmp(cfg->eviction, "volatile-lru") != 0)
        log_info("cache %s: --eviction %s applies once the cache has a --max-storage; without "
                 "one the engines never evict (a full shard is the autoscaler's cue)",
                 name, cfg->eviction);
    c->view.max_storage = limit;
    c->shard_memory = mem;
    c->sleep.after_ms = cfg->hibernate_after * 1000;
    c->autoscale = strcmp(cfg->autoscale, "on") == 0 && !c->view.follow && !limit;
    if (limit && strcmp(cfg->autoscale, "on") == 0)
        log_info("cache %s: --max-storage keeps the shard count at %ld (the limit is split "
                 "evenly over the shards): autoscaling is off",
                 name, cfg->shards);
    scale_policy_config_default(&c->policy);
    c->policy.min_shards = (int)cfg->min_shards;
    c->policy.max_shards = (int)cfg->max_shards;
    c->policy.out_window_ms = (uint64_t)cfg->scale_out_window;
    c->policy.in_window_ms = (uint64_t)cfg->scale_in_window;
    c->policy.out_cooldown_ms = (uint64_t)cfg->scale_out_cooldown;
    c->policy.in_cooldown_ms = (uint64_t)cfg->scale_in_cooldown;
    scale_state_init(&c->scale);
    acl_table *empty = acl_table_create();
    c->view.acl = acl_table_with(empty, default_user(c));
    acl_table_destroy(empty);
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake_fd == -1) {
        snprintf(err, errlen, "cannot create an eventfd: %s", strerror(errno));
        goto fail;
    }
    buf proxy_rules;
    buf_init(&proxy_rules);
    acl_engine_endpoint_rules(c->view.proxy_password, &proxy_rules);
    c->view.acl_log = acl_log_create(ACL_LOG_MAX_LEN_DEFAULT);
    supervisor_config sc = {
        .cache_name = c->view.name,
        .dir = c->dir,
        .engine_binary = engine_binary,
        .password = c->internal_password,
        .proxy_password = c->view.proxy_password,
        .proxy_rules = buf_rptr(&proxy_rules),
        .shards = (int)cfg->shards,
        .replicas = (int)cfg->replicas,
        .node_timeout_ms = (int)cfg->node_timeout,
        .failover_timeout_ms = (int)cfg->failover_timeout,
        .maxmemory = limit ? MIN(c->shard_memory, limit / (uint64_t)cfg->shards) : c->shard_memory,
        /* Without a limit a full shard is the autoscaler's cue, never a reason to drop keys. */
        .maxmemory_policy = limit ? c->view.eviction : "noeviction",
        .sync_writes = c->view.sync_writes,
        .zones = cfg->zones,
        .preferred_zone = cfg->preferred_zone,
        .zone_netns = cfg->zone_netns,
        .zone_agents = cfg->zone_agents, /* a follower only maps addresses to zones */
        .follow = cfg->follow,
        .agent_token = token,
        .failback_delay_ms = (int)cfg->failback_delay,
        /* Private links of blocked clients, and the shared links of every worker and user. */
        .engine_maxclients = cfg->max_blocking_clients + 4096,
    };
    c->sup = supervisor_create(&sc);
    buf_deinit(&proxy_rules);
    supervisor_set_idle(c->sup, cache_idle, c);
    return c;
fail:
    if (c->wake_fd != -1)
        close(c->wake_fd);
    auth_guard_destroy(c->view.auth_guard);
    pthread_mutex_destroy(&c->stats_lock);
    pthread_mutex_destroy(&c->scripts_lock);
    pthread_mutex_destroy(&c->state_lock);
    view_deinit(&c->view);
    xfree(c);
    return NULL;
}

static void publish(cache *c, topology *t)
{
    atomic_store(&c->view.nshards, t->nshards);
    topology *old = rcu_xchg_pointer(&c->view.topo, t);
    if (old) {
        synchronize_rcu();
        topo_destroy(old);
    }
}

int cache_start(cache *c, char *err, size_t errlen)
{
    c->view.started_ms = ev_clock_ms();
    if (!c->view.follow && hibernate_present(c->dir)) {
        /* It was asleep when the service stopped: it stays asleep, with no route until the
         * first request wakes it (which verifies the snapshot then). */
        uint64_t bytes = 0;
        char why[400];
        if (hibernate_verify(c->dir, &bytes, why, sizeof(why)) != 0)
            log_warn("cache %s: its hibernation snapshot does not verify: %s", c->view.name, why);
        atomic_store(&c->sleep.rest_bytes, bytes);
        atomic_store(&c->view.sleep.asleep, 1);
        topology *t = supervisor_topology_at_rest(c->sup);
        if (!t) {
            snprintf(err, errlen, "cache %s is asleep but its engines' nodes.conf is unreadable",
                     c->view.name);
            return -1;
        }
        t->version = 1;
        choose_home(NULL, t);
        for (int i = 0; i < t->nnodes; i++)
            atomic_store(&t->nodes[i].available, 0);
        publish(c, t);
        log_info("cache %s: asleep (hibernated, %llu bytes at rest); the first request wakes it",
                 c->view.name, (unsigned long long)bytes);
        return 0;
    }
    if (supervisor_start(c->sup, (int)c->cfg->start_timeout, err, errlen) != 0)
        return -1;
    int repaired = supervisor_repair_slots(c->sup);
    if (repaired > 0)
        cache_event(c, "repair", "%d slot move(s) left half-done by a crash were finished",
                    repaired);
    topology *t = supervisor_topology(c->sup);
    if (!t) {
        snprintf(err, errlen, "no engine answered CLUSTER NODES after start");
        return -1;
    }
    t->version = 1;
    choose_home(NULL, t);
    sync_users(c);
    supervisor_update_availability(c->sup, t);
    publish(c, t);
    cache_tick(c, 1);
    return 0;
}

static void persist_state(cache *c);

/* The pub/sub home stays the engine it was while that engine is a primary, so subscribers'
 * connections and PUBLISH's exact receiver counts survive resharding. */
static void choose_home(const topology *cur, topology *t)
{
    t->pubsub_home = t->nshards > 0 ? t->shards[0].primary : -1;
    if (!cur || cur->pubsub_home < 0)
        return;
    const char *id = cur->nodes[cur->pubsub_home].id;
    for (int i = 0; i < t->nnodes; i++)
        if (t->nodes[i].primary && strcmp(t->nodes[i].id, id) == 0)
            t->pubsub_home = i;
}

void cache_rebuild_topology(cache *c)
{
    topology *t = supervisor_topology(c->sup);
    if (!t)
        return;
    const topology *cur = c->view.topo;
    choose_home(cur, t);
    if (cur && topo_same_routes(cur, t) &&
        (cur->pubsub_home < 0 || t->pubsub_home < 0 ||
         strcmp(cur->nodes[cur->pubsub_home].id, t->nodes[t->pubsub_home].id) == 0)) {
        topo_destroy(t);
        return;
    }
    t->version = (cur ? cur->version : 0) + 1;
    /* Start from what is known of each node, so only real changes are logged. */
    for (int i = 0; cur && i < t->nnodes; i++)
        for (int j = 0; j < cur->nnodes; j++)
            if (strcmp(t->nodes[i].addr, cur->nodes[j].addr) == 0)
                atomic_store(&t->nodes[i].available, atomic_load(&cur->nodes[j].available));
    supervisor_update_availability(c->sup, t);
    log_info("cache %s: topology v%llu: %d shard(s), %d engine(s)", c->view.name,
             (unsigned long long)t->version, t->nshards, t->nnodes);
    publish(c, t);
}

void cache_tick(cache *c, int full)
{
    persist_state(c);
    if (hibernate_tick(c, full)) {
        sync_users(c); /* asleep: a change needs no engine, and is answered at once */
        usage_tick(c);
        return;
    }
    supervisor_poll(c->sup);
    int failovers = supervisor_check_primaries(c->sup);
    if (failovers) {
        cache_event(c, "failover", "%d primary(ies) replaced by a replica; see the log", failovers);
        if (c->reshard.active)
            reshard_replan(c);
    }
    reshard_step(c);
    usage_tick(c);
    sync_users(c);
    supervisor_update_availability(c->sup, c->view.topo);
    if (full || failovers || atomic_exchange(&c->view.refresh_wanted, 0))
        cache_rebuild_topology(c);
    autoscale_step(c);
    if (full) {
        supervisor_stats st;
        supervisor_sample(c->sup, &st);
        pthread_mutex_lock(&c->stats_lock);
        c->stats = st;
        pthread_mutex_unlock(&c->stats_lock);
    }
}

const topology *cache_topology(const cache *c)
{
    return rcu_dereference(c->view.topo);
}

void cache_get_stats(cache *c, supervisor_stats *out)
{
    pthread_mutex_lock(&c->stats_lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->stats_lock);
}

void cache_stop(cache *c)
{
    persist_state(c);
    usage_flush(c);
    supervisor_stop(c->sup, 30000);
}

void cache_script_add(cache *c, const char *sha, const char *body, size_t len)
{
    pthread_mutex_lock(&c->scripts_lock);
    for (size_t i = 0; i < c->nscripts; i++) {
        if (strcmp(c->scripts[i].sha, sha) == 0) {
            pthread_mutex_unlock(&c->scripts_lock);
            return;
        }
    }
    if (c->nscripts == c->scripts_cap) {
        c->scripts_cap = c->scripts_cap ? c->scripts_cap * 2 : 16;
        c->scripts = xrealloc(c->scripts, c->scripts_cap * sizeof(*c->scripts));
    }
    cache_script *s = &c->scripts[c->nscripts++];
    snprintf(s->sha, sizeof(s->sha), "%s", sha);
    s->body = xstrndup(body, len);
    s->len = len;
    pthread_mutex_unlock(&c->scripts_lock);
    pthread_mutex_lock(&c->state_lock);
    c->scripts_dirty = 1;
    pthread_mutex_unlock(&c->state_lock);
}

int cache_script_get(cache *c, const char *sha, size_t shalen, buf *out)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&c->scripts_lock);
    for (size_t i = 0; i < c->nscripts; i++) {
        if (shalen == 40 && strncasecmp(c->scripts[i].sha, sha, 40) == 0) {
            buf_append(out, c->scripts[i].body, c->scripts[i].len);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&c->scripts_lock);
    return rc;
}

void cache_scripts_clear(cache *c)
{
    pthread_mutex_lock(&c->scripts_lock);
    for (size_t i = 0; i < c->nscripts; i++)
        xfree(c->scripts[i].body);
    c->nscripts = 0;
    pthread_mutex_unlock(&c->scripts_lock);
    pthread_mutex_lock(&c->state_lock);
    c->scripts_dirty = 1;
    pthread_mutex_unlock(&c->state_lock);
}

/* ---- eviction ---- */

/* Redis's maxmemory-policy names; volatile-* evict keys with a TTL only. */
static const char *const eviction_policies[] = {
    "volatile-lru", "volatile-lfu", "volatile-ttl",   "volatile-random",
    "allkeys-lru",  "allkeys-lfu",  "allkeys-random", "noeviction",
};

int cache_eviction_ok(const char *policy)
{
    for (size_t i = 0; i < ARRAY_LEN(eviction_policies); i++)
        if (strcmp(policy, eviction_policies[i]) == 0)
            return 1;
    return 0;
}

const char *cache_eviction_policies(void)
{
    return "volatile-lru, volatile-lfu, volatile-ttl, volatile-random, allkeys-lru, "
           "allkeys-lfu, allkeys-random, noeviction";
}

/* ---- CONFIG SET overrides ---- */

void cache_config_record(cache *c, const char *name, size_t nlen, const char *value, size_t vlen,
                         int from_client)
{
    char lname[64];
    snprintf(lname, sizeof(lname), "%.*s", (int)MIN(nlen, sizeof(lname) - 1), name);
    for (char *p = lname; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    pthread_mutex_lock(&c->state_lock);
    size_t i;
    for (i = 0; i < c->noverrides; i++)
        if (strcmp(c->overrides[i].name, lname) == 0)
            break;
    if (i == c->noverrides) {
        c->overrides = xrealloc(c->overrides, (c->noverrides + 1) * sizeof(*c->overrides));
        snprintf(c->overrides[i].name, sizeof(c->overrides[i].name), "%s", lname);
        c->overrides[i].value = NULL;
        c->noverrides++;
    }
    xfree(c->overrides[i].value);
    c->overrides[i].value = xstrndup(value, vlen);
    c->overrides_dirty = 1;
    if (!from_client)
        c->overrides_primaries = 1;
    pthread_mutex_unlock(&c->state_lock);
    if (strcmp(lname, "acllog-max-len") == 0) {
        /* The engines checked the value: a number from 0 to LONG_MAX. */
        char num[24];
        snprintf(num, sizeof(num), "%.*s", (int)MIN(vlen, sizeof(num) - 1), value);
        acl_log_set_max_len(c->view.acl_log, (size_t)strtoull(num, NULL, 10));
    }
}

/* ---- ACL users ---- */

const acl_table *cache_acl(const cache *c)
{
    return rcu_dereference(c->view.acl);
}

/* Publish t (state_lock held); the old table is freed after a grace period. */
static void publish_acl(cache *c, acl_table *t)
{
    acl_table *old = rcu_xchg_pointer(&c->view.acl, t);
    c->retired = xrealloc(c->retired, (c->nretired + 1) * sizeof(*c->retired));
    c->retired[c->nretired++] = old;
    c->users_dirty = 1;
    cache_wake(c); /* the engines get the change at once (sync_users) */
}

void cache_wake(cache *c)
{
    uint64_t one = 1;
    if (c->wake_fd != -1 && write(c->wake_fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
        log_warn("cache %s: cannot wake the control thread: %s", c->view.name, strerror(errno));
}

/* Control thread: the engines' users follow the cache's. When the table changed, the engine
 * identity of every user (and the endpoint's own) is rendered again for the supervisor; each
 * running engine that is behind is brought in step, and the version they all have is published
 * for the workers (an ACL SETUSER is answered once the engines have it). */
static void sync_users(cache *c)
{
    const acl_table *t = c->view.acl; /* only this thread frees tables */
    if (t->version != c->engine_users_version) {
        char hash[65];
        crypto_sha256_hex(c->view.proxy_password, strlen(c->view.proxy_password), hash);
        buf cmds, names;
        buf_init(&cmds);
        buf_init(&names);
        const char **argv = xmalloc((t->n + 2) * sizeof(char *));
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++) {
            acl_engine_setuser(t->users[i], hash, &cmds);
            acl_engine_user_name(t->users[i]->name, strlen(t->users[i]->name), &names);
            buf_append(&names, "", 1);
        }
        const char *p = buf_rptr(&names);
        for (size_t i = 0; i < t->n; i++) {
            argv[n++] = p;
            p += strlen(p) + 1;
        }
        acl_engine_endpoint_setuser(c->view.proxy_password, &cmds);
        supervisor_set_users(c->sup, t->version, &cmds, t->n + 1, argv, n, ACL_ENGINE_PREFIX);
        xfree(argv);
        buf_deinit(&names);
        buf_deinit(&cmds);
        c->engine_users_version = t->version;
    }
    atomic_store_explicit(&c->view.acl_engines_version, supervisor_sync_users(c->sup),
                          memory_order_release);
}

static int is_default(const char *name, size_t len)
{
    return len == 7 && memcmp(name, "default", 7) == 0;
}

int cache_acl_setuser(cache *c, const char *name, size_t nlen, size_t nrules,
                      const char *const *rules, const size_t *lens, uint64_t *version, char *err,
                      size_t errlen)
{
    if (is_default(name, nlen)) {
        snprintf(err, errlen,
                 "ERR the 'default' user is the cache's admin user and is managed by Stratus "
                 "(its password is in %s/password); create another user with ACL SETUSER",
                 c->dir);
        return -EINVAL;
    }
    int spaces = nlen == 0; /* Redis's ACLStringHasSpaces: white space or NUL */
    for (size_t i = 0; i < nlen; i++)
        spaces |= name[i] == ' ' || (name[i] >= '\t' && name[i] <= '\r') || name[i] == '\0';
    if (spaces) {
        snprintf(err, errlen, "ERR Usernames can't contain spaces or null characters");
        return -EINVAL;
    }
    pthread_mutex_lock(&c->state_lock);
    const acl_user *cur = acl_table_find(c->view.acl, name, nlen);
    acl_user *u = cur ? acl_user_dup(cur) : acl_user_create(name, nlen);
    for (size_t i = 0; i < nrules; i++) {
        char why[200];
        if (acl_user_apply(u, rules[i], lens[i], why, sizeof(why)) != 0) {
            pthread_mutex_unlock(&c->state_lock);
            acl_user_destroy(u);
            snprintf(err, errlen, "ERR Error in ACL SETUSER modifier '%.*s': %s",
                     (int)MIN(lens[i], 256), rules[i], why);
            return -EINVAL;
        }
    }
    acl_table *t = acl_table_with(c->view.acl, u);
    *version = t->version;
    publish_acl(c, t);
    pthread_mutex_unlock(&c->state_lock);
    return 0;
}

int cache_acl_deluser(cache *c, size_t n, const char *const *names, const size_t *lens,
                      uint64_t *version, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (is_default(names[i], lens[i])) {
            snprintf(err, errlen, "ERR The 'default' user cannot be removed");
            return -EINVAL;
        }
    }
    int removed = 0;
    pthread_mutex_lock(&c->state_lock);
    for (size_t i = 0; i < n; i++) {
        if (!acl_table_find(c->view.acl, names[i], lens[i]))
            continue;
        publish_acl(c, acl_table_without(c->view.acl, names[i], lens[i]));
        removed++;
    }
    *version = c->view.acl->version;
    pthread_mutex_unlock(&c->state_lock);
    return removed;
}

/* ---- durable state ---- */

static void load_override(void *arg, const char *name, const char *value, size_t vlen)
{
    cache *c = arg;
    /* A policy a client set before the cache had a storage limit: the limit's --eviction
     * decides now (the stored value comes back if the limit goes). */
    if (c->view.max_storage && strcmp(name, "maxmemory-policy") == 0) {
        log_info("cache %s: CONFIG SET maxmemory-policy %.*s set earlier is not applied: the "
                 "storage limit evicts with --eviction %s",
                 c->view.name, (int)MIN(vlen, 32), value, c->view.eviction);
        return;
    }
    cache_config_record(c, name, strlen(name), value, vlen, 0);
}

static void load_user(void *arg, const char *name, const char *value, size_t vlen)
{
    cache *c = arg;
    char *text = xstrndup(value, vlen);
    char err[256];
    acl_user *u = acl_user_create(name, strlen(name));
    if (acl_user_apply_text(u, text, err, sizeof(err)) != 0) {
        log_error("cache %s: stored ACL user %s has a rule Stratus cannot read (%s); it is left "
                  "out",
                  c->view.name, name, err);
        acl_user_destroy(u);
    } else {
        acl_table *t = acl_table_with(c->view.acl, u);
        acl_table_destroy(c->view.acl);
        c->view.acl = t;
    }
    xfree(text);
}

static void load_script(void *arg, const char *name, const char *value, size_t vlen)
{
    cache_script_add(arg, name, value, vlen);
}

int cache_attach_store(cache *c, store *st, char *err, size_t errlen)
{
    c->store = st;
    if (store_each(st, c->view.name, "config", load_override, c) != 0 ||
        store_each(st, c->view.name, "user", load_user, c) != 0 ||
        store_each(st, c->view.name, "script", load_script, c) != 0) {
        snprintf(err, errlen, "cannot read the state of cache %s from the store", c->view.name);
        return -1;
    }
    pthread_mutex_lock(&c->state_lock);
    c->users_dirty = c->scripts_dirty = 0;
    pthread_mutex_unlock(&c->state_lock);
    usage_load(c);
    return 0;
}

/* Control thread: write what clients changed to the store, apply CONFIG SET values to every
 * engine (replicas too, and the rendered file of any engine started later), and free replaced
 * user tables once no worker can hold them. */
static void persist_state(cache *c)
{
    pthread_mutex_lock(&c->state_lock);
    int ov = c->overrides_dirty, us = c->users_dirty, sc = c->scripts_dirty;
    int ov_primaries = c->overrides_primaries;
    c->overrides_dirty = c->users_dirty = c->scripts_dirty = c->overrides_primaries = 0;
    size_t n = ov ? c->noverrides : 0;
    const char **names = n ? xmalloc(n * sizeof(char *)) : NULL;
    const char **values = n ? xmalloc(n * sizeof(char *)) : NULL;
    for (size_t i = 0; i < n; i++) {
        names[i] = xstrdup(c->overrides[i].name);
        values[i] = xstrdup(c->overrides[i].value);
    }
    acl_table **retired = c->retired;
    size_t nretired = c->nretired;
    c->retired = NULL;
    c->nretired = 0;
    pthread_mutex_unlock(&c->state_lock);
    if (ov) {
        supervisor_set_overrides(c->sup, n, names, values, ov_primaries);
        for (size_t i = 0; i < n && c->store; i++)
            store_put(c->store, c->view.name, "config", names[i], values[i], strlen(values[i]));
        for (size_t i = 0; i < n; i++) {
            xfree((char *)names[i]);
            xfree((char *)values[i]);
        }
        xfree(names);
        xfree(values);
    }
    if (nretired) {
        synchronize_rcu();
        for (size_t i = 0; i < nretired; i++)
            acl_table_destroy(retired[i]);
        xfree(retired);
    }
    if (us && c->store) {
        const acl_table *t = c->view.acl; /* only this thread frees tables */
        store_clear(c->store, c->view.name, "user");
        buf text;
        buf_init(&text);
        for (size_t i = 0; i < t->n; i++) {
            if (strcmp(t->users[i]->name, "default") == 0)
                continue;
            buf_consume(&text, buf_used(&text));
            acl_user_describe_stored(t->users[i], &text);
            store_put(c->store, c->view.name, "user", t->users[i]->name, buf_rptr(&text),
                      buf_used(&text));
        }
        buf_deinit(&text);
    }
    if (sc && c->store) {
        store_clear(c->store, c->view.name, "script");
        pthread_mutex_lock(&c->scripts_lock);
        for (size_t i = 0; i < c->nscripts; i++)
            store_put(c->store, c->view.name, "script", c->scripts[i].sha, c->scripts[i].body,
                      c->scripts[i].len);
        pthread_mutex_unlock(&c->scripts_lock);
    }
}

void cache_destroy(cache *c)
{
    if (!c)
        return;
    cache_scripts_clear(c);
    xfree(c->scripts);
    usage_deinit(c);
    auth_guard_destroy(c->view.auth_guard);
    pthread_mutex_destroy(&c->scripts_lock);
    for (size_t i = 0; i < c->noverrides; i++)
        xfree(c->overrides[i].value);
    xfree(c->overrides);
    for (size_t i = 0; i < c->nretired; i++)
        acl_table_destroy(c->retired[i]);
    xfree(c->retired);
    acl_table_destroy(c->view.acl);
    acl_log_destroy(c->view.acl_log);
    xfree(c->reshard.moves);
    scale_state_deinit(&c->scale);
    pthread_mutex_destroy(&c->state_lock);
    supervisor_destroy(c->sup);
    topo_destroy(c->view.topo);
    pthread_mutex_destroy(&c->stats_lock);
    if (c->wake_fd != -1)
        close(c->wake_fd);
    view_deinit(&c->view);
    xfree(c);
}
