#!/usr/bin/python3
"""nsdp-agent's sources keep the last good objects (issue 4), without a
dataplane: the agent's cache is read from /metrics (nsdp_agent_objects) and
its log.

Manifests directory (--manifests):
  - a file a writer still has open (IN_MODIFY, no IN_CLOSE_WRITE yet)
    keeps its last good version until it is closed;
  - a bad new version of an object keeps its last good version; an object
    removed from the file goes;
  - a deleted file's objects go, and its last good text goes with them (the
    same name written later with a syntax error brings nothing back);
  - the directory moved away or removed: everything is kept, and when a
    directory is at the path again it is watched and loaded;
  - the path is a symlink swapped to another directory: noticed, loaded.
API server (the test double, tests/apiserver):
  - a relist after 410 Gone keeps the last good version of an object that
    is listed but no longer decodes, and drops the one deleted meanwhile;
  - a kind with no events: its watch ends (server timeout) or stalls, and
    resumes from the last bookmark's resourceVersion, never relisting (the
    double's request log shows only watches after the first list);
  - from a server that sends no bookmarks, a quiet watch's stalls are no
    error and no warning (info once, then debug).

TAP output. Needs no root. NSDP_AGENT_BIN names the agent.
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import apiserver  # noqa: E402
from taplib import eventually, results, scrape, tap  # noqa: E402

AGENT = os.environ.get("NSDP_AGENT_BIN", os.path.join(HERE, "..", "..", "build", "nsdp-agent"))
PY = "/usr/bin/python3"

tmp = tempfile.mkdtemp(prefix="nsdp-agent-sources-")
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Agent:
    def __init__(self, name, args):
        self.port = free_port()
        self.log_path = os.path.join(tmp, name + ".log")
        self.p = subprocess.Popen([AGENT] + args + [
            "--node", "n1", "-s", os.path.join(tmp, "no-dataplane.sock"),
            "--metrics", "127.0.0.1:%d" % self.port, "--log-level", "debug"],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        procs.append(self.p)
        eventually(lambda: self.metrics() is not None, 10)

    def metrics(self):
        return scrape("http://127.0.0.1:%d/metrics" % self.port)

    def objects(self, kind):
        return self.metrics().get('nsdp_agent_objects{kind="%s"}' % kind)

    def metric(self, key):
        return self.metrics().get(key, 0)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()


def write(path, text):
    """Atomically, as docs/operations.md asks."""
    with open(path + ".tmp~", "w") as f:
        f.write(text)
    os.rename(path + ".tmp~", path)


def ns_doc(name):
    return "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n" % name


def np_doc(ns, name, port=80, end=None):
    ports = "{port: %d%s}" % (port, ", endPort: %d" % end if end is not None else "")
    return ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {namespace: %s, name: %s}\n"
            "spec: {podSelector: {}, ingress: [{ports: [%s]}]}\n" % (ns, name, ports))


def docs(*d):
    return "---\n".join(d)


def manifests():
    base = os.path.join(tmp, "m")
    d = os.path.join(base, "manifests")
    os.makedirs(d)
    write(os.path.join(d, "ns.yaml"), docs(ns_doc("a"), ns_doc("b")))
    np_path = os.path.join(d, "np.yaml")
    write(np_path, docs(np_doc("a", "np1"), np_doc("a", "np2")))
    ag = Agent("agent-manifests", ["--manifests", d])
    tap(eventually(lambda: ag.objects("Namespace") == 2 and ag.objects("NetworkPolicy") == 2),
        "manifests: initial load (2 namespaces, 2 network policies)")

    # A writer truncates the file and has written only its first object;
    # meanwhile another file changes, so the directory is reloaded.
    f = open(np_path, "w")
    f.write(np_doc("a", "np1"))
    f.flush()
    write(os.path.join(d, "ns.yaml"), docs(ns_doc("a"), ns_doc("b"), ns_doc("z")))
    ok = eventually(lambda: ag.objects("Namespace") == 3)
    time.sleep(0.3)
    n = ag.objects("NetworkPolicy")
    tap(ok and n == 2 and "np.yaml: still being written" in ag.log(),
        "a file still open for writing keeps its last good version while the rest reloads "
        "(%s network policies, want 2)" % n)
    f.write("---\n" + docs(np_doc("a", "np2"), np_doc("a", "np3")))
    f.close()
    tap(eventually(lambda: ag.objects("NetworkPolicy") == 3),
        "... and once closed, its new content is loaded (3 network policies)")

    # A bad new version of np1 keeps np1's last good version.
    write(np_path, docs(np_doc("a", "np1", 80, 70), np_doc("a", "np2"), np_doc("a", "np3")))
    time.sleep(0.6)
    tap(ag.objects("NetworkPolicy") == 3 and
        re.search(r"np\.yaml:\d+: NetworkPolicy a/np1: spec\.ingress\[0\]\.ports\[0\]\.endPort", ag.log())
        and "kept the last good version of 1 object" in ag.log(),
        "a bad new version of an object is rejected (logged) and its last good version kept (%s, want 3)"
        % ag.objects("NetworkPolicy"))
    write(np_path, np_doc("a", "np2"))
    tap(eventually(lambda: ag.objects("NetworkPolicy") == 1),
        "objects removed from the file go (1 network policy)")

    # A deleted file: its objects go, and its last good text with them.
    os.unlink(np_path)
    tap(eventually(lambda: ag.objects("NetworkPolicy") == 0), "a deleted file's objects go")
    write(np_path, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: [\n")
    time.sleep(0.6)
    tap(ag.objects("NetworkPolicy") == 0,
        "the same name written later with a syntax error brings back nothing (%s network policies, want 0)"
        % ag.objects("NetworkPolicy"))

    # The directory moved away: everything is kept.
    write(np_path, np_doc("a", "np4"))
    eventually(lambda: ag.objects("NetworkPolicy") == 1)
    os.rename(d, d + ".old")
    time.sleep(1.5)
    tap(ag.objects("Namespace") == 3 and ag.objects("NetworkPolicy") == 1 and
        "the directory is gone" in ag.log(),
        "the directory moved away: the last good objects are kept, and the log says so")
    new = os.path.join(base, "new")
    os.makedirs(new)
    write(os.path.join(new, "ns.yaml"), docs(ns_doc("c"), ns_doc("d"), ns_doc("e")))
    os.rename(new, d)
    tap(eventually(lambda: ag.objects("Namespace") == 3 and ag.objects("NetworkPolicy") == 0, 5) and
        "the directory is back" in ag.log(),
        "a new directory at the path: watched and loaded (3 namespaces, no network policy)")
    write(os.path.join(d, "np.yaml"), docs(np_doc("c", "x"), np_doc("d", "y")))
    tap(eventually(lambda: ag.objects("NetworkPolicy") == 2),
        "... and its changes are seen (the watch is re-established)")

    # The directory removed: everything is kept until it is back.
    shutil.rmtree(d)
    time.sleep(1.5)
    tap(ag.objects("Namespace") == 3 and ag.objects("NetworkPolicy") == 2,
        "the directory removed: the last good objects are kept")
    os.makedirs(new)
    write(os.path.join(new, "ns.yaml"), ns_doc("f"))
    os.rename(new, d)
    tap(eventually(lambda: ag.objects("Namespace") == 1 and ag.objects("NetworkPolicy") == 0, 5),
        "... and when it is back, it is loaded (1 namespace)")
    ag.stop()

    # A symlink swapped to another directory (a ConfigMap-style swap of the
    # whole directory): no inotify event reaches the old directory.
    v1, v2 = os.path.join(base, "v1"), os.path.join(base, "v2")
    os.makedirs(v1)
    os.makedirs(v2)
    write(os.path.join(v1, "ns.yaml"), ns_doc("v1"))
    write(os.path.join(v2, "ns.yaml"), docs(ns_doc("v2a"), ns_doc("v2b")))
    live = os.path.join(base, "live")
    os.symlink("v1", live)
    ag = Agent("agent-symlink", ["--manifests", live])
    ok = eventually(lambda: ag.objects("Namespace") == 1)
    os.symlink("v2", live + ".tmp")
    os.rename(live + ".tmp", live)
    tap(ok and eventually(lambda: ag.objects("Namespace") == 2, 5) and
        "the directory was replaced" in ag.log(),
        "the path swapped to another directory (symlink): noticed and loaded")
    ag.stop()


class Double:
    """The API-server double over TLS with a bearer token, preloaded with
    items; call() talks to it, kc is a kubeconfig for the agent."""

    def __init__(self, name, items, bookmark_interval):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        apiserver.make_certs(d)
        self.token = "t-" + os.urandom(8).hex()
        tokens = os.path.join(d, "tokens")
        with open(tokens, "w") as f:
            f.write(self.token + "\n")
        preload = os.path.join(d, "preload.json")
        with open(preload, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
        port_file = os.path.join(d, "port")
        self.req_log = os.path.join(d, "requests.log")
        srv = subprocess.Popen([PY, os.path.join(HERE, "apiserver.py"), "--listen", "127.0.0.1:0",
                                "--cert", os.path.join(d, "server.crt"),
                                "--key", os.path.join(d, "server.key"),
                                "--ca", os.path.join(d, "ca.crt"), "--token-file", tokens,
                                "--port-file", port_file,
                                "--bookmark-interval", str(bookmark_interval),
                                "--preload", preload, "--log", self.req_log],
                               stdout=subprocess.DEVNULL)
        procs.append(srv)
        self.up = bool(eventually(lambda: open(port_file).read().strip(), 15))
        if not self.up:
            return
        self.url = "https://127.0.0.1:%s" % open(port_file).read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
        self.kc = os.path.join(d, "kubeconfig")
        with open(self.kc, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "t",
                       "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}],
                       "clusters": [{"name": "c", "cluster": {
                           "server": self.url, "certificate-authority": os.path.join(d, "ca.crt")}}],
                       "users": [{"name": "u", "user": {"token": self.token}}]}, f)

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=5) as r:
            return json.loads(r.read() or b"{}")


NS_A = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
NODE_N1 = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
           "spec": {"podCIDR": "10.244.1.0/24"},
           "status": {"addresses": [{"type": "InternalIP", "address": "192.168.100.1"}]}}


def api():
    items = [NS_A, NODE_N1,
             {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p0", "namespace": "a"},
              "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
              "status": {"podIP": "10.244.1.2"}}]
    for name in ("np1", "np2"):
        items.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": name, "namespace": "a"},
                      "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}})
    dbl = Double("api", items, 0.2)
    if not dbl.up:
        tap(False, "the API-server double starts")
        return
    call, kc, req_log = dbl.call, dbl.kc, dbl.req_log
    ag = Agent("agent-api", ["--kubeconfig", kc, "--watch-stall-timeout", "2", "--backoff-max", "0.5"])
    tap(eventually(lambda: ag.objects("NetworkPolicy") == 2 and ag.objects("Node") == 1 and
                   ag.objects("Pod") == 1, 15),
        "API: initial list (2 network policies, 1 node, 1 pod)")

    # Relist: np1 gets a bad new version and np2 is deleted while the watch
    # is down; history is compacted, so the watch gets 410 and relists.
    nps = "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies"
    call("POST", "/_double/faults", {"resource": "networkpolicies", "verb": "watch",
                                     "fault": "status", "code": 503, "count": 0})
    call("POST", "/_double/close-watches", {"resource": "networkpolicies"})
    np1 = call("GET", nps + "/np1")
    np1["spec"]["ingress"][0]["ports"][0]["endPort"] = 70
    call("PUT", nps + "/np1", np1)
    call("DELETE", nps + "/np2")
    call("POST", "/_double/compact", {})
    call("DELETE", "/_double/faults")
    # (all of it eventually: on a loaded machine the log lines may follow
    # the relist counter by a while)
    relisted = eventually(lambda: (
        ag.metric('nsdp_agent_relists_total{kind="NetworkPolicy"}') >= 1 and
        ag.objects("NetworkPolicy") == 1 and
        "kept the last good version of 1 object" in ag.log() and
        re.search(r"NetworkPolicy a/np1: spec\.ingress\[0\]\.ports\[0\]\.endPort", ag.log())), 15)
    tap(relisted,
        "relist after 410: np1, listed but now invalid, keeps its last good version; np2, deleted, goes "
        "(%s network policies, want 1)" % ag.objects("NetworkPolicy"))

    # A kind with no events (nodes): its watch ends (the server's timeout),
    # after other kinds moved the resourceVersion on and history was
    # compacted; it must resume from the last bookmark, not relist.
    for i in range(3):
        call("POST", "/api/v1/namespaces/a/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p%d" % (i + 1), "namespace": "a"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
            "status": {"podIP": "10.244.1.%d" % (i + 3)}})
    eventually(lambda: ag.objects("Pod") == 4)
    time.sleep(0.8)  # bookmarks (every 0.2 s) carry the new resourceVersion to the quiet watch
    compacted = int(call("POST", "/_double/compact", {})["compactedResourceVersion"])
    call("POST", "/_double/close-watches", {"resource": "nodes"})
    time.sleep(1.0)
    # ... and a watch that stalls (no byte, not even a bookmark, for longer
    # than --watch-stall-timeout) resumes the same way
    call("POST", "/_double/faults", {"resource": "nodes", "verb": "watch", "fault": "stall",
                                     "seconds": 4, "count": 1})
    call("POST", "/_double/close-watches", {"resource": "nodes"})
    stalled = eventually(lambda: "/api/v1/nodes: stalled" in ag.log(), 8)
    time.sleep(1.0)
    stats = call("GET", "/_double/stats")
    node_reqs = stats["requests"].get("nodes", {})
    watches = []
    with open(req_log) as f:
        for line in f:
            m = re.search(r'"GET /api/v1/nodes\?([^ "]*)', line)
            if m:
                watches.append(m.group(1))
    rvs = [int(re.search(r"resourceVersion=(\d+)", q).group(1)) for q in watches if "watch=1" in q]
    lists = [q for q in watches if "watch=1" not in q]
    tap(node_reqs.get("list") == 1 and len(lists) == 1 and
        ag.metric('nsdp_agent_relists_total{kind="Node"}') == 0 and len(rvs) >= 3,
        "a quiet kind's watch ended and stalled: resumed with watches only, no relist "
        "(nodes: %s; %d watch requests)" % (json.dumps(node_reqs), len(rvs)))
    tap(stalled and rvs[-1] >= compacted and rvs[-2] >= compacted and ag.objects("Node") == 1,
        "... from the last bookmark's resourceVersion (%s), not the list's (%d), so compaction "
        "(at %d) does not force a relist" % (rvs[-2:], rvs[0], compacted))
    ag.stop()



def api_no_bookmarks():
    """A server that sends no bookmarks: a quiet watch's silence is not an
    error (said once at info, then at debug); the objects stay."""
    dbl = Double("api-nobm", [NS_A, NODE_N1], 0)
    if not dbl.up:
        tap(False, "the API-server double (no bookmarks) starts")
        return
    ag = Agent("agent-nobm", ["--kubeconfig", dbl.kc, "--watch-stall-timeout", "1",
                              "--backoff-max", "0.5"])
    ok = eventually(lambda: ag.objects("Node") == 1, 15)
    quiet = re.compile(r" (\w+) +kapi +watch /api/v1/nodes: stalled: .*sends no bookmarks")
    eventually(lambda: len(quiet.findall(ag.log())) >= 3, 10)
    levels = quiet.findall(ag.log())
    warned = [line for line in ag.log().splitlines() if " warn " in line and "stalled" in line]
    errors = ag.metric('nsdp_agent_errors_total{kind="Node",reason="connection"}')
    tap(ok and len(levels) >= 3 and levels[0] == "info" and set(levels[1:]) == {"debug"} and
        not warned and errors == 0 and ag.objects("Node") == 1,
        "no bookmarks: a quiet watch's stalls are said once at info, then at debug; no warning, "
        "no connection error, the node kept (levels %s, %d warnings, %d errors)" % (
            levels[:4], len(warned), errors))
    ag.stop()


try:
    print("1..18", flush=True)
    manifests()
    api()
    api_no_bookmarks()
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    if results and not all(results):
        for name in sorted(os.listdir(tmp)):
            if name.endswith(".log"):
                for line in open(os.path.join(tmp, name)).read().splitlines()[-40:]:
                    print("# %s: %s" % (name, line))
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(0 if results and all(results) else 1)
