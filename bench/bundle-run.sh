#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The multi-core runs of docs/benchmarks.md (*Multi-core*), from a bundle
# made by bench/bundle.sh, on a machine without DPDK. Root: it installs the
# bundle's PMDs where EAL looks for plugins and reserves hugepages (or runs
# with --no-huge). usage: run.sh [full|smoke]; results under $OUT.
set -u
B=$(cd "$(dirname "$0")" && pwd)
O=${OUT:-/tmp/out}
mkdir -p "$O"
pmds=$(grep -aoE "DPDK_PLUGIN_PATH=[^[:cntrl:]]+" "$B"/lib/librte_eal.so.* | head -1 | cut -d= -f2)
pmds=${pmds:-/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0}
mkdir -p "$pmds" && cp "$B"/pmds/* "$pmds/"
RUN=("$B/glibc/ld-linux-x86-64.so.2" --library-path "$B/lib:$B/glibc" "$B/nsdp-scen")
NH=()
grep -q hugetlbfs /proc/mounts || { mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages; }
echo "${HUGEPAGES:-3072}" >/proc/sys/vm/nr_hugepages 2>/dev/null
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "${free:-0}" -lt 2500 ]; then NH=(--no-huge --mem 8192); fi
echo "hugepages free: ${free:-0}${NH[*]:+ (running ${NH[*]})}"
run() { # name timeout args...
  local name=$1 t=$2
  shift 2
  echo "== $name: nsdp-scen $*" | tee -a "$O/summary.txt"
  timeout "$t" "${RUN[@]}" "${NH[@]}" "$@" --json "$O/$name.json" >"$O/$name.txt" 2>&1
  echo "rc=$?" >>"$O/$name.txt"
  grep -E '^(mc|--)|rc=|NOT OK|rror' "$O/$name.txt" | tee -a "$O/summary.txt"
}
{ lscpu; grep -E 'MemTotal|Huge' /proc/meminfo; uname -a; } >"$O/machine.txt" 2>&1
n=$(nproc)
run smoke 60 --groups mc --mc-workers 1,2 --reps 1 --seconds 0.2 --warm-seconds 0.05 --flows 10k --ct-size 1M
grep -q 'rc=0' "$O/smoke.txt" || { tail -30 "$O/smoke.txt"; exit 1; }
[ "${1:-full}" = smoke ] && exit 0
mc=1
for ((w = 2; w < n - 1; w *= 2)); do mc+=",$w"; done
mc+=",$((n - 1))"
run mc100k 150 --groups mc --mc-workers "$mc" --ct-size 8M --flows 100k --seconds 1 --reps 5 --warm-seconds 0.3
# the control: one worker while the other cores spin (power management)
spin=()
for c in $(seq 2 $((n - 1))); do
  taskset -c "$c" sh -c 'while :; do :; done' &
  spin+=($!)
done
run spin1 40 --groups mc --mc-workers 1 --ct-size 8M --flows 100k --seconds 1 --reps 5 --warm-seconds 0.3
kill "${spin[@]}" 2>/dev/null
wait 2>/dev/null
run mc1m 150 --groups mc --mc-workers "1,4,$((n - 1))" --ct-size 8M --flows 1M --seconds 1 --reps 3 --warm-seconds 0.3
