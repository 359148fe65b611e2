/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drop reasons: the one list every part agrees on.
 *
 * Each reason is defined exactly once, here, as an X-macro row
 *   X(ENUM_SUFFIX, "cli-name", "what happened")
 * The dataplane counts drops per lcore by this enum, the control protocol
 * reports them by enum value, nsdpctl/telemetry/metrics print the name, and
 * the tests check counters by name.  New reasons are appended only (the
 * numeric value is part of the wire protocol).
 */
#ifndef NSDP_DROP_H
#define NSDP_DROP_H

#define NSDP_DROP_REASONS(X)                                                   \
	X(L2_TRUNCATED, "l2-truncated", "frame shorter than its Ethernet header")  \
	X(L2_ETHERTYPE, "l2-ethertype", "EtherType not IPv4, IPv6 or ARP")         \
	X(ARP_INVALID, "arp-invalid", "ARP that is malformed or not for us")       \
	X(IP_TRUNCATED, "ip-truncated", "IPv4 header longer than the frame")       \
	X(IP_VERSION, "ip-version", "IP version field does not match EtherType")  \
	X(IP_BAD_IHL, "ip-bad-ihl", "IPv4 IHL below 5")                            \
	X(IP_BAD_LEN, "ip-bad-len", "IPv4 total length inconsistent with frame")   \
	X(IP_BAD_CSUM, "ip-bad-csum", "IPv4 header checksum wrong")               \
	X(IP_FRAGMENT, "ip-fragment", "IPv4 fragment (not reassembled)")           \
	X(IP_TTL, "ip-ttl", "TTL/hop limit exhausted")                            \
	X(IPV6_UNSUPPORTED, "ipv6-unsupported", "IPv6 not enabled on this node")  \
	X(L4_TRUNCATED, "l4-truncated", "TCP/UDP/SCTP/ICMP header truncated")     \
	X(L4_BAD_LEN, "l4-bad-len", "UDP length inconsistent with IP length")     \
	X(NOT_FOR_US, "not-for-us", "uplink packet not addressed to this VTEP")   \
	X(OVERLAY_BAD_HDR, "overlay-bad-hdr", "VXLAN/Geneve header invalid")      \
	X(OVERLAY_BAD_VNI, "overlay-bad-vni", "VNI is not this cluster's VNI")    \
	X(OVERLAY_UNKNOWN_VTEP, "overlay-unknown-vtep",                            \
	  "outer source is not a known node VTEP")                                 \
	X(OVERLAY_INNER, "overlay-inner", "inner frame too short or VLAN-tagged")  \
	X(NO_ENDPOINT, "no-endpoint", "destination in this node's pod CIDR but no pod") \
	X(NO_ROUTE, "no-route", "no route to the destination")                    \
	X(NO_VTEP, "no-vtep", "route points to a VTEP that does not exist")       \
	X(SRC_SPOOF, "src-spoof", "pod sent from an address that is not its own") \
	X(MTU_EXCEEDED, "mtu-exceeded", "packet too big for the egress MTU")      \
	X(CT_FULL, "ct-full", "conntrack table full, new flow refused")           \
	X(CT_INVALID, "ct-invalid", "packet invalid for its connection state")    \
	X(POLICY_DENY, "policy-deny", "denied by network policy")                 \
	X(TX_FULL, "tx-full", "transmit queue full")                              \
	X(HAIRPIN, "hairpin", "packet would leave on the port it came from")       \
	X(VNET_BAD, "vnet-bad", "tap frame cut short, refused by the tap, or GSO/checksum fields that do not fit it") \
	X(GSO_FAILED, "gso-failed", "large TCP segment that could not be cut for its egress port")

/* 0 means "not dropped", so packet-path functions return 0 or a reason. */
enum nsdp_drop_reason {
	NSDP_DROP_NONE = 0,
#define NSDP_X_ENUM(e, name, desc) NSDP_DROP_##e,
	NSDP_DROP_REASONS(NSDP_X_ENUM)
#undef NSDP_X_ENUM
	NSDP_DROP_MAX
};

/* Name of a drop reason ("l2-truncated"); "unknown" when out of range. */
static inline const char *nsdp_drop_name(unsigned int r)
{
	static const char *const names[] = {
		"none",
#define NSDP_X_NAME(e, name, desc) name,
		NSDP_DROP_REASONS(NSDP_X_NAME)
#undef NSDP_X_NAME
	};
	return r < NSDP_DROP_MAX ? names[r] : "unknown";
}

static inline const char *nsdp_drop_desc(unsigned int r)
{
	static const char *const descs[] = {
		"not dropped",
#define NSDP_X_DESC(e, name, desc) desc,
		NSDP_DROP_REASONS(NSDP_X_DESC)
#undef NSDP_X_DESC
	};
	return r < NSDP_DROP_MAX ? descs[r] : "unknown";
}

#endif /* NSDP_DROP_H */
