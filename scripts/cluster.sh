#!/usr/bin/env bash
# A small nsdp cluster on one machine, built from network namespaces.
#
#   scripts/cluster.sh up [N_PODS_PER_NODE]   build it and start the dataplanes
#   scripts/cluster.sh down                   remove every trace of it
#   scripts/cluster.sh env                    print the variables tests use
#
# NSDP_CNI=1 attaches the pods the way a kubelet would: the dataplanes
# start with the uplink only, and each pod's interface is created by the
# real CNI plugin (nsdp-cni, with Debian's host-local IPAM, data in
# $STATE/ipam-nN) in the pod's namespace and hot-plugged into the running
# dataplane (veth + af_packet); `down` runs CNI DEL for each pod.
# NSDP_POD_DRIVER=tap (with NSDP_CNI=1) makes each pod's interface a tap
# with the virtio-net header instead of a veth (nsdp-cni "driver": "tap",
# docs/architecture.md): the pods keep TSO/GSO and checksum offload.
# NSDP_UPLINK_DRIVER=tap makes each node's uplink a tap port of the
# underlay bridge instead of the veth "ul" (devargs vnet,...,mac=): with
# Linux 6.17+ (UDP tunnel GSO) encapsulated 64 KB segments cross whole.
#
# NSDP_FLOWLOG=1 (with NSDP_AGENT=1): each agent writes its node's flow logs
# to $STATE/n<n>.flows.jsonl.
#
# NSDP_AGENT=1 also starts an nsdp-agent on each node (in the node's
# namespace, metrics on its 127.0.0.1:9464), fed by the shared manifests
# directory $STATE/manifests: nodes.yaml (the Node objects: pod CIDR,
# InternalIP = VTEP, nsdp.io/vtep-mac) written here, plus a copy of every
# file of the directories in NSDP_MANIFESTS. Change a file there (write a
# new one and mv it into place) and both agents apply it. NSDP_KUBECONFIG
# instead points the agents at an API server (the test double); with
# NSDP_AGENT_HOSTNET=1 the agents run in the caller's namespace (metrics
# on 127.0.0.1:NSDP_METRICS_BASE+n) so that they reach its loopback.
#
# Topology (NSDP_PREFIX, default "nsdp", keeps parallel clusters apart):
#
#   ${P}p11 eth0 ─┐                                    ┌─ eth0 ${P}p21
#   ${P}p12 eth0 ─┤ p1,p2  [${P}n1]  ul ══ br0 ══ ul  [${P}n2]  p1,p2 ├─ eth0 ${P}p22
#                 nsdp-dataplane          [${P}b]         nsdp-dataplane
#                                          ║
#                                          ul [${P}n3] ... (NSDP_NODES=N, 2 to 9)
#
# The underlay is a Linux bridge in namespace ${P}b. Node n: VTEP 192.168.100.n on its underlay veth "ul" (the address lives in
# the dataplane, not in the kernel), pod CIDR 10.244.n.0/24. Pod k on node n:
# 10.244.n.(k+1)/32 with default route via 169.254.1.1 (answered by the
# dataplane's ARP responder). Overlay: NSDP_OVERLAY=vxlan|geneve.
# The node's own stack reaches its pods through the dataplane's host port
# (veth nsdph / nsdph-d in the node's namespace): the node's address
# 192.168.200.n (host_ip), a route to 10.244.n.0/24 via 169.254.1.1. Its
# connections to its pods (kubelet probes) are never denied; pods reach
# the node (and anything outside the pod CIDRs) through it. With
# NSDP_HOST_ROUTE=agent (agents in the nodes' namespaces) that route is
# left to the node's agent (--host-route nsdph --host-ip host_ip), as the
# DaemonSet does on a cluster.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
P=${NSDP_PREFIX:-nsdp}
BUILD=${BUILD:-$ROOT/build}
STATE=${NSDP_STATE:-/tmp/nsdp-cluster-$P}
OVERLAY=${NSDP_OVERLAY:-vxlan}
NODES=${NSDP_NODES:-2}
[ -f "$STATE/nodes" ] && NODES=$(cat "$STATE/nodes") # what `up` built
case "$NODES" in [2-9]) ;; *) echo "cluster: NSDP_NODES=$NODES (allowed: 2 to 9)" >&2; exit 2 ;; esac
DP=${NSDP_DATAPLANE:-$BUILD/nsdp-dataplane}
CTL=${NSDP_CTL:-$BUILD/nsdpctl}
AGENT=${NSDP_AGENT_BIN:-$BUILD/nsdp-agent}
CNI=${NSDP_CNI_BIN:-$BUILD/nsdp-cni}

node_ns() { echo "${P}n$1"; }
pod_ns() { echo "${P}p$1$2"; }
pod_ip() { echo "10.244.$1.$(($2 + 1))"; }
pod_mac() { printf '02:00:0a:f4:%02x:%02x' "$1" "$(($2 + 1))"; }
ul_mac() { printf '02:00:c0:a8:64:%02x' "$1"; }
vtep_ip() { echo "192.168.100.$1"; }
host_ip() { echo "192.168.200.$1"; } # the node's own address towards its pods
sock() { echo "$STATE/n$1.sock"; }
# NSDP_POD_NAMES: "ns/pod" names in order n1p1 n1p2 ... n2p1 ... (display only).
pod_name() {
	local pods=$(cat "$STATE/pods") i names
	i=$((($1 - 1) * pods + $2))
	read -r -a names <<<"${NSDP_POD_NAMES:-}"
	echo "${names[$((i - 1))]:-default/pod-$1$2}"
}

# Offloads off: af_packet sees frames as the kernel hands them to the veth,
# so they must be real-sized with real checksums (no TSO/GSO, no partial csum).
no_offload() {
	local ns=$1 dev=$2
	ip netns exec "$ns" ethtool -K "$dev" tx off rx off tso off gso off gro off \
		>/dev/null 2>&1 || true
}

tap_uplink() { [ "$(cat "$STATE/uplink_driver")" = tap ]; }

# DPDK device for a veth: NSDP_PORT_DRIVER=af_packet (default) or af_xdp.
devargs() {
	local n=$1 k=$2 ifc=$3 nw=$4
	case "${NSDP_PORT_DRIVER:-af_packet}" in
	af_xdp) echo "net_af_xdp$n$k,iface=$ifc,start_queue=0,queue_count=$nw" ;;
	*)
		local q=""
		[ "$nw" -gt 1 ] && q=",qpairs=$nw"
		# NSDP_AF_PACKET_FRAMES: ring frames per queue (the PMD's default 512)
		[ -n "${NSDP_AF_PACKET_FRAMES:-}" ] && q="$q,framecnt=$NSDP_AF_PACKET_FRAMES"
		echo "net_af_packet$n$k,iface=$ifc,qdisc_bypass=1$q"
		;;
	esac
}

write_config() {
	local n=$1 pods=$2 f="$STATE/n$1.conf" peer sep
	{
		echo "node = { name = \"node-$n\"; vtep = \"$(vtep_ip "$n")\"; overlay = \"$OVERLAY\"; vni = 42; mtu = 1500; host_ip = \"$(host_ip "$n")\"; };"
		echo "eal = [\"--no-pci\", \"--in-memory\", \"-m\", \"256\", \"--file-prefix=${P}n$n\", \"--log-level=*:warning\"];"
		# NSDP_WORKERS=2: two workers (lcores 1 and 2; they share CPUs on a
		# small machine), two queue pairs per port (af_packet fanout).
		local nw=${NSDP_WORKERS:-1} wl="1"
		[ "$nw" -gt 1 ] && wl=$(seq -s, 1 "$nw")
		echo "workers = [$wl];"
		echo "main_lcore = 0;"
		echo "idle_sleep_us = ${NSDP_IDLE_US:-20};"
		echo "control_socket = \"$(sock "$n")\";"
		# the agent's policy cache: a restarted dataplane enforces it at once
		[ "${NSDP_AGENT:-0}" = 1 ] && echo "policy_file = \"$STATE/n$n.policy\";"
		# the pods' ports and the tables: a restarted dataplane re-adds them
		echo "state_file = \"$STATE/n$n.state\";"
		echo "tables = { conntrack = 65536; };"
		echo "ports = ("
		local up_dev
		up_dev=$(devargs "$n" 0 ul "$nw")
		tap_uplink &&
			up_dev="vnet,netns=/var/run/netns/${P}b,iface=${P}t$n,mac=$(ul_mac "$n")"
		echo "  { name = \"uplink\"; devargs = \"$up_dev\"; role = \"uplink\"; }"
		# the node's own stack (kubelet probes, pods to the node): see up()
		echo " ,{ name = \"host\"; devargs = \"$(devargs "$n" _host nsdph-d "$nw")\"; role = \"host\"; }"
		# NSDP_CNI=1: pods come later, through nsdp-cni (no static pod ports)
		local static_pods=$pods
		[ "${NSDP_CNI:-0}" = 1 ] && static_pods=0
		for k in $(seq 1 "$static_pods"); do
			echo " ,{ name = \"p$k\"; devargs = \"$(devargs "$n" "$k" "p$k" "$nw")\"; role = \"pod\"; }"
		done
		echo ");"
		echo "endpoints = ("
		for k in $(seq 1 "$static_pods"); do
			[ "$k" = 1 ] && sep=" " || sep=","
			echo " $sep{ ip = \"$(pod_ip "$n" "$k")\"; port = \"p$k\"; mac = \"$(pod_mac "$n" "$k")\"; name = \"$(pod_name "$n" "$k")\"; }"
		done
		echo ");"
		# With agents, routes and VTEPs come from the Node objects only.
		if [ "${NSDP_AGENT:-0}" != 1 ]; then
			echo "vteps = ("
			sep=" "
			for peer in $(seq 1 "$NODES"); do
				[ "$peer" = "$n" ] && continue
				echo " $sep{ ip = \"$(vtep_ip "$peer")\"; mac = \"$(ul_mac "$peer")\"; name = \"node-$peer\"; }"
				sep=","
			done
			echo ");"
			echo "routes = ( { prefix = \"10.244.$n.0/24\"; local = true; }"
			for peer in $(seq 1 "$NODES"); do
				[ "$peer" = "$n" ] && continue
				echo "         , { prefix = \"10.244.$peer.0/24\"; vtep = \"$(vtep_ip "$peer")\"; }"
			done
			echo ");"
		fi
	} >"$f"
}

# The Node objects of this cluster, as the API server would have them.
write_nodes() {
	for n in $(seq 1 $NODES); do
		cat <<-EOF
		---
		apiVersion: v1
		kind: Node
		metadata:
		  name: node-$n
		  annotations: {nsdp.io/vtep-mac: "$(ul_mac "$n")"}
		spec: {podCIDR: 10.244.$n.0/24, podCIDRs: [10.244.$n.0/24]}
		status: {addresses: [{type: InternalIP, address: $(vtep_ip "$n")}, {type: Hostname, address: node-$n}]}
		EOF
	done
}

# Where node n's agent serves /metrics: 127.0.0.1:9464 inside the node's
# namespace, or with NSDP_AGENT_HOSTNET=1 (agents in this namespace, to
# reach an API server on its loopback) 127.0.0.1:(NSDP_METRICS_BASE + n).
agent_metrics() {
	if [ "${NSDP_AGENT_HOSTNET:-0}" = 1 ]; then
		echo "127.0.0.1:$((${NSDP_METRICS_BASE:-19460} + $1))"
	else
		echo "127.0.0.1:9464"
	fi
}
agent_exec() { # agent_exec N CMD...: run CMD where node N's agent runs
	local n=$1
	shift
	if [ "${NSDP_AGENT_HOSTNET:-0}" = 1 ]; then "$@"; else ip netns exec "$(node_ns "$n")" "$@"; fi
}

# Start node n's agent and wait until it is ready. NSDP_KUBECONFIG_<n>
# overrides NSDP_KUBECONFIG for node n.
start_agent() {
	local n=$1 src kcv="NSDP_KUBECONFIG_$1" kc
	kc=${!kcv:-${NSDP_KUBECONFIG:-}}
	if [ -n "$kc" ]; then
		src=(--kubeconfig "$kc" ${NSDP_AGENT_ARGS:-})
	else
		src=(--manifests "$STATE/manifests" ${NSDP_AGENT_ARGS:-})
	fi
	src+=(--policy-cache "$STATE/n$n.policy")
	[ "${NSDP_HOST_ROUTE:-}" = agent ] && [ "${NSDP_AGENT_HOSTNET:-0}" != 1 ] &&
		src+=(--host-route nsdph --host-ip "$(host_ip "$n")")
	# NSDP_FLOWLOG=1: flow logs of node n in $STATE/n<n>.flows.jsonl
	[ "${NSDP_FLOWLOG:-0}" = 1 ] &&
		src+=(--flow-log "$STATE/n$n.flows.jsonl" --flow-log-interval-ms 100)
	# exec: the recorded pid must be the agent's, not a subshell's
	(
		if [ "${NSDP_AGENT_HOSTNET:-0}" = 1 ]; then
			exec "$AGENT" --node "node-$n" -s "$(sock "$n")" \
				--metrics "$(agent_metrics "$n")" "${src[@]}"
		else
			exec ip netns exec "$(node_ns "$n")" "$AGENT" --node "node-$n" -s "$(sock "$n")" \
				--metrics "$(agent_metrics "$n")" "${src[@]}"
		fi
	) >>"$STATE/agent$n.log" 2>&1 &
	echo $! >"$STATE/agent$n.pid"
	for _ in $(seq 1 150); do
		if agent_exec "$n" curl -sf -m 1 "http://$(agent_metrics "$n")/readyz" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$(cat "$STATE/agent$n.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "cluster: the agent of node $n is not ready; its log:" >&2
	cat "$STATE/agent$n.log" >&2
	return 1
}

stop_pidfile() {
	local pidf=$1 pid
	[ -f "$pidf" ] || return 0
	pid=$(cat "$pidf")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$pidf"
}

# The CNI network configuration of node n (what /etc/cni/net.d holds).
cni_conf() {
	cat <<-EOF
	{"cniVersion": "1.0.0", "name": "nsdp", "type": "nsdp", "socket": "$(sock "$1")",
	 "driver": "$(cat "$STATE/pod_driver")", "mtu": 1450, "gateway": "169.254.1.1",
	 "ipam": {"type": "host-local", "dataDir": "$STATE/ipam-n$1",
	          "ranges": [[{"subnet": "10.244.$1.0/24", "rangeStart": "10.244.$1.2"}]]}}
	EOF
}

# cni COMMAND N K: run nsdp-cni for pod k of node n, as a kubelet would.
cni() {
	local cmd=$1 n=$2 k=$3 name
	name=$(pod_name "$n" "$k")
	cni_conf "$n" | ip netns exec "$(node_ns "$n")" env CNI_COMMAND="$cmd" \
		CNI_CONTAINERID="$(printf 'c%02x%02x' "$n" "$k")$(echo -n "$P" | md5sum | cut -c1-12)" \
		CNI_NETNS="/var/run/netns/$(pod_ns "$n" "$k")" CNI_IFNAME=eth0 \
		CNI_PATH="$STATE/cni-bin" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=${name%%/*};K8S_POD_NAME=${name#*/}" \
		"$STATE/cni-bin/nsdp"
}

# Pod k of node n through the CNI plugin; its address must be the one the
# manifests give it (host-local hands out addresses in order).
cni_add_pod() {
	local n=$1 k=$2 out
	if ! out=$(cni ADD "$n" "$k"); then
		echo "cluster: nsdp-cni ADD for pod $k of node $n failed: $out" >&2
		return 1
	fi
	echo "$out" >"$STATE/cni-n$n-p$k.json"
	if ! grep -q "\"$(pod_ip "$n" "$k")/32\"" <<<"$out"; then
		echo "cluster: pod $k of node $n got another address than $(pod_ip "$n" "$k"): $out" >&2
		return 1
	fi
}

up() {
	local pods=${1:-2}
	if [ "${NSDP_POD_DRIVER:-af_packet}" != af_packet ] && [ "${NSDP_CNI:-0}" != 1 ]; then
		echo "cluster: NSDP_POD_DRIVER=$NSDP_POD_DRIVER needs NSDP_CNI=1 (pods through nsdp-cni)" >&2
		return 2
	fi
	mkdir -p "$STATE"
	echo "$pods" >"$STATE/pods"
	echo "${NSDP_POD_DRIVER:-af_packet}" >"$STATE/pod_driver"
	echo "${NSDP_UPLINK_DRIVER:-af_packet}" >"$STATE/uplink_driver"
	for n in $(seq 1 $NODES); do
		ip netns add "$(node_ns "$n")"
		ip -n "$(node_ns "$n")" link set lo up
		ip netns exec "$(node_ns "$n")" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	echo "$NODES" >"$STATE/nodes"
	# The underlay: a bridge (in namespace ${P}b) joining every node's "ul".
	ip netns add "${P}b"
	# no IPv6 on the underlay either: the bridge would send MLD and router
	# solicitations to every node (dropped there as ipv6-unsupported)
	ip netns exec "${P}b" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "${P}b" link add br0 type bridge
	ip -n "${P}b" link set br0 up
	for n in $(seq 1 $NODES); do
		if tap_uplink; then
			# the node's uplink is a tap port of the bridge itself
			# (attached from ${P}b by the dataplane, dataplane/vnet.h)
			ip -n "${P}b" tuntap add dev "${P}t$n" mode tap vnet_hdr multi_queue
			ip -n "${P}b" link set "${P}t$n" mtu 1500 master br0 up
			continue
		fi
		ip link add "${P}u$n" type veth peer name "${P}v$n"
		ip link set "${P}v$n" netns "${P}b"
		ip -n "${P}b" link set "${P}v$n" mtu 1500 master br0 up
		no_offload "${P}b" "${P}v$n"
		ip link set "${P}u$n" netns "$(node_ns "$n")"
		ip -n "$(node_ns "$n")" link set "${P}u$n" name ul
		ip -n "$(node_ns "$n")" link set ul address "$(ul_mac "$n")" mtu 1500 up
		no_offload "$(node_ns "$n")" ul
	done
	# The host port: a veth in each node's namespace, "nsdph" (the node's
	# stack: its address host_ip, a route to its pod CIDR via the gateway)
	# and "nsdph-d" (the dataplane's host port).
	for n in $(seq 1 $NODES); do
		local nns
		nns=$(node_ns "$n")
		ip -n "$nns" link add nsdph type veth peer name nsdph-d
		ip -n "$nns" link set nsdph-d mtu 1450 up
		ip -n "$nns" link set nsdph mtu 1450 up
		ip -n "$nns" addr add "$(host_ip "$n")/32" dev nsdph
		[ "${NSDP_HOST_ROUTE:-}" = agent ] ||
			ip -n "$nns" route add "10.244.$n.0/24" via 169.254.1.1 dev nsdph onlink src "$(host_ip "$n")"
		no_offload "$nns" nsdph
		no_offload "$nns" nsdph-d
	done
	for n in $(seq 1 $NODES); do
		for k in $(seq 1 "$pods"); do
			local pns
			pns=$(pod_ns "$n" "$k")
			ip netns add "$pns"
			ip -n "$pns" link set lo up
			# IPv4-only cluster for now: no router solicitations to count (default:
			# for the interface nsdp-cni creates later).
			ip netns exec "$pns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
			[ "${NSDP_CNI:-0}" = 1 ] && continue # the CNI plugin does the rest
			ip link add "${P}h$n$k" type veth peer name "${P}c$n$k"
			ip link set "${P}h$n$k" netns "$(node_ns "$n")"
			ip -n "$(node_ns "$n")" link set "${P}h$n$k" name "p$k"
			ip -n "$(node_ns "$n")" link set "p$k" mtu 1450 up
			ip link set "${P}c$n$k" netns "$pns"
			ip -n "$pns" link set "${P}c$n$k" name eth0
			ip -n "$pns" link set eth0 address "$(pod_mac "$n" "$k")" mtu 1450 up
			ip -n "$pns" addr add "$(pod_ip "$n" "$k")/32" dev eth0
			ip -n "$pns" route add 169.254.1.1 dev eth0 scope link
			ip -n "$pns" route add default via 169.254.1.1 dev eth0 src "$(pod_ip "$n" "$k")"
			no_offload "$pns" eth0
			no_offload "$(node_ns "$n")" "p$k"
		done
		write_config "$n" "$pods"
	done
	for n in $(seq 1 $NODES); do
		ip netns exec "$(node_ns "$n")" "$DP" -c "$STATE/n$n.conf" \
			>"$STATE/n$n.log" 2>&1 &
		echo $! >"$STATE/n$n.pid"
	done
	for n in $(seq 1 $NODES); do
		local ok=0
		for _ in $(seq 1 150); do
			if "$CTL" -s "$(sock "$n")" info >/dev/null 2>&1; then ok=1; break; fi
			if ! kill -0 "$(cat "$STATE/n$n.pid")" 2>/dev/null; then break; fi
			sleep 0.2
		done
		if [ $ok != 1 ]; then
			echo "cluster: dataplane of node $n did not start; its log:" >&2
			cat "$STATE/n$n.log" >&2
			return 1
		fi
	done
	if [ "${NSDP_CNI:-0}" = 1 ]; then
		mkdir -p "$STATE/cni-bin"
		ln -sf "$CNI" "$STATE/cni-bin/nsdp"
		ln -sf /usr/lib/cni/host-local "$STATE/cni-bin/host-local"
		for n in $(seq 1 $NODES); do
			for k in $(seq 1 "$pods"); do cni_add_pod "$n" "$k" || return 1; done
		done
	fi
	if [ "${NSDP_AGENT:-0}" = 1 ]; then
		mkdir -p "$STATE/manifests"
		write_nodes >"$STATE/manifests/nodes.yaml"
		local d
		for d in ${NSDP_MANIFESTS:-}; do cp "$d"/* "$STATE/manifests/"; done
		for n in $(seq 1 $NODES); do start_agent "$n" || return 1; done
	fi
	echo "cluster: $NODES nodes x $pods pods up ($OVERLAY${NSDP_CNI:+, pods by nsdp-cni}${NSDP_AGENT:+, agents}), state in $STATE"
}

down() {
	# CNI DEL first, as a kubelet would, while the dataplanes still run.
	local f
	for f in "$STATE"/cni-n*-p*.json; do
		[ -e "$f" ] || continue
		f=${f##*/cni-n}
		cni DEL "${f%%-p*}" "$(basename "${f#*-p}" .json)" >/dev/null 2>&1 || true
	done
	for n in $(seq 1 $NODES); do
		stop_pidfile "$STATE/agent$n.pid"
		stop_pidfile "$STATE/n$n.pid"
	done
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^${P}(n[0-9]+|p[0-9]+|b)$" || true); do
		# Anything still running inside (iperf3 servers, captures) goes too.
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	for n in $(seq 1 $NODES); do ip link del "${P}u$n" 2>/dev/null || true; done
	rm -rf "$STATE"
	for n in $(seq 1 $NODES); do rm -rf "/var/run/dpdk/${P}n$n"; done
}

case "${1:-}" in
up) shift; up "$@" ;;
down) down ;;
env)
	echo "P=$P STATE=$STATE OVERLAY=$OVERLAY"
	;;
agent-start) start_agent "$2" ;;
agent-stop) stop_pidfile "$STATE/agent$2.pid" ;;
*)
	echo "usage: $0 up [PODS_PER_NODE] | down | env | agent-start N | agent-stop N" >&2
	exit 2
	;;
esac
