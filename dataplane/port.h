/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port bring-up: EAL device arguments from the configuration, queue layout
 * (each worker owns one TX queue on every port and the RX queues assigned
 * to it), RSS when a port has several RX queues. dp_ports_start runs on
 * the main lcore before the workers start.
 *
 * Hot-plug (PORT_ADD / PORT_DEL, driven by ctl.c at COMMIT): everything
 * here runs on the control thread, the only writer of the port slots and
 * of the workers' RX-queue lists. A worker polls exactly the queues of its
 * published list (dp_worker.rxqs), loaded with acquire once per poll and
 * held until its quiescent state. So:
 *  - add: probe + configure + start the device in a free slot, then
 *    publish lists that include its queues;
 *  - delete: publish tables without its endpoints and lists without its
 *    queues, rte_rcu_qsbr_synchronize (no worker can still poll it, send to
 *    it, or hold TX buffers for it: buffers are flushed before the
 *    quiescent state), then dp_port_remove.
 */
#ifndef NSDP_DP_PORT_H
#define NSDP_DP_PORT_H

#include <stddef.h>

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

struct dp_rxq_list;
struct nsdp_port_req;

/* Build one RX-queue list per worker (lists[n_workers]) from the port
 * slots in use and not being deleted. 0 or -ENOMEM (nothing allocated). */
int dp_rxqs_build(const struct dp *dp, struct dp_rxq_list **lists);
/* Make `lists` the workers' lists, wait for every worker to quiesce, free
 * the previous ones. `lists` is consumed. */
void dp_rxqs_publish(struct dp *dp, struct dp_rxq_list **lists);
void dp_rxqs_free(struct dp_rxq_list **lists, unsigned n);

/*
 * Probe, configure and start the device of `req` in a free slot (not yet
 * polled: publish new lists). Returns the slot or -errno with a message in
 * err naming the port and the field.
 */
int dp_port_hotplug_add(struct dp *dp, const struct nsdp_port_req *req, char *err,
			size_t errlen);
/* Mark hot-plugged port `name` for deletion (it stops resolving for
 * endpoints). Returns the slot or -errno (-ENOENT, -EPERM) with err. */
int dp_port_hotplug_del(struct dp *dp, const char *name, char *err, size_t errlen);
/* Stop, close and remove the device of `slot` and free the slot. The
 * caller guarantees no worker uses it any more. */
void dp_port_remove(struct dp *dp, unsigned slot);

/*
 * Frames the kernel dropped because a socket port's RX ring was full, which
 * DPDK 22.11's PMDs leave out of imissed; the sockets are the PMD's own,
 * found among this process's descriptors by the port's interface:
 *  - af_packet: the sum of PACKET_STATISTICS tp_drops (the PMD reads
 *    none, so its imissed stays 0 however many frames are lost); the read
 *    resets the kernel's counter, so the reads accumulate in
 *    p->ring_drops;
 *  - af_xdp: the sum of XDP_STATISTICS rx_ring_full (the PMD counts only
 *    rx_dropped, the frames lost for want of a fill-ring buffer);
 *    cumulative in the kernel.
 * 0 for other ports. Thread-safe (the control and telemetry threads both
 * ask).
 */
uint64_t dp_port_ring_drops(struct dp_port *p);

#endif
