/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod ports on a tap device with the virtio-net header (port devargs
 * "vnet,netns=PATH,iface=NAME").
 *
 * The pod's interface is a persistent, multi-queue tap that nsdp-cni
 * creates in the pod's network namespace; the dataplane attaches one queue
 * (file descriptor) per worker to it, from that namespace, with the
 * virtio-net header and checksum + TCP/IPv4 segmentation offload. So the
 * pod's kernel hands over TCP segments of up to 64 KB with a partial
 * checksum (one read per segment instead of one per 1.4 KB frame), and the
 * dataplane writes segments of that size back, which the pod's stack
 * receives as one packet. The tap outlives the dataplane: while no queue is
 * attached the pod sees its link without carrier, and a restarted
 * dataplane attaches again (the port request is in the state file).
 *
 * What crosses the port boundary, in the mbuf:
 *  - RX: a frame without GSO arrives with its checksums complete (a partial
 *    one is completed here); a TCP/IPv4 GSO frame is one single-segment
 *    mbuf from the large pool with RTE_MBUF_F_TX_TCP_SEG | TX_IPV4 |
 *    TX_TCP_CKSUM, tso_segsz = MSS, l2_len/l3_len/l4_len set and the TCP
 *    checksum field holding the pseudo-header sum (what the kernel left).
 *    On a tunnel uplink the frame may be encapsulated: then also
 *    TX_TUNNEL_VXLAN | TX_OUTER_IPV4 and outer_l2/l3_len, l2_len from the
 *    outer UDP header to the inner IPv4 header (DPDK's TSO layout).
 *  - TX: a frame with RTE_MBUF_F_TX_TCP_SEG is written with a GSO header
 *    (csum_start = the TCP header; for a tunnel one the outer UDP and
 *    inner IPv4 offsets too); any other frame as it is.
 * Frames with RTE_MBUF_F_TX_TCP_SEG bound for a port that cannot take them
 * (not vnet, or a tunnel frame for a vnet port without tunnel GSO) are cut
 * by gso_segment() in the worker (gso.h).
 *
 * The uplink variant ("vnet,...,mac=MAC" as the uplink port) is a tap on
 * the underlay, e.g. a port of the underlay's Linux bridge; with Linux's
 * UDP tunnel GSO the encapsulated 64 KB segments cross the bridge whole.
 *
 * Every queue is read by exactly one worker (the RX-queue lists); writes
 * from several workers to one queue are whole-packet writes, which the tap
 * keeps apart.
 */
#ifndef NSDP_DP_VNET_H
#define NSDP_DP_VNET_H

#include <stddef.h>
#include <stdint.h>

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include <rte_ether.h>

#define DP_VNET_MAX_QUEUES 16
/* Largest frame a vnet port reads or writes: nsdp-cni sets the pod tap's
 * gso_max_size below it, and the large mbufs hold it plus the headroom the
 * overlay headers need. */
#define DP_VNET_MAX_FRAME 65000u

struct rte_mbuf;
struct rte_mempool;

struct dp_vnet {
	int fds[DP_VNET_MAX_QUEUES];
	unsigned n_fds;
	/* An uplink whose kernel takes and gives VXLAN/Geneve-encapsulated
	 * TCP segments of 64 KB (TUN_F_UDP_TUNNEL_GSO, Linux 6.17 and later) */
	bool tnl;
	bool has_mac; /* mac= given: the port's own MAC */
	struct rte_ether_addr mac;
	char ifname[IF_NAMESIZE];
	char netns[192];
	dev_t ns_dev; /* the namespace file's identity */
	ino_t ns_ino;
};

/* True if `devargs` names a vnet port ("vnet" up to the first comma). */
int dp_vnet_devargs(const char *devargs);
/* Can port v take frame m as it is (m has RTE_MBUF_F_TX_TCP_SEG)? */
bool dp_vnet_takes_gso(const struct dp_vnet *v, uint64_t ol_flags);

/*
 * Parse `devargs` ("vnet,netns=PATH,iface=NAME[,mac=MAC]") into v and
 * identify the namespace (ns_dev, ns_ino: one namespace reached by two
 * paths is the same). 0 or -errno with a message in err naming the field.
 */
int dp_vnet_parse(struct dp_vnet *v, const char *devargs, char *err, size_t errlen);
/*
 * Attach `queues` queues (1..DP_VNET_MAX_QUEUES) to the parsed tap from its
 * namespace; an uplink also asks for UDP tunnel GSO (v->tnl when the
 * kernel has it). 0 or -errno with a message in err. The calling thread is
 * back in its own namespace on return (or the process panics).
 */
int dp_vnet_attach(struct dp_vnet *v, unsigned queues, bool uplink, char *err,
		   size_t errlen);
/* The tap still exists and the queues are attached to it. */
bool dp_vnet_up(const struct dp_vnet *v);
void dp_vnet_close(struct dp_vnet *v);

/*
 * Read up to n frames from queue q. A small frame is read into an mbuf of
 * `pool`; a large or GSO one ends in an mbuf of `big`. *spare is the
 * caller's large mbuf kept from one read to the next (NULL or one mbuf of
 * `big`; the caller frees it when it stops). Reading stops, the frames
 * waiting in the tap, when either pool is empty. *bad counts frames
 * dropped here (truncated, a GSO type other than TCP/IPv4, a partial
 * checksum outside the frame).
 */
uint16_t dp_vnet_rx(struct dp_vnet *v, unsigned q, struct rte_mempool *pool,
		    struct rte_mempool *big, struct rte_mbuf **spare, struct rte_mbuf **pkts,
		    uint16_t n, uint64_t *bad);

/* Write n frames to queue q (of the worker's choosing). Returns how many
 * it handled (freed): written (their bytes added to *bytes) or refused by
 * the kernel one by one (*bad). It stops at the first frame the tap cannot
 * take at all (down or gone); the caller drops that one and the rest. */
uint16_t dp_vnet_tx(struct dp_vnet *v, unsigned q, struct rte_mbuf **pkts, uint16_t n,
		    uint64_t *bytes, uint64_t *bad);

#endif
