/* Single-node durable write benchmark: starts its own groved on a loopback port and a fresh data
 * directory, then measures
 *   1. sequential set-property latency from one client (p50 / p99 / p99.9, ops/s), and
 *   2. throughput with C concurrent clients for D seconds (ops/s, p50 / p99, group commits/s).
 * Every write is acknowledged only after its fsync. Not a test: it prints figures.
 *
 *   grove_bench_single [--ops N] [--clients C] [--seconds D] [--quick]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "stats.h"
#include "support.h"

/* One set-property write with a ~100-byte string value; returns latency in ns, 0 on failure. */
static uint64_t timed_set(struct grove_client *c, const char *node, int i, const struct variant *value)
{
	char prop[32];
	snprintf(prop, sizeof(prop), "p%d", i % 1000);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = node}, .name = prop, .value = value};
	struct wire_request wr;
	if (wire_encode_batch(&op, 1, &wr))
		return 0;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	uint64_t t0 = now_ns();
	int err = grove_client_call(c, &env, &reply);
	uint64_t t1 = now_ns();
	wire_request_free(&wr);
	if (err)
		return 0;
	bool ok = reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY && reply->write_reply->code == 0;
	grove__envelope__free_unpacked(reply, NULL);
	return ok ? t1 - t0 : 0;
}

static uint64_t status_commits(const char *address)
{
	struct grove_client *c;
	if (grove_client_connect(address, NULL, 10000, &c, NULL, 0))
		return 0;
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	uint64_t commits = 0;
	if (grove_client_call(c, &env, &reply) == GROVE_OK) {
		commits = reply->status_reply->group_commits;
		grove__envelope__free_unpacked(reply, NULL);
	}
	grove_client_close(c);
	return commits;
}

struct worker {
	const char *address;
	char node[32];
	uint64_t deadline;
	const struct variant *value;
	uint64_t *lat;
	size_t n, cap;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct grove_client *c;
	if (grove_client_connect(w->address, NULL, 10000, &c, NULL, 0))
		return NULL;
	for (int i = 0; now_ns() < w->deadline && w->n < w->cap; i++) {
		uint64_t ns = timed_set(c, w->node, i, w->value);
		if (!ns)
			break;
		w->lat[w->n++] = ns;
	}
	grove_client_close(c);
	return NULL;
}

static void add_node(const char *address, const char *path)
{
	struct grove_client *c;
	if (grove_client_connect(address, NULL, 10000, &c, NULL, 0))
		exit(1);
	const char *name = strrchr(path, '/') + 1;
	struct tree_op op = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = name, .text = "Node3D",
			     .index = -1};
	struct wire_request wr;
	wire_encode_batch(&op, 1, &wr);
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	if (grove_client_call(c, &env, &reply) == GROVE_OK)
		grove__envelope__free_unpacked(reply, NULL);
	wire_request_free(&wr);
	grove_client_close(c);
}

int main(int argc, char **argv)
{
	int ops = 5000, clients = 8;
	double seconds = 5;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			ops = 500;
			seconds = 1;
		} else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
			ops = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
			clients = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--ops N] [--clients C] [--seconds D] [--quick]\n", argv[0]);
			return 2;
		}
	}
	char *dir = test_tmpdir("bench");
	char *data;
	if (asprintf(&data, "%s/data", dir) < 0)
		return 1;
	struct groved_proc server;
	groved_start(&server, data, NULL);
	struct variant value;
	char text[101];
	memset(text, 'x', 100);
	text[100] = '\0';
	variant_set_string(&value, VARIANT_STRING, text, 100);

	/* 1. Sequential latency. */
	add_node(server.address, "/root/Seq");
	struct grove_client *c;
	if (grove_client_connect(server.address, NULL, 10000, &c, NULL, 0))
		return 1;
	uint64_t *lat = calloc((size_t)ops, sizeof(*lat));
	uint64_t t0 = now_ns();
	int done = 0;
	for (int i = 0; i < ops; i++) {
		uint64_t ns = timed_set(c, "/root/Seq", i, &value);
		if (!ns)
			break;
		lat[done++] = ns;
	}
	double elapsed = (double)(now_ns() - t0) / 1e9;
	grove_client_close(c);
	qsort(lat, (size_t)done, sizeof(*lat), cmp_u64);
	printf("grove single node, durable (fsync per group commit), 100-byte set-property\n");
	printf("sequential, 1 client:  %d ops  p50 %.0f us  p99 %.0f us  p99.9 %.0f us  %.0f ops/s\n", done,
	       pct(lat, (size_t)done, 0.50), pct(lat, (size_t)done, 0.99), pct(lat, (size_t)done, 0.999),
	       done / elapsed);
	free(lat);

	/* 2. Concurrent clients, each on a node of its own. */
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	pthread_t *threads = calloc((size_t)clients, sizeof(*threads));
	uint64_t commits_before = status_commits(server.address);
	for (int t = 0; t < clients; t++) {
		snprintf(w[t].node, sizeof(w[t].node), "/root/C%d", t);
		add_node(server.address, w[t].node);
	}
	uint64_t start = now_ns();
	for (int t = 0; t < clients; t++) {
		w[t].address = server.address;
		w[t].deadline = start + (uint64_t)(seconds * 1e9);
		w[t].value = &value;
		w[t].cap = 2000000;
		w[t].lat = calloc(w[t].cap, sizeof(uint64_t));
		pthread_create(&threads[t], NULL, work, &w[t]);
	}
	size_t total = 0;
	for (int t = 0; t < clients; t++) {
		pthread_join(threads[t], NULL);
		total += w[t].n;
	}
	elapsed = (double)(now_ns() - start) / 1e9;
	uint64_t commits = status_commits(server.address) - commits_before - (uint64_t)clients;
	uint64_t *all = calloc(total + 1, sizeof(*all));
	size_t k = 0;
	for (int t = 0; t < clients; t++) {
		memcpy(all + k, w[t].lat, w[t].n * sizeof(uint64_t));
		k += w[t].n;
		free(w[t].lat);
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	printf("concurrent, %d clients: %zu ops in %.1f s  %.0f ops/s  p50 %.0f us  p99 %.0f us  %.0f group commits/s "
	       "(%.1f writes per commit)\n",
	       clients, total, elapsed, (double)total / elapsed, pct(all, total, 0.50), pct(all, total, 0.99),
	       (double)commits / elapsed, commits ? (double)total / (double)commits : 0.0);
	free(all);
	free(w);
	free(threads);
	variant_free(&value);
	groved_stop(&server);
	free(data);
	test_rmtree(dir);
	return 0;
}
