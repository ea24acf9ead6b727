/* Settings: one table drives parsing from files, environment and flags, and the help text. */
#include "control/settings.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"
#include "control/http.h"

typedef struct {
    const char *name;
    setting_type type;
    const char *def;
    long lo, hi;
    const char *help;
    size_t offset;
} setting_desc;

#define SETTING_DESC(f, n, t, d, l, h, hp) {n, t, d, l, h, hp, offsetof(settings, f)},
static const setting_desc table[] = {SETTINGS_LIST(SETTING_DESC)};
#undef SETTING_DESC

static const setting_desc *find(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(table); i++)
        if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
            return &table[i];
    return NULL;
}

static int set_value(settings *s, const setting_desc *d, const char *v, const char *source,
                     char *err, size_t errlen)
{
    char *slot = (char *)s + d->offset;
    if (d->type == SET_STR) {
        if (strlen(v) >= 4096) {
            snprintf(err, errlen, "%s: value too long (at most 4095 bytes)", source);
            return -1;
        }
        snprintf(slot, 4096, "%s", v);
        return 0;
    }
    long *out = (long *)(void *)slot;
    if (d->type == SET_PORT_OFF && (strcmp(v, "off") == 0 || strcmp(v, "-1") == 0)) {
        *out = -1;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || !isdigit((unsigned char)v[0]) || x < d->lo ||
        x > d->hi) {
        snprintf(err, errlen, "%s: must be an integer between %ld and %ld%s (got \"%s\")", source,
                 d->lo, d->hi, d->type == SET_PORT_OFF ? ", or off" : "", v);
        return -1;
    }
    *out = x;
    return 0;
}

static void env_name(const char *name, char *out, size_t n)
{
    size_t j = (size_t)snprintf(out, n, "STRATUS_");
    for (size_t i = 0; name[i] && j + 1 < n; i++)
        out[j++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    out[j] = '\0';
}

static int load_file(settings *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "--config: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(s->config_file, sizeof(s->config_file), "%s", path);
    char line[8192];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        char *e = p + strlen(p);
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        char *sp = p;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        char *val = sp;
        while (isspace((unsigned char)*val))
            val++;
        const setting_desc *d = find(p, (size_t)(sp - p));
        char source[4300];
        snprintf(source, sizeof(source), "%s line %d: %.*s", path, lineno, (int)(sp - p), p);
        if (!d) {
            snprintf(err, errlen, "%s: unknown setting (see `stratus --help`)", source);
            rc = -1;
        } else {
            rc = set_value(s, d, val, source, err, errlen);
        }
    }
    fclose(f);
    return rc;
}

int settings_load(settings *s, int argc, char **argv, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < ARRAY_LEN(table); i++)
        if (set_value(s, &table[i], table[i].def, table[i].name, err, errlen) != 0)
            return -1;
    /* The config file comes first so environment and flags override it. */
    const char *config = getenv("STRATUS_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
    }
    if (config && config[0] && load_file(s, config, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        char env[128];
        env_name(table[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (v && set_value(s, &table[i], v, env, err, errlen) != 0)
            return -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (settings are --name value)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl == 6 && strncmp(name, "config", 6) == 0) {
            i += eq ? 0 : 1;
            continue;
        }
        const setting_desc *d = find(name, nl);
        if (!d) {
            snprintf(err, errlen, "--%.*s: unknown setting (see `stratus --help`)", (int)nl, name);
            return -1;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            snprintf(err, errlen, "--%s: needs a value", d->name);
            return -1;
        }
        char source[64];
        snprintf(source, sizeof(source), "--%s", d->name);
        if (set_value(s, d, v, source, err, errlen) != 0)
            return -1;
    }
    if (s->plaintext_port >= 0 && s->plaintext_port == s->port && s->port != 0) {
        snprintf(err, errlen, "--plaintext-port: must differ from --port (%ld)", s->port);
        return -1;
    }
    if ((s->tls_cert[0] != 0) != (s->tls_key[0] != 0)) {
        snprintf(err, errlen,
                 "--tls-cert and --tls-key: give both, or neither to use generated ones");
        return -1;
    }
    if (s->data_dir[0] == '\0') {
        snprintf(err, errlen, "--data-dir: must not be empty");
        return -1;
    }
    return http_hosts_check(s->api_hosts, err, errlen);
}

void settings_print_help(void)
{
    for (size_t i = 0; i < ARRAY_LEN(table); i++) {
        char env[128];
        env_name(table[i].name, env, sizeof(env));
        printf("  --%-18s %s\n  %-20s default: %s; env %s\n", table[i].name, table[i].help, "",
               table[i].def[0] ? table[i].def : "(none)", env);
    }
    printf("  --%-18s read settings from FILE (lines: name value); env STRATUS_CONFIG\n",
           "config FILE");
}

int settings_parse_size(const char *text, unsigned long long *bytes)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-')
        return -1;
    unsigned long long mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024ull;
    else if (*end == 'm' || *end == 'M')
        mult = 1024ull * 1024;
    else if (*end == 'g' || *end == 'G')
        mult = 1024ull * 1024 * 1024;
    if (mult > 1)
        end++;
    if (mult > 1 && (*end == 'b' || *end == 'B'))
        end++;
    if (*end != '\0' || v > (~0ull) / mult)
        return -1;
    *bytes = v * mult;
    return 0;
}

/* Descriptors kept out of the budget: shared engine links (per worker, user and engine), the
 * listeners, the store, logs and the control thread's engine connections. */
#define FD_RESERVE 1024

uint64_t settings_fds_wanted(long maxclients, long blocking)
{
    return (uint64_t)maxclients + (uint64_t)(blocking ? blocking : maxclients) + FD_RESERVE;
}

void settings_budget(uint64_t limit, long maxclients, long blocking, long per_user,
                     settings_fd_budget *out)
{
    long avail = limit > FD_RESERVE + 2 ? (long)MIN(limit - FD_RESERVE, (uint64_t)LONG_MAX) : 2;
    /* Clients first: a blocked client holds its socket and its private link, so private links
     * get only what is left once every client could be connected. */
    out->maxclients = MAX(1, MIN(maxclients, avail - 1));
    long left = MAX(1, avail - out->maxclients);
    long want = blocking ? blocking : out->maxclients;
    out->blocking = MAX(1, MIN(want, left));
    long share = per_user ? per_user : out->blocking - out->blocking / 10;
    out->per_user = MAX(1, MIN(share, out->blocking));
}
