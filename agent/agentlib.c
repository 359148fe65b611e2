/* SPDX-License-Identifier: Apache-2.0 */
/* nsdp-agent: kinds, logging, objects and the event queue (agent.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "flowfmt.h"

const struct ag_kind_info ag_kinds[AG_N_KINDS] = {
	[AG_NAMESPACE] = {"Namespace", "v1", "", "namespaces", "/api/v1/namespaces", false},
	[AG_POD] = {"Pod", "v1", "", "pods", "/api/v1/pods", true},
	[AG_NETPOL] = {"NetworkPolicy", "networking.k8s.io/v1", "networking.k8s.io",
		       "networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", true},
	[AG_ANP] = {"AdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1",
		    "policy.networking.k8s.io", "adminnetworkpolicies",
		    "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies", false},
	[AG_BANP] = {"BaselineAdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1",
		     "policy.networking.k8s.io", "baselineadminnetworkpolicies",
		     "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies", false},
	[AG_NODE] = {"Node", "v1", "", "nodes", "/api/v1/nodes", false},
};

volatile sig_atomic_t ag_stop_requested;
enum ag_level ag_log_level = AG_INFO;
bool ag_log_json;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

uint64_t ag_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ag_write_file_atomic(const char *path, const void *data, size_t len)
{
	char *tmp;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	FILE *f = fopen(tmp, "wb");
	int rc = 0;
	if (!f)
		rc = -errno;
	else if (fwrite(data, 1, len, f) != len || fflush(f) || fsync(fileno(f)))
		rc = -(errno ? errno : EIO);
	if (f && fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

void ag_log(enum ag_level level, const char *component, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	if (level < ag_log_level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_mu);
	if (ag_log_json) {
		fprintf(stderr, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"",
			when, ts.tv_nsec / 1000000, names[level], component);
		nsdp_json_escape(stderr, msg);
		fputs("\"}\n", stderr);
	} else {
		fprintf(stderr, "%s.%03ldZ %-5s %-9s %s\n", when, ts.tv_nsec / 1000000, names[level],
			component, msg);
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_mu);
}

/* ---------------------------------------------------------------------- */

void ag_obj_free(struct ag_obj *o)
{
	if (!o)
		return;
	free(o->key);
	k8s_cluster_free(&o->cl);
	free(o);
}

void ag_event_free(struct ag_event *ev)
{
	if (!ev)
		return;
	for (unsigned i = 0; i < ev->n_objs; i++)
		ag_obj_free(ev->objs[i]);
	free(ev->objs);
	for (unsigned i = 0; i < ev->n_keep; i++)
		free(ev->keep[i].key);
	free(ev->keep);
	free(ev->key);
	free(ev);
}

int ag_event_keep(struct ag_event *ev, enum ag_kind kind, const char *key)
{
	struct ag_key *a = realloc(ev->keep, (ev->n_keep + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	ev->keep = a;
	if (!(a[ev->n_keep].key = strdup(key)))
		return -ENOMEM;
	a[ev->n_keep++].kind = kind;
	return 0;
}

static int push_obj(struct ag_obj ***objs, unsigned *n, enum ag_kind kind, const char *ns,
		    const char *name, struct ag_obj **out)
{
	struct ag_obj **a = realloc(*objs, (*n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	*objs = a;
	struct ag_obj *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	int rc = ns ? asprintf(&o->key, "%s/%s", ns, name) : asprintf(&o->key, "%s", name);
	if (rc < 0) {
		free(o);
		return -ENOMEM;
	}
	o->kind = kind;
	a[(*n)++] = o;
	*out = o;
	return 0;
}

/* Move element i of cl's array `arr` (count `cnt`) into o->cl. */
#define MOVE_ONE(o, arr, cnt, elem)                                   \
	do {                                                          \
		(o)->cl.arr = malloc(sizeof(*(o)->cl.arr));           \
		if (!(o)->cl.arr)                                     \
			return -ENOMEM;                               \
		(o)->cl.arr[0] = (elem);                              \
		(o)->cl.cnt = 1;                                      \
		memset(&(elem), 0, sizeof(elem));                     \
	} while (0)

int ag_objs_from_cluster(struct k8s_cluster *cl, struct ag_obj ***objs, unsigned *n)
{
	struct ag_obj *o;
	int rc = 0;
	for (unsigned i = 0; i < cl->n_namespaces && !rc; i++) {
		if (!(rc = push_obj(objs, n, AG_NAMESPACE, NULL, cl->namespaces[i].name, &o)))
			MOVE_ONE(o, namespaces, n_namespaces, cl->namespaces[i]);
	}
	for (unsigned i = 0; i < cl->n_pods && !rc; i++) {
		if (!(rc = push_obj(objs, n, AG_POD, cl->pods[i].ns, cl->pods[i].name, &o)))
			MOVE_ONE(o, pods, n_pods, cl->pods[i]);
	}
	for (unsigned i = 0; i < cl->n_netpols && !rc; i++) {
		if (!(rc = push_obj(objs, n, AG_NETPOL, cl->netpols[i].ns, cl->netpols[i].name, &o)))
			MOVE_ONE(o, netpols, n_netpols, cl->netpols[i]);
	}
	for (unsigned i = 0; i < cl->n_anps && !rc; i++) {
		enum ag_kind k = cl->anps[i].baseline ? AG_BANP : AG_ANP;
		if (!(rc = push_obj(objs, n, k, NULL, cl->anps[i].name, &o)))
			MOVE_ONE(o, anps, n_anps, cl->anps[i]);
	}
	for (unsigned i = 0; i < cl->n_nodes && !rc; i++) {
		if (!(rc = push_obj(objs, n, AG_NODE, NULL, cl->nodes[i].name, &o)))
			MOVE_ONE(o, nodes, n_nodes, cl->nodes[i]);
	}
	/* What was moved out is zeroed; free the rest (nothing on success). */
	k8s_cluster_free(cl);
	return rc;
}

/* ---------------------------------------------------------------------- */

void ag_queue_init(struct ag_queue *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
}

void ag_queue_push(struct ag_queue *q, struct ag_event *ev)
{
	ev->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = ev;
	else
		q->head = ev;
	q->tail = ev;
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void ag_queue_synced(struct ag_queue *q, unsigned mask)
{
	pthread_mutex_lock(&q->mu);
	q->synced_mask |= mask;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void ag_queue_stop(struct ag_queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* ---------------------------------------------------------------------- */

struct ag_metrics ag_m;
const double ag_lat_bounds[AG_LAT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					      0.25,  0.5,    1,     2.5,  5,     10,  30};

void ag_metrics_observe_latency(uint64_t ns)
{
	double s = (double)ns / 1e9;
	unsigned i = 0;
	while (i < AG_LAT_BUCKETS && s > ag_lat_bounds[i])
		i++;
	atomic_fetch_add(&ag_m.lat_bucket[i], 1);
	atomic_fetch_add(&ag_m.lat_count, 1);
	atomic_fetch_add(&ag_m.lat_sum_ns, ns);
}
