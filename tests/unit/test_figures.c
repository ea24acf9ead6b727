/* Tests for control/figures: the JSON object a cache's process sends its control plane (what
 * the console charts, and the Prometheus text for the plane's /metrics), both ways. */
#define ALLOC_ROOM ROOM_TEST
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/figures.h"
#include "test.h"

/* What a cache's process answered on GET /metrics.json (its Prometheus text cut to two
 * families). */
static const char real[] =
    "{\"cache\":\"fig\",\"ecpu_milli\":15922000,\"storage_bytes\":442728,\"shards\":1,"
    "\"connections\":2,\"asleep\":false,\"reply_latency\":{\"le_us\":[50,100,200,300,500,750,"
    "1000,2000,5000,10000,25000,50000,100000,500000,1000000],\"cumulative\":[10712,13849,15583,"
    "15750,15863,15887,15894,15913,15924,15926,15926,15926,15926,15926,15926,15927]},"
    "\"prometheus\":\"# HELP stratus_shards shards (primaries) serving the cache\\n# TYPE "
    "stratus_shards gauge\\nstratus_shards{cache=\\\"fig\\\"} 1\\n# HELP "
    "stratus_curr_connections client connections (CurrConnections)\\n# TYPE "
    "stratus_curr_connections gauge\\nstratus_curr_connections{cache=\\\"fig\\\"} 2\\n\"}";

TEST(figures_decode_what_a_cache_sends)
{
    cache_figures f;
    buf prom;
    buf_init(&prom);
    buf_appendf(&prom, "the previous sample's text");
    char err[256] = "";
    ASSERT_EQ(figures_decode(real, strlen(real), &f, &prom, err, sizeof(err)), 0);
    ASSERT_STR_EQ(f.cache, "fig");
    ASSERT_EQ(f.mecpu, 15922000);
    ASSERT_EQ(f.storage, 442728);
    ASSERT_EQ(f.shards, 1);
    ASSERT_EQ(f.connections, 2);
    ASSERT_EQ(f.asleep, 0);
    ASSERT_EQ(f.lat[0], 10712);
    ASSERT_EQ(f.lat[6], 15894);
    ASSERT_EQ(f.lat[VIEW_LATENCY_BUCKETS - 1], 15927);
    /* The text replaces what the buffer held, unescaped. */
    static const char text[] =
        "# HELP stratus_shards shards (primaries) serving the cache\n# TYPE stratus_shards gauge\n"
        "stratus_shards{cache=\"fig\"} 1\n# HELP stratus_curr_connections client connections "
        "(CurrConnections)\n# TYPE stratus_curr_connections gauge\n"
        "stratus_curr_connections{cache=\"fig\"} 2\n";
    ASSERT_MEM_EQ(buf_rptr(&prom), buf_used(&prom), text, strlen(text));
    buf_deinit(&prom);
}

TEST(figures_encode_then_decode_gives_the_same_figures)
{
    cache_figures in = {
        .mecpu = 123456789, .storage = 1ull << 40, .shards = 64, .connections = 10000, .asleep = 1};
    snprintf(in.cache, sizeof(in.cache), "orders-eu-1");
    for (int i = 0; i < VIEW_LATENCY_BUCKETS; i++)
        in.lat[i] = 1000 * (uint64_t)(i + 1);
    /* Quotes, backslashes, control characters and a NUL survive the trip. */
    static const char text[] = "a{cache=\"x\"} 1\n\\ \t\x01 end\0after";
    buf json, prom;
    buf_init(&json);
    buf_init(&prom);
    figures_encode(&in, text, sizeof(text) - 1, &json);
    ASSERT_TRUE(memchr(buf_rptr(&json), '\n', buf_used(&json)) == NULL); /* one line */
    cache_figures out;
    char err[256] = "";
    ASSERT_EQ(figures_decode(buf_rptr(&json), buf_used(&json), &out, &prom, err, sizeof(err)), 0);
    ASSERT_STR_EQ(out.cache, in.cache);
    ASSERT_EQ(out.mecpu, in.mecpu);
    ASSERT_EQ(out.storage, in.storage);
    ASSERT_EQ(out.shards, in.shards);
    ASSERT_EQ(out.connections, in.connections);
    ASSERT_EQ(out.asleep, 1);
    ASSERT_TRUE(memcmp(out.lat, in.lat, sizeof(in.lat)) == 0);
    ASSERT_MEM_EQ(buf_rptr(&prom), buf_used(&prom), text, sizeof(text) - 1);
    /* No text at all. */
    buf_consume(&json, buf_used(&json));
    figures_encode(&in, NULL, 0, &json);
    ASSERT_EQ(figures_decode(buf_rptr(&json), buf_used(&json), &out, &prom, err, sizeof(err)), 0);
    ASSERT_EQ(buf_used(&prom), 0);
    ASSERT_EQ(out.mecpu, in.mecpu);
    buf_deinit(&json);
    buf_deinit(&prom);
}

/* real with the first `from` replaced by `to`. */
static void edit(char *out, size_t outlen, const char *from, const char *to)
{
    const char *at = strstr(real, from);
    if (!at) {
        snprintf(out, outlen, "%s", "(edit not found)");
        return;
    }
    snprintf(out, outlen, "%.*s%s%s", (int)(at - real), real, to, at + strlen(from));
}

TEST(figures_decode_refuses_malformed_json)
{
    static const struct {
        const char *from, *to; /* an edit of the real object, or from NULL: to is the text */
        const char *says;      /* part of the error */
    } cases[] = {
        {NULL, "", "not JSON"},
        {NULL, "# HELP stratus_shards shards\n", "not JSON"},
        {NULL, "[]", "not a JSON object"},
        {NULL, "{}", "cache must be a name"},
        {NULL, "null", "not JSON"},
        {"{\"cache\"", "{\"cache\":\"x\",\"cache\"", "not JSON"}, /* a member twice */
        {"\"cache\":\"fig\"", "\"cache\":7", "cache must be a name"},
        {"\"cache\":\"fig\"", "\"cache\":\"\"", "cache must be a name"},
        {"\"cache\":\"fig\"", "\"cache\":\"f\\u0000g\"", "cache must be a name"},
        {"\"ecpu_milli\":15922000", "\"ecpu_milli\":\"15922000\"", "ecpu_milli must be an integer"},
        {"\"ecpu_milli\":15922000", "\"ecpu_milli\":15922.5", "ecpu_milli must be an integer"},
        {"\"ecpu_milli\":15922000,", "", "ecpu_milli must be an integer"},
        {"\"storage_bytes\":442728", "\"storage_bytes\":-1", "storage_bytes must be"},
        {"\"shards\":1", "\"shards\":9999999999", "shards must be an integer from 0"},
        {"\"connections\":2", "\"connections\":null", "connections must be an integer"},
        {"\"asleep\":false", "\"asleep\":0", "asleep must be true or false"},
        {"\"reply_latency\":{", "\"reply_latency\":7,\"x\":{", "reply_latency must be an object"},
        {"\"le_us\":[50,", "\"le_us\":[51,", "le_us[0]"},
        {"500000,1000000]", "500000]", "le_us must be an array of 15"},
        {",15927]", "]", "cumulative one of 16"},
        {",15927]", ",15927,15927]", "cumulative one of 16"},
        {"10712,13849", "13849,10712", "cumulative[1]"},
        {"10712,", "-1,", "cumulative[0]"},
        {"10712,", "\"10712\",", "cumulative[0]"},
        {"\"prometheus\":\"", "\"prometheus\":1,\"p\":\"", "prometheus must be a string"},
    };
    char text[4096], err[256];
    buf prom;
    buf_init(&prom);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].from)
            edit(text, sizeof(text), cases[i].from, cases[i].to);
        else
            snprintf(text, sizeof(text), "%s", cases[i].to);
        cache_figures f;
        err[0] = '\0';
        int rc = figures_decode(text, strlen(text), &f, &prom, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].says))
            fprintf(stderr, "    case %zu: %d \"%s\" for %s\n", i, rc, err, text);
        ASSERT_EQ(rc, -EINVAL);
        ASSERT_TRUE(strstr(err, cases[i].says) != NULL);
    }
    /* Every cut of the object short of its end. */
    for (size_t n = 0; n < strlen(real); n++)
        ASSERT_EQ(figures_decode(real, n, &(cache_figures){0}, &prom, err, sizeof(err)), -EINVAL);
    /* Trailing bytes after the object, and bytes not UTF-8. */
    snprintf(text, sizeof(text), "%s x", real);
    ASSERT_EQ(figures_decode(text, strlen(text), &(cache_figures){0}, &prom, err, sizeof(err)),
              -EINVAL);
    edit(text, sizeof(text), "\"fig\"", "\"f\xff\"");
    ASSERT_EQ(figures_decode(text, strlen(text), &(cache_figures){0}, &prom, err, sizeof(err)),
              -EINVAL);
    /* Members it does not know are allowed (a newer cache process may send more). */
    edit(text, sizeof(text), "\"asleep\":false", "\"asleep\":false,\"engines\":{\"up\":2}");
    ASSERT_EQ(figures_decode(text, strlen(text), &(cache_figures){0}, &prom, err, sizeof(err)), 0);
    buf_deinit(&prom);
}
