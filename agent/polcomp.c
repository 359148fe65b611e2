/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy compiler. Steps:
 *  1. catalogue every rule of every policy with its tier, direction,
 *     action and the peer *atoms* it matches (a deduplicated peer spec:
 *     pods by selector in a namespace, namespaces by selector, pods by
 *     namespace and pod selector, or a CIDR with exceptions);
 *  2. peer classes: each pod's sorted atom list (+ the named ports that
 *     policies refer to), and each non-pod address range's CIDR atoms,
 *     interned;
 *  3. subject classes: per pod and direction, the ANPs, NetworkPolicies and
 *     BANP selecting it (+ its referenced named ports for ingress), interned;
 *  4. per subject class, one port map per distinct projection of the peer
 *     classes onto the atoms its rules use; an empty projection is the
 *     subject's default map. Maps with equal contents are shared. Only
 *     peers holding one of those atoms are projected (an index atom ->
 *     peer classes): the others get the default map.
 * A port map is computed by splitting (protocol, port) space at every
 * boundary of the matching rules and evaluating the tiers on each piece.
 *
 * Steps 2 and 3 work per pod *identity* (namespace, labels, container
 * ports): selector matches and subject signatures are computed once per
 * identity, the pod's own addresses only add its ipBlock atoms.
 *
 * Across compiles (struct pol_ctx) the context keeps each port map's
 * contents keyed by everything that computes it, and, when the caller
 * gives pod versions, each pod version's identity: an unchanged pod is
 * not read for its labels again. A full compile recomputes everything
 * else, from indexed, per-identity work; its output is the same as a
 * fresh compile's, byte for byte.
 *
 * With a rest version the context also keeps the whole compile (struct
 * build) and later compiles update it in place (polcomp.h): pods_only()
 * after pods and namespaces changed, policy_update() after policies did.
 * For the latter, policies live in *slots* (a policy's index at the full
 * compile; a changed one's rules replace its slot's, a new one takes a
 * freed slot or a new one), subject signatures list slots, rules carry
 * their evaluation order (crule.ord) instead of relying on their index,
 * rule names keep their ids, and the atoms own copies of what they
 * match, so that none of it points into a cluster that is gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "polcomp.h"

/* ---- small containers --------------------------------------------------- */

#define VEC(T)                                                                 \
	struct {                                                               \
		T *p;                                                          \
		size_t n, cap;                                                 \
	}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

#define VPUSH(v, x)                                                            \
	(grow((void **)&(v).p, &(v).cap, (v).n + 1, sizeof(*(v).p)) ?          \
		 ((v).p[(v).n++] = (x), true) :                                \
		 false)

typedef VEC(uint32_t) u32vec;

/* A hash of n u32 words: a word at a time (the interner's hot loop),
 * then mixed so that the low bits, which pick the slot, depend on all. */
static uint64_t hash_u32(const uint32_t *w, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n;
	for (size_t i = 0; i < n; i++)
		h = (h ^ w[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Interns u32 sequences: equal sequences get the same id. */
struct interner {
	VEC(uint32_t) pool;  /* sequences back to back */
	VEC(uint32_t) off;   /* id -> offset in pool; off[n] = end */
	uint32_t *slots;     /* open addressing: id + 1, 0 = empty */
	uint32_t mask;
	uint32_t n;
};

static bool intern_init(struct interner *in)
{
	memset(in, 0, sizeof(*in));
	in->mask = 1023;
	in->slots = calloc(in->mask + 1, sizeof(uint32_t));
	return in->slots && VPUSH(in->off, 0);
}

static void intern_free(struct interner *in)
{
	free(in->pool.p);
	free(in->off.p);
	free(in->slots);
}

static const uint32_t *intern_get(const struct interner *in, uint32_t id, uint32_t *len)
{
	*len = in->off.p[id + 1] - in->off.p[id];
	return in->pool.p + in->off.p[id];
}

static uint32_t intern_slot(const struct interner *in, const uint32_t *s, uint32_t len,
			    uint64_t h)
{
	for (uint32_t i = (uint32_t)h & in->mask;; i = (i + 1) & in->mask) {
		uint32_t v = in->slots[i];
		if (!v)
			return i;
		uint32_t l;
		const uint32_t *o = intern_get(in, v - 1, &l);
		if (l == len && (!len || !memcmp(o, s, len * sizeof(*s))))
			return i;
	}
}

/* Returns the id of sequence s, adding it if new; UINT32_MAX on ENOMEM. */
static uint32_t intern(struct interner *in, const uint32_t *s, uint32_t len)
{
	uint64_t h = hash_u32(s, len);
	uint32_t i = intern_slot(in, s, len, h);
	if (in->slots[i])
		return in->slots[i] - 1;
	if ((in->n + 1) * 2 > in->mask) { /* rehash at 50% */
		uint32_t nm = in->mask * 2 + 1;
		uint32_t *ns = calloc(nm + 1, sizeof(uint32_t));
		if (!ns)
			return UINT32_MAX;
		uint32_t *old = in->slots;
		in->slots = ns;
		in->mask = nm;
		for (uint32_t id = 0; id < in->n; id++) {
			uint32_t l;
			const uint32_t *o = intern_get(in, id, &l);
			uint64_t hh = hash_u32(o, l);
			in->slots[intern_slot(in, o, l, hh)] = id + 1;
		}
		free(old);
		i = intern_slot(in, s, len, h);
	}
	for (uint32_t k = 0; k < len; k++)
		if (!VPUSH(in->pool, s[k]))
			return UINT32_MAX;
	if (!VPUSH(in->off, (uint32_t)in->pool.n))
		return UINT32_MAX;
	in->slots[i] = ++in->n;
	return in->n - 1;
}

/* Append str to v as its bytes packed into u32s, then its length. */
static bool pack_str(u32vec *v, const char *str)
{
	size_t len = strlen(str);
	for (size_t i = 0; i < len; i += 4) {
		uint32_t w = 0;
		memcpy(&w, str + i, len - i < 4 ? len - i : 4);
		if (!VPUSH(*v, w))
			return false;
	}
	return VPUSH(*v, (uint32_t)len);
}

/* Interns a string (packed as pack_str does). */
static uint32_t intern_str(struct interner *in, const char *str, u32vec *tmp)
{
	tmp->n = 0;
	return pack_str(tmp, str) ? intern(in, tmp->p, (uint32_t)tmp->n) : UINT32_MAX;
}

/* Index of sequence s in the interner, or UINT32_MAX when absent. */
static uint32_t intern_find(const struct interner *in, const uint32_t *s, uint32_t len)
{
	uint32_t v = in->slots[intern_slot(in, s, len, hash_u32(s, len))];
	return v ? v - 1 : UINT32_MAX;
}

/*
 * A memo: u32 sequence keys (interned) -> u32 sequence values. pol_ctx
 * holds two: the previous compile's, looked up, and this compile's,
 * filled with every entry it used; the older one is then dropped.
 */
struct memo {
	struct interner keys;
	VEC(uint32_t) val;  /* values back to back */
	VEC(uint32_t) voff; /* key id -> offset in val; voff[n] = end */
};

static bool memo_init(struct memo *m)
{
	memset(m, 0, sizeof(*m));
	return intern_init(&m->keys) && VPUSH(m->voff, 0);
}

static void memo_free(struct memo *m)
{
	intern_free(&m->keys);
	free(m->val.p);
	free(m->voff.p);
}

/* The value stored for key, or NULL. */
static const uint32_t *memo_get(const struct memo *m, const u32vec *key, uint32_t *len)
{
	if (!m || !m->keys.slots)
		return NULL;
	uint32_t id = intern_find(&m->keys, key->p, (uint32_t)key->n);
	if (id == UINT32_MAX)
		return NULL;
	*len = m->voff.p[id + 1] - m->voff.p[id];
	return m->val.p + m->voff.p[id];
}

/* Store key -> val unless key is there already. false on ENOMEM. */
static bool memo_put(struct memo *m, const u32vec *key, const uint32_t *val, uint32_t len)
{
	size_t before = m->keys.n;
	if (intern(&m->keys, key->p, (uint32_t)key->n) == UINT32_MAX)
		return false;
	if (m->keys.n == before)
		return true;
	for (uint32_t k = 0; k < len; k++)
		if (!VPUSH(m->val, val[k]))
			return false;
	return VPUSH(m->voff, (uint32_t)m->val.n);
}

/*
 * What lives across compiles, as two generations: gen[cur] holds what
 * the last compile used; a compile looks things up there and records
 * what it uses in the other, which then replaces it. So the context holds
 * one compile's worth of entries, and nothing of objects gone.
 */
struct ctx_gen {
	struct memo maps;        /* port map key -> contents (build_map) */
	struct interner idents;  /* identity id -> content (pod_identity) */
	/* per pod, in the caller's order: its version, identity id and
	 * first address (pod_identity); NULL without versions */
	uint64_t *pod_ver;
	uint32_t *pod_id;
	uint32_t *pod_ip;
	uint8_t *pod_nip; /* number of addresses (at most 255) */
	uint32_t *pod_slot; /* its entry in the tables' pods (pods-only compiles) */
	size_t n_pods;
};

struct build;

struct pol_ctx {
	struct ctx_gen gen[2];
	unsigned cur;
	/* The last compile's state and tables, when it kept them (a rest
	 * version was given): the starting point of the pods-only and
	 * policy paths. */
	struct build *keep;
	struct pol_ctx_stats stats;
};

static void gen_free(struct ctx_gen *g)
{
	memo_free(&g->maps);
	intern_free(&g->idents);
	free(g->pod_ver);
	free(g->pod_id);
	free(g->pod_ip);
	free(g->pod_nip);
	free(g->pod_slot);
	memset(g, 0, sizeof(*g));
}

static bool gen_init(struct ctx_gen *g)
{
	gen_free(g);
	return memo_init(&g->maps) && intern_init(&g->idents);
}

/* ---- atoms: deduplicated peer specifications ------------------------------ */

enum atom_kind { ATOM_PODS_IN_NS, ATOM_NAMESPACES, ATOM_NS_PODS, ATOM_CIDR };

struct atom {
	enum atom_kind kind;
	const char *ns;                 /* ATOM_PODS_IN_NS */
	const struct k8s_selector *ns_sel;
	const struct k8s_selector *pod_sel;
	struct k8s_cidr cidr;           /* ATOM_CIDR */
	unsigned n_except;
	const struct k8s_cidr *except;
};

/* A rule port: numeric range, or a name resolved per destination pod. */
struct cport {
	uint8_t proto; /* 0 with named: any protocol (ANP namedPort) */
	bool named;
	uint16_t lo, hi;
	uint32_t name_id; /* named: index into comp.port_names */
};

enum tier { TIER_ANP, TIER_NP, TIER_BANP };
enum action { ACT_ALLOW, ACT_DENY, ACT_PASS };

struct crule {
	enum tier tier;
	unsigned dir;
	enum action action;
	uint32_t policy; /* its policy's slot (policy_update; else its index
			  * into cl->anps or cl->netpols) */
	uint32_t ri;     /* its index in its policy's rules of dir */
	uint64_t ord;    /* evaluation order: policy rank << 32 | dir << 31 | ri */
	bool dead;       /* its policy changed since (policy_update) */
	uint32_t name;   /* rule id */
	bool audit;      /* its policy is in audit mode */
	bool all_peers;
	VEC(uint32_t) atoms;
	bool all_ports;
	VEC(struct cport) ports;
};

/* Bump allocation for the atoms' own copies of what they match (a
 * context's atoms outlive the cluster they were made from). */
struct arena {
	char **chunks;
	size_t n, cap, used, size;
};

struct comp {
	const struct k8s_cluster *cl;
	VEC(struct atom) atoms;
	struct arena *own; /* non-NULL: new atoms copy their data into it */
	VEC(struct crule) rules;
	VEC(char *) rule_names;
	VEC(char *) port_names; /* named ports any policy refers to (copies) */
	const struct k8s_labels **pod_ns_labels;
	uint32_t *pod_ns; /* per pod: its namespace's string id (strs) */
	/* NetworkPolicies by namespace string id (CSR, ascending indices):
	 * only those of a pod's namespace can select it. */
	u32vec ns_np_first, ns_np;
	struct interner peers, subjects, mapcontent;
	struct interner atomkeys; /* atom key (atom_add) -> atom index (same order) */
	struct interner strs;     /* namespace names */
	/* Pod identities (pod_identity): ids are those of next->idents.
	 * id_remap: the previous compile's identity id -> this one's
	 * (UINT32_MAX: not met yet). */
	const uint64_t *pod_versions;
	const uint64_t *ns_versions; /* per namespace, or NULL */
	ptrdiff_t ver_shift; /* pod i was pod i + ver_shift last time (prev_pod) */
	uint32_t *pod_ident; /* per pod: its identity */
	uint32_t *pod_ip;    /* per pod: its first address, if any */
	uint8_t *pod_nip;    /* per pod: its number of addresses (at most 255) */
	uint32_t *id_remap;
	u32vec tmp;
	VEC(uint8_t) subject_dir; /* per subject class */
	u32vec peer_natoms;        /* peer class -> its number of atoms */
	VEC(struct pol_range) ranges;
	VEC(uint32_t) map_first;
	VEC(uint8_t) np_audit;     /* per NetworkPolicy slot: in audit mode */
	VEC(uint32_t) np_iso_rule; /* per NetworkPolicy slot: the rule its isolation denies by */
	bool any_audit; /* some policy is audited: maps decide twice */
	/* The context (struct pol_ctx): what the previous compile
	 * computed, and what this one used (the next compile's prev). */
	const struct ctx_gen *prev;
	struct ctx_gen *next;
	u32vec mkey;
	/* Policy slots (policy_update): cl index -> slot, NetworkPolicy slot
	 * -> cl index; NULL: the same. */
	const uint32_t *anp_slot, *np_slot, *np_cl;
	uint32_t cur_rank;        /* catalogue: the policy's rank (crule.ord) */
	u32vec anp_order, np_order; /* slots in evaluation order (catalogue) */
	u32vec np_ns;             /* per NP slot: its namespace's string id */
	struct interner *rnames;  /* non-NULL: rule names interned (rule_name) */
};

static const struct k8s_labels empty_labels;

/* A selector in an atom's key: none, absent, or its labels and
 * expressions. false on ENOMEM. */
static bool sel_pack(u32vec *k, const struct k8s_selector *s)
{
	if (!s || !s->present)
		return VPUSH(*k, s ? 1 : 0);
	bool ok = VPUSH(*k, 2) && VPUSH(*k, s->match_labels.n);
	for (unsigned i = 0; ok && i < s->match_labels.n; i++)
		ok = pack_str(k, s->match_labels.kv[i].key) &&
		     pack_str(k, s->match_labels.kv[i].value);
	ok = ok && VPUSH(*k, s->n_exprs);
	for (unsigned i = 0; ok && i < s->n_exprs; i++) {
		ok = pack_str(k, s->exprs[i].key) && VPUSH(*k, (uint32_t)s->exprs[i].op) &&
		     VPUSH(*k, s->exprs[i].n_values);
		for (unsigned j = 0; ok && j < s->exprs[i].n_values; j++)
			ok = pack_str(k, s->exprs[i].values[j]);
	}
	return ok;
}

/* ---- atoms' own copies ----------------------------------------------------- */

static void *arena_alloc(struct arena *ar, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if (!ar->n || ar->used + n > ar->size) {
		size_t size = n > 65536 ? n : 65536;
		char *chunk = malloc(size);
		if (!chunk || !grow((void **)&ar->chunks, &ar->cap, ar->n + 1, sizeof(char *))) {
			free(chunk);
			return NULL;
		}
		ar->chunks[ar->n++] = chunk;
		ar->used = 0;
		ar->size = size;
	}
	void *p = ar->chunks[ar->n - 1] + ar->used;
	ar->used += n;
	return p;
}

static void arena_free(struct arena *ar)
{
	for (size_t i = 0; ar && i < ar->n; i++)
		free(ar->chunks[i]);
	if (ar)
		free(ar->chunks);
	free(ar);
}

static char *arena_str(struct arena *ar, const char *str)
{
	size_t n = strlen(str) + 1;
	char *d = arena_alloc(ar, n);
	return d ? memcpy(d, str, n) : NULL;
}

/* A copy of *s in ar (NULL: none). false on ENOMEM. */
static bool sel_own(struct arena *ar, const struct k8s_selector **s)
{
	if (!*s)
		return true;
	struct k8s_selector *d = arena_alloc(ar, sizeof(*d));
	if (!d)
		return false;
	*d = **s;
	d->match_labels.kv = arena_alloc(ar, sizeof(struct k8s_label) * (d->match_labels.n + 1));
	d->exprs = arena_alloc(ar, sizeof(struct k8s_sel_req) * (d->n_exprs + 1));
	if (!d->match_labels.kv || !d->exprs)
		return false;
	for (unsigned i = 0; i < d->match_labels.n; i++) {
		d->match_labels.kv[i].key = arena_str(ar, (*s)->match_labels.kv[i].key);
		d->match_labels.kv[i].value = arena_str(ar, (*s)->match_labels.kv[i].value);
		if (!d->match_labels.kv[i].key || !d->match_labels.kv[i].value)
			return false;
	}
	for (unsigned i = 0; i < d->n_exprs; i++) {
		const struct k8s_sel_req *e = &(*s)->exprs[i];
		struct k8s_sel_req *x = &d->exprs[i];
		*x = *e;
		x->key = arena_str(ar, e->key);
		x->values = arena_alloc(ar, sizeof(char *) * (e->n_values + 1));
		if (!x->key || !x->values)
			return false;
		for (unsigned j = 0; j < e->n_values; j++)
			if (!(x->values[j] = arena_str(ar, e->values[j])))
				return false;
	}
	*s = d;
	return true;
}

/* Point atom a at copies of what it matches, in ar. false on ENOMEM. */
static bool atom_own(struct arena *ar, struct atom *a)
{
	if (a->ns && !(a->ns = arena_str(ar, a->ns)))
		return false;
	if (!sel_own(ar, &a->ns_sel) || !sel_own(ar, &a->pod_sel))
		return false;
	if (!a->n_except)
		return true;
	struct k8s_cidr *e = arena_alloc(ar, sizeof(*e) * a->n_except);
	if (!e)
		return false;
	memcpy(e, a->except, sizeof(*e) * a->n_except);
	a->except = e;
	return true;
}

/* Add (or find) an atom; returns its index or UINT32_MAX. A new one is
 * appended (atom ids only grow), and copied into c->own when that is set. */
static bool atom_key(const struct atom *a, u32vec *k)
{
	k->n = 0;
	bool ok = VPUSH(*k, a->kind) && (a->ns ? pack_str(k, a->ns) : VPUSH(*k, UINT32_MAX)) &&
		  sel_pack(k, a->ns_sel) && sel_pack(k, a->pod_sel) && VPUSH(*k, a->cidr.addr) &&
		  VPUSH(*k, a->cidr.len) && VPUSH(*k, a->n_except);
	for (unsigned i = 0; ok && i < a->n_except; i++)
		ok = VPUSH(*k, a->except[i].addr) && VPUSH(*k, a->except[i].len);
	return ok;
}

static uint32_t atom_add(struct comp *c, const struct atom *a)
{
	u32vec *k = &c->tmp;
	bool ok = atom_key(a, k);
	size_t before = c->atomkeys.n;
	uint32_t id = ok ? intern(&c->atomkeys, k->p, (uint32_t)k->n) : UINT32_MAX;
	if (id == UINT32_MAX || c->atomkeys.n == before)
		return id; /* an existing atom (ids are atom indices) */
	if (!VPUSH(c->atoms, *a) ||
	    (c->own && !atom_own(c->own, &c->atoms.p[c->atoms.n - 1])))
		return UINT32_MAX;
	return (uint32_t)c->atoms.n - 1;
}

static bool cidr_has(const struct k8s_cidr *c, uint32_t ip_host)
{
	uint32_t mask = c->len ? ~0u << (32 - c->len) : 0;
	return (ip_host & mask) == (ntohl(c->addr) & mask);
}

static bool atom_has_ip(const struct atom *a, uint32_t ip_host)
{
	if (a->kind != ATOM_CIDR || !cidr_has(&a->cidr, ip_host))
		return false;
	for (unsigned i = 0; i < a->n_except; i++)
		if (cidr_has(&a->except[i], ip_host))
			return false;
	return true;
}

static bool atom_has_pod(const struct comp *c, const struct atom *a, uint32_t pi)
{
	const struct k8s_pod *p = &c->cl->pods[pi];
	const struct k8s_labels *nsl = c->pod_ns_labels[pi];
	switch (a->kind) {
	case ATOM_PODS_IN_NS:
		return !strcmp(p->ns, a->ns) && k8s_selector_matches(a->pod_sel, &p->labels);
	case ATOM_NAMESPACES:
		return k8s_selector_matches(a->ns_sel, nsl);
	case ATOM_NS_PODS:
		return k8s_selector_matches(a->ns_sel, nsl) &&
		       k8s_selector_matches(a->pod_sel, &p->labels);
	case ATOM_CIDR:
		/* ipBlock matches any address the packet carries (the brief). */
		for (unsigned i = 0; i < p->n_ips; i++)
			if (atom_has_ip(a, ntohl(p->ips[i])))
				return true;
		return false;
	}
	return false;
}

static uint32_t port_name_id(struct comp *c, const char *name)
{
	for (size_t i = 0; i < c->port_names.n; i++)
		if (!strcmp(c->port_names.p[i], name))
			return (uint32_t)i;
	char *copy = strdup(name);
	if (!copy || !VPUSH(c->port_names, copy)) {
		free(copy);
		return UINT32_MAX;
	}
	return (uint32_t)c->port_names.n - 1;
}

static uint32_t rule_name(struct comp *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static uint32_t rule_name(struct comp *c, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return UINT32_MAX;
	if (c->rnames) { /* policy_update: a name met before keeps its id */
		c->tmp.n = 0;
		size_t before = c->rnames->n;
		uint32_t id = pack_str(&c->tmp, s) ? intern(c->rnames, c->tmp.p, (uint32_t)c->tmp.n)
						   : UINT32_MAX;
		if (id == UINT32_MAX || c->rnames->n == before || id != c->rule_names.n) {
			free(s);
			return c->rnames->n == before ? id : UINT32_MAX;
		}
	}
	if (!VPUSH(c->rule_names, s)) {
		free(s);
		return UINT32_MAX;
	}
	return (uint32_t)c->rule_names.n - 1;
}

/* ---- step 1: the rule catalogue ----------------------------------------- */

/* Each NetworkPolicy's mode (c->np_audit): its own annotation, else its
 * namespace's. An audited one gets a rule for the isolation it would add,
 * "isolated by networkpolicy NS/NAME" (c->np_iso_rule). */
static uint8_t np_mode(struct comp *c, const struct k8s_netpol *np)
{
	const struct k8s_cluster *cl = c->cl;
	if (np->mode != K8S_MODE_UNSET)
		return np->mode;
	/* namespace string ids < n_namespaces are the namespaces */
	uint32_t ns = intern_str(&c->strs, np->ns, &c->tmp);
	return ns < cl->n_namespaces ? cl->namespaces[ns].mode : K8S_MODE_UNSET;
}

/* NetworkPolicy i's mode into its slot's np_audit / np_iso_rule (which
 * reach that far). 0 or -ENOMEM. */
static int np_mode_set(struct comp *c, uint32_t i, uint32_t slot)
{
	const struct k8s_netpol *np = &c->cl->netpols[i];
	uint8_t mode = np_mode(c, np);
	uint32_t iso = mode != K8S_MODE_AUDIT
			       ? POL_RULE_ISOLATED
			       : rule_name(c, "isolated by networkpolicy %s/%s", np->ns, np->name);
	if (iso == UINT32_MAX)
		return -ENOMEM;
	c->np_audit.p[slot] = mode == K8S_MODE_AUDIT;
	c->np_iso_rule.p[slot] = iso;
	c->any_audit |= mode == K8S_MODE_AUDIT;
	return 0;
}

static int np_modes(struct comp *c)
{
	const struct k8s_cluster *cl = c->cl;
	for (uint32_t i = 0; i < cl->n_netpols; i++)
		if (!VPUSH(c->np_audit, 0) || !VPUSH(c->np_iso_rule, 0) || np_mode_set(c, i, i))
			return -ENOMEM;
	return 0;
}

/* Rule ri of direction dir of NetworkPolicy pi (its slot: slot). */
static int add_np_rule(struct comp *c, uint32_t pi, uint32_t slot, unsigned dir, unsigned ri,
		       const struct k8s_np_rule *r)
{
	const struct k8s_netpol *np = &c->cl->netpols[pi];
	struct crule cr = {.tier = TIER_NP, .dir = dir, .action = ACT_ALLOW, .policy = slot,
			   .ri = ri, .audit = c->np_audit.p[slot],
			   .ord = (uint64_t)c->cur_rank << 32 | (uint64_t)dir << 31 | ri};
	cr.name = rule_name(c, "networkpolicy %s/%s %s[%u]", np->ns, np->name,
			    dir == POL_INGRESS ? "ingress" : "egress", ri);
	cr.all_peers = !r->has_peers || r->n_peers == 0;
	for (unsigned i = 0; i < r->n_peers; i++) {
		const struct k8s_np_peer *p = &r->peers[i];
		struct atom a = {0};
		if (p->has_ip_block) {
			a.kind = ATOM_CIDR;
			a.cidr = p->cidr;
			a.n_except = p->n_except;
			a.except = p->except;
		} else if (p->ns_sel.present && p->pod_sel.present) {
			a.kind = ATOM_NS_PODS;
			a.ns_sel = &p->ns_sel;
			a.pod_sel = &p->pod_sel;
		} else if (p->ns_sel.present) {
			a.kind = ATOM_NAMESPACES;
			a.ns_sel = &p->ns_sel;
		} else {
			a.kind = ATOM_PODS_IN_NS;
			a.ns = np->ns;
			a.pod_sel = &p->pod_sel;
		}
		uint32_t id = atom_add(c, &a);
		if (id == UINT32_MAX || !VPUSH(cr.atoms, id))
			return -ENOMEM;
	}
	cr.all_ports = !r->has_ports || r->n_ports == 0;
	for (unsigned i = 0; i < r->n_ports; i++) {
		const struct k8s_np_port *p = &r->ports[i];
		struct cport cp = {.proto = p->proto, .lo = 0, .hi = 65535};
		if (p->has_port && p->named) {
			cp.named = true;
			if ((cp.name_id = port_name_id(c, p->name)) == UINT32_MAX)
				return -ENOMEM;
		} else if (p->has_port) {
			cp.lo = p->port;
			cp.hi = p->has_end ? p->end_port : p->port;
		}
		if (!VPUSH(cr.ports, cp))
			return -ENOMEM;
	}
	return cr.name == UINT32_MAX || !VPUSH(c->rules, cr) ? -ENOMEM : 0;
}

/* Rule ri of direction dir of (B)ANP ai (its slot: slot). */
static int add_anp_rule(struct comp *c, uint32_t ai, uint32_t slot, unsigned dir, unsigned ri,
			const struct k8s_anp_rule *r)
{
	const struct k8s_anp *anp = &c->cl->anps[ai];
	struct crule cr = {
		.tier = anp->baseline ? TIER_BANP : TIER_ANP,
		.dir = dir,
		.action = r->action == K8S_ANP_ALLOW ? ACT_ALLOW :
			  r->action == K8S_ANP_DENY ? ACT_DENY : ACT_PASS,
		.policy = slot,
		.ri = ri,
		.ord = (uint64_t)c->cur_rank << 32 | (uint64_t)dir << 31 | ri,
		.audit = anp->mode == K8S_MODE_AUDIT,
	};
	c->any_audit |= cr.audit;
	cr.name = rule_name(c, "%s %s %s[%u]",
			    anp->baseline ? "baselineadminnetworkpolicy" : "adminnetworkpolicy",
			    anp->name, dir == POL_INGRESS ? "ingress" : "egress", ri);
	cr.all_peers = false;
	for (unsigned i = 0; i < r->n_peers; i++) {
		const struct k8s_anp_peer *p = &r->peers[i];
		struct atom a = {0};
		if (p->kind == K8S_ANP_NETWORKS) {
			for (unsigned j = 0; j < p->n_networks; j++) {
				a.kind = ATOM_CIDR;
				a.cidr = p->networks[j];
				uint32_t id = atom_add(c, &a);
				if (id == UINT32_MAX || !VPUSH(cr.atoms, id))
					return -ENOMEM;
			}
			continue;
		}
		a.kind = p->kind == K8S_ANP_PODS ? ATOM_NS_PODS : ATOM_NAMESPACES;
		a.ns_sel = &p->ns_sel;
		a.pod_sel = p->kind == K8S_ANP_PODS ? &p->pod_sel : NULL;
		uint32_t id = atom_add(c, &a);
		if (id == UINT32_MAX || !VPUSH(cr.atoms, id))
			return -ENOMEM;
	}
	cr.all_ports = !r->has_ports || r->n_ports == 0;
	for (unsigned i = 0; i < r->n_ports; i++) {
		const struct k8s_anp_port *p = &r->ports[i];
		struct cport cp = {.proto = p->proto, .lo = p->port, .hi = p->port};
		if (p->kind == K8S_ANP_PORT_RANGE)
			cp.hi = p->end;
		if (p->kind == K8S_ANP_PORT_NAMED) {
			cp = (struct cport){.proto = 0, .named = true};
			if ((cp.name_id = port_name_id(c, p->name)) == UINT32_MAX)
				return -ENOMEM;
		}
		if (!VPUSH(cr.ports, cp))
			return -ENOMEM;
	}
	return cr.name == UINT32_MAX || !VPUSH(c->rules, cr) ? -ENOMEM : 0;
}

/* ANPs by priority then name; NetworkPolicies by namespace then name. */
static const struct k8s_cluster *sort_cl;

static int cmp_anp(const void *a, const void *b)
{
	const struct k8s_anp *x = &sort_cl->anps[*(const uint32_t *)a];
	const struct k8s_anp *y = &sort_cl->anps[*(const uint32_t *)b];
	if (x->baseline != y->baseline)
		return x->baseline - y->baseline;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_np(const void *a, const void *b)
{
	const struct k8s_netpol *x = &sort_cl->netpols[*(const uint32_t *)a];
	const struct k8s_netpol *y = &sort_cl->netpols[*(const uint32_t *)b];
	int r = strcmp(x->ns, y->ns);
	return r ? r : strcmp(x->name, y->name);
}

/* The rules of NetworkPolicy (np) or (B)ANP i, its slot slot, at rank
 * c->cur_rank. 0 or -ENOMEM. */
static int catalogue_policy(struct comp *c, bool np, uint32_t i, uint32_t slot)
{
	int rc = 0;
	if (np) {
		const struct k8s_netpol *p = &c->cl->netpols[i];
		for (unsigned k = 0; !rc && p->ingress && k < p->n_ingress; k++)
			rc = add_np_rule(c, i, slot, POL_INGRESS, k, &p->ingress_rules[k]);
		for (unsigned k = 0; !rc && p->egress && k < p->n_egress; k++)
			rc = add_np_rule(c, i, slot, POL_EGRESS, k, &p->egress_rules[k]);
		return rc;
	}
	const struct k8s_anp *a = &c->cl->anps[i];
	for (unsigned k = 0; !rc && k < a->n_ingress; k++)
		rc = add_anp_rule(c, i, slot, POL_INGRESS, k, &a->ingress_rules[k]);
	for (unsigned k = 0; !rc && k < a->n_egress; k++)
		rc = add_anp_rule(c, i, slot, POL_EGRESS, k, &a->egress_rules[k]);
	return rc;
}

/* Evaluation order: ANPs (by priority), NetworkPolicies, BANP; each
 * policy's rank is its place in it (crule.ord). */
static uint32_t np_rank0(const struct comp *c, const uint32_t *slot_cl)
{
	const struct k8s_cluster *cl = c->cl;
	uint32_t n = 0; /* the non-baseline ANPs, first in anp_order */
	while (n < c->anp_order.n &&
	       !cl->anps[slot_cl ? slot_cl[c->anp_order.p[n]] : c->anp_order.p[n]].baseline)
		n++;
	return n;
}

static int catalogue(struct comp *c)
{
	const struct k8s_cluster *cl = c->cl;
	int rc;

	if (rule_name(c, "default-allow") != POL_RULE_DEFAULT_ALLOW ||
	    rule_name(c, "isolated") != POL_RULE_ISOLATED ||
	    rule_name(c, "unrestricted") != POL_RULE_UNRESTRICTED || np_modes(c) ||
	    !grow((void **)&c->anp_order.p, &c->anp_order.cap, cl->n_anps + 1, sizeof(uint32_t)) ||
	    !grow((void **)&c->np_order.p, &c->np_order.cap, cl->n_netpols + 1, sizeof(uint32_t)))
		return -ENOMEM;
	sort_cl = cl;
	c->anp_order.n = cl->n_anps;
	c->np_order.n = cl->n_netpols;
	for (uint32_t i = 0; i < cl->n_anps; i++)
		c->anp_order.p[i] = i;
	qsort(c->anp_order.p, cl->n_anps, sizeof(uint32_t), cmp_anp);
	for (uint32_t i = 0; i < cl->n_netpols; i++)
		c->np_order.p[i] = i;
	qsort(c->np_order.p, cl->n_netpols, sizeof(uint32_t), cmp_np);
	/* Rules in evaluation order: ANP (by priority), NetworkPolicy, BANP. */
	uint32_t nb = np_rank0(c, NULL);
	c->cur_rank = 0;
	for (uint32_t k = 0; k < nb; k++, c->cur_rank++)
		if ((rc = catalogue_policy(c, false, c->anp_order.p[k], c->anp_order.p[k])))
			return rc;
	for (uint32_t k = 0; k < cl->n_netpols; k++, c->cur_rank++)
		if ((rc = catalogue_policy(c, true, c->np_order.p[k], c->np_order.p[k])))
			return rc;
	for (uint32_t k = nb; k < cl->n_anps; k++, c->cur_rank++)
		if ((rc = catalogue_policy(c, false, c->anp_order.p[k], c->anp_order.p[k])))
			return rc;
	return 0;
}

/* ---- steps 2 and 3: classes ------------------------------------------------ */

static bool anp_selects(const struct comp *c, const struct k8s_anp *a, uint32_t pi)
{
	const struct k8s_pod *p = &c->cl->pods[pi];
	if (!k8s_selector_matches(&a->subject.ns_sel, c->pod_ns_labels[pi]))
		return false;
	return a->subject.kind != K8S_ANP_PODS ||
	       k8s_selector_matches(&a->subject.pod_sel, &p->labels);
}

static bool np_selects(const struct comp *c, const struct k8s_netpol *np, uint32_t pi,
		       unsigned dir)
{
	const struct k8s_pod *p = &c->cl->pods[pi];
	if (dir == POL_INGRESS ? !np->ingress : !np->egress)
		return false;
	return !strcmp(np->ns, p->ns) && k8s_selector_matches(&np->pod_sel, &p->labels);
}

/* c->ns_np_first / ns_np: the NetworkPolicies of each namespace string id
 * interned so far (namespaces, then those of the NetworkPolicies). Their
 * namespaces' string ids are c->np_ns's (per slot), interned here when
 * slots are indices (c->np_slot NULL). 0 or -ENOMEM. */
static int np_by_namespace(struct comp *c)
{
	const struct k8s_cluster *cl = c->cl;
	uint32_t *ids = malloc(sizeof(uint32_t) * (cl->n_netpols + 1));
	if (!ids)
		return -ENOMEM;
	if (!c->np_slot && (c->np_ns.n = 0, !grow((void **)&c->np_ns.p, &c->np_ns.cap,
						  cl->n_netpols + 1, sizeof(uint32_t))))
		goto fail;
	for (uint32_t i = 0; i < cl->n_netpols; i++) {
		if (c->np_slot) {
			ids[i] = c->np_ns.p[c->np_slot[i]];
			continue;
		}
		if ((ids[i] = intern_str(&c->strs, cl->netpols[i].ns, &c->tmp)) == UINT32_MAX)
			goto fail;
		c->np_ns.p[c->np_ns.n++] = ids[i];
	}
	size_t n = c->strs.n + 1;
	if (!grow((void **)&c->ns_np_first.p, &c->ns_np_first.cap, n + 1, sizeof(uint32_t)) ||
	    !grow((void **)&c->ns_np.p, &c->ns_np.cap, cl->n_netpols + 1, sizeof(uint32_t)))
		goto fail;
	c->ns_np_first.n = n + 1;
	c->ns_np.n = cl->n_netpols;
	memset(c->ns_np_first.p, 0, (n + 1) * sizeof(uint32_t));
	for (uint32_t i = 0; i < cl->n_netpols; i++)
		c->ns_np_first.p[ids[i] + 1]++;
	for (size_t k = 0; k < n; k++)
		c->ns_np_first.p[k + 1] += c->ns_np_first.p[k];
	/* fill in index order: each namespace's list stays ascending */
	for (uint32_t i = 0; i < cl->n_netpols; i++)
		c->ns_np.p[c->ns_np_first.p[ids[i]]++] = i;
	for (size_t k = n; k > 0; k--)
		c->ns_np_first.p[k] = c->ns_np_first.p[k - 1];
	c->ns_np_first.p[0] = 0;
	free(ids);
	return 0;
fail:
	free(ids);
	return -ENOMEM;
}

static void sort_u32(uint32_t *v, size_t n);

/*
 * The subject signature of pod pi in direction dir: [dir, the ANP/BANP
 * slots selecting it (ascending), 0xffffffff, NP slots selecting it
 * (ascending), 0xffffffff, (ingress) named ports]. A slot is the
 * policy's index in cl but after policy_update().
 */
static int subject_sig(const struct comp *c, uint32_t pi, unsigned dir, u32vec *sig)
{
	const struct k8s_cluster *cl = c->cl;
	sig->n = 0;
	if (!VPUSH(*sig, dir))
		return -ENOMEM;
	for (uint32_t i = 0; i < cl->n_anps; i++)
		if (anp_selects(c, &cl->anps[i], pi) &&
		    !VPUSH(*sig, c->anp_slot ? c->anp_slot[i] : i))
			return -ENOMEM;
	if (c->anp_slot)
		sort_u32(sig->p + 1, sig->n - 1);
	size_t n0 = sig->n + 1;
	if (!VPUSH(*sig, UINT32_MAX))
		return -ENOMEM;
	/* a namespace interned after np_by_namespace has no NetworkPolicy */
	uint32_t ns = c->pod_ns[pi];
	for (uint32_t k = ns + 1 < c->ns_np_first.n ? c->ns_np_first.p[ns] : 0;
	     ns + 1 < c->ns_np_first.n && k < c->ns_np_first.p[ns + 1]; k++) {
		uint32_t i = c->ns_np.p[k];
		if (np_selects(c, &cl->netpols[i], pi, dir) &&
		    !VPUSH(*sig, c->np_slot ? c->np_slot[i] : i))
			return -ENOMEM;
	}
	if (c->np_slot)
		sort_u32(sig->p + n0, sig->n - n0);
	if (!VPUSH(*sig, UINT32_MAX))
		return -ENOMEM;
	return 0;
}

/* Named ports of a pod that policies refer to, as (name, proto, port) triples. */
static int pod_named_ports(struct comp *c, uint32_t pi, u32vec *out)
{
	const struct k8s_pod *p = &c->cl->pods[pi];
	for (unsigned i = 0; i < p->n_ports; i++) {
		if (!p->ports[i].name)
			continue;
		for (size_t n = 0; n < c->port_names.n; n++) {
			if (strcmp(c->port_names.p[n], p->ports[i].name))
				continue;
			if (!VPUSH(*out, (uint32_t)n) || !VPUSH(*out, p->ports[i].proto) ||
			    !VPUSH(*out, p->ports[i].port))
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---- step 4: port maps ------------------------------------------------------ */

struct eval_ctx {
	const uint32_t *atoms; /* sorted atoms of the peer (projection) */
	uint32_t n_atoms;
	const uint32_t *dst_ports; /* named ports of the destination pod */
	uint32_t n_dst_ports;
};

/* Does v[0..n) (ascending) hold x? */
static bool u32_has(const uint32_t *v, uint32_t n, uint32_t x)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (v[mid] == x)
			return true;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool has_atom(const struct eval_ctx *e, uint32_t a)
{
	return u32_has(e->atoms, e->n_atoms, a);
}

static bool peer_matches(const struct crule *r, const struct eval_ctx *e)
{
	if (r->all_peers)
		return true;
	for (size_t i = 0; i < r->atoms.n; i++)
		if (has_atom(e, r->atoms.p[i]))
			return true;
	return false;
}

/* Does rule r match (proto, port)? Named ports resolve against the destination. */
static bool port_matches(const struct comp *c, const struct crule *r,
			 const struct eval_ctx *e, uint8_t proto, uint16_t port)
{
	if (r->all_ports)
		return true;
	if (proto == POL_PROTO_OTHER)
		return false;
	for (size_t i = 0; i < r->ports.n; i++) {
		const struct cport *p = &r->ports.p[i];
		if (!p->named) {
			if (p->proto == proto && port >= p->lo && port <= p->hi)
				return true;
			continue;
		}
		for (uint32_t k = 0; k < e->n_dst_ports; k += 3) {
			if (e->dst_ports[k] != p->name_id)
				continue;
			if ((p->proto == 0 || p->proto == e->dst_ports[k + 1]) &&
			    e->dst_ports[k + 1] == proto && e->dst_ports[k + 2] == port)
				return true;
		}
	}
	return false;
}

/* Boundaries (start points) of rule r's port set for proto, into b. */
static int rule_bounds(const struct comp *c, const struct crule *r, const struct eval_ctx *e,
		       uint8_t proto, u32vec *b)
{
	if (r->all_ports)
		return 0;
	for (size_t i = 0; i < r->ports.n; i++) {
		const struct cport *p = &r->ports.p[i];
		if (!p->named) {
			if (p->proto == proto && (!VPUSH(*b, p->lo) || !VPUSH(*b, (uint32_t)p->hi + 1)))
				return -ENOMEM;
			continue;
		}
		for (uint32_t k = 0; k < e->n_dst_ports; k += 3)
			if (e->dst_ports[k] == p->name_id && e->dst_ports[k + 1] == proto &&
			    (!VPUSH(*b, e->dst_ports[k + 2]) || !VPUSH(*b, e->dst_ports[k + 2] + 1)))
				return -ENOMEM;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void sort_u32(uint32_t *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(uint32_t), cmp_u32);
}

/* Rule indices by evaluation order (crule.ord; qsort_r, the comp). */
static int cmp_rule_ord(const void *a, const void *b, void *arg)
{
	const struct comp *c = arg;
	uint64_t x = c->rules.p[*(const uint32_t *)a].ord, y = c->rules.p[*(const uint32_t *)b].ord;
	return x < y ? -1 : x > y;
}

/*
 * Evaluate the tiers for one (proto, port). rules: the subject's, in order.
 * isolated: the rule isolation denies by when a NetworkPolicy selects the
 * subject (this direction), else POL_NONE. enforced: as if audited
 * policies did not exist (their rules skipped).
 */
static void decide(const struct comp *c, const uint32_t *rules, uint32_t n_rules,
		   uint32_t isolated, bool enforced, const struct eval_ctx *e, uint8_t proto,
		   uint16_t port, uint8_t *verdict, uint32_t *rule)
{
	uint32_t i = 0;
	/* Tier 1: AdminNetworkPolicy; first match decides, Pass skips on. */
	for (; i < n_rules && c->rules.p[rules[i]].tier == TIER_ANP; i++) {
		const struct crule *r = &c->rules.p[rules[i]];
		if ((enforced && r->audit) || !peer_matches(r, e) ||
		    !port_matches(c, r, e, proto, port))
			continue;
		if (r->action == ACT_PASS)
			break;
		*verdict = r->action == ACT_ALLOW ? POL_ALLOW : POL_DENY;
		*rule = r->name;
		return;
	}
	while (i < n_rules && c->rules.p[rules[i]].tier == TIER_ANP)
		i++;
	/* Tier 2: NetworkPolicy; selected means isolated for this direction. */
	if (isolated != POL_NONE) {
		for (; i < n_rules && c->rules.p[rules[i]].tier == TIER_NP; i++) {
			const struct crule *r = &c->rules.p[rules[i]];
			if (!(enforced && r->audit) && peer_matches(r, e) &&
			    port_matches(c, r, e, proto, port)) {
				*verdict = POL_ALLOW;
				*rule = r->name;
				return;
			}
		}
		*verdict = POL_DENY;
		*rule = isolated;
		return;
	}
	while (i < n_rules && c->rules.p[rules[i]].tier == TIER_NP)
		i++;
	/* Tier 3: BaselineAdminNetworkPolicy, then the default. */
	for (; i < n_rules; i++) {
		const struct crule *r = &c->rules.p[rules[i]];
		if (!(enforced && r->audit) && peer_matches(r, e) &&
		    port_matches(c, r, e, proto, port)) {
			*verdict = r->action == ACT_ALLOW ? POL_ALLOW : POL_DENY;
			*rule = r->name;
			return;
		}
	}
	*verdict = POL_ALLOW;
	*rule = POL_RULE_DEFAULT_ALLOW;
}

/*
 * Build the port map for a subject's rules and a peer; returns its map id.
 * iso_all / iso_enf: the isolation rule (decide()) counting every
 * NetworkPolicy / the enforced ones only. Each range holds the enforced
 * decision, and with audit_rule the audited rule that would deny where
 * the enforced policies allow.
 */
static int map_content(struct comp *c, const uint32_t *rules, uint32_t n_rules,
		       uint32_t iso_all, uint32_t iso_enf, const struct eval_ctx *e,
		       u32vec *out)
{
	static const uint8_t protos[] = {POL_PROTO_OTHER, 6, 17, 132};
	u32vec b = {0};
	u32vec content = *out;
	int rc = -ENOMEM;

	for (unsigned pi = 0; pi < 4; pi++) {
		uint8_t proto = protos[pi];
		b.n = 0;
		if (!VPUSH(b, 0))
			goto out;
		if (proto != POL_PROTO_OTHER)
			for (uint32_t i = 0; i < n_rules; i++) {
				const struct crule *r = &c->rules.p[rules[i]];
				if (peer_matches(r, e) && rule_bounds(c, r, e, proto, &b))
					goto out;
			}
		sort_u32(b.p, b.n);
		uint8_t last_v = 0;
		uint32_t last_r = UINT32_MAX, last_a = UINT32_MAX;
		for (size_t k = 0; k < b.n; k++) {
			if (b.p[k] > 65535 || (k && b.p[k] == b.p[k - 1]))
				continue;
			uint8_t v, w;
			uint32_t r, wr, a = POL_NONE;
			decide(c, rules, n_rules, iso_enf, c->any_audit, e, proto,
			       (uint16_t)b.p[k], &v, &r);
			if (c->any_audit) { /* what would happen with audited policies enforced */
				decide(c, rules, n_rules, iso_all, false, e, proto,
				       (uint16_t)b.p[k], &w, &wr);
				if (w == POL_DENY && v == POL_ALLOW)
					a = wr;
			}
			if (v == last_v && r == last_r && a == last_a)
				continue; /* extends the previous range */
			/* content: proto, lo, verdict, rule, audit rule per range */
			if (!VPUSH(content, proto) || !VPUSH(content, b.p[k]) ||
			    !VPUSH(content, v) || !VPUSH(content, r) || !VPUSH(content, a))
				goto out;
			last_v = v;
			last_r = r;
			last_a = a;
		}
	}
	rc = 0;
out:
	free(b.p);
	*out = content;
	return rc;
}

/*
 * The memo key of a map: everything map_content() reads. The rules' full
 * contents (rule and port-name ids included: the map holds rule ids, and
 * named ports match by port-name id, as port_names are unique), the
 * isolation rules, any_audit and the peer (atoms, destination ports).
 * Equal keys give equal contents whatever else the cluster holds.
 */
static bool map_key(struct comp *c, const uint32_t *rules, uint32_t n_rules,
		    uint32_t iso_all, uint32_t iso_enf, const struct eval_ctx *e, u32vec *k)
{
	bool ok = VPUSH(*k, c->any_audit) && VPUSH(*k, iso_all) && VPUSH(*k, iso_enf) &&
		  VPUSH(*k, n_rules);
	for (uint32_t i = 0; ok && i < n_rules; i++) {
		const struct crule *r = &c->rules.p[rules[i]];
		ok = VPUSH(*k, (uint32_t)r->tier | (uint32_t)r->action << 4 |
				       (uint32_t)r->audit << 8 | (uint32_t)r->all_peers << 9 |
				       (uint32_t)r->all_ports << 10) &&
		     VPUSH(*k, r->name) && VPUSH(*k, (uint32_t)r->atoms.n) &&
		     VPUSH(*k, (uint32_t)r->ports.n);
		for (size_t a = 0; ok && a < r->atoms.n; a++)
			ok = VPUSH(*k, r->atoms.p[a]);
		for (size_t q = 0; ok && q < r->ports.n; q++) {
			const struct cport *p = &r->ports.p[q];
			ok = VPUSH(*k, (uint32_t)p->proto | (uint32_t)p->named << 8) &&
			     VPUSH(*k, (uint32_t)p->lo << 16 | p->hi) &&
			     VPUSH(*k, p->named ? p->name_id : 0);
		}
	}
	ok = ok && VPUSH(*k, e->n_atoms) && VPUSH(*k, e->n_dst_ports);
	for (uint32_t a = 0; ok && a < e->n_atoms; a++)
		ok = VPUSH(*k, e->atoms[a]);
	for (uint32_t a = 0; ok && a < e->n_dst_ports; a++)
		ok = VPUSH(*k, e->dst_ports[a]);
	return ok;
}

/* Intern a map's content; a new one gets its ranges. Its id or UINT32_MAX. */
static uint32_t map_materialise(struct comp *c, const uint32_t *content, uint32_t n)
{
	size_t before = c->mapcontent.n;
	uint32_t id = intern(&c->mapcontent, content, n);
	if (id == UINT32_MAX || c->mapcontent.n == before)
		return id; /* an identical map exists */
	if (!VPUSH(c->map_first, (uint32_t)c->ranges.n))
		return UINT32_MAX;
	for (size_t k = 0; k < n; k += 5) {
		struct pol_range r = {
			.proto = (uint8_t)content[k],
			.lo = (uint16_t)content[k + 1],
			.verdict = (uint8_t)content[k + 2],
			.rule = content[k + 3],
			.audit_rule = content[k + 4],
		};
		bool last = k + 5 >= n || content[k + 5] != content[k];
		r.hi = last ? 65535 : (uint16_t)(content[k + 6] - 1);
		if (!VPUSH(c->ranges, r))
			return UINT32_MAX;
	}
	return id;
}

/* The map for rules and a peer: from the previous compile's memo, else
 * computed; recorded in this compile's memo either way. */
static uint32_t build_map(struct comp *c, const uint32_t *rules, uint32_t n_rules,
			  uint32_t iso_all, uint32_t iso_enf, const struct eval_ctx *e)
{
	u32vec content = {0};
	uint32_t id = UINT32_MAX, n = 0;
	c->mkey.n = 0;
	if (!map_key(c, rules, n_rules, iso_all, iso_enf, e, &c->mkey))
		return UINT32_MAX;
	const uint32_t *v = memo_get(&c->prev->maps, &c->mkey, &n);
	if (!v) {
		if (map_content(c, rules, n_rules, iso_all, iso_enf, e, &content))
			goto out;
		v = content.p;
		n = (uint32_t)content.n;
	}
	if (memo_put(&c->next->maps, &c->mkey, v, n))
		id = map_materialise(c, v, n);
out:
	free(content.p);
	return id;
}

/* ---- the whole compile ----------------------------------------------------------- */

static void comp_free(struct comp *c)
{
	free(c->atoms.p);
	for (size_t i = 0; i < c->rules.n; i++) {
		free(c->rules.p[i].atoms.p);
		free(c->rules.p[i].ports.p);
	}
	free(c->rules.p);
	for (size_t i = 0; i < c->port_names.n; i++)
		free(c->port_names.p[i]);
	free(c->port_names.p);
	free(c->pod_ns_labels);
	intern_free(&c->peers);
	intern_free(&c->subjects);
	intern_free(&c->mapcontent);
	intern_free(&c->atomkeys);
	intern_free(&c->strs);
	free(c->pod_ident);
	free(c->pod_ip);
	free(c->pod_nip);
	free(c->id_remap);
	free(c->tmp.p);
	free(c->subject_dir.p);
	free(c->peer_natoms.p);
	for (size_t i = 0; i < c->rule_names.n; i++)
		free(c->rule_names.p[i]);
	free(c->rule_names.p);
	free(c->ranges.p);
	free(c->map_first.p);
	free(c->np_audit.p);
	free(c->pod_ns);
	free(c->ns_np_first.p);
	free(c->ns_np.p);
	free(c->np_iso_rule.p);
	free(c->mkey.p);
	arena_free(c->own);
	free(c->anp_order.p);
	free(c->np_order.p);
	free(c->np_ns.p);
	memset(c, 0, sizeof(*c));
}

/* For each atom, the items (peer or subject classes) holding it,
 * ascending (CSR). */
struct atom_index {
	uint32_t *first; /* per atom; first[n_atoms] = end */
	uint32_t *list;
};

static void atom_index_free(struct atom_index *ix)
{
	free(ix->first);
	free(ix->list);
	ix->first = ix->list = NULL;
}

/*
 * One compile's state beyond struct comp. A context that keeps its
 * tables (a rest version given) keeps this too, as the starting point of
 * the pods-only and policy paths (pods_only(), policy_update()), which
 * then add to it.
 */
struct build {
	struct comp c;
	struct pol_tables *t;
	bool fast; /* pods_only(): new map entries go straight into t->maps */
	u32vec cidr_atoms, sel_atoms;
	/* Address ranges split at every ipBlock boundary (rng_lo), each with
	 * the set of ipBlock atoms containing it (rng_set, ids in rsets). */
	u32vec rng_lo, rng_set;
	uint32_t rng_empty;
	size_t rng_hint;
	struct interner rsets;
	struct interner parts; /* identity peer parts (selector atoms, named ports) */
	struct interner pairs; /* (part, address set) -> peer class in pair_peer */
	u32vec pair_peer;
	/* per identity: its peer part, subject classes (2 each), namespace,
	 * and whether its namespace's labels changed since it was set up
	 * (stale: set up again before a pod uses it; ns_changes) */
	u32vec id_part, id_subj, id_ns;
	VEC(uint8_t) id_stale;
	/* rules per policy (CSR: anp_first / np_first index pol_rules) */
	u32vec anp_first, np_first, pol_rules;
	uint32_t n_anp_slots, n_np_slots;
	/* per subject class (subject_setup): its rules (CSR), the atoms they
	 * use (CSR, ascending), its isolation rules (2 each), whether egress
	 * named ports resolve against the peer, its default map */
	u32vec s_rules_first, s_rules, s_used_first, s_used, s_iso, dflt;
	VEC(uint8_t) s_named;
	u32vec named_subj; /* the subject classes with s_named */
	/* atom -> peer classes / subject classes (as of the full compile;
	 * classes from peers_indexed / subj_indexed on are scanned) */
	struct atom_index atom_peers, atom_subj;
	uint32_t peers_indexed, subj_indexed;
	uint32_t *atom_mark, stamp; /* mark_used() */
	uint32_t atoms_indexed; /* atoms when atom_peers / atom_subj were built */
	u32vec subj_fwd, redo_sig; /* subj_current() */
	uint32_t *peer_mark, pstamp;
	size_t peer_mark_n;
	u32vec free_slots;   /* entries of t->pods no pod holds (pods-only compiles) */
	size_t pods_cap;     /* t->pods' allocation */
	VEC(uint64_t) mkeys; /* full compile: the map entries, for t->maps */
	u32vec mvals;
	u32vec sig, proj, cand;
	/* kept between compiles */
	uint64_t rest;
	uint32_t n_namespaces, n_netpols, n_anps;
	uint64_t *ns_ver; /* per namespace: its version (0: unknown) */
	uint8_t *ns_mode; /* per namespace: its policy mode */
	/* pods-only compile: identities of namespaces whose labels changed in
	 * it (ns_changes, ns_apply) */
	uint8_t *affected;
	size_t n_affected;
	uint32_t ip_dups;     /* pod addresses held by two pods (t->ip) */
	size_t rules_cap;     /* t->rules' allocation */
	/* policy_update(): per policy of the last cluster its version (NULL:
	 * unknown); policy slots, cl index <-> slot (POL_NONE: an empty
	 * slot); the rule names interned (ids are rule ids) */
	uint64_t *anp_ver, *np_ver;
	u32vec anp_slot, np_slot, anp_cl, np_cl;
	VEC(uint8_t) anp_audit; /* per (B)ANP slot: in audit mode */
	size_t n_audit;         /* policies in audit mode (c->any_audit) */
	struct interner rnames; /* slots NULL: not built */
	size_t added, budget; /* classes and map entries added since the full compile */
};

static void build_free(struct build *b)
{
	if (b->t) { /* these arrays are the comp's and b's */
		b->t->ranges = NULL;
		b->t->map_first = NULL;
		b->t->default_map = NULL;
		pol_tables_free(b->t);
	}
	comp_free(&b->c);
	u32vec *v[] = {&b->cidr_atoms, &b->sel_atoms, &b->rng_lo, &b->rng_set, &b->pair_peer,
		       &b->id_part, &b->id_subj, &b->id_ns, &b->anp_first, &b->np_first,
		       &b->pol_rules, &b->s_rules_first, &b->s_rules, &b->s_used_first,
		       &b->s_used, &b->s_iso, &b->dflt, &b->named_subj, &b->mvals, &b->sig,
		       &b->proj, &b->cand, &b->free_slots, &b->subj_fwd, &b->redo_sig,
		       &b->anp_slot, &b->np_slot, &b->anp_cl, &b->np_cl};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		free(v[i]->p);
	free(b->s_named.p);
	free(b->mkeys.p);
	intern_free(&b->rsets);
	intern_free(&b->parts);
	intern_free(&b->pairs);
	atom_index_free(&b->atom_peers);
	atom_index_free(&b->atom_subj);
	free(b->atom_mark);
	free(b->peer_mark);
	free(b->ns_ver);
	free(b->ns_mode);
	free(b->affected);
	free(b->id_stale.p);
	free(b->anp_ver);
	free(b->np_ver);
	free(b->anp_audit.p);
	intern_free(&b->rnames);
	free(b);
}

static void keep_drop(struct pol_ctx *ctx)
{
	if (ctx->keep)
		build_free(ctx->keep);
	ctx->keep = NULL;
}

/* t's arrays that grow in b (maps, ranges, default maps) as they are now. */
static void tables_sync(struct build *b)
{
	struct comp *c = &b->c;
	b->t->n_maps = (uint32_t)c->map_first.n - 1;
	b->t->map_first = c->map_first.p;
	b->t->n_ranges = (uint32_t)c->ranges.n;
	b->t->ranges = c->ranges.p;
	b->t->n_subjects = c->subjects.n;
	b->t->default_map = b->dflt.p;
}

/* Index of the range containing ip: the last lo[k] <= ip (lo[0] == 0).
 * *hint: the last answer (pods' addresses come in runs), then this one. */
static size_t range_of(const uint32_t *lo, size_t n, uint32_t ip, size_t *hint)
{
	if (*hint < n && lo[*hint] <= ip && (*hint + 1 == n || ip < lo[*hint + 1]))
		return *hint;
	return *hint = pol_range_index(lo, (uint32_t)n, ip);
}

/*
 * Pod identities: pods with the same namespace, labels and container
 * ports are selected alike, so what depends on those is computed once
 * per identity. Labels compare in their order: two pods with the same
 * labels listed differently are two identities, which costs a recompute,
 * never a different result.
 */

/* A pod's identity content: [namespace, number of labels, (key, value)...,
 * (port name or nothing, protocol << 16 | port)...], strings packed. */
static bool identity_content(const struct k8s_pod *p, u32vec *out)
{
	bool ok = pack_str(out, p->ns) && VPUSH(*out, p->labels.n);
	for (unsigned i = 0; ok && i < p->labels.n; i++)
		ok = pack_str(out, p->labels.kv[i].key) && pack_str(out, p->labels.kv[i].value);
	for (unsigned i = 0; ok && i < p->n_ports; i++) {
		const struct k8s_container_port *cp = &p->ports[i];
		ok = (cp->name ? pack_str(out, cp->name) : VPUSH(*out, UINT32_MAX)) &&
		     VPUSH(*out, (uint32_t)cp->proto << 16 | cp->port);
	}
	return ok;
}

/*
 * Where the object of version ver (not 0), now at index i, was among the
 * previous compile's old[0..n), or SIZE_MAX. The caller's order is stable
 * but for the objects added and removed, so it is looked for where it was,
 * i + *shift, and one off either way (which then becomes the shift): a walk
 * in step with the previous compile, no random lookups.
 */
static size_t near_ver(const uint64_t *old, size_t n, size_t i, uint64_t ver, ptrdiff_t *shift)
{
	static const ptrdiff_t step[] = {0, 1, -1};
	for (unsigned k = 0; ver && k < 3; k++) {
		ptrdiff_t j = (ptrdiff_t)i + *shift + step[k];
		if (j >= 0 && (size_t)j < n && old[j] == ver) {
			*shift += step[k];
			return (size_t)j;
		}
	}
	return SIZE_MAX;
}

/* Where the pod of version ver, now pod pi, was in the previous compile,
 * or SIZE_MAX: a pod not found near (new, changed, or moved further) is
 * read. */
static size_t prev_pod(struct comp *c, uint32_t pi, uint64_t ver)
{
	return near_ver(c->prev->pod_ver, c->prev->n_pods, pi, ver, &c->ver_shift);
}

static uint8_t n_addrs(const struct k8s_pod *p)
{
	return p->n_ips > 255 ? 255 : (uint8_t)p->n_ips;
}

/*
 * The identity of pod pi, added if new: its id, *added telling which, or
 * UINT32_MAX on ENOMEM; its first address and address count into
 * c->pod_ip / pod_nip. A pod whose version the last compile saw is not
 * read: its identity's content and its addresses are taken from there.
 */
static uint32_t pod_identity(struct comp *c, uint32_t pi, bool *added)
{
	size_t at = c->pod_versions ? prev_pod(c, pi, c->pod_versions[pi]) : SIZE_MAX;
	uint32_t prev = at != SIZE_MAX ? c->prev->pod_id[at] : POL_NONE;
	uint32_t id = UINT32_MAX;
	const struct k8s_pod *p = &c->cl->pods[pi];
	c->pod_ip[pi] = at != SIZE_MAX ? c->prev->pod_ip[at] : p->n_ips ? p->ips[0] : 0;
	c->pod_nip[pi] = at != SIZE_MAX ? c->prev->pod_nip[at] : n_addrs(p);
	size_t before = c->next->idents.n;
	if (prev != POL_NONE && c->id_remap[prev] != UINT32_MAX) {
		id = c->id_remap[prev];
	} else if (prev != POL_NONE) {
		uint32_t len;
		const uint32_t *content = intern_get(&c->prev->idents, prev, &len);
		id = c->id_remap[prev] = intern(&c->next->idents, content, len);
	} else {
		c->tmp.n = 0;
		if (identity_content(p, &c->tmp))
			id = intern(&c->next->idents, c->tmp.p, (uint32_t)c->tmp.n);
	}
	if (id == UINT32_MAX)
		return UINT32_MAX;
	c->pod_ident[pi] = id;
	*added = c->next->idents.n != before;
	return id;
}

/* The pods' versions, identities and addresses, for the next compile
 * (c->pod_ident, pod_ip and pod_nip move there). 0 or -ENOMEM. */
static int record_pod_versions(struct comp *c)
{
	size_t n = c->cl->n_pods;
	c->next->pod_ver = malloc(sizeof(uint64_t) * (n + 1));
	c->next->pod_slot = malloc(sizeof(uint32_t) * (n + 1));
	if (!c->next->pod_ver || !c->next->pod_slot)
		return -ENOMEM;
	memcpy(c->next->pod_ver, c->pod_versions, sizeof(uint64_t) * n);
	for (size_t i = 0; i < n; i++) /* a full compile's entries are in pod order */
		c->next->pod_slot[i] = (uint32_t)i;
	c->next->pod_id = c->pod_ident;
	c->next->pod_ip = c->pod_ip;
	c->next->pod_nip = c->pod_nip;
	c->pod_ident = c->pod_ip = NULL;
	c->pod_nip = NULL;
	c->next->n_pods = n;
	return 0;
}

/* Split a peer signature into its atoms and named ports. */
static void peer_parts(const struct comp *c, uint32_t peer, const uint32_t **atoms,
		       uint32_t *n_atoms, const uint32_t **ports, uint32_t *n_ports)
{
	uint32_t len, na = c->peer_natoms.p[peer];
	const uint32_t *s = intern_get(&c->peers, peer, &len);
	*atoms = s + 1;
	*n_atoms = na;
	*ports = s + na + 2;
	*n_ports = len - na - 2;
}

/* Record a new peer class's atom count (its signature: [kind, atoms,
 * UINT32_MAX, named ports]). false on ENOMEM. */
static bool peer_added(struct comp *c, const u32vec *sig)
{
	uint32_t na = 0;
	while (sig->p[na + 1] != UINT32_MAX)
		na++;
	return VPUSH(c->peer_natoms, na);
}

/* The atoms of item k (a peer or a subject class), for atom_index_build. */
typedef void (*item_atoms_fn)(const struct build *b, uint32_t k, const uint32_t **atoms,
			      uint32_t *n);

static void peer_atoms(const struct build *b, uint32_t p, const uint32_t **atoms, uint32_t *n)
{
	const uint32_t *ports;
	uint32_t np;
	peer_parts(&b->c, p, atoms, n, &ports, &np);
}

static void subject_atoms(const struct build *b, uint32_t s, const uint32_t **atoms, uint32_t *n)
{
	*atoms = b->s_used.p + b->s_used_first.p[s];
	*n = b->s_used_first.p[s + 1] - b->s_used_first.p[s];
}

/* ix: for each atom, the items 0..n-1 holding it, ascending. */
static int atom_index_build(const struct build *b, uint32_t n, item_atoms_fn items,
			    struct atom_index *ix)
{
	size_t n_atoms = b->c.atoms.n, total = 0;
	const uint32_t *atoms;
	uint32_t na;
	ix->first = calloc(n_atoms + 2, sizeof(uint32_t));
	for (uint32_t p = 0; ix->first && p < n; p++) {
		items(b, p, &atoms, &na);
		for (uint32_t k = 0; k < na; k++)
			ix->first[atoms[k] + 2]++;
		total += na;
	}
	ix->list = malloc(sizeof(uint32_t) * (total + 1));
	if (!ix->first || !ix->list)
		return -ENOMEM;
	/* Counts at first[a + 2], prefix-summed: first[a + 1] is where a's
	 * items start; filling moves it to their end, a + 1's start, so that
	 * afterwards first[a] is a's start. */
	for (size_t a = 2; a < n_atoms + 2; a++)
		ix->first[a] += ix->first[a - 1];
	for (uint32_t p = 0; p < n; p++) {
		items(b, p, &atoms, &na);
		for (uint32_t k = 0; k < na; k++)
			ix->list[ix->first[atoms[k] + 1]++] = p;
	}
	return 0;
}

/* Mark the atoms subject class s's rules use: b->atom_mark[a] == b->stamp. */
static void mark_used(struct build *b, uint32_t s)
{
	b->stamp++;
	for (uint32_t k = b->s_used_first.p[s]; k < b->s_used_first.p[s + 1]; k++)
		b->atom_mark[b->s_used.p[k]] = b->stamp;
}

/* Ingress subject class s's own named ports: its signature's tail. */
static void subject_ports(const struct comp *c, uint32_t s, struct eval_ctx *e)
{
	uint32_t len, k = 1;
	const uint32_t *sg = intern_get(&c->subjects, s, &len);
	while (k < len && sg[k] != UINT32_MAX) /* ANPs and BANPs */
		k++;
	for (k++; k < len && sg[k] != UINT32_MAX; k++) /* NetworkPolicies */
		;
	k++;
	e->dst_ports = k < len ? sg + k : NULL;
	e->n_dst_ports = k < len ? len - k : 0;
}

/*
 * Subject class s (the next one): its rules in evaluation order (those of
 * the policies its signature lists, by crule.ord), its isolation
 * rules (decide()), whether its egress named ports resolve against the
 * peer, the atoms its rules use and its default map, appended to b's
 * per-subject arrays. 0 or -ENOMEM.
 */
static int subject_setup(struct build *b, uint32_t s)
{
	struct comp *c = &b->c;
	unsigned dir = c->subject_dir.p[s];
	uint32_t slen, r0 = (uint32_t)b->s_rules.n, u0 = (uint32_t)b->s_used.n;
	uint32_t iso_all = POL_NONE, iso_enf = POL_NONE;
	bool named = false;
	const uint32_t *sg = intern_get(&c->subjects, s, &slen);
	uint32_t k = 1;
	for (; k < slen && sg[k] != UINT32_MAX; k++) /* ANPs and BANP */
		for (uint32_t x = b->anp_first.p[sg[k]]; x < b->anp_first.p[sg[k] + 1]; x++)
			if (c->rules.p[b->pol_rules.p[x]].dir == dir &&
			    !VPUSH(b->s_rules, b->pol_rules.p[x]))
				return -ENOMEM;
	/* isolation: by any enforced NetworkPolicy, else (audit) by the
	 * audited one first in the cluster's order */
	uint32_t aud_at = UINT32_MAX, aud_rule = POL_NONE;
	for (k++; k < slen && sg[k] != UINT32_MAX; k++) { /* NetworkPolicies */
		uint32_t at = c->np_cl ? c->np_cl[sg[k]] : sg[k];
		if (!c->np_audit.p[sg[k]]) {
			iso_all = iso_enf = POL_RULE_ISOLATED;
		} else if (at < aud_at) {
			aud_at = at;
			aud_rule = c->np_iso_rule.p[sg[k]];
		}
		for (uint32_t x = b->np_first.p[sg[k]]; x < b->np_first.p[sg[k] + 1]; x++)
			if (c->rules.p[b->pol_rules.p[x]].dir == dir &&
			    !VPUSH(b->s_rules, b->pol_rules.p[x]))
				return -ENOMEM;
	}
	if (iso_all == POL_NONE)
		iso_all = aud_rule;
	uint32_t *rules = b->s_rules.p + r0, n_rules = (uint32_t)b->s_rules.n - r0;
	if (n_rules > 1)
		qsort_r(rules, n_rules, sizeof(uint32_t), cmp_rule_ord, c);
	b->stamp++;
	for (uint32_t r = 0; r < n_rules; r++) {
		const struct crule *cr = &c->rules.p[rules[r]];
		for (size_t q = 0; q < cr->ports.n; q++)
			named |= dir == POL_EGRESS && cr->ports.p[q].named;
		for (size_t x = 0; x < cr->atoms.n; x++) {
			uint32_t a = cr->atoms.p[x];
			if (b->atom_mark[a] == b->stamp)
				continue;
			b->atom_mark[a] = b->stamp;
			if (!VPUSH(b->s_used, a))
				return -ENOMEM;
		}
	}
	sort_u32(b->s_used.p + u0, b->s_used.n - u0);
	if (!VPUSH(b->s_rules_first, (uint32_t)b->s_rules.n) ||
	    !VPUSH(b->s_used_first, (uint32_t)b->s_used.n) || !VPUSH(b->s_iso, iso_all) ||
	    !VPUSH(b->s_iso, iso_enf) || !VPUSH(b->s_named, named) ||
	    (named && !VPUSH(b->named_subj, s)))
		return -ENOMEM;
	struct eval_ctx e = {0};
	if (dir == POL_INGRESS) /* ingress named ports resolve against the subject itself */
		subject_ports(c, s, &e);
	uint32_t dm = build_map(c, b->s_rules.p + r0, n_rules, iso_all, iso_enf, &e);
	return dm == UINT32_MAX || !VPUSH(b->dflt, dm) ? -ENOMEM : 0;
}

/*
 * Subject class s's map for peer class p: the map of the projection of
 * p onto the atoms s's rules use (marked: mark_used(b, s)) and, when its
 * egress named ports resolve against the peer, p's named ports; s's
 * default map when that is empty. seen / proj_map (may be NULL): the
 * projections met for s so far and their maps. Map id or UINT32_MAX.
 */
static uint32_t project(struct build *b, uint32_t s, uint32_t p, struct interner *seen,
			u32vec *proj_map)
{
	struct comp *c = &b->c;
	const uint32_t *atoms, *ports, *used = b->s_used.p + b->s_used_first.p[s];
	uint32_t na, np, nu = b->s_used_first.p[s + 1] - b->s_used_first.p[s];
	bool named = b->s_named.p[s];
	peer_parts(c, p, &atoms, &na, &ports, &np);
	/* The peer's atoms the rules use: a walk of the shorter list, looking
	 * each up in the other (peers hold many ipBlock atoms, a subject's
	 * rules few). */
	b->proj.n = 0;
	if (nu * 8 < na) {
		for (uint32_t k = 0; k < nu; k++)
			if (u32_has(atoms, na, used[k]) && !VPUSH(b->proj, used[k]))
				return UINT32_MAX;
	} else {
		for (uint32_t k = 0; k < na; k++)
			if (b->atom_mark[atoms[k]] == b->stamp && !VPUSH(b->proj, atoms[k]))
				return UINT32_MAX;
	}
	uint32_t n_used = (uint32_t)b->proj.n;
	if (named) {
		if (!VPUSH(b->proj, UINT32_MAX))
			return UINT32_MAX;
		for (uint32_t k = 0; k < np; k++)
			if (!VPUSH(b->proj, ports[k]))
				return UINT32_MAX;
	}
	if (n_used == 0 && (!named || np == 0))
		return b->dflt.p[s];
	if (seen) {
		size_t before = seen->n;
		uint32_t pid = intern(seen, b->proj.p, (uint32_t)b->proj.n);
		if (pid == UINT32_MAX)
			return UINT32_MAX;
		if (seen->n == before)
			return proj_map->p[pid];
	}
	struct eval_ctx e = {.atoms = b->proj.p, .n_atoms = n_used};
	if (c->subject_dir.p[s] == POL_INGRESS) {
		subject_ports(c, s, &e);
	} else {
		e.dst_ports = ports;
		e.n_dst_ports = np;
	}
	uint32_t r0 = b->s_rules_first.p[s];
	uint32_t m = build_map(c, b->s_rules.p + r0, b->s_rules_first.p[s + 1] - r0,
			       b->s_iso.p[2 * s], b->s_iso.p[2 * s + 1], &e);
	if (seen && m != UINT32_MAX && !VPUSH(*proj_map, m))
		return UINT32_MAX;
	return m;
}

/*
 * Subject classes replaced by policy_update() (b->subj_fwd): a class
 * whose policies changed is marked stale; the first to need it sets it up
 * again as a new class (same signature but for its first word, made from
 * the old class's id: unique), which it then forwards to. Identities and pods hold current classes
 * only; a signature interned later may meet a replaced class and follows
 * it.
 */
#define SUBJ_CUR UINT32_MAX
#define SUBJ_STALE (UINT32_MAX - 1)

static uint32_t subj_fwd_of(const struct build *b, uint32_t s)
{
	return s < b->subj_fwd.n ? b->subj_fwd.p[s] : SUBJ_CUR;
}

static bool subj_fwd_set(struct build *b, uint32_t s, uint32_t to)
{
	while (b->subj_fwd.n <= s)
		if (!VPUSH(b->subj_fwd, SUBJ_CUR))
			return false;
	b->subj_fwd.p[s] = to;
	return true;
}

static int subject_setup(struct build *b, uint32_t s);
static int subject_project(struct build *b, uint32_t s);

/* A new subject class: its direction, rules and maps (b->fast). 0 or
 * -ENOMEM. */
static int subject_new(struct build *b, uint32_t s, unsigned dir)
{
	int rc;
	if (!VPUSH(b->c.subject_dir, (uint8_t)dir))
		return -ENOMEM;
	b->added++;
	return (rc = subject_setup(b, s)) ? rc : subject_project(b, s);
}

/* Stale class s set up again as a new class; UINT32_MAX on ENOMEM. */
static uint32_t subj_redo(struct build *b, uint32_t s)
{
	struct comp *c = &b->c;
	uint32_t len;
	const uint32_t *sg = intern_get(&c->subjects, s, &len);
	unsigned dir = c->subject_dir.p[s];
	b->redo_sig.n = 0;
	for (uint32_t k = 0; k < len; k++)
		if (!VPUSH(b->redo_sig, sg[k]))
			return UINT32_MAX;
	b->redo_sig.p[0] = dir | (s + 1) << 1; /* unique: a class is redone once */
	size_t before = c->subjects.n;
	uint32_t s2 = intern(&c->subjects, b->redo_sig.p, len);
	if (s2 == UINT32_MAX || c->subjects.n == before || subject_new(b, s2, dir) ||
	    !subj_fwd_set(b, s, s2))
		return UINT32_MAX;
	return s2;
}

/* The class that stands for s now (s itself but after policy_update);
 * UINT32_MAX on ENOMEM. */
static uint32_t subj_current(struct build *b, uint32_t s)
{
	for (;;) {
		uint32_t f = subj_fwd_of(b, s);
		if (f == SUBJ_CUR)
			return s;
		if (f == SUBJ_STALE && (f = subj_redo(b, s)) == UINT32_MAX)
			return UINT32_MAX;
		s = f;
	}
}

/* (s, p) -> map m, where m is not s's default. 0 or -ENOMEM. */
static int map_entry(struct build *b, uint32_t s, uint32_t p, uint32_t m)
{
	uint64_t key = pol_map_key(s, b->c.subject_dir.p[s], p);
	if (b->fast) {
		b->added++;
		return pol_hash_insert(&b->t->maps, key, m);
	}
	return VPUSH(b->mkeys, key) && VPUSH(b->mvals, m) ? 0 : -ENOMEM;
}

/* A fresh b->peer_mark stamp, the array covering every peer class. */
static bool peer_mark_next(struct build *b)
{
	size_t n = b->c.peers.n + 1;
	if (n > b->peer_mark_n) {
		uint32_t *m = realloc(b->peer_mark, n * 2 * sizeof(uint32_t));
		if (!m)
			return false;
		memset(m + b->peer_mark_n, 0, (n * 2 - b->peer_mark_n) * sizeof(uint32_t));
		b->peer_mark = m;
		b->peer_mark_n = n * 2;
	}
	b->pstamp++;
	return true;
}

/* Does peer class p hold an atom marked for the current subject? */
static bool peer_uses_marked(const struct build *b, uint32_t p)
{
	const uint32_t *atoms, *ports;
	uint32_t na, np;
	peer_parts(&b->c, p, &atoms, &na, &ports, &np);
	for (uint32_t k = 0; k < na; k++)
		if (b->atom_mark[atoms[k]] == b->stamp)
			return true;
	return false;
}

/*
 * Subject class s's map entries: for the peers holding an atom its rules
 * use (any other gets the default map) or, when egress named ports
 * resolve against the peer, every peer, ascending, by their projection.
 * 0 or -ENOMEM.
 */
static int subject_project(struct build *b, uint32_t s)
{
	struct comp *c = &b->c;
	struct interner seen;
	u32vec proj_map = {0};
	int rc = -ENOMEM;
	mark_used(b, s);
	b->cand.n = 0;
	if (b->s_named.p[s]) {
		for (uint32_t p = 0; p < c->peers.n; p++)
			if (!VPUSH(b->cand, p))
				return -ENOMEM;
	} else {
		if (!peer_mark_next(b))
			return -ENOMEM;
		for (uint32_t k = b->s_used_first.p[s]; k < b->s_used_first.p[s + 1]; k++) {
			uint32_t a = b->s_used.p[k];
			if (a >= b->atoms_indexed) /* newer: only newer peers hold it */
				continue;
			for (uint32_t x = b->atom_peers.first[a]; x < b->atom_peers.first[a + 1]; x++) {
				uint32_t p = b->atom_peers.list[x];
				if (b->peer_mark[p] != b->pstamp && !VPUSH(b->cand, p))
					return -ENOMEM;
				b->peer_mark[p] = b->pstamp;
			}
		}
		/* peer classes the pods-only path added since the index */
		for (uint32_t p = b->peers_indexed; p < c->peers.n; p++)
			if (peer_uses_marked(b, p) && !VPUSH(b->cand, p))
				return -ENOMEM;
		sort_u32(b->cand.p, b->cand.n);
	}
	if (!intern_init(&seen))
		return -ENOMEM;
	for (size_t k = 0; k < b->cand.n; k++) {
		uint32_t p = b->cand.p[k];
		uint32_t m = project(b, s, p, &seen, &proj_map);
		if (m == UINT32_MAX || (m != b->dflt.p[s] && map_entry(b, s, p, m)))
			goto out;
	}
	rc = 0;
out:
	intern_free(&seen);
	free(proj_map.p);
	return rc;
}

/*
 * A peer class added after the full compile (pods-only and policy
 * paths): its map entries, for every current subject class whose rules
 * use one of its atoms, or whose egress named ports resolve against the
 * peer. 0 or -ENOMEM.
 */
static int peer_project(struct build *b, uint32_t p)
{
	struct comp *c = &b->c;
	const uint32_t *atoms, *ports;
	uint32_t na, np;
	uint8_t *mark = calloc(c->subjects.n + 1, 1);
	int rc = -ENOMEM;
	if (!mark)
		return -ENOMEM;
	b->cand.n = 0;
	peer_parts(c, p, &atoms, &na, &ports, &np);
	for (uint32_t k = 0; k < na; k++) {
		if (atoms[k] >= b->atoms_indexed) /* newer: only newer classes use it */
			continue;
		for (uint32_t x = b->atom_subj.first[atoms[k]]; x < b->atom_subj.first[atoms[k] + 1];
		     x++) {
			uint32_t s = b->atom_subj.list[x];
			if (!mark[s] && !VPUSH(b->cand, s))
				goto out;
			mark[s] = 1;
		}
	}
	for (size_t k = 0; k < b->named_subj.n; k++) {
		uint32_t s = b->named_subj.p[k];
		if (!mark[s] && !VPUSH(b->cand, s))
			goto out;
		mark[s] = 1;
	}
	/* subject classes added since the index */
	for (uint32_t s = b->subj_indexed; s < c->subjects.n; s++) {
		if (mark[s])
			continue;
		for (uint32_t k = b->s_used_first.p[s]; k < b->s_used_first.p[s + 1]; k++)
			if (u32_has(atoms, na, b->s_used.p[k])) {
				if (!VPUSH(b->cand, s))
					goto out;
				break;
			}
	}
	for (size_t k = 0; k < b->cand.n; k++) {
		uint32_t s = b->cand.p[k];
		if (subj_fwd_of(b, s) != SUBJ_CUR) /* replaced: no pod has it */
			continue;
		mark_used(b, s);
		uint32_t m = project(b, s, p, NULL, NULL);
		if (m == UINT32_MAX || (m != b->dflt.p[s] && map_entry(b, s, p, m)))
			goto out;
	}
	rc = 0;
out:
	free(mark);
	return rc;
}

/*
 * Identity id, met as pod i (a new identity, or after the full compile one
 * set up again: stale, its namespace's labels changed, a port name met
 * for the first time): its namespace, its part of a peer signature
 * ([selector atoms ascending, UINT32_MAX, named ports], interned in
 * parts) and its current subject classes; after the full compile a new
 * subject class gets its maps at once. 0 or -ENOMEM.
 */
static int identity_setup(struct build *b, uint32_t i, uint32_t id)
{
	struct comp *c = &b->c;
	const struct k8s_cluster *cl = c->cl;
	u32vec *sig = &b->sig;
	uint32_t ns = intern_str(&c->strs, cl->pods[i].ns, &c->tmp);
	bool redo = id < b->id_part.n;
	if (ns == UINT32_MAX || id > b->id_part.n)
		return -ENOMEM;
	c->pod_ns[i] = ns;
	c->pod_ns_labels[i] = ns < cl->n_namespaces ? &cl->namespaces[ns].labels : &empty_labels;
	sig->n = 0;
	for (size_t k = 0; k < b->sel_atoms.n; k++)
		if (atom_has_pod(c, &c->atoms.p[b->sel_atoms.p[k]], i) &&
		    !VPUSH(*sig, b->sel_atoms.p[k]))
			return -ENOMEM;
	if (!VPUSH(*sig, UINT32_MAX) || pod_named_ports(c, i, sig))
		return -ENOMEM;
	uint32_t part = intern(&b->parts, sig->p, (uint32_t)sig->n);
	if (part == UINT32_MAX)
		return -ENOMEM;
	if (redo) {
		b->id_part.p[id] = part;
		b->id_stale.p[id] = 0;
	} else if (!VPUSH(b->id_part, part) || !VPUSH(b->id_ns, ns) ||
		   !VPUSH(b->id_subj, POL_NONE) || !VPUSH(b->id_subj, POL_NONE) ||
		   !VPUSH(b->id_stale, 0)) {
		return -ENOMEM;
	}
	for (unsigned dir = 0; dir < 2; dir++) {
		if (subject_sig(c, i, dir, sig) || (dir == POL_INGRESS && pod_named_ports(c, i, sig)))
			return -ENOMEM;
		size_t before = c->subjects.n;
		uint32_t s = intern(&c->subjects, sig->p, (uint32_t)sig->n);
		if (s == UINT32_MAX)
			return -ENOMEM;
		if (c->subjects.n == before) {
			if ((s = subj_current(b, s)) == UINT32_MAX)
				return -ENOMEM;
		} else if (!b->fast) {
			if (!VPUSH(c->subject_dir, (uint8_t)dir))
				return -ENOMEM;
		} else {
			int rc = subject_new(b, s, dir);
			if (rc)
				return rc;
		}
		b->id_subj.p[2 * id + dir] = s;
	}
	return 0;
}

/*
 * Pod i's peer class (identity id, first address ip0): its identity's
 * part plus the ipBlock atoms of its addresses, once per (part, address
 * set); after the full compile a new class gets its maps at once.
 * UINT32_MAX on ENOMEM.
 */
static uint32_t pod_peer(struct build *b, uint32_t i, uint32_t id, uint32_t ip0)
{
	struct comp *c = &b->c;
	const struct k8s_pod *pod = &c->cl->pods[i];
	u32vec *sig = &b->sig;
	uint32_t aset;
	if (pod->n_ips == 1) {
		aset = b->rng_set.p[range_of(b->rng_lo.p, b->rng_lo.n, ntohl(ip0), &b->rng_hint)];
	} else if (pod->n_ips > 1) {
		/* any address the packet carries: the union of the sets */
		sig->n = 0;
		for (size_t k = 0; k < b->cidr_atoms.n; k++)
			if (atom_has_pod(c, &c->atoms.p[b->cidr_atoms.p[k]], i) &&
			    !VPUSH(*sig, b->cidr_atoms.p[k]))
				return UINT32_MAX;
		aset = intern(&b->rsets, sig->p, (uint32_t)sig->n);
	} else {
		aset = b->rng_empty;
	}
	if (aset == UINT32_MAX)
		return UINT32_MAX;
	uint32_t pair[2] = {b->id_part.p[id], aset};
	size_t before = b->pairs.n;
	uint32_t pr = intern(&b->pairs, pair, 2);
	if (pr == UINT32_MAX)
		return UINT32_MAX;
	if (b->pairs.n == before)
		return b->pair_peer.p[pr];
	uint32_t na, np;
	const uint32_t *as = intern_get(&b->rsets, aset, &na);
	const uint32_t *part = intern_get(&b->parts, pair[0], &np);
	/* [1, atoms ascending, UINT32_MAX, named ports]: the selector atoms
	 * (ending at UINT32_MAX) and ipBlock atoms merged */
	sig->n = 0;
	if (!VPUSH(*sig, 1))
		return UINT32_MAX;
	uint32_t si = 0, ci = 0;
	while (part[si] != UINT32_MAX || ci < na) {
		uint32_t a = ci == na || part[si] < as[ci] ? part[si++] : as[ci++];
		if (!VPUSH(*sig, a))
			return UINT32_MAX;
	}
	for (; si < np; si++)
		if (!VPUSH(*sig, part[si]))
			return UINT32_MAX;
	before = c->peers.n;
	uint32_t peer = intern(&c->peers, sig->p, (uint32_t)sig->n);
	if (peer == UINT32_MAX || !VPUSH(b->pair_peer, peer))
		return UINT32_MAX;
	if (c->peers.n != before) {
		if (!peer_added(c, sig))
			return UINT32_MAX;
		if (b->fast) {
			b->added++;
			if (peer_project(b, peer))
				return UINT32_MAX;
		}
	}
	return peer;
}

/* t->ip from the pods' addresses (first ones from ip0) to their entries
 * (slot; NULL: pod order); counts the addresses two pods hold (the later
 * pod's stays). 0 or -ENOMEM. */
static int ip_build(struct build *b, const uint32_t *ip0, const uint32_t *slot)
{
	const struct k8s_cluster *cl = b->c.cl;
	size_t n_ips = 0;
	for (uint32_t i = 0; i < cl->n_pods; i++)
		n_ips += cl->pods[i].n_ips;
	uint64_t *keys = malloc(sizeof(uint64_t) * (n_ips + 1));
	uint32_t *vals = malloc(sizeof(uint32_t) * (n_ips + 1));
	int rc = -ENOMEM;
	if (keys && vals) {
		n_ips = 0;
		for (uint32_t i = 0; i < cl->n_pods; i++)
			for (unsigned k = 0; k < cl->pods[i].n_ips; k++) {
				keys[n_ips] = k ? cl->pods[i].ips[k] : ip0[i];
				vals[n_ips++] = slot ? slot[i] : i;
			}
		rc = pol_hash_replace(&b->t->ip, keys, vals, n_ips);
	}
	free(keys);
	free(vals);
	if (!rc)
		b->ip_dups = (uint32_t)(n_ips - b->t->ip.n);
	return rc;
}

/* Address ranges split at every ipBlock boundary (b->cidr_atoms), each
 * with the ipBlock atoms containing it (b->rng_*, built anew; set ids
 * are kept, rsets being interned). 0 or -ENOMEM. */
static int address_ranges(struct build *b)
{
	struct comp *c = &b->c;
	b->rng_lo.n = b->rng_set.n = 0;
	b->rng_hint = 0;
	if (!VPUSH(b->rng_lo, 0))
		return -ENOMEM;
	for (size_t k = 0; k < b->cidr_atoms.n; k++) {
		const struct atom *at = &c->atoms.p[b->cidr_atoms.p[k]];
		for (unsigned e = 0; e <= at->n_except; e++) {
			const struct k8s_cidr *cd = e ? &at->except[e - 1] : &at->cidr;
			uint32_t lo = ntohl(cd->addr);
			uint64_t end = (uint64_t)lo + (cd->len ? 1ull << (32 - cd->len) : 1ull << 32);
			if (!VPUSH(b->rng_lo, lo) ||
			    (end < (1ull << 32) && !VPUSH(b->rng_lo, (uint32_t)end)))
				return -ENOMEM;
		}
	}
	sort_u32(b->rng_lo.p, b->rng_lo.n);
	size_t u = 0;
	for (size_t k = 0; k < b->rng_lo.n; k++)
		if (!k || b->rng_lo.p[k] != b->rng_lo.p[u - 1])
			b->rng_lo.p[u++] = b->rng_lo.p[k];
	b->rng_lo.n = u;
	for (size_t k = 0; k < b->rng_lo.n; k++) {
		b->sig.n = 0;
		for (size_t x = 0; x < b->cidr_atoms.n; x++)
			if (atom_has_ip(&c->atoms.p[b->cidr_atoms.p[x]], b->rng_lo.p[k]) &&
			    !VPUSH(b->sig, b->cidr_atoms.p[x]))
				return -ENOMEM;
		uint32_t id = intern(&b->rsets, b->sig.p, (uint32_t)b->sig.n);
		if (id == UINT32_MAX || !VPUSH(b->rng_set, id))
			return -ENOMEM;
	}
	return (b->rng_empty = intern(&b->rsets, NULL, 0)) == UINT32_MAX ? -ENOMEM : 0;
}

/* The atoms split into ipBlock and selector ones, and the address
 * ranges. 0 or -ENOMEM. */
static int address_sets(struct build *b)
{
	struct comp *c = &b->c;
	for (size_t a = 0; a < c->atoms.n; a++) {
		bool ok = c->atoms.p[a].kind == ATOM_CIDR ? VPUSH(b->cidr_atoms, (uint32_t)a)
							  : VPUSH(b->sel_atoms, (uint32_t)a);
		if (!ok)
			return -ENOMEM;
	}
	return address_ranges(b);
}

/* Non-pod address ranges (b->rng_lo: address_ranges()) with their peer
 * classes, a range's being its ipBlock atoms (t->cidr_*, made anew; a
 * run of ranges with one class is one). 0 or -ENOMEM. */
static int cidr_classes(struct build *b)
{
	struct comp *c = &b->c;
	struct pol_tables *t = b->t;
	size_t n = b->rng_lo.n;
	free(t->cidr_lo);
	free(t->cidr_peer);
	t->n_cidr = 0;
	t->cidr_lo = malloc(sizeof(uint32_t) * (n + 1));
	t->cidr_peer = malloc(sizeof(uint32_t) * (n + 1));
	if (!t->cidr_lo || !t->cidr_peer)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		uint32_t na;
		const uint32_t *as = intern_get(&b->rsets, b->rng_set.p[k], &na);
		b->sig.n = 0;
		bool ok = VPUSH(b->sig, 0);
		for (uint32_t x = 0; ok && x < na; x++)
			ok = VPUSH(b->sig, as[x]);
		if (!ok || !VPUSH(b->sig, UINT32_MAX))
			return -ENOMEM;
		size_t before = c->peers.n;
		uint32_t pc = intern(&c->peers, b->sig.p, (uint32_t)b->sig.n);
		if (pc == UINT32_MAX || (c->peers.n != before && !peer_added(c, &b->sig)))
			return -ENOMEM;
		if (t->n_cidr && t->cidr_peer[t->n_cidr - 1] == pc)
			continue;
		t->cidr_lo[t->n_cidr] = b->rng_lo.p[k];
		t->cidr_peer[t->n_cidr++] = pc;
	}
	return 0;
}

/* Rules per policy slot (CSR: anp_first / np_first index pol_rules, NP
 * rules after all ANP rules; dead rules left out), so a subject's rules
 * come from the policies its signature lists. 0 or -ENOMEM. */
static int rules_by_policy(struct build *b)
{
	const struct comp *c = &b->c;
	uint32_t na = b->n_anp_slots, nn = b->n_np_slots;
	if (!grow((void **)&b->anp_first.p, &b->anp_first.cap, na + 1, sizeof(uint32_t)) ||
	    !grow((void **)&b->np_first.p, &b->np_first.cap, nn + 1, sizeof(uint32_t)) ||
	    !grow((void **)&b->pol_rules.p, &b->pol_rules.cap, c->rules.n + 1, sizeof(uint32_t)))
		return -ENOMEM;
	b->anp_first.n = na + 1;
	b->np_first.n = nn + 1;
	memset(b->anp_first.p, 0, b->anp_first.n * sizeof(uint32_t));
	memset(b->np_first.p, 0, b->np_first.n * sizeof(uint32_t));
	size_t live = 0;
	for (size_t r = 0; r < c->rules.n; r++) {
		const struct crule *cr = &c->rules.p[r];
		if (!cr->dead) {
			(cr->tier == TIER_NP ? b->np_first.p : b->anp_first.p)[cr->policy + 1]++;
			live++;
		}
	}
	b->pol_rules.n = live;
	for (uint32_t i = 0; i < na; i++)
		b->anp_first.p[i + 1] += b->anp_first.p[i];
	for (uint32_t i = 0; i < nn; i++)
		b->np_first.p[i + 1] += b->np_first.p[i];
	uint32_t *fill = calloc(na + nn + 1, sizeof(uint32_t));
	if (!fill)
		return -ENOMEM;
	uint32_t n_anp_rules = b->anp_first.p[na];
	for (uint32_t i = 0; i <= nn; i++)
		b->np_first.p[i] += n_anp_rules;
	for (size_t r = 0; r < c->rules.n; r++) {
		const struct crule *cr = &c->rules.p[r];
		if (cr->dead)
			continue;
		uint32_t at = cr->tier == TIER_NP
				      ? b->np_first.p[cr->policy] + fill[na + cr->policy]++
				      : b->anp_first.p[cr->policy] + fill[cr->policy]++;
		b->pol_rules.p[at] = (uint32_t)r;
	}
	free(fill);
	return 0;
}

/*
 * The full compile into b (b->t allocated, b->c.prev / next set). keep:
 * the context keeps b afterwards (its tables' growing arrays stay b's;
 * the indexes the pods-only path needs are built); otherwise t takes its
 * arrays. 0 or -ENOMEM.
 */
static int compile_full(struct build *b, bool keep)
{
	struct comp *c = &b->c;
	const struct k8s_cluster *cl = c->cl;
	struct pol_tables *t = b->t;
	int rc = -ENOMEM;

	c->id_remap = malloc(sizeof(uint32_t) * (c->prev->idents.n + 1));
	if (c->id_remap)
		memset(c->id_remap, 0xff, sizeof(uint32_t) * (c->prev->idents.n + 1));
	if (!c->id_remap || !intern_init(&c->peers) || !intern_init(&c->subjects) ||
	    !intern_init(&c->mapcontent) ||
	    !intern_init(&c->atomkeys) || !intern_init(&c->strs) || !intern_init(&b->rsets) ||
	    !intern_init(&b->pairs) || !intern_init(&b->parts) || !VPUSH(b->s_rules_first, 0) ||
	    !VPUSH(b->s_used_first, 0))
		return -ENOMEM;
	c->pod_ns_labels = calloc(cl->n_pods + 1, sizeof(*c->pod_ns_labels));
	c->pod_ns = calloc(cl->n_pods + 1, sizeof(*c->pod_ns));
	c->pod_ident = calloc(cl->n_pods + 1, sizeof(*c->pod_ident));
	c->pod_ip = calloc(cl->n_pods + 1, sizeof(*c->pod_ip));
	c->pod_nip = calloc(cl->n_pods + 1, sizeof(*c->pod_nip));
	if (!c->pod_ns_labels || !c->pod_ns || !c->pod_ident || !c->pod_ip || !c->pod_nip)
		return -ENOMEM;
	/* a kept context's atoms outlive cl: they copy what they match */
	if (keep && !(c->own = calloc(1, sizeof(*c->own))))
		return -ENOMEM;
	b->n_anp_slots = cl->n_anps;
	b->n_np_slots = cl->n_netpols;
	/* Namespace names are interned first: string id i < n_namespaces is
	 * namespace i (names are unique), so a pod's namespace is one lookup. */
	for (uint32_t i = 0; i < cl->n_namespaces; i++)
		if (intern_str(&c->strs, cl->namespaces[i].name, &c->tmp) != i)
			return -ENOMEM;
	if (np_by_namespace(c) || (rc = catalogue(c)) || (rc = address_sets(b)))
		return rc ? rc : -ENOMEM;
	rc = -ENOMEM;
	b->atom_mark = calloc(c->atoms.n + 1, sizeof(uint32_t));
	t->pods = calloc(cl->n_pods + 1, sizeof(*t->pods));
	if (!b->atom_mark || !t->pods)
		return -ENOMEM;
	t->n_pods = cl->n_pods;
	b->pods_cap = cl->n_pods + 1;
	/*
	 * Pods with the same namespace, labels and container ports (one
	 * identity) are selected alike: their subject classes and the
	 * selector part of their peer class are computed once per identity.
	 * Only ipBlock atoms depend on a pod's own addresses.
	 */
	for (uint32_t i = 0; i < cl->n_pods; i++) {
		bool added;
		uint32_t id = pod_identity(c, i, &added);
		if (id == UINT32_MAX || (added && (rc = identity_setup(b, i, id))))
			return rc;
		t->pods[i].subject[0] = b->id_subj.p[2 * id];
		t->pods[i].subject[1] = b->id_subj.p[2 * id + 1];
		t->pods[i].peer = pod_peer(b, i, id, c->pod_ip[i]);
		if (t->pods[i].peer == UINT32_MAX)
			return -ENOMEM;
	}
	if (cidr_classes(b) || rules_by_policy(b))
		return -ENOMEM;

	/* Port maps per subject class. */
	if (atom_index_build(b, c->peers.n, peer_atoms, &b->atom_peers))
		return -ENOMEM;
	b->peers_indexed = c->peers.n;
	b->atoms_indexed = (uint32_t)c->atoms.n;
	for (uint32_t s = 0; s < c->subjects.n; s++)
		if ((rc = subject_setup(b, s)) || (rc = subject_project(b, s)))
			return rc;
	b->subj_indexed = c->subjects.n;
	if (pol_hash_build(&t->maps, b->mkeys.p, b->mvals.p, b->mkeys.n) ||
	    ip_build(b, c->pod_ip, NULL))
		return -ENOMEM;
	if (c->pod_versions && record_pod_versions(c))
		return -ENOMEM;
	if (!VPUSH(c->map_first, (uint32_t)c->ranges.n))
		return -ENOMEM;
	tables_sync(b);
	/* rule names are the tables' */
	t->n_rules = (uint32_t)c->rule_names.n;
	t->rules = c->rule_names.p;
	b->rules_cap = c->rule_names.cap;
	c->rule_names.p = NULL;
	c->rule_names.n = c->rule_names.cap = 0;
	if (!keep) { /* the growing arrays are the tables' too */
		c->map_first.p = NULL;
		c->ranges.p = NULL;
		b->dflt.p = NULL;
		return 0;
	}
	if (atom_index_build(b, c->subjects.n, subject_atoms, &b->atom_subj))
		return -ENOMEM;
	free(b->mkeys.p);
	free(b->mvals.p);
	memset(&b->mkeys, 0, sizeof(b->mkeys));
	memset(&b->mvals, 0, sizeof(b->mvals));
	b->n_namespaces = cl->n_namespaces;
	b->ns_ver = calloc(cl->n_namespaces + 1, sizeof(*b->ns_ver));
	b->ns_mode = malloc(cl->n_namespaces + 1);
	if (!b->ns_ver || !b->ns_mode)
		return -ENOMEM;
	for (uint32_t k = 0; k < cl->n_namespaces; k++) {
		b->ns_ver[k] = c->ns_versions ? c->ns_versions[k] : 0;
		b->ns_mode[k] = cl->namespaces[k].mode;
	}
	b->n_netpols = cl->n_netpols;
	b->n_anps = cl->n_anps;
	b->added = 0;
	/* garbage the pods-only path may leave (classes and maps no pod
	 * uses any more) before the next compile is a full one */
	b->budget = 64 + (c->peers.n + c->subjects.n + t->maps.n + b->id_part.n) / 4;
	return 0;
}

/* ---- the pods-only path ------------------------------------------------------------- */

/* Pod i, read: its identity (interned in the context's, set up if new)
 * and classes. 0 or -ENOMEM. */
static int pod_read(struct build *b, struct ctx_gen *g, uint32_t i, struct pol_pod *out,
		    uint32_t *ident)
{
	struct comp *c = &b->c;
	const struct k8s_pod *p = &c->cl->pods[i];
	c->tmp.n = 0;
	if (!identity_content(p, &c->tmp))
		return -ENOMEM;
	size_t before = g->idents.n;
	uint32_t id = intern(&g->idents, c->tmp.p, (uint32_t)c->tmp.n);
	if (id == UINT32_MAX)
		return -ENOMEM;
	if (g->idents.n != before || b->id_stale.p[id]) {
		b->added++;
		int rc = identity_setup(b, i, id);
		if (rc)
			return rc;
	}
	*ident = id;
	out->subject[0] = b->id_subj.p[2 * id];
	out->subject[1] = b->id_subj.p[2 * id + 1];
	out->peer = pod_peer(b, i, id, p->n_ips ? p->ips[0] : 0);
	return out->peer == UINT32_MAX ? -ENOMEM : 0;
}

/*
 * The pod of entry i (t->pods) had old_nip addresses, the first old_ip,
 * and now has nip, the first ip (nip or old_nip 0: a new pod, a pod
 * gone): t->ip to match. *rebuild when an in-place change cannot keep the
 * hash exact (several addresses, or an address two pods hold). 0 or
 * -ENOMEM.
 */
static int ip_update(struct build *b, uint32_t i, uint32_t old_ip, uint8_t old_nip, uint32_t ip,
		     uint8_t nip, bool *rebuild)
{
	struct pol_hash *h = &b->t->ip;
	if (*rebuild || (old_ip == ip && old_nip == nip && nip <= 1))
		return 0;
	if (old_nip > 1 || nip > 1 || b->ip_dups) {
		*rebuild = true;
		return 0;
	}
	if (old_nip == 1) {
		if (pol_hash_get(h, old_ip) != i) {
			*rebuild = true;
			return 0;
		}
		pol_hash_remove(h, old_ip);
	}
	if (nip == 1) {
		uint32_t have = pol_hash_get(h, ip);
		if (have == POL_NONE)
			return pol_hash_insert(h, ip, i);
		*rebuild = have != i;
	}
	return 0;
}

/* Resize the comp's per-pod scratch arrays to n pods. false on ENOMEM. */
static bool pod_scratch(struct comp *c, size_t n)
{
	const struct k8s_labels **l = realloc(c->pod_ns_labels, (n + 1) * sizeof(*l));
	if (l)
		c->pod_ns_labels = l;
	uint32_t *ns = realloc(c->pod_ns, (n + 1) * sizeof(*ns));
	if (ns)
		c->pod_ns = ns;
	return l && ns;
}

/* An entry of t->pods for a new pod: a free one, else a new one at the
 * end. UINT32_MAX on ENOMEM. */
static uint32_t slot_alloc(struct build *b)
{
	struct pol_tables *t = b->t;
	if (b->free_slots.n)
		return b->free_slots.p[--b->free_slots.n];
	if (t->n_pods + 1ull >= b->pods_cap) {
		size_t cap = b->pods_cap * 2 + 16;
		if (cap > UINT32_MAX)
			return UINT32_MAX;
		struct pol_pod *p = realloc(t->pods, cap * sizeof(*p));
		if (!p)
			return UINT32_MAX;
		t->pods = p;
		b->pods_cap = cap;
	}
	return t->n_pods++;
}

/*
 * The pods-only path when pods were added or removed (or many changed):
 * each pod keeps its entry in t->pods (its slot), found by its version
 * (prev_pod); the previous pods not found give theirs up (their addresses
 * leave t->ip); the new and changed pods are read into free entries. The
 * per-pod arrays of g are rebuilt in the new order. 0 or -ENOMEM.
 */
static int pods_reorder(struct build *b, struct ctx_gen *g, const uint64_t *pv)
{
	struct comp *c = &b->c;
	const struct k8s_cluster *cl = c->cl;
	struct pol_tables *t = b->t;
	size_t n = cl->n_pods;
	uint64_t *ver = malloc(sizeof(*ver) * (n + 1));
	uint32_t *id = malloc(sizeof(*id) * (n + 1));
	uint32_t *ip = malloc(sizeof(*ip) * (n + 1));
	uint32_t *slot = malloc(sizeof(*slot) * (n + 1));
	uint8_t *nip = malloc(n + 1), *found = calloc(g->n_pods + 1, 1);
	bool rebuild = false;
	int rc = ver && id && ip && slot && nip && found ? 0 : -ENOMEM;
	/* the pods seen before, unchanged */
	for (uint32_t i = 0; !rc && i < n; i++) {
		size_t at = prev_pod(c, i, pv[i]);
		ver[i] = pv[i];
		slot[i] = UINT32_MAX;
		if (at == SIZE_MAX)
			continue;
		found[at] = 1;
		id[i] = g->pod_id[at];
		ip[i] = g->pod_ip[at];
		nip[i] = g->pod_nip[at];
		slot[i] = g->pod_slot[at];
	}
	/* the previous pods not found (gone, or changed): entries freed */
	for (size_t at = 0; !rc && at < g->n_pods; at++) {
		if (found[at])
			continue;
		b->added++;
		if (!VPUSH(b->free_slots, g->pod_slot[at]) ||
		    (rc = ip_update(b, g->pod_slot[at], g->pod_ip[at], g->pod_nip[at], 0, 0,
				    &rebuild)))
			rc = rc ? rc : -ENOMEM;
	}
	/* the new and changed pods: read into entries of their own */
	for (uint32_t i = 0; !rc && i < n; i++) {
		if (slot[i] != UINT32_MAX)
			continue;
		const struct k8s_pod *p = &cl->pods[i];
		ip[i] = p->n_ips ? p->ips[0] : 0;
		nip[i] = n_addrs(p);
		if ((slot[i] = slot_alloc(b)) == UINT32_MAX)
			rc = -ENOMEM;
		else if (!(rc = pod_read(b, g, i, &t->pods[slot[i]], &id[i])))
			rc = ip_update(b, slot[i], 0, 0, ip[i], nip[i], &rebuild);
	}
	free(found);
	if (rc) {
		free(ver);
		free(id);
		free(ip);
		free(nip);
		free(slot);
		return rc;
	}
	free(g->pod_ver);
	free(g->pod_id);
	free(g->pod_ip);
	free(g->pod_nip);
	free(g->pod_slot);
	g->pod_ver = ver;
	g->pod_id = id;
	g->pod_ip = ip;
	g->pod_nip = nip;
	g->pod_slot = slot;
	g->n_pods = n;
	return rebuild ? ip_build(b, ip, slot) : 0;
}

/*
 * The namespaces whose version changed or is unknown (nv, per namespace
 * of c->cl; NULL: none changed, the rest version covers them): each must
 * have the same name and policy mode where it was, else -EAGAIN (a full
 * compile). Their identities are marked affected (this compile's pods of
 * them get new classes: ns_apply) and stale (set up again by the next pod
 * that has one, in this compile or a later one: pod_read, ns_apply; an
 * identity no pod has stays stale until one does). *any: some
 * namespace changed. 0, -EAGAIN or -ENOMEM.
 */
static int ns_changes(struct build *b, const uint64_t *nv, bool *any)
{
	struct comp *c = &b->c;
	const struct k8s_cluster *cl = c->cl;
	*any = false;
	if (!nv)
		return 0;
	uint8_t *mark = calloc(cl->n_namespaces + 1, 1);
	if (!mark)
		return -ENOMEM;
	for (uint32_t k = 0; k < cl->n_namespaces; k++) {
		if (nv[k] && nv[k] == b->ns_ver[k])
			continue;
		c->tmp.n = 0;
		if (cl->namespaces[k].mode != b->ns_mode[k] ||
		    !pack_str(&c->tmp, cl->namespaces[k].name) ||
		    intern_find(&c->strs, c->tmp.p, (uint32_t)c->tmp.n) != k) {
			free(mark);
			return -EAGAIN;
		}
		mark[k] = 1;
		*any = true;
	}
	size_t n = b->id_part.n;
	if (*any) {
		free(b->affected);
		b->affected = calloc(n + 1, 1);
		b->n_affected = n;
	}
	if (*any && !b->affected) {
		free(mark);
		return -ENOMEM;
	}
	for (size_t id = 0; *any && id < n; id++)
		if (b->id_ns.p[id] < cl->n_namespaces && mark[b->id_ns.p[id]])
			b->affected[id] = b->id_stale.p[id] = 1;
	for (uint32_t k = 0; k < cl->n_namespaces; k++)
		b->ns_ver[k] = nv[k];
	free(mark);
	return 0;
}

/* Every pod of an affected identity (ns_changes): its identity set up
 * again (once) and its classes anew. 0 or -ENOMEM. */
static int ns_apply(struct build *b, struct ctx_gen *g)
{
	struct pol_tables *t = b->t;
	int rc = 0;
	for (uint32_t i = 0; !rc && i < g->n_pods; i++) {
		uint32_t id = g->pod_id[i];
		if (id >= b->n_affected || !b->affected[id])
			continue;
		if (b->id_stale.p[id] && (rc = identity_setup(b, i, id)))
			break;
		struct pol_pod *e = &t->pods[g->pod_slot[i]];
		e->subject[0] = b->id_subj.p[2 * id];
		e->subject[1] = b->id_subj.p[2 * id + 1];
		if ((e->peer = pod_peer(b, i, id, g->pod_ip[i])) == UINT32_MAX)
			rc = -ENOMEM;
	}
	b->n_affected = 0;
	return rc;
}

/*
 * A compile after a change of pods only (namespaces and policies as at
 * the kept compile): the kept tables get the changed pods' classes,
 * new classes get their maps, and nothing else is recomputed. When the
 * pod count is unchanged and few pods changed, they are updated where
 * they are; otherwise pods_reorder() follows the new order (every pod
 * keeps its entry in t->pods either way). Classes, maps and entries that
 * no pod uses any more stay until the next full compile. 0, -EAGAIN (cl
 * does not fit: nothing changed) or -ENOMEM (the context is spoilt).
 */
static int pods_only(struct pol_ctx *ctx, const struct k8s_cluster *cl, const uint64_t *pv,
		     const uint64_t *nv)
{
	struct build *b = ctx->keep;
	struct comp *c = &b->c;
	struct ctx_gen *g = &ctx->gen[ctx->cur];
	struct pol_tables *t = b->t;
	size_t n = cl->n_pods;
	u32vec changed = {0};
	int rc = -ENOMEM;

	bool ns_any = false;
	if (cl->n_namespaces != b->n_namespaces || cl->n_netpols != b->n_netpols ||
	    cl->n_anps != b->n_anps)
		return -EAGAIN;
	c->cl = cl;
	if ((rc = ns_changes(b, nv, &ns_any)))
		return rc;
	c->pod_versions = pv;
	c->prev = c->next = g;
	c->ver_shift = 0;
	b->fast = true;
	if (!pod_scratch(c, n))
		return -ENOMEM;
	/* the last map's end: new maps go after it */
	c->map_first.n--;
	bool inplace = n == g->n_pods;
	for (uint32_t i = 0; inplace && i < n; i++)
		if ((!pv[i] || pv[i] != g->pod_ver[i]) &&
		    (!VPUSH(changed, i) || changed.n > n / 8 + 8))
			inplace = false;
	if (inplace) {
		bool rebuild = false;
		for (size_t k = 0; k < changed.n; k++) {
			uint32_t i = changed.p[k], id, slot = g->pod_slot[i];
			const struct k8s_pod *p = &cl->pods[i];
			uint32_t ip = p->n_ips ? p->ips[0] : 0;
			if ((rc = pod_read(b, g, i, &t->pods[slot], &id)) ||
			    (rc = ip_update(b, slot, g->pod_ip[i], g->pod_nip[i], ip, n_addrs(p),
					    &rebuild)))
				goto out;
			g->pod_ver[i] = pv[i];
			g->pod_id[i] = id;
			g->pod_ip[i] = ip;
			g->pod_nip[i] = n_addrs(p);
		}
		if (rebuild && (rc = ip_build(b, g->pod_ip, g->pod_slot)))
			goto out;
	} else if ((rc = pods_reorder(b, g, pv))) {
		goto out;
	}
	if (ns_any && (rc = ns_apply(b, g)))
		goto out;
	rc = VPUSH(c->map_first, (uint32_t)c->ranges.n) ? 0 : -ENOMEM;
	tables_sync(b);
out:
	free(changed.p);
	b->fast = false;
	c->cl = NULL;
	return rc;
}

/* ---- the policy path ------------------------------------------------------------ */

/* Does (B)ANP a make c->any_audit true? (Its rules carry the mode: one
 * without rules does not.) */
static bool anp_audited(const struct k8s_anp *a)
{
	return a->mode == K8S_MODE_AUDIT && a->n_ingress + a->n_egress > 0;
}

struct ver_slot {
	uint64_t ver;
	uint32_t slot;
};

static int cmp_ver_slot(const void *a, const void *b)
{
	uint64_t x = ((const struct ver_slot *)a)->ver, y = ((const struct ver_slot *)b)->ver;
	return x < y ? -1 : x > y;
}

/*
 * The slots of the n policies of one kind in the new cluster (versions
 * ver) after the kept compile's (old_n of them, old_ver, *slot_of per
 * policy, *slot_cl per slot, *n_slots): a policy whose version is known
 * keeps its slot; a new or changed one takes the slot of one gone, else
 * one empty since an earlier compile, else a new slot. *slot_of and *slot_cl become the new cluster's; chg gets the
 * slots whose content changed (new, taken over or emptied). 0 or -ENOMEM.
 */
static int slots_match(uint32_t n, const uint64_t *ver, uint32_t old_n, const uint64_t *old_ver,
		       uint32_t *n_slots, u32vec *slot_of, u32vec *slot_cl, u32vec *chg)
{
	struct ver_slot *vs = malloc(sizeof(*vs) * (old_n + 1));
	uint32_t *now = malloc(sizeof(uint32_t) * (n + 1));
	uint8_t *used = calloc(*n_slots + 1, 1);
	u32vec gone = {0};
	int rc = -ENOMEM;
	if (!vs || !now || !used)
		goto out;
	/* each policy where it was (near_ver), then the rest among the old
	 * ones not met (versions are unique: an old one matches once) */
	ptrdiff_t shift = 0;
	bool missed = false;
	for (uint32_t i = 0; i < n; i++) {
		size_t j = near_ver(old_ver, old_n, i, ver[i], &shift);
		now[i] = POL_NONE;
		if (j != SIZE_MAX && !used[slot_of->p[j]]) {
			now[i] = slot_of->p[j];
			used[now[i]] = 1;
		}
		missed |= ver[i] && now[i] == POL_NONE;
	}
	size_t n_vs = 0;
	for (uint32_t j = 0; missed && j < old_n; j++)
		if (old_ver[j] && !used[slot_of->p[j]])
			vs[n_vs++] = (struct ver_slot){old_ver[j], slot_of->p[j]};
	qsort(vs, n_vs, sizeof(*vs), cmp_ver_slot);
	for (uint32_t i = 0; n_vs && i < n; i++) {
		struct ver_slot key = {ver[i], 0}, *f = NULL;
		if (ver[i] && now[i] == POL_NONE)
			f = bsearch(&key, vs, n_vs, sizeof(*vs), cmp_ver_slot);
		if (f && !used[f->slot]) {
			used[f->slot] = 1;
			now[i] = f->slot;
		}
	}
	/* the slots whose policy went, then those empty since before */
	size_t n_gone = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t sl = 0; sl < *n_slots; sl++) {
			bool held = slot_cl->p[sl] != POL_NONE;
			if (!used[sl] && held == !pass && !VPUSH(gone, sl))
				goto out;
		}
		if (!pass)
			n_gone = gone.n;
	}
	size_t g = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (now[i] != POL_NONE)
			continue;
		now[i] = g < gone.n ? gone.p[g++] : (*n_slots)++;
		if (!VPUSH(*chg, now[i]))
			goto out;
	}
	for (; g < n_gone; g++) /* emptied now */
		if (!VPUSH(*chg, gone.p[g]))
			goto out;
	if (!grow((void **)&slot_cl->p, &slot_cl->cap, *n_slots + 1, sizeof(uint32_t)) ||
	    !grow((void **)&slot_of->p, &slot_of->cap, n + 1, sizeof(uint32_t)))
		goto out;
	slot_cl->n = *n_slots;
	for (uint32_t sl = 0; sl < *n_slots; sl++)
		slot_cl->p[sl] = POL_NONE;
	for (uint32_t i = 0; i < n; i++)
		slot_cl->p[now[i]] = i;
	memcpy(slot_of->p, now, sizeof(uint32_t) * n);
	slot_of->n = n;
	rc = 0;
out:
	free(vs);
	free(now);
	free(used);
	free(gone.p);
	return rc;
}

/*
 * c->anp_order / np_order (slots in evaluation order) without the
 * changed slots chg (mark: per slot), then with those of them that hold
 * a policy, each at its place (the others' order is unchanged: their
 * policies are). 0 or -ENOMEM.
 */
static int order_update(struct build *b, bool np, const u32vec *chg, const uint8_t *mark)
{
	struct comp *c = &b->c;
	u32vec *o = np ? &c->np_order : &c->anp_order;
	const uint32_t *slot_cl = np ? b->np_cl.p : b->anp_cl.p;
	int (*cmp)(const void *, const void *) = np ? cmp_np : cmp_anp;
	size_t w = 0;
	for (size_t r = 0; r < o->n; r++)
		if (!mark[o->p[r]])
			o->p[w++] = o->p[r];
	o->n = w;
	sort_cl = c->cl;
	for (size_t k = 0; k < chg->n; k++) {
		uint32_t sl = chg->p[k];
		if (slot_cl[sl] == POL_NONE)
			continue;
		size_t lo = 0, hi = o->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cmp(&slot_cl[o->p[mid]], &slot_cl[sl]) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!VPUSH(*o, 0))
			return -ENOMEM;
		memmove(o->p + lo + 1, o->p + lo, (o->n - 1 - lo) * sizeof(uint32_t));
		o->p[lo] = sl;
	}
	return 0;
}

/* Every live rule's crule.ord from its policy's place in the order. 0
 * or -ENOMEM. */
static int ranks_apply(struct build *b)
{
	struct comp *c = &b->c;
	uint32_t *ra = calloc(b->n_anp_slots + 1, sizeof(uint32_t));
	uint32_t *rn = calloc(b->n_np_slots + 1, sizeof(uint32_t));
	if (!ra || !rn) {
		free(ra);
		free(rn);
		return -ENOMEM;
	}
	uint32_t nb = np_rank0(c, b->anp_cl.p), nn = (uint32_t)c->np_order.n;
	for (uint32_t k = 0; k < c->anp_order.n; k++)
		ra[c->anp_order.p[k]] = k < nb ? k : nn + k;
	for (uint32_t k = 0; k < nn; k++)
		rn[c->np_order.p[k]] = nb + k;
	for (size_t r = 0; r < c->rules.n; r++) {
		struct crule *cr = &c->rules.p[r];
		uint32_t rank = cr->tier == TIER_NP ? rn[cr->policy] : ra[cr->policy];
		cr->ord = (uint64_t)rank << 32 | (uint64_t)cr->dir << 31 | cr->ri;
	}
	free(ra);
	free(rn);
	return 0;
}

/* The rules of the changed slots chg (of anps or netpols) dead. */
static void rules_kill(struct build *b, bool np, const u32vec *chg)
{
	struct comp *c = &b->c;
	const u32vec *first = np ? &b->np_first : &b->anp_first;
	for (size_t k = 0; k < chg->n; k++) {
		uint32_t sl = chg->p[k];
		if (sl + 1 >= first->n)
			continue; /* a new slot: no rules yet */
		for (uint32_t x = first->p[sl]; x < first->p[sl + 1]; x++) {
			struct crule *cr = &c->rules.p[b->pol_rules.p[x]];
			cr->dead = true;
			free(cr->atoms.p);
			free(cr->ports.p);
			memset(&cr->atoms, 0, sizeof(cr->atoms));
			memset(&cr->ports, 0, sizeof(cr->ports));
			b->added++;
		}
	}
}

/*
 * Did any changed slot's selection of identity id (pod rep) in direction
 * dir change, against its class s's signature?
 */
static bool selection_moved(struct build *b, uint32_t s, uint32_t rep, unsigned dir,
			    const u32vec *chg_anp, const u32vec *chg_np)
{
	struct comp *c = &b->c;
	const struct k8s_cluster *cl = c->cl;
	uint32_t len, a0 = 1, a1 = 1;
	const uint32_t *sg = intern_get(&c->subjects, s, &len);
	while (a1 < len && sg[a1] != UINT32_MAX)
		a1++;
	uint32_t n0 = a1 + 1, n1 = n0;
	while (n1 < len && sg[n1] != UINT32_MAX)
		n1++;
	for (size_t k = 0; k < chg_anp->n; k++) {
		uint32_t sl = chg_anp->p[k], i = b->anp_cl.p[sl];
		bool now = i != POL_NONE && anp_selects(c, &cl->anps[i], rep);
		if (now != u32_has(sg + a0, a1 - a0, sl))
			return true;
	}
	for (size_t k = 0; k < chg_np->n; k++) {
		uint32_t sl = chg_np->p[k], i = b->np_cl.p[sl];
		bool now = i != POL_NONE && np_selects(c, &cl->netpols[i], rep, dir);
		if (now != u32_has(sg + n0, n1 - n0, sl))
			return true;
	}
	return false;
}

/* Mark stale every current subject class whose signature lists a changed
 * slot (amark / nmark: per ANP / NP slot). false on ENOMEM. */
static bool subjects_stale(struct build *b, const uint8_t *amark, const uint8_t *nmark)
{
	struct comp *c = &b->c;
	for (uint32_t s = 0; s < c->subjects.n; s++) {
		if (subj_fwd_of(b, s) != SUBJ_CUR)
			continue;
		uint32_t len, k = 1;
		const uint32_t *sg = intern_get(&c->subjects, s, &len);
		bool hit = false;
		for (; k < len && sg[k] != UINT32_MAX; k++)
			hit |= amark[sg[k]];
		for (k++; k < len && sg[k] != UINT32_MAX; k++)
			hit |= nmark[sg[k]];
		if (hit && !subj_fwd_set(b, s, SUBJ_STALE))
			return false;
	}
	return true;
}

/* Identity id's selector part with the new selector atoms (sel,
 * ascending, all above its own) that pod rep holds; *moved when it has
 * any. 0 or -ENOMEM. */
static int part_extend(struct build *b, const u32vec *sel, uint32_t id, uint32_t rep,
		       bool *moved)
{
	struct comp *c = &b->c;
	uint32_t len, k = 0;
	*moved = false;
	for (size_t x = 0; x < sel->n && !*moved; x++)
		*moved = atom_has_pod(c, &c->atoms.p[sel->p[x]], rep);
	if (!*moved)
		return 0;
	const uint32_t *part = intern_get(&b->parts, b->id_part.p[id], &len);
	b->redo_sig.n = 0;
	for (; part[k] != UINT32_MAX; k++)
		if (!VPUSH(b->redo_sig, part[k]))
			return -ENOMEM;
	for (size_t x = 0; x < sel->n; x++)
		if (atom_has_pod(c, &c->atoms.p[sel->p[x]], rep) && !VPUSH(b->redo_sig, sel->p[x]))
			return -ENOMEM;
	for (; k < len; k++)
		if (!VPUSH(b->redo_sig, part[k]))
			return -ENOMEM;
	uint32_t np = intern(&b->parts, b->redo_sig.p, (uint32_t)b->redo_sig.n);
	if (np == UINT32_MAX)
		return -ENOMEM;
	b->id_part.p[id] = np;
	return 0;
}

/* The rule names interned in b->rnames, ids as in t->rules (once).
 * false when they are not unique (or on ENOMEM). */
static bool rnames_build(struct build *b)
{
	struct comp *c = &b->c;
	if (b->rnames.slots) /* built */
		return true;
	if (!intern_init(&b->rnames))
		return false;
	for (uint32_t k = 0; k < b->t->n_rules; k++) {
		c->tmp.n = 0;
		if (!pack_str(&c->tmp, b->t->rules[k]) ||
		    intern(&b->rnames, c->tmp.p, (uint32_t)c->tmp.n) != k) {
			intern_free(&b->rnames);
			memset(&b->rnames, 0, sizeof(b->rnames));
			return false;
		}
	}
	return true;
}

/* The policies' versions, for the next policy_update (NULL: unknown). */
static bool versions_keep(struct build *b, const struct k8s_cluster *cl,
			  const struct pol_versions *v)
{
	free(b->anp_ver);
	free(b->np_ver);
	b->anp_ver = b->np_ver = NULL;
	if (!v || !v->anps || !v->netpols)
		return true;
	b->anp_ver = malloc(sizeof(uint64_t) * (cl->n_anps + 1));
	b->np_ver = malloc(sizeof(uint64_t) * (cl->n_netpols + 1));
	if (!b->anp_ver || !b->np_ver)
		return false;
	memcpy(b->anp_ver, v->anps, sizeof(uint64_t) * cl->n_anps);
	memcpy(b->np_ver, v->netpols, sizeof(uint64_t) * cl->n_netpols);
	return true;
}

/* After a full compile: slots are cl indices; the audited policies
 * counted. false on ENOMEM. */
static bool slots_identity(struct build *b, const struct k8s_cluster *cl)
{
	if (!grow((void **)&b->anp_audit.p, &b->anp_audit.cap, cl->n_anps + 1, 1))
		return false;
	b->n_audit = 0;
	for (uint32_t i = 0; i < cl->n_anps; i++)
		b->n_audit += b->anp_audit.p[i] = anp_audited(&cl->anps[i]);
	b->anp_audit.n = cl->n_anps;
	for (uint32_t i = 0; i < cl->n_netpols; i++)
		b->n_audit += b->c.np_audit.p[i];
	u32vec *v[] = {&b->anp_slot, &b->anp_cl, &b->np_slot, &b->np_cl};
	for (unsigned k = 0; k < 4; k++) {
		uint32_t n = k < 2 ? cl->n_anps : cl->n_netpols;
		if (!grow((void **)&v[k]->p, &v[k]->cap, n + 1, sizeof(uint32_t)))
			return false;
		for (uint32_t i = 0; i < n; i++)
			v[k]->p[i] = i;
		v[k]->n = n;
	}
	return true;
}

/*
 * A compile after a change of policies only (pods and namespaces as
 * kept, with their versions; each policy's version given): the changed
 * policies' rules replace their old ones, the subject classes that list
 * them are set up again as new classes, identities whose selection by
 * them moved get new subject classes, and those a new selector atom of
 * them holds new peer classes; a new ipBlock splits the address ranges
 * again and gives the pods and ranges it holds new peer classes; a new
 * named port sets up again the identities with a container port of that
 * name. Everything else, and every map of a class not touched, stays.
 * An audit mode turned on or off cluster-wide, or more than 8 plus an
 * eighth of the policies changed makes it a full compile. 0, -EAGAIN (a
 * full compile, the kept state dropped) or -ENOMEM.
 */
static int policy_update(struct pol_ctx *ctx, const struct k8s_cluster *cl,
			 const struct pol_versions *v)
{
	struct build *b = ctx->keep;
	struct comp *c = &b->c;
	struct ctx_gen *g = &ctx->gen[ctx->cur];
	struct pol_tables *t = b->t;
	const uint64_t *pv = v->pods, *nv = v->namespaces;

	if (!v->anps || !v->netpols || !nv || !b->anp_ver || !b->np_ver ||
	    cl->n_namespaces != b->n_namespaces || cl->n_pods != g->n_pods)
		return -EAGAIN;
	for (uint32_t i = 0; i < cl->n_pods; i++)
		if (!pv[i] || pv[i] != g->pod_ver[i])
			return -EAGAIN;
	for (uint32_t k = 0; k < cl->n_namespaces; k++)
		if (!nv[k] || nv[k] != b->ns_ver[k])
			return -EAGAIN;
	c->cl = cl;
	if (!rnames_build(b))
		return -EAGAIN;

	u32vec chg_anp = {0}, chg_np = {0}, new_sel = {0};
	uint8_t *amark = NULL, *nmark = NULL, *part_moved = NULL;
	uint32_t *rep = NULL;
	uint32_t old_np_slots = b->n_np_slots;
	int rc = -ENOMEM;
	if (slots_match(cl->n_anps, v->anps, b->n_anps, b->anp_ver, &b->n_anp_slots, &b->anp_slot,
			&b->anp_cl, &chg_anp) ||
	    slots_match(cl->n_netpols, v->netpols, b->n_netpols, b->np_ver, &b->n_np_slots,
			&b->np_slot, &b->np_cl, &chg_np))
		goto out; /* the slots may be half updated: spoilt */
	rc = -EAGAIN;
	if (chg_anp.n + chg_np.n > 8 + (cl->n_anps + cl->n_netpols) / 8)
		goto out;
	/* the audited policies, counted: any_audit is in every map's key */
	size_t n_audit = b->n_audit;
	for (size_t k = 0; k < chg_np.n; k++) {
		uint32_t sl = chg_np.p[k], i = b->np_cl.p[sl];
		n_audit -= sl < old_np_slots && c->np_audit.p[sl];
		n_audit += i != POL_NONE && np_mode(c, &cl->netpols[i]) == K8S_MODE_AUDIT;
	}
	for (size_t k = 0; k < chg_anp.n; k++) {
		uint32_t sl = chg_anp.p[k], i = b->anp_cl.p[sl];
		n_audit -= sl < b->anp_audit.n && b->anp_audit.p[sl];
		n_audit += i != POL_NONE && anp_audited(&cl->anps[i]);
	}
	if ((n_audit > 0) != c->any_audit)
		goto out;

	/* the changed policies' rules */
	rc = -ENOMEM;
	amark = calloc(b->n_anp_slots + 1, 1);
	nmark = calloc(b->n_np_slots + 1, 1);
	if (!amark || !nmark || !grow((void **)&c->np_audit.p, &c->np_audit.cap,
				      b->n_np_slots + 1, 1) ||
	    !grow((void **)&c->np_iso_rule.p, &c->np_iso_rule.cap, b->n_np_slots + 1,
		  sizeof(uint32_t)))
		goto out;
	for (size_t k = 0; k < chg_anp.n; k++)
		amark[chg_anp.p[k]] = 1;
	for (size_t k = 0; k < chg_np.n; k++)
		nmark[chg_np.p[k]] = 1;
	rules_kill(b, false, &chg_anp);
	rules_kill(b, true, &chg_np);
	c->anp_slot = b->anp_slot.p;
	c->np_slot = b->np_slot.p;
	c->np_cl = b->np_cl.p;
	c->rnames = &b->rnames;
	c->rule_names.p = t->rules;
	c->rule_names.n = t->n_rules;
	c->rule_names.cap = b->rules_cap;
	size_t atoms0 = c->atoms.n; /* the atoms from here on are new */
	size_t n_names = c->port_names.n;
	for (size_t k = 0; k < chg_np.n; k++) { /* (set again below if it holds one) */
		c->np_audit.p[chg_np.p[k]] = 0;
		c->np_iso_rule.p[chg_np.p[k]] = POL_RULE_ISOLATED;
	}
	c->np_audit.n = c->np_iso_rule.n = b->n_np_slots;
	if (!grow((void **)&b->anp_audit.p, &b->anp_audit.cap, b->n_anp_slots + 1, 1))
		goto names;
	for (size_t k = b->anp_audit.n; k < b->n_anp_slots; k++)
		b->anp_audit.p[k] = 0;
	b->anp_audit.n = b->n_anp_slots;
	for (size_t k = 0; k < chg_anp.n; k++) {
		uint32_t sl = chg_anp.p[k], i = b->anp_cl.p[sl];
		b->anp_audit.p[sl] = i != POL_NONE && anp_audited(&cl->anps[i]);
	}
	b->n_audit = n_audit;
	for (size_t k = 0; k < chg_np.n; k++) {
		uint32_t sl = chg_np.p[k], i = b->np_cl.p[sl];
		if (i != POL_NONE && ((rc = np_mode_set(c, i, sl)) ||
				      (rc = catalogue_policy(c, true, i, sl))))
			goto names;
	}
	for (size_t k = 0; k < chg_anp.n; k++) {
		uint32_t sl = chg_anp.p[k], i = b->anp_cl.p[sl];
		if (i != POL_NONE && (rc = catalogue_policy(c, false, i, sl)))
			goto names;
	}
	rc = -ENOMEM;
	if (order_update(b, false, &chg_anp, amark) || order_update(b, true, &chg_np, nmark) ||
	    ranks_apply(b) || rules_by_policy(b))
		goto names;
	/* new atoms: ipBlocks split the address ranges (below), selectors
	 * join the parts of the identities they select (part_extend) */
	rc = -ENOMEM;
	size_t n_cidr0 = b->cidr_atoms.n;
	for (uint32_t a = (uint32_t)atoms0; a < c->atoms.n; a++) {
		bool cidr = c->atoms.p[a].kind == ATOM_CIDR;
		if (!VPUSH(*(cidr ? &b->cidr_atoms : &b->sel_atoms), a) ||
		    (!cidr && !VPUSH(new_sel, a)))
			goto names;
	}
	uint32_t *am = realloc(b->atom_mark, sizeof(uint32_t) * (c->atoms.n + 1));
	if (!am)
		goto names;
	b->atom_mark = am;
	for (size_t a = atoms0; a <= c->atoms.n; a++)
		am[a] = 0;
	/* NetworkPolicies by namespace, from their slots' namespaces */
	if (!grow((void **)&c->np_ns.p, &c->np_ns.cap, b->n_np_slots + 1, sizeof(uint32_t)))
		goto names;
	c->np_ns.n = b->n_np_slots;
	for (size_t k = 0; k < chg_np.n; k++) {
		uint32_t sl = chg_np.p[k], i = b->np_cl.p[sl];
		c->np_ns.p[sl] = i == POL_NONE ? UINT32_MAX
					       : intern_str(&c->strs, cl->netpols[i].ns, &c->tmp);
		if (i != POL_NONE && c->np_ns.p[sl] == UINT32_MAX)
			goto names;
	}
	if (np_by_namespace(c))
		goto names;

	/* identities: one pod of each stands for it; those without pods are
	 * set up again by the next pod that has one */
	c->pod_versions = pv;
	c->prev = c->next = g;
	b->fast = true;
	c->map_first.n--;
	size_t n_ids = b->id_part.n;
	rep = malloc(sizeof(uint32_t) * (n_ids + 1));
	part_moved = calloc(n_ids + 1, 1);
	if (!rep || !part_moved || !pod_scratch(c, cl->n_pods) || !subjects_stale(b, amark, nmark))
		goto fast;
	for (size_t id = 0; id < n_ids; id++)
		rep[id] = POL_NONE;
	for (uint32_t i = 0; i < g->n_pods; i++)
		if (rep[g->pod_id[i]] == POL_NONE)
			rep[g->pod_id[i]] = i;
	for (uint32_t id = 0; id < n_ids; id++) {
		uint32_t i = rep[id];
		if (i == POL_NONE) {
			b->id_stale.p[id] = 1;
			continue;
		}
		/* a port name policies refer to now: the identities with a
		 * container port of that name are set up anew (their parts
		 * and ingress signatures list their named ports) */
		for (unsigned q = 0; c->port_names.n > n_names && q < cl->pods[i].n_ports; q++)
			for (size_t x = n_names; cl->pods[i].ports[q].name && x < c->port_names.n; x++)
				if (!strcmp(cl->pods[i].ports[q].name, c->port_names.p[x]))
					b->id_stale.p[id] = 1;
		if (b->id_stale.p[id]) /* set up anew: every atom, every policy */
			continue;
		uint32_t ns = b->id_ns.p[id];
		c->pod_ns[i] = ns;
		c->pod_ns_labels[i] = ns < cl->n_namespaces ? &cl->namespaces[ns].labels : &empty_labels;
		bool moved;
		if ((rc = part_extend(b, &new_sel, id, i, &moved)))
			goto fast;
		part_moved[id] = moved;
		for (unsigned dir = 0; dir < 2; dir++) {
			uint32_t s = b->id_subj.p[2 * id + dir];
			if (selection_moved(b, s, i, dir, &chg_anp, &chg_np)) {
				rc = -ENOMEM;
				if (subject_sig(c, i, dir, &b->sig) ||
				    (dir == POL_INGRESS && pod_named_ports(c, i, &b->sig)))
					goto fast;
				size_t before = c->subjects.n;
				s = intern(&c->subjects, b->sig.p, (uint32_t)b->sig.n);
				if (s == UINT32_MAX)
					goto fast;
				if (c->subjects.n != before) {
					if ((rc = subject_new(b, s, dir)))
						goto fast;
					b->id_subj.p[2 * id + dir] = s;
					continue;
				}
			}
			rc = -ENOMEM;
			if ((s = subj_current(b, s)) == UINT32_MAX)
				goto fast;
			b->id_subj.p[2 * id + dir] = s;
		}
	}
	/* new ipBlocks: the address ranges and the non-pod classes anew (new
	 * classes get their maps), and the pods they hold new peer classes */
	rc = -ENOMEM;
	size_t peers0 = c->peers.n;
	bool cidr_new = b->cidr_atoms.n > n_cidr0;
	if (cidr_new && (address_ranges(b) || cidr_classes(b)))
		goto fast;
	for (size_t p = peers0; p < c->peers.n; p++)
		if (peer_project(b, (uint32_t)p))
			goto fast;
	/* the pods: classes of their identities */
	for (uint32_t i = 0; i < g->n_pods; i++) {
		uint32_t id = g->pod_id[i];
		bool moved = part_moved[id];
		for (size_t x = n_cidr0; cidr_new && !moved && x < b->cidr_atoms.n; x++)
			moved = atom_has_pod(c, &c->atoms.p[b->cidr_atoms.p[x]], i);
		if (b->id_stale.p[id]) {
			/* (ns_changes' stale identities have no pods here) */
			if ((rc = identity_setup(b, i, id)))
				goto fast;
			rc = -ENOMEM;
			part_moved[id] = moved = 1;
		}
		struct pol_pod *e = &t->pods[g->pod_slot[i]];
		e->subject[0] = b->id_subj.p[2 * id];
		e->subject[1] = b->id_subj.p[2 * id + 1];
		if (moved && (e->peer = pod_peer(b, i, id, g->pod_ip[i])) == UINT32_MAX)
			goto fast;
	}
	rc = VPUSH(c->map_first, (uint32_t)c->ranges.n) ? 0 : -ENOMEM;
	if (!rc && !versions_keep(b, cl, v))
		rc = -ENOMEM;
	b->n_anps = cl->n_anps;
	b->n_netpols = cl->n_netpols;
	tables_sync(b);
fast:
	b->fast = false;
names:
	t->rules = c->rule_names.p;
	t->n_rules = (uint32_t)c->rule_names.n;
	b->rules_cap = c->rule_names.cap;
	c->rule_names.p = NULL;
	c->rule_names.n = c->rule_names.cap = 0;
	c->rnames = NULL;
out:
	c->cl = NULL;
	free(chg_anp.p);
	free(chg_np.p);
	free(new_sel.p);
	free(amark);
	free(nmark);
	free(part_moved);
	free(rep);
	return rc;
}

/* ---- the entry points ------------------------------------------------------------- */

/* A shell of the kept tables, for the caller (pol_tables.borrowed). */
static struct pol_tables *borrow(const struct pol_tables *t, uint64_t generation)
{
	struct pol_tables *s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	*s = *t;
	s->generation = generation;
	s->ix = NULL;
	s->borrowed = true;
	return s;
}

struct pol_tables *pol_compile_ctx(struct pol_ctx *ctx, const struct k8s_cluster *cl,
				   const struct pol_versions *v, uint64_t generation)
{
	const uint64_t *pv = v ? v->pods : NULL;
	bool keep = pv && v->rest;
	int rc;

	if (keep && ctx->keep && ctx->keep->added <= ctx->keep->budget) {
		bool same = ctx->keep->rest == v->rest;
		rc = same ? pods_only(ctx, cl, pv, v->namespaces) : policy_update(ctx, cl, v);
		if (!rc) {
			struct pol_tables *s = borrow(ctx->keep->t, generation);
			if (s) {
				ctx->keep->rest = v->rest;
				(*(same ? &ctx->stats.pods_only : &ctx->stats.policy))++;
				return s;
			}
			rc = -ENOMEM;
		}
		if (rc != -EAGAIN) { /* half done: start afresh */
			keep_drop(ctx);
			gen_free(&ctx->gen[0]);
			gen_free(&ctx->gen[1]);
			errno = -rc;
			return NULL;
		}
	}
	keep_drop(ctx);

	struct build *b = calloc(1, sizeof(*b));
	struct pol_tables *t = calloc(1, sizeof(*t));
	rc = -ENOMEM;
	if (b && t) {
		b->t = t;
		b->c.cl = cl;
		b->c.pod_versions = pv;
		b->c.ns_versions = v ? v->namespaces : NULL;
		b->c.prev = &ctx->gen[ctx->cur];
		b->c.next = &ctx->gen[!ctx->cur];
		rc = gen_init(b->c.next) ? compile_full(b, keep) : -ENOMEM;
	}
	if (!rc) { /* what this compile used is the next one's */
		ctx->cur = !ctx->cur;
		ctx->stats.full++;
	}
	gen_free(&ctx->gen[!ctx->cur]);
	if (!b) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	if (rc || !keep) {
		if (rc) {
			t->ranges = NULL; /* b's, freed with it */
			t->map_first = NULL;
			t->default_map = NULL;
		}
		b->t = NULL;
		build_free(b);
		if (rc) {
			pol_tables_free(t);
			errno = -rc;
			return NULL;
		}
		t->generation = generation;
		return t;
	}
	b->c.cl = NULL; /* the caller's, from here on */
	b->rest = v->rest;
	if (!slots_identity(b, cl) || !versions_keep(b, cl, v)) {
		build_free(b);
		errno = ENOMEM;
		return NULL;
	}
	/* the rule names interned now, not in the first policy compile's
	 * time (a few ms at 10k policies); policy_update tries again if this
	 * fails */
	if (v->anps && v->netpols)
		rnames_build(b);
	ctx->keep = b;
	struct pol_tables *s = borrow(t, generation);
	if (!s) {
		keep_drop(ctx);
		errno = ENOMEM;
	}
	return s;
}

struct pol_ctx *pol_ctx_new(void)
{
	struct pol_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx && !gen_init(&ctx->gen[0])) {
		pol_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void pol_ctx_get_stats(const struct pol_ctx *ctx, struct pol_ctx_stats *out)
{
	*out = ctx->stats;
	out->np_slots = ctx->keep ? ctx->keep->n_np_slots : 0;
	out->anp_slots = ctx->keep ? ctx->keep->n_anp_slots : 0;
}

void pol_ctx_free(struct pol_ctx *ctx)
{
	if (!ctx)
		return;
	keep_drop(ctx);
	gen_free(&ctx->gen[0]);
	gen_free(&ctx->gen[1]);
	free(ctx);
}

struct pol_tables *pol_compile(const struct k8s_cluster *cl, uint64_t generation)
{
	struct pol_ctx *ctx = pol_ctx_new();
	if (!ctx)
		return NULL;
	struct pol_tables *t = pol_compile_ctx(ctx, cl, NULL, generation);
	int e = errno;
	pol_ctx_free(ctx);
	errno = e;
	return t;
}
