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
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "ctlclient.h"
#include <nsdp/drop.h>

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
	bprintf(b, "# HELP nsdp_agent_policy_compile_cpu_seconds CPU time of the last policy compile "
		   "(the sync thread's).\n"
		   "# TYPE nsdp_agent_policy_compile_cpu_seconds gauge\n"
		   "nsdp_agent_policy_compile_cpu_seconds %.6f\n",
		(double)atomic_load(&ag_m.policy_compile_cpu_ns) / 1e9);
	static const char *const paths[] = {"full", "pods_only", "policy"};
	bprintf(b, "# HELP nsdp_agent_policy_compiles_total Policy compiles, by the path they took "
		   "(docs/policy.md).\n# TYPE nsdp_agent_policy_compiles_total counter\n");
	for (int k = 0; k < 3; k++)
		bprintf(b, "nsdp_agent_policy_compiles_total{path=\"%s\"} %lu\n", paths[k],
			atomic_load(&ag_m.policy_compiles[k]));
	scalar(b, "nsdp_agent_flowlog_records_total", "counter",
	       "Flow-log records written (--flow-log).", atomic_load(&ag_m.flowlog_records));
	scalar(b, "nsdp_agent_flowlog_write_errors_total", "counter",
	       "Flow-log writes that failed (records lost).",
	       atomic_load(&ag_m.flowlog_write_errors));
	scalar(b, "nsdp_agent_flowlog_dataplane_lost_total", "counter",
	       "Flow-log records the dataplane dropped because nobody took them in time.",
	       atomic_load(&ag_m.flowlog_dataplane_lost));
	scalar(b, "nsdp_agent_ready", "gauge", "1 once the first full sync is acknowledged.",
	       atomic_load(&ag_m.ready));
	scalar(b, "nsdp_agent_dataplane_up", "gauge", "1 while connected to the dataplane.",
	       atomic_load(&ag_m.dataplane_up));
}

/* Label values: escape backslash, quote and newline. */
static const char *lv(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

const char *ag_dp_socket; /* the dataplane whose counters /metrics exports */

static void help(struct buf *b, const char *name, const char *type, const char *text)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/*
 * The dataplane's own counters, read over its control socket at each
 * scrape (a connection of its own: the sync thread's is not shared):
 * per port, per lcore, per drop reason, per policy rule, conntrack.
 * When the dataplane cannot be reached, only nsdp_dataplane_up 0.
 */
static void render_dataplane(struct buf *b)
{
	struct nsdp_client c;
	char l1[200], l2[200];
	if (!ag_dp_socket || nsdp_client_connect(&c, ag_dp_socket, 2000) < 0) {
		help(b, "nsdp_dataplane_up", "gauge", "1 when the dataplane answered this scrape.");
		bprintf(b, "nsdp_dataplane_up 0\n");
		return;
	}
	void *buf = NULL;
	uint32_t len = 0;
	help(b, "nsdp_dataplane_up", "gauge", "1 when the dataplane answered this scrape.");
	bprintf(b, "nsdp_dataplane_up 1\n");
	if (nsdp_client_request(&c, NSDP_MSG_GET_INFO, NULL, 0, &buf, &len) == 0 &&
	    len >= sizeof(struct nsdp_info)) {
		const struct nsdp_info *in = buf;
		help(b, "nsdp_dataplane_info", "gauge", "Dataplane identity (value 1).");
		bprintf(b, "nsdp_dataplane_info{node=\"%s\",version=\"%u.%u\",overlay=\"%s\",vni=\"%u\"} 1\n",
			lv(in->node, l1, sizeof(l1)), in->version >> 8, in->version & 0xff,
			in->overlay == NSDP_OVERLAY_GENEVE ? "geneve" : "vxlan", in->vni);
		help(b, "nsdp_dataplane_generation", "gauge", "The table generation in force.");
		bprintf(b, "nsdp_dataplane_generation %" PRIu64 "\n", in->generation);
		help(b, "nsdp_dataplane_uptime_seconds", "gauge", "Seconds since the dataplane started.");
		bprintf(b, "nsdp_dataplane_uptime_seconds %.3f\n", (double)in->uptime_ms / 1000);
		help(b, "nsdp_conntrack_entries", "gauge", "Connections tracked now.");
		bprintf(b, "nsdp_conntrack_entries %u\n", in->ct_used);
		help(b, "nsdp_conntrack_capacity", "gauge", "Connections the table can hold.");
		bprintf(b, "nsdp_conntrack_capacity %u\n", in->ct_size);
	}
	free(buf);
	buf = NULL;

	/* port names, by slot */
	char (*names)[NSDP_PORT_NAME_LEN] = NULL;
	unsigned n_names = 0;
	if (nsdp_client_request(&c, NSDP_MSG_GET_PORTS, NULL, 0, &buf, &len) == 0) {
		const struct nsdp_port_info *pi = buf;
		n_names = len / sizeof(*pi);
		names = calloc(n_names + 1, sizeof(*names));
		help(b, "nsdp_port_link_up", "gauge", "1 when the port's link is up.");
		for (unsigned i = 0; names && i < n_names; i++) {
			snprintf(names[i], sizeof(names[i]), "%s", pi[i].name);
			if (pi[i].name[0])
				bprintf(b, "nsdp_port_link_up{port=\"%s\",driver=\"%s\"} %u\n",
					lv(pi[i].name, l1, sizeof(l1)), lv(pi[i].driver, l2, sizeof(l2)),
					pi[i].link_up);
		}
		static const struct {
			const char *name, *help;
			size_t off;
		} hw[] = {
			{"nsdp_port_hw_rx_missed_total", "Packets the NIC dropped for lack of RX descriptors.",
			 offsetof(struct nsdp_port_info, hw_imissed)},
			{"nsdp_port_hw_rx_errors_total", "Receive errors counted by the NIC.",
			 offsetof(struct nsdp_port_info, hw_ierrors)},
			{"nsdp_port_hw_tx_errors_total", "Transmit errors counted by the NIC.",
			 offsetof(struct nsdp_port_info, hw_oerrors)},
		};
		for (unsigned h = 0; h < sizeof(hw) / sizeof(hw[0]); h++) {
			help(b, hw[h].name, "counter", hw[h].help);
			for (unsigned i = 0; i < n_names; i++) {
				uint64_t v;
				memcpy(&v, (const uint8_t *)&pi[i] + hw[h].off, sizeof(v));
				if (pi[i].name[0])
					bprintf(b, "%s{port=\"%s\"} %" PRIu64 "\n", hw[h].name,
						lv(pi[i].name, l1, sizeof(l1)), v);
			}
		}
	}
	free(buf);
	buf = NULL;

	if (nsdp_client_request(&c, NSDP_MSG_GET_STATS, NULL, 0, &buf, &len) == 0 &&
	    len >= sizeof(struct nsdp_stats_hdr)) {
		struct nsdp_stats_hdr h;
		memcpy(&h, buf, sizeof(h));
		size_t per = sizeof(struct nsdp_lcore_stats) +
			     h.n_ports * sizeof(struct nsdp_port_counters) + h.n_drops * sizeof(uint64_t);
		if (len >= sizeof(h) + h.n_lcores * per) {
			const uint8_t *base = (const uint8_t *)buf + sizeof(h);
			static const struct {
				const char *name, *help;
				size_t off;
			} lc[] = {
				{"nsdp_lcore_busy_cycles_total", "TSC cycles spent on bursts that carried packets.",
				 offsetof(struct nsdp_lcore_stats, busy_cycles)},
				{"nsdp_lcore_packets_total", "Packets processed by the lcore.",
				 offsetof(struct nsdp_lcore_stats, busy_packets)},
				{"nsdp_lcore_polls_total", "RX polls.", offsetof(struct nsdp_lcore_stats, polls)},
				{"nsdp_lcore_idle_polls_total", "RX polls that found nothing.",
				 offsetof(struct nsdp_lcore_stats, idle_polls)},
				{"nsdp_lcore_connections_created_total", "Conntrack entries the lcore created.",
				 offsetof(struct nsdp_lcore_stats, ct_created)},
				{"nsdp_flowlog_records_total", "Flow-log records the lcore queued.",
				 offsetof(struct nsdp_lcore_stats, flowlog_records)},
				{"nsdp_flowlog_rate_limited_total",
				 "Flow-log records not queued: over the rate limit.",
				 offsetof(struct nsdp_lcore_stats, flowlog_rate_limited)},
				{"nsdp_flowlog_ring_full_total",
				 "Flow-log records not queued: the lcore's ring was full.",
				 offsetof(struct nsdp_lcore_stats, flowlog_ring_full)},
			};
			for (unsigned k = 0; k < sizeof(lc) / sizeof(lc[0]); k++) {
				help(b, lc[k].name, "counter", lc[k].help);
				for (unsigned l = 0; l < h.n_lcores; l++) {
					struct nsdp_lcore_stats st;
					memcpy(&st, base + l * per, sizeof(st));
					uint64_t v;
					memcpy(&v, (const uint8_t *)&st + lc[k].off, sizeof(v));
					bprintf(b, "%s{lcore=\"%u\"} %" PRIu64 "\n", lc[k].name, st.lcore_id, v);
				}
			}
			bprintf(b, "# HELP nsdp_lcore_tsc_hz TSC frequency (busy cycles / this = busy seconds).\n"
				   "# TYPE nsdp_lcore_tsc_hz gauge\nnsdp_lcore_tsc_hz %" PRIu64 "\n", h.tsc_hz);
			static const char *const pc_names[4] = {
				"nsdp_port_rx_packets_total", "nsdp_port_rx_bytes_total",
				"nsdp_port_tx_packets_total", "nsdp_port_tx_bytes_total"};
			for (unsigned k = 0; k < 4; k++) {
				help(b, pc_names[k], "counter", "Per port and lcore, as the workers counted.");
				for (unsigned l = 0; l < h.n_lcores; l++) {
					uint32_t lcore;
					memcpy(&lcore, base + l * per, sizeof(lcore));
					for (unsigned p = 0; p < h.n_ports; p++) {
						struct nsdp_port_counters pc;
						memcpy(&pc, base + l * per + sizeof(struct nsdp_lcore_stats) +
								    p * sizeof(pc), sizeof(pc));
						uint64_t v[4] = {pc.rx_pkts, pc.rx_bytes, pc.tx_pkts, pc.tx_bytes};
						const char *pn = p < n_names && names && names[p][0] ? names[p] : NULL;
						if (!pn)
							continue;
						bprintf(b, "%s{port=\"%s\",lcore=\"%u\"} %" PRIu64 "\n", pc_names[k],
							lv(pn, l1, sizeof(l1)), lcore, v[k]);
					}
				}
			}
			help(b, "nsdp_drops_total", "counter", "Packets dropped, by reason and lcore.");
			for (unsigned l = 0; l < h.n_lcores; l++) {
				uint32_t lcore;
				memcpy(&lcore, base + l * per, sizeof(lcore));
				for (unsigned r = 1; r < h.n_drops; r++) {
					uint64_t v;
					memcpy(&v, base + l * per + sizeof(struct nsdp_lcore_stats) +
							    h.n_ports * sizeof(struct nsdp_port_counters) + r * sizeof(v),
					       sizeof(v));
					char rn[32];
					if (r >= NSDP_DROP_MAX)
						snprintf(rn, sizeof(rn), "drop-%u", r);
					bprintf(b, "nsdp_drops_total{reason=\"%s\",lcore=\"%u\"} %" PRIu64 "\n",
						r < NSDP_DROP_MAX ? nsdp_drop_name(r) : rn, lcore, v);
				}
			}
		}
	}
	free(buf);
	buf = NULL;
	free(names);

	if (nsdp_client_request(&c, NSDP_MSG_GET_POLICY, NULL, 0, &buf, &len) == 0 &&
	    len >= sizeof(struct nsdp_policy_stats_hdr)) {
		struct nsdp_policy_stats_hdr h;
		memcpy(&h, buf, sizeof(h));
		help(b, "nsdp_policy_generation", "gauge", "Generation of the policy in force (0: none).");
		bprintf(b, "nsdp_policy_generation %" PRIu64 "\n", h.generation);
		help(b, "nsdp_policy_rule_packets_total", "counter",
		     "Packets allowed or denied, by the deciding policy rule; verdict \"audit\": "
		     "forwarded packets an audited rule would deny.");
		if (len >= sizeof(h) + h.n_rules * sizeof(struct nsdp_policy_rule)) {
			const struct nsdp_policy_rule *r =
				(const void *)((const uint8_t *)buf + sizeof(h));
			for (uint32_t i = 0; i < h.n_rules; i++) {
				char name[sizeof(r[i].name) + 1];
				memcpy(name, r[i].name, sizeof(r[i].name));
				name[sizeof(r[i].name)] = '\0';
				lv(name, l1, sizeof(l1));
				bprintf(b, "nsdp_policy_rule_packets_total{rule=\"%s\",verdict=\"allow\"} %" PRIu64 "\n"
					   "nsdp_policy_rule_packets_total{rule=\"%s\",verdict=\"deny\"} %" PRIu64 "\n"
					   "nsdp_policy_rule_packets_total{rule=\"%s\",verdict=\"audit\"} %" PRIu64 "\n",
					l1, r[i].allowed, l1, r[i].denied, l1, r[i].audited);
			}
		}
	}
	free(buf);
	nsdp_client_close(&c);
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
		render_dataplane(&b);
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
			usleep(100000); /* EMFILE and the like pass: keep serving */
			continue;
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
	pthread_setname_np(t, "metrics");
	pthread_detach(t);
	ag_log(AG_INFO, "metrics", "serving /metrics, /healthz and /readyz on %s", addr);
	return 0;
}
