/* Tests for meter/meter: the published formula (docs/pricing.md), worked by hand. */
#define ALLOC_ROOM ROOM_TEST
#include <string.h>

#include "common/compiler.h"
#include "meter/meter.h"
#include "test.h"

TEST(meter_data_part_is_one_ecpu_per_kib_rounded_up_to_a_milli_ecpu)
{
    /* GET of a 3,200-byte value: 20-byte request, 3,209-byte reply ($3200\r\n...\r\n). */
    meter_cost c = meter_price(20, 3209, 0);
    ASSERT_EQ(c.data, 3154); /* 3229 * 1000 / 1024 = 3153.3 */
    ASSERT_EQ(c.total, 3154);
    /* Exactly 1 KiB is exactly 1 ECPU. */
    ASSERT_EQ(meter_price(1000, 24, 0).data, 1000);
    ASSERT_EQ(meter_price(1000, 25, 0).data, 1001);
}

TEST(meter_a_command_costs_at_least_one_ecpu)
{
    meter_cost c = meter_price(27, 5, 0); /* SET k v, +OK */
    ASSERT_EQ(c.data, 32);
    ASSERT_EQ(c.total, 1000);
    ASSERT_EQ(meter_price(0, 0, 0).total, 1000);
}

TEST(meter_the_larger_of_data_and_cpu_is_charged)
{
    ASSERT_EQ(meter_price(20, 3209, 5000).total, 5000);
    ASSERT_EQ(meter_price(20, 3209, 3000).total, 3154);
}

TEST(meter_cpu_part_from_engine_time)
{
    ASSERT_EQ(meter_cpu_mecpu(10.0, 10), 1000);  /* 10 us at 10 us per ECPU */
    ASSERT_EQ(meter_cpu_mecpu(0.75, 10), 75);
    ASSERT_EQ(meter_cpu_mecpu(0.7501, 10), 76); /* rounded up */
    ASSERT_EQ(meter_cpu_mecpu(123.0, 0), 0);    /* no CPU part */
    ASSERT_EQ(meter_cpu_mecpu(0.0, 10), 0);
}

TEST(meter_connection_commands_are_free)
{
    static const char *const free_cmds[] = {"auth", "hello", "ping", "quit", "select"};
    for (size_t i = 0; i < ARRAY_LEN(free_cmds); i++) {
        const cmd_def *d = cmd_lookup(free_cmds[i], strlen(free_cmds[i]));
        ASSERT_TRUE(d != NULL);
        ASSERT_TRUE(meter_is_free(d));
    }
    static const char *const paid[] = {"get", "set", "zrange", "eval", "exec", "blpop"};
    for (size_t i = 0; i < ARRAY_LEN(paid); i++) {
        const cmd_def *d = cmd_lookup(paid[i], strlen(paid[i]));
        ASSERT_TRUE(d != NULL);
        ASSERT_TRUE(!meter_is_free(d));
    }
}

TEST(meter_cells_add_up)
{
    meter_cell cell;
    memset(&cell, 0, sizeof(cell));
    meter_cell_add(&cell, 1000, 20, 5);
    meter_cell_add(&cell, 3154, 20, 3209);
    ASSERT_EQ(atomic_load(&cell.calls), 2);
    ASSERT_EQ(atomic_load(&cell.mecpu), 4154);
    ASSERT_EQ(atomic_load(&cell.bytes_in), 40);
    ASSERT_EQ(atomic_load(&cell.bytes_out), 3214);
}

TEST(meter_bucket_admits_at_its_rate)
{
    meter_bucket b;
    meter_bucket_init(&b, 1000, 10000); /* 1000 ECPU/s: 100 ECPU of burst */
    ASSERT_EQ(meter_bucket_wait(&b, 10000), 0);
    meter_bucket_take(&b, 100000, 10000); /* 100 ECPU: empty */
    ASSERT_EQ(meter_bucket_wait(&b, 10000), 0);
    meter_bucket_take(&b, 50000, 10000); /* 50 ECPU in debt: 50 ms to wait */
    ASSERT_EQ(meter_bucket_wait(&b, 10000), 50);
    ASSERT_EQ(meter_bucket_wait(&b, 10020), 30);
    ASSERT_EQ(meter_bucket_wait(&b, 10050), 0);
    /* Refill stops at the burst. */
    ASSERT_EQ(meter_bucket_wait(&b, 20000), 0);
    ASSERT_EQ(b.tokens, 100000);
}

TEST(meter_key_prefixes)
{
    char p[METER_PREFIX_MAX];
    ASSERT_EQ(meter_key_prefix("session:42", 10, p), 8);
    ASSERT_MEM_EQ(p, 8, "session:", 8);
    ASSERT_EQ(meter_key_prefix("plain", 5, p), 0);
    ASSERT_EQ(meter_key_prefix("a-very-long-name-without-colon:x", 32, p), 0); /* cut at 24 */
    meter_prefix t[2];
    size_t n = 0;
    meter_prefix_add(t, 2, &n, "a:", 2, 10, 1);
    meter_prefix_add(t, 2, &n, "b:", 2, 5, 1);
    meter_prefix_add(t, 2, &n, "a:", 2, 10, 1);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(t[0].mecpu, 20);
    /* Full: "c:" takes the smallest place ("b:") and inherits its count. */
    meter_prefix_add(t, 2, &n, "c:", 2, 1, 1);
    ASSERT_MEM_EQ(t[1].p, t[1].len, "c:", 2);
    ASSERT_EQ(t[1].mecpu, 6);
    ASSERT_EQ(t[1].calls, 2);
}
