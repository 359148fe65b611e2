/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
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
	rte_free(p);
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
	/* No worker decides with `old` any more: name its records now. */
	dp_flowlog_drain(dp, old, p);
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
