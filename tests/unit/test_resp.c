/* Tests for proto/resp's request side: the request parser against Redis 7's behaviour (messages
 * checked against a real redis-server 7.0), and random streams of requests and replies. Every
 * input is also fed as every growing prefix, each copied to a fresh exact-size block so the data
 * moves between calls and the sanitizers see any over-read. The reply side: test_resp_reply.c. */
#define ALLOC_ROOM ROOM_TEST
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "proto/resp.h"
#include "test.h"
#include "test_resp.h"

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
