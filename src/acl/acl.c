/* ACL users: the rule language and the permission checks (see acl.h). Pure functions over
 * immutable data, so any worker thread may check a command without a lock. */
#define ALLOC_ROOM ROOM_ACL
#include "acl/acl.h"

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

int acl_user_may(const acl_user *u, unsigned id)
{
    return bits_get(u->cmds, id);
}

/* Every command and subcommand of category cat (all of them when cat < 0) allowed or not. */
static void bits_category(uint64_t *w, int cat, int on)
{
    for (size_t i = 0; i < cmd_table_len; i++) {
        const cmd_def *d = &cmd_table[i];
        if (cat < 0 || (d->acl >> cat) & 1u)
            bits_set(w, d->id, on);
        for (uint16_t j = 0; j < d->nsubs; j++)
            if (cat < 0 || (d->subs[j].acl >> cat) & 1u)
                bits_set(w, d->subs[j].id, on);
    }
}

/* A command allowed or not; a container's subcommands with it (Redis's ACLChangeSelectorPerm). */
static void bits_command(uint64_t *w, const cmd_def *d, int on)
{
    bits_set(w, d->id, on);
    for (uint16_t j = 0; j < d->nsubs; j++)
        bits_set(w, d->subs[j].id, on);
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
    u->nopass = 0;
    for (size_t i = 0; i < u->npass; i++)
        if (memcmp(u->pass[i], hex, 64) == 0)
            return;
    u->pass = xrealloc(u->pass, (u->npass + 1) * sizeof(*u->pass));
    memcpy(u->pass[u->npass], hex, 64);
    u->pass[u->npass][64] = '\0';
    u->npass++;
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

/* Redis's ACLStringHasSpaces: patterns may not hold white space or NUL. */
static int has_spaces(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r') || p[i] == '\0')
            return 1;
    return 0;
}

static void add_key(acl_user *u, const char *pat, size_t n, uint8_t perm)
{
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
    for (size_t i = 0; i < u->nchannels; i++)
        if (strlen(u->channels[i]) == n && memcmp(u->channels[i], pat, n) == 0)
            return;
    u->channels = xrealloc(u->channels, (u->nchannels + 1) * sizeof(char *));
    u->channels[u->nchannels++] = xstrndup(pat, n);
}

static int word(const char *r, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(r, w, n) == 0;
}

/* Messages of Redis's ACLSetUserStringError, by the errno it sets. */
static const char err_syntax[] = "Syntax error";
static const char err_unknown[] = "Unknown command or category name in ACL";
static const char err_after_allkeys[] =
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not "
    "have any effect. Try 'resetkeys' to start with an empty list of patterns";
static const char err_after_allchannels[] =
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not "
    "have any effect. Try 'resetchannels' to start with an empty list of channels";
static const char err_no_password[] =
    "The password you are trying to remove from the user does not exist";
static const char err_bad_hash[] = "The password hash must be exactly 64 characters and contain "
                                   "only lowercase hexadecimal characters";
static const char err_sub_firstarg[] = "Allowing first-arg of a subcommand is not supported";

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -EINVAL;
}

/* A command by its ACL name as Redis's ACLLookupCommand finds it: "get", or "config|get" (one
 * level of subcommands; a command without subcommands takes no "|"). */
static const cmd_def *lookup_acl_name(const char *name, size_t n)
{
    const char *bar = memchr(name, '|', n);
    if (!bar)
        return cmd_lookup(name, n);
    const cmd_def *d = cmd_lookup(name, (size_t)(bar - name));
    size_t sl = n - (size_t)(bar - name) - 1;
    if (!d || !d->nsubs || memchr(bar + 1, '|', sl))
        return NULL;
    return cmd_lookup_sub(d, bar + 1, sl);
}

/* +cmd, -cmd, +@category, -@category (+@all and -@all are handled by the caller). */
static int command_rule(acl_user *u, const char *rule, size_t len, char *err, size_t errlen)
{
    int on = rule[0] == '+';
    const char *name = rule + 1;
    size_t n = len - 1;
    if (n > 0 && name[0] == '@') {
        for (size_t c = 0; c < cmd_acl_ncategories; c++) {
            if (word(name + 1, n - 1, cmd_acl_categories[c])) {
                bits_category(u->cmds, (int)c, on);
                return 0;
            }
        }
        return fail(err, errlen, err_unknown);
    }
    const char *bar = NULL;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '|')
            bar = name + i; /* the last one, as Redis splits "+config|get|x" */
    if (!on || !bar) {
        const cmd_def *d = lookup_acl_name(name, n);
        if (!d)
            return fail(err, errlen, err_unknown);
        bits_command(u->cmds, d, on);
        return 0;
    }
    /* +name|arg: a subcommand, or a first argument of a command without subcommands. */
    size_t head = (size_t)(bar - name);
    const cmd_def *d = lookup_acl_name(name, head);
    if (!d)
        return fail(err, errlen, err_unknown);
    if (d->sub)
        return fail(err, errlen, err_sub_firstarg);
    if (head + 1 == n)
        return fail(err, errlen, err_syntax);
    if (d->nsubs) {
        d = cmd_lookup_sub(d, bar + 1, n - head - 1);
        if (!d)
            return fail(err, errlen, err_unknown);
        bits_command(u->cmds, d, 1);
        return 0;
    }
    snprintf(err, errlen,
             "Stratus does not support allowing one first argument of a command (Redis's "
             "deprecated '+%.*s' form); allow or deny the whole command: +%s or -%s",
             (int)MIN(n, 100), name, d->name, d->name);
    return -EINVAL;
}

/* ~pattern, %R~pattern, %W~pattern, %RW~pattern (Redis 7.0.15 with Debian's fix for
 * CVE-2024-51741: "%" needs at least one of R and W, each at most once). */
static int key_rule(acl_user *u, const char *r, size_t n, char *err, size_t errlen)
{
    if (u->allkeys)
        return fail(err, errlen, err_after_allkeys);
    uint8_t perm = KS_ACC_READ | KS_ACC_WRITE;
    size_t at = 1;
    if (r[0] == '%') {
        perm = 0;
        int ok = 1;
        for (; at < n; at++) {
            if ((r[at] == 'R' || r[at] == 'r') && !(perm & KS_ACC_READ)) {
                perm |= KS_ACC_READ;
            } else if ((r[at] == 'W' || r[at] == 'w') && !(perm & KS_ACC_WRITE)) {
                perm |= KS_ACC_WRITE;
            } else if (r[at] == '~') {
                at++;
                break;
            } else {
                ok = 0;
                break;
            }
        }
        if (!perm || !ok)
            return fail(err, errlen, err_syntax);
    }
    if (has_spaces(r + at, n - at))
        return fail(err, errlen, err_syntax);
    add_key(u, r + at, n - at, perm);
    return 0;
}

/* The rules of Redis's ACLSetSelector (keys, channels, commands). */
static int selector_rule(acl_user *u, const char *r, size_t n, char *err, size_t errlen)
{
    if (word(r, n, "allkeys") || (n == 2 && r[0] == '~' && r[1] == '*')) {
        reset_keys(u);
        u->allkeys = 1;
    } else if (word(r, n, "resetkeys")) {
        reset_keys(u);
    } else if (word(r, n, "allchannels") || (n == 2 && r[0] == '&' && r[1] == '*')) {
        reset_channels(u);
        u->allchannels = 1;
    } else if (word(r, n, "resetchannels")) {
        reset_channels(u);
    } else if (word(r, n, "allcommands") || word(r, n, "+@all")) {
        bits_category(u->cmds, -1, 1);
        u->all_base = 1;
    } else if (word(r, n, "nocommands") || word(r, n, "-@all")) {
        memset(u->cmds, 0, sizeof(u->cmds));
        u->all_base = 0;
    } else if (r[0] == '~' || r[0] == '%') {
        return key_rule(u, r, n, err, errlen);
    } else if (r[0] == '&') {
        if (u->allchannels)
            return fail(err, errlen, err_after_allchannels);
        if (has_spaces(r + 1, n - 1))
            return fail(err, errlen, err_syntax);
        add_channel(u, r + 1, n - 1);
    } else if (r[0] == '+' || r[0] == '-') {
        return command_rule(u, r, n, err, errlen);
    } else {
        return fail(err, errlen, err_syntax);
    }
    return 0;
}

static int password_rule(acl_user *u, const char *r, size_t n, char *err, size_t errlen)
{
    char hex[65];
    if (r[0] == '>' || r[0] == '<') {
        crypto_sha256_hex(r + 1, n - 1, hex);
    } else {
        if (!is_hash(r + 1, n - 1))
            return fail(err, errlen, err_bad_hash);
        memcpy(hex, r + 1, 64);
        hex[64] = '\0';
    }
    if (r[0] == '>' || r[0] == '#')
        add_hash(u, hex);
    else if (del_hash(u, hex) != 0)
        return fail(err, errlen, err_no_password);
    return 0;
}

/* One rule, in the order of Redis's ACLSetUser. */
static int apply_rule(acl_user *u, const char *r, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0; /* an empty rule does nothing, as in Redis */
    if (word(r, n, "on")) {
        u->enabled = 1;
    } else if (word(r, n, "off")) {
        u->enabled = 0;
    } else if (word(r, n, "skip-sanitize-payload")) {
        u->payload = ACL_PAYLOAD_SKIP;
    } else if (word(r, n, "sanitize-payload")) {
        u->payload = ACL_PAYLOAD_SANITIZE;
    } else if (word(r, n, "nopass")) {
        u->nopass = 1;
        u->npass = 0;
    } else if (word(r, n, "resetpass")) {
        u->nopass = 0;
        u->npass = 0;
    } else if (r[0] == '>' || r[0] == '#' || r[0] == '<' || r[0] == '!') {
        return password_rule(u, r, n, err, errlen);
    } else if (r[0] == '(') {
        return fail(err, errlen,
                    "selectors are not supported by Stratus; give the user one set of "
                    "rules, or create a second user");
    } else if (word(r, n, "clearselectors")) {
        /* Selectors are not supported, so there are none to clear. */
    } else if (word(r, n, "reset")) {
        u->enabled = 0;
        u->nopass = 0;
        u->npass = 0;
        u->payload = ACL_PAYLOAD_SANITIZE;
        reset_keys(u);
        reset_channels(u);
        memset(u->cmds, 0, sizeof(u->cmds));
        u->all_base = 0;
    } else {
        return selector_rule(u, r, n, err, errlen);
    }
    return 0;
}

int acl_user_apply(acl_user *u, const char *r, size_t n, char *err, size_t errlen)
{
    int rc = apply_rule(u, r, n, err, errlen);
    refresh(u);
    return rc;
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

/* ---- description (Redis's ACLDescribeUser and ACLDescribeSelectorCommandRules) ---- */

/* Commands and subcommands of category cat allowed (*on) and not (*off) in w. */
static void count_category(const uint64_t *w, int cat, unsigned long *on, unsigned long *off)
{
    *on = *off = 0;
    for (size_t i = 0; i < cmd_table_len; i++) {
        const cmd_def *d = &cmd_table[i];
        if ((d->acl >> cat) & 1u)
            *(bits_get(w, d->id) ? on : off) += 1;
        for (uint16_t j = 0; j < d->nsubs; j++)
            if ((d->subs[j].acl >> cat) & 1u)
                *(bits_get(w, d->subs[j].id) ? on : off) += 1;
    }
}

/* The single-command pass: each command (then its subcommands) whose bit in the user differs
 * from what the rules so far give (fake) is named, and fake follows. */
static void describe_single(const acl_user *u, uint64_t *fake, const cmd_def *d, buf *out)
{
    int bit = bits_get(u->cmds, d->id);
    if (bit != bits_get(fake, d->id)) {
        buf_appendf(out, " %c%s", bit ? '+' : '-', d->name);
        bits_command(fake, d, bit);
    }
    for (uint16_t j = 0; j < d->nsubs; j++)
        describe_single(u, fake, &d->subs[j], out);
}

void acl_user_describe_commands(const acl_user *u, buf *out)
{
    /* As Redis: the rules are applied to a fake bitmap as they are chosen, so the remaining
     * differences are known at each step; temp is the user's bitmap with the chosen categories
     * taken out, which is what the next category is measured against. */
    uint64_t fake[ACL_CMD_WORDS] = {0}, temp[ACL_CMD_WORDS];
    int additive = !u->all_base;
    buf_appendf(out, "%s", additive ? "-@all" : "+@all");
    if (!additive)
        bits_category(fake, -1, 1);
    memcpy(temp, u->cmds, sizeof(temp));
    char applied[64] = {0};
    for (;;) {
        int best = -1;
        unsigned long mindiff = (unsigned long)-1, maxsame = 0;
        for (size_t c = 0; c < cmd_acl_ncategories && c < sizeof(applied); c++) {
            if (applied[c])
                continue;
            unsigned long on, off;
            count_category(temp, (int)c, &on, &off);
            unsigned long diff = additive ? off : on, same = additive ? on : off;
            if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
                best = (int)c;
                mindiff = diff;
                maxsame = same;
            }
        }
        if (best < 0)
            break;
        bits_category(fake, best, additive);
        bits_category(temp, best, !additive);
        buf_appendf(out, " %c@%s", additive ? '+' : '-', cmd_acl_categories[best]);
        applied[best] = 1;
    }
    for (size_t i = 0; i < cmd_table_len; i++)
        describe_single(u, fake, &cmd_table[i], out);
}

static const char *key_prefix(uint8_t perm)
{
    return perm == (KS_ACC_READ | KS_ACC_WRITE) ? "~" : perm == KS_ACC_READ ? "%R~" : "%W~";
}

void acl_user_describe_keys(const acl_user *u, buf *out)
{
    if (u->allkeys)
        buf_appendf(out, "~*");
    for (size_t i = 0; i < u->nkeys; i++)
        buf_appendf(out, "%s%s%s", i ? " " : "", key_prefix(u->keys[i].perm), u->keys[i].pattern);
}

void acl_user_describe_channels(const acl_user *u, buf *out)
{
    if (u->allchannels)
        buf_appendf(out, "&*");
    for (size_t i = 0; i < u->nchannels; i++)
        buf_appendf(out, "%s&%s", i ? " " : "", u->channels[i]);
}

const char *acl_key_rule_prefix(const acl_key_pattern *k)
{
    if (k->perm == (KS_ACC_READ | KS_ACC_WRITE) && strcmp(k->pattern, "*") == 0)
        return "%RW~";
    return key_prefix(k->perm);
}

/* ACL LIST's text, or (stored) the same with a key pattern "*" written %RW~* so that it reads
 * back as a pattern rather than as allkeys (Redis's own text does not round-trip there). */
static void describe_user(const acl_user *u, int stored, buf *out)
{
    buf_appendf(out, "%s", u->enabled ? "on" : "off");
    if (u->nopass)
        buf_appendf(out, " nopass");
    if (u->payload == ACL_PAYLOAD_SKIP)
        buf_appendf(out, " skip-sanitize-payload");
    else if (u->payload == ACL_PAYLOAD_SANITIZE)
        buf_appendf(out, " sanitize-payload");
    for (size_t i = 0; i < u->npass; i++)
        buf_appendf(out, " #%s", u->pass[i]);
    if (u->allkeys)
        buf_appendf(out, " ~*");
    for (size_t i = 0; i < u->nkeys; i++) {
        const acl_key_pattern *k = &u->keys[i];
        buf_appendf(out, " %s%s", stored ? acl_key_rule_prefix(k) : key_prefix(k->perm),
                    k->pattern);
    }
    if (u->allchannels)
        buf_appendf(out, " &*");
    else
        buf_appendf(out, " resetchannels");
    for (size_t i = 0; i < u->nchannels; i++)
        buf_appendf(out, " &%s", u->channels[i]);
    buf_append(out, " ", 1);
    acl_user_describe_commands(u, out);
}

void acl_user_describe(const acl_user *u, buf *out)
{
    describe_user(u, 0, out);
}

void acl_user_describe_stored(const acl_user *u, buf *out)
{
    describe_user(u, 1, out);
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
    return acl_check_at(u, d, argc, argv, lens, NULL);
}

/* The first key of d refused to u (its index in argv), or -1. */
static long denied_key(const acl_user *u, const cmd_def *d, size_t argc, const char *const *argv,
                       const size_t *lens)
{
    uint32_t small_keys[64];
    uint8_t small_access[64];
    uint32_t *keys = small_keys;
    uint8_t *access = small_access;
    int n = cmd_get_keys_access(d, argc, argv, lens, keys, access, ARRAY_LEN(small_keys));
    if (n == -E2BIG) {
        keys = xmalloc(argc * sizeof(uint32_t));
        access = xmalloc(argc);
        n = cmd_get_keys_access(d, argc, argv, lens, keys, access, argc);
    }
    long at = -1;
    for (int i = 0; i < n && at < 0; i++)
        if (!(access[i] & KS_ACC_NOTKEY) &&
            !key_ok(u, argv[keys[i]], lens[keys[i]], access[i] & (KS_ACC_READ | KS_ACC_WRITE)))
            at = (long)keys[i];
    if (keys != small_keys) {
        xfree(keys);
        xfree(access);
    }
    return at;
}

acl_verdict acl_check_at(const acl_user *u, const cmd_def *d, size_t argc, const char *const *argv,
                         const size_t *lens, size_t *pos)
{
    if (u->unrestricted)
        return ACL_OK;
    if (!bits_get(u->cmds, d->id))
        return ACL_DENY_CMD;
    if (d->nspecs && !u->allkeys) {
        long at = denied_key(u, d, argc, argv, lens);
        if (at >= 0) {
            if (pos)
                *pos = (size_t)at;
            return ACL_DENY_KEY;
        }
    }
    if (!u->allchannels) {
        size_t first;
        int patterns;
        size_t n = channel_args(d, argc, &first, &patterns);
        for (size_t i = first; i < first + n && i < argc; i++) {
            if (!channel_ok(u, argv[i], lens[i], patterns)) {
                if (pos)
                    *pos = i;
                return ACL_DENY_CHANNEL;
            }
        }
    }
    return ACL_OK;
}

void acl_deny_message(acl_verdict v, const cmd_def *d, char *out, size_t outlen)
{
    /* Redis 7.0 names a subcommand by its full name: 'client|kill'. */
    if (v == ACL_DENY_KEY)
        snprintf(out, outlen,
                 "NOPERM this user has no permissions to access one of the keys used as "
                 "arguments");
    else if (v == ACL_DENY_CHANNEL)
        snprintf(out, outlen,
                 "NOPERM this user has no permissions to access one of the channels used as "
                 "arguments");
    else
        snprintf(out, outlen, "NOPERM this user has no permissions to run the '%s' command",
                 d->name);
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
