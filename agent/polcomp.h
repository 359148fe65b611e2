/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy compiler: Kubernetes objects (k8s.h) -> the tables workers
 * look up (dataplane/policy.h). See policy.h for the classes it builds and
 * docs/policy.md for the semantics.
 *
 * Single-threaded; the result is immutable and owned by the caller.
 */
#ifndef NSDP_AGENT_POLCOMP_H
#define NSDP_AGENT_POLCOMP_H

#include <stddef.h>
#include <stdint.h>

#include "k8s.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pol_tables;

/* Compile everything in cl. NULL with errno (ENOMEM) on failure. */
struct pol_tables *pol_compile(const struct k8s_cluster *cl, uint64_t generation);

/*
 * A compiler context that lives across compiles (the agent's sync thread
 * holds one): it memoises the expensive, deterministic intermediate
 * results keyed by their full inputs, so that after a small change only
 * what the change affects is recomputed. Entries the last compile did not
 * use are dropped, so the context holds about one compile's worth. A
 * context is used by one thread at a time. pol_compile is pol_compile_ctx
 * with a throwaway context and no versions.
 *
 * v (NULL: none), what the caller knows of what changed:
 *
 * - pods: per pod of cl, a number the caller changes whenever the pod
 *   changes (its namespace, labels, container ports or addresses) and
 *   never gives to two different contents; 0 means unknown. A pod whose
 *   version the previous compile saw is not read: its identity and
 *   addresses are the ones recorded then. The caller's pod order should
 *   be stable but for pods added and removed (then the context finds
 *   unchanged pods in step; otherwise it reads them).
 *
 * - namespaces: per namespace of cl, a version as for pods (NULL: none).
 *
 * - rest: with pods, a number the caller changes whenever a policy
 *   (NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy) is
 *   added, removed or changed, or, without namespace versions, a
 *   namespace is, and never gives to two different sets (the same
 *   objects in the same order); 0 means unknown. With it the context
 *   keeps the compile's tables, and a compile at the same rest version
 *   is a *pods-only* one: the kept tables get the changed pods' classes,
 *   and those of the pods of namespaces whose labels changed (new
 *   classes get their maps; nothing else is recomputed), which costs
 *   about what the change touches, not the cluster's size. Namespaces
 *   added, removed, renamed, moved or with a new policy mode make it a
 *   full compile.
 *
 * - netpols, anps: with rest, per NetworkPolicy and per entry of
 *   cl->anps (AdminNetworkPolicies and the BaselineAdminNetworkPolicy), a
 *   version as for pods (NULL: unknown); the versions in anps must be
 *   distinct across ANPs and the BANP together (the agent tags the
 *   BANP's), and so must those in netpols. With them a compile at a new
 *   rest version, where pods and namespaces kept their versions, is a
 *   *policy* one: the policies whose version is new (changed, added) or
 *   gone replace their rules in the kept tables, the subject classes
 *   that list them are set up again, the pods whose selection by them
 *   moved get new subject classes, a new label selector or ipBlock among
 *   their peers gives the pods it holds new peer classes, and a port name
 *   met for the first time sets up again the pods' identities that have
 *   a container port of that name; nothing else is recomputed. Audit mode appearing or going cluster-wide, or
 *   more than 8 plus an eighth of the policies changed make it a full
 *   compile.
 *
 *   Classes no pod uses any more stay until the next full compile (at a
 *   new rest version the policy path does not take, or once the
 *   pods-only and policy compiles have added more than a quarter of the
 *   tables). Without rest each compile is a full one, whose result is
 *   byte for byte pol_compile's for the same cluster; a pods-only or
 *   policy result decides every packet as that one does (rule ids are
 *   kept by name: a rule gone leaves its name unused).
 *
 * A wrong version gives a wrong policy: when in doubt, pass 0.
 *
 * The result: with rest given, a borrowed view of the context's tables
 * (pol_tables.borrowed), valid until the next pol_compile_ctx or
 * pol_ctx_free on this context; otherwise the caller's. Either way the
 * caller frees it with pol_tables_free. cl need not outlive the call.
 * NULL with errno (ENOMEM) on failure; the context is then reset (the
 * next compile is a full one).
 */
struct pol_ctx;
struct pol_versions {
	const uint64_t *pods;
	const uint64_t *namespaces;
	uint64_t rest;
	const uint64_t *netpols;
	const uint64_t *anps;
};
struct pol_ctx *pol_ctx_new(void);
struct pol_tables *pol_compile_ctx(struct pol_ctx *ctx, const struct k8s_cluster *cl,
				   const struct pol_versions *v, uint64_t generation);
void pol_ctx_free(struct pol_ctx *ctx);

/* The successful compiles with ctx so far, by the path they took. */
struct pol_ctx_stats {
	uint64_t full, pods_only, policy;
	/* policy slots of the kept tables (NetworkPolicies; ANPs and the
	 * BANP): emptied slots are taken before new ones are added */
	uint32_t np_slots, anp_slots;
};
void pol_ctx_get_stats(const struct pol_ctx *ctx, struct pol_ctx_stats *out);

#ifdef __cplusplus
}
#endif

#endif
