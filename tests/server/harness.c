#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "support.h"

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	abort();
}

/* In the child: limits, environment and the command line of @p o, then exec. */
static void exec_groved(char *data_dir, const struct groved_opts *o)
{
	if (o->nofile > 0) {
		struct rlimit rl = {(rlim_t)o->nofile, (rlim_t)o->nofile};
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			_exit(126);
	}
	if (o->asan_options) {
		const char *was = getenv("ASAN_OPTIONS");
		char opts[1024];
		snprintf(opts, sizeof(opts), "%s%s%s", was ? was : "", was && *was ? ":" : "", o->asan_options);
		setenv("ASAN_OPTIONS", opts, 1);
	}
	const char *argv[96];
	size_t n = 0;
	for (size_t i = 0; o->wrapper && o->wrapper[i] && n < 32; i++)
		argv[n++] = o->wrapper[i];
	const char *own[] = {GROVED_PATH, "--data", data_dir, "--listen",
			     o->listen ? o->listen : "127.0.0.1:0"};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		argv[n++] = own[i];
	if (o->token) {
		argv[n++] = "--token";
		argv[n++] = o->token;
	}
	for (size_t i = 0; o->args && o->args[i] && n < 94; i++)
		argv[n++] = o->args[i];
	argv[n] = NULL;
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

/* Fork groved: its standard error goes to DATA_DIR.log, its standard output to @p out (-1: the log too). */
static pid_t fork_groved(char *data_dir, const struct groved_opts *o, int out)
{
	char log_path[4096];
	snprintf(log_path, sizeof(log_path), "%s.log", data_dir);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (out >= 0)
			dup2(out, 1);
		else if (log >= 0)
			dup2(log, 1);
		if (log >= 0)
			dup2(log, 2);
		exec_groved(data_dir, o);
	}
	return pid;
}

int groved_run_to_exit(char *data_dir, const struct groved_opts *o, int timeout_s)
{
	static const struct groved_opts none;
	pid_t pid = fork_groved(data_dir, o ? o : &none, -1);
	for (int i = 0; i < timeout_s * 20; i++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

void groved_start(struct groved_proc *p, char *data_dir, const char *token)
{
	struct groved_opts o = {.token = token};
	groved_start_opts(p, data_dir, &o);
}

void groved_start_opts(struct groved_proc *p, char *data_dir, const struct groved_opts *o)
{
	int out[2];
	if (pipe2(out, O_CLOEXEC) != 0) /* groved keeps only its standard output (the dup) */
		die("pipe");
	char log_path[4096];
	snprintf(log_path, sizeof(log_path), "%s.log", data_dir);
	pid_t pid = fork_groved(data_dir, o, out[1]);
	close(out[1]);
	char line[256] = "";
	size_t len = 0;
	time_t deadline = time(NULL) + 10;
	while (!strchr(line, '\n') && time(NULL) < deadline && len < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = out[0], .events = POLLIN};
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	close(out[0]);
	int port = 0;
	if (sscanf(line, "listening on 127.0.0.1:%d", &port) != 1 || port <= 0) {
		fprintf(stderr, "harness: groved did not start (said \"%s\"); see %s\n", line, log_path);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		abort();
	}
	p->pid = pid;
	p->port = port;
	p->data_dir = data_dir;
	snprintf(p->address, sizeof(p->address), "127.0.0.1:%d", port);
}

pid_t groved_child(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int child = 0;
	if (fscanf(f, "%d", &child) != 1)
		child = 0;
	fclose(f);
	return (pid_t)child;
}

/* Read one whole frame from @p fd into @p buf (at most 5 s); its payload length, or -1. */
static long read_one_frame(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0, want = 4;
	time_t deadline = time(NULL) + 5;
	while (got < want && time(NULL) <= deadline) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		if (got >= 4)
			want = 4 + ((size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16 | (size_t)buf[3] << 24);
		if (want > cap)
			return -1;
	}
	return got >= want ? (long)(want - 4) : -1;
}

struct groved_fixture *groved_fixture_new(const char *tag, const struct groved_opts *o)
{
	struct groved_fixture *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->dir = test_tmpdir(tag);
	if (asprintf(&f->data, "%s/data", f->dir) < 0)
		abort();
	struct groved_opts none = {0};
	groved_start_opts(&f->server, f->data, o ? o : &none);
	return f;
}

void groved_fixture_free(struct groved_fixture *f)
{
	if (!f)
		return;
	groved_kill(&f->server);
	free(f->data);
	test_rmtree(f->dir);
	free(f);
}

long proc_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = strlen(field);
	long kib = -1;
	while (kib < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':' && sscanf(line + n + 1, " %ld kB", &kib) != 1)
			kib = -1;
	fclose(f);
	return kib;
}

bool groved_metric(int port, const char *name, uint64_t *value)
{
	static const char get[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    send(fd, get, sizeof(get) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(get) - 1)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	static char body[1 << 16];
	size_t got = 0;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (ssize_t n; got < sizeof(body) - 1 && (n = recv(fd, body + got, sizeof(body) - 1 - got, 0)) > 0;)
		got += (size_t)n;
	close(fd);
	body[got] = '\0';
	size_t len = strlen(name);
	for (const char *line = body; line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (strncmp(line, name, len) == 0 && line[len] == ' ') {
			*value = strtoull(line + len + 1, NULL, 10);
			return true;
		}
	return false;
}

bool groved_inflight_metrics(int port, uint64_t *peak, uint64_t *pauses)
{
	return groved_metric(port, "grove_client_requests_in_flight_peak", peak) &&
	       groved_metric(port, "grove_client_inflight_pauses_total", pauses);
}

int raw_client(int port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	Grove__Hello hello = GROVE__HELLO__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.version = 1;
	env.request_id = 1;
	env.body_case = GROVE__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	uint8_t frame[256];
	size_t len = grove__envelope__pack(&env, frame + 4);
	frame[0] = (uint8_t)len, frame[1] = frame[2] = frame[3] = 0;
	Grove__Envelope *reply = NULL;
	long n;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    send(fd, frame, len + 4, MSG_NOSIGNAL) == (ssize_t)(len + 4) &&
	    (n = read_one_frame(fd, frame, sizeof(frame))) >= 0)
		reply = grove__envelope__unpack(NULL, (size_t)n, frame + 4);
	bool ok = reply && reply->body_case == GROVE__ENVELOPE__BODY_HELLO_REPLY;
	if (reply)
		grove__envelope__free_unpacked(reply, NULL);
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

int client_set_int(struct grove_client *c, const char *node, const char *prop, int64_t value)
{
	struct variant v;
	variant_set_int(&v, value);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = node}, .name = prop, .value = &v};
	return client_write_ops(c, &op, 1);
}

Grove__ShardReply *client_shard_list(struct grove_client *c, Grove__Envelope **holder)
{
	Grove__ShardRequest rq = GROVE__SHARD_REQUEST__INIT;
	rq.op = GROVE__SHARD_REQUEST__OP__LIST;
	rq.path = "";
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SHARD;
	env.shard = &rq;
	*holder = NULL;
	if (grove_client_call(c, &env, holder) != GROVE_OK)
		return NULL;
	return (*holder)->body_case == GROVE__ENVELOPE__BODY_SHARD_REPLY ? (*holder)->shard_reply : NULL;
}

Grove__Envelope *client_shard_call(struct grove_client *c, Grove__ShardRequest__Op op, const char *path, uint64_t node)
{
	Grove__ShardRequest rq = GROVE__SHARD_REQUEST__INIT;
	rq.op = op;
	rq.path = (char *)(path ? path : "");
	rq.node = node;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_SHARD;
	env.shard = &rq;
	return grove_client_call(c, &env, &reply) == GROVE_OK ? reply : NULL;
}

/* The group of the shard whose root is @p path and its leader, as the member @p c talks to sees them (0, 0: none). */
static void shard_at(struct grove_client *c, const char *path, uint64_t *group, uint64_t *leader)
{
	Grove__Envelope *holder;
	Grove__ShardReply *sr = client_shard_list(c, &holder);
	*group = *leader = 0;
	for (size_t i = 0; sr && i < sr->n_shards; i++)
		if (strcmp(sr->shards[i]->path, path) == 0) {
			*group = sr->shards[i]->group;
			*leader = sr->shards[i]->leader_id;
		}
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
}

uint64_t client_shard_leader(struct grove_client *c, const char *path)
{
	uint64_t group, leader;
	shard_at(c, path, &group, &leader);
	return leader;
}

uint64_t client_shard_group(struct grove_client *c, const char *path)
{
	uint64_t group, leader;
	shard_at(c, path, &group, &leader);
	return group;
}

int client_shard_split(struct grove_client *c, const char *path, uint64_t *group)
{
	Grove__ShardRequest rq = GROVE__SHARD_REQUEST__INIT;
	rq.op = GROVE__SHARD_REQUEST__OP__SPLIT;
	rq.path = (char *)path;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply = NULL;
	env.body_case = GROVE__ENVELOPE__BODY_SHARD;
	env.shard = &rq;
	if (grove_client_call(c, &env, &reply) != GROVE_OK)
		return -1;
	int code = reply->body_case == GROVE__ENVELOPE__BODY_SHARD_REPLY ? (int)reply->shard_reply->code : -1;
	if (group && code == GROVE_OK)
		*group = reply->shard_reply->group;
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

Grove__ReadReply *client_read(struct grove_client *c, const char *path, uint32_t depth, bool with_props,
			      Grove__Envelope **holder)
{
	Grove__NodeRef ref = GROVE__NODE_REF__INIT;
	ref.path = (char *)path;
	Grove__ReadRequest rq = GROVE__READ_REQUEST__INIT;
	rq.node = &ref;
	rq.depth = depth;
	rq.with_props = with_props;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_READ;
	env.read = &rq;
	*holder = NULL;
	if (grove_client_call(c, &env, holder) != GROVE_OK)
		return NULL;
	return (*holder)->body_case == GROVE__ENVELOPE__BODY_READ_REPLY ? (*holder)->read_reply : NULL;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int client_write_ops(struct grove_client *c, const struct tree_op *ops, size_t n)
{
	uint64_t ns;
	return client_write_ops_timed(c, ops, n, &ns);
}

/* A write of @p ops with submit key @p key (NULL: none): its code (-1: no reply), time and applied index. */
static int write_batch(struct grove_client *c, const char *key, const struct tree_op *ops, size_t n, uint64_t *ns,
		       uint64_t *index)
{
	*ns = 0;
	if (index)
		*index = 0;
	struct wire_request wr;
	if (wire_encode_batch(ops, n, &wr))
		return -1;
	if (key)
		wr.req.submit_key = (char *)key;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	uint64_t t0 = monotonic_ns();
	int err = grove_client_call(c, &env, &reply);
	*ns = monotonic_ns() - t0;
	wire_request_free(&wr);
	if (err)
		return -1;
	int code = reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY ? (int)reply->write_reply->code : -1;
	if (index && code == 0)
		*index = reply->write_reply->applied_index;
	if (code && getenv("GROVE_TEST_VERBOSE"))
		fprintf(stderr, "write refused (%d): %s\n", code,
			reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY ? reply->write_reply->message
			: reply->body_case == GROVE__ENVELOPE__BODY_ERROR     ? reply->error->message
									      : "?");
	grove__envelope__free_unpacked(reply, NULL);
	return code;
}

int client_write_ops_timed(struct grove_client *c, const struct tree_op *ops, size_t n, uint64_t *ns)
{
	return write_batch(c, NULL, ops, n, ns, NULL);
}

int client_write_keyed(struct grove_client *c, const char *key, const struct tree_op *ops, size_t n, uint64_t *index)
{
	uint64_t ns;
	return write_batch(c, key, ops, n, &ns, index);
}

Grove__StatusReply *client_status(const char *address, int timeout_ms, Grove__Envelope **holder)
{
	struct grove_client *c;
	*holder = NULL;
	if (grove_client_connect(address, NULL, timeout_ms, &c, NULL, 0))
		return NULL;
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	int err = grove_client_call(c, &env, holder);
	grove_client_close(c);
	return err || (*holder)->body_case != GROVE__ENVELOPE__BODY_STATUS_REPLY ? NULL : (*holder)->status_reply;
}

int groved_stop(struct groved_proc *p)
{
	int status = -1;
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, &status, 0);
		p->pid = 0;
	}
	return status;
}

void groved_kill(struct groved_proc *p)
{
	if (p->pid > 0) {
		pid_t child = groved_child(p->pid);
		if (child > 0)
			kill(child, SIGKILL);
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* Read both pipes to the end (or the deadline), keeping what fits. */
static void drain(int out_fd, int err_fd, struct cli_result *r, pid_t pid)
{
	size_t out_len = 0, err_len = 0;
	bool out_open = true, err_open = true;
	time_t deadline = time(NULL) + 30;
	while ((out_open || err_open) && time(NULL) < deadline) {
		struct pollfd pfd[2] = {{.fd = out_open ? out_fd : -1, .events = POLLIN},
					{.fd = err_open ? err_fd : -1, .events = POLLIN}};
		if (poll(pfd, 2, 1000) <= 0)
			continue;
		char buf[4096];
		for (int i = 0; i < 2; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				if (i == 0)
					out_open = false;
				else
					err_open = false;
				continue;
			}
			char *dst = i == 0 ? r->out : r->err;
			size_t cap = i == 0 ? sizeof(r->out) : sizeof(r->err);
			size_t *len = i == 0 ? &out_len : &err_len;
			size_t take = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
			memcpy(dst + *len, buf, take);
			*len += take;
			dst[*len] = '\0';
		}
	}
	if (out_open || err_open)
		kill(pid, SIGKILL);
}

static void cli_run_va(const char *servers, struct cli_result *r, va_list ap)
{
	const char *args[64] = {"grove", "--server", servers};
	int n = 3;
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 63)
		args[n++] = a;
	args[n] = NULL;
	int out[2], err[2];
	if (pipe(out) != 0 || pipe(err) != 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		close(out[1]);
		close(err[1]);
		execv(GROVE_CLI_PATH, (char *const *)args);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	memset(r, 0, sizeof(*r));
	drain(out[0], err[0], r, pid);
	close(out[0]);
	close(err[0]);
	int status;
	waitpid(pid, &status, 0);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void cli_run(const struct groved_proc *p, struct cli_result *r, ...)
{
	va_list ap;
	va_start(ap, r);
	cli_run_va(p->address, r, ap);
	va_end(ap);
}

void cli_run_at(const char *servers, struct cli_result *r, ...)
{
	va_list ap;
	va_start(ap, r);
	cli_run_va(servers, r, ap);
	va_end(ap);
}

int client_subscribe(struct grove_client *c, const char *path, bool resume, uint64_t from)
{
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = (char *)path;
	rq.tscn = true;
	rq.resume = resume;
	rq.from = from;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	return grove_client_send(c, &env);
}
