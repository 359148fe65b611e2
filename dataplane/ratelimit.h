/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A rate limiter for one thread (GCRA, the "virtual scheduling" form of a
 * token bucket): a compare per event against a TSC the caller read (a
 * worker reads it once per burst), no division.
 * Used by the workers for flow-log records, conntrack entries of denied
 * connections and ARP requests for the node's MAC. Not thread safe: each worker owns its own.
 */
#ifndef NSDP_DP_RATELIMIT_H
#define NSDP_DP_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_cycles.h>

struct dp_gcra {
	uint64_t tat;       /* theoretical arrival time of the next event, TSC */
	uint64_t interval;  /* TSC cycles per event at the rate */
	uint64_t tolerance; /* (burst - 1) * interval */
};

/* One event every `interval` TSC cycles (>= 1), `burst` (>= 1) at once. */
static inline void dp_gcra_init(struct dp_gcra *g, uint64_t interval, uint64_t burst)
{
	g->tat = 0;
	g->interval = RTE_MAX((uint64_t)1, interval);
	g->tolerance = (RTE_MAX((uint64_t)1, burst) - 1) * g->interval;
}

/* May one more event happen at TSC `now`? (Counts it when it may.) */
static inline bool dp_gcra_take(struct dp_gcra *g, uint64_t now)
{
	if (g->tat > now + g->tolerance)
		return false;
	g->tat = RTE_MAX(g->tat, now) + g->interval;
	return true;
}

#endif
