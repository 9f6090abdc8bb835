/* Commit latency of a durable 3-node cluster on loopback, grove against etcd in the same invocation:
 *   1. one client sending sequential 100-byte writes (p50 / p99 / p99.9, ops/s);
 *   2. C concurrent clients for D seconds (ops/s, p50 / p99).
 * grove: three groved processes with --peers, a set-property per write, the client at the leader.
 * etcd: three members of Debian's etcd (3.4) on loopback ports, a put per write through the v3 JSON gateway
 * with a keep-alive HTTP/1.1 client at the leader. Not a test: it prints figures.
 * floor: the same clients against a server that answers each frame at once (floor_server.c), with frames
 * of the sizes grove's requests and replies have: what this machine allows any server for this client
 * shape, and grove's throughput as a share of it.
 * pipe: the same clients against the least a durable 3-member pipeline does (pipeline_floor.c: each turn's
 * requests sent to two followers, appended and fdatasynced, answered once one follower did the same): what
 * grove costs above it is its own overhead, a figure that moves less with the machine than a ratio to etcd.
 *
 * All of them run from the start, and the clients visit them in turn, in R rounds (default 5): each round
 * gives each system N/R sequential writes, then D/R seconds of the C clients. This machine's speed drifts
 * over seconds; measured one after the other, each system met a different machine, and a ratio of one run
 * moved between 1.8x and 3.5x.
 *
 * Then the catch-up of a follower that was down while the leader took M writes (default 10,000): the time
 * from its restart until it has applied them all, through the log, and through a snapshot (the leader
 * compacts its log past the follower).
 *
 *   grove_bench_cluster [--ops N] [--clients C] [--seconds D] [--rounds R] [--catchup M] [--no-etcd] [--quick]
 *                       [--no-sync]
 *
 * --no-sync runs groved without fsync (NOT durable): the difference to a durable run is the disks' share
 * of the latency.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusters.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "stats.h"
#include "support.h"

/* A store under test: connect, write one 100-byte value, close. */
struct target {
	void *(*connect)(void *ctx);
	uint64_t (*write)(void *conn, int i); /* latency in ns, 0 on failure */
	void (*close)(void *conn);
	void *ctx;
};

struct result {
	double p50, p99, p999, ops;
	double cp50, cp99, cops;
	size_t n, cn;
};

struct worker {
	const struct target *t;
	uint64_t deadline;
	uint64_t *lat;
	size_t n, cap;
	int base;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	void *conn = w->t->connect(w->t->ctx);
	if (!conn)
		return NULL;
	for (int i = 0; now_ns() < w->deadline && w->n < w->cap; i++) {
		uint64_t ns = w->t->write(conn, w->base + i);
		if (!ns)
			break;
		w->lat[w->n++] = ns;
	}
	w->t->close(conn);
	return NULL;
}

/* What one system's rounds gathered, turned into a struct result at the end. */
struct samples {
	uint64_t *seq, *conc;      /* latencies in ns */
	size_t n_seq, n_conc;
	double seq_seconds, conc_seconds;
};

static void keep(uint64_t **lat, size_t *n, const uint64_t *more, size_t k)
{
	*lat = realloc(*lat, (*n + k + 1) * sizeof(**lat));
	memcpy(*lat + *n, more, k * sizeof(*more));
	*n += k;
}

/* One round of @p ops sequential writes on one connection. */
static void sequential_round(const struct target *t, int ops, int base, struct samples *sm)
{
	void *conn = t->connect(t->ctx);
	if (!conn)
		return;
	uint64_t *lat = calloc((size_t)ops + 1, sizeof(*lat));
	size_t n = 0;
	uint64_t t0 = now_ns();
	for (int i = 0; i < ops; i++) {
		uint64_t ns = t->write(conn, base + i);
		if (!ns)
			break;
		lat[n++] = ns;
	}
	sm->seq_seconds += (double)(now_ns() - t0) / 1e9;
	t->close(conn);
	keep(&sm->seq, &sm->n_seq, lat, n);
	free(lat);
}

/* One round of @p clients concurrent clients, one write at a time each, for @p seconds. */
static void concurrent_round(const struct target *t, int clients, double seconds, int base, struct samples *sm)
{
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	uint64_t start = now_ns();
	for (int i = 0; i < clients; i++) {
		w[i] = (struct worker){.t = t, .deadline = start + (uint64_t)(seconds * 1e9), .cap = 1000000,
				       .base = base + 1000000 * (i + 1)};
		w[i].lat = calloc(w[i].cap, sizeof(uint64_t));
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	sm->conc_seconds += (double)(now_ns() - start) / 1e9;
	for (int i = 0; i < clients; i++) {
		keep(&sm->conc, &sm->n_conc, w[i].lat, w[i].n);
		free(w[i].lat);
	}
	free(w);
	free(th);
}

static void summarize(struct samples *sm, struct result *r)
{
	memset(r, 0, sizeof(*r));
	qsort(sm->seq, sm->n_seq, sizeof(*sm->seq), cmp_u64);
	qsort(sm->conc, sm->n_conc, sizeof(*sm->conc), cmp_u64);
	r->n = sm->n_seq;
	r->p50 = pct(sm->seq, sm->n_seq, 0.5);
	r->p99 = pct(sm->seq, sm->n_seq, 0.99);
	r->p999 = pct(sm->seq, sm->n_seq, 0.999);
	r->ops = sm->seq_seconds > 0 ? (double)sm->n_seq / sm->seq_seconds : 0;
	r->cn = sm->n_conc;
	r->cp50 = pct(sm->conc, sm->n_conc, 0.5);
	r->cp99 = pct(sm->conc, sm->n_conc, 0.99);
	r->cops = sm->conc_seconds > 0 ? (double)sm->n_conc / sm->conc_seconds : 0;
	free(sm->seq);
	free(sm->conc);
	memset(sm, 0, sizeof(*sm));
}

/*
 * Measure @p n systems in @p rounds interleaved rounds, each round giving each system its share of the
 * sequential writes and then of the concurrent clients' time: on a shared machine whose speed drifts
 * over seconds, every system then meets the same drift, and the ratios between them hold better than
 * when each is measured in a block of its own.
 */
static void measure_interleaved(const struct target *const *t, size_t n, int ops, int clients, double seconds,
				int rounds, struct result *r)
{
	struct samples *sm = calloc(n, sizeof(*sm));
	for (int round = 0; round < rounds; round++)
		for (size_t k = 0; k < n; k++)
			if (t[k])
				sequential_round(t[k], ops / rounds, round * (ops / rounds), &sm[k]);
	for (int round = 0; round < rounds; round++)
		for (size_t k = 0; k < n; k++)
			if (t[k])
				concurrent_round(t[k], clients, seconds / rounds, round * 100000000, &sm[k]);
	for (size_t k = 0; k < n; k++)
		summarize(&sm[k], &r[k]);
	free(sm);
}

/* ---- grove ---- */

static bool no_sync; /* --no-sync: groved without fsync, to see the disks' share */

struct grove_ctx {
	char leader[32];
	struct variant value;
};

static void *grove_connect(void *ctx)
{
	struct grove_ctx *g = ctx;
	struct grove_client *c;
	return grove_client_connect(g->leader, NULL, 10000, &c, NULL, 0) ? NULL : c;
}

/* Frame sizes of a grove write and its reply (length prefix included), for the floor to mimic. */
static size_t request_frame_bytes, reply_frame_bytes;

static uint64_t grove_write(void *conn, int i)
{
	static __thread struct variant value;
	if (value.type == VARIANT_NIL) {
		char text[101];
		memset(text, 'v', 100);
		variant_set_string(&value, VARIANT_STRING, text, 100);
	}
	char prop[32];
	snprintf(prop, sizeof(prop), "p%d", i % 1000);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root"}, .name = prop, .value = &value};
	struct wire_request wr;
	if (wire_encode_batch(&op, 1, &wr))
		return 0;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	uint64_t t0 = now_ns();
	int err = grove_client_call(conn, &env, &reply);
	uint64_t t1 = now_ns();
	if (!err && i == 0 && !reply_frame_bytes) {
		request_frame_bytes = 4 + grove__envelope__get_packed_size(&env);
		reply_frame_bytes = 4 + grove__envelope__get_packed_size(reply);
	}
	wire_request_free(&wr);
	if (err)
		return 0;
	bool ok = reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY && reply->write_reply->code == 0;
	grove__envelope__free_unpacked(reply, NULL);
	return ok ? t1 - t0 : 0;
}

static void grove_close(void *conn)
{
	grove_client_close(conn);
}

/* ---- the floor: a server that answers at once ---- */

struct floor_conn {
	int fd;
	uint8_t buf[4096];
};

static void *floor_connect(void *ctx)
{
	int port = *(int *)ctx;
	struct floor_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

/* As grove_client_call() does: send the frame, then poll and read until the whole reply is in. */
static uint64_t floor_write(void *conn, int i)
{
	(void)i;
	struct floor_conn *c = conn;
	size_t body = request_frame_bytes - 4;
	c->buf[0] = (uint8_t)body;
	c->buf[1] = (uint8_t)(body >> 8);
	c->buf[2] = c->buf[3] = 0;
	uint64_t t0 = now_ns();
	if (send(c->fd, c->buf, request_frame_bytes, MSG_NOSIGNAL) != (ssize_t)request_frame_bytes)
		return 0;
	for (size_t got = 0; got < reply_frame_bytes;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, 10000) != 1)
			return 0;
		ssize_t n = recv(c->fd, c->buf, reply_frame_bytes - got, 0);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return 0;
		got += n > 0 ? (size_t)n : 0;
	}
	return now_ns() - t0;
}

static void floor_close(void *conn)
{
	struct floor_conn *c = conn;
	close(c->fd);
	free(c);
}

/* Start the floor server; its port goes to @p port. Returns its pid, or 0 if it could not be started. */
static pid_t start_floor(const char *dir, int *port)
{
	if (!request_frame_bytes || request_frame_bytes > sizeof(((struct floor_conn *)0)->buf))
		return 0;
	*port = test_free_port();
	char port_arg[16], reply_arg[16], log[4200];
	snprintf(port_arg, sizeof(port_arg), "%d", *port);
	snprintf(reply_arg, sizeof(reply_arg), "%zu", reply_frame_bytes - 4);
	snprintf(log, sizeof(log), "%s/floor.log", dir);
	char *argv[] = {FLOOR_SERVER_PATH, port_arg, reply_arg, NULL};
	pid_t pid = bench_spawn(argv, log);
	const char *ready[] = {"ready"};
	if (pid > 0 && bench_wait_said(log, ready, 1, 10000) == 0)
		return pid;
	bench_stop(pid);
	return 0;
}

/* Start the durable pipeline floor (a leader and two followers); the leader's port goes to @p port and the
 * three pids to @p pids. False if it could not be started (then nothing of it runs). */
static bool start_pipeline(const char *dir, int *port, pid_t pids[3])
{
	pids[0] = pids[1] = pids[2] = 0;
	if (!request_frame_bytes || request_frame_bytes > sizeof(((struct floor_conn *)0)->buf))
		return false;
	int ports[3];
	char port_args[3][16], reply_arg[16], logs[3][4200], files[3][4200];
	snprintf(reply_arg, sizeof(reply_arg), "%zu", reply_frame_bytes - 4);
	const char *ready[] = {"ready"};
	bool ok = true;
	/* The followers first: the leader connects to them before it listens. */
	for (int i = 2; ok && i >= 0; i--) {
		ports[i] = test_free_port();
		snprintf(port_args[i], sizeof(port_args[i]), "%d", ports[i]);
		snprintf(logs[i], sizeof(logs[i]), "%s/pipe%d.log", dir, i);
		snprintf(files[i], sizeof(files[i]), "%s/pipe%d.wal", dir, i);
		char *follower[] = {PIPELINE_FLOOR_PATH, "follower", port_args[i], files[i], NULL};
		char *leader[] = {PIPELINE_FLOOR_PATH, "leader", port_args[0], reply_arg, files[0], port_args[1], port_args[2], NULL};
		pids[i] = bench_spawn(i ? follower : leader, logs[i]);
		ok = pids[i] > 0 && bench_wait_said(logs[i], ready, 1, 10000) == 0;
	}
	if (!ok)
		for (int i = 0; i < 3; i++)
			if (pids[i] > 0)
				bench_stop(pids[i]), pids[i] = 0;
	*port = ports[0];
	return ok;
}

/* ---- follower catch-up ---- */

/* Seconds from the follower's restart until it applied everything, or -1. */
static double catch_up(const char *dir, int writes, int clients, const char *compact_at)
{
	char sub[4096];
	snprintf(sub, sizeof(sub), "%s/catchup-%s", dir, compact_at);
	mkdir(sub, 0755);
	const char *const args[] = {"--raft-compact-at", compact_at, NULL};
	struct grove_cluster cluster;
	grove_cluster_init(&cluster, sub, "catchup", args);
	int leader = grove_cluster_start(&cluster);
	double result = -1;
	if (leader >= 0) {
		struct grove_ctx g;
		snprintf(g.leader, sizeof(g.leader), "%s", cluster.addresses[leader]);
		int follower = (leader + 1) % CLUSTER_MEMBERS;
		grove_member_stop(&cluster, follower);
		struct target gt = {grove_connect, grove_write, grove_close, &g};
		struct worker *w = calloc((size_t)clients, sizeof(*w));
		pthread_t *th = calloc((size_t)clients, sizeof(*th));
		for (int i = 0; i < clients; i++) {
			w[i] = (struct worker){.t = &gt, .deadline = now_ns() + 120000000000ull,
					       .cap = (size_t)(writes / clients), .base = 1000000 * (i + 1)};
			w[i].lat = calloc(w[i].cap + 1, sizeof(uint64_t));
			pthread_create(&th[i], NULL, work, &w[i]);
		}
		for (int i = 0; i < clients; i++) {
			pthread_join(th[i], NULL);
			free(w[i].lat);
		}
		free(w);
		free(th);
		uint64_t target = grove_member_applied(&cluster, leader, NULL);
		uint64_t t0 = now_ns();
		grove_member_start(&cluster, follower);
		while (now_ns() - t0 < 120000000000ull) {
			if (grove_member_applied(&cluster, follower, NULL) >= target) {
				result = (double)(now_ns() - t0) / 1e9;
				break;
			}
			usleep(5000);
		}
	}
	grove_cluster_stop(&cluster);
	return result;
}

/* ---- etcd through its v3 JSON gateway ---- */

struct etcd_ctx {
	int port; /* the leader's client port */
};

static void *etcd_connect(void *ctx)
{
	struct etcd_ctx *e = ctx;
	return http_connect(e->port);
}

static uint64_t etcd_write(void *conn, int i)
{
	char key[32], value[101], kb[64], vb[160], body[512];
	snprintf(key, sizeof(key), "p%d", i % 1000);
	memset(value, 'v', 100);
	base64_encode(key, strlen(key), kb);
	base64_encode(value, 100, vb);
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
	uint64_t t0 = now_ns();
	int status = http_post(conn, "/v3/kv/put", body);
	uint64_t t1 = now_ns();
	return status == 200 ? t1 - t0 : 0;
}

static void etcd_close(void *conn)
{
	http_close(conn);
}

static void print_result(const char *name, const struct result *r, int clients)
{
	printf("%-6s sequential: p50 %7.0f us  p99 %7.0f us  p99.9 %7.0f us  %7.0f ops/s  (%zu ops)\n", name, r->p50,
	       r->p99, r->p999, r->ops, r->n);
	printf("%-6s %2d clients:  p50 %7.0f us  p99 %7.0f us  %7.0f ops/s  (%zu ops)\n", name, clients, r->cp50, r->cp99,
	       r->cops, r->cn);
}

int main(int argc, char **argv)
{
	int ops = 3000, clients = 16, catchup = 10000, rounds = 5;
	double seconds = 5;
	bool with_etcd = true;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			ops = 300;
			seconds = 1;
			catchup = 1000;
		} else if (strcmp(argv[i], "--catchup") == 0 && i + 1 < argc) {
			catchup = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--no-sync") == 0) {
			no_sync = true;
		} else if (strcmp(argv[i], "--no-etcd") == 0) {
			with_etcd = false;
		} else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
			ops = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
			clients = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
			rounds = atoi(argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [--ops N] [--clients C] [--seconds D] [--rounds R] [--catchup M] [--no-etcd] [--quick] "
				"[--no-sync]\n",
				argv[0]);
			return 2;
		}
	}
	char *dir = test_tmpdir("bench-cluster");

	/*
	 * Every system runs from the start; the clients visit them in turn, in rounds (measure_interleaved()).
	 * grove's first write tells the floors the sizes of its frames.
	 */
	const char *const sync_args[] = {no_sync ? "--no-sync" : NULL, NULL};
	struct grove_cluster cluster;
	grove_cluster_init(&cluster, dir, "grove", sync_args);
	int leader = grove_cluster_start(&cluster);
	if (leader < 0) {
		fprintf(stderr, "grove: no leader\n");
		grove_cluster_stop(&cluster);
		return 1;
	}
	struct grove_ctx g;
	snprintf(g.leader, sizeof(g.leader), "%s", cluster.addresses[leader]);
	struct target gt = {grove_connect, grove_write, grove_close, &g};
	void *first = grove_connect(&g);
	if (!first || !grove_write(first, 0)) {
		fprintf(stderr, "grove: the first write failed\n");
		grove_cluster_stop(&cluster);
		return 1;
	}
	grove_close(first);
	int floor_port = 0, pipe_port = 0;
	pid_t floor_pid = start_floor(dir, &floor_port), pipe_pids[3] = {0, 0, 0};
	bool pipe_up = !no_sync && start_pipeline(dir, &pipe_port, pipe_pids);
	struct target ft = {floor_connect, floor_write, floor_close, &floor_port};
	struct target pt = {floor_connect, floor_write, floor_close, &pipe_port};
	struct etcd_cluster etcd;
	struct etcd_ctx e = {0};
	struct target et = {etcd_connect, etcd_write, etcd_close, &e};
	bool etcd_up = false;
	if (with_etcd && etcd_installed()) {
		int etcd_lead = etcd_cluster_start(&etcd, dir);
		if (etcd_lead < 0) {
			fprintf(stderr, "etcd: no leader\n");
			etcd_cluster_stop(&etcd);
		} else {
			e.port = etcd.client_ports[etcd_lead];
			etcd_up = true;
		}
	}
	enum { GROVE, FLOOR, PIPE, ETCD, SYSTEMS };
	const struct target *targets[SYSTEMS] = {&gt, floor_pid ? &ft : NULL, pipe_up ? &pt : NULL, etcd_up ? &et : NULL};
	struct result res[SYSTEMS];
	measure_interleaved(targets, SYSTEMS, ops, clients, seconds, rounds, res);
	grove_cluster_stop(&cluster);
	if (floor_pid)
		bench_stop(floor_pid);
	for (int i = 0; i < 3; i++)
		if (pipe_pids[i])
			bench_stop(pipe_pids[i]);
	if (etcd_up)
		etcd_cluster_stop(&etcd);

	printf("3-node clusters on loopback, %s, 100-byte values, this machine, same run, the systems measured in "
	       "turn in %d rounds\n",
	       no_sync ? "grove WITHOUT fsync (not durable)" : "durable (fsync)", rounds);
	const struct result *gr = &res[GROVE], *fr = &res[FLOOR], *pr = &res[PIPE], *er = &res[ETCD];
	print_result("grove", gr, clients);
	if (targets[FLOOR]) {
		print_result("floor", fr, clients);
		printf("ratio  grove/floor: %d clients' throughput %.2f (a server that answers at once: %zu-byte "
		       "requests, %zu-byte replies)\n",
		       clients, fr->cops > 0 ? gr->cops / fr->cops : 0.0, request_frame_bytes, reply_frame_bytes);
	}
	if (targets[PIPE]) {
		print_result("pipe", pr, clients);
		printf("ratio  grove/pipe: sequential p50 %.2fx, p99 %.2fx; %d clients' throughput %.2f (the least a "
		       "durable 3-member pipeline does)\n",
		       pr->p50 > 0 ? gr->p50 / pr->p50 : 0.0, pr->p99 > 0 ? gr->p99 / pr->p99 : 0.0, clients,
		       pr->cops > 0 ? gr->cops / pr->cops : 0.0);
	}
	if (targets[ETCD]) {
		print_result("etcd", er, clients);
		if (gr->p50 > 0 && er->p50 > 0)
			printf("ratio  etcd/grove: sequential p50 %.2fx, p99 %.2fx; throughput grove/etcd %.2fx\n",
			       er->p50 / gr->p50, er->p99 / gr->p99, er->cops > 0 ? gr->cops / er->cops : 0.0);
	} else if (with_etcd) {
		printf("etcd is not installed (Debian package etcd-server) or did not start: no comparison\n");
	}
	if (catchup > 0) {
		double by_log = catch_up(dir, catchup, clients, "1000000");
		double by_snapshot = catch_up(dir, catchup, clients, "1000");
		printf("grove  catch-up after %d writes: %.2f s through the log, %.2f s through a snapshot\n", catchup,
		       by_log, by_snapshot);
	}
	test_rmtree(dir);
	return 0;
}
