/* Tests for control/api: how a call's path is split and matched to a route, and body parsing (a
 * JSON body with a key given twice is refused with the key named, never "the last one wins"). */
#define ALLOC_ROOM ROOM_TEST
#include <stdio.h>
#include <string.h>

#include "control/api.h"
#include "plane_fixture.h"
#include "test.h"

static int parse(const char *body, plane_def *d, char *err, size_t errlen)
{
    err[0] = '\0';
    return api_parse_def(body, strlen(body), d, 0, err, errlen);
}

TEST(api_body_with_a_duplicated_key_is_refused)
{
    char err[800];
    plane_def d = plane_fixture_def("c");
    ASSERT_EQ(parse("{\"shards\": 2, \"replicas\": 0}", &d, err, sizeof(err)), 0);
    ASSERT_EQ(d.shards, 2);
    d = plane_fixture_def("c");
    ASSERT_EQ(parse("{\"shards\": 2, \"shards\": 3}", &d, err, sizeof(err)), -22);
    ASSERT_TRUE(strstr(err, "\"shards\" twice") != NULL);
    ASSERT_EQ(d.shards, 1); /* untouched */
    /* Nested, on another line. */
    ASSERT_EQ(parse("{\"usage_limits\": {\"max_storage\": \"1gb\",\n\"max_storage\": \"2gb\"}}", &d,
                    err, sizeof(err)),
              -22);
    ASSERT_TRUE(strstr(err, "\"max_storage\" twice (line 2)") != NULL);
    /* A key too long for jansson to quote: still refused, with its place. */
    ASSERT_EQ(parse("{\"description_of_the_cache\": \"a\", \"description_of_the_cache\": \"b\"}",
                    &d, err, sizeof(err)),
              -22);
    ASSERT_TRUE(strstr(err, "a key twice (line 1, column") != NULL);
    /* The other refusals are unchanged. */
    ASSERT_EQ(parse("{\"max_storage_x\": 1}", &d, err, sizeof(err)), -22); /* unknown field */
    ASSERT_TRUE(strstr(err, "unknown field") != NULL);
    ASSERT_EQ(parse("[1, 2]", &d, err, sizeof(err)), -22);
    ASSERT_TRUE(strstr(err, "JSON object") != NULL);
}

TEST(api_path_split_takes_the_parts_after_v1)
{
    api_path_parts parts;
    ASSERT_EQ(api_path_split("/v1", parts), 0);
    ASSERT_EQ(api_path_split("/v1/", parts), 0);
    ASSERT_EQ(api_path_split("/v1/caches/", parts), 1);
    ASSERT_STR_EQ(parts[0], "caches");
    ASSERT_EQ(api_path_split("/v1/caches/orders/usage", parts), 3);
    ASSERT_STR_EQ(parts[1], "orders");
    ASSERT_STR_EQ(parts[2], "usage");
    ASSERT_EQ(api_path_split("/v1/caches//usage", parts), -1);
    ASSERT_EQ(api_path_split("/v1/a/b/c/d/e", parts), -1);
    char longer[128];
    snprintf(longer, sizeof(longer), "/v1/caches/%072d", 0);
    ASSERT_EQ(api_path_split(longer, parts), -1);
}

TEST(api_route_match_compares_part_by_part)
{
    api_path_parts parts;
    int n = api_path_split("/v1/caches/orders/usage", parts);
    ASSERT_TRUE(api_route_match("caches/*/usage", parts, n));
    ASSERT_TRUE(!api_route_match("caches/*/bill", parts, n));
    ASSERT_TRUE(!api_route_match("caches/*", parts, n));
    ASSERT_TRUE(!api_route_match("caches/*/usage/*", parts, n));
    ASSERT_TRUE(!api_route_match("snapshots/*/usage", parts, n));
    n = api_path_split("/v1/caches", parts);
    ASSERT_TRUE(api_route_match("caches", parts, n));
    ASSERT_TRUE(!api_route_match("caches/*", parts, n));
    ASSERT_TRUE(!api_route_match("cache", parts, n));
    ASSERT_TRUE(!api_route_match("cachesx", parts, n));
    n = api_path_split("/v1/caches/*", parts);
    ASSERT_TRUE(api_route_match("caches/*", parts, n));
}
