/* SPDX-License-Identifier: Apache-2.0 */
/*
 * polcomp-bench: CPU time of the policy compiler on a manifest directory
 * (bench/gen_cluster.py --out DIR): a full compile with a fresh context,
 * then, with one long-lived context (as agent/sync.c holds it), the
 * recompile after one small change: a NetworkPolicy's port, one pod's
 * label. Each recompile's wire form is checked against a fresh compile.
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

/* Compile with ctx (NULL: pol_compile), time it, and check its wire form
 * against a fresh compile when check is set. */
static double timed(struct pol_ctx *ctx, const struct k8s_cluster *cl, bool check)
{
	double t0 = cpu_ms();
	struct pol_tables *t = ctx ? pol_compile_ctx(ctx, cl, 1) : pol_compile(cl, 1);
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
	struct k8s_label *lab = NULL;
	for (unsigned i = cl.n_pods / 2; i < cl.n_pods && !lab; i++)
		if (cl.pods[i].labels.n)
			lab = &cl.pods[i].labels.kv[0];
	if (!port || !lab) {
		fprintf(stderr, "no NetworkPolicy port or pod label to change\n");
		return 1;
	}
	double *full = calloc((size_t)reps, sizeof(double));
	double *pol = calloc((size_t)reps, sizeof(double));
	double *pod = calloc((size_t)reps, sizeof(double));
	double *same = calloc((size_t)reps, sizeof(double));
	for (int r = 0; r < reps; r++)
		full[r] = timed(NULL, &cl, false);
	struct pol_ctx *ctx = pol_ctx_new();
	if (!ctx)
		return 1;
	timed(ctx, &cl, true);
	char *orig = lab->value, alt[64];
	for (int r = 0; r < reps; r++) {
		same[r] = timed(ctx, &cl, r == 0);
		port->port = (uint16_t)(port->port + 1);
		pol[r] = timed(ctx, &cl, r == 0);
		snprintf(alt, sizeof(alt), "%s-x%d", orig, r);
		lab->value = r % 2 ? orig : alt;
		pod[r] = timed(ctx, &cl, r == 0);
	}
	lab->value = orig;
	printf("pods %u namespaces %u policies %u: CPU ms, median of %d\n", cl.n_pods,
	       cl.n_namespaces, cl.n_netpols + cl.n_anps, reps);
	printf("  full compile (fresh context)    %8.2f\n", median(full, reps));
	printf("  recompile, nothing changed      %8.2f\n", median(same, reps));
	printf("  recompile, one policy changed   %8.2f\n", median(pol, reps));
	printf("  recompile, one pod relabelled   %8.2f\n", median(pod, reps));
	pol_ctx_free(ctx);
	free(full);
	free(pol);
	free(pod);
	free(same);
	k8s_cluster_free(&cl);
	return 0;
}
