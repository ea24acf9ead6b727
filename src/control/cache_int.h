/* Control room internals shared by cache.c (lifecycle, topology publication), reshard.c (the
 * live resharding actuator) and autoscale.c (the autoscaler's sampling and actions). All of it
 * runs on the control thread. */
#ifndef STRATUS_CACHE_INT_H
#define STRATUS_CACHE_INT_H

#include "control/cache.h"

/* Read the slot map from the engines and publish it if routes changed (cache.c). */
void cache_rebuild_topology(cache *c);

/* Run the live reshard a slice at a time, or start the one STRATUS SCALE or the autoscaler
 * asked for (c->view.scale_request); finishes it by removing drained shards (reshard.c). */
void reshard_step(cache *c);
/* A failover replaced a primary named in the running plan: repair half-moved slots and plan
 * the rest again from the new topology (reshard.c). */
void reshard_replan(cache *c);

/* Sample the shards every SAMPLE_EVERY_MS (at once after memory pressure), ask the policy and
 * act: raise a shard's maxmemory or ask reshard.c for another shard count (autoscale.c). */
void autoscale_step(cache *c);
/* The memory guard alone, for while adding a shard holds the control loop (autoscale.c). */
void autoscale_guard_memory(cache *c);

#endif
