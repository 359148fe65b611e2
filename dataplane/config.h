/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-dataplane configuration (libconfig syntax).
 *
 * Loaded once by main() before EAL init; read-only afterwards, so any thread
 * may read it without synchronisation. Errors name FILE:LINE, the setting,
 * what was wrong and what is allowed.
 */
#ifndef NSDP_DP_CONFIG_H
#define NSDP_DP_CONFIG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <nsdp/proto.h>

#define DP_MAX_PORTS 32
#define DP_MAX_WORKERS 64
#define DP_MAX_EAL_ARGS 64
#define DP_MAX_STATIC 256

struct dp_port_cfg {
	char name[NSDP_PORT_NAME_LEN];
	char devargs[256];
	uint8_t role;     /* enum nsdp_port_role */
	uint16_t rx_desc; /* default 1024 */
	uint16_t tx_desc; /* default 1024 */
	uint16_t queues;  /* 0 = one per worker */
};

struct ct_timeouts {
	uint32_t tcp_syn;
	uint32_t tcp_established;
	uint32_t tcp_fin;
	uint32_t tcp_closed;
	uint32_t udp;
	uint32_t udp_stream;
	uint32_t icmp;
	uint32_t other;
	uint32_t denied; /* a denied connection never answered (cached deny verdict) */
};

struct dp_config {
	char source[256]; /* file name, or "<embedded>" */

	int eal_argc;
	char *eal_argv[DP_MAX_EAL_ARGS]; /* owned, strdup'ed */

	char node_name[NSDP_NAME_LEN];
	uint32_t vtep_ip;      /* network order */
	uint32_t host_ip;      /* the node's own address towards its pods (default
				* vtep_ip): its traffic to them is never denied */
	uint8_t overlay;       /* enum nsdp_overlay */
	uint32_t vni;          /* 24 bits */
	uint16_t overlay_port; /* UDP destination port, host order */
	uint32_t mtu;          /* uplink IP MTU; pods get mtu - overhead */
	uint32_t gateway_ip;   /* pods' default gateway, network order */
	uint8_t gateway_mac[6];

	unsigned n_workers;
	unsigned worker_lcores[DP_MAX_WORKERS];
	unsigned main_lcore;
	unsigned burst;         /* RX burst size, 32..256 */
	unsigned idle_sleep_us; /* 0 = busy poll (default) */

	unsigned n_ports;
	struct dp_port_cfg ports[DP_MAX_PORTS];

	uint32_t ct_size;
	/* Conntrack entries denied connections may hold (about): beyond it a
	 * denied new connection gets no entry and is decided per packet. */
	uint32_t ct_denied; /* default ct_size / 8 */
	uint32_t max_endpoints;
	uint32_t max_routes;
	uint32_t max_vteps;
	uint32_t mbufs; /* 0 = computed */
	struct ct_timeouts timeouts;

	/* Flow logs (docs/observability.md): records of policy decisions
	 * queued per worker for the agent, rate-limited in the worker. */
	struct {
		bool enabled;
		uint32_t rate;           /* records per second, whole dataplane */
		uint32_t burst;          /* records above the rate, at once */
		uint32_t sample_allowed; /* log 1 in N allowed decisions; 0 none */
		uint32_t ring;           /* records queued per worker */
	} flow_log;
	bool rule_counters; /* per-rule packet counters */

	char ctl_socket[108];
	/* A compiled policy (the POLICY_SET wire form, as nsdp-agent
	 * --policy-cache writes it) enforced from the first packet; "" none. */
	char policy_file[256];
	/* The committed state kept across restarts (statefile.h); "" none. */
	char state_file[256];

	/* Static tables (standalone mode, tests). */
	unsigned n_endpoints, n_routes, n_vteps;
	struct nsdp_endpoint endpoints[DP_MAX_STATIC];
	struct nsdp_route routes[DP_MAX_STATIC];
	struct nsdp_vtep vteps[DP_MAX_STATIC];
};

/* The configuration used when no -c FILE is given. */
extern const char dp_default_config[];

/*
 * Parse `text` (named `source` in messages) into cfg.
 * Returns 0, or -EINVAL with a message "SOURCE:LINE: ..." in err.
 */
int dp_config_parse(const char *text, const char *source, struct dp_config *cfg,
		    char *err, size_t errlen);

/* Read and parse FILE; FILE NULL parses dp_default_config. Same returns. */
int dp_config_load(const char *file, struct dp_config *cfg, char *err, size_t errlen);

/* Free what dp_config_parse allocated (the EAL arguments). */
void dp_config_release(struct dp_config *cfg);

/* Index of the port named `name`, or -1. */
int dp_config_port_index(const struct dp_config *cfg, const char *name);

#endif
