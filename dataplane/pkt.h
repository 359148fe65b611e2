/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header parsing for the packet path: Ethernet (one optional 802.1Q tag),
 * ARP, IPv4, IPv6 (fixed header), TCP, UDP, SCTP, ICMP/ICMPv6.
 *
 * The parser reads a contiguous frame (the first mbuf segment; the dataplane
 * sizes mbufs for the MTU so frames are single-segment) and never writes.
 * It returns 0 or the drop reason (include/nsdp/drop.h) that names what is
 * wrong, so every malformed packet is counted under its own reason.
 * Pure functions: safe on any thread.
 */
#ifndef NSDP_DP_PKT_H
#define NSDP_DP_PKT_H

#include <stdint.h>

struct pkt_info {
	uint16_t ethertype; /* host order, after any VLAN tag */
	uint16_t l3_off;    /* offsets from the start of the frame */
	uint16_t l4_off;
	uint16_t l3_len;    /* IPv4 total length / IPv6 40 + payload length */
	uint8_t family;     /* AF_INET, AF_INET6, 0 for ARP */
	uint8_t proto;      /* IPPROTO_* of the L4 header */
	uint8_t ttl;        /* TTL / hop limit */
	uint8_t tcp_flags;  /* TCP only */
	uint16_t sport;     /* network order; ICMP echo: identifier */
	uint16_t dport;     /* network order; ICMP echo: identifier */
	uint8_t icmp_type;
	uint8_t icmp_echo;  /* 1 for ICMP echo request/reply */
	/* ICMPv4 error (destination unreachable, time exceeded, parameter
	 * problem) quoting an IPv4 packet: the quoted packet's protocol and
	 * addresses here, its ports (or echo id) in sport/dport. */
	uint8_t icmp_err;
	uint8_t inner_proto;
	uint32_t inner_src4;
	uint32_t inner_dst4;
	const uint8_t *src; /* address pointers into the frame */
	const uint8_t *dst;
	uint32_t src4;      /* IPv4 addresses, network order */
	uint32_t dst4;
};

/*
 * Parse the Ethernet header and what follows. For ARP only ethertype and
 * l3_off are set. Returns 0 or a drop reason.
 */
int pkt_parse(const uint8_t *frame, uint32_t len, struct pkt_info *pi);

/* Parse from an L3 header at `l3_off` of type `ethertype`. */
int pkt_parse_l3(const uint8_t *frame, uint32_t len, uint16_t l3_off,
		 uint16_t ethertype, struct pkt_info *pi);

/* A big-endian 16-bit field of a frame, at any alignment. */
static inline uint16_t pkt_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 checksum of an IPv4 header as it is in memory (0 when valid). */
uint16_t pkt_ipv4_hdr_csum(const uint8_t *ip, unsigned ihl_bytes);

/* Decrement an IPv4 TTL with an incremental checksum update (RFC 1624). */
void pkt_ipv4_dec_ttl(uint8_t *ip);

#endif
