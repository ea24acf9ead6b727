/* Host agent (`stratus agent`) and the control plane's link to it. See agent.h for the why.
 *
 * Protocol: RESP arrays both ways, over TLS (the agent's own generated certificate; identity is
 * proven by the token, not the certificate):
 *
 *   control -> HELLO <cnonce>            agent -> [anonce, proof_agent, root]
 *   control -> AUTH <proof_control>      agent -> +OK (or an error, then close)
 *   START cache name config -> :pid      SIGNAL cache name signo -> +OK
 *   STATUS cache name -> [state, pid, exit status]   (state: running, exited, none)
 *   REMOVE cache name -> +OK             PORTS -> [port, bus port]
 *   LEASE ms [cache/name ...] -> +OK     (the primaries the control plane stands behind)
 *
 * proof_X = HMAC-SHA256(token, "stratus-X|" cnonce "|" anonce "|" hex(channel binding)). */
#define ALLOC_ROOM ROOM_CLUSTER
#include "cluster/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/engine.h"
#include "cluster/supervisor.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "common/file.h"
#include "common/log.h"
#include "net/ev.h"
#include "net/sock.h"
#include "net/tls.h"

extern char **environ;

#define TOKEN_MIN 32         /* characters of a shared token, at least */
#define LINK_MS 200          /* the control plane waits this long for its agent, per call */
#define LINK_RETRY_MS 1000   /* and retries a lost agent this often */
#define AGENT_MAX_ENGINES 256
#define AGENT_MAX_REQUEST (1 << 20) /* bytes a request may have (a config is a few KB) */
#define FENCE_EVERY_MS 100         /* while the lease is out: primaries re-paused this often */
#define FENCE_PAUSE_MS 1000        /* each pause lasts this long unless renewed */

/* ---- shared ---- */

/* proof of who ("agent" or "control") for this channel and these nonces. */
static int proof(tls_client *tc, const char *token, const char *who, const char *cnonce,
                 const char *anonce, char out[65])
{
    unsigned char bind[32];
    if (tls_client_binding(tc, bind) != 0)
        return -1;
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "stratus-%s|%s|%s|", who, cnonce, anonce);
    for (int i = 0; i < 32 && n > 0 && (size_t)n + 2 < sizeof(msg); i++)
        n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%02x", bind[i]);
    crypto_hmac_sha256_hex(token, strlen(token), msg, (size_t)n, out);
    return 0;
}

int agent_token_load(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd == -1 || fstat(fd, &st) == -1) {
        snprintf(err, errlen, "cannot read the agent token %s: %s (copy it from the control "
                              "plane's data dir, file agent-token)",
                 path, strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        close(fd);
        snprintf(err, errlen, "the agent token %s is readable by others: chmod 600 %s", path, path);
        return -1;
    }
    ssize_t n = read(fd, out, outlen - 1);
    close(fd);
    size_t len = n > 0 ? (size_t)n : 0;
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
        len--;
    out[len] = '\0';
    if (len < TOKEN_MIN || strpbrk(out, " \t\r\n")) {
        snprintf(err, errlen, "the agent token in %s must be one word of at least %d characters",
                 path, TOKEN_MIN);
        return -1;
    }
    return 0;
}

int agent_token_ensure(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    char tok[65];
    if (access(path, F_OK) != 0 && crypto_random_hex(tok, 32) == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd != -1) {
            tok[64] = '\n';
            if (write(fd, tok, 65) != 65)
                log_warn("agent: short write to %s", path);
            close(fd);
        }
    }
    return agent_token_load(path, out, outlen, err, errlen);
}

/* Read one RESP value from tc into in (parsed tree to *out, consumed bytes dropped by the
 * caller). 1 with a value, 0 at close, -1 on error or a request too big. */
static int read_value(tls_client *tc, buf *in, resp_value **out, size_t *consumed)
{
    for (;;) {
        if (buf_used(in)) {
            int r = resp_value_parse(buf_rptr(in), buf_used(in), out, consumed);
            if (r == RESP_DONE)
                return 1;
            if (r == RESP_ERR)
                return -1;
        }
        if (buf_used(in) > AGENT_MAX_REQUEST)
            return -1;
        buf_reserve(in, 16384);
        long n = tls_client_read(tc, in->data + in->len, in->cap - in->len);
        if (n <= 0)
            return n == 0 ? 0 : -1;
        in->len += (size_t)n;
    }
}

static int arg_is(const resp_value *v, const char *s)
{
    return v->type == RESP_T_BULK && v->len == strlen(s) && strncasecmp(v->str, s, v->len) == 0;
}

/* ---- the agent ---- */

/* One engine the agent runs. Invariant: pid > 0 while it runs; child == 0 for one found running
 * from an earlier agent (its pid file), which is not ours to reap. */
typedef struct {
    char cache[64], name[64];
    pid_t pid;          /* running, 0 if not */
    int child;          /* our child (waitpid), else adopted from its pid file */
    int status;         /* last exit status, -1 if none */
    char host[64];      /* where it listens (from its configuration) */
    int port;           /* its port */
    char password[160]; /* its requirepass, to fence it */
    int paused;         /* writes paused by the fence */
    int leased;         /* the last LEASE named it a primary the control plane stands behind */
} agent_engine;

typedef struct {
    char root[4096];
    char binary[4096];
    char token[256];
    agent_engine eng[AGENT_MAX_ENGINES];
    int n;
    uint64_t lease_until; /* 0: no lease granted yet (nothing to fence) */
    uint64_t fenced_ms;   /* last fence round */
    int fencing;          /* the lease ran out and primaries are paused */
} agent;

static int valid_name(const resp_value *v)
{
    if (v->type != RESP_T_BULK || v->len == 0 || v->len > 63)
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        char ch = v->str[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

static void engine_dir(const agent *ag, const agent_engine *e, char *out, size_t n)
{
    snprintf(out, n, "%s/%s/%s", ag->root, e->cache, e->name);
}

/* The engine named by argv[1..2], created when create is set; NULL if none. */
static agent_engine *find(agent *ag, const resp_value *argv, int create)
{
    if (!valid_name(&argv[1]) || !valid_name(&argv[2]))
        return NULL;
    for (int i = 0; i < ag->n; i++)
        if (strlen(ag->eng[i].cache) == argv[1].len &&
            memcmp(ag->eng[i].cache, argv[1].str, argv[1].len) == 0 &&
            strlen(ag->eng[i].name) == argv[2].len &&
            memcmp(ag->eng[i].name, argv[2].str, argv[2].len) == 0)
            return &ag->eng[i];
    if (ag->n == AGENT_MAX_ENGINES)
        return NULL;
    agent_engine *e = &ag->eng[ag->n];
    memset(e, 0, sizeof(*e));
    snprintf(e->cache, sizeof(e->cache), "%.*s", (int)argv[1].len, argv[1].str);
    snprintf(e->name, sizeof(e->name), "%.*s", (int)argv[2].len, argv[2].str);
    e->status = -1;
    /* One left running by an earlier agent is found by its pid file. */
    char path[4300];
    engine_dir(ag, e, path, sizeof(path));
    strncat(path, "/redis.pid", sizeof(path) - strlen(path) - 1);
    FILE *f = fopen(path, "re");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    if (pid > 0 && kill(pid, 0) == 0)
        e->pid = pid;
    if (!create && !e->pid)
        return NULL;
    ag->n++;
    return e;
}

/* Pick host, port and password out of a rendered engine configuration. */
static void parse_conf(agent_engine *e, const char *conf, size_t len)
{
    char line[512];
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && conf[j] != '\n')
            j++;
        snprintf(line, sizeof(line), "%.*s", (int)MIN(j - i, sizeof(line) - 1), conf + i);
        char val[256];
        if (sscanf(line, "port %d", &e->port) == 1)
            ;
        else if (sscanf(line, "bind %63s", val) == 1)
            snprintf(e->host, sizeof(e->host), "%s", val);
        else if (sscanf(line, "requirepass %159s", val) == 1)
            snprintf(e->password, sizeof(e->password), "%s", val);
        i = j + 1;
    }
}


static int start_engine(agent *ag, agent_engine *e, const resp_value *conf, buf *out)
{
    if (e->pid > 0) {
        resp_add_error(out, "BUSY engine %s/%s runs already (pid %d)", e->cache, e->name,
                       (int)e->pid);
        return 0;
    }
    char dir[4300], path[4400];
    engine_dir(ag, e, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/redis.conf", dir);
    int rc = file_mkdir_p(dir, 0700);
    FILE *f = rc == 0 ? fopen(path, "we") : NULL;
    if (!f) {
        resp_add_error(out, "ERR cannot write %s: %s", path, strerror(rc ? -rc : errno));
        return 0;
    }
    /* The engine's files stay under the agent's directory whatever the configuration says. */
    fwrite(conf->str, 1, conf->len, f);
    fprintf(f, "\n# Set by the agent:\ndir %s\npidfile %s/redis.pid\n", dir, dir);
    if (fclose(f) != 0) {
        resp_add_error(out, "ERR cannot write %s", path);
        return 0;
    }
    chmod(path, 0600);
    parse_conf(e, conf->str, conf->len);
    char *const argv[] = {ag->binary, path, NULL};
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&fa);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    rc = posix_spawn(&pid, ag->binary, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        resp_add_error(out, "ERR cannot run %s: %s", ag->binary, strerror(rc));
        return 0;
    }
    e->pid = pid;
    e->child = 1;
    e->status = -1;
    e->paused = 0;
    log_info("agent: engine %s/%s started (pid %d, port %d)", e->cache, e->name, (int)pid,
             e->port);
    resp_add_int(out, pid);
    return 0;
}

/* Reap our children; notice adopted engines that are gone. */
static void reap(agent *ag)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < ag->n; i++)
            if (ag->eng[i].pid == pid && ag->eng[i].child) {
                ag->eng[i].pid = 0;
                ag->eng[i].status = status;
                log_info("agent: engine %s/%s ended (status %d)", ag->eng[i].cache,
                         ag->eng[i].name, status);
            }
    for (int i = 0; i < ag->n; i++)
        if (ag->eng[i].pid > 0 && !ag->eng[i].child && kill(ag->eng[i].pid, 0) == -1 &&
            errno == ESRCH)
            ag->eng[i].pid = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_engine(agent *ag, agent_engine *e)
{
    if (e->pid > 0) {
        kill(e->pid, SIGKILL);
        if (e->child)
            waitpid(e->pid, NULL, 0);
        else
            for (int i = 0; i < 500 && kill(e->pid, 0) == 0; i++)
                usleep(10000);
        e->pid = 0;
    }
    char dir[4300];
    engine_dir(ag, e, dir, sizeof(dir));
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    log_info("agent: engine %s/%s removed", e->cache, e->name);
    *e = ag->eng[--ag->n];
}

/* Pause (or, with pause == 0, resume) writes on e if it is a primary. */
static void fence_one(agent_engine *e, int pause)
{
    if (e->pid <= 0 || !e->port)
        return;
    engine_client c;
    engine_client_init(&c);
    char addr[128];
    snprintf(addr, sizeof(addr), "%s:%d", e->host[0] ? e->host : "127.0.0.1", e->port);
    if (engine_client_connect(&c, addr, e->password, LINK_MS) == 0) {
        if (!pause) {
            engine_callv(&c, LINK_MS, "CLIENT", "UNPAUSE", NULL);
            e->paused = 0;
        } else {
            const resp_value *v = engine_callv(&c, LINK_MS, "ROLE", NULL);
            int primary = v && v->type == RESP_T_ARRAY && v->nelem > 0 &&
                          arg_is(&v->elem[0], "master");
            char ms[16];
            snprintf(ms, sizeof(ms), "%d", FENCE_PAUSE_MS);
            if (!primary && v && e->paused) {
                engine_callv(&c, LINK_MS, "CLIENT", "UNPAUSE", NULL);
                e->paused = 0;
            } else if (primary &&
                       engine_callv(&c, LINK_MS, "CLIENT", "PAUSE", ms, "WRITE", NULL)) {
                if (!e->paused)
                    log_warn("agent: engine %s/%s: writes paused (the control plane's lease "
                             "ran out)",
                             e->cache, e->name);
                e->paused = 1;
            }
        }
    }
    engine_client_deinit(&c);
}

/* While the lease is out, every primary here stays paused. Once it is back, a paused engine
 * resumes when the control plane names it a primary again, or once it is a replica; a primary
 * it no longer names (a replica elsewhere took over) stays paused until the cluster demotes it,
 * so the writes it holds never land on a primary nobody follows. */
static void fence(agent *ag)
{
    uint64_t now = ev_clock_ms();
    int out = ag->lease_until && now >= ag->lease_until;
    if (now - ag->fenced_ms < FENCE_EVERY_MS || (!out && !ag->fencing))
        return;
    if (out && !ag->fencing)
        log_warn("agent: the control plane has been silent past its lease: pausing writes on "
                 "the primaries here until it is back");
    ag->fenced_ms = now;
    int still = 0;
    for (int i = 0; i < ag->n; i++) {
        agent_engine *e = &ag->eng[i];
        if (!out && e->paused && e->leased)
            fence_one(e, 0);
        else if (out || e->paused)
            fence_one(e, 1); /* resumes it if it is a replica now */
        still |= e->paused;
    }
    if (ag->fencing && !out && !still)
        log_info("agent: the control plane is back: writes resumed");
    ag->fencing = out || still;
}

static void renew(agent *ag, const resp_value *a, size_t n)
{
    char num[32];
    snprintf(num, sizeof(num), "%.*s", (int)MIN(a[1].len, 31), a[1].str);
    long long ms = atoll(num);
    ag->lease_until = ev_clock_ms() + (uint64_t)(ms > 0 ? ms : 0);
    for (int i = 0; i < ag->n; i++) {
        agent_engine *e = &ag->eng[i];
        char full[140];
        int len = snprintf(full, sizeof(full), "%s/%s", e->cache, e->name);
        e->leased = 0;
        for (size_t k = 2; k < n && !e->leased; k++)
            e->leased = a[k].len == (size_t)len && memcmp(a[k].str, full, a[k].len) == 0;
    }
    ag->fenced_ms = 0; /* act on it now */
    fence(ag);
}

/* One authenticated request; the reply goes to out. */
static void handle(agent *ag, const resp_value *req, buf *out)
{
    const resp_value *a = req->elem;
    size_t n = req->nelem;
    agent_engine *e;
    if (arg_is(&a[0], "LEASE") && n >= 2) {
        renew(ag, a, n);
        resp_add_simple(out, "OK");
    } else if (arg_is(&a[0], "PORTS") && n == 1) {
        int p[2] = {0, 0};
        for (int k = 0, tries = 0; k < 2 && tries < 400; tries++) {
            int c = 20000 + (int)(((unsigned)rand()) % 30000u);
            if (c != p[0] && sock_port_free(c))
                p[k++] = c;
        }
        resp_add_array(out, 2);
        resp_add_int(out, p[0]);
        resp_add_int(out, p[1]);
    } else if (arg_is(&a[0], "START") && n == 4 && a[3].type == RESP_T_BULK) {
        if (!(e = find(ag, a, 1)))
            resp_add_error(out, "ERR bad engine name or too many engines");
        else
            start_engine(ag, e, &a[3], out);
    } else if (arg_is(&a[0], "SIGNAL") && n == 4) {
        char num[16];
        snprintf(num, sizeof(num), "%.*s", (int)MIN(a[3].len, 15), a[3].str);
        int sig = atoi(num);
        if (!(e = find(ag, a, 0)) || e->pid <= 0)
            resp_add_error(out, "ERR no such engine runs");
        else if (sig != SIGTERM && sig != SIGKILL && sig != SIGSTOP && sig != SIGCONT)
            resp_add_error(out, "ERR signal %d is not one the agent sends", sig);
        else if (kill(e->pid, sig) == -1)
            resp_add_error(out, "ERR kill: %s", strerror(errno));
        else
            resp_add_simple(out, "OK");
    } else if (arg_is(&a[0], "STATUS") && n == 3) {
        e = find(ag, a, 0);
        resp_add_array(out, 3);
        resp_add_cstr(out, !e ? "none" : e->pid > 0 ? "running" : "exited");
        resp_add_int(out, e ? e->pid : 0);
        resp_add_int(out, e ? e->status : -1);
    } else if (arg_is(&a[0], "REMOVE") && n == 3) {
        if ((e = find(ag, a, 1)))
            remove_engine(ag, e);
        resp_add_simple(out, "OK");
    } else {
        resp_add_error(out, "ERR unknown agent request or wrong number of arguments");
    }
}

/* One connection to the agent. Invariant: authed only after both proofs; born bounds how long
 * an unauthenticated one may stay. */
typedef struct {
    tls_client *tc; /* NULL: free slot */
    int handshaken; /* TLS handshake done */
    int authed;     /* AUTH accepted: requests are served */
    char cnonce[80], anonce[65];
    buf in;
    uint64_t born;
} agent_conn;

#define AGENT_CONNS 8        /* connections at once; more are closed at accept */
#define AGENT_AUTH_MS 5000   /* an unauthenticated connection is closed after this */

static void conn_close(agent_conn *c)
{
    tls_client_close(c->tc);
    buf_deinit(&c->in);
    memset(c, 0, sizeof(*c));
}

/* Answer one request of c into out; 1 when c must be closed after the reply. */
static int request(agent *ag, agent_conn *c, const resp_value *req, buf *out)
{
    int bad = req->type != RESP_T_ARRAY || req->nelem == 0;
    for (size_t i = 0; !bad && i < req->nelem; i++)
        bad = req->elem[i].type != RESP_T_BULK;
    const resp_value *a = bad ? NULL : req->elem;
    if (bad) {
        resp_add_error(out, "ERR requests are arrays of bulk strings");
        return 1;
    }
    if (c->authed) {
        handle(ag, req, out);
        return 0;
    }
    if (arg_is(&a[0], "HELLO") && req->nelem == 2 && a[1].len <= 64 && !c->cnonce[0]) {
        char pa[65];
        snprintf(c->cnonce, sizeof(c->cnonce), "%.*s", (int)a[1].len, a[1].str);
        crypto_random_hex(c->anonce, 32);
        proof(c->tc, ag->token, "agent", c->cnonce, c->anonce, pa);
        resp_add_array(out, 3);
        resp_add_cstr(out, c->anonce);
        resp_add_cstr(out, pa);
        resp_add_cstr(out, ag->root);
        return 0;
    }
    if (arg_is(&a[0], "AUTH") && req->nelem == 2 && c->cnonce[0]) {
        char want[65];
        c->authed = proof(c->tc, ag->token, "control", c->cnonce, c->anonce, want) == 0 &&
                    a[1].len == 64 && crypto_equal(want, a[1].str, 64);
        if (c->authed) {
            resp_add_simple(out, "OK");
            log_info("agent: control plane connected");
            return 0;
        }
        log_warn("agent: a connection failed to authenticate");
        resp_add_error(out, "ERR authentication failed: the token differs from the control "
                            "plane's");
        return 1;
    }
    resp_add_error(out, "NOAUTH authenticate first (HELLO, AUTH)");
    return 1;
}

/* Read what c has and answer every complete request; 1 when c must be closed. */
static int serve(agent *ag, agent_conn *conns, agent_conn *c)
{
    if (!c->handshaken) {
        int r = tls_client_handshake(c->tc);
        if (r <= 0)
            return r < 0;
        c->handshaken = 1;
    }
    for (;;) {
        if (buf_used(&c->in) > AGENT_MAX_REQUEST)
            return 1;
        buf_reserve(&c->in, 16384);
        long n = tls_client_read(c->tc, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (n == -EAGAIN)
            break;
        if (n <= 0)
            return 1;
        c->in.len += (size_t)n;
    }
    buf out;
    buf_init(&out);
    int drop = 0, was_authed = c->authed;
    while (!drop && buf_used(&c->in)) {
        resp_value *req;
        size_t used;
        int r = resp_value_parse(buf_rptr(&c->in), buf_used(&c->in), &req, &used);
        if (r == RESP_ERR)
            drop = 1;
        if (r != RESP_DONE)
            break;
        drop = request(ag, c, req, &out);
        resp_value_free(req);
        buf_consume(&c->in, used);
    }
    if (buf_used(&out) && tls_client_write(c->tc, buf_rptr(&out), buf_used(&out)) != 0)
        drop = 1;
    buf_deinit(&out);
    /* The control plane reconnected: the connections it had before are dead or dying. */
    for (int i = 0; !was_authed && c->authed && i < AGENT_CONNS; i++)
        if (&conns[i] != c && conns[i].tc && conns[i].authed)
            conn_close(&conns[i]);
    return drop;
}

/* Accept, handshake and serve until SIGINT/SIGTERM; nothing here blocks for long, so the lease
 * is watched every FENCE_EVERY_MS whatever connections do. */
static void agent_loop(agent *ag, int lfd, int sfd)
{
    static agent_conn conns[AGENT_CONNS];
    char err[256];
    for (;;) {
        reap(ag);
        fence(ag);
        struct pollfd p[2 + AGENT_CONNS];
        int map[AGENT_CONNS], np = 2, pending = 0;
        p[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
        uint64_t now = ev_clock_ms();
        for (int i = 0; i < AGENT_CONNS; i++) {
            if (!conns[i].tc)
                continue;
            if (!conns[i].authed && now - conns[i].born > AGENT_AUTH_MS) {
                conn_close(&conns[i]);
                continue;
            }
            pending |= tls_client_pending(conns[i].tc);
            map[np - 2] = i;
            p[np++] = (struct pollfd){.fd = tls_client_fd(conns[i].tc), .events = POLLIN};
        }
        if (poll(p, (nfds_t)np, pending ? 0 : FENCE_EVERY_MS) < 0)
            continue;
        if (p[1].revents)
            break;
        for (int k = 2; k < np; k++) {
            agent_conn *c = &conns[map[k - 2]];
            if ((p[k].revents || tls_client_pending(c->tc)) && serve(ag, conns, c))
                conn_close(c);
        }
        if (!p[0].revents)
            continue;
        int fd = sock_accept(lfd);
        if (fd < 0)
            continue;
        /* A free slot, else the oldest connection that has not authenticated gives way: strays
         * holding every slot cannot keep the control plane (and its lease) out. */
        agent_conn *slot = NULL, *oldest = NULL;
        for (int i = 0; i < AGENT_CONNS && !slot; i++) {
            if (!conns[i].tc)
                slot = &conns[i];
            else if (!conns[i].authed && (!oldest || conns[i].born < oldest->born))
                oldest = &conns[i];
        }
        if (!slot && oldest) {
            conn_close(oldest);
            slot = oldest;
        }
        if (!slot) {
            close(fd);
            continue;
        }
        slot->tc = tls_client_accept(fd, err, sizeof(err));
        if (!slot->tc) {
            log_warn("agent: %s", err);
            continue;
        }
        buf_init(&slot->in);
        slot->born = ev_clock_ms();
    }
    for (int i = 0; i < AGENT_CONNS; i++)
        if (conns[i].tc)
            conn_close(&conns[i]);
}

static void agent_usage(FILE *f)
{
    fprintf(f, "usage: stratus agent --token-file FILE [--listen HOST:PORT] [--dir DIR] "
               "[--engine-binary PATH]\n"
               "  Runs a zone's engines on this host for a Stratus control plane (see "
               "docs/operations.md).\n"
               "  --listen         address to listen on (default 0.0.0.0:7400)\n"
               "  --dir            where engines keep their data (default ./stratus-agent)\n"
               "  --token-file     the control plane's <data-dir>/agent-token, copied here "
               "(mode 600)\n"
               "  --engine-binary  redis-server or valkey-server (default: found on PATH)\n");
}

int agent_main(int argc, char **argv)
{
    static agent ag;
    const char *listen_at = "0.0.0.0:7400", *dir = "./stratus-agent", *token_file = NULL,
               *engine = "";
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            agent_usage(stdout);
            return 0;
        }
        if (!v || strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "stratus agent: %s needs a value\n", argv[i]);
            agent_usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--listen") == 0)
            listen_at = v;
        else if (strcmp(argv[i], "--dir") == 0)
            dir = v;
        else if (strcmp(argv[i], "--token-file") == 0)
            token_file = v;
        else if (strcmp(argv[i], "--engine-binary") == 0)
            engine = v;
        else {
            fprintf(stderr, "stratus agent: unknown option %s\n", argv[i]);
            agent_usage(stderr);
            return 2;
        }
        i++;
    }
    char err[1024], host[256];
    int port = -1;
    const char *colon = strrchr(listen_at, ':');
    if (!token_file || !colon || colon == listen_at || (port = atoi(colon + 1)) <= 0 ||
        port > 65535) {
        fprintf(stderr, "stratus agent: %s\n",
                !token_file ? "--token-file is required" : "--listen must be HOST:PORT");
        agent_usage(stderr);
        return 2;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen_at), listen_at);
    if (agent_token_load(token_file, ag.token, sizeof(ag.token), err, sizeof(err)) != 0 ||
        supervisor_find_engine(engine, ag.binary, sizeof(ag.binary), err, sizeof(err)) != 0) {
        fprintf(stderr, "stratus agent: %s\n", err);
        return 1;
    }
    if (file_mkdir_p(dir, 0700) != 0 || !realpath(dir, ag.root)) {
        fprintf(stderr, "stratus agent: cannot create --dir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char tlsdir[4200];
    tls_files files;
    snprintf(tlsdir, sizeof(tlsdir), "%s/tls", ag.root);
    if (tls_certs_ensure(tlsdir, &files, err, sizeof(err)) != 0 ||
        tls_init(&files, err, sizeof(err)) != 0) {
        fprintf(stderr, "stratus agent: %s\n", err);
        return 1;
    }
    int lfd = sock_listen(host, port, 16);
    if (lfd < 0) {
        fprintf(stderr, "stratus agent: cannot listen on %s: %s\n", listen_at, strerror(-lfd));
        tls_deinit();
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    srand((unsigned)(ev_clock_ms() ^ (uint64_t)getpid()));
    log_info("agent: listening on %s, engines under %s (ready)", listen_at, ag.root);
    fflush(stdout);
    agent_loop(&ag, lfd, sfd);
    /* The engines keep running: they hold the cache's data and a new agent finds them. */
    int running = 0;
    for (int i = 0; i < ag.n; i++)
        running += ag.eng[i].pid > 0;
    log_info("agent: stopping; %d engine(s) keep running", running);
    close(lfd);
    close(sfd);
    tls_deinit();
    return 0;
}

/* ---- the control plane's link ---- */

struct agent_link {
    char zone[16];
    char host[64];
    int port;
    char token[256];
    tls_client *tc; /* NULL while down */
    buf in;
    resp_value *reply;
    char root[4096];
    char err[256];
    uint64_t next_try_ms;
    uint64_t renewed_ms;
};

agent_link *agent_link_create(const char *zone, const char *host, int port, const char *token)
{
    agent_link *a = xcalloc(1, sizeof(*a));
    snprintf(a->zone, sizeof(a->zone), "%s", zone);
    snprintf(a->host, sizeof(a->host), "%s", host);
    a->port = port;
    snprintf(a->token, sizeof(a->token), "%s", token);
    buf_init(&a->in);
    return a;
}

static void link_drop(agent_link *a, const char *why)
{
    if (a->tc)
        log_warn("agent %s:%d (zone %s): %s", a->host, a->port, a->zone, why);
    snprintf(a->err, sizeof(a->err), "%s", why);
    tls_client_close(a->tc);
    a->tc = NULL;
    resp_value_free(a->reply);
    a->reply = NULL;
    buf_consume(&a->in, buf_used(&a->in));
    a->next_try_ms = ev_clock_ms() + LINK_RETRY_MS;
}

void agent_link_destroy(agent_link *a)
{
    if (!a)
        return;
    tls_client_close(a->tc);
    resp_value_free(a->reply);
    buf_deinit(&a->in);
    xfree(a);
}

static const resp_value *exchange(agent_link *a, size_t argc, const char *const *argv,
                                  const size_t *lens)
{
    buf q;
    buf_init(&q);
    resp_add_command(&q, argc, argv, lens);
    int ok = tls_client_write(a->tc, buf_rptr(&q), buf_used(&q)) == 0;
    buf_deinit(&q);
    resp_value_free(a->reply);
    a->reply = NULL;
    buf_consume(&a->in, buf_used(&a->in));
    size_t used;
    if (!ok || read_value(a->tc, &a->in, &a->reply, &used) != 1) {
        link_drop(a, "no answer (out of reach?)");
        return NULL;
    }
    return a->reply;
}

int agent_link_ready(agent_link *a)
{
    if (a->tc)
        return 0;
    if (ev_clock_ms() < a->next_try_ms)
        return -1;
    char err[256];
    a->tc = tls_client_connect(a->host, a->port, NULL, LINK_MS, err, sizeof(err));
    if (!a->tc) {
        snprintf(a->err, sizeof(a->err), "%s", err);
        a->next_try_ms = ev_clock_ms() + LINK_RETRY_MS;
        return -1;
    }
    char cn[65], want[65], mine[65];
    crypto_random_hex(cn, 32);
    const char *hello[] = {"HELLO", cn};
    const size_t hl[] = {5, 64};
    const resp_value *v = exchange(a, 2, hello, hl);
    if (!v)
        return -1;
    if (v->type != RESP_T_ARRAY || v->nelem != 3 || v->elem[0].len > 64 ||
        v->elem[1].len != 64 || v->elem[2].len >= sizeof(a->root)) {
        link_drop(a, "not a Stratus agent (bad HELLO reply)");
        return -1;
    }
    char an[65];
    snprintf(an, sizeof(an), "%.*s", (int)v->elem[0].len, v->elem[0].str);
    if (proof(a->tc, a->token, "agent", cn, an, want) != 0 ||
        !crypto_equal(want, v->elem[1].str, 64)) {
        link_drop(a, "the agent could not prove it holds the token (another token, or a "
                     "man in the middle)");
        return -1;
    }
    snprintf(a->root, sizeof(a->root), "%.*s", (int)v->elem[2].len, v->elem[2].str);
    proof(a->tc, a->token, "control", cn, an, mine);
    const char *auth[] = {"AUTH", mine};
    const size_t al[] = {4, 64};
    v = exchange(a, 2, auth, al);
    if (!v || v->type == RESP_T_ERROR) {
        if (v)
            link_drop(a, "the agent refused our token: copy the control plane's agent-token "
                         "to it");
        return -1;
    }
    a->renewed_ms = 0;
    log_info("agent %s:%d (zone %s): connected, engines under %s", a->host, a->port, a->zone,
             a->root);
    return 0;
}

const resp_value *agent_link_call(agent_link *a, size_t argc, const char *const *argv,
                                  const size_t *lens)
{
    if (agent_link_ready(a) != 0)
        return NULL;
    return exchange(a, argc, argv, lens);
}

const resp_value *agent_link_callv(agent_link *a, ...)
{
    const char *argv[16];
    size_t lens[16], n = 0;
    va_list ap;
    va_start(ap, a);
    for (const char *s; n < 16 && (s = va_arg(ap, const char *));) {
        argv[n] = s;
        lens[n++] = strlen(s);
    }
    va_end(ap);
    return agent_link_call(a, n, argv, lens);
}

void agent_link_renew(agent_link *a, int lease_ms, size_t n, const char *const *primaries)
{
    uint64_t now = ev_clock_ms();
    if (a->tc && now - a->renewed_ms < (uint64_t)lease_ms / 4)
        return;
    char ms[16];
    snprintf(ms, sizeof(ms), "%d", lease_ms);
    const char *argv[2 + 64];
    size_t lens[2 + 64], k = 0;
    argv[k] = "LEASE";
    lens[k++] = 5;
    argv[k] = ms;
    lens[k++] = strlen(ms);
    for (size_t i = 0; i < n && k < ARRAY_LEN(argv); i++) {
        argv[k] = primaries[i];
        lens[k++] = strlen(primaries[i]);
    }
    const resp_value *v = agent_link_call(a, k, argv, lens);
    if (v && v->type != RESP_T_ERROR)
        a->renewed_ms = now;
}

const char *agent_link_root(const agent_link *a)
{
    return a->root;
}

const char *agent_link_host(const agent_link *a)
{
    return a->host;
}

const char *agent_link_error(const agent_link *a)
{
    return a->err;
}
