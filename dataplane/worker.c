/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet path: one worker lcore, run to completion.
 *
 * A burst is handled in groups of up to 64 packets (the rte_hash bulk
 * lookup limit) in three passes, so each pass's memory accesses overlap:
 *  1. parse (and on the uplink validate + strip the tunnel), answer ARP,
 *     build the conntrack key and prefetch its bucket;
 *  2. one bulk endpoint lookup for all destinations (and, from pod ports,
 *     one for all sources: anti-spoofing and, later, source identity);
 *  3. per packet: route, conntrack, TTL, rewrite or encapsulate, queue TX.
 * Every packet leaves through dp_txq() or dp_drop(): nothing is lost
 * uncounted.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include <nsdp/drop.h>

#include "dp.h"
#include "overlay.h"
#include "pkt.h"

#define GROUP 64

struct pkt_ctx {
	struct pkt_info pi;
	int64_t vtep; /* uplink: index of the VTEP that sent the packet */
	struct ct_key key;
	uint32_t hash;
	uint8_t side;
	uint8_t drop; /* enum nsdp_drop_reason, 0 = go on */
	uint8_t done; /* already queued (ARP reply) */
	uint8_t track;
};

static inline void dp_drop(struct dp_worker *w, struct rte_mbuf *m, unsigned reason)
{
	dp_count_drop(w->stats, reason);
	rte_pktmbuf_free(m);
}

static void tx_flush_port(struct dp *dp, struct dp_worker *w, unsigned p)
{
	struct dp_txbuf *tb = &w->tx[p];
	uint64_t bytes = 0;
	for (unsigned i = 0; i < tb->n; i++)
		bytes += rte_pktmbuf_pkt_len(tb->pkts[i]);
	uint16_t sent = rte_eth_tx_burst(dp->ports[p].port_id, (uint16_t)w->idx, tb->pkts,
					  tb->n);
	for (unsigned i = sent; i < tb->n; i++) {
		bytes -= rte_pktmbuf_pkt_len(tb->pkts[i]);
		dp_drop(w, tb->pkts[i], NSDP_DROP_TX_FULL);
	}
	w->stats->port[p].tx_pkts += sent;
	w->stats->port[p].tx_bytes += bytes;
	tb->n = 0;
}

static inline void dp_txq(struct dp *dp, struct dp_worker *w, unsigned port,
			  struct rte_mbuf *m)
{
	struct dp_txbuf *tb = &w->tx[port];
	tb->pkts[tb->n++] = m;
	if (tb->n == DP_TX_BUF)
		tx_flush_port(dp, w, port);
}

void dp_tx_flush(struct dp *dp, struct dp_worker *w)
{
	for (unsigned p = 0; p < dp->n_ports; p++)
		if (w->tx[p].n)
			tx_flush_port(dp, w, p);
}

/*
 * Answer an ARP request for `our_ip` in place with `our_mac`. Returns 0 when
 * the mbuf now holds the reply, or a drop reason.
 */
static int arp_reply(struct rte_mbuf *m, const struct pkt_info *pi, uint32_t our_ip,
		     const struct rte_ether_addr *our_mac)
{
	if (rte_pktmbuf_data_len(m) < pi->l3_off + sizeof(struct rte_arp_hdr))
		return NSDP_DROP_ARP_INVALID;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, pi->l3_off);
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != 6 || arp->arp_plen != 4 ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
	    arp->arp_data.arp_tip != our_ip)
		return NSDP_DROP_ARP_INVALID;

	struct rte_arp_ipv4 *d = &arp->arp_data;
	rte_ether_addr_copy(&d->arp_sha, &d->arp_tha);
	rte_ether_addr_copy(our_mac, &d->arp_sha);
	d->arp_tip = d->arp_sip;
	d->arp_sip = our_ip;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	return 0;
}

/* Uplink: validate the outer headers and tunnel, strip them. */
static int uplink_decap(struct dp *dp, const struct dp_tables *t, struct rte_mbuf *m,
			struct pkt_info *pi, int64_t *vtep_idx)
{
	const struct dp_config *c = &dp->cfg;
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);

	if (pi->family != AF_INET)
		return pi->family == AF_INET6 ? NSDP_DROP_IPV6_UNSUPPORTED :
						NSDP_DROP_NOT_FOR_US;
	if (pi->dst4 != c->vtep_ip || pi->proto != IPPROTO_UDP ||
	    pi->dport != rte_cpu_to_be_16(c->overlay_port))
		return NSDP_DROP_NOT_FOR_US;
	const struct dp_vtep *v = dp_vtep_lookup(t, pi->src4);
	if (!v)
		return NSDP_DROP_OVERLAY_UNKNOWN_VTEP;
	*vtep_idx = v - t->vteps;
	uint16_t off, ilen;
	int rc = overlay_decap_parse(frame, len, pi, c->overlay, c->vni, &off, &ilen);
	if (rc)
		return rc;
	rte_pktmbuf_adj(m, off);
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_data_len(m) - ilen));
	rc = pkt_parse(rte_pktmbuf_mtod(m, const uint8_t *), ilen, pi);
	if (rc)
		return rc;
	if (pi->family == 0) /* ARP inside the tunnel: we never flood it */
		return NSDP_DROP_ARP_INVALID;
	/* RFC 7348 6.1: VLAN-tagged inner frames are discarded. */
	if (pi->l3_off != RTE_ETHER_HDR_LEN)
		return NSDP_DROP_OVERLAY_INNER;
	return 0;
}

/* Pass 1 for one packet. */
static void classify(struct dp *dp, struct dp_worker *w, const struct dp_tables *t,
		     const struct dp_port *in, unsigned in_idx, struct rte_mbuf *m,
		     struct pkt_ctx *x)
{
	const struct dp_config *c = &dp->cfg;
	struct pkt_info *pi = &x->pi;
	x->drop = 0;
	x->done = 0;
	x->track = 0;

	if (unlikely(m->nb_segs > 1) && rte_pktmbuf_linearize(m) < 0) {
		x->drop = NSDP_DROP_L2_TRUNCATED;
		return;
	}
	int rc = pkt_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), pi);
	if (rc) {
		x->drop = (uint8_t)rc;
		return;
	}
	if (pi->family == 0) { /* ARP */
		const struct rte_ether_addr *mac;
		uint32_t ip;
		if (in->role == NSDP_ROLE_UPLINK) {
			ip = c->vtep_ip;
			mac = &in->mac;
		} else {
			ip = c->gateway_ip;
			mac = (const struct rte_ether_addr *)c->gateway_mac;
		}
		rc = arp_reply(m, pi, ip, mac);
		if (rc) {
			x->drop = (uint8_t)rc;
			return;
		}
		x->done = 1;
		dp_txq(dp, w, in_idx, m);
		return;
	}
	if (in->role == NSDP_ROLE_UPLINK) {
		rc = uplink_decap(dp, t, m, pi, &x->vtep);
		if (rc) {
			x->drop = (uint8_t)rc;
			return;
		}
	}
	if (pi->family != AF_INET) {
		x->drop = NSDP_DROP_IPV6_UNSUPPORTED;
		return;
	}
	if (pi->ttl <= 1) {
		x->drop = NSDP_DROP_IP_TTL;
		return;
	}
	switch (pi->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		x->track = 1;
		break;
	case IPPROTO_ICMP:
		x->track = pi->icmp_echo;
		break;
	default:
		break;
	}
	/* Start every memory access pass 2 and 3 will make. */
	dp_ep_prefetch(t, pi->dst4);
	if (in->role == NSDP_ROLE_POD) {
		dp_ep_prefetch(t, pi->src4);
		/* encapsulation writes the headroom line */
		rte_prefetch0(rte_pktmbuf_mtod_offset(m, uint8_t *, -OVERLAY_OVERHEAD));
	}
	if (x->track) {
		x->side = (uint8_t)ct_key_make(&x->key, AF_INET, pi->src, pi->dst, pi->sport,
					       pi->dport, pi->proto);
		x->hash = ct_hash(&x->key);
		ct_prefetch(dp->ct, x->hash);
	}
}

/* Remove an 802.1Q tag so pods always see untagged frames. */
static inline void strip_vlan(struct rte_mbuf *m, struct pkt_info *pi)
{
	if (pi->l3_off == RTE_ETHER_HDR_LEN)
		return;
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	memmove(p + 4, p, 12);
	rte_pktmbuf_adj(m, 4);
	pi->l3_off -= 4;
	pi->l4_off -= 4;
}

static int conntrack(struct dp *dp, struct dp_worker *w, struct pkt_ctx *x,
		     struct ct_entry **ep)
{
	struct ct_entry *e = ct_lookup(dp->ct, &x->key, x->hash);
	if (!e) {
		e = ct_create_entry(dp->ct, &x->key, x->hash, x->side, w->now);
		if (!e)
			return NSDP_DROP_CT_FULL;
		w->stats->lc.ct_created++;
	}
	*ep = e;
	return ct_update(e, x->side, x->pi.tcp_flags, w->now);
}

/*
 * Policy: the verdict of the connection's original direction, cached in its
 * conntrack entry for the policy generation it was decided at, so replies
 * pass and a new policy generation re-decides on the next packet.
 * Untracked packets (ICMP other than echo, other protocols) are decided
 * one by one. Counts every packet against the rule that decided it.
 */
static int policy(const struct dp_policy *pol, struct dp_worker *w, const struct pkt_ctx *x,
		  struct ct_entry *e)
{
	const struct pol_tables *t = pol->t;
	const struct pkt_info *pi = &x->pi;
	uint32_t gen = pol->epoch;
	struct pol_result res;

	if (e && __atomic_load_n(&e->policy_gen, __ATOMIC_ACQUIRE) == gen) {
		res.verdict = e->verdict;
		res.rule = e->rule;
	} else if (e) {
		bool fwd = x->side == e->orig_side;
		uint32_t a = fwd ? pi->src4 : pi->dst4, b = fwd ? pi->dst4 : pi->src4;
		uint16_t port = rte_be_to_cpu_16(fwd ? pi->dport : pi->sport);
		pol_decide(t, a, b, pi->proto, port, &res);
		if (res.verdict == POL_DENY &&
		    (__atomic_load_n(&e->seen, __ATOMIC_RELAXED) & CT_SEEN_MIDSTREAM)) {
			/* Picked up mid-stream (e.g. after a restart): who opened it
			 * is unknown, so either direction being allowed keeps it. */
			struct pol_result rev;
			pol_decide(t, b, a, pi->proto,
				   rte_be_to_cpu_16(fwd ? pi->sport : pi->dport), &rev);
			if (rev.verdict == POL_ALLOW)
				res = rev;
		}
		e->verdict = res.verdict;
		e->rule = res.rule;
		__atomic_store_n(&e->policy_gen, gen, __ATOMIC_RELEASE);
	} else {
		pol_decide(t, pi->src4, pi->dst4, pi->proto, rte_be_to_cpu_16(pi->dport), &res);
	}
	if (likely(res.rule < pol->n_rules))
		dp_policy_counters(pol, w->idx, res.rule)[res.verdict == POL_DENY]++;
	return res.verdict == POL_DENY ? NSDP_DROP_POLICY_DENY : 0;
}

/* Pass 3 for one packet. */
static void forward(struct dp *dp, struct dp_worker *w, const struct dp_tables *t,
		    const struct dp_policy *pol, const struct dp_port *in, unsigned in_idx,
		    struct rte_mbuf *m, struct pkt_ctx *x, const struct dp_endpoint *src_ep,
		    const struct dp_endpoint *dst_ep)
{
	struct ct_entry *e = NULL;
	const struct dp_config *c = &dp->cfg;
	struct pkt_info *pi = &x->pi;
	const struct dp_vtep *vtep = NULL;
	int rc;

	if (in->role == NSDP_ROLE_POD && (!src_ep || src_ep->port != in_idx)) {
		dp_drop(w, m, NSDP_DROP_SRC_SPOOF);
		return;
	}
	if (in->role == NSDP_ROLE_UPLINK) {
		/*
		 * The tunnel is not trusted alone: an inner source inside a pod
		 * CIDR must belong to the node that sent it (never one of ours).
		 */
		int64_t snh = dp_route_lookup(t, pi->src4);
		if (snh == DP_ROUTE_LOCAL || (snh >= 0 && snh != DP_ROUTE_NO_VTEP &&
					     snh != x->vtep)) {
			dp_drop(w, m, NSDP_DROP_SRC_SPOOF);
			return;
		}
	}
	if (!dst_ep) {
		if (in->role == NSDP_ROLE_UPLINK) {
			dp_drop(w, m, NSDP_DROP_NO_ENDPOINT);
			return;
		}
		int64_t nh = dp_route_lookup(t, pi->dst4);
		if (nh < 0 || dp->uplink < 0) {
			dp_drop(w, m, NSDP_DROP_NO_ROUTE);
			return;
		}
		if (nh == DP_ROUTE_LOCAL) {
			dp_drop(w, m, NSDP_DROP_NO_ENDPOINT);
			return;
		}
		if (nh == DP_ROUTE_NO_VTEP || nh >= t->n_vteps) {
			dp_drop(w, m, NSDP_DROP_NO_VTEP);
			return;
		}
		vtep = &t->vteps[nh];
		if (pi->l3_len > c->mtu - OVERLAY_OVERHEAD) {
			dp_drop(w, m, NSDP_DROP_MTU_EXCEEDED);
			return;
		}
	} else if (dst_ep->port == in_idx && in->role == NSDP_ROLE_POD) {
		dp_drop(w, m, NSDP_DROP_HAIRPIN);
		return;
	}

	if (x->track && (rc = conntrack(dp, w, x, &e)) != 0) {
		dp_drop(w, m, (unsigned)rc);
		return;
	}
	if (pol && (rc = policy(pol, w, x, e)) != 0) {
		dp_drop(w, m, (unsigned)rc);
		return;
	}

	/* Ethernet padding of short frames is not forwarded (nor encapsulated). */
	uint32_t frame_len = (uint32_t)pi->l3_off + pi->l3_len;
	if (rte_pktmbuf_pkt_len(m) > frame_len)
		rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_pkt_len(m) - frame_len));
	strip_vlan(m, pi);
	uint8_t *l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, pi->l3_off);
	pkt_ipv4_dec_ttl(l3);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	const struct rte_ether_addr *gw = (const struct rte_ether_addr *)c->gateway_mac;
	rte_ether_addr_copy(gw, &eth->src_addr);

	if (dst_ep) {
		rte_ether_addr_copy(&dst_ep->mac, &eth->dst_addr);
		dp_txq(dp, w, dst_ep->port, m);
		return;
	}
	/* The remote node rewrites the inner MACs on delivery. */
	rte_ether_addr_copy(gw, &eth->dst_addr);
	const struct dp_port *up = &dp->ports[dp->uplink];
	struct overlay_params op = {
		.src_ip = c->vtep_ip,
		.dst_ip = vtep->ip,
		.udp_port = rte_cpu_to_be_16(c->overlay_port),
		.type = c->overlay,
		.vni = c->vni,
	};
	rte_ether_addr_copy(&up->mac, &op.src_mac);
	rte_ether_addr_copy(&vtep->mac, &op.dst_mac);
	if (overlay_encap(m, &op, overlay_flow_hash(pi)) < 0) {
		dp_drop(w, m, NSDP_DROP_MTU_EXCEEDED);
		return;
	}
	dp_txq(dp, w, (unsigned)dp->uplink, m);
}

void dp_process_burst(struct dp *dp, struct dp_worker *w, const struct dp_tables *t,
		      unsigned in_idx, struct rte_mbuf **pkts, unsigned n)
{
	const struct dp_port *in = &dp->ports[in_idx];
	/* Like t, valid until this worker's next quiescent state. */
	const struct dp_policy *pol = atomic_load_explicit(&dp->policy, memory_order_acquire);
	struct pkt_ctx ctx[GROUP];
	uint32_t dst[GROUP], src[GROUP];
	const struct dp_endpoint *dst_ep[GROUP], *src_ep[GROUP];
	unsigned idx[GROUP];

	for (unsigned base = 0; base < n; base += GROUP) {
		unsigned cnt = RTE_MIN(n - base, (unsigned)GROUP);
		unsigned k = 0; /* packets still going after pass 1 */

		for (unsigned i = 0; i < cnt && i < 4; i++)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[base + i], void *));
		for (unsigned i = 0; i < cnt; i++) {
			struct rte_mbuf *m = pkts[base + i];
			if (i + 4 < cnt)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[base + i + 4], void *));
			struct pkt_ctx *x = &ctx[k];
			classify(dp, w, t, in, in_idx, m, x);
			if (x->drop) {
				dp_drop(w, m, x->drop);
				continue;
			}
			if (x->done)
				continue;
			dst[k] = x->pi.dst4;
			src[k] = x->pi.src4;
			idx[k] = base + i;
			k++;
		}
		if (!k)
			continue;
		dp_ep_lookup_bulk(t, dst, k, dst_ep);
		if (in->role == NSDP_ROLE_POD)
			dp_ep_lookup_bulk(t, src, k, src_ep);
		else
			memset(src_ep, 0, sizeof(src_ep[0]) * k);
		/* Buckets were prefetched in pass 1; now the entries they name. */
		for (unsigned j = 0; j < k; j++)
			if (ctx[j].track)
				ct_prefetch_entry(dp->ct, ctx[j].hash);
		for (unsigned j = 0; j < k; j++)
			forward(dp, w, t, pol, in, in_idx, pkts[idx[j]], &ctx[j], src_ep[j],
				dst_ep[j]);
	}
}

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp *dp = dp_global;
	struct rte_mbuf *pkts[DP_MAX_BURST];
	const unsigned burst = dp->cfg.burst;
	const unsigned sleep_us = dp->cfg.idle_sleep_us;

	rte_rcu_qsbr_thread_register(dp->qsv, w->idx);
	rte_rcu_qsbr_thread_online(dp->qsv, w->idx);

	while (!dp->quit) {
		uint64_t t0 = rte_rdtsc();
		const struct dp_tables *t =
			atomic_load_explicit(&dp->tables, memory_order_acquire);
		unsigned total = 0;

		/* Like t: valid until this worker's next quiescent state. */
		const struct dp_rxq_list *rl =
			atomic_load_explicit(&w->rxqs, memory_order_acquire);
		unsigned nq = rl ? rl->n : 0;

		w->now = ct_now();
		for (unsigned q = 0; q < nq; q++) {
			const struct dp_rxq *rq = &rl->q[q];
			uint16_t nb = rte_eth_rx_burst(dp->ports[rq->port].port_id, rq->queue,
						       pkts, (uint16_t)burst);
			if (!nb)
				continue;
			uint64_t bytes = 0;
			for (unsigned i = 0; i < nb; i++)
				bytes += rte_pktmbuf_pkt_len(pkts[i]);
			w->stats->port[rq->port].rx_pkts += nb;
			w->stats->port[rq->port].rx_bytes += bytes;
			dp_process_burst(dp, w, t, rq->port, pkts, nb);
			total += nb;
		}
		dp_tx_flush(dp, w);
		/* Done with `t` and every conntrack entry of this poll. */
		rte_rcu_qsbr_quiescent(dp->qsv, w->idx);
		w->stats->lc.polls++;
		if (total) {
			w->stats->lc.busy_cycles += rte_rdtsc() - t0;
			w->stats->lc.busy_packets += total;
		} else {
			w->stats->lc.idle_polls++;
			if (sleep_us)
				usleep(sleep_us);
		}
	}
	rte_rcu_qsbr_thread_offline(dp->qsv, w->idx);
	rte_rcu_qsbr_thread_unregister(dp->qsv, w->idx);
	return 0;
}
