#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Same-run peer comparison of the packet path on virtual devices.

For each scenario (decap, encap) and flow count F this script

  1. writes a pcap of F TCP ACKs of established flows, one per flow, in
     random order (decap: VXLAN from a remote VTEP, remote pod -> local pod;
     encap: local pod -> remote pod), with the flow model of nsdp-bench;
  2. runs, alternately and REPS times each,
       dpdk-testpmd --forward-mode=io   net_pcap0(rx_pcap, infinite_rx) -> net_null0
       nsdp-dataplane                   the same devices in the same roles
       OVS-DPDK (ovs_peer.py)           the same devices, VXLAN bridge + conntrack
     for a warm-up and a measured window, on lcore 1 (main lcore 0);
  3. reports per run the forwarded packet rate (delta of TX counters over
     the window), nsdp's cycles/packet (busy_cycles / busy_packets deltas
     from `nsdpctl --json stats`), testpmd's cycles/packet
     (--record-core-cycles), OVS's PMD processing cycles/packet
     (pmd-stats-show), nsdp's and OVS's drops and flows created while
     measuring (must be 0), and the medians and the nsdp/testpmd and
     nsdp/OVS ratios.

The net_pcap PMD in infinite_rx mode keeps the whole pcap in mbufs and
copies each packet into a fresh mbuf on RX (ring dequeue + copy + enqueue),
so both programs pay the same RX cost; net_null frees on TX. F is limited by
memory: every pcap packet holds a 2.3 KB mbuf (100k flows: about 230 MB of
hugepages per process), so 1M flows are measured only in-process
(nsdp-bench).

Writes one JSON document (--json) and prints a table. Needs root (hugepages),
the build directory (--build) with nsdp-dataplane and nsdpctl, and
dpdk-testpmd; OVS-DPDK runs where openvswitch-switch-dpdk is installed and
is skipped with a message where it is not (--peers chooses the programs).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

# ---- flow model (keep in step with bench/nsdp-bench.c) --------------------

SERVER_PORTS = (80, 443, 8080, 5432)
GW_MAC = bytes([0xEE] * 6)
VNI = 7
VXLAN_PORT = 4789


class Model:
    def __init__(self, pods=128, nodes=16, rpods=64):
        self.pods, self.nodes, self.rpods = pods, nodes, rpods

    def flow(self, f):
        pairs = self.nodes * self.rpods
        local = f % self.pods
        q = f // self.pods
        r = q % pairs
        return (local, r % self.nodes, r // self.nodes, 20000 + q // pairs,
                SERVER_PORTS[(f >> 3) & 3])


def ip_local(l):
    return bytes([10, 244, 1, 10 + l])


def ip_remote(n, r):
    return bytes([10, 244, 2 + n, 10 + r])


def ip_vtep(n):
    return bytes([192, 168, 100, 2 + n])


def mac_local(l):
    return bytes([2, 0, 0, 0, 1, 10 + l])


def mac_vtep(n):
    return bytes([2, 0, 0, 0, 0, 2 + n])


def fmt_mac(m):
    return ":".join("%02x" % b for b in m)


def fmt_ip(b):
    return ".".join(str(x) for x in b)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x1234, 0x4000, 64,
                    proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp_ack(src, dst, sport, dport):
    # nsdp and testpmd io do not verify the TCP checksum, but OVS's
    # conntrack does (a bad one is ct_state +inv): make it right.
    seg = struct.pack("!HHIIBBHHH", sport, dport, 0x11000000, 0x22000000, 0x50, 0x10,
                      0xFFFF, 0, 0)
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def frame(model, scenario, f, uplink_mac):
    local, node, rpod, cport, sport = model.flow(f)
    if scenario == "encap":
        src, dst = ip_local(local), ip_remote(node, rpod)
        ip = ipv4(src, dst, 6, tcp_ack(src, dst, cport, sport))
        return GW_MAC + mac_local(local) + b"\x08\x00" + ip
    src, dst = ip_remote(node, rpod), ip_local(local)
    inner_ip = ipv4(src, dst, 6, tcp_ack(src, dst, cport, sport))
    inner = GW_MAC + b"\x02" * 6 + b"\x08\x00" + inner_ip
    vx = struct.pack("!BBBBI", 0x08, 0, 0, 0, VNI << 8)
    usport = 49152 | (((f * 2654435761) & 0xFFFFFFFF) >> 18)
    udp = struct.pack("!HHHH", usport, VXLAN_PORT, 8 + len(vx) + len(inner), 0) + vx + inner
    outer = ipv4(ip_vtep(node), bytes([192, 168, 100, 1]), 17, udp)
    return uplink_mac + mac_vtep(node) + b"\x08\x00" + outer


def write_pcap(path, model, scenario, nflows, seed, uplink_mac):
    order = list(range(nflows))
    random.Random(seed).shuffle(order)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        ts = 0
        for f in order:
            fr = frame(model, scenario, f, uplink_mac)
            fp.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(fr), len(fr)))
            fp.write(fr)
            ts += 1
    return len(frame(model, scenario, 0, uplink_mac))


def check_pcap(path, scenario, count=4):
    """Decode the first packets with scapy where it is installed (sanity)."""
    code = (
        "import sys\n"
        "from scapy.all import rdpcap, IP, TCP, UDP\n"
        "from scapy.layers.vxlan import VXLAN\n"
        "pk = rdpcap(sys.argv[1], count=int(sys.argv[2]))\n"
        "for p in pk:\n"
        "    ips = [l for l in p.layers() if l is IP]\n"
        "    ip = p[IP]\n"
        "    c = ip.chksum; del ip.chksum; ip2 = IP(bytes(ip)); assert ip2.chksum == c, 'csum'\n"
        "    t = p[TCP]; c = t.chksum; del t.chksum\n"
        "    assert IP(bytes(t.underlayer))[TCP].chksum == c, 'tcp csum'\n"
        "    if sys.argv[3] == 'decap':\n"
        "        assert p.haslayer(VXLAN) and p[VXLAN].vni == 7, 'vxlan'\n"
        "        inner = p[VXLAN].payload\n"
        "        assert inner[TCP].flags == 'A', 'flags'\n"
        "    else:\n"
        "        assert p[TCP].flags == 'A', 'flags'\n"
        "print('ok', len(pk))\n")
    for py in ("/usr/bin/python3", sys.executable):
        try:
            r = subprocess.run([py, "-c", "import scapy"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            r = subprocess.run([py, "-c", code, path, str(count), scenario],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError("pcap check failed: " + r.stderr.strip()[-500:])
            return True
    return False


# ---- nsdp-dataplane --------------------------------------------------------

UPLINK_MAC = bytes([2, 0, 0, 0, 0, 1])  # any unicast MAC: nsdp does not filter on it


def nsdp_config(model, scenario, pcap, nflows, sock, prefix, ct_size):
    pcap_dev = "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap
    if scenario == "decap":
        ports = [("uplink", pcap_dev, "uplink"), ("pod0", "net_null0,no-rx=1", "pod"),
                 ("pod1", "net_null1,no-rx=1", "pod")]
        pod_of = lambda l: "pod%d" % (l & 1)
    else:
        ports = [("uplink", "net_null0,no-rx=1", "uplink"), ("pod0", pcap_dev, "pod")]
        pod_of = lambda l: "pod0"
    out = []
    out.append('node = { name = "bench"; vtep = "192.168.100.1"; overlay = "vxlan"; '
               'vni = %d; };' % VNI)
    out.append('eal = ["--no-pci", "--in-memory", "--file-prefix=%s", '
               '"--log-level=lib.eal:error"];' % prefix)
    out.append("workers = [1];\nmain_lcore = 0;\nburst = 32;")
    out.append("ports = (\n" + ",\n".join(
        '  { name = "%s"; devargs = "%s"; role = "%s"; }' % p for p in ports) + "\n);")
    out.append("tables = { conntrack = %d; endpoints = 4096; mbufs = %d; };"
               % (ct_size, nflows + 16384))
    out.append('control_socket = "%s";' % sock)
    eps = []
    for l in range(model.pods):
        eps.append('  { ip = "%s"; port = "%s"; mac = "%s"; identity = %d; }'
                   % (fmt_ip(ip_local(l)), pod_of(l), fmt_mac(mac_local(l)), 1000 + l))
    out.append("endpoints = (\n" + ",\n".join(eps) + "\n);")
    out.append("vteps = (\n" + ",\n".join(
        '  { ip = "%s"; mac = "%s"; }' % (fmt_ip(ip_vtep(n)), fmt_mac(mac_vtep(n)))
        for n in range(model.nodes)) + "\n);")
    routes = ['  { prefix = "10.244.1.0/24"; local = true; }']
    for n in range(model.nodes):
        routes.append('  { prefix = "10.244.%d.0/24"; vtep = "%s"; }'
                      % (2 + n, fmt_ip(ip_vtep(n))))
    out.append("routes = (\n" + ",\n".join(routes) + "\n);")
    return "\n".join(out) + "\n"


class Proc:
    """A child process whose output a thread collects (no pipe stalls)."""

    def __init__(self, argv, stdin=False, log=None, env=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, bufsize=1, start_new_session=True, env=env)
        self.lines = []
        self.log = log
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)
            if self.log:
                self.log.write(line)

    def text(self):
        return "".join(self.lines)

    def wait_for(self, pattern, timeout):
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < end:
            if rx.search(self.text()):
                return True
            if self.p.poll() is not None:
                time.sleep(0.2)
                return bool(rx.search(self.text()))
            time.sleep(0.05)
        return False

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def stop(self, timeout=20):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.t.join(5)
        return self.p.returncode


def free_hugepages():
    try:
        with open("/proc/meminfo") as fp:
            for line in fp:
                if line.startswith("HugePages_Free:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rt_prefix(a):
    """--rt: run the measured program SCHED_FIFO so that other work on the
    shared machine cannot time-slice the polling lcore (the kernel's RT
    throttling still leaves it 5% of each second)."""
    return ["chrt", "-f", "1"] if a.rt else []


def nsdpctl(ctl, sock, *args):
    r = subprocess.run([ctl, "-s", sock, "--json"] + list(args), capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("nsdpctl %s: %s" % (" ".join(args), r.stderr.strip()))
    return json.loads(r.stdout)


def run_nsdp(a, model, scenario, pcap, nflows, tmp, log):
    prefix = "nsdpbench-dp-%d" % os.getpid()
    sock = os.path.join(tmp, "dp.sock")
    cfg = os.path.join(tmp, "dp.conf")
    with open(cfg, "w") as fp:
        fp.write(nsdp_config(model, scenario, pcap, nflows, sock, prefix, a.ct_size))
    p = Proc(rt_prefix(a) + [os.path.join(a.build, "nsdp-dataplane"), "-c", cfg], log=log)
    res = {"tool": "nsdp"}
    try:
        if not p.wait_for(r"control socket", 120):
            raise RuntimeError("nsdp-dataplane did not start (free hugepages: %s):\n%s" % (
                free_hugepages(), p.text()[-2000:]))
        time.sleep(a.warm)
        ctl = a.nsdpctl or os.path.join(a.build, "nsdpctl")
        t0 = time.monotonic()
        s0 = nsdpctl(ctl, sock, "stats")
        t1 = time.monotonic()
        time.sleep(a.seconds)
        t2 = time.monotonic()
        s1 = nsdpctl(ctl, sock, "stats")
        t3 = time.monotonic()
        drops = nsdpctl(ctl, sock, "drops")
        out_ports = ["pod0", "pod1"] if scenario == "decap" else ["uplink"]
        in_port = "uplink" if scenario == "decap" else "pod0"
        tx = sum(s1["ports"][q]["tx_pkts"] - s0["ports"][q]["tx_pkts"] for q in out_ports)
        rx = s1["ports"][in_port]["rx_pkts"] - s0["ports"][in_port]["rx_pkts"]
        l0, l1 = s0["lcores"][0], s1["lcores"][0]
        bc = l1["busy_cycles"] - l0["busy_cycles"]
        bp = l1["busy_packets"] - l0["busy_packets"]
        polls = l1["polls"] - l0["polls"]
        idle = l1["idle_polls"] - l0["idle_polls"]
        window = ((t2 + t3) - (t0 + t1)) / 2
        res.update({
            "window_s": round(window, 4),
            "tx_pkts": tx,
            "rx_pkts": rx,
            "mpps": tx / window / 1e6,
            "cycles_per_packet": bc / bp if bp else None,
            "idle_poll_fraction": idle / polls if polls else None,
            "created_while_measuring": l1["ct_created"] - l0["ct_created"],
            "drops": {k: v for k, v in drops["drops"].items() if v},
            "tsc_hz": s1.get("tsc_hz"),
        })
    finally:
        rc = p.stop()
        res["exit_status"] = rc
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    if rc != 0:
        raise RuntimeError("nsdp-dataplane exited %s:\n%s" % (rc, p.text()[-2000:]))
    return res


# ---- dpdk-testpmd ----------------------------------------------------------

def parse_port_stats(text, port):
    """(TX-packets, Tx-pps) of every 'NIC statistics for port N' block."""
    out = []
    for m in re.finditer(r"NIC statistics for port %d\s+#+\n(.*?)\n\s*#{20,}" % port, text,
                         re.S):
        blk = m.group(1)
        txp = re.search(r"TX-packets:\s*(\d+)", blk)
        pps = re.search(r"Tx-pps:\s*(\d+)", blk)
        out.append((int(txp.group(1)) if txp else None, int(pps.group(1)) if pps else None))
    return out


def run_testpmd(a, pcap, nflows, log):
    prefix = "nsdpbench-tp-%d" % os.getpid()
    # stdbuf: testpmd's stdout is a pipe here; line-buffer it so prompts and
    # statistics arrive as they are printed.
    argv = rt_prefix(a) + ["stdbuf", "-oL", a.testpmd, "-l", "0,1", "--main-lcore", "0", "--no-pci", "--in-memory",
            "--file-prefix=" + prefix, "--log-level=lib.eal:error",
            "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap,
            "--vdev", "net_null0,no-rx=1",
            "--", "-i", "--forward-mode=io", "--nb-cores=1", "--rxq=1", "--txq=1",
            "--burst=32", "--total-num-mbufs=%d" % (nflows + 16384), "--record-core-cycles",
            "--no-lsc-interrupt"]
    p = Proc(argv, stdin=True, log=log)
    res = {"tool": "testpmd"}
    try:
        # The prompt has no newline, so it stays in the line buffer: wait
        # for the end of the port start-up report instead.
        if not p.wait_for(r"Checking link statuses\.\.\.[\s\S]*?Done", 60):
            raise RuntimeError("testpmd did not start (free hugepages: %s):\n%s" % (
                free_hugepages(), p.text()[-2000:]))
        p.send("start")
        time.sleep(a.warm)
        n0 = len(parse_port_stats(p.text(), 1))
        t0 = time.monotonic()
        p.send("show port stats all")
        time.sleep(a.seconds)
        t1 = time.monotonic()
        p.send("show port stats all")
        end = time.monotonic() + 20
        while len(parse_port_stats(p.text(), 1)) < n0 + 2 and time.monotonic() < end:
            time.sleep(0.05)
        p.send("stop")
        p.wait_for(r"CPU cycles/packet=", 20)
        p.send("quit")
        try:
            p.p.wait(30)
        except subprocess.TimeoutExpired:
            pass
        st = parse_port_stats(p.text(), 1)
        if len(st) < n0 + 2:
            raise RuntimeError("testpmd: no port stats:\n" + p.text()[-2000:])
        (tx0, _), (tx1, pps) = st[n0], st[n0 + 1]
        window = t1 - t0
        cyc = re.findall(r"CPU cycles/packet=([\d.]+)", p.text())
        res.update({
            "window_s": round(window, 4),
            "tx_pkts": tx1 - tx0,
            "mpps": (tx1 - tx0) / window / 1e6,
            "testpmd_tx_pps": pps,
            "cycles_per_packet": float(cyc[-1]) if cyc else None,
        })
    finally:
        rc = p.stop()
        res["exit_status"] = rc
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    return res


# ---- driver ------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rep_ratios(runs, reps, num, den):
    """num/den Mpps per repetition (the two ran back to back)."""
    out = []
    for rep in range(reps):
        n = [r["mpps"] for r in runs if r["tool"] == num and r["rep"] == rep and "mpps" in r]
        d = [r["mpps"] for r in runs if r["tool"] == den and r["rep"] == rep and "mpps" in r]
        if n and d and d[0]:
            out.append(n[0] / d[0])
    return out


def case_medians(runs, reps, peers):
    of = lambda tool, key: [r.get(key) for r in runs if r["tool"] == tool and "mpps" in r]
    m = {}
    for tool in peers:
        m[tool + "_mpps"] = med(of(tool, "mpps"))
        m[tool + "_cycles_per_packet"] = med(of(tool, "cycles_per_packet"))
    if "nsdp" in peers:
        m["nsdp_drops"] = sum(sum(d.values()) for d in of("nsdp", "drops"))
        m["nsdp_created_while_measuring"] = sum(of("nsdp", "created_while_measuring"))
    for den in ("testpmd", "ovs"):
        if "nsdp" in peers and den in peers:
            m["ratio_nsdp_" + den] = med(rep_ratios(runs, reps, "nsdp", den))
    if "ovs" in peers:
        m["ovs_drops"] = sum(of("ovs", "drops"))
        m["ovs_created_while_measuring"] = sum(of("ovs", "created_while_measuring"))
        m["ovs_verified_runs"] = sum(1 for v in of("ovs", "verified") if v)
        m["ovs_runs"] = len(of("ovs", "verified"))
    return m


def print_run(sc, nf, rep, r):
    extra = ""
    if r["tool"] == "nsdp":
        extra = " drops=%s created=%d" % (sum(r["drops"].values()), r["created_while_measuring"])
    elif r["tool"] == "ovs":
        extra = " conntrack=%d drops=%d created=%d passes=%s%s" % (
            r["conntrack_entries"], r["drops"], r["created_while_measuring"],
            r["pmd"]["passes"], "" if r["verified"] else " NOT VERIFIED")
    cpp = r.get("cycles_per_packet")
    print("  %-5s %6d rep %d %-7s %6.2f Mpps  %s cycles/pkt%s" % (
        sc, nf, rep, r["tool"], r["mpps"], "%.1f" % cpp if cpp else "-", extra), flush=True)


def print_case(sc, nf, m):
    parts = []
    for tool in ("testpmd", "nsdp", "ovs"):
        if m.get(tool + "_mpps") is not None:
            cpp = m.get(tool + "_cycles_per_packet")
            parts.append("%s %.2f Mpps (%s c/p)" % (tool, m[tool + "_mpps"],
                                                    "%.0f" % cpp if cpp else "-"))
    for den in ("testpmd", "ovs"):
        if m.get("ratio_nsdp_" + den) is not None:
            parts.append("nsdp/%s %.3f" % (den, m["ratio_nsdp_" + den]))
    if "nsdp_drops" in m:
        parts.append("nsdp drops %d" % m["nsdp_drops"])
    if "ovs_runs" in m:
        parts.append("ovs verified %d/%d" % (m["ovs_verified_runs"], m["ovs_runs"]))
    print("%-5s %7d flows: %s" % (sc, nf, ", ".join(parts)), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-bench", help="meson build directory")
    ap.add_argument("--nsdpctl", help="nsdpctl binary (default: BUILD/nsdpctl)")
    ap.add_argument("--testpmd", default=shutil.which("dpdk-testpmd") or "dpdk-testpmd")
    ap.add_argument("--flows", default="10000,100000", help="comma-separated flow counts")
    ap.add_argument("--scenario", default="both", choices=["decap", "encap", "both"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured window")
    ap.add_argument("--warm", type=float, default=2.0, help="warm-up before the window")
    ap.add_argument("--ct-size", type=int, default=2 << 20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peers", default="testpmd,nsdp,ovs",
                    help="comma-separated, run alternately in this order: testpmd, nsdp, ovs "
                         "(OVS-DPDK, skipped when openvswitch-switch-dpdk is not installed)")
    ap.add_argument("--ovs-config", action="append", default=[], metavar="KEY=VALUE",
                    help="add to OVS's other_config (repeatable), e.g. smc-enable=true")
    ap.add_argument("--rt", action="store_true",
                    help="run testpmd, nsdp-dataplane and ovs-vswitchd with SCHED_FIFO priority 1")
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--log", help="append the programs' output here")
    a = ap.parse_args()

    model = Model()
    def count(x):
        mult = {"k": 1000, "m": 1000000}.get(x[-1:].lower(), 1)
        return int(float(x[:-1] if mult > 1 else x) * mult)
    flows = [count(x) for x in a.flows.split(",")]
    scenarios = ["decap", "encap"] if a.scenario == "both" else [a.scenario]
    peers = [t for t in ("testpmd", "nsdp", "ovs") if t in a.peers.split(",")]
    if "ovs" in peers:
        sys.modules.setdefault("pktpath", sys.modules[__name__])  # ovs_peer imports it
        import ovs_peer
        why = ovs_peer.missing()
        if why:
            print("pktpath: OVS-DPDK peer skipped: " + why, file=sys.stderr, flush=True)
            peers.remove("ovs")
    tmp = tempfile.mkdtemp(prefix="nsdp-pktpath-")
    log = open(a.log, "a") if a.log else None
    runners = {
        "testpmd": lambda sc, pcap, nf: run_testpmd(a, pcap, nf, log),
        "nsdp": lambda sc, pcap, nf: run_nsdp(a, model, sc, pcap, nf, tmp, log),
        "ovs": lambda sc, pcap, nf: ovs_peer.run_ovs(a, model, sc, pcap, nf, log),
    }
    results = []
    failed = False
    try:
        for nf in flows:
            for sc in scenarios:
                pcap = os.path.join(tmp, "%s-%d.pcap" % (sc, nf))
                flen = write_pcap(pcap, model, sc, nf, a.seed, UPLINK_MAC)
                checked = check_pcap(pcap, sc)
                case = {"scenario": sc, "flows": nf, "frame_len": flen,
                        "pcap_checked_with_scapy": checked, "runs": []}
                for rep in range(a.reps):
                    for tool in peers:
                        try:
                            r = runners[tool](sc, pcap, nf)
                        except Exception as e:  # keep going, report the failure
                            r = {"tool": tool, "error": str(e)[-3000:]}
                            failed = True
                            print("  %s %s %d rep %d: FAILED: %s" % (tool, sc, nf, rep, str(e)[:300]),
                                  file=sys.stderr)
                        r["rep"] = rep
                        case["runs"].append(r)
                        if "mpps" in r:
                            print_run(sc, nf, rep, r)
                case["median"] = case_medians(case["runs"], a.reps, peers)
                print_case(sc, nf, case["median"])
                results.append(case)
                os.unlink(pcap)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if log:
            log.close()
    doc = {"tool": "pktpath", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "params": {"reps": a.reps, "seconds": a.seconds, "warm": a.warm,
                      "ct_size": a.ct_size, "pods": model.pods, "nodes": model.nodes,
                      "remote_pods": model.rpods, "lcores": "main 0, forwarding/worker 1",
                      "sched": "SCHED_FIFO 1" if a.rt else "SCHED_OTHER",
                      "testpmd": a.testpmd, "peers": peers, "ovs_config": a.ovs_config},
           "results": results}
    if a.json:
        with open(a.json, "w") as fp:
            json.dump(doc, fp, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
