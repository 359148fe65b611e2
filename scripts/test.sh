#!/usr/bin/env bash
# README command 2: install what is missing, build, run the whole test suite
# (unit, golden, e2e), and end with "N passed, N failed[, N skipped]"
# computed from the per-test-case results meson recorded.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}

bash scripts/deps.sh || { echo "deps failed"; echo "0 passed, 1 failed"; exit 1; }
bash scripts/hugepages.sh 512 || true
if ! BUILD="$B" bash scripts/build.sh; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

suites=(--suite unit --suite golden --suite e2e)
[ -n "${NSDP_SUITES:-}" ] && { suites=(); for s in $NSDP_SUITES; do suites+=(--suite "$s"); done; }
meson test -C "$B" "${suites[@]}" --num-processes 1 --print-errorlogs
rc=$?
python3 scripts/test_summary.py "$B/meson-logs/testlog.junit.xml" "$rc"
