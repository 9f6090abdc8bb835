/* groved: the grove server. */
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/server/backup.h"
#include "src/server/log.h"
#include "src/server/loop.h"
#include "src/server/server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: groved --data DIR --listen ADDRESS:PORT [--token TOKEN] [--max-frame BYTES] [--id N]\n"
		"              [--peers ID=HOST:PORT,... --cluster-token T [--cluster-id N] [--join]]\n"
		"\n"
		"Serves a durable grove store, alone or as a member of a Raft cluster. Every acknowledged\n"
		"write is on disk (on a quorum of members).\n"
		"  --data DIR         the store's directory (created if missing)\n"
		"  --listen A:P       IPv4 address and port; port 0 picks a free one\n"
		"  --token TOKEN      clients must present this token (or set GROVE_TOKEN)\n"
		"  --max-frame BYTES  largest request accepted (default 64 MiB)\n"
		"  --id N             server id (default 1); with --peers, this member's id\n"
		"  --peers LIST       replicate with Raft: ID=HOST:PORT,... for every member, this one included\n"
		"  --cluster-token T  what peers must present (or set GROVE_CLUSTER_TOKEN)\n"
		"  --cluster-id N     peers of another cluster id are refused (default 1)\n"
		"  --raft-compact-at N  compact the Raft log past N applied entries (default 20000)\n"
		"  --snapshot-chunk BYTES  size of the chunks a snapshot is sent to a follower in (default 1 MiB)\n"
		"  --join             a new member: wait for `grove cluster add` instead of forming a cluster\n"
		"  --idle-timeout S   close client connections idle for S seconds (default 600)\n"
		"  --output-max BYTES stop reading a client whose unsent replies pass this (default 4 MiB)\n"
		"  --history-entries N  keep the changes of the last N entries for subscribers to resume (default 100000)\n"
		"  --history-bytes B    and at most B bytes of them (default 64 MiB)\n"
		"  --output-stall S   close a client that stays over --output-max for S seconds (default 30)\n"
		"  --max-inflight N   stop reading a client with N requests in flight until one is answered (default 4096)\n"
		"  --handshake-timeout S  close a connection that has not said hello within S seconds (default 10)\n"
		"  --max-clock-offset MS  refuse the frames of a peer whose clock is more than MS ms ahead (default 500)\n"
		"  --metrics A:P      serve Prometheus metrics (/metrics) and health (/healthz, /readyz) over HTTP\n"
		"                     on this IPv4 address and port (not the client port)\n"
		"  --snapshot-every D write a backup of the world into DATA/backups/ every D (500ms, 30s, 10m, 1h)\n"
		"                     when it changed since the last one (default: never)\n"
		"  --snapshot-keep K  keep the newest K backups, deleting older ones (default 5)\n"
		"  --txn-gc-after D   forget what cross-shard transactions left in a shard (timestamp cache, finished\n"
		"                     markers, all but the newest version, finished records) once older than D\n"
		"                     (default 60s); a transaction older than D that made no record is aborted\n"
		"  --no-sync          benchmarks only: do not fsync commits (not durable)\n"
		"  --no-leader-balance  leave each shard's leadership where its election put it (by default a member\n"
		"                     that leads two more shards than another hands one to it)\n"
		"  --txn-two-phase    benchmarks only: answer a cross-shard write once its record is COMMITTED,\n"
		"                     a round later than parallel commits need\n"
		"\n"
		"Tests only: GROVE_TEST_CLOCK_OFFSET_MS=N shifts this server's physical clock by N ms (negative:\n"
		"behind), to test clock skew on one machine.\n"
		"\n"
		"Prints \"listening on ADDRESS:PORT\" on standard output once it accepts\n"
		"connections. SIGTERM or SIGINT stops it cleanly.\n");
}

/* @p value as a whole number from @p min (at least 1) to @p max, without sign or leading zero. */
static bool parse_count(const char *value, unsigned long min, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long n = strtoul(value, &end, 10);
	if (*end || value[0] < '1' || value[0] > '9' || n < min || n > max)
		return false;
	*out = (unsigned)n;
	return true;
}

int main(int argc, char **argv)
{
	/*
	 * LMDB allocates about 3 MB for every nested transaction (its dirty page list and free page list): glibc
	 * would hand them back to the kernel at each free and take them again at the next, a brk, page faults
	 * and a TLB flush per nested transaction. Keep freed memory for reuse instead.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
	struct server_config config = {.id = 1, .token = getenv("GROVE_TOKEN"), .cluster_id = 1,
				       .cluster_token = getenv("GROVE_CLUSTER_TOKEN")};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(arg, "--no-sync") == 0) {
			config.no_sync = true;
		} else if (strcmp(arg, "--txn-two-phase") == 0) {
			config.txn_two_phase = true;
		} else if (strcmp(arg, "--no-leader-balance") == 0) {
			config.no_leader_balance = true;
			continue;
		} else if (strcmp(arg, "--join") == 0) {
			config.join = true;
			continue;
		}
		if (!value) {
			fprintf(stderr, "groved: %s needs a value\n", arg);
			return 2;
		}
		i++;
		if (strcmp(arg, "--data") == 0)
			config.data_dir = value;
		else if (strcmp(arg, "--listen") == 0)
			config.listen = value;
		else if (strcmp(arg, "--token") == 0)
			config.token = value;
		else if (strcmp(arg, "--max-frame") == 0)
			config.max_frame = (uint32_t)strtoul(value, NULL, 10);
		else if (strcmp(arg, "--id") == 0)
			config.id = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--peers") == 0)
			config.peers = value;
		else if (strcmp(arg, "--cluster-token") == 0)
			config.cluster_token = value;
		else if (strcmp(arg, "--cluster-id") == 0)
			config.cluster_id = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--raft-compact-at") == 0)
			config.compact_at = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--snapshot-chunk") == 0)
			config.snapshot_chunk = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--idle-timeout") == 0)
			config.idle_timeout_s = (unsigned)strtoul(value, NULL, 10);
		else if (strcmp(arg, "--output-max") == 0)
			config.output_max = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--history-entries") == 0)
			config.history_entries = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--history-bytes") == 0)
			config.history_bytes = strtoull(value, NULL, 10);
		else if (strcmp(arg, "--output-stall") == 0)
			config.output_stall_s = (unsigned)strtoul(value, NULL, 10);
		else if (strcmp(arg, "--max-clock-offset") == 0) {
			char *end;
			config.max_clock_offset_ms = strtoull(value, &end, 10);
			if (*end || value[0] == '-' || config.max_clock_offset_ms == 0) {
				fprintf(stderr, "groved: --max-clock-offset must be a number of milliseconds, at least 1\n");
				return 2;
			}
		}
		else if (strcmp(arg, "--metrics") == 0) {
			if (!loop_address_valid(value)) {
				fprintf(stderr, "groved: --metrics must be IPv4-ADDRESS:PORT (e.g. 127.0.0.1:9464), not \"%s\"\n",
					value);
				return 2;
			}
			config.metrics_listen = value;
		}
		else if (strcmp(arg, "--txn-gc-after") == 0) {
			if (backup_parse_duration(value, &config.txn_gc_after_ms) != GROVE_OK || !config.txn_gc_after_ms) {
				fprintf(stderr, "groved: --txn-gc-after must be a duration like 500ms, 30s, 10m or 1h\n");
				return 2;
			}
		} else if (strcmp(arg, "--snapshot-every") == 0) {
			if (backup_parse_duration(value, &config.snapshot_every_ms) != GROVE_OK) {
				fprintf(stderr, "groved: --snapshot-every must be a duration like 500ms, 30s, 10m or 1h, "
						"not \"%s\"\n", value);
				return 2;
			}
		}
		else if (strcmp(arg, "--snapshot-keep") == 0) {
			if (!parse_count(value, 1, 100000, &config.snapshot_keep)) {
				fprintf(stderr, "groved: --snapshot-keep must be a number of backups, 1 to 100000, not \"%s\"\n",
					value);
				return 2;
			}
		}
		else if (strcmp(arg, "--max-inflight") == 0) {
			if (!parse_count(value, 1, 1000000, &config.max_inflight)) {
				fprintf(stderr, "groved: --max-inflight must be a number of requests, 1 to 1000000, not \"%s\"\n",
					value);
				return 2;
			}
		}
		else if (strcmp(arg, "--handshake-timeout") == 0)
			config.handshake_timeout_s = (unsigned)strtoul(value, NULL, 10);
		else {
			fprintf(stderr, "groved: unknown option %s\n", arg);
			usage(stderr);
			return 2;
		}
	}
	const char *shift = getenv("GROVE_TEST_CLOCK_OFFSET_MS");
	if (shift && shift[0]) {
		char *end;
		config.test_clock_shift_ms = strtoll(shift, &end, 10);
		if (*end) {
			fprintf(stderr, "groved: GROVE_TEST_CLOCK_OFFSET_MS must be a whole number of milliseconds\n");
			return 2;
		}
	}
	if (config.snapshot_chunk > (16u << 20)) {
		fprintf(stderr, "groved: --snapshot-chunk must be at most 16 MiB\n");
		return 2;
	}
	if (!config.data_dir || !config.listen) {
		usage(stderr);
		return 2;
	}
	loop_block_signals();
	signal(SIGPIPE, SIG_IGN);

	struct server *s;
	int err = server_create(&config, &s);
	if (err) {
		fprintf(stderr, "groved: cannot start: %s\n", grove_strerror(err));
		return 1;
	}
	const char *colon = strrchr(config.listen, ':');
	printf("listening on %.*s:%d\n", (int)(colon - config.listen), config.listen, server_port(s));
	fflush(stdout);
	err = server_run(s);
	server_destroy(s);
	log_line("stopped");
	return err ? 1 : 0;
}
