#!/usr/bin/env bash
# End to end: the host port (the node's own stack) on the demo cluster with
# agents (two nodes; default policies: only frontend -> backend:8080 and
# backend -> db:5432 into those namespaces):
#
#  - a pod reaches its node (pod -> 192.168.200.n through the host port;
#    the node's MAC learned from the ARP request the first packet turns into);
#  - the node reaches its pod although policy isolates it (kubelet probes:
#    never denied), on both nodes, while other pods stay denied;
#  - the node's connection survives a policy change (every packet exempt,
#    replies included), and a pod's connection the change revokes is cut;
#  - `nsdpctl trace` from the node's address says why, `nsdpctl ports`
#    shows the port with role host;
#  - the node's route to its pods is the agent's (--host-route nsdph, from
#    the Node object's podCIDR, as in the DaemonSet), not cluster.sh's.
#
# Prints TAP. Needs root. Cleans up on every exit path.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

demo_cluster "e2ho$$"
export NSDP_HOST_ROUTE=agent

need_root
plan 12
cluster_up "cluster with agents up" 2
ok "cluster with agents up (host ports nsdph on both nodes)"
# (the agents set the routes when they first push: they are ready by now)
check "each node's route to its pod CIDR set by its agent (proto 110, via the host port)" \
	bash -c "ip -n ${P}n1 route show proto 110 | grep -q '^10.244.1.0/24 via 169.254.1.1 dev nsdph src 192.168.200.1 onlink' &&
		ip -n ${P}n2 route show proto 110 | grep -q '^10.244.2.0/24 via 169.254.1.1 dev nsdph src 192.168.200.2 onlink'"

serve "${P}p12 5432" "${P}p21 8080" "${P}n1 7000"
denied() { ! reach "$@"; }

check "db/postgres -> its node (192.168.200.1:7000): a pod reaches the node" \
	reach "${P}p12" 192.168.200.1 7000
check "node-1 -> db/postgres:5432 (db admits only backend): the node is never denied" \
	reach "${P}n1" 10.244.1.3 5432
check "frontend/web -> db/postgres:5432 still denied" denied "${P}p11" 10.244.1.3 5432
check "node-2 -> backend/api:8080 (admits only frontend): allowed" reach "${P}n2" 10.244.2.2 8080
check "stranger/intruder -> backend/api:8080 still denied" denied "${P}p22" 10.244.2.2 8080

# A policy change re-decides every established connection on its next
# packet: node-2's connection to backend/api must survive it, frontend's
# (revoked by v2) must not.
ip netns exec "${P}n2" $PY "$PROBE" hold 10.244.2.2 8080 4 >"$TMP/node.out" 2>&1 &
node_hold=$!
ip netns exec "${P}p11" $PY "$PROBE" hold 10.244.2.2 8080 4 >"$TMP/web.out" 2>&1 &
web_hold=$!
sleep 1
g=$(generation 2)
put policies.yaml "$(cat "$ROOT/scripts/demo/v2/policies.yaml")"
wait_gen_above 2 "$g" || not_ok "node-2 took the new policy"
wait "$node_hold"
node_rc=$?
wait "$web_hold"
web_rc=$?
if [ "$node_rc" = 0 ] && [ "$web_rc" = 3 ]; then
	ok "policy change: node-2's connection to backend/api kept ($(cat "$TMP/node.out")), frontend's cut"
else
	not_ok "policy change: node-2's connection exit $node_rc (want 0), frontend's $web_rc (want 3: cut)"
	sed 's/^/# /' "$TMP/node.out" "$TMP/web.out"
fi

tr_out=$("$CTL" -s "$STATE/n1.sock" trace 192.168.200.1 db/postgres 5432/tcp 2>&1)
if grep -q "the node's own connection (kubelet), never denied" <<<"$tr_out" &&
	grep -q "FORWARD to port" <<<"$tr_out" && grep -q "ingress port host" <<<"$tr_out"; then
	ok "nsdpctl trace from the node's address: enters on the host port, never denied, forwarded"
else
	not_ok "nsdpctl trace from the node's address"
	sed 's/^/# /' <<<"$tr_out"
fi
check "nsdpctl ports: the host port, role host" \
	bash -c "'$CTL' -s '$STATE/n1.sock' --json ports | grep -q '\"name\":\"host\",[^}]*\"role\":\"host\"'"
# node-1's podCIDR changes (its Node object): the agent moves the route
routes1() { ip -n "${P}n1" route show proto 110; }
put nodes.yaml "$(sed 's#10\.244\.1\.0/24#10.244.9.0/24#g' "$M/nodes.yaml")"
for _ in $(seq 1 50); do routes1 | grep -q '^10.244.9.0/24' && break; sleep 0.1; done
if routes1 | grep -q '^10.244.9.0/24 via 169.254.1.1 dev nsdph src 192.168.200.1 onlink' &&
	! routes1 | grep -q '^10.244.1.0/24'; then
	ok "node-1's podCIDR changed: its agent replaced the host route (10.244.1.0/24 -> 10.244.9.0/24)"
else
	not_ok "node-1's podCIDR changed: host routes now: $(routes1 | tr '\n' ';')"
fi

cluster_down
ok "cluster down"
tap_status
