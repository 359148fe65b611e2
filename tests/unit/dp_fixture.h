// SPDX-License-Identifier: Apache-2.0
//
// Shared by the packet-path tests (test_worker.cc, test_policy_worker.cc):
// frame builders independent of DPDK's header structs, and DpFixture, a
// `struct dp` built by hand around a parsed configuration with three fake
// ports (uplink, pod0, pod1) that never run. dp_process_burst() is called
// directly; tests inspect what it queued on w->tx[] and the drop counters.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "shim.h"

#include "shim_dp.h"

using Bytes = std::vector<uint8_t>;

// ---- frame builders ----------------------------------------------------------

struct Mac {
	uint8_t b[6];
};

inline const Mac kGwMac = {{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}};
inline const Mac kUplinkMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
inline const Mac kPeerMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}}; // node-b's VTEP

inline uint32_t ip4(const char *s)
{
	struct in_addr a;
	EXPECT_EQ(inet_pton(AF_INET, s, &a), 1) << s;
	return a.s_addr;
}

inline const uint32_t kVtep = ip4("192.168.100.1");
inline const uint32_t kPeerVtep = ip4("192.168.100.2");

inline void put16(Bytes &v, uint16_t x)
{
	v.push_back((uint8_t)(x >> 8));
	v.push_back((uint8_t)x);
}

inline void append(Bytes &v, const Bytes &w)
{
	// A loop, not insert(): GCC 12 at -O3 warns falsely (stringop-overread)
	// on inserting some inlined small vectors.
	for (uint8_t b : w)
		v.push_back(b);
}

inline void append(Bytes &v, const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)p;
	v.insert(v.end(), b, b + n);
}

inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

inline uint16_t ref_csum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

inline void fix_csum(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 0xf) * 4u;
	ip[10] = ip[11] = 0;
	uint16_t c = ref_csum(ip, ihl);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

inline Bytes eth(const Mac &dst, const Mac &src, uint16_t type, const Bytes &payload,
		 int vlan = -1)
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

inline Bytes ipv4(uint32_t src, uint32_t dst, uint8_t proto, const Bytes &payload,
		  uint8_t ttl = 64)
{
	Bytes v = {0x45, 0};
	put16(v, (uint16_t)(20 + payload.size()));
	put16(v, 0x4321);
	put16(v, 0x4000);
	v.push_back(ttl);
	v.push_back(proto);
	put16(v, 0);
	append(v, &src, 4);
	append(v, &dst, 4);
	fix_csum(v.data());
	append(v, payload);
	return v;
}

inline Bytes payload(size_t n, uint8_t seed = 0)
{
	Bytes v(n);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(seed + i * 13);
	return v;
}

inline Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t plen = 12)
{
	Bytes v;
	put16(v, sport);
	put16(v, dport);
	put16(v, 0x1111);
	put16(v, 0x2222);
	put16(v, 0);
	put16(v, 0);
	v.push_back(0x50);
	v.push_back(flags);
	put16(v, 65535);
	put16(v, 0);
	put16(v, 0);
	append(v, payload(plen, (uint8_t)sport));
	return v;
}

inline Bytes udp(uint16_t sport, uint16_t dport, const Bytes &data)
{
	Bytes v;
	put16(v, sport);
	put16(v, dport);
	put16(v, (uint16_t)(8 + data.size()));
	put16(v, 0);
	append(v, data);
	return v;
}

inline constexpr uint8_t FIN = 0x01, SYN = 0x02, ACK = 0x10, SYNACK = 0x12, PSHACK = 0x18;

inline Bytes vxlan_hdr(uint32_t vni)
{
	return {0x08, 0, 0, 0, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8), (uint8_t)vni, 0};
}

inline Bytes geneve_hdr(uint32_t vni)
{
	return {0, 0, 0x65, 0x58, (uint8_t)(vni >> 16), (uint8_t)(vni >> 8), (uint8_t)vni, 0};
}

// ---- the harness -------------------------------------------------------------

// The node: VTEP 192.168.100.1, VNI 7, MTU 1500, gateway 169.254.1.1
// (ee:ee:ee:ee:ee:ee), ports uplink, pod0, pod1.
// tables_extra: more settings of the `tables` group ("denied_entries = 8;").
inline std::string dp_config_text(const char *overlay = "vxlan", unsigned ct_size = 4096,
				  const char *tables_extra = "")
{
	char buf[2048];
	snprintf(buf, sizeof(buf),
		 "node = {\n"
		 "  vtep = \"192.168.100.1\";\n"
		 "  overlay = \"%s\";\n"
		 "  vni = 7;\n"
		 "  mtu = 1500;\n"
		 "  gateway = \"169.254.1.1\";\n"
		 "  gateway_mac = \"ee:ee:ee:ee:ee:ee\";\n"
		 "};\n"
		 "ports = (\n"
		 "  { name = \"uplink\"; devargs = \"net_null0\"; role = \"uplink\"; },\n"
		 "  { name = \"pod0\"; devargs = \"net_null1\"; role = \"pod\"; },\n"
		 "  { name = \"pod1\"; devargs = \"net_null2\"; role = \"pod\"; }\n"
		 ");\n"
		 "tables = { conntrack = %u; %s };\n",
		 overlay, ct_size, tables_extra);
	return buf;
}

enum { UPLINK = 0, POD0 = 1, POD1 = 2, NPORTS = 3 };

class DpFixture : public ::testing::Test {
protected:
	static void SetUpTestSuite() { ASSERT_EQ(shim_eal_init(), 0); }

	// Parse `config`, add the three fake ports and `n_workers` workers
	// (each with its own stats), and initialise the tables.
	void BuildDp(const std::string &config, unsigned n_workers)
	{
		n_workers_ = n_workers;
		dp_ = (struct dp *)calloc(1, sizeof(*dp_));
		ASSERT_NE(dp_, nullptr);
		char err[512] = "";
		ASSERT_EQ(dp_config_parse(config.c_str(), "<test>", &dp_->cfg, err, sizeof(err)), 0)
			<< err;
		dp_->pool = shim_pool();
		dp_->n_ports = NPORTS;
		const char *names[NPORTS] = {"uplink", "pod0", "pod1"};
		for (unsigned i = 0; i < NPORTS; i++) {
			struct dp_port *p = &dp_->ports[i];
			// Valid ids of ports that do not exist: should a TX buffer
			// flush, DPDK's "not ready" stub refuses the packets.
			p->port_id = (uint16_t)(RTE_MAX_ETHPORTS - 1 - i);
			p->role = i == UPLINK ? NSDP_ROLE_UPLINK : NSDP_ROLE_POD;
			p->n_rxq = p->n_txq = 1;
			p->mtu = 1500;
			snprintf(p->name, sizeof(p->name), "%s", names[i]);
		}
		memcpy(dp_->ports[UPLINK].mac.addr_bytes, kUplinkMac.b, 6);
		dp_->uplink = UPLINK;
		dp_->n_workers = n_workers;

		w_ = (struct dp_worker *)rte_zmalloc("test_workers", n_workers * sizeof(*w_),
						     RTE_CACHE_LINE_SIZE);
		st_ = (struct dp_lcore_stats *)rte_zmalloc("test_stats", n_workers * sizeof(*st_),
							  RTE_CACHE_LINE_SIZE);
		ASSERT_NE(w_, nullptr);
		ASSERT_NE(st_, nullptr);
		for (unsigned i = 0; i < n_workers; i++) {
			w_[i].idx = i;
			w_[i].stats = &st_[i];
			w_[i].now = 1000;
		}
		dp_->workers = w_;
		dp_->stats = st_;

		ASSERT_EQ(dp_init_tables(dp_, SOCKET_ID_ANY), 0);
	}

	// Every test: the dataplane freed, no mbuf left behind.
	void TearDown() override
	{
		FreeDp();
		EXPECT_EQ(shim_pool_in_use(), baseline_) << "mbuf leak";
	}

	void FreeDp()
	{
		if (!dp_)
			return;
		FreeTx();
		// the policy freed with its counters, its flow-log records drained
		if (dp_->policy) {
			EXPECT_EQ(dp_publish_policy(dp_, nullptr, 0), 0);
		}
		dp_flowlog_free(dp_);
		ct_destroy(dp_->ct);
		dp_tables_free(dp_->tables);
		rte_free(dp_->qsv);
		dp_state_free(&dp_->state);
		dp_config_release(&dp_->cfg);
		free(dp_);
		rte_free(w_);
		rte_free(st_);
		dp_ = nullptr;
		w_ = nullptr;
		st_ = nullptr;
	}

	struct nsdp_ip Ip(uint32_t a)
	{
		struct nsdp_ip ip;
		memset(&ip, 0, sizeof(ip));
		ip.family = AF_INET;
		memcpy(ip.addr, &a, 4);
		return ip;
	}

	void Vtep(const char *ip, const Mac &mac)
	{
		struct nsdp_vtep v;
		memset(&v, 0, sizeof(v));
		v.ip = Ip(ip4(ip));
		memcpy(v.mac, mac.b, 6);
		char err[256];
		ASSERT_EQ(dp_state_vtep_add(&dp_->state, &v, err, sizeof(err)), 0) << err;
	}

	void Route(const char *prefix, unsigned len, const char *vtep)
	{
		struct nsdp_route r;
		memset(&r, 0, sizeof(r));
		r.prefix = Ip(ip4(prefix));
		r.prefix_len = (uint8_t)len;
		if (vtep)
			r.vtep = Ip(ip4(vtep));
		char err[256];
		ASSERT_EQ(dp_state_route_add(&dp_->state, &r, err, sizeof(err)), 0) << err;
	}

	void Endpoint(uint32_t ip, const char *port, const Mac &mac, uint32_t identity = 0)
	{
		struct nsdp_endpoint e;
		memset(&e, 0, sizeof(e));
		e.ip = Ip(ip);
		snprintf(e.port, sizeof(e.port), "%s", port);
		memcpy(e.mac, mac.b, 6);
		e.identity = identity;
		char err[256];
		ASSERT_EQ(dp_state_ep_add(&dp_->state, &e, dp_port_by_name, dp_, err, sizeof(err)), 0)
			<< err;
	}

	void Publish()
	{
		ASSERT_EQ(dp_publish(dp_, ++gen_), 0);
		t_ = dp_->tables;
		ASSERT_NE(t_, nullptr);
		ASSERT_EQ(t_->generation, gen_);
	}

	// Packets queued on the TX buffers, all workers and ports.
	unsigned Queued() const
	{
		unsigned n = 0;
		for (unsigned w = 0; w < n_workers_; w++)
			for (unsigned p = 0; p < NPORTS; p++)
				n += w_[w].tx[p].n;
		return n;
	}

	// Drops under `reason`, summed over the workers.
	uint64_t Drops(unsigned reason) const
	{
		uint64_t n = 0;
		for (unsigned w = 0; w < n_workers_; w++)
			n += st_[w].drops[reason];
		return n;
	}

	uint64_t Dropped() const
	{
		uint64_t n = 0;
		for (unsigned r = 0; r < NSDP_DROP_MAX; r++)
			n += Drops(r);
		return n;
	}

	// Feed frames arriving on port `in` to worker `wi`; every one must end
	// queued or dropped.
	void Feed(unsigned in, const std::vector<Bytes> &frames, unsigned wi = 0)
	{
		for (unsigned p = 0; p < NPORTS; p++)
			ASSERT_LT(w_[wi].tx[p].n + frames.size(), (size_t)DP_TX_BUF)
				<< "the TX buffer would flush to a fake port";
		std::vector<struct rte_mbuf *> m;
		for (const Bytes &f : frames) {
			m.push_back(shim_mbuf_from(f.data(), (unsigned)f.size()));
			ASSERT_NE(m.back(), nullptr);
		}
		unsigned q0 = Queued();
		uint64_t d0 = Dropped();
		dp_process_burst(dp_, &w_[wi], t_, in, m.data(), (unsigned)m.size());
		ASSERT_EQ((Queued() - q0) + (Dropped() - d0), frames.size())
			<< "a packet was neither queued nor counted as a drop";
		fed_ += frames.size();
	}

	void Feed(unsigned in, const Bytes &frame) { Feed(in, std::vector<Bytes>{frame}); }

	// Free what every worker queued.
	void FreeTx()
	{
		for (unsigned w = 0; w < n_workers_; w++)
			for (unsigned p = 0; p < NPORTS; p++) {
				for (unsigned i = 0; i < w_[w].tx[p].n; i++)
					shim_mbuf_free(w_[w].tx[p].pkts[i]);
				w_[w].tx[p].n = 0;
			}
	}

	struct dp *dp_ = nullptr;
	struct dp_worker *w_ = nullptr;
	struct dp_lcore_stats *st_ = nullptr;
	const struct dp_tables *t_ = nullptr;
	unsigned n_workers_ = 0;
	uint64_t gen_ = 0;
	uint64_t fed_ = 0;
	unsigned baseline_ = 0;
};
