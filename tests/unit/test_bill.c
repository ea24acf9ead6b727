/* Tests for meter/bill: costs, the per-hour storage minimum, the forecast and the node choice. */
#define ALLOC_ROOM ROOM_TEST
#include <string.h>

#include "meter/bill.h"
#include "test.h"

static void minutes(bill_report *r, int64_t first, int n, uint64_t mecpu, uint64_t byte_s)
{
    for (int64_t m = first; m < first + n; m++) {
        bill_row cmd = {.minute = m, .cmd = "get", .calls = 1, .mecpu = mecpu};
        bill_row own = {.minute = m, .cmd = "", .storage_byte_s = byte_s};
        bill_add(r, &cmd);
        bill_add(r, &own);
    }
}

TEST(bill_prices_an_hour)
{
    price_sheet s;
    ASSERT_EQ(bill_sheet_builtin("redis-oss", &s), 0);
    bill_report r;
    bill_begin(&r, 0, 1000000);
    /* One hour: 1 M ECPU a minute, 1 GiB held. */
    minutes(&r, 600, 60, 1000000000ull, 1073741824ull * 60);
    bill_finish(&r, &s, 0);
    ASSERT_EQ(r.mecpu, 60000000000ull);
    ASSERT_TRUE(r.ecpu_cost > 0.20399 && r.ecpu_cost < 0.20401); /* 60 M ECPU x $0.0034/M */
    ASSERT_TRUE(r.billed_gb_hours > 0.99999 && r.billed_gb_hours < 1.00001);
    ASSERT_TRUE(r.forecast_month > (0.204 + 0.125) * 730 - 0.01 &&
                r.forecast_month < (0.204 + 0.125) * 730 + 0.01);
    ASSERT_STR_EQ(r.cmds[0].cmd, "get");
    bill_end(&r);
}

TEST(bill_minimum_storage_counts_the_minutes_the_cache_ran)
{
    price_sheet s;
    ASSERT_EQ(bill_sheet_builtin("valkey", &s), 0);
    bill_report r;
    bill_begin(&r, 0, 1000000);
    minutes(&r, 600, 30, 1000, 0); /* half an hour, empty */
    bill_finish(&r, &s, 1.0);
    ASSERT_TRUE(r.billed_gb_hours > 0.49999 && r.billed_gb_hours < 0.50001);
    bill_end(&r);
}

TEST(bill_picks_the_cheapest_nodes_that_fit)
{
    price_sheet s;
    ASSERT_EQ(bill_sheet_builtin("redis-oss", &s), 0);
    bill_report r;
    bill_begin(&r, 0, 1000000);
    /* 10 GiB held, 1,000 ECPU/s: memory decides (75% full at most). */
    minutes(&r, 600, 10, 60000000ull, 10737418240ull * 60);
    bill_finish(&r, &s, 0);
    ASSERT_TRUE(r.fixed_node >= 0);
    ASSERT_TRUE(s.nodes[r.fixed_node].mem_gb * 0.75 * r.fixed_count >= 10.0);
    ASSERT_TRUE(r.fixed_month_replicas > 2 * r.fixed_month - 0.001);
    bill_end(&r);
}
