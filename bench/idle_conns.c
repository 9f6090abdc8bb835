/* What idle connections cost the others: starts its own groved on a loopback port and measures a status
 * round trip (p50 / p99 / p99.9, round trips per second) with no other connection, then again with N idle
 * (authenticated, silent) connections open, and then with one more client that pipelined requests without
 * reading the replies until groved stopped reading from it (a blocked connection must not make every turn
 * visit the idle ones). Both processes raise their descriptor limit to what N needs, as far as the hard
 * limit allows; the figures say how many were actually open. Not a test: it prints figures.
 *
 *   grove_bench_idle [--idle N] [--requests R]     (defaults: 10000 idle, 20000 round trips)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "stats.h"
#include "support.h"

/* @p n status round trips on @p c; prints a line of figures. Returns 0, or -1 if one failed. */
static int measure(struct grove_client *c, size_t n, const char *label)
{
	uint64_t *lat = malloc(n * sizeof(*lat));
	if (!lat)
		return -1;
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	for (size_t i = 0; i < n / 10; i++) { /* warm-up */
		if (grove_client_call(c, &env, &reply) != GROVE_OK)
			goto fail;
		grove__envelope__free_unpacked(reply, NULL);
	}
	uint64_t start = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		if (grove_client_call(c, &env, &reply) != GROVE_OK)
			goto fail;
		lat[i] = now_ns() - t0;
		grove__envelope__free_unpacked(reply, NULL);
	}
	double seconds = (double)(now_ns() - start) / 1e9;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("%-26s %8zu round trips  p50 %7.1f us  p99 %7.1f us  p99.9 %7.1f us  %8.0f/s\n", label, n,
	       pct(lat, n, 0.5), pct(lat, n, 0.99), pct(lat, n, 0.999), (double)n / seconds);
	free(lat);
	return 0;
fail:
	free(lat);
	fprintf(stderr, "grove_bench_idle: a status round trip failed\n");
	return -1;
}

/* A client that sends status requests without reading until groved has not taken a byte for 1 s (at most
 * 20 s); returns its socket (still open, so groved keeps it blocked), or -1. */
static int blocked_client(int port)
{
	int fd = raw_client(port, 4096);
	if (fd < 0)
		return -1;
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.version = 1;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	uint8_t frame[64], burst[65536];
	size_t len = grove__envelope__pack(&env, frame + 4), used = 0;
	frame[0] = (uint8_t)len, frame[1] = frame[2] = frame[3] = 0;
	while (used + len + 4 <= sizeof(burst))
		memcpy(burst + used, frame, len + 4), used += len + 4;
	size_t at = 0;
	uint64_t end = now_ns() + 20000000000ull;
	while (now_ns() < end) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 1000) == 0)
			return fd; /* groved stopped reading it */
		ssize_t w = send(fd, burst + at, used - at, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (w > 0)
			at = (at + (size_t)w) % used;
	}
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	long idle = 10000, requests = 20000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--idle") == 0)
			idle = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--requests") == 0)
			requests = atol(argv[i + 1]);
	}
	if (idle < 0 || requests < 10) {
		fprintf(stderr, "usage: grove_bench_idle [--idle N] [--requests R>=10]\n");
		return 2;
	}
	/* Room for the idle sockets and a few more, here and in groved. */
	unsigned long limit = test_raise_nofile((unsigned long)idle + 64);
	char *dir = test_tmpdir("bench-idle"), *data;
	if (asprintf(&data, "%s/data", dir) < 0)
		return 1;
	struct groved_opts o = {.nofile = (long)limit};
	struct groved_proc server;
	groved_start_opts(&server, data, &o);
	printf("descriptor limit %lu (%ld wanted); groved at %s\n", limit, idle + 64, server.address);
	struct grove_client *c;
	char error[256];
	if (grove_client_connect(server.address, NULL, 10000, &c, error, sizeof(error))) {
		fprintf(stderr, "grove_bench_idle: %s\n", error);
		groved_kill(&server);
		return 1;
	}
	int rc = measure(c, (size_t)requests, "0 idle connections");
	int *fds = calloc((size_t)idle + 1, sizeof(*fds));
	long open_n = 0;
	uint64_t t0 = now_ns();
	while (rc == 0 && fds && open_n < idle && (fds[open_n] = raw_client(server.port, 0)) >= 0)
		open_n++;
	double open_s = (double)(now_ns() - t0) / 1e9;
	if (open_n < idle)
		printf("only %ld of %ld idle connections could be opened (descriptor limits)\n", open_n, idle);
	printf("opened %ld idle connections in %.1f s\n", open_n, open_s);
	char label[64];
	snprintf(label, sizeof(label), "%ld idle connections", open_n);
	if (rc == 0)
		rc = measure(c, (size_t)requests, label);
	int stuck = rc == 0 ? blocked_client(server.port) : -1;
	if (stuck >= 0) {
		snprintf(label, sizeof(label), "%ld idle + 1 blocked", open_n);
		rc = measure(c, (size_t)requests, label);
		close(stuck);
	} else if (rc == 0) {
		printf("(no blocked client: groved went on reading its requests)\n");
	}
	for (long i = 0; i < open_n; i++)
		close(fds[i]);
	free(fds);
	grove_client_close(c);
	groved_stop(&server);
	free(data);
	test_rmtree(dir);
	return rc ? 1 : 0;
}
