#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""
Packet golden tests: pcap in -> nsdp-dataplane -> pcap out, TAP on stdout.

usage: run_golden.py [SCENARIO ...]      (default: all; --list names them)
environment: NSDP_DATAPLANE, NSDP_CTL = the built binaries.

Scenarios:
  vxlan-decap  VXLAN from two remote VTEPs decapsulated to the right pod
  encap        pod -> remote pod encapsulated to the right VTEP (VXLAN), the
               outer UDP source port symmetric per flow (checked against a
               second node) and spread across flows
  geneve       Geneve in (with options, reserved bits) and out; O/C bits,
               version, protocol type, option length and VNI rejected
  local-arp    pod -> local pod; ARP for the gateway (pod ports) and for the
               VTEP (uplink) answered; other ARP dropped
  malformed    every malformed input counted under its exact drop reason,
               nothing delivered, and the boundaries that must pass
  jumbo        node MTU 9000: 8950-byte packets encapsulated, delivered;
               larger ones dropped as mtu-exceeded
  host         the host port (the node's own stack): its ARP for the gateway
               answered and its MAC learned, then the node to pods
               delivered, pods to the node and beyond sent to that MAC, and
               what it must refuse (a pod address from it, a remote pod,
               the node's address from the uplink)
  policy       NetworkPolicy and AdminNetworkPolicy compiled by the agent's
               compiler (nsdp-agent --compile-to) and loaded at start from
               the dataplane's policy_file: allowed packets delivered or
               encapsulated byte for byte, denied ones counted as
               policy-deny, by ingress and by egress, and the reply of an
               allowed connection admitted although its port is not
"""
import os
import struct
import subprocess
import sys

try:
    import scapy  # noqa: F401
except ImportError:
    # meson may find a python3 (pyenv, venv) without the distribution's scapy.
    if (os.path.exists("/usr/bin/python3") and not os.environ.get("NSDP_GOLDEN_REEXEC")
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")):
        os.environ["NSDP_GOLDEN_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("1..0 # SKIP python3-scapy is not installed")
    sys.exit(0)

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.sctp import SCTP  # noqa: E402
from scapy.packet import Raw  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden import (GW_IP, GW_MAC, GENEVE_PORT, VXLAN_PORT, Dataplane, Deliver,  # noqa: E402
                    Drop, Encap, Scenario, Tap, arp_frame, fix_ipv4_csum, forwarded,
                    geneve_hdr, geneve_opt, ip_b, outer_frame, vxlan_hdr)

# ---- the topology ----------------------------------------------------------
# node A (the dataplane under test): VTEP 192.168.100.1, pods 10.244.1.0/24
# node B: VTEP 192.168.100.2, pods 10.244.2.0/24
# node C: VTEP 192.168.100.3, pods 10.244.3.0/24
VNI = 0x12D687  # 1234567: all three VNI bytes non-zero
A_IP, A_MAC = "192.168.100.1", "02:00:c0:a8:64:01"
B_IP, B_MAC = "192.168.100.2", "02:00:c0:a8:64:02"
C_IP, C_MAC = "192.168.100.3", "02:00:c0:a8:64:03"
POD0_IP, POD0_MAC = "10.244.1.10", "02:00:0a:f4:01:0a"
POD1_IP, POD1_MAC = "10.244.1.11", "02:00:0a:f4:01:0b"
B_POD, B_POD2 = "10.244.2.20", "10.244.2.21"
C_POD, C_POD2 = "10.244.3.30", "10.244.3.31"
REMOTE_MAC = "02:00:0a:f4:02:14"  # a remote pod's MAC, as a remote sender may leave it
UPLINK_DST = "02:70:63:61:70:00"   # what we address underlay frames to (not checked)
PORT_MAC = {"pod0": POD0_MAC, "pod1": POD1_MAC}
POD_PORT = {POD0_IP: "pod0", POD1_IP: "pod1"}
MTU = 1500


def node_a(overlay="vxlan", mtu=MTU, burst=None):
    return Dataplane(
        burst=burst,
        node=dict(name="node-a", vtep=A_IP, overlay=overlay, vni=VNI, mtu=mtu),
        ports=[("uplink", "uplink"), ("pod0", "pod"), ("pod1", "pod")],
        endpoints=[(POD0_IP, "pod0", POD0_MAC), (POD1_IP, "pod1", POD1_MAC)],
        vteps=[(B_IP, B_MAC), (C_IP, C_MAC)],
        routes=[("10.244.1.0/24", None), ("10.244.2.0/24", B_IP), ("10.244.3.0/24", C_IP)])


def node_b(overlay="vxlan"):
    """The mirror image: node B with pod 10.244.2.20 on its port pod0."""
    return Dataplane(
        node=dict(name="node-b", vtep=B_IP, overlay=overlay, vni=VNI, mtu=MTU),
        ports=[("uplink", "uplink"), ("pod0", "pod")],
        endpoints=[(B_POD, "pod0", REMOTE_MAC)],
        vteps=[(A_IP, A_MAC), (C_IP, C_MAC)],
        routes=[("10.244.2.0/24", None), ("10.244.1.0/24", A_IP), ("10.244.3.0/24", C_IP)])


# ---- packet builders -------------------------------------------------------

def pkt(src, dst, tag=b"", l4="udp", *, smac=None, dmac=GW_MAC, sport=1111, dport=2222,
        ttl=64, tos=0, ident=1, flags=0, opts=None, size=None, tcp_flags="PA",
        icmp_type=8, icmp_id=0x4242, seq=1):
    """An Ethernet/IPv4 frame; `size` is the IPv4 total length to reach."""
    ip = IP(src=src, dst=dst, ttl=ttl, tos=tos, id=ident, flags=flags, options=opts or [])
    if l4 == "udp":
        hdr = ip / UDP(sport=sport, dport=dport)
    elif l4 == "tcp":
        hdr = ip / TCP(sport=sport, dport=dport, flags=tcp_flags, seq=1000 + seq, ack=77,
                       window=4096)
    elif l4 == "icmp":
        hdr = ip / ICMP(type=icmp_type, id=icmp_id, seq=seq)
    else:
        raise ValueError(l4)
    payload = tag + b"payload-" + bytes(range(32))
    if size is not None:
        base = len(bytes(hdr))
        assert size >= base + len(tag)
        payload = (tag + bytes((i * 7) & 0xff for i in range(size)))[:size - base]
    fr = bytes(Ether(src=smac or REMOTE_MAC, dst=dmac) / hdr / Raw(payload))
    if size is not None:
        assert len(fr) == 14 + size
    return fr


def from_pod(port, dst, tag, l4="udp", src=None, **kw):
    ip = src or {"pod0": POD0_IP, "pod1": POD1_IP}[port]
    return pkt(ip, dst, tag, l4, smac=PORT_MAC[port], dmac=GW_MAC, **kw)


def tunnel(inner, *, overlay="vxlan", vtep=(B_IP, B_MAC), vni=VNI, hdr=None, dst_ip=A_IP,
           sport=50000, dport=None, **kw):
    """An underlay frame from `vtep` carrying `inner`."""
    if hdr is None:
        hdr = vxlan_hdr(vni) if overlay == "vxlan" else geneve_hdr(vni)
    if dport is None:
        dport = VXLAN_PORT if overlay == "vxlan" else GENEVE_PORT
    kw.setdefault("df", False)
    kw.setdefault("ident", 0x1234)
    return outer_frame(hdr + inner, src_mac=vtep[1], dst_mac=UPLINK_DST, src_ip=vtep[0],
                       dst_ip=dst_ip, sport=sport, dport=dport, **kw)


def delivered(inner, pod_ip):
    """The inner frame as the pod must see it."""
    return Deliver(POD_PORT[pod_ip], forwarded(inner, PORT_MAC[POD_PORT[pod_ip]], GW_MAC))


def mangle(frame, fn, csum=True, l3=14):
    b = bytearray(frame)
    fn(b)
    if csum:
        fix_ipv4_csum(b, l3)
    return bytes(b)


def put16(b, off, v):
    b[off:off + 2] = struct.pack("!H", v)


# ---- 1. VXLAN in -> the right pod -------------------------------------------

def sc_vxlan_decap(tap):
    s = Scenario(tap, "vxlan-decap", node_a())
    B, C = (B_IP, B_MAC), (C_IP, C_MAC)

    def add(desc, vtep, dst, l4="udp", outer=None, inner_kw=None, src=None):
        t = s.tag()
        inner = pkt(src or ("10.244.2.7" if vtep == B else "10.244.3.7"), dst, t, l4,
                    **(inner_kw or {}))
        s.send("uplink", tunnel(inner, vtep=vtep, **(outer or {})), desc,
               delivered(inner, dst), t)

    add("UDP from VTEP B to pod0", B, POD0_IP)
    add("UDP from VTEP B to pod1", B, POD1_IP)
    add("TCP from VTEP C to pod0", C, POD0_IP, "tcp", inner_kw=dict(sport=443, dport=50123))
    add("ICMP echo from VTEP C to pod1", C, POD1_IP, "icmp")
    add("inner MACs = gateway MAC (as nsdp sends)", C, POD1_IP,
        inner_kw=dict(smac=GW_MAC, dmac=GW_MAC))
    add("outer UDP checksum non-zero and valid", B, POD0_IP, outer=dict(udp_checksum=True))
    add("outer 802.1Q tag (VLAN 100)", B, POD1_IP, outer=dict(vlan=100))
    add("outer Ethernet padding after the IP packet", C, POD0_IP,
        outer=dict(pad=b"\0" * 6))
    add("VXLAN reserved fields non-zero (ignored, RFC 7348 5)", B, POD0_IP,
        outer=dict(hdr=vxlan_hdr(VNI, rsvd1=b"\x12\x34\x56", rsvd2=0x78)))
    add("outer TTL 1 (addressed to us: accepted)", B, POD0_IP, outer=dict(ttl=1))
    add("outer DF set", C, POD1_IP, outer=dict(df=True))
    add("inner IPv4 options (router alert) kept", B, POD1_IP,
        inner_kw=dict(opts=[IPOption_Router_Alert()]))
    add("inner DF and DSCP EF/ECN kept", C, POD0_IP, inner_kw=dict(flags="DF", tos=0xb9))
    add("inner TTL 2 -> 1", B, POD0_IP, inner_kw=dict(ttl=2))
    add("inner TTL 255 -> 254", B, POD1_IP, inner_kw=dict(ttl=255, ident=0xffff))
    add("inner 1450-byte packet (pod MTU)", C, POD1_IP, inner_kw=dict(size=1450))
    add("second UDP to pod0 from VTEP C", C, POD0_IP, inner_kw=dict(sport=9, dport=9))
    s.check()


# ---- 2. pod -> remote VTEP ---------------------------------------------------

SYM_FLOWS = [  # (key, l4, pod-side port, remote port, icmp id)
    ("udp", "udp", 40000, 53, None),
    ("tcp", "tcp", 40001, 80, None),
    ("icmp", "icmp", None, None, 0x1234),
]


def sc_encap(tap):
    # RX bursts of 256: a port's burst is handled in groups of 64 (the bulk
    # lookup limit), and the spread flows below put more than 64 on pod0.
    s = Scenario(tap, "encap", node_a(burst=256))
    B, C = (B_IP, B_MAC), (C_IP, C_MAC)

    def add(desc, port, dst, vtep, l4="udp", flow=None, group=None, **kw):
        t = s.tag()
        fr = from_pod(port, dst, t, l4, **kw)
        s.send(port, fr, desc, Encap("uplink", forwarded(fr, GW_MAC, GW_MAC), vtep[0],
                                     vtep[1], flow), t, group=group)

    add("pod0 UDP to node B's pod", "pod0", B_POD, B)
    add("pod0 UDP to node C's pod", "pod0", C_POD, C)
    add("pod1 TCP SYN to node B's pod", "pod1", B_POD2, B, "tcp", tcp_flags="S")
    add("pod1 ICMP echo to node C's pod", "pod1", C_POD2, C, "icmp")
    add("pod0 with IPv4 options to node C", "pod0", C_POD, C,
        opts=[IPOption_Router_Alert()])
    add("pod1 DF + DSCP to node B", "pod1", B_POD, B, flags="DF", tos=0x28)
    add("pod0 TTL 2 to node B", "pod0", B_POD, B, ttl=2)
    add("pod1 1450-byte packet (largest that fits MTU 1500)", "pod1", C_POD, C, size=1450)
    for key, l4, lport, rport, icmp_id in SYM_FLOWS:
        kw = dict(icmp_id=icmp_id) if l4 == "icmp" else dict(sport=lport, dport=rport)
        if l4 == "tcp":
            kw["tcp_flags"] = "S"
        add("flow %s pod0 -> %s (forward direction)" % (key, B_POD), "pod0", B_POD, B, l4,
            flow="sym-" + key, **kw)
    n_spread = 160
    for i in range(n_spread):
        dst, vtep = (B_POD, B) if i % 2 == 0 else (C_POD, C)
        add("spread flow %d" % i, "pod0" if i % 4 < 3 else "pod1", dst, vtep,
            flow="spread-%d" % i, sport=20000 + i, dport=8080,
            group="%d flows from pod0/pod1 to nodes B and C, encapsulated" % n_spread)

    def spread(sc):
        ports = [sc.sports.get("spread-%d" % i) for i in range(n_spread)]
        seen = [p for p in ports if p is not None]
        errs = []
        if len(seen) != n_spread:
            errs.append("only %d of %d flows seen" % (len(seen), n_spread))
        distinct = len(set(seen))
        # A 14-bit hash over 64 flows: a spread worth the name keeps nearly
        # all apart; half is the floor.
        if distinct < n_spread // 2:
            errs.append("%d flows got only %d distinct outer source ports: %s"
                        % (len(seen), distinct, sorted(set(seen))))
        tap.case("encap: %d different flows spread over outer UDP source ports (%d distinct)"
                 % (n_spread, distinct), errs)
    s.check(extra=spread)

    # The reverse direction of each flow, encapsulated by node B.
    m = Scenario(tap, "encap-mirror", node_b())
    for key, l4, lport, rport, icmp_id in SYM_FLOWS:
        t = m.tag()
        if l4 == "icmp":
            kw = dict(icmp_type=0, icmp_id=icmp_id)
        else:
            kw = dict(sport=rport, dport=lport)
        if l4 == "tcp":
            kw["tcp_flags"] = "SA"
        fr = pkt(B_POD, POD0_IP, t, l4, smac=REMOTE_MAC, dmac=GW_MAC, **kw)
        m.send("pod0", fr, "flow %s %s -> pod0 (reverse direction, on node B)" % (key, B_POD),
               Encap("uplink", forwarded(fr, GW_MAC, GW_MAC), A_IP, A_MAC, "sym-" + key), t)
    m.check()
    for key, *_ in SYM_FLOWS:
        a, b = s.sports.get("sym-" + key), m.sports.get("sym-" + key)
        tap.case("encap: flow %s: both directions get the same outer UDP source port "
                 "(%s / %s)" % (key, a, b),
                 [] if a is not None and a == b else
                 ["node A sent %s -> %s from UDP port %s, node B sent the reply from %s"
                  % (POD0_IP, B_POD, a, b)])


# ---- 3. Geneve ---------------------------------------------------------------

def sc_geneve(tap):
    s = Scenario(tap, "geneve", node_a("geneve"))
    B, C = (B_IP, B_MAC), (C_IP, C_MAC)
    opt8 = geneve_opt(0x0102, 0x01, b"\xde\xad\xbe\xef")              # 8 bytes
    opt20 = opt8 + geneve_opt(0xffff, 0x7f, bytes(range(8)))           # 20 bytes

    def good(desc, dst, hdr, vtep=B):
        t = s.tag()
        inner = pkt(vtep[0].replace("192.168.100.", "10.244.") + ".9", dst, t)
        s.send("uplink", tunnel(inner, overlay="geneve", vtep=vtep, hdr=hdr), desc,
               delivered(inner, dst), t)

    def bad(desc, reason, hdr, inner=None, **kw):
        t = s.tag()
        if inner is None:
            inner = pkt("10.244.2.9", POD0_IP, t)
        s.send("uplink", tunnel(inner, overlay="geneve", hdr=hdr, **kw), desc, Drop(reason),
               t if t in inner else None)

    good("Geneve without options to pod0", POD0_IP, geneve_hdr(VNI))
    good("Geneve with 8 bytes of options (opt_len 2) to pod1", POD1_IP,
         geneve_hdr(VNI, opts=opt8))
    good("Geneve with 20 bytes of options (opt_len 5) to pod0", POD0_IP,
         geneve_hdr(VNI, opts=opt20), vtep=C)
    good("Geneve reserved fields non-zero (ignored, RFC 8926 3.4)", POD1_IP,
         geneve_hdr(VNI, opts=opt8, rsvd_bits=0x3f, rsvd2=0xa5))
    bad("Geneve C bit (critical option present)", "overlay-bad-hdr",
        geneve_hdr(VNI, opts=geneve_opt(0x0102, 0x81, b"\0\0\0\1"), c=1))
    bad("Geneve O bit (control message)", "overlay-bad-hdr", geneve_hdr(VNI, o=1))
    bad("Geneve version 1", "overlay-bad-hdr", geneve_hdr(VNI, ver=1))
    bad("Geneve protocol type IPv4 (only Ethernet 0x6558 is carried)", "overlay-bad-hdr",
        geneve_hdr(VNI, proto=0x0800))
    bad("Geneve option length beyond the packet", "overlay-bad-hdr",
        geneve_hdr(VNI, opt_len=63), inner=b"\0" * 40)
    bad("Geneve wrong VNI", "overlay-bad-vni", geneve_hdr(VNI ^ 1))
    t = s.tag()
    s.send("uplink", tunnel(pkt("10.244.2.9", POD0_IP, t), overlay="vxlan"),
           "VXLAN (UDP 4789) on a Geneve node", Drop("not-for-us"), t)
    t = s.tag()
    inner = mangle(pkt("10.244.2.9", POD1_IP, t), lambda b: put16(b, 24, int.from_bytes(b[24:26], "big") ^ 0xbad0),
                   csum=False)
    s.send("uplink", tunnel(inner, overlay="geneve", hdr=geneve_hdr(VNI, opts=opt8)),
           "Geneve with options, inner IPv4 checksum bad", Drop("ip-bad-csum"), t)

    for desc, port, dst, vtep, l4 in [
            ("pod0 UDP to node B over Geneve", "pod0", B_POD, B, "udp"),
            ("pod1 TCP to node C over Geneve", "pod1", C_POD, C, "tcp"),
            ("pod0 ICMP echo to node C over Geneve", "pod0", C_POD2, C, "icmp")]:
        t = s.tag()
        fr = from_pod(port, dst, t, l4)
        s.send(port, fr, desc, Encap("uplink", forwarded(fr, GW_MAC, GW_MAC), vtep[0],
                                     vtep[1]), t)
    s.check()


# ---- 4. local delivery and ARP ----------------------------------------------

def sc_local_arp(tap):
    s = Scenario(tap, "local-arp", node_a())

    def local(desc, port, dst, l4="udp", **kw):
        t = s.tag()
        fr = from_pod(port, dst, t, l4, **kw)
        s.send(port, fr, desc, delivered(fr, dst), t)

    local("pod0 UDP to pod1", "pod0", POD1_IP)
    local("pod1 TCP to pod0", "pod1", POD0_IP, "tcp", sport=8080, dport=33333)
    local("pod0 ICMP echo to pod1", "pod0", POD1_IP, "icmp")
    local("pod1 ICMP echo reply to pod0", "pod1", POD0_IP, "icmp", icmp_type=0)
    local("pod0 to pod1 with IPv4 options", "pod0", POD1_IP, opts=[IPOption_Router_Alert()])
    local("pod1 to pod0 TTL 2", "pod1", POD0_IP, ttl=2)
    local("pod0 to pod1 DF, 1450 bytes", "pod0", POD1_IP, flags="DF", size=1450)

    # ARP for the gateway on each pod port. RFC 826: the reply swaps sender
    # and target, sender = (our MAC, our IP), op 2, sent to the requester.
    def is_reply_to(ip):
        return lambda f: f[12:14] == b"\x08\x06" and f[38:42] == ip_b(ip)

    for port, ip, mac, pad in (("pod0", POD0_IP, POD0_MAC, 0), ("pod1", POD1_IP, POD1_MAC, 18)):
        req = arp_frame(1, mac, ip, "00:00:00:00:00:00", GW_IP, pad=pad)
        rep = arp_frame(2, GW_MAC, GW_IP, mac, ip, eth_dst=mac, eth_src=GW_MAC)
        s.send(port, req, "ARP who-has %s from %s%s" % (
            GW_IP, port, " (padded to 60 bytes)" if pad else ""),
            Deliver(port, rep, prefix_only=bool(pad)), is_reply_to(ip))
    # ARP for the VTEP on the uplink: answered with the uplink port's MAC,
    # which exists only once the port does (nsdpctl ports reports it).
    def vtep_reply(res):
        mac = res.port_macs.get("uplink", "00:00:00:00:00:00")
        return arp_frame(2, mac, A_IP, B_MAC, B_IP, eth_dst=B_MAC, eth_src=mac)
    s.send("uplink", arp_frame(1, B_MAC, B_IP, "00:00:00:00:00:00", A_IP),
           "ARP who-has %s (VTEP) on the uplink" % A_IP, Deliver("uplink", vtep_reply),
           is_reply_to(B_IP))

    # ARP that is not ours to answer.
    for desc, port, fr in [
            ("ARP who-has pod1's IP on pod0", "pod0",
             arp_frame(1, POD0_MAC, POD0_IP, "00:00:00:00:00:00", POD1_IP)),
            ("ARP who-has the VTEP on a pod port", "pod0",
             arp_frame(1, POD0_MAC, POD0_IP, "00:00:00:00:00:00", A_IP)),
            ("ARP who-has the gateway on the uplink", "uplink",
             arp_frame(1, B_MAC, B_IP, "00:00:00:00:00:00", GW_IP)),
            ("ARP reply (op 2) to the gateway", "pod1",
             arp_frame(2, POD1_MAC, POD1_IP, GW_MAC, GW_IP, eth_dst=GW_MAC)),
            ("ARP gratuitous announcement from pod0", "pod0",
             arp_frame(1, POD0_MAC, POD0_IP, "00:00:00:00:00:00", POD0_IP)),
            ("ARP with hardware type 6 (IEEE 802)", "pod0",
             arp_frame(1, POD0_MAC, POD0_IP, "00:00:00:00:00:00", GW_IP, htype=6)),
            ("ARP truncated (20 of 28 bytes)", "pod1",
             arp_frame(1, POD1_MAC, POD1_IP, "00:00:00:00:00:00", GW_IP)[:34])]:
        s.send(port, fr, desc, Drop("arp-invalid"))
    s.check()


# ---- 4b. the host port ---------------------------------------------------------

HOST_IP, HOST_MAC = "10.99.0.1", "02:00:0a:63:00:01"


def sc_host(tap):
    # The host port comes before the pod ports, so that with one worker its
    # ARP request (the first thing the node sends) is read before the pods'
    # packets towards the node.
    n = node_a()
    n.node["host_ip"] = HOST_IP
    n.ports = [("uplink", "uplink"), ("host", "host"), ("pod0", "pod"), ("pod1", "pod")]
    s = Scenario(tap, "host", n)

    req = arp_frame(1, HOST_MAC, HOST_IP, "00:00:00:00:00:00", GW_IP)
    rep = arp_frame(2, GW_MAC, GW_IP, HOST_MAC, HOST_IP, eth_dst=HOST_MAC, eth_src=GW_MAC)
    s.send("host", req, "ARP who-has %s from the node: answered" % GW_IP, Deliver("host", rep),
           lambda f: f[12:14] == b"\x08\x06" and f[38:42] == ip_b(HOST_IP))

    def send(port, src, dst, desc, expect, l4="udp", **kw):
        t = s.tag()
        fr = pkt(src, dst, t, l4, smac=HOST_MAC if port == "host" else PORT_MAC[port],
                 dmac=GW_MAC, **kw)
        s.send(port, fr, desc, expect(fr) if callable(expect) else expect,
               None if isinstance(expect, Drop) else t)

    send("host", HOST_IP, POD0_IP, "the node (host_ip) to pod0: delivered",
         lambda fr: delivered(fr, POD0_IP), "tcp", sport=40000, dport=8080, tcp_flags="S")
    send("host", "8.8.4.4", POD1_IP, "an outside address through the node to pod1: delivered",
         lambda fr: delivered(fr, POD1_IP))
    to_node = lambda fr: Deliver("host", forwarded(fr, HOST_MAC, GW_MAC))  # noqa: E731
    send("pod0", POD0_IP, HOST_IP, "pod0 to the node: to the learned MAC", to_node,
         "tcp", sport=8080, dport=40000, tcp_flags="SA")
    send("pod1", POD1_IP, "8.8.8.8", "pod1 to an address outside the pod CIDRs: to the node",
         to_node)
    send("host", HOST_IP, B_POD, "the node to a remote pod: not through the host port",
         Drop("no-endpoint"))
    send("host", "10.244.1.77", POD0_IP, "a pod CIDR address from the host port",
         Drop("src-spoof"))
    t = s.tag()
    inner = pkt(HOST_IP, POD0_IP, t)
    s.send("uplink", tunnel(inner), "the node's address as an inner source from the uplink",
           Drop("src-spoof"))
    s.check()


# ---- 5. malformed input ------------------------------------------------------

def sc_malformed(tap):
    s = Scenario(tap, "malformed", node_a(burst=256))
    B = (B_IP, B_MAC)

    def drop(port, desc, reason, fr, t=None):
        s.send(port, fr, desc, Drop(reason), t if t is not None and t in fr else None)

    def base(t, port="pod0", dst=POD1_IP, l4="udp", **kw):
        return from_pod(port, dst, t, l4, **kw)

    # --- Ethernet
    t = s.tag()
    fr = base(t)
    drop("pod0", "frame of 10 bytes", "l2-truncated", fr[:10])
    drop("pod0", "frame of 13 bytes", "l2-truncated", fr[:13])
    drop("pod1", "802.1Q tag cut short (16 bytes)", "l2-truncated",
         fr[:12] + b"\x81\x00\x00\x64")
    t = s.tag()
    drop("pod0", "EtherType LLDP 0x88cc", "l2-ethertype",
         mangle(base(t), lambda b: put16(b, 12, 0x88cc), csum=False), t)
    t = s.tag()
    drop("pod1", "EtherType MPLS 0x8847", "l2-ethertype",
         mangle(base(t, "pod1", POD0_IP), lambda b: put16(b, 12, 0x8847), csum=False), t)

    # --- IPv4 header
    t = s.tag()
    drop("pod0", "IPv4 header cut at 19 bytes", "ip-truncated", base(t)[:14 + 19])
    t = s.tag()

    def ihl15(b):
        b[14] = 0x4f
    drop("pod0", "IHL 15 (60 bytes) in a 52-byte IPv4 packet", "ip-truncated",
         mangle(base(t)[:14 + 52], lambda b: (ihl15(b), put16(b, 16, 52)), csum=False))
    t = s.tag()
    drop("pod1", "IP version 5 under EtherType IPv4", "ip-version",
         mangle(base(t, "pod1", POD0_IP), lambda b: b.__setitem__(14, 0x55)), t)
    t = s.tag()
    drop("pod0", "IHL 4", "ip-bad-ihl",
         mangle(base(t), lambda b: b.__setitem__(14, 0x44), csum=False), t)
    t = s.tag()
    drop("pod0", "IHL 0", "ip-bad-ihl",
         mangle(base(t), lambda b: b.__setitem__(14, 0x40), csum=False), t)
    t = s.tag()
    fr = base(t)
    drop("pod0", "total length 10 bytes beyond the frame", "ip-bad-len",
         mangle(fr, lambda b: put16(b, 16, len(fr) - 14 + 10)), t)
    t = s.tag()
    drop("pod1", "total length 19 (< header)", "ip-bad-len",
         mangle(base(t, "pod1", POD0_IP), lambda b: put16(b, 16, 19)), t)
    t = s.tag()
    drop("pod0", "IPv4 header checksum wrong", "ip-bad-csum",
         mangle(base(t), lambda b: b.__setitem__(25, b[25] ^ 0xff), csum=False), t)
    t = s.tag()
    drop("pod1", "IPv4 header checksum zero", "ip-bad-csum",
         mangle(base(t, "pod1", POD0_IP), lambda b: put16(b, 24, 0), csum=False), t)
    for desc, ff in (("fragment: MF, offset 0", 0x2000), ("fragment: last, offset 1480", 185),
                     ("fragment: MF, offset 800", 0x2000 | 100)):
        t = s.tag()
        drop("pod0", desc, "ip-fragment", mangle(base(t), lambda b: put16(b, 20, ff)), t)
    t = s.tag()
    drop("pod0", "TTL 1 to a local pod", "ip-ttl", base(t, ttl=1), t)
    t = s.tag()
    drop("pod1", "TTL 0 to a local pod", "ip-ttl", base(t, "pod1", POD0_IP, ttl=0), t)
    t = s.tag()
    drop("pod0", "TTL 1 to a remote pod", "ip-ttl", base(t, dst=B_POD, ttl=1), t)

    # --- L4
    def cut_l4(fr, n):
        """Keep n bytes of L4 and make IPv4 say so (valid checksum)."""
        b = bytearray(fr[:14 + 20 + n])
        put16(b, 16, 20 + n)
        return bytes(fix_ipv4_csum(b))
    t = s.tag()
    drop("pod0", "UDP header of 7 bytes", "l4-truncated", cut_l4(base(t), 7))
    t = s.tag()
    drop("pod0", "TCP header of 19 bytes", "l4-truncated", cut_l4(base(t, l4="tcp"), 19))
    t = s.tag()
    fr = cut_l4(base(t, "pod1", POD0_IP, "tcp"), 32)
    drop("pod1", "TCP data offset 15 (60 bytes) in a 32-byte segment", "l4-truncated",
         mangle(fr, lambda b: b.__setitem__(46, 0xf0), csum=False))
    t = s.tag()
    drop("pod0", "ICMP header of 4 bytes", "l4-truncated", cut_l4(base(t, l4="icmp"), 4))
    t = s.tag()
    sctp = bytes(Ether(src=POD0_MAC, dst=GW_MAC) / IP(src=POD0_IP, dst=POD1_IP) /
                 SCTP(sport=5000, dport=5001))
    drop("pod0", "SCTP common header of 8 bytes", "l4-truncated", cut_l4(sctp, 8))
    t = s.tag()
    fr = base(t)
    drop("pod0", "UDP length 4 beyond the IP payload", "l4-bad-len",
         mangle(fr, lambda b: put16(b, 38, len(fr) - 34 + 4), csum=False), t)
    t = s.tag()
    drop("pod1", "UDP length 7 (< 8)", "l4-bad-len",
         mangle(base(t, "pod1", POD0_IP), lambda b: put16(b, 38, 7), csum=False), t)

    # --- pod-side forwarding decisions
    t = s.tag()
    drop("pod0", "pod0 spoofs pod1's address", "src-spoof", base(t, src=POD1_IP, dst=B_POD), t)
    t = s.tag()
    drop("pod1", "pod1 spoofs pod0's address", "src-spoof",
         base(t, "pod1", POD0_IP, src=POD0_IP), t)
    t = s.tag()
    drop("pod0", "pod0 sends from an unknown local address", "src-spoof",
         base(t, src="10.244.1.99"), t)
    t = s.tag()
    drop("pod0", "pod0 sends from a remote pod's address", "src-spoof",
         base(t, src=B_POD, dst=POD1_IP), t)
    t = s.tag()
    drop("pod0", "to 8.8.8.8 (no route)", "no-route", base(t, dst="8.8.8.8"), t)
    t = s.tag()
    drop("pod1", "to 10.245.0.1 (no route)", "no-route", base(t, "pod1", "10.245.0.1"), t)
    t = s.tag()
    drop("pod0", "to 10.244.1.99 (local CIDR, no pod)", "no-endpoint",
         base(t, dst="10.244.1.99"), t)
    t = s.tag()
    drop("pod0", "pod0 to its own address", "hairpin", base(t, dst=POD0_IP), t)
    t = s.tag()
    v6 = bytes(Ether(src=POD0_MAC, dst=GW_MAC) / IPv6(src="fd00::a", dst="fd00::b") /
               UDP(sport=1, dport=2) / Raw(t))
    drop("pod0", "IPv6 from a pod", "ipv6-unsupported", v6, t)
    for size in (1460, 1451):
        t = s.tag()
        drop("pod0", "%d-byte packet to a remote pod (MTU 1500 - 50)" % size, "mtu-exceeded",
             base(t, dst=B_POD, size=size), t)
    t = s.tag()
    fr = base(t, dst=B_POD, size=1450)
    s.send("pod0", fr, "1450-byte packet to a remote pod (fits exactly)",
           Encap("uplink", forwarded(fr, GW_MAC, GW_MAC), B_IP, B_MAC), t)
    t = s.tag()
    fr = base(t, "pod1", POD0_IP, flags="DF")
    s.send("pod1", fr, "DF (not a fragment) to pod0", delivered(fr, POD0_IP), t)
    t = s.tag()
    fr = base(t, "pod0", POD1_IP)
    padded = fr + b"\0" * 20
    s.send("pod0", padded, "frame with Ethernet padding: forwarded without it",
           Deliver("pod1", forwarded(fr, POD1_MAC, GW_MAC)), t)

    # --- uplink: outer headers
    def inner(t, dst=POD0_IP, **kw):
        return pkt("10.244.2.9", dst, t, **kw)

    t = s.tag()
    drop("uplink", "VXLAN to another IP (192.168.100.9)", "not-for-us",
         tunnel(inner(t), dst_ip="192.168.100.9"), t)
    t = s.tag()
    drop("uplink", "UDP to the VTEP, port 4790", "not-for-us", tunnel(inner(t), dport=4790), t)
    t = s.tag()
    drop("uplink", "UDP to the VTEP, port 53", "not-for-us", tunnel(inner(t), dport=53), t)
    t = s.tag()
    drop("uplink", "TCP to the VTEP, port 4789", "not-for-us",
         pkt(B_IP, A_IP, t, "tcp", smac=B_MAC, dmac=UPLINK_DST, dport=4789), t)
    t = s.tag()
    drop("uplink", "ICMP echo to the VTEP", "not-for-us",
         pkt(B_IP, A_IP, t, "icmp", smac=B_MAC, dmac=UPLINK_DST), t)
    t = s.tag()
    drop("uplink", "plain (not encapsulated) IPv4 to pod0", "not-for-us",
         pkt("10.244.2.9", POD0_IP, t, smac=B_MAC, dmac=UPLINK_DST), t)
    t = s.tag()
    drop("uplink", "VXLAN from an unknown VTEP 192.168.100.77", "overlay-unknown-vtep",
         tunnel(inner(t), vtep=("192.168.100.77", "02:00:00:00:00:77")), t)
    t = s.tag()
    drop("uplink", "VXLAN without the I flag", "overlay-bad-hdr",
         tunnel(inner(t), hdr=vxlan_hdr(VNI, flags=0x00)), t)
    t = s.tag()
    drop("uplink", "VXLAN flags 0x80 (I flag clear)", "overlay-bad-hdr",
         tunnel(inner(t), hdr=vxlan_hdr(VNI, flags=0x80)), t)
    drop("uplink", "VXLAN header cut to 4 bytes", "overlay-bad-hdr",
         tunnel(b"", hdr=vxlan_hdr(VNI)[:4]))
    t = s.tag()
    drop("uplink", "VXLAN wrong VNI", "overlay-bad-vni", tunnel(inner(t), vni=VNI + 1), t)
    t = s.tag()
    drop("uplink", "VXLAN VNI 0", "overlay-bad-vni", tunnel(inner(t), vni=0), t)
    t = s.tag()
    drop("uplink", "outer IPv4 checksum wrong", "ip-bad-csum",
         mangle(tunnel(inner(t)), lambda b: b.__setitem__(24, b[24] ^ 0x10), csum=False), t)
    t = s.tag()
    drop("uplink", "outer IPv4 fragment (MF)", "ip-fragment",
         mangle(tunnel(inner(t)), lambda b: put16(b, 20, 0x2000)), t)
    t = s.tag()
    drop("uplink", "outer UDP length 4 beyond the IP payload", "l4-bad-len",
         tunnel(inner(t), udp_len_delta=4), t)
    t = s.tag()
    drop("uplink", "outer IPv4 total length beyond the frame", "ip-bad-len",
         tunnel(inner(t), ip_len_delta=8), t)
    t = s.tag()
    v6 = bytes(Ether(src=B_MAC, dst=UPLINK_DST) / IPv6(src="fd00::2", dst="fd00::1") /
               UDP(sport=50000, dport=VXLAN_PORT) / Raw(vxlan_hdr(VNI) + inner(t)))
    drop("uplink", "VXLAN over outer IPv6", "ipv6-unsupported", v6, t)

    # --- uplink: the inner frame after decapsulation
    t = s.tag()
    drop("uplink", "inner IPv4 checksum wrong", "ip-bad-csum",
         tunnel(mangle(inner(t), lambda b: put16(b, 24, b[24] << 8 ^ 0x5555), csum=False)), t)
    t = s.tag()
    drop("uplink", "inner TTL 1", "ip-ttl", tunnel(inner(t, ttl=1)), t)
    t = s.tag()
    drop("uplink", "inner TTL 0", "ip-ttl", tunnel(inner(t, POD1_IP, ttl=0)), t)
    t = s.tag()
    drop("uplink", "inner fragment", "ip-fragment",
         tunnel(mangle(inner(t), lambda b: put16(b, 20, 0x2000 | 3))), t)
    t = s.tag()
    fr = inner(t)
    drop("uplink", "inner UDP length beyond the IP payload", "l4-bad-len",
         tunnel(mangle(fr, lambda b: put16(b, 38, len(fr) - 34 + 2), csum=False)), t)
    t = s.tag()
    drop("uplink", "inner IPv4 header cut at 12 bytes", "ip-truncated",
         tunnel(inner(t)[:14 + 12]))
    t = s.tag()
    drop("uplink", "inner EtherType 0x88b5", "l2-ethertype",
         tunnel(mangle(inner(t), lambda b: put16(b, 12, 0x88b5), csum=False)), t)
    t = s.tag()
    v6 = bytes(Ether(src=REMOTE_MAC, dst=GW_MAC) / IPv6(src="fd00::2:9", dst="fd00::1:a") /
               UDP(sport=1, dport=2) / Raw(t))
    drop("uplink", "inner IPv6", "ipv6-unsupported", tunnel(v6), t)
    drop("uplink", "inner ARP request", "arp-invalid",
         tunnel(arp_frame(1, REMOTE_MAC, "10.244.2.9", "00:00:00:00:00:00", POD0_IP)))
    drop("uplink", "inner frame of 10 bytes (no Ethernet header)", "overlay-inner",
         tunnel(b"\x02" * 10))
    t = s.tag()
    drop("uplink", "inner source is a pod of this node (spoofed through the tunnel)",
         "src-spoof", tunnel(pkt(POD1_IP, POD0_IP, t)), t)
    t = s.tag()
    drop("uplink", "inner source in node C's pod CIDR sent by VTEP B", "src-spoof",
         tunnel(pkt(C_POD, POD0_IP, t)), t)
    t = s.tag()
    iv = inner(t)
    drop("uplink", "inner 802.1Q-tagged frame (discarded, RFC 7348 6.1)", "overlay-inner",
         tunnel(iv[:12] + bytes([0x81, 0x00, 0x00, 0x05]) + iv[12:]), t)
    t = s.tag()
    drop("uplink", "inner to 10.244.1.99 (no such local pod)", "no-endpoint",
         tunnel(inner(t, "10.244.1.99")), t)
    t = s.tag()
    drop("uplink", "inner to node B's pod (no transit)", "no-endpoint",
         tunnel(inner(t, B_POD)), t)
    t = s.tag()
    fr = inner(t, POD1_IP, flags="DF")
    s.send("uplink", tunnel(fr, vtep=B), "inner DF (not a fragment) to pod1",
           delivered(fr, POD1_IP), t)
    s.check()


# ---- 6. jumbo MTU --------------------------------------------------------------

def sc_jumbo(tap):
    """node.mtu 9000: the encapsulation limit moves with it (9000 - 50)."""
    s = Scenario(tap, "jumbo", node_a(mtu=9000))
    for size, fits in ((8950, True), (8951, False), (9000, False)):
        t = s.tag()
        fr = from_pod("pod0", B_POD, t, size=size)
        if fits:
            s.send("pod0", fr, "%d-byte packet to a remote pod (fits 9000 - 50)" % size,
                   Encap("uplink", forwarded(fr, GW_MAC, GW_MAC), B_IP, B_MAC), t)
        else:
            s.send("pod0", fr, "%d-byte packet to a remote pod" % size, Drop("mtu-exceeded"), t)
    t = s.tag()
    inner = pkt("10.244.2.9", POD1_IP, t, size=8950)
    s.send("uplink", tunnel(inner), "8950-byte packet from VTEP B to pod1",
           delivered(inner, POD1_IP), t)
    t = s.tag()
    fr = from_pod("pod1", POD0_IP, t, "tcp", size=8950)
    s.send("pod1", fr, "8950-byte packet pod1 -> pod0", delivered(fr, POD0_IP), t)
    s.check()


# ---- 7. policy --------------------------------------------------------------

POLICY_MANIFESTS = """
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a, labels: {ns: a}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: b, labels: {ns: b}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: c, labels: {ns: c}}}
- {apiVersion: v1, kind: Pod, metadata: {namespace: a, name: db, labels: {app: db}},
   status: {podIP: %(pod0)s}}
- {apiVersion: v1, kind: Pod, metadata: {namespace: a, name: web, labels: {app: web}},
   status: {podIP: %(pod1)s}}
- {apiVersion: v1, kind: Pod, metadata: {namespace: b, name: client, labels: {app: client}},
   status: {podIP: %(b_pod)s}}
- {apiVersion: v1, kind: Pod, metadata: {namespace: c, name: other, labels: {app: other}},
   status: {podIP: %(c_pod)s}}
# a/db: ingress only from namespace b on TCP 5432
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {namespace: a, name: db}
  spec:
    podSelector: {matchLabels: {app: db}}
    ingress: [{from: [{namespaceSelector: {matchLabels: {ns: b}}}], ports: [{port: 5432}]}]
# a/web: egress only to namespace b
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {namespace: a, name: web-egress}
  spec:
    podSelector: {matchLabels: {app: web}}
    policyTypes: [Egress]
    egress: [{to: [{namespaceSelector: {matchLabels: {ns: b}}}]}]
# the admin tier: nothing from c reaches a, whatever namespace policies say
- apiVersion: policy.networking.k8s.io/v1alpha1
  kind: AdminNetworkPolicy
  metadata: {name: deny-c-to-a}
  spec:
    priority: 5
    subject: {namespaces: {matchLabels: {ns: a}}}
    ingress: [{name: no-c, action: Deny, from: [{namespaces: {matchLabels: {ns: c}}}]}]
"""


def sc_policy(tap):
    import tempfile
    agent = os.environ.get("NSDP_AGENT_BIN")
    if not agent:
        tap.case("policy: NSDP_AGENT_BIN names nsdp-agent", ["NSDP_AGENT_BIN is not set"])
        return
    tmp = tempfile.mkdtemp(prefix="nsdp-golden-policy-")
    try:
        os.makedirs(os.path.join(tmp, "m"))
        with open(os.path.join(tmp, "m", "cluster.yaml"), "w") as f:
            f.write(POLICY_MANIFESTS % dict(pod0=POD0_IP, pod1=POD1_IP, b_pod=B_POD,
                                            c_pod=C_POD))
        pf = os.path.join(tmp, "policy.bin")
        r = subprocess.run([agent, "--manifests", os.path.join(tmp, "m"), "--compile-to", pf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            tap.case("policy: nsdp-agent --compile-to", ["exit %d: %s" % (r.returncode, r.stdout)])
            return
        dp = node_a(burst=32)
        dp.policy_file = pf
        s = Scenario(tap, "policy", dp)
        B, C = (B_IP, B_MAC), (C_IP, C_MAC)

        def from_remote(desc, vtep, src, dst, l4, expect_ok, group=None, **kw):
            t = s.tag()
            inner = pkt(src, dst, t, l4, **kw)
            s.send("uplink", tunnel(inner, vtep=vtep), desc,
                   delivered(inner, dst) if expect_ok else Drop("policy-deny"),
                   t if expect_ok else None, group=group)

        def from_local(desc, port, dst, vtep, l4, expect_ok, **kw):
            t = s.tag()
            fr = from_pod(port, dst, t, l4, **kw)
            s.send(port, fr, desc,
                   Encap("uplink", forwarded(fr, GW_MAC, GW_MAC), vtep[0], vtep[1], None)
                   if expect_ok else Drop("policy-deny"), t if expect_ok else None)

        # pod0 (a/db) opens a connection to b/client first: its reply must
        # pass although a/db admits nothing on port 40000 (stateful). The
        # reply is queued behind 70 other uplink packets so that the SYN,
        # first on pod0, is processed before it.
        from_local("a/db -> b/client TCP SYN :80 (no egress policy: allowed)", "pod0",
                   B_POD, B, "tcp", True, sport=40000, dport=80, tcp_flags="S")
        from_remote("b/client -> a/db TCP 5432: allowed by networkpolicy a/db ingress[0]", B,
                    B_POD, POD0_IP, "tcp", True, sport=50001, dport=5432, tcp_flags="S")
        from_remote("b/client -> a/db TCP 80: denied (a/db admits only 5432)", B, B_POD,
                    POD0_IP, "tcp", False, sport=50002, dport=80, tcp_flags="S")
        from_remote("b/client -> a/db UDP 5432: denied (TCP only)", B, B_POD, POD0_IP, "udp",
                    False, sport=50003, dport=5432)
        from_remote("c/other -> a/db TCP 5432: denied (ANP deny-c-to-a before the "
                    "namespace policy)", C, C_POD, POD0_IP, "tcp", False, sport=50004,
                    dport=5432, tcp_flags="S")
        from_remote("c/other -> a/web UDP: denied by the ANP (a/web has no ingress policy)",
                    C, C_POD, POD1_IP, "udp", False, sport=50005, dport=53)
        from_local("a/web -> b/client UDP: allowed by networkpolicy a/web-egress egress[0]",
                   "pod1", B_POD, B, "udp", True, sport=40001, dport=53)
        from_local("a/web -> c/other UDP: denied by a/web-egress (egress side)", "pod1",
                   C_POD, C, "udp", False, sport=40002, dport=53)
        from_local("a/web -> c/other TCP SYN: denied by a/web-egress (egress side)", "pod1",
                   C_POD, C, "tcp", False, sport=40003, dport=443, tcp_flags="S")
        for i in range(70):
            from_remote("filler", B, B_POD, POD1_IP, "udp", True,
                        group="70 x b/client -> a/web UDP (a/web: no ingress policy)",
                        sport=51000 + i, dport=9)
        from_remote("the reply b/client:80 -> a/db:40000 (SYN-ACK) of the connection a/db "
                    "opened: allowed by conntrack", B, B_POD, POD0_IP, "tcp", True, sport=80,
                    dport=40000, tcp_flags="SA")
        from_remote("a new connection b/client:80 -> a/db:40001: denied", B, B_POD, POD0_IP,
                    "tcp", False, sport=80, dport=40001, tcp_flags="S")
        s.check()
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


SCENARIOS = {
    "policy": sc_policy,
    "vxlan-decap": sc_vxlan_decap,
    "encap": sc_encap,
    "geneve": sc_geneve,
    "local-arp": sc_local_arp,
    "host": sc_host,
    "malformed": sc_malformed,
    "jumbo": sc_jumbo,
}


def main(argv):
    if "--list" in argv:
        print("\n".join(SCENARIOS))
        return 0
    names = argv or list(SCENARIOS)
    tap = Tap()
    for n in names:
        if n not in SCENARIOS:
            print("Bail out! unknown scenario %s (have: %s)" % (n, ", ".join(SCENARIOS)))
            return 2
    for var in ("NSDP_DATAPLANE", "NSDP_CTL"):
        p = os.environ.get(var)
        if not p or not os.access(p, os.X_OK):
            print("Bail out! %s must name the built binary (got %r)" % (var, p))
            return 2
    for n in names:
        try:
            SCENARIOS[n](tap)
        except Exception as e:  # a harness bug must fail loudly, not hide cases
            import traceback
            tap.case("%s: scenario ran to completion" % n, traceback.format_exc().splitlines())
            del e
    return tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
