/* Byte buffer (common/buf.c): growth, consume and compaction, printf-append on both sides of its
 * stack buffer, shrinking, and what happens when a fallible allocation fails. */
#define ALLOC_ROOM ROOM_TEST
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "test.h"

/* Append n bytes of a pattern that names each byte's offset (from), so a copy that shifts or
 * drops bytes is caught. */
static void append_pattern(buf *b, size_t from, size_t n)
{
    for (size_t i = from; i < from + n; i++) {
        char c = (char)('a' + i % 23);
        buf_append(b, &c, 1);
    }
}

/* Whether the readable bytes are the pattern from offset `from`. */
static int is_pattern(const buf *b, size_t from)
{
    for (size_t i = 0; i < buf_used(b); i++)
        if (buf_rptr(b)[i] != (char)('a' + (from + i) % 23))
            return 0;
    return 1;
}

TEST(buf_init_is_empty_and_zero_appends_allocate_nothing)
{
    int64_t before = alloc_live_count();
    buf b;
    memset(&b, 0x5a, sizeof(b));
    buf_init(&b);
    ASSERT_TRUE(b.data == NULL);
    ASSERT_EQ(b.rpos, 0);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.cap, 0);
    ASSERT_EQ(buf_used(&b), 0);
    buf_append(&b, "x", 0);
    buf_consume(&b, 0);
    buf_compact(&b);
    buf_shrink(&b, 0);
    ASSERT_TRUE(b.data == NULL);
    ASSERT_EQ(alloc_live_count(), before);
    buf_deinit(&b);
    ASSERT_EQ(b.cap, 0);
}

TEST(buf_append_grows_by_doubling)
{
    int64_t before = alloc_live_bytes(ROOM_COMMON);
    buf b;
    buf_init(&b);
    append_pattern(&b, 0, 1);
    ASSERT_EQ(b.cap, 512);
    ASSERT_EQ(alloc_live_bytes(ROOM_COMMON) - before, 512);
    append_pattern(&b, 1, 511);
    ASSERT_EQ(b.cap, 512);
    append_pattern(&b, 512, 1);
    ASSERT_EQ(b.cap, 1024);
    append_pattern(&b, 513, 5000 - 513);
    ASSERT_EQ(b.len, 5000);
    ASSERT_EQ(b.cap, 8192);
    ASSERT_EQ(alloc_live_bytes(ROOM_COMMON) - before, 8192);
    ASSERT_TRUE(is_pattern(&b, 0));
    /* One large append jumps straight to the power of two that holds it. */
    char big[20000];
    memset(big, 'z', sizeof(big));
    buf_append(&b, big, sizeof(big));
    ASSERT_EQ(b.len, 25000);
    ASSERT_EQ(b.cap, 32768);
    ASSERT_EQ(buf_rptr(&b)[4999], (char)('a' + 4999 % 23));
    ASSERT_EQ(buf_rptr(&b)[5000], 'z');
    buf_deinit(&b);
    ASSERT_TRUE(b.data == NULL);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(alloc_live_bytes(ROOM_COMMON), before);
}

TEST(buf_consume_and_compact)
{
    buf b;
    buf_init(&b);
    append_pattern(&b, 0, 300);
    buf_consume(&b, 120);
    ASSERT_EQ(b.rpos, 120);
    ASSERT_EQ(buf_used(&b), 180);
    ASSERT_TRUE(is_pattern(&b, 120));
    /* Compaction moves the unread bytes to the front. */
    char *data = b.data;
    buf_compact(&b);
    ASSERT_TRUE(b.data == data);
    ASSERT_EQ(b.rpos, 0);
    ASSERT_EQ(b.len, 180);
    ASSERT_TRUE(is_pattern(&b, 120));
    buf_compact(&b); /* nothing to do */
    ASSERT_EQ(b.len, 180);
    /* Consuming everything (or more) resets to empty; the memory stays for reuse. */
    buf_consume(&b, 180);
    ASSERT_EQ(b.rpos, 0);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.cap, 512);
    ASSERT_TRUE(b.data == data);
    append_pattern(&b, 0, 10);
    buf_consume(&b, 11);
    ASSERT_EQ(b.rpos, 0);
    ASSERT_EQ(b.len, 0);
    buf_deinit(&b);
}

TEST(buf_reserve_compacts_before_growing)
{
    buf b;
    buf_init(&b);
    append_pattern(&b, 0, 500);
    buf_consume(&b, 400);
    ASSERT_EQ(buf_reserve(&b, 12), 0); /* room after len already */
    ASSERT_EQ(b.rpos, 400);
    /* Room only once the 400 read bytes are dropped: compacted in place, no allocation. */
    char *data = b.data;
    int64_t count = alloc_live_count();
    alloc_fail_after(1); /* any allocation would fail */
    ASSERT_EQ(buf_reserve(&b, 300), 0);
    alloc_fail_after(0);
    ASSERT_TRUE(b.data == data);
    ASSERT_EQ(b.cap, 512);
    ASSERT_EQ(b.rpos, 0);
    ASSERT_EQ(b.len, 100);
    ASSERT_EQ(alloc_live_count(), count);
    ASSERT_TRUE(is_pattern(&b, 400));
    ASSERT_TRUE(b.cap - b.len >= 300);
    /* Not enough even then: grown to hold used + n, compacted. */
    buf_consume(&b, 50);
    ASSERT_EQ(buf_reserve(&b, 1000), 0);
    ASSERT_EQ(b.cap, 2048);
    ASSERT_EQ(b.rpos, 0);
    ASSERT_EQ(b.len, 50);
    ASSERT_TRUE(is_pattern(&b, 450));
    buf_deinit(&b);
}

TEST(buf_reserve_refuses_impossible_sizes)
{
    buf b;
    buf_init(&b);
    ASSERT_EQ(buf_reserve(&b, SIZE_MAX), -ENOMEM);
    ASSERT_EQ(buf_reserve(&b, SIZE_MAX / 2 + 2), -ENOMEM);
    ASSERT_TRUE(b.data == NULL);
    append_pattern(&b, 0, 10);
    ASSERT_EQ(buf_reserve(&b, SIZE_MAX - 5), -ENOMEM); /* used + n overflows */
    ASSERT_EQ(b.cap, 512);
    ASSERT_EQ(b.len, 10);
    ASSERT_TRUE(is_pattern(&b, 0));
    buf_deinit(&b);
}

TEST(buf_reserve_fails_cleanly_under_alloc_fail_after)
{
    buf b;
    buf_init(&b);
    /* The first allocation fails: still empty. */
    alloc_fail_after(1);
    ASSERT_EQ(buf_reserve(&b, 10), -ENOMEM);
    ASSERT_TRUE(b.data == NULL);
    ASSERT_EQ(b.cap, 0);
    /* The second fails: the first growth stands, the buffer is untouched by the second. */
    alloc_fail_after(2);
    ASSERT_EQ(buf_reserve(&b, 10), 0);
    ASSERT_EQ(b.cap, 512);
    append_pattern(&b, 0, 100);
    char *data = b.data;
    ASSERT_EQ(buf_reserve(&b, 1000), -ENOMEM);
    ASSERT_TRUE(b.data == data);
    ASSERT_EQ(b.cap, 512);
    ASSERT_EQ(b.len, 100);
    ASSERT_TRUE(is_pattern(&b, 0));
    /* The failure was injected once: the next growth succeeds. */
    ASSERT_EQ(buf_reserve(&b, 1000), 0);
    ASSERT_EQ(b.cap, 2048);
    ASSERT_TRUE(is_pattern(&b, 0));
    alloc_fail_after(0);
    buf_deinit(&b);
}

TEST(buf_append_survives_a_failed_fallible_growth)
{
    /* Our own replies are bounded, so buf_append falls back to the aborting allocator, sized
     * exactly, instead of failing. */
    buf b;
    buf_init(&b);
    alloc_fail_after(1);
    append_pattern(&b, 0, 1);
    ASSERT_EQ(b.cap, 1);
    alloc_fail_after(1);
    char run[1000];
    for (size_t i = 0; i < sizeof(run); i++)
        run[i] = (char)('a' + (1 + i) % 23);
    buf_append(&b, run, sizeof(run));
    ASSERT_EQ(b.len, 1001);
    ASSERT_EQ(b.cap, 1001);
    ASSERT_TRUE(is_pattern(&b, 0));
    alloc_fail_after(0);
    buf_deinit(&b);
}

TEST(buf_appendf_short_and_long)
{
    buf b;
    buf_init(&b);
    buf_appendf(&b, "%d-%s|", 42, "x");
    ASSERT_MEM_EQ(buf_rptr(&b), buf_used(&b), "42-x|", 5);
    /* 255 characters fit the stack buffer; 256 and more are formatted in place. */
    char s255[256], s256[257], s3000[3001];
    memset(s255, 'p', 255);
    s255[255] = '\0';
    memset(s256, 'q', 256);
    s256[256] = '\0';
    memset(s3000, 'r', 3000);
    s3000[3000] = '\0';
    buf_appendf(&b, "%s", s255);
    ASSERT_EQ(buf_used(&b), 5 + 255);
    buf_appendf(&b, "%s", s256);
    ASSERT_EQ(buf_used(&b), 5 + 255 + 256);
    buf_appendf(&b, "<%s>%05d", s3000, 7);
    ASSERT_EQ(buf_used(&b), 5 + 255 + 256 + 3007);
    const char *r = buf_rptr(&b);
    ASSERT_MEM_EQ(r, 5, "42-x|", 5);
    ASSERT_MEM_EQ(r + 5, 255, s255, 255);
    ASSERT_MEM_EQ(r + 260, 256, s256, 256);
    ASSERT_EQ(r[516], '<');
    ASSERT_MEM_EQ(r + 517, 3000, s3000, 3000);
    ASSERT_MEM_EQ(r + 3517, 6, ">00007", 6);
    /* After unread bytes were consumed, appends still land after them. */
    buf_consume(&b, 5);
    buf_appendf(&b, "%s", "!");
    ASSERT_EQ(buf_rptr(&b)[buf_used(&b) - 1], '!');
    ASSERT_EQ(buf_rptr(&b)[0], 'p');
    buf_appendf(&b, "%s", "");
    ASSERT_EQ(buf_used(&b), 255 + 256 + 3007 + 1);
    buf_deinit(&b);
}

TEST(buf_appendf_long_under_alloc_fail_after)
{
    buf b;
    buf_init(&b);
    char s300[301];
    memset(s300, 's', 300);
    s300[300] = '\0';
    alloc_fail_after(1);
    buf_appendf(&b, "%s", s300);
    alloc_fail_after(0);
    /* Whatever the outcome, no torn write: the whole text or none of it, and a usable buffer. */
    ASSERT_TRUE(b.len == 0 || b.len == 300);
    ASSERT_TRUE(b.rpos <= b.len && b.len <= b.cap);
    if (b.len)
        ASSERT_MEM_EQ(buf_rptr(&b), 300, s300, 300);
    size_t had = b.len;
    buf_appendf(&b, "%s", s300);
    ASSERT_EQ(b.len, had + 300);
    ASSERT_MEM_EQ(buf_rptr(&b) + had, 300, s300, 300);
    buf_deinit(&b);
}

TEST(buf_shrink_above_watermark_only_when_empty)
{
    int64_t before = alloc_live_count();
    buf b;
    buf_init(&b);
    append_pattern(&b, 0, 600); /* cap 1024 */
    buf_shrink(&b, 100);        /* not empty: kept */
    ASSERT_EQ(b.cap, 1024);
    ASSERT_EQ(buf_used(&b), 600);
    buf_consume(&b, 600);
    buf_shrink(&b, 1024); /* empty, at the watermark: kept */
    ASSERT_EQ(b.cap, 1024);
    ASSERT_TRUE(b.data != NULL);
    buf_shrink(&b, 1023); /* empty, above it: given back */
    ASSERT_EQ(b.cap, 0);
    ASSERT_TRUE(b.data == NULL);
    ASSERT_EQ(alloc_live_count(), before);
    append_pattern(&b, 0, 3); /* and usable again */
    ASSERT_EQ(b.cap, 512);
    ASSERT_TRUE(is_pattern(&b, 0));
    buf_deinit(&b);
}
