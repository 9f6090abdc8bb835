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
	"$@"
)

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
