/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection tracking: one table shared by all workers, lock-free.
 *
 * Why shared and not per worker: the two directions of a pod-to-remote flow
 * arrive on different ports (the pod port, plain; the uplink, encapsulated,
 * RSS-hashed on the outer header), so no RSS configuration can promise that
 * both reach the same worker. A shared table needs no software dispatch.
 *
 * Layout: buckets of one cache line each: a header word (overflow count)
 * and 15 slot words. A slot word is (signature << 2 | state). Entries live in
 * a separate array at index bucket * 15 + slot. A key hashes to a primary
 * and a secondary bucket; an entry goes to the secondary only when the
 * primary is full, and the primary's overflow count tells lookups whether
 * the secondary can hold its keys. A flow whose two buckets are both full is
 * refused (NSDP_DROP_CT_FULL) and existing entries are untouched.
 *
 * Keys are canonical: the lower (address, port) endpoint first, so both
 * directions of a flow find the same entry; ct_key_make() also says which
 * direction a packet travels relative to the canonical order.
 *
 * Thread safety:
 *  - ct_lookup(), ct_create_first(), ct_update() and ct_prefetch() are called
 *    by workers concurrently, without locks. A slot goes EMPTY -> BUSY (CAS,
 *    by the inserting worker) -> VALID (store-release after the entry is
 *    written); readers load the slot word with acquire before reading the
 *    entry, so they never see a half-written key.
 *  - Two workers inserting the same new key at once both succeed; each then
 *    re-scans (seq_cst, so at least one sees the other), and whoever sees a
 *    duplicate keeps the lowest index and marks the others DEAD (their seen
 *    bits are merged into it when they agree on the originator). Entry
 *    state is a set of "seen" bits updated with atomic OR, so concurrent
 *    updates from both directions commute.
 *  - ct_age() and ct_flush() run on one control thread only. Expired
 *    entries go VALID -> DEAD (CAS; a worker never revives one), and DEAD
 *    slots become EMPTY only after an RCU grace period (rte_rcu_qsbr, the
 *    workers report quiescence once per poll loop), so a worker that found
 *    an entry may use it until its next quiescent state.
 *  - Time is a caller-supplied coarse clock in seconds (ct_now()).
 */
#ifndef NSDP_DP_CONNTRACK_H
#define NSDP_DP_CONNTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct rte_rcu_qsbr;

#define CT_BUCKET_SLOTS 15

enum ct_state {
#define CT_X_ENUM(e, name) CT_##e,
	NSDP_CT_STATES(CT_X_ENUM)
#undef CT_X_ENUM
	CT_STATE_MAX
};

const char *ct_state_name(unsigned state);

/* "Seen" bits, ORed into ct_entry.seen. ORIG = the direction of the first packet. */
#define CT_SEEN_SYN_ORIG (1u << 0)
#define CT_SEEN_SYN_REPLY (1u << 1) /* SYN+ACK */
#define CT_SEEN_ACK_ORIG (1u << 2)  /* ACK from originator after SYN+ACK */
#define CT_SEEN_FIN_ORIG (1u << 3)
#define CT_SEEN_FIN_REPLY (1u << 4)
#define CT_SEEN_RST (1u << 5)
#define CT_SEEN_REPLY (1u << 6)   /* any packet from the reply side */
#define CT_SEEN_MIDSTREAM (1u << 7) /* created from a non-SYN TCP packet */

struct ct_key {
	uint8_t addr[2][16]; /* IPv4 in the first 4 bytes, rest zero */
	uint16_t port[2];    /* network order; ICMP echo: port[0]=port[1]=id */
	uint8_t proto;
	uint8_t family;
	uint16_t zone; /* reserved (VRF / Service NAT), 0 now */
};

/* NAT state for Service translation (not used yet; reserved layout). */
struct ct_nat {
	uint8_t addr[16];
	uint16_t port;
	uint8_t flags;
	uint8_t pad;
};

/* ct_entry.verdict of a denied connection (policy.h's POL_DENY). */
#define CT_VERDICT_DENY 2

struct ct_entry {
	struct ct_key key;   /* 40 bytes, immutable while VALID */
	uint8_t orig_side;   /* index (0/1) in key of the originator */
	uint8_t verdict;     /* policy verdict (POL_ALLOW/POL_DENY), see below */
	uint16_t pad0;
	uint32_t seen;       /* CT_SEEN_* bits, atomic OR */
	uint32_t last_seen;  /* ct_now() of the last packet, relaxed store */
	uint32_t created;    /* ct_now() at creation */
	/*
	 * The policy decision of the connection (its original direction) and
	 * the rule that made it, valid while policy_gen equals the enforced
	 * policy's epoch (dp_policy.epoch; 0 = never decided). Written as verdict, rule, then policy_gen with
	 * release; read policy_gen with acquire first. Two workers deciding at
	 * once compute the same result, so the race is benign.
	 */
	uint32_t policy_gen;
	uint32_t rule;
	struct ct_nat nat;
	uint8_t pad[128 - 40 - 4 - 20 - 20];
} __attribute__((aligned(64)));

struct conntrack;

/*
 * Create a table for about `size` flows (rounded so that buckets are at most
 * ~80% full at `size`). qsv may be NULL (no readers to wait for: tests).
 * Returns NULL with errno set.
 */
struct conntrack *ct_create(uint32_t size, const struct ct_timeouts *to,
			    struct rte_rcu_qsbr *qsv, int socket_id);
void ct_destroy(struct conntrack *ct);

/*
 * Build the canonical key of a packet. Returns the packet's side in the key
 * (0: it travels from addr[0] to addr[1]; 1: the other way). Endpoints are
 * ordered by (address bytes, port as a number); src/dst point to 4-byte
 * addresses for AF_INET and 16-byte ones for AF_INET6.
 */
unsigned ct_key_make(struct ct_key *k, uint8_t family, const void *src,
		     const void *dst, uint16_t sport, uint16_t dport, uint8_t proto);

/* Hash of a canonical key: the same for both directions. */
uint32_t ct_hash(const struct ct_key *k);

/* Prefetch the bucket(s) a hash maps to (do this a few packets ahead). */
void ct_prefetch(const struct conntrack *ct, uint32_t hash);

/*
 * Prefetch the entry the bucket's signature points to (do this after the
 * bucket itself has had time to arrive): the key compare in ct_lookup()
 * then hits the cache. Returns false when the primary bucket holds no
 * candidate (probably a new flow); then the entry an insert
 * (ct_create_first()) would fill is prefetched for writing instead.
 */
bool ct_prefetch_entry(const struct conntrack *ct, uint32_t hash);

/* Find a VALID entry, or NULL. */
struct ct_entry *ct_lookup(struct conntrack *ct, const struct ct_key *k,
			   uint32_t hash);

/*
 * Insert a new entry for key k whose first packet travels on `side`, with
 * no packet accounted (the workers use ct_create_first()).
 * Returns the entry (possibly one another worker inserted at the same
 * moment), or NULL (errno ENOSPC) when both of its buckets are full.
 */
struct ct_entry *ct_create_entry(struct conntrack *ct, const struct ct_key *k,
				 uint32_t hash, unsigned side, uint32_t now);

/*
 * ct_create_entry() and ct_update() of the packet that opens the connection
 * in one: the packet's seen bits are written with the entry, before it is
 * published, so a new flow pays no atomic OR on them. When a racing copy
 * (another worker's) wins the insert, the packet is accounted in that one
 * by ct_update(). Returns the entry, or NULL (errno ENOSPC); *rc is what
 * ct_update() would have returned.
 */
struct ct_entry *ct_create_first(struct conntrack *ct, const struct ct_key *k, uint32_t hash,
				 unsigned side, uint8_t tcp_flags, uint32_t now, int *rc);

/*
 * Account one packet travelling on `side` with TCP flags `tcp_flags`
 * (0 for non-TCP) at time `now`. Returns 0, or NSDP_DROP_CT_INVALID when the
 * packet is not valid for the connection's state (then nothing changes).
 *
 * Any packet from the reply side sets REPLY. TCP ("pure SYN" = SYN without
 * ACK, RST or FIN; "orig" = from e->orig_side):
 *  - pure SYN on TIME_WAIT or CLOSED re-opens: seen = SYN_ORIG, the sender
 *    becomes orig_side, policy_gen = 0 (re-evaluate); done by CAS on seen,
 *    the other two fields follow with plain atomic stores (a racing packet
 *    may see a mix for a moment: accepted);
 *  - CLOSED: anything else but RST is invalid;
 *  - first packet (seen == 0) from orig that is not a pure SYN: MIDSTREAM
 *    (loose pickup, so flows survive a dataplane restart);
 *  - SYN+ACK from orig without SYN_REPLY or MIDSTREAM: invalid;
 *  - pure SYN from orig: SYN_ORIG; SYN+ACK from reply: SYN_REPLY;
 *    ACK without SYN/RST from orig once SYN_REPLY is set: ACK_ORIG;
 *    FIN: FIN_ORIG/FIN_REPLY by side; RST: RST.
 * The derived state is ct_entry_state(): RST -> CLOSED, both FINs ->
 * TIME_WAIT, one FIN -> FIN_WAIT, (SYN_ORIG+SYN_REPLY+ACK_ORIG or MIDSTREAM)
 * -> ESTABLISHED, SYN_REPLY -> SYN_RECV, else SYN_SENT.
 */
int ct_update(struct ct_entry *e, unsigned side, uint8_t tcp_flags, uint32_t now);

/* Derived state of an entry. */
enum ct_state ct_entry_state(const struct ct_entry *e);

/* Seconds an entry in this state may stay idle. */
uint32_t ct_timeout(const struct conntrack *ct, enum ct_state st);

/* true when e has been idle past its timeout at `now` (now - last_seen > timeout). */
bool ct_expired(const struct conntrack *ct, const struct ct_entry *e, uint32_t now);

/*
 * Control thread only: scan up to `max_slots` slots from an internal cursor,
 * mark expired entries DEAD, and free DEAD entries whose grace period has
 * passed. Returns the number of entries expired by this call. Entries it
 * marks DEAD are freed by a later call once rte_rcu_qsbr_check() says every
 * reader passed the token taken for them (at once when qsv is NULL).
 */
unsigned ct_age(struct conntrack *ct, uint32_t now, unsigned max_slots);

/* Control thread only: expire every entry (ct flush). */
unsigned ct_flush(struct conntrack *ct);

/* Number of slots (iteration bound for ct_slot()). */
uint32_t ct_capacity(const struct conntrack *ct);

/* Entries currently VALID (a scan: control thread, not the packet path). */
uint32_t ct_count(const struct conntrack *ct);

/* The VALID entry in slot i, or NULL (for listing flows). */
const struct ct_entry *ct_slot(const struct conntrack *ct, uint32_t i);

/* Coarse monotonic clock in seconds, cheap enough for once per burst. */
uint32_t ct_now(void);

#endif
