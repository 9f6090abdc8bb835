/* Throughput of the change stream with pipelined submitters: how many events a durable 3-member cluster
 * applies and delivers to every subscriber per second, and what latency they see meanwhile.
 *
 * A durable 3-member cluster on 127.0.0.1 (as grove_bench_stream). P submitters, each a connection to the
 * leader on a thread of its own, set property "seq" of /root/World/Target, each keeping up to W writes in
 * flight (the writes of one refill leave in one send; answers are read as they come); N subscribers
 * (C clients over protobuf, subscribed to /root/World, subscriber k at member k % 3) note when each value
 * arrives. Every write is its own event (its own log entry, answer and change message). Per (N, W), after
 * a warm-up of a tenth of the time:
 *   - acknowledged: writes answered per second (first counted send -> last counted answer);
 *   - delivered: per subscriber, the values it received per second (first counted send -> its last
 *     arrival), the slowest subscriber's figure, and writes per second until every subscriber had them;
 *   - latency p50 / p99 of send -> answer and send -> arrival (queueing included: that is the price of the
 *     rate), and (write, subscriber) pairs never delivered.
 * The rows with window 1 are the peer of the same run: the same submitters, one write at a time each.
 * Not a test: it prints figures.
 *
 *   grove_bench_throughput [--submitters P] [--windows 1,64] [--subscribers 1,10] [--seconds S] [--quick]
 * (at most 32 subscribers and 30 s: every subscriber notes a time per value)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusters.h"
#include "harness.h"
#include "stats.h"
#include "streams.h"
#include "support.h"

#define MAX_LIST 8
/* Values a round can note: far more than this machine writes in a round's time. */
#define MAX_RATE 200000
/* Each subscriber notes a time per value: these keep a round's notes under 2 GB. */
#define MAX_SECONDS 30
#define MAX_ROUND_SUBSCRIBERS 32

struct tp_result {
	int subscribers, window;
	double acked_per_s, delivered_per_s, everyone_per_s;
	double ack_p50, ack_p99, delivery_p50, delivery_p99;
	size_t writes, missed, refused;
	bool ok;
};

static void summarize(void *ctx, const struct round_log *log)
{
	struct tp_result *r = ctx;
	uint64_t first_sent = UINT64_MAX, last_acked = 0;
	size_t counted = 0;
	for (size_t i = 0; i < log->total; i++) {
		if (!log->acked[i] || log->sent[i] < log->counted_from)
			continue;
		counted++;
		first_sent = log->sent[i] < first_sent ? log->sent[i] : first_sent;
		last_acked = log->acked[i] > last_acked ? log->acked[i] : last_acked;
	}
	r->writes = counted;
	r->refused = log->refused;
	if (!counted || last_acked <= first_sent)
		return;
	size_t pairs = counted * (size_t)log->n;
	struct samples ack = {calloc(counted, sizeof(uint64_t)), 0}, dlv = {calloc(pairs, sizeof(uint64_t)), 0};
	double slowest = -1;
	uint64_t everyone = 0;
	for (int k = 0; k < log->n; k++) {
		const struct sub *s = &log->subs[k];
		size_t got = 0;
		uint64_t last = 0;
		for (size_t i = 0; i < log->total; i++) {
			if (!log->acked[i] || log->sent[i] < log->counted_from)
				continue;
			uint64_t at = s->arrival[i];
			if (!at) {
				r->missed++;
				continue;
			}
			got++;
			last = at > last ? at : last;
			add_sample(&dlv, at > log->sent[i] ? at - log->sent[i] : 0);
		}
		double rate = last > first_sent ? (double)got / ((double)(last - first_sent) / 1e9) : 0;
		slowest = slowest < 0 || rate < slowest ? rate : slowest;
		everyone = last > everyone ? last : everyone;
	}
	for (size_t i = 0; i < log->total; i++)
		if (log->acked[i] && log->sent[i] >= log->counted_from)
			add_sample(&ack, log->acked[i] - log->sent[i]);
	r->acked_per_s = (double)counted / ((double)(last_acked - first_sent) / 1e9);
	r->delivered_per_s = slowest;
	r->everyone_per_s = !r->missed && everyone > first_sent ? (double)counted / ((double)(everyone - first_sent) / 1e9) : 0;
	r->ack_p50 = sorted_pct(&ack, 0.5);
	r->ack_p99 = sorted_pct(&ack, 0.99);
	r->delivery_p50 = sorted_pct(&dlv, 0.5);
	r->delivery_p99 = sorted_pct(&dlv, 0.99);
	r->ok = true;
	free(ack.v);
	free(dlv.v);
}

static void print_row(int submitters, const struct tp_result *r)
{
	if (!r->ok) {
		printf("%4d  %3d x %-4d  (failed: %zu writes counted, %zu refused)\n", r->subscribers, submitters, r->window,
		       r->writes, r->refused);
		return;
	}
	char everyone[32] = "-";
	if (r->everyone_per_s > 0)
		snprintf(everyone, sizeof(everyone), "%.0f", r->everyone_per_s);
	printf("%4d  %3d x %-4d  %10.0f  %12.0f  %10s   %6.0f / %6.0f   %6.0f / %6.0f  %8zu  %6zu  %7zu\n",
	       r->subscribers, submitters, r->window, r->acked_per_s, r->delivered_per_s, everyone, r->ack_p50,
	       r->ack_p99, r->delivery_p50, r->delivery_p99, r->writes, r->missed, r->refused);
}

int main(int argc, char **argv)
{
	int submitters = 4, windows[MAX_LIST] = {1, 64}, n_windows = 2, subs[MAX_LIST] = {1, 10}, n_subs = 2;
	double seconds = 5;
	bool usage = false;
	for (int i = 1; i < argc && !usage; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			seconds = 1;
		else if (strcmp(argv[i], "--submitters") == 0 && i + 1 < argc)
			submitters = atoi(argv[++i]);
		else if (strcmp(argv[i], "--windows") == 0 && i + 1 < argc)
			usage = (n_windows = parse_int_list(argv[++i], 1, 4096, windows, MAX_LIST)) < 1;
		else if (strcmp(argv[i], "--subscribers") == 0 && i + 1 < argc)
			usage = (n_subs = parse_int_list(argv[++i], 0, MAX_ROUND_SUBSCRIBERS, subs, MAX_LIST)) < 1;
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else
			usage = true;
	}
	if (usage || submitters < 1 || submitters > 256 || seconds <= 0 || seconds > MAX_SECONDS) {
		fprintf(stderr,
			"usage: %s [--submitters P] [--windows W,W,...] [--subscribers N,N,...] [--seconds S] [--quick]\n"
			"  (P 1-256, default 4; windows 1-4096, default 1,64; subscribers 0-%d, default 1,10; S up to %d,\n"
			"   default 5)\n",
			argv[0], MAX_ROUND_SUBSCRIBERS, MAX_SECONDS);
		return 2;
	}
	test_raise_nofile(4096);
	char *dir = test_tmpdir("bench-throughput");
	struct grove_cluster cluster;
	int leader = grove_world_start(&cluster, dir);
	if (leader < 0)
		return 1;
	struct store gs = {"grove", leader, grove_open, &cluster, grove_writer, grove_write_seq, grove_close_writer, NULL,
			   &grove_pipeline};
	size_t cap = (size_t)(seconds * MAX_RATE) + 1000;
	struct tp_result results[MAX_LIST][MAX_LIST];
	int64_t base = 0;
	for (int s = 0; s < n_subs; s++)
		for (int w = 0; w < n_windows; w++) {
			struct tp_result *r = &results[s][w];
			*r = (struct tp_result){.subscribers = subs[s], .window = windows[w]};
			base += (int64_t)cap;
			stream_round_pipelined(&gs, subs[s], submitters, windows[w], cap, seconds, base, summarize, r);
			/* The next round starts on a cluster that has applied everything. */
			grove_members_caught_up(&cluster, leader);
		}
	grove_cluster_stop(&cluster);

	printf("pipelined submitters: 3-member durable cluster on 127.0.0.1, %d submitters at the leader, each write\n"
	       "its own event, subscribers spread over the members; %.0f s per row after a warm-up of a tenth; this\n"
	       "machine, this run. window: writes in flight per submitter (1: one at a time, the peer). delivered:\n"
	       "values per second at the slowest subscriber; everyone: writes per second until every subscriber had\n"
	       "them. Latencies in microseconds, queueing included.\n",
	       submitters, seconds);
	printf("%4s  %-10s  %10s  %12s  %10s   %-15s   %-15s  %8s  %6s  %7s\n", "subs", "subm x win", "acked/s",
	       "delivered/s", "everyone/s", "ack p50/p99", "delivery p50/p99", "writes", "missed", "refused");
	for (int s = 0; s < n_subs; s++)
		for (int w = 0; w < n_windows; w++)
			print_row(submitters, &results[s][w]);
	for (int s = 0; s < n_subs; s++)
		for (int w = 1; w < n_windows; w++)
			if (results[s][0].ok && results[s][w].ok && results[s][0].acked_per_s > 0)
				printf("%d subscribers: window %d acknowledges %.2fx the writes/s of window %d\n", subs[s],
				       windows[w], results[s][w].acked_per_s / results[s][0].acked_per_s, windows[0]);
	test_rmtree(dir);
	return 0;
}
