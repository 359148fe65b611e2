/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control-socket server (protocol: include/nsdp/proto.h) and DPDK
 * telemetry commands.
 *
 * Thread safety: everything here runs on the control thread (the main
 * lcore), the only thread that changes dp->state and publishes tables.
 * Telemetry callbacks run on DPDK's telemetry thread and only read
 * per-lcore counters and immutable configuration.
 */
#ifndef NSDP_DP_CTL_H
#define NSDP_DP_CTL_H

struct dp;
struct ctl_server;

/* Listen on dp->cfg.ctl_socket (removing a stale socket file). NULL + errno. */
struct ctl_server *ctl_open(struct dp *dp);

/*
 * Serve clients for at most timeout_ms: accept, read, answer. Returns 0 or
 * -errno on a fatal listener error (client errors close that client only).
 */
int ctl_poll(struct ctl_server *cs, int timeout_ms);

void ctl_close(struct ctl_server *cs);

/* Register /nsdp/... telemetry commands (once, after rte_eal_init). */
void ctl_register_telemetry(struct dp *dp);

#endif
