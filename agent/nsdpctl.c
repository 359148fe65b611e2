/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdpctl: inspect and change a running nsdp-dataplane over its control
 * socket. Human output is aligned tables; --json prints one JSON document
 * (an object) per command, for scripts and tests.
 *
 * Changes are committed at the dataplane's effective generation + 1, so an
 * operator's change is ordered after everything already enforced; the
 * generation that made it effective is printed. If another client commits
 * in between (the dataplane answers -ESTALE), the change is resent once at
 * the newer generation + 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nsdp/drop.h>
#include <nsdp/proto.h>

#include "ctlclient.h"
#include "flowfmt.h"
#include "k8s.h"
#include "reach.h"

#define REPLY_TIMEOUT_MS 30000

static bool json;
static const char *sock_path;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nsdpctl [-s SOCKET] [--json] COMMAND\n"
		"\n"
		"queries:\n"
		"  info                      node, generation, overlay, conntrack fill\n"
		"  ports                     ports: driver, link, hardware counters\n"
		"                            (ROLE pod+hot: hot-plugged with port add)\n"
		"  stats                     per-lcore packets/bytes per port, cycles/packet\n"
		"  drops [--all]             drops by reason (--all: zero counts too)\n"
		"  endpoints | routes | vteps\n"
		"  flows [--max N]           conntrack entries\n"
		"  trace FROM TO PORT/PROTO [--from-uplink|--from-host] [--sport N]\n"
		"        [--flags F]\n"
		"        [--manifests DIR]...\n"
		"                            run a synthetic packet through the workers'\n"
		"                            code path and print every step it takes;\n"
		"                            FROM/TO: IP or ns/pod (this node's endpoints,\n"
		"                            else Pod objects in DIR); PROTO tcp, udp,\n"
		"                            sctp or icmp (icmp: PORT ignored); F: SYN,\n"
		"                            ACK, FIN, RST, PSH joined by '+' (TCP, default\n"
		"                            SYN); --from-uplink: enter encapsulated from\n"
		"                            the source's node; --from-host: from this\n"
		"                            node's own stack (the host port; implied for\n"
		"                            the node's host_ip)\n"
		"  flowlog [--follow] [--interval S]\n"
		"                            take the flow-log records (denied and sampled\n"
		"                            connections) as JSON lines; for a dataplane\n"
		"                            without an agent (nsdp-agent --flow-log takes them)\n"
		"  top [--interval S] [--count N] [--once]\n"
		"                            per-lcore rates, cycles/packet, drops, busiest\n"
		"                            flows; redraws on a terminal, else one frame\n"
		"                            per interval\n"
		"changes (committed at the effective generation + 1):\n"
		"  ep add IP PORT MAC [--identity N] [--name NS/POD]\n"
		"  ep del IP\n"
		"  route add CIDR (local | via VTEP_IP)\n"
		"  route del CIDR\n"
		"  vtep add IP MAC [--name NODE]\n"
		"  vtep del IP\n"
		"  port add NAME DEVARGS [--queues N]\n"
		"                            hot-plug a pod port, e.g. DEVARGS\n"
		"                            net_af_packet9,iface=veth9,qdisc_bypass=1\n"
		"  port del NAME             remove a hot-plugged port (its endpoints first)\n"
		"  ct flush\n"
		"  commit-check              commit nothing, print the effective generation\n"
		"  policy apply --manifests DIR [--manifests DIR]...\n"
		"                            compile the objects in the DIRs, enforce them\n"
		"  policy show               enforced policy: rules, packets allowed/denied\n"
		"offline:\n"
		"  policy reach --manifests DIR [--manifests DIR]... --probes FILE\n"
		"                            decide each probe \"SRC DST PORT PROTO\" with the\n"
		"                            compiled policy of the manifests in DIR\n"
		"\n"
		"SOCKET defaults to $NSDP_SOCKET, else %s.\n",
		NSDP_DEFAULT_SOCKET);
}

static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nsdpctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(nsdpctl --help for usage)\n");
	return 2;
}

static int fail_client(const struct nsdp_client *c)
{
	fprintf(stderr, "nsdpctl: %s\n", nsdp_client_error(c));
	return 1;
}

/* ---- JSON output ------------------------------------------------------ */

/* A minimal streaming writer: tracks commas per nesting level. */
static struct {
	int depth;
	bool more[32]; /* something was written at this level: comma first */
} jw;

static void j_str_raw(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* Separator and key (key NULL inside arrays). */
static void j_key(const char *key)
{
	if (jw.more[jw.depth])
		putchar(',');
	jw.more[jw.depth] = true;
	if (key) {
		j_str_raw(key);
		putchar(':');
	}
}

static void j_open(const char *key, char ch)
{
	j_key(key);
	putchar(ch);
	jw.more[++jw.depth] = false;
}

static void j_obj(const char *key) { j_open(key, '{'); }
static void j_arr(const char *key) { j_open(key, '['); }

static void j_close(char ch)
{
	jw.depth--;
	putchar(ch);
	if (jw.depth == 0)
		putchar('\n');
}

static void j_end_obj(void) { j_close('}'); }
static void j_end_arr(void) { j_close(']'); }

static void j_u64(const char *key, uint64_t v)
{
	j_key(key);
	printf("%" PRIu64, v);
}

static void j_i64(const char *key, int64_t v)
{
	j_key(key);
	printf("%" PRId64, v);
}

static void j_dbl(const char *key, double v)
{
	j_key(key);
	printf("%.2f", v);
}

static void j_bool(const char *key, bool v)
{
	j_key(key);
	fputs(v ? "true" : "false", stdout);
}

static void j_null(const char *key)
{
	j_key(key);
	fputs("null", stdout);
}

static void j_str(const char *key, const char *s)
{
	j_key(key);
	j_str_raw(s);
}

/* A fixed-size char array that may lack its NUL. */
static void j_strn(const char *key, const char *s, size_t n)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%.*s", (int)n, s);
	j_str(key, buf);
}

/* ---- table output ----------------------------------------------------- */

#define TBL_MAX_COLS 16

struct table {
	unsigned ncol, nrow, cap;
	const char *hdr[TBL_MAX_COLS];
	bool right[TBL_MAX_COLS];
	char **cells; /* nrow * ncol */
};

/* Columns: "NAME" left-aligned, ">NAME" right-aligned (numbers). */
static void tbl_init(struct table *t, const char *const *cols, unsigned n)
{
	memset(t, 0, sizeof(*t));
	t->ncol = n;
	for (unsigned i = 0; i < n; i++) {
		t->right[i] = cols[i][0] == '>';
		t->hdr[i] = cols[i] + t->right[i];
	}
}

/* Add a row: ncol printf-formatted cells, each given as (fmt, args...) via a
 * single pre-formatted string array. */
static void tbl_row(struct table *t, char **vals)
{
	if (t->nrow == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = realloc(t->cells, (size_t)t->cap * t->ncol * sizeof(char *));
		if (!t->cells) {
			perror("nsdpctl");
			exit(1);
		}
	}
	for (unsigned i = 0; i < t->ncol; i++)
		t->cells[(size_t)t->nrow * t->ncol + i] = vals[i];
	t->nrow++;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0) {
		perror("nsdpctl");
		exit(1);
	}
	va_end(ap);
	return s;
}

static void tbl_print(struct table *t, const char *indent)
{
	size_t w[TBL_MAX_COLS];

	for (unsigned c = 0; c < t->ncol; c++) {
		w[c] = strlen(t->hdr[c]);
		for (unsigned r = 0; r < t->nrow; r++) {
			size_t l = strlen(t->cells[(size_t)r * t->ncol + c]);
			if (l > w[c])
				w[c] = l;
		}
	}
	for (unsigned r = 0; r <= t->nrow; r++) {
		fputs(indent, stdout);
		for (unsigned c = 0; c < t->ncol; c++) {
			const char *s = r == 0 ? t->hdr[c]
					       : t->cells[(size_t)(r - 1) * t->ncol + c];
			bool last = c + 1 == t->ncol;
			if (t->right[c])
				printf("%*s", (int)w[c], s);
			else
				printf("%-*s", last ? 0 : (int)w[c], s);
			if (!last)
				fputs("  ", stdout);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < (size_t)t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrow = t->cap = 0;
}

/* ---- helpers ---------------------------------------------------------- */

static char *ipstr(const struct nsdp_ip *ip)
{
	char b[INET6_ADDRSTRLEN];

	return fmt("%s", nsdp_format_ip(ip, b, sizeof(b)));
}

static char *macstr(const uint8_t *mac)
{
	char b[18];

	return fmt("%s", nsdp_format_mac(mac, b, sizeof(b)));
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	case 58: return "icmpv6";
	case 132: return "sctp";
	}
	snprintf(buf, len, "%u", p);
	return buf;
}

static const char *drop_name(unsigned r, char *buf, size_t len)
{
	if (r < NSDP_DROP_MAX)
		return nsdp_drop_name(r);
	/* A newer dataplane: the name is not known here, the number is. */
	snprintf(buf, len, "drop-%u", r);
	return buf;
}

static int connect_dp(struct nsdp_client *c)
{
	if (nsdp_client_connect(c, sock_path, REPLY_TIMEOUT_MS) < 0)
		return fail_client(c);
	return 0;
}

/* Request `type`; the reply must be at least `min` bytes and, after `hdr`
 * bytes, a whole number of `elem` records. */
static int query(struct nsdp_client *c, uint16_t type, const void *req, uint32_t req_len,
		 size_t hdr, size_t elem, void **reply, uint32_t *len)
{
	if (nsdp_client_request(c, type, req, req_len, reply, len) < 0)
		return fail_client(c);
	if (*len < hdr || (elem && (*len - hdr) % elem)) {
		fprintf(stderr, "nsdpctl: %s: reply of type %u has %u bytes, not %zu + n x %zu\n",
			sock_path, type, *len, hdr, elem);
		free(*reply);
		return 1;
	}
	return 0;
}

/* ---- queries ---------------------------------------------------------- */

static int cmd_info(struct nsdp_client *c)
{
	void *buf;
	uint32_t len;
	int rc = query(c, NSDP_MSG_GET_INFO, NULL, 0, sizeof(struct nsdp_info), 0, &buf, &len);

	if (rc)
		return rc;
	struct nsdp_info in;
	memcpy(&in, buf, sizeof(in));
	free(buf);
	in.node[sizeof(in.node) - 1] = '\0';
	char vtep[INET6_ADDRSTRLEN], ver[16];
	const char *ov = in.overlay == NSDP_OVERLAY_GENEVE ? "geneve" :
			 in.overlay == NSDP_OVERLAY_VXLAN ? "vxlan" : "none";
	nsdp_format_ip(&in.vtep, vtep, sizeof(vtep));
	snprintf(ver, sizeof(ver), "%u.%u", in.version >> 8, in.version & 0xff);

	if (json) {
		j_obj(NULL);
		j_str("node", in.node);
		j_str("version", ver);
		j_u64("pid", c->server.pid);
		j_u64("generation", in.generation);
		j_u64("uptime_ms", in.uptime_ms);
		j_u64("n_workers", in.n_workers);
		j_u64("n_ports", in.n_ports);
		j_str("overlay", ov);
		j_u64("vni", in.vni);
		j_str("vtep", vtep);
		j_u64("mtu", in.mtu);
		j_u64("ct_size", in.ct_size);
		j_u64("ct_used", in.ct_used);
		j_end_obj();
		return 0;
	}
	uint64_t s = in.uptime_ms / 1000;
	printf("node        %s\n", in.node);
	printf("dataplane   pid %u, protocol %s\n", c->server.pid, ver);
	printf("generation  %" PRIu64 "\n", in.generation);
	printf("uptime      %" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 "\n",
	       s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
	printf("workers     %u\n", in.n_workers);
	printf("ports       %u\n", in.n_ports);
	printf("overlay     %s, vni %u, vtep %s, mtu %u\n", ov, in.vni, vtep, in.mtu);
	printf("conntrack   %u used of %u (%.1f%%)\n", in.ct_used, in.ct_size,
	       in.ct_size ? 100.0 * in.ct_used / in.ct_size : 0.0);
	return 0;
}

static const char *role_label(const struct nsdp_port_info *p)
{
	return (p->flags & NSDP_PORT_F_HOTPLUG) ? "pod+hot" : nsdp_port_role_name(p->role);
}

static int get_ports(struct nsdp_client *c, struct nsdp_port_info **ports, unsigned *n)
{
	void *buf;
	uint32_t len;
	int rc = query(c, NSDP_MSG_GET_PORTS, NULL, 0, 0, sizeof(**ports), &buf, &len);

	if (rc)
		return rc;
	*ports = buf;
	*n = len / sizeof(**ports);
	for (unsigned i = 0; i < *n; i++) {
		(*ports)[i].name[NSDP_PORT_NAME_LEN - 1] = '\0';
		(*ports)[i].driver[NSDP_PORT_NAME_LEN - 1] = '\0';
	}
	return 0;
}

static int cmd_ports(struct nsdp_client *c)
{
	struct nsdp_port_info *p;
	unsigned n;
	int rc = get_ports(c, &p, &n);

	if (rc)
		return rc;
	if (json) {
		j_obj(NULL);
		j_arr("ports");
		for (unsigned i = 0; i < n; i++) {
			if (!p[i].role)
				continue; /* a free slot (port deleted) */
			char *mac = macstr(p[i].mac);
			j_obj(NULL);
			j_str("name", p[i].name);
			j_u64("port_id", p[i].port_id);
			j_str("role", nsdp_port_role_name(p[i].role));
			j_bool("hotplug", (p[i].flags & NSDP_PORT_F_HOTPLUG) != 0);
			j_str("driver", p[i].driver);
			j_str("mac", mac);
			j_bool("link_up", p[i].link_up);
			j_u64("speed_mbps", p[i].speed_mbps);
			j_u64("mtu", p[i].mtu);
			j_u64("rx_queues", p[i].rx_queues);
			j_u64("tx_queues", p[i].tx_queues);
			j_u64("hw_ipackets", p[i].hw_ipackets);
			j_u64("hw_opackets", p[i].hw_opackets);
			j_u64("hw_imissed", p[i].hw_imissed);
			j_u64("hw_ierrors", p[i].hw_ierrors);
			j_u64("hw_oerrors", p[i].hw_oerrors);
			j_end_obj();
			free(mac);
		}
		j_end_arr();
		j_end_obj();
		free(p);
		return 0;
	}
	static const char *const cols[] = { ">ID", "NAME", "ROLE", "DRIVER", "MAC", "LINK",
					    ">SPEED", ">MTU", ">RXQ", ">TXQ", ">HW-RX",
					    ">HW-TX", ">MISSED", ">RX-ERR", ">TX-ERR" };
	struct table t;
	tbl_init(&t, cols, 15);
	for (unsigned i = 0; i < n; i++) {
		if (!p[i].role)
			continue;
		char *v[] = {
			p[i].port_id == NSDP_PORT_ID_NONE ? fmt("-") : fmt("%u", p[i].port_id),
			fmt("%s", p[i].name),
			fmt("%s", role_label(&p[i])),
			fmt("%s", p[i].driver[0] ? p[i].driver : "-"), macstr(p[i].mac),
			fmt("%s", p[i].link_up ? "up" : "down"),
			p[i].speed_mbps ? fmt("%uM", p[i].speed_mbps) : fmt("-"),
			fmt("%u", p[i].mtu), fmt("%u", p[i].rx_queues), fmt("%u", p[i].tx_queues),
			fmt("%" PRIu64, p[i].hw_ipackets), fmt("%" PRIu64, p[i].hw_opackets),
			fmt("%" PRIu64, p[i].hw_imissed), fmt("%" PRIu64, p[i].hw_ierrors),
			fmt("%" PRIu64, p[i].hw_oerrors),
		};
		tbl_row(&t, v);
	}
	tbl_print(&t, "");
	free(p);
	return 0;
}

/* GET_STATS, unpacked. */
struct stats {
	struct nsdp_stats_hdr h;
	void *buf;
	size_t per; /* bytes per lcore record */
	struct nsdp_port_info *ports;
	unsigned n_port_names;
};

static const struct nsdp_lcore_stats *st_lcore(const struct stats *s, unsigned l,
					       struct nsdp_lcore_stats *out)
{
	memcpy(out, (uint8_t *)s->buf + sizeof(s->h) + l * s->per, sizeof(*out));
	return out;
}

static void st_port(const struct stats *s, unsigned l, unsigned p, struct nsdp_port_counters *out)
{
	memcpy(out, (uint8_t *)s->buf + sizeof(s->h) + l * s->per +
			    sizeof(struct nsdp_lcore_stats) + p * sizeof(*out),
	       sizeof(*out));
}

static uint64_t st_drop(const struct stats *s, unsigned l, unsigned r)
{
	uint64_t v;

	memcpy(&v, (uint8_t *)s->buf + sizeof(s->h) + l * s->per +
			   sizeof(struct nsdp_lcore_stats) +
			   s->h.n_ports * sizeof(struct nsdp_port_counters) + r * sizeof(v),
	       sizeof(v));
	return v;
}

static const char *st_port_name(const struct stats *s, unsigned p, char *buf, size_t len)
{
	if (p < s->n_port_names)
		return s->ports[p].name;
	snprintf(buf, len, "port%u", p);
	return buf;
}

static int get_stats(struct nsdp_client *c, struct stats *s, bool want_ports)
{
	uint32_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	if (want_ports && (rc = get_ports(c, &s->ports, &s->n_port_names)))
		return rc;
	rc = query(c, NSDP_MSG_GET_STATS, NULL, 0, sizeof(s->h), 0, &s->buf, &len);
	if (rc)
		return rc;
	memcpy(&s->h, s->buf, sizeof(s->h));
	s->per = sizeof(struct nsdp_lcore_stats) +
		 s->h.n_ports * sizeof(struct nsdp_port_counters) + s->h.n_drops * sizeof(uint64_t);
	if (len != sizeof(s->h) + s->h.n_lcores * s->per) {
		fprintf(stderr, "nsdpctl: %s: GET_STATS reply of %u bytes does not match "
				"%u lcores x %u ports x %u drops\n",
			sock_path, len, s->h.n_lcores, s->h.n_ports, s->h.n_drops);
		free(s->buf);
		free(s->ports);
		return 1;
	}
	return 0;
}

static void stats_free(struct stats *s)
{
	free(s->buf);
	free(s->ports);
}

static double cycles_per_pkt(const struct nsdp_lcore_stats *lc)
{
	return lc->busy_packets ? (double)lc->busy_cycles / (double)lc->busy_packets : 0.0;
}

static int cmd_stats(struct nsdp_client *c)
{
	struct stats s;
	char nb[32];
	int rc = get_stats(c, &s, true);

	if (rc)
		return rc;
	unsigned np = s.h.n_ports;
	struct nsdp_port_counters *tot = calloc(np ? np : 1, sizeof(*tot));
	if (!tot) {
		stats_free(&s);
		return 1;
	}
	for (unsigned l = 0; l < s.h.n_lcores; l++)
		for (unsigned p = 0; p < np; p++) {
			struct nsdp_port_counters pc;
			st_port(&s, l, p, &pc);
			tot[p].rx_pkts += pc.rx_pkts;
			tot[p].rx_bytes += pc.rx_bytes;
			tot[p].tx_pkts += pc.tx_pkts;
			tot[p].tx_bytes += pc.tx_bytes;
		}

	if (json) {
		j_obj(NULL);
		j_u64("tsc_hz", s.h.tsc_hz);
		j_arr("lcores");
		for (unsigned l = 0; l < s.h.n_lcores; l++) {
			struct nsdp_lcore_stats lc;
			st_lcore(&s, l, &lc);
			j_obj(NULL);
			j_u64("lcore", lc.lcore_id);
			j_u64("polls", lc.polls);
			j_u64("idle_polls", lc.idle_polls);
			j_u64("busy_cycles", lc.busy_cycles);
			j_u64("busy_packets", lc.busy_packets);
			j_dbl("cycles_per_packet", cycles_per_pkt(&lc));
			j_u64("ct_created", lc.ct_created);
			j_u64("flowlog_records", lc.flowlog_records);
			j_u64("flowlog_rate_limited", lc.flowlog_rate_limited);
			j_u64("flowlog_ring_full", lc.flowlog_ring_full);
			j_obj("ports");
			for (unsigned p = 0; p < np; p++) {
				struct nsdp_port_counters pc;
				st_port(&s, l, p, &pc);
				j_obj(st_port_name(&s, p, nb, sizeof(nb)));
				j_u64("rx_pkts", pc.rx_pkts);
				j_u64("rx_bytes", pc.rx_bytes);
				j_u64("tx_pkts", pc.tx_pkts);
				j_u64("tx_bytes", pc.tx_bytes);
				j_end_obj();
			}
			j_end_obj();
			j_end_obj();
		}
		j_end_arr();
		j_obj("ports");
		for (unsigned p = 0; p < np; p++) {
			j_obj(st_port_name(&s, p, nb, sizeof(nb)));
			j_u64("rx_pkts", tot[p].rx_pkts);
			j_u64("rx_bytes", tot[p].rx_bytes);
			j_u64("tx_pkts", tot[p].tx_pkts);
			j_u64("tx_bytes", tot[p].tx_bytes);
			j_end_obj();
		}
		j_end_obj();
		j_end_obj();
		goto out;
	}

	static const char *const cols[] = { "PORT", ">RX-PKTS", ">RX-BYTES", ">TX-PKTS",
					    ">TX-BYTES" };
	struct table t;
	tbl_init(&t, cols, 5);
	for (unsigned l = 0; l < s.h.n_lcores; l++) {
		struct nsdp_lcore_stats lc;
		st_lcore(&s, l, &lc);
		char cpp[32] = "-";
		if (lc.busy_packets)
			snprintf(cpp, sizeof(cpp), "%.1f", cycles_per_pkt(&lc));
		printf("lcore %u: %" PRIu64 " polls (%" PRIu64 " idle), %" PRIu64
		       " packets in busy polls, %s cycles/packet, %" PRIu64 " flows created\n",
		       lc.lcore_id, lc.polls, lc.idle_polls, lc.busy_packets, cpp, lc.ct_created);
		for (unsigned p = 0; p < np; p++) {
			struct nsdp_port_counters pc;
			st_port(&s, l, p, &pc);
			char *v[] = { fmt("%s", st_port_name(&s, p, nb, sizeof(nb))),
				      fmt("%" PRIu64, pc.rx_pkts), fmt("%" PRIu64, pc.rx_bytes),
				      fmt("%" PRIu64, pc.tx_pkts), fmt("%" PRIu64, pc.tx_bytes) };
			tbl_row(&t, v);
		}
		tbl_print(&t, "  ");
		putchar('\n');
	}
	printf("total:\n");
	for (unsigned p = 0; p < np; p++) {
		char *v[] = { fmt("%s", st_port_name(&s, p, nb, sizeof(nb))),
			      fmt("%" PRIu64, tot[p].rx_pkts), fmt("%" PRIu64, tot[p].rx_bytes),
			      fmt("%" PRIu64, tot[p].tx_pkts), fmt("%" PRIu64, tot[p].tx_bytes) };
		tbl_row(&t, v);
	}
	tbl_print(&t, "  ");
out:
	free(tot);
	stats_free(&s);
	return 0;
}

static int cmd_drops(struct nsdp_client *c, bool all)
{
	struct stats s;
	char nb[32];
	int rc = get_stats(c, &s, false);

	if (rc)
		return rc;
	unsigned nd = s.h.n_drops;
	uint64_t *tot = calloc(nd ? nd : 1, sizeof(*tot));
	if (!tot) {
		stats_free(&s);
		return 1;
	}
	for (unsigned l = 0; l < s.h.n_lcores; l++)
		for (unsigned r = 0; r < nd; r++)
			tot[r] += st_drop(&s, l, r);

	/* Reason 0 is "not dropped" and never counted. */
	if (json) {
		j_obj(NULL);
		j_obj("drops");
		for (unsigned r = 1; r < nd; r++)
			j_u64(drop_name(r, nb, sizeof(nb)), tot[r]);
		j_end_obj();
		j_arr("lcores");
		for (unsigned l = 0; l < s.h.n_lcores; l++) {
			struct nsdp_lcore_stats lc;
			st_lcore(&s, l, &lc);
			j_obj(NULL);
			j_u64("lcore", lc.lcore_id);
			j_obj("drops");
			for (unsigned r = 1; r < nd; r++)
				j_u64(drop_name(r, nb, sizeof(nb)), st_drop(&s, l, r));
			j_end_obj();
			j_end_obj();
		}
		j_end_arr();
		j_end_obj();
	} else {
		static const char *const cols[] = { "REASON", ">TOTAL", "DESCRIPTION" };
		struct table t;
		tbl_init(&t, cols, 3);
		for (unsigned r = 1; r < nd; r++) {
			if (!tot[r] && !all)
				continue;
			char *v[] = { fmt("%s", drop_name(r, nb, sizeof(nb))),
				      fmt("%" PRIu64, tot[r]),
				      fmt("%s", r < NSDP_DROP_MAX ? nsdp_drop_desc(r) : "") };
			tbl_row(&t, v);
		}
		if (t.nrow)
			tbl_print(&t, "");
		else
			printf("no drops\n");
	}
	free(tot);
	stats_free(&s);
	return 0;
}

static int cmp_ip(const struct nsdp_ip *a, const struct nsdp_ip *b)
{
	if (a->family != b->family)
		return a->family - b->family;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

static int cmp_ep(const void *a, const void *b)
{
	const struct nsdp_endpoint *x = a, *y = b;

	return cmp_ip(&x->ip, &y->ip);
}

static int cmp_route(const void *a, const void *b)
{
	const struct nsdp_route *x = a, *y = b;
	int d = cmp_ip(&x->prefix, &y->prefix);

	return d ? d : x->prefix_len - y->prefix_len;
}

static int cmp_vtep(const void *a, const void *b)
{
	const struct nsdp_vtep *x = a, *y = b;

	return cmp_ip(&x->ip, &y->ip);
}

static int cmd_endpoints(struct nsdp_client *c)
{
	void *buf;
	uint32_t len;
	int rc = query(c, NSDP_MSG_GET_ENDPOINTS, NULL, 0, 0, sizeof(struct nsdp_endpoint), &buf,
		       &len);

	if (rc)
		return rc;
	struct nsdp_endpoint *e = buf;
	unsigned n = len / sizeof(*e);
	qsort(e, n, sizeof(*e), cmp_ep);
	if (json) {
		j_obj(NULL);
		j_u64("generation", c->server.generation);
		j_arr("endpoints");
		for (unsigned i = 0; i < n; i++) {
			char *ip = ipstr(&e[i].ip), *mac = macstr(e[i].mac);
			j_obj(NULL);
			j_str("ip", ip);
			j_strn("port", e[i].port, sizeof(e[i].port));
			j_str("mac", mac);
			j_u64("identity", e[i].identity);
			j_u64("flags", e[i].flags);
			j_strn("name", e[i].name, sizeof(e[i].name));
			j_end_obj();
			free(ip);
			free(mac);
		}
		j_end_arr();
		j_end_obj();
	} else {
		static const char *const cols[] = { "IP", "PORT", "MAC", ">IDENTITY", "NAME" };
		struct table t;
		tbl_init(&t, cols, 5);
		for (unsigned i = 0; i < n; i++) {
			char *v[] = { ipstr(&e[i].ip),
				      fmt("%.*s", (int)sizeof(e[i].port), e[i].port),
				      macstr(e[i].mac), fmt("%u", e[i].identity),
				      fmt("%.*s", (int)sizeof(e[i].name), e[i].name) };
			tbl_row(&t, v);
		}
		tbl_print(&t, "");
	}
	free(buf);
	return 0;
}

static int cmd_routes(struct nsdp_client *c)
{
	void *buf;
	uint32_t len;
	int rc = query(c, NSDP_MSG_GET_ROUTES, NULL, 0, 0, sizeof(struct nsdp_route), &buf, &len);

	if (rc)
		return rc;
	struct nsdp_route *r = buf;
	unsigned n = len / sizeof(*r);
	qsort(r, n, sizeof(*r), cmp_route);
	if (json) {
		j_obj(NULL);
		j_u64("generation", c->server.generation);
		j_arr("routes");
		for (unsigned i = 0; i < n; i++) {
			char *p = ipstr(&r[i].prefix);
			char *cidr = fmt("%s/%u", p, r[i].prefix_len);
			j_obj(NULL);
			j_str("prefix", cidr);
			j_bool("local", r[i].vtep.family == 0);
			if (r[i].vtep.family) {
				char *v = ipstr(&r[i].vtep);
				j_str("vtep", v);
				free(v);
			} else {
				j_null("vtep");
			}
			j_end_obj();
			free(p);
			free(cidr);
		}
		j_end_arr();
		j_end_obj();
	} else {
		/* Name the node behind each VTEP, and flag routes to VTEPs the
		 * dataplane does not know (their packets are dropped no-vtep). */
		void *vb = NULL;
		uint32_t vlen = 0;
		if (nsdp_client_request(c, NSDP_MSG_GET_VTEPS, NULL, 0, &vb, &vlen) < 0)
			vlen = 0;
		const struct nsdp_vtep *vt = vb;
		unsigned nv = vlen / sizeof(*vt);
		static const char *const cols[] = { "PREFIX", "VIA", "NODE" };
		struct table t;
		tbl_init(&t, cols, 3);
		for (unsigned i = 0; i < n; i++) {
			char *p = ipstr(&r[i].prefix);
			const char *node = r[i].vtep.family ? "(unknown vtep)" : "-";
			for (unsigned k = 0; r[i].vtep.family && k < nv; k++)
				if (!cmp_ip(&vt[k].ip, &r[i].vtep))
					node = vt[k].name;
			char *v[] = { fmt("%s/%u", p, r[i].prefix_len),
				      r[i].vtep.family ? ipstr(&r[i].vtep) : fmt("local"),
				      fmt("%.*s", NSDP_NAME_LEN, node) };
			free(p);
			tbl_row(&t, v);
		}
		tbl_print(&t, "");
		free(vb);
	}
	free(buf);
	return 0;
}

static int cmd_vteps(struct nsdp_client *c)
{
	void *buf;
	uint32_t len;
	int rc = query(c, NSDP_MSG_GET_VTEPS, NULL, 0, 0, sizeof(struct nsdp_vtep), &buf, &len);

	if (rc)
		return rc;
	struct nsdp_vtep *v = buf;
	unsigned n = len / sizeof(*v);
	qsort(v, n, sizeof(*v), cmp_vtep);
	if (json) {
		j_obj(NULL);
		j_u64("generation", c->server.generation);
		j_arr("vteps");
		for (unsigned i = 0; i < n; i++) {
			char *ip = ipstr(&v[i].ip), *mac = macstr(v[i].mac);
			j_obj(NULL);
			j_str("ip", ip);
			j_str("mac", mac);
			j_strn("name", v[i].name, sizeof(v[i].name));
			j_end_obj();
			free(ip);
			free(mac);
		}
		j_end_arr();
		j_end_obj();
	} else {
		static const char *const cols[] = { "IP", "MAC", "NODE" };
		struct table t;
		tbl_init(&t, cols, 3);
		for (unsigned i = 0; i < n; i++) {
			char *row[] = { ipstr(&v[i].ip), macstr(v[i].mac),
					fmt("%.*s", (int)sizeof(v[i].name), v[i].name) };
			tbl_row(&t, row);
		}
		tbl_print(&t, "");
	}
	free(buf);
	return 0;
}

/*
 * Up to `max` conntrack entries, paged (the dataplane answers at most 4096
 * a time). *out is malloc'ed (free it), *n its count. 0 or an exit code.
 */
static int fetch_flows(struct nsdp_client *c, uint64_t max, struct nsdp_flow **out, size_t *n_out)
{
	struct nsdp_flow *all = NULL;
	size_t n = 0, cap = 0;
	struct nsdp_flows_req req = { .offset = 0 };

	do {
		void *buf;
		uint32_t len;
		req.max = max - n < 4096 ? (uint32_t)(max - n) : 4096;
		int rc = query(c, NSDP_MSG_GET_FLOWS, &req, sizeof(req),
			       sizeof(struct nsdp_flows_hdr), sizeof(struct nsdp_flow), &buf, &len);
		if (rc) {
			free(all);
			return rc;
		}
		struct nsdp_flows_hdr fh;
		memcpy(&fh, buf, sizeof(fh));
		uint32_t got = (len - sizeof(fh)) / sizeof(struct nsdp_flow);
		if (n + got > cap) {
			cap = (n + got) * 2 + 1;
			struct nsdp_flow *a = realloc(all, cap * sizeof(*a));
			if (!a) {
				free(buf);
				free(all);
				fprintf(stderr, "nsdpctl: out of memory\n");
				return 1;
			}
			all = a;
		}
		memcpy(all + n, (uint8_t *)buf + sizeof(fh), (size_t)got * sizeof(*all));
		n += got;
		free(buf);
		if (fh.next_offset != 0 && fh.next_offset <= req.offset)
			break; /* no progress: a confused dataplane */
		req.offset = fh.next_offset;
	} while (req.offset != 0 && n < max);
	*out = all;
	*n_out = n;
	return 0;
}

static int cmd_flows(struct nsdp_client *c, uint64_t max)
{
	struct nsdp_flow *all = NULL;
	size_t n = 0;
	int rc = fetch_flows(c, max, &all, &n);
	if (rc)
		return rc;

	char pb[8];
	if (json) {
		j_obj(NULL);
		j_u64("count", n);
		j_arr("flows");
		for (size_t i = 0; i < n; i++) {
			const struct nsdp_flow *f = &all[i];
			char *s = ipstr(&f->src), *d = ipstr(&f->dst);
			j_obj(NULL);
			j_str("proto", proto_name(f->proto, pb, sizeof(pb)));
			j_str("src", s);
			j_u64("sport", f->sport);
			j_str("dst", d);
			j_u64("dport", f->dport);
			j_str("state", nsdp_ct_state_name(f->state));
			j_u64("age_s", f->age_s);
			j_u64("expires_s", f->expires_s);
			j_u64("policy_gen", f->policy_gen);
			j_u64("verdict", f->verdict);
			j_u64("flags", f->flags);
			j_end_obj();
			free(s);
			free(d);
		}
		j_end_arr();
		j_end_obj();
	} else {
		static const char *const cols[] = { "PROTO", "SOURCE", "DESTINATION", "STATE",
						    ">AGE", ">EXPIRES", ">GEN", ">VERDICT" };
		struct table t;
		tbl_init(&t, cols, 8);
		for (size_t i = 0; i < n; i++) {
			const struct nsdp_flow *f = &all[i];
			char *s = ipstr(&f->src), *d = ipstr(&f->dst);
			bool v6 = f->src.family == AF_INET6;
			char *v[] = {
				fmt("%s", proto_name(f->proto, pb, sizeof(pb))),
				fmt(v6 ? "[%s]:%u" : "%s:%u", s, f->sport),
				fmt(v6 ? "[%s]:%u" : "%s:%u", d, f->dport),
				fmt("%s", nsdp_ct_state_name(f->state)), fmt("%us", f->age_s),
				fmt("%us", f->expires_s), fmt("%u", f->policy_gen),
				fmt("%u", f->verdict),
			};
			free(s);
			free(d);
			tbl_row(&t, v);
		}
		tbl_print(&t, "");
		printf("%zu flows\n", n);
	}
	free(all);
	return 0;
}

/* ---- changes ---------------------------------------------------------- */

enum chg_kind { EP_ADD, EP_DEL, ROUTE_ADD, ROUTE_DEL, VTEP_ADD, VTEP_DEL, PORT_ADD, PORT_DEL,
	       NO_CHANGE };

struct change {
	enum chg_kind kind;
	struct nsdp_endpoint ep;
	struct nsdp_route route;
	struct nsdp_vtep vtep;
	struct nsdp_port_req port;
};

static int send_change(struct nsdp_client *c, const struct change *ch)
{
	switch (ch->kind) {
	case EP_ADD: return nsdp_client_ep_add(c, &ch->ep);
	case EP_DEL: return nsdp_client_ep_del(c, &ch->ep.ip);
	case ROUTE_ADD: return nsdp_client_route_add(c, &ch->route);
	case ROUTE_DEL:
		return nsdp_client_route_del(c, &ch->route.prefix, ch->route.prefix_len);
	case VTEP_ADD: return nsdp_client_vtep_add(c, &ch->vtep);
	case VTEP_DEL: return nsdp_client_vtep_del(c, &ch->vtep.ip);
	case PORT_ADD: return nsdp_client_port_add(c, &ch->port);
	case PORT_DEL: return nsdp_client_port_del(c, ch->port.name);
	case NO_CHANGE: return 0;
	}
	return -EINVAL;
}

static void print_ack(const struct nsdp_ack *a)
{
	if (json) {
		j_obj(NULL);
		j_u64("generation", a->generation);
		j_u64("applied", a->applied);
		j_u64("rejected", a->rejected);
		j_i64("status", a->status);
		j_str("error", a->error);
		j_end_obj();
	}
}

static int apply_change(struct nsdp_client *c, const struct change *ch)
{
	struct nsdp_ack ack;
	/* A no-op commit re-publishes at the effective generation (allowed:
	 * equal generations are accepted) and so checks the commit path
	 * without moving the generation. */
	uint64_t gen = c->server.generation + (ch->kind != NO_CHANGE);

	for (int attempt = 0;; attempt++) {
		if (send_change(c, ch) < 0 || nsdp_client_commit(c, gen, &ack) < 0)
			return fail_client(c);
		if (ack.status != -ESTALE || attempt > 0)
			break;
		gen = ack.generation + (ch->kind != NO_CHANGE);
	}
	print_ack(&ack);
	if (ack.rejected || ack.status) {
		fprintf(stderr, "nsdpctl: rejected by the dataplane: %s\n",
			ack.error[0] ? ack.error : strerror(-ack.status));
		return 1;
	}
	if (!json)
		printf("generation %" PRIu64 " effective\n", ack.generation);
	return 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;

	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || *end || x > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

/* Options after the positional arguments of a change: --identity N, --name S. */
static int change_opts(int argc, char **argv, int first, struct change *ch)
{
	for (int i = first; i < argc; i++) {
		const char *o = argv[i];
		if (i + 1 >= argc)
			return die_usage("%s: needs a value", o);
		const char *v = argv[++i];
		if (ch->kind == EP_ADD && !strcmp(o, "--identity")) {
			if (parse_u32(v, &ch->ep.identity) < 0)
				return die_usage("--identity %s: not a number 0..4294967295", v);
		} else if (ch->kind == EP_ADD && !strcmp(o, "--name")) {
			if (strlen(v) >= sizeof(ch->ep.name))
				return die_usage("--name: longer than %zu characters",
						 sizeof(ch->ep.name) - 1);
			snprintf(ch->ep.name, sizeof(ch->ep.name), "%s", v);
		} else if (ch->kind == PORT_ADD && !strcmp(o, "--queues")) {
			uint32_t q;
			if (parse_u32(v, &q) < 0 || q > 1024)
				return die_usage("--queues %s: not a number 0..1024", v);
			ch->port.queues = (uint16_t)q;
		} else if (ch->kind == VTEP_ADD && !strcmp(o, "--name")) {
			if (strlen(v) >= sizeof(ch->vtep.name))
				return die_usage("--name: longer than %zu characters",
						 sizeof(ch->vtep.name) - 1);
			snprintf(ch->vtep.name, sizeof(ch->vtep.name), "%s", v);
		} else {
			return die_usage("unknown option %s", o);
		}
	}
	return 0;
}

static int need_args(int argc, int n, const char *what)
{
	return argc < n ? die_usage("usage: nsdpctl %s", what) : 0;
}

static int bad_arg(const char *what, const char *val)
{
	return die_usage("%s \"%s\" is not valid", what, val);
}

/* argv[0] is "ep" / "route" / "vtep". Returns 0 with *ch filled or an exit code. */
static int parse_change(int argc, char **argv, struct change *ch)
{
	memset(ch, 0, sizeof(*ch));
	if (argc < 2)
		return die_usage("%s: add or del?", argv[0]);
	bool add = !strcmp(argv[1], "add");
	if (!add && strcmp(argv[1], "del"))
		return die_usage("%s %s: expected add or del", argv[0], argv[1]);
	int rc;

	if (!strcmp(argv[0], "ep")) {
		if (!add) {
			if ((rc = need_args(argc, 3, "ep del IP")))
				return rc;
			ch->kind = EP_DEL;
			if (nsdp_parse_ip(argv[2], &ch->ep.ip) < 0)
				return bad_arg("IP", argv[2]);
			return argc > 3 ? die_usage("ep del: unexpected %s", argv[3]) : 0;
		}
		if ((rc = need_args(argc, 5, "ep add IP PORT MAC [--identity N] [--name NS/POD]")))
			return rc;
		ch->kind = EP_ADD;
		if (nsdp_parse_ip(argv[2], &ch->ep.ip) < 0)
			return bad_arg("IP", argv[2]);
		if (strlen(argv[3]) >= sizeof(ch->ep.port))
			return bad_arg("PORT", argv[3]);
		snprintf(ch->ep.port, sizeof(ch->ep.port), "%s", argv[3]);
		if (nsdp_parse_mac(argv[4], ch->ep.mac) < 0)
			return bad_arg("MAC", argv[4]);
		return change_opts(argc, argv, 5, ch);
	}
	if (!strcmp(argv[0], "route")) {
		if ((rc = need_args(argc, 3, add ? "route add CIDR (local | via VTEP_IP)"
						 : "route del CIDR")))
			return rc;
		ch->kind = add ? ROUTE_ADD : ROUTE_DEL;
		if (nsdp_parse_prefix(argv[2], &ch->route.prefix, &ch->route.prefix_len) < 0)
			return bad_arg("CIDR", argv[2]);
		if (!add)
			return argc > 3 ? die_usage("route del: unexpected %s", argv[3]) : 0;
		if (argc == 4 && !strcmp(argv[3], "local"))
			return 0;
		if (argc == 5 && !strcmp(argv[3], "via")) {
			if (nsdp_parse_ip(argv[4], &ch->route.vtep) < 0)
				return bad_arg("VTEP_IP", argv[4]);
			return 0;
		}
		return die_usage("usage: nsdpctl route add CIDR (local | via VTEP_IP)");
	}
	if (!strcmp(argv[0], "port")) {
		if ((rc = need_args(argc, 3, add ? "port add NAME DEVARGS [--queues N]"
						 : "port del NAME")))
			return rc;
		ch->kind = add ? PORT_ADD : PORT_DEL;
		if (strlen(argv[2]) >= sizeof(ch->port.name) || !argv[2][0])
			return bad_arg("NAME", argv[2]);
		snprintf(ch->port.name, sizeof(ch->port.name), "%s", argv[2]);
		ch->port.role = NSDP_ROLE_POD;
		if (!add)
			return argc > 3 ? die_usage("port del: unexpected %s", argv[3]) : 0;
		if ((rc = need_args(argc, 4, "port add NAME DEVARGS [--queues N]")))
			return rc;
		if (strlen(argv[3]) >= sizeof(ch->port.devargs) || !argv[3][0])
			return bad_arg("DEVARGS", argv[3]);
		snprintf(ch->port.devargs, sizeof(ch->port.devargs), "%s", argv[3]);
		return change_opts(argc, argv, 4, ch);
	}
	if (!strcmp(argv[0], "vtep")) {
		if (!add) {
			if ((rc = need_args(argc, 3, "vtep del IP")))
				return rc;
			ch->kind = VTEP_DEL;
			if (nsdp_parse_ip(argv[2], &ch->vtep.ip) < 0)
				return bad_arg("IP", argv[2]);
			return argc > 3 ? die_usage("vtep del: unexpected %s", argv[3]) : 0;
		}
		if ((rc = need_args(argc, 4, "vtep add IP MAC [--name NODE]")))
			return rc;
		ch->kind = VTEP_ADD;
		if (nsdp_parse_ip(argv[2], &ch->vtep.ip) < 0)
			return bad_arg("IP", argv[2]);
		if (nsdp_parse_mac(argv[3], ch->vtep.mac) < 0)
			return bad_arg("MAC", argv[3]);
		return change_opts(argc, argv, 4, ch);
	}
	return die_usage("unknown command %s", argv[0]);
}

static int cmd_ct_flush(struct nsdp_client *c)
{
	void *buf;
	uint32_t len;

	/* Answered by an ACK whose `applied` counts the flows flushed. */
	int rc = query(c, NSDP_MSG_CT_FLUSH, NULL, 0, sizeof(struct nsdp_ack), 0, &buf, &len);
	if (rc)
		return rc;
	struct nsdp_ack ack;
	memcpy(&ack, buf, sizeof(ack));
	free(buf);
	ack.error[sizeof(ack.error) - 1] = '\0';
	if (json)
		print_ack(&ack);
	else
		printf("%u flows flushed\n", ack.applied);
	return 0;
}

/* ---- trace ------------------------------------------------------------ */

struct trace_args {
	const char *from, *to;
	struct nsdp_trace_req req;
	const char *dirs[16];
	unsigned n_dirs;
};

/* "ns/pod" of a Pod object in the manifests of `dirs`: its first IPv4. */
static int manifest_pod_ip(const struct trace_args *ta, const char *name, struct nsdp_ip *ip)
{
	struct k8s_cluster cl;
	int found = -ENOENT;

	memset(&cl, 0, sizeof(cl));
	for (unsigned i = 0; i < ta->n_dirs; i++) {
		int rc = k8s_load_dir(ta->dirs[i], &cl, NULL, NULL);
		if (rc < 0 && rc != -EINVAL) {
			fprintf(stderr, "nsdpctl: trace: %s: %s\n", ta->dirs[i], strerror(-rc));
			k8s_cluster_free(&cl);
			return rc;
		}
	}
	const char *slash = strchr(name, '/');
	for (unsigned i = 0; slash && i < cl.n_pods; i++) {
		const struct k8s_pod *p = &cl.pods[i];
		if (p->n_ips && strlen(p->ns) == (size_t)(slash - name) &&
		    !strncmp(p->ns, name, (size_t)(slash - name)) && !strcmp(p->name, slash + 1)) {
			memset(ip, 0, sizeof(*ip));
			ip->family = AF_INET;
			memcpy(ip->addr, &p->ips[0], 4);
			found = 0;
			break;
		}
	}
	k8s_cluster_free(&cl);
	return found;
}

static int parse_tcp_flags(const char *s, uint8_t *out)
{
	static const struct { const char *n; uint8_t bit; } f[] = {
		{"FIN", 0x01}, {"SYN", 0x02}, {"RST", 0x04}, {"PSH", 0x08}, {"ACK", 0x10}};
	char buf[64];
	uint8_t v = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *tok = strtok_r(buf, "+,|", &save); tok; tok = strtok_r(NULL, "+,|", &save)) {
		unsigned i;
		for (i = 0; i < sizeof(f) / sizeof(f[0]) && strcasecmp(tok, f[i].n); i++)
			;
		if (i == sizeof(f) / sizeof(f[0]))
			return -EINVAL;
		v |= f[i].bit;
	}
	if (!v)
		return -EINVAL;
	*out = v;
	return 0;
}

/* FROM TO PORT/PROTO [options]: 0, or 2 with a message. */
static int parse_trace(int argc, char **argv, struct trace_args *ta)
{
	static const char use[] = "usage: nsdpctl trace FROM TO PORT/PROTO [--from-uplink|--from-host] "
				  "[--sport N] [--flags F] [--manifests DIR]...";
	const char *pos[3];
	unsigned npos = 0;
	uint32_t v;

	memset(ta, 0, sizeof(*ta));
	ta->req.sport = 40000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--from-uplink")) {
			ta->req.flags |= NSDP_TRACE_F_FROM_UPLINK;
		} else if (!strcmp(argv[i], "--from-host")) {
			ta->req.flags |= NSDP_TRACE_F_FROM_HOST;
		} else if (!strcmp(argv[i], "--sport")) {
			if (i + 1 >= argc || parse_u32(argv[i + 1], &v) < 0 || v == 0 || v > 65535)
				return die_usage("trace: --sport needs a port 1..65535");
			ta->req.sport = (uint16_t)v;
			i++;
		} else if (!strcmp(argv[i], "--flags")) {
			if (i + 1 >= argc || parse_tcp_flags(argv[i + 1], &ta->req.tcp_flags) < 0)
				return die_usage("trace: --flags: TCP flags SYN, ACK, FIN, RST, PSH "
						 "joined by '+', e.g. SYN+ACK");
			i++;
		} else if (!strcmp(argv[i], "--manifests")) {
			if (i + 1 >= argc || ta->n_dirs == 16)
				return die_usage("trace: --manifests needs a directory (at most 16)");
			ta->dirs[ta->n_dirs++] = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return die_usage("trace: unknown option %s\n%s", argv[i], use);
		} else if (npos < 3) {
			pos[npos++] = argv[i];
		} else {
			return die_usage("trace: unexpected argument %s\n%s", argv[i], use);
		}
	}
	if (npos != 3)
		return die_usage("%s", use);
	ta->from = pos[0];
	ta->to = pos[1];
	const char *ends[2] = {pos[0], pos[1]};
	struct nsdp_ip *ips[2] = {&ta->req.src, &ta->req.dst};
	char *names[2] = {ta->req.src_name, ta->req.dst_name};
	for (unsigned i = 0; i < 2; i++) {
		if (nsdp_parse_ip(ends[i], ips[i]) == 0) {
			if (ips[i]->family != AF_INET)
				return die_usage("trace: %s: only IPv4 is traced", ends[i]);
			continue;
		}
		const char *sl = strchr(ends[i], '/');
		if (!sl || sl == ends[i] || !sl[1] || strchr(sl + 1, '/') ||
		    strlen(ends[i]) >= NSDP_NAME_LEN)
			return die_usage("trace: %s \"%s\" is neither an IPv4 address nor "
					 "namespace/pod", i ? "TO" : "FROM", ends[i]);
		snprintf(names[i], NSDP_NAME_LEN, "%s", ends[i]);
	}
	/* PORT/PROTO, or just PROTO for icmp */
	char pp[32];
	snprintf(pp, sizeof(pp), "%s", pos[2]);
	char *sl = strchr(pp, '/');
	const char *proto = sl ? sl + 1 : pp;
	if (sl)
		*sl = '\0';
	if (!strcasecmp(proto, "tcp"))
		ta->req.proto = 6;
	else if (!strcasecmp(proto, "udp"))
		ta->req.proto = 17;
	else if (!strcasecmp(proto, "sctp"))
		ta->req.proto = 132;
	else if (!strcasecmp(proto, "icmp"))
		ta->req.proto = 1;
	else
		return die_usage("trace: \"%s\": PORT/PROTO with PROTO tcp, udp, sctp or icmp "
				 "(e.g. 8080/TCP)", pos[2]);
	if (ta->req.proto != 1) {
		if (!sl || parse_u32(pp, &v) < 0 || v == 0 || v > 65535)
			return die_usage("trace: \"%s\": the port must be 1..65535 (e.g. 8080/TCP)",
					 pos[2]);
		ta->req.dport = (uint16_t)v;
	}
	if (ta->req.tcp_flags && ta->req.proto != 6)
		return die_usage("trace: --flags applies to TCP only");
	if (ta->req.proto == 6 && !ta->req.tcp_flags)
		ta->req.tcp_flags = 0x02;
	return 0;
}

static const char *verdict_name(uint8_t v)
{
	return v == 1 ? "allow" : v == 2 ? "deny" : v == 3 ? "audit" : NULL;
}

static void j_u32_or_null(const char *key, uint32_t v)
{
	if (v == NSDP_TRACE_NONE32)
		j_null(key);
	else
		j_u64(key, v);
}

static int cmd_trace(struct nsdp_client *c, struct trace_args *ta)
{
	void *buf = NULL;
	uint32_t len = 0;

	if (c->server.version < 0x0102) {
		fprintf(stderr, "nsdpctl: %s: the dataplane speaks protocol %u.%u; trace needs 1.2\n",
			sock_path, c->server.version >> 8, c->server.version & 0xff);
		return 1;
	}
	for (int attempt = 0;; attempt++) {
		int rc = nsdp_client_request(c, NSDP_MSG_TRACE, &ta->req, sizeof(ta->req), &buf,
					     &len);
		if (rc == 0)
			break;
		if (rc != -ENOENT && rc != -EINVAL && rc != -EAFNOSUPPORT)
			return fail_client(c);
		/* A name this node does not know: the manifests may. */
		bool retried = false;
		char *names[2] = {ta->req.src_name, ta->req.dst_name};
		struct nsdp_ip *ips[2] = {&ta->req.src, &ta->req.dst};
		for (unsigned i = 0; rc == -ENOENT && attempt == 0 && i < 2; i++) {
			if (ips[i]->family || !names[i][0] || !ta->n_dirs)
				continue;
			if (manifest_pod_ip(ta, names[i], ips[i]) == 0)
				retried = true;
		}
		if (!retried) {
			fprintf(stderr, "nsdpctl: trace: %s%s\n", nsdp_client_error(c),
				rc == -ENOENT && !ta->n_dirs && (!ta->req.src.family || !ta->req.dst.family)
					? " (or name a Pod of --manifests DIR)" : "");
			return 2;
		}
	}
	struct nsdp_trace_hdr th;
	if (len < sizeof(th)) {
		fprintf(stderr, "nsdpctl: %s: TRACE reply of %u bytes\n", sock_path, len);
		free(buf);
		return 1;
	}
	memcpy(&th, buf, sizeof(th));
	th.rule_name[sizeof(th.rule_name) - 1] = '\0';
	th.out_port_name[sizeof(th.out_port_name) - 1] = '\0';
	size_t n = (len - sizeof(th)) / sizeof(struct nsdp_trace_step);
	if (n != th.n_steps || (len - sizeof(th)) % sizeof(struct nsdp_trace_step)) {
		fprintf(stderr, "nsdpctl: %s: TRACE reply of %u bytes does not hold %u steps\n",
			sock_path, len, th.n_steps);
		free(buf);
		return 1;
	}
	struct nsdp_trace_step *st = calloc(n ? n : 1, sizeof(*st));
	if (!st) {
		free(buf);
		return 1;
	}
	memcpy(st, (uint8_t *)buf + sizeof(th), n * sizeof(*st));
	free(buf);
	ta->req.src = th.src;
	ta->req.dst = th.dst;
	char sb[INET6_ADDRSTRLEN], db[INET6_ADDRSTRLEN], pb[8];
	nsdp_format_ip(&ta->req.src, sb, sizeof(sb));
	nsdp_format_ip(&ta->req.dst, db, sizeof(db));
	char dname[NSDP_NAME_LEN + 8];

	if (json) {
		j_obj(NULL);
		j_str("node", c->server.name);
		j_str("from", ta->from);
		j_str("src", ta->req.src.family ? sb : "");
		j_str("to", ta->to);
		j_str("dst", ta->req.dst.family ? db : "");
		j_str("proto", proto_name(ta->req.proto, pb, sizeof(pb)));
		j_u64("sport", ta->req.sport);
		j_u64("dport", ta->req.dport);
		j_bool("from_uplink", ta->req.flags & NSDP_TRACE_F_FROM_UPLINK);
		j_bool("from_host", ta->req.flags & NSDP_TRACE_F_FROM_HOST);
		j_u64("generation", th.generation);
		j_u64("policy_generation", th.policy_generation);
		j_str("result", th.result == NSDP_TRACE_DROP ? "drop" : "forward");
		if (th.drop)
			j_str("drop", drop_name(th.drop, dname, sizeof(dname)));
		else
			j_null("drop");
		if (verdict_name(th.verdict))
			j_str("verdict", verdict_name(th.verdict));
		else
			j_null("verdict");
		j_u32_or_null("rule_id", th.rule);
		if (th.rule_name[0])
			j_str("rule", th.rule_name);
		else
			j_null("rule");
		if (th.verdict)
			j_str("decided_by", th.decided_by ? "egress" : "ingress");
		else
			j_null("decided_by");
		if (th.out_port_name[0])
			j_str("out_port", th.out_port_name);
		else
			j_null("out_port");
		j_bool("encap", th.encap);
		j_arr("steps");
		for (size_t i = 0; i < n; i++) {
			st[i].text[sizeof(st[i].text) - 1] = '\0';
			j_obj(NULL);
			j_u64("n", i + 1);
			j_str("step", nsdp_trace_step_name(st[i].kind));
			j_str("text", st[i].text);
			if (verdict_name(st[i].verdict))
				j_str("verdict", verdict_name(st[i].verdict));
			else
				j_null("verdict");
			if (st[i].drop)
				j_str("drop", drop_name(st[i].drop, dname, sizeof(dname)));
			else
				j_null("drop");
			j_u32_or_null("subject", st[i].subject);
			j_u32_or_null("rule", st[i].rule);
			j_u32_or_null("port", st[i].port);
			j_u32_or_null("value", st[i].value);
			j_u32_or_null("value2", st[i].value2);
			j_end_obj();
		}
		j_end_arr();
		j_end_obj();
	} else {
		char what[32];
		if (ta->req.proto == 1)
			snprintf(what, sizeof(what), "icmp echo");
		else
			snprintf(what, sizeof(what), "%u/%s", ta->req.dport,
				 proto_name(ta->req.proto, pb, sizeof(pb)));
		printf("trace %s (%s) -> %s (%s) %s on %s (generation %" PRIu64
		       ", policy generation %" PRIu64 ")%s\n",
		       ta->from, sb, ta->to, db, what, c->server.name, th.generation,
		       th.policy_generation,
		       ta->req.flags & NSDP_TRACE_F_FROM_UPLINK ? ", from the uplink"
		       : ta->req.flags & NSDP_TRACE_F_FROM_HOST ? ", from the host port"
								 : "");
		for (size_t i = 0; i < n; i++) {
			st[i].text[sizeof(st[i].text) - 1] = '\0';
			printf("%2zu %-14s %s", i + 1, nsdp_trace_step_name(st[i].kind), st[i].text);
			if (st[i].drop && st[i].kind != NSDP_TRACE_VERDICT)
				printf(" [drop %s]", drop_name(st[i].drop, dname, sizeof(dname)));
			putchar('\n');
		}
	}
	free(st);
	return 0;
}

/* ---- top -------------------------------------------------------------- */

struct top_args {
	double interval; /* seconds */
	unsigned count;  /* frames; 0: until interrupted */
};

static int parse_top(int argc, char **argv, struct top_args *tp)
{
	tp->interval = 1.0;
	tp->count = 0;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--once")) {
			tp->count = 1;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			tp->interval = strtod(argv[++i], &end);
			if (*end || !(tp->interval >= 0.05 && tp->interval <= 3600))
				return die_usage("top: --interval: seconds, 0.05 to 3600");
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			uint32_t v;
			if (parse_u32(argv[++i], &v) < 0 || v == 0)
				return die_usage("top: --count: a number of frames >= 1");
			tp->count = v;
		} else {
			return die_usage("usage: nsdpctl top [--interval S] [--count N] [--once]");
		}
	}
	return 0;
}

struct top_sample {
	struct stats s;
	struct timespec at;
};

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int flow_recent_first(const void *a, const void *b)
{
	const struct nsdp_flow *x = a, *y = b;
	return x->age_s < y->age_s ? -1 : x->age_s > y->age_s;
}

#define TOP_FLOWS 10
#define TOP_FLOW_SCAN 65536

/* The most recently active flows (conntrack keeps no per-flow counters). */
static int top_flows(struct nsdp_client *c, struct nsdp_flow *out, unsigned *n_out,
		     uint64_t *total)
{
	struct nsdp_flow *all = NULL;
	size_t n = 0;
	int rc = fetch_flows(c, TOP_FLOW_SCAN, &all, &n);
	if (rc)
		return rc;
	if (n)
		qsort(all, n, sizeof(*all), flow_recent_first);
	*n_out = n < TOP_FLOWS ? (unsigned)n : TOP_FLOWS;
	if (*n_out)
		memcpy(out, all, *n_out * sizeof(*out));
	*total = n;
	free(all);
	return 0;
}

static int top_sample(struct nsdp_client *c, struct top_sample *ts)
{
	int rc = get_stats(c, &ts->s, false);
	clock_gettime(CLOCK_MONOTONIC, &ts->at);
	return rc;
}

static uint64_t d64(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0; /* a restarted dataplane: no negative rates */
}

static void top_frame(struct nsdp_client *c, const struct top_args *tp, unsigned frame,
		      const struct top_sample *a, const struct top_sample *b,
		      const struct nsdp_flow *fl, unsigned nfl, uint64_t nflows, bool tty)
{
	double dt = ts_diff(&a->at, &b->at);
	const struct stats *s0 = &a->s, *s1 = &b->s;
	unsigned nl = s1->h.n_lcores < s0->h.n_lcores ? s1->h.n_lcores : s0->h.n_lcores;
	unsigned np = s1->h.n_ports == s0->h.n_ports ? s1->h.n_ports : 0;
	unsigned nd = s1->h.n_drops < s0->h.n_drops ? s1->h.n_drops : s0->h.n_drops;
	double hz = s1->h.tsc_hz ? (double)s1->h.tsc_hz : 1.0;
	char pb[8], nb[32];

	if (dt <= 0)
		dt = 1e-9;
	if (json) {
		memset(&jw, 0, sizeof(jw));
		j_obj(NULL);
		j_str("node", c->server.name);
		j_u64("frame", frame);
		j_dbl("interval_s", dt);
		j_arr("lcores");
	} else {
		if (tty)
			fputs("\033[H\033[2J", stdout);
		printf("nsdp top: %s, frame %u, interval %.2f s\n", c->server.name, frame, dt);
		printf("%-6s %12s %12s %12s %9s %6s\n", "LCORE", "RX-PPS", "TX-PPS", "BUSY-PPS",
		       "CYC/PKT", "BUSY%");
	}
	for (unsigned l = 0; l < nl; l++) {
		struct nsdp_lcore_stats x, y;
		st_lcore(s0, l, &x);
		st_lcore(s1, l, &y);
		uint64_t rx = 0, tx = 0;
		for (unsigned p = 0; p < np; p++) {
			struct nsdp_port_counters pa, pz;
			st_port(s0, l, p, &pa);
			st_port(s1, l, p, &pz);
			rx += d64(pz.rx_pkts, pa.rx_pkts);
			tx += d64(pz.tx_pkts, pa.tx_pkts);
		}
		uint64_t bp = d64(y.busy_packets, x.busy_packets), bc = d64(y.busy_cycles, x.busy_cycles);
		double cpp = bp ? (double)bc / (double)bp : 0.0;
		double busy = 100.0 * (double)bc / (hz * dt);
		if (busy > 100.0)
			busy = 100.0;
		if (json) {
			j_obj(NULL);
			j_u64("lcore", y.lcore_id);
			j_dbl("rx_pps", (double)rx / dt);
			j_dbl("tx_pps", (double)tx / dt);
			j_dbl("busy_pps", (double)bp / dt);
			j_dbl("cycles_per_packet", cpp);
			j_dbl("busy_pct", busy);
			j_end_obj();
		} else {
			printf("%-6u %12.0f %12.0f %12.0f %9.1f %5.1f%%\n", y.lcore_id, (double)rx / dt,
			       (double)tx / dt, (double)bp / dt, cpp, busy);
		}
	}
	if (json) {
		j_end_arr();
		j_arr("drops");
	} else {
		printf("\n%-22s %12s %14s\n", "DROP", "PER-SEC", "TOTAL");
	}
	unsigned shown = 0;
	for (unsigned r = 1; r < nd; r++) {
		uint64_t t0 = 0, t1 = 0;
		for (unsigned l = 0; l < nl; l++) {
			t0 += st_drop(s0, l, r);
			t1 += st_drop(s1, l, r);
		}
		if (!t1)
			continue;
		shown++;
		double rate = (double)d64(t1, t0) / dt;
		if (json) {
			j_obj(NULL);
			j_str("reason", drop_name(r, nb, sizeof(nb)));
			j_dbl("per_s", rate);
			j_u64("total", t1);
			j_end_obj();
		} else {
			printf("%-22s %12.1f %14" PRIu64 "\n", drop_name(r, nb, sizeof(nb)), rate, t1);
		}
	}
	if (json) {
		j_end_arr();
		j_u64("flows_total", nflows);
		j_str("flows_order", "recency");
		j_arr("flows");
	} else {
		if (!shown)
			printf("(no drops)\n");
		printf("\nFLOWS: %" PRIu64 " in conntrack; the %u most recently active "
		       "(conntrack keeps no per-flow counters)\n", nflows, nfl);
		printf("%-5s %-22s %-22s %-12s %5s\n", "PROTO", "SOURCE", "DESTINATION", "STATE",
		       "IDLE");
	}
	for (unsigned i = 0; i < nfl; i++) {
		char *src = ipstr(&fl[i].src), *dst = ipstr(&fl[i].dst);
		if (json) {
			j_obj(NULL);
			j_str("proto", proto_name(fl[i].proto, pb, sizeof(pb)));
			j_str("src", src);
			j_u64("sport", fl[i].sport);
			j_str("dst", dst);
			j_u64("dport", fl[i].dport);
			j_str("state", nsdp_ct_state_name(fl[i].state));
			j_u64("idle_s", fl[i].age_s);
			j_end_obj();
		} else {
			char *a = fmt("%s:%u", src, fl[i].sport), *d = fmt("%s:%u", dst, fl[i].dport);
			printf("%-5s %-22s %-22s %-12s %4us\n", proto_name(fl[i].proto, pb, sizeof(pb)),
			       a, d, nsdp_ct_state_name(fl[i].state), fl[i].age_s);
			free(a);
			free(d);
		}
		free(src);
		free(dst);
	}
	if (json) {
		j_end_arr();
		j_end_obj();
		putchar('\n');
	} else if (!tty) {
		putchar('\n');
	}
	fflush(stdout);
	(void)tp;
}

/* ---- flowlog ------------------------------------------------------------ */

struct flowlog_args {
	bool follow;
	double interval; /* seconds between reads with --follow */
};

static int parse_flowlog(int argc, char **argv, struct flowlog_args *fa)
{
	fa->follow = false;
	fa->interval = 0.2;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--follow")) {
			fa->follow = true;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			fa->interval = strtod(argv[++i], &end);
			if (*end || !(fa->interval >= 0.01 && fa->interval <= 3600))
				return die_usage("flowlog: --interval: seconds, 0.01 to 3600");
		} else {
			return die_usage("usage: nsdpctl flowlog [--follow] [--interval S]");
		}
	}
	return 0;
}

/* This node's endpoints, for names in the records ("ns/pod" -> "ns\0pod"). */
struct ep_names {
	unsigned n;
	struct nsdp_endpoint *e;
	char node[NSDP_NAME_LEN];
	char buf[NSDP_NAME_LEN + 1];
};

static const char *ep_name(void *arg, uint32_t ip)
{
	struct ep_names *x = arg;
	for (unsigned i = 0; i < x->n; i++) {
		if (x->e[i].ip.family != AF_INET || memcmp(x->e[i].ip.addr, &ip, 4))
			continue;
		snprintf(x->buf, sizeof(x->buf), "%.*s", (int)sizeof(x->e[i].name), x->e[i].name);
		char *slash = strchr(x->buf, '/');
		if (!slash)
			return NULL;
		*slash = '\0';
		return x->buf;
	}
	return NULL;
}

static void print_rec(void *arg, const struct nsdp_flowlog_rec *r, const char *rule)
{
	struct ep_names *x = arg;
	nsdp_flowlog_format(stdout, x->node, r, rule, ep_name, x);
}

/*
 * Take the dataplane's flow-log records and print them as JSON lines, with
 * the names of this node's endpoints: what nsdp-agent --flow-log writes,
 * for a dataplane run without an agent. The records are taken: an agent
 * running at the same time would not see them.
 */
static int cmd_flowlog(struct nsdp_client *c, const struct flowlog_args *fa)
{
	struct ep_names x = {0};
	void *buf;
	uint32_t len;
	int rc = query(c, NSDP_MSG_GET_INFO, NULL, 0, sizeof(struct nsdp_info), 0, &buf, &len);
	if (rc)
		return rc;
	memcpy(x.node, ((struct nsdp_info *)buf)->node, sizeof(x.node));
	x.node[sizeof(x.node) - 1] = '\0';
	free(buf);
	for (;;) {
		if ((rc = query(c, NSDP_MSG_GET_ENDPOINTS, NULL, 0, 0, sizeof(struct nsdp_endpoint),
				&buf, &len)))
			break;
		free(x.e);
		x.e = buf;
		x.n = len / sizeof(struct nsdp_endpoint);
		struct nsdp_flowlog_req q = {0};
		if ((rc = query(c, NSDP_MSG_FLOWLOG_READ, &q, sizeof(q),
				sizeof(struct nsdp_flowlog_hdr), 0, &buf, &len)))
			break;
		struct nsdp_flowlog_hdr h;
		int n = nsdp_flowlog_each(buf, len, &h, print_rec, &x);
		free(buf);
		if (n < 0) {
			fprintf(stderr, "nsdpctl: flowlog: a reply ends inside a record\n");
			rc = 1;
			break;
		}
		fflush(stdout);
		if (h.pending)
			continue;
		if (!fa->follow)
			break;
		struct timespec ts = { (time_t)fa->interval,
				       (long)((fa->interval - (double)(time_t)fa->interval) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	free(x.e);
	return rc;
}

static int cmd_top(struct nsdp_client *c, const struct top_args *tp)
{
	struct top_sample a, b;
	bool tty = isatty(STDOUT_FILENO) && !json;
	int rc = top_sample(c, &a);

	if (rc)
		return rc;
	for (unsigned frame = 1; tp->count == 0 || frame <= tp->count; frame++) {
		struct timespec ts = { (time_t)tp->interval,
				       (long)((tp->interval - (double)(time_t)tp->interval) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if ((rc = top_sample(c, &b))) {
			stats_free(&a.s);
			return rc;
		}
		struct nsdp_flow fl[TOP_FLOWS];
		unsigned nfl = 0;
		uint64_t nflows = 0;
		if ((rc = top_flows(c, fl, &nfl, &nflows))) {
			stats_free(&a.s);
			stats_free(&b.s);
			return rc;
		}
		top_frame(c, tp, frame, &a, &b, fl, nfl, nflows, tty);
		stats_free(&a.s);
		a = b;
	}
	stats_free(&a.s);
	return 0;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	char *args[256];
	int n = 0;

	sock_path = getenv("NSDP_SOCKET");
	if (!sock_path || !sock_path[0])
		sock_path = NSDP_DEFAULT_SOCKET;

	/* Global options may appear anywhere; the rest is the command. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) {
			if (++i >= argc)
				return die_usage("%s needs a path", argv[i - 1]);
			sock_path = argv[i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			sock_path = argv[i] + 9;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (n < (int)(sizeof(args) / sizeof(args[0]))) {
			args[n++] = argv[i];
		} else {
			return die_usage("too many arguments");
		}
	}
	if (n == 0) {
		usage(stderr);
		return 2;
	}

	const char *cmd = args[0];
	const char *policy_dirs[16];
	unsigned n_policy_dirs = 0;
	if (!strcmp(cmd, "policy")) {
		if (n >= 2 && !strcmp(args[1], "reach")) /* offline: no socket */
			return nsdpctl_policy_reach(n - 2, args + 2);
		bool ok = n == 2 && !strcmp(args[1], "show");
		if (n >= 4 && !strcmp(args[1], "apply")) {
			ok = true;
			for (int i = 2; i < n; i += 2) {
				if (strcmp(args[i], "--manifests") || i + 1 >= n || n_policy_dirs == 16)
					ok = false;
				else
					policy_dirs[n_policy_dirs++] = args[i + 1];
			}
		}
		if (!ok)
			return die_usage("usage: nsdpctl policy reach --manifests DIR... --probes FILE"
					 " | apply --manifests DIR... | show");
	}
	bool all = false;
	uint64_t max = UINT64_MAX;
	struct change ch = { .kind = NO_CHANGE };
	enum { Q_INFO, Q_PORTS, Q_STATS, Q_DROPS, Q_EPS, Q_ROUTES, Q_VTEPS, Q_FLOWS,
	       Q_FLUSH, Q_CHANGE, Q_POLICY_APPLY, Q_POLICY_SHOW, Q_TRACE, Q_TOP, Q_FLOWLOG } what;
	struct flowlog_args fa;
	struct trace_args ta;
	struct top_args tp;

	if (!strcmp(cmd, "policy")) {
		what = n_policy_dirs ? Q_POLICY_APPLY : Q_POLICY_SHOW;
	} else if (!strcmp(cmd, "info") || !strcmp(cmd, "ports") || !strcmp(cmd, "stats") ||
	    !strcmp(cmd, "endpoints") || !strcmp(cmd, "routes") || !strcmp(cmd, "vteps") ||
	    !strcmp(cmd, "commit-check")) {
		if (n > 1)
			return die_usage("%s: unexpected argument %s", cmd, args[1]);
		what = !strcmp(cmd, "info") ? Q_INFO : !strcmp(cmd, "ports") ? Q_PORTS :
		       !strcmp(cmd, "stats") ? Q_STATS : !strcmp(cmd, "endpoints") ? Q_EPS :
		       !strcmp(cmd, "routes") ? Q_ROUTES : !strcmp(cmd, "vteps") ? Q_VTEPS :
		       Q_CHANGE;
	} else if (!strcmp(cmd, "drops")) {
		for (int i = 1; i < n; i++) {
			if (strcmp(args[i], "--all"))
				return die_usage("drops: unexpected argument %s", args[i]);
			all = true;
		}
		what = Q_DROPS;
	} else if (!strcmp(cmd, "flows")) {
		for (int i = 1; i < n; i++) {
			uint32_t v;
			if (strcmp(args[i], "--max") || i + 1 >= n ||
			    parse_u32(args[i + 1], &v) < 0 || v == 0)
				return die_usage("usage: nsdpctl flows [--max N] (N >= 1)");
			max = v;
			i++;
		}
		what = Q_FLOWS;
	} else if (!strcmp(cmd, "trace")) {
		int rc = parse_trace(n, args, &ta);
		if (rc)
			return rc;
		what = Q_TRACE;
	} else if (!strcmp(cmd, "top")) {
		int rc = parse_top(n, args, &tp);
		if (rc)
			return rc;
		what = Q_TOP;
	} else if (!strcmp(cmd, "flowlog")) {
		int rc = parse_flowlog(n, args, &fa);
		if (rc)
			return rc;
		what = Q_FLOWLOG;
	} else if (!strcmp(cmd, "ct")) {
		if (n != 2 || strcmp(args[1], "flush"))
			return die_usage("usage: nsdpctl ct flush");
		what = Q_FLUSH;
	} else if (!strcmp(cmd, "ep") || !strcmp(cmd, "route") || !strcmp(cmd, "vtep") ||
		   !strcmp(cmd, "port")) {
		int rc = parse_change(n, args, &ch);
		if (rc)
			return rc;
		what = Q_CHANGE;
	} else {
		return die_usage("unknown command %s", cmd);
	}

	struct nsdp_client c;
	if (connect_dp(&c))
		return 1;
	int rc = 0;
	switch (what) {
	case Q_INFO: rc = cmd_info(&c); break;
	case Q_PORTS: rc = cmd_ports(&c); break;
	case Q_STATS: rc = cmd_stats(&c); break;
	case Q_DROPS: rc = cmd_drops(&c, all); break;
	case Q_EPS: rc = cmd_endpoints(&c); break;
	case Q_ROUTES: rc = cmd_routes(&c); break;
	case Q_VTEPS: rc = cmd_vteps(&c); break;
	case Q_FLOWS: rc = cmd_flows(&c, max); break;
	case Q_FLUSH: rc = cmd_ct_flush(&c); break;
	case Q_CHANGE: rc = apply_change(&c, &ch); break;
	case Q_POLICY_APPLY:
		rc = nsdpctl_policy_apply(&c, policy_dirs, n_policy_dirs, json);
		break;
	case Q_POLICY_SHOW: rc = nsdpctl_policy_show(&c, json); break;
	case Q_TRACE: rc = cmd_trace(&c, &ta); break;
	case Q_TOP: rc = cmd_top(&c, &tp); break;
	case Q_FLOWLOG: rc = cmd_flowlog(&c, &fa); break;
	}
	nsdp_client_close(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("nsdpctl: stdout");
		return 1;
	}
	return rc;
}
