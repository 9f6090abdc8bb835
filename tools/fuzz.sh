#!/usr/bin/env bash
# Long fuzzing runs with libFuzzer (clang):
#   tools/fuzz.sh [--keep] [--runs N] [--max-len BYTES] [SECONDS_PER_TARGET] [TARGET...]
# Targets (default: all): variant_text variant_binary canonical tscn wal txn request raft gateway snapshot.
# Each target runs until N executions (default 10,000,000) or SECONDS (default 300), whichever comes first,
# starting from its seeds and the corpus kept in tests/fuzz/corpus/TARGET/. With --keep, what the run found
# is merged back into that corpus, minimized (libFuzzer -merge=1; files named regression-* always stay: the
# inputs of fixed findings). Prints each target's executions, exec/s, seconds and findings, then a summary
# line; exits non-zero on a finding. Crashes and their inputs land in build-fuzz/findings/TARGET/.
# --max-len caps the inputs (libFuzzer's -max_len; longer corpus files are read truncated): without it,
# libFuzzer takes the largest corpus file or 4096 bytes, whichever is larger.
set -euo pipefail
# Targets that read files (wal, snapshot) write each input to TMPDIR first; on a disk every input then
# costs an fsync of the log it opens. Memory is the place for them (16x the executions per second for wal).
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then
	export TMPDIR=/dev/shm
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
keep=0
runs=10000000
max_len=()
while (($#)); do
	case "$1" in
	--keep) keep=1; shift ;;
	--runs) runs="$2"; shift 2 ;;
	--max-len) max_len=(-max_len="$2"); shift 2 ;;
	*) break ;;
	esac
done
seconds="${1:-300}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
	targets=(variant_text variant_binary canonical tscn wal txn request raft gateway snapshot)
fi
command -v clang >/dev/null || tools/setup.sh
cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_C_COMPILER=clang -DGROVE_FUZZ=ON >/dev/null
cmake -S "$root" -B "$root/build-fuzz-seeds" >/dev/null
summary=()
total_runs=0
total_findings=0
for t in "${targets[@]}"; do
	cmake --build "$root/build-fuzz" --target "fuzz_$t" -j"$(nproc)" >/dev/null
	cmake --build "$root/build-fuzz-seeds" --target "fuzz_$t" -j"$(nproc)" >/dev/null
	work="$root/build-fuzz/corpus/$t"
	findings="$root/build-fuzz/findings/$t"
	kept="$root/tests/fuzz/corpus/$t"
	mkdir -p "$work" "$findings" "$kept"
	"$root/build-fuzz-seeds/tests/fuzz/fuzz_$t" --write-seeds "$work" >/dev/null
	log="$root/build-fuzz/fuzz_$t.log"
	echo "fuzz: $t for up to ${seconds}s or $runs executions"
	start=$(date +%s)
	touch "$findings/.start"
	status=0
	"$root/build-fuzz/tests/fuzz/fuzz_$t" "$work" "$kept" -runs="$runs" -max_total_time="$seconds" "${max_len[@]}" \
		-artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1 || status=$?
	elapsed=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	found=$(find "$findings" -type f -newer "$findings/.start" | wc -l)
	if ((status != 0)) && ((found == 0)); then
		found=1 # stopped without saving an input: see the log
	fi
	if ((status != 0)); then
		grep -E "ERROR|runtime error|fuzz property violated" "$log" | head -5 || true
	fi
	if ((keep)); then
		# A fresh minimal set: only the inputs of the kept corpus and of this run that reach new edges (hit counts
		# left out, which keeps the set to a few hundred files).
		merged="$root/build-fuzz/merged/$t"
		rm -rf "$merged"
		mkdir -p "$merged"
		"$root/build-fuzz/tests/fuzz/fuzz_$t" -merge=1 -use_counters=0 "$merged" "$kept" "$work" >>"$log" 2>&1
		# Inputs of fixed findings stay whether or not they add coverage.
		find "$kept" -maxdepth 1 -name 'regression-*' -exec cp {} "$merged/" \;
		rm -rf "$kept"
		mv "$merged" "$kept"
		echo "fuzz: $t corpus kept: $(find "$kept" -type f | wc -l) files, $(du -sk --apparent-size "$kept" | cut -f1) KiB"
	fi
	line="$t: ${execs:-0} executions, ${rate:-0} exec/s, ${elapsed} s, $found findings"
	echo "fuzz: $line (log: build-fuzz/fuzz_$t.log)"
	summary+=("$line")
	total_runs=$((total_runs + ${execs:-0}))
	total_findings=$((total_findings + found))
done
printf 'fuzz: %s\n' "${summary[@]}"
echo "fuzz: summary: ${#targets[@]} targets, $total_runs executions, $total_findings findings ($(date -u +%F))"
((total_findings == 0))
