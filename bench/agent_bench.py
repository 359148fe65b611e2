#!/usr/bin/python3
"""The agent benchmark (issue 4): nsdp-agent against the API-server test
double, one real nsdp-dataplane.

  bench/agent_bench.py [--pods N --namespaces N --policies N] [--changes N]
                       [--change policy|pod] [--build DIR] [--json FILE]

1. Initial sync: the double is preloaded with a generated cluster
   (bench/gen_cluster.py); the agent starts, lists everything (paged),
   compiles and pushes; measured from the agent's start to /readyz = 200.
2. Event-to-enforcement latency: N NetworkPolicy updates (or, with
   --change pod, N relabels of one pod) through the API, one at a time;
   for each, the agent's own histogram sum/count delta is
   that event's arrival -> dataplane ACK time. Reported p50/p99/max, and
   the same measured from the client (API write returns -> the dataplane's
   generation moves, polled every 10 ms).
3. Agent memory: VmHWM (peak RSS) and VmRSS from /proc after the run.

Needs root (the dataplane). Prints a JSON summary; --json writes it too.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
import apiserver  # noqa: E402
import yaml  # noqa: E402

PY = "/usr/bin/python3"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--change", choices=("policy", "pod"), default="policy",
                    help="what each change is: a NetworkPolicy's port (a policy compile) or "
                         "a pod's role label, web <-> api (a pods-only compile)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--json")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="nsdp-agent-bench-")
    prefix = "agbn%d" % os.getpid()
    state = "/tmp/nsdp-cluster-" + prefix
    mport = 19900 + os.getpid() % 90
    env = dict(os.environ, NSDP_PREFIX=prefix, BUILD=a.build)
    procs = []

    def cleanup():
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        subprocess.run(["bash", os.path.join(ROOT, "scripts/cluster.sh"), "down"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        apiserver.make_certs(tmp)
        token = os.urandom(8).hex()
        open(os.path.join(tmp, "tokens"), "w").write(token + "\n")
        pre = os.path.join(tmp, "cluster.json")
        t = time.time()
        subprocess.run([PY, os.path.join(ROOT, "bench/gen_cluster.py"), "--pods", str(a.pods),
                        "--namespaces", str(a.namespaces), "--policies", str(a.policies),
                        "--nodes", "2", "--json", pre], check=True)
        port_file = os.path.join(tmp, "port")
        srv = subprocess.Popen([PY, os.path.join(ROOT, "tests/apiserver/apiserver.py"),
                                "--listen", "127.0.0.1:0", "--cert", os.path.join(tmp, "server.crt"),
                                "--key", os.path.join(tmp, "server.key"), "--ca", os.path.join(tmp, "ca.crt"),
                                "--token-file", os.path.join(tmp, "tokens"), "--port-file", port_file,
                                "--bookmark-interval", "5", "--preload", pre],
                               stdout=subprocess.DEVNULL)
        procs.append(srv)
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if srv.poll() is not None:
                raise SystemExit("the API-server double failed")
            time.sleep(0.1)
        preload_s = time.time() - t
        url = "https://127.0.0.1:%s" % open(port_file).read().strip()
        kc = os.path.join(tmp, "kubeconfig")
        yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "t",
                        "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}],
                        "clusters": [{"name": "c", "cluster": {"server": url,
                                      "certificate-authority": os.path.join(tmp, "ca.crt")}}],
                        "users": [{"name": "u", "user": {"token": token}}]}, open(kc, "w"))

        subprocess.run(["bash", os.path.join(ROOT, "scripts/cluster.sh"), "up", "1"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        sock = state + "/n1.sock"
        ctl = os.path.join(a.build, "nsdpctl")

        def generation():
            out = subprocess.run([ctl, "-s", sock, "--json", "info"], stdout=subprocess.PIPE,
                                 text=True).stdout
            return json.loads(out)["generation"]

        t0 = time.time()
        agent = subprocess.Popen([os.path.join(a.build, "nsdp-agent"), "--kubeconfig", kc,
                                  "--node", "node-0", "-s", sock, "--metrics", "127.0.0.1:%d" % mport,
                                  "--log-level", "warn"],
                                 stderr=open(os.path.join(tmp, "agent.log"), "w"))
        procs.append(agent)

        def get(path):
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (mport, path), timeout=5) as r:
                return r.status, r.read().decode()

        while True:
            try:
                if get("/readyz")[0] == 200:
                    break
            except Exception:
                pass
            if agent.poll() is not None:
                raise SystemExit("the agent exited: " + open(os.path.join(tmp, "agent.log")).read())
            time.sleep(0.02)
        sync_s = time.time() - t0
        tck = os.sysconf("SC_CLK_TCK")
        st = open("/proc/%d/stat" % agent.pid).read().rsplit(")", 1)[1].split()
        sync_cpu_s = (int(st[11]) + int(st[12])) / tck

        def hist():
            m = {}
            for line in get("/metrics")[1].splitlines():
                if line.startswith("nsdp_agent_sync_latency_seconds_sum") or \
                   line.startswith("nsdp_agent_sync_latency_seconds_count") or \
                   line.startswith("nsdp_agent_policy_compile_seconds") or \
                   line.startswith("nsdp_agent_policy_compile_cpu_seconds") or \
                   line.startswith("nsdp_agent_policy_compiles_total") or \
                   line.startswith("nsdp_agent_policy_bytes"):
                    k, v = line.rsplit(" ", 1)
                    m[k] = float(v)
            return m

        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.crt"))

        def patch(path, obj):
            req = urllib.request.Request(url + path, data=json.dumps(obj).encode(), method="PATCH",
                                         headers={"Authorization": "Bearer " + token,
                                                  "Content-Type": "application/merge-patch+json"})
            urllib.request.urlopen(req, context=ctx, timeout=10).read()

        def patch_policy(i):
            # ns-1's pods all carry app=a1: each change moves the allowed
            # port, so every change changes the compiled policy.
            patch("/apis/networking.k8s.io/v1/namespaces/ns-1/networkpolicies/np-1",
                  {"spec": {"podSelector": {"matchLabels": {"app": "a1"}},
                            "ingress": [{"ports": [{"port": 1000 + i}]}]}})

        def relabel_pod(i):
            # p-1 (ns-1, role=api) alternates between web and api: policies
            # select both roles differently, so every change moves it to
            # other classes and changes the compiled policy.
            patch("/api/v1/namespaces/ns-1/pods/p-1",
                  {"metadata": {"labels": {"role": "web" if i % 2 == 0 else "api"}}})

        def agent_cpu_ns(tids=None):
            # time on a CPU (ns), from the scheduler: every thread's, or
            # those given (the sync thread is the main one: tid = pid)
            total = 0
            for t in tids or os.listdir("/proc/%d/task" % agent.pid):
                try:
                    total += int(open("/proc/%d/task/%s/schedstat" % (agent.pid, t)).read().split()[0])
                except OSError:
                    pass
            return total

        change = relabel_pod if a.change == "pod" else patch_policy
        cpu0, sync0 = agent_cpu_ns(), agent_cpu_ns([str(agent.pid)])
        agent_ms, client_ms, compile_ms, compile_cpu_ms = [], [], [], []
        paths = {}  # the compile path each change took, counted
        for i in range(a.changes):
            h0 = hist()
            g0 = generation()
            change(i)
            t = time.time()
            while generation() == g0:
                if time.time() - t > 30:
                    raise SystemExit("change %d was not enforced within 30 s" % i)
                time.sleep(0.01)  # gently: this machine's CPUs are the agent's too
            client_ms.append((time.time() - t) * 1000)
            while True:
                h1 = hist()
                if h1["nsdp_agent_sync_latency_seconds_count"] > h0["nsdp_agent_sync_latency_seconds_count"]:
                    break
                time.sleep(0.01)
            dn = h1["nsdp_agent_sync_latency_seconds_count"] - h0["nsdp_agent_sync_latency_seconds_count"]
            ds = h1["nsdp_agent_sync_latency_seconds_sum"] - h0["nsdp_agent_sync_latency_seconds_sum"]
            agent_ms.append(ds / dn * 1000)
            compile_ms.append(h1["nsdp_agent_policy_compile_seconds"] * 1000)
            compile_cpu_ms.append(h1["nsdp_agent_policy_compile_cpu_seconds"] * 1000)
            for k in h1:
                if k.startswith("nsdp_agent_policy_compiles_total"):
                    p = k.split('"')[1]
                    paths[p] = paths.get(p, 0) + h1[k] - h0.get(k, 0)

        cpu_per_change_ms = (agent_cpu_ns() - cpu0) / 1e6 / max(1, a.changes)
        sync_per_change_ms = (agent_cpu_ns([str(agent.pid)]) - sync0) / 1e6 / max(1, a.changes)
        status = {}
        for line in open("/proc/%d/status" % agent.pid):
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                status[k] = int(v.split()[0]) // 1024

        def pct(xs, p):
            xs = sorted(xs)
            return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))], 2)

        res = {
            "pods": a.pods, "namespaces": a.namespaces, "policies": a.policies,
            "double_preload_s": round(preload_s, 2),
            "initial_sync_s": round(sync_s, 2),
            "initial_sync_agent_cpu_s": round(sync_cpu_s, 2),
            "policy_bytes": int(hist()["nsdp_agent_policy_bytes"]),
            "changes": a.changes, "change": a.change,
            "event_to_ack_ms": {"p50": pct(agent_ms, 50), "p99": pct(agent_ms, 99), "max": pct(agent_ms, 100)},
            "client_write_to_enforced_ms": {"p50": pct(client_ms, 50), "p99": pct(client_ms, 99),
                                            "max": pct(client_ms, 100)},
            "compile_ms": {"p50": pct(compile_ms, 50), "max": pct(compile_ms, 100)},
            "compile_cpu_ms": {"p50": pct(compile_cpu_ms, 50), "max": pct(compile_cpu_ms, 100)},
            "compile_paths": paths,
            # CPU per change, which a noisy machine's scheduling does not
            # inflate: the sync thread's (view, compile, serialize, push),
            # and all the agent's threads' (this bench's two /metrics
            # scrapes per change included: they render every rule's
            # counters)
            "sync_thread_cpu_ms_per_change": round(sync_per_change_ms, 2),
            "agent_cpu_ms_per_change": round(cpu_per_change_ms, 2),
            "agent_peak_rss_mib": status.get("VmHWM"), "agent_rss_mib": status.get("VmRSS"),
        }
        print(json.dumps(res, indent=1))
        if a.json:
            json.dump(res, open(a.json, "w"), indent=1)
    finally:
        cleanup()


if __name__ == "__main__":
    main()
