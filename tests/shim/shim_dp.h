/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dataplane-instance headers for the C++ tests, in one place.
 * dp.h declares the published table pointer with C11 _Atomic(), which C++17
 * lacks. The tests touch that pointer only through the C code, and an
 * _Atomic pointer has the size and alignment of a plain one on every ABI
 * DPDK supports, so C++ sees it as a plain pointer.
 */
#ifndef NSDP_TEST_SHIM_DP_H
#define NSDP_TEST_SHIM_DP_H

#include "shim.h"

#ifdef __cplusplus
#define _Atomic(T) T
extern "C" {
#endif

#include "ctl.h"
#include "dp.h"
#include "overlay.h"
#include "pkt.h"
#include "tables.h"

#ifdef __cplusplus
}
#undef _Atomic
#endif

#endif
