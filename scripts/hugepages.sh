#!/usr/bin/env bash
# Reserve 2 MiB hugepages (default 512 = 1 GiB) and mount hugetlbfs if needed.
set -euo pipefail
want=${1:-512}
have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$want" ]; then
  echo "$want" > /proc/sys/vm/nr_hugepages
fi
if ! grep -q ' /dev/hugepages hugetlbfs' /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs nodev /dev/hugepages
fi
echo "hugepages: $(cat /proc/sys/vm/nr_hugepages) x 2 MiB, free $(awk '/HugePages_Free/{print $2}' /proc/meminfo)"
