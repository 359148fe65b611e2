/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow logs: a record per policy decision worth telling an operator about
 * (every deny and audit verdict, a sample of allows), queued by the worker
 * that decided and taken by the node's agent (NSDP_MSG_FLOWLOG_READ).
 *
 * Cost on the packet path: nothing for packets whose connection's verdict
 * is cached; for a decision, a compare (allow: a sampling counter), and for
 * a record a rate check (ratelimit.h: a compare against the burst's TSC, no
 * division) and an SP/SC ring
 * enqueue. A flood cannot make a worker spend more than `rate` records a
 * second on logging: what is over the limit, or finds the ring full, is
 * counted (nsdp_lcore_stats.flowlog_*) and dropped.
 *
 * Thread safety: `struct dp_flowlog_w` belongs to its worker (the ring's
 * single producer); the control thread is the rings' single consumer and
 * owns the pending queue of records it has resolved (rule names, times).
 * Records carry the policy epoch they were decided under: the control
 * thread drains every ring before it frees a policy (dp_publish_policy), so
 * each record's rule name comes from the policy that decided it.
 */
#ifndef NSDP_DP_FLOWLOG_H
#define NSDP_DP_FLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <nsdp/proto.h>

#include "ratelimit.h"

/* A record as a worker queues it (40 bytes). */
struct dp_flowlog_ent {
	uint64_t tsc;
	uint32_t src, dst; /* originator first, network order */
	uint16_t sport, dport; /* host order */
	uint8_t proto, verdict, dir, reason;
	uint32_t rule;
	uint32_t epoch; /* dp_policy.epoch that decided */
	uint16_t in_port;
	uint16_t pad;
	uint32_t pad2;
};

/* A worker's side: its ring, rate limit and sampling state. */
struct dp_flowlog_w {
	struct rte_ring *ring; /* NULL: flow logging off */
	struct dp_gcra limit;  /* the worker's share of flow_log.rate/burst */
	uint32_t sample;       /* allowed decisions: 1 in `sample`, 0 none */
	uint32_t sample_left;
};

/* Should this decision be logged? (allow: every `sample`-th one) */
static inline bool dp_flowlog_wanted(struct dp_flowlog_w *f, uint8_t verdict)
{
	if (likely(f->ring == NULL))
		return false;
	if (verdict != 1 /* POL_ALLOW */)
		return true;
	if (f->sample == 0 || --f->sample_left != 0)
		return false;
	f->sample_left = f->sample;
	return true;
}

/* Queue e made at TSC `now` (the burst's), rate-limited; counts what
 * happens to it. */
static inline void dp_flowlog_put(struct dp_flowlog_w *f, struct nsdp_lcore_stats *lc,
				  struct dp_flowlog_ent *e, uint64_t now)
{
	if (!dp_gcra_take(&f->limit, now)) {
		lc->flowlog_rate_limited++;
		return;
	}
	e->tsc = now;
	if (rte_ring_sp_enqueue_elem(f->ring, e, sizeof(*e)) != 0) {
		lc->flowlog_ring_full++;
		return;
	}
	lc->flowlog_records++;
}

struct dp;
struct dp_policy;

/*
 * Set up every worker's ring and limits from cfg.flow_log (dp->workers
 * allocated). Called by dp_init_tables. 0 or -errno.
 */
int dp_flowlog_init(struct dp *dp, int socket_id);

/* Free the rings and the pending queue (tests; the process exit frees them). */
void dp_flowlog_free(struct dp *dp);

/*
 * Control thread: move every queued record to the pending queue, with its
 * rule name from `a` or `b` (whichever has the record's epoch; either may
 * be NULL) and its wall-clock time.
 */
void dp_flowlog_drain(struct dp *dp, const struct dp_policy *a, const struct dp_policy *b);

/*
 * Control thread: drain, then write up to `max` pending records (0: no
 * limit) as a FLOWLOG_READ reply into a malloc'ed buffer (*out, *len).
 * 0 or -ENOMEM.
 */
int dp_flowlog_read(struct dp *dp, uint32_t max, void **out, size_t *len);

#endif
