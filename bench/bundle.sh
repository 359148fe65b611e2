#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Pack nsdp-scen for a machine without DPDK (a many-core box lent for a
# scaling run): the binary, every library it loads but glibc's, the PMDs
# it needs (net_null, bus_vdev, mempool_ring) and this machine's glibc
# loader, libc and libm, plus bench/bundle-run.sh. On the target, as root:
#   bash DIR/run.sh            # the multi-core runs of docs/benchmarks.md
#   bash DIR/run.sh smoke      # a 10-second check
# results under $OUT (default /tmp/out).
#
# usage: bench/bundle.sh [--build DIR] OUTDIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
if [ "${1:-}" = --build ]; then build=$(realpath "$2"); shift 2; fi
out=${1:?usage: bench/bundle.sh [--build DIR] OUTDIR}
ninja -C "$build" bench/nsdp-scen >/dev/null
pmddir=$(pkg-config --variable=pmdsdir libdpdk 2>/dev/null || true)
[ -d "$pmddir" ] || pmddir=$(ls -d /usr/lib/x86_64-linux-gnu/dpdk/pmds-* | head -1)
rm -rf "$out"
mkdir -p "$out/lib" "$out/pmds" "$out/glibc"
cp "$build/bench/nsdp-scen" "$out/"
cp "$root/bench/bundle-run.sh" "$out/run.sh"
# EAL loads a plugin directory's *.so and *.so.<ABI> files
for d in net_null bus_vdev mempool_ring; do
  f=$(ls "$pmddir"/librte_"$d".so.*.* | head -1)
  cp -L "$f" "$out/pmds/"
done
# every library of the binary and the PMDs, transitively (ldd resolves them)
for f in "$out/nsdp-scen" "$out"/pmds/*; do
  ldd "$f" | awk '$3 ~ /^\// {print $3}'
done | sort -u | while read -r l; do
  case $(basename "$l") in
    libc.so.6 | libm.so.6) cp -L "$l" "$out/glibc/" ;;
    *) cp -L "$l" "$out/lib/" ;;
  esac
done
cp -L /lib64/ld-linux-x86-64.so.2 "$out/glibc/"
du -sh "$out"
