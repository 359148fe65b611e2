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
 *     the conntrack entries prefetched, and the policy decisions of the
 *     probable new connections (and, after a policy publication, of the
 *     connections decided under the older one) made in bulk
 *     (decide_ahead, pol_decide_bulk);
 *  3. per packet: route, conntrack, TTL, rewrite or encapsulate, queue TX.
 * Every packet leaves through dp_txq() or dp_drop(): nothing is lost
 * uncounted.
 *
 * Tracing (dp_trace_packet, NSDP_MSG_TRACE): classify(), forward(),
 * conntrack() and policy() take a `struct dp_trace *`. The workers pass a
 * constant NULL and the functions are always inlined into
 * dp_process_burst(), so every `if (tr)` branch is compiled out of the
 * packet path; the trace passes its buffer and the same code records each
 * step instead of counting, writing conntrack or transmitting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
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
#include "gso.h"
#include "overlay.h"
#include "pkt.h"
#include "vnet.h"

#define GROUP 64
_Static_assert(GROUP <= 64, "a group's packets fit a 64-bit mask");
#define ALWAYS_INLINE inline __attribute__((always_inline))

struct pkt_ctx {
	struct pkt_info pi;
	int64_t vtep; /* uplink: index of the VTEP that sent the packet */
	struct ct_key key;
	uint32_t hash;
	uint8_t side;
	uint8_t drop; /* enum nsdp_drop_reason, 0 = go on */
	uint8_t done; /* already queued (ARP reply) */
	uint8_t track;
	uint8_t related; /* ICMP error: key is the quoted packet's connection */
	struct pol_result pre; /* decided ahead for a probable new connection (verdict 0: not) */
	/* Decided ahead for a connection decided under an older policy, in
	 * its original direction, originator redo_side (verdict 0: not). */
	struct pol_result redo;
	uint8_t redo_side;
	/* The entry decide_ahead() found, taken by conntrack() instead of a
	 * second lookup (NULL: look it up). Valid until the worker's next
	 * quiescent state, like any entry a lookup returns. */
	struct ct_entry *ent;
};

static inline void dp_drop(struct dp_worker *w, struct rte_mbuf *m, unsigned reason)
{
	dp_count_drop(w->stats, reason);
	rte_pktmbuf_free(m);
}

static void tx_flush_port(struct dp *dp, struct dp_worker *w, unsigned p)
{
	struct dp_txbuf *tb = &w->tx[p];
	struct dp_vnet *vnet = dp->ports[p].vnet;
	uint64_t bytes = 0;
	uint16_t sent;
	/* A pod tap takes what the uplink brought as the 64 KB segments its
	 * sender made (segments of a flow in this burst, merged). */
	uint64_t bad = 0;
	if (vnet) {
		if (dp->ports[p].role == NSDP_ROLE_POD)
			tb->n = gso_coalesce(tb->pkts, tb->n, dp->big, DP_VNET_MAX_FRAME);
		sent = dp_vnet_tx(vnet, w->idx, tb->pkts, tb->n, &bytes, &bad);
		w->stats->drops[NSDP_DROP_VNET_BAD] += bad;
	} else {
		for (unsigned i = 0; i < tb->n; i++)
			bytes += rte_pktmbuf_pkt_len(tb->pkts[i]);
		sent = rte_eth_tx_burst(dp->ports[p].port_id, (uint16_t)w->idx, tb->pkts, tb->n);
		for (unsigned i = sent; i < tb->n; i++)
			bytes -= rte_pktmbuf_pkt_len(tb->pkts[i]);
	}
	for (unsigned i = sent; i < tb->n; i++)
		dp_drop(w, tb->pkts[i], NSDP_DROP_TX_FULL);
	w->stats->port[p].tx_pkts += sent - bad;
	w->stats->port[p].tx_bytes += bytes;
	tb->n = 0;
}

static void tx_segment(struct dp *dp, struct dp_worker *w, unsigned port,
		       struct rte_mbuf *m);

static inline void dp_txq(struct dp *dp, struct dp_worker *w, unsigned port,
			  struct rte_mbuf *m)
{
	/* A 64 KB segment from a tap, for a port that cannot take it whole. */
	if (unlikely(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) &&
	    !dp_vnet_takes_gso(dp->ports[port].vnet, m->ol_flags)) {
		tx_segment(dp, w, port, m);
		return;
	}
	struct dp_txbuf *tb = &w->tx[port];
	tb->pkts[tb->n++] = m;
	if (tb->n == DP_TX_BUF)
		tx_flush_port(dp, w, port);
}

/* Cut a GSO frame (vnet.h) into MTU-sized frames for `port`. Tunnel
 * offsets as DPDK's TSO has them: outer_l2/l3_len, then l2_len up to the
 * inner IPv4 header. */
static __rte_noinline void tx_segment(struct dp *dp, struct dp_worker *w, unsigned port,
				      struct rte_mbuf *m)
{
	struct gso_layout lay;
	struct rte_mbuf *seg[GSO_MAX_SEGS];

	if (m->ol_flags & RTE_MBUF_F_TX_TUNNEL_MASK) {
		lay.outer_l3 = m->outer_l2_len;
		lay.l3 = (uint16_t)(m->outer_l2_len + m->outer_l3_len + m->l2_len);
	} else {
		lay.outer_l3 = 0;
		lay.l3 = m->l2_len;
	}
	lay.l4 = (uint16_t)(lay.l3 + m->l3_len);
	lay.mss = m->tso_segsz;
	int n = gso_segment(m, &lay, dp->pool, seg, RTE_DIM(seg));
	if (n < 0) {
		dp_drop(w, m, NSDP_DROP_GSO_FAILED);
		return;
	}
	rte_pktmbuf_free(m);
	for (int i = 0; i < n; i++)
		dp_txq(dp, w, port, seg[i]);
}

void dp_tx_flush(struct dp *dp, struct dp_worker *w)
{
	for (unsigned p = 0; p < dp->n_ports; p++)
		if (w->tx[p].n)
			tx_flush_port(dp, w, p);
}

/* ---- trace recording (cold; compiled out of the worker path) ------------ */

static struct nsdp_trace_step trace_overflow;

static struct nsdp_trace_step *trace_step(struct dp_trace *tr, unsigned kind,
					  const char *fmt, ...)
	__attribute__((format(printf, 3, 4), cold, noinline));

static struct nsdp_trace_step *trace_step(struct dp_trace *tr, unsigned kind,
					  const char *fmt, ...)
{
	struct nsdp_trace_step *s =
		tr->n < DP_TRACE_MAX_STEPS ? &tr->step[tr->n++] : &trace_overflow;
	va_list ap;

	memset(s, 0, sizeof(*s));
	s->kind = (uint8_t)kind;
	s->subject = s->rule = s->port = s->value = s->value2 = NSDP_TRACE_NONE32;
	va_start(ap, fmt);
	vsnprintf(s->text, sizeof(s->text), fmt, ap);
	va_end(ap);
	return s;
}

/* The step that explains a drop was just recorded: stamp it. */
static void __attribute__((cold, noinline)) trace_drop(struct dp_trace *tr, unsigned reason)
{
	tr->drop = (uint8_t)reason;
	if (tr->n && !tr->step[tr->n - 1].drop)
		tr->step[tr->n - 1].drop = (uint8_t)reason;
}

static const char *ip4s(uint32_t a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* Display names come from the committed state, which the control thread
 * (the only thread that traces) owns. */
static const char *trace_ep_name(const struct dp *dp, uint32_t ip)
{
	for (uint32_t i = 0; i < dp->state.n_eps; i++) {
		const struct nsdp_endpoint *e = &dp->state.eps[i];
		if (e->ip.family == AF_INET && !memcmp(e->ip.addr, &ip, 4))
			return e->name[0] ? e->name : "unnamed";
	}
	return "?";
}

static const char *trace_vtep_name(const struct dp *dp, uint32_t ip)
{
	for (uint32_t i = 0; i < dp->state.n_vteps; i++) {
		const struct nsdp_vtep *v = &dp->state.vteps[i];
		if (v->ip.family == AF_INET && !memcmp(v->ip.addr, &ip, 4))
			return v->name[0] ? v->name : "unnamed";
	}
	return "?";
}

/* The committed route the LPM matched for ip, as "a.b.c.d/len". */
static const char *trace_route(const struct dp *dp, uint32_t ip, char *buf, size_t len)
{
	int best = -1;
	const struct nsdp_route *br = NULL;
	for (uint32_t i = 0; i < dp->state.n_routes; i++) {
		const struct nsdp_route *r = &dp->state.routes[i];
		uint32_t pfx, mask = r->prefix_len ? htonl(~0u << (32 - r->prefix_len)) : 0;
		if (r->prefix.family != AF_INET)
			continue;
		memcpy(&pfx, r->prefix.addr, 4);
		if ((ip & mask) == pfx && (int)r->prefix_len > best) {
			best = r->prefix_len;
			br = r;
		}
	}
	char a[INET_ADDRSTRLEN] = "?";
	if (br)
		inet_ntop(AF_INET, br->prefix.addr, a, sizeof(a));
	snprintf(buf, len, "%s/%d", a, best < 0 ? 0 : best);
	return buf;
}

static const char *proto_str(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP: return "TCP";
	case IPPROTO_UDP: return "UDP";
	case IPPROTO_SCTP: return "SCTP";
	case IPPROTO_ICMP: return "ICMP";
	}
	return "IP";
}

/* "IPv4 10.244.1.2:40000 -> 10.244.2.2:8080 TCP SYN" */
static const char *trace_pkt(const struct pkt_info *pi, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], fl[40] = "";
	if (pi->family != AF_INET) {
		snprintf(buf, len, "%s", pi->family ? "IPv6" : "ARP");
		return buf;
	}
	ip4s(pi->src4, a);
	ip4s(pi->dst4, b);
	if (pi->proto == IPPROTO_TCP) {
		static const struct { uint8_t bit; const char *n; } f[] = {
			{0x02, "SYN"}, {0x01, "FIN"}, {0x04, "RST"}, {0x08, "PSH"}, {0x10, "ACK"}};
		size_t o = 0;
		for (unsigned i = 0; i < RTE_DIM(f); i++)
			if (pi->tcp_flags & f[i].bit)
				o += (size_t)snprintf(fl + o, sizeof(fl) - o, "%s%s", o ? "+" : " ",
						      f[i].n);
	}
	if (pi->proto == IPPROTO_ICMP)
		snprintf(buf, len, "IPv4 %s -> %s ICMP type %u%s", a, b, pi->icmp_type,
			 pi->icmp_echo ? " (echo)" : "");
	else if (pi->proto == IPPROTO_TCP || pi->proto == IPPROTO_UDP ||
		 pi->proto == IPPROTO_SCTP)
		snprintf(buf, len, "IPv4 %s:%u -> %s:%u %s%s", a, rte_be_to_cpu_16(pi->sport), b,
			 rte_be_to_cpu_16(pi->dport), proto_str(pi->proto), fl);
	else
		snprintf(buf, len, "IPv4 %s -> %s protocol %u", a, b, pi->proto);
	return buf;
}

static const char *rule_name(const struct pol_tables *t, uint32_t rule)
{
	return rule < t->n_rules ? t->rules[rule] : "?";
}

static const char *verdict_str(uint8_t v)
{
	return v == POL_ALLOW	? "allow"
	       : v == POL_DENY	? "deny"
	       : v == POL_AUDIT ? "allow (audit: would deny)"
				: "none";
}

/* One side: the subject pod's class in `dir` against the other address. */
static void trace_side(struct dp_trace *tr, const struct pol_tables *t, unsigned dir,
		       uint32_t subject_ip, uint32_t peer_ip, uint8_t proto, uint16_t port)
{
	char a[INET_ADDRSTRLEN];
	unsigned kind = dir == POL_EGRESS ? NSDP_TRACE_POLICY_EGRESS : NSDP_TRACE_POLICY_INGRESS;
	uint32_t pi = pol_pod_index(t, subject_ip);
	ip4s(subject_ip, a);
	if (pi == POL_NONE) {
		trace_step(tr, kind, "not applicable: %s %s is no pod of the cluster",
			   dir == POL_EGRESS ? "source" : "destination", a);
		return;
	}
	uint32_t subj = t->pods[pi].subject[dir], peer = pol_peer_class(t, peer_ip);
	const struct pol_range *r = pol_side(t, subj, dir, peer, proto, port);
	bool audit = r->audit_rule != POL_NONE;
	struct nsdp_trace_step *s = trace_step(
		tr, kind, "subject %u: %s (%s)%s%s [%s %s peer class %u]", subj,
		verdict_str(audit ? POL_AUDIT : r->verdict), rule_name(t, audit ? r->audit_rule : r->rule),
		audit ? ", enforced: " : "", audit ? rule_name(t, r->rule) : "", a,
		dir == POL_EGRESS ? "to" : "from", peer);
	s->subject = subj;
	s->rule = audit ? r->audit_rule : r->rule;
	s->verdict = audit ? POL_AUDIT : r->verdict;
}

/*
 * Each side pol_decide() considers, as it considers it: the egress side
 * when src is a pod, the ingress side when dst is a pod.
 */
static void __attribute__((cold, noinline))
trace_sides(struct dp_trace *tr, const struct pol_tables *t, uint32_t src, uint32_t dst,
	    uint8_t proto, uint16_t port)
{
	trace_side(tr, t, POL_EGRESS, src, dst, proto, port);
	trace_side(tr, t, POL_INGRESS, dst, src, proto, port);
}

/* m's ARP header when it is Ethernet/IPv4 ARP with opcode `op` for target
 * `tip`, else NULL. */
static struct rte_arp_hdr *arp_valid(struct rte_mbuf *m, const struct pkt_info *pi,
				     uint16_t op, uint32_t tip)
{
	if (rte_pktmbuf_data_len(m) < pi->l3_off + sizeof(struct rte_arp_hdr))
		return NULL;
	struct rte_arp_hdr *arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, pi->l3_off);
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != 6 || arp->arp_plen != 4 || arp->arp_opcode != rte_cpu_to_be_16(op) ||
	    arp->arp_data.arp_tip != tip)
		return NULL;
	return arp;
}

/*
 * Answer an ARP request for `our_ip` in place with `our_mac`. Returns 0 when
 * the mbuf now holds the reply, or a drop reason.
 */
static int arp_reply(struct rte_mbuf *m, const struct pkt_info *pi, uint32_t our_ip,
		     const struct rte_ether_addr *our_mac)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = arp_valid(m, pi, RTE_ARP_OP_REQUEST, our_ip);
	if (!arp)
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

/*
 * ARP on the host port: the node's stack asks for the gateway (answered as
 * a pod's request is) or answers host_arp_request(). Either way the
 * sender's MAC is where frames for the node go. Returns 0 (m now holds the
 * reply to send), -1 (a reply: learned, m is done with) or a drop reason.
 */
static int host_arp(struct dp *dp, struct rte_mbuf *m, const struct pkt_info *pi)
{
	const struct dp_config *c = &dp->cfg;
	if (rte_pktmbuf_data_len(m) < pi->l3_off + sizeof(struct rte_arp_hdr))
		return NSDP_DROP_ARP_INVALID;
	const struct rte_arp_hdr *arp =
		rte_pktmbuf_mtod_offset(m, const struct rte_arp_hdr *, pi->l3_off);
	uint64_t sender = 0;
	memcpy(&sender, &arp->arp_data.arp_sha, RTE_ETHER_ADDR_LEN);
	int rc;
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY))
		rc = arp_valid(m, pi, RTE_ARP_OP_REPLY, c->gateway_ip) ? -1 : NSDP_DROP_ARP_INVALID;
	else
		rc = arp_reply(m, pi, c->gateway_ip,
			       (const struct rte_ether_addr *)c->gateway_mac);
	if (rc <= 0 && sender && sender != __atomic_load_n(&dp->host_mac, __ATOMIC_RELAXED))
		__atomic_store_n(&dp->host_mac, sender, __ATOMIC_RELAXED);
	return rc;
}

/* m becomes a broadcast ARP request from the gateway for the node's
 * host_ip, whose reply host_arp() learns. */
static void host_arp_request(const struct dp_config *c, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	const struct rte_ether_addr *gw = (const struct rte_ether_addr *)c->gateway_mac;
	memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	rte_ether_addr_copy(gw, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(gw, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = c->gateway_ip;
	memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
	arp->arp_data.arp_tip = c->host_ip;
	m->data_len = m->pkt_len = sizeof(*eth) + sizeof(*arp);
	m->ol_flags = 0;
}

/* Uplink: validate the outer headers and tunnel, strip them. */
static ALWAYS_INLINE int uplink_decap(struct dp *dp, const struct dp_tables *t,
				      struct rte_mbuf *m, struct pkt_info *pi, int64_t *vtep_idx)
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
	if (unlikely(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG)) {
		/* A tunnel GSO frame (vnet.h): the inner frame is the segment now
		 * (classify() checks it against the inner headers). */
		m->ol_flags &= ~(RTE_MBUF_F_TX_TUNNEL_MASK | RTE_MBUF_F_TX_OUTER_IPV4);
		m->outer_l2_len = 0;
		m->outer_l3_len = 0;
		m->l2_len = RTE_ETHER_HDR_LEN;
	}
	if (pi->family == 0) /* ARP inside the tunnel: we never flood it */
		return NSDP_DROP_ARP_INVALID;
	/* RFC 7348 6.1: VLAN-tagged inner frames are discarded. */
	if (pi->l3_off != RTE_ETHER_HDR_LEN)
		return NSDP_DROP_OVERLAY_INNER;
	return 0;
}

/* Do the TSO fields of a GSO frame match its parsed IPv4/TCP headers, with
 * an MSS and a segment count the dataplane can cut? Sets l4_len from the
 * TCP header. */
static bool gso_frame_ok(struct rte_mbuf *m, const struct pkt_info *pi)
{
	if (pi->proto != IPPROTO_TCP || pi->l3_off != RTE_ETHER_HDR_LEN ||
	    m->l2_len != RTE_ETHER_HDR_LEN || RTE_ETHER_HDR_LEN + m->l3_len != pi->l4_off)
		return false;
	const uint8_t *tcp = rte_pktmbuf_mtod_offset(m, const uint8_t *, pi->l4_off);
	m->l4_len = (uint64_t)(tcp[12] >> 4) * 4;
	uint32_t payload = (uint32_t)pi->l3_len - m->l3_len - m->l4_len; /* wraps: refused */
	return m->tso_segsz >= GSO_MIN_MSS && payload <= (uint32_t)m->tso_segsz * GSO_MAX_SEGS;
}

/* A packet leaves: queued for TX, or (tracing) recorded as the output. */
static ALWAYS_INLINE void pkt_tx(struct dp *dp, struct dp_worker *w, struct dp_trace *tr,
				 unsigned port, struct rte_mbuf *m)
{
	if (tr) {
		tr->out_port = (int)port;
		tr->out = m;
		return;
	}
	dp_txq(dp, w, port, m);
}

/* A packet is dropped: counted, or (tracing) recorded, never counted. */
static ALWAYS_INLINE void pkt_drop(struct dp_worker *w, struct dp_trace *tr,
				   struct rte_mbuf *m, unsigned reason)
{
	if (tr) {
		trace_drop(tr, reason);
		rte_pktmbuf_free(m);
		return;
	}
	dp_drop(w, m, reason);
}

/* Pass 1 for one packet. */
static ALWAYS_INLINE void classify(struct dp *dp, struct dp_worker *w,
				   const struct dp_tables *t, const struct dp_port *in,
				   unsigned in_idx, struct rte_mbuf *m, struct pkt_ctx *x,
				   struct dp_trace *tr)
{
	const struct dp_config *c = &dp->cfg;
	struct pkt_info *pi = &x->pi;
	x->drop = 0;
	x->done = 0;
	x->track = 0;
	x->related = 0;
	x->pre.verdict = 0;
	x->redo.verdict = 0;
	x->ent = NULL;

	if (unlikely(m->nb_segs > 1) && rte_pktmbuf_linearize(m) < 0) {
		x->drop = NSDP_DROP_L2_TRUNCATED;
		return;
	}
	int rc = pkt_parse(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), pi);
	if (tr) {
		char d[160];
		struct nsdp_trace_step *s = trace_step(
			tr, NSDP_TRACE_PARSE, "ingress port %s, %s%s, %u bytes", in->name,
			rc ? "malformed" : trace_pkt(pi, d, sizeof(d)),
			in->role == NSDP_ROLE_UPLINK && !rc ? " (outer)" : "",
			rte_pktmbuf_pkt_len(m));
		s->port = in_idx;
		s->drop = (uint8_t)rc;
	}
	if (rc) {
		x->drop = (uint8_t)rc;
		return;
	}
	if (pi->family == 0 && in->role == NSDP_ROLE_HOST) { /* ARP with the node */
		rc = host_arp(dp, m, pi);
		if (rc > 0) {
			x->drop = (uint8_t)rc;
			return;
		}
		x->done = 1;
		if (rc < 0)
			rte_pktmbuf_free(m);
		else
			pkt_tx(dp, w, tr, in_idx, m);
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
		pkt_tx(dp, w, tr, in_idx, m);
		return;
	}
	if (in->role == NSDP_ROLE_UPLINK) {
		uint32_t outer_src = pi->src4;
		rc = uplink_decap(dp, t, m, pi, &x->vtep);
		if (tr) {
			char a[INET_ADDRSTRLEN], d[160];
			struct nsdp_trace_step *s;
			if (rc)
				s = trace_step(tr, NSDP_TRACE_DECAP, "refused: %s (outer source %s)",
					       nsdp_drop_desc((unsigned)rc), ip4s(outer_src, a));
			else
				s = trace_step(tr, NSDP_TRACE_DECAP,
					       "%s vni %u from VTEP %s (%s): inner %s",
					       c->overlay == NSDP_OVERLAY_GENEVE ? "geneve" : "vxlan",
					       c->vni, ip4s(outer_src, a),
					       trace_vtep_name(dp, outer_src),
					       trace_pkt(pi, d, sizeof(d)));
			s->value = c->vni;
			s->drop = (uint8_t)rc;
		}
		if (rc) {
			x->drop = (uint8_t)rc;
			return;
		}
	}
	if (pi->family != AF_INET) {
		x->drop = NSDP_DROP_IPV6_UNSUPPORTED;
		if (tr)
			trace_step(tr, NSDP_TRACE_PARSE, "IPv6 is not enabled on this node");
		return;
	}
	/* A 64 KB segment (vnet.h): its TSO fields must describe this very
	 * frame, whoever wrote them (a pod's virtio-net header). */
	if (unlikely(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) && !gso_frame_ok(m, pi)) {
		x->drop = NSDP_DROP_VNET_BAD;
		return;
	}
	if (pi->ttl <= 1) {
		x->drop = NSDP_DROP_IP_TTL;
		if (tr)
			trace_step(tr, NSDP_TRACE_PARSE, "TTL %u: exhausted", pi->ttl);
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
		x->related = pi->icmp_err;
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
	} else if (x->related) {
		x->side = (uint8_t)ct_key_make(&x->key, AF_INET, &pi->inner_src4, &pi->inner_dst4,
					       pi->sport, pi->dport, pi->inner_proto);
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

/*
 * Tracing: the lookup is the workers', the update runs on a private copy
 * (a fresh one on a miss, as ct_create_first would make it), so the table
 * is never written.
 */
static int __attribute__((cold, noinline))
trace_conntrack(const struct dp *dp, struct dp_worker *w, const struct pkt_ctx *x,
		const struct ct_entry *e, struct ct_entry **ep, struct dp_trace *tr)
{
	struct ct_entry *c = &tr->ct;
	const char *before;
	if (e) {
		memcpy(c, e, sizeof(*c));
		before = ct_state_name(ct_entry_state(c));
	} else {
		memset(c, 0, sizeof(*c));
		c->key = x->key;
		c->orig_side = (uint8_t)(x->side & 1);
		c->last_seen = c->created = w->now;
		before = NULL;
	}
	int rc = ct_update(c, x->side, x->pi.tcp_flags, w->now);
	enum ct_state st = ct_entry_state(c);
	struct nsdp_trace_step *s;
	if (e)
		s = trace_step(tr, NSDP_TRACE_CONNTRACK,
			       "hit: %s, packet from the %s side -> %s%s (entry not modified)",
			       before, x->side == c->orig_side ? "original" : "reply",
			       rc ? "invalid" : ct_state_name(st),
			       e->policy_gen ? ", verdict cached" : "");
	else
		s = trace_step(tr, NSDP_TRACE_CONNTRACK,
			       "miss: a new connection -> %s%s (no entry created)",
			       rc ? "invalid" : ct_state_name(st),
			       (c->seen & CT_SEEN_MIDSTREAM) ? ", picked up mid-stream" : "");
	s->value = (uint32_t)st;
	s->value2 = e != NULL;
	(void)dp;
	*ep = c;
	return rc;
}

_Static_assert(CT_VERDICT_DENY == POL_DENY, "conntrack's deny is the policy's");

/* The policy query of the packet's connection in the packet's direction
 * (fwd) or the other one. */
static ALWAYS_INLINE struct pol_query dir_query(const struct pkt_info *pi, bool fwd)
{
	return (struct pol_query){fwd ? pi->src4 : pi->dst4, fwd ? pi->dst4 : pi->src4,
				  pi->proto, rte_be_to_cpu_16(fwd ? pi->dport : pi->sport)};
}

static ALWAYS_INLINE void decide(const struct pol_tables *t, struct pol_query q,
				 struct pol_result *res)
{
	pol_decide(t, q.src, q.dst, q.proto, q.dport, res);
}

/*
 * A new connection (conntrack miss) is decided before it gets an entry
 * (*pre). An allowed one gets its entry. A denied one gets one (its
 * verdict cached: retransmissions are not decided again) only within the
 * worker's share of tables.denied_entries, so a flood of denied
 * connections cannot fill conntrack and lock out allowed ones; beyond it
 * the packet is decided alone, like an untracked one. A TCP packet that
 * is not a SYN always gets its entry: it may be a connection picked up
 * mid-stream, which policy() decides in both directions.
 */
static ALWAYS_INLINE bool admit(const struct dp_policy *pol, struct dp_worker *w,
				const struct pkt_ctx *x, struct pol_result *pre)
{
	const struct pkt_info *pi = &x->pi;
	if (x->pre.verdict) /* the same decision, made with the group's (decide_ahead) */
		*pre = x->pre;
	else
		decide(pol->t, dir_query(pi, true), pre);
	if (likely(pre->verdict != POL_DENY))
		return true;
	if (pi->proto == IPPROTO_TCP && !(pi->tcp_flags & RTE_TCP_SYN_FLAG))
		return true;
	if (w->cache_denied && dp_gcra_take(&w->denied, w->tsc))
		return true;
	w->stats->lc.ct_denied_uncached++;
	return false;
}

/*
 * Find or create the packet's conntrack entry (*ep) and account the packet
 * in it. With a policy, a miss is decided first (admit(): *pre set); a
 * denied connection beyond the admission limit leaves *ep NULL.
 */
static ALWAYS_INLINE int conntrack(struct dp *dp, struct dp_worker *w, struct pkt_ctx *x,
				   const struct dp_policy *pol, struct ct_entry **ep,
				   struct pol_result *pre, struct dp_trace *tr)
{
	struct ct_entry *e = x->ent ? x->ent : ct_lookup(dp->ct, &x->key, x->hash);
	if (tr)
		return trace_conntrack(dp, w, x, e, ep, tr);
	if (!e) {
		if (pol && !admit(pol, w, x, pre))
			return 0;
		int rc;
		e = ct_create_first(dp->ct, &x->key, x->hash, x->side, x->pi.tcp_flags, w->now,
				    &rc);
		if (!e)
			return NSDP_DROP_CT_FULL;
		w->stats->lc.ct_created++;
		*ep = e;
		return rc;
	}
	*ep = e;
	return ct_update(e, x->side, x->pi.tcp_flags, w->now);
}

/* Queue a flow-log record of a decision (a → b is the original direction). */
static void flowlog(struct dp_worker *w, const struct pkt_info *pi, bool fwd,
		    const struct pol_result *res, uint32_t epoch, uint8_t reason, unsigned in_idx)
{
	struct dp_flowlog_ent fe = {
		.src = fwd ? pi->src4 : pi->dst4,
		.dst = fwd ? pi->dst4 : pi->src4,
		.sport = rte_be_to_cpu_16(fwd ? pi->sport : pi->dport),
		.dport = rte_be_to_cpu_16(fwd ? pi->dport : pi->sport),
		.proto = pi->proto,
		.verdict = res->verdict,
		.dir = res->decided_by,
		.reason = reason,
		.rule = res->rule,
		.epoch = epoch,
		.in_port = (uint16_t)in_idx,
	};
	dp_flowlog_put(&w->fl, &w->stats->lc, &fe, w->tsc);
}

/*
 * Policy: the verdict of the connection's original direction, cached in its
 * conntrack entry for the policy generation it was decided at, so replies
 * pass and a new policy generation re-decides on the next packet.
 * Untracked packets (ICMP other than echo, other protocols) are decided
 * one by one. Counts every packet against the rule that decided it.
 * pre: the decision admit() made for a new connection (verdict 0: none).
 */
static ALWAYS_INLINE int policy(const struct dp_policy *pol, struct dp_worker *w,
				const struct pkt_ctx *x, struct ct_entry *e,
				const struct pol_result *pre, unsigned in_idx, struct dp_trace *tr)
{
	const struct pol_tables *t = pol->t;
	const struct pkt_info *pi = &x->pi;
	uint32_t gen = pol->epoch;
	struct pol_result res;
	const char *how = NULL; /* why this way, when it is not the plain decision */
	uint8_t logged = 0; /* a fresh decision: its flow-log reason */

	if (tr) { /* the sides, for the connection's original direction */
		bool fwd = !e || x->side == e->orig_side;
		trace_sides(tr, t, fwd ? pi->src4 : pi->dst4, fwd ? pi->dst4 : pi->src4,
			    pi->proto, rte_be_to_cpu_16(fwd ? pi->dport : pi->sport));
	}
	if (e && __atomic_load_n(&e->policy_gen, __ATOMIC_ACQUIRE) == gen) {
		res.verdict = e->verdict;
		res.rule = e->rule;
		res.decided_by = POL_INGRESS;
		how = "cached in conntrack for this policy";
	} else if (e) {
		bool fwd = x->side == e->orig_side;
		/* A new entry: admit() decided this packet's direction, which
		 * is the original one unless another worker's copy of the
		 * connection (the other direction) won the insert. */
		if (pre->verdict && fwd) {
			res = *pre;
		} else if (x->redo.verdict && x->redo_side == e->orig_side) {
			res = x->redo; /* decided with the group's (decide_ahead) */
			w->decided_ahead++;
		} else {
			decide(t, dir_query(pi, fwd), &res);
		}
		if (!fwd)
			how = "for the connection's original direction";
		if (res.verdict == POL_DENY &&
		    (__atomic_load_n(&e->seen, __ATOMIC_RELAXED) & CT_SEEN_MIDSTREAM)) {
			/* Picked up mid-stream (e.g. after a restart): who opened it
			 * is unknown, so either direction being allowed keeps it. */
			struct pol_result rev;
			decide(t, dir_query(pi, !fwd), &rev);
			if (rev.verdict != POL_DENY) {
				res = rev;
				how = "mid-stream pickup, allowed in the reverse direction";
			}
		}
		logged = e->policy_gen ? NSDP_FLOWLOG_REDECIDED : NSDP_FLOWLOG_NEW;
		if (e->policy_gen)
			w->redeciding = true;
		e->verdict = res.verdict;
		e->rule = res.rule;
		__atomic_store_n(&e->policy_gen, gen, __ATOMIC_RELEASE);
	} else if (pre->verdict) {
		res = *pre; /* denied beyond the admission limit: no entry */
		logged = NSDP_FLOWLOG_NEW;
	} else {
		decide(t, dir_query(pi, true), &res);
		how = "untracked: per packet";
		logged = NSDP_FLOWLOG_UNTRACKED;
	}
	if (tr) {
		bool cached = how && how[0] == 'c';
		struct nsdp_trace_step *s = trace_step(
			tr, NSDP_TRACE_POLICY, "%s by %s (%s%s%s)", verdict_str(res.verdict),
			rule_name(t, res.rule),
			cached ? "" : res.decided_by == POL_EGRESS ? "egress side decides"
								    : "ingress side decides",
			cached || how ? (cached ? "" : "; ") : "", how ? how : "");
		s->verdict = res.verdict;
		s->rule = res.rule;
		tr->verdict = res.verdict;
		tr->rule = res.rule;
		tr->decided_by = res.decided_by;
	} else {
		if (likely(w->rule_counters && res.rule < pol->n_rules))
			dp_policy_counters(pol, w->idx, res.rule)[res.verdict - 1]++;
		if (logged && dp_flowlog_wanted(&w->fl, res.verdict))
			flowlog(w, pi, !e || x->side == e->orig_side, &res, gen, logged, in_idx);
	}
	return res.verdict == POL_DENY ? NSDP_DROP_POLICY_DENY : 0;
}

/* Pass 3 for one packet. */
static ALWAYS_INLINE void forward(struct dp *dp, struct dp_worker *w, const struct dp_tables *t,
				  const struct dp_policy *pol, const struct dp_port *in,
				  unsigned in_idx, struct rte_mbuf *m, struct pkt_ctx *x,
				  const struct dp_endpoint *src_ep,
				  const struct dp_endpoint *dst_ep, struct dp_trace *tr)
{
	struct ct_entry *e = NULL;
	const struct dp_config *c = &dp->cfg;
	struct pkt_info *pi = &x->pi;
	const struct dp_vtep *vtep = NULL;
	char ta[INET_ADDRSTRLEN], tb[INET_ADDRSTRLEN], tc[64];
	int rc;

	if (in->role == NSDP_ROLE_POD && (!src_ep || src_ep->port != in_idx)) {
		if (tr)
			trace_step(tr, NSDP_TRACE_SOURCE, "%s: %s port %s: spoofed source",
				   ip4s(pi->src4, ta), src_ep ? "an endpoint of another port than"
							      : "no endpoint on",
				   in->name);
		pkt_drop(w, tr, m, NSDP_DROP_SRC_SPOOF);
		return;
	}
	if (tr && src_ep)
		trace_step(tr, NSDP_TRACE_SOURCE, "%s: endpoint %s on port %s, identity %u",
			   ip4s(pi->src4, ta), trace_ep_name(dp, pi->src4), in->name,
			   src_ep->identity)->port = in_idx;
	if (in->role == NSDP_ROLE_UPLINK) {
		/*
		 * The tunnel is not trusted alone: an inner source inside a pod
		 * CIDR must belong to the node that sent it (never one of ours).
		 */
		int64_t snh = dp_route_lookup(t, pi->src4);
		bool spoof = snh == DP_ROUTE_LOCAL ||
			     (snh >= 0 && snh != DP_ROUTE_NO_VTEP && snh != x->vtep) ||
			     (c->host_ip && pi->src4 == c->host_ip); /* this node's own */
		if (tr)
			trace_step(tr, NSDP_TRACE_SOURCE, "%s: %s", ip4s(pi->src4, ta),
				   spoof ? "not a pod of the sending node: spoofed source"
				   : snh < 0 ? "outside every pod CIDR (external)"
					     : "a pod of the sending node");
		if (spoof) {
			pkt_drop(w, tr, m, NSDP_DROP_SRC_SPOOF);
			return;
		}
	}
	if (in->role == NSDP_ROLE_HOST) {
		/* From the node's stack: to this node's pods only, and never
		 * with a pod's address (the node forwards nothing as a pod). */
		bool spoof = dp_route_lookup(t, pi->src4) >= 0;
		if (tr)
			trace_step(tr, NSDP_TRACE_SOURCE, "%s: %s", ip4s(pi->src4, ta),
				   spoof ? "a pod address from the host port: spoofed source"
				   : pi->src4 == c->host_ip ? "this node (host_ip)"
							    : "from the node's stack (external)");
		if (spoof) {
			pkt_drop(w, tr, m, NSDP_DROP_SRC_SPOOF);
			return;
		}
	}
	int to_host = -1; /* the host port's slot, when the packet goes there */
	if (!dst_ep) {
		if (in->role != NSDP_ROLE_POD) {
			if (tr)
				trace_step(tr, NSDP_TRACE_DEST, "%s: no endpoint on this node",
					   ip4s(pi->dst4, ta));
			pkt_drop(w, tr, m, NSDP_DROP_NO_ENDPOINT);
			return;
		}
		int64_t nh = dp_route_lookup(t, pi->dst4);
		if (nh < 0)
			to_host = dp_host_port(dp);
		if (to_host >= 0) {
			/* Outside every pod CIDR: the node, or beyond it. */
			if (tr)
				trace_step(tr, NSDP_TRACE_ROUTE, "%s: no pod route: to the node (port %s)",
					   ip4s(pi->dst4, ta), dp->ports[to_host].name);
		} else if (nh < 0 || dp->uplink < 0) {
			if (tr)
				trace_step(tr, NSDP_TRACE_ROUTE, "%s: %s", ip4s(pi->dst4, ta),
					   nh < 0 ? "no route" : "no uplink");
			pkt_drop(w, tr, m, NSDP_DROP_NO_ROUTE);
			return;
		} else if (nh == DP_ROUTE_LOCAL) {
			if (tr)
				trace_step(tr, NSDP_TRACE_ROUTE,
					   "%s local: %s is in this node's pod CIDR, no endpoint",
					   trace_route(dp, pi->dst4, tc, sizeof(tc)),
					   ip4s(pi->dst4, ta));
			pkt_drop(w, tr, m, NSDP_DROP_NO_ENDPOINT);
			return;
		} else if (nh == DP_ROUTE_NO_VTEP || nh >= t->n_vteps) {
			if (tr)
				trace_step(tr, NSDP_TRACE_ROUTE, "%s via a VTEP that is not known",
					   trace_route(dp, pi->dst4, tc, sizeof(tc)));
			pkt_drop(w, tr, m, NSDP_DROP_NO_VTEP);
			return;
		} else {
			vtep = &t->vteps[nh];
			if (tr)
				trace_step(tr, NSDP_TRACE_ROUTE, "%s via VTEP %s (%s)",
					   trace_route(dp, pi->dst4, tc, sizeof(tc)),
					   ip4s(vtep->ip, ta), trace_vtep_name(dp, vtep->ip))
					->value = vtep->ip;
			/* A GSO frame leaves as segments of tso_segsz payload. */
			uint32_t l3len = m->ol_flags & RTE_MBUF_F_TX_TCP_SEG
						 ? m->l3_len + m->l4_len + m->tso_segsz
						 : pi->l3_len;
			if (l3len > c->mtu - OVERLAY_OVERHEAD) {
				if (tr)
					trace_step(tr, NSDP_TRACE_ROUTE, "%u bytes exceed MTU %u - %u",
						   l3len, c->mtu, OVERLAY_OVERHEAD);
				pkt_drop(w, tr, m, NSDP_DROP_MTU_EXCEEDED);
				return;
			}
		}
	} else if (dst_ep->port == in_idx && in->role == NSDP_ROLE_POD) {
		if (tr)
			trace_step(tr, NSDP_TRACE_DEST, "%s: endpoint %s on the ingress port %s",
				   ip4s(pi->dst4, ta), trace_ep_name(dp, pi->dst4), in->name);
		pkt_drop(w, tr, m, NSDP_DROP_HAIRPIN);
		return;
	} else if (tr) {
		trace_step(tr, NSDP_TRACE_DEST, "%s: local endpoint %s on port %s, identity %u",
			   ip4s(pi->dst4, ta), trace_ep_name(dp, pi->dst4),
			   dp->ports[dst_ep->port].name, dst_ep->identity)->port = dst_ep->port;
	}

	/*
	 * The node's own connections to its pods (kubelet probes) are never
	 * denied, in either direction: its address (host_ip) comes only from
	 * the host port (pods and the uplink cannot carry it, see above).
	 */
	const struct dp_policy *enforced = pol;
	if (c->host_ip && pi->src4 == c->host_ip)
		pol = NULL;
	struct pol_result pre = {0};
	if (x->track && (rc = conntrack(dp, w, x, pol, &e, &pre, tr)) != 0) {
		pkt_drop(w, tr, m, (unsigned)rc);
		return;
	}
	if (c->host_ip && pi->dst4 == c->host_ip && e && x->side != e->orig_side)
		pol = NULL; /* a reply to the node */
	if (tr && enforced && !pol)
		trace_step(tr, NSDP_TRACE_POLICY, "allow: the node's own connection (kubelet), "
						  "never denied");
	/*
	 * An ICMP error about a tracked connection (fragmentation needed,
	 * unreachable, TTL exceeded) belongs to that connection: it passes
	 * when the connection does, whatever policy says about ICMP, and
	 * changes nothing in it. About no known connection: per packet.
	 */
	bool related = false;
	if (x->related) {
		const struct ct_entry *rel = ct_lookup(dp->ct, &x->key, x->hash);
		related = rel && (!pol || __atomic_load_n(&rel->policy_gen, __ATOMIC_ACQUIRE) !=
						  pol->epoch || rel->verdict != POL_DENY);
		if (tr)
			trace_step(tr, NSDP_TRACE_CONNTRACK,
				   "ICMP error quoting %s %s: %s", proto_str(pi->inner_proto),
				   ip4s(pi->inner_dst4, ta),
				   related ? "related to a tracked connection: allowed with it"
				   : rel ? "its connection is denied" : "no tracked connection: decided per packet");
	}
	if (tr && !x->track && !x->related)
		trace_step(tr, NSDP_TRACE_CONNTRACK, "untracked (%s%s): decided per packet",
			   proto_str(pi->proto), pi->proto == IPPROTO_ICMP ? " not echo" : "");
	if (tr && !enforced)
		trace_step(tr, NSDP_TRACE_POLICY, "no policy loaded: allow");
	if (pol && !related && (rc = policy(pol, w, x, e, &pre, in_idx, tr)) != 0) {
		pkt_drop(w, tr, m, (unsigned)rc);
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

	if (to_host >= 0) {
		uint64_t hm = __atomic_load_n(&dp->host_mac, __ATOMIC_RELAXED);
		if (!hm) {
			/* Not learned yet (the node has not asked for the
			 * gateway): the packet is lost (counted as no-route) and,
			 * a few times a second per worker, becomes an ARP request
			 * for the node's address. */
			if (tr || !dp_gcra_take(&w->host_arp, w->tsc)) {
				if (tr)
					trace_step(tr, NSDP_TRACE_OUTPUT,
						   "the node's MAC is not known yet");
				pkt_drop(w, tr, m, NSDP_DROP_NO_ROUTE);
				return;
			}
			dp_count_drop(w->stats, NSDP_DROP_NO_ROUTE);
			host_arp_request(c, m);
			pkt_tx(dp, w, tr, (unsigned)to_host, m);
			return;
		}
		memcpy(&eth->dst_addr, &hm, RTE_ETHER_ADDR_LEN);
		if (tr)
			trace_step(tr, NSDP_TRACE_OUTPUT, "to the node: port %s",
				   dp->ports[to_host].name)->port = (uint32_t)to_host;
		pkt_tx(dp, w, tr, (unsigned)to_host, m);
		return;
	}
	if (dst_ep) {
		rte_ether_addr_copy(&dst_ep->mac, &eth->dst_addr);
		if (tr) {
			char mac[RTE_ETHER_ADDR_FMT_SIZE];
			rte_ether_format_addr(mac, sizeof(mac), &dst_ep->mac);
			trace_step(tr, NSDP_TRACE_REWRITE, "TTL %u -> %u, destination MAC %s",
				   pi->ttl, l3[8], mac);
			trace_step(tr, NSDP_TRACE_OUTPUT, "deliver to port %s (%s)",
				   dp->ports[dst_ep->port].name, trace_ep_name(dp, pi->dst4))
				->port = dst_ep->port;
		}
		pkt_tx(dp, w, tr, dst_ep->port, m);
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
	if (tr)
		trace_step(tr, NSDP_TRACE_REWRITE, "TTL %u -> %u", pi->ttl, l3[8]);
	if (overlay_encap(m, &op, overlay_flow_hash(pi)) < 0) {
		if (tr)
			trace_step(tr, NSDP_TRACE_ENCAP, "no room for the outer headers");
		pkt_drop(w, tr, m, NSDP_DROP_MTU_EXCEEDED);
		return;
	}
	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
		m->ol_flags |= RTE_MBUF_F_TX_OUTER_IPV4 |
			       (c->overlay == NSDP_OVERLAY_GENEVE ? RTE_MBUF_F_TX_TUNNEL_GENEVE
								  : RTE_MBUF_F_TX_TUNNEL_VXLAN);
		m->outer_l2_len = RTE_ETHER_HDR_LEN;
		m->outer_l3_len = 20;
		m->l2_len = 8 + OVERLAY_HDR_LEN + RTE_ETHER_HDR_LEN;
	}
	if (tr) {
		/* Outer UDP source port: Ethernet 14 + IPv4 20, first field. */
		const uint8_t *udp = rte_pktmbuf_mtod_offset(m, const uint8_t *, 14 + 20);
		uint16_t sport = (uint16_t)(udp[0] << 8 | udp[1]);
		struct nsdp_trace_step *s = trace_step(
			tr, NSDP_TRACE_ENCAP, "%s vni %u src-port %u, %s -> %s (%s), %u bytes",
			c->overlay == NSDP_OVERLAY_GENEVE ? "geneve" : "vxlan", c->vni, sport,
			ip4s(c->vtep_ip, ta), ip4s(vtep->ip, tb), trace_vtep_name(dp, vtep->ip),
			rte_pktmbuf_pkt_len(m));
		s->value = c->vni;
		s->value2 = sport;
		trace_step(tr, NSDP_TRACE_OUTPUT, "port %s (uplink)", up->name)->port =
			(uint32_t)dp->uplink;
		tr->encap = true;
	}
	pkt_tx(dp, w, tr, (unsigned)dp->uplink, m);
}

/*
 * Policy decisions made for a group before pass 3, all in one
 * pol_decide_bulk() so that their cache misses overlap:
 *  - a probable new connection's (its bucket names no entry: fresh), in
 *    the packet's direction; admit() takes it (x->pre);
 *  - while connections decided under an older policy are being decided
 *    again (after a publication, policy() re-decided one in the previous
 *    group: w->redeciding), each such connection's, in its original
 *    direction; policy() takes it (x->redo). The look-ahead stops with the
 *    first group in which policy() re-decides none.
 */
static void decide_ahead(struct dp *dp, struct dp_worker *w, const struct dp_policy *pol,
			 struct pkt_ctx *ctx, unsigned k, uint64_t fresh)
{
	struct pol_query q[GROUP];
	struct pol_result res[GROUP];
	unsigned at[GROUP], nq = 0;
	const bool stale = w->redeciding;
	w->redeciding = false;
	for (unsigned j = 0; j < k; j++) {
		struct pkt_ctx *x = &ctx[j];
		bool fwd = true;
		if (!(fresh >> j & 1)) {
			if (!stale || !x->track)
				continue;
			struct ct_entry *e = ct_lookup(dp->ct, &x->key, x->hash);
			x->ent = e; /* conntrack() takes it instead of a second lookup */
			uint32_t gen = e ? __atomic_load_n(&e->policy_gen, __ATOMIC_ACQUIRE) : 0;
			if (gen == pol->epoch || gen == 0)
				continue;
			fwd = x->side == e->orig_side;
			x->redo_side = e->orig_side;
		}
		at[nq] = j;
		q[nq++] = dir_query(&x->pi, fwd);
	}
	if (!nq)
		return;
	pol_decide_bulk(pol->t, q, nq, res);
	for (unsigned i = 0; i < nq; i++) {
		struct pkt_ctx *x = &ctx[at[i]];
		if (fresh >> at[i] & 1)
			x->pre = res[i];
		else
			x->redo = res[i];
	}
}

void dp_process_burst(struct dp *dp, struct dp_worker *w, const struct dp_tables *t,
		      unsigned in_idx, struct rte_mbuf **pkts, unsigned n)
{
	const struct dp_port *in = &dp->ports[in_idx];
	/* Like t, valid until this worker's next quiescent state. */
	const struct dp_policy *pol = atomic_load_explicit(&dp->policy, memory_order_acquire);
	struct pkt_ctx ctx[GROUP];

	w->tsc = rte_rdtsc();
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
			classify(dp, w, t, in, in_idx, m, x, NULL);
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
		/*
		 * Buckets were prefetched in pass 1; now the entries they name.
		 * A packet whose bucket names none probably opens a connection:
		 * the entry it will fill is prefetched instead, and admit()'s
		 * policy decision is made now (decide_ahead), while those entry
		 * lines arrive.
		 */
		uint64_t fresh = 0;
		for (unsigned j = 0; j < k; j++)
			if (ctx[j].track && !ct_prefetch_entry(dp->ct, ctx[j].hash))
				fresh |= 1ull << j;
		if (pol && (fresh || w->redeciding))
			decide_ahead(dp, w, pol, ctx, k, fresh);
		for (unsigned j = 0; j < k; j++)
			forward(dp, w, t, pol, in, in_idx, pkts[idx[j]], &ctx[j], src_ep[j],
				dst_ep[j], NULL);
	}
}

/* The taps of an RX-queue list's epoll set that have frames, as a mask of
 * their indexes in the list (under 64), waiting up to wait_us. A stale
 * answer costs at most a read that finds nothing, or a poll's delay. */
static uint64_t taps_ready(int ep, unsigned wait_us)
{
	struct epoll_event ev[64];
	struct timespec ts = { (time_t)(wait_us / 1000000), (long)(wait_us % 1000000) * 1000 };
	int k = epoll_pwait2(ep, ev, 64, &ts, NULL);
	uint64_t ready = 0;
	for (int i = 0; i < k; i++)
		ready |= ev[i].data.u32 < 64 ? 1ull << ev[i].data.u32 : 0;
	return ready;
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
	uint64_t woke = 0; /* taps with frames, as the last idle wait found them */

	while (!dp->quit) {
		uint64_t t0 = rte_rdtsc();
		const struct dp_tables *t =
			atomic_load_explicit(&dp->tables, memory_order_acquire);
		unsigned total = 0;

		/* Like t: valid until this worker's next quiescent state. */
		const struct dp_rxq_list *rl =
			atomic_load_explicit(&w->rxqs, memory_order_acquire);
		unsigned nq = rl ? rl->n : 0;
		/* Which taps have frames: one system call instead of a read
		 * per tap (queues past the 64th are read anyway), none when the
		 * idle wait just said. */
		const int ep = rl ? rl->ep : -1;
		uint64_t ready = woke;
		if (ep >= 0 && !woke)
			ready = taps_ready(ep, 0);
		woke = 0;

		w->now = ct_now();
		for (unsigned q = 0; q < nq; q++) {
			const struct dp_rxq *rq = &rl->q[q];
			struct dp_vnet *vnet = dp->ports[rq->port].vnet;
			uint16_t nb;
			if (vnet) {
				if (q < 64 && !(ready >> q & 1))
					continue;
				uint64_t bad = 0;
				nb = dp_vnet_rx(vnet, rq->queue, dp->pool, dp->big, &w->vnet_spare,
						pkts, (uint16_t)burst, &bad);
				w->stats->drops[NSDP_DROP_VNET_BAD] += bad;
			} else {
				nb = rte_eth_rx_burst(dp->ports[rq->port].port_id, rq->queue,
						      pkts, (uint16_t)burst);
			}
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
			/* Taps wake the worker as soon as a frame comes (the other
			 * ports are polled after the sleep, as without taps). The
			 * list may be gone by now: at worst ep is closed and the
			 * wait returns at once. */
			if (sleep_us && ep >= 0) {
				woke = taps_ready(ep, sleep_us);
			} else if (sleep_us) {
				usleep(sleep_us);
			}
		}
	}
	rte_pktmbuf_free(w->vnet_spare);
	w->vnet_spare = NULL;
	rte_rcu_qsbr_thread_offline(dp->qsv, w->idx);
	rte_rcu_qsbr_thread_unregister(dp->qsv, w->idx);
	return 0;
}

/* ---- packet trace ----------------------------------------------------------- */

/* The frame a pod would send (to the gateway MAC), as bytes. */
static uint16_t trace_frame(const struct dp *dp, const struct nsdp_trace_req *q, uint32_t src,
			    uint32_t dst, const struct rte_ether_addr *src_mac, uint8_t *f)
{
	static const struct rte_ether_addr anon = {{0x02, 0, 0, 0, 0, 0xfe}};
	uint8_t *ip = f + 14, *l4 = ip + 20;
	uint16_t l4len;

	memcpy(f, dp->cfg.gateway_mac, 6);
	memcpy(f + 6, (src_mac ? src_mac : &anon)->addr_bytes, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	switch (q->proto) {
	case IPPROTO_TCP:
		l4len = 20;
		memset(l4, 0, l4len);
		l4[12] = 0x50;
		l4[13] = q->tcp_flags ? q->tcp_flags : 0x02;
		l4[14] = 0xff;
		l4[15] = 0xff;
		break;
	case IPPROTO_UDP:
		l4len = 8;
		memset(l4, 0, l4len);
		l4[5] = 8;
		break;
	case IPPROTO_SCTP:
		l4len = 12;
		memset(l4, 0, l4len);
		break;
	default: /* ICMP echo request, id = sport */
		l4len = 8;
		memset(l4, 0, l4len);
		l4[0] = 8;
		l4[4] = (uint8_t)(q->sport >> 8);
		l4[5] = (uint8_t)q->sport;
		l4[7] = 1;
		break;
	}
	if (q->proto != IPPROTO_ICMP) {
		l4[0] = (uint8_t)(q->sport >> 8);
		l4[1] = (uint8_t)q->sport;
		l4[2] = (uint8_t)(q->dport >> 8);
		l4[3] = (uint8_t)q->dport;
	}
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + l4len) >> 8);
	ip[3] = (uint8_t)(20 + l4len);
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = q->proto;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	uint16_t cs = pkt_ipv4_hdr_csum(ip, 20);
	ip[10] = (uint8_t)(cs >> 8);
	ip[11] = (uint8_t)cs;
	return (uint16_t)(14 + 20 + l4len);
}

int dp_trace_packet(struct dp *dp, const struct nsdp_trace_req *q, unsigned in_port,
		    struct dp_trace *tr, char *err, size_t errlen)
{
	/* The control thread publishes and frees tables and policy itself,
	 * so what it loads here stays valid for the whole trace (dp.h). */
	const struct dp_tables *t = atomic_load_explicit(&dp->tables, memory_order_acquire);
	const struct dp_policy *pol = atomic_load_explicit(&dp->policy, memory_order_acquire);
	/* Only `now` and `idx` are read on a traced path: no stats, no TX. */
	static struct dp_worker tw;
	uint32_t src, dst;
	uint8_t f[128];

	memset(tr, 0, offsetof(struct dp_trace, ct));
	tr->out_port = -1;
	tr->rule = UINT32_MAX;
	if (!t || in_port >= dp->n_ports || !dp->ports[in_port].role) {
		snprintf(err, errlen, "no tables published or no such port");
		return -EINVAL;
	}
	memcpy(&src, q->src.addr, 4);
	memcpy(&dst, q->dst.addr, 4);
	const struct dp_endpoint *sep = dp_ep_lookup(t, src);
	uint16_t len = trace_frame(dp, q, src, dst, sep ? &sep->mac : NULL, f);

	struct rte_mbuf *m = dp->pool ? rte_pktmbuf_alloc(dp->pool) : NULL;
	if (!m || !rte_pktmbuf_append(m, len)) {
		rte_pktmbuf_free(m);
		snprintf(err, errlen, "no mbuf to build the packet in");
		return -ENOMEM;
	}
	memcpy(rte_pktmbuf_mtod(m, uint8_t *), f, len);

	const struct dp_port *in = &dp->ports[in_port];
	if (in->role == NSDP_ROLE_UPLINK) {
		/* As the source's node sends it: its VTEP, its encapsulation. */
		int64_t nh = dp_route_lookup(t, src);
		char a[INET_ADDRSTRLEN];
		if (nh < 0 || nh == DP_ROUTE_LOCAL || nh == DP_ROUTE_NO_VTEP || nh >= t->n_vteps) {
			rte_pktmbuf_free(m);
			snprintf(err, errlen, "from the uplink: source %s is behind no remote VTEP",
				 ip4s(src, a));
			return -EINVAL;
		}
		const struct dp_vtep *v = &t->vteps[nh];
		struct ether_inner { uint8_t b[12]; } in_macs;
		memcpy(in_macs.b, dp->cfg.gateway_mac, 6);
		memcpy(in_macs.b + 6, dp->cfg.gateway_mac, 6);
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), in_macs.b, 12);
		struct pkt_info ipi;
		memset(&ipi, 0, sizeof(ipi));
		pkt_parse(rte_pktmbuf_mtod(m, const uint8_t *), len, &ipi);
		struct overlay_params op = {
			.src_ip = v->ip,
			.dst_ip = dp->cfg.vtep_ip,
			.udp_port = rte_cpu_to_be_16(dp->cfg.overlay_port),
			.type = dp->cfg.overlay,
			.vni = dp->cfg.vni,
		};
		rte_ether_addr_copy(&v->mac, &op.src_mac);
		rte_ether_addr_copy(&in->mac, &op.dst_mac);
		if (overlay_encap(m, &op, overlay_flow_hash(&ipi)) < 0) {
			rte_pktmbuf_free(m);
			snprintf(err, errlen, "cannot encapsulate the packet");
			return -ENOMEM;
		}
	}

	memset(&tw, 0, offsetof(struct dp_worker, tx));
	tw.now = ct_now();
	struct pkt_ctx x;
	classify(dp, &tw, t, in, in_port, m, &x, tr);
	if (x.drop) {
		pkt_drop(&tw, tr, m, x.drop);
	} else if (!x.done) {
		const struct dp_endpoint *sp = NULL, *dep = NULL;
		dp_ep_lookup_bulk(t, &x.pi.dst4, 1, &dep);
		if (in->role == NSDP_ROLE_POD)
			dp_ep_lookup_bulk(t, &x.pi.src4, 1, &sp);
		forward(dp, &tw, t, pol, in, in_port, m, &x, sp, dep, tr);
	}

	const char *rn = pol && tr->rule < pol->t->n_rules ? pol->t->rules[tr->rule] : NULL;
	struct nsdp_trace_step *s;
	if (tr->drop)
		s = trace_step(tr, NSDP_TRACE_VERDICT, "DROP %s%s%s", nsdp_drop_name(tr->drop),
			       tr->drop == NSDP_DROP_POLICY_DENY && rn ? " by " : "",
			       tr->drop == NSDP_DROP_POLICY_DENY && rn ? rn : "");
	else
		s = trace_step(tr, NSDP_TRACE_VERDICT, "FORWARD %s port %s%s%s",
			       tr->encap ? "encapsulated to" : "to",
			       tr->out_port >= 0 ? dp->ports[tr->out_port].name : "?",
			       rn ? ", allowed by " : "", rn ? rn : "");
	s->drop = tr->drop;
	s->verdict = tr->verdict;
	s->rule = tr->rule == UINT32_MAX ? NSDP_TRACE_NONE32 : tr->rule;
	s->port = tr->out_port < 0 ? NSDP_TRACE_NONE32 : (uint32_t)tr->out_port;
	if (tr->out) {
		rte_pktmbuf_free(tr->out);
		tr->out = NULL;
	}
	return 0;
}
