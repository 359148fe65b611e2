#!/usr/bin/env bash
# Install what nsdp needs to build, test and run, from Debian's packages.
# Idempotent: installs only what is missing. Run as root.
set -euo pipefail

PKGS=(
  build-essential pkg-config meson ninja-build python3 libyaml-dev
  dpdk libdpdk-dev libbpf-dev libconfig-dev libhyperscan-dev
  dpdk-dev libgtest-dev libpcap-dev
  libcurl4-openssl-dev libjansson-dev
  iproute2 iputils-ping iperf3 tcpdump python3-scapy procps psmisc ethtool
  curl openssl python3-kubernetes containernetworking-plugins
  openvswitch-switch-dpdk  # OVS-DPDK, the peer of bench/pktpath.py (bench/ovs_peer.py)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
