/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-lcore counters.
 *
 * Thread safety: each worker owns one `struct dp_lcore_stats` (cache
 * aligned, never shared) and increments it with plain stores. Readers (the
 * control thread answering GET_STATS, telemetry callbacks) read the 64-bit
 * counters without locks; on x86-64 an aligned 64-bit load is atomic, so a
 * reader sees a value that was true at some instant; totals are sums of such
 * values.
 */
#ifndef NSDP_DP_STATS_H
#define NSDP_DP_STATS_H

#include <stdint.h>

#include <rte_common.h>

#include <nsdp/drop.h>
#include <nsdp/proto.h>

#include "config.h"

/*
 * Port slots: the configured ports (at most DP_MAX_PORTS) plus ports
 * hot-plugged at runtime (PORT_ADD), one slot per port, indexed alike in
 * dp->ports, the per-lcore counters and the workers' TX buffers.
 */
#define DP_MAX_PORT_SLOTS 128

struct dp_lcore_stats {
	struct nsdp_lcore_stats lc;
	struct nsdp_port_counters port[DP_MAX_PORT_SLOTS];
	uint64_t drops[NSDP_DROP_MAX];
} __rte_cache_aligned;

static inline void dp_count_drop(struct dp_lcore_stats *s, unsigned reason)
{
	s->drops[reason]++;
}

/* Read a counter another lcore writes (a whole 64-bit value). */
static inline uint64_t rd64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

#endif
