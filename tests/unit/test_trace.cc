// SPDX-License-Identifier: Apache-2.0
//
// Packet trace (NSDP_MSG_TRACE, dataplane/worker.c dp_trace_packet): a
// synthetic packet runs through the workers' own classify/forward/
// conntrack/policy code on the calling thread and every step is recorded.
// The node and its policies are those of test_policy_worker.cc (compiled
// from manifests by agent/polcomp.c); each case checks the step list and
// the final verdict, rule and output port field by field, and that a trace
// moves no counter and writes no conntrack entry. The last tests drive the
// real control server (dataplane/ctl.c) with the real nsdpctl binary.
//
// The node: pod0 carries client/web (10.244.1.2) and client/web2
// (10.244.1.4), pod1 carries server/api (10.244.1.3); remote/db
// (10.244.2.5) lives behind node-b (VTEP 192.168.100.2, VXLAN VNI 7).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ctl_tools.h"
#include "dp_fixture.h"

#include "k8s.h"
#include "polcomp.h"

namespace {

const Mac kWebMac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x02}};
const Mac kApiMac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x03}};
const Mac kWeb2Mac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x04}};

const char kCluster[] = R"(
apiVersion: v1
kind: Namespace
metadata: {name: client, labels: {team: client}}
---
apiVersion: v1
kind: Namespace
metadata: {name: server, labels: {team: server}}
---
apiVersion: v1
kind: Namespace
metadata: {name: remote, labels: {team: remote}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: client, labels: {app: web}}
spec: {nodeName: node-a, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.244.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: web2, namespace: client, labels: {app: web2}}
spec: {nodeName: node-a, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.244.1.4}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: server, labels: {app: api}}
spec: {nodeName: node-a, containers: [{name: api, ports: [{name: http, containerPort: 80}, {name: admin, containerPort: 9090}]}]}
status: {podIP: 10.244.1.3}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: remote, labels: {app: db}}
spec: {nodeName: node-b, containers: [{name: db, ports: [{name: pg, containerPort: 5432}]}]}
status: {podIP: 10.244.2.5}
)";

// client pods isolated for ingress; web2 may only send to namespace server;
// api admits client/web on http (80/TCP); ANP guard-server (priority 10)
// allows remote -> server on 9090/TCP and denies the rest from remote.
const char kPolicies[] = R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: isolate, namespace: client}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web2-egress, namespace: client}
spec:
  podSelector: {matchLabels: {app: web2}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: server}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: server}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: client}}, podSelector: {matchLabels: {app: web}}}]
    ports: [{port: http}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guard-server}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {team: server}}}
  ingress:
  - name: admin-from-remote
    action: Allow
    from: [{namespaces: {matchLabels: {team: remote}}}]
    ports: [{portNumber: {protocol: TCP, port: 9090}}]
  - name: nothing-else-from-remote
    action: Deny
    from: [{namespaces: {matchLabels: {team: remote}}}]
)";

// An ANP that passes everything from namespace client to server, ahead of
// an ANP (lower precedence) that would deny it: Pass hands the decision to
// the NetworkPolicy tier.
const char kPass[] = R"(
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: pass-client}
spec:
  priority: 5
  subject: {namespaces: {matchLabels: {team: server}}}
  ingress:
  - name: to-networkpolicy
    action: Pass
    from: [{namespaces: {matchLabels: {team: client}}}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: deny-client}
spec:
  priority: 50
  subject: {namespaces: {matchLabels: {team: server}}}
  ingress:
  - name: all
    action: Deny
    from: [{namespaces: {matchLabels: {team: client}}}]
)";

const char kAllowWeb[] = "networkpolicy server/allow-web ingress[0]";
const char kAnpAllow[] = "adminnetworkpolicy guard-server ingress[0]";
const char kAnpDeny[] = "adminnetworkpolicy guard-server ingress[1]";

struct pol_tables *Compile(const std::string &policies, uint64_t gen)
{
	struct k8s_cluster cl;
	memset(&cl, 0, sizeof(cl));
	std::string text = std::string(kCluster) + policies;
	std::vector<std::string> msgs;
	int rc = k8s_load_buffer(
		"cluster.yaml", text.data(), text.size(), &cl,
		[](void *arg, const char *m) {
			static_cast<std::vector<std::string> *>(arg)->push_back(m);
		},
		&msgs);
	EXPECT_EQ(rc, 0);
	for (const std::string &m : msgs)
		ADD_FAILURE() << "manifest: " << m;
	struct pol_tables *t = pol_compile(&cl, gen);
	k8s_cluster_free(&cl);
	EXPECT_NE(t, nullptr);
	if (t) { // as pol_deserialize leaves it
		EXPECT_EQ(pol_index(t), 0);
	}
	return t;
}

// One trace step, decoded for comparisons.
struct Step {
	std::string kind, text;
	unsigned verdict, drop;
	uint32_t subject, rule, port, value, value2;
};

class Trace : public DpFixture {
protected:
	void SetUp() override
	{
		baseline_ = shim_pool_in_use();
		BuildDp(dp_config_text(), 2);
		if (HasFatalFailure())
			return;
		Vtep("192.168.100.2", kPeerMac);
		Route("10.244.1.0", 24, nullptr);
		Route("10.244.2.0", 24, "192.168.100.2");
		Endpoint(ip4("10.244.1.2"), "pod0", kWebMac, 11);
		Endpoint(ip4("10.244.1.3"), "pod1", kApiMac, 12);
		Endpoint(ip4("10.244.1.4"), "pod0", kWeb2Mac, 13);
		// Display names, as the agent sends them.
		const char *names[] = {"client/web", "server/api", "client/web2"};
		for (unsigned i = 0; i < 3; i++)
			snprintf(dp_->state.eps[i].name, sizeof(dp_->state.eps[i].name), "%s", names[i]);
		snprintf(dp_->state.vteps[0].name, sizeof(dp_->state.vteps[0].name), "node-b");
		Publish();
		Enforce(kPolicies);
	}

	void Enforce(const std::string &policies)
	{
		++gen_;
		struct pol_tables *t = Compile(policies, gen_);
		ASSERT_NE(t, nullptr);
		ASSERT_EQ(dp_publish_policy(dp_, t, gen_), 0);
	}

	uint32_t Rule(const char *name) const
	{
		const struct dp_policy *p = dp_->policy;
		for (uint32_t i = 0; p && i < p->t->n_rules; i++)
			if (!strcmp(p->t->rules[i], name))
				return i;
		ADD_FAILURE() << "no rule named '" << name << "'";
		return UINT32_MAX;
	}

	std::string RuleName(uint32_t r) const
	{
		const struct dp_policy *p = dp_->policy;
		return p && r < p->t->n_rules ? p->t->rules[r] : "<none>";
	}

	// Every counter a worker or the policy keeps, as bytes.
	std::string CounterBytes() const
	{
		std::string s((const char *)st_, sizeof(*st_) * n_workers_);
		const struct dp_policy *p = dp_->policy;
		if (p)
			s.append((const char *)p->counters,
				 sizeof(uint64_t) * p->stride * n_workers_);
		return s;
	}

	// Every conntrack slot, as bytes.
	std::string CtBytes() const
	{
		std::string s;
		for (uint32_t i = 0; i < ct_capacity(dp_->ct); i++) {
			const struct ct_entry *e = ct_slot(dp_->ct, i);
			s += e ? std::string((const char *)e, sizeof(*e)) : std::string("-");
		}
		return s;
	}

	// Trace; checks that no counter, conntrack entry or mbuf changed.
	void Run(const char *src, const char *dst, uint8_t proto, uint16_t dport,
		 bool from_uplink = false, uint8_t flags = 0, uint16_t sport = 40000)
	{
		struct nsdp_trace_req q;
		memset(&q, 0, sizeof(q));
		q.src.family = q.dst.family = AF_INET;
		uint32_t s = ip4(src), d = ip4(dst);
		memcpy(q.src.addr, &s, 4);
		memcpy(q.dst.addr, &d, 4);
		q.proto = proto;
		q.sport = sport;
		q.dport = dport;
		q.tcp_flags = flags;
		q.flags = from_uplink ? NSDP_TRACE_F_FROM_UPLINK : 0;
		unsigned in = UPLINK;
		if (!from_uplink) {
			const struct dp_endpoint *ep = dp_ep_lookup(t_, s);
			ASSERT_NE(ep, nullptr) << src;
			in = ep->port;
		}
		std::string c0 = CounterBytes(), ct0 = CtBytes();
		unsigned q0 = Queued(), pool0 = shim_pool_in_use();
		tr_ = (struct dp_trace *)rte_zmalloc("tr", sizeof(*tr_), RTE_CACHE_LINE_SIZE);
		ASSERT_NE(tr_, nullptr);
		char err[192] = "";
		ASSERT_EQ(dp_trace_packet(dp_, &q, in, tr_, err, sizeof(err)), 0) << err;
		EXPECT_EQ(CounterBytes(), c0) << "a trace moved a counter";
		EXPECT_EQ(CtBytes(), ct0) << "a trace wrote conntrack";
		EXPECT_EQ(Queued(), q0) << "a trace queued a packet";
		EXPECT_EQ(shim_pool_in_use(), pool0) << "a trace leaked its mbuf";
		steps_.clear();
		for (unsigned i = 0; i < tr_->n; i++) {
			const struct nsdp_trace_step *x = &tr_->step[i];
			steps_.push_back({nsdp_trace_step_name(x->kind), x->text, x->verdict, x->drop,
					  x->subject, x->rule, x->port, x->value, x->value2});
		}
		rte_free(tr_);
		tr_ = nullptr;
	}

	std::string Kinds() const
	{
		std::string s;
		for (const Step &x : steps_)
			s += (s.empty() ? "" : ",") + x.kind;
		return s;
	}

	const Step &Get(const char *kind, unsigned nth = 0)
	{
		for (const Step &x : steps_)
			if (x.kind == kind && nth-- == 0)
				return x;
		static Step none{"<missing>", "", 0, 0, 0, 0, 0, 0, 0};
		ADD_FAILURE() << "no step " << kind << " in " << Dump();
		return none;
	}

	std::string Dump() const
	{
		std::string s;
		for (size_t i = 0; i < steps_.size(); i++)
			s += "\n  " + std::to_string(i + 1) + " " + steps_[i].kind + " " + steps_[i].text +
			     (steps_[i].drop ? std::string(" [") + nsdp_drop_name(steps_[i].drop) + "]"
					     : "");
		return s;
	}

	const Step &Last() const { return steps_.back(); }

	struct dp_trace *tr_ = nullptr;
	std::vector<Step> steps_;
};

TEST_F(Trace, AllowedLocalDelivery)
{
	Run("10.244.1.2", "10.244.1.3", IPPROTO_TCP, 80);
	EXPECT_EQ(Kinds(), "parse,source,dest,conntrack,policy egress,policy ingress,policy,"
			   "rewrite,output,verdict")
		<< Dump();
	EXPECT_EQ(Get("parse").text,
		  "ingress port pod0, IPv4 10.244.1.2:40000 -> 10.244.1.3:80 TCP SYN, 54 bytes");
	EXPECT_EQ(Get("parse").port, (uint32_t)POD0);
	EXPECT_EQ(Get("source").text, "10.244.1.2: endpoint client/web on port pod0, identity 11");
	EXPECT_EQ(Get("dest").port, (uint32_t)POD1);
	EXPECT_NE(Get("dest").text.find("local endpoint server/api on port pod1"), std::string::npos);
	EXPECT_EQ(Get("conntrack").value2, 0u); // a miss
	EXPECT_EQ(Get("conntrack").value, (uint32_t)CT_TCP_SYN_SENT);
	// web's egress is unrestricted; api's ingress admits web on http.
	EXPECT_EQ(Get("policy egress").verdict, (unsigned)POL_ALLOW);
	EXPECT_EQ(Get("policy egress").rule, (uint32_t)POL_RULE_DEFAULT_ALLOW);
	EXPECT_EQ(Get("policy ingress").verdict, (unsigned)POL_ALLOW);
	EXPECT_EQ(Get("policy ingress").rule, Rule(kAllowWeb));
	EXPECT_EQ(Get("policy").verdict, (unsigned)POL_ALLOW);
	EXPECT_EQ(Get("policy").rule, Rule(kAllowWeb));
	EXPECT_EQ(Get("output").port, (uint32_t)POD1);
	EXPECT_EQ(Last().drop, 0u);
	EXPECT_EQ(Last().port, (uint32_t)POD1);
	EXPECT_EQ(Last().rule, Rule(kAllowWeb));
	EXPECT_EQ(Last().text, std::string("FORWARD to port pod1, allowed by ") + kAllowWeb);
}

TEST_F(Trace, DeniedByIngress)
{
	// web2 -> api:80: allow-web admits web only; api is isolated.
	Run("10.244.1.4", "10.244.1.3", IPPROTO_TCP, 80);
	EXPECT_EQ(Get("policy egress").verdict, (unsigned)POL_ALLOW) << Dump();
	EXPECT_EQ(Get("policy ingress").verdict, (unsigned)POL_DENY);
	EXPECT_EQ(Get("policy ingress").rule, (uint32_t)POL_RULE_ISOLATED);
	EXPECT_NE(Get("policy ingress").subject, NSDP_TRACE_NONE32);
	EXPECT_EQ(Get("policy").verdict, (unsigned)POL_DENY);
	EXPECT_EQ(Get("policy").drop, (unsigned)NSDP_DROP_POLICY_DENY);
	EXPECT_NE(Get("policy").text.find("ingress side"), std::string::npos);
	EXPECT_EQ(Last().kind, "verdict");
	EXPECT_EQ(Last().drop, (unsigned)NSDP_DROP_POLICY_DENY);
	EXPECT_EQ(Last().text, "DROP policy-deny by isolated");
	EXPECT_EQ(Last().port, NSDP_TRACE_NONE32);
	EXPECT_EQ(tr_, nullptr);
}

TEST_F(Trace, DeniedByEgress)
{
	// web2 may only send to namespace server: db is refused on egress,
	// before any route or encapsulation happens.
	Run("10.244.1.4", "10.244.2.5", IPPROTO_TCP, 5432);
	EXPECT_EQ(Kinds(), "parse,source,route,conntrack,policy egress,policy ingress,policy,"
			   "verdict")
		<< Dump();
	EXPECT_EQ(Get("policy egress").verdict, (unsigned)POL_DENY);
	EXPECT_EQ(Get("policy egress").rule, (uint32_t)POL_RULE_ISOLATED);
	EXPECT_EQ(Get("policy ingress").verdict, (unsigned)POL_ALLOW); // db: no policy
	EXPECT_NE(Get("policy").text.find("egress side"), std::string::npos) << Dump();
	EXPECT_EQ(Last().drop, (unsigned)NSDP_DROP_POLICY_DENY);
	EXPECT_EQ(Last().rule, (uint32_t)POL_RULE_ISOLATED);
}

TEST_F(Trace, AnpDenyOnUplink)
{
	// db (remote node) -> api:80 arrives encapsulated: decap, then the
	// ANP's Deny wins over everything below it.
	Run("10.244.2.5", "10.244.1.3", IPPROTO_TCP, 80, true);
	EXPECT_EQ(Kinds(), "parse,decap,source,dest,conntrack,policy egress,policy ingress,"
			   "policy,verdict")
		<< Dump();
	EXPECT_EQ(Get("parse").port, (uint32_t)UPLINK);
	EXPECT_NE(Get("parse").text.find("192.168.100.2:"), std::string::npos) << Dump();
	EXPECT_NE(Get("parse").text.find("-> 192.168.100.1:4789 UDP"), std::string::npos);
	EXPECT_EQ(Get("decap").value, 7u);
	EXPECT_EQ(Get("decap").text, "vxlan vni 7 from VTEP 192.168.100.2 (node-b): inner IPv4 "
				     "10.244.2.5:40000 -> 10.244.1.3:80 TCP SYN");
	EXPECT_EQ(Get("source").text, "10.244.2.5: a pod of the sending node");
	EXPECT_EQ(Get("policy ingress").verdict, (unsigned)POL_DENY);
	EXPECT_EQ(Get("policy ingress").rule, Rule(kAnpDeny));
	EXPECT_EQ(Last().drop, (unsigned)NSDP_DROP_POLICY_DENY);
	EXPECT_EQ(Last().rule, Rule(kAnpDeny));
	EXPECT_EQ(Last().text, std::string("DROP policy-deny by ") + kAnpDeny);
}

TEST_F(Trace, FromUplinkDecapAndAllow)
{
	Run("10.244.2.5", "10.244.1.3", IPPROTO_TCP, 9090, true);
	EXPECT_EQ(Kinds(), "parse,decap,source,dest,conntrack,policy egress,policy ingress,"
			   "policy,rewrite,output,verdict")
		<< Dump();
	EXPECT_EQ(Get("decap").drop, 0u);
	EXPECT_EQ(Get("policy").rule, Rule(kAnpAllow));
	EXPECT_EQ(Last().port, (uint32_t)POD1);
	EXPECT_EQ(Last().rule, Rule(kAnpAllow));
	EXPECT_EQ(Last().drop, 0u);
}

TEST_F(Trace, AnpPassThenNetworkPolicy)
{
	Enforce(std::string(kPolicies) + kPass);
	// Pass skips deny-client: allow-web decides for web, isolation for web2.
	Run("10.244.1.2", "10.244.1.3", IPPROTO_TCP, 80);
	EXPECT_EQ(Get("policy ingress").rule, Rule(kAllowWeb)) << Dump();
	EXPECT_EQ(Last().rule, Rule(kAllowWeb));
	EXPECT_EQ(Last().drop, 0u);
	Run("10.244.1.4", "10.244.1.3", IPPROTO_TCP, 80);
	EXPECT_EQ(Get("policy ingress").rule, (uint32_t)POL_RULE_ISOLATED) << Dump();
	EXPECT_EQ(Last().drop, (unsigned)NSDP_DROP_POLICY_DENY);
	// Without the Pass, deny-client would have decided.
	Enforce(std::string(kPolicies) + (strstr(kPass, "---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {name: deny-client}") ));
	Run("10.244.1.2", "10.244.1.3", IPPROTO_TCP, 80);
	EXPECT_EQ(RuleName(Last().rule), "adminnetworkpolicy deny-client ingress[0]") << Dump();
	EXPECT_EQ(Last().drop, (unsigned)NSDP_DROP_POLICY_DENY);
}

// An audited ANP Deny: the trace shows the packet forwarded, the audited
// rule that would deny it, and the enforced rule that allows it.
TEST_F(Trace, AuditedAnpDeny)
{
	std::string anp = strstr(kPass, "---\napiVersion: policy.networking.k8s.io/v1alpha1\n"
					"kind: AdminNetworkPolicy\nmetadata: {name: deny-client}");
	const std::string name = "{name: deny-client}";
	anp.replace(anp.find(name), name.size(),
		    "{name: deny-client, annotations: {nsdp.io/policy-mode: audit}}");
	Enforce(std::string(kPolicies) + anp);
	Run("10.244.1.2", "10.244.1.3", IPPROTO_TCP, 80);
	const char *deny = "adminnetworkpolicy deny-client ingress[0]";
	const Step &in = Get("policy ingress");
	EXPECT_EQ(in.verdict, POL_AUDIT) << Dump();
	EXPECT_EQ(in.rule, Rule(deny));
	EXPECT_NE(in.text.find(std::string("allow (audit: would deny) (") + deny + "), enforced: " +
			       kAllowWeb),
		  std::string::npos)
		<< Dump();
	EXPECT_EQ(Get("policy").verdict, POL_AUDIT);
	EXPECT_EQ(Last().drop, 0u) << "forwarded";
	EXPECT_EQ(Last().port, (uint32_t)POD1);
}

TEST_F(Trace, EncapToRemoteVtep)
{
	Run("10.244.1.2", "10.244.2.5", IPPROTO_UDP, 5432);
	EXPECT_EQ(Kinds(), "parse,source,route,conntrack,policy egress,policy ingress,policy,"
			   "rewrite,encap,output,verdict")
		<< Dump();
	EXPECT_EQ(Get("route").text, "10.244.2.0/24 via VTEP 192.168.100.2 (node-b)");
	EXPECT_EQ(Get("route").value, ip4("192.168.100.2"));
	EXPECT_EQ(Get("encap").value, 7u);
	EXPECT_GE(Get("encap").value2, 1u);
	EXPECT_NE(Get("encap").value2, NSDP_TRACE_NONE32);
	char want[160];
	snprintf(want, sizeof(want),
		 "vxlan vni 7 src-port %u, 192.168.100.1 -> 192.168.100.2 (node-b), 92 bytes",
		 Get("encap").value2);
	EXPECT_EQ(Get("encap").text, want);
	EXPECT_EQ(Get("output").port, (uint32_t)UPLINK);
	EXPECT_EQ(Last().port, (uint32_t)UPLINK);
	EXPECT_EQ(Last().text, "FORWARD encapsulated to port uplink, allowed by default-allow");
}

TEST_F(Trace, NoRouteAndNoEndpoint)
{
	Run("10.244.1.2", "10.99.0.1", IPPROTO_TCP, 80);
	EXPECT_EQ(Kinds(), "parse,source,route,verdict") << Dump();
	EXPECT_EQ(Get("route").drop, (unsigned)NSDP_DROP_NO_ROUTE);
	EXPECT_EQ(Last().text, "DROP no-route");
	EXPECT_EQ(Last().verdict, 0u);
	EXPECT_EQ(Last().rule, NSDP_TRACE_NONE32);

	Run("10.244.1.2", "10.244.1.77", IPPROTO_TCP, 80);
	EXPECT_EQ(Get("route").drop, (unsigned)NSDP_DROP_NO_ENDPOINT) << Dump();
	EXPECT_EQ(Get("route").text, "10.244.1.0/24 local: 10.244.1.77 is in this node's pod "
				     "CIDR, no endpoint");
	EXPECT_EQ(Last().drop, (unsigned)NSDP_DROP_NO_ENDPOINT);

	// From the uplink, to an address with no pod here.
	Run("10.244.2.5", "10.244.1.77", IPPROTO_UDP, 53, true);
	EXPECT_EQ(Get("dest").drop, (unsigned)NSDP_DROP_NO_ENDPOINT) << Dump();
}

TEST_F(Trace, ExistingConnectionUntouched)
{
	// A real connection web -> api:80 (SYN, SYN+ACK) through the workers.
	Feed(POD0, eth(kGwMac, kWebMac, 0x0800,
		       ipv4(ip4("10.244.1.2"), ip4("10.244.1.3"), IPPROTO_TCP, tcp(40000, 80, SYN))));
	Feed(POD1, eth(kGwMac, kApiMac, 0x0800,
		       ipv4(ip4("10.244.1.3"), ip4("10.244.1.2"), IPPROTO_TCP,
			    tcp(80, 40000, SYNACK))));
	ASSERT_EQ(Queued(), 2u);
	ASSERT_EQ(ct_count(dp_->ct), 1u);
	// Its ACK, traced: a hit, the cached verdict, and nothing written
	// (Run compares every counter and conntrack slot byte for byte).
	Run("10.244.1.2", "10.244.1.3", IPPROTO_TCP, 80, false, ACK);
	EXPECT_EQ(Get("conntrack").value2, 1u) << Dump();
	EXPECT_EQ(Get("conntrack").value, (uint32_t)CT_TCP_ESTABLISHED);
	EXPECT_NE(Get("conntrack").text.find("hit: syn-recv"), std::string::npos);
	EXPECT_NE(Get("policy").text.find("cached in conntrack"), std::string::npos);
	EXPECT_EQ(Last().rule, Rule(kAllowWeb));
	// The reply direction of the same connection: decided for its opener.
	Run("10.244.1.3", "10.244.1.2", IPPROTO_TCP, 40000, false, ACK, 80);
	EXPECT_EQ(Get("conntrack").value2, 1u) << Dump();
	EXPECT_EQ(Get("policy ingress").rule, Rule(kAllowWeb));
	EXPECT_EQ(Last().drop, 0u);
	EXPECT_EQ(ct_count(dp_->ct), 1u);
	// A trace of a new flow creates nothing either.
	Run("10.244.1.2", "10.244.1.3", IPPROTO_UDP, 53);
	EXPECT_EQ(ct_count(dp_->ct), 1u);
	// And the workers' path still counts as before.
	EXPECT_EQ(Dropped(), 0u);
}

TEST_F(Trace, IcmpAndSctp)
{
	Run("10.244.1.2", "10.244.2.5", IPPROTO_ICMP, 0, false, 0, 77);
	EXPECT_NE(Get("parse").text.find("ICMP type 8 (echo)"), std::string::npos) << Dump();
	EXPECT_EQ(Last().drop, 0u);
	Run("10.244.1.2", "10.244.1.3", IPPROTO_SCTP, 80);
	EXPECT_NE(Get("parse").text.find("SCTP"), std::string::npos) << Dump();
	EXPECT_EQ(Last().drop, (unsigned)NSDP_DROP_POLICY_DENY); // http is TCP only
}

// ---- through the control socket and nsdpctl ----------------------------------

typedef CtlRun Out;

class TraceCtl : public Trace {
protected:
	void SetUp() override
	{
		if (!getenv("NSDPCTL"))
			GTEST_SKIP() << "NSDPCTL not set";
		Trace::SetUp();
		if (HasFatalFailure())
			return;
		ASSERT_NE(mkdtemp(dir_), nullptr);
		sock_ = std::string(dir_) + "/ctl.sock";
		snprintf(dp_->cfg.ctl_socket, sizeof(dp_->cfg.ctl_socket), "%s", sock_.c_str());
		snprintf(dp_->cfg.node_name, sizeof(dp_->cfg.node_name), "node-a");
		cs_ = ctl_open(dp_);
		ASSERT_NE(cs_, nullptr);
		server_ = std::thread([this] {
			while (!stop_.load())
				ctl_poll(cs_, 5);
		});
	}

	void TearDown() override
	{
		stop_ = true;
		if (server_.joinable())
			server_.join();
		if (cs_)
			ctl_close(cs_);
		if (dir_[0] && strcmp(dir_, "/tmp/nsdp-trace-XXXXXX")) {
			std::string cmd = std::string("rm -rf ") + dir_;
			if (system(cmd.c_str()) != 0)
				ADD_FAILURE() << cmd;
		}
		Trace::TearDown();
	}

	Out Ctl(const std::string &args) { return run_nsdpctl(dir_, sock_, args); }

	// python3 evaluates `expr` over the JSON document(s) in `doc` (`d`: the
	// first, `ds`: all, one per line).
	std::string Py(const std::string &doc, const std::string &expr)
	{
		return json_eval(dir_, doc, expr);
	}

	char dir_[64] = "/tmp/nsdp-trace-XXXXXX";
	std::string sock_;
	struct ctl_server *cs_ = nullptr;
	std::thread server_;
	std::atomic<bool> stop_{false};
};

TEST_F(TraceCtl, NsdpctlTraceByName)
{
	std::string c0 = CounterBytes(), ct0 = CtBytes();
	Out r = Ctl("trace client/web2 server/api 80/TCP");
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("trace client/web2 (10.244.1.4) -> server/api (10.244.1.3) 80/tcp "
			     "on node-a"),
		  std::string::npos)
		<< r.out;
	EXPECT_NE(r.out.find(" 1 parse          ingress port pod0, IPv4 10.244.1.4:40000 -> "
			     "10.244.1.3:80 TCP SYN"),
		  std::string::npos)
		<< r.out;
	EXPECT_NE(r.out.find("policy ingress subject "), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("verdict        DROP policy-deny by isolated"), std::string::npos)
		<< r.out;

	r = Ctl("--json trace client/web 10.244.2.5 5432/udp --sport 1234");
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(Py(r.out, "' '.join(map(str, (d['result'], d['out_port'], d['encap'], "
			    "d['rule'], d['drop'], d['src'], d['sport'])))"),
		  "forward uplink True default-allow None 10.244.1.2 1234");
	EXPECT_EQ(Py(r.out, "','.join(s['step'] for s in d['steps'])"),
		  "parse,source,route,conntrack,policy egress,policy ingress,policy,rewrite,encap,"
		  "output,verdict");
	EXPECT_EQ(Py(r.out, "[s for s in d['steps'] if s['step'] == 'encap'][0]['value']"), "7");

	// Remote names resolve through Pod objects of --manifests.
	std::string mdir = std::string(dir_) + "/m";
	mkdir(mdir.c_str(), 0755);
	FILE *f = fopen((mdir + "/c.yaml").c_str(), "w");
	fputs(kCluster, f);
	fclose(f);
	r = Ctl("--json trace remote/db server/api 80/TCP --from-uplink --manifests " + mdir);
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(Py(r.out, "' '.join(map(str, (d['result'], d['drop'], d['rule'], d['verdict'], "
			    "d['decided_by'], d['steps'][1]['step'])))"),
		  std::string("drop policy-deny ") + kAnpDeny + " deny ingress decap");

	// Bad input: exit 2, a clear message.
	for (const char *bad : {"trace client/web", "trace client/web server/api 80",
				"trace client/web server/api 99999/tcp",
				"trace client/web server/api 80/gre", "trace nobody server/api 80/tcp",
				"trace client/web server/api 80/udp --flags SYN",
				"trace client/web server/api 80/tcp --flags BOGUS"}) {
		r = Ctl(bad);
		EXPECT_EQ(r.status, 2) << bad << ": " << r.out << r.err;
		EXPECT_NE(r.err.find("nsdpctl: "), std::string::npos) << bad;
	}
	r = Ctl("trace ghost/pod server/api 80/tcp");
	EXPECT_EQ(r.status, 2) << r.err;
	EXPECT_NE(r.err.find("\"ghost/pod\" is not an endpoint of node node-a"), std::string::npos)
		<< r.err;
	r = Ctl("trace remote/db server/api 80/tcp");
	EXPECT_EQ(r.status, 2);
	r = Ctl("trace 10.244.2.5 server/api 80/tcp");
	EXPECT_EQ(r.status, 2) << r.err;
	EXPECT_NE(r.err.find("--from-uplink"), std::string::npos) << r.err;

	EXPECT_EQ(CounterBytes(), c0);
	EXPECT_EQ(CtBytes(), ct0);
}

// nsdpctl flowlog: the records a dataplane without an agent queued, as the
// agent would write them (names of this node's endpoints), taken once.
TEST_F(TraceCtl, NsdpctlFlowlog)
{
	Feed(POD0, eth(kGwMac, kWeb2Mac, 0x0800,
		       ipv4(ip4("10.244.1.4"), ip4("10.244.1.3"), IPPROTO_TCP, tcp(40002, 80, SYN))));
	Feed(POD0, eth(kGwMac, kWeb2Mac, 0x0800,
		       ipv4(ip4("10.244.1.4"), ip4("10.244.1.3"), IPPROTO_TCP, tcp(40002, 80, SYN))));
	Out r = Ctl("flowlog");
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(Py(r.out, "len(ds)"), "1") << "one record per denied connection: " << r.out;
	EXPECT_EQ(Py(r.out, "' '.join(str(x) for x in (d['node'], d['verdict'], d['audit'], "
			    "d['direction'], d['reason'], d['protocol'], d['policy'], "
			    "d['src']['namespace'], d['src']['pod'], d['src']['ip'], d['src']['port'], "
			    "d['dst']['namespace'], d['dst']['pod'], d['dst']['port']))"),
		  "node-a deny False ingress new TCP isolated client web2 10.244.1.4 40002 server "
		  "api 80");
	r = Ctl("flowlog");
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(r.out, "") << "the records were taken";
	r = Ctl("flowlog --interval 0");
	EXPECT_EQ(r.status, 2);
	EXPECT_NE(r.err.find("--interval"), std::string::npos) << r.err;
	FreeTx();
}

TEST_F(TraceCtl, TopFrames)
{
	// Counters move between the two samples of each frame (the server
	// thread reads them; the values only grow, as a worker's would).
	std::atomic<bool> done{false};
	std::thread bump([&] {
		while (!done.load()) {
			__atomic_fetch_add(&st_[0].port[POD0].rx_pkts, 100, __ATOMIC_RELAXED);
			__atomic_fetch_add(&st_[0].lc.busy_packets, 100, __ATOMIC_RELAXED);
			__atomic_fetch_add(&st_[0].lc.busy_cycles, 100000, __ATOMIC_RELAXED);
			__atomic_fetch_add(&st_[1].drops[NSDP_DROP_POLICY_DENY], 1, __ATOMIC_RELAXED);
			usleep(10000);
		}
	});
	Feed(POD0, eth(kGwMac, kWebMac, 0x0800,
		       ipv4(ip4("10.244.1.2"), ip4("10.244.1.3"), IPPROTO_TCP, tcp(40001, 80, SYN))));
	Out r = Ctl("--json top --count 2 --interval 0.5");
	Out h = Ctl("top --once --interval 0.2");
	done = true;
	bump.join();
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_EQ(Py(r.out, "len(ds)"), "2") << r.out;
	EXPECT_EQ(Py(r.out, "[x['frame'] for x in ds]"), "[1, 2]");
	EXPECT_EQ(Py(r.out, "all(l[k] >= 0 for x in ds for l in x['lcores'] for k in "
			    "('rx_pps','tx_pps','busy_pps','cycles_per_packet','busy_pct'))"),
		  "True");
	EXPECT_EQ(Py(r.out, "all(x['lcores'][0]['rx_pps'] > 0 and x['interval_s'] > 0.4 for x in ds)"),
		  "True");
	EXPECT_EQ(Py(r.out, "str((ds[1]['drops'][0]['reason'], ds[1]['drops'][0]['per_s'] > 0))"),
		  "('policy-deny', True)");
	EXPECT_EQ(Py(r.out, "str((d['flows_total'], d['flows'][0]['dport'], d['flows_order']))"),
		  "(1, 80, 'recency')");
	ASSERT_EQ(h.status, 0) << h.err;
	EXPECT_EQ(h.out.find("\033["), std::string::npos) << "no ANSI codes when not a TTY";
	EXPECT_NE(h.out.find("LCORE"), std::string::npos) << h.out;
	EXPECT_NE(h.out.find("policy-deny"), std::string::npos) << h.out;
	EXPECT_NE(h.out.find("most recently active"), std::string::npos) << h.out;
	EXPECT_EQ(Ctl("top --interval 0").status, 2);
	EXPECT_EQ(Ctl("top --count x").status, 2);
}

} // namespace
