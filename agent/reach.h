/* SPDX-License-Identifier: Apache-2.0 */
#ifndef NSDP_AGENT_REACH_H
#define NSDP_AGENT_REACH_H

#include <stdbool.h>

/*
 * nsdpctl policy reach --manifests DIR... --probes FILE (argv after "reach").
 * Returns the exit status: 0, 1 (runtime failure) or 2 (bad object, bad
 * probe or usage; the message names the file, object and field).
 */
int nsdpctl_policy_reach(int argc, char **argv);

struct nsdp_client;

/*
 * nsdpctl policy apply --manifests DIR...: compile the DIRs (one cluster) and make it the
 * dataplane's enforced policy at the next generation (POLICY_SET + COMMIT).
 * nsdpctl policy show: the enforced policy's rules and per-rule counters.
 * Return the exit status.
 */
int nsdpctl_policy_apply(struct nsdp_client *c, const char *const *dirs, unsigned n_dirs,
			 bool json);
int nsdpctl_policy_show(struct nsdp_client *c, bool json);

#endif
