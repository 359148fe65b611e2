/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sync thread: the informer cache, batching, and the dataplane push.
 *
 * Cache: one hash map per kind, key "ns/name" or "name" -> the object. It
 * belongs to this thread alone; sources hand objects over in events.
 *
 * Batching: the first event opens a batch; it closes after batch_ms
 * without another event, or batch_max_ms after it opened, whichever comes
 * first. A burst of a thousand pod events is one compile and one push. An
 * event after a quiet spell (no batch for batch_max_ms) waits only 1 ms
 * for a second one before it is pushed alone: sparse events do not pay
 * the burst window.
 *
 * Push: nothing goes to the dataplane before every expected kind has been
 * listed in full (a partial cache would be a wrong policy). Then per batch:
 *  - policy: the whole cache is compiled (agent/polcomp.c, with a context
 *    kept across pushes, each object's cache version and a rest version
 *    bumped by policy events: a batch of pod and namespace changes only,
 *    or of policy changes only, updates the context's kept tables) and
 *    sent whole as one POLICY_SET when its wire form differs from what
 *    this dataplane has;
 *  - routes and VTEPs from Node objects (once any Node is known): this
 *    node's pod CIDRs are local routes, every other node's pod CIDRs route
 *    to its InternalIP as VTEP; the difference to what the dataplane has is
 *    sent as deletes and adds;
 *  - COMMIT at the next generation, and the ACK awaited. The event-to-ACK
 *    latency of every event in the batch goes into the histogram.
 * The dataplane keeps its tables when the agent goes away. When the agent
 * (re)connects — its own restart, or the dataplane's — it reads the
 * dataplane's routes and VTEPs, resends the policy and commits at a
 * generation at least the dataplane's: a resync, not a reset, so no
 * established connection is dropped (an unchanged policy gives unchanged
 * verdicts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "ctlclient.h"
#include "policy.h"
#include "polcomp.h"

/* ---------------------------------------------------------------------- */
/* The cache                                                               */

/* version: stamped on every put, never reused in its map: an entry's
 * object is immutable, so an unchanged version is unchanged content
 * (the compiler's pod_versions). */
struct entry {
	struct entry *next;
	struct ag_obj *obj;
	uint64_t version;
};

struct kmap {
	struct entry **b;
	size_t nb, n;
	uint64_t last_version;
	uint64_t mods; /* changes so far (put, take, replaced whole): the view's stamp */
	/* The entries by key (listed() with sort), kept up to date by puts
	 * and takes once made: an edit moves nothing, an insert or a delete
	 * one memmove, instead of a sort of every policy per push. */
	struct entry **sorted;
	size_t sorted_cap;
	bool sorted_ok;
};

/* Where key goes in m->sorted (the first entry not below it). */
static size_t sorted_pos(const struct kmap *m, const char *key)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(m->sorted[mid]->obj->key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct entry **kmap_slot(struct kmap *m, const char *key)
{
	struct entry **e = &m->b[hash_str(key) & (m->nb - 1)];
	while (*e && strcmp((*e)->obj->key, key))
		e = &(*e)->next;
	return e;
}

static int kmap_grow(struct kmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 256;
	struct entry **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nb; i++)
		for (struct entry *e = m->b[i], *next; e; e = next) {
			next = e->next;
			size_t h = hash_str(e->obj->key) & (nb - 1);
			e->next = b[h];
			b[h] = e;
		}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

/* Insert or replace; takes o. */
static int kmap_put(struct kmap *m, struct ag_obj *o)
{
	if (m->n + 1 > m->nb && kmap_grow(m))
		return -ENOMEM;
	struct entry **s = kmap_slot(m, o->key);
	m->mods++;
	if (*s) {
		ag_obj_free((*s)->obj);
		(*s)->obj = o;
		(*s)->version = ++m->last_version;
		return 0;
	}
	struct entry *e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->obj = o;
	e->next = NULL;
	e->version = ++m->last_version;
	*s = e;
	if (m->sorted_ok) {
		if (m->n + 1 > m->sorted_cap) {
			size_t cap = m->sorted_cap * 2 + 16;
			struct entry **a = realloc(m->sorted, cap * sizeof(*a));
			if (a) {
				m->sorted = a;
				m->sorted_cap = cap;
			}
		}
		if (m->n + 1 > m->sorted_cap) {
			m->sorted_ok = false; /* sorted again when listed */
		} else {
			size_t at = sorted_pos(m, o->key);
			memmove(m->sorted + at + 1, m->sorted + at, (m->n - at) * sizeof(*m->sorted));
			m->sorted[at] = e;
		}
	}
	m->n++;
	return 1;
}

/* Remove key's object from the map and return it (NULL: not there). */
static struct ag_obj *kmap_take(struct kmap *m, const char *key)
{
	if (!m->nb)
		return NULL;
	struct entry **s = kmap_slot(m, key), *e = *s;
	if (!e)
		return NULL;
	*s = e->next;
	struct ag_obj *o = e->obj;
	if (m->sorted_ok) {
		size_t at = sorted_pos(m, key);
		memmove(m->sorted + at, m->sorted + at + 1, (m->n - at - 1) * sizeof(*m->sorted));
	}
	free(e);
	m->n--;
	m->mods++;
	return o;
}

static bool kmap_del(struct kmap *m, const char *key)
{
	struct ag_obj *o = kmap_take(m, key);
	ag_obj_free(o);
	return o != NULL;
}

static void kmap_clear(struct kmap *m)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct entry *e = m->b[i], *next; e; e = next) {
			next = e->next;
			ag_obj_free(e->obj);
			free(e);
		}
	free(m->b);
	free(m->sorted);
	memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------------- */

struct sync {
	const struct ag_sync_options *opt;
	struct ag_queue *q;
	struct kmap cache[AG_N_KINDS];
	unsigned dirty; /* kinds changed since the last push (bits) */
	/* The cache as one k8s_cluster (build_view), kept between pushes:
	 * per kind, the map's mods + 1 when its array was filled (0: not) */
	struct k8s_cluster view;
	uint64_t view_mods[AG_N_KINDS];

	uint64_t last_batch_ns; /* when the last batch closed */

	/* arrival times of the events not yet acknowledged */
	uint64_t *lat;
	size_t n_lat, cap_lat;

	/* the dataplane */
	struct nsdp_client c;
	bool connected;
	bool full;          /* resync everything on the next push */
	uint32_t dp_pid;
	uint64_t gen;
	uint64_t retry_at;  /* ns; reconnect / retry not before */
	unsigned failures;
	bool net_managed;   /* Node objects were seen: routes and VTEPs are ours */
	void *policy_blob;  /* what this dataplane has */
	size_t policy_len;
	struct pol_ctx *pol; /* the compiler's memo across pushes (NULL: none yet) */
	uint64_t *pod_versions; /* the last view's pods' cache versions (build_view) */
	uint64_t *ns_versions;  /* and its namespaces' */
	uint64_t *np_versions, *anp_versions; /* its NetworkPolicies', (B)ANPs' */
	uint64_t rest_version;  /* the compiler's: policies as last compiled */
	struct nsdp_route *routes; /* what this dataplane has */
	unsigned n_routes;
	struct nsdp_vtep *vteps;
	unsigned n_vteps;
	char unresolved[512]; /* last logged list of nodes without a VTEP MAC */
	/* --host-route: the routes set (host_routes()) and their source */
	struct k8s_cidr *host_rt;
	unsigned n_host_rt;
	uint32_t host_rt_src;
};

static void lat_add(struct sync *s, uint64_t t)
{
	if (s->n_lat == s->cap_lat) {
		size_t cap = s->cap_lat ? s->cap_lat * 2 : 1024;
		uint64_t *a = realloc(s->lat, cap * sizeof(*a));
		if (!a)
			return;
		s->lat = a;
		s->cap_lat = cap;
	}
	s->lat[s->n_lat++] = t;
}

static void set_objects_gauge(struct sync *s, enum ag_kind k)
{
	atomic_store(&ag_m.objects[k], s->cache[k].n);
}

/* The cache of kind k becomes exactly the event's objects (a relist),
 * except that an object the source still has but could not decode keeps
 * its last good version (ev->keep): a relist drops what is gone, never
 * what is present and now bad. */
static void replace_kind(struct sync *s, enum ag_kind k, struct ag_event *ev)
{
	/* versions go on from the old map's: none is given twice */
	struct kmap fresh = {.last_version = s->cache[k].last_version,
			     .mods = s->cache[k].mods + 1};
	for (unsigned i = 0; i < ev->n_objs; i++) {
		struct ag_obj *o = ev->objs[i];
		if (!o || o->kind != k)
			continue;
		if (kmap_put(&fresh, o) < 0)
			ag_obj_free(o);
		ev->objs[i] = NULL;
	}
	unsigned kept = 0;
	for (unsigned i = 0; i < ev->n_keep; i++) {
		if (ev->keep[i].kind != k || (fresh.nb && *kmap_slot(&fresh, ev->keep[i].key)))
			continue;
		struct ag_obj *o = kmap_take(&s->cache[k], ev->keep[i].key);
		if (o && kmap_put(&fresh, o) < 0)
			ag_obj_free(o);
		kept += o != NULL;
	}
	if (kept)
		ag_log(AG_INFO, "sync", "%s: kept the last good version of %u object%s present but invalid in the new list",
		       ag_kinds[k].kind, kept, kept == 1 ? "" : "s");
	kmap_clear(&s->cache[k]);
	s->cache[k] = fresh;
	s->dirty |= 1u << k;
	set_objects_gauge(s, k);
}

static void apply_event(struct sync *s, struct ag_event *ev)
{
	switch (ev->type) {
	case AG_EV_UPSERT:
		for (unsigned i = 0; i < ev->n_objs; i++) {
			struct ag_obj *o = ev->objs[i];
			ev->objs[i] = NULL;
			atomic_fetch_add(&ag_m.events[o->kind][0], 1);
			s->dirty |= 1u << o->kind;
			enum ag_kind k = o->kind;
			if (kmap_put(&s->cache[k], o) < 0)
				ag_obj_free(o);
			set_objects_gauge(s, k);
		}
		break;
	case AG_EV_DELETE:
		atomic_fetch_add(&ag_m.events[ev->kind][1], 1);
		if (kmap_del(&s->cache[ev->kind], ev->key))
			s->dirty |= 1u << ev->kind;
		set_objects_gauge(s, ev->kind);
		break;
	case AG_EV_REPLACE:
		if (ev->kind == AG_N_KINDS) {
			for (int k = 0; k < AG_N_KINDS; k++) {
				atomic_fetch_add(&ag_m.events[k][2], 1);
				replace_kind(s, (enum ag_kind)k, ev);
			}
		} else {
			atomic_fetch_add(&ag_m.events[ev->kind][2], 1);
			replace_kind(s, ev->kind, ev);
		}
		break;
	case AG_EV_REJECT:
		/* Counted and logged by the source; the cache keeps its version. */
		break;
	}
	lat_add(s, ev->t_ns);
}

/* A shallow view of the whole cache as one k8s_cluster (arrays only are
 * owned by the view). Policies are sorted by key so that the order, and a
 * full compile's rule numbering, is stable from one compile to the next
 * (the compiler's policy slots follow unchanged policies in step); the
 * other kinds keep the cache's order (stable while an object exists). */
static int cmp_entry_key(const void *a, const void *b)
{
	return strcmp((*(struct entry *const *)a)->obj->key, (*(struct entry *const *)b)->obj->key);
}

/* The objects of m, sorted by key or in the map's order; with versions,
 * each one's version into versions[i]. */
static struct ag_obj **listed(struct kmap *m, bool sort, uint64_t *versions)
{
	struct ag_obj **a = malloc((m->n ? m->n : 1) * sizeof(*a));
	struct entry **e = sort ? m->sorted : malloc((m->n ? m->n : 1) * sizeof(*e));
	if (sort && !m->sorted_ok && m->n + 1 > m->sorted_cap) {
		free(m->sorted);
		m->sorted_cap = m->n + 16;
		e = m->sorted = malloc(m->sorted_cap * sizeof(*e));
		if (!e)
			m->sorted_cap = 0;
	}
	if (!a || !e) {
		free(a);
		if (!sort)
			free(e);
		return NULL;
	}
	if (!sort || !m->sorted_ok) {
		size_t n = 0;
		for (size_t i = 0; i < m->nb; i++)
			for (struct entry *x = m->b[i]; x; x = x->next)
				e[n++] = x;
		if (sort) {
			qsort(e, n, sizeof(*e), cmp_entry_key);
			m->sorted_ok = true;
		}
	}
	for (size_t i = 0; i < m->n; i++) {
		if (versions)
			versions[i] = e[i]->version;
		a[i] = e[i]->obj;
	}
	if (!sort)
		free(e);
	return a;
}

#define VIEW_FILL(s, view, k, arr, cnt, sort, versions)                           \
	do {                                                                      \
		size_t base = (view)->cnt;                                        \
		uint64_t *ver_ = (versions);                                      \
		struct ag_obj **objs =                                            \
			listed(&(s)->cache[k], sort, ver_ ? ver_ + base : NULL);  \
		if (!objs)                                                        \
			return -ENOMEM;                                           \
		__typeof__((view)->arr) a =                                       \
			realloc((view)->arr, (base + (s)->cache[k].n + 1) * sizeof(*a)); \
		if (!a) {                                                         \
			free(objs);                                               \
			return -ENOMEM;                                           \
		}                                                                 \
		(view)->arr = a;                                                  \
		for (size_t i = 0; i < (s)->cache[k].n; i++)                      \
			a[base + i] = objs[i]->cl.arr[0];                         \
		(view)->cnt = (unsigned)(base + (s)->cache[k].n);                 \
		free(objs);                                                       \
	} while (0)

/* s->view up to date with the cache: the arrays of the kinds changed
 * since they were filled are filled again (a 100k-pod list costs 10-20 ms
 * of cache misses: a policy change does not refill the pods), with the
 * objects' cache versions, for the compiler (pol_compile_ctx), into
 * s->pod_versions, ns_versions, np_versions and anp_versions (one entry
 * per view object, and one more, allocated by the caller; kept for the
 * kinds not refilled). 0 or -ENOMEM (the kinds not done are redone next
 * time). */
static int build_view(struct sync *s)
{
	struct k8s_cluster *view = &s->view;
	uint64_t *vm = s->view_mods;
#define VIEW_STALE(k) (vm[k] != s->cache[k].mods + 1)
	if (VIEW_STALE(AG_NAMESPACE)) {
		vm[AG_NAMESPACE] = view->n_namespaces = 0;
		VIEW_FILL(s, view, AG_NAMESPACE, namespaces, n_namespaces, false, s->ns_versions);
		vm[AG_NAMESPACE] = s->cache[AG_NAMESPACE].mods + 1;
	}
	if (VIEW_STALE(AG_POD)) {
		vm[AG_POD] = view->n_pods = 0;
		VIEW_FILL(s, view, AG_POD, pods, n_pods, false, s->pod_versions);
		vm[AG_POD] = s->cache[AG_POD].mods + 1;
	}
	if (VIEW_STALE(AG_NETPOL)) {
		vm[AG_NETPOL] = view->n_netpols = 0;
		VIEW_FILL(s, view, AG_NETPOL, netpols, n_netpols, true, s->np_versions);
		vm[AG_NETPOL] = s->cache[AG_NETPOL].mods + 1;
	}
	if (VIEW_STALE(AG_ANP) || VIEW_STALE(AG_BANP)) { /* one array */
		vm[AG_ANP] = vm[AG_BANP] = view->n_anps = 0;
		VIEW_FILL(s, view, AG_ANP, anps, n_anps, true, s->anp_versions);
		unsigned n_anp = view->n_anps;
		VIEW_FILL(s, view, AG_BANP, anps, n_anps, true, s->anp_versions);
		/* versions are per kind's map: the BANP's kept apart from the ANPs' */
		for (unsigned i = n_anp; i < view->n_anps; i++)
			s->anp_versions[i] |= 1ull << 63;
		vm[AG_ANP] = s->cache[AG_ANP].mods + 1;
		vm[AG_BANP] = s->cache[AG_BANP].mods + 1;
	}
	if (VIEW_STALE(AG_NODE)) {
		vm[AG_NODE] = view->n_nodes = 0;
		VIEW_FILL(s, view, AG_NODE, nodes, n_nodes, false, NULL);
		vm[AG_NODE] = s->cache[AG_NODE].mods + 1;
	}
#undef VIEW_STALE
	return 0;
}

static void view_free(struct k8s_cluster *v)
{
	free(v->namespaces);
	free(v->pods);
	free(v->netpols);
	free(v->anps);
	free(v->nodes);
	memset(v, 0, sizeof(*v));
}

/* ---------------------------------------------------------------------- */
/* Desired routes and VTEPs from Node objects                              */

static void ip4(struct nsdp_ip *ip, uint32_t addr)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET;
	memcpy(ip->addr, &addr, 4);
}

static int desired_net(struct sync *s, const struct k8s_cluster *v, struct nsdp_route **routes,
		       unsigned *n_routes, struct nsdp_vtep **vteps, unsigned *n_vteps)
{
	*routes = calloc(1, sizeof(**routes));
	*vteps = calloc(v->n_nodes + 1, sizeof(**vteps));
	*n_routes = *n_vteps = 0;
	if (!*routes || !*vteps)
		return -ENOMEM;
	char unresolved[512] = "";
	for (unsigned i = 0; i < v->n_nodes; i++) {
		const struct k8s_node *nd = &v->nodes[i];
		bool self = s->opt->node && !strcmp(nd->name, s->opt->node);
		if (!self) {
			if (!nd->has_internal_ip) {
				snprintf(unresolved + strlen(unresolved),
					 sizeof(unresolved) - strlen(unresolved), " %s(no InternalIP)",
					 nd->name);
				continue;
			}
			if (!nd->has_vtep_mac && !s->opt->have_gw_mac) {
				snprintf(unresolved + strlen(unresolved),
					 sizeof(unresolved) - strlen(unresolved), " %s(no %s)",
					 nd->name, K8S_ANNOTATION_VTEP_MAC);
				continue;
			}
			struct nsdp_vtep *vt = &(*vteps)[(*n_vteps)++];
			ip4(&vt->ip, nd->internal_ip);
			memcpy(vt->mac, nd->has_vtep_mac ? nd->vtep_mac : s->opt->gw_mac, 6);
			snprintf(vt->name, sizeof(vt->name), "%s", nd->name);
		}
		struct nsdp_route *r = realloc(*routes, (*n_routes + nd->n_cidrs + 1) * sizeof(*r));
		if (!r)
			return -ENOMEM;
		*routes = r;
		for (unsigned j = 0; j < nd->n_cidrs; j++) {
			struct nsdp_route *rt = &r[(*n_routes)++];
			memset(rt, 0, sizeof(*rt));
			ip4(&rt->prefix, nd->pod_cidrs[j].addr);
			rt->prefix_len = nd->pod_cidrs[j].len;
			if (!self)
				ip4(&rt->vtep, nd->internal_ip);
		}
	}
	if (strcmp(unresolved, s->unresolved)) {
		if (unresolved[0])
			ag_log(AG_WARN, "sync", "no overlay route to nodes:%s", unresolved);
		snprintf(s->unresolved, sizeof(s->unresolved), "%s", unresolved);
	}
	return 0;
}

/*
 * --host-route: this node's routes to its own pod CIDRs through the
 * dataplane's host port, as its Node object says (spec.podCIDRs), set in
 * the agent's network namespace: POD_CIDR via --host-route-via dev IFACE
 * onlink src (--host-ip, else the Node's InternalIP). CIDRs the Node no
 * longer has are removed; a route that could not be set is logged and
 * tried again at the next push. Nothing changes while the Node is absent.
 */
static void host_routes(struct sync *s, const struct k8s_cluster *v)
{
	const struct ag_sync_options *o = s->opt;
	const struct k8s_node *self = NULL;
	for (unsigned i = 0; o->host_route && o->node && i < v->n_nodes && !self; i++)
		if (!strcmp(v->nodes[i].name, o->node))
			self = &v->nodes[i];
	if (!self)
		return;
	uint32_t src = o->host_ip ? o->host_ip : self->has_internal_ip ? self->internal_ip : 0;
	bool all_set = true;
	char err[256], via[INET_ADDRSTRLEN], pfx[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &o->host_route_via, via, sizeof(via));
	/* gone from the Node: removed */
	for (unsigned i = 0; i < s->n_host_rt;) {
		const struct k8s_cidr *c = &s->host_rt[i];
		bool keep = false;
		for (unsigned j = 0; j < self->n_cidrs && !keep; j++)
			keep = self->pod_cidrs[j].addr == c->addr && self->pod_cidrs[j].len == c->len;
		if (keep) {
			i++;
			continue;
		}
		inet_ntop(AF_INET, &c->addr, pfx, sizeof(pfx));
		if (ag_host_route(false, o->host_route, c->addr, c->len, o->host_route_via, 0, err,
				  sizeof(err)) && strcmp(err, strerror(ESRCH))) {
			/* still there: kept, removed at a later push */
			ag_log(AG_WARN, "sync", "host route %s/%u dev %s: removing: %s", pfx, c->len,
			       o->host_route, err);
			i++;
			continue;
		}
		ag_log(AG_INFO, "sync", "host route %s/%u dev %s removed (no longer node %s's)", pfx,
		       c->len, o->host_route, o->node);
		s->host_rt[i] = s->host_rt[--s->n_host_rt];
	}
	/* new, or a new source: set (replacing) */
	for (unsigned j = 0; j < self->n_cidrs; j++) {
		const struct k8s_cidr *c = &self->pod_cidrs[j];
		bool have = false;
		for (unsigned i = 0; i < s->n_host_rt && !have; i++)
			have = s->host_rt[i].addr == c->addr && s->host_rt[i].len == c->len;
		if (have && src == s->host_rt_src)
			continue;
		inet_ntop(AF_INET, &c->addr, pfx, sizeof(pfx));
		char srcs[INET_ADDRSTRLEN] = "-";
		if (src)
			inet_ntop(AF_INET, &src, srcs, sizeof(srcs));
		if (ag_host_route(true, o->host_route, c->addr, c->len, o->host_route_via, src, err,
				  sizeof(err))) {
			ag_log(AG_ERROR, "sync", "host route %s/%u via %s dev %s src %s: %s (node %s's pods are unreachable from the node until it is set; retried at the next push)",
			       pfx, c->len, via, o->host_route, srcs, err, o->node);
			all_set = false;
			continue;
		}
		ag_log(AG_INFO, "sync", "host route %s/%u via %s dev %s src %s set", pfx, c->len, via,
		       o->host_route, srcs);
		if (!have) {
			struct k8s_cidr *n = realloc(s->host_rt, (s->n_host_rt + 1) * sizeof(*n));
			if (!n)
				continue; /* set, not recorded: set again next time */
			s->host_rt = n;
			s->host_rt[s->n_host_rt++] = *c;
		}
	}
	/* a new source is taken once every route has it */
	if (all_set)
		s->host_rt_src = src;
}

static bool same_route_key(const struct nsdp_route *a, const struct nsdp_route *b)
{
	return a->prefix_len == b->prefix_len && !memcmp(&a->prefix, &b->prefix, sizeof(a->prefix));
}

static const struct nsdp_route *find_route(const struct nsdp_route *r, unsigned n,
					   const struct nsdp_route *key)
{
	for (unsigned i = 0; i < n; i++)
		if (same_route_key(&r[i], key))
			return &r[i];
	return NULL;
}

static const struct nsdp_vtep *find_vtep(const struct nsdp_vtep *v, unsigned n,
					 const struct nsdp_ip *ip)
{
	for (unsigned i = 0; i < n; i++)
		if (!memcmp(&v[i].ip, ip, sizeof(*ip)))
			return &v[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* The dataplane connection                                                */

static void dp_disconnect(struct sync *s, const char *why)
{
	if (s->connected && why)
		ag_log(AG_WARN, "sync", "dataplane %s: %s; reconnecting", s->opt->socket, why);
	nsdp_client_close(&s->c);
	s->connected = false;
	atomic_store(&ag_m.dataplane_up, false);
	free(s->policy_blob);
	s->policy_blob = NULL;
	s->policy_len = 0;
	s->failures++;
	double backoff = 0.05 * (double)(1u << (s->failures < 7 ? s->failures : 7));
	backoff *= 0.5 + (double)rand() / RAND_MAX; /* jitter */
	s->retry_at = ag_now_ns() + (uint64_t)(backoff * 1e9);
}

static int fetch(struct sync *s, uint16_t type, size_t size, void **out, unsigned *n)
{
	void *buf = NULL;
	uint32_t len = 0;
	if (nsdp_client_request(&s->c, type, NULL, 0, &buf, &len) < 0)
		return -EIO;
	free(*out);
	*out = buf;
	*n = (unsigned)(len / size);
	return 0;
}

static int dp_read_tables(struct sync *s)
{
	if (fetch(s, NSDP_MSG_GET_ROUTES, sizeof(struct nsdp_route), (void **)&s->routes,
		  &s->n_routes) ||
	    fetch(s, NSDP_MSG_GET_VTEPS, sizeof(struct nsdp_vtep), (void **)&s->vteps, &s->n_vteps))
		return -EIO;
	return 0;
}

static void dp_connect(struct sync *s)
{
	if (nsdp_client_connect(&s->c, s->opt->socket, 10000) < 0) {
		if (s->failures == 0 || s->failures % 20 == 0)
			ag_log(AG_WARN, "sync", "dataplane %s: %s (retrying)", s->opt->socket,
			       nsdp_client_error(&s->c));
		dp_disconnect(s, NULL);
		return;
	}
	s->connected = true;
	atomic_fetch_add(&ag_m.dataplane_connects, 1);
	if (s->dp_pid && s->dp_pid != s->c.server.pid)
		ag_log(AG_WARN, "sync", "the dataplane restarted (pid %u, was %u): full resync",
		       s->c.server.pid, s->dp_pid);
	ag_log(AG_INFO, "sync", "connected to dataplane %s (node %s, pid %u, generation %" PRIu64 ")",
	       s->opt->socket, s->c.server.name, s->c.server.pid, s->c.server.generation);
	s->dp_pid = s->c.server.pid;
	if (s->c.server.generation > s->gen)
		s->gen = s->c.server.generation;
	if (dp_read_tables(s)) {
		dp_disconnect(s, nsdp_client_error(&s->c));
		return;
	}
	s->full = true;
	atomic_store(&ag_m.dataplane_up, true);
}

/* Is the connection still there? (The dataplane sends nothing unasked, so
 * readable means EOF or an error.) */
static bool dp_alive(struct sync *s)
{
	struct pollfd p = {.fd = s->c.fd, .events = POLLIN};
	if (poll(&p, 1, 0) == 0)
		return true;
	char ch;
	return recv(s->c.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static int push(struct sync *s)
{
	struct k8s_cluster *view = &s->view;
	struct {
		uint64_t **v;
		size_t n;
	} vers[] = {
		{&s->pod_versions, s->cache[AG_POD].n},
		{&s->ns_versions, s->cache[AG_NAMESPACE].n},
		{&s->np_versions, s->cache[AG_NETPOL].n},
		{&s->anp_versions, s->cache[AG_ANP].n + s->cache[AG_BANP].n},
	};
	for (size_t k = 0; k < sizeof(vers) / sizeof(vers[0]); k++) {
		uint64_t *v = realloc(*vers[k].v, (vers[k].n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		*vers[k].v = v;
	}
	int rc = build_view(s);
	if (rc)
		return rc;
	if (s->full || (s->dirty & (1u << AG_POD)))
		ag_flowlog_pods(view); /* names for flow-log records */
	if (s->opt->host_route)
		host_routes(s, view);
	uint64_t gen = s->gen + 1;
	unsigned policy_kinds = (1u << AG_NAMESPACE) | (1u << AG_POD) | (1u << AG_NETPOL) |
				(1u << AG_ANP) | (1u << AG_BANP);
	void *blob = NULL;
	size_t len = 0;
	unsigned sent = 0;
	if (s->full || (s->dirty & policy_kinds)) {
		uint64_t t0 = ag_now_ns();
		struct timespec c0, c1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		if (!s->pol)
			s->pol = pol_ctx_new(); /* NULL: pol_compile_ctx fails, ENOMEM below */
		/* A change of pods and namespaces only is a pods-only compile,
		 * one of policies only a policy compile (polcomp.h): the
		 * policy objects are the cache's, unchanged while no event of
		 * their kinds came (objects are immutable there), and every
		 * object carries its version. */
		if (!s->rest_version ||
		    (s->dirty & ((1u << AG_NETPOL) | (1u << AG_ANP) | (1u << AG_BANP))))
			s->rest_version++;
		struct pol_versions v = {s->pod_versions, s->ns_versions, s->rest_version,
					 s->np_versions, s->anp_versions};
		struct pol_tables *t = s->pol ? pol_compile_ctx(s->pol, view, &v, gen) : NULL;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		if (!t || pol_serialize(t, &blob, &len)) {
			pol_tables_free(t);
			ag_log(AG_ERROR, "sync", "compiling the policy: out of memory");
			return -ENOMEM;
		}
		atomic_store(&ag_m.policy_compile_ns, ag_now_ns() - t0);
		atomic_store(&ag_m.policy_compile_cpu_ns,
			     (uint64_t)((c1.tv_sec - c0.tv_sec) * 1000000000ll + (c1.tv_nsec - c0.tv_nsec)));
		struct pol_ctx_stats st;
		pol_ctx_get_stats(s->pol, &st);
		atomic_store(&ag_m.policy_compiles[0], st.full);
		atomic_store(&ag_m.policy_compiles[1], st.pods_only);
		atomic_store(&ag_m.policy_compiles[2], st.policy);
		ag_log(AG_DEBUG, "sync", "policy: %u rules, %u maps, %zu bytes, compiled in %.1f ms (%.1f ms of CPU)",
		       t->n_rules, t->n_maps, len, (double)(ag_now_ns() - t0) / 1e6,
		       (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6);
		pol_tables_free(t);
		if (len > NSDP_PROTO_MAX_PAYLOAD) {
			ag_log(AG_ERROR, "sync", "compiled policy is %zu bytes, over the %u-byte message limit; not sent",
			       len, NSDP_PROTO_MAX_PAYLOAD);
			free(blob);
			blob = NULL;
		} else if (!s->policy_blob || len != s->policy_len ||
			   memcmp(blob, s->policy_blob, len)) {
			if (nsdp_client_send(&s->c, NSDP_MSG_POLICY_SET, gen, blob, (uint32_t)len) < 0)
				goto io;
			sent++;
		} else {
			free(blob);
			blob = NULL;
		}
	}

	struct nsdp_route *routes = NULL;
	struct nsdp_vtep *vteps = NULL;
	unsigned n_routes = 0, n_vteps = 0;
	/* Once Nodes have been seen the agent owns routes and VTEPs, also when
	 * the last Node goes (its routes must go with it). */
	s->net_managed |= s->cache[AG_NODE].n > 0;
	bool manage_net = s->net_managed;
	if (manage_net && (s->full || (s->dirty & (1u << AG_NODE)))) {
		if (desired_net(s, view, &routes, &n_routes, &vteps, &n_vteps)) {
			free(routes);
			free(vteps);
			free(blob);
			return -ENOMEM;
		}
		/* Order: VTEPs before the routes that use them; routes gone
		 * before their VTEPs. */
		for (unsigned i = 0; i < n_vteps; i++) {
			const struct nsdp_vtep *have = find_vtep(s->vteps, s->n_vteps, &vteps[i].ip);
			if (have && !memcmp(have->mac, vteps[i].mac, 6) &&
			    !strcmp(have->name, vteps[i].name))
				continue;
			if (nsdp_client_vtep_add(&s->c, &vteps[i]) < 0)
				goto io_net;
			sent++;
		}
		for (unsigned i = 0; i < s->n_routes; i++)
			if (!find_route(routes, n_routes, &s->routes[i])) {
				if (nsdp_client_route_del(&s->c, &s->routes[i].prefix,
							  s->routes[i].prefix_len) < 0)
					goto io_net;
				sent++;
			}
		for (unsigned i = 0; i < n_routes; i++) {
			const struct nsdp_route *have = find_route(s->routes, s->n_routes, &routes[i]);
			if (have && !memcmp(&have->vtep, &routes[i].vtep, sizeof(have->vtep)))
				continue;
			if (nsdp_client_route_add(&s->c, &routes[i]) < 0)
				goto io_net;
			sent++;
		}
		for (unsigned i = 0; i < s->n_vteps; i++)
			if (!find_vtep(vteps, n_vteps, &s->vteps[i].ip)) {
				if (nsdp_client_vtep_del(&s->c, &s->vteps[i].ip) < 0)
					goto io_net;
				sent++;
			}
	}
	if (!sent && !s->full) {
		free(routes);
		free(vteps);
		return 0; /* nothing changed for the dataplane */
	}

	struct nsdp_ack ack;
	uint64_t t_commit = ag_now_ns();
	if (nsdp_client_commit(&s->c, gen, &ack) < 0) {
		free(routes);
		free(vteps);
		free(blob);
		dp_disconnect(s, nsdp_client_error(&s->c));
		return -EIO;
	}
	if (ack.status == -ESTALE) {
		/* Someone else (nsdpctl) moved the generation on: catch up,
		 * with what the dataplane has now. */
		s->gen = ack.generation;
		free(routes);
		free(vteps);
		free(blob);
		s->full = true;
		if (dp_read_tables(s)) {
			dp_disconnect(s, nsdp_client_error(&s->c));
			return -EIO;
		}
		return -EAGAIN;
	}
	if (ack.generation != gen) {
		/* Nothing of the batch was applied (publishing failed in the
		 * dataplane): keep nothing of it, resend all of it later. */
		atomic_fetch_add(&ag_m.sync_failures, 1);
		ag_log(AG_ERROR, "sync", "generation %" PRIu64 " not applied (still %" PRIu64 "): %s; retrying",
		       gen, ack.generation, ack.error);
		s->gen = ack.generation;
		free(routes);
		free(vteps);
		free(blob);
		free(s->policy_blob);
		s->policy_blob = NULL;
		s->full = true;
		s->retry_at = ag_now_ns() + 1000000000ull;
		return -EIO;
	}
	s->gen = ack.generation;
	atomic_store(&ag_m.generation, ack.generation);
	if (ack.rejected || ack.status) {
		atomic_fetch_add(&ag_m.sync_failures, 1);
		ag_log(AG_ERROR, "sync", "generation %" PRIu64 ": the dataplane rejected %u of %u changes: %s",
		       gen, ack.rejected, ack.applied + ack.rejected, ack.error);
	}
	if (blob) {
		free(s->policy_blob);
		s->policy_blob = blob;
		s->policy_len = len;
		atomic_store(&ag_m.policy_bytes, len);
		/* The dataplane loads this at its next start (config policy_file):
		 * enforced from its first packet, before this agent reconnects. */
		int wrc;
		if (s->opt->policy_cache &&
		    (wrc = ag_write_file_atomic(s->opt->policy_cache, blob, len)))
			ag_log(AG_ERROR, "sync", "--policy-cache %s: %s", s->opt->policy_cache,
			       strerror(-wrc));
	}
	if (routes || vteps) {
		if (ack.rejected) {
			free(routes);
			free(vteps);
			dp_read_tables(s);
		} else {
			free(s->routes);
			free(s->vteps);
			s->routes = routes;
			s->n_routes = n_routes;
			s->vteps = vteps;
			s->n_vteps = n_vteps;
		}
	}
	ag_log(s->full ? AG_INFO : AG_DEBUG, "sync",
	       "generation %" PRIu64 " acknowledged%s: %u changes, %zu events; commit to ACK %.1f ms",
	       ack.generation, s->full ? " (full resync)" : "", sent, s->n_lat,
	       (double)(ag_now_ns() - t_commit) / 1e6);
	return 0;

io_net:
	free(routes);
	free(vteps);
io:
	free(blob);
	dp_disconnect(s, nsdp_client_error(&s->c));
	return -EIO;
}

/* ---------------------------------------------------------------------- */

#define SPARSE_QUIET_NS 1000000u /* 1 ms */

/* Take the queued events; *synced and *stop as they were at that moment
 * (a kind marked synced later has events not in this batch). */
static struct ag_event *take_batch(struct sync *s, int idle_ms, unsigned *synced, bool *stop)
{
	struct ag_queue *q = s->q;
	pthread_mutex_lock(&q->mu);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)idle_ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (!q->head && !q->stop)
		if (pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT)
			break;
	if (q->head && !q->stop) {
		/* Wait for the burst to end. An event after a quiet spell (no
		 * batch for batch_max_ms) is most likely alone: it waits at most
		 * SPARSE_QUIET_NS for company, and only a second event makes it
		 * a burst that waits batch_ms. */
		uint64_t opened = ag_now_ns();
		bool sparse = opened - s->last_batch_ns >= (uint64_t)s->opt->batch_max_ms * 1000000u;
		for (;;) {
			unsigned n = q->n;
			uint64_t now = ag_now_ns();
			uint64_t max_end = opened + (uint64_t)s->opt->batch_max_ms * 1000000u;
			if (now >= max_end)
				break;
			uint64_t wait = (uint64_t)s->opt->batch_ms * 1000000u;
			if (sparse && n == 1 && wait > SPARSE_QUIET_NS)
				wait = SPARSE_QUIET_NS;
			if (now + wait > max_end)
				wait = max_end - now;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += (long)wait;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			while (q->n == n && !q->stop)
				if (pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT)
					break;
			if (q->n == n || q->stop)
				break;
		}
	}
	struct ag_event *list = q->head;
	if (list)
		s->last_batch_ns = ag_now_ns();
	q->head = q->tail = NULL;
	q->n = 0;
	*synced = q->synced_mask;
	*stop = q->stop;
	pthread_mutex_unlock(&q->mu);
	return list;
}

void ag_sync_run(struct ag_queue *q, const struct ag_sync_options *opt)
{
	struct sync s = {.opt = opt, .q = q, .c = {.fd = -1}};
	bool announced = false;
	for (;;) {
		unsigned synced_mask;
		bool stop;
		struct ag_event *list = take_batch(&s, 200, &synced_mask, &stop);
		for (struct ag_event *ev = list, *next; ev; ev = next) {
			next = ev->next;
			apply_event(&s, ev);
			ag_event_free(ev);
		}
		/* Synced means: every kind's full list is in this batch or an
		 * earlier one (the mask was read with the batch, never after). */
		bool synced = (synced_mask & opt->expect_mask) == opt->expect_mask;
		if (stop || ag_stop_requested)
			break;
		if (!synced)
			continue;
		if (!announced) {
			ag_log(AG_INFO, "sync", "initial list complete: %zu namespaces, %zu pods, %zu network policies, %zu admin network policies, %zu baseline, %zu nodes",
			       s.cache[AG_NAMESPACE].n, s.cache[AG_POD].n, s.cache[AG_NETPOL].n,
			       s.cache[AG_ANP].n, s.cache[AG_BANP].n, s.cache[AG_NODE].n);
			announced = true;
		}
		if (s.connected && !dp_alive(&s))
			dp_disconnect(&s, "connection closed");
		uint64_t now = ag_now_ns();
		if (!s.connected && now >= s.retry_at)
			dp_connect(&s);
		if (!s.connected || (!s.dirty && !s.full) || now < s.retry_at)
			continue;
		int rc = push(&s);
		if (rc == -EAGAIN)
			rc = push(&s);
		if (rc)
			continue;
		uint64_t done = ag_now_ns();
		for (size_t i = 0; i < s.n_lat; i++)
			ag_metrics_observe_latency(done - s.lat[i]);
		s.n_lat = 0;
		s.dirty = 0;
		s.full = false;
		s.failures = 0;
		atomic_fetch_add(&ag_m.syncs, 1);
		if (!atomic_load(&ag_m.ready)) {
			atomic_store(&ag_m.ready, true);
			ag_log(AG_INFO, "sync", "ready: first full sync acknowledged at generation %" PRIu64,
			       s.gen);
		}
	}
	nsdp_client_close(&s.c);
	view_free(&s.view);
	for (int k = 0; k < AG_N_KINDS; k++)
		kmap_clear(&s.cache[k]);
	free(s.lat);
	free(s.policy_blob);
	pol_ctx_free(s.pol);
	free(s.pod_versions);
	free(s.ns_versions);
	free(s.np_versions);
	free(s.anp_versions);
	free(s.host_rt);
	free(s.routes);
	free(s.vteps);
}
