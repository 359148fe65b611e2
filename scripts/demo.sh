#!/usr/bin/env bash
# README command 1: install what is missing, build, and run nsdp on its
# embedded default cluster: two nodes in network namespaces, each running
# nsdp-dataplane, four pods in four namespaces spread over both nodes, joined
# by a VXLAN overlay. It opens real TCP connections between every pair of
# pods, prints what it observed beside what it expected, shows traffic that
# the dataplane refuses (a spoofed source, a pod that does not exist) with
# the drop counters that name why, then tears everything down.
# Exit 0 only when every observation matches the expectation.
#
# Policy enforcement (NetworkPolicy / AdminNetworkPolicy) is tracked in
# issue 3; until it lands every pod-to-pod connection is expected to pass.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

bash scripts/deps.sh
bash scripts/hugepages.sh 512 >/dev/null
BUILD=${BUILD:-$ROOT/build} bash scripts/build.sh

export BUILD=${BUILD:-$ROOT/build}
export NSDP_PREFIX=${NSDP_PREFIX:-demo}
export NSDP_OVERLAY=${NSDP_OVERLAY:-vxlan}
export NSDP_POD_NAMES="frontend/web db/postgres backend/api stranger/intruder"
P=$NSDP_PREFIX
CTL=$BUILD/nsdpctl
STATE=/tmp/nsdp-cluster-$P

cleanup() { bash scripts/cluster.sh down >/dev/null 2>&1; }
trap cleanup EXIT
cleanup

echo "== starting a 2-node cluster ($NSDP_OVERLAY overlay)"
bash scripts/cluster.sh up 2 || exit 1

# name  netns  ip  node
PODS=(
	"frontend/web ${P}p11 10.244.1.2 node-1"
	"db/postgres ${P}p12 10.244.1.3 node-1"
	"backend/api ${P}p21 10.244.2.2 node-2"
	"stranger/intruder ${P}p22 10.244.2.3 node-2"
)
for p in "${PODS[@]}"; do
	read -r _ ns _ _ <<<"$p"
	ip netns exec "$ns" python3 scripts/tcp_probe.py serve 8080 &
	disown # the cluster teardown kills it with its namespace
done
sleep 1

bad=0
echo
echo "== TCP :8080 between every pair of pods (observed / expected)"
printf '%-20s' "from \\ to"
for d in "${PODS[@]}"; do read -r dn _ _ _ <<<"$d"; printf '%-20s' "$dn"; done
echo
for s in "${PODS[@]}"; do
	read -r sn sns _ _ <<<"$s"
	printf '%-20s' "$sn"
	for d in "${PODS[@]}"; do
		read -r dn _ dip _ <<<"$d"
		if [ "$sn" = "$dn" ]; then printf '%-20s' "-"; continue; fi
		if ip netns exec "$sns" python3 scripts/tcp_probe.py connect "$dip" 8080; then
			obs=allow
		else
			obs=deny
		fi
		exp=allow # no policy yet: see issue 3
		mark=""; [ "$obs" != "$exp" ] && { mark=" MISMATCH"; bad=$((bad + 1)); }
		printf '%-20s' "$obs/$exp$mark"
	done
	echo
done

echo
echo "== traffic the dataplane refuses"
# A pod forging another source address: anti-spoofing on the pod port.
ip -n "${P}p22" addr add 10.244.1.77/32 dev eth0
if ip netns exec "${P}p22" ping -c 2 -i 0.2 -W 1 -I 10.244.1.77 10.244.1.2 >/dev/null 2>&1; then
	echo "stranger/intruder spoofing 10.244.1.77 -> frontend/web: allowed (MISMATCH, expected deny)"
	bad=$((bad + 1))
else
	echo "stranger/intruder spoofing 10.244.1.77 -> frontend/web: denied (expected deny)"
fi
# A pod address that no pod has.
if ip netns exec "${P}p11" python3 scripts/tcp_probe.py connect 10.244.2.99 8080; then
	echo "frontend/web -> 10.244.2.99 (no such pod): allowed (MISMATCH, expected deny)"
	bad=$((bad + 1))
else
	echo "frontend/web -> 10.244.2.99 (no such pod): denied (expected deny)"
fi
spoof=$("$CTL" -s "$STATE/n2.sock" --json drops | python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["src-spoof"])')
noep=$("$CTL" -s "$STATE/n2.sock" --json drops | python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["no-endpoint"])')
echo "node-2 drop counters: src-spoof=$spoof no-endpoint=$noep"
[ "$spoof" -ge 2 ] || { echo "MISMATCH: src-spoof counter"; bad=$((bad + 1)); }
[ "$noep" -ge 1 ] || { echo "MISMATCH: no-endpoint counter"; bad=$((bad + 1)); }

echo
echo "== node-1 dataplane"
"$CTL" -s "$STATE/n1.sock" endpoints
"$CTL" -s "$STATE/n1.sock" routes
"$CTL" -s "$STATE/n1.sock" flows --max 8
"$CTL" -s "$STATE/n1.sock" stats

echo
if [ $bad = 0 ]; then
	echo "demo: every observation matched the expectation"
else
	echo "demo: $bad observation(s) did not match"
fi
[ $bad = 0 ]
