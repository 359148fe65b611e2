/* SPDX-License-Identifier: Apache-2.0 */
/* What nsdp-bench and nsdp-scen share: see benchlib.h. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_version.h>

#include <nsdp/drop.h>

#include "benchlib.h"
#include "port.h"

uint64_t bench_outlier_cycles;

static const uint8_t GW_MAC[6] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee};

/* ---- options ------------------------------------------------------------------------ */

/* Option c of BENCH_LONG_OPTIONS: 1 (taken), 0 (not one of them), -1 (bad value). */
static int common_opt(struct bench_opts *b, int c, const char *arg)
{
	switch (c) {
	case 't':
		b->seconds = atof(arg);
		return 1;
	case 'W':
		b->warm_seconds = atof(arg);
		return 1;
	case 'r':
		b->reps = (unsigned)atoi(arg);
		return 1;
	case 'b':
		b->burst = (unsigned)atoi(arg);
		return 1;
	case 'c':
		return bench_parse_count(arg, &b->ct_size, NULL) ? -1 : 1;
	case 'g':
		b->geneve = true;
		return 1;
	case 'S':
		b->seed = strtoull(arg, NULL, 0);
		return 1;
	case 'O':
		b->outlier_us = atof(arg);
		return 1;
	case 'j':
		b->json = arg;
		return 1;
	case 'H':
		b->no_huge = true;
		return 1;
	case 'm':
		b->mem_mb = (unsigned)atoi(arg);
		return 1;
	default:
		return 0;
	}
}

int bench_getopt(int argc, char **argv, const struct option *lo, struct bench_opts *b,
		 void (*usage)(FILE *), int (*own)(void *o, int c, const char *arg), void *o)
{
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int taken = common_opt(b, c, optarg);
		if (taken < 0)
			return -1;
		if (taken)
			continue;
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == '?' || own(o, c, optarg))
			return -1;
	}
	return optind == argc ? 0 : -1;
}

int bench_opts_check(const struct bench_opts *b, unsigned max_reps, uint32_t min_ct)
{
	if (b->reps < 1 || b->reps > max_reps || b->seconds <= 0 || b->warm_seconds < 0 ||
	    b->burst < 1 || b->burst > 64 || b->ct_size < min_ct ||
	    (b->no_huge && b->mem_mb < 64))
		return -1;
	return 0;
}

int bench_parse_count(const char *s, unsigned *out, char **endp)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v *= 1e3, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1e6, end++;
	if (v < 1 || v > 16e6)
		return -1;
	if (endp)
		*endp = end;
	else if (*end)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int bench_parse_list(const char *list, const char *opt, unsigned max,
		     int (*each)(const char *tok, unsigned i, void *arg), void *arg)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup)
		return -1;
	unsigned n = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == max || each(tok, n, arg)) {
			fprintf(stderr, "%s: %s: bad \"%s\"\n", bench_tool, opt, tok);
			free(dup);
			return -1;
		}
		n++;
	}
	free(dup);
	return (int)n;
}

int bench_list_count(const char *tok, unsigned i, void *arg)
{
	return bench_parse_count(tok, (unsigned *)arg + i, NULL);
}

/* ---- the in-process dataplane ---------------------------------------------------------- */

void sb(struct sbuf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0)
			return;
		if (b->p && (size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		size_t cap = (b->cap + (size_t)k) * 2 + 4096;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

char *sb_take(struct sbuf *b, size_t *len)
{
	if (b->oom) {
		free(b->p);
		*b = (struct sbuf){0};
		errno = ENOMEM;
		return NULL;
	}
	if (len)
		*len = b->n;
	return b->p;
}

void bench_config_head(struct sbuf *b, const char *vtep, unsigned mtu, bool geneve,
		       unsigned worker_lcore, unsigned burst)
{
	sb(b,
	   "node = { name = \"bench\"; vtep = \"%s\"; overlay = \"%s\"; vni = 7; "
	   "mtu = %u; };\n",
	   vtep, geneve ? "geneve" : "vxlan", mtu);
	sb(b, "workers = [%u];\nmain_lcore = %u;\nburst = %u;\n", worker_lcore,
	   worker_lcore ? 0 : 1, burst < 32 ? 32 : burst);
	sb(b, "ports = (\n"
	      "  { name = \"uplink\"; devargs = \"net_null0,no-rx=1\"; role = \"uplink\"; },\n"
	      "  { name = \"pod0\"; devargs = \"net_null1,no-rx=1\"; role = \"pod\"; },\n"
	      "  { name = \"pod1\"; devargs = \"net_null2,no-rx=1\"; role = \"pod\"; }\n);\n");
}

/* How far bench_dp_open() got (one dataplane per process). */
static char rundir[PATH_MAX];
static bool eal_up, ports_up;

int bench_dp_open(struct dp *dp, const struct bench_dp_spec *sp, char *argv0,
		  const char *config)
{
	char err[512];
	if (!config || dp_config_parse(config, "<bench>", &dp->cfg, err, sizeof(err))) {
		fprintf(stderr, "%s: config: %s\n", bench_tool, config ? err : "out of memory");
		return 2;
	}
	dp->n_workers = sp->n_workers;
	dp_global = dp;

	char prefix[64], mem[16];
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s-%d", bench_tool, (int)getpid());
	snprintf(mem, sizeof(mem), "%u", sp->mem_mb);
	char *eargv[32 + 2 * DP_MAX_PORTS];
	int eargc = 0;
	eargv[eargc++] = argv0;
	eargv[eargc++] = (char *)"--lcores";
	eargv[eargc++] = (char *)sp->lcores;
	eargv[eargc++] = (char *)"--no-pci";
	if (!sp->no_huge) /* --no-huge has no shared files anyway */
		eargv[eargc++] = (char *)"--in-memory";
	eargv[eargc++] = prefix;
	eargv[eargc++] = (char *)"--log-level=lib.eal:error";
	if (sp->no_huge) {
		eargv[eargc++] = (char *)"--no-huge";
		eargv[eargc++] = (char *)"-m";
		eargv[eargc++] = mem;
	}
	eargc = dp_port_eal_args(dp, eargv, eargc, (int)RTE_DIM(eargv) - 1);
	eargv[eargc] = NULL;
	if (rte_eal_init(eargc, eargv) < 0) {
		fprintf(stderr, "%s: EAL init failed: %s\n", bench_tool, rte_strerror(rte_errno));
		return 1;
	}
	eal_up = true;
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());

	int socket = (int)rte_socket_id();
	dp->workers = rte_zmalloc("bench_workers", sp->n_workers * sizeof(*dp->workers),
				  RTE_CACHE_LINE_SIZE);
	dp->stats = rte_zmalloc("bench_stats", sp->n_workers * sizeof(*dp->stats),
				RTE_CACHE_LINE_SIZE);
	if (!dp->workers || !dp->stats)
		return 1;
	for (unsigned k = 0; k < sp->n_workers; k++) {
		struct dp_worker *w = &dp->workers[k];
		w->idx = k;
		w->lcore_id = sp->worker_lcores[k];
		w->stats = &dp->stats[k];
		w->stats->lc.lcore_id = w->lcore_id;
	}
	/* RX descriptors of the (no-rx) ports hold nothing; the benchmarks' own
	 * working set is a few bursts per worker. */
	dp->pool = rte_pktmbuf_pool_create("bench_mbufs", sp->mbufs, 256, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (!dp->pool) {
		fprintf(stderr, "%s: mbuf pool: %s\n", bench_tool, rte_strerror(rte_errno));
		return 1;
	}
	if (dp_ports_start(dp) < 0)
		return 1;
	ports_up = true;
	int rc = dp_init_tables(dp, socket);
	if (rc < 0) {
		fprintf(stderr, "%s: tables: %s\n", bench_tool, strerror(-rc));
		return 1;
	}
	bench_outlier_cycles = (uint64_t)((double)rte_get_tsc_hz() * sp->outlier_us / 1e6);
	return 0;
}

/* Remove EAL's runtime directory for our file prefix (and only that). */
static void remove_runtime_dir(const char *dir)
{
	char mine[64];
	snprintf(mine, sizeof(mine), "/%s-", bench_tool);
	if (!dir[0] || !strstr(dir, mine))
		return;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char path[PATH_MAX + 256];
			if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
			    (int)sizeof(path))
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

void bench_dp_close(struct dp *dp)
{
	if (ports_up)
		dp_ports_stop(dp);
	ports_up = false;
	if (eal_up) {
		rte_eal_cleanup();
		remove_runtime_dir(rundir);
	}
	eal_up = false;
	dp_config_release(&dp->cfg);
}

int bench_fresh_ct(struct dp *dp)
{
	ct_destroy(dp->ct);
	dp->ct = ct_create(dp->cfg.ct_size, &dp->cfg.timeouts, dp->qsv, (int)rte_socket_id());
	if (!dp->ct) {
		fprintf(stderr, "%s: conntrack of %u: %s\n", bench_tool, dp->cfg.ct_size,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- frames ---------------------------------------------------------------------------- */

void bench_put_ipv4(uint8_t *p, uint16_t total, uint8_t proto)
{
	p[0] = 0x45;
	bench_put16(p + 2, total);
	p[4] = 0x12;
	p[5] = 0x34;
	p[6] = 0x40; /* DF */
	p[8] = 64;
	p[9] = proto;
}

void bench_put_inner(uint8_t *p, uint8_t proto, uint16_t ip_total)
{
	memcpy(p, GW_MAC, 6);
	memset(p + 6, 0x02, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	bench_put_ipv4(p + 14, ip_total, proto);
	if (proto == IPPROTO_TCP) {
		uint8_t *t = p + 34;
		t[4] = 0x11; /* seq */
		t[8] = 0x22; /* ack */
		t[12] = 0x50;
		t[13] = 0x10; /* ACK */
		t[14] = 0xff;
		t[15] = 0xff;
	}
}

void bench_put_outer(uint8_t *p, const struct dp *dp, bool geneve, unsigned inner_len)
{
	memcpy(p, dp->ports[UPLINK].mac.addr_bytes, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	bench_put_ipv4(p + BENCH_OUTER_IP, 0, IPPROTO_UDP);
	memcpy(p + BENCH_OUTER_IP + 16, &dp->cfg.vtep_ip, 4);
	bench_put16(p + BENCH_OUTER_IP + 22, (uint16_t)dp->cfg.overlay_port);
	bench_outer_len(p, inner_len);
	uint8_t *h = p + 42;
	if (geneve) {
		h[2] = 0x65;
		h[3] = 0x58;
	} else {
		h[0] = 0x08;
	}
	uint32_t vni = dp->cfg.vni;
	h[4] = (uint8_t)(vni >> 16);
	h[5] = (uint8_t)(vni >> 8);
	h[6] = (uint8_t)vni;
}

double bench_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- counters and figures ------------------------------------------------------------------ */

uint64_t bench_sum_drops(const struct dp_lcore_stats *st)
{
	uint64_t d = 0;
	for (unsigned r = 1; r < NSDP_DROP_MAX; r++)
		d += st->drops[r];
	return d;
}

uint64_t bench_sum_tx(const struct dp_lcore_stats *st)
{
	uint64_t d = 0;
	for (unsigned p = 0; p < NPORTS; p++)
		d += st->port[p].tx_pkts;
	return d;
}

double bench_cpp(uint64_t cycles, uint64_t pkts)
{
	return pkts ? (double)cycles / (double)pkts : 0;
}

double bench_median(double *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) /* insertion sort: n is a few repetitions */
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	if (!n)
		return 0;
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

FILE *bench_json_open(const char *file)
{
	FILE *f = fopen(file, "w");
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", bench_tool, file, strerror(errno));
		return NULL;
	}
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(f, "{\n  \"tool\": \"%s\",\n  \"date\": \"%s\",\n  \"dpdk\": \"%s\",\n"
		   "  \"tsc_hz\": %.0f,\n",
		bench_tool, date, rte_version(), (double)rte_get_tsc_hz());
	return f;
}
