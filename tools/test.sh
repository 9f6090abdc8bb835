#!/usr/bin/env bash
# Sets up, builds the sanitizer (ASan + UBSan) test build and runs the whole test suite with ctest.
# Extra arguments go to ctest (e.g. -R tree). Longer soak and fuzz runs: see README.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/setup.sh
build="${GROVE_TEST_BUILD:-$root/build-test}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROVE_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
exec ctest --output-on-failure -j"$(nproc)" "$@"
