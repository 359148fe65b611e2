// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of the header parser (dataplane/pkt.c) and the VXLAN/Geneve
// encapsulation (dataplane/overlay.c). Frames are built byte by byte here,
// independently of DPDK's header structs, so a layout mistake in the code
// under test cannot hide behind the same mistake in the test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include "shim.h"

extern "C" {
#include "overlay.h"
#include "pkt.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

// ---- frame builders ------------------------------------------------------

struct Mac {
	uint8_t b[6];
};

const Mac kMacA = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
const Mac kMacB = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};

void put16(Bytes &v, uint16_t x)
{
	v.push_back((uint8_t)(x >> 8));
	v.push_back((uint8_t)x);
}

void append(Bytes &v, const Bytes &w)
{
	v.insert(v.end(), w.begin(), w.end());
}

void append(Bytes &v, const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)p;
	v.insert(v.end(), b, b + n);
}

uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

// Reference RFC 1071 checksum, written independently of pkt.c.
uint16_t ref_csum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

// Recompute the IPv4 header checksum of the header at ip.
void fix_csum(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 0xf) * 4u;
	ip[10] = ip[11] = 0;
	uint16_t c = ref_csum(ip, ihl);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

Bytes eth(const Mac &dst, const Mac &src, uint16_t type, const Bytes &payload, int vlan = -1)
{
	Bytes v;
	append(v, dst.b, 6);
	append(v, src.b, 6);
	if (vlan >= 0) {
		put16(v, 0x8100);
		put16(v, (uint16_t)vlan);
	}
	put16(v, type);
	append(v, payload);
	return v;
}

Bytes ipv4(uint32_t src, uint32_t dst, uint8_t proto, const Bytes &payload, uint8_t ttl = 64,
	   uint16_t frag = 0x4000, const Bytes &options = {})
{
	Bytes v;
	size_t hl = 20 + options.size();
	v.push_back((uint8_t)(0x40 | (hl / 4)));
	v.push_back(0); // tos
	put16(v, (uint16_t)(hl + payload.size()));
	put16(v, 0x1234); // id
	put16(v, frag);
	v.push_back(ttl);
	v.push_back(proto);
	put16(v, 0); // checksum
	append(v, &src, 4);
	append(v, &dst, 4);
	append(v, options);
	fix_csum(v.data());
	append(v, payload);
	return v;
}

Bytes ipv6(const uint8_t src[16], const uint8_t dst[16], uint8_t nh, const Bytes &payload,
	   uint8_t hlim = 64)
{
	Bytes v = {0x60, 0, 0, 0};
	put16(v, (uint16_t)payload.size());
	v.push_back(nh);
	v.push_back(hlim);
	append(v, src, 16);
	append(v, dst, 16);
	append(v, payload);
	return v;
}

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, const Bytes &payload = {},
	  unsigned doff = 5)
{
	Bytes v;
	put16(v, sport);
	put16(v, dport);
	put16(v, 0x0102); // seq
	put16(v, 0x0304);
	put16(v, 0); // ack
	put16(v, 0);
	v.push_back((uint8_t)(doff << 4));
	v.push_back(flags);
	put16(v, 65535); // window
	put16(v, 0);     // checksum (not checked by the parser)
	put16(v, 0);     // urgent
	for (unsigned i = 5; i < doff; i++)
		append(v, Bytes{1, 1, 1, 1}); // NOP options
	append(v, payload);
	return v;
}

Bytes udp(uint16_t sport, uint16_t dport, const Bytes &payload = {})
{
	Bytes v;
	put16(v, sport);
	put16(v, dport);
	put16(v, (uint16_t)(8 + payload.size()));
	put16(v, 0);
	append(v, payload);
	return v;
}

Bytes sctp(uint16_t sport, uint16_t dport)
{
	Bytes v;
	put16(v, sport);
	put16(v, dport);
	append(v, Bytes{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0}); // vtag, crc32c
	append(v, Bytes{1, 0, 0, 4});                         // an INIT chunk header
	return v;
}

Bytes icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq)
{
	Bytes v = {type, code, 0, 0};
	put16(v, id);
	put16(v, seq);
	append(v, Bytes(16, 0x5a));
	return v;
}

Bytes payload(size_t n, uint8_t seed = 0)
{
	Bytes v(n);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(seed + i * 7);
	return v;
}

const uint32_t kSrc = htonl(0x0af40102); // 10.244.1.2
const uint32_t kDst = htonl(0x0af40203); // 10.244.2.3

Bytes tcp4_frame(uint32_t s = kSrc, uint32_t d = kDst, uint16_t sp = 40000, uint16_t dp = 80,
		 uint8_t flags = 0x02)
{
	return eth(kMacB, kMacA, 0x0800, ipv4(s, d, IPPROTO_TCP, tcp(sp, dp, flags, payload(10))));
}

const uint8_t kV6a[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kV6b[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

int parse(const Bytes &f, struct pkt_info *pi, size_t len = SIZE_MAX)
{
	memset(pi, 0xa5, sizeof(*pi)); // stale garbage must not leak through
	return pkt_parse(f.data(), (uint32_t)(len == SIZE_MAX ? f.size() : len), pi);
}

// ---- pkt_parse: good packets ---------------------------------------------

TEST(PktParse, Ipv4Tcp)
{
	Bytes f = tcp4_frame(kSrc, kDst, 40000, 443, 0x12);
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.ethertype, 0x0800);
	EXPECT_EQ(pi.family, AF_INET);
	EXPECT_EQ(pi.l3_off, 14);
	EXPECT_EQ(pi.l4_off, 34);
	EXPECT_EQ(pi.l3_len, 20 + 20 + 10);
	EXPECT_EQ(pi.proto, IPPROTO_TCP);
	EXPECT_EQ(pi.ttl, 64);
	EXPECT_EQ(pi.tcp_flags, 0x12);
	EXPECT_EQ(pi.sport, htons(40000));
	EXPECT_EQ(pi.dport, htons(443));
	EXPECT_EQ(pi.src4, kSrc);
	EXPECT_EQ(pi.dst4, kDst);
	EXPECT_EQ(pi.src, f.data() + 26);
	EXPECT_EQ(pi.dst, f.data() + 30);
	EXPECT_EQ(pi.icmp_echo, 0);
}

TEST(PktParse, VlanTaggedAndIpOptions)
{
	Bytes opts = {0x94, 0x04, 0, 0, 1, 1, 1, 0}; // router alert + NOPs + EOL
	Bytes f = eth(kMacB, kMacA, 0x0800,
		      ipv4(kSrc, kDst, IPPROTO_UDP, udp(53, 5353, payload(5)), 17, 0, opts), 100);
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.ethertype, 0x0800);
	EXPECT_EQ(pi.l3_off, 18);
	EXPECT_EQ(pi.l4_off, 18 + 28);
	EXPECT_EQ(pi.l3_len, 28 + 8 + 5);
	EXPECT_EQ(pi.ttl, 17);
	EXPECT_EQ(pi.proto, IPPROTO_UDP);
	EXPECT_EQ(pi.sport, htons(53));
	EXPECT_EQ(pi.dport, htons(5353));
	EXPECT_EQ(pi.tcp_flags, 0);
	EXPECT_EQ(pi.src, f.data() + 18 + 12);
}

TEST(PktParse, EthernetPaddingIgnored)
{
	// A 1-byte UDP payload is padded to the 60-byte Ethernet minimum: the
	// IP total length, not the frame, bounds L3 and L4.
	Bytes f = eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, IPPROTO_UDP, udp(1, 2, {9})));
	f.resize(60, 0);
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.l3_len, 29);
}

TEST(PktParse, Sctp)
{
	Bytes f = eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, IPPROTO_SCTP, sctp(3868, 38412)));
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.proto, IPPROTO_SCTP);
	EXPECT_EQ(pi.sport, htons(3868));
	EXPECT_EQ(pi.dport, htons(38412));
}

TEST(PktParse, IcmpEcho)
{
	for (uint8_t type : {8, 0}) {
		Bytes f = eth(kMacB, kMacA, 0x0800,
			      ipv4(kSrc, kDst, IPPROTO_ICMP, icmp(type, 0, 0x4242, 7)));
		struct pkt_info pi;
		ASSERT_EQ(parse(f, &pi), 0) << (int)type;
		EXPECT_EQ(pi.proto, IPPROTO_ICMP);
		EXPECT_EQ(pi.icmp_type, type);
		EXPECT_EQ(pi.icmp_echo, 1);
		EXPECT_EQ(pi.sport, htons(0x4242));
		EXPECT_EQ(pi.dport, htons(0x4242));
	}
	// Not an echo (destination unreachable): no identifier, no ports.
	Bytes f = eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, IPPROTO_ICMP, icmp(3, 1, 0x4242, 7)));
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.icmp_type, 3);
	EXPECT_EQ(pi.icmp_echo, 0);
	EXPECT_EQ(pi.sport, 0);
	EXPECT_EQ(pi.dport, 0);
}

TEST(PktParse, OtherProtocolHasNoPorts)
{
	Bytes f = eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, 47 /* GRE */, payload(4)));
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.proto, 47);
	EXPECT_EQ(pi.sport, 0);
	EXPECT_EQ(pi.dport, 0);
	EXPECT_EQ(pi.tcp_flags, 0);
}

TEST(PktParse, Ipv6)
{
	Bytes f = eth(kMacB, kMacA, 0x86dd, ipv6(kV6a, kV6b, IPPROTO_TCP, tcp(1000, 2000, 0x10), 9));
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.ethertype, 0x86dd);
	EXPECT_EQ(pi.family, AF_INET6);
	EXPECT_EQ(pi.l3_off, 14);
	EXPECT_EQ(pi.l4_off, 54);
	EXPECT_EQ(pi.l3_len, 60);
	EXPECT_EQ(pi.ttl, 9);
	EXPECT_EQ(pi.proto, IPPROTO_TCP);
	EXPECT_EQ(pi.tcp_flags, 0x10);
	EXPECT_EQ(pi.sport, htons(1000));
	EXPECT_EQ(pi.dport, htons(2000));
	EXPECT_EQ(pi.src, f.data() + 22);
	EXPECT_EQ(pi.dst, f.data() + 38);
	EXPECT_EQ(memcmp(pi.src, kV6a, 16), 0);
	EXPECT_EQ(pi.src4, 0u);
	EXPECT_EQ(pi.dst4, 0u);

	Bytes e = eth(kMacB, kMacA, 0x86dd, ipv6(kV6a, kV6b, IPPROTO_ICMPV6, icmp(128, 0, 77, 1)));
	ASSERT_EQ(parse(e, &pi), 0);
	EXPECT_EQ(pi.icmp_echo, 1);
	EXPECT_EQ(pi.sport, htons(77));

	Bytes u = eth(kMacB, kMacA, 0x86dd, ipv6(kV6a, kV6b, IPPROTO_UDP, udp(5, 6)), 5);
	ASSERT_EQ(parse(u, &pi), 0);
	EXPECT_EQ(pi.l3_off, 18);
	EXPECT_EQ(pi.dport, htons(6));
}

TEST(PktParse, Arp)
{
	Bytes f = eth(kMacB, kMacA, 0x0806, payload(28));
	struct pkt_info pi;
	ASSERT_EQ(parse(f, &pi), 0);
	EXPECT_EQ(pi.ethertype, 0x0806);
	EXPECT_EQ(pi.family, 0);
	EXPECT_EQ(pi.l3_off, 14);
}

TEST(PktParse, StateResetBetweenPackets)
{
	struct pkt_info pi;
	Bytes a = tcp4_frame(kSrc, kDst, 1, 2, 0x3f);
	ASSERT_EQ(pkt_parse(a.data(), (uint32_t)a.size(), &pi), 0);
	Bytes b = eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, IPPROTO_ICMP, icmp(11, 0, 9, 9)));
	ASSERT_EQ(pkt_parse(b.data(), (uint32_t)b.size(), &pi), 0);
	EXPECT_EQ(pi.tcp_flags, 0);
	EXPECT_EQ(pi.sport, 0);
	EXPECT_EQ(pi.dport, 0);
	EXPECT_EQ(pi.icmp_echo, 0);
}

// ---- pkt_parse: every drop reason ----------------------------------------

TEST(PktDrop, L2)
{
	struct pkt_info pi;
	Bytes f = tcp4_frame();
	EXPECT_EQ(parse(f, &pi, 0), NSDP_DROP_L2_TRUNCATED);
	EXPECT_EQ(parse(f, &pi, 13), NSDP_DROP_L2_TRUNCATED);
	Bytes v = eth(kMacB, kMacA, 0x0800, {}, 1);
	EXPECT_EQ(parse(v, &pi, 16), NSDP_DROP_L2_TRUNCATED);
	EXPECT_EQ(parse(v, &pi, 17), NSDP_DROP_L2_TRUNCATED);

	EXPECT_EQ(parse(eth(kMacB, kMacA, 0x88cc, payload(40)), &pi), NSDP_DROP_L2_ETHERTYPE);
	EXPECT_EQ(parse(eth(kMacB, kMacA, 0x88cc, payload(40), 3), &pi), NSDP_DROP_L2_ETHERTYPE);
	// QinQ / double tags are not unwrapped.
	EXPECT_EQ(parse(eth(kMacB, kMacA, 0x8100, payload(40), 3), &pi), NSDP_DROP_L2_ETHERTYPE);
	EXPECT_EQ(parse(eth(kMacB, kMacA, 0x88a8, payload(40)), &pi), NSDP_DROP_L2_ETHERTYPE);
	// Bare Ethernet header, empty payload of a known type.
	EXPECT_EQ(parse(eth(kMacB, kMacA, 0x0800, {}), &pi), NSDP_DROP_IP_TRUNCATED);
}

TEST(PktDrop, Ipv4Header)
{
	struct pkt_info pi;
	Bytes f = tcp4_frame();
	// Fewer than 20 bytes of IPv4 header.
	EXPECT_EQ(parse(f, &pi, 14 + 19), NSDP_DROP_IP_TRUNCATED);

	Bytes g = f;
	g[14] = 0x65; // version 6 under EtherType IPv4
	fix_csum(&g[14]);
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_VERSION);

	g = f;
	g[14] = 0x44; // IHL 4
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_IHL);
	g[14] = 0x40; // IHL 0
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_IHL);

	// IHL 15 (60 bytes) but only 40 bytes after the Ethernet header.
	g = eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, 47, {}));
	g.resize(14 + 40, 0);
	g[14] = 0x4f;
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_TRUNCATED);

	// Total length beyond the frame, and below the header length.
	g = f;
	g[16] = 0x05;
	g[17] = 0xdc;
	fix_csum(&g[14]);
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_LEN);
	g[16] = 0;
	g[17] = 19;
	fix_csum(&g[14]);
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_LEN);
	// Total length one past the frame end.
	g = f;
	uint16_t tot = (uint16_t)(f.size() - 14 + 1);
	g[16] = (uint8_t)(tot >> 8);
	g[17] = (uint8_t)tot;
	fix_csum(&g[14]);
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_LEN);

	// Any wrong checksum bit.
	for (unsigned byte = 10; byte < 12; byte++)
		for (unsigned bit = 0; bit < 8; bit++) {
			g = f;
			g[14 + byte] ^= (uint8_t)(1u << bit);
			EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_CSUM) << byte << "." << bit;
		}
	g = f;
	g[14 + 8] ^= 1; // TTL changed, checksum not updated
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_CSUM);
}

TEST(PktDrop, Fragments)
{
	struct pkt_info pi;
	const Bytes l4 = udp(1, 2, payload(8));
	// MF, offset, both; DF alone and no flags are fine.
	for (uint16_t frag : {0x2000, 0x0001, 0x2001, 0x1fff, 0x6000, 0x4001})
		EXPECT_EQ(parse(eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, 17, l4, 64, frag)), &pi),
			  NSDP_DROP_IP_FRAGMENT)
			<< std::hex << frag;
	for (uint16_t frag : {0x0000, 0x4000})
		EXPECT_EQ(parse(eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, 17, l4, 64, frag)), &pi), 0)
			<< std::hex << frag;
}

TEST(PktDrop, Ipv6Header)
{
	struct pkt_info pi;
	Bytes f = eth(kMacB, kMacA, 0x86dd, ipv6(kV6a, kV6b, IPPROTO_UDP, udp(1, 2)));
	EXPECT_EQ(parse(f, &pi, 14 + 39), NSDP_DROP_IP_TRUNCATED);
	Bytes g = f;
	g[14] = 0x40;
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_VERSION);
	g = f;
	g[14 + 5] += 1; // payload length one more than present
	EXPECT_EQ(parse(g, &pi), NSDP_DROP_IP_BAD_LEN);
	// IPv4 bytes under the IPv6 EtherType: version mismatch.
	Bytes h = eth(kMacB, kMacA, 0x86dd, ipv4(kSrc, kDst, 17, udp(1, 2, payload(40))));
	EXPECT_EQ(parse(h, &pi), NSDP_DROP_IP_VERSION);
}

// Build IPv4 with an L4 of the given bytes and IP total length; the frame may
// carry extra padding after it.
Bytes v4_with_l4(uint8_t proto, const Bytes &l4, size_t pad = 0)
{
	Bytes f = eth(kMacB, kMacA, 0x0800, ipv4(kSrc, kDst, proto, l4));
	f.resize(f.size() + pad, 0xee);
	return f;
}

TEST(PktDrop, L4Truncated)
{
	struct pkt_info pi;
	Bytes t = tcp(1, 2, 0x02);
	for (size_t n : {0, 1, 19}) {
		Bytes l4(t.begin(), t.begin() + n);
		EXPECT_EQ(parse(v4_with_l4(IPPROTO_TCP, l4), &pi), NSDP_DROP_L4_TRUNCATED) << n;
		// Frame padding does not count: the IP total length bounds L4.
		EXPECT_EQ(parse(v4_with_l4(IPPROTO_TCP, l4, 40), &pi), NSDP_DROP_L4_TRUNCATED) << n;
	}
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_TCP, t), &pi), 0);
	// Data offset below 5, and above what the packet holds.
	for (unsigned doff : {0, 4, 6, 15}) {
		Bytes b = t;
		b[12] = (uint8_t)(doff << 4);
		EXPECT_EQ(parse(v4_with_l4(IPPROTO_TCP, b, 60), &pi), NSDP_DROP_L4_TRUNCATED) << doff;
	}
	// Data offset 15 with all 60 bytes present is fine.
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_TCP, tcp(1, 2, 0x02, {}, 15)), &pi), 0);

	Bytes u = udp(1, 2);
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_UDP, Bytes(u.begin(), u.begin() + 7), 8), &pi),
		  NSDP_DROP_L4_TRUNCATED);
	Bytes s = sctp(1, 2);
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_SCTP, Bytes(s.begin(), s.begin() + 11), 8), &pi),
		  NSDP_DROP_L4_TRUNCATED);
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_SCTP, Bytes(s.begin(), s.begin() + 12)), &pi), 0);
	Bytes i = icmp(8, 0, 1, 1);
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_ICMP, Bytes(i.begin(), i.begin() + 7), 8), &pi),
		  NSDP_DROP_L4_TRUNCATED);
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_ICMP, Bytes(i.begin(), i.begin() + 8)), &pi), 0);
	Bytes f6 = eth(kMacB, kMacA, 0x86dd,
		       ipv6(kV6a, kV6b, IPPROTO_ICMPV6, Bytes(i.begin(), i.begin() + 7)));
	EXPECT_EQ(parse(f6, &pi), NSDP_DROP_L4_TRUNCATED);
	Bytes t6 = eth(kMacB, kMacA, 0x86dd,
		       ipv6(kV6a, kV6b, IPPROTO_TCP, Bytes(t.begin(), t.begin() + 19)));
	EXPECT_EQ(parse(t6, &pi), NSDP_DROP_L4_TRUNCATED);
}

TEST(PktDrop, L4BadLen)
{
	struct pkt_info pi;
	Bytes u = udp(1, 2, payload(10));
	for (uint16_t bad : {0, 7, 19, 1000}) {
		Bytes b = u;
		b[4] = (uint8_t)(bad >> 8);
		b[5] = (uint8_t)bad;
		// Padding after the IP packet must not make a long UDP length valid.
		EXPECT_EQ(parse(v4_with_l4(IPPROTO_UDP, b, 100), &pi), NSDP_DROP_L4_BAD_LEN) << bad;
	}
	// Shorter than the IP payload (trailing bytes) is accepted, as the kernel does.
	Bytes b = u;
	b[5] = 8;
	EXPECT_EQ(parse(v4_with_l4(IPPROTO_UDP, b), &pi), 0);
}

// ---- checksums -----------------------------------------------------------

TEST(PktCsum, HeaderChecksumMatchesReference)
{
	std::mt19937 rng(12345);
	for (int it = 0; it < 20000; it++) {
		unsigned ihl = 5 + rng() % 11;
		uint8_t h[60];
		for (unsigned i = 0; i < ihl * 4; i++)
			h[i] = (uint8_t)rng();
		h[0] = (uint8_t)(0x40 | ihl);
		h[10] = h[11] = 0;
		uint16_t c = pkt_ipv4_hdr_csum(h, ihl * 4);
		ASSERT_EQ(c, ref_csum(h, ihl * 4));
		h[10] = (uint8_t)(c >> 8);
		h[11] = (uint8_t)c;
		ASSERT_EQ(pkt_ipv4_hdr_csum(h, ihl * 4), 0);
	}
}

TEST(PktCsum, DecTtlKeepsChecksumValid)
{
	std::mt19937 rng(54321);
	for (int it = 0; it < 200000; it++) {
		unsigned ihl = it % 7 == 0 ? 5 + rng() % 11 : 5;
		uint8_t h[60];
		for (unsigned i = 0; i < ihl * 4; i++)
			h[i] = (uint8_t)rng();
		h[0] = (uint8_t)(0x40 | ihl);
		// Every TTL, with a bias towards the edges of the 16-bit sums.
		h[8] = (uint8_t)(it % 255 + 1);
		if (it % 5 == 0) {
			memset(h + 1, it % 2 ? 0xff : 0, 7);
			memset(h + 12, it % 2 ? 0xff : 0, ihl * 4 - 12);
		}
		fix_csum(h);
		uint8_t want[60];
		memcpy(want, h, sizeof(h));
		want[8]--;
		fix_csum(want);

		pkt_ipv4_dec_ttl(h);
		ASSERT_EQ(pkt_ipv4_hdr_csum(h, ihl * 4), 0) << "iteration " << it;
		ASSERT_EQ(memcmp(h, want, ihl * 4), 0)
			<< "iteration " << it << ": checksum " << rd16(h + 10) << " != recomputed "
			<< rd16(want + 10);
	}
}

// ---- flow hash -----------------------------------------------------------

uint32_t hash_of(const Bytes &f)
{
	struct pkt_info pi;
	EXPECT_EQ(pkt_parse(f.data(), (uint32_t)f.size(), &pi), 0);
	return overlay_flow_hash(&pi);
}

TEST(PktHash, SymmetricAndSpread)
{
	std::mt19937 rng(777);
	std::set<uint32_t> seen;
	const int n = 4000;
	for (int i = 0; i < n; i++) {
		uint32_t a = (uint32_t)rng(), b = (uint32_t)rng();
		uint16_t pa = (uint16_t)rng(), pb = (uint16_t)rng();
		uint8_t proto = i % 3 == 0 ? IPPROTO_TCP : i % 3 == 1 ? IPPROTO_UDP : IPPROTO_SCTP;
		Bytes l4f = proto == IPPROTO_TCP ? tcp(pa, pb, 0x10) :
			    proto == IPPROTO_UDP ? udp(pa, pb) : sctp(pa, pb);
		Bytes l4r = proto == IPPROTO_TCP ? tcp(pb, pa, 0x10) :
			    proto == IPPROTO_UDP ? udp(pb, pa) : sctp(pb, pa);
		uint32_t hf = hash_of(eth(kMacB, kMacA, 0x0800, ipv4(a, b, proto, l4f)));
		uint32_t hr = hash_of(eth(kMacA, kMacB, 0x0800, ipv4(b, a, proto, l4r), 9));
		ASSERT_EQ(hf, hr) << i;
		seen.insert(hf);
	}
	EXPECT_GE(seen.size(), (size_t)n - 4); // ~0 collisions expected in 2^32

	// One field changes the hash.
	uint32_t base = hash_of(tcp4_frame(kSrc, kDst, 1000, 80));
	EXPECT_NE(base, hash_of(tcp4_frame(kSrc, kDst, 1001, 80)));
	EXPECT_NE(base, hash_of(tcp4_frame(kSrc, kDst, 1000, 81)));
	EXPECT_NE(base, hash_of(tcp4_frame(kSrc ^ htonl(1), kDst, 1000, 80)));
	EXPECT_NE(base, hash_of(tcp4_frame(kSrc, kDst ^ htonl(1), 1000, 80)));
	EXPECT_NE(base, hash_of(eth(kMacB, kMacA, 0x0800,
				    ipv4(kSrc, kDst, IPPROTO_UDP, udp(1000, 80)))));
	// Ports of one side swapped with the other's is another flow.
	EXPECT_NE(hash_of(tcp4_frame(kSrc, kDst, 1, 2)), hash_of(tcp4_frame(kSrc, kDst, 2, 1)));

	// IPv6 is symmetric as well.
	uint32_t h6f = hash_of(eth(kMacB, kMacA, 0x86dd, ipv6(kV6a, kV6b, IPPROTO_UDP, udp(7, 8))));
	uint32_t h6r = hash_of(eth(kMacB, kMacA, 0x86dd, ipv6(kV6b, kV6a, IPPROTO_UDP, udp(8, 7))));
	EXPECT_EQ(h6f, h6r);
	EXPECT_NE(h6f, hash_of(eth(kMacB, kMacA, 0x86dd, ipv6(kV6a, kV6b, IPPROTO_UDP, udp(7, 9)))));
}

// CRC is linear over GF(2): combining the two sides with XOR made the hash
// depend on src ^ dst only, so "pod i talks to pod i" between two nodes'
// pod CIDRs (10.244.1.i -> 10.244.2.i, same ports) put every flow on one
// outer UDP source port, defeating ECMP/RSS in the underlay.
TEST(PktHash, CorrelatedFlowsSpread)
{
	std::set<uint16_t> ports;
	std::set<uint32_t> hashes;
	for (uint32_t i = 0; i < 256; i++) {
		Bytes f = eth(kMacB, kMacA, 0x0800,
			      ipv4(htonl(0x0af40100 | i), htonl(0x0af40200 | i), IPPROTO_UDP,
				   udp(5000, 5201)));
		uint32_t h = hash_of(f);
		hashes.insert(h);
		ports.insert((uint16_t)(0xc000 | (h & 0x3fff)));
	}
	EXPECT_GE(hashes.size(), 250u);
	EXPECT_GE(ports.size(), 230u) << "outer source ports of 256 correlated flows";

	// The same for ports moving together (sport i -> dport i).
	hashes.clear();
	for (uint16_t i = 0; i < 256; i++)
		hashes.insert(hash_of(tcp4_frame(kSrc, kDst, (uint16_t)(30000 + i),
						 (uint16_t)(30000 + i))));
	EXPECT_GE(hashes.size(), 250u);
}

// ---- overlay ---------------------------------------------------------------

class Overlay : public ::testing::Test {
protected:
	static void SetUpTestSuite() { ASSERT_EQ(shim_eal_init(), 0); }
	void SetUp() override { baseline_ = shim_pool_in_use(); }
	void TearDown() override { EXPECT_EQ(shim_pool_in_use(), baseline_) << "mbuf leak"; }
	unsigned baseline_ = 0;
};

const uint32_t kVtepA = htonl(0xc0a86401); // 192.168.100.1
const uint32_t kVtepB = htonl(0xc0a86402); // 192.168.100.2

struct overlay_params params(uint8_t type, uint32_t vni)
{
	struct overlay_params p;
	memset(&p, 0, sizeof(p));
	memcpy(p.src_mac.addr_bytes, kMacA.b, 6);
	memcpy(p.dst_mac.addr_bytes, kMacB.b, 6);
	p.src_ip = kVtepA;
	p.dst_ip = kVtepB;
	p.udp_port = htons(type == NSDP_OVERLAY_VXLAN ? 4789 : 6081);
	p.type = type;
	p.vni = vni;
	return p;
}

Bytes inner_frame(size_t extra = 0)
{
	return eth({{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}}, {{0x02, 1, 2, 3, 4, 5}}, 0x0800,
		   ipv4(kSrc, kDst, IPPROTO_TCP, tcp(33333, 8080, 0x18, payload(20 + extra, 3))));
}

Bytes mbuf_bytes(const struct rte_mbuf *m)
{
	const uint8_t *d;
	unsigned n = shim_mbuf_data(m, &d);
	return Bytes(d, d + n);
}

void check_outer(const Bytes &o, size_t inner_len, uint8_t type, uint32_t vni, uint32_t hash)
{
	ASSERT_EQ(o.size(), inner_len + 50);
	EXPECT_EQ(memcmp(&o[0], kMacB.b, 6), 0) << "outer dst MAC";
	EXPECT_EQ(memcmp(&o[6], kMacA.b, 6), 0) << "outer src MAC";
	EXPECT_EQ(rd16(&o[12]), 0x0800);
	const uint8_t *ip = &o[14];
	EXPECT_EQ(ip[0], 0x45);
	EXPECT_EQ(rd16(ip + 2), inner_len + 36) << "IP total length";
	EXPECT_EQ(rd16(ip + 6), 0x4000) << "DF, no fragment";
	EXPECT_EQ(ip[8], 64);
	EXPECT_EQ(ip[9], IPPROTO_UDP);
	EXPECT_EQ(ref_csum(ip, 20), 0) << "outer IPv4 checksum";
	EXPECT_EQ(memcmp(ip + 12, &kVtepA, 4), 0);
	EXPECT_EQ(memcmp(ip + 16, &kVtepB, 4), 0);
	const uint8_t *u = ip + 20;
	uint16_t sport = rd16(u);
	EXPECT_GE(sport, 49152);
	EXPECT_EQ(sport, 0xc000 | (hash & 0x3fff));
	EXPECT_EQ(rd16(u + 2), type == NSDP_OVERLAY_VXLAN ? 4789 : 6081);
	EXPECT_EQ(rd16(u + 4), inner_len + 16) << "UDP length";
	EXPECT_EQ(rd16(u + 6), 0) << "UDP checksum";
	const uint8_t *h = u + 8;
	if (type == NSDP_OVERLAY_VXLAN) {
		EXPECT_EQ(h[0], 0x08);
		EXPECT_EQ(h[1], 0);
		EXPECT_EQ(h[2], 0);
		EXPECT_EQ(h[3], 0);
	} else {
		EXPECT_EQ(h[0], 0) << "Geneve version 0, no options";
		EXPECT_EQ(h[1], 0) << "Geneve O/C";
		EXPECT_EQ(rd16(h + 2), 0x6558);
	}
	EXPECT_EQ((uint32_t)(h[4] << 16 | h[5] << 8 | h[6]), vni);
	EXPECT_EQ(h[7], 0);
}

TEST_F(Overlay, EncapFields)
{
	const uint32_t hashes[] = {0, 1, 0x3fff, 0x4000, 0xdeadbeef, 0xffffffff};
	for (uint8_t type : {NSDP_OVERLAY_VXLAN, NSDP_OVERLAY_GENEVE}) {
		for (uint32_t hash : hashes) {
			SCOPED_TRACE(testing::Message() << "type " << (int)type << " hash " << hash);
			Bytes in = inner_frame();
			struct rte_mbuf *m = shim_mbuf_from(in.data(), (unsigned)in.size());
			ASSERT_NE(m, nullptr);
			struct overlay_params p = params(type, 0xabcdef);
			ASSERT_EQ(overlay_encap(m, &p, hash), 0);
			Bytes o = mbuf_bytes(m);
			EXPECT_EQ(rte_pktmbuf_pkt_len(m), in.size() + 50);
			EXPECT_EQ(m->l2_len, 14u);
			EXPECT_EQ(m->l3_len, 20u);
			check_outer(o, in.size(), type, 0xabcdef, hash);
			EXPECT_EQ(Bytes(o.begin() + 50, o.end()), in) << "inner frame not intact";
			shim_mbuf_free(m);
		}
	}
}

TEST_F(Overlay, EncapWithoutHeadroom)
{
	Bytes in = inner_frame();
	struct rte_mbuf *m = shim_mbuf_from(in.data(), (unsigned)in.size());
	ASSERT_NE(m, nullptr);
	uint16_t head = rte_pktmbuf_headroom(m);
	ASSERT_GE(head, 50);
	ASSERT_NE(rte_pktmbuf_prepend(m, (uint16_t)(head - 49)), nullptr);
	uint32_t len = rte_pktmbuf_pkt_len(m);
	struct overlay_params p = params(NSDP_OVERLAY_VXLAN, 1);
	EXPECT_EQ(overlay_encap(m, &p, 1), -ENOSPC);
	EXPECT_EQ(rte_pktmbuf_pkt_len(m), len) << "a failed encap must not change the mbuf";
	shim_mbuf_free(m);
}

TEST_F(Overlay, RoundTrip)
{
	std::mt19937 rng(99);
	for (int it = 0; it < 200; it++) {
		uint8_t type = it % 2 ? NSDP_OVERLAY_GENEVE : NSDP_OVERLAY_VXLAN;
		uint32_t vni = 1 + rng() % 0xffffff;
		Bytes in = inner_frame(rng() % 1400);
		struct pkt_info ipi;
		ASSERT_EQ(pkt_parse(in.data(), (uint32_t)in.size(), &ipi), 0);
		uint32_t hash = overlay_flow_hash(&ipi);
		struct rte_mbuf *m = shim_mbuf_from(in.data(), (unsigned)in.size());
		ASSERT_NE(m, nullptr);
		struct overlay_params p = params(type, vni);
		ASSERT_EQ(overlay_encap(m, &p, hash), 0);
		Bytes o = mbuf_bytes(m);
		shim_mbuf_free(m);

		struct pkt_info pi;
		ASSERT_EQ(pkt_parse(o.data(), (uint32_t)o.size(), &pi), 0);
		EXPECT_EQ(pi.proto, IPPROTO_UDP);
		EXPECT_EQ(pi.dst4, kVtepB);
		EXPECT_EQ(pi.dport, p.udp_port);
		uint16_t off = 0, len = 0;
		ASSERT_EQ(overlay_decap_parse(o.data(), (uint32_t)o.size(), &pi, type, vni, &off, &len),
			  0);
		EXPECT_EQ(off, 50);
		ASSERT_EQ(len, in.size());
		EXPECT_EQ(Bytes(o.begin() + off, o.begin() + off + len), in);
	}
}

// An outer frame around a tunnel header + inner bytes, as a remote VTEP sends it.
Bytes tunnel(const Bytes &hdr, const Bytes &inner, uint16_t dport, size_t pad = 0)
{
	Bytes t = hdr;
	append(t, inner);
	Bytes f = eth(kMacA, kMacB, 0x0800, ipv4(kVtepB, kVtepA, IPPROTO_UDP, udp(50000, dport, t)));
	f.resize(f.size() + pad, 0);
	return f;
}

Bytes vxlan_hdr(uint8_t flags, uint32_t vni)
{
	return {flags, 0, 0, 0, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8), (uint8_t)vni, 0};
}

Bytes geneve_hdr(uint8_t ver, uint8_t opt_words, uint8_t oc, uint16_t proto, uint32_t vni)
{
	Bytes h = {(uint8_t)(ver << 6 | opt_words), oc, (uint8_t)(proto >> 8), (uint8_t)proto,
		   (uint8_t)(vni >> 16), (uint8_t)(vni >> 8), (uint8_t)vni, 0};
	for (unsigned i = 0; i < opt_words * 4u; i++)
		h.push_back((uint8_t)(0xc0 + i));
	return h;
}

int decap(const Bytes &f, uint8_t type, uint32_t vni, uint16_t *off, uint16_t *len)
{
	struct pkt_info pi;
	int rc = pkt_parse(f.data(), (uint32_t)f.size(), &pi);
	EXPECT_EQ(rc, 0) << "outer frame must parse";
	if (rc)
		return -1;
	*off = *len = 0xffff;
	return overlay_decap_parse(f.data(), (uint32_t)f.size(), &pi, type, vni, off, len);
}

TEST(OverlayDecap, Vxlan)
{
	const uint32_t vni = 7;
	Bytes in = inner_frame();
	uint16_t off, len;
	// Ethernet padding after the datagram is not part of the inner frame.
	ASSERT_EQ(decap(tunnel(vxlan_hdr(0x08, vni), in, 4789, 6), NSDP_OVERLAY_VXLAN, vni, &off,
			&len),
		  0);
	EXPECT_EQ(off, 50);
	EXPECT_EQ(len, in.size());
	// Reserved bits set besides I are ignored (RFC 7348: ignored on receipt).
	EXPECT_EQ(decap(tunnel(vxlan_hdr(0xff, vni), in, 4789), NSDP_OVERLAY_VXLAN, vni, &off,
			&len),
		  0);

	EXPECT_EQ(decap(tunnel(vxlan_hdr(0x00, vni), in, 4789), NSDP_OVERLAY_VXLAN, vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR);
	EXPECT_EQ(decap(tunnel(vxlan_hdr(0xf7, vni), in, 4789), NSDP_OVERLAY_VXLAN, vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR);
	EXPECT_EQ(decap(tunnel(vxlan_hdr(0x08, 8), in, 4789), NSDP_OVERLAY_VXLAN, vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_VNI);
	EXPECT_EQ(decap(tunnel(vxlan_hdr(0x08, vni | 0x10000), in, 4789), NSDP_OVERLAY_VXLAN, vni,
			&off, &len),
		  NSDP_DROP_OVERLAY_BAD_VNI);
	// UDP payload shorter than the VXLAN header.
	EXPECT_EQ(decap(tunnel({0x08, 0, 0, 0}, {}, 4789), NSDP_OVERLAY_VXLAN, vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR);
	// Inner frame shorter than an Ethernet header.
	EXPECT_EQ(decap(tunnel(vxlan_hdr(0x08, vni), Bytes(13, 1), 4789), NSDP_OVERLAY_VXLAN, vni,
			&off, &len),
		  NSDP_DROP_OVERLAY_INNER);
	EXPECT_EQ(decap(tunnel(vxlan_hdr(0x08, vni), {}, 4789, 30), NSDP_OVERLAY_VXLAN, vni, &off,
			&len),
		  NSDP_DROP_OVERLAY_INNER);
	EXPECT_EQ(decap(tunnel(vxlan_hdr(0x08, vni), Bytes(14, 1), 4789), NSDP_OVERLAY_VXLAN, vni,
			&off, &len),
		  0);
	EXPECT_EQ(len, 14);
}

TEST(OverlayDecap, Geneve)
{
	const uint32_t vni = 0x123456;
	Bytes in = inner_frame();
	uint16_t off, len;
	ASSERT_EQ(decap(tunnel(geneve_hdr(0, 0, 0, 0x6558, vni), in, 6081), NSDP_OVERLAY_GENEVE, vni,
			&off, &len),
		  0);
	EXPECT_EQ(off, 50);
	EXPECT_EQ(len, in.size());

	// Two words of (non-critical) options are skipped.
	ASSERT_EQ(decap(tunnel(geneve_hdr(0, 2, 0, 0x6558, vni), in, 6081, 4), NSDP_OVERLAY_GENEVE,
			vni, &off, &len),
		  0);
	EXPECT_EQ(off, 58);
	EXPECT_EQ(len, in.size());
	Bytes f = tunnel(geneve_hdr(0, 2, 0, 0x6558, vni), in, 6081);
	EXPECT_EQ(Bytes(f.begin() + off, f.begin() + off + len), in);
	// The maximum option length (63 words).
	ASSERT_EQ(decap(tunnel(geneve_hdr(0, 63, 0, 0x6558, vni), in, 6081), NSDP_OVERLAY_GENEVE, vni,
			&off, &len),
		  0);
	EXPECT_EQ(off, 50 + 252);
	EXPECT_EQ(len, in.size());

	EXPECT_EQ(decap(tunnel(geneve_hdr(0, 0, 0x80, 0x6558, vni), in, 6081), NSDP_OVERLAY_GENEVE,
			vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR)
		<< "O bit (control message)";
	EXPECT_EQ(decap(tunnel(geneve_hdr(0, 1, 0x40, 0x6558, vni), in, 6081), NSDP_OVERLAY_GENEVE,
			vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR)
		<< "C bit (critical options)";
	EXPECT_EQ(decap(tunnel(geneve_hdr(1, 0, 0, 0x6558, vni), in, 6081), NSDP_OVERLAY_GENEVE, vni,
			&off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR)
		<< "version 1";
	EXPECT_EQ(decap(tunnel(geneve_hdr(0, 0, 0, 0x0800, vni), in, 6081), NSDP_OVERLAY_GENEVE, vni,
			&off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR)
		<< "protocol type not Ethernet";
	EXPECT_EQ(decap(tunnel(geneve_hdr(0, 0, 0, 0x6558, vni + 1), in, 6081), NSDP_OVERLAY_GENEVE,
			vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_VNI);

	// Options longer than the datagram (the frame's padding does not count).
	Bytes h = geneve_hdr(0, 0, 0, 0x6558, vni);
	h[0] = 63;
	EXPECT_EQ(decap(tunnel(h, in, 6081, 300), NSDP_OVERLAY_GENEVE, vni, &off, &len),
		  NSDP_DROP_OVERLAY_BAD_HDR);
	// Options that end exactly at the datagram end: no inner frame.
	h[0] = (uint8_t)(in.size() / 4);
	Bytes exact = in;
	exact.resize(in.size() / 4 * 4);
	EXPECT_EQ(decap(tunnel(h, exact, 6081), NSDP_OVERLAY_GENEVE, vni, &off, &len),
		  NSDP_DROP_OVERLAY_INNER);
	// Inner frame shorter than an Ethernet header after the options.
	EXPECT_EQ(decap(tunnel(geneve_hdr(0, 1, 0, 0x6558, vni), Bytes(13, 0), 6081),
			NSDP_OVERLAY_GENEVE, vni, &off, &len),
		  NSDP_DROP_OVERLAY_INNER);
	// Truncated base header.
	EXPECT_EQ(decap(tunnel({0, 0, 0x65, 0x58, 0, 0, 1}, {}, 6081), NSDP_OVERLAY_GENEVE, vni, &off,
			&len),
		  NSDP_DROP_OVERLAY_BAD_HDR);
}

} // namespace
