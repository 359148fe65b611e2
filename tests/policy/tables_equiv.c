/* SPDX-License-Identifier: Apache-2.0 */
#include "tables_equiv.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "policy.h"

uint32_t *pol_probe_addrs(const struct pol_tables *a, const struct pol_tables *b,
			  const struct k8s_cluster *cl, size_t max_pods, const uint32_t *extra,
			  size_t n_extra, size_t *n)
{
	size_t n_ips = 0;
	for (unsigned i = 0; i < cl->n_pods; i++)
		n_ips += cl->pods[i].n_ips;
	size_t step = max_pods && n_ips > max_pods ? n_ips / max_pods : 1;
	size_t cap = n_ips / step + 1 + n_extra + 2ull * (a->n_cidr + b->n_cidr);
	uint32_t *v = malloc(sizeof(uint32_t) * cap);
	if (!v)
		return NULL;
	*n = 0;
	size_t k = 0;
	for (unsigned i = 0; i < cl->n_pods; i++)
		for (unsigned j = 0; j < cl->pods[i].n_ips; j++, k++)
			if (k % step == 0 && *n < cap)
				v[(*n)++] = cl->pods[i].ips[j];
	for (size_t i = 0; i < n_extra; i++)
		v[(*n)++] = extra[i];
	const struct pol_tables *t[2] = {a, b};
	for (int x = 0; x < 2; x++)
		for (uint32_t i = 0; i < t[x]->n_cidr; i++) {
			v[(*n)++] = htonl(t[x]->cidr_lo[i]);
			v[(*n)++] = htonl(t[x]->cidr_lo[i] - 1);
		}
	return v;
}

/* The ranges of the map side (subject of address x, dir) applies to peer
 * y; NULL when x is no pod. */
static const struct pol_range *side(const struct pol_tables *t, uint32_t x, unsigned dir,
				    uint32_t y, uint32_t *n)
{
	uint32_t pi = pol_pod_index(t, x);
	if (pi == POL_NONE)
		return NULL;
	uint32_t s = t->pods[pi].subject[dir];
	uint64_t key = pol_map_key(s, dir, pol_peer_class(t, y));
	uint32_t m = pol_hash_get(&t->maps, key);
	if (m == POL_NONE)
		m = t->default_map[s];
	*n = t->map_first[m + 1] - t->map_first[m];
	return t->ranges + t->map_first[m];
}

static const char *rule(const struct pol_tables *t, uint32_t r)
{
	return r == POL_NONE ? "-" : r < t->n_rules ? t->rules[r] : "?";
}

static bool range_eq(const struct pol_tables *a, const struct pol_range *x,
		     const struct pol_tables *b, const struct pol_range *y)
{
	return x->proto == y->proto && x->lo == y->lo && x->hi == y->hi &&
	       x->verdict == y->verdict && !strcmp(rule(a, x->rule), rule(b, y->rule)) &&
	       !strcmp(rule(a, x->audit_rule), rule(b, y->audit_rule));
}

static void ip_str(uint32_t ip, char *buf)
{
	inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

int pol_tables_equiv(const struct pol_tables *a, const struct pol_tables *b,
		     const uint32_t *addrs, size_t n, char *why, size_t whylen)
{
	char xs[INET_ADDRSTRLEN], ys[INET_ADDRSTRLEN];
	for (size_t i = 0; i < n; i++) {
		uint32_t x = addrs[i];
		if ((pol_pod_index(a, x) == POL_NONE) != (pol_pod_index(b, x) == POL_NONE)) {
			ip_str(x, xs);
			snprintf(why, whylen, "%s is a pod in one table only", xs);
			return 1;
		}
		for (unsigned dir = 0; dir < 2; dir++)
			for (size_t j = 0; j < n; j++) {
				uint32_t na = 0, nb = 0;
				const struct pol_range *ra = side(a, x, dir, addrs[j], &na);
				const struct pol_range *rb = side(b, x, dir, addrs[j], &nb);
				uint32_t k = 0;
				while (ra && k < na && k < nb && range_eq(a, &ra[k], b, &rb[k]))
					k++;
				if (k == na && na == nb)
					continue;
				ip_str(x, xs);
				ip_str(addrs[j], ys);
				if (k < na && k < nb)
					snprintf(why, whylen,
						 "%s %s, peer %s: range %u: proto %u %u-%u %s by %s (audit %s) vs proto %u %u-%u %s by %s (audit %s)",
						 xs, dir ? "egress" : "ingress", ys, k, ra[k].proto,
						 ra[k].lo, ra[k].hi, ra[k].verdict == POL_ALLOW ? "allow" : "deny",
						 rule(a, ra[k].rule), rule(a, ra[k].audit_rule), rb[k].proto,
						 rb[k].lo, rb[k].hi, rb[k].verdict == POL_ALLOW ? "allow" : "deny",
						 rule(b, rb[k].rule), rule(b, rb[k].audit_rule));
				else
					snprintf(why, whylen, "%s %s, peer %s: %u ranges vs %u", xs,
						 dir ? "egress" : "ingress", ys, na, nb);
				return 1;
			}
	}
	return 0;
}
