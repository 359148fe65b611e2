/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane instance: configuration, ports, workers, tables, conntrack.
 *
 * Thread safety:
 *  - `cfg` and everything set up before the workers are launched are
 *    read-only afterwards, except the port slots.
 *  - `ports[]`, `n_ports`, `port_index[]`: written by the control thread
 *    only (startup, then PORT_ADD/PORT_DEL at COMMIT). A worker reaches a
 *    slot only through its RX-queue list or an endpoint of the tables, both
 *    RCU-published after the slot is filled; a slot is emptied only after a
 *    list and tables without it are published and every worker has passed a
 *    quiescent state. So a worker never sees a slot change under it.
 *    Telemetry reads names and counters racily (display only).
 *  - `workers[w].rxqs` is an immutable RX-queue list (struct dp_rxq_list),
 *    published by the control thread with a release store and loaded by
 *    worker w with acquire once per poll; the old list is freed after
 *    rte_rcu_qsbr_synchronize (see port.h).
 *  - `tables` is the RCU-published table set (see tables.h): workers load it
 *    with acquire once per burst; only the control thread stores it.
 *  - `state` and `generation` belong to the control thread (main lcore).
 *  - `stats[w]` is written by worker w only (see stats.h).
 *  - `quit` is set by the signal handler / main and polled by workers.
 *  - A trace (dp_trace_packet) runs on the control thread. It reads
 *    `tables` and `policy` without an RCU reader registration: the control
 *    thread is the only thread that publishes and frees them, and it does
 *    so synchronously, so nothing it loaded can be freed while it traces.
 *    Likewise conntrack entries are reclaimed only by ct_age()/ct_flush()
 *    on this same thread. The trace never writes shared state: it reads
 *    conntrack (ct_lookup) and runs ct_update() and the policy cache on a
 *    private copy of the entry, and it counts nothing.
 */
#ifndef NSDP_DP_DP_H
#define NSDP_DP_DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "config.h"
#include "conntrack.h"
#include "flowlog.h"
#include "policy.h"
#include "stats.h"
#include "tables.h"

struct rte_mempool;
struct rte_rcu_qsbr;

#define DP_MAX_BURST 256
#define DP_TX_BUF 64
#define DP_PORT_XDP_FDS 16 /* af_xdp RX queues whose ring drops are counted */

struct dp_port {
	uint16_t port_id; /* DPDK port id */
	uint8_t role;     /* enum nsdp_port_role; 0: free slot */
	bool hotplug;     /* added by PORT_ADD (may be deleted by PORT_DEL) */
	bool deleting;    /* PORT_DEL accepted, removal pending (control thread) */
	uint16_t n_rxq, n_txq;
	struct rte_ether_addr mac;
	uint32_t mtu;
	char name[NSDP_PORT_NAME_LEN];
	struct nsdp_port_req req; /* hot-plugged ports: the PORT_ADD (state_file) */
	/* af_packet: the kernel interface the PMD's sockets are bound to (0:
	 * not an af_packet port); af_xdp: the PMD's XDP sockets (one per RX
	 * queue); and the frames the kernel found no room for in their RX
	 * rings, as read so far (dp_port_ring_drops()). */
	unsigned ifindex;
	int xdp_fds[DP_PORT_XDP_FDS];
	unsigned n_xdp_fds;
	uint64_t ring_drops;
	/* A pod tap with the virtio-net header (vnet.h), not an ethdev
	 * (port_id is then RTE_MAX_ETHPORTS); NULL for DPDK ports. */
	struct dp_vnet *vnet;
};

/*
 * The enforced policy: immutable tables + per-lcore, per-rule packet
 * counters (dp_policy_counters()), published and retired together under
 * RCU. Each worker's counters start on their own cache line, so workers
 * never write to a line another worker writes.
 */
struct dp_policy {
	struct pol_tables *t;
	/* Stamp of verdicts cached in conntrack (ct_entry.policy_gen): a new
	 * one per publication, never 0 ("not decided"), so a 64-bit generation
	 * that wraps 32 bits cannot make a stale verdict look current. */
	uint32_t epoch;
	uint32_t n_rules;
	uint32_t stride; /* counters per worker: 3 * n_rules, rounded up to a line */
	uint64_t *counters;
	/* Per rule, {allowed, denied, audited} counted under the policies
	 * published before, carried over by rule name (NULL: none). Written
	 * once, by the control thread, before it reads any. */
	uint64_t *base;
};

/* Worker w's {allowed, denied, audited} packet counters of `rule`, indexed
 * by verdict - 1 (POL_ALLOW, POL_DENY, POL_AUDIT). */
static inline uint64_t *dp_policy_counters(const struct dp_policy *p, unsigned w,
					   uint32_t rule)
{
	return &p->counters[(size_t)w * p->stride + 3 * (size_t)rule];
}

struct dp_txbuf {
	uint16_t n;
	struct rte_mbuf *pkts[DP_TX_BUF];
};

struct dp_rxq {
	uint16_t port; /* index in dp->ports */
	uint16_t queue;
};

/* The RX queues one worker polls; immutable once published. */
struct dp_rxq_list {
	unsigned n;
	/* An epoll set of the list's vnet queues (event data: the index in
	 * q[]), or -1 when it has none: the worker asks it which taps have
	 * frames instead of reading each, and waits on it when idle. Closed
	 * with the list. */
	int ep;
	struct dp_rxq q[];
};

struct dp_worker {
	unsigned idx;      /* 0..n_workers-1: RCU thread id and TX queue id */
	unsigned lcore_id;
	_Atomic(struct dp_rxq_list *) rxqs; /* NULL: nothing to poll */
	struct dp_lcore_stats *stats;
	uint32_t now; /* ct_now() at the start of the burst */
	uint64_t tsc; /* rte_rdtsc() at the start of the burst (rate limits, flow-log times) */
	bool rule_counters;     /* cfg.rule_counters */
	bool cache_denied;      /* tables.denied_entries > 0 */
	/* policy() re-decided a connection decided under an older policy in
	 * the last group: decide the next group's ahead (decide_ahead). */
	bool redeciding;
	uint64_t decided_ahead; /* decisions policy() took from decide_ahead */
	struct rte_mbuf *vnet_spare; /* a large mbuf for the next tap read (dp_vnet_rx) */
	struct dp_gcra denied;  /* conntrack entries for denied connections */
	struct dp_gcra host_arp; /* ARP requests for the node's MAC while it is unknown */
	struct dp_flowlog_w fl; /* flow-log ring and rate limit (flowlog.h) */
	struct dp_txbuf tx[DP_MAX_PORT_SLOTS];
} __rte_cache_aligned;

struct dp {
	struct dp_config cfg;
	struct rte_mempool *pool;
	/* Mbufs for frames of up to DP_VNET_MAX_FRAME bytes: made by the first
	 * vnet port (control thread, before the port is published). */
	struct rte_mempool *big;
	unsigned n_ports; /* slots in use or freed: ports[0..n_ports-1] */
	struct dp_port ports[DP_MAX_PORT_SLOTS];
	int uplink; /* index in ports of the uplink, -1 when none */
	int host;   /* index in ports of the host port, -1 when none */
	/* The host port's kernel-side MAC, learned from its ARP requests for
	 * the gateway (workers store it; 0: not learned yet). */
	uint64_t host_mac;
	/* DPDK port id -> index in ports (0xffff: not ours) */
	uint16_t port_index[RTE_MAX_ETHPORTS];

	struct rte_rcu_qsbr *qsv;
	_Atomic(struct dp_tables *) tables;
	_Atomic(struct dp_policy *) policy; /* NULL: no policy, all allowed */
	struct conntrack *ct;
	struct dp_flowlog_pending *flowlog; /* control thread; NULL: flow logs off */

	unsigned n_workers;
	struct dp_worker *workers;    /* n_workers, cache aligned */
	struct dp_lcore_stats *stats; /* n_workers */

	/* control thread only */
	struct dp_table_state state;
	uint64_t generation;
	uint32_t policy_epoch; /* last dp_policy.epoch handed out */
	uint64_t start_tsc;

	volatile bool quit;
};

/* The host port's slot, or -1. (A dp set up without dp_ports_start, as
 * the tests do, leaves host 0 with no port of that role there.) */
static inline int dp_host_port(const struct dp *dp)
{
	int h = dp->host;
	return h >= 0 && dp->ports[h].role == NSDP_ROLE_HOST ? h : -1;
}

/*
 * Build tables from dp->state and publish them at `generation`, then wait
 * for every worker to quiesce and free the previous version. Control thread
 * only. Returns 0 or -errno.
 */
int dp_publish(struct dp *dp, uint64_t generation);

/*
 * Make t (owned from now on) the enforced policy at `generation`, wait for
 * every worker to quiesce, free the previous one. NULL t removes policy.
 * The rules' packet counts carry over to the rules of the same name in t
 * (dp_policy_totals). Control thread only. Returns 0 or -ENOMEM (t is
 * freed).
 */
int dp_publish_policy(struct dp *dp, struct pol_tables *t, uint64_t generation);

/* Rule `rule`'s {allowed, denied, audited} packets under this policy and,
 * by name, the ones published before it without a gap (no policy at all
 * in between restarts the counts), over n_workers workers. Control thread
 * only (it reads p->base). */
void dp_policy_totals(const struct dp_policy *p, unsigned n_workers, uint32_t rule,
		      uint64_t out[3]);

/* Port-name resolver for dp_state_ep_add / dp_tables_build (arg = dp). */
int dp_port_by_name(void *dp, const char *name);

/* Set up everything that does not need ports (tests use this with no ports). */
int dp_init_tables(struct dp *dp, int socket_id);

/* Worker main loop (rte_eal_remote_launch target; arg = struct dp_worker *). */
int dp_worker_main(void *arg);

/* The dataplane instance the worker entry points use. */
extern struct dp *dp_global;

/*
 * Process a burst that arrived on port index `in` (index into dp->ports).
 * Packets are either queued on w->tx[] or freed and counted as drops.
 * Exposed for unit tests, which call it without running ports.
 */
void dp_process_burst(struct dp *dp, struct dp_worker *w, const struct dp_tables *t,
		      unsigned in, struct rte_mbuf **pkts, unsigned n);

/* Send what w->tx[] holds; unsent packets are freed and counted tx-full. */
void dp_tx_flush(struct dp *dp, struct dp_worker *w);

/*
 * Packet trace (NSDP_MSG_TRACE): the steps one packet takes through the
 * workers' own functions (classify, decap, lookups, conntrack, policy,
 * rewrite, encapsulation), recorded instead of transmitted.
 */
#define DP_TRACE_MAX_STEPS 32

struct dp_trace {
	unsigned n;
	struct nsdp_trace_step step[DP_TRACE_MAX_STEPS];
	uint8_t drop;       /* final: enum nsdp_drop_reason, 0 = forwarded */
	uint8_t verdict;    /* POL_ALLOW / POL_DENY, 0: policy not evaluated */
	uint8_t decided_by; /* POL_INGRESS / POL_EGRESS */
	bool encap;
	int out_port;       /* final: port index, -1 when dropped */
	uint32_t rule;      /* deciding policy rule, UINT32_MAX when none */
	struct rte_mbuf *out; /* the frame that would be sent (freed by dp_trace_packet) */
	struct ct_entry ct;   /* private copy: the trace never writes conntrack */
};

/*
 * Trace `req` (addresses resolved: both families AF_INET) entering on port
 * index `in_port` (a pod port, or the uplink for NSDP_TRACE_F_FROM_UPLINK),
 * against the published tables and policy. Control thread only (see the
 * thread-safety notes above). Returns 0 with the steps in *tr, or -errno
 * with a reason in err when no packet could be built.
 */
int dp_trace_packet(struct dp *dp, const struct nsdp_trace_req *req, unsigned in_port,
		    struct dp_trace *tr, char *err, size_t errlen);

#endif
