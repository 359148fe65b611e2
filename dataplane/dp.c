/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "dp.h"

struct dp *dp_global;

int dp_port_by_name(void *arg, const char *name)
{
	const struct dp *dp = arg;
	for (unsigned i = 0; i < dp->n_ports; i++)
		if (dp->ports[i].role == NSDP_ROLE_POD && !dp->ports[i].deleting &&
		    strncmp(dp->ports[i].name, name, NSDP_PORT_NAME_LEN) == 0)
			return (int)i;
	return -1;
}

int dp_publish(struct dp *dp, uint64_t generation)
{
	struct dp_tables *t = dp_tables_build(&dp->state, dp_port_by_name, dp,
					      generation, SOCKET_ID_ANY);
	if (!t)
		return -errno;
	struct dp_tables *old = atomic_exchange_explicit(&dp->tables, t,
							 memory_order_acq_rel);
	/* Workers may still hold `old` until their next quiescent state. */
	if (dp->qsv)
		rte_rcu_qsbr_synchronize(dp->qsv, RTE_QSBR_THRID_INVALID);
	dp_tables_free(old);
	dp->generation = generation;
	return 0;
}

static void policy_free(struct dp_policy *p)
{
	if (!p)
		return;
	pol_tables_free(p->t);
	rte_free(p->counters);
	free(p->base);
	rte_free(p);
}

void dp_policy_totals(const struct dp_policy *p, unsigned n_workers, uint32_t rule,
		      uint64_t out[3])
{
	for (unsigned k = 0; k < 3; k++)
		out[k] = p->base ? p->base[3 * (size_t)rule + k] : 0;
	for (unsigned w = 0; w < n_workers; w++) {
		const uint64_t *cnt = dp_policy_counters(p, w, rule);
		for (unsigned k = 0; k < 3; k++) /* another lcore's counter (stats.h) */
			out[k] += rd64(&cnt[k]);
	}
}

static int cmp_rule_name(const void *a, const void *b, void *arg)
{
	const struct pol_tables *t = arg;
	return strcmp(t->rules[*(const uint32_t *)a], t->rules[*(const uint32_t *)b]);
}

/* The rule of old named as rule r of p (by its id first, else by name;
 * *by_name: old's rule ids sorted by name, made at the first miss), or
 * UINT32_MAX. */
static uint32_t rule_match(const struct dp_policy *old, const struct dp_policy *p, uint32_t r,
			   uint32_t **by_name)
{
	const struct pol_tables *ot = old->t;
	const char *name = p->t->rules[r];
	if (r < old->n_rules && !strcmp(ot->rules[r], name))
		return r;
	if (!*by_name && (*by_name = malloc(sizeof(uint32_t) * (old->n_rules + 1)))) {
		for (uint32_t k = 0; k < old->n_rules; k++)
			(*by_name)[k] = k;
		qsort_r(*by_name, old->n_rules, sizeof(uint32_t), cmp_rule_name, (void *)ot);
	}
	uint32_t lo = 0, hi = *by_name ? old->n_rules : 0;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = strcmp(ot->rules[(*by_name)[mid]], name);
		if (!c)
			return (*by_name)[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return UINT32_MAX;
}

/* p's base: the totals of old's rules by name (old is quiescent). On
 * ENOMEM p's counts start from 0. */
static void counters_carry(const struct dp_policy *old, struct dp_policy *p, unsigned nw)
{
	uint32_t *by_name = NULL;
	p->base = calloc(3 * (size_t)p->n_rules + 1, sizeof(uint64_t));
	for (uint32_t r = 0; p->base && r < p->n_rules; r++) {
		uint32_t o = rule_match(old, p, r, &by_name);
		if (o != UINT32_MAX)
			dp_policy_totals(old, nw, o, &p->base[3 * (size_t)r]);
	}
	free(by_name);
}

int dp_publish_policy(struct dp *dp, struct pol_tables *t, uint64_t generation)
{
	struct dp_policy *p = NULL;
	if (t) {
		p = rte_zmalloc("dp_policy", sizeof(*p), RTE_CACHE_LINE_SIZE);
		unsigned nw = dp->n_workers ? dp->n_workers : 1;
		uint64_t *cnt = rte_zmalloc("dp_policy_counters",
					    sizeof(uint64_t) * RTE_ALIGN(3 * t->n_rules, 8) * nw,
					    RTE_CACHE_LINE_SIZE);
		if (!p || !cnt) {
			rte_free(p);
			rte_free(cnt);
			pol_tables_free(t);
			return -ENOMEM;
		}
		t->generation = generation;
		if (++dp->policy_epoch == 0)
			dp->policy_epoch = 1;
		p->epoch = dp->policy_epoch;
		p->t = t;
		p->n_rules = t->n_rules;
		p->stride = RTE_ALIGN(3 * t->n_rules, 8);
		p->counters = cnt;
	}
	struct dp_policy *old = atomic_exchange_explicit(&dp->policy, p, memory_order_acq_rel);
	if (dp->qsv)
		rte_rcu_qsbr_synchronize(dp->qsv, RTE_QSBR_THRID_INVALID);
	/* No worker decides with `old` any more: name its records now, and
	 * carry its counts over. */
	dp_flowlog_drain(dp, old, p);
	if (old && p)
		counters_carry(old, p, dp->n_workers ? dp->n_workers : 1);
	policy_free(old);
	return 0;
}

int dp_init_tables(struct dp *dp, int socket_id)
{
	const struct dp_config *c = &dp->cfg;
	int rc;

	unsigned nw = dp->n_workers ? dp->n_workers : 1;
	size_t sz = rte_rcu_qsbr_get_memsize(nw);
	dp->qsv = rte_zmalloc_socket("dp_qsv", sz, RTE_CACHE_LINE_SIZE, socket_id);
	if (!dp->qsv)
		return -ENOMEM;
	rc = rte_rcu_qsbr_init(dp->qsv, nw);
	if (rc)
		return rc;
	dp->ct = ct_create(c->ct_size, &c->timeouts, dp->qsv, socket_id);
	if (!dp->ct)
		return -errno;
	/*
	 * Denied connections may hold tables.denied_entries entries: each
	 * worker's share q, half of it at once and the other half spread over
	 * timeouts.denied seconds (how long such an entry lives idle).
	 */
	uint64_t q = c->ct_denied / nw;
	uint64_t burst = RTE_MAX((uint64_t)1, q / 2);
	uint64_t interval = q ? rte_get_tsc_hz() * c->timeouts.denied / RTE_MAX((uint64_t)1, q - burst)
			      : UINT64_MAX / 4;
	for (unsigned i = 0; dp->workers && i < dp->n_workers; i++) {
		struct dp_worker *w = &dp->workers[i];
		w->rule_counters = c->rule_counters;
		w->cache_denied = q > 0;
		dp_gcra_init(&w->denied, interval, burst);
		/* a few a second: the first answer ends them */
		dp_gcra_init(&w->host_arp, rte_get_tsc_hz() / 10, 3);
	}
	if ((rc = dp_flowlog_init(dp, socket_id)))
		return rc;
	rc = dp_state_init(&dp->state, c->max_endpoints, c->max_routes, c->max_vteps);
	if (rc)
		return rc;

	/* Static tables from the configuration form generation 1. */
	char err[256];
	for (unsigned i = 0; i < c->n_vteps; i++)
		if ((rc = dp_state_vtep_add(&dp->state, &c->vteps[i], err, sizeof(err))))
			goto bad;
	for (unsigned i = 0; i < c->n_routes; i++)
		if ((rc = dp_state_route_add(&dp->state, &c->routes[i], err, sizeof(err))))
			goto bad;
	for (unsigned i = 0; i < c->n_endpoints; i++)
		if ((rc = dp_state_ep_add(&dp->state, &c->endpoints[i], dp_port_by_name, dp,
					  err, sizeof(err))))
			goto bad;
	dp->start_tsc = rte_get_tsc_cycles();
	return dp_publish(dp, c->n_endpoints + c->n_routes + c->n_vteps ? 1 : 0);
bad:
	RTE_LOG(ERR, USER1, "%s: static tables: %s\n", c->source, err);
	return rc;
}
