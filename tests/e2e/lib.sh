# shellcheck shell=bash
# shellcheck disable=SC2034 # DP, CTL, PY, ...: for the scripts that source this
#
# What the end-to-end scripts share. Sourced, never run:
#
#   . "$(dirname "$0")/lib.sh"
#
# Sets ROOT (the source tree), BUILD, NSDP_DATAPLANE and NSDP_CTL (exported,
# defaults in $BUILD; DP and CTL the same), CLUSTER (scripts/cluster.sh), PY
# (a plain python3) and TMP (a fresh directory). At exit it runs the
# script's own cleanup() when the script defines one, then removes $TMP.
#
# TAP: plan N, ok DESC, not_ok DESC, skip DESC, check DESC COMMAND...,
# tap_status (the script's last command: its exit status). need_root and
# need_tools TOOL... end the test early (SKIP, Bail out!).
#
# A cluster of scripts/cluster.sh: cluster_up DESC ARGS..., cluster_down.
# One dataplane in a node namespace $NODE, run by the script itself
# (prefix $P, control socket $SOCK): node_ns, dp_conf_head, dp_start,
# dp_node_down, netns_del.
#
# With agents (NSDP_AGENT=1): demo_cluster PREFIX, serve "NETNS PORT"...,
# metrics NODE, metric NODE NAME{labels}, generation NODE, wait_gen_above
# NODE GEN, put FILE CONTENT (a manifest of $M), reach NETNS IP PORT (a TCP
# round trip, $PROBE).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BUILD=${BUILD:-$ROOT/build}
export NSDP_DATAPLANE=${NSDP_DATAPLANE:-$BUILD/nsdp-dataplane}
export NSDP_CTL=${NSDP_CTL:-$BUILD/nsdpctl}
DP=$NSDP_DATAPLANE
CTL=$NSDP_CTL
CLUSTER="$ROOT/scripts/cluster.sh"
PROBE="$ROOT/scripts/tcp_probe.py"
# A plain interpreter: wrappers such as pyenv's shims cost a second a start.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
TMP=$(mktemp -d)

e2e_exit() {
	declare -F cleanup >/dev/null && cleanup
	rm -rf "$TMP"
}
trap e2e_exit EXIT

# ---- TAP -------------------------------------------------------------------

n=0
failed=0
plan() { echo "1..$1"; }
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
check() { # check DESCRIPTION COMMAND...: ok, or not ok with COMMAND's output (and 1)
	local d=$1; shift
	if "$@" >"$TMP/out" 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/# /' "$TMP/out"; return 1; fi
}
tap_status() { [ "$failed" = 0 ]; }

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "1..0 # SKIP needs root (network namespaces)"
		exit 0
	fi
}
need_tools() { # need_tools TOOL...
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null ||
			{ echo "Bail out! $tool is not installed (scripts/deps.sh)"; exit 1; }
	done
}

# ---- a cluster of scripts/cluster.sh ---------------------------------------

# cluster_up DESC ARGS...: `cluster.sh up ARGS`; when it fails, not ok DESC
# with its log, and the test ends.
cluster_up() {
	local d=$1; shift
	bash "$CLUSTER" up "$@" >"$TMP/up.log" 2>&1 && return 0
	not_ok "$d"
	sed 's/^/# /' "$TMP/up.log"
	exit 1
}
cluster_down() { bash "$CLUSTER" down >/dev/null 2>&1; }

# ---- one dataplane in a node namespace ---------------------------------------

# netns_del NS...: kill what runs in each namespace, delete it.
netns_del() {
	local ns
	for ns in "$@"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
}

# node_ns NS: the node's namespace: lo up, no IPv6, and the uplink veth
# ul (peer ulpeer, both up, nothing behind them).
node_ns() {
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n "$1" link add ul type veth peer name ulpeer
	ip -n "$1" link set ul up
	ip -n "$1" link set ulpeer up
}

# dp_conf_head NAME LCORES: the head of the dataplane's configuration: node
# NAME (VTEP 192.168.100.1, VXLAN, VNI 42), EAL in memory with file prefix
# $P, workers on LCORES ("1", "1,2"), control socket $SOCK, conntrack 64k.
# Ports, endpoints and routes are the caller's.
dp_conf_head() {
	cat <<EOF
node = { name = "$1"; vtep = "192.168.100.1"; overlay = "vxlan"; vni = 42; mtu = 1500; };
eal = ["--no-pci", "--in-memory", "-m", "256", "--file-prefix=$P", "--log-level=*:warning"];
workers = [$2];
main_lcore = 0;
idle_sleep_us = 20;
control_socket = "$SOCK";
tables = { conntrack = 65536; };
EOF
}

# dp_start CONF: the dataplane with CONF in $NODE (pid in $TMP/dp.pid, log
# in $TMP/dp.log) until $SOCK answers (30 s at most); else its log and 1.
dp_start() {
	ip netns exec "$NODE" "$DP" -c "$1" >>"$TMP/dp.log" 2>&1 &
	echo $! >"$TMP/dp.pid"
	for _ in $(seq 1 150); do
		"$CTL" -s "$SOCK" info >/dev/null 2>&1 && return 0
		kill -0 "$(cat "$TMP/dp.pid")" 2>/dev/null || break
		sleep 0.2
	done
	cat "$TMP/dp.log"
	return 1
}

# dp_node_down NS...: stop dp_start's dataplane (unless the test did, and
# removed $TMP/dp.pid), netns_del NS..., remove DPDK's runtime files of $P.
dp_node_down() {
	[ -f "$TMP/dp.pid" ] && kill "$(cat "$TMP/dp.pid")" 2>/dev/null && sleep 0.5
	netns_del "$@"
	rm -rf "/var/run/dpdk/$P"
}

# ---- a cluster with agents (NSDP_AGENT=1; uses P, STATE, M, PROBE) -----------

# demo_cluster PREFIX: the environment of cluster.sh for the demo cluster
# with agents on the demo manifests (up with `cluster_up DESC 2`): node-1
# has frontend/web 10.244.1.2 and db/postgres 10.244.1.3, node-2
# backend/api 10.244.2.2 and stranger/intruder 10.244.2.3. Sets P, STATE
# and M (the agents' manifests directory); cleanup takes the cluster down.
demo_cluster() {
	export NSDP_PREFIX=$1
	export NSDP_AGENT_BIN=${NSDP_AGENT_BIN:-$BUILD/nsdp-agent}
	export NSDP_POD_NAMES="frontend/web db/postgres backend/api stranger/intruder"
	export NSDP_AGENT=1
	export NSDP_MANIFESTS="$ROOT/scripts/demo/base $ROOT/scripts/demo/v1"
	P=$NSDP_PREFIX
	STATE=/tmp/nsdp-cluster-$P
	M=$STATE/manifests
	cleanup() { cluster_down; }
	trap 'exit 1' INT TERM
}

# serve "NETNS PORT"...: a TCP echo server ($PROBE) in each namespace.
serve() {
	local p ns port
	for p in "$@"; do
		read -r ns port <<<"$p"
		ip netns exec "$ns" $PY "$PROBE" serve "$port" &
		disown
	done
	sleep 0.3
}

metrics() { ip netns exec "${P}n$1" curl -sf -m 2 http://127.0.0.1:9464/metrics; }
metric() { # metric NODE NAME{labels} -> value
	metrics "$1" | awk -v k="$2" '$1 == k { print $2 }'
}
generation() { "$CTL" -s "$STATE/n$1.sock" --json info | sed -n 's/.*"generation": *\([0-9]*\).*/\1/p'; }
wait_gen_above() { # wait_gen_above NODE GEN
	for _ in $(seq 1 100); do
		[ "$(generation "$1")" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
put() { # put FILE CONTENT: replace a manifest atomically
	printf '%s\n' "$2" >"$M/.$1.tmp" && mv "$M/.$1.tmp" "$M/$1"
}
reach() { ip netns exec "$1" $PY "$PROBE" connect "$2" "$3"; }
