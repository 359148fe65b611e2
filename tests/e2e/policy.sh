#!/usr/bin/env bash
# End to end: network policy enforced by two nsdp-dataplanes on real kernel
# traffic. The upstream Kubernetes network-policy e2e model (namespaces x, y,
# z; pods a, b, c in each, every pod serving TCP and UDP echo on 80 and 81)
# runs on a 2-node cluster (scripts/cluster.sh, VXLAN), pods spread over
# both nodes so that every namespace pair has same-node and cross-node
# pairs:
#
#   node-1: x/a x/c y/b z/a z/c        node-2: x/b y/a y/c z/b (+ a spare)
#
# The base manifest is tests/policy/conformance/base/model.yaml with the
# pod IPs and nodes rewritten to this cluster's. For each selected
# conformance scenario the policies are applied on both nodes with
# `nsdpctl policy apply --manifests BASE --manifests SCENARIO`, then every
# ordered pod pair (not a pod to itself: that never reaches the dataplane)
# is probed with real TCP and UDP on each TCP/UDP port block of the
# scenario's expected.txt, and the observation must match the matrix.
# Finally a policy change under live iperf3 traffic: allowed TCP and UDP
# flows keep going (UDP with no loss) while unrelated policies change, and a
# revoked TCP flow stops.
#
# NSDP_CNI=1 (as meson runs it): the pods are attached by nsdp-cni.
#
# Prints TAP. Needs root. Cleans up namespaces, interfaces, processes and
# files on every exit path (trap).
set -uo pipefail

. "$(dirname "$0")/lib.sh"

export NSDP_PREFIX="e2pl$$"
export NSDP_OVERLAY=${NSDP_OVERLAY:-vxlan}
# model order x/a x/b x/c y/a y/b y/c z/a z/b z/c, alternating nodes:
# cluster pod k of node n is ${P}p<n><k>, 10.244.<n>.<k+1>
export NSDP_POD_NAMES="x/a x/c y/b z/a z/c x/b y/a y/c z/b spare/none"
CONF="$ROOT/tests/policy/conformance"
P=$NSDP_PREFIX
STATE=/tmp/nsdp-cluster-$P
# Seconds a probe waits for its round trip (a denied probe takes this long);
# a cell observed denied but expected allowed is probed again with RETRY_S.
PROBE_S=${NSDP_PROBE_S:-1.5}
RETRY_S=${NSDP_PROBE_RETRY_S:-4}

SCENARIOS=(
	001-default-allow                # pods, no policy: everything reaches
	002-deny-all-ingress             # default deny ingress; TCP and UDP
	003-deny-all-egress              # default deny egress
	013-peer-namespaceselector       # namespaceSelector
	015-peer-ns-and-pod              # namespaceSelector AND podSelector
	016-peer-ns-or-pod               # two peers: OR
	032-port-numeric                 # ports
	033-port-udp                     # UDP ports
	040-named-port-ingress           # named port
	041-named-port-udp               # named UDP port
	046-egress-blocks-despite-ingress # egress deny beats ingress allow
	059-anp-deny-ingress             # ANP Deny
	065-anp-pass-to-np               # ANP Pass -> NetworkPolicy
	067-banp-deny-np-overrides       # BANP Deny, NetworkPolicy first
	070-anp-egress-deny              # ANP egress Deny, TCP and UDP
	085-anp-np-banp-three-tiers      # ANP, NetworkPolicy, BANP together
)

# Probe and iperf3 processes live in the pods' namespaces: the cluster
# teardown kills everything inside them.
cleanup() { cluster_down; }
trap 'exit 130' INT TERM

need_root
need_tools iperf3 ethtool

plan $((${#SCENARIOS[@]} + 8))
T0=$(date +%s)
cluster_up "cluster up" 5

# ns/pod -> netns, IP, node (the cluster's layout, see the header).
declare -A NETNS IP
MODEL=(x/a x/b x/c y/a y/b y/c z/a z/b z/c)
for i in "${!MODEL[@]}"; do
	node=$((1 + i % 2)) k=$((i / 2 + 1))
	NETNS[${MODEL[$i]}]="${P}p$node$k"
	IP[${MODEL[$i]}]="10.244.$node.$((k + 1))"
	echo "${MODEL[$i]} ${P}p$node$k 10.244.$node.$((k + 1)) node-$node"
done >"$TMP/pods"

# The base manifest: the conformance model with this cluster's IPs and nodes.
mkdir -p "$TMP/base"
$PY - "$CONF/base/model.yaml" "$TMP/pods" >"$TMP/base/model.yaml" <<'EOF'
import re, sys
pods = {}
for line in open(sys.argv[2]):
    name, _, ip, node = line.split()
    pods[name] = (ip, node)
docs = open(sys.argv[1]).read().split("\n---\n")
seen = set()
for i, d in enumerate(docs):
    if not re.search(r"^kind: Pod$", d, re.M):
        continue
    name = re.search(r"^  name: (\S+)$", d, re.M).group(1)
    ns = re.search(r"^  namespace: (\S+)$", d, re.M).group(1)
    ip, node = pods[ns + "/" + name]
    d = re.sub(r"\b10\.244\.\d+\.\d+\b", ip, d)
    docs[i] = re.sub(r"(nodeName:) \S+", r"\1 " + node, d)
    seen.add(ns + "/" + name)
if seen != set(pods):
    sys.exit("model.yaml pods %s, cluster pods %s" % (sorted(seen), sorted(pods)))
print("\n---\n".join(docs))
EOF
[ -s "$TMP/base/model.yaml" ] || { not_ok "base manifest"; exit 1; }

# Every model pod serves TCP and UDP echo on 80 and 81.
while read -r name ns _; do
	ip netns exec "$ns" $PY "$PROBE" serve-all 80 81 >/dev/null 2>&1 &
	disown # killed with its namespace by the cluster teardown
done <"$TMP/pods"
up_ok=1
for _ in $(seq 1 50); do
	up_ok=1
	while read -r name ns ip _; do
		ip netns exec "$ns" ss -Hltn 'sport = :81' | grep -q . || up_ok=0
		ip netns exec "$ns" ss -Hlun 'sport = :81' | grep -q . || up_ok=0
	done <"$TMP/pods"
	[ $up_ok = 1 ] && break
	sleep 0.2
done
if [ $up_ok = 1 ]; then
	ok "cluster up: 2 nodes, 9 model pods serving TCP and UDP on 80 and 81 ($NSDP_OVERLAY)"
else
	not_ok "model pods serving 80 and 81"
fi

apply() { # apply DIR...: enforce BASE + DIRs on both nodes
	local args=(--manifests "$TMP/base") d nn
	for d in "$@"; do args+=(--manifests "$d"); done
	for nn in 1 2; do
		"$CTL" -s "$STATE/n$nn.sock" policy apply "${args[@]}" >>"$TMP/apply.log" 2>&1 || return 1
	done
}

# probe_cells CELLS SECS OUT: probe every cell (lines "SRC DST PORT PROTO
# EXPECT") from its source pod, one process per source pod, all at once;
# OUT gets "SRC DST PORT PROTO EXPECT OBSERVED".
probe_cells() {
	local cells=$1 secs=$2 out=$3 src pids=()
	rm -rf "$TMP/res"
	mkdir -p "$TMP/res"
	for src in $(awk '{print $1}' "$cells" | sort -u); do
		local targets
		targets=$(awk -v s="$src" -v ips="$(for k in "${!IP[@]}"; do echo -n "$k=${IP[$k]} "; done)" '
			BEGIN { n = split(ips, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); ip[kv[1]] = kv[2] } }
			$1 == s { printf "%s:%s:%s ", tolower($4), ip[$2], $3 }' "$cells")
		ip netns exec "${NETNS[$src]}" $PY "$PROBE" probe "$secs" $targets >"$TMP/res/${src/\//_}" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	$PY - "$cells" "$TMP/res" "$TMP/pods" >"$out" <<'EOF'
import os, sys
ip = {l.split()[0]: l.split()[2] for l in open(sys.argv[3])}
obs = {}
for f in os.listdir(sys.argv[2]):
    src = f.replace("_", "/")
    for line in open(os.path.join(sys.argv[2], f)):
        w = line.split()
        if len(w) == 2 and w[1] in ("allow", "deny"):
            obs[(src, w[0])] = w[1]
for line in open(sys.argv[1]):
    s, d, port, proto, exp = line.split()
    o = obs.get((s, "%s:%s:%s" % (proto.lower(), ip[d], port)), "error")
    print(s, d, port, proto, exp, o)
EOF
}

# The scenarios.
for sc in "${SCENARIOS[@]}"; do
	dir="$CONF/$sc"
	if ! apply "$dir"; then
		not_ok "$sc: policy apply failed"
		tail -5 "$TMP/apply.log" | sed 's/^/# /'
		continue
	fi
	# The cells to probe: TCP and UDP blocks, model pods, no diagonal.
	$PY - "$ROOT/tests/policy" "$dir/expected.txt" >"$TMP/cells" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from gen_probes import parse_expected
model = {n + "/" + p for n in "xyz" for p in "abc"}
for s, d, port, proto, allow in parse_expected(sys.argv[2]):
    if proto in ("TCP", "UDP") and s in model and d in model and s != d:
        print(s, d, port, proto, "allow" if allow else "deny")
EOF
	probe_cells "$TMP/cells" "$PROBE_S" "$TMP/obs"
	# Expected allowed but not reached: probe once more, longer, to tell a
	# loaded machine from a wrong verdict.
	awk '$5 == "allow" && $6 != "allow" { print $1, $2, $3, $4, $5 }' "$TMP/obs" >"$TMP/retry"
	if [ -s "$TMP/retry" ]; then
		probe_cells "$TMP/retry" "$RETRY_S" "$TMP/obs2"
		awk 'NR == FNR { k = $1 " " $2 " " $3 " " $4; r[k] = $6; next }
		     { k = $1 " " $2 " " $3 " " $4; if (k in r) $6 = r[k]; print }' \
			"$TMP/obs2" "$TMP/obs" >"$TMP/obs.m" && mv "$TMP/obs.m" "$TMP/obs"
	fi
	total=$(wc -l <"$TMP/obs")
	bad=$(awk '$5 != $6' "$TMP/obs" | wc -l)
	summary=$(awk '{ c[$4 " " $6]++ } END { for (k in c) { printf "%s%s=%d", sep, k, c[k]; sep = ", " } }' "$TMP/obs")
	blocks=$(awk '{ print $3 "/" $4 }' "$TMP/obs" | sort -u | tr '\n' ' ')
	if [ "$total" -gt 0 ] && [ "$bad" = 0 ]; then
		ok "$sc: $total probes on ${blocks% } match expected.txt ($summary)"
	else
		not_ok "$sc: $bad of $total probes differ from expected.txt"
		# The deciding rule, from the same compiled tables.
		awk '$5 != $6 { print $1, $2, $3, $4 }' "$TMP/obs" >"$TMP/bad.probes"
		"$CTL" policy reach --manifests "$TMP/base" --manifests "$dir" --probes "$TMP/bad.probes" \
			>"$TMP/bad.reach" 2>&1
		awk 'NR == FNR { why[FNR] = $0; next } $5 != $6 { i++; printf "#   %s %s %s/%s: expected %s, observed %s (reach: %s)\n", $1, $2, $3, $4, $5, $6, why[i] }' \
			"$TMP/bad.reach" "$TMP/obs" | head -30
	fi
done
# The scenarios left counters behind: node-1 counted denials per rule.
"$CTL" -s "$STATE/n1.sock" --json policy show >"$TMP/show.json" 2>&1
if $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
rules = {r["rule"]: r for r in d["rules"]}
# 085 is the last scenario: x/a -> z/a (same node) hits the ANP Deny, the
# BANP denies into y, the NetworkPolicy allows x/c -> z/a.
assert rules["adminnetworkpolicy z-deny-x-a ingress[0]"]["denied"] > 0, rules
assert rules["baselineadminnetworkpolicy default ingress[0]"]["denied"] > 0, rules
assert rules["networkpolicy z/allow-x ingress[0]"]["allowed"] > 0, rules
' "$TMP/show.json" >"$TMP/show.err" 2>&1; then
	ok "policy show on node-1 counts the last scenario's packets per rule (ANP, NetworkPolicy, BANP)"
else
	not_ok "policy show per-rule counters"
	sed 's/^/# /' "$TMP/show.err" | tail -5
fi

# ---- a policy change under live traffic ----------------------------------
# x/a -> x/b:5201 TCP and x/c -> x/b:5203 UDP (both across nodes) are
# allowed throughout by x/allow-x; z/b -> y/b:5202 TCP (across nodes) is
# allowed by y/allow-z until an AdminNetworkPolicy denies z -> y. Before
# that, unrelated policies come and go in z. The dataplanes must drop none
# of the allowed flows' packets (policy-deny counters, cumulative, on both
# nodes: nothing while the unrelated policies change; after the revocation
# only the revoking rule denies). Throughput and UDP loss are shown, not
# judged: this host may be shared and loaded.
mkdir -p "$TMP/live-a" "$TMP/live-b" "$TMP/live-c"
np() { # np NS NAME FROM_NS [POD_SELECTOR]
	local sel=${4:-"{}"}
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: $2
  namespace: $1
spec:
  podSelector: $sel
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          ns: $3
EOF
}
{ np x allow-x x; np y allow-z z; } >"$TMP/live-a/p.yaml"
{ np x allow-x x; np y allow-z z; np z unrelated y '{matchLabels: {pod: c}}'; } >"$TMP/live-b/p.yaml"
{
	np x allow-x x
	np y allow-z z
	cat <<EOF
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: revoke-z-to-y
spec:
  priority: 5
  subject:
    namespaces:
      matchLabels:
        ns: y
  ingress:
  - name: deny-z
    action: Deny
    from:
    - namespaces:
        matchLabels:
          ns: z
EOF
} >"$TMP/live-c/p.yaml"
REVOKE_RULE="adminnetworkpolicy revoke-z-to-y ingress[0]"

# drops of every reason on both nodes, summed, except tx-full: a full
# af_packet TX ring means the host starved the dataplane's peer (other
# work on a shared machine), not a packet the dataplane decided to drop;
# it is counted apart (txfull) and reported.
drops() {
	local nn s=0 v
	for nn in 1 2; do
		v=$("$CTL" -s "$STATE/n$nn.sock" --json drops |
			$PY -c 'import json, sys; d = json.load(sys.stdin)["drops"]; print(sum(d.values()) - d.get("tx-full", 0))') || v=-1000000
		s=$((s + v))
	done
	echo $s
}
txfull() {
	local nn s=0 v
	for nn in 1 2; do
		v=$("$CTL" -s "$STATE/n$nn.sock" --json drops |
			$PY -c 'import json, sys; print(json.load(sys.stdin)["drops"].get("tx-full", 0))') || v=0
		s=$((s + v))
	done
	echo $s
}
now() { date +%s.%N; }
since() { $PY -c 'import sys, time; print("%.1f" % (time.time() - float(sys.argv[1])))' "$1"; }

if apply "$TMP/live-a"; then
	ok "live: policy applied (x accepts x, y accepts z)"
else
	not_ok "live: policy apply"
	tail -5 "$TMP/apply.log" | sed 's/^/# /'
fi

# The allowed flows must outlive the revocation, which comes after the
# churn: 16 s were enough on a quiet machine, not on one at load 6-8 (the
# policy pushes stretch the churn to 10+ s and the revocation to 20 s).
DUR=30
ip netns exec "${NETNS[x/b]}" timeout $((DUR + 25)) iperf3 -s -p 5201 >/dev/null 2>&1 &
ip netns exec "${NETNS[x/b]}" timeout $((DUR + 25)) iperf3 -s -p 5203 >/dev/null 2>&1 &
ip netns exec "${NETNS[y/b]}" timeout $((DUR + 25)) iperf3 -s -1 -p 5202 -i 0.5 --forceflush \
	>"$TMP/rev-srv.txt" 2>&1 &
disown -a # the servers are killed below: no "Killed" notices
sleep 1
start=$(now)
ip netns exec "${NETNS[x/a]}" timeout $((DUR + 20)) iperf3 -c "${IP[x/b]}" -p 5201 -t $DUR -i 0.5 -b 100M -J \
	>"$TMP/tcp.json" 2>&1 &
tcp_pid=$!
ip netns exec "${NETNS[x/c]}" timeout $((DUR + 20)) iperf3 -c "${IP[x/b]}" -p 5203 -u -t $DUR -i 0.5 -b 5M -l 1000 -J \
	>"$TMP/udp.json" 2>&1 &
udp_pid=$!
# The revoked client cannot finish (its control connection is cut too):
# it is killed a few seconds after the revocation.
ip netns exec "${NETNS[z/b]}" timeout -s KILL $((DUR + 20)) iperf3 -c "${IP[y/b]}" -p 5202 -t 60 -i 0.5 -b 100M \
	>"$TMP/rev-cli.txt" 2>&1 &
rev_pid=$!
disown $rev_pid # no "Killed" notice when it is killed
sleep 2
d0=$(drops)
churn=0 t_churn=$(now)
t_churn0=$(since "$start")
for i in 1 2 3; do # spread over a few seconds, so the flows are measured through it
	apply "$TMP/live-b" && sleep 0.3 && apply "$TMP/live-a" && sleep 0.3 && churn=$((churn + 2))
done
t_churn=$(since "$t_churn")
d1=$(drops)
# per-rule totals carry over from policy to policy (dp_policy_totals):
# what the revocation's checks count is the change from here
for nn in 1 2; do
	"$CTL" -s "$STATE/n$nn.sock" --json policy show >"$TMP/live-base$nn.json" 2>&1
done
apply "$TMP/live-c"
revoked=$(since "$start")
sleep 3.5
kill_iperf3() { # kill_iperf3 NETNS...: this test's iperf3 processes
	local ns pid
	for ns in "$@"; do
		for pid in $(ip netns pids "$ns"); do
			[ "$(cat /proc/"$pid"/comm 2>/dev/null)" = iperf3 ] && kill -KILL "$pid" 2>/dev/null
		done
	done
}
kill_iperf3 "${NETNS[z/b]}"
wait $rev_pid 2>/dev/null
wait $tcp_pid
tcp_rc=$?
wait $udp_pid
udp_rc=$?
# Rule counters, then drops, then rule counters again: denials keep
# arriving (the killed client's kernel retransmits its FIN), so the drops
# must lie between the two readings of the revoking rule's counter.
for nn in 1 2; do
	"$CTL" -s "$STATE/n$nn.sock" --json policy show >"$TMP/live-pre$nn.json" 2>&1
done
d3=$(drops)
for nn in 1 2; do
	"$CTL" -s "$STATE/n$nn.sock" --json policy show >"$TMP/live-show$nn.json" 2>&1
done
kill_iperf3 "${NETNS[x/b]}" "${NETNS[y/b]}"

if [ "$d0" -ge 0 ] && [ "$d1" = "$d0" ] && [ $churn = 6 ]; then
	ok "live: $churn unrelated policy generations per node in $t_churn s under traffic: neither dataplane dropped a packet ($(txfull) tx-full in the whole test: host starvation, not a decision)"
else
	not_ok "live: unrelated changes: $churn generations, drops $d0 -> $d1 (want no change)"
fi

# The allowed TCP flow: completed, moved data before, during and after the
# changes. (Stalls are shown, not judged: on a shared host another
# process's real-time threads can starve the dataplanes; the drop counters
# above say whether the dataplane lost anything.)
if [ $tcp_rc = 0 ] && $PY - "$TMP/tcp.json" "$DUR" "$t_churn0" "$revoked" >"$TMP/tcp.txt" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
dur, t0, t_rev = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
iv = [(i["sum"]["start"], i["sum"]["end"], i["sum"]["bytes"]) for i in d["intervals"]]
e = d["end"]
before = sum(b for s, t, b in iv if t <= t0)
during = sum(b for s, t, b in iv if s < t_rev and t > t0)
after = sum(b for s, t, b in iv if s >= t_rev)
stall = run = 0.0
for s, t, b in iv:
    run = run + (t - s) if b == 0 else 0.0
    stall = max(stall, run)
print("%d/%d/%d bytes before/during/after the changes; %d received in all, %d retransmits, "
      "longest stall %.1f s" % (before, during, after, e["sum_received"]["bytes"],
                                e["sum_sent"]["retransmits"], stall))
print("# Mbit/s per 0.5 s: %s" % [round(i["sum"]["bits_per_second"] / 1e6) for i in d["intervals"]])
sys.exit(0 if before > 0 and during > 0 and after > 0 and t_rev + 1 < dur else 1)
EOF
then
	ok "live: allowed TCP x/a -> x/b kept going: $(cat "$TMP/tcp.txt")"
else
	not_ok "live: allowed TCP x/a -> x/b (rc $tcp_rc): $(cat "$TMP/tcp.txt")"
	sed 's/^/# /' "$TMP/tcp.json" | tail -15
fi
udp_info=$($PY -c '
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum"]
print("%d datagrams sent, %d lost" % (s["packets"], s["lost_packets"]))' "$TMP/udp.json" 2>&1)
if [ $udp_rc = 0 ]; then
	ok "live: allowed UDP x/c -> x/b ran through the changes: $udp_info (loss on this host is not the dataplane's: see the drop counters)"
else
	not_ok "live: allowed UDP x/c -> x/b (rc $udp_rc): $udp_info"
fi

# After the revocation every drop is a denial by the revoking rule: none
# of the allowed flows' packets (those would be "isolated"); the revoked
# flow stops.
if $PY - "$TMP/rev-srv.txt" "$revoked" "$TMP/live-show1.json" "$TMP/live-show2.json" \
	"$REVOKE_RULE" "$((d3 - d1))" "$DUR" "$TMP/live-pre1.json" "$TMP/live-pre2.json" \
	"$TMP/live-base1.json" "$TMP/live-base2.json" >"$TMP/rev.txt" 2>&1 <<'EOF'
import json, re, sys
t_rev = float(sys.argv[2])
units = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
iv = []
for line in open(sys.argv[1]):
    m = re.match(r"\[\s*\d+\]\s+([\d.]+)-([\d.]+)\s+sec\s+([\d.]+)\s+([KMG]?)Bytes", line)
    if m and "sender" not in line and "receiver" not in line:
        iv.append((float(m.group(1)), float(m.group(2)), float(m.group(3)) * units[m.group(4)]))
before = [b for s, e, b in iv if e <= t_rev - 0.5]
after = [b for s, e, b in iv if s >= t_rev + 0.5]
rule, denied = sys.argv[5], int(sys.argv[6])
def rules(files, base=()):
    out = {}
    for sign, fs in ((1, files), (-1, base)):  # since the base readings
        for f in fs:
            for r in json.load(open(f))["rules"]:
                a = out.setdefault(r["rule"], [0, 0])
                a[0] += sign * r["allowed"]
                a[1] += sign * r["denied"]
    return out
base = sys.argv[10:12]
by_rule, pre = rules(sys.argv[3:5], base), rules(sys.argv[8:10], base)
print("revoked at %.1f s; server received %d bytes before, %d in the %d intervals from %.1f s; "
      "%d packets dropped since, %d denied by the revoking rule, %d isolated; x/allow-x allowed %d" %
      (t_rev, sum(before), sum(after), len(after), t_rev + 0.5, denied,
       by_rule.get(rule, [0, 0])[1], by_rule["isolated"][1],
       by_rule["networkpolicy x/allow-x ingress[0]"][0]))
ok = (sum(before) > 0 and len(after) >= 4 and sum(after) == 0 and
      t_rev + 2 < float(sys.argv[7]) and  # the allowed flows outlived it
      denied > 0 and pre.get(rule, [0, 0])[1] <= denied <= by_rule[rule][1] and
      by_rule["isolated"][1] == 0 and
      by_rule["networkpolicy x/allow-x ingress[0]"][0] > 0)
sys.exit(0 if ok else 1)
EOF
then
	ok "live: revoked TCP z/b -> y/b stopped; only the revoking rule denied: $(cat "$TMP/rev.txt")"
else
	not_ok "live: revoked TCP z/b -> y/b: $(cat "$TMP/rev.txt")"
	sed 's/^/# /' "$TMP/rev-srv.txt" | tail -30
fi

# New connections after the revocation: z/b -> y/b refused, z/b -> z/a
# (no policy in z) admitted.
ip netns exec "${NETNS[z/b]}" $PY "$PROBE" probe "$PROBE_S" "tcp:${IP[y/b]}:80" "udp:${IP[y/b]}:81" >"$TMP/after.txt" 2>&1
ip netns exec "${NETNS[z/b]}" $PY "$PROBE" probe "$RETRY_S" "tcp:${IP[z/a]}:80" "udp:${IP[z/a]}:81" >>"$TMP/after.txt" 2>&1
if [ "$(awk '{print $2}' "$TMP/after.txt" | tr '\n' ' ')" = "deny deny allow allow " ]; then
	ok "live: new connections after the change: z/b -> y/b denied, z/b -> z/a allowed (TCP and UDP)"
else
	not_ok "live: new connections after the change: $(tr '\n' ' ' <"$TMP/after.txt")"
fi

for nn in 1 2; do
	echo "# node-$nn drops and per-rule counters at the end:"
	"$CTL" -s "$STATE/n$nn.sock" drops 2>&1 | sed 's/^/#   /'
	"$CTL" -s "$STATE/n$nn.sock" policy show 2>&1 | sed 's/^/#   /'
done
echo "# $(($(date +%s) - T0)) s"
tap_status
