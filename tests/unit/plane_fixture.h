/* A valid cache definition for the unit tests of control/plane and control/api: the defaults a
 * plane with default settings gives a new cache. */
#ifndef STRATUS_TEST_PLANE_FIXTURE_H
#define STRATUS_TEST_PLANE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "control/plane.h"

static inline plane_def plane_fixture_def(const char *name)
{
    plane_def d;
    memset(&d, 0, sizeof(d));
    snprintf(d.name, sizeof(d.name), "%s", name);
    d.shards = 1;
    d.replicas = 1;
    snprintf(d.durability, sizeof(d.durability), "async");
    snprintf(d.max_storage, sizeof(d.max_storage), "0");
    snprintf(d.eviction, sizeof(d.eviction), "volatile-lru");
    d.hibernate_after = 600;
    d.snapshot_retention = 7;
    return d;
}

#endif
