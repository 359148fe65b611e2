// SPDX-License-Identifier: Apache-2.0
//
// Policy enforcement in the packet path (dataplane/worker.c: policy() and
// forward()), end to end inside one process: a small cluster written as
// Kubernetes manifests is loaded (agent/k8s.c), compiled (agent/polcomp.c)
// and published with dp_publish_policy() into a `struct dp` built by hand
// by DpFixture (dp_fixture.h, shared with test_worker.cc: fake ports that
// never run, tables published with dp_publish()); frames are fed to dp_process_burst() and the
// test inspects what was queued on w->tx[], the drop counters and the
// per-rule counters (dp_policy_counters(dp->policy, worker, rule)[denied]).
//
// The node: pod0 carries client/web (10.244.1.2) and client/web2
// (10.244.1.4), pod1 carries server/api (10.244.1.3); remote/db
// (10.244.2.5) lives behind node-b (VTEP 192.168.100.2) and reaches this
// node through the VXLAN uplink.
//
// Policy v1 (kPolicyV1):
//  - NetworkPolicy client/isolate: every client pod isolated for ingress;
//  - NetworkPolicy client/web2-egress: web2 may only send to namespace server;
//  - NetworkPolicy server/allow-web: api accepts client/web (namespace AND
//    pod selector) on the named port http (80/TCP) and on 53/UDP;
//  - AdminNetworkPolicy guard-server (priority 10) on namespace server:
//    ingress[0] Allow remote on 9090/TCP, ingress[1] Deny remote.
//
// Every Feed() checks that each frame was queued or counted as a drop, and
// every test checks that no mbuf leaked.
#include <map>
#include <random>
#include <string>
#include <vector>

#include "dp_fixture.h"

#include "k8s.h"
#include "polcomp.h"

namespace {

// ---- frame builders ----------------------------------------------------------

const Mac kWebMac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x02}};
const Mac kApiMac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x03}};
const Mac kWeb2Mac = {{0x02, 0x00, 0x00, 0x00, 0x01, 0x04}};

const uint32_t kWeb = ip4("10.244.1.2");  // client/web on pod0
const uint32_t kApi = ip4("10.244.1.3");  // server/api on pod1
const uint32_t kWeb2 = ip4("10.244.1.4"); // client/web2 on pod0
const uint32_t kDb = ip4("10.244.2.5");   // remote/db behind node-b

// A UDP datagram with 12 bytes of data.
Bytes udp12(uint16_t sport, uint16_t dport)
{
	return udp(sport, dport, payload(12));
}

// A frame from a local pod (to the gateway MAC).
Bytes Tcp(const Mac &mac, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t flags)
{
	return eth(kGwMac, mac, 0x0800, ipv4(src, dst, IPPROTO_TCP, tcp(sp, dp, flags)));
}

Bytes Udp(const Mac &mac, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp)
{
	return eth(kGwMac, mac, 0x0800, ipv4(src, dst, IPPROTO_UDP, udp12(sp, dp)));
}

// ICMP destination unreachable (port unreachable): untracked.
Bytes Unreach(const Mac &mac, uint32_t src, uint32_t dst)
{
	return eth(kGwMac, mac, 0x0800, ipv4(src, dst, IPPROTO_ICMP, {3, 3, 0, 0, 0, 0, 0, 0}));
}

// A VXLAN frame from node-b carrying `inner` (an IPv4 packet) from remote/db.
Bytes FromDb(const Bytes &inner_ip)
{
	Bytes t = vxlan_hdr(7);
	append(t, eth(kGwMac, kGwMac, 0x0800, inner_ip));
	return eth(kUplinkMac, kPeerMac, 0x0800,
		   ipv4(kPeerVtep, kVtep, IPPROTO_UDP, udp(51234, 4789, t)));
}

Bytes DbTcp(uint32_t dst, uint16_t sp, uint16_t dp, uint8_t flags)
{
	return FromDb(ipv4(kDb, dst, IPPROTO_TCP, tcp(sp, dp, flags)));
}

// ---- the cluster and its policies -----------------------------------------

const char kCluster[] = R"(
apiVersion: v1
kind: Namespace
metadata:
  name: client
  labels:
    team: client
---
apiVersion: v1
kind: Namespace
metadata:
  name: server
  labels:
    team: server
---
apiVersion: v1
kind: Namespace
metadata:
  name: remote
  labels:
    team: remote
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: client
  labels:
    app: web
spec:
  nodeName: node-a
  containers:
  - name: web
    ports:
    - name: http
      containerPort: 8080
status:
  podIP: 10.244.1.2
---
apiVersion: v1
kind: Pod
metadata:
  name: web2
  namespace: client
  labels:
    app: web2
spec:
  nodeName: node-a
  containers:
  - name: web
    ports:
    - name: http
      containerPort: 8080
status:
  podIP: 10.244.1.4
---
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: server
  labels:
    app: api
spec:
  nodeName: node-a
  containers:
  - name: api
    ports:
    - name: http
      containerPort: 80
    - name: admin
      containerPort: 9090
status:
  podIP: 10.244.1.3
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  namespace: remote
  labels:
    app: db
spec:
  nodeName: node-b
  containers:
  - name: db
    ports:
    - name: pg
      containerPort: 5432
status:
  podIP: 10.244.2.5
)";

const char kIsolateClient[] = R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: isolate
  namespace: client
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web2-egress
  namespace: client
spec:
  podSelector:
    matchLabels:
      app: web2
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          team: server
)";

const char kGuardServer[] = R"(
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: guard-server
spec:
  priority: 10
  subject:
    namespaces:
      matchLabels:
        team: server
  ingress:
  - name: admin-from-remote
    action: Allow
    from:
    - namespaces:
        matchLabels:
          team: remote
    ports:
    - portNumber:
        protocol: TCP
        port: 9090
  - name: nothing-else-from-remote
    action: Deny
    from:
    - namespaces:
        matchLabels:
          team: remote
)";

std::string AllowFrom(const char *name, const char *app)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: %s
  namespace: server
spec:
  podSelector:
    matchLabels:
      app: api
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: client
      podSelector:
        matchLabels:
          app: %s
    ports:
    - port: http
    - protocol: UDP
      port: 53
)",
		 name, app);
	return buf;
}

const std::string kPolicyV1 =
	std::string(kIsolateClient) + kGuardServer + AllowFrom("allow-web", "web");
// v1 plus a policy that selects no pod: changes nothing any flow sees.
const std::string kPolicyV1b = kPolicyV1 + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: unrelated
  namespace: server
spec:
  podSelector:
    matchLabels:
      app: nothing
)";
// v2: api admits web2 instead of web; remote is isolated for ingress.
const std::string kPolicyV2 = std::string(kIsolateClient) + kGuardServer +
			      AllowFrom("allow-web2", "web2") + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: isolate
  namespace: remote
spec:
  podSelector: {}
)";

const char kAllowWeb[] = "networkpolicy server/allow-web ingress[0]";
const char kAllowWeb2[] = "networkpolicy server/allow-web2 ingress[0]";
const char kAnpAllow[] = "adminnetworkpolicy guard-server ingress[0]";
const char kAnpDeny[] = "adminnetworkpolicy guard-server ingress[1]";
const char kIsolated[] = "isolated";
const char kDefault[] = "default-allow";

void report(void *arg, const char *msg)
{
	static_cast<std::vector<std::string> *>(arg)->push_back(msg);
}

// Load the cluster plus `policies`, compile.
struct pol_tables *Compile(const std::string &policies, uint64_t gen,
			   const std::string &cluster = kCluster)
{
	struct k8s_cluster cl;
	memset(&cl, 0, sizeof(cl));
	std::vector<std::string> msgs;
	std::string text = cluster + policies;
	int rc = k8s_load_buffer("cluster.yaml", text.data(), text.size(), &cl, report, &msgs);
	EXPECT_EQ(rc, 0);
	for (const std::string &m : msgs)
		ADD_FAILURE() << "manifest: " << m;
	EXPECT_EQ(cl.n_pods, 4u);
	struct pol_tables *t = pol_compile(&cl, gen);
	k8s_cluster_free(&cl);
	EXPECT_NE(t, nullptr);
	// The dataplane decides through the lookup layout (pol_deserialize builds it).
	if (t) {
		EXPECT_EQ(pol_index(t), 0);
	}
	return t;
}

// ---- the harness -------------------------------------------------------------

constexpr unsigned kWorkers = 2;

class PolicyWorker : public DpFixture {
protected:
	void SetUp() override
	{
		baseline_ = shim_pool_in_use();
		BuildDp(dp_config_text("vxlan", 4096, TablesConfig()) + ExtraConfig(), kWorkers);
		if (HasFatalFailure())
			return;
		Vtep("192.168.100.2", kPeerMac);
		Route("10.244.1.0", 24, nullptr);
		Route("10.244.2.0", 24, "192.168.100.2");
		Endpoint(kWeb, "pod0", kWebMac);
		Endpoint(kApi, "pod1", kApiMac);
		Endpoint(kWeb2, "pod0", kWeb2Mac);
		Publish();
	}

	// Configuration added to the fixture's (flow-log settings), and
	// settings of its `tables` group.
	virtual std::string ExtraConfig() const { return ""; }
	virtual const char *TablesConfig() const { return ""; }

	// Compile and enforce `policies` (in `cluster`) at a new generation.
	void Enforce(const std::string &policies, const std::string &cluster = kCluster)
	{
		++gen_;
		struct pol_tables *t = Compile(policies, gen_, cluster);
		ASSERT_NE(t, nullptr);
		ASSERT_EQ(dp_publish_policy(dp_, t, gen_), 0);
		ASSERT_NE(dp_->policy, nullptr);
		ASSERT_EQ(dp_->policy->t, t);
		ASSERT_EQ(dp_->policy->t->generation, gen_);
	}

	// The rule id of `name` in the enforced policy (fails if unknown).
	uint32_t Rule(const char *name) const
	{
		const struct dp_policy *p = dp_->policy;
		EXPECT_NE(p, nullptr);
		if (!p)
			return 0;
		for (uint32_t i = 0; i < p->t->n_rules; i++)
			if (!strcmp(p->t->rules[i], name))
				return i;
		ADD_FAILURE() << "no rule named '" << name << "'";
		return 0;
	}

	// Packets counted against `rule` (summed over the workers, or one).
	uint64_t Count(const char *rule, bool denied, int worker = -1) const
	{
		const struct dp_policy *p = dp_->policy;
		if (!p)
			return 0;
		uint32_t r = Rule(rule);
		uint64_t n = 0;
		for (unsigned w = 0; w < kWorkers; w++)
			if (worker < 0 || (unsigned)worker == w)
				n += dp_policy_counters(p, w, r)[denied ? 1 : 0];
		return n;
	}

	// Every non-zero per-rule counter, "rule/allowed", "rule/denied" or "rule/audited".
	std::map<std::string, uint64_t> Counters() const
	{
		std::map<std::string, uint64_t> out;
		const struct dp_policy *p = dp_->policy;
		if (!p)
			return out;
		static const char *const kind[] = {"/allowed", "/denied", "/audited"};
		for (unsigned w = 0; w < kWorkers; w++)
			for (uint32_t r = 0; r < p->n_rules; r++)
				for (unsigned d = 0; d < 3; d++) {
					uint64_t v = dp_policy_counters(p, w, r)[d];
					if (v)
						out[std::string(p->t->rules[r]) + kind[d]] += v;
				}
		return out;
	}

	// Drop counters other than zero, by name.
	std::map<std::string, uint64_t> DropMap() const
	{
		std::map<std::string, uint64_t> out;
		for (unsigned r = 0; r < NSDP_DROP_MAX; r++)
			if (Drops(r))
				out[nsdp_drop_name(r)] = Drops(r);
		return out;
	}

	// Feed one frame that must come out on port `out` (and nowhere else).
	void Pass(unsigned in, const Bytes &f, unsigned out, const char *what, unsigned wi = 0)
	{
		SCOPED_TRACE(what);
		unsigned q0 = w_[wi].tx[out].n, all0 = Queued();
		uint64_t d0 = Dropped();
		auto drops0 = DropMap();
		Feed(in, {f}, wi);
		EXPECT_EQ(w_[wi].tx[out].n, q0 + 1u)
			<< what << ": not forwarded; drops before " << ::testing::PrintToString(drops0)
			<< " after " << ::testing::PrintToString(DropMap());
		EXPECT_EQ(Queued(), all0 + 1u);
		EXPECT_EQ(Dropped(), d0);
		passed_++;
	}

	// Feed one frame that must be dropped as policy-deny.
	void Deny(unsigned in, const Bytes &f, const char *what, unsigned wi = 0)
	{
		SCOPED_TRACE(what);
		unsigned q0 = Queued();
		uint64_t d0 = Drops(NSDP_DROP_POLICY_DENY), all0 = Dropped();
		Feed(in, {f}, wi);
		EXPECT_EQ(Queued(), q0) << what << ": was forwarded";
		EXPECT_EQ(Drops(NSDP_DROP_POLICY_DENY), d0 + 1) << what << ": not a policy-deny drop "
								  << ::testing::PrintToString(DropMap());
		EXPECT_EQ(Dropped(), all0 + 1);
		denied_++;
	}

	const struct ct_entry *Ct(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto)
	{
		struct ct_key k;
		ct_key_make(&k, AF_INET, &src, &dst, htons(sp), htons(dp), proto);
		return ct_lookup(dp_->ct, &k, ct_hash(&k));
	}

	uint64_t Total() const
	{
		uint64_t n = 0;
		for (auto &kv : Counters())
			n += kv.second;
		return n;
	}

	unsigned passed_ = 0, denied_ = 0;
};

using Counts = std::map<std::string, uint64_t>;

// ---- tests -------------------------------------------------------------------

TEST_F(PolicyWorker, CompiledRulesAreTheOnesTheTestCountsAgainst)
{
	Enforce(kPolicyV1);
	const struct pol_tables *t = dp_->policy->t;
	EXPECT_EQ(dp_->policy->n_rules, t->n_rules);
	EXPECT_STREQ(t->rules[POL_RULE_ISOLATED], kIsolated);
	EXPECT_STREQ(t->rules[POL_RULE_DEFAULT_ALLOW], kDefault);
	for (const char *r : {kAllowWeb, kAnpAllow, kAnpDeny})
		Rule(r); // fails when missing
	// The decisions the tests below rely on, straight from the tables.
	struct pol_result res;
	pol_decide(t, kWeb, kApi, IPPROTO_TCP, 80, &res);
	EXPECT_EQ(res.verdict, POL_ALLOW);
	EXPECT_STREQ(t->rules[res.rule], kAllowWeb);
	pol_decide(t, kApi, kWeb, IPPROTO_TCP, 40000, &res);
	EXPECT_EQ(res.verdict, POL_DENY);
	EXPECT_STREQ(t->rules[res.rule], kIsolated);
	EXPECT_EQ(Total(), 0u);
}

TEST_F(PolicyWorker, NoPolicyAllowsEverything)
{
	ASSERT_EQ(dp_->policy, nullptr);
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 1000, 40000, SYN), POD0, "api -> web SYN");
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 1001, 81, SYN), POD1, "web2 -> api:81 SYN");
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kDb, 1002, 5432, SYN), UPLINK, "web2 -> db SYN");
	Pass(UPLINK, DbTcp(kApi, 1003, 80, SYN), POD1, "db -> api:80 SYN (uplink)");
	Pass(POD1, Unreach(kApiMac, kApi, kWeb), POD0, "ICMP api -> web");
	FreeTx();

	// Enforced, then withdrawn: what was denied (with a cached deny
	// verdict in its conntrack entry) passes again.
	Enforce(kPolicyV1);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 1001, 81, ACK), "web2 -> api:81 under v1");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 2001, 81, SYN), "a new web2 -> api:81 under v1");
	ASSERT_EQ(dp_publish_policy(dp_, nullptr, ++gen_), 0);
	EXPECT_EQ(dp_->policy, nullptr);
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 1001, 81, ACK), POD1, "web2 -> api:81, no policy");
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 2001, 81, SYN), POD1, "web2 -> api:81 SYN again");
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 1000, 40000, ACK), POD0, "api -> web, no policy");
	EXPECT_EQ(Drops(NSDP_DROP_POLICY_DENY), 2u);
}

TEST_F(PolicyWorker, DeniedSynIsDroppedAndCountedAgainstItsRule)
{
	Enforce(kPolicyV1);
	// Ingress isolation (a NetworkPolicy selects api, no rule admits web2).
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80");
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 1}}));
	// The port: web is admitted on http (80/TCP) only.
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40002, 81, SYN), "web -> api:81");
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 2}}));
	// The ANP Deny rule, for a packet from the uplink.
	Deny(UPLINK, DbTcp(kApi, 50000, 80, SYN), "db -> api:80");
	EXPECT_EQ(Count(kAnpDeny, true), 1u);
	// Egress isolation: web2 may only send to namespace server; dropped on
	// this node before encapsulation.
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kDb, 40003, 5432, SYN), "web2 -> db:5432 (egress)");
	EXPECT_EQ(w_[0].tx[UPLINK].n, 0);
	// The SYN retransmission is denied again, from the cached verdict.
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80 retransmitted");
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 4}, {std::string(kAnpDeny) + "/denied", 1}}));
	EXPECT_EQ(DropMap(), (Counts{{"policy-deny", 5}}));
	// The conntrack entry records the verdict and the rule.
	const struct ct_entry *e = Ct(kWeb2, kApi, 40001, 80, IPPROTO_TCP);
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->verdict, POL_DENY);
	EXPECT_EQ(e->rule, Rule(kIsolated));
	EXPECT_EQ(e->policy_gen, dp_->policy->epoch);
	e = Ct(kDb, kApi, 50000, 80, IPPROTO_TCP);
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->rule, Rule(kAnpDeny));
}

TEST_F(PolicyWorker, AllowedConnectionAndItsRepliesPass)
{
	Enforce(kPolicyV1);
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80 SYN");
	EXPECT_EQ(Counters(), (Counts{{std::string(kAllowWeb) + "/allowed", 1}}));
	// client is isolated for ingress: api -> web alone would be denied ...
	struct pol_result res;
	pol_decide(dp_->policy->t, kApi, kWeb, IPPROTO_TCP, 40000, &res);
	ASSERT_EQ(res.verdict, POL_DENY);
	// ... but the replies of the allowed connection pass.
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, SYNACK), POD0, "SYN-ACK api -> web");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), POD1, "ACK");
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, PSHACK), POD0, "data api -> web");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, FIN | ACK), POD1, "FIN web -> api");
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, FIN | ACK), POD0, "FIN api -> web");
	EXPECT_EQ(Counters(), (Counts{{std::string(kAllowWeb) + "/allowed", 6}}));
	const struct ct_entry *e = Ct(kWeb, kApi, 40000, 80, IPPROTO_TCP);
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->verdict, POL_ALLOW);
	EXPECT_EQ(e->rule, Rule(kAllowWeb));

	// A connection api opens towards web is denied, on any port.
	Deny(POD1, Tcp(kApiMac, kApi, kWeb, 41000, 80, SYN), "api -> web:80 SYN");
	Deny(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40001, SYN), "api:80 -> web:40001 SYN");

	// UDP: 53 is admitted and the reply passes; 54 is not.
	Pass(POD0, Udp(kWebMac, kWeb, kApi, 5353, 53), POD1, "UDP web -> api:53");
	Pass(POD1, Udp(kApiMac, kApi, kWeb, 53, 5353), POD0, "UDP reply api -> web");
	Deny(POD0, Udp(kWebMac, kWeb, kApi, 5353, 54), "UDP web -> api:54");
	EXPECT_EQ(Count(kAllowWeb, false), 8u);
	EXPECT_EQ(Count(kIsolated, true), 3u);

	// A remote connection: web -> db (default-allow on db's side), the
	// SYN-ACK comes back through the tunnel into isolated client.
	Pass(POD0, Tcp(kWebMac, kWeb, kDb, 40005, 5432, SYN), UPLINK, "web -> db:5432 SYN");
	Pass(UPLINK, DbTcp(kWeb, 5432, 40005, SYNACK), POD0, "SYN-ACK db -> web (uplink)");
	Pass(POD0, Tcp(kWebMac, kWeb, kDb, 40005, 5432, ACK), UPLINK, "ACK web -> db");
	EXPECT_EQ(Count(kDefault, false), 3u);
	EXPECT_EQ(Total(), (uint64_t)(passed_ + denied_));
}

TEST_F(PolicyWorker, PolicyChangeCutsEstablishedAndAdmitsNew)
{
	Enforce(kPolicyV1);
	// web -> api:80 established under v1; web2 -> api:80 denied.
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "SYN");
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, SYNACK), POD0, "SYN-ACK");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), POD1, "ACK");
	const struct ct_entry *e = Ct(kWeb, kApi, 40000, 80, IPPROTO_TCP);
	ASSERT_NE(e, nullptr);
	ASSERT_EQ(ct_entry_state(e), CT_TCP_ESTABLISHED);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 SYN under v1");
	// web -> db:5432 established too (remote has no policy under v1).
	Pass(POD0, Tcp(kWebMac, kWeb, kDb, 40002, 5432, SYN), UPLINK, "web -> db SYN");
	Pass(UPLINK, DbTcp(kWeb, 5432, 40002, SYNACK), POD0, "db -> web SYN-ACK");
	FreeTx();

	// v2: api admits web2 instead of web; remote is isolated.
	Enforce(kPolicyV2);
	EXPECT_EQ(Total(), 0u) << "a new policy starts with fresh counters";
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, PSHACK), "web -> api, first packet after v2");
	Deny(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, PSHACK), "the reply direction is cut too");
	EXPECT_EQ(e->verdict, POL_DENY);
	EXPECT_EQ(e->policy_gen, dp_->policy->epoch);
	EXPECT_EQ(e->rule, Rule(kIsolated));
	// The remote connection, from the uplink side first.
	Deny(UPLINK, DbTcp(kWeb, 5432, 40002, PSHACK), "db -> web after v2 (uplink)");
	Deny(POD0, Tcp(kWebMac, kWeb, kDb, 40002, 5432, ACK), "web -> db after v2");
	// web2's retransmitted SYN (same 5-tuple, cached deny of v1) and a
	// brand-new connection are admitted.
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), POD1, "web2 SYN retransmitted");
	Pass(POD1, Tcp(kApiMac, kApi, kWeb2, 80, 40001, SYNACK), POD0, "SYN-ACK to web2");
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40009, 80, SYN), POD1, "a new web2 connection");
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 4}, {std::string(kAllowWeb2) + "/allowed", 3}}));

	// And back to v1: the cut connection is allowed again.
	Enforce(kPolicyV1);
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), POD1, "web -> api under v1 again");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40009, 80, ACK), "web2 under v1 again");
}

// After a publication the worker decides a group's connections that were
// decided under an older policy ahead, in one bulk call (decide_ahead), once
// policy() re-decided one in the group before: the decision must be the one
// policy() makes alone, in each connection's original direction. Here the first packet after the
// publication is the reply, whose own direction decides otherwise: web2
// opened to api:80 (allowed under v2); api -> web2 would be denied (client
// pods are isolated).
TEST_F(PolicyWorker, ConnectionsDecidedAgainTogetherAsAlone)
{
	const unsigned kWebConns = 8, kWeb2Conns = 40;
	Enforce(kPolicyV1);
	for (unsigned i = 0; i < kWebConns; i++)
		Pass(POD0, Tcp(kWebMac, kWeb, kApi, (uint16_t)(42000 + i), 80, SYN), POD1, "web SYN, v1");
	FreeTx();
	Enforce(kPolicyV2);
	for (unsigned i = 0; i < kWeb2Conns; i++)
		Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, (uint16_t)(43000 + i), 80, SYN), POD1,
		     "web2 SYN, v2");
	FreeTx();
	Enforce(kPolicyV2); // a new generation: every connection is decided again
	std::vector<Bytes> replies;
	for (unsigned i = 1; i < kWeb2Conns; i++)
		replies.push_back(Tcp(kApiMac, kApi, kWeb2, 80, (uint16_t)(43000 + i), SYNACK));
	for (unsigned i = 0; i < kWebConns; i++)
		replies.push_back(Tcp(kApiMac, kApi, kWeb, 80, (uint16_t)(42000 + i), SYNACK));

	EXPECT_FALSE(w_[0].redeciding);
	Pass(POD1, Tcp(kApiMac, kApi, kWeb2, 80, 43000, SYNACK), POD0, "the first reply, alone");
	EXPECT_TRUE(w_[0].redeciding) << "policy() re-decided a connection";
	EXPECT_EQ(w_[0].decided_ahead, 0u);
	const uint64_t deny0 = Drops(NSDP_DROP_POLICY_DENY);
	Feed(POD1, replies);
	EXPECT_EQ(w_[0].tx[POD0].n, kWeb2Conns) << "web2's connections are allowed in v2";
	EXPECT_EQ(Drops(NSDP_DROP_POLICY_DENY) - deny0, kWebConns) << "web's are not";
	EXPECT_EQ(w_[0].decided_ahead, replies.size()) << "every one was decided ahead";
	EXPECT_TRUE(w_[0].redeciding);
	for (unsigned i = 0; i < kWeb2Conns; i++) {
		const struct ct_entry *e = Ct(kWeb2, kApi, (uint16_t)(43000 + i), 80, IPPROTO_TCP);
		ASSERT_NE(e, nullptr);
		EXPECT_EQ(e->verdict, POL_ALLOW) << i;
		EXPECT_EQ(e->rule, Rule(kAllowWeb2)) << i;
		EXPECT_EQ(e->policy_gen, dp_->policy->epoch) << i;
	}
	EXPECT_EQ(Count(kAllowWeb2, false), kWeb2Conns);
	EXPECT_EQ(Count(kIsolated, true), kWebConns);
	FreeTx();

	// Decided now: the same packets again find nothing to decide ahead.
	Feed(POD1, replies);
	EXPECT_EQ(w_[0].tx[POD0].n, kWeb2Conns - 1);
	EXPECT_EQ(w_[0].decided_ahead, replies.size());
	EXPECT_FALSE(w_[0].redeciding);
	FreeTx();
}

// What `nsdpctl policy show` and the metrics report: a rule's packets
// since the dataplane started, carried from one published policy to the
// next by rule name (dp_policy_totals); the raw counters above stay per
// policy.
TEST_F(PolicyWorker, RuleTotalsCarryOverByName)
{
	auto total = [this](const char *rule, unsigned verdict) {
		uint64_t t[3];
		dp_policy_totals(dp_->policy, kWorkers, Rule(rule), t);
		return t[verdict];
	};
	// v1 with an AdminNetworkPolicy that selects no pod: its rule comes
	// first in evaluation order, so every NetworkPolicy rule moves up
	const std::string v1_moved = kPolicyV1 + R"(
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: early
spec:
  priority: 1
  subject:
    namespaces:
      matchLabels:
        team: nobody
  ingress:
  - name: r0
    action: Allow
    from:
    - namespaces: {}
)";
	Enforce(kPolicyV1);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80 under v1");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80 under v1");
	EXPECT_EQ(total(kIsolated, 1), 1u);
	EXPECT_EQ(total(kAllowWeb, 0), 1u);
	// the same policy again (an agent's resync): nothing restarts
	Enforce(kPolicyV1);
	EXPECT_EQ(Total(), 0u) << "the raw counters are the new policy's";
	EXPECT_EQ(total(kIsolated, 1), 1u);
	EXPECT_EQ(total(kAllowWeb, 0), 1u);
	// allow-web at another rule id: carried by its name
	uint32_t id = Rule(kAllowWeb);
	Enforce(v1_moved);
	ASSERT_NE(Rule(kAllowWeb), id) << "the test needs allow-web renumbered";
	EXPECT_EQ(total(kAllowWeb, 0), 1u);
	EXPECT_EQ(total(kIsolated, 1), 1u);
	// v2 has no allow-web: what is not there starts again when it comes back
	Enforce(kPolicyV2);
	EXPECT_EQ(total(kIsolated, 1), 1u);
	EXPECT_EQ(total(kAllowWeb2, 0), 0u);
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40002, 80, SYN), "web -> api:80 under v2", 1);
	EXPECT_EQ(total(kIsolated, 1), 2u) << "this policy's worker 1 plus what came before";
	Enforce(kPolicyV1);
	EXPECT_EQ(total(kIsolated, 1), 2u);
	EXPECT_EQ(total(kAllowWeb, 0), 0u);
}

TEST_F(PolicyWorker, UnrelatedChangeKeepsEstablished)
{
	Enforce(kPolicyV1);
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "SYN");
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, SYNACK), POD0, "SYN-ACK");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), POD1, "ACK");
	Pass(POD0, Udp(kWebMac, kWeb, kApi, 5353, 53), POD1, "UDP web -> api:53");
	FreeTx();
	for (int round = 0; round < 3; round++) {
		Enforce(round % 2 ? kPolicyV1 : kPolicyV1b);
		// The first packet after the change is a reply: the verdict is
		// re-decided from the original direction, not from this packet.
		Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, PSHACK), POD0, "reply after the change");
		Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, PSHACK), POD1, "data after the change");
		Pass(POD1, Udp(kApiMac, kApi, kWeb, 53, 5353), POD0, "UDP reply after the change");
		EXPECT_EQ(Counters(), (Counts{{std::string(kAllowWeb) + "/allowed", 3}}));
		const struct ct_entry *e = Ct(kWeb, kApi, 40000, 80, IPPROTO_TCP);
		ASSERT_NE(e, nullptr);
		EXPECT_EQ(e->policy_gen, dp_->policy->epoch);
		EXPECT_EQ(e->verdict, POL_ALLOW);
		FreeTx();
	}
}

TEST_F(PolicyWorker, UntrackedIcmpIsDecidedPerPacket)
{
	Enforce(kPolicyV1);
	// An allowed connection web -> api does not make ICMP between them
	// allowed: untracked packets are decided alone.
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api SYN");
	const uint32_t ct0 = ct_count(dp_->ct);
	Deny(POD1, Unreach(kApiMac, kApi, kWeb), "ICMP unreachable api -> web (client isolated)");
	Deny(POD0, Unreach(kWebMac, kWeb, kApi), "ICMP unreachable web -> api (ports: TCP only)");
	Pass(POD1, Unreach(kApiMac, kApi, kDb), UPLINK, "ICMP unreachable api -> db");
	// The ANP Deny rule has no ports: it covers ICMP from remote too.
	Deny(UPLINK, FromDb(ipv4(kDb, kApi, IPPROTO_ICMP, {3, 3, 0, 0, 0, 0, 0, 0})),
	     "ICMP unreachable db -> api (uplink)");
	EXPECT_EQ(ct_count(dp_->ct), ct0) << "ICMP errors are not tracked";
	EXPECT_EQ(Counters(), (Counts{{std::string(kAllowWeb) + "/allowed", 1},
				      {"isolated/denied", 2},
				      {"default-allow/allowed", 1},
				      {std::string(kAnpDeny) + "/denied", 1}}));
}

TEST_F(PolicyWorker, UntrackedIcmpFollowsPolicyChanges)
{
	Enforce(kPolicyV1);
	for (int i = 0; i < 3; i++)
		Pass(POD1, Unreach(kApiMac, kApi, kDb), UPLINK, "ICMP api -> db under v1");
	EXPECT_EQ(Count(kDefault, false), 3u);
	Enforce(kPolicyV2); // remote isolated
	for (int i = 0; i < 3; i++)
		Deny(POD1, Unreach(kApiMac, kApi, kDb), "ICMP api -> db under v2");
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 3}}));
	Enforce(kPolicyV1);
	Pass(POD1, Unreach(kApiMac, kApi, kDb), UPLINK, "ICMP api -> db under v1 again");
	EXPECT_EQ(ct_count(dp_->ct), 0u);
}

// An ICMPv4 error (type, code) from `src` to `dst` quoting the first 28
// bytes (IP header + 8) of `quoted`, an IPv4 packet.
Bytes IcmpError(uint32_t src, uint32_t dst, uint8_t type, uint8_t code, const Bytes &quoted)
{
	Bytes icmp = {type, code, 0, 0, 0, 0, 0x05, 0x78}; // next-hop MTU 1400 (frag needed)
	icmp.insert(icmp.end(), quoted.begin(), quoted.begin() + 28);
	return ipv4(src, dst, IPPROTO_ICMP, icmp);
}

TEST_F(PolicyWorker, IcmpErrorsOfATrackedConnectionAreRelated)
{
	Enforce(kPolicyV1);
	// web -> api:80 allowed; client is isolated for ingress, so ICMP
	// api -> web alone is denied (UntrackedIcmpIsDecidedPerPacket) ...
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api SYN");
	const struct ct_entry *e = Ct(kWeb, kApi, 40000, 80, IPPROTO_TCP);
	ASSERT_NE(e, nullptr);
	const uint8_t seen = e->seen;
	const uint32_t ct0 = ct_count(dp_->ct);
	const Counts before = Counters();
	// ... but "fragmentation needed" about that connection's packet passes
	// (path MTU discovery must work through policy), and so does a
	// "port unreachable" about it.
	Bytes syn_ip = ipv4(kWeb, kApi, IPPROTO_TCP, tcp(40000, 80, SYN));
	Pass(POD1, eth(kGwMac, kApiMac, 0x0800, IcmpError(kApi, kWeb, 3, 4, syn_ip)), POD0,
	     "frag needed api -> web, about web -> api:80");
	Pass(POD1, eth(kGwMac, kApiMac, 0x0800, IcmpError(kApi, kWeb, 3, 3, syn_ip)), POD0,
	     "port unreachable api -> web, about web -> api:80");
	// About a packet of no tracked connection: decided per packet (denied).
	Bytes other = ipv4(kWeb, kApi, IPPROTO_UDP, udp12(5353, 54));
	Deny(POD1, eth(kGwMac, kApiMac, 0x0800, IcmpError(kApi, kWeb, 3, 3, other)),
	     "port unreachable api -> web, about UDP web -> api:54 (never tracked)");
	// Time exceeded from a router behind node-b about web -> db:5432.
	Pass(POD0, Tcp(kWebMac, kWeb, kDb, 40005, 5432, SYN), UPLINK, "web -> db:5432 SYN");
	const uint32_t router = ip4("10.244.2.1");
	Pass(UPLINK,
	     FromDb(IcmpError(router, kWeb, 11, 0, ipv4(kWeb, kDb, IPPROTO_TCP, tcp(40005, 5432, SYN)))),
	     POD0, "time exceeded from node-b's pod network about web -> db");
	// The errors created no entry, changed no state, and count against no
	// rule (the isolated denial of the untracked one does).
	EXPECT_EQ(ct_count(dp_->ct), ct0 + 1) << "only the web -> db connection";
	EXPECT_EQ(e->seen, seen);
	Counts want = before;
	want[std::string(kDefault) + "/allowed"] += 1;
	want["isolated/denied"] += 1;
	EXPECT_EQ(Counters(), want);
}

TEST_F(PolicyWorker, IcmpEchoIsTrackedLikeAConnection)
{
	Enforce(kPolicyV1 + R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: any-from-web
  namespace: server
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          app: web
)");
	Bytes req = eth(kGwMac, kWebMac, 0x0800, ipv4(kWeb, kApi, IPPROTO_ICMP, {8, 0, 0, 0, 0x12, 0x34, 0, 1}));
	Bytes rep = eth(kGwMac, kApiMac, 0x0800, ipv4(kApi, kWeb, IPPROTO_ICMP, {0, 0, 0, 0, 0x12, 0x34, 0, 1}));
	Pass(POD0, req, POD1, "echo request web -> api");
	Pass(POD1, rep, POD0, "echo reply api -> web (client isolated)");
	Bytes req2 = eth(kGwMac, kApiMac, 0x0800, ipv4(kApi, kWeb, IPPROTO_ICMP, {8, 0, 0, 0, 0x43, 0x21, 0, 1}));
	Deny(POD1, req2, "echo request api -> web");
	EXPECT_EQ(Count("networkpolicy server/any-from-web ingress[0]", false), 2u);
}

TEST_F(PolicyWorker, MidStreamPickupAllowedWhenEitherDirectionIs)
{
	Enforce(kPolicyV1);
	// The first packet the dataplane sees of web -> api:80 (allowed) is a
	// reply-direction segment: api -> web:40000 alone would be denied.
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, PSHACK), POD0, "api:80 -> web, mid-stream");
	const struct ct_entry *e = Ct(kWeb, kApi, 40000, 80, IPPROTO_TCP);
	ASSERT_NE(e, nullptr);
	EXPECT_TRUE(e->seen & CT_SEEN_MIDSTREAM);
	EXPECT_EQ(ct_entry_state(e), CT_TCP_ESTABLISHED);
	EXPECT_EQ(e->verdict, POL_ALLOW);
	EXPECT_EQ(e->rule, Rule(kAllowWeb));
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), POD1, "web -> api:80, mid-stream");
	EXPECT_EQ(Count(kAllowWeb, false), 2u);

	// The same through the tunnel: db:5432 -> web (denied alone: client
	// is isolated) is the reply of web -> db:5432 (allowed).
	Pass(UPLINK, DbTcp(kWeb, 5432, 40001, PSHACK), POD0, "db:5432 -> web, mid-stream (uplink)");
	Pass(POD0, Tcp(kWebMac, kWeb, kDb, 40001, 5432, ACK), UPLINK, "web -> db:5432");
	EXPECT_EQ(Count(kDefault, false), 2u);

	// Neither direction allowed: api:80 -> web2 and web2 -> api:80.
	Deny(POD1, Tcp(kApiMac, kApi, kWeb2, 80, 40002, PSHACK), "api:80 -> web2, mid-stream");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40002, 80, ACK), "web2 -> api:80 after it");
	// A mid-stream pickup in the original direction that is denied.
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40003, 81, PSHACK), "web -> api:81, mid-stream");
	Deny(POD1, Tcp(kApiMac, kApi, kWeb, 81, 40003, PSHACK), "api:81 -> web after it");
	EXPECT_EQ(Count(kIsolated, true), 4u);

	// A policy change re-decides a mid-stream entry with both directions.
	Enforce(kPolicyV2);
	Pass(POD1, Tcp(kApiMac, kApi, kWeb2, 80, 40002, PSHACK), POD0, "api:80 -> web2 under v2");
	Deny(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, PSHACK), "api:80 -> web under v2");
	EXPECT_EQ(Count(kAllowWeb2, false), 1u);
}

TEST_F(PolicyWorker, UplinkTrafficIsEnforced)
{
	Enforce(kPolicyV1);
	Deny(UPLINK, DbTcp(kApi, 50000, 80, SYN), "db -> api:80 (ANP Deny)");
	Deny(UPLINK, DbTcp(kApi, 50001, 81, SYN), "db -> api:81 (ANP Deny)");
	Deny(UPLINK, FromDb(ipv4(kDb, kApi, IPPROTO_UDP, udp12(5000, 53))), "db -> api:53/UDP");
	Pass(UPLINK, DbTcp(kApi, 50002, 9090, SYN), POD1, "db -> api:9090 (ANP Allow)");
	Pass(POD1, Tcp(kApiMac, kApi, kDb, 9090, 50002, SYNACK), UPLINK, "SYN-ACK api -> db");
	Pass(UPLINK, DbTcp(kApi, 50002, 9090, ACK), POD1, "ACK db -> api");
	Deny(UPLINK, DbTcp(kWeb, 50003, 8080, SYN), "db -> web (client isolated)");
	EXPECT_EQ(Counters(), (Counts{{std::string(kAnpDeny) + "/denied", 3},
				      {std::string(kAnpAllow) + "/allowed", 3},
				      {"isolated/denied", 1}}));
	// The delivered packets are the decapsulated inner frames.
	ASSERT_EQ(w_[0].tx[POD1].n, 2);
	const uint8_t *d;
	unsigned n = shim_mbuf_data(w_[0].tx[POD1].pkts[0], &d);
	ASSERT_GE(n, 14u + 20 + 20);
	EXPECT_EQ(rd16(d + 12), 0x0800);
	EXPECT_EQ(memcmp(d + 14 + 12, &kDb, 4), 0);
	EXPECT_EQ(rd16(d + 14 + 20 + 2), 9090);
}

TEST_F(PolicyWorker, CountersArePerWorker)
{
	Enforce(kPolicyV1);
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "SYN on worker 0", 0);
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, SYNACK), POD0, "SYN-ACK on worker 1", 1);
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), POD1, "ACK on worker 1", 1);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "denied on worker 1", 1);
	EXPECT_EQ(Count(kAllowWeb, false, 0), 1u);
	EXPECT_EQ(Count(kAllowWeb, false, 1), 2u);
	EXPECT_EQ(Count(kIsolated, true, 0), 0u);
	EXPECT_EQ(Count(kIsolated, true, 1), 1u);
	EXPECT_EQ(st_[1].drops[NSDP_DROP_POLICY_DENY], 1u);
	EXPECT_EQ(st_[0].drops[NSDP_DROP_POLICY_DENY], 0u);
}

TEST_F(PolicyWorker, EveryPacketAccounted)
{
	Enforce(kPolicyV1);
	// Mixed bursts: allowed, denied, untracked, from pods and the uplink,
	// and non-policy drops (spoofed source). Every packet is queued or
	// dropped, and every packet that reached the policy is counted once
	// against exactly one rule.
	uint64_t queued = 0;
	for (uint16_t round = 0; round < 4; round++) {
		uint16_t sp = (uint16_t)(41000 + round * 10);
		Feed(POD0, {Tcp(kWebMac, kWeb, kApi, sp, 80, SYN),                  // allow
			    Tcp(kWebMac, kWeb, kApi, sp, 81, SYN),                  // isolated
			    Tcp(kWeb2Mac, kWeb2, kApi, sp, 80, SYN),                // isolated
			    Tcp(kWeb2Mac, kWeb2, kDb, sp, 5432, SYN),               // egress
			    Udp(kWebMac, kWeb, kApi, sp, 53),                       // allow
			    Unreach(kWebMac, kWeb, kDb),                            // allow
			    Tcp(kWebMac, ip4("10.244.1.99"), kApi, sp, 80, SYN)}); // spoof
		Feed(POD1, {Tcp(kApiMac, kApi, kWeb, 80, sp, SYNACK),               // reply
			    Udp(kApiMac, kApi, kWeb, 53, sp),                       // reply
			    Tcp(kApiMac, kApi, kWeb, sp, 8080, SYN)});              // isolated
		Feed(UPLINK, {DbTcp(kApi, sp, 80, SYN),                             // ANP deny
			      DbTcp(kApi, sp, 9090, SYN),                           // ANP allow
			      DbTcp(kWeb, sp, 8080, SYN)});                         // isolated
		queued += Queued();
		FreeTx();
	}
	const uint64_t deny = Drops(NSDP_DROP_POLICY_DENY);
	EXPECT_EQ(queued + Dropped(), fed_);
	EXPECT_EQ(queued, 4u * 6);
	EXPECT_EQ(deny, 4u * 6);
	EXPECT_EQ(Drops(NSDP_DROP_SRC_SPOOF), 4u);
	EXPECT_EQ(Dropped(), deny + 4u);
	EXPECT_EQ(Total(), queued + deny) << "one count per packet that reached the policy";
	EXPECT_EQ(Counters(), (Counts{{std::string(kAllowWeb) + "/allowed", 16},
				      {"isolated/denied", 20},
				      {"default-allow/allowed", 4},
				      {std::string(kAnpDeny) + "/denied", 4},
				      {std::string(kAnpAllow) + "/allowed", 4}}));
}

// The policy generation is 64-bit on the wire; conntrack keeps a 32-bit
// stamp, 0 meaning "never decided". A generation whose low 32 bits are 0
// must not make a fresh entry look decided.
TEST_F(PolicyWorker, GenerationWithZeroLow32Bits)
{
	gen_ = (1ull << 32) - 1;
	Enforce(kPolicyV1); // generation 1 << 32
	EXPECT_NE(dp_->policy->epoch, 0u);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80 at generation 2^32");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80 at 2^32");
	EXPECT_EQ(Count(kAllowWeb, false), 1u);
}

// The conntrack stamp of each publication is new, never 0, even when the
// stamp counter wraps.
TEST_F(PolicyWorker, EpochWrapSkipsZero)
{
	dp_->policy_epoch = UINT32_MAX - 1;
	Enforce(kPolicyV1);
	EXPECT_EQ(dp_->policy->epoch, UINT32_MAX);
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80");
	Enforce(kPolicyV2);
	EXPECT_EQ(dp_->policy->epoch, 1u);
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), "web -> api:80 cut under v2");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 81, SYN), "a new denied flow at epoch 1");
	EXPECT_EQ(Count(kIsolated, true), 2u);
}

// A policy published again under the same generation number (an agent that
// restarts its numbering) is still a new policy: cached verdicts are
// re-decided.
TEST_F(PolicyWorker, SameGenerationRepublishedIsRedecided)
{
	Enforce(kPolicyV1);
	const uint64_t g = gen_;
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80 under v1");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80 under v1");
	struct pol_tables *t = Compile(kPolicyV2, g);
	ASSERT_NE(t, nullptr);
	ASSERT_EQ(dp_publish_policy(dp_, t, g), 0);
	ASSERT_EQ(dp_->policy->t->generation, g);
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), "web -> api:80, v2 at the same generation");
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), POD1, "web2 -> api:80, v2 at the same generation");
}

// What `nsdpctl policy apply` sends: the wire form must carry any compiled
// policy, including one without NetworkPolicies, and one of a cluster with
// no pods at all (an agent's first sync of an empty cluster; the compiler
// then emits no subject class and no port map, which pol_deserialize used
// to reject as "empty address, map or rule table").
TEST_F(PolicyWorker, WireFormOfTrivialPolicies)
{
	struct Case {
		const char *what;
		std::string yaml;
		bool with_cluster;
	} cases[] = {
		{"pods, no policy", "", true},
		{"v1", kPolicyV1, true},
		{"no pods, no policy", "", false},
		{"namespaces only", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n", false},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.what);
		struct k8s_cluster cl;
		memset(&cl, 0, sizeof(cl));
		std::string text = (c.with_cluster ? std::string(kCluster) : std::string()) + c.yaml;
		ASSERT_EQ(k8s_load_buffer("t.yaml", text.data(), text.size(), &cl, nullptr, nullptr), 0);
		struct pol_tables *t = pol_compile(&cl, 7);
		k8s_cluster_free(&cl);
		ASSERT_NE(t, nullptr);
		void *blob = nullptr;
		size_t len = 0;
		ASSERT_EQ(pol_serialize(t, &blob, &len), 0);
		char err[256] = "";
		struct pol_tables *back = pol_deserialize(blob, len, 7, err, sizeof(err));
		EXPECT_NE(back, nullptr) << err << " (n_pods " << t->n_pods << ", n_maps " << t->n_maps
					 << ", n_rules " << t->n_rules << ", n_cidr " << t->n_cidr << ")";
		if (back) {
			struct pol_result a, b;
			pol_decide(t, kApi, kWeb, IPPROTO_TCP, 80, &a);
			pol_decide(back, kApi, kWeb, IPPROTO_TCP, 80, &b);
			EXPECT_EQ(a.verdict, b.verdict);
			EXPECT_EQ(a.rule, b.rule);
		}
		free(blob);
		pol_tables_free(t);
		if (back && !c.with_cluster) {
			// Enforced: nothing is a pod, nothing is restricted.
			ASSERT_EQ(dp_publish_policy(dp_, back, ++gen_), 0);
			Pass(POD1, Tcp(kApiMac, kApi, kWeb, 1000, 40000, SYN), POD0, "api -> web");
			EXPECT_EQ(Counters(), (Counts{{"unrestricted/allowed", 1}}));
			FreeTx();
		} else {
			pol_tables_free(back);
		}
	}
}

// ---- flow logs ---------------------------------------------------------------

struct FlowRec {
	struct nsdp_flowlog_rec r;
	std::string rule;
};

// Take the queued flow-log records (FLOWLOG_READ's reply, parsed).
std::vector<FlowRec> TakeFlowLog(struct dp *dp, struct nsdp_flowlog_hdr *hdr = nullptr)
{
	std::vector<FlowRec> out;
	void *buf = nullptr;
	size_t len = 0;
	EXPECT_EQ(dp_flowlog_read(dp, 0, &buf, &len), 0);
	struct nsdp_flowlog_hdr h;
	EXPECT_GE(len, sizeof(h));
	if (len < sizeof(h)) {
		free(buf);
		return out;
	}
	memcpy(&h, buf, sizeof(h));
	size_t off = sizeof(h);
	for (uint32_t i = 0; i < h.count; i++) {
		FlowRec f;
		EXPECT_LE(off + sizeof(f.r), len);
		memcpy(&f.r, (uint8_t *)buf + off, sizeof(f.r));
		off += sizeof(f.r);
		EXPECT_LE(off + f.r.name_len, len);
		EXPECT_GT(f.r.name_len, 0u);
		const char *name = (const char *)buf + off;
		EXPECT_EQ(name[f.r.name_len - 1], '\0');
		f.rule = name;
		off += f.r.name_len;
		out.push_back(f);
	}
	EXPECT_EQ(off, len) << "bytes after the last record";
	free(buf);
	if (hdr)
		*hdr = h;
	return out;
}

uint64_t RealtimeNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Each field of one record.
void ExpectRec(const FlowRec &f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
	       uint8_t proto, uint8_t verdict, uint8_t dir, uint8_t reason, const char *rule,
	       unsigned in_port, uint64_t generation)
{
	EXPECT_EQ(f.r.src, src);
	EXPECT_EQ(f.r.dst, dst);
	EXPECT_EQ(f.r.sport, sport);
	EXPECT_EQ(f.r.dport, dport);
	EXPECT_EQ(f.r.proto, proto);
	EXPECT_EQ(f.r.verdict, verdict);
	EXPECT_EQ(f.r.direction, dir);
	EXPECT_EQ(f.r.reason, reason);
	EXPECT_EQ(f.rule, rule);
	EXPECT_EQ(f.r.in_port, in_port);
	EXPECT_EQ(f.r.policy_generation, generation);
}

TEST_F(PolicyWorker, FlowLogRecordsEachDeniedConnectionOnce)
{
	Enforce(kPolicyV1);
	uint64_t t0 = RealtimeNs();
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "its retransmission (cached)");
	Deny(UPLINK, DbTcp(kApi, 50000, 80, SYN), "db -> api:80 (ANP Deny)", 1);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kDb, 40003, 5432, SYN), "web2 -> db (egress)");
	Deny(POD1, Unreach(kApiMac, kApi, kWeb), "ICMP api -> web, untracked");
	Deny(POD1, Unreach(kApiMac, kApi, kWeb), "again: untracked, logged again");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "an allow (1 in 100 sampled)");
	uint64_t t1 = RealtimeNs();
	struct nsdp_flowlog_hdr h;
	std::vector<FlowRec> log = TakeFlowLog(dp_, &h);
	// Worker 0's records, then worker 1's.
	ASSERT_EQ(log.size(), 5u);
	ExpectRec(log[0], kWeb2, kApi, 40001, 80, IPPROTO_TCP, POL_DENY, POL_INGRESS,
		  NSDP_FLOWLOG_NEW, kIsolated, POD0, gen_);
	ExpectRec(log[1], kWeb2, kDb, 40003, 5432, IPPROTO_TCP, POL_DENY, POL_EGRESS,
		  NSDP_FLOWLOG_NEW, kIsolated, POD0, gen_);
	ExpectRec(log[2], kApi, kWeb, 0, 0, IPPROTO_ICMP, POL_DENY, POL_INGRESS,
		  NSDP_FLOWLOG_UNTRACKED, kIsolated, POD1, gen_);
	ExpectRec(log[3], kApi, kWeb, 0, 0, IPPROTO_ICMP, POL_DENY, POL_INGRESS,
		  NSDP_FLOWLOG_UNTRACKED, kIsolated, POD1, gen_);
	ExpectRec(log[4], kDb, kApi, 50000, 80, IPPROTO_TCP, POL_DENY, POL_INGRESS,
		  NSDP_FLOWLOG_NEW, kAnpDeny, UPLINK, gen_);
	for (const FlowRec &f : log) {
		EXPECT_GE(f.r.time_ns + 1000000, t0) << "time before the packet";
		EXPECT_LE(f.r.time_ns, t1 + 1000000) << "time after the read";
	}
	EXPECT_EQ(h.records, 5u);
	EXPECT_EQ(h.rate_limited, 0u);
	EXPECT_EQ(h.ring_full, 0u);
	EXPECT_EQ(h.pending, 0u);
	EXPECT_EQ(st_[0].lc.flowlog_records, 4u);
	EXPECT_EQ(st_[1].lc.flowlog_records, 1u);
	EXPECT_TRUE(TakeFlowLog(dp_).empty()) << "records are taken once";
}

TEST_F(PolicyWorker, FlowLogNamesRulesOfThePolicyThatDecided)
{
	Enforce(kPolicyV1);
	uint64_t v1 = gen_;
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80 under v1");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80 under v1");
	FreeTx();
	// v2 replaces v1 before anyone read: v1's records keep v1's names
	// (the rule ids of v2 differ), and the established connection cut by
	// v2 is logged as re-decided.
	Enforce(kPolicyV2);
	Deny(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, PSHACK), "the reply after v2");
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), POD1, "web2 retransmits under v2");
	std::vector<FlowRec> log = TakeFlowLog(dp_);
	ASSERT_EQ(log.size(), 2u);
	ExpectRec(log[0], kWeb2, kApi, 40001, 80, IPPROTO_TCP, POL_DENY, POL_INGRESS,
		  NSDP_FLOWLOG_NEW, kIsolated, POD0, v1);
	// The original direction, although the reply carried the decision.
	ExpectRec(log[1], kWeb, kApi, 40000, 80, IPPROTO_TCP, POL_DENY, POL_INGRESS,
		  NSDP_FLOWLOG_REDECIDED, kIsolated, POD1, gen_);
}

// Flow logs configured small, to see sampling, the rate limit and a full ring.
class FlowLogSampled : public PolicyWorker {
	std::string ExtraConfig() const override
	{
		return "flow_log = { sample_allowed = 3; rate = 100000; burst = 100000; };\n";
	}
};

TEST_F(FlowLogSampled, OneAllowedDecisionInN)
{
	Enforce(kPolicyV1);
	for (uint16_t i = 0; i < 7; i++)
		Pass(POD0, Tcp(kWebMac, kWeb, kApi, (uint16_t)(41000 + i), 80, SYN), POD1, "web -> api");
	std::vector<FlowRec> log = TakeFlowLog(dp_);
	ASSERT_EQ(log.size(), 2u) << "the 3rd and the 6th";
	ExpectRec(log[0], kWeb, kApi, 41002, 80, IPPROTO_TCP, POL_ALLOW, POL_INGRESS,
		  NSDP_FLOWLOG_NEW, kAllowWeb, POD0, gen_);
	EXPECT_EQ(log[1].r.sport, 41005);
	// Denies are never sampled away.
	for (uint16_t i = 0; i < 4; i++)
		Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, (uint16_t)(42000 + i), 80, SYN), "web2 -> api");
	EXPECT_EQ(TakeFlowLog(dp_).size(), 4u);
}

class FlowLogLimited : public PolicyWorker {
	// Two workers: each gets 1 record/s and a burst of 2.
	std::string ExtraConfig() const override
	{
		return "flow_log = { rate = 2; burst = 4; };\n";
	}
};

TEST_F(FlowLogLimited, AFloodIsCutAtTheRateAndCounted)
{
	Enforce(kPolicyV1);
	for (uint16_t i = 0; i < 20; i++)
		Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, (uint16_t)(43000 + i), 80, SYN), "flood");
	struct nsdp_flowlog_hdr h;
	std::vector<FlowRec> log = TakeFlowLog(dp_, &h);
	ASSERT_EQ(log.size(), 2u) << "the burst";
	EXPECT_EQ(log[0].r.sport, 43000);
	EXPECT_EQ(log[1].r.sport, 43001);
	EXPECT_EQ(h.rate_limited, 18u);
	EXPECT_EQ(st_[0].lc.flowlog_rate_limited, 18u);
	// Every packet was still decided and counted.
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 20}}));
	// Worker 1 has its own budget.
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 44000, 80, SYN), "on worker 1", 1);
	EXPECT_EQ(TakeFlowLog(dp_).size(), 1u);
}

class FlowLogSmallRing : public PolicyWorker {
	std::string ExtraConfig() const override
	{
		return "flow_log = { rate = 100000; burst = 100000; ring = 64; };\n";
	}
};

TEST_F(FlowLogSmallRing, AFullRingDropsAndCountsNewRecords)
{
	Enforce(kPolicyV1);
	for (uint16_t i = 0; i < 70; i++) {
		Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, (uint16_t)(45000 + i), 80, SYN), "deny");
	}
	EXPECT_EQ(st_[0].lc.flowlog_records, 64u);
	EXPECT_EQ(st_[0].lc.flowlog_ring_full, 6u);
	std::vector<FlowRec> log = TakeFlowLog(dp_);
	ASSERT_EQ(log.size(), 64u);
	EXPECT_EQ(log.front().r.sport, 45000);
	EXPECT_EQ(log.back().r.sport, 45063) << "the oldest are kept";
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 46000, 80, SYN), "room again");
	EXPECT_EQ(TakeFlowLog(dp_).size(), 1u);
}

class FlowLogOff : public PolicyWorker {
	std::string ExtraConfig() const override
	{
		return "flow_log = { enabled = false; };\nrule_counters = false;\n";
	}
};

TEST_F(FlowLogOff, NothingLoggedNorCounted)
{
	Enforce(kPolicyV1);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80");
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80");
	EXPECT_TRUE(TakeFlowLog(dp_).empty());
	EXPECT_EQ(st_[0].lc.flowlog_records, 0u);
	EXPECT_EQ(Total(), 0u) << "rule_counters = false";
	EXPECT_EQ(Drops(NSDP_DROP_POLICY_DENY), 1u) << "drops are still counted";
}

// ---- denied connections' share of conntrack --------------------------------------

class DeniedAdmission : public PolicyWorker {
	// 2 workers: each may cache 10 denied connections, 5 at once and 5
	// over timeouts.denied (an hour here: none more during the test).
	const char *TablesConfig() const override { return "denied_entries = 20;"; }
	std::string ExtraConfig() const override { return "timeouts = { denied = 3600; };\n"; }
};

TEST_F(DeniedAdmission, AFloodOfDeniedConnectionsCannotFillConntrack)
{
	Enforce(kPolicyV1);
	const uint32_t ct0 = ct_count(dp_->ct);
	for (uint16_t i = 0; i < 12; i++)
		Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, (uint16_t)(47000 + i), 80, SYN), "denied SYN");
	EXPECT_EQ(ct_count(dp_->ct), ct0 + 5) << "5 denied connections cached, no more";
	EXPECT_EQ(st_[0].lc.ct_denied_uncached, 7u);
	EXPECT_NE(Ct(kWeb2, kApi, 47000, 80, IPPROTO_TCP), nullptr);
	EXPECT_EQ(Ct(kWeb2, kApi, 47011, 80, IPPROTO_TCP), nullptr);
	// The uncached ones are still denied (decided again), and logged as new.
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 47011, 80, SYN), "a retransmission, uncached");
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 13}}));
	std::vector<FlowRec> log = TakeFlowLog(dp_);
	ASSERT_EQ(log.size(), 13u);
	EXPECT_EQ(log.back().r.reason, NSDP_FLOWLOG_NEW);
	// Allowed connections keep getting entries.
	for (uint16_t i = 0; i < 12; i++)
		Pass(POD0, Tcp(kWebMac, kWeb, kApi, (uint16_t)(48000 + i), 80, SYN), POD1, "allowed");
	EXPECT_EQ(ct_count(dp_->ct), ct0 + 5 + 12);
	// A TCP packet that is not a SYN always gets its entry (a mid-stream
	// pickup must be decided in both directions).
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 47100, 80, ACK), "mid-stream, denied both ways");
	EXPECT_NE(Ct(kWeb2, kApi, 47100, 80, IPPROTO_TCP), nullptr);
	// Worker 1 has its own share.
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 47200, 80, SYN), "on worker 1", 1);
	EXPECT_NE(Ct(kWeb2, kApi, 47200, 80, IPPROTO_TCP), nullptr);
	EXPECT_EQ(st_[1].lc.ct_denied_uncached, 0u);
}

class DeniedNeverCached : public PolicyWorker {
	const char *TablesConfig() const override { return "denied_entries = 0;"; }
};

TEST_F(DeniedNeverCached, DeniedSynsGetNoEntry)
{
	Enforce(kPolicyV1);
	const uint32_t ct0 = ct_count(dp_->ct);
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 47000, 80, SYN), "denied SYN");
	Deny(UPLINK, DbTcp(kApi, 50000, 80, SYN), "db -> api:80 (ANP Deny)");
	EXPECT_EQ(ct_count(dp_->ct), ct0);
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 48000, 80, SYN), POD1, "allowed");
	EXPECT_EQ(ct_count(dp_->ct), ct0 + 1);
	EXPECT_EQ(Count(kAnpDeny, true), 1u);
}

// ---- audit mode ------------------------------------------------------------------

const char kAuditMode[] = "  annotations:\n    nsdp.io/policy-mode: audit\n";

// web's egress isolated by an audited NetworkPolicy.
const std::string kLockWebAudit = std::string(R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: lock-web
  namespace: client
)") + kAuditMode + R"(spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes: [Egress]
)";

// An audited ANP denying client's egress to remote.
const std::string kClientEgressAudit = std::string(R"(
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: client-egress
)") + kAuditMode + R"(spec:
  priority: 5
  subject:
    namespaces:
      matchLabels:
        team: client
  egress:
  - name: no-remote
    action: Deny
    to:
    - namespaces:
        matchLabels:
          team: remote
)";

// The cluster with namespace server in audit mode.
std::string ServerNsAudit()
{
	std::string c = kCluster;
	const char *ns = "  name: server\n";
	c.insert(c.find(ns) + strlen(ns), kAuditMode);
	return c;
}

struct pol_result Decide(const struct pol_tables *t, uint32_t src, uint32_t dst, uint16_t port)
{
	struct pol_result r;
	pol_decide(t, src, dst, IPPROTO_TCP, port, &r);
	return r;
}

TEST_F(PolicyWorker, AuditedNetworkPolicyForwardsWhatItWouldDeny)
{
	Enforce(kPolicyV1 + kLockWebAudit);
	const char *lock = "isolated by networkpolicy client/lock-web";
	struct pol_result r = Decide(dp_->policy->t, kWeb, kApi, 80);
	EXPECT_EQ(r.verdict, POL_AUDIT);
	EXPECT_EQ(r.decided_by, POL_EGRESS);
	EXPECT_EQ(r.rule, Rule(lock));
	Pass(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, SYN), POD1, "web -> api:80 (audited)");
	Pass(POD1, Tcp(kApiMac, kApi, kWeb, 80, 40000, SYNACK), POD0, "its reply");
	Pass(POD0, Tcp(kWebMac, kWeb, kDb, 40002, 5432, SYN), UPLINK, "web -> db (audited)");
	// Enforced policies still deny: audit mode only adds.
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40003, 81, SYN), "web -> api:81 (api isolated)");
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), "web2 -> api:80");
	EXPECT_EQ(Counters(), (Counts{{std::string(lock) + "/audited", 3},
				      {"isolated/denied", 2}}));
	const struct ct_entry *e = Ct(kWeb, kApi, 40000, 80, IPPROTO_TCP);
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->verdict, POL_AUDIT);
	std::vector<FlowRec> log = TakeFlowLog(dp_);
	ASSERT_EQ(log.size(), 4u);
	ExpectRec(log[0], kWeb, kApi, 40000, 80, IPPROTO_TCP, NSDP_VERDICT_AUDIT, POL_EGRESS,
		  NSDP_FLOWLOG_NEW, lock, POD0, gen_);
	ExpectRec(log[1], kWeb, kDb, 40002, 5432, IPPROTO_TCP, NSDP_VERDICT_AUDIT, POL_EGRESS,
		  NSDP_FLOWLOG_NEW, lock, POD0, gen_);
	EXPECT_EQ(log[2].r.verdict, POL_DENY);
	EXPECT_EQ(log[3].r.verdict, POL_DENY);
	// Enforcing the same policy denies exactly what the audit logged.
	std::string enforced = kLockWebAudit;
	enforced.erase(enforced.find(kAuditMode), strlen(kAuditMode));
	Enforce(kPolicyV1 + enforced);
	Deny(POD0, Tcp(kWebMac, kWeb, kApi, 40000, 80, ACK), "web -> api:80 enforced");
	Deny(POD0, Tcp(kWebMac, kWeb, kDb, 40002, 5432, ACK), "web -> db enforced");
	EXPECT_EQ(Counters(), (Counts{{"isolated/denied", 2}}));
}

TEST_F(PolicyWorker, AuditedAdminNetworkPolicy)
{
	Enforce(kPolicyV1 + kClientEgressAudit);
	const char *anp = "adminnetworkpolicy client-egress egress[0]";
	struct pol_result r = Decide(dp_->policy->t, kWeb, kDb, 5432);
	EXPECT_EQ(r.verdict, POL_AUDIT);
	EXPECT_EQ(r.rule, Rule(anp));
	Pass(POD0, Tcp(kWebMac, kWeb, kDb, 40002, 5432, SYN), UPLINK, "web -> db (audited ANP)");
	// web2's egress is limited to server by an enforced NetworkPolicy: the
	// audited ANP does not change that deny.
	Deny(POD0, Tcp(kWeb2Mac, kWeb2, kDb, 40003, 5432, SYN), "web2 -> db");
	r = Decide(dp_->policy->t, kWeb2, kDb, 5432);
	EXPECT_EQ(r.verdict, POL_DENY);
	EXPECT_EQ(r.rule, Rule(kIsolated));
	EXPECT_EQ(Counters(), (Counts{{std::string(anp) + "/audited", 1}, {"isolated/denied", 1}}));
}

TEST_F(PolicyWorker, NamespaceAuditModeAndThePolicyThatOverridesIt)
{
	// server's NetworkPolicies are audited: api is no longer isolated by
	// allow-web, so web2 -> api:80 passes and is logged as audit.
	Enforce(kPolicyV1, ServerNsAudit());
	const char *iso = "isolated by networkpolicy server/allow-web";
	struct pol_result r = Decide(dp_->policy->t, kWeb2, kApi, 80);
	EXPECT_EQ(r.verdict, POL_AUDIT);
	EXPECT_EQ(r.rule, Rule(iso));
	r = Decide(dp_->policy->t, kWeb, kApi, 80);
	EXPECT_EQ(r.verdict, POL_ALLOW) << "allowed whether or not the policy is enforced";
	// The ANP is not namespaced: still enforced.
	Deny(UPLINK, DbTcp(kApi, 50000, 80, SYN), "db -> api:80 (ANP Deny)");
	Pass(POD0, Tcp(kWeb2Mac, kWeb2, kApi, 40001, 80, SYN), POD1, "web2 -> api:80 (audited)");
	// A policy's own annotation wins over its namespace's.
	std::string pinned = AllowFrom("allow-web", "web");
	pinned.insert(pinned.find("spec:"), "  annotations:\n    nsdp.io/policy-mode: enforce\n");
	Enforce(std::string(kIsolateClient) + kGuardServer + pinned, ServerNsAudit());
	r = Decide(dp_->policy->t, kWeb2, kApi, 80);
	EXPECT_EQ(r.verdict, POL_DENY);
	EXPECT_EQ(r.rule, Rule(kIsolated));
}

TEST_F(PolicyWorker, PolicyVersion1BlobsStillLoad)
{
	// A policy cache written before audit mode (ranges without audit_rule).
	struct pol_tables *t = Compile(kPolicyV1, 3);
	ASSERT_NE(t, nullptr);
	void *blob = nullptr;
	size_t len = 0;
	ASSERT_EQ(pol_serialize(t, &blob, &len), 0);
	struct nsdp_policy_hdr h;
	memcpy(&h, blob, sizeof(h));
	size_t ranges_at = len - h.names_len - (size_t)h.n_ranges * sizeof(struct nsdp_pol_range);
	std::vector<uint8_t> v1((uint8_t *)blob, (uint8_t *)blob + ranges_at);
	for (uint32_t i = 0; i < h.n_ranges; i++) {
		const uint8_t *rg = (uint8_t *)blob + ranges_at + i * sizeof(struct nsdp_pol_range);
		v1.insert(v1.end(), rg, rg + NSDP_POL_RANGE_V1_SIZE);
	}
	v1.insert(v1.end(), (uint8_t *)blob + len - h.names_len, (uint8_t *)blob + len);
	h.version = 1;
	memcpy(v1.data(), &h, sizeof(h));
	char err[256] = "";
	struct pol_tables *back = pol_deserialize(v1.data(), v1.size(), 3, err, sizeof(err));
	ASSERT_NE(back, nullptr) << err;
	for (uint32_t src : {kWeb, kWeb2, kApi, kDb})
		for (uint32_t dst : {kWeb, kWeb2, kApi, kDb})
			for (uint16_t port : {80, 81, 9090}) {
				struct pol_result a = Decide(t, src, dst, port), b = Decide(back, src, dst, port);
				EXPECT_EQ(a.verdict, b.verdict);
				EXPECT_EQ(a.rule, b.rule);
			}
	free(blob);
	pol_tables_free(t);
	pol_tables_free(back);
}

// ---- the lookup layout (pol_ix) against a reference ----------------------------

// A policy table generated at random, with the plain containers it was made
// from: the reference decides from those, by the rules policy.h states.
struct RandomPolicy {
	std::map<uint32_t, pol_pod> pods;   // address -> pod
	std::vector<uint32_t> cidr_lo, cidr_peer;
	std::map<uint64_t, uint32_t> maps;  // pol_map_key(subject, dir, peer) -> map
	std::vector<uint32_t> dflt;         // subject -> map
	std::vector<std::vector<pol_range>> ranges; // map -> its ranges, sorted
	uint32_t n_rules = 0;
	std::vector<uint32_t> peers;        // peer classes in use

	// The range of (proto, port) in a map: the last one at or below it, the
	// first when none is (pol_side's rule; compiled maps cover every
	// protocol and port, these need not).
	static const pol_range &Lookup(const std::vector<pol_range> &m, uint8_t proto, uint16_t port)
	{
		if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP) {
			proto = POL_PROTO_OTHER;
			port = 0;
		}
		size_t at = 0;
		for (size_t i = 0; i < m.size(); i++)
			if (m[i].proto < proto || (m[i].proto == proto && m[i].lo <= port))
				at = i;
		return m[at];
	}

	uint32_t Peer(uint32_t ip) const
	{
		auto p = pods.find(ip);
		if (p != pods.end())
			return p->second.peer;
		size_t at = 0;
		for (size_t i = 0; i < cidr_lo.size(); i++)
			if (cidr_lo[i] <= ntohl(ip))
				at = i;
		return cidr_peer[at];
	}

	const pol_range *Side(uint32_t subject_ip, uint32_t peer_ip, unsigned dir, uint8_t proto,
			      uint16_t port) const
	{
		auto p = pods.find(subject_ip);
		if (p == pods.end())
			return nullptr;
		uint32_t s = p->second.subject[dir];
		auto m = maps.find(pol_map_key(s, dir, Peer(peer_ip)));
		return &Lookup(ranges[m == maps.end() ? dflt[s] : m->second], proto, port);
	}

	pol_result Decide(uint32_t src, uint32_t dst, uint8_t proto, uint16_t port) const
	{
		const pol_range *eg = Side(src, dst, POL_EGRESS, proto, port);
		const pol_range *in = Side(dst, src, POL_INGRESS, proto, port);
		if (eg && eg->verdict == POL_DENY)
			return {POL_DENY, POL_EGRESS, eg->rule};
		if (in && in->verdict == POL_DENY)
			return {POL_DENY, POL_INGRESS, in->rule};
		if (eg && eg->audit_rule != POL_NONE)
			return {POL_AUDIT, POL_EGRESS, eg->audit_rule};
		if (in && in->audit_rule != POL_NONE)
			return {POL_AUDIT, POL_INGRESS, in->audit_rule};
		if (in)
			return {POL_ALLOW, POL_INGRESS, in->rule};
		if (eg)
			return {POL_ALLOW, POL_EGRESS, eg->rule};
		return {POL_ALLOW, POL_INGRESS, POL_RULE_UNRESTRICTED};
	}

	// Random shapes: maps of 1 to ~60 ranges (so blocks within a line,
	// across lines and past the linear-scan limit), protocols missing from
	// some maps, audit rules, non-pod ranges, pods without a map entry.
	explicit RandomPolicy(std::mt19937 &rng)
	{
		auto rnd = [&rng](uint32_t n) { return (uint32_t)(rng() % n); };
		uint32_t n_subjects = 1 + rnd(40), n_peers = 1 + rnd(60), n_maps = 1 + rnd(60);
		n_rules = POL_RULE_UNRESTRICTED + 1 + rnd(50);
		for (uint32_t i = 0; i < n_peers; i++)
			peers.push_back(rnd(4) ? i : rnd(UINT32_MAX));
		for (uint32_t m = 0; m < n_maps; m++) {
			std::vector<pol_range> r;
			unsigned pieces = rnd(5) == 0 ? 20 + rnd(40) : 1 + rnd(8);
			for (uint8_t proto : {POL_PROTO_OTHER, 6, 17, 132}) {
				if (rnd(4) == 0 && (proto != 132 || !r.empty()))
					continue; // a protocol the map does not list
				std::vector<uint16_t> cuts = {0};
				for (unsigned i = 1; i < pieces; i++)
					cuts.push_back((uint16_t)(1 + rnd(65535)));
				std::sort(cuts.begin(), cuts.end());
				cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
				for (size_t i = 0; i < cuts.size(); i++) {
					pol_range x = {};
					x.proto = proto;
					x.verdict = rnd(2) ? POL_ALLOW : POL_DENY;
					x.lo = cuts[i];
					x.hi = i + 1 < cuts.size() ? (uint16_t)(cuts[i + 1] - 1) : 65535;
					x.rule = rnd(n_rules);
					x.audit_rule = x.verdict == POL_ALLOW && rnd(5) == 0 ? rnd(n_rules) : POL_NONE;
					r.push_back(x);
				}
			}
			ranges.push_back(r);
		}
		for (uint32_t s = 0; s < n_subjects; s++)
			dflt.push_back(rnd(n_maps));
		uint32_t n_keys = rnd(n_subjects * n_peers + 1);
		for (uint32_t i = 0; i < n_keys; i++) {
			uint32_t s = rnd(n_subjects), dir = rnd(2), peer = peers[rnd(n_peers)];
			maps[pol_map_key(s, dir, peer)] = rnd(n_maps);
		}
		uint32_t n_pods = rnd(400);
		for (uint32_t i = 0; i < n_pods; i++) {
			uint32_t ip = htonl(0x0a000000u | rnd(1u << 12));
			pods[ip] = {peers[rnd(n_peers)], {rnd(n_subjects), rnd(n_subjects)}};
		}
		cidr_lo = {0};
		for (uint32_t i = rnd(20); i > 0; i--)
			cidr_lo.push_back(rnd(UINT32_MAX));
		std::sort(cidr_lo.begin(), cidr_lo.end());
		cidr_lo.erase(std::unique(cidr_lo.begin(), cidr_lo.end()), cidr_lo.end());
		for (size_t i = 0; i < cidr_lo.size(); i++)
			cidr_peer.push_back(peers[rnd(n_peers)]);
	}

	// The canonical arrays (as the compiler hands them over), not indexed.
	struct pol_tables *Tables() const
	{
		auto copy = [](const void *p, size_t n) {
			void *d = malloc(n ? n : 1);
			memcpy(d, p, n);
			return d;
		};
		struct pol_tables *t = (struct pol_tables *)calloc(1, sizeof(*t));
		std::vector<uint64_t> keys;
		std::vector<uint32_t> vals;
		std::vector<pol_pod> pv;
		for (const auto &p : pods) {
			keys.push_back(p.first);
			vals.push_back((uint32_t)pv.size());
			pv.push_back(p.second);
		}
		EXPECT_EQ(pol_hash_build(&t->ip, keys.data(), vals.data(), keys.size()), 0);
		t->n_pods = (uint32_t)pv.size();
		t->pods = (pol_pod *)copy(pv.data(), sizeof(pol_pod) * pv.size());
		t->n_cidr = (uint32_t)cidr_lo.size();
		t->cidr_lo = (uint32_t *)copy(cidr_lo.data(), 4 * cidr_lo.size());
		t->cidr_peer = (uint32_t *)copy(cidr_peer.data(), 4 * cidr_peer.size());
		keys.clear();
		vals.clear();
		for (const auto &m : maps) {
			keys.push_back(m.first);
			vals.push_back(m.second);
		}
		EXPECT_EQ(pol_hash_build(&t->maps, keys.data(), vals.data(), keys.size()), 0);
		t->n_subjects = (uint32_t)dflt.size();
		t->default_map = (uint32_t *)copy(dflt.data(), 4 * dflt.size());
		std::vector<uint32_t> first;
		std::vector<pol_range> all;
		for (const auto &r : ranges) {
			first.push_back((uint32_t)all.size());
			all.insert(all.end(), r.begin(), r.end());
		}
		first.push_back((uint32_t)all.size());
		t->n_maps = (uint32_t)ranges.size();
		t->map_first = (uint32_t *)copy(first.data(), 4 * first.size());
		t->n_ranges = (uint32_t)all.size();
		t->ranges = (pol_range *)copy(all.data(), sizeof(pol_range) * all.size());
		t->n_rules = n_rules;
		t->rules = (char **)calloc(n_rules, sizeof(char *));
		for (uint32_t i = 0; i < n_rules; i++)
			t->rules[i] = strdup(("rule " + std::to_string(i)).c_str());
		return t;
	}
};

::testing::AssertionResult Same(const pol_result &want, const pol_result &got)
{
	if (want.verdict == got.verdict && want.decided_by == got.decided_by && want.rule == got.rule)
		return ::testing::AssertionSuccess();
	return ::testing::AssertionFailure()
	       << "want verdict " << (int)want.verdict << " by " << (int)want.decided_by << " rule "
	       << want.rule << ", got " << (int)got.verdict << " by " << (int)got.decided_by
	       << " rule " << got.rule;
}

// pol_decide through pol_ix (built by pol_index and by pol_deserialize),
// through the canonical arrays, and pol_decide_bulk all answer as the
// reference does, on random tables and random packets.
TEST(PolicyIndex, MatchesTheReferenceOnRandomTables)
{
	std::mt19937 rng(20261128);
	auto rnd = [&rng](uint32_t n) { return (uint32_t)(rng() % n); };
	const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, 47};
	uint64_t decided = 0;
	for (int round = 0; round < 300; round++) {
		SCOPED_TRACE("round " + std::to_string(round));
		RandomPolicy rp(rng);
		struct pol_tables *canon = rp.Tables();
		struct pol_tables *ix = rp.Tables();
		ASSERT_EQ(pol_index(ix), 0);
		ASSERT_NE(ix->ix, nullptr);
		void *blob = nullptr;
		size_t len = 0;
		ASSERT_EQ(pol_serialize(canon, &blob, &len), 0);
		char err[256] = "";
		struct pol_tables *wire = pol_deserialize(blob, len, 1, err, sizeof(err));
		free(blob);
		ASSERT_NE(wire, nullptr) << err;
		ASSERT_NE(wire->ix, nullptr);

		std::vector<uint32_t> ips;
		for (const auto &p : rp.pods)
			ips.push_back(p.first);
		auto addr = [&]() -> uint32_t {
			if (!ips.empty() && rnd(3))
				return ips[rnd((uint32_t)ips.size())];
			if (rnd(2)) // near a non-pod range's start
				return htonl(rp.cidr_lo[rnd((uint32_t)rp.cidr_lo.size())] - rnd(2));
			return rnd(2) ? htonl(0x0a000000u | rnd(1u << 12)) : (uint32_t)rng();
		};
		std::vector<pol_query> q(1 + rnd(150));
		for (pol_query &x : q) {
			x.src = addr();
			x.dst = addr();
			x.proto = protos[rnd(5)];
			// ports at and around range boundaries, and anywhere
			const auto &m = rp.ranges[rnd((uint32_t)rp.ranges.size())];
			const pol_range &r = m[rnd((uint32_t)m.size())];
			x.dport = rnd(3) ? (uint16_t)(r.lo + rnd(3) - 1) : (uint16_t)rng();
		}
		std::vector<pol_result> bulk(q.size()), bulk_canon(q.size());
		pol_decide_bulk(wire, q.data(), (unsigned)q.size(), bulk.data());
		pol_decide_bulk(canon, q.data(), (unsigned)q.size(), bulk_canon.data());
		for (size_t i = 0; i < q.size(); i++) {
			const pol_query &x = q[i];
			pol_result want = rp.Decide(x.src, x.dst, x.proto, x.dport), got;
			pol_decide(canon, x.src, x.dst, x.proto, x.dport, &got);
			ASSERT_TRUE(Same(want, got)) << "canonical, query " << i;
			pol_decide(ix, x.src, x.dst, x.proto, x.dport, &got);
			ASSERT_TRUE(Same(want, got)) << "pol_index, query " << i;
			pol_decide(wire, x.src, x.dst, x.proto, x.dport, &got);
			ASSERT_TRUE(Same(want, got)) << "pol_deserialize, query " << i;
			ASSERT_TRUE(Same(want, bulk[i])) << "bulk, query " << i << " of " << q.size();
			ASSERT_TRUE(Same(want, bulk_canon[i])) << "bulk canonical, query " << i;
			decided++;
		}
		pol_tables_free(canon);
		pol_tables_free(ix);
		pol_tables_free(wire);
	}
	EXPECT_GT(decided, 10000u);
}

// The compiled test cluster under each policy of this file: every pair of
// addresses (pods, a remote pod, outside the cluster), ports around the
// rules', three protocols: the indexed tables answer as the canonical ones.
TEST(PolicyIndex, CompiledPoliciesAnswerAsTheCanonicalArrays)
{
	const uint32_t addrs[] = {kWeb, kApi, kWeb2, kDb, ip4("10.244.2.9"), ip4("8.8.8.8"),
				  ip4("192.168.100.2")};
	for (const std::string &pol :
	     {std::string(), kPolicyV1, kPolicyV1b, kPolicyV2, kPolicyV1 + kLockWebAudit,
	      kPolicyV1 + kClientEgressAudit}) {
		struct k8s_cluster cl;
		memset(&cl, 0, sizeof(cl));
		std::string text = std::string(kCluster) + pol;
		ASSERT_EQ(k8s_load_buffer("c.yaml", text.data(), text.size(), &cl, nullptr, nullptr), 0);
		struct pol_tables *canon = pol_compile(&cl, 1), *ix = pol_compile(&cl, 1);
		k8s_cluster_free(&cl);
		ASSERT_NE(canon, nullptr);
		ASSERT_NE(ix, nullptr);
		ASSERT_EQ(pol_index(ix), 0);
		for (uint32_t src : addrs)
			for (uint32_t dst : addrs)
				for (uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP})
					for (uint16_t port : {0, 52, 53, 54, 79, 80, 81, 5432, 9090, 65535}) {
						pol_result a, b;
						pol_decide(canon, src, dst, proto, port, &a);
						pol_decide(ix, src, dst, proto, port, &b);
						ASSERT_TRUE(Same(a, b));
					}
		pol_tables_free(canon);
		pol_tables_free(ix);
	}
}

} // namespace

// pol_hash_insert / pol_hash_remove (the compiler's pods-only path
// changes its kept tables in place) against std::map, on random keys from
// a small range (long probe runs, wrap-around at the table's end, keys
// removed and re-inserted) through several doublings; the table is
// checked whole (every key of the range) after every step.
TEST(PolicyHash, InsertAndRemoveMatchAMap)
{
	uint64_t seed = std::random_device{}();
	printf("policy hash seed: %llu\n", (unsigned long long)seed);
	std::mt19937_64 rng(seed);
	for (int round = 0; round < 20; round++) {
		std::map<uint64_t, uint32_t> ref;
		pol_hash h = {};
		uint64_t range = 8 + rng() % 300;
		std::vector<uint64_t> keys;
		for (uint64_t k = 0; k < range; k++)
			keys.push_back(rng() % 2 ? k : rng()); // dense and scattered
		ASSERT_EQ(pol_hash_build(&h, nullptr, nullptr, 0), 0);
		for (int step = 0; step < 600; step++) {
			uint64_t k = keys[rng() % range];
			if (rng() % 3) {
				uint32_t v = (uint32_t)(rng() % 1000);
				ASSERT_EQ(pol_hash_insert(&h, k, v), 0);
				ref[k] = v;
			} else {
				pol_hash_remove(&h, k);
				ref.erase(k);
			}
			ASSERT_EQ(h.n, ref.size()) << "seed " << seed << " round " << round;
			ASSERT_LE(h.n * 2ull, h.mask + 1ull);
			for (uint64_t q : keys) {
				auto it = ref.find(q);
				ASSERT_EQ(pol_hash_get(&h, q), it == ref.end() ? POL_NONE : it->second)
					<< "seed " << seed << " round " << round << " step " << step
					<< " key " << q;
			}
		}
		free(h.keys);
		free(h.vals);
	}
}
