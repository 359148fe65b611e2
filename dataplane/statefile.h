/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The committed state kept across a dataplane restart (config state_file):
 * the hot-plugged pod ports (their PORT_ADD requests) and the endpoints,
 * routes and VTEPs of the last commit. Written after each commit that
 * changed them (a temporary file renamed over the old one); read once at
 * startup, before the workers start, so that pods attached by nsdp-cni and
 * the overlay routes the agent installed work again from the first packet
 * after a restart, without the CNI plugin or the agent being run again.
 *
 * Control thread only. The file is this dataplane's own: its layout is not
 * a contract (a file of another version is reported and ignored).
 */
#ifndef NSDP_DP_STATEFILE_H
#define NSDP_DP_STATEFILE_H

struct dp;

/* Write dp's committed state to cfg.state_file (when set). 0 or -errno
 * (logged; the commit stands either way). */
int dp_state_save(struct dp *dp);

/* Startup, after dp_init_tables, before the workers start: re-add the
 * saved ports and table entries and publish them at the saved generation.
 * A missing file is normal; anything unusable is reported and skipped. */
void dp_state_restore(struct dp *dp);

#endif
