/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lock-free shared connection tracking (design and thread-safety contract in
 * conntrack.h). Notes on the implementation:
 *
 *  - Slot word: (signature << 2 | state), 32 bits; the signature is the low
 *    30 bits of the key hash. EMPTY is the all-zero word.
 *  - Bucket choice: primary from the hash by multiply-shift reduction (any
 *    bucket count works), secondary from a bijective remix of the hash, never
 *    equal to the primary (so "lives in its secondary" is simply "lives
 *    outside its primary", which the control thread recomputes from the
 *    entry's key when it frees a slot: no extra per-slot bit is needed).
 *  - Freeing is the control thread's job: DEAD slots are queued on a pending
 *    list (each slot at most once, tracked by a control-only mark array, so
 *    the list never exceeds the slot count) and turned EMPTY once the RCU
 *    token taken for their batch has been passed by every reader.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_tcp.h>

#include <nsdp/drop.h>

#include "conntrack.h"

_Static_assert(sizeof(struct ct_key) == 40, "ct_key must stay 40 bytes");
_Static_assert(sizeof(struct ct_entry) == 128, "ct_entry must be 2 cache lines");
_Static_assert(offsetof(struct ct_entry, nat) == 64,
	       "the packet path's fields fill the entry's first cache line");

#define CT_ST_EMPTY 0u
#define CT_ST_BUSY 1u
#define CT_ST_VALID 2u
#define CT_ST_DEAD 3u
#define CT_ST_MASK 3u
#define CT_SIG_MASK 0x3fffffffu

/* Buckets are planned ~80% full at the requested size: 12 of 15 slots. */
#define CT_PLAN_PER_BUCKET 12
#define CT_MAX_SIZE (1u << 28)
/* Sealed batches waiting for a grace period; the newest absorbs overflow. */
#define CT_MAX_BATCHES 16
#define CT_HASH_SEED 0x6e736470u /* "nsdp" */

struct ct_bucket {
	uint32_t overflow; /* entries homed here that live in their secondary */
	uint32_t slot[CT_BUCKET_SLOTS];
};
_Static_assert(sizeof(struct ct_bucket) == 64, "bucket must be one cache line");

struct ct_batch {
	uint64_t token; /* rte_rcu_qsbr_start() when the batch was sealed */
	uint32_t end;   /* pending position one past the batch's last slot */
};

struct conntrack {
	struct ct_bucket *bkt;
	struct ct_entry *ent;
	uint32_t nb;  /* buckets */
	uint32_t cap; /* nb * CT_BUCKET_SLOTS */
	struct ct_timeouts to;
	struct rte_rcu_qsbr *qsv;

	/* Control thread only. */
	uint32_t cursor;
	uint32_t *pend;    /* ring of cap slot indices */
	uint8_t *pend_mark; /* 1 while a slot is on the pending ring */
	uint32_t pend_head, pend_sealed, pend_tail; /* free-running positions */
	struct ct_batch batch[CT_MAX_BATCHES];
	unsigned batch_head, batch_n;
};

const char *ct_state_name(unsigned state)
{
	return nsdp_ct_state_name(state);
}

/* murmur3 finaliser: a bijection, so the secondary is independent of p. */
static inline uint32_t ct_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline uint32_t ct_primary(const struct conntrack *ct, uint32_t h)
{
	return (uint32_t)(((uint64_t)h * ct->nb) >> 32);
}

static inline uint32_t ct_secondary(const struct conntrack *ct, uint32_t h,
				    uint32_t p)
{
	uint32_t s = (uint32_t)(((uint64_t)ct_mix(h ^ CT_HASH_SEED) * ct->nb) >> 32);

	if (s == p)
		s = p + 1 == ct->nb ? 0 : p + 1;
	return s;
}

static inline uint32_t *ct_slot_word(const struct conntrack *ct, uint32_t idx)
{
	return &ct->bkt[idx / CT_BUCKET_SLOTS].slot[idx % CT_BUCKET_SLOTS];
}

static inline bool ct_key_eq(const struct ct_key *a, const struct ct_key *b)
{
	/* Five 8-byte words, compared branch-free (memcmp is a call). */
	_Static_assert(sizeof(struct ct_key) == 40, "ct_key is five words");
	uint64_t x[5], y[5];
	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) |
		(x[4] ^ y[4])) == 0;
}

struct conntrack *ct_create(uint32_t size, const struct ct_timeouts *to,
			    struct rte_rcu_qsbr *qsv, int socket_id)
{
	if (size == 0 || size > CT_MAX_SIZE || to == NULL) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t nb = (size + CT_PLAN_PER_BUCKET - 1) / CT_PLAN_PER_BUCKET;
	if (nb < 2)
		nb = 2; /* the secondary must differ from the primary */

	struct conntrack *ct = rte_zmalloc_socket("nsdp_ct", sizeof(*ct),
						  RTE_CACHE_LINE_SIZE, socket_id);
	if (ct == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	ct->nb = nb;
	ct->cap = nb * CT_BUCKET_SLOTS;
	ct->to = *to;
	ct->qsv = qsv;
	ct->bkt = rte_zmalloc_socket("nsdp_ct_bkt", (size_t)nb * sizeof(*ct->bkt),
				     RTE_CACHE_LINE_SIZE, socket_id);
	ct->ent = rte_zmalloc_socket("nsdp_ct_ent",
				     (size_t)ct->cap * sizeof(*ct->ent),
				     RTE_CACHE_LINE_SIZE, socket_id);
	ct->pend = rte_zmalloc_socket("nsdp_ct_pend",
				      (size_t)ct->cap * sizeof(*ct->pend), 0,
				      socket_id);
	ct->pend_mark = rte_zmalloc_socket("nsdp_ct_mark", ct->cap, 0, socket_id);
	if (!ct->bkt || !ct->ent || !ct->pend || !ct->pend_mark) {
		ct_destroy(ct);
		errno = ENOMEM;
		return NULL;
	}
	return ct;
}

void ct_destroy(struct conntrack *ct)
{
	if (ct == NULL)
		return;
	rte_free(ct->pend_mark);
	rte_free(ct->pend);
	rte_free(ct->ent);
	rte_free(ct->bkt);
	rte_free(ct);
}

static inline int ct_endpoint_cmp(const uint8_t *a, uint16_t pa,
				  const uint8_t *b, uint16_t pb)
{
	int c = memcmp(a, b, 16);

	if (c != 0)
		return c;
	uint16_t ha = rte_be_to_cpu_16(pa), hb = rte_be_to_cpu_16(pb);
	return ha < hb ? -1 : ha > hb;
}

unsigned ct_key_make(struct ct_key *k, uint8_t family, const void *src,
		     const void *dst, uint16_t sport, uint16_t dport, uint8_t proto)
{
	if (family == AF_INET) {
		/* Fast path: (address, port) as one number, no memcmp. */
		uint32_t sa, da;
		memcpy(&sa, src, 4);
		memcpy(&da, dst, 4);
		uint64_t sv = (uint64_t)rte_be_to_cpu_32(sa) << 16 | rte_be_to_cpu_16(sport);
		uint64_t dv = (uint64_t)rte_be_to_cpu_32(da) << 16 | rte_be_to_cpu_16(dport);
		unsigned side = sv > dv;
		memset(k, 0, sizeof(*k));
		k->proto = proto;
		k->family = family;
		memcpy(k->addr[side], &sa, 4);
		memcpy(k->addr[!side], &da, 4);
		k->port[side] = sport;
		k->port[!side] = dport;
		return side;
	}
	uint8_t s[16] = {0}, d[16] = {0};
	size_t alen = family == AF_INET6 ? 16 : 4;

	memcpy(s, src, alen);
	memcpy(d, dst, alen);
	memset(k, 0, sizeof(*k));
	k->proto = proto;
	k->family = family;

	unsigned side = ct_endpoint_cmp(s, sport, d, dport) > 0;
	memcpy(k->addr[side], s, 16);
	memcpy(k->addr[!side], d, 16);
	k->port[side] = sport;
	k->port[!side] = dport;
	return side;
}

uint32_t ct_hash(const struct ct_key *k)
{
	/* CRC alone is linear: structured keys (pod CIDRs, sequential ports)
	 * pile into some buckets. The finaliser spreads them. */
	if (k->family != AF_INET)
		return ct_mix(rte_hash_crc(k, sizeof(*k), CT_HASH_SEED));
	/* An IPv4 key is 16 bytes that can differ (ct_key_make zeroes the
	 * rest): two 8-byte CRC steps instead of five. */
	uint32_t a0, a1;
	uint64_t rest;
	memcpy(&a0, k->addr[0], 4);
	memcpy(&a1, k->addr[1], 4);
	memcpy(&rest, (const uint8_t *)k + offsetof(struct ct_key, port), sizeof(rest));
	_Static_assert(offsetof(struct ct_key, zone) + sizeof(k->zone) ==
			       offsetof(struct ct_key, port) + sizeof(rest),
		       "ports, proto, family and zone are the key's last 8 bytes");
	uint32_t h = rte_hash_crc_8byte((uint64_t)a1 << 32 | a0, CT_HASH_SEED);
	return ct_mix(rte_hash_crc_8byte(rest, h));
}

void ct_prefetch(const struct conntrack *ct, uint32_t hash)
{
	rte_prefetch0(&ct->bkt[ct_primary(ct, hash)]);
}

bool ct_prefetch_entry(const struct conntrack *ct, uint32_t hash)
{
	uint32_t b = ct_primary(ct, hash);
	uint32_t want = (hash & CT_SIG_MASK) << 2 | CT_ST_VALID;
	const struct ct_bucket *bk = &ct->bkt[b];
	int empty = -1;

	for (unsigned i = 0; i < CT_BUCKET_SLOTS; i++) {
		uint32_t w = __atomic_load_n(&bk->slot[i], __ATOMIC_RELAXED);
		if (w == want) {
			rte_prefetch0(&ct->ent[b * CT_BUCKET_SLOTS + i]);
			return true;
		}
		if (w == CT_ST_EMPTY && empty < 0)
			empty = (int)i;
	}
	/*
	 * Probably a new flow: the insert (ct_create_first()) will claim the primary's
	 * first empty slot (unless the primary is nearly full) and write its
	 * entry's first line; take that line for writing now.
	 */
	if (empty >= 0)
		__builtin_prefetch(&ct->ent[b * CT_BUCKET_SLOTS + (uint32_t)empty], 1, 3);
	return false;
}

static struct ct_entry *ct_scan_bucket(struct conntrack *ct, uint32_t b,
				       const struct ct_key *k, uint32_t want)
{
	const struct ct_bucket *bk = &ct->bkt[b];

	for (unsigned i = 0; i < CT_BUCKET_SLOTS; i++) {
		if (__atomic_load_n(&bk->slot[i], __ATOMIC_RELAXED) != want)
			continue;
		/* Pairs with the publisher's release: the key is complete. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		struct ct_entry *e = &ct->ent[b * CT_BUCKET_SLOTS + i];
		if (ct_key_eq(&e->key, k))
			return e;
	}
	return NULL;
}

struct ct_entry *ct_lookup(struct conntrack *ct, const struct ct_key *k,
			   uint32_t hash)
{
	uint32_t want = (hash & CT_SIG_MASK) << 2 | CT_ST_VALID;
	uint32_t p = ct_primary(ct, hash);
	struct ct_entry *e = ct_scan_bucket(ct, p, k, want);

	if (e != NULL)
		return e;
	/* A stale zero only risks a miss that the insert resolves. */
	if (__atomic_load_n(&ct->bkt[p].overflow, __ATOMIC_RELAXED) == 0)
		return NULL;
	return ct_scan_bucket(ct, ct_secondary(ct, hash, p), k, want);
}

/* Free slots of bucket b (a snapshot; only a placement hint). */
static unsigned ct_free_slots(const struct conntrack *ct, uint32_t b)
{
	unsigned n = 0;
	for (unsigned i = 0; i < CT_BUCKET_SLOTS; i++)
		n += __atomic_load_n(&ct->bkt[b].slot[i], __ATOMIC_RELAXED) == CT_ST_EMPTY;
	return n;
}

static int ct_claim(struct conntrack *ct, uint32_t b)
{
	struct ct_bucket *bk = &ct->bkt[b];

	for (unsigned i = 0; i < CT_BUCKET_SLOTS; i++) {
		uint32_t w = CT_ST_EMPTY;
		if (__atomic_load_n(&bk->slot[i], __ATOMIC_RELAXED) != CT_ST_EMPTY)
			continue;
		/* Acquire: our entry writes stay after we own the slot. */
		if (__atomic_compare_exchange_n(&bk->slot[i], &w, CT_ST_BUSY, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return (int)i;
	}
	return -1;
}

/* Move a dead copy's bits into the survivor when they agree on direction. */
static void ct_merge_into(struct ct_entry *win, const struct ct_entry *lose)
{
	if (__atomic_load_n(&win->orig_side, __ATOMIC_RELAXED) !=
	    __atomic_load_n(&lose->orig_side, __ATOMIC_RELAXED))
		return;
	uint32_t bits = __atomic_load_n(&lose->seen, __ATOMIC_RELAXED);
	if (bits & ~__atomic_load_n(&win->seen, __ATOMIC_RELAXED))
		__atomic_fetch_or(&win->seen, bits, __ATOMIC_RELAXED);
}

/*
 * After publishing `idx`, find every VALID copy of the key in both buckets.
 * The publish and these loads are seq_cst, so of two racing inserters at
 * least the later one sees the other (store-buffer litmus). Whoever sees a
 * duplicate keeps the lowest index: it kills higher copies, or itself.
 */
static struct ct_entry *ct_resolve_dups(struct conntrack *ct, uint32_t idx,
					const struct ct_key *k, uint32_t sig,
					uint32_t p, uint32_t s)
{
	uint32_t want = sig << 2 | CT_ST_VALID;
	uint32_t found[2 * CT_BUCKET_SLOTS + 1];
	unsigned n = 0;
	uint32_t best = idx;
	const uint32_t bs[2] = {p, s};
	/*
	 * A copy can be in the secondary only if its inserter counted itself
	 * in the primary's overflow (seq_cst) before publishing it. When we
	 * are in the primary and read the count as 0 after our publish, that
	 * inserter's increment, publish and re-scan of the primary all come
	 * later in the seq_cst order than our publish: it sees our copy and
	 * resolves the pair. So the secondary (a cold line: most new flows
	 * never touch it otherwise) is scanned only when it may hold one.
	 */
	unsigned nbk = idx / CT_BUCKET_SLOTS != p ||
				       __atomic_load_n(&ct->bkt[p].overflow, __ATOMIC_SEQ_CST)
			       ? 2
			       : 1;

	for (unsigned j = 0; j < nbk; j++) {
		for (unsigned i = 0; i < CT_BUCKET_SLOTS; i++) {
			uint32_t x = bs[j] * CT_BUCKET_SLOTS + i;
			if (x == idx || __atomic_load_n(ct_slot_word(ct, x),
							__ATOMIC_SEQ_CST) != want)
				continue;
			if (!ct_key_eq(&ct->ent[x].key, k))
				continue;
			found[n++] = x;
			if (x < best)
				best = x;
		}
	}
	if (n == 0)
		return &ct->ent[idx];

	found[n++] = idx;
	for (unsigned i = 0; i < n; i++) {
		uint32_t x = found[i];
		uint32_t w = want;
		if (x == best)
			continue;
		if (__atomic_compare_exchange_n(ct_slot_word(ct, x), &w,
						sig << 2 | CT_ST_DEAD, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			ct_merge_into(&ct->ent[best], &ct->ent[x]);
	}
	return &ct->ent[best];
}

/*
 * Insert k with `seen` as its first bits (written before the entry is
 * published, so no atomic is needed for them); *ours says whether the
 * entry returned is the one this call made (not a racing copy's).
 */
static struct ct_entry *ct_insert(struct conntrack *ct, const struct ct_key *k, uint32_t hash,
				  unsigned side, uint32_t now, uint32_t seen, bool *ours)
{
	uint32_t sig = hash & CT_SIG_MASK;
	uint32_t p = ct_primary(ct, hash);
	uint32_t s = ct_secondary(ct, hash, p);
	uint32_t b = p;
	/*
	 * Most entries stay in their primary bucket (one cache line per
	 * lookup), but a nearly full primary hands new entries to a freer
	 * secondary early: that flattens the tail of bucket loads, so the
	 * table refuses flows only when it is really close to full.
	 */
	int slot = -1;
	unsigned pf = ct_free_slots(ct, p);
	if (pf > 2 || pf >= ct_free_slots(ct, s))
		slot = ct_claim(ct, p);

	if (slot < 0) {
		/* Count first, so a lookup that finds it in s knows to look
		 * (seq_cst: ct_resolve_dups() relies on it being ordered
		 * before our publish). */
		__atomic_fetch_add(&ct->bkt[p].overflow, 1, __ATOMIC_SEQ_CST);
		b = s;
		slot = ct_claim(ct, s);
		if (slot < 0) {
			__atomic_fetch_sub(&ct->bkt[p].overflow, 1, __ATOMIC_RELAXED);
			b = p; /* the secondary filled meanwhile: the primary's last slots */
			slot = ct_claim(ct, p);
		}
		if (slot < 0) {
			errno = ENOSPC;
			return NULL;
		}
	}

	uint32_t idx = b * CT_BUCKET_SLOTS + (uint32_t)slot;
	struct ct_entry *e = &ct->ent[idx];

	/*
	 * Nobody reads a BUSY slot's entry: plain stores are fine. Only the
	 * first cache line (every field the packet path uses) is written:
	 * the second (nat, pad) is zero from rte_zmalloc and nothing writes
	 * it, so a new flow takes one line instead of two. Whoever starts
	 * writing nat must initialise it here.
	 */
	memset(e, 0, offsetof(struct ct_entry, nat));
	e->key = *k;
	e->orig_side = (uint8_t)(side & 1);
	e->seen = seen;
	e->last_seen = now;
	e->created = now;
	__atomic_store_n(ct_slot_word(ct, idx), sig << 2 | CT_ST_VALID,
			 __ATOMIC_SEQ_CST);
	struct ct_entry *won = ct_resolve_dups(ct, idx, k, sig, p, s);
	*ours = won == e;
	return won;
}

struct ct_entry *ct_create_entry(struct conntrack *ct, const struct ct_key *k,
				 uint32_t hash, unsigned side, uint32_t now)
{
	bool ours;
	return ct_insert(ct, k, hash, side, now, 0, &ours);
}

#define CT_SEEN_INVALID UINT32_MAX

/*
 * The bits a packet adds to `seen` (ct_update's rules once a re-opening
 * SYN is ruled out), or CT_SEEN_INVALID.
 */
static inline uint32_t ct_seen_add(uint8_t proto, uint32_t seen, bool orig, uint8_t tcp_flags)
{
	uint32_t add = orig ? 0 : CT_SEEN_REPLY;

	if (proto != IPPROTO_TCP)
		return add;
	bool syn = tcp_flags & RTE_TCP_SYN_FLAG;
	bool ack = tcp_flags & RTE_TCP_ACK_FLAG;
	bool rst = tcp_flags & RTE_TCP_RST_FLAG;
	bool fin = tcp_flags & RTE_TCP_FIN_FLAG;
	bool pure_syn = syn && !ack && !rst && !fin;
	/*
	 * Packets after a RST are accepted: without sequence tracking a
	 * RST cannot be validated, and an off-path or stale RST must not
	 * cut a live connection. The entry stays CLOSED (short timeout)
	 * and, once expired, live traffic is picked up mid-stream.
	 */
	/* Loose pickup (nf_conntrack_tcp_loose): survive a restart. */
	if (seen == 0 && orig && !pure_syn)
		add |= CT_SEEN_MIDSTREAM;
	if (syn && ack && orig && !((seen | add) & (CT_SEEN_SYN_REPLY | CT_SEEN_MIDSTREAM)))
		return CT_SEEN_INVALID;
	if (pure_syn && orig)
		add |= CT_SEEN_SYN_ORIG;
	if (syn && ack && !orig)
		add |= CT_SEEN_SYN_REPLY;
	if (ack && !syn && !rst && orig && (seen & CT_SEEN_SYN_REPLY))
		add |= CT_SEEN_ACK_ORIG;
	if (fin)
		add |= orig ? CT_SEEN_FIN_ORIG : CT_SEEN_FIN_REPLY;
	if (rst)
		add |= CT_SEEN_RST;
	return add;
}

struct ct_entry *ct_create_first(struct conntrack *ct, const struct ct_key *k, uint32_t hash,
				 unsigned side, uint8_t tcp_flags, uint32_t now, int *rc)
{
	/* Its first packet comes from the originator, onto no bits: never
	 * CT_SEEN_INVALID (anything but a pure SYN is a mid-stream pickup). */
	uint32_t seen = ct_seen_add(k->proto, 0, true, tcp_flags);
	bool ours;
	struct ct_entry *e = ct_insert(ct, k, hash, side, now, seen, &ours);

	*rc = 0;
	if (e && !ours) /* a racing copy won */
		*rc = ct_update(e, side, tcp_flags, now);
	return e;
}

static enum ct_state ct_state_of(uint8_t proto, uint32_t seen)
{
	switch (proto) {
	case IPPROTO_TCP:
		if (seen & CT_SEEN_RST)
			return CT_TCP_CLOSED;
		if ((seen & (CT_SEEN_FIN_ORIG | CT_SEEN_FIN_REPLY)) ==
		    (CT_SEEN_FIN_ORIG | CT_SEEN_FIN_REPLY))
			return CT_TCP_TIME_WAIT;
		if (seen & (CT_SEEN_FIN_ORIG | CT_SEEN_FIN_REPLY))
			return CT_TCP_FIN_WAIT;
		if ((seen & CT_SEEN_MIDSTREAM) ||
		    (seen & (CT_SEEN_SYN_ORIG | CT_SEEN_SYN_REPLY | CT_SEEN_ACK_ORIG)) ==
			    (CT_SEEN_SYN_ORIG | CT_SEEN_SYN_REPLY | CT_SEEN_ACK_ORIG))
			return CT_TCP_ESTABLISHED;
		if (seen & CT_SEEN_SYN_REPLY)
			return CT_TCP_SYN_RECV;
		return CT_TCP_SYN_SENT;
	case IPPROTO_UDP:
		return (seen & CT_SEEN_REPLY) ? CT_UDP_STREAM : CT_UDP_NEW;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return CT_ICMP;
	default:
		return CT_OTHER;
	}
}

enum ct_state ct_entry_state(const struct ct_entry *e)
{
	return ct_state_of(e->key.proto, __atomic_load_n(&e->seen, __ATOMIC_RELAXED));
}

int ct_update(struct ct_entry *e, unsigned side, uint8_t tcp_flags, uint32_t now)
{
	uint32_t seen, add;

again:
	seen = __atomic_load_n(&e->seen, __ATOMIC_RELAXED);
	bool orig = side == __atomic_load_n(&e->orig_side, __ATOMIC_RELAXED);

	if (e->key.proto == IPPROTO_TCP) {
		bool pure_syn = (tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG |
					      RTE_TCP_FIN_FLAG)) == RTE_TCP_SYN_FLAG;
		enum ct_state st = ct_state_of(IPPROTO_TCP, seen);

		if (pure_syn && (st == CT_TCP_TIME_WAIT || st == CT_TCP_CLOSED)) {
			/*
			 * Port reuse: a new connection on the old tuple. The
			 * sender becomes the originator and the policy verdict
			 * must be recomputed (the direction may have flipped).
			 * seen, orig_side and policy_gen are not one atomic
			 * unit: a racing packet may briefly see a mix.
			 */
			if (!__atomic_compare_exchange_n(&e->seen, &seen,
							 CT_SEEN_SYN_ORIG, false,
							 __ATOMIC_RELAXED,
							 __ATOMIC_RELAXED))
				goto again;
			__atomic_store_n(&e->orig_side, (uint8_t)(side & 1),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&e->policy_gen, 0, __ATOMIC_RELAXED);
			goto touch;
		}
	}
	add = ct_seen_add(e->key.proto, seen, orig, tcp_flags);
	if (add == CT_SEEN_INVALID)
		return NSDP_DROP_CT_INVALID;
	/* Write the shared line only when something changes. */
	if (add & ~seen)
		__atomic_fetch_or(&e->seen, add, __ATOMIC_RELAXED);
touch:
	if (__atomic_load_n(&e->last_seen, __ATOMIC_RELAXED) != now)
		__atomic_store_n(&e->last_seen, now, __ATOMIC_RELAXED);
	return 0;
}

uint32_t ct_timeout(const struct conntrack *ct, enum ct_state st)
{
	const struct ct_timeouts *to = &ct->to;

	switch (st) {
	case CT_TCP_SYN_SENT:
	case CT_TCP_SYN_RECV:
		return to->tcp_syn;
	case CT_TCP_ESTABLISHED:
		return to->tcp_established;
	case CT_TCP_FIN_WAIT:
	case CT_TCP_TIME_WAIT:
		return to->tcp_fin;
	case CT_TCP_CLOSED:
		return to->tcp_closed;
	case CT_UDP_NEW:
		return to->udp;
	case CT_UDP_STREAM:
		return to->udp_stream;
	case CT_ICMP:
		return to->icmp;
	default:
		return to->other;
	}
}

bool ct_expired(const struct conntrack *ct, const struct ct_entry *e, uint32_t now)
{
	/* Signed: a worker's clock may run a little ahead of ours. */
	int64_t idle = (int32_t)(now - __atomic_load_n(&e->last_seen,
						      __ATOMIC_RELAXED));

	uint32_t seen = __atomic_load_n(&e->seen, __ATOMIC_RELAXED);
	uint32_t to = ct_timeout(ct, ct_state_of(e->key.proto, seen));
	/*
	 * A connection policy denies before it was ever answered goes sooner
	 * (timeouts.denied): its entry only spares re-deciding retransmissions.
	 * One that was answered, i.e. revoked while established, keeps its
	 * state's timeout: the peers' retransmissions, seconds apart under
	 * back-off, must keep meeting the cached deny. An expired entry would
	 * let the next one in as a mid-stream pickup, which either direction's
	 * policy admits.
	 */
	if (e->verdict == CT_VERDICT_DENY && __atomic_load_n(&e->policy_gen, __ATOMIC_RELAXED) &&
	    !(seen & CT_SEEN_REPLY) && ct->to.denied < to)
		to = ct->to.denied;
	return idle > (int64_t)to;
}

/* ---- control thread: aging and reclamation ---- */

static void ct_free_slot(struct conntrack *ct, uint32_t idx)
{
	uint32_t b = idx / CT_BUCKET_SLOTS;
	uint32_t p = ct_primary(ct, ct_hash(&ct->ent[idx].key));

	/* The key is intact until EMPTY; outside its primary = in secondary. */
	if (p != b)
		__atomic_fetch_sub(&ct->bkt[p].overflow, 1, __ATOMIC_RELAXED);
	ct->pend_mark[idx] = 0;
	__atomic_store_n(ct_slot_word(ct, idx), CT_ST_EMPTY, __ATOMIC_RELEASE);
}

static void ct_pend_add(struct conntrack *ct, uint32_t idx)
{
	ct->pend_mark[idx] = 1;
	ct->pend[ct->pend_tail % ct->cap] = idx;
	ct->pend_tail++;
}

static void ct_free_until(struct conntrack *ct, uint32_t end)
{
	while (ct->pend_head != end) {
		ct_free_slot(ct, ct->pend[ct->pend_head % ct->cap]);
		ct->pend_head++;
	}
}

/* Free the oldest batches whose grace period is over. */
static void ct_reclaim(struct conntrack *ct)
{
	while (ct->batch_n > 0) {
		struct ct_batch *b = &ct->batch[ct->batch_head];
		if (rte_rcu_qsbr_check(ct->qsv, b->token, false) != 1)
			break;
		ct_free_until(ct, b->end);
		ct->batch_head = (ct->batch_head + 1) % CT_MAX_BATCHES;
		ct->batch_n--;
	}
}

/* Close the batch collected by this call under a fresh RCU token. */
static void ct_seal(struct conntrack *ct)
{
	if (ct->pend_tail == ct->pend_sealed)
		return;
	if (ct->qsv == NULL) {
		ct_free_until(ct, ct->pend_tail);
	} else {
		uint64_t token = rte_rcu_qsbr_start(ct->qsv);
		struct ct_batch *b;

		/* Full: a later token covers the newest batch too. */
		if (ct->batch_n == CT_MAX_BATCHES) {
			b = &ct->batch[(ct->batch_head + ct->batch_n - 1) %
				       CT_MAX_BATCHES];
		} else {
			b = &ct->batch[(ct->batch_head + ct->batch_n) %
				       CT_MAX_BATCHES];
			ct->batch_n++;
		}
		b->token = token;
		b->end = ct->pend_tail;
	}
	ct->pend_sealed = ct->pend_tail;
}

/* Visit one slot: expire it if due (or always, when now is NULL). */
static unsigned ct_visit(struct conntrack *ct, uint32_t idx, const uint32_t *now)
{
	uint32_t *sw = ct_slot_word(ct, idx);
	uint32_t w = __atomic_load_n(sw, __ATOMIC_ACQUIRE);

	switch (w & CT_ST_MASK) {
	case CT_ST_VALID:
		if (now != NULL && !ct_expired(ct, &ct->ent[idx], *now))
			return 0;
		/* Fails only if a duplicate resolver killed it first. */
		if (!__atomic_compare_exchange_n(sw, &w, (w & ~CT_ST_MASK) | CT_ST_DEAD,
						  false, __ATOMIC_RELAXED,
						  __ATOMIC_RELAXED)) {
			if (!ct->pend_mark[idx])
				ct_pend_add(ct, idx);
			return 0;
		}
		ct_pend_add(ct, idx);
		return 1;
	case CT_ST_DEAD: /* left by a duplicate-insert race */
		if (!ct->pend_mark[idx])
			ct_pend_add(ct, idx);
		return 0;
	default:
		return 0;
	}
}

unsigned ct_age(struct conntrack *ct, uint32_t now, unsigned max_slots)
{
	unsigned expired = 0;
	uint32_t n = RTE_MIN((uint32_t)max_slots, ct->cap);

	ct_reclaim(ct);
	for (uint32_t i = 0; i < n; i++) {
		expired += ct_visit(ct, ct->cursor, &now);
		if (++ct->cursor == ct->cap)
			ct->cursor = 0;
	}
	ct_seal(ct);
	return expired;
}

unsigned ct_flush(struct conntrack *ct)
{
	unsigned expired = 0;

	ct_reclaim(ct);
	for (uint32_t i = 0; i < ct->cap; i++)
		expired += ct_visit(ct, i, NULL);
	ct_seal(ct);
	return expired;
}

uint32_t ct_capacity(const struct conntrack *ct)
{
	return ct->cap;
}

uint32_t ct_count(const struct conntrack *ct)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < ct->cap; i++)
		n += (__atomic_load_n(ct_slot_word(ct, i), __ATOMIC_RELAXED) &
		      CT_ST_MASK) == CT_ST_VALID;
	return n;
}

const struct ct_entry *ct_slot(const struct conntrack *ct, uint32_t i)
{
	if (i >= ct->cap)
		return NULL;
	if ((__atomic_load_n(ct_slot_word(ct, i), __ATOMIC_ACQUIRE) & CT_ST_MASK) !=
	    CT_ST_VALID)
		return NULL;
	return &ct->ent[i];
}

uint32_t ct_now(void)
{
	static uint64_t hz; /* benign race: every writer stores the same value */
	uint64_t h = __atomic_load_n(&hz, __ATOMIC_RELAXED);

	if (h == 0) {
		h = rte_get_tsc_hz();
		if (h == 0) { /* before EAL init (tools, tests) */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			return (uint32_t)ts.tv_sec;
		}
		__atomic_store_n(&hz, h, __ATOMIC_RELAXED);
	}
	return (uint32_t)(rte_get_tsc_cycles() / h);
}
