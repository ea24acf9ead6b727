/* Tests for proto/keyslot. Every expected slot was read from a real redis-server 7.0 started with
 * --cluster-enabled yes, using CLUSTER KEYSLOT. */
#define ALLOC_ROOM ROOM_TEST
#include <string.h>

#include "common/compiler.h"
#include "proto/keyslot.h"
#include "test.h"

TEST(keyslot_crc16_vectors)
{
    ASSERT_EQ(crc16_xmodem("123456789", 9), 0x31C3);
    ASSERT_EQ(crc16_xmodem("", 0), 0);
    ASSERT_EQ(crc16_xmodem("A", 1), 0x58E5);
    /* Binary keys: NUL and high bytes are hashed like any other byte. */
    ASSERT_EQ(keyslot("a\0b\xff"
                      "c",
                      5),
              6588);
}

TEST(keyslot_plain_keys)
{
    static const struct {
        const char *key;
        unsigned slot;
    } cases[] = {
        {"foo", 12182},     {"bar", 5061}, {"123456789", 12739},
        {"user1000", 3443}, {"k", 7629},   {"", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        ASSERT_EQ(keyslot(cases[i].key, strlen(cases[i].key)), cases[i].slot);
}

TEST(keyslot_hash_tags)
{
    static const struct {
        const char *key;
        unsigned slot;
    } cases[] = {
        {"{user1000}.following", 3443}, /* the tag alone is hashed */
        {"{user1000}.followers", 3443},
        {"foo{}{bar}", 8363},    /* empty first tag: the whole key */
        {"foo{{bar}}zap", 4015}, /* tag is "{bar" */
        {"{bar", 4015},          /* no closing brace: the whole key */
        {"foo{bar}{zap}", 5061}, /* only the first tag counts: "bar" */
        {"hello{world}", 9059},
        {"{}", 15257},
        {"{", 4092},
        {"}", 12090},
        {"a{b", 13340},
        {"a}b{c}", 7365}, /* a '}' before the '{' is ignored: tag "c" */
        {"{a}", 15495},
        {"x{}", 2608},
        {"{}{x}", 3257},
        {"{{}}", 4092}, /* tag is "{" */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        unsigned got = keyslot(cases[i].key, strlen(cases[i].key));
        if (got != cases[i].slot) {
            char m[128];
            snprintf(m, sizeof(m), "keyslot(\"%s\") = %u, redis says %u", cases[i].key, got,
                     cases[i].slot);
            test_fail(__FILE__, __LINE__, m);
            return;
        }
    }
    ASSERT_EQ(keyslot("{user1000}.following", 20), keyslot("user1000", 8));
    ASSERT_EQ(keyslot("foo{bar}{zap}", 13), keyslot("bar", 3));
    ASSERT_EQ(keyslot("foo{{bar}}zap", 13), keyslot("{bar", 4));
    ASSERT_EQ(keyslot("foo{}{bar}", 10), crc16_xmodem("foo{}{bar}", 10) & 16383);
}

TEST(keyslot_length_bounded)
{
    /* Only len bytes are read: a tag closed after the end does not count. */
    static const char key[] = "ab{cd}ef";
    ASSERT_EQ(keyslot(key, 5), crc16_xmodem(key, 5) & 16383);
    ASSERT_EQ(keyslot(key, 6), keyslot("cd", 2));
    for (unsigned i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "key:%u", i);
        ASSERT_TRUE(keyslot(k, (size_t)n) < KEYSLOT_COUNT);
    }
}

TEST(keyslot_hashed_part)
{
    size_t n;
    const char *p = keyslot_hashed("x{user}y", 8, &n);
    ASSERT_MEM_EQ(p, n, "user", 4);
    p = keyslot_hashed("x{}{user}", 9, &n);
    ASSERT_MEM_EQ(p, n, "x{}{user}", 9);
    p = keyslot_hashed("", 0, &n);
    ASSERT_EQ(n, 0);
}

TEST(keyslot_number_reaches_every_slot)
{
    /* A "{<number>}" tag exists for every slot, so temporary keys can be placed in any slot. */
    for (unsigned slot = 0; slot < KEYSLOT_COUNT; slot++) {
        char text[16];
        int n = snprintf(text, sizeof(text), "%u", keyslot_number(slot));
        ASSERT_EQ(keyslot(text, (size_t)n), slot);
    }
    ASSERT_TRUE(keyslot_number(0) < 110000);
}
