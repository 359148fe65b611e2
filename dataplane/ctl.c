/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control-socket server.
 *
 * Batches: change messages (EP_*, ROUTE_*, VTEP_*) are checked for size on
 * arrival and queued per client; COMMIT applies the client's queue, in
 * order, to a copy of the desired state (an empty state after
 * SNAPSHOT_BEGIN), swaps the copy in and publishes it. Port changes
 * (PORT_ADD, PORT_DEL) are queued apart and bracket the table changes:
 * additions before them (so EP_ADD can name a new port), deletions after
 * them (so the batch's EP_DELs are seen), see proto.h and port.h. A
 * snapshot replaces tables, not ports: hot-plugged ports are node-local
 * devices that only PORT_DEL removes. So:
 *  - a client that disconnects before COMMIT leaves no trace, and an
 *    abandoned snapshot never empties the tables;
 *  - a change that fails validation is rejected alone, the rest of its
 *    batch applies;
 *  - when publishing fails (out of memory building the tables) the old
 *    state is put back, the ACK carries the error and the generation that
 *    is still effective, and nothing of the batch is applied.
 * Copying the state costs O(table size) per COMMIT, which dp_publish pays
 * anyway to build the tables.
 *
 * Generations: COMMIT must carry a generation >= the effective one. An equal
 * generation is accepted so that a restarted agent can resynchronise at
 * the generation it last had (the tables are rebuilt, generation unchanged);
 * a lower one is answered with status -ESTALE and applies nothing.
 *
 * TRACE (1.2) runs one synthetic packet through the workers' code on this
 * thread and answers the steps it took (see do_trace, dp_trace_packet).
 *
 * Replies: HELLO and GET_* are answered with the request type | REPLY;
 * COMMIT and CT_FLUSH with ACK | REPLY (CT_FLUSH: `applied` = flows
 * flushed); everything the server cannot parse with NSDP_MSG_ERROR. A
 * framing error (bad magic, other major version, oversize payload) is
 * answered with NSDP_MSG_ERROR and the connection is closed, because the
 * stream can no longer be trusted to be in sync.
 *
 * I/O is non-blocking: each client has an input buffer that assembles
 * messages and an output buffer drained on POLLOUT. A client whose output
 * backs up (it does not read its replies) is not read from until it does.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>

#include <nsdp/drop.h>
#include <nsdp/proto.h>

#include "conntrack.h"
#include "ctl.h"
#include "dp.h"
#include "port.h"
#include "statefile.h"
#include "stats.h"
#include "tables.h"
#include "vnet.h"

#define CTL_LOG(level, fmt, ...) \
	RTE_LOG(level, USER1, "ctl: " fmt "\n", ##__VA_ARGS__)

#define CTL_MAX_CLIENTS 64
#define CTL_READ_CHUNK (256u << 10)
#define CTL_READ_ROUND (1u << 20)   /* bytes read from one client per poll */
#define CTL_OUT_HIGH (8u << 20)     /* stop reading a client above this backlog */
#define CTL_BUF_KEEP (1u << 20)     /* free idle buffers larger than this */
#define CTL_MAX_FLOWS 4096

struct ctl_port_change {
	uint16_t type; /* PORT_ADD or PORT_DEL */
	struct nsdp_port_req req;
};

struct ctl_change {
	uint16_t type;
	union {
		struct nsdp_endpoint ep;
		struct nsdp_route route;
		struct nsdp_vtep vtep;
	} u;
};

struct ctl_client {
	int fd;
	bool closing; /* close once `out` is drained */
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;

	/* the batch since the last COMMIT */
	bool snapshot;
	struct pol_tables *policy; /* POLICY_SET, validated, made effective at COMMIT */
	struct ctl_change *chg;
	uint32_t n_chg, max_chg;
	struct ctl_port_change *pchg;
	uint32_t n_pchg, max_pchg;
	uint32_t rejected; /* refused on arrival (size, batch too large) */
	int32_t status;    /* first rejection: -errno and text */
	char error[sizeof(((struct nsdp_ack *)0)->error)];

	/* for log messages: "fd N" until HELLO names the peer */
	char label[NSDP_NAME_LEN + 32];
};

struct ctl_server {
	struct dp *dp;
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_client *cl[CTL_MAX_CLIENTS];
};

static const char *msg_name(unsigned type)
{
	switch (type) {
	case NSDP_MSG_EP_ADD: return "EP_ADD";
	case NSDP_MSG_EP_DEL: return "EP_DEL";
	case NSDP_MSG_ROUTE_ADD: return "ROUTE_ADD";
	case NSDP_MSG_ROUTE_DEL: return "ROUTE_DEL";
	case NSDP_MSG_VTEP_ADD: return "VTEP_ADD";
	case NSDP_MSG_VTEP_DEL: return "VTEP_DEL";
	case NSDP_MSG_POLICY_SET: return "POLICY_SET";
	case NSDP_MSG_PORT_ADD: return "PORT_ADD";
	case NSDP_MSG_PORT_DEL: return "PORT_DEL";
	default: return "message";
	}
}

/* ---- buffers ---------------------------------------------------------- */

static int buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 4096;
	while (ncap < need)
		ncap *= 2;
	uint8_t *n = realloc(*buf, ncap);
	if (!n)
		return -ENOMEM;
	*buf = n;
	*cap = ncap;
	return 0;
}

static void client_free(struct ctl_client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c->chg);
	free(c->pchg);
	pol_tables_free(c->policy);
	free(c);
}

/* Try to send what is queued; -errno when the connection is dead. */
static int client_flush(struct ctl_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	if (c->out_cap > CTL_BUF_KEEP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

/*
 * Queue a message: header, then the payload given in up to two parts (a
 * fixed header and an array) so that replies need no extra copy.
 */
static int reply2(struct ctl_client *c, uint16_t type, uint32_t seq, uint64_t gen,
		  const void *p1, size_t l1, const void *p2, size_t l2)
{
	struct nsdp_msg_hdr h = {
		.magic = NSDP_PROTO_MAGIC,
		.version = NSDP_PROTO_VERSION,
		.type = type,
		.len = (uint32_t)(l1 + l2),
		.seq = seq,
		.generation = gen,
	};
	if (buf_reserve(&c->out, &c->out_cap, c->out_len + sizeof(h) + l1 + l2) < 0) {
		c->closing = true;
		return -ENOMEM;
	}
	memcpy(c->out + c->out_len, &h, sizeof(h));
	c->out_len += sizeof(h);
	if (l1) {
		memcpy(c->out + c->out_len, p1, l1);
		c->out_len += l1;
	}
	if (l2) {
		memcpy(c->out + c->out_len, p2, l2);
		c->out_len += l2;
	}
	return 0;
}

static int reply(struct ctl_client *c, uint16_t type, uint32_t seq, uint64_t gen,
		 const void *p, size_t l)
{
	return reply2(c, type, seq, gen, p, l, NULL, 0);
}

static void reply_error(struct ctl_client *c, uint32_t seq, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void reply_error(struct ctl_client *c, uint32_t seq, int status, const char *fmt, ...)
{
	struct nsdp_error e = { .status = status };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.error, sizeof(e.error), fmt, ap);
	va_end(ap);
	CTL_LOG(NOTICE, "client %s: %s", c->label, e.error);
	reply(c, NSDP_MSG_ERROR, seq, 0, &e, sizeof(e));
}

/* ---- batches ---------------------------------------------------------- */

static void batch_reset(struct ctl_client *c)
{
	pol_tables_free(c->policy);
	c->policy = NULL;
	c->snapshot = false;
	c->n_chg = 0;
	c->n_pchg = 0;
	c->rejected = 0;
	c->status = 0;
	c->error[0] = '\0';
	if (c->max_chg > 4096) {
		free(c->chg);
		c->chg = NULL;
		c->max_chg = 0;
	}
}

static void batch_reject(struct ctl_client *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void batch_reject(struct ctl_client *c, int status, const char *fmt, ...)
{
	c->rejected++;
	if (c->status)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->status = status;
}

/*
 * Bound on one batch: a full snapshot plus as many deletes, with slack. A
 * client sending more is misbehaving; the excess is rejected, not queued.
 */
static uint32_t batch_limit(const struct dp *dp)
{
	const struct dp_table_state *s = &dp->state;

	return 2 * (s->max_eps + s->max_routes + s->max_vteps) + 4096;
}

static void batch_add(struct ctl_server *cs, struct ctl_client *c,
		      const struct nsdp_msg_hdr *h, const uint8_t *payload)
{
	size_t want;

	switch (h->type) {
	case NSDP_MSG_EP_ADD:
	case NSDP_MSG_EP_DEL:
		want = sizeof(struct nsdp_endpoint);
		break;
	case NSDP_MSG_ROUTE_ADD:
	case NSDP_MSG_ROUTE_DEL:
		want = sizeof(struct nsdp_route);
		break;
	default:
		want = sizeof(struct nsdp_vtep);
		break;
	}
	if (h->len != want) {
		batch_reject(c, -EINVAL, "%s: payload %u bytes, expected %zu", msg_name(h->type),
			     h->len, want);
		return;
	}
	if (c->n_chg >= batch_limit(cs->dp)) {
		batch_reject(c, -ENOSPC, "%s: batch exceeds %u changes", msg_name(h->type),
			     batch_limit(cs->dp));
		return;
	}
	if (c->n_chg == c->max_chg) {
		uint32_t n = c->max_chg ? 2 * c->max_chg : 256;
		struct ctl_change *a = realloc(c->chg, n * sizeof(*a));
		if (!a) {
			batch_reject(c, -ENOMEM, "%s: out of memory queueing the change",
				     msg_name(h->type));
			return;
		}
		c->chg = a;
		c->max_chg = n;
	}
	struct ctl_change *ch = &c->chg[c->n_chg++];
	ch->type = h->type;
	memcpy(&ch->u, payload, want);
}

/* PORT_ADD / PORT_DEL: size-checked now, carried out at COMMIT. */
static void port_batch_add(struct ctl_client *c, const struct nsdp_msg_hdr *h,
			   const uint8_t *payload)
{
	if (h->len != sizeof(struct nsdp_port_req)) {
		batch_reject(c, -EINVAL, "%s: payload %u bytes, expected %zu", msg_name(h->type),
			     h->len, sizeof(struct nsdp_port_req));
		return;
	}
	if (c->n_pchg >= 2 * DP_MAX_PORT_SLOTS) {
		batch_reject(c, -ENOSPC, "%s: batch exceeds %u port changes", msg_name(h->type),
			     2 * DP_MAX_PORT_SLOTS);
		return;
	}
	if (c->n_pchg == c->max_pchg) {
		uint32_t n = c->max_pchg ? 2 * c->max_pchg : 8;
		struct ctl_port_change *a = realloc(c->pchg, n * sizeof(*a));
		if (!a) {
			batch_reject(c, -ENOMEM, "%s: out of memory queueing the change",
				     msg_name(h->type));
			return;
		}
		c->pchg = a;
		c->max_pchg = n;
	}
	struct ctl_port_change *pc = &c->pchg[c->n_pchg++];
	pc->type = h->type;
	memcpy(&pc->req, payload, sizeof(pc->req));
}

static int state_copy(struct dp_table_state *d, const struct dp_table_state *s)
{
	int rc = dp_state_init(d, s->max_eps, s->max_routes, s->max_vteps);

	if (rc < 0)
		return rc;
	memcpy(d->eps, s->eps, s->n_eps * sizeof(*s->eps));
	memcpy(d->routes, s->routes, s->n_routes * sizeof(*s->routes));
	memcpy(d->vteps, s->vteps, s->n_vteps * sizeof(*s->vteps));
	d->n_eps = s->n_eps;
	d->n_routes = s->n_routes;
	d->n_vteps = s->n_vteps;
	return 0;
}

static int change_apply(struct dp *dp, struct dp_table_state *s,
			const struct ctl_change *ch, char *err, size_t errlen)
{
	switch (ch->type) {
	case NSDP_MSG_EP_ADD:
		return dp_state_ep_add(s, &ch->u.ep, dp_port_by_name, dp, err, errlen);
	case NSDP_MSG_EP_DEL:
		return dp_state_ep_del(s, &ch->u.ep.ip, err, errlen);
	case NSDP_MSG_ROUTE_ADD:
		return dp_state_route_add(s, &ch->u.route, err, errlen);
	case NSDP_MSG_ROUTE_DEL:
		return dp_state_route_del(s, &ch->u.route, err, errlen);
	case NSDP_MSG_VTEP_ADD:
		return dp_state_vtep_add(s, &ch->u.vtep, err, errlen);
	case NSDP_MSG_VTEP_DEL:
		return dp_state_vtep_del(s, &ch->u.vtep.ip, err, errlen);
	}
	snprintf(err, errlen, "unknown change type %u", ch->type);
	return -EINVAL;
}

/* ---- port changes at COMMIT ---------------------------------------------- */

struct port_changes {
	unsigned n_added, n_deleted;
	uint16_t added[2 * DP_MAX_PORT_SLOTS];
	uint16_t deleted[2 * DP_MAX_PORT_SLOTS];
};

static void ack_reject(struct nsdp_ack *ack, int rc, unsigned type, const char *err)
{
	ack->rejected++;
	if (ack->status == 0) {
		ack->status = rc;
		snprintf(ack->error, sizeof(ack->error), "%s: %s", msg_name(type),
			 err[0] ? err : strerror(-rc));
	}
}

/* Step 1 of a commit: probe and start the batch's new ports. */
static void ports_add(struct dp *dp, struct ctl_client *c, struct nsdp_ack *ack,
		      struct port_changes *pcs)
{
	for (uint32_t i = 0; i < c->n_pchg; i++) {
		char err[160] = "";
		if (c->pchg[i].type != NSDP_MSG_PORT_ADD)
			continue;
		int rc = dp_port_hotplug_add(dp, &c->pchg[i].req, err, sizeof(err));
		if (rc >= 0) {
			pcs->added[pcs->n_added++] = (uint16_t)rc;
			ack->applied++;
		} else {
			CTL_LOG(NOTICE, "client %s: PORT_ADD: %s", c->label, err);
			ack_reject(ack, rc, NSDP_MSG_PORT_ADD, err);
		}
	}
}

/* Step 3: accept deletions of ports no endpoint of `next` sits on. */
static void ports_del(struct dp *dp, struct ctl_client *c, const struct dp_table_state *next,
		      struct nsdp_ack *ack, struct port_changes *pcs)
{
	for (uint32_t i = 0; i < c->n_pchg; i++) {
		char err[160] = "";
		if (c->pchg[i].type != NSDP_MSG_PORT_DEL)
			continue;
		const char *name = c->pchg[i].req.name;
		int rc = dp_port_hotplug_del(dp, name, err, sizeof(err));
		if (rc >= 0) {
			const struct nsdp_endpoint *first = NULL;
			uint32_t n = 0;
			for (uint32_t e = 0; e < next->n_eps; e++)
				if (strncmp(next->eps[e].port, name, NSDP_PORT_NAME_LEN) == 0 &&
				    n++ == 0)
					first = &next->eps[e];
			if (!first) {
				pcs->deleted[pcs->n_deleted++] = (uint16_t)rc;
				ack->applied++;
				continue;
			}
			dp->ports[rc].deleting = false;
			char ip[INET6_ADDRSTRLEN] = "?";
			inet_ntop(first->ip.family, first->ip.addr, ip, sizeof(ip));
			snprintf(err, sizeof(err),
				 "port %s: %u endpoint(s) still on it (first %s); delete them in "
				 "the same commit", dp->ports[rc].name, n, ip);
			rc = -EBUSY;
		}
		CTL_LOG(NOTICE, "client %s: PORT_DEL: %s", c->label, err);
		ack_reject(ack, rc, NSDP_MSG_PORT_DEL, err);
	}
}

/* A commit that could not be published leaves the ports as they were. */
static void ports_rollback(struct dp *dp, struct port_changes *pcs)
{
	for (unsigned i = 0; i < pcs->n_deleted; i++)
		dp->ports[pcs->deleted[i]].deleting = false;
	for (unsigned i = 0; i < pcs->n_added; i++)
		dp_port_remove(dp, pcs->added[i]);
	pcs->n_added = pcs->n_deleted = 0;
}

static void do_commit(struct ctl_server *cs, struct ctl_client *c,
		      const struct nsdp_msg_hdr *h)
{
	struct dp *dp = cs->dp;
	struct nsdp_ack ack = {
		.rejected = c->rejected,
		.status = c->status,
	};
	memcpy(ack.error, c->error, sizeof(ack.error));

	if (h->generation < dp->generation) {
		ack.generation = dp->generation;
		ack.rejected = c->rejected + c->n_chg + c->n_pchg;
		ack.status = -ESTALE;
		snprintf(ack.error, sizeof(ack.error),
			 "generation %" PRIu64 " is older than the effective generation %" PRIu64,
			 h->generation, dp->generation);
		CTL_LOG(WARNING, "client %s: %s", c->label, ack.error);
		goto out;
	}

	/* Nothing for the tables (a policy change alone): they stay as they
	 * are, no rebuild and no grace period for them; the generation moves. */
	int rc;
	if (!c->snapshot && c->n_chg == 0 && c->n_pchg == 0) {
		dp->generation = h->generation;
		goto policy;
	}
	struct dp_table_state next;
	rc = c->snapshot ? dp_state_init(&next, dp->state.max_eps, dp->state.max_routes,
					 dp->state.max_vteps)
			 : state_copy(&next, &dp->state);
	if (rc < 0) {
		ack.generation = dp->generation;
		ack.rejected = c->rejected + c->n_chg + c->n_pchg;
		ack.status = rc;
		snprintf(ack.error, sizeof(ack.error), "generation %" PRIu64 ": %s",
			 h->generation, strerror(-rc));
		goto out;
	}
	struct port_changes pcs = { .n_added = 0 };
	ports_add(dp, c, &ack, &pcs);
	for (uint32_t i = 0; i < c->n_chg; i++) {
		char err[160] = "";
		rc = change_apply(dp, &next, &c->chg[i], err, sizeof(err));
		if (rc == 0) {
			ack.applied++;
			continue;
		}
		ack.rejected++;
		if (ack.status == 0) {
			ack.status = rc;
			snprintf(ack.error, sizeof(ack.error), "%s: %s", msg_name(c->chg[i].type),
				 err[0] ? err : strerror(-rc));
		}
	}

	ports_del(dp, c, &next, &ack, &pcs);

	/* The workers' new RX-queue lists, built before anything is published
	 * so that running out of memory here changes nothing. */
	struct dp_rxq_list *lists[DP_MAX_WORKERS];
	bool new_lists = (pcs.n_added || pcs.n_deleted) && dp->workers;
	rc = new_lists ? dp_rxqs_build(dp, lists) : 0;

	struct dp_table_state old = dp->state;
	if (rc == 0) {
		dp->state = next;
		rc = dp_publish(dp, h->generation);
		if (rc < 0) {
			dp->state = old;
			if (new_lists)
				dp_rxqs_free(lists, dp->n_workers);
		}
	}
	if (rc < 0) {
		/* Not effective: put the old state back so the next commit
		 * starts from what the workers actually use; no worker polls
		 * or sends to a port added by this batch yet. */
		ports_rollback(dp, &pcs);
		dp_state_free(&next);
		ack.generation = dp->generation;
		ack.rejected = c->rejected + c->n_chg + c->n_pchg;
		ack.applied = 0;
		ack.status = rc;
		snprintf(ack.error, sizeof(ack.error),
			 "publishing generation %" PRIu64 " failed: %s", h->generation,
			 strerror(-rc));
		CTL_LOG(ERR, "client %s: %s", c->label, ack.error);
		goto out;
	}
	dp_state_free(&old);
	if (new_lists) {
		/* Tables without the deleted ports' endpoints are in force;
		 * now lists without their queues (and with the new ports'),
		 * then nothing references a deleted port any more. */
		dp_rxqs_publish(dp, lists);
		for (unsigned i = 0; i < pcs.n_deleted; i++) {
			CTL_LOG(INFO, "port %s: removed (client %s)",
				dp->ports[pcs.deleted[i]].name, c->label);
			dp_port_remove(dp, pcs.deleted[i]);
		}
	}
policy:
	if (c->policy) {
		/* Tables first: a pod the new policy names is routable by then. */
		rc = dp_publish_policy(dp, c->policy, h->generation);
		c->policy = NULL;
		if (rc < 0) {
			ack.rejected++;
			if (ack.status == 0) {
				ack.status = rc;
				snprintf(ack.error, sizeof(ack.error), "POLICY_SET: %s",
					 strerror(-rc));
			}
		} else {
			ack.applied++;
		}
	}
	ack.generation = dp->generation;
	if (c->snapshot || c->n_chg || c->n_pchg)
		dp_state_save(dp);
	CTL_LOG(INFO, "generation %" PRIu64 " effective%s: %u applied, %u rejected%s%s (%s)",
		ack.generation, c->snapshot ? " (snapshot)" : "", ack.applied, ack.rejected,
		ack.rejected ? ", first: " : "", ack.rejected ? ack.error : "", c->label);
out:
	batch_reset(c);
	reply(c, NSDP_MSG_ACK | NSDP_MSG_REPLY, h->seq, ack.generation, &ack, sizeof(ack));
}

/* ---- queries ---------------------------------------------------------- */

static void ip4_set(struct nsdp_ip *ip, uint32_t addr_be)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET;
	memcpy(ip->addr, &addr_be, 4);
}

static void do_hello(struct ctl_server *cs, struct ctl_client *c,
		     const struct nsdp_msg_hdr *h, const uint8_t *payload)
{
	struct dp *dp = cs->dp;
	struct nsdp_hello r = {
		.version = NSDP_PROTO_VERSION,
		.pid = (uint32_t)getpid(),
		.generation = dp->generation,
	};

	if (h->len >= sizeof(struct nsdp_hello)) {
		const struct nsdp_hello *in = (const void *)payload;
		snprintf(c->label, sizeof(c->label), "%.*s[%u]", (int)sizeof(in->name) - 1,
			 in->name[0] ? in->name : "?", in->pid);
	}
	snprintf(r.name, sizeof(r.name), "%s", dp->cfg.node_name);
	reply(c, NSDP_MSG_HELLO | NSDP_MSG_REPLY, h->seq, dp->generation, &r, sizeof(r));
}

static uint64_t uptime_ms(const struct dp *dp)
{
	if (!dp->start_tsc)
		return 0;
	return (rte_get_tsc_cycles() - dp->start_tsc) * 1000 / rte_get_tsc_hz();
}

static unsigned live_ports(const struct dp *dp)
{
	unsigned n = 0;
	for (unsigned i = 0; i < dp->n_ports; i++)
		n += dp->ports[i].role != 0;
	return n;
}

static void do_info(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h)
{
	struct dp *dp = cs->dp;
	struct nsdp_info r = {
		.version = NSDP_PROTO_VERSION,
		.n_ports = (uint16_t)live_ports(dp),
		.n_workers = (uint16_t)dp->n_workers,
		.overlay = dp->cfg.overlay,
		.vni = dp->cfg.vni,
		.mtu = dp->cfg.mtu,
		.generation = dp->generation,
		.uptime_ms = uptime_ms(dp),
		.ct_size = dp->ct ? ct_capacity(dp->ct) : 0,
		.ct_used = dp->ct ? ct_count(dp->ct) : 0,
	};

	ip4_set(&r.vtep, dp->cfg.vtep_ip);
	snprintf(r.node, sizeof(r.node), "%s", dp->cfg.node_name);
	reply(c, h->type | NSDP_MSG_REPLY, h->seq, dp->generation, &r, sizeof(r));
}

static void port_info(struct dp_port *p, struct nsdp_port_info *r)
{
	struct rte_eth_dev_info di;
	struct rte_eth_link link;
	struct rte_eth_stats st;

	memset(r, 0, sizeof(*r));
	if (!p->role)
		return; /* a free slot */
	r->port_id = p->port_id;
	r->flags = p->hotplug ? NSDP_PORT_F_HOTPLUG : 0;
	r->role = p->role;
	r->rx_queues = p->n_rxq;
	r->tx_queues = p->n_txq;
	r->mtu = p->mtu;
	memcpy(r->mac, p->mac.addr_bytes, sizeof(r->mac));
	snprintf(r->name, sizeof(r->name), "%s", p->name);
	if (p->vnet) {
		r->port_id = NSDP_PORT_ID_NONE;
		snprintf(r->driver, sizeof(r->driver), "%s",
			 p->vnet->tnl ? "vnet+tunnel-gso" : "vnet");
		r->link_up = dp_vnet_up(p->vnet);
		return;
	}
	/* Tests describe ports that have no ethdev behind them. */
	if (!rte_eth_dev_is_valid_port(p->port_id))
		return;
	if (rte_eth_dev_info_get(p->port_id, &di) == 0 && di.driver_name)
		snprintf(r->driver, sizeof(r->driver), "%s", di.driver_name);
	if (rte_eth_link_get_nowait(p->port_id, &link) == 0) {
		r->link_up = link.link_status == RTE_ETH_LINK_UP;
		r->speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
	}
	if (rte_eth_stats_get(p->port_id, &st) == 0) {
		r->hw_ipackets = st.ipackets;
		r->hw_opackets = st.opackets;
		/* socket ports: RX ring drops the PMD leaves out; dp_port_ring_drops() */
		r->hw_imissed = st.imissed + dp_port_ring_drops(p);
		r->hw_ierrors = st.ierrors;
		r->hw_oerrors = st.oerrors;
	}
}

static void do_ports(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h)
{
	struct dp *dp = cs->dp;
	struct nsdp_port_info r[DP_MAX_PORT_SLOTS];

	for (unsigned i = 0; i < dp->n_ports; i++)
		port_info(&dp->ports[i], &r[i]);
	reply(c, h->type | NSDP_MSG_REPLY, h->seq, dp->generation, r,
	      dp->n_ports * sizeof(r[0]));
}


static void lcore_stats_read(const struct dp *dp, unsigned w, struct nsdp_lcore_stats *lc)
{
	const struct dp_lcore_stats *s = &dp->stats[w];

	memset(lc, 0, sizeof(*lc));
	lc->lcore_id = dp->workers ? dp->workers[w].lcore_id : s->lc.lcore_id;
	lc->busy_cycles = rd64(&s->lc.busy_cycles);
	lc->busy_packets = rd64(&s->lc.busy_packets);
	lc->polls = rd64(&s->lc.polls);
	lc->idle_polls = rd64(&s->lc.idle_polls);
	lc->ct_created = rd64(&s->lc.ct_created);
	lc->flowlog_records = rd64(&s->lc.flowlog_records);
	lc->flowlog_rate_limited = rd64(&s->lc.flowlog_rate_limited);
	lc->flowlog_ring_full = rd64(&s->lc.flowlog_ring_full);
	lc->ct_denied_uncached = rd64(&s->lc.ct_denied_uncached);
}

static void do_stats(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h)
{
	struct dp *dp = cs->dp;
	unsigned nw = dp->stats ? dp->n_workers : 0;
	size_t per = sizeof(struct nsdp_lcore_stats) +
		     dp->n_ports * sizeof(struct nsdp_port_counters) +
		     NSDP_DROP_MAX * sizeof(uint64_t);
	struct nsdp_stats_hdr sh = {
		.n_lcores = (uint16_t)nw,
		.n_ports = (uint16_t)dp->n_ports,
		.n_drops = NSDP_DROP_MAX,
		.tsc_hz = rte_get_tsc_hz(),
	};
	uint8_t *buf = malloc(nw * per + 1);

	if (!buf) {
		reply_error(c, h->seq, -ENOMEM, "GET_STATS: out of memory");
		return;
	}
	uint8_t *p = buf;
	for (unsigned w = 0; w < nw; w++) {
		const struct dp_lcore_stats *s = &dp->stats[w];
		struct nsdp_lcore_stats lc;
		lcore_stats_read(dp, w, &lc);
		memcpy(p, &lc, sizeof(lc));
		p += sizeof(lc);
		for (unsigned i = 0; i < dp->n_ports; i++) {
			struct nsdp_port_counters pc = {
				.rx_pkts = rd64(&s->port[i].rx_pkts),
				.rx_bytes = rd64(&s->port[i].rx_bytes),
				.tx_pkts = rd64(&s->port[i].tx_pkts),
				.tx_bytes = rd64(&s->port[i].tx_bytes),
			};
			memcpy(p, &pc, sizeof(pc));
			p += sizeof(pc);
		}
		for (unsigned r = 0; r < NSDP_DROP_MAX; r++) {
			uint64_t v = rd64(&s->drops[r]);
			memcpy(p, &v, sizeof(v));
			p += sizeof(v);
		}
	}
	reply2(c, h->type | NSDP_MSG_REPLY, h->seq, dp->generation, &sh, sizeof(sh), buf,
	       nw * per);
	free(buf);
}

/*
 * Table listings are copies of the committed state. A reply is bounded by
 * NSDP_PROTO_MAX_PAYLOAD; a larger table is listed truncated (a paged
 * request would need a protocol minor version).
 */
static void reply_array(struct ctl_client *c, const struct nsdp_msg_hdr *h, uint64_t gen,
			const void *a, uint32_t n, size_t size)
{
	uint32_t max = (uint32_t)(NSDP_PROTO_MAX_PAYLOAD / size);

	if (n > max) {
		CTL_LOG(WARNING, "type %u: listing %u of %u entries (reply size limit)", h->type,
			max, n);
		n = max;
	}
	reply(c, h->type | NSDP_MSG_REPLY, h->seq, gen, a, n * size);
}

static void flow_fill(const struct conntrack *ct, const struct ct_entry *e, uint32_t now,
		      struct nsdp_flow *f)
{
	unsigned o = e->orig_side & 1;
	uint8_t fam = e->key.family;
	size_t alen = fam == AF_INET6 ? 16 : 4;

	memset(f, 0, sizeof(*f));
	f->src.family = fam;
	f->dst.family = fam;
	memcpy(f->src.addr, e->key.addr[o], alen);
	memcpy(f->dst.addr, e->key.addr[o ^ 1], alen);
	f->sport = ntohs(e->key.port[o]);
	f->dport = ntohs(e->key.port[o ^ 1]);
	f->proto = e->key.proto;

	enum ct_state st = ct_entry_state(e);
	uint32_t last = __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED);
	uint32_t age = now > last ? now - last : 0;
	uint32_t to = ct_timeout(ct, st);
	f->state = (uint8_t)st;
	f->flags = (uint16_t)__atomic_load_n(&e->seen, __ATOMIC_RELAXED);
	f->age_s = age;
	f->expires_s = to > age ? to - age : 0;
	f->policy_gen = __atomic_load_n(&e->policy_gen, __ATOMIC_RELAXED);
	f->verdict = e->verdict;
}

static void do_flows(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h,
		     const uint8_t *payload)
{
	struct dp *dp = cs->dp;
	struct nsdp_flows_req req = { .offset = 0, .max = CTL_MAX_FLOWS };
	struct nsdp_flows_hdr fh = { 0 };

	if (h->len == sizeof(req)) {
		memcpy(&req, payload, sizeof(req));
	} else if (h->len != 0) {
		reply_error(c, h->seq, -EINVAL, "GET_FLOWS: payload %u bytes, expected %zu",
			    h->len, sizeof(req));
		return;
	}
	if (req.max == 0 || req.max > CTL_MAX_FLOWS)
		req.max = CTL_MAX_FLOWS;

	struct nsdp_flow *f = malloc(req.max * sizeof(*f));
	if (!f) {
		reply_error(c, h->seq, -ENOMEM, "GET_FLOWS: out of memory");
		return;
	}
	uint32_t cap = dp->ct ? ct_capacity(dp->ct) : 0;
	uint32_t now = ct_now();
	uint32_t i;
	for (i = req.offset; i < cap && fh.count < req.max; i++) {
		const struct ct_entry *e = ct_slot(dp->ct, i);
		if (e)
			flow_fill(dp->ct, e, now, &f[fh.count++]);
	}
	fh.next_offset = i < cap ? i : 0;
	reply2(c, h->type | NSDP_MSG_REPLY, h->seq, dp->generation, &fh, sizeof(fh), f,
	       fh.count * sizeof(*f));
	free(f);
}

static void do_ct_flush(struct ctl_server *cs, struct ctl_client *c,
			const struct nsdp_msg_hdr *h)
{
	struct dp *dp = cs->dp;
	struct nsdp_ack ack = { .generation = dp->generation };

	ack.applied = dp->ct ? ct_flush(dp->ct) : 0;
	CTL_LOG(INFO, "conntrack flushed: %u flows (client %s)", ack.applied, c->label);
	reply(c, NSDP_MSG_ACK | NSDP_MSG_REPLY, h->seq, dp->generation, &ack, sizeof(ack));
}

/* Validate a compiled policy now; it takes effect at COMMIT. */
static void policy_set(struct ctl_client *c, const struct nsdp_msg_hdr *h,
		       const uint8_t *payload)
{
	char err[160];
	struct pol_tables *t = pol_deserialize(payload, h->len, h->generation, err, sizeof(err));
	if (!t) {
		batch_reject(c, -EINVAL, "POLICY_SET: %s", err);
		return;
	}
	pol_tables_free(c->policy);
	c->policy = t;
}

static void do_policy(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h)
{
	struct dp *dp = cs->dp;
	/* The control thread is the only writer of dp->policy. */
	const struct dp_policy *p = atomic_load_explicit(&dp->policy, memory_order_acquire);
	struct nsdp_policy_stats_hdr sh = {0};
	size_t n = p ? p->n_rules : 0;
	size_t len = sizeof(sh) + n * sizeof(struct nsdp_policy_rule);
	uint8_t *buf = calloc(1, len);
	if (!buf) {
		reply_error(c, h->seq, -ENOMEM, "GET_POLICY: out of memory");
		return;
	}
	if (p) {
		sh.generation = p->t->generation;
		sh.n_rules = p->n_rules;
		sh.n_pods = p->t->n_pods;
		sh.n_subjects = p->t->n_subjects;
		sh.n_maps = p->t->n_maps;
		sh.n_ranges = p->t->n_ranges;
		struct nsdp_policy_rule *r = (struct nsdp_policy_rule *)(buf + sizeof(sh));
		unsigned nw = dp->n_workers ? dp->n_workers : 1;
		for (uint32_t i = 0; i < p->n_rules; i++) {
			uint64_t tot[3];
			snprintf(r[i].name, sizeof(r[i].name), "%s", p->t->rules[i]);
			dp_policy_totals(p, nw, i, tot);
			r[i].allowed = tot[0];
			r[i].denied = tot[1];
			r[i].audited = tot[2];
		}
	}
	memcpy(buf, &sh, sizeof(sh));
	reply(c, NSDP_MSG_GET_POLICY | NSDP_MSG_REPLY, h->seq, dp->generation, buf, len);
	free(buf);
}

/* FLOWLOG_READ: hand the queued flow-log records to the reader. */
static void do_flowlog(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h,
		       const uint8_t *payload)
{
	struct nsdp_flowlog_req q = {0};
	void *buf;
	size_t len;

	if (h->len != sizeof(q) && h->len != 0) {
		reply_error(c, h->seq, -EINVAL, "FLOWLOG_READ: payload %u bytes, expected %zu",
			    h->len, sizeof(q));
		return;
	}
	if (h->len)
		memcpy(&q, payload, sizeof(q));
	if (dp_flowlog_read(cs->dp, q.max, &buf, &len)) {
		reply_error(c, h->seq, -ENOMEM, "FLOWLOG_READ: out of memory");
		return;
	}
	reply(c, NSDP_MSG_FLOWLOG_READ | NSDP_MSG_REPLY, h->seq, cs->dp->generation, buf, len);
	free(buf);
}

/* An endpoint of the committed state by "namespace/pod" name. */
static const struct nsdp_endpoint *ep_by_name(const struct dp *dp, const char *name)
{
	const struct nsdp_endpoint *found = NULL;
	for (uint32_t i = 0; i < dp->state.n_eps; i++)
		if (dp->state.eps[i].ip.family == AF_INET &&
		    strncmp(dp->state.eps[i].name, name, NSDP_NAME_LEN) == 0) {
			if (found)
				return NULL; /* ambiguous: the client must give an address */
			found = &dp->state.eps[i];
		}
	return found;
}

/*
 * TRACE: resolve the request, run it through the packet path on this
 * thread (dp_trace_packet), reply with the steps. Touches no counter and
 * no conntrack entry; a trace is logged at DEBUG only.
 */
static void do_trace(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h,
		     const uint8_t *payload)
{
	struct dp *dp = cs->dp;
	struct nsdp_trace_req q;
	char err[192] = "";

	if (h->len != sizeof(q)) {
		reply_error(c, h->seq, -EINVAL, "TRACE: payload %u bytes, expected %zu", h->len,
			    sizeof(q));
		return;
	}
	memcpy(&q, payload, sizeof(q));
	q.src_name[sizeof(q.src_name) - 1] = '\0';
	q.dst_name[sizeof(q.dst_name) - 1] = '\0';
	struct nsdp_ip *ips[2] = {&q.src, &q.dst};
	const char *names[2] = {q.src_name, q.dst_name};
	for (unsigned i = 0; i < 2; i++) {
		if (ips[i]->family == 0) {
			const struct nsdp_endpoint *ep = ep_by_name(dp, names[i]);
			if (!ep) {
				reply_error(c, h->seq, -ENOENT,
					    "TRACE: %s \"%s\" is not an endpoint of node %s (or "
					    "names several); give its address",
					    i ? "destination" : "source", names[i],
					    dp->cfg.node_name);
				return;
			}
			*ips[i] = ep->ip;
		} else if (ips[i]->family != AF_INET) {
			reply_error(c, h->seq, -EAFNOSUPPORT, "TRACE: %s: only IPv4 is traced",
				    i ? "destination" : "source");
			return;
		}
	}
	if (q.proto != IPPROTO_TCP && q.proto != IPPROTO_UDP && q.proto != IPPROTO_SCTP &&
	    q.proto != IPPROTO_ICMP) {
		reply_error(c, h->seq, -EINVAL, "TRACE: protocol %u: TCP, UDP, SCTP or ICMP", q.proto);
		return;
	}
	const struct dp_tables *t = atomic_load_explicit(&dp->tables, memory_order_acquire);
	unsigned in_port;
	if (q.flags & NSDP_TRACE_F_FROM_UPLINK) {
		if (dp->uplink < 0) {
			reply_error(c, h->seq, -ENODEV, "TRACE: this dataplane has no uplink");
			return;
		}
		in_port = (unsigned)dp->uplink;
	} else {
		uint32_t a;
		memcpy(&a, q.src.addr, 4);
		const struct dp_endpoint *ep = t ? dp_ep_lookup(t, a) : NULL;
		int host = dp_host_port(dp);
		if ((q.flags & NSDP_TRACE_F_FROM_HOST) || (!ep && a == dp->cfg.host_ip)) {
			if (host < 0) {
				reply_error(c, h->seq, -ENODEV, "TRACE: this dataplane has no host port");
				return;
			}
			in_port = (unsigned)host;
		} else if (!ep) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, q.src.addr, ip, sizeof(ip));
			reply_error(c, h->seq, -ENOENT,
				    "TRACE: source %s is not an endpoint of node %s: trace it from "
				    "its own node, or with --from-uplink or --from-host here",
				    ip, dp->cfg.node_name);
			return;
		} else {
			in_port = ep->port;
		}
	}

	struct dp_trace *tr = rte_zmalloc("dp_trace", sizeof(*tr), RTE_CACHE_LINE_SIZE);
	if (!tr) {
		reply_error(c, h->seq, -ENOMEM, "TRACE: out of memory");
		return;
	}
	int rc = dp_trace_packet(dp, &q, in_port, tr, err, sizeof(err));
	if (rc < 0) {
		reply_error(c, h->seq, rc, "TRACE: %s", err);
		rte_free(tr);
		return;
	}
	const struct dp_policy *p = atomic_load_explicit(&dp->policy, memory_order_acquire);
	struct nsdp_trace_hdr th = {
		.result = tr->drop ? NSDP_TRACE_DROP : NSDP_TRACE_FORWARD,
		.drop = tr->drop,
		.verdict = tr->verdict,
		.decided_by = tr->decided_by,
		.rule = tr->rule == UINT32_MAX ? NSDP_TRACE_NONE32 : tr->rule,
		.out_port = tr->out_port < 0 ? NSDP_TRACE_NONE32 : (uint32_t)tr->out_port,
		.n_steps = (uint16_t)tr->n,
		.encap = tr->encap,
		.src = q.src,
		.dst = q.dst,
		.generation = t ? dp->generation : 0, /* t is the state of this generation */
		.policy_generation = p ? p->t->generation : 0,
	};
	if (p && tr->rule < p->n_rules)
		snprintf(th.rule_name, sizeof(th.rule_name), "%s", p->t->rules[tr->rule]);
	if (tr->out_port >= 0)
		snprintf(th.out_port_name, sizeof(th.out_port_name), "%s",
			 dp->ports[tr->out_port].name);
	reply2(c, h->type | NSDP_MSG_REPLY, h->seq, dp->generation, &th, sizeof(th), tr->step,
	       tr->n * sizeof(tr->step[0]));
	CTL_LOG(DEBUG, "client %s: traced a packet: %s", c->label,
		tr->drop ? nsdp_drop_name(tr->drop) : "forward");
	rte_free(tr);
}

static void handle(struct ctl_server *cs, struct ctl_client *c, const struct nsdp_msg_hdr *h,
		   const uint8_t *payload)
{
	struct dp *dp = cs->dp;
	const struct dp_table_state *s = &dp->state;

	switch (h->type) {
	case NSDP_MSG_HELLO:
		do_hello(cs, c, h, payload);
		break;
	case NSDP_MSG_SNAPSHOT_BEGIN:
		/* What was queued before is replaced by the snapshot anyway. */
		batch_reset(c);
		c->snapshot = true;
		break;
	case NSDP_MSG_EP_ADD:
	case NSDP_MSG_EP_DEL:
	case NSDP_MSG_ROUTE_ADD:
	case NSDP_MSG_ROUTE_DEL:
	case NSDP_MSG_VTEP_ADD:
	case NSDP_MSG_VTEP_DEL:
		batch_add(cs, c, h, payload);
		break;
	case NSDP_MSG_POLICY_SET:
		policy_set(c, h, payload);
		break;
	case NSDP_MSG_PORT_ADD:
	case NSDP_MSG_PORT_DEL:
		port_batch_add(c, h, payload);
		break;
	case NSDP_MSG_GET_POLICY:
		do_policy(cs, c, h);
		break;
	case NSDP_MSG_FLOWLOG_READ:
		do_flowlog(cs, c, h, payload);
		break;
	case NSDP_MSG_COMMIT:
		do_commit(cs, c, h);
		break;
	case NSDP_MSG_GET_INFO:
		do_info(cs, c, h);
		break;
	case NSDP_MSG_GET_PORTS:
		do_ports(cs, c, h);
		break;
	case NSDP_MSG_GET_STATS:
		do_stats(cs, c, h);
		break;
	case NSDP_MSG_GET_ENDPOINTS:
		reply_array(c, h, dp->generation, s->eps, s->n_eps, sizeof(*s->eps));
		break;
	case NSDP_MSG_GET_ROUTES:
		reply_array(c, h, dp->generation, s->routes, s->n_routes, sizeof(*s->routes));
		break;
	case NSDP_MSG_GET_VTEPS:
		reply_array(c, h, dp->generation, s->vteps, s->n_vteps, sizeof(*s->vteps));
		break;
	case NSDP_MSG_GET_FLOWS:
		do_flows(cs, c, h, payload);
		break;
	case NSDP_MSG_CT_FLUSH:
		do_ct_flush(cs, c, h);
		break;
	case NSDP_MSG_TRACE:
		do_trace(cs, c, h, payload);
		break;
	default:
		reply_error(c, h->seq, -ENOTSUP, "unknown message type %u", h->type);
		break;
	}
}

static bool client_backlogged(const struct ctl_client *c)
{
	return c->out_len - c->out_off > CTL_OUT_HIGH;
}

/*
 * Handle the complete messages in c->in, stopping early while the client's
 * replies back up (ctl_poll resumes once they drain).
 */
static void client_process(struct ctl_server *cs, struct ctl_client *c)
{
	size_t off = 0;

	while (!c->closing && !client_backlogged(c) &&
	       c->in_len - off >= sizeof(struct nsdp_msg_hdr)) {
		struct nsdp_msg_hdr h;
		memcpy(&h, c->in + off, sizeof(h));
		if (h.magic != NSDP_PROTO_MAGIC) {
			reply_error(c, h.seq, -EPROTO, "bad magic 0x%08x, expected 0x%08x", h.magic,
				    NSDP_PROTO_MAGIC);
			c->closing = true;
			break;
		}
		if ((h.version >> 8) != (NSDP_PROTO_VERSION >> 8)) {
			reply_error(c, h.seq, -EPROTONOSUPPORT,
				    "protocol version %u.%u not supported, the dataplane speaks %u.%u",
				    h.version >> 8, h.version & 0xff, NSDP_PROTO_VERSION >> 8,
				    NSDP_PROTO_VERSION & 0xff);
			c->closing = true;
			break;
		}
		if (h.len > NSDP_PROTO_MAX_PAYLOAD) {
			reply_error(c, h.seq, -EMSGSIZE, "payload of %u bytes exceeds the %u byte limit",
				    h.len, NSDP_PROTO_MAX_PAYLOAD);
			c->closing = true;
			break;
		}
		size_t total = sizeof(h) + h.len;
		if (c->in_len - off < total)
			break;
		handle(cs, c, &h, c->in + off + sizeof(h));
		off += total;
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (c->in_len == 0 && c->in_cap > CTL_BUF_KEEP) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* Returns -errno when the client is gone. */
static int client_read(struct ctl_server *cs, struct ctl_client *c)
{
	size_t got = 0;

	while (got < CTL_READ_ROUND && !c->closing) {
		if (buf_reserve(&c->in, &c->in_cap, c->in_len + CTL_READ_CHUNK) < 0)
			return -ENOMEM;
		ssize_t n = recv(c->fd, c->in + c->in_len, CTL_READ_CHUNK, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		c->in_len += (size_t)n;
		got += (size_t)n;
		client_process(cs, c);
		if (client_backlogged(c))
			break;
	}
	return 0;
}

/*
 * Tell a client we cannot serve why, best effort, and close. Sequence 0
 * (never used by a request) marks an error about the connection itself.
 */
static void refuse(struct ctl_server *cs, int fd, int status)
{
	uint8_t m[sizeof(struct nsdp_msg_hdr) + sizeof(struct nsdp_error)];
	struct nsdp_msg_hdr h = {
		.magic = NSDP_PROTO_MAGIC,
		.version = NSDP_PROTO_VERSION,
		.type = NSDP_MSG_ERROR,
		.len = sizeof(struct nsdp_error),
	};
	struct nsdp_error e = { .status = status };

	snprintf(e.error, sizeof(e.error), "%s",
		 status == -EBUSY ? "too many control clients (" RTE_STR(CTL_MAX_CLIENTS) ")"
				  : "out of memory");
	CTL_LOG(WARNING, "%s: refusing a client: %s", cs->path, e.error);
	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), &e, sizeof(e));
	if (send(fd, m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		CTL_LOG(DEBUG, "%s: refusal not sent: %s", cs->path, strerror(errno));
	close(fd);
}

static void client_accept(struct ctl_server *cs)
{
	for (;;) {
		int fd = accept4(cs->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				CTL_LOG(WARNING, "%s: accept: %s", cs->path, strerror(errno));
			return;
		}
		unsigned i;
		for (i = 0; i < CTL_MAX_CLIENTS && cs->cl[i]; i++)
			;
		struct ctl_client *c = i < CTL_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			refuse(cs, fd, i < CTL_MAX_CLIENTS ? -ENOMEM : -EBUSY);
			continue;
		}
		c->fd = fd;
		snprintf(c->label, sizeof(c->label), "fd %d", fd);
		cs->cl[i] = c;
	}
}

int ctl_poll(struct ctl_server *cs, int timeout_ms)
{
	struct pollfd pfd[1 + CTL_MAX_CLIENTS];
	unsigned idx[CTL_MAX_CLIENTS], n = 0;

	pfd[0] = (struct pollfd){ .fd = cs->lfd, .events = POLLIN };
	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = cs->cl[i];
		if (!c)
			continue;
		short ev = 0;
		if (!c->closing && !client_backlogged(c))
			ev |= POLLIN;
		if (c->out_len > c->out_off)
			ev |= POLLOUT;
		pfd[1 + n] = (struct pollfd){ .fd = c->fd, .events = ev };
		idx[n++] = i;
	}

	int rc = poll(pfd, 1 + n, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;

	for (unsigned k = 0; k < n; k++) {
		struct ctl_client *c = cs->cl[idx[k]];
		short re = pfd[1 + k].revents;
		int err = 0;
		if (re & (POLLIN | POLLHUP | POLLERR))
			err = client_read(cs, c);
		if (err == 0 && c->out_len > c->out_off)
			err = client_flush(c);
		/* Messages held back while the replies backed up. */
		if (err == 0 && !c->closing && !client_backlogged(c) &&
		    c->in_len >= sizeof(struct nsdp_msg_hdr)) {
			client_process(cs, c);
			err = client_flush(c);
		}
		if (err < 0 || (c->closing && c->out_len == c->out_off)) {
			if (c->n_chg || c->snapshot)
				CTL_LOG(NOTICE, "client %s left with %u uncommitted changes",
					c->label, c->n_chg);
			client_free(c);
			cs->cl[idx[k]] = NULL;
		}
	}
	if (pfd[0].revents & POLLIN)
		client_accept(cs);
	return 0;
}

/* mkdir -p of the directory part of `path`. */
static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char ch = *p;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = ch;
		if (ch == '\0')
			break;
	}
	return 0;
}

struct ctl_server *ctl_open(struct dp *dp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = dp->cfg.ctl_socket;
	struct stat st;
	int rc;

	if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		CTL_LOG(ERR, "control socket path \"%s\" is empty or too long", path);
		errno = EINVAL;
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	rc = mkdir_parent(path);
	if (rc < 0) {
		CTL_LOG(ERR, "%s: cannot create its directory: %s", path, strerror(-rc));
		errno = -rc;
		return NULL;
	}

	struct ctl_server *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->dp = dp;
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	cs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->lfd < 0)
		goto fail;

	/* A socket file left by a dead dataplane is removed; one a live
	 * dataplane answers on is not ours to take. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			CTL_LOG(ERR, "%s: exists and is not a socket", path);
			errno = EEXIST;
			goto fail;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			CTL_LOG(ERR, "%s: another dataplane is serving this socket", path);
			errno = EADDRINUSE;
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	if (bind(cs->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		CTL_LOG(ERR, "%s: bind: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, 0660) < 0 || listen(cs->lfd, 16) < 0) {
		CTL_LOG(ERR, "%s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	CTL_LOG(INFO, "listening on %s", path);
	return cs;
fail:
	rc = errno;
	if (cs->lfd >= 0)
		close(cs->lfd);
	free(cs);
	errno = rc;
	return NULL;
}

void ctl_close(struct ctl_server *cs)
{
	if (!cs)
		return;
	for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
		if (cs->cl[i])
			client_free(cs->cl[i]);
	close(cs->lfd);
	unlink(cs->path);
	free(cs);
}

/* ---- telemetry -------------------------------------------------------- */

/*
 * Telemetry callbacks run on DPDK's telemetry thread. They read only what
 * is immutable after start (cfg, ports) or written by workers as single
 * 64-bit counters (stats.h); the generation and conntrack fill are read
 * without synchronisation and may be a moment old.
 */
static struct dp *tel_dp;

/*
 * Telemetry refuses names with characters other than letters, digits, '_'
 * and '/', so "ip-bad-csum" is published as "ip_bad_csum".
 */
static const char *tel_key(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char *tel_key(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			*p = '_';
	return buf;
}

static struct dp *tel_get(void)
{
	return __atomic_load_n(&tel_dp, __ATOMIC_ACQUIRE);
}

static int tel_info(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp *dp = tel_get();
	char vtep[INET_ADDRSTRLEN];

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	if (!dp)
		return -EAGAIN;
	inet_ntop(AF_INET, &dp->cfg.vtep_ip, vtep, sizeof(vtep));
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "node", dp->cfg.node_name);
	rte_tel_data_add_dict_int(d, "version", NSDP_PROTO_VERSION);
	rte_tel_data_add_dict_u64(d, "generation",
				  __atomic_load_n(&dp->generation, __ATOMIC_RELAXED));
	rte_tel_data_add_dict_u64(d, "uptime_ms", uptime_ms(dp));
	rte_tel_data_add_dict_int(d, "n_workers", (int)dp->n_workers);
	rte_tel_data_add_dict_int(d, "n_ports", (int)dp->n_ports);
	rte_tel_data_add_dict_string(d, "overlay",
				     dp->cfg.overlay == NSDP_OVERLAY_GENEVE ? "geneve" : "vxlan");
	rte_tel_data_add_dict_u64(d, "vni", dp->cfg.vni);
	rte_tel_data_add_dict_u64(d, "mtu", dp->cfg.mtu);
	rte_tel_data_add_dict_string(d, "vtep", vtep);
	rte_tel_data_add_dict_u64(d, "ct_size", dp->ct ? ct_capacity(dp->ct) : 0);
	rte_tel_data_add_dict_u64(d, "ct_used", dp->ct ? ct_count(dp->ct) : 0);
	/* Leak checks (hot-plug churn): mbufs not held by anyone. */
	rte_tel_data_add_dict_u64(d, "mbufs_size", dp->pool ? dp->pool->size : 0);
	rte_tel_data_add_dict_u64(d, "mbufs_free",
				  dp->pool ? rte_mempool_avail_count(dp->pool) : 0);
	return 0;
}

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp *dp = tel_get();
	char key[RTE_TEL_MAX_STRING_LEN];

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	if (!dp)
		return -EAGAIN;
	rte_tel_data_start_dict(d);
	for (unsigned w = 0; dp->stats && w < dp->n_workers; w++) {
		const struct dp_lcore_stats *s = &dp->stats[w];
		struct nsdp_lcore_stats lc;
		struct rte_tel_data *ld = rte_tel_data_alloc();
		if (!ld)
			return -ENOMEM;
		lcore_stats_read(dp, w, &lc);
		rte_tel_data_start_dict(ld);
		rte_tel_data_add_dict_u64(ld, "busy_cycles", lc.busy_cycles);
		rte_tel_data_add_dict_u64(ld, "busy_packets", lc.busy_packets);
		rte_tel_data_add_dict_u64(ld, "polls", lc.polls);
		rte_tel_data_add_dict_u64(ld, "idle_polls", lc.idle_polls);
		rte_tel_data_add_dict_u64(ld, "ct_created", lc.ct_created);
		for (unsigned i = 0; i < dp->n_ports; i++) {
			const char *pn = dp->ports[i].name;
			if (!pn[0])
				continue;
			const struct nsdp_port_counters *pc = &s->port[i];
			rte_tel_data_add_dict_u64(ld, tel_key(key, sizeof(key), "%s_rx_pkts", pn),
						  rd64(&pc->rx_pkts));
			rte_tel_data_add_dict_u64(ld, tel_key(key, sizeof(key), "%s_rx_bytes", pn),
						  rd64(&pc->rx_bytes));
			rte_tel_data_add_dict_u64(ld, tel_key(key, sizeof(key), "%s_tx_pkts", pn),
						  rd64(&pc->tx_pkts));
			rte_tel_data_add_dict_u64(ld, tel_key(key, sizeof(key), "%s_tx_bytes", pn),
						  rd64(&pc->tx_bytes));
		}
		if (rte_tel_data_add_dict_container(d, tel_key(key, sizeof(key), "lcore%u",
								 lc.lcore_id), ld, 0) < 0)
			rte_tel_data_free(ld);
	}
	return 0;
}

static int tel_drops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp *dp = tel_get();
	char key[RTE_TEL_MAX_STRING_LEN];

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	if (!dp)
		return -EAGAIN;
	rte_tel_data_start_dict(d);
	for (unsigned r = 1; r < NSDP_DROP_MAX; r++) {
		uint64_t sum = 0;
		for (unsigned w = 0; dp->stats && w < dp->n_workers; w++)
			sum += rd64(&dp->stats[w].drops[r]);
		rte_tel_data_add_dict_u64(d, tel_key(key, sizeof(key), "%s", nsdp_drop_name(r)),
					  sum);
	}
	return 0;
}

static int tel_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp *dp = tel_get();
	char key[RTE_TEL_MAX_STRING_LEN];

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	if (!dp)
		return -EAGAIN;
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; i < dp->n_ports; i++) {
		if (!dp->ports[i].role)
			continue;
		struct nsdp_port_info pi;
		struct nsdp_port_counters sum = { 0 };
		char mac[RTE_ETHER_ADDR_FMT_SIZE];
		struct rte_tel_data *pd = rte_tel_data_alloc();
		if (!pd)
			return -ENOMEM;
		port_info(&dp->ports[i], &pi);
		for (unsigned w = 0; dp->stats && w < dp->n_workers; w++) {
			const struct nsdp_port_counters *pc = &dp->stats[w].port[i];
			sum.rx_pkts += rd64(&pc->rx_pkts);
			sum.rx_bytes += rd64(&pc->rx_bytes);
			sum.tx_pkts += rd64(&pc->tx_pkts);
			sum.tx_bytes += rd64(&pc->tx_bytes);
		}
		rte_ether_format_addr(mac, sizeof(mac), &dp->ports[i].mac);
		rte_tel_data_start_dict(pd);
		rte_tel_data_add_dict_int(pd, "port_id", pi.port_id);
		rte_tel_data_add_dict_string(pd, "role",
					     nsdp_port_role_name(pi.role));
		rte_tel_data_add_dict_string(pd, "driver", pi.driver);
		rte_tel_data_add_dict_string(pd, "mac", mac);
		rte_tel_data_add_dict_int(pd, "link_up", pi.link_up);
		rte_tel_data_add_dict_u64(pd, "speed_mbps", pi.speed_mbps);
		rte_tel_data_add_dict_u64(pd, "mtu", pi.mtu);
		rte_tel_data_add_dict_int(pd, "rx_queues", pi.rx_queues);
		rte_tel_data_add_dict_int(pd, "tx_queues", pi.tx_queues);
		rte_tel_data_add_dict_u64(pd, "rx_pkts", sum.rx_pkts);
		rte_tel_data_add_dict_u64(pd, "rx_bytes", sum.rx_bytes);
		rte_tel_data_add_dict_u64(pd, "tx_pkts", sum.tx_pkts);
		rte_tel_data_add_dict_u64(pd, "tx_bytes", sum.tx_bytes);
		rte_tel_data_add_dict_u64(pd, "hw_ipackets", pi.hw_ipackets);
		rte_tel_data_add_dict_u64(pd, "hw_opackets", pi.hw_opackets);
		rte_tel_data_add_dict_u64(pd, "hw_imissed", pi.hw_imissed);
		rte_tel_data_add_dict_u64(pd, "hw_ierrors", pi.hw_ierrors);
		rte_tel_data_add_dict_u64(pd, "hw_oerrors", pi.hw_oerrors);
		if (rte_tel_data_add_dict_container(d, tel_key(key, sizeof(key), "%s", pi.name),
						    pd, 0) < 0)
			rte_tel_data_free(pd);
	}
	return 0;
}

/*
 * The commands register themselves when the program loads (telemetry
 * allows this before rte_eal_init); they answer -EAGAIN until
 * ctl_register_telemetry() names the instance.
 */
RTE_INIT(ctl_telemetry_init)
{
	rte_telemetry_register_cmd("/nsdp/info", tel_info,
				   "nsdp dataplane: node, generation, overlay, conntrack fill");
	rte_telemetry_register_cmd("/nsdp/stats", tel_stats,
				   "nsdp per-lcore counters: packets and bytes per port, busy cycles");
	rte_telemetry_register_cmd("/nsdp/drops", tel_drops,
				   "nsdp drops by reason ('-' in names as '_'), summed over lcores");
	rte_telemetry_register_cmd("/nsdp/ports", tel_ports,
				   "nsdp ports: link, driver, software and hardware counters");
}

void ctl_register_telemetry(struct dp *dp)
{
	__atomic_store_n(&tel_dp, dp, __ATOMIC_RELEASE);
}
