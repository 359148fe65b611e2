/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_malloc.h>

#include "dp.h"
#include "flowlog.h"

/* Records returned by one FLOWLOG_READ when the client sets no limit. */
#define FLOWLOG_READ_MAX 16384

struct pending_rec {
	struct nsdp_flowlog_rec rec;
	char *name; /* malloc'ed; NULL when out of memory */
};

/* The control thread's queue of resolved records (a ring, FIFO). */
struct dp_flowlog_pending {
	uint32_t mask; /* slots - 1 */
	uint32_t head, tail; /* free-running; head - tail = queued */
	uint64_t lost;       /* dropped because the queue was full */
	struct pending_rec q[];
};

int dp_flowlog_init(struct dp *dp, int socket_id)
{
	static unsigned instance; /* ring names are global to the process */
	const struct dp_config *c = &dp->cfg;
	unsigned nw = dp->n_workers;

	if (!c->flow_log.enabled || nw == 0 || !dp->workers)
		return 0;
	uint32_t ring = rte_align32pow2(c->flow_log.ring);
	uint32_t slots = rte_align32pow2(RTE_MAX(4096u, RTE_MIN(2 * ring * nw, 1u << 18)));
	dp->flowlog = calloc(1, sizeof(*dp->flowlog) + slots * sizeof(struct pending_rec));
	if (!dp->flowlog)
		return -ENOMEM;
	dp->flowlog->mask = slots - 1;
	instance++;

	/* Each worker gets an equal share of the rate and the burst. */
	uint64_t rate = RTE_MAX(1u, c->flow_log.rate / nw);
	uint64_t burst = RTE_MAX(1u, c->flow_log.burst / nw);
	for (unsigned i = 0; i < nw; i++) {
		struct dp_flowlog_w *f = &dp->workers[i].fl;
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "fl%u_%u", instance, i);
		/* "exact size": the ring holds `ring` records, not ring - 1 */
		f->ring = rte_ring_create_elem(name, sizeof(struct dp_flowlog_ent), ring, socket_id,
					       RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
		if (!f->ring) {
			int rc = -rte_errno;
			dp_flowlog_free(dp);
			return rc;
		}
		dp_gcra_init(&f->limit, rte_get_tsc_hz() / rate, burst);
		f->sample = c->flow_log.sample_allowed;
		f->sample_left = f->sample;
	}
	return 0;
}

void dp_flowlog_free(struct dp *dp)
{
	for (unsigned i = 0; dp->workers && i < dp->n_workers; i++) {
		rte_ring_free(dp->workers[i].fl.ring);
		dp->workers[i].fl.ring = NULL;
	}
	struct dp_flowlog_pending *p = dp->flowlog;
	if (!p)
		return;
	for (uint32_t k = p->tail; k != p->head; k++)
		free(p->q[k & p->mask].name);
	free(p);
	dp->flowlog = NULL;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *rule_of(const struct dp_policy *a, const struct dp_policy *b,
			   const struct dp_flowlog_ent *e, uint64_t *generation)
{
	const struct dp_policy *p = a && a->epoch == e->epoch ? a
				    : b && b->epoch == e->epoch ? b
								: NULL;
	if (!p || e->rule >= p->n_rules) {
		*generation = 0;
		return NULL;
	}
	*generation = p->t->generation;
	return p->t->rules[e->rule];
}

void dp_flowlog_drain(struct dp *dp, const struct dp_policy *a, const struct dp_policy *b)
{
	struct dp_flowlog_pending *p = dp->flowlog;
	if (!p)
		return;
	/* Record times: now minus their age on the TSC (no drift to track). */
	uint64_t tsc_now = rte_rdtsc(), real_now = realtime_ns();
	double ns_per_tick = 1e9 / (double)rte_get_tsc_hz();
	struct dp_flowlog_ent ents[64];

	for (unsigned w = 0; w < dp->n_workers; w++) {
		struct rte_ring *r = dp->workers[w].fl.ring;
		unsigned n;
		while (r && (n = rte_ring_sc_dequeue_burst_elem(r, ents, sizeof(ents[0]),
								 RTE_DIM(ents), NULL)) > 0) {
			for (unsigned i = 0; i < n; i++) {
				const struct dp_flowlog_ent *e = &ents[i];
				if (p->head - p->tail > p->mask) {
					p->lost++;
					continue;
				}
				struct pending_rec *q = &p->q[p->head++ & p->mask];
				uint64_t age = tsc_now > e->tsc ? tsc_now - e->tsc : 0, gen;
				const char *name = rule_of(a, b, e, &gen);
				char fallback[32];
				if (!name) {
					snprintf(fallback, sizeof(fallback), "rule %u", e->rule);
					name = fallback;
				}
				q->name = strdup(name);
				q->rec = (struct nsdp_flowlog_rec){
					.time_ns = real_now - (uint64_t)((double)age * ns_per_tick),
					.policy_generation = gen,
					.src = e->src,
					.dst = e->dst,
					.sport = e->sport,
					.dport = e->dport,
					.proto = e->proto,
					.verdict = e->verdict,
					.direction = e->dir,
					.reason = e->reason,
					.rule = e->rule,
					.in_port = e->in_port,
					.name_len = q->name ? (uint16_t)(strlen(q->name) + 1) : 1,
				};
			}
		}
	}
}

int dp_flowlog_read(struct dp *dp, uint32_t max, void **out, size_t *len)
{
	struct nsdp_flowlog_hdr h = {0};
	struct dp_flowlog_pending *p = dp->flowlog;

	dp_flowlog_drain(dp, atomic_load_explicit(&dp->policy, memory_order_acquire), NULL);
	if (max == 0 || max > FLOWLOG_READ_MAX)
		max = FLOWLOG_READ_MAX;
	size_t size = sizeof(h);
	if (p) {
		for (uint32_t k = p->tail; k != p->head && h.count < max; k++, h.count++)
			size += sizeof(struct nsdp_flowlog_rec) + p->q[k & p->mask].rec.name_len;
		h.pending = p->head - p->tail - h.count;
		h.lost = p->lost;
	}
	for (unsigned w = 0; w < dp->n_workers; w++) {
		const struct nsdp_lcore_stats *lc = &dp->stats[w].lc;
		h.records += lc->flowlog_records;
		h.rate_limited += lc->flowlog_rate_limited;
		h.ring_full += lc->flowlog_ring_full;
	}
	uint8_t *buf = malloc(size), *at = buf + sizeof(h);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	for (uint32_t i = 0; i < h.count; i++, p->tail++) {
		struct pending_rec *q = &p->q[p->tail & p->mask];
		memcpy(at, &q->rec, sizeof(q->rec));
		at += sizeof(q->rec);
		memcpy(at, q->name ? q->name : "", q->rec.name_len);
		at += q->rec.name_len;
		free(q->name);
		q->name = NULL;
	}
	*out = buf;
	*len = size;
	return 0;
}
