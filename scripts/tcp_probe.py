#!/usr/bin/env python3
"""Tiny TCP (and UDP) probe for the demo and tests.

  tcp_probe.py serve PORT          echo server (runs until killed)
  tcp_probe.py serve-all PORT...   TCP and UDP echo servers on every PORT
  tcp_probe.py probe SECS TARGET...
                                   TARGET is tcp:IP:PORT or udp:IP:PORT; all
                                   probed at once, each given SECS for a
                                   round trip (UDP: resent every 0.2 s);
                                   prints "TARGET allow" or "TARGET deny"
                                   per target, in order; exit 0
  tcp_probe.py connect IP PORT     exit 0 if a round trip works within 2 s
  tcp_probe.py hold IP PORT SECS   one connection, a round trip every 0.1 s;
                                   prints how many worked; exit 0 if all did
                                   for SECS seconds, 3 if the connection was
                                   cut (a round trip timed out after 1 s)
"""
import time
import socket
import sys
import threading


def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)

    def echo(c):
        with c:
            c.settimeout(5)
            try:
                while True:
                    d = c.recv(4096)
                    if not d:
                        return
                    c.sendall(d)
            except OSError:
                return

    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def serve_udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    while True:
        try:
            d, peer = s.recvfrom(2048)
            s.sendto(d, peer)
        except OSError:
            pass


def serve_all(ports):
    threads = []
    for p in ports:
        for fn in (serve, serve_udp):
            t = threading.Thread(target=fn, args=(p,), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join()


def probe_udp(ip, port, secs):
    """True if an echo of a unique datagram comes back within secs."""
    token = ("nsdp-probe-%d-%f" % (threading.get_ident(), time.monotonic())).encode()
    end = time.monotonic() + secs
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((ip, port))
        except OSError:
            return False
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                s.send(token)
            except OSError:
                pass
            s.settimeout(min(0.2, left))
            try:
                while True:
                    if s.recv(2048) == token:
                        return True
            except socket.timeout:
                continue
            except OSError:
                # ICMP unreachable (ECONNREFUSED): not reached; wait the
                # rest of the time out so a denied and a refused probe
                # look the same (both "deny").
                time.sleep(max(0.0, min(0.2, end - time.monotonic())))


def probe_tcp(ip, port, secs):
    end = time.monotonic() + secs
    try:
        with socket.create_connection((ip, port), timeout=secs) as c:
            c.settimeout(max(0.05, end - time.monotonic()))
            c.sendall(b"nsdp-probe")
            return c.recv(64) == b"nsdp-probe"
    except OSError:
        return False


def probe(secs, targets):
    res = [None] * len(targets)

    def one(i, t):
        proto, ip, port = t.split(":")
        fn = probe_tcp if proto == "tcp" else probe_udp
        res[i] = fn(ip, int(port), secs)

    threads = [threading.Thread(target=one, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t, ok in zip(targets, res):
        print("%s %s" % (t, "allow" if ok else "deny"))
    return 0


def connect(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=2) as c:
            c.settimeout(2)
            c.sendall(b"nsdp-probe")
            return 0 if c.recv(64) == b"nsdp-probe" else 1
    except OSError:
        return 1


def hold(ip, port, secs):
    try:
        c = socket.create_connection((ip, port), timeout=2)
    except OSError as e:
        print("hold: connect failed: %s" % e, flush=True)
        return 1
    c.settimeout(1)
    n = 0
    end = time.monotonic() + secs
    try:
        while time.monotonic() < end:
            c.sendall(b"x")
            if c.recv(64) != b"x":
                break
            n += 1
            time.sleep(0.1)
        else:
            print("hold: %d round trips, connection kept" % n, flush=True)
            return 0
    except OSError:
        pass
    finally:
        c.close()
    print("hold: connection cut after %d round trips" % n, flush=True)
    return 3


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "serve-all":
        serve_all([int(p) for p in sys.argv[2:]])
    elif len(sys.argv) >= 4 and sys.argv[1] == "probe" and all(
            t.split(":")[0] in ("tcp", "udp") and len(t.split(":")) == 3
            for t in sys.argv[3:]):
        sys.exit(probe(float(sys.argv[2]), sys.argv[3:]))
    elif len(sys.argv) == 4 and sys.argv[1] == "connect":
        sys.exit(connect(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) == 5 and sys.argv[1] == "hold":
        sys.exit(hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
