#!/usr/bin/env bash
# Longer fuzzing runs with libFuzzer (clang): tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Targets: variant_text variant_binary canonical tscn wal (default: all), 300 s each by default.
# Crashes and the inputs that caused them land in build-fuzz/findings/TARGET/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tools/setup.sh
seconds="${1:-300}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
	targets=(variant_text variant_binary canonical tscn wal)
fi
cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_C_COMPILER=clang -DGROVE_FUZZ=ON >/dev/null
cmake -S "$root" -B "$root/build-fuzz-seeds" >/dev/null
for t in "${targets[@]}"; do
	cmake --build "$root/build-fuzz" --target "fuzz_$t" -j"$(nproc)"
	cmake --build "$root/build-fuzz-seeds" --target "fuzz_$t" -j"$(nproc)"
	corpus="$root/build-fuzz/corpus/$t"
	findings="$root/build-fuzz/findings/$t"
	mkdir -p "$corpus" "$findings"
	"$root/build-fuzz-seeds/tests/fuzz/fuzz_$t" --write-seeds "$corpus"
	echo "fuzz: $t for ${seconds}s"
	"$root/build-fuzz/tests/fuzz/fuzz_$t" "$corpus" -max_total_time="$seconds" -artifact_prefix="$findings/" \
		-print_final_stats=1
done
