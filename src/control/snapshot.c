/* Snapshots (see snapshot.h). A snapshot directory counts only once its manifest exists: the
 * manifest is written last, atomically, so a crash mid-way leaves no snapshot that looks whole. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/snapshot.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/engine.h"
#include "cluster/supervisor.h"
#include "common/alloc.h"
#include "common/file.h"
#include "common/log.h"
#include "control/endpoint.h"
#include "control/hibernate.h"
#include "net/ev.h"
#include "net/tls.h"
#include "proto/resp.h"

#define SAVE_MS 300000 /* a BGSAVE must finish within this */
#define BATCH 256      /* keys per pipelined round when copying */

static const char *snap_root(plane *p, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/snapshots", plane_settings(p)->data_dir);
    return out;
}

static void snap_dir(plane *p, const char *name, char *out, size_t outlen)
{
    char root[4200];
    snprintf(out, outlen, "%s/%s", snap_root(p, root, sizeof(root)), name);
}

static int snap_name_ok(const char *n, char *err, size_t errlen)
{
    size_t len = strlen(n);
    int ok = len >= 1 && len <= 63 && isalnum((unsigned char)n[0]);
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)n[i]) || n[i] == '-' || n[i] == '_' || n[i] == '.';
    if (!ok)
        snprintf(err, errlen,
                 "snapshot name \"%.80s\": use 1 to 63 letters, digits, '-', '_' or '.', starting "
                 "with a letter or digit",
                 n);
    return ok ? 0 : -EINVAL;
}

/* ---- manifests ---- */

typedef struct {
    snapshot_info info;
    char file[64][32];
    uint64_t size[64];
    char sha[64][65];
} manifest;

static int manifest_write(plane *p, const manifest *m)
{
    char dir[4300], path[4400];
    snap_dir(p, m->info.name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/manifest", dir);
    buf b;
    buf_init(&b);
    buf_appendf(&b, "name %s\ncache %s\nkind %s\ncreated_ms %lld\nkeys %llu\n", m->info.name,
                m->info.cache[0] ? m->info.cache : "-", m->info.kind, (long long)m->info.created_ms,
                (unsigned long long)m->info.keys);
    for (int i = 0; i < m->info.files; i++)
        buf_appendf(&b, "file %s %llu %s\n", m->file[i], (unsigned long long)m->size[i], m->sha[i]);
    buf_appendf(&b, "end\n");
    int rc = file_write_atomic(path, buf_rptr(&b), buf_used(&b), 0600);
    buf_deinit(&b);
    return rc;
}

static int manifest_read(plane *p, const char *name, manifest *m)
{
    char dir[4300], path[4400];
    snap_dir(p, name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/manifest", dir);
    buf b;
    buf_init(&b);
    int rc = file_read_all(path, &b, 1u << 20);
    if (rc != 0) {
        buf_deinit(&b);
        return rc == -ENOENT ? -ENOENT : -EIO;
    }
    buf_append(&b, "", 1);
    memset(m, 0, sizeof(*m));
    int ended = 0;
    char *save = NULL;
    for (char *l = strtok_r(b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        unsigned long long u;
        long long ll;
        char w[128];
        if (sscanf(l, "name %63s", m->info.name) == 1) {
        } else if (sscanf(l, "cache %40s", w) == 1) {
            snprintf(m->info.cache, sizeof(m->info.cache), "%s", strcmp(w, "-") ? w : "");
        } else if (sscanf(l, "kind %11s", m->info.kind) == 1) {
        } else if (sscanf(l, "created_ms %lld", &ll) == 1) {
            m->info.created_ms = ll;
        } else if (sscanf(l, "keys %llu", &u) == 1) {
            m->info.keys = u;
        } else if (m->info.files < 64 && sscanf(l, "file %31s %llu %64s", m->file[m->info.files],
                                                &u, m->sha[m->info.files]) == 3) {
            m->size[m->info.files] = u;
            m->info.bytes += u;
            m->info.files++;
        } else if (strcmp(l, "end") == 0) {
            ended = 1;
        }
    }
    buf_deinit(&b);
    return ended && m->info.files > 0 ? 0 : -EIO;
}

/* Check every file of m against its size and SHA-256. */
static int manifest_verify(plane *p, const manifest *m, char *err, size_t errlen)
{
    char dir[4300];
    snap_dir(p, m->info.name, dir, sizeof(dir));
    for (int i = 0; i < m->info.files; i++) {
        char path[4400], sha[65];
        uint64_t size;
        snprintf(path, sizeof(path), "%s/%s", dir, m->file[i]);
        if (crypto_sha256_file(path, sha, &size) != 0 || size != m->size[i] ||
            strcmp(sha, m->sha[i]) != 0) {
            snprintf(err, errlen,
                     "snapshot %s: %s is missing or changed since it was taken (SHA-256 differs); "
                     "it is not used",
                     m->info.name, m->file[i]);
            return -EIO;
        }
    }
    return 0;
}

/* ---- a throwaway redis-server to read or write RDB files ---- */

typedef struct {
    pid_t pid;
    char sock[108];
    char log[4400];
    engine_client cli;
} temp_server;

static int temp_start(plane *p, temp_server *t, const char *dir, const char *dbfile, char *err,
                      size_t errlen)
{
    static _Atomic unsigned seq;
    memset(t, 0, sizeof(*t));
    engine_client_init(&t->cli);
    char bin[4096];
    if (supervisor_find_engine(plane_settings(p)->engine_binary, bin, sizeof(bin), err, errlen) !=
        0)
        return -EIO;
    snprintf(t->sock, sizeof(t->sock), "/tmp/stratus-rdb-%d-%u.sock", (int)getpid(),
             atomic_fetch_add(&seq, 1));
    snprintf(t->log, sizeof(t->log), "%s.log", t->sock);
    unlink(t->sock);
    const char *argv[] = {bin,     "--port",
                          "0",     "--unixsocket",
                          t->sock, "--dir",
                          dir,     "--dbfilename",
                          dbfile,  "--appendonly",
                          "no",    "--save",
                          "",      "--logfile",
                          t->log,  "--daemonize",
                          "no",    "--protected-mode",
                          "no",    NULL};
    pid_t pid = fork();
    if (pid == -1) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -EIO;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    t->pid = pid;
    uint64_t deadline = ev_clock_ms() + SAVE_MS;
    for (;;) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            t->pid = 0;
            buf b;
            buf_init(&b);
            file_read_all(t->log, &b, 1u << 20);
            const char *s = buf_used(&b) ? buf_rptr(&b) : "";
            const char *last = strstr(s, "# ") ? strrchr(s, '#') : s;
            snprintf(err, errlen, "redis-server could not load %s/%s: %.200s", dir, dbfile, last);
            for (char *q = err; *q; q++)
                if (*q == '\n')
                    *q = ' ';
            buf_deinit(&b);
            unlink(t->log);
            return -EINVAL;
        }
        if (t->cli.fd < 0)
            engine_client_connect(&t->cli, t->sock, "", 1000);
        if (t->cli.fd >= 0) {
            const resp_value *v = engine_callv(&t->cli, 5000, "PING", NULL);
            if (v && v->type != RESP_T_ERROR)
                return 0;
            if (!v) {
                engine_client_deinit(&t->cli);
                engine_client_init(&t->cli);
            }
        }
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen, "redis-server did not load %s/%s in time", dir, dbfile);
            return -EIO;
        }
        poll(NULL, 0, 5);
    }
}

static void temp_stop(temp_server *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
    }
    engine_client_deinit(&t->cli);
    unlink(t->sock);
    unlink(t->log);
    t->pid = 0;
}

/* Where RESTORE commands go: a temp server (unix) or a cache endpoint (TLS). */
typedef struct {
    engine_client *eng;
    tls_client *tls;
    buf in;
} sink;

/* Send the n commands in cmds and check their replies: 0, or -1 with the first error. */
static int sink_send(sink *k, const buf *cmds, size_t n, char *err, size_t errlen)
{
    if (k->eng) {
        resp_value *const *r = engine_pipeline(k->eng, 60000, cmds, n);
        if (!r) {
            snprintf(err, errlen, "writing keys failed: %s", k->eng->err);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            if (r[i]->type == RESP_T_ERROR) {
                snprintf(err, errlen, "RESTORE refused: %.*s", (int)r[i]->len, r[i]->str);
                return -1;
            }
        return 0;
    }
    if (tls_client_write(k->tls, buf_rptr(cmds), buf_used(cmds)) != 0) {
        snprintf(err, errlen, "writing keys to the cache failed");
        return -1;
    }
    size_t got = 0;
    while (got < n) {
        resp_value *v = NULL;
        size_t used;
        int r = buf_used(&k->in) ? resp_value_parse(buf_rptr(&k->in), buf_used(&k->in), &v, &used)
                                 : RESP_AGAIN;
        if (r == RESP_DONE) {
            int bad = v->type == RESP_T_ERROR;
            if (bad)
                snprintf(err, errlen, "the cache refused a key: %.*s", (int)v->len,
                         v->str ? v->str : "");
            resp_value_free(v);
            buf_consume(&k->in, used);
            if (bad)
                return -1;
            got++;
            continue;
        }
        if (r == RESP_ERR) {
            snprintf(err, errlen, "protocol error from the cache");
            return -1;
        }
        buf_reserve(&k->in, 65536);
        long rd = tls_client_read(k->tls, k->in.data + k->in.len, k->in.cap - k->in.len);
        if (rd <= 0) {
            snprintf(err, errlen, "the cache closed the connection while keys were written");
            return -1;
        }
        k->in.len += (size_t)rd;
    }
    return 0;
}

/* Copy every key of src into dst (DUMP + PTTL, then RESTORE ... REPLACE); count to *keys. */
static int copy_keys(engine_client *src, sink *dst, uint64_t *keys, char *err, size_t errlen)
{
    char cursor[32] = "0";
    buf cmds, out;
    buf_init(&cmds);
    buf_init(&out);
    int rc = 0;
    do {
        const char *scan[] = {"SCAN", cursor, "COUNT", "256", NULL};
        const resp_value *v = engine_call(src, 60000, scan);
        if (!v || v->type != RESP_T_ARRAY || v->nelem != 2) {
            snprintf(err, errlen, "SCAN failed while reading the snapshot");
            rc = -1;
            break;
        }
        snprintf(cursor, sizeof(cursor), "%.*s", (int)v->elem[0].len, v->elem[0].str);
        const resp_value *ks = &v->elem[1];
        size_t nk = ks->nelem;
        if (nk == 0)
            continue;
        /* Copy the names: the next call reuses the reply's memory. */
        char **names = xcalloc(nk, sizeof(char *));
        size_t *lens = xcalloc(nk, sizeof(size_t));
        for (size_t i = 0; i < nk; i++) {
            lens[i] = ks->elem[i].len;
            names[i] = xmalloc(lens[i] + 1);
            if (lens[i])
                memcpy(names[i], ks->elem[i].str, lens[i]);
        }
        buf_consume(&cmds, buf_used(&cmds));
        for (size_t i = 0; i < nk; i++) {
            const char *d[] = {"DUMP", names[i]}, *t[] = {"PTTL", names[i]};
            const size_t dl[] = {4, lens[i]}, tl[] = {4, lens[i]};
            resp_add_command(&cmds, 2, d, dl);
            resp_add_command(&cmds, 2, t, tl);
        }
        resp_value *const *r = engine_pipeline(src, 60000, &cmds, 2 * nk);
        if (!r) {
            snprintf(err, errlen, "DUMP failed while reading the snapshot");
            rc = -1;
        }
        size_t sent = 0;
        buf_consume(&out, buf_used(&out));
        for (size_t i = 0; rc == 0 && i < nk; i++) {
            const resp_value *dump = r[2 * i], *ttl = r[2 * i + 1];
            if (dump->type != RESP_T_BULK || ttl->type != RESP_T_INTEGER || ttl->integer == -2)
                continue; /* expired or gone meanwhile */
            char ms[32];
            snprintf(ms, sizeof(ms), "%lld", ttl->integer > 0 ? ttl->integer : 0LL);
            const char *a[] = {"RESTORE", names[i], ms, dump->str, "REPLACE"};
            const size_t al[] = {7, lens[i], strlen(ms), dump->len, 7};
            resp_add_command(&out, 5, a, al);
            sent++;
        }
        if (rc == 0 && sent)
            rc = sink_send(dst, &out, sent, err, errlen);
        *keys += rc == 0 ? sent : 0;
        for (size_t i = 0; i < nk; i++)
            xfree(names[i]);
        xfree(names);
        xfree(lens);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    buf_deinit(&cmds);
    buf_deinit(&out);
    return rc;
}

/* ---- taking snapshots ---- */

/* The engines of cache dir that are primaries (their nodes.conf says myself,master with
 * slots), as engine directory names. */
static int primaries_of(const char *cdir, char names[][16], int max)
{
    char edir[4300];
    snprintf(edir, sizeof(edir), "%s/engines", cdir);
    DIR *d = opendir(edir);
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= 16)
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s/nodes.conf", edir, de->d_name);
        buf b;
        buf_init(&b);
        if (file_read_all(path, &b, 1u << 20) == 0) {
            buf_append(&b, "", 1);
            char *save = NULL;
            for (char *l = strtok_r(b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char id[64], addr[128], flags[128], master[64], ping[32], pong[32], epoch[32],
                    link[32], slot[32];
                if (sscanf(l, "%63s %127s %127s %63s %31s %31s %31s %31s %31s", id, addr, flags,
                           master, ping, pong, epoch, link, slot) == 9 &&
                    strstr(flags, "myself") && strstr(flags, "master"))
                    snprintf(names[n++], 16, "%s", de->d_name);
            }
        }
        buf_deinit(&b);
    }
    closedir(d);
    return n;
}

/* BGSAVE on a running engine and wait for it; its key count to *keys. */
static int engine_save(const char *edir, const char *password, uint64_t *keys, char *err,
                       size_t errlen)
{
    char sock[4400];
    snprintf(sock, sizeof(sock), "%s/redis.sock", edir);
    engine_client c;
    engine_client_init(&c);
    int rc = -EIO;
    if (engine_client_connect(&c, sock, password, 5000) != 0) {
        snprintf(err, errlen, "cannot reach the engine at %s: %s", sock, c.err);
        goto out;
    }
    const resp_value *v = engine_callv(&c, 5000, "DBSIZE", NULL);
    *keys += v && v->type == RESP_T_INTEGER ? (uint64_t)v->integer : 0;
    /* A save already running (one for a replica's sync, say) is not ours: it may have started
     * before the last write. Wait for it to end, note how many saves the engine has done, then
     * ask for ours. */
    uint64_t deadline = ev_clock_ms() + SAVE_MS;
    long long before = 0;
    const char *f;
    for (;;) {
        v = engine_callv(&c, 5000, "INFO", "persistence", NULL);
        f = v && v->str ? strstr(v->str, "rdb_saves:") : NULL;
        if (f && !strstr(v->str, "rdb_bgsave_in_progress:1")) {
            before = atoll(f + 10);
            v = engine_callv(&c, 5000, "BGSAVE", "SCHEDULE", NULL);
            if (v && v->type != RESP_T_ERROR)
                break;
            if (!v || !strstr(v->str, "in progress")) {
                snprintf(err, errlen, "BGSAVE refused: %.*s", v ? (int)v->len : 7,
                         v ? v->str : "timeout");
                goto out;
            }
        }
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen, "the engine was saving for %d s; BGSAVE not started",
                     SAVE_MS / 1000);
            goto out;
        }
        poll(NULL, 0, 10);
    }
    /* Done when the engine counts one more save (rdb_saves) and none runs. */
    for (;;) {
        v = engine_callv(&c, 5000, "INFO", "persistence", NULL);
        f = v && v->str ? strstr(v->str, "rdb_saves:") : NULL;
        if (f && atoll(f + 10) > before && strstr(v->str, "rdb_bgsave_in_progress:0")) {
            if (strstr(v->str, "rdb_last_bgsave_status:ok")) {
                rc = 0;
                break;
            }
            snprintf(err, errlen, "the engine's BGSAVE failed; see its engine.log in %s", edir);
            goto out;
        }
        if (ev_clock_ms() > deadline) {
            snprintf(err, errlen, "the engine's BGSAVE did not finish in %d s", SAVE_MS / 1000);
            goto out;
        }
        poll(NULL, 0, 10);
    }
out:
    engine_client_deinit(&c);
    return rc;
}

int snapshot_create(plane *p, const char *cname, const char *name, const char *kind,
                    snapshot_info *out, char *err, size_t errlen)
{
    int rc = snap_name_ok(name, err, errlen);
    if (rc != 0)
        return rc;
    plane_info info;
    if ((rc = plane_describe(p, cname, &info, err, errlen)) != 0)
        return rc;
    char dir[4300], cdir[4300], root[4200];
    snap_dir(p, name, dir, sizeof(dir));
    plane_cache_dir(p, cname, cdir, sizeof(cdir));
    if (file_mkdir_p(snap_root(p, root, sizeof(root)), 0700) != 0 || mkdir(dir, 0700) != 0) {
        if (errno == EEXIST) {
            snprintf(err, errlen, "a snapshot named \"%s\" exists already", name);
            return -EEXIST;
        }
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -EIO;
    }
    manifest *m = xcalloc(1, sizeof(*m));
    snprintf(m->info.name, sizeof(m->info.name), "%s", name);
    snprintf(m->info.cache, sizeof(m->info.cache), "%s", cname);
    snprintf(m->info.kind, sizeof(m->info.kind), "%s", kind);
    m->info.created_ms = (int64_t)time(NULL) * 1000;
    char prim[64][16], password[128];
    int np = primaries_of(cdir, prim, 64);
    int asleep = hibernate_present(cdir);
    uint64_t bytes;
    rc = 0;
    if (np <= 0) {
        snprintf(err, errlen, "cache %s has no primary engine on disk yet", cname);
        rc = -EBUSY;
    } else if (asleep && hibernate_verify(cdir, &bytes, err, errlen) != 0) {
        rc = -EIO;
    }
    char secret[4400];
    snprintf(secret, sizeof(secret), "%s/internal-password", cdir);
    file_read_line(secret, password, sizeof(password));
    for (int i = 0; rc == 0 && i < np; i++) {
        char edir[4400], src[4500], dst[4500];
        snprintf(edir, sizeof(edir), "%s/engines/%s", cdir, prim[i]);
        /* Asleep: the engines saved their dump.rdb when they stopped. */
        if (!asleep && engine_save(edir, password, &m->info.keys, err, errlen) != 0) {
            rc = -EIO;
            break;
        }
        snprintf(src, sizeof(src), "%s/dump.rdb", edir);
        snprintf(m->file[i], sizeof(m->file[i]), "shard-%d.rdb", i);
        snprintf(dst, sizeof(dst), "%s/%s", dir, m->file[i]);
        int c = file_copy_atomic(src, dst, 0600);
        if (c == 0)
            c = crypto_sha256_file(dst, m->sha[i], &m->size[i]);
        if (c != 0) {
            snprintf(err, errlen, "cannot copy %s: %s", src, strerror(-c));
            rc = -EIO;
            break;
        }
        m->info.bytes += m->size[i];
        m->info.files = i + 1;
    }
    if (rc == 0 && asleep) {
        /* Count keys without waking the cache: load each file in a throwaway server. */
        for (int i = 0; rc == 0 && i < m->info.files; i++) {
            temp_server t;
            if (temp_start(p, &t, dir, m->file[i], err, errlen) != 0) {
                rc = -EIO;
            } else {
                const resp_value *v = engine_callv(&t.cli, 60000, "DBSIZE", NULL);
                m->info.keys += v && v->type == RESP_T_INTEGER ? (uint64_t)v->integer : 0;
            }
            temp_stop(&t);
        }
    }
    if (rc == 0 && manifest_write(p, m) != 0) {
        snprintf(err, errlen, "cannot write the manifest of %s", dir);
        rc = -EIO;
    }
    if (rc != 0) {
        file_remove_tree(dir);
    } else {
        *out = m->info;
        plane_event(p, cname, "snapshot", "%s snapshot %s: %d file(s), %llu bytes, %llu keys", kind,
                    name, m->info.files, (unsigned long long)m->info.bytes,
                    (unsigned long long)m->info.keys);
    }
    xfree(m);
    return rc;
}

static int newest_first(const void *a, const void *b)
{
    const snapshot_info *x = a, *y = b;
    return x->created_ms < y->created_ms ? 1 : x->created_ms > y->created_ms ? -1 : 0;
}

snapshot_info *snapshot_list(plane *p, const char *cname, size_t *n)
{
    char root[4200];
    snapshot_info *list = NULL;
    size_t cap = 0;
    *n = 0;
    DIR *d = opendir(snap_root(p, root, sizeof(root)));
    struct dirent *de;
    manifest *m = xcalloc(1, sizeof(*m));
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || manifest_read(p, de->d_name, m) != 0)
            continue;
        if (cname && strcmp(cname, m->info.cache) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            list = xrealloc(list, cap * sizeof(*list));
        }
        list[(*n)++] = m->info;
    }
    if (d)
        closedir(d);
    xfree(m);
    if (*n)
        qsort(list, *n, sizeof(*list), newest_first);
    return list ? list : xcalloc(1, sizeof(*list));
}

int snapshot_describe(plane *p, const char *name, snapshot_info *out, char *err, size_t errlen)
{
    if (snap_name_ok(name, err, errlen) != 0)
        return -ENOENT;
    manifest *m = xcalloc(1, sizeof(*m));
    int rc = manifest_read(p, name, m);
    if (rc == 0)
        *out = m->info;
    else
        snprintf(err, errlen, "no snapshot named \"%s\"; `stratus snapshot list` shows them", name);
    xfree(m);
    return rc == 0 ? 0 : -ENOENT;
}

int snapshot_delete(plane *p, const char *name, char *err, size_t errlen)
{
    snapshot_info si;
    int rc = snapshot_describe(p, name, &si, err, errlen);
    if (rc != 0)
        return rc;
    char dir[4300];
    snap_dir(p, name, dir, sizeof(dir));
    rc = file_remove_tree(dir);
    if (rc != 0) {
        snprintf(err, errlen, "cannot remove %s: %s", dir, strerror(-rc));
        return -EIO;
    }
    plane_event(p, si.cache[0] ? si.cache : "-", "snapshot-delete", "snapshot %s deleted", name);
    return 0;
}

/* Load and verify a snapshot's manifest. */
static manifest *load_checked(plane *p, const char *name, char *err, size_t errlen, int *rc)
{
    manifest *m = xcalloc(1, sizeof(*m));
    if (snap_name_ok(name, err, errlen) != 0 || manifest_read(p, name, m) != 0) {
        snprintf(err, errlen, "no snapshot named \"%s\"; `stratus snapshot list` shows them", name);
        *rc = -ENOENT;
    } else {
        *rc = manifest_verify(p, m, err, errlen);
    }
    if (*rc != 0) {
        xfree(m);
        return NULL;
    }
    return m;
}

int snapshot_restore(plane *p, const char *name, const plane_def *d, uint64_t *keys, char *err,
                     size_t errlen)
{
    int rc;
    manifest *m = load_checked(p, name, err, errlen, &rc);
    if (!m)
        return rc;
    *keys = 0;
    if ((rc = plane_create(p, d, err, errlen)) != 0) {
        xfree(m);
        return rc;
    }
    char host[64], ca[4096], password[128], dir[4300];
    int port;
    snap_dir(p, name, dir, sizeof(dir));
    plane_endpoint(p, d->name, host, sizeof(host), &port, ca, sizeof(ca), password,
                   sizeof(password));
    tls_client *tc = tls_client_connect(host, port, ca, 10000, err, errlen);
    sink k = {.tls = tc};
    buf_init(&k.in);
    if (tc) {
        buf auth;
        buf_init(&auth);
        const char *a[] = {"AUTH", "default", password};
        const size_t al[] = {4, 7, strlen(password)};
        resp_add_command(&auth, 3, a, al);
        rc = sink_send(&k, &auth, 1, err, errlen);
        buf_deinit(&auth);
    } else {
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < m->info.files; i++) {
        temp_server t;
        rc = temp_start(p, &t, dir, m->file[i], err, errlen);
        if (rc == 0)
            rc = copy_keys(&t.cli, &k, keys, err, errlen);
        temp_stop(&t);
    }
    buf_deinit(&k.in);
    if (tc)
        tls_client_close(tc);
    if (rc == 0)
        plane_event(p, d->name, "restore", "restored from snapshot %s: %llu keys", name,
                    (unsigned long long)*keys);
    xfree(m);
    return rc == 0 ? 0 : -EIO;
}

int snapshot_export(plane *p, const char *name, const char *dir, char *path, size_t pathlen,
                    char *err, size_t errlen)
{
    int rc;
    manifest *m = load_checked(p, name, err, errlen, &rc);
    if (!m)
        return rc;
    if (dir[0] != '/' || file_mkdir_p(dir, 0700) != 0) {
        snprintf(err, errlen, "path must be an absolute directory Stratus can create (got \"%s\")",
                 dir);
        xfree(m);
        return -EINVAL;
    }
    char sdir[4300], tmp[4300], rdb[4500];
    snap_dir(p, name, sdir, sizeof(sdir));
    snprintf(path, pathlen, "%s/%s.rdb", dir, name);
    if (m->info.files == 1) {
        snprintf(rdb, sizeof(rdb), "%s/%s", sdir, m->file[0]);
        rc = file_copy_atomic(rdb, path, 0600);
        if (rc != 0)
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
    } else {
        /* Merge the shards into one RDB: a throwaway server holding shard 0 takes the keys of
         * the others, then saves. */
        snprintf(tmp, sizeof(tmp), "%s/.export-%d", sdir, (int)getpid());
        file_remove_tree(tmp);
        mkdir(tmp, 0700);
        snprintf(rdb, sizeof(rdb), "%s/%s", sdir, m->file[0]);
        char merged[4500];
        snprintf(merged, sizeof(merged), "%s/dump.rdb", tmp);
        rc = file_copy_atomic(rdb, merged, 0600);
        temp_server into;
        memset(&into, 0, sizeof(into));
        if (rc == 0)
            rc = temp_start(p, &into, tmp, "dump.rdb", err, errlen);
        sink k = {.eng = &into.cli};
        uint64_t keys = 0;
        for (int i = 1; rc == 0 && i < m->info.files; i++) {
            temp_server t;
            rc = temp_start(p, &t, sdir, m->file[i], err, errlen);
            if (rc == 0)
                rc = copy_keys(&t.cli, &k, &keys, err, errlen);
            temp_stop(&t);
        }
        if (rc == 0) {
            const resp_value *v = engine_callv(&into.cli, SAVE_MS, "SAVE", NULL);
            if (!v || v->type == RESP_T_ERROR) {
                snprintf(err, errlen, "SAVE of the merged RDB failed");
                rc = -1;
            }
        }
        temp_stop(&into);
        if (rc == 0 && (rc = file_copy_atomic(merged, path, 0600)) != 0)
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
        file_remove_tree(tmp);
    }
    if (rc == 0) {
        char sha[65], jpath[4500], created[40];
        uint64_t size = 0;
        crypto_sha256_file(path, sha, &size);
        time_t s = (time_t)(m->info.created_ms / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(jpath, sizeof(jpath), "%s/%s.json", dir, name);
        buf b;
        buf_init(&b);
        /* Names are restricted to [A-Za-z0-9._-], so they need no JSON escaping. */
        buf_appendf(&b,
                    "{\n  \"format\": \"redis-rdb\",\n  \"snapshot\": \"%s\",\n  \"cache\": "
                    "\"%s\",\n  \"created_at\": \"%s\",\n  \"keys\": %llu,\n  \"rdb\": "
                    "\"%s.rdb\",\n  \"bytes\": %llu,\n  \"sha256\": \"%s\",\n  \"load\": "
                    "\"redis-server --dir <this dir> --dbfilename %s.rdb --appendonly no\"\n}\n",
                    name, m->info.cache, created, (unsigned long long)m->info.keys, name,
                    (unsigned long long)size, sha, name);
        rc = file_write_atomic(jpath, buf_rptr(&b), buf_used(&b), 0600);
        buf_deinit(&b);
        if (rc != 0)
            snprintf(err, errlen, "cannot write %s: %s", jpath, strerror(-rc));
    }
    xfree(m);
    return rc == 0 ? 0 : -EIO;
}

int snapshot_import(plane *p, const char *name, const char *rdb, snapshot_info *out, char *err,
                    size_t errlen)
{
    int rc = snap_name_ok(name, err, errlen);
    if (rc != 0)
        return rc;
    if (rdb[0] != '/' || access(rdb, R_OK) != 0) {
        snprintf(err, errlen,
                 "rdb_path must be an absolute path to a readable RDB file (got "
                 "\"%.200s\")",
                 rdb);
        return -EINVAL;
    }
    char dir[4300], root[4200], dst[4500];
    snap_dir(p, name, dir, sizeof(dir));
    if (file_mkdir_p(snap_root(p, root, sizeof(root)), 0700) != 0 || mkdir(dir, 0700) != 0) {
        snprintf(err, errlen,
                 errno == EEXIST ? "a snapshot named \"%s\" exists already"
                                 : "cannot create the snapshot %s",
                 name);
        return errno == EEXIST ? -EEXIST : -EIO;
    }
    manifest *m = xcalloc(1, sizeof(*m));
    snprintf(m->info.name, sizeof(m->info.name), "%s", name);
    snprintf(m->info.kind, sizeof(m->info.kind), "import");
    m->info.created_ms = (int64_t)time(NULL) * 1000;
    snprintf(m->file[0], sizeof(m->file[0]), "shard-0.rdb");
    snprintf(dst, sizeof(dst), "%s/shard-0.rdb", dir);
    rc = file_copy_atomic(rdb, dst, 0600);
    if (rc != 0)
        snprintf(err, errlen, "cannot copy %s: %s", rdb, strerror(-rc));
    temp_server t;
    memset(&t, 0, sizeof(t));
    /* A file redis-server cannot load is refused here, not at restore time. */
    if (rc == 0 && temp_start(p, &t, dir, "shard-0.rdb", err, errlen) != 0)
        rc = -EINVAL;
    if (rc == 0) {
        const resp_value *v = engine_callv(&t.cli, 60000, "DBSIZE", NULL);
        m->info.keys = v && v->type == RESP_T_INTEGER ? (uint64_t)v->integer : 0;
    }
    temp_stop(&t);
    if (rc == 0 && crypto_sha256_file(dst, m->sha[0], &m->size[0]) == 0) {
        m->info.files = 1;
        m->info.bytes = m->size[0];
        rc = manifest_write(p, m);
    }
    if (rc != 0) {
        file_remove_tree(dir);
    } else {
        *out = m->info;
        plane_event(p, "-", "snapshot-import", "snapshot %s imported from %s: %llu keys", name, rdb,
                    (unsigned long long)m->info.keys);
    }
    xfree(m);
    return rc == 0 ? 0 : rc == -EINVAL ? -EINVAL : -EIO;
}

void snapshot_daily(plane *p)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char hhmm[8], day[16];
    strftime(hhmm, sizeof(hhmm), "%H:%M", &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);
    size_t n;
    plane_def *caches = plane_defs(p, &n);
    for (size_t i = 0; i < n; i++) {
        const plane_def *d = &caches[i];
        if (!d->daily_snapshot_time[0] || strcmp(d->daily_snapshot_time, hhmm) != 0)
            continue;
        char name[64], err[600];
        snprintf(name, sizeof(name), "%s-daily-%s", d->name, day);
        snapshot_info si;
        if (snapshot_describe(p, name, &si, err, sizeof(err)) == 0)
            continue; /* taken today already */
        if (snapshot_create(p, d->name, name, "daily", &si, err, sizeof(err)) != 0)
            plane_event(p, d->name, "snapshot-failed", "daily snapshot %s: %s", name, err);
        /* Retention: the newest snapshot_retention daily snapshots of this cache stay. */
        size_t ns;
        snapshot_info *list = snapshot_list(p, d->name, &ns);
        int kept = 0;
        for (size_t j = 0; j < ns; j++) {
            if (strcmp(list[j].kind, "daily") != 0)
                continue;
            if (++kept > d->snapshot_retention)
                snapshot_delete(p, list[j].name, err, sizeof(err));
        }
        xfree(list);
    }
    xfree(caches);
}
