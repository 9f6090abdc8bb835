#!/usr/bin/env bash
# Sets up (with Debian's etcd-server, the peer the cluster and stream benchmarks compare against), builds the
# optimized benchmarks and runs them one after the other. Arguments name a subset: single cluster scene idle
# stream throughput e2e coldstart xshard shards. The e2e run also writes its report and charts into
# bench/results/e2e/ (what the README shows).
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
	if [[ $b == e2e ]]; then
		# The README's end-to-end table and charts: bench/results/e2e/ is written again.
		"$root/build/bench/grove_bench_e2e" --net lan --report "$root/bench/results/e2e"
	else
		"$root/build/bench/grove_bench_$b"
	fi
done
