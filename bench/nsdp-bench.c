/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-bench: in-process microbenchmark of the real packet path
 * (dataplane/worker.c dp_process_burst + dp_tx_flush) on one lcore.
 *
 * Set-up: EAL with three net_null ports (no-rx=1; their TX frees mbufs),
 * a `struct dp` brought up with the dataplane's own dp_ports_start() and
 * dp_init_tables() from a generated configuration (uplink, pod0, pod1,
 * NP local pods alternating over pod0/pod1, NN remote nodes with one /24
 * each behind their VTEP).
 *
 * Scenarios (F established TCP flows each):
 *   decap  VXLAN (or Geneve) frames from a remote VTEP carrying TCP ACKs of
 *          remote pod -> local pod; dataplane validates, decapsulates,
 *          tracks and delivers to pod0/pod1.
 *   encap  TCP ACKs local pod -> remote pod arriving on the pod's port;
 *          dataplane checks the source, routes, tracks and encapsulates
 *          towards the remote VTEP on the uplink.
 *
 * Per poll (burst of B packets, like dp_worker_main): rte_pktmbuf_alloc_bulk
 * + copy of a base frame + per-flow patch of addresses/ports/checksums (what
 * a copying PMD such as net_pcap, memif or vhost does), then ct_now(), the
 * table pointer load, dp_process_burst(), dp_tx_flush() (net_null frees),
 * rte_rcu_qsbr_quiescent(). Each phase is timed with rte_rdtsc().
 *
 * Flows are picked uniformly at random (a pre-generated index sequence), so
 * conntrack, endpoint and LPM accesses miss caches like real traffic does.
 * Before measuring, one pass over every flow creates its conntrack entry
 * (a TCP ACK as first packet creates a mid-stream ESTABLISHED entry); the
 * measured runs then must create none and drop none, which is checked.
 *
 * Polls longer than --outlier-us were preempted on the shared machine; they
 * are counted and left out of the per-phase figures.
 *
 * Output: a table on stdout and, with --json FILE, one JSON document. Exit
 * status 0, 1 (set-up failed), 2 (usage) or 3 (a check failed: the figures
 * are still printed, marked NOT OK). See docs/benchmarks.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_version.h>

#include <nsdp/drop.h>

#include "benchlib.h"
#include "conntrack.h"
#include "dp.h"

#define MAX_FLOW_SETS 8
#define MAX_REPS 32
#define SEQ_LEN (1u << 22) /* random flow indices, reused cyclically */
#define MAX_FRAME 256

enum { SC_DECAP = 1, SC_ENCAP = 2 };

const char bench_tool[] = "nsdp-bench";

struct opts {
	struct bench_opts b; /* --seconds --warm-seconds --reps --burst --ct-size --geneve
			      * --seed --outlier-us --json */
	unsigned flows[MAX_FLOW_SETS];
	unsigned n_flows;
	unsigned scenarios;
	unsigned pods;   /* local pods, even, <= 240 */
	unsigned nodes;  /* remote nodes, <= 200 */
	unsigned rpods;  /* pods per remote node, <= 240 */
	unsigned payload;
	unsigned lcore;
	unsigned mbufs;
};

/* One flow, derived arithmetically from its index (no per-flow memory). */
struct flow {
	unsigned local;  /* local pod index */
	unsigned node;   /* remote node index */
	unsigned rpod;   /* pod index on that node */
	uint16_t cport;  /* client (ephemeral) port, host order */
	uint16_t sport;  /* server port, host order */
};

static const uint16_t server_ports[4] = {80, 443, 8080, 5432};

static inline void flow_of(const struct opts *o, uint32_t f, struct flow *fl)
{
	uint32_t pairs = o->nodes * o->rpods;
	fl->local = f % o->pods;
	uint32_t q = f / o->pods;
	uint32_t r = q % pairs;
	fl->node = r % o->nodes;
	fl->rpod = r / o->nodes;
	fl->cport = (uint16_t)(20000 + q / pairs);
	fl->sport = server_ports[(f >> 3) & 3];
}

static inline uint32_t ip_local_pod(unsigned l)
{
	return rte_cpu_to_be_32(0x0af40100u | (10 + l)); /* 10.244.1.(10+l) */
}

static inline uint32_t ip_remote_pod(unsigned n, unsigned r)
{
	return rte_cpu_to_be_32(0x0af40000u | (2 + n) << 8 | (10 + r)); /* 10.244.(2+n).(10+r) */
}

static inline uint32_t ip_vtep(unsigned n) /* n = -1: this node (192.168.100.1) */
{
	return rte_cpu_to_be_32(0xc0a86400u | (2 + n)); /* 192.168.100.(2+n) */
}

static void mac_local_pod(unsigned l, uint8_t *m)
{
	const uint8_t v[6] = {0x02, 0x00, 0x00, 0x00, 0x01, (uint8_t)(10 + l)};
	memcpy(m, v, 6);
}

static void mac_vtep(unsigned n, uint8_t *m)
{
	const uint8_t v[6] = {0x02, 0x00, 0x00, 0x00, 0x00, (uint8_t)(2 + n)};
	memcpy(m, v, 6);
}

/* ---- base frames ------------------------------------------------------ */

struct tmpl {
	uint8_t frame[MAX_FRAME];
	uint16_t len;
	uint16_t ip_off; /* the tracked (inner) IPv4 header */
};

/* Ethernet + IPv4 + TCP ACK (+ payload) at p, zeroed before; returns its length. */
static uint16_t put_inner(uint8_t *p, unsigned payload)
{
	uint16_t ip_total = (uint16_t)(20 + 20 + payload);
	bench_put_inner(p, IPPROTO_TCP, ip_total);
	for (unsigned i = 0; i < payload; i++)
		p[54 + i] = (uint8_t)(i * 7);
	return (uint16_t)(14 + ip_total);
}

static void build_tmpl(const struct opts *o, const struct dp *dp, unsigned sc, struct tmpl *t)
{
	memset(t, 0, sizeof(*t));
	if (sc == SC_ENCAP) {
		t->len = put_inner(t->frame, o->payload);
		t->ip_off = 14;
		return;
	}
	/* src MAC, VTEP and UDP port: patched per node and flow */
	uint16_t inner = put_inner(t->frame + BENCH_INNER, o->payload);
	bench_put_outer(t->frame, dp, o->b.geneve, inner);
	t->len = (uint16_t)(BENCH_INNER + inner);
	t->ip_off = BENCH_INNER + 14;
}

/* Fill mbuf m with flow f of scenario sc: what the PMD's RX would hand over. */
static inline void fill(const struct opts *o, const struct tmpl *t, unsigned sc, uint32_t f,
			struct rte_mbuf *m)
{
	struct flow fl;
	flow_of(o, f, &fl);
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(p, t->frame, 128);
	if (unlikely(t->len > 128))
		memcpy(p + 128, t->frame + 128, t->len - 128u);
	m->data_len = t->len;
	m->pkt_len = t->len;

	uint8_t *ip = p + t->ip_off;
	uint32_t lp = ip_local_pod(fl.local), rp = ip_remote_pod(fl.node, fl.rpod);
	if (sc == SC_DECAP) {
		/* remote client -> local server */
		bench_tuple(ip, rp, lp, fl.cport, fl.sport);
		mac_vtep(fl.node, p + 6);
		bench_outer_from(p, ip_vtep(fl.node), f);
	} else {
		/* local client -> remote server */
		mac_local_pod(fl.local, p + 6);
		bench_tuple(ip, lp, rp, fl.cport, fl.sport);
	}
	bench_ip_csum(ip);
}

/* ---- set-up ------------------------------------------------------------ */

static char *config_text(const struct opts *o)
{
	struct sbuf b = {0};
	bench_config_head(&b, "192.168.100.1", 1500, o->b.geneve, o->lcore, o->b.burst);
	sb(&b, "tables = { conntrack = %u; endpoints = 4096; };\n", o->b.ct_size);
	sb(&b, "endpoints = (\n");
	for (unsigned l = 0; l < o->pods; l++) {
		uint8_t m[6];
		mac_local_pod(l, m);
		sb(&b, "  { ip = \"10.244.1.%u\"; port = \"pod%u\"; "
		   "mac = \"%02x:%02x:%02x:%02x:%02x:%02x\"; identity = %u; }%s\n",
		   10 + l, l & 1, m[0], m[1], m[2], m[3], m[4], m[5], 1000 + l,
		   l + 1 < o->pods ? "," : "");
	}
	sb(&b, ");\nvteps = (\n");
	for (unsigned v = 0; v < o->nodes; v++) {
		uint8_t m[6];
		mac_vtep(v, m);
		sb(&b, "  { ip = \"192.168.100.%u\"; mac = \"%02x:%02x:%02x:%02x:%02x:%02x\"; }%s\n",
		   2 + v, m[0], m[1], m[2], m[3], m[4], m[5], v + 1 < o->nodes ? "," : "");
	}
	sb(&b, ");\nroutes = (\n  { prefix = \"10.244.1.0/24\"; local = true; }");
	for (unsigned v = 0; v < o->nodes; v++)
		sb(&b, ",\n  { prefix = \"10.244.%u.0/24\"; vtep = \"192.168.100.%u\"; }", 2 + v, 2 + v);
	sb(&b, "\n);\n");
	return sb_take(&b, NULL);
}

/* ---- measurement ------------------------------------------------------- */

struct result {
	unsigned sc;
	unsigned flows;
	uint64_t warm_created;
	uint64_t warm_drops;
	uint64_t ct_entries;
	uint64_t run_created;
	uint64_t run_drops;
	uint64_t run_tx;
	unsigned n;
	struct bench_sample s[MAX_REPS]; /* polls longer than --outlier-us left out */
	double warm_total_cpp;
	bool ok;        /* every flow established, nothing dropped or created */
	char note[160]; /* what was wrong otherwise */
};

static struct rte_mbuf *pkts_buf[DP_MAX_BURST];

static void print_drops(const struct dp_lcore_stats *st)
{
	for (unsigned r = 1; r < NSDP_DROP_MAX; r++)
		if (st->drops[r])
			fprintf(stderr, "  drop %s: %" PRIu64 "\n", nsdp_drop_name(r), st->drops[r]);
}

/*
 * One poll: generate `n` packets of flows seq[*pos..] for port `in`, process,
 * flush, as dp_worker_main does after rte_eth_rx_burst. For encap the flow
 * index is forced to the port's parity (local pod l is on pod(l & 1); pods
 * is even, so the flow's parity is the pod's).
 */
static inline int poll_once(struct dp *dp, struct dp_worker *w, const struct opts *o,
			    const struct tmpl *t, unsigned sc, unsigned in, unsigned n,
			    const uint32_t *seq, uint32_t *pos, uint32_t nflows,
			    struct bench_sample *s)
{
	uint64_t t0 = rte_rdtsc();
	if (rte_pktmbuf_alloc_bulk(dp->pool, pkts_buf, n) != 0)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		uint32_t f = seq[*pos];
		*pos = (*pos + 1) & (SEQ_LEN - 1);
		if (sc == SC_ENCAP) {
			f = (f & ~1u) | (in == POD1);
			if (f >= nflows)
				f -= 2;
		}
		fill(o, t, sc, f, pkts_buf[i]);
	}
	uint64_t t1 = rte_rdtsc();
	bench_dp_poll_timed(dp, w, in, pkts_buf, n, t0, t1, s);
	return 0;
}

static int run_timed(struct dp *dp, struct dp_worker *w, const struct opts *o,
		     const struct tmpl *t, unsigned sc, const uint32_t *seq, uint32_t *pos,
		     uint32_t nflows, double seconds, struct bench_sample *s)
{
	memset(s, 0, sizeof(*s));
	uint64_t hz = rte_get_tsc_hz();
	uint64_t start = rte_rdtsc();
	uint64_t end = start + (uint64_t)(seconds * (double)hz);
	unsigned b = 0;
	double ms0 = bench_now_ms();
	do {
		for (unsigned k = 0; k < 64; k++, b++) {
			unsigned in = sc == SC_DECAP ? UPLINK : (b & 1) ? POD1 : POD0;
			int rc = poll_once(dp, w, o, t, sc, in, o->b.burst, seq, pos, nflows, s);
			if (rc)
				return rc;
		}
	} while (rte_rdtsc() < end);
	s->wall_s = (bench_now_ms() - ms0) / 1e3;
	return 0;
}

static const char *sc_name(unsigned sc)
{
	return sc == SC_DECAP ? "decap" : "encap";
}

static int bench_one(struct dp *dp, struct dp_worker *w, const struct opts *o,
		     unsigned sc, uint32_t nflows, const uint32_t *seq, struct result *r)
{
	memset(r, 0, sizeof(*r));
	r->sc = sc;
	r->flows = nflows;

	/* A fresh conntrack per run, so runs do not share entries. */
	if (bench_fresh_ct(dp))
		return -1;
	memset(w->stats, 0, sizeof(*w->stats));

	struct tmpl t;
	build_tmpl(o, dp, sc, &t);

	/* Warm: every flow once, in order, per port (creates the entries). */
	struct bench_sample ws;
	memset(&ws, 0, sizeof(ws));
	for (unsigned in = 0; in < NPORTS; in++) {
		if ((sc == SC_DECAP) != (in == UPLINK))
			continue;
		/* encap: flows of this port's parity; decap: all */
		uint32_t step = sc == SC_ENCAP ? 2 : 1;
		uint32_t first = sc == SC_ENCAP ? (in == POD1) : 0;
		uint32_t f = first;
		while (f < nflows) {
			unsigned n = 0;
			uint32_t fl[DP_MAX_BURST];
			while (n < o->b.burst && f < nflows) {
				fl[n++] = f;
				f += step;
			}
			/* fill by explicit index */
			uint64_t t0 = rte_rdtsc();
			if (rte_pktmbuf_alloc_bulk(dp->pool, pkts_buf, n) != 0)
				return -1;
			for (unsigned i = 0; i < n; i++)
				fill(o, &t, sc, fl[i], pkts_buf[i]);
			bench_dp_poll(dp, w, in, pkts_buf, n);
			ws.total += rte_rdtsc() - t0;
			ws.pkts += n;
		}
	}
	r->warm_created = w->stats->lc.ct_created;
	r->warm_drops = bench_sum_drops(w->stats);
	r->warm_total_cpp = bench_cpp(ws.total, ws.pkts);
	r->ct_entries = ct_count(dp->ct);
	r->ok = true;
	if (r->warm_drops || r->warm_created != nflows) {
		/* Go on measuring: the figures are reported, marked not ok. */
		snprintf(r->note, sizeof(r->note),
			 "warm-up created %" PRIu64 " of %u entries, dropped %" PRIu64,
			 r->warm_created, nflows, r->warm_drops);
		fprintf(stderr, "nsdp-bench: %s %u flows: %s\n", sc_name(sc), nflows, r->note);
		print_drops(w->stats);
		r->ok = false;
	}

	/* Unmeasured random warm-up (caches, TLB, branch predictors). */
	uint32_t pos = (uint32_t)(o->b.seed % SEQ_LEN);
	struct bench_sample scratch;
	if (run_timed(dp, w, o, &t, sc, seq, &pos, nflows, o->b.warm_seconds, &scratch))
		return -1;

	memset(w->stats, 0, sizeof(*w->stats));
	for (unsigned i = 0; i < o->b.reps; i++) {
		if (run_timed(dp, w, o, &t, sc, seq, &pos, nflows, o->b.seconds, &r->s[i]))
			return -1;
		r->n++;
	}
	r->run_created = w->stats->lc.ct_created;
	r->run_drops = bench_sum_drops(w->stats);
	r->run_tx = bench_sum_tx(w->stats);
	uint64_t sent = 0;
	for (unsigned i = 0; i < r->n; i++)
		sent += r->s[i].raw_pkts;
	if (r->run_drops || r->run_created || r->run_tx != sent) {
		size_t n = strlen(r->note);
		snprintf(r->note + n, sizeof(r->note) - n,
			 "%smeasured: created %" PRIu64 " entries, dropped %" PRIu64 ", sent %" PRIu64
			 " of %" PRIu64,
			 n ? "; " : "", r->run_created, r->run_drops, r->run_tx, sent);
		fprintf(stderr, "nsdp-bench: %s %u flows: %s\n", sc_name(sc), nflows, r->note);
		print_drops(w->stats);
		r->ok = false;
	}
	return 0;
}

/* ---- options ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nsdp-bench [options]\n"
		"  --flows LIST        comma-separated flow counts (k/M suffixes), default 10k,100k,1M\n"
		"  --scenario S        decap | encap | both (default both)\n"
		"  --seconds S         length of one measured repetition (default 2)\n"
		"  --warm-seconds S    unmeasured random warm-up per case (default 1)\n"
		"  --reps N            repetitions per case, median reported (default 5)\n"
		"  --burst N           packets per poll (default 32)\n"
		"  --pods N            local pods, even, 2..240 (default 128)\n"
		"  --nodes N           remote nodes, 1..200 (default 16)\n"
		"  --remote-pods N     pods per remote node, 1..240 (default 64)\n"
		"  --ct-size N         conntrack size (default 2M)\n"
		"  --payload N         TCP payload bytes (default 0: a bare ACK)\n"
		"  --geneve            Geneve instead of VXLAN\n"
		"  --lcore N           lcore to run on (default 1)\n"
		"  --no-huge           anonymous memory instead of hugepages (with --mem MB)\n"
		"  --mem MB            memory for --no-huge (default 1024)\n"
		"  --seed N            random seed (default 1)\n"
		"  --outlier-us US     polls longer than this count as preempted and are left\n"
		"                      out of the per-phase figures (default 100)\n"
		"  --json FILE         write results as JSON\n");
}

/* The options of nsdp-bench's own (bench_getopt() takes the common ones). */
static int own_opt(void *arg, int c, const char *val)
{
	struct opts *o = arg;
	int n;
	switch (c) {
	case 'f':
		n = bench_parse_list(val, "--flows", MAX_FLOW_SETS, bench_list_count, o->flows);
		if (n < 0)
			return -1;
		o->n_flows = (unsigned)n;
		return 0;
	case 's':
		if (!strcmp(val, "decap"))
			o->scenarios = SC_DECAP;
		else if (!strcmp(val, "encap"))
			o->scenarios = SC_ENCAP;
		else if (!strcmp(val, "both"))
			o->scenarios = SC_DECAP | SC_ENCAP;
		else
			return -1;
		return 0;
	case 'p':
		o->pods = (unsigned)atoi(val);
		return 0;
	case 'n':
		o->nodes = (unsigned)atoi(val);
		return 0;
	case 'R':
		o->rpods = (unsigned)atoi(val);
		return 0;
	case 'P':
		o->payload = (unsigned)atoi(val);
		return 0;
	case 'l':
		o->lcore = (unsigned)atoi(val);
		return 0;
	default:
		return -1;
	}
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"flows", required_argument, NULL, 'f'},
		{"scenario", required_argument, NULL, 's'},
		{"pods", required_argument, NULL, 'p'},
		{"nodes", required_argument, NULL, 'n'},
		{"remote-pods", required_argument, NULL, 'R'},
		{"payload", required_argument, NULL, 'P'},
		{"lcore", required_argument, NULL, 'l'},
		BENCH_LONG_OPTIONS,
	};
	*o = (struct opts){
		.b = {.seconds = 2, .warm_seconds = 1, .reps = 5, .burst = 32,
		      .ct_size = 2u << 20, .seed = 1, .outlier_us = 100, .mem_mb = 1024},
		.flows = {10000, 100000, 1000000},
		.n_flows = 3,
		.scenarios = SC_DECAP | SC_ENCAP,
		.pods = 128,
		.nodes = 16,
		.rpods = 64,
		.lcore = 1,
	};
	if (bench_getopt(argc, argv, lo, &o->b, usage, own_opt, o))
		return -1;
	if (bench_opts_check(&o->b, MAX_REPS, 16) || o->pods < 2 || o->pods > 240 ||
	    o->pods % 2 || o->nodes < 1 || o->nodes > 200 || o->rpods < 1 || o->rpods > 240 ||
	    o->payload > 1400) {
		fprintf(stderr, "nsdp-bench: option out of range (see --help)\n");
		return -1;
	}
	for (unsigned i = 0; i < o->n_flows; i++) {
		uint64_t max = (uint64_t)o->pods * o->nodes * o->rpods * 40000u;
		if (o->flows[i] < 2 || o->flows[i] > max) {
			fprintf(stderr, "nsdp-bench: --flows %u out of range\n", o->flows[i]);
			return -1;
		}
	}
	return 0;
}

/* ---- output ------------------------------------------------------------- */

struct summary {
	double gen, proc, tx, dp, total, raw; /* median cycles/packet */
	uint64_t pkts, preempted, polls;
};

static void summarize(const struct result *r, const struct opts *o, struct summary *m)
{
	double g[MAX_REPS], p[MAX_REPS], t[MAX_REPS], d[MAX_REPS], a[MAX_REPS], w[MAX_REPS];
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < r->n; i++) {
		const struct bench_sample *s = &r->s[i];
		g[i] = bench_cpp(s->gen, s->pkts);
		p[i] = bench_cpp(s->proc, s->pkts);
		t[i] = bench_cpp(s->tx, s->pkts);
		d[i] = bench_cpp(s->proc + s->tx, s->pkts);
		a[i] = bench_cpp(s->total, s->pkts);
		w[i] = bench_cpp(s->raw_total, s->raw_pkts);
		m->pkts += s->raw_pkts;
		m->preempted += s->preempted;
		m->polls += s->raw_pkts / o->b.burst;
	}
	m->gen = bench_median(g, r->n);
	m->proc = bench_median(p, r->n);
	m->tx = bench_median(t, r->n);
	m->dp = bench_median(d, r->n);
	m->total = bench_median(a, r->n);
	m->raw = bench_median(w, r->n);
}

static void print_header(void)
{
	printf("%-6s %8s | %7s %8s %7s %8s %8s %8s | %7s %7s %7s\n", "case", "flows", "gen",
	       "process", "tx", "dp", "total", "raw", "Mpps", "dp-Mpps", "preempt");
}

static void print_result(const struct result *r, const struct opts *o, double hz)
{
	struct summary m;
	summarize(r, o, &m);
	printf("%-6s %8u | %7.1f %8.1f %7.1f %8.1f %8.1f %8.1f | %7.2f %7.2f %6.2f%%%s\n",
	       sc_name(r->sc), r->flows, m.gen, m.proc, m.tx, m.dp, m.total, m.raw,
	       hz / m.total / 1e6, hz / m.dp / 1e6,
	       m.polls ? 100.0 * (double)m.preempted / (double)m.polls : 0,
	       r->ok ? "" : "  NOT OK");
	fflush(stdout);
}

static void write_json(const struct opts *o, const struct dp *dp, const struct result *res,
		       unsigned nres, const char *file)
{
	FILE *f = bench_json_open(file);
	if (!f)
		return;
	double hz = (double)rte_get_tsc_hz();
	fprintf(f, "  \"lcore\": %u,\n", o->lcore);
	fprintf(f,
		"  \"params\": {\"burst\": %u, \"pods\": %u, \"nodes\": %u, \"remote_pods\": %u, "
		"\"ct_size\": %u, \"ct_slots\": %u, \"payload\": %u, \"overlay\": \"%s\", "
		"\"seconds\": %g, \"reps\": %u, \"hugepages\": %s, \"outlier_us\": %g},\n",
		o->b.burst, o->pods, o->nodes, o->rpods, o->b.ct_size, ct_capacity(dp->ct),
		o->payload, o->b.geneve ? "geneve" : "vxlan", o->b.seconds, o->b.reps,
		o->b.no_huge ? "false" : "true", o->b.outlier_us);
	fprintf(f, "  \"results\": [\n");
	for (unsigned i = 0; i < nres; i++) {
		const struct result *r = &res[i];
		struct summary m;
		summarize(r, o, &m);
		fprintf(f,
			"    {\"scenario\": \"%s\", \"flows\": %u, \"ct_entries\": %" PRIu64
			", \"frame_len\": %u,\n"
			"     \"median\": {\"gen_cpp\": %.1f, \"process_cpp\": %.1f, \"tx_cpp\": %.1f, "
			"\"dp_cpp\": %.1f, \"total_cpp\": %.1f, \"raw_total_cpp\": %.1f, "
			"\"total_mpps\": %.3f, \"dp_mpps\": %.3f},\n"
			"     \"packets\": %" PRIu64 ", \"polls\": %" PRIu64 ", \"preempted_polls\": %" PRIu64
			", \"drops\": %" PRIu64 ", \"created_while_measuring\": %" PRIu64
			", \"warm_pass_cpp\": %.1f, \"ok\": %s, \"note\": \"%s\",\n     \"reps\": [",
			sc_name(r->sc), r->flows, r->ct_entries,
			r->sc == SC_DECAP ? 50 + 54 + o->payload : 54 + o->payload, m.gen, m.proc,
			m.tx, m.dp, m.total, m.raw, hz / m.total / 1e6, hz / m.dp / 1e6, m.pkts,
			m.polls, m.preempted, r->run_drops, r->run_created, r->warm_total_cpp,
			r->ok ? "true" : "false", r->note);
		for (unsigned k = 0; k < r->n; k++) {
			const struct bench_sample *s = &r->s[k];
			fprintf(f,
				"%s\n       {\"pkts\": %" PRIu64 ", \"wall_s\": %.3f, \"gen_cpp\": %.1f, "
				"\"process_cpp\": %.1f, \"tx_cpp\": %.1f, \"total_cpp\": %.1f, "
				"\"raw_total_cpp\": %.1f, \"preempted_polls\": %" PRIu64 "}",
				k ? "," : "", s->raw_pkts, s->wall_s, bench_cpp(s->gen, s->pkts),
				bench_cpp(s->proc, s->pkts), bench_cpp(s->tx, s->pkts),
				bench_cpp(s->total, s->pkts), bench_cpp(s->raw_total, s->raw_pkts),
				s->preempted);
		}
		fprintf(f, "]}%s\n", i + 1 < nres ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	fclose(f);
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}

	static struct dp the_dp;
	struct dp *dp = &the_dp;
	char *text = config_text(&o);
	char lc[16];
	snprintf(lc, sizeof(lc), "%u", o.lcore);
	const struct bench_dp_spec spec = {
		.lcores = lc,
		.n_workers = 1,
		.worker_lcores = &o.lcore, /* the main lcore, the only one */
		.mbufs = 16383,
		.no_huge = o.b.no_huge,
		.mem_mb = o.b.mem_mb,
		.outlier_us = o.b.outlier_us,
	};
	int rc = bench_dp_open(dp, &spec, argv[0], text);
	free(text);
	struct result *res = NULL;
	uint32_t *seq = NULL;
	uint64_t *raw = NULL;
	struct dp_worker *w = NULL;
	if (rc)
		goto out;
	rc = 1;
	w = &dp->workers[0];
	rte_rcu_qsbr_thread_register(dp->qsv, w->idx);
	rte_rcu_qsbr_thread_online(dp->qsv, w->idx);

	/* Random flow sequence (xorshift64*), reduced per flow count below. */
	raw = malloc(sizeof(uint64_t) * SEQ_LEN);
	seq = malloc(sizeof(uint32_t) * SEQ_LEN);
	res = calloc(2 * o.n_flows, sizeof(*res));
	if (!raw || !seq || !res)
		goto out_rcu;
	uint64_t x = o.b.seed * 0x9E3779B97F4A7C15ull + 1;
	for (uint32_t i = 0; i < SEQ_LEN; i++)
		raw[i] = bench_rng(&x);

	double hz = (double)rte_get_tsc_hz();
	printf("nsdp-bench: DPDK %s, lcore %u, TSC %.3f GHz, burst %u, conntrack %u slots, "
	       "%s, %u local pods, %u nodes x %u remote pods\n",
	       rte_version(), rte_lcore_id(), hz / 1e9, o.b.burst, ct_capacity(dp->ct),
	       o.b.geneve ? "geneve" : "vxlan", o.pods, o.nodes, o.rpods);
	print_header();
	fflush(stdout);

	unsigned nres = 0, not_ok = 0;
	for (unsigned fi = 0; fi < o.n_flows; fi++) {
		uint32_t nf = o.flows[fi];
		for (uint32_t i = 0; i < SEQ_LEN; i++)
			seq[i] = bench_below(raw[i], nf);
		for (unsigned sc = SC_DECAP; sc <= SC_ENCAP; sc <<= 1) {
			if (!(o.scenarios & sc))
				continue;
			struct result *r = &res[nres];
			if (bench_one(dp, w, &o, sc, nf, seq, r))
				goto out_rcu;
			nres++;
			print_result(r, &o, hz);
			if (!r->ok)
				not_ok++;
		}
	}
	printf("cycles/packet, medians over %u repetitions of %gs: gen = mbuf alloc + frame "
	       "copy/patch (the PMD's RX work),\nprocess = dp_process_burst, tx = dp_tx_flush "
	       "(net_null frees), dp = process + tx, total = gen + dp (preempted polls left out),\n"
	       "raw = total over every poll; Mpps = TSC Hz / total, dp-Mpps = TSC Hz / dp\n",
	       o.b.reps, o.b.seconds);
	if (o.b.json)
		write_json(&o, dp, res, nres, o.b.json);
	if (not_ok)
		printf("%u case(s) not ok: drops or flows not established (see above)\n", not_ok);
	rc = not_ok ? 3 : 0;
out_rcu:
	rte_rcu_qsbr_thread_offline(dp->qsv, w->idx);
out:
	free(raw);
	free(seq);
	free(res);
	bench_dp_close(dp);
	return rc;
}
