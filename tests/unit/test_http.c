/* Tests for control/http's Host check: which Host header values name the server (its address,
 * localhost, the operator's --api-hosts), so DNS rebinding gets 421. */
#define ALLOC_ROOM ROOM_TEST
#include <stdio.h>
#include <string.h>

#include "control/http.h"
#include "test.h"

TEST(http_host_names_the_address_localhost_or_a_configured_name)
{
    static const char *const names = "cache.example.com, 10.0.0.5,[fd00::7]";
    static const char *const ok[] = {
        "127.0.0.1",
        "127.0.0.1:8379",
        "localhost",
        "localhost:8379",
        "LOCALHOST:1",
        "cache.example.com",
        "Cache.Example.COM:443",
        "10.0.0.5:80",
        "[fd00::7]:8379",
        "[fd00:0::7]",
    };
    static const char *const refused[] = {
        "",
        "evil.example",
        "evil.example:8379",
        "127.0.0.2",
        "0.0.0.0:8379",
        "[::1]:8379",
        "127.0.0.1:",
        "127.0.0.1:80x",
        "127.0.0.1:123456",
        "localhost.evil.example",
        "cache.example.com.evil",
        "evil.cache.example.com",
        "[127.0.0.1]",
        "[localhost]",
        "[::1",
        "fd00::7",
        "user@127.0.0.1",
        "127.0.0.1:8379:1",
        "10.0.0.6",
        ":8379",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!http_host_allowed(ok[i], "127.0.0.1", names)) {
            fprintf(stderr, "    refused: %s\n", ok[i]);
            ASSERT_TRUE(0);
        }
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (http_host_allowed(refused[i], "127.0.0.1", names)) {
            fprintf(stderr, "    allowed: %s\n", refused[i]);
            ASSERT_TRUE(0);
        }
    }
    ASSERT_EQ(http_host_allowed(NULL, "127.0.0.1", names), 0); /* no Host header */
}

TEST(http_host_ipv6_and_wildcard_binds)
{
    /* Bound to ::1: the bracketed address in any spelling, never the bare one. */
    ASSERT_EQ(http_host_allowed("[::1]:8379", "::1", ""), 1);
    ASSERT_EQ(http_host_allowed("[0:0:0:0:0:0:0:1]", "::1", ""), 1);
    ASSERT_EQ(http_host_allowed("::1", "::1", ""), 0);
    ASSERT_EQ(http_host_allowed("127.0.0.1:8379", "::1", ""), 0);
    ASSERT_EQ(http_host_allowed("localhost:8379", "::1", NULL), 1);
    /* Bound to 0.0.0.0: the address each request arrived on (the caller passes it). */
    ASSERT_EQ(http_host_allowed("192.168.1.20:8379", "192.168.1.20", ""), 1);
    ASSERT_EQ(http_host_allowed("192.168.1.21:8379", "192.168.1.20", ""), 0);
    /* Unknown local address: only localhost and the names. */
    ASSERT_EQ(http_host_allowed("127.0.0.1", "", ""), 0);
    ASSERT_EQ(http_host_allowed("localhost", "", ""), 1);
}

TEST(http_hosts_setting_is_checked)
{
    char err[256];
    ASSERT_EQ(http_hosts_check("", err, sizeof(err)), 0);
    ASSERT_EQ(http_hosts_check("a.example, b-2.example,10.0.0.5,[::1],fd00::7,", err, sizeof(err)),
              0);
    static const char *const bad[] = {"a.example:8379", "http://a.example", "a b", "*", "a/b",
                                      "[a.example]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ASSERT_EQ(http_hosts_check(bad[i], err, sizeof(err)), -1);
        ASSERT_TRUE(strstr(err, "--api-hosts") != NULL);
    }
}
