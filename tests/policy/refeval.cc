/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference evaluator: see refeval.h. Quotations marked [NP], [LS], [ANP]
 * are from the API references listed there; [BRIEF] is the design brief.
 */
#include "refeval.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

/* ------------------------------------------------------------------ */
/* Small lookups                                                       */
/* ------------------------------------------------------------------ */

static const char *label_value(const k8s_labels &labels, const char *key)
{
	for (unsigned i = 0; i < labels.n; i++)
		if (strcmp(labels.kv[i].key, key) == 0)
			return labels.kv[i].value;
	return nullptr;
}

/*
 * A namespace's labels. A pod whose Namespace object is unknown is treated
 * as living in a namespace without labels (an empty namespaceSelector
 * still selects it; any non-empty one does not).
 */
static const k8s_labels &ns_labels(const k8s_cluster &cl, const char *ns)
{
	static const k8s_labels none = {0, nullptr};
	for (unsigned i = 0; i < cl.n_namespaces; i++)
		if (strcmp(cl.namespaces[i].name, ns) == 0)
			return cl.namespaces[i].labels;
	return none;
}

static bool in_cidr(uint32_t ip_net, const k8s_cidr &c)
{
	uint32_t ip = ntohl(ip_net), net = ntohl(c.addr);
	uint32_t mask = c.len == 0 ? 0 : (c.len >= 32 ? 0xffffffffu : ~(0xffffffffu >> c.len));
	return (ip & mask) == (net & mask);
}

/* ------------------------------------------------------------------ */
/* Label selectors [LS]                                                */
/* ------------------------------------------------------------------ */

/*
 * [LS] "matchLabels is a map of {key,value} pairs. A single {key,value} in
 * the matchLabels map is equivalent to an element of matchExpressions,
 * whose key field is "key", the operator is "In", and the values array
 * contains only "value". The requirements are ANDed."
 * [LS] "An empty label selector matches all objects."
 * Operators (k8s.io/apimachinery labels.Requirement.Matches):
 *   In            key present and value in the set
 *   NotIn         key absent, or value not in the set
 *   Exists        key present
 *   DoesNotExist  key absent
 * Callers handle a missing (present=false) selector themselves: what
 * "missing" means differs per field.
 */
static bool selector_matches(const k8s_selector &sel, const k8s_labels &labels)
{
	for (unsigned i = 0; i < sel.match_labels.n; i++) {
		const char *v = label_value(labels, sel.match_labels.kv[i].key);
		if (!v || strcmp(v, sel.match_labels.kv[i].value) != 0)
			return false;
	}
	for (unsigned i = 0; i < sel.n_exprs; i++) {
		const k8s_sel_req &r = sel.exprs[i];
		const char *v = label_value(labels, r.key);
		bool in_set = false;
		if (v)
			for (unsigned j = 0; j < r.n_values; j++)
				if (strcmp(v, r.values[j]) == 0)
					in_set = true;
		bool ok = false;
		switch (r.op) {
		case K8S_SEL_IN: ok = v && in_set; break;
		case K8S_SEL_NOT_IN: ok = !v || !in_set; break;
		case K8S_SEL_EXISTS: ok = v != nullptr; break;
		case K8S_SEL_DOES_NOT_EXIST: ok = v == nullptr; break;
		}
		if (!ok)
			return false;
	}
	return true;
}

/*
 * For fields that are required by the API and whose Go type is a value,
 * not a pointer (NetworkPolicy spec.podSelector; the ANP subject and peer
 * selectors): omitting them in YAML decodes to the empty selector, which
 * selects everything.
 */
static bool required_selector_matches(const k8s_selector &sel, const k8s_labels &labels)
{
	return !sel.present || selector_matches(sel, labels);
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                           */
/* ------------------------------------------------------------------ */

Endpoint Endpoint::of_pod(const k8s_cluster &cl, unsigned idx)
{
	Endpoint e;
	e.pod = (int)idx;
	if (idx < cl.n_pods && cl.pods[idx].n_ips > 0) {
		e.has_ip = true;
		e.ip = cl.pods[idx].ips[0];
	}
	return e;
}

Endpoint Endpoint::of_ip(const k8s_cluster &cl, uint32_t ip_net)
{
	Endpoint e;
	e.has_ip = true;
	e.ip = ip_net;
	for (unsigned i = 0; i < cl.n_pods && e.pod < 0; i++)
		for (unsigned j = 0; j < cl.pods[i].n_ips; j++)
			if (cl.pods[i].ips[j] == ip_net) {
				e.pod = (int)i;
				break;
			}
	return e;
}

bool resolve_endpoint(const k8s_cluster &cl, const std::string &text, Endpoint *ep)
{
	struct in_addr a;
	if (inet_pton(AF_INET, text.c_str(), &a) == 1) {
		*ep = Endpoint::of_ip(cl, a.s_addr);
		return true;
	}
	size_t slash = text.find('/');
	if (slash == std::string::npos)
		return false;
	std::string ns = text.substr(0, slash), name = text.substr(slash + 1);
	for (unsigned i = 0; i < cl.n_pods; i++)
		if (ns == cl.pods[i].ns && name == cl.pods[i].name) {
			*ep = Endpoint::of_pod(cl, i);
			return true;
		}
	return false;
}

std::string endpoint_name(const k8s_cluster &cl, const Endpoint &ep)
{
	if (ep.is_pod())
		return std::string(cl.pods[ep.pod].ns) + "/" + cl.pods[ep.pod].name;
	char buf[INET_ADDRSTRLEN] = "?";
	if (ep.has_ip) {
		struct in_addr a;
		a.s_addr = ep.ip;
		inet_ntop(AF_INET, &a, buf, sizeof buf);
	}
	return buf;
}

/*
 * Named ports resolve against the destination pod of the connection
 * ([NP] port: "This can either be a numerical or named port on a pod";
 * [ANP] namedPort: "selects a port on a pod(s) based on name"): it matches
 * when that pod declares a container port with this name, the packet's
 * protocol and the packet's port number. No destination pod: no match.
 */
static bool named_port_matches(const k8s_cluster &cl, const Endpoint &dst, const char *name,
			       uint16_t port, uint8_t proto)
{
	if (!dst.is_pod() || !name)
		return false;
	const k8s_pod &p = cl.pods[dst.pod];
	for (unsigned i = 0; i < p.n_ports; i++) {
		const k8s_container_port &cp = p.ports[i];
		if (cp.name && strcmp(cp.name, name) == 0 && cp.proto == proto && cp.port == port)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* NetworkPolicy [NP]                                                  */
/* ------------------------------------------------------------------ */

/*
 * [NP] NetworkPolicyPort.protocol: "If not specified, this field defaults
 * to TCP" (the loader fills the default). port: "If this field is not
 * provided, this matches all port names and numbers. If present, only
 * traffic on the specified protocol AND port will be matched." endPort:
 * "the range of ports from port to endPort, inclusive".
 */
static bool np_port_matches(const k8s_cluster &cl, const k8s_np_port &p, const Endpoint &dst,
			    uint16_t port, uint8_t proto)
{
	if (p.proto != proto)
		return false;
	if (!p.has_port)
		return true;
	if (p.named)
		return named_port_matches(cl, dst, p.name, port, proto);
	if (p.has_end)
		return p.port <= port && port <= p.end_port;
	return p.port == port;
}

/*
 * [NP] NetworkPolicyPeer:
 *  ipBlock: "selects particular IP CIDR ranges to allow"; except: CIDRs
 *    "that should not be included within an IPBlock". [BRIEF]: matched
 *    against any address the packet carries, pod IPs included.
 *  podSelector: "If namespaceSelector is also set, then the
 *    NetworkPolicyPeer as a whole selects the pods matching podSelector in
 *    the Namespaces selected by NamespaceSelector. Otherwise it selects the
 *    pods matching podSelector in the policy's own namespace."
 *  namespaceSelector: "if present but empty, it selects all namespaces.
 *    If podSelector is also set, then ... selects the pods matching
 *    podSelector in the namespaces selected by namespaceSelector.
 *    Otherwise it selects all pods in the namespaces selected by
 *    namespaceSelector."
 * Selector peers select pods only: a non-pod address never matches them.
 * A peer with none of the three set is invalid in the API; it matches
 * nothing here.
 */
static bool np_peer_matches(const k8s_cluster &cl, const k8s_netpol &pol, const k8s_np_peer &peer,
			    const Endpoint &p)
{
	if (peer.has_ip_block) {
		if (!p.has_ip || !in_cidr(p.ip, peer.cidr))
			return false;
		for (unsigned i = 0; i < peer.n_except; i++)
			if (in_cidr(p.ip, peer.except[i]))
				return false;
		return true;
	}
	if (!p.is_pod())
		return false;
	const k8s_pod &pod = cl.pods[p.pod];
	if (!peer.pod_sel.present && !peer.ns_sel.present)
		return false;
	if (peer.ns_sel.present) {
		if (!selector_matches(peer.ns_sel, ns_labels(cl, pod.ns)))
			return false;
	} else if (strcmp(pod.ns, pol.ns) != 0) {
		return false;
	}
	if (peer.pod_sel.present && !selector_matches(peer.pod_sel, pod.labels))
		return false;
	return true;
}

/*
 * [NP] from/to: "If this field is empty or missing, this rule matches all
 * sources/destinations ... If this field is present and contains at least
 * one item, this rule allows traffic only if the traffic matches at least
 * one item". ports: "If this field is empty or missing, this rule matches
 * all ports ... If this field is present and contains at least one item,
 * then this rule allows traffic only if the traffic matches at least one
 * port in the list."
 */
static bool np_rule_matches(const k8s_cluster &cl, const k8s_netpol &pol, const k8s_np_rule &r,
			    const Endpoint &peer, const Endpoint &dst, uint16_t port, uint8_t proto)
{
	bool peer_ok = !r.has_peers || r.n_peers == 0;
	for (unsigned i = 0; !peer_ok && i < r.n_peers; i++)
		peer_ok = np_peer_matches(cl, pol, r.peers[i], peer);
	if (!peer_ok)
		return false;
	bool port_ok = !r.has_ports || r.n_ports == 0;
	for (unsigned i = 0; !port_ok && i < r.n_ports; i++)
		port_ok = np_port_matches(cl, r.ports[i], dst, port, proto);
	return port_ok;
}

/* ------------------------------------------------------------------ */
/* AdminNetworkPolicy / BaselineAdminNetworkPolicy [ANP]               */
/* ------------------------------------------------------------------ */

/*
 * [ANP] subject: "namespaces" selects all pods of the selected
 * namespaces; "pods" selects pods matching podSelector in namespaces
 * matching namespaceSelector. Peers: the same, plus egress "networks"
 * (CIDRs; [BRIEF]: any address, pod IPs included). Selector peers never
 * match a non-pod address.
 */
static bool anp_selects(const k8s_cluster &cl, const k8s_anp_peer &sel, const Endpoint &e)
{
	if (sel.kind == K8S_ANP_NETWORKS) {
		if (!e.has_ip)
			return false;
		for (unsigned i = 0; i < sel.n_networks; i++)
			if (in_cidr(e.ip, sel.networks[i]))
				return true;
		return false;
	}
	if (!e.is_pod())
		return false;
	const k8s_pod &pod = cl.pods[e.pod];
	if (!required_selector_matches(sel.ns_sel, ns_labels(cl, pod.ns)))
		return false;
	if (sel.kind == K8S_ANP_PODS && !required_selector_matches(sel.pod_sel, pod.labels))
		return false;
	return true;
}

/*
 * [ANP] AdminNetworkPolicyPort: portNumber {protocol, port}; portRange
 * {protocol, start, end} (inclusive, [BRIEF]); namedPort "selects a port
 * on a pod(s) based on name" (protocol: the named container port's).
 * [ANP] ports: "If Ports is not set then the rule does not filter traffic
 * via port." (An empty list is treated the same.)
 */
static bool anp_port_matches(const k8s_cluster &cl, const k8s_anp_port &p, const Endpoint &dst,
			     uint16_t port, uint8_t proto)
{
	switch (p.kind) {
	case K8S_ANP_PORT_NUMBER:
		return p.proto == proto && p.port == port;
	case K8S_ANP_PORT_RANGE:
		return p.proto == proto && p.port <= port && port <= p.end;
	case K8S_ANP_PORT_NAMED:
		return named_port_matches(cl, dst, p.name, port, proto);
	}
	return false;
}

static bool anp_rule_matches(const k8s_cluster &cl, const k8s_anp_rule &r, const Endpoint &peer,
			     const Endpoint &dst, uint16_t port, uint8_t proto)
{
	bool peer_ok = false;
	for (unsigned i = 0; !peer_ok && i < r.n_peers; i++)
		peer_ok = anp_selects(cl, r.peers[i], peer);
	if (!peer_ok)
		return false;
	bool port_ok = !r.has_ports || r.n_ports == 0;
	for (unsigned i = 0; !port_ok && i < r.n_ports; i++)
		port_ok = anp_port_matches(cl, r.ports[i], dst, port, proto);
	return port_ok;
}

/* ------------------------------------------------------------------ */
/* One side                                                            */
/* ------------------------------------------------------------------ */

static const char *dir_name(RefDir d) { return d == RefDir::Ingress ? "ingress" : "egress"; }

enum class AnpOutcome { NoMatch, Allow, Deny, Pass };

/* First matching rule of one (B)ANP for this side; *idx gets its index. */
static AnpOutcome anp_first_match(const k8s_cluster &cl, const k8s_anp &a, RefDir dir,
				  const Endpoint &peer, const Endpoint &dst, uint16_t port,
				  uint8_t proto, unsigned *idx)
{
	unsigned n = dir == RefDir::Ingress ? a.n_ingress : a.n_egress;
	const k8s_anp_rule *rules = dir == RefDir::Ingress ? a.ingress_rules : a.egress_rules;
	for (unsigned i = 0; i < n; i++) {
		if (!anp_rule_matches(cl, rules[i], peer, dst, port, proto))
			continue;
		*idx = i;
		switch (rules[i].action) {
		case K8S_ANP_ALLOW: return AnpOutcome::Allow;
		case K8S_ANP_DENY: return AnpOutcome::Deny;
		case K8S_ANP_PASS: return AnpOutcome::Pass;
		}
	}
	return AnpOutcome::NoMatch;
}

static std::string rule_name(const char *kind, const std::string &obj, RefDir dir, unsigned i)
{
	return std::string(kind) + " " + obj + " " + dir_name(dir) + "[" + std::to_string(i) + "]";
}

RefVerdict ref_decide_side(const k8s_cluster &cl, const Endpoint &subject, RefDir dir,
			   const Endpoint &peer, uint16_t port, uint8_t proto)
{
	const k8s_pod &s = cl.pods[subject.pod];
	/* The destination of the packet: where named ports are looked up. */
	const Endpoint &dst = dir == RefDir::Ingress ? subject : peer;

	/*
	 * Tier 1: AdminNetworkPolicies selecting the subject. [ANP] priority:
	 * "Rules with lower priority values have higher precedence, and are
	 * checked before rules with higher priority values." Within one ANP:
	 * "determined by the order in which the rule is written". Equal
	 * priorities are undefined in the API; we order them by name
	 * (ascending) so that the outcome is deterministic. [ANP] Pass:
	 * "skip any remaining ANP rules, and then pass execution to any
	 * NetworkPolicies that select the pod".
	 */
	std::vector<const k8s_anp *> anps;
	const k8s_anp *banp = nullptr;
	for (unsigned i = 0; i < cl.n_anps; i++) {
		const k8s_anp &a = cl.anps[i];
		if (!anp_selects(cl, a.subject, subject))
			continue;
		if (a.baseline) {
			/* At most one BANP ("default"); if several, the first by name. */
			if (!banp || strcmp(a.name, banp->name) < 0)
				banp = &a;
		} else {
			anps.push_back(&a);
		}
	}
	std::sort(anps.begin(), anps.end(), [](const k8s_anp *a, const k8s_anp *b) {
		if (a->priority != b->priority)
			return a->priority < b->priority;
		return strcmp(a->name, b->name) < 0;
	});
	for (const k8s_anp *a : anps) {
		unsigned idx = 0;
		AnpOutcome o = anp_first_match(cl, *a, dir, peer, dst, port, proto, &idx);
		if (o == AnpOutcome::NoMatch)
			continue;
		if (o == AnpOutcome::Pass)
			break;
		return {o == AnpOutcome::Allow, rule_name("adminnetworkpolicy", a->name, dir, idx)};
	}

	/*
	 * Tier 2: NetworkPolicies of the subject's namespace whose podSelector
	 * selects it and whose policyTypes include this direction. [NP]
	 * ingress: "Traffic is allowed to a pod if there are no
	 * NetworkPolicies selecting the pod ..., OR if the traffic matches at
	 * least one ingress rule across all of the NetworkPolicy objects whose
	 * podSelector matches the pod. If this field is empty then this
	 * NetworkPolicy does not allow any traffic (and serves solely to
	 * ensure that the pods it selects are isolated by default)." (egress:
	 * the same.) policyTypes: "If this field is not specified, it will
	 * default based on the existence of Ingress or Egress rules" - the
	 * loader resolves that into pol.ingress / pol.egress. Reported rule:
	 * the first matching one, policies in name order.
	 */
	std::vector<const k8s_netpol *> nps;
	for (unsigned i = 0; i < cl.n_netpols; i++) {
		const k8s_netpol &np = cl.netpols[i];
		if (strcmp(np.ns, s.ns) != 0)
			continue;
		if (!(dir == RefDir::Ingress ? np.ingress : np.egress))
			continue;
		/* [NP] podSelector: "An empty podSelector matches all pods in this namespace." */
		if (!required_selector_matches(np.pod_sel, s.labels))
			continue;
		nps.push_back(&np);
	}
	if (!nps.empty()) {
		std::sort(nps.begin(), nps.end(), [](const k8s_netpol *a, const k8s_netpol *b) {
			return strcmp(a->name, b->name) < 0;
		});
		for (const k8s_netpol *np : nps) {
			unsigned n = dir == RefDir::Ingress ? np->n_ingress : np->n_egress;
			const k8s_np_rule *rules =
				dir == RefDir::Ingress ? np->ingress_rules : np->egress_rules;
			for (unsigned i = 0; i < n; i++)
				if (np_rule_matches(cl, *np, rules[i], peer, dst, port, proto))
					return {true, rule_name("networkpolicy",
								std::string(np->ns) + "/" + np->name,
								dir, i)};
		}
		return {false, "isolated"};
	}

	/*
	 * Tier 3: the BaselineAdminNetworkPolicy, [ANP] Pass: "If the pod is
	 * not selected by any NetworkPolicies then execution is passed to any
	 * BaselineAdminNetworkPolicies that select the pod." First matching
	 * rule decides; nothing matching: the cluster default, allow.
	 */
	if (banp) {
		unsigned idx = 0;
		AnpOutcome o = anp_first_match(cl, *banp, dir, peer, dst, port, proto, &idx);
		if (o == AnpOutcome::Allow || o == AnpOutcome::Deny)
			return {o == AnpOutcome::Allow,
				rule_name("baselineadminnetworkpolicy", banp->name, dir, idx)};
		/* Pass is not a BANP action; a loader that let one through: ignore it. */
	}
	return {true, "default-allow"};
}

RefVerdict ref_decide(const k8s_cluster &cl, const Endpoint &src, const Endpoint &dst,
		      uint16_t port, uint8_t proto)
{
	RefVerdict eg = {true, "unrestricted"}, in = {true, "unrestricted"};
	if (src.is_pod())
		eg = ref_decide_side(cl, src, RefDir::Egress, dst, port, proto);
	if (dst.is_pod())
		in = ref_decide_side(cl, dst, RefDir::Ingress, src, port, proto);
	if (!eg.allow)
		return eg;
	if (!in.allow)
		return in;
	return dst.is_pod() ? in : eg;
}

/* ------------------------------------------------------------------ */
/* expected.txt                                                        */
/* ------------------------------------------------------------------ */

uint8_t proto_from_name(const std::string &name)
{
	if (name == "TCP")
		return K8S_PROTO_TCP;
	if (name == "UDP")
		return K8S_PROTO_UDP;
	if (name == "SCTP")
		return K8S_PROTO_SCTP;
	return 0;
}

const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case K8S_PROTO_TCP: return "TCP";
	case K8S_PROTO_UDP: return "UDP";
	case K8S_PROTO_SCTP: return "SCTP";
	}
	return "?";
}

static std::vector<std::string> split_ws(const std::string &s)
{
	std::istringstream in(s);
	std::vector<std::string> v;
	std::string w;
	while (in >> w)
		v.push_back(w);
	return v;
}

std::vector<ExpectedCell> parse_expected(const std::string &path, std::string *err)
{
	std::vector<ExpectedCell> cells;
	std::ifstream f(path);
	auto fail = [&](int line, const std::string &what) {
		if (err)
			*err = path + ":" + std::to_string(line) + ": " + what;
		return std::vector<ExpectedCell>();
	};
	if (!f)
		return fail(0, "cannot open");
	enum { WANT_BLOCK, WANT_HEADER, ROWS } st = WANT_BLOCK;
	uint16_t port = 0;
	uint8_t proto = 0;
	std::vector<std::string> cols;
	std::string line;
	int ln = 0, blocks = 0, rows = 0;
	while (std::getline(f, line)) {
		ln++;
		std::vector<std::string> w = split_ws(line);
		if (!w.empty() && w[0][0] == '#')
			continue;
		if (w.empty()) {
			if (st == WANT_HEADER)
				return fail(ln, "block without a header");
			if (st == ROWS && rows == 0)
				return fail(ln, "block without rows");
			st = WANT_BLOCK;
			continue;
		}
		/* A port line may also end a block directly. */
		size_t sl = w[0].find('/');
		bool is_port_line = w.size() == 1 && sl != std::string::npos && sl > 0 &&
				    std::all_of(w[0].begin(), w[0].begin() + sl, ::isdigit);
		if (is_port_line && st == ROWS && rows > 0)
			st = WANT_BLOCK;
		if (st == WANT_BLOCK) {
			if (!is_port_line)
				return fail(ln, "expected PORT/PROTO, got '" + line + "'");
			unsigned long p = strtoul(w[0].substr(0, sl).c_str(), nullptr, 10);
			proto = proto_from_name(w[0].substr(sl + 1));
			if (p == 0 || p > 65535 || proto == 0)
				return fail(ln, "bad PORT/PROTO '" + w[0] + "'");
			port = (uint16_t)p;
			st = WANT_HEADER;
			blocks++;
		} else if (st == WANT_HEADER) {
			if (w[0] != "-" || w.size() < 2)
				return fail(ln, "header must be '-' then destination columns");
			cols.assign(w.begin() + 1, w.end());
			st = ROWS;
			rows = 0;
		} else {
			if (w.size() != cols.size() + 1)
				return fail(ln, "row has " + std::to_string(w.size() - 1) +
							" cells, header has " + std::to_string(cols.size()));
			for (size_t i = 1; i < w.size(); i++) {
				if (w[i] != "." && w[i] != "X")
					return fail(ln, "cell '" + w[i] + "' is neither '.' nor 'X'");
				cells.push_back({port, proto, w[0], cols[i - 1], w[i] == ".", ln});
			}
			rows++;
		}
	}
	if (st == WANT_HEADER || (st == ROWS && rows == 0))
		return fail(ln, "truncated block");
	if (blocks == 0)
		return fail(ln, "no PORT/PROTO block");
	if (err)
		err->clear();
	return cells;
}
