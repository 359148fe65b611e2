/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlclient.h"

static int fail(struct nsdp_client *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct nsdp_client *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return rc;
}

const char *nsdp_client_error(const struct nsdp_client *c)
{
	return c->err;
}

void nsdp_client_close(struct nsdp_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int send_all(struct nsdp_client *c, const void *buf, size_t len, int more)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(c, -errno, "%s: send: %s", c->path, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes, waiting at most c->timeout_ms for each chunk. */
static int recv_all(struct nsdp_client *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int rc = poll(&pfd, 1, c->timeout_ms > 0 ? c->timeout_ms : -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return fail(c, -errno, "%s: poll: %s", c->path, strerror(errno));
		}
		if (rc == 0)
			return fail(c, -ETIMEDOUT, "%s: no reply from the dataplane within %d ms",
				    c->path, c->timeout_ms);
		ssize_t n = recv(c->fd, p, len, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail(c, -errno, "%s: recv: %s", c->path, strerror(errno));
		}
		if (n == 0)
			return fail(c, -ECONNRESET, "%s: the dataplane closed the connection",
				    c->path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_msg(struct nsdp_client *c, uint16_t type, uint64_t generation,
		    const void *payload, uint32_t len, uint32_t *seq)
{
	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected to the dataplane");
	if (len > NSDP_PROTO_MAX_PAYLOAD)
		return fail(c, -EMSGSIZE, "message of %u bytes exceeds the %u byte limit",
			    len, NSDP_PROTO_MAX_PAYLOAD);
	struct nsdp_msg_hdr h = {
		.magic = NSDP_PROTO_MAGIC,
		.version = NSDP_PROTO_VERSION,
		.type = type,
		.len = len,
		.seq = ++c->seq,
		.generation = generation,
	};
	int rc = send_all(c, &h, sizeof(h), len > 0);
	if (rc == 0 && len > 0)
		rc = send_all(c, payload, len, 0);
	if (seq)
		*seq = h.seq;
	return rc;
}

/* COMMIT and CT_FLUSH are answered by an ACK, everything else in kind. */
static uint16_t reply_type(uint16_t type)
{
	return type == NSDP_MSG_COMMIT || type == NSDP_MSG_CT_FLUSH ? NSDP_MSG_ACK : type;
}

/*
 * Wait for the reply to `seq`. Replies to earlier messages (an ERROR about a
 * change message nobody waited for) are skipped.
 */
static int recv_reply(struct nsdp_client *c, uint16_t type, uint32_t seq, void **reply,
		      uint32_t *reply_len)
{
	*reply = NULL;
	*reply_len = 0;
	for (;;) {
		struct nsdp_msg_hdr h;
		int rc = recv_all(c, &h, sizeof(h));
		if (rc < 0)
			return rc;
		if (h.magic != NSDP_PROTO_MAGIC)
			return fail(c, -EPROTO, "%s: bad magic 0x%08x in reply", c->path, h.magic);
		if (h.len > NSDP_PROTO_MAX_PAYLOAD)
			return fail(c, -EPROTO, "%s: reply of %u bytes exceeds the limit", c->path,
				    h.len);
		void *buf = NULL;
		if (h.len > 0) {
			buf = malloc(h.len);
			if (!buf)
				return fail(c, -ENOMEM, "out of memory for a %u byte reply", h.len);
			rc = recv_all(c, buf, h.len);
			if (rc < 0) {
				free(buf);
				return rc;
			}
		}
		bool is_error = h.type == NSDP_MSG_ERROR ||
				h.type == (NSDP_MSG_ERROR | NSDP_MSG_REPLY);
		/* seq 0: an error about the connection (the server is refusing it). */
		if (h.seq != seq && !(is_error && h.seq == 0)) {
			free(buf);
			continue;
		}
		if (is_error) {
			struct nsdp_error e = { .status = -EPROTO };
			memcpy(&e, buf, h.len < sizeof(e) ? h.len : sizeof(e));
			e.error[sizeof(e.error) - 1] = '\0';
			free(buf);
			return fail(c, e.status < 0 ? e.status : -EPROTO, "dataplane: %s",
				    e.error[0] ? e.error : strerror(-e.status));
		}
		if (h.type != (reply_type(type) | NSDP_MSG_REPLY)) {
			free(buf);
			return fail(c, -EPROTO, "%s: reply type %u to a request of type %u",
				    c->path, h.type, type);
		}
		*reply = buf;
		*reply_len = h.len;
		return 0;
	}
}

int nsdp_client_request(struct nsdp_client *c, uint16_t type, const void *payload,
			uint32_t len, void **reply, uint32_t *reply_len)
{
	uint32_t seq;

	*reply = NULL;
	*reply_len = 0;
	int rc = send_msg(c, type, 0, payload, len, &seq);
	if (rc < 0)
		return rc;
	return recv_reply(c, type, seq, reply, reply_len);
}

int nsdp_client_connect(struct nsdp_client *c, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(c, -ENAMETOOLONG, "%s: socket path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail(c, -errno, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;
		nsdp_client_close(c);
		return fail(c, rc, "cannot connect to the dataplane at %s: %s", path,
			    strerror(-rc));
	}

	struct nsdp_hello hello = { .version = NSDP_PROTO_VERSION, .pid = (uint32_t)getpid() };
	snprintf(hello.name, sizeof(hello.name), "%s", program_invocation_short_name);
	void *reply;
	uint32_t rlen, seq;
	int rc = send_msg(c, NSDP_MSG_HELLO, 0, &hello, sizeof(hello), &seq);
	if (rc == 0)
		rc = recv_reply(c, NSDP_MSG_HELLO, seq, &reply, &rlen);
	if (rc < 0) {
		nsdp_client_close(c);
		return rc;
	}
	if (rlen < sizeof(c->server)) {
		free(reply);
		nsdp_client_close(c);
		return fail(c, -EPROTO, "%s: HELLO reply of %u bytes, expected %zu", path, rlen,
			    sizeof(c->server));
	}
	memcpy(&c->server, reply, sizeof(c->server));
	c->server.name[sizeof(c->server.name) - 1] = '\0';
	free(reply);
	if ((c->server.version >> 8) != (NSDP_PROTO_VERSION >> 8)) {
		nsdp_client_close(c);
		return fail(c, -EPROTONOSUPPORT,
			    "%s: dataplane speaks protocol %u.%u, this client %u.%u", path,
			    c->server.version >> 8, c->server.version & 0xff,
			    NSDP_PROTO_VERSION >> 8, NSDP_PROTO_VERSION & 0xff);
	}
	return 0;
}

int nsdp_client_send(struct nsdp_client *c, uint16_t type, uint64_t generation,
		     const void *payload, uint32_t len)
{
	return send_msg(c, type, generation, payload, len, NULL);
}

int nsdp_client_snapshot_begin(struct nsdp_client *c)
{
	return nsdp_client_send(c, NSDP_MSG_SNAPSHOT_BEGIN, 0, NULL, 0);
}

int nsdp_client_ep_add(struct nsdp_client *c, const struct nsdp_endpoint *ep)
{
	return nsdp_client_send(c, NSDP_MSG_EP_ADD, 0, ep, sizeof(*ep));
}

int nsdp_client_ep_del(struct nsdp_client *c, const struct nsdp_ip *ip)
{
	struct nsdp_endpoint ep = { .ip = *ip };

	return nsdp_client_send(c, NSDP_MSG_EP_DEL, 0, &ep, sizeof(ep));
}

int nsdp_client_port_add(struct nsdp_client *c, const struct nsdp_port_req *req)
{
	return nsdp_client_send(c, NSDP_MSG_PORT_ADD, 0, req, sizeof(*req));
}

int nsdp_client_port_del(struct nsdp_client *c, const char *name)
{
	struct nsdp_port_req req;

	memset(&req, 0, sizeof(req));
	snprintf(req.name, sizeof(req.name), "%s", name);
	return nsdp_client_send(c, NSDP_MSG_PORT_DEL, 0, &req, sizeof(req));
}

int nsdp_client_route_add(struct nsdp_client *c, const struct nsdp_route *r)
{
	return nsdp_client_send(c, NSDP_MSG_ROUTE_ADD, 0, r, sizeof(*r));
}

int nsdp_client_route_del(struct nsdp_client *c, const struct nsdp_ip *prefix,
			  uint8_t prefix_len)
{
	struct nsdp_route r = { .prefix = *prefix, .prefix_len = prefix_len };

	return nsdp_client_send(c, NSDP_MSG_ROUTE_DEL, 0, &r, sizeof(r));
}

int nsdp_client_vtep_add(struct nsdp_client *c, const struct nsdp_vtep *v)
{
	return nsdp_client_send(c, NSDP_MSG_VTEP_ADD, 0, v, sizeof(*v));
}

int nsdp_client_vtep_del(struct nsdp_client *c, const struct nsdp_ip *ip)
{
	struct nsdp_vtep v = { .ip = *ip };

	return nsdp_client_send(c, NSDP_MSG_VTEP_DEL, 0, &v, sizeof(v));
}

int nsdp_client_commit(struct nsdp_client *c, uint64_t generation, struct nsdp_ack *ack)
{
	uint32_t seq, rlen;
	void *reply;
	int rc = send_msg(c, NSDP_MSG_COMMIT, generation, NULL, 0, &seq);

	if (rc == 0)
		rc = recv_reply(c, NSDP_MSG_COMMIT, seq, &reply, &rlen);
	if (rc < 0)
		return rc;
	if (rlen < sizeof(*ack)) {
		free(reply);
		return fail(c, -EPROTO, "%s: ACK of %u bytes, expected %zu", c->path, rlen,
			    sizeof(*ack));
	}
	memcpy(ack, reply, sizeof(*ack));
	ack->error[sizeof(ack->error) - 1] = '\0';
	free(reply);
	if (ack->rejected)
		fail(c, ack->status, "dataplane rejected %u change(s): %s", ack->rejected,
		     ack->error);
	else
		c->err[0] = '\0';
	return 0;
}

int nsdp_parse_ip(const char *s, struct nsdp_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, ip->addr) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->addr) == 1) {
		ip->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int nsdp_parse_prefix(const char *s, struct nsdp_ip *ip, uint8_t *len)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);

	if (alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (nsdp_parse_ip(buf, ip) < 0)
		return -EINVAL;
	unsigned max = ip->family == AF_INET ? 32 : 128;
	if (!slash) {
		*len = (uint8_t)max;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long l = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end != '\0' || l > max)
		return -EINVAL;
	*len = (uint8_t)l;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int nsdp_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];

	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hexval(p[1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (i < 5 && (p[2] != s[2] || (p[2] != ':' && p[2] != '-')))
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, m, sizeof(m));
	return 0;
}

const char *nsdp_format_ip(const struct nsdp_ip *ip, char *buf, size_t len)
{
	if ((ip->family != AF_INET && ip->family != AF_INET6) ||
	    !inet_ntop(ip->family, ip->addr, buf, (socklen_t)len))
		snprintf(buf, len, "-");
	return buf;
}

const char *nsdp_format_mac(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return buf;
}
