#!/usr/bin/env python3
"""Generate a synthetic cluster for the agent and policy benchmarks.

  gen_cluster.py --pods N --namespaces N --policies N [--nodes N]
                 (--out DIR | --json FILE) [--seed S]

Namespaces ns-0.. carry labels team=t<i%10> and env=prod|dev; pods spread
over them round-robin with labels app=a<j%50> and role=web|api|db, and IPs
10.<node-based>... (10.128.0.0/9 from the pod index, /32 each, unique);
nodes node-0.. with pod CIDRs covering them. NetworkPolicies: a realistic
mix over the namespaces: default-deny ingress, allow from the same team's
namespaces to one app on a port range, allow from a role in any namespace
with matchExpressions, egress to an ipBlock with except. --out writes
YAML files (one per kind) for `nsdp-agent --manifests`; --json writes one
`kind: List` JSON document (for the API-server test double's --preload).
"""
import argparse
import json
import os
import random


def ip_of(i):
    # 10.128.0.0/9: room for 8M pods
    v = (10 << 24) | (128 << 16) | (i + 2)
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def build(args):
    rnd = random.Random(args.seed)
    objs = []
    for i in range(args.namespaces):
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": "ns-%d" % i,
                                  "labels": {"kubernetes.io/metadata.name": "ns-%d" % i,
                                             "team": "t%d" % (i % 10),
                                             "env": "prod" if i % 3 else "dev"}}})
    per_node = (args.pods + args.nodes - 1) // args.nodes
    for j in range(args.pods):
        role = ("web", "api", "db")[j % 3]
        objs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "p-%d" % j, "namespace": "ns-%d" % (j % args.namespaces),
                                  "labels": {"app": "a%d" % (j % 50), "role": role}},
                     "spec": {"nodeName": "node-%d" % (j // per_node),
                              "containers": [{"name": "c", "ports": [
                                  {"name": "http", "containerPort": 8080},
                                  {"name": "metrics", "containerPort": 9090}]}]},
                     "status": {"podIP": ip_of(j), "podIPs": [{"ip": ip_of(j)}]}})
    for n in range(args.nodes):
        objs.append({"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": "node-%d" % n,
                                  "annotations": {"nsdp.io/vtep-mac": "02:00:00:00:%02x:%02x" % (n >> 8, n & 255)}},
                     "spec": {"podCIDR": "10.%d.0.0/16" % (n + 1)},
                     "status": {"addresses": [{"type": "InternalIP",
                                               "address": "192.168.%d.%d" % (n >> 8, n & 255 or 1)}]}})
    for k in range(args.policies):
        ns = "ns-%d" % (k % args.namespaces)
        kind = k % 4
        name = "np-%d" % k
        if kind == 0:
            spec = {"podSelector": {}, "policyTypes": ["Ingress"]}
        elif kind == 1:
            spec = {"podSelector": {"matchLabels": {"app": "a%d" % rnd.randrange(50)}},
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "t%d" % rnd.randrange(10)}}}],
                                 "ports": [{"port": 8000 + rnd.randrange(100), "endPort": 8200, "protocol": "TCP"}]}]}
        elif kind == 2:
            spec = {"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["api", "db"]}]},
                    "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]},
                                           "podSelector": {"matchLabels": {"role": "web"}}}],
                                 "ports": [{"port": "http"}]}]}
        else:
            spec = {"podSelector": {"matchLabels": {"role": "web"}}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.%d.0.0/16" % (1 + rnd.randrange(200))]}}]},
                               {"ports": [{"port": 53, "protocol": "UDP"}]}]}
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": name, "namespace": ns}, "spec": spec})
    return objs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, required=True)
    ap.add_argument("--namespaces", type=int, required=True)
    ap.add_argument("--policies", type=int, required=True)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--json")
    args = ap.parse_args()
    objs = build(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": objs}, f)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for kind in ("Namespace", "Pod", "Node", "NetworkPolicy"):
            with open(os.path.join(args.out, kind.lower() + "s.json"), "w") as f:
                json.dump({"apiVersion": "v1", "kind": "List",
                           "items": [o for o in objs if o["kind"] == kind]}, f)


if __name__ == "__main__":
    main()
