#!/usr/bin/env bash
# Makes the legacy data directories of tests/data/legacy with REAL builds of older versions (README.md).
#   tests/data/legacy/make-fixtures.sh A060F1D_BUILD 6D2B416_BUILD [OUT]
# Each build directory holds src/server/groved and tools/grove of that commit (a Release build).
# OUT defaults to this script's folder; existing fixtures there are replaced.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 A060F1D_BUILD 6D2B416_BUILD [OUT]" >&2; exit 2; }
build_a060f1d="$(cd "$1" && pwd)"
build_6d2b416="$(cd "$2" && pwd)"
out="${3:-$here}"
token="legacy-fixture"

# The world every fixture holds: several Variant types, a cleared property, a move, a rename, groups
# (one added and removed again), a deleted subtree, an instance, and an imported scene with resources
# and a signal connection. One CLI call is one write (one Raft entry in a cluster).
make_world() {
	local g="$1"
	$g add /root/World Node3D
	$g add /root/World/Player KinematicBody
	$g set /root/World/Player translation 'Vector3(1, 2, 3)'
	$g set /root/World/Player title '"Hero"'
	$g set /root/World/Player health 100
	$g set /root/World/Player speed 2.5
	$g set /root/World/Player alive true
	$g set /root/World/Player tint 'Color(1, 0.5, 0, 1)'
	$g set /root/World/Player tags '["a", 2, 3.5]'
	$g set /root/World/Player stats '{"hp": 10, "mp": 5}'
	$g set /root/World/Player spawn 'Vector2(-4, 0.25)'
	$g set /root/World/Player kind 'StringName("hero")'
	$g set /root/World/Player target 'NodePath("../Goblin")'
	$g set /root/World/Player path 'PackedInt32Array(1, 2, 3)'
	$g set /root/World/Player nothing null
	$g set /root/World/Player scratch 1
	$g clear /root/World/Player scratch
	$g add /root/World/Enemy KinematicBody
	$g set /root/World/Enemy position 'Vector2(3, 4)'
	$g add /root/World/Items Node
	$g add /root/World/Items/Sword Node3D
	$g add /root/World/Items/Shield Node3D --index 0
	$g set /root/World/Items/Sword damage 12
	$g mv /root/World/Items/Sword /root/World/Player
	$g rename /root/World/Enemy Goblin
	$g group add /root/World/Goblin enemies
	$g group add /root/World/Player heroes
	$g group add /root/World/Goblin temporary
	$g group rm /root/World/Goblin temporary
	$g add /root/World/Trash Node
	$g add /root/World/Trash/Inner Node
	$g rm /root/World/Trash
	$g add /root/World/Ghost Node3D --instance res://ghost.tscn
	$g import "$here/level.tscn" --at /root/World
}

# Every node of the world above, for `grove --json get`; and paths that must not exist.
paths="/root /root/World /root/World/Player /root/World/Player/Sword /root/World/Goblin /root/World/Items
/root/World/Items/Shield /root/World/Ghost /root/World/Level /root/World/Level/Door /root/World/Level/Door/Shape
/root/World/Level/Lamp"
absent="/root/World/Trash /root/World/Trash/Inner /root/World/Enemy /root/World/Items/Sword"

# What the old CLI reads back: the tree, every node as JSON (PATH<TAB>JSON per line), the imported
# scene exported again, and each node's status.
record() {
	local g="$1" dir="$2"
	mkdir -p "$dir/expected"
	$g tree >"$dir/expected/tree.txt"
	: >"$dir/expected/get.tsv"
	for p in $paths; do
		printf '%s\t%s\n' "$p" "$($g --json get "$p")" >>"$dir/expected/get.tsv"
	done
	for p in $absent; do
		if $g get "$p" >/dev/null 2>&1; then
			echo "make-fixtures: $p exists" >&2
			exit 1
		fi
		echo "$p" >>"$dir/expected/absent.txt"
	done
	$g export /root/World/Level -o "$dir/expected/level.tscn"
}

# Cut each Raft log segment after its last record: the rest is the preallocation's zeros, which the
# reader takes as the end of the records whether they are there or not (storage/wal.c).
trim_log() {
	local log="$1" seg
	[ -d "$log" ] || return 0
	for seg in "$log"/*.wal; do
		python3 - "$seg" <<'EOF'
import struct, sys
path = sys.argv[1]
with open(path, 'rb') as f:
    data = f.read()
at = 0
while len(data) - at >= 8:
    (n,) = struct.unpack_from('<I', data, at)
    if n == 0 or n > len(data) - at - 8:
        break
    at += 8 + n
assert not any(data[at:]), path + ': bytes after the last record'
with open(path, 'r+b') as f:
    f.truncate(at)
EOF
	done
}

wait_exit() {
	local pid="$1"
	kill -TERM "$pid"
	wait "$pid" || true
}

single() {
	local build="$1" name="$2" port="$3"
	local dir="$out/$name" g="$build/tools/grove --server 127.0.0.1:$port"
	rm -rf "$dir"
	mkdir -p "$dir"
	"$build/src/server/groved" --data "$dir/node1" --listen "127.0.0.1:$port" >/dev/null 2>"$dir/node1.log" &
	local pid=$!
	sleep 0.5
	make_world "$g" >/dev/null
	record "$g" "$dir"
	$g --json status >"$dir/expected/status-node1.json"
	wait_exit "$pid"
	rm -f "$dir/node1/lock.mdb" "$dir/node1.log"
}

# role_of BUILD PORT: the node's role, or "down".
role_of() {
	"$1/tools/grove" --server "127.0.0.1:$2" --json status 2>/dev/null | sed -n 's/.*"role":"\([a-z]*\)".*/\1/p' || echo down
}

applied_of() {
	"$1/tools/grove" --server "127.0.0.1:$2" --json status 2>/dev/null | sed -n 's/.*"applied_index":\([0-9]*\).*/\1/p'
}

# A 3-node cluster on ports BASE+1..BASE+3 with --raft-compact-at COMPACT: the world, then one follower
# is stopped while 30 more writes land (the leader compacts its log past it), and catches up through a
# snapshot when it comes back; 5 more writes follow, so that its log holds entries after the snapshot.
cluster() {
	local build="$1" name="$2" base="$3" compact="$4"
	local dir="$out/$name" peers="1=127.0.0.1:$((base + 1)),2=127.0.0.1:$((base + 2)),3=127.0.0.1:$((base + 3))"
	local pids=() i
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "$peers" >"$dir/peers"
	start_node() {
		"$build/src/server/groved" --id "$1" --peers "$peers" --cluster-token "$token" --data "$dir/node$1" \
			--listen "127.0.0.1:$((base + $1))" --raft-compact-at "$compact" >/dev/null 2>>"$dir/node$1.log" &
		pids[$1]=$!
	}
	for i in 1 2 3; do start_node "$i"; done
	local leader=0
	for _ in $(seq 1 100); do
		for i in 1 2 3; do [ "$(role_of "$build" $((base + i)))" = leader ] && leader=$i; done
		[ "$leader" != 0 ] && break
		sleep 0.1
	done
	[ "$leader" != 0 ] || { echo "make-fixtures: $name elected no leader" >&2; exit 1; }
	local g="$build/tools/grove --server 127.0.0.1:$((base + leader))"
	make_world "$g" >/dev/null
	local follower=$((leader % 3 + 1))
	wait_exit "${pids[$follower]}"
	for n in $(seq 1 30); do $g set /root/World counter "$n" >/dev/null; done
	start_node "$follower"
	for _ in $(seq 1 100); do
		[ "$(applied_of "$build" $((base + follower)))" = "$(applied_of "$build" $((base + leader)))" ] && break
		sleep 0.1
	done
	for n in $(seq 31 35); do $g set /root/World counter "$n" >/dev/null; done
	local same=no
	for _ in $(seq 1 100); do
		local a1 a2 a3
		a1="$(applied_of "$build" $((base + 1)))" a2="$(applied_of "$build" $((base + 2)))"
		a3="$(applied_of "$build" $((base + 3)))"
		if [ "$a1" = "$a2" ] && [ "$a2" = "$a3" ]; then same=yes; break; fi
		sleep 0.1
	done
	[ "$same" = yes ] || { echo "make-fixtures: $name did not converge" >&2; exit 1; }
	record "$g" "$dir"
	for i in 1 2 3; do "$build/tools/grove" --server "127.0.0.1:$((base + i))" --json status >"$dir/expected/status-node$i.json"; done
	grep -q "installed a snapshot" "$dir/node$follower.log" ||
		{ echo "make-fixtures: node $follower of $name did not install a snapshot" >&2; exit 1; }
	for i in 1 2 3; do wait_exit "${pids[$i]}"; done
	for i in 1 2 3; do
		trim_log "$dir/node$i/raft-log"
		rm -f "$dir/node$i/lock.mdb"
		grep -h "installed a snapshot\|member .* of\|listening\|serving" "$dir/node$i.log" | sed 's/^[^ ]* /  /' ||
			true
		rm -f "$dir/node$i.log"
	done
}

single "$build_a060f1d" single-a060f1d 17101
cluster "$build_a060f1d" cluster-a060f1d 17200 16
cluster "$build_6d2b416" cluster-6d2b416 17300 16
du -sh --apparent-size "$out"/single-a060f1d "$out"/cluster-a060f1d "$out"/cluster-6d2b416
