/* Commit latency of a durable 3-node cluster on loopback, grove against etcd in the same invocation:
 *   1. one client sending sequential 100-byte writes (p50 / p99 / p99.9, ops/s);
 *   2. C concurrent clients for D seconds (ops/s, p50 / p99).
 * grove: three groved processes with --peers, a set-property per write, the client at the leader.
 * etcd: three members of Debian's etcd (3.4) on loopback ports, a put per write through the v3 JSON gateway
 * with a keep-alive HTTP/1.1 client at the leader. Not a test: it prints figures.
 *
 * Then the catch-up of a follower that was down while the leader took M writes (default 10,000): the time
 * from its restart until it has applied them all, through the log, and through a snapshot (the leader
 * compacts its log past the follower).
 *
 *   grove_bench_cluster [--ops N] [--clients C] [--seconds D] [--catchup M] [--no-etcd] [--quick] [--no-sync]
 *
 * --no-sync runs groved without fsync (NOT durable): the difference to a durable run is the disks' share
 * of the latency.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "stats.h"
#include "support.h"

#define NODES 3

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop_all(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
}

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

static void measure(const struct target *t, int ops, int clients, double seconds, struct result *r)
{
	memset(r, 0, sizeof(*r));
	void *conn = t->connect(t->ctx);
	if (!conn)
		return;
	uint64_t *lat = calloc((size_t)ops, sizeof(*lat));
	uint64_t t0 = now_ns();
	for (int i = 0; i < ops; i++) {
		uint64_t ns = t->write(conn, i);
		if (!ns)
			break;
		lat[r->n++] = ns;
	}
	double elapsed = (double)(now_ns() - t0) / 1e9;
	t->close(conn);
	qsort(lat, r->n, sizeof(*lat), cmp_u64);
	r->p50 = pct(lat, r->n, 0.5);
	r->p99 = pct(lat, r->n, 0.99);
	r->p999 = pct(lat, r->n, 0.999);
	r->ops = (double)r->n / elapsed;
	free(lat);
	struct worker *w = calloc((size_t)clients, sizeof(*w));
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	uint64_t start = now_ns();
	for (int i = 0; i < clients; i++) {
		w[i] = (struct worker){.t = t, .deadline = start + (uint64_t)(seconds * 1e9), .cap = 1000000,
				       .base = 1000000 * (i + 1)};
		w[i].lat = calloc(w[i].cap, sizeof(uint64_t));
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	size_t total = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		total += w[i].n;
	}
	elapsed = (double)(now_ns() - start) / 1e9;
	uint64_t *all = calloc(total + 1, sizeof(*all));
	size_t k = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + k, w[i].lat, w[i].n * sizeof(uint64_t));
		k += w[i].n;
		free(w[i].lat);
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	r->cn = total;
	r->cops = (double)total / elapsed;
	r->cp50 = pct(all, total, 0.5);
	r->cp99 = pct(all, total, 0.99);
	free(all);
	free(w);
	free(th);
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

static int grove_leader(const int *ports, char *out, size_t cap)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		for (int i = 0; i < NODES; i++) {
			char address[32];
			snprintf(address, sizeof(address), "127.0.0.1:%d", ports[i]);
			struct grove_client *c;
			if (grove_client_connect(address, NULL, 2000, &c, NULL, 0))
				continue;
			Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
			Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
			env.body_case = GROVE__ENVELOPE__BODY_STATUS;
			env.status = &sr;
			bool leader = false;
			if (grove_client_call(c, &env, &reply) == GROVE_OK) {
				leader = reply->body_case == GROVE__ENVELOPE__BODY_STATUS_REPLY &&
					 strcmp(reply->status_reply->role, "leader") == 0;
				grove__envelope__free_unpacked(reply, NULL);
			}
			grove_client_close(c);
			if (leader) {
				snprintf(out, cap, "%s", address);
				return 0;
			}
		}
		usleep(100000);
	}
	return -1;
}

/* ---- follower catch-up ---- */

static uint64_t applied_of(int port, bool *leader)
{
	char address[32];
	snprintf(address, sizeof(address), "127.0.0.1:%d", port);
	struct grove_client *c;
	if (grove_client_connect(address, NULL, 2000, &c, NULL, 0))
		return 0;
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	uint64_t applied = 0;
	if (grove_client_call(c, &env, &reply) == GROVE_OK) {
		if (reply->body_case == GROVE__ENVELOPE__BODY_STATUS_REPLY) {
			applied = reply->status_reply->applied_index;
			if (leader)
				*leader = strcmp(reply->status_reply->role, "leader") == 0;
		}
		grove__envelope__free_unpacked(reply, NULL);
	}
	grove_client_close(c);
	return applied;
}

static pid_t start_node(const char *dir, int i, const int *ports, const char *peers, const char *compact_at)
{
	char id[16], data[4096], listen[32], log[4096];
	snprintf(id, sizeof(id), "%d", i + 1);
	snprintf(data, sizeof(data), "%s/catchup%d", dir, i + 1);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", ports[i]);
	snprintf(log, sizeof(log), "%s/catchup%d.log", dir, i + 1);
	char *args[] = {GROVED_PATH, "--id", id, "--peers", (char *)peers, "--data", data, "--listen", listen,
			"--raft-compact-at", (char *)compact_at, NULL};
	return spawn(args, log);
}

/* Seconds from the follower's restart until it applied everything, or -1. */
static double catch_up(const char *dir, int writes, int clients, const char *compact_at)
{
	char sub[4096];
	snprintf(sub, sizeof(sub), "%s/catchup-%s", dir, compact_at);
	mkdir(sub, 0755);
	int ports[NODES];
	char peers[256] = "";
	for (int i = 0; i < NODES; i++) {
		ports[i] = test_free_port();
		size_t n = strlen(peers);
		snprintf(peers + n, sizeof(peers) - n, "%s%d=127.0.0.1:%d", i ? "," : "", i + 1, ports[i]);
	}
	pid_t pids[NODES];
	for (int i = 0; i < NODES; i++)
		pids[i] = start_node(sub, i, ports, peers, compact_at);
	struct grove_ctx g;
	double result = -1;
	if (grove_leader(ports, g.leader, sizeof(g.leader)) == 0) {
		int leader = atoi(strrchr(g.leader, ':') + 1), follower = -1;
		for (int i = 0; i < NODES && follower < 0; i++)
			if (ports[i] != leader)
				follower = i;
		kill(pids[follower], SIGTERM);
		waitpid(pids[follower], NULL, 0);
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
		uint64_t target = applied_of(leader, NULL);
		uint64_t t0 = now_ns();
		pids[follower] = start_node(sub, follower, ports, peers, compact_at);
		while (now_ns() - t0 < 120000000000ull) {
			if (applied_of(ports[follower], NULL) >= target) {
				result = (double)(now_ns() - t0) / 1e9;
				break;
			}
			usleep(5000);
		}
	}
	stop_all(pids, NODES);
	return result;
}

/* ---- etcd through its v3 JSON gateway ---- */

struct etcd_ctx {
	int port; /* the leader's client port */
};

struct http_conn {
	int fd;
	char buf[65536];
	size_t len;
};

static void *etcd_connect(void *ctx)
{
	struct etcd_ctx *e = ctx;
	struct http_conn *h = calloc(1, sizeof(*h));
	h->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e->port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int one = 1;
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(h->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(h->fd);
		free(h);
		return NULL;
	}
	return h;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64(const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(uint8_t)in[i] << 16 | (i + 1 < n ? (uint32_t)(uint8_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? (uint8_t)in[i + 2] : 0);
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* POST @p body to @p path and read one whole response; returns the status code or -1. */
static int http_post(struct http_conn *h, const char *path, const char *body)
{
	char req[2048];
	int n = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 path, strlen(body), body);
	if (send(h->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	h->len = 0;
	for (;;) {
		ssize_t got = recv(h->fd, h->buf + h->len, sizeof(h->buf) - 1 - h->len, 0);
		if (got <= 0)
			return -1;
		h->len += (size_t)got;
		h->buf[h->len] = '\0';
		char *end = strstr(h->buf, "\r\n\r\n");
		if (!end)
			continue;
		char *cl = strstr(h->buf, "Content-Length:");
		size_t want = cl ? (size_t)atol(cl + 15) : 0;
		if (h->len >= (size_t)(end + 4 - h->buf) + want)
			return atoi(h->buf + 9);
	}
}

static uint64_t etcd_write(void *conn, int i)
{
	char key[32], value[101], kb[64], vb[160], body[512];
	snprintf(key, sizeof(key), "p%d", i % 1000);
	memset(value, 'v', 100);
	base64(key, strlen(key), kb);
	base64(value, 100, vb);
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
	uint64_t t0 = now_ns();
	int status = http_post(conn, "/v3/kv/put", body);
	uint64_t t1 = now_ns();
	return status == 200 ? t1 - t0 : 0;
}

static void etcd_close(void *conn)
{
	struct http_conn *h = conn;
	close(h->fd);
	free(h);
}

/* The client port of the member that leads. */
static int etcd_leader(const int *client_ports)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		for (int i = 0; i < NODES; i++) {
			struct etcd_ctx e = {client_ports[i]};
			struct http_conn *h = etcd_connect(&e);
			if (!h)
				continue;
			int status = http_post(h, "/v3/maintenance/status", "{}");
			char *member = strstr(h->buf, "\"member_id\":\""), *leader = strstr(h->buf, "\"leader\":\"");
			bool is_leader = status == 200 && member && leader &&
					 strncmp(member + 13, leader + 10, strcspn(leader + 10, "\"")) == 0;
			etcd_close(h);
			if (is_leader)
				return client_ports[i];
		}
		usleep(100000);
	}
	return -1;
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
	int ops = 3000, clients = 16, catchup = 10000;
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
		} else {
			fprintf(stderr,
				"usage: %s [--ops N] [--clients C] [--seconds D] [--catchup M] [--no-etcd] [--quick] [--no-sync]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	char *dir = test_tmpdir("bench-cluster");

	/* grove */
	int ports[NODES];
	char peers[256] = "";
	for (int i = 0; i < NODES; i++) {
		ports[i] = test_free_port();
		size_t n = strlen(peers);
		snprintf(peers + n, sizeof(peers) - n, "%s%d=127.0.0.1:%d", i ? "," : "", i + 1, ports[i]);
	}
	pid_t pids[NODES];
	for (int i = 0; i < NODES; i++) {
		char id[8], data[4096], listen[32], log[4096];
		snprintf(id, sizeof(id), "%d", i + 1);
		snprintf(data, sizeof(data), "%s/grove%d", dir, i + 1);
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", ports[i]);
		snprintf(log, sizeof(log), "%s/grove%d.log", dir, i + 1);
		char *args[] = {GROVED_PATH, "--id", id, "--peers", peers, "--data", data, "--listen", listen,
				no_sync ? "--no-sync" : NULL, NULL};
		pids[i] = spawn(args, log);
	}
	struct grove_ctx g;
	if (grove_leader(ports, g.leader, sizeof(g.leader))) {
		fprintf(stderr, "grove: no leader\n");
		stop_all(pids, NODES);
		return 1;
	}
	struct target gt = {grove_connect, grove_write, grove_close, &g};
	struct result gr;
	measure(&gt, ops, clients, seconds, &gr);
	stop_all(pids, NODES);
	printf("3-node clusters on loopback, %s, 100-byte values, this machine, same run\n",
	       no_sync ? "grove WITHOUT fsync (not durable)" : "durable (fsync)");
	print_result("grove", &gr, clients);
	if (catchup > 0) {
		double by_log = catch_up(dir, catchup, clients, "1000000");
		double by_snapshot = catch_up(dir, catchup, clients, "1000");
		printf("grove  catch-up after %d writes: %.2f s through the log, %.2f s through a snapshot\n", catchup,
		       by_log, by_snapshot);
	}

	/* etcd */
	if (with_etcd && system("command -v etcd >/dev/null 2>&1") == 0) {
		int cport[NODES], pport[NODES];
		char cluster[512] = "";
		for (int i = 0; i < NODES; i++) {
			cport[i] = test_free_port();
			pport[i] = test_free_port();
			size_t n = strlen(cluster);
			snprintf(cluster + n, sizeof(cluster) - n, "%se%d=http://127.0.0.1:%d", i ? "," : "", i + 1, pport[i]);
		}
		for (int i = 0; i < NODES; i++) {
			char name[8], data[4096], curl[64], purl[64], log[4096];
			snprintf(name, sizeof(name), "e%d", i + 1);
			snprintf(data, sizeof(data), "%s/etcd%d", dir, i + 1);
			snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", cport[i]);
			snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport[i]);
			snprintf(log, sizeof(log), "%s/etcd%d.log", dir, i + 1);
			char *args[] = {"etcd", "--name", name, "--data-dir", data, "--listen-client-urls", curl,
					"--advertise-client-urls", curl, "--listen-peer-urls", purl,
					"--initial-advertise-peer-urls", purl, "--initial-cluster", cluster,
					"--initial-cluster-state", "new", NULL};
			pids[i] = spawn(args, log);
		}
		struct etcd_ctx e = {etcd_leader(cport)};
		if (e.port < 0) {
			fprintf(stderr, "etcd: no leader\n");
		} else {
			struct target et = {etcd_connect, etcd_write, etcd_close, &e};
			struct result er;
			measure(&et, ops, clients, seconds, &er);
			print_result("etcd", &er, clients);
			if (gr.p50 > 0 && er.p50 > 0)
				printf("ratio  etcd/grove: sequential p50 %.2fx, p99 %.2fx; throughput grove/etcd %.2fx\n",
				       er.p50 / gr.p50, er.p99 / gr.p99, gr.cops / er.cops);
		}
		stop_all(pids, NODES);
	} else if (with_etcd) {
		printf("etcd is not installed (Debian package etcd-server): no comparison\n");
	}
	test_rmtree(dir);
	return 0;
}
