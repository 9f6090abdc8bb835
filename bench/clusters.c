/* Clusters on loopback for the benchmarks that need one (clusters.h): groved and etcd members as children
 * that never outlive the benchmark, their leaders, and the HTTP client that speaks to etcd's JSON gateway. */
#include "clusters.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "support.h"

/* ---- children ---- */

#define MAX_CHILDREN 64

/* Every child that runs, so that an exit or a signal takes them along. Only the main thread spawns. */
static volatile pid_t children[MAX_CHILDREN];

static void forget_child(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static void kill_children(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

/* Async-signal-safe: kill and waitpid only, then die of the same signal. */
static void on_fatal_signal(int sig)
{
	kill_children();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void watch_exit_once(void)
{
	static bool installed;
	if (installed)
		return;
	installed = true;
	atexit(kill_children);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGPIPE, SIG_IGN);
}

pid_t bench_spawn(char *const argv[], const char *log)
{
	watch_exit_once();
	int slot = 0;
	while (slot < MAX_CHILDREN && children[slot] > 0)
		slot++;
	if (slot == MAX_CHILDREN) {
		fprintf(stderr, "bench: more than %d children\n", MAX_CHILDREN);
		return -1;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* A benchmark killed with SIGKILL cannot clean up: the kernel kills the child instead. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		children[slot] = pid;
	return pid;
}

int bench_wait(pid_t pid, int timeout_ms)
{
	int status = -1;
	struct timespec pause = {0, 5 * 1000000L};
	for (int waited = 0; waited < timeout_ms; waited += 5) {
		pid_t done = waitpid(pid, &status, WNOHANG);
		if (done == pid || (done < 0 && errno != EINTR)) {
			forget_child(pid);
			return done == pid ? status : -1;
		}
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	forget_child(pid);
	return -1;
}

void bench_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	bench_wait(pid, 10000);
}

int bench_wait_said(const char *log, const char *const *words, int n, int timeout_ms)
{
	/* Read at least once: a timeout of 0 asks what was said already. */
	for (int waited = 0;; waited += 10) {
		size_t len;
		char *said = test_read_file(log, &len);
		int found = -1;
		const char *first = NULL;
		for (int i = 0; said && i < n; i++) {
			const char *at = strstr(said, words[i]);
			if (at && (!first || at < first))
				first = at, found = i;
		}
		free(said);
		if (found >= 0)
			return found;
		if (waited >= timeout_ms)
			return -1;
		usleep(10000);
	}
}

/* ---- grove ---- */

void grove_cluster_init(struct grove_cluster *c, const char *dir, const char *tag, const char *const *args)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	snprintf(c->tag, sizeof(c->tag), "%s", tag);
	c->args = args;
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		c->ports[i] = test_free_port();
		snprintf(c->addresses[i], sizeof(c->addresses[i]), "127.0.0.1:%d", c->ports[i]);
		size_t n = strlen(c->peers);
		snprintf(c->peers + n, sizeof(c->peers) - n, "%s%d=%s", i ? "," : "", i + 1, c->addresses[i]);
	}
}

void grove_member_start(struct grove_cluster *c, int i)
{
	char id[16], data[4200], log[4300];
	snprintf(id, sizeof(id), "%d", i + 1);
	snprintf(data, sizeof(data), "%s/%s%d", c->dir, c->tag, i + 1);
	snprintf(log, sizeof(log), "%s.log", data);
	char *peers = c->member_peers[i][0] ? c->member_peers[i] : c->peers;
	char *argv[48] = {GROVED_PATH, "--id", id, "--peers", peers, "--data", data, "--listen", c->addresses[i]};
	int n = 9;
	for (int k = 0; c->args && c->args[k] && n < 47; k++)
		argv[n++] = (char *)c->args[k];
	argv[n] = NULL;
	c->pids[i] = bench_spawn(argv, log);
}

void grove_member_stop(struct grove_cluster *c, int i)
{
	bench_stop(c->pids[i]);
	c->pids[i] = 0;
}

int grove_cluster_start(struct grove_cluster *c)
{
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		grove_member_start(c, i);
	return grove_cluster_leader(c);
}

uint64_t grove_member_applied(const struct grove_cluster *c, int i, bool *leader)
{
	Grove__Envelope *holder;
	Grove__StatusReply *s = client_status(c->addresses[i], 2000, &holder);
	uint64_t applied = s ? s->applied_index : 0;
	if (leader)
		*leader = s && strcmp(s->role, "leader") == 0;
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	return applied;
}

int grove_cluster_leader(const struct grove_cluster *c)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		for (int i = 0; i < CLUSTER_MEMBERS; i++) {
			bool leads = false;
			if (c->pids[i] > 0)
				grove_member_applied(c, i, &leads);
			if (leads)
				return i;
		}
		usleep(100000);
	}
	return -1;
}

void grove_cluster_stop(struct grove_cluster *c)
{
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		if (c->pids[i] > 0)
			kill(c->pids[i], SIGTERM);
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		grove_member_stop(c, i);
}

/* ---- etcd ---- */

bool etcd_installed(void)
{
	return system("command -v etcd >/dev/null 2>&1") == 0;
}

/* The index of the member whose status names itself as leader, asking for up to 10 s; -1 if none. */
static int etcd_leader(const struct etcd_cluster *e)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		for (int i = 0; i < CLUSTER_MEMBERS; i++) {
			struct http_conn *h = http_connect(e->client_ports[i]);
			if (!h)
				continue;
			int status = http_post(h, "/v3/maintenance/status", "{}");
			char *member = strstr(h->buf, "\"member_id\":\""), *leader = strstr(h->buf, "\"leader\":\"");
			bool leads = status == 200 && member && leader &&
				     strncmp(member + 13, leader + 10, strcspn(leader + 10, "\"")) == 0;
			http_close(h);
			if (leads)
				return i;
		}
		usleep(100000);
	}
	return -1;
}

int etcd_cluster_start(struct etcd_cluster *e, const char *dir)
{
	char cluster[512] = "";
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		e->client_ports[i] = test_free_port();
		e->peer_ports[i] = test_free_port();
		size_t n = strlen(cluster);
		snprintf(cluster + n, sizeof(cluster) - n, "%se%d=http://127.0.0.1:%d", i ? "," : "", i + 1, e->peer_ports[i]);
	}
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		char name[8], data[4200], curl[64], purl[64], log[4300];
		snprintf(name, sizeof(name), "e%d", i + 1);
		snprintf(data, sizeof(data), "%s/etcd%d", dir, i + 1);
		snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", e->client_ports[i]);
		snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", e->peer_ports[i]);
		snprintf(log, sizeof(log), "%s.log", data);
		char *args[] = {"etcd", "--name", name, "--data-dir", data, "--listen-client-urls", curl,
				"--advertise-client-urls", curl, "--listen-peer-urls", purl,
				"--initial-advertise-peer-urls", purl, "--initial-cluster", cluster,
				"--initial-cluster-state", "new", NULL};
		e->pids[i] = bench_spawn(args, log);
	}
	return etcd_leader(e);
}

void etcd_cluster_stop(struct etcd_cluster *e)
{
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		if (e->pids[i] > 0)
			kill(e->pids[i], SIGTERM);
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		bench_stop(e->pids[i]);
		e->pids[i] = 0;
	}
}

/* ---- HTTP ---- */

struct http_conn *http_connect(int port)
{
	struct http_conn *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int one = 1;
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A member that hangs must not hang the benchmark. */
	struct timeval limit = {10, 0};
	setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
	setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	if (h->fd < 0 || connect(h->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		http_close(h);
		return NULL;
	}
	return h;
}

int http_send_post(struct http_conn *h, const char *path, const char *body)
{
	char req[2048];
	int n = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 path, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -1;
	return send(h->fd, req, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

int http_post(struct http_conn *h, const char *path, const char *body)
{
	if (http_send_post(h, path, body))
		return -1;
	h->len = 0;
	while (h->len < sizeof(h->buf) - 1) {
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
	return -1;
}

void http_close(struct http_conn *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(const char *in, size_t n, char *out)
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

size_t base64_decode(const char *in, size_t n, char *out)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n && in[i] != '='; i++) {
		const char *at = strchr(b64, in[i]);
		if (!at || !in[i])
			break;
		acc = acc << 6 | (uint32_t)(at - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	return o;
}

struct grove_client *grove_cluster_start_connected(struct grove_cluster *c, int *leader)
{
	*leader = grove_cluster_start(c);
	struct grove_client *cl = NULL;
	if (*leader < 0 || grove_client_connect(c->addresses[*leader], NULL, 10000, &cl, NULL, 0)) {
		fprintf(stderr, "%s: no leader\n", c->tag);
		grove_cluster_stop(c);
		return NULL;
	}
	return cl;
}

void grove_shard_leaders(struct grove_client *cl, char *out, size_t cap)
{
	Grove__Envelope *holder;
	Grove__ShardReply *sr = client_shard_list(cl, &holder);
	snprintf(out, cap, "?");
	for (size_t i = 0, n = 0; sr && i < sr->n_shards && n < cap; i++) {
		const Grove__ShardInfo *s = sr->shards[i];
		int w = snprintf(out + n, cap - n, "%s%s: member %" PRIu64, i ? ", " : "", s->path, s->leader_id);
		n += w > 0 ? (size_t)w : 0;
	}
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
}

/* A shard request about @p path (and member @p node) through @p cl: whether it was done. */
static bool shard_request(struct grove_client *cl, Grove__ShardRequest__Op op, const char *path, uint64_t node)
{
	Grove__ShardRequest rq = GROVE__SHARD_REQUEST__INIT;
	rq.op = op;
	rq.path = (char *)path;
	rq.node = node;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply = NULL;
	env.body_case = GROVE__ENVELOPE__BODY_SHARD;
	env.shard = &rq;
	bool ok = grove_client_call(cl, &env, &reply) == GROVE_OK &&
		  reply->body_case == GROVE__ENVELOPE__BODY_SHARD_REPLY && reply->shard_reply->code == 0;
	if (reply)
		grove__envelope__free_unpacked(reply, NULL);
	return ok;
}

/* Whether member @p node leads the shard whose root is @p path, as the member @p cl talks to sees it. */
static bool shard_led_by(struct grove_client *cl, const char *path, uint64_t node)
{
	Grove__Envelope *holder;
	Grove__ShardReply *sr = client_shard_list(cl, &holder);
	bool leads = false;
	for (size_t i = 0; sr && i < sr->n_shards; i++)
		leads = leads || (strcmp(sr->shards[i]->path, path) == 0 && sr->shards[i]->leader_id == node);
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	return leads;
}

bool grove_shard_lead(struct grove_client *cl, const char *path, uint64_t node)
{
	/* A shard just split off may have no leader yet, or elect @p node itself: ask until it leads. */
	for (int tries = 0; tries < 100; tries++) {
		if (shard_led_by(cl, path, node))
			return true;
		if (tries % 10 == 0)
			shard_request(cl, GROVE__SHARD_REQUEST__OP__TRANSFER_LEADER, path, node);
		usleep(100000);
	}
	return false;
}

bool grove_shard_split(struct grove_client *cl, const char *path)
{
	return shard_request(cl, GROVE__SHARD_REQUEST__OP__SPLIT, path, 0);
}
