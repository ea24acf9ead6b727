/* ACL users: the rule language and the permission checks (see acl.h). Pure functions over
 * immutable data, so any worker thread may check a command without a lock. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/acl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "net/tls.h"

/* ---- glob ---- */

static int lower(int c, int nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int acl_glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase)
{
    /* Iterative matching with one backtrack point for the last '*' seen. */
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            while (pi < plen && p[pi] == '*')
                pi++;
            if (pi == plen)
                return 1;
            star_p = pi;
            star_s = si;
            continue;
        }
        int ok = 0;
        size_t next = pi + 1;
        if (pi < plen) {
            if (p[pi] == '?') {
                ok = 1;
            } else if (p[pi] == '[') {
                size_t j = pi + 1;
                int neg = j < plen && p[j] == '^';
                if (neg)
                    j++;
                int hit = 0;
                while (j < plen && p[j] != ']') {
                    if (p[j] == '\\' && j + 1 < plen) {
                        j++;
                        hit |= lower(p[j], nocase) == lower(s[si], nocase);
                        j++;
                    } else if (j + 2 < plen && p[j + 1] == '-' && p[j + 2] != ']') {
                        int a = lower(p[j], nocase), b = lower(p[j + 2], nocase);
                        int c = lower(s[si], nocase);
                        if (a > b) {
                            int t = a;
                            a = b;
                            b = t;
                        }
                        hit |= c >= a && c <= b;
                        j += 3;
                    } else {
                        hit |= lower(p[j], nocase) == lower(s[si], nocase);
                        j++;
                    }
                }
                ok = neg ? !hit : hit;
                next = j < plen ? j + 1 : j;
            } else if (p[pi] == '\\' && pi + 1 < plen) {
                ok = lower(p[pi + 1], nocase) == lower(s[si], nocase);
                next = pi + 2;
            } else {
                ok = lower(p[pi], nocase) == lower(s[si], nocase);
            }
        }
        if (ok) {
            pi = next;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p;
            si = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

/* ---- users ---- */

static void bits_set(uint64_t *w, unsigned id, int on)
{
    if (on)
        w[id / 64] |= (uint64_t)1 << (id % 64);
    else
        w[id / 64] &= ~((uint64_t)1 << (id % 64));
}

static int bits_get(const uint64_t *w, unsigned id)
{
    return (int)((w[id / 64] >> (id % 64)) & 1u);
}

static int all_commands(const acl_user *u)
{
    for (size_t i = 0; i < cmd_ids; i++)
        if (!bits_get(u->cmds, (unsigned)i))
            return 0;
    return 1;
}

static void refresh(acl_user *u)
{
    u->unrestricted = u->allkeys && u->allchannels && all_commands(u);
}

acl_user *acl_user_create(const char *name, size_t len)
{
    acl_user *u = xcalloc(1, sizeof(*u));
    u->name = xstrndup(name, len);
    u->sanitize = 1;
    buf_init(&u->cmd_rules);
    buf_appendf(&u->cmd_rules, "-@all");
    return u;
}

acl_user *acl_user_create_superuser(const char *name)
{
    acl_user *u = acl_user_create(name, strlen(name));
    char err[128];
    acl_user_apply_text(u, "on nopass ~* &* +@all", err, sizeof(err));
    return u;
}

acl_user *acl_user_dup(const acl_user *u)
{
    acl_user *c = xcalloc(1, sizeof(*c));
    *c = *u;
    c->name = xstrdup(u->name);
    c->pass = u->npass ? xmalloc(u->npass * sizeof(*c->pass)) : NULL;
    if (u->npass)
        memcpy(c->pass, u->pass, u->npass * sizeof(*c->pass));
    buf_init(&c->cmd_rules);
    buf_append(&c->cmd_rules, buf_rptr(&u->cmd_rules), buf_used(&u->cmd_rules));
    c->keys = u->nkeys ? xmalloc(u->nkeys * sizeof(*c->keys)) : NULL;
    for (size_t i = 0; i < u->nkeys; i++) {
        c->keys[i].pattern = xstrdup(u->keys[i].pattern);
        c->keys[i].perm = u->keys[i].perm;
    }
    c->channels = u->nchannels ? xmalloc(u->nchannels * sizeof(char *)) : NULL;
    for (size_t i = 0; i < u->nchannels; i++)
        c->channels[i] = xstrdup(u->channels[i]);
    return c;
}

static void reset_keys(acl_user *u)
{
    for (size_t i = 0; i < u->nkeys; i++)
        xfree(u->keys[i].pattern);
    xfree(u->keys);
    u->keys = NULL;
    u->nkeys = 0;
    u->allkeys = 0;
}

static void reset_channels(acl_user *u)
{
    for (size_t i = 0; i < u->nchannels; i++)
        xfree(u->channels[i]);
    xfree(u->channels);
    u->channels = NULL;
    u->nchannels = 0;
    u->allchannels = 0;
}

void acl_user_destroy(acl_user *u)
{
    if (!u)
        return;
    reset_keys(u);
    reset_channels(u);
    xfree(u->pass);
    buf_deinit(&u->cmd_rules);
    xfree(u->name);
    xfree(u);
}

static int is_hash(const char *h, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return 0;
    return 1;
}

static void add_hash(acl_user *u, const char *hex)
{
    for (size_t i = 0; i < u->npass; i++)
        if (memcmp(u->pass[i], hex, 64) == 0)
            return;
    u->pass = xrealloc(u->pass, (u->npass + 1) * sizeof(*u->pass));
    memcpy(u->pass[u->npass], hex, 64);
    u->pass[u->npass][64] = '\0';
    u->npass++;
    u->nopass = 0;
}

static int del_hash(acl_user *u, const char *hex)
{
    for (size_t i = 0; i < u->npass; i++) {
        if (memcmp(u->pass[i], hex, 64) == 0) {
            memmove(&u->pass[i], &u->pass[i + 1], (u->npass - i - 1) * sizeof(*u->pass));
            u->npass--;
            return 0;
        }
    }
    return -ENOENT;
}

static void add_key(acl_user *u, const char *pat, size_t n, uint8_t perm)
{
    if (n == 1 && pat[0] == '*' && perm == (KS_ACC_READ | KS_ACC_WRITE)) {
        reset_keys(u);
        u->allkeys = 1;
        return;
    }
    if (u->allkeys)
        return;
    for (size_t i = 0; i < u->nkeys; i++) {
        if (strlen(u->keys[i].pattern) == n && memcmp(u->keys[i].pattern, pat, n) == 0) {
            u->keys[i].perm |= perm;
            return;
        }
    }
    u->keys = xrealloc(u->keys, (u->nkeys + 1) * sizeof(*u->keys));
    u->keys[u->nkeys].pattern = xstrndup(pat, n);
    u->keys[u->nkeys].perm = perm;
    u->nkeys++;
}

static void add_channel(acl_user *u, const char *pat, size_t n)
{
    if (n == 1 && pat[0] == '*') {
        reset_channels(u);
        u->allchannels = 1;
        return;
    }
    if (u->allchannels)
        return;
    for (size_t i = 0; i < u->nchannels; i++)
        if (strlen(u->channels[i]) == n && memcmp(u->channels[i], pat, n) == 0)
            return;
    u->channels = xrealloc(u->channels, (u->nchannels + 1) * sizeof(char *));
    u->channels[u->nchannels++] = xstrndup(pat, n);
}

static void set_category(acl_user *u, int cat, int on)
{
    for (size_t i = 0; i < cmd_table_len; i++) {
        const cmd_def *d = &cmd_table[i];
        if (cat < 0 || (d->acl >> cat) & 1u)
            bits_set(u->cmds, d->id, on);
        for (uint16_t j = 0; j < d->nsubs; j++)
            if (cat < 0 || (d->subs[j].acl >> cat) & 1u)
                bits_set(u->cmds, d->subs[j].id, on);
    }
}

static void set_command(acl_user *u, const cmd_def *d, int on)
{
    bits_set(u->cmds, d->id, on);
    for (uint16_t j = 0; j < d->nsubs; j++)
        bits_set(u->cmds, d->subs[j].id, on);
}

static void note_rule(acl_user *u, const char *rule, size_t n, int reset)
{
    if (reset)
        buf_consume(&u->cmd_rules, buf_used(&u->cmd_rules));
    if (buf_used(&u->cmd_rules))
        buf_append(&u->cmd_rules, " ", 1);
    for (size_t i = 0; i < n; i++) {
        char c = rule[i];
        buf_append(&u->cmd_rules, c >= 'A' && c <= 'Z' ? &(char){(char)(c + 32)} : &c, 1);
    }
}

static int word(const char *r, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(r, w, n) == 0;
}

static int command_rule(acl_user *u, const char *rule, size_t len, char *err, size_t errlen)
{
    int on = rule[0] == '+';
    const char *name = rule + 1;
    size_t n = len - 1;
    if (n > 0 && name[0] == '@') {
        if (word(name + 1, n - 1, "all")) {
            set_category(u, -1, on);
            note_rule(u, on ? "+@all" : "-@all", 5, 1);
            return 0;
        }
        for (size_t c = 0; c < cmd_acl_ncategories; c++) {
            if (word(name + 1, n - 1, cmd_acl_categories[c])) {
                set_category(u, (int)c, on);
                note_rule(u, rule, len, 0);
                return 0;
            }
        }
        snprintf(err, errlen, "Unknown command or category name in ACL");
        return -EINVAL;
    }
    const char *bar = memchr(name, '|', n);
    const cmd_def *d = cmd_lookup(name, bar ? (size_t)(bar - name) : n);
    if (d && bar) {
        size_t sl = n - (size_t)(bar - name) - 1;
        if (d->nsubs == 0) {
            snprintf(err, errlen, "Allowing first-arg of a subcommand is not supported");
            return -EINVAL;
        }
        d = cmd_lookup_sub(d, bar + 1, sl);
    }
    if (!d) {
        snprintf(err, errlen, "Unknown command or category name in ACL");
        return -EINVAL;
    }
    set_command(u, d, on);
    note_rule(u, rule, len, 0);
    return 0;
}

int acl_user_apply(acl_user *u, const char *r, size_t n, char *err, size_t errlen)
{
    char hex[65];
    if (n == 0) {
        snprintf(err, errlen, "Syntax error");
        return -EINVAL;
    }
    if (word(r, n, "on")) {
        u->enabled = 1;
    } else if (word(r, n, "off")) {
        u->enabled = 0;
    } else if (word(r, n, "nopass")) {
        u->nopass = 1;
        u->npass = 0;
    } else if (word(r, n, "resetpass")) {
        u->nopass = 0;
        u->npass = 0;
    } else if (word(r, n, "sanitize-payload")) {
        u->sanitize = 1;
    } else if (word(r, n, "skip-sanitize-payload")) {
        u->sanitize = 0;
    } else if (word(r, n, "allkeys")) {
        add_key(u, "*", 1, KS_ACC_READ | KS_ACC_WRITE);
    } else if (word(r, n, "resetkeys")) {
        reset_keys(u);
    } else if (word(r, n, "allchannels")) {
        add_channel(u, "*", 1);
    } else if (word(r, n, "resetchannels")) {
        reset_channels(u);
    } else if (word(r, n, "allcommands")) {
        return command_rule(u, "+@all", 5, err, errlen);
    } else if (word(r, n, "nocommands")) {
        return command_rule(u, "-@all", 5, err, errlen);
    } else if (word(r, n, "clearselectors")) {
        /* Selectors are not supported, so there are none to clear. */
    } else if (word(r, n, "reset")) {
        u->enabled = 0;
        u->nopass = 0;
        u->npass = 0;
        u->sanitize = 1;
        reset_keys(u);
        reset_channels(u);
        command_rule(u, "-@all", 5, err, errlen);
    } else if (r[0] == '>') {
        crypto_sha256_hex(r + 1, n - 1, hex);
        add_hash(u, hex);
    } else if (r[0] == '<') {
        crypto_sha256_hex(r + 1, n - 1, hex);
        if (del_hash(u, hex) != 0) {
            snprintf(err, errlen,
                     "The password you are trying to remove from the user does not "
                     "exist");
            return -EINVAL;
        }
    } else if (r[0] == '#' || r[0] == '!') {
        if (!is_hash(r + 1, n - 1)) {
            snprintf(err, errlen,
                     "The password hash must be exactly 64 characters and contain "
                     "only lowercase hexadecimal characters");
            return -EINVAL;
        }
        memcpy(hex, r + 1, 64);
        hex[64] = '\0';
        if (r[0] == '#')
            add_hash(u, hex);
        else if (del_hash(u, hex) != 0) {
            snprintf(err, errlen,
                     "The password you are trying to remove from the user does not "
                     "exist");
            return -EINVAL;
        }
    } else if (r[0] == '~') {
        add_key(u, r + 1, n - 1, KS_ACC_READ | KS_ACC_WRITE);
    } else if (r[0] == '%') {
        size_t i = 1;
        uint8_t perm = 0;
        for (; i < n && r[i] != '~'; i++) {
            if (r[i] == 'R' || r[i] == 'r')
                perm |= KS_ACC_READ;
            else if (r[i] == 'W' || r[i] == 'w')
                perm |= KS_ACC_WRITE;
            else
                break;
        }
        if (i >= n || r[i] != '~' || perm == 0) {
            snprintf(err, errlen, "Syntax error");
            return -EINVAL;
        }
        add_key(u, r + i + 1, n - i - 1, perm);
    } else if (r[0] == '&') {
        add_channel(u, r + 1, n - 1);
    } else if (r[0] == '+' || r[0] == '-') {
        int rc = command_rule(u, r, n, err, errlen);
        if (rc != 0)
            return rc;
    } else if (r[0] == '(') {
        snprintf(err, errlen,
                 "selectors are not supported by Stratus; give the user one set of "
                 "rules, or create a second user");
        return -EINVAL;
    } else {
        snprintf(err, errlen, "Syntax error");
        return -EINVAL;
    }
    refresh(u);
    return 0;
}

int acl_user_apply_text(acl_user *u, const char *text, char *err, size_t errlen)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if (e > p && acl_user_apply(u, p, (size_t)(e - p), err, errlen) != 0)
            return -EINVAL;
        p = e;
    }
    return 0;
}

void acl_user_describe(const acl_user *u, buf *out)
{
    buf_appendf(out, "%s", u->enabled ? "on" : "off");
    if (u->nopass)
        buf_appendf(out, " nopass");
    if (!u->sanitize)
        buf_appendf(out, " skip-sanitize-payload");
    for (size_t i = 0; i < u->npass; i++)
        buf_appendf(out, " #%s", u->pass[i]);
    if (u->allkeys)
        buf_appendf(out, " ~*");
    for (size_t i = 0; i < u->nkeys; i++) {
        uint8_t p = u->keys[i].perm;
        buf_appendf(out, " %s~%s",
                    p == (KS_ACC_READ | KS_ACC_WRITE) ? ""
                    : p == KS_ACC_READ                ? "%R"
                                                      : "%W",
                    u->keys[i].pattern);
    }
    if (u->allchannels)
        buf_appendf(out, " &*");
    else if (u->nchannels == 0)
        buf_appendf(out, " resetchannels");
    for (size_t i = 0; i < u->nchannels; i++)
        buf_appendf(out, " &%s", u->channels[i]);
    buf_appendf(out, " %.*s", (int)buf_used(&u->cmd_rules), buf_rptr(&u->cmd_rules));
}

int acl_user_password_ok(const acl_user *u, const char *pass, size_t n)
{
    if (u->nopass)
        return 1;
    char hex[65];
    crypto_sha256_hex(pass, n, hex);
    int ok = 0;
    for (size_t i = 0; i < u->npass; i++) {
        unsigned char diff = 0;
        for (size_t j = 0; j < 64; j++)
            diff |= (unsigned char)(hex[j] ^ u->pass[i][j]);
        ok |= diff == 0;
    }
    return ok;
}

/* ---- checks ---- */

static int key_ok(const acl_user *u, const char *k, size_t n, uint8_t need)
{
    if (u->allkeys)
        return 1;
    for (size_t i = 0; i < u->nkeys; i++) {
        const acl_key_pattern *kp = &u->keys[i];
        if ((kp->perm & need) == need && acl_glob_match(kp->pattern, strlen(kp->pattern), k, n, 0))
            return 1;
    }
    return 0;
}

static int channel_ok(const acl_user *u, const char *ch, size_t n, int is_pattern)
{
    if (u->allchannels)
        return 1;
    for (size_t i = 0; i < u->nchannels; i++) {
        const char *p = u->channels[i];
        if (is_pattern ? strlen(p) == n && memcmp(p, ch, n) == 0
                       : acl_glob_match(p, strlen(p), ch, n, 0))
            return 1;
    }
    return 0;
}

/* Which arguments of d are channel names (first, and whether patterns); 0 if none. */
static size_t channel_args(const cmd_def *d, size_t argc, size_t *first, int *patterns)
{
    *patterns = 0;
    *first = 1;
    if (!strcmp(d->name, "publish") || !strcmp(d->name, "spublish"))
        return argc > 1 ? 1 : 0;
    if (!strcmp(d->name, "subscribe") || !strcmp(d->name, "ssubscribe"))
        return argc - 1;
    if (!strcmp(d->name, "psubscribe")) {
        *patterns = 1;
        return argc - 1;
    }
    return 0;
}

acl_verdict acl_check(const acl_user *u, const cmd_def *d, size_t argc, const char *const *argv,
                      const size_t *lens)
{
    if (u->unrestricted)
        return ACL_OK;
    if (!bits_get(u->cmds, d->id))
        return ACL_DENY_CMD;
    if (d->nspecs && !u->allkeys) {
        uint32_t keys[64];
        uint8_t access[64];
        int n = cmd_get_keys_access(d, argc, argv, lens, keys, access, ARRAY_LEN(keys));
        if (n == -E2BIG) {
            uint32_t *k = xmalloc(argc * sizeof(uint32_t));
            uint8_t *a = xmalloc(argc);
            n = cmd_get_keys_access(d, argc, argv, lens, k, a, argc);
            int ok = 1;
            for (int i = 0; i < n && ok; i++)
                ok = (a[i] & KS_ACC_NOTKEY) ||
                     key_ok(u, argv[k[i]], lens[k[i]], a[i] & (KS_ACC_READ | KS_ACC_WRITE));
            xfree(k);
            xfree(a);
            if (!ok)
                return ACL_DENY_KEY;
        }
        for (int i = 0; i < n; i++)
            if (!(access[i] & KS_ACC_NOTKEY) &&
                !key_ok(u, argv[keys[i]], lens[keys[i]], access[i] & (KS_ACC_READ | KS_ACC_WRITE)))
                return ACL_DENY_KEY;
    }
    if (!u->allchannels) {
        size_t first;
        int patterns;
        size_t n = channel_args(d, argc, &first, &patterns);
        for (size_t i = first; i < first + n && i < argc; i++)
            if (!channel_ok(u, argv[i], lens[i], patterns))
                return ACL_DENY_CHANNEL;
    }
    return ACL_OK;
}

void acl_deny_message(acl_verdict v, const cmd_def *d, char *out, size_t outlen)
{
    char name[80];
    snprintf(name, sizeof(name), "%s", d->name);
    for (char *p = name; *p; p++)
        if (*p == '|')
            *p = ' ';
    if (v == ACL_DENY_KEY)
        snprintf(out, outlen,
                 "NOPERM this user has no permissions to access one of the keys used as "
                 "arguments");
    else if (v == ACL_DENY_CHANNEL)
        snprintf(out, outlen,
                 "NOPERM this user has no permissions to access one of the channels used as "
                 "arguments");
    else
        snprintf(out, outlen, "NOPERM this user has no permissions to run the '%s' command", name);
}

/* ---- tables ---- */

acl_table *acl_table_create(void)
{
    acl_table *t = xcalloc(1, sizeof(*t));
    t->version = 1;
    return t;
}

acl_user *acl_table_find(const acl_table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->users[i]->name) == len && memcmp(t->users[i]->name, name, len) == 0)
            return t->users[i];
    return NULL;
}

static acl_table *copy_except(const acl_table *t, const char *name, size_t len, size_t extra)
{
    acl_table *c = xcalloc(1, sizeof(*c));
    c->version = t->version + 1;
    c->users = xmalloc((t->n + extra) * sizeof(acl_user *) + 1);
    for (size_t i = 0; i < t->n; i++) {
        const acl_user *u = t->users[i];
        if (strlen(u->name) == len && memcmp(u->name, name, len) == 0)
            continue;
        c->users[c->n++] = acl_user_dup(u);
    }
    return c;
}

acl_table *acl_table_with(const acl_table *t, acl_user *u)
{
    acl_table *c = copy_except(t, u->name, strlen(u->name), 1);
    c->users[c->n++] = u;
    return c;
}

acl_table *acl_table_without(const acl_table *t, const char *name, size_t len)
{
    return copy_except(t, name, len, 0);
}

void acl_table_destroy(acl_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        acl_user_destroy(t->users[i]);
    xfree(t->users);
    xfree(t);
}
