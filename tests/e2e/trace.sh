#!/usr/bin/env bash
# End to end: `nsdpctl trace` and `nsdpctl top` against the real two-node
# cluster of scripts/cluster.sh with the demo's pods and policies
# (scripts/demo: frontend -> backend:8080 allowed, nothing else into
# backend). A trace on node 1 must end encapsulated to node-2; the same
# packet traced on node 2 as it arrives from the uplink must show the
# decapsulation and the allowing NetworkPolicy rule; stranger -> backend
# must be denied by isolation. Traces leave no conntrack entry behind.
# `top` must print two parseable frames with non-negative rates while pods
# ping. Prints TAP. Needs root.
set -uo pipefail

. "$(dirname "$0")/lib.sh"

export NSDP_PREFIX="e2tr$$"
export NSDP_POD_NAMES="frontend/web db/postgres backend/api stranger/intruder"
P=$NSDP_PREFIX
STATE=/tmp/nsdp-cluster-$P
DEMO="$ROOT/scripts/demo"

cleanup() { cluster_down; }

need_root
need_tools ping

plan 9
cluster_up "cluster up" 2
ok "cluster up: 2 nodes x 2 pods (demo names)"

applied=1
for nn in 1 2; do
	"$CTL" -s "$STATE/n$nn.sock" policy apply --manifests "$DEMO/base" --manifests "$DEMO/v1" \
		>"$TMP/apply$nn" 2>&1 || applied=0
done
if [ $applied = 1 ]; then ok "demo policies applied on both nodes"; else
	not_ok "demo policies applied on both nodes"; sed 's/^/# /' "$TMP"/apply*; fi

# jq-less JSON checks: jget FILE EXPR (python, document as d)
jget() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
expect() { # expect DESC FILE EXPR WANT
	local got
	got=$(jget "$2" "$3" 2>&1)
	if [ "$got" = "$4" ]; then ok "$1"; else
		not_ok "$1"; echo "# got:  $got"; echo "# want: $4"; sed 's/^/# /' "$2"; fi
}
tr1() { "$CTL" -s "$STATE/n$1.sock" "${@:2}"; }

tr1 1 --json trace frontend/web backend/api 8080/TCP --manifests "$DEMO/base" >"$TMP/t1" 2>&1
expect "node 1: frontend/web -> backend/api 8080/TCP is encapsulated to node-2" "$TMP/t1" \
	"' '.join(map(str, (d['result'], d['encap'], d['out_port'], d['dst'], [s['text'] for s in d['steps'] if s['step']=='route'][0], 'node-2' in [s['text'] for s in d['steps'] if s['step']=='encap'][0], [s['value'] for s in d['steps'] if s['step']=='encap'][0])))" \
	"forward True uplink 10.244.2.2 10.244.2.0/24 via VTEP 192.168.100.2 (node-2) True 42"

tr1 2 --json trace frontend/web backend/api 8080/TCP --from-uplink --manifests "$DEMO/base" >"$TMP/t2" 2>&1
expect "node 2, from the uplink: decap, then allowed by networkpolicy backend/allow-frontend ingress[0]" "$TMP/t2" \
	"' '.join(map(str, (d['result'], d['steps'][1]['step'], d['steps'][1]['value'], d['rule'], d['decided_by'], d['out_port'])))" \
	"forward decap 42 networkpolicy backend/allow-frontend ingress[0] ingress p1"

tr1 2 --json trace stranger/intruder backend/api 8080/TCP >"$TMP/t3" 2>&1
expect "node 2: stranger/intruder -> backend/api is denied by isolated" "$TMP/t3" \
	"' '.join(map(str, (d['result'], d['drop'], d['rule'], d['verdict'], [s['verdict'] for s in d['steps'] if s['step']=='policy ingress'][0])))" \
	"drop policy-deny isolated deny deny"

tr1 2 trace stranger/intruder backend/api 8080/TCP >"$TMP/t4" 2>&1
if grep -q "verdict        DROP policy-deny by isolated" "$TMP/t4" &&
	grep -q "policy ingress subject [0-9]*: deny (isolated)" "$TMP/t4"; then
	ok "human output names the side, the subject class and the rule"; else
	not_ok "human output names the side, the subject class and the rule"; sed 's/^/# /' "$TMP/t4"; fi

tr1 2 trace nobody/here backend/api 8080/TCP >"$TMP/t5" 2>&1
st=$?
if [ $st = 2 ] && grep -q '"nobody/here" is not an endpoint of node node-2' "$TMP/t5"; then
	ok "an unknown endpoint name: exit 2 and a clear message"; else
	not_ok "an unknown endpoint name: exit 2 and a clear message (exit $st)"; sed 's/^/# /' "$TMP/t5"; fi

flows=$(tr1 1 --json flows | "$PY" -c "import json,sys; print(json.load(sys.stdin)['count'])")
flows2=$(tr1 2 --json flows | "$PY" -c "import json,sys; print(json.load(sys.stdin)['count'])")
if [ "$flows" = 0 ] && [ "$flows2" = 0 ]; then ok "traces created no conntrack entry"; else
	not_ok "traces created no conntrack entry (node 1: $flows, node 2: $flows2)"; fi

# top while pods ping across nodes (frontend/web -> db/postgres is local,
# web -> api remote; ICMP is allowed out of frontend and into... nothing
# matters here: drops count too).
ip netns exec "${P}p11" ping -q -c 60 -i 0.05 -W 1 10.244.2.2 >/dev/null 2>&1 &
pinger=$!
sleep 0.3
tr1 1 --json top --count 2 --interval 0.5 >"$TMP/top" 2>"$TMP/top.err"
wait $pinger 2>/dev/null
if "$PY" - "$TMP/top" <<'PYEOF' >"$TMP/top.check" 2>&1; then ok "top: 2 frames, fields parse, rates non-negative, traffic seen"; else not_ok "top: 2 frames, fields parse, rates non-negative, traffic seen"; sed 's/^/# /' "$TMP/top.check" "$TMP/top" "$TMP/top.err"; fi
import json, sys
frames = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(frames) == 2, len(frames)
assert [f["frame"] for f in frames] == [1, 2]
for f in frames:
    assert f["interval_s"] > 0.4, f["interval_s"]
    assert f["lcores"], "no lcores"
    for l in f["lcores"]:
        for k in ("rx_pps", "tx_pps", "busy_pps", "cycles_per_packet", "busy_pct"):
            assert l[k] >= 0, (k, l[k])
    for d in f["drops"]:
        assert d["per_s"] >= 0 and d["total"] >= 0
    assert f["flows_order"] == "recency"
assert any(l["rx_pps"] > 0 for f in frames for l in f["lcores"]), "no traffic seen"
print("ok")
PYEOF
tap_status
