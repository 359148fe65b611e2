/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's HTTP endpoint: Prometheus metrics (text format 0.0.4),
 * /healthz (the process runs) and /readyz (first full sync acknowledged by
 * the dataplane, and the dataplane connected). One thread, one request per
 * connection, bounded request size and time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

struct buf {
	char *p;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 8192;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return;
		b->p = p;
		b->cap = cap;
	}
}

static void per_kind(struct buf *b, const char *name, const char *type, const char *help,
		     atomic_ulong *v)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (int k = 0; k < AG_N_KINDS; k++)
		bprintf(b, "%s{kind=\"%s\"} %lu\n", name, ag_kinds[k].kind, atomic_load(&v[k]));
}

static void scalar(struct buf *b, const char *name, const char *type, const char *help,
		   unsigned long v)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %lu\n", name, help, name, type, name, v);
}

static void render(struct buf *b)
{
	static const char *const evtypes[] = {"upsert", "delete", "relist"};
	bprintf(b, "# HELP nsdp_agent_events_total Watch events received, by kind and type.\n"
		   "# TYPE nsdp_agent_events_total counter\n");
	for (int k = 0; k < AG_N_KINDS; k++)
		for (int t = 0; t < 3; t++)
			bprintf(b, "nsdp_agent_events_total{kind=\"%s\",type=\"%s\"} %lu\n",
				ag_kinds[k].kind, evtypes[t], atomic_load(&ag_m.events[k][t]));
	per_kind(b, "nsdp_agent_objects", "gauge", "Objects in the agent's cache.", ag_m.objects);
	per_kind(b, "nsdp_agent_rejected_objects_total", "counter",
		 "Objects rejected as invalid (each logged with its field).", ag_m.rejected);
	per_kind(b, "nsdp_agent_watch_restarts_total", "counter",
		 "Watches restarted (stream ended, cut, stalled or failed).", ag_m.watch_restarts);
	per_kind(b, "nsdp_agent_relists_total", "counter",
		 "Full lists after the first (410 Gone, decode errors).", ag_m.relists);

	bprintf(b, "# HELP nsdp_agent_errors_total Errors talking to the API server, by kind and reason.\n"
		   "# TYPE nsdp_agent_errors_total counter\n");
	struct {
		const char *reason;
		atomic_ulong *v;
	} errs[] = {{"http", ag_m.errors_http},	     {"unauthorized", ag_m.errors_auth},
		    {"forbidden", ag_m.errors_forbidden}, {"connection", ag_m.errors_conn},
		    {"decode", ag_m.errors_decode}};
	for (unsigned e = 0; e < sizeof(errs) / sizeof(errs[0]); e++)
		for (int k = 0; k < AG_N_KINDS; k++)
			bprintf(b, "nsdp_agent_errors_total{kind=\"%s\",reason=\"%s\"} %lu\n",
				ag_kinds[k].kind, errs[e].reason, atomic_load(&errs[e].v[k]));

	bprintf(b, "# HELP nsdp_agent_sync_latency_seconds From an event's arrival to the dataplane's acknowledgement of the generation that includes it.\n"
		   "# TYPE nsdp_agent_sync_latency_seconds histogram\n");
	unsigned long cum = 0;
	for (int i = 0; i < AG_LAT_BUCKETS; i++) {
		cum += atomic_load(&ag_m.lat_bucket[i]);
		bprintf(b, "nsdp_agent_sync_latency_seconds_bucket{le=\"%g\"} %lu\n", ag_lat_bounds[i],
			cum);
	}
	cum += atomic_load(&ag_m.lat_bucket[AG_LAT_BUCKETS]);
	bprintf(b, "nsdp_agent_sync_latency_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	bprintf(b, "nsdp_agent_sync_latency_seconds_sum %.9f\n",
		(double)atomic_load(&ag_m.lat_sum_ns) / 1e9);
	bprintf(b, "nsdp_agent_sync_latency_seconds_count %lu\n", atomic_load(&ag_m.lat_count));

	scalar(b, "nsdp_agent_syncs_total", "counter", "Generations pushed and acknowledged.",
	       atomic_load(&ag_m.syncs));
	scalar(b, "nsdp_agent_sync_failures_total", "counter",
	       "Pushes that failed (dataplane gone, rejected changes).",
	       atomic_load(&ag_m.sync_failures));
	scalar(b, "nsdp_agent_dataplane_connects_total", "counter",
	       "Connections made to the dataplane (each followed by a full resync).",
	       atomic_load(&ag_m.dataplane_connects));
	scalar(b, "nsdp_agent_generation", "gauge", "The generation the dataplane acknowledged last.",
	       atomic_load(&ag_m.generation));
	scalar(b, "nsdp_agent_policy_bytes", "gauge", "Size of the compiled policy last pushed.",
	       atomic_load(&ag_m.policy_bytes));
	bprintf(b, "# HELP nsdp_agent_policy_compile_seconds Time the last policy compile took.\n"
		   "# TYPE nsdp_agent_policy_compile_seconds gauge\n"
		   "nsdp_agent_policy_compile_seconds %.6f\n",
		(double)atomic_load(&ag_m.policy_compile_ns) / 1e9);
	scalar(b, "nsdp_agent_ready", "gauge", "1 once the first full sync is acknowledged.",
	       atomic_load(&ag_m.ready));
	scalar(b, "nsdp_agent_dataplane_up", "gauge", "1 while connected to the dataplane.",
	       atomic_load(&ag_m.dataplane_up));
}

static void respond(int fd, int code, const char *reason, const char *ctype, const char *body,
		    size_t len)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, reason, ctype, len);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	const char *parts[2] = {hdr, body};
	size_t lens[2] = {(size_t)n, len};
	for (int i = 0; i < 2; i++)
		for (size_t off = 0; off < lens[i];) {
			if (poll(&p, 1, 2000) <= 0)
				return;
			ssize_t w = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
			if (w <= 0)
				return;
			off += (size_t)w;
		}
}

static void serve_one(int fd)
{
	char req[4096];
	size_t len = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (len < sizeof(req) - 1 && !memmem(req, len, "\r\n\r\n", 4)) {
		if (poll(&p, 1, 2000) <= 0)
			return;
		ssize_t r = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (r <= 0)
			return;
		len += (size_t)r;
	}
	req[len] = '\0';
	char method[8], path[256];
	if (sscanf(req, "%7s %255s", method, path) != 2) {
		respond(fd, 400, "Bad Request", "text/plain", "bad request\n", 12);
		return;
	}
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		respond(fd, 405, "Method Not Allowed", "text/plain", "GET only\n", 9);
	} else if (!strcmp(path, "/metrics")) {
		struct buf b = {0};
		render(&b);
		respond(fd, 200, "OK", "text/plain; version=0.0.4", b.p ? b.p : "", b.len);
		free(b.p);
	} else if (!strcmp(path, "/healthz")) {
		respond(fd, 200, "OK", "text/plain", "ok\n", 3);
	} else if (!strcmp(path, "/readyz")) {
		bool ready = atomic_load(&ag_m.ready), up = atomic_load(&ag_m.dataplane_up);
		if (ready && up)
			respond(fd, 200, "OK", "text/plain", "ok\n", 3);
		else {
			const char *why = !ready ? "not ready: first sync not acknowledged yet\n"
						 : "not ready: dataplane not connected\n";
			respond(fd, 503, "Service Unavailable", "text/plain", why, strlen(why));
		}
	} else {
		respond(fd, 404, "Not Found", "text/plain", "not found\n", 10);
	}
}

static void *metrics_thread(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			ag_log(AG_ERROR, "metrics", "accept: %s", strerror(errno));
			return NULL;
		}
		serve_one(fd);
		close(fd);
	}
	return NULL;
}

int ag_metrics_start(const char *addr)
{
	char host[128];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		ag_log(AG_ERROR, "metrics", "--metrics %s: expected HOST:PORT or :PORT", addr);
		return -EINVAL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE}, *res;
	int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
	if (rc) {
		ag_log(AG_ERROR, "metrics", "--metrics %s: %s", addr, gai_strerror(rc));
		return -EINVAL;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		ag_log(AG_ERROR, "metrics", "--metrics %s: %s", addr, strerror(errno));
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	freeaddrinfo(res);
	pthread_t t;
	if ((rc = pthread_create(&t, NULL, metrics_thread, (void *)(intptr_t)fd))) {
		close(fd);
		return -rc;
	}
	pthread_detach(t);
	ag_log(AG_INFO, "metrics", "serving /metrics, /healthz and /readyz on %s", addr);
	return 0;
}
