/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nsdpctl policy reach --manifests DIR --probes FILE`: the offline
 * reachability check. It compiles DIR with the agent's compiler and decides
 * every probe by building its first packet and running it through the
 * dataplane's own parser (pkt_parse) and policy lookups (pol_decide), the
 * code a worker runs for a new connection. No second evaluator.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <inttypes.h>

#include <nsdp/proto.h>

#include "ctlclient.h"
#include "k8s.h"
#include "pkt.h"
#include "policy.h"
#include "polcomp.h"
#include "reach.h"

struct probe {
	char src[256], dst[256];
	uint32_t src_ip, dst_ip; /* network order */
	uint16_t port;
	uint8_t proto;
};

static void report(void *arg, const char *msg)
{
	(*(unsigned *)arg)++;
	fprintf(stderr, "nsdpctl: %s\n", msg);
}

/* "ns/pod" or an IPv4 address -> address. Returns 0 or prints and -EINVAL. */
static int resolve(const struct k8s_cluster *cl, const char *file, unsigned line,
		   const char *field, const char *s, uint32_t *ip)
{
	if (strchr(s, '/')) {
		const char *slash = strchr(s, '/');
		for (unsigned i = 0; i < cl->n_pods; i++) {
			const struct k8s_pod *p = &cl->pods[i];
			if (strlen(p->ns) == (size_t)(slash - s) && !strncmp(p->ns, s, slash - s) &&
			    !strcmp(p->name, slash + 1)) {
				if (!p->n_ips) {
					fprintf(stderr, "nsdpctl: %s:%u: %s: pod %s has no IP "
						"(status.podIP)\n", file, line, field, s);
					return -EINVAL;
				}
				*ip = p->ips[0];
				return 0;
			}
		}
		fprintf(stderr, "nsdpctl: %s:%u: %s: no pod %s in the manifests\n", file, line,
			field, s);
		return -EINVAL;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "nsdpctl: %s:%u: %s: \"%s\" is neither namespace/pod nor an "
			"IPv4 address\n", file, line, field, s);
		return -EINVAL;
	}
	*ip = a.s_addr;
	return 0;
}

static int read_probes(const struct k8s_cluster *cl, const char *file, struct probe **out,
		       size_t *n_out)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "nsdpctl: %s: cannot read: %s\n", file, strerror(errno));
		return -errno;
	}
	char buf[1024];
	unsigned line = 0;
	size_t n = 0, cap = 0;
	struct probe *v = NULL;
	int rc = 0;
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = 0;
		char *tok[5];
		int nt = 0;
		for (char *s = strtok(buf, " \t\r\n"); s && nt < 5; s = strtok(NULL, " \t\r\n"))
			tok[nt++] = s;
		if (nt == 0)
			continue;
		if (nt != 4) {
			fprintf(stderr, "nsdpctl: %s:%u: expected \"SRC DST PORT PROTO\", got %d "
				"field(s)\n", file, line, nt);
			rc = -EINVAL;
			continue;
		}
		struct probe p = {0};
		snprintf(p.src, sizeof(p.src), "%s", tok[0]);
		snprintf(p.dst, sizeof(p.dst), "%s", tok[1]);
		if (resolve(cl, file, line, "SRC", tok[0], &p.src_ip) ||
		    resolve(cl, file, line, "DST", tok[1], &p.dst_ip)) {
			rc = -EINVAL;
			continue;
		}
		char *end;
		errno = 0;
		unsigned long port = strtoul(tok[2], &end, 10);
		if (errno || *end || !isdigit((unsigned char)tok[2][0]) || port < 1 ||
		    port > 65535) {
			fprintf(stderr, "nsdpctl: %s:%u: PORT: \"%s\" is not a port (allowed: "
				"1..65535)\n", file, line, tok[2]);
			rc = -EINVAL;
			continue;
		}
		p.port = (uint16_t)port;
		if (!strcasecmp(tok[3], "TCP"))
			p.proto = 6;
		else if (!strcasecmp(tok[3], "UDP"))
			p.proto = 17;
		else if (!strcasecmp(tok[3], "SCTP"))
			p.proto = 132;
		else {
			fprintf(stderr, "nsdpctl: %s:%u: PROTO: \"%s\" is not a protocol "
				"(allowed: TCP, UDP, SCTP)\n", file, line, tok[3]);
			rc = -EINVAL;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct probe *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = p;
	}
	fclose(f);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n_out = n;
	return 0;
}

/* Load DIRs (into one cluster) and compile; exit status 2 on bad objects. */
static int load_compile(const char *const *dirs, unsigned n_dirs, struct k8s_cluster *cl,
			struct pol_tables **t)
{
	unsigned bad = 0;
	memset(cl, 0, sizeof(*cl));
	for (unsigned i = 0; i < n_dirs; i++) {
		int rc = k8s_load_dir(dirs[i], cl, report, &bad);
		if (rc < 0 && !bad) {
			fprintf(stderr, "nsdpctl: %s: %s\n", dirs[i], strerror(-rc));
			bad++;
		}
	}
	if (bad) {
		k8s_cluster_free(cl);
		return 2;
	}
	*t = pol_compile(cl, 1);
	if (!*t) {
		fprintf(stderr, "nsdpctl: compiling: %s\n", strerror(errno));
		k8s_cluster_free(cl);
		return 1;
	}
	return 0;
}

/* The connection's first packet: Ethernet, IPv4, TCP SYN / UDP / SCTP. */
static unsigned build_packet(const struct probe *p, uint8_t *f)
{
	static const uint8_t l4len[256] = {[6] = 20, [17] = 8, [132] = 12};
	unsigned l4 = l4len[p->proto], tot = 20 + l4;
	memset(f, 0, 14 + tot);
	f[12] = 0x08; /* IPv4 */
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[8] = 64;
	ip[9] = p->proto;
	memcpy(ip + 12, &p->src_ip, 4);
	memcpy(ip + 16, &p->dst_ip, 4);
	uint16_t c = pkt_ipv4_hdr_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	uint8_t *h = ip + 20;
	h[0] = 0xc3; /* source port 50000 */
	h[1] = 0x50;
	h[2] = (uint8_t)(p->port >> 8);
	h[3] = (uint8_t)p->port;
	if (p->proto == 6) {
		h[12] = 5 << 4;
		h[13] = 0x02; /* SYN */
	} else if (p->proto == 17) {
		h[5] = 8;
	}
	return 14 + tot;
}

int nsdpctl_policy_reach(int argc, char **argv)
{
	const char *dirs[16], *probes = NULL;
	unsigned n_dirs = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--manifests") && i + 1 < argc && n_dirs < 16)
			dirs[n_dirs++] = argv[++i];
		else if (!strcmp(argv[i], "--probes") && i + 1 < argc)
			probes = argv[++i];
		else {
			fprintf(stderr, "usage: nsdpctl policy reach --manifests DIR --probes FILE\n");
			return 2;
		}
	}
	if (!n_dirs || !probes) {
		fprintf(stderr, "usage: nsdpctl policy reach --manifests DIR... --probes FILE\n");
		return 2;
	}

	struct k8s_cluster cl;
	struct pol_tables *t;
	int rc = load_compile(dirs, n_dirs, &cl, &t);
	if (rc)
		return rc;
	struct probe *pv = NULL;
	size_t np = 0;
	if (read_probes(&cl, probes, &pv, &np)) {
		pol_tables_free(t);
		k8s_cluster_free(&cl);
		return 2;
	}
	for (size_t i = 0; i < np; i++) {
		uint8_t frame[128];
		struct pkt_info pi;
		unsigned len = build_packet(&pv[i], frame);
		if (pkt_parse(frame, len, &pi)) {
			fprintf(stderr, "nsdpctl: internal error: probe packet does not parse\n");
			rc = 1;
			break;
		}
		struct pol_result res;
		pol_decide(t, pi.src4, pi.dst4, pi.proto, ntohs(pi.dport), &res);
		/* audit: allowed, and the audited rule that would deny it */
		printf("%s %s %u/%s %s %s%s\n", pv[i].src, pv[i].dst, pv[i].port,
		       pv[i].proto == 6 ? "TCP" : pv[i].proto == 17 ? "UDP" : "SCTP",
		       res.verdict == POL_DENY ? "deny" : "allow",
		       res.verdict == POL_AUDIT ? "audit: would deny by " : "", t->rules[res.rule]);
	}
	pol_tables_free(t);
	free(pv);
	k8s_cluster_free(&cl);
	return rc;
}

int nsdpctl_policy_apply(struct nsdp_client *c, const char *const *dirs, unsigned n_dirs,
			 bool json)
{
	struct k8s_cluster cl;
	struct pol_tables *t;
	int rc = load_compile(dirs, n_dirs, &cl, &t);
	if (rc)
		return rc;
	void *blob = NULL;
	size_t len = 0;
	uint32_t n_rules = t->n_rules, n_maps = t->n_maps;
	rc = pol_serialize(t, &blob, &len);
	pol_tables_free(t);
	k8s_cluster_free(&cl);
	if (rc) {
		fprintf(stderr, "nsdpctl: %s\n", strerror(-rc));
		return 1;
	}
	if (len > NSDP_PROTO_MAX_PAYLOAD) {
		fprintf(stderr, "nsdpctl: compiled policy is %zu bytes, over the protocol's "
			"%u-byte message limit\n", len, NSDP_PROTO_MAX_PAYLOAD);
		free(blob);
		return 1;
	}
	uint64_t gen = c->server.generation + 1;
	struct nsdp_ack ack;
	rc = nsdp_client_send(c, NSDP_MSG_POLICY_SET, gen, blob, (uint32_t)len);
	free(blob);
	if (rc < 0 || nsdp_client_commit(c, gen, &ack) < 0) {
		fprintf(stderr, "nsdpctl: %s\n", nsdp_client_error(c));
		return 1;
	}
	if (ack.rejected || ack.status) {
		fprintf(stderr, "nsdpctl: rejected by the dataplane: %s\n",
			ack.error[0] ? ack.error : strerror(-ack.status));
		return 1;
	}
	if (json)
		printf("{\"generation\": %" PRIu64 ", \"rules\": %u, \"maps\": %u, "
		       "\"bytes\": %zu}\n", ack.generation, n_rules, n_maps, len);
	else
		printf("policy: %u rules, %u port maps, %zu bytes; generation %" PRIu64
		       " effective\n", n_rules, n_maps, len, ack.generation);
	return 0;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

int nsdpctl_policy_show(struct nsdp_client *c, bool json)
{
	void *reply = NULL;
	uint32_t len = 0;
	if (nsdp_client_request(c, NSDP_MSG_GET_POLICY, NULL, 0, &reply, &len) < 0) {
		fprintf(stderr, "nsdpctl: %s\n", nsdp_client_error(c));
		return 1;
	}
	struct nsdp_policy_stats_hdr h;
	if (len < sizeof(h)) {
		fprintf(stderr, "nsdpctl: GET_POLICY reply of %u bytes\n", len);
		free(reply);
		return 1;
	}
	memcpy(&h, reply, sizeof(h));
	const struct nsdp_policy_rule *r =
		(const struct nsdp_policy_rule *)((const uint8_t *)reply + sizeof(h));
	uint32_t n = (uint32_t)((len - sizeof(h)) / sizeof(*r));
	if (json) {
		printf("{\"generation\": %" PRIu64 ", \"pods\": %u, \"subjects\": %u, "
		       "\"maps\": %u, \"rules\": [", h.generation, h.n_pods, h.n_subjects,
		       h.n_maps);
		for (uint32_t i = 0; i < n; i++) {
			printf("%s{\"rule\": ", i ? ", " : "");
			json_str(r[i].name);
			printf(", \"allowed\": %" PRIu64 ", \"denied\": %" PRIu64
			       ", \"audited\": %" PRIu64 "}",
			       r[i].allowed, r[i].denied, r[i].audited);
		}
		printf("]}\n");
	} else if (!h.generation) {
		printf("no policy enforced (everything allowed)\n");
	} else {
		printf("policy generation %" PRIu64 ": %u pods, %u subject classes, %u port maps\n",
		       h.generation, h.n_pods, h.n_subjects, h.n_maps);
		printf("%12s %12s %12s  %s\n", "ALLOWED", "DENIED", "AUDITED", "RULE");
		for (uint32_t i = 0; i < n; i++)
			printf("%12" PRIu64 " %12" PRIu64 " %12" PRIu64 "  %s\n", r[i].allowed,
			       r[i].denied, r[i].audited, r[i].name);
	}
	free(reply);
	return 0;
}
