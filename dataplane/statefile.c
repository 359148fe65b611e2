/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp.h"
#include "port.h"
#include "statefile.h"

#define STATE_MAGIC 0x5453534eu /* "NSST" */
#define STATE_VERSION 1

struct state_hdr {
	uint32_t magic, version;
	uint64_t generation;
	uint32_t n_ports, n_eps, n_routes, n_vteps;
	/* then nsdp_port_req[n_ports], nsdp_endpoint[n_eps],
	 * nsdp_route[n_routes], nsdp_vtep[n_vteps] */
};

int dp_state_save(struct dp *dp)
{
	const char *path = dp->cfg.state_file;
	if (!path[0])
		return 0;
	const struct dp_table_state *s = &dp->state;
	struct state_hdr h = {
		.magic = STATE_MAGIC,
		.version = STATE_VERSION,
		.generation = dp->generation,
		.n_eps = s->n_eps,
		.n_routes = s->n_routes,
		.n_vteps = s->n_vteps,
	};
	for (unsigned i = 0; i < dp->n_ports; i++)
		h.n_ports += dp->ports[i].role && dp->ports[i].hotplug && !dp->ports[i].deleting;

	char tmp[sizeof(dp->cfg.state_file) + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	int rc = 0;
	if (!f) {
		rc = -errno;
		goto out;
	}
	bool ok = fwrite(&h, sizeof(h), 1, f) == 1;
	for (unsigned i = 0; ok && i < dp->n_ports; i++) {
		const struct dp_port *p = &dp->ports[i];
		if (p->role && p->hotplug && !p->deleting)
			ok = fwrite(&p->req, sizeof(p->req), 1, f) == 1;
	}
	ok = ok && fwrite(s->eps, sizeof(*s->eps), s->n_eps, f) == s->n_eps &&
	     fwrite(s->routes, sizeof(*s->routes), s->n_routes, f) == s->n_routes &&
	     fwrite(s->vteps, sizeof(*s->vteps), s->n_vteps, f) == s->n_vteps;
	/* No fsync: the file outlives the process, not the host (it is meant
	 * for /run), and the commit's ACK waits for this write. */
	if (!ok || fflush(f))
		rc = -(errno ? errno : EIO);
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	if (rc)
		RTE_LOG(ERR, USER1, "state_file %s: %s (the commit stands)\n", path, strerror(-rc));
	return rc;
}

/* Read n records of size sz at *off of buf (len bytes); NULL when short. */
static const void *records(const uint8_t *buf, size_t len, size_t *off, uint32_t n, size_t sz)
{
	if ((uint64_t)n * sz > len - *off)
		return NULL;
	const void *p = buf + *off;
	*off += (size_t)n * sz;
	return p;
}

void dp_state_restore(struct dp *dp)
{
	const char *path = dp->cfg.state_file;
	if (!path[0])
		return;
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno != ENOENT)
			fprintf(stderr, "nsdp-dataplane: state_file %s: %s; starting without it\n",
				path, strerror(errno));
		return;
	}
	uint8_t *buf = NULL;
	long len = -1;
	struct state_hdr h;
	const char *why = NULL;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < (long)sizeof(h) || fseek(f, 0, SEEK_SET) ||
	    !(buf = malloc((size_t)len)) || fread(buf, 1, (size_t)len, f) != (size_t)len)
		why = "cannot read it, or shorter than its header";
	fclose(f);
	if (!why) {
		memcpy(&h, buf, sizeof(h));
		if (h.magic != STATE_MAGIC || h.version != STATE_VERSION)
			why = "not a state file of this version";
	}
	size_t off = sizeof(h);
	const struct nsdp_port_req *ports = NULL;
	const struct nsdp_endpoint *eps = NULL;
	const struct nsdp_route *routes = NULL;
	const struct nsdp_vtep *vteps = NULL;
	if (!why && (!(ports = records(buf, (size_t)len, &off, h.n_ports, sizeof(*ports))) ||
		     !(eps = records(buf, (size_t)len, &off, h.n_eps, sizeof(*eps))) ||
		     !(routes = records(buf, (size_t)len, &off, h.n_routes, sizeof(*routes))) ||
		     !(vteps = records(buf, (size_t)len, &off, h.n_vteps, sizeof(*vteps))) ||
		     off != (size_t)len))
		why = "its size does not match its header";
	if (why) {
		fprintf(stderr, "nsdp-dataplane: state_file %s: %s; starting without it\n", path, why);
		free(buf);
		return;
	}

	/* Ports first (endpoints name them), then VTEPs before the routes via
	 * them. What fails (a pod's interface gone meanwhile, an entry the
	 * configuration has already) is reported and skipped. */
	char err[256];
	unsigned bad = 0, added = 0;
	for (uint32_t i = 0; i < h.n_ports; i++) {
		if (dp_port_hotplug_add(dp, &ports[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "nsdp-dataplane: state_file %s: %s; skipped\n", path, err);
			bad++;
		} else {
			added++;
		}
	}
	for (uint32_t i = 0; i < h.n_vteps; i++)
		bad += dp_state_vtep_add(&dp->state, &vteps[i], err, sizeof(err)) != 0;
	for (uint32_t i = 0; i < h.n_routes; i++)
		bad += dp_state_route_add(&dp->state, &routes[i], err, sizeof(err)) != 0;
	for (uint32_t i = 0; i < h.n_eps; i++)
		bad += dp_state_ep_add(&dp->state, &eps[i], dp_port_by_name, dp, err, sizeof(err)) != 0;
	free(buf);

	/* The workers are not running yet: publishing waits for nobody. */
	struct dp_rxq_list *lists[DP_MAX_WORKERS];
	if (added && dp_rxqs_build(dp, lists) == 0)
		dp_rxqs_publish(dp, lists);
	int rc = dp_publish(dp, h.generation > dp->generation ? h.generation : dp->generation);
	printf("nsdp-dataplane: state from %s: generation %llu, %u ports, %u endpoints, %u routes, "
	       "%u VTEPs (%u entries not restored: already configured or no longer valid)%s\n",
	       path, (unsigned long long)h.generation, added, h.n_eps, h.n_routes, h.n_vteps, bad,
	       rc ? "; publishing them failed" : "");
}
