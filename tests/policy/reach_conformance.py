#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The conformance suite through `nsdpctl policy reach` (TAP).

For every scenario under tests/policy/conformance/: the base model and the
scenario's policies go into one manifests directory, probes.txt is decided
by `nsdpctl policy reach` (the agent's compiler and the dataplane's own
lookups), and every answer is compared with the hand-written expected.txt.
Then bad objects and bad probes must exit 2 with a message naming the file,
the object and the field.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_probes import parse_expected  # noqa: E402

CTL = os.environ.get("NSDP_CTL", os.path.join(HERE, "..", "..", "build", "nsdpctl"))
CONF = os.path.join(HERE, "conformance")


def reach(mdir, probes):
    return subprocess.run([CTL, "policy", "reach", "--manifests", mdir, "--probes", probes],
                          capture_output=True, text=True, timeout=60)


def main():
    scenarios = sorted(d for d in os.listdir(CONF) if d[0].isdigit())
    bad_cases = [
        ("bad object", "bad.yaml",
         "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: x}\n"
         "spec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 70000}\n",
         "x/a x/b 80 TCP\n", ["bad.yaml", "NetworkPolicy x/np", "port"]),
        ("bad CIDR", "bad.yaml",
         "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: x}\n"
         "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/33}\n",
         "x/a x/b 80 TCP\n", ["bad.yaml", "NetworkPolicy x/np", "cidr"]),
        ("unknown pod in a probe", None, None, "x/a x/zz 80 TCP\n",
         ["probes.txt:1", "DST", "x/zz"]),
        ("bad protocol in a probe", None, None, "x/a x/b 80 ICMP\n",
         ["probes.txt:1", "PROTO", "ICMP"]),
        ("bad port in a probe", None, None, "# comment\nx/a x/b 0 TCP\n",
         ["probes.txt:2", "PORT"]),
    ]
    print("1..%d" % (len(scenarios) + len(bad_cases)))
    n = 0
    failed = 0
    tmp = tempfile.mkdtemp(prefix="nsdp-reach-")
    try:
        for sc in scenarios:
            n += 1
            sdir = os.path.join(CONF, sc)
            mdir = os.path.join(tmp, sc)
            os.mkdir(mdir)
            shutil.copy(os.path.join(CONF, "base", "model.yaml"), mdir)
            shutil.copy(os.path.join(sdir, "policies.yaml"), mdir)
            cells = parse_expected(os.path.join(sdir, "expected.txt"))
            r = reach(mdir, os.path.join(sdir, "probes.txt"))
            errs = []
            lines = r.stdout.splitlines()
            if r.returncode != 0:
                errs.append("exit %d: %s" % (r.returncode, r.stderr.strip()[:500]))
            elif len(lines) != len(cells):
                errs.append("%d answers for %d probes" % (len(lines), len(cells)))
            else:
                for (src, dst, port, proto, allow), line in zip(cells, lines):
                    w = line.split()
                    want = "allow" if allow else "deny"
                    if w[:4] != [src, dst, "%d/%s" % (port, proto), want]:
                        errs.append("%s -> %s %d/%s: got %r, want %s" %
                                    (src, dst, port, proto, line, want))
            if errs:
                failed += 1
                print("not ok %d - %s (%d probes)" % (n, sc, len(cells)))
                for e in errs[:20]:
                    print("#   " + e)
            else:
                print("ok %d - %s: %d probes as expected" % (n, sc, len(cells)))
        for desc, fname, text, probes, needles in bad_cases:
            n += 1
            mdir = os.path.join(tmp, "bad%d" % n)
            os.mkdir(mdir)
            shutil.copy(os.path.join(CONF, "base", "model.yaml"), mdir)
            if fname:
                with open(os.path.join(mdir, fname), "w") as f:
                    f.write(text)
            pf = os.path.join(mdir, "probes.txt")
            with open(pf, "w") as f:
                f.write(probes)
            r = reach(mdir, pf)
            missing = [x for x in needles if x not in r.stderr]
            if r.returncode == 2 and not missing and not r.stdout:
                print("ok %d - %s: exit 2, %s" % (n, desc, r.stderr.strip().splitlines()[0]))
            else:
                failed += 1
                print("not ok %d - %s: exit %d, stderr %r lacks %s" %
                      (n, desc, r.returncode, r.stderr.strip(), missing))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
