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
        if f("ratio_nsdp_ovs"):
            print("  %-5s %7d: OVS-DPDK %.2f Mpps (%.0f c/p), nsdp / OVS %.2f (%.2f..%.2f) n=%d" % (
                k[0], k[1], med(f("ovs_mpps")), med(f("ovs_cycles_per_packet")),
                med(f("ratio_nsdp_ovs")), min(f("ratio_nsdp_ovs")), max(f("ratio_nsdp_ovs")),
                len(f("ratio_nsdp_ovs"))))


# ---- issue 6: scenarios, peers, plots -------------------------------------

TARGET_FIRST_PACKET = 3e6   # new flows per second per core
TARGET_FLAT = 0.20          # cycles/packet 10 -> 10k policies within 20%
TARGET_OVS = 2.0            # established flows vs OVS-DPDK


def svg_lines(title, xlabels, series, ylabel, logy=False, w=560, h=300):
    """A line chart (categorical x axis) as an SVG string, no dependencies."""
    import math
    pad_l, pad_r, pad_t, pad_b = 60, 150, 30, 40
    ys = [v for _, vals in series for v in vals if v is not None and v > 0]
    if not ys:
        return None
    lo, hi = (min(ys), max(ys))
    if logy:
        lo, hi = math.log10(lo) - 0.05, math.log10(hi) + 0.05
        f = lambda v: math.log10(v)
    else:
        lo, hi = 0, hi * 1.1
        f = lambda v: v
    if hi <= lo:
        hi = lo + 1
    pw, ph = w - pad_l - pad_r, h - pad_t - pad_b
    X = lambda i: pad_l + (pw * i / max(len(xlabels) - 1, 1))
    Y = lambda v: pad_t + ph - ph * (f(v) - lo) / (hi - lo)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (w, h),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (pad_l, title),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad_l, pad_t + ph, pad_l + pw, pad_t + ph),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad_l, pad_t, pad_l, pad_t + ph)]
    for k in range(5):
        fv = lo + (hi - lo) * k / 4
        v = 10 ** fv if logy else fv
        y = pad_t + ph - ph * k / 4
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (pad_l, y, pad_l + pw, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (pad_l - 4, y + 4, ("%.3g" % v)))
    for i, xl in enumerate(xlabels):
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (X(i), pad_t + ph + 15, xl))
    o.append('<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>' % (
        pad_t + ph // 2, pad_t + ph // 2, ylabel))
    for si, (name, vals) in enumerate(series):
        c = colors[si % len(colors)]
        pts = [(X(i), Y(v)) for i, v in enumerate(vals) if v is not None and v > 0]
        if len(pts) > 1:
            o.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                c, " ".join("%.1f,%.1f" % p for p in pts)))
        for p in pts:
            o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (p[0], p[1], c))
        o.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (w - pad_r + 10, pad_t + 16 * si, c))
        o.append('<text x="%d" y="%d">%s</text>' % (w - pad_r + 24, pad_t + 9 + 16 * si, name))
    o.append("</svg>")
    return "\n".join(o)


def svg_bars(title, labels, series, ylabel, w=560, h=300):
    """Grouped bars; series = [(name, [values])]."""
    pad_l, pad_r, pad_t, pad_b = 60, 150, 30, 60
    ys = [v for _, vals in series for v in vals if v is not None]
    if not ys:
        return None
    hi = max(ys) * 1.1 or 1
    pw, ph = w - pad_l - pad_r, h - pad_t - pad_b
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
    gw = pw / max(len(labels), 1)
    bw = gw * 0.8 / max(len(series), 1)
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (w, h),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (pad_l, title),
         '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad_l, pad_t + ph, pad_l + pw, pad_t + ph)]
    for k in range(5):
        v = hi * k / 4
        y = pad_t + ph - ph * k / 4
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (pad_l, y, pad_l + pw, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%.3g</text>' % (pad_l - 4, y + 4, v))
    for i, lab in enumerate(labels):
        x0 = pad_l + gw * i + gw * 0.1
        for si, (name, vals) in enumerate(series):
            v = vals[i]
            if v is None:
                continue
            bh = ph * v / hi
            o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>' % (
                x0 + bw * si, pad_t + ph - bh, bw - 1, bh, colors[si % len(colors)]))
        o.append('<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-30 %.1f %d)">%s</text>' % (
            pad_l + gw * (i + 0.5), pad_t + ph + 14, pad_l + gw * (i + 0.5), pad_t + ph + 14, lab))
    for si, (name, _) in enumerate(series):
        o.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>' % (w - pad_r + 10, pad_t + 16 * si, colors[si % len(colors)]))
        o.append('<text x="%d" y="%d">%s</text>' % (w - pad_r + 24, pad_t + 9 + 16 * si, name))
    o.append('<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>' % (
        pad_t + ph // 2, pad_t + ph // 2, ylabel))
    o.append("</svg>")
    return "\n".join(o)


def kfmt(n):
    return ("%gM" % (n / 1e6)) if n >= 1e6 else ("%gk" % (n / 1e3)) if n >= 1e3 else str(n)


def scen_section(scen, machine, pkt, out, targets):
    hz = scen["tsc_hz"]
    p = scen["params"]
    res = scen["results"]
    md = ["## Scenarios with policy (nsdp-scen, issue 6)", "",
          "`%s`" % machine.get("scen_cmd", "nsdp-scen"), "",
          "One worker on lcore 1 (mc: 1..N workers, each on its own lcore), burst %d, conntrack %d (%d slots), %s, %d local "
          "pods on this node; policies generated as manifests, loaded and compiled by the agent's "
          "code, published with dp_publish_policy(); medians of %d x %gs; TSC %.2f GHz. "
          "**dp** = dp_process_burst + dp_tx_flush cycles per packet (the dataplane's work), gen = "
          "the in-process generator (a copying PMD's RX), not part of dp." % (
              p["burst"], p["ct_size"], p["ct_slots"], p["overlay"], p["local_pods"],
              p["reps"], p["seconds"], hz / 1e9), ""]
    plots = []

    def row(r):
        m = r["median"]
        return "| %s | %s | %s | %.0f | **%.0f** | %.2f | %.2f | %s | %d | %d | %s |" % (
            r["name"], kfmt(r.get("policies", 0)), kfmt(r.get("pods", 0)), m["gen_cpp"], m["dp_cpp"],
            m["dp_mpps"], m["wall_mpps"],
            ("%.2f M" % (m["new_flows_per_s_core"] / 1e6)) if m["new_flows_per_s_core"] else "-",
            r["drops"], r.get("lost_allowed", 0),
            "yes" if r["ok"] else "**no**: " + r["note"])
    head = ["| case | policies | pods | gen | **dp** | Mpps (dp) | Mpps (wall, all workers) | new flows/s/core | drops | lost allowed | ok |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]

    cases = scen.get("cases", [])
    if cases:
        md += ["### Policy and pod sweeps: compile, classify, rte_acl peer", "",
               "Classification of the same tuples (storm tuples as generated: allowed and denied, "
               "both directions, random order): `pol_decide` (nsdp: class lookups, both sides) vs "
               "`rte_acl_classify` (bursts of 32) on the policy expanded into 5-tuple rules for this "
               "node's pods (rules over the cap are counted, not built).", "",
               "| policies | pods | load ms | compile ms | maps | ranges | pol_decide cycles | rte_acl rules | expand ms | build ms | rte_acl cycles | verdicts differ |",
               "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in cases:
            a = c["acl"]
            md.append("| %s | %s | %.0f | %.0f | %d | %d | %.0f | %s | %.0f | %s | %s | %s |" % (
                kfmt(c["policies"]), kfmt(c["pods"]), c["load_ms"], c["compile_ms"], c["maps"],
                c["ranges"], c["decide_cpp"], "{:,}".format(a["rules"]), a["expand_ms"],
                ("%.0f" % a["build_ms"]) if a["built"] else "not built",
                ("%.0f" % a["classify_cpp"]) if a["classify_cpp"] is not None else "-",
                a["mismatches"] if a["built"] else "-"))
        notes = [c["acl"]["note"] for c in cases if c["acl"]["note"]]
        if notes:
            md += ["", "rte_acl: " + "; ".join(sorted(set(n.split(":")[0] for n in notes))) +
                   " (cap: `--acl-max-rules %d`)." % p["acl_max_rules"]]
        md.append("")
        sweep = [r for r in res if r["group"] == "sweep"]
        md += head + [row(r) for r in sweep] + [""]
        # policy sweep at the most common pod count
        pods_counts = {}
        for c in cases:
            pods_counts.setdefault(c["pods"], []).append(c["policies"])
        pbase = max(pods_counts, key=lambda k: len(pods_counts[k]))
        pols = sorted(pods_counts[pbase])

        def sweep_val(pol, pods, scen_name):
            for r in sweep:
                if r.get("policies") == pol and r.get("pods") == pods and r.get("scenario") == scen_name:
                    return r["median"]["dp_cpp"]
            return None

        def case_val(pol, pods, key):
            for c in cases:
                if c["policies"] == pol and c["pods"] == pods:
                    if key == "acl":
                        return c["acl"]["classify_cpp"]
                    return c[key]
            return None
        if len(pols) > 1:
            svg = svg_lines("cycles/packet vs policies (%s pods)" % kfmt(pbase), [kfmt(x) for x in pols], [
                ("established decap", [sweep_val(x, pbase, "decap") for x in pols]),
                ("established encap", [sweep_val(x, pbase, "encap") for x in pols]),
                ("new flow (storm)", [sweep_val(x, pbase, "storm-decap") for x in pols]),
                ("pol_decide only", [case_val(x, pbase, "decide_cpp") for x in pols]),
                ("rte_acl classify", [case_val(x, pbase, "acl") for x in pols])],
                "TSC cycles per packet", logy=True)
            if svg:
                plots.append(("policies.svg", svg))
            est = [sweep_val(x, pbase, "decap") for x in pols]
            enc = [sweep_val(x, pbase, "encap") for x in pols]
            for name, vals in (("decap", est), ("encap", enc)):
                vals = [v for v in vals if v]
                if len(vals) > 1:
                    spread = max(vals) / min(vals) - 1
                    targets.append(("established %s cycles/packet flat within %.0f%% from %s to %s policies" % (
                        name, 100 * TARGET_FLAT, kfmt(pols[0]), kfmt(pols[-1])),
                        "%.0f..%.0f (+%.0f%%)" % (min(vals), max(vals), 100 * spread), spread <= TARGET_FLAT))
            st = [sweep_val(x, pbase, "storm-decap") for x in pols]
            st = [v for v in st if v]
            if len(st) > 1:
                spread = max(st) / min(st) - 1
                targets.append(("first packet (storm) cycles/packet flat within %.0f%% from %s to %s policies" % (
                    100 * TARGET_FLAT, kfmt(pols[0]), kfmt(pols[-1])),
                    "%.0f..%.0f (+%.0f%%)" % (min(st), max(st), 100 * spread), spread <= TARGET_FLAT))
        pod_cases = sorted({(c["pods"], c["policies"]) for c in cases})
        polbase = {}
        for pods, pol in pod_cases:
            polbase.setdefault(pol, []).append(pods)
        pb = max(polbase, key=lambda k: len(polbase[k]))
        pods_l = sorted(polbase[pb])
        if len(pods_l) > 1:
            svg = svg_lines("cycles/packet vs pods (%s policies)" % kfmt(pb), [kfmt(x) for x in pods_l], [
                ("established decap", [sweep_val(pb, x, "decap") for x in pods_l]),
                ("established encap", [sweep_val(pb, x, "encap") for x in pods_l]),
                ("new flow (storm)", [sweep_val(pb, x, "storm-decap") for x in pods_l]),
                ("pol_decide only", [case_val(pb, x, "decide_cpp") for x in pods_l]),
                ("rte_acl classify", [case_val(pb, x, "acl") for x in pods_l])],
                "TSC cycles per packet", logy=True)
            if svg:
                plots.append(("pods.svg", svg))
        svg = svg_bars("rte_acl rules after expansion", ["%sx%s" % (kfmt(c["policies"]), kfmt(c["pods"])) for c in cases],
                       [("rules (k)", [c["acl"]["rules"] / 1e3 for c in cases])], "thousand rules")
        if svg:
            plots.append(("acl-rules.svg", svg))

    for g, title in (("flows", "Flow sweep (base cluster)"), ("sizes", "Frame sizes and popularity (base cluster)"),
                     ("mix", "Realistic mix (base cluster)"), ("storm", "New-flow storms (base cluster)"),
                     ("update", "Policy update every %g ms under load (base cluster)" % p["update_ms"]),
                     ("mc", "Workers (base cluster)")):
        rs = [r for r in res if r["group"] == g]
        if not rs:
            continue
        md += ["### " + title, ""] + head + [row(r) for r in rs] + [""]
        if g == "flows" and len(rs) > 1:
            svg = svg_lines("established decap vs flows", [kfmt(r["flows"]) for r in rs],
                            [("dp cycles/packet", [r["median"]["dp_cpp"] for r in rs])], "TSC cycles per packet")
            if svg:
                plots.append(("flows.svg", svg))
        if g == "sizes":
            labs = [r["name"].rsplit(" ", 1)[0] for r in rs]
            svg = svg_bars("sizes: cycles per packet", labs, [
                ("dp", [r["median"]["dp_cpp"] for r in rs]), ("gen (PMD RX copy)", [r["median"]["gen_cpp"] for r in rs])],
                "TSC cycles per packet")
            if svg:
                plots.append(("sizes.svg", svg))
        if g == "update":
            on = [r for r in rs if r.get("updates")]
            off = [r for r in rs if not r.get("updates")]
            if on:
                u = on[0]
                md += ["%d policy publications (pol_deserialize of the agent's blob + dp_publish_policy, RCU wait "
                       "included): mean %.2f ms, max %.2f ms; the agent's compile of this cluster: %.0f ms. "
                       "Lost packets of allowed flows with updates: **%d** (of %s)." % (
                           u["publishes"], u["publish_ms_mean"], u["publish_ms_max"], u["compile_ms"],
                           u["lost_allowed"], "{:,}".format(u["packets"])), ""]
                targets.append(("policy update every %g ms under load: lost packets of allowed flows == 0" % p["update_ms"],
                                "%d" % u["lost_allowed"], u["lost_allowed"] == 0))
                if off:
                    md += ["Throughput with updates / without: %.2f (dp cycles %.0f vs %.0f)." % (
                        off[0]["median"]["dp_cpp"] / u["median"]["dp_cpp"], u["median"]["dp_cpp"],
                        off[0]["median"]["dp_cpp"]), ""]
        if g == "mc":
            md += mc_scaling(rs, plots)
    for r in res:
        if r.get("scenario", "").startswith("storm") and r.get("allowed_share", 0) >= 0.999 and r["workers"] == 1:
            v = r["median"]["new_flows_per_s_core"]
            targets.append(("first packet (%s, %s policies x %s pods, allowed flows): >= 3 M new flows/s/core" % (
                r["scenario"], kfmt(r["policies"]), kfmt(r["pods"])), "%.2f M" % (v / 1e6), v >= TARGET_FIRST_PACKET))
    if plots:
        md += ["### Plots", ""]
        for name, svg in plots:
            with open(os.path.join(out, name), "w") as fp:
                fp.write(svg)
            md.append("![%s](%s)" % (name, name))
        md.append("")
    return md


def mc_scaling(rs, plots):
    """The mc group's scaling table (per scenario: N workers against one) and its plot."""
    md, series, xs = [], [], None
    for scen, label in (("established", "established decap+encap"), ("storm-decap", "new-flow storm")):
        s = sorted((r for r in rs if r.get("scenario") == scen), key=lambda r: r["workers"])
        if len(s) < 2 or s[0]["workers"] != 1:
            continue
        one = max(s[0]["median"]["wall_mpps"], 1e-9)
        md += ["| %s: workers | Mpps (wall, all workers) | dp cycles/packet per worker | speed-up | per-core efficiency |" % label,
               "|---|---:|---:|---:|---:|"]
        for r in s:
            up = r["median"]["wall_mpps"] / one
            md.append("| %d | %.2f | %.0f | %.2f | %.0f%% |" % (
                r["workers"], r["median"]["wall_mpps"], r["median"]["dp_cpp"], up, 100 * up / r["workers"]))
        md.append("")
        xs = [str(r["workers"]) for r in s]
        series.append((label, [r["median"]["wall_mpps"] / one for r in s]))
    if series and xs and all(len(v) == len(xs) for _, v in series):
        series.append(("linear", [float(x) for x in xs]))
        svg = svg_lines("speed-up with workers (wall-clock aggregate)", xs, series, "x one worker")
        if svg:
            plots.append(("workers.svg", svg))
    return md


def ovs_section(pkt, targets):
    """The OVS-DPDK peer of pktpath.py (bench/ovs_peer.py), where it ran."""
    cases = [c for c in pkt["results"] if c.get("median", {}).get("ovs_runs")]
    if not cases:
        return []
    md = ["", "OVS-DPDK (`bench/ovs_peer.py`) on the same devices and pcaps, alternating with "
          "the two above: ovs-vswitchd-dpdk, one PMD on lcore 1, br-phy (uplink, VTEP) + br-int "
          "(vxlan port, pod ports), OpenFlow: VTEP / source checks -> ct(zone) -> established: "
          "MAC rewrite, dec_ttl, output (encap: tun_dst + tnl_push); new allowed TCP: "
          "ct(commit); else drop. OVS cycles are its PMD's processing cycles per packet. "
          "*Verified* runs: every flow in conntrack after the warm-up, TX = RX over the window, "
          "no drop, no connection created.%s" % (
              " other_config: `%s`." % " ".join(pkt["params"]["ovs_config"])
              if pkt["params"].get("ovs_config") else ""),
          "",
          "| scenario | flows | nsdp Mpps | OVS-DPDK Mpps | OVS cycles/pkt | **nsdp / OVS** | "
          "OVS drops | OVS flows created while measuring | verified runs |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    f = lambda v, fmt: fmt % v if v is not None else "-"
    for c in cases:
        m = c["median"]
        ok = m["ovs_verified_runs"] == m["ovs_runs"]
        md.append("| %s | %d | %s | %s | %s | **%s** | %d | %d | %d/%d |" % (
            c["scenario"], c["flows"], f(m.get("nsdp_mpps"), "%.2f"), f(m["ovs_mpps"], "%.2f"),
            f(m["ovs_cycles_per_packet"], "%.0f"), f(m.get("ratio_nsdp_ovs"), "%.2f"),
            m["ovs_drops"], m["ovs_created_while_measuring"], m["ovs_verified_runs"], m["ovs_runs"]))
        if m.get("ratio_nsdp_ovs") is not None:
            targets.append(("%s, %d flows: established flows >= %.0f x OVS-DPDK" % (
                c["scenario"], c["flows"], TARGET_OVS),
                "%.2f%s" % (m["ratio_nsdp_ovs"], "" if ok else " (OVS runs not verified)"),
                ok and m["ratio_nsdp_ovs"] >= TARGET_OVS))
    return md


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--across":
        across(sys.argv[2:])
        return
    out = sys.argv[1]
    inproc = load(os.path.join(out, "inproc.json"))
    pkt = load(os.path.join(out, "pktpath.json"))
    scen = load(os.path.join(out, "scen.json"))
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
        md += ["## Same devices, same run: dpdk-testpmd io, nsdp-dataplane, OVS-DPDK", "",
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
        md += ovs_section(pkt, targets)
        errs = [r for c in pkt["results"] for r in c["runs"] if "error" in r]
        if errs:
            md += ["", "Failed runs: %d (see results.json)." % len(errs)]
        md.append("")

    if scen:
        md += scen_section(scen, machine, pkt, out, targets)

    if targets:
        md += ["## Targets (issues 2 and 6)", "", "| target | measured | |", "|---|---:|---|"]
        for name, val, ok in targets:
            md.append("| %s | %s | %s |" % (name, val, verdict(ok)))
        md.append("")

    doc = {"machine": machine, "inproc": inproc, "pktpath": pkt, "scen": scen,
           "targets": [{"target": n, "measured": v, "met": ok} for n, v, ok in targets]}
    with open(os.path.join(out, "results.json"), "w") as fp:
        json.dump(doc, fp, indent=2)
    with open(os.path.join(out, "report.md"), "w") as fp:
        fp.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
