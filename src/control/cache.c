/* Cache lifecycle: secrets on disk, engines through the supervisor, topology publication. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "net/ev.h"

static int random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof(raw) || getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
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
    if (random_hex(out, nbytes) != 0) {
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

cache *cache_create(const char *name, const settings *cfg, const char *engine_binary, char *err,
                    size_t errlen)
{
    cache *c = xcalloc(1, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->dir, sizeof(c->dir), "%s/caches/%s", cfg->data_dir, name);
    c->cfg = cfg;
    c->plaintext_port = -1;
    pthread_mutex_init(&c->stats_lock, NULL);
    pthread_mutex_init(&c->scripts_lock, NULL);
    if (mkdirs(c->dir) != 0) {
        snprintf(err, errlen, "--data-dir: cannot create %s: %s", c->dir, strerror(errno));
        goto fail;
    }
    if (secret_file(c->dir, "password", c->password, sizeof(c->password), 24, err, errlen) != 0 ||
        secret_file(c->dir, "internal-password", c->internal_password, sizeof(c->internal_password),
                    32, err, errlen) != 0 ||
        secret_file(c->dir, "node-id", c->node_id, sizeof(c->node_id), 20, err, errlen) != 0)
        goto fail;
    supervisor_config sc = {
        .cache_name = c->name,
        .dir = c->dir,
        .engine_binary = engine_binary,
        .password = c->internal_password,
        .shards = (int)cfg->shards,
        .replicas = (int)cfg->replicas,
        .node_timeout_ms = (int)cfg->node_timeout,
    };
    c->sup = supervisor_create(&sc);
    return c;
fail:
    pthread_mutex_destroy(&c->stats_lock);
    pthread_mutex_destroy(&c->scripts_lock);
    xfree(c);
    return NULL;
}

static void publish(cache *c, topology *t)
{
    topology *old = rcu_xchg_pointer(&c->topo, t);
    if (old) {
        synchronize_rcu();
        topo_destroy(old);
    }
}

int cache_start(cache *c, char *err, size_t errlen)
{
    c->started_ms = ev_clock_ms();
    if (supervisor_start(c->sup, (int)c->cfg->start_timeout, err, errlen) != 0)
        return -1;
    topology *t = supervisor_topology(c->sup);
    if (!t) {
        snprintf(err, errlen, "no engine answered CLUSTER NODES after start");
        return -1;
    }
    t->version = 1;
    supervisor_update_availability(c->sup, t);
    publish(c, t);
    cache_tick(c, 1);
    return 0;
}

void cache_tick(cache *c, int full)
{
    supervisor_poll(c->sup);
    supervisor_update_availability(c->sup, c->topo);
    if (!full && !atomic_exchange(&c->refresh_wanted, 0))
        return;
    topology *t = supervisor_topology(c->sup);
    if (t) {
        const topology *cur = c->topo;
        if (cur && topo_same_routes(cur, t)) {
            topo_destroy(t);
        } else {
            t->version = (cur ? cur->version : 0) + 1;
            supervisor_update_availability(c->sup, t);
            log_info("cache %s: topology v%llu: %d shard(s), %d engine(s)", c->name,
                     (unsigned long long)t->version, t->nshards, t->nnodes);
            publish(c, t);
        }
    }
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
    return rcu_dereference(c->topo);
}

void cache_get_stats(cache *c, supervisor_stats *out)
{
    pthread_mutex_lock(&c->stats_lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->stats_lock);
}

void cache_stop(cache *c)
{
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
}

void cache_destroy(cache *c)
{
    if (!c)
        return;
    cache_scripts_clear(c);
    xfree(c->scripts);
    pthread_mutex_destroy(&c->scripts_lock);
    supervisor_destroy(c->sup);
    topo_destroy(c->topo);
    pthread_mutex_destroy(&c->stats_lock);
    xfree(c);
}
