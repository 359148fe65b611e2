/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-agent: keeps one node's nsdp-dataplane in sync with the cluster.
 * See agent.h for the threads and docs/operations.md for deployment.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "ctlclient.h"
#include "polcomp.h"
#include "policy.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nsdp-agent [options] (--manifests DIR... | --kubeconfig FILE | --in-cluster)\n"
		"\n"
		"Sources (one kind):\n"
		"  --manifests DIR       standalone: Kubernetes objects from .yaml/.yml/.json files\n"
		"                        in DIR (repeatable), reloaded on change\n"
		"  --kubeconfig FILE     the API server from a kubeconfig (current context);\n"
		"                        also $KUBECONFIG\n"
		"  --in-cluster          the API server from the pod's service account\n"
		"                        (the default when KUBERNETES_SERVICE_HOST is set)\n"
		"Options:\n"
		"  --node NAME           this node's name (default: $NODE_NAME, else the hostname)\n"
		"  -s, --socket PATH     the dataplane's control socket (default %s)\n"
		"  --metrics ADDR:PORT   Prometheus /metrics, /healthz, /readyz (default 127.0.0.1:9464;\n"
		"                        \"none\" to disable)\n"
		"  --underlay-gateway-mac MAC  next-hop MAC for VTEPs of nodes without the\n"
		"                        nsdp.io/vtep-mac annotation (a routed underlay)\n"
		"  --host-route IFACE    keep this node's route to its pod CIDRs (its Node's\n"
		"                        spec.podCIDRs) via the dataplane's host port: IFACE is\n"
		"                        the node's end of the host port's veth (nsdph)\n"
		"  --host-route-via ADDR  the route's next hop (default 169.254.1.1, the pods'\n"
		"                        gateway)\n"
		"  --host-ip ADDR        the route's source: the dataplane's node.host_ip\n"
		"                        (default the Node's InternalIP)\n"
		"  --batch-ms N          close an event batch after N ms of quiet (default 5; an\n"
		"                        event after --batch-max-ms without any waits 1 ms)\n"
		"  --batch-max-ms N      and at most N ms after it opened (default 50)\n"
		"  --watch-stall-timeout S  reconnect a watch silent for S seconds (default 90)\n"
		"  --backoff-max S       longest reconnect back-off (default 30)\n"
		"  --page-size N         list page size (default 2000)\n"
		"  --policy-cache FILE    write each acknowledged policy to FILE (the dataplane's\n"
		"                        policy_file: enforced from its first packet after a restart)\n"
		"  --compile-to FILE     with --manifests: compile the policy to FILE and exit\n"
		"  --flow-log FILE       write the dataplane's flow logs to FILE as JSON lines\n"
		"                        (\"-\": stdout); reopened after log rotation\n"
		"  --flow-log-interval-ms N  take the dataplane's flow-log records every N ms\n"
		"                        (default 200)\n"
		"  --log-format text|json, --log-level debug|info|warn|error\n",
		NSDP_DEFAULT_SOCKET);
}

static struct ag_queue queue;

static void report_stderr(void *arg, const char *msg)
{
	(*(unsigned *)arg)++;
	fprintf(stderr, "nsdp-agent: rejected: %s\n", msg);
}

/* --compile-to: the policy of some manifests, in the wire form the
 * dataplane's policy_file takes. Bad objects are reported and left out
 * (exit 2 when there were any, the file is still written). */
static int compile_only(const char *const *dirs, unsigned n_dirs, const char *out)
{
	if (!n_dirs) {
		fprintf(stderr, "nsdp-agent: --compile-to needs --manifests DIR\n");
		return 2;
	}
	struct k8s_cluster cl = {0};
	unsigned bad = 0;
	for (unsigned i = 0; i < n_dirs; i++) {
		int rc = k8s_load_dir(dirs[i], &cl, report_stderr, &bad);
		if (rc && rc != -EINVAL) {
			fprintf(stderr, "nsdp-agent: --manifests %s: %s\n", dirs[i], strerror(-rc));
			k8s_cluster_free(&cl);
			return 1;
		}
	}
	struct pol_tables *t = pol_compile(&cl, 0);
	void *blob = NULL;
	size_t len = 0;
	int rc = t ? pol_serialize(t, &blob, &len) : -ENOMEM;
	if (!rc && (rc = ag_write_file_atomic(out, blob, len)))
		fprintf(stderr, "nsdp-agent: --compile-to %s: %s\n", out, strerror(-rc));
	else if (!rc)
		printf("%s: %u rules, %u pods, %zu bytes\n", out, t->n_rules, t->n_pods, len);
	free(blob);
	pol_tables_free(t);
	k8s_cluster_free(&cl);
	return rc ? 1 : bad ? 2 : 0;
}

static void on_signal(int sig)
{
	(void)sig;
	ag_stop_requested = 1; /* no lock here: the sync loop polls it */
}

int main(int argc, char **argv)
{
	/*
	 * Every push serializes the whole policy into a new buffer (6-8 MB
	 * at 100k pods). From mmap, each would be faulted in and zeroed
	 * again (a third of the sync thread's CPU per push at that size);
	 * from the heap, the last one's pages are reused. glibc raises its
	 * mmap threshold only when an mmapped block is freed, which the
	 * agent's long-lived arrays no longer do: fix it, and keep freed
	 * memory instead of trimming it back.
	 */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	enum { O_MANIFESTS = 256, O_KUBECONFIG, O_INCLUSTER, O_NODE, O_METRICS, O_GWMAC, O_BATCH,
	       O_BATCHMAX, O_STALL, O_BACKOFF, O_PAGE, O_LOGFMT, O_LOGLVL, O_PCACHE, O_COMPILE,
	       O_FLOWLOG, O_FLOWLOG_MS, O_HOSTROUTE, O_HOSTVIA, O_HOSTIP };
	static const struct option opts[] = {
		{"manifests", required_argument, NULL, O_MANIFESTS},
		{"kubeconfig", required_argument, NULL, O_KUBECONFIG},
		{"in-cluster", no_argument, NULL, O_INCLUSTER},
		{"node", required_argument, NULL, O_NODE},
		{"socket", required_argument, NULL, 's'},
		{"metrics", required_argument, NULL, O_METRICS},
		{"underlay-gateway-mac", required_argument, NULL, O_GWMAC},
		{"host-route", required_argument, NULL, O_HOSTROUTE},
		{"host-route-via", required_argument, NULL, O_HOSTVIA},
		{"host-ip", required_argument, NULL, O_HOSTIP},
		{"batch-ms", required_argument, NULL, O_BATCH},
		{"batch-max-ms", required_argument, NULL, O_BATCHMAX},
		{"watch-stall-timeout", required_argument, NULL, O_STALL},
		{"backoff-max", required_argument, NULL, O_BACKOFF},
		{"page-size", required_argument, NULL, O_PAGE},
		{"log-format", required_argument, NULL, O_LOGFMT},
		{"log-level", required_argument, NULL, O_LOGLVL},
		{"policy-cache", required_argument, NULL, O_PCACHE},
		{"compile-to", required_argument, NULL, O_COMPILE},
		{"flow-log", required_argument, NULL, O_FLOWLOG},
		{"flow-log-interval-ms", required_argument, NULL, O_FLOWLOG_MS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char **dirs = calloc((size_t)argc, sizeof(*dirs));
	unsigned n_dirs = 0;
	const char *kubeconfig = NULL, *metrics = "127.0.0.1:9464", *compile_to = NULL;
	bool in_cluster = false;
	static char hostname[256];
	struct ag_sync_options so = {.socket = NSDP_DEFAULT_SOCKET, .batch_ms = 5,
				     .batch_max_ms = 50};
	struct kapi_options ko = {.stall_timeout_s = 90, .backoff_max_s = 30, .page_size = 2000};
	struct ag_flowlog_options fo = {.interval_ms = 200};
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case O_MANIFESTS: dirs[n_dirs++] = optarg; break;
		case O_KUBECONFIG: kubeconfig = optarg; break;
		case O_INCLUSTER: in_cluster = true; break;
		case O_NODE: so.node = optarg; break;
		case 's': so.socket = optarg; break;
		case O_METRICS: metrics = optarg; break;
		case O_GWMAC:
			if (nsdp_parse_mac(optarg, so.gw_mac)) {
				fprintf(stderr, "nsdp-agent: --underlay-gateway-mac %s: not a MAC address\n",
					optarg);
				return 2;
			}
			so.have_gw_mac = true;
			break;
		case O_HOSTROUTE:
			if (!*optarg || strlen(optarg) >= IF_NAMESIZE) {
				fprintf(stderr, "nsdp-agent: --host-route %s: not an interface name\n",
					optarg);
				return 2;
			}
			so.host_route = optarg;
			break;
		case O_HOSTVIA:
		case O_HOSTIP: {
			struct in_addr a;
			if (inet_pton(AF_INET, optarg, &a) != 1 || !a.s_addr) {
				fprintf(stderr, "nsdp-agent: --%s %s: not an IPv4 address\n",
					c == O_HOSTVIA ? "host-route-via" : "host-ip", optarg);
				return 2;
			}
			*(c == O_HOSTVIA ? &so.host_route_via : &so.host_ip) = a.s_addr;
			break;
		}
		case O_BATCH:
		case O_BATCHMAX:
		case O_PAGE: {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v > 100000 || (c == O_PAGE && !v)) {
				fprintf(stderr, "nsdp-agent: --%s %s: expected a number\n",
					c == O_BATCH ? "batch-ms" : c == O_PAGE ? "page-size" : "batch-max-ms",
					optarg);
				return 2;
			}
			if (c == O_BATCH)
				so.batch_ms = (unsigned)v;
			else if (c == O_PAGE)
				ko.page_size = (unsigned)v;
			else
				so.batch_max_ms = (unsigned)v;
			break;
		}
		case O_STALL:
		case O_BACKOFF: {
			double v = strtod(optarg, &end);
			if (*end || !*optarg || v <= 0) {
				fprintf(stderr, "nsdp-agent: %s: expected seconds\n", optarg);
				return 2;
			}
			if (c == O_STALL)
				ko.stall_timeout_s = v;
			else
				ko.backoff_max_s = v;
			break;
		}
		case O_LOGFMT:
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "nsdp-agent: --log-format %s (allowed: text, json)\n", optarg);
				return 2;
			}
			ag_log_json = !strcmp(optarg, "json");
			break;
		case O_LOGLVL: {
			static const char *const lv[] = {"debug", "info", "warn", "error"};
			int i = 0;
			while (i < 4 && strcmp(optarg, lv[i]))
				i++;
			if (i == 4) {
				fprintf(stderr, "nsdp-agent: --log-level %s (allowed: debug, info, warn, error)\n",
					optarg);
				return 2;
			}
			ag_log_level = (enum ag_level)i;
			break;
		}
		case O_PCACHE: so.policy_cache = optarg; break;
		case O_COMPILE: compile_to = optarg; break;
		case O_FLOWLOG: fo.path = optarg; break;
		case O_FLOWLOG_MS: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 10 || v > 60000) {
				fprintf(stderr, "nsdp-agent: --flow-log-interval-ms %s: expected 10..60000\n",
					optarg);
				return 2;
			}
			fo.interval_ms = (unsigned)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nsdp-agent: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if ((so.host_route_via || so.host_ip) && !so.host_route) {
		fprintf(stderr, "nsdp-agent: --host-route-via and --host-ip need --host-route IFACE\n");
		return 2;
	}
	if (!so.host_route_via)
		so.host_route_via = htonl(0xa9fe0101); /* 169.254.1.1 */
	if (compile_to)
		return compile_only(dirs, n_dirs, compile_to);
	if (!kubeconfig && !n_dirs && !in_cluster) {
		kubeconfig = getenv("KUBECONFIG");
		if (kubeconfig && !*kubeconfig)
			kubeconfig = NULL;
		in_cluster = !kubeconfig && getenv("KUBERNETES_SERVICE_HOST");
	}
	if ((n_dirs > 0) + (kubeconfig != NULL) + in_cluster != 1) {
		fprintf(stderr, "nsdp-agent: give exactly one source: --manifests DIR..., --kubeconfig FILE or --in-cluster\n");
		usage(stderr);
		return 2;
	}
	if (!so.node)
		so.node = getenv("NODE_NAME");
	if (!so.node || !*so.node) {
		gethostname(hostname, sizeof(hostname) - 1);
		so.node = hostname;
	}
	if (so.batch_max_ms < so.batch_ms)
		so.batch_max_ms = so.batch_ms;
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	ag_queue_init(&queue);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ag_dp_socket = so.socket;
	if (strcmp(metrics, "none") && ag_metrics_start(metrics))
		return 1;
	ag_log(AG_INFO, "agent", "nsdp-agent starting: node %s, dataplane %s", so.node, so.socket);
	so.expect_mask = (1u << AG_N_KINDS) - 1;
	struct kapi_config *cfg = NULL;
	if (n_dirs) {
		if (ag_manifests_start(&queue, dirs, n_dirs))
			return 1;
	} else {
		if (!(cfg = kapi_config_load(kubeconfig)))
			return 1;
		if (kapi_start(&queue, cfg, &ko)) {
			ag_log(AG_ERROR, "agent", "starting the API watches failed");
			return 1;
		}
	}
	if (fo.path) {
		fo.socket = so.socket;
		fo.node = so.node;
		if (ag_flowlog_start(&fo))
			return 1;
	}
	ag_sync_run(&queue, &so);
	ag_stop_requested = 1; /* the flow-log writer too */
	ag_flowlog_stop();
	ag_log(AG_INFO, "agent", "stopped; the dataplane keeps its tables");
	/* Watch threads block in libcurl: leave without joining them. */
	fflush(NULL);
	_exit(0);
}
