#!/usr/bin/env bash
# Soak runs of the fault campaign, outside the default suite: RUNS runs of SECONDS each, seeds counting up
# from SEED (default: the time), stopping at the first run that fails; its history and data stay in
# campaign-SEED/ (failed runs only) and the output says how to replay it.
#
#   tools/campaign.sh [RUNS [SECONDS [SEED]]] [-- more grove_campaign options]
#
# Sets up and builds the sanitizer test build first (the one tools/test.sh uses; GROVE_TEST_BUILD
# overrides), so that a fresh clone needs nothing else.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${GROVE_TEST_BUILD:-$root/build-test}"
runs="${1:-10}"; seconds="${2:-60}"; seed="${3:-$(date +%s)}"
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
"$root/tools/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROVE_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target grove_campaign
campaign="$build/tests/jepsen/grove_campaign"
for ((i = 0; i < runs; i++)); do
	s=$((seed + i))
	dir="$(mktemp -d /tmp/grove-campaign-XXXXXX)"
	echo "== run $((i + 1))/$runs: seed $s, $seconds s"
	if "$campaign" --seed "$s" --seconds "$seconds" --data "$dir/data" --history "$dir/history.txt" "$@"; then
		rm -rf "$dir"
	else
		status=$?
		mkdir -p "campaign-$s" && mv "$dir"/* "campaign-$s"/ && rmdir "$dir"
		echo "campaign.sh: seed $s failed (status $status); history and data in campaign-$s/" >&2
		exit "$status"
	fi
done
echo "campaign.sh: $runs runs passed"
