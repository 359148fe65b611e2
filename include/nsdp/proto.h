/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control protocol between nsdp-agent/nsdpctl and nsdp-dataplane.
 *
 * Transport: a SOCK_STREAM Unix socket. Every message is a fixed header
 * followed by `len` payload bytes. All integers are in host byte order (both
 * ends run on the same node); addresses are in network byte order.
 *
 * Session:
 *   client: HELLO{version}           dataplane: HELLO{version, generation}
 *   client: SNAPSHOT_BEGIN           (optional: what follows replaces all tables)
 *   client: EP_ADD / EP_DEL / ROUTE_* / VTEP_* ...   (no reply each)
 *   client: PORT_ADD / PORT_DEL                      (no reply each; since 1.1)
 *   client: COMMIT (hdr.generation = G)
 *   dataplane: ACK{generation = G, applied, rejected, first error}
 * An ACK is sent only after the new tables are published and every worker has
 * passed a quiescent state, i.e. when G is enforced on every packet.
 * A change that fails validation is rejected alone; the rest of the batch is
 * applied and the ACK says how many were rejected and why the first one was.
 *
 * Queries (GET_*) are answered by a message of the same type with the
 * NSDP_MSG_REPLY bit set. A request the dataplane cannot parse is answered by
 * NSDP_MSG_ERROR and the connection stays open.
 *
 * Compatibility: a dataplane accepts clients with the same major version
 * (hdr.version >> 8) and answers HELLO with its own version; new message
 * types and new trailing fields bump the minor version.
 */
#ifndef NSDP_PROTO_H
#define NSDP_PROTO_H

#include <stdint.h>

#define NSDP_PROTO_MAGIC 0x5044534eu /* "NSDP" little-endian */
/* major 1; minor 1: PORT_ADD/PORT_DEL; minor 2: TRACE; minor 3: FLOWLOG_READ,
 * audit verdicts, nsdp_policy_rule.audited, flow-log lcore counters */
#define NSDP_PROTO_VERSION 0x0103u
#define NSDP_PROTO_MAX_PAYLOAD (64u << 20)
#define NSDP_NAME_LEN 64
#define NSDP_PORT_NAME_LEN 32

struct nsdp_msg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;        /* payload bytes following this header */
	uint32_t seq;        /* chosen by the client, echoed in the reply */
	uint64_t generation; /* changes: the generation they belong to */
};

#define NSDP_MSG_REPLY 0x8000u

enum nsdp_msg_type {
	NSDP_MSG_HELLO = 1,
	NSDP_MSG_SNAPSHOT_BEGIN = 2,
	NSDP_MSG_EP_ADD = 3,
	NSDP_MSG_EP_DEL = 4,
	NSDP_MSG_ROUTE_ADD = 5,
	NSDP_MSG_ROUTE_DEL = 6,
	NSDP_MSG_VTEP_ADD = 7,
	NSDP_MSG_VTEP_DEL = 8,
	NSDP_MSG_COMMIT = 9,
	NSDP_MSG_ACK = 10,
	NSDP_MSG_ERROR = 11,
	NSDP_MSG_GET_INFO = 20,
	NSDP_MSG_GET_PORTS = 21,
	NSDP_MSG_GET_STATS = 22,
	NSDP_MSG_GET_ENDPOINTS = 23,
	NSDP_MSG_GET_ROUTES = 24,
	NSDP_MSG_GET_VTEPS = 25,
	NSDP_MSG_GET_FLOWS = 26,
	NSDP_MSG_CT_FLUSH = 27,
	NSDP_MSG_POLICY_SET = 28, /* payload: a compiled policy (below); at COMMIT */
	NSDP_MSG_GET_POLICY = 29, /* reply: nsdp_policy_stats_hdr + rules */
	NSDP_MSG_PORT_ADD = 30,   /* payload: nsdp_port_req; at COMMIT (1.1) */
	NSDP_MSG_PORT_DEL = 31,   /* payload: nsdp_port_req, only `name` read (1.1) */
	NSDP_MSG_TRACE = 32,      /* payload: nsdp_trace_req; reply below (1.2) */
	NSDP_MSG_FLOWLOG_READ = 33, /* payload: nsdp_flowlog_req; reply below (1.3) */
};

/* An IPv4 or IPv6 address. IPv4 lives in addr[0..3]. */
struct nsdp_ip {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t pad[3];
	uint8_t addr[16];
};

struct nsdp_hello {
	uint16_t version;
	uint16_t pad;
	uint32_t pid;
	uint64_t generation; /* dataplane: the generation now effective */
	char name[NSDP_NAME_LEN];
};

/* A pod on this node. Key: ip. */
struct nsdp_endpoint {
	struct nsdp_ip ip;
	char port[NSDP_PORT_NAME_LEN]; /* the dataplane port name the pod sits on */
	uint8_t mac[6];                /* the pod's interface MAC */
	uint16_t flags;
	uint32_t identity;             /* security identity (policy) */
	char name[NSDP_NAME_LEN];      /* "namespace/pod", for display */
};

/*
 * A route. vtep.family == 0: prefix is this node's pod CIDR, delivered
 * locally by endpoint lookup (a miss is dropped as no-endpoint).
 * Otherwise: encapsulate to the node VTEP `vtep`. Key: prefix/len.
 */
struct nsdp_route {
	struct nsdp_ip prefix;
	uint8_t prefix_len;
	uint8_t pad[3];
	struct nsdp_ip vtep;
};

/* A node's tunnel endpoint. Key: ip. */
struct nsdp_vtep {
	struct nsdp_ip ip;
	uint8_t mac[6]; /* underlay next-hop MAC for this VTEP */
	uint16_t pad;
	char name[NSDP_NAME_LEN]; /* node name, for display */
};

struct nsdp_ack {
	uint64_t generation; /* now effective */
	uint32_t applied;
	uint32_t rejected;
	int32_t status; /* 0 or -errno of the first rejected change */
	char error[192];
};

struct nsdp_error {
	int32_t status;
	char error[192];
};

struct nsdp_info {
	uint16_t version;
	uint16_t n_ports;
	uint16_t n_workers;
	uint8_t overlay; /* enum nsdp_overlay */
	uint8_t pad;
	uint32_t vni;
	uint32_t mtu;
	struct nsdp_ip vtep;
	uint64_t generation;
	uint64_t uptime_ms;
	uint32_t ct_size;
	uint32_t ct_used;
	char node[NSDP_NAME_LEN];
};

enum nsdp_overlay { NSDP_OVERLAY_VXLAN = 1, NSDP_OVERLAY_GENEVE = 2 };
/* HOST: the node's own network stack (a veth or tap in the node's
 * namespace), through which the node reaches its pods (kubelet probes) and
 * pods reach the node and what lies beyond it. */
enum nsdp_port_role { NSDP_ROLE_UPLINK = 1, NSDP_ROLE_POD = 2, NSDP_ROLE_HOST = 3 };

static inline const char *nsdp_port_role_name(unsigned role)
{
	return role == NSDP_ROLE_UPLINK ? "uplink"
	       : role == NSDP_ROLE_POD	? "pod"
	       : role == NSDP_ROLE_HOST ? "host"
					: "?";
}

/*
 * Runtime ports (PORT_ADD / PORT_DEL, protocol 1.1): a pod's interface
 * attached while the dataplane runs (what nsdp-cni does for each pod).
 *
 * Both are queued like table changes and carried out by the next COMMIT,
 * in this order whatever the order they were sent in:
 *   1. PORT_ADDs: the device is probed (rte_dev_probe(devargs)), given one
 *      RX queue per worker (fewer if the device has fewer) and one TX queue
 *      per worker, and started;
 *   2. the table changes (EP_ADD may name a port added in step 1);
 *   3. PORT_DELs: refused if an endpoint of the new state still sits on the
 *      port (delete it in the same batch);
 * then the tables are published and the workers' RX-queue lists replaced
 * (both under RCU), and only after every worker has passed a quiescent
 * state are deleted ports stopped, closed and removed (rte_dev_remove).
 * A failing PORT_ADD/PORT_DEL is rejected alone, like any change, with an
 * error naming the port and the field. Only ports added this way can be
 * deleted; ports of the configuration file stay.
 */
#define NSDP_DEVARGS_LEN 256

struct nsdp_port_req {
	char name[NSDP_PORT_NAME_LEN]; /* dataplane port name, unique */
	uint8_t role;                  /* NSDP_ROLE_POD (the only one allowed) */
	uint8_t pad;
	uint16_t queues;  /* RX queues; 0: one per worker (capped by the device) */
	uint16_t rx_desc; /* 0: the dataplane's default */
	uint16_t tx_desc; /* 0: the dataplane's default */
	/* EAL device string, e.g. "net_af_packet7,iface=nsdpa1b2c3,qdisc_bypass=1"
	 * or "net_af_xdp7,iface=...". The device name (up to the first comma)
	 * must not exist yet. */
	char devargs[NSDP_DEVARGS_LEN];
};

#define NSDP_PORT_F_HOTPLUG 0x1 /* nsdp_port_info.flags: added by PORT_ADD */
#define NSDP_PORT_ID_NONE 0xffff /* nsdp_port_info.port_id: not a DPDK port (vnet) */

/*
 * GET_PORTS reply: one entry per port slot; the slot index is the port's
 * index in GET_STATS. A slot freed by PORT_DEL (and not reused yet) is
 * listed with role 0 and an empty name.
 */
struct nsdp_port_info {
	uint16_t port_id;
	uint8_t role;
	uint8_t link_up;
	uint16_t rx_queues;
	uint16_t tx_queues;
	uint32_t speed_mbps;
	uint32_t mtu;
	uint8_t mac[6];
	uint16_t flags; /* NSDP_PORT_F_* (1.1; 0 from a 1.0 dataplane) */
	char name[NSDP_PORT_NAME_LEN];
	char driver[NSDP_PORT_NAME_LEN];
	uint64_t hw_ipackets, hw_opackets, hw_imissed, hw_ierrors, hw_oerrors;
};

/*
 * GET_STATS reply: nsdp_stats_hdr, then n_lcores times
 *   nsdp_lcore_stats, n_ports x nsdp_port_counters, n_drops x uint64_t.
 */
struct nsdp_stats_hdr {
	uint16_t n_lcores;
	uint16_t n_ports;
	uint16_t n_drops;
	uint16_t pad;
	uint64_t tsc_hz;
};

struct nsdp_lcore_stats {
	uint32_t lcore_id;
	uint32_t pad;
	uint64_t busy_cycles;  /* cycles spent in bursts that had packets */
	uint64_t busy_packets; /* packets processed in those bursts */
	uint64_t polls;
	uint64_t idle_polls;
	uint64_t ct_created;
	/* Flow-log records (1.3): queued; not queued because over the rate
	 * limit; not queued because the lcore's record ring was full. */
	uint64_t flowlog_records;
	uint64_t flowlog_rate_limited;
	uint64_t flowlog_ring_full;
	/* Denied new connections given no conntrack entry (tables.denied_entries
	 * spent): decided again per packet (1.3). */
	uint64_t ct_denied_uncached;
};

struct nsdp_port_counters {
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
};

/* GET_FLOWS request payload; the reply is nsdp_flows_hdr + count x nsdp_flow. */
struct nsdp_flows_req {
	uint32_t offset; /* table slot to start from */
	uint32_t max;
};

struct nsdp_flows_hdr {
	uint32_t count;
	uint32_t next_offset; /* 0 when the scan is complete */
};

/*
 * Connection states, reported in nsdp_flow.state: X(ENUM_SUFFIX, "name").
 * The dataplane's enum ct_state is generated from this list.
 */
#define NSDP_CT_STATES(X)                                                      \
	X(NONE, "none")                                                        \
	X(TCP_SYN_SENT, "syn-sent")                                            \
	X(TCP_SYN_RECV, "syn-recv")                                            \
	X(TCP_ESTABLISHED, "established")                                      \
	X(TCP_FIN_WAIT, "fin-wait")   /* one side sent FIN */                  \
	X(TCP_TIME_WAIT, "time-wait") /* both sides sent FIN */                \
	X(TCP_CLOSED, "closed")       /* RST seen */                           \
	X(UDP_NEW, "udp-new")         /* one direction seen */                 \
	X(UDP_STREAM, "udp-stream")   /* both directions seen */               \
	X(ICMP, "icmp")                                                        \
	X(OTHER, "other")

static inline const char *nsdp_ct_state_name(unsigned s)
{
	static const char *const names[] = {
#define NSDP_X_CT_NAME(e, name) name,
		NSDP_CT_STATES(NSDP_X_CT_NAME)
#undef NSDP_X_CT_NAME
	};
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

struct nsdp_flow {
	struct nsdp_ip src, dst;
	uint16_t sport, dport; /* host order */
	uint8_t proto;
	uint8_t state; /* NSDP_CT_STATES order; nsdp_ct_state_name() */
	uint16_t flags;
	uint32_t age_s;     /* seconds since last packet */
	uint32_t expires_s; /* seconds until it expires if idle */
	uint32_t policy_gen;
	uint8_t verdict;
	uint8_t pad[3];
};

/*
 * POLICY_SET payload: the compiled policy tables (see dataplane/policy.h
 * for their meaning), replacing the current ones at the next COMMIT.
 * Layout, all arrays packed back to back after the header, in this order:
 *   u64 ip_keys[ip_slots]      u32 ip_vals[ip_slots]     (pod IP -> pod)
 *   u64 map_keys[map_slots]    u32 map_vals[map_slots]   (classes -> map)
 *   u32 pods[n_pods][3]        (peer class, ingress subject, egress subject)
 *   u32 cidr_lo[n_cidr]        u32 cidr_peer[n_cidr]
 *   u32 default_map[n_subjects]
 *   u32 map_first[n_maps + 1]
 *   struct nsdp_pol_range ranges[n_ranges]
 *   char names[names_len]      (n_rules NUL-terminated rule names)
 * The dataplane validates every index before accepting it.
 */
#define NSDP_POLICY_MAGIC 0x4c50534eu /* "NSPL" */
#define NSDP_POLICY_VERSION 2 /* 2: ranges carry audit_rule; 1 is still read */

struct nsdp_policy_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t n_pods, n_cidr, n_subjects, n_maps, n_ranges, n_rules;
	uint32_t ip_slots, map_slots; /* powers of two */
	uint32_t names_len;
	uint32_t pad;
};

struct nsdp_pol_range {
	uint8_t proto; /* 6, 17, 132, or 0 for any other protocol */
	uint8_t verdict; /* 1 allow, 2 deny */
	uint16_t lo, hi; /* inclusive port range */
	uint16_t pad;
	uint32_t rule;
	/* Version 2: with verdict allow, the rule of an audited policy that
	 * would deny (forwarded, logged as audit); 0xffffffff none. Version 1
	 * ranges end before this field. */
	uint32_t audit_rule;
};
#define NSDP_POL_RANGE_V1_SIZE 12

/* GET_POLICY reply: header, then n_rules x nsdp_policy_rule. */
struct nsdp_policy_stats_hdr {
	uint64_t generation; /* 0: no policy loaded */
	uint32_t n_rules;
	uint32_t n_pods, n_subjects, n_maps, n_ranges;
	uint32_t pad;
};

struct nsdp_policy_rule {
	uint64_t allowed; /* packets allowed by this rule, all lcores */
	uint64_t denied;  /* packets denied by this rule */
	uint64_t audited; /* packets this audited rule would deny, forwarded (1.3) */
	char name[160];
};

/*
 * TRACE (protocol 1.2): "what would the dataplane do with this packet?"
 *
 * The dataplane builds the described packet as a real frame (on the uplink:
 * encapsulated as the source's node would send it), runs it through the
 * workers' own packet-path functions on the control thread, and records
 * each step instead of transmitting. Nothing is sent, no counter moves and
 * no conntrack entry is created or changed (conntrack is read; its update
 * runs on a private copy of the entry). See docs/architecture.md.
 *
 * Request: nsdp_trace_req. An endpoint is named by address (family set) or,
 * with family 0, by its endpoint name ("namespace/pod") among this node's
 * endpoints. Reply: nsdp_trace_hdr + n_steps x nsdp_trace_step. A request
 * the dataplane cannot trace (unknown name, a pod-side source that is not a
 * local endpoint, an uplink source behind no remote VTEP) gets
 * NSDP_MSG_ERROR with the reason; a packet that is dropped is a successful
 * trace whose header says why.
 */
#define NSDP_TRACE_F_FROM_UPLINK 0x1 /* enter encapsulated on the uplink */
#define NSDP_TRACE_F_FROM_HOST 0x2   /* enter on the host port (the node's stack) */

struct nsdp_trace_req {
	struct nsdp_ip src, dst;
	char src_name[NSDP_NAME_LEN]; /* used when src.family == 0 */
	char dst_name[NSDP_NAME_LEN]; /* used when dst.family == 0 */
	uint16_t sport, dport;        /* host order; ICMP: sport = echo id */
	uint8_t proto;                /* 6, 17, 132 or 1 (ICMP echo request) */
	uint8_t tcp_flags;            /* TCP only; 0 means SYN */
	uint16_t flags;               /* NSDP_TRACE_F_* */
};

/* Step kinds: X(ENUM_SUFFIX, "name"), appended only (wire values). */
#define NSDP_TRACE_STEPS(X)                                                    \
	X(PARSE, "parse")                                                      \
	X(DECAP, "decap")                                                      \
	X(SOURCE, "source")                                                    \
	X(DEST, "dest")                                                        \
	X(ROUTE, "route")                                                      \
	X(CONNTRACK, "conntrack")                                              \
	X(POLICY_EGRESS, "policy egress")                                      \
	X(POLICY_INGRESS, "policy ingress")                                    \
	X(POLICY, "policy")                                                    \
	X(REWRITE, "rewrite")                                                  \
	X(ENCAP, "encap")                                                      \
	X(OUTPUT, "output")                                                    \
	X(VERDICT, "verdict")

enum nsdp_trace_step_kind {
	NSDP_TRACE_NONE = 0,
#define NSDP_X_TRACE_ENUM(e, name) NSDP_TRACE_##e,
	NSDP_TRACE_STEPS(NSDP_X_TRACE_ENUM)
#undef NSDP_X_TRACE_ENUM
	NSDP_TRACE_MAX
};

static inline const char *nsdp_trace_step_name(unsigned k)
{
	static const char *const names[] = {
		"none",
#define NSDP_X_TRACE_NAME(e, name) name,
		NSDP_TRACE_STEPS(NSDP_X_TRACE_NAME)
#undef NSDP_X_TRACE_NAME
	};
	return k < NSDP_TRACE_MAX ? names[k] : "step";
}

#define NSDP_TRACE_NONE32 0xffffffffu /* "no value" in the numeric fields */

struct nsdp_trace_step {
	uint8_t kind;     /* enum nsdp_trace_step_kind */
	uint8_t verdict;  /* policy steps: 1 allow, 2 deny; else 0 */
	uint8_t drop;     /* enum nsdp_drop_reason this step ended in, 0: none */
	uint8_t pad;
	uint32_t subject; /* policy egress/ingress: subject class; else NONE32 */
	uint32_t rule;    /* policy steps: deciding rule id; else NONE32 */
	uint32_t port;    /* a port index (parse: in, output: out); else NONE32 */
	uint32_t value;   /* decap/encap: VNI; conntrack: state after; route: VTEP ip */
	uint32_t value2;  /* encap: outer UDP source port; conntrack: 1 hit, 0 miss */
	char text[224];   /* the human line, e.g. "egress subject 3: allow (default-allow)" */
};

#define NSDP_TRACE_FORWARD 1 /* nsdp_trace_hdr.result */
#define NSDP_TRACE_DROP 2

struct nsdp_trace_hdr {
	uint8_t result;     /* NSDP_TRACE_FORWARD / NSDP_TRACE_DROP */
	uint8_t drop;       /* enum nsdp_drop_reason when dropped */
	uint8_t verdict;    /* policy: 1 allow, 2 deny, 0 not evaluated */
	uint8_t decided_by; /* 0 ingress side, 1 egress side */
	uint32_t rule;      /* deciding policy rule id, NSDP_TRACE_NONE32 if none */
	uint32_t out_port;  /* port index it would leave on, NONE32 when dropped */
	uint16_t n_steps;
	uint16_t encap;     /* 1: leaves encapsulated (VXLAN/Geneve) */
	struct nsdp_ip src, dst;    /* the addresses traced (names resolved) */
	uint64_t generation;        /* tables generation traced against */
	uint64_t policy_generation; /* 0: no policy */
	char rule_name[160];
	char out_port_name[NSDP_PORT_NAME_LEN];
};

/*
 * FLOWLOG_READ (protocol 1.3): take queued flow-log records.
 *
 * Workers queue a record (rate-limited, docs/observability.md) when a
 * connection is first decided, re-decided under a new policy, or when an
 * untracked packet is decided: always for deny and audit verdicts, one in
 * `sample_allowed` for allow. The records are taken: each is returned to
 * one reader only (the node's agent). Reply: nsdp_flowlog_hdr, then
 * `count` records, each an nsdp_flowlog_rec followed by its rule name
 * (name_len bytes, NUL included), unpadded.
 */
struct nsdp_flowlog_req {
	uint32_t max; /* records at most; 0: as many as fit in one reply */
	uint32_t pad;
};

struct nsdp_flowlog_hdr {
	uint32_t count;
	uint32_t pending;      /* records still queued after these */
	uint64_t lost;         /* records dropped on the control side since start */
	uint64_t records;      /* totals since start, all lcores: queued */
	uint64_t rate_limited; /* over the rate limit */
	uint64_t ring_full;    /* an lcore's ring was full */
};

/* nsdp_flowlog_rec.reason */
#define NSDP_FLOWLOG_NEW 1       /* a new connection, decided */
#define NSDP_FLOWLOG_REDECIDED 2 /* an existing connection, new policy */
#define NSDP_FLOWLOG_UNTRACKED 3 /* a packet decided alone (no conntrack) */

/* nsdp_flowlog_rec.verdict: 1 allow, 2 deny, 3 audit (allowed; an audited
 * policy, `rule`, would deny). */
#define NSDP_VERDICT_AUDIT 3

struct nsdp_flowlog_rec {
	uint64_t time_ns;           /* CLOCK_REALTIME of the decision */
	uint64_t policy_generation; /* of the policy that decided, 0 unknown */
	uint32_t src, dst;          /* the connection's originator first; network order */
	uint16_t sport, dport;      /* host order (ICMP echo: id, 0) */
	uint8_t proto;
	uint8_t verdict;    /* 1 allow, 2 deny, 3 audit */
	uint8_t direction;  /* side that decided: 0 ingress, 1 egress */
	uint8_t reason;     /* NSDP_FLOWLOG_* */
	uint32_t rule;      /* deciding rule id */
	uint16_t in_port;   /* port index the packet came in on */
	uint16_t name_len;  /* bytes of rule name following, NUL included */
};

#endif /* NSDP_PROTO_H */
