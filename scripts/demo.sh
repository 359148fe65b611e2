#!/usr/bin/env bash
# README command 1: install what is missing, build, and run nsdp on its
# embedded default: two nodes in network namespaces, each running
# nsdp-dataplane and nsdp-agent (the agents read a shared manifests
# directory: the Node objects, which give the overlay routes, and the
# namespaces, pods and policies), four pods attached by the CNI plugin
# (nsdp-cni with host-local IPAM, hot-plugged into the running dataplanes) in four namespaces (frontend, backend, db and a
# stranger) spread over both nodes and joined by a VXLAN overlay, with the
# default policies of scripts/demo/v1: frontend -> backend:8080 and
# backend -> db:5432 allowed across namespaces, nothing else into backend or
# db. It opens real TCP connections between every pair, prints observed vs
# expected with the deciding rule, shows each node reaching its own pods
# although policy isolates them (kubelet probes, through the node's host
# port), changes the policy live (scripts/demo/v2)
# and shows an established connection cut and a new one admitted, prints
# the flow logs of the denied connections (who, to whom, by which rule),
# then tears everything down. Exit 0 only when every observation matches.
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
export NSDP_AGENT=1
export NSDP_FLOWLOG=1 # each agent writes its node's flow log ($STATE/n<n>.flows.jsonl)
export NSDP_CNI=1
export NSDP_MANIFESTS="scripts/demo/base scripts/demo/v1"
P=$NSDP_PREFIX
CTL=$BUILD/nsdpctl
STATE=/tmp/nsdp-cluster-$P
DEMO=scripts/demo
TMP=$(mktemp -d)

cleanup() { bash scripts/cluster.sh down >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT
cleanup
mkdir -p "$TMP"

echo "== a 2-node cluster ($NSDP_OVERLAY overlay), 4 pods in 4 namespaces"
bash scripts/cluster.sh up 2 || exit 1

# name  netns  ip  service-port
PODS=(
	"frontend/web ${P}p11 10.244.1.2 8080"
	"db/postgres ${P}p12 10.244.1.3 5432"
	"backend/api ${P}p21 10.244.2.2 8080"
	"stranger/intruder ${P}p22 10.244.2.3 8080"
)
for p in "${PODS[@]}"; do
	read -r _ ns _ port <<<"$p"
	ip netns exec "$ns" python3 scripts/tcp_probe.py serve "$port" &
	disown # the cluster teardown kills it with its namespace
done

generation() { # the generation node N's dataplane enforces
	"$CTL" -s "$STATE/n$1.sock" --json info | sed -n 's/.*"generation": *\([0-9]*\).*/\1/p'
}
apply() { # apply POLICY_DIR: replace the policies in the agents' manifests directory
	local g1 g2 f
	g1=$(generation 1) g2=$(generation 2)
	for f in "$1"/*; do
		cp "$f" "$STATE/manifests/.$(basename "$f").tmp"
		mv "$STATE/manifests/.$(basename "$f").tmp" "$STATE/manifests/$(basename "$f")"
	done
	for _ in $(seq 1 100); do
		if [ "$(generation 1)" -gt "$g1" ] && [ "$(generation 2)" -gt "$g2" ]; then
			echo "node-1: generation $(generation 1) effective; node-2: generation $(generation 2) effective"
			return 0
		fi
		sleep 0.1
	done
	echo "the agents did not apply $1; their logs:" >&2
	cat "$STATE"/agent*.log >&2
	return 1
}
echo "== the agents enforce $DEMO/v1 (NetworkPolicies backend/allow-frontend, db/allow-backend)"
echo "   node-1: generation $(generation 1) effective; node-2: generation $(generation 2) effective"

# expected SRC DST: the intent of v1, written out (not computed).
expected_v1() {
	case "$1>$2" in
	frontend/web\>backend/api | backend/api\>db/postgres) echo allow ;;
	*\>backend/api | *\>db/postgres) echo deny ;;
	*) echo allow ;;
	esac
}

bad=0
matrix() { # matrix EXPECTED_FN POLICY_DIR
	local exp_fn=$1 pdir=$2
	: >"$TMP/probes"
	for s in "${PODS[@]}"; do
		read -r sn _ _ _ <<<"$s"
		for d in "${PODS[@]}"; do
			read -r dn _ _ dport <<<"$d"
			[ "$sn" = "$dn" ] || echo "$sn $dn $dport TCP" >>"$TMP/probes"
		done
	done
	# The deciding rule, from the same compiled tables the dataplanes run.
	"$CTL" policy reach --manifests $DEMO/base --manifests "$pdir" --probes "$TMP/probes" >"$TMP/reach"
	printf '%-18s %-18s %-6s %-8s %-8s %s\n' SOURCE DESTINATION PORT OBSERVED EXPECTED "DECIDED BY"
	for s in "${PODS[@]}"; do
		read -r sn sns _ _ <<<"$s"
		for d in "${PODS[@]}"; do
			read -r dn _ dip dport <<<"$d"
			[ "$sn" = "$dn" ] && continue
			if ip netns exec "$sns" python3 scripts/tcp_probe.py connect "$dip" "$dport"; then
				obs=allow
			else
				obs=deny
			fi
			exp=$($exp_fn "$sn" "$dn")
			rule=$(awk -v s="$sn" -v d="$dn" '$1 == s && $2 == d { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' "$TMP/reach")
			mark=""
			[ "$obs" != "$exp" ] && { mark="  <-- MISMATCH"; bad=$((bad + 1)); }
			printf '%-18s %-18s %-6s %-8s %-8s %s%s\n' "$sn" "$dn" "$dport" "$obs" "$exp" "$rule" "$mark"
		done
	done
}
echo
echo "== TCP between every pair of pods, policy v1"
matrix expected_v1 $DEMO/v1

echo
echo "== each node to its own pods (kubelet probes, through the node's host port): never denied"
for nd in "1 10.244.1.3 5432 db/postgres" "2 10.244.2.2 8080 backend/api"; do
	read -r n dip dport dn <<<"$nd"
	if ip netns exec "${P}n$n" python3 scripts/tcp_probe.py connect "$dip" "$dport"; then
		echo "node-$n -> $dn:$dport: allow (expected allow: the node's own connection)"
	else
		echo "node-$n -> $dn:$dport: deny  <-- MISMATCH (expected allow: the node's own connection)"
		bad=$((bad + 1))
	fi
done

echo
echo "== live change to $DEMO/v2: backend admits the stranger namespace instead of frontend"
ip netns exec "${P}p11" python3 scripts/tcp_probe.py hold 10.244.2.2 8080 6 >"$TMP/hold" 2>&1 &
holder=$!
sleep 2
apply $DEMO/v2 || exit 1
wait $holder
hold_rc=$?
echo "frontend/web's established connection to backend/api: $(cat "$TMP/hold")"
[ $hold_rc = 3 ] || { echo "  <-- MISMATCH: expected the connection to be cut"; bad=$((bad + 1)); }
if ip netns exec "${P}p22" python3 scripts/tcp_probe.py connect 10.244.2.2 8080; then
	echo "stranger/intruder -> backend/api:8080, a new connection: allow (expected allow)"
else
	echo "stranger/intruder -> backend/api:8080, a new connection: deny  <-- MISMATCH (expected allow)"
	bad=$((bad + 1))
fi
if ip netns exec "${P}p11" python3 scripts/tcp_probe.py connect 10.244.2.2 8080; then
	echo "frontend/web -> backend/api:8080, a new connection: allow  <-- MISMATCH (expected deny)"
	bad=$((bad + 1))
else
	echo "frontend/web -> backend/api:8080, a new connection: deny (expected deny)"
fi

echo
echo "== node-2 (backend/api's node): per-rule counters and drops"
"$CTL" -s "$STATE/n2.sock" policy show
"$CTL" -s "$STATE/n2.sock" drops
echo
echo "== flow logs: the denied connections, as the agents logged them (JSON lines)"
sleep 0.3 # the agents take the dataplanes' records every 100 ms
for n in 1 2; do
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["verdict"] != "deny":
        continue
    name = lambda e: "%s/%s" % (e["namespace"], e["pod"]) if "pod" in e else e["ip"]
    print("%s %s %s -> %s:%s/%s denied (%s side, %s connection) by %s" % (r["time"][11:23],
          r["node"], name(r["src"]), name(r["dst"]), r["dst"].get("port", "-"), r["protocol"],
          r["direction"], r["reason"], r["policy"]))
' "$STATE/n$n.flows.jsonl"
done
echo
if [ $bad = 0 ]; then
	echo "demo: every observation matched the expectation"
else
	echo "demo: $bad observation(s) did not match"
fi
[ $bad = 0 ]
