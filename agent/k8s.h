/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's Kubernetes object model: the parts of Namespace, Pod,
 * networking.k8s.io/v1 NetworkPolicy and policy.networking.k8s.io/v1alpha1
 * AdminNetworkPolicy / BaselineAdminNetworkPolicy that network policy needs,
 * and the loader that reads them from manifest files.
 *
 * "Missing" and "empty" are different things in the API and are kept apart
 * here: every optional list or selector has a `has_*` / `present` flag.
 *
 * Ownership: a k8s_cluster owns every string and array reachable from it;
 * k8s_cluster_free() releases them. Single-threaded (the agent's sync
 * thread, nsdpctl).
 */
#ifndef NSDP_AGENT_K8S_H
#define NSDP_AGENT_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define K8S_PROTO_TCP 6
#define K8S_PROTO_UDP 17
#define K8S_PROTO_SCTP 132

struct k8s_label {
	char *key;
	char *value;
};

struct k8s_labels {
	unsigned n;
	struct k8s_label *kv; /* keys unique */
};

enum k8s_sel_op { K8S_SEL_IN, K8S_SEL_NOT_IN, K8S_SEL_EXISTS, K8S_SEL_DOES_NOT_EXIST };

struct k8s_sel_req {
	char *key;
	enum k8s_sel_op op;
	unsigned n_values;
	char **values;
};

/*
 * metav1.LabelSelector. present=false: the field was absent. A present
 * selector with no labels and no expressions selects everything.
 */
struct k8s_selector {
	bool present;
	struct k8s_labels match_labels;
	unsigned n_exprs;
	struct k8s_sel_req *exprs;
};

/*
 * Policy audit mode (docs/policy.md): the annotation nsdp.io/policy-mode,
 * "enforce" or "audit", on a NetworkPolicy, AdminNetworkPolicy or
 * BaselineAdminNetworkPolicy; on a Namespace it is the default of the
 * NetworkPolicies in it. An audited policy is evaluated and logged as if
 * enforced, and what it alone would deny is forwarded.
 */
#define K8S_ANNOTATION_POLICY_MODE "nsdp.io/policy-mode"
enum k8s_policy_mode { K8S_MODE_UNSET, K8S_MODE_ENFORCE, K8S_MODE_AUDIT };

struct k8s_namespace {
	char *name;
	struct k8s_labels labels;
	uint8_t mode; /* enum k8s_policy_mode: default of its NetworkPolicies */
	char *src; /* "file:line" it was loaded from (may be NULL) */
};

struct k8s_container_port {
	char *name; /* may be NULL */
	uint16_t port;
	uint8_t proto; /* K8S_PROTO_*; default TCP */
};

struct k8s_pod {
	char *ns;
	char *name;
	struct k8s_labels labels;
	char *node;     /* spec.nodeName, may be NULL */
	unsigned n_ips; /* status.podIPs (or podIP); IPv4 only for now */
	uint32_t *ips;  /* network order */
	unsigned n_ports;
	struct k8s_container_port *ports; /* all containers' ports */
	char *src; /* "file:line" it was loaded from (may be NULL) */
};

struct k8s_cidr {
	uint32_t addr; /* network order, host bits zero */
	uint8_t len;
};

/* NetworkPolicyPort */
struct k8s_np_port {
	uint8_t proto;  /* default TCP */
	bool has_port;  /* port missing: all ports of proto */
	bool named;     /* port is a name (resolved per destination pod) */
	uint16_t port;  /* numeric port */
	char *name;     /* named port */
	bool has_end;   /* endPort */
	uint16_t end_port;
};

/* NetworkPolicyPeer: exactly one of (pod/ns selectors) or ip_block. */
struct k8s_np_peer {
	struct k8s_selector pod_sel; /* present=false: field missing */
	struct k8s_selector ns_sel;
	bool has_ip_block;
	struct k8s_cidr cidr;
	unsigned n_except;
	struct k8s_cidr *except;
};

struct k8s_np_rule {
	bool has_ports; /* ports missing or empty: all ports */
	unsigned n_ports;
	struct k8s_np_port *ports;
	bool has_peers; /* from/to missing or empty: all peers */
	unsigned n_peers;
	struct k8s_np_peer *peers;
};

struct k8s_netpol {
	char *ns;
	char *name;
	struct k8s_selector pod_sel; /* always present (required field) */
	bool ingress; /* policyTypes (given, or inferred as the API defines) */
	bool egress;
	unsigned n_ingress;
	struct k8s_np_rule *ingress_rules;
	unsigned n_egress;
	struct k8s_np_rule *egress_rules;
	uint8_t mode; /* enum k8s_policy_mode; UNSET: the namespace's */
	char *src; /* "file:line" it was loaded from (may be NULL) */
};

enum k8s_anp_action { K8S_ANP_ALLOW, K8S_ANP_DENY, K8S_ANP_PASS };

/* AdminNetworkPolicyPort: one of the three. */
enum k8s_anp_port_kind { K8S_ANP_PORT_NUMBER, K8S_ANP_PORT_NAMED, K8S_ANP_PORT_RANGE };

struct k8s_anp_port {
	enum k8s_anp_port_kind kind;
	uint8_t proto;       /* number/range; default TCP */
	uint16_t port;       /* number; range start */
	uint16_t end;        /* range end (inclusive) */
	char *name;          /* named */
};

/*
 * Subject and peers: namespaces (a namespace selector, all pods in them) or
 * pods (a namespace selector AND a pod selector). Egress peers may also be
 * networks (CIDRs).
 */
enum k8s_anp_sel_kind { K8S_ANP_NAMESPACES, K8S_ANP_PODS, K8S_ANP_NETWORKS };

struct k8s_anp_peer {
	enum k8s_anp_sel_kind kind;
	struct k8s_selector ns_sel;
	struct k8s_selector pod_sel; /* K8S_ANP_PODS only */
	unsigned n_networks;         /* K8S_ANP_NETWORKS only */
	struct k8s_cidr *networks;
};

struct k8s_anp_rule {
	char *name;
	enum k8s_anp_action action; /* BANP: ALLOW or DENY */
	unsigned n_peers;           /* at least one */
	struct k8s_anp_peer *peers;
	bool has_ports;             /* missing: all ports */
	unsigned n_ports;
	struct k8s_anp_port *ports;
};

/* AdminNetworkPolicy (baseline=false) or BaselineAdminNetworkPolicy. */
struct k8s_anp {
	char *name;
	bool baseline;
	int32_t priority; /* ANP: 0..1000, lower wins; BANP: unused */
	struct k8s_anp_peer subject; /* kind NAMESPACES or PODS */
	unsigned n_ingress;
	struct k8s_anp_rule *ingress_rules;
	unsigned n_egress;
	struct k8s_anp_rule *egress_rules;
	uint8_t mode; /* enum k8s_policy_mode; UNSET: enforce */
	char *src; /* "file:line" it was loaded from (may be NULL) */
};

/*
 * A node: where its pods live (spec.podCIDR/podCIDRs, IPv4 entries) and
 * its underlay address (the first InternalIP of status.addresses), which
 * is its VTEP. The annotation nsdp.io/vtep-mac, when set, gives the
 * underlay next-hop MAC for that VTEP (see docs/operations.md).
 */
#define K8S_ANNOTATION_VTEP_MAC "nsdp.io/vtep-mac"

struct k8s_node {
	char *name;
	unsigned n_cidrs;
	struct k8s_cidr *pod_cidrs;
	bool has_internal_ip;
	uint32_t internal_ip; /* network order */
	bool has_vtep_mac;
	uint8_t vtep_mac[6];
	char *src;
};

struct k8s_cluster {
	unsigned n_namespaces, n_pods, n_netpols, n_anps, n_nodes;
	struct k8s_namespace *namespaces;
	struct k8s_pod *pods;
	struct k8s_netpol *netpols;
	struct k8s_anp *anps; /* ANPs and BANPs (at most one BANP, "default") */
	struct k8s_node *nodes;
};

/*
 * Load every .yaml, .yml and .json file of `dir` (sorted by name; not
 * recursive; names starting with '.' skipped) into cl: Namespace, Pod,
 * NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy and Node
 * objects, in multi-document YAML,
 * single objects and `kind: List`. Objects are appended: cl must be zeroed
 * or hold earlier loads. Objects of other kinds are skipped. Returns 0, or
 * -EINVAL after calling report() once per bad object (it is skipped; the
 * rest still loads), or another -errno when a file cannot be read. report
 * may be NULL. A second object with the same kind, namespace and name (in
 * cl already, or later in the same load) is rejected.
 *
 * Messages name the file, the line, the object and the field:
 *   "pol.yaml:12: NetworkPolicy x/deny-all: spec.ingress[0].ports[1].endPort:
 *    endPort requires a numeric port"
 * A YAML syntax error rejects the rest of its file:
 *   "pol.yaml:7: syntax error: <libyaml's text>"
 */
typedef void (*k8s_report_fn)(void *arg, const char *msg);
int k8s_load_dir(const char *dir, struct k8s_cluster *cl, k8s_report_fn report,
		 void *arg);

/* Same for one file, or a buffer (`name` used in messages). */
int k8s_load_file(const char *path, struct k8s_cluster *cl, k8s_report_fn report,
		  void *arg);
int k8s_load_buffer(const char *name, const char *text, size_t len,
		    struct k8s_cluster *cl, k8s_report_fn report, void *arg);

/* Same for an already parsed JSON value (jansson's json_t: an object or
 * a List), as the API server sends them; messages carry line 1. */
struct json_t;
int k8s_load_json(const char *name, struct json_t *obj, struct k8s_cluster *cl,
		  k8s_report_fn report, void *arg);

/*
 * An API list response as JSON text ({"metadata": {"continue": ...,
 * "resourceVersion": ...}, "items": [...]}), decoded without a JSON tree
 * in between (a page of 500 pods costs a few allocations): each item is
 * loaded alone, as k8s_load_json would load it (an item without kind and
 * apiVersion is a `kind` of `api_version`), then handed to item() with the
 * cluster it loaded (empty when report() rejected it, or when it is of
 * another kind) and its metadata.namespace and .name (NULL when absent).
 * item() may move the objects out; a non-zero return stops the walk and is
 * returned. Returns 0, -EINVAL when the text is not such a list (out->err
 * says why), or -ENOMEM.
 */
struct k8s_api_list {
	char cont[1024]; /* metadata.continue ("" when none) */
	char rv[64];     /* metadata.resourceVersion */
	char err[160];
};
typedef int (*k8s_item_fn)(void *arg, struct k8s_cluster *cl, const char *ns, const char *name);
int k8s_load_api_list(const char *name, const char *text, size_t len, const char *kind,
		      const char *api_version, k8s_item_fn item, void *item_arg,
		      k8s_report_fn report, void *report_arg, struct k8s_api_list *out);

/* Object counts of a cluster; k8s_cluster_truncate frees every object
 * after the first `keep` of each kind (what later loads appended). */
struct k8s_counts {
	unsigned n_namespaces, n_pods, n_netpols, n_anps, n_nodes;
};
void k8s_cluster_counts(const struct k8s_cluster *cl, struct k8s_counts *out);
void k8s_cluster_truncate(struct k8s_cluster *cl, const struct k8s_counts *keep);

void k8s_cluster_free(struct k8s_cluster *cl);

/* Selector semantics (metav1.LabelSelector). sel->present must be true. */
bool k8s_selector_matches(const struct k8s_selector *sel, const struct k8s_labels *labels);

/* Label value or NULL. */
const char *k8s_label_get(const struct k8s_labels *labels, const char *key);

const struct k8s_namespace *k8s_find_namespace(const struct k8s_cluster *cl,
					       const char *name);

#ifdef __cplusplus
}
#endif

#endif
