/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nsdp/proto.h>

#include "policy.h"

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

/* Slots for n keys: a power of two, at most half full. */
static size_t slots_for(size_t n)
{
	size_t slots = 16;
	while (slots < n * 2)
		slots *= 2;
	return slots;
}

int pol_hash_build(struct pol_hash *h, const uint64_t *keys, const uint32_t *vals, size_t n)
{
	uint32_t slots = (uint32_t)slots_for(n);
	h->mask = slots - 1;
	h->n = 0;
	h->keys = malloc(sizeof(uint64_t) * slots);
	h->vals = calloc(slots, sizeof(uint32_t)); /* empty slots too: the wire form is deterministic */
	if (!h->keys || !h->vals)
		return -ENOMEM;
	for (uint32_t i = 0; i < slots; i++)
		h->keys[i] = POL_HASH_EMPTY;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = (uint32_t)pol_mix(keys[k]) & h->mask;
		while (h->keys[i] != POL_HASH_EMPTY && h->keys[i] != keys[k])
			i = (i + 1) & h->mask;
		h->n += h->keys[i] == POL_HASH_EMPTY;
		h->keys[i] = keys[k];
		h->vals[i] = vals[k];
	}
	return 0;
}

int pol_hash_replace(struct pol_hash *h, const uint64_t *keys, const uint32_t *vals, size_t n)
{
	struct pol_hash g = {0};
	int rc = pol_hash_build(&g, keys, vals, n);
	if (rc) {
		free(g.keys);
		free(g.vals);
		return rc;
	}
	free(h->keys);
	free(h->vals);
	*h = g;
	return 0;
}

int pol_hash_insert(struct pol_hash *h, uint64_t key, uint32_t val)
{
	uint32_t i = (uint32_t)pol_mix(key) & h->mask;
	while (h->keys && h->keys[i] != POL_HASH_EMPTY && h->keys[i] != key)
		i = (i + 1) & h->mask;
	if (h->keys && h->keys[i] == key) {
		h->vals[i] = val;
		return 0;
	}
	if (!h->keys || (h->n + 1ull) * 2 > h->mask + 1ull) {
		/* grow: rebuild from the live slots plus this key */
		uint32_t slots = h->keys ? h->mask + 1 : 0, n = 0;
		uint64_t *k = malloc(sizeof(uint64_t) * (h->n + 1ull));
		uint32_t *v = malloc(sizeof(uint32_t) * (h->n + 1ull));
		int rc = -ENOMEM;
		if (k && v) {
			for (uint32_t s = 0; s < slots; s++)
				if (h->keys[s] != POL_HASH_EMPTY) {
					k[n] = h->keys[s];
					v[n++] = h->vals[s];
				}
			k[n] = key;
			v[n++] = val;
			rc = pol_hash_replace(h, k, v, n);
		}
		free(k);
		free(v);
		return rc;
	}
	h->keys[i] = key;
	h->vals[i] = val;
	h->n++;
	return 0;
}

void pol_hash_remove(struct pol_hash *h, uint64_t key)
{
	if (!h->keys)
		return;
	uint32_t i = (uint32_t)pol_mix(key) & h->mask;
	while (h->keys[i] != key) {
		if (h->keys[i] == POL_HASH_EMPTY)
			return;
		i = (i + 1) & h->mask;
	}
	/* Backward shift: a later entry of the run moves into the hole
	 * unless its home slot lies cyclically in (hole, its slot]. */
	for (uint32_t j = (i + 1) & h->mask; h->keys[j] != POL_HASH_EMPTY; j = (j + 1) & h->mask) {
		uint32_t home = (uint32_t)pol_mix(h->keys[j]) & h->mask;
		if (((j - home) & h->mask) >= ((j - i) & h->mask)) {
			h->keys[i] = h->keys[j];
			h->vals[i] = h->vals[j];
			i = j;
		}
	}
	h->keys[i] = POL_HASH_EMPTY;
	h->vals[i] = 0;
	h->n--;
}

/* Peer class of ip, whose pod index (pol_pod_index) is pod. */
static inline uint32_t peer_of(const struct pol_tables *t, uint32_t pod, uint32_t ip)
{
	if (pod != POL_NONE)
		return t->pods[pod].peer;
	/* Last range starting at or below the address. */
	return t->cidr_peer[pol_range_index(t->cidr_lo, t->n_cidr, ntohl(ip))];
}

uint32_t pol_peer_class(const struct pol_tables *t, uint32_t ip)
{
	return peer_of(t, pol_pod_index(t, ip), ip);
}

/* Port maps distinguish TCP, UDP and SCTP ports; anything else is one range. */
static inline void norm_proto(uint8_t *proto, uint16_t *port)
{
	if (*proto != 6 && *proto != 17 && *proto != 132) {
		*proto = POL_PROTO_OTHER;
		*port = 0;
	}
}

const struct pol_range *pol_side(const struct pol_tables *t, uint32_t subject,
				 unsigned dir, uint32_t peer, uint8_t proto,
				 uint16_t port)
{
	uint32_t m = pol_hash_get(&t->maps, pol_map_key(subject, dir, peer));
	if (m == POL_NONE)
		m = t->default_map[subject];
	norm_proto(&proto, &port);
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

/* One side's answer, whichever layout gave it. */
struct side {
	bool on; /* the side applies (its subject is a pod) */
	uint8_t verdict;
	uint32_t rule, audit;
};

static inline void combine(const struct side *eg, const struct side *in, struct pol_result *res)
{
	if (eg->on && eg->verdict == POL_DENY) {
		*res = (struct pol_result){POL_DENY, POL_EGRESS, eg->rule};
	} else if (in->on && in->verdict == POL_DENY) {
		*res = (struct pol_result){POL_DENY, POL_INGRESS, in->rule};
	} else if (eg->on && eg->audit != POL_NONE) {
		*res = (struct pol_result){POL_AUDIT, POL_EGRESS, eg->audit};
	} else if (in->on && in->audit != POL_NONE) {
		*res = (struct pol_result){POL_AUDIT, POL_INGRESS, in->audit};
	} else if (in->on) {
		*res = (struct pol_result){POL_ALLOW, POL_INGRESS, in->rule};
	} else if (eg->on) {
		*res = (struct pol_result){POL_ALLOW, POL_EGRESS, eg->rule};
	} else {
		*res = (struct pol_result){POL_ALLOW, POL_INGRESS, POL_RULE_UNRESTRICTED};
	}
}

static inline struct side side_of(const struct pol_range *r)
{
	return (struct side){true, r->verdict, r->rule, r->audit_rule};
}

/* ---- the lookup layout (pol_ix, see policy.h) ------------------------------- */

#define WORD_KEY(proto, port) ((uint64_t)(proto) << 56 | (uint64_t)(port) << 40)
#define WORDS_PER_LINE 8

/* Probe from slot i (addr_slot(ip)). */
static inline const struct pol_ix_addr *ix_addr(const struct pol_ix *x, uint32_t i, uint32_t ip)
{
	for (;; i = (i + 1) & x->addr_mask) {
		const struct pol_ix_addr *a = &x->addr[i];
		if (a->subject[0] == POL_NONE)
			return NULL;
		if (a->ip == ip)
			return a;
	}
}

/* Probe from slot i (map_slot(subject, dir, peer)); a miss: the subject's default. */
static inline struct pol_ix_ref ix_map(const struct pol_ix *x, uint32_t i, uint32_t subject,
				       unsigned dir, uint32_t peer)
{
	uint64_t key = pol_map_key(subject, dir, peer);
	for (;; i = (i + 1) & x->map_mask) {
		const struct pol_ix_map *m = &x->maps[i];
		if (m->key == key)
			return (struct pol_ix_ref){m->blk, m->n};
		if (m->key == POL_HASH_EMPTY)
			return x->dflt[subject];
	}
}

/* The range of (proto, port) in a block: the last word at or below it. */
static inline struct side ix_side(const struct pol_ix *x, struct pol_ix_ref r, uint8_t proto,
				  uint16_t port)
{
	const uint64_t *w = x->words + r.blk;
	uint64_t want = WORD_KEY(proto, port) | 0xffffffffffull;
	uint32_t i;
	if (r.n <= 2 * WORDS_PER_LINE) { /* no branch to mispredict */
		uint32_t c = 0;
		for (uint32_t k = 0; k < r.n; k++)
			c += w[k] <= want;
		i = c ? c - 1 : 0;
	} else {
		uint32_t lo = 0, hi = r.n;
		while (hi - lo > 1) {
			uint32_t mid = (lo + hi) / 2;
			if (w[mid] <= want)
				lo = mid;
			else
				hi = mid;
		}
		i = lo;
	}
	uint8_t fl = (uint8_t)(w[i] >> 32);
	return (struct side){true, fl & 3, (uint32_t)w[i],
			     (fl & POL_IX_AUDIT) ? x->audit[r.blk + i] : POL_NONE};
}

/* One query's way through pol_ix: what each stage found for the next one. */
struct walk {
	uint32_t slot[2];                    /* address slots of src, dst; then map slots */
	const struct pol_ix_addr *subj[2];   /* per direction: the subject pod, or NULL */
	uint32_t peer[2];                    /* per direction: the peer class */
	struct pol_ix_ref ref[2];            /* per direction: the map's block */
};

static inline uint32_t addr_slot(const struct pol_ix *x, uint32_t ip)
{
	return (uint32_t)pol_mix(ip) & x->addr_mask;
}

static inline uint32_t map_slot(const struct pol_ix *x, uint32_t subject, unsigned dir,
				uint32_t peer)
{
	return (uint32_t)pol_mix(pol_map_key(subject, dir, peer)) & x->map_mask;
}

/*
 * Decide q[0..n) through t->ix in four passes over the queries, each
 * reading what the previous one prefetched: address slots, map slots and
 * defaults, range blocks, then the decision. A side's subject is the pod
 * it leaves (egress) or enters (ingress); its peer is the other address.
 */
static inline __attribute__((always_inline)) void
ix_decide(const struct pol_tables *t, const struct pol_query *q, unsigned n, struct walk *wk,
	  struct pol_result *res)
{
	const struct pol_ix *x = t->ix;

	for (unsigned i = 0; i < n; i++) {
		wk[i].slot[0] = addr_slot(x, q[i].src);
		wk[i].slot[1] = addr_slot(x, q[i].dst);
		__builtin_prefetch(&x->addr[wk[i].slot[0]]);
		__builtin_prefetch(&x->addr[wk[i].slot[1]]);
	}
	for (unsigned i = 0; i < n; i++) {
		struct walk *k = &wk[i];
		const struct pol_ix_addr *sa = ix_addr(x, k->slot[0], q[i].src);
		const struct pol_ix_addr *da = ix_addr(x, k->slot[1], q[i].dst);
		k->subj[POL_INGRESS] = da;
		k->subj[POL_EGRESS] = sa;
		if (da)
			k->peer[POL_INGRESS] = sa ? sa->peer : peer_of(t, POL_NONE, q[i].src);
		if (sa)
			k->peer[POL_EGRESS] = da ? da->peer : peer_of(t, POL_NONE, q[i].dst);
		for (unsigned dir = 0; dir < 2; dir++) {
			if (!k->subj[dir])
				continue;
			uint32_t subject = k->subj[dir]->subject[dir];
			k->slot[dir] = map_slot(x, subject, dir, k->peer[dir]);
			__builtin_prefetch(&x->maps[k->slot[dir]]);
			__builtin_prefetch(&x->dflt[subject]);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		struct walk *k = &wk[i];
		for (unsigned dir = 0; dir < 2; dir++) {
			if (!k->subj[dir])
				continue;
			k->ref[dir] = ix_map(x, k->slot[dir], k->subj[dir]->subject[dir], dir,
					     k->peer[dir]);
			__builtin_prefetch(&x->words[k->ref[dir].blk]);
			if (k->ref[dir].n > WORDS_PER_LINE)
				__builtin_prefetch(&x->words[k->ref[dir].blk + WORDS_PER_LINE]);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct walk *k = &wk[i];
		struct side sd[2] = {{0}, {0}};
		uint8_t proto = q[i].proto;
		uint16_t port = q[i].dport;
		norm_proto(&proto, &port);
		for (unsigned dir = 0; dir < 2; dir++)
			if (k->subj[dir])
				sd[dir] = ix_side(x, k->ref[dir], proto, port);
		combine(&sd[POL_EGRESS], &sd[POL_INGRESS], &res[i]);
	}
}

/* The canonical arrays' answer (tables nobody indexed). */
static void canon_decide(const struct pol_tables *t, const struct pol_query *q,
			 struct pol_result *res)
{
	uint32_t sp = pol_pod_index(t, q->src), dp = pol_pod_index(t, q->dst);
	struct side eg = {0}, in = {0};

	/* Each address is looked up once: its pod index gives its peer class. */
	if (sp != POL_NONE)
		eg = side_of(pol_side(t, t->pods[sp].subject[POL_EGRESS], POL_EGRESS,
				      peer_of(t, dp, q->dst), q->proto, q->dport));
	if (dp != POL_NONE)
		in = side_of(pol_side(t, t->pods[dp].subject[POL_INGRESS], POL_INGRESS,
				      peer_of(t, sp, q->src), q->proto, q->dport));
	combine(&eg, &in, res);
}

void pol_decide_bulk(const struct pol_tables *t, const struct pol_query *q, unsigned n,
		     struct pol_result *res)
{
	struct walk wk[POL_BULK_MAX];

	for (unsigned b = 0; b < n; b += POL_BULK_MAX) {
		unsigned cnt = n - b < POL_BULK_MAX ? n - b : POL_BULK_MAX;
		if (t->ix) {
			ix_decide(t, q + b, cnt, wk, res + b);
			continue;
		}
		for (unsigned i = 0; i < cnt; i++)
			canon_decide(t, &q[b + i], &res[b + i]);
	}
}

void pol_decide(const struct pol_tables *t, uint32_t src, uint32_t dst, uint8_t proto,
		uint16_t dport, struct pol_result *res)
{
	struct pol_query q = {src, dst, proto, dport};
	struct walk wk;

	if (t->ix)
		ix_decide(t, &q, 1, &wk, res);
	else
		canon_decide(t, &q, res);
}

static void ix_free(struct pol_ix *x)
{
	if (!x)
		return;
	free(x->addr);
	free(x->maps);
	free(x->dflt);
	free(x->words);
	free(x->audit);
	free(x);
}

/* Zeroed, 64-byte aligned. */
static void *alloc_lines(size_t bytes)
{
	bytes = (bytes + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, bytes ? bytes : 64);
	if (p)
		memset(p, 0, bytes);
	return p;
}

/* Slots for the distinct keys of a canonical hash (each counted once). */
static size_t slots_of(const struct pol_hash *h)
{
	size_t n = 0;
	for (uint32_t i = 0; h->keys && i <= h->mask; i++)
		n += h->keys[i] != POL_HASH_EMPTY;
	return slots_for(n);
}

int pol_index(struct pol_tables *t)
{
	struct pol_ix *x = calloc(1, sizeof(*x));
	uint32_t *blk = calloc(t->n_maps + 1ull, sizeof(uint32_t));
	int rc = -ENOMEM;
	if (!x || !blk)
		goto out;

	/* Blocks: up to 8 ranges within one line, longer ones from a line start. */
	uint64_t cur = 0;
	for (uint32_t m = 0; m < t->n_maps; m++) {
		uint32_t n = t->map_first[m + 1] - t->map_first[m];
		if (n > WORDS_PER_LINE || cur % WORDS_PER_LINE + n > WORDS_PER_LINE)
			cur = (cur + WORDS_PER_LINE - 1) / WORDS_PER_LINE * WORDS_PER_LINE;
		blk[m] = (uint32_t)cur;
		cur += n;
		if (n == 0 || cur > UINT32_MAX) {
			rc = -EINVAL;
			goto out;
		}
	}
	x->words = alloc_lines(sizeof(uint64_t) * cur);
	x->audit = calloc(cur + 1, sizeof(uint32_t));
	x->dflt = calloc(t->n_subjects + 1ull, sizeof(*x->dflt));
	if (!x->words || !x->audit || !x->dflt)
		goto out;
	for (uint32_t m = 0; m < t->n_maps; m++)
		for (uint32_t i = t->map_first[m], w = blk[m]; i < t->map_first[m + 1]; i++, w++) {
			const struct pol_range *r = &t->ranges[i];
			if (r->verdict != POL_ALLOW && r->verdict != POL_DENY) {
				rc = -EINVAL;
				goto out;
			}
			uint8_t fl = r->verdict | (r->audit_rule != POL_NONE ? POL_IX_AUDIT : 0);
			x->words[w] = WORD_KEY(r->proto, r->lo) | (uint64_t)fl << 32 | r->rule;
			x->audit[w] = r->audit_rule;
		}
	for (uint32_t s = 0; s < t->n_subjects; s++) {
		uint32_t m = t->default_map[s];
		x->dflt[s] = (struct pol_ix_ref){blk[m], t->map_first[m + 1] - t->map_first[m]};
	}

	/* Every distinct key with the value pol_hash_get() answers for it. */
	size_t slots = slots_of(&t->maps);
	x->map_mask = (uint32_t)slots - 1;
	x->maps = alloc_lines(sizeof(*x->maps) * slots);
	if (!x->maps)
		goto out;
	for (size_t i = 0; i < slots; i++)
		x->maps[i].key = POL_HASH_EMPTY;
	for (uint32_t k = 0; t->maps.keys && k <= t->maps.mask; k++) {
		uint64_t key = t->maps.keys[k];
		uint32_t m = key == POL_HASH_EMPTY ? POL_NONE : pol_hash_get(&t->maps, key);
		if (m == POL_NONE)
			continue;
		if (m >= t->n_maps) {
			rc = -EINVAL;
			goto out;
		}
		uint32_t i = (uint32_t)pol_mix(key) & x->map_mask;
		while (x->maps[i].key != POL_HASH_EMPTY && x->maps[i].key != key)
			i = (i + 1) & x->map_mask;
		x->maps[i] = (struct pol_ix_map){key, blk[m], t->map_first[m + 1] - t->map_first[m]};
	}

	slots = slots_of(&t->ip);
	x->addr_mask = (uint32_t)slots - 1;
	x->addr = alloc_lines(sizeof(*x->addr) * slots);
	if (!x->addr)
		goto out;
	for (size_t i = 0; i < slots; i++)
		x->addr[i].subject[0] = POL_NONE;
	for (uint32_t k = 0; t->ip.keys && k <= t->ip.mask; k++) {
		uint64_t key = t->ip.keys[k];
		/* A key above 32 bits matches no address. */
		uint32_t pod = key > UINT32_MAX ? POL_NONE : pol_hash_get(&t->ip, key);
		if (pod == POL_NONE)
			continue;
		if (pod >= t->n_pods || t->pods[pod].subject[0] >= t->n_subjects ||
		    t->pods[pod].subject[1] >= t->n_subjects) {
			rc = -EINVAL;
			goto out;
		}
		const struct pol_pod *p = &t->pods[pod];
		uint32_t i = (uint32_t)pol_mix(key) & x->addr_mask;
		while (x->addr[i].subject[0] != POL_NONE && x->addr[i].ip != (uint32_t)key)
			i = (i + 1) & x->addr_mask;
		x->addr[i] = (struct pol_ix_addr){(uint32_t)key, p->peer,
						  {p->subject[0], p->subject[1]}};
	}
	ix_free(t->ix);
	t->ix = x;
	x = NULL;
	rc = 0;
out:
	ix_free(x);
	free(blk);
	return rc;
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
	ix_free(t->ix);
	if (t->borrowed) {
		free(t);
		return;
	}
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

/* ---- wire form ------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t off;
};

static void put(struct wbuf *w, const void *d, size_t n)
{
	if (w->p)
		memcpy(w->p + w->off, d, n);
	w->off += n;
}

/* Writes (w->p NULL: measures) the blob. */
static void emit(const struct pol_tables *t, struct wbuf *w)
{
	struct nsdp_policy_hdr h = {
		.magic = NSDP_POLICY_MAGIC,
		.version = NSDP_POLICY_VERSION,
		.n_pods = t->n_pods,
		.n_cidr = t->n_cidr,
		.n_subjects = t->n_subjects,
		.n_maps = t->n_maps,
		.n_ranges = t->n_ranges,
		.n_rules = t->n_rules,
		.ip_slots = t->ip.mask + 1,
		.map_slots = t->maps.mask + 1,
	};
	for (uint32_t i = 0; i < t->n_rules; i++)
		h.names_len += (uint32_t)strlen(t->rules[i]) + 1;
	put(w, &h, sizeof(h));
	put(w, t->ip.keys, sizeof(uint64_t) * h.ip_slots);
	put(w, t->ip.vals, sizeof(uint32_t) * h.ip_slots);
	put(w, t->maps.keys, sizeof(uint64_t) * h.map_slots);
	put(w, t->maps.vals, sizeof(uint32_t) * h.map_slots);
	for (uint32_t i = 0; i < t->n_pods; i++) {
		uint32_t v[3] = {t->pods[i].peer, t->pods[i].subject[0], t->pods[i].subject[1]};
		put(w, v, sizeof(v));
	}
	put(w, t->cidr_lo, sizeof(uint32_t) * t->n_cidr);
	put(w, t->cidr_peer, sizeof(uint32_t) * t->n_cidr);
	put(w, t->default_map, sizeof(uint32_t) * t->n_subjects);
	put(w, t->map_first, sizeof(uint32_t) * (t->n_maps + 1));
	for (uint32_t i = 0; i < t->n_ranges; i++) {
		const struct pol_range *r = &t->ranges[i];
		struct nsdp_pol_range x = {r->proto, r->verdict, r->lo, r->hi, 0, r->rule,
					   r->audit_rule};
		put(w, &x, sizeof(x));
	}
	for (uint32_t i = 0; i < t->n_rules; i++)
		put(w, t->rules[i], strlen(t->rules[i]) + 1);
}

int pol_serialize(const struct pol_tables *t, void **out, size_t *len)
{
	struct wbuf w = {NULL, 0};
	emit(t, &w);
	w.p = malloc(w.off);
	if (!w.p)
		return -ENOMEM;
	*len = w.off;
	w.off = 0;
	emit(t, &w);
	*out = w.p;
	return 0;
}

struct rbuf {
	const uint8_t *p;
	size_t off, len;
};

/* Copy n bytes out into a new allocation (n may be 0). */
static void *take(struct rbuf *r, uint64_t n)
{
	if (n > r->len - r->off)
		return NULL;
	void *d = malloc(n ? n : 1);
	if (d)
		memcpy(d, r->p + r->off, n);
	r->off += n;
	return d;
}

static struct pol_tables *fail(struct pol_tables *t, char *err, size_t errlen,
			       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct pol_tables *fail(struct pol_tables *t, char *err, size_t errlen,
			       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	pol_tables_free(t);
	errno = EINVAL;
	return NULL;
}

static bool hash_ok(const struct pol_hash *h, uint32_t max_val)
{
	bool empty = false;
	for (uint32_t i = 0; i <= h->mask; i++) {
		if (h->keys[i] == POL_HASH_EMPTY)
			empty = true;
		else if (h->vals[i] >= max_val)
			return false;
	}
	return empty; /* a lookup miss must terminate */
}

struct pol_tables *pol_deserialize(const void *blob, size_t len, uint64_t generation,
				   char *err, size_t errlen)
{
	struct nsdp_policy_hdr h;
	struct rbuf r = {blob, sizeof(h), len};
	if (len < sizeof(h))
		return fail(NULL, err, errlen, "policy: %zu bytes, shorter than its header", len);
	memcpy(&h, blob, sizeof(h));
	if (h.magic != NSDP_POLICY_MAGIC || (h.version != NSDP_POLICY_VERSION && h.version != 1))
		return fail(NULL, err, errlen, "policy: bad magic/version %#x/%u", h.magic,
			    h.version);
	/* Version 1 (a policy cache written before audit mode): shorter ranges. */
	size_t rsize = h.version == 1 ? NSDP_POL_RANGE_V1_SIZE : sizeof(struct nsdp_pol_range);
	uint64_t want = sizeof(h) + 12ull * h.ip_slots + 12ull * h.map_slots + 12ull * h.n_pods +
			8ull * h.n_cidr + 4ull * h.n_subjects + 4ull * (h.n_maps + 1ull) +
			rsize * (uint64_t)h.n_ranges + h.names_len;
	if (want != len)
		return fail(NULL, err, errlen, "policy: %zu bytes, the header describes %llu", len,
			    (unsigned long long)want);
	if (!h.ip_slots || (h.ip_slots & (h.ip_slots - 1)) || !h.map_slots ||
	    (h.map_slots & (h.map_slots - 1)))
		return fail(NULL, err, errlen, "policy: hash sizes must be powers of two");
	if (!h.n_cidr || (!h.n_maps && h.n_subjects) || h.n_rules <= POL_RULE_UNRESTRICTED)
		return fail(NULL, err, errlen, "policy: empty address, map or rule table");

	struct pol_tables *t = calloc(1, sizeof(*t));
	if (!t)
		return fail(NULL, err, errlen, "policy: out of memory");
	t->generation = generation;
	t->ip.mask = h.ip_slots - 1;
	t->maps.mask = h.map_slots - 1;
	t->ip.keys = take(&r, 8ull * h.ip_slots);
	t->ip.vals = take(&r, 4ull * h.ip_slots);
	t->maps.keys = take(&r, 8ull * h.map_slots);
	t->maps.vals = take(&r, 4ull * h.map_slots);
	uint32_t *pods = take(&r, 12ull * h.n_pods);
	t->cidr_lo = take(&r, 4ull * h.n_cidr);
	t->cidr_peer = take(&r, 4ull * h.n_cidr);
	t->default_map = take(&r, 4ull * h.n_subjects);
	t->map_first = take(&r, 4ull * (h.n_maps + 1ull));
	uint8_t *rg = take(&r, rsize * (uint64_t)h.n_ranges);
	char *names = take(&r, h.names_len);
	t->pods = calloc(h.n_pods + 1, sizeof(*t->pods));
	t->ranges = calloc(h.n_ranges + 1, sizeof(*t->ranges));
	t->rules = calloc(h.n_rules + 1, sizeof(*t->rules));
	if (!t->ip.keys || !t->ip.vals || !t->maps.keys || !t->maps.vals || !pods ||
	    !t->cidr_lo || !t->cidr_peer || !t->default_map || !t->map_first || !rg || !names ||
	    !t->pods || !t->ranges || !t->rules) {
		free(pods);
		free(rg);
		free(names);
		return fail(t, err, errlen, "policy: out of memory");
	}
	t->n_pods = h.n_pods;
	t->n_cidr = h.n_cidr;
	t->n_subjects = h.n_subjects;
	t->n_maps = h.n_maps;
	t->n_ranges = h.n_ranges;
	for (uint32_t i = 0; i < h.n_pods; i++) {
		t->pods[i].peer = pods[3 * i];
		t->pods[i].subject[0] = pods[3 * i + 1];
		t->pods[i].subject[1] = pods[3 * i + 2];
	}
	free(pods);
	for (uint32_t i = 0; i < h.n_ranges; i++) {
		struct nsdp_pol_range x = {.audit_rule = POL_NONE};
		memcpy(&x, rg + rsize * i, rsize);
		t->ranges[i] = (struct pol_range){x.proto, x.verdict, x.lo, x.hi, 0, x.rule,
						  x.audit_rule};
	}
	free(rg);
	/* Rule names: exactly n_rules strings. */
	uint32_t k = 0;
	for (uint32_t off = 0; off < h.names_len && k < h.n_rules; k++) {
		const char *end = memchr(names + off, 0, h.names_len - off);
		if (!end)
			break;
		t->rules[k] = strdup(names + off);
		if (!t->rules[k])
			break;
		t->n_rules = k + 1;
		off = (uint32_t)(end - names) + 1;
	}
	free(names);
	if (t->n_rules != h.n_rules)
		return fail(t, err, errlen, "policy: rule names do not match n_rules %u", h.n_rules);

	if (!hash_ok(&t->ip, h.n_pods) || !hash_ok(&t->maps, h.n_maps))
		return fail(t, err, errlen, "policy: hash table with a bad value or no free slot");
	for (uint32_t i = 0; i < h.n_pods; i++)
		if (t->pods[i].subject[0] >= h.n_subjects || t->pods[i].subject[1] >= h.n_subjects)
			return fail(t, err, errlen, "policy: pod %u: subject class out of range", i);
	if (t->cidr_lo[0] != 0)
		return fail(t, err, errlen, "policy: address ranges must start at 0.0.0.0");
	for (uint32_t i = 1; i < h.n_cidr; i++)
		if (t->cidr_lo[i] <= t->cidr_lo[i - 1])
			return fail(t, err, errlen, "policy: address ranges not sorted");
	for (uint32_t i = 0; i < h.n_subjects; i++)
		if (t->default_map[i] >= h.n_maps)
			return fail(t, err, errlen, "policy: default map out of range");
	if (t->map_first[0] != 0 || t->map_first[h.n_maps] != h.n_ranges)
		return fail(t, err, errlen, "policy: maps do not cover the ranges");
	for (uint32_t m = 0; m < h.n_maps; m++) {
		uint32_t a = t->map_first[m], b = t->map_first[m + 1];
		if (b <= a || b > h.n_ranges)
			return fail(t, err, errlen, "policy: map %u is empty or out of range", m);
		for (uint32_t i = a; i < b; i++) {
			const struct pol_range *x = &t->ranges[i];
			bool first = i == a || x->proto != t->ranges[i - 1].proto;
			if ((x->verdict != POL_ALLOW && x->verdict != POL_DENY) ||
			    x->rule >= t->n_rules || x->hi < x->lo ||
			    (x->audit_rule != POL_NONE &&
			     (x->audit_rule >= t->n_rules || x->verdict != POL_ALLOW)) ||
			    (first && x->lo != 0) ||
			    (!first && x->lo != t->ranges[i - 1].hi + 1) ||
			    (i > a && x->proto < t->ranges[i - 1].proto))
				return fail(t, err, errlen, "policy: map %u range %u is invalid", m,
					    i - a);
		}
	}
	/* Validated: only memory can fail. */
	if (pol_index(t))
		return fail(t, err, errlen, "policy: out of memory for its lookup layout");
	return t;
}
