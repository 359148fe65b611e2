/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsdp-agent: the parts shared by its threads.
 *
 *   sources (one thread per watched kind for the API server, or one
 *   inotify thread for a manifests directory)
 *        |  parse objects (k8s.c), push ag_events
 *        v
 *   event queue (mutex + condvar)  --->  sync thread: informer cache
 *        (store.c), batch, compile policy, diff routes/VTEPs, push to the
 *        dataplane, await the ACK (sync.c)
 *
 *   metrics/health HTTP thread (metrics.c) reads atomic counters.
 *
 * The cache is owned by the sync thread alone, so sources never share
 * objects with it: an event hands its objects over.
 */
#ifndef NSDP_AGENT_AGENT_H
#define NSDP_AGENT_AGENT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "k8s.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds the agent watches. Services and EndpointSlices come later:
 * add them here, in kapi.c's resource table and in deploy/rbac.yaml. */
enum ag_kind {
	AG_NAMESPACE,
	AG_POD,
	AG_NETPOL,
	AG_ANP,
	AG_BANP,
	AG_NODE,
	AG_N_KINDS,
};

struct ag_kind_info {
	const char *kind;       /* "Pod" */
	const char *api_version; /* "v1" */
	const char *group;      /* "" for core; for RBAC messages */
	const char *resource;   /* "pods" */
	const char *path;       /* "/api/v1/pods" (cluster-wide list/watch) */
	bool namespaced;
};
extern const struct ag_kind_info ag_kinds[AG_N_KINDS];

/* ---------------------------------------------------------------------- */
/* Logging: text or JSON lines on stderr.                                   */

enum ag_level { AG_DEBUG, AG_INFO, AG_WARN, AG_ERROR };
extern enum ag_level ag_log_level;
extern bool ag_log_json;

/* component: "kapi", "sync", ...; the message is printf-formatted. */
void ag_log(enum ag_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

uint64_t ag_now_ns(void); /* CLOCK_MONOTONIC */


/* Write data to path atomically (a temporary file renamed over it).
 * 0 or -errno. */
int ag_write_file_atomic(const char *path, const void *data, size_t len);

/* ---------------------------------------------------------------------- */
/* Objects and events                                                      */

/* One object: a k8s_cluster holding exactly one object of `kind`. */
struct ag_obj {
	enum ag_kind kind;
	char *key; /* "ns/name" or "name" */
	struct k8s_cluster cl;
};

enum ag_ev_type {
	AG_EV_UPSERT,  /* obj added or modified */
	AG_EV_DELETE,  /* key deleted */
	AG_EV_REPLACE, /* the complete set of `kind` (a relist), or of every
			* kind when kind == AG_N_KINDS (a manifests reload) */
	AG_EV_REJECT,  /* a bad add/modify of key: keep what the cache has */
};

/* An object by kind and key ("ns/name" or "name"). */
struct ag_key {
	enum ag_kind kind;
	char *key;
};

struct ag_event {
	struct ag_event *next;
	enum ag_ev_type type;
	enum ag_kind kind;
	char *key;             /* DELETE, REJECT */
	unsigned n_objs;       /* UPSERT: 1; REPLACE: any */
	struct ag_obj **objs;
	/* REPLACE: objects the source still has but could not decode (a bad
	 * new version): the cache keeps its last good version of each. An
	 * object absent from both objs and keep goes. */
	unsigned n_keep;
	struct ag_key *keep;
	uint64_t t_ns;         /* when the source received it */
};

/* Add (kind, a copy of key) to ev->keep. 0 or -ENOMEM. */
int ag_event_keep(struct ag_event *ev, enum ag_kind kind, const char *key);

/* Split a loaded cluster into single-object ag_objs (moving ownership; cl
 * is left empty). Appends to *objs / *n. 0 or -ENOMEM. */
int ag_objs_from_cluster(struct k8s_cluster *cl, struct ag_obj ***objs, unsigned *n);
void ag_obj_free(struct ag_obj *o);
void ag_event_free(struct ag_event *ev);

struct ag_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ag_event *head, *tail;
	unsigned n;
	/* Initial sync: kinds a source has delivered in full at least once
	 * (bit per enum ag_kind). */
	unsigned synced_mask;
	bool stop;
};

void ag_queue_init(struct ag_queue *q);
void ag_queue_push(struct ag_queue *q, struct ag_event *ev);
/* Mark kinds as fully listed (bits of enum ag_kind). */
void ag_queue_synced(struct ag_queue *q, unsigned mask);
void ag_queue_stop(struct ag_queue *q);

/* ---------------------------------------------------------------------- */
/* Metrics (Prometheus text over HTTP, metrics.c)                          */

#define AG_LAT_BUCKETS 14
struct ag_metrics {
	atomic_ulong events[AG_N_KINDS][3]; /* upsert, delete, replace */
	atomic_ulong objects[AG_N_KINDS];
	atomic_ulong rejected[AG_N_KINDS];
	atomic_ulong watch_restarts[AG_N_KINDS];
	atomic_ulong relists[AG_N_KINDS];
	atomic_ulong errors_http[AG_N_KINDS];   /* 5xx, 4xx other than below */
	atomic_ulong errors_auth[AG_N_KINDS];   /* 401 */
	atomic_ulong errors_forbidden[AG_N_KINDS]; /* 403 */
	atomic_ulong errors_conn[AG_N_KINDS];   /* connect/TLS/stream cut */
	atomic_ulong errors_decode[AG_N_KINDS]; /* not JSON, bad event */
	atomic_ulong syncs, sync_failures, dataplane_connects;
	atomic_ulong lat_bucket[AG_LAT_BUCKETS + 1]; /* +Inf last */
	atomic_ulong lat_count;
	atomic_ulong lat_sum_ns;
	atomic_ulong generation;
	atomic_ulong policy_bytes, policy_compile_ns, policy_compile_cpu_ns;
	atomic_ulong policy_compiles[3]; /* full, pods-only, policy (polcomp.h) */
	atomic_ulong flowlog_records, flowlog_write_errors, flowlog_dataplane_lost;
	atomic_bool ready, dataplane_up;
};
extern struct ag_metrics ag_m;
extern const double ag_lat_bounds[AG_LAT_BUCKETS]; /* seconds */

void ag_metrics_observe_latency(uint64_t ns);

/* The dataplane whose counters /metrics also exports (set before start). */
extern const char *ag_dp_socket;

/* Serve /metrics, /healthz and /readyz on addr ("127.0.0.1:9464",
 * ":9464"). Starts a thread; 0 or -errno. */
int ag_metrics_start(const char *addr);

/* ---------------------------------------------------------------------- */
/* Flow logs (flowlog.c)                                                   */

struct ag_flowlog_options {
	const char *socket;   /* the dataplane's control socket */
	const char *path;     /* output file, "-" for stdout */
	const char *node;     /* this node's name, in every record */
	unsigned interval_ms; /* how often to take the dataplane's records */
};

/* Open the output and start the writer thread; 0 or -errno. The thread
 * stops when ag_stop_requested is set; ag_flowlog_stop waits for it. */
int ag_flowlog_start(const struct ag_flowlog_options *o);
void ag_flowlog_stop(void);

/* The sync thread: the cluster's pods (for names in records). No-op while
 * flow logging is off. */
void ag_flowlog_pods(const struct k8s_cluster *cl);


/* ---------------------------------------------------------------------- */
/* Sources                                                                 */

/* Manifests directories, reloaded on change (inotify). */
int ag_manifests_start(struct ag_queue *q, const char *const *dirs, unsigned n_dirs);

struct kapi_config;
/* The API server: kubeconfig path, or NULL for in-cluster configuration.
 * On failure, a message naming the file and field is logged. */
struct kapi_config *kapi_config_load(const char *kubeconfig);
void kapi_config_free(struct kapi_config *cfg);
struct kapi_options {
	double stall_timeout_s; /* no byte on a watch for this long: reconnect */
	double backoff_max_s;
	unsigned page_size;
};
int kapi_start(struct ag_queue *q, struct kapi_config *cfg, const struct kapi_options *opt);

/* ---------------------------------------------------------------------- */
/* Sync                                                                    */

struct ag_sync_options {
	const char *socket;     /* dataplane control socket */
	const char *node;       /* this node's name (Node objects) */
	unsigned batch_ms;      /* quiet time that closes a batch */
	unsigned batch_max_ms;  /* a batch never waits longer than this */
	bool have_gw_mac;       /* --underlay-gateway-mac */
	uint8_t gw_mac[6];
	unsigned expect_mask;   /* kinds that must be listed before the first push */
	const char *policy_cache; /* write each acknowledged policy here (or NULL) */
	/* --host-route IFACE: keep the node's route to its own pod CIDRs via
	 * host_route_via on IFACE (onlink), with source host_ip (0: the
	 * Node's InternalIP); NULL: not managed. Network order. */
	const char *host_route;
	uint32_t host_route_via;
	uint32_t host_ip;
};

/* rtnetlink protocol of the routes nsdp-agent sets (`ip route show proto 110`). */
#define AG_RTPROT_NSDP 110

/*
 * Add (replace) or delete the route prefix/len via `via` dev ifname onlink
 * [src src] (addresses in network order; src 0: none) in this network
 * namespace's main table. 0, or -errno with the reason in err.
 */
int ag_host_route(bool add, const char *ifname, uint32_t prefix, uint8_t len, uint32_t via,
		  uint32_t src, char *err, size_t errlen);

/* Set from a signal handler (async-signal-safe); the sync loop stops
 * within its 200 ms idle wait. */
extern volatile sig_atomic_t ag_stop_requested;

/* Runs until the queue is stopped or ag_stop_requested is set. */
void ag_sync_run(struct ag_queue *q, const struct ag_sync_options *opt);

#ifdef __cplusplus
}
#endif

#endif
