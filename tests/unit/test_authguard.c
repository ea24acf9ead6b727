/* Tests for acl/authguard: a failure budget per address that refills at its rate, bounded
 * memory however many addresses try. */
#define ALLOC_ROOM ROOM_TEST
#include <stdio.h>

#include "acl/authguard.h"
#include "test.h"

TEST(authguard_budget_per_address_refills_at_its_rate)
{
    auth_guard *g = auth_guard_create(6); /* 6 a minute: one every 10 s */
    uint64_t t = 1000000;
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(auth_guard_check(g, "10.0.0.1", t), 0);
        ASSERT_EQ(auth_guard_failed(g, "10.0.0.1", t), 0);
    }
    ASSERT_EQ(auth_guard_check(g, "10.0.0.1", t), 0);
    ASSERT_EQ(auth_guard_failed(g, "10.0.0.1", t), 1); /* the sixth spends it */
    uint64_t wait = auth_guard_check(g, "10.0.0.1", t);
    ASSERT_TRUE(wait >= 9999 && wait <= 10001);
    ASSERT_EQ(auth_guard_check(g, "10.0.0.2", t), 0); /* another address: untouched */
    ASSERT_TRUE(auth_guard_check(g, "10.0.0.1", t + 5000) > 0);
    ASSERT_EQ(auth_guard_check(g, "10.0.0.1", t + 10001), 0); /* one more try after 10 s */
    ASSERT_EQ(auth_guard_failed(g, "10.0.0.1", t + 10001), 1);
    ASSERT_TRUE(auth_guard_check(g, "10.0.0.1", t + 10002) > 0);
    uint64_t refused;
    auth_guard_stats(g, &refused);
    ASSERT_EQ(refused, 3);
    auth_guard_destroy(g);
}

TEST(authguard_off_and_full_table)
{
    ASSERT_TRUE(auth_guard_create(0) == NULL);
    ASSERT_EQ(auth_guard_check(NULL, "x", 1), 0);
    ASSERT_EQ(auth_guard_failed(NULL, "x", 1), 0);
    auth_guard *g = auth_guard_create(1);
    char src[32];
    /* Far more failing addresses than slots: memory stays fixed and each one that just
     * failed is throttled, the table being full or not. */
    for (int i = 0; i < 20000; i++) {
        snprintf(src, sizeof(src), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        ASSERT_EQ(auth_guard_failed(g, src, 2), 1);
        ASSERT_TRUE(auth_guard_check(g, src, 2) > 0);
    }
    auth_guard_destroy(g);
}
