/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdlib.h>

#include "policy.h"

/* A 64-bit finaliser (splitmix64): keys are small integers packed together. */
static inline uint64_t pol_mix(uint64_t k)
{
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebull;
	return k ^ (k >> 31);
}

uint32_t pol_hash_get(const struct pol_hash *h, uint64_t key)
{
	if (!h->keys)
		return POL_NONE;
	for (uint32_t i = (uint32_t)pol_mix(key) & h->mask;; i = (i + 1) & h->mask) {
		uint64_t k = h->keys[i];
		if (k == key)
			return h->vals[i];
		if (k == POL_HASH_EMPTY)
			return POL_NONE;
	}
}

uint32_t pol_peer_class(const struct pol_tables *t, uint32_t ip)
{
	uint32_t pod = pol_hash_get(&t->ip, ip);
	if (pod != POL_NONE)
		return t->pods[pod].peer;
	/* Last range starting at or below the address. */
	uint32_t a = ntohl(ip), lo = 0, hi = t->n_cidr;
	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;
		if (t->cidr_lo[mid] <= a)
			lo = mid;
		else
			hi = mid;
	}
	return t->cidr_peer[lo];
}

static inline uint64_t map_key(uint32_t subject, unsigned dir, uint32_t peer)
{
	return (uint64_t)subject << 33 | (uint64_t)dir << 32 | peer;
}

const struct pol_range *pol_side(const struct pol_tables *t, uint32_t subject,
				 unsigned dir, uint32_t peer, uint8_t proto,
				 uint16_t port)
{
	uint32_t m = pol_hash_get(&t->maps, map_key(subject, dir, peer));
	if (m == POL_NONE)
		m = t->default_map[subject * 2 + dir];
	if (proto != 6 && proto != 17 && proto != 132) {
		proto = POL_PROTO_OTHER;
		port = 0;
	}
	/* Ranges are sorted by (proto, lo) and cover every (proto, port). */
	const struct pol_range *r = t->ranges + t->map_first[m];
	uint32_t lo = 0, hi = t->map_first[m + 1] - t->map_first[m];
	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;
		if (r[mid].proto < proto || (r[mid].proto == proto && r[mid].lo <= port))
			lo = mid;
		else
			hi = mid;
	}
	return &r[lo];
}

void pol_decide(const struct pol_tables *t, uint32_t src, uint32_t dst, uint8_t proto,
		uint16_t dport, struct pol_result *res)
{
	uint32_t sp = pol_pod_index(t, src), dp = pol_pod_index(t, dst);
	const struct pol_range *eg = NULL, *in = NULL;

	if (sp != POL_NONE)
		eg = pol_side(t, t->pods[sp].subject[POL_EGRESS], POL_EGRESS,
			      pol_peer_class(t, dst), proto, dport);
	if (dp != POL_NONE)
		in = pol_side(t, t->pods[dp].subject[POL_INGRESS], POL_INGRESS,
			      pol_peer_class(t, src), proto, dport);

	if (eg && eg->verdict == POL_DENY) {
		*res = (struct pol_result){POL_DENY, POL_EGRESS, eg->rule};
	} else if (in && in->verdict == POL_DENY) {
		*res = (struct pol_result){POL_DENY, POL_INGRESS, in->rule};
	} else if (in) {
		*res = (struct pol_result){POL_ALLOW, POL_INGRESS, in->rule};
	} else if (eg) {
		*res = (struct pol_result){POL_ALLOW, POL_EGRESS, eg->rule};
	} else {
		*res = (struct pol_result){POL_ALLOW, POL_INGRESS, POL_RULE_UNRESTRICTED};
	}
}

static void hash_free(struct pol_hash *h)
{
	free(h->keys);
	free(h->vals);
}

void pol_tables_free(struct pol_tables *t)
{
	if (!t)
		return;
	hash_free(&t->ip);
	hash_free(&t->maps);
	free(t->pods);
	free(t->cidr_lo);
	free(t->cidr_peer);
	free(t->default_map);
	free(t->map_first);
	free(t->ranges);
	for (uint32_t i = 0; i < t->n_rules; i++)
		free(t->rules[i]);
	free(t->rules);
	free(t);
}
