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
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_version.h>

#include <nsdp/drop.h>

#include "conntrack.h"
#include "dp.h"
#include "port.h"

#define MAX_FLOW_SETS 8
#define MAX_REPS 32
#define SEQ_LEN (1u << 22) /* random flow indices, reused cyclically */
#define MAX_FRAME 256

enum { UPLINK = 0, POD0 = 1, POD1 = 2, NPORTS = 3 };
enum { SC_DECAP = 1, SC_ENCAP = 2 };

static const uint8_t GW_MAC[6] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee};

struct opts {
	unsigned flows[MAX_FLOW_SETS];
	unsigned n_flows;
	unsigned scenarios;
	double seconds;
	double warm_seconds;
	unsigned reps;
	unsigned burst;
	unsigned pods;   /* local pods, even, <= 240 */
	unsigned nodes;  /* remote nodes, <= 200 */
	unsigned rpods;  /* pods per remote node, <= 240 */
	uint32_t ct_size;
	unsigned payload;
	unsigned lcore;
	unsigned mbufs;
	bool geneve;
	bool no_huge;
	unsigned mem_mb;
	uint64_t seed;
	double outlier_us;
	const char *json;
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
	uint16_t outer_ip_off; /* decap only */
};

static void put_ipv4(uint8_t *p, uint16_t total, uint8_t proto)
{
	p[0] = 0x45;
	p[1] = 0;
	p[2] = (uint8_t)(total >> 8);
	p[3] = (uint8_t)total;
	p[4] = 0x12;
	p[5] = 0x34;
	p[6] = 0x40; /* DF */
	p[7] = 0;
	p[8] = 64;
	p[9] = proto;
}

/* Ethernet + IPv4 + TCP ACK (+ payload) at p; returns its length. */
static uint16_t put_inner(uint8_t *p, unsigned payload)
{
	memcpy(p, GW_MAC, 6);
	memset(p + 6, 0x02, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	uint16_t ip_total = (uint16_t)(20 + 20 + payload);
	put_ipv4(p + 14, ip_total, IPPROTO_TCP);
	uint8_t *t = p + 34;
	memset(t, 0, 20);
	t[4] = 0x11; /* seq */
	t[8] = 0x22; /* ack */
	t[12] = 0x50;
	t[13] = 0x10; /* ACK */
	t[14] = 0xff;
	t[15] = 0xff;
	for (unsigned i = 0; i < payload; i++)
		t[20 + i] = (uint8_t)(i * 7);
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
	uint8_t *p = t->frame;
	memcpy(p, dp->ports[UPLINK].mac.addr_bytes, 6);
	/* src MAC: patched per node */
	p[12] = 0x08;
	p[13] = 0x00;
	uint16_t inner = put_inner(p + 50, o->payload);
	put_ipv4(p + 14, (uint16_t)(20 + 8 + 8 + inner), IPPROTO_UDP);
	uint32_t me = dp->cfg.vtep_ip;
	memcpy(p + 30, &me, 4);
	uint16_t udp_len = (uint16_t)(8 + 8 + inner);
	uint16_t dport = (uint16_t)dp->cfg.overlay_port;
	p[36] = (uint8_t)(dport >> 8);
	p[37] = (uint8_t)dport;
	p[38] = (uint8_t)(udp_len >> 8);
	p[39] = (uint8_t)udp_len;
	uint8_t *h = p + 42;
	uint32_t vni = dp->cfg.vni;
	if (o->geneve) {
		h[2] = 0x65;
		h[3] = 0x58;
	} else {
		h[0] = 0x08;
	}
	h[4] = (uint8_t)(vni >> 16);
	h[5] = (uint8_t)(vni >> 8);
	h[6] = (uint8_t)vni;
	t->len = (uint16_t)(50 + inner);
	t->ip_off = 64;
	t->outer_ip_off = 14;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ip_csum(uint8_t *ip)
{
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)ip;
	h->hdr_checksum = 0;
	h->hdr_checksum = rte_ipv4_cksum(h);
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
	uint8_t *l4 = ip + 20;
	uint32_t lp = ip_local_pod(fl.local), rp = ip_remote_pod(fl.node, fl.rpod);
	if (sc == SC_DECAP) {
		/* remote client -> local server */
		memcpy(ip + 12, &rp, 4);
		memcpy(ip + 16, &lp, 4);
		put16(l4, fl.cport);
		put16(l4 + 2, fl.sport);
		uint8_t *oip = p + t->outer_ip_off;
		mac_vtep(fl.node, p + 6);
		uint32_t v = ip_vtep(fl.node);
		memcpy(oip + 12, &v, 4);
		put16(oip + 20, (uint16_t)(49152 | ((f * 2654435761u) >> 18)));
		ip_csum(oip);
	} else {
		/* local client -> remote server */
		mac_local_pod(fl.local, p + 6);
		memcpy(ip + 12, &lp, 4);
		memcpy(ip + 16, &rp, 4);
		put16(l4, fl.cport);
		put16(l4 + 2, fl.sport);
	}
	ip_csum(ip);
}

/* ---- set-up ------------------------------------------------------------ */

static char *config_text(const struct opts *o)
{
	size_t cap = 64 * 1024, n = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
#define ADD(...) n += (size_t)snprintf(s + n, cap - n, __VA_ARGS__)
	ADD("node = { name = \"bench\"; vtep = \"192.168.100.1\"; overlay = \"%s\"; vni = 7; "
	    "mtu = 1500; };\n",
	    o->geneve ? "geneve" : "vxlan");
	ADD("workers = [%u];\nmain_lcore = %u;\nburst = %u;\n", o->lcore, o->lcore ? 0 : 1,
	    o->burst < 32 ? 32 : o->burst);
	ADD("ports = (\n"
	    "  { name = \"uplink\"; devargs = \"net_null0,no-rx=1\"; role = \"uplink\"; },\n"
	    "  { name = \"pod0\"; devargs = \"net_null1,no-rx=1\"; role = \"pod\"; },\n"
	    "  { name = \"pod1\"; devargs = \"net_null2,no-rx=1\"; role = \"pod\"; }\n);\n");
	ADD("tables = { conntrack = %u; endpoints = 4096; };\n", o->ct_size);
	ADD("endpoints = (\n");
	for (unsigned l = 0; l < o->pods; l++) {
		uint8_t m[6];
		mac_local_pod(l, m);
		ADD("  { ip = \"10.244.1.%u\"; port = \"pod%u\"; "
		    "mac = \"%02x:%02x:%02x:%02x:%02x:%02x\"; identity = %u; }%s\n",
		    10 + l, l & 1, m[0], m[1], m[2], m[3], m[4], m[5], 1000 + l,
		    l + 1 < o->pods ? "," : "");
	}
	ADD(");\nvteps = (\n");
	for (unsigned v = 0; v < o->nodes; v++) {
		uint8_t m[6];
		mac_vtep(v, m);
		ADD("  { ip = \"192.168.100.%u\"; mac = \"%02x:%02x:%02x:%02x:%02x:%02x\"; }%s\n",
		    2 + v, m[0], m[1], m[2], m[3], m[4], m[5], v + 1 < o->nodes ? "," : "");
	}
	ADD(");\nroutes = (\n  { prefix = \"10.244.1.0/24\"; local = true; }");
	for (unsigned v = 0; v < o->nodes; v++)
		ADD(",\n  { prefix = \"10.244.%u.0/24\"; vtep = \"192.168.100.%u\"; }", 2 + v, 2 + v);
	ADD("\n);\n");
#undef ADD
	if (n >= cap) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- measurement ------------------------------------------------------- */

struct sample {
	uint64_t pkts;
	uint64_t gen, proc, tx, total; /* cycles, polls not preempted */
	uint64_t raw_pkts, raw_total;  /* every poll */
	uint64_t preempted;            /* polls longer than the outlier cap */
	double wall_s;
};

/*
 * A poll that takes longer than this was preempted (the machine is shared:
 * a time slice elsewhere is milliseconds, a poll is microseconds). Such
 * polls are left out of the per-phase figures and counted; the raw figure
 * keeps them.
 */
static uint64_t outlier_cycles;

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
	struct sample s[MAX_REPS];
	double warm_total_cpp;
	bool ok;        /* every flow established, nothing dropped or created */
	char note[160]; /* what was wrong otherwise */
};

static struct rte_mbuf *pkts_buf[DP_MAX_BURST];

static uint64_t sum_drops(const struct dp_lcore_stats *st)
{
	uint64_t d = 0;
	for (unsigned r = 1; r < NSDP_DROP_MAX; r++)
		d += st->drops[r];
	return d;
}

static uint64_t sum_tx(const struct dp_lcore_stats *st)
{
	uint64_t d = 0;
	for (unsigned p = 0; p < NPORTS; p++)
		d += st->port[p].tx_pkts;
	return d;
}

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
			    struct sample *s)
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
	w->now = ct_now();
	const struct dp_tables *tb = atomic_load_explicit(&dp->tables, memory_order_acquire);
	dp_process_burst(dp, w, tb, in, pkts_buf, n);
	uint64_t t2 = rte_rdtsc();
	dp_tx_flush(dp, w);
	rte_rcu_qsbr_quiescent(dp->qsv, w->idx);
	uint64_t t3 = rte_rdtsc();
	s->raw_pkts += n;
	s->raw_total += t3 - t0;
	if (unlikely(t3 - t0 > outlier_cycles)) {
		s->preempted++;
		return 0;
	}
	s->pkts += n;
	s->gen += t1 - t0;
	s->proc += t2 - t1;
	s->tx += t3 - t2;
	s->total += t3 - t0;
	return 0;
}

static int run_timed(struct dp *dp, struct dp_worker *w, const struct opts *o,
		     const struct tmpl *t, unsigned sc, const uint32_t *seq, uint32_t *pos,
		     uint32_t nflows, double seconds, struct sample *s)
{
	memset(s, 0, sizeof(*s));
	uint64_t hz = rte_get_tsc_hz();
	uint64_t start = rte_rdtsc();
	uint64_t end = start + (uint64_t)(seconds * (double)hz);
	unsigned b = 0;
	struct timespec ts0, ts1;
	clock_gettime(CLOCK_MONOTONIC, &ts0);
	do {
		for (unsigned k = 0; k < 64; k++, b++) {
			unsigned in = sc == SC_DECAP ? UPLINK : (b & 1) ? POD1 : POD0;
			int rc = poll_once(dp, w, o, t, sc, in, o->burst, seq, pos, nflows, s);
			if (rc)
				return rc;
		}
	} while (rte_rdtsc() < end);
	clock_gettime(CLOCK_MONOTONIC, &ts1);
	s->wall_s = (double)(ts1.tv_sec - ts0.tv_sec) + (double)(ts1.tv_nsec - ts0.tv_nsec) / 1e9;
	return 0;
}

static const char *sc_name(unsigned sc)
{
	return sc == SC_DECAP ? "decap" : "encap";
}

static double cpp(uint64_t cyc, uint64_t pkts)
{
	return pkts ? (double)cyc / (double)pkts : 0;
}

static int bench_one(struct dp *dp, struct dp_worker *w, const struct opts *o,
		     unsigned sc, uint32_t nflows, const uint32_t *seq, struct result *r)
{
	char err[256];
	memset(r, 0, sizeof(*r));
	r->sc = sc;
	r->flows = nflows;

	/* A fresh conntrack per run, so runs do not share entries. */
	ct_destroy(dp->ct);
	dp->ct = ct_create(dp->cfg.ct_size, &dp->cfg.timeouts, dp->qsv, (int)rte_socket_id());
	if (!dp->ct) {
		snprintf(err, sizeof(err), "conntrack of %u: %s", dp->cfg.ct_size,
			 strerror(errno));
		fprintf(stderr, "nsdp-bench: %s\n", err);
		return -1;
	}
	memset(w->stats, 0, sizeof(*w->stats));

	struct tmpl t;
	build_tmpl(o, dp, sc, &t);

	/* Warm: every flow once, in order, per port (creates the entries). */
	struct sample ws;
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
			while (n < o->burst && f < nflows) {
				fl[n++] = f;
				f += step;
			}
			/* fill by explicit index */
			uint64_t t0 = rte_rdtsc();
			if (rte_pktmbuf_alloc_bulk(dp->pool, pkts_buf, n) != 0)
				return -1;
			for (unsigned i = 0; i < n; i++)
				fill(o, &t, sc, fl[i], pkts_buf[i]);
			w->now = ct_now();
			dp_process_burst(dp, w, dp->tables, in, pkts_buf, n);
			dp_tx_flush(dp, w);
			rte_rcu_qsbr_quiescent(dp->qsv, w->idx);
			ws.total += rte_rdtsc() - t0;
			ws.pkts += n;
		}
	}
	r->warm_created = w->stats->lc.ct_created;
	r->warm_drops = sum_drops(w->stats);
	r->warm_total_cpp = cpp(ws.total, ws.pkts);
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
	uint32_t pos = (uint32_t)(o->seed % SEQ_LEN);
	struct sample scratch;
	if (run_timed(dp, w, o, &t, sc, seq, &pos, nflows, o->warm_seconds, &scratch))
		return -1;

	memset(w->stats, 0, sizeof(*w->stats));
	for (unsigned i = 0; i < o->reps; i++) {
		if (run_timed(dp, w, o, &t, sc, seq, &pos, nflows, o->seconds, &r->s[i]))
			return -1;
		r->n++;
	}
	r->run_created = w->stats->lc.ct_created;
	r->run_drops = sum_drops(w->stats);
	r->run_tx = sum_tx(w->stats);
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

static int parse_count(const char *s, unsigned *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v *= 1e3, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1e6, end++;
	if (*end || v < 1 || v > 16e6)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"flows", required_argument, NULL, 'f'},
		{"scenario", required_argument, NULL, 's'},
		{"seconds", required_argument, NULL, 't'},
		{"warm-seconds", required_argument, NULL, 'W'},
		{"reps", required_argument, NULL, 'r'},
		{"burst", required_argument, NULL, 'b'},
		{"pods", required_argument, NULL, 'p'},
		{"nodes", required_argument, NULL, 'n'},
		{"remote-pods", required_argument, NULL, 'R'},
		{"ct-size", required_argument, NULL, 'c'},
		{"payload", required_argument, NULL, 'P'},
		{"geneve", no_argument, NULL, 'g'},
		{"lcore", required_argument, NULL, 'l'},
		{"no-huge", no_argument, NULL, 'H'},
		{"mem", required_argument, NULL, 'm'},
		{"seed", required_argument, NULL, 'S'},
		{"json", required_argument, NULL, 'j'},
		{"outlier-us", required_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct opts){
		.flows = {10000, 100000, 1000000},
		.n_flows = 3,
		.scenarios = SC_DECAP | SC_ENCAP,
		.seconds = 2,
		.warm_seconds = 1,
		.reps = 5,
		.burst = 32,
		.pods = 128,
		.nodes = 16,
		.rpods = 64,
		.ct_size = 2u << 20,
		.lcore = 1,
		.mem_mb = 1024,
		.seed = 1,
		.outlier_us = 100,
	};
	int c;
	unsigned v;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'f': {
			o->n_flows = 0;
			char *dup = strdup(optarg), *save = NULL;
			for (char *tok = strtok_r(dup, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (o->n_flows == MAX_FLOW_SETS || parse_count(tok, &v)) {
					fprintf(stderr, "nsdp-bench: --flows: bad \"%s\"\n", tok);
					free(dup);
					return -1;
				}
				o->flows[o->n_flows++] = v;
			}
			free(dup);
			break;
		}
		case 's':
			if (!strcmp(optarg, "decap"))
				o->scenarios = SC_DECAP;
			else if (!strcmp(optarg, "encap"))
				o->scenarios = SC_ENCAP;
			else if (!strcmp(optarg, "both"))
				o->scenarios = SC_DECAP | SC_ENCAP;
			else
				return -1;
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		case 'W':
			o->warm_seconds = atof(optarg);
			break;
		case 'r':
			o->reps = (unsigned)atoi(optarg);
			break;
		case 'b':
			o->burst = (unsigned)atoi(optarg);
			break;
		case 'p':
			o->pods = (unsigned)atoi(optarg);
			break;
		case 'n':
			o->nodes = (unsigned)atoi(optarg);
			break;
		case 'R':
			o->rpods = (unsigned)atoi(optarg);
			break;
		case 'c':
			if (parse_count(optarg, &o->ct_size))
				return -1;
			break;
		case 'P':
			o->payload = (unsigned)atoi(optarg);
			break;
		case 'g':
			o->geneve = true;
			break;
		case 'l':
			o->lcore = (unsigned)atoi(optarg);
			break;
		case 'H':
			o->no_huge = true;
			break;
		case 'm':
			o->mem_mb = (unsigned)atoi(optarg);
			break;
		case 'S':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'O':
			o->outlier_us = atof(optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	if (o->reps < 1 || o->reps > MAX_REPS || o->seconds <= 0 || o->warm_seconds < 0 ||
	    o->burst < 1 || o->burst > 64 || o->pods < 2 || o->pods > 240 || o->pods % 2 ||
	    o->nodes < 1 || o->nodes > 200 || o->rpods < 1 || o->rpods > 240 ||
	    o->payload > 1400 || o->ct_size < 16) {
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

static double median(double *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) /* insertion sort: n <= MAX_REPS */
		for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	if (!n)
		return 0;
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void summarize(const struct result *r, const struct opts *o, struct summary *m)
{
	double g[MAX_REPS], p[MAX_REPS], t[MAX_REPS], d[MAX_REPS], a[MAX_REPS], w[MAX_REPS];
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < r->n; i++) {
		const struct sample *s = &r->s[i];
		g[i] = cpp(s->gen, s->pkts);
		p[i] = cpp(s->proc, s->pkts);
		t[i] = cpp(s->tx, s->pkts);
		d[i] = cpp(s->proc + s->tx, s->pkts);
		a[i] = cpp(s->total, s->pkts);
		w[i] = cpp(s->raw_total, s->raw_pkts);
		m->pkts += s->raw_pkts;
		m->preempted += s->preempted;
		m->polls += s->raw_pkts / o->burst;
	}
	m->gen = median(g, r->n);
	m->proc = median(p, r->n);
	m->tx = median(t, r->n);
	m->dp = median(d, r->n);
	m->total = median(a, r->n);
	m->raw = median(w, r->n);
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
	FILE *f = fopen(file, "w");
	if (!f) {
		fprintf(stderr, "nsdp-bench: %s: %s\n", file, strerror(errno));
		return;
	}
	double hz = (double)rte_get_tsc_hz();
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(f, "{\n  \"tool\": \"nsdp-bench\",\n  \"date\": \"%s\",\n", date);
	fprintf(f, "  \"dpdk\": \"%s\",\n  \"tsc_hz\": %.0f,\n  \"lcore\": %u,\n", rte_version(),
		hz, o->lcore);
	fprintf(f,
		"  \"params\": {\"burst\": %u, \"pods\": %u, \"nodes\": %u, \"remote_pods\": %u, "
		"\"ct_size\": %u, \"ct_slots\": %u, \"payload\": %u, \"overlay\": \"%s\", "
		"\"seconds\": %g, \"reps\": %u, \"hugepages\": %s, \"outlier_us\": %g},\n",
		o->burst, o->pods, o->nodes, o->rpods, o->ct_size, ct_capacity(dp->ct),
		o->payload, o->geneve ? "geneve" : "vxlan", o->seconds, o->reps,
		o->no_huge ? "false" : "true", o->outlier_us);
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
			const struct sample *s = &r->s[k];
			fprintf(f,
				"%s\n       {\"pkts\": %" PRIu64 ", \"wall_s\": %.3f, \"gen_cpp\": %.1f, "
				"\"process_cpp\": %.1f, \"tx_cpp\": %.1f, \"total_cpp\": %.1f, "
				"\"raw_total_cpp\": %.1f, \"preempted_polls\": %" PRIu64 "}",
				k ? "," : "", s->raw_pkts, s->wall_s, cpp(s->gen, s->pkts),
				cpp(s->proc, s->pkts), cpp(s->tx, s->pkts), cpp(s->total, s->pkts),
				cpp(s->raw_total, s->raw_pkts), s->preempted);
		}
		fprintf(f, "]}%s\n", i + 1 < nres ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	fclose(f);
}

/* Remove EAL's runtime directory for our file prefix (and only that). */
static void remove_runtime_dir(const char *dir)
{
	if (!dir[0] || !strstr(dir, "/nsdp-bench-"))
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
	char err[512];
	char *text = config_text(&o);
	if (!text || dp_config_parse(text, "<bench>", &dp->cfg, err, sizeof(err))) {
		fprintf(stderr, "nsdp-bench: config: %s\n", text ? err : "too long");
		return 2;
	}
	free(text);
	dp->n_workers = 1;
	dp_global = dp;

	char prefix[64], lc[16], mem[16];
	snprintf(prefix, sizeof(prefix), "--file-prefix=nsdp-bench-%d", (int)getpid());
	snprintf(lc, sizeof(lc), "%u", o.lcore);
	snprintf(mem, sizeof(mem), "%u", o.mem_mb);
	char *eargv[32 + 2 * DP_MAX_PORTS];
	int eargc = 0;
	eargv[eargc++] = argv[0];
	eargv[eargc++] = (char *)"-l";
	eargv[eargc++] = lc;
	eargv[eargc++] = (char *)"--no-pci";
	if (!o.no_huge) /* --no-huge has no shared files anyway */
		eargv[eargc++] = (char *)"--in-memory";
	eargv[eargc++] = prefix;
	eargv[eargc++] = (char *)"--log-level=lib.eal:error";
	if (o.no_huge) {
		eargv[eargc++] = (char *)"--no-huge";
		eargv[eargc++] = (char *)"-m";
		eargv[eargc++] = mem;
	}
	eargc = dp_port_eal_args(dp, eargv, eargc, (int)RTE_DIM(eargv) - 1);
	eargv[eargc] = NULL;
	if (rte_eal_init(eargc, eargv) < 0) {
		fprintf(stderr, "nsdp-bench: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	static char rundir[PATH_MAX];
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());

	int rc = 1;
	int socket = (int)rte_socket_id();
	struct result *res = NULL;
	uint32_t *seq = NULL;
	uint64_t *raw = NULL;
	struct dp_worker *w = NULL;
	dp->workers = rte_zmalloc("bench_worker", sizeof(*dp->workers), RTE_CACHE_LINE_SIZE);
	dp->stats = rte_zmalloc("bench_stats", sizeof(*dp->stats), RTE_CACHE_LINE_SIZE);
	if (!dp->workers || !dp->stats)
		goto out;
	w = &dp->workers[0];
	w->idx = 0;
	w->lcore_id = rte_lcore_id();
	w->stats = dp->stats;
	dp->stats->lc.lcore_id = w->lcore_id;

	/* RX descriptors of the (no-rx) ports hold nothing; the bench's own
	 * working set is a few bursts. */
	dp->pool = rte_pktmbuf_pool_create("bench_mbufs", 16383, 256, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (!dp->pool) {
		fprintf(stderr, "nsdp-bench: mbuf pool: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	if (dp_ports_start(dp) < 0)
		goto out;
	if ((rc = dp_init_tables(dp, socket)) < 0) {
		fprintf(stderr, "nsdp-bench: tables: %s\n", strerror(-rc));
		rc = 1;
		goto out_ports;
	}
	rc = 1;
	rte_rcu_qsbr_thread_register(dp->qsv, w->idx);
	rte_rcu_qsbr_thread_online(dp->qsv, w->idx);

	/* Random flow sequence (xorshift64*), reduced per flow count below. */
	raw = malloc(sizeof(uint64_t) * SEQ_LEN);
	seq = malloc(sizeof(uint32_t) * SEQ_LEN);
	res = calloc(2 * o.n_flows, sizeof(*res));
	if (!raw || !seq || !res)
		goto out_ports;
	uint64_t x = o.seed * 0x9E3779B97F4A7C15ull + 1;
	for (uint32_t i = 0; i < SEQ_LEN; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		raw[i] = x * 0x2545F4914F6CDD1Dull;
	}

	double hz = (double)rte_get_tsc_hz();
	outlier_cycles = (uint64_t)(hz * o.outlier_us / 1e6);
	printf("nsdp-bench: DPDK %s, lcore %u, TSC %.3f GHz, burst %u, conntrack %u slots, "
	       "%s, %u local pods, %u nodes x %u remote pods\n",
	       rte_version(), rte_lcore_id(), hz / 1e9, o.burst, ct_capacity(dp->ct),
	       o.geneve ? "geneve" : "vxlan", o.pods, o.nodes, o.rpods);
	print_header();
	fflush(stdout);

	unsigned nres = 0, not_ok = 0;
	for (unsigned fi = 0; fi < o.n_flows; fi++) {
		uint32_t nf = o.flows[fi];
		for (uint32_t i = 0; i < SEQ_LEN; i++)
			seq[i] = (uint32_t)(((raw[i] >> 32) * nf) >> 32);
		for (unsigned sc = SC_DECAP; sc <= SC_ENCAP; sc <<= 1) {
			if (!(o.scenarios & sc))
				continue;
			struct result *r = &res[nres];
			if (bench_one(dp, w, &o, sc, nf, seq, r))
				goto out_ports;
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
	       o.reps, o.seconds);
	if (o.json)
		write_json(&o, dp, res, nres, o.json);
	if (not_ok)
		printf("%u case(s) not ok: drops or flows not established (see above)\n", not_ok);
	rc = not_ok ? 3 : 0;
out_ports:
	rte_rcu_qsbr_thread_offline(dp->qsv, w->idx);
	dp_ports_stop(dp);
out:
	free(raw);
	free(seq);
	free(res);
	rte_eal_cleanup();
	remove_runtime_dir(rundir);
	dp_config_release(&dp->cfg);
	return rc;
}
