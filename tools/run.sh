#!/usr/bin/env bash
# Sets up, builds and starts a durable grove node on 127.0.0.1:7400 with its data under ./data/.
# Stop it with Ctrl-C (SIGINT) or SIGTERM; the data stays and the next start continues from it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/setup.sh
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROVE_TESTS=OFF >/dev/null
cmake --build "$root/build" -j"$(nproc)"
listen="${GROVE_LISTEN:-127.0.0.1:7400}"
data="${GROVE_DATA:-$root/data/node1}"
mkdir -p "$data"
echo "grove: node starting on $listen, data in $data"
echo "grove: try  build/tools/grove --server $listen tree"
exec "$root/build/src/server/groved" --data "$data" --listen "$listen" "$@"
