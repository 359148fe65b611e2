# SPDX-License-Identifier: Apache-2.0
"""
Packet golden-test harness: pcap in -> nsdp-dataplane (net_pcap ports) ->
pcap out.

Everything the tests expect is computed here from the RFCs (791, 1071, 826,
768, 7348, 8926) and the rules in the design brief, never copied from the
dataplane: headers are encoded and decoded with `struct`, checksums are
recomputed from scratch. scapy only builds well-formed inner packets.

Pieces:
  * pcap_write / pcap_read: classic libpcap files, Ethernet link type.
  * checksum helpers and header encoders (outer IPv4/UDP, VXLAN, Geneve).
  * fields(): a frame decoded into named fields, used to explain mismatches.
  * Dataplane: writes a config, runs nsdp-dataplane with net_pcap ports,
    waits until every input packet is accounted for, reads counters through
    nsdpctl, stops it and returns the output pcaps. Always cleans up.
  * Scenario: inputs with their expected outcome (delivered byte-exact,
    encapsulated, dropped under a named reason), then TAP cases that check
    outputs, every drop counter, accounting and port statistics.
"""
import ipaddress
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import re
import tempfile
import time

GW_IP = "169.254.1.1"
GW_MAC = "ee:ee:ee:ee:ee:ee"
VXLAN_PORT = 4789
GENEVE_PORT = 6081
GENEVE_PROTO_ETH = 0x6558
OUTER_LEN = 14 + 20 + 8 + 8  # outer Ethernet + IPv4 + UDP + tunnel header

# The drop reasons, read from the contract (include/nsdp/drop.h) so the
# tests check every reason there is and cannot drift from the list.
def _drop_reasons():
    hdr = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "..", "..", "include", "nsdp", "drop.h")
    with open(hdr) as f:
        return re.findall(r'^\s*X\([A-Z0-9_]+,\s*"([a-z0-9-]+)"', f.read(), re.M)


DROP_REASONS = _drop_reasons()


# ---- addresses -------------------------------------------------------------

def mac_b(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def mac_s(b):
    return ":".join("%02x" % x for x in b)


def ip_b(ip):
    return ipaddress.IPv4Address(ip).packed


def ip_s(b):
    return str(ipaddress.IPv4Address(bytes(b)))


# ---- pcap ------------------------------------------------------------------

def pcap_write(path, frames):
    """Classic pcap, microsecond timestamps, link type 1 (Ethernet)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, i, len(fr), len(fr)))
            f.write(bytes(fr))


def pcap_read(path):
    """Frames of a pcap file (any byte order, us or ns timestamps).
    Returns (frames, problems); a frame captured short is a problem."""
    with open(path, "rb") as f:
        data = f.read()
    problems = []
    if len(data) < 24:
        return [], ["%s: %d bytes, no pcap header" % (path, len(data))]
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        e = "<"
    elif magic in (0xd4c3b2a1, 0x4d3cb2a1):
        e = ">"
    else:
        return [], ["%s: bad pcap magic %#x" % (path, magic)]
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        problems.append("%s: link type %d, want 1 (Ethernet)" % (path, linktype))
    off, frames = 24, []
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            problems.append("%s: last record cut short" % path)
            break
        if incl != orig:
            problems.append("%s: frame %d captured %d of %d bytes"
                            % (path, len(frames), incl, orig))
        frames.append(data[off:off + incl])
        off += incl
    if off != len(data):
        problems.append("%s: %d trailing bytes" % (path, len(data) - off))
    return frames, problems


# ---- checksums and header encoders ----------------------------------------

def csum16(data):
    """RFC 1071 Internet checksum (the value to put in the field)."""
    data = bytes(data)
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def ipv4_csum_ok(hdr):
    return csum16(hdr) == 0


def fix_ipv4_csum(frame, l3=14):
    """Recompute the IPv4 header checksum in place (bytearray)."""
    ihl = (frame[l3] & 0xf) * 4
    frame[l3 + 10:l3 + 12] = b"\0\0"
    frame[l3 + 10:l3 + 12] = struct.pack("!H", csum16(frame[l3:l3 + ihl]))
    return frame


def udp_csum(src, dst, udp):
    """UDP checksum over the IPv4 pseudo header (RFC 768); 0 -> 0xffff."""
    ph = ip_b(src) + ip_b(dst) + struct.pack("!BBH", 0, 17, len(udp))
    u = bytearray(udp)
    u[6:8] = b"\0\0"
    c = csum16(ph + bytes(u))
    return c or 0xffff


def vxlan_hdr(vni, flags=0x08, rsvd1=b"\0\0\0", rsvd2=0):
    """RFC 7348 5: flags(8) reserved(24) VNI(24) reserved(8)."""
    return bytes([flags]) + bytes(rsvd1) + struct.pack("!I", vni << 8 | rsvd2)


def geneve_opt(cls, typ, data):
    """RFC 8926 3.5: class(16) type(8) R(3) length(5, 4-byte words) data."""
    assert len(data) % 4 == 0 and len(data) <= 124
    return struct.pack("!HBB", cls, typ, len(data) // 4) + bytes(data)


def geneve_hdr(vni, opts=b"", ver=0, o=0, c=0, rsvd_bits=0, proto=GENEVE_PROTO_ETH,
               rsvd2=0, opt_len=None):
    """RFC 8926 3.4: Ver(2) OptLen(6) O C Rsvd(6) ProtocolType(16) VNI(24) Rsvd(8)."""
    if opt_len is None:
        assert len(opts) % 4 == 0
        opt_len = len(opts) // 4
    b0 = (ver & 3) << 6 | (opt_len & 0x3f)
    b1 = (o & 1) << 7 | (c & 1) << 6 | (rsvd_bits & 0x3f)
    return bytes([b0, b1]) + struct.pack("!HI", proto, vni << 8 | rsvd2) + bytes(opts)


def outer_frame(payload, *, src_mac, dst_mac, src_ip, dst_ip, sport, dport, ttl=64,
                ident=0, df=True, tos=0, udp_checksum=False, udp_csum_value=None,
                vlan=None, pad=b"", proto=17, ip_len_delta=0, udp_len_delta=0,
                frag=0):
    """Ethernet [+802.1Q] + IPv4 (no options) + UDP + payload (+ padding after
    the IP packet). udp_checksum=True computes a valid UDP checksum; else 0."""
    udp_len = 8 + len(payload) + udp_len_delta
    udp = bytearray(struct.pack("!HHHH", sport, dport, udp_len, 0) + bytes(payload))
    if udp_csum_value is not None:
        udp[6:8] = struct.pack("!H", udp_csum_value)
    elif udp_checksum:
        udp[6:8] = struct.pack("!H", udp_csum(src_ip, dst_ip, bytes(udp)))
    tot = 20 + len(udp) + ip_len_delta
    flags_frag = (0x4000 if df else 0) | frag
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, tot, ident, flags_frag, ttl,
                               proto, 0, ip_b(src_ip), ip_b(dst_ip)))
    ip[10:12] = struct.pack("!H", csum16(ip))
    eth = mac_b(dst_mac) + mac_b(src_mac)
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    eth += b"\x08\x00"
    return bytes(eth) + bytes(ip) + bytes(udp) + bytes(pad)


def forwarded(frame, dst_mac, src_mac):
    """What an IPv4 router makes of `frame` (untagged, IPv4): new MACs, TTL
    minus one, header checksum recomputed (RFC 791, RFC 1812 5.3.1)."""
    b = bytearray(frame)
    b[0:6] = mac_b(dst_mac)
    b[6:12] = mac_b(src_mac)
    assert b[12:14] == b"\x08\x00"
    b[14 + 8] -= 1
    return bytes(fix_ipv4_csum(b))


def arp_frame(op, sha, spa, tha, tpa, eth_dst="ff:ff:ff:ff:ff:ff", eth_src=None, pad=0,
              htype=1, ptype=0x0800, hlen=6, plen=4):
    """RFC 826 ARP over Ethernet."""
    eth = mac_b(eth_dst) + mac_b(eth_src or sha) + b"\x08\x06"
    arp = struct.pack("!HHBBH6s4s6s4s", htype, ptype, hlen, plen, op, mac_b(sha),
                      ip_b(spa), mac_b(tha), ip_b(tpa))
    return eth + arp + b"\0" * pad


# ---- decoding, to explain a mismatch field by field -----------------------

def _ipv4_fields(b, off, p, depth):
    out = []
    if len(b) < off + 20:
        return out + [(p + "l3-bytes", b[off:].hex())]
    v_ihl, tos, tot, ident, ff, ttl, proto, cs = struct.unpack("!BBHHHBBH", b[off:off + 12])
    ihl = (v_ihl & 0xf) * 4
    out += [(p + "ip.version", v_ihl >> 4), (p + "ip.ihl", v_ihl & 0xf),
            (p + "ip.tos", tos), (p + "ip.total_length", tot), (p + "ip.id", ident),
            (p + "ip.flags", ff >> 13), (p + "ip.frag_offset", ff & 0x1fff),
            (p + "ip.ttl", ttl), (p + "ip.proto", proto), (p + "ip.checksum", "%#06x" % cs),
            (p + "ip.src", ip_s(b[off + 12:off + 16])), (p + "ip.dst", ip_s(b[off + 16:off + 20]))]
    if ihl > 20:
        out.append((p + "ip.options", b[off + 20:off + ihl].hex()))
    l4 = off + max(ihl, 20)
    end = off + tot
    if proto == 17 and len(b) >= l4 + 8:
        sp, dp, ul, uc = struct.unpack("!HHHH", b[l4:l4 + 8])
        out += [(p + "udp.sport", sp), (p + "udp.dport", dp), (p + "udp.length", ul),
                (p + "udp.checksum", "%#06x" % uc)]
        t = l4 + 8
        if dp in (VXLAN_PORT, GENEVE_PORT) and depth == 0 and len(b) >= t + 8:
            if dp == VXLAN_PORT:
                out += [("vxlan.flags", "%#04x" % b[t]), ("vxlan.rsvd1", b[t + 1:t + 4].hex()),
                        ("vxlan.vni", int.from_bytes(b[t + 4:t + 7], "big")),
                        ("vxlan.rsvd2", b[t + 7])]
                inner = t + 8
            else:
                ol = (b[t] & 0x3f) * 4
                out += [("geneve.ver", b[t] >> 6), ("geneve.opt_len", b[t] & 0x3f),
                        ("geneve.O", b[t + 1] >> 7), ("geneve.C", (b[t + 1] >> 6) & 1),
                        ("geneve.rsvd1", b[t + 1] & 0x3f),
                        ("geneve.proto", "%#06x" % int.from_bytes(b[t + 2:t + 4], "big")),
                        ("geneve.vni", int.from_bytes(b[t + 4:t + 7], "big")),
                        ("geneve.rsvd2", b[t + 7]),
                        ("geneve.options", b[t + 8:t + 8 + ol].hex())]
                inner = t + 8 + ol
            out += [("inner." + k, v) for k, v in fields(b[inner:], depth + 1)]
            return out
        out.append((p + "payload", b[t:end].hex()))
    elif proto == 6 and len(b) >= l4 + 20:
        sp, dp, seq, ack, do, fl, win, cs2, urg = struct.unpack("!HHIIBBHHH", b[l4:l4 + 20])
        out += [(p + "tcp.sport", sp), (p + "tcp.dport", dp), (p + "tcp.seq", seq),
                (p + "tcp.ack", ack), (p + "tcp.doff", do >> 4), (p + "tcp.flags", "%#04x" % fl),
                (p + "tcp.window", win), (p + "tcp.checksum", "%#06x" % cs2),
                (p + "tcp.urg", urg), (p + "payload", b[l4 + (do >> 4) * 4:end].hex())]
    elif proto == 1 and len(b) >= l4 + 8:
        t, c, cs3, i, s = struct.unpack("!BBHHH", b[l4:l4 + 8])
        out += [(p + "icmp.type", t), (p + "icmp.code", c), (p + "icmp.checksum", "%#06x" % cs3),
                (p + "icmp.id", i), (p + "icmp.seq", s), (p + "payload", b[l4 + 8:end].hex())]
    else:
        out.append((p + "l4-bytes", b[l4:end].hex()))
    if len(b) > end:
        out.append((p + "trailer", b[end:].hex()))
    return out


def fields(b, depth=0):
    """A frame as [(field, value)], deep enough to name what differs."""
    b = bytes(b)
    if len(b) < 14:
        return [("frame", b.hex())]
    out = [("eth.dst", mac_s(b[0:6])), ("eth.src", mac_s(b[6:12]))]
    et, off = int.from_bytes(b[12:14], "big"), 14
    if et == 0x8100 and len(b) >= 18:
        out.append(("vlan.tci", int.from_bytes(b[14:16], "big")))
        et, off = int.from_bytes(b[16:18], "big"), 18
    out.append(("eth.type", "%#06x" % et))
    if et == 0x0800:
        out += _ipv4_fields(b, off, "", depth)
    elif et == 0x0806 and len(b) >= off + 28:
        ht, pt, hl, pl, op, sha, spa, tha, tpa = struct.unpack("!HHBBH6s4s6s4s",
                                                                b[off:off + 28])
        out += [("arp.htype", ht), ("arp.ptype", "%#06x" % pt), ("arp.hlen", hl),
                ("arp.plen", pl), ("arp.op", op), ("arp.sha", mac_s(sha)),
                ("arp.spa", ip_s(spa)), ("arp.tha", mac_s(tha)), ("arp.tpa", ip_s(tpa)),
                ("trailer", b[off + 28:].hex())]
    else:
        out.append(("l3-bytes", b[off:].hex()))
    out.append(("frame.length", len(b)))
    return out


def _short(v):
    v = str(v)
    return v if len(v) <= 80 else v[:36] + "..." + v[-36:] + " (%d chars)" % len(v)


def diff(got, want):
    """[] when equal, else one line per differing field."""
    got, want = bytes(got), bytes(want)
    if got == want:
        return []
    fg, fw = fields(got), fields(want)
    dg, dw = dict(fg), dict(fw)
    lines = []
    for k, _ in fw:
        if k not in dg:
            lines.append("%s: missing, want %s" % (k, _short(dw[k])))
        elif dg[k] != dw[k]:
            lines.append("%s: got %s, want %s" % (k, _short(dg[k]), _short(dw[k])))
    for k, _ in fg:
        if k not in dw:
            lines.append("%s: unexpected, got %s" % (k, _short(dg[k])))
    if not lines:
        n = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                 min(len(got), len(want)))
        lines.append("bytes differ from offset %d (got %d bytes, want %d)"
                     % (n, len(got), len(want)))
    return lines


# ---- TAP -------------------------------------------------------------------

class Tap:
    def __init__(self, out=sys.stdout):
        self.n = 0
        self.failed = 0
        self.out = out

    def case(self, desc, errors=(), skip=None):
        self.n += 1
        errors = list(errors)
        desc = desc.replace("#", "no.")
        if skip:
            self.out.write("ok %d - %s # SKIP %s\n" % (self.n, desc, skip))
        elif errors:
            self.failed += 1
            self.out.write("not ok %d - %s\n" % (self.n, desc))
            for e in errors[:60]:
                self.out.write("#   %s\n" % e)
            if len(errors) > 60:
                self.out.write("#   ... %d more\n" % (len(errors) - 60))
        else:
            self.out.write("ok %d - %s\n" % (self.n, desc))
        self.out.flush()
        return not errors

    def note(self, msg):
        for line in str(msg).splitlines():
            self.out.write("# %s\n" % line)
        self.out.flush()

    def done(self):
        self.out.write("1..%d\n" % self.n)
        self.out.flush()
        return 1 if self.failed else 0


# ---- running the dataplane -------------------------------------------------

def _q(s):
    assert '"' not in s and "\\" not in s
    return '"%s"' % s


class RunResult:
    def __init__(self):
        self.outputs = {}      # port -> [frames]
        self.drops = {}        # reason -> count (summed over lcores)
        self.port_stats = {}   # port -> {rx_pkts, rx_bytes, tx_pkts, tx_bytes}
        self.port_macs = {}    # port -> mac string
        self.errors = []       # problems running it (not packet expectations)
        self.notes = []
        self.exit_code = None
        self.log = ""


def telemetry(prefix, cmd):
    """Ask a DPDK process's telemetry socket (v2 protocol) one command.
    Returns (data, None) or (None, error)."""
    import socket
    path = "/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(path)
            json.loads(s.recv(16384).decode())  # greeting
            s.send(cmd.encode())
            reply = json.loads(s.recv(1 << 20).decode())
        return reply.get(cmd), None
    except (OSError, ValueError) as e:
        return None, "%s: %s" % (path, e)


class Dataplane:
    """One nsdp-dataplane process with net_pcap ports.

    node: dict with vtep, overlay, vni and optional mtu/name/gateway.
    ports: [(name, role)]; endpoints: [(ip, port, mac)]; vteps: [(ip, mac)];
    routes: [(prefix, vtep_ip or None for local)]; burst: RX burst size.
    """
    _seq = 0

    def __init__(self, node, ports, endpoints=(), vteps=(), routes=(), burst=None,
                 policy_file=None):
        self.policy_file = policy_file
        self.dp_exe = os.environ.get("NSDP_DATAPLANE")
        self.ctl_exe = os.environ.get("NSDP_CTL")
        self.node = node
        self.ports = list(ports)
        self.endpoints = list(endpoints)
        self.vteps = list(vteps)
        self.routes = list(routes)
        self.burst = burst

    def config(self, tmp, prefix, sock):
        n = self.node
        node = ['name = %s;' % _q(n.get("name", "golden")), 'vtep = %s;' % _q(n["vtep"]),
                'overlay = %s;' % _q(n.get("overlay", "vxlan")), 'vni = %d;' % n["vni"]]
        for k in ("mtu", "udp_port"):
            if k in n:
                node.append("%s = %d;" % (k, n[k]))
        for k in ("gateway", "gateway_mac", "host_ip"):
            if k in n:
                node.append("%s = %s;" % (k, _q(n[k])))
        lines = ["# generated by tests/golden", "node = { %s };" % " ".join(node),
                 'eal = ["--no-pci", "--no-huge", "-m", "256", "--file-prefix=%s", '
                 '"--log-level=*:warning"];' % prefix,
                 "workers = [1];", "main_lcore = 0;"] + (
                     ["burst = %d;" % self.burst] if self.burst else []) + [

                 "control_socket = %s;" % _q(sock)] + (
                     ["policy_file = %s;" % _q(self.policy_file)] if self.policy_file else []) + [
                 "ports = ("]
        pl = []
        for i, (name, role) in enumerate(self.ports):
            dev = "net_pcap%d,rx_pcap=%s,tx_pcap=%s" % (
                i, os.path.join(tmp, name + "_in.pcap"), os.path.join(tmp, name + "_out.pcap"))
            assert "," not in tmp
            pl.append("  { name = %s; devargs = %s; role = %s; }" % (_q(name), _q(dev), _q(role)))
        lines += [",\n".join(pl), ");"]
        if self.endpoints:
            lines.append("endpoints = (")
            lines.append(",\n".join(
                "  { ip = %s; port = %s; mac = %s; identity = %d; }" % (_q(ip), _q(p), _q(m),
                                                                       100 + i)
                for i, (ip, p, m) in enumerate(self.endpoints)))
            lines.append(");")
        if self.vteps:
            lines.append("vteps = (")
            lines.append(",\n".join("  { ip = %s; mac = %s; }" % (_q(ip), _q(m))
                                    for ip, m in self.vteps))
            lines.append(");")
        if self.routes:
            lines.append("routes = (")
            lines.append(",\n".join(
                ("  { prefix = %s; local = true; }" % _q(p)) if v is None else
                ("  { prefix = %s; vtep = %s; }" % (_q(p), _q(v))) for p, v in self.routes))
            lines.append(");")
        return "\n".join(lines) + "\n"

    def _ctl(self, sock, *args, timeout=10):
        try:
            r = subprocess.run([self.ctl_exe, "-s", sock, "--json"] + list(args),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "nsdpctl %s: timed out" % " ".join(args)
        if r.returncode != 0:
            return None, "nsdpctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                      r.stderr.decode(errors="replace").strip())
        text = r.stdout.decode(errors="replace").strip()
        try:
            return json.loads(text), None
        except ValueError:
            pass
        # Tolerated, and reported: a stray separator before the document.
        try:
            doc = json.loads(text.lstrip(",").strip())
            self._json_quirk = ("nsdpctl --json %s printed invalid JSON (leading %r); "
                                "parsed after stripping it" % (args[0], text[:1]))
            return doc, None
        except ValueError as e:
            return None, "nsdpctl %s: not JSON (%s): %s" % (" ".join(args), e, text[:200])

    @staticmethod
    def _sum_stats(st):
        ports = {}
        for lc in st.get("lcores", []):
            for name, c in lc.get("ports", {}).items():
                p = ports.setdefault(name, dict(rx_pkts=0, rx_bytes=0, tx_pkts=0, tx_bytes=0))
                for k in p:
                    p[k] += int(c.get(k, 0))
        return ports

    def run(self, inputs, settle_timeout=30.0):
        """inputs: {port: [frame bytes]}. Returns a RunResult."""
        res = RunResult()
        self._json_quirk = None
        if not self.dp_exe or not self.ctl_exe:
            res.errors.append("NSDP_DATAPLANE and NSDP_CTL must name the built binaries")
            return res
        Dataplane._seq += 1
        prefix = "golden-%d-%d" % (os.getpid(), Dataplane._seq)
        tmp = tempfile.mkdtemp(prefix="nsdp-golden-", dir="/tmp")
        sock = os.path.join(tmp, "ctl.sock")
        proc = None
        logf = None
        n_in = sum(len(v) for v in inputs.values())
        try:
            for name, _ in self.ports:
                pcap_write(os.path.join(tmp, name + "_in.pcap"), inputs.get(name, []))
            cfg = os.path.join(tmp, "dataplane.conf")
            with open(cfg, "w") as f:
                f.write(self.config(tmp, prefix, sock))
            logf = open(os.path.join(tmp, "dataplane.log"), "wb")
            proc = subprocess.Popen([self.dp_exe, "-c", cfg], stdout=logf,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            # 1. the control socket answers
            deadline = time.monotonic() + 60
            info = None
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if os.path.exists(sock):
                    info, err = self._ctl(sock, "info", timeout=5)
                    if info is not None:
                        break
                time.sleep(0.1)
            if info is None:
                res.errors.append("dataplane did not come up (exit %s)" % proc.poll())
                return res
            ports, err = self._ctl(sock, "ports")
            if err:
                res.errors.append(err)
            else:
                res.port_macs = {p["name"]: p["mac"].lower() for p in ports.get("ports", [])}
            # 2. every input received, counters settled
            deadline = time.monotonic() + settle_timeout
            last, stable_since, st = None, None, None
            while True:
                raw, err = self._ctl(sock, "stats")
                dr, err2 = self._ctl(sock, "drops")
                if err or err2:
                    res.errors.append(err or err2)
                    break
                st = self._sum_stats(raw)
                drops = {k: int(v) for k, v in dr.get("drops", {}).items()}
                rx = sum(p["rx_pkts"] for p in st.values())
                tx = sum(p["tx_pkts"] for p in st.values())
                snap = (json.dumps(st, sort_keys=True), json.dumps(drops, sort_keys=True))
                now = time.monotonic()
                if snap != last:
                    last, stable_since = snap, now
                done = rx >= n_in and tx + sum(drops.values()) >= rx
                if done and now - stable_since >= 0.3:
                    break
                if rx >= n_in and now - stable_since >= 2.0:
                    break  # settled, though not all accounted: the checks say so
                if now > deadline:
                    res.errors.append("counters did not settle in %.0fs: rx %d of %d inputs"
                                      % (settle_timeout, rx, n_in))
                    break
                time.sleep(0.1)
            if st is not None:
                res.port_stats = st
                res.drops = drops
                res.telemetry_drops, res.telemetry_err = telemetry(prefix, "/nsdp/drops")
            # 3. stop: net_pcap completes its tx files on close
            proc.send_signal(signal.SIGTERM)
            try:
                res.exit_code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                res.errors.append("dataplane did not exit within 30s of SIGTERM")
                proc.kill()
                proc.wait()
            if res.exit_code not in (0, None):
                res.errors.append("dataplane exited with status %s" % res.exit_code)
            for name, _ in self.ports:
                path = os.path.join(tmp, name + "_out.pcap")
                if not os.path.exists(path):
                    res.errors.append("%s: no tx pcap written" % name)
                    res.outputs[name] = []
                    continue
                frames, problems = pcap_read(path)
                res.outputs[name] = frames
                res.errors += problems
            if self._json_quirk:
                res.notes.append(self._json_quirk)
            return res
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            if logf:
                logf.close()
                try:
                    with open(os.path.join(tmp, "dataplane.log"), "rb") as f:
                        res.log = f.read().decode(errors="replace")
                except OSError:
                    pass
            if res.errors and res.log:
                res.notes.append("dataplane log:\n" + res.log[-3000:])
            shutil.rmtree(tmp, ignore_errors=True)
            for base in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), "dpdk"),
                         "/tmp/dpdk"):
                shutil.rmtree(os.path.join(base, prefix), ignore_errors=True)


# ---- scenarios -------------------------------------------------------------

class Deliver:
    """Expect exactly one output frame on `port` equal to `frame`, or, with
    prefix_only, whose first len(frame) bytes equal it. `frame` may be a
    function of the RunResult (for what is known only once ports exist, such
    as a port's MAC)."""
    def __init__(self, port, frame, prefix_only=False):
        self.port, self.prefix_only = port, prefix_only
        self.frame = frame if callable(frame) else bytes(frame)


class Encap:
    """Expect exactly one frame on the uplink: `inner` encapsulated towards
    (vtep_ip, vtep_mac). The UDP source port and IPv4 id are read from the
    output (range-checked), everything else must be exactly as computed."""
    def __init__(self, port, inner, vtep_ip, vtep_mac, flow=None):
        self.port, self.inner = port, bytes(inner)
        self.vtep_ip, self.vtep_mac, self.flow = vtep_ip, vtep_mac, flow


class Drop:
    def __init__(self, reason):
        assert reason in DROP_REASONS, reason
        self.reason = reason


class Scenario:
    def __init__(self, tap, name, dp):
        self.tap, self.name, self.dp = tap, name, dp
        self.inputs = []   # (port, frame, tag, desc, expectation)
        self._tag = 0
        self.sports = {}   # flow key -> outer UDP source port seen
        self.groups = {}   # input index -> group name
        self.res = None

    def tag(self):
        self._tag += 1
        return b"<golden:%s:%04d>" % (self.name.encode(), self._tag)

    def send(self, port, frame, desc, expect, tag=None, group=None):
        """`tag`: bytes unique to this input that any output it causes carries,
        or a predicate over output frames (for frames that cannot carry one,
        such as ARP), or None (drop expected and nothing to look for)."""
        if isinstance(tag, bytes):
            assert bytes(frame).count(tag) == 1, desc
        """`group`: report this input in one TAP case with the others of the
        same group (named by `group`) instead of a case of its own."""
        assert tag is not None or isinstance(expect, Drop), desc
        self.inputs.append((port, bytes(frame), tag, desc, expect))
        if group is not None:
            self.groups[len(self.inputs) - 1] = group

    # --- check helpers
    def _find(self, tag):
        match = tag if callable(tag) else (lambda f: tag in f)
        hits = []
        for port, frames in self.res.outputs.items():
            for i, f in enumerate(frames):
                if match(f):
                    hits.append((port, i, f))
        return hits

    def _check_encap(self, e, got, uplink_mac):
        n = self.dp.node
        overlay = n.get("overlay", "vxlan")
        errs = []
        if len(got) < OUTER_LEN + 14:
            return ["encapsulated frame of %d bytes is too short" % len(got)]
        sport = int.from_bytes(got[34:36], "big")
        ident = int.from_bytes(got[18:20], "big")
        if not 49152 <= sport <= 65535:
            errs.append("outer udp.sport %d outside the dynamic range 49152..65535 "
                        "(RFC 7348 5 / RFC 8926 3.3)" % sport)
        if overlay == "vxlan":
            hdr = vxlan_hdr(n["vni"])
            dport = n.get("udp_port", VXLAN_PORT)
        else:
            hdr = geneve_hdr(n["vni"])
            dport = n.get("udp_port", GENEVE_PORT)
        want = outer_frame(hdr + e.inner, src_mac=uplink_mac, dst_mac=e.vtep_mac,
                           src_ip=n["vtep"], dst_ip=e.vtep_ip, sport=sport, dport=dport,
                           ttl=64, ident=ident, df=True, udp_checksum=False)
        errs += diff(got, want)
        if not ipv4_csum_ok(got[14:34]):
            errs.append("outer IPv4 header checksum does not verify")
        if e.flow is not None:
            self.sports[e.flow] = sport
        return errs

    def check(self, extra=None):
        """Run the dataplane and emit the TAP cases. `extra(scenario)` may add
        scenario-specific cases before the counters are checked."""
        tap = self.tap
        by_port = {}
        for port, frame, _, _, _ in self.inputs:
            by_port.setdefault(port, []).append(frame)
        self.res = res = self.dp.run(by_port)
        n_in = len(self.inputs)
        for note in res.notes:
            tap.note(note)
        up = [p for p, r in self.dp.ports if r == "uplink"]
        uplink_mac = res.port_macs.get(up[0]) if up else None
        run_errs = list(res.errors)
        if up and not uplink_mac:
            run_errs.append("no MAC reported for port %s (nsdpctl ports)" % up[0])
        tap.case("%s: dataplane ran %d input packets and exited cleanly" % (self.name, n_in),
                 run_errs)
        if res.exit_code is None and not res.outputs:
            tap.case("%s: remaining checks" % self.name, ["dataplane did not run"])
            return

        matched = set()  # (port, index) of output frames explained
        exp_drops = {}
        grouped = {}     # group -> [errors], in order of first appearance
        for k, (port, frame, tag, desc, ex) in enumerate(self.inputs):
            case = tap.case
            if k in self.groups:
                errs_of = grouped.setdefault(self.groups[k], [])

                def case(d, e, errs_of=errs_of):
                    errs_of.extend("%s: %s" % (d.split(": ", 1)[-1], x) for x in e)
            if isinstance(ex, Drop):
                exp_drops[ex.reason] = exp_drops.get(ex.reason, 0) + 1
                if tag is not None:
                    hits = self._find(tag)
                    for p, i, _ in hits:
                        matched.add((p, i))
                    case("%s: %s: dropped (%s), not forwarded" % (self.name, desc, ex.reason),
                             ["forwarded anyway on %s (output frame %d)" % (p, i)
                              for p, i, _ in hits])
                continue
            hits = self._find(tag)
            errs = []
            want_port = ex.port
            if len(hits) != 1 or hits[0][0] != want_port:
                errs.append("want exactly 1 frame on %s, found %d: %s" % (
                    want_port, len(hits),
                    ", ".join("%s[%d]" % (p, i) for p, i, _ in hits) or "none"))
            for p, i, _ in hits:
                matched.add((p, i))
            mine = [f for p, i, f in hits if p == want_port]
            if mine:
                got = mine[0]
                if isinstance(ex, Deliver):
                    want = ex.frame(res) if callable(ex.frame) else ex.frame
                    g = got[:len(want)] if ex.prefix_only else got
                    errs += diff(g, want)
                    if got[12:14] == b"\x08\x00" and len(got) >= 34:
                        ihl = (got[14] & 0xf) * 4
                        if not ipv4_csum_ok(got[14:14 + ihl]):
                            errs.append("IPv4 header checksum of the output does not verify")
                elif isinstance(ex, Encap):
                    if uplink_mac is None:
                        errs.append("uplink MAC unknown")
                    else:
                        errs += self._check_encap(ex, got, uplink_mac)
            what = "delivered to %s" % want_port if isinstance(ex, Deliver) else \
                "encapsulated to VTEP %s" % ex.vtep_ip
            case("%s: %s: %s, every field as expected" % (self.name, desc, what), errs)
        for g, errs in grouped.items():
            n = sum(1 for v in self.groups.values() if v == g)
            tap.case("%s: %s (%d packets), every field as expected" % (self.name, g, n), errs)

        # Nothing else came out.
        stray = []
        for port, frames in res.outputs.items():
            for i, f in enumerate(frames):
                if (port, i) not in matched:
                    stray.append("%s[%d]: %s" % (port, i, "; ".join(
                        "%s=%s" % (k, _short(v)) for k, v in fields(f)[:14])))
        tap.case("%s: no unexpected output frames" % self.name, stray)

        if extra:
            extra(self)

        # Every drop counter: the expected ones exact, all others zero.
        got_drops = res.drops
        missing = [r for r in DROP_REASONS if r not in got_drops]
        for r in sorted(exp_drops):
            tap.case("%s: drop counter %s == %d" % (self.name, r, exp_drops[r]),
                     [] if got_drops.get(r) == exp_drops[r] else
                     ["%s is %s, want %d" % (r, got_drops.get(r), exp_drops[r])])
        others = ["%s is %d, want 0" % (r, v) for r, v in sorted(got_drops.items())
                  if r not in exp_drops and v != 0]
        if missing:
            others.append("nsdpctl drops lacks reasons: %s" % ", ".join(missing))
        tap.case("%s: every other drop counter is 0" % self.name, others)

        # DPDK telemetry reports the same counters (names use '_' for '-').
        tel = getattr(res, "telemetry_drops", None)
        if tel is None:
            tel_errs = ["/nsdp/drops: %s" % getattr(res, "telemetry_err", "no answer")]
        else:
            tel = {k.replace("_", "-"): v for k, v in tel.items()}
            tel_errs = ["%s: telemetry %s, nsdpctl %s" % (r, tel.get(r), got_drops.get(r))
                        for r in DROP_REASONS if tel.get(r) != got_drops.get(r)]
        tap.case("%s: telemetry /nsdp/drops equals nsdpctl drops" % self.name, tel_errs)

        # Accounting and port statistics.
        n_out = sum(len(v) for v in res.outputs.values())
        n_drop = sum(got_drops.values())
        acc = []
        if n_drop + n_out != n_in:
            acc.append("drops %d + packets out %d = %d, packets in %d"
                       % (n_drop, n_out, n_drop + n_out, n_in))
        n_exp_out = sum(1 for x in self.inputs if not isinstance(x[4], Drop))
        if n_out != n_exp_out:
            acc.append("packets out %d, expected %d" % (n_out, n_exp_out))
        tap.case("%s: accounting: drops + packets out == packets in (%d)" % (self.name, n_in),
                 acc)
        st_errs = []
        for port, _ in self.dp.ports:
            s = res.port_stats.get(port)
            if s is None:
                st_errs.append("nsdpctl stats has no port %s" % port)
                continue
            ins = by_port.get(port, [])
            outs = res.outputs.get(port, [])
            want = dict(rx_pkts=len(ins), rx_bytes=sum(map(len, ins)),
                        tx_pkts=len(outs), tx_bytes=sum(map(len, outs)))
            for k, v in want.items():
                if s.get(k) != v:
                    st_errs.append("%s.%s is %s, want %d" % (port, k, s.get(k), v))
        tap.case("%s: port rx/tx packet and byte counters match the pcaps" % self.name,
                 st_errs)
