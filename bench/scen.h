/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-scen (bench/nsdp-scen.c): shared declarations of its parts.
 *
 *  scen_cluster.c  generated Kubernetes clusters (namespaces, pods,
 *                  NetworkPolicies, one AdminNetworkPolicy, one BANP) as
 *                  manifests, loaded with the agent's own k8s_load_buffer()
 *                  and compiled with its pol_compile();
 *  scen_acl.c      the classic peer: the same compiled policy expanded into
 *                  5-tuple rules for DPDK's rte_acl, and classification of
 *                  the same tuples;
 *  benchlib.c      what it shares with nsdp-bench (benchlib.h).
 *
 * Addressing of the generated cluster (node n = 0 is the node under test):
 *   pod i lives on node i / PODS_PER_NODE, IP 10.(128 + n / 256).(n % 256).(10 + i % PODS_PER_NODE)
 *   node n's VTEP 172.16.((n + 2) / 256).((n + 2) % 256), this node 172.16.0.1
 */
#ifndef NSDP_BENCH_SCEN_H
#define NSDP_BENCH_SCEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_byteorder.h>

#define PODS_PER_NODE 100u /* Kubernetes' default limit is 110 pods per node */

struct k8s_cluster;
struct pol_tables;

static inline uint32_t scen_pod_node(uint32_t i)
{
	return i / PODS_PER_NODE;
}

static inline uint32_t scen_pod_ip(uint32_t i) /* network order */
{
	uint32_t n = i / PODS_PER_NODE;
	return rte_cpu_to_be_32(0x0a000000u | (128 + n / 256) << 16 | (n % 256) << 8 |
				(10 + i % PODS_PER_NODE));
}

static inline uint32_t scen_vtep_ip(uint32_t n) /* n = UINT32_MAX: this node */
{
	uint32_t v = n == UINT32_MAX ? 1 : n + 2;
	return rte_cpu_to_be_32(0xac100000u | v);
}

struct scen_params {
	unsigned policies; /* NetworkPolicies + 1 ANP + 1 BANP */
	unsigned pods;
	unsigned extra;    /* 1: add one more policy (the "update" variant) */
	unsigned namespaces; /* 0: scen_namespaces(pods) */
};

/* Namespaces of a cluster of `pods` pods, unless given (ns: 0). */
unsigned scen_namespaces(unsigned pods, unsigned ns);

/*
 * The manifests of a generated cluster, malloc'ed, NUL-terminated; *len
 * its length. NULL on ENOMEM.
 */
char *scen_manifests(const struct scen_params *p, size_t *len);

/* Manifests -> k8s_cluster (zeroed by the caller) -> 0, or -1 (message on stderr). */
int scen_load(const struct scen_params *p, struct k8s_cluster *cl, double *load_ms);

/* ---- rte_acl peer -------------------------------------------------------- */

struct scen_acl;

struct scen_acl_stats {
	uint64_t rules_needed; /* after expansion */
	uint64_t rules_built;  /* 0 when over the cap */
	double expand_ms;
	double build_ms;
	bool built;
	char note[160];
};

/*
 * Expand t's decisions for this node's pods (ingress of the local pods as
 * destinations: category 0; egress of the local pods as sources: category
 * 1) into rte_acl rules and build a context, unless more than max_rules
 * rules would be needed (then only counts them). Local pods are cluster
 * pods 0 .. n_local-1.
 */
struct scen_acl *scen_acl_build(const struct pol_tables *t, unsigned n_local,
				uint64_t max_rules, int socket, struct scen_acl_stats *st);

/* 5-tuple as rte_acl reads it (network order). */
struct scen_acl_key {
	uint8_t proto;
	uint8_t pad[3];
	uint32_t src;
	uint32_t dst;
	uint16_t sport;
	uint16_t dport;
} __attribute__((packed));

/*
 * Classify n keys (n <= 64); verdict[i] = POL_ALLOW / POL_DENY of the local
 * sides (a side with no rule: allowed). Returns 0 or -errno.
 */
int scen_acl_classify(const struct scen_acl *a, const struct scen_acl_key *const *keys,
		      unsigned n, uint8_t *verdict);

void scen_acl_free(struct scen_acl *a);

/* Verdict of the local sides only (what the ACL encodes), from t. */
uint8_t scen_local_verdict(const struct pol_tables *t, unsigned n_local, uint32_t src,
			   uint32_t dst, uint8_t proto, uint16_t dport);

#endif
