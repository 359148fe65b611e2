#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Merge nsdp-bench and pktpath results into results.json and report.md.

usage: report.py OUTDIR   (reads OUTDIR/inproc.json, OUTDIR/pktpath.json,
                           OUTDIR/machine.json; any may be missing)
       report.py --across DIR...   medians across several bench/run results
"""
import json
import os
import sys

TARGET_10K = 100   # cycles/packet at 10k flows
TARGET_1M = 200    # cycles/packet at 1M flows
TARGET_RATIO = 0.5  # of testpmd io on the same devices


def load(path):
    try:
        with open(path) as fp:
            return json.load(fp)
    except (OSError, ValueError):
        return None


def verdict(ok):
    return "met" if ok else "NOT met"


def across(dirs):
    """Print, per case, the median over runs of each run's median."""
    import statistics
    inp, pkt = {}, {}
    for d in dirs:
        r = load(os.path.join(d, "results.json")) or {}
        for x in (r.get("inproc") or {}).get("results", []):
            inp.setdefault((x["scenario"], x["flows"]), []).append(x["median"])
        for x in (r.get("pktpath") or {}).get("results", []):
            if x.get("median", {}).get("ratio_nsdp_testpmd") is not None:
                pkt.setdefault((x["scenario"], x["flows"]), []).append(x["median"])
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    print("%d runs: %s" % (len(dirs), " ".join(os.path.basename(d.rstrip("/")) for d in dirs)))
    print("in-process (median of run medians; range):")
    for k in sorted(inp):
        v = inp[k]
        dp = [m["dp_cpp"] for m in v]
        tot = [m["total_cpp"] for m in v]
        print("  %-5s %7d: dp %.0f (%.0f..%.0f)  total %.0f (%.0f..%.0f)  n=%d" % (
            k[0], k[1], med(dp), min(dp), max(dp), med(tot), min(tot), max(tot), len(v)))
    print("same devices (median of run medians; range):")
    for k in sorted(pkt):
        v = pkt[k]
        f = lambda n: [m[n] for m in v if m.get(n) is not None]
        print("  %-5s %7d: testpmd %.2f Mpps, nsdp %.2f Mpps (%.0f c/p), ratio %.3f (%.3f..%.3f) n=%d" % (
            k[0], k[1], med(f("testpmd_mpps")), med(f("nsdp_mpps")),
            med(f("nsdp_cycles_per_packet")), med(f("ratio_nsdp_testpmd")),
            min(f("ratio_nsdp_testpmd")), max(f("ratio_nsdp_testpmd")), len(v)))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--across":
        across(sys.argv[2:])
        return
    out = sys.argv[1]
    inproc = load(os.path.join(out, "inproc.json"))
    pkt = load(os.path.join(out, "pktpath.json"))
    machine = load(os.path.join(out, "machine.json")) or {}
    targets = []
    md = ["# nsdp packet-path benchmark", ""]
    md.append("Date: %s  " % machine.get("date", "?"))
    md.append("Machine: %s, %s CPUs, %s; kernel %s; %s  " % (
        machine.get("cpu", "?"), machine.get("cpus", "?"), machine.get("memory", "?"),
        machine.get("kernel", "?"), machine.get("virtualization", "")))
    md.append("Load average at start / end: %s / %s  " % (
        machine.get("load_start", "?"), machine.get("load_end", "?")))
    md.append("Commit: %s%s  " % (machine.get("commit", "?"),
                                  " (with uncommitted changes)" if machine.get("dirty") else ""))
    md.append("Mode: %s" % machine.get("mode", "?"))
    md.append("")

    if inproc:
        p = inproc["params"]
        hz = inproc["tsc_hz"]
        md += ["## In-process packet path (nsdp-bench)", "",
               "`%s`" % machine.get("inproc_cmd", "nsdp-bench"), "",
               "One lcore, burst %d, conntrack %d (%d slots), %s, %d local pods, %d remote "
               "nodes x %d pods, TSC %.2f GHz; medians of %d x %gs. Cycles are TSC cycles per "
               "packet." % (p["burst"], p["ct_size"], p["ct_slots"], p["overlay"], p["pods"],
                            p["nodes"], p["remote_pods"], hz / 1e9, p["reps"], p["seconds"]),
               "",
               "| scenario | flows | frame | gen (PMD RX) | dp_process_burst | tx flush | "
               "**dp = process + tx** | total | Mpps (total) | Mpps (dp) | drops | preempted polls | ok |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in inproc["results"]:
            m = r["median"]
            md.append("| %s | %d | %d | %.1f | %.1f | %.1f | **%.1f** | %.1f | %.2f | %.2f | %d | %.2f%% | %s |" % (
                r["scenario"], r["flows"], r["frame_len"], m["gen_cpp"], m["process_cpp"],
                m["tx_cpp"], m["dp_cpp"], m["total_cpp"], m["total_mpps"], m["dp_mpps"],
                r["drops"], 100.0 * r["preempted_polls"] / max(r["polls"], 1),
                "yes" if r.get("ok", True) else "no: " + r.get("note", "")))
            lim = TARGET_10K if r["flows"] <= 10000 else TARGET_1M if r["flows"] >= 1000000 else None
            if lim:
                targets.append(("%s, %d flows: dp cycles/packet <= %d" % (r["scenario"], r["flows"], lim),
                                "%.0f" % m["dp_cpp"], m["dp_cpp"] <= lim))
        md.append("")

    if pkt:
        p = pkt["params"]
        md += ["## Same devices, same run: dpdk-testpmd io vs nsdp-dataplane", "",
               "`%s`" % machine.get("pktpath_cmd", "pktpath.py"), "",
               "net_pcap0 (rx_pcap, infinite_rx: every RX copies the packet into a fresh mbuf) "
               "-> net_null (TX frees). %d alternating repetitions, %gs warm-up + %gs window "
               "each; worker / forwarding lcore 1, main lcore 0; conntrack %d." % (
                   p["reps"], p["warm"], p["seconds"], p["ct_size"]),
               "",
               "| scenario | flows | frame | testpmd io Mpps | testpmd cycles/pkt | nsdp Mpps | "
               "nsdp cycles/pkt (busy) | **nsdp / testpmd** | nsdp drops | flows created while measuring |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in pkt["results"]:
            m = c.get("median", {})
            f = lambda v, fmt: fmt % v if v is not None else "-"
            md.append("| %s | %d | %d | %s | %s | %s | %s | **%s** | %s | %s |" % (
                c["scenario"], c["flows"], c["frame_len"], f(m.get("testpmd_mpps"), "%.2f"),
                f(m.get("testpmd_cycles_per_packet"), "%.1f"), f(m.get("nsdp_mpps"), "%.2f"),
                f(m.get("nsdp_cycles_per_packet"), "%.1f"), f(m.get("ratio_nsdp_testpmd"), "%.3f"),
                m.get("nsdp_drops", "-"), m.get("nsdp_created_while_measuring", "-")))
            if m.get("ratio_nsdp_testpmd") is not None:
                targets.append(("%s, %d flows: nsdp >= %.1f x testpmd io" % (
                    c["scenario"], c["flows"], TARGET_RATIO),
                    "%.3f" % m["ratio_nsdp_testpmd"], m["ratio_nsdp_testpmd"] >= TARGET_RATIO))
            if c["flows"] <= 10000 and m.get("nsdp_cycles_per_packet") is not None:
                targets.append(("%s, %d flows: nsdp-dataplane busy cycles/packet <= %d "
                                "(includes the PMD's RX copy)" % (c["scenario"], c["flows"], TARGET_10K),
                                "%.0f" % m["nsdp_cycles_per_packet"],
                                m["nsdp_cycles_per_packet"] <= TARGET_10K))
        errs = [r for c in pkt["results"] for r in c["runs"] if "error" in r]
        if errs:
            md += ["", "Failed runs: %d (see results.json)." % len(errs)]
        md.append("")

    if targets:
        md += ["## Targets (issue 2)", "", "| target | measured | |", "|---|---:|---|"]
        for name, val, ok in targets:
            md.append("| %s | %s | %s |" % (name, val, verdict(ok)))
        md.append("")

    doc = {"machine": machine, "inproc": inproc, "pktpath": pkt,
           "targets": [{"target": n, "measured": v, "met": ok} for n, v, ok in targets]}
    with open(os.path.join(out, "results.json"), "w") as fp:
        json.dump(doc, fp, indent=2)
    with open(os.path.join(out, "report.md"), "w") as fp:
        fp.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
