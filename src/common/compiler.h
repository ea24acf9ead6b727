/* Compiler helpers shared by every room: attributes, branch hints and the
 * ban on unbounded string functions (HAProxy bug.h style). */
#ifndef STRATUS_COMPILER_H
#define STRATUS_COMPILER_H

#include <stddef.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ATTR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_NORETURN __attribute__((noreturn))
#define ATTR_UNUSED __attribute__((unused))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Unbounded string functions are banned: use snprintf or memcpy with a length. */
#include <string.h>
#include <stdio.h>
#undef strcpy
#undef strcat
#undef sprintf
#undef gets
#define strcpy(...) BANNED_strcpy_use_snprintf
#define strcat(...) BANNED_strcat_use_snprintf
#define sprintf(...) BANNED_sprintf_use_snprintf
#define gets(...) BANNED_gets

#endif
