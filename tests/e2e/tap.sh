#!/usr/bin/env bash
# End to end: tap pods (nsdp-cni "driver": "tap", dataplane/vnet.h) on the
# demo cluster's two nodes with the demo policies (scripts/demo/v1):
#
#   tap.sh af_packet   the uplinks are af_packet veths: the sending
#                      dataplane cuts the pod's 64 KB TCP segments into
#                      frames (gso_segment), the receiving one merges them
#                      again for the pod (gso_coalesce);
#   tap.sh tap         the uplinks are tap ports of the underlay bridge with
#                      UDP tunnel GSO (Linux 6.17+): the encapsulated 64 KB
#                      segments cross whole (skipped where the kernel lacks
#                      it).
#
# Checks: policy decided as for veth pods (allowed and denied), 20 MB each
# way arrive intact (SHA-256 compared), the ports saw the frame sizes the
# path above means, and no frame was dropped as vnet-bad or gso-failed.
# Prints TAP. Needs root. Cleans up on every exit path.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

UPLINK=${1:-af_packet}
export NSDP_PREFIX="e2tp$$" NSDP_CNI=1 NSDP_POD_DRIVER=tap NSDP_UPLINK_DRIVER=$UPLINK
export NSDP_POD_NAMES="frontend/web db/postgres backend/api stranger/intruder"
unset NSDP_AGENT NSDP_WORKERS NSDP_STATE
P=$NSDP_PREFIX
STATE=/tmp/nsdp-cluster-$P
PROBE=$ROOT/scripts/tcp_probe.py
cleanup() { cluster_down; }

need_root
if [ ! -c /dev/net/tun ] || [ ! -x /usr/lib/cni/host-local ]; then
	echo "1..0 # SKIP needs /dev/net/tun and host-local IPAM (containernetworking-plugins)"
	exit 0
fi
plan 10
cluster_up "cluster with tap pods ($UPLINK uplinks) up" 2
ok "cluster with tap pods ($UPLINK uplinks) up"
applied=1
for node in 1 2; do # (n is the TAP counter)
	"$CTL" -s "$STATE/n$node.sock" policy apply --manifests "$ROOT/scripts/demo/base" \
		--manifests "$ROOT/scripts/demo/v1" >"$TMP/apply$node.log" 2>&1 || applied=0
done
check "demo policies applied on both nodes" test $applied = 1

serve "${P}p21 8080" "${P}p12 5432"
allowed() { reach "${P}p11" 10.244.2.2 8080 && reach "${P}p21" 10.244.1.3 5432; }
denied() { ! reach "${P}p22" 10.244.2.2 8080 && ! reach "${P}p11" 10.244.1.3 5432; }
check "frontend/web -> backend/api:8080 allowed, backend/api -> db/postgres:5432 allowed" allowed
check "stranger/intruder -> backend/api:8080 and frontend/web -> db/postgres:5432 denied" denied
ip netns pids "${P}p21" | xargs -r kill; ip netns pids "${P}p12" | xargs -r kill

# bulk SRC_NS DST_IP PORT SERVER_NS: 20 MB of random bytes, SHA-256 compared.
bulk() {
	ip netns exec "$4" $PY -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(60); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
c.sendall(("%d %s" % (n, h.hexdigest())).encode()); c.close()' "$3" &
	local srv=$!
	sleep 0.5
	ip netns exec "$1" $PY -c '
import hashlib, os, socket, sys
data = os.urandom(20 << 20)
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
c.sendall(data); c.shutdown(socket.SHUT_WR)
r = c.recv(200).decode()
want = "%d %s" % (len(data), hashlib.sha256(data).hexdigest())
assert r == want, (r, want)' "$2" "$3"
	local rc=$?
	wait $srv
	return $rc
}
check "20 MB frontend/web (node 1) -> backend/api:8080 (node 2) arrive intact (SHA-256)" \
	bulk "${P}p11" 10.244.2.2 8080 "${P}p21"
check "20 MB backend/api (node 2) -> db/postgres:5432 (node 1) arrive intact (SHA-256)" \
	bulk "${P}p21" 10.244.1.3 5432 "${P}p12"

# avg N PORT DIR: bytes per frame of port PORT (a name, or "pod:IP" for the
# port of that endpoint) in direction rx/tx on node N.
avg() {
	local port=$2
	if [[ $port == pod:* ]]; then
		port=$("$CTL" -s "$STATE/n$1.sock" endpoints | awk -v ip="${2#pod:}" '$1 == ip {print $2}')
	fi
	"$CTL" -s "$STATE/n$1.sock" --json stats | $PY -c '
import json, sys
p = json.load(sys.stdin)["ports"][sys.argv[1]]
print(p[sys.argv[2] + "_bytes"] // max(p[sys.argv[2] + "_pkts"], 1))' "$port" "$3"
}
sizes="web's port rx $(avg 1 pod:10.244.1.2 rx), node 1 uplink tx $(avg 1 uplink tx), node 2 uplink rx $(avg 2 uplink rx), api's port tx $(avg 2 pod:10.244.2.2 tx) bytes/frame"
echo "# $sizes"
check "64 KB segments from the pod: web's port received more than 3000 bytes per frame" \
	test "$(avg 1 pod:10.244.1.2 rx)" -gt 3000
if [ "$UPLINK" = tap ]; then
	if "$CTL" -s "$STATE/n1.sock" ports | grep -q 'uplink .*vnet+tunnel-gso'; then
		check "the segments crossed the bridge whole: node 1's uplink sent more than 3000 bytes per frame" \
			test "$(avg 1 uplink tx)" -gt 3000
	else
		skip "this kernel has no UDP tunnel GSO on taps (Linux 6.17+): the uplink cuts"
	fi
else
	check "node 1 cut them for the af_packet uplink: at most 1514 bytes per frame sent" \
		test "$(avg 1 uplink tx)" -le 1514
fi
check "node 2 wrote them to api's tap merged: more than 3000 bytes per frame" \
	test "$(avg 2 pod:10.244.2.2 tx)" -gt 3000
# (policy-deny drops are the denied probes above)
no_bad_drops() {
	local node out
	for node in 1 2; do
		out=$("$CTL" -s "$STATE/n$node.sock" drops) || return 1
		echo "node $node: $out"
		! grep -E 'vnet-bad|gso-failed' <<<"$out" || return 1
	done
}
check "no frame dropped as vnet-bad or gso-failed on either node" no_bad_drops
tap_status
