/* Leveled logging to stderr, safe from any thread (one write(2) per line). Secrets (passwords,
 * keys) are never passed to it. */
#ifndef STRATUS_LOG_H
#define STRATUS_LOG_H

#include "common/compiler.h"

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Set the minimum level printed. */
void log_set_level(log_level level);
/* Parse "debug|info|warn|error"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, log_level *out);
/* Print one line with time, level and thread tag. */
void log_write(log_level level, const char *fmt, ...) ATTR_PRINTF(2, 3);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
