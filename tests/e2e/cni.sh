#!/usr/bin/env bash
# End to end: the real nsdp-cni binary against a real nsdp-dataplane.
# A node namespace runs the dataplane (uplink only, pod CIDR 10.244.1.0/24
# local); the test creates three pod namespaces and calls the plugin as a
# container runtime would (CNI 1.0.0: config on stdin, CNI_* variables,
# host-local IPAM from CNI_PATH with its state in a temporary dataDir).
# Checks: ADD results, ping and TCP between the pods through the dataplane,
# a dataplane restart (the pods' ports and endpoints come back from its
# state_file, no CNI call), CHECK, DEL twice, no leftovers, CNI errors with
# the right codes, ADD with the dataplane down (code 11). Prints TAP. Needs
# root.
#
#   cni.sh [DRIVER]   the pods' "driver": af_packet (default: a veth pair,
#                     the host end an af_packet port) or tap (the pod's
#                     eth0 is a tap with the virtio-net header, a "vnet"
#                     port: TCP crosses as 64 KB segments)
set -uo pipefail

. "$(dirname "$0")/lib.sh"

CNI=${NSDP_CNI:-$BUILD/nsdp-cni}
IPAM_DIR=${NSDP_CNI_IPAM_DIR:-/usr/lib/cni}
DRIVER=${1:-af_packet}
P="cn$$"
NODE="${P}n"
SOCK="$TMP/dp.sock"
CNIBIN="$TMP/bin" # CNI_PATH: nsdp-cni and host-local side by side

cleanup() { dp_node_down "$NODE" "${P}p1" "${P}p2" "${P}p3" "${P}p4"; }

need_root
if [ "$DRIVER" = tap ] && [ ! -c /dev/net/tun ]; then
	echo "1..0 # SKIP no /dev/net/tun"
	exit 0
fi
if [ ! -x "$IPAM_DIR/host-local" ]; then
	echo "1..0 # SKIP no host-local IPAM plugin in $IPAM_DIR (containernetworking-plugins)"
	exit 0
fi
[ "$DRIVER" = tap ] && plan 22 || plan 20

mkdir -p "$CNIBIN"
ln -s "$CNI" "$CNIBIN/nsdp"
ln -s "$IPAM_DIR/host-local" "$CNIBIN/host-local"

conf() { # conf [SOCKET]: the network configuration (a .conflist entry)
	cat <<EOF
{
  "cniVersion": "1.0.0",
  "name": "nsdp",
  "type": "nsdp",
  "socket": "${1:-$SOCK}",
  "driver": "$DRIVER",
  "mtu": 1450,
  "gateway": "169.254.1.1",
  "ipam": {
    "type": "host-local",
    "ranges": [[{ "subnet": "10.244.1.0/24", "rangeStart": "10.244.1.10", "rangeEnd": "10.244.1.200" }]],
    "dataDir": "$TMP/ipam"
  }
}
EOF
}

cid() { printf 'c0ffee%02d%s' "$1" "0123456789abcdef0123456789abcdef"; }

# cni COMMAND K [STDIN_FILE]: run the plugin for pod K in the node namespace.
cni() {
	local k=$1 in=${3:-}
	[ -z "$in" ] && { conf >"$TMP/conf.json"; in="$TMP/conf.json"; }
	ip netns exec "$NODE" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		CNI_COMMAND="$2" CNI_CONTAINERID="$(cid "$k")" \
		CNI_NETNS="/var/run/netns/${P}p$k" CNI_IFNAME=eth0 CNI_PATH="$CNIBIN" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns$k;K8S_POD_NAME=pod$k" \
		"$CNIBIN/nsdp" <"$in"
}
code_of() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$1" 2>/dev/null; }
ip_of() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$1"; }

# The node and its dataplane.
node_ns "$NODE"
{
	dp_conf_head cni-node 1
	cat <<EOF
ports = ( { name = "uplink"; devargs = "net_af_packet0,iface=ul,qdisc_bypass=1"; role = "uplink"; } );
routes = ( { prefix = "10.244.1.0/24"; local = true; } );
state_file = "$TMP/dp.state";
EOF
} >"$TMP/dp.conf"
check "dataplane up (uplink only, pods come from nsdp-cni)" dp_start "$TMP/dp.conf"

check "VERSION lists 1.0.0" bash -c "CNI_COMMAND=VERSION '$CNI' </dev/null | grep -q '\"supportedVersions\": \\[\"1.0.0\"\\]'"

for k in 1 2 3; do
	ip netns add "${P}p$k"
	ip netns exec "${P}p$k" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
bad=0
for k in 1 2 3; do
	if ! cni "$k" ADD >"$TMP/add$k.json" 2>"$TMP/add$k.err"; then
		bad=1; sed "s/^/# pod $k: /" "$TMP/add$k.json" "$TMP/add$k.err"
	fi
done
[ $bad = 0 ] && ok "ADD for 3 pods" || not_ok "ADD for 3 pods"
IP1=$(ip_of "$TMP/add1.json" 2>/dev/null); IP2=$(ip_of "$TMP/add2.json" 2>/dev/null); IP3=$(ip_of "$TMP/add3.json" 2>/dev/null)
echo "# pod IPs: $IP1 $IP2 $IP3"
check "results: CNI 1.0.0 shape, addresses from host-local's range" $PY - "$TMP" "$DRIVER" <<'PYEOF'
import ipaddress, json, sys
ips = set()
for k in (1, 2, 3):
    r = json.load(open(f"{sys.argv[1]}/add{k}.json"))
    assert r["cniVersion"] == "1.0.0", r
    if sys.argv[2] == "tap":  # the pod's tap is the only interface
        (pod,) = r["interfaces"]
    else:
        host, pod = r["interfaces"]
        assert host["name"].startswith("nsdpc0ffee0") and "sandbox" not in host, r
    assert pod["name"] == "eth0" and pod["sandbox"].endswith(f"p{k}"), r
    ip = r["ips"][0]
    assert ip["interface"] == len(r["interfaces"]) - 1 and ip["gateway"] == "169.254.1.1", r
    a = ipaddress.ip_interface(ip["address"])
    assert a.network.prefixlen == 32 and a.ip in ipaddress.ip_network("10.244.1.0/24"), r
    assert int(str(a.ip).split(".")[3]) >= 10, r
    assert r["routes"] == [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}], r
    ips.add(a.ip)
assert len(ips) == 3
PYEOF
check "host-local recorded the 3 addresses" bash -c "ls '$TMP/ipam/nsdp' | grep -c '^10\\.244\\.1\\.' | grep -qx 3"
check "dataplane: 3 endpoints named ns/pod on hot-plugged ports" bash -c \
	"'$CTL' -s '$SOCK' endpoints | grep -c 'ns[123]/pod[123]' | grep -qx 3 && '$CTL' -s '$SOCK' --json ports | grep -o '\"hotplug\":true' | grep -c . | grep -qx 3"

check "ping pod1 -> pod2, pod1 -> pod3, pod3 -> pod2" bash -c \
	"ip netns exec ${P}p1 ping -c 3 -i 0.2 -W 2 $IP2 && ip netns exec ${P}p1 ping -c 3 -i 0.2 -W 2 $IP3 && ip netns exec ${P}p3 ping -c 3 -i 0.2 -W 2 $IP2"

tcp_probe() { # TCP echo: server in pod2, client in pod1
	ip netns exec "${P}p2" $PY -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); data = b""
while len(data) < 1000000:
    b = c.recv(65536)
    if not b: break
    data += b
c.sendall(str(len(data)).encode()); c.close()' "$IP2" &
	local srv=$!
	sleep 0.5
	ip netns exec "${P}p1" $PY -c '
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=10)
c.sendall(b"x" * 1000000); c.shutdown(socket.SHUT_WR)
r = c.recv(100); assert r == b"1000000", r' "$IP2"
	local rc=$?
	wait $srv
	return $rc
}
check "TCP pod1 -> pod2: 1 MB through the dataplane" tcp_probe
if [ "$DRIVER" = tap ]; then
	# The pod's kernel hands its TCP data over in large segments (GSO).
	check "tap: pod1's port received the 1 MB in frames of more than 3000 bytes on average" \
		bash -c "'$CTL' -s '$SOCK' --json stats | $PY -c '
import json, sys
p = [v for k, v in json.load(sys.stdin)[\"ports\"].items() if k.startswith(\"nsdpc0ffee01\")][0]
print(\"# pod1 port:\", p)
assert p[\"rx_bytes\"] > 1000000 and p[\"rx_bytes\"] / p[\"rx_pkts\"] > 3000, p'"
fi

# The dataplane restarts: the pods' ports and endpoints come back from its
# state_file, without the CNI plugin being called again.
kill -TERM "$(cat "$TMP/dp.pid")"
for _ in $(seq 1 50); do kill -0 "$(cat "$TMP/dp.pid")" 2>/dev/null || break; sleep 0.1; done
[ "$DRIVER" = tap ] && check "tap: with the dataplane stopped, pod1's eth0 is still there, without carrier" \
	bash -c "ip -n ${P}p1 link show eth0 | grep -q NO-CARRIER"
dp_start "$TMP/dp.conf" >/dev/null
check "dataplane restarted: its 3 pod ports and endpoints are back from the state file" bash -c \
	"'$CTL' -s '$SOCK' endpoints | grep -c 'ns[123]/pod[123]' | grep -qx 3 && '$CTL' -s '$SOCK' --json ports | grep -o '\"hotplug\":true' | grep -c . | grep -qx 3"
check "and the pods reach each other again (ping pod1 -> pod2, pod3 -> pod2)" bash -c \
	"ip netns exec ${P}p1 ping -c 3 -i 0.2 -W 2 $IP2 && ip netns exec ${P}p3 ping -c 3 -i 0.2 -W 2 $IP2"

checkconf() { # a CHECK config: the ADD result as prevResult
	conf | $PY -c 'import json,sys; c=json.load(sys.stdin); c["prevResult"]=json.load(open(sys.argv[1])); print(json.dumps(c))' "$1"
}
bad=0
for k in 1 2 3; do
	checkconf "$TMP/add$k.json" >"$TMP/check$k.json"
	cni "$k" CHECK "$TMP/check$k.json" >"$TMP/out" 2>&1 || { bad=1; sed "s/^/# pod $k: /" "$TMP/out"; }
done
[ $bad = 0 ] && ok "CHECK passes for the 3 pods" || not_ok "CHECK"

# CHECK notices a missing endpoint.
"$CTL" -s "$SOCK" ep del "$IP3" >/dev/null
cni 3 CHECK "$TMP/check3.json" >"$TMP/chk.json" 2>/dev/null
c=$(code_of "$TMP/chk.json")
[ "$c" = 999 ] && grep -q "no endpoint" "$TMP/chk.json" && ok "CHECK fails when the dataplane lost the endpoint" ||
	{ not_ok "CHECK with the endpoint gone (code ${c:-none})"; sed 's/^/# /' "$TMP/chk.json"; }

bad=0
for round in 1 2; do
	for k in 1 2 3; do
		cni "$k" DEL >"$TMP/out" 2>&1 || { bad=1; sed "s/^/# DEL $round pod $k: /" "$TMP/out"; }
	done
done
[ $bad = 0 ] && ok "DEL for the 3 pods, twice (idempotent)" || not_ok "DEL twice"

leftovers() {
	local l
	l=$(ip -n "$NODE" -o link show | grep -c ' nsdp' || true)
	[ "$l" = 0 ] || { echo "links: $l"; return 1; }
	for k in 1 2 3; do
		ip -n "${P}p$k" link show eth0 >/dev/null 2>&1 && { echo "eth0 in pod $k"; return 1; }
	done
	ls "$TMP/ipam/nsdp" | grep '^10\.' && { echo "host-local state"; return 1; }
	[ -z "$("$CTL" -s "$SOCK" endpoints | grep -v '^IP' | grep .)" ] || { "$CTL" -s "$SOCK" endpoints; return 1; }
	"$CTL" -s "$SOCK" ports | grep -q 'pod+hot' && { "$CTL" -s "$SOCK" ports; return 1; }
	return 0
}
check "no leftovers: links, host-local state, dataplane endpoints and ports" leftovers

# DEL after the pod's namespace is gone (runtime deleted it first).
cni 1 ADD >"$TMP/add1b.json" 2>"$TMP/add1b.err"
ip netns del "${P}p1"
check "DEL after the netns vanished" bash -c "$(declare -f cni cid conf); P=$P NODE=$NODE TMP=$TMP CNIBIN=$CNIBIN SOCK=$SOCK DRIVER=$DRIVER; cni 1 DEL"
ip netns add "${P}p1"
check "no leftovers after that" leftovers

# Bad input: the CNI error object with the spec's codes.
echo '{"cniVersion": "1.0.0", "name": ' >"$TMP/bad1.json"
conf | sed 's/"type": "nsdp"/"type": "other"/' >"$TMP/bad2.json"
conf | sed "s/\"driver\": \"$DRIVER\"/\"driver\": \"virtio\"/" >"$TMP/bad3.json"
cni 2 ADD "$TMP/bad1.json" >"$TMP/e1.json" 2>/dev/null; r1=$?
cni 2 ADD "$TMP/bad2.json" >"$TMP/e2.json" 2>/dev/null; r2=$?
cni 2 ADD "$TMP/bad3.json" >"$TMP/e3.json" 2>/dev/null; r3=$?
conf >"$TMP/conf.json"
ip netns exec "$NODE" env -i CNI_COMMAND=ADD CNI_IFNAME=eth0 CNI_PATH="$CNIBIN" \
	CNI_NETNS="/var/run/netns/${P}p2" "$CNI" <"$TMP/conf.json" >"$TMP/e4.json" 2>/dev/null; r4=$?
got="$r1:$(code_of "$TMP/e1.json") $r2:$(code_of "$TMP/e2.json") $r3:$(code_of "$TMP/e3.json") $r4:$(code_of "$TMP/e4.json")"
if [ "$got" = "1:6 1:7 1:7 1:4" ] && grep -q 'driver: ' "$TMP/e3.json" ; then
	ok "bad JSON -> 6, wrong type / driver -> 7, no CNI_CONTAINERID -> 4"
else
	not_ok "error codes: got '$got', want '1:6 1:7 1:7 1:4'"; cat "$TMP"/e[1-4].json | sed 's/^/# /'
fi
check "nothing created by the bad calls" leftovers

# The dataplane down: try again later, and nothing left behind.
kill "$(cat "$TMP/dp.pid")"; sleep 1
cni 2 ADD >"$TMP/e5.json" 2>/dev/null; r5=$?
if [ $r5 = 1 ] && [ "$(code_of "$TMP/e5.json")" = 11 ]; then ok "ADD with the dataplane down -> code 11"; else
	not_ok "ADD with the dataplane down: exit $r5"; sed 's/^/# /' "$TMP/e5.json"; fi
check "no veth, no address taken" bash -c "! ip -n $NODE -o link show | grep -q ' nsdp' && ! ls '$TMP/ipam/nsdp' 2>/dev/null | grep -q '^10\\.'"
rm -f "$TMP/dp.pid"
tap_status
