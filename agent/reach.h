/* SPDX-License-Identifier: Apache-2.0 */
#ifndef NSDP_AGENT_REACH_H
#define NSDP_AGENT_REACH_H

/*
 * nsdpctl policy reach --manifests DIR --probes FILE (argv after "reach").
 * Returns the exit status: 0, 1 (runtime failure) or 2 (bad object, bad
 * probe or usage; the message names the file, object and field).
 */
int nsdpctl_policy_reach(int argc, char **argv);

#endif
