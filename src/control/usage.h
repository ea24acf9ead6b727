/* Usage of a cache: the control thread's side of metering. It keeps the CPU part of the formula
 * current (per command type, from the engines' INFO commandstats), samples storage (dataset
 * bytes of every primary) and integrates it, and records each minute's usage durably in the
 * store (per command type: calls, ECPU, bytes; per minute: storage, connections, throttled and
 * rejected commands), with retention. Workers only add to the ledger (meter/ledger.h). */
#ifndef STRATUS_USAGE_H
#define STRATUS_USAGE_H

#include "control/cache.h"

/* Allocate the metering tables for `workers` worker threads (before they start). */
void usage_init(cache *c, int workers);
/* Load what the store recorded before this start (after cache_attach_store). */
void usage_load(cache *c);
/* Control thread, every turn: sample, refresh the CPU table, record a finished minute. */
void usage_tick(cache *c);
/* Record the minute in progress now (at stop). */
void usage_flush(cache *c);
/* Free the tables. */
void usage_deinit(cache *c);
/* store_usage_each callback: add a recorded row to the bill_report arg (meter/bill.h). */
void usage_bill_row(void *arg, int64_t minute, const store_usage *u);

#endif
