/* What groved's loop promises to protect it from its clients, checked on a real groved on 127.0.0.1:
 * bounded output under clients that pipeline requests and never read the replies, running out of file
 * descriptors, epoll work that does not grow with idle connections, the pre-handshake frame limit and
 * deadline, idle connections, and bounded requests in flight. Every load loop here is bounded in count
 * and in time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "support.h"

enum { NODES = 3 };

struct fixture {
	char *dir;
	char *data;
	struct groved_proc server;
	struct groved_proc node[NODES + 1]; /* a cluster's members, 1..NODES */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("limits");
	if (asprintf(&f->data, "%s/data", f->dir) < 0)
		abort();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	groved_kill(&f->server);
	for (int i = 1; i <= NODES; i++)
		groved_kill(&f->node[i]); /* stopped ones too */
	free(f->data);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

/* ---- measuring ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Resident memory of @p pid in KiB (VmRSS), -1 once it is gone. */
static long rss_kib(pid_t pid)
{
	return proc_status_kib(pid, "VmRSS");
}

/* CPU time of @p pid (user + system, every thread) in clock ticks. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The fields after the command name, which may hold anything, start after the last ')'. */
	const char *p = strrchr(buf, ')');
	unsigned long utime, stime;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
		return -1;
	return (long)(utime + stime);
}

/* Lines of groved's log that contain @p needle. */
static int log_count(const struct fixture *f, const char *needle)
{
	char path[4096], line[1024];
	snprintf(path, sizeof(path), "%s.log", f->data);
	FILE *log = fopen(path, "r");
	if (!log)
		return -1;
	int n = 0;
	while (fgets(line, sizeof(line), log))
		n += strstr(line, needle) != NULL;
	fclose(log);
	return n;
}

/* ---- raw connections ---- */

/* Room for @p want sockets in this process, or the test is skipped. */
static void need_descriptors(unsigned long want)
{
	if (test_raise_nofile(want) < want)
		skip();
}

/* A plain TCP connection to groved (no hello), or -1. */
static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* @p env as a frame in @p out (4-byte length, then the packed envelope); returns its size. */
static size_t pack_frame(Grove__Envelope *env, uint8_t *out, size_t cap)
{
	env->version = 1;
	size_t len = grove__envelope__get_packed_size(env);
	assert_true(len + 4 <= cap);
	grove__envelope__pack(env, out + 4);
	out[0] = (uint8_t)len, out[1] = (uint8_t)(len >> 8), out[2] = (uint8_t)(len >> 16), out[3] = (uint8_t)(len >> 24);
	return len + 4;
}

static size_t status_frame(uint8_t *out, size_t cap)
{
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = 7;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	return pack_frame(&env, out, cap);
}

static size_t read_frame(uint8_t *out, size_t cap, const char *path)
{
	Grove__NodeRef ref = GROVE__NODE_REF__INIT;
	ref.path = (char *)path;
	Grove__ReadRequest rq = GROVE__READ_REQUEST__INIT;
	rq.node = &ref;
	rq.depth = 1;
	rq.with_props = true;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = 9;
	env.body_case = GROVE__ENVELOPE__BODY_READ;
	env.read = &rq;
	return pack_frame(&env, out, cap);
}

/* Whether the server closed @p fd within @p ms (what it sent before is read and dropped). */
static bool closed_within(int fd, int ms)
{
	int64_t deadline = now_ms() + ms;
	char buf[4096];
	for (;;) {
		int left = (int)(deadline - now_ms());
		if (left <= 0)
			return false;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

/* One status round trip on @p c; its time in ms, or -1 if it failed. */
static int64_t timed_status(struct grove_client *c)
{
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	int64_t t0 = now_ms();
	if (grove_client_call(c, &env, &reply) != GROVE_OK)
		return -1;
	bool ok = reply->body_case == GROVE__ENVELOPE__BODY_STATUS_REPLY;
	grove__envelope__free_unpacked(reply, NULL);
	return ok ? now_ms() - t0 : -1;
}

static struct grove_client *connect_ok(const struct groved_proc *p)
{
	struct grove_client *c;
	char error[256] = "";
	int err = grove_client_connect(p->address, NULL, 5000, &c, error, sizeof(error));
	if (err)
		print_error("cannot connect to %s: %s\n", p->address, error);
	assert_int_equal(err, GROVE_OK);
	return c;
}

/* A client that asks for status every few ms and notes how it went. */
struct prober {
	const char *address;
	int interval_ms;
	bool stop;            /* set by the test */
	int answers, failures;
	int64_t worst_ms;
};

static void *probe(void *arg)
{
	struct prober *p = arg;
	struct grove_client *c;
	if (grove_client_connect(p->address, NULL, 5000, &c, NULL, 0)) {
		p->failures++;
		return NULL;
	}
	int64_t end = now_ms() + 60000; /* bounded even if the test never says stop */
	while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST) && now_ms() < end) {
		int64_t ms = timed_status(c);
		if (ms < 0) {
			p->failures++;
			break;
		}
		p->answers++;
		if (ms > p->worst_ms)
			p->worst_ms = ms;
		usleep((useconds_t)p->interval_ms * 1000);
	}
	grove_client_close(c);
	return NULL;
}

/* ---- 1. bounded output ---- */

enum { FLOODERS = 50, OUTPUT_MAX = 256 << 10, STALL_S = 2, BIG_PROPS = 32 };

/* Clients that pipeline requests as fast as the socket takes them and never read a reply. */
struct flood {
	int n;
	int64_t seconds;                 /* at most this long */
	int fd[FLOODERS];
	int64_t started_ms, closed_ms[FLOODERS];
	size_t sent[FLOODERS];
	int closed;                      /* by the server */
};

/* @p frame repeated to fill @p out; returns the bytes used (a whole number of frames). */
static size_t repeat_frame(const uint8_t *frame, size_t n, uint8_t *out, size_t cap)
{
	size_t used = 0;
	while (used + n <= cap)
		memcpy(out + used, frame, n), used += n;
	return used;
}

static void *flood_run(void *arg)
{
	struct flood *fl = arg;
	/* Half of them ask for status (answered at once), half read a node of a few KiB (answered after the turn). */
	static uint8_t status_bytes[16384], read_bytes[16384];
	uint8_t one[256];
	size_t status_len = repeat_frame(one, status_frame(one, sizeof(one)), status_bytes, sizeof(status_bytes));
	size_t read_len = repeat_frame(one, read_frame(one, sizeof(one), "/root/Big"), read_bytes, sizeof(read_bytes));
	size_t at[FLOODERS] = {0};
	bool open[FLOODERS];
	for (int i = 0; i < fl->n; i++)
		open[i] = true;
	fl->started_ms = now_ms();
	int64_t end = fl->started_ms + fl->seconds * 1000;
	while (__atomic_load_n(&fl->closed, __ATOMIC_SEQ_CST) < fl->n && now_ms() < end) {
		struct pollfd p[FLOODERS];
		for (int i = 0; i < fl->n; i++)
			p[i] = (struct pollfd){.fd = open[i] ? fl->fd[i] : -1, .events = POLLOUT};
		if (poll(p, (nfds_t)fl->n, 50) <= 0)
			continue;
		for (int i = 0; i < fl->n; i++) {
			if (!open[i] || !p[i].revents)
				continue;
			const uint8_t *bytes = i % 2 ? read_bytes : status_bytes;
			size_t len = i % 2 ? read_len : status_len;
			ssize_t w = p[i].revents & POLLOUT ? send(p[i].fd, bytes + at[i], len - at[i], MSG_NOSIGNAL | MSG_DONTWAIT)
							   : -1;
			if (w > 0) {
				at[i] = (at[i] + (size_t)w) % len;
				fl->sent[i] += (size_t)w;
			} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
				continue;
			} else {
				open[i] = false;
				fl->closed_ms[i] = now_ms();
				__atomic_add_fetch(&fl->closed, 1, __ATOMIC_SEQ_CST);
			}
		}
	}
	return NULL;
}

/* A node whose read reply is a few KiB. */
static void make_big_node(const struct groved_proc *p)
{
	struct grove_client *c = connect_ok(p);
	struct tree_op create = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = "Big", .text = "Node", .index = -1};
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&create, 1, &wr), GROVE_OK);
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	assert_int_equal(grove_client_call(c, &env, &reply), GROVE_OK);
	assert_int_equal(reply->write_reply->code, 0);
	grove__envelope__free_unpacked(reply, NULL);
	wire_request_free(&wr);
	char text[128];
	memset(text, 'x', sizeof(text));
	for (int i = 0; i < BIG_PROPS; i++) {
		struct variant v;
		assert_int_equal(variant_set_string(&v, VARIANT_STRING, text, sizeof(text)), GROVE_OK);
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root/Big"}, .name = name, .value = &v};
		assert_int_equal(wire_encode_batch(&op, 1, &wr), GROVE_OK);
		env.write = &wr.req;
		assert_int_equal(grove_client_call(c, &env, &reply), GROVE_OK);
		assert_int_equal(reply->write_reply->code, 0);
		grove__envelope__free_unpacked(reply, NULL);
		wire_request_free(&wr);
		variant_free(&v);
	}
	grove_client_close(c);
}

static void test_output_bounded(void **state)
{
	struct fixture *f = *state;
	/* ASan keeps freed memory in a quarantine of up to 256 MiB; a small one lets RSS show live memory. */
	const char *args[] = {"--output-max", "262144", "--output-stall", "2", NULL};
	struct groved_opts o = {.args = args, .asan_options = "quarantine_size_mb=4"};
	groved_start_opts(&f->server, f->data, &o);
	make_big_node(&f->server);
	/* Small receive buffers on the flooders' side, so that the kernel holds little of what they do not read
	 * and groved's own limits are what is tested. Its send buffers still take a few MiB of replies first
	 * (loopback's large segments): small status replies take long to fill them on a loaded machine, hence
	 * the generous bound (the flood ends as soon as every flooder is closed). */
	struct flood fl = {.n = FLOODERS, .seconds = 90};
	for (int i = 0; i < fl.n; i++) {
		fl.fd[i] = raw_client(f->server.port, 4096);
		assert_true(fl.fd[i] >= 0);
	}
	struct prober good = {.address = f->server.address, .interval_ms = 20};
	pthread_t prober_thread, flood_thread;
	pthread_create(&prober_thread, NULL, probe, &good);
	usleep(200000);
	long base_kib = rss_kib(f->server.pid), peak_kib = base_kib;
	pthread_create(&flood_thread, NULL, flood_run, &fl);
	/* Watch memory while they flood, until every flooder was closed (bounded by the flood's own end). */
	int64_t end = now_ms() + (fl.seconds + 5) * 1000;
	while (__atomic_load_n(&fl.closed, __ATOMIC_SEQ_CST) < fl.n && now_ms() < end) {
		long kib = rss_kib(f->server.pid);
		if (kib > peak_kib)
			peak_kib = kib;
		usleep(20000);
	}
	pthread_join(flood_thread, NULL);
	int during = good.answers;
	int64_t worst_during = good.worst_ms;
	usleep(300000);
	__atomic_store_n(&good.stop, true, __ATOMIC_SEQ_CST);
	pthread_join(prober_thread, NULL);
	size_t sent = 0;
	int64_t first_close = INT64_MAX, last_close = 0;
	for (int i = 0; i < fl.n; i++) {
		sent += fl.sent[i];
		if (fl.closed_ms[i] && fl.closed_ms[i] < first_close)
			first_close = fl.closed_ms[i];
		if (fl.closed_ms[i] > last_close)
			last_close = fl.closed_ms[i];
		close(fl.fd[i]);
	}
	if (!last_close)
		first_close = last_close = fl.started_ms;
	/* Per connection: the output buffer, which may have doubled past the limit, plus a turn's replies (16
	 * frames) beyond it and the input buffer; and some room for the allocator and ASan's small quarantine. */
	long bound_kib = base_kib + FLOODERS * (2 * OUTPUT_MAX + (256 << 10)) / 1024 + 16 * 1024;
	print_message("%d flooders sent %zu KiB of requests; closed %.1f to %.1f s after the flood began; groved RSS "
		      "%ld KiB before, peak %ld KiB (bound %ld KiB); the good client got %d answers during the flood, "
		      "worst %lld ms\n",
		      fl.n, sent >> 10, (double)(first_close - fl.started_ms) / 1000,
		      (double)(last_close - fl.started_ms) / 1000, base_kib, peak_kib, bound_kib, during,
		      (long long)worst_during);
	int drained = log_count(f, "did not drain");
	if (drained != fl.n || fl.closed != fl.n) {
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "grep -v 'did not drain' '%s.log' | tail -20", f->data);
		(void)!system(cmd);
		for (int i = 0; i < fl.n; i++)
			if (!fl.closed_ms[i])
				print_message("flooder %d (%s) was not closed\n", i, i % 2 ? "reads" : "status");
		fail_msg("%d of %d flooders were closed, %d for replies that did not drain", fl.closed, fl.n, drained);
	}
	assert_true(first_close - fl.started_ms >= STALL_S * 1000 - 500);
	assert_true(peak_kib <= bound_kib);
	assert_int_equal(good.failures, 0);
	assert_true(during >= 20);
	assert_true(worst_during < 1500);
}

/* ---- 2. out of file descriptors ---- */

static void test_out_of_descriptors(void **state)
{
	struct fixture *f = *state;
	need_descriptors(4096);
	struct groved_opts o = {.nofile = 256};
	groved_start_opts(&f->server, f->data, &o);
	struct grove_client *good = connect_ok(&f->server);
	/* Authenticated connections, which stay, until the server has no descriptor left. */
	enum { HOLD = 300, MORE = 200 };
	int held[HOLD], n_held = 0, refused = 0;
	for (int i = 0; i < HOLD; i++) {
		if ((held[n_held] = raw_client(f->server.port, 0)) >= 0)
			n_held++;
		else
			refused++;
	}
	assert_true(refused > 0);
	/* Go on connecting while it is out, and measure what it costs it. */
	pid_t pid = f->server.pid;
	long cpu0 = cpu_ticks(pid);
	int64_t t0 = now_ms();
	int raw[MORE], worst = 0, answers = 0;
	for (int i = 0; i < MORE; i++) {
		raw[i] = raw_connect(f->server.port);
		assert_true(raw[i] >= 0);
		if (i % 10 == 0) {
			int64_t ms = timed_status(good);
			assert_true(ms >= 0);
			answers++;
			if (ms > worst)
				worst = (int)ms;
		}
		usleep(15000);
	}
	int closed = 0;
	for (int i = 0; i < MORE; i++)
		closed += closed_within(raw[i], 100);
	long ticks = cpu_ticks(pid) - cpu0;
	double seconds = (double)(now_ms() - t0) / 1000;
	long hz = sysconf(_SC_CLK_TCK);
	int lines = log_count(f, "out of file descriptors");
	print_message("descriptor limit 256: %d connections held, %d refused while connecting; %d more refused "
		      "and closed over %.1f s, using %.2f s of groved CPU; %d status answers, worst %d ms; %d log lines\n",
		      n_held, refused, closed, seconds, (double)ticks / (double)hz, answers, worst, lines);
	assert_int_equal(closed, MORE);
	assert_true(worst < 1000);
	assert_true(ticks <= hz * seconds / 4);
	assert_true(lines >= 1 && lines <= 3);
	/* Descriptors given back make room for new clients again. */
	for (int i = 0; i < MORE; i++)
		close(raw[i]);
	for (int i = 0; i < 20; i++)
		close(held[--n_held]);
	usleep(200000);
	struct grove_client *later = connect_ok(&f->server);
	assert_true(timed_status(later) >= 0);
	grove_client_close(later);
	while (n_held)
		close(held[--n_held]);
	grove_client_close(good);
}

/* ---- 3. idle connections cost nothing per turn ---- */

/* The calls of @p name in an `strace -c` summary, -1 if it is not there. */
static long strace_calls(const char *path, const char *name)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[512];
	long calls = -1;
	while (fgets(line, sizeof(line), f)) {
		char syscall[64] = "";
		double pct, secs;
		long usecs, n, errors;
		if (sscanf(line, "%lf %lf %ld %ld %ld %63s", &pct, &secs, &usecs, &n, &errors, syscall) == 6 &&
		    strcmp(syscall, name) == 0)
			calls = n;
		else if (sscanf(line, "%lf %lf %ld %ld %63s", &pct, &secs, &usecs, &n, syscall) == 5 &&
			 strcmp(syscall, name) == 0)
			calls = n;
	}
	fclose(f);
	return calls;
}

static void test_epoll_ctl_per_request(void **state)
{
	struct fixture *f = *state;
	if (access("/usr/bin/strace", X_OK) != 0) {
		print_message("strace is not installed (tools/setup.sh installs it); skipping\n");
		skip();
	}
	enum { IDLE = 2000, REQUESTS = 1000 };
	need_descriptors(IDLE + 256);
	char summary[4096];
	snprintf(summary, sizeof(summary), "%s/strace.txt", f->dir);
	const char *wrapper[] = {"strace", "-f", "-c", "-e", "trace=epoll_ctl", "-o", summary, "--", NULL};
	struct groved_opts o = {.wrapper = wrapper, .nofile = IDLE + 256};
	groved_start_opts(&f->server, f->data, &o);
	static int idle[IDLE];
	for (int i = 0; i < IDLE; i++)
		assert_true((idle[i] = raw_client(f->server.port, 0)) >= 0);
	struct grove_client *c = connect_ok(&f->server);
	for (int i = 0; i < REQUESTS; i++) {
		if (i % 2) {
			assert_true(timed_status(c) >= 0);
		} else {
			char prop[16];
			snprintf(prop, sizeof(prop), "p%d", i % 50);
			assert_int_equal(client_set_int(c, "/root", prop, i), 0);
		}
	}
	grove_client_close(c);
	/* Stop groved itself (strace passes nothing on), then strace writes its summary. */
	pid_t groved = groved_child(f->server.pid);
	assert_true(groved > 0);
	kill(groved, SIGTERM);
	int status;
	waitpid(f->server.pid, &status, 0);
	f->server.pid = 0;
	for (int i = 0; i < IDLE; i++)
		close(idle[i]);
	long calls = strace_calls(summary, "epoll_ctl");
	/* One registration per connection, and a handful of set-up ones; requests may change interest twice. */
	long bound = (IDLE + 1) + 2 * REQUESTS + 32;
	print_message("%d idle connections, %d requests: %ld epoll_ctl calls (bound %ld; per request and "
		      "connection would be %d)\n",
		      IDLE, REQUESTS, calls, bound, IDLE * REQUESTS);
	assert_true(calls > IDLE);
	assert_true(calls <= bound);
}

/* ---- 4. before the handshake, and idleness ---- */

/* Send most of a 64 MiB frame without saying hello; how many bytes went before the server closed. */
static size_t send_huge_frame(int port, bool *closed)
{
	static const uint8_t zeros[65536];
	uint32_t len = (64u << 20) - 64;
	uint8_t head[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
	size_t sent = 0;
	*closed = false;
	int fd = raw_connect(port);
	if (fd < 0)
		return 0;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send(fd, head, 4, MSG_NOSIGNAL) == 4) {
		while (sent < len - (1u << 20)) {
			ssize_t w = send(fd, zeros, sizeof(zeros), MSG_NOSIGNAL);
			if (w <= 0) {
				*closed = w < 0 && (errno == EPIPE || errno == ECONNRESET);
				break;
			}
			sent += (size_t)w;
		}
	}
	if (!*closed)
		*closed = closed_within(fd, 2000);
	close(fd);
	return sent;
}

struct huge {
	int port;
	size_t sent;
	bool closed;
};

static void *huge_run(void *arg)
{
	struct huge *h = arg;
	h->sent = send_huge_frame(h->port, &h->closed);
	return NULL;
}

static void test_huge_frame_before_handshake(void **state)
{
	struct fixture *f = *state;
	struct groved_opts o = {.asan_options = "quarantine_size_mb=4"};
	groved_start_opts(&f->server, f->data, &o);
	struct grove_client *good = connect_ok(&f->server);
	long base = rss_kib(f->server.pid);
	bool closed;
	size_t sent = send_huge_frame(f->server.port, &closed);
	long after_one = rss_kib(f->server.pid);
	assert_true(closed);
	enum { MANY = 8 };
	struct huge h[MANY];
	pthread_t t[MANY];
	for (int i = 0; i < MANY; i++) {
		h[i] = (struct huge){.port = f->server.port};
		pthread_create(&t[i], NULL, huge_run, &h[i]);
	}
	size_t most = sent;
	for (int i = 0; i < MANY; i++) {
		pthread_join(t[i], NULL);
		assert_true(h[i].closed);
		if (h[i].sent > most)
			most = h[i].sent;
	}
	long after_many = rss_kib(f->server.pid);
	print_message("64 MiB frames before the hello: closed after at most %zu KiB sent (the kernel's buffers); "
		      "groved RSS %ld KiB, %ld after one, %ld after eight more\n",
		      most >> 10, base, after_one, after_many);
	assert_true(most < (32u << 20));
	assert_true(after_one - base < 4096);
	assert_true(after_many - base < 8192);
	assert_int_equal(log_count(f, "exceeds the limit of 4096 before the handshake"), 1 + MANY);
	assert_true(timed_status(good) >= 0);
	grove_client_close(good);
}

static void test_handshake_deadline(void **state)
{
	struct fixture *f = *state;
	const char *args[] = {"--handshake-timeout", "2", NULL};
	struct groved_opts o = {.args = args};
	groved_start_opts(&f->server, f->data, &o);
	struct grove_client *good = connect_ok(&f->server);
	enum { SLOW = 200 };
	int fd[SLOW];
	int64_t opened[SLOW], closed_at[SLOW];
	for (int i = 0; i < SLOW; i++) {
		fd[i] = raw_connect(f->server.port);
		assert_true(fd[i] >= 0);
		opened[i] = now_ms();
		closed_at[i] = 0;
	}
	/* A hello of 100 bytes, one byte a second: it would take 104 s. */
	const uint8_t hello[4] = {100, 0, 0, 0};
	int n_closed = 0;
	int64_t end = now_ms() + 10000, next_byte = 0;
	for (int sent = 0; n_closed < SLOW && now_ms() < end;) {
		if (now_ms() >= next_byte) {
			uint8_t b = sent < 4 ? hello[sent] : 0x0a;
			for (int i = 0; i < SLOW; i++)
				if (!closed_at[i])
					send(fd[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			sent++;
			next_byte = now_ms() + 1000;
		}
		struct pollfd p[SLOW];
		for (int i = 0; i < SLOW; i++)
			p[i] = (struct pollfd){.fd = closed_at[i] ? -1 : fd[i], .events = POLLIN};
		if (poll(p, SLOW, 50) <= 0)
			continue;
		for (int i = 0; i < SLOW; i++) {
			char buf[256];
			if (p[i].revents && recv(fd[i], buf, sizeof(buf), MSG_DONTWAIT) <= 0 && !closed_at[i]) {
				closed_at[i] = now_ms();
				n_closed++;
			}
		}
	}
	int64_t first = INT64_MAX, last = 0;
	for (int i = 0; i < SLOW; i++) {
		if (closed_at[i] && closed_at[i] - opened[i] < first)
			first = closed_at[i] - opened[i];
		if (closed_at[i] - opened[i] > last)
			last = closed_at[i] - opened[i];
		close(fd[i]);
	}
	print_message("%d of %d one-byte-a-second clients closed, %lld to %lld ms after they connected "
		      "(handshake deadline 2 s)\n",
		      n_closed, SLOW, (long long)first, (long long)last);
	assert_int_equal(n_closed, SLOW);
	assert_true(first >= 1900);
	assert_true(last <= 4000);
	assert_int_equal(log_count(f, "no handshake within 2000 ms"), SLOW);
	assert_true(timed_status(good) >= 0);
	grove_client_close(good);
}

static void test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	const char *args[] = {"--idle-timeout", "1", NULL};
	struct groved_opts o = {.args = args};
	groved_start_opts(&f->server, f->data, &o);
	struct grove_client *idle = connect_ok(&f->server), *busy = connect_ok(&f->server);
	int64_t t0 = now_ms();
	/* busy asks every 300 ms for 3 s; idle says nothing. */
	bool idle_closed = false;
	int64_t idle_closed_ms = 0;
	while (now_ms() - t0 < 3000) {
		assert_true(timed_status(busy) >= 0);
		if (!idle_closed && closed_within(grove_client_fd(idle), 300)) {
			idle_closed = true;
			idle_closed_ms = now_ms() - t0;
		} else if (idle_closed) {
			usleep(300000);
		}
	}
	print_message("idle timeout 1 s: the idle client was closed after %lld ms; the busy one stayed\n",
		      (long long)idle_closed_ms);
	assert_true(idle_closed);
	assert_true(idle_closed_ms >= 900 && idle_closed_ms <= 2500);
	assert_true(timed_status(busy) >= 0);
	assert_int_equal(log_count(f, "idle for 1 s"), 1);
	grove_client_close(idle);
	grove_client_close(busy);
}

/* ---- a request in flight is not idleness ---- */

struct write_call {
	struct grove_client *c;
	int code;
	int64_t took_ms;
};

static void *write_once(void *arg)
{
	struct write_call *w = arg;
	int64_t t0 = now_ms();
	w->code = client_set_int(w->c, "/root", "late", 1);
	w->took_ms = now_ms() - t0;
	return NULL;
}

static void test_request_in_flight_is_not_idle(void **state)
{
	struct fixture *f = *state;
	struct groved_proc *node = f->node;
	char *data[NODES + 1], listen[NODES + 1][32], peers[256] = "", id[NODES + 1][8];
	size_t n = 0;
	for (int i = 1; i <= NODES; i++) {
		snprintf(listen[i], sizeof(listen[i]), "127.0.0.1:%d", test_free_port());
		n += (size_t)snprintf(peers + n, sizeof(peers) - n, "%s%d=%s", i > 1 ? "," : "", i, listen[i]);
	}
	for (int i = 1; i <= NODES; i++) {
		if (asprintf(&data[i], "%s/node%d", f->dir, i) < 0)
			abort();
		snprintf(id[i], sizeof(id[i]), "%d", i);
		const char *args[] = {"--id", id[i], "--peers", peers, "--cluster-token", "t", "--idle-timeout", "1", NULL};
		struct groved_opts o = {.args = args, .listen = listen[i]};
		groved_start_opts(&node[i], data[i], &o);
	}
	int leader = 0;
	for (int t = 0; t < 100 && !leader; t++) {
		for (int i = 1; i <= NODES && !leader; i++) {
			Grove__Envelope *holder;
			Grove__StatusReply *s = client_status(node[i].address, 2000, &holder);
			if (s && strcmp(s->role, "leader") == 0)
				leader = i;
			if (holder)
				grove__envelope__free_unpacked(holder, NULL);
		}
		if (!leader)
			usleep(100000);
	}
	assert_true(leader > 0);
	struct grove_client *warm = connect_ok(&node[leader]);
	assert_int_equal(client_set_int(warm, "/root", "warm", 1), 0);
	grove_client_close(warm);
	/*
	 * With the leader and one follower stopped, a write to the other follower is passed on to a leader that
	 * does not answer, and no election can change the term: it stays in flight until they come back. (A
	 * leader that lost its quorum would step down and answer at once.)
	 */
	int follower = leader % NODES + 1;
	struct grove_client *idle = connect_ok(&node[follower]);
	struct write_call w = {0};
	assert_int_equal(grove_client_connect(node[follower].address, NULL, 15000, &w.c, NULL, 0), GROVE_OK);
	for (int i = 1; i <= NODES; i++)
		if (i != follower)
			kill(node[i].pid, SIGSTOP);
	pthread_t writer;
	int64_t t0 = now_ms();
	pthread_create(&writer, NULL, write_once, &w);
	bool idle_closed = closed_within(grove_client_fd(idle), 2500);
	int64_t idle_ms = now_ms() - t0;
	int64_t left = 3000 - (now_ms() - t0);
	if (left > 0)
		usleep((useconds_t)left * 1000);
	for (int i = 1; i <= NODES; i++)
		if (i != follower)
			kill(node[i].pid, SIGCONT);
	pthread_join(writer, NULL);
	print_message("idle timeout 1 s: a client with nothing in flight was closed after %lld ms; a write held "
		      "in flight for %lld ms was answered (code %d) on its open connection\n",
		      (long long)idle_ms, (long long)w.took_ms, w.code);
	assert_true(idle_closed);
	assert_true(w.took_ms >= 2900);
	assert_true(w.code == GROVE_OK || w.code == GROVE_EUNAVAILABLE);
	grove_client_close(idle);
	grove_client_close(w.c);
	for (int i = 1; i <= NODES; i++)
		free(data[i]);
}

/* ---- requests in flight ---- */

enum { INFLIGHT_MAX = 8, PIPELINED = 2000 };

/* Send, without waiting for its reply, a write of /root's "n"; returns its request id. */
static uint64_t send_set_n(struct grove_client *c, int64_t value)
{
	struct variant v;
	variant_set_int(&v, value);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root"}, .name = "n", .value = &v};
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&op, 1, &wr), GROVE_OK);
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	assert_int_equal(grove_client_send(c, &env), GROVE_OK);
	wire_request_free(&wr);
	return env.request_id;
}

/* Pipeline PIPELINED writes through one connection to @p p, then read the replies: each done, in order. */
static void pipeline_writes(const struct groved_proc *p)
{
	struct grove_client *c = connect_ok(p);
	static uint64_t ids[PIPELINED];
	for (int i = 0; i < PIPELINED; i++)
		ids[i] = send_set_n(c, i + 1);
	uint64_t last_index = 0;
	for (int i = 0; i < PIPELINED; i++) {
		Grove__Envelope *reply;
		assert_int_equal(grove_client_receive(c, 30000, &reply), GROVE_OK);
		assert_int_equal(reply->request_id, ids[i]);
		assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_WRITE_REPLY);
		assert_int_equal(reply->write_reply->code, 0);
		assert_true(reply->write_reply->applied_index > last_index);
		last_index = reply->write_reply->applied_index;
		grove__envelope__free_unpacked(reply, NULL);
	}
	grove_client_close(c);
}

/* Start f->server with --max-inflight @p max and metrics; returns the metrics port. */
static int start_with_inflight_limit(struct fixture *f, const char *max)
{
	char metrics[32];
	int port = test_free_port();
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", port);
	const char *args[] = {"--max-inflight", max, "--metrics", metrics, NULL};
	struct groved_opts o = {.args = args};
	groved_start_opts(&f->server, f->data, &o);
	return port;
}

static void test_inflight_bounded(void **state)
{
	struct fixture *f = *state;
	/* The default limit first: the same pipeline goes past INFLIGHT_MAX, so the bound below is the limit's doing. */
	int port = start_with_inflight_limit(f, "4096");
	int64_t t0 = now_ms();
	pipeline_writes(&f->server);
	int64_t unbounded_ms = now_ms() - t0;
	uint64_t unbounded_peak, unbounded_pauses;
	assert_true(groved_inflight_metrics(port, &unbounded_peak, &unbounded_pauses));
	groved_stop(&f->server);
	port = start_with_inflight_limit(f, "8");
	t0 = now_ms();
	pipeline_writes(&f->server);
	int64_t bounded_ms = now_ms() - t0;
	uint64_t peak, pauses;
	assert_true(groved_inflight_metrics(port, &peak, &pauses));
	print_message("%d pipelined writes, all answered in order: default limit %lld ms, at most %llu in flight; "
		      "--max-inflight %d %lld ms, at most %llu in flight, paused %llu times\n",
		      PIPELINED, (long long)unbounded_ms, (unsigned long long)unbounded_peak, INFLIGHT_MAX,
		      (long long)bounded_ms, (unsigned long long)peak, (unsigned long long)pauses);
	assert_true(unbounded_peak > INFLIGHT_MAX);
	assert_int_equal(unbounded_pauses, 0);
	assert_int_equal(peak, INFLIGHT_MAX);
	assert_true(pauses >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_output_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoll_ctl_per_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_frame_before_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_in_flight_is_not_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_bounded, setup, teardown),
	};
	/* GROVE_TEST_FILTER=test_idle* runs only the matching tests. */
	if (getenv("GROVE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GROVE_TEST_FILTER"));
	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
