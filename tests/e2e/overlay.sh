#!/usr/bin/env bash
# End to end: two nodes, each an nsdp-dataplane with two pods (network
# namespaces on veth + af_packet), joined by a veth underlay. Real kernel
# ICMP and TCP between pods, over VXLAN or Geneve (argument 1); a capture on
# the underlay proves the encapsulation. Prints TAP.
#
# Needs root. Cleans up its namespaces, interfaces, processes and files on
# every exit path (trap).
set -uo pipefail

. "$(dirname "$0")/lib.sh"

OVERLAY=${1:-vxlan}
WORKERS=${2:-1} # >1: several workers per node, af_packet fanout queues
DRIVER=${3:-af_packet} # how the dataplane attaches to the veths: af_packet | af_xdp
export NSDP_PREFIX="e2${OVERLAY:0:1}$WORKERS${DRIVER:3:1}$$"
export NSDP_PORT_DRIVER=$DRIVER
export NSDP_WORKERS=$WORKERS
export NSDP_OVERLAY=$OVERLAY
P=$NSDP_PREFIX

cleanup() { cluster_down; }

need_root
need_tools iperf3 tcpdump ping ethtool

plan 10
cluster_up "cluster up ($OVERLAY)" 2
ok "cluster up: 2 nodes x 2 pods, $OVERLAY, $WORKERS worker(s) per node, $DRIVER ports"

pexec() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

check "ping pod-11 -> pod-12 (same node)" pexec "${P}p11" ping -c 3 -i 0.2 -W 2 10.244.1.3

# Capture the underlay on both nodes while pods talk across nodes (the
# dataplanes send with PACKET_QDISC_BYPASS, so a node's capture sees what it
# receives). Started directly so $! is tcpdump itself; TERM, because
# background jobs of a script ignore INT.
port=4789; [ "$OVERLAY" = geneve ] && port=6081
caps=()
for nn in 1 2; do
	ip netns exec "${P}n$nn" tcpdump -i ul -nn -U -w "$TMP/ul$nn.pcap" "udp port $port" >/dev/null 2>&1 &
	caps+=($!)
done
sleep 1
check "ping pod-11 -> pod-21 (across nodes)" pexec "${P}p11" ping -c 5 -i 0.2 -W 2 10.244.2.2
check "ping pod-22 -> pod-12 (across nodes, other pair)" pexec "${P}p22" ping -c 5 -i 0.2 -W 2 10.244.1.3
sleep 0.5
kill -TERM "${caps[@]}" 2>/dev/null; wait "${caps[@]}" 2>/dev/null

# Both captures must show encapsulated ICMP between the VTEPs with VNI 42.
# tcpdump prints VXLAN's inner headers on a second line: join continuation
# lines (those not starting with a timestamp) to their packet's line.
want=VXLAN; [ "$OVERLAY" = geneve ] && want=Geneve
for nn in 1 2; do tcpdump -nn -r "$TMP/ul$nn.pcap" 2>/dev/null; done |
	awk '/^[0-9][0-9]:/ { if (l) print l; l = $0; next } { l = l " " $0 } END { if (l) print l }' >"$TMP/ul.txt"
fwd=$(grep -c "192.168.100.1.[0-9]* > 192.168.100.2.$port: $want.*vni (42|0x2a).* 10.244.1.2 > 10.244.2.2: ICMP echo request" -E "$TMP/ul.txt")
rev=$(grep -c "192.168.100.2.[0-9]* > 192.168.100.1.$port: $want.*vni (42|0x2a).* 10.244.2.2 > 10.244.1.2: ICMP echo reply" -E "$TMP/ul.txt")
if [ "$DRIVER" = af_xdp ]; then
	# XDP redirects frames to the socket before the kernel's packet taps.
	skip "underlay capture: af_xdp traffic bypasses tcpdump"
elif [ "$fwd" -ge 5 ] && [ "$rev" -ge 5 ]; then
	ok "underlay capture: $fwd requests and $rev replies encapsulated in $want with VNI 42"
else
	not_ok "underlay capture: $fwd requests, $rev replies in $want with VNI 42 (want >= 5 each)"
	head -20 "$TMP/ul.txt" | sed 's/^/# /'
fi

# A real TCP transfer across nodes.
ip netns exec "${P}p21" iperf3 -s -1 -p 5201 >"$TMP/iperf-s.log" 2>&1 &
srv=$!
sleep 0.5
if pexec "${P}p11" timeout 30 iperf3 -c 10.244.2.2 -p 5201 -t 3 -J >"$TMP/iperf.json" 2>&1; then
	gbps=$($PY -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.2f' % (d['end']['sum_received']['bits_per_second']/1e9))" "$TMP/iperf.json")
	bytes=$($PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['end']['sum_received']['bytes'])" "$TMP/iperf.json")
	if [ "$bytes" -gt 10000000 ]; then
		ok "iperf3 TCP pod-11 -> pod-21 across nodes: $gbps Gbit/s, $bytes bytes received"
	else
		not_ok "iperf3 TCP moved only $bytes bytes"
	fi
else
	not_ok "iperf3 TCP pod-11 -> pod-21"
	sed 's/^/# /' "$TMP/iperf.json" | tail -5
fi
wait $srv 2>/dev/null

# The dataplane saw the flows: conntrack has entries and counters moved.
SOCK1=/tmp/nsdp-cluster-$P/n1.sock
check "nsdpctl flows lists the TCP flow" bash -c "'$NSDP_CTL' -s '$SOCK1' flows | grep -q '10.244.2.2'"
drops=$("$NSDP_CTL" -s "$SOCK1" drops 2>&1)
# A pod that does not exist: dropped and counted as no-endpoint on node 2.
pexec "${P}p11" ping -c 2 -i 0.2 -W 1 10.244.2.99 >/dev/null 2>&1
if "$NSDP_CTL" -s "/tmp/nsdp-cluster-$P/n2.sock" --json drops | grep -q '"no-endpoint": *[1-9]'; then
	ok "ping to a missing pod is dropped as no-endpoint on the remote node"
else
	not_ok "no-endpoint drop not counted"
	"$NSDP_CTL" -s "/tmp/nsdp-cluster-$P/n2.sock" drops 2>&1 | sed 's/^/# /'
fi
# Table updates under traffic lose nothing: 400 pings at 5 ms while the
# control socket commits ~200 generations of unrelated endpoint and route
# changes on both nodes (each one a full table rebuild + RCU publication).
gen0=$("$NSDP_CTL" -s "$SOCK1" --json info | $PY -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
(
	for i in $(seq 1 50); do
		for nn in 1 2; do
			s=/tmp/nsdp-cluster-$P/n$nn.sock
			"$NSDP_CTL" -s "$s" ep add "10.244.$nn.$((100 + i))" p2 02:00:00:00:09:01 --name churn/x >/dev/null
			"$NSDP_CTL" -s "$s" route add "10.250.$i.0/24" via 192.168.100.$((3 - nn)) >/dev/null
		done
	done
	for i in $(seq 1 50); do
		for nn in 1 2; do
			s=/tmp/nsdp-cluster-$P/n$nn.sock
			"$NSDP_CTL" -s "$s" ep del "10.244.$nn.$((100 + i))" >/dev/null
			"$NSDP_CTL" -s "$s" route del "10.250.$i.0/24" >/dev/null
		done
	done
) &
churn=$!
pexec "${P}p11" ping -q -c 400 -i 0.005 -W 2 10.244.2.2 >"$TMP/ping.txt" 2>&1
wait $churn
gen1=$("$NSDP_CTL" -s "$SOCK1" --json info | $PY -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
loss=$(grep -o '[0-9.]*% packet loss' "$TMP/ping.txt")
if [ "$loss" = "0% packet loss" ] && [ $((gen1 - gen0)) -ge 200 ]; then
	ok "400 pings across nodes during $((gen1 - gen0)) table generations on node-1: $loss"
else
	not_ok "pings during table updates: $loss, $((gen1 - gen0)) generations (want 0% and >= 200)"
	sed 's/^/# /' "$TMP/ping.txt"
fi

# Every configured worker runs and reports its counters (which flows a
# worker gets depends on the af_packet fanout hash, so only print those).
nl=$("$NSDP_CTL" -s "$SOCK1" --json stats | $PY -c '
import json, sys
d = json.load(sys.stdin)
for lc in d["lcores"]:
    rx = sum(p["rx_pkts"] for p in lc["ports"].values())
    print("# lcore %d: %d packets received" % (lc["lcore"], rx), file=sys.stderr)
print(len(d["lcores"]))')
if [ "$nl" = "$WORKERS" ]; then
	ok "node-1 runs $nl worker(s)"
else
	not_ok "node-1 reports $nl workers, configured $WORKERS"
fi

echo "# node-1 drops after the run:"
echo "$drops" | sed 's/^/#   /'
tap_status
