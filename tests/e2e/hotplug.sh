#!/usr/bin/env bash
# End to end: pod ports hot-plugged into a running nsdp-dataplane
# (PORT_ADD / PORT_DEL through nsdpctl). One node namespace runs the
# dataplane with two static pods (a, c); pod b's veth is attached and
# detached 20 times while a pings c nonstop: every cycle b must answer
# pings through the dataplane, a -> c must lose nothing, and the dataplane
# must not leak file descriptors or mbufs. Then b's namespace is deleted
# while its port is attached (interface vanished): the workers go on, the
# port is still removable. Prints TAP.
#
#   hotplug.sh [WORKERS] [DRIVER] [rings]   DRIVER: af_packet (default) | af_xdp
#
# With "rings", only the static ports and the full-RX-ring check run (the
# af_xdp PMD of DPDK 22.11 cannot be hot-plugged: docs/architecture.md).
#
# Needs root. Cleans up its namespaces, interfaces, processes and files on
# every exit path (trap).
set -uo pipefail

. "$(dirname "$0")/lib.sh"

WORKERS=${1:-2}
DRIVER=${2:-af_packet}
ONLY=${3:-}
P="hp$$"
NODE="${P}n"
SOCK="$TMP/dp.sock"
CYCLES=${NSDP_HOTPLUG_CYCLES:-20}

cleanup() { dp_node_down "$NODE" "${P}a" "${P}b" "${P}c"; }

need_root
need_tools ping ethtool

nexec() { ip netns exec "$NODE" "$@"; }
no_offload() { ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true; }
mac_of() { printf '02:00:0a:f4:01:%02x' "$1"; }

# pod NAME IP_LAST HOST_IFNAME: namespace, veth (host end in the node ns).
pod() {
	local ns="${P}$1" ip="10.244.1.$2" h=$3
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip link add "${P}h$1" type veth peer name "${P}c$1"
	ip link set "${P}h$1" netns "$NODE"
	ip -n "$NODE" link set "${P}h$1" name "$h"
	ip -n "$NODE" link set "$h" mtu 1450 up
	ip link set "${P}c$1" netns "$ns"
	ip -n "$ns" link set "${P}c$1" name eth0
	ip -n "$ns" link set eth0 address "$(mac_of "$2")" mtu 1450 up
	ip -n "$ns" addr add "$ip/32" dev eth0
	ip -n "$ns" route add 169.254.1.1 dev eth0 scope link
	ip -n "$ns" route add default via 169.254.1.1 dev eth0 src "$ip"
	no_offload "$ns" eth0
	no_offload "$NODE" "$h"
}

devargs() { # devargs INDEX IFNAME
	if [ "$DRIVER" = af_xdp ]; then
		echo "net_af_xdp$1,iface=$2,start_queue=0,queue_count=1"
	else
		local q=""
		[ "$WORKERS" -gt 1 ] && q=",qpairs=$WORKERS"
		echo "net_af_packet$1,iface=$2,qdisc_bypass=1$q"
	fi
}

if [ "$ONLY" = rings ]; then plan 3; else plan 14; fi

node_ns "$NODE"
pod a 2 pa
pod c 4 pc
{
	dp_conf_head hp-node "$(seq -s, 1 "$WORKERS")"
	cat <<EOF
ports = (
  { name = "uplink"; devargs = "$(devargs 0 ul)"; role = "uplink"; },
  { name = "pa"; devargs = "$(devargs 1 pa)"; role = "pod"; },
  { name = "pc"; devargs = "$(devargs 3 pc)"; role = "pod"; }
);
endpoints = (
  { ip = "10.244.1.2"; port = "pa"; mac = "$(mac_of 2)"; name = "default/a"; },
  { ip = "10.244.1.4"; port = "pc"; mac = "$(mac_of 4)"; name = "default/c"; }
);
routes = ( { prefix = "10.244.1.0/24"; local = true; } );
EOF
} >"$TMP/dp.conf"
check "dataplane up: $WORKERS worker(s), $DRIVER, static pods a and c" dp_start "$TMP/dp.conf" ||
	exit 1
DPPID=$(cat "$TMP/dp.pid")

check "ping a -> c (static ports)" ip netns exec "${P}a" ping -c 3 -i 0.2 -W 2 10.244.1.4

# A full RX ring: with the dataplane stopped, pod a sends 3000 frames into
# its port; the kernel drops what the sockets' rings cannot hold (af_packet:
# 512 frames per queue; af_xdp: its RX ring, or the fill ring's buffers),
# and `nsdpctl ports` must count those drops as hw_imissed (DPDK 22.11's
# af_packet PMD counts none of them, its af_xdp PMD only the fill ring's).
imissed() {
	"$CTL" -s "$SOCK" --json ports | $PY -c 'import json, sys
print(next(p["hw_imissed"] for p in json.load(sys.stdin)["ports"] if p["name"] == sys.argv[1]))' "$1"
}
m0=$(imissed pa)
kill -STOP "$DPPID"
ip netns exec "${P}a" $PY -c 'import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
frame = b"\xff" * 6 + b"\x02\x00\x0a\xf4\x01\x02" + b"\x88\xb5" + bytes(86)
for _ in range(3000):
    s.send(frame)'
kill -CONT "$DPPID"
sleep 0.3
m1=$(imissed pa)
lost=$((${m1:-0} - ${m0:-0}))
# at least what does not fit in the rings of all queues (af_xdp: one
# queue, its RX ring), at most all
held=$((512 * WORKERS))
# af_xdp: its RX ring (the default rx_desc, 1024), and a little slack for
# frames in flight in the kernel when the count is read
[ "$DRIVER" = af_xdp ] && held=$((1024 + 64))
if [ "$lost" -ge $((3000 - held)) ] && [ "$lost" -le 3000 ]; then
	ok "a full $DRIVER RX ring: $lost of 3000 frames counted as hw_imissed"
else
	not_ok "a full $DRIVER RX ring: hw_imissed $m0 -> $m1 after 3000 frames into a stopped dataplane (at most $held held)"
fi
if [ "$ONLY" = rings ]; then
	tap_status
	exit
fi

# DPDK telemetry: mbufs of the dataplane's pool not in use.
mbufs_free() {
	$PY - "/var/run/dpdk/$P/dpdk_telemetry.v2" <<'PYEOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.recv(4096)
s.send(b"/nsdp/info")
print(json.loads(s.recv(65536))["/nsdp/info"]["mbufs_free"])
PYEOF
}
fds() { ls "/proc/$DPPID/fd" | wc -l; }

pod b 3 pb
# Warm-up cycle: the first probe of a driver allocates its global state.
attach() {
	"$CTL" -s "$SOCK" port add pb "$(devargs 9 pb)" &&
		"$CTL" -s "$SOCK" ep add 10.244.1.3 pb "$(mac_of 3)" --name default/b
}
detach() { "$CTL" -s "$SOCK" ep del 10.244.1.3 && "$CTL" -s "$SOCK" port del pb; }
check "attach pod b at runtime, ping a -> b" \
	bash -c "$(declare -f attach); CTL=$CTL SOCK=$SOCK; $(declare -f devargs mac_of); DRIVER=$DRIVER WORKERS=$WORKERS; attach >/dev/null && ip netns exec ${P}a ping -c 2 -i 0.2 -W 2 10.244.1.3"
check "nsdpctl ports lists pb as hot-plugged" \
	bash -c "'$CTL' -s '$SOCK' --json ports | grep -q '\"name\":\"pb\",[^}]*\"hotplug\":true'"
detach >/dev/null 2>"$TMP/detach.err" || sed 's/^/# /' "$TMP/detach.err"
sleep 0.5
fds0=$(fds)
mb0=$(mbufs_free 2>"$TMP/tel.err")

# a -> c nonstop while b comes and goes.
count=$((CYCLES * 20 + 40))
ip netns exec "${P}a" ping -c "$count" -i 0.05 -W 1 10.244.1.4 >"$TMP/bg.out" 2>&1 &
bg=$!
bad=0
for i in $(seq 1 "$CYCLES"); do
	if ! attach >"$TMP/cyc.out" 2>&1; then bad=$((bad + 1)); sed "s/^/# cycle $i attach: /" "$TMP/cyc.out"; continue; fi
	if ! ip netns exec "${P}b" ping -c 2 -i 0.1 -W 2 10.244.1.2 >"$TMP/cyc.out" 2>&1; then
		bad=$((bad + 1)); sed "s/^/# cycle $i ping: /" "$TMP/cyc.out"
	fi
	if ! detach >"$TMP/cyc.out" 2>&1; then bad=$((bad + 1)); sed "s/^/# cycle $i detach: /" "$TMP/cyc.out"; fi
done
[ $bad = 0 ] && ok "$CYCLES attach/ping/detach cycles of pod b" || not_ok "$CYCLES cycles: $bad failed"
wait $bg
loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$TMP/bg.out")
if [ "$loss" = 0 ]; then ok "a -> c lost nothing during the cycles ($count pings)"; else
	not_ok "a -> c lost ${loss:-?}% during the cycles"; sed 's/^/# /' "$TMP/bg.out" | tail -3; fi
sleep 0.5
fds1=$(fds)
[ "$fds0" = "$fds1" ] && ok "no fd leak ($fds1 open)" || not_ok "fds $fds0 -> $fds1"
mb1=$(mbufs_free 2>>"$TMP/tel.err")
if [ -z "$mb0" ] || [ -z "$mb1" ]; then
	not_ok "mbuf count via telemetry"; sed 's/^/# /' "$TMP/tel.err"
elif [ $((mb0 - mb1)) -le 64 ] && [ $((mb1 - mb0)) -le 64 ]; then
	ok "no mbuf leak ($mb0 -> $mb1 free)"
else
	not_ok "mbufs free $mb0 -> $mb1"
fi
check "nsdpctl ports: pb gone, slots reused" \
	bash -c "! '$CTL' -s '$SOCK' ports | grep -qw pb"

# The interface vanishes under an attached port (netns deleted before CNI DEL).
attach >/dev/null 2>&1
ip netns exec "${P}a" ping -c 2 -i 0.1 -W 1 10.244.1.3 >/dev/null 2>&1
netns_del "${P}b"
sleep 0.5
# Traffic towards the dead port (more than its TX ring) must not stall anyone.
ip netns exec "${P}a" ping -f -c 2000 -W 1 10.244.1.3 >/dev/null 2>&1
check "a -> c after b's interface vanished" ip netns exec "${P}a" ping -c 5 -i 0.1 -W 2 10.244.1.4
check "the dead port is removable" detach
check "dataplane alive, pb gone" bash -c "kill -0 $DPPID && ! '$CTL' -s '$SOCK' ports | grep -qw pb"
"$CTL" -s "$SOCK" drops | sed 's/^/# /'

kill "$DPPID"
for _ in $(seq 1 50); do kill -0 "$DPPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DPPID" 2>/dev/null; then not_ok "dataplane exits on SIGTERM"; else ok "dataplane exits on SIGTERM"; fi
rm -f "$TMP/dp.pid"
tap_status
