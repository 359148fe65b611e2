/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the benchmark programs share (bench/benchlib.c, linked into
 * nsdp-bench and nsdp-scen):
 *
 *  - the in-process dataplane: a `struct dp` on three net_null ports (no-rx,
 *    their TX frees mbufs) brought up with the dataplane's own functions
 *    (EAL, worker slots, mbuf pool, dp_ports_start, dp_init_tables) and
 *    taken down again, EAL's runtime directory included;
 *  - the configuration's common head (node, lcores, the three ports);
 *  - base frames (Ethernet + IPv4 + TCP ACK or UDP, and VXLAN or Geneve
 *    around it from a remote VTEP) and their per-packet patching;
 *  - the worker's part of one poll (as dp_worker_main does after
 *    rte_eth_rx_burst) and its timing per phase, preempted polls left out;
 *  - the options both programs take, counters, medians, a growing string
 *    buffer, the JSON document's head.
 *
 * Each program defines bench_tool[] (its name: messages, EAL file prefix).
 */
#ifndef NSDP_BENCH_BENCHLIB_H
#define NSDP_BENCH_BENCHLIB_H

#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "conntrack.h"
#include "dp.h"

/* "nsdp-bench" / "nsdp-scen": defined by each program. */
extern const char bench_tool[];

/* The ports of the generated configuration (indices into dp->ports). */
enum { UPLINK = 0, POD0 = 1, POD1 = 2, NPORTS = 3 };

/* ---- options both programs take --------------------------------------------- */

struct bench_opts {
	double seconds;      /* one measured repetition (window) */
	double warm_seconds; /* unmeasured random warm-up */
	unsigned reps;       /* repetitions, median reported */
	unsigned burst;      /* packets per poll */
	uint32_t ct_size;    /* conntrack size */
	bool geneve;         /* Geneve instead of VXLAN */
	uint64_t seed;
	double outlier_us;   /* polls longer than this were preempted */
	const char *json;    /* --json FILE */
	bool no_huge;        /* anonymous memory (mem_mb MB) instead of hugepages */
	unsigned mem_mb;
};

/*
 * The last getopt_long entries of a program's table: the options above
 * (values 't' 'W' 'r' 'b' 'c' 'g' 'S' 'O' 'j' 'H' 'm'), --help ('h') and the
 * end.
 */
#define BENCH_LONG_OPTIONS                              \
	{"seconds", required_argument, NULL, 't'},      \
	{"warm-seconds", required_argument, NULL, 'W'}, \
	{"reps", required_argument, NULL, 'r'},         \
	{"burst", required_argument, NULL, 'b'},        \
	{"ct-size", required_argument, NULL, 'c'},      \
	{"geneve", no_argument, NULL, 'g'},             \
	{"seed", required_argument, NULL, 'S'},         \
	{"outlier-us", required_argument, NULL, 'O'},   \
	{"json", required_argument, NULL, 'j'},         \
	{"no-huge", no_argument, NULL, 'H'},            \
	{"mem", required_argument, NULL, 'm'},          \
	{"help", no_argument, NULL, 'h'},               \
	{NULL, 0, NULL, 0}

/*
 * getopt_long over argv with the table lo (ending in BENCH_LONG_OPTIONS):
 * the options above into b, --help prints usage(stdout) and exits 0, every
 * other option goes to own(o, c, optarg) (0 or -1). No operands. 0 or -1
 * (the caller prints its usage).
 */
int bench_getopt(int argc, char **argv, const struct option *lo, struct bench_opts *b,
		 void (*usage)(FILE *), int (*own)(void *o, int c, const char *arg), void *o);

/* The common range checks (reps 1..max_reps, seconds > 0, warm >= 0,
 * burst 1..64, ct_size >= min_ct): 0 or -1 (the caller says so). */
int bench_opts_check(const struct bench_opts *b, unsigned max_reps, uint32_t min_ct);

/*
 * A count with an optional k/M suffix, 1 .. 16M. endp NULL: the whole of s;
 * else *endp gets where the count ends. 0 or -1.
 */
int bench_parse_count(const char *s, unsigned *out, char **endp);

/*
 * A comma-separated list: each(token, i, arg) per token (i from 0), at most
 * max tokens. Returns how many, or -1 after "<tool>: <opt>: bad "<token>"".
 */
int bench_parse_list(const char *list, const char *opt, unsigned max,
		     int (*each)(const char *tok, unsigned i, void *arg), void *arg);

/* each() of bench_parse_list for a list of counts into unsigned arg[]. */
int bench_list_count(const char *tok, unsigned i, void *arg);

/* ---- random numbers (xorshift64*) --------------------------------------------- */

static inline uint64_t bench_rng(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) from a 64-bit random number. */
static inline uint32_t bench_below(uint64_t r, uint32_t n)
{
	return (uint32_t)(((r >> 32) * n) >> 32);
}

static inline uint32_t bench_rnd(uint64_t *x, uint32_t n)
{
	return bench_below(bench_rng(x), n);
}

/* ---- the in-process dataplane --------------------------------------------------- */

/* A growing string (configuration text, manifests, JSON); zeroed to start. */
struct sbuf {
	char *p;
	size_t n, cap;
	bool oom; /* an append ran out of memory: the rest were left out */
};

/* printf to the end of b. */
void sb(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The string (malloc'ed, NUL-terminated; *len its length when len is not
 * NULL), or NULL with errno ENOMEM when an append ran out of memory. */
char *sb_take(struct sbuf *b, size_t *len);

/*
 * The configuration's head: this node (VTEP vtep, MTU mtu, VNI 7, VXLAN or
 * Geneve), one worker on worker_lcore (the main lcore is 0, or 1 when the
 * worker is 0), burst (at least 32), and the three net_null ports uplink,
 * pod0, pod1. Tables, endpoints, VTEPs and routes are the caller's.
 */
void bench_config_head(struct sbuf *b, const char *vtep, unsigned mtu, bool geneve,
		       unsigned worker_lcore, unsigned burst);

struct bench_dp_spec {
	const char *lcores;            /* EAL --lcores: "0,1" or "0@2,1@5" */
	unsigned n_workers;            /* worker slots (dp->workers, dp->stats) */
	const unsigned *worker_lcores; /* their lcores */
	unsigned mbufs;                /* mbuf pool size */
	bool no_huge;                  /* anonymous memory (mem_mb MB), no hugepages */
	unsigned mem_mb;
	double outlier_us;             /* sets bench_outlier_cycles */
};

/*
 * Bring dp (zeroed) up: configuration text -> dp->cfg, EAL (file prefix
 * <tool>-<pid>, no PCI, in memory unless no_huge), worker slots with their
 * stats, the mbuf pool, dp_ports_start(), dp_init_tables(). The workers'
 * RCU thread ids are left offline. Returns 0, 2 (the configuration does not
 * parse) or 1 (set-up failed); messages on stderr. Whatever it returns,
 * bench_dp_close() ends it.
 */
int bench_dp_open(struct dp *dp, const struct bench_dp_spec *sp, char *argv0,
		  const char *config);

/* Stop the ports, clean EAL up, remove its runtime directory, release the
 * configuration: as far as bench_dp_open() got. */
void bench_dp_close(struct dp *dp);

/* A fresh, empty conntrack of the configured size: 0, or -1 with a message. */
int bench_fresh_ct(struct dp *dp);

/* ---- frames ----------------------------------------------------------------------- */

/* Offsets in a decap frame: outer Ethernet, IPv4, UDP, VXLAN/Geneve, inner frame. */
#define BENCH_OUTER_IP 14
#define BENCH_INNER 50

static inline void bench_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void bench_ip_csum(uint8_t *ip)
{
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)ip;
	h->hdr_checksum = 0;
	h->hdr_checksum = rte_ipv4_cksum(h);
}

/* IPv4 header (no options, DF, TTL 64, no checksum) at p, zeroed before. */
void bench_put_ipv4(uint8_t *p, uint16_t total, uint8_t proto);

/*
 * Ethernet (to the gateway MAC, from 02:02:02:02:02:02) + IPv4 of ip_total
 * bytes + a TCP ACK header (proto TCP) or nothing (UDP: the caller's) at p,
 * zeroed before. Addresses and ports are patched per packet.
 */
void bench_put_inner(uint8_t *p, uint8_t proto, uint16_t ip_total);

/*
 * Outer Ethernet (to the uplink's MAC) + IPv4 (to this node's VTEP) + UDP
 * (to the overlay port) + VXLAN or Geneve (dp's VNI) at p, zeroed before,
 * lengths for an inner frame of inner_len bytes (at p + BENCH_INNER). The
 * source (MAC, VTEP, UDP port) is patched per packet.
 */
void bench_put_outer(uint8_t *p, const struct dp *dp, bool geneve, unsigned inner_len);

/* The outer IPv4 and UDP lengths of a decap frame for inner_len bytes. */
static inline void bench_outer_len(uint8_t *p, unsigned inner_len)
{
	bench_put16(p + BENCH_OUTER_IP + 2, (uint16_t)(inner_len + 36));
	bench_put16(p + BENCH_OUTER_IP + 24, (uint16_t)(inner_len + 16));
}

/* The outer source of a decap frame: VTEP vtep_ip (network order), a UDP
 * source port from hash (as a sender's flow entropy), and the checksum. */
static inline void bench_outer_from(uint8_t *p, uint32_t vtep_ip, uint32_t hash)
{
	uint8_t *oip = p + BENCH_OUTER_IP;
	memcpy(oip + 12, &vtep_ip, 4);
	bench_put16(oip + 20, (uint16_t)(49152 | ((hash * 2654435761u) >> 18)));
	bench_ip_csum(oip);
}

/* Addresses (network order) and ports (host order) of the IPv4 header at ip
 * and the TCP/UDP header after it; the checksum is the caller's. */
static inline void bench_tuple(uint8_t *ip, uint32_t src, uint32_t dst, uint16_t sport,
			       uint16_t dport)
{
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	bench_put16(ip + 20, sport);
	bench_put16(ip + 22, dport);
}

/* ---- polls ------------------------------------------------------------------------ */

struct bench_sample {
	uint64_t pkts;
	uint64_t gen, proc, tx, total; /* cycles, polls not preempted */
	uint64_t raw_pkts, raw_total;  /* every poll */
	uint64_t preempted;            /* polls longer than bench_outlier_cycles */
	double wall_s;
};

/*
 * A poll that takes longer than this was preempted (the machine is shared:
 * a time slice elsewhere is milliseconds, a poll is microseconds). Such
 * polls are left out of the per-phase figures and counted; the raw figures
 * keep them.
 */
extern uint64_t bench_outlier_cycles;

/* The worker's part of a poll, as dp_worker_main does after
 * rte_eth_rx_burst: n packets that arrived on port `in`. */
static inline void bench_dp_poll(struct dp *dp, struct dp_worker *w, unsigned in,
				 struct rte_mbuf **pkts, unsigned n)
{
	w->now = ct_now();
	dp_process_burst(dp, w, atomic_load_explicit(&dp->tables, memory_order_acquire), in,
			 pkts, n);
	dp_tx_flush(dp, w);
	rte_rcu_qsbr_quiescent(dp->qsv, w->idx);
}

/*
 * The same, timed: the poll began at t0 (mbuf allocation), its packets were
 * generated by t1; process (dp_process_burst) and tx (dp_tx_flush and the
 * quiescent state) are timed here and the poll accounted in s.
 */
static inline void bench_dp_poll_timed(struct dp *dp, struct dp_worker *w, unsigned in,
				       struct rte_mbuf **pkts, unsigned n, uint64_t t0,
				       uint64_t t1, struct bench_sample *s)
{
	w->now = ct_now();
	const struct dp_tables *tb = atomic_load_explicit(&dp->tables, memory_order_acquire);
	dp_process_burst(dp, w, tb, in, pkts, n);
	uint64_t t2 = rte_rdtsc();
	dp_tx_flush(dp, w);
	rte_rcu_qsbr_quiescent(dp->qsv, w->idx);
	uint64_t t3 = rte_rdtsc();
	s->raw_pkts += n;
	s->raw_total += t3 - t0;
	if (unlikely(t3 - t0 > bench_outlier_cycles)) {
		s->preempted++;
		return;
	}
	s->pkts += n;
	s->gen += t1 - t0;
	s->proc += t2 - t1;
	s->tx += t3 - t2;
	s->total += t3 - t0;
}

/* CLOCK_MONOTONIC in milliseconds. */
double bench_now_ms(void);

/* ---- counters and figures ------------------------------------------------------------ */

/* Drops of every reason (but none), packets sent on every port. */
uint64_t bench_sum_drops(const struct dp_lcore_stats *st);
uint64_t bench_sum_tx(const struct dp_lcore_stats *st);

/* Cycles per packet (0 without packets). */
double bench_cpp(uint64_t cycles, uint64_t pkts);

/* Median of v[0..n-1] (sorts v in place; small n). */
double bench_median(double *v, unsigned n);

/*
 * Open the JSON output and write its head: {"tool", "date", "dpdk",
 * "tsc_hz", ... (the caller goes on with its members). NULL, with a message,
 * when it cannot be created.
 */
FILE *bench_json_open(const char *file);

#endif
