/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compiled network policy: the tables a worker (and `nsdpctl policy reach`)
 * consults to decide a new connection, and the decision function.
 *
 * The compiler (agent/polcomp.c) reduces NetworkPolicy, AdminNetworkPolicy
 * and BaselineAdminNetworkPolicy to classes:
 *  - a *peer class* groups addresses that every policy peer treats alike:
 *    pods matching the same set of peer selectors and CIDRs (and carrying
 *    the same named ports that policies refer to), and non-pod address
 *    ranges inside the same set of ipBlocks / networks;
 *  - a *subject class* groups pods, per direction, selected by the same
 *    policies (and, for ingress, with the same referenced named ports).
 * For each (subject class, direction, peer class) the compiler resolves the
 * tiers (ANP by priority, NetworkPolicy, BANP) into a *port map*: sorted,
 * disjoint (protocol, port range) -> verdict + deciding rule, covering every
 * protocol and port. Peer classes that no rule of a subject class
 * distinguishes share that subject class's default map.
 *
 * Per packet: hash lookups IP -> class for source and destination, one hash
 * lookup (subject, direction, peer) -> map, a search in the map. The cost
 * does not grow with the number of policies, pods or namespaces; what does
 * grow is the size of the tables, so the lookups pol_decide() makes read
 * a layout of their own (struct pol_ix, below) in which each step of the
 * chain is one cache line, and pol_decide_bulk() takes a burst of new
 * connections through that chain one step at a time, so their misses
 * overlap.
 *
 * This file has no DPDK dependency: nsdpctl runs the same lookups offline.
 *
 * Thread safety: a pol_tables is immutable once built; the dataplane will
 * publish it by pointer swap under RCU like the other tables.
 */
#ifndef NSDP_DP_POLICY_H
#define NSDP_DP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POL_INGRESS 0
#define POL_EGRESS 1

#define POL_ALLOW 1
#define POL_DENY 2
/* A decision only: allowed, though an audited policy would deny it
 * (pol_result.rule is that policy's rule). Ranges never hold it. */
#define POL_AUDIT 3

/* Protocols a port map distinguishes; everything else is POL_PROTO_OTHER. */
#define POL_PROTO_OTHER 0

/* Well-known rule ids (indices into pol_tables.rules). */
#define POL_RULE_DEFAULT_ALLOW 0
#define POL_RULE_ISOLATED 1
#define POL_RULE_UNRESTRICTED 2 /* no pod on either side */

#define POL_NONE UINT32_MAX

struct pol_range {
	uint8_t proto; /* 6, 17, 132 or POL_PROTO_OTHER */
	uint8_t verdict;
	uint16_t lo; /* inclusive */
	uint16_t hi;
	uint16_t pad;
	uint32_t rule;
	uint32_t audit_rule; /* allow ranges: an audited rule that would deny, or POL_NONE */
};

/* Open addressing, u64 key -> u32 value, read-only after build. */
struct pol_hash {
	uint32_t mask; /* slots - 1 (power of two) */
	uint32_t n;
	uint64_t *keys; /* POL_HASH_EMPTY for free slots */
	uint32_t *vals;
};
#define POL_HASH_EMPTY UINT64_MAX

/* A pod as the policy tables know it. */
struct pol_pod {
	uint32_t peer;       /* peer class */
	uint32_t subject[2]; /* subject class per direction */
};

/*
 * The lookup layout (pol_index() builds it from the arrays of pol_tables,
 * which stay the canonical form: the wire form, the compiler, `nsdpctl`,
 * traces and tests read those). Per side of a decision, one cache line per
 * dependent step, where the canonical arrays need two or three each:
 *  1. address -> struct pol_ix_addr (peer class and both subject classes
 *     in the hash slot itself: no separate value array, no pods[] read);
 *  2. (subject, direction, peer) -> struct pol_ix_map (the map's block in
 *     the slot: no map_first[] read), read together with the subject's
 *     default (pol_ix.dflt, a small array) for a miss;
 *  3. the map's block: n words (proto << 56 | lo << 40 | flags << 32 |
 *     rule), sorted, so the range is the last word <= (proto, port) and the
 *     verdict and rule come with it; blocks of up to 8 ranges never
 *     straddle a cache line, longer ones start on one. A range with an
 *     audited rule has POL_IX_AUDIT in its flags and its audit_rule in
 *     pol_ix.audit at the same index (read only then).
 * Open addressing with linear probing at most half full, like pol_hash.
 */
struct pol_ix_addr {
	uint32_t ip;         /* network order */
	uint32_t peer;
	uint32_t subject[2]; /* subject[0] == POL_NONE: a free slot */
};

struct pol_ix_map {
	uint64_t key; /* as pol_tables.maps; POL_HASH_EMPTY: a free slot */
	uint32_t blk; /* index of the block's first word in pol_ix.words */
	uint32_t n;   /* ranges */
};

struct pol_ix_ref {
	uint32_t blk, n;
};

#define POL_IX_AUDIT 4 /* flags: verdict (POL_ALLOW/POL_DENY) | POL_IX_AUDIT */

struct pol_ix {
	uint32_t addr_mask, map_mask;
	struct pol_ix_addr *addr;
	struct pol_ix_map *maps;
	struct pol_ix_ref *dflt; /* per subject class */
	uint64_t *words;         /* 64-byte aligned */
	uint32_t *audit;         /* parallel to words */
};

struct pol_tables {
	uint64_t generation;

	/* Pod IP -> index into pods. */
	struct pol_hash ip;
	uint32_t n_pods;
	struct pol_pod *pods;

	/* Non-pod addresses: disjoint ranges starting at cidr_lo[i] (sorted,
	 * cidr_lo[0] == 0) with peer class cidr_peer[i]. */
	uint32_t n_cidr;
	uint32_t *cidr_lo; /* host order */
	uint32_t *cidr_peer;

	/* (subject class, direction, peer class) -> map index. */
	struct pol_hash maps;
	/* Per subject class (each belongs to one direction): the map for
	 * peers no rule of it distinguishes. */
	uint32_t n_subjects;
	uint32_t *default_map;

	uint32_t n_maps;
	uint32_t *map_first; /* ranges[map_first[m] .. map_first[m+1]) */
	uint32_t n_ranges;
	struct pol_range *ranges;

	/* Deciding rules, for counters and for humans: "networkpolicy x/a
	 * ingress[0]", "isolated", "default-allow", ... */
	uint32_t n_rules;
	char **rules;

	/* pol_index()'s layout, or NULL: pol_decide() then reads the arrays
	 * above (the compiler's output until someone indexes it). */
	struct pol_ix *ix;

	/* The arrays above belong to someone else (a compiler context that
	 * keeps its tables, agent/polcomp.h): pol_tables_free() frees only
	 * ix and the struct. */
	bool borrowed;
};

struct pol_result {
	uint8_t verdict; /* POL_ALLOW / POL_DENY / POL_AUDIT */
	uint8_t decided_by; /* POL_INGRESS / POL_EGRESS side that decided */
	uint32_t rule;
};

/* Build h from n keys (at most half full; of equal keys the last one's
 * value stays, and h->n counts distinct keys). 0 or -ENOMEM. */
int pol_hash_build(struct pol_hash *h, const uint64_t *keys, const uint32_t *vals, size_t n);

/* u64 key -> value or POL_NONE. */
uint32_t pol_hash_get(const struct pol_hash *h, uint64_t key);

/*
 * For a builder that changes a hash in place (the compiler's pods-only
 * path; never a published table): key -> val, replacing its value if
 * present, doubling the slots to stay at most half full; 0 or -ENOMEM (h
 * unchanged). pol_hash_remove: key gone (a no-op when absent), later
 * slots of its probe run shifted back so that lookups stay exact.
 */
int pol_hash_insert(struct pol_hash *h, uint64_t key, uint32_t val);
void pol_hash_remove(struct pol_hash *h, uint64_t key);
/* h (built, or zeroed) becomes a hash of n keys as pol_hash_build makes
 * it, its old arrays freed; on -ENOMEM h is unchanged. */
int pol_hash_replace(struct pol_hash *h, const uint64_t *keys, const uint32_t *vals, size_t n);

/* The hash's slot finaliser (splitmix64): keys are small integers packed together. */
static inline uint64_t pol_mix(uint64_t k)
{
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebull;
	return k ^ (k >> 31);
}

/*
 * Build t->ix from the canonical arrays (pol_deserialize() does; tables
 * straight from the compiler may). pol_decide() answers exactly as it does
 * from the canonical arrays (a randomized test compares the two). 0,
 * -ENOMEM, or -EINVAL for tables pol_deserialize() would refuse (an empty
 * map, a verdict other than allow/deny, a class out of range); t is then
 * unchanged.
 */
int pol_index(struct pol_tables *t);

/* The key of the port map of (subject class, direction, peer class) in
 * pol_tables.maps: what the compiler inserts and the lookups ask for. */
static inline uint64_t pol_map_key(uint32_t subject, unsigned dir, uint32_t peer)
{
	return (uint64_t)subject << 33 | (uint64_t)dir << 32 | peer;
}

/* The last k < n with lo[k] <= v (lo ascending, lo[0] <= v): which of
 * the ranges starting at lo[] holds v (t->cidr_lo, the compiler's address
 * sets). */
static inline uint32_t pol_range_index(const uint32_t *lo, uint32_t n, uint32_t v)
{
	uint32_t a = 0, b = n;
	while (b - a > 1) {
		uint32_t m = (a + b) / 2;
		if (lo[m] <= v)
			a = m;
		else
			b = m;
	}
	return a;
}

/* Peer class of an address (network order). */
uint32_t pol_peer_class(const struct pol_tables *t, uint32_t ip);

/* Index into t->pods of the pod with this IP, or POL_NONE. */
static inline uint32_t pol_pod_index(const struct pol_tables *t, uint32_t ip)
{
	return pol_hash_get(&t->ip, ip);
}

/* Verdict of one side: subject class, direction, peer class, protocol, port. */
const struct pol_range *pol_side(const struct pol_tables *t, uint32_t subject,
				 unsigned dir, uint32_t peer, uint8_t proto,
				 uint16_t port);

/*
 * Decide a new connection src -> dst (network order addresses, destination
 * port in host order). The egress side applies when src is a pod, the
 * ingress side when dst is a pod; both must allow. Reported rule: the
 * denying side's, else the audited rule of a side that would deny (verdict
 * POL_AUDIT, egress first), else the ingress side's (egress's when dst is
 * no pod).
 */
void pol_decide(const struct pol_tables *t, uint32_t src, uint32_t dst, uint8_t proto,
		uint16_t dport, struct pol_result *res);

/* pol_decide()'s arguments. */
struct pol_query {
	uint32_t src, dst; /* network order */
	uint8_t proto;
	uint16_t dport;    /* host order */
};

#define POL_BULK_MAX 64

/*
 * res[i] = pol_decide(q[i]) for i < n, each dependent step of the lookup
 * (address slots, map slots, range blocks) started for all queries (up to
 * POL_BULK_MAX at a time) before any of them is read, so the cache misses
 * of a burst of new connections overlap instead of adding up.
 */
void pol_decide_bulk(const struct pol_tables *t, const struct pol_query *q, unsigned n,
		     struct pol_result *res);

void pol_tables_free(struct pol_tables *t);

/*
 * The wire form (NSDP_MSG_POLICY_SET, include/nsdp/proto.h).
 * pol_serialize: malloc'ed blob in *out, its size in *len; 0 or -ENOMEM.
 * pol_deserialize: validates every count and index, so a bad blob can never
 * send a worker out of bounds; NULL with a reason in err on failure.
 */
int pol_serialize(const struct pol_tables *t, void **out, size_t *len);
struct pol_tables *pol_deserialize(const void *blob, size_t len, uint64_t generation,
				   char *err, size_t errlen);

#endif
