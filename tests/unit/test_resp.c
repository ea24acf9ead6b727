/* Tests for proto/resp: the request parser against Redis 7's behaviour (messages checked against a
 * real redis-server 7.0), the reply scanner and value parser on every RESP2/RESP3 type, and the
 * writers' exact bytes. Every input is also fed as every growing prefix, each copied to a fresh
 * exact-size block so the data moves between calls and the sanitizers see any over-read. */
#define ALLOC_ROOM ROOM_TEST
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "proto/resp.h"
#include "test.h"

/* A string literal and its length, NUL bytes included. */
#define S(lit) (lit), (sizeof(lit) - 1)

/* Assertions for helpers that return 0 (pass) or -1 (fail, already reported). */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            test_fail(__FILE__, __LINE__, "check failed: " #c);                                    \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            char m_[256];                                                                          \
            snprintf(m_, sizeof(m_), "%s == %s: %lld != %lld", #a, #b, a_, b_);                    \
            test_fail(__FILE__, __LINE__, m_);                                                     \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                                \
    do {                                                                                           \
        size_t la_ = (size_t)(alen), lb_ = (size_t)(blen);                                         \
        if (la_ != lb_ || memcmp((a), (b), la_) != 0) {                                            \
            char m_[512];                                                                          \
            snprintf(m_, sizeof(m_), "\"%.*s\" != \"%.*s\"", (int)MIN(la_, 200), (a),              \
                     (int)MIN(lb_, 200), (b));                                                     \
            test_fail(__FILE__, __LINE__, m_);                                                     \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static const resp_limits lim_auth = {RESP_LIMIT_ARGS, RESP_LIMIT_BULK, RESP_LIMIT_INLINE, 0};
static const resp_limits lim_noauth = {RESP_LIMIT_ARGS_NOAUTH, RESP_LIMIT_BULK_NOAUTH,
                                       RESP_LIMIT_INLINE, 1};

/* Append the last command as "M:" or "I:" then "<len>:<bytes>|" per argument. */
static void req_transcript(const resp_req_parser *p, const char *data, buf *out)
{
    buf_append(out, p->is_inline ? "I:" : "M:", 2);
    for (size_t i = 0; i < p->argc; i++) {
        buf_appendf(out, "%zu:", p->argv[i].len);
        buf_append(out, resp_req_arg(p, data, i), p->argv[i].len);
        buf_append(out, "|", 1);
    }
}

static void *copy_block(const char *in, size_t n)
{
    char *c = xmalloc(n ? n : 1);
    if (n)
        memcpy(c, in, n);
    return c;
}

/* Check one parse result against the expectation: transcript for DONE, message for ERR. */
static int req_verify(const resp_req_parser *p, const char *data, int rc, size_t consumed,
                      int want_rc, size_t want_consumed, const char *want, size_t want_len)
{
    CHECK_EQ(rc, want_rc);
    if (rc == RESP_DONE) {
        CHECK_EQ(consumed, want_consumed);
        buf t;
        buf_init(&t);
        req_transcript(p, data, &t);
        int same = t.len == want_len && memcmp(t.data, want, want_len) == 0;
        if (!same) {
            char m[512];
            snprintf(m, sizeof(m), "transcript \"%.*s\" != \"%.*s\"", (int)MIN(t.len, 200),
                     t.data ? t.data : "", (int)MIN(want_len, 200), want);
            test_fail(__FILE__, __LINE__, m);
        }
        buf_deinit(&t);
        if (!same)
            return -1;
    } else if (rc == RESP_ERR) {
        CHECK_MEM(p->err, strlen(p->err), want, want_len);
    }
    return 0;
}

/* Parse in as one command: whole, then as every growing prefix fed to one parser. DONE must come
 * exactly when the command's last byte arrives; an error, once seen, is the expected one. */
static int req_check(const resp_limits *lim, const char *in, size_t n, int want_rc,
                     size_t want_consumed, const char *want, size_t want_len)
{
    resp_req_parser p;
    size_t consumed = 0;
    resp_req_parser_init(&p, lim);
    int rc = resp_req_parse(&p, in, n, &consumed);
    int bad = req_verify(&p, in, rc, consumed, want_rc, want_consumed, want, want_len);
    resp_req_parser_deinit(&p);
    if (bad)
        return -1;

    resp_req_parser_init(&p, lim);
    int final = RESP_AGAIN;
    for (size_t k = 0; k <= n && final == RESP_AGAIN; k++) {
        char *c = copy_block(in, k);
        consumed = 0;
        final = resp_req_parse(&p, c, k, &consumed);
        if (final != RESP_AGAIN) {
            bad = req_verify(&p, c, final, consumed, want_rc, want_consumed, want, want_len);
            if (!bad && final == RESP_DONE && k != want_consumed) {
                char m[128];
                snprintf(m, sizeof(m), "DONE at prefix %zu, expected at %zu", k, want_consumed);
                test_fail(__FILE__, __LINE__, m);
                bad = 1;
            }
        }
        xfree(c);
    }
    resp_req_parser_deinit(&p);
    if (bad)
        return -1;
    CHECK_EQ(final, want_rc);
    return 0;
}

/* Like req_check with the transcript or message given as a literal. */
#define REQ_OK(lim, in, consumed, want) req_check((lim), S(in), RESP_DONE, (consumed), S(want))
#define REQ_ERR(lim, in, msg) req_check((lim), S(in), RESP_ERR, 0, S(msg))

/* Deliver in to a caller-style buffer, first `first` bytes then `chunk` bytes at a time, parsing
 * every complete command; transcripts (and "ERR:<message>" on error) are appended to out. */
static void req_stream(const resp_limits *lim, const char *in, size_t n, size_t first, size_t chunk,
                       buf *out)
{
    resp_req_parser p;
    buf pending;
    size_t fed = 0;
    resp_req_parser_init(&p, lim);
    buf_init(&pending);
    while (fed < n) {
        size_t take = MIN(n - fed, fed == 0 && first ? first : chunk);
        buf_append(&pending, in + fed, take);
        fed += take;
        for (;;) {
            size_t consumed = 0;
            int rc = resp_req_parse(&p, buf_rptr(&pending), buf_used(&pending), &consumed);
            if (rc == RESP_AGAIN)
                break;
            if (rc == RESP_ERR) {
                buf_appendf(out, "ERR:%s", p.err);
                goto out;
            }
            req_transcript(&p, buf_rptr(&pending), out);
            buf_consume(&pending, consumed);
        }
    }
out:
    resp_req_parser_deinit(&p);
    buf_deinit(&pending);
}

/* The stream must give want whole, cut at every position, and in chunks of 1, 2, 3 and 7. */
static int req_stream_check(const resp_limits *lim, const char *in, size_t n, const char *want,
                            size_t want_len)
{
    static const size_t chunks[] = {1, 2, 3, 7};
    buf t;
    buf_init(&t);
    for (size_t cut = 0; cut <= n; cut++) {
        t.rpos = t.len = 0;
        req_stream(lim, in, n, cut, n, &t);
        if (t.len != want_len || memcmp(t.data, want, want_len) != 0) {
            char m[512];
            snprintf(m, sizeof(m), "cut %zu: \"%.*s\" != \"%.*s\"", cut, (int)MIN(t.len, 200),
                     t.data ? t.data : "", (int)MIN(want_len, 200), want);
            test_fail(__FILE__, __LINE__, m);
            buf_deinit(&t);
            return -1;
        }
    }
    for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
        t.rpos = t.len = 0;
        req_stream(lim, in, n, 0, chunks[i], &t);
        if (t.len != want_len || memcmp(t.data, want, want_len) != 0) {
            char m[512];
            snprintf(m, sizeof(m), "chunk %zu: \"%.*s\" != \"%.*s\"", chunks[i],
                     (int)MIN(t.len, 200), t.data ? t.data : "", (int)MIN(want_len, 200), want);
            test_fail(__FILE__, __LINE__, m);
            buf_deinit(&t);
            return -1;
        }
    }
    buf_deinit(&t);
    return 0;
}

TEST(resp_req_multibulk)
{
    ASSERT_EQ(REQ_OK(&lim_auth, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n", 31,
                     "M:3:SET|1:k|5:value|"),
              0);
    ASSERT_EQ(REQ_OK(&lim_auth, "*1\r\n$4\r\nPING\r\n", 14, "M:4:PING|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", 20, "M:4:ECHO|0:|"), 0);
    /* Lowercase, a 10-byte length and a command followed by the next one's bytes. */
    ASSERT_EQ(REQ_OK(&lim_auth, "*2\r\n$3\r\nget\r\n$10\r\n0123456789\r\n*1\r\n", 30,
                     "M:3:get|10:0123456789|"),
              0);
}

TEST(resp_req_binary_payloads)
{
    /* NUL bytes and CRLF inside a payload are data, not framing. */
    ASSERT_EQ(
        REQ_OK(&lim_auth, "*2\r\n$3\r\nSET\r\n$6\r\na\0\r\nb\n\r\n", 25, "M:3:SET|6:a\0\r\nb\n|"),
        0);
    ASSERT_EQ(REQ_OK(&lim_auth, "*1\r\n$3\r\n\0\0\0\r\n", 13, "M:3:\0\0\0|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "*1\r\n$2\r\n\r\n\r\n", 12, "M:2:\r\n|"), 0);
}

TEST(resp_req_empty_multibulk)
{
    /* A count of zero or less is a complete command with no arguments (Redis ignores it). */
    ASSERT_EQ(REQ_OK(&lim_auth, "*0\r\n", 4, "M:"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "*-1\r\n", 5, "M:"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "*-10\r\n*1\r\n", 6, "M:"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "*-9223372036854775808\r\n", 23, "M:"), 0);
}

TEST(resp_req_inline)
{
    ASSERT_EQ(REQ_OK(&lim_auth, "PING\r\n", 6, "I:4:PING|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "PING\n", 5, "I:4:PING|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "set k  v\t x\r\nGET", 13, "I:3:set|1:k|1:v|1:x|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "\r\n", 2, "I:"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "\n", 1, "I:"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "   \t \r\n", 7, "I:"), 0);
    /* Only one CR is stripped; the other is a separator like in sdssplitargs. */
    ASSERT_EQ(REQ_OK(&lim_auth, "a\r\r\n", 4, "I:1:a|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "ECHO a\rb\r\n", 10, "I:4:ECHO|1:a|1:b|"), 0);
    /* \v and \f separate arguments only between them, not inside one (isspace vs the switch). */
    ASSERT_EQ(REQ_OK(&lim_auth, "ECHO a\vb\r\n", 10, "I:4:ECHO|3:a\vb|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "\f\vECHO\f\va\n", 10, "I:7:ECHO\f\va|"), 0);
    /* An inline NUL byte is an ordinary character. */
    ASSERT_EQ(REQ_OK(&lim_auth, "ECHO a\0b\n", 9, "I:4:ECHO|3:a\0b|"), 0);
    /* A line that starts with '$' or ':' is still inline: only '*' means multibulk. */
    ASSERT_EQ(REQ_OK(&lim_auth, "$3\r\n", 4, "I:2:$3|"), 0);
}

TEST(resp_req_inline_quotes)
{
    ASSERT_EQ(REQ_OK(&lim_auth, "SET \"a b\" 'c d'\n", 16, "I:3:SET|3:a b|3:c d|"), 0);
    ASSERT_EQ(
        REQ_OK(&lim_auth, "ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\"\n", 22, "I:4:ECHO|7:\n\r\t\b\a\\\"|"),
        0);
    ASSERT_EQ(REQ_OK(&lim_auth, "ECHO \"a\\x41\\x7a\\xff\\x00\"\n", 25, "I:4:ECHO|5:aAz\xff\0|"),
              0);
    /* \x without two hex digits and unknown escapes give the character itself. */
    ASSERT_EQ(
        REQ_OK(&lim_auth, "ECHO \"\\xZZ\" \"a\\qb\" \"\\x4\"\n", 25, "I:4:ECHO|3:xZZ|3:aqb|2:x4|"),
        0);
    /* Single quotes only know \'. */
    ASSERT_EQ(REQ_OK(&lim_auth, "ECHO 'a\\'b' 'a\\nb'\n", 19, "I:4:ECHO|3:a'b|4:a\\nb|"), 0);
    /* A quote may open inside an argument; empty quotes are an empty argument. */
    ASSERT_EQ(REQ_OK(&lim_auth, "ECHO a\"b c\" \"\" ''\n", 18, "I:4:ECHO|4:ab c|0:|0:|"), 0);
    /* A closing quote followed by any blank (\v included) or the end of the line is fine. */
    ASSERT_EQ(REQ_OK(&lim_auth, "ECHO \"x\"\vy \"z\"\r\n", 16, "I:4:ECHO|1:x|1:y|1:z|"), 0);
    ASSERT_EQ(REQ_OK(&lim_auth, "A \"\r\"\n", 6, "I:1:A|1:\r|"), 0);
}

TEST(resp_req_inline_errors)
{
    static const char msg[] = "Protocol error: unbalanced quotes in request";
    ASSERT_EQ(req_check(&lim_auth, S("ECHO \"a\"b\r\n"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("ECHO 'a'b\r\n"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("ECHO \"abc\r\n"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("ECHO 'abc\n"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("ECHO \"abc\\\"\n"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("ECHO \"abc\\\n"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("\"\n"), RESP_ERR, 0, S(msg)), 0);
}

TEST(resp_req_multibulk_count_errors)
{
    static const char msg[] = "Protocol error: invalid multibulk length";
    static const char *const bad[] = {"*1x\r\n",
                                      "*\r\n",
                                      "*+1\r\n",
                                      "* 1\r\n",
                                      "*1 \r\n",
                                      "*01\r\n",
                                      "*-0\r\n",
                                      "*-\r\n",
                                      "*0x1\r\n",
                                      "*1\rX",
                                      "*2147483648\r\n",
                                      "*99999999999999999999\r\n",
                                      "*9223372036854775808\r\n"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        ASSERT_EQ(req_check(&lim_auth, bad[i], strlen(bad[i]), RESP_ERR, 0, S(msg)), 0);
    /* Over max_args after AUTH: still "invalid". */
    ASSERT_EQ(REQ_ERR(&lim_auth, "*1048577\r\n", "Protocol error: invalid multibulk length"), 0);
    /* Over INT_MAX is invalid even when the caller allows everything. */
    resp_limits big = {SIZE_MAX, SIZE_MAX, RESP_LIMIT_INLINE, 0};
    ASSERT_EQ(REQ_ERR(&big, "*2147483648\r\n", "Protocol error: invalid multibulk length"), 0);
}

TEST(resp_req_bulk_header_errors)
{
    static const char msg[] = "Protocol error: invalid bulk length";
    static const char *const bad[] = {
        "*1\r\n$04\r\n",        "*1\r\n$-1\r\n",
        "*1\r\n$+4\r\n",        "*1\r\n$4x\r\n",
        "*1\r\n$\r\n",          "*1\r\n$ 4\r\n",
        "*1\r\n$4\rX",          "*1\r\n$-0\r\n",
        "*1\r\n$536870913\r\n", "*2\r\n$1\r\na\r\n$99999999999999999999\r\n"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        ASSERT_EQ(req_check(&lim_auth, bad[i], strlen(bad[i]), RESP_ERR, 0, S(msg)), 0);

    ASSERT_EQ(REQ_ERR(&lim_auth, "*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'"), 0);
    ASSERT_EQ(REQ_ERR(&lim_auth, "*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
                      "Protocol error: expected '$', got 'f'"),
              0);
    /* A CR or LF shows as a space (as in Redis's reply); other unprintables as '?'. */
    ASSERT_EQ(REQ_ERR(&lim_auth, "*1\r\n\r\n", "Protocol error: expected '$', got ' '"), 0);
    ASSERT_EQ(REQ_ERR(&lim_auth, "*1\r\n\n", "Protocol error: expected '$', got ' '"), 0);
    ASSERT_EQ(REQ_ERR(&lim_auth, "*1\r\n\0", "Protocol error: expected '$', got '?'"), 0);
    ASSERT_EQ(REQ_ERR(&lim_auth, "*1\r\n\xff", "Protocol error: expected '$', got '?'"), 0);
    ASSERT_EQ(
        REQ_ERR(&lim_auth, "*2\r\n$1\r\na\r\n*1\r\n", "Protocol error: expected '$', got '*'"), 0);
}

TEST(resp_req_bulk_crlf_errors)
{
    static const char msg[] = "Protocol error: expected CRLF after bulk";
    ASSERT_EQ(req_check(&lim_auth, S("*1\r\n$4\r\nPINGxx"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("*1\r\n$4\r\nPING\r\r"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("*1\r\n$4\r\nPING\n\r\n"), RESP_ERR, 0, S(msg)), 0);
    ASSERT_EQ(req_check(&lim_auth, S("*2\r\n$1\r\na\r\n$0\r\nxx"), RESP_ERR, 0, S(msg)), 0);
}

/* Build c followed by n copies of fill and tail into a fresh block. */
static char *make_line(char c, char fill, size_t n, const char *tail, size_t *len)
{
    size_t tl = strlen(tail);
    char *s = xmalloc(1 + n + tl);
    s[0] = c;
    memset(s + 1, fill, n);
    memcpy(s + 1 + n, tail, tl);
    *len = 1 + n + tl;
    return s;
}

TEST(resp_req_line_limits)
{
    resp_req_parser p;
    size_t len, consumed;
    char *s;
    resp_req_parser_init(&p, NULL);
    ASSERT_EQ(p.limits.max_inline, 65536);

    /* Count lines: up to 64 KB without CR is "need more", one byte more is an error. */
    s = make_line('*', '1', 65535, "", &len);
    ASSERT_EQ(resp_req_parse(&p, s, len, &consumed), RESP_AGAIN);
    xfree(s);
    resp_req_parser_deinit(&p);
    resp_req_parser_init(&p, NULL);
    s = make_line('*', '1', 65536, "", &len);
    ASSERT_EQ(resp_req_parse(&p, s, len, &consumed), RESP_ERR);
    ASSERT_STR_EQ(p.err, "Protocol error: too big mbulk count string");
    xfree(s);
    /* The verdict does not depend on when the CR arrives. */
    s = make_line('*', '1', 65536, "\r\n", &len);
    ASSERT_EQ(resp_req_parse(&p, s, len, &consumed), RESP_ERR);
    ASSERT_STR_EQ(p.err, "Protocol error: too big mbulk count string");
    xfree(s);

    /* Inline lines: 64 KB is fine, 64 KB + 1 is not, with or without its newline. */
    s = make_line('a', 'b', 65535, "\n", &len);
    ASSERT_EQ(resp_req_parse(&p, s, len, &consumed), RESP_DONE);
    ASSERT_EQ(consumed, 65537);
    ASSERT_EQ(p.argc, 1);
    ASSERT_EQ(p.argv[0].len, 65536);
    xfree(s);
    s = make_line('a', 'b', 65536, "", &len);
    ASSERT_EQ(resp_req_parse(&p, s, len, &consumed), RESP_ERR);
    ASSERT_STR_EQ(p.err, "Protocol error: too big inline request");
    xfree(s);
    s = make_line('a', 'b', 65536, "\n", &len);
    ASSERT_EQ(resp_req_parse(&p, s, len, &consumed), RESP_ERR);
    ASSERT_STR_EQ(p.err, "Protocol error: too big inline request");
    xfree(s);
    resp_req_parser_deinit(&p);

    /* Small limits make the boundaries testable at every split. */
    resp_limits small = {8, 100, 16, 0};
    ASSERT_EQ(REQ_OK(&small, "0123456789abcdef\n", 17, "I:16:0123456789abcdef|"), 0);
    ASSERT_EQ(REQ_ERR(&small, "0123456789abcdefg\n", "Protocol error: too big inline request"), 0);
    /* The CR counts: it is part of the line until the newline is seen. */
    ASSERT_EQ(REQ_ERR(&small, "0123456789abcdef\r\n", "Protocol error: too big inline request"), 0);
    ASSERT_EQ(
        REQ_ERR(&small, "*00000000000000001\r\n", "Protocol error: too big mbulk count string"), 0);
    ASSERT_EQ(
        REQ_ERR(&small, "*1\r\n$0000000000000004\r\n", "Protocol error: too big bulk count string"),
        0);
    ASSERT_EQ(REQ_ERR(&small, "*1\r\n$000000000000004\r\n", "Protocol error: invalid bulk length"),
              0);
}

TEST(resp_req_auth_limits)
{
    /* Before AUTH: 10 arguments of 16 KB at most, reported like Redis. */
    ASSERT_EQ(REQ_OK(&lim_noauth,
                     "*10\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n"
                     "$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n$1\r\n9\r\n",
                     75, "M:1:0|1:1|1:2|1:3|1:4|1:5|1:6|1:7|1:8|1:9|"),
              0);
    ASSERT_EQ(REQ_ERR(&lim_noauth, "*11\r\n", "Protocol error: unauthenticated multibulk length"),
              0);
    ASSERT_EQ(
        REQ_ERR(&lim_noauth, "*1\r\n$16385\r\n", "Protocol error: unauthenticated bulk length"), 0);
    /* A length bad for everyone stays "invalid". */
    ASSERT_EQ(REQ_ERR(&lim_noauth, "*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"),
              0);
    ASSERT_EQ(REQ_ERR(&lim_noauth, "*2147483648\r\n", "Protocol error: invalid multibulk length"),
              0);
    resp_limits plain = lim_noauth;
    plain.unauthenticated = 0;
    ASSERT_EQ(REQ_ERR(&plain, "*11\r\n", "Protocol error: invalid multibulk length"), 0);
    ASSERT_EQ(REQ_ERR(&plain, "*1\r\n$16385\r\n", "Protocol error: invalid bulk length"), 0);

    /* A 16384-byte argument is accepted before AUTH. */
    size_t n = 0;
    char *in = xmalloc(16384 + 32);
    n += (size_t)snprintf(in, 32, "*1\r\n$16384\r\n");
    memset(in + n, 'v', 16384);
    n += 16384;
    memcpy(in + n, "\r\n", 2);
    n += 2;
    resp_req_parser p;
    size_t consumed;
    resp_req_parser_init(&p, &lim_noauth);
    ASSERT_EQ(resp_req_parse(&p, in, n, &consumed), RESP_DONE);
    ASSERT_EQ(consumed, n);
    ASSERT_EQ(p.argv[0].len, 16384);
    xfree(in);

    /* After AUTH the caller raises the limits between commands. */
    static const char auth[] = "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n";
    static const char eleven[] =
        "*11\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
        "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n";
    ASSERT_EQ(resp_req_parse(&p, auth, sizeof(auth) - 1, &consumed), RESP_DONE);
    ASSERT_EQ(p.argc, 2);
    p.limits = lim_auth;
    ASSERT_EQ(resp_req_parse(&p, eleven, sizeof(eleven) - 1, &consumed), RESP_DONE);
    ASSERT_EQ(p.argc, 11);
    ASSERT_EQ(consumed, sizeof(eleven) - 1);
    resp_req_parser_deinit(&p);

    /* After AUTH the largest counts and lengths are "need more", one more is an error. */
    resp_req_parser_init(&p, &lim_auth);
    ASSERT_EQ(resp_req_parse(&p, S("*1048576\r\n"), &consumed), RESP_AGAIN);
    resp_req_parser_deinit(&p);
    resp_req_parser_init(&p, &lim_auth);
    ASSERT_EQ(resp_req_parse(&p, S("*1\r\n$536870912\r\nabc"), &consumed), RESP_AGAIN);
    resp_req_parser_deinit(&p);
    ASSERT_EQ(REQ_ERR(&lim_auth, "*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"), 0);
}

TEST(resp_req_pipeline)
{
    static const char in[] = "*1\r\n$4\r\nPING\r\n"
                             "SET k \"a b\"\r\n"
                             "*0\r\n"
                             "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                             "\r\n"
                             "*3\r\n$3\r\nSET\r\n$2\r\n\0\n\r\n$0\r\n\r\n"
                             "PING\n";
    static const char want[] = "M:4:PING|I:3:SET|1:k|3:a b|M:M:3:GET|1:k|I:M:3:SET|2:\0\n|0:|"
                               "I:4:PING|";
    ASSERT_EQ(req_stream_check(&lim_auth, S(in), S(want)), 0);

    /* An error in the middle of a pipeline comes after the good commands before it. */
    static const char in2[] = "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\nx\r\n*1\r\n$4\r\nPING\r\n";
    static const char want2[] = "I:4:PING|M:4:PING|ERR:Protocol error: expected '$', got 'x'";
    ASSERT_EQ(req_stream_check(&lim_auth, S(in2), S(want2)), 0);
}

TEST(resp_req_many_args)
{
    /* 3000 arguments grow argv past its first allocation and past the keep watermark. */
    enum { N = 3000 };
    const char **argv = xmalloc(N * sizeof(*argv));
    size_t *lens = xmalloc(N * sizeof(*lens));
    char *store = xmalloc(N * 8);
    for (size_t i = 0; i < N; i++) {
        lens[i] = (size_t)snprintf(store + i * 8, 8, "a%zu", i);
        argv[i] = store + i * 8;
    }
    buf b, want;
    buf_init(&b);
    buf_init(&want);
    resp_add_command(&b, N, argv, lens);
    resp_add_command(&b, 2, argv, lens);
    buf_append(&want, "M:", 2);
    for (size_t i = 0; i < N; i++)
        buf_appendf(&want, "%zu:%s|", lens[i], argv[i]);
    buf_append(&want, "M:2:a0|2:a1|", 12);

    buf got;
    buf_init(&got);
    req_stream(&lim_auth, b.data, b.len, 0, 4096, &got);
    ASSERT_MEM_EQ(got.data, got.len, want.data, want.len);
    got.len = 0;
    req_stream(&lim_auth, b.data, b.len, 0, 1, &got);
    ASSERT_MEM_EQ(got.data, got.len, want.data, want.len);
    buf_deinit(&got);
    buf_deinit(&b);
    buf_deinit(&want);
    xfree(argv);
    xfree(lens);
    xfree(store);
}

TEST(resp_req_big_bulk_resumes)
{
    /* A 1 MB argument fed one byte at a time: each call is O(1) once the header is read, and
     * the parser never looks at the payload before its CRLF can be checked. */
    size_t n = 1 << 20, hdr, consumed = 0;
    char *in = xmalloc(n + 64);
    hdr = (size_t)snprintf(in, 64, "*2\r\n$3\r\nSET\r\n$%zu\r\n", n);
    memset(in + hdr, 'x', n);
    memcpy(in + hdr + n, "\r\n", 2);
    size_t total = hdr + n + 2;
    resp_req_parser p;
    resp_req_parser_init(&p, NULL);
    int rc = RESP_AGAIN;
    size_t k;
    for (k = 0; k <= total && rc == RESP_AGAIN; k++)
        rc = resp_req_parse(&p, in, k, &consumed);
    ASSERT_EQ(rc, RESP_DONE);
    ASSERT_EQ(k - 1, total);
    ASSERT_EQ(consumed, total);
    ASSERT_EQ(p.argc, 2);
    ASSERT_EQ(p.argv[1].len, n);
    ASSERT_EQ(resp_req_arg(&p, in, 1) - in, (long long)hdr);
    resp_req_parser_deinit(&p);
    xfree(in);
}

TEST(resp_req_inline_resumes)
{
    /* White-box: an inline line is scanned once; each call starts where the last one stopped. */
    size_t n = 60000, consumed;
    char *in = xmalloc(n + 1);
    memset(in, 'a', n);
    in[n] = '\n';
    resp_req_parser p;
    resp_req_parser_init(&p, NULL);
    for (size_t k = 1; k <= n; k++) {
        ASSERT_EQ(resp_req_parse(&p, in, k, &consumed), RESP_AGAIN);
        ASSERT_EQ(p.pos, k);
    }
    ASSERT_EQ(resp_req_parse(&p, in, n + 1, &consumed), RESP_DONE);
    ASSERT_EQ(consumed, n + 1);
    ASSERT_EQ(p.argc, 1);
    ASSERT_EQ(p.argv[0].len, n);
    ASSERT_TRUE(p.is_inline);
    resp_req_parser_deinit(&p);
    xfree(in);
}

TEST(resp_req_parser_reuse)
{
    resp_req_parser p;
    size_t consumed;
    resp_req_parser_init(&p, NULL);
    /* A call with no bytes is "need more" and forgets the previous command. */
    ASSERT_EQ(resp_req_parse(&p, S("GET a\n"), &consumed), RESP_DONE);
    ASSERT_EQ(p.argc, 2);
    ASSERT_EQ(resp_req_parse(&p, "", 0, &consumed), RESP_AGAIN);
    ASSERT_EQ(p.argc, 0);
    /* After an error the parser starts over on the next call. */
    ASSERT_EQ(resp_req_parse(&p, S("*x\r\n"), &consumed), RESP_ERR);
    ASSERT_EQ(resp_req_parse(&p, S("*1\r\n$1\r\nA\r\n"), &consumed), RESP_DONE);
    ASSERT_EQ(p.is_inline, 0);
    ASSERT_MEM_EQ(resp_req_arg(&p, "*1\r\n$1\r\nA\r\n", 0), 1, "A", 1);
    resp_req_parser_deinit(&p);
}

TEST(resp_req_alloc_failure)
{
    /* Make each fallible allocation fail in turn: the parser reports it, leaks nothing and
     * parses normally once memory is back. */
    enum { N = 1500 };
    buf cmd;
    buf_init(&cmd);
    buf_appendf(&cmd, "*%d\r\n", N);
    for (int i = 0; i < N; i++)
        buf_append(&cmd, "$1\r\nx\r\n", 7);
    static const char inl[] = "SET \"a b\" c d e f g h i j\r\n";
    int saw_oom = 0, saw_done = 0;
    for (int nth = 1; nth <= 8; nth++) {
        for (int which = 0; which < 2; which++) {
            resp_req_parser p;
            size_t consumed;
            resp_req_parser_init(&p, NULL);
            alloc_fail_after(nth);
            int rc = which ? resp_req_parse(&p, S(inl), &consumed)
                           : resp_req_parse(&p, cmd.data, cmd.len, &consumed);
            alloc_fail_after(0);
            if (rc == RESP_ERR) {
                ASSERT_STR_EQ(p.err, "out of memory while parsing the request");
                saw_oom++;
                rc = which ? resp_req_parse(&p, S(inl), &consumed)
                           : resp_req_parse(&p, cmd.data, cmd.len, &consumed);
            } else {
                saw_done++;
            }
            ASSERT_EQ(rc, RESP_DONE);
            ASSERT_EQ(p.argc, which ? 10 : N);
            resp_req_parser_deinit(&p);
        }
    }
    ASSERT_TRUE(saw_oom >= 3);
    ASSERT_TRUE(saw_done >= 1);
    buf_deinit(&cmd);
}

/* Scan in (one frame of want_len bytes, maybe followed by more) whole, as every growing prefix
 * with one scanner, and with resp_value_parse; all must agree. */
static int reply_check(const char *in, size_t n, int want_rc, size_t want_len)
{
    resp_reply_scanner s;
    size_t fl = 0;
    resp_reply_scanner_init(&s);
    CHECK_EQ(resp_reply_scan(&s, in, n, &fl), want_rc);
    if (want_rc == RESP_DONE)
        CHECK_EQ(fl, want_len);
    /* The scanner reset itself: the same bytes give the same answer. */
    CHECK_EQ(resp_reply_scan(&s, in, n, &fl), want_rc);
    if (want_rc == RESP_DONE)
        CHECK_EQ(fl, want_len);

    resp_reply_scanner_init(&s);
    int rc = RESP_AGAIN;
    size_t k;
    for (k = 0; k <= n && rc == RESP_AGAIN; k++) {
        char *c = copy_block(in, k);
        rc = resp_reply_scan(&s, c, k, &fl);
        xfree(c);
    }
    CHECK_EQ(rc, want_rc);
    if (want_rc == RESP_DONE) {
        CHECK_EQ(k - 1, want_len);
        CHECK_EQ(fl, want_len);
    }

    resp_value *v = NULL;
    size_t consumed = 0;
    rc = resp_value_parse(in, n, &v, &consumed);
    if (want_rc == RESP_DONE) {
        CHECK_EQ(rc, RESP_DONE);
        CHECK_EQ(consumed, want_len);
        CHECK(v != NULL);
        resp_value_free(v);
        if (want_len > 0) {
            CHECK_EQ(resp_value_parse(in, want_len - 1, &v, &consumed), RESP_AGAIN);
        }
    } else if (want_rc == RESP_ERR) {
        CHECK_EQ(rc, RESP_ERR);
    }
    return 0;
}

/* A frame alone, then followed by another frame that must not be counted. */
static int reply_ok(const char *in, size_t n)
{
    if (reply_check(in, n, RESP_DONE, n) != 0)
        return -1;
    char *more = xmalloc(n + 8);
    memcpy(more, in, n);
    memcpy(more + n, "+NEXT\r\n", 7);
    int rc = reply_check(more, n + 7, RESP_DONE, n);
    xfree(more);
    return rc;
}

static int reply_bad(const char *in, size_t n, const char *why)
{
    if (reply_check(in, n, RESP_ERR, 0) != 0)
        return -1;
    resp_reply_scanner s;
    size_t fl;
    resp_reply_scanner_init(&s);
    CHECK_EQ(resp_reply_scan(&s, in, n, &fl), RESP_ERR);
    CHECK(s.err != NULL);
    CHECK_MEM(s.err, strlen(s.err), why, strlen(why));
    return 0;
}

static const char *const good_replies[] = {
    "+OK\r\n",
    "+\r\n",
    "-ERR unknown command 'x'\r\n",
    "-MOVED 3999 127.0.0.1:6381\r\n",
    ":0\r\n",
    ":-12\r\n",
    ":+7\r\n",
    "$3\r\nfoo\r\n",
    "$0\r\n\r\n",
    "$-1\r\n",
    "$6\r\n\r\n$1\r\n\r\n",
    "*-1\r\n",
    "*0\r\n",
    "*2\r\n$3\r\nfoo\r\n:1\r\n",
    "*3\r\n*0\r\n%0\r\n$-1\r\n",
    "_\r\n",
    ",3.14\r\n",
    ",-inf\r\n",
    ",nan\r\n",
    "#t\r\n",
    "#f\r\n",
    "(3492890328409238509324850943850943825024385\r\n",
    "=15\r\ntxt:Some string\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n",
    "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
    "%0\r\n",
    "~3\r\n+a\r\n+b\r\n+c\r\n",
    "~0\r\n",
    ">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n",
    ("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
     "*2\r\n:2039123\r\n:9543892\r\n"),
    "*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n:3\r\n",
    "*1\r\n|1\r\n+a\r\n+b\r\n:5\r\n",
    "|0\r\n+OK\r\n",
    "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n:1\r\n",
    "|1\r\n|1\r\n+x\r\n+y\r\n+a\r\n*1\r\n+b\r\n+c\r\n",
    "%2\r\n$1\r\nk\r\n*2\r\n%1\r\n+a\r\n~2\r\n#t\r\n_\r\n,1.5\r\n+k2\r\n>1\r\n(1\r\n",
    "*4\r\n!3\r\nERR\r\n=8\r\nmkd:abcd\r\n-E\r\n$-1\r\n",
};

TEST(resp_reply_every_type)
{
    for (size_t i = 0; i < ARRAY_LEN(good_replies); i++) {
        if (reply_ok(good_replies[i], strlen(good_replies[i])) != 0) {
            test_fail(__FILE__, __LINE__, good_replies[i]);
            return;
        }
    }
    /* NUL bytes in payloads and simple lines. */
    ASSERT_EQ(reply_ok(S("$5\r\na\0\r\nb\r\n")), 0);
    ASSERT_EQ(reply_ok(S("*2\r\n+a\0b\r\n!1\r\n\0\r\n")), 0);
}

/* Build depth nested one-element arrays around ":1". */
static char *nested(size_t depth, char agg, size_t *len)
{
    char *s = xmalloc(depth * 4 + 8);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++) {
        s[n++] = agg;
        memcpy(s + n, "1\r\n", 3);
        n += 3;
    }
    memcpy(s + n, ":1\r\n", 4);
    *len = n + 4;
    return s;
}

TEST(resp_reply_nesting_limit)
{
    size_t n;
    char *s = nested(RESP_MAX_DEPTH, '*', &n);
    ASSERT_EQ(reply_ok(s, n), 0);
    xfree(s);
    s = nested(RESP_MAX_DEPTH + 1, '*', &n);
    ASSERT_EQ(reply_bad(s, n, "reply nested too deeply"), 0);
    xfree(s);
    /* Attributes count towards the depth too. */
    s = nested(RESP_MAX_DEPTH + 1, '|', &n);
    ASSERT_EQ(reply_bad(s, n, "reply nested too deeply"), 0);
    xfree(s);
    s = nested(RESP_MAX_DEPTH, '~', &n);
    ASSERT_EQ(reply_ok(s, n), 0);
    xfree(s);
}

TEST(resp_reply_malformed)
{
    ASSERT_EQ(reply_bad(S("?x\r\n"), "unknown reply type"), 0);
    ASSERT_EQ(reply_bad(S("\r\n"), "unknown reply type"), 0);
    ASSERT_EQ(reply_bad(S("*2\r\n:1\r\nX"), "unknown reply type"), 0);
    ASSERT_EQ(reply_bad(S("$x\r\n"), "invalid blob length"), 0);
    ASSERT_EQ(reply_bad(S("$\r\n"), "invalid blob length"), 0);
    ASSERT_EQ(reply_bad(S("$-2\r\n"), "invalid blob length"), 0);
    ASSERT_EQ(reply_bad(S("=-1\r\n"), "invalid blob length"), 0);
    ASSERT_EQ(reply_bad(S("!-1\r\n"), "invalid blob length"), 0);
    ASSERT_EQ(reply_bad(S("$99999999999999999999\r\n"), "invalid blob length"), 0);
    ASSERT_EQ(reply_bad(S("$3\r\nfooXY"), "expected CRLF after blob"), 0);
    ASSERT_EQ(reply_bad(S("$3\r\nfoo\rX"), "expected CRLF after blob"), 0);
    ASSERT_EQ(reply_bad(S("*-2\r\n"), "invalid aggregate length"), 0);
    ASSERT_EQ(reply_bad(S("%-1\r\n"), "invalid aggregate length"), 0);
    ASSERT_EQ(reply_bad(S("~-1\r\n"), "invalid aggregate length"), 0);
    ASSERT_EQ(reply_bad(S("*1x\r\n"), "invalid aggregate length"), 0);
    ASSERT_EQ(reply_bad(S("*?\r\n"), "invalid aggregate length"), 0);
    ASSERT_EQ(reply_bad(S("_x\r\n"), "invalid null"), 0);
    ASSERT_EQ(reply_bad(S("#x\r\n"), "invalid boolean"), 0);
    ASSERT_EQ(reply_bad(S("#tt\r\n"), "invalid boolean"), 0);
    ASSERT_EQ(reply_bad(S("+a\rb\r\n"), "expected CRLF after line"), 0);
    ASSERT_EQ(reply_bad(S("*1\r\n*1\r\n:1\rX"), "expected CRLF after line"), 0);
}

TEST(resp_reply_stream)
{
    /* Every good reply back to back, fed in chunks: the frames come out one by one. */
    buf all;
    buf_init(&all);
    for (size_t i = 0; i < ARRAY_LEN(good_replies); i++)
        buf_append(&all, good_replies[i], strlen(good_replies[i]));
    for (size_t chunk = 1; chunk <= 13; chunk += 3) {
        resp_reply_scanner s;
        buf pending;
        size_t fed = 0, frames = 0;
        resp_reply_scanner_init(&s);
        buf_init(&pending);
        while (fed < all.len) {
            size_t take = MIN(chunk, all.len - fed);
            buf_append(&pending, all.data + fed, take);
            fed += take;
            size_t fl;
            int rc;
            while ((rc = resp_reply_scan(&s, buf_rptr(&pending), buf_used(&pending), &fl)) ==
                   RESP_DONE) {
                ASSERT_TRUE(frames < ARRAY_LEN(good_replies));
                ASSERT_MEM_EQ(buf_rptr(&pending), fl, good_replies[frames],
                              strlen(good_replies[frames]));
                buf_consume(&pending, fl);
                frames++;
            }
            ASSERT_EQ(rc, RESP_AGAIN);
        }
        ASSERT_EQ(frames, ARRAY_LEN(good_replies));
        ASSERT_EQ(buf_used(&pending), 0);
        buf_deinit(&pending);
    }
    buf_deinit(&all);
}

TEST(resp_reply_big_blob)
{
    /* A 1 MB blob fed one byte at a time is found without rescanning its payload. */
    size_t n = 1 << 20, hdr, fl = 0;
    char *in = xmalloc(n + 64);
    hdr = (size_t)snprintf(in, 64, "*1\r\n$%zu\r\n", n);
    memset(in + hdr, '\r', n);
    memcpy(in + hdr + n, "\r\n", 2);
    resp_reply_scanner s;
    resp_reply_scanner_init(&s);
    int rc = RESP_AGAIN;
    size_t k;
    for (k = 0; rc == RESP_AGAIN; k++)
        rc = resp_reply_scan(&s, in, k, &fl);
    ASSERT_EQ(rc, RESP_DONE);
    ASSERT_EQ(fl, hdr + n + 2);
    ASSERT_EQ(k - 1, hdr + n + 2);
    xfree(in);
}

/* Parse a literal that must be one complete frame. */
static resp_value *parse_one(const char *in, size_t n)
{
    resp_value *v = NULL;
    size_t consumed = 0;
    if (resp_value_parse(in, n, &v, &consumed) != RESP_DONE || consumed != n) {
        resp_value_free(v);
        return NULL;
    }
    return v;
}

TEST(resp_value_scalars)
{
    resp_value *v;
    v = parse_one(S("+OK\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_SIMPLE);
    ASSERT_MEM_EQ(v->str, v->len, "OK", 2);
    ASSERT_EQ(v->raw_len, 5);
    resp_value_free(v);

    v = parse_one(S("-WRONGTYPE nope\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_ERROR);
    ASSERT_MEM_EQ(v->str, v->len, "WRONGTYPE nope", 14);
    resp_value_free(v);

    v = parse_one(S(":-9223372036854775808\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_INTEGER);
    ASSERT_TRUE(v->integer == (-9223372036854775807LL - 1));
    resp_value_free(v);

    v = parse_one(S(":9223372036854775807\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->integer, 9223372036854775807LL);
    resp_value_free(v);

    static const char blob[] = "$4\r\na\0\r\n\r\n";
    v = parse_one(S(blob));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_BULK);
    ASSERT_MEM_EQ(v->str, v->len, "a\0\r\n", 4);
    ASSERT_TRUE(v->str == blob + 4);
    ASSERT_TRUE(v->raw == blob);
    ASSERT_EQ(v->raw_len, sizeof(blob) - 1);
    resp_value_free(v);

    v = parse_one(S("$0\r\n\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_BULK);
    ASSERT_EQ(v->len, 0);
    resp_value_free(v);

    static const char *const nulls[] = {"$-1\r\n", "*-1\r\n", "_\r\n"};
    for (size_t i = 0; i < ARRAY_LEN(nulls); i++) {
        v = parse_one(nulls[i], strlen(nulls[i]));
        ASSERT_TRUE(v);
        ASSERT_EQ(v->type, RESP_T_NULL);
        ASSERT_MEM_EQ(v->raw, v->raw_len, nulls[i], strlen(nulls[i]));
        resp_value_free(v);
    }

    v = parse_one(S(",-1.5e3\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_DOUBLE);
    ASSERT_MEM_EQ(v->str, v->len, "-1.5e3", 6);
    resp_value_free(v);

    v = parse_one(S("#t\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_BOOL);
    ASSERT_EQ(v->integer, 1);
    resp_value_free(v);
    v = parse_one(S("#f\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_BOOL);
    ASSERT_EQ(v->integer, 0);
    resp_value_free(v);

    v = parse_one(S("(-123456789012345678901234567890\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_BIGNUM);
    ASSERT_MEM_EQ(v->str, v->len, "-123456789012345678901234567890", 31);
    resp_value_free(v);

    v = parse_one(S("=15\r\ntxt:Some string\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_VERBATIM);
    ASSERT_MEM_EQ(v->str, v->len, "Some string", 11);
    ASSERT_MEM_EQ(v->str - 4, 4, "txt:", 4);
    resp_value_free(v);

    v = parse_one(S("=4\r\nmkd:\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_VERBATIM);
    ASSERT_EQ(v->len, 0);
    resp_value_free(v);

    v = parse_one(S("!21\r\nSYNTAX invalid syntax\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_BLOBERR);
    ASSERT_MEM_EQ(v->str, v->len, "SYNTAX invalid syntax", 21);
    resp_value_free(v);
}

TEST(resp_value_aggregates)
{
    static const char in[] =
        "%2\r\n$1\r\nk\r\n*2\r\n%1\r\n+a\r\n~2\r\n#t\r\n_\r\n,1.5\r\n+k2\r\n>2\r\n(1\r\n*0\r\n";
    resp_value *v = parse_one(S(in));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_MAP);
    ASSERT_EQ(v->nelem, 4);
    ASSERT_EQ(v->elem[0].type, RESP_T_BULK);
    ASSERT_MEM_EQ(v->elem[0].str, v->elem[0].len, "k", 1);
    resp_value *arr = &v->elem[1];
    ASSERT_EQ(arr->type, RESP_T_ARRAY);
    ASSERT_EQ(arr->nelem, 2);
    ASSERT_EQ(arr->elem[0].type, RESP_T_MAP);
    ASSERT_EQ(arr->elem[0].nelem, 2);
    ASSERT_EQ(arr->elem[0].elem[0].type, RESP_T_SIMPLE);
    ASSERT_EQ(arr->elem[0].elem[1].type, RESP_T_SET);
    ASSERT_EQ(arr->elem[0].elem[1].nelem, 2);
    ASSERT_EQ(arr->elem[0].elem[1].elem[0].type, RESP_T_BOOL);
    ASSERT_EQ(arr->elem[0].elem[1].elem[1].type, RESP_T_NULL);
    ASSERT_EQ(arr->elem[1].type, RESP_T_DOUBLE);
    static const char arr_raw[] = "*2\r\n%1\r\n+a\r\n~2\r\n#t\r\n_\r\n,1.5\r\n";
    ASSERT_MEM_EQ(arr->raw, arr->raw_len, arr_raw, sizeof(arr_raw) - 1);
    ASSERT_EQ(v->elem[2].type, RESP_T_SIMPLE);
    ASSERT_EQ(v->elem[3].type, RESP_T_PUSH);
    ASSERT_EQ(v->elem[3].nelem, 2);
    ASSERT_EQ(v->elem[3].elem[0].type, RESP_T_BIGNUM);
    ASSERT_EQ(v->elem[3].elem[1].type, RESP_T_ARRAY);
    ASSERT_EQ(v->elem[3].elem[1].nelem, 0);
    ASSERT_TRUE(v->elem[3].elem[1].elem == NULL);
    ASSERT_EQ(v->raw_len, sizeof(in) - 1);
    resp_value_free(v);
}

TEST(resp_value_attributes)
{
    /* A top-level attribute is skipped; the value's raw bytes still include it. */
    static const char top[] = "|1\r\n+ttl\r\n:3600\r\n*2\r\n:1\r\n:2\r\n";
    resp_value *v = parse_one(S(top));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_ARRAY);
    ASSERT_EQ(v->nelem, 2);
    ASSERT_EQ(v->elem[1].integer, 2);
    ASSERT_TRUE(v->raw == top);
    ASSERT_EQ(v->raw_len, sizeof(top) - 1);
    resp_value_free(v);

    /* Inside an aggregate, the annotated element takes the attribute's place. */
    static const char in[] = "*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n|0\r\n:3\r\n";
    v = parse_one(S(in));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->nelem, 3);
    ASSERT_EQ(v->elem[0].integer, 1);
    ASSERT_EQ(v->elem[1].type, RESP_T_INTEGER);
    ASSERT_EQ(v->elem[1].integer, 2);
    ASSERT_MEM_EQ(v->elem[1].raw, v->elem[1].raw_len, "|1\r\n+ttl\r\n:3600\r\n:2\r\n", 21);
    ASSERT_EQ(v->elem[2].integer, 3);
    resp_value_free(v);

    /* Nested and consecutive attributes. */
    v = parse_one(S("|1\r\n|1\r\n+x\r\n+y\r\n+a\r\n*1\r\n+b\r\n|1\r\n+c\r\n+d\r\n+real\r\n"));
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_SIMPLE);
    ASSERT_MEM_EQ(v->str, v->len, "real", 4);
    resp_value_free(v);
}

TEST(resp_value_partial_and_errors)
{
    resp_value *v = NULL;
    size_t consumed = 0;
    static const char two[] = ":1\r\n:2\r\n";
    ASSERT_EQ(resp_value_parse(S(two), &v, &consumed), RESP_DONE);
    ASSERT_EQ(consumed, 4);
    ASSERT_EQ(v->integer, 1);
    resp_value_free(v);
    v = NULL;
    ASSERT_EQ(resp_value_parse(S("*2\r\n:1\r\n"), &v, &consumed), RESP_AGAIN);
    ASSERT_TRUE(v == NULL);
    ASSERT_EQ(resp_value_parse("", 0, &v, &consumed), RESP_AGAIN);
    /* Bad contents the scanner lets through (it only frames). */
    ASSERT_EQ(resp_value_parse(S(":abc\r\n"), &v, &consumed), RESP_ERR);
    ASSERT_EQ(resp_value_parse(S(":\r\n"), &v, &consumed), RESP_ERR);
    ASSERT_EQ(resp_value_parse(S(":99999999999999999999\r\n"), &v, &consumed), RESP_ERR);
    ASSERT_EQ(resp_value_parse(S("=3\r\ntxt\r\n"), &v, &consumed), RESP_ERR);
    ASSERT_EQ(resp_value_parse(S("=5\r\nabcde\r\n"), &v, &consumed), RESP_ERR);
    /* An error deep in a tree frees the partial tree (the runner checks for leaks). */
    ASSERT_EQ(
        resp_value_parse(S("*3\r\n*2\r\n:1\r\n:2\r\n%1\r\n+k\r\n:x\r\n:3\r\n"), &v, &consumed),
        RESP_ERR);
    /* Framing errors come from the scanner. */
    ASSERT_EQ(resp_value_parse(S("*1\r\n$3\r\nabcd\r\n"), &v, &consumed), RESP_ERR);
    ASSERT_TRUE(v == NULL);
}

TEST(resp_value_large_array)
{
    buf b;
    buf_init(&b);
    resp_add_array(&b, 1000);
    for (int i = 0; i < 1000; i++)
        resp_add_int(&b, i * 7);
    resp_value *v = parse_one(b.data, b.len);
    ASSERT_TRUE(v);
    ASSERT_EQ(v->nelem, 1000);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(v->elem[i].integer, i * 7);
    resp_value_free(v);
    buf_deinit(&b);
}

TEST(resp_writers)
{
    buf b;
    buf_init(&b);
#define EXPECT(lit)                                                                                \
    do {                                                                                           \
        ASSERT_MEM_EQ(b.data, b.len, lit, sizeof(lit) - 1);                                        \
        b.len = 0;                                                                                 \
    } while (0)
    resp_add_simple(&b, "OK");
    EXPECT("+OK\r\n");
    resp_add_error(&b, "ERR unknown command '%s'", "x");
    EXPECT("-ERR unknown command 'x'\r\n");
    resp_add_error(&b, "ERR bad\r\nline%c", '\n');
    EXPECT("-ERR bad  line \r\n");
    resp_add_int(&b, 0);
    resp_add_int(&b, -42);
    resp_add_int(&b, (-9223372036854775807LL - 1));
    EXPECT(":0\r\n:-42\r\n:-9223372036854775808\r\n");
    resp_add_bulk(&b, "a\0b", 3);
    resp_add_bulk(&b, "", 0);
    EXPECT("$3\r\na\0b\r\n$0\r\n\r\n");
    resp_add_cstr(&b, "hello");
    EXPECT("$5\r\nhello\r\n");
    resp_add_null(&b, 2);
    resp_add_null(&b, 3);
    EXPECT("$-1\r\n_\r\n");
    resp_add_array(&b, 0);
    resp_add_array(&b, 12);
    EXPECT("*0\r\n*12\r\n");
    resp_add_map(&b, 2, 3);
    resp_add_map(&b, 2, 2);
    EXPECT("%2\r\n*4\r\n");
    resp_add_set(&b, 3, 3);
    resp_add_set(&b, 3, 2);
    EXPECT("~3\r\n*3\r\n");
    resp_add_verbatim(&b, "a\r\nb", 4, 3);
    resp_add_verbatim(&b, "a\r\nb", 4, 2);
    EXPECT("=8\r\ntxt:a\r\nb\r\n$4\r\na\r\nb\r\n");
    const char *argv[] = {"SET", "k\0", ""};
    const size_t lens[] = {3, 2, 0};
    resp_add_command(&b, 3, argv, lens);
    EXPECT("*3\r\n$3\r\nSET\r\n$2\r\nk\0\r\n$0\r\n\r\n");
    resp_add_command(&b, 0, NULL, NULL);
    EXPECT("*0\r\n");

    /* Messages longer than the writer's stack buffer. */
    char longmsg[1000];
    memset(longmsg, 'z', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    longmsg[500] = '\r';
    resp_add_error(&b, "ERR %s", longmsg);
    ASSERT_EQ(b.len, 1 + 4 + 999 + 2);
    ASSERT_MEM_EQ(b.data, 6, "-ERR z", 6);
    ASSERT_EQ(b.data[5 + 500], ' ');
    ASSERT_MEM_EQ(b.data + b.len - 3, 3, "z\r\n", 3);
#undef EXPECT
    buf_deinit(&b);
}

TEST(resp_writers_round_trip)
{
    /* What the writers produce, the value parser reads back. */
    buf b;
    buf_init(&b);
    resp_add_map(&b, 2, 3);
    resp_add_cstr(&b, "k");
    resp_add_set(&b, 2, 3);
    resp_add_null(&b, 3);
    resp_add_int(&b, 5);
    resp_add_simple(&b, "v");
    resp_add_verbatim(&b, "text", 4, 3);
    resp_add_error(&b, "ERR x");
    resp_value *v = parse_one(b.data, b.len - 8);
    ASSERT_TRUE(v);
    ASSERT_EQ(v->type, RESP_T_MAP);
    ASSERT_EQ(v->nelem, 4);
    ASSERT_EQ(v->elem[1].type, RESP_T_SET);
    ASSERT_EQ(v->elem[1].elem[1].integer, 5);
    ASSERT_EQ(v->elem[3].type, RESP_T_VERBATIM);
    ASSERT_MEM_EQ(v->elem[3].str, v->elem[3].len, "text", 4);
    resp_value_free(v);
    ASSERT_EQ(reply_ok(b.data, b.len - 8), 0);
    buf_deinit(&b);
}

/* A deterministic pseudo-random generator for the property tests below. */
static uint32_t rng_next(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

typedef struct {
    const char *s;
    size_t len;
} atom;

#define ATOM(lit)                                                                                  \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }

/* Glue 1..max_atoms random atoms into b. */
static void random_input(uint32_t *rng, const atom *atoms, size_t natoms, size_t max_atoms, buf *b)
{
    b->rpos = b->len = 0;
    size_t n = 1 + rng_next(rng) % max_atoms;
    for (size_t i = 0; i < n; i++) {
        const atom *a = &atoms[rng_next(rng) % natoms];
        buf_append(b, a->s, a->len);
    }
}

TEST(resp_req_random_streams)
{
    /* Whatever the bytes, the commands and the error found do not depend on how the stream is
     * cut. Small limits make the limit paths reachable. */
    static const atom atoms[] = {
        ATOM("*"),
        ATOM("$"),
        ATOM("\r\n"),
        ATOM("\r"),
        ATOM("\n"),
        ATOM("1"),
        ATOM("2"),
        ATOM("0"),
        ATOM("-1"),
        ATOM("-"),
        ATOM("10"),
        ATOM("a"),
        ATOM("SET"),
        ATOM(" "),
        ATOM("\""),
        ATOM("'"),
        ATOM("\\"),
        ATOM("x"),
        ATOM("\0"),
        ATOM("*2\r\n"),
        ATOM("$1\r\n"),
        ATOM("$3\r\nfoo\r\n"),
        ATOM("*1\r\n$4\r\nPING\r\n"),
        ATOM("PING\r\n"),
        ATOM("\\x4"),
        ATOM("\t"),
        ATOM("00000000"),
    };
    const resp_limits lim = {4, 8, 24, 1};
    uint32_t rng = 12345;
    buf in, whole, cut;
    buf_init(&in);
    buf_init(&whole);
    buf_init(&cut);
    for (int iter = 0; iter < 3000; iter++) {
        random_input(&rng, atoms, ARRAY_LEN(atoms), 14, &in);
        whole.rpos = whole.len = 0;
        req_stream(&lim, in.data, in.len, 0, in.len, &whole);
        size_t chunks[3] = {1, 1 + rng_next(&rng) % 5, in.len};
        size_t first = rng_next(&rng) % (in.len + 1);
        for (size_t c = 0; c < 3; c++) {
            cut.rpos = cut.len = 0;
            req_stream(&lim, in.data, in.len, c == 2 ? first : 0, chunks[c], &cut);
            ASSERT_MEM_EQ(cut.data ? cut.data : "", cut.len, whole.data ? whole.data : "",
                          whole.len);
        }
    }
    buf_deinit(&in);
    buf_deinit(&whole);
    buf_deinit(&cut);
}

/* Scan a stream of replies in chunks; append "<frame length>;" per frame and "E" on error. */
static void reply_stream(const char *in, size_t n, size_t chunk, buf *out)
{
    resp_reply_scanner s;
    buf pending;
    size_t fed = 0;
    resp_reply_scanner_init(&s);
    buf_init(&pending);
    while (fed < n) {
        size_t take = MIN(n - fed, chunk);
        buf_append(&pending, in + fed, take);
        fed += take;
        for (;;) {
            size_t fl;
            int rc = resp_reply_scan(&s, buf_rptr(&pending), buf_used(&pending), &fl);
            if (rc == RESP_AGAIN)
                break;
            if (rc == RESP_ERR) {
                buf_append(out, "E", 1);
                goto out;
            }
            buf_appendf(out, "%zu;", fl);
            buf_consume(&pending, fl);
        }
    }
out:
    buf_deinit(&pending);
}

TEST(resp_reply_random_streams)
{
    /* Frame boundaries do not depend on the cut, and the value parser agrees with the scanner
     * on every frame it finds. */
    static const atom atoms[] = {
        ATOM("*"),           ATOM("%"),       ATOM("|"),
        ATOM("~"),           ATOM(">"),       ATOM("$"),
        ATOM("="),           ATOM("!"),       ATOM("+"),
        ATOM("-"),           ATOM(":"),       ATOM("_"),
        ATOM("#"),           ATOM(","),       ATOM("("),
        ATOM("1"),           ATOM("2"),       ATOM("0"),
        ATOM("-1"),          ATOM("t"),       ATOM("\r\n"),
        ATOM("\r"),          ATOM("\0"),      ATOM("*1\r\n"),
        ATOM("|1\r\n"),      ATOM("%1\r\n"),  ATOM(":5\r\n"),
        ATOM("$1\r\nx\r\n"), ATOM("_\r\n"),   ATOM("=5\r\ntxt:a\r\n"),
        ATOM("$-1\r\n"),     ATOM("+OK\r\n"),
    };
    uint32_t rng = 777;
    buf in, whole, cut;
    buf_init(&in);
    buf_init(&whole);
    buf_init(&cut);
    for (int iter = 0; iter < 3000; iter++) {
        random_input(&rng, atoms, ARRAY_LEN(atoms), 12, &in);
        whole.rpos = whole.len = 0;
        reply_stream(in.data, in.len, in.len, &whole);
        cut.rpos = cut.len = 0;
        reply_stream(in.data, in.len, 1 + rng_next(&rng) % 4, &cut);
        ASSERT_MEM_EQ(cut.data ? cut.data : "", cut.len, whole.data ? whole.data : "", whole.len);

        /* The first frame, through the value parser. */
        resp_reply_scanner s;
        size_t fl = 0, consumed = 0;
        resp_value *v = NULL;
        resp_reply_scanner_init(&s);
        int rc = resp_reply_scan(&s, in.data, in.len, &fl);
        int vrc = resp_value_parse(in.data, in.len, &v, &consumed);
        if (rc != RESP_DONE) {
            ASSERT_EQ(vrc, rc);
        } else if (vrc == RESP_DONE) {
            ASSERT_EQ(consumed, fl);
            ASSERT_EQ(v->raw_len, fl);
        } else {
            ASSERT_EQ(vrc, RESP_ERR);
        }
        resp_value_free(v);
    }
    buf_deinit(&in);
    buf_deinit(&whole);
    buf_deinit(&cut);
}
