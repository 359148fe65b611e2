/* SPDX-License-Identifier: Apache-2.0 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <nsdp/drop.h>

#include "pkt.h"

#define ETH_HLEN 14
#define VLAN_HLEN 4

uint16_t pkt_ipv4_hdr_csum(const uint8_t *ip, unsigned ihl_bytes)
{
	/* DPDK's sum of native-order words (the one's complement sum is
	 * byte-order independent), byte-swapped to the value the checksum
	 * field holds when read as a big-endian number. */
	return rte_be_to_cpu_16((uint16_t)~rte_raw_cksum(ip, ihl_bytes));
}

void pkt_ipv4_dec_ttl(uint8_t *ip)
{
	/* RFC 1624: HC' = ~(~HC + ~m + m'); the TTL is the high byte of word 4. */
	uint16_t old = pkt_rd16(ip + 8);
	ip[8]--;
	uint16_t new = pkt_rd16(ip + 8);
	uint32_t sum = (uint16_t)~pkt_rd16(ip + 10) + (uint16_t)~old + new;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = (uint16_t)~sum;
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
}


/*
 * The packet an ICMPv4 error quotes (RFC 792: its IP header and at least
 * 8 bytes of what follows). Only what names its connection is read; a
 * quote too short or not IPv4 leaves icmp_err 0 (a plain ICMP packet).
 */
static void parse_icmp_quote(const uint8_t *q, uint32_t avail, struct pkt_info *pi)
{
	if (avail < 20 || (q[0] >> 4) != 4)
		return;
	uint32_t ihl = (uint32_t)(q[0] & 0xf) * 4;
	if (ihl < 20 || avail < ihl + 8)
		return;
	uint8_t proto = q[9];
	const uint8_t *l4 = q + ihl;
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		memcpy(&pi->sport, l4, 2);
		memcpy(&pi->dport, l4 + 2, 2);
		break;
	case IPPROTO_ICMP:
		if (l4[0] != 8 && l4[0] != 0)
			return;
		memcpy(&pi->sport, l4 + 4, 2);
		pi->dport = pi->sport;
		break;
	default:
		return;
	}
	pi->icmp_err = 1;
	pi->inner_proto = proto;
	memcpy(&pi->inner_src4, q + 12, 4);
	memcpy(&pi->inner_dst4, q + 16, 4);
}

static int parse_l4(const uint8_t *frame, uint32_t end, struct pkt_info *pi)
{
	const uint8_t *l4 = frame + pi->l4_off;
	uint32_t avail = end - pi->l4_off;

	switch (pi->proto) {
	case IPPROTO_TCP:
		if (avail < 20)
			return NSDP_DROP_L4_TRUNCATED;
		if ((l4[12] >> 4) < 5 || (uint32_t)(l4[12] >> 4) * 4 > avail)
			return NSDP_DROP_L4_TRUNCATED;
		memcpy(&pi->sport, l4, 2);
		memcpy(&pi->dport, l4 + 2, 2);
		pi->tcp_flags = l4[13];
		return 0;
	case IPPROTO_UDP:
		if (avail < 8)
			return NSDP_DROP_L4_TRUNCATED;
		if (pkt_rd16(l4 + 4) < 8 || pkt_rd16(l4 + 4) > avail)
			return NSDP_DROP_L4_BAD_LEN;
		memcpy(&pi->sport, l4, 2);
		memcpy(&pi->dport, l4 + 2, 2);
		return 0;
	case IPPROTO_SCTP:
		if (avail < 12)
			return NSDP_DROP_L4_TRUNCATED;
		memcpy(&pi->sport, l4, 2);
		memcpy(&pi->dport, l4 + 2, 2);
		return 0;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (avail < 8)
			return NSDP_DROP_L4_TRUNCATED;
		pi->icmp_type = l4[0];
		/* Echo request/reply (v4: 8/0, v6: 128/129) are tracked by id. */
		if ((pi->proto == IPPROTO_ICMP && (l4[0] == 8 || l4[0] == 0)) ||
		    (pi->proto == IPPROTO_ICMPV6 && (l4[0] == 128 || l4[0] == 129))) {
			pi->icmp_echo = 1;
			memcpy(&pi->sport, l4 + 4, 2);
			pi->dport = pi->sport;
		} else if (pi->proto == IPPROTO_ICMP && (l4[0] == 3 || l4[0] == 11 || l4[0] == 12)) {
			parse_icmp_quote(l4 + 8, avail - 8, pi);
		}
		return 0;
	default:
		return 0; /* other protocols carry no ports */
	}
}

int pkt_parse_l3(const uint8_t *frame, uint32_t len, uint16_t l3_off,
		 uint16_t ethertype, struct pkt_info *pi)
{
	pi->ethertype = ethertype;
	pi->l3_off = l3_off;
	pi->tcp_flags = 0;
	pi->sport = pi->dport = 0;
	pi->icmp_echo = 0;
	pi->icmp_type = 0;
	pi->icmp_err = 0;

	if (ethertype == RTE_ETHER_TYPE_ARP) {
		pi->family = 0;
		return 0;
	}
	const uint8_t *ip = frame + l3_off;
	uint32_t avail = len - l3_off;

	if (ethertype == RTE_ETHER_TYPE_IPV4) {
		if (avail < 20)
			return NSDP_DROP_IP_TRUNCATED;
		if ((ip[0] >> 4) != 4)
			return NSDP_DROP_IP_VERSION;
		unsigned ihl = (ip[0] & 0xf) * 4u;
		if (ihl < 20)
			return NSDP_DROP_IP_BAD_IHL;
		if (ihl > avail)
			return NSDP_DROP_IP_TRUNCATED;
		uint16_t tot = pkt_rd16(ip + 2);
		if (tot < ihl || tot > avail)
			return NSDP_DROP_IP_BAD_LEN;
		if (pkt_ipv4_hdr_csum(ip, ihl) != 0)
			return NSDP_DROP_IP_BAD_CSUM;
		/* MF set or a non-zero offset: a fragment. */
		if (pkt_rd16(ip + 6) & 0x3fff)
			return NSDP_DROP_IP_FRAGMENT;
		pi->family = AF_INET;
		pi->l3_len = tot;
		pi->ttl = ip[8];
		pi->proto = ip[9];
		pi->src = ip + 12;
		pi->dst = ip + 16;
		memcpy(&pi->src4, ip + 12, 4);
		memcpy(&pi->dst4, ip + 16, 4);
		pi->l4_off = (uint16_t)(l3_off + ihl);
		return parse_l4(frame, l3_off + tot, pi);
	}
	if (ethertype == RTE_ETHER_TYPE_IPV6) {
		if (avail < 40)
			return NSDP_DROP_IP_TRUNCATED;
		if ((ip[0] >> 4) != 6)
			return NSDP_DROP_IP_VERSION;
		uint32_t tot = 40u + pkt_rd16(ip + 4);
		if (tot > avail)
			return NSDP_DROP_IP_BAD_LEN;
		pi->family = AF_INET6;
		pi->l3_len = (uint16_t)tot;
		pi->proto = ip[6];
		pi->ttl = ip[7];
		pi->src = ip + 8;
		pi->dst = ip + 24;
		pi->src4 = pi->dst4 = 0;
		pi->l4_off = (uint16_t)(l3_off + 40);
		/* Extension headers are not walked: only L4 directly after. */
		return parse_l4(frame, l3_off + tot, pi);
	}
	return NSDP_DROP_L2_ETHERTYPE;
}

int pkt_parse(const uint8_t *frame, uint32_t len, struct pkt_info *pi)
{
	if (len < ETH_HLEN)
		return NSDP_DROP_L2_TRUNCATED;
	uint16_t et = pkt_rd16(frame + 12);
	uint16_t off = ETH_HLEN;
	if (et == RTE_ETHER_TYPE_VLAN) {
		if (len < ETH_HLEN + VLAN_HLEN)
			return NSDP_DROP_L2_TRUNCATED;
		et = pkt_rd16(frame + 16);
		off += VLAN_HLEN;
	}
	return pkt_parse_l3(frame, len, off, et, pi);
}
