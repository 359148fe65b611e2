// SPDX-License-Identifier: Apache-2.0
//
// Unit tests of the lookup tables (dataplane/tables.c): the desired state
// the control thread edits, and the immutable tables built from it, checked
// against a trivially correct linear longest-prefix match on random
// routes and endpoints (in the spirit of OVS tests/test-classifier.c).
//
// NSDP_SEED=<n> replays the randomized test with the seed it printed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <rte_memory.h>

#include "shim.h"

extern "C" {
#include "tables.h"
}

namespace {

// ---- helpers ---------------------------------------------------------------

struct nsdp_ip v4(uint32_t host)
{
	struct nsdp_ip ip;
	memset(&ip, 0, sizeof(ip));
	ip.family = AF_INET;
	uint32_t n = htonl(host);
	memcpy(ip.addr, &n, 4);
	return ip;
}

struct nsdp_ip v4(const char *s)
{
	struct nsdp_ip ip;
	memset(&ip, 0, sizeof(ip));
	ip.family = AF_INET;
	EXPECT_EQ(inet_pton(AF_INET, s, ip.addr), 1) << s;
	return ip;
}

struct nsdp_ip v6(const char *s)
{
	struct nsdp_ip ip;
	memset(&ip, 0, sizeof(ip));
	ip.family = AF_INET6;
	EXPECT_EQ(inet_pton(AF_INET6, s, ip.addr), 1) << s;
	return ip;
}

uint32_t net(const struct nsdp_ip &ip)
{
	uint32_t v;
	memcpy(&v, ip.addr, 4);
	return v;
}

uint32_t net(const char *s)
{
	return net(v4(s));
}

struct Mac6 {
	uint8_t b[6];
};

const Mac6 kMac1 = {{0x02, 0, 0, 0, 0, 1}};
const Mac6 kMac2 = {{0x02, 0, 0, 0, 0, 2}};

struct nsdp_endpoint ep(const struct nsdp_ip &ip, const char *port, const Mac6 &mac,
			uint32_t identity = 0, uint16_t flags = 0)
{
	struct nsdp_endpoint e;
	memset(&e, 0, sizeof(e));
	e.ip = ip;
	snprintf(e.port, sizeof(e.port), "%s", port);
	memcpy(e.mac, mac.b, 6);
	e.identity = identity;
	e.flags = flags;
	snprintf(e.name, sizeof(e.name), "ns/pod");
	return e;
}

struct nsdp_route route(const struct nsdp_ip &prefix, unsigned len)
{
	struct nsdp_route r;
	memset(&r, 0, sizeof(r));
	r.prefix = prefix;
	r.prefix_len = (uint8_t)len;
	return r;
}

struct nsdp_route route(const struct nsdp_ip &prefix, unsigned len, const struct nsdp_ip &vtep)
{
	struct nsdp_route r = route(prefix, len);
	r.vtep = vtep;
	return r;
}

struct nsdp_vtep vtep(const struct nsdp_ip &ip, const Mac6 &mac)
{
	struct nsdp_vtep v;
	memset(&v, 0, sizeof(v));
	v.ip = ip;
	memcpy(v.mac, mac.b, 6);
	snprintf(v.name, sizeof(v.name), "node");
	return v;
}

// Port resolver: index in a list of names.
struct Ports {
	std::vector<std::string> names;
};

int resolve(void *arg, const char *name)
{
	const Ports *p = (const Ports *)arg;
	for (size_t i = 0; i < p->names.size(); i++)
		if (strncmp(p->names[i].c_str(), name, NSDP_PORT_NAME_LEN) == 0)
			return (int)i;
	return -1;
}

Ports kPorts = {{"pod0", "pod1", "pod2", "pod3"}};

// A deep copy of the state, to check that failed changes leave it unchanged.
struct Snapshot {
	std::vector<uint8_t> eps, routes, vteps;
	uint32_t n_eps, n_routes, n_vteps;
	explicit Snapshot(const struct dp_table_state &s)
		: eps((const uint8_t *)s.eps, (const uint8_t *)(s.eps + s.n_eps)),
		  routes((const uint8_t *)s.routes, (const uint8_t *)(s.routes + s.n_routes)),
		  vteps((const uint8_t *)s.vteps, (const uint8_t *)(s.vteps + s.n_vteps)),
		  n_eps(s.n_eps), n_routes(s.n_routes), n_vteps(s.n_vteps)
	{
	}
	bool operator==(const Snapshot &o) const
	{
		return eps == o.eps && routes == o.routes && vteps == o.vteps && n_eps == o.n_eps &&
		       n_routes == o.n_routes && n_vteps == o.n_vteps;
	}
};

uint32_t ref_count(const struct dp_table_state &s, uint32_t ip_net)
{
	uint32_t c = 0;
	for (uint32_t i = 0; i < s.n_eps; i++)
		c += memcmp(s.eps[i].ip.addr, &ip_net, 4) == 0;
	return c;
}

class Tables : public ::testing::Test {
protected:
	static void SetUpTestSuite() { ASSERT_EQ(shim_eal_init(), 0); }
	void SetUp() override { ASSERT_EQ(dp_state_init(&s_, 4, 4, 4), 0); }
	void TearDown() override
	{
		dp_tables_free(t_);
		dp_state_free(&s_);
	}
	struct dp_tables *build(uint64_t gen = 1)
	{
		dp_tables_free(t_);
		t_ = dp_tables_build(&s_, resolve, &kPorts, gen, SOCKET_ID_ANY);
		EXPECT_NE(t_, nullptr) << strerror(errno);
		return t_;
	}

	struct dp_table_state s_;
	struct dp_tables *t_ = nullptr;
	char err_[256] = "";
};

// ---- desired state -------------------------------------------------------

TEST_F(Tables, EndpointAddReplaceDelete)
{
	auto a = ep(v4("10.244.1.2"), "pod0", kMac1, 100, 3);
	auto b = ep(v4("10.244.1.3"), "pod1", kMac2, 200);
	EXPECT_EQ(dp_state_ep_add(&s_, &a, resolve, &kPorts, err_, sizeof(err_)), 0);
	EXPECT_EQ(dp_state_ep_add(&s_, &b, resolve, &kPorts, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_eps, 2u);

	// Add of an existing key replaces it.
	auto a2 = ep(v4("10.244.1.2"), "pod1", kMac2, 101);
	EXPECT_EQ(dp_state_ep_add(&s_, &a2, resolve, &kPorts, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_eps, 2u);
	ASSERT_NE(build(), nullptr);
	const struct dp_endpoint *e = dp_ep_lookup(t_, net("10.244.1.2"));
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->ip, net("10.244.1.2"));
	EXPECT_EQ(e->port, 1);
	EXPECT_EQ(memcmp(e->mac.addr_bytes, kMac2.b, 6), 0);
	EXPECT_EQ(e->identity, 101u);
	EXPECT_EQ(e->flags, 0);

	struct nsdp_ip ip = v4("10.244.1.2");
	EXPECT_EQ(dp_state_ep_del(&s_, &ip, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_eps, 1u);
	EXPECT_EQ(dp_state_ep_del(&s_, &ip, err_, sizeof(err_)), -ENOENT);
	EXPECT_NE(strstr(err_, "10.244.1.2"), nullptr) << err_;
	ASSERT_NE(build(), nullptr);
	EXPECT_EQ(dp_ep_lookup(t_, net("10.244.1.2")), nullptr);
	e = dp_ep_lookup(t_, net("10.244.1.3"));
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->port, 1);
	EXPECT_EQ(e->identity, 200u);
}

TEST_F(Tables, EndpointErrorsLeaveStateUnchanged)
{
	auto a = ep(v4("10.244.1.2"), "pod0", kMac1);
	ASSERT_EQ(dp_state_ep_add(&s_, &a, resolve, &kPorts, err_, sizeof(err_)), 0);
	Snapshot before(s_);

	struct Case {
		const char *what;
		struct nsdp_endpoint e;
	};
	std::vector<Case> cases = {
		{"IPv6", ep(v6("fd00::2"), "pod0", kMac1)},
		{"no family", ep(v4("10.244.1.9"), "pod0", kMac1)},
		{"0.0.0.0", ep(v4("0.0.0.0"), "pod0", kMac1)},
		{"multicast MAC", ep(v4("10.244.1.9"), "pod0", {{0x01, 0, 0x5e, 0, 0, 1}})},
		{"broadcast MAC", ep(v4("10.244.1.9"), "pod0", {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})},
		{"zero MAC", ep(v4("10.244.1.9"), "pod0", {{0, 0, 0, 0, 0, 0}})},
		{"unknown port", ep(v4("10.244.1.9"), "uplink", kMac1)},
		{"unknown port (replace)", ep(v4("10.244.1.2"), "nope", kMac1)},
		{"port name without NUL", ep(v4("10.244.1.9"), "pod0", kMac1)},
	};
	cases[1].e.ip.family = 0;
	memset(cases[8].e.port, 'x', sizeof(cases[8].e.port));
	for (auto &c : cases) {
		err_[0] = 0;
		EXPECT_EQ(dp_state_ep_add(&s_, &c.e, resolve, &kPorts, err_, sizeof(err_)), -EINVAL)
			<< c.what;
		EXPECT_NE(err_[0], 0) << c.what << ": no message";
		EXPECT_TRUE(Snapshot(s_) == before) << c.what;
	}
	EXPECT_NE(strstr(err_, "port"), nullptr) << err_;
	// A NULL error buffer is allowed.
	EXPECT_EQ(dp_state_ep_add(&s_, &cases[0].e, resolve, &kPorts, nullptr, 0), -EINVAL);

	// Full: -ENOSPC and nothing changes; a replace still works.
	for (uint32_t i = 3; s_.n_eps < s_.max_eps; i++) {
		auto e = ep(v4(0x0af40100 + i), "pod2", kMac2);
		ASSERT_EQ(dp_state_ep_add(&s_, &e, resolve, &kPorts, err_, sizeof(err_)), 0);
	}
	Snapshot full(s_);
	auto extra = ep(v4("10.244.9.9"), "pod0", kMac1);
	err_[0] = 0;
	EXPECT_EQ(dp_state_ep_add(&s_, &extra, resolve, &kPorts, err_, sizeof(err_)), -ENOSPC);
	EXPECT_NE(strstr(err_, "full"), nullptr) << err_;
	EXPECT_TRUE(Snapshot(s_) == full);
	auto repl = ep(v4("10.244.1.2"), "pod3", kMac2, 7);
	EXPECT_EQ(dp_state_ep_add(&s_, &repl, resolve, &kPorts, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_eps, s_.max_eps);

	struct nsdp_ip unknown = v4("10.1.1.1");
	Snapshot now(s_);
	EXPECT_EQ(dp_state_ep_del(&s_, &unknown, err_, sizeof(err_)), -ENOENT);
	EXPECT_TRUE(Snapshot(s_) == now);
	// Same bytes, other family: not the same key.
	struct nsdp_ip same6 = v4("10.244.1.2");
	same6.family = AF_INET6;
	EXPECT_EQ(dp_state_ep_del(&s_, &same6, err_, sizeof(err_)), -ENOENT);
}

TEST_F(Tables, RoutesAndErrors)
{
	auto r1 = route(v4("10.244.1.0"), 24);
	auto r2 = route(v4("10.244.2.0"), 24, v4("192.168.100.2"));
	auto r3 = route(v4("10.244.0.0"), 16, v4("192.168.100.3"));
	EXPECT_EQ(dp_state_route_add(&s_, &r1, err_, sizeof(err_)), 0);
	EXPECT_EQ(dp_state_route_add(&s_, &r2, err_, sizeof(err_)), 0);
	EXPECT_EQ(dp_state_route_add(&s_, &r3, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_routes, 3u);
	// Same prefix, other length: another route. Same prefix/len: replace.
	auto r4 = route(v4("10.244.2.0"), 23, v4("192.168.100.4"));
	EXPECT_EQ(dp_state_route_add(&s_, &r4, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_routes, 4u);
	auto r2b = route(v4("10.244.2.0"), 24, v4("192.168.100.9"));
	EXPECT_EQ(dp_state_route_add(&s_, &r2b, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_routes, 4u);

	Snapshot before(s_);
	struct Case {
		const char *what;
		struct nsdp_route r;
		int rc;
	};
	std::vector<Case> cases = {
		{"IPv6 prefix", route(v6("fd00::"), 64), -EINVAL},
		{"IPv6 vtep", route(v4("10.9.0.0"), 16, v6("fd00::1")), -EINVAL},
		{"length 33", route(v4("10.9.0.0"), 33), -EINVAL},
		{"length 255", route(v4("10.9.0.0"), 255), -EINVAL},
		{"host bits /24", route(v4("10.9.0.1"), 24), -EINVAL},
		{"host bits /0", route(v4("0.0.0.1"), 0), -EINVAL},
		{"host bits /31", route(v4("10.9.0.1"), 31), -EINVAL},
		{"table full", route(v4("10.9.0.0"), 16), -ENOSPC},
	};
	for (auto &c : cases) {
		err_[0] = 0;
		EXPECT_EQ(dp_state_route_add(&s_, &c.r, err_, sizeof(err_)), c.rc) << c.what;
		EXPECT_NE(err_[0], 0) << c.what << ": no message";
		EXPECT_TRUE(Snapshot(s_) == before) << c.what;
	}
	auto host = route(v4("10.9.0.1"), 32);
	auto del_unknown = route(v4("10.244.3.0"), 24);
	EXPECT_EQ(dp_state_route_del(&s_, &del_unknown, err_, sizeof(err_)), -ENOENT);
	auto del_len = route(v4("10.244.1.0"), 25);
	EXPECT_EQ(dp_state_route_del(&s_, &del_len, err_, sizeof(err_)), -ENOENT);
	auto del_bad = route(v4("10.244.1.1"), 24);
	EXPECT_EQ(dp_state_route_del(&s_, &del_bad, err_, sizeof(err_)), -EINVAL);
	EXPECT_TRUE(Snapshot(s_) == before);

	EXPECT_EQ(dp_state_route_del(&s_, &r3, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_routes, 3u);
	EXPECT_EQ(dp_state_route_add(&s_, &host, err_, sizeof(err_)), 0);
	auto def = route(v4("0.0.0.0"), 0);
	EXPECT_EQ(dp_state_route_add(&s_, &def, err_, sizeof(err_)), -ENOSPC);
	EXPECT_EQ(dp_state_route_del(&s_, &host, err_, sizeof(err_)), 0);
	EXPECT_EQ(dp_state_route_add(&s_, &def, err_, sizeof(err_)), 0);
}

TEST_F(Tables, VtepsAndErrors)
{
	auto a = vtep(v4("192.168.100.2"), kMac1);
	EXPECT_EQ(dp_state_vtep_add(&s_, &a, err_, sizeof(err_)), 0);
	auto a2 = vtep(v4("192.168.100.2"), kMac2);
	EXPECT_EQ(dp_state_vtep_add(&s_, &a2, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_vteps, 1u);
	EXPECT_EQ(memcmp(s_.vteps[0].mac, kMac2.b, 6), 0);

	Snapshot before(s_);
	auto b6 = vtep(v6("fd00::1"), kMac1);
	auto bm = vtep(v4("192.168.100.3"), {{0x03, 0, 0, 0, 0, 1}});
	auto bz = vtep(v4("192.168.100.3"), {{0, 0, 0, 0, 0, 0}});
	for (auto *v : {&b6, &bm, &bz}) {
		err_[0] = 0;
		EXPECT_EQ(dp_state_vtep_add(&s_, v, err_, sizeof(err_)), -EINVAL);
		EXPECT_NE(err_[0], 0);
		EXPECT_TRUE(Snapshot(s_) == before);
	}
	for (uint32_t i = 3; s_.n_vteps < s_.max_vteps; i++) {
		auto v = vtep(v4(0xc0a86400 + i), kMac1);
		ASSERT_EQ(dp_state_vtep_add(&s_, &v, err_, sizeof(err_)), 0);
	}
	Snapshot full(s_);
	auto extra = vtep(v4("192.168.200.1"), kMac1);
	EXPECT_EQ(dp_state_vtep_add(&s_, &extra, err_, sizeof(err_)), -ENOSPC);
	EXPECT_TRUE(Snapshot(s_) == full);
	struct nsdp_ip unknown = v4("192.168.200.1");
	EXPECT_EQ(dp_state_vtep_del(&s_, &unknown, err_, sizeof(err_)), -ENOENT);
	EXPECT_TRUE(Snapshot(s_) == full);
	EXPECT_EQ(dp_state_vtep_del(&s_, &a.ip, err_, sizeof(err_)), 0);
	EXPECT_EQ(s_.n_vteps, s_.max_vteps - 1);
	EXPECT_EQ(dp_state_vtep_add(&s_, &extra, err_, sizeof(err_)), 0);

	dp_state_clear(&s_);
	EXPECT_EQ(s_.n_vteps, 0u);
	EXPECT_EQ(s_.n_eps, 0u);
	EXPECT_EQ(s_.n_routes, 0u);
}

// ---- built tables ------------------------------------------------------------

TEST_F(Tables, BuildEmpty)
{
	ASSERT_NE(build(5), nullptr);
	EXPECT_EQ(t_->generation, 5u);
	EXPECT_EQ(t_->n_eps, 0u);
	EXPECT_EQ(t_->n_vteps, 0u);
	EXPECT_EQ(dp_ep_lookup(t_, net("10.0.0.1")), nullptr);
	EXPECT_EQ(dp_route_lookup(t_, net("10.0.0.1")), -1);
	EXPECT_EQ(dp_vtep_lookup(t_, net("10.0.0.1")), nullptr);
	uint32_t ips[3] = {net("1.2.3.4"), 0, 0xffffffffu};
	const struct dp_endpoint *out[3] = {t_->eps, t_->eps, t_->eps};
	dp_ep_lookup_bulk(t_, ips, 3, out);
	for (auto *o : out)
		EXPECT_EQ(o, nullptr);
}

TEST_F(Tables, BuildAndLookup)
{
	dp_state_free(&s_);
	ASSERT_EQ(dp_state_init(&s_, 16, 16, 16), 0);
	auto v2 = vtep(v4("192.168.100.2"), kMac1);
	auto v3 = vtep(v4("192.168.100.3"), kMac2);
	ASSERT_EQ(dp_state_vtep_add(&s_, &v2, err_, sizeof(err_)), 0);
	ASSERT_EQ(dp_state_vtep_add(&s_, &v3, err_, sizeof(err_)), 0);
	std::vector<struct nsdp_route> routes = {
		route(v4("10.244.1.0"), 24),
		route(v4("10.244.2.0"), 24, v4("192.168.100.2")),
		route(v4("10.244.2.128"), 25, v4("192.168.100.3")),
		route(v4("10.244.2.7"), 32),
		route(v4("10.245.0.0"), 16, v4("192.168.100.99")), // VTEP not known
		route(v4("10.0.0.0"), 8, v4("192.168.100.2")),
		route(v4("128.0.0.0"), 1, v4("192.168.100.3")),
	};
	for (auto &r : routes)
		ASSERT_EQ(dp_state_route_add(&s_, &r, err_, sizeof(err_)), 0) << err_;
	auto e1 = ep(v4("10.244.1.2"), "pod0", kMac1, 100, 1);
	auto e2 = ep(v4("10.244.1.3"), "pod3", kMac2, 200, 2);
	ASSERT_EQ(dp_state_ep_add(&s_, &e1, resolve, &kPorts, err_, sizeof(err_)), 0);
	ASSERT_EQ(dp_state_ep_add(&s_, &e2, resolve, &kPorts, err_, sizeof(err_)), 0);
	ASSERT_NE(build(77), nullptr);
	EXPECT_EQ(t_->generation, 77u);
	EXPECT_EQ(t_->n_eps, 2u);
	EXPECT_EQ(t_->n_vteps, 2u);

	auto via = [&](const char *dst) -> std::string {
		int64_t nh = dp_route_lookup(t_, net(dst));
		if (nh < 0)
			return "none";
		if (nh == DP_ROUTE_LOCAL)
			return "local";
		if (nh == DP_ROUTE_NO_VTEP)
			return "no-vtep";
		if (nh >= t_->n_vteps)
			return "bad index";
		char b[32];
		inet_ntop(AF_INET, &t_->vteps[nh].ip, b, sizeof(b));
		return b;
	};
	EXPECT_EQ(via("10.244.1.2"), "local");
	EXPECT_EQ(via("10.244.1.255"), "local");
	EXPECT_EQ(via("10.244.2.1"), "192.168.100.2");
	EXPECT_EQ(via("10.244.2.127"), "192.168.100.2");
	EXPECT_EQ(via("10.244.2.128"), "192.168.100.3");
	EXPECT_EQ(via("10.244.2.7"), "local");
	EXPECT_EQ(via("10.244.2.6"), "192.168.100.2");
	EXPECT_EQ(via("10.245.3.3"), "no-vtep");
	EXPECT_EQ(via("10.246.0.1"), "192.168.100.2");
	EXPECT_EQ(via("11.0.0.1"), "none");
	EXPECT_EQ(via("128.0.0.0"), "192.168.100.3");
	EXPECT_EQ(via("255.255.255.255"), "192.168.100.3");

	const struct dp_vtep *v = dp_vtep_lookup(t_, net("192.168.100.3"));
	ASSERT_NE(v, nullptr);
	EXPECT_EQ(v->ip, net("192.168.100.3"));
	EXPECT_EQ(memcmp(v->mac.addr_bytes, kMac2.b, 6), 0);
	EXPECT_EQ(dp_vtep_lookup(t_, net("192.168.100.99")), nullptr);

	const struct dp_endpoint *e = dp_ep_lookup(t_, net("10.244.1.3"));
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->port, 3);
	EXPECT_EQ(e->identity, 200u);
	EXPECT_EQ(e->flags, 2);
	EXPECT_EQ(memcmp(e->mac.addr_bytes, kMac2.b, 6), 0);
	EXPECT_EQ(dp_ep_lookup(t_, net("10.244.1.4")), nullptr);

	// Adding the missing VTEP and rebuilding resolves the route.
	auto v99 = vtep(v4("192.168.100.99"), kMac1);
	ASSERT_EQ(dp_state_vtep_add(&s_, &v99, err_, sizeof(err_)), 0);
	ASSERT_NE(build(78), nullptr);
	EXPECT_EQ(via("10.245.3.3"), "192.168.100.99");
	// Deleting a VTEP turns its routes into no-vtep, not into a wrong VTEP.
	ASSERT_EQ(dp_state_vtep_del(&s_, &v2.ip, err_, sizeof(err_)), 0);
	ASSERT_NE(build(79), nullptr);
	EXPECT_EQ(via("10.244.2.1"), "no-vtep");
	EXPECT_EQ(via("10.245.3.3"), "192.168.100.99");
	EXPECT_EQ(via("10.244.2.200"), "192.168.100.3");
}

// dp_state_route_add accepts prefix length 0 (a default route), but
// rte_lpm_add rejects depth 0, so dp_tables_build failed with EINVAL and no
// table set could be published at all while the route existed.
TEST_F(Tables, DefaultRoute)
{
	auto v = vtep(v4("192.168.100.3"), kMac2);
	ASSERT_EQ(dp_state_vtep_add(&s_, &v, err_, sizeof(err_)), 0);
	auto def = route(v4("0.0.0.0"), 0, v4("192.168.100.3"));
	auto local = route(v4("10.244.1.0"), 24);
	ASSERT_EQ(dp_state_route_add(&s_, &def, err_, sizeof(err_)), 0) << err_;
	ASSERT_EQ(dp_state_route_add(&s_, &local, err_, sizeof(err_)), 0) << err_;
	ASSERT_NE(build(), nullptr);
	EXPECT_EQ(dp_route_lookup(t_, net("10.244.1.9")), DP_ROUTE_LOCAL);
	for (const char *a : {"0.0.0.0", "1.2.3.4", "127.255.255.255", "128.0.0.0",
			      "255.255.255.255"}) {
		int64_t nh = dp_route_lookup(t_, net(a));
		ASSERT_GE(nh, 0) << a;
		ASSERT_LT(nh, t_->n_vteps) << a;
		EXPECT_EQ(t_->vteps[nh].ip, net("192.168.100.3")) << a;
	}
}

TEST_F(Tables, BuildSkipsEndpointOfVanishedPort)
{
	auto a = ep(v4("10.244.1.2"), "pod3", kMac1);
	auto b = ep(v4("10.244.1.3"), "pod0", kMac1);
	ASSERT_EQ(dp_state_ep_add(&s_, &a, resolve, &kPorts, err_, sizeof(err_)), 0);
	ASSERT_EQ(dp_state_ep_add(&s_, &b, resolve, &kPorts, err_, sizeof(err_)), 0);
	Ports fewer = {{"pod0"}};
	t_ = dp_tables_build(&s_, resolve, &fewer, 1, SOCKET_ID_ANY);
	ASSERT_NE(t_, nullptr);
	EXPECT_EQ(t_->n_eps, 1u);
	EXPECT_EQ(dp_ep_lookup(t_, net("10.244.1.2")), nullptr);
	ASSERT_NE(dp_ep_lookup(t_, net("10.244.1.3")), nullptr);
	EXPECT_EQ(dp_ep_lookup(t_, net("10.244.1.3"))->port, 0);
}

// The hash tables are sized from the entry count: every count must fit,
// including the ones just below a sizing threshold.
TEST_F(Tables, EveryEntryCountFits)
{
	dp_state_free(&s_);
	ASSERT_EQ(dp_state_init(&s_, 300, 4, 300), 0);
	std::mt19937 rng(4242);
	for (uint32_t n = 1; n <= 300; n++) {
		uint32_t a;
		do
			a = (uint32_t)rng() | 1;
		while (ref_count(s_, htonl(a)));
		auto e = ep(v4(a), "pod1", kMac1, n);
		ASSERT_EQ(dp_state_ep_add(&s_, &e, resolve, &kPorts, err_, sizeof(err_)), 0);
		auto v = vtep(v4(a), kMac2);
		ASSERT_EQ(dp_state_vtep_add(&s_, &v, err_, sizeof(err_)), 0);
		if (n < 40 && n % 8)
			continue;
		ASSERT_NE(build(n), nullptr) << n << " entries: " << strerror(errno);
		ASSERT_EQ(t_->n_eps, n);
		for (uint32_t i = 0; i < n; i++) {
			ASSERT_NE(dp_ep_lookup(t_, net(s_.eps[i].ip)), nullptr) << n;
			ASSERT_NE(dp_vtep_lookup(t_, net(s_.vteps[i].ip)), nullptr) << n;
		}
	}
}

// ---- randomized reference test -------------------------------------------

uint32_t mask_of(unsigned len)
{
	return len ? ~0u << (32 - len) : 0;
}

struct RefRoute {
	bool found;
	bool local;
	bool vtep_known;
	uint32_t vtep; // network order
	unsigned len;
};

// Linear longest-prefix match over the desired state.
RefRoute ref_route(const struct dp_table_state &s, uint32_t ip_net)
{
	RefRoute best = {false, false, false, 0, 0};
	uint32_t ip = ntohl(ip_net);
	for (uint32_t i = 0; i < s.n_routes; i++) {
		const struct nsdp_route &r = s.routes[i];
		uint32_t m = mask_of(r.prefix_len);
		if ((ip & m) != ntohl(net(r.prefix)))
			continue;
		if (best.found && r.prefix_len <= best.len)
			continue;
		best.found = true;
		best.len = r.prefix_len;
		best.local = r.vtep.family == 0;
		best.vtep = net(r.vtep);
		best.vtep_known = false;
		for (uint32_t j = 0; !best.local && j < s.n_vteps; j++)
			if (net(s.vteps[j].ip) == best.vtep)
				best.vtep_known = true;
	}
	return best;
}

const struct nsdp_endpoint *ref_ep(const struct dp_table_state &s, uint32_t ip_net)
{
	for (uint32_t i = 0; i < s.n_eps; i++)
		if (net(s.eps[i].ip) == ip_net)
			return &s.eps[i];
	return nullptr;
}

const struct nsdp_vtep *ref_vtep(const struct dp_table_state &s, uint32_t ip_net)
{
	for (uint32_t i = 0; i < s.n_vteps; i++)
		if (net(s.vteps[i].ip) == ip_net)
			return &s.vteps[i];
	return nullptr;
}

std::string ipstr(uint32_t ip_net)
{
	char b[32];
	inet_ntop(AF_INET, &ip_net, b, sizeof(b));
	return b;
}

bool same_ep(const struct dp_endpoint *got, const struct nsdp_endpoint *want)
{
	if (!got || !want)
		return got == nullptr && want == nullptr;
	return got->ip == net(want->ip) && got->port == resolve(&kPorts, want->port) &&
	       memcmp(got->mac.addr_bytes, want->mac, 6) == 0 && got->identity == want->identity &&
	       got->flags == want->flags;
}

// Compare every lookup for every address; returns the number of mismatches.
unsigned check_all(const struct dp_table_state &s, const struct dp_tables *t,
		   const std::vector<uint32_t> &addrs, std::mt19937_64 &rng, unsigned *hits)
{
	unsigned bad = 0;
	auto fail = [&](const std::string &msg) {
		if (bad++ < 10)
			ADD_FAILURE() << msg;
	};
	for (uint32_t a : addrs) {
		RefRoute want = ref_route(s, a);
		int64_t got = dp_route_lookup(t, a);
		if (!want.found) {
			if (got != -1)
				fail("route " + ipstr(a) + ": want none, got " + std::to_string(got));
		} else if (want.local) {
			hits[0]++;
			if (got != DP_ROUTE_LOCAL)
				fail("route " + ipstr(a) + ": want local, got " + std::to_string(got));
		} else if (!want.vtep_known) {
			hits[1]++;
			if (got != DP_ROUTE_NO_VTEP)
				fail("route " + ipstr(a) + ": want no-vtep, got " + std::to_string(got));
		} else {
			hits[2]++;
			if (got < 0 || got >= t->n_vteps || t->vteps[got].ip != want.vtep ||
			    memcmp(t->vteps[got].mac.addr_bytes, ref_vtep(s, want.vtep)->mac, 6))
				fail("route " + ipstr(a) + ": want vtep " + ipstr(want.vtep) + ", got " +
				     std::to_string(got));
		}
		const struct nsdp_endpoint *we = ref_ep(s, a);
		if (we)
			hits[3]++;
		if (!same_ep(dp_ep_lookup(t, a), we))
			fail("endpoint " + ipstr(a) + (we ? ": want found" : ": want none"));
		const struct nsdp_vtep *wv = ref_vtep(s, a);
		const struct dp_vtep *gv = dp_vtep_lookup(t, a);
		if (wv)
			hits[4]++;
		if ((wv == nullptr) != (gv == nullptr) ||
		    (wv && (gv->ip != a || memcmp(gv->mac.addr_bytes, wv->mac, 6))))
			fail("vtep " + ipstr(a));
	}
	// Bulk lookups in random group sizes, against the same reference.
	for (size_t i = 0; i < addrs.size();) {
		unsigned n = 1 + (unsigned)(rng() % 64);
		n = (unsigned)std::min<size_t>(n, addrs.size() - i);
		const struct dp_endpoint *out[64];
		for (auto &o : out)
			o = (const struct dp_endpoint *)&out; // garbage must be overwritten
		dp_ep_lookup_bulk(t, &addrs[i], n, out);
		for (unsigned j = 0; j < n; j++)
			if (!same_ep(out[j], ref_ep(s, addrs[i + j])))
				fail("bulk endpoint " + ipstr(addrs[i + j]) + " (group of " +
				     std::to_string(n) + ", index " + std::to_string(j) + ")");
		i += n;
	}
	return bad;
}

std::vector<uint32_t> random_addrs(const struct dp_table_state &s,
				   const std::vector<uint32_t> &extra, size_t n,
				   std::mt19937_64 &rng)
{
	std::vector<uint32_t> out;
	out.reserve(n);
	while (out.size() < n) {
		unsigned kind = (unsigned)(rng() % 10);
		uint32_t a = (uint32_t)rng();
		if (kind < 5 && s.n_routes) {
			// Inside a route, often at its edges.
			const struct nsdp_route &r = s.routes[rng() % s.n_routes];
			uint32_t m = mask_of(r.prefix_len);
			uint32_t host = (uint32_t)rng();
			if (kind == 0)
				host = 0;
			else if (kind == 1)
				host = ~0u;
			a = htonl(ntohl(net(r.prefix)) | (host & ~m));
		} else if (kind < 7 && s.n_eps) {
			a = net(s.eps[rng() % s.n_eps].ip);
			if (rng() % 4 == 0)
				a = htonl(ntohl(a) + (rng() % 2 ? 1 : -1)); // a neighbour
		} else if (kind < 8 && !extra.empty()) {
			a = extra[rng() % extra.size()];
		}
		out.push_back(a);
	}
	return out;
}

uint64_t test_seed()
{
	const char *env = getenv("NSDP_SEED");
	if (env && *env)
		return strtoull(env, nullptr, 0);
	return std::random_device{}() ^ ((uint64_t)std::random_device{}() << 32);
}

TEST_F(Tables, RandomizedAgainstLinearReference)
{
	const uint64_t seed = test_seed();
	printf("NSDP_SEED=%" PRIu64 " (set it to replay this run)\n", seed);
	RecordProperty("seed", std::to_string(seed));
	SCOPED_TRACE("NSDP_SEED=" + std::to_string(seed));
	std::mt19937_64 rng(seed);

	dp_state_free(&s_);
	ASSERT_EQ(dp_state_init(&s_, 2000, 1000, 64), 0);

	// VTEPs: 32 known, 16 only referenced by routes.
	std::vector<uint32_t> vtep_ips;
	while (vtep_ips.size() < 48) {
		uint32_t ip = htonl(0xc0a80000u | (uint32_t)(rng() % 65536));
		if (std::find(vtep_ips.begin(), vtep_ips.end(), ip) == vtep_ips.end())
			vtep_ips.push_back(ip);
	}
	for (size_t i = 0; i < 32; i++) {
		Mac6 m = {{0x02, 0xaa, 0, 0, (uint8_t)(i >> 8), (uint8_t)i}};
		auto v = vtep(v4(ntohl(vtep_ips[i])), m);
		ASSERT_EQ(dp_state_vtep_add(&s_, &v, err_, sizeof(err_)), 0) << err_;
	}

	// Routes: random prefixes /8../32, a third nested inside earlier ones.
	for (int i = 0; i < 600; i++) {
		unsigned len = 8 + (unsigned)(rng() % 25);
		uint32_t base = (uint32_t)rng();
		if (i > 10 && rng() % 3 == 0) {
			const struct nsdp_route &o = s_.routes[rng() % s_.n_routes];
			len = std::min(32u, o.prefix_len + 1 + (unsigned)(rng() % 8));
			base = ntohl(net(o.prefix)) | (base & ~mask_of(o.prefix_len));
		}
		struct nsdp_route r = route(v4(base & mask_of(len)), len);
		unsigned kind = (unsigned)(rng() % 10);
		if (kind >= 3)
			r.vtep = v4(ntohl(vtep_ips[kind < 8 ? rng() % 32 : 32 + rng() % 16]));
		ASSERT_EQ(dp_state_route_add(&s_, &r, err_, sizeof(err_)), 0) << err_;
	}

	// Endpoints: mostly inside routes, some anywhere.
	for (int i = 0; i < 1500; i++) {
		uint32_t a = (uint32_t)rng();
		if (rng() % 4) {
			const struct nsdp_route &r = s_.routes[rng() % s_.n_routes];
			a = ntohl(net(r.prefix)) | (a & ~mask_of(r.prefix_len));
		}
		if (a == 0)
			continue;
		Mac6 m = {{(uint8_t)((rng() & 0xfc) | 0x02), (uint8_t)rng(), (uint8_t)rng(),
			   (uint8_t)rng(), (uint8_t)rng(), (uint8_t)(rng() | 1)}};
		auto e = ep(v4(a), kPorts.names[rng() % kPorts.names.size()].c_str(), m,
			    (uint32_t)rng(), (uint16_t)rng());
		ASSERT_EQ(dp_state_ep_add(&s_, &e, resolve, &kPorts, err_, sizeof(err_)), 0) << err_;
	}

	unsigned hits[5] = {0};
	for (int round = 0; round < 3; round++) {
		SCOPED_TRACE("round " + std::to_string(round));
		ASSERT_NE(build(100 + round), nullptr);
		ASSERT_EQ(t_->n_eps, s_.n_eps);
		ASSERT_EQ(t_->n_vteps, s_.n_vteps);
		auto addrs = random_addrs(s_, vtep_ips, 12000, rng);
		ASSERT_EQ(check_all(s_, t_, addrs, rng, hits), 0u);

		// Then delete a random quarter of everything and add some back.
		for (uint32_t i = 0; i < s_.n_routes / 4; i++) {
			struct nsdp_route r = s_.routes[rng() % s_.n_routes];
			ASSERT_EQ(dp_state_route_del(&s_, &r, err_, sizeof(err_)), 0) << err_;
		}
		for (uint32_t i = 0; i < s_.n_eps / 4; i++) {
			struct nsdp_ip ip = s_.eps[rng() % s_.n_eps].ip;
			ASSERT_EQ(dp_state_ep_del(&s_, &ip, err_, sizeof(err_)), 0) << err_;
		}
		for (uint32_t i = 0; i < 4 && s_.n_vteps; i++) {
			struct nsdp_ip ip = s_.vteps[rng() % s_.n_vteps].ip;
			ASSERT_EQ(dp_state_vtep_del(&s_, &ip, err_, sizeof(err_)), 0) << err_;
		}
		for (int i = 0; i < 100; i++) {
			unsigned len = 8 + (unsigned)(rng() % 25);
			struct nsdp_route r = route(v4((uint32_t)rng() & mask_of(len)), len);
			if (rng() % 2)
				r.vtep = v4(ntohl(vtep_ips[rng() % vtep_ips.size()]));
			ASSERT_EQ(dp_state_route_add(&s_, &r, err_, sizeof(err_)), 0) << err_;
		}
	}
	printf("checked 36000 addresses: %u local, %u no-vtep, %u via vtep, %u endpoints, "
	       "%u vteps\n",
	       hits[0], hits[1], hits[2], hits[3], hits[4]);
	// The bias must make every kind of answer common.
	for (unsigned h : hits)
		EXPECT_GT(h, 300u);
}

} // namespace
