#!/usr/bin/env python3
"""Count test cases from meson's JUnit log and print the CI summary line.

gtest and TAP tests contribute one case per test case / TAP line; other
tests one case each. If meson failed but no case failed (a crash before any
output, a timeout), that counts as one failure, so a broken run can never
print "0 failed".
"""
import sys
import xml.etree.ElementTree as ET


def main():
    path, meson_rc = sys.argv[1], int(sys.argv[2])
    passed = failed = skipped = 0
    failures = []
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"test summary: cannot read {path}: {e}")
        print("0 passed, 1 failed")
        return 1
    for suite in root.iter("testsuite"):
        for case in suite.findall("testcase"):
            name = f"{suite.get('name')}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failures.append(name)
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    if meson_rc != 0 and failed == 0:
        failed = 1
        failures.append(f"meson test exited {meson_rc}")
    for f in failures:
        print(f"FAILED: {f}")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
