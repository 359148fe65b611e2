/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The classic peer: DPDK's rte_acl classifying 5-tuples against the same
 * policy, expanded into rules as an ACL-based dataplane has to.
 *
 * Expansion, per local pod L (cluster pods 0 .. n_local-1) and direction
 * (ingress: L is the destination, category 0; egress: L is the source,
 * category 1), from the compiled tables (so both peers enforce exactly the
 * same decisions):
 *   layer 1  the subject class's default port map: src (or dst) any, one rule
 *            per (protocol, port range) piece;
 *   layer 2  every non-pod address range (ipBlock / networks classes) whose
 *            class has its own map: one rule per piece where that map
 *            differs from layer 1;
 *   layer 3  every pod whose class has a map differing from the map of the
 *            address range it lies in: one rule per differing piece, /32
 *            (runs of consecutive addresses with the same maps merged).
 * Priorities: a higher layer wins; any protocol-specific rule (TCP, UDP,
 * SCTP) beats any rule for "other protocols" (protocol wildcard), so each
 * protocol falls through to the highest layer that says something about it.
 * Adjacent pieces with the same verdict are merged. This is the smallest
 * rule set a priority-ordered 5-tuple ACL can encode these decisions in
 * without per-class indirection; its size grows with (local pods x remote
 * pods a policy distinguishes), which is the point of the comparison.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_acl.h>
#include <rte_common.h>

#include "benchlib.h"
#include "policy.h"
#include "scen.h"

RTE_ACL_RULE_DEF(scen_rule, 5);

struct scen_acl {
	struct rte_acl_ctx *ctx;
};

static const struct rte_acl_field_def acl_fields[5] = {
	{.type = RTE_ACL_FIELD_TYPE_BITMASK, .size = sizeof(uint8_t), .field_index = 0,
	 .input_index = 0, .offset = offsetof(struct scen_acl_key, proto)},
	{.type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint32_t), .field_index = 1,
	 .input_index = 1, .offset = offsetof(struct scen_acl_key, src)},
	{.type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint32_t), .field_index = 2,
	 .input_index = 2, .offset = offsetof(struct scen_acl_key, dst)},
	{.type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint16_t), .field_index = 3,
	 .input_index = 3, .offset = offsetof(struct scen_acl_key, sport)},
	{.type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint16_t), .field_index = 4,
	 .input_index = 3, .offset = offsetof(struct scen_acl_key, dport)},
};

/* ---- map arithmetic -------------------------------------------------------- */

struct piece {
	uint8_t proto, verdict;
	uint16_t lo, hi;
};

static uint32_t map_of(const struct pol_tables *t, uint32_t subject, unsigned dir, uint32_t peer)
{
	uint64_t key = pol_map_key(subject, dir, peer);
	uint32_t m = pol_hash_get(&t->maps, key);
	return m == POL_NONE ? t->default_map[subject] : m;
}

/* Range [i] of map m as a piece: ranges cover (proto, port) space in order. */
static void map_range(const struct pol_tables *t, uint32_t m, uint32_t i, struct piece *p)
{
	const struct pol_range *r = &t->ranges[t->map_first[m] + i];
	p->proto = r->proto;
	p->verdict = r->verdict;
	p->lo = r->lo;
	p->hi = r->hi;
}

static uint32_t map_len(const struct pol_tables *t, uint32_t m)
{
	return t->map_first[m + 1] - t->map_first[m];
}

/*
 * Pieces of map `m` where its verdict differs from map `base` (base ==
 * POL_NONE: all of m), adjacent equal verdicts merged. Returns the count
 * written to out (capacity cap), or the count needed if larger.
 */
static uint32_t map_diff(const struct pol_tables *t, uint32_t m, uint32_t base, struct piece *out,
			 uint32_t cap)
{
	uint32_t n = 0, nm = map_len(t, m);
	uint32_t nb = base == POL_NONE ? 0 : map_len(t, base);
	uint32_t j = 0;
	struct piece b = {0};
	if (nb)
		map_range(t, base, 0, &b);
	for (uint32_t i = 0; i < nm; i++) {
		struct piece a;
		map_range(t, m, i, &a);
		/* Walk base pieces overlapping a (same proto). */
		uint32_t lo = a.lo;
		for (;;) {
			uint32_t hi = a.hi;
			uint8_t bv = 0;
			if (nb) {
				while (j + 1 < nb && (b.proto < a.proto || (b.proto == a.proto && b.hi < lo)))
					map_range(t, base, ++j, &b);
				bv = b.verdict;
				if (b.proto == a.proto && b.hi < hi)
					hi = b.hi;
			}
			if (bv != a.verdict) {
				if (n && n <= cap && out[n - 1].proto == a.proto &&
				    out[n - 1].verdict == a.verdict && (uint32_t)out[n - 1].hi + 1 == lo)
					out[n - 1].hi = (uint16_t)hi;
				else {
					if (n < cap)
						out[n] = (struct piece){a.proto, a.verdict, (uint16_t)lo,
									(uint16_t)hi};
					n++;
				}
			}
			if (hi >= a.hi)
				break;
			lo = hi + 1;
		}
	}
	return n;
}

/* ---- expansion --------------------------------------------------------------- */

struct rules {
	struct scen_rule *r;
	uint64_t n, cap;
	uint64_t max; /* stop storing past this (count only) */
};

static int rule_add(struct rules *rs, unsigned cat, uint32_t prio, uint32_t slo, uint32_t shi,
		    uint32_t dlo, uint32_t dhi, const struct piece *p)
{
	rs->n++;
	if (rs->n > rs->max)
		return 0;
	if (rs->n > rs->cap) {
		uint64_t cap = rs->cap ? rs->cap * 2 : 65536;
		if (cap > rs->max)
			cap = rs->max;
		struct scen_rule *q = realloc(rs->r, cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		rs->r = q;
		rs->cap = cap;
	}
	struct scen_rule *r = &rs->r[rs->n - 1];
	memset(r, 0, sizeof(*r));
	bool specific = p->proto != POL_PROTO_OTHER;
	r->data.category_mask = 1u << cat;
	r->data.priority = (int32_t)((specific ? 100 : 0) + prio);
	r->data.userdata = p->verdict;
	r->field[0].value.u8 = p->proto;
	r->field[0].mask_range.u8 = specific ? 0xff : 0;
	r->field[1].value.u32 = slo;
	r->field[1].mask_range.u32 = shi;
	r->field[2].value.u32 = dlo;
	r->field[2].mask_range.u32 = dhi;
	r->field[3].value.u16 = 0;
	r->field[3].mask_range.u16 = 0xffff;
	r->field[4].value.u16 = specific ? p->lo : 0;
	r->field[4].mask_range.u16 = specific ? p->hi : 0xffff;
	return 0;
}

struct podrec {
	uint32_t ip; /* host order */
	uint32_t peer;
	uint32_t cidr_class; /* class of the address range the pod lies in */
};

static int cmp_pod(const void *a, const void *b)
{
	uint32_t x = ((const struct podrec *)a)->ip, y = ((const struct podrec *)b)->ip;
	return x < y ? -1 : x > y;
}

#define MAXP 4096

static int expand(const struct pol_tables *t, unsigned n_local, struct rules *rs)
{
	/* Pods sorted by address, with their classes. */
	struct podrec *pods = calloc(t->n_pods ? t->n_pods : 1, sizeof(*pods));
	struct piece *pc = malloc(sizeof(*pc) * MAXP);
	if (!pods || !pc) {
		free(pods);
		free(pc);
		return -ENOMEM;
	}
	/* The class of the address range a pod lies in: what the dataplane's
	 * pol_peer_class() answers for an address that is no pod, so ask it
	 * with the pod index left out (a hash without keys finds nothing). */
	struct pol_tables ranges_only = *t;
	ranges_only.ip = (struct pol_hash){.mask = 0, .n = 0, .keys = NULL, .vals = NULL};
	uint32_t np = 0;
	for (uint32_t s = 0; s <= t->ip.mask; s++) {
		if (t->ip.keys[s] == POL_HASH_EMPTY)
			continue;
		uint32_t ip_be = (uint32_t)t->ip.keys[s];
		uint32_t pi = t->ip.vals[s];
		pods[np++] = (struct podrec){rte_be_to_cpu_32(ip_be), t->pods[pi].peer,
					     pol_peer_class(&ranges_only, ip_be)};
	}
	qsort(pods, np, sizeof(*pods), cmp_pod);

	int rc = 0;
	for (unsigned l = 0; l < n_local && !rc; l++) {
		uint32_t me = rte_be_to_cpu_32(scen_pod_ip(l));
		uint32_t pi = pol_pod_index(t, scen_pod_ip(l));
		if (pi == POL_NONE)
			continue;
		for (unsigned dir = 0; dir < 2 && !rc; dir++) {
			unsigned cat = dir == POL_INGRESS ? 0 : 1;
			uint32_t subj = t->pods[pi].subject[dir];
			uint32_t d = t->default_map[subj];
#define ADD(prio, lo, hi, p)                                                                   \
	(dir == POL_INGRESS ? rule_add(rs, cat, prio, lo, hi, me, me, p)                         \
			    : rule_add(rs, cat, prio, me, me, lo, hi, p))
			/* layer 1 */
			uint32_t k = map_diff(t, d, POL_NONE, pc, MAXP);
			for (uint32_t i = 0; i < k && i < MAXP && !rc; i++)
				rc = ADD(1, 0, UINT32_MAX, &pc[i]);
			/* layer 2: address ranges */
			for (uint32_t c = 0; c < t->n_cidr && !rc; c++) {
				uint32_t m = map_of(t, subj, dir, t->cidr_peer[c]);
				if (m == d)
					continue;
				uint32_t lo = t->cidr_lo[c];
				uint32_t hi = c + 1 < t->n_cidr ? t->cidr_lo[c + 1] - 1 : UINT32_MAX;
				k = map_diff(t, m, d, pc, MAXP);
				for (uint32_t i = 0; i < k && i < MAXP && !rc; i++)
					rc = ADD(2, lo, hi, &pc[i]);
			}
			/* layer 3: pods, runs of consecutive addresses merged */
			for (uint32_t i = 0; i < np && !rc;) {
				uint32_t m = map_of(t, subj, dir, pods[i].peer);
				uint32_t b = map_of(t, subj, dir, pods[i].cidr_class);
				uint32_t j = i + 1;
				while (j < np && pods[j].ip == pods[j - 1].ip + 1 &&
				       map_of(t, subj, dir, pods[j].peer) == m &&
				       map_of(t, subj, dir, pods[j].cidr_class) == b)
					j++;
				if (m != b) {
					k = map_diff(t, m, b, pc, MAXP);
					for (uint32_t q = 0; q < k && q < MAXP && !rc; q++)
						rc = ADD(3, pods[i].ip, pods[j - 1].ip, &pc[q]);
				}
				i = j;
			}
#undef ADD
		}
	}
	free(pods);
	free(pc);
	return rc;
}

struct scen_acl *scen_acl_build(const struct pol_tables *t, unsigned n_local,
				uint64_t max_rules, int socket, struct scen_acl_stats *st)
{
	memset(st, 0, sizeof(*st));
	struct rules rs = {.max = max_rules};
	double a = bench_now_ms();
	int rc = expand(t, n_local, &rs);
	st->expand_ms = bench_now_ms() - a;
	st->rules_needed = rs.n;
	if (rc) {
		snprintf(st->note, sizeof(st->note), "expansion: %s", strerror(-rc));
		free(rs.r);
		return NULL;
	}
	if (rs.n > max_rules) {
		snprintf(st->note, sizeof(st->note),
			 "not built: %" PRIu64 " rules exceed the cap of %" PRIu64, rs.n, max_rules);
		free(rs.r);
		return NULL;
	}
	static unsigned seq;
	char name[RTE_ACL_NAMESIZE];
	snprintf(name, sizeof(name), "scen_acl_%u", seq++);
	struct rte_acl_param prm = {
		.name = name,
		.socket_id = socket,
		.rule_size = RTE_ACL_RULE_SZ(RTE_DIM(acl_fields)),
		.max_rule_num = (uint32_t)(rs.n ? rs.n : 1),
	};
	struct scen_acl *acl = calloc(1, sizeof(*acl));
	if (!acl || !(acl->ctx = rte_acl_create(&prm))) {
		snprintf(st->note, sizeof(st->note), "rte_acl_create: %s", rte_strerror(rte_errno));
		free(acl);
		free(rs.r);
		return NULL;
	}
	a = bench_now_ms();
	rc = rte_acl_add_rules(acl->ctx, (const struct rte_acl_rule *)rs.r, (uint32_t)rs.n);
	free(rs.r);
	if (rc) {
		snprintf(st->note, sizeof(st->note), "rte_acl_add_rules: %s", strerror(-rc));
		scen_acl_free(acl);
		return NULL;
	}
	struct rte_acl_config cfg = {.num_categories = 4, .num_fields = RTE_DIM(acl_fields)};
	memcpy(cfg.defs, acl_fields, sizeof(acl_fields));
	rc = rte_acl_build(acl->ctx, &cfg);
	st->build_ms = bench_now_ms() - a;
	if (rc) {
		snprintf(st->note, sizeof(st->note), "rte_acl_build: %s", strerror(-rc));
		scen_acl_free(acl);
		return NULL;
	}
	st->built = true;
	st->rules_built = st->rules_needed;
	return acl;
}

int scen_acl_classify(const struct scen_acl *a, const struct scen_acl_key *const *keys,
		      unsigned n, uint8_t *verdict)
{
	uint32_t res[64 * 4];
	if (n > 64)
		return -EINVAL;
	int rc = rte_acl_classify(a->ctx, (const uint8_t **)keys, res, n, 4);
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++)
		verdict[i] = res[4 * i] == POL_DENY || res[4 * i + 1] == POL_DENY ? POL_DENY : POL_ALLOW;
	return 0;
}

void scen_acl_free(struct scen_acl *a)
{
	if (!a)
		return;
	rte_acl_free(a->ctx);
	free(a);
}

/* Whether side dir of address ip denies (peer: the other address): only
 * when ip is a local pod's (one of the first n_local pods). */
static bool local_side_denies(const struct pol_tables *t, unsigned n_local, uint32_t ip,
			      unsigned dir, uint32_t peer, uint8_t proto, uint16_t dport)
{
	uint32_t pi = pol_pod_index(t, ip);
	if (pi == POL_NONE || pi >= t->n_pods)
		return false;
	for (unsigned l = 0; l < n_local; l++)
		if (scen_pod_ip(l) == ip)
			return pol_side(t, t->pods[pi].subject[dir], dir, pol_peer_class(t, peer), proto,
					dport)->verdict == POL_DENY;
	return false;
}

uint8_t scen_local_verdict(const struct pol_tables *t, unsigned n_local, uint32_t src,
			   uint32_t dst, uint8_t proto, uint16_t dport)
{
	if (local_side_denies(t, n_local, src, POL_EGRESS, dst, proto, dport) ||
	    local_side_denies(t, n_local, dst, POL_INGRESS, src, proto, dport))
		return POL_DENY;
	return POL_ALLOW;
}
