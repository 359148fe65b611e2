// SPDX-License-Identifier: Apache-2.0
// Unit tests of the Kubernetes manifest loader (agent/k8s.c): every kind
// parsed with all its fields, the document forms (multi-document YAML,
// List, typed lists, JSON), missing vs empty, policyTypes inference,
// selector semantics, and bad input: each malformed object is rejected with
// one exact message (file, line, object, field path, reason) while the
// other objects of the same buffer still load.

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "k8s.h"
#include "polcomp.h"
extern "C" {
#include "policy.h"
}

#include <jansson.h>

namespace {

struct Load {
	k8s_cluster cl{};
	std::vector<std::string> msgs;
	int rc = 0;

	Load() = default;
	Load(const Load &) = delete;
	~Load() { k8s_cluster_free(&cl); }
};

void collect(void *arg, const char *msg)
{
	static_cast<std::vector<std::string> *>(arg)->push_back(msg);
}

std::unique_ptr<Load> load(const std::string &text, const char *name = "t.yaml")
{
	std::unique_ptr<Load> l(new Load());
	l->rc = k8s_load_buffer(name, text.data(), text.size(), &l->cl, collect, &l->msgs);
	return l;
}

// Loads text that must be valid.
std::unique_ptr<Load> good(const std::string &text, const char *name = "t.yaml")
{
	std::unique_ptr<Load> l = load(text, name);
	EXPECT_EQ(l->rc, 0) << text;
	for (const std::string &m : l->msgs)
		ADD_FAILURE() << "unexpected message: " << m;
	return l;
}

std::string ip4(uint32_t be)
{
	char buf[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &be, buf, sizeof(buf));
	return buf;
}

std::string cidr(const k8s_cidr &c)
{
	return ip4(c.addr) + "/" + std::to_string(c.len);
}

const k8s_pod *find_pod(const k8s_cluster &cl, const char *ns, const char *name)
{
	for (unsigned i = 0; i < cl.n_pods; i++)
		if (!strcmp(cl.pods[i].ns, ns) && !strcmp(cl.pods[i].name, name))
			return &cl.pods[i];
	return nullptr;
}

const k8s_netpol *find_np(const k8s_cluster &cl, const char *name)
{
	for (unsigned i = 0; i < cl.n_netpols; i++)
		if (!strcmp(cl.netpols[i].name, name))
			return &cl.netpols[i];
	return nullptr;
}

const k8s_anp *find_anp(const k8s_cluster &cl, const char *name, bool baseline = false)
{
	for (unsigned i = 0; i < cl.n_anps; i++)
		if (!strcmp(cl.anps[i].name, name) && cl.anps[i].baseline == baseline)
			return &cl.anps[i];
	return nullptr;
}

std::string label(const k8s_labels &l, const char *key)
{
	const char *v = k8s_label_get(&l, key);
	return v ? v : "<none>";
}

std::string ns_doc(const char *name)
{
	return std::string("apiVersion: v1\nkind: Namespace\nmetadata: {name: ") + name + "}\n";
}

// Three good objects that follow every bad one in the same buffer.
const char kGood[] = R"(apiVersion: v1
kind: Namespace
metadata: {name: good-ns}
---
apiVersion: v1
kind: Pod
metadata: {name: good-pod, namespace: good-ns}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: good-np, namespace: good-ns}
spec: {podSelector: {}}
)";

// Loads `bad` (lines from 1) then kGood: exactly one message, the bad
// object is skipped and the good ones load. Returns the message.
std::string reject(const std::string &bad)
{
	std::string text = bad + "\n---\n" + kGood;
	std::unique_ptr<Load> l = load(text);
	EXPECT_EQ(l->rc, -EINVAL) << text;
	EXPECT_EQ(l->msgs.size(), 1u) << text;
	EXPECT_EQ(l->cl.n_namespaces, 1u);
	EXPECT_EQ(l->cl.n_pods, 1u);
	EXPECT_EQ(l->cl.n_netpols, 1u);
	EXPECT_EQ(l->cl.n_anps, 0u);
	EXPECT_NE(k8s_find_namespace(&l->cl, "good-ns"), nullptr);
	EXPECT_NE(find_pod(l->cl, "good-ns", "good-pod"), nullptr);
	EXPECT_NE(find_np(l->cl, "good-np"), nullptr);
	return l->msgs.empty() ? "" : l->msgs[0];
}

// Object headers; the spec (or the rest) starts on line 5.
const std::string kNP = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			"metadata: {name: bad, namespace: x}\nspec:\n";
const std::string kANP = "apiVersion: policy.networking.k8s.io/v1alpha1\n"
			 "kind: AdminNetworkPolicy\nmetadata: {name: bad}\nspec:\n";
const std::string kBANP = "apiVersion: policy.networking.k8s.io/v1alpha1\n"
			  "kind: BaselineAdminNetworkPolicy\nmetadata: {name: default}\nspec:\n";
const std::string kPod = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: x}\n";

// ANP spec lines 5-6 before the rules: priority and subject.
const std::string kANPHead = kANP + "  priority: 10\n  subject: {namespaces: {}}\n";
const std::string kBANPHead = kBANP + "  subject: {namespaces: {}}\n";

// ---------------------------------------------------------------------------
// Each kind with all its fields

TEST(K8sParse, NamespaceAllFields)
{
	auto l = good(R"(apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    kubernetes.io/metadata.name: team-a
    tier: "front_end.v2"
    empty: ""
  annotations: {anything: [goes, here]}
status: {phase: Active}
)");
	ASSERT_EQ(l->cl.n_namespaces, 1u);
	const k8s_namespace &ns = l->cl.namespaces[0];
	EXPECT_STREQ(ns.name, "team-a");
	ASSERT_EQ(ns.labels.n, 3u);
	EXPECT_EQ(label(ns.labels, "kubernetes.io/metadata.name"), "team-a");
	EXPECT_EQ(label(ns.labels, "tier"), "front_end.v2");
	EXPECT_EQ(label(ns.labels, "empty"), "");
	EXPECT_STREQ(ns.src, "t.yaml:1");
	EXPECT_EQ(k8s_find_namespace(&l->cl, "team-a"), &ns);
	EXPECT_EQ(k8s_find_namespace(&l->cl, "team-b"), nullptr);
}

TEST(K8sParse, PodAllFields)
{
	auto l = good(R"(apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: shop
  labels: {app: web, version: "2"}
spec:
  nodeName: node-1.example
  containers:
  - name: main
    image: nginx
    ports:
    - containerPort: 8080
      name: http
    - {containerPort: 53, protocol: UDP, name: dns}
    - {containerPort: 9000, protocol: SCTP}
  - name: sidecar
    ports: [{containerPort: 15000, name: admin}]
  - name: noports
status:
  phase: Running
  podIP: 10.0.1.5
  podIPs:
  - ip: 10.0.1.5
  - ip: fd00::5
  - ip: 10.0.1.6
)");
	ASSERT_EQ(l->cl.n_pods, 1u);
	const k8s_pod &p = l->cl.pods[0];
	EXPECT_STREQ(p.ns, "shop");
	EXPECT_STREQ(p.name, "web-0");
	EXPECT_EQ(label(p.labels, "app"), "web");
	EXPECT_EQ(label(p.labels, "version"), "2");
	EXPECT_STREQ(p.node, "node-1.example");
	ASSERT_EQ(p.n_ips, 2u); // duplicate merged, IPv6 skipped
	EXPECT_EQ(ip4(p.ips[0]), "10.0.1.5");
	EXPECT_EQ(ip4(p.ips[1]), "10.0.1.6");
	ASSERT_EQ(p.n_ports, 4u);
	EXPECT_STREQ(p.ports[0].name, "http");
	EXPECT_EQ(p.ports[0].port, 8080);
	EXPECT_EQ(p.ports[0].proto, K8S_PROTO_TCP);
	EXPECT_STREQ(p.ports[1].name, "dns");
	EXPECT_EQ(p.ports[1].proto, K8S_PROTO_UDP);
	EXPECT_EQ(p.ports[2].name, nullptr);
	EXPECT_EQ(p.ports[2].port, 9000);
	EXPECT_EQ(p.ports[2].proto, K8S_PROTO_SCTP);
	EXPECT_STREQ(p.ports[3].name, "admin");
	EXPECT_EQ(p.ports[3].port, 15000);
}

TEST(K8sParse, PodDefaults)
{
	auto l = good("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
	ASSERT_EQ(l->cl.n_pods, 1u);
	const k8s_pod &p = l->cl.pods[0];
	EXPECT_STREQ(p.ns, "default");
	EXPECT_EQ(p.node, nullptr);
	EXPECT_EQ(p.n_ips, 0u);
	EXPECT_EQ(p.n_ports, 0u);
	EXPECT_EQ(p.labels.n, 0u);
}

TEST(K8sParse, NetworkPolicyAllFields)
{
	auto l = good(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-allow
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: api}
    matchExpressions:
    - {key: tier, operator: In, values: [a, b]}
    - {key: env, operator: NotIn, values: [dev]}
    - {key: team, operator: Exists}
    - {key: legacy, operator: DoesNotExist}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
    - namespaceSelector: {matchLabels: {team: b}}
    - podSelector: {}
      namespaceSelector: {}
    - ipBlock:
        cidr: 172.17.0.0/16
        except: [172.17.1.0/24, 172.17.2.128/25]
    ports:
    - {protocol: TCP, port: 80}
    - {port: http}
    - {protocol: UDP, port: 5000, endPort: 5010}
    - {protocol: SCTP}
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{port: 53, protocol: UDP}]
)");
	ASSERT_EQ(l->cl.n_netpols, 1u);
	const k8s_netpol &np = l->cl.netpols[0];
	EXPECT_STREQ(np.ns, "shop");
	EXPECT_STREQ(np.name, "api-allow");
	EXPECT_TRUE(np.pod_sel.present);
	EXPECT_EQ(label(np.pod_sel.match_labels, "app"), "api");
	ASSERT_EQ(np.pod_sel.n_exprs, 4u);
	EXPECT_STREQ(np.pod_sel.exprs[0].key, "tier");
	EXPECT_EQ(np.pod_sel.exprs[0].op, K8S_SEL_IN);
	ASSERT_EQ(np.pod_sel.exprs[0].n_values, 2u);
	EXPECT_STREQ(np.pod_sel.exprs[0].values[1], "b");
	EXPECT_EQ(np.pod_sel.exprs[1].op, K8S_SEL_NOT_IN);
	EXPECT_EQ(np.pod_sel.exprs[2].op, K8S_SEL_EXISTS);
	EXPECT_EQ(np.pod_sel.exprs[2].n_values, 0u);
	EXPECT_EQ(np.pod_sel.exprs[3].op, K8S_SEL_DOES_NOT_EXIST);
	EXPECT_TRUE(np.ingress);
	EXPECT_TRUE(np.egress);

	ASSERT_EQ(np.n_ingress, 1u);
	const k8s_np_rule &r = np.ingress_rules[0];
	ASSERT_TRUE(r.has_peers);
	ASSERT_EQ(r.n_peers, 4u);
	EXPECT_TRUE(r.peers[0].pod_sel.present);
	EXPECT_FALSE(r.peers[0].ns_sel.present);
	EXPECT_EQ(label(r.peers[0].pod_sel.match_labels, "role"), "client");
	EXPECT_FALSE(r.peers[1].pod_sel.present);
	EXPECT_TRUE(r.peers[1].ns_sel.present);
	EXPECT_TRUE(r.peers[2].pod_sel.present);
	EXPECT_TRUE(r.peers[2].ns_sel.present);
	EXPECT_FALSE(r.peers[2].has_ip_block);
	EXPECT_TRUE(r.peers[3].has_ip_block);
	EXPECT_EQ(cidr(r.peers[3].cidr), "172.17.0.0/16");
	ASSERT_EQ(r.peers[3].n_except, 2u);
	EXPECT_EQ(cidr(r.peers[3].except[0]), "172.17.1.0/24");
	EXPECT_EQ(cidr(r.peers[3].except[1]), "172.17.2.128/25");

	ASSERT_TRUE(r.has_ports);
	ASSERT_EQ(r.n_ports, 4u);
	EXPECT_EQ(r.ports[0].proto, K8S_PROTO_TCP);
	EXPECT_TRUE(r.ports[0].has_port);
	EXPECT_FALSE(r.ports[0].named);
	EXPECT_EQ(r.ports[0].port, 80);
	EXPECT_FALSE(r.ports[0].has_end);
	EXPECT_EQ(r.ports[1].proto, K8S_PROTO_TCP);
	EXPECT_TRUE(r.ports[1].named);
	EXPECT_STREQ(r.ports[1].name, "http");
	EXPECT_EQ(r.ports[2].proto, K8S_PROTO_UDP);
	EXPECT_EQ(r.ports[2].port, 5000);
	EXPECT_TRUE(r.ports[2].has_end);
	EXPECT_EQ(r.ports[2].end_port, 5010);
	EXPECT_EQ(r.ports[3].proto, K8S_PROTO_SCTP);
	EXPECT_FALSE(r.ports[3].has_port);

	ASSERT_EQ(np.n_egress, 1u);
	const k8s_np_rule &e = np.egress_rules[0];
	ASSERT_EQ(e.n_peers, 1u);
	EXPECT_EQ(cidr(e.peers[0].cidr), "0.0.0.0/0");
	ASSERT_EQ(e.n_ports, 1u);
	EXPECT_EQ(e.ports[0].proto, K8S_PROTO_UDP);
	EXPECT_EQ(e.ports[0].port, 53);
}

TEST(K8sParse, NetworkPolicyDefaultsAndHostBits)
{
	auto l = good(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  ingress:
  - from: [{ipBlock: {cidr: 10.1.2.3/16, except: [10.1.200.7/24]}}]
  - {}
  - 
)");
	const k8s_netpol *np = find_np(l->cl, "p");
	ASSERT_NE(np, nullptr);
	EXPECT_STREQ(np->ns, "default");
	EXPECT_TRUE(np->pod_sel.present);
	EXPECT_EQ(np->pod_sel.match_labels.n, 0u);
	EXPECT_EQ(np->pod_sel.n_exprs, 0u);
	ASSERT_EQ(np->n_ingress, 3u);
	EXPECT_EQ(cidr(np->ingress_rules[0].peers[0].cidr), "10.1.0.0/16");
	EXPECT_EQ(cidr(np->ingress_rules[0].peers[0].except[0]), "10.1.200.0/24");
	// `- {}` and a null item (`- ` alone, a zero struct in Go): all peers, all ports
	for (unsigned i = 1; i < 3; i++) {
		EXPECT_FALSE(np->ingress_rules[i].has_peers);
		EXPECT_FALSE(np->ingress_rules[i].has_ports);
	}
}

TEST(K8sParse, NetworkPolicyMissingVsEmpty)
{
	auto l = good(kNP + R"(  podSelector: {}
  ingress:
  - from: []
    ports: []
  - ports:
    from: null
  egress:
  - to: [{podSelector: {}}]
)");
	const k8s_netpol *np = find_np(l->cl, "bad");
	ASSERT_NE(np, nullptr);
	ASSERT_EQ(np->n_ingress, 2u);
	EXPECT_TRUE(np->ingress_rules[0].has_peers);
	EXPECT_EQ(np->ingress_rules[0].n_peers, 0u);
	EXPECT_TRUE(np->ingress_rules[0].has_ports);
	EXPECT_EQ(np->ingress_rules[0].n_ports, 0u);
	EXPECT_FALSE(np->ingress_rules[1].has_peers); // null = missing
	EXPECT_FALSE(np->ingress_rules[1].has_ports);
	ASSERT_EQ(np->n_egress, 1u);
	EXPECT_FALSE(np->egress_rules[0].has_ports);
	EXPECT_TRUE(np->egress_rules[0].has_peers);
}

struct TypesCase {
	const char *spec;
	bool ingress, egress;
};

TEST(K8sParse, PolicyTypesGivenOrInferred)
{
	const TypesCase cases[] = {
		{"  podSelector: {}\n", true, false},
		{"  podSelector: {}\n  ingress: [{}]\n", true, false},
		// an egress field with no rules is not "egress rules": Ingress only
		{"  podSelector: {}\n  egress: []\n", true, false},
		{"  podSelector: {}\n  egress: [{}]\n", true, true},
		{"  podSelector: {}\n  policyTypes: [Egress]\n", false, true},
		{"  podSelector: {}\n  policyTypes: [Ingress]\n  egress: [{}]\n", true, false},
		{"  podSelector: {}\n  policyTypes: [Egress, Ingress]\n", true, true},
		// an empty list is defaulted like a missing one
		{"  podSelector: {}\n  policyTypes: []\n  egress: [{}]\n", true, true},
	};
	for (const TypesCase &tc : cases) {
		auto l = good(kNP + tc.spec);
		const k8s_netpol *np = find_np(l->cl, "bad");
		ASSERT_NE(np, nullptr) << tc.spec;
		EXPECT_EQ(np->ingress, tc.ingress) << tc.spec;
		EXPECT_EQ(np->egress, tc.egress) << tc.spec;
	}
}

TEST(K8sParse, AdminNetworkPolicyAllFields)
{
	auto l = good(R"(apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: cluster-control}
spec:
  priority: 7
  subject:
    namespaces:
      matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]
  ingress:
  - name: allow-monitoring
    action: Allow
    from:
    - namespaces: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
    ports:
    - portNumber: {protocol: TCP, port: 9090}
    - namedPort: metrics
    - portRange: {protocol: UDP, start: 1000, end: 2000}
    - portNumber: {port: 8080}
  - action: Pass
    from:
    - pods:
        namespaceSelector: {}
        podSelector: {matchLabels: {app: debug}}
  - action: Deny
    from: [{namespaces: {}}]
    ports: []
  egress:
  - name: deny-metadata
    action: Deny
    to:
    - networks: [169.254.169.254/32, 10.9.8.7/8]
    - pods: {namespaceSelector: {matchLabels: {a: b}}, podSelector: {}}
    ports: [{portRange: {start: 1, end: 65535}}]
)");
	const k8s_anp *a = find_anp(l->cl, "cluster-control");
	ASSERT_NE(a, nullptr);
	EXPECT_FALSE(a->baseline);
	EXPECT_EQ(a->priority, 7);
	EXPECT_EQ(a->subject.kind, K8S_ANP_NAMESPACES);
	EXPECT_TRUE(a->subject.ns_sel.present);
	EXPECT_FALSE(a->subject.pod_sel.present);
	ASSERT_EQ(a->subject.ns_sel.n_exprs, 1u);
	EXPECT_EQ(a->subject.ns_sel.exprs[0].op, K8S_SEL_NOT_IN);

	ASSERT_EQ(a->n_ingress, 3u);
	const k8s_anp_rule &r0 = a->ingress_rules[0];
	EXPECT_STREQ(r0.name, "allow-monitoring");
	EXPECT_EQ(r0.action, K8S_ANP_ALLOW);
	ASSERT_EQ(r0.n_peers, 1u);
	EXPECT_EQ(r0.peers[0].kind, K8S_ANP_NAMESPACES);
	EXPECT_EQ(label(r0.peers[0].ns_sel.match_labels, "kubernetes.io/metadata.name"),
		  "monitoring");
	ASSERT_TRUE(r0.has_ports);
	ASSERT_EQ(r0.n_ports, 4u);
	EXPECT_EQ(r0.ports[0].kind, K8S_ANP_PORT_NUMBER);
	EXPECT_EQ(r0.ports[0].proto, K8S_PROTO_TCP);
	EXPECT_EQ(r0.ports[0].port, 9090);
	EXPECT_EQ(r0.ports[1].kind, K8S_ANP_PORT_NAMED);
	EXPECT_STREQ(r0.ports[1].name, "metrics");
	EXPECT_EQ(r0.ports[2].kind, K8S_ANP_PORT_RANGE);
	EXPECT_EQ(r0.ports[2].proto, K8S_PROTO_UDP);
	EXPECT_EQ(r0.ports[2].port, 1000);
	EXPECT_EQ(r0.ports[2].end, 2000);
	EXPECT_EQ(r0.ports[3].proto, K8S_PROTO_TCP); // default
	EXPECT_EQ(r0.ports[3].port, 8080);

	const k8s_anp_rule &r1 = a->ingress_rules[1];
	EXPECT_EQ(r1.name, nullptr);
	EXPECT_EQ(r1.action, K8S_ANP_PASS);
	EXPECT_FALSE(r1.has_ports); // missing: all ports
	EXPECT_EQ(r1.peers[0].kind, K8S_ANP_PODS);
	EXPECT_TRUE(r1.peers[0].ns_sel.present);
	EXPECT_EQ(label(r1.peers[0].pod_sel.match_labels, "app"), "debug");

	const k8s_anp_rule &r2 = a->ingress_rules[2];
	EXPECT_EQ(r2.action, K8S_ANP_DENY);
	EXPECT_TRUE(r2.has_ports); // present and empty: kept apart
	EXPECT_EQ(r2.n_ports, 0u);

	ASSERT_EQ(a->n_egress, 1u);
	const k8s_anp_rule &e = a->egress_rules[0];
	ASSERT_EQ(e.n_peers, 2u);
	EXPECT_EQ(e.peers[0].kind, K8S_ANP_NETWORKS);
	ASSERT_EQ(e.peers[0].n_networks, 2u);
	EXPECT_EQ(cidr(e.peers[0].networks[0]), "169.254.169.254/32");
	EXPECT_EQ(cidr(e.peers[0].networks[1]), "10.0.0.0/8");
	EXPECT_EQ(e.peers[1].kind, K8S_ANP_PODS);
	EXPECT_EQ(e.ports[0].port, 1);
	EXPECT_EQ(e.ports[0].end, 65535);
}

TEST(K8sParse, AdminNetworkPolicyPodsSubjectAndPriorityBounds)
{
	auto l = good(R"(apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: zero}
spec:
  priority: 0
  subject: {pods: {namespaceSelector: {matchLabels: {a: b}}, podSelector: {matchLabels: {c: d}}}}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: thousand}
spec: {priority: 1000, subject: {namespaces: {}}}
)");
	const k8s_anp *a = find_anp(l->cl, "zero");
	ASSERT_NE(a, nullptr);
	EXPECT_EQ(a->priority, 0);
	EXPECT_EQ(a->subject.kind, K8S_ANP_PODS);
	EXPECT_EQ(label(a->subject.ns_sel.match_labels, "a"), "b");
	EXPECT_EQ(label(a->subject.pod_sel.match_labels, "c"), "d");
	EXPECT_EQ(a->n_ingress, 0u);
	EXPECT_EQ(a->n_egress, 0u);
	const k8s_anp *b = find_anp(l->cl, "thousand");
	ASSERT_NE(b, nullptr);
	EXPECT_EQ(b->priority, 1000);
}

TEST(K8sParse, BaselineAdminNetworkPolicy)
{
	auto l = good(kBANPHead + R"(  ingress:
  - {name: deny-all, action: Deny, from: [{namespaces: {}}]}
  egress:
  - action: Allow
    to: [{networks: [10.0.0.0/8]}]
    ports: [{portNumber: {protocol: UDP, port: 53}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: default}
spec: {priority: 1, subject: {namespaces: {}}}
)");
	ASSERT_EQ(l->cl.n_anps, 2u); // same name, different kinds: no clash
	const k8s_anp *b = find_anp(l->cl, "default", true);
	ASSERT_NE(b, nullptr);
	EXPECT_TRUE(b->baseline);
	EXPECT_EQ(b->subject.kind, K8S_ANP_NAMESPACES);
	ASSERT_EQ(b->n_ingress, 1u);
	EXPECT_EQ(b->ingress_rules[0].action, K8S_ANP_DENY);
	ASSERT_EQ(b->n_egress, 1u);
	EXPECT_EQ(b->egress_rules[0].action, K8S_ANP_ALLOW);
	EXPECT_EQ(b->egress_rules[0].peers[0].kind, K8S_ANP_NETWORKS);
	EXPECT_EQ(b->egress_rules[0].ports[0].proto, K8S_PROTO_UDP);
	EXPECT_NE(find_anp(l->cl, "default", false), nullptr);
}

// ---------------------------------------------------------------------------
// Document forms

TEST(K8sParse, NodeAllFields)
{
	// As the API server returns a Node: dual-stack, several addresses.
	auto l = good(R"({"apiVersion": "v1", "kind": "Node",
  "metadata": {"name": "worker-1.example", "labels": {"kubernetes.io/os": "linux"},
    "annotations": {"nsdp.io/vtep-mac": "02:00:C0:a8:64:01", "other": "x"}},
  "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:1::/64"],
    "taints": [{"key": "k", "effect": "NoSchedule"}]},
  "status": {"addresses": [{"type": "Hostname", "address": "worker-1"},
    {"type": "InternalIP", "address": "fd00::1"},
    {"type": "InternalIP", "address": "192.168.100.1"},
    {"type": "InternalIP", "address": "192.168.100.9"}]}})");
	ASSERT_EQ(l->cl.n_nodes, 1u);
	const k8s_node &n = l->cl.nodes[0];
	EXPECT_STREQ(n.name, "worker-1.example");
	ASSERT_EQ(n.n_cidrs, 1u); // the IPv6 half skipped, the repeat merged
	EXPECT_EQ(cidr(n.pod_cidrs[0]), "10.244.1.0/24");
	ASSERT_TRUE(n.has_internal_ip);
	EXPECT_EQ(ip4(n.internal_ip), "192.168.100.1"); // the first IPv4 InternalIP
	ASSERT_TRUE(n.has_vtep_mac);
	const uint8_t mac[6] = {0x02, 0x00, 0xc0, 0xa8, 0x64, 0x01};
	EXPECT_EQ(memcmp(n.vtep_mac, mac, 6), 0);
	EXPECT_STREQ(n.src, "t.yaml:1");
}

TEST(K8sParse, PolicyModeAnnotation)
{
	auto l = good(
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a, annotations: {nsdp.io/policy-mode: audit}}\n"
		"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: p, namespace: a, annotations: {nsdp.io/policy-mode: enforce, x: y}}\n"
		"spec: {podSelector: {}}\n"
		"---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n"
		"metadata: {name: q, annotations: {nsdp.io/policy-mode: audit}}\n"
		"spec: {priority: 1, subject: {namespaces: {}}}\n");
	ASSERT_EQ(l->cl.n_namespaces, 2u);
	EXPECT_EQ(l->cl.namespaces[0].mode, K8S_MODE_AUDIT);
	EXPECT_EQ(l->cl.namespaces[1].mode, K8S_MODE_UNSET);
	ASSERT_EQ(l->cl.n_netpols, 1u);
	EXPECT_EQ(l->cl.netpols[0].mode, K8S_MODE_ENFORCE);
	ASSERT_EQ(l->cl.n_anps, 1u);
	EXPECT_EQ(l->cl.anps[0].mode, K8S_MODE_AUDIT);
	// Any other value rejects the object alone, naming the field.
	auto r = load("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		      "metadata: {name: p, namespace: a, annotations: {nsdp.io/policy-mode: Audit}}\n"
		      "spec: {podSelector: {}}\n"
		      "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		      "metadata: {name: good, namespace: a}\nspec: {podSelector: {}}\n");
	EXPECT_EQ(r->rc, -EINVAL);
	ASSERT_EQ(r->msgs.size(), 1u);
	EXPECT_NE(r->msgs[0].find("t.yaml:3: NetworkPolicy a/p: metadata.annotations.nsdp.io/policy-mode: "
				  "invalid policy mode \"Audit\" (allowed: enforce, audit)"),
		  std::string::npos)
		<< r->msgs[0];
	ASSERT_EQ(r->cl.n_netpols, 1u);
	EXPECT_STREQ(r->cl.netpols[0].name, "good");
}

TEST(K8sParse, NodeMinimalAndBadFields)
{
	auto l = good("apiVersion: v1\nkind: Node\nmetadata: {name: bare}\n");
	ASSERT_EQ(l->cl.n_nodes, 1u);
	EXPECT_EQ(l->cl.nodes[0].n_cidrs, 0u);
	EXPECT_FALSE(l->cl.nodes[0].has_internal_ip);
	EXPECT_FALSE(l->cl.nodes[0].has_vtep_mac);

	struct {
		const char *text, *want;
	} bad[] = {
		{"apiVersion: v1\nkind: Node\nmetadata: {name: n, annotations: {nsdp.io/vtep-mac: 02:00:00:00:00}}\n",
		 "t.yaml:3: Node n: metadata.annotations.nsdp.io/vtep-mac: \"02:00:00:00:00\" is not a MAC address"},
		{"apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDR: 10.244.1.0/33}\n",
		 "t.yaml:4: Node n: spec.podCIDR: invalid CIDR \"10.244.1.0/33\""},
		{"apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDRs: [10.1.0.0/16, x]}\n",
		 "t.yaml:4: Node n: spec.podCIDRs[1]: invalid CIDR \"x\""},
		{"apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus: {addresses: [{type: InternalIP, address: 1.2.3}]}\n",
		 "t.yaml:4: Node n: status.addresses[0].address: invalid IP address \"1.2.3\""},
		{"apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus: {addresses: [{type: InternalIP}]}\n",
		 "status.addresses[0].address: required field missing"},
		{"apiVersion: v2\nkind: Node\nmetadata: {name: n}\n", "apiVersion: \"v2\" is not supported for Node"},
	};
	for (const auto &b : bad) {
		auto r = load(std::string(b.text) + "---\napiVersion: v1\nkind: Node\nmetadata: {name: good}\n");
		EXPECT_EQ(r->rc, -EINVAL) << b.text;
		ASSERT_EQ(r->msgs.size(), 1u) << b.text;
		EXPECT_NE(r->msgs[0].find(b.want), std::string::npos) << r->msgs[0];
		ASSERT_EQ(r->cl.n_nodes, 1u) << "the bad Node is rejected alone";
		EXPECT_STREQ(r->cl.nodes[0].name, "good");
	}
	// Same name twice: the second is a duplicate.
	auto d = load("apiVersion: v1\nkind: Node\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: a}\n");
	EXPECT_EQ(d->cl.n_nodes, 1u);
	ASSERT_EQ(d->msgs.size(), 1u);
	EXPECT_NE(d->msgs[0].find("duplicate object"), std::string::npos);
}

TEST(K8sForms, MultiDocument)
{
	auto l = good(R"(# leading comment
---
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
---
# an empty document above, a null one below
~
---
apiVersion: v1
kind: Namespace
metadata: {name: b}
...
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: b}
)");
	EXPECT_EQ(l->cl.n_namespaces, 2u);
	EXPECT_EQ(l->cl.n_pods, 1u);
	ASSERT_NE(k8s_find_namespace(&l->cl, "b"), nullptr);
	EXPECT_STREQ(k8s_find_namespace(&l->cl, "b")->src, "t.yaml:11");
	EXPECT_STREQ(l->cl.pods[0].src, "t.yaml:16");
}

TEST(K8sForms, List)
{
	auto l = good(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: a}
- apiVersion: v1
  kind: Service
  metadata: {name: svc}
  spec: {ports: [{port: 80}]}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: np, namespace: a}
  spec: {podSelector: {}}
- apiVersion: v1
  kind: List
  items: [{apiVersion: v1, kind: Pod, metadata: {name: nested}}]
)");
	EXPECT_EQ(l->cl.n_namespaces, 1u);
	EXPECT_EQ(l->cl.n_netpols, 1u);
	EXPECT_NE(find_pod(l->cl, "default", "nested"), nullptr);
	EXPECT_STREQ(l->cl.netpols[0].src, "t.yaml:11");
}

TEST(K8sForms, TypedListItemsInheritKind)
{
	// what `GET /api/v1/pods` returns: items carry no kind or apiVersion
	auto l = good(R"({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
 "items": [
  {"metadata": {"name": "a", "namespace": "n"}, "status": {"podIP": "10.0.0.1"}},
  {"metadata": {"name": "b", "namespace": "n"}}
 ]})",
		      "pods.json");
	ASSERT_EQ(l->cl.n_pods, 2u);
	EXPECT_EQ(ip4(l->cl.pods[0].ips[0]), "10.0.0.1");
	EXPECT_STREQ(l->cl.pods[1].src, "pods.json:4");
}

TEST(K8sForms, JsonObjectAndList)
{
	auto l = good(R"({
	"apiVersion": "networking.k8s.io/v1",
	"kind": "NetworkPolicy",
	"metadata": {"name": "j", "namespace": "x"},
	"spec": {"podSelector": {"matchLabels": {"app": "a"}},
		"ingress": [{"from": [], "ports": [{"port": 80}, {"port": "http"}]}]}
}
)",
		      "np.json");
	const k8s_netpol *np = find_np(l->cl, "j");
	ASSERT_NE(np, nullptr);
	ASSERT_EQ(np->n_ingress, 1u);
	EXPECT_TRUE(np->ingress_rules[0].has_peers);
	EXPECT_EQ(np->ingress_rules[0].ports[0].port, 80);
	EXPECT_TRUE(np->ingress_rules[0].ports[1].named);

	auto l2 = good(R"({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n1","labels":{"a":"1"}}},{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n2"}}]})",
		       "l.json");
	EXPECT_EQ(l2->cl.n_namespaces, 2u);
	EXPECT_EQ(label(l2->cl.namespaces[0].labels, "a"), "1");
}

TEST(K8sForms, JsonStringPortIsANameNotANumber)
{
	// "80" in quotes is a string (IntOrString), and not a valid port name
	std::string m = reject(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "q", "namespace": "x"},
 "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": "80"}]}]}})");
	EXPECT_EQ(m, "t.yaml:3: NetworkPolicy x/q: spec.ingress[0].ports[0].port: invalid port name \"80\" "
		     "(allowed: 1-15 lowercase letters, digits and '-', at least one letter, no leading, "
		     "trailing or double '-')");
}

TEST(K8sForms, OtherKindsSkipped)
{
	auto l = good(R"(apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{port: not-validated}]}
---
apiVersion: apps/v1
kind: Deployment
spec: [whatever]
---
kind: ConfigMap
data: {a: b}
---
apiVersion: v1
kind: ServiceList
items: [{metadata: {name: x}}]
)");
	EXPECT_EQ(l->cl.n_namespaces + l->cl.n_pods + l->cl.n_netpols + l->cl.n_anps, 0u);
}

TEST(K8sForms, AnchorsAndAliases)
{
	auto l = good(R"(apiVersion: v1
kind: Namespace
metadata:
  name: a
  labels: &common {team: x, env: prod}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {team: y}}
)");
	EXPECT_EQ(label(k8s_find_namespace(&l->cl, "a")->labels, "env"), "prod");
	// anchors are per document
	auto l2 = load(R"(apiVersion: v1
kind: Namespace
metadata: &m {name: a}
---
apiVersion: v1
kind: Namespace
metadata: *m
)");
	EXPECT_EQ(l2->rc, -EINVAL);
	ASSERT_EQ(l2->msgs.size(), 1u);
	EXPECT_EQ(l2->msgs[0], "t.yaml:7: syntax error: unknown alias");
	EXPECT_EQ(l2->cl.n_namespaces, 1u);

	auto l3 = good(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: &l {app: web}
spec: {containers: [{ports: &ports [{containerPort: 80, name: http}]}, {ports: [{containerPort: 81}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: n}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {}}]}]
)");
	EXPECT_EQ(l3->cl.pods[0].n_ports, 2u);
}

TEST(K8sForms, AliasExpansionIsBounded)
{
	std::string bomb = "kind: ConfigMap\ndata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n";
	const char *names = "abcdefg";
	for (int i = 1; i < 7; i++) {
		bomb += std::string("  ") + names[i] + ": &" + names[i] + " [";
		for (int j = 0; j < 10; j++)
			bomb += std::string(j ? ", *" : "*") + names[i - 1];
		bomb += "]\n";
	}
	auto l = load(ns_doc("before") + "---\n" + bomb);
	EXPECT_EQ(l->rc, -EINVAL);
	ASSERT_EQ(l->msgs.size(), 1u);
	// f = 10 * e = 1111111 nodes: refused while f is built, on its line
	EXPECT_EQ(l->msgs[0], "t.yaml:12: syntax error: aliases expand to too many nodes");
	EXPECT_NE(k8s_find_namespace(&l->cl, "before"), nullptr);
}

TEST(K8sForms, PlainScalarsAreStringsWhereStringsAreWanted)
{
	auto l = good(R"(apiVersion: v1
kind: Namespace
metadata:
  name: n
  labels: {num: 1, flag: true, nothing: , dotted: 1.5}
)");
	const k8s_namespace *ns = k8s_find_namespace(&l->cl, "n");
	ASSERT_NE(ns, nullptr);
	EXPECT_EQ(label(ns->labels, "num"), "1");
	EXPECT_EQ(label(ns->labels, "flag"), "true");
	EXPECT_EQ(label(ns->labels, "nothing"), ""); // null decodes as ""
	EXPECT_EQ(label(ns->labels, "dotted"), "1.5");
}

// ---------------------------------------------------------------------------
// Files and directories

struct TempDir {
	std::string path;
	TempDir()
	{
		char tmpl[] = "/tmp/nsdp-k8s-XXXXXX";
		path = mkdtemp(tmpl);
	}
	~TempDir()
	{
		std::string cmd = "rm -rf '" + path + "'";
		if (system(cmd.c_str()) != 0)
			perror("rm");
	}
	std::string write(const std::string &name, const std::string &text)
	{
		std::string p = path + "/" + name;
		std::ofstream(p) << text;
		return p;
	}
};

TEST(K8sFiles, LoadDirSortedExtensionsAndDuplicates)
{
	TempDir d;
	d.write("b.yml", ns_doc("b") + "---\n" + ns_doc("a"));
	d.write("a.yaml", ns_doc("a"));
	d.write("c.json", R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}})");
	d.write("d.txt", ns_doc("d"));
	d.write(".hidden.yaml", ns_doc("h"));
	mkdir((d.path + "/sub.yaml").c_str(), 0755);
	d.write("e.yaml", "");

	Load l;
	l.rc = k8s_load_dir(d.path.c_str(), &l.cl, collect, &l.msgs);
	EXPECT_EQ(l.rc, -EINVAL);
	ASSERT_EQ(l.msgs.size(), 1u);
	EXPECT_EQ(l.msgs[0], d.path + "/b.yml:5: Namespace a: duplicate object, already defined at " +
				     d.path + "/a.yaml:1");
	ASSERT_EQ(l.cl.n_namespaces, 3u);
	EXPECT_STREQ(l.cl.namespaces[0].name, "a"); // a.yaml first
	EXPECT_STREQ(l.cl.namespaces[1].name, "b");
	EXPECT_STREQ(l.cl.namespaces[2].name, "c");
}

TEST(K8sFiles, SyntaxErrorRejectsTheRestOfItsFileOnly)
{
	TempDir d;
	d.write("a.yaml", ns_doc("a1") + "---\n" + "apiVersion: v1\nkind: Namespace\n"
						   "metadata: {name: [unclosed\n---\n" +
				  ns_doc("a3"));
	d.write("b.yaml", ns_doc("b"));
	Load l;
	l.rc = k8s_load_dir(d.path.c_str(), &l.cl, collect, &l.msgs);
	EXPECT_EQ(l.rc, -EINVAL);
	ASSERT_EQ(l.msgs.size(), 1u);
	EXPECT_EQ(l.msgs[0].rfind(d.path + "/a.yaml:", 0), 0u) << l.msgs[0];
	EXPECT_NE(l.msgs[0].find(": syntax error: "), std::string::npos) << l.msgs[0];
	EXPECT_NE(k8s_find_namespace(&l.cl, "a1"), nullptr);
	EXPECT_EQ(k8s_find_namespace(&l.cl, "a3"), nullptr);
	EXPECT_NE(k8s_find_namespace(&l.cl, "b"), nullptr);
}

TEST(K8sFiles, SyntaxErrorMessage)
{
	auto l = load(ns_doc("a") + "---\nkind: Namespace\nmetadata:\n  name: b\n bad: indent\n");
	EXPECT_EQ(l->rc, -EINVAL);
	ASSERT_EQ(l->msgs.size(), 1u);
	EXPECT_EQ(l->msgs[0], "t.yaml:8: syntax error: did not find expected key");
	EXPECT_EQ(l->cl.n_namespaces, 1u);
}

TEST(K8sFiles, LoadFileAndMissingFiles)
{
	TempDir d;
	std::string p = d.write("x.yaml", ns_doc("x"));
	{
		Load l;
		EXPECT_EQ(k8s_load_file(p.c_str(), &l.cl, collect, &l.msgs), 0);
		ASSERT_EQ(l.cl.n_namespaces, 1u);
		EXPECT_EQ(std::string(l.cl.namespaces[0].src), p + ":1");
		// loading again appends and finds the duplicate
		EXPECT_EQ(k8s_load_file(p.c_str(), &l.cl, collect, &l.msgs), -EINVAL);
		ASSERT_EQ(l.msgs.size(), 1u);
		EXPECT_EQ(l.msgs[0], p + ":1: Namespace x: duplicate object, already defined at " + p + ":1");
		EXPECT_EQ(l.cl.n_namespaces, 1u);
	}
	{
		Load l;
		std::string missing = d.path + "/nope.yaml";
		EXPECT_EQ(k8s_load_file(missing.c_str(), &l.cl, collect, &l.msgs), -ENOENT);
		ASSERT_EQ(l.msgs.size(), 1u);
		EXPECT_EQ(l.msgs[0], missing + ": cannot read: No such file or directory");
	}
	{
		Load l;
		std::string missing = d.path + "/nodir";
		EXPECT_EQ(k8s_load_dir(missing.c_str(), &l.cl, nullptr, nullptr), -ENOENT);
	}
}

TEST(K8sFiles, NullReportIsFine)
{
	k8s_cluster cl{};
	std::string t = "kind: Namespace\nmetadata: {name: a}\n---\n" + ns_doc("b");
	EXPECT_EQ(k8s_load_buffer("t", t.data(), t.size(), &cl, nullptr, nullptr), -EINVAL);
	EXPECT_EQ(cl.n_namespaces, 1u);
	k8s_cluster_free(&cl);
	EXPECT_EQ(cl.n_namespaces, 0u);
	k8s_cluster_free(&cl); // idempotent
}

// ---------------------------------------------------------------------------
// Selector semantics

struct Sel {
	std::unique_ptr<Load> l;
	const k8s_selector *sel = nullptr;
	explicit Sel(const std::string &selector)
	{
		l = good(kNP + "  podSelector: " + selector + "\n");
		const k8s_netpol *np = find_np(l->cl, "bad");
		if (np)
			sel = &np->pod_sel;
	}
	bool matches(std::vector<std::pair<const char *, const char *>> kv) const
	{
		std::vector<k8s_label> v;
		for (auto &p : kv)
			v.push_back({const_cast<char *>(p.first), const_cast<char *>(p.second)});
		k8s_labels labels{static_cast<unsigned>(v.size()), v.data()};
		return k8s_selector_matches(sel, &labels);
	}
};

TEST(K8sSelector, EmptyMatchesAll)
{
	Sel s("{}");
	ASSERT_NE(s.sel, nullptr);
	EXPECT_TRUE(s.matches({}));
	EXPECT_TRUE(s.matches({{"a", "b"}}));
	k8s_labels none{0, nullptr};
	EXPECT_TRUE(k8s_selector_matches(s.sel, &none));
}

TEST(K8sSelector, MatchLabels)
{
	Sel s("{matchLabels: {app: web, tier: front}}");
	EXPECT_TRUE(s.matches({{"app", "web"}, {"tier", "front"}, {"x", "y"}}));
	EXPECT_FALSE(s.matches({{"app", "web"}}));
	EXPECT_FALSE(s.matches({{"app", "web"}, {"tier", "back"}}));
	EXPECT_FALSE(s.matches({}));
}

TEST(K8sSelector, In)
{
	Sel s("{matchExpressions: [{key: env, operator: In, values: [prod, staging]}]}");
	EXPECT_TRUE(s.matches({{"env", "prod"}}));
	EXPECT_TRUE(s.matches({{"env", "staging"}}));
	EXPECT_FALSE(s.matches({{"env", "dev"}}));
	EXPECT_FALSE(s.matches({})); // absent label: not In
}

TEST(K8sSelector, NotIn)
{
	Sel s("{matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}");
	EXPECT_FALSE(s.matches({{"env", "prod"}}));
	EXPECT_TRUE(s.matches({{"env", "dev"}}));
	EXPECT_TRUE(s.matches({})); // absent label: NotIn matches
}

TEST(K8sSelector, ExistsAndDoesNotExist)
{
	Sel e("{matchExpressions: [{key: team, operator: Exists}]}");
	EXPECT_TRUE(e.matches({{"team", ""}}));
	EXPECT_FALSE(e.matches({{"other", "x"}}));
	Sel d("{matchExpressions: [{key: team, operator: DoesNotExist, values: []}]}");
	EXPECT_FALSE(d.matches({{"team", "a"}}));
	EXPECT_TRUE(d.matches({{"other", "x"}}));
}

TEST(K8sSelector, AllRequirementsAreAnded)
{
	Sel s("{matchLabels: {app: web}, matchExpressions: [{key: env, operator: In, values: [prod]}, "
	      "{key: canary, operator: DoesNotExist}]}");
	EXPECT_TRUE(s.matches({{"app", "web"}, {"env", "prod"}}));
	EXPECT_FALSE(s.matches({{"app", "web"}, {"env", "prod"}, {"canary", "1"}}));
	EXPECT_FALSE(s.matches({{"app", "db"}, {"env", "prod"}}));
	EXPECT_FALSE(s.matches({{"app", "web"}}));
}

TEST(K8sSelector, AbsentSelectorMatchesNothing)
{
	k8s_selector sel{};
	k8s_labels none{0, nullptr};
	EXPECT_FALSE(k8s_selector_matches(&sel, &none));
	EXPECT_EQ(k8s_label_get(&none, "a"), nullptr);
}

// ---------------------------------------------------------------------------
// Bad input: one exact message, the other objects still load

TEST(K8sBad, NamespaceNameNotADnsLabel)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Team_A\n"),
		  "t.yaml:4: Namespace Team_A: metadata.name: \"Team_A\" is not a valid DNS label "
		  "(allowed: at most 63 lowercase letters, digits and '-', starting and ending with a "
		  "letter or digit)");
}

TEST(K8sBad, NamespaceNameMissing)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {a: b}\n"),
		  "t.yaml:4: Namespace (unnamed): metadata.name: required field missing");
}

TEST(K8sBad, MetadataMissingOrNotAMap)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\n"),
		  "t.yaml:1: Namespace (unnamed): metadata: required field missing");
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata: ns-a\n"),
		  "t.yaml:3: Namespace (unnamed): metadata: expected a map, got \"ns-a\"");
}

TEST(K8sBad, NameIsAList)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [a]\n"),
		  "t.yaml:4: Namespace (unnamed): metadata.name: expected a string, got a list");
}

TEST(K8sBad, LabelKeyWithTwoSlashes)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels:\n"
			 "    a/b/c: x\n"),
		  "t.yaml:6: Namespace n: metadata.labels: invalid key \"a/b/c\": must be a name with "
		  "an optional DNS subdomain prefix and '/'");
}

TEST(K8sBad, LabelKeyBadPrefix)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata: {name: n, labels: {Example.com/a: x}}\n"),
		  "t.yaml:3: Namespace n: metadata.labels: invalid key \"Example.com/a\": prefix must "
		  "be a DNS subdomain (at most 253 lowercase letters, digits, '-' and '.')");
}

TEST(K8sBad, LabelKeyBadName)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata: {name: n, labels: {-app: x}}\n"),
		  "t.yaml:3: Namespace n: metadata.labels: invalid key \"-app\": name part must be at "
		  "most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
		  "digit");
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata: {name: n, labels: {\"x.io/\": y}}\n"),
		  "t.yaml:3: Namespace n: metadata.labels: invalid key \"x.io/\": name part must not "
		  "be empty");
	std::string longkey(64, 'k');
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata: {name: n, labels: {" + longkey +
			 ": y}}\n"),
		  "t.yaml:3: Namespace n: metadata.labels: invalid key \"" + longkey +
			  "\": name part must be at most 63 characters");
}

TEST(K8sBad, LabelValue)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels:\n"
			 "    app: \"web server\"\n"),
		  "t.yaml:6: Namespace n: metadata.labels.app: invalid value \"web server\": must be "
		  "empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
		  "letter or digit");
	std::string longval(64, 'v');
	EXPECT_EQ(reject("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: " + longval +
			 "}}\n"),
		  "t.yaml:3: Pod default/p: metadata.labels.app: invalid value \"" + longval +
			  "\": must be at most 63 characters");
}

TEST(K8sBad, LabelValueIsAMapAndLabelsIsAList)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels:\n"
			 "    app: {x: y}\n"),
		  "t.yaml:6: Namespace n: metadata.labels.app: expected a string, got a map");
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels:\n"
			 "  - app\n"),
		  "t.yaml:6: Namespace n: metadata.labels: expected a map, got a list");
}

TEST(K8sBad, DuplicateKey)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  labels:\n"
			 "    app: a\n    app: b\n"),
		  "t.yaml:7: Namespace n: metadata.labels: duplicate key \"app\" (first at line 6)");
}

TEST(K8sBad, PodNamespaceInvalid)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a.b}\n"),
		  "t.yaml:3: Pod a.b/p: metadata.namespace: \"a.b\" is not a valid namespace name "
		  "(allowed: at most 63 lowercase letters, digits and '-', starting and ending with a "
		  "letter or digit)");
}

TEST(K8sBad, PodNameInvalid)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Pod\nmetadata: {name: web..0}\n"),
		  "t.yaml:3: Pod default/web..0: metadata.name: \"web..0\" is not a valid DNS "
		  "subdomain (allowed: at most 253 lowercase letters, digits, '-' and '.', each "
		  "dot-separated part starting and ending with a letter or digit)");
}

TEST(K8sBad, PodContainerPortOutOfRange)
{
	EXPECT_EQ(reject(kPod + "spec:\n  containers:\n  - name: c\n    ports:\n    - containerPort: 0\n"),
		  "t.yaml:8: Pod x/bad: spec.containers[0].ports[0].containerPort: 0 is out of range "
		  "(allowed: 1-65535)");
	EXPECT_EQ(reject(kPod + "spec: {containers: [{}, {ports: [{containerPort: 80}, {containerPort: 65536}]}]}\n"),
		  "t.yaml:4: Pod x/bad: spec.containers[1].ports[1].containerPort: 65536 is out of "
		  "range (allowed: 1-65535)");
}

TEST(K8sBad, PodContainerPortNotAnInteger)
{
	// YAML 1.1 reads 010 as octal: leading zeros are refused, not guessed
	EXPECT_EQ(reject(kPod + "spec: {containers: [{ports: [{containerPort: 080}]}]}\n"),
		  "t.yaml:4: Pod x/bad: spec.containers[0].ports[0].containerPort: expected an "
		  "integer, got \"080\"");
	EXPECT_EQ(reject(kPod + "spec: {containers: [{ports: [{containerPort: \"80\"}]}]}\n"),
		  "t.yaml:4: Pod x/bad: spec.containers[0].ports[0].containerPort: expected an "
		  "integer, got the string \"80\"");
	EXPECT_EQ(reject(kPod + "spec: {containers: [{ports: [{name: http}]}]}\n"),
		  "t.yaml:4: Pod x/bad: spec.containers[0].ports[0].containerPort: required field "
		  "missing");
}

TEST(K8sBad, PodPortNames)
{
	const char *names[] = {"HTTP", "http-port-number", "8080", "-http", "http-", "ht--tp", "h_p"};
	for (const char *n : names) {
		std::string q = std::string("\"") + n + "\"";
		EXPECT_EQ(reject(kPod + "spec: {containers: [{ports: [{containerPort: 80, name: " + q +
				 "}]}]}\n"),
			  "t.yaml:4: Pod x/bad: spec.containers[0].ports[0].name: invalid port name " + q +
				  " (allowed: 1-15 lowercase letters, digits and '-', at least one letter, "
				  "no leading, trailing or double '-')");
	}
}

TEST(K8sBad, PodDuplicatePortName)
{
	EXPECT_EQ(reject(kPod + "spec:\n  containers:\n  - ports:\n    - {containerPort: 80, name: web}\n"
				"    - {containerPort: 81, name: web}\n"),
		  "t.yaml:8: Pod x/bad: spec.containers[0].ports[1].name: duplicate port name \"web\"");
}

TEST(K8sBad, PodProtocol)
{
	EXPECT_EQ(reject(kPod + "spec: {containers: [{ports: [{containerPort: 80, protocol: tcp}]}]}\n"),
		  "t.yaml:4: Pod x/bad: spec.containers[0].ports[0].protocol: invalid protocol \"tcp\" "
		  "(allowed: TCP, UDP, SCTP)");
}

TEST(K8sBad, PodIPs)
{
	EXPECT_EQ(reject(kPod + "status: {podIP: 10.0.0.256}\n"),
		  "t.yaml:4: Pod x/bad: status.podIP: invalid IP address \"10.0.0.256\"");
	EXPECT_EQ(reject(kPod + "status:\n  podIPs:\n  - ip: 10.0.0.1\n  - ip: 010.0.0.2\n"),
		  "t.yaml:7: Pod x/bad: status.podIPs[1].ip: invalid IP address \"010.0.0.2\"");
	EXPECT_EQ(reject(kPod + "status:\n  podIPs: [10.0.0.1]\n"),
		  "t.yaml:5: Pod x/bad: status.podIPs[0]: expected a map, got \"10.0.0.1\"");
}

TEST(K8sBad, PodContainersNotAList)
{
	EXPECT_EQ(reject(kPod + "spec:\n  containers: {name: c}\n"),
		  "t.yaml:5: Pod x/bad: spec.containers: expected a list, got a map");
}

TEST(K8sBad, ApiVersions)
{
	EXPECT_EQ(reject("apiVersion: v2\nkind: Pod\nmetadata: {name: p}\n"),
		  "t.yaml:1: Pod default/p: apiVersion: \"v2\" is not supported for Pod (allowed: v1)");
	EXPECT_EQ(reject("apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p, "
			 "namespace: x}\nspec: {podSelector: {}}\n"),
		  "t.yaml:1: NetworkPolicy x/p: apiVersion: \"extensions/v1beta1\" is not supported "
		  "for NetworkPolicy (allowed: networking.k8s.io/v1)");
	EXPECT_EQ(reject("apiVersion: policy.networking.k8s.io/v1beta1\nkind: AdminNetworkPolicy\n"
			 "metadata: {name: a}\nspec: {priority: 1, subject: {namespaces: {}}}\n"),
		  "t.yaml:1: AdminNetworkPolicy a: apiVersion: \"policy.networking.k8s.io/v1beta1\" is "
		  "not supported for AdminNetworkPolicy (allowed: policy.networking.k8s.io/v1alpha1)");
	EXPECT_EQ(reject("kind: Namespace\nmetadata: {name: n}\n"),
		  "t.yaml:1: Namespace n: apiVersion: required field missing (allowed: v1)");
}

TEST(K8sBad, KindMissingOrNotAMap)
{
	EXPECT_EQ(reject("apiVersion: v1\nmetadata: {name: n}\n"),
		  "t.yaml:1: kind: required field missing");
	EXPECT_EQ(reject("apiVersion: v1\nkind: [Namespace]\n"),
		  "t.yaml:2: kind: expected a string, got a list");
	EXPECT_EQ(reject("- apiVersion: v1\n  kind: Namespace\n"),
		  "t.yaml:1: expected an object (a map), got a list");
	EXPECT_EQ(reject("apiVersion: v1\nkind: List\nitems: {a: b}\n"),
		  "t.yaml:3: List: items: expected a list, got a map");
}

TEST(K8sBad, NetpolSpecMissing)
{
	EXPECT_EQ(reject("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			 "metadata: {name: p, namespace: x}\n"),
		  "t.yaml:1: NetworkPolicy x/p: spec: required field missing");
}

TEST(K8sBad, NetpolPodSelectorMissingOrNull)
{
	EXPECT_EQ(reject(kNP + "  ingress: []\n"),
		  "t.yaml:5: NetworkPolicy x/bad: spec.podSelector: required field missing (use {} to "
		  "select all pods)");
	EXPECT_EQ(reject(kNP + "  podSelector:\n"),
		  "t.yaml:5: NetworkPolicy x/bad: spec.podSelector: required field missing (use {} to "
		  "select all pods)");
}

TEST(K8sBad, NetpolPodSelectorWrongType)
{
	EXPECT_EQ(reject(kNP + "  podSelector: app=web\n"),
		  "t.yaml:5: NetworkPolicy x/bad: spec.podSelector: expected a map, got \"app=web\"");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchLabels: [app, web]\n"),
		  "t.yaml:6: NetworkPolicy x/bad: spec.podSelector.matchLabels: expected a map, got a "
		  "list");
}

TEST(K8sBad, NetpolUnknownFields)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingres: []\n"),
		  "t.yaml:6: NetworkPolicy x/bad: spec.ingres: unknown field (allowed: podSelector, "
		  "policyTypes, ingress, egress)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceselector: {}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].from[0].namespaceselector: unknown "
		  "field (allowed: podSelector, namespaceSelector, ipBlock)");
	EXPECT_EQ(reject(kNP + "  podSelector: {matchLabel: {a: b}}\n"),
		  "t.yaml:5: NetworkPolicy x/bad: spec.podSelector.matchLabel: unknown field "
		  "(allowed: matchLabels, matchExpressions)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  egress: [{from: []}]\n"),
		  "t.yaml:6: NetworkPolicy x/bad: spec.egress[0].from: unknown field (allowed: to, "
		  "ports)");
}

TEST(K8sBad, SelectorUnknownOperator)
{
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n"
			       "    - {key: app, operator: Equals, values: [a]}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].operator: "
		  "unknown operator \"Equals\" (allowed: In, NotIn, Exists, DoesNotExist)");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n"
			       "    - {key: app, operator: in, values: [a]}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].operator: "
		  "unknown operator \"in\" (allowed: In, NotIn, Exists, DoesNotExist)");
}

TEST(K8sBad, SelectorValuesRules)
{
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n    - {key: app, operator: In}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].values: must be "
		  "non-empty when operator is In");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n"
			       "    - {key: app, operator: NotIn, values: []}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].values: must be "
		  "non-empty when operator is NotIn");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n"
			       "    - {key: app, operator: Exists, values: [a]}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].values: must be "
		  "empty when operator is Exists");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n"
			       "    - {key: app, operator: DoesNotExist, values: [a]}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].values: must be "
		  "empty when operator is DoesNotExist");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n"
			       "    - {key: app, operator: In, values: [ok, \"not ok\"]}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].values[1]: "
		  "invalid value \"not ok\": must be empty or at most 63 letters, digits, '-', '_' or "
		  "'.', starting and ending with a letter or digit");
}

TEST(K8sBad, SelectorExpressionKey)
{
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n    - {operator: Exists}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].key: required "
		  "field missing");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions:\n    - {key: a/b/c, operator: Exists}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.podSelector.matchExpressions[0].key: invalid "
		  "label key \"a/b/c\": must be a name with an optional DNS subdomain prefix and '/'");
	EXPECT_EQ(reject(kNP + "  podSelector:\n    matchExpressions: {key: a, operator: Exists}\n"),
		  "t.yaml:6: NetworkPolicy x/bad: spec.podSelector.matchExpressions: expected a list, "
		  "got a map");
}

TEST(K8sBad, NetpolEmptyPeer)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - from:\n    - {}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].from[0]: empty peer (allowed: "
		  "podSelector and/or namespaceSelector, or ipBlock)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  egress:\n  - to:\n    - podSelector: {}\n    -\n"),
		  "t.yaml:9: NetworkPolicy x/bad: spec.egress[0].to[1]: empty peer (allowed: "
		  "podSelector and/or namespaceSelector, or ipBlock)");
}

TEST(K8sBad, NetpolIpBlockWithSelector)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - from:\n"
			       "    - ipBlock: {cidr: 10.0.0.0/8}\n      namespaceSelector: {}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].from[0]: ipBlock cannot be combined "
		  "with podSelector or namespaceSelector");
}

TEST(K8sBad, NetpolBadCidrs)
{
	const char *bad[] = {"10.0.0.0/33", "10.0.0.0", "10.0.0/8", "ten/8", "10.0.0.0/08",
			     "10.0.0.0/-1", "10.0.0.0/", "300.0.0.0/8"};
	for (const char *c : bad)
		EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock:\n"
				       "        cidr: " +
				 c + "\n"),
			  "t.yaml:9: NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.cidr: "
			  "invalid CIDR \"" +
				  std::string(c) + "\" (allowed: IPv4 a.b.c.d/0-32)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.cidr: required "
		  "field missing");
}

TEST(K8sBad, NetpolIPv6CidrNotSupported)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  egress:\n  - to: [{ipBlock: {cidr: \"fd00::/8\"}}]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.egress[0].to[0].ipBlock.cidr: IPv6 CIDR "
		  "\"fd00::/8\" is not supported yet (allowed: IPv4 a.b.c.d/0-32)");
}

TEST(K8sBad, NetpolExceptOutsideCidr)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock:\n"
			       "        cidr: 10.0.0.0/16\n        except:\n        - 10.0.1.0/24\n"
			       "        - 10.1.0.0/24\n"),
		  "t.yaml:12: NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.except[1]: "
		  "\"10.1.0.0/24\" is not a strict subset of cidr \"10.0.0.0/16\"");
	// as long as the cidr itself: not strictly inside
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n"
			       "  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.except[0]: "
		  "\"10.0.0.0/16\" is not a strict subset of cidr \"10.0.0.0/16\"");
	// shorter
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n"
			       "  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/8]}}]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.except[0]: "
		  "\"10.0.0.0/8\" is not a strict subset of cidr \"10.0.0.0/16\"");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n"
			       "  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: 10.0.1.0/24}}]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.ingress[0].from[0].ipBlock.except: expected a "
		  "list, got \"10.0.1.0/24\"");
}

TEST(K8sBad, NetpolPortOutOfRange)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports:\n    - port: 0\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].ports[0].port: 0 is out of range "
		  "(allowed: 1-65535)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  egress:\n  - ports: [{port: 80}, {port: 65536}]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.egress[0].ports[1].port: 65536 is out of range "
		  "(allowed: 1-65535)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  egress:\n  - ports: [{port: -5}]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.egress[0].ports[0].port: -5 is out of range "
		  "(allowed: 1-65535)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  egress:\n  - ports: [{port: 80, endPort: 70000}]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.egress[0].ports[0].endPort: 70000 is out of "
		  "range (allowed: 1-65535)");
}

TEST(K8sBad, NetpolEndPortWithoutNumericPort)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports:\n    - {protocol: TCP}\n"
			       "    - {endPort: 90}\n"),
		  "t.yaml:9: NetworkPolicy x/bad: spec.ingress[0].ports[1].endPort: endPort requires "
		  "a numeric port");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports:\n    - port: http\n"
			       "      endPort: 90\n"),
		  "t.yaml:9: NetworkPolicy x/bad: spec.ingress[0].ports[0].endPort: endPort requires "
		  "a numeric port");
}

TEST(K8sBad, NetpolEndPortLessThanPort)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 80, endPort: 79}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].ports[0].endPort: endPort 79 is less "
		  "than port 80");
}

TEST(K8sBad, NetpolNamedPortAndProtocol)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports:\n    - {port: Http}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].ports[0].port: invalid port name "
		  "\"Http\" (allowed: 1-15 lowercase letters, digits and '-', at least one letter, no "
		  "leading, trailing or double '-')");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports:\n    - {protocol: ICMP, port: 1}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].ports[0].protocol: invalid protocol "
		  "\"ICMP\" (allowed: TCP, UDP, SCTP)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports:\n    - {port: [80]}\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.ingress[0].ports[0].port: expected a port "
		  "number or name, got a list");
}

TEST(K8sBad, NetpolPolicyTypes)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  policyTypes: [Ingress, ingress]\n"),
		  "t.yaml:6: NetworkPolicy x/bad: spec.policyTypes[1]: invalid policy type "
		  "\"ingress\" (allowed: Ingress, Egress)");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  policyTypes:\n  - Egress\n  - Egress\n"),
		  "t.yaml:8: NetworkPolicy x/bad: spec.policyTypes[1]: duplicate policy type "
		  "\"Egress\"");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  policyTypes: Ingress\n"),
		  "t.yaml:6: NetworkPolicy x/bad: spec.policyTypes: expected a list, got \"Ingress\"");
}

TEST(K8sBad, NetpolWrongTypes)
{
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n    from: []\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.ingress: expected a list, got a map");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - from: everyone\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.ingress[0].from: expected a list, got "
		  "\"everyone\"");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - ports: {port: 80}\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.ingress[0].ports: expected a list, got a map");
	EXPECT_EQ(reject(kNP + "  podSelector: {}\n  ingress:\n  - [from]\n"),
		  "t.yaml:7: NetworkPolicy x/bad: spec.ingress[0]: expected a map, got a list");
	EXPECT_EQ(reject(kNP + "  []\n"),
		  "t.yaml:5: NetworkPolicy x/bad: spec: expected a map, got a list");
}

TEST(K8sBad, AnpPriority)
{
	EXPECT_EQ(reject(kANP + "  priority: 1001\n  subject: {namespaces: {}}\n"),
		  "t.yaml:5: AdminNetworkPolicy bad: spec.priority: 1001 is out of range (allowed: "
		  "0-1000)");
	EXPECT_EQ(reject(kANP + "  priority: -1\n  subject: {namespaces: {}}\n"),
		  "t.yaml:5: AdminNetworkPolicy bad: spec.priority: -1 is out of range (allowed: "
		  "0-1000)");
	EXPECT_EQ(reject(kANP + "  subject: {namespaces: {}}\n"),
		  "t.yaml:5: AdminNetworkPolicy bad: spec.priority: required field missing");
	EXPECT_EQ(reject(kANP + "  priority: high\n  subject: {namespaces: {}}\n"),
		  "t.yaml:5: AdminNetworkPolicy bad: spec.priority: expected an integer, got \"high\"");
	EXPECT_EQ(reject(kANP + "  priority: 99999999999999999999999\n  subject: {namespaces: {}}\n"),
		  "t.yaml:5: AdminNetworkPolicy bad: spec.priority: 99999999999999999999999 is out of "
		  "range (allowed: 0-1000)");
}

TEST(K8sBad, AnpSubjectBothOrNeither)
{
	EXPECT_EQ(reject(kANP + "  priority: 1\n  subject:\n    namespaces: {}\n"
				"    pods: {namespaceSelector: {}, podSelector: {}}\n"),
		  "t.yaml:7: AdminNetworkPolicy bad: spec.subject: exactly one of namespaces, pods "
		  "must be set (got namespaces and pods)");
	EXPECT_EQ(reject(kANP + "  priority: 1\n  subject: {}\n"),
		  "t.yaml:6: AdminNetworkPolicy bad: spec.subject: exactly one of namespaces, pods "
		  "must be set (got none)");
	EXPECT_EQ(reject(kANP + "  priority: 1\n"),
		  "t.yaml:5: AdminNetworkPolicy bad: spec.subject: required field missing");
	EXPECT_EQ(reject(kANP + "  priority: 1\n  subject: {networks: [10.0.0.0/8]}\n"),
		  "t.yaml:6: AdminNetworkPolicy bad: spec.subject.networks: unknown field (allowed: "
		  "namespaces, pods)");
}

TEST(K8sBad, AnpPodsNeedBothSelectors)
{
	EXPECT_EQ(reject(kANP + "  priority: 1\n  subject:\n    pods:\n      namespaceSelector: {}\n"),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.subject.pods.podSelector: required field "
		  "missing");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from:\n"
				    "    - pods: {podSelector: {}}\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].from[0].pods.namespaceSelector: "
		  "required field missing");
}

TEST(K8sBad, AnpActions)
{
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Reject\n    from: [{namespaces: {}}]\n"),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.ingress[0].action: invalid action "
		  "\"Reject\" (allowed: Allow, Deny, Pass)");
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - to: [{namespaces: {}}]\n"),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.egress[0].action: required field missing");
	EXPECT_EQ(reject(kANPHead + "  egress:\n  -\n"),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.egress[0].action: required field missing");
}

TEST(K8sBad, AnpPeersCount)
{
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: []\n"),
		  "t.yaml:9: AdminNetworkPolicy bad: spec.ingress[0].from: has 0 peers (allowed: "
		  "1-100)");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n"),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.ingress[0].from: required field missing");
	std::string many = "  egress:\n  - action: Deny\n    to:\n";
	for (int i = 0; i < 101; i++)
		many += "    - namespaces: {}\n";
	EXPECT_EQ(reject(kANPHead + many),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.egress[0].to: has 101 peers (allowed: "
		  "1-100)");
}

TEST(K8sBad, AnpTooManyRules)
{
	std::string rules = "  ingress:\n";
	for (int i = 0; i < 101; i++)
		rules += "  - {action: Allow, from: [{namespaces: {}}]}\n";
	EXPECT_EQ(reject(kANPHead + rules),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.ingress: has 101 rules (allowed: at most "
		  "100)");
}

TEST(K8sBad, AnpRuleNameTooLong)
{
	std::string name(101, 'n');
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - name: " + name +
			 "\n    action: Allow\n    from: [{namespaces: {}}]\n"),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.ingress[0].name: is 101 characters long "
		  "(allowed: at most 100)");
}

TEST(K8sBad, AnpPeerBothOrUnknown)
{
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from:\n"
				    "    - namespaces: {}\n      pods: {namespaceSelector: {}, podSelector: {}}\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].from[0]: exactly one of "
		  "namespaces, pods must be set (got namespaces and pods)");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{}]\n"),
		  "t.yaml:9: AdminNetworkPolicy bad: spec.ingress[0].from[0]: exactly one of "
		  "namespaces, pods must be set (got none)");
	// networks are egress-only
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{networks: [10.0.0.0/8]}]\n"),
		  "t.yaml:9: AdminNetworkPolicy bad: spec.ingress[0].from[0].networks: unknown field "
		  "(allowed: namespaces, pods)");
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Allow\n    to:\n"
				    "    - {networks: [10.0.0.0/8], namespaces: {}}\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.egress[0].to[0]: exactly one of "
		  "namespaces, pods, networks must be set (got namespaces and networks)");
}

TEST(K8sBad, AnpNodesPeerNotSupported)
{
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Allow\n    to:\n"
				    "    - nodes: {matchLabels: {role: control-plane}}\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.egress[0].to[0].nodes: nodes peers are not "
		  "supported (allowed: namespaces, pods, networks)");
}

TEST(K8sBad, AnpNetworks)
{
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Allow\n    to:\n    - networks: []\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.egress[0].to[0].networks: has 0 entries "
		  "(allowed: 1-25)");
	std::string n26 = "    - networks:\n";
	for (int i = 0; i < 26; i++)
		n26 += "      - 10.0." + std::to_string(i) + ".0/24\n";
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Allow\n    to:\n" + n26),
		  "t.yaml:11: AdminNetworkPolicy bad: spec.egress[0].to[0].networks: has 26 entries "
		  "(allowed: 1-25)");
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Allow\n    to:\n"
				    "    - networks: [10.0.0.0/8, 10.0.0.0/33]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.egress[0].to[0].networks[1]: invalid CIDR "
		  "\"10.0.0.0/33\" (allowed: IPv4 a.b.c.d/0-32)");
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Allow\n    to:\n"
				    "    - networks: [10.0.0.0/8, 10.0.0.0/8]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.egress[0].to[0].networks[1]: duplicate "
		  "entry \"10.0.0.0/8\"");
}

TEST(K8sBad, AnpPortsOneOf)
{
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports:\n    - {portNumber: {port: 80}, namedPort: http}\n"),
		  "t.yaml:11: AdminNetworkPolicy bad: spec.ingress[0].ports[0]: exactly one of "
		  "portNumber, namedPort, portRange must be set (got portNumber and namedPort)");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports: [{}]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].ports[0]: exactly one of "
		  "portNumber, namedPort, portRange must be set (got none)");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports: [{port: 80}]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].ports[0].port: unknown field "
		  "(allowed: portNumber, namedPort, portRange)");
}

TEST(K8sBad, AnpPortValues)
{
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports: [{portNumber: {protocol: TCP}}]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].ports[0].portNumber.port: "
		  "required field missing");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports: [{portNumber: {port: 0}}]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].ports[0].portNumber.port: 0 is "
		  "out of range (allowed: 1-65535)");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports: [{portNumber: {port: 80, protocol: ICMP}}]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].ports[0].portNumber.protocol: "
		  "invalid protocol \"ICMP\" (allowed: TCP, UDP, SCTP)");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports: [{namedPort: \"9090\"}]\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.ingress[0].ports[0].namedPort: invalid "
		  "port name \"9090\" (allowed: 1-15 lowercase letters, digits and '-', at least one "
		  "letter, no leading, trailing or double '-')");
}

TEST(K8sBad, AnpPortRange)
{
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports:\n    - portRange: {start: 2000, end: 1000}\n"),
		  "t.yaml:11: AdminNetworkPolicy bad: spec.ingress[0].ports[0].portRange.end: end "
		  "1000 must be greater than start 2000");
	// the API text: "the Start value must be less than End"
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports:\n    - portRange: {start: 80, end: 80}\n"),
		  "t.yaml:11: AdminNetworkPolicy bad: spec.ingress[0].ports[0].portRange.end: end 80 "
		  "must be greater than start 80");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports:\n    - portRange: {start: 80}\n"),
		  "t.yaml:11: AdminNetworkPolicy bad: spec.ingress[0].ports[0].portRange.end: "
		  "required field missing");
	EXPECT_EQ(reject(kANPHead + "  ingress:\n  - action: Allow\n    from: [{namespaces: {}}]\n"
				    "    ports:\n    - portRange: {start: 80, end: 65536}\n"),
		  "t.yaml:11: AdminNetworkPolicy bad: spec.ingress[0].ports[0].portRange.end: 65536 "
		  "is out of range (allowed: 1-65535)");
}

TEST(K8sBad, AnpNamedPortWithNetworksPeer)
{
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Allow\n    to:\n    - networks: [10.0.0.0/8]\n"
				    "    ports:\n    - portNumber: {port: 80}\n    - namedPort: http\n"),
		  "t.yaml:13: AdminNetworkPolicy bad: spec.egress[0].ports[1]: namedPort cannot be "
		  "used in a rule with a networks peer (networks have no named ports)");
}

TEST(K8sBad, AnpWrongTypes)
{
	EXPECT_EQ(reject(kANPHead + "  ingress: {action: Allow}\n"),
		  "t.yaml:7: AdminNetworkPolicy bad: spec.ingress: expected a list, got a map");
	EXPECT_EQ(reject(kANP + "  priority: 1\n  subject: {namespaces: all}\n"),
		  "t.yaml:6: AdminNetworkPolicy bad: spec.subject.namespaces: expected a map, got "
		  "\"all\"");
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: Deny\n    to: [{namespaces: {}}]\n"
				    "    ports: {portNumber: {port: 1}}\n"),
		  "t.yaml:10: AdminNetworkPolicy bad: spec.egress[0].ports: expected a list, got a "
		  "map");
	EXPECT_EQ(reject(kANPHead + "  egress:\n  - action: [Deny]\n    to: [{namespaces: {}}]\n"),
		  "t.yaml:8: AdminNetworkPolicy bad: spec.egress[0].action: expected a string, got a "
		  "list");
}

TEST(K8sBad, BanpPassIsNotAnAction)
{
	EXPECT_EQ(reject(kBANPHead + "  ingress:\n  - action: Pass\n    from: [{namespaces: {}}]\n"),
		  "t.yaml:7: BaselineAdminNetworkPolicy default: spec.ingress[0].action: invalid "
		  "action \"Pass\" (allowed: Allow, Deny)");
}

TEST(K8sBad, BanpMustBeNamedDefault)
{
	EXPECT_EQ(reject("apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n"
			 "metadata:\n  name: baseline\nspec: {subject: {namespaces: {}}}\n"),
		  "t.yaml:4: BaselineAdminNetworkPolicy baseline: metadata.name: \"baseline\" is not "
		  "allowed, there is one BaselineAdminNetworkPolicy per cluster (allowed: default)");
}

TEST(K8sBad, BanpHasNoPriority)
{
	EXPECT_EQ(reject(kBANP + "  priority: 5\n  subject: {namespaces: {}}\n"),
		  "t.yaml:5: BaselineAdminNetworkPolicy default: spec.priority: unknown field "
		  "(allowed: subject, ingress, egress)");
}

TEST(K8sBad, DuplicateObjectsInOneBuffer)
{
	// the first good-np wins; kGood's (line 15) is the later one, rejected
	EXPECT_EQ(reject("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			 "metadata: {name: good-np, namespace: good-ns}\nspec: {podSelector: {}}\n"),
		  "t.yaml:15: NetworkPolicy good-ns/good-np: duplicate object, already defined at "
		  "t.yaml:1");
	// the same name in another namespace is another object
	auto l = good(ns_doc("a") + "---\n" + kNP + "  podSelector: {}\n---\n" +
		      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		      "metadata: {name: bad, namespace: y}\nspec: {podSelector: {}}\n");
	EXPECT_EQ(l->cl.n_netpols, 2u);
}

TEST(K8sBad, OneMessagePerBadObject)
{
	// three bad objects, each with several problems: three messages
	auto l = load(kNP + "  podSelector: {matchLabels: {-a: b}}\n  ingress: [{from: [{}]}]\n---\n" +
		      "apiVersion: v1\nkind: Namespace\nmetadata: {name: N, labels: {-x: y}}\n---\n" +
		      kANP + "  priority: 5000\n  subject: {}\n---\n" + ns_doc("fine"));
	EXPECT_EQ(l->rc, -EINVAL);
	ASSERT_EQ(l->msgs.size(), 3u);
	EXPECT_EQ(l->msgs[0].rfind("t.yaml:5: NetworkPolicy x/bad: spec.podSelector.matchLabels:", 0), 0u)
		<< l->msgs[0];
	EXPECT_EQ(l->msgs[1].rfind("t.yaml:10: Namespace N: metadata.name:", 0), 0u) << l->msgs[1];
	EXPECT_EQ(l->msgs[2], "t.yaml:16: AdminNetworkPolicy bad: spec.priority: 5000 is out of range "
			      "(allowed: 0-1000)");
	EXPECT_EQ(l->cl.n_namespaces, 1u);
	EXPECT_EQ(l->cl.n_netpols + l->cl.n_anps, 0u);
}

TEST(K8sBad, ControlCharactersAreEscapedInMessages)
{
	EXPECT_EQ(reject("apiVersion: v1\nkind: Namespace\nmetadata: {name: \"a\\tb\"}\n"),
		  "t.yaml:3: Namespace a\\x09b: metadata.name: \"a\\x09b\" is not a valid DNS label "
		  "(allowed: at most 63 lowercase letters, digits and '-', starting and ending with a "
		  "letter or digit)");
}

} // namespace

// The API path decodes JSON with jansson (k8s_load_json); manifests go
// through libyaml. Both must give the same objects: the same compiled
// policy, byte for byte, and the same verdict on bad objects.
// Two clusters compile to the same policy (byte for byte), of more than
// min_rules rules.
static void expect_same_policy(const k8s_cluster *a, const k8s_cluster *b, unsigned min_rules)
{
	pol_tables *ta = pol_compile(a, 7), *tb = pol_compile(b, 7);
	ASSERT_NE(ta, nullptr);
	ASSERT_NE(tb, nullptr);
	void *ba = nullptr, *bb = nullptr;
	size_t la = 0, lb = 0;
	ASSERT_EQ(pol_serialize(ta, &ba, &la), 0);
	ASSERT_EQ(pol_serialize(tb, &bb, &lb), 0);
	EXPECT_GT(ta->n_rules, min_rules);
	ASSERT_EQ(la, lb);
	EXPECT_EQ(memcmp(ba, bb, la), 0);
	free(ba);
	free(bb);
	pol_tables_free(ta);
	pol_tables_free(tb);
}

TEST(K8sJson, SameObjectsAsTheYamlLoader)
{
	const std::string text = R"({"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"ns": "x", "team": "a"}}},
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "y", "labels": {"ns": "y"}}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x", "labels": {"pod": "a", "n": "1"}},
  "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": [
    {"name": "serve-80-tcp", "containerPort": 80}, {"name": "serve-81-udp", "containerPort": 81, "protocol": "UDP"}]}]},
  "status": {"podIP": "10.244.1.2", "podIPs": [{"ip": "10.244.1.2"}, {"ip": "fd00::2"}]}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "y", "labels": {"pod": "b"}},
  "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "10.244.2.2"}},
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np", "namespace": "x"},
  "spec": {"podSelector": {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["a", "c"]}]},
   "policyTypes": ["Ingress", "Egress"],
   "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}, "podSelector": {}},
                         {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.244.2.0/24"]}}],
                "ports": [{"port": "serve-80-tcp"}, {"port": 8000, "endPort": 8080, "protocol": "TCP"}]}],
   "egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}, {"ports": [{"port": 53, "protocol": "UDP"}]}]}},
 {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy", "metadata": {"name": "anp"},
  "spec": {"priority": 10, "subject": {"namespaces": {"matchLabels": {"team": "a"}}},
   "ingress": [{"name": "r0", "action": "Pass", "from": [{"namespaces": {}}], "ports": [{"portNumber": {"port": 81, "protocol": "UDP"}}]},
               {"name": "r1", "action": "Deny", "from": [{"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"pod": "b"}}}}],
                "ports": [{"portRange": {"start": 90, "end": 99}}, {"namedPort": "serve-80-tcp"}]}],
   "egress": [{"name": "e0", "action": "Allow", "to": [{"networks": ["192.168.0.0/16"]}]}]}},
 {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"},
  "spec": {"subject": {"namespaces": {}}, "ingress": [{"name": "b0", "action": "Deny", "from": [{"namespaces": {}}]}]}},
 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "annotations": {"nsdp.io/vtep-mac": "02:00:00:00:00:01"}},
  "spec": {"podCIDR": "10.244.1.0/24"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.100.1"}]}},
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "bad", "namespace": "y"},
  "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endPort": 70}]}]}}
]})";
	auto y = load(text, "api");
	json_error_t err;
	json_t *j = json_loads(text.c_str(), 0, &err);
	ASSERT_NE(j, nullptr) << err.text;
	Load js;
	js.rc = k8s_load_json("api", j, &js.cl, collect, &js.msgs);
	json_decref(j);

	EXPECT_EQ(y->rc, -EINVAL);
	EXPECT_EQ(js.rc, -EINVAL);
	ASSERT_EQ(y->msgs.size(), 1u);
	ASSERT_EQ(js.msgs.size(), 1u);
	// the same object, field and reason (lines: the YAML loader counts them)
	EXPECT_EQ(y->msgs[0].substr(y->msgs[0].find(": ")), js.msgs[0].substr(js.msgs[0].find(": ")));
	EXPECT_EQ(js.msgs[0].rfind("api:1: ", 0), 0u) << js.msgs[0];
	EXPECT_NE(js.msgs[0].find("NetworkPolicy y/bad: spec.ingress[0].ports[0].endPort"), std::string::npos)
		<< js.msgs[0];
	EXPECT_EQ(js.cl.n_namespaces, 2u);
	EXPECT_EQ(js.cl.n_pods, 2u);
	EXPECT_EQ(js.cl.n_netpols, 1u);
	EXPECT_EQ(js.cl.n_anps, 2u);
	ASSERT_EQ(js.cl.n_nodes, 1u);
	EXPECT_TRUE(js.cl.nodes[0].has_vtep_mac);
	EXPECT_EQ(ip4(js.cl.nodes[0].internal_ip), "192.168.100.1");

	expect_same_policy(&y->cl, &js.cl, 5);
}

TEST(K8sJson, ScalarsKeepTheirJsonTypes)
{
	// "80" (a JSON string) is a port name, 80 a number; true/null plain.
	json_t *j = json_loads(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"name": "p", "namespace": "x", "labels": null},
  "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}, {"port": 80}]}]}})", 0, nullptr);
	ASSERT_NE(j, nullptr);
	Load l;
	l.rc = k8s_load_json("w", j, &l.cl, collect, &l.msgs);
	json_decref(j);
	ASSERT_EQ(l.rc, 0) << (l.msgs.empty() ? "" : l.msgs[0]);
	ASSERT_EQ(l.cl.n_netpols, 1u);
	const k8s_np_rule &r = l.cl.netpols[0].ingress_rules[0];
	ASSERT_EQ(r.n_ports, 2u);
	EXPECT_TRUE(r.ports[0].named);
	EXPECT_STREQ(r.ports[0].name, "http");
	EXPECT_FALSE(r.ports[1].named);
	EXPECT_EQ(r.ports[1].port, 80);
}


namespace {

template <class T> void move_into(T *&dst, unsigned &nd, T *&src, unsigned &ns)
{
	dst = static_cast<T *>(realloc(dst, (nd + ns + 1) * sizeof(T)));
	memcpy(dst + nd, src, ns * sizeof(T));
	nd += ns;
	ns = 0;
}

struct ApiItems {
	k8s_cluster all{};
	std::vector<std::string> names; // "ns/name" of each item, "-" when absent; "!" when it loaded nothing
	~ApiItems() { k8s_cluster_free(&all); }
};

int api_item(void *arg, k8s_cluster *cl, const char *ns, const char *name)
{
	ApiItems *a = static_cast<ApiItems *>(arg);
	unsigned n = cl->n_namespaces + cl->n_pods + cl->n_netpols + cl->n_anps + cl->n_nodes;
	a->names.push_back(std::string(n ? "" : "!") + (ns ? ns : "-") + "/" + (name ? name : "-"));
	move_into(a->all.namespaces, a->all.n_namespaces, cl->namespaces, cl->n_namespaces);
	move_into(a->all.pods, a->all.n_pods, cl->pods, cl->n_pods);
	move_into(a->all.netpols, a->all.n_netpols, cl->netpols, cl->n_netpols);
	move_into(a->all.anps, a->all.n_anps, cl->anps, cl->n_anps);
	move_into(a->all.nodes, a->all.n_nodes, cl->nodes, cl->n_nodes);
	return 0;
}

} // namespace

// The API list decoder (JSON text, no jansson tree) loads what k8s_load_json
// loads, with the same messages, item by item.
TEST(K8sJson, ApiListTextSameAsJansson)
{
	const std::string text = R"({"kind": "PodList", "apiVersion": "v1",
 "metadata": {"resourceVersion": "42", "continue": "tok\u0065n"}, "items": [
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"ns": "x", "example.com\/te\u0061m": "a\u0062"}}},
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "y", "labels": {"ns": "y"}}},
 {"metadata": {"name": "a", "namespace": "x", "labels": {"pod": "a", "n": "1"}},
  "spec": {"nodeName": "node-1", "containers": [{"name": "c", "ports": [
    {"name": "serve-80-tcp", "containerPort": 8.0e1}, {"name": "serve-81-udp", "containerPort": 81, "protocol": "UDP"}]}]},
  "status": {"podIP": "10.244.1.2", "podIPs": [{"ip": "10.244.1.2"}, {"ip": "fd00::2"}], "ok": true, "x": null, "f": -0.5}},
 {"metadata": {"name": "b", "namespace": "y", "labels": {"pod": "b"}, "annotations": {"s": "\ud83d\ude00 \" \\ \n"}},
  "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "10.244.2.2"}},
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np", "namespace": "x"},
  "spec": {"podSelector": {"matchLabels": {"pod": "a"}}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}],
   "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}, {"ipBlock": {"cidr": "10.0.0.0/8"}}],
                "ports": [{"port": "serve-80-tcp"}, {"port": 8000, "endPort": 8080}]}]}},
 {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "bad", "namespace": "y"},
  "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80, "endPort": 70}]}]}},
 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}
]})";
	ApiItems a;
	std::vector<std::string> msgs;
	k8s_api_list out;
	ASSERT_EQ(k8s_load_api_list("list /api/v1/pods", text.data(), text.size(), "Pod", "v1", api_item,
				    &a, collect, &msgs, &out), 0) << out.err;
	EXPECT_STREQ(out.rv, "42");
	EXPECT_STREQ(out.cont, "token");
	EXPECT_EQ(a.names, (std::vector<std::string>{"-/x", "-/y", "x/a", "y/b", "x/np", "!y/bad", "!-/other"}));
	ASSERT_EQ(msgs.size(), 1u);
	EXPECT_EQ(msgs[0].rfind("list /api/v1/pods:1: NetworkPolicy y/bad: spec.ingress[0].ports[0].endPort", 0), 0u)
		<< msgs[0];
	ASSERT_EQ(a.all.n_namespaces, 2u);
	EXPECT_STREQ(k8s_label_get(&a.all.namespaces[0].labels, "example.com/team"), "ab");
	ASSERT_EQ(a.all.n_pods, 2u);
	ASSERT_EQ(a.all.pods[0].n_ports, 2u);
	EXPECT_EQ(a.all.pods[0].ports[0].port, 80);

	// the same items through jansson and k8s_load_json
	json_error_t err;
	json_t *j = json_loads(text.c_str(), 0, &err);
	ASSERT_NE(j, nullptr) << err.text;
	Load js;
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(j, "items"), i, it)
	{
		if (!json_object_get(it, "kind")) {
			json_object_set_new(it, "kind", json_string("Pod"));
			json_object_set_new(it, "apiVersion", json_string("v1"));
		}
		k8s_load_json("list /api/v1/pods", it, &js.cl, collect, &js.msgs);
	}
	json_decref(j);
	EXPECT_EQ(js.msgs, msgs);
	expect_same_policy(&a.all, &js.cl, 2);
}

TEST(K8sJson, ApiListTextErrors)
{
	const char *bad[] = {
		"",
		"{\"items\": [",
		"{\"items\": [{\"metadata\": {\"name\": \"a\"}}]} x",
		"{\"items\": [\"unterminated]}",
		"{\"items\": [\"bad \\q escape\"]}",
		"{\"items\": [\"\\ud800\"]}",
		"{\"items\": [01]}",
		"{\"items\": [tru]}",
		"{\"items\": {}}",
		"{\"kind\": \"PodList\"}",
		"[1, 2]",
		"{\"items\": [\"control \x01 char\"]}",
		"{\"items\": [{\"a\" 1}]}",
	};
	for (const char *t : bad) {
		ApiItems a;
		std::vector<std::string> msgs;
		k8s_api_list out;
		EXPECT_EQ(k8s_load_api_list("l", t, strlen(t), "Pod", "v1", api_item, &a, collect, &msgs, &out),
			  -EINVAL)
			<< t;
		EXPECT_NE(out.err[0], '\0') << t;
		EXPECT_TRUE(a.names.empty()) << t;
	}
	// deeply nested: refused, not a stack overflow
	std::string deep = "{\"items\": [" + std::string(100000, '[') + std::string(100000, ']') + "]}";
	ApiItems a;
	k8s_api_list out;
	EXPECT_EQ(k8s_load_api_list("l", deep.data(), deep.size(), "Pod", "v1", api_item, &a, nullptr, nullptr,
				    &out),
		  -EINVAL);
	EXPECT_NE(std::string(out.err).find("nested too deeply"), std::string::npos) << out.err;
}
