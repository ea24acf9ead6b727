/* Tests for control/plane (definitions: AWS's naming rule and the limits' bounds; the latency
 * quantiles of a sample) and common/file (atomic writes, small files, trees). */
#define ALLOC_ROOM ROOM_TEST
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "control/plane.h"
#include "control/plane_int.h"
#include "plane_fixture.h"
#include "test.h"

TEST(plane_names_follow_the_aws_rule)
{
    char err[256];
    static const char *const good[] = {"a", "orders", "web-1", "a1-b2-c3",
                                       "abcdefghijabcdefghijabcdefghijabcdefghij"};
    static const char *const bad[] = {"",    "1abc", "-abc", "abc-", "a--b", "Abc",
                                      "a_b", "a.b",  "a b",  "ä",    "a/b"};
    /* (41 characters do not fit the definition; the API refuses them when it parses.) */
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        plane_def d = plane_fixture_def(good[i]);
        ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        plane_def d = plane_fixture_def(bad[i]);
        ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
        ASSERT_TRUE(strstr(err, "lowercase") != NULL);
    }
}

TEST(plane_limits_and_settings_are_bounded)
{
    char err[256];
    plane_def d = plane_fixture_def("c");
    d.shards = 0;
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    d = plane_fixture_def("c");
    d.shards = 32;
    d.replicas = 2; /* 96 engines */
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    d = plane_fixture_def("c");
    snprintf(d.durability, sizeof(d.durability), "sync");
    d.replicas = 0;
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    d = plane_fixture_def("c");
    d.max_ecpu_per_second = -1;
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    d = plane_fixture_def("c");
    snprintf(d.max_storage, sizeof(d.max_storage), "10tb");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    snprintf(d.max_storage, sizeof(d.max_storage), "512mb");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), 0);
    snprintf(d.daily_snapshot_time, sizeof(d.daily_snapshot_time), "24:00");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    snprintf(d.daily_snapshot_time, sizeof(d.daily_snapshot_time), "03:30");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), 0);
    d.snapshot_retention = 36;
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    d = plane_fixture_def("c");
    snprintf(d.description, sizeof(d.description), "two\nlines");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    d = plane_fixture_def("c");
    snprintf(d.zones, sizeof(d.zones), "a,b;rm -rf");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    d = plane_fixture_def("c");
    snprintf(d.eviction, sizeof(d.eviction), "allkeys-lfu");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), 0);
    snprintf(d.eviction, sizeof(d.eviction), "allkeys-lru\nport=1");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
    ASSERT_TRUE(strstr(err, "volatile-lru, volatile-lfu") != NULL);
    snprintf(d.eviction, sizeof(d.eviction), "%s", "");
    ASSERT_EQ(plane_def_check(&d, err, sizeof(err)), -22);
}

TEST(file_atomic_write_read_line_and_remove_tree)
{
    char dir[] = "/tmp/stratus-unit-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char sub[256], path[300], copy[300], line[64];
    snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
    ASSERT_EQ(file_mkdir_p(sub, 0700), 0);
    snprintf(path, sizeof(path), "%s/secret", sub);
    ASSERT_EQ(file_write_atomic(path, "abc123\nmore\n", 12, 0600), 0);
    ASSERT_EQ(file_read_line(path, line, sizeof(line)), 0);
    ASSERT_TRUE(strcmp(line, "abc123") == 0);
    ASSERT_EQ(file_size(path), 12);
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    snprintf(copy, sizeof(copy), "%s/copy", dir);
    ASSERT_EQ(file_copy_atomic(path, copy, 0600), 0);
    ASSERT_EQ(file_size(copy), 12);
    /* Replacing leaves no temporary file behind. */
    ASSERT_EQ(file_write_atomic(path, "x", 1, 0600), 0);
    ASSERT_EQ(file_size(path), 1);
    snprintf(line, sizeof(line), "left");
    ASSERT_TRUE(file_read_line("/nonexistent/file", line, sizeof(line)) < 0);
    ASSERT_TRUE(line[0] == '\0');
    ASSERT_EQ(file_remove_tree(dir), 0);
    ASSERT_TRUE(access(dir, F_OK) != 0);
    ASSERT_EQ(file_remove_tree(dir), 0); /* gone already: not an error */
}

/* p50/p99 over an interval come from the difference of two cumulative histograms (what a cache
 * sends in its figures), interpolated within the bucket as Prometheus does. */
TEST(plane_quantiles_of_the_replies_between_two_samples)
{
    uint64_t prev[VIEW_LATENCY_BUCKETS] = {0}, now[VIEW_LATENCY_BUCKETS];
    /* Before: 100 replies up to 50 us. Since: 100 more up to 50 us, 100 in (50, 100] us. */
    for (int i = 0; i < VIEW_LATENCY_BUCKETS; i++) {
        prev[i] = 100;
        now[i] = i == 0 ? 200 : 300;
    }
    /* The 100th of 200: the last one of the first bucket, 50 us. */
    ASSERT_EQ((long long)(plane_quantile_ms(now, prev, VIEW_LATENCY_BUCKETS, 0.5) * 1e6), 50000);
    /* The 198th: 98/100 into (50, 100] us. */
    ASSERT_EQ((long long)(plane_quantile_ms(now, prev, VIEW_LATENCY_BUCKETS, 0.99) * 1e6 + 0.5),
              99000);
    /* No reply in between: 0. */
    ASSERT_EQ((long long)(plane_quantile_ms(prev, prev, VIEW_LATENCY_BUCKETS, 0.5) * 1e6), 0);
    /* Replies slower than the last bound count at that bound (1 s). */
    for (int i = 0; i < VIEW_LATENCY_BUCKETS; i++)
        now[i] = i == VIEW_LATENCY_BUCKETS - 1 ? 110 : 100;
    ASSERT_EQ((long long)(plane_quantile_ms(now, prev, VIEW_LATENCY_BUCKETS, 0.99) + 0.5), 1000);
}
