/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Do two compiled policies decide alike? For the pods-only compiles of
 * agent/polcomp.c, whose tables number classes and maps their own way:
 * the check compares, for every pair of probe addresses and both sides,
 * the whole port map that applies (every protocol and port range, its
 * verdict, deciding rule and audited rule, by name), never class numbers.
 * Used by the policy-diff test and polcomp-bench.
 */
#ifndef NSDP_TESTS_TABLES_EQUIV_H
#define NSDP_TESTS_TABLES_EQUIV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pol_tables;
struct k8s_cluster;

/*
 * Probe addresses (network order, malloc'ed, count in *n): the pod
 * addresses of cl (every one, or max_pods spread over them), the extra
 * ones given, and each table's non-pod range starts with the address
 * before each. NULL on ENOMEM.
 */
uint32_t *pol_probe_addrs(const struct pol_tables *a, const struct pol_tables *b,
			  const struct k8s_cluster *cl, size_t max_pods, const uint32_t *extra,
			  size_t n_extra, size_t *n);

/*
 * 0 when a and b give every ordered pair of addrs the same port maps on
 * both sides (and agree on which addresses are pods); otherwise 1 with
 * the first difference described in why.
 */
int pol_tables_equiv(const struct pol_tables *a, const struct pol_tables *b,
		     const uint32_t *addrs, size_t n, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif

#endif
