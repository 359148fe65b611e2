#!/usr/bin/env bash
# End to end: a three-node cluster (NSDP_NODES=3: node namespaces joined by
# an underlay bridge), pods attached by nsdp-cni, an nsdp-agent per node
# fed by the shared manifests directory (the Node objects give every node
# its routes to the two others). TCP between every ordered pair of pods
# across nodes, each node's routes, and a teardown that leaves nothing.
#
# Prints TAP. Needs root. Cleans up on every exit path.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

export NSDP_PREFIX="e2c3$$"
export NSDP_NODES=3 NSDP_CNI=1 NSDP_AGENT=1 NSDP_MANIFESTS=""
P=$NSDP_PREFIX
STATE=/tmp/nsdp-cluster-$P
cleanup() { cluster_down; }
trap 'exit 1' INT TERM

plan 6
cluster_up "three nodes up, pods attached by nsdp-cni, agents ready" 1
ok "three nodes up, pods attached by nsdp-cni, agents ready"
serve "${P}p11 8080" "${P}p21 8080" "${P}p31 8080"
routes_ok=1
for k in 1 2 3; do
	r=$("$CTL" -s "$STATE/n$k.sock" routes)
	for o in 1 2 3; do
		[ "$o" = "$k" ] && continue
		grep -qE "10\.244\.$o\.0/24 +192\.168\.100\.$o +node-$o" <<<"$r" || routes_ok=0
	done
done
check "every node routes the two other nodes' pod CIDRs to their VTEPs" test $routes_ok = 1
bad=""
for s in 1 2 3; do
	for d in 1 2 3; do
		[ "$s" = "$d" ] && continue
		ip netns exec "${P}p${s}1" $PY "$PROBE" connect "10.244.$d.2" 8080 || bad="$bad $s->$d"
	done
done
check "TCP between every ordered pair of pods on different nodes${bad:+ (failed:$bad)}" test -z "$bad"
eps=0
for k in 1 2 3; do
	"$CTL" -s "$STATE/n$k.sock" endpoints | grep -q "10.244.$k.2 " && eps=$((eps + 1))
done
check "each dataplane has its pod as an endpoint on a hot-plugged port" test $eps = 3
cluster_down
left=$(ip netns list | grep -c "^$P" || true)
check "teardown (CNI DEL for each pod, then the nodes) leaves no namespace" test "$left" = 0
check "and no state directory" test ! -e "$STATE"
tap_status
