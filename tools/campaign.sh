#!/usr/bin/env bash
# Soak runs of the fault campaign, outside the default suite: RUNS runs of SECONDS each, seeds counting up
# from SEED (default: the time), stopping at the first run that fails; its history and data stay in
# campaign-SEED/ (failed runs only) and the output says how to replay it.
#
#   tools/campaign.sh [RUNS [SECONDS [SEED]]] [-- more grove_campaign options]
#
# Uses the binary of ./build (GROVE_BUILD_DIR overrides); build it with
# `cmake --build build --target grove_campaign`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${GROVE_BUILD_DIR:-$root/build}"
runs="${1:-10}"; seconds="${2:-60}"; seed="${3:-$(date +%s)}"
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
campaign="$build/tests/jepsen/grove_campaign"
[ -x "$campaign" ] || { echo "campaign.sh: no $campaign; build the grove_campaign target" >&2; exit 2; }
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
