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
 * what the change affects is recomputed. pol_compile_ctx's result is byte
 * for byte the same as pol_compile's for the same cluster; cl need not
 * outlive the call (the context keeps copies of what it keys by). Entries
 * the last compile did not use are dropped, so the context holds about
 * one compile's worth. pol_compile is pol_compile_ctx with a throwaway
 * context. A context is used by one thread at a time.
 *
 * pod_versions (NULL: none): per pod of cl, a number the caller changes
 * whenever the pod changes (its namespace, labels, container ports or
 * addresses) and never gives to two different contents; 0 means
 * unknown. A pod whose version the previous compile saw is not read: its
 * identity and address are the ones recorded then (what the agent's cache
 * knows saves reading every pod). The caller's pod order should be stable
 * but for pods added and removed (then the context finds unchanged pods
 * in step; otherwise it reads them). A wrong version gives a wrong
 * policy: when in doubt, pass 0 or NULL.
 */
struct pol_ctx;
struct pol_ctx *pol_ctx_new(void);
struct pol_tables *pol_compile_ctx(struct pol_ctx *ctx, const struct k8s_cluster *cl,
				   const uint64_t *pod_versions, uint64_t generation);
void pol_ctx_free(struct pol_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif
