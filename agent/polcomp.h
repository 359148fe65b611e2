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

#ifdef __cplusplus
}
#endif

#endif
