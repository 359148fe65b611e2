/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "dp.h"
#include "overlay.h"
#include "port.h"
#include "vnet.h"

/* Symmetric RSS key: both directions of a flow hash alike (RSS on one port). */
static uint8_t rss_key[40] = {
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
	0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

static bool is_vdev(const char *devargs)
{
	return strncmp(devargs, "net_", 4) == 0 || strncmp(devargs, "eth_", 4) == 0;
}

int dp_port_eal_args(const struct dp *dp, char **argv, int argc, int max)
{
	for (unsigned i = 0; i < dp->cfg.n_ports; i++) {
		const struct dp_port_cfg *pc = &dp->cfg.ports[i];
		if (dp_vnet_devargs(pc->devargs))
			continue; /* not an EAL device */
		if (argc + 2 >= max)
			return -E2BIG;
		argv[argc++] = (char *)(is_vdev(pc->devargs) ? "--vdev" : "-a");
		argv[argc++] = (char *)pc->devargs;
	}
	return argc;
}

/* The device name is the devargs up to the first comma. */
static void dev_name(const char *devargs, char *name, size_t len)
{
	size_t n = strcspn(devargs, ",");
	if (n >= len)
		n = len - 1;
	memcpy(name, devargs, n);
	name[n] = 0;
}

/* The interface index of an af_packet port's iface= (0: another driver). */
static unsigned af_packet_ifindex(const struct rte_eth_dev_info *info)
{
	if (!info->driver_name || strcmp(info->driver_name, "net_af_packet") || !info->device)
		return 0;
	const struct rte_devargs *da = rte_dev_devargs(info->device);
	const char *a = da && da->args ? strstr(da->args, "iface=") : NULL;
	if (!a)
		return 0;
	char ifname[IF_NAMESIZE];
	size_t n = strcspn(a + 6, ",");
	if (n == 0 || n >= sizeof(ifname))
		return 0;
	memcpy(ifname, a + 6, n);
	ifname[n] = 0;
	return if_nametoindex(ifname);
}

/* Serialises dp_port_ring_drops() with itself and with the ports' XDP
 * sockets going (xdp_fds_forget()). */
static pthread_mutex_t ring_drops_lock = PTHREAD_MUTEX_INITIALIZER;

/* The PMD is about to close p's XDP sockets: stop reading them (their
 * numbers may be reused). */
static void xdp_fds_forget(struct dp_port *p)
{
	pthread_mutex_lock(&ring_drops_lock);
	p->n_xdp_fds = 0;
	pthread_mutex_unlock(&ring_drops_lock);
}

uint64_t dp_port_ring_drops(struct dp_port *p)
{
	pthread_mutex_lock(&ring_drops_lock);
	uint64_t xdp_full = 0;
	for (unsigned k = 0; k < p->n_xdp_fds; k++) {
		/* cumulative; rx_dropped is the PMD's imissed already */
		struct xdp_statistics st;
		memset(&st, 0, sizeof(st));
		socklen_t len = sizeof(st);
		if (getsockopt(p->xdp_fds[k], SOL_XDP, XDP_STATISTICS, &st, &len) == 0 &&
		    len >= offsetof(struct xdp_statistics, rx_ring_full) + sizeof(st.rx_ring_full))
			xdp_full += st.rx_ring_full;
	}
	if (p->n_xdp_fds)
		p->ring_drops = xdp_full;
	DIR *d = p->ifindex ? opendir("/proc/self/fd") : NULL;
	for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		struct sockaddr_ll sll;
		socklen_t len = sizeof(sll);
		if (*end || fd < 0 || fd == dirfd(d) ||
		    getsockname((int)fd, (struct sockaddr *)&sll, &len) ||
		    sll.sll_family != AF_PACKET || (unsigned)sll.sll_ifindex != p->ifindex)
			continue;
		struct tpacket_stats st;
		len = sizeof(st);
		if (getsockopt((int)fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			p->ring_drops += st.tp_drops; /* reset by the read */
	}
	if (d)
		closedir(d);
	uint64_t v = p->ring_drops;
	pthread_mutex_unlock(&ring_drops_lock);
	return v;
}

/* The AF_XDP sockets among this process's descriptors: fds[fd] = 1 for
 * each, fds sized max (descriptors from max on are not looked at). */
static void xdp_sockets(uint8_t *fds, unsigned max)
{
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		int domain = 0;
		socklen_t len = sizeof(domain);
		if (!*end && fd >= 0 && fd < max && fd != dirfd(d) &&
		    !getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) && domain == AF_XDP)
			fds[fd] = 1;
	}
	if (d)
		closedir(d);
}

/*
 * Configure and start DPDK port `pid` into slot `idx` with the queue layout
 * every port has: `queues` RX queues (0: one per worker; capped by the
 * device) spread over the workers, one TX queue per worker. The slot's
 * name and role are set by the caller.
 */
static int port_setup(struct dp *dp, unsigned idx, uint16_t pid, unsigned queues,
		      uint16_t rx_desc, uint16_t tx_desc, char *err, size_t errlen)
{
	struct dp_port *p = &dp->ports[idx];
	const char *pn = p->name;
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(pid, &info);

	if (rc) {
		snprintf(err, errlen, "port %s: device info: %s", pn, rte_strerror(-rc));
		return rc;
	}
	unsigned nw = dp->n_workers;
	unsigned nrx = queues ? queues : nw;
	if (nrx > info.max_rx_queues)
		nrx = info.max_rx_queues;
	if (nw > info.max_tx_queues) {
		snprintf(err, errlen, "port %s: %u workers need %u TX queues, device %s has %u",
			 pn, nw, nw, info.driver_name, info.max_tx_queues);
		return -ENOTSUP;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (nrx > 1 && info.flow_type_rss_offloads) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
		if (info.hash_key_size == sizeof(rss_key)) {
			conf.rx_adv_conf.rss_conf.rss_key = rss_key;
			conf.rx_adv_conf.rss_conf.rss_key_len = sizeof(rss_key);
		}
	}
	rc = rte_eth_dev_configure(pid, (uint16_t)nrx, (uint16_t)nw, &conf);
	if (rc) {
		snprintf(err, errlen, "port %s: configure %u rx / %u tx queues: %s", pn, nrx, nw,
			 rte_strerror(-rc));
		return rc;
	}
	uint16_t nb_rxd = rx_desc, nb_txd = tx_desc;
	rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &nb_txd);
	int socket = rte_eth_dev_socket_id(pid);
	/* af_xdp: the PMD opens one XDP socket per RX queue in its setup; the
	 * port's are the ones that appear (dp_port_ring_drops()) */
	bool xdp = info.driver_name && !strcmp(info.driver_name, "net_af_xdp");
	struct rlimit lim = {0};
	unsigned max_fd = xdp && !getrlimit(RLIMIT_NOFILE, &lim) && lim.rlim_cur < (1u << 20)
				  ? (unsigned)lim.rlim_cur
				  : 1u << 20;
	uint8_t *before = xdp ? calloc(max_fd, 1) : NULL, *after = xdp ? calloc(max_fd, 1) : NULL;
	if (before)
		xdp_sockets(before, max_fd);
	xdp_fds_forget(p);
	for (unsigned q = 0; q < nrx; q++) {
		rc = rte_eth_rx_queue_setup(pid, (uint16_t)q, nb_rxd, socket, NULL, dp->pool);
		if (rc)
			goto qfail;
	}
	if (before && after) {
		xdp_sockets(after, max_fd);
		unsigned n = 0;
		for (unsigned fd = 0; fd < max_fd && n < DP_PORT_XDP_FDS; fd++)
			if (after[fd] && !before[fd])
				p->xdp_fds[n++] = (int)fd;
		pthread_mutex_lock(&ring_drops_lock);
		p->n_xdp_fds = n;
		pthread_mutex_unlock(&ring_drops_lock);
	} else if (xdp) {
		RTE_LOG(WARNING, USER1, "port %s: out of memory: its RX ring drops are not counted\n", pn);
	}
	free(before);
	free(after);
	for (unsigned q = 0; q < nw; q++) {
		rc = rte_eth_tx_queue_setup(pid, (uint16_t)q, nb_txd, socket, NULL);
		if (rc)
			goto qfail;
	}
	/* Pod ports carry frames for the gateway MAC, not the port's own. */
	rte_eth_promiscuous_enable(pid);
	uint32_t mtu = p->role == NSDP_ROLE_UPLINK ? dp->cfg.mtu :
						     dp->cfg.mtu - OVERLAY_OVERHEAD;
	rc = rte_eth_dev_set_mtu(pid, (uint16_t)mtu);
	if (rc && rc != -ENOTSUP)
		RTE_LOG(WARNING, USER1, "port %s: set MTU %u: %s (continuing)\n", pn, mtu,
			rte_strerror(-rc));
	rc = rte_eth_dev_start(pid);
	if (rc) {
		snprintf(err, errlen, "port %s: start: %s", pn, rte_strerror(-rc));
		return rc;
	}
	p->port_id = pid;
	p->ifindex = af_packet_ifindex(&info);
	p->ring_drops = 0;
	p->n_rxq = (uint16_t)nrx;
	p->n_txq = (uint16_t)nw;
	p->mtu = mtu;
	rte_eth_macaddr_get(pid, &p->mac);
	dp->port_index[pid] = (uint16_t)idx;
	return 0;
qfail:
	snprintf(err, errlen, "port %s: queue setup: %s", pn, rte_strerror(-rc));
	return rc;
}

static int vnet_port(struct dp *dp, unsigned slot, const char *name, uint8_t role,
		     const char *devargs, unsigned queues, char *err, size_t errlen);

static int port_start(struct dp *dp, unsigned idx)
{
	const struct dp_port_cfg *pc = &dp->cfg.ports[idx];
	char name[256], err[256];
	uint16_t pid;
	int rc;

	if (dp_vnet_devargs(pc->devargs)) {
		rc = vnet_port(dp, idx, pc->name, pc->role, pc->devargs, pc->queues, err,
			       sizeof(err));
		if (rc) {
			RTE_LOG(ERR, USER1, "%s\n", err);
			return rc;
		}
		goto roles;
	}
	dev_name(pc->devargs, name, sizeof(name));
	rc = rte_eth_dev_get_port_by_name(name, &pid);
	if (rc) {
		RTE_LOG(ERR, USER1, "port %s: no DPDK device \"%s\" (devargs \"%s\")\n",
			pc->name, name, pc->devargs);
		return rc;
	}
	rc = port_setup(dp, idx, pid, pc->queues, pc->rx_desc, pc->tx_desc, err, sizeof(err));
	if (rc) {
		RTE_LOG(ERR, USER1, "%s\n", err);
		return rc;
	}
roles:
	if (pc->role == NSDP_ROLE_UPLINK)
		dp->uplink = (int)idx;
	if (pc->role == NSDP_ROLE_HOST)
		dp->host = (int)idx;
	return 0;
}

/* ---- RX-queue lists ----------------------------------------------------- */

/*
 * RX queue q of the port in slot s belongs to worker (s + q) mod workers:
 * a port with as many queues as workers gives each worker one, and
 * single-queue pod ports are spread over the workers instead of all
 * landing on worker 0.
 */
int dp_rxqs_build(const struct dp *dp, struct dp_rxq_list **lists)
{
	unsigned nw = dp->n_workers;
	unsigned cnt[DP_MAX_WORKERS] = { 0 };

	for (unsigned s = 0; s < dp->n_ports; s++) {
		const struct dp_port *p = &dp->ports[s];
		if (!p->role || p->deleting)
			continue;
		for (unsigned q = 0; q < p->n_rxq; q++)
			cnt[(s + q) % nw]++;
	}
	for (unsigned w = 0; w < nw; w++) {
		lists[w] = rte_zmalloc("dp_rxqs", sizeof(*lists[w]) + cnt[w] * sizeof(struct dp_rxq),
				       RTE_CACHE_LINE_SIZE);
		if (!lists[w]) {
			dp_rxqs_free(lists, w);
			return -ENOMEM;
		}
		lists[w]->ep = -1;
	}
	for (unsigned s = 0; s < dp->n_ports; s++) {
		const struct dp_port *p = &dp->ports[s];
		if (!p->role || p->deleting)
			continue;
		for (unsigned q = 0; q < p->n_rxq; q++) {
			struct dp_rxq_list *l = lists[(s + q) % nw];
			l->q[l->n].port = (uint16_t)s;
			l->q[l->n].queue = (uint16_t)q;
			if (p->vnet) {
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = l->n };
				if (l->ep < 0)
					l->ep = epoll_create1(EPOLL_CLOEXEC);
				if (l->ep < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, p->vnet->fds[q], &ev)) {
					int rc = -errno;
					dp_rxqs_free(lists, nw);
					return rc;
				}
			}
			l->n++;
		}
	}
	return 0;
}

void dp_rxqs_free(struct dp_rxq_list **lists, unsigned n)
{
	for (unsigned w = 0; w < n; w++) {
		if (lists[w] && lists[w]->ep >= 0)
			close(lists[w]->ep);
		rte_free(lists[w]);
		lists[w] = NULL;
	}
}

void dp_rxqs_publish(struct dp *dp, struct dp_rxq_list **lists)
{
	unsigned nw = dp->n_workers;

	for (unsigned w = 0; w < nw; w++)
		lists[w] = atomic_exchange_explicit(&dp->workers[w].rxqs, lists[w],
						    memory_order_acq_rel);
	/* Workers may still be polling a queue of an old list. */
	if (dp->qsv)
		rte_rcu_qsbr_synchronize(dp->qsv, RTE_QSBR_THRID_INVALID);
	dp_rxqs_free(lists, nw);
}

/* ---- hot-plug ----------------------------------------------------------- */

static int find_port(const struct dp *dp, const char *name)
{
	for (unsigned i = 0; i < dp->n_ports; i++)
		if (dp->ports[i].role && strcmp(dp->ports[i].name, name) == 0)
			return (int)i;
	return -1;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

/* Slot `slot`, emptied, named and given its role. */
static struct dp_port *slot_claim(struct dp *dp, unsigned slot, const char *name, uint8_t role)
{
	struct dp_port *p = &dp->ports[slot];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->role = role;
	return p;
}

static void vnet_free(struct dp_port *p)
{
	dp_vnet_close(p->vnet);
	free(p->vnet);
	p->vnet = NULL;
}

/* The large mbufs vnet ports read 64 KB segments into and coalesce into
 * (65 KB each). A worker holds a few bursts of them until its TX buffers
 * are flushed at the end of a poll; when they run out, reads wait in the
 * taps and segments are written unmerged, nothing is lost. */
static int big_pool(struct dp *dp)
{
	if (dp->big)
		return 0;
	unsigned n = dp->n_workers * 2 * (dp->cfg.burst + DP_TX_BUF) + 128;
	dp->big = rte_pktmbuf_pool_create("dp_big", n, 16, 0,
					  (uint16_t)(DP_VNET_MAX_FRAME + RTE_PKTMBUF_HEADROOM),
					  (int)rte_socket_id());
	return dp->big ? 0 : -rte_errno;
}

/* Slot `slot` becomes vnet port `name` (one queue per worker, capped by
 * `queues` when not 0). The caller sets hotplug/req. */
static int vnet_port(struct dp *dp, unsigned slot, const char *name, uint8_t role,
		     const char *devargs, unsigned queues, char *err, size_t errlen)
{
	char e2[400];
	int rc = big_pool(dp);
	if (rc) {
		snprintf(err, errlen, "port %s: large mbufs for a vnet port: %s", name,
			 rte_strerror(-rc));
		return rc;
	}
	struct dp_vnet *v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "port %s: out of memory", name);
		return -ENOMEM;
	}
	rc = dp_vnet_parse(v, devargs, e2, sizeof(e2));
	if (!rc && role == NSDP_ROLE_UPLINK && !v->has_mac) {
		snprintf(e2, sizeof(e2), "devargs: mac: an uplink needs its MAC (the other nodes' "
			 "VTEP entries name it)");
		rc = -EINVAL;
	}
	/* Before attaching: a second port on one tap would take its traffic. */
	for (unsigned i = 0; !rc && i < dp->n_ports; i++) {
		const struct dp_vnet *o = dp->ports[i].vnet;
		if (o && o->ns_dev == v->ns_dev && o->ns_ino == v->ns_ino &&
		    !strcmp(o->ifname, v->ifname)) {
			snprintf(e2, sizeof(e2), "devargs: %s in %s is port %s's already", v->ifname,
				 v->netns, dp->ports[i].name);
			rc = -EEXIST;
		}
	}
	unsigned q = queues && queues < dp->n_workers ? queues : dp->n_workers;
	if (!rc)
		rc = dp_vnet_attach(v, RTE_MIN(q, (unsigned)DP_VNET_MAX_QUEUES),
				    role == NSDP_ROLE_UPLINK, e2, sizeof(e2));
	if (rc) {
		snprintf(err, errlen, "port %s: %s", name, e2);
		free(v);
		return rc;
	}
	struct dp_port *p = slot_claim(dp, slot, name, role);
	p->port_id = RTE_MAX_ETHPORTS;
	p->vnet = v;
	p->n_rxq = (uint16_t)v->n_fds;
	p->n_txq = (uint16_t)dp->n_workers;
	p->mtu = role == NSDP_ROLE_UPLINK ? dp->cfg.mtu : dp->cfg.mtu - OVERLAY_OVERHEAD;
	/* mac= of the devargs (an uplink's own); for a pod, the gateway's MAC,
	 * which is what the pod sees (ARP replies, frames delivered to it). */
	if (v->has_mac)
		p->mac = v->mac;
	else
		memcpy(p->mac.addr_bytes, dp->cfg.gateway_mac, RTE_ETHER_ADDR_LEN);
	RTE_LOG(INFO, USER1, "port %s: %s, %u queues%s, slot %u\n", name, devargs, v->n_fds,
		v->tnl ? ", UDP tunnel GSO" : "", slot);
	return 0;
}

static int vnet_add(struct dp *dp, unsigned slot, const struct nsdp_port_req *req,
		    const char *devargs, char *err, size_t errlen)
{
	int rc = vnet_port(dp, slot, req->name, NSDP_ROLE_POD, devargs, req->queues, err, errlen);
	if (rc)
		return rc;
	dp->ports[slot].hotplug = true;
	dp->ports[slot].req = *req;
	if (slot == dp->n_ports)
		dp->n_ports++;
	return (int)slot;
}

int dp_port_hotplug_add(struct dp *dp, const struct nsdp_port_req *req, char *err,
			size_t errlen)
{
	char name[NSDP_PORT_NAME_LEN], devargs[NSDP_DEVARGS_LEN], dev[NSDP_DEVARGS_LEN];
	uint16_t pid;
	int rc;

	if (!memchr(req->name, 0, sizeof(req->name)) || !req->name[0] ||
	    !printable(req->name)) {
		snprintf(err, errlen, "name: must be 1..%d printable characters without spaces",
			 NSDP_PORT_NAME_LEN - 1);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%s", req->name);
	if (!memchr(req->devargs, 0, sizeof(req->devargs)) || !req->devargs[0] ||
	    !printable(req->devargs)) {
		snprintf(err, errlen, "port %s: devargs: must be 1..%d printable characters",
			 name, NSDP_DEVARGS_LEN - 1);
		return -EINVAL;
	}
	snprintf(devargs, sizeof(devargs), "%s", req->devargs);
	if (req->role != NSDP_ROLE_POD) {
		snprintf(err, errlen, "port %s: role: %u, only pod ports (%u) can be hot-plugged",
			 name, req->role, NSDP_ROLE_POD);
		return -EINVAL;
	}
	if (req->queues > DP_MAX_WORKERS) {
		snprintf(err, errlen, "port %s: queues: %u is out of range (allowed: 0..%u)", name,
			 req->queues, DP_MAX_WORKERS);
		return -EINVAL;
	}
	if (find_port(dp, name) >= 0) {
		snprintf(err, errlen, "port %s: name: a port of that name exists", name);
		return -EEXIST;
	}
	dev_name(devargs, dev, sizeof(dev));
	if (rte_eth_dev_get_port_by_name(dev, &pid) == 0) {
		snprintf(err, errlen, "port %s: devargs: device \"%s\" exists already", name, dev);
		return -EEXIST;
	}
	if (!dp->pool || !dp->workers || !dp->n_workers) {
		snprintf(err, errlen, "port %s: this dataplane cannot start ports", name);
		return -ENOTSUP;
	}
	unsigned slot;
	for (slot = 0; slot < dp->n_ports && dp->ports[slot].role; slot++)
		;
	if (slot >= DP_MAX_PORT_SLOTS) {
		snprintf(err, errlen, "port %s: all %u port slots are in use", name,
			 DP_MAX_PORT_SLOTS);
		return -ENOSPC;
	}
	if (dp_vnet_devargs(devargs))
		return vnet_add(dp, slot, req, devargs, err, errlen);

	rc = rte_dev_probe(devargs);
	if (rc < 0) {
		snprintf(err, errlen, "port %s: devargs: probing \"%s\" failed: %s", name, devargs,
			 rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_get_port_by_name(dev, &pid);
	if (rc) {
		snprintf(err, errlen, "port %s: devargs: \"%s\" created no ethdev named \"%s\"",
			 name, devargs, dev);
		rte_eal_hotplug_remove("vdev", dev);
		return -ENODEV;
	}

	struct dp_port *p = slot_claim(dp, slot, name, NSDP_ROLE_POD);
	p->hotplug = true;
	p->port_id = pid;
	p->req = *req;
	rc = port_setup(dp, slot, pid, req->queues,
			req->rx_desc ? req->rx_desc : 1024, req->tx_desc ? req->tx_desc : 1024,
			err, errlen);
	if (rc) {
		dp_port_remove(dp, slot);
		return rc;
	}
	if (slot == dp->n_ports)
		dp->n_ports++;
	RTE_LOG(INFO, USER1, "port %s: added (%s, DPDK port %u, slot %u, %u rx queues)\n",
		name, devargs, pid, slot, p->n_rxq);
	return (int)slot;
}

int dp_port_hotplug_del(struct dp *dp, const char *req_name, char *err, size_t errlen)
{
	char name[NSDP_PORT_NAME_LEN];

	if (!memchr(req_name, 0, NSDP_PORT_NAME_LEN) || !req_name[0]) {
		snprintf(err, errlen, "name: must be 1..%d characters", NSDP_PORT_NAME_LEN - 1);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%s", req_name);
	int slot = find_port(dp, name);
	if (slot < 0 || dp->ports[slot].deleting) {
		snprintf(err, errlen, "port %s: name: no such port", name);
		return -ENOENT;
	}
	if (!dp->ports[slot].hotplug) {
		snprintf(err, errlen,
			 "port %s: name: a port of the configuration file, not hot-plugged", name);
		return -EPERM;
	}
	dp->ports[slot].deleting = true;
	return slot;
}

void dp_port_remove(struct dp *dp, unsigned slot)
{
	struct dp_port *p = &dp->ports[slot];
	uint16_t pid = p->port_id;

	if (p->vnet) {
		vnet_free(p);
	} else if (rte_eth_dev_is_valid_port(pid)) {
		char dev[RTE_ETH_NAME_MAX_LEN] = "";
		rte_eth_dev_get_name_by_port(pid, dev);
		struct rte_eth_dev_info info;
		struct rte_device *rdev = NULL;
		if (rte_eth_dev_info_get(pid, &info) == 0)
			rdev = info.device;
		int rc = rte_eth_dev_stop(pid);
		if (rc && rc != -EINVAL)
			RTE_LOG(WARNING, USER1, "port %s: stop: %s\n", p->name, rte_strerror(-rc));
		xdp_fds_forget(p); /* the PMD closes them */
		rte_eth_dev_close(pid);
		/* Closing released the ethdev; the bus device goes with it. */
		if (rdev && (rc = rte_dev_remove(rdev)) < 0 && rc != -ENOENT)
			RTE_LOG(WARNING, USER1, "port %s: remove device %s: %s\n", p->name, dev,
				rte_strerror(-rc));
		dp->port_index[pid] = 0xffff;
	}
	/* No worker touches the slot any more (see dp.h): its counters and TX
	 * buffers start from zero for the next port that takes it. */
	for (unsigned w = 0; dp->stats && w < dp->n_workers; w++)
		memset(&dp->stats[w].port[slot], 0, sizeof(dp->stats[w].port[slot]));
	for (unsigned w = 0; dp->workers && w < dp->n_workers; w++)
		dp->workers[w].tx[slot].n = 0;
	memset(p, 0, sizeof(*p));
	while (dp->n_ports && !dp->ports[dp->n_ports - 1].role)
		dp->n_ports--;
}

int dp_ports_start(struct dp *dp)
{
	dp->uplink = -1;
	dp->host = -1;
	memset(dp->port_index, 0xff, sizeof(dp->port_index));
	for (unsigned i = 0; i < dp->cfg.n_ports; i++) {
		/* Names are needed before start: the static tables resolve them. */
		snprintf(dp->ports[i].name, sizeof(dp->ports[i].name), "%s",
			 dp->cfg.ports[i].name);
		dp->ports[i].role = dp->cfg.ports[i].role;
	}
	dp->n_ports = dp->cfg.n_ports;
	for (unsigned i = 0; i < dp->cfg.n_ports; i++) {
		int rc = port_start(dp, i);
		if (rc)
			return rc;
	}
	/* The workers are not running yet: publishing waits for nobody. */
	struct dp_rxq_list *lists[DP_MAX_WORKERS];
	int rc = dp_rxqs_build(dp, lists);
	if (rc)
		return rc;
	dp_rxqs_publish(dp, lists);
	return 0;
}

void dp_ports_stop(struct dp *dp)
{
	for (unsigned i = 0; i < dp->n_ports; i++) {
		if (!dp->ports[i].role)
			continue;
		if (dp->ports[i].vnet) {
			vnet_free(&dp->ports[i]);
			continue;
		}
		rte_eth_dev_stop(dp->ports[i].port_id);
		xdp_fds_forget(&dp->ports[i]);
		rte_eth_dev_close(dp->ports[i].port_id);
	}
	struct dp_rxq_list *lists[DP_MAX_WORKERS];
	for (unsigned w = 0; dp->workers && w < dp->n_workers; w++)
		lists[w] = atomic_exchange(&dp->workers[w].rxqs, NULL);
	if (dp->workers)
		dp_rxqs_free(lists, dp->n_workers);
}
