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

int pol_hash_build(struct pol_hash *h, const uint64_t *keys, const uint32_t *vals, size_t n)
{
	uint32_t slots = 16;
	while (slots < n * 2)
		slots *= 2;
	h->mask = slots - 1;
	h->n = (uint32_t)n;
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
		h->keys[i] = keys[k];
		h->vals[i] = vals[k];
	}
	return 0;
}

/* Peer class of ip, whose pod index (pol_pod_index) is pod. */
static inline uint32_t peer_of(const struct pol_tables *t, uint32_t pod, uint32_t ip)
{
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

uint32_t pol_peer_class(const struct pol_tables *t, uint32_t ip)
{
	return peer_of(t, pol_pod_index(t, ip), ip);
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
		m = t->default_map[subject];
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

	/* Each address is looked up once: its pod index gives its peer class. */
	if (sp != POL_NONE)
		eg = pol_side(t, t->pods[sp].subject[POL_EGRESS], POL_EGRESS,
			      peer_of(t, dp, dst), proto, dport);
	if (dp != POL_NONE)
		in = pol_side(t, t->pods[dp].subject[POL_INGRESS], POL_INGRESS,
			      peer_of(t, sp, src), proto, dport);

	if (eg && eg->verdict == POL_DENY) {
		*res = (struct pol_result){POL_DENY, POL_EGRESS, eg->rule};
	} else if (in && in->verdict == POL_DENY) {
		*res = (struct pol_result){POL_DENY, POL_INGRESS, in->rule};
	} else if (eg && eg->audit_rule != POL_NONE) {
		*res = (struct pol_result){POL_AUDIT, POL_EGRESS, eg->audit_rule};
	} else if (in && in->audit_rule != POL_NONE) {
		*res = (struct pol_result){POL_AUDIT, POL_INGRESS, in->audit_rule};
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
	return t;
}
