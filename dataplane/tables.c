/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_prefetch.h>
#include <rte_hash_crc.h>
#include <rte_lpm.h>
#include <rte_malloc.h>

#include "tables.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *ip_str(const struct nsdp_ip *ip, char *buf, size_t len)
{
	if (!inet_ntop(ip->family == AF_INET6 ? AF_INET6 : AF_INET, ip->addr, buf,
		       (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static bool ip_eq(const struct nsdp_ip *a, const struct nsdp_ip *b)
{
	size_t n = a->family == AF_INET6 ? 16 : 4;
	return a->family == b->family && memcmp(a->addr, b->addr, n) == 0;
}

static uint32_t ip4(const struct nsdp_ip *ip)
{
	uint32_t v;
	memcpy(&v, ip->addr, 4);
	return v;
}

int dp_state_init(struct dp_table_state *s, uint32_t max_eps, uint32_t max_routes,
		  uint32_t max_vteps)
{
	memset(s, 0, sizeof(*s));
	s->max_eps = max_eps;
	s->max_routes = max_routes;
	s->max_vteps = max_vteps;
	s->eps = calloc(max_eps ? max_eps : 1, sizeof(*s->eps));
	s->routes = calloc(max_routes ? max_routes : 1, sizeof(*s->routes));
	s->vteps = calloc(max_vteps ? max_vteps : 1, sizeof(*s->vteps));
	if (!s->eps || !s->routes || !s->vteps) {
		dp_state_free(s);
		return -ENOMEM;
	}
	return 0;
}

void dp_state_free(struct dp_table_state *s)
{
	free(s->eps);
	free(s->routes);
	free(s->vteps);
	memset(s, 0, sizeof(*s));
}

void dp_state_clear(struct dp_table_state *s)
{
	s->n_eps = s->n_routes = s->n_vteps = 0;
}

static int check_v4(const struct nsdp_ip *ip, const char *what, char *err, size_t errlen)
{
	if (ip->family == AF_INET)
		return 0;
	if (ip->family == AF_INET6)
		set_err(err, errlen, "%s: IPv6 is not supported yet", what);
	else
		set_err(err, errlen, "%s: address family %u is not AF_INET", what,
			ip->family);
	return -EINVAL;
}

static bool mac_unicast(const uint8_t *mac)
{
	static const uint8_t zero[6];
	return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

int dp_state_ep_add(struct dp_table_state *s, const struct nsdp_endpoint *ep,
		    dp_port_resolve_fn resolve, void *arg, char *err, size_t errlen)
{
	char b[64];
	if (check_v4(&ep->ip, "endpoint.ip", err, errlen))
		return -EINVAL;
	if (ip4(&ep->ip) == 0) {
		set_err(err, errlen, "endpoint.ip: 0.0.0.0 is not a pod address");
		return -EINVAL;
	}
	if (!memchr(ep->port, 0, sizeof(ep->port)) || (resolve && resolve(arg, ep->port) < 0)) {
		set_err(err, errlen, "endpoint %s: port \"%.*s\" is not a pod port of this dataplane",
			ip_str(&ep->ip, b, sizeof(b)), (int)sizeof(ep->port), ep->port);
		return -EINVAL;
	}
	if (!mac_unicast(ep->mac)) {
		set_err(err, errlen, "endpoint %s: mac must be a unicast, non-zero address",
			ip_str(&ep->ip, b, sizeof(b)));
		return -EINVAL;
	}
	for (uint32_t i = 0; i < s->n_eps; i++) {
		if (ip_eq(&s->eps[i].ip, &ep->ip)) {
			s->eps[i] = *ep; /* add of an existing key replaces it */
			return 0;
		}
	}
	if (s->n_eps >= s->max_eps) {
		set_err(err, errlen, "endpoint %s: endpoint table full (%u entries, tables.endpoints)",
			ip_str(&ep->ip, b, sizeof(b)), s->max_eps);
		return -ENOSPC;
	}
	s->eps[s->n_eps++] = *ep;
	return 0;
}

int dp_state_ep_del(struct dp_table_state *s, const struct nsdp_ip *ip, char *err,
		    size_t errlen)
{
	char b[64];
	for (uint32_t i = 0; i < s->n_eps; i++) {
		if (ip_eq(&s->eps[i].ip, ip)) {
			s->eps[i] = s->eps[--s->n_eps];
			return 0;
		}
	}
	set_err(err, errlen, "endpoint %s: no such endpoint", ip_str(ip, b, sizeof(b)));
	return -ENOENT;
}

static int route_check(const struct nsdp_route *r, char *err, size_t errlen)
{
	char b[64];
	if (check_v4(&r->prefix, "route.prefix", err, errlen))
		return -EINVAL;
	if (r->prefix_len > 32) {
		set_err(err, errlen, "route %s/%u: prefix length must be 0..32",
			ip_str(&r->prefix, b, sizeof(b)), r->prefix_len);
		return -EINVAL;
	}
	uint32_t mask = r->prefix_len ? htonl(~0u << (32 - r->prefix_len)) : 0;
	if (ip4(&r->prefix) & ~mask) {
		set_err(err, errlen, "route %s/%u: host bits set in prefix",
			ip_str(&r->prefix, b, sizeof(b)), r->prefix_len);
		return -EINVAL;
	}
	if (r->vtep.family != 0 && check_v4(&r->vtep, "route.vtep", err, errlen))
		return -EINVAL;
	return 0;
}

static int route_find(const struct dp_table_state *s, const struct nsdp_route *r)
{
	for (uint32_t i = 0; i < s->n_routes; i++)
		if (s->routes[i].prefix_len == r->prefix_len &&
		    ip_eq(&s->routes[i].prefix, &r->prefix))
			return (int)i;
	return -1;
}

int dp_state_route_add(struct dp_table_state *s, const struct nsdp_route *r,
		       char *err, size_t errlen)
{
	char b[64];
	int rc = route_check(r, err, errlen);
	if (rc)
		return rc;
	int i = route_find(s, r);
	if (i >= 0) {
		s->routes[i] = *r;
		return 0;
	}
	if (s->n_routes >= s->max_routes) {
		set_err(err, errlen, "route %s/%u: route table full (%u entries, tables.routes)",
			ip_str(&r->prefix, b, sizeof(b)), r->prefix_len, s->max_routes);
		return -ENOSPC;
	}
	s->routes[s->n_routes++] = *r;
	return 0;
}

int dp_state_route_del(struct dp_table_state *s, const struct nsdp_route *r,
		       char *err, size_t errlen)
{
	char b[64];
	int rc = route_check(r, err, errlen);
	if (rc)
		return rc;
	int i = route_find(s, r);
	if (i < 0) {
		set_err(err, errlen, "route %s/%u: no such route",
			ip_str(&r->prefix, b, sizeof(b)), r->prefix_len);
		return -ENOENT;
	}
	s->routes[i] = s->routes[--s->n_routes];
	return 0;
}

int dp_state_vtep_add(struct dp_table_state *s, const struct nsdp_vtep *v, char *err,
		      size_t errlen)
{
	char b[64];
	if (check_v4(&v->ip, "vtep.ip", err, errlen))
		return -EINVAL;
	if (ip4(&v->ip) == 0) {
		set_err(err, errlen, "vtep.ip: 0.0.0.0 is not a VTEP address");
		return -EINVAL;
	}
	if (!mac_unicast(v->mac)) {
		set_err(err, errlen, "vtep %s: mac must be a unicast, non-zero address",
			ip_str(&v->ip, b, sizeof(b)));
		return -EINVAL;
	}
	for (uint32_t i = 0; i < s->n_vteps; i++) {
		if (ip_eq(&s->vteps[i].ip, &v->ip)) {
			s->vteps[i] = *v;
			return 0;
		}
	}
	if (s->n_vteps >= s->max_vteps) {
		set_err(err, errlen, "vtep %s: VTEP table full (%u entries, tables.vteps)",
			ip_str(&v->ip, b, sizeof(b)), s->max_vteps);
		return -ENOSPC;
	}
	s->vteps[s->n_vteps++] = *v;
	return 0;
}

int dp_state_vtep_del(struct dp_table_state *s, const struct nsdp_ip *ip, char *err,
		      size_t errlen)
{
	char b[64];
	for (uint32_t i = 0; i < s->n_vteps; i++) {
		if (ip_eq(&s->vteps[i].ip, ip)) {
			s->vteps[i] = s->vteps[--s->n_vteps];
			return 0;
		}
	}
	set_err(err, errlen, "vtep %s: no such VTEP", ip_str(ip, b, sizeof(b)));
	return -ENOENT;
}

static inline uint32_t ip_slot(const struct dp_ip_index *x, uint32_t ip)
{
	return rte_hash_crc_4byte(ip, 0x9e3779b9) & x->mask;
}

/* Room for n keys at most half full. Returns 0 or -ENOMEM. */
static int ip_index_init(struct dp_ip_index *x, uint32_t n, int socket_id)
{
	uint32_t slots = 16;
	while (slots < 2 * n)
		slots *= 2;
	x->mask = slots - 1;
	x->keys = rte_zmalloc_socket("dp_ip_keys", sizeof(uint32_t) * slots, 64, socket_id);
	x->vals = rte_zmalloc_socket("dp_ip_vals", sizeof(uint32_t) * slots, 64, socket_id);
	return x->keys && x->vals ? 0 : -ENOMEM;
}

static void ip_index_add(struct dp_ip_index *x, uint32_t ip, uint32_t val)
{
	uint32_t i = ip_slot(x, ip);
	while (x->keys[i] != 0 && x->keys[i] != ip)
		i = (i + 1) & x->mask;
	x->keys[i] = ip;
	x->vals[i] = val;
}

static inline int64_t ip_index_get(const struct dp_ip_index *x, uint32_t ip, uint32_t i)
{
	if (unlikely(ip == 0)) /* the free-slot marker is never a key */
		return -1;
	for (;; i = (i + 1) & x->mask) {
		uint32_t k = x->keys[i];
		if (k == ip)
			return x->vals[i];
		if (k == 0)
			return -1;
	}
}

static void ip_index_free(struct dp_ip_index *x)
{
	rte_free(x->keys);
	rte_free(x->vals);
}

void dp_tables_free(struct dp_tables *t)
{
	if (!t)
		return;
	ip_index_free(&t->ep4);
	ip_index_free(&t->vtep4);
	rte_lpm_free(t->lpm4);
	rte_free(t->eps);
	rte_free(t->vteps);
	rte_free(t);
}

struct dp_tables *dp_tables_build(const struct dp_table_state *s,
				  dp_port_resolve_fn resolve, void *arg,
				  uint64_t generation, int socket_id)
{
	static _Atomic uint32_t lpm_seq;
	int rc = -ENOMEM;
	struct dp_tables *t = rte_zmalloc_socket("dp_tables", sizeof(*t), 64, socket_id);
	if (!t)
		goto fail;
	t->generation = generation;
	t->default_nh = -1;
	t->eps = rte_zmalloc_socket("dp_eps", sizeof(*t->eps) * (s->n_eps + 1), 64, socket_id);
	t->vteps = rte_zmalloc_socket("dp_vteps", sizeof(*t->vteps) * (s->n_vteps + 1), 64,
				      socket_id);
	if (ip_index_init(&t->ep4, s->n_eps, socket_id) ||
	    ip_index_init(&t->vtep4, s->n_vteps, socket_id))
		goto fail;
	char name[RTE_LPM_NAMESIZE];
	snprintf(name, sizeof(name), "rt4_%u", atomic_fetch_add(&lpm_seq, 1));
	struct rte_lpm_config lc = {
		.max_rules = s->n_routes + 1,
		.number_tbl8s = s->n_routes < 256 ? 256 : s->n_routes,
	};
	t->lpm4 = rte_lpm_create(name, socket_id, &lc);
	if (!t->eps || !t->vteps || !t->lpm4)
		goto fail;

	for (uint32_t i = 0; i < s->n_eps; i++) {
		const struct nsdp_endpoint *e = &s->eps[i];
		struct dp_endpoint *d = &t->eps[t->n_eps];
		int port = resolve ? resolve(arg, e->port) : 0;
		if (port < 0)
			continue; /* validated on add; a port cannot vanish */
		d->ip = ip4(&e->ip);
		d->port = (uint16_t)port;
		d->flags = e->flags;
		memcpy(d->mac.addr_bytes, e->mac, 6);
		d->identity = e->identity;
		ip_index_add(&t->ep4, d->ip, t->n_eps);
		t->n_eps++;
	}
	for (uint32_t i = 0; i < s->n_vteps; i++) {
		struct dp_vtep *d = &t->vteps[i];
		d->ip = ip4(&s->vteps[i].ip);
		memcpy(d->mac.addr_bytes, s->vteps[i].mac, 6);
		ip_index_add(&t->vtep4, d->ip, i);
	}
	t->n_vteps = s->n_vteps;
	for (uint32_t i = 0; i < s->n_routes; i++) {
		const struct nsdp_route *r = &s->routes[i];
		uint32_t nh = DP_ROUTE_LOCAL;
		if (r->vtep.family) {
			int64_t v = ip_index_get(&t->vtep4, ip4(&r->vtep),
						 ip_slot(&t->vtep4, ip4(&r->vtep)));
			nh = v >= 0 ? (uint32_t)v : DP_ROUTE_NO_VTEP;
		}
		if (r->prefix_len == 0) {
			t->default_nh = nh;
			continue;
		}
		rc = rte_lpm_add(t->lpm4, ntohl(ip4(&r->prefix)), r->prefix_len, nh);
		if (rc < 0)
			goto fail;
	}
	return t;
fail:
	dp_tables_free(t);
	errno = rc < 0 ? -rc : ENOMEM;
	return NULL;
}

const struct dp_endpoint *dp_ep_lookup(const struct dp_tables *t, uint32_t ip)
{
	int64_t i = ip_index_get(&t->ep4, ip, ip_slot(&t->ep4, ip));
	return i >= 0 ? &t->eps[i] : NULL;
}

void dp_ep_prefetch(const struct dp_tables *t, uint32_t ip)
{
	rte_prefetch0(&t->ep4.keys[ip_slot(&t->ep4, ip)]);
}

void dp_ep_lookup_bulk(const struct dp_tables *t, const uint32_t *ips, unsigned n,
		       const struct dp_endpoint **out)
{
	for (unsigned i = 0; i < n; i++) {
		int64_t k = ip_index_get(&t->ep4, ips[i], ip_slot(&t->ep4, ips[i]));
		out[i] = k >= 0 ? &t->eps[k] : NULL;
		if (out[i])
			rte_prefetch0(out[i]);
	}
}

int64_t dp_route_lookup(const struct dp_tables *t, uint32_t ip)
{
	uint32_t nh;
	if (rte_lpm_lookup(t->lpm4, ntohl(ip), &nh) != 0)
		return t->default_nh;
	return nh;
}

const struct dp_vtep *dp_vtep_lookup(const struct dp_tables *t, uint32_t ip)
{
	int64_t i = ip_index_get(&t->vtep4, ip, ip_slot(&t->vtep4, ip));
	return i >= 0 ? &t->vteps[i] : NULL;
}
