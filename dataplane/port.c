/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include "dp.h"
#include "overlay.h"
#include "port.h"

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

static int port_start(struct dp *dp, unsigned idx)
{
	const struct dp_port_cfg *pc = &dp->cfg.ports[idx];
	struct dp_port *p = &dp->ports[idx];
	char name[256];
	uint16_t pid;
	int rc;

	dev_name(pc->devargs, name, sizeof(name));
	rc = rte_eth_dev_get_port_by_name(name, &pid);
	if (rc) {
		RTE_LOG(ERR, USER1, "port %s: no DPDK device \"%s\" (devargs \"%s\")\n",
			pc->name, name, pc->devargs);
		return rc;
	}
	struct rte_eth_dev_info info;
	rc = rte_eth_dev_info_get(pid, &info);
	if (rc)
		return rc;

	unsigned nw = dp->n_workers;
	unsigned nrx = pc->queues ? pc->queues : nw;
	if (nrx > info.max_rx_queues)
		nrx = info.max_rx_queues;
	if (nw > info.max_tx_queues) {
		RTE_LOG(ERR, USER1,
			"port %s: %u workers need %u TX queues, device %s has %u\n",
			pc->name, nw, nw, info.driver_name, info.max_tx_queues);
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
		RTE_LOG(ERR, USER1, "port %s: configure %u rx / %u tx queues: %s\n",
			pc->name, nrx, nw, rte_strerror(-rc));
		return rc;
	}
	uint16_t nb_rxd = pc->rx_desc, nb_txd = pc->tx_desc;
	rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &nb_txd);
	int socket = rte_eth_dev_socket_id(pid);
	for (unsigned q = 0; q < nrx; q++) {
		rc = rte_eth_rx_queue_setup(pid, (uint16_t)q, nb_rxd, socket, NULL, dp->pool);
		if (rc)
			goto qfail;
		/* RX queue q belongs to worker q mod workers. */
		struct dp_worker *w = &dp->workers[q % nw];
		w->rxq[w->n_rxq].port = (uint16_t)idx;
		w->rxq[w->n_rxq].queue = (uint16_t)q;
		w->n_rxq++;
	}
	for (unsigned q = 0; q < nw; q++) {
		rc = rte_eth_tx_queue_setup(pid, (uint16_t)q, nb_txd, socket, NULL);
		if (rc)
			goto qfail;
	}
	/* Pod ports carry frames for the gateway MAC, not the port's own. */
	rte_eth_promiscuous_enable(pid);
	uint32_t mtu = pc->role == NSDP_ROLE_UPLINK ? dp->cfg.mtu :
						      dp->cfg.mtu - OVERLAY_OVERHEAD;
	rc = rte_eth_dev_set_mtu(pid, (uint16_t)mtu);
	if (rc && rc != -ENOTSUP)
		RTE_LOG(WARNING, USER1, "port %s: set MTU %u: %s (continuing)\n", pc->name,
			mtu, rte_strerror(-rc));
	rc = rte_eth_dev_start(pid);
	if (rc) {
		RTE_LOG(ERR, USER1, "port %s: start: %s\n", pc->name, rte_strerror(-rc));
		return rc;
	}
	p->port_id = pid;
	p->role = pc->role;
	p->n_rxq = (uint16_t)nrx;
	p->n_txq = (uint16_t)nw;
	p->mtu = mtu;
	rte_eth_macaddr_get(pid, &p->mac);
	dp->port_index[pid] = (uint16_t)idx;
	if (pc->role == NSDP_ROLE_UPLINK)
		dp->uplink = (int)idx;
	return 0;
qfail:
	RTE_LOG(ERR, USER1, "port %s: queue setup: %s\n", pc->name, rte_strerror(-rc));
	return rc;
}

int dp_ports_start(struct dp *dp)
{
	dp->uplink = -1;
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
	return 0;
}

void dp_ports_stop(struct dp *dp)
{
	for (unsigned i = 0; i < dp->n_ports; i++) {
		rte_eth_dev_stop(dp->ports[i].port_id);
		rte_eth_dev_close(dp->ports[i].port_id);
	}
}
