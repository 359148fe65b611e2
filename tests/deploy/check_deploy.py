#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""deploy/ against the code it deploys (TAP).

Loads every deploy/*.yaml and checks:
  - the ClusterRole grants exactly get/list/watch on exactly the resources of
    ag_kinds in agent/agentlib.c (parsed from the C table), and the binding
    names that ClusterRole and the ServiceAccount the DaemonSet runs as;
  - the DaemonSet: host network, privileged dataplane, hugepages, /dev/vfio,
    the control socket on one volume shared by both containers and equal to
    the dataplane's control_socket, NODE_NAME from spec.nodeName, probes on
    the port of the agent's --metrics flag, rollout and scheduling settings;
  - the agent's arguments: every flag is in the real `nsdp-agent --help`
    (env NSDP_AGENT_BIN), and the real binary accepts the whole list;
  - every object against the official Kubernetes Python client's model of
    its kind: deserialised and serialised again, no field may be lost (a
    misspelt or misplaced field is lost), required fields present;
  - the ConfigMap's template, rendered by deploy/nsdp-render-config as the
    init container does, passes the real `nsdp-dataplane --check-config`
    (env NSDP_DATAPLANE), and unrendered it does not;
  - kustomization.yaml lists every manifest, the Containerfile provides
    every command the pod runs from Debian packages only, and the
    nsdp-agent flags docs/operations.md shows exist.

Env: NSDP_AGENT_BIN, NSDP_DATAPLANE (required); NSDP_DEPLOY_DIR,
NSDP_AGENTLIB, NSDP_OPERATIONS_MD (default: this repository's) to check
another copy.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.environ.get("NSDP_DEPLOY_DIR", os.path.join(ROOT, "deploy"))
AGENTLIB = os.environ.get("NSDP_AGENTLIB", os.path.join(ROOT, "agent", "agentlib.c"))
AGENT_H = os.path.join(os.path.dirname(AGENTLIB), "agent.h")
OPERATIONS = os.environ.get("NSDP_OPERATIONS_MD", os.path.join(ROOT, "docs", "operations.md"))
AGENT_BIN = os.environ.get("NSDP_AGENT_BIN", "")
DATAPLANE = os.environ.get("NSDP_DATAPLANE", "")
DEFAULT_SOCKET = "/run/nsdp/dataplane.sock"

results = []  # (ok, name, diagnostics, skip)


class Fail(Exception):
    pass


def check(name, fn, *args):
    try:
        r = fn(*args)
        if isinstance(r, tuple) and r and r[0] == "SKIP":
            results.append((True, name, [], r[1]))
        else:
            results.append((True, name, [], None))
    except Fail as e:
        results.append((False, name, str(e).splitlines(), None))
    except Exception:
        results.append((False, name, traceback.format_exc().splitlines(), None))


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------------------
# Loading

docs = []  # (file, index, object)
load_errors = []
yaml_files = sorted(glob.glob(os.path.join(DEPLOY, "*.yaml")) + glob.glob(os.path.join(DEPLOY, "*.yml")))
for path in yaml_files:
    try:
        with open(path) as f:
            for i, d in enumerate(yaml.safe_load_all(f)):
                if d is not None:
                    docs.append((os.path.basename(path), i, d))
    except (OSError, yaml.YAMLError) as e:
        load_errors.append(f"{os.path.basename(path)}: {e}")


def objects(kind):
    return [d for (_, _, d) in docs if isinstance(d, dict) and d.get("kind") == kind]


def one(kind):
    objs = objects(kind)
    if len(objs) != 1:
        raise Fail(f"expected exactly one {kind} in {DEPLOY}, found {len(objs)}")
    return objs[0]


def t_load():
    expect(yaml_files, f"no *.yaml in {DEPLOY}")
    expect(not load_errors, "\n".join(load_errors))
    for (f, i, d) in docs:
        expect(isinstance(d, dict) and d.get("apiVersion") and d.get("kind"),
               f"{f}: document {i}: not an object with apiVersion and kind")
        if d["kind"] != "Kustomization":
            name = (d.get("metadata") or {}).get("name", "")
            expect(re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name or ""),
                   f"{f}: {d['kind']}: metadata.name {name!r} is not a DNS-1123 name")


def t_kustomization():
    k = one("Kustomization")
    listed = set(k.get("resources") or [])
    present = {os.path.basename(p) for p in yaml_files} - {"kustomization.yaml", "kustomization.yml"}
    expect(listed == present,
           f"kustomization resources {sorted(listed)} != manifests in deploy/ {sorted(present)}")
    ds = one("DaemonSet")
    images = {c["image"] for c in pod_spec(ds).get("containers", []) + pod_spec(ds).get("initContainers", [])}
    for im in k.get("images") or []:
        expect(any(i == im["name"] or i.startswith(im["name"] + ":") for i in images),
               f"kustomization images: {im['name']} is not an image of the DaemonSet ({sorted(images)})")


def t_kustomize_build():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return ("SKIP", "kubectl not installed")
    p = subprocess.run([kubectl, "kustomize", DEPLOY], capture_output=True, text=True, timeout=60)
    expect(p.returncode == 0, f"kubectl kustomize: {p.stderr.strip()}")
    built = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(p.stdout) if d}
    ours = {(d["kind"], d["metadata"]["name"]) for (_, _, d) in docs if d.get("kind") != "Kustomization"}
    expect(built == ours, f"kustomize built {sorted(built)}, the files hold {sorted(ours)}")


# ---------------------------------------------------------------------------
# Kubernetes models

def model_name(d):
    api = d["apiVersion"]
    version = api.split("/")[-1]
    return version[0].upper() + version[1:] + d["kind"]


def lost_fields(orig, back, path):
    """Paths in orig that the model round trip lost."""
    lost = []
    if isinstance(orig, dict):
        if not isinstance(back, dict):
            return [f"{path or '.'} (not an object in the model)"]
        for k, v in orig.items():
            p = f"{path}.{k}" if path else k
            if k not in back:
                lost.append(p)
            else:
                lost += lost_fields(v, back[k], p)
    elif isinstance(orig, list):
        if not isinstance(back, list) or len(back) != len(orig):
            return [f"{path} (list changed)"]
        for i, (a, b) in enumerate(zip(orig, back)):
            lost += lost_fields(a, b, f"{path}[{i}]")
    return lost


def t_model(f, d):
    import kubernetes.client as kc
    name = model_name(d)
    if not hasattr(kc, name):
        return ("SKIP", f"the Kubernetes client has no model {name}")
    api = kc.ApiClient()
    try:
        obj = api._ApiClient__deserialize(d, name)
    except ValueError as e:  # client-side validation: a required field missing
        raise Fail(f"{f}: {name}: {e}")
    back = api.sanitize_for_serialization(obj)
    lost = lost_fields(d, back, "")
    expect(not lost, f"{f}: fields {name} does not have (misspelt or misplaced?):\n" + "\n".join(lost))


# ---------------------------------------------------------------------------
# RBAC against ag_kinds

def ag_kinds():
    src = open(AGENTLIB).read()
    m = re.search(r"ag_kinds\s*\[[^\]]*\]\s*=\s*\{(.*?)\n\};", src, re.S)
    if not m:
        raise Fail(f"{AGENTLIB}: no ag_kinds table")
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    s = r'"((?:[^"\\]|\\.)*)"\s*'
    rows = re.findall(r"\[\s*(AG_\w+)\s*\]\s*=\s*\{\s*" + r",\s*".join([s] * 5) + r",\s*(true|false)\s*\}", body)
    kinds = {r[0]: {"kind": r[1], "apiVersion": r[2], "group": r[3], "resource": r[4], "path": r[5]} for r in rows}
    # every entry of the enum must have been understood
    h = open(AGENT_H).read()
    e = re.search(r"enum\s+ag_kind\s*\{(.*?)\}", h, re.S)
    enum = [x for x in re.findall(r"\b(AG_\w+)\b", e.group(1)) if x != "AG_N_KINDS"] if e else []
    entries = re.findall(r"\[\s*(AG_\w+)\s*\]\s*=", body)
    if set(entries) != set(kinds) or (enum and set(enum) != set(kinds)):
        raise Fail(f"{AGENTLIB}: could not read every ag_kinds entry (enum {enum}, entries {entries}, parsed {sorted(kinds)})")
    return kinds


def t_rbac_exact():
    kinds = ag_kinds()
    want = {(k["group"], k["resource"]) for k in kinds.values()}
    cr = one("ClusterRole")
    got = set()
    for i, r in enumerate(cr.get("rules") or []):
        expect(sorted(r.get("verbs") or []) == ["get", "list", "watch"],
               f"ClusterRole rule {i}: verbs {r.get('verbs')} (exactly get, list, watch)")
        expect(not r.get("resourceNames") and not r.get("nonResourceURLs"),
               f"ClusterRole rule {i}: resourceNames/nonResourceURLs are not for the agent")
        for g in r.get("apiGroups") or []:
            for res in r.get("resources") or []:
                expect("*" not in g and "*" not in res, f"ClusterRole rule {i}: wildcard {g!r}/{res!r}")
                got.add((g, res))
    missing = sorted(want - got)
    extra = sorted(got - want)
    expect(not missing and not extra,
           "ClusterRole vs ag_kinds:" + "".join(f"\n  missing {g or 'core'}/{r} (the agent lists and watches it)" for g, r in missing)
           + "".join(f"\n  extra {g or 'core'}/{r} (the agent does not use it)" for g, r in extra))


def t_binding():
    cr, crb, sa = one("ClusterRole"), one("ClusterRoleBinding"), one("ServiceAccount")
    ref = crb.get("roleRef") or {}
    expect(ref.get("kind") == "ClusterRole" and ref.get("name") == cr["metadata"]["name"]
           and ref.get("apiGroup") == "rbac.authorization.k8s.io",
           f"roleRef {ref} does not name ClusterRole {cr['metadata']['name']}")
    subj = crb.get("subjects") or []
    expect(len(subj) == 1, f"expected one subject, got {subj}")
    s = subj[0]
    expect(s.get("kind") == "ServiceAccount" and s.get("name") == sa["metadata"]["name"]
           and s.get("namespace") == sa["metadata"].get("namespace"),
           f"subject {s} is not ServiceAccount {sa['metadata'].get('namespace')}/{sa['metadata']['name']}")


def t_namespaces():
    ns = one("Namespace")["metadata"]["name"]
    for (f, _, d) in docs:
        if d["kind"] in ("ServiceAccount", "ConfigMap", "DaemonSet"):
            got = d["metadata"].get("namespace")
            expect(got == ns, f"{f}: {d['kind']} {d['metadata']['name']} is in namespace {got!r}, not {ns!r}")
    labels = one("Namespace")["metadata"].get("labels") or {}
    expect(labels.get("pod-security.kubernetes.io/enforce") == "privileged",
           "the namespace must allow privileged pods (pod-security.kubernetes.io/enforce: privileged)")


# ---------------------------------------------------------------------------
# The DaemonSet

def pod_spec(ds):
    return ds["spec"]["template"]["spec"]


def container(ds, name, init=False):
    for c in pod_spec(ds).get("initContainers" if init else "containers") or []:
        if c["name"] == name:
            return c
    raise Fail(f"DaemonSet: no {'init ' if init else ''}container {name!r}")


def argv(c):
    return list(c.get("command") or []) + list(c.get("args") or [])


def flag_value(args, *names):
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if n.startswith("--") and a.startswith(n + "="):
                return a[len(n) + 1:]
    return None


def agent_container(ds):
    for c in pod_spec(ds)["containers"]:
        if any(os.path.basename(x) == "nsdp-agent" for x in argv(c)[:1]):
            return c
    raise Fail("DaemonSet: no container runs nsdp-agent")


def dataplane_container(ds):
    for c in pod_spec(ds)["containers"]:
        if any(os.path.basename(x) == "nsdp-dataplane" for x in argv(c)[:1]):
            return c
    raise Fail("DaemonSet: no container runs nsdp-dataplane")


def mount_of(c, path):
    """The volume mount of container c holding path (longest mountPath)."""
    best = None
    for m in c.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if not best or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    return best


def volume(ds, name):
    for v in pod_spec(ds).get("volumes") or []:
        if v["name"] == name:
            return v
    raise Fail(f"DaemonSet: no volume {name!r}")


def t_selector():
    ds = one("DaemonSet")
    sel = ds["spec"]["selector"].get("matchLabels") or {}
    labels = ds["spec"]["template"]["metadata"].get("labels") or {}
    expect(sel and all(labels.get(k) == v for k, v in sel.items()),
           f"selector {sel} does not match the template's labels {labels}")
    for c in pod_spec(ds)["containers"] + (pod_spec(ds).get("initContainers") or []):
        for m in c.get("volumeMounts") or []:
            volume(ds, m["name"])


def t_host_network():
    ps = pod_spec(one("DaemonSet"))
    expect(ps.get("hostNetwork") is True, "hostNetwork must be true")
    expect(ps.get("dnsPolicy") == "ClusterFirstWithHostNet",
           f"dnsPolicy {ps.get('dnsPolicy')!r}: with hostNetwork use ClusterFirstWithHostNet")


def t_service_account():
    ds, sa = one("DaemonSet"), one("ServiceAccount")
    expect(pod_spec(ds).get("serviceAccountName") == sa["metadata"]["name"],
           f"serviceAccountName {pod_spec(ds).get('serviceAccountName')!r} is not {sa['metadata']['name']!r}")
    expect(ds["metadata"].get("namespace") == sa["metadata"].get("namespace"),
           "the DaemonSet and its ServiceAccount are in different namespaces")
    expect(pod_spec(ds).get("automountServiceAccountToken", True) is not False,
           "automountServiceAccountToken: false leaves --in-cluster without a token")


def t_privileged():
    dp = dataplane_container(one("DaemonSet"))
    expect((dp.get("securityContext") or {}).get("privileged") is True,
           "the dataplane container must be privileged (vfio, hugepages, CPU pinning)")


def t_hugepages():
    ds = one("DaemonSet")
    dp = dataplane_container(ds)
    res = dp.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    hp = [k for k in limits if k.startswith("hugepages-")]
    expect(hp, f"the dataplane has no hugepages-* limit (limits: {limits})")
    for k in hp:
        expect(k not in requests or str(requests[k]) == str(limits[k]),
               f"{k}: request {requests.get(k)} != limit {limits[k]} (the API requires them equal)")
    expect(any(k in requests or k in limits for k in ("cpu", "memory")),
           "hugepages need a cpu or memory request as well (API validation)")
    m = mount_of(dp, "/dev/hugepages")
    expect(m and m["mountPath"].rstrip("/") == "/dev/hugepages", "the dataplane does not mount /dev/hugepages")
    v = volume(ds, m["name"])
    ok = (v.get("emptyDir") or {}).get("medium", "").startswith("HugePages") or \
        (v.get("hostPath") or {}).get("path") == "/dev/hugepages"
    expect(ok, f"/dev/hugepages is volume {v}: expected emptyDir medium HugePages or hostPath /dev/hugepages")


def t_vfio():
    ds = one("DaemonSet")
    dp = dataplane_container(ds)
    m = mount_of(dp, "/dev/vfio")
    expect(m and m["mountPath"].rstrip("/") == "/dev/vfio", "the dataplane does not mount /dev/vfio")
    v = volume(ds, m["name"])
    expect((v.get("hostPath") or {}).get("path") == "/dev/vfio", f"/dev/vfio is volume {v}, not hostPath /dev/vfio")


def rendered_config_text():
    """The ConfigMap's template as the init container renders it."""
    return render(dict(os.environ, NODE_IP="192.0.2.10", NODE_NAME="node-1.example"))[2]


def config_socket(text):
    m = re.search(r'^\s*control_socket\s*[=:]\s*"([^"]*)"', text, re.M)
    return m.group(1) if m else DEFAULT_SOCKET


def t_socket():
    ds = one("DaemonSet")
    ag, dp = agent_container(ds), dataplane_container(ds)
    sock = flag_value(argv(ag), "-s", "--socket") or DEFAULT_SOCKET
    dsock = config_socket(rendered_config_text())
    expect(sock == dsock, f"the agent talks to {sock}, the dataplane serves {dsock} (control_socket)")
    ma, md = mount_of(ag, sock), mount_of(dp, dsock)
    expect(ma and md, f"{sock} is not on a volume in both containers (agent: {ma}, dataplane: {md})")
    expect(ma["name"] == md["name"] and ma["mountPath"] == md["mountPath"],
           f"the socket's directory is different volumes: agent {ma}, dataplane {md}")
    expect(not md.get("readOnly"), "the dataplane must be able to create its socket (readOnly mount)")
    v = volume(ds, ma["name"])
    expect("hostPath" in v or "emptyDir" in v, f"socket volume {v} is neither hostPath nor emptyDir")


def env_field(c, name):
    for e in c.get("env") or []:
        if e["name"] == name:
            return ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
    return None


def t_node_name():
    ag = agent_container(one("DaemonSet"))
    expect(env_field(ag, "NODE_NAME") == "spec.nodeName", "the agent's NODE_NAME is not from fieldRef spec.nodeName")
    expect(flag_value(argv(ag), "--node") == "$(NODE_NAME)", "the agent is not given --node $(NODE_NAME)")


def agent_help():
    expect(AGENT_BIN and os.access(AGENT_BIN, os.X_OK), f"NSDP_AGENT_BIN={AGENT_BIN!r} is not an executable")
    p = subprocess.run([AGENT_BIN, "--help"], capture_output=True, text=True, timeout=10)
    expect(p.returncode == 0, f"nsdp-agent --help: exit {p.returncode}: {p.stderr}")
    return p.stdout


def flags_in(args):
    return [a.split("=", 1)[0] for a in args if re.match(r"^--?[A-Za-z]", a)]


def help_has(help_text, flag):
    return re.search(r"(^|[\s,(|])" + re.escape(flag) + r"($|[\s,=)|])", help_text, re.M) is not None


def t_agent_flags():
    h = agent_help()
    ag = agent_container(one("DaemonSet"))
    bad = [f for f in flags_in(argv(ag)[1:]) if not help_has(h, f)]
    expect(not bad, f"flags nsdp-agent --help does not list: {bad}")


def t_agent_accepts():
    """The real binary parses the DaemonSet's argument list: it gets past
    option parsing and stops at the in-cluster configuration (no API server
    here). --metrics goes to an ephemeral loopback port so nothing here
    collides with the node port."""
    agent_help()
    ag = agent_container(one("DaemonSet"))
    args = []
    a = argv(ag)
    i = 1
    while i < len(a):
        x = a[i].replace("$(NODE_NAME)", "node-1")
        if x == "--metrics" and i + 1 < len(a):
            args += [x, "127.0.0.1:0"]
            i += 2
            continue
        if x.startswith("--metrics="):
            x = "--metrics=127.0.0.1:0"
        args.append(x)
        i += 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_") and k != "KUBECONFIG"}
    env["NODE_NAME"] = "node-1"
    p = subprocess.run([AGENT_BIN] + args, capture_output=True, text=True, timeout=20, env=env)
    out = p.stdout + p.stderr
    expect(p.returncode != 2 and "usage:" not in out,
           f"nsdp-agent {' '.join(args)}: exit {p.returncode} (a usage error):\n{out}")
    expect("in-cluster configuration" in out,
           f"nsdp-agent {' '.join(args)}: expected it to stop at the in-cluster configuration, got exit {p.returncode}:\n{out}")


def metrics_port(ag):
    m = flag_value(argv(ag), "--metrics") or "127.0.0.1:9464"
    expect(m != "none", "the agent's metrics are off (--metrics none): no probes possible")
    host, _, port = m.rpartition(":")
    expect(port.isdigit(), f"--metrics {m}: no port")
    expect(host not in ("127.0.0.1", "localhost", "[::1]"),
           f"--metrics {m}: the kubelet probes the node's address, not loopback")
    return int(port)


def probe_port(c, probe):
    port = probe["httpGet"]["port"]
    if isinstance(port, str) and not port.isdigit():
        for p in c.get("ports") or []:
            if p.get("name") == port:
                return p["containerPort"]
        raise Fail(f"probe names port {port!r}, which the container does not declare")
    return int(port)


def t_probes():
    ag = agent_container(one("DaemonSet"))
    port = metrics_port(ag)
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        pr = ag.get(kind)
        expect(pr and "httpGet" in pr, f"the agent has no {kind} with httpGet")
        expect(pr["httpGet"].get("path") == path, f"{kind} path {pr['httpGet'].get('path')} (expected {path})")
        expect(probe_port(ag, pr) == port, f"{kind} port {probe_port(ag, pr)} is not the --metrics port {port}")
    declared = [p["containerPort"] for p in ag.get("ports") or []]
    expect(port in declared, f"the agent does not declare containerPort {port} (declares {declared})")


def t_rollout():
    ds = one("DaemonSet")
    us = ds["spec"].get("updateStrategy") or {}
    expect(us.get("type") == "RollingUpdate" and (us.get("rollingUpdate") or {}).get("maxUnavailable") == 1,
           f"updateStrategy {us} (expected RollingUpdate, maxUnavailable 1)")
    ps = pod_spec(ds)
    expect(ps.get("priorityClassName") == "system-node-critical",
           f"priorityClassName {ps.get('priorityClassName')!r}")
    expect(isinstance(ps.get("terminationGracePeriodSeconds"), int), "terminationGracePeriodSeconds is not set")
    expect(any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
               for t in ps.get("tolerations") or []),
           "no toleration of every taint (operator: Exists without key): nsdp must run on every node")


def t_config_chain():
    """init container writes what the dataplane reads; the template it reads
    is the ConfigMap's key; it gets the node's address from status.hostIP."""
    ds, cm = one("DaemonSet"), one("ConfigMap")
    dp = dataplane_container(ds)
    cfg = flag_value(argv(dp), "-c", "--config")
    expect(cfg, "the dataplane is not given -c FILE")
    init = [c for c in pod_spec(ds).get("initContainers") or [] if cfg in argv(c)]
    expect(len(init) == 1, f"no init container writes {cfg}")
    ic = init[0]
    a = argv(ic)
    expect(os.path.basename(a[0]) == "nsdp-render-config" and len(a) == 3 and a[2] == cfg,
           f"init container {ic['name']}: {a} (expected nsdp-render-config TEMPLATE {cfg})")
    expect(env_field(ic, "NODE_IP") == "status.hostIP", "the init container's NODE_IP is not from status.hostIP")
    expect(env_field(ic, "NODE_NAME") == "spec.nodeName", "the init container's NODE_NAME is not from spec.nodeName")
    mo, mi = mount_of(ic, cfg), mount_of(dp, cfg)
    expect(mo and mi and mo["name"] == mi["name"] and not mo.get("readOnly"),
           f"{cfg}: not one writable volume from the init container to the dataplane ({mo}, {mi})")
    tm = mount_of(ic, a[1])
    expect(tm, f"{a[1]} is on no volume of the init container")
    v = volume(ds, tm["name"])
    expect((v.get("configMap") or {}).get("name") == cm["metadata"]["name"],
           f"{a[1]}: volume {v} is not ConfigMap {cm['metadata']['name']}")
    key = os.path.relpath(a[1], tm["mountPath"])
    items = (v["configMap"].get("items") or [])
    if items:
        key = next((it["key"] for it in items if it["path"] == key), None)
    expect(key in (cm.get("data") or {}), f"ConfigMap {cm['metadata']['name']} has no key {key!r}")


def template_text():
    ds, cm = one("DaemonSet"), one("ConfigMap")
    data = cm.get("data") or {}
    expect(len(data) >= 1, "the ConfigMap has no data")
    # the key the init container reads (t_config_chain checks the chain)
    for c in pod_spec(ds).get("initContainers") or []:
        a = argv(c)
        if a and os.path.basename(a[0]) == "nsdp-render-config" and len(a) == 3:
            tm = mount_of(c, a[1])
            if tm:
                key = os.path.relpath(a[1], tm["mountPath"])
                if key in data:
                    return data[key]
    expect(len(data) == 1, "cannot tell which ConfigMap key is the dataplane configuration")
    return next(iter(data.values()))


def render(env):
    expect(DATAPLANE and os.access(DATAPLANE, os.X_OK), f"NSDP_DATAPLANE={DATAPLANE!r} is not an executable")
    script = os.path.join(DEPLOY, "nsdp-render-config")
    expect(os.path.exists(script), f"{script}: missing")
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "dataplane.conf.in"), os.path.join(d, "dataplane.conf")
        with open(src, "w") as f:
            f.write(template_text())
        env = dict(env, NSDP_DATAPLANE=DATAPLANE)
        p = subprocess.run(["/bin/sh", script, src, out], capture_output=True, text=True, timeout=30, env=env)
        text = open(out).read() if os.path.exists(out) else ""
        return p.returncode, p.stdout + p.stderr, text


def t_config_valid():
    rc, out, text = render(dict(os.environ, NODE_IP="192.0.2.10", NODE_NAME="node-1.example"))
    expect(rc == 0 and ": ok (" in out, f"nsdp-render-config + nsdp-dataplane --check-config: exit {rc}:\n{out}")
    expect(re.search(r'^\s*vtep\s*[=:]\s*"192\.0\.2\.10"', text, re.M), "the rendered VTEP is not NODE_IP")
    up = re.search(r'\{[^{}]*devargs\s*[=:]\s*"([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])[^"]*"[^{}]*'
                   r'role\s*[=:]\s*"uplink"', text)
    expect(up, "no uplink port on a PCI address (the SR-IOV VF) in the configuration")


def t_config_needs_node():
    # The same template with a placeholder left is no configuration.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "raw.conf")
        with open(path, "w") as f:
            f.write(template_text())
        p = subprocess.run([DATAPLANE, "-c", path, "--check-config"], capture_output=True, text=True, timeout=30)
        expect(p.returncode == 2, f"the unrendered template passes --check-config: the VTEP would not be the node's\n{p.stdout}{p.stderr}")
    rc, out, _ = render({k: v for k, v in os.environ.items() if k != "NODE_IP"} | {"NODE_NAME": "n"})
    expect(rc == 2 and "NODE_IP" in out, f"nsdp-render-config without NODE_IP: exit {rc}:\n{out}")
    rc, out, _ = render(dict(os.environ, NODE_IP="fd00::1", NODE_NAME="n"))
    expect(rc == 2, f"nsdp-render-config with an IPv6 NODE_IP: exit {rc}:\n{out}")


def t_containerfile():
    path = os.path.join(DEPLOY, "Containerfile")
    expect(os.path.exists(path), "deploy/Containerfile is missing")
    text = open(path).read()
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    body = "\n".join(lines)
    froms = re.findall(r"^FROM\s+(\S+)", body, re.M)
    expect(froms and all(re.fullmatch(r"(docker\.io/(library/)?)?debian:(12|bookworm)(-slim)?", f) for f in froms),
           f"base images {froms}: Debian 12 only")
    expect(not re.search(r"\b(curl|wget|git\s+clone|pip3?\s+install|go\s+get|ADD\s+https?:)", body),
           "the Containerfile downloads something other than Debian packages")
    expect(re.search(r"\bmeson\s+setup\b", body) and re.search(r"\bninja\b", body), "no meson build")
    ds = one("DaemonSet")
    cmds = set()
    for c in pod_spec(ds)["containers"] + (pod_spec(ds).get("initContainers") or []):
        cmds.add(os.path.basename(argv(c)[0]))
        for pr in ("startupProbe", "livenessProbe", "readinessProbe"):
            ex = (c.get(pr) or {}).get("exec")
            if ex:
                cmds.add(os.path.basename(ex["command"][0]))
    missing = [c for c in sorted(cmds) if c not in body]
    expect(not missing, f"the image does not provide {missing}")


def t_host_port_script():
    """deploy/nsdp-host-port in a network namespace of its own: the pair
    made, up, at the MTU; run again it keeps it; a bad MTU and an IFACE
    that is not half of a pair are refused with exit 2."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return ("SKIP", "needs root and ip (a network namespace)")
    ns = "nsdphp%d" % os.getpid()
    script = os.path.join(DEPLOY, "nsdp-host-port")
    expect(os.access(script, os.X_OK), "deploy/nsdp-host-port is missing or not executable")
    run = lambda *a: subprocess.run(["ip", "netns", "exec", ns, script] + list(a),
                                    capture_output=True, text=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for _ in range(2):
            r = run("nsdph", "1450")
            expect(r.returncode == 0, f"nsdp-host-port nsdph 1450: exit {r.returncode}: {r.stderr}")
        for d in ("nsdph", "nsdph-d"):
            out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", d],
                                 capture_output=True, text=True).stdout
            link = json.loads(out or "[{}]")[0]
            expect(link.get("mtu") == 1450 and "UP" in link.get("flags", []),
                   f"{d} after nsdp-host-port: {link}")
        r = run("nsdph", "15x")
        expect(r.returncode == 2 and "not a number" in r.stderr, f"MTU 15x: exit {r.returncode}: {r.stderr}")
        subprocess.run(["ip", "-n", ns, "link", "add", "lone", "type", "veth", "peer", "name", "other"],
                       check=True)
        r = run("lone")
        expect(r.returncode == 2 and "lone-d does not" in r.stderr,
               f"an interface without its -d peer: exit {r.returncode}: {r.stderr}")
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def t_docs_flags():
    if not os.path.exists(OPERATIONS):
        return ("SKIP", f"{OPERATIONS} missing")
    h = agent_help()
    text = open(OPERATIONS).read()
    spans = re.findall(r"`([^`\n]+)`", text)
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
        spans += block.splitlines()
    bad = set()
    for s in spans:
        for m in re.finditer(r"\bnsdp-agent\b(.*)", s):
            rest = re.split(r"[|;&]|\s#", m.group(1))[0]
            for f in flags_in(rest.split()):
                if not help_has(h, f):
                    bad.add(f)
    expect(not bad, f"docs/operations.md shows nsdp-agent flags it does not have: {sorted(bad)}")


# ---------------------------------------------------------------------------

check("every deploy/*.yaml parses and names its objects", t_load)
if not load_errors and docs:
    check("kustomization.yaml lists every manifest and the DaemonSet's image", t_kustomization)
    check("kubectl kustomize deploy/ builds the same objects", t_kustomize_build)
    for (f, i, d) in docs:
        if isinstance(d, dict) and d.get("kind") and d.get("kind") != "Kustomization":
            check(f"{f}: {d['kind']} {(d.get('metadata') or {}).get('name')} is a valid "
                  f"{model_name(d) if d.get('apiVersion') else '?'} (no unknown field)", t_model, f, d)
    check("ClusterRole: exactly get/list/watch on exactly the resources of ag_kinds", t_rbac_exact)
    check("ClusterRoleBinding binds the ClusterRole to the ServiceAccount", t_binding)
    check("namespaced objects are in the Namespace, which allows privileged pods", t_namespaces)
    check("DaemonSet selector matches its pods; every mount has a volume", t_selector)
    check("DaemonSet runs as the ServiceAccount", t_service_account)
    check("DaemonSet: hostNetwork with dnsPolicy ClusterFirstWithHostNet", t_host_network)
    check("dataplane container is privileged", t_privileged)
    check("dataplane: hugepages limits and /dev/hugepages", t_hugepages)
    check("dataplane: /dev/vfio from the host", t_vfio)
    check("control socket: agent -s = dataplane control_socket, one volume in both containers", t_socket)
    check("agent: NODE_NAME from spec.nodeName, --node $(NODE_NAME)", t_node_name)
    check("agent: every flag is in nsdp-agent --help", t_agent_flags)
    check("agent: the real nsdp-agent accepts the argument list", t_agent_accepts)
    check("agent: liveness /healthz and readiness /readyz on the --metrics port", t_probes)
    check("rollout: RollingUpdate maxUnavailable 1, system-node-critical, grace period, every node", t_rollout)
    check("configuration: ConfigMap -> init container (status.hostIP) -> dataplane -c", t_config_chain)
    check("configuration: rendered for a node it passes nsdp-dataplane --check-config", t_config_valid)
    check("configuration: without the node's address it is refused", t_config_needs_node)
    check("Containerfile: Debian 12 + meson, provides every command the pod runs", t_containerfile)
    check("docs/operations.md shows only nsdp-agent flags that exist", t_docs_flags)
    check("deploy/nsdp-host-port makes the host port's veth pair, idempotently", t_host_port_script)

print(f"1..{len(results)}")
for n, (ok, name, diag, skip) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {n} - {name}" + (f" # SKIP {skip}" if skip else ""))
    for line in diag:
        print(f"#   {line}")
sys.exit(0 if all(r[0] for r in results) else 1)
