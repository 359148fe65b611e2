/* SPDX-License-Identifier: Apache-2.0 */
/*
 * polcomp-bench: CPU time of the policy compiler on a manifest directory
 * (bench/gen_cluster.py --out DIR): a full compile with a fresh context,
 * then, with one long-lived context, pod, namespace and policy versions
 * and a rest version (as agent/sync.c holds and passes them), the
 * recompile after one small change: none, a NetworkPolicy's port, the
 * last NetworkPolicy deleted and then added back (policy compiles at a
 * new rest version), one pod's label, the last pod deleted and then
 * added back as a new pod, one namespace's label (pods-only compiles);
 * the port change once more without policy versions (a full compile),
 * and the pod relabel once more without any versions (every pod read, a
 * full compile). Each change's first and last recompiles are checked
 * against a fresh compile: the wire form for full compiles, the
 * decisions (tests/policy/tables_equiv.h, every pod address when there
 * are at most 2000, else 2000 of them, and the changed pod's) for the
 * others; every compile's path (full, pods-only, policy) is checked too,
 * so that no figure times another path than its name says.
 *
 *   polcomp-bench DIR [REPS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s.h"
#include "policy.h"
#include "polcomp.h"
#include "tables_equiv.h"

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

enum check { NO_CHECK, WIRE, DECISIONS };

enum path { FULL_PATH, PODS_PATH, POLICY_PATH };

/* The compile ctx just made took path `want` (pol_ctx_get_stats against
 * *last, which it updates); otherwise the figure would time another
 * path: exit. */
static void took(struct pol_ctx *ctx, struct pol_ctx_stats *last, enum path want,
		 const char *what)
{
	struct pol_ctx_stats now;
	pol_ctx_get_stats(ctx, &now);
	uint64_t d[3] = {now.full - last->full, now.pods_only - last->pods_only,
			 now.policy - last->policy};
	*last = now;
	if (d[want] != 1 || d[0] + d[1] + d[2] != 1) {
		fprintf(stderr, "%s: not the expected compile path (full %llu, pods-only %llu, "
				"policy %llu)\n",
			what, (unsigned long long)d[0], (unsigned long long)d[1],
			(unsigned long long)d[2]);
		exit(1);
	}
}

/* Compile with ctx (NULL: pol_compile) and versions v, time it, and check
 * it against a fresh compile; probe: an address to check besides. */
static double timed(struct pol_ctx *ctx, const struct k8s_cluster *cl,
		    const struct pol_versions *v, enum check check, uint32_t probe)
{
	double t0 = cpu_ms();
	struct pol_tables *t = ctx ? pol_compile_ctx(ctx, cl, v, 1) : pol_compile(cl, 1);
	double dt = cpu_ms() - t0;
	if (!t) {
		perror("compile");
		exit(1);
	}
	if (check != NO_CHECK) {
		struct pol_tables *f = pol_compile(cl, 1);
		void *a = NULL, *b = NULL;
		size_t la = 0, lb = 0, n = 0;
		char why[512] = "wire form";
		uint32_t *addrs = f && check == DECISIONS
					  ? pol_probe_addrs(t, f, cl, 2000, &probe, 1, &n)
					  : NULL;
		if (!f || (check == WIRE && (pol_serialize(t, &a, &la) || pol_serialize(f, &b, &lb) ||
					     la != lb || memcmp(a, b, la))) ||
		    (check == DECISIONS && (!addrs || pol_tables_equiv(t, f, addrs, n, why,
								      sizeof(why))))) {
			fprintf(stderr, "incremental compile differs from a fresh one: %s\n", why);
			exit(1);
		}
		free(addrs);
		free(a);
		free(b);
		pol_tables_free(f);
	}
	pol_tables_free(t);
	return dt;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: polcomp-bench DIR [REPS]\n");
		return 2;
	}
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	if (reps < 1 || reps > 1000)
		reps = 5;
	struct k8s_cluster cl = {0};
	if (k8s_load_dir(argv[1], &cl, NULL, NULL) || !cl.n_pods) {
		fprintf(stderr, "%s: cannot load\n", argv[1]);
		return 1;
	}
	/* a NetworkPolicy with a numeric port, and a labelled pod */
	struct k8s_np_port *port = NULL;
	unsigned port_np = 0;
	for (unsigned i = 0; i < cl.n_netpols && !port; i++)
		for (unsigned r = 0; r < cl.netpols[i].n_ingress && !port; r++)
			for (unsigned k = 0; k < cl.netpols[i].ingress_rules[r].n_ports; k++)
				if (!cl.netpols[i].ingress_rules[r].ports[k].named &&
				    cl.netpols[i].ingress_rules[r].ports[k].has_port) {
					port = &cl.netpols[i].ingress_rules[r].ports[k];
					port_np = i;
					break;
				}
	/* a labelled pod (its index: its version changes with it), and a
	 * labelled namespace */
	struct k8s_label *lab = NULL;
	unsigned lab_pod = 0;
	for (unsigned i = cl.n_pods / 2; i < cl.n_pods && !lab; i++)
		if (cl.pods[i].labels.n) {
			lab = &cl.pods[i].labels.kv[0];
			lab_pod = i;
		}
	struct k8s_label *nslab = NULL;
	unsigned nslab_ns = 0;
	for (unsigned i = cl.n_namespaces / 2; i < cl.n_namespaces && !nslab; i++)
		if (cl.namespaces[i].labels.n) {
			nslab = &cl.namespaces[i].labels.kv[cl.namespaces[i].labels.n - 1];
			nslab_ns = i;
		}
	if (!port || !lab || !nslab) {
		fprintf(stderr, "no NetworkPolicy port, pod label or namespace label to change\n");
		return 1;
	}
	/* pod versions as the agent's cache stamps them: a new one per change */
	uint64_t *ver = calloc(cl.n_pods, sizeof(*ver)), last_ver = 0;
	enum { FULL, SAME, POLICY, POL_DEL, POL_ADD, POD, POD_DEL, POD_ADD, NS, POLICY_PLAIN,
	       POD_PLAIN, N_CASES };
	static const char *const names[N_CASES] = {
		"full compile (fresh context)", "recompile, nothing changed",
		"recompile, one policy changed", "recompile, one policy deleted",
		"recompile, one policy added", "recompile, one pod relabelled",
		"recompile, one pod deleted", "recompile, one pod added",
		"recompile, one namespace relabelled", "one policy changed, no policy versions",
		"one pod relabelled, no versions",
	};
	double *t[N_CASES];
	for (int k = 0; k < N_CASES; k++)
		if (!(t[k] = calloc((size_t)reps, sizeof(double))))
			return 1;
	struct pol_ctx *ctx = pol_ctx_new(), *plain = pol_ctx_new();
	if (!ver || !ctx || !plain)
		return 1;
	for (unsigned i = 0; i < cl.n_pods; i++)
		ver[i] = ++last_ver;
	/* namespace versions as the agent's cache stamps them; rest: a new
	 * one for each policy change */
	uint64_t *nsver = calloc(cl.n_namespaces + 1, sizeof(*nsver));
	if (!nsver)
		return 1;
	for (unsigned i = 0; i < cl.n_namespaces; i++)
		nsver[i] = ++last_ver;
	/* policy versions likewise (NetworkPolicies; (B)ANPs) */
	uint64_t *npver = calloc(cl.n_netpols + 1, sizeof(*npver));
	uint64_t *anpver = calloc(cl.n_anps + 1, sizeof(*anpver));
	if (!npver || !anpver)
		return 1;
	for (unsigned i = 0; i < cl.n_netpols; i++)
		npver[i] = ++last_ver;
	for (unsigned i = 0; i < cl.n_anps; i++)
		anpver[i] = ++last_ver;
	struct pol_versions v = {ver, nsver, 1, npver, anpver};
	struct pol_versions v_nopol = {ver, nsver, 1, NULL, NULL};
	uint32_t probe = cl.pods[lab_pod].n_ips ? cl.pods[lab_pod].ips[0] : 0, probe_ns = 0;
	for (unsigned i = 0; i < cl.n_pods && !probe_ns; i++) /* a pod of that namespace */
		if (!strcmp(cl.pods[i].ns, cl.namespaces[nslab_ns].name) && cl.pods[i].n_ips)
			probe_ns = cl.pods[i].ips[0];
	for (int r = 0; r < reps; r++)
		t[FULL][r] = timed(NULL, &cl, NULL, NO_CHECK, 0);
	struct pol_ctx_stats st = {0}, pst = {0};
	timed(ctx, &cl, &v, WIRE, 0);
	took(ctx, &st, FULL_PATH, "first compile");
	timed(plain, &cl, NULL, NO_CHECK, 0);
	took(plain, &pst, FULL_PATH, "first compile, no versions");
	char *orig = lab->value, *ns_orig = nslab->value, alt[64], ns_alt[64];
	for (int r = 0; r < reps; r++) {
		bool check = r == 0 || r == reps - 1;
		t[SAME][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, probe);
		took(ctx, &st, PODS_PATH, names[SAME]);
		port->port = (uint16_t)(port->port + 1);
		npver[port_np] = ++last_ver;
		v.rest++;
		t[POLICY][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, probe);
		took(ctx, &st, POLICY_PATH, names[POLICY]);
		/* the last NetworkPolicy goes, and comes back */
		cl.n_netpols--;
		v.rest++;
		t[POL_DEL][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, probe);
		took(ctx, &st, POLICY_PATH, names[POL_DEL]);
		cl.n_netpols++;
		npver[cl.n_netpols - 1] = ++last_ver;
		v.rest++;
		t[POL_ADD][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, probe);
		took(ctx, &st, POLICY_PATH, names[POL_ADD]);
		snprintf(alt, sizeof(alt), "%s-x%d", orig, r);
		lab->value = r % 2 ? orig : alt;
		ver[lab_pod] = ++last_ver;
		t[POD][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, probe);
		took(ctx, &st, PODS_PATH, names[POD]);
		/* the last pod goes, and comes back as a new one: its address
		 * is what the check must probe */
		uint32_t last_ip = cl.pods[cl.n_pods - 1].n_ips ? cl.pods[cl.n_pods - 1].ips[0] : 0;
		cl.n_pods--;
		t[POD_DEL][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, last_ip);
		took(ctx, &st, PODS_PATH, names[POD_DEL]);
		cl.n_pods++;
		ver[cl.n_pods - 1] = ++last_ver;
		t[POD_ADD][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, last_ip);
		took(ctx, &st, PODS_PATH, names[POD_ADD]);
		snprintf(ns_alt, sizeof(ns_alt), "%s-x%d", ns_orig, r);
		nslab->value = r % 2 ? ns_orig : ns_alt;
		nsver[nslab_ns] = ++last_ver;
		t[NS][r] = timed(ctx, &cl, &v, check ? DECISIONS : NO_CHECK, probe_ns);
		took(ctx, &st, PODS_PATH, names[NS]);
		/* the port change in the other context, without policy
		 * versions: a full compile (then the port is back as ctx saw it) */
		port->port = (uint16_t)(port->port + 1);
		v_nopol.rest++;
		t[POLICY_PLAIN][r] = timed(plain, &cl, &v_nopol, check ? WIRE : NO_CHECK, 0);
		took(plain, &pst, FULL_PATH, names[POLICY_PLAIN]);
		port->port = (uint16_t)(port->port - 1);
		/* the other context sees the pod change too, then it is back
		 * as ctx saw it (its version unchanged) */
		lab->value = r % 2 ? alt : orig;
		t[POD_PLAIN][r] = timed(plain, &cl, NULL, check ? WIRE : NO_CHECK, 0);
		took(plain, &pst, FULL_PATH, names[POD_PLAIN]);
		lab->value = r % 2 ? orig : alt;
	}
	lab->value = orig;
	nslab->value = ns_orig;
	printf("pods %u namespaces %u policies %u: CPU ms, median of %d\n", cl.n_pods,
	       cl.n_namespaces, cl.n_netpols + cl.n_anps, reps);
	for (int k = 0; k < N_CASES; k++) {
		printf("  %-38s %8.2f\n", names[k], median(t[k], reps));
		free(t[k]);
	}
	pol_ctx_free(ctx);
	pol_ctx_free(plain);
	free(ver);
	free(nsver);
	free(npver);
	free(anpver);
	k8s_cluster_free(&cl);
	return 0;
}
