#!/usr/bin/env bash
# End to end: nsdp-agent in standalone mode (a manifests directory) keeping
# two nsdp-dataplanes in sync, on real traffic.
#
#  - routes and VTEPs come only from the Node objects (the dataplanes start
#    without any), so cross-node TCP proves the agents installed them;
#  - policy from the manifests is enforced (allowed and denied pairs);
#  - a file with one bad object: that object is rejected alone (logged with
#    file, line, object and field; counted in /metrics), the good one next
#    to it is applied;
#  - a file broken mid-edit (YAML syntax error) keeps its last good version;
#  - a Node removed: its route and VTEP go; put back: they return;
#  - the dataplane restarts: the agent notices and pushes everything again;
#  - both agents restart while a TCP connection is held: it is not cut;
#  - /metrics, /healthz, /readyz scraped and parsed; the dataplane's
#    counters exported there match nsdpctl; deploy/grafana's dashboard uses
#    only exported metrics.
#
# Prints TAP. Needs root. Cleans up on every exit path.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

demo_cluster "e2ag$$"

plan 24
cluster_up "cluster with agents up" 2
ok "cluster with agents up, both agents ready"

serve "${P}p11 8080" "${P}p12 5432" "${P}p21 8080" "${P}p22 8080"

routes_json() { "$CTL" -s "$STATE/n$1.sock" --json routes; }

# 2-3: routes and VTEPs from Node objects
r=$(routes_json 1)
check "node-1 routes from Node objects: own CIDR local, node-2's via its VTEP" \
	grep -q '"prefix": *"10.244.2.0/24".*"vtep": *"192.168.100.2"' <<<"$(tr -d '\n' <<<"$r")"
check "node-1 VTEP of node-2 with the nsdp.io/vtep-mac annotation" \
	grep -q '02:00:c0:a8:64:02' <<<"$("$CTL" -s "$STATE/n1.sock" vteps)"

# 4-5: policy on real traffic
check "frontend/web -> backend/api:8080 allowed across nodes" reach "${P}p11" 10.244.2.2 8080
if reach "${P}p22" 10.244.2.2 8080; then
	not_ok "stranger/intruder -> backend/api:8080 denied"
else
	ok "stranger/intruder -> backend/api:8080 denied"
fi

# 6-8: one bad object is rejected alone
g=$(generation 2)
put extra.yaml 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: stranger, name: broken}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80, endPort: 70}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: backend, name: allow-stranger}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {tier: none}}}]}]'
wait_gen_above 2 "$g"
check "the good policy next to a bad one is applied (stranger -> backend allowed)" \
	reach "${P}p22" 10.244.2.2 8080
check "the bad object is logged with file, line, object and field" \
	grep -q 'extra.yaml:[0-9]*: NetworkPolicy stranger/broken: spec.ingress\[0\].ports\[0\].endPort' "$STATE/agent2.log"
check "the rejection is counted in /metrics" \
	test "$(metric 2 'nsdp_agent_rejected_objects_total{kind="NetworkPolicy"}')" -ge 1

# 9-10: a file broken mid-edit keeps its last good version
put extra.yaml 'apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: backend, name: allow-stranger
spec: ['
sleep 1
check "a YAML syntax error keeps the file's last good version (stranger -> backend still allowed)" \
	reach "${P}p22" 10.244.2.2 8080
check "the agent says it keeps the last good version" \
	grep -q 'extra.yaml: keeping its last good version' "$STATE/agent2.log"
g=$(generation 2)
rm -f "$M/extra.yaml"
wait_gen_above 2 "$g"

# 11-12: Node objects drive routes
g=$(generation 1)
cp "$M/nodes.yaml" "$STATE/nodes.full"
awk '/^---$/ { doc++ } doc != 2' "$STATE/nodes.full" >"$M/.nodes.tmp" && mv "$M/.nodes.tmp" "$M/nodes.yaml"
wait_gen_above 1 "$g"
r=$(routes_json 1)
if grep -q '10.244.2.0/24' <<<"$r" || "$CTL" -s "$STATE/n1.sock" vteps | grep -q 192.168.100.2; then
	not_ok "node-2 deleted: its route and VTEP are gone from node-1"
else
	ok "node-2 deleted: its route and VTEP are gone from node-1"
fi
g=$(generation 1)
cp "$STATE/nodes.full" "$M/.nodes.tmp" && mv "$M/.nodes.tmp" "$M/nodes.yaml"
wait_gen_above 1 "$g"
check "node-2 back: traffic to it flows again" reach "${P}p11" 10.244.2.2 8080

# 13-15: the dataplane of node-2 restarts; its agent resyncs it
dp_pid=$(cat "$STATE/n2.pid")
kill -TERM "$dp_pid"
for _ in $(seq 1 50); do kill -0 "$dp_pid" 2>/dev/null || break; sleep 0.1; done
ip netns exec "${P}n2" "$NSDP_DATAPLANE" -c "$STATE/n2.conf" >>"$STATE/n2.log" 2>&1 &
echo $! >"$STATE/n2.pid"
ok_resync=0
for _ in $(seq 1 150); do
	if "$CTL" -s "$STATE/n2.sock" --json routes 2>/dev/null | grep -q '10.244.1.0/24' &&
		"$CTL" -s "$STATE/n2.sock" policy show 2>/dev/null | grep -q 'backend/allow-frontend' &&
		grep -q 'the dataplane restarted' "$STATE/agent2.log"; then
		ok_resync=1
		break
	fi
	sleep 0.1
done
check "dataplane restart: the agent noticed it and resynced (routes and policy in place)" \
	test $ok_resync = 1
# (the routes were back before the agent: the dataplane's state_file)
check "the restarted dataplane re-added its tables from its state file" \
	grep -q "state from $STATE/n2.state" "$STATE/n2.log"
if reach "${P}p11" 10.244.2.2 8080 && ! reach "${P}p22" 10.244.2.2 8080; then
	ok "after the restart, policy is enforced again (allowed and denied pairs)"
else
	not_ok "after the restart, policy is enforced again (allowed and denied pairs)"
fi

# 16-17: the policy cache: node-2's dataplane restarts while its agent is
# down, and enforces the last policy from its first packet
bash "$CLUSTER" agent-stop 2
dp_pid=$(cat "$STATE/n2.pid")
kill -TERM "$dp_pid"
for _ in $(seq 1 50); do kill -0 "$dp_pid" 2>/dev/null || break; sleep 0.1; done
ip netns exec "${P}n2" "$NSDP_DATAPLANE" -c "$STATE/n2.conf" >>"$STATE/n2.log" 2>&1 &
echo $! >"$STATE/n2.pid"
for _ in $(seq 1 100); do "$CTL" -s "$STATE/n2.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
check "with no agent, the restarted dataplane loaded the cached policy" \
	grep -q 'backend/allow-frontend' <<<"$("$CTL" -s "$STATE/n2.sock" policy show)"
if reach "${P}p22" 10.244.2.2 8080; then
	not_ok "... and enforces it: stranger/intruder -> backend/api denied before any agent connects"
else
	ok "... and enforces it: stranger/intruder -> backend/api denied before any agent connects"
fi
bash "$CLUSTER" agent-start 2 >/dev/null

# 16: agents restart under an established connection
ip netns exec "${P}p11" $PY "$PROBE" hold 10.244.2.2 8080 6 >"$STATE/hold.out" 2>&1 &
holder=$!
sleep 1
old1=$(cat "$STATE/agent1.pid") old2=$(cat "$STATE/agent2.pid")
bash "$CLUSTER" agent-stop 1
bash "$CLUSTER" agent-stop 2
gone=0
kill -0 "$old1" 2>/dev/null || kill -0 "$old2" 2>/dev/null || gone=1
sleep 1
bash "$CLUSTER" agent-start 1 && bash "$CLUSTER" agent-start 2
wait $holder
rc=$?
check "both agents restarted (old processes gone, new ones ready) while frontend/web held a connection to backend/api: not cut ($(cat "$STATE/hold.out"))" \
	test "$rc $gone $(grep -c 'nsdp-agent starting' "$STATE/agent1.log")" = "0 1 2"

# 17-19: metrics and health
check "/healthz and /readyz answer 200" \
	ip netns exec "${P}n1" curl -sf -m 2 http://127.0.0.1:9464/healthz -o /dev/null -w '' \
	--next -sf -m 2 http://127.0.0.1:9464/readyz -o /dev/null
check "/metrics: 4 pods, 4 namespaces, 2 nodes in the cache, ready" \
	test "$(metric 1 'nsdp_agent_objects{kind="Pod"}') $(metric 1 'nsdp_agent_objects{kind="Namespace"}') $(metric 1 'nsdp_agent_objects{kind="Node"}') $(metric 1 nsdp_agent_ready)" = "4 4 2 1"
check "/metrics: the event-to-acknowledgement histogram has observations" \
	test "$(metric 1 nsdp_agent_sync_latency_seconds_count)" -ge 1

# 20-22: the dataplane's counters through the agent's /metrics
sum_metric() { # sum_metric NODE REGEX: sum of the samples whose name{labels} match
	metrics "$1" | awk -v re="$2" '$1 ~ re { s += $2 } END { print s + 0 }'
}
want=$("$CTL" -s "$STATE/n2.sock" --json drops | tr -d '\n ' | sed -n 's/.*"drops":{[^}]*"policy-deny":\([0-9]*\).*/\1/p')
got=$(sum_metric 2 '^nsdp_drops_total[{]reason="policy-deny",')
check "/metrics exports the dataplane's drops: policy-deny on node-2 = nsdpctl drops ($got = $want, > 0)" \
	test "$got" = "$want" -a "${want:-0}" -gt 0
# (the agents' restart re-sent the policy, which starts its rule counters
# afresh: deny one more connection first)
reach "${P}p22" 10.244.2.2 8080
check "/metrics exports per-rule counters: packets denied as isolated on node-2" \
	test "$(sum_metric 2 '^nsdp_policy_rule_packets_total[{]rule="isolated",verdict="deny"')" -gt 0
missing=""
scrape=$(metrics 1) # once: `metrics | grep -q` would fail on SIGPIPE under pipefail
for name in $(grep -o 'nsdp_[a-z_]*' "$ROOT/deploy/grafana/nsdp-dashboard.json" | sort -u); do
	grep -q "^$name[{ ]" <<<"$scrape" || missing="$missing $name"
done
check "every metric the Grafana dashboard uses is exported${missing:+ (missing:$missing)}" test -z "$missing"

if [ "$failed" -gt 0 ]; then
	for f in "$STATE"/agent*.log; do sed "s|^|# $(basename "$f"): |" "$f"; done
fi
tap_status
