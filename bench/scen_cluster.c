/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Generated clusters for nsdp-scen, written as Kubernetes manifests and
 * loaded with the agent's own loader (so the benchmark compiles exactly what
 * the agent would).
 *
 * A cluster of P policies and N pods:
 *  - max(10, N / 100) namespaces ns<k> (or as many as asked), labelled
 *    grp=g<k % 8>;
 *  - pod i in namespace ns<i % NS>, label app=a<H(i) % 10>, a named
 *    container port http (8080/TCP), on node i / 100 (100 pods per node);
 *  - P - 2 NetworkPolicies np<j> in ns<j % NS> selecting app=a<(j / NS) % 10>,
 *    with h = H(j + 12345): ingress from the namespaces grp=g<h % 8> (when
 *    h / 8 is odd: AND pods app=a<(h / 16) % 10>) on 8000 + (h / 256) % 64/TCP
 *    and 53/UDP; when (h / 65536) % 4 == 3 the policy also isolates egress:
 *    to every namespace on 8000-8063/TCP and 53/UDP, and to 10.0.0.0/8
 *    except 10.200.0.0/16 on 443/TCP (H: the murmur3 finaliser, so that
 *    selectors, peers and ports are not correlated);
 *  - AdminNetworkPolicy guard (priority 10) on namespaces grp=g0: Allow from
 *    grp=g1 on 9090/TCP, Deny from grp=g7;
 *  - BaselineAdminNetworkPolicy default on every namespace: Deny from grp=g6.
 * The "extra" variant adds np-extra, a copy of np0 with 9999/TCP instead:
 * it changes the compiled tables (classes, rule ids) but no verdict of the
 * traffic the benchmark sends (it only allows a port nobody uses).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"
#include "k8s.h"
#include "scen.h"

unsigned scen_namespaces(unsigned pods, unsigned ns)
{
	return ns ? ns : pods / 100 > 10 ? pods / 100 : 10;
}

static uint32_t H(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x85ebca6bu;
	x ^= x >> 13;
	x *= 0xc2b2ae35u;
	return x ^ (x >> 16);
}

static unsigned np_port(unsigned j)
{
	return 8000 + (H(j + 12345) >> 8) % 64;
}

static void netpol(struct sbuf *b, unsigned j, unsigned ns, const char *name, unsigned tcp_port)
{
	unsigned NS = ns;
	uint32_t h = H(j + 12345);
	bool egress = (h >> 16) % 4 == 3;
	sb(b,
	   "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	   "metadata:\n  name: %s\n  namespace: ns%u\n"
	   "spec:\n  podSelector:\n    matchLabels:\n      app: a%u\n",
	   name, j % NS, (j / NS) % 10);
	sb(b, "  policyTypes: [Ingress%s]\n", egress ? ", Egress" : "");
	sb(b,
	   "  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n"
	   "          grp: g%u\n",
	   h % 8);
	if ((h >> 3) & 1)
		sb(b, "      podSelector:\n        matchLabels:\n          app: a%u\n",
		   (h >> 4) % 10);
	sb(b,
	   "    ports:\n    - protocol: TCP\n      port: %u\n    - protocol: UDP\n"
	   "      port: 53\n",
	   tcp_port);
	if (egress)
		sb(b,
		   "  egress:\n  - to:\n    - namespaceSelector: {}\n    ports:\n"
		   "    - protocol: TCP\n      port: 8000\n      endPort: 8063\n"
		   "    - protocol: UDP\n      port: 53\n"
		   "  - to:\n    - ipBlock:\n        cidr: 10.0.0.0/8\n"
		   "        except: [10.200.0.0/16]\n"
		   "    ports:\n    - protocol: TCP\n      port: 443\n");
}

char *scen_manifests(const struct scen_params *p, size_t *len)
{
	struct sbuf b = {0};
	unsigned NS = scen_namespaces(p->pods, p->namespaces);
	for (unsigned k = 0; k < NS; k++)
		sb(&b,
		   "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns%u\n"
		   "  labels:\n    grp: g%u\n",
		   k, k % 8);
	for (unsigned i = 0; i < p->pods; i++) {
		uint32_t ip = rte_be_to_cpu_32(scen_pod_ip(i));
		sb(&b,
		   "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%u\n  namespace: ns%u\n"
		   "  labels:\n    app: a%u\nspec:\n  nodeName: node%u\n  containers:\n"
		   "  - name: c\n    ports:\n    - name: http\n      containerPort: 8080\n"
		   "status:\n  podIP: %u.%u.%u.%u\n",
		   i, i % NS, H(i) % 10, scen_pod_node(i), ip >> 24, (ip >> 16) & 255,
		   (ip >> 8) & 255, ip & 255);
	}
	unsigned n_np = p->policies > 2 ? p->policies - 2 : 0;
	char name[32];
	for (unsigned j = 0; j < n_np; j++) {
		snprintf(name, sizeof(name), "np%u", j);
		netpol(&b, j, NS, name, np_port(j));
	}
	if (p->extra)
		netpol(&b, 0, NS, "np-extra", 9999);
	if (p->policies >= 1)
		sb(&b,
		   "---\napiVersion: policy.networking.k8s.io/v1alpha1\n"
		   "kind: AdminNetworkPolicy\nmetadata:\n  name: guard\nspec:\n  priority: 10\n"
		   "  subject:\n    namespaces:\n      matchLabels:\n        grp: g0\n"
		   "  ingress:\n  - name: monitoring\n    action: Allow\n    from:\n"
		   "    - namespaces:\n        matchLabels:\n          grp: g1\n"
		   "    ports:\n    - portNumber:\n        protocol: TCP\n        port: 9090\n"
		   "  - name: no-g7\n    action: Deny\n    from:\n    - namespaces:\n"
		   "        matchLabels:\n          grp: g7\n");
	if (p->policies >= 2)
		sb(&b,
		   "---\napiVersion: policy.networking.k8s.io/v1alpha1\n"
		   "kind: BaselineAdminNetworkPolicy\nmetadata:\n  name: default\nspec:\n"
		   "  subject:\n    namespaces: {}\n"
		   "  ingress:\n  - name: no-g6\n    action: Deny\n    from:\n"
		   "    - namespaces:\n        matchLabels:\n          grp: g6\n");
	return sb_take(&b, len);
}

static void report(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "nsdp-scen: generated cluster: %s\n", msg);
}

int scen_load(const struct scen_params *p, struct k8s_cluster *cl, double *load_ms)
{
	size_t len;
	char *text = scen_manifests(p, &len);
	if (!text) {
		fprintf(stderr, "nsdp-scen: manifests: out of memory\n");
		return -1;
	}
	double a = bench_now_ms();
	int rc = k8s_load_buffer("<generated>", text, len, cl, report, NULL);
	double b = bench_now_ms();
	free(text);
	if (load_ms)
		*load_ms = b - a;
	if (rc) {
		fprintf(stderr, "nsdp-scen: generated cluster (%u policies, %u pods) did not load: %d\n",
			p->policies, p->pods, rc);
		return -1;
	}
	return 0;
}
