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
 * not read for its labels again. Everything else is recomputed, from
 * indexed, per-identity work; the output is the same as a fresh
 * compile's, byte for byte.
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
		if (l == len && !memcmp(o, s, len * sizeof(*s)))
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
	size_t n_pods;
};

struct pol_ctx {
	struct ctx_gen gen[2];
	unsigned cur;
};

static void gen_free(struct ctx_gen *g)
{
	memo_free(&g->maps);
	intern_free(&g->idents);
	free(g->pod_ver);
	free(g->pod_id);
	free(g->pod_ip);
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
	const char *name;
	uint32_t name_id; /* named: index into comp.port_names */
};

enum tier { TIER_ANP, TIER_NP, TIER_BANP };
enum action { ACT_ALLOW, ACT_DENY, ACT_PASS };

struct crule {
	enum tier tier;
	unsigned dir;
	enum action action;
	uint32_t policy; /* index into cl->anps or cl->netpols */
	uint32_t name;   /* rule id */
	bool audit;      /* its policy is in audit mode */
	bool all_peers;
	VEC(uint32_t) atoms;
	bool all_ports;
	VEC(struct cport) ports;
};

struct named_port {
	uint32_t name; /* index into referenced names */
	uint8_t proto;
	uint16_t port;
};

struct comp {
	const struct k8s_cluster *cl;
	VEC(struct atom) atoms;
	VEC(struct crule) rules;
	VEC(char *) rule_names;
	VEC(const char *) port_names; /* named ports any policy refers to */
	const struct k8s_labels **pod_ns_labels;
	uint32_t *pod_ns; /* per pod: its namespace's string id (strs) */
	/* NetworkPolicies by namespace string id (CSR, ascending indices):
	 * only those of a pod's namespace can select it. */
	u32vec ns_np_first, ns_np;
	struct interner peers, subjects, projections, mapcontent;
	struct interner atomkeys; /* atom key (atom_add) -> atom index (same order) */
	struct interner strs;     /* namespace names */
	/* Pod identities (pod_identity): ids are those of next->idents;
	 * per identity its first pod. id_remap: the previous compile's
	 * identity id -> this one's (UINT32_MAX: not met yet). */
	const uint64_t *pod_versions;
	ptrdiff_t ver_shift; /* pod i was pod i + ver_shift last time (prev_pod) */
	uint32_t *pod_ident; /* per pod: its identity */
	uint32_t *pod_ip;    /* per pod: its first address, if any */
	u32vec id_first;
	uint32_t *id_remap;
	u32vec tmp;
	/* per subject class: tier policy lists are recomputed from a pod */
	VEC(uint32_t) subject_pod; /* subject class -> a representative pod */
	VEC(uint8_t) subject_dir;
	u32vec peer_natoms;        /* peer class -> its number of atoms */
	VEC(struct pol_range) ranges;
	VEC(uint32_t) map_first;
	VEC(uint8_t) np_audit;     /* per NetworkPolicy: in audit mode */
	VEC(uint32_t) np_iso_rule; /* per NetworkPolicy: the rule its isolation denies by */
	bool any_audit; /* some policy is audited: maps decide twice */
	/* The context (struct pol_ctx): what the previous compile
	 * computed, and what this one used (the next compile's prev). */
	const struct ctx_gen *prev;
	struct ctx_gen *next;
	u32vec mkey;
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

/* Add (or find) an atom; returns its index or UINT32_MAX. */
static uint32_t atom_add(struct comp *c, const struct atom *a)
{
	u32vec *k = &c->tmp;
	k->n = 0;
	bool ok = VPUSH(*k, a->kind) && (a->ns ? pack_str(k, a->ns) : VPUSH(*k, UINT32_MAX)) &&
		  sel_pack(k, a->ns_sel) && sel_pack(k, a->pod_sel) && VPUSH(*k, a->cidr.addr) &&
		  VPUSH(*k, a->cidr.len) && VPUSH(*k, a->n_except);
	for (unsigned i = 0; ok && i < a->n_except; i++)
		ok = VPUSH(*k, a->except[i].addr) && VPUSH(*k, a->except[i].len);
	size_t before = c->atomkeys.n;
	uint32_t id = ok ? intern(&c->atomkeys, k->p, (uint32_t)k->n) : UINT32_MAX;
	if (id == UINT32_MAX || c->atomkeys.n == before)
		return id; /* an existing atom (ids are atom indices) */
	return VPUSH(c->atoms, *a) ? (uint32_t)c->atoms.n - 1 : UINT32_MAX;
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
	if (!VPUSH(c->port_names, name))
		return UINT32_MAX;
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
	if (rc < 0 || !VPUSH(c->rule_names, s)) {
		free(rc < 0 ? NULL : s);
		return UINT32_MAX;
	}
	return (uint32_t)c->rule_names.n - 1;
}

/* ---- step 1: the rule catalogue ----------------------------------------- */

/* Each NetworkPolicy's mode (c->np_audit): its own annotation, else its
 * namespace's. An audited one gets a rule for the isolation it would add,
 * "isolated by networkpolicy NS/NAME" (c->np_iso_rule). */
static int np_modes(struct comp *c)
{
	const struct k8s_cluster *cl = c->cl;
	for (uint32_t i = 0; i < cl->n_netpols; i++) {
		uint8_t mode = cl->netpols[i].mode;
		if (mode == K8S_MODE_UNSET) {
			/* namespace string ids < n_namespaces are the namespaces */
			uint32_t ns = intern_str(&c->strs, cl->netpols[i].ns, &c->tmp);
			if (ns < cl->n_namespaces)
				mode = cl->namespaces[ns].mode;
		}
		uint32_t iso = mode != K8S_MODE_AUDIT ? POL_RULE_ISOLATED
			       : rule_name(c, "isolated by networkpolicy %s/%s", cl->netpols[i].ns,
					   cl->netpols[i].name);
		if (iso == UINT32_MAX || !VPUSH(c->np_audit, mode == K8S_MODE_AUDIT) ||
		    !VPUSH(c->np_iso_rule, iso))
			return -ENOMEM;
		c->any_audit |= mode == K8S_MODE_AUDIT;
	}
	return 0;
}

static int add_np_rule(struct comp *c, uint32_t pi, unsigned dir, unsigned ri,
		       const struct k8s_np_rule *r)
{
	const struct k8s_netpol *np = &c->cl->netpols[pi];
	struct crule cr = {.tier = TIER_NP, .dir = dir, .action = ACT_ALLOW, .policy = pi,
			   .audit = c->np_audit.p[pi]};
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
			cp.name = p->name;
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

static int add_anp_rule(struct comp *c, uint32_t ai, unsigned dir, unsigned ri,
			const struct k8s_anp_rule *r)
{
	const struct k8s_anp *anp = &c->cl->anps[ai];
	struct crule cr = {
		.tier = anp->baseline ? TIER_BANP : TIER_ANP,
		.dir = dir,
		.action = r->action == K8S_ANP_ALLOW ? ACT_ALLOW :
			  r->action == K8S_ANP_DENY ? ACT_DENY : ACT_PASS,
		.policy = ai,
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
			cp = (struct cport){.proto = 0, .named = true, .name = p->name};
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

static int catalogue(struct comp *c)
{
	const struct k8s_cluster *cl = c->cl;
	int rc;

	if (rule_name(c, "default-allow") != POL_RULE_DEFAULT_ALLOW ||
	    rule_name(c, "isolated") != POL_RULE_ISOLATED ||
	    rule_name(c, "unrestricted") != POL_RULE_UNRESTRICTED || np_modes(c))
		return -ENOMEM;
	uint32_t *order = malloc(sizeof(uint32_t) * (cl->n_anps + cl->n_netpols + 1));
	if (!order)
		return -ENOMEM;
	sort_cl = cl;
	for (uint32_t i = 0; i < cl->n_anps; i++)
		order[i] = i;
	qsort(order, cl->n_anps, sizeof(*order), cmp_anp);
	/* Rules in evaluation order: ANP (by priority), NetworkPolicy, BANP. */
	for (int baseline = 0; baseline < 2; baseline++) {
		if (baseline) {
			uint32_t *np_order = order + cl->n_anps;
			for (uint32_t i = 0; i < cl->n_netpols; i++)
				np_order[i] = i;
			qsort(np_order, cl->n_netpols, sizeof(*np_order), cmp_np);
			for (uint32_t k = 0; k < cl->n_netpols; k++) {
				const struct k8s_netpol *np = &cl->netpols[np_order[k]];
				if (np->ingress)
					for (unsigned i = 0; i < np->n_ingress; i++)
						if ((rc = add_np_rule(c, np_order[k], POL_INGRESS, i,
								      &np->ingress_rules[i])))
							goto out;
				if (np->egress)
					for (unsigned i = 0; i < np->n_egress; i++)
						if ((rc = add_np_rule(c, np_order[k], POL_EGRESS, i,
								      &np->egress_rules[i])))
							goto out;
			}
		}
		for (uint32_t k = 0; k < cl->n_anps; k++) {
			const struct k8s_anp *a = &cl->anps[order[k]];
			if (a->baseline != baseline)
				continue;
			for (unsigned i = 0; i < a->n_ingress; i++)
				if ((rc = add_anp_rule(c, order[k], POL_INGRESS, i,
						       &a->ingress_rules[i])))
					goto out;
			for (unsigned i = 0; i < a->n_egress; i++)
				if ((rc = add_anp_rule(c, order[k], POL_EGRESS, i,
						       &a->egress_rules[i])))
					goto out;
		}
	}
	rc = 0;
out:
	free(order);
	return rc;
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
 * interned so far (namespaces, then those of the NetworkPolicies). 0 or
 * -ENOMEM. */
static int np_by_namespace(struct comp *c)
{
	const struct k8s_cluster *cl = c->cl;
	uint32_t *ids = malloc(sizeof(uint32_t) * (cl->n_netpols + 1));
	if (!ids)
		return -ENOMEM;
	for (uint32_t i = 0; i < cl->n_netpols; i++)
		if ((ids[i] = intern_str(&c->strs, cl->netpols[i].ns, &c->tmp)) == UINT32_MAX)
			goto fail;
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

/*
 * The subject signature of pod pi in direction dir: [dir, n, the ANP/BANP
 * indices selecting it (rule order), 0xffffffff, NP indices selecting it,
 * 0xffffffff, (ingress) named ports].
 */
static int subject_sig(const struct comp *c, uint32_t pi, unsigned dir, u32vec *sig)
{
	const struct k8s_cluster *cl = c->cl;
	sig->n = 0;
	if (!VPUSH(*sig, dir))
		return -ENOMEM;
	for (uint32_t i = 0; i < cl->n_anps; i++)
		if (anp_selects(c, &cl->anps[i], pi) && !VPUSH(*sig, i))
			return -ENOMEM;
	if (!VPUSH(*sig, UINT32_MAX))
		return -ENOMEM;
	/* a namespace interned after np_by_namespace has no NetworkPolicy */
	uint32_t ns = c->pod_ns[pi];
	for (uint32_t k = ns + 1 < c->ns_np_first.n ? c->ns_np_first.p[ns] : 0;
	     ns + 1 < c->ns_np_first.n && k < c->ns_np_first.p[ns + 1]; k++) {
		uint32_t i = c->ns_np.p[k];
		if (np_selects(c, &cl->netpols[i], pi, dir) && !VPUSH(*sig, i))
			return -ENOMEM;
	}
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

static bool has_atom(const struct eval_ctx *e, uint32_t a)
{
	uint32_t lo = 0, hi = e->n_atoms;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (e->atoms[mid] == a)
			return true;
		if (e->atoms[mid] < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
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
			if (strcmp(c->port_names.p[e->dst_ports[k]], p->name))
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
			if (!strcmp(c->port_names.p[e->dst_ports[k]], p->name) &&
			    e->dst_ports[k + 1] == proto &&
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
		qsort(b.p, b.n, sizeof(uint32_t), cmp_u32);
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
	free(c->port_names.p);
	free(c->pod_ns_labels);
	intern_free(&c->peers);
	intern_free(&c->subjects);
	intern_free(&c->projections);
	intern_free(&c->mapcontent);
	intern_free(&c->atomkeys);
	intern_free(&c->strs);
	free(c->pod_ident);
	free(c->pod_ip);
	free(c->id_first.p);
	free(c->id_remap);
	free(c->tmp.p);
	free(c->subject_pod.p);
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
}

static int peer_sig_addr(struct comp *c, uint32_t ip_host, u32vec *sig)
{
	sig->n = 0;
	if (!VPUSH(*sig, 0))
		return -ENOMEM;
	for (size_t a = 0; a < c->atoms.n; a++)
		if (atom_has_ip(&c->atoms.p[a], ip_host) && !VPUSH(*sig, (uint32_t)a))
			return -ENOMEM;
	return VPUSH(*sig, UINT32_MAX) ? 0 : -ENOMEM;
}

/* Index of the range containing ip: the last lo[k] <= ip (lo[0] == 0).
 * *hint: the last answer (pods' addresses come in runs), then this one. */
static size_t range_of(const uint32_t *lo, size_t n, uint32_t ip, size_t *hint)
{
	size_t a = 0, b = n;
	if (*hint < n && lo[*hint] <= ip && (*hint + 1 == n || ip < lo[*hint + 1]))
		return *hint;
	while (b - a > 1) {
		size_t m = (a + b) / 2;
		if (lo[m] <= ip)
			a = m;
		else
			b = m;
	}
	return *hint = a;
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
 * Where the pod of version ver, now pod pi, was in the previous compile,
 * or SIZE_MAX. The caller's order is stable but for the pods added
 * and removed, so the pod is looked for where it was, pi + ver_shift,
 * and one off either way (which then becomes the shift): a walk in step
 * with the previous compile's pods, no random lookups. A pod not found
 * (new, changed, or moved further) is read.
 */
static size_t prev_pod(struct comp *c, uint32_t pi, uint64_t ver)
{
	static const ptrdiff_t step[] = {0, 1, -1};
	const struct ctx_gen *g = c->prev;
	for (unsigned k = 0; ver && k < 3; k++) {
		ptrdiff_t j = (ptrdiff_t)pi + c->ver_shift + step[k];
		if (j >= 0 && (size_t)j < g->n_pods && g->pod_ver[j] == ver) {
			c->ver_shift += step[k];
			return (size_t)j;
		}
	}
	return SIZE_MAX;
}

/*
 * The identity of pod pi, added (first pod pi) if new: its id, *added
 * telling which, or UINT32_MAX on ENOMEM; its first address into
 * c->pod_ip. A pod whose version the last compile saw is not read: its
 * identity's content and its address are taken from there.
 */
static uint32_t pod_identity(struct comp *c, uint32_t pi, bool *added)
{
	size_t at = c->pod_versions ? prev_pod(c, pi, c->pod_versions[pi]) : SIZE_MAX;
	uint32_t prev = at != SIZE_MAX ? c->prev->pod_id[at] : POL_NONE;
	uint32_t id = UINT32_MAX;
	const struct k8s_pod *p = &c->cl->pods[pi];
	c->pod_ip[pi] = at != SIZE_MAX ? c->prev->pod_ip[at] : p->n_ips ? p->ips[0] : 0;
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
	if (*added && !VPUSH(c->id_first, pi))
		return UINT32_MAX;
	return id;
}

/* The pods' versions, identities and addresses, for the next compile
 * (c->pod_ident and pod_ip move there). 0 or -ENOMEM. */
static int record_pod_versions(struct comp *c)
{
	size_t n = c->cl->n_pods;
	c->next->pod_ver = malloc(sizeof(uint64_t) * (n + 1));
	if (!c->next->pod_ver)
		return -ENOMEM;
	memcpy(c->next->pod_ver, c->pod_versions, sizeof(uint64_t) * n);
	c->next->pod_id = c->pod_ident;
	c->next->pod_ip = c->pod_ip;
	c->pod_ident = c->pod_ip = NULL;
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

/* For each atom, the peer classes holding it, ascending (CSR). */
struct atom_peers {
	uint32_t *first; /* per atom; first[n_atoms] = end */
	uint32_t *list;
};

static int peers_by_atom(const struct comp *c, struct atom_peers *ap)
{
	size_t n = 0;
	ap->first = calloc(c->atoms.n + 2, sizeof(uint32_t));
	for (uint32_t p = 0; ap->first && p < c->peers.n; p++) {
		const uint32_t *atoms, *ports;
		uint32_t na, np;
		peer_parts(c, p, &atoms, &na, &ports, &np);
		for (uint32_t k = 0; k < na; k++)
			ap->first[atoms[k] + 2]++;
		n += na;
	}
	ap->list = malloc(sizeof(uint32_t) * (n + 1));
	if (!ap->first || !ap->list)
		return -ENOMEM;
	/* Counts at first[a + 2], prefix-summed: first[a + 1] is where a's
	 * peers start; filling moves it to their end, a + 1's start, so that
	 * afterwards first[a] is a's start. */
	for (size_t a = 2; a < c->atoms.n + 2; a++)
		ap->first[a] += ap->first[a - 1];
	for (uint32_t p = 0; p < c->peers.n; p++) {
		const uint32_t *atoms, *ports;
		uint32_t na, np;
		peer_parts(c, p, &atoms, &na, &ports, &np);
		for (uint32_t k = 0; k < na; k++)
			ap->list[ap->first[atoms[k] + 1]++] = p;
	}
	return 0;
}

struct pol_tables *pol_compile_ctx(struct pol_ctx *ctx, const struct k8s_cluster *cl,
				   const uint64_t *pod_versions, uint64_t generation)
{
	struct comp c;
	struct pol_tables *t = NULL;
	u32vec sig = {0};
	u32vec srules = {0};
	u32vec proj = {0};
	VEC(uint64_t) mkeys = {0};
	u32vec mvals = {0};
	u32vec bounds = {0};
	uint64_t *ipkeys = NULL;
	uint32_t *ipvals = NULL;
	uint32_t *proj_map = NULL;
	uint32_t *atom_mark = NULL, *peer_mark = NULL;
	struct atom_peers atom_peers = {0};
	u32vec cand = {0}, used = {0};
	u32vec cidr_atoms = {0}, sel_atoms = {0};
	u32vec id_part = {0};
	u32vec rng_lo = {0}, rng_set = {0}, pair_peer = {0};
	u32vec anp_first = {0}, np_first = {0}, pol_rules = {0};
	struct interner rsets = {0}, pairs = {0}, parts = {0};
	uint32_t rng_empty = 0;
	size_t rng_hint = 0;
	int rc = -ENOMEM;

	memset(&c, 0, sizeof(c));
	c.cl = cl;
	c.pod_versions = pod_versions;
	c.prev = &ctx->gen[ctx->cur];
	c.next = &ctx->gen[!ctx->cur];
	c.id_remap = malloc(sizeof(uint32_t) * (c.prev->idents.n + 1));
	if (c.id_remap)
		memset(c.id_remap, 0xff, sizeof(uint32_t) * (c.prev->idents.n + 1));
	if (!c.id_remap || !gen_init(c.next) || !intern_init(&c.peers) || !intern_init(&c.subjects) ||
	    !intern_init(&c.projections) || !intern_init(&c.mapcontent) ||
	    !intern_init(&c.atomkeys) || !intern_init(&c.strs))
		goto fail;
	c.pod_ns_labels = calloc(cl->n_pods + 1, sizeof(*c.pod_ns_labels));
	c.pod_ns = calloc(cl->n_pods + 1, sizeof(*c.pod_ns));
	c.pod_ident = calloc(cl->n_pods + 1, sizeof(*c.pod_ident));
	c.pod_ip = calloc(cl->n_pods + 1, sizeof(*c.pod_ip));
	t = calloc(1, sizeof(*t));
	if (!c.pod_ns_labels || !c.pod_ns || !c.pod_ident || !c.pod_ip || !t)
		goto fail;
	t->generation = generation;
	/* Namespace names are interned first: string id i < n_namespaces is
	 * namespace i (names are unique), so a pod's namespace is one lookup. */
	for (uint32_t i = 0; i < cl->n_namespaces; i++)
		if (intern_str(&c.strs, cl->namespaces[i].name, &c.tmp) != i)
			goto fail;
	if (np_by_namespace(&c))
		goto fail;
	if ((rc = catalogue(&c)))
		goto fail;
	rc = -ENOMEM;

	/* Pods: peer class and subject classes. */
	t->pods = calloc(cl->n_pods + 1, sizeof(*t->pods));
	if (!t->pods)
		goto fail;
	t->n_pods = cl->n_pods;
	/*
	 * Pods with the same namespace, labels and container ports (one
	 * identity) are selected alike: their subject classes and the
	 * selector part of their peer class are computed once per identity.
	 * Only ipBlock atoms depend on a pod's own addresses.
	 */
	for (size_t a = 0; a < c.atoms.n; a++) {
		bool ok = c.atoms.p[a].kind == ATOM_CIDR ? VPUSH(cidr_atoms, (uint32_t)a)
							 : VPUSH(sel_atoms, (uint32_t)a);
		if (!ok)
			goto fail;
	}
	/* Address ranges split at every ipBlock boundary, each with the
	 * ipBlock atoms containing it (interned in rsets). */
	if (!intern_init(&rsets) || !intern_init(&pairs) || !intern_init(&parts) ||
	    !VPUSH(rng_lo, 0))
		goto fail;
	for (size_t k = 0; k < cidr_atoms.n; k++) {
		const struct atom *at = &c.atoms.p[cidr_atoms.p[k]];
		for (unsigned e = 0; e <= at->n_except; e++) {
			const struct k8s_cidr *cd = e ? &at->except[e - 1] : &at->cidr;
			uint32_t lo = ntohl(cd->addr);
			uint64_t end = (uint64_t)lo + (cd->len ? 1ull << (32 - cd->len) : 1ull << 32);
			if (!VPUSH(rng_lo, lo) || (end < (1ull << 32) && !VPUSH(rng_lo, (uint32_t)end)))
				goto fail;
		}
	}
	qsort(rng_lo.p, rng_lo.n, sizeof(uint32_t), cmp_u32);
	{
		size_t u = 0;
		for (size_t k = 0; k < rng_lo.n; k++)
			if (!k || rng_lo.p[k] != rng_lo.p[u - 1])
				rng_lo.p[u++] = rng_lo.p[k];
		rng_lo.n = u;
	}
	for (size_t k = 0; k < rng_lo.n; k++) {
		sig.n = 0;
		for (size_t x = 0; x < cidr_atoms.n; x++)
			if (atom_has_ip(&c.atoms.p[cidr_atoms.p[x]], rng_lo.p[k]) &&
			    !VPUSH(sig, cidr_atoms.p[x]))
				goto fail;
		uint32_t id = intern(&rsets, sig.p, (uint32_t)sig.n);
		if (id == UINT32_MAX || !VPUSH(rng_set, id))
			goto fail;
	}
	if ((rng_empty = intern(&rsets, NULL, 0)) == UINT32_MAX)
		goto fail;
	for (uint32_t i = 0; i < cl->n_pods; i++) {
		bool added;
		uint32_t id = pod_identity(&c, i, &added);
		if (id == UINT32_MAX)
			goto fail;
		if (added) {
			/* A new identity: its namespace, its part of a peer
			 * signature ([selector atoms ascending, UINT32_MAX, named
			 * ports], interned in parts) and its subject classes. */
			uint32_t ns = intern_str(&c.strs, cl->pods[i].ns, &c.tmp);
			if (ns == UINT32_MAX)
				goto fail;
			c.pod_ns[i] = ns;
			c.pod_ns_labels[i] = ns < cl->n_namespaces ? &cl->namespaces[ns].labels
								   : &empty_labels;
			sig.n = 0;
			for (size_t k = 0; k < sel_atoms.n; k++)
				if (atom_has_pod(&c, &c.atoms.p[sel_atoms.p[k]], i) &&
				    !VPUSH(sig, sel_atoms.p[k]))
					goto fail;
			if (!VPUSH(sig, UINT32_MAX) || pod_named_ports(&c, i, &sig) ||
			    !VPUSH(id_part, intern(&parts, sig.p, (uint32_t)sig.n)) ||
			    id_part.p[id] == UINT32_MAX)
				goto fail;
			for (unsigned dir = 0; dir < 2; dir++) {
				if (subject_sig(&c, i, dir, &sig))
					goto fail;
				if (dir == POL_INGRESS && pod_named_ports(&c, i, &sig))
					goto fail;
				size_t sb = c.subjects.n;
				t->pods[i].subject[dir] = intern(&c.subjects, sig.p, (uint32_t)sig.n);
				if (t->pods[i].subject[dir] == UINT32_MAX)
					goto fail;
				if (c.subjects.n != sb &&
				    (!VPUSH(c.subject_pod, i) || !VPUSH(c.subject_dir, (uint8_t)dir)))
					goto fail;
			}
		} else {
			uint32_t f = c.id_first.p[id];
			c.pod_ns[i] = c.pod_ns[f];
			c.pod_ns_labels[i] = c.pod_ns_labels[f];
			t->pods[i].subject[0] = t->pods[f].subject[0];
			t->pods[i].subject[1] = t->pods[f].subject[1];
		}
		/* Peer class: the identity's part plus the ipBlock atoms of the
		 * pod's addresses, once per (part, address set). */
		uint32_t aset = 0;
		if (cl->pods[i].n_ips == 1) {
			aset = rng_set.p[range_of(rng_lo.p, rng_lo.n, ntohl(c.pod_ip[i]), &rng_hint)];
		} else if (cl->pods[i].n_ips > 1) {
			/* any address the packet carries: the union of the sets */
			sig.n = 0;
			for (size_t k = 0; k < cidr_atoms.n; k++)
				if (atom_has_pod(&c, &c.atoms.p[cidr_atoms.p[k]], i) &&
				    !VPUSH(sig, cidr_atoms.p[k]))
					goto fail;
			aset = intern(&rsets, sig.p, (uint32_t)sig.n);
		} else {
			aset = rng_empty;
		}
		uint32_t pair[2] = {id_part.p[id], aset};
		size_t before = pairs.n;
		uint32_t pr = intern(&pairs, pair, 2);
		if (pr == UINT32_MAX || aset == UINT32_MAX)
			goto fail;
		if (pairs.n == before) {
			t->pods[i].peer = pair_peer.p[pr];
			continue;
		}
		uint32_t na, np;
		const uint32_t *as = intern_get(&rsets, aset, &na);
		const uint32_t *part = intern_get(&parts, pair[0], &np);
		/* [1, atoms ascending, UINT32_MAX, named ports]: the selector
		 * atoms (ending at UINT32_MAX) and ipBlock atoms merged */
		sig.n = 0;
		if (!VPUSH(sig, 1))
			goto fail;
		uint32_t si = 0, ci = 0;
		while (part[si] != UINT32_MAX || ci < na) {
			uint32_t a = ci == na || part[si] < as[ci] ? part[si++] : as[ci++];
			if (!VPUSH(sig, a))
				goto fail;
		}
		for (; si < np; si++)
			if (!VPUSH(sig, part[si]))
				goto fail;
		before = c.peers.n;
		t->pods[i].peer = intern(&c.peers, sig.p, (uint32_t)sig.n);
		if (t->pods[i].peer == UINT32_MAX || !VPUSH(pair_peer, t->pods[i].peer))
			goto fail;
		if (c.peers.n != before && !peer_added(&c, &sig))
			goto fail;
	}
	/* Non-pod address ranges, split at every CIDR atom boundary. */
	if (!VPUSH(bounds, 0))
		goto fail;
	for (size_t a = 0; a < c.atoms.n; a++) {
		const struct atom *at = &c.atoms.p[a];
		if (at->kind != ATOM_CIDR)
			continue;
		for (unsigned k = 0; k <= at->n_except; k++) {
			const struct k8s_cidr *cd = k ? &at->except[k - 1] : &at->cidr;
			uint32_t lo = ntohl(cd->addr);
			uint64_t end = (uint64_t)lo + (cd->len ? 1ull << (32 - cd->len) : 1ull << 32);
			if (!VPUSH(bounds, lo) || (end < (1ull << 32) && !VPUSH(bounds, (uint32_t)end)))
				goto fail;
		}
	}
	qsort(bounds.p, bounds.n, sizeof(uint32_t), cmp_u32);
	t->cidr_lo = malloc(sizeof(uint32_t) * bounds.n);
	t->cidr_peer = malloc(sizeof(uint32_t) * bounds.n);
	if (!t->cidr_lo || !t->cidr_peer)
		goto fail;
	for (size_t k = 0; k < bounds.n; k++) {
		if (k && bounds.p[k] == bounds.p[k - 1])
			continue;
		if (peer_sig_addr(&c, bounds.p[k], &sig))
			goto fail;
		size_t before = c.peers.n;
		uint32_t pc = intern(&c.peers, sig.p, (uint32_t)sig.n);
		if (pc == UINT32_MAX)
			goto fail;
		if (c.peers.n != before &&
		    !peer_added(&c, &sig))
			goto fail;
		if (t->n_cidr && t->cidr_peer[t->n_cidr - 1] == pc)
			continue;
		t->cidr_lo[t->n_cidr] = bounds.p[k];
		t->cidr_peer[t->n_cidr++] = pc;
	}

	/* Rules per policy (CSR: anp_first/np_first index pol_rules), so a
	 * subject's rules come from the policies its signature lists. */
	if (!grow((void **)&anp_first.p, &anp_first.cap, cl->n_anps + 1, sizeof(uint32_t)) ||
	    !grow((void **)&np_first.p, &np_first.cap, cl->n_netpols + 1, sizeof(uint32_t)) ||
	    !grow((void **)&pol_rules.p, &pol_rules.cap, c.rules.n + 1, sizeof(uint32_t)))
		goto fail;
	anp_first.n = cl->n_anps + 1;
	np_first.n = cl->n_netpols + 1;
	memset(anp_first.p, 0, anp_first.n * sizeof(uint32_t));
	memset(np_first.p, 0, np_first.n * sizeof(uint32_t));
	for (size_t r = 0; r < c.rules.n; r++) {
		const struct crule *cr = &c.rules.p[r];
		(cr->tier == TIER_NP ? np_first.p : anp_first.p)[cr->policy + 1]++;
	}
	for (uint32_t i = 0; i < cl->n_anps; i++)
		anp_first.p[i + 1] += anp_first.p[i];
	for (uint32_t i = 0; i < cl->n_netpols; i++)
		np_first.p[i + 1] += np_first.p[i];
	{
		/* NP rules after all ANP rules in pol_rules */
		uint32_t *fill = calloc(cl->n_anps + cl->n_netpols + 1, sizeof(uint32_t));
		if (!fill)
			goto fail;
		uint32_t n_anp_rules = anp_first.p[cl->n_anps];
		for (uint32_t i = 0; i <= cl->n_netpols; i++)
			np_first.p[i] += n_anp_rules;
		for (size_t r = 0; r < c.rules.n; r++) {
			const struct crule *cr = &c.rules.p[r];
			uint32_t at = cr->tier == TIER_NP
					      ? np_first.p[cr->policy] + fill[cl->n_anps + cr->policy]++
					      : anp_first.p[cr->policy] + fill[cr->policy]++;
			pol_rules.p[at] = (uint32_t)r;
		}
		free(fill);
	}

	/* Port maps per subject class. */
	t->n_subjects = c.subjects.n;
	t->default_map = malloc(sizeof(uint32_t) * (c.subjects.n + 1));
	proj_map = malloc(sizeof(uint32_t) * (c.peers.n + 1));
	atom_mark = calloc(c.atoms.n + 1, sizeof(uint32_t));
	peer_mark = calloc(c.peers.n + 1, sizeof(uint32_t));
	if (!t->default_map || !proj_map || !atom_mark || !peer_mark ||
	    peers_by_atom(&c, &atom_peers))
		goto fail;
	for (uint32_t s = 0; s < c.subjects.n; s++) {
		uint32_t pi = c.subject_pod.p[s];
		unsigned dir = c.subject_dir.p[s];
		/* The subject's rules in evaluation order: those of the policies
		 * its signature lists (subject_sig), in c.rules order. */
		srules.n = 0;
		/* isolation rule: all NetworkPolicies / enforced ones (decide()) */
		uint32_t iso_all = POL_NONE, iso_enf = POL_NONE;
		bool egress_named = false;
		{
			uint32_t slen;
			const uint32_t *sg = intern_get(&c.subjects, s, &slen);
			uint32_t k = 1;
			for (; k < slen && sg[k] != UINT32_MAX; k++) /* ANPs and BANP */
				for (uint32_t x = anp_first.p[sg[k]]; x < anp_first.p[sg[k] + 1]; x++)
					if (c.rules.p[pol_rules.p[x]].dir == dir &&
					    !VPUSH(srules, pol_rules.p[x]))
						goto fail;
			for (k++; k < slen && sg[k] != UINT32_MAX; k++) { /* NetworkPolicies */
				if (!c.np_audit.p[sg[k]])
					iso_all = iso_enf = POL_RULE_ISOLATED;
				else if (iso_all == POL_NONE)
					iso_all = c.np_iso_rule.p[sg[k]];
				for (uint32_t x = np_first.p[sg[k]]; x < np_first.p[sg[k] + 1]; x++)
					if (c.rules.p[pol_rules.p[x]].dir == dir &&
					    !VPUSH(srules, pol_rules.p[x]))
						goto fail;
			}
			qsort(srules.p, srules.n, sizeof(uint32_t), cmp_u32);
			for (size_t r = 0; r < srules.n; r++) {
				const struct crule *cr = &c.rules.p[srules.p[r]];
				for (size_t q = 0; q < cr->ports.n; q++)
					egress_named |= dir == POL_EGRESS && cr->ports.p[q].named;
			}
		}
		/* Ingress named ports resolve against the subject itself. */
		u32vec own = {0};
		if (dir == POL_INGRESS && pod_named_ports(&c, pi, &own)) {
			free(own.p);
			goto fail;
		}
		struct eval_ctx e = {0};
		if (dir == POL_INGRESS) {
			e.dst_ports = own.p;
			e.n_dst_ports = (uint32_t)own.n;
		}
		uint32_t dm = build_map(&c, srules.p, (uint32_t)srules.n, iso_all, iso_enf, &e);
		t->default_map[s] = dm;
		if (dm == UINT32_MAX) {
			free(own.p);
			goto fail;
		}
		/* The atoms this subject's rules use (marked with s + 1), and the
		 * peers to project, ascending: those holding one of them (any
		 * other gets the default map), or, when egress named ports
		 * resolve against the peer, every peer. */
		cand.n = used.n = 0;
		for (size_t r = 0; r < srules.n; r++) {
			const struct crule *cr = &c.rules.p[srules.p[r]];
			for (size_t x = 0; x < cr->atoms.n; x++) {
				uint32_t a = cr->atoms.p[x];
				if (atom_mark[a] == s + 1)
					continue;
				atom_mark[a] = s + 1;
				if (!VPUSH(used, a)) {
					free(own.p);
					goto fail;
				}
				for (uint32_t k = atom_peers.first[a]; !egress_named &&
				     k < atom_peers.first[a + 1]; k++) {
					uint32_t p = atom_peers.list[k];
					if (peer_mark[p] != s + 1 && !VPUSH(cand, p)) {
						free(own.p);
						goto fail;
					}
					peer_mark[p] = s + 1;
				}
			}
		}
		for (uint32_t p = 0; egress_named && p < c.peers.n; p++)
			if (!VPUSH(cand, p)) {
				free(own.p);
				goto fail;
			}
		if (!egress_named)
			qsort(cand.p, cand.n, sizeof(uint32_t), cmp_u32);
		qsort(used.p, used.n, sizeof(uint32_t), cmp_u32);
		/* Peers this subject's rules tell apart, by their projection. */
		struct interner seen;
		if (!intern_init(&seen)) {
			free(own.p);
			goto fail;
		}
		for (size_t ci = 0; ci < cand.n; ci++) {
			uint32_t p = cand.p[ci];
			const uint32_t *atoms, *ports;
			uint32_t na, np;
			peer_parts(&c, p, &atoms, &na, &ports, &np);
			/* The peer's atoms the rules use: a walk of the shorter list,
			 * looking each up in the other (peers hold many ipBlock atoms,
			 * a subject's rules few). */
			proj.n = 0;
			if (used.n * 8 < na) {
				struct eval_ctx pa = {.atoms = atoms, .n_atoms = na};
				for (size_t k = 0; k < used.n; k++)
					if (has_atom(&pa, used.p[k]) && !VPUSH(proj, used.p[k]))
						goto fail_seen;
			} else {
				for (uint32_t k = 0; k < na; k++)
					if (atom_mark[atoms[k]] == s + 1 && !VPUSH(proj, atoms[k]))
						goto fail_seen;
			}
			size_t n_atoms_used = proj.n;
			if (egress_named) {
				if (!VPUSH(proj, UINT32_MAX))
					goto fail_seen;
				for (uint32_t k = 0; k < np; k++)
					if (!VPUSH(proj, ports[k]))
						goto fail_seen;
			}
			if (n_atoms_used == 0 && (!egress_named || np == 0))
				continue; /* the default map */
			size_t before = seen.n;
			uint32_t pid = intern(&seen, proj.p, (uint32_t)proj.n);
			if (pid == UINT32_MAX)
				goto fail_seen;
			if (seen.n != before) {
				struct eval_ctx pe = e;
				pe.atoms = proj.p;
				pe.n_atoms = (uint32_t)n_atoms_used;
				if (dir == POL_EGRESS) {
					pe.dst_ports = ports;
					pe.n_dst_ports = np;
				}
				proj_map[pid] = build_map(&c, srules.p, (uint32_t)srules.n,
							  iso_all, iso_enf, &pe);
				if (proj_map[pid] == UINT32_MAX)
					goto fail_seen;
			}
			if (proj_map[pid] == dm)
				continue;
			if (!VPUSH(mkeys, (uint64_t)s << 33 | (uint64_t)dir << 32 | p) ||
			    !VPUSH(mvals, proj_map[pid]))
				goto fail_seen;
		}
		intern_free(&seen);
		free(own.p);
		continue;
fail_seen:
		intern_free(&seen);
		free(own.p);
		goto fail;
	}
	if (pol_hash_build(&t->maps, mkeys.p, mvals.p, mkeys.n))
		goto fail;

	/* Pod IPs. */
	size_t n_ips = 0;
	for (uint32_t i = 0; i < cl->n_pods; i++)
		n_ips += cl->pods[i].n_ips;
	ipkeys = malloc(sizeof(uint64_t) * (n_ips + 1));
	ipvals = malloc(sizeof(uint32_t) * (n_ips + 1));
	if (!ipkeys || !ipvals)
		goto fail;
	n_ips = 0;
	for (uint32_t i = 0; i < cl->n_pods; i++)
		for (unsigned k = 0; k < cl->pods[i].n_ips; k++) {
			ipkeys[n_ips] = k ? cl->pods[i].ips[k] : c.pod_ip[i];
			ipvals[n_ips++] = i;
		}
	if (pol_hash_build(&t->ip, ipkeys, ipvals, n_ips))
		goto fail;

	if (pod_versions && record_pod_versions(&c))
		goto fail;
	/* Hand over maps, ranges and rule names. */
	if (!VPUSH(c.map_first, (uint32_t)c.ranges.n))
		goto fail;
	t->n_maps = (uint32_t)c.map_first.n - 1;
	t->map_first = c.map_first.p;
	c.map_first.p = NULL;
	t->n_ranges = (uint32_t)c.ranges.n;
	t->ranges = c.ranges.p;
	c.ranges.p = NULL;
	t->n_rules = (uint32_t)c.rule_names.n;
	t->rules = c.rule_names.p;
	c.rule_names.p = NULL;
	c.rule_names.n = 0;
	rc = 0;
fail:
	free(sig.p);
	free(srules.p);
	free(proj.p);
	free(mkeys.p);
	free(mvals.p);
	free(bounds.p);
	free(ipkeys);
	free(ipvals);
	free(proj_map);
	free(atom_mark);
	free(peer_mark);
	free(atom_peers.first);
	free(atom_peers.list);
	free(cand.p);
	free(used.p);
	free(cidr_atoms.p);
	free(sel_atoms.p);
	free(id_part.p);
	free(rng_lo.p);
	free(rng_set.p);
	free(pair_peer.p);
	free(anp_first.p);
	free(np_first.p);
	free(pol_rules.p);
	intern_free(&rsets);
	intern_free(&pairs);
	intern_free(&parts);
	comp_free(&c);
	if (!rc) /* what this compile used is the next one's */
		ctx->cur = !ctx->cur;
	gen_free(&ctx->gen[!ctx->cur]);
	if (rc) {
		pol_tables_free(t);
		errno = -rc;
		return NULL;
	}
	return t;
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

void pol_ctx_free(struct pol_ctx *ctx)
{
	if (!ctx)
		return;
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
