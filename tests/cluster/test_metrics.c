/*
 * groved --metrics: Prometheus metrics, /healthz and /readyz over HTTP, scraped with curl from real groved
 * processes, alone and in a 3-member cluster; and what malformed HTTP does (nothing to the server).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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

#include "proto/grove.pb-c.h"
#include "src/net/client.h"
#include "cluster.h"
#include "harness.h"
#include "support.h"

/* Writes each test makes. */
#define WRITES 40
/* Largest scrape the tests read. */
#define BODY_MAX (256 * 1024)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run @p argv (found in PATH); what it writes to its descriptor @p which comes out of *@p out. */
static pid_t spawn_reading(const char *const *argv, int which, int *out)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], which);
		close(fds[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

/*
 * GET (or @p method) http://127.0.0.1:@p port@p path with curl, bounded to 5 s; @p header (or NULL) is one
 * more request header. The body goes to @p body (NUL-terminated, truncated to @p cap).
 * @return the HTTP status, or 0 when there was no HTTP answer.
 */
static int curl(int port, const char *method, const char *path, const char *header, char *body, size_t cap)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	const char *argv[16] = {"curl", "-s", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", "-X", method};
	size_t n = 10;
	if (header) {
		argv[n++] = "-H";
		argv[n++] = header;
	}
	argv[n++] = url;
	argv[n] = NULL;
	int out;
	pid_t pid = spawn_reading(argv, 1, &out);
	size_t len = 0;
	uint64_t deadline = now_ms() + 10000;
	for (;;) {
		struct pollfd pfd = {.fd = out, .events = POLLIN};
		uint64_t now = now_ms();
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
		ssize_t got = read(out, body + len, cap - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
		if (len == cap - 1)
			break;
	}
	close(out);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 127); /* curl is installed (tools/setup.sh) */
	body[len] = '\0';
	/* The last line is the status code that -w wrote. */
	char *last = strrchr(body, '\n');
	assert_non_null(last);
	*last = '\0';
	return atoi(last + 1);
}

/* ---- the exposition format ---- */

static bool is_name_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':';
}

static bool is_name_char(char ch)
{
	return is_name_start(ch) || (ch >= '0' && ch <= '9');
}

/* Skip a metric or label name at @p p; NULL if there is none. */
static const char *skip_name(const char *p)
{
	if (!is_name_start(*p))
		return NULL;
	while (is_name_char(*p))
		p++;
	return p;
}

/* A sample value: a number, or +Inf, -Inf, NaN. */
static bool parse_value(const char *text, double *out)
{
	char *end;
	*out = strtod(text, &end);
	return end != text && *end == '\0';
}

/* A histogram seen in the text: its buckets in order, and its count. */
struct histogram_seen {
	char name[96];
	double last_le, last_count;
	bool has_inf;
	double inf_count, count;
	bool has_count;
};

/*
 * Check that every line of @p text is a comment or `name{labels} value` with a number, and that every
 * histogram has buckets with growing bounds and counts, ending in +Inf equal to its _count.
 */
static void check_exposition(const char *text)
{
	struct histogram_seen hist[16];
	size_t n_hist = 0;
	char *copy = strdup(text);
	assert_non_null(copy);
	size_t lines = 0;
	for (char *save, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
		if (line[0] == '#') {
			char name[96], type[32];
			if (sscanf(line, "# TYPE %95s %31s", name, type) == 2 && strcmp(type, "histogram") == 0) {
				assert_true(n_hist < 16);
				memset(&hist[n_hist], 0, sizeof(hist[n_hist]));
				snprintf(hist[n_hist].name, sizeof(hist[n_hist].name), "%s", name);
				hist[n_hist++].last_le = -1;
			} else if (strncmp(line, "# TYPE ", 7) != 0 && strncmp(line, "# HELP ", 7) != 0) {
				fail_msg("unexpected comment: %s", line);
			}
			continue;
		}
		const char *p = skip_name(line);
		if (!p)
			fail_msg("no metric name: %s", line);
		size_t name_len = (size_t)(p - line);
		char le[32] = "";
		if (*p == '{') {
			p++;
			while (*p != '}') {
				const char *label = p;
				p = skip_name(p);
				if (!p || p[0] != '=' || p[1] != '"')
					fail_msg("malformed label: %s", line);
				const char *value = p + 2;
				const char *close = strchr(value, '"');
				if (!close)
					fail_msg("unterminated label value: %s", line);
				if (strncmp(label, "le=", 3) == 0)
					snprintf(le, sizeof(le), "%.*s", (int)(close - value), value);
				p = close + 1;
				if (*p == ',')
					p++;
				else if (*p != '}')
					fail_msg("malformed labels: %s", line);
			}
			p++;
		}
		double v = 0;
		if (*p != ' ' || !parse_value(p + 1, &v))
			fail_msg("not `name{labels} number`: %s", line);
		for (size_t i = 0; i < n_hist; i++) {
			struct histogram_seen *h = &hist[i];
			size_t hl = strlen(h->name);
			if (name_len <= hl || strncmp(line, h->name, hl) != 0)
				continue;
			const char *suffix = line + hl;
			if (strncmp(suffix, "_bucket{", 8) == 0) {
				assert_false(h->has_inf); /* +Inf is the last bucket */
				if (strcmp(le, "+Inf") == 0) {
					h->has_inf = true;
					h->inf_count = v;
				} else {
					double bound;
					assert_true(parse_value(le, &bound));
					assert_true(bound > h->last_le);
					h->last_le = bound;
				}
				assert_true(v >= h->last_count);
				h->last_count = v;
			} else if (strncmp(suffix, "_count ", 7) == 0) {
				h->count = v;
				h->has_count = true;
			}
		}
	}
	free(copy);
	assert_true(lines > 20);
	assert_true(n_hist >= 3);
	for (size_t i = 0; i < n_hist; i++) {
		if (!hist[i].has_inf || !hist[i].has_count || hist[i].inf_count != hist[i].count)
			fail_msg("histogram %s: +Inf bucket %g, count %g", hist[i].name, hist[i].inf_count, hist[i].count);
	}
}

/* The value of series @p series (name and labels exactly as rendered) in @p text; fails if absent. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	fail_msg("no sample %s", series);
	return NAN;
}

static char *scrape(int port)
{
	char *body = malloc(BODY_MAX);
	assert_non_null(body);
	int status = curl(port, "GET", "/metrics", NULL, body, BODY_MAX);
	if (status != 200)
		fail_msg("GET /metrics: %d %s", status, body);
	check_exposition(body);
	return body;
}

/* Poll /readyz on @p port until it answers @p want (at most @p seconds). @return the last status. */
static int wait_ready_status(int port, int want, int seconds)
{
	char body[512];
	int status = 0;
	for (uint64_t deadline = now_ms() + (uint64_t)seconds * 1000; now_ms() < deadline;) {
		status = curl(port, "GET", "/readyz", NULL, body, sizeof(body));
		if (status == want)
			return status;
		usleep(200000);
	}
	fprintf(stderr, "readyz stayed %d: %s\n", status, body);
	return status;
}

static void write_n(const char *address, int n)
{
	struct grove_client *c;
	char error[200];
	assert_int_equal(grove_client_connect(address, NULL, 5000, &c, error, sizeof(error)), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(client_set_int(c, "/root", "metric_test", i), 0);
	grove_client_close(c);
}

static uint64_t status_applied(const char *address)
{
	Grove__Envelope *holder;
	Grove__StatusReply *s = client_status(address, 5000, &holder);
	assert_non_null(s);
	uint64_t applied = s->applied_index;
	grove__envelope__free_unpacked(holder, NULL);
	return applied;
}

/* ---- raw sockets, for what curl would not send ---- */

static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* What the server sends on @p fd until it closes it (at most @p ms): into @p out. @return false on timeout. */
static bool read_until_closed(int fd, char *out, size_t cap, int ms)
{
	size_t len = 0;
	uint64_t deadline = now_ms() + (uint64_t)ms;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ms();
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0) {
			out[len] = '\0';
			return false;
		}
		ssize_t got = read(fd, out + len, cap - 1 - len);
		if (got <= 0 || len + (size_t)got == cap - 1) {
			out[len + (got > 0 ? (size_t)got : 0)] = '\0';
			return true;
		}
		len += (size_t)got;
	}
}

/* Send @p request raw and return the status line's code (0: closed without an answer). */
static int raw_request(int port, const char *request, size_t len)
{
	int fd = raw_connect(port);
	assert_int_equal(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
	char reply[1024];
	assert_true(read_until_closed(fd, reply, sizeof(reply), 5000));
	close(fd);
	int code = 0;
	if (sscanf(reply, "HTTP/1.1 %d", &code) != 1)
		code = 0;
	return code;
}

/* ---- tests ---- */

struct single {
	char *dir;
	char data[4096];
	struct groved_proc server;
	int metrics_port;
};

static int single_setup(void **state)
{
	struct single *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("metrics");
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	f->metrics_port = test_free_port();
	char metrics[32];
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", f->metrics_port);
	const char *args[] = {"--metrics", metrics, NULL};
	struct groved_opts o = {.args = args};
	groved_start_opts(&f->server, f->data, &o);
	*state = f;
	return 0;
}

static int single_teardown(void **state)
{
	struct single *f = *state;
	if (f->server.pid)
		groved_stop(&f->server);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void test_single_node_metrics(void **state)
{
	struct single *f = *state;
	char body[1024];
	assert_int_equal(curl(f->metrics_port, "GET", "/healthz", NULL, body, sizeof(body)), 200);
	assert_string_equal(body, "ok\n");
	assert_int_equal(wait_ready_status(f->metrics_port, 200, 10), 200);
	char *before = scrape(f->metrics_port);
	double proposals0 = sample(before, "grove_proposals_total");
	double commits0 = sample(before, "grove_commit_duration_seconds_count");
	free(before);

	write_n(f->server.address, WRITES);
	uint64_t applied = status_applied(f->server.address);
	struct grove_client *held;
	assert_int_equal(grove_client_connect(f->server.address, NULL, 5000, &held, NULL, 0), 0);
	char *m = scrape(f->metrics_port);
	assert_true(sample(m, "grove_proposals_total") >= proposals0 + WRITES);
	assert_true(sample(m, "grove_commit_duration_seconds_count") >= commits0 + WRITES);
	assert_true(sample(m, "grove_fsync_duration_seconds_count") > 0);
	assert_true(sample(m, "grove_fsync_duration_seconds_sum") > 0);
	assert_true(sample(m, "grove_apply_duration_seconds_count") > 0);
	assert_true(sample(m, "grove_writes_applied_total") >= WRITES);
	assert_true(sample(m, "grove_log_flushes_total") > 0);
	assert_true(sample(m, "grove_log_flushes_total") == sample(m, "grove_fsync_duration_seconds_count"));
	assert_true(sample(m, "grove_raft_applied_index{group=\"1\"}") == (double)applied);
	assert_true(sample(m, "grove_raft_commit_index{group=\"1\"}") >= (double)applied);
	assert_true(sample(m, "grove_raft_leader{group=\"1\"}") == 1);
	assert_true(sample(m, "grove_raft_leader{group=\"2\"}") == 1); /* the meta group */
	assert_true(sample(m, "grove_raft_term{group=\"1\"}") >= 1);
	assert_true(sample(m, "grove_client_connections") >= 1);
	assert_true(sample(m, "grove_subscribers") == 0);
	free(m);
	grove_client_close(held);
	assert_int_equal(curl(f->metrics_port, "GET", "/readyz", NULL, body, sizeof(body)), 200);
}

/* The metrics listener is not the client port, and the client port does not speak HTTP. */
static void test_metrics_port_is_separate(void **state)
{
	struct single *f = *state;
	char body[1024];
	assert_int_equal(curl(f->server.port, "GET", "/metrics", NULL, body, sizeof(body)), 0);
	struct grove_client *c = NULL;
	char address[32];
	snprintf(address, sizeof(address), "127.0.0.1:%d", f->metrics_port);
	assert_int_not_equal(grove_client_connect(address, NULL, 3000, &c, NULL, 0), 0);
	/* Nor is an HTTP connection a client connection of the protocol. */
	int fd = raw_connect(f->metrics_port);
	char *m = scrape(f->metrics_port);
	assert_true(sample(m, "grove_connections") == 0);
	free(m);
	close(fd);
}

static void test_malformed_requests(void **state)
{
	struct single *f = *state;
	char body[1024];
	assert_int_equal(curl(f->metrics_port, "GET", "/nothing", NULL, body, sizeof(body)), 404);
	assert_int_equal(curl(f->metrics_port, "POST", "/metrics", NULL, body, sizeof(body)), 405);
	assert_int_equal(curl(f->metrics_port, "DELETE", "/healthz", NULL, body, sizeof(body)), 405);
	char *m = malloc(BODY_MAX);
	assert_non_null(m);
	assert_int_equal(curl(f->metrics_port, "GET", "/metrics?x=1", NULL, m, BODY_MAX), 200);
	free(m);
	/* Headers over the request limit. */
	char big[6000] = "X-Big: ";
	memset(big + 7, 'a', sizeof(big) - 8);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(curl(f->metrics_port, "GET", "/metrics", big, body, sizeof(body)), 400);
	/* Garbage, a bare LF, a binary byte, a bad version, a header without a colon, a target without a slash. */
	const char *bad[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n",
		"GET /metrics HTTP/1.1\nHost: x\n\n",
		"GET /metrics HTTP/2.0\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
		"GET metrics HTTP/1.1\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(raw_request(f->metrics_port, bad[i], strlen(bad[i])), 400);
	const char good[] = "GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n";
	assert_int_equal(raw_request(f->metrics_port, good, strlen(good)), 200);

	/* Slow clients: a request never finished is closed at the read deadline (2 s); meanwhile the
	 * connections over the limit are refused, and once they are gone the listener serves again. */
	enum { SLOW = 20 };
	int slow[SLOW];
	for (int i = 0; i < SLOW; i++) {
		slow[i] = raw_connect(f->metrics_port);
		assert_int_equal(send(slow[i], "GET /metrics HTTP/1.1\r\nHost:", 28, MSG_NOSIGNAL), 28);
	}
	uint64_t start = now_ms();
	char reply[256];
	for (int i = 0; i < SLOW; i++) {
		assert_true(read_until_closed(slow[i], reply, sizeof(reply), 6000));
		assert_string_equal(reply, "");
		close(slow[i]);
	}
	assert_true(now_ms() - start < 6000);
	assert_int_equal(curl(f->metrics_port, "GET", "/healthz", NULL, body, sizeof(body)), 200);
	/* The server itself never noticed. */
	write_n(f->server.address, 1);
	free(scrape(f->metrics_port));
}

/* A --metrics address that is not IPv4:PORT is refused before anything starts. */
static void test_bad_metrics_address(void **state)
{
	(void)state;
	const char *bad[] = {"localhost:9464", "127.0.0.1", "127.0.0.1:99999", "[::1]:9464", "127.0.0.1:x"};
	char *dir = test_tmpdir("metrics-bad");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = {GROVED_PATH, "--data", dir, "--listen", "127.0.0.1:0", "--metrics", bad[i], NULL};
		int errors;
		pid_t pid = spawn_reading(argv, 2, &errors);
		char err[512];
		bool closed = read_until_closed(errors, err, sizeof(err), 10000);
		close(errors);
		int status;
		waitpid(pid, &status, 0);
		assert_true(closed);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 2);
		assert_non_null(strstr(err, "--metrics must be IPv4-ADDRESS:PORT"));
	}
	test_rmtree(dir);
}

static void test_cluster_metrics_and_readiness(void **state)
{
	(void)state;
	struct cluster c;
	cluster_start_with_metrics(&c, NULL);
	int leader = cluster_wait_leader(&c);
	char address[32];
	cluster_address(&c, leader, address, sizeof(address));
	write_n(address, WRITES);
	uint64_t converged = cluster_wait_converged(&c);
	int leaders = 0;
	for (int i = 1; i <= CLUSTER_NODES; i++) {
		assert_int_equal(wait_ready_status(c.metrics_ports[i], 200, 10), 200);
		char *m = scrape(c.metrics_ports[i]);
		cluster_address(&c, i, address, sizeof(address));
		assert_true(sample(m, "grove_raft_applied_index{group=\"1\"}") == (double)status_applied(address));
		assert_true(sample(m, "grove_raft_applied_index{group=\"1\"}") >= (double)converged);
		assert_true(sample(m, "grove_fsync_duration_seconds_count") > 0);
		assert_true(sample(m, "grove_apply_duration_seconds_count") > 0);
		assert_true(sample(m, "grove_raft_leader_id{group=\"1\"}") == leader);
		leaders += (int)sample(m, "grove_raft_leader{group=\"1\"}");
		if (i == leader) {
			assert_true(sample(m, "grove_proposals_total") >= WRITES);
			assert_true(sample(m, "grove_commit_duration_seconds_count") >= WRITES);
		}
		free(m);
	}
	assert_int_equal(leaders, 1);

	/* Cut each of the leader and a follower off from its quorum: not ready, and ready again after. */
	int follower = leader % CLUSTER_NODES + 1;
	int cut_off[] = {leader, follower};
	for (size_t k = 0; k < 2; k++) {
		int alone = cut_off[k];
		for (int i = 1; i <= CLUSTER_NODES; i++)
			if (i != alone)
				kill(c.pids[i], SIGSTOP);
		int during = wait_ready_status(c.metrics_ports[alone], 503, 15);
		char body[64];
		int health = curl(c.metrics_ports[alone], "GET", "/healthz", NULL, body, sizeof(body));
		for (int i = 1; i <= CLUSTER_NODES; i++)
			if (i != alone)
				kill(c.pids[i], SIGCONT);
		assert_int_equal(during, 503);
		assert_int_equal(health, 200);
		assert_int_equal(wait_ready_status(c.metrics_ports[alone], 200, 20), 200);
	}
	cluster_stop(&c);
	test_rmtree(c.dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_node_metrics, single_setup, single_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_port_is_separate, single_setup, single_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_requests, single_setup, single_teardown),
		cmocka_unit_test(test_bad_metrics_address),
		cmocka_unit_test(test_cluster_metrics_and_readiness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
