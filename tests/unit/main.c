/* Unit-test runner: runs every registered test (or those whose name contains argv[1]), checks
 * that each leaves no live allocation, and prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "test.h"

#define MAX_TESTS 1024

static struct {
    const char *name;
    test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static int current_failed;

void test_register(const char *name, test_fn fn)
{
    if (ntests < MAX_TESTS) {
        tests[ntests].name = name;
        tests[ntests].fn = fn;
        ntests++;
    }
}

void test_fail(const char *file, int line, const char *msg)
{
    fprintf(stderr, "    %s:%d: %s\n", file, line, msg);
    current_failed = 1;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1]))
            continue;
        current_failed = 0;
        int64_t before = alloc_live_count();
        tests[i].fn();
        alloc_fail_after(0);
        int64_t leaked = alloc_live_count() - before;
        if (!current_failed && leaked != 0) {
            fprintf(stderr, "    %lld allocation(s) still live\n", (long long)leaked);
            current_failed = 1;
        }
        printf("%s %s\n", current_failed ? "FAIL" : "ok  ", tests[i].name);
        if (current_failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
