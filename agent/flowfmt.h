/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow-log records as JSON lines: the FLOWLOG_READ reply walked record by
 * record, and one record formatted. Shared by nsdp-agent (--flow-log,
 * names of every pod of the cluster) and `nsdpctl flowlog` (standalone
 * dataplanes: names of this node's endpoints). See docs/operations.md,
 * "Flow logs", for the fields.
 */
#ifndef NSDP_AGENT_FLOWFMT_H
#define NSDP_AGENT_FLOWFMT_H

#include <stdint.h>
#include <stdio.h>

#include <nsdp/proto.h>

/* s as the inside of a JSON string (quotes, backslashes, controls escaped). */
void nsdp_json_escape(FILE *f, const char *s);

/* The pod with address ip (network order) as "namespace\0pod", or NULL. */
typedef const char *(*nsdp_pod_name_fn)(void *arg, uint32_t ip);

/* One record as one JSON line (newline included). */
void nsdp_flowlog_format(FILE *f, const char *node, const struct nsdp_flowlog_rec *r,
			 const char *rule, nsdp_pod_name_fn name, void *arg);

/*
 * Call each(arg, record, rule name) for every record of a FLOWLOG_READ
 * reply; *h gets its header. Returns the records walked, or -1 when the
 * reply is shorter than its header says (the records before that are
 * walked).
 */
int nsdp_flowlog_each(const void *reply, uint32_t len, struct nsdp_flowlog_hdr *h,
		      void (*each)(void *arg, const struct nsdp_flowlog_rec *r, const char *rule),
		      void *arg);

#endif
