/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "gso.h"
#include "overlay.h"
#include "pkt.h"

#define ETH_HLEN 14
#define ETH_P_IPV4 0x0800
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/*
 * Ones'-complement sums are DPDK's raw sums: 16-bit words in memory order,
 * so a folded sum is stored with memcpy. An unfolded uint32_t holds any
 * 64 KB region plus a few folded sums without overflow.
 */
static inline uint16_t fold(uint32_t sum)
{
	return __rte_raw_cksum_reduce(sum);
}

static inline void put_sum(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Pseudo header of the IPv4 header at ip: addresses, protocol, l4_len. */
static inline uint32_t phdr_sum(const uint8_t *ip, uint16_t l4_len)
{
	return __rte_raw_cksum(ip + 12, 8, 0) + rte_cpu_to_be_16(ip[9]) +
	       rte_cpu_to_be_16(l4_len);
}

/* The header checksum of the IPv4 header at ip, as overlay.c writes it. */
static inline void ipv4_fix_csum(uint8_t *ip)
{
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)ip;
	h->hdr_checksum = 0;
	h->hdr_checksum = rte_ipv4_cksum(h);
}

/* ---- segmentation --------------------------------------------------- */

/* The IPv4 header at f + off of a frame of len bytes: its length, or 0. */
static unsigned ipv4_hdr(const uint8_t *f, uint32_t len, uint32_t off, uint8_t proto)
{
	const uint8_t *ip = f + off;
	if (off < ETH_HLEN || off + 20 > len || pkt_rd16(ip - 2) != ETH_P_IPV4 ||
	    (ip[0] >> 4) != 4 || ip[9] != proto ||
	    (pkt_rd16(ip + 6) & 0x3fff) /* MF or an offset: a fragment */)
		return 0;
	unsigned ihl = (ip[0] & 0xfu) * 4u;
	return ihl >= 20 ? ihl : 0;
}

int gso_segment(const struct rte_mbuf *m, const struct gso_layout *lay,
		struct rte_mempool *mp, struct rte_mbuf **out, unsigned max)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->data_len, o3 = lay->outer_l3, l3 = lay->l3, l4 = lay->l4;
	uint32_t mss = lay->mss, ol4 = 0;

	if (m->nb_segs != 1 || mss == 0)
		return -EINVAL;
	unsigned ihl = ipv4_hdr(f, len, l3, IPPROTO_TCP);
	if (!ihl || l4 != l3 + ihl || l4 + 20 > len)
		return -EINVAL;
	uint32_t end = l3 + pkt_rd16(f + l3 + 2);
	uint32_t hlen = l4 + (f[l4 + 12] >> 4) * 4u; /* all headers */
	if (hlen < l4 + 20 || hlen > end || end > len)
		return -EINVAL;
	if (o3) {
		/* Outer IPv4 + UDP + tunnel header + inner Ethernet before l3,
		 * all ending where the inner packet ends; an even distance from
		 * the UDP header to the TCP header keeps the sums aligned. */
		unsigned oihl = o3 + 20 <= l3 ? ipv4_hdr(f, len, o3, IPPROTO_UDP) : 0;
		ol4 = o3 + oihl;
		if (!oihl || ol4 + 8 + OVERLAY_HDR_LEN + ETH_HLEN > l3 || ((l3 - ol4) & 1) ||
		    o3 + pkt_rd16(f + o3 + 2) != end || ol4 + pkt_rd16(f + ol4 + 4) != end)
			return -EINVAL;
	}
	uint32_t room = rte_pktmbuf_data_room_size(mp);
	if (hlen + mss + RTE_PKTMBUF_HEADROOM > room)
		return -EINVAL;
	if (max == 0 || end - hlen > (uint64_t)mss * max)
		return -ENOSPC;

	const uint8_t *tcp = f + l4;
	uint16_t thl = (uint16_t)(hlen - l4);
	uint16_t oid = o3 ? pkt_rd16(f + o3 + 4) : 0, id = pkt_rd16(f + l3 + 4);
	uint32_t seq = rd32(tcp + 4), addr_sum = phdr_sum(f + l3, 0);
	int udp_csum = o3 && pkt_rd16(f + ol4 + 6) != 0;
	unsigned n = 0;
	uint32_t off = hlen; /* of the next segment's payload in m */

	do {
		uint16_t plen = (uint16_t)RTE_MIN(end - off, mss);
		uint16_t slen = (uint16_t)(hlen + plen);
		struct rte_mbuf *s = rte_pktmbuf_alloc(mp);
		if (!s) {
			rte_pktmbuf_free_bulk(out, n);
			return -ENOSPC;
		}
		uint8_t *d = rte_pktmbuf_mtod(s, uint8_t *);
		memcpy(d, f, hlen);
		memcpy(d + hlen, f + off, plen);
		s->data_len = slen;
		s->pkt_len = slen;
		s->port = m->port;

		uint8_t *ip = d + l3, *t = d + l4;
		uint8_t flags = tcp[13];
		if (n)
			flags &= (uint8_t)~TCP_CWR;
		if (off + plen != end)
			flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
		wr32(t + 4, seq + (off - hlen));
		t[13] = flags;
		t[16] = t[17] = 0;
		/* TCP bytes alone (S) and with the pseudo header: the outer UDP
		 * checksum covers the TCP bytes again as S + checksum. */
		uint16_t tsum = fold(__rte_raw_cksum(d + hlen, plen, __rte_raw_cksum(t, thl, 0)));
		uint16_t tcp_len = (uint16_t)(thl + plen);
		uint16_t tcsum = (uint16_t)~fold(addr_sum + rte_cpu_to_be_16(tcp_len) + tsum);
		put_sum(t + 16, tcsum);
		wr16(ip + 2, (uint16_t)(slen - l3));
		wr16(ip + 4, (uint16_t)(id + n));
		ipv4_fix_csum(ip);

		if (o3) {
			uint8_t *oip = d + o3, *u = d + ol4;
			wr16(oip + 2, (uint16_t)(slen - o3));
			wr16(oip + 4, (uint16_t)(oid + n));
			ipv4_fix_csum(oip);
			wr16(u + 4, (uint16_t)(slen - ol4));
			if (udp_csum) {
				u[6] = u[7] = 0;
				uint32_t sum = phdr_sum(oip, (uint16_t)(slen - ol4)) +
					       __rte_raw_cksum(u, l4 - ol4, 0) + tsum + tcsum;
				uint16_t c = (uint16_t)~fold(sum);
				put_sum(u + 6, c ? c : 0xffff);
			}
		}
		out[n++] = s;
		off += plen;
	} while (off < end);
	return (int)n;
}

int gso_csum_complete(uint8_t *frame, uint32_t len, uint16_t start, uint16_t offset)
{
	if ((uint32_t)start + offset + 2 > len)
		return -EINVAL;
	/* Fold every 32 KB so any length sums without overflow. */
	uint32_t sum = 0;
	for (uint32_t p = start; p < len; p += 32768)
		sum = fold(__rte_raw_cksum(frame + p, RTE_MIN(len - p, 32768u), sum));
	uint16_t c = (uint16_t)~sum;
	put_sum(frame + start + offset, c ? c : 0xffff);
	return 0;
}

/* ---- coalescing ----------------------------------------------------- */

/* A parsed TCP/IPv4 frame of a burst. */
struct seg {
	struct rte_mbuf *m;
	uint8_t *eth, *ip, *tcp; /* tcp NULL: a later fragment (no ports) */
	uint64_t addrs;          /* IPv4 source and destination, as in memory */
	uint32_t ports;
	uint16_t tl;             /* IPv4 total length */
	uint16_t thl;            /* TCP header length */
	uint16_t plen;           /* TCP payload length */
};

/* A frame open for merging: its first segment, or the merged frame. */
struct flow {
	struct seg s;
	int merged;        /* s.m is the merged frame from `big` */
	uint32_t next_seq;
	uint16_t mss;
	unsigned pos;      /* its index in the compacted pkts[] */
	uint8_t flags;     /* OR of the merged segments' */
};

enum { OTHER, TCP, CANDIDATE };

/*
 * OTHER: not untagged Ethernet + IPv4 + TCP. TCP: a TCP/IPv4 frame that
 * cannot be merged (it still closes its flow). CANDIDATE: may be merged,
 * all but its TCP checksum checked.
 */
static int parse(struct rte_mbuf *m, struct seg *s)
{
	uint8_t *e = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t len = m->data_len;
	if (m->nb_segs != 1 || len < ETH_HLEN + 20 || pkt_rd16(e + 12) != ETH_P_IPV4)
		return OTHER;
	uint8_t *ip = e + ETH_HLEN;
	unsigned ihl = (ip[0] & 0xfu) * 4u;
	if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != IPPROTO_TCP)
		return OTHER;
	s->m = m;
	s->eth = e;
	s->ip = ip;
	memcpy(&s->addrs, ip + 12, 8);
	uint16_t frag = pkt_rd16(ip + 6);
	if (frag & 0x1fff) {
		s->tcp = NULL;
		return TCP;
	}
	if (len < ETH_HLEN + ihl + 20)
		return OTHER;
	uint8_t *t = ip + ihl;
	s->tcp = t;
	memcpy(&s->ports, t, 4);
	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG)
		return TCP; /* a 64 KB segment already (from another tap) */
	s->tl = pkt_rd16(ip + 2);
	s->thl = (uint16_t)((t[12] >> 4) * 4u);
	if (ihl != 20 || (frag & 0x2000) || s->tl > len - ETH_HLEN || s->thl < 20 ||
	    s->tl <= 20 + s->thl || (t[13] != TCP_ACK && t[13] != (TCP_ACK | TCP_PSH)) ||
	    pkt_ipv4_hdr_csum(ip, 20) != 0)
		return TCP;
	s->plen = (uint16_t)(s->tl - 20 - s->thl);
	return CANDIDATE;
}

static int tcp_csum_ok(const struct seg *s)
{
	uint16_t l4_len = (uint16_t)(s->tl - 20);
	return fold(phdr_sum(s->ip, l4_len) + __rte_raw_cksum(s->tcp, l4_len, 0)) == 0xffff;
}

/* Every header field a segment must share with the frame to join it. */
static int can_merge(const struct flow *f, const struct seg *s, uint32_t max_tl)
{
	const uint8_t *fi = f->s.ip, *ft = f->s.tcp;
	return !memcmp(s->eth, f->s.eth, 12) && s->ip[1] == fi[1] /* TOS */ &&
	       s->ip[8] == fi[8] /* TTL */ && ((s->ip[6] ^ fi[6]) & 0x40) == 0 /* DF */ &&
	       rd32(s->tcp + 4) == f->next_seq && !memcmp(s->tcp + 8, ft + 8, 4) /* ack */ &&
	       !memcmp(s->tcp + 14, ft + 14, 2) /* window */ && s->thl == f->s.thl &&
	       !memcmp(s->tcp + 20, ft + 20, s->thl - 20u) && s->plen <= f->mss &&
	       (uint32_t)f->s.tl + s->plen <= max_tl;
}

/*
 * Append s's payload to f. The second segment first checks the first's TCP
 * checksum and copies it into a frame from `big`. 0: not merged.
 */
static int merge(struct flow *f, const struct seg *s, struct rte_mempool *big,
		 struct rte_mbuf **pkts)
{
	if (!f->merged) {
		struct rte_mbuf *b;
		if (!tcp_csum_ok(&f->s) || !(b = rte_pktmbuf_alloc(big)))
			return 0;
		uint8_t *d = rte_pktmbuf_mtod(b, uint8_t *);
		memcpy(d, f->s.eth, ETH_HLEN + f->s.tl);
		b->port = f->s.m->port;
		rte_pktmbuf_free(f->s.m);
		pkts[f->pos] = b;
		f->s.m = b;
		f->s.eth = d;
		f->s.ip = d + ETH_HLEN;
		f->s.tcp = d + ETH_HLEN + 20;
		f->merged = 1;
	}
	memcpy(f->s.eth + ETH_HLEN + f->s.tl, s->tcp + s->thl, s->plen);
	f->s.tl = (uint16_t)(f->s.tl + s->plen);
	f->next_seq += s->plen;
	f->flags |= s->tcp[13];
	rte_pktmbuf_free(s->m);
	return 1;
}

/* Finish a merged frame's headers and metadata. */
static void finish(struct flow *f)
{
	if (!f->merged)
		return;
	struct rte_mbuf *b = f->s.m;
	uint8_t *ip = f->s.ip, *t = f->s.tcp;
	b->data_len = (uint16_t)(ETH_HLEN + f->s.tl);
	b->pkt_len = b->data_len;
	wr16(ip + 2, f->s.tl);
	ipv4_fix_csum(ip);
	t[13] = f->flags;
	put_sum(t + 16, fold(phdr_sum(ip, (uint16_t)(f->s.tl - 20))));
	b->ol_flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
	b->tso_segsz = f->mss;
	b->l2_len = ETH_HLEN;
	b->l3_len = 20;
	b->l4_len = f->s.thl;
}

unsigned gso_coalesce(struct rte_mbuf **pkts, unsigned n, struct rte_mempool *big,
		      uint32_t max_len)
{
	struct flow fl[GSO_COALESCE_FLOWS];
	unsigned nf = 0, w = 0;
	uint32_t room = rte_pktmbuf_data_room_size(big);
	room = room > RTE_PKTMBUF_HEADROOM ? room - RTE_PKTMBUF_HEADROOM : 0;
	uint32_t max_tl = RTE_MIN(RTE_MIN(max_len, room), ETH_HLEN + 65535u);
	max_tl = max_tl > ETH_HLEN ? max_tl - ETH_HLEN : 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct seg s;
		int kind = parse(m, &s);
		int merged = 0;

		/* The flow's open frame (for a later fragment, every one of
		 * its addresses): merge into it, or close it. */
		for (unsigned k = 0; kind != OTHER && k < nf;) {
			struct flow *f = &fl[k];
			if (f->s.addrs != s.addrs || (s.tcp && f->s.ports != s.ports)) {
				k++;
				continue;
			}
			merged = kind == CANDIDATE && can_merge(f, &s, max_tl) &&
				 tcp_csum_ok(&s) && merge(f, &s, big, pkts);
			if (merged && s.plen == f->mss && !(s.tcp[13] & TCP_PSH))
				break;
			finish(f);
			fl[k] = fl[--nf];
			if (merged || s.tcp) /* ports given: that was its only flow */
				break;
		}
		if (merged)
			continue;
		if (kind == CANDIDATE && !(s.tcp[13] & TCP_PSH)) {
			if (nf == GSO_COALESCE_FLOWS) { /* close the oldest */
				unsigned old = 0;
				for (unsigned k = 1; k < nf; k++)
					if (fl[k].pos < fl[old].pos)
						old = k;
				finish(&fl[old]);
				fl[old] = fl[--nf];
			}
			fl[nf++] = (struct flow){
				.s = s,
				.next_seq = rd32(s.tcp + 4) + s.plen,
				.mss = s.plen,
				.pos = w,
				.flags = s.tcp[13],
			};
		}
		pkts[w++] = m;
	}
	for (unsigned k = 0; k < nf; k++)
		finish(&fl[k]);
	return w;
}
