#!/usr/bin/env python3
"""Numbers for bench/kernel_path.sh (not meant to be run by hand).

  kernel_path.py snap OUT [--ctl CTL] [--sock SOCK]... [--pid PID]...
                        [--if LABEL=NETNS/DEV]... [--self PID]
      OUT gets a JSON snapshot: time, /proc/stat (all CPUs), the CPU ticks
      of every process (own and reaped children), of each PID and of its
      DPDK worker threads ("rte-worker-*"), /proc/net/softnet_stat drops,
      the kernel counters of each DEV, and `nsdpctl --json stats`, `drops`
      and `ports` of each SOCK.
  kernel_path.py record BEFORE AFTER IPERF_JSON VARIANT STREAMS REP
      prints one JSON line: Gbps (receiver), retransmits, iperf3's CPU
      figures, the system CPU breakdown over the run, the CPU other
      processes took meanwhile, the dataplanes' CPU and busy cycles per
      packet, and for nsdp the packets the kernel handed to a veth that
      the dataplane's port never received (af_packet/af_xdp ring
      overflow), all deltas between the snapshots.
  kernel_path.py report RUNS_JSONL META_JSON OUT_JSON
      medians per (variant, streams), the nsdp/kernel ratios, a table on
      stdout and everything in OUT_JSON.
"""
import json
import os
import statistics
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def proc_stat():
    cpus = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                w = line.split()
                cpus[w[0]] = dict(zip(STAT_FIELDS, map(int, w[1:9])))
    return cpus


def ticks(path):
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None
    w = s[s.rindex(")") + 2:].split()
    return int(w[11]) + int(w[12])  # utime + stime


PF_KTHREAD = 0x00200000


def all_procs():
    """pid -> [comm, own ticks, reaped children's ticks, kernel thread]"""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        c = s[s.index("(") + 1:s.rindex(")")]
        w = s[s.rindex(")") + 2:].split()
        out[pid] = [c, int(w[11]) + int(w[12]), int(w[13]) + int(w[14]),
                    bool(int(w[6]) & PF_KTHREAD)]
    return out


def softnet():
    drop = squeeze = 0
    with open("/proc/net/softnet_stat") as f:
        for line in f:
            w = line.split()
            drop += int(w[1], 16)
            squeeze += int(w[2], 16)
    return {"dropped": drop, "time_squeeze": squeeze}


def ifstat(spec):
    ns, dev = spec.split("/")
    try:
        r = subprocess.run(["ip", "-j", "-s", "-n", ns, "link", "show", dev],
                           capture_output=True, text=True, timeout=5)
        st = json.loads(r.stdout)[0]["stats64"]
        return {"rx": st["rx"]["packets"], "tx": st["tx"]["packets"],
                "rx_dropped": st["rx"]["dropped"], "tx_dropped": st["tx"]["dropped"]}
    except (OSError, ValueError, KeyError, IndexError, subprocess.TimeoutExpired):
        return None


def comm(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def snap(argv):
    out, ctl, socks, pids, ifs, me = argv[0], "nsdpctl", [], [], [], None
    i = 1
    while i < len(argv):
        if argv[i] == "--ctl":
            ctl = argv[i + 1]
        elif argv[i] == "--sock":
            socks.append(argv[i + 1])
        elif argv[i] == "--pid":
            pids.append(argv[i + 1])
        elif argv[i] == "--if":
            ifs.append(argv[i + 1])
        elif argv[i] == "--self":
            me = argv[i + 1]
        i += 2
    d = {"t": time.time(), "stat": proc_stat(), "pids": {}, "nsdp": {},
         "procs": all_procs(), "softnet": softnet(), "self": me,
         "ifs": {l: ifstat(sp) for l, sp in (x.split("=", 1) for x in ifs)}}
    for pid in pids:
        p = {"ticks": ticks("/proc/%s/stat" % pid), "workers": 0}
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except OSError:
            tids = []
        for tid in tids:
            if comm("/proc/%s/task/%s/comm" % (pid, tid)).startswith("rte-worker"):
                p["workers"] += ticks("/proc/%s/task/%s/stat" % (pid, tid)) or 0
        d["pids"][pid] = p
    for s in socks:
        e = {}
        for what in ("stats", "drops", "ports"):
            try:
                r = subprocess.run([ctl, "-s", s, "--json", what], capture_output=True,
                                   text=True, timeout=5)
                e[what] = json.loads(r.stdout)
            except (OSError, ValueError, subprocess.TimeoutExpired) as ex:
                e[what] = {"error": str(ex)}
        d["nsdp"][s] = e
    with open(out, "w") as f:
        json.dump(d, f)


def lcore_sum(stats, key):
    return sum(l.get(key, 0) for l in stats.get("lcores", []))


def record(argv):
    b, a = (json.load(open(p)) for p in argv[0:2])
    variant, streams, rep = argv[3], int(argv[4]), int(argv[5])
    dt = a["t"] - b["t"]
    r = {"variant": variant, "streams": streams, "rep": rep, "seconds": round(dt, 2)}
    try:
        ip = json.load(open(argv[2]))
        end = ip["end"]
        r["gbps"] = end["sum_received"]["bits_per_second"] / 1e9
        r["gbps_sent"] = end["sum_sent"]["bits_per_second"] / 1e9
        r["retransmits"] = end["sum_sent"].get("retransmits")
        cpu = end.get("cpu_utilization_percent", {})
        r["iperf3_client_cpu_pct"] = round(cpu.get("host_total", 0), 1)
        r["iperf3_server_cpu_pct"] = round(cpu.get("remote_total", 0), 1)
        if ip.get("error"):
            r["error"] = ip["error"]
    except (OSError, ValueError, KeyError) as ex:
        r["gbps"] = None
        r["error"] = "iperf3: %s" % ex
    # System CPU over the run, in % of one CPU (2 CPUs = 200%).
    ncpu = len([k for k in a["stat"] if k != "cpu"])
    tot = {k: a["stat"]["cpu"][k] - b["stat"]["cpu"][k] for k in STAT_FIELDS}
    all_ticks = sum(tot.values()) or 1
    r["cpus"] = ncpu
    r["sys_cpu_pct"] = {k: round(100.0 * ncpu * v / all_ticks, 1) for k, v in tot.items()}
    # Dataplane processes: whole process and worker threads, % of one CPU.
    dp = wk = 0.0
    for pid, p in a["pids"].items():
        q = b["pids"].get(pid)
        if q and p["ticks"] is not None and q["ticks"] is not None:
            dp += (p["ticks"] - q["ticks"]) / HZ
            wk += (p["workers"] - q["workers"]) / HZ
    if a["pids"]:
        r["dataplane_cpu_pct"] = round(100.0 * dp / dt, 1)
        r["dataplane_worker_cpu_pct"] = round(100.0 * wk / dt, 1)
    # Everything else that ran meanwhile (other users' builds, tests and
    # dataplanes on a shared machine), % of one CPU. other_processes: own
    # ticks of the processes alive at both snapshots, leaving out this
    # benchmark's (the measured dataplanes, iperf3) and kernel threads
    # (counted apart: softirq work): a lower bound, since it misses
    # short-lived ones (compilers). cpu_residual: the machine's busy time
    # less everything this benchmark accounts for (dataplanes, iperf3
    # client and server as iperf3 reports them, kernel threads): includes
    # those, and the error of tick sampling.
    mine = set(a["pids"])
    other = kth = 0
    top = []
    for pid, p in a.get("procs", {}).items():
        q = b.get("procs", {}).get(pid)
        if not q or q[0] != p[0]:
            continue
        own = p[1] - q[1]
        if p[3]:
            kth += own
        elif pid not in mine and pid != a.get("self") and p[0] != "iperf3" and own > 0:
            other += own
            top.append((own, p[0]))
    r["other_processes_cpu_pct"] = round(100.0 * other / HZ / dt, 1)
    r["kernel_threads_cpu_pct"] = round(100.0 * kth / HZ / dt, 1)
    r["other_processes_top"] = ["%s %.0f%%" % (c, 100.0 * t / HZ / dt)
                                for t, c in sorted(top, reverse=True)[:4]]
    busy = 100.0 * ncpu - r["sys_cpu_pct"]["idle"] - r["sys_cpu_pct"]["iowait"]
    r["cpu_residual_pct"] = round(busy - 100.0 * dp / dt - r["kernel_threads_cpu_pct"]
                                  - r.get("iperf3_client_cpu_pct", 0) - r.get("iperf3_server_cpu_pct", 0), 1)
    if "softnet" in a and "softnet" in b:
        r["softnet_backlog_drops"] = a["softnet"]["dropped"] - b["softnet"]["dropped"]
    ifd = {}
    for l, x in a.get("ifs", {}).items():
        y = b.get("ifs", {}).get(l)
        if x and y:
            ifd[l] = {k: x[k] - y[k] for k in x}
    if ifd:
        r["if_deltas"] = ifd
    # nsdp: busy cycles per packet, busy share of each worker, drops.
    nodes = []
    for s, e in a["nsdp"].items():
        f = b["nsdp"].get(s, {})
        sa, sb = e.get("stats", {}), f.get("stats", {})
        if "lcores" not in sa or "lcores" not in sb:
            continue
        cyc = lcore_sum(sa, "busy_cycles") - lcore_sum(sb, "busy_cycles")
        pk = lcore_sum(sa, "busy_packets") - lcore_sum(sb, "busy_packets")
        hz = sa.get("tsc_hz", 1)
        dr = sum(e.get("drops", {}).get("drops", {}).values()) - \
            sum(f.get("drops", {}).get("drops", {}).values())
        node = os.path.basename(s).split(".")[0]
        hw = {}
        for port in e.get("ports", {}).get("ports", []):
            q = [x for x in f.get("ports", {}).get("ports", []) if x["name"] == port["name"]]
            if q:
                hw[port["name"]] = port["hw_ipackets"] - q[0]["hw_ipackets"]
        nd = {"node": node, "packets": pk,
              "cycles_per_packet": round(cyc / pk, 1) if pk else None,
              "busy_pct": round(100.0 * cyc / (hz * dt), 1), "drops": dr}
        # Sent into the dataplane's veth by the kernel, never received by
        # the port: lost in the PMD's ring (the PMD does not count these).
        if node + "pod" in ifd and "p1" in hw:
            nd["pod_port_ring_loss"] = ifd[node + "pod"]["tx"] - hw["p1"]
        elif node + "pod" in ifd:
            # a tap pod (no static port p1): the frames its queues held no
            # room for are the tap's TX drops
            nd["pod_port_ring_loss"] = ifd[node + "pod"]["tx_dropped"]
        if node + "ul" in ifd and "uplink" in hw:
            nd["uplink_ring_loss"] = ifd[node + "ul"]["rx"] - hw["uplink"]
        elif node + "ultap" in ifd:  # a tap uplink, a port of the bridge
            nd["uplink_ring_loss"] = ifd[node + "ultap"]["tx_dropped"]
        nodes.append(nd)
    if nodes:
        r["nsdp_nodes"] = nodes
    print(json.dumps(r))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def report(argv):
    runs = [json.loads(l) for l in open(argv[0]) if l.strip()]
    meta = json.load(open(argv[1]))
    variants = []
    for r in runs:
        if r["variant"] not in variants:
            variants.append(r["variant"])
    streams = sorted({r["streams"] for r in runs})
    summary = []
    for v in variants:
        for s in streams:
            rs = [r for r in runs if r["variant"] == v and r["streams"] == s]
            if not rs:
                continue
            e = {"variant": v, "streams": s, "reps": len(rs),
                 "gbps_median": med([r.get("gbps") for r in rs]),
                 "gbps_all": [None if r.get("gbps") is None else round(r["gbps"], 3) for r in rs],
                 "retransmits_median": med([r.get("retransmits") for r in rs]),
                 "iperf3_client_cpu_pct_median": med([r.get("iperf3_client_cpu_pct") for r in rs]),
                 "iperf3_server_cpu_pct_median": med([r.get("iperf3_server_cpu_pct") for r in rs])}
            for k in STAT_FIELDS:
                e["sys_%s_pct_median" % k] = med([r["sys_cpu_pct"][k] for r in rs])
            e["other_processes_cpu_pct_median"] = med([r.get("other_processes_cpu_pct") for r in rs])
            e["softnet_backlog_drops_total"] = sum(r.get("softnet_backlog_drops", 0) for r in rs)
            if any("dataplane_cpu_pct" in r for r in rs):
                e["dataplane_cpu_pct_median"] = med([r.get("dataplane_cpu_pct") for r in rs])
                e["dataplane_worker_cpu_pct_median"] = med([r.get("dataplane_worker_cpu_pct") for r in rs])
            if any("nsdp_nodes" in r for r in rs):
                for i, n in enumerate(rs[0]["nsdp_nodes"]):
                    nm = n["node"]
                    vals = [r["nsdp_nodes"][i] for r in rs if len(r.get("nsdp_nodes", [])) > i]
                    e["%s_cycles_per_packet_median" % nm] = med([x["cycles_per_packet"] for x in vals])
                    e["%s_busy_pct_median" % nm] = med([x["busy_pct"] for x in vals])
                    e["%s_drops_total" % nm] = sum(x["drops"] for x in vals)
                    # None (shown "-") where neither side was measured
                    e["%s_ring_loss_median" % nm] = med([
                        x.get("pod_port_ring_loss", 0) + x.get("uplink_ring_loss", 0)
                        if "pod_port_ring_loss" in x or "uplink_ring_loss" in x else None
                        for x in vals])
            summary.append(e)
    # Ratios: each nsdp variant over each kernel variant, per repetition
    # (they ran back to back), then the median; and the ratio of medians.
    ratios = []
    for nv in [v for v in variants if v.startswith("nsdp")]:
        for kv in [v for v in variants if v.startswith("kernel")]:
            for s in streams:
                per = []
                for rep in sorted({r["rep"] for r in runs}):
                    n = [r for r in runs if r["variant"] == nv and r["streams"] == s and r["rep"] == rep]
                    k = [r for r in runs if r["variant"] == kv and r["streams"] == s and r["rep"] == rep]
                    if n and k and n[0].get("gbps") and k[0].get("gbps"):
                        per.append(n[0]["gbps"] / k[0]["gbps"])
                ratios.append({"nsdp": nv, "kernel": kv, "streams": s,
                               "ratio_median": med(per),
                               "ratio_all": [round(x, 3) for x in per]})
    out = {"meta": meta, "summary": summary, "ratios": ratios, "runs": runs}
    with open(argv[2], "w") as f:
        json.dump(out, f, indent=1)

    def fmt(x, nd=2):
        return "-" if x is None else ("%.*f" % (nd, x))

    print()
    print("%-21s %2s %6s  %-17s %6s %5s %5s %5s %5s %5s %5s %5s %-11s %s" % (
        "variant", "P", "Gbps", "runs", "retr", "cli%", "srv%", "sy+si", "idle", "other", "dp%",
        "busy", "cyc/pkt", "ring loss"))
    for e in summary:
        def per_node(suffix, f):
            v = [e.get(k) for k in sorted(e) if k.endswith(suffix)]
            return "/".join(f % x for x in v if x is not None) or "-"
        print("%-21s %2d %6s  %-17s %6s %5s %5s %5s %5s %5s %5s %5s %-11s %s" % (
            e["variant"], e["streams"], fmt(e["gbps_median"]),
            ",".join(fmt(g) for g in e["gbps_all"]),
            fmt(e["retransmits_median"], 0), fmt(e["iperf3_client_cpu_pct_median"], 0),
            fmt(e["iperf3_server_cpu_pct_median"], 0),
            fmt((e["sys_system_pct_median"] or 0) + (e["sys_softirq_pct_median"] or 0), 0),
            fmt(e["sys_idle_pct_median"], 0), fmt(e["other_processes_cpu_pct_median"], 0),
            fmt(e.get("dataplane_cpu_pct_median"), 0),
            per_node("_busy_pct_median", "%.0f"), per_node("_cycles_per_packet_median", "%.0f"),
            per_node("_ring_loss_median", "%d")))
    print("(medians; CPU columns in %% of one CPU, the machine has %s: cli/srv = iperf3 client/server,"
          % meta.get("cpus", "?"))
    print(" sy+si = system+softirq of the machine, other = other users' processes, dp% = both"
          " dataplanes, busy = each worker's busy share, cyc/pkt = busy TSC cycles per packet n1/n2,"
          " ring loss = packets lost in the PMD rings n1/n2)")
    print()
    for r in ratios:
        print("%-22s / %-14s P=%d  ratio %s  (per rep %s)" % (
            r["nsdp"], r["kernel"], r["streams"], fmt(r["ratio_median"], 3),
            ", ".join("%.3f" % x for x in r["ratio_all"])))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "snap":
        snap(sys.argv[2:])
    elif cmd == "record":
        record(sys.argv[2:])
    elif cmd == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)
