/* RESP parsing and writing. The request parser follows Redis 7's processMultibulkBuffer and
 * processInlineBuffer rules (string2ll numbers, sdssplitargs quoting, the same error texts) so a
 * client sees the errors it would see talking to Redis; the reply scanner only finds frame
 * boundaries, which is all the proxy needs to forward engine replies untouched. */
#define ALLOC_ROOM ROOM_PROTO
#include "proto/resp.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"

/* Request parser states. */
enum {
    REQ_START,     /* nothing of the command examined yet */
    REQ_INLINE,    /* looking for the newline ending an inline command */
    REQ_MB_COUNT,  /* looking for the CR ending "*<n>" */
    REQ_BULK_LEN,  /* looking for the CR ending "$<len>" */
    REQ_BULK_DATA, /* waiting for a bulk payload and its CRLF */
};

/* argv arrays larger than this are given back between commands, so one huge MSET does not pin
 * its argument array for the life of the connection. */
#define ARGV_KEEP 1024
/* Inline buffers larger than this are given back between commands. */
#define INLINE_KEEP 16384
/* Longest number Redis's string2ll accepts is 20 characters ("-9223372036854775808"). */
#define LL_MAX_CHARS 20

/* Digits s[i..n) with a sign already read, into *out without overflow; 1, or 0 when a character
 * is not a digit or the value does not fit. Shared by both parsers below. */
static int digits_to_ll(const char *s, size_t i, size_t n, int neg, long long *out)
{
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

/* Redis string2ll: optional '-', then digits without a leading zero (except "0" itself), no
 * other characters, and no overflow. */
static int req_parse_ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > LL_MAX_CHARS)
        return 0;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return 0;
    }
    if (s[i] < '1' || s[i] > '9')
        return 0;
    return digits_to_ll(s, i, n, neg, out);
}

static int req_fail(resp_req_parser *p, const char *msg)
{
    snprintf(p->err, sizeof(p->err), "Protocol error: %s", msg);
    p->state = REQ_START;
    return RESP_ERR;
}

static int req_oom(resp_req_parser *p)
{
    snprintf(p->err, sizeof(p->err), "out of memory while parsing the request");
    p->state = REQ_START;
    return RESP_ERR;
}

static int argv_reserve(resp_req_parser *p, size_t need)
{
    if (need <= p->argv_cap)
        return 0;
    size_t cap = p->argv_cap ? p->argv_cap : 8;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof(resp_span))
            return -ENOMEM;
        cap *= 2;
    }
    resp_span *a = xtry_realloc(p->argv, cap * sizeof(*a));
    if (!a)
        return -ENOMEM;
    p->argv = a;
    p->argv_cap = cap;
    return 0;
}

static int argv_push(resp_req_parser *p, size_t off, size_t len)
{
    if (p->argc == p->argv_cap && argv_reserve(p, p->argc + 1) != 0)
        return -ENOMEM;
    p->argv[p->argc].off = off;
    p->argv[p->argc].len = len;
    p->argc++;
    return 0;
}

void resp_req_parser_init(resp_req_parser *p, const resp_limits *lim)
{
    memset(p, 0, sizeof(*p));
    if (lim) {
        p->limits = *lim;
    } else {
        p->limits.max_args = RESP_LIMIT_ARGS;
        p->limits.max_bulk = RESP_LIMIT_BULK;
        p->limits.max_inline = RESP_LIMIT_INLINE;
    }
    p->state = REQ_START;
    buf_init(&p->inline_buf);
}

void resp_req_parser_deinit(resp_req_parser *p)
{
    xfree(p->argv);
    buf_deinit(&p->inline_buf);
    p->argv = NULL;
    p->argv_cap = 0;
    p->argc = 0;
    p->state = REQ_START;
}

/* Forget the previous command and give back memory above the watermarks. */
static void req_begin(resp_req_parser *p)
{
    p->argc = 0;
    p->is_inline = 0;
    if (p->argv_cap > ARGV_KEEP) {
        xfree(p->argv);
        p->argv = NULL;
        p->argv_cap = 0;
    }
    p->inline_buf.rpos = p->inline_buf.len = 0;
    buf_shrink(&p->inline_buf, INLINE_KEEP);
}

/* isspace() in the C locale, which is what sdssplitargs uses between arguments. */
static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/* Split one inline line like Redis sdssplitargs. Each input byte yields at most one output
 * byte, so the output fits in n bytes. A NUL byte is an ordinary character here (Redis cannot
 * receive one inline at all, since it looks for the newline with strchr). Returns 0, -EINVAL on
 * unbalanced quotes, -ENOMEM. */
static int split_inline(resp_req_parser *p, const char *line, size_t n)
{
    buf *b = &p->inline_buf;
    if (n > 0 && buf_reserve(b, n) != 0)
        return -ENOMEM;
    char *out = b->data;
    size_t o = 0, i = 0;
    for (;;) {
        while (i < n && is_blank((unsigned char)line[i]))
            i++;
        if (i == n)
            break;
        size_t start = o;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            if (inq) {
                if (i == n)
                    return -EINVAL;
                char c = line[i];
                int hi, lo;
                if (c == '\\' && i + 3 < n && line[i + 1] == 'x' &&
                    (hi = hex_val((unsigned char)line[i + 2])) >= 0 &&
                    (lo = hex_val((unsigned char)line[i + 3])) >= 0) {
                    out[o++] = (char)(hi * 16 + lo);
                    i += 4;
                } else if (c == '\\' && i + 1 < n) {
                    out[o++] = unescape(line[i + 1]);
                    i += 2;
                } else if (c == '"') {
                    /* A closing quote must be followed by a blank or the end of the line. */
                    if (i + 1 < n && !is_blank((unsigned char)line[i + 1]))
                        return -EINVAL;
                    done = 1;
                    i++;
                } else {
                    out[o++] = c;
                    i++;
                }
            } else if (insq) {
                if (i == n)
                    return -EINVAL;
                char c = line[i];
                if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    out[o++] = '\'';
                    i += 2;
                } else if (c == '\'') {
                    if (i + 1 < n && !is_blank((unsigned char)line[i + 1]))
                        return -EINVAL;
                    done = 1;
                    i++;
                } else {
                    out[o++] = c;
                    i++;
                }
            } else if (i == n) {
                done = 1;
            } else {
                switch (line[i]) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    out[o++] = line[i];
                    break;
                }
                i++;
            }
        }
        if (argv_push(p, start, o - start) != 0)
            return -ENOMEM;
    }
    b->len = o;
    return 0;
}

static int req_inline(resp_req_parser *p, const char *data, size_t len, size_t *consumed)
{
    const char *nl = memchr(data + p->pos, '\n', len - p->pos);
    if (!nl) {
        if (len > p->limits.max_inline)
            return req_fail(p, "too big inline request");
        p->pos = len;
        return RESP_AGAIN;
    }
    size_t at = (size_t)(nl - data);
    /* Same verdict whatever the split: a line is too big by its length, not by when it ends. */
    if (at > p->limits.max_inline)
        return req_fail(p, "too big inline request");
    size_t end = at;
    if (end > 0 && data[end - 1] == '\r')
        end--;
    int rc = split_inline(p, data, end);
    if (rc == -EINVAL)
        return req_fail(p, "unbalanced quotes in request");
    if (rc != 0)
        return req_oom(p);
    *consumed = at + 1;
    p->state = REQ_START;
    return RESP_DONE;
}

/* Find the CR ending the header line that starts at line_start. Returns 1 with *cr set when the
 * CR and the byte after it are available, 0 for "need more", -1 when the line is too long. */
static int req_find_cr(resp_req_parser *p, const char *data, size_t len, size_t *cr)
{
    const char *r = memchr(data + p->pos, '\r', len - p->pos);
    if (!r) {
        if (len - p->line_start > p->limits.max_inline)
            return -1;
        p->pos = len;
        return 0;
    }
    size_t at = (size_t)(r - data);
    if (at - p->line_start > p->limits.max_inline)
        return -1;
    if (at + 1 >= len) {
        p->pos = at;
        return 0;
    }
    *cr = at;
    return 1;
}

static int req_multibulk(resp_req_parser *p, const char *data, size_t len, size_t *consumed)
{
    for (;;) {
        size_t cr;
        long long ll;
        int rc;
        switch (p->state) {
        case REQ_MB_COUNT:
            rc = req_find_cr(p, data, len, &cr);
            if (rc < 0)
                return req_fail(p, "too big mbulk count string");
            if (rc == 0)
                return RESP_AGAIN;
            if (data[cr + 1] != '\n' || !req_parse_ll(data + 1, cr - 1, &ll) || ll > INT_MAX)
                return req_fail(p, "invalid multibulk length");
            if (ll > 0 && (unsigned long long)ll > p->limits.max_args)
                return req_fail(p, p->limits.unauthenticated ? "unauthenticated multibulk length"
                                                             : "invalid multibulk length");
            p->pos = cr + 2;
            if (ll <= 0) {
                *consumed = p->pos;
                p->state = REQ_START;
                return RESP_DONE;
            }
            p->args_left = (size_t)ll;
            /* Pre-size like Redis, but never trust a peer's count beyond a modest bound. */
            if (argv_reserve(p, MIN(p->args_left, (size_t)ARGV_KEEP)) != 0)
                return req_oom(p);
            p->line_start = p->pos;
            p->state = REQ_BULK_LEN;
            break;
        case REQ_BULK_LEN:
            if (p->pos == p->line_start) {
                /* Reject junk at its first byte rather than when its line ends. */
                if (p->pos >= len)
                    return RESP_AGAIN;
                unsigned char c = (unsigned char)data[p->pos];
                if (c != '$') {
                    char msg[64];
                    /* The byte goes into an error reply: keep it printable. */
                    char shown =
                        c == '\r' || c == '\n' ? ' ' : (c < 0x20 || c > 0x7e ? '?' : (char)c);
                    snprintf(msg, sizeof(msg), "expected '$', got '%c'", shown);
                    return req_fail(p, msg);
                }
                p->pos++;
            }
            rc = req_find_cr(p, data, len, &cr);
            if (rc < 0)
                return req_fail(p, "too big bulk count string");
            if (rc == 0)
                return RESP_AGAIN;
            if (data[cr + 1] != '\n' ||
                !req_parse_ll(data + p->line_start + 1, cr - p->line_start - 1, &ll) || ll < 0)
                return req_fail(p, "invalid bulk length");
            if ((unsigned long long)ll > p->limits.max_bulk) {
                /* Before AUTH Redis names the cause unless the length is bad for anyone. */
                int unauth = p->limits.unauthenticated && ll <= (long long)RESP_LIMIT_BULK;
                return req_fail(p, unauth ? "unauthenticated bulk length" : "invalid bulk length");
            }
            p->bulk_len = (size_t)ll;
            p->pos = cr + 2;
            p->state = REQ_BULK_DATA;
            break;
        case REQ_BULK_DATA:
            if (len - p->pos < p->bulk_len + 2)
                return RESP_AGAIN;
            if (data[p->pos + p->bulk_len] != '\r' || data[p->pos + p->bulk_len + 1] != '\n')
                return req_fail(p, "expected CRLF after bulk");
            if (argv_push(p, p->pos, p->bulk_len) != 0)
                return req_oom(p);
            p->pos += p->bulk_len + 2;
            if (--p->args_left == 0) {
                *consumed = p->pos;
                p->state = REQ_START;
                return RESP_DONE;
            }
            p->line_start = p->pos;
            p->state = REQ_BULK_LEN;
            break;
        default:
            return req_fail(p, "parser in an impossible state");
        }
    }
}

int resp_req_parse(resp_req_parser *p, const char *data, size_t len, size_t *consumed)
{
    if (p->state == REQ_START) {
        req_begin(p);
        if (len == 0)
            return RESP_AGAIN;
        p->line_start = 0;
        if (data[0] == '*') {
            p->state = REQ_MB_COUNT;
            p->pos = 1;
        } else {
            p->state = REQ_INLINE;
            p->pos = 0;
            p->is_inline = 1;
        }
    }
    if (p->state == REQ_INLINE)
        return req_inline(p, data, len, consumed);
    return req_multibulk(p, data, len, consumed);
}

const char *resp_req_arg(const resp_req_parser *p, const char *data, size_t i)
{
    if (p->is_inline)
        return p->inline_buf.data + p->argv[i].off;
    return data + p->argv[i].off;
}

/* Reply lengths and counts: optional '-', then at least one digit; leading zeros allowed. */
static int reply_parse_ll(const char *s, size_t n, long long *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return 0;
    return digits_to_ll(s, i, n, neg, out);
}

static void scan_reset(resp_reply_scanner *s)
{
    s->pos = 0;
    s->line_start = 0;
    s->blob_end = 0;
    s->in_blob = 0;
    s->depth = 0;
}

void resp_reply_scanner_init(resp_reply_scanner *s)
{
    scan_reset(s);
    s->err = NULL;
}

static int scan_fail(resp_reply_scanner *s, const char *msg)
{
    s->err = msg;
    scan_reset(s);
    return RESP_ERR;
}

/* One value finished at the current level. Returns 1 when that completes the whole frame. An
 * attribute map that completes does not count: the value it annotates is still to come. */
static int scan_complete(resp_reply_scanner *s)
{
    while (s->depth > 0) {
        unsigned top = s->depth - 1;
        if (--s->left[top] > 0)
            return 0;
        s->depth--;
        if (s->attr[top])
            return 0;
    }
    return 1;
}

static int is_reply_type(unsigned char c)
{
    switch (c) {
    case '+':
    case '-':
    case ':':
    case '$':
    case '*':
    case '_':
    case ',':
    case '#':
    case '(':
    case '=':
    case '!':
    case '%':
    case '~':
    case '>':
    case '|':
        return 1;
    default:
        return 0;
    }
}

int resp_reply_scan(resp_reply_scanner *s, const char *data, size_t len, size_t *frame_len)
{
    for (;;) {
        if (s->in_blob) {
            if (len < 2 || len - 2 < s->blob_end)
                return RESP_AGAIN;
            if (data[s->blob_end] != '\r' || data[s->blob_end + 1] != '\n')
                return scan_fail(s, "expected CRLF after blob");
            s->in_blob = 0;
            s->pos = s->blob_end + 2;
            if (scan_complete(s))
                break;
            s->line_start = s->pos;
            continue;
        }
        if (s->pos == s->line_start) {
            if (s->pos >= len)
                return RESP_AGAIN;
            if (!is_reply_type((unsigned char)data[s->pos]))
                return scan_fail(s, "unknown reply type");
            s->pos++;
        }
        const char *r = memchr(data + s->pos, '\r', len - s->pos);
        if (!r) {
            s->pos = len;
            return RESP_AGAIN;
        }
        size_t cr = (size_t)(r - data);
        if (cr + 1 >= len) {
            s->pos = cr;
            return RESP_AGAIN;
        }
        if (data[cr + 1] != '\n')
            return scan_fail(s, "expected CRLF after line");
        char type = data[s->line_start];
        const char *arg = data + s->line_start + 1;
        size_t alen = cr - s->line_start - 1;
        long long n;
        s->pos = cr + 2;
        switch (type) {
        case '_':
            if (alen != 0)
                return scan_fail(s, "invalid null");
            break;
        case '#':
            if (alen != 1 || (arg[0] != 't' && arg[0] != 'f'))
                return scan_fail(s, "invalid boolean");
            break;
        case '$':
        case '=':
        case '!':
            if (!reply_parse_ll(arg, alen, &n) || (n < 0 && !(n == -1 && type == '$')))
                return scan_fail(s, "invalid blob length");
            if (n == -1)
                break;
            if ((unsigned long long)n > SIZE_MAX - 2 - s->pos)
                return scan_fail(s, "invalid blob length");
            s->blob_end = s->pos + (size_t)n;
            s->in_blob = 1;
            continue;
        case '*':
        case '~':
        case '>':
        case '%':
        case '|': {
            if (!reply_parse_ll(arg, alen, &n) || (n < 0 && !(n == -1 && type == '*')))
                return scan_fail(s, "invalid aggregate length");
            if (n == -1)
                break;
            uint64_t count = (uint64_t)n;
            if (type == '%' || type == '|')
                count *= 2;
            if (count == 0) {
                if (type == '|') {
                    s->line_start = s->pos;
                    continue;
                }
                break;
            }
            if (s->depth >= RESP_MAX_DEPTH)
                return scan_fail(s, "reply nested too deeply");
            s->left[s->depth] = count;
            s->attr[s->depth] = type == '|';
            s->depth++;
            s->line_start = s->pos;
            continue;
        }
        default:
            /* + - : , ( are single lines. */
            break;
        }
        if (scan_complete(s))
            break;
        s->line_start = s->pos;
    }
    *frame_len = s->pos;
    scan_reset(s);
    return RESP_DONE;
}

/* Read the header line at *pos: type byte, argument bytes, and *pos moved past the CRLF. */
static int value_line(const char *data, size_t len, size_t *pos, const char **arg, size_t *alen)
{
    if (*pos + 1 > len)
        return -1;
    const char *r = memchr(data + *pos + 1, '\r', len - *pos - 1);
    if (!r || (size_t)(r - data) + 1 >= len)
        return -1;
    *arg = data + *pos + 1;
    *alen = (size_t)(r - *arg);
    *pos = (size_t)(r - data) + 2;
    return 0;
}

static void value_clear(resp_value *v)
{
    for (size_t i = 0; i < v->nelem; i++)
        value_clear(&v->elem[i]);
    xfree(v->elem);
    v->elem = NULL;
    v->nelem = 0;
}

/* Build v from the frame at *pos. The scanner has already checked the framing and the depth;
 * the checks here only keep a corrupt input from reading out of bounds. */
static int value_build(const char *data, size_t len, size_t *pos, resp_value *v, unsigned depth)
{
    size_t start = *pos;
    const char *arg;
    size_t alen;
    long long n;
    if (depth > RESP_MAX_DEPTH + 1)
        return -1;
    while (*pos < len && data[*pos] == '|') {
        if (value_line(data, len, pos, &arg, &alen) != 0 || !reply_parse_ll(arg, alen, &n) || n < 0)
            return -1;
        for (unsigned long long i = 0; i < 2ull * (unsigned long long)n; i++) {
            resp_value skip;
            memset(&skip, 0, sizeof(skip));
            int rc = value_build(data, len, pos, &skip, depth + 1);
            value_clear(&skip);
            if (rc != 0)
                return -1;
        }
    }
    if (*pos >= len)
        return -1;
    char type = data[*pos];
    if (value_line(data, len, pos, &arg, &alen) != 0)
        return -1;
    switch (type) {
    case '+':
    case '-':
    case ',':
    case '(':
        v->type = type == '+'   ? RESP_T_SIMPLE
                  : type == '-' ? RESP_T_ERROR
                  : type == ',' ? RESP_T_DOUBLE
                                : RESP_T_BIGNUM;
        v->str = arg;
        v->len = alen;
        break;
    case ':':
        v->type = RESP_T_INTEGER;
        if (!reply_parse_ll(arg, alen, &v->integer))
            return -1;
        break;
    case '_':
        v->type = RESP_T_NULL;
        break;
    case '#':
        v->type = RESP_T_BOOL;
        v->integer = alen == 1 && arg[0] == 't';
        break;
    case '$':
    case '=':
    case '!':
        if (!reply_parse_ll(arg, alen, &n) || n < -1)
            return -1;
        if (n == -1) {
            if (type != '$')
                return -1;
            v->type = RESP_T_NULL;
            break;
        }
        if ((unsigned long long)n > len - *pos || len - *pos - (size_t)n < 2)
            return -1;
        v->str = data + *pos;
        v->len = (size_t)n;
        *pos += (size_t)n + 2;
        if (type == '$') {
            v->type = RESP_T_BULK;
        } else if (type == '!') {
            v->type = RESP_T_BLOBERR;
        } else {
            if (v->len < 4 || v->str[3] != ':')
                return -1;
            v->type = RESP_T_VERBATIM;
            v->str += 4;
            v->len -= 4;
        }
        break;
    case '*':
    case '%':
    case '~':
    case '>': {
        if (!reply_parse_ll(arg, alen, &n) || n < -1)
            return -1;
        if (n == -1) {
            if (type != '*')
                return -1;
            v->type = RESP_T_NULL;
            break;
        }
        v->type = type == '*'   ? RESP_T_ARRAY
                  : type == '%' ? RESP_T_MAP
                  : type == '~' ? RESP_T_SET
                                : RESP_T_PUSH;
        unsigned long long count = (unsigned long long)n * (type == '%' ? 2 : 1);
        /* Every element takes at least three bytes, which bounds the allocation by the input. */
        if (count > (len - *pos) / 3)
            return -1;
        if (count > 0) {
            v->elem = xcalloc((size_t)count, sizeof(resp_value));
            v->nelem = (size_t)count;
        }
        for (size_t i = 0; i < v->nelem; i++)
            if (value_build(data, len, pos, &v->elem[i], depth + 1) != 0)
                return -1;
        break;
    }
    default:
        return -1;
    }
    v->raw = data + start;
    v->raw_len = *pos - start;
    return 0;
}

int resp_value_parse(const char *data, size_t len, resp_value **out, size_t *consumed)
{
    resp_reply_scanner s;
    size_t frame_len;
    resp_reply_scanner_init(&s);
    int rc = resp_reply_scan(&s, data, len, &frame_len);
    if (rc != RESP_DONE)
        return rc;
    resp_value *v = xcalloc(1, sizeof(*v));
    size_t pos = 0;
    if (value_build(data, frame_len, &pos, v, 0) != 0 || pos != frame_len) {
        resp_value_free(v);
        return RESP_ERR;
    }
    *out = v;
    *consumed = frame_len;
    return RESP_DONE;
}

void resp_value_free(resp_value *v)
{
    if (!v)
        return;
    value_clear(v);
    xfree(v);
}

void resp_add_simple(buf *b, const char *s)
{
    buf_append(b, "+", 1);
    buf_append(b, s, strlen(s));
    buf_append(b, "\r\n", 2);
}

void resp_add_error(buf *b, const char *fmt, ...)
{
    char small[256];
    char *msg = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(small)) {
        msg = xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    for (int i = 0; i < n; i++)
        if (msg[i] == '\r' || msg[i] == '\n')
            msg[i] = ' ';
    buf_append(b, "-", 1);
    buf_append(b, msg, (size_t)n);
    buf_append(b, "\r\n", 2);
    if (msg != small)
        xfree(msg);
}

void resp_add_int(buf *b, long long v)
{
    buf_appendf(b, ":%lld\r\n", v);
}

void resp_add_bulk(buf *b, const char *p, size_t n)
{
    buf_appendf(b, "$%zu\r\n", n);
    buf_append(b, p, n);
    buf_append(b, "\r\n", 2);
}

void resp_add_cstr(buf *b, const char *s)
{
    resp_add_bulk(b, s, strlen(s));
}

void resp_add_null(buf *b, int proto)
{
    if (proto >= 3)
        buf_append(b, "_\r\n", 3);
    else
        buf_append(b, "$-1\r\n", 5);
}

void resp_add_array(buf *b, size_t n)
{
    buf_appendf(b, "*%zu\r\n", n);
}

void resp_add_map(buf *b, size_t n, int proto)
{
    if (proto >= 3)
        buf_appendf(b, "%%%zu\r\n", n);
    else
        buf_appendf(b, "*%zu\r\n", n * 2);
}

void resp_add_set(buf *b, size_t n, int proto)
{
    buf_appendf(b, "%c%zu\r\n", proto >= 3 ? '~' : '*', n);
}

void resp_add_verbatim(buf *b, const char *p, size_t n, int proto)
{
    if (proto < 3) {
        resp_add_bulk(b, p, n);
        return;
    }
    buf_appendf(b, "=%zu\r\ntxt:", n + 4);
    buf_append(b, p, n);
    buf_append(b, "\r\n", 2);
}

void resp_add_double(buf *b, double d, int proto)
{
    char t[64];
    int n = snprintf(t, sizeof(t), "%.17g", d);
    if (proto >= 3)
        buf_appendf(b, ",%s\r\n", t);
    else
        resp_add_bulk(b, t, (size_t)n);
}

void resp_add_command(buf *b, size_t argc, const char *const *argv, const size_t *lens)
{
    resp_add_array(b, argc);
    for (size_t i = 0; i < argc; i++)
        resp_add_bulk(b, argv[i], lens[i]);
}
