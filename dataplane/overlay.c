/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <nsdp/drop.h>
#include <nsdp/proto.h>

#include "overlay.h"

int overlay_decap_parse(const uint8_t *frame, uint32_t len,
			const struct pkt_info *outer, uint8_t type, uint32_t vni,
			uint16_t *inner_off, uint16_t *inner_len)
{
	const uint8_t *udp = frame + outer->l4_off;
	uint32_t udp_len = (uint32_t)(udp[4] << 8 | udp[5]);
	uint32_t end = outer->l4_off + udp_len; /* parse checked end <= len */
	uint32_t off = outer->l4_off + 8u;
	const uint8_t *h = frame + off;

	(void)len;
	if (end < off + OVERLAY_HDR_LEN)
		return NSDP_DROP_OVERLAY_BAD_HDR;
	uint32_t hdr_vni = (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];

	if (type == NSDP_OVERLAY_VXLAN) {
		if (!(h[0] & 0x08)) /* I flag: VNI valid */
			return NSDP_DROP_OVERLAY_BAD_HDR;
		off += OVERLAY_HDR_LEN;
	} else {
		unsigned ver = h[0] >> 6;
		unsigned opt_len = (h[0] & 0x3fu) * 4u;
		/* O: control message, not for the data path. C: critical options
		 * present; we understand none, so RFC 8926 says drop. */
		if (ver != 0 || (h[1] & 0x80) || (h[1] & 0x40))
			return NSDP_DROP_OVERLAY_BAD_HDR;
		if ((uint32_t)(h[2] << 8 | h[3]) != GENEVE_PROTO_ETH)
			return NSDP_DROP_OVERLAY_BAD_HDR;
		off += OVERLAY_HDR_LEN + opt_len;
		if (off > end)
			return NSDP_DROP_OVERLAY_BAD_HDR;
	}
	if (hdr_vni != vni)
		return NSDP_DROP_OVERLAY_BAD_VNI;
	if (end - off < RTE_ETHER_HDR_LEN)
		return NSDP_DROP_OVERLAY_INNER;
	*inner_off = (uint16_t)off;
	*inner_len = (uint16_t)(end - off);
	return 0;
}

int overlay_encap(struct rte_mbuf *m, const struct overlay_params *p,
		  uint32_t flow_hash)
{
	uint16_t inner_len = rte_pktmbuf_pkt_len(m);
	uint8_t *o = (uint8_t *)rte_pktmbuf_prepend(m, OVERLAY_OVERHEAD);
	if (!o)
		return -ENOSPC;

	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)o;
	rte_ether_addr_copy(&p->dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(&p->src_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint16_t udp_len = (uint16_t)(inner_len + 8 + OVERLAY_HDR_LEN);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(udp_len + 20));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = p->src_ip;
	ip->dst_addr = p->dst_ip;
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	/* RFC 7348 5: source port from a hash of the inner headers, in the
	 * dynamic range. */
	udp->src_port = rte_cpu_to_be_16((uint16_t)(0xc000u | (flow_hash & 0x3fffu)));
	udp->dst_port = p->udp_port;
	udp->dgram_len = rte_cpu_to_be_16(udp_len);
	udp->dgram_cksum = 0;

	uint8_t *h = (uint8_t *)(udp + 1);
	if (p->type == NSDP_OVERLAY_VXLAN) {
		h[0] = 0x08;
		h[1] = h[2] = h[3] = 0;
	} else {
		h[0] = 0; /* version 0, no options */
		h[1] = 0;
		h[2] = GENEVE_PROTO_ETH >> 8;
		h[3] = GENEVE_PROTO_ETH & 0xff;
	}
	h[4] = (uint8_t)(p->vni >> 16);
	h[5] = (uint8_t)(p->vni >> 8);
	h[6] = (uint8_t)p->vni;
	h[7] = 0;

	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = sizeof(*ip);
	return 0;
}

uint32_t overlay_flow_hash(const struct pkt_info *pi)
{
	/*
	 * Hash the flow's endpoints in a canonical order so both directions
	 * agree. (XOR-combining per-side CRCs would be symmetric too, but CRC is
	 * linear: flows with equal src^dst would all collide.)
	 */
	if (pi->family == AF_INET) {
		/* IPv4: order (address, port) as one number, no memcmp. */
		uint64_t a = (uint64_t)rte_be_to_cpu_32(pi->src4) << 16 | rte_be_to_cpu_16(pi->sport);
		uint64_t b = (uint64_t)rte_be_to_cpu_32(pi->dst4) << 16 | rte_be_to_cpu_16(pi->dport);
		uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
		return rte_hash_crc_8byte(hi, rte_hash_crc_8byte(lo, pi->proto));
	}
	const uint8_t *lo = pi->src, *hi = pi->dst;
	uint16_t plo = pi->sport, phi = pi->dport;
	unsigned alen = pi->family == AF_INET ? 4 : pi->family == AF_INET6 ? 16 : 0;
	if (!alen)
		return 0;
	int c = memcmp(lo, hi, alen);
	if (c > 0 || (c == 0 && plo > phi)) {
		lo = pi->dst;
		hi = pi->src;
		plo = pi->dport;
		phi = pi->sport;
	}
	uint32_t h = rte_hash_crc(lo, alen, pi->proto);
	h = rte_hash_crc(hi, alen, h);
	return rte_hash_crc_4byte((uint32_t)plo << 16 | phi, h);
}
