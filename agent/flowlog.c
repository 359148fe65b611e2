/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow logs (issue 7, docs/observability.md): a thread that takes the
 * dataplane's flow-log records (NSDP_MSG_FLOWLOG_READ) on its own control
 * connection and writes them as JSON lines, one record a line, with the
 * pods' namespaces and names from the agent's cache.
 *
 * The sync thread publishes the pod addresses (ag_flowlog_pods) as an
 * immutable table swapped under `mu`; the writer thread looks names up
 * under the same lock. The output file is opened O_APPEND and reopened
 * when it is renamed or removed (log rotation).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nsdp/proto.h>

#include "agent.h"
#include "ctlclient.h"
#include "flowfmt.h"

/* Pod addresses: sorted by address; names in one arena "ns\0name\0". */
struct pod_names {
	size_t n;
	struct pod_addr {
		uint32_t ip; /* host order, the sort key */
		uint32_t off; /* namespace at arena + off, name after its NUL */
	} *addr;
	char *arena;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct pod_names *names; /* under mu */
static atomic_bool enabled;

static void names_free(struct pod_names *p)
{
	if (!p)
		return;
	free(p->addr);
	free(p->arena);
	free(p);
}

static int cmp_addr(const void *a, const void *b)
{
	uint32_t x = ((const struct pod_addr *)a)->ip, y = ((const struct pod_addr *)b)->ip;
	return x < y ? -1 : x > y;
}

void ag_flowlog_pods(const struct k8s_cluster *cl)
{
	if (!atomic_load(&enabled))
		return;
	struct pod_names *p = calloc(1, sizeof(*p));
	size_t n = 0, bytes = 0;
	for (uint32_t i = 0; i < cl->n_pods; i++) {
		n += cl->pods[i].n_ips;
		bytes += strlen(cl->pods[i].ns) + strlen(cl->pods[i].name) + 2;
	}
	if (!p || !(p->addr = malloc((n + 1) * sizeof(*p->addr))) ||
	    !(p->arena = malloc(bytes + 1))) {
		names_free(p);
		ag_log(AG_WARN, "flowlog", "pod names: out of memory; keeping the previous ones");
		return;
	}
	size_t off = 0;
	for (uint32_t i = 0; i < cl->n_pods; i++) {
		const struct k8s_pod *pod = &cl->pods[i];
		for (unsigned k = 0; k < pod->n_ips; k++)
			p->addr[p->n++] = (struct pod_addr){ntohl(pod->ips[k]), (uint32_t)off};
		off += (size_t)sprintf(p->arena + off, "%s", pod->ns) + 1;
		off += (size_t)sprintf(p->arena + off, "%s", pod->name) + 1;
	}
	qsort(p->addr, p->n, sizeof(*p->addr), cmp_addr);
	pthread_mutex_lock(&mu);
	struct pod_names *old = names;
	names = p;
	pthread_mutex_unlock(&mu);
	names_free(old);
}

/* "ns\0name" of the pod with address ip (network order), or NULL. Under mu. */
static const char *pod_of(uint32_t ip)
{
	if (!names)
		return NULL;
	uint32_t a = ntohl(ip);
	size_t lo = 0, hi = names->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (names->addr[mid].ip == a)
			return names->arena + names->addr[mid].off;
		if (names->addr[mid].ip < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* nsdp_pod_name_fn over the published table; the caller holds mu. */
static const char *pod_name(void *arg, uint32_t ip)
{
	(void)arg;
	return pod_of(ip);
}

/* ---- the writer thread ------------------------------------------------------ */

static struct ag_flowlog_options opt;

/* The output: stdout for "-", else the file, reopened after rotation. */
static int out_fd = -1;
static ino_t out_ino;
static uint64_t out_checked_ns;

static int out_open(void)
{
	if (!strcmp(opt.path, "-")) {
		out_fd = STDOUT_FILENO;
		return 0;
	}
	int fd = open(opt.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		ag_log(AG_ERROR, "flowlog", "%s: %s", opt.path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	out_fd = fd;
	out_ino = st.st_ino;
	return 0;
}

/* Once a second: has the file been rotated away? Then reopen. */
static void out_check(void)
{
	uint64_t now = ag_now_ns();
	if (out_fd == STDOUT_FILENO || now - out_checked_ns < 1000000000ull)
		return;
	out_checked_ns = now;
	struct stat st;
	if (out_fd >= 0 && stat(opt.path, &st) == 0 && st.st_ino == out_ino)
		return;
	if (out_fd >= 0)
		close(out_fd);
	out_fd = -1;
	if (out_open() == 0)
		ag_log(AG_INFO, "flowlog", "%s: reopened", opt.path);
}

static void out_write(const char *buf, size_t len)
{
	if (out_fd < 0 && out_open() < 0) {
		atomic_fetch_add(&ag_m.flowlog_write_errors, 1);
		return;
	}
	while (len) {
		ssize_t w = write(out_fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			atomic_fetch_add(&ag_m.flowlog_write_errors, 1);
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

/* Under mu (the pod table is read while formatting). */
static void format_one(void *arg, const struct nsdp_flowlog_rec *r, const char *rule)
{
	nsdp_flowlog_format(arg, opt.node, r, rule, pod_name, NULL);
}

/* Take and write what the dataplane has queued. 0, or -1 when the
 * connection failed. */
static int drain(struct nsdp_client *c)
{
	for (;;) {
		struct nsdp_flowlog_req q = {0};
		void *reply = NULL;
		uint32_t len = 0;
		if (nsdp_client_request(c, NSDP_MSG_FLOWLOG_READ, &q, sizeof(q), &reply, &len) < 0)
			return -1;
		struct nsdp_flowlog_hdr h = {0};
		char *out = NULL;
		size_t out_len = 0;
		FILE *f = open_memstream(&out, &out_len);
		pthread_mutex_lock(&mu);
		int n = f ? nsdp_flowlog_each(reply, len, &h, format_one, f) : 0;
		pthread_mutex_unlock(&mu);
		if (f)
			fclose(f);
		free(reply);
		if (n < 0 || (uint32_t)n != h.count)
			ag_log(AG_WARN, "flowlog", "a FLOWLOG_READ reply of %u bytes ends inside a record",
			       len);
		atomic_store(&ag_m.flowlog_dataplane_lost, h.lost);
		out_check();
		if (out)
			out_write(out, out_len);
		free(out);
		if (n > 0)
			atomic_fetch_add(&ag_m.flowlog_records, (unsigned long)n);
		if (h.pending == 0 || n <= 0)
			return 0;
	}
}

static void *run(void *arg)
{
	(void)arg;
	struct nsdp_client c;
	bool connected = false;
	while (!ag_stop_requested) {
		if (!connected) {
			connected = nsdp_client_connect(&c, opt.socket, 2000) == 0;
			if (!connected) {
				sleep(1);
				continue;
			}
		}
		if (drain(&c) < 0) {
			ag_log(AG_WARN, "flowlog", "dataplane %s: %s; reconnecting", opt.socket,
			       nsdp_client_error(&c));
			nsdp_client_close(&c);
			connected = false;
			continue;
		}
		struct timespec ts = {opt.interval_ms / 1000, (long)(opt.interval_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	if (connected) {
		drain(&c); /* what is left at shutdown */
		nsdp_client_close(&c);
	}
	return NULL;
}

static pthread_t thread;

int ag_flowlog_start(const struct ag_flowlog_options *o)
{
	opt = *o;
	if (!opt.interval_ms)
		opt.interval_ms = 200;
	if (out_open() < 0)
		return -EIO;
	atomic_store(&enabled, true);
	int rc = pthread_create(&thread, NULL, run, NULL);
	if (rc) {
		atomic_store(&enabled, false);
		return -rc;
	}
	pthread_setname_np(thread, "flowlog");
	return 0;
}

void ag_flowlog_stop(void)
{
	if (!atomic_load(&enabled))
		return;
	pthread_join(thread, NULL);
	atomic_store(&enabled, false);
}
