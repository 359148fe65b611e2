/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port bring-up: EAL device arguments from the configuration, queue layout
 * (each worker owns one TX queue on every port and the RX queues assigned
 * to it), RSS when a port has several RX queues. Runs on the main lcore
 * before the workers start.
 */
#ifndef NSDP_DP_PORT_H
#define NSDP_DP_PORT_H

struct dp;

/*
 * Append the EAL arguments that create the configured ports (--vdev for
 * virtual devices, -a for PCI addresses) to argv. Returns the new argc or
 * -E2BIG.
 */
int dp_port_eal_args(const struct dp *dp, char **argv, int argc, int max);

/* Configure and start every configured port; assign RX queues to workers.
 * Returns 0 or -errno after printing what failed. */
int dp_ports_start(struct dp *dp);

void dp_ports_stop(struct dp *dp);

#endif
