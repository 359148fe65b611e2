#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write probes.txt next to every conformance expected.txt.

probes.txt is the input of `nsdpctl policy reach`: one probe per line,
"SRC DST PORT PROTO" (e.g. "x/a y/b 80 TCP"), one line per matrix cell of
expected.txt, in the same order (block by block, row by row, column by
column), so that the tool's answers line up with the expected cells.

Usage: gen_probes.py [--check] [CONFORMANCE_DIR]
  --check  do not write; exit 1 if any probes.txt is missing or stale.
"""
import os
import re
import sys

PORT_RE = re.compile(r'^(\d+)/(TCP|UDP|SCTP)$')


def parse_expected(path):
    """Return [(src, dst, port, proto, allow)] in file order."""
    cells = []
    cols = None
    port = proto = None
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            w = line.split()
            if not w or w[0].startswith('#'):
                continue
            m = PORT_RE.match(w[0]) if len(w) == 1 else None
            if m:
                port, proto, cols = int(m.group(1)), m.group(2), None
                continue
            if port is None:
                raise ValueError(f'{path}:{ln}: expected PORT/PROTO')
            if cols is None:
                if w[0] != '-' or len(w) < 2:
                    raise ValueError(f'{path}:{ln}: expected header "- COLUMNS..."')
                cols = w[1:]
                continue
            if len(w) != len(cols) + 1:
                raise ValueError(f'{path}:{ln}: row has {len(w) - 1} cells, header {len(cols)}')
            for dst, c in zip(cols, w[1:]):
                if c not in ('.', 'X'):
                    raise ValueError(f'{path}:{ln}: bad cell {c!r}')
                cells.append((w[0], dst, port, proto, c == '.'))
    return cells


def probes_text(cells):
    return ''.join(f'{s} {d} {po} {pr}\n' for s, d, po, pr, _ in cells)


def main(argv):
    check = '--check' in argv
    args = [a for a in argv if a != '--check']
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              'conformance')
    bad = 0
    n = 0
    for d in sorted(os.listdir(root)):
        exp = os.path.join(root, d, 'expected.txt')
        if not os.path.isfile(exp):
            continue
        n += 1
        text = probes_text(parse_expected(exp))
        out = os.path.join(root, d, 'probes.txt')
        old = open(out).read() if os.path.exists(out) else None
        if old == text:
            continue
        if check:
            print(f'stale: {out}', file=sys.stderr)
            bad += 1
        else:
            with open(out, 'w') as f:
                f.write(text)
    print(f'{n} scenarios, {bad} stale' if check else f'{n} scenarios')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
