/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference evaluator of Kubernetes network policy.
 *
 * A direct, slow, obviously correct reading of the API reference over a
 * k8s_cluster (agent/k8s.h): no indexes, no compilation, no caching. Every
 * decision walks the objects exactly as the API documents describe them.
 * It is the oracle that the compiled dataplane tables (`nsdpctl policy
 * reach`) and the hand-written conformance matrices are checked against;
 * the semantics it implements are summarised in tests/policy/README.md.
 *
 * It deliberately uses none of the agent's helpers (not even
 * k8s_selector_matches) so that a bug there cannot hide here.
 *
 * Sources cited in refeval.cc:
 *   [NP]   networking.k8s.io/v1 NetworkPolicy API reference
 *          https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/
 *   [LS]   metav1.LabelSelector
 *          https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/label-selector/
 *   [ANP]  policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy and
 *          BaselineAdminNetworkPolicy API reference
 *          https://network-policy-api.sigs.k8s.io/reference/spec/
 *   [BRIEF] /work/shared/design-brief.md, "Policy semantics (decided)".
 *
 * Not thread-safe with respect to a cluster being modified; otherwise pure.
 */
#ifndef NSDP_TESTS_REFEVAL_H
#define NSDP_TESTS_REFEVAL_H

#include <cstdint>
#include <string>
#include <vector>

#include "k8s.h"

/*
 * One end of a connection: a pod (index into cl.pods) or a bare IPv4
 * address. An address equal to a pod's IP is that pod (of_ip resolves it).
 * For a pod, `ip` is the address the packet carries (its first IP), which
 * ipBlock and ANP `networks` match ([BRIEF]: ipBlock matches pod IPs).
 */
struct Endpoint {
	int pod = -1;        /* index into cl.pods, -1: not a pod */
	bool has_ip = false;
	uint32_t ip = 0;     /* network order */

	static Endpoint of_pod(const k8s_cluster &cl, unsigned idx);
	static Endpoint of_ip(const k8s_cluster &cl, uint32_t ip_net);
	bool is_pod() const { return pod >= 0; }
};

/*
 * Resolve "ns/name" (a pod) or a dotted IPv4 address. Returns false (and
 * leaves *ep alone) when the pod does not exist or the text is neither.
 */
bool resolve_endpoint(const k8s_cluster &cl, const std::string &text, Endpoint *ep);

/* A readable name: "ns/name" for pods, the dotted address otherwise. */
std::string endpoint_name(const k8s_cluster &cl, const Endpoint &ep);

/*
 * The verdict, and the rule that decided it:
 *   "adminnetworkpolicy NAME ingress[i]" / "... egress[i]"
 *   "networkpolicy NS/NAME ingress[i]"   / "... egress[i]"
 *   "isolated"              (selected by a NetworkPolicy, no rule matched)
 *   "baselineadminnetworkpolicy NAME ingress[i]" / "... egress[i]"
 *   "default-allow"         (nothing applies)
 *   "unrestricted"          (no pod on either side: nothing to evaluate)
 */
struct RefVerdict {
	bool allow;
	std::string rule;
};

enum class RefDir { Ingress, Egress };

/*
 * One side: may `peer` talk to `subject` (ingress) / may `subject` talk to
 * `peer` (egress), on the destination port/proto. subject must be a pod.
 */
RefVerdict ref_decide_side(const k8s_cluster &cl, const Endpoint &subject, RefDir dir,
			   const Endpoint &peer, uint16_t port, uint8_t proto);

/*
 * The whole connection src -> dst:port/proto. Allowed iff the egress side
 * (when src is a pod) and the ingress side (when dst is a pod) both allow.
 * The rule reported: the egress side's if it denies; else the ingress
 * side's if it denies; else (allowed) the ingress side's when dst is a pod,
 * the egress side's otherwise.
 */
RefVerdict ref_decide(const k8s_cluster &cl, const Endpoint &src, const Endpoint &dst,
		      uint16_t port, uint8_t proto);

/* ---- conformance matrices (tests/policy/conformance/NNN-name/expected.txt) ---- */

/*
 * One cell of an expected.txt matrix. src/dst are endpoint names as written
 * ("x/a", or a dotted IPv4 address); proto is K8S_PROTO_*.
 */
struct ExpectedCell {
	uint16_t port;
	uint8_t proto;
	std::string src;
	std::string dst;
	bool allow;
	int line; /* line in expected.txt, for messages */
};

/*
 * Parse expected.txt. Format (one or more blocks; '#' starts a comment line,
 * blank lines separate blocks):
 *
 *   80/TCP
 *   -   x/a x/b ...        <- header: "-" then the destination columns
 *   x/a .   X   ...        <- one row per source: "." allowed, "X" denied
 *
 * Cells come back block by block, row by row, column by column (the order
 * probes.txt uses). On a malformed file returns an empty vector and sets
 * *err (when given) to "path:line: what".
 */
std::vector<ExpectedCell> parse_expected(const std::string &path, std::string *err = nullptr);

/* "TCP" / "UDP" / "SCTP" <-> K8S_PROTO_*; 0 for an unknown name. */
uint8_t proto_from_name(const std::string &name);
const char *proto_name(uint8_t proto);

#endif
