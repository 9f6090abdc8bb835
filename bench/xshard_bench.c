/*
 * Writes across shards against writes in one shard, on durable 3-member groved clusters on 127.0.0.1.
 *
 * A world with three shards, /root/World/ZoneA (holding P, with three children), /root/World/ZoneB (holding
 * Q) and /root/World/ZoneC (holding R). One client, one write at a time, the kinds interleaved round by
 * round so that the machine's noise falls on all alike, each kind from its own client (which stays with the
 * leader it was sent to):
 *   quiet   set a property of ZoneC/R                         one shard that no transaction touches
 *   single  set a property of P                               one shard, just after a transaction there
 *   cross   set a property of ZoneA/P and one of ZoneB/Q      one batch across two shards: a transaction
 *   move    move P (and its subtree) to the other zone        a transaction whose halves carry the subtree
 * The same runs again on a second cluster started with --txn-two-phase, which answers a transaction once
 * its record is COMMITTED instead of at the implicit commit: the round that parallel commits save.
 * Prints p50 / p99 per kind and the ratios to quiet in the same run. Not a test: it prints figures.
 *
 * Usage: grove_bench_xshard [--rounds N] [--no-two-phase]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/tree/tree.h"
#include "clusters.h"
#include "harness.h"
#include "stats.h"
#include "support.h"

enum kind { QUIET, SINGLE, CROSS, MOVE, KINDS };
static const char *const kind_names[KINDS] = {"quiet", "single", "cross", "move"};

/* One write of @p n ops; its latency in ns, or 0 if it failed (said on stderr). */
static uint64_t timed_write(struct grove_client *c, const struct tree_op *ops, size_t n)
{
	uint64_t ns;
	int code = client_write_ops_timed(c, ops, n, &ns);
	if (code)
		fprintf(stderr, "write failed: %s\n", code < 0 ? "no write reply" : grove_strerror(code));
	return code ? 0 : ns;
}

static struct tree_op create(const char *parent, const char *name)
{
	return (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = parent}, .name = name, .text = "Node3D",
				.index = -1};
}

/* Run @p rounds rounds of every kind on a fresh cluster; latencies into lat[kind] (n[kind] of them). */
static int run(const char *dir, const char *tag, const char *const *args, int rounds, uint64_t *lat[KINDS],
	       size_t n[KINDS])
{
	struct grove_cluster cluster;
	grove_cluster_init(&cluster, dir, tag, args);
	int leader;
	struct grove_client *c = grove_cluster_start_connected(&cluster, &leader);
	if (!c)
		return 1;
	struct tree_op world[] = {create("/root", "World"), create("/root/World", "ZoneA"),
				  create("/root/World", "ZoneB"), create("/root/World/ZoneA", "P"),
				  create("/root/World/ZoneA/P", "Arm"), create("/root/World/ZoneA/P", "Leg"),
				  create("/root/World/ZoneA/P", "Head"), create("/root/World/ZoneB", "Q"),
				  create("/root/World", "ZoneC"), create("/root/World/ZoneC", "R")};
	int err = timed_write(c, world, sizeof(world) / sizeof(world[0])) ? 0 : 1;
	if (!err && (!grove_shard_split(c, "/root/World/ZoneA") || !grove_shard_split(c, "/root/World/ZoneB") ||
		     !grove_shard_split(c, "/root/World/ZoneC")))
		err = 1;
	/* A client per kind: each follows its shard's leader once and stays there (the shards' leaders may differ). */
	struct grove_client *by_kind[KINDS] = {NULL};
	for (int k = 0; !err && k < KINDS; k++)
		err = grove_client_connect(cluster.addresses[leader], NULL, 10000, &by_kind[k], NULL, 0) ? 1 : 0;
	struct variant value = {0};
	char at = 'A';
	for (int r = 0; !err && r < rounds; r++) {
		variant_set_int(&value, r);
		struct tree_op one = {.kind = TREE_OP_SET_PROP, .node = {.path = at == 'A' ? "/root/World/ZoneA/P"
										     : "/root/World/ZoneB/P"},
				      .name = "hp", .value = &value};
		struct tree_op two[] = {one, {.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/ZoneB/Q"},
					      .name = "hp", .value = &value}};
		struct tree_op mv = {.kind = TREE_OP_MOVE, .node = one.node, .target = {.path = at == 'A' ? "/root/World/ZoneB"
												: "/root/World/ZoneA"},
				     .index = -1};
		struct tree_op quiet = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/ZoneC/R"}, .name = "hp",
					.value = &value};
		uint64_t t;
		if ((t = timed_write(by_kind[QUIET], &quiet, 1)))
			lat[QUIET][n[QUIET]++] = t;
		if ((t = timed_write(by_kind[SINGLE], &one, 1)))
			lat[SINGLE][n[SINGLE]++] = t;
		/* With P in ZoneB, "cross" would be one shard: it runs only while P is in ZoneA. */
		if (at == 'A' && (t = timed_write(by_kind[CROSS], two, 2)))
			lat[CROSS][n[CROSS]++] = t;
		if ((t = timed_write(by_kind[MOVE], &mv, 1))) {
			lat[MOVE][n[MOVE]++] = t;
			at = at == 'A' ? 'B' : 'A';
		} else {
			err = 1;
		}
	}
	for (int k = 0; k < KINDS; k++)
		if (by_kind[k])
			grove_client_close(by_kind[k]);
	grove_client_close(c);
	grove_cluster_stop(&cluster);
	return err;
}

static void report(const char *title, uint64_t *lat[KINDS], size_t n[KINDS])
{
	double p50[KINDS], p99[KINDS];
	for (int k = 0; k < KINDS; k++) {
		qsort(lat[k], n[k], sizeof(*lat[k]), cmp_u64);
		p50[k] = pct(lat[k], n[k], 0.50);
		p99[k] = pct(lat[k], n[k], 0.99);
	}
	printf("%s\n", title);
	printf("  %-8s %8s %10s %10s %12s %12s\n", "kind", "writes", "p50 us", "p99 us", "p50/quiet", "p99/quiet");
	for (int k = 0; k < KINDS; k++)
		printf("  %-8s %8zu %10.0f %10.0f %12.2f %12.2f\n", kind_names[k], n[k], p50[k], p99[k], p50[k] / p50[QUIET],
		       p99[k] / p99[QUIET]);
}

int main(int argc, char **argv)
{
	int rounds = 500;
	bool two_phase = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--no-two-phase") == 0) {
			two_phase = false;
		} else {
			fprintf(stderr, "usage: %s [--rounds N] [--no-two-phase]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 10)
		rounds = 10;
	char *dir = test_tmpdir("bench-xshard");
	uint64_t *lat[2][KINDS];
	size_t n[2][KINDS] = {{0}};
	for (int v = 0; v < 2; v++)
		for (int k = 0; k < KINDS; k++)
			lat[v][k] = calloc((size_t)rounds, sizeof(uint64_t));
	printf("grove, durable, 3 members on 127.0.0.1, one client, %d rounds of each kind\n\n", rounds);
	const char *const parallel[] = {NULL};
	const char *const twophase[] = {"--txn-two-phase", NULL};
	int err = run(dir, "parallel", parallel, rounds, lat[0], n[0]);
	if (!err)
		report("parallel commits (answered at the implicit commit):", lat[0], n[0]);
	if (!err && two_phase && (err = run(dir, "twophase", twophase, rounds, lat[1], n[1])) == 0) {
		report("\ntwo-phase variant (answered once the record is COMMITTED):", lat[1], n[1]);
		printf("\nparallel / two-phase, p50: cross %.2f, move %.2f\n",
		       pct(lat[0][CROSS], n[0][CROSS], 0.50) / pct(lat[1][CROSS], n[1][CROSS], 0.50),
		       pct(lat[0][MOVE], n[0][MOVE], 0.50) / pct(lat[1][MOVE], n[1][MOVE], 0.50));
	}
	for (int v = 0; v < 2; v++)
		for (int k = 0; k < KINDS; k++)
			free(lat[v][k]);
	test_rmtree(dir);
	return err;
}
