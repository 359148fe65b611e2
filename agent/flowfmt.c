/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "flowfmt.h"

void nsdp_json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
}

static const char *proto_name(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case 6: return "TCP";
	case 17: return "UDP";
	case 132: return "SCTP";
	case 1: return "ICMP";
	default: snprintf(buf, len, "%u", p); return buf;
	}
}

static void endpoint(FILE *f, const char *key, uint32_t ip, uint16_t port, bool ported,
		     nsdp_pod_name_fn name, void *arg)
{
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip, a, sizeof(a));
	fprintf(f, "\"%s\":{\"ip\":\"%s\"", key, a);
	if (ported)
		fprintf(f, ",\"port\":%u", port);
	const char *pod = name ? name(arg, ip) : NULL;
	if (pod) {
		fputs(",\"namespace\":\"", f);
		nsdp_json_escape(f, pod);
		fputs("\",\"pod\":\"", f);
		nsdp_json_escape(f, pod + strlen(pod) + 1);
		fputc('"', f);
	}
	fputc('}', f);
}

void nsdp_flowlog_format(FILE *f, const char *node, const struct nsdp_flowlog_rec *r,
			 const char *rule, nsdp_pod_name_fn name, void *arg)
{
	static const char *const reasons[] = {"", "new", "redecided", "untracked"};
	char ts[40], pb[8];
	time_t sec = (time_t)(r->time_ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	bool ported = r->proto == 6 || r->proto == 17 || r->proto == 132;

	fprintf(f, "{\"time\":\"%s.%06" PRIu64 "Z\",\"node\":\"", ts,
		(uint64_t)(r->time_ns % 1000000000ull) / 1000);
	nsdp_json_escape(f, node);
	fprintf(f, "\",\"verdict\":\"%s\",\"audit\":%s,\"direction\":\"%s\",\"reason\":\"%s\","
		   "\"protocol\":\"%s\",",
		r->verdict == 2 ? "deny" : "allow",
		r->verdict == NSDP_VERDICT_AUDIT ? "true" : "false",
		r->direction ? "egress" : "ingress", r->reason < 4 ? reasons[r->reason] : "",
		proto_name(r->proto, pb, sizeof(pb)));
	endpoint(f, "src", r->src, r->sport, ported, name, arg);
	fputc(',', f);
	endpoint(f, "dst", r->dst, r->dport, ported, name, arg);
	fputs(",\"policy\":\"", f);
	nsdp_json_escape(f, rule);
	fprintf(f, "\",\"policy_generation\":%" PRIu64 "}\n", r->policy_generation);
}

int nsdp_flowlog_each(const void *reply, uint32_t len, struct nsdp_flowlog_hdr *h,
		      void (*each)(void *arg, const struct nsdp_flowlog_rec *r, const char *rule),
		      void *arg)
{
	const uint8_t *p = reply;
	memset(h, 0, sizeof(*h));
	if (len < sizeof(*h))
		return -1;
	memcpy(h, p, sizeof(*h));
	size_t off = sizeof(*h);
	for (uint32_t i = 0; i < h->count; i++) {
		struct nsdp_flowlog_rec r;
		if (len - off < sizeof(r))
			return -1;
		memcpy(&r, p + off, sizeof(r));
		off += sizeof(r);
		if (len - off < r.name_len || r.name_len == 0 || p[off + r.name_len - 1] != '\0')
			return -1;
		each(arg, &r, (const char *)p + off);
		off += r.name_len;
	}
	return (int)h->count;
}
