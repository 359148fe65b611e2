# SPDX-License-Identifier: Apache-2.0
"""OVS-DPDK as a third peer of pktpath.py, on the same devices and pcaps.

One run starts a private Open vSwitch under a temporary directory (its own
database, pid files, control sockets and logs; OVS_RUNDIR and friends point
there, so no system-wide configuration is read or written) and a private
network namespace (`unshare -n`: the bridges' tap devices live and die
with ovs-vswitchd), configures it like nsdp-dataplane's node, measures,
and removes everything again, on every exit path:

  ovsdb-server          a fresh conf.db from vswitch.ovsschema
  ovs-vswitchd-dpdk     dpdk-init, dpdk-extra = --no-pci --in-memory and the
                        net_pcap / net_null vdevs of pktpath.py, one PMD on
                        the worker lcore (pmd-cpu-mask), main lcore 0
  br-phy (netdev)       the underlay: the uplink port, the VTEP address
                        192.168.100.1/24 on the bridge's own interface,
                        MAC = the pcap's outer destination, neighbour
                        entries for the 16 remote VTEPs (tnl/neigh/set)
  br-int (netdev)       the pods' ports and a vxlan port (key 7,
                        remote_ip=flow)

br-int's OpenFlow pipeline does what nsdp does to these packets:
  table 0  decap: from the vxlan port, VNI 7, outer source a known VTEP and
           inner source inside that node's pod /24 (nsdp's VTEP check and
           tunnel anti-spoofing); encap: from the pod port, source MAC and
           IP of a pod on that port (nsdp's anti-spoofing)
           -> ct(zone=1, table=1)
  table 1  +est -> table 2; +new TCP to the server ports (80, 443, 8080,
           5432) between pod CIDRs -> ct(commit) and table 2; anything
           else: drop
  table 2  decap: per local pod, dec_ttl, gateway MAC as source, pod MAC as
           destination, output to its port; encap: per remote node's /24,
           dec_ttl, gateway MACs, tun_dst = that node's VTEP, output to the
           vxlan port (OVS's tnl_push adds Ethernet + IPv4 + UDP + VXLAN)
           anything else: drop

A run passes its checks ("verified") when every flow of the pcap has a
conntrack entry after the warm-up, the TX counters moved by what the RX
counters did over the window (OVS forwarded every packet it received), no
packet was dropped (datapath drop counters, port drop counters, the drop
rules), and no connection was created while measuring.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pktpath as pp

VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "unshare",
         "nsenter", "ip")
ZONE = 1
# OpenFlow port numbers (ofport_request): the flows are in place before
# the ports exist, so they cannot name them.
OF_UP, OF_POD0, OF_VX = 1, 1, 10
WORKER_LCORE = 1  # nsdp-dataplane's worker and testpmd's forwarding lcore
VTEP_IP = "192.168.100.1"


def missing():
    """Why OVS-DPDK cannot run here, or None."""
    if not os.access(VSWITCHD, os.X_OK):
        return "%s not found (apt-get install openvswitch-switch-dpdk)" % VSWITCHD
    if not os.path.exists(SCHEMA):
        return "%s not found" % SCHEMA
    absent = [t for t in TOOLS if not shutil.which(t)]
    if absent:
        return "not on PATH: " + " ".join(absent)
    if os.geteuid() != 0:
        return "needs root"
    return None


def pipeline(model, scenario):
    """(br-phy flows, br-int flows) for one scenario, ovs-ofctl syntax."""
    phy = ["priority=10,in_port=%d,actions=LOCAL" % OF_UP,
           "priority=10,in_port=LOCAL,actions=output:%d" % OF_UP,
           "priority=0,actions=drop"]
    gw = pp.fmt_mac(pp.GW_MAC)
    fl = []
    if scenario == "decap":
        for n in range(model.nodes):
            fl.append("table=0,priority=10,in_port=%d,tun_id=%d,tun_src=%s,ip,"
                      "nw_src=10.244.%d.0/24,actions=ct(zone=%d,table=1)"
                      % (OF_VX, pp.VNI, pp.fmt_ip(pp.ip_vtep(n)), 2 + n, ZONE))
        allow = "nw_src=10.244.0.0/16,nw_dst=10.244.1.0/24"
        for l in range(model.pods):
            fl.append("table=2,priority=10,ip,nw_dst=%s,actions=dec_ttl,mod_dl_src:%s,"
                      "mod_dl_dst:%s,output:%d" % (pp.fmt_ip(pp.ip_local(l)), gw,
                                                  pp.fmt_mac(pp.mac_local(l)), OF_POD0 + (l & 1)))
    else:
        for l in range(model.pods):
            fl.append("table=0,priority=10,in_port=%d,dl_src=%s,ip,nw_src=%s,"
                      "actions=ct(zone=%d,table=1)"
                      % (OF_POD0, pp.fmt_mac(pp.mac_local(l)), pp.fmt_ip(pp.ip_local(l)), ZONE))
        allow = "nw_src=10.244.1.0/24,nw_dst=10.244.0.0/16"
        for n in range(model.nodes):
            fl.append("table=2,priority=10,ip,nw_dst=10.244.%d.0/24,actions=dec_ttl,"
                      "mod_dl_src:%s,mod_dl_dst:%s,set_field:%s->tun_dst,output:%d"
                      % (2 + n, gw, gw, pp.fmt_ip(pp.ip_vtep(n)), OF_VX))
    fl.append("table=1,priority=20,ct_state=+trk+est,ip,actions=resubmit(,2)")
    for port in pp.SERVER_PORTS:
        fl.append("table=1,priority=10,ct_state=+trk+new,tcp,%s,tp_dst=%d,"
                  "actions=ct(zone=%d,commit),resubmit(,2)" % (allow, port, ZONE))
    fl += ["table=%d,priority=0,actions=drop" % t for t in (0, 1, 2)]
    return phy, fl


class Ovs:
    """A private ovsdb-server + ovs-vswitchd-dpdk; stop() removes it all."""

    def __init__(self, a, prefix, extra_eal, log):
        self.dir = tempfile.mkdtemp(prefix="nsdp-ovs-")
        self.prefix = prefix
        self.log = log
        self.db = self.vswitchd = None
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_LOGDIR=self.dir,
                        OVS_DBDIR=self.dir, OVS_SYSCONFDIR=self.dir)
        try:
            self._start(a, extra_eal)
        except BaseException:
            self.stop()
            raise

    def path(self, name):
        return os.path.join(self.dir, name)

    def sh(self, *argv, timeout=60):
        r = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv)[:200], r.stderr.strip()[-1000:]))
        return r.stdout

    def vsctl(self, *args):
        return self.sh("ovs-vsctl", "--db=unix:" + self.path("db.sock"), "--timeout=60", *args)

    def appctl(self, *args):
        return self.sh("ovs-appctl", "-t", self.path("vswitchd.ctl"), *args)

    def ofctl(self, bridge, *args):
        return self.sh("ovs-ofctl", "-O", "OpenFlow13", "--no-names", args[0],
                       self.path(bridge + ".mgmt"), *args[1:])

    def netns(self, *argv):
        return self.sh("nsenter", "-t", str(self.vswitchd.p.pid), "-n", *argv)

    def _wait_file(self, name, proc, timeout=60):
        end = time.monotonic() + timeout
        while not os.path.exists(self.path(name)):
            if proc.p.poll() is not None or time.monotonic() > end:
                raise RuntimeError("OVS: no %s:\n%s" % (name, self.logs()[-2000:]))
            time.sleep(0.05)

    def _start(self, a, extra_eal):
        self.sh("ovsdb-tool", "create", self.path("conf.db"), SCHEMA)
        self.db = pp.Proc(["ovsdb-server", self.path("conf.db"),
                           "--remote=punix:" + self.path("db.sock"),
                           "--unixctl=" + self.path("ovsdb.ctl"),
                           "--pidfile=" + self.path("ovsdb.pid"),
                           "--log-file=" + self.path("ovsdb.log")], env=self.env)
        self._wait_file("db.sock", self.db)
        self.vsctl("--no-wait", "init")
        eal = ["--no-pci", "--in-memory", "--file-prefix=" + self.prefix] + extra_eal
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   "other_config:dpdk-extra=" + " ".join(eal),
                   "other_config:dpdk-lcore-mask=0x1",
                   "other_config:pmd-cpu-mask=0x%x" % (1 << WORKER_LCORE),
                   *("other_config:" + kv for kv in a.ovs_config))
        self.vswitchd = pp.Proc(pp.rt_prefix(a) + [
            "unshare", "-n", VSWITCHD, "unix:" + self.path("db.sock"),
            "--pidfile=" + self.path("vswitchd.pid"),
            "--unixctl=" + self.path("vswitchd.ctl"),
            "--log-file=" + self.path("vswitchd.log")], env=self.env)
        self._wait_file("vswitchd.ctl", self.vswitchd, 120)
        # Before the first bridge creates tap devices: no IPv6 chatter from
        # them into the uplink.
        self.netns("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1")

    def logs(self):
        out = []
        for name in ("ovsdb.log", "vswitchd.log"):
            try:
                with open(self.path(name)) as fp:
                    out.append(fp.read())
            except OSError:
                pass
        return "".join(out)

    def stop(self):
        rc = None
        if self.vswitchd:
            rc = self.vswitchd.stop()
        if self.db:
            self.db.stop()
        if self.log:
            self.log.write(self.logs())
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree("/var/run/dpdk/" + self.prefix, ignore_errors=True)
        return rc


def port_stats(ovs):
    """{port: {rx_pkts, rx_drop, tx_pkts, tx_drop}} of every datapath port,
    read live from the devices in one command (one consistent snapshot)."""
    out = {}
    for m in re.finditer(r"port \d+: (\S+).*\n\s*RX packets:(\d+) errors:\d+ dropped:(\d+)"
                         r".*\n\s*TX packets:(\d+) errors:\d+ dropped:(\d+)",
                         ovs.appctl("dpctl/show", "-s")):
        out[m.group(1)] = {"rx_pkts": int(m.group(2)), "rx_drop": int(m.group(3)),
                           "tx_pkts": int(m.group(4)), "tx_drop": int(m.group(5))}
    return out


def drop_coverage(ovs):
    """Sum of the datapath's drop coverage counters (drop actions, upcall
    errors, tunnel pop failures ...)."""
    total = 0
    for m in re.finditer(r"^(\S+)\s+.*total:\s*(\d+)", ovs.appctl("coverage/show"), re.M):
        if "drop" in m.group(1):
            total += int(m.group(2))
    return total


def ct_count(ovs):
    m = re.search(r"Total:\s*(\d+)", ovs.appctl("dpctl/ct-stats-show", "zone=%d" % ZONE))
    return int(m.group(1)) if m else 0


def pmd_stats(ovs):
    text = ovs.appctl("dpif-netdev/pmd-stats-show")
    pmd = text.split("main thread:")[0]
    keys = {"packets received": "packets", "avg. datapath passes per packet": "passes",
            "emc hits": "emc_hits", "smc hits": "smc_hits", "megaflow hits": "megaflow_hits",
            "miss with success upcall": "upcalls", "miss with failed upcall": "failed_upcalls",
            "avg processing cycles per packet": "cycles_per_packet"}
    out = {}
    for k, v in keys.items():
        m = re.search(re.escape(k) + r":\s*([\d.]+)", pmd)
        out[v] = float(m.group(1)) if m else None
    return out


def rule_packets(ovs):
    """Packets per kind of OpenFlow rule of br-int (revalidator-updated)."""
    out = {"established": 0, "new_committed": 0, "dropped": 0}
    for line in ovs.ofctl("br-int", "dump-flows").splitlines():
        m = re.search(r"n_packets=(\d+)", line)
        if not m:
            continue
        n = int(m.group(1))
        if "actions=drop" in line:
            out["dropped"] += n
        elif "+est" in line:
            out["established"] += n
        elif "commit" in line:
            out["new_committed"] += n
    return out


def run_ovs(a, model, scenario, pcap, nflows, log):
    prefix = "nsdpbench-ovs-%d" % os.getpid()
    pcap_dev = "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap
    if scenario == "decap":
        vdevs = [pcap_dev, "net_null0,no-rx=1", "net_null1,no-rx=1"]
        uplink, pods = "net_pcap0", ["net_null0", "net_null1"]
        in_port, out_ports = "up", ["pod0", "pod1"]
    else:
        vdevs = [pcap_dev, "net_null0,no-rx=1"]
        uplink, pods = "net_null0", ["net_pcap0"]
        in_port, out_ports = "pod0", ["up"]
    eal = [x for v in vdevs for x in ("--vdev", v)]
    ovs = Ovs(a, prefix, eal, log)
    res = {"tool": "ovs"}
    try:
        ovs.vsctl("add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev",
                  "fail_mode=secure", "other-config:hwaddr=" + pp.fmt_mac(pp.UPLINK_MAC),
                  "--", "add-br", "br-int", "--", "set", "bridge", "br-int",
                  "datapath_type=netdev", "fail_mode=secure",
                  "--", "add-port", "br-int", "vx", "--", "set", "interface", "vx", "type=vxlan",
                  "options:remote_ip=flow", "options:key=%d" % pp.VNI, "ofport_request=%d" % OF_VX)
        ovs.netns("ip", "addr", "add", VTEP_IP + "/24", "dev", "br-phy")
        ovs.netns("ip", "link", "set", "br-phy", "up")
        for n in range(model.nodes):
            ovs.appctl("tnl/neigh/set", "br-phy", pp.fmt_ip(pp.ip_vtep(n)),
                       pp.fmt_mac(pp.mac_vtep(n)))
        for br, flows in zip(("br-phy", "br-int"), pipeline(model, scenario)):
            path = ovs.path(br + ".flows")
            with open(path, "w") as fp:
                fp.write("\n".join(flows) + "\n")
            ovs.ofctl(br, "replace-flows", path)
        # The pipeline is in place: now the ports, the pcap's last (it
        # starts the traffic).
        ports = [("br-phy", "up", uplink, OF_UP)] + [
            ("br-int", "pod%d" % i, dev, OF_POD0 + i) for i, dev in enumerate(pods)]
        for br, name, dev, ofport in sorted(ports, key=lambda p: p[2] == "net_pcap0"):
            ovs.vsctl("add-port", br, name, "--", "set", "interface", name, "type=dpdk",
                      "options:dpdk-devargs=" + dev, "ofport_request=%d" % ofport)
        time.sleep(a.warm)
        conns = ct_count(ovs)
        drops0, rules0 = drop_coverage(ovs), rule_packets(ovs)
        ovs.appctl("dpif-netdev/pmd-stats-clear")

        def counters():
            st = port_stats(ovs)
            tx = sum(st[p]["tx_pkts"] for p in out_ports)
            drop = sum(v["rx_drop"] + v["tx_drop"] for v in st.values())
            return tx, st[in_port]["rx_pkts"], drop
        t0 = time.monotonic()
        tx0, rx0, pdrop0 = counters()
        t1 = time.monotonic()
        time.sleep(a.seconds)
        t2 = time.monotonic()
        tx1, rx1, pdrop1 = counters()
        t3 = time.monotonic()
        pmd = pmd_stats(ovs)
        conns1 = ct_count(ovs)
        time.sleep(1.2)  # the revalidators push datapath flow stats to the rules
        drops1, rules1 = drop_coverage(ovs), rule_packets(ovs)
        window = ((t2 + t3) - (t0 + t1)) / 2
        tx, rx = tx1 - tx0, rx1 - rx0
        drops = (drops1 - drops0) + (pdrop1 - pdrop0)
        created = conns1 - conns
        rules = {k: rules1[k] - rules0[k] for k in rules1}
        res.update({
            "window_s": round(window, 4),
            "tx_pkts": tx,
            "rx_pkts": rx,
            "mpps": tx / window / 1e6,
            "cycles_per_packet": pmd["cycles_per_packet"],
            "pmd": pmd,
            "conntrack_entries": conns,
            "created_while_measuring": created,
            "drops": drops,
            "rule_packets": rules,
            "rule_packets_total": rules1,
            "datapath_flow_sample": [l for l in ovs.appctl("dpctl/dump-flows").splitlines()
                                     if "+est" in l][:2],
        })
        # rx and tx are read a few ms apart: allow a few bursts of skew.
        res["verified"] = bool(conns == nflows and created == 0 and drops == 0 and rx > 0
                               and abs(tx - rx) <= max(rx * 1e-3, 4096)
                               and rules["dropped"] == 0 and rules1["dropped"] == 0)
    finally:
        rc = ovs.stop()
        res["exit_status"] = rc
    return res
