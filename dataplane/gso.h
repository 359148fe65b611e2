/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Software TCP segmentation (GSO) and receive coalescing (GRO) for TCP over
 * IPv4, for pods' tap interfaces.
 *
 * A pod's tap hands the dataplane TCP frames of up to 64 KB (Linux GSO,
 * announced in the virtio-net header); when the uplink cannot segment them,
 * gso_segment() cuts them into MSS-sized frames, plain or inside a
 * VXLAN/Geneve tunnel. In the other direction gso_coalesce() merges the
 * MTU-sized segments of a burst back into large frames (as Linux's GRO does)
 * before they are written to the pod's tap, whose virtio-net header then
 * carries GSO_TCPV4 and NEEDS_CSUM; gso_csum_complete() finishes such a
 * partial checksum where software must.
 *
 * Frames are single-segment mbufs. No allocation other than the mbufs, each
 * byte summed once per checksum. Pure functions: safe on any thread.
 */
#ifndef NSDP_DP_GSO_H
#define NSDP_DP_GSO_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* Where the headers of a frame to segment are (offsets from its start). */
struct gso_layout {
	uint16_t outer_l3; /* offset of the outer IPv4 header; 0: not encapsulated */
	uint16_t l3;       /* offset of the (inner) IPv4 header */
	uint16_t l4;       /* offset of the TCP header */
	uint16_t mss;      /* TCP payload bytes per segment */
};

/* The dataplane cuts a large frame into at most GSO_MAX_SEGS segments of at
 * least GSO_MIN_MSS payload bytes; frames outside that are refused
 * (nsdp-cni sets the pod tap's gso_max_segs to GSO_MAX_SEGS). */
#define GSO_MAX_SEGS 128
#define GSO_MIN_MSS 64

/* Most flows gso_coalesce() keeps open at once in a burst. */
#define GSO_COALESCE_FLOWS 8

/*
 * Cut one large frame (single-segment mbuf m: [outer Ethernet + IPv4 + UDP +
 * VXLAN/Geneve header +] Ethernet + IPv4 + TCP + payload) into segments of
 * at most lay->mss payload bytes, each a fresh single-segment mbuf from mp,
 * written to out[0..). Bytes after the end the IPv4 total length gives
 * (Ethernet padding) are not part of the frame.
 *
 * Each segment carries m's headers with: outer IPv4 total length,
 * identification + i and header checksum; outer UDP length, its checksum
 * left 0 if it is 0 in m, else computed in full; inner IPv4 total length,
 * identification + i (as Linux does for TCP GSO) and header checksum; TCP
 * sequence number + the segment's byte offset, FIN and PSH only on the last
 * segment, CWR only on the first, and the TCP checksum computed in full
 * whatever m's checksum field holds (m may carry only the pseudo-header sum,
 * CHECKSUM_PARTIAL). A payload that fits in one segment (or none) gives one
 * segment. pkt_len/data_len set, ol_flags 0, port copied from m.
 *
 * Returns the number of segments; -EINVAL when the layout does not match the
 * frame (offsets, ethertypes, versions, IHL, TCP data offset, IPv4/UDP
 * lengths vs the mbuf, not TCP, a fragment, mss 0, headers + mss beyond mp's
 * data room); -ENOSPC when more than max segments are needed or mp ran dry
 * (all allocated segments are freed again). m is never freed or modified.
 */
int gso_segment(const struct rte_mbuf *m, const struct gso_layout *lay,
		struct rte_mempool *mp, struct rte_mbuf **out, unsigned max);

/*
 * Complete a partial checksum (the virtio-net header's NEEDS_CSUM): the
 * 16-bit field at start + offset holds the pseudo-header sum; the frame from
 * `start` to len (the end of the L4 data, no Ethernet padding) is summed into
 * it and the complement stored, 0 written as 0xffff (as Linux does, so a
 * UDP checksum never reads as "none"). Returns 0, or -EINVAL when the field
 * is not inside the frame.
 */
int gso_csum_complete(uint8_t *frame, uint32_t len, uint16_t start, uint16_t offset);

/*
 * Receive coalescing of TCP/IPv4 (Linux's GRO) over a burst of decapsulated
 * frames. Segments of one flow that Linux would merge are combined into one
 * frame in a fresh mbuf from `big` (data room >= max_len + headroom); frames
 * that are not untagged Ethernet + IPv4 + TCP are left alone in their place.
 * Returns the new count: pkts[] is compacted in place, a merged frame takes
 * the place of its first segment, the order of a flow's frames is kept, and
 * merged input mbufs are freed.
 *
 * A segment joins its flow's open frame when: Ethernet headers identical
 * (ethertype IPv4); IPv4 IHL 5, not a fragment, same addresses, TOS, TTL
 * and DF; same ports; seq == the frame's seq + its payload so far; same ack
 * and window; TCP flags ACK or ACK|PSH in both; same TCP header length and
 * option bytes; payload > 0 and no more than the first segment's (the mss);
 * the IPv4 header checksum valid and the TCP checksum verified in full (for
 * the first segment too); the merged IPv4 total length <= max_len - 14. A
 * segment with PSH or shorter than the mss closes the frame; any other frame
 * of the flow closes it too, and a candidate that did not join starts a new
 * one. Up to GSO_COALESCE_FLOWS frames are open at once (the oldest is
 * closed for a new one). A TCP checksum is verified only when a second
 * segment is to be merged, so lone segments cost no pass over their payload.
 *
 * A merged frame (two or more segments): IPv4 total length and header
 * checksum fixed, identification of the first, TCP flags the OR of the
 * merged ones, TCP checksum field = the pseudo-header sum, not inverted
 * (NEEDS_CSUM with csum_start = l4, csum_offset = 16); ol_flags =
 * RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM,
 * tso_segsz = mss, l2_len 14, l3_len 20, l4_len the TCP header length, port
 * of the first. Segments not merged are untouched (same mbuf, bytes,
 * ol_flags); with `big` empty nothing is merged.
 */
unsigned gso_coalesce(struct rte_mbuf **pkts, unsigned n, struct rte_mempool *big,
		      uint32_t max_len);

#endif
