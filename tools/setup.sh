#!/usr/bin/env bash
# Installs what grove needs to build and test (Debian 12 packages), when missing, and any extra packages
# named as arguments (tools/bench.sh adds etcd-server). Runs apt-get as root, or through sudo for a normal
# user.
set -euo pipefail

packages=(
	build-essential cmake pkg-config git
	liblmdb-dev lmdb-utils libzstd-dev libprotobuf-c-dev protobuf-c-compiler libcmocka-dev
	clang libclang-rt-14-dev   # libFuzzer targets
	godot3-server              # the real Godot engine, headless, for engine tests
	spin                       # model checking of the protocol specs (tla/)
	strace                     # test_limits counts groved's epoll_ctl calls
	gnuplot                    # grove_bench_e2e --report draws its charts
	curl                       # test_metrics scrapes groved's metrics over HTTP
	faketime                   # the fault campaign moves members' clocks (libfaketime)
	"$@"
)
# The GDScript 4 syntax check runs on node; Debian's nodejs and npm unless a node with npm is already here.
if ! command -v npm >/dev/null 2>&1; then
	packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Godot 4 twin of the addon (godot/addons4) is checked with tree-sitter's GDScript grammar: no Godot 4
# engine is packaged for Debian 12. The npm packages ship prebuilt binaries for linux-x64, so their install
# scripts (which would compile or download) are not run. If they cannot be had, the check skips (fails under CI).
gdscript4="$(cd "$(dirname "$0")" && pwd)/gdscript4"
if ! command -v npm >/dev/null 2>&1; then
	echo "setup: npm is not installed; the GDScript 4 syntax check of the addon will skip"
elif [ ! -d "$gdscript4/node_modules/tree-sitter-gdscript" ] ||
	[ "$gdscript4/package-lock.json" -nt "$gdscript4/node_modules/.package-lock.json" ]; then
	echo "setup: installing the npm packages of tools/gdscript4"
	if ! npm ci --prefix "$gdscript4" --ignore-scripts --no-audit --no-fund --loglevel=error; then
		echo "setup: npm ci failed; the GDScript 4 syntax check of the addon will skip"
	fi
fi
