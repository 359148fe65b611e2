/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lookup tables the workers read: endpoints (pod IP -> port, MAC, identity),
 * routes (pod CIDR -> local or a node VTEP, longest prefix) and VTEPs
 * (node tunnel address -> underlay MAC).
 *
 * Thread safety: a `struct dp_tables` is immutable once published. The
 * control thread keeps the desired state (`struct dp_table_state`, plain
 * arrays), builds a complete new dp_tables from it off the fast path,
 * publishes it with a release store of the pointer, waits for every worker
 * to pass a quiescent state (rte_rcu_qsbr_synchronize) and only then frees
 * the old version. Workers load the pointer (acquire) once per burst and use
 * that version for the whole burst, so a packet never sees half an update
 * and no packet is lost to an update.
 */
#ifndef NSDP_DP_TABLES_H
#define NSDP_DP_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>

#include <nsdp/proto.h>

struct rte_lpm;

/*
 * IPv4 address -> index, open addressing with linear probing, built once
 * and read-only afterwards: one or two cache lines per lookup, no locks, no
 * per-entry indirection (rte_hash costs several times more for 4-byte keys).
 * Key 0 (0.0.0.0, never a valid endpoint or VTEP) marks a free slot.
 */
struct dp_ip_index {
	uint32_t mask; /* slots - 1 */
	uint32_t *keys;
	uint32_t *vals;
};

#define DP_ROUTE_LOCAL 0xffffffu   /* LPM next hop: this node's pods */
#define DP_ROUTE_NO_VTEP 0xfffffeu /* LPM next hop: VTEP not (yet) known */

struct dp_endpoint {
	uint32_t ip; /* network order */
	uint16_t port; /* index in dp->ports */
	uint16_t flags;
	struct rte_ether_addr mac;
	uint16_t pad;
	uint32_t identity;
};

struct dp_vtep {
	uint32_t ip; /* network order */
	struct rte_ether_addr mac;
	uint16_t pad;
};

struct dp_tables {
	uint64_t generation;
	struct dp_ip_index ep4;   /* ip -> index in eps */
	struct dp_endpoint *eps;
	uint32_t n_eps;
	struct rte_lpm *lpm4;   /* prefix -> vtep index or DP_ROUTE_LOCAL */
	int64_t default_nh;     /* next hop of 0.0.0.0/0 (rte_lpm has no depth 0), -1: none */
	struct dp_ip_index vtep4; /* ip -> index in vteps */
	struct dp_vtep *vteps;
	uint32_t n_vteps;
};

/* Desired state, owned by the control thread. Keys are unique. */
struct dp_table_state {
	struct nsdp_endpoint *eps;
	uint32_t n_eps, max_eps;
	struct nsdp_route *routes;
	uint32_t n_routes, max_routes;
	struct nsdp_vtep *vteps;
	uint32_t n_vteps, max_vteps;
};

/* Port name -> port index (or -1); provided by the caller. */
typedef int (*dp_port_resolve_fn)(void *arg, const char *name);

int dp_state_init(struct dp_table_state *s, uint32_t max_eps, uint32_t max_routes,
		  uint32_t max_vteps);
void dp_state_free(struct dp_table_state *s);
void dp_state_clear(struct dp_table_state *s);

/*
 * Apply one change to the desired state. Returns 0, or -errno with a
 * message in err: -EINVAL (bad field), -ENOSPC (table full), -ENOENT
 * (delete of an unknown key). A failed change leaves the state unchanged.
 */
int dp_state_ep_add(struct dp_table_state *s, const struct nsdp_endpoint *ep,
		    dp_port_resolve_fn resolve, void *arg, char *err, size_t errlen);
int dp_state_ep_del(struct dp_table_state *s, const struct nsdp_ip *ip, char *err,
		    size_t errlen);
int dp_state_route_add(struct dp_table_state *s, const struct nsdp_route *r,
		       char *err, size_t errlen);
int dp_state_route_del(struct dp_table_state *s, const struct nsdp_route *r,
		       char *err, size_t errlen);
int dp_state_vtep_add(struct dp_table_state *s, const struct nsdp_vtep *v, char *err,
		      size_t errlen);
int dp_state_vtep_del(struct dp_table_state *s, const struct nsdp_ip *ip, char *err,
		      size_t errlen);

/*
 * Build an immutable table set from the desired state. Routes whose VTEP is
 * unknown are kept and resolve to "no-vtep" drops. Returns NULL with errno.
 */
struct dp_tables *dp_tables_build(const struct dp_table_state *s,
				  dp_port_resolve_fn resolve, void *arg,
				  uint64_t generation, int socket_id);
void dp_tables_free(struct dp_tables *t);

/* Packet-path lookups (any thread holding a published version). */
const struct dp_endpoint *dp_ep_lookup(const struct dp_tables *t, uint32_t ip);
/* Prefetch the endpoint-index slot of ip (a pass before the bulk lookup). */
void dp_ep_prefetch(const struct dp_tables *t, uint32_t ip);
/* Bulk endpoint lookup: out[i] = entry or NULL. n <= 64. */
void dp_ep_lookup_bulk(const struct dp_tables *t, const uint32_t *ips, unsigned n,
		       const struct dp_endpoint **out);
/* Route: DP_ROUTE_LOCAL, DP_ROUTE_NO_VTEP, a VTEP index, or -1 (no route). */
int64_t dp_route_lookup(const struct dp_tables *t, uint32_t ip);
const struct dp_vtep *dp_vtep_lookup(const struct dp_tables *t, uint32_t ip);

#endif
