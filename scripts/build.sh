#!/usr/bin/env bash
# Configure (once) and build nsdp into ${BUILD:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
[ -f "$B/build.ninja" ] || meson setup "$B" >/dev/null
ninja -C "$B" >/dev/null
echo "build: ok ($B)"
