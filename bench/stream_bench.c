/* Submit -> applied in another subscriber: how long after a write is sent its change reaches the clients
 * that follow the world, against how long the writer waits for its own acknowledgement.
 *
 * grove: a durable 3-member cluster on 127.0.0.1. One writer sets property "seq" of /root/World/Target
 * through the leader, one write after the other; N subscribers (C clients over protobuf, subscribed to
 * /root/World, member k % 3 for subscriber k) note when the change carrying each value arrives.
 * etcd (3.4, Debian's etcd-server), in the same invocation and the same shape: one writer puts key
 * /world/target through the leader's v3 JSON gateway, N watchers of the prefix /world/ stream the events
 * from the gateway of member k % 3 (as grove_bench_cluster talks to etcd).
 *
 * Per N: commit latency (the writer's send -> its acknowledgement) and delivery latency (the writer's send
 * -> the change read by a subscriber, over every subscriber and write), p50 and p99, the delivery p50 less
 * the commit p50, subscribers at the leader and at followers apart, and the time until the last
 * subscriber has a write. Every time comes from one CLOCK_MONOTONIC in this process; the subscribers are
 * read by a few threads (one per core) over epoll, and a change's arrival is the time its bytes were read.
 * Not a test: it prints figures.
 *
 *   grove_bench_stream [--ops N] [--subscribers 1,10,100] [--no-etcd] [--quick]
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

#define MAX_ROUNDS 16

struct round_result {
	int subscribers;
	double commit_p50, commit_p99;
	double delivery_p50, delivery_p99;
	double leader_p50, leader_p99, follower_p50, follower_p99;
	size_t leader_n, follower_n;
	double last_p50, last_p99; /* until every subscriber had the write */
	size_t missed;             /* (write, subscriber) pairs never delivered */
	size_t writes;
	bool ok;
};

static void summarize(void *ctx, const struct round_log *log)
{
	struct round_result *r = ctx;
	const struct sub *subs = log->subs;
	const uint64_t *sent = log->sent, *acked = log->acked;
	int n = log->n;
	size_t warmup = log->warmup, total = log->total > warmup ? log->total : warmup;
	size_t writes = total - warmup;
	size_t each = sizeof(uint64_t), pairs = writes * (size_t)n;
	struct samples commit = {calloc(writes, each), 0}, all = {calloc(pairs, each), 0},
		       lead = {calloc(pairs, each), 0}, follow = {calloc(pairs, each), 0}, last = {calloc(writes, each), 0};
	for (size_t i = warmup; i < total; i++) {
		if (!acked[i])
			continue;
		add_sample(&commit, acked[i] - sent[i]);
		uint64_t latest = 0;
		bool everyone = true;
		for (int k = 0; k < n; k++) {
			uint64_t at = subs[k].arrival[i];
			if (!at) {
				r->missed++;
				everyone = false;
				continue;
			}
			uint64_t ns = at > sent[i] ? at - sent[i] : 0;
			add_sample(&all, ns);
			add_sample(subs[k].on_leader ? &lead : &follow, ns);
			latest = ns > latest ? ns : latest;
		}
		if (everyone)
			add_sample(&last, latest);
	}
	r->writes = commit.n;
	r->commit_p50 = sorted_pct(&commit, 0.5);
	r->commit_p99 = sorted_pct(&commit, 0.99);
	r->delivery_p50 = sorted_pct(&all, 0.5);
	r->delivery_p99 = sorted_pct(&all, 0.99);
	r->leader_p50 = sorted_pct(&lead, 0.5);
	r->leader_p99 = sorted_pct(&lead, 0.99);
	r->leader_n = lead.n;
	r->follower_p50 = sorted_pct(&follow, 0.5);
	r->follower_p99 = sorted_pct(&follow, 0.99);
	r->follower_n = follow.n;
	r->last_p50 = sorted_pct(&last, 0.5);
	r->last_p99 = sorted_pct(&last, 0.99);
	r->ok = commit.n > 0 && all.n > 0;
	free(commit.v);
	free(all.v);
	free(lead.v);
	free(follow.v);
	free(last.v);
}

/* The receivers: one per core (more would only queue behind each other and the servers), each over its
 * share of the subscribers. */
/* One round of @p n subscribers into @p r (marked failed when they could not subscribe). */
static void run_round(const struct store *st, int n, int ops, int64_t base, struct round_result *r)
{
	memset(r, 0, sizeof(*r));
	r->subscribers = n;
	/* The writes are bounded by their count; an hour only stops a store that hangs. */
	stream_round(st, n, ops, 3600, base, summarize, r);
}

/* ---- report ---- */

static void print_header(void)
{
	printf("%-5s %4s  %-17s %-17s %9s  %-17s %-17s %-16s  %7s\n", "store", "subs", "commit p50/p99",
	       "delivery p50/p99", "dlv-cmt", "at leader p50/p99", "at followers", "last sub p50/p99", "missed");
}

static void print_round(const char *store, const struct round_result *r)
{
	if (!r->ok) {
		printf("%-5s %4d  (failed)\n", store, r->subscribers);
		return;
	}
	char lead[32] = "-", follow[32] = "-";
	if (r->leader_n)
		snprintf(lead, sizeof(lead), "%6.0f / %6.0f", r->leader_p50, r->leader_p99);
	if (r->follower_n)
		snprintf(follow, sizeof(follow), "%6.0f / %6.0f", r->follower_p50, r->follower_p99);
	printf("%-5s %4d  %6.0f / %6.0f   %6.0f / %6.0f   %+7.0f    %-17s %-17s %6.0f / %6.0f   %7zu\n", store,
	       r->subscribers, r->commit_p50, r->commit_p99, r->delivery_p50, r->delivery_p99,
	       r->delivery_p50 - r->commit_p50, lead, follow, r->last_p50, r->last_p99, r->missed);
}

int main(int argc, char **argv)
{
	int ops = 2000, counts[MAX_ROUNDS] = {1, 10, 100}, rounds = 3;
	bool with_etcd = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			ops = 200;
		} else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
			ops = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--subscribers") == 0 && i + 1 < argc) {
			rounds = parse_int_list(argv[++i], 1, MAX_SUBSCRIBERS, counts, MAX_ROUNDS);
		} else if (strcmp(argv[i], "--no-etcd") == 0) {
			with_etcd = false;
		} else {
			rounds = -1;
			break;
		}
	}
	if (rounds < 1 || ops < 1) {
		fprintf(stderr, "usage: %s [--ops N] [--subscribers N,N,...] [--no-etcd] [--quick]\n"
				"  (subscriber counts 1 to %d; default 1,10,100; ops default 2000)\n",
			argv[0], MAX_SUBSCRIBERS);
		return 2;
	}
	test_raise_nofile(4096);
	char *dir = test_tmpdir("bench-stream");
	struct round_result grove[MAX_ROUNDS], etcd[MAX_ROUNDS];
	memset(etcd, 0, sizeof(etcd));

	struct grove_cluster cluster;
	int leader = grove_world_start(&cluster, dir);
	if (leader < 0)
		return 1;
	struct store gs = {"grove", leader, grove_open, &cluster, grove_writer, grove_write_seq, grove_close_writer, NULL, NULL};
	for (int r = 0; r < rounds; r++)
		run_round(&gs, counts[r], ops, 1000000 * (int64_t)(r + 1), &grove[r]);
	grove_cluster_stop(&cluster);

	bool etcd_ran = false;
	if (with_etcd && etcd_installed()) {
		struct etcd_cluster e;
		int etcd_lead = etcd_cluster_start(&e, dir);
		if (etcd_lead < 0) {
			fprintf(stderr, "etcd: no leader\n");
		} else {
			struct store es = {"etcd", etcd_lead, etcd_open, &e, etcd_writer, etcd_put_seq, etcd_close_writer, NULL, NULL};
			for (int r = 0; r < rounds; r++)
				run_round(&es, counts[r], ops, 1000000 * (int64_t)(r + 1), &etcd[r]);
			etcd_ran = true;
		}
		etcd_cluster_stop(&e);
	} else if (with_etcd) {
		printf("etcd is not installed (Debian package etcd-server): no comparison\n");
	}

	printf("submit -> applied at subscribers: 3-member durable clusters on 127.0.0.1, one sequential writer at the\n"
	       "leader, subscribers spread over the members; %d writes per row (after a warm-up); microseconds,\n"
	       "this machine, this run. dlv-cmt: delivery p50 less commit p50.\n", ops);
	print_header();
	for (int r = 0; r < rounds; r++) {
		print_round("grove", &grove[r]);
		if (etcd_ran)
			print_round("etcd", &etcd[r]);
	}
	if (etcd_ran) {
		printf("ratio etcd/grove:");
		for (int r = 0; r < rounds; r++)
			if (grove[r].ok && etcd[r].ok)
				printf("  %d subs: delivery p50 %.2fx, p99 %.2fx;", counts[r], etcd[r].delivery_p50 / grove[r].delivery_p50,
				       etcd[r].delivery_p99 / grove[r].delivery_p99);
		printf("\n");
	}
	test_rmtree(dir);
	return 0;
}
