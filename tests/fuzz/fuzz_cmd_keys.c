/* libFuzzer target: the command router's view of an argument vector (command lookup, arity,
 * key positions with their ACL access, blocking and its timeout argument), on arbitrary
 * arguments: lines of the input are the arguments. Every key index must name an argument. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cmdtable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *argv[64];
    size_t lens[64], argc = 0;
    const char *p = (const char *)data, *end = p + size;
    while (p <= end && argc < 64) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        argv[argc] = p;
        lens[argc++] = (size_t)(e - p);
        if (!nl)
            break;
        p = nl + 1;
    }
    if (argc == 0)
        return 0;
    const cmd_def *d = cmd_lookup(argv[0], lens[0]);
    if (!d)
        return 0;
    if (argc > 1) {
        const cmd_def *sub = cmd_lookup_sub(d, argv[1], lens[1]);
        if (sub)
            d = sub;
    }
    if (!cmd_arity_ok(d, argc))
        return 0;
    uint32_t keys[256];
    uint8_t access[256];
    int n = cmd_get_keys_access(d, argc, argv, lens, keys, access, 256);
    for (int i = 0; i < n; i++)
        if (keys[i] == 0 || keys[i] >= argc)
            abort();
    if (cmd_blocks(d, argc, argv, lens)) {
        int in_ms = 0;
        int at = cmd_block_timeout_arg(argc, argv, lens, &in_ms);
        if (at >= (int)argc)
            abort();
    }
    return 0;
}
