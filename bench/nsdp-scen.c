/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-scen: the scenario benchmark (issue 6). The real packet path
 * (dataplane/worker.c dp_process_burst + dp_tx_flush, as nsdp-bench drives
 * it) with policies generated as Kubernetes manifests, loaded and compiled
 * by the agent's own code (agent/k8s.c, agent/polcomp.c) and published with
 * dp_publish_policy(), next to DPDK's rte_acl classifying the same tuples
 * against the same policy expanded into 5-tuple rules.
 *
 * Traffic (generated in process, like a copying PMD's RX: mbuf alloc + copy
 * + per-packet patch; timed apart as "gen"): VXLAN (or Geneve) from remote
 * nodes' VTEPs carrying TCP or UDP of a remote pod to a local pod (decap),
 * and a local pod's TCP/UDP to a remote pod (encap); pods of different
 * namespaces (pod i is in namespace i % NS). Frame sizes 64, 512, 1500 or
 * IMIX (inner frames 64/590/1514 B, 7:4:1); flow popularity uniform or Zipf
 * (s = 1); established flows (one warm pass creates their conntrack
 * entries and decisions, the measured packets must create none) or a
 * new-flow storm (every packet a new connection: a SYN with a fresh source
 * port: conntrack insert + first-packet policy decision).
 *
 * Groups (--groups, default all):
 *   sweep   per cluster (policies x pods, --cases): load + compile time,
 *           established decap and encap of allowed flows, a decap new-flow
 *           storm (allowed and denied, as generated), pol_decide alone, and
 *           the rte_acl peer (rule count, build time, classify cycles on the
 *           same tuples, verdict agreement);
 *   flows   established decap at 1k..1M flows (--flow-sweep), base cluster;
 *   sizes   64/512/1500/IMIX x uniform, and Zipf, decap and encap;
 *   mix     realistic: decap and encap alternating, IMIX, Zipf, 2% of packets
 *           new connections;
 *   storm   decap and encap storms at the base cluster;
 *   update  a new policy published every 10 ms (pol_deserialize of a blob the
 *           agent compiled, dp_publish_policy: what the control socket does on
 *           POLICY_SET) while the worker forwards allowed flows; windows with
 *           and without updates alternate; lost packets of allowed flows
 *           counted (every dropped packet is one: all flows are allowed by
 *           both policy versions);
 *   mc      1..N workers (--mc-workers, default 1,2; flows split between them
 *           as RSS would), established traffic and a new-flow storm into the
 *           one shared conntrack table: the multi-core scaling;
 *   obs     the cost of flow logs and per-rule counters (issue 7): the
 *           defaults (flow_log on, rule_counters on) against both off, reps
 *           alternating, on established traffic, a new-flow storm as
 *           generated (denied connections: a record each, rate-limited) and
 *           an allowed-only storm (sampled records).
 *
 * lcores: the main lcore 0 orchestrates (and publishes in `update`) on the
 * first CPU this process may use; worker k runs on lcore k + 1, on the next
 * CPUs. When `mc` asks for as many workers as there are CPUs, the last one
 * runs on the main lcore (a 2-CPU machine: workers on lcores 1 and 0).
 *
 * Output: tables on stdout, --json FILE. Exit 0, 1 (set-up), 2 (usage), 3 (a
 * check failed; figures still written, marked not ok).
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_version.h>

#include <nsdp/drop.h>

#include "benchlib.h"
#include "conntrack.h"
#include "dp.h"
#include "k8s.h"
#include "polcomp.h"
#include "policy.h"
#include "scen.h"

#define SEQ_LEN (1u << 21)
#define MAX_FRAME 1600
#define MAX_CASES 16
#define MAX_REPS 16
#define POOL_N 65536u

const char bench_tool[] = "nsdp-scen";

/* ---- options ----------------------------------------------------------------- */

struct pcase_spec {
	unsigned policies, pods, namespaces; /* namespaces 0: scen_namespaces()'s */
};

struct opts {
	struct bench_opts b; /* --seconds --warm-seconds --reps --burst --ct-size --geneve
			      * --seed --outlier-us --json */
	struct pcase_spec cases[MAX_CASES];
	unsigned n_cases;
	struct pcase_spec base;
	unsigned flows;
	unsigned flow_sweep[8];
	unsigned n_flow_sweep;
	unsigned groups;
	unsigned n_local;
	uint64_t acl_max_rules;
	double update_ms;
	double zipf_s;
	double mix_new;
	unsigned mc[16]; /* worker counts of the mc group */
	unsigned n_mc;
};

enum {
	G_SWEEP = 1,
	G_FLOWS = 2,
	G_SIZES = 4,
	G_MIX = 8,
	G_STORM = 16,
	G_UPDATE = 32,
	G_MC = 64,
	G_OBS = 128,
	G_ALL = 255
};
/* The most workers --mc-workers asks for. */
static unsigned mc_max(const struct opts *o)
{
	unsigned m = 1;
	for (unsigned i = 0; i < o->n_mc; i++)
		if (o->mc[i] > m)
			m = o->mc[i];
	return m;
}

static const char *group_names[] = {"sweep", "flows", "sizes", "mix", "storm", "update", "mc",
				    "obs"};

/* ---- flows -------------------------------------------------------------------- */

struct flow {
	uint32_t src, dst; /* network order */
	uint16_t sport, dport; /* host order */
	uint8_t proto;
	uint8_t in;     /* port index the packet arrives on */
	uint16_t node;  /* decap: the remote node (VTEP) it comes from */
};

struct flowset {
	struct flow *f;
	uint32_t n;
	uint32_t *seq; /* SEQ_LEN flow indices (uniform or Zipf), NULL for pools */
};

static void flowset_free(struct flowset *s)
{
	if (!s)
		return;
	free(s->f);
	free(s->seq);
	free(s);
}

static int make_seq(struct flowset *s, bool zipf, double zs, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
	s->seq = malloc(sizeof(uint32_t) * SEQ_LEN);
	if (!s->seq)
		return -ENOMEM;
	if (!zipf) {
		for (uint32_t i = 0; i < SEQ_LEN; i++)
			s->seq[i] = bench_rnd(&x, s->n);
		return 0;
	}
	/* Zipf over ranks, ranks scattered over flows by a random permutation. */
	double *cdf = malloc(sizeof(double) * s->n);
	uint32_t *perm = malloc(sizeof(uint32_t) * s->n);
	if (!cdf || !perm) {
		free(cdf);
		free(perm);
		return -ENOMEM;
	}
	double acc = 0;
	for (uint32_t r = 0; r < s->n; r++) {
		acc += 1.0 / pow((double)(r + 1), zs);
		cdf[r] = acc;
		perm[r] = r;
	}
	for (uint32_t r = s->n - 1; r > 0; r--) {
		uint32_t k = bench_rnd(&x, r + 1), t = perm[r];
		perm[r] = perm[k];
		perm[k] = t;
	}
	for (uint32_t i = 0; i < SEQ_LEN; i++) {
		double u = (double)(bench_rng(&x) >> 11) / 9007199254740992.0 * acc;
		uint32_t lo = 0, hi = s->n - 1;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		s->seq[i] = perm[lo];
	}
	free(cdf);
	free(perm);
	return 0;
}

/*
 * Worker k's share of s among nw workers, as RSS would split them: flows
 * k, k + nw, k + 2 nw, ... (disjoint, so no two workers hold one
 * connection), with a uniform sequence when s has one. NULL when out of
 * memory.
 */
static struct flowset *flowset_slice(const struct flowset *s, unsigned k, unsigned nw,
				     uint64_t seed)
{
	struct flowset *r = calloc(1, sizeof(*r));
	if (!r || !(r->f = malloc(sizeof(*r->f) * (s->n / nw + 1)))) {
		free(r);
		return NULL;
	}
	for (uint32_t i = k; i < s->n; i += nw)
		r->f[r->n++] = s->f[i];
	if (!r->n || (s->seq && make_seq(r, false, 0, seed))) {
		flowset_free(r);
		return NULL;
	}
	return r;
}

/* ---- a compiled cluster ----------------------------------------------------------- */

struct pcase {
	struct pcase_spec spec;
	struct pol_tables *t;       /* our own copy (flow generation, decide, ACL) */
	void *blob, *blob_extra;    /* serialized base and "extra" variants */
	size_t blob_len, blob_extra_len;
	struct pol_tables *t_extra; /* for filtering update flows */
	double load_ms, compile_ms, compile_extra_ms;
};

static struct pol_tables *compile_one(const struct pcase_spec *sp, unsigned extra, double *load_ms,
				      double *compile_ms)
{
	struct scen_params p = {sp->policies, sp->pods, extra, sp->namespaces};
	struct k8s_cluster cl;
	memset(&cl, 0, sizeof(cl));
	if (scen_load(&p, &cl, load_ms)) {
		k8s_cluster_free(&cl);
		return NULL;
	}
	double a = bench_now_ms();
	struct pol_tables *t = pol_compile(&cl, 1);
	*compile_ms = bench_now_ms() - a;
	k8s_cluster_free(&cl);
	if (!t)
		fprintf(stderr, "nsdp-scen: pol_compile failed: %s\n", strerror(errno));
	/* "pol_decide alone" decides as the dataplane does: through the
	 * packet path's layout, which pol_deserialize() builds there */
	int rc = t ? pol_index(t) : 0;
	if (rc) {
		fprintf(stderr, "nsdp-scen: pol_index: %s\n", strerror(-rc));
		pol_tables_free(t);
		return NULL;
	}
	return t;
}

static void pcase_free(struct pcase *c)
{
	if (!c)
		return;
	pol_tables_free(c->t);
	pol_tables_free(c->t_extra);
	free(c->blob);
	free(c->blob_extra);
	free(c);
}

static struct pcase *pcase_make(const struct pcase_spec *sp, bool with_extra)
{
	struct pcase *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->spec = *sp;
	c->t = compile_one(sp, 0, &c->load_ms, &c->compile_ms);
	if (!c->t || pol_serialize(c->t, &c->blob, &c->blob_len))
		goto bad;
	if (with_extra) {
		double l;
		c->t_extra = compile_one(sp, 1, &l, &c->compile_extra_ms);
		if (!c->t_extra || pol_serialize(c->t_extra, &c->blob_extra, &c->blob_extra_len))
			goto bad;
	}
	return c;
bad:
	pcase_free(c);
	return NULL;
}

/* Publish a fresh copy of the case's (base or extra) policy. */
static int publish(struct dp *dp, const struct pcase *c, bool extra, uint64_t gen)
{
	char err[256];
	struct pol_tables *t = pol_deserialize(extra ? c->blob_extra : c->blob,
					       extra ? c->blob_extra_len : c->blob_len, gen, err,
					       sizeof(err));
	if (!t) {
		fprintf(stderr, "nsdp-scen: pol_deserialize: %s\n", err);
		return -1;
	}
	return dp_publish_policy(dp, t, gen);
}

static uint8_t decide(const struct pol_tables *t, const struct flow *f)
{
	struct pol_result r;
	pol_decide(t, f->src, f->dst, f->proto, f->dport, &r);
	return r.verdict;
}

/*
 * A random tuple of direction decap (remote pod -> local pod) or encap
 * (local pod -> remote pod): 7/8 TCP to 8000..8063, 1/8 UDP to 53.
 */
static void random_flow(const struct pcase *c, unsigned n_local, bool decap, uint64_t *x,
			struct flow *f)
{
	uint32_t remote = n_local + bench_rnd(x, c->spec.pods - n_local);
	uint32_t local = bench_rnd(x, n_local);
	bool udp = bench_rnd(x, 8) == 0;
	f->proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
	f->dport = udp ? 53 : (uint16_t)(8000 + bench_rnd(x, 64));
	f->sport = (uint16_t)(1024 + bench_rnd(x, 60000));
	if (decap) {
		f->src = scen_pod_ip(remote);
		f->dst = scen_pod_ip(local);
		f->in = UPLINK;
		f->node = (uint16_t)scen_pod_node(remote);
	} else {
		f->src = scen_pod_ip(local);
		f->dst = scen_pod_ip(remote);
		f->in = (uint8_t)(POD0 + (local & 1));
		f->node = 0;
	}
}

/*
 * n flows of one direction (encap: only those arriving on port `in`).
 * allowed: only flows both the base and (if any) the extra policy allow,
 * with distinct source ports per flow. Returns NULL when too few allowed
 * flows exist.
 */
static struct flowset *make_flows(const struct pcase *c, unsigned n_local, bool decap, int in,
				  uint32_t n, bool allowed, bool distinct, uint64_t seed,
				  double *allowed_share)
{
	struct flowset *s = calloc(1, sizeof(*s));
	if (!s || !(s->f = malloc(sizeof(struct flow) * n))) {
		free(s);
		return NULL;
	}
	uint64_t x = seed * 0xD1B54A32D192ED03ull + 11;
	uint64_t tries = 0, ok = 0;
	/* distinct: no two with the same (src, dst, proto, dport) (pools: their
	 * tuples get source ports from a counter, so two equal ones would repeat
	 * a connection; established flows carry their index in the port). */
	uint32_t mask = 1024;
	while (mask < 2 * n)
		mask <<= 1;
	mask--;
	uint64_t *seen = calloc((size_t)mask + 1, sizeof(uint64_t));
	if (!seen) {
		flowset_free(s);
		return NULL;
	}
	while (s->n < n) {
		struct flow f;
		random_flow(c, n_local, decap, &x, &f);
		if (in >= 0 && f.in != in)
			continue;
		uint64_t key = ((uint64_t)f.src << 32 | f.dst) ^
			       ((uint64_t)f.proto << 56 | (uint64_t)f.dport << 40);
		if (!distinct) /* the 5-tuple with the source port it will get */
			key ^= (uint64_t)(10000 + s->n % 50000) << 16;
		key = key ? key : 1;
		uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & mask;
		while (seen[h] && seen[h] != key)
			h = (h + 1) & mask;
		if (seen[h])
			continue;
		tries++;
		bool a = decide(c->t, &f) == POL_ALLOW &&
			 (!c->t_extra || decide(c->t_extra, &f) == POL_ALLOW);
		ok += a;
		if (allowed && !a) {
			if (tries > 1000ull * n + 100000) {
				fprintf(stderr, "nsdp-scen: only %u allowed flows in %" PRIu64 " tries\n",
					s->n, tries);
				free(seen);
				flowset_free(s);
				return NULL;
			}
			continue;
		}
		seen[h] = key;
		/* Distinct 5-tuples: the source port carries the flow index (10000 and
		 * up: never a server port, so no flow is another's reply). */
		f.sport = (uint16_t)(10000 + s->n % 50000);
		s->f[s->n++] = f;
	}
	free(seen);
	if (allowed_share)
		*allowed_share = tries ? (double)ok / (double)tries : 0;
	return s;
}

/* ---- frames ----------------------------------------------------------------------- */

struct tmpl {
	uint8_t frame[MAX_FRAME + 64];
	uint16_t inner_off; /* inner Ethernet header */
};

static void build_tmpl(const struct dp *dp, bool decap, uint8_t proto, bool geneve, struct tmpl *t)
{
	memset(t, 0, sizeof(*t));
	uint8_t *p = t->frame;
	unsigned off = decap ? BENCH_INNER : 0;
	/* lengths, addresses, ports, the outer source: patched per packet */
	if (decap)
		bench_put_outer(p, dp, geneve, 0);
	t->inner_off = (uint16_t)off;
	bench_put_inner(p + off, proto, 0);
	for (unsigned i = off + 54; i < sizeof(t->frame); i++)
		p[i] = (uint8_t)(i * 7);
}

struct templates {
	struct tmpl t[2][2]; /* [decap][udp] */
};

/* One packet of flow f, inner frame length len, TCP flags. */
static inline void fill(const struct templates *tp, const struct flow *f, uint16_t sport,
			uint8_t tcp_flags, unsigned len, struct rte_mbuf *m)
{
	bool decap = f->in == UPLINK, udp = f->proto == IPPROTO_UDP;
	const struct tmpl *t = &tp->t[decap][udp];
	unsigned total = t->inner_off + len;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(p, t->frame, total);
	m->data_len = (uint16_t)total;
	m->pkt_len = total;
	uint8_t *ip = p + t->inner_off + 14, *l4 = ip + 20;
	bench_put16(ip + 2, (uint16_t)(len - 14));
	bench_tuple(ip, f->src, f->dst, sport, f->dport);
	if (udp)
		bench_put16(l4 + 4, (uint16_t)(len - 34));
	else
		l4[13] = tcp_flags;
	bench_ip_csum(ip);
	if (decap) {
		/* the remote node's VTEP MAC 02:00:00:00:<node> */
		p[6] = 0x02;
		p[7] = 0;
		p[8] = 0;
		p[9] = 0;
		p[10] = (uint8_t)(f->node >> 8);
		p[11] = (uint8_t)f->node;
		bench_outer_len(p, len);
		bench_outer_from(p, scen_vtep_ip(f->node), sport);
	} else {
		/* the local pod's MAC 02:00:00:00:01:<pod> */
		uint32_t l = rte_be_to_cpu_32(f->src) & 0xff;
		p[6] = 0x02;
		p[7] = 0;
		p[8] = 0;
		p[9] = 0;
		p[10] = 1;
		p[11] = (uint8_t)(l - 10);
	}
}

/* ---- streams and the worker ------------------------------------------------------------ */

#define IMIX_TAG 0
static const unsigned imix_len[12] = {64, 64, 64, 64, 64, 64, 64, 590, 590, 590, 590, 1514};

struct stream {
	unsigned n_sched;
	unsigned sched[4];            /* input port per poll, cyclic */
	struct flowset *est[NPORTS];  /* established flows per input port */
	struct flowset *pool[NPORTS]; /* new-connection tuples per input port */
	double new_frac;              /* share of packets opening a new connection */
	unsigned len;                 /* inner frame length; IMIX_TAG: IMIX */
	bool warm_pass;               /* create every established flow first */
};

struct job {
	struct dp *dp;
	unsigned widx;
	const struct stream *st;
	const struct templates *tp;
	const struct opts *o;
	double warm_s, secs;
	uint64_t max_new; /* stop the window after this many new connections (0: no cap) */
	uint64_t seed;
	/* out */
	struct bench_sample s;
	struct dp_lcore_stats before, after; /* measured window */
	uint64_t warm_created, warm_drops;
	uint64_t new_sent, new_created;
	int rc;
	volatile int done;
};

struct wstate {
	uint32_t pos[NPORTS];
	uint64_t ctr[NPORTS];
	uint64_t x;
	uint32_t sz;
	uint64_t new_thresh; /* rng >> 11 below this: new connection */
};

/* Generate n packets for port `in`. Returns new connections among them. */
static inline unsigned gen_burst(const struct job *j, struct wstate *ws, unsigned in,
				 struct rte_mbuf **pkts, unsigned n)
{
	const struct stream *st = j->st;
	unsigned nnew = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned len = st->len;
		if (len == IMIX_TAG)
			len = imix_len[(ws->sz++) % 12];
		bool isnew = st->pool[in] &&
			     (!st->est[in] || (bench_rng(&ws->x) >> 11) < ws->new_thresh);
		if (isnew) {
			const struct flowset *p = st->pool[in];
			uint64_t c = ws->ctr[in]++;
			const struct flow *f = &p->f[c % p->n];
			fill(j->tp, f, (uint16_t)(10000 + (c / p->n) % 50000), 0x02, len, pkts[i]);
			nnew++;
		} else {
			const struct flowset *e = st->est[in];
			const struct flow *f = &e->f[e->seq[ws->pos[in]]];
			ws->pos[in] = (ws->pos[in] + 1) & (SEQ_LEN - 1);
			fill(j->tp, f, f->sport, 0x10, len, pkts[i]);
		}
	}
	return nnew;
}

static int run_window(struct job *j, struct wstate *ws, struct rte_mbuf **pkts, double secs,
		      uint64_t max_new, struct bench_sample *s, uint64_t *new_sent)
{
	struct dp *dp = j->dp;
	struct dp_worker *w = &dp->workers[j->widx];
	const struct stream *st = j->st;
	unsigned burst = j->o->b.burst;
	memset(s, 0, sizeof(*s));
	uint64_t hz = rte_get_tsc_hz();
	uint64_t end = rte_rdtsc() + (uint64_t)(secs * (double)hz);
	double ms0 = bench_now_ms();
	unsigned k = 0;
	uint64_t nn = 0;
	do {
		for (unsigned r = 0; r < 32; r++, k++) {
			unsigned in = st->sched[k % st->n_sched];
			uint64_t t0 = rte_rdtsc();
			if (rte_pktmbuf_alloc_bulk(dp->pool, pkts, burst) != 0)
				return -ENOMEM;
			nn += gen_burst(j, ws, in, pkts, burst);
			uint64_t t1 = rte_rdtsc();
			bench_dp_poll_timed(dp, w, in, pkts, burst, t0, t1, s);
		}
	} while (rte_rdtsc() < end && (!max_new || nn < max_new));
	s->wall_s = (bench_now_ms() - ms0) / 1e3;
	if (new_sent)
		*new_sent = nn;
	return 0;
}

static int job_main(void *arg)
{
	struct job *j = arg;
	struct dp *dp = j->dp;
	struct dp_worker *w = &dp->workers[j->widx];
	const struct stream *st = j->st;
	struct rte_mbuf *pkts[DP_MAX_BURST];
	struct wstate ws;
	memset(&ws, 0, sizeof(ws));
	ws.x = j->seed * 0x9E3779B97F4A7C15ull + 3;
	ws.new_thresh = (uint64_t)(st->new_frac * 9007199254740992.0);
	for (unsigned p = 0; p < NPORTS; p++)
		ws.pos[p] = (uint32_t)((j->seed * 7919u + p * 104729u) & (SEQ_LEN - 1));

	w->lcore_id = rte_lcore_id();
	rte_rcu_qsbr_thread_register(dp->qsv, w->idx);
	rte_rcu_qsbr_thread_online(dp->qsv, w->idx);
	j->rc = 0;

	struct dp_lcore_stats s0 = *w->stats;
	if (st->warm_pass) {
		/* Every established flow once, in order (creates the entries). */
		for (unsigned in = 0; in < NPORTS; in++) {
			const struct flowset *e = st->est[in];
			if (!e)
				continue;
			for (uint32_t f = 0; f < e->n;) {
				unsigned n = 0;
				if (rte_pktmbuf_alloc_bulk(dp->pool, pkts, j->o->b.burst) != 0) {
					j->rc = -ENOMEM;
					goto out;
				}
				for (; n < j->o->b.burst && f < e->n; n++, f++)
					fill(j->tp, &e->f[f], e->f[f].sport, 0x10,
					     st->len == IMIX_TAG ? 64 : st->len, pkts[n]);
				if (n < j->o->b.burst)
					rte_pktmbuf_free_bulk(pkts + n, j->o->b.burst - n);
				bench_dp_poll(dp, w, in, pkts, n);
			}
		}
	}
	j->warm_created = w->stats->lc.ct_created - s0.lc.ct_created;
	j->warm_drops = bench_sum_drops(w->stats) - bench_sum_drops(&s0);
	struct bench_sample scratch;
	if (j->warm_s > 0 && (j->rc = run_window(j, &ws, pkts, j->warm_s, j->max_new / 4, &scratch,
						 NULL)))
		goto out;
	j->before = *w->stats;
	j->rc = run_window(j, &ws, pkts, j->secs, j->max_new, &j->s, &j->new_sent);
	j->after = *w->stats;
out:
	rte_rcu_qsbr_thread_offline(dp->qsv, w->idx);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return 0;
}

/* Wait for a launched lcore without spinning (the main lcore shares a CPU). */
static void wait_job(struct job *j, unsigned lcore)
{
	while (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE))
		usleep(1000);
	rte_eal_wait_lcore(lcore);
}

/* ---- results ---------------------------------------------------------------------------- */

static struct sbuf J;       /* JSON results, comma-separated objects */
static unsigned n_results;
static unsigned not_ok;

/* One measured case: reps of a job (fresh conntrack each), medians. */
struct meas {
	const char *group;
	char name[64];
	char params[256]; /* extra JSON members, "" or "\"k\": v, ..." */
	unsigned workers;
	double dp_cpp, total_cpp, gen_cpp, proc_cpp, tx_cpp;
	double mpps_total, mpps_dp;   /* per worker; aggregate for mc */
	double agg_mpps_wall;         /* packets / wall time, all workers */
	double new_per_s_core;        /* storm: new connections / s of dp time per core */
	uint64_t pkts, drops, policy_denied, created, uncached, new_sent, lost;
	uint64_t preempted, polls;
	double reps_dp[MAX_REPS], r_gen[MAX_REPS], r_proc[MAX_REPS], r_tx[MAX_REPS],
		r_total[MAX_REPS], r_wall[MAX_REPS], r_nps[MAX_REPS];
	unsigned n;
	bool started;
	bool ok;
	char note[200];
};

static void meas_json(const struct meas *m, const struct opts *o)
{
	sb(&J,
	   "%s\n    {\"group\": \"%s\", \"name\": \"%s\", %s%s\"workers\": %u, "
	   "\"median\": {\"gen_cpp\": %.1f, \"process_cpp\": %.1f, \"tx_cpp\": %.1f, "
	   "\"dp_cpp\": %.1f, \"total_cpp\": %.1f, \"dp_mpps\": %.3f, \"total_mpps\": %.3f, "
	   "\"wall_mpps\": %.3f, \"new_flows_per_s_core\": %.0f},\n"
	   "     \"packets\": %" PRIu64 ", \"drops\": %" PRIu64 ", \"policy_denied\": %" PRIu64
	   ", \"created\": %" PRIu64 ", \"new_sent\": %" PRIu64 ", \"lost_allowed\": %" PRIu64
	   ", \"preempted_polls\": %" PRIu64 ", \"polls\": %" PRIu64
	   ", \"ok\": %s, \"note\": \"%s\", \"reps_dp_cpp\": [",
	   n_results++ ? "," : "", m->group, m->name, m->params, m->params[0] ? ", " : "",
	   m->workers, m->gen_cpp, m->proc_cpp, m->tx_cpp, m->dp_cpp, m->total_cpp, m->mpps_dp,
	   m->mpps_total, m->agg_mpps_wall, m->new_per_s_core, m->pkts, m->drops,
	   m->policy_denied, m->created, m->new_sent, m->lost, m->preempted, m->polls,
	   m->ok ? "true" : "false", m->note);
	for (unsigned i = 0; i < m->n; i++)
		sb(&J, "%s%.1f", i ? ", " : "", m->reps_dp[i]);
	sb(&J, "]}");
	(void)o;
}

static void meas_print(const struct meas *m)
{
	printf("%-7s %-34s %2u | %6.1f %7.1f %7.1f | %6.2f %6.2f | %9.0f | %8" PRIu64 " %8" PRIu64
	       "%s%s\n",
	       m->group, m->name, m->workers, m->gen_cpp, m->dp_cpp, m->total_cpp, m->mpps_dp,
	       m->agg_mpps_wall, m->new_per_s_core, m->drops, m->lost, m->ok ? "" : "  NOT OK: ",
	       m->ok ? "" : m->note);
	fflush(stdout);
}

/*
 * Run `reps` repetitions of streams st[0..nw-1] on workers 0..nw-1 (each on
 * its lcore; the one on the main lcore, if any, runs here), each with a
 * fresh conntrack.
 * expect_est: the established flows must all be created at warm-up and none
 * while measuring; count_lost: every drop counts as a lost allowed packet.
 * during(arg): called on the main lcore while single-worker jobs run.
 */
typedef void (*during_fn)(void *arg, struct job *j);

static void finalize(struct meas *m, bool count_lost);

/* Append o->b.reps repetitions to m (call finalize() after the last). */
static void measure_reps(struct dp *dp, const struct opts *o, const struct templates *tp,
			 const struct stream *const *st, unsigned nw, uint64_t max_new,
			 bool expect_est, bool count_lost, during_fn during, void *darg,
			 struct meas *m)
{
	if (!m->started) {
		m->ok = true;
		m->started = true;
	}
	m->workers = nw;
	double hz = (double)rte_get_tsc_hz();
	for (unsigned r = 0; r < o->b.reps && m->n < MAX_REPS; r++) {
		if (bench_fresh_ct(dp))
			exit(1);
		struct job *jobs = calloc(nw, sizeof(*jobs));
		if (!jobs)
			exit(1);
		for (unsigned k = 0; k < nw; k++) {
			struct job *j = &jobs[k];
			j->dp = dp;
			j->widx = k;
			j->st = st[k];
			j->tp = tp;
			j->o = o;
			j->warm_s = o->b.warm_seconds;
			j->secs = o->b.seconds;
			j->max_new = max_new / nw;
			j->seed = o->b.seed + m->n * 31 + k;
		}
		unsigned here = nw; /* the job on the main lcore */
		for (unsigned k = 0; k < nw; k++) {
			unsigned lc = dp->workers[k].lcore_id;
			if (lc == rte_get_main_lcore())
				here = k;
			else if (rte_eal_remote_launch(job_main, &jobs[k], lc)) {
				fprintf(stderr, "nsdp-scen: cannot launch on lcore %u\n", lc);
				exit(1);
			}
		}
		if (here < nw)
			job_main(&jobs[here]);
		else if (during)
			during(darg, &jobs[0]);
		for (unsigned k = 0; k < nw; k++)
			if (k != here)
				wait_job(&jobs[k], dp->workers[k].lcore_id);
		uint64_t pk = 0, gen = 0, proc = 0, tx = 0, tot = 0, newc = 0;
		double wmax = 0;
		for (unsigned k = 0; k < nw; k++) {
			struct job *j = &jobs[k];
			if (j->rc) {
				fprintf(stderr, "nsdp-scen: worker %u: %s\n", k, strerror(-j->rc));
				exit(1);
			}
			pk += j->s.pkts;
			gen += j->s.gen;
			proc += j->s.proc;
			tx += j->s.tx;
			tot += j->s.total;
			newc += j->new_sent;
			if (j->s.wall_s > wmax)
				wmax = j->s.wall_s;
			uint64_t drops = bench_sum_drops(&j->after) - bench_sum_drops(&j->before);
			uint64_t denied = j->after.drops[NSDP_DROP_POLICY_DENY] -
					  j->before.drops[NSDP_DROP_POLICY_DENY];
			uint64_t created = j->after.lc.ct_created - j->before.lc.ct_created;
			uint64_t sent = bench_sum_tx(&j->after) - bench_sum_tx(&j->before);
			m->pkts += j->s.raw_pkts;
			m->drops += drops;
			m->policy_denied += denied;
			m->created += created;
			m->uncached += j->after.lc.ct_denied_uncached -
				       j->before.lc.ct_denied_uncached;
			m->new_sent += j->new_sent;
			m->preempted += j->s.preempted;
			m->polls += j->s.raw_pkts / o->b.burst;
			if (count_lost)
				m->lost += drops + (j->s.raw_pkts - drops - sent);
			if (j->s.raw_pkts != sent + drops) {
				snprintf(m->note, sizeof(m->note),
					 "worker %u: %" PRIu64 " packets, %" PRIu64 " sent + %" PRIu64
					 " dropped",
					 k, j->s.raw_pkts, sent, drops);
				m->ok = false;
			}
			if (expect_est) {
				uint64_t want = 0;
				for (unsigned in = 0; in < NPORTS; in++)
					if (j->st->est[in])
						want += j->st->est[in]->n;
				if (j->warm_created != want || j->warm_drops ||
				    (j->st->new_frac == 0 && (created || drops))) {
					snprintf(m->note, sizeof(m->note),
						 "worker %u: warm-up created %" PRIu64 " of %" PRIu64
						 " entries, dropped %" PRIu64 "; measured: created %" PRIu64
						 ", dropped %" PRIu64,
						 k, j->warm_created, want, j->warm_drops, created, drops);
					m->ok = false;
				}
			}
			if (m->n == 0 && k == 0)
				for (unsigned q = 1; q < NSDP_DROP_MAX; q++) {
					uint64_t v = j->after.drops[q] - j->before.drops[q];
					if (v && q != NSDP_DROP_POLICY_DENY)
						fprintf(stderr, "  %s %s: drop %s: %" PRIu64 "\n", m->group,
							m->name, nsdp_drop_name(q), v);
				}
		}
		m->r_gen[m->n] = bench_cpp(gen, pk);
		m->r_proc[m->n] = bench_cpp(proc, pk);
		m->r_tx[m->n] = bench_cpp(tx, pk);
		m->reps_dp[m->n] = bench_cpp(proc + tx, pk);
		m->r_total[m->n] = bench_cpp(tot, pk);
		m->r_wall[m->n] = wmax > 0 ? (double)pk / wmax / 1e6 : 0;
		/* new connections per second of one core's dataplane time */
		m->r_nps[m->n] = proc + tx ? (double)newc / ((double)(proc + tx) / hz) : 0;
		m->n++;
		free(jobs);
	}
	(void)count_lost;
}

static void finalize(struct meas *m, bool count_lost)
{
	double v[MAX_REPS];
	double hz = (double)rte_get_tsc_hz();
#define MED(arr) (memcpy(v, (arr), sizeof(double) * m->n), bench_median(v, m->n))
	m->gen_cpp = MED(m->r_gen);
	m->proc_cpp = MED(m->r_proc);
	m->tx_cpp = MED(m->r_tx);
	m->dp_cpp = MED(m->reps_dp);
	m->total_cpp = MED(m->r_total);
	m->agg_mpps_wall = MED(m->r_wall);
	m->new_per_s_core = MED(m->r_nps);
#undef MED
	m->mpps_dp = m->dp_cpp > 0 ? hz / m->dp_cpp / 1e6 : 0;
	m->mpps_total = m->total_cpp > 0 ? hz / m->total_cpp / 1e6 : 0;
	if (count_lost && m->lost) {
		m->ok = false;
		size_t n = strlen(m->note);
		snprintf(m->note + n, sizeof(m->note) - n, "%s%" PRIu64 " packets of allowed flows lost",
			 n ? "; " : "", m->lost);
	}
	if (!m->ok)
		not_ok++;
}

static void measure(struct dp *dp, const struct opts *o, const struct templates *tp,
		    const struct stream *const *st, unsigned nw, uint64_t max_new, bool expect_est,
		    bool count_lost, during_fn during, void *darg, struct meas *m)
{
	measure_reps(dp, o, tp, st, nw, max_new, expect_est, count_lost, during, darg, m);
	finalize(m, count_lost);
}

/* ---- set-up ------------------------------------------------------------------------------ */

#define CFG_NODES 200 /* nodes in the static configuration (it holds at most 256) */

static char *config_text(const struct opts *o, unsigned nodes)
{
	unsigned all = nodes;
	if (nodes > CFG_NODES)
		nodes = CFG_NODES;
	struct sbuf b = {0};
	bench_config_head(&b, "172.16.0.1", 1600, o->b.geneve, 1, o->b.burst);
	sb(&b, "tables = { conntrack = %u; endpoints = 4096; routes = %u; vteps = %u; };\n",
	   o->b.ct_size, all + 16, all + 16);
	sb(&b, "endpoints = (\n");
	for (unsigned l = 0; l < o->n_local; l++) {
		uint32_t ip = rte_be_to_cpu_32(scen_pod_ip(l));
		sb(&b,
		   "  { ip = \"%u.%u.%u.%u\"; port = \"pod%u\"; mac = \"02:00:00:00:01:%02x\"; "
		   "identity = %u; }%s\n",
		   ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, l & 1, (ip & 255) - 10,
		   1000 + l, l + 1 < o->n_local ? "," : "");
	}
	sb(&b, ");\nvteps = (\n");
	for (unsigned n = 1; n < nodes; n++) {
		uint32_t v = rte_be_to_cpu_32(scen_vtep_ip(n));
		sb(&b, "  { ip = \"%u.%u.%u.%u\"; mac = \"02:00:00:00:%02x:%02x\"; }%s\n", v >> 24,
		   (v >> 16) & 255, (v >> 8) & 255, v & 255, n >> 8, n & 255,
		   n + 1 < nodes ? "," : "");
	}
	sb(&b, ");\nroutes = (\n  { prefix = \"10.128.0.0/24\"; local = true; }");
	for (unsigned n = 1; n < nodes; n++) {
		uint32_t v = rte_be_to_cpu_32(scen_vtep_ip(n));
		sb(&b, ",\n  { prefix = \"10.%u.%u.0/24\"; vtep = \"%u.%u.%u.%u\"; }", 128 + n / 256,
		   n % 256, v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
	}
	sb(&b, "\n);\n");
	return sb_take(&b, NULL);
}

/* ---- classification micro-benchmarks: pol_decide and rte_acl ---------------------------- */

struct classify_res {
	double decide_cpp;   /* pol_decide per tuple */
	double acl_cpp;      /* rte_acl_classify per tuple, bursts of 32 */
	uint64_t tuples;
	uint64_t mismatches; /* ACL verdict != local-side reference */
	uint64_t denied;     /* by pol_decide */
};

static void classify_bench(const struct pcase *c, const struct scen_acl *acl, unsigned n_local,
			   struct flowset *const *pools, unsigned np, struct classify_res *r)
{
	memset(r, 0, sizeof(*r));
	uint32_t total = 0;
	for (unsigned i = 0; i < np; i++)
		total += pools[i]->n;
	struct scen_acl_key *keys = malloc(sizeof(*keys) * total);
	const struct scen_acl_key **ptr = malloc(sizeof(*ptr) * total);
	uint8_t *ref = malloc(total);
	if (!keys || !ptr || !ref)
		exit(1);
	uint32_t k = 0;
	uint64_t x = 99;
	for (unsigned i = 0; i < np; i++)
		for (uint32_t q = 0; q < pools[i]->n; q++, k++) {
			const struct flow *f = &pools[i]->f[q];
			memset(&keys[k], 0, sizeof(keys[k]));
			keys[k].proto = f->proto;
			keys[k].src = f->src;
			keys[k].dst = f->dst;
			keys[k].sport = rte_cpu_to_be_16(f->sport);
			keys[k].dport = rte_cpu_to_be_16(f->dport);
			ref[k] = scen_local_verdict(c->t, n_local, f->src, f->dst, f->proto, f->dport);
		}
	/* Shuffle so both see the same random order of both directions. */
	for (uint32_t q = total - 1; q > 0; q--) {
		uint32_t s = bench_rnd(&x, q + 1);
		struct scen_acl_key tk = keys[q];
		keys[q] = keys[s];
		keys[s] = tk;
		uint8_t tr = ref[q];
		ref[q] = ref[s];
		ref[s] = tr;
	}
	for (uint32_t q = 0; q < total; q++)
		ptr[q] = &keys[q];
	r->tuples = total;
	/* pol_decide, 3 passes, best */
	double best = 1e18;
	for (unsigned pass = 0; pass < 3; pass++) {
		uint64_t t0 = rte_rdtsc(), den = 0;
		for (uint32_t q = 0; q < total; q++) {
			struct pol_result res;
			pol_decide(c->t, keys[q].src, keys[q].dst, keys[q].proto,
				   rte_be_to_cpu_16(keys[q].dport), &res);
			den += res.verdict == POL_DENY;
		}
		double v = bench_cpp(rte_rdtsc() - t0, total);
		if (v < best)
			best = v;
		r->denied = den;
	}
	r->decide_cpp = best;
	if (acl) {
		uint8_t v[32];
		best = 1e18;
		for (unsigned pass = 0; pass < 3; pass++) {
			uint64_t t0 = rte_rdtsc(), mis = 0;
			for (uint32_t q = 0; q + 32 <= total; q += 32) {
				scen_acl_classify(acl, ptr + q, 32, v);
				for (unsigned i = 0; i < 32; i++)
					mis += v[i] != ref[q + i];
			}
			double cc = bench_cpp(rte_rdtsc() - t0, total / 32 * 32);
			if (cc < best)
				best = cc;
			r->mismatches = mis;
		}
		r->acl_cpp = best;
	}
	free(keys);
	free(ptr);
	free(ref);
}

/* ---- the update scenario's control loop ---------------------------------------------------- */

struct updater {
	struct dp *dp;
	const struct pcase *c;
	double period_ms;
	uint64_t gen;
	unsigned publishes;
	double lat_sum_ms, lat_max_ms;
	bool on;
};

static void update_during(void *arg, struct job *j)
{
	struct updater *u = arg;
	if (!u->on)
		return;
	double next = bench_now_ms() + u->period_ms;
	while (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {
		double t = bench_now_ms();
		if (t < next) {
			double left = next - t;
			usleep((useconds_t)(left * 1000 > 2000 ? 2000 : left * 1000));
			continue;
		}
		next += u->period_ms;
		double a = bench_now_ms();
		if (publish(u->dp, u->c, (u->gen & 1) != 0, u->gen)) {
			fprintf(stderr, "nsdp-scen: publish failed\n");
			exit(1);
		}
		u->gen++;
		double l = bench_now_ms() - a;
		u->publishes++;
		u->lat_sum_ms += l;
		if (l > u->lat_max_ms)
			u->lat_max_ms = l;
	}
}

/* ---- options ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nsdp-scen [options]\n"
		"  --groups LIST      sweep,flows,sizes,mix,storm,update,mc,obs (default all)\n"
		"  --cases LIST       policies x pods [x namespaces] per sweep case, e.g.\n"
		"                     10x10k,1kx10k,10kx100kx10k (namespaces: pods / 100,\n"
		"                     at least 10, unless given)\n"
		"                     (default 10x10k,100x10k,1kx10k,10kx10k,1kx1k,1kx100k)\n"
		"  --base PxN         cluster of the other groups (default 1kx10k)\n"
		"  --flows N          established flows per case (default 100k)\n"
		"  --flow-sweep LIST  flow counts of the flows group (default 1k,10k,100k,1M)\n"
		"  --seconds S        measured window per repetition (default 1)\n"
		"  --warm-seconds S   unmeasured random warm-up per repetition (default 0.3)\n"
		"  --reps N           repetitions, median reported (default 5)\n"
		"  --burst N          packets per poll (default 32)\n"
		"  --local-pods N     pods on this node (default 100)\n"
		"  --ct-size N        conntrack size (default 2M)\n"
		"  --acl-max-rules N  build no rte_acl context above this many rules (default 2M)\n"
		"  --update-ms MS     policy publication period of `update` (default 10)\n"
		"  --zipf-s S         Zipf exponent (default 1.0)\n"
		"  --mix-new F        share of new connections in `mix` (default 0.02)\n"
		"  --mc-workers LIST  worker counts of `mc` (default 1,2; at most the CPUs this\n"
		"                     process may use: with all of them the last worker\n"
		"                     shares the main lcore's CPU)\n"
		"  --no-huge          anonymous memory instead of hugepages (with --mem MB)\n"
		"  --mem MB           memory for --no-huge (default 4096)\n"
		"  --geneve           Geneve instead of VXLAN\n"
		"  --seed N           random seed (default 1)\n"
		"  --outlier-us US    polls longer than this were preempted (default 200)\n"
		"  --json FILE        write results as JSON\n");
}

static int parse_case(const char *s, struct pcase_spec *c)
{
	char *e;
	if (bench_parse_count(s, &c->policies, &e) || (*e != 'x' && *e != 'X'))
		return -1;
	c->namespaces = 0;
	if (bench_parse_count(e + 1, &c->pods, &e))
		return -1;
	if (*e == 'x' || *e == 'X')
		return bench_parse_count(e + 1, &c->namespaces, NULL) || !c->namespaces ? -1 : 0;
	return *e ? -1 : 0;
}

/* each() of bench_parse_list: --cases, --groups */
static int list_case(const char *tok, unsigned i, void *arg)
{
	return parse_case(tok, (struct pcase_spec *)arg + i);
}

static int list_group(const char *tok, unsigned i, void *arg)
{
	(void)i;
	for (unsigned g = 0; g < RTE_DIM(group_names); g++)
		if (!strcmp(tok, group_names[g])) {
			*(unsigned *)arg |= 1u << g;
			return 0;
		}
	return -1;
}

/* The options of nsdp-scen's own (bench_getopt() takes the common ones). */
static int own_opt(void *arg, int c, const char *val)
{
	struct opts *o = arg;
	int n;
	unsigned v;
	switch (c) {
	case 'G':
		o->groups = 0;
		n = bench_parse_list(val, "--groups", UINT_MAX, list_group, &o->groups);
		return n < 0 ? -1 : 0;
	case 'C':
		n = bench_parse_list(val, "--cases", MAX_CASES, list_case, o->cases);
		if (n < 0)
			return -1;
		o->n_cases = (unsigned)n;
		return 0;
	case 'B':
		return parse_case(val, &o->base);
	case 'f':
		return bench_parse_count(val, &o->flows, NULL);
	case 'F':
		n = bench_parse_list(val, "--flow-sweep", RTE_DIM(o->flow_sweep), bench_list_count,
				     o->flow_sweep);
		if (n < 0)
			return -1;
		o->n_flow_sweep = (unsigned)n;
		return 0;
	case 'L':
		o->n_local = (unsigned)atoi(val);
		return 0;
	case 'A':
		if (bench_parse_count(val, &v, NULL))
			return -1;
		o->acl_max_rules = v;
		return 0;
	case 'U':
		o->update_ms = atof(val);
		return 0;
	case 'z':
		o->zipf_s = atof(val);
		return 0;
	case 'N':
		o->mix_new = atof(val);
		return 0;
	case 'M':
		n = bench_parse_list(val, "--mc-workers", RTE_DIM(o->mc), bench_list_count, o->mc);
		if (n < 0)
			return -1;
		o->n_mc = (unsigned)n;
		return 0;
	default:
		return -1;
	}
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"groups", required_argument, NULL, 'G'},
		{"cases", required_argument, NULL, 'C'},
		{"base", required_argument, NULL, 'B'},
		{"flows", required_argument, NULL, 'f'},
		{"flow-sweep", required_argument, NULL, 'F'},
		{"local-pods", required_argument, NULL, 'L'},
		{"acl-max-rules", required_argument, NULL, 'A'},
		{"update-ms", required_argument, NULL, 'U'},
		{"zipf-s", required_argument, NULL, 'z'},
		{"mix-new", required_argument, NULL, 'N'},
		{"mc-workers", required_argument, NULL, 'M'},
		BENCH_LONG_OPTIONS,
	};
	*o = (struct opts){
		.b = {.seconds = 1, .warm_seconds = 0.3, .reps = 5, .burst = 32,
		      .ct_size = 2u << 20, .seed = 1, .outlier_us = 200, .mem_mb = 4096},
		.cases = {{10, 10000}, {100, 10000}, {1000, 10000}, {10000, 10000}, {1000, 1000},
			  {1000, 100000}},
		.n_cases = 6,
		.base = {1000, 10000},
		.flows = 100000,
		.flow_sweep = {1000, 10000, 100000, 1000000},
		.n_flow_sweep = 4,
		.groups = G_ALL,
		.n_local = 100,
		.acl_max_rules = 2000000,
		.update_ms = 10,
		.zipf_s = 1.0,
		.mix_new = 0.02,
		.mc = {1, 2},
		.n_mc = 2,
	};
	if (bench_getopt(argc, argv, lo, &o->b, usage, own_opt, o))
		return -1;
	if (bench_opts_check(&o->b, MAX_REPS, 1024) || o->n_local < 2 ||
	    o->n_local > PODS_PER_NODE || o->update_ms <= 0 || o->mix_new < 0 || o->mix_new > 1 ||
	    mc_max(o) > DP_MAX_WORKERS) {
		fprintf(stderr, "nsdp-scen: option out of range (see --help)\n");
		return -1;
	}
	for (unsigned i = 0; i < o->n_cases; i++)
		if (o->cases[i].pods <= o->n_local || o->cases[i].pods > 250000) {
			fprintf(stderr, "nsdp-scen: case pods must be in (local pods, 250k]\n");
			return -1;
		}
	return 0;
}

/* ---- the groups ----------------------------------------------------------------------------- */

struct ctx {
	struct dp *dp;
	const struct opts *o;
	struct templates tp;
	uint64_t gen;
};

static void set_params(struct meas *m, const struct pcase *c, const char *fmt, ...)
{
	int n = snprintf(m->params, sizeof(m->params),
			 "\"policies\": %u, \"pods\": %u, \"namespaces\": %u", c->spec.policies,
			 c->spec.pods, scen_namespaces(c->spec.pods, c->spec.namespaces));
	if (fmt && n > 0 && (size_t)n < sizeof(m->params)) {
		va_list ap;
		va_start(ap, fmt);
		m->params[n++] = ',';
		m->params[n++] = ' ';
		vsnprintf(m->params + n, sizeof(m->params) - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

static int use_case(struct ctx *x, const struct pcase *c)
{
	return publish(x->dp, c, false, ++x->gen);
}

/* Established streams: decap (uplink) or encap (both pod ports), allowed flows. */
struct est_sets {
	struct flowset *dec, *enc0, *enc1;
};

static void est_free(struct est_sets *e)
{
	flowset_free(e->dec);
	flowset_free(e->enc0);
	flowset_free(e->enc1);
	memset(e, 0, sizeof(*e));
}

static int est_make(const struct ctx *x, const struct pcase *c, uint32_t flows, bool dec, bool enc,
		    bool zipf, uint64_t seed, struct est_sets *e)
{
	memset(e, 0, sizeof(*e));
	const struct opts *o = x->o;
	if (dec && (!(e->dec = make_flows(c, o->n_local, true, -1, flows, true, false, seed, NULL)) ||
		    make_seq(e->dec, zipf, o->zipf_s, seed)))
		return -1;
	if (enc &&
	    (!(e->enc0 = make_flows(c, o->n_local, false, POD0, flows / 2, true, false, seed + 1, NULL)) ||
	     !(e->enc1 = make_flows(c, o->n_local, false, POD1, flows - flows / 2, true, false,
				    seed + 2, NULL)) ||
	     make_seq(e->enc0, zipf, o->zipf_s, seed + 1) ||
	     make_seq(e->enc1, zipf, o->zipf_s, seed + 2)))
		return -1;
	return 0;
}

static void stream_est(struct stream *s, const struct est_sets *e, bool dec, bool enc,
		       unsigned len)
{
	memset(s, 0, sizeof(*s));
	s->len = len;
	s->warm_pass = true;
	if (dec && enc) {
		s->n_sched = 4;
		s->sched[0] = UPLINK;
		s->sched[1] = POD0;
		s->sched[2] = UPLINK;
		s->sched[3] = POD1;
	} else if (dec) {
		s->n_sched = 1;
		s->sched[0] = UPLINK;
	} else {
		s->n_sched = 2;
		s->sched[0] = POD0;
		s->sched[1] = POD1;
	}
	if (dec)
		s->est[UPLINK] = e->dec;
	if (enc) {
		s->est[POD0] = e->enc0;
		s->est[POD1] = e->enc1;
	}
}

static const char *len_name(unsigned len, char *buf, size_t n)
{
	if (len == IMIX_TAG)
		snprintf(buf, n, "imix");
	else
		snprintf(buf, n, "%u", len);
	return buf;
}

static uint64_t storm_cap(const struct opts *o)
{
	return o->b.ct_size / 2; /* new connections per repetition: conntrack half full at most */
}

static void run_est(struct ctx *x, const struct pcase *c, const char *group,
		    const struct est_sets *e, bool dec, bool enc, unsigned len, bool zipf,
		    uint32_t flows)
{
	struct stream s;
	stream_est(&s, e, dec, enc, len);
	const struct stream *sp = &s;
	struct meas m;
	memset(&m, 0, sizeof(m));
	m.group = group;
	char lb[16];
	snprintf(m.name, sizeof(m.name), "%s %s %s %uk", dec && enc ? "decap+encap" : dec ? "decap" : "encap",
		 len_name(len, lb, sizeof(lb)), zipf ? "zipf" : "uniform", flows / 1000);
	set_params(&m, c,
		   "\"scenario\": \"%s\", \"frame\": \"%s\", \"popularity\": \"%s\", \"flows\": %u",
		   dec && enc ? "decap+encap" : dec ? "decap" : "encap", lb,
		   zipf ? "zipf" : "uniform", flows);
	measure(x->dp, x->o, &x->tp, &sp, 1, 0, true, false, NULL, NULL, &m);
	meas_print(&m);
	meas_json(&m, x->o);
}

/* New-connection tuples: only allowed ones (only_allowed) or as generated. */
static struct flowset *make_pool(const struct ctx *x, const struct pcase *c, bool decap, int in,
				 bool only_allowed, uint64_t seed, double *allowed)
{
	struct flowset *p = make_flows(c, x->o->n_local, decap, in, POOL_N, only_allowed, true,
				       seed, allowed);
	if (p && only_allowed && allowed)
		*allowed = 1;
	return p;
}

/* New-connection pools of the three input ports (seeds seed, seed+1, seed+2). */
struct pool_sets {
	struct flowset *p[NPORTS];
	double allowed[NPORTS];
};

static int pools_make(const struct ctx *x, const struct pcase *c, bool only_allowed,
		      uint64_t seed, struct pool_sets *ps)
{
	ps->p[UPLINK] = make_pool(x, c, true, -1, only_allowed, seed, &ps->allowed[UPLINK]);
	ps->p[POD0] = make_pool(x, c, false, POD0, only_allowed, seed + 1, &ps->allowed[POD0]);
	ps->p[POD1] = make_pool(x, c, false, POD1, only_allowed, seed + 2, &ps->allowed[POD1]);
	return ps->p[UPLINK] && ps->p[POD0] && ps->p[POD1] ? 0 : -1;
}

static void pools_free(struct pool_sets *ps)
{
	for (unsigned k = 0; k < NPORTS; k++)
		flowset_free(ps->p[k]);
}

/* A storm's check: every packet must have created its entry, but denied
 * ones past the admission limit (tables.denied_entries), which are
 * decided alone. */
static void storm_check(struct meas *m)
{
	if (m->created + m->uncached == m->new_sent)
		return;
	m->ok = false;
	snprintf(m->note, sizeof(m->note),
		 "%" PRIu64 " new connections sent, %" PRIu64 " created, %" PRIu64
		 " denied without an entry",
		 m->new_sent, m->created, m->uncached);
	not_ok++;
}

static void run_storm(struct ctx *x, const struct pcase *c, const char *group, bool decap,
		      struct flowset *p0, struct flowset *p1, double allowed)
{
	struct stream s;
	memset(&s, 0, sizeof(s));
	s.len = 64;
	s.new_frac = 1;
	if (decap) {
		s.n_sched = 1;
		s.sched[0] = UPLINK;
		s.pool[UPLINK] = p0;
	} else {
		s.n_sched = 2;
		s.sched[0] = POD0;
		s.sched[1] = POD1;
		s.pool[POD0] = p0;
		s.pool[POD1] = p1;
	}
	const struct stream *sp = &s;
	struct meas m;
	memset(&m, 0, sizeof(m));
	m.group = group;
	snprintf(m.name, sizeof(m.name), "storm %s 64 (%.0f%% allowed)", decap ? "decap" : "encap",
		 100 * allowed);
	set_params(&m, c, "\"scenario\": \"storm-%s\", \"frame\": \"64\", \"allowed_share\": %.3f",
		   decap ? "decap" : "encap", allowed);
	measure(x->dp, x->o, &x->tp, &sp, 1, storm_cap(x->o), false, false, NULL, NULL, &m);
	storm_check(&m);
	meas_print(&m);
	meas_json(&m, x->o);
}


static struct sbuf CASES; /* JSON: per-case compile / ACL / classify figures */
static unsigned n_cases_out;

static int group_sweep(struct ctx *x, const struct pcase_spec *spec)
{
	const struct opts *o = x->o;
	struct pcase *c = pcase_make(spec, false);
	if (!c)
		return -1;
	printf("-- case %u policies x %u pods x %u namespaces: load %.0f ms, compile %.1f ms, "
	       "%u subject classes, %u maps, %u ranges, %u rules, blob %zu KB\n",
	       spec->policies, spec->pods, scen_namespaces(spec->pods, spec->namespaces), c->load_ms,
	       c->compile_ms, c->t->n_subjects, c->t->n_maps, c->t->n_ranges, c->t->n_rules,
	       c->blob_len / 1024);
	fflush(stdout);
	if (use_case(x, c))
		return -1;
	struct est_sets e;
	if (est_make(x, c, o->flows, true, true, false, o->b.seed, &e))
		return -1;
	run_est(x, c, "sweep", &e, true, false, 64, false, o->flows);
	run_est(x, c, "sweep", &e, false, true, 64, false, o->flows);
	est_free(&e);
	double allowed_d, allowed_e;
	struct flowset *pd = make_pool(x, c, true, -1, true, o->b.seed + 100, &allowed_d);
	struct flowset *pe = make_pool(x, c, false, -1, false, o->b.seed + 101, &allowed_e);
	if (!pd || !pe)
		return -1;
	run_storm(x, c, "sweep", true, pd, NULL, allowed_d);

	/* classification: pol_decide vs rte_acl on the storm tuples of both directions */
	struct scen_acl_stats as;
	struct scen_acl *acl = scen_acl_build(c->t, o->n_local, o->acl_max_rules,
					      (int)rte_socket_id(), &as);
	/* classify tuples as generated (allowed and denied), both directions */
	double allowed_d2;
	struct flowset *pm = make_pool(x, c, true, -1, false, o->b.seed + 102, &allowed_d2);
	if (!pm)
		return -1;
	struct flowset *pools[2] = {pm, pe};
	struct classify_res cr;
	classify_bench(c, acl, o->n_local, pools, 2, &cr);
	printf("   classify %" PRIu64 " tuples (%.0f%% denied): pol_decide %.1f cycles; rte_acl %s"
	       "%.1f cycles, %" PRIu64 " rules, expand %.0f ms, build %.0f ms, %" PRIu64
	       " verdicts differ%s%s\n",
	       cr.tuples, 100.0 * (double)cr.denied / (double)cr.tuples, cr.decide_cpp,
	       acl ? "" : "(not built) ", cr.acl_cpp, as.rules_needed, as.expand_ms, as.build_ms,
	       cr.mismatches, as.note[0] ? "; " : "", as.note);
	fflush(stdout);
	if (acl && cr.mismatches)
		not_ok++;
	char acl_cpp[32];
	if (acl)
		snprintf(acl_cpp, sizeof(acl_cpp), "%.1f", cr.acl_cpp);
	else
		snprintf(acl_cpp, sizeof(acl_cpp), "null");
	sb(&CASES,
	   "%s\n    {\"policies\": %u, \"pods\": %u, \"namespaces\": %u, \"local_pods\": %u, "
	   "\"load_ms\": %.1f, \"compile_ms\": %.1f, \"subject_classes\": %u, \"maps\": %u, "
	   "\"ranges\": %u, \"rules\": %u, \"blob_bytes\": %zu, \"allowed_share_decap\": %.3f, "
	   "\"allowed_share_encap\": %.3f,\n     \"decide_cpp\": %.1f, \"tuples\": %" PRIu64
	   ", \"denied\": %" PRIu64 ", \"acl\": {\"rules\": %" PRIu64 ", \"built\": %s, "
	   "\"expand_ms\": %.1f, \"build_ms\": %.1f, \"classify_cpp\": %s, \"mismatches\": %" PRIu64
	   ", \"note\": \"%s\"}}",
	   n_cases_out++ ? "," : "", spec->policies, spec->pods,
	   scen_namespaces(spec->pods, spec->namespaces),
	   o->n_local, c->load_ms, c->compile_ms, c->t->n_subjects, c->t->n_maps, c->t->n_ranges,
	   c->t->n_rules, c->blob_len, allowed_d2, allowed_e, cr.decide_cpp, cr.tuples, cr.denied,
	   as.rules_needed, acl ? "true" : "false", as.expand_ms, as.build_ms, acl_cpp,
	   cr.mismatches, as.note);
	scen_acl_free(acl);
	flowset_free(pd);
	flowset_free(pe);
	flowset_free(pm);
	pcase_free(c);
	return 0;
}

static int group_flows(struct ctx *x, const struct pcase *c)
{
	for (unsigned i = 0; i < x->o->n_flow_sweep; i++) {
		uint32_t f = x->o->flow_sweep[i];
		struct est_sets e;
		if (est_make(x, c, f, true, false, false, x->o->b.seed + i, &e))
			return -1;
		run_est(x, c, "flows", &e, true, false, 64, false, f);
		est_free(&e);
	}
	return 0;
}

static int group_sizes(struct ctx *x, const struct pcase *c)
{
	static const unsigned lens[] = {64, 512, 1500, IMIX_TAG};
	struct est_sets e, z;
	uint32_t f = x->o->flows;
	if (est_make(x, c, f, true, true, false, x->o->b.seed, &e) ||
	    est_make(x, c, f, true, true, true, x->o->b.seed, &z))
		return -1;
	for (unsigned dir = 0; dir < 2; dir++)
		for (unsigned i = 0; i < RTE_DIM(lens); i++)
			run_est(x, c, "sizes", &e, dir == 0, dir == 1, lens[i], false, f);
	for (unsigned dir = 0; dir < 2; dir++) {
		run_est(x, c, "sizes", &z, dir == 0, dir == 1, 64, true, f);
		run_est(x, c, "sizes", &z, dir == 0, dir == 1, IMIX_TAG, true, f);
	}
	est_free(&e);
	est_free(&z);
	return 0;
}

static int group_mix(struct ctx *x, const struct pcase *c)
{
	const struct opts *o = x->o;
	struct est_sets z;
	struct pool_sets ps;
	if (est_make(x, c, o->flows, true, true, true, o->b.seed, &z))
		return -1;
	if (pools_make(x, c, false, o->b.seed + 200, &ps))
		return -1;
	struct stream s;
	stream_est(&s, &z, true, true, IMIX_TAG);
	for (unsigned k = 0; k < NPORTS; k++)
		s.pool[k] = ps.p[k];
	s.new_frac = o->mix_new;
	const struct stream *sp = &s;
	struct meas m;
	memset(&m, 0, sizeof(m));
	m.group = "mix";
	snprintf(m.name, sizeof(m.name), "decap+encap imix zipf %uk +%.0f%% new", o->flows / 1000,
		 100 * o->mix_new);
	set_params(&m, c,
		   "\"scenario\": \"mix\", \"frame\": \"imix\", \"popularity\": \"zipf\", "
		   "\"flows\": %u, \"new_share\": %.3f",
		   o->flows, o->mix_new);
	measure(x->dp, o, &x->tp, &sp, 1, storm_cap(o), true, false, NULL, NULL, &m);
	meas_print(&m);
	meas_json(&m, o);
	est_free(&z);
	pools_free(&ps);
	return 0;
}

static int group_storm(struct ctx *x, const struct pcase *c)
{
	const struct opts *o = x->o;
	for (unsigned only = 1; only < 3; only++) {
		struct pool_sets ps;
		if (pools_make(x, c, only == 1, o->b.seed + 300, &ps))
			return -1;
		run_storm(x, c, "storm", true, ps.p[UPLINK], NULL, ps.allowed[UPLINK]);
		run_storm(x, c, "storm", false, ps.p[POD0], ps.p[POD1],
			  (ps.allowed[POD0] + ps.allowed[POD1]) / 2);
		pools_free(&ps);
	}
	return 0;
}

static int group_update(struct ctx *x, const struct pcase *c)
{
	const struct opts *o = x->o;
	struct est_sets e;
	if (est_make(x, c, o->flows, true, true, false, o->b.seed + 400, &e))
		return -1;
	struct stream s;
	stream_est(&s, &e, true, true, 64);
	const struct stream *sp = &s;
	struct meas on, off;
	memset(&on, 0, sizeof(on));
	memset(&off, 0, sizeof(off));
	on.group = off.group = "update";
	snprintf(off.name, sizeof(off.name), "decap+encap 64 %uk, no updates", o->flows / 1000);
	snprintf(on.name, sizeof(on.name), "decap+encap 64 %uk, update/%.0fms", o->flows / 1000,
		 o->update_ms);
	struct opts one = *o;
	one.b.reps = 1;
	struct updater u = {.dp = x->dp, .c = c, .period_ms = o->update_ms, .gen = x->gen + 1};
	for (unsigned r = 0; r < o->b.reps; r++) {
		u.on = false;
		if (publish(x->dp, c, false, ++u.gen))
			return -1;
		measure_reps(x->dp, &one, &x->tp, &sp, 1, 0, true, true, update_during, &u, &off);
		u.on = true;
		measure_reps(x->dp, &one, &x->tp, &sp, 1, 0, false, true, update_during, &u, &on);
	}
	finalize(&off, true);
	finalize(&on, true);
	x->gen = u.gen + 1;
	set_params(&off, c, "\"scenario\": \"update\", \"flows\": %u, \"updates\": false", o->flows);
	set_params(&on, c,
		   "\"scenario\": \"update\", \"flows\": %u, \"updates\": true, \"period_ms\": %g, "
		   "\"publishes\": %u, \"publish_ms_mean\": %.3f, \"publish_ms_max\": %.3f, "
		   "\"compile_ms\": %.1f, \"compile_extra_ms\": %.1f, \"blob_bytes\": %zu",
		   o->flows, o->update_ms, u.publishes,
		   u.publishes ? u.lat_sum_ms / u.publishes : 0, u.lat_max_ms, c->compile_ms,
		   c->compile_extra_ms, c->blob_len);
	meas_print(&off);
	meas_print(&on);
	printf("   %u policies published (every %.0f ms: pol_deserialize + dp_publish_policy incl. "
	       "RCU wait: mean %.3f ms, max %.3f ms); the agent's compile of this cluster takes "
	       "%.0f ms\n",
	       u.publishes, o->update_ms, u.publishes ? u.lat_sum_ms / u.publishes : 0,
	       u.lat_max_ms, c->compile_ms);
	meas_json(&off, o);
	meas_json(&on, o);
	est_free(&e);
	return use_case(x, c);
}

/* Flow logs and per-rule counters as configured (the defaults: on), or off. */
static void obs_set(struct dp *dp, bool on, struct rte_ring *const *rings)
{
	for (unsigned w = 0; w < dp->n_workers; w++) {
		dp->workers[w].rule_counters = on && dp->cfg.rule_counters;
		dp->workers[w].fl.ring = on ? rings[w] : NULL;
	}
}

/* One stream measured with observability on and off, repetitions alternating. */
static void run_obs(struct ctx *x, const struct pcase *c, const char *what,
		    const struct stream *sp, uint64_t max_new, bool expect_est)
{
	struct dp *dp = x->dp;
	struct rte_ring *rings[DP_MAX_WORKERS];
	uint64_t rec0 = 0, lim0 = 0, rec1 = 0, lim1 = 0;
	for (unsigned w = 0; w < dp->n_workers; w++) {
		rings[w] = dp->workers[w].fl.ring;
		rec0 += dp->stats[w].lc.flowlog_records;
		lim0 += dp->stats[w].lc.flowlog_rate_limited + dp->stats[w].lc.flowlog_ring_full;
	}
	struct meas on, off;
	memset(&on, 0, sizeof(on));
	memset(&off, 0, sizeof(off));
	on.group = off.group = "obs";
	snprintf(on.name, sizeof(on.name), "%s, flow log+counters", what);
	snprintf(off.name, sizeof(off.name), "%s, both off", what);
	struct opts one = *x->o;
	one.b.reps = 1;
	for (unsigned r = 0; r < x->o->b.reps; r++) {
		obs_set(dp, false, rings);
		measure_reps(dp, &one, &x->tp, &sp, 1, max_new, expect_est, false, NULL, NULL, &off);
		obs_set(dp, true, rings);
		measure_reps(dp, &one, &x->tp, &sp, 1, max_new, expect_est, false, NULL, NULL, &on);
		/* the agent's part: take the records (each rep starts with an empty ring) */
		void *buf = NULL;
		size_t len = 0;
		while (dp_flowlog_read(dp, 0, &buf, &len) == 0 && len > sizeof(struct nsdp_flowlog_hdr)) {
			free(buf);
			buf = NULL;
		}
		free(buf);
	}
	for (unsigned w = 0; w < dp->n_workers; w++) {
		rec1 += dp->stats[w].lc.flowlog_records;
		lim1 += dp->stats[w].lc.flowlog_rate_limited + dp->stats[w].lc.flowlog_ring_full;
	}
	finalize(&off, false);
	finalize(&on, false);
	double overhead = off.dp_cpp > 0 ? 100 * (on.dp_cpp / off.dp_cpp - 1) : 0;
	set_params(&off, c, "\"scenario\": \"obs\", \"observability\": false");
	set_params(&on, c,
		   "\"scenario\": \"obs\", \"observability\": true, \"overhead_pct\": %.2f, "
		   "\"flowlog_records\": %" PRIu64 ", \"flowlog_not_queued\": %" PRIu64,
		   overhead, rec1 - rec0, lim1 - lim0);
	meas_print(&off);
	meas_print(&on);
	printf("   overhead %+.1f%% cycles/packet (medians of %u alternating reps); %" PRIu64
	       " records queued, %" PRIu64 " over the rate limit or ring\n",
	       overhead, x->o->b.reps, rec1 - rec0, lim1 - lim0);
	meas_json(&off, x->o);
	meas_json(&on, x->o);
}

static int group_obs(struct ctx *x, const struct pcase *c)
{
	const struct opts *o = x->o;
	struct est_sets e;
	if (est_make(x, c, o->flows, true, true, false, o->b.seed + 600, &e))
		return -1;
	struct stream s;
	stream_est(&s, &e, true, true, 64);
	char name[64];
	snprintf(name, sizeof(name), "decap+encap 64 %uk", o->flows / 1000);
	run_obs(x, c, name, &s, 0, true);
	est_free(&e);
	for (unsigned only = 0; only < 2; only++) {
		struct pool_sets ps;
		if (pools_make(x, c, only, o->b.seed + 610 + only, &ps))
			return -1;
		memset(&s, 0, sizeof(s));
		s.len = 64;
		s.new_frac = 1;
		s.n_sched = 1;
		s.sched[0] = UPLINK;
		s.pool[UPLINK] = ps.p[UPLINK];
		snprintf(name, sizeof(name), "storm decap (%.0f%% allowed)", 100 * ps.allowed[UPLINK]);
		run_obs(x, c, name, &s, storm_cap(o), false);
		pools_free(&ps);
	}
	return 0;
}

static int group_mc(struct ctx *x, const struct pcase *c)
{
	const struct opts *o = x->o;
	unsigned wmax = mc_max(o);
	struct est_sets all, *e = calloc(wmax, sizeof(*e));
	struct stream *st = calloc(wmax, sizeof(*st));
	const struct stream **sp = calloc(wmax, sizeof(*sp));
	struct flowset **pool = calloc(wmax, sizeof(*pool));
	struct flowset *whole = NULL;
	double a;
	int rc = -1;
	memset(&all, 0, sizeof(all));
	if (!e || !st || !sp || !pool ||
	    est_make(x, c, o->flows, true, true, false, o->b.seed + 500, &all) ||
	    !(whole = make_pool(x, c, true, -1, true, o->b.seed + 510, &a)))
		goto out;
	for (unsigned i = 0; i < o->n_mc; i++) {
		unsigned nw = o->mc[i];
		/* Established: the same flows each time, each worker its share. */
		for (unsigned k = 0; k < nw; k++) {
			uint64_t seed = o->b.seed + 520 + k;
			if (!(e[k].dec = flowset_slice(all.dec, k, nw, seed)) ||
			    !(e[k].enc0 = flowset_slice(all.enc0, k, nw, seed + 1)) ||
			    !(e[k].enc1 = flowset_slice(all.enc1, k, nw, seed + 2)))
				goto out;
			stream_est(&st[k], &e[k], true, true, 64);
			sp[k] = &st[k];
		}
		struct meas m;
		memset(&m, 0, sizeof(m));
		m.group = "mc";
		snprintf(m.name, sizeof(m.name), "decap+encap 64 %uk, %u worker%s", o->flows / 1000,
			 nw, nw > 1 ? "s" : "");
		set_params(&m, c, "\"scenario\": \"established\", \"flows\": %u", o->flows);
		measure(x->dp, o, &x->tp, sp, nw, 0, true, false, NULL, NULL, &m);
		meas_print(&m);
		meas_json(&m, o);
		for (unsigned k = 0; k < nw; k++)
			est_free(&e[k]);

		/* Storm: every packet a new connection, all workers inserting into
		 * the one conntrack table, each from its share of one pool. */
		for (unsigned k = 0; k < nw; k++) {
			if (!(pool[k] = flowset_slice(whole, k, nw, 0)))
				goto out;
			memset(&st[k], 0, sizeof(st[k]));
			st[k].len = 64;
			st[k].new_frac = 1;
			st[k].n_sched = 1;
			st[k].sched[0] = UPLINK;
			st[k].pool[UPLINK] = pool[k];
			sp[k] = &st[k];
		}
		memset(&m, 0, sizeof(m));
		m.group = "mc";
		snprintf(m.name, sizeof(m.name), "storm decap 64, %u worker%s", nw, nw > 1 ? "s" : "");
		set_params(&m, c, "\"scenario\": \"storm-decap\"");
		measure(x->dp, o, &x->tp, sp, nw, storm_cap(o), false, false, NULL, NULL, &m);
		storm_check(&m); /* one table, all the workers inserting */
		meas_print(&m);
		meas_json(&m, o);
		for (unsigned k = 0; k < nw; k++) {
			flowset_free(pool[k]);
			pool[k] = NULL;
		}
	}
	rc = 0;
out:
	for (unsigned k = 0; e && k < wmax; k++)
		est_free(&e[k]);
	for (unsigned k = 0; pool && k < wmax; k++)
		flowset_free(pool[k]);
	est_free(&all);
	flowset_free(whole);
	free(pool);
	free(sp);
	free(st);
	free(e);
	return rc;
}

/*
 * The lcores: "0@C0,1@C1,..." over the CPUs this process may use, one lcore
 * per worker plus the main lcore 0; when the workers need every CPU, the last
 * worker shares the main lcore. Fills worker_lcores[0..nw-1]. 0, or -1 when
 * there are too few CPUs.
 */
static int plan_lcores(unsigned nw, char *buf, size_t len, unsigned *worker_lcores)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	unsigned cpus[CPU_SETSIZE], n = 0;
	for (unsigned c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	if (n < 2 || nw > n) {
		fprintf(stderr, "nsdp-scen: %u workers need %u CPUs, %u usable\n", nw,
			nw < 2 ? 2 : nw, n);
		return -1;
	}
	unsigned nl = nw + 1 > n ? n : nw + 1; /* lcores */
	size_t off = 0;
	for (unsigned l = 0; l < nl && off < len; l++)
		off += (size_t)snprintf(buf + off, len - off, "%s%u@%u", l ? "," : "", l, cpus[l]);
	if (off >= len)
		return -1;
	for (unsigned k = 0; k < nw; k++)
		worker_lcores[k] = k + 1 < nl ? k + 1 : 0;
	return 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	unsigned max_pods = o.base.pods;
	for (unsigned i = 0; i < o.n_cases; i++)
		if (o.cases[i].pods > max_pods)
			max_pods = o.cases[i].pods;
	unsigned nodes = (max_pods + PODS_PER_NODE - 1) / PODS_PER_NODE;

	static struct dp the_dp;
	struct dp *dp = &the_dp;
	char err[512];
	char *text = config_text(&o, nodes);
	/* worker k on lcore k + 1; see plan_lcores() */
	unsigned nw = (o.groups & G_MC) ? mc_max(&o) : 1;
	static unsigned worker_lcores[DP_MAX_WORKERS];
	char lcores[DP_MAX_WORKERS * 12];
	if (plan_lcores(nw, lcores, sizeof(lcores), worker_lcores)) {
		free(text);
		return 1;
	}
	const struct bench_dp_spec spec = {
		.lcores = lcores,
		.n_workers = nw,
		.worker_lcores = worker_lcores,
		.mbufs = 32767,
		.no_huge = o.b.no_huge,
		.mem_mb = o.b.mem_mb,
		.outlier_us = o.b.outlier_us,
	};
	int rc = bench_dp_open(dp, &spec, argv[0], text);
	free(text);
	if (rc)
		goto out;
	rc = 1;
	/* Nodes past the static configuration's limit: as the agent adds them. */
	if (nodes > CFG_NODES) {
		for (unsigned n = CFG_NODES; n < nodes; n++) {
			struct nsdp_vtep v;
			struct nsdp_route r;
			memset(&v, 0, sizeof(v));
			memset(&r, 0, sizeof(r));
			v.ip.family = AF_INET;
			uint32_t vip = scen_vtep_ip(n);
			memcpy(v.ip.addr, &vip, 4);
			uint8_t mac[6] = {2, 0, 0, 0, (uint8_t)(n >> 8), (uint8_t)n};
			memcpy(v.mac, mac, 6);
			r.prefix.family = AF_INET;
			uint32_t pfx = rte_cpu_to_be_32(0x0a000000u | (128 + n / 256) << 16 |
							(n % 256) << 8);
			memcpy(r.prefix.addr, &pfx, 4);
			r.prefix_len = 24;
			r.vtep = v.ip;
			if (dp_state_vtep_add(&dp->state, &v, err, sizeof(err)) ||
			    dp_state_route_add(&dp->state, &r, err, sizeof(err))) {
				fprintf(stderr, "nsdp-scen: node %u: %s\n", n, err);
				goto out;
			}
		}
		if (dp_publish(dp, dp->generation + 1)) {
			fprintf(stderr, "nsdp-scen: publishing %u nodes failed\n", nodes);
			goto out;
		}
	}
	/* Both RCU thread ids start offline: a job brings its own online. */

	struct ctx x = {.dp = dp, .o = &o};
	for (unsigned d = 0; d < 2; d++)
		for (unsigned u = 0; u < 2; u++)
			build_tmpl(dp, d, u ? IPPROTO_UDP : IPPROTO_TCP, o.b.geneve, &x.tp.t[d][u]);
	double hz = (double)rte_get_tsc_hz();
	printf("nsdp-scen: DPDK %s, TSC %.3f GHz, burst %u, conntrack %u slots, %s, %u local pods, "
	       "%u nodes; lcores %s%s\n",
	       rte_version(), hz / 1e9, o.b.burst, ct_capacity(dp->ct), o.b.geneve ? "geneve" : "vxlan",
	       o.n_local, nodes, lcores, o.b.no_huge ? ", no hugepages" : "");
	printf("%-7s %-34s %2s | %6s %7s %7s | %6s %6s | %9s | %8s %8s\n", "group", "case", "w",
	       "gen", "dp", "total", "dpMpps", "wall", "new/s/core", "drops", "lost");
	fflush(stdout);

	if (o.groups & G_SWEEP)
		for (unsigned i = 0; i < o.n_cases; i++)
			if (group_sweep(&x, &o.cases[i]))
				goto out;
	if (o.groups & ~G_SWEEP) {
		struct pcase *base = pcase_make(&o.base, true);
		if (!base)
			goto out;
		printf("-- base cluster %u policies x %u pods: compile %.1f ms (variant %.1f ms)\n",
		       o.base.policies, o.base.pods, base->compile_ms, base->compile_extra_ms);
		if (use_case(&x, base))
			goto out;
		if (((o.groups & G_FLOWS) && group_flows(&x, base)) ||
		    ((o.groups & G_SIZES) && group_sizes(&x, base)) ||
		    ((o.groups & G_MIX) && group_mix(&x, base)) ||
		    ((o.groups & G_STORM) && group_storm(&x, base)) ||
		    ((o.groups & G_UPDATE) && group_update(&x, base)) ||
		    ((o.groups & G_MC) && group_mc(&x, base)) ||
		    ((o.groups & G_OBS) && group_obs(&x, base))) {
			pcase_free(base);
			goto out;
		}
		pcase_free(base);
	}
	printf("cycles are TSC cycles per packet, medians over %u repetitions of %gs; gen = mbuf "
	       "alloc + frame copy/patch (the PMD's RX work), dp = dp_process_burst + "
	       "dp_tx_flush;\ndpMpps = TSC Hz / dp; wall = packets / wall time (all workers); "
	       "new/s/core = new connections per second of dataplane time\n",
	       o.b.reps, o.b.seconds);

	if (o.b.json) {
		if (J.oom || CASES.oom) {
			fprintf(stderr, "nsdp-scen: %s: out of memory for the results\n", o.b.json);
			goto out;
		}
		FILE *f = bench_json_open(o.b.json);
		if (!f)
			goto out;
		fprintf(f,
			"  \"params\": {\"burst\": %u, \"local_pods\": %u, "
			"\"ct_size\": %u, \"ct_slots\": %u, \"overlay\": \"%s\", \"seconds\": %g, "
			"\"warm_seconds\": %g, \"reps\": %u, \"flows\": %u, \"base\": {\"policies\": %u, "
			"\"pods\": %u}, \"acl_max_rules\": %" PRIu64 ", \"update_ms\": %g, \"zipf_s\": %g, "
			"\"mix_new\": %g, \"outlier_us\": %g, \"storm_cap\": %" PRIu64 "},\n",
			o.b.burst, o.n_local, o.b.ct_size, ct_capacity(dp->ct),
			o.b.geneve ? "geneve" : "vxlan", o.b.seconds, o.b.warm_seconds, o.b.reps, o.flows,
			o.base.policies, o.base.pods, o.acl_max_rules, o.update_ms, o.zipf_s, o.mix_new,
			o.b.outlier_us, storm_cap(&o));
		fprintf(f, "  \"cases\": [%s\n  ],\n  \"results\": [%s\n  ]\n}\n",
			CASES.p ? CASES.p : "", J.p ? J.p : "");
		fclose(f);
	}
	if (not_ok)
		printf("%u check(s) failed (see NOT OK above)\n", not_ok);
	rc = not_ok ? 3 : 0;
out:
	bench_dp_close(dp);
	return rc;
}
