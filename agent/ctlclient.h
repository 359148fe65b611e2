/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small blocking client of the dataplane's control socket
 * (protocol: include/nsdp/proto.h). Used by nsdpctl and nsdp-agent.
 *
 * Plain C, no DPDK. Every call returns 0 (or a count) on success and
 * -errno on failure, with a human-readable reason in nsdp_client_error().
 * A dataplane-side refusal (NSDP_MSG_ERROR) returns the status the
 * dataplane sent and its text.
 *
 * Change messages (ep/route/vtep add and del) get no reply of their own:
 * they are queued by the dataplane and applied, in order, by the next
 * commit, whose ACK says how many were applied and rejected and why the
 * first rejection happened. Delete messages carry the same struct as the
 * matching add; only the key fields (ip, or prefix/prefix_len) are read.
 *
 * Thread safety: a struct nsdp_client is used by one thread at a time.
 */
#ifndef NSDP_AGENT_CTLCLIENT_H
#define NSDP_AGENT_CTLCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <nsdp/proto.h>

#define NSDP_DEFAULT_SOCKET "/run/nsdp/dataplane.sock"

struct nsdp_client {
	int fd;
	uint32_t seq;
	int timeout_ms;           /* per reply; 0 = wait forever */
	struct nsdp_hello server; /* the dataplane's HELLO reply */
	char path[108];
	char err[256];
};

/*
 * Connect to the dataplane at `path` and exchange HELLO (major versions
 * must match). On success c->server holds the dataplane's version, pid,
 * effective generation and node name. timeout_ms bounds every later wait
 * for a reply (0: no bound). On failure c is closed.
 */
int nsdp_client_connect(struct nsdp_client *c, const char *path, int timeout_ms);
void nsdp_client_close(struct nsdp_client *c);

/* The reason for the last failure ("" when none). */
const char *nsdp_client_error(const struct nsdp_client *c);

/* Send one message that gets no reply (changes, SNAPSHOT_BEGIN). */
int nsdp_client_send(struct nsdp_client *c, uint16_t type, uint64_t generation,
		     const void *payload, uint32_t len);

int nsdp_client_snapshot_begin(struct nsdp_client *c);
int nsdp_client_ep_add(struct nsdp_client *c, const struct nsdp_endpoint *ep);
int nsdp_client_ep_del(struct nsdp_client *c, const struct nsdp_ip *ip);
int nsdp_client_route_add(struct nsdp_client *c, const struct nsdp_route *r);
int nsdp_client_route_del(struct nsdp_client *c, const struct nsdp_ip *prefix,
			  uint8_t prefix_len);
int nsdp_client_vtep_add(struct nsdp_client *c, const struct nsdp_vtep *v);
int nsdp_client_vtep_del(struct nsdp_client *c, const struct nsdp_ip *ip);
/* Runtime pod ports (protocol 1.1), carried out by the next commit. */
int nsdp_client_port_add(struct nsdp_client *c, const struct nsdp_port_req *req);
int nsdp_client_port_del(struct nsdp_client *c, const char *name);

/*
 * Commit the changes sent since the last commit at `generation` and wait
 * for the ACK (sent once the generation is enforced). Returns 0 when the
 * ACK arrived, whatever it says: check ack->rejected / ack->status. On a
 * generation refused as stale, ack->status is -ESTALE and
 * ack->generation the one still effective.
 */
int nsdp_client_commit(struct nsdp_client *c, uint64_t generation,
		       struct nsdp_ack *ack);

/*
 * Send a request of `type` with an optional payload and wait for the reply
 * of the same type (an ACK for CT_FLUSH). *reply is malloc'ed (free() it;
 * NULL when the reply is empty) and *reply_len its size. Returns 0 or
 * -errno.
 */
int nsdp_client_request(struct nsdp_client *c, uint16_t type, const void *payload,
			uint32_t len, void **reply, uint32_t *reply_len);

/* Parsing and formatting helpers. Parsers return 0 or -EINVAL. */
int nsdp_parse_ip(const char *s, struct nsdp_ip *ip);
/* "10.0.0.0/24" or "fd00::/64"; a bare address gets the full length. */
int nsdp_parse_prefix(const char *s, struct nsdp_ip *ip, uint8_t *len);
/* "02:00:00:00:00:01" (':' or '-' separated). */
int nsdp_parse_mac(const char *s, uint8_t mac[6]);
/* Buffers of at least 46 (address) and 18 (MAC) bytes. */
const char *nsdp_format_ip(const struct nsdp_ip *ip, char *buf, size_t len);
const char *nsdp_format_mac(const uint8_t mac[6], char *buf, size_t len);

#endif
