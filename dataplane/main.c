/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-dataplane: configuration, EAL, ports, workers, then the control loop
 * on the main lcore (control socket, conntrack aging) until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "ctl.h"
#include "dp.h"
#include "overlay.h"
#include "policy.h"
#include "port.h"
#include "statefile.h"

static struct dp the_dp;

static void on_signal(int sig)
{
	(void)sig;
	the_dp.quit = true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nsdp-dataplane [-c FILE] [--check-config] [--print-default-config]\n"
		"  -c, --config FILE        libconfig file (default: the embedded default)\n"
		"  --check-config           parse the configuration, report, exit\n"
		"  --print-default-config   print the embedded default configuration\n"
		"Exit status: 0 ok, 1 runtime failure, 2 bad configuration or usage.\n");
}

static bool eal_has(const struct dp_config *c, const char *opt)
{
	size_t n = strlen(opt);
	for (int i = 0; i < c->eal_argc; i++)
		if (strncmp(c->eal_argv[i], opt, n) == 0)
			return true;
	return false;
}

static unsigned mbuf_count(const struct dp *dp)
{
	const struct dp_config *c = &dp->cfg;
	if (c->mbufs)
		return c->mbufs;
	unsigned n = 0;
	for (unsigned i = 0; i < c->n_ports; i++) {
		unsigned q = c->ports[i].queues ? c->ports[i].queues : dp->n_workers;
		n += q * c->ports[i].rx_desc + dp->n_workers * c->ports[i].tx_desc;
	}
	n += dp->n_workers * (c->burst + DP_TX_BUF * c->n_ports) + 4096;
	/* Ports hot-plugged later (PORT_ADD): af_packet ports copy into fresh
	 * mbufs and hold none; TX buffers and in-flight bursts need some.
	 * af_xdp ports keep a fill ring of mbufs each: set `mbufs` for many. */
	n += 4096;
	return n;
}

/*
 * The policy cache (config policy_file): enforced before the workers
 * start, so a restarted node does not forward a single packet without the
 * last policy its agent pushed. A missing file is normal (first boot); a
 * bad one is reported and skipped (the agent pushes a fresh one when it
 * connects).
 */
static void load_policy_file(struct dp *dp)
{
	const char *path = dp->cfg.policy_file;
	if (!path[0])
		return;
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("nsdp-dataplane: policy_file %s: %s; starting without a policy\n", path,
		       strerror(errno));
		return;
	}
	char err[256] = "";
	void *blob = NULL;
	long len = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    len <= (long)NSDP_PROTO_MAX_PAYLOAD && (blob = malloc(len ? (size_t)len : 1)) &&
	    fread(blob, 1, (size_t)len, f) == (size_t)len) {
		struct pol_tables *t = pol_deserialize(blob, (size_t)len, dp->generation, err,
						       sizeof(err));
		if (t) {
			unsigned n = t->n_rules, pods = t->n_pods;
			if (dp_publish_policy(dp, t, dp->generation) == 0)
				printf("nsdp-dataplane: policy from %s: %u rules, %u pods\n", path, n,
				       pods);
			else
				snprintf(err, sizeof(err), "out of memory");
		}
	} else {
		snprintf(err, sizeof(err), "%s", len > (long)NSDP_PROTO_MAX_PAYLOAD ? "too large"
						 : "cannot read it");
	}
	if (err[0])
		fprintf(stderr, "nsdp-dataplane: policy_file %s: %s; starting without a policy\n",
			path, err);
	free(blob);
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"print-default-config", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *file = NULL;
	bool check = false;
	int o;

	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			file = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'p':
			fputs(dp_default_config, stdout);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct dp *dp = &the_dp;
	char err[512];
	if (dp_config_load(file, &dp->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "nsdp-dataplane: %s\n", err);
		return 2;
	}
	if (check) {
		printf("%s: ok (%u ports, %u workers)\n", dp->cfg.source, dp->cfg.n_ports,
		       dp->cfg.n_workers);
		return 0;
	}
	dp->n_workers = dp->cfg.n_workers;
	dp_global = dp;

	/* EAL arguments: ours first, then the configuration's, then ports. */
	char *eargv[DP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 8];
	int eargc = 0;
	char lcores[2048], mainl[16];
	eargv[eargc++] = argv[0];
	if (!eal_has(&dp->cfg, "-l") && !eal_has(&dp->cfg, "--lcores")) {
		/*
		 * lcore L runs on CPU L. A machine with fewer CPUs than the
		 * highest lcore id still starts (lcores share CPUs, wrapped
		 * modulo the CPU count), so small test machines can run
		 * several workers; say so, since it costs performance.
		 */
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned ids[DP_MAX_WORKERS + 1];
		unsigned n_ids = 0;
		ids[n_ids++] = dp->cfg.main_lcore;
		for (unsigned i = 0; i < dp->cfg.n_workers; i++)
			ids[n_ids++] = dp->cfg.worker_lcores[i];
		int n = 0;
		for (unsigned i = 0; i < n_ids; i++) {
			unsigned cpu = ncpu > 0 ? ids[i] % (unsigned)ncpu : ids[i];
			if (cpu != ids[i])
				fprintf(stderr,
					"nsdp-dataplane: lcore %u runs on CPU %u (only %ld CPUs online)\n",
					ids[i], cpu, ncpu);
			n += snprintf(lcores + n, sizeof(lcores) - (size_t)n, "%s%u@%u",
				      i ? "," : "", ids[i], cpu);
		}
		eargv[eargc++] = (char *)"--lcores";
		eargv[eargc++] = lcores;
		snprintf(mainl, sizeof(mainl), "%u", dp->cfg.main_lcore);
		eargv[eargc++] = (char *)"--main-lcore";
		eargv[eargc++] = mainl;
	}
	for (int i = 0; i < dp->cfg.eal_argc; i++)
		eargv[eargc++] = dp->cfg.eal_argv[i];
	eargc = dp_port_eal_args(dp, eargv, eargc, (int)RTE_DIM(eargv) - 1);
	if (eargc < 0) {
		fprintf(stderr, "nsdp-dataplane: too many EAL arguments\n");
		return 2;
	}
	eargv[eargc] = NULL;

	if (rte_eal_init(eargc, eargv) < 0) {
		fprintf(stderr, "nsdp-dataplane: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	int rc = 1;
	for (unsigned i = 0; i < dp->cfg.n_workers; i++) {
		if (!rte_lcore_is_enabled(dp->cfg.worker_lcores[i])) {
			fprintf(stderr, "nsdp-dataplane: %s: worker lcore %u is not enabled in EAL\n",
				dp->cfg.source, dp->cfg.worker_lcores[i]);
			goto out;
		}
	}
	dp->workers = rte_zmalloc("dp_workers", sizeof(*dp->workers) * dp->n_workers,
				  RTE_CACHE_LINE_SIZE);
	dp->stats = rte_zmalloc("dp_stats", sizeof(*dp->stats) * dp->n_workers,
				RTE_CACHE_LINE_SIZE);
	if (!dp->workers || !dp->stats)
		goto out;
	for (unsigned i = 0; i < dp->n_workers; i++) {
		dp->workers[i].idx = i;
		dp->workers[i].lcore_id = dp->cfg.worker_lcores[i];
		dp->workers[i].stats = &dp->stats[i];
		dp->stats[i].lc.lcore_id = dp->cfg.worker_lcores[i];
	}

	uint16_t room = RTE_MBUF_DEFAULT_BUF_SIZE;
	if (dp->cfg.mtu + RTE_ETHER_HDR_LEN + 4 + RTE_PKTMBUF_HEADROOM > room)
		room = (uint16_t)(dp->cfg.mtu + RTE_ETHER_HDR_LEN + 4 + RTE_PKTMBUF_HEADROOM);
	dp->pool = rte_pktmbuf_pool_create("dp_mbufs", mbuf_count(dp), 256, 0, room,
					   (int)rte_socket_id());
	if (!dp->pool) {
		fprintf(stderr, "nsdp-dataplane: mbuf pool of %u: %s\n", mbuf_count(dp),
			rte_strerror(rte_errno));
		goto out;
	}
	if (dp_ports_start(dp) < 0)
		goto out;
	rc = dp_init_tables(dp, (int)rte_socket_id());
	if (rc < 0) {
		fprintf(stderr, "nsdp-dataplane: tables: %s\n", strerror(-rc));
		rc = 1;
		goto out_ports;
	}
	dp_state_restore(dp);
	load_policy_file(dp);
	rc = 1;
	struct ctl_server *cs = ctl_open(dp);
	if (!cs) {
		fprintf(stderr, "nsdp-dataplane: control socket %s: %s\n", dp->cfg.ctl_socket,
			strerror(errno));
		goto out_ports;
	}
	ctl_register_telemetry(dp);

	for (unsigned i = 0; i < dp->n_workers; i++)
		rte_eal_remote_launch(dp_worker_main, &dp->workers[i], dp->workers[i].lcore_id);
	printf("nsdp-dataplane: node %s: %u ports, %u workers, control socket %s\n",
	       dp->cfg.node_name, dp->n_ports, dp->n_workers, dp->cfg.ctl_socket);
	fflush(stdout);

	/* Scan the whole conntrack table about once a second. */
	unsigned age_slots = ct_capacity(dp->ct) / 100 + 64;
	while (!dp->quit) {
		if (ctl_poll(cs, 10) < 0)
			break;
		ct_age(dp->ct, ct_now(), age_slots);
	}
	dp->quit = true;
	rte_eal_mp_wait_lcore();
	ctl_close(cs);
	rc = 0;
out_ports:
	dp->quit = true;
	rte_eal_mp_wait_lcore();
	dp_ports_stop(dp);
out:
	rte_eal_cleanup();
	dp_config_release(&dp->cfg);
	return rc;
}
