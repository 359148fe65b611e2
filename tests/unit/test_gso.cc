// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of software TCP segmentation and receive coalescing
// (dataplane/gso.c). Frames are built byte by byte here and checked with
// this file's own RFC 1071 routine; gso_segment is compared with segments
// the builder makes, and gso_coalesce with a plain reference merger (per
// flow lists, every rule checked in sequence), on random inputs.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shim.h"

extern "C" {
#include "gso.h"
#include "overlay.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, CWR = 0x80;
constexpr unsigned IP = 14, L4 = 34; // offsets in a plain frame without IP options

// ---- bytes and checksums -------------------------------------------------

uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put16(Bytes &v, uint16_t x)
{
	v.push_back((uint8_t)(x >> 8));
	v.push_back((uint8_t)x);
}

void put32(Bytes &v, uint32_t x)
{
	put16(v, (uint16_t)(x >> 16));
	put16(v, (uint16_t)x);
}

// Big-endian 16-bit words summed in 64 bits, folded at the end.
uint64_t sum(const uint8_t *p, size_t n, uint64_t s = 0)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += rd16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

// Pseudo header of the IPv4 header at ip for an L4 length.
uint64_t pseudo(const uint8_t *ip, size_t l4_len)
{
	return sum(ip + 12, 8) + ip[9] + l4_len;
}

unsigned ihl(const uint8_t *ip)
{
	return (ip[0] & 0xfu) * 4u;
}

bool ip_ok(const uint8_t *ip)
{
	return fold(sum(ip, ihl(ip))) == 0xffff;
}

// The L4 checksum (TCP, or UDP) of the IPv4 packet at ip verifies.
bool l4_ok(const uint8_t *ip)
{
	size_t l4 = rd16(ip + 2) - ihl(ip);
	return fold(pseudo(ip, l4) + sum(ip + ihl(ip), l4)) == 0xffff;
}

// Write the full L4 checksum at field offset `field` of the L4 header.
void set_l4_csum(uint8_t *ip, unsigned field)
{
	uint8_t *l4 = ip + ihl(ip);
	size_t n = rd16(ip + 2) - ihl(ip);
	wr16(l4 + field, 0);
	uint16_t c = (uint16_t)~fold(pseudo(ip, n) + sum(l4, n));
	if (c == 0 && ip[9] == IPPROTO_UDP)
		c = 0xffff;
	wr16(l4 + field, c);
}

void set_ip_csum(uint8_t *ip)
{
	wr16(ip + 10, 0);
	wr16(ip + 10, (uint16_t)~fold(sum(ip, ihl(ip))));
}

// The TCP checksum field as NEEDS_CSUM expects it: the pseudo-header sum.
uint16_t pseudo_only(const uint8_t *ip)
{
	return fold(pseudo(ip, rd16(ip + 2) - ihl(ip)));
}

// 0x0000 and 0xffff are the same checksum: make a frame's TCP field one form.
Bytes norm(Bytes b, unsigned l4 = L4)
{
	if (rd16(&b[l4 + 16]) == 0)
		wr16(&b[l4 + 16], 0xffff);
	return b;
}

Bytes random_bytes(std::mt19937 &rng, size_t n)
{
	Bytes v(n);
	for (auto &x : v)
		x = (uint8_t)rng();
	return v;
}

// ---- frame builder -------------------------------------------------------

struct Flow {
	uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x0b};
	uint8_t smac[6] = {0x02, 0, 0, 0, 0, 0x0a};
	uint32_t saddr = 0x0af40102, daddr = 0x0af40203;
	uint16_t sport = 40000, dport = 5201;
	uint8_t tos = 0, ttl = 64;
	uint32_t ack = 0x11223344;
	uint16_t win = 502;
	Bytes opts; // TCP options, a multiple of 4 bytes
};

struct Seg {
	Flow f;
	uint32_t seq = 1;
	uint8_t flags = ACK;
	Bytes payload;
	uint16_t id = 0x100;
	uint16_t frag = 0x4000; // DF
	Bytes ipopts;
	int vlan = -1;
	bool bad_tcp = false, bad_ip = false;
};

// Ethernet [+ 802.1Q] + IPv4 + TCP with valid checksums (unless told not).
Bytes build(const Seg &s)
{
	const Flow &f = s.f;
	Bytes v(f.dmac, f.dmac + 6);
	v.insert(v.end(), f.smac, f.smac + 6);
	if (s.vlan >= 0) {
		put16(v, 0x8100);
		put16(v, (uint16_t)s.vlan);
	}
	put16(v, 0x0800);
	size_t ip = v.size(), iphl = 20 + s.ipopts.size();
	v.push_back((uint8_t)(0x40 | iphl / 4));
	v.push_back(f.tos);
	put16(v, (uint16_t)(iphl + 20 + f.opts.size() + s.payload.size()));
	put16(v, s.id);
	put16(v, s.frag);
	v.push_back(f.ttl);
	v.push_back(IPPROTO_TCP);
	put16(v, 0);
	put32(v, f.saddr);
	put32(v, f.daddr);
	v.insert(v.end(), s.ipopts.begin(), s.ipopts.end());
	put16(v, f.sport);
	put16(v, f.dport);
	put32(v, s.seq);
	put32(v, f.ack);
	v.push_back((uint8_t)((5 + f.opts.size() / 4) << 4));
	v.push_back(s.flags);
	put16(v, f.win);
	put16(v, 0); // checksum
	put16(v, 0); // urgent pointer
	v.insert(v.end(), f.opts.begin(), f.opts.end());
	v.insert(v.end(), s.payload.begin(), s.payload.end());
	set_ip_csum(&v[ip]);
	set_l4_csum(&v[ip], 16);
	if (s.bad_tcp)
		v[ip + iphl + 16] ^= 0x40;
	if (s.bad_ip)
		v[ip + 10] ^= 0x40;
	return v;
}

Bytes payload(size_t n, unsigned seed = 1)
{
	Bytes v(n);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
	return v;
}

const Bytes kTimestamps = {1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78};

// ---- mbufs ---------------------------------------------------------------

struct rte_mempool *big_pool()
{
	static struct rte_mempool *p =
		rte_pktmbuf_pool_create("gso_big", 511, 0, 0, 65535, SOCKET_ID_ANY);
	return p;
}

// Four large mbufs, for running a pool dry.
struct rte_mempool *tiny_pool()
{
	static struct rte_mempool *p =
		rte_pktmbuf_pool_create("gso_tiny", 4, 0, 0, 65535, SOCKET_ID_ANY);
	return p;
}

struct rte_mbuf *mbuf_of(struct rte_mempool *mp, const Bytes &b)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m)
		return nullptr;
	char *d = rte_pktmbuf_append(m, (uint16_t)b.size());
	if (!d) {
		rte_pktmbuf_free(m);
		return nullptr;
	}
	memcpy(d, b.data(), b.size());
	return m;
}

Bytes bytes_of(const struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	return Bytes(d, d + m->data_len);
}

class Gso : public ::testing::Test {
protected:
	struct rte_mempool *small = nullptr, *big = nullptr;
	unsigned small0 = 0, big0 = 0;

	void SetUp() override
	{
		ASSERT_EQ(shim_eal_init(), 0);
		small = shim_pool();
		big = big_pool();
		ASSERT_NE(big, nullptr);
		ASSERT_NE(tiny_pool(), nullptr);
		small0 = rte_mempool_avail_count(small);
		big0 = rte_mempool_avail_count(big);
	}
	void TearDown() override
	{
		EXPECT_EQ(rte_mempool_avail_count(small), small0) << "mbufs leaked (small pool)";
		EXPECT_EQ(rte_mempool_avail_count(big), big0) << "mbufs leaked (big pool)";
		EXPECT_EQ(rte_mempool_avail_count(tiny_pool()), 4u) << "mbufs leaked (tiny pool)";
	}
};

// ---- gso_segment -----------------------------------------------------------

// The segments of a frame as the builder makes them: what gso_segment must
// produce for a plain frame (ids + i, seq + offset, FIN/PSH last, CWR first).
std::vector<Bytes> ref_segments(const Seg &s, size_t mss)
{
	std::vector<Bytes> v;
	size_t n = s.payload.size();
	size_t off = 0;
	do {
		size_t len = std::min(mss, n - off);
		Seg g = s;
		g.payload.assign(s.payload.begin() + (long)off,
				 s.payload.begin() + (long)(off + len));
		g.seq = s.seq + (uint32_t)off;
		g.id = (uint16_t)(s.id + v.size());
		if (!v.empty())
			g.flags &= (uint8_t)~CWR;
		if (off + len != n)
			g.flags &= (uint8_t)~(FIN | PSH);
		g.bad_tcp = false;
		v.push_back(build(g));
		off += len;
	} while (off < n);
	return v;
}

// Field by field checks of the segments of a plain frame `orig` (no IP
// options) carrying `pl`, mss `mss`, the TCP header at l4 of the segments.
void check_segments(const Bytes &orig, const Bytes &pl, struct rte_mbuf **out, int n,
		    size_t mss, unsigned l3, unsigned ol3 = 0)
{
	unsigned l4 = l3 + 20, thl = (orig[l4 + 12] >> 4) * 4u, hlen = l4 + thl;
	ASSERT_EQ((size_t)n, std::max<size_t>(1, (pl.size() + mss - 1) / mss));
	Bytes cat;
	for (int i = 0; i < n; i++) {
		SCOPED_TRACE("segment " + std::to_string(i));
		Bytes s = bytes_of(out[i]);
		size_t plen = std::min(mss, pl.size() - (size_t)i * mss);
		ASSERT_EQ(s.size(), hlen + plen);
		EXPECT_EQ(out[i]->pkt_len, s.size());
		EXPECT_EQ(out[i]->nb_segs, 1);
		EXPECT_EQ(out[i]->ol_flags, 0u);
		const uint8_t *ip = &s[l3], *t = &s[l4];
		EXPECT_EQ(rd16(ip + 2), 20 + thl + plen);
		EXPECT_EQ(rd16(ip + 4), (uint16_t)(rd16(&orig[l3 + 4]) + i));
		EXPECT_TRUE(ip_ok(ip));
		EXPECT_TRUE(l4_ok(ip)) << "TCP checksum";
		EXPECT_EQ(rd32(t + 4), rd32(&orig[l4 + 4]) + (uint32_t)(i * mss));
		uint8_t want = orig[l4 + 13];
		if (i)
			want &= (uint8_t)~CWR;
		if (i != n - 1)
			want &= (uint8_t)~(FIN | PSH);
		EXPECT_EQ(t[13], want);
		// Everything else in the headers as in the original.
		Bytes a(s.begin(), s.begin() + hlen), b(orig.begin(), orig.begin() + hlen);
		for (unsigned off : {l3 + 2, l3 + 4, l3 + 10, l4 + 4, l4 + 6, l4 + 16}) {
			wr16(&a[off], 0);
			wr16(&b[off], 0);
		}
		a[l4 + 13] = b[l4 + 13] = 0; // flags
		if (ol3) {
			unsigned u = ol3 + 20;
			const uint8_t *oip = &s[ol3];
			EXPECT_EQ(rd16(oip + 2), s.size() - ol3);
			EXPECT_EQ(rd16(oip + 4), (uint16_t)(rd16(&orig[ol3 + 4]) + i));
			EXPECT_TRUE(ip_ok(oip));
			EXPECT_EQ(rd16(&s[u + 4]), s.size() - u);
			if (rd16(&orig[u + 6]) == 0)
				EXPECT_EQ(rd16(&s[u + 6]), 0);
			else
				EXPECT_TRUE(l4_ok(oip)) << "outer UDP checksum";
			for (unsigned off : {ol3 + 2, ol3 + 4, ol3 + 10, u + 4, u + 6}) {
				wr16(&a[off], 0);
				wr16(&b[off], 0);
			}
		}
		EXPECT_EQ(a, b) << "other header bytes";
		cat.insert(cat.end(), s.begin() + hlen, s.end());
	}
	EXPECT_EQ(cat, pl);
}

// A plain (not encapsulated) frame's segments: checked field by field and
// equal to the reference segmenter's.
void expect_plain_segments(const Bytes &orig, const Seg &s, struct rte_mbuf **out, int n,
			   uint16_t mss)
{
	check_segments(orig, s.payload, out, n, mss, IP);
	std::vector<Bytes> ref = ref_segments(s, mss);
	for (int i = 0; i < n; i++)
		EXPECT_EQ(bytes_of(out[i]), ref[i]) << "segment " << i;
}

TEST_F(Gso, SegmentPlain10000)
{
	for (const Bytes &opts : {Bytes{}, kTimestamps}) {
		SCOPED_TRACE("options " + std::to_string(opts.size()));
		Seg s;
		s.f.opts = Bytes(opts);
		s.seq = 0xfffff000; // wraps
		s.id = 0xfffe;      // wraps
		s.flags = CWR | ACK | PSH | FIN;
		s.payload = payload(10000);
		Bytes orig = build(s);
		struct rte_mbuf *m = mbuf_of(big, orig);
		ASSERT_NE(m, nullptr);
		m->port = 3;
		struct gso_layout lay = {0, IP, L4, 1448};
		struct rte_mbuf *out[16];
		int n = gso_segment(m, &lay, small, out, 16);
		ASSERT_EQ(n, 7);
		expect_plain_segments(orig, s, out, n, 1448);
		for (int i = 0; i < n; i++) {
			EXPECT_EQ(out[i]->port, 3);
			EXPECT_EQ(out[i]->pool, small);
		}
		EXPECT_EQ(bytes_of(m), orig) << "input modified";
		rte_pktmbuf_free_bulk(out, (unsigned)n);
		rte_pktmbuf_free(m);
	}
}

// Outer headers by overlay_encap: VXLAN and Geneve, outer UDP checksum 0
// (kept 0) or set (computed in full per segment).
TEST_F(Gso, SegmentEncapsulated)
{
	for (uint8_t type : {NSDP_OVERLAY_VXLAN, NSDP_OVERLAY_GENEVE}) {
		for (bool udp_csum : {false, true}) {
			SCOPED_TRACE(std::to_string(type) +
				     (udp_csum ? " udp csum" : " no udp csum"));
			Seg s;
			s.f.opts = Bytes(kTimestamps);
			s.flags = ACK | PSH;
			s.id = 77;
			s.payload = payload(10000, 5);
			struct rte_mbuf *m = mbuf_of(big, build(s));
			ASSERT_NE(m, nullptr);
			struct overlay_params p = {};
			memset(p.src_mac.addr_bytes, 0x0c, 6);
			memset(p.dst_mac.addr_bytes, 0x0d, 6);
			p.src_ip = htonl(0xc0a80001);
			p.dst_ip = htonl(0xc0a80002);
			p.udp_port = htons(type == NSDP_OVERLAY_VXLAN ? 4789 : 6081);
			p.type = type;
			p.vni = 0x123456;
			ASSERT_EQ(overlay_encap(m, &p, 0xbeef), 0);
			uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
			wr16(d + 14 + 4, 0x4242); // outer id
			set_ip_csum(d + 14);
			if (udp_csum)
				set_l4_csum(d + 14, 6);
			Bytes orig = bytes_of(m);
			ASSERT_EQ(rd16(&orig[14 + 20 + 6]) != 0, udp_csum);

			unsigned l3 = OVERLAY_OVERHEAD + 14;
			struct gso_layout lay = {14, (uint16_t)l3, (uint16_t)(l3 + 20), 1400};
			struct rte_mbuf *out[16];
			int n = gso_segment(m, &lay, small, out, 16);
			ASSERT_EQ(n, 8);
			check_segments(orig, s.payload, out, n, 1400, l3, 14);
			EXPECT_EQ(bytes_of(m), orig);
			rte_pktmbuf_free_bulk(out, (unsigned)n);
			rte_pktmbuf_free(m);
		}
	}
}

// CHECKSUM_PARTIAL input (the TCP field holds the pseudo-header sum), or
// garbage: the segments carry full checksums anyway.
TEST_F(Gso, SegmentPartialChecksumInput)
{
	for (bool partial : {true, false}) {
		Seg s;
		s.payload = payload(5000, 9);
		Bytes orig = build(s);
		wr16(&orig[L4 + 16], partial ? pseudo_only(&orig[IP]) : 0xdead);
		struct rte_mbuf *m = mbuf_of(big, orig);
		struct gso_layout lay = {0, IP, L4, 1000};
		struct rte_mbuf *out[8];
		int n = gso_segment(m, &lay, small, out, 8);
		ASSERT_EQ(n, 5);
		expect_plain_segments(orig, s, out, n, 1000);
		rte_pktmbuf_free_bulk(out, (unsigned)n);
		rte_pktmbuf_free(m);
	}
}

// Payloads that fit one segment (or none), the boundary, Ethernet padding.
TEST_F(Gso, SegmentSmall)
{
	struct Case {
		size_t payload, pad;
		uint8_t flags;
		int want;
	} cases[] = {
		{0, 6, FIN | ACK, 1}, {1, 5, ACK | PSH, 1}, {1448, 0, ACK, 1},
		{1449, 0, ACK | PSH, 2}, {2896, 0, CWR | ACK, 2},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.payload);
		Seg s;
		s.flags = c.flags;
		s.payload = payload(c.payload);
		Bytes orig = build(s);
		wr16(&orig[L4 + 16], 0x1234); // fixed whatever it was
		Bytes padded = orig;
		padded.resize(orig.size() + c.pad, 0);
		struct rte_mbuf *m = mbuf_of(big, padded);
		struct gso_layout lay = {0, IP, L4, 1448};
		struct rte_mbuf *out[4];
		int n = gso_segment(m, &lay, small, out, 4);
		ASSERT_EQ(n, c.want);
		expect_plain_segments(orig, s, out, n, 1448);
		rte_pktmbuf_free_bulk(out, (unsigned)n);
		rte_pktmbuf_free(m);
	}
}

TEST_F(Gso, SegmentErrors)
{
	Seg s;
	s.payload = payload(10000);
	const Bytes good = build(s);
	struct rte_mbuf *out[16];
	const struct gso_layout ok = {0, IP, L4, 1448};

	auto run = [&](const Bytes &f, struct gso_layout lay, unsigned max = 16,
		       struct rte_mempool *mp = nullptr) {
		struct rte_mbuf *m = mbuf_of(big, f);
		EXPECT_NE(m, nullptr);
		unsigned before = rte_mempool_avail_count(small);
		int rc = gso_segment(m, &lay, mp ? mp : small, out, max);
		EXPECT_EQ(bytes_of(m), f) << "input modified";
		if (rc < 0) {
			EXPECT_EQ(rte_mempool_avail_count(small), before) << "mbufs kept on error";
		}
		rte_pktmbuf_free(m);
		return rc;
	};
	auto with = [&](std::function<void(Bytes &)> fn) {
		Bytes b = good;
		fn(b);
		return b;
	};

	// Layouts that do not match the frame.
	EXPECT_EQ(run(good, {0, 12, 32, 1448}), -EINVAL);
	EXPECT_EQ(run(good, {0, 15, 35, 1448}), -EINVAL);
	EXPECT_EQ(run(good, {0, 10, L4, 1448}), -EINVAL);
	EXPECT_EQ(run(good, {0, IP, L4 + 4, 1448}), -EINVAL);
	EXPECT_EQ(run(good, {0, IP, L4 - 4, 1448}), -EINVAL);
	EXPECT_EQ(run(good, {0, 60000, 60020, 1448}), -EINVAL);
	EXPECT_EQ(run(good, {14, IP, L4, 1448}), -EINVAL); // not encapsulated
	EXPECT_EQ(run(good, {0, IP, L4, 0}), -EINVAL);     // mss 0
	// Headers + mss beyond the segment pool's data room.
	unsigned room = rte_pktmbuf_data_room_size(small) - RTE_PKTMBUF_HEADROOM;
	EXPECT_EQ(run(good, {0, IP, L4, (uint16_t)(room - 54 + 1)}), -EINVAL);
	struct rte_mbuf *m = mbuf_of(big, good);
	struct gso_layout lay = {0, IP, L4, (uint16_t)(room - 54)};
	int n = gso_segment(m, &lay, small, out, 16);
	EXPECT_EQ(n, 6); // 10000 / 1994, rounded up
	rte_pktmbuf_free_bulk(out, (unsigned)std::max(n, 0));
	rte_pktmbuf_free(m);

	// Frames that do not match their own headers.
	EXPECT_EQ(run(with([](Bytes &b) { wr16(&b[12], 0x86dd); }), ok), -EINVAL);
	EXPECT_EQ(run(with([](Bytes &b) { b[IP] = 0x65; }), ok), -EINVAL);  // version 6
	EXPECT_EQ(run(with([](Bytes &b) { b[IP] = 0x44; }), ok), -EINVAL);  // IHL 4
	EXPECT_EQ(run(with([](Bytes &b) { b[IP] = 0x46; }), ok), -EINVAL);  // IHL 6 vs l4
	EXPECT_EQ(run(with([](Bytes &b) { b[IP + 9] = IPPROTO_UDP; }), ok), -EINVAL);
	EXPECT_EQ(run(with([](Bytes &b) { b[IP + 6] |= 0x20; }), ok), -EINVAL); // MF
	EXPECT_EQ(run(with([](Bytes &b) { b[IP + 7] = 1; }), ok), -EINVAL);     // offset
	EXPECT_EQ(run(with([](Bytes &b) { b[L4 + 12] = 0x40; }), ok), -EINVAL); // doff 4
	EXPECT_EQ(run(with([](Bytes &b) { b.pop_back(); }), ok), -EINVAL); // total > frame
	EXPECT_EQ(run(with([](Bytes &b) { wr16(&b[IP + 2], 39); }), ok), -EINVAL);
	Bytes hdr_only = good;
	hdr_only.resize(L4 + 10);
	wr16(&hdr_only[IP + 2], 30);
	EXPECT_EQ(run(hdr_only, ok), -EINVAL); // TCP header cut short

	// Too many segments needed: -ENOSPC, nothing allocated.
	EXPECT_EQ(run(good, ok, 6), -ENOSPC);
	EXPECT_EQ(run(good, ok, 0), -ENOSPC);
	EXPECT_EQ(run(good, ok, 7), 7);
	rte_pktmbuf_free_bulk(out, 7);

	// The pool runs dry after four: those four are given back.
	struct rte_mempool *tiny = tiny_pool();
	EXPECT_EQ(run(good, ok, 16, tiny), -ENOSPC);
	EXPECT_EQ(rte_mempool_avail_count(tiny), 4u);

	// Encapsulated: outer lengths and headers must match.
	m = mbuf_of(big, good);
	struct overlay_params p = {};
	p.src_ip = htonl(0xc0a80001);
	p.dst_ip = htonl(0xc0a80002);
	p.udp_port = htons(4789);
	p.type = NSDP_OVERLAY_VXLAN;
	ASSERT_EQ(overlay_encap(m, &p, 1), 0);
	const Bytes enc = bytes_of(m);
	rte_pktmbuf_free(m);
	const uint16_t l3 = OVERLAY_OVERHEAD + 14;
	const struct gso_layout eok = {14, l3, (uint16_t)(l3 + 20), 1448};
	EXPECT_EQ(run(enc, eok), 7);
	rte_pktmbuf_free_bulk(out, 7);
	auto enc_with = [&](std::function<void(Bytes &)> fn) {
		Bytes b = enc;
		fn(b);
		return b;
	};
	EXPECT_EQ(run(enc_with([](Bytes &b) { wr16(&b[16], (uint16_t)(rd16(&b[16]) + 1)); }), eok),
		  -EINVAL); // outer total length
	EXPECT_EQ(run(enc_with([](Bytes &b) { wr16(&b[38], (uint16_t)(rd16(&b[38]) - 1)); }), eok),
		  -EINVAL); // UDP length
	EXPECT_EQ(run(enc_with([](Bytes &b) { b[14 + 9] = IPPROTO_TCP; }), eok), -EINVAL);
	EXPECT_EQ(run(enc_with([](Bytes &b) { wr16(&b[12], 0x86dd); }), eok), -EINVAL);
	EXPECT_EQ(run(enc, {14, (uint16_t)(l3 - 2), (uint16_t)(l3 + 18), 1448}), -EINVAL);
	EXPECT_EQ(run(enc, {20, l3, (uint16_t)(l3 + 20), 1448}), -EINVAL);
}

// ---- gso_csum_complete -------------------------------------------------------

TEST_F(Gso, CsumComplete)
{
	// UDP, odd length.
	Bytes u = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0, 0, 0, 0, 1,
		   0x40, 0, 64, IPPROTO_UDP, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
	Bytes data = payload(101, 3);
	put16(u, 5353);
	put16(u, 53);
	put16(u, (uint16_t)(8 + data.size()));
	put16(u, 0);
	u.insert(u.end(), data.begin(), data.end());
	wr16(&u[IP + 2], (uint16_t)(u.size() - IP));
	set_ip_csum(&u[IP]);
	Bytes want = u;
	set_l4_csum(&want[IP], 6);
	wr16(&u[L4 + 6], pseudo_only(&u[IP]));
	ASSERT_EQ(gso_csum_complete(u.data(), (uint32_t)u.size(), L4, 6), 0);
	EXPECT_EQ(u, want);
	EXPECT_TRUE(l4_ok(&u[IP]));

	// A sum that complements to 0 is written 0xffff (0 means "no
	// checksum" to UDP): two payload bytes chosen to make it so.
	Bytes z = want;
	wr16(&z[L4 + 8], 0);
	set_l4_csum(&z[IP], 6);
	wr16(&z[L4 + 8], rd16(&z[L4 + 6]));
	wr16(&z[L4 + 6], pseudo_only(&z[IP]));
	ASSERT_EQ(gso_csum_complete(z.data(), (uint32_t)z.size(), L4, 6), 0);
	EXPECT_EQ(rd16(&z[L4 + 6]), 0xffff);
	EXPECT_TRUE(l4_ok(&z[IP]));

	// TCP, small and near 64 KB.
	for (size_t n : {size_t(1), size_t(1448), size_t(65000)}) {
		Seg s;
		s.f.opts = Bytes(kTimestamps);
		s.payload = payload(n, 11);
		Bytes t = build(s);
		Bytes full = t;
		wr16(&t[L4 + 16], pseudo_only(&t[IP]));
		ASSERT_EQ(gso_csum_complete(t.data(), (uint32_t)t.size(), L4, 16), 0);
		EXPECT_EQ(norm(t), norm(full)) << n;
		EXPECT_TRUE(l4_ok(&t[IP]));
	}

	// The field must lie inside the frame.
	Bytes t = build(Seg{});
	uint32_t len = (uint32_t)t.size();
	EXPECT_EQ(gso_csum_complete(t.data(), len, (uint16_t)len, 0), -EINVAL);
	EXPECT_EQ(gso_csum_complete(t.data(), len, (uint16_t)(len - 1), 0), -EINVAL);
	EXPECT_EQ(gso_csum_complete(t.data(), len, L4, (uint16_t)(len - L4 - 1)), -EINVAL);
	EXPECT_EQ(gso_csum_complete(t.data(), len, L4, 0xffff), -EINVAL);
	EXPECT_EQ(gso_csum_complete(t.data(), len, (uint16_t)(len - 2), 0), 0);
}

// ---- gso_coalesce: the reference merger ------------------------------------

enum Kind { OTHER, TCP, CANDIDATE };

struct Info {
	Kind kind = OTHER;
	Bytes addrs, ports; // ports empty: a later fragment
	size_t tl = 0, thl = 0, plen = 0;
	uint8_t flags = 0;
	uint32_t seq = 0;
};

Info ref_parse(const Bytes &b)
{
	Info in;
	if (b.size() < 34 || rd16(&b[12]) != 0x0800)
		return in;
	const uint8_t *ip = &b[IP];
	if ((ip[0] >> 4) != 4 || ihl(ip) < 20 || ip[9] != IPPROTO_TCP)
		return in;
	in.addrs.assign(ip + 12, ip + 20);
	uint16_t frag = rd16(ip + 6);
	if (frag & 0x1fff) {
		in.kind = TCP;
		return in;
	}
	if (b.size() < IP + ihl(ip) + 20)
		return in;
	const uint8_t *t = ip + ihl(ip);
	in.kind = TCP;
	in.ports.assign(t, t + 4);
	in.tl = rd16(ip + 2);
	in.thl = (t[12] >> 4) * 4u;
	in.flags = t[13];
	in.seq = rd32(t + 4);
	bool cand = ihl(ip) == 20 && !(frag & 0x2000) && in.tl <= b.size() - 14 && in.thl >= 20 &&
		    in.tl > 20 + in.thl && (in.flags == ACK || in.flags == (ACK | PSH)) &&
		    ip_ok(ip);
	if (cand) {
		in.kind = CANDIDATE;
		in.plen = in.tl - 20 - in.thl;
	}
	return in;
}

struct RefOut {
	std::vector<size_t> members; // input indices; one: left as it is
};

// Merge a group of frames as the spec says: the first's headers, all the
// payloads, total length, header checksum, flags ORed, TCP pseudo sum.
Bytes ref_merged(const std::vector<Bytes> &in, const std::vector<size_t> &members)
{
	const Bytes &first = in[members[0]];
	Info f = ref_parse(first);
	Bytes v(first.begin(), first.begin() + (long)(L4 + f.thl));
	uint8_t flags = 0;
	for (size_t i : members) {
		Info s = ref_parse(in[i]);
		v.insert(v.end(), in[i].begin() + (long)(L4 + s.thl),
			 in[i].begin() + (long)(14 + s.tl));
		flags |= s.flags;
	}
	wr16(&v[IP + 2], (uint16_t)(v.size() - 14));
	set_ip_csum(&v[IP]);
	v[L4 + 13] = flags;
	wr16(&v[L4 + 16], pseudo_only(&v[IP]));
	return v;
}

std::vector<RefOut> ref_coalesce(const std::vector<Bytes> &in, uint32_t max_len, bool big_ok)
{
	std::vector<RefOut> outs;
	std::vector<size_t> open; // indices into outs, oldest first
	for (size_t i = 0; i < in.size(); i++) {
		Info s = ref_parse(in[i]);
		if (s.kind == OTHER) {
			outs.push_back({{i}});
			continue;
		}
		bool merged = false;
		for (size_t k = 0; k < open.size();) {
			RefOut &o = outs[open[k]];
			const Bytes &fb = in[o.members[0]];
			Info f = ref_parse(fb);
			if (f.addrs != s.addrs || (!s.ports.empty() && f.ports != s.ports)) {
				k++;
				continue;
			}
			size_t have = 0;
			for (size_t j : o.members)
				have += ref_parse(in[j]).plen;
			const Bytes &sb = in[i];
			bool ok = s.kind == CANDIDATE && big_ok;
			ok = ok && !memcmp(&sb[0], &fb[0], 14);
			ok = ok && sb[IP + 1] == fb[IP + 1] && sb[IP + 8] == fb[IP + 8] &&
			     (sb[IP + 6] & 0x40) == (fb[IP + 6] & 0x40);
			ok = ok && s.seq == f.seq + (uint32_t)have;
			ok = ok && rd32(&sb[L4 + 8]) == rd32(&fb[L4 + 8]) &&
			     rd16(&sb[L4 + 14]) == rd16(&fb[L4 + 14]);
			ok = ok && s.thl == f.thl &&
			     std::equal(&sb[L4 + 20], &sb[L4 + s.thl], &fb[L4 + 20]);
			ok = ok && s.plen <= f.plen;
			ok = ok && 20 + f.thl + have + s.plen <= max_len - 14;
			ok = ok && l4_ok(&sb[IP]) && l4_ok(&fb[IP]);
			if (ok) {
				o.members.push_back(i);
				merged = true;
				if (s.plen == f.plen && !(s.flags & PSH))
					break;
			}
			open.erase(open.begin() + (long)k);
			if (merged)
				break;
		}
		if (merged)
			continue;
		if (s.kind == CANDIDATE && !(s.flags & PSH)) {
			if (open.size() == GSO_COALESCE_FLOWS)
				open.erase(open.begin());
			open.push_back(outs.size());
		}
		outs.push_back({{i}});
	}
	return outs;
}

const uint64_t kRxFlags = RTE_MBUF_F_RX_IP_CKSUM_GOOD; // must survive untouched

// Run gso_coalesce on the frames, compare with the reference (or with the
// groups given), free everything. Returns the merged frames' bytes.
std::vector<Bytes> coalesce_and_check(const std::vector<Bytes> &in,
				      const std::vector<uint16_t> &ports, struct rte_mempool *small,
				      struct rte_mempool *big, uint32_t max_len,
				      const std::vector<std::vector<size_t>> *groups = nullptr)
{
	std::vector<Bytes> merged;
	std::vector<struct rte_mbuf *> pkts, orig;
	for (size_t i = 0; i < in.size(); i++) {
		struct rte_mbuf *m = mbuf_of(small, in[i]);
		EXPECT_NE(m, nullptr);
		if (!m)
			return merged;
		m->port = ports.empty() ? 0 : ports[i];
		m->ol_flags = kRxFlags;
		pkts.push_back(m);
	}
	orig = pkts;
	bool big_ok = rte_mempool_avail_count(big) > 0;
	std::vector<RefOut> ref = ref_coalesce(in, max_len, big_ok);
	if (groups) {
		std::vector<std::vector<size_t>> got;
		for (const RefOut &o : ref)
			got.push_back(o.members);
		EXPECT_EQ(got, *groups) << "the reference merger disagrees with the case";
	}
	unsigned n = gso_coalesce(pkts.data(), (unsigned)pkts.size(), big, max_len);
	EXPECT_EQ(n, ref.size());
	for (unsigned k = 0; k < std::min<size_t>(n, ref.size()); k++) {
		SCOPED_TRACE("output " + std::to_string(k));
		const RefOut &o = ref[k];
		struct rte_mbuf *m = pkts[k];
		if (o.members.size() == 1) {
			EXPECT_EQ(m, orig[o.members[0]]) << "not the same mbuf";
			EXPECT_EQ(bytes_of(m), in[o.members[0]]);
			EXPECT_EQ(m->ol_flags, kRxFlags);
			continue;
		}
		Bytes want = ref_merged(in, o.members);
		Bytes got = bytes_of(m);
		EXPECT_EQ(got, want);
		EXPECT_EQ(m->pkt_len, want.size());
		EXPECT_EQ(m->pool, big);
		EXPECT_EQ(m->ol_flags,
			  RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM);
		EXPECT_EQ(m->tso_segsz, ref_parse(in[o.members[0]]).plen);
		EXPECT_EQ(m->l2_len, 14u);
		EXPECT_EQ(m->l3_len, 20u);
		EXPECT_EQ(m->l4_len, ref_parse(in[o.members[0]]).thl);
		EXPECT_EQ(m->port, ports.empty() ? 0 : ports[o.members[0]]);
		// Completed as the kernel would, a valid TCP checksum.
		EXPECT_EQ(gso_csum_complete(got.data(), (uint32_t)got.size(), L4, 16), 0);
		EXPECT_TRUE(l4_ok(&got[IP]));
		merged.push_back(got);
	}
	rte_pktmbuf_free_bulk(pkts.data(), n);
	return merged;
}

// A flow's segments of the given payload lengths, in sequence.
std::vector<Seg> stream(const Flow &f, std::vector<size_t> plens, uint32_t seq = 1000)
{
	std::vector<Seg> v;
	for (size_t i = 0; i < plens.size(); i++) {
		Seg s{f};
		s.seq = seq;
		s.id = (uint16_t)(0x500 + i);
		s.payload = payload(plens[i], (unsigned)(seq + i));
		seq += (uint32_t)plens[i];
		v.push_back(s);
	}
	return v;
}

std::vector<Bytes> build_all(const std::vector<Seg> &v)
{
	std::vector<Bytes> b;
	for (const Seg &s : v)
		b.push_back(build(s));
	return b;
}

// ---- gso_coalesce ----------------------------------------------------------

TEST_F(Gso, CoalesceOneFlow)
{
	Flow f;
	f.opts = Bytes(kTimestamps);
	std::vector<Seg> segs = stream(f, {1448, 1448, 1448, 1448, 1448, 1448, 1000});
	segs.back().flags = ACK | PSH;
	// The frame the segments came from: one seq, the first id, ACK|PSH.
	Seg whole = segs[0];
	whole.flags = ACK | PSH;
	whole.payload.clear();
	for (const Seg &s : segs)
		whole.payload.insert(whole.payload.end(), s.payload.begin(), s.payload.end());
	Bytes orig = build(whole);

	std::vector<Bytes> in = build_all(segs);
	std::vector<uint16_t> ports(in.size(), 7);
	std::vector<std::vector<size_t>> groups = {{0, 1, 2, 3, 4, 5, 6}};
	std::vector<Bytes> m = coalesce_and_check(in, ports, small, big, 65535, &groups);
	ASSERT_EQ(m.size(), 1u);
	EXPECT_EQ(norm(m[0]), norm(orig));
	// Before completion, the field held the pseudo-header sum only.
	Bytes partial = orig;
	wr16(&partial[L4 + 16], pseudo_only(&orig[IP]));
	std::vector<struct rte_mbuf *> pkts;
	for (const Bytes &b : in)
		pkts.push_back(mbuf_of(small, b));
	ASSERT_EQ(gso_coalesce(pkts.data(), (unsigned)pkts.size(), big, 65535), 1u);
	EXPECT_EQ(bytes_of(pkts[0]), partial);
	EXPECT_EQ(pkts[0]->tso_segsz, 1448);
	EXPECT_EQ(pkts[0]->l4_len, 32);
	rte_pktmbuf_free(pkts[0]);
}

TEST_F(Gso, CoalesceInterleavedFlowsAndArp)
{
	Flow a, b;
	b.sport = 40001;
	std::vector<Bytes> sa = build_all(stream(a, {1000, 1000, 1000}));
	std::vector<Bytes> sb = build_all(stream(b, {500, 500, 500}, 77));
	Bytes arp = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 9, 0x08, 0x06};
	arp.resize(60, 0x11);
	Seg tagged = stream(a, {1000, 1000, 1000, 1000})[3];
	tagged.vlan = 10;
	// A1 B1 ARP A2 B2 VLAN(A) A3 B3
	std::vector<Bytes> in = {sa[0], sb[0], arp, sa[1], sb[1], build(tagged), sa[2], sb[2]};
	std::vector<std::vector<size_t>> groups = {{0, 3, 6}, {1, 4, 7}, {2}, {5}};
	std::vector<uint16_t> ports = {1, 2, 3, 4, 5, 6, 7, 8};
	std::vector<Bytes> m = coalesce_and_check(in, ports, small, big, 65535, &groups);
	ASSERT_EQ(m.size(), 2u);
	EXPECT_EQ(rd32(&m[0][L4 + 4]), 1000u);
	EXPECT_EQ(m[0].size(), 54u + 3000);
	EXPECT_EQ(rd32(&m[1][L4 + 4]), 77u);
	EXPECT_EQ(m[1].size(), 54u + 1500);
}

// Segments 0..3 of one flow, one thing changed: where merging stops.
TEST_F(Gso, CoalesceStops)
{
	using Groups = std::vector<std::vector<size_t>>;
	struct Case {
		const char *name;
		std::function<void(std::vector<Seg> &)> change;
		Groups groups;
		uint32_t max_len = 65535;
	};
	const size_t M = 1448;
	auto shift = [](std::vector<Seg> &v, size_t from, int32_t by) {
		for (size_t i = from; i < v.size(); i++)
			v[i].seq += (uint32_t)by;
	};
	auto resize = [&](std::vector<Seg> &v, size_t i, size_t n) {
		int32_t d = (int32_t)n - (int32_t)v[i].payload.size();
		v[i].payload.resize(n, 0x5a);
		shift(v, i + 1, d);
	};
	const Groups split2 = {{0, 1}, {2, 3}}, alone2 = {{0, 1}, {2}, {3}};
	std::vector<Case> cases = {
		{"nothing", [](std::vector<Seg> &) {}, {{0, 1, 2, 3}}},
		{"gap", [&](std::vector<Seg> &v) { shift(v, 2, 100); }, split2},
		{"seq behind", [&](std::vector<Seg> &v) { shift(v, 2, -1); }, split2},
		{"other ack",
		 [](std::vector<Seg> &v) {
			 v[2].f.ack++;
			 v[3].f.ack++;
		 },
		 split2},
		{"other window", [](std::vector<Seg> &v) { v[2].f.win++; }, alone2},
		{"SYN", [](std::vector<Seg> &v) { v[2].flags = SYN | ACK; }, alone2},
		{"FIN", [](std::vector<Seg> &v) { v[2].flags = FIN | ACK; }, alone2},
		{"RST", [](std::vector<Seg> &v) { v[2].flags = RST | ACK; }, alone2},
		{"CWR", [](std::vector<Seg> &v) { v[2].flags = CWR | ACK; }, alone2},
		{"no ACK", [](std::vector<Seg> &v) { v[2].flags = PSH; }, alone2},
		{"pure ACK", [&](std::vector<Seg> &v) { resize(v, 2, 0); }, alone2},
		{"other option bytes", [](std::vector<Seg> &v) { v[2].f.opts[11] ^= 1; }, alone2},
		{"other option length", [](std::vector<Seg> &v) { v[2].f.opts.resize(4, 1); },
		 alone2},
		{"bad TCP checksum", [](std::vector<Seg> &v) { v[2].bad_tcp = true; }, alone2},
		{"bad TCP checksum first", [](std::vector<Seg> &v) { v[0].bad_tcp = true; },
		 {{0}, {1, 2, 3}}},
		{"bad TCP checksum second", [](std::vector<Seg> &v) { v[1].bad_tcp = true; },
		 {{0}, {1}, {2, 3}}},
		{"bad IP checksum", [](std::vector<Seg> &v) { v[2].bad_ip = true; }, alone2},
		{"shorter non-last", [&](std::vector<Seg> &v) { resize(v, 1, 1000); }, split2},
		{"shorter last", [&](std::vector<Seg> &v) { resize(v, 3, 1); }, {{0, 1, 2, 3}}},
		// Longer than the first: starts a frame whose mss it is; the next,
		// shorter than that, joins and closes it.
		{"longer", [&](std::vector<Seg> &v) { resize(v, 1, M + 1); }, {{0}, {1, 2}, {3}}},
		{"PSH", [](std::vector<Seg> &v) { v[1].flags = ACK | PSH; }, split2},
		{"PSH first", [](std::vector<Seg> &v) { v[0].flags = ACK | PSH; },
		 {{0}, {1, 2, 3}}},
		{"max_len", [](std::vector<Seg> &) {}, {{0, 1, 2}, {3}}, 14 + 52 + 3 * M},
		{"max_len short", [](std::vector<Seg> &) {}, {{0}, {1}, {2}, {3}}, 14 + 52 + M},
		{"other TOS", [](std::vector<Seg> &v) { v[2].f.tos = 4; }, alone2},
		{"other TTL", [](std::vector<Seg> &v) { v[2].f.ttl = 63; }, alone2},
		{"DF clear", [](std::vector<Seg> &v) { v[2].frag = 0; }, alone2},
		{"MF", [](std::vector<Seg> &v) { v[2].frag = 0x2000; }, alone2},
		{"later fragment", [](std::vector<Seg> &v) { v[2].frag = 0x00b9; }, alone2},
		{"IP options", [](std::vector<Seg> &v) { v[2].ipopts = {1, 1, 1, 0}; }, alone2},
		{"other MAC", [](std::vector<Seg> &v) { v[2].f.smac[5] ^= 1; }, alone2},
		// Not the flow's frame as far as L2 goes: left in place, the
		// next segment then has a gap.
		{"VLAN tag", [](std::vector<Seg> &v) { v[2].vlan = 3; }, alone2},
		// Inserted between 0 and 1: another flow's segment passes; a later
		// fragment between the same hosts (its ports unknown) closes.
		{"other flow between",
		 [](std::vector<Seg> &v) {
			 Seg o = v[0];
			 o.f.dport = 1;
			 v.insert(v.begin() + 1, o);
		 },
		 {{0, 2, 3, 4}, {1}}},
		{"later fragment between",
		 [](std::vector<Seg> &v) {
			 Seg o = v[0];
			 o.f.sport = 1;
			 o.frag = 0x0010;
			 v.insert(v.begin() + 1, o);
		 },
		 {{0}, {1}, {2, 3, 4}}},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.name);
		Flow f;
		f.opts = Bytes(kTimestamps);
		std::vector<Seg> segs = stream(f, {M, M, M, M});
		c.change(segs);
		coalesce_and_check(build_all(segs), {}, small, big, c.max_len, &c.groups);
	}
}

TEST_F(Gso, CoalesceManyFlows)
{
	// Ten flows, each 3 segments, round robin: with 8 open at a time, the
	// oldest are closed to make room and get no further segments.
	std::vector<std::vector<Bytes>> fl;
	for (uint16_t k = 0; k < 10; k++) {
		Flow f;
		f.sport = (uint16_t)(1000 + k);
		fl.push_back(build_all(stream(f, {600, 600, 600})));
	}
	std::vector<Bytes> in;
	for (size_t r = 0; r < 3; r++)
		for (auto &s : fl)
			in.push_back(s[r]);
	coalesce_and_check(in, {}, small, big, 65535);
	// Eight flows: all merge.
	in.clear();
	for (size_t r = 0; r < 3; r++)
		for (size_t k = 0; k < 8; k++)
			in.push_back(fl[k][r]);
	std::vector<Bytes> m = coalesce_and_check(in, {}, small, big, 65535);
	EXPECT_EQ(m.size(), 8u);
}

TEST_F(Gso, CoalesceBigPoolEmpty)
{
	struct rte_mempool *tiny = tiny_pool();
	struct rte_mbuf *hold[4];
	ASSERT_EQ(rte_pktmbuf_alloc_bulk(tiny, hold, 4), 0);
	Flow f;
	std::vector<Bytes> in = build_all(stream(f, {1000, 1000, 1000}));
	const std::vector<std::vector<size_t>> alone = {{0}, {1}, {2}};
	std::vector<Bytes> m = coalesce_and_check(in, {}, small, tiny, 65535, &alone);
	EXPECT_TRUE(m.empty());
	rte_pktmbuf_free_bulk(hold, 4);
	// One left: the first flow merges, the second cannot.
	ASSERT_EQ(rte_pktmbuf_alloc_bulk(tiny, hold, 3), 0);
	Flow g;
	g.dport = 1;
	std::vector<Bytes> in2 = build_all(stream(g, {1000, 1000}));
	std::vector<struct rte_mbuf *> pkts;
	for (const Bytes &b : in)
		pkts.push_back(mbuf_of(small, b));
	for (const Bytes &b : in2)
		pkts.push_back(mbuf_of(small, b));
	struct rte_mbuf *second = pkts[3];
	ASSERT_EQ(gso_coalesce(pkts.data(), 5, tiny, 65535), 3u);
	EXPECT_EQ(pkts[0]->pool, tiny);
	EXPECT_EQ(pkts[1], second);
	rte_pktmbuf_free_bulk(pkts.data(), 3);
	rte_pktmbuf_free_bulk(hold, 3);
}

// ---- random comparisons ----------------------------------------------------

// Random frames -> gso_segment (compared with the builder's segments) ->
// gso_coalesce -> the frame again.
TEST_F(Gso, RandomRoundTrip)
{
	std::mt19937 rng(20240611);
	struct rte_mbuf *out[160];
	for (int iter = 0; iter < 500; iter++) {
		SCOPED_TRACE("iteration " + std::to_string(iter));
		Seg s;
		s.f.saddr = rng();
		s.f.daddr = rng();
		s.f.sport = (uint16_t)rng();
		s.f.dport = (uint16_t)rng();
		s.f.ack = rng();
		s.f.win = (uint16_t)rng();
		s.f.ttl = (uint8_t)(1 + rng() % 255);
		if (rng() & 1)
			s.f.opts = random_bytes(rng, 12);
		s.seq = rng();
		s.id = (uint16_t)rng();
		s.flags = rng() & 1 ? ACK : ACK | PSH;
		size_t n = 1 + rng() % 60000;
		if (iter % 10 == 0)
			n = 1 + rng() % 3000; // often a single segment
		s.payload = random_bytes(rng, n);
		uint16_t mss = (uint16_t)(536 + rng() % (1460 - 536 + 1));
		Bytes orig = build(s);
		struct rte_mbuf *m = mbuf_of(big, orig);
		ASSERT_NE(m, nullptr);
		m->port = (uint16_t)(iter & 15);

		// A third inside VXLAN, half of those with an outer UDP checksum.
		unsigned encap = rng() % 3, l3 = IP;
		if (encap) {
			struct overlay_params p = {};
			p.src_ip = rng();
			p.dst_ip = rng();
			p.udp_port = htons(4789);
			p.type = NSDP_OVERLAY_VXLAN;
			p.vni = rng() & 0xffffff;
			ASSERT_EQ(overlay_encap(m, &p, rng()), 0);
			uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
			wr16(d + 18, (uint16_t)rng());
			set_ip_csum(d + 14);
			if (encap == 2)
				set_l4_csum(d + 14, 6);
			l3 = OVERLAY_OVERHEAD + 14;
		}
		Bytes input = bytes_of(m);
		struct gso_layout lay = {(uint16_t)(encap ? 14 : 0), (uint16_t)l3,
					 (uint16_t)(l3 + 20), mss};
		int k = gso_segment(m, &lay, small, out, 160);
		ASSERT_EQ(k, (int)((n + mss - 1) / mss));
		EXPECT_EQ(bytes_of(m), input);
		rte_pktmbuf_free(m);
		check_segments(input, s.payload, out, k, mss, l3, encap ? 14 : 0);
		std::vector<Bytes> ref = ref_segments(s, mss);
		for (int i = 0; i < k; i++) {
			Bytes seg = bytes_of(out[i]);
			EXPECT_EQ(Bytes(seg.begin() + l3 - IP, seg.end()), ref[i])
				<< "segment " << i;
			EXPECT_EQ(out[i]->port, iter & 15);
		}
		if (encap) {
			rte_pktmbuf_free_bulk(out, (unsigned)k);
			continue;
		}
		struct rte_mbuf *first = out[0];
		unsigned c = gso_coalesce(out, (unsigned)k, big, 65535);
		ASSERT_EQ(c, 1u);
		Bytes back = bytes_of(out[0]);
		if (k == 1) {
			EXPECT_EQ(out[0], first);
			EXPECT_EQ(back, orig);
		} else {
			EXPECT_EQ(out[0]->tso_segsz, mss);
			EXPECT_EQ(out[0]->port, iter & 15);
			ASSERT_EQ(gso_csum_complete(back.data(), (uint32_t)back.size(), L4, 16), 0);
			EXPECT_EQ(norm(back), norm(orig));
		}
		rte_pktmbuf_free(out[0]);
	}
}

// Random streams of several flows (sharing addresses and ports now and then),
// with every kind of disturbance, interleaved with other frames: gso_coalesce
// against the reference merger.
TEST_F(Gso, RandomInterleavedVsReference)
{
	std::mt19937 rng(777);
	size_t merged_total = 0;
	for (int burst = 0; burst < 400; burst++) {
		SCOPED_TRACE("burst " + std::to_string(burst));
		std::vector<std::vector<Seg>> streams;
		std::vector<uint16_t> port_of;
		unsigned nflows = 1 + rng() % 12;
		for (unsigned k = 0; k < nflows; k++) {
			Flow f;
			f.saddr = 0x0a000001 + rng() % 2;
			f.sport = (uint16_t)(1000 + rng() % 6);
			if (rng() % 2)
				f.opts = Bytes(kTimestamps);
			uint32_t seq = rng();
			size_t mss = 536 + rng() % (1460 - 536 + 1);
			unsigned nseg = 1 + rng() % 10;
			std::vector<Seg> v;
			for (unsigned i = 0; i < nseg; i++) {
				Seg s{f};
				s.seq = seq;
				s.id = (uint16_t)rng();
				s.payload = random_bytes(rng, mss);
				switch (rng() % 48) {
				case 0: s.payload.resize(1 + rng() % (mss - 1)); break;
				case 1: s.payload.resize(mss + 1 + rng() % 40, 7); break;
				case 2: s.flags |= PSH; break;
				case 3: s.seq += 1 + rng() % 3000; break;
				case 4: f.ack += 1448; s.f.ack = f.ack; break;
				case 5: s.f.win ^= 1; break;
				case 6: s.flags = SYN | ACK; break;
				case 7: s.flags = FIN | ACK; break;
				case 8: s.flags = RST | ACK; break;
				case 9: s.payload.clear(); break;
				case 10: s.f.opts = random_bytes(rng, 12); break;
				case 11:
					f.opts = random_bytes(rng, 12);
					s.f.opts = Bytes(f.opts);
					break;
				case 12: s.bad_tcp = true; break;
				case 13: s.bad_ip = true; break;
				case 14: s.f.tos = 4; break;
				case 15: s.f.ttl = 63; break;
				case 16: s.frag = 0; break;
				case 17: s.frag = 0x2000; break;
				case 18: s.frag = 0x00b9; break;
				case 19: s.ipopts = {1, 1, 1, 0}; break;
				case 20: s.vlan = 5; break;
				case 21: s.flags |= CWR; break;
				case 22: s.f.smac[5] ^= 1; break;
				case 23:
					s.payload.resize(1 + rng() % (mss - 1));
					s.flags |= PSH;
					break;
				default: break;
				}
				seq = s.seq + (uint32_t)s.payload.size();
				v.push_back(s);
			}
			streams.push_back(v);
			port_of.push_back((uint16_t)(rng() % 4));
		}
		// Interleave, keeping each stream's order; other frames among them.
		std::vector<unsigned> order;
		for (unsigned k = 0; k < nflows; k++)
			order.insert(order.end(), streams[k].size(), k);
		unsigned others = rng() % 4;
		order.insert(order.end(), others, ~0u);
		std::shuffle(order.begin(), order.end(), rng);
		std::vector<size_t> next(nflows, 0);
		std::vector<Bytes> in;
		std::vector<uint16_t> ports;
		for (unsigned k : order) {
			if (k == ~0u) {
				Bytes o = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 9};
				put16(o, rng() % 2 ? 0x0806 : 0x86dd);
				o.resize(14 + 28 + rng() % 100, (uint8_t)rng());
				in.push_back(o);
				ports.push_back(9);
				continue;
			}
			in.push_back(build(streams[k][next[k]++]));
			ports.push_back(port_of[k]);
		}
		uint32_t max_len = rng() % 2 ? 65535 : 100 + rng() % 20000;
		merged_total += coalesce_and_check(in, ports, small, big, max_len).size();
		if (HasFailure())
			break;
	}
	EXPECT_GT(merged_total, 500u) << "the random bursts merged too little to test much";
}

} // namespace
