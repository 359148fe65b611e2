/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The thin C shim between the C++ (Google Test) tests and nsdp's C code.
 * Tests include this header only; it brings the dataplane's C headers in
 * with C linkage and offers the few helpers that are awkward from C++
 * (EAL bring-up, mbufs from byte buffers).
 */
#ifndef NSDP_TEST_SHIM_H
#define NSDP_TEST_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <nsdp/drop.h>
#include <nsdp/proto.h>

#include "config.h"
#include "conntrack.h"

struct rte_mbuf;
struct rte_mempool;

/*
 * Start DPDK's EAL once per process: no hugepages, no PCI, a private file
 * prefix. Returns 0 or -errno. Safe to call repeatedly.
 */
int shim_eal_init(void);

/* The shared test mbuf pool (after shim_eal_init). */
struct rte_mempool *shim_pool(void);

/* A single-segment mbuf holding a copy of data[0..len). NULL on failure. */
struct rte_mbuf *shim_mbuf_from(const void *data, unsigned len);

/* The mbuf's first segment: *data and its length. */
unsigned shim_mbuf_data(const struct rte_mbuf *m, const uint8_t **data);

void shim_mbuf_free(struct rte_mbuf *m);

/* Mbufs of the shared pool currently in use (leak checks). */
unsigned shim_pool_in_use(void);

#ifdef __cplusplus
}
#endif

#endif
