/* Tests for proto/resp's reply side: the reply scanner on every RESP2/RESP3 type (whole, as every
 * growing prefix, malformed, nested to the limit), the value parser, and the writers' exact
 * bytes. */
#define ALLOC_ROOM ROOM_TEST
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "proto/resp.h"
#include "test.h"
#include "test_resp.h"

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
