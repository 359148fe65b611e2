// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of the packet path (dataplane/worker.c): a `struct dp` is built
// by hand around a parsed configuration, with three fake ports (uplink,
// pod0, pod1) that never run; dp_process_burst() is called directly and the
// test inspects what it queued on w->tx[] and which drop counters moved.
// Bursts stay small (<= 8 packets per port) so the 64-packet TX buffers
// never flush into rte_eth_tx_burst() on ports that do not exist.
//
// Every call checks that each packet fed was either queued or counted as a
// drop, and every test checks that no mbuf leaked.
#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "dp_fixture.h"

namespace {

// ---- addresses ---------------------------------------------------------------

const Mac kPod0Mac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x02}};
const Mac kPod1Mac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x03}};
const Mac kPod0bMac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x04}};
const Mac kBcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

const uint32_t kGw = ip4("169.254.1.1");
const uint32_t kPod0 = ip4("10.244.1.2");  // on pod0
const uint32_t kPod1 = ip4("10.244.1.3");  // on pod1
const uint32_t kPod0b = ip4("10.244.1.4"); // a second address on pod0
const uint32_t kRemote = ip4("10.244.2.5"); // behind node-b

uint32_t rd32n(const uint8_t *p) // network order in, network order out
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

// A TCP frame from a pod: Ethernet to the gateway MAC.
Bytes pod_tcp(const Mac &src_mac, uint32_t src, uint32_t dst, uint16_t sp = 40000,
	      uint16_t dp = 80, uint8_t flags = SYN, uint8_t ttl = 64, size_t plen = 12)
{
	return eth(kGwMac, src_mac, 0x0800, ipv4(src, dst, IPPROTO_TCP, tcp(sp, dp, flags, plen), ttl));
}

Bytes pod_udp(const Mac &src_mac, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp,
	      size_t plen = 20)
{
	return eth(kGwMac, src_mac, 0x0800, ipv4(src, dst, IPPROTO_UDP, udp(sp, dp, payload(plen))));
}

Bytes arp(uint16_t op, const Mac &sha, uint32_t spa, const Mac &tha, uint32_t tpa)
{
	Bytes v;
	put16(v, 1);
	put16(v, 0x0800);
	v.push_back(6);
	v.push_back(4);
	put16(v, op);
	append(v, sha.b, 6);
	append(v, &spa, 4);
	append(v, tha.b, 6);
	append(v, &tpa, 4);
	return v;
}

// ---- the harness -----------------------------------------------------------

struct Opts {
	const char *overlay = "vxlan";
	unsigned ct_size = 4096;
};

std::string config_text(const Opts &o)
{
	return dp_config_text(o.overlay, o.ct_size);
}

class Worker : public DpFixture {
protected:
	void SetUp() override
	{
		baseline_ = shim_pool_in_use();
		Start(Opts());
	}

	void Start(const Opts &o)
	{
		BuildDp(config_text(o), 1);
		if (HasFatalFailure())
			return;
		ASSERT_EQ(dp_->cfg.vtep_ip, kVtep);
		ASSERT_EQ(dp_->cfg.vni, 7u);
		ASSERT_EQ(dp_->cfg.mtu, 1500u);
		ASSERT_EQ(dp_->cfg.gateway_ip, kGw);
		ASSERT_EQ(memcmp(dp_->cfg.gateway_mac, kGwMac.b, 6), 0);
		memcpy(dp_->ports[POD0].mac.addr_bytes, "\x02\x00\x00\x00\x00\x10", 6);
		memcpy(dp_->ports[POD1].mac.addr_bytes, "\x02\x00\x00\x00\x00\x11", 6);

		Vtep("192.168.100.2", kPeerMac);
		Route("10.244.1.0", 24, nullptr);
		Route("10.244.2.0", 24, "192.168.100.2");
		Route("10.244.3.0", 24, "192.168.100.9"); // VTEP never announced
		Endpoint(kPod0, "pod0", kPod0Mac, 100);
		Endpoint(kPod1, "pod1", kPod1Mac, 200);
		Endpoint(kPod0b, "pod0", kPod0bMac, 100);
		Publish();
	}

	void Stop() { FreeDp(); }

	void Restart(const Opts &o)
	{
		Stop();
		Start(o);
	}

	Bytes Tx(unsigned port, unsigned i) const
	{
		EXPECT_LT(i, (unsigned)w_->tx[port].n);
		if (i >= w_->tx[port].n)
			return {};
		const struct rte_mbuf *m = w_->tx[port].pkts[i];
		EXPECT_EQ(m->nb_segs, 1);
		EXPECT_EQ(rte_pktmbuf_pkt_len(m), rte_pktmbuf_data_len(m));
		const uint8_t *d;
		unsigned n = shim_mbuf_data(m, &d);
		return Bytes(d, d + n);
	}

	// Drop counters since the last Mark().
	void Mark() { memcpy(mark_, st_->drops, sizeof(mark_)); }
	std::map<std::string, uint64_t> DropsSinceMark() const
	{
		std::map<std::string, uint64_t> out;
		for (unsigned r = 0; r < NSDP_DROP_MAX; r++)
			if (st_->drops[r] != mark_[r])
				out[nsdp_drop_name(r)] = st_->drops[r] - mark_[r];
		return out;
	}

	// Feed one frame that must be dropped, and only under `reason`.
	void ExpectDrop(unsigned in, const Bytes &frame, unsigned reason, const char *what)
	{
		SCOPED_TRACE(what);
		Mark();
		unsigned q0 = Queued();
		Feed(in, frame);
		EXPECT_EQ(Queued(), q0) << what << ": was forwarded";
		std::map<std::string, uint64_t> want = {{nsdp_drop_name(reason), 1}};
		EXPECT_EQ(DropsSinceMark(), want) << what;
		FreeTx();
	}

	// An encapsulated frame as node-b sends it to this node.
	Bytes FromPeer(const Bytes &inner, uint32_t vni = 7, uint32_t outer_src = 0,
		       uint32_t outer_dst = 0, int dport = -1)
	{
		bool geneve = dp_->cfg.overlay == NSDP_OVERLAY_GENEVE;
		Bytes t = geneve ? geneve_hdr(vni) : vxlan_hdr(vni);
		append(t, inner);
		uint16_t port = dport >= 0 ? (uint16_t)dport : (geneve ? 6081 : 4789);
		return eth(kUplinkMac, kPeerMac, 0x0800,
			   ipv4(outer_src ? outer_src : kPeerVtep, outer_dst ? outer_dst : kVtep,
				IPPROTO_UDP, udp(51234, port, t)));
	}

	// The inner frame node-b sends: to our gateway MAC, as our encap does.
	Bytes Inner(uint32_t src, uint32_t dst, uint8_t ttl = 64, uint16_t sp = 5555,
		    uint16_t dp = 80, uint8_t flags = SYN)
	{
		return eth(kGwMac, kGwMac, 0x0800, ipv4(src, dst, IPPROTO_TCP, tcp(sp, dp, flags), ttl));
	}

	uint64_t mark_[NSDP_DROP_MAX] = {};
};

// Checks a routed IPv4 packet: same bytes as `sent` except the TTL (one
// less) and the checksum, which must be valid.
void ExpectRouted(const uint8_t *got_ip, const uint8_t *sent_ip, size_t len)
{
	EXPECT_EQ(got_ip[8], sent_ip[8] - 1) << "TTL";
	EXPECT_EQ(ref_csum(got_ip, (got_ip[0] & 0xf) * 4u), 0) << "IPv4 checksum";
	Bytes a(got_ip, got_ip + len), b(sent_ip, sent_ip + len);
	a[8] = b[8] = 0;
	a[10] = a[11] = b[10] = b[11] = 0;
	EXPECT_EQ(a, b) << "IP packet changed beyond TTL and checksum";
}

// ---- forwarding --------------------------------------------------------------

TEST_F(Worker, PodToLocalPod)
{
	Bytes f = pod_tcp(kPod0Mac, kPod0, kPod1);
	Feed(POD0, f);
	ASSERT_EQ(w_->tx[POD1].n, 1);
	EXPECT_EQ(Queued(), 1u);
	EXPECT_EQ(Dropped(), 0u);
	Bytes o = Tx(POD1, 0);
	ASSERT_EQ(o.size(), f.size());
	EXPECT_EQ(memcmp(&o[0], kPod1Mac.b, 6), 0) << "dst MAC = the endpoint's";
	EXPECT_EQ(memcmp(&o[6], kGwMac.b, 6), 0) << "src MAC = the gateway's";
	EXPECT_EQ(rd16(&o[12]), 0x0800);
	ExpectRouted(&o[14], &f[14], f.size() - 14);

	// The other way, and pod0's second address.
	FreeTx();
	Feed(POD1, {pod_tcp(kPod1Mac, kPod1, kPod0, 80, 40000, SYNACK),
		    pod_tcp(kPod1Mac, kPod1, kPod0b, 81, 40001)});
	ASSERT_EQ(w_->tx[POD0].n, 2);
	EXPECT_EQ(memcmp(&Tx(POD0, 0)[0], kPod0Mac.b, 6), 0);
	EXPECT_EQ(memcmp(&Tx(POD0, 1)[0], kPod0bMac.b, 6), 0);
	EXPECT_EQ(Dropped(), 0u);
}

TEST_F(Worker, VlanTagIsStripped)
{
	Bytes f = eth(kGwMac, kPod0Mac, 0x0800,
		      ipv4(kPod0, kPod1, IPPROTO_UDP, udp(1000, 53, payload(30))), 42);
	Feed(POD0, f);
	ASSERT_EQ(w_->tx[POD1].n, 1);
	Bytes o = Tx(POD1, 0);
	ASSERT_EQ(o.size(), f.size() - 4);
	EXPECT_EQ(rd16(&o[12]), 0x0800);
	EXPECT_EQ(memcmp(&o[0], kPod1Mac.b, 6), 0);
	ExpectRouted(&o[14], &f[18], f.size() - 18);
}

class WorkerOverlay : public Worker, public ::testing::WithParamInterface<const char *> {
protected:
	void SetUp() override
	{
		Worker::SetUp();
		Opts o;
		o.overlay = GetParam();
		Restart(o);
	}
	bool geneve() const { return dp_->cfg.overlay == NSDP_OVERLAY_GENEVE; }
};

TEST_P(WorkerOverlay, PodToRemotePodIsEncapsulated)
{
	Bytes f = pod_tcp(kPod0Mac, kPod0, kRemote, 40000, 443, SYN, 64, 100);
	f[0] = 0x02; // a stale neighbour entry in the pod: any dst MAC is routed
	struct pkt_info pi;
	ASSERT_EQ(pkt_parse(f.data(), (uint32_t)f.size(), &pi), 0);
	const uint32_t hash = overlay_flow_hash(&pi);

	Feed(POD0, f);
	ASSERT_EQ(w_->tx[UPLINK].n, 1) << ::testing::PrintToString(DropsSinceMark());
	Bytes o = Tx(UPLINK, 0);
	ASSERT_EQ(o.size(), f.size() + 50);
	EXPECT_EQ(memcmp(&o[0], kPeerMac.b, 6), 0) << "outer dst MAC = the VTEP's";
	EXPECT_EQ(memcmp(&o[6], kUplinkMac.b, 6), 0) << "outer src MAC = the uplink's";
	EXPECT_EQ(rd16(&o[12]), 0x0800);
	const uint8_t *ip = &o[14];
	EXPECT_EQ(ip[0], 0x45);
	EXPECT_EQ(rd16(ip + 2), f.size() + 36);
	EXPECT_EQ(rd16(ip + 6), 0x4000);
	EXPECT_EQ(ip[8], 64);
	EXPECT_EQ(ip[9], IPPROTO_UDP);
	EXPECT_EQ(ref_csum(ip, 20), 0);
	EXPECT_EQ(rd32n(ip + 12), kVtep) << "outer src = this node's VTEP";
	EXPECT_EQ(rd32n(ip + 16), kPeerVtep) << "outer dst = the route's VTEP";
	const uint8_t *u = ip + 20;
	EXPECT_EQ(rd16(u), 0xc000 | (hash & 0x3fff)) << "source port from the inner flow hash";
	EXPECT_EQ(rd16(u + 2), geneve() ? 6081 : 4789);
	EXPECT_EQ(rd16(u + 4), f.size() + 16);
	EXPECT_EQ(rd16(u + 6), 0);
	const uint8_t *h = u + 8;
	if (geneve()) {
		EXPECT_EQ(h[0], 0);
		EXPECT_EQ(h[1], 0);
		EXPECT_EQ(rd16(h + 2), 0x6558);
	} else {
		EXPECT_EQ(h[0], 0x08);
	}
	EXPECT_EQ((uint32_t)(h[4] << 16 | h[5] << 8 | h[6]), 7u) << "VNI";
	const uint8_t *in = h + 8;
	EXPECT_EQ(memcmp(in, kGwMac.b, 6), 0) << "inner dst MAC";
	EXPECT_EQ(memcmp(in + 6, kGwMac.b, 6), 0) << "inner src MAC";
	EXPECT_EQ(rd16(in + 12), 0x0800);
	ExpectRouted(in + 14, &f[14], f.size() - 14);
	EXPECT_EQ(Dropped(), 0u);

	// The reply comes back through the tunnel and hits the same entry.
	Bytes r = FromPeer(Inner(kRemote, kPod0, 64, 443, 40000, SYNACK));
	Feed(UPLINK, r);
	EXPECT_EQ(w_->tx[POD0].n, 1) << ::testing::PrintToString(DropsSinceMark());
	EXPECT_EQ(ct_count(dp_->ct), 1u);
}

TEST_P(WorkerOverlay, UplinkDecapToPod)
{
	Bytes inner = Inner(kRemote, kPod1, 30);
	Bytes f = FromPeer(inner);
	Feed(UPLINK, f);
	ASSERT_EQ(w_->tx[POD1].n, 1) << ::testing::PrintToString(DropsSinceMark());
	EXPECT_EQ(Dropped(), 0u);
	Bytes o = Tx(POD1, 0);
	ASSERT_EQ(o.size(), inner.size());
	EXPECT_EQ(memcmp(&o[0], kPod1Mac.b, 6), 0);
	EXPECT_EQ(memcmp(&o[6], kGwMac.b, 6), 0);
	EXPECT_EQ(rd16(&o[12]), 0x0800);
	ExpectRouted(&o[14], &inner[14], inner.size() - 14);

	// Ethernet padding on the outer frame is not delivered to the pod.
	FreeTx();
	Bytes small = Inner(kRemote, kPod0, 64, 7, 7);
	Bytes padded = FromPeer(small);
	padded.resize(padded.size() + 9, 0);
	Feed(UPLINK, padded);
	ASSERT_EQ(w_->tx[POD0].n, 1);
	EXPECT_EQ(Tx(POD0, 0).size(), small.size());
}

TEST_P(WorkerOverlay, EncapThenDecapOnTheOtherNode)
{
	// This node encapsulates to node-b; node-b (a second harness with the
	// roles swapped) must accept it and deliver it to its pod.
	Bytes f = pod_tcp(kPod0Mac, kPod0, kRemote, 12345, 80, SYN, 64, 64);
	Feed(POD0, f);
	ASSERT_EQ(w_->tx[UPLINK].n, 1);
	Bytes wire = Tx(UPLINK, 0);
	FreeTx();

	// Reconfigure as node-b: VTEP .2, peer .1, 10.244.2.0/24 local.
	Opts o;
	o.overlay = GetParam();
	Restart(o);
	dp_->cfg.vtep_ip = kPeerVtep;
	dp_state_clear(&dp_->state);
	Vtep("192.168.100.1", kUplinkMac);
	Route("10.244.2.0", 24, nullptr);
	Route("10.244.1.0", 24, "192.168.100.1");
	Endpoint(kRemote, "pod1", kPod1Mac, 300);
	Publish();
	Feed(UPLINK, wire);
	ASSERT_EQ(w_->tx[POD1].n, 1) << ::testing::PrintToString(DropsSinceMark());
	Bytes got = Tx(POD1, 0);
	ASSERT_EQ(got.size(), f.size());
	EXPECT_EQ(memcmp(&got[0], kPod1Mac.b, 6), 0);
	EXPECT_EQ(got[14 + 8], 62) << "one hop on each node";
	EXPECT_EQ(ref_csum(&got[14], 20), 0);
	EXPECT_EQ(Bytes(got.begin() + 34, got.end()), Bytes(f.begin() + 34, f.end()));
}

INSTANTIATE_TEST_SUITE_P(Overlays, WorkerOverlay, ::testing::Values("vxlan", "geneve"),
			 [](const ::testing::TestParamInfo<const char *> &i) {
				 return std::string(i.param);
			 });

// ---- ARP ---------------------------------------------------------------------

void ExpectArpReply(const Bytes &o, const Mac &our_mac, uint32_t our_ip, const Mac &peer_mac,
		    uint32_t peer_ip)
{
	ASSERT_GE(o.size(), 42u);
	EXPECT_EQ(memcmp(&o[0], peer_mac.b, 6), 0) << "eth dst = requester";
	EXPECT_EQ(memcmp(&o[6], our_mac.b, 6), 0) << "eth src = us";
	EXPECT_EQ(rd16(&o[12]), 0x0806);
	const uint8_t *a = &o[14];
	EXPECT_EQ(rd16(a), 1) << "htype";
	EXPECT_EQ(rd16(a + 2), 0x0800) << "ptype";
	EXPECT_EQ(a[4], 6);
	EXPECT_EQ(a[5], 4);
	EXPECT_EQ(rd16(a + 6), 2) << "opcode reply";
	EXPECT_EQ(memcmp(a + 8, our_mac.b, 6), 0) << "sha";
	EXPECT_EQ(rd32n(a + 14), our_ip) << "spa";
	EXPECT_EQ(memcmp(a + 18, peer_mac.b, 6), 0) << "tha";
	EXPECT_EQ(rd32n(a + 24), peer_ip) << "tpa";
}

TEST_F(Worker, ArpForGatewayOnPodPort)
{
	Bytes req = eth(kBcast, kPod0Mac, 0x0806, arp(1, kPod0Mac, kPod0, {{0}}, kGw));
	req.resize(60, 0); // padded to the Ethernet minimum
	Feed(POD0, req);
	ASSERT_EQ(w_->tx[POD0].n, 1) << "answered on the port it came from";
	EXPECT_EQ(Queued(), 1u);
	ExpectArpReply(Tx(POD0, 0), kGwMac, kGw, kPod0Mac, kPod0);
}

TEST_F(Worker, ArpForVtepOnUplink)
{
	Bytes req = eth(kBcast, kPeerMac, 0x0806, arp(1, kPeerMac, kPeerVtep, {{0}}, kVtep));
	Feed(UPLINK, req);
	ASSERT_EQ(w_->tx[UPLINK].n, 1);
	ExpectArpReply(Tx(UPLINK, 0), kUplinkMac, kVtep, kPeerMac, kPeerVtep);
}

TEST_F(Worker, ArpInvalid)
{
	const unsigned R = NSDP_DROP_ARP_INVALID;
	ExpectDrop(POD0, eth(kBcast, kPod0Mac, 0x0806, arp(1, kPod0Mac, kPod0, {{0}}, kPod1)), R,
		   "ARP for another pod");
	ExpectDrop(POD0, eth(kBcast, kPod0Mac, 0x0806, arp(1, kPod0Mac, kPod0, {{0}}, kVtep)), R,
		   "ARP for the VTEP on a pod port");
	ExpectDrop(UPLINK, eth(kBcast, kPeerMac, 0x0806, arp(1, kPeerMac, kPeerVtep, {{0}}, kGw)), R,
		   "ARP for the gateway on the uplink");
	ExpectDrop(POD0, eth(kBcast, kPod0Mac, 0x0806, arp(2, kPod0Mac, kPod0, kGwMac, kGw)), R,
		   "ARP reply");
	Bytes bad = arp(1, kPod0Mac, kPod0, {{0}}, kGw);
	bad[1] = 6; // htype IEEE 802
	ExpectDrop(POD0, eth(kBcast, kPod0Mac, 0x0806, bad), R, "bad hardware type");
	bad = arp(1, kPod0Mac, kPod0, {{0}}, kGw);
	bad[4] = 8;
	ExpectDrop(POD0, eth(kBcast, kPod0Mac, 0x0806, bad), R, "bad hardware length");
	bad = arp(1, kPod0Mac, kPod0, {{0}}, kGw);
	bad.resize(27);
	ExpectDrop(POD0, eth(kBcast, kPod0Mac, 0x0806, bad), R, "truncated ARP");
	ExpectDrop(UPLINK, FromPeer(eth(kBcast, kGwMac, 0x0806, arp(1, kGwMac, kRemote, {{0}}, kGw))),
		   R, "ARP inside the tunnel");
}

// ---- drops -------------------------------------------------------------------

TEST_F(Worker, DropsFromPods)
{
	ExpectDrop(POD0, pod_tcp(kPod0Mac, ip4("10.244.1.99"), kPod1), NSDP_DROP_SRC_SPOOF,
		   "unknown source address");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod1, kPod0b), NSDP_DROP_SRC_SPOOF,
		   "source address of another port");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, ip4("8.8.8.8")), NSDP_DROP_NO_ROUTE, "no route");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, ip4("10.244.1.50")), NSDP_DROP_NO_ENDPOINT,
		   "local CIDR, no pod");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, ip4("10.244.3.5")), NSDP_DROP_NO_VTEP,
		   "route via an unknown VTEP");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 1, 2, SYN, 1), NSDP_DROP_IP_TTL, "TTL 1");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 1, 2, SYN, 0), NSDP_DROP_IP_TTL, "TTL 0");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, kPod0b), NSDP_DROP_HAIRPIN,
		   "to another address on the same port");
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, kPod0), NSDP_DROP_HAIRPIN, "to itself");

	const uint8_t a6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
	const uint8_t b6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};
	Bytes ip6 = {0x60, 0, 0, 0, 0, 8, IPPROTO_UDP, 64};
	append(ip6, a6, 16);
	append(ip6, b6, 16);
	append(ip6, udp(1, 2, {}));
	ExpectDrop(POD0, eth(kGwMac, kPod0Mac, 0x86dd, ip6), NSDP_DROP_IPV6_UNSUPPORTED, "IPv6");

	Bytes bad = pod_tcp(kPod0Mac, kPod0, kPod1);
	bad[14 + 10] ^= 0xff;
	ExpectDrop(POD0, bad, NSDP_DROP_IP_BAD_CSUM, "bad checksum");
	ExpectDrop(POD0, Bytes(bad.begin(), bad.begin() + 10), NSDP_DROP_L2_TRUNCATED, "runt");
	ExpectDrop(POD0, eth(kGwMac, kPod0Mac, 0x88cc, payload(50)), NSDP_DROP_L2_ETHERTYPE, "LLDP");
}

TEST_F(Worker, MtuToRemote)
{
	// mtu 1500 is the uplink IP MTU: 20 + 8 + 8 + 14 bytes of overlay leave
	// 1450 bytes for the inner IP packet.
	auto sized = [&](size_t ip_len, uint16_t sport) {
		Bytes f = pod_tcp(kPod0Mac, kPod0, kRemote, sport, 80, SYN, 64, ip_len - 40);
		EXPECT_EQ(f.size(), ip_len + 14);
		return f;
	};
	Feed(POD0, sized(1450, 1));
	ASSERT_EQ(w_->tx[UPLINK].n, 1) << ::testing::PrintToString(DropsSinceMark());
	Bytes o = Tx(UPLINK, 0);
	EXPECT_EQ(rd16(&o[14 + 2]), 1500) << "outer IP total length";
	FreeTx();
	ExpectDrop(POD0, sized(1451, 2), NSDP_DROP_MTU_EXCEEDED, "1451-byte IP packet");
	ExpectDrop(POD0, sized(1480, 3), NSDP_DROP_MTU_EXCEEDED, "1480-byte IP packet");
	// Local delivery is not limited by the overlay overhead.
	Feed(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 4, 80, SYN, 64, 1440));
	EXPECT_EQ(w_->tx[POD1].n, 1);
}

TEST_F(Worker, DropsFromUplink)
{
	const Bytes inner = Inner(kRemote, kPod1);
	ExpectDrop(UPLINK, FromPeer(inner, 7, 0, ip4("192.168.100.77")), NSDP_DROP_NOT_FOR_US,
		   "outer dst not our VTEP");
	ExpectDrop(UPLINK, FromPeer(inner, 7, 0, 0, 4790), NSDP_DROP_NOT_FOR_US, "wrong UDP port");
	ExpectDrop(UPLINK, FromPeer(inner, 7, 0, 0, 6081), NSDP_DROP_NOT_FOR_US,
		   "Geneve port on a VXLAN node");
	ExpectDrop(UPLINK,
		   eth(kUplinkMac, kPeerMac, 0x0800, ipv4(kPeerVtep, kVtep, IPPROTO_TCP, tcp(1, 4789, SYN))),
		   NSDP_DROP_NOT_FOR_US, "TCP to the VTEP");
	ExpectDrop(UPLINK, FromPeer(inner, 7, ip4("192.168.100.50")),
		   NSDP_DROP_OVERLAY_UNKNOWN_VTEP, "outer source not a known VTEP");
	ExpectDrop(UPLINK, FromPeer(inner, 8), NSDP_DROP_OVERLAY_BAD_VNI, "VNI 8");
	Bytes noi = FromPeer(inner);
	noi[14 + 20 + 8] = 0; // VXLAN I flag cleared
	ExpectDrop(UPLINK, noi, NSDP_DROP_OVERLAY_BAD_HDR, "VXLAN without the I flag");
	ExpectDrop(UPLINK, FromPeer(Bytes(13, 0xab)), NSDP_DROP_OVERLAY_INNER, "13-byte inner frame");

	ExpectDrop(UPLINK, FromPeer(Inner(kRemote, ip4("10.244.1.50"))), NSDP_DROP_NO_ENDPOINT,
		   "inner dst in the local CIDR, no pod");
	ExpectDrop(UPLINK, FromPeer(Inner(kRemote, ip4("10.244.2.9"))), NSDP_DROP_NO_ENDPOINT,
		   "inner dst not local");
	ExpectDrop(UPLINK, FromPeer(Inner(kRemote, kPod1, 1)), NSDP_DROP_IP_TTL, "inner TTL 1");

	// Malformed inner packets count under the inner reason.
	Bytes csum = inner;
	csum[14 + 10] ^= 0x55;
	ExpectDrop(UPLINK, FromPeer(csum), NSDP_DROP_IP_BAD_CSUM, "inner bad checksum");
	Bytes trunc = eth(kGwMac, kGwMac, 0x0800, ipv4(kRemote, kPod1, IPPROTO_TCP, Bytes(10, 0)));
	ExpectDrop(UPLINK, FromPeer(trunc), NSDP_DROP_L4_TRUNCATED, "inner TCP truncated");
	Bytes frag = inner;
	frag[14 + 6] = 0x20; // MF
	frag[14 + 10] = frag[14 + 11] = 0;
	{
		uint16_t c = ref_csum(&frag[14], 20);
		frag[14 + 10] = (uint8_t)(c >> 8);
		frag[14 + 11] = (uint8_t)c;
	}
	ExpectDrop(UPLINK, FromPeer(frag), NSDP_DROP_IP_FRAGMENT, "inner fragment");
	ExpectDrop(UPLINK, FromPeer(eth(kGwMac, kGwMac, 0x88cc, payload(40))), NSDP_DROP_L2_ETHERTYPE,
		   "inner LLDP");

	// The outer IPv6 is not supported yet.
	Bytes ip6 = {0x60, 0, 0, 0, 0, 8, IPPROTO_UDP, 64};
	append(ip6, Bytes(32, 0xfd));
	append(ip6, udp(1, 4789, {}));
	ExpectDrop(UPLINK, eth(kUplinkMac, kPeerMac, 0x86dd, ip6), NSDP_DROP_IPV6_UNSUPPORTED,
		   "outer IPv6");
	Bytes inner6 = {0x60, 0, 0, 0, 0, 8, IPPROTO_UDP, 64};
	append(inner6, Bytes(32, 0xfd));
	append(inner6, udp(1, 2, {}));
	ExpectDrop(UPLINK, FromPeer(eth(kGwMac, kGwMac, 0x86dd, inner6)), NSDP_DROP_IPV6_UNSUPPORTED,
		   "inner IPv6");
}

TEST_F(Worker, MixedBurstKeepsOrderAndAccounting)
{
	// One burst mixing every outcome; each packet must go where it belongs.
	std::vector<Bytes> burst = {
		pod_tcp(kPod0Mac, kPod0, kPod1, 1, 80),                              // -> pod1
		pod_tcp(kPod0Mac, ip4("10.9.9.9"), kPod1, 2, 80),                    // spoof
		eth(kBcast, kPod0Mac, 0x0806, arp(1, kPod0Mac, kPod0, {{0}}, kGw)), // ARP reply
		pod_tcp(kPod0Mac, kPod0, kRemote, 3, 80),                            // -> uplink
		pod_tcp(kPod0Mac, kPod0, ip4("1.1.1.1"), 4, 80),                     // no route
		pod_tcp(kPod0Mac, kPod0, kPod1, 5, 80),                              // -> pod1
		pod_tcp(kPod0Mac, kPod0, kPod0b, 6, 80),                             // hairpin
		pod_tcp(kPod0Mac, kPod0, kRemote, 7, 80),                            // -> uplink
	};
	Mark();
	Feed(POD0, burst);
	std::map<std::string, uint64_t> want = {{"src-spoof", 1}, {"no-route", 1}, {"hairpin", 1}};
	EXPECT_EQ(DropsSinceMark(), want);
	ASSERT_EQ(w_->tx[POD1].n, 2);
	ASSERT_EQ(w_->tx[UPLINK].n, 2);
	ASSERT_EQ(w_->tx[POD0].n, 1);
	EXPECT_EQ(rd16(&Tx(POD1, 0)[34]), 1);
	EXPECT_EQ(rd16(&Tx(POD1, 1)[34]), 5);
	EXPECT_EQ(rd16(&Tx(UPLINK, 0)[50 + 34]), 3);
	EXPECT_EQ(rd16(&Tx(UPLINK, 1)[50 + 34]), 7);
	EXPECT_EQ(rd16(&Tx(POD0, 0)[12]), 0x0806);
}

TEST_F(Worker, BurstLargerThanOneGroup)
{
	// 150 packets (more than the 64-packet lookup group), of which only
	// every 15th is forwarded; the rest are dropped in various passes.
	std::vector<Bytes> burst;
	for (uint16_t i = 0; i < 150; i++) {
		if (i % 15 == 0)
			burst.push_back(pod_tcp(kPod0Mac, kPod0, kPod1, (uint16_t)(1000 + i), 80));
		else if (i % 3 == 0)
			burst.push_back(pod_tcp(kPod0Mac, kPod0, ip4("1.2.3.4"), i, 80)); // no-route
		else if (i % 3 == 1)
			burst.push_back(pod_tcp(kPod0Mac, kPod0, kPod1, i, 80, SYN, 1)); // TTL
		else
			burst.push_back(Bytes(20, 0)); // l2-ethertype
	}
	Mark();
	std::vector<struct rte_mbuf *> m;
	for (const Bytes &f : burst)
		m.push_back(shim_mbuf_from(f.data(), (unsigned)f.size()));
	dp_process_burst(dp_, w_, t_, POD0, m.data(), (unsigned)m.size());
	ASSERT_EQ(w_->tx[POD1].n, 10);
	for (unsigned i = 0; i < 10; i++)
		EXPECT_EQ(rd16(&Tx(POD1, i)[34]), 1000 + 15 * i);
	uint64_t dropped = 0;
	for (auto &kv : DropsSinceMark())
		dropped += kv.second;
	EXPECT_EQ(dropped, 140u);
	EXPECT_EQ(Queued(), 10u);
}

// ---- conntrack ---------------------------------------------------------------

TEST_F(Worker, ConntrackBothDirectionsShareOneEntry)
{
	EXPECT_EQ(ct_count(dp_->ct), 0u);
	Feed(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 40000, 80, SYN));
	EXPECT_EQ(w_->tx[POD1].n, 1);
	EXPECT_EQ(ct_count(dp_->ct), 1u);
	EXPECT_EQ(st_->lc.ct_created, 1u);

	struct ct_key fk, rk;
	unsigned fs = ct_key_make(&fk, AF_INET, &kPod0, &kPod1, htons(40000), htons(80), IPPROTO_TCP);
	unsigned rs = ct_key_make(&rk, AF_INET, &kPod1, &kPod0, htons(80), htons(40000), IPPROTO_TCP);
	EXPECT_NE(fs, rs);
	struct ct_entry *e = ct_lookup(dp_->ct, &fk, ct_hash(&fk));
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(ct_lookup(dp_->ct, &rk, ct_hash(&rk)), e);
	EXPECT_EQ(ct_entry_state(e), CT_TCP_SYN_SENT);
	EXPECT_EQ(e->orig_side, fs);
	EXPECT_EQ(e->created, 1000u);

	w_->now = 1001;
	Feed(POD1, pod_tcp(kPod1Mac, kPod1, kPod0, 80, 40000, SYNACK));
	EXPECT_EQ(w_->tx[POD0].n, 1);
	EXPECT_EQ(ct_count(dp_->ct), 1u);
	EXPECT_EQ(st_->lc.ct_created, 1u);
	EXPECT_EQ(ct_entry_state(e), CT_TCP_SYN_RECV);
	EXPECT_EQ(e->last_seen, 1001u);
	Feed(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 40000, 80, ACK));
	EXPECT_EQ(ct_entry_state(e), CT_TCP_ESTABLISHED);
	EXPECT_EQ(ct_count(dp_->ct), 1u);
	EXPECT_EQ(Dropped(), 0u);

	// A remote flow and its reply through the tunnel also share one entry.
	Feed(POD0, pod_udp(kPod0Mac, kPod0, kRemote, 5353, 53));
	Feed(UPLINK, FromPeer(eth(kGwMac, kGwMac, 0x0800,
				  ipv4(kRemote, kPod0, IPPROTO_UDP, udp(53, 5353, payload(10))))));
	EXPECT_EQ(ct_count(dp_->ct), 2u);
	EXPECT_EQ(Dropped(), 0u);
	struct ct_key uk;
	ct_key_make(&uk, AF_INET, &kPod0, &kRemote, htons(5353), htons(53), IPPROTO_UDP);
	struct ct_entry *u = ct_lookup(dp_->ct, &uk, ct_hash(&uk));
	ASSERT_NE(u, nullptr);
	EXPECT_EQ(ct_entry_state(u), CT_UDP_STREAM);

	// ICMP echo is tracked by identifier; other ICMP is not tracked.
	Feed(POD0, eth(kGwMac, kPod0Mac, 0x0800,
		       ipv4(kPod0, kPod1, IPPROTO_ICMP, {8, 0, 0, 0, 0x12, 0x34, 0, 1})));
	EXPECT_EQ(ct_count(dp_->ct), 3u);
	Feed(POD0, eth(kGwMac, kPod0Mac, 0x0800,
		       ipv4(kPod0, kPod1, IPPROTO_ICMP, {3, 3, 0, 0, 0, 0, 0, 0})));
	EXPECT_EQ(ct_count(dp_->ct), 3u);
	EXPECT_EQ(Dropped(), 0u);
}

TEST_F(Worker, ConntrackFullRefusesNewFlowsOnly)
{
	Opts o;
	o.ct_size = 16;
	Restart(o);
	const uint32_t cap = ct_capacity(dp_->ct);
	ASSERT_GT(cap, 0u);
	ASSERT_LT(cap, 200u);

	// Distinct UDP flows pod0 -> pod1 until the table refuses one.
	uint16_t sport = 10000;
	unsigned forwarded = 0;
	while (st_->drops[NSDP_DROP_CT_FULL] == 0 && sport < 10000 + 400) {
		std::vector<Bytes> burst;
		for (int i = 0; i < 8; i++)
			burst.push_back(pod_udp(kPod0Mac, kPod0, kPod1, sport++, 9999));
		Feed(POD0, burst);
		forwarded += w_->tx[POD1].n;
		FreeTx();
	}
	ASSERT_GT(st_->drops[NSDP_DROP_CT_FULL], 0u) << "the table never filled";
	const uint32_t used = ct_count(dp_->ct);
	EXPECT_EQ(used, forwarded);
	EXPECT_EQ(st_->lc.ct_created, used);
	EXPECT_GE(used, cap / 2) << "refused while mostly empty";
	EXPECT_EQ(Dropped(), st_->drops[NSDP_DROP_CT_FULL]) << "only ct-full drops";

	// Established flows keep flowing both ways; new ones are still refused.
	const uint64_t full0 = st_->drops[NSDP_DROP_CT_FULL];
	for (uint16_t sp = 10000; sp < 10004; sp++) {
		Feed(POD0, pod_udp(kPod0Mac, kPod0, kPod1, sp, 9999));
		Feed(POD1, pod_udp(kPod1Mac, kPod1, kPod0, 9999, sp));
	}
	EXPECT_EQ(w_->tx[POD1].n, 4);
	EXPECT_EQ(w_->tx[POD0].n, 4);
	EXPECT_EQ(st_->drops[NSDP_DROP_CT_FULL], full0);
	FreeTx();
	ExpectDrop(POD0, pod_udp(kPod0Mac, kPod0, kPod1, 60000, 60000), NSDP_DROP_CT_FULL,
		   "a new flow on a full table");
	EXPECT_EQ(ct_count(dp_->ct), used);
	// Untracked traffic (ICMP errors) is not affected by a full table.
	Feed(POD0, eth(kGwMac, kPod0Mac, 0x0800,
		       ipv4(kPod0, kPod1, IPPROTO_ICMP, {3, 3, 0, 0, 0, 0, 0, 0})));
	EXPECT_EQ(w_->tx[POD1].n, 1);
}

TEST_F(Worker, ConntrackInvalidIsDropped)
{
	Feed(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 40000, 80, SYN));
	// SYN+ACK from the originator before any SYN+ACK from the other side.
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 40000, 80, SYNACK), NSDP_DROP_CT_INVALID,
		   "SYN+ACK from the originator");
	// After a RST, data still passes: an unvalidated RST must not cut a
	// live connection (no sequence tracking).
	Feed(POD1, pod_tcp(kPod1Mac, kPod1, kPod0, 80, 40000, 0x04));
	unsigned q0 = w_->tx[POD1].n;
	Feed(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 40000, 80, ACK));
	EXPECT_EQ(w_->tx[POD1].n, q0 + 1) << "data after RST";
	FreeTx();
	Feed(POD0, pod_tcp(kPod0Mac, kPod0, kPod1, 40000, 80, SYN));
	EXPECT_EQ(w_->tx[POD1].n, 1) << "a new SYN re-opens the closed connection";
	EXPECT_EQ(ct_count(dp_->ct), 1u);
}

// Packets a port does not take are freed and counted tx-full, both when the
// buffer fills (64) and on the end-of-poll flush.
TEST_F(Worker, TxFullOnFlush)
{
	// The stub logs each refused burst with a stack dump on stderr, which
	// would read like a crash in the test log: silence stderr here.
	fflush(stderr);
	struct Quiet {
		int saved = dup(2);
		Quiet()
		{
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0) {
				dup2(null, 2);
				close(null);
			}
		}
		~Quiet()
		{
			fflush(stderr);
			if (saved >= 0) {
				dup2(saved, 2);
				close(saved);
			}
		}
	} quiet;

	std::vector<Bytes> burst;
	for (uint16_t i = 0; i < 5; i++)
		burst.push_back(pod_udp(kPod0Mac, kPod0, kPod1, (uint16_t)(100 + i), 7));
	Feed(POD0, burst);
	ASSERT_EQ(w_->tx[POD1].n, 5);
	Mark();
	dp_tx_flush(dp_, w_);
	EXPECT_EQ(Queued(), 0u);
	std::map<std::string, uint64_t> want = {{"tx-full", 5}};
	EXPECT_EQ(DropsSinceMark(), want);
	EXPECT_EQ(st_->port[POD1].tx_pkts, 0u);
	EXPECT_EQ(st_->port[POD1].tx_bytes, 0u);

	// 70 packets in one burst: the buffer flushes itself at 64.
	std::vector<struct rte_mbuf *> m;
	for (uint16_t i = 0; i < 70; i++) {
		Bytes f = pod_udp(kPod0Mac, kPod0, kPod1, (uint16_t)(200 + i), 7);
		m.push_back(shim_mbuf_from(f.data(), (unsigned)f.size()));
	}
	Mark();
	dp_process_burst(dp_, w_, t_, POD0, m.data(), (unsigned)m.size());
	EXPECT_EQ(w_->tx[POD1].n, 6);
	want = {{"tx-full", 64}};
	EXPECT_EQ(DropsSinceMark(), want);
}

// ---- table updates -----------------------------------------------------------

TEST_F(Worker, PublishedChangesApplyToTheNextBurst)
{
	Bytes f = pod_tcp(kPod0Mac, kPod0, ip4("10.244.3.5"));
	ExpectDrop(POD0, f, NSDP_DROP_NO_VTEP, "before the VTEP is known");
	Vtep("192.168.100.9", {{0x02, 0, 0, 0, 0, 9}});
	Publish();
	Feed(POD0, f);
	ASSERT_EQ(w_->tx[UPLINK].n, 1);
	Bytes o = Tx(UPLINK, 0);
	EXPECT_EQ(o[5], 9);
	EXPECT_EQ(rd32n(&o[14 + 16]), ip4("192.168.100.9"));
	FreeTx();

	struct nsdp_ip ip = Ip(kPod1);
	char err[256];
	ASSERT_EQ(dp_state_ep_del(&dp_->state, &ip, err, sizeof(err)), 0);
	Publish();
	ExpectDrop(POD0, pod_tcp(kPod0Mac, kPod0, kPod1), NSDP_DROP_NO_ENDPOINT, "pod deleted");
	ExpectDrop(POD1, pod_tcp(kPod1Mac, kPod1, kPod0), NSDP_DROP_SRC_SPOOF,
		   "a deleted pod's address is not a source");
}

TEST_F(Worker, EveryPacketAccounted)
{
	// A summary over everything this test feeds: fed == queued + dropped.
	uint64_t queued = 0;
	for (int round = 0; round < 4; round++) {
		Feed(POD0, {pod_tcp(kPod0Mac, kPod0, kPod1, 1, 2), pod_tcp(kPod0Mac, kPod0, kRemote, 1, 2),
			    pod_tcp(kPod0Mac, kPod1, kRemote), Bytes(5, 0),
			    eth(kBcast, kPod0Mac, 0x0806, arp(1, kPod0Mac, kPod0, {{0}}, kGw))});
		Feed(UPLINK, {FromPeer(Inner(kRemote, kPod0)), FromPeer(Inner(kRemote, kPod1), 9),
			      FromPeer(Bytes(3, 0))});
		queued += Queued();
		FreeTx();
	}
	EXPECT_EQ(queued + Dropped(), fed_);
	EXPECT_EQ(queued, 4u * 4);
}

// ---- 64 KB segments (vnet.h's TSO fields on the mbuf) -----------------------

struct rte_mempool *BigPool()
{
	static struct rte_mempool *p =
		rte_pktmbuf_pool_create("worker_big", 31, 0, 0, 65535, SOCKET_ID_ANY);
	return p;
}

// Frame f in a large mbuf, marked as a tap marks a GSO frame (plain, or
// encapsulated as a tunnel uplink marks it).
struct rte_mbuf *GsoMbuf(const Bytes &f, uint16_t mss, bool tunnel = false)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(BigPool());
	if (!m)
		return nullptr;
	memcpy(rte_pktmbuf_append(m, (uint16_t)f.size()), f.data(), f.size());
	m->ol_flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
	m->l2_len = 14;
	m->l3_len = 20;
	m->l4_len = 20;
	m->tso_segsz = mss;
	if (tunnel) {
		m->ol_flags |= RTE_MBUF_F_TX_TUNNEL_VXLAN | RTE_MBUF_F_TX_OUTER_IPV4;
		m->outer_l2_len = 14;
		m->outer_l3_len = 20;
		m->l2_len = 8 + 8 + 14;
	}
	return m;
}

// The TCP checksum of the IPv4 packet at ip is right (pseudo header included).
bool TcpSumOk(const uint8_t *ip)
{
	uint16_t tl = rd16(ip + 2);
	Bytes p(ip + 12, ip + 20);
	p.push_back(0);
	p.push_back(IPPROTO_TCP);
	put16(p, (uint16_t)(tl - 20));
	append(p, ip + 20, tl - 20u);
	if (p.size() & 1)
		p.push_back(0); /* ref_csum sums whole words */
	return ref_csum(p.data(), p.size()) == 0;
}

// The frames queued on `port`, inner IPv4 header at `ip_off`: each a valid
// segment of at most `mss` payload bytes; their payloads in order == pay.
void ExpectSegments(const struct dp_worker *w, unsigned port, unsigned ip_off, size_t n,
		    uint16_t mss, const Bytes &sent)
{
	ASSERT_EQ(w->tx[port].n, n);
	Bytes pay;
	uint32_t seq0 = 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *d;
		unsigned len = shim_mbuf_data(w->tx[port].pkts[i], &d);
		const uint8_t *ip = d + ip_off, *tcp = ip + 20;
		ASSERT_EQ(ip_off + rd16(ip + 2), len) << "segment " << i;
		EXPECT_LE(rd16(ip + 2) - 40u, mss);
		EXPECT_EQ(ref_csum(ip, 20), 0) << "IPv4 checksum, segment " << i;
		EXPECT_TRUE(TcpSumOk(ip)) << "TCP checksum, segment " << i;
		uint32_t seq = (uint32_t)tcp[4] << 24 | tcp[5] << 16 | tcp[6] << 8 | tcp[7];
		if (!i)
			seq0 = seq;
		EXPECT_EQ(seq - seq0, pay.size()) << "segment " << i;
		EXPECT_EQ(tcp[13] & 0x08, i + 1 == n ? 0x08 : 0) << "PSH on the last only";
		pay.insert(pay.end(), tcp + 20, d + len);
	}
	EXPECT_EQ(pay, Bytes(sent.begin() + 54, sent.end())) << "payloads in order";
}

TEST_F(Worker, GsoFramesAreCutOrRefused)
{
	ASSERT_NE(BigPool(), nullptr);
	unsigned big0 = rte_mempool_avail_count(BigPool());
	// An established connection pod0 -> remote.
	Feed(POD0, pod_tcp(kPod0Mac, kPod0, kRemote, 7000, 80, SYN));
	Feed(UPLINK, FromPeer(Inner(kRemote, kPod0, 64, 80, 7000, SYNACK)));
	FreeTx();

	// From the pod's tap: 10000 bytes with an MSS of 1400 leave the
	// uplink as 8 encapsulated frames of at most 1500 bytes.
	Bytes big = pod_tcp(kPod0Mac, kPod0, kRemote, 7000, 80, PSHACK, 64, 10000);
	struct rte_mbuf *m = GsoMbuf(big, 1400);
	ASSERT_NE(m, nullptr);
	Mark();
	dp_process_burst(dp_, w_, t_, POD0, &m, 1);
	EXPECT_TRUE(DropsSinceMark().empty()) << ::testing::PrintToString(DropsSinceMark());
	ExpectSegments(w_, UPLINK, 50 + 14, 8, 1400, big);
	for (unsigned i = 0; i < w_->tx[UPLINK].n; i++)
		EXPECT_LE(Tx(UPLINK, i).size(), 1514u);
	FreeTx();

	// TSO fields that do not describe the frame are refused.
	struct {
		const char *what;
		Bytes frame;
		uint16_t mss, l3_len;
	} bad[] = {
		{"MSS below 64", big, 10, 20},
		{"more than 128 segments", big, 64, 20},
		{"l3_len not the IPv4 header's", big, 1400, 24},
		{"not TCP", pod_udp(kPod0Mac, kPod0, kRemote, 7000, 80, 3000), 1400, 20},
	};
	for (auto &b : bad) {
		SCOPED_TRACE(b.what);
		m = GsoMbuf(b.frame, b.mss);
		ASSERT_NE(m, nullptr);
		m->l3_len = b.l3_len;
		Mark();
		dp_process_burst(dp_, w_, t_, POD0, &m, 1);
		EXPECT_EQ(Queued(), 0u);
		std::map<std::string, uint64_t> want = {{"vnet-bad", 1}};
		EXPECT_EQ(DropsSinceMark(), want);
	}

	// From a tunnel uplink: the encapsulated segment is decapsulated and cut
	// for pod0's port (not a tap here), with pod0's MAC.
	Bytes inner = eth(kGwMac, kGwMac, 0x0800,
			  ipv4(kRemote, kPod0, IPPROTO_TCP, tcp(80, 7000, PSHACK, 6000)));
	Bytes outer = FromPeer(inner);
	m = GsoMbuf(outer, 1000, true);
	ASSERT_NE(m, nullptr);
	Mark();
	dp_process_burst(dp_, w_, t_, UPLINK, &m, 1);
	EXPECT_TRUE(DropsSinceMark().empty()) << ::testing::PrintToString(DropsSinceMark());
	ExpectSegments(w_, POD0, 14, 6, 1000, inner);
	Bytes first = Tx(POD0, 0);
	EXPECT_EQ(Bytes(first.begin(), first.begin() + 6), Bytes(kPod0Mac.b, kPod0Mac.b + 6));
	FreeTx();
	EXPECT_EQ(rte_mempool_avail_count(BigPool()), big0) << "large mbufs leaked";
}

} // namespace
