#!/usr/bin/env bash
# Sets up (with Debian's etcd-server, the peer the cluster and stream benchmarks compare against), builds the
# optimized benchmarks and runs them one after the other. Arguments name a subset: single cluster scene idle
# stream throughput e2e coldstart xshard shards.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/setup.sh etcd-server
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DGROVE_TESTS=OFF >/dev/null
cmake --build "$root/build" -j"$(nproc)"
benches=("$@")
((${#benches[@]})) || benches=(single cluster scene idle stream throughput e2e coldstart xshard shards)
for b in "${benches[@]}"; do
	echo "== grove_bench_$b"
	"$root/build/bench/grove_bench_$b"
done
