#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Count the flow-log records (JSON lines, nsdp-agent --flow-log) that match.

usage: flowlog_check.py FILE [--count N | --at-least N] [--since EPOCH_S] KEY=VALUE...

KEY is a dotted path into the record (src.namespace, dst.port, audit);
VALUE is compared with the field as JSON (numbers, true/false) or as a
string. Every line must be a JSON object with the documented fields (a
malformed line fails the check). Exit 0 when the number of matching records
is N (--count, default 1) or at least N; prints the matching records or,
on failure, every record."""
import datetime
import json
import sys

REQUIRED = {"time", "node", "verdict", "audit", "direction", "reason", "protocol", "src",
            "dst", "policy", "policy_generation"}


def field(rec, path):
    for k in path.split("."):
        if not isinstance(rec, dict) or k not in rec:
            return None
        rec = rec[k]
    return rec


def matches(rec, want):
    for path, value in want:
        got = field(rec, path)
        try:
            if got != json.loads(value):
                return False
        except ValueError:
            if got != value:
                return False
    return True


def main(argv):
    path, count, at_least, since, want = argv[1], 1, False, 0.0, []
    args = iter(argv[2:])
    for a in args:
        if a in ("--count", "--at-least"):
            count, at_least = int(next(args)), a == "--at-least"
        elif a == "--since":
            since = float(next(args))
        else:
            k, _, v = a.partition("=")
            want.append((k, v))
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        print(f"{path}: {e}")
        return 1
    recs = []
    for i, line in enumerate(lines, 1):
        rec = json.loads(line)
        missing = REQUIRED - rec.keys()
        if missing:
            print(f"{path}:{i}: fields missing: {sorted(missing)}: {line}")
            return 1
        t = datetime.datetime.strptime(rec["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        if t.replace(tzinfo=datetime.timezone.utc).timestamp() >= since:
            recs.append(rec)
    found = [r for r in recs if matches(r, want)]
    ok = len(found) >= count if at_least else len(found) == count
    for r in found if ok else recs:
        print(json.dumps(r, sort_keys=True))
    if not ok:
        print(f"{len(found)} records match {want}, expected {'at least ' if at_least else ''}{count}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
