#!/usr/bin/env bash
# A local 3-node grove cluster on loopback, data under one folder.
#   tools/cluster.sh start [--foreground]   start nodes 1..3 (client ports 7401..7403)
#   tools/cluster.sh stop                   stop them cleanly (SIGTERM), data kept
#   tools/cluster.sh status                 each node's view (role, term, applied index)
# Environment: GROVE_DATA (default ./data), GROVE_BUILD (default ./build), GROVE_CLUSTER_TOKEN.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${GROVE_DATA:-$root/data}"
build="${GROVE_BUILD:-$root/build}"
token="${GROVE_CLUSTER_TOKEN:-grove-local-cluster}"
peers="1=127.0.0.1:7401,2=127.0.0.1:7402,3=127.0.0.1:7403"

start() {
	mkdir -p "$data"
	for i in 1 2 3; do
		if [ -f "$data/node$i.pid" ] && kill -0 "$(cat "$data/node$i.pid")" 2>/dev/null; then
			echo "cluster: node $i already running (pid $(cat "$data/node$i.pid"))"
			continue
		fi
		"$build/src/server/groved" --id "$i" --peers "$peers" --cluster-token "$token" \
			--data "$data/node$i" --listen "127.0.0.1:740$i" >"$data/node$i.out" 2>>"$data/node$i.log" &
		echo $! >"$data/node$i.pid"
	done
	echo "cluster: nodes on 127.0.0.1:7401, :7402, :7403; data and logs in $data"
	echo "cluster: try  $build/tools/grove --server 127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403 tree"
}

stop() {
	for i in 1 2 3; do
		if [ -f "$data/node$i.pid" ]; then
			pid="$(cat "$data/node$i.pid")"
			if kill -TERM "$pid" 2>/dev/null; then
				for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			fi
			rm -f "$data/node$i.pid"
		fi
	done
	echo "cluster: stopped"
}

case "${1:-}" in
start)
	start
	if [ "${2:-}" = "--foreground" ]; then
		trap 'stop; exit 0' INT TERM
		while sleep 1; do :; done
	fi
	;;
stop) stop ;;
status)
	for i in 1 2 3; do
		echo "node $i: $("$build/tools/grove" --server "127.0.0.1:740$i" --json status 2>&1 || true)"
	done
	;;
*)
	echo "usage: tools/cluster.sh start [--foreground] | stop | status" >&2
	exit 2
	;;
esac
