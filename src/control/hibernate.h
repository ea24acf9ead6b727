/* Scale to zero: a cache idle for --hibernate-after has its engines saved and stopped; its
 * endpoint keeps listening, and the first request that needs data wakes it (the request waits,
 * then runs). The engines' data files are listed with their SHA-256 in a manifest written
 * atomically (temp, fsync, rename); a wake verifies every file first and refuses to load a
 * snapshot that changed, so a torn snapshot is never loaded. Control thread only. */
#ifndef STRATUS_HIBERNATE_H
#define STRATUS_HIBERNATE_H

#include <stddef.h>
#include <stdint.h>

#include "control/cache.h"

/* The manifest's name under a cache's directory. */
#define HIBERNATE_MANIFEST "hibernation"

/* Idle detection, sleep and wake requests: call every control-loop turn. Returns 1 while the
 * cache is asleep (the engines are then not to be supervised). */
int hibernate_tick(cache *c, int full);
/* Save and stop the engines and write the manifest. 0 or -1 with err (the cache stays up). */
int hibernate_sleep(cache *c, char *err, size_t errlen);
/* Verify the manifest and start the engines. 0 or -1 with err (the cache stays asleep). */
int hibernate_wake(cache *c, char *err, size_t errlen);
/* Whether dir (a cache's directory) holds a hibernation manifest. */
int hibernate_present(const char *dir);
/* Check every file the manifest of dir lists; their total size to *bytes. 0 or -1 with err
 * naming the first file that differs. */
int hibernate_verify(const char *dir, uint64_t *bytes, char *err, size_t errlen);

#endif
