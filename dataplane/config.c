/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration loader. Every setting is checked here, once, so the rest
 * of the dataplane can trust struct dp_config. Checks are strict on purpose:
 * an unknown key is a typo until proven otherwise, and a value that is out of
 * range stops startup with "SOURCE:LINE: SETTING: what (allowed: ...)"
 * rather than being clamped. docs/configuration.md is the reference.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"

#define MAX_LCORE_ID 1023
#define MAX_QUEUES 64
#define MAX_CONFIG_BYTES (16u << 20)
#define EMBEDDED "<embedded>"

/*
 * A node with no NIC runs this: two null ports that neither receive nor
 * leak packets, in anonymous memory, so `nsdp-dataplane` starts as a
 * single-node demo on any machine. Every rule still applies, which the unit
 * tests check by parsing it.
 */
const char dp_default_config[] =
	"# nsdp-dataplane built-in configuration (used when no -c FILE is given).\n"
	"node = {\n"
	"  vtep = \"192.168.100.1\";\n"
	"  overlay = \"vxlan\";\n"
	"  vni = 1;\n"
	"};\n"
	"eal = [\"--no-pci\", \"--no-huge\", \"-m\", \"512\",\n"
	"       \"--file-prefix=nsdp-default\"];\n"
	"workers = [1];\n"
	"main_lcore = 0;\n"
	"ports = (\n"
	"  { name = \"uplink\"; devargs = \"net_null0,no-rx=1\"; role = \"uplink\"; },\n"
	"  { name = \"pod0\"; devargs = \"net_null1,no-rx=1\"; role = \"pod\"; }\n"
	");\n"
	"endpoints = (\n"
	"  { ip = \"10.244.1.2\"; port = \"pod0\"; mac = \"02:00:00:00:01:02\";\n"
	"    identity = 100; name = \"default/demo\"; }\n"
	");\n"
	"vteps = (\n"
	"  { ip = \"192.168.100.2\"; mac = \"02:00:00:00:00:02\"; name = \"node-b\"; }\n"
	");\n"
	"routes = (\n"
	"  { prefix = \"10.244.1.0/24\"; local = true; },\n"
	"  { prefix = \"10.244.2.0/24\"; vtep = \"192.168.100.2\"; }\n"
	");\n";

struct ctx {
	const char *source;
	const char *incdir; /* where @include looks; NULL: the working directory */
	char *err;
	size_t errlen;
};

/* ---- error reporting ---------------------------------------------------- */

static void errf(struct ctx *c, const char *file, unsigned line, const char *path,
		 const char *fmt, va_list ap)
{
	size_t off = 0;
	int n;

	if (!c->err || !c->errlen)
		return;
	if (line)
		n = snprintf(c->err, c->errlen, "%s:%u: ", file, line);
	else
		n = snprintf(c->err, c->errlen, "%s: ", file);
	off = n < 0 ? 0 : (size_t)n;
	if (path && path[0] && off < c->errlen) {
		n = snprintf(c->err + off, c->errlen - off, "%s: ", path);
		off += n < 0 ? 0 : (size_t)n;
	}
	if (off < c->errlen)
		vsnprintf(c->err + off, c->errlen - off, fmt, ap);
}

/* The file a setting or error came from: `source`, or an @include'd file. */
static const char *origin(const struct ctx *c, const char *file, char *buf, size_t n)
{
	if (!file)
		return c->source;
	if (file[0] == '/' || !c->incdir)
		return file;
	snprintf(buf, n, "%s/%s", c->incdir, file);
	return buf;
}

/*
 * Report a problem with setting `s` (NULL: no place in the file, e.g. a
 * missing top-level setting). Returns -EINVAL for `return fail(...)`.
 */
__attribute__((format(printf, 4, 5)))
static int fail(struct ctx *c, const config_setting_t *s, const char *path,
		const char *fmt, ...)
{
	const char *file = c->source;
	unsigned line = 0;
	char buf[512];
	va_list ap;

	if (s) {
		file = origin(c, config_setting_source_file(s), buf, sizeof(buf));
		line = config_setting_source_line(s);
	}
	va_start(ap, fmt);
	errf(c, file, line, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

__attribute__((format(printf, 3, 4)))
static int fail_line(struct ctx *c, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errf(c, c->source, line, NULL, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *type_name(const config_setting_t *s)
{
	switch (s->type) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "nothing";
	}
}

static int wrong_type(struct ctx *c, const config_setting_t *s, const char *path,
		      const char *expected)
{
	if (s->type == CONFIG_TYPE_STRING)
		return fail(c, s, path, "expected %s, got a string (\"%s\")", expected,
			    config_setting_get_string(s));
	return fail(c, s, path, "expected %s, got %s", expected, type_name(s));
}

static void join(char *buf, size_t n, const char *parent, const char *key)
{
	if (parent && parent[0])
		snprintf(buf, n, "%s.%s", parent, key);
	else
		snprintf(buf, n, "%s", key);
}

/* ---- typed accessors ---------------------------------------------------- */

static int as_int(struct ctx *c, const config_setting_t *s, const char *path, long long min,
		  long long max, long long *v)
{
	*v = 0;
	if (s->type != CONFIG_TYPE_INT && s->type != CONFIG_TYPE_INT64)
		return wrong_type(c, s, path, "an integer");
	*v = config_setting_get_int64(s);
	if (*v < min || *v > max)
		return fail(c, s, path, "%lld is out of range (allowed: %lld..%lld)", *v, min,
			    max);
	return 0;
}

static int as_string(struct ctx *c, const config_setting_t *s, const char *path,
		     const char **v)
{
	*v = "";
	if (s->type != CONFIG_TYPE_STRING)
		return wrong_type(c, s, path, "a string");
	*v = config_setting_get_string(s);
	return 0;
}

static int as_bool(struct ctx *c, const config_setting_t *s, const char *path, bool *v)
{
	*v = false;
	if (s->type != CONFIG_TYPE_BOOL)
		return wrong_type(c, s, path, "a boolean (true or false)");
	*v = config_setting_get_bool(s) != 0;
	return 0;
}

/* Strict dotted quad (inet_pton rejects short forms and leading zeros). */
static int parse_ipv4(const char *str, uint32_t *ip_be)
{
	struct in_addr a;

	if (inet_pton(AF_INET, str, &a) != 1)
		return -EINVAL;
	*ip_be = a.s_addr;
	return 0;
}

/* Addresses a host can own: not 0/8, loopback, multicast or class E. */
static bool ipv4_unicast(uint32_t ip_be)
{
	uint32_t h = ntohl(ip_be);

	return (h >> 24) != 0 && (h >> 24) != 127 && h < 0xe0000000u;
}

static int as_ipv4(struct ctx *c, const config_setting_t *s, const char *path,
		   uint32_t *ip_be)
{
	const char *str;
	int rc = as_string(c, s, path, &str);

	if (rc)
		return rc;
	if (parse_ipv4(str, ip_be))
		return fail(c, s, path,
			    "\"%s\" is not an IPv4 address (allowed: a dotted quad such as "
			    "\"192.168.100.1\")",
			    str);
	if (!ipv4_unicast(*ip_be))
		return fail(c, s, path,
			    "\"%s\" is not a unicast address (not allowed: 0.0.0.0/8, "
			    "127.0.0.0/8, 224.0.0.0/3)",
			    str);
	return 0;
}

static void ip_fill(struct nsdp_ip *ip, uint32_t ip_be)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = AF_INET;
	memcpy(ip->addr, &ip_be, 4);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static int as_mac(struct ctx *c, const config_setting_t *s, const char *path, uint8_t mac[6])
{
	static const uint8_t zero[6];
	const char *str;
	int rc = as_string(c, s, path, &str);

	if (rc)
		return rc;
	if (strlen(str) != 17)
		goto bad;
	for (unsigned i = 0; i < 6; i++) {
		int hi = hexval(str[3 * i]), lo = hexval(str[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && str[3 * i + 2] != ':'))
			goto bad;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if ((mac[0] & 1) || !memcmp(mac, zero, 6))
		return fail(c, s, path,
			    "\"%s\" is not a unicast MAC address (the first octet must be "
			    "even and the address not all zeros)",
			    str);
	return 0;
bad:
	return fail(c, s, path,
		    "\"%s\" is not a MAC address (allowed: six hex octets separated by "
		    "colons, such as \"02:00:00:00:00:01\")",
		    str);
}

/* Copy a string setting into buf[n]: 1..n-1 characters. */
static int as_name(struct ctx *c, const config_setting_t *s, const char *path, char *buf,
		   size_t n)
{
	const char *str;
	int rc = as_string(c, s, path, &str);

	if (rc)
		return rc;
	if (!str[0] || strlen(str) >= n)
		return fail(c, s, path, "\"%s\" has %zu characters (allowed: 1..%zu)", str,
			    strlen(str), n - 1);
	snprintf(buf, n, "%s", str);
	return 0;
}

static bool name_chars_ok(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* ---- structure checks --------------------------------------------------- */

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[64];

	if (la >= 63 || lb >= 63)
		return UINT_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * Reject members of `grp` not in `allowed` (NULL-terminated): a misspelt key
 * would otherwise silently leave a default in place.
 */
static int check_keys(struct ctx *c, const config_setting_t *grp, const char *gpath,
		      const char *const *allowed)
{
	int n = config_setting_length(grp);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *near = NULL;
		unsigned best = 3;
		char list[512], path[128];
		size_t off = 0;
		bool known = false;

		for (const char *const *a = allowed; *a; a++) {
			unsigned d = edit_distance(name, *a);

			if (!d)
				known = true;
			if (d < best && d < strlen(*a)) {
				best = d;
				near = *a;
			}
		}
		if (known)
			continue;
		list[0] = '\0';
		for (const char *const *a = allowed; *a && off < sizeof(list); a++) {
			int w = snprintf(list + off, sizeof(list) - off, "%s%s",
					 a == allowed ? "" : ", ", *a);
			off += w < 0 ? 0 : (size_t)w;
		}
		join(path, sizeof(path), gpath, name);
		if (near)
			return fail(c, m, path,
				    "unknown setting (did you mean \"%s\"? allowed: %s)", near,
				    list);
		return fail(c, m, path, "unknown setting (allowed: %s)", list);
	}
	return 0;
}

static int want_group(struct ctx *c, const config_setting_t *s, const char *path)
{
	if (!config_setting_is_group(s))
		return wrong_type(c, s, path, "a group { ... }");
	return 0;
}

/* A list of groups: `( { ... }, { ... } )`. */
static int want_group_list(struct ctx *c, const config_setting_t *s, const char *path)
{
	if (!config_setting_is_list(s) &&
	    !(config_setting_is_array(s) && config_setting_length(s) == 0))
		return wrong_type(c, s, path, "a list ( { ... }, ... ) of groups");
	return 0;
}

static bool is_seq(const config_setting_t *s)
{
	return config_setting_is_array(s) || config_setting_is_list(s);
}

/* Member `key` of group `grp` (path `gpath`) as an integer; absent: 0. */
static int member_int(struct ctx *c, const config_setting_t *grp, const char *gpath,
		      const char *key, long long min, long long max, long long *v)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	char path[128];
	int rc;

	if (!s)
		return 0;
	join(path, sizeof(path), gpath, key);
	rc = as_int(c, s, path, min, max, v);
	return rc ? rc : 1;
}

#define MEMBER_U(c, grp, gpath, key, min, max, dst)                                \
	do {                                                                       \
		long long v_;                                                      \
		int rc_ = member_int(c, grp, gpath, key, min, max, &v_);           \
		if (rc_ < 0)                                                       \
			return rc_;                                                \
		if (rc_)                                                           \
			(dst) = (__typeof__(dst))v_;                               \
	} while (0)

static int missing(struct ctx *c, const config_setting_t *grp, const char *gpath,
		   const char *key, const char *allowed)
{
	char path[128];

	join(path, sizeof(path), gpath, key);
	return fail(c, config_setting_is_root(grp) ? NULL : grp, path,
		    "required setting is missing (allowed: %s)", allowed);
}

/* ---- sections ----------------------------------------------------------- */

static const char *const root_keys[] = {
	"node", "eal", "workers", "main_lcore", "burst", "idle_sleep_us",
	"ports", "tables", "timeouts", "control_socket", "policy_file", "endpoints", "vteps",
	"routes", "flow_log", "rule_counters", "state_file", NULL,
};

static int parse_node(struct ctx *c, const config_setting_t *node, struct dp_config *cfg,
		      bool *have_vtep)
{
	static const char *const keys[] = {
		"name", "vtep", "overlay", "vni", "udp_port", "mtu", "gateway",
		"gateway_mac", "host_ip", NULL,
	};
	const config_setting_t *s;
	int rc;

	if ((rc = want_group(c, node, "node")) || (rc = check_keys(c, node, "node", keys)))
		return rc;
	if ((s = config_setting_get_member(node, "name"))) {
		if ((rc = as_name(c, s, "node.name", cfg->node_name, sizeof(cfg->node_name))))
			return rc;
		if (!name_chars_ok(cfg->node_name))
			return fail(c, s, "node.name",
				    "\"%s\" is not a valid node name (allowed: 1..%d characters "
				    "of A-Z a-z 0-9 _ . -)",
				    cfg->node_name, NSDP_NAME_LEN - 1);
	}
	if ((s = config_setting_get_member(node, "vtep"))) {
		if ((rc = as_ipv4(c, s, "node.vtep", &cfg->vtep_ip)))
			return rc;
		*have_vtep = true;
	}
	if ((s = config_setting_get_member(node, "overlay"))) {
		const char *str;

		if ((rc = as_string(c, s, "node.overlay", &str)))
			return rc;
		if (!strcmp(str, "vxlan"))
			cfg->overlay = NSDP_OVERLAY_VXLAN;
		else if (!strcmp(str, "geneve"))
			cfg->overlay = NSDP_OVERLAY_GENEVE;
		else
			return fail(c, s, "node.overlay",
				    "\"%s\" is not an overlay type (allowed: \"vxlan\", "
				    "\"geneve\")",
				    str);
	}
	cfg->overlay_port = cfg->overlay == NSDP_OVERLAY_GENEVE ? 6081 : 4789;
	MEMBER_U(c, node, "node", "vni", 1, 0xffffff, cfg->vni);
	MEMBER_U(c, node, "node", "udp_port", 1, 65535, cfg->overlay_port);
	MEMBER_U(c, node, "node", "mtu", 576, 9000, cfg->mtu);
	if ((s = config_setting_get_member(node, "gateway")) &&
	    (rc = as_ipv4(c, s, "node.gateway", &cfg->gateway_ip)))
		return rc;
	if ((s = config_setting_get_member(node, "gateway_mac")) &&
	    (rc = as_mac(c, s, "node.gateway_mac", cfg->gateway_mac)))
		return rc;
	if ((s = config_setting_get_member(node, "host_ip")) &&
	    (rc = as_ipv4(c, s, "node.host_ip", &cfg->host_ip)))
		return rc;
	if (!s)
		cfg->host_ip = cfg->vtep_ip;
	return 0;
}

/* EAL options that would fight with `workers` / `main_lcore`. */
static const char *lcore_option(const char *arg)
{
	static const char *const opts[] = { "-l", "-c", "--lcores", "--main-lcore",
					    "--master-lcore", NULL };

	for (const char *const *o = opts; *o; o++) {
		size_t n = strlen(*o);

		if (!strncmp(arg, *o, n) &&
		    (arg[n] == '\0' || arg[n] == '=' || ((*o)[1] != '-')))
			return *o;
	}
	return NULL;
}

static int parse_eal(struct ctx *c, const config_setting_t *eal, struct dp_config *cfg)
{
	int n;

	if (!is_seq(eal))
		return wrong_type(c, eal, "eal", "a list of strings such as [\"--no-pci\"]");
	n = config_setting_length(eal);
	if (n > DP_MAX_EAL_ARGS - 1)
		return fail(c, eal, "eal", "%d arguments (allowed: at most %d)", n,
			    DP_MAX_EAL_ARGS - 1);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(eal, (unsigned)i);
		const char *str, *opt;
		char path[32];
		int rc;

		snprintf(path, sizeof(path), "eal[%d]", i);
		if ((rc = as_string(c, s, path, &str)))
			return rc;
		if (!str[0])
			return fail(c, s, path, "empty argument");
		if ((opt = lcore_option(str)))
			return fail(c, s, path,
				    "\"%s\": the dataplane sets %s itself (set lcores with "
				    "\"workers\" and \"main_lcore\")",
				    str, opt);
		cfg->eal_argv[i] = strdup(str);
		if (!cfg->eal_argv[i]) {
			fail(c, s, path, "out of memory");
			return -ENOMEM;
		}
		cfg->eal_argc = i + 1;
	}
	return 0;
}

static int parse_workers(struct ctx *c, const config_setting_t *w, struct dp_config *cfg)
{
	int n;

	if (!is_seq(w))
		return wrong_type(c, w, "workers", "a list of lcore ids such as [1, 2]");
	n = config_setting_length(w);
	if (n < 1 || n > DP_MAX_WORKERS)
		return fail(c, w, "workers", "%d lcores (allowed: 1..%d distinct lcore ids)",
			    n, DP_MAX_WORKERS);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(w, (unsigned)i);
		char path[32];
		long long v;
		int rc;

		snprintf(path, sizeof(path), "workers[%d]", i);
		if ((rc = as_int(c, s, path, 0, MAX_LCORE_ID, &v)))
			return rc;
		for (int j = 0; j < i; j++)
			if (cfg->worker_lcores[j] == (unsigned)v)
				return fail(c, s, path,
					    "lcore %lld is listed twice (also workers[%d])", v,
					    j);
		cfg->worker_lcores[i] = (unsigned)v;
	}
	cfg->n_workers = (unsigned)n;
	return 0;
}

static int parse_port(struct ctx *c, const config_setting_t *p, const char *gpath,
		      struct dp_port_cfg *port)
{
	static const char *const keys[] = {
		"name", "devargs", "role", "rx_desc", "tx_desc", "queues", NULL,
	};
	const char *str;
	const config_setting_t *s;
	char path[128];
	int rc;

	if ((rc = want_group(c, p, gpath)) || (rc = check_keys(c, p, gpath, keys)))
		return rc;

	if (!(s = config_setting_get_member(p, "name")))
		return missing(c, p, gpath, "name",
			       "1..31 characters of A-Z a-z 0-9 _ . -");
	join(path, sizeof(path), gpath, "name");
	if ((rc = as_string(c, s, path, &str)))
		return rc;
	if (!str[0] || strlen(str) >= sizeof(port->name) || !name_chars_ok(str))
		return fail(c, s, path,
			    "\"%s\" is not a valid port name (allowed: 1..%zu characters of "
			    "A-Z a-z 0-9 _ . -)",
			    str, sizeof(port->name) - 1);
	snprintf(port->name, sizeof(port->name), "%s", str);

	if (!(s = config_setting_get_member(p, "devargs")))
		return missing(c, p, gpath, "devargs",
			       "a DPDK device such as \"net_tap0,iface=tap0\" or "
			       "\"0000:3b:00.0\"");
	join(path, sizeof(path), gpath, "devargs");
	if ((rc = as_string(c, s, path, &str)))
		return rc;
	if (!str[0] || strlen(str) >= sizeof(port->devargs))
		return fail(c, s, path,
			    "%zu characters (allowed: 1..%zu, a DPDK device such as "
			    "\"net_tap0,iface=tap0\" or \"0000:3b:00.0\")",
			    strlen(str), sizeof(port->devargs) - 1);
	for (const char *q = str; *q; q++)
		if (isspace((unsigned char)*q) || iscntrl((unsigned char)*q))
			return fail(c, s, path,
				    "\"%s\" contains white space or control characters", str);
	if (str[0] == ',')
		return fail(c, s, path, "\"%s\" does not start with a device name", str);
	snprintf(port->devargs, sizeof(port->devargs), "%s", str);

	if (!(s = config_setting_get_member(p, "role")))
		return missing(c, p, gpath, "role", "\"uplink\", \"pod\", \"host\"");
	join(path, sizeof(path), gpath, "role");
	if ((rc = as_string(c, s, path, &str)))
		return rc;
	if (!strcmp(str, "uplink"))
		port->role = NSDP_ROLE_UPLINK;
	else if (!strcmp(str, "pod"))
		port->role = NSDP_ROLE_POD;
	else if (!strcmp(str, "host"))
		port->role = NSDP_ROLE_HOST;
	else
		return fail(c, s, path,
			    "\"%s\" is not a port role (allowed: \"uplink\", \"pod\", \"host\")",
			    str);

	for (int d = 0; d < 2; d++) {
		const char *key = d ? "tx_desc" : "rx_desc";
		long long v;

		if (!(s = config_setting_get_member(p, key)))
			continue;
		join(path, sizeof(path), gpath, key);
		if ((rc = as_int(c, s, path, 64, 4096, &v)))
			return rc;
		if (v & (v - 1))
			return fail(c, s, path,
				    "%lld is not a power of two (allowed: 64, 128, 256, 512, "
				    "1024, 2048, 4096)",
				    v);
		*(d ? &port->tx_desc : &port->rx_desc) = (uint16_t)v;
	}
	MEMBER_U(c, p, gpath, "queues", 0, MAX_QUEUES, port->queues);
	return 0;
}

/* The device part of devargs: "net_tap0" of "net_tap0,iface=tap0". */
static size_t devname_len(const char *devargs)
{
	return strcspn(devargs, ",");
}

static int parse_ports(struct ctx *c, const config_setting_t *ports, struct dp_config *cfg,
		       const config_setting_t **uplink_role)
{
	int n, rc, uplink = -1, host = -1;

	if ((rc = want_group_list(c, ports, "ports")))
		return rc;
	n = config_setting_length(ports);
	if (n < 1 || n > DP_MAX_PORTS)
		return fail(c, ports, "ports", "%d ports (allowed: 1..%d)", n, DP_MAX_PORTS);
	for (int i = 0; i < n; i++) {
		const config_setting_t *p = config_setting_get_elem(ports, (unsigned)i);
		struct dp_port_cfg *port = &cfg->ports[i];
		char gpath[32], path[64];

		snprintf(gpath, sizeof(gpath), "ports[%d]", i);
		port->rx_desc = 1024;
		port->tx_desc = 1024;
		port->queues = 0;
		if ((rc = parse_port(c, p, gpath, port)))
			return rc;
		for (int j = 0; j < i; j++) {
			const struct dp_port_cfg *o = &cfg->ports[j];
			size_t l = devname_len(port->devargs);

			if (!strcmp(o->name, port->name)) {
				snprintf(path, sizeof(path), "%s.name", gpath);
				return fail(c, config_setting_get_member(p, "name"), path,
					    "\"%s\" is already the name of ports[%d] (port "
					    "names must be unique)",
					    port->name, j);
			}
			/* (vnet ports are taps, not DPDK devices: the dataplane
			 * refuses two on one tap when it attaches them) */
			if (devname_len(o->devargs) == l && strncmp(port->devargs, "vnet,", 5) &&
			    !strncmp(o->devargs, port->devargs, l)) {
				snprintf(path, sizeof(path), "%s.devargs", gpath);
				return fail(c, config_setting_get_member(p, "devargs"), path,
					    "device \"%.*s\" is already used by ports[%d] "
					    "(each port needs its own device)",
					    (int)l, port->devargs, j);
			}
		}
		if (port->role == NSDP_ROLE_UPLINK) {
			const config_setting_t *role = config_setting_get_member(p, "role");

			if (uplink >= 0) {
				snprintf(path, sizeof(path), "%s.role", gpath);
				return fail(c, role, path,
					    "a second uplink port (only one port may have "
					    "role \"uplink\"; ports[%d] has it)",
					    uplink);
			}
			uplink = i;
			*uplink_role = role;
		}
		if (port->role == NSDP_ROLE_HOST) {
			if (host >= 0) {
				snprintf(path, sizeof(path), "%s.role", gpath);
				return fail(c, config_setting_get_member(p, "role"), path,
					    "a second host port (only one port may have role "
					    "\"host\"; ports[%d] has it)",
					    host);
			}
			host = i;
		}
		cfg->n_ports = (unsigned)i + 1;
	}
	return 0;
}

static int parse_tables(struct ctx *c, const config_setting_t *t, struct dp_config *cfg)
{
	static const char *const keys[] = {
		"conntrack", "denied_entries", "endpoints", "routes", "vteps", "mbufs", NULL,
	};
	const config_setting_t *s;
	int rc;

	if ((rc = want_group(c, t, "tables")) || (rc = check_keys(c, t, "tables", keys)))
		return rc;
	MEMBER_U(c, t, "tables", "conntrack", 16, 16777216, cfg->ct_size);
	cfg->ct_denied = cfg->ct_size / 8; /* the default follows the conntrack size */
	MEMBER_U(c, t, "tables", "denied_entries", 0, cfg->ct_size, cfg->ct_denied);
	MEMBER_U(c, t, "tables", "endpoints", 1, 1048576, cfg->max_endpoints);
	MEMBER_U(c, t, "tables", "routes", 1, 1048576, cfg->max_routes);
	MEMBER_U(c, t, "tables", "vteps", 1, 65536, cfg->max_vteps);
	if ((s = config_setting_get_member(t, "mbufs"))) {
		long long v;

		if ((rc = as_int(c, s, "tables.mbufs", 0, 16777216, &v)))
			return rc;
		if (v && v < 1024)
			return fail(c, s, "tables.mbufs",
				    "%lld is out of range (allowed: 0 = computed, or "
				    "1024..16777216)",
				    v);
		cfg->mbufs = (uint32_t)v;
	}
	return 0;
}

static int parse_timeouts(struct ctx *c, const config_setting_t *t, struct dp_config *cfg)
{
	static const char *const keys[] = {
		"tcp_syn", "tcp_established", "tcp_fin", "tcp_closed", "udp",
		"udp_stream", "icmp", "other", "denied", NULL,
	};
	struct ct_timeouts *to = &cfg->timeouts;
	uint32_t *dst[] = {
		&to->tcp_syn, &to->tcp_established, &to->tcp_fin, &to->tcp_closed,
		&to->udp, &to->udp_stream, &to->icmp, &to->other, &to->denied,
	};
	int rc;

	if ((rc = want_group(c, t, "timeouts")) || (rc = check_keys(c, t, "timeouts", keys)))
		return rc;
	for (unsigned i = 0; keys[i]; i++)
		MEMBER_U(c, t, "timeouts", keys[i], 1, 604800, *dst[i]);
	return 0;
}

/* Top-level setting `key`, a file path, into buf (size bytes); absent: "". */
static int parse_path(struct ctx *c, const config_setting_t *root, const char *key, char *buf,
		      size_t size)
{
	const config_setting_t *s = config_setting_get_member(root, key);
	const char *str;
	int rc;

	if (!s)
		return 0;
	if ((rc = as_string(c, s, key, &str)))
		return rc;
	if (!str[0] || strlen(str) >= size)
		return fail(c, s, key, "%zu characters (allowed: a path of 1..%zu characters)",
			    strlen(str), size - 1);
	snprintf(buf, size, "%s", str);
	return 0;
}

static int parse_flow_log(struct ctx *c, const config_setting_t *g, struct dp_config *cfg)
{
	static const char *const keys[] = {
		"enabled", "rate", "burst", "sample_allowed", "ring", NULL,
	};
	const config_setting_t *s;
	int rc;

	if ((rc = want_group(c, g, "flow_log")) || (rc = check_keys(c, g, "flow_log", keys)))
		return rc;
	if ((s = config_setting_get_member(g, "enabled")) &&
	    (rc = as_bool(c, s, "flow_log.enabled", &cfg->flow_log.enabled)))
		return rc;
	MEMBER_U(c, g, "flow_log", "rate", 1, 10000000, cfg->flow_log.rate);
	MEMBER_U(c, g, "flow_log", "burst", 1, 10000000, cfg->flow_log.burst);
	MEMBER_U(c, g, "flow_log", "sample_allowed", 0, 1000000000, cfg->flow_log.sample_allowed);
	MEMBER_U(c, g, "flow_log", "ring", 64, 1 << 20, cfg->flow_log.ring);
	return 0;
}

static int parse_endpoints(struct ctx *c, const config_setting_t *list, struct dp_config *cfg)
{
	static const char *const keys[] = { "ip", "port", "mac", "identity", "name", NULL };
	int n, rc;

	if ((rc = want_group_list(c, list, "endpoints")))
		return rc;
	n = config_setting_length(list);
	if (n > DP_MAX_STATIC)
		return fail(c, list, "endpoints", "%d entries (allowed: at most %d)", n,
			    DP_MAX_STATIC);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct nsdp_endpoint *ep = &cfg->endpoints[i];
		const config_setting_t *s;
		char gpath[32], path[64];
		const char *str;
		uint32_t ip;
		int idx;

		snprintf(gpath, sizeof(gpath), "endpoints[%d]", i);
		if ((rc = want_group(c, e, gpath)) || (rc = check_keys(c, e, gpath, keys)))
			return rc;

		if (!(s = config_setting_get_member(e, "ip")))
			return missing(c, e, gpath, "ip", "the pod's IPv4 address");
		snprintf(path, sizeof(path), "%s.ip", gpath);
		if ((rc = as_ipv4(c, s, path, &ip)))
			return rc;
		for (int j = 0; j < i; j++)
			if (!memcmp(cfg->endpoints[j].ip.addr, &ip, 4))
				return fail(c, s, path,
					    "\"%s\" is already the address of endpoints[%d]",
					    config_setting_get_string(s), j);
		ip_fill(&ep->ip, ip);

		if (!(s = config_setting_get_member(e, "port")))
			return missing(c, e, gpath, "port", "the name of a port with role \"pod\"");
		snprintf(path, sizeof(path), "%s.port", gpath);
		if ((rc = as_string(c, s, path, &str)))
			return rc;
		idx = dp_config_port_index(cfg, str);
		if (idx < 0)
			return fail(c, s, path,
				    "no port is named \"%s\" (allowed: the name of a port with "
				    "role \"pod\")",
				    str);
		if (cfg->ports[idx].role != NSDP_ROLE_POD)
			return fail(c, s, path,
				    "port \"%s\" has role \"uplink\" (allowed: a port with role "
				    "\"pod\")",
				    str);
		snprintf(ep->port, sizeof(ep->port), "%s", str);

		if (!(s = config_setting_get_member(e, "mac")))
			return missing(c, e, gpath, "mac",
				       "the pod's unicast MAC such as \"02:00:00:00:01:02\"");
		snprintf(path, sizeof(path), "%s.mac", gpath);
		if ((rc = as_mac(c, s, path, ep->mac)))
			return rc;

		MEMBER_U(c, e, gpath, "identity", 0, UINT32_MAX, ep->identity);
		if ((s = config_setting_get_member(e, "name"))) {
			snprintf(path, sizeof(path), "%s.name", gpath);
			if ((rc = as_name(c, s, path, ep->name, sizeof(ep->name))))
				return rc;
		}
		cfg->n_endpoints = (unsigned)i + 1;
	}
	return 0;
}

static int parse_vteps(struct ctx *c, const config_setting_t *list, struct dp_config *cfg,
		       bool have_vtep)
{
	static const char *const keys[] = { "ip", "mac", "name", NULL };
	int n, rc;

	if ((rc = want_group_list(c, list, "vteps")))
		return rc;
	n = config_setting_length(list);
	if (n > DP_MAX_STATIC)
		return fail(c, list, "vteps", "%d entries (allowed: at most %d)", n,
			    DP_MAX_STATIC);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct nsdp_vtep *vt = &cfg->vteps[i];
		const config_setting_t *s;
		char gpath[32], path[64];
		uint32_t ip;

		snprintf(gpath, sizeof(gpath), "vteps[%d]", i);
		if ((rc = want_group(c, e, gpath)) || (rc = check_keys(c, e, gpath, keys)))
			return rc;

		if (!(s = config_setting_get_member(e, "ip")))
			return missing(c, e, gpath, "ip", "the remote node's VTEP IPv4 address");
		snprintf(path, sizeof(path), "%s.ip", gpath);
		if ((rc = as_ipv4(c, s, path, &ip)))
			return rc;
		if (have_vtep && ip == cfg->vtep_ip)
			return fail(c, s, path,
				    "\"%s\" is this node's own VTEP (node.vtep); list remote "
				    "nodes only",
				    config_setting_get_string(s));
		for (int j = 0; j < i; j++)
			if (!memcmp(cfg->vteps[j].ip.addr, &ip, 4))
				return fail(c, s, path,
					    "\"%s\" is already the address of vteps[%d]",
					    config_setting_get_string(s), j);
		ip_fill(&vt->ip, ip);

		if (!(s = config_setting_get_member(e, "mac")))
			return missing(c, e, gpath, "mac",
				       "the underlay next-hop MAC such as \"02:00:00:00:00:02\"");
		snprintf(path, sizeof(path), "%s.mac", gpath);
		if ((rc = as_mac(c, s, path, vt->mac)))
			return rc;
		if ((s = config_setting_get_member(e, "name"))) {
			snprintf(path, sizeof(path), "%s.name", gpath);
			if ((rc = as_name(c, s, path, vt->name, sizeof(vt->name))))
				return rc;
		}
		cfg->n_vteps = (unsigned)i + 1;
	}
	return 0;
}

/* "A.B.C.D/LEN", LEN 0..32 in decimal without sign or leading zeros. */
static int parse_cidr(const char *str, uint32_t *ip_be, uint8_t *len)
{
	const char *slash = strchr(str, '/');
	char addr[INET_ADDRSTRLEN];
	unsigned l = 0;

	if (!slash || (size_t)(slash - str) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, str, (size_t)(slash - str));
	addr[slash - str] = '\0';
	if (parse_ipv4(addr, ip_be))
		return -EINVAL;
	slash++;
	if (!slash[0] || strlen(slash) > 2 || (slash[0] == '0' && slash[1]))
		return -EINVAL;
	for (const char *q = slash; *q; q++) {
		if (!isdigit((unsigned char)*q))
			return -EINVAL;
		l = l * 10 + (unsigned)(*q - '0');
	}
	if (l > 32)
		return -EINVAL;
	*len = (uint8_t)l;
	return 0;
}

static int parse_routes(struct ctx *c, const config_setting_t *list, struct dp_config *cfg)
{
	static const char *const keys[] = { "prefix", "local", "vtep", NULL };
	int n, rc;

	if ((rc = want_group_list(c, list, "routes")))
		return rc;
	n = config_setting_length(list);
	if (n > DP_MAX_STATIC)
		return fail(c, list, "routes", "%d entries (allowed: at most %d)", n,
			    DP_MAX_STATIC);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct nsdp_route *rt = &cfg->routes[i];
		const config_setting_t *s, *vs;
		char gpath[32], path[64];
		const char *str;
		bool local = false;
		uint32_t ip, mask;
		uint8_t len;

		snprintf(gpath, sizeof(gpath), "routes[%d]", i);
		if ((rc = want_group(c, e, gpath)) || (rc = check_keys(c, e, gpath, keys)))
			return rc;

		if (!(s = config_setting_get_member(e, "prefix")))
			return missing(c, e, gpath, "prefix",
				       "an IPv4 CIDR such as \"10.244.1.0/24\"");
		snprintf(path, sizeof(path), "%s.prefix", gpath);
		if ((rc = as_string(c, s, path, &str)))
			return rc;
		if (parse_cidr(str, &ip, &len))
			return fail(c, s, path,
				    "\"%s\" is not an IPv4 prefix (allowed: ADDRESS/LENGTH "
				    "with LENGTH 0..32, such as \"10.244.1.0/24\")",
				    str);
		mask = len ? htonl(~0u << (32 - len)) : 0;
		if (ip & ~mask)
			return fail(c, s, path,
				    "\"%s\" has host bits set (the address must end where "
				    "the /%u prefix ends)",
				    str, len);
		for (int j = 0; j < i; j++)
			if (cfg->routes[j].prefix_len == len &&
			    !memcmp(cfg->routes[j].prefix.addr, &ip, 4))
				return fail(c, s, path, "\"%s\" is already routed by routes[%d]",
					    str, j);
		ip_fill(&rt->prefix, ip);
		rt->prefix_len = len;

		if ((s = config_setting_get_member(e, "local"))) {
			snprintf(path, sizeof(path), "%s.local", gpath);
			if ((rc = as_bool(c, s, path, &local)))
				return rc;
		}
		vs = config_setting_get_member(e, "vtep");
		if (local && vs) {
			snprintf(path, sizeof(path), "%s.vtep", gpath);
			return fail(c, vs, path,
				    "a route is either local or via a VTEP (set exactly one of "
				    "local = true or vtep)");
		}
		if (!local && !vs) {
			snprintf(path, sizeof(path), "%s", gpath);
			return fail(c, e, path,
				    "neither local = true nor vtep is set (set exactly one of "
				    "local = true or vtep)");
		}
		if (vs) {
			bool found = false;

			snprintf(path, sizeof(path), "%s.vtep", gpath);
			if ((rc = as_string(c, vs, path, &str)))
				return rc;
			if (parse_ipv4(str, &ip))
				return fail(c, vs, path,
					    "\"%s\" is not an IPv4 address (allowed: the ip of "
					    "an entry in vteps)",
					    str);
			for (unsigned j = 0; j < cfg->n_vteps && !found; j++)
				found = !memcmp(cfg->vteps[j].ip.addr, &ip, 4);
			if (!found)
				return fail(c, vs, path,
					    "\"%s\" is not listed in vteps (allowed: the ip of "
					    "an entry in vteps)",
					    str);
			ip_fill(&rt->vtep, ip);
		}
		cfg->n_routes = (unsigned)i + 1;
	}
	return 0;
}

/* ---- the document ------------------------------------------------------- */

static void set_defaults(struct dp_config *cfg)
{
	static const uint8_t gw_mac[6] = { 0xee, 0xee, 0xee, 0xee, 0xee, 0xee };
	char host[256];

	if (gethostname(host, sizeof(host)) || !host[0])
		snprintf(host, sizeof(host), "nsdp");
	host[sizeof(host) - 1] = '\0';
	snprintf(cfg->node_name, sizeof(cfg->node_name), "%.*s", NSDP_NAME_LEN - 1, host);
	cfg->overlay = NSDP_OVERLAY_VXLAN;
	cfg->vni = 1;
	cfg->overlay_port = 4789;
	cfg->mtu = 1500;
	cfg->gateway_ip = htonl(0xa9fe0101u); /* 169.254.1.1 */
	memcpy(cfg->gateway_mac, gw_mac, 6);
	cfg->n_workers = 1;
	cfg->worker_lcores[0] = 1;
	cfg->main_lcore = 0;
	cfg->burst = 32;
	cfg->idle_sleep_us = 0;
	cfg->ct_size = 65536;
	cfg->ct_denied = 65536 / 8;
	cfg->max_endpoints = 4096;
	cfg->max_routes = 1024;
	cfg->max_vteps = 256;
	cfg->mbufs = 0;
	cfg->timeouts = (struct ct_timeouts){
		.tcp_syn = 60,
		.tcp_established = 21600,
		.tcp_fin = 30,
		.tcp_closed = 10,
		.udp = 30,
		.udp_stream = 120,
		.icmp = 30,
		.other = 60,
		.denied = 5,
	};
	cfg->flow_log.enabled = true;
	cfg->flow_log.rate = 1000;
	cfg->flow_log.burst = 2000;
	cfg->flow_log.sample_allowed = 100;
	cfg->flow_log.ring = 8192;
	cfg->rule_counters = true;
	snprintf(cfg->ctl_socket, sizeof(cfg->ctl_socket), "/run/nsdp/dataplane.sock");
}

/* A static table must fit the table it is loaded into. */
static int check_capacity(struct ctx *c, const config_setting_t *root, const char *list,
			  unsigned n, const char *limit, uint32_t max)
{
	if (n <= max)
		return 0;
	return fail(c, config_setting_get_member(root, list), list,
		    "%u entries do not fit tables.%s = %u (raise tables.%s)", n, limit, max,
		    limit);
}

static int parse_root(struct ctx *c, const config_setting_t *root, struct dp_config *cfg)
{
	const config_setting_t *s, *uplink_role = NULL;
	bool have_vtep = false;
	int rc;

	if ((rc = check_keys(c, root, "", root_keys)))
		return rc;
	if ((s = config_setting_get_member(root, "node")) &&
	    (rc = parse_node(c, s, cfg, &have_vtep)))
		return rc;
	if ((s = config_setting_get_member(root, "eal")) && (rc = parse_eal(c, s, cfg)))
		return rc;
	if ((s = config_setting_get_member(root, "workers")) && (rc = parse_workers(c, s, cfg)))
		return rc;
	MEMBER_U(c, root, "", "main_lcore", 0, MAX_LCORE_ID, cfg->main_lcore);
	for (unsigned i = 0; i < cfg->n_workers; i++) {
		const config_setting_t *m = config_setting_get_member(root, "main_lcore");
		char path[32];

		if (cfg->worker_lcores[i] != cfg->main_lcore)
			continue;
		if (m)
			return fail(c, m, "main_lcore",
				    "lcore %u is also a worker (workers[%u]); the main lcore "
				    "runs the control thread and must not be in workers",
				    cfg->main_lcore, i);
		snprintf(path, sizeof(path), "workers[%u]", i);
		s = config_setting_get_member(root, "workers");
		return fail(c, s ? config_setting_get_elem(s, i) : NULL, path,
			    "lcore %u is the main lcore (main_lcore, default 0); pick another "
			    "lcore or set main_lcore",
			    cfg->main_lcore);
	}
	MEMBER_U(c, root, "", "burst", 32, 256, cfg->burst);
	MEMBER_U(c, root, "", "idle_sleep_us", 0, 10000, cfg->idle_sleep_us);

	if (!(s = config_setting_get_member(root, "ports")))
		return missing(c, root, "", "ports", "a list of 1..32 port groups");
	if ((rc = parse_ports(c, s, cfg, &uplink_role)))
		return rc;
	if (uplink_role && !have_vtep) {
		const config_setting_t *node = config_setting_get_member(root, "node");

		return fail(c, node ? node : uplink_role, "node.vtep",
			    "required setting is missing: a port has role \"uplink\" "
			    "(allowed: this node's underlay IPv4 address, such as "
			    "\"192.168.100.1\")");
	}

	if ((s = config_setting_get_member(root, "tables")) && (rc = parse_tables(c, s, cfg)))
		return rc;
	if ((s = config_setting_get_member(root, "timeouts")) &&
	    (rc = parse_timeouts(c, s, cfg)))
		return rc;
	if ((s = config_setting_get_member(root, "flow_log")) && (rc = parse_flow_log(c, s, cfg)))
		return rc;
	if ((s = config_setting_get_member(root, "rule_counters")) &&
	    (rc = as_bool(c, s, "rule_counters", &cfg->rule_counters)))
		return rc;
	if ((s = config_setting_get_member(root, "control_socket"))) {
		const char *str;

		if ((rc = as_string(c, s, "control_socket", &str)))
			return rc;
		if (!str[0] || strlen(str) >= sizeof(cfg->ctl_socket))
			return fail(c, s, "control_socket",
				    "%zu characters (allowed: a Unix socket path of 1..%zu "
				    "characters)",
				    strlen(str), sizeof(cfg->ctl_socket) - 1);
		snprintf(cfg->ctl_socket, sizeof(cfg->ctl_socket), "%s", str);
	}

	if ((rc = parse_path(c, root, "policy_file", cfg->policy_file,
			     sizeof(cfg->policy_file))) ||
	    (rc = parse_path(c, root, "state_file", cfg->state_file, sizeof(cfg->state_file))))
		return rc;

	if ((s = config_setting_get_member(root, "vteps")) &&
	    (rc = parse_vteps(c, s, cfg, have_vtep)))
		return rc;
	if ((s = config_setting_get_member(root, "endpoints")) &&
	    (rc = parse_endpoints(c, s, cfg)))
		return rc;
	if ((s = config_setting_get_member(root, "routes")) && (rc = parse_routes(c, s, cfg)))
		return rc;
	if ((rc = check_capacity(c, root, "endpoints", cfg->n_endpoints, "endpoints",
				 cfg->max_endpoints)) ||
	    (rc = check_capacity(c, root, "routes", cfg->n_routes, "routes", cfg->max_routes)) ||
	    (rc = check_capacity(c, root, "vteps", cfg->n_vteps, "vteps", cfg->max_vteps)))
		return rc;
	return 0;
}

static bool ident_start(char ch)
{
	return isalpha((unsigned char)ch) || ch == '*';
}

static bool ident_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '*' || ch == '_' || ch == '-';
}

/*
 * libconfig 1.5 stores an integer literal that does not fit in 32 bits as a
 * silently truncated int (4294967296 reads as 0) unless it carries the L
 * suffix. Copy the text, adding the suffix to such literals, so the range
 * checks see the real value. Only characters are inserted, never newlines,
 * so line numbers are unchanged. Returns a malloc'ed copy or NULL (err set).
 */
static char *widen_int_literals(struct ctx *c, const char *text, int *rc)
{
	size_t len = strlen(text);
	char *out = malloc(len + len / 8 + 16); /* an insertion needs >= 10 digits */
	const char *p = text;
	unsigned line = 1;
	size_t o = 0;

	if (!out) {
		*rc = -ENOMEM;
		fail_line(c, 0, "out of memory");
		return NULL;
	}
	while (*p) {
		const char *start = p;

		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
			}
			if (*p)
				p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				;
			p += *p ? 2 : 0;
		} else if (ident_start(*p)) {
			while (ident_char(*p))
				p++;
		} else if (isdigit((unsigned char)*p)) {
			unsigned long long v = 0;
			bool over = false, hex = (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
						  isxdigit((unsigned char)p[2]));

			if (hex) {
				for (p += 2; isxdigit((unsigned char)*p); p++) {
					over |= v >> 60 != 0;
					v = v << 4 | (unsigned)hexval(*p);
				}
			} else {
				for (; isdigit((unsigned char)*p); p++) {
					over |= v > (ULLONG_MAX - 9) / 10;
					v = v * 10 + (unsigned)(*p - '0');
				}
				if (*p == '.' || ((*p == 'e' || *p == 'E') &&
						  (isdigit((unsigned char)p[1]) ||
						   ((p[1] == '-' || p[1] == '+') &&
						    isdigit((unsigned char)p[2]))))) {
					/* a float: copy it unchanged */
					for (p++; isalnum((unsigned char)*p) || *p == '.' ||
						  ((*p == '-' || *p == '+') &&
						   (p[-1] == 'e' || p[-1] == 'E'));
					     p++)
						;
					memcpy(out + o, start, (size_t)(p - start));
					o += (size_t)(p - start);
					continue;
				}
			}
			if (over || v > (unsigned long long)LLONG_MAX) {
				free(out);
				*rc = -EINVAL;
				fail_line(c, line,
					  "integer %.*s is too large (allowed: at most %lld)",
					  (int)(p - start), start, LLONG_MAX);
				return NULL;
			}
			memcpy(out + o, start, (size_t)(p - start));
			o += (size_t)(p - start);
			if (v > INT_MAX && *p != 'L')
				out[o++] = 'L';
			continue;
		} else {
			p++;
		}
		for (const char *q = start; q < p; q++)
			line += *q == '\n';
		memcpy(out + o, start, (size_t)(p - start));
		o += (size_t)(p - start);
	}
	out[o] = '\0';
	return out;
}

static int parse_text(const char *text, const char *source, const char *incdir,
		      struct dp_config *cfg, char *err, size_t errlen)
{
	struct ctx c = {
		.source = source ? source : EMBEDDED,
		.incdir = incdir,
		.err = err,
		.errlen = errlen,
	};
	config_t lc;
	char *wide;
	int rc = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg)
		return fail_line(&c, 0, "no configuration structure");
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->source, sizeof(cfg->source), "%s", c.source);
	set_defaults(cfg);
	if (!text)
		return fail_line(&c, 0, "no configuration text");

	wide = widen_int_literals(&c, text, &rc);
	if (!wide)
		return rc;
	config_init(&lc);
	if (incdir)
		config_set_include_dir(&lc, incdir);
	if (config_read_string(&lc, wide) != CONFIG_TRUE) {
		const char *what = config_error_text(&lc);
		char buf[512];

		c.source = origin(&c, config_error_file(&lc), buf, sizeof(buf));
		rc = fail_line(&c, (unsigned)config_error_line(&lc), "%s",
			       what ? what : "syntax error");
	} else {
		rc = parse_root(&c, config_root_setting(&lc), cfg);
	}
	config_destroy(&lc);
	free(wide);
	if (rc)
		dp_config_release(cfg);
	return rc;
}

int dp_config_parse(const char *text, const char *source, struct dp_config *cfg, char *err,
		    size_t errlen)
{
	return parse_text(text, source, NULL, cfg, err, errlen);
}

int dp_config_load(const char *file, struct dp_config *cfg, char *err, size_t errlen)
{
	struct ctx c = { .source = file, .err = err, .errlen = errlen };
	char *text = NULL, *dir = NULL, *slash;
	struct stat st;
	size_t len;
	FILE *f;
	int rc;

	if (!file)
		return parse_text(dp_default_config, EMBEDDED, NULL, cfg, err, errlen);
	if (err && errlen)
		err[0] = '\0';
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));

	f = fopen(file, "r");
	if (!f) {
		rc = -errno;
		fail_line(&c, 0, "cannot read: %s", strerror(-rc));
		return rc;
	}
	if (fstat(fileno(f), &st)) {
		rc = -errno;
		fail_line(&c, 0, "cannot read: %s", strerror(-rc));
		fclose(f);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_CONFIG_BYTES) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		if (rc == -EFBIG)
			fail_line(&c, 0, "cannot read: larger than %u bytes", MAX_CONFIG_BYTES);
		else
			fail_line(&c, 0, "cannot read: not a regular file");
		fclose(f);
		return rc;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		fclose(f);
		fail_line(&c, 0, "out of memory");
		return -ENOMEM;
	}
	len = fread(text, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		rc = errno ? -errno : -EIO;
		fail_line(&c, 0, "cannot read: %s", strerror(-rc));
		fclose(f);
		free(text);
		return rc;
	}
	fclose(f);
	text[len] = '\0';
	if (memchr(text, '\0', len)) {
		free(text);
		return fail_line(&c, 0, "not a text file (it contains a NUL byte)");
	}

	/* @include paths are relative to the including file, like #include. */
	dir = strdup(file);
	if (!dir) {
		free(text);
		fail_line(&c, 0, "out of memory");
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	rc = parse_text(text, file, slash ? dir : NULL, cfg, err, errlen);
	free(dir);
	free(text);
	return rc;
}

void dp_config_release(struct dp_config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < cfg->eal_argc && i < DP_MAX_EAL_ARGS; i++) {
		free(cfg->eal_argv[i]);
		cfg->eal_argv[i] = NULL;
	}
	cfg->eal_argc = 0;
}

int dp_config_port_index(const struct dp_config *cfg, const char *name)
{
	if (!cfg || !name)
		return -1;
	for (unsigned i = 0; i < cfg->n_ports && i < DP_MAX_PORTS; i++)
		if (!strcmp(cfg->ports[i].name, name))
			return (int)i;
	return -1;
}
