/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-cni: the CNI plugin (spec 1.0.0) that attaches a pod to the node's
 * nsdp dataplane.
 *
 *   ADD    veth pair: CNI_IFNAME in CNI_NETNS, host end "nsdp" + the first
 *          11 hex characters of CNI_CONTAINERID in the caller's namespace;
 *          addresses from the IPAM plugin (host-local), set as /32 with a
 *          link route to the gateway (default 169.254.1.1, answered by the
 *          dataplane's ARP responder) and the default route through it;
 *          offloads off on both ends (af_packet copies frames as the kernel
 *          hands them over: no TSO/GSO, no partial checksums); then
 *          PORT_ADD (net_af_packet on the host end) + EP_ADD + COMMIT on
 *          the dataplane, waiting for the ACK (the pod is reachable when
 *          ADD returns).
 *          "driver": "tap" instead: CNI_IFNAME is a persistent multi-queue
 *          tap with the virtio-net header (no veth, no host end), its
 *          offloads left on, and the port is "vnet,netns=CNI_NETNS,
 *          iface=CNI_IFNAME" (dataplane/vnet.h); DEL deletes the tap.
 *   DEL    EP_DEL + PORT_DEL + COMMIT, delete the host veth, IPAM DEL. Every
 *          missing piece is fine: DEL is idempotent.
 *   CHECK  the interface and its address exist in the netns, the dataplane
 *          has the port and the endpoint on it.
 *   VERSION
 *
 * The dataplane commits at its effective generation (equal generations are
 * accepted), so the plugin never moves the generation numbering that the
 * agent owns.
 *
 * Errors: {"cniVersion","code","msg","details"} on stdout, exit status 1.
 * Codes (CNI spec): 1 incompatible version, 4 invalid environment
 * variables, 6 decoding failure, 7 invalid network config, 11 try again
 * later (the dataplane cannot be reached), 999 anything else.
 *
 * Single-threaded: namespace switches (setns) apply to the whole process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <net/route.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "ctlclient.h"

#define CNI_VERSION "1.0.0"
#define ERR_VERSION 1
#define ERR_ENV 4
#define ERR_DECODE 6
#define ERR_CONFIG 7
#define ERR_RETRY 11
#define ERR_PLUGIN 999

struct conf {
	json_t *root; /* the network configuration as read */
	const char *raw;
	size_t raw_len;
	const char *cni_version, *name, *socket, *driver;
	bool tap; /* driver "tap": the pod's interface is a tap, no veth */
	unsigned mtu;
	struct in_addr gw;
	int timeout_ms;
};

struct env {
	const char *command, *container_id, *netns, *ifname, *path;
	char pod_ns[256], pod_name[256];
	char host_if[IFNAMSIZ];
};

static const char *cni_version = CNI_VERSION;

static int fail(int code, const char *details, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Print the CNI error object on stdout; returns the exit status (1). */
static int fail(int code, const char *details, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:s, s:i, s:s, s:s}", "cniVersion", cni_version, "code", code,
			      "msg", msg, "details", details ? details : "");
	json_dumpf(e, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(e);
	fprintf(stderr, "nsdp-cni: %s%s%s\n", msg, details && *details ? ": " : "",
		details ? details : "");
	return 1;
}

/* ---- netlink and ioctls -------------------------------------------------- */

struct nlreq {
	struct nlmsghdr h;
	char buf[4096];
};

/* The whole request, so the compiler sees the room behind the header. */
#define NLH(r) ((struct nlmsghdr *)(void *)(r))

static struct rtattr *nl_attr(struct nlmsghdr *h, unsigned short type, const void *data,
			      size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

static void nl_nest_end(struct nlmsghdr *h, struct rtattr *a)
{
	a->rta_len = (unsigned short)((char *)h + h->nlmsg_len - (char *)a);
}

/* Send one request and wait for its ACK. 0 or -errno. */
static int nl_talk(struct nlmsghdr *h)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = 1;
	int rc = 0;
	if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	char buf[8192];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, (size_t)n);
	     r = NLMSG_NEXT(r, n)) {
		if (r->nlmsg_type == NLMSG_ERROR) {
			rc = ((struct nlmsgerr *)NLMSG_DATA(r))->error;
			break;
		}
	}
out:
	close(fd);
	return rc;
}

/* veth pair: `name` here, `peer` moved into the namespace `peer_ns_fd`. */
static int veth_create(const char *name, const char *peer, int peer_ns_fd, unsigned mtu)
{
	struct nlreq r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.h.nlmsg_type = RTM_NEWLINK;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	nl_attr(NLH(&r), IFLA_IFNAME, name, strlen(name) + 1);
	if (mtu)
		nl_attr(NLH(&r), IFLA_MTU, &mtu, sizeof(mtu));
	struct rtattr *li = nl_attr(NLH(&r), IFLA_LINKINFO, NULL, 0);
	nl_attr(NLH(&r), IFLA_INFO_KIND, "veth", 4);
	struct rtattr *data = nl_attr(NLH(&r), IFLA_INFO_DATA, NULL, 0);
	struct rtattr *pi = nl_attr(NLH(&r), VETH_INFO_PEER, NULL, 0);
	r.h.nlmsg_len += sizeof(struct ifinfomsg);
	nl_attr(NLH(&r), IFLA_IFNAME, peer, strlen(peer) + 1);
	if (mtu)
		nl_attr(NLH(&r), IFLA_MTU, &mtu, sizeof(mtu));
	nl_attr(NLH(&r), IFLA_NET_NS_FD, &peer_ns_fd, sizeof(peer_ns_fd));
	nl_nest_end(NLH(&r), pi);
	nl_nest_end(NLH(&r), data);
	nl_nest_end(NLH(&r), li);
	return nl_talk(NLH(&r));
}

static int link_del(const char *name)
{
	unsigned idx = if_nametoindex(name);
	if (!idx)
		return -ENODEV;
	struct nlreq r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.h.nlmsg_type = RTM_DELLINK;
	struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
	ifi->ifi_index = (int)idx;
	return nl_talk(NLH(&r));
}

/*
 * The pod's interface for driver "tap": a persistent multi-queue tap with
 * the virtio-net header, in the current namespace, that the dataplane
 * attaches its queues to (dataplane/vnet.h); its largest GSO packet is
 * kept below the dataplane's 65000-byte frames and 128 segments.
 */
static int tap_create(const char *name, unsigned mtu)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	int rc = ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETPERSIST, 1) ? -errno : 0;
	close(fd);
	if (rc)
		return rc;
	struct nlreq r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.h.nlmsg_type = RTM_NEWLINK;
	struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
	ifi->ifi_index = (int)if_nametoindex(name);
	/* dataplane/vnet.h DP_VNET_MAX_FRAME and gso.h GSO_MAX_SEGS */
	uint32_t gso = 64000, segs = 128;
	nl_attr(NLH(&r), IFLA_MTU, &mtu, sizeof(mtu));
	nl_attr(NLH(&r), IFLA_GSO_MAX_SIZE, &gso, sizeof(gso));
	nl_attr(NLH(&r), IFLA_GSO_MAX_SEGS, &segs, sizeof(segs));
	rc = nl_talk(NLH(&r));
	if (rc)
		link_del(name);
	return rc;
}

static int addr_add(unsigned idx, struct in_addr a, unsigned plen)
{
	struct nlreq r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r.h.nlmsg_type = RTM_NEWADDR;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct ifaddrmsg *ifa = NLMSG_DATA(&r.h);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)plen;
	ifa->ifa_index = idx;
	nl_attr(NLH(&r), IFA_LOCAL, &a, 4);
	nl_attr(NLH(&r), IFA_ADDRESS, &a, 4);
	return nl_talk(NLH(&r));
}

/* dst/plen via gw (gw.s_addr 0: a link route) out of idx, src preferred. */
static int route_add(unsigned idx, struct in_addr dst, unsigned plen, struct in_addr gw,
		     struct in_addr src)
{
	struct nlreq r;
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	r.h.nlmsg_type = RTM_NEWROUTE;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct rtmsg *rt = NLMSG_DATA(&r.h);
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = (unsigned char)plen;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = gw.s_addr ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rt->rtm_type = RTN_UNICAST;
	if (plen)
		nl_attr(NLH(&r), RTA_DST, &dst, 4);
	if (gw.s_addr)
		nl_attr(NLH(&r), RTA_GATEWAY, &gw, 4);
	if (src.s_addr)
		nl_attr(NLH(&r), RTA_PREFSRC, &src, 4);
	nl_attr(NLH(&r), RTA_OIF, &idx, 4);
	return nl_talk(NLH(&r));
}

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	int rc = ioctl(fd, req, ifr) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int link_up(const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int rc = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
	if (rc)
		return rc;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(name, SIOCSIFFLAGS, &ifr);
}

static int link_mac(const char *name, uint8_t mac[6])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int rc = ifreq_ioctl(name, SIOCGIFHWADDR, &ifr);
	if (rc == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return rc;
}

static int link_addr(const char *name, struct in_addr *a)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int rc = ifreq_ioctl(name, SIOCGIFADDR, &ifr);
	if (rc == 0)
		*a = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
	return rc;
}

/* Checksum and segmentation offloads off (SIOCETHTOOL, legacy commands). */
static void offloads_off(const char *name)
{
	static const uint32_t cmds[] = { ETHTOOL_STXCSUM, ETHTOOL_SRXCSUM, ETHTOOL_STSO,
					 ETHTOOL_SGSO, ETHTOOL_SGRO, ETHTOOL_SSG };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct ethtool_value ev = { .cmd = cmds[i], .data = 0 };
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_data = (char *)&ev;
		int rc = ifreq_ioctl(name, SIOCETHTOOL, &ifr);
		if (rc && rc != -EOPNOTSUPP)
			fprintf(stderr, "nsdp-cni: %s: ethtool command %#x: %s\n", name, cmds[i],
				strerror(-rc));
	}
}

/* ---- namespaces ------------------------------------------------------------ */

static int host_ns = -1;

static int enter_ns(int fd)
{
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

static int open_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ---- IPAM ------------------------------------------------------------------ */

/*
 * Run the IPAM plugin `type` from CNI_PATH with our environment (CNI_COMMAND
 * replaced by `command`) and the network configuration on stdin. *out gets
 * its stdout (malloc'ed). Returns its exit status, or -errno.
 */
static int ipam_exec(const struct conf *c, const struct env *e, const char *type,
		     const char *command, char **out)
{
	char path[4096] = "";
	const char *p = e->path;
	while (p && *p) {
		size_t n = strcspn(p, ":");
		snprintf(path, sizeof(path), "%.*s/%s", (int)n, p, type);
		if (access(path, X_OK) == 0)
			break;
		path[0] = '\0';
		p += n + (p[n] == ':');
	}
	if (!path[0])
		return -ENOENT;
	int in[2], outp[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		setenv("CNI_COMMAND", command, 1);
		execl(path, type, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	/* host-local reads all of stdin before answering: no deadlock. */
	size_t off = 0;
	while (off < c->raw_len) {
		ssize_t n = write(in[1], c->raw + off, c->raw_len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(in[1]);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	for (;;) {
		if (len + 1024 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t n = read(outp[0], buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(outp[0]);
	int st;
	waitpid(pid, &st, 0);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- configuration ---------------------------------------------------------- */

static int parse_conf(const char *raw, size_t len, struct conf *c)
{
	json_error_t je;
	memset(c, 0, sizeof(*c));
	c->raw = raw;
	c->raw_len = len;
	c->root = json_loadb(raw, len, 0, &je);
	if (!c->root)
		return fail(ERR_DECODE, je.text, "network configuration on stdin: line %d: %s",
			    je.line, je.text);
	if (!json_is_object(c->root))
		return fail(ERR_DECODE, NULL, "network configuration: not a JSON object");
	json_t *v = json_object_get(c->root, "cniVersion");
	if (!json_is_string(v))
		return fail(ERR_CONFIG, NULL, "network configuration: cniVersion: missing");
	c->cni_version = json_string_value(v);
	cni_version = c->cni_version;
	if (strcmp(c->cni_version, "1.0.0") != 0)
		return fail(ERR_VERSION, "supported: 1.0.0",
			    "network configuration: cniVersion %s is not supported",
			    c->cni_version);
	v = json_object_get(c->root, "name");
	if (!json_is_string(v) || !json_string_length(v))
		return fail(ERR_CONFIG, NULL, "network configuration: name: missing");
	c->name = json_string_value(v);
	v = json_object_get(c->root, "type");
	if (!json_is_string(v) || strcmp(json_string_value(v), "nsdp"))
		return fail(ERR_CONFIG, NULL, "network configuration: type: expected \"nsdp\"");
	v = json_object_get(c->root, "socket");
	c->socket = json_is_string(v) ? json_string_value(v) : NSDP_DEFAULT_SOCKET;
	if (v && !json_is_string(v))
		return fail(ERR_CONFIG, NULL, "network configuration: socket: expected a path");
	v = json_object_get(c->root, "driver");
	c->driver = json_is_string(v) ? json_string_value(v) : "af_packet";
	if (strcmp(c->driver, "af_packet") && strcmp(c->driver, "af_xdp") &&
	    strcmp(c->driver, "tap"))
		return fail(ERR_CONFIG, NULL,
			    "network configuration: driver: \"%s\" (allowed: af_packet, af_xdp, tap)",
			    c->driver);
	c->tap = !strcmp(c->driver, "tap");
	v = json_object_get(c->root, "mtu");
	c->mtu = 1450;
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 576 ||
		    json_integer_value(v) > 9000)
			return fail(ERR_CONFIG, NULL,
				    "network configuration: mtu: expected 576..9000");
		c->mtu = (unsigned)json_integer_value(v);
	}
	v = json_object_get(c->root, "gateway");
	const char *gw = json_is_string(v) ? json_string_value(v) : "169.254.1.1";
	if (inet_pton(AF_INET, gw, &c->gw) != 1)
		return fail(ERR_CONFIG, NULL, "network configuration: gateway: \"%s\" is not an "
			    "IPv4 address", gw);
	v = json_object_get(c->root, "timeoutMs");
	c->timeout_ms = json_is_integer(v) ? (int)json_integer_value(v) : 10000;
	v = json_object_get(c->root, "ipam");
	if (!json_is_object(v) || !json_is_string(json_object_get(v, "type")))
		return fail(ERR_CONFIG, NULL, "network configuration: ipam.type: missing");
	return 0;
}

static int parse_env(struct env *e, bool need_netns)
{
	memset(e, 0, sizeof(*e));
	e->command = getenv("CNI_COMMAND");
	e->container_id = getenv("CNI_CONTAINERID");
	e->netns = getenv("CNI_NETNS");
	e->ifname = getenv("CNI_IFNAME");
	e->path = getenv("CNI_PATH");
	if (!e->container_id || !*e->container_id)
		return fail(ERR_ENV, NULL, "CNI_CONTAINERID is not set");
	if (!e->ifname || !*e->ifname || strlen(e->ifname) >= IFNAMSIZ)
		return fail(ERR_ENV, NULL, "CNI_IFNAME is not set or longer than %d", IFNAMSIZ - 1);
	if (need_netns && (!e->netns || !*e->netns))
		return fail(ERR_ENV, NULL, "CNI_NETNS is not set");
	if (!e->path || !*e->path)
		return fail(ERR_ENV, NULL, "CNI_PATH is not set");
	/* Host end and dataplane port name: "nsdp" + 11 hex of the id. */
	size_t k = 0;
	char hex[12] = "";
	for (const char *p = e->container_id; *p && k < 11; p++)
		if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		    (*p >= 'A' && *p <= 'F'))
			hex[k++] = (char)(*p | 0x20);
	if (k < 4)
		return fail(ERR_ENV, e->container_id,
			    "CNI_CONTAINERID has fewer than 4 hexadecimal characters");
	hex[k] = '\0';
	snprintf(e->host_if, sizeof(e->host_if), "nsdp%s", hex);
	snprintf(e->pod_ns, sizeof(e->pod_ns), "default");
	snprintf(e->pod_name, sizeof(e->pod_name), "%s", e->container_id);
	const char *args = getenv("CNI_ARGS");
	if (args) {
		/* "K1=V1;K2=V2" */
		char buf[1024];
		snprintf(buf, sizeof(buf), "%s", args);
		char *save = NULL;
		for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(kv, '=');
			if (!eq)
				continue;
			*eq = '\0';
			if (!strcmp(kv, "K8S_POD_NAMESPACE"))
				snprintf(e->pod_ns, sizeof(e->pod_ns), "%s", eq + 1);
			else if (!strcmp(kv, "K8S_POD_NAME"))
				snprintf(e->pod_name, sizeof(e->pod_name), "%s", eq + 1);
		}
	}
	return 0;
}

/* ---- dataplane ------------------------------------------------------------------ */

static int dp_connect(const struct conf *c, struct nsdp_client *cl)
{
	int rc = nsdp_client_connect(cl, c->socket, c->timeout_ms);
	if (rc < 0)
		return fail(ERR_RETRY, nsdp_client_error(cl),
			    "the nsdp dataplane at %s cannot be reached", c->socket);
	return 0;
}

/* Commit at the effective generation (never moving it); once more if it
 * moved meanwhile. */
static int dp_commit(struct nsdp_client *cl, struct nsdp_ack *ack)
{
	uint64_t gen = cl->server.generation;
	for (int i = 0; i < 2; i++) {
		int rc = nsdp_client_commit(cl, gen, ack);
		if (rc < 0)
			return rc;
		if (ack->status != -ESTALE)
			return 0;
		gen = ack->generation;
	}
	return 0;
}

static int dp_get(struct nsdp_client *cl, uint16_t type, void **buf, uint32_t *len)
{
	return nsdp_client_request(cl, type, NULL, 0, buf, len);
}

/* Delete what the dataplane has of this pod: endpoints on the port, the port. */
static int dp_detach(struct nsdp_client *cl, const char *port, char *err, size_t errlen)
{
	void *buf = NULL;
	uint32_t len = 0;
	unsigned n = 0;
	int rc = dp_get(cl, NSDP_MSG_GET_ENDPOINTS, &buf, &len);
	if (rc < 0)
		goto fail;
	const struct nsdp_endpoint *eps = buf;
	for (uint32_t i = 0; i < len / sizeof(*eps); i++)
		if (!strncmp(eps[i].port, port, NSDP_PORT_NAME_LEN)) {
			if ((rc = nsdp_client_ep_del(cl, &eps[i].ip)) < 0)
				goto fail;
			n++;
		}
	free(buf);
	buf = NULL;
	if ((rc = dp_get(cl, NSDP_MSG_GET_PORTS, &buf, &len)) < 0)
		goto fail;
	const struct nsdp_port_info *pi = buf;
	for (uint32_t i = 0; i < len / sizeof(*pi); i++)
		if (pi[i].role && !strncmp(pi[i].name, port, NSDP_PORT_NAME_LEN)) {
			if ((rc = nsdp_client_port_del(cl, port)) < 0)
				goto fail;
			n++;
		}
	free(buf);
	if (!n)
		return 0;
	struct nsdp_ack ack;
	if ((rc = dp_commit(cl, &ack)) < 0)
		goto fail2;
	if (ack.rejected) {
		snprintf(err, errlen, "%s", ack.error);
		return -EINVAL;
	}
	return 0;
fail:
	free(buf);
fail2:
	snprintf(err, errlen, "%s", nsdp_client_error(cl));
	return rc;
}

/* ---- commands ------------------------------------------------------------------- */

static const char *first_address(json_t *result, struct in_addr *a, unsigned *plen)
{
	json_t *ips = json_object_get(result, "ips");
	json_t *ip0 = json_is_array(ips) ? json_array_get(ips, 0) : NULL;
	const char *s = json_string_value(json_object_get(ip0, "address"));
	if (!s)
		return NULL;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, a) != 1)
		return NULL;
	*plen = slash ? (unsigned)atoi(slash + 1) : 32;
	return s;
}

static void ipam_release(const struct conf *c, const struct env *e)
{
	char *out = NULL;
	const char *type = json_string_value(json_object_get(json_object_get(c->root, "ipam"), "type"));
	int st = ipam_exec(c, e, type, "DEL", &out);
	if (st != 0)
		fprintf(stderr, "nsdp-cni: IPAM %s DEL: status %d: %s\n", type, st, out ? out : "");
	free(out);
}

/* Remove the interface ADD made: the veth (deleting the host end takes the
 * pair) or the pod's tap. -ENODEV when there is none. */
static int link_undo(const struct conf *c, const struct env *e)
{
	if (!c->tap)
		return link_del(e->host_if);
	int ns = open_netns(e->netns);
	if (ns < 0)
		return -ENODEV; /* the netns is gone, and the tap with it */
	int rc = enter_ns(ns);
	if (!rc) {
		rc = link_del(e->ifname);
		enter_ns(host_ns);
	}
	close(ns);
	return rc;
}

static int cmd_add(const struct conf *c, const struct env *e)
{
	struct nsdp_client cl;
	char err[256];
	int rc;

	/* The dataplane first: nothing to undo when it is down. */
	if ((rc = dp_connect(c, &cl)))
		return rc;
	void *ibuf = NULL;
	uint32_t ilen = 0;
	unsigned workers = 1;
	if (dp_get(&cl, NSDP_MSG_GET_INFO, &ibuf, &ilen) == 0 && ilen >= sizeof(struct nsdp_info))
		workers = ((struct nsdp_info *)ibuf)->n_workers;
	free(ibuf);

	int ns = open_netns(e->netns);
	if (ns < 0) {
		nsdp_client_close(&cl);
		return fail(ERR_ENV, strerror(-ns), "CNI_NETNS %s cannot be opened", e->netns);
	}
	/* Created in the pod's namespace, host end moved out: one request. */
	if ((rc = enter_ns(ns)) == 0) {
		if (if_nametoindex(e->ifname)) {
			enter_ns(host_ns);
			nsdp_client_close(&cl);
			return fail(ERR_PLUGIN, NULL, "interface %s exists already in %s", e->ifname,
				    e->netns);
		}
		rc = c->tap ? tap_create(e->ifname, c->mtu)
			    : veth_create(e->ifname, e->host_if, host_ns, c->mtu);
		enter_ns(host_ns);
	}
	if (rc < 0) {
		nsdp_client_close(&cl);
		close(ns);
		if (c->tap)
			return fail(ERR_PLUGIN, strerror(-rc), "creating tap %s in %s", e->ifname,
				    e->netns);
		return fail(ERR_PLUGIN, strerror(-rc), "creating veth %s/%s", e->host_if, e->ifname);
	}

	/* IPAM */
	char *out = NULL;
	const char *itype =
		json_string_value(json_object_get(json_object_get(c->root, "ipam"), "type"));
	int st = ipam_exec(c, e, itype, "ADD", &out);
	json_t *ires = st == 0 ? json_loads(out, 0, NULL) : NULL;
	struct in_addr ip;
	unsigned plen;
	if (!ires || !first_address(ires, &ip, &plen)) {
		json_t *ej = out ? json_loads(out, 0, NULL) : NULL;
		const char *m = ej ? json_string_value(json_object_get(ej, "msg")) : NULL;
		snprintf(err, sizeof(err), "%s", m ? m : st < 0 ? strerror(-st) : out ? out : "");
		json_decref(ej);
		json_decref(ires);
		free(out);
		link_undo(c, e);
		if (st == 0)
			ipam_release(c, e);
		nsdp_client_close(&cl);
		close(ns);
		return fail(st == -ENOENT ? ERR_CONFIG : ERR_PLUGIN, err,
			    "IPAM plugin %s gave no IPv4 address", itype);
	}
	free(out);

	/* The pod side. */
	uint8_t pod_mac[6] = { 0 }, host_mac[6] = { 0 };
	unsigned pod_idx = 0;
	struct in_addr any = { 0 };
	const char *step = "entering the netns";
	if ((rc = enter_ns(ns)) == 0) {
		pod_idx = if_nametoindex(e->ifname);
		step = "address";
		rc = addr_add(pod_idx, ip, 32);
		if (!rc) {
			step = "link up";
			/* A tap keeps its offloads: the dataplane takes 64 KB
			 * segments from it (vnet.h). */
			if (!c->tap)
				offloads_off(e->ifname);
			rc = link_up(e->ifname);
		}
		if (!rc) {
			step = "gateway route";
			rc = route_add(pod_idx, c->gw, 32, any, ip);
		}
		if (!rc) {
			step = "default route";
			rc = route_add(pod_idx, any, 0, c->gw, ip);
		}
		json_t *routes = json_object_get(json_object_get(c->root, "ipam"), "routes");
		size_t i;
		json_t *r;
		json_array_foreach(routes, i, r) {
			const char *d = json_string_value(json_object_get(r, "dst"));
			char b[64];
			struct in_addr dst;
			if (rc || !d)
				break;
			snprintf(b, sizeof(b), "%s", d);
			char *sl = strchr(b, '/');
			if (sl)
				*sl = '\0';
			unsigned pl = sl ? (unsigned)atoi(sl + 1) : 32;
			if (inet_pton(AF_INET, b, &dst) != 1 || pl == 0)
				continue; /* the default route is ours */
			step = "ipam route";
			rc = route_add(pod_idx, dst, pl, c->gw, ip);
			if (rc == -EEXIST)
				rc = 0;
		}
		if (!rc)
			link_mac(e->ifname, pod_mac);
		enter_ns(host_ns);
	}
	if (!rc && !c->tap) {
		step = "host end up";
		offloads_off(e->host_if);
		rc = link_up(e->host_if);
		link_mac(e->host_if, host_mac);
	}
	close(ns);
	if (rc < 0) {
		link_undo(c, e);
		ipam_release(c, e);
		json_decref(ires);
		nsdp_client_close(&cl);
		return fail(ERR_PLUGIN, strerror(-rc), "configuring %s: %s", e->ifname, step);
	}

	/* The dataplane: port, endpoint, one commit. */
	struct nsdp_port_req pr;
	memset(&pr, 0, sizeof(pr));
	snprintf(pr.name, sizeof(pr.name), "%s", e->host_if);
	pr.role = NSDP_ROLE_POD;
	if (c->tap)
		snprintf(pr.devargs, sizeof(pr.devargs), "vnet,netns=%s,iface=%s", e->netns,
			 e->ifname);
	else if (!strcmp(c->driver, "af_xdp"))
		snprintf(pr.devargs, sizeof(pr.devargs),
			 "net_af_xdp_%s,iface=%s,start_queue=0,queue_count=1", e->host_if + 4,
			 e->host_if);
	else if (workers > 1)
		snprintf(pr.devargs, sizeof(pr.devargs),
			 "net_af_packet_%s,iface=%s,qdisc_bypass=1,qpairs=%u", e->host_if + 4,
			 e->host_if, workers);
	else
		snprintf(pr.devargs, sizeof(pr.devargs), "net_af_packet_%s,iface=%s,qdisc_bypass=1",
			 e->host_if + 4, e->host_if);
	struct nsdp_endpoint ep;
	memset(&ep, 0, sizeof(ep));
	ep.ip.family = AF_INET;
	memcpy(ep.ip.addr, &ip, 4);
	snprintf(ep.port, sizeof(ep.port), "%s", e->host_if);
	memcpy(ep.mac, pod_mac, 6);
	snprintf(ep.name, sizeof(ep.name), "%.31s/%.31s", e->pod_ns, e->pod_name);
	struct nsdp_ack ack;
	memset(&ack, 0, sizeof(ack));
	rc = nsdp_client_port_add(&cl, &pr);
	if (!rc)
		rc = nsdp_client_ep_add(&cl, &ep);
	if (!rc)
		rc = dp_commit(&cl, &ack);
	if (rc < 0 || ack.rejected) {
		snprintf(err, sizeof(err), "%s", rc < 0 ? nsdp_client_error(&cl) : ack.error);
		char e2[256];
		if (rc == 0)
			dp_detach(&cl, e->host_if, e2, sizeof(e2));
		nsdp_client_close(&cl);
		link_undo(c, e);
		ipam_release(c, e);
		json_decref(ires);
		return fail(rc < 0 ? ERR_RETRY : ERR_PLUGIN, err,
			    "the dataplane refused pod %s/%s", e->pod_ns, e->pod_name);
	}
	nsdp_client_close(&cl);

	/* Result (CNI 1.0.0). */
	char hm[18], pm[18], addr[40], gw[INET_ADDRSTRLEN];
	nsdp_format_mac(host_mac, hm, sizeof(hm));
	nsdp_format_mac(pod_mac, pm, sizeof(pm));
	inet_ntop(AF_INET, &ip, addr, sizeof(addr));
	strcat(addr, "/32");
	inet_ntop(AF_INET, &c->gw, gw, sizeof(gw));
	json_t *res = json_pack(
		"{s:s, s:[{s:s, s:s}, {s:s, s:s, s:s}], s:[{s:s, s:s, s:i}], s:[{s:s, s:s}]}",
		"cniVersion", c->cni_version, "interfaces", "name", e->host_if, "mac", hm, "name",
		e->ifname, "mac", pm, "sandbox", e->netns, "ips", "address", addr, "gateway", gw,
		"interface", 1, "routes", "dst", "0.0.0.0/0", "gw", gw);
	if (c->tap) {
		/* No host interface: the pod's tap is the only one. */
		json_array_remove(json_object_get(res, "interfaces"), 0);
		json_object_set_new(json_array_get(json_object_get(res, "ips"), 0), "interface",
				    json_integer(0));
	}
	json_t *dns = json_object_get(ires, "dns");
	json_object_set(res, "dns", dns ? dns : json_object());
	json_dumpf(res, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(res);
	json_decref(ires);
	return 0;
}

static int cmd_del(const struct conf *c, const struct env *e)
{
	struct nsdp_client cl;
	char err[256] = "";
	int rc;

	if ((rc = dp_connect(c, &cl)))
		return rc;
	rc = dp_detach(&cl, e->host_if, err, sizeof(err));
	nsdp_client_close(&cl);
	if (rc < 0)
		return fail(ERR_PLUGIN, err, "removing port %s from the dataplane", e->host_if);
	/* Deleting the host end deletes the pair (a gone netns took both). */
	rc = link_undo(c, e);
	if (rc < 0 && rc != -ENODEV)
		return fail(ERR_PLUGIN, strerror(-rc), "deleting %s",
			    c->tap ? e->ifname : e->host_if);
	char *out = NULL;
	const char *itype =
		json_string_value(json_object_get(json_object_get(c->root, "ipam"), "type"));
	int st = ipam_exec(c, e, itype, "DEL", &out);
	if (st != 0) {
		rc = fail(st == -ENOENT ? ERR_CONFIG : ERR_PLUGIN, out ? out : "",
			  "IPAM plugin %s DEL failed", itype);
		free(out);
		return rc;
	}
	free(out);
	return 0;
}

static int cmd_check(const struct conf *c, const struct env *e)
{
	json_t *prev = json_object_get(c->root, "prevResult");
	struct in_addr want, have = { 0 };
	unsigned plen;
	if (!prev || !first_address(prev, &want, &plen))
		return fail(ERR_CONFIG, NULL, "CHECK: prevResult with ips[0].address is missing");
	int ns = open_netns(e->netns);
	if (ns < 0)
		return fail(ERR_ENV, strerror(-ns), "CNI_NETNS %s cannot be opened", e->netns);
	int rc = enter_ns(ns);
	unsigned idx = 0;
	uint8_t mac[6] = { 0 };
	if (!rc) {
		idx = if_nametoindex(e->ifname);
		rc = idx ? link_addr(e->ifname, &have) : -ENODEV;
		if (!rc)
			link_mac(e->ifname, mac);
		enter_ns(host_ns);
	}
	close(ns);
	if (rc < 0)
		return fail(ERR_PLUGIN, strerror(-rc), "CHECK: %s in %s", e->ifname, e->netns);
	if (have.s_addr != want.s_addr)
		return fail(ERR_PLUGIN, NULL, "CHECK: %s in %s has %s, not the address of the "
			    "previous result", e->ifname, e->netns, inet_ntoa(have));
	if (!c->tap && !if_nametoindex(e->host_if))
		return fail(ERR_PLUGIN, NULL, "CHECK: host interface %s is missing", e->host_if);

	struct nsdp_client cl;
	if ((rc = dp_connect(c, &cl)))
		return rc;
	void *buf = NULL;
	uint32_t len = 0;
	bool port = false, ep = false;
	if (dp_get(&cl, NSDP_MSG_GET_PORTS, &buf, &len) == 0) {
		const struct nsdp_port_info *pi = buf;
		for (uint32_t i = 0; i < len / sizeof(*pi); i++)
			port |= pi[i].role && !strncmp(pi[i].name, e->host_if, NSDP_PORT_NAME_LEN);
	}
	free(buf);
	buf = NULL;
	if (dp_get(&cl, NSDP_MSG_GET_ENDPOINTS, &buf, &len) == 0) {
		const struct nsdp_endpoint *eps = buf;
		for (uint32_t i = 0; i < len / sizeof(*eps); i++)
			ep |= !memcmp(eps[i].ip.addr, &want, 4) &&
			      !strncmp(eps[i].port, e->host_if, NSDP_PORT_NAME_LEN) &&
			      !memcmp(eps[i].mac, mac, 6);
	}
	free(buf);
	nsdp_client_close(&cl);
	if (!port)
		return fail(ERR_PLUGIN, NULL, "CHECK: the dataplane has no port %s", e->host_if);
	if (!ep)
		return fail(ERR_PLUGIN, NULL,
			    "CHECK: the dataplane has no endpoint %s with %s's MAC on port %s",
			    inet_ntoa(want), e->ifname, e->host_if);
	return 0;
}

int main(void)
{
	const char *cmd = getenv("CNI_COMMAND");
	if (!cmd || !*cmd)
		return fail(ERR_ENV, NULL, "CNI_COMMAND is not set");
	if (!strcmp(cmd, "VERSION")) {
		printf("{\"cniVersion\": \"%s\", \"supportedVersions\": [\"1.0.0\"]}\n",
		       CNI_VERSION);
		return 0;
	}
	bool add = !strcmp(cmd, "ADD"), del = !strcmp(cmd, "DEL"), check = !strcmp(cmd, "CHECK");
	if (!add && !del && !check)
		return fail(ERR_ENV, NULL, "CNI_COMMAND %s: expected ADD, DEL, CHECK or VERSION",
			    cmd);

	size_t len = 0, cap = 65536;
	char *raw = malloc(cap);
	for (;;) {
		if (len + 4096 > cap)
			raw = realloc(raw, cap *= 2);
		ssize_t n = read(0, raw + len, cap - len);
		if (n < 0)
			return fail(ERR_DECODE, strerror(errno), "reading stdin");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	struct conf c;
	struct env e;
	int rc = parse_conf(raw, len, &c);
	if (rc)
		return rc;
	if ((rc = parse_env(&e, !del)))
		return rc;
	host_ns = open_netns("/proc/self/ns/net");
	if (host_ns < 0)
		return fail(ERR_PLUGIN, strerror(-host_ns), "opening our own network namespace");
	rc = add ? cmd_add(&c, &e) : del ? cmd_del(&c, &e) : cmd_check(&c, &e);
	json_decref(c.root);
	free(raw);
	return rc;
}
