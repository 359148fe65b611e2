/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shim.h"

static int eal_state; /* 0 not started, 1 ok, <0 failed */
static struct rte_mempool *pool;
static char runtime_dir[256];

/* EAL leaves its runtime directory behind; tests leave nothing. */
static void shim_cleanup(void)
{
	rte_eal_cleanup();
	if (runtime_dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", runtime_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "shim: could not remove %s\n", runtime_dir);
	}
}

int shim_eal_init(void)
{
	if (eal_state)
		return eal_state > 0 ? 0 : eal_state;

	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=nsdp-test-%d", (int)getpid());
	char *argv[] = {
		(char *)"nsdp-test", (char *)"--no-huge", (char *)"--no-pci",
		(char *)"-m", (char *)"512", (char *)"-l", (char *)"0",
		prefix, (char *)"--log-level=lib.eal:error",
		(char *)"--no-telemetry", NULL,
	};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	if (rte_eal_init(argc, argv) < 0) {
		eal_state = -rte_errno;
		return eal_state;
	}
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	atexit(shim_cleanup);
	pool = rte_pktmbuf_pool_create("shim_pool", 8191, 256, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!pool) {
		eal_state = -rte_errno;
		return eal_state;
	}
	eal_state = 1;
	return 0;
}

struct rte_mempool *shim_pool(void)
{
	return pool;
}

struct rte_mbuf *shim_mbuf_from(const void *data, unsigned len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (!m)
		return NULL;
	char *p = rte_pktmbuf_append(m, (uint16_t)len);
	if (!p) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(p, data, len);
	return m;
}

unsigned shim_mbuf_data(const struct rte_mbuf *m, const uint8_t **data)
{
	*data = rte_pktmbuf_mtod(m, const uint8_t *);
	return m->data_len;
}

void shim_mbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

unsigned shim_pool_in_use(void)
{
	return rte_mempool_in_use_count(pool);
}
