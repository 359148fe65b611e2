#!/usr/bin/env bash
# Pod-to-pod TCP throughput across two nodes: nsdp against the same
# topology built on the Linux kernel (issue 5's benchmark), in one run.
#
#   sudo bench/kernel_path.sh [--reps N] [--seconds S] [--omit S]
#                             [--streams "1 4"] [--variants LIST] [--nice N]
#                             [--perf]
#
# Defaults: 3 repetitions, 5 s after 1 s omitted, 1 and 4 streams, every
# variant, --nice -10: the measured processes of both paths (iperf3 client
# and server, the nsdp dataplanes' threads) run at nice -10 so that other
# users of a shared machine disturb them less (0: leave them at 0).
# --perf: in the first repetition with the first stream count, sample both
# nsdp workers with `perf record -e cpu-clock` (no PMU needed) during the
# measured seconds; the share of samples per DSO and the top symbols go to
# the JSON ("perf") and perf-<variant>.txt in the results directory.
#
# Variants (LIST is comma-separated; default all, in this order, which is
# also the order in which they alternate inside each repetition):
#
#   kernel-off           the kernel twin, offloads off everywhere (bridge
#                        ports, ul, vxlan0, pod veths: tx rx tso gso gro off),
#                        exactly like the nsdp cluster's veths
#                        (scripts/cluster.sh no_offload)
#   nsdp-af_packet       scripts/cluster.sh up 2 (af_packet pod and uplink
#                        ports), demo policies v1 applied on both nodes
#   kernel-on            the kernel twin with offloads on, as a real kernel
#                        deployment runs it: veth/vxlan defaults (tx csum,
#                        TSO, GSO on), GRO on the underlay and vxlan0
#   nsdp-af_xdp          a second nsdp cluster, NSDP_PORT_DRIVER=af_xdp
#   nsdp-af_packet-split the af_packet cluster with node-2's worker thread
#                        moved to CPU 0 (cluster.sh puts both nodes' workers
#                        on lcore 1 = CPU 1): shows what sharing one CPU costs
#   nsdp-tap             a third nsdp cluster whose pods are attached by
#                        nsdp-cni with "driver": "tap" (a tap with the
#                        virtio-net header, offloads on: 64 KB TCP segments
#                        between pod and dataplane, dataplane/vnet.h)
#   nsdp-tap-uplink      tap pods, and each node's uplink a tap port of the
#                        underlay bridge (NSDP_UPLINK_DRIVER=tap) with UDP
#                        tunnel GSO: encapsulated 64 KB segments cross the
#                        bridge whole, as the kernel-on twin's do
#
# The nsdp clusters' af_packet ports (uplink, host, af_packet pods) have
# rings of NSDP_AF_PACKET_FRAMES frames per queue (default here 4096; the
# PMD's own default, 512, overflows under a TCP stream's bursts).
#
# The kernel twin (prefix kk<pid>): node namespaces kk<pid>n1/n2 whose
# underlay veths "ul" (MTU 1500, 192.168.100.n/24, the nsdp cluster's MACs)
# meet in a Linux bridge in namespace kk<pid>b, as in scripts/cluster.sh,
# a Linux vxlan device per node (VNI 42, dstport 4789, local/remote = the
# VTEP addresses of cluster.sh, 10.244.n.0/32 on it, the peer's pod /24
# routed onlink through it with a permanent neighbour, as flannel does),
# pods kk<pid>p<n><k> with veth eth0 (MTU 1450, /32 10.244.n.(k+1), default
# via 169.254.1.1 with a permanent neighbour entry for the node side, /32
# route + permanent neighbour for the pod on the node side), IP forwarding,
# and an nftables forward chain on both nodes equivalent to
# scripts/demo/v1 (frontend -> backend:8080, backend -> db/postgres:5432,
# anything else into backend or db/postgres dropped, conntrack
# established/related accepted first). Pods as in scripts/demo/base:
# node-1: frontend/web 10.244.1.2, db/postgres 10.244.1.3; node-2:
# backend/api 10.244.2.2, stranger/intruder 10.244.2.3.
#
# Before measuring, each topology's policy is checked with real TCP:
# web -> api:8080 and api -> postgres:5432 allowed, postgres -> api:8080
# (across nodes), intruder -> api:8080 (same node) and web -> postgres:5432
# denied. Then, for each repetition and stream count, every variant runs
# iperf3 (frontend/web -> backend/api:8080, -O omit -t seconds) once, back
# to back; the nsdp dataplanes not being measured are stopped (SIGSTOP) so
# that their idle polling does not take CPU from the measured path.
# Recorded per run: receiver Gbps, retransmits, iperf3's CPU figures, the
# machine's CPU breakdown (/proc/stat deltas), other processes' CPU (a
# shared machine), the dataplanes' CPU (process and worker threads) and,
# for nsdp, busy cycles per packet and the worker's busy share per node
# (nsdpctl --json stats deltas), drops, and the packets lost in the PMD
# rings (sent into the dataplane's veth by the kernel, per `ip -s link`,
# but never received by its port, per `nsdpctl ports`; the PMDs do not
# count them).
#
# Output: a table, and bench/results/<UTC stamp>/kernel_path.json (meta,
# policy checks, medians per variant and stream count, nsdp/kernel ratios
# per repetition and their medians, every run). Needs root. Raises the
# hugepage reservation if the nsdp clusters need more than is free, and puts
# it back. Cleans up everything it created on every exit path (trap).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CTL=$BUILD/nsdpctl
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
HELPER=$ROOT/bench/kernel_path.py
CLUSTER=$ROOT/scripts/cluster.sh
PROBE=$ROOT/scripts/tcp_probe.py

REPS=3 SECONDS_=5 OMIT=1 STREAMS="1 4" NICE=-10 PERF=0
VARIANTS="kernel-off,nsdp-af_packet,kernel-on,nsdp-tap,nsdp-tap-uplink,nsdp-af_xdp,nsdp-af_packet-split"
while [ $# -gt 0 ]; do
	case "$1" in
	--reps) REPS=$2; shift 2 ;;
	--seconds) SECONDS_=$2; shift 2 ;;
	--omit) OMIT=$2; shift 2 ;;
	--streams) STREAMS=$2; shift 2 ;;
	--variants) VARIANTS=$2; shift 2 ;;
	--nice) NICE=$2; shift 2 ;;
	--perf) PERF=1; shift ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "kernel_path: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
IFS=, read -r -a VLIST <<<"$VARIANTS"
for v in "${VLIST[@]}"; do
	case "$v" in
	kernel-off | kernel-on | nsdp-af_packet | nsdp-af_xdp | nsdp-af_packet-split | nsdp-tap | nsdp-tap-uplink) ;;
	*) echo "kernel_path: unknown variant $v" >&2; exit 2 ;;
	esac
done
want() { [[ ",$VARIANTS," == *",$1,"* ]]; }

[ "$(id -u)" = 0 ] || { echo "kernel_path: needs root" >&2; exit 1; }
for t in iperf3 nft ethtool ip taskset; do
	command -v $t >/dev/null || { echo "kernel_path: $t missing (apt-get install -y iperf3 nftables ethtool iproute2 util-linux)" >&2; exit 1; }
done
for b in nsdp-dataplane nsdpctl; do
	[ -x "$BUILD/$b" ] || { echo "kernel_path: $BUILD/$b missing (ninja -C build nsdp-dataplane nsdpctl)" >&2; exit 1; }
done

K=kk$$    # kernel twin
NA=ka$$   # nsdp, af_packet
NX=kx$$   # nsdp, af_xdp
NT=kt$$   # nsdp, tap pods (virtio-net header, offloads on)
NU=ku$$   # nsdp, tap pods and tap uplinks (UDP tunnel GSO)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/results/$STAMP
TMP=$(mktemp -d /tmp/kernel_path.XXXXXX)
export NSDP_POD_NAMES="frontend/web db/postgres backend/api stranger/intruder"
export BUILD NSDP_OVERLAY=vxlan
unset NSDP_AGENT NSDP_WORKERS NSDP_STATE NSDP_NODES NSDP_CNI NSDP_PORT_DRIVER NSDP_IDLE_US NSDP_POD_DRIVER NSDP_UPLINK_DRIVER
export NSDP_AF_PACKET_FRAMES=${NSDP_AF_PACKET_FRAMES:-4096}

log() { echo "kernel_path: $*" >&2; }

# ---- cleanup, on every exit path -------------------------------------------
CLUSTERS=()   # nsdp prefixes brought up (or being brought up)
KERNEL_UP=0
orig_pages=$(cat /proc/sys/vm/nr_hugepages)
RAISED=0
dp_pids() { cat "/tmp/nsdp-cluster-$1"/n[12].pid 2>/dev/null; }
kernel_down() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^${K}(n[0-9]+|p[0-9]+|b)$"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	local l
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^${K}[hcuv][0-9]+$"); do
		ip link del "$l" 2>/dev/null
	done
}
cleanup() {
	set +e
	trap "" INT TERM # let the cleanup finish
	local c pid
	for c in "${CLUSTERS[@]}"; do
		for pid in $(dp_pids "$c"); do kill -CONT "$pid" 2>/dev/null; done
		NSDP_PREFIX=$c bash "$CLUSTER" down >/dev/null 2>&1
	done
	[ "$KERNEL_UP" = 1 ] && kernel_down
	if [ "$RAISED" = 1 ]; then
		echo "$orig_pages" >/proc/sys/vm/nr_hugepages 2>/dev/null
		log "hugepages back to $orig_pages"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# ---- the kernel twin -------------------------------------------------------
ul_mac() { printf '02:00:c0:a8:64:%02x' "$1"; }
pod_mac() { printf '02:00:0a:f4:%02x:%02x' "$1" "$(($2 + 1))"; }
gw_mac() { printf '02:00:a9:fe:%02x:%02x' "$1" "$2"; }   # node side of pod k's veth
vx_mac() { printf '02:00:0a:f4:%02x:01' "$1"; }
pod_ip() { echo "10.244.$1.$(($2 + 1))"; }

kernel_rules() { # the nftables equivalent of scripts/demo/v1
	cat <<-'EOF'
	table inet kernel_path {
	  # backend/allow-frontend: podSelector {} in backend, from namespaces tier=frontend, TCP 8080
	  set backend_pods  { type ipv4_addr; elements = { 10.244.2.2 } }
	  set frontend_pods { type ipv4_addr; elements = { 10.244.1.2 } }
	  # db/allow-backend: podSelector app=postgres in db, from namespaces tier=backend, TCP pg (5432)
	  set db_postgres   { type ipv4_addr; elements = { 10.244.1.3 } }
	  chain forward {
	    type filter hook forward priority filter; policy accept;
	    ct state established,related accept
	    ip daddr @backend_pods ip saddr @frontend_pods tcp dport 8080 accept
	    ip daddr @backend_pods counter drop
	    ip daddr @db_postgres ip saddr @backend_pods tcp dport 5432 accept
	    ip daddr @db_postgres counter drop
	  }
	}
	EOF
}

kernel_up() {
	KERNEL_UP=1
	local n k peer ns pns
	for n in 1 2; do
		ns=${K}n$n
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv4.ip_forward=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done
	# The underlay: a bridge (namespace ${K}b) joining both nodes' "ul".
	ip netns add "${K}b" || return 1
	ip -n "${K}b" link add br0 type bridge
	ip -n "${K}b" link set br0 up
	for n in 1 2; do
		ns=${K}n$n peer=$((3 - n))
		ip link add "${K}u$n" type veth peer name "${K}v$n" || return 1
		ip link set "${K}v$n" netns "${K}b"
		ip -n "${K}b" link set "${K}v$n" mtu 1500 master br0 up
		ip link set "${K}u$n" netns "$ns"
		ip -n "$ns" link set "${K}u$n" name ul
		ip -n "$ns" link set ul address "$(ul_mac $n)" mtu 1500 up
		ip -n "$ns" addr add "192.168.100.$n/24" dev ul
		ip -n "$ns" neigh replace "192.168.100.$peer" lladdr "$(ul_mac $peer)" dev ul nud permanent
		ip -n "$ns" link add vxlan0 address "$(vx_mac $n)" type vxlan id 42 dstport 4789 \
			local "192.168.100.$n" remote "192.168.100.$peer" dev ul nolearning || return 1
		ip -n "$ns" link set vxlan0 mtu 1450 up
		ip -n "$ns" addr add "10.244.$n.0/32" dev vxlan0
		ip -n "$ns" neigh replace "10.244.$peer.0" lladdr "$(vx_mac $peer)" dev vxlan0 nud permanent
		ip -n "$ns" route add "10.244.$peer.0/24" via "10.244.$peer.0" dev vxlan0 onlink
		for k in 1 2; do
			pns=${K}p$n$k
			ip netns add "$pns" || return 1
			ip -n "$pns" link set lo up
			ip netns exec "$pns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
			ip link add "${K}h$n$k" type veth peer name "${K}c$n$k" || return 1
			ip link set "${K}h$n$k" netns "$ns"
			ip -n "$ns" link set "${K}h$n$k" name "p$k"
			ip -n "$ns" link set "p$k" address "$(gw_mac $n $k)" mtu 1450 up
			ip link set "${K}c$n$k" netns "$pns"
			ip -n "$pns" link set "${K}c$n$k" name eth0
			ip -n "$pns" link set eth0 address "$(pod_mac $n $k)" mtu 1450 up
			ip -n "$pns" addr add "$(pod_ip $n $k)/32" dev eth0
			ip -n "$pns" route add 169.254.1.1 dev eth0 scope link
			ip -n "$pns" route add default via 169.254.1.1 dev eth0 src "$(pod_ip $n $k)"
			ip -n "$pns" neigh replace 169.254.1.1 lladdr "$(gw_mac $n $k)" dev eth0 nud permanent
			ip -n "$ns" route add "$(pod_ip $n $k)/32" dev "p$k"
			ip -n "$ns" neigh replace "$(pod_ip $n $k)" lladdr "$(pod_mac $n $k)" dev "p$k" nud permanent
		done
		kernel_rules | ip netns exec "$ns" nft -f - || return 1
	done
}

# kernel_offloads on|off: off everywhere, or a NIC-like underlay (GRO off
# on the bridge port, on for ul and vxlan0), vxlan's and veth's defaults
kernel_offloads() {
	local n k ns d on=$1 gro=off
	[ "$on" = on ] && gro=on
	# feats NS DEV GRO: tx, rx, tso and gso $on, gro GRO
	feats() { ip netns exec "$1" ethtool -K "$2" tx "$on" rx "$on" tso "$on" gso "$on" gro "$3" >/dev/null 2>&1; }
	for n in 1 2; do
		ns=${K}n$n
		feats "${K}b" "${K}v$n" off
		for d in ul vxlan0; do feats "$ns" $d $gro; done
		for d in p1 p2; do feats "$ns" $d off; done
		for k in 1 2; do feats "${K}p$n$k" eth0 off; done
	done
}
offload_summary() { # offload_summary NS DEV: "tx rx tso gso gro"
	ip netns exec "$1" ethtool -k "$2" 2>/dev/null | awk -F': ' '
		/^tx-checksumming:/ {tx=$2} /^rx-checksumming:/ {rx=$2}
		/^tcp-segmentation-offload:/ {tso=$2} /^generic-segmentation-offload:/ {gso=$2}
		/^generic-receive-offload:/ {gro=$2}
		END {printf "tx %s rx %s tso %s gso %s gro %s", tx, rx, tso, gso, gro}'
}

# ---- nsdp clusters ---------------------------------------------------------
ensure_hugepages() { # ensure_hugepages PAGES: at least PAGES + 256 free 2 MiB pages
	local free_pages
	free_pages=$(awk '/HugePages_Free/{print $2}' /proc/meminfo)
	if [ "$free_pages" -lt $(($1 + 256)) ]; then
		RAISED=1
		bash "$ROOT/scripts/hugepages.sh" $(($(cat /proc/sys/vm/nr_hugepages) + $1 + 256 - free_pages)) >/dev/null || return 1
	fi
	grep -q ' /dev/hugepages hugetlbfs' /proc/mounts || bash "$ROOT/scripts/hugepages.sh" "$orig_pages" >/dev/null
}
nsdp_up() { # nsdp_up PREFIX DRIVER [POD_DRIVER [UPLINK_DRIVER]]
	local c=$1 n try cni=0
	[ -n "${3:-}" ] && cni=1
	CLUSTERS+=("$c")
	# Two dataplanes x 256 MB. Other users' DPDK processes may take free
	# hugepages meanwhile: one more try after raising the reservation.
	for try in 1 2; do
		ensure_hugepages 256 || return 1
		NSDP_PREFIX=$c NSDP_PORT_DRIVER=$2 NSDP_CNI=$cni NSDP_POD_DRIVER=${3:-af_packet} \
			NSDP_UPLINK_DRIVER=${4:-af_packet} bash "$CLUSTER" up 2 >"$TMP/up-$c.log" 2>&1 && break
		NSDP_PREFIX=$c bash "$CLUSTER" down >/dev/null 2>&1
		if [ $try = 2 ] || ! grep -q "Not enough memory" "$TMP/up-$c.log"; then
			log "cluster.sh up ($2) failed:"; cat "$TMP/up-$c.log" >&2; return 1
		fi
		log "cluster.sh up ($2): hugepages taken meanwhile, trying again"
	done
	for n in 1 2; do
		"$CTL" -s "/tmp/nsdp-cluster-$c/n$n.sock" policy apply \
			--manifests "$ROOT/scripts/demo/base" --manifests "$ROOT/scripts/demo/v1" \
			>>"$TMP/apply-$c.log" 2>&1 || { log "policy apply on $c node $n failed:"; cat "$TMP/apply-$c.log" >&2; return 1; }
	done
}
nsdp_renice() { # every thread of both dataplanes to nice $NICE
	local pid t
	for pid in $(dp_pids "$1"); do
		for t in /proc/"$pid"/task/*; do renice -n "$NICE" -p "${t##*/}" >/dev/null; done
	done
}
nsdp_pause() { local pid; for pid in $(dp_pids "$1"); do kill -STOP "$pid"; done; }
nsdp_resume() { local pid; for pid in $(dp_pids "$1"); do kill -CONT "$pid"; done; sleep 0.2; }
worker_tid() { # worker_tid PID: the DPDK worker thread of a dataplane
	local t
	for t in /proc/"$1"/task/*; do
		case "$(cat "$t/comm" 2>/dev/null)" in rte-worker*) basename "$t"; return 0 ;; esac
	done
	return 1
}

# ---- policy check: the same five connections on each topology --------------
# check_policy LABEL PREFIX: PREFIX p11 web, p12 postgres, p21 api, p22 intruder
check_policy() {
	local label=$1 p=$2 s1 s2 bad=0 src dst port exp obs
	ip netns exec "${p}p21" $PY "$PROBE" serve 8080 >/dev/null 2>&1 &
	s1=$!
	ip netns exec "${p}p12" $PY "$PROBE" serve 5432 >/dev/null 2>&1 &
	s2=$!
	for _ in $(seq 1 50); do
		ip netns exec "${p}p21" ss -Hltn 'sport = :8080' | grep -q . &&
			ip netns exec "${p}p12" ss -Hltn 'sport = :5432' | grep -q . && break
		sleep 0.1
	done
	while read -r src dst port exp; do
		local sns=${p}p${src#*:} dip=${dst#*:}
		if ip netns exec "$sns" $PY "$PROBE" connect "$dip" "$port" </dev/null >/dev/null 2>&1; then obs=allow; else obs=deny; fi
		[ "$obs" = "$exp" ] || bad=$((bad + 1))
		printf '  %-14s %-38s expected %-5s observed %s\n' "$label" "${src%:*} -> ${dst%:*}:$port" "$exp" "$obs" >&2
		printf '{"topology":"%s","src":"%s","dst":"%s","port":%s,"expected":"%s","observed":"%s"}\n' \
			"$label" "${src%:*}" "${dst%:*}" "$port" "$exp" "$obs" >>"$TMP/checks.jsonl"
	done <<-'EOF'
	frontend/web:11 backend/api:10.244.2.2 8080 allow
	backend/api:21 db/postgres:10.244.1.3 5432 allow
	db/postgres:12 backend/api:10.244.2.2 8080 deny
	stranger/intruder:22 backend/api:10.244.2.2 8080 deny
	frontend/web:11 db/postgres:10.244.1.3 5432 deny
	EOF
	kill "$s1" "$s2" 2>/dev/null
	wait "$s1" "$s2" 2>/dev/null
	[ $bad = 0 ]
}

start_server() { # start_server PREFIX: iperf3 server in backend/api on 8080
	ip netns exec "$1p21" nice -n "$NICE" iperf3 -s -p 8080 >/dev/null 2>&1 &
	disown # killed with its namespace at cleanup
	for _ in $(seq 1 50); do
		ip netns exec "$1p21" ss -Hltn 'sport = :8080' | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# ---- perf: where the workers' time goes ------------------------------------
perf_summary() { # perf_summary VARIANT: $TMP/perf-VARIANT.{txt,json}
	local d="$TMP/perf-$1.data"
	[ -s "$d" ] || return 0
	{
		echo "# perf record -e cpu-clock -F 999 on both nsdp workers, $1, $SECONDS_ s"
		echo "## samples by DSO"
		perf report -i "$d" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$'
		echo "## top symbols"
		perf report -i "$d" --no-children --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
	} >"$TMP/perf-$1.txt"
	$PY - "$TMP/perf-$1.txt" >"$TMP/perf-$1.json" <<-'EOF'
	import json, re, sys
	dso, sym, part = {}, [], None
	for line in open(sys.argv[1]):
	    if line.startswith("## "):
	        part = line[3:].strip()
	        continue
	    m = re.match(r"\s*([\d.]+)%\s+(\S+)(?:\s+\[[.k]\]\s+(.*))?", line)
	    if not m:
	        continue
	    if part == "samples by DSO":
	        dso[m.group(2)] = float(m.group(1))
	    elif part == "top symbols" and len(sym) < 25:
	        sym.append("%s%% %s %s" % (m.group(1), m.group(2), (m.group(3) or "").strip()))
	print(json.dumps({"dso_pct": dso, "top_symbols": sym}))
	EOF
}

# ---- one measurement -------------------------------------------------------
prefix_of() {
	case "$1" in kernel-*) echo "$K" ;; nsdp-af_xdp) echo "$NX" ;; nsdp-tap) echo "$NT" ;; nsdp-tap-uplink) echo "$NU" ;; *) echo "$NA" ;; esac
}
measure() { # measure VARIANT STREAMS REP
	local v=$1 s=$2 rep=$3 p snap=() pid tid moved="" tids="" perf_pid=""
	p=$(prefix_of "$v")
	case "$v" in
	kernel-off) kernel_offloads off ;;
	kernel-on) kernel_offloads on ;;
	nsdp-*)
		nsdp_resume "$p"
		for pid in $(dp_pids "$p"); do
			snap+=(--pid "$pid")
			tids+=${tids:+,}$(worker_tid "$pid")
		done
		snap+=(--sock "/tmp/nsdp-cluster-$p/n1.sock" --sock "/tmp/nsdp-cluster-$p/n2.sock")
		if [ "$v" = nsdp-af_packet-split ]; then
			pid=$(cat "/tmp/nsdp-cluster-$p/n2.pid")
			tid=$(worker_tid "$pid") && taskset -p -c 0 "$tid" >/dev/null && moved=$tid
		fi
		;;
	esac
	snap+=(--self $$ --if "n1pod=${p}p11/eth0" --if "n2pod=${p}p21/eth0")
	# (tap uplinks are ports of the bridge: no "ul")
	if [ "$v" = nsdp-tap-uplink ]; then
		snap+=(--if "n1ultap=${p}b/${p}t1" --if "n2ultap=${p}b/${p}t2")
	else
		snap+=(--if "n1ul=${p}n1/ul" --if "n2ul=${p}n2/ul")
	fi
	local base="$TMP/$v-P$s-r$rep"
	$PY "$HELPER" snap "$base.before" --ctl "$CTL" "${snap[@]}"
	ip netns exec "${p}p11" timeout $((SECONDS_ + OMIT + 20)) \
		nice -n "$NICE" iperf3 -c 10.244.2.2 -p 8080 -t "$SECONDS_" -O "$OMIT" -P "$s" -J >"$base.iperf3.json" 2>"$base.iperf3.err" &
	local client=$!
	if [ "$PERF" = 1 ] && [ -n "$tids" ] && [ "$rep" = 1 ] && [ "$s" = "${STREAMS%% *}" ]; then
		sleep "$OMIT"
		perf record -q -e cpu-clock -F 999 -t "$tids" -o "$TMP/perf-$v.data" -- sleep "$SECONDS_" \
			>/dev/null 2>"$TMP/perf-$v.err" &
		perf_pid=$!
	fi
	wait $client
	[ -n "$perf_pid" ] && { wait $perf_pid; perf_summary "$v"; }
	$PY "$HELPER" snap "$base.after" --ctl "$CTL" "${snap[@]}"
	[ -n "$moved" ] && taskset -p -c 1 "$moved" >/dev/null
	case "$v" in nsdp-*) nsdp_pause "$p" ;; esac
	$PY "$HELPER" record "$base.before" "$base.after" "$base.iperf3.json" "$v" "$s" "$rep" >>"$TMP/runs.jsonl"
	tail -1 "$TMP/runs.jsonl" | $PY -c '
import json, sys
r = json.loads(sys.stdin.read())
g = r.get("gbps")
n = "  ".join("%s %s cyc/pkt busy %s%% ring loss %s" % (x["node"], x["cycles_per_packet"], x["busy_pct"],
              x.get("pod_port_ring_loss", 0) + x.get("uplink_ring_loss", 0)
              if "pod_port_ring_loss" in x or "uplink_ring_loss" in x else "-") for x in r.get("nsdp_nodes", []))
print("  rep %d  P=%d  %-21s %s Gbps  retr %-6s idle %3.0f%%  other %3.0f%%  %s%s" % (r["rep"], r["streams"], r["variant"],
      "%.2f" % g if g else "FAILED", r.get("retransmits"), r["sys_cpu_pct"]["idle"], r["other_processes_cpu_pct"],
      n, ("  " + r["error"]) if r.get("error") else ""))' >&2
}

# ---- run -------------------------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "results in $OUT; load average $load_start"

if want kernel-off || want kernel-on; then
	log "kernel twin ($K): bridged veth underlay, vxlan VNI 42, nftables policy v1"
	kernel_up || { log "kernel twin setup failed"; exit 1; }
	kernel_offloads off
	check_policy kernel "$K" || { log "kernel twin: policy check failed"; exit 1; }
	start_server "$K" || { log "kernel twin: iperf3 server did not start"; exit 1; }
fi
if want nsdp-af_packet || want nsdp-af_packet-split; then
	log "nsdp cluster ($NA, af_packet), demo policies v1"
	nsdp_up "$NA" af_packet || exit 1
	nsdp_renice "$NA"
	check_policy nsdp-af_packet "$NA" || { log "nsdp af_packet: policy check failed"; exit 1; }
	start_server "$NA" || { log "nsdp af_packet: iperf3 server did not start"; exit 1; }
	nsdp_pause "$NA"
fi
if want nsdp-tap; then
	log "nsdp cluster ($NT, tap pods through nsdp-cni), demo policies v1"
	nsdp_up "$NT" af_packet tap || exit 1
	nsdp_renice "$NT"
	check_policy nsdp-tap "$NT" || { log "nsdp tap: policy check failed"; exit 1; }
	start_server "$NT" || { log "nsdp tap: iperf3 server did not start"; exit 1; }
	nsdp_pause "$NT"
fi
if want nsdp-tap-uplink; then
	log "nsdp cluster ($NU, tap pods and tap uplinks on the bridge), demo policies v1"
	nsdp_up "$NU" af_packet tap tap || exit 1
	# vnet+tunnel-gso, or vnet where the kernel (before 6.17) cuts instead
	log "tap uplink driver: $("$CTL" -s "/tmp/nsdp-cluster-$NU/n1.sock" ports | awk '$2 == "uplink" {print $4}')"
	nsdp_renice "$NU"
	check_policy nsdp-tap-uplink "$NU" || { log "nsdp tap-uplink: policy check failed"; exit 1; }
	start_server "$NU" || { log "nsdp tap-uplink: iperf3 server did not start"; exit 1; }
	nsdp_pause "$NU"
fi
if want nsdp-af_xdp; then
	log "nsdp cluster ($NX, af_xdp), demo policies v1"
	nsdp_up "$NX" af_xdp || exit 1
	nsdp_renice "$NX"
	check_policy nsdp-af_xdp "$NX" || { log "nsdp af_xdp: policy check failed"; exit 1; }
	start_server "$NX" || { log "nsdp af_xdp: iperf3 server did not start"; exit 1; }
	nsdp_pause "$NX"
fi

# Offload settings as measured (node-1's underlay and pod-1's node side).
offloads_json=$(
	for m in off on; do
		if want "kernel-$m"; then
			kernel_offloads $m
			printf '"kernel-%s": {"bridge port": "%s", "ul": "%s", "vxlan0": "%s", "p1": "%s", "pod eth0": "%s"},' "$m" \
				"$(offload_summary "${K}b" "${K}v1")" "$(offload_summary "${K}n1" ul)" "$(offload_summary "${K}n1" vxlan0)" \
				"$(offload_summary "${K}n1" p1)" "$(offload_summary "${K}p11" eth0)"
		fi
	done
	for c in "${CLUSTERS[@]}"; do
		printf '"nsdp (%s)": {"bridge port": "%s", "ul": "%s", "p1": "%s", "pod eth0": "%s"},' "$c" \
			"$(offload_summary "${c}b" "${c}v1")" "$(offload_summary "${c}n1" ul)" "$(offload_summary "${c}n1" p1)" "$(offload_summary "${c}p11" eth0)"
	done
)

T0=$(date +%s)
log "measuring: ${#VLIST[@]} variants x streams ($STREAMS) x $REPS repetitions, $OMIT s omit + $SECONDS_ s each"
for rep in $(seq 1 "$REPS"); do
	for s in $STREAMS; do
		for v in "${VLIST[@]}"; do
			measure "$v" "$s" "$rep"
		done
	done
done
log "measured in $(($(date +%s) - T0)) s"

drops_json="{}"
for c in "${CLUSTERS[@]}"; do nsdp_resume "$c"; done
drops_json=$(for c in "${CLUSTERS[@]}"; do for n in 1 2; do
	printf '"%s n%s": %s,' "$c" "$n" "$("$CTL" -s "/tmp/nsdp-cluster-$c/n$n.sock" --json drops 2>/dev/null || echo null)"
done; done)

$PY - "$TMP/meta.json" "$TMP/checks.jsonl" <<EOF
import glob, json, os, subprocess, sys
def sh(c):
    return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
meta = {
    "command": "bench/kernel_path.sh --reps $REPS --seconds $SECONDS_ --omit $OMIT --streams '$STREAMS' --variants $VARIANTS --nice $NICE",
    "stamp": "$STAMP",
    "date_utc": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
    "cluster_sh": sh("git -C '$ROOT' log -1 --format='%h %s' -- scripts/cluster.sh")[:100],
    "commit": sh("git -C '$ROOT' rev-parse --short HEAD") + (" + uncommitted changes" if sh("git -C '$ROOT' status --porcelain --untracked-files=no") else ""),
    "cpus": sh("nproc"),
    "cpu_model": sh("awk -F': ' '/model name/ {print \$2; exit}' /proc/cpuinfo"),
    "kernel": sh("uname -r"),
    "dpdk": sh("pkg-config --modversion libdpdk"),
    "iperf3": sh("iperf3 --version | head -1"),
    "load_start": "$load_start",
    "load_end": sh("cut -d' ' -f1-3 /proc/loadavg"),
    "iperf3_args": "-c 10.244.2.2 -p 8080 -t $SECONDS_ -O $OMIT -P <streams> (frontend/web on node-1 -> backend/api on node-2)",
    "offloads": json.loads("{" + """$offloads_json""".rstrip(",") + "}"),
    "nsdp_drops_end": {k: {r: n for r, n in (v or {}).get("drops", {}).items() if n}
                       for k, v in json.loads("{" + """$drops_json""".rstrip(",") + "}").items()},
    "policy_checks": [json.loads(l) for l in open(sys.argv[2]) if l.strip()],
    "perf": {os.path.basename(f)[5:-5]: json.load(open(f)) for f in glob.glob("$TMP/perf-*.json")},
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF
mkdir -p "$OUT"
for f in "$TMP"/perf-*.txt; do [ -e "$f" ] && cp "$f" "$OUT/"; done
$PY "$HELPER" report "$TMP/runs.jsonl" "$TMP/meta.json" "$OUT/kernel_path.json" || exit 1
echo
echo "kernel_path: wrote $OUT/kernel_path.json"
