// SPDX-License-Identifier: Apache-2.0
//
// Differential test: the compiled policy tables (agent/polcomp.c +
// dataplane/policy.c, what the workers and `nsdpctl policy reach` use)
// against the obviously correct direct evaluation (refeval.cc), on random
// namespaces, labels, pods and policies written as manifests and loaded by
// the real loader. Every probe compares the verdict and the deciding rule.
// The seed is printed; NSDP_SEED=<seed> replays a run.

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "refeval.h"

extern "C" {
#include "k8s.h"
#include "policy.h"
#include "polcomp.h"
#include "tables_equiv.h"
}

namespace {

struct Gen {
	std::mt19937_64 rng;
	explicit Gen(uint64_t seed) : rng(seed) {}
	unsigned u(unsigned n) { return (unsigned)(rng() % n); }
	bool coin(unsigned pct = 50) { return u(100) < pct; }
	template <class T> const T &pick(const std::vector<T> &v) { return v[u((unsigned)v.size())]; }
};

const std::vector<std::string> kEnv = {"prod", "dev", "test"};
const std::vector<std::string> kTeam = {"a", "b", "c"};
const std::vector<std::string> kApp = {"web", "db", "api", "cache"};
const std::vector<std::string> kTier = {"fe", "be"};

struct NamedPort {
	const char *name;
	int port;
	const char *proto;
};
const std::vector<NamedPort> kNamed = {
	{"http", 80, "TCP"}, {"dns", 53, "UDP"}, {"metrics", 9090, "TCP"},
	{"alt", 81, "TCP"},  {"sig", 80, "SCTP"}, {"http2", 8080, "TCP"},
};
const std::vector<int> kPorts = {53, 80, 81, 443, 8080, 9090};
const std::vector<std::string> kProtos = {"TCP", "UDP", "SCTP"};

struct World {
	std::vector<std::string> ns;
	std::vector<std::string> pods; // "ns/name"
	std::vector<std::string> ips;
	std::vector<std::string> external;
	std::string yaml;
};

// A random label selector in YAML flow style for `keys` drawn from pools.
std::string selector(Gen &g, bool ns_sel)
{
	if (g.coin(25))
		return "{}";
	std::ostringstream o;
	o << "{";
	bool any = false;
	if (g.coin(60)) {
		o << "matchLabels: {";
		if (ns_sel)
			o << (g.coin() ? "env: " + g.pick(kEnv) : "team: " + g.pick(kTeam));
		else
			o << (g.coin() ? "app: " + g.pick(kApp) : "tier: " + g.pick(kTier));
		o << "}";
		any = true;
	}
	if (!any || g.coin(40)) {
		if (any)
			o << ", ";
		const std::string key = ns_sel ? (g.coin() ? "env" : "team") : (g.coin() ? "app" : "tier");
		const auto &pool = key == "env" ? kEnv : key == "team" ? kTeam : key == "app" ? kApp : kTier;
		static const char *ops[] = {"In", "NotIn", "Exists", "DoesNotExist"};
		const char *op = ops[g.u(4)];
		o << "matchExpressions: [{key: " << key << ", operator: " << op;
		if (op[0] == 'I' || op[0] == 'N') {
			o << ", values: [" << g.pick(pool);
			if (g.coin())
				o << ", " << g.pick(pool);
			o << "]";
		}
		o << "}]";
	}
	o << "}";
	return o.str();
}

std::string cidr(Gen &g)
{
	static const char *c[] = {"10.244.0.0/16", "10.244.1.0/24", "10.244.2.0/24",
				  "10.244.1.0/25", "10.244.2.128/25", "0.0.0.0/0",
				  "192.168.0.0/16", "10.244.3.0/24"};
	return c[g.u(8)];
}

std::string np_ports(Gen &g)
{
	if (g.coin(35))
		return "";
	if (g.coin(10))
		return "    ports: []\n";
	std::ostringstream o;
	o << "    ports:\n";
	unsigned n = 1 + g.u(2);
	for (unsigned i = 0; i < n; i++) {
		o << "    - protocol: " << g.pick(kProtos) << "\n";
		unsigned k = g.u(4);
		if (k == 0) {
			o << "      port: " << g.pick(kNamed).name << "\n";
		} else if (k == 1) {
			int p = g.pick(kPorts);
			o << "      port: " << p << "\n      endPort: " << p + (int)g.u(3000) << "\n";
		} else if (k == 2) {
			o << "      port: " << g.pick(kPorts) << "\n";
		} // k == 3: protocol only (all ports)
	}
	return o.str();
}

std::string np_peers(Gen &g, const char *key)
{
	if (g.coin(20))
		return "";
	if (g.coin(10))
		return std::string("    ") + key + ": []\n";
	std::ostringstream o;
	o << "    " << key << ":\n";
	unsigned n = 1 + g.u(2);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = g.u(4);
		if (k == 0) {
			o << "    - podSelector: " << selector(g, false) << "\n";
		} else if (k == 1) {
			o << "    - namespaceSelector: " << selector(g, true) << "\n";
		} else if (k == 2) {
			o << "    - podSelector: " << selector(g, false)
			  << "\n      namespaceSelector: " << selector(g, true) << "\n";
		} else {
			std::string c = cidr(g);
			o << "    - ipBlock:\n        cidr: " << c << "\n";
			if (c == "10.244.0.0/16" && g.coin())
				o << "        except: [10.244.2.0/24]\n";
			if (c == "0.0.0.0/0" && g.coin())
				o << "        except: [10.244.1.0/25]\n";
		}
	}
	return o.str();
}

// ANP ports; the API forbids namedPort in a rule with a networks peer.
std::string anp_ports(Gen &g, bool allow_named)
{
	if (g.coin(40))
		return "";
	std::ostringstream o;
	o << "      ports:\n";
	unsigned n = 1 + g.u(2);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = g.u(3);
		if (k == 1 && !allow_named)
			k = 0;
		if (k == 0)
			o << "      - portNumber: {protocol: " << g.pick(kProtos) << ", port: "
			  << g.pick(kPorts) << "}\n";
		else if (k == 1)
			o << "      - namedPort: " << g.pick(kNamed).name << "\n";
		else {
			int p = g.pick(kPorts);
			o << "      - portRange: {protocol: " << g.pick(kProtos) << ", start: " << p
			  << ", end: " << p + 1 + (int)g.u(2000) << "}\n";
		}
	}
	return o.str();
}

std::string anp_peer(Gen &g, bool egress)
{
	unsigned k = g.u(egress ? 3 : 2);
	if (k == 0)
		return "      - namespaces: " + selector(g, true) + "\n";
	if (k == 1)
		return "      - pods:\n          namespaceSelector: " + selector(g, true) +
		       "\n          podSelector: " + selector(g, false) + "\n";
	return "      - networks: [" + cidr(g) + "]\n";
}

std::string anp_subject(Gen &g)
{
	if (g.coin())
		return "  subject:\n    namespaces: " + selector(g, true) + "\n";
	return "  subject:\n    pods:\n      namespaceSelector: " + selector(g, true) +
	       "\n      podSelector: " + selector(g, false) + "\n";
}

std::string anp_rules(Gen &g, bool baseline, bool egress)
{
	unsigned n = g.u(3);
	if (!n)
		return "";
	std::ostringstream o;
	o << (egress ? "  egress:\n" : "  ingress:\n");
	for (unsigned i = 0; i < n; i++) {
		static const char *acts[] = {"Allow", "Deny", "Pass"};
		o << "  - name: r" << i << "\n    action: " << acts[g.u(baseline ? 2 : 3)] << "\n";
		o << (egress ? "    to:\n" : "    from:\n");
		unsigned np = 1 + g.u(2);
		bool networks = false;
		for (unsigned k = 0; k < np; k++) {
			std::string p = anp_peer(g, egress);
			networks |= p.find("networks") != std::string::npos;
			o << p.substr(2); // indent 4
		}
		std::string ports = anp_ports(g, !networks);
		// ANP ports sit at rule level (4 spaces); reindent.
		std::istringstream is(ports);
		std::string line;
		while (std::getline(is, line))
			o << line.substr(2) << "\n";
	}
	return o.str();
}

World make_world(Gen &g)
{
	World w;
	std::ostringstream y;
	unsigned n_ns = 2 + g.u(4);
	for (unsigned i = 0; i < n_ns; i++) {
		std::string name = "ns" + std::to_string(i);
		w.ns.push_back(name);
		y << "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << name
		  << "\n  labels:\n    kubernetes.io/metadata.name: " << name << "\n";
		if (g.coin(80))
			y << "    env: " << g.pick(kEnv) << "\n";
		if (g.coin(60))
			y << "    team: " << g.pick(kTeam) << "\n";
		unsigned n_pods = 1 + g.u(4);
		// Replicas: a pod often repeats the previous pod's labels and
		// ports (one identity, other addresses), as Deployments do.
		std::string prev_labels, prev_ports;
		for (unsigned k = 0; k < n_pods; k++) {
			bool replica = k > 0 && g.coin(40);
			std::string pn = "p" + std::to_string(k);
			std::string ip = "10.244." + std::to_string(1 + g.u(3)) + "." +
					 std::to_string(2 + i * 16 + k);
			w.pods.push_back(name + "/" + pn);
			w.ips.push_back(ip);
			y << "---\napiVersion: v1\nkind: Pod\nmetadata:\n  namespace: " << name
			  << "\n  name: " << pn << "\n  labels:\n";
			if (!replica) {
				std::ostringstream labels;
				labels << "    app: " << g.pick(kApp) << "\n";
				if (g.coin(60))
					labels << "    tier: " << g.pick(kTier) << "\n";
				prev_labels = labels.str();
				std::set<std::string> used;
				std::ostringstream ports;
				for (const auto &np : kNamed)
					if (g.coin(40) && !used.count(np.name)) {
						used.insert(np.name);
						ports << "    - {name: " << np.name << ", containerPort: "
						      << np.port << ", protocol: " << np.proto << "}\n";
					}
				prev_ports = used.empty() ? "" : "    ports:\n" + ports.str();
			}
			y << prev_labels;
			y << "spec:\n  nodeName: node-" << g.u(2) << "\n  containers:\n  - name: c\n";
			y << prev_ports;
			y << "status:\n  podIP: " << ip << "\n";
		}
	}
	w.external = {"192.168.1.10", "10.244.2.200", "8.8.8.8", "10.244.1.100"};

	unsigned n_np = g.u(6);
	for (unsigned i = 0; i < n_np; i++) {
		y << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
		  << "  namespace: " << g.pick(w.ns) << "\n  name: np" << i << "\nspec:\n"
		  << "  podSelector: " << selector(g, false) << "\n";
		bool ing = g.coin(70), eg = g.coin(50);
		if (!ing && !eg)
			ing = true;
		if (g.coin(60)) {
			y << "  policyTypes: [";
			if (ing)
				y << "Ingress" << (eg ? ", " : "");
			if (eg)
				y << "Egress";
			y << "]\n";
		}
		if (ing && g.coin(80)) {
			unsigned nr = g.u(3);
			y << "  ingress:" << (nr ? "\n" : " []\n");
			for (unsigned r = 0; r < nr; r++) {
				std::string body = np_peers(g, "from") + np_ports(g);
				y << "  - " << (body.empty() ? "{}\n" : body.substr(4));
			}
		}
		if (eg && g.coin(80)) {
			unsigned nr = g.u(3);
			y << "  egress:" << (nr ? "\n" : " []\n");
			for (unsigned r = 0; r < nr; r++) {
				std::string body = np_peers(g, "to") + np_ports(g);
				y << "  - " << (body.empty() ? "{}\n" : body.substr(4));
			}
		}
	}
	unsigned n_anp = g.u(4);
	for (unsigned i = 0; i < n_anp; i++) {
		y << "---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n"
		  << "metadata:\n  name: anp" << i << "\nspec:\n  priority: " << g.u(4) * 10 << "\n"
		  << anp_subject(g) << anp_rules(g, false, false) << anp_rules(g, false, true);
	}
	if (g.coin(50)) {
		y << "---\napiVersion: policy.networking.k8s.io/v1alpha1\n"
		  << "kind: BaselineAdminNetworkPolicy\nmetadata:\n  name: default\nspec:\n"
		  << anp_subject(g) << anp_rules(g, true, false) << anp_rules(g, true, true);
	}
	w.yaml = y.str();
	return w;
}

void collect(void *arg, const char *msg)
{
	static_cast<std::vector<std::string> *>(arg)->push_back(msg);
}

uint32_t ip4(const std::string &s)
{
	in_addr a;
	inet_pton(AF_INET, s.c_str(), &a);
	return a.s_addr;
}

TEST(PolicyDiff, CompiledTablesMatchDirectEvaluation)
{
	uint64_t seed = std::random_device{}();
	if (const char *e = getenv("NSDP_SEED"))
		seed = strtoull(e, nullptr, 0);
	printf("policy diff seed: %llu (NSDP_SEED=%llu replays)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	Gen g(seed);
	unsigned probes = 0, clusters = 0, denied = 0, failures = 0;
	const char *rounds_env = getenv("NSDP_DIFF_ROUNDS");
	unsigned rounds = rounds_env ? (unsigned)atoi(rounds_env) : 250;

	for (unsigned round = 0; round < rounds && failures < 10; round++) {
		World w = make_world(g);
		k8s_cluster cl = {};
		std::vector<std::string> errs;
		int rc = k8s_load_buffer("random.yaml", w.yaml.data(), w.yaml.size(), &cl, collect,
					 &errs);
		ASSERT_EQ(rc, 0) << "seed " << seed << " round " << round << ": generator wrote "
				 << "an object the loader rejects: " << (errs.empty() ? "" : errs[0])
				 << "\n" << w.yaml;
		pol_tables *t = pol_compile(&cl, 1);
		ASSERT_NE(t, nullptr);
		clusters++;
		std::vector<std::string> addrs = w.ips;
		addrs.insert(addrs.end(), w.external.begin(), w.external.end());
		for (unsigned k = 0; k < 50; k++) {
			std::string src = g.pick(addrs), dst = g.pick(addrs);
			uint16_t port = g.coin(80) ? (uint16_t)g.pick(kPorts) : (uint16_t)(1 + g.u(65535));
			static const uint8_t protos[] = {6, 17, 132};
			uint8_t proto = protos[g.u(3)];
			pol_result res;
			pol_decide(t, ip4(src), ip4(dst), proto, port, &res);
			RefVerdict ref = ref_decide(cl, Endpoint::of_ip(cl, ip4(src)), Endpoint::of_ip(cl, ip4(dst)),
						    port, proto);
			probes++;
			denied += !ref.allow;
			bool ok = ref.allow == (res.verdict == POL_ALLOW) &&
				  ref.rule == t->rules[res.rule];
			if (!ok && ++failures <= 10)
				ADD_FAILURE() << "seed " << seed << " round " << round << ": " << src
					      << " -> " << dst << " " << port << "/" << (int)proto
					      << ": compiled " << (res.verdict == POL_ALLOW ? "allow" : "deny")
					      << " (" << t->rules[res.rule] << "), reference "
					      << (ref.allow ? "allow" : "deny") << " (" << ref.rule << ")\n"
					      << w.yaml;
		}
		pol_tables_free(t);
		k8s_cluster_free(&cl);
	}
	printf("%u clusters, %u probes, %u denied by the reference\n", clusters, probes, denied);
	EXPECT_GE(probes, rounds * 50);
	// The generator must exercise denials as well as allows.
	EXPECT_GT(denied, probes / 20);
	EXPECT_LT(denied, probes - probes / 20);
}

// ---- the incremental compile: one long-lived context vs fresh compiles ----

std::vector<std::string> split_docs(const std::string &yaml)
{
	std::vector<std::string> docs;
	size_t at = 0;
	while ((at = yaml.find("---\n", at)) != std::string::npos) {
		size_t next = yaml.find("---\n", at + 4);
		docs.push_back(yaml.substr(at, next == std::string::npos ? std::string::npos : next - at));
		at = next;
	}
	return docs;
}

std::string kind_of(const std::string &doc)
{
	size_t k = doc.find("\nkind: ");
	return k == std::string::npos ? "" : doc.substr(k + 7, doc.find('\n', k + 7) - k - 7);
}

// The doc with its first line starting with prefix replaced by line
// (unchanged when there is none).
std::string set_line(std::string doc, const std::string &prefix, const std::string &line)
{
	size_t at = doc.find("\n" + prefix);
	if (at == std::string::npos)
		return doc;
	size_t end = doc.find('\n', at + 1);
	return doc.replace(at + 1, end - at - 1, line);
}

std::string line_of(const std::string &doc, const std::string &prefix)
{
	size_t at = doc.find("\n" + prefix);
	if (at == std::string::npos)
		return "";
	return doc.substr(at + 1, doc.find('\n', at + 1) - at - 1);
}

bool is_policy(const std::string &kind)
{
	return kind == "NetworkPolicy" || kind == "AdminNetworkPolicy" ||
	       kind == "BaselineAdminNetworkPolicy";
}

// One random small change to the cluster: a pod added, deleted or
// relabelled, a namespace relabelled, a policy added, changed or deleted,
// the audit annotation toggled on a policy or a namespace. Returns what it
// did, for the failure message.
std::string mutate(Gen &g, std::vector<std::string> &docs, unsigned step)
{
	std::vector<size_t> pods, nss, pols;
	for (size_t i = 0; i < docs.size(); i++) {
		std::string k = kind_of(docs[i]);
		(k == "Pod" ? pods : k == "Namespace" ? nss : pols).push_back(i);
	}
	const std::string audit = "  annotations: {nsdp.io/policy-mode: audit}\n";
	switch (g.u(9)) {
	case 0: { // pod added: a copy of one under a new name and address
		size_t i = g.pick(pods);
		std::string d = set_line(docs[i], "  name: ", "  name: added" + std::to_string(step));
		d = set_line(d, "  podIP: ", "  podIP: 10.244.3." + std::to_string(100 + step % 150));
		// anywhere: the compiler follows the agent's pod order in step
		if (docs.size() < 80 && !d.empty())
			docs.insert(docs.begin() + (long)g.u((unsigned)docs.size() + 1), d);
		return "pod added";
	}
	case 1: // pod deleted
		if (pods.size() > 1)
			docs.erase(docs.begin() + (long)g.pick(pods));
		return "pod deleted";
	case 2: { // pod relabelled
		size_t i = g.pick(pods);
		docs[i] = set_line(docs[i], "    app: ", "    app: " + g.pick(kApp));
		if (g.coin(30))
			docs[i] = set_line(docs[i], "    tier: ", "    tier: " + g.pick(kTier));
		return "pod relabelled";
	}
	case 3: { // namespace relabelled
		size_t i = g.pick(nss);
		if (line_of(docs[i], "    env: ").empty())
			docs[i] = set_line(docs[i], "  labels:", "  labels:\n    env: " + g.pick(kEnv));
		else
			docs[i] = set_line(docs[i], "    env: ", "    env: " + g.pick(kEnv));
		if (!line_of(docs[i], "    team: ").empty())
			docs[i] = set_line(docs[i], "    team: ", "    team: " + g.pick(kTeam));
		return "namespace relabelled";
	}
	case 4:
	case 5: { // policy added or changed: one from another random cluster
		std::vector<std::string> other;
		for (const std::string &d : split_docs(make_world(g).yaml))
			if (is_policy(kind_of(d)) && kind_of(d) != "BaselineAdminNetworkPolicy")
				other.push_back(d);
		if (other.empty())
			return "nothing";
		std::string d = g.pick(other);
		std::vector<size_t> same;
		for (size_t i : pols)
			if (kind_of(docs[i]) == kind_of(d))
				same.push_back(i);
		if (same.empty() || g.coin(40)) {
			docs.push_back(set_line(d, "  name: ", "  name: new" + std::to_string(step)));
			return "policy added";
		}
		size_t i = g.pick(same);
		d = set_line(d, "  name: ", line_of(docs[i], "  name: "));
		if (!line_of(d, "  namespace: ").empty())
			d = set_line(d, "  namespace: ", line_of(docs[i], "  namespace: "));
		docs[i] = d;
		return "policy changed";
	}
	case 8: { // pod readdressed: a new address, now and then one another pod has
		size_t i = g.pick(pods), j = g.pick(pods);
		std::string ip = line_of(docs[j], "  podIP: ");
		if (ip.empty() || i == j || !g.coin(20))
			ip = "  podIP: 10.244.4." + std::to_string(1 + g.u(250));
		docs[i] = set_line(docs[i], "  podIP: ", ip);
		return "pod readdressed";
	}
	case 6: // policy deleted
		if (pols.empty())
			return "nothing";
		docs.erase(docs.begin() + (long)g.pick(pols));
		return "policy deleted";
	default: { // audit mode toggled on a policy or a namespace
		bool ns = pols.empty() || g.coin(30);
		std::string &d = docs[g.pick(ns ? nss : pols)];
		size_t at = d.find(audit);
		if (at != std::string::npos)
			d.erase(at, audit.size());
		else
			d.insert(d.find("metadata:\n") + 10, audit);
		return ns ? "namespace audit toggled" : "policy audit toggled";
	}
	}
}

std::string wire(const pol_tables *t)
{
	void *blob = nullptr;
	size_t len = 0;
	if (!t || pol_serialize(t, &blob, &len))
		return "";
	std::string s(static_cast<const char *>(blob), len);
	free(blob);
	return s;
}

// The agent's pod or namespace versions (pol_compile_ctx): one per
// distinct document text of that kind, in cluster order, so that an
// unchanged object keeps its version and any edit gets a new one.
// zero_pct of them are 0 (unknown).
std::vector<uint64_t> versions_of(Gen &g, const std::vector<std::string> &docs,
				  const std::string &kind, std::map<std::string, uint64_t> &seen,
				  unsigned zero_pct, const std::string &kind2 = "")
{
	std::vector<uint64_t> v;
	for (const std::string &d : docs) {
		if (kind_of(d) != kind && kind_of(d) != kind2)
			continue;
		auto it = seen.emplace(d, seen.size() + 1).first;
		v.push_back(g.coin(zero_pct) ? 0 : it->second);
	}
	return v;
}

// A version array for pol_versions: NULL means "unknown" there, so an
// empty one (no policies of that kind) must still be a pointer.
const uint64_t *known(const std::vector<uint64_t> &v)
{
	static const uint64_t none = 0;
	return v.empty() ? &none : v.data();
}

bool pods_only_change(const std::string &what)
{
	return what == "pod added" || what == "pod deleted" || what == "pod relabelled" ||
	       what == "pod readdressed" || what == "nothing";
}

bool namespace_change(const std::string &what)
{
	return what == "namespace relabelled" || what == "namespace audit toggled";
}

// A compiler context across random changes, as the agent holds one,
// against a fresh compile of the same cluster after every change: byte
// for byte where the compile is a full one, and always deciding alike
// for every pair of addresses (pods-only compiles number classes their
// own way; tables_equiv.h).
TEST(PolicyDiff, IncrementalCompileMatchesFreshCompile)
{
	uint64_t seed = std::random_device{}();
	if (const char *e = getenv("NSDP_SEED"))
		seed = strtoull(e, nullptr, 0);
	printf("policy incremental seed: %llu (NSDP_SEED=%llu replays)\n",
	       (unsigned long long)seed, (unsigned long long)seed);
	Gen g(seed);
	const char *rounds_env = getenv("NSDP_DIFF_ROUNDS");
	unsigned rounds = rounds_env ? (unsigned)atoi(rounds_env) : 100, compiles = 0;
	unsigned pods_only = 0, renumbered = 0;
	std::set<std::string> kinds_done;
	// per kind of change: the compiles that took the pods-only path
	// (namespace relabels: only those that changed a namespace's version)
	std::map<std::string, unsigned> pods_only_by;
	// and those that took the policy path
	std::map<std::string, unsigned> policy_by;
	unsigned policy_path = 0;
	for (unsigned round = 0; round < rounds; round++) {
		std::vector<std::string> docs = split_docs(make_world(g).yaml);
		pol_ctx *ctx = pol_ctx_new();
		ASSERT_NE(ctx, nullptr);
		// a quarter of the rounds without versions; then pod versions
		// only (some unknown), pod and rest versions (the pods-only
		// path), and both with some pod versions unknown
		unsigned mode = round % 4;
		// namespace versions too in most of the rounds with a rest
		// version (without them a namespace change takes a new one)
		bool ns_versions = mode >= 2 && g.coin(70);
		uint64_t rest = 1;
		std::map<std::string, uint64_t> versions_seen;
		std::set<uint32_t> addrs_seen; // every pod address of the round
		std::string what = "initial";
		std::vector<uint64_t> prev_nv;
		for (unsigned step = 0; step < 25; step++) {
			std::string yaml;
			for (const std::string &d : docs)
				yaml += d;
			k8s_cluster cl = {};
			std::vector<std::string> errs;
			int rc = k8s_load_buffer("random.yaml", yaml.data(), yaml.size(), &cl, collect,
						 &errs);
			ASSERT_EQ(rc, 0) << "seed " << seed << " round " << round << " step " << step
					 << " (" << what << "): " << (errs.empty() ? "" : errs[0]) << "\n"
					 << yaml;
			std::vector<uint64_t> pv = versions_of(g, docs, "Pod", versions_seen,
							       mode % 2 ? 20 : 0);
			std::vector<uint64_t> nv = versions_of(g, docs, "Namespace", versions_seen,
							       mode % 2 ? 20 : 0);
			// policy versions in most rounds with a rest version
			// (NetworkPolicies; AdminNetworkPolicies and the baseline
			// together, in cluster order)
			std::vector<uint64_t> npv = versions_of(g, docs, "NetworkPolicy",
								versions_seen, mode % 2 ? 10 : 0);
			std::vector<uint64_t> apv =
				versions_of(g, docs, "AdminNetworkPolicy", versions_seen,
					    mode % 2 ? 10 : 0, "BaselineAdminNetworkPolicy");
			bool pol_versions_given = mode >= 2 && round % 16 != 2;
			ASSERT_EQ(pv.size(), cl.n_pods);
			ASSERT_EQ(nv.size(), cl.n_namespaces);
			ASSERT_EQ(npv.size(), cl.n_netpols);
			ASSERT_EQ(apv.size(), cl.n_anps);
			// a new rest version when a policy changed (or, without
			// namespace versions, a namespace), and now and then for
			// nothing; a namespace's audit mode makes a full compile
			// either way (checked below only by the decisions)
			bool full = mode < 2 || step == 0 ||
				    !(pods_only_change(what) || (ns_versions && namespace_change(what))) ||
				    g.coin(10);
			if (full)
				rest++;
			pol_versions v = {pv.data(), ns_versions ? nv.data() : nullptr,
					  mode >= 2 ? rest : 0,
					  pol_versions_given ? known(npv) : nullptr,
					  pol_versions_given ? known(apv) : nullptr};
			pol_ctx_stats before, after;
			pol_ctx_get_stats(ctx, &before);
			pol_tables *inc = pol_compile_ctx(ctx, &cl, mode ? &v : nullptr, step + 1);
			pol_ctx_get_stats(ctx, &after);
			bool no_op = namespace_change(what) && nv == prev_nv;
			prev_nv = nv;
			pods_only_by[what] += !no_op && after.pods_only > before.pods_only;
			bool took_policy = after.policy > before.policy;
			policy_by[what] += took_policy;
			policy_path += took_policy;
			// a new rest version (or none) is never a pods-only compile,
			// and only with policy versions a policy one
			ASSERT_TRUE(!full || after.pods_only == before.pods_only)
				<< "step " << step << " took the pods-only path at a new rest version";
			ASSERT_TRUE(pol_versions_given || !took_policy)
				<< "step " << step << " took the policy path without policy versions";
			bool byte_equal = after.full > before.full;
			// every compile took exactly one path; without a rest version
			// (or with none kept yet) it is a full one, checked byte for byte
			ASSERT_EQ(after.full + after.pods_only + after.policy,
				  before.full + before.pods_only + before.policy + 1)
				<< "step " << step << ": not counted on exactly one path";
			ASSERT_TRUE(byte_equal || (mode >= 2 && step > 0))
				<< "step " << step << " (mode " << mode << "): not a full compile";
			pol_tables *fresh = pol_compile(&cl, step + 1);
			ASSERT_NE(inc, nullptr);
			ASSERT_NE(fresh, nullptr);
			std::string a = wire(inc), b = wire(fresh);
			ASSERT_FALSE(b.empty());
			std::string ctxt = "seed " + std::to_string(seed) + " round " +
					   std::to_string(round) + " step " + std::to_string(step) +
					   " (mode " + std::to_string(mode) + "): after \"" + what + "\"";
			ASSERT_TRUE(!byte_equal || a == b)
				<< ctxt << " the incremental compile differs from a fresh one\n" << yaml;
			for (unsigned i = 0; i < cl.n_pods; i++)
				for (unsigned k = 0; k < cl.pods[i].n_ips; k++)
					addrs_seen.insert(cl.pods[i].ips[k]);
			std::vector<uint32_t> extra(addrs_seen.begin(), addrs_seen.end());
			size_t n = 0;
			uint32_t *addrs = pol_probe_addrs(inc, fresh, &cl, 0, extra.data(),
							  extra.size(), &n);
			ASSERT_NE(addrs, nullptr);
			char why[512] = "";
			int diff = pol_tables_equiv(inc, fresh, addrs, n, why, sizeof(why));
			free(addrs);
			ASSERT_EQ(diff, 0) << ctxt << " the incremental compile decides otherwise: "
					   << why << "\n" << yaml;
			compiles++;
			pods_only += !full;
			renumbered += !byte_equal && a != b;
			pol_tables_free(inc);
			pol_tables_free(fresh);
			k8s_cluster_free(&cl);
			kinds_done.insert(what);
			what = mutate(g, docs, step);
		}
		pol_ctx_free(ctx);
	}
	printf("%u incremental compiles checked, %u of them after a change of pods or "
	       "namespaces only, %u on the policy path (%u numbered otherwise than a fresh "
	       "compile)\n",
	       compiles, pods_only, policy_path, renumbered);
	printf("pods-only compiles by change:");
	for (const auto &k : pods_only_by)
		printf(" %s %u;", k.first.c_str(), k.second);
	printf("\npolicy compiles by change:");
	for (const auto &k : policy_by)
		printf(" %s %u;", k.first.c_str(), k.second);
	printf("\n");
	if (rounds >= 8) {
		for (const char *k : {"pod added", "pod deleted", "pod relabelled", "pod readdressed",
				      "namespace relabelled"})
			EXPECT_GT(pods_only_by[k], 0u) << "no \"" << k
						       << "\" compile took the pods-only path";
		for (const char *k : {"policy added", "policy changed", "policy deleted"})
			EXPECT_GT(policy_by[k], 0u) << "no \"" << k
						    << "\" compile took the policy path";
	}
	for (const char *k : {"pod added", "pod deleted", "pod relabelled", "pod readdressed",
			      "namespace relabelled", "policy added", "policy changed",
			      "policy deleted", "namespace audit toggled", "policy audit toggled"})
		EXPECT_TRUE(kinds_done.count(k)) << "no step of kind " << k;
}

} // namespace

namespace {

// One step's documents loaded into cl (zeroed); their text into *yaml.
bool load_step(const std::vector<std::string> &step, k8s_cluster *cl, std::string *yaml)
{
	yaml->clear();
	for (const std::string &d : step)
		*yaml += d;
	std::vector<std::string> errs;
	int rc = k8s_load_buffer("seq.yaml", yaml->data(), yaml->size(), cl, collect, &errs);
	EXPECT_EQ(rc, 0) << (errs.empty() ? "" : errs[0]);
	return rc == 0;
}

// A context with every version given through a sequence of clusters
// (each kind's documents in the agent's order: sorted by namespace/name),
// against a fresh compile at every step. After the first step each must
// take the path its change calls for (policies: the policy path, else the
// pods-only one) and decide as the fresh compile does, on every pod
// address and `extra`; check, if given, looks at each step's tables;
// last, if given, gets the context's stats at the end.
void sequence(const char *what, const std::vector<std::vector<std::string>> &steps, bool policies,
	      std::vector<uint32_t> extra = {},
	      const std::function<void(const pol_tables *, size_t)> &check = nullptr,
	      pol_ctx_stats *last = nullptr)
{
	SCOPED_TRACE(what);
	pol_ctx *ctx = pol_ctx_new();
	ASSERT_NE(ctx, nullptr);
	Gen g(1);
	std::map<std::string, uint64_t> seen;
	for (size_t k = 0; k < steps.size(); k++) {
		k8s_cluster cl = {};
		std::string yaml;
		ASSERT_TRUE(load_step(steps[k], &cl, &yaml));
		std::vector<std::string> docs = split_docs(yaml);
		std::vector<uint64_t> pv = versions_of(g, docs, "Pod", seen, 0);
		std::vector<uint64_t> nv = versions_of(g, docs, "Namespace", seen, 0);
		std::vector<uint64_t> npv = versions_of(g, docs, "NetworkPolicy", seen, 0);
		std::vector<uint64_t> apv = versions_of(g, docs, "AdminNetworkPolicy", seen, 0,
							"BaselineAdminNetworkPolicy");
		ASSERT_EQ(pv.size(), cl.n_pods);
		ASSERT_EQ(npv.size(), cl.n_netpols);
		ASSERT_EQ(apv.size(), cl.n_anps);
		pol_versions v = {pv.data(), nv.data(), policies ? k + 1 : 1, known(npv), known(apv)};
		pol_ctx_stats before, after;
		pol_ctx_get_stats(ctx, &before);
		pol_tables *inc = pol_compile_ctx(ctx, &cl, &v, k + 1);
		pol_ctx_get_stats(ctx, &after);
		pol_tables *fresh = pol_compile(&cl, k + 1);
		ASSERT_NE(inc, nullptr);
		ASSERT_NE(fresh, nullptr);
		if (k) {
			EXPECT_EQ(policies ? after.policy - before.policy
					   : after.pods_only - before.pods_only,
				  1u)
				<< "step " << k << ": not a " << (policies ? "policy" : "pods-only")
				<< " compile";
		}
		size_t n = 0;
		uint32_t *addrs = pol_probe_addrs(inc, fresh, &cl, 0, extra.data(), extra.size(), &n);
		ASSERT_NE(addrs, nullptr);
		char why[512] = "";
		EXPECT_EQ(pol_tables_equiv(inc, fresh, addrs, n, why, sizeof(why)), 0)
			<< "step " << k << ": " << why;
		free(addrs);
		if (check)
			check(inc, k);
		pol_tables_free(inc);
		pol_tables_free(fresh);
		k8s_cluster_free(&cl);
	}
	if (last)
		pol_ctx_get_stats(ctx, last);
	pol_ctx_free(ctx);
}

// A pods-only context against fresh compiles through one sequence: the
// only pod of an identity goes, its namespace is relabelled (a policy
// selects the namespace by that label), and a pod of the same identity
// comes back: its classes must follow the namespace's new labels (an
// identity without pods at the relabel was once reused with the old ones).
// together: the pod's deletion and the relabel in one compile.
void identity_across_relabel(bool together)
{
	const std::string ns_a_prod = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
				      "  labels: {env: prod}\n";
	const std::string ns_a_dev = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
				     "  labels: {env: dev}\n";
	const std::string ns_b = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n"
				 "  labels: {env: x}\n";
	// deny ingress into namespaces labelled env=prod, from everyone
	const std::string anp = "---\napiVersion: policy.networking.k8s.io/v1alpha1\n"
				"kind: AdminNetworkPolicy\nmetadata:\n  name: deny-prod\nspec:\n"
				"  priority: 10\n  subject:\n    namespaces: {matchLabels: {env: prod}}\n"
				"  ingress:\n  - name: r0\n    action: Deny\n    from:\n"
				"    - namespaces: {}\n";
	auto pod = [](const std::string &ns, const std::string &name, const std::string &app,
		      const std::string &ip) {
		return "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
		       "\n  namespace: " + ns + "\n  labels: {app: " + app +
		       "}\nspec:\n  containers: [{name: c}]\nstatus:\n  podIP: " + ip + "\n";
	};
	const std::string web = pod("a", "web", "web", "10.244.1.2");
	const std::string other = pod("a", "other", "other", "10.244.1.3");
	const std::string client = pod("b", "client", "cli", "10.244.1.9");
	std::vector<std::vector<std::string>> steps = {
		{ns_a_prod, ns_b, anp, web, other, client}, // web denied from client
		{ns_a_prod, ns_b, anp, other, client},      // web gone
		{ns_a_dev, ns_b, anp, other, client},       // a relabelled: other allowed
		{ns_a_dev, ns_b, anp, web, other, client},  // web back: allowed too
	};
	if (together)
		steps.erase(steps.begin() + 1);
	uint32_t web_ip = inet_addr("10.244.1.2");
	sequence(together ? "deletion and relabel together" : "deletion, then relabel", steps,
		 false, {web_ip}, [&](const pol_tables *inc, size_t k) {
			 if (k + 1 != steps.size())
				 return;
			 // client -> web:80, as a fresh compile says: allowed
			 pol_result r;
			 pol_decide(inc, inet_addr("10.244.1.9"), web_ip, 6, 80, &r);
			 EXPECT_EQ(r.verdict, POL_ALLOW)
				 << "client -> web after the relabel: rule "
				 << (r.rule < inc->n_rules ? inc->rules[r.rule] : "?");
		 });
}

TEST(PolicyDiff, IdentityWithoutPodsFollowsItsNamespaceRelabel)
{
	identity_across_relabel(false);
	identity_across_relabel(true);
}

const std::string kSeqNs = "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
			   "  labels: {env: prod}\n---\napiVersion: v1\nkind: Namespace\n"
			   "metadata:\n  name: b\n  labels: {env: dev}\n";
const std::string kSeqPods =
	"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: a\n"
	"  labels: {app: web}\nspec:\n  containers: [{name: c}]\nstatus:\n  podIP: 10.244.1.2\n"
	"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: cli\n  namespace: b\n"
	"  labels: {app: cli}\nspec:\n  containers: [{name: c}]\nstatus:\n  podIP: 10.244.1.3\n";

// An ingress NetworkPolicy a/NAME on every pod of a, from namespace b on
// PORT/TCP; audited or enforced.
std::string seq_np(const std::string &name, int port, bool audit)
{
	return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " +
	       name + "\n  namespace: a\n" +
	       (audit ? "  annotations: {nsdp.io/policy-mode: audit}\n" : "") +
	       "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n"
	       "        matchLabels: {env: dev}\n    ports:\n    - {port: " +
	       std::to_string(port) + "}\n";
}

// An audited NetworkPolicy added before an audited one already there (a
// later slot, an earlier place in the cluster): the isolation the audit
// names is the first one's in the cluster's order, as in a full compile.
TEST(PolicyDiff, AuditedIsolationFollowsTheClusterOrder)
{
	sequence("audit", {{kSeqNs, kSeqPods, seq_np("zz", 80, true)},
				  {kSeqNs, kSeqPods, seq_np("aa", 81, true), seq_np("zz", 80, true)},
				  {kSeqNs, kSeqPods, seq_np("aa", 81, true)}}, true);
}

// An audited AdminNetworkPolicy without rules sets no audit anywhere: it
// must not make every later policy change a full compile.
TEST(PolicyDiff, RulelessAuditedAnpKeepsThePolicyPath)
{
	const std::string anp = "---\napiVersion: policy.networking.k8s.io/v1alpha1\n"
				"kind: AdminNetworkPolicy\nmetadata:\n  name: empty\n"
				"  annotations: {nsdp.io/policy-mode: audit}\nspec:\n  priority: 3\n"
				"  subject:\n    namespaces: {}\n";
	sequence("ruleless", {{kSeqNs, kSeqPods, anp, seq_np("p", 80, false)},
				     {kSeqNs, kSeqPods, anp, seq_np("p", 81, false)},
				     {kSeqNs, kSeqPods, anp, seq_np("p", 82, false)}}, true);
}

// A slot emptied by a deletion is taken by a policy added in a later
// compile (and the policies around it keep theirs).
TEST(PolicyDiff, EmptiedSlotTakenByALaterPolicy)
{
	pol_ctx_stats st = {};
	sequence("slots", {{kSeqNs, kSeqPods, seq_np("p1", 80, false), seq_np("p2", 81, false)},
				  {kSeqNs, kSeqPods, seq_np("p2", 81, false)},
				  {kSeqNs, kSeqPods, seq_np("p0", 82, false), seq_np("p2", 81, false)},
				  {kSeqNs, kSeqPods, seq_np("p0", 82, false)}}, true, {}, nullptr, &st);
	// p1's slot, emptied in step 1, is p0's in step 2: still two slots.
	EXPECT_EQ(st.np_slots, 2u);
}

} // namespace
