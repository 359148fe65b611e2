/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VXLAN (RFC 7348) and Geneve (RFC 8926) encapsulation over IPv4.
 *
 * Decap validates the tunnel header of a frame already parsed up to its
 * outer UDP header; encap prepends Ethernet + IPv4 + UDP + tunnel header in
 * the mbuf's headroom. The outer UDP source port comes from the inner flow
 * hash (49152..65535) so ECMP and RSS in the underlay spread flows; the
 * outer IPv4 checksum is computed, the outer UDP checksum is zero (allowed
 * for IPv4 by both RFCs, and what the Linux vxlan/geneve drivers send).
 * Pure functions: safe on any thread.
 */
#ifndef NSDP_DP_OVERLAY_H
#define NSDP_DP_OVERLAY_H

#include <stdint.h>

#include <rte_ether.h>

#include "pkt.h"

struct rte_mbuf;

#define OVERLAY_HDR_LEN 8
/* Outer Ethernet + IPv4 + UDP + VXLAN/Geneve header (no Geneve options). */
#define OVERLAY_OVERHEAD (14 + 20 + 8 + OVERLAY_HDR_LEN)
#define GENEVE_PROTO_ETH 0x6558

struct overlay_params {
	struct rte_ether_addr src_mac, dst_mac;
	uint32_t src_ip, dst_ip; /* network order */
	uint16_t udp_port;       /* destination port, network order */
	uint8_t type;            /* enum nsdp_overlay */
	uint32_t vni;
};

/*
 * Validate the tunnel header after the outer UDP header described by
 * `outer`; on success *inner_off / *inner_len delimit the inner Ethernet
 * frame. Returns 0 or a drop reason.
 */
int overlay_decap_parse(const uint8_t *frame, uint32_t len,
			const struct pkt_info *outer, uint8_t type, uint32_t vni,
			uint16_t *inner_off, uint16_t *inner_len);

/*
 * Symmetric flow hash of a parsed packet (the same for both directions),
 * for the outer UDP source port.
 */
uint32_t overlay_flow_hash(const struct pkt_info *pi);

/* Prepend the outer headers. Returns 0, or -ENOSPC without headroom. */
int overlay_encap(struct rte_mbuf *m, const struct overlay_params *p,
		  uint32_t flow_hash);

#endif
