#!/usr/bin/env bash
# Sets up, builds and starts a local 3-node grove cluster on 127.0.0.1:7401-7403, data under ./data/.
# Ctrl-C (or `tools/cluster.sh stop` from another terminal) stops it cleanly; the data stays and the next
# start continues from it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/setup.sh
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROVE_TESTS=OFF >/dev/null
cmake --build "$root/build" -j"$(nproc)"
exec tools/cluster.sh start --foreground
