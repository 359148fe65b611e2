/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network policy conformance.
 *
 * 1. The reference evaluator (refeval.cc) on small clusters built here in
 *    memory, without the manifest loader.
 * 2. Every scenario of tests/policy/conformance/ (the upstream Kubernetes
 *    e2e model x,y,z / a,b,c plus one scenario's policies), loaded with
 *    k8s_load_dir and evaluated cell by cell against the hand-written
 *    expected.txt matrices; probes.txt must be in step with expected.txt.
 * 3. The rule each verdict names, on a few cells.
 *
 * NSDP_TEST_SRCDIR is the tests/ folder of the source tree.
 */
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "refeval.h"

namespace fs = std::filesystem;

/* ------------------------------------------------------------------ */
/* In-memory clusters                                                  */
/* ------------------------------------------------------------------ */

/* Owns everything a hand-built k8s_cluster points to. Never k8s_cluster_free'd. */
class Arena {
public:
	char *str(const std::string &s)
	{
		strs_.push_back(std::make_unique<std::string>(s));
		return strs_.back()->data();
	}
	template <class T> T *arr(std::vector<T> v)
	{
		if (v.empty())
			return nullptr;
		auto p = std::make_shared<std::vector<T>>(std::move(v));
		keep_.push_back(p);
		return p->data();
	}
	k8s_labels labels(const std::vector<std::pair<std::string, std::string>> &kv)
	{
		std::vector<k8s_label> v;
		for (auto &p : kv)
			v.push_back({str(p.first), str(p.second)});
		return {(unsigned)v.size(), arr(v)};
	}
	k8s_selector sel(const std::vector<std::pair<std::string, std::string>> &match = {})
	{
		k8s_selector s{};
		s.present = true;
		s.match_labels = labels(match);
		return s;
	}
	k8s_selector sel_expr(const std::string &key, k8s_sel_op op,
			      const std::vector<std::string> &values = {})
	{
		k8s_selector s = sel();
		std::vector<char *> vals;
		for (auto &v : values)
			vals.push_back(str(v));
		std::vector<k8s_sel_req> reqs = {{str(key), op, (unsigned)vals.size(), arr(vals)}};
		s.n_exprs = 1;
		s.exprs = arr(reqs);
		return s;
	}
	k8s_cidr cidr(const char *addr, uint8_t len)
	{
		k8s_cidr c{};
		inet_pton(AF_INET, addr, &c.addr);
		c.len = len;
		return c;
	}

private:
	std::vector<std::unique_ptr<std::string>> strs_;
	std::vector<std::shared_ptr<void>> keep_;
};

/* The e2e model (x,y,z / a,b,c, 10.244.<ns>.<pod>, 80/81 on TCP/UDP/SCTP) in memory. */
struct MemCluster {
	Arena A;
	std::vector<k8s_namespace> nss;
	std::vector<k8s_pod> pods;
	std::vector<k8s_netpol> nps;
	std::vector<k8s_anp> anps;
	k8s_cluster cl{};

	MemCluster()
	{
		const char *ns[] = {"x", "y", "z"}, *pn[] = {"a", "b", "c"};
		for (int i = 0; i < 3; i++) {
			nss.push_back({A.str(ns[i]),
				       A.labels({{"ns", ns[i]},
						 {"kubernetes.io/metadata.name", ns[i]}})});
			for (int j = 0; j < 3; j++) {
				k8s_pod p{};
				p.ns = A.str(ns[i]);
				p.name = A.str(pn[j]);
				p.labels = A.labels({{"pod", pn[j]}});
				p.node = A.str(j == 1 ? "node-2" : "node-1");
				std::string ip = "10.244." + std::to_string(i + 1) + "." +
						 std::to_string(j + 1);
				uint32_t a;
				inet_pton(AF_INET, ip.c_str(), &a);
				p.n_ips = 1;
				p.ips = A.arr(std::vector<uint32_t>{a});
				std::vector<k8s_container_port> cps;
				for (auto pr : {std::make_pair("tcp", K8S_PROTO_TCP),
						std::make_pair("udp", K8S_PROTO_UDP),
						std::make_pair("sctp", K8S_PROTO_SCTP)})
					for (int port : {80, 81})
						cps.push_back({A.str("serve-" + std::to_string(port) +
								     "-" + pr.first),
							       (uint16_t)port, (uint8_t)pr.second});
				p.n_ports = cps.size();
				p.ports = A.arr(cps);
				pods.push_back(p);
			}
		}
	}
	const k8s_cluster &get()
	{
		cl.n_namespaces = nss.size();
		cl.namespaces = nss.data();
		cl.n_pods = pods.size();
		cl.pods = pods.data();
		cl.n_netpols = nps.size();
		cl.netpols = nps.data();
		cl.n_anps = anps.size();
		cl.anps = anps.data();
		return cl;
	}
	Endpoint ep(const std::string &name)
	{
		Endpoint e;
		EXPECT_TRUE(resolve_endpoint(get(), name, &e)) << name;
		return e;
	}
	RefVerdict decide(const std::string &s, const std::string &d, uint16_t port = 80,
			  uint8_t proto = K8S_PROTO_TCP)
	{
		Endpoint se = ep(s), de = ep(d);
		return ref_decide(get(), se, de, port, proto);
	}
	k8s_netpol &np(const char *ns, const char *name, k8s_selector pod_sel, bool in, bool eg)
	{
		k8s_netpol p{};
		p.ns = A.str(ns);
		p.name = A.str(name);
		p.pod_sel = pod_sel;
		p.ingress = in;
		p.egress = eg;
		nps.push_back(p);
		return nps.back();
	}
	k8s_np_rule rule(std::vector<k8s_np_peer> peers, std::vector<k8s_np_port> ports = {})
	{
		k8s_np_rule r{};
		r.has_peers = !peers.empty();
		r.n_peers = peers.size();
		r.peers = A.arr(peers);
		r.has_ports = !ports.empty();
		r.n_ports = ports.size();
		r.ports = A.arr(ports);
		return r;
	}
	k8s_anp &anp(const char *name, int prio, k8s_anp_peer subject, bool baseline = false)
	{
		k8s_anp a{};
		a.name = A.str(name);
		a.priority = prio;
		a.baseline = baseline;
		a.subject = subject;
		anps.push_back(a);
		return anps.back();
	}
	k8s_anp_peer namespaces(k8s_selector s)
	{
		k8s_anp_peer p{};
		p.kind = K8S_ANP_NAMESPACES;
		p.ns_sel = s;
		return p;
	}
	k8s_anp_rule arule(k8s_anp_action act, std::vector<k8s_anp_peer> peers,
			   std::vector<k8s_anp_port> ports = {})
	{
		k8s_anp_rule r{};
		r.name = A.str("r");
		r.action = act;
		r.n_peers = peers.size();
		r.peers = A.arr(peers);
		r.has_ports = !ports.empty();
		r.n_ports = ports.size();
		r.ports = A.arr(ports);
		return r;
	}
};

static k8s_np_peer ns_peer(k8s_selector s)
{
	k8s_np_peer p{};
	p.ns_sel = s;
	return p;
}

static k8s_np_peer pod_peer(k8s_selector s)
{
	k8s_np_peer p{};
	p.pod_sel = s;
	return p;
}

TEST(RefEval, DefaultAllow)
{
	MemCluster m;
	RefVerdict v = m.decide("x/a", "y/b");
	EXPECT_TRUE(v.allow);
	EXPECT_EQ(v.rule, "default-allow");
	v = m.decide("192.0.2.1", "192.0.2.2");
	EXPECT_TRUE(v.allow);
	EXPECT_EQ(v.rule, "unrestricted");
}

TEST(RefEval, EndpointResolution)
{
	MemCluster m;
	Endpoint e = m.ep("10.244.2.3");
	ASSERT_TRUE(e.is_pod());
	EXPECT_EQ(endpoint_name(m.get(), e), "y/c");
	e = m.ep("192.0.2.7");
	EXPECT_FALSE(e.is_pod());
	EXPECT_EQ(endpoint_name(m.get(), e), "192.0.2.7");
	Endpoint none;
	EXPECT_FALSE(resolve_endpoint(m.get(), "q/a", &none));
	EXPECT_FALSE(resolve_endpoint(m.get(), "nonsense", &none));
}

TEST(RefEval, DenyAllIngressAndEgress)
{
	MemCluster m;
	m.np("x", "deny", m.A.sel(), true, true);
	RefVerdict v = m.decide("y/a", "x/b");
	EXPECT_FALSE(v.allow);
	EXPECT_EQ(v.rule, "isolated");
	v = m.decide("x/b", "y/a");
	EXPECT_FALSE(v.allow);
	v = m.decide("y/a", "z/b");
	EXPECT_TRUE(v.allow);
	/* External source into x: ingress side isolates too. */
	EXPECT_FALSE(m.decide("192.0.2.1", "x/a").allow);
	EXPECT_TRUE(m.decide("192.0.2.1", "y/a").allow);
}

TEST(RefEval, PeerSelectorsAndExternal)
{
	MemCluster m;
	k8s_netpol &p = m.np("x", "p", m.A.sel({{"pod", "a"}}), true, false);
	/* podSelector alone: own namespace; namespaceSelector {}: everything. */
	std::vector<k8s_np_rule> rules = {m.rule({pod_peer(m.A.sel({{"pod", "b"}}))}),
					  m.rule({ns_peer(m.A.sel({{"ns", "z"}}))})};
	p.n_ingress = rules.size();
	p.ingress_rules = m.A.arr(rules);
	EXPECT_TRUE(m.decide("x/b", "x/a").allow);
	EXPECT_FALSE(m.decide("y/b", "x/a").allow);
	RefVerdict v = m.decide("z/c", "x/a");
	EXPECT_TRUE(v.allow);
	EXPECT_EQ(v.rule, "networkpolicy x/p ingress[1]");
	EXPECT_FALSE(m.decide("192.0.2.1", "x/a").allow); /* selectors never match IPs */
	EXPECT_TRUE(m.decide("192.0.2.1", "x/b").allow);
}

TEST(RefEval, IpBlockMatchesPodIpsAndExcept)
{
	MemCluster m;
	k8s_netpol &p = m.np("x", "p", m.A.sel(), true, false);
	k8s_np_peer ipb{};
	ipb.has_ip_block = true;
	ipb.cidr = m.A.cidr("10.244.0.0", 16);
	std::vector<k8s_cidr> ex = {m.A.cidr("10.244.3.0", 24)};
	ipb.n_except = 1;
	ipb.except = m.A.arr(ex);
	std::vector<k8s_np_rule> rules = {m.rule({ipb})};
	p.n_ingress = 1;
	p.ingress_rules = m.A.arr(rules);
	EXPECT_TRUE(m.decide("y/a", "x/a").allow);
	EXPECT_FALSE(m.decide("z/a", "x/a").allow);
	EXPECT_TRUE(m.decide("10.244.9.9", "x/a").allow);
	EXPECT_FALSE(m.decide("192.0.2.1", "x/a").allow);
}

TEST(RefEval, SelectorOperators)
{
	MemCluster m; /* only its arena is used, for the selectors */
	auto matches = [&](k8s_selector s) {
		/* A policy selecting by s in x isolates x/a iff s matches it. */
		MemCluster c;
		c.np("x", "p", s, true, false);
		return !c.decide("y/a", "x/a").allow;
	};
	EXPECT_TRUE(matches(m.A.sel_expr("pod", K8S_SEL_IN, {"a", "b"})));
	EXPECT_FALSE(matches(m.A.sel_expr("pod", K8S_SEL_IN, {"b"})));
	EXPECT_FALSE(matches(m.A.sel_expr("pod", K8S_SEL_NOT_IN, {"a"})));
	EXPECT_TRUE(matches(m.A.sel_expr("role", K8S_SEL_NOT_IN, {"x"})));
	EXPECT_TRUE(matches(m.A.sel_expr("pod", K8S_SEL_EXISTS)));
	EXPECT_FALSE(matches(m.A.sel_expr("role", K8S_SEL_EXISTS)));
	EXPECT_TRUE(matches(m.A.sel_expr("role", K8S_SEL_DOES_NOT_EXIST)));
	EXPECT_FALSE(matches(m.A.sel_expr("pod", K8S_SEL_DOES_NOT_EXIST)));
	EXPECT_TRUE(matches(m.A.sel()));
	EXPECT_FALSE(matches(m.A.sel({{"pod", "a"}, {"x", "y"}})));
}

TEST(RefEval, PortsNumericRangeNamed)
{
	MemCluster m;
	k8s_netpol &p = m.np("y", "p", m.A.sel(), true, true);
	k8s_np_port range{};
	range.proto = K8S_PROTO_UDP;
	range.has_port = true;
	range.port = 80;
	range.has_end = true;
	range.end_port = 81;
	k8s_np_port named{};
	named.proto = K8S_PROTO_SCTP;
	named.has_port = true;
	named.named = true;
	named.name = m.A.str("serve-81-sctp");
	std::vector<k8s_np_rule> in = {m.rule({}, {range, named})};
	p.n_ingress = 1;
	p.ingress_rules = m.A.arr(in);
	k8s_np_port eg_named{};
	eg_named.proto = K8S_PROTO_TCP;
	eg_named.has_port = true;
	eg_named.named = true;
	eg_named.name = m.A.str("serve-80-tcp");
	std::vector<k8s_np_rule> eg = {m.rule({}, {eg_named})};
	p.n_egress = 1;
	p.egress_rules = m.A.arr(eg);

	EXPECT_TRUE(m.decide("x/a", "y/a", 80, K8S_PROTO_UDP).allow);
	EXPECT_TRUE(m.decide("x/a", "y/a", 81, K8S_PROTO_UDP).allow);
	EXPECT_FALSE(m.decide("x/a", "y/a", 82, K8S_PROTO_UDP).allow);
	EXPECT_FALSE(m.decide("x/a", "y/a", 80, K8S_PROTO_TCP).allow);
	EXPECT_TRUE(m.decide("x/a", "y/a", 81, K8S_PROTO_SCTP).allow);
	EXPECT_FALSE(m.decide("x/a", "y/a", 80, K8S_PROTO_SCTP).allow);
	/* Egress named port resolves on the destination pod; an IP has none. */
	RefVerdict v = m.decide("y/a", "x/a", 80, K8S_PROTO_TCP);
	EXPECT_TRUE(v.allow);
	EXPECT_EQ(v.rule, "default-allow"); /* allowed: the ingress side's rule */
	v = m.decide("y/a", "192.0.2.1", 80, K8S_PROTO_TCP);
	EXPECT_FALSE(v.allow);
	EXPECT_EQ(v.rule, "isolated");
	EXPECT_FALSE(m.decide("y/a", "x/a", 81, K8S_PROTO_TCP).allow);
}

TEST(RefEval, AnpTiers)
{
	MemCluster m;
	/* NP isolates x; ANP "b" (prio 10) passes y, denies z; ANP "a" (prio 10)
	 * allows x/c; BANP denies y. */
	m.np("x", "iso", m.A.sel({{"pod", "b"}}), true, false);
	k8s_anp &b = m.anp("b", 10, m.namespaces(m.A.sel({{"ns", "x"}})));
	std::vector<k8s_anp_rule> br = {
		m.arule(K8S_ANP_PASS, {m.namespaces(m.A.sel({{"ns", "y"}}))}),
		m.arule(K8S_ANP_DENY, {m.namespaces(m.A.sel({{"ns", "z"}}))})};
	b.n_ingress = br.size();
	b.ingress_rules = m.A.arr(br);
	k8s_anp &a = m.anp("a", 10, m.namespaces(m.A.sel({{"ns", "x"}})));
	k8s_anp_peer xc{};
	xc.kind = K8S_ANP_PODS;
	xc.ns_sel = m.A.sel({{"ns", "x"}});
	xc.pod_sel = m.A.sel({{"pod", "c"}});
	std::vector<k8s_anp_rule> ar = {m.arule(K8S_ANP_ALLOW, {xc})};
	a.n_ingress = 1;
	a.ingress_rules = m.A.arr(ar);
	k8s_anp &ba = m.anp("default", 0, m.namespaces(m.A.sel()), true);
	std::vector<k8s_anp_rule> bar = {m.arule(K8S_ANP_DENY, {m.namespaces(m.A.sel({{"ns", "y"}}))})};
	ba.n_ingress = 1;
	ba.ingress_rules = m.A.arr(bar);

	RefVerdict v = m.decide("z/a", "x/a");
	EXPECT_FALSE(v.allow);
	EXPECT_EQ(v.rule, "adminnetworkpolicy b ingress[1]");
	v = m.decide("x/c", "x/b"); /* ANP "a" sorts before "b" at equal priority */
	EXPECT_TRUE(v.allow);
	EXPECT_EQ(v.rule, "adminnetworkpolicy a ingress[0]");
	v = m.decide("y/a", "x/a"); /* Pass, no NP on x/a -> BANP */
	EXPECT_FALSE(v.allow);
	EXPECT_EQ(v.rule, "baselineadminnetworkpolicy default ingress[0]");
	v = m.decide("y/a", "x/b"); /* Pass, NP isolates x/b */
	EXPECT_FALSE(v.allow);
	EXPECT_EQ(v.rule, "isolated");
	v = m.decide("x/a", "x/b"); /* no ANP rule, NP isolates */
	EXPECT_EQ(v.rule, "isolated");
	v = m.decide("x/a", "y/b"); /* BANP: no matching rule */
	EXPECT_TRUE(v.allow);
	EXPECT_EQ(v.rule, "default-allow");

	/* Networks match pod IPs and external ones alike. */
	k8s_anp &n = m.anp("net", 1, m.namespaces(m.A.sel({{"ns", "z"}})));
	k8s_anp_peer net{};
	net.kind = K8S_ANP_NETWORKS;
	std::vector<k8s_cidr> cidrs = {m.A.cidr("10.244.1.0", 24), m.A.cidr("192.0.2.0", 24)};
	net.n_networks = 2;
	net.networks = m.A.arr(cidrs);
	std::vector<k8s_anp_rule> nr = {m.arule(K8S_ANP_DENY, {net})};
	n.n_egress = 1;
	n.egress_rules = m.A.arr(nr);
	v = m.decide("z/a", "x/a");
	EXPECT_EQ(v.rule, "adminnetworkpolicy net egress[0]");
	EXPECT_FALSE(m.decide("z/a", "192.0.2.9").allow);
	EXPECT_TRUE(m.decide("z/a", "198.51.100.1").allow);
	EXPECT_TRUE(m.decide("z/a", "y/a").allow);
}

/* ------------------------------------------------------------------ */
/* expected.txt parsing                                                */
/* ------------------------------------------------------------------ */

static std::string write_tmp(const std::string &text)
{
	char path[] = "/tmp/nsdp-expected-XXXXXX";
	int fd = mkstemp(path);
	EXPECT_GE(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs(text.c_str(), f);
	fclose(f);
	return path;
}

TEST(ParseExpected, Format)
{
	std::string p = write_tmp("# why\n80/TCP\n- x/a 10.0.0.1\nx/a . X\n10.0.0.1 X .\n"
				  "\n81/SCTP\n- x/a\n# mid comment\nx/a X\n");
	std::string err;
	std::vector<ExpectedCell> c = parse_expected(p, &err);
	ASSERT_EQ(c.size(), 5u) << err;
	EXPECT_EQ(c[0].port, 80);
	EXPECT_EQ(c[0].proto, K8S_PROTO_TCP);
	EXPECT_EQ(c[0].src, "x/a");
	EXPECT_EQ(c[0].dst, "x/a");
	EXPECT_TRUE(c[0].allow);
	EXPECT_EQ(c[1].dst, "10.0.0.1");
	EXPECT_FALSE(c[1].allow);
	EXPECT_EQ(c[2].src, "10.0.0.1");
	EXPECT_EQ(c[4].port, 81);
	EXPECT_EQ(c[4].proto, K8S_PROTO_SCTP);
	EXPECT_FALSE(c[4].allow);
	EXPECT_EQ(c[4].line, 10);
	unlink(p.c_str());

	for (const char *bad : {"", "x/a . .\n", "80/TCP\nx/a .\n", "80/ICMP\n- x/a\nx/a .\n",
				"80/TCP\n- x/a x/b\nx/a .\n", "80/TCP\n- x/a\nx/a ?\n",
				"80/TCP\n- x/a\n", "80/TCP\n\n"}) {
		p = write_tmp(bad);
		c = parse_expected(p, &err);
		EXPECT_TRUE(c.empty()) << bad;
		EXPECT_FALSE(err.empty()) << bad;
		unlink(p.c_str());
	}
	EXPECT_TRUE(parse_expected("/nonexistent/expected.txt", &err).empty());
	EXPECT_NE(err.find("cannot open"), std::string::npos);
}

/* ------------------------------------------------------------------ */
/* Scenarios                                                           */
/* ------------------------------------------------------------------ */

static std::string conformance_dir()
{
	const char *src = getenv("NSDP_TEST_SRCDIR");
	return std::string(src ? src : "tests") + "/policy/conformance";
}

static std::vector<std::string> list_scenarios()
{
	std::vector<std::string> v;
	std::error_code ec;
	for (auto &e : fs::directory_iterator(conformance_dir(), ec))
		if (e.is_directory() && fs::exists(e.path() / "expected.txt"))
			v.push_back(e.path().filename().string());
	std::sort(v.begin(), v.end());
	return v;
}

static void collect(void *arg, const char *msg)
{
	static_cast<std::vector<std::string> *>(arg)->push_back(msg);
}

/* The base model plus one scenario's manifests. */
struct Loaded {
	k8s_cluster cl{};
	std::vector<std::string> errors;
	int rc_base = 0, rc_scen = 0;

	explicit Loaded(const std::string &scenario)
	{
		std::string root = conformance_dir();
		rc_base = k8s_load_dir((root + "/base").c_str(), &cl, collect, &errors);
		rc_scen = k8s_load_dir((root + "/" + scenario).c_str(), &cl, collect, &errors);
	}
	~Loaded() { k8s_cluster_free(&cl); }
	Loaded(const Loaded &) = delete;
	Loaded &operator=(const Loaded &) = delete;
};

TEST(Conformance, SuiteIsComplete)
{
	std::vector<std::string> s = list_scenarios();
	EXPECT_GE(s.size(), 60u) << "scenarios in " << conformance_dir();
	const char *pods[] = {"x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"};
	for (auto &name : s) {
		std::string err;
		auto cells = parse_expected(conformance_dir() + "/" + name + "/expected.txt", &err);
		ASSERT_FALSE(cells.empty()) << err;
		/* Every block holds at least the full 9x9 matrix of the model. */
		std::map<std::pair<int, int>, std::set<std::pair<std::string, std::string>>> blocks;
		for (auto &c : cells)
			blocks[{c.port, c.proto}].insert({c.src, c.dst});
		for (auto &b : blocks)
			for (const char *s1 : pods)
				for (const char *d1 : pods)
					EXPECT_TRUE(b.second.count({s1, d1}))
						<< name << " " << b.first.first << "/"
						<< proto_name(b.first.second) << " lacks " << s1
						<< " -> " << d1;
		EXPECT_TRUE(fs::exists(conformance_dir() + "/" + name + "/policies.yaml")) << name;
	}
}

class Scenario : public ::testing::TestWithParam<std::string> {};

TEST_P(Scenario, MatchesExpected)
{
	const std::string name = GetParam();
	const std::string dir = conformance_dir() + "/" + name;
	std::string err;
	std::vector<ExpectedCell> cells = parse_expected(dir + "/expected.txt", &err);
	ASSERT_FALSE(cells.empty()) << err;

	Loaded L(name);
	for (auto &e : L.errors)
		ADD_FAILURE() << name << ": load: " << e;
	ASSERT_EQ(L.rc_base, 0);
	ASSERT_EQ(L.rc_scen, 0);
	ASSERT_GE(L.cl.n_pods, 9u);

	unsigned bad = 0;
	for (auto &c : cells) {
		Endpoint s, d;
		ASSERT_TRUE(resolve_endpoint(L.cl, c.src, &s)) << name << ": unknown " << c.src;
		ASSERT_TRUE(resolve_endpoint(L.cl, c.dst, &d)) << name << ": unknown " << c.dst;
		RefVerdict v = ref_decide(L.cl, s, d, c.port, c.proto);
		if (v.allow != c.allow) {
			bad++;
			ADD_FAILURE() << name << " " << c.port << "/" << proto_name(c.proto) << " "
				      << c.src << " -> " << c.dst << " (expected.txt:" << c.line
				      << "): expected " << (c.allow ? "allow" : "deny") << ", got "
				      << (v.allow ? "allow" : "deny") << " by " << v.rule;
		}
	}
	EXPECT_EQ(bad, 0u) << name << ": " << bad << " of " << cells.size() << " cells differ";
}

TEST_P(Scenario, ProbesInStep)
{
	const std::string dir = conformance_dir() + "/" + GetParam();
	std::vector<ExpectedCell> cells = parse_expected(dir + "/expected.txt");
	std::ostringstream want;
	for (auto &c : cells)
		want << c.src << " " << c.dst << " " << c.port << " " << proto_name(c.proto) << "\n";
	std::ifstream f(dir + "/probes.txt");
	ASSERT_TRUE(f) << dir << "/probes.txt missing: run tests/policy/gen_probes.py";
	std::stringstream got;
	got << f.rdbuf();
	EXPECT_EQ(got.str(), want.str()) << "stale probes.txt: run tests/policy/gen_probes.py";
}

INSTANTIATE_TEST_SUITE_P(Policy, Scenario, ::testing::ValuesIn(list_scenarios()),
			 [](const ::testing::TestParamInfo<std::string> &i) {
				 std::string s = "s" + i.param;
				 for (char &ch : s)
					 if (!isalnum((unsigned char)ch))
						 ch = '_';
				 return s;
			 });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Scenario);

/* ------------------------------------------------------------------ */
/* Rules named by the verdicts                                         */
/* ------------------------------------------------------------------ */

static std::string find_scenario(const std::string &suffix)
{
	for (auto &s : list_scenarios())
		if (s.size() == suffix.size() + 4 && s.compare(4, std::string::npos, suffix) == 0)
			return s;
	return "";
}

struct RuleCase {
	const char *scenario; /* name without the NNN- prefix */
	const char *src, *dst;
	uint16_t port;
	uint8_t proto;
	bool allow;
	const char *rule;
};

TEST(Conformance, RuleNames)
{
	const RuleCase cases[] = {
		{"default-allow", "x/a", "y/b", 80, K8S_PROTO_TCP, true, "default-allow"},
		{"deny-all-ingress", "y/a", "x/b", 80, K8S_PROTO_TCP, false, "isolated"},
		{"deny-all-egress", "x/a", "y/a", 80, K8S_PROTO_TCP, false, "isolated"},
		{"allow-all-ingress", "y/a", "x/b", 80, K8S_PROTO_TCP, true,
		 "networkpolicy x/allow-all-ingress ingress[0]"},
		{"union-two-policies", "x/c", "x/a", 80, K8S_PROTO_TCP, true,
		 "networkpolicy x/allow-from-c ingress[0]"},
		{"union-two-policies", "y/b", "x/a", 80, K8S_PROTO_TCP, true,
		 "networkpolicy x/allow-from-y ingress[0]"},
		{"multiple-rules", "z/b", "z/a", 81, K8S_PROTO_TCP, true,
		 "networkpolicy z/two-rules ingress[1]"},
		{"ingress-and-egress-same-pod", "x/a", "x/c", 80, K8S_PROTO_TCP, true,
		 "default-allow"},
		{"ingress-and-egress-same-pod", "x/a", "x/b", 80, K8S_PROTO_TCP, false, "isolated"},
		{"anp-deny-ingress", "y/c", "x/a", 80, K8S_PROTO_TCP, false,
		 "adminnetworkpolicy deny-y-to-x ingress[0]"},
		{"anp-rule-order", "y/a", "x/b", 80, K8S_PROTO_TCP, true,
		 "adminnetworkpolicy ordered ingress[0]"},
		{"anp-rule-order", "y/b", "x/b", 80, K8S_PROTO_TCP, false,
		 "adminnetworkpolicy ordered ingress[1]"},
		{"anp-pass-to-np", "y/a", "x/a", 80, K8S_PROTO_TCP, true,
		 "networkpolicy x/allow-y-80 ingress[0]"},
		{"anp-pass-to-np", "y/a", "x/a", 81, K8S_PROTO_TCP, false, "isolated"},
		{"anp-pass-to-np", "z/a", "x/a", 80, K8S_PROTO_TCP, false,
		 "adminnetworkpolicy deny-all ingress[0]"},
		{"anp-pass-to-banp", "y/a", "x/a", 80, K8S_PROTO_TCP, false,
		 "baselineadminnetworkpolicy default ingress[0]"},
		{"anp-egress-deny", "x/a", "z/a", 80, K8S_PROTO_TCP, false,
		 "adminnetworkpolicy x-not-to-z egress[0]"},
		{"anp-egress-networks", "x/a", "y/b", 80, K8S_PROTO_TCP, true, "default-allow"},
		{"anp-egress-networks", "x/a", "y/c", 80, K8S_PROTO_TCP, false,
		 "adminnetworkpolicy x-networks egress[1]"},
		{"anp-same-priority-name-order", "y/a", "x/a", 80, K8S_PROTO_TCP, false,
		 "adminnetworkpolicy aaa-deny-y ingress[0]"},
		{"egress-blocks-despite-ingress", "x/a", "y/a", 80, K8S_PROTO_TCP, false,
		 "isolated"},
		{"egress-blocks-despite-ingress", "x/a", "x/b", 80, K8S_PROTO_TCP, true,
		 "default-allow"},
		{"ext-egress-ipblock", "y/a", "192.0.2.10", 80, K8S_PROTO_TCP, true,
		 "networkpolicy y/egress-external egress[0]"},
		{"ext-egress-ipblock", "192.0.2.10", "192.0.2.10", 80, K8S_PROTO_TCP, true,
		 "unrestricted"},
		{"ext-banp-deny-pods", "x/a", "y/a", 80, K8S_PROTO_TCP, false,
		 "baselineadminnetworkpolicy default ingress[0]"},
		{"anp-np-banp-three-tiers", "x/b", "z/a", 80, K8S_PROTO_TCP, true,
		 "networkpolicy z/allow-x ingress[0]"},
		{"anp-np-banp-three-tiers", "x/a", "z/a", 80, K8S_PROTO_TCP, false,
		 "adminnetworkpolicy z-deny-x-a ingress[0]"},
	};
	for (const RuleCase &rc : cases) {
		std::string name = find_scenario(rc.scenario);
		ASSERT_FALSE(name.empty()) << "no scenario " << rc.scenario;
		Loaded L(name);
		ASSERT_TRUE(L.errors.empty()) << name << ": " << L.errors[0];
		Endpoint s, d;
		ASSERT_TRUE(resolve_endpoint(L.cl, rc.src, &s));
		ASSERT_TRUE(resolve_endpoint(L.cl, rc.dst, &d));
		RefVerdict v = ref_decide(L.cl, s, d, rc.port, rc.proto);
		EXPECT_EQ(v.allow, rc.allow) << name << " " << rc.src << " -> " << rc.dst;
		EXPECT_EQ(v.rule, rc.rule) << name << " " << rc.src << " -> " << rc.dst;
	}
}
