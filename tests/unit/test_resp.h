/* What the RESP tests share (test_resp.c: the request parser and random streams;
 * test_resp_reply.c: the reply scanner, the value parser and the writers). */
#ifndef STRATUS_TEST_RESP_H
#define STRATUS_TEST_RESP_H

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/compiler.h"
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

/* A copy of in[0..n) in a block of exactly n bytes (1 when empty), so the sanitizers see any
 * read past the end. */
static inline void *copy_block(const char *in, size_t n)
{
    char *c = xmalloc(n ? n : 1);
    if (n)
        memcpy(c, in, n);
    return c;
}

#endif
