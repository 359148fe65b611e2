#!/usr/bin/env python3
"""Tiny TCP probe for the demo and tests.

  tcp_probe.py serve PORT          echo server (runs until killed)
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
    elif len(sys.argv) == 4 and sys.argv[1] == "connect":
        sys.exit(connect(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) == 5 and sys.argv[1] == "hold":
        sys.exit(hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
