#!/usr/bin/env bash
# End to end: flow logs and policy audit mode (issue 7) on the demo cluster
# (two nodes, agents on the demo manifests, each agent writing its node's
# flow logs with --flow-log):
#
#  - a denied connection on one node: one record (SYN retransmissions are
#    not logged again), checked field by field: time, node, verdict, audit,
#    direction, reason, protocol, source and destination (IP, port,
#    namespace, pod) and the deciding rule;
#  - a denied connection across nodes: logged where it is denied, with the
#    remote pod's namespace and name (from the agent's cache);
#  - an AdminNetworkPolicy in audit mode (annotation nsdp.io/policy-mode:
#    audit): the connection it would deny is forwarded, logged as audit
#    with that rule and counted in the rule's "audit" metric; enforced
#    (annotation removed): denied and logged as deny by the same rule;
#  - flow-log counters in /metrics (dataplane and agent);
#  - the log file renamed away (rotation): the agent writes a new one.
#
# Prints TAP. Needs root. Cleans up on every exit path.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

demo_cluster "e2fl$$"
export NSDP_FLOWLOG=1
F1=$STATE/n1.flows.jsonl
F2=$STATE/n2.flows.jsonl

need_root
plan 13
cluster_up "cluster with agents and flow logs up" 2
ok "cluster with agents and flow logs up"

serve "${P}p11 8080" "${P}p12 5432" "${P}p21 8080"

fl() { $PY "$ROOT/tests/e2e/flowlog_check.py" "$@"; }
# wait_fl ARGS...: fl ARGS until it holds (the agents write every 100 ms)
wait_fl() {
	for _ in $(seq 1 30); do
		fl "$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fl "$@"
}
denied() { ! reach "$@"; }

# 2-3: a denied connection on node-2, field by field
T=$(date +%s)
check "stranger/intruder -> backend/api:8080 denied" denied "${P}p22" 10.244.2.2 8080
check "node-2 logs it once, every field as expected" \
	wait_fl "$F2" --count 1 --since "$T" node=node-2 verdict=deny audit=false direction=ingress \
	reason=new protocol=TCP src.ip=10.244.2.3 src.namespace=stranger src.pod=intruder \
	dst.ip=10.244.2.2 dst.port=8080 dst.namespace=backend dst.pod=api policy=isolated
t=$(fl "$F2" --since "$T" dst.port=8080 | head -1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["time"])')
check "its time is the connection's (within the probe's 2 s)" \
	$PY -c "import datetime,sys; t=datetime.datetime.strptime('$t','%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp(); sys.exit(not $T - 1 <= t <= $T + 4)"

# 4-5: across nodes: the source node decides both sides and drops it
# before the overlay (docs/policy.md); the destination, on node-1, is named
# from the agent's cache
T=$(date +%s)
check "stranger/intruder -> db/postgres:5432 (other node) denied" denied "${P}p22" 10.244.1.3 5432
check "node-2 logs it (db's ingress side) with the remote pod's namespace and name" \
	wait_fl "$F2" --count 1 --since "$T" node=node-2 verdict=deny direction=ingress \
	src.ip=10.244.2.3 src.namespace=stranger src.pod=intruder dst.ip=10.244.1.3 \
	dst.namespace=db dst.pod=postgres dst.port=5432 policy=isolated

# 6-8: an ANP in audit mode
ANP='apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: audit-frontend
  annotations: {nsdp.io/policy-mode: audit}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {tier: backend}}}
  ingress:
  - name: no-frontend
    action: Deny
    from: [{namespaces: {matchLabels: {tier: frontend}}}]'
RULE='adminnetworkpolicy audit-frontend ingress[0]'
g=$(generation 2)
put audit.yaml "$ANP"
wait_gen_above 2 "$g"
T=$(date +%s)
check "audit mode: frontend/web -> backend/api:8080 still connects" reach "${P}p11" 10.244.2.2 8080
# both nodes decide it (the source node both sides, the destination its own)
check "node-2 logs it as audit (allowed, would be denied) with the audited rule" \
	wait_fl "$F2" --count 1 --since "$T" verdict=allow audit=true direction=ingress reason=new \
	src.namespace=frontend src.pod=web dst.namespace=backend dst.pod=api dst.port=8080 \
	"policy=$RULE"
# (the rule name has a space: not metric's whitespace-split match)
audit_packets() {
	metrics "$1" | grep -F "nsdp_policy_rule_packets_total{rule=\"$RULE\",verdict=\"audit\"}" |
		awk '{ print $NF }'
}
check "the rule's audit counter in /metrics" test "$(audit_packets 2)" -ge 1

# 9-10: enforced
g=$(generation 2)
put audit.yaml "$(grep -v 'annotations:' <<<"$ANP")"
wait_gen_above 2 "$g"
T=$(date +%s)
check "enforced: frontend/web -> backend/api:8080 denied" denied "${P}p11" 10.244.2.2 8080
check "node-1 (the source's node: dropped before the overlay) logs it as deny by the same rule" \
	wait_fl "$F1" --count 1 --since "$T" verdict=deny audit=false src.pod=web dst.pod=api "policy=$RULE"

# 11: counters
check "flow-log counters in /metrics: the dataplane's and the agent's" \
	test "$(metrics 2 | awk '/^nsdp_flowlog_records_total/ { s += $2 } END { print s + 0 }')" -ge 3 \
	-a "$(metric 2 nsdp_agent_flowlog_records_total)" -ge 3

# 12: rotation
mv "$F2" "$F2.1"
sleep 1.2
T=$(date +%s)
denied "${P}p22" 10.244.2.2 8080
check "after the file is renamed away the agent writes a new one" \
	wait_fl "$F2" --count 1 --since "$T" src.pod=intruder dst.pod=api verdict=deny
tap_status
