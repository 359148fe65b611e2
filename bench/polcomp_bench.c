/* SPDX-License-Identifier: Apache-2.0 */
/*
 * polcomp-bench: CPU time of the policy compiler on a manifest directory
 * (bench/gen_cluster.py --out DIR): a full compile with a fresh context,
 * then, with one long-lived context and pod versions (as agent/sync.c
 * holds and passes them), the recompile after one small change: none, a
 * NetworkPolicy's port, one pod's label, one namespace's label; and the
 * pod relabel once more without pod versions (every pod read). Each
 * change's first and last recompiles are checked against a fresh compile
 * (wire form).
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

/* Compile with ctx (NULL: pol_compile) and pod versions, time it, and
 * check its wire form against a fresh compile when check is set. */
static double timed(struct pol_ctx *ctx, const struct k8s_cluster *cl, const uint64_t *versions,
		    bool check)
{
	double t0 = cpu_ms();
	struct pol_tables *t = ctx ? pol_compile_ctx(ctx, cl, versions, 1) : pol_compile(cl, 1);
	double dt = cpu_ms() - t0;
	if (!t) {
		perror("compile");
		exit(1);
	}
	if (check) {
		struct pol_tables *f = pol_compile(cl, 1);
		void *a = NULL, *b = NULL;
		size_t la = 0, lb = 0;
		if (!f || pol_serialize(t, &a, &la) || pol_serialize(f, &b, &lb) || la != lb ||
		    memcmp(a, b, la)) {
			fprintf(stderr, "incremental compile differs from a fresh one\n");
			exit(1);
		}
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
	for (unsigned i = 0; i < cl.n_netpols && !port; i++)
		for (unsigned r = 0; r < cl.netpols[i].n_ingress && !port; r++)
			for (unsigned k = 0; k < cl.netpols[i].ingress_rules[r].n_ports; k++)
				if (!cl.netpols[i].ingress_rules[r].ports[k].named &&
				    cl.netpols[i].ingress_rules[r].ports[k].has_port) {
					port = &cl.netpols[i].ingress_rules[r].ports[k];
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
	for (unsigned i = cl.n_namespaces / 2; i < cl.n_namespaces && !nslab; i++)
		if (cl.namespaces[i].labels.n)
			nslab = &cl.namespaces[i].labels.kv[cl.namespaces[i].labels.n - 1];
	if (!port || !lab || !nslab) {
		fprintf(stderr, "no NetworkPolicy port, pod label or namespace label to change\n");
		return 1;
	}
	/* pod versions as the agent's cache stamps them: a new one per change */
	uint64_t *ver = calloc(cl.n_pods, sizeof(*ver)), last_ver = 0;
	enum { FULL, SAME, POLICY, POD, NS, POD_PLAIN, N_CASES };
	static const char *const names[N_CASES] = {
		"full compile (fresh context)", "recompile, nothing changed",
		"recompile, one policy changed", "recompile, one pod relabelled",
		"recompile, one namespace relabelled", "one pod relabelled, no pod versions",
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
	for (int r = 0; r < reps; r++)
		t[FULL][r] = timed(NULL, &cl, NULL, false);
	timed(ctx, &cl, ver, true);
	timed(plain, &cl, NULL, false);
	char *orig = lab->value, *ns_orig = nslab->value, alt[64], ns_alt[64];
	for (int r = 0; r < reps; r++) {
		bool check = r == 0 || r == reps - 1;
		t[SAME][r] = timed(ctx, &cl, ver, check);
		port->port = (uint16_t)(port->port + 1);
		t[POLICY][r] = timed(ctx, &cl, ver, check);
		snprintf(alt, sizeof(alt), "%s-x%d", orig, r);
		lab->value = r % 2 ? orig : alt;
		ver[lab_pod] = ++last_ver;
		t[POD][r] = timed(ctx, &cl, ver, check);
		snprintf(ns_alt, sizeof(ns_alt), "%s-x%d", ns_orig, r);
		nslab->value = r % 2 ? ns_orig : ns_alt;
		t[NS][r] = timed(ctx, &cl, ver, check);
		/* the other context sees the pod change too, then it is back
		 * as ctx saw it (its version unchanged) */
		lab->value = r % 2 ? alt : orig;
		t[POD_PLAIN][r] = timed(plain, &cl, NULL, check);
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
	k8s_cluster_free(&cl);
	return 0;
}
