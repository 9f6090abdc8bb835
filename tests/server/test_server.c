/* A real groved on 127.0.0.1 driven by the real grove CLI and by raw sockets: the tree workflow, bad
 * frames that close only their own connection, many concurrent clients, clean stop and restart, and
 * 10,000 acknowledged writes that survive kill -9. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "files.h"
#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/buf.h"
#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "support.h"

struct fixture {
	char *dir;
	char *data;
	struct groved_proc server;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("server");
	if (asprintf(&f->data, "%s/data", f->dir) < 0)
		abort();
	groved_start(&f->server, f->data, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	groved_kill(&f->server);
	free(f->data);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

#define CLI(f, r, ...) cli_run(&(f)->server, (r), __VA_ARGS__, (char *)NULL)

static void expect_ok(const struct cli_result *r)
{
	if (r->status != 0)
		print_error("grove exited %d: %s", r->status, r->err);
	assert_int_equal(r->status, 0);
}

/* The applied index a server reports: a Raft log index, which counts membership and leader entries too. */
static long applied_index(const struct groved_proc *p)
{
	struct cli_result r;
	cli_run(p, &r, "--json", "status", (char *)NULL);
	expect_ok(&r);
	const char *at = strstr(r.out, "\"applied_index\":");
	assert_non_null(at);
	return strtol(at + strlen("\"applied_index\":"), NULL, 10);
}

static void test_cli_workflow(void **state)
{
	struct fixture *f = *state;
	struct cli_result r;
	CLI(f, &r, "add", "/root/World", "Node3D");
	expect_ok(&r);
	CLI(f, &r, "add", "/root/World/Players", "Node3D");
	expect_ok(&r);
	CLI(f, &r, "add", "/root/World/Players/Alice", "CharacterBody3D");
	expect_ok(&r);
	CLI(f, &r, "set", "/root/World/Players/Alice", "position", "Vector3(1, 2, 3)");
	expect_ok(&r);
	CLI(f, &r, "add", "/root/World/Zone", "Node3D");
	expect_ok(&r);
	CLI(f, &r, "mv", "/root/World/Players/Alice", "/root/World/Zone");
	expect_ok(&r);
	CLI(f, &r, "mv", "/root/World", "/root/World/Zone/Alice");
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "grove: mv: /root/World would become its own ancestor\n");
	CLI(f, &r, "tree");
	expect_ok(&r);
	assert_string_equal(r.out, "root (Window)\n"
				   "  World (Node3D)\n"
				   "    Players (Node3D)\n"
				   "    Zone (Node3D)\n"
				   "      Alice (CharacterBody3D)\n"
				   "        position = Vector3(1, 2, 3)\n");
	CLI(f, &r, "--json", "get", "/root/World/Zone/Alice");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "\"path\":\"/root/World/Zone/Alice\""));
	assert_non_null(strstr(r.out, "\"position\":{\"type\":\"Vector3\",\"value\":\"Vector3(1, 2, 3)\"}"));
	CLI(f, &r, "get", "/root/World/Zone/Alice", "position");
	expect_ok(&r);
	assert_string_equal(r.out, "Vector3(1, 2, 3)\n");
	/* Refusals: a clear one-line error and a non-zero exit; nothing changes. */
	CLI(f, &r, "add", "/root/World/Zone", "Node");
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "grove: add: /root/World already has a child named Zone\n");
	CLI(f, &r, "add", "/root/No/Such", "Node");
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "grove: add: /root/No: no such node\n");
	CLI(f, &r, "set", "/root/World", "x", "Vector3(1, 2");
	assert_int_equal(r.status, 2);
	CLI(f, &r, "rm", "/root");
	assert_int_equal(r.status, 1);
	CLI(f, &r, "get", "/root/Nowhere");
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "grove: get: /root/Nowhere: no such node\n");
	/* Every other command, once. */
	CLI(f, &r, "set", "/root/World", "label", "\"hello \\\"world\\\"\"");
	expect_ok(&r);
	CLI(f, &r, "get", "/root/World", "label");
	assert_string_equal(r.out, "\"hello \\\"world\\\"\"\n");
	CLI(f, &r, "clear", "/root/World", "label");
	expect_ok(&r);
	CLI(f, &r, "rename", "/root/World/Zone", "Arena");
	expect_ok(&r);
	CLI(f, &r, "group", "add", "/root/World/Arena/Alice", "players");
	expect_ok(&r);
	CLI(f, &r, "--json", "tree", "/root/World/Arena");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "\"groups\":[\"players\"]"));
	CLI(f, &r, "rm", "/root/World/Arena");
	expect_ok(&r);
	CLI(f, &r, "--json", "status");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "\"nodes\":3"));
	CLI(f, &r, "bogus");
	assert_int_equal(r.status, 2);
}

/* A number the CLI cannot read is refused before anything is sent, with what it takes; it is never read as 0. */
static void test_cli_refuses_malformed_numbers(void **state)
{
	struct fixture *f = *state;
	struct cli_result r;
	CLI(f, &r, "add", "/root/A", "Node");
	expect_ok(&r);
	CLI(f, &r, "add", "/root/B", "Node");
	expect_ok(&r);
	CLI(f, &r, "add", "/root/B/First", "Node");
	expect_ok(&r);
	static const char *const bad[][8] = {
		{"mv", "/root/A", "/root/B", "--index", "x", NULL},
		{"mv", "/root/A", "/root/B", "--index", "-2", NULL},
		{"mv", "/root/A", "/root/B", "--index", "0x1", NULL},
		{"add", "/root/B/C", "Node", "--index", "99999999999999999999", NULL},
		{"export", "/root", "-o", "never.tscn", "--godot", "3x", NULL},
		{"watch", "/root", "--from", "1e3", NULL},
		{"watch", "/root", "--count", "-1", NULL},
		{"cluster", "transfer-leader", "two", NULL},
		{"cluster", "add", "4x", "127.0.0.1:1", NULL},
		{"shard", "transfer-leader", "/root/A", "", NULL},
	};
	static const char *const said[] = {
		"--index must be a whole number from -1 to 2147483647, not \"x\"", "--index must be", "--index must be",
		"--index must be", "--godot must be a whole number from 3 to 4", "--from must be", "--count must be",
		"\"two\" is not a member id", "\"4x\" is not a member id", "\"\" is not a member id"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *a = bad[i];
		cli_run(&f->server, &r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], (char *)NULL);
		if (r.status != 2 || !strstr(r.err, said[i]))
			print_error("grove %s %s ...: exit %d, said: %s", a[0], a[1], r.status, r.err);
		assert_int_equal(r.status, 2);
		assert_non_null(strstr(r.err, said[i]));
	}
	/* Nothing moved, nothing was made; -1 is the end of the list, as for Godot. */
	CLI(f, &r, "tree");
	expect_ok(&r);
	assert_string_equal(r.out, "root (Window)\n  A (Node)\n  B (Node)\n    First (Node)\n");
	CLI(f, &r, "mv", "/root/A", "/root/B", "--index", "-1");
	expect_ok(&r);
	CLI(f, &r, "tree");
	expect_ok(&r);
	assert_string_equal(r.out, "root (Window)\n  B (Node)\n    First (Node)\n    A (Node)\n");
}

/* A configuration that cannot work stops groved at start, with a message in its log that says what to fix. */
static void test_bad_configuration_refused(void **state)
{
	(void)state;
	char *dir = test_tmpdir("badconf");
	char data[4200], listen[32], peers[128], log_path[4300];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log_path, sizeof(log_path), "%s.log", data);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", test_free_port());
	snprintf(peers, sizeof(peers), "1=%s,2=localhost:7402,3=127.0.0.1:7403", listen);
	const char *const named_host[] = {"--id", "1", "--peers", peers, "--cluster-token", "t", NULL};
	const char *const bad_number[] = {"--max-inflight", "lots", NULL};
	const char *const *args[] = {named_host, bad_number};
	const char *const said[] = {"--peers: member 2's address \"localhost:7402\" is not IPv4-ADDRESS:PORT",
				    "--max-inflight must be a whole number of requests from 1 to 1000000, not \"lots\""};
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		unlink(log_path);
		struct groved_opts o = {.listen = listen, .args = args[i]};
		int status = groved_run_to_exit(data, &o, 20);
		assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0);
		size_t log_len;
		char *log = test_read_file(log_path, &log_len);
		assert_non_null(log);
		if (!strstr(log, said[i]))
			print_error("groved's log: %s", log);
		assert_non_null(strstr(log, said[i]));
		free(log);
	}
	test_rmtree(dir);
}

/*
 * A second groved pointed at a directory a running one serves is refused (both would append to one log),
 * and says which process holds it; the first serves on. A kill -9 leaves nothing locked: a restart takes it.
 */
static void test_one_server_per_data_directory(void **state)
{
	struct fixture *f = *state;
	char log_path[4200], holder[64];
	snprintf(log_path, sizeof(log_path), "%s.second.log", f->data);
	snprintf(holder, sizeof(holder), "(process %ld)", (long)f->server.pid);
	struct cli_result r;
	CLI(f, &r, "add", "/root/Before", "Node");
	expect_ok(&r);
	/* Its own log file, so that the first one's log stays apart: run it through a shell redirect. */
	char command[8800];
	snprintf(command, sizeof(command), "%s --data %s --listen 127.0.0.1:0 >%s 2>&1", GROVED_PATH, f->data, log_path);
	int status = system(command);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	size_t len;
	char *log = test_read_file(log_path, &len);
	assert_non_null(log);
	if (!strstr(log, "is in use by another groved") || !strstr(log, holder))
		print_error("the second groved said: %s", log);
	assert_non_null(strstr(log, "is in use by another groved"));
	assert_non_null(strstr(log, holder));
	free(log);
	CLI(f, &r, "add", "/root/After", "Node");
	expect_ok(&r);
	groved_kill(&f->server);
	groved_start(&f->server, f->data, NULL);
	CLI(f, &r, "tree");
	expect_ok(&r);
	assert_string_equal(r.out, "root (Window)\n  Before (Node)\n  After (Node)\n");
}

static void test_wrong_token(void **state)
{
	struct fixture *f = *state;
	groved_stop(&f->server);
	groved_start(&f->server, f->data, "s3cret");
	struct grove_client *c;
	char error[256];
	assert_int_equal(grove_client_connect(f->server.address, "wrong", 5000, &c, error, sizeof(error)), GROVE_EAUTH);
	assert_string_equal(error, "wrong client token");
	assert_int_equal(grove_client_connect(f->server.address, NULL, 5000, &c, error, sizeof(error)), GROVE_EAUTH);
	assert_int_equal(grove_client_connect(f->server.address, "s3cret", 5000, &c, error, sizeof(error)), GROVE_OK);
	grove_client_close(c);
}

static int raw_connect(const struct groved_proc *p)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read until the server closes; true if it did (within the timeout). */
static bool closed_by_server(int fd)
{
	char buf[4096];
	for (int i = 0; i < 100; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			return true;
		if (n < 0)
			return false;
	}
	return false;
}

static void status_works(struct grove_client *c)
{
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	assert_int_equal(grove_client_call(c, &env, &reply), GROVE_OK);
	assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_STATUS_REPLY);
	grove__envelope__free_unpacked(reply, NULL);
}

/* A port on 127.0.0.1 that nothing listens on. */
static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	socklen_t len = sizeof(addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	close(fd);
	return ntohs(addr.sin_port);
}

/* Several members given: one that refuses connections and one that is stopped are passed over. */
static void test_several_members(void **state)
{
	struct fixture *f = *state;
	char second_data[4096];
	snprintf(second_data, sizeof(second_data), "%s/second", f->dir);
	struct groved_proc stopped;
	groved_start(&stopped, second_data, NULL);
	assert_int_equal(kill(stopped.pid, SIGSTOP), 0);
	char list[128];
	snprintf(list, sizeof(list), "127.0.0.1:%d,%s,%s", closed_port(), stopped.address, f->server.address);
	struct grove_client *c;
	char error[256];
	assert_int_equal(grove_client_connect(list, NULL, 10000, &c, error, sizeof(error)), GROVE_OK);
	status_works(c);
	grove_client_close(c);
	struct cli_result r;
	cli_run_at(list, &r, "add", "/root/ViaList", "Node", (char *)NULL);
	expect_ok(&r);
	CLI(f, &r, "get", "/root/ViaList");
	expect_ok(&r);
	/* With none answering, the last one's failure is reported. */
	snprintf(list, sizeof(list), "127.0.0.1:%d,%s", closed_port(), stopped.address);
	assert_int_equal(grove_client_connect(list, NULL, 10000, &c, error, sizeof(error)), GROVE_ETIMEDOUT);
	assert_int_equal(kill(stopped.pid, SIGCONT), 0);
	groved_stop(&stopped);
}

static void test_bad_frames(void **state)
{
	struct fixture *f = *state;
	struct grove_client *good;
	assert_int_equal(grove_client_connect(f->server.address, NULL, 5000, &good, NULL, 0), GROVE_OK);
	/* Text where a frame should be: its first four bytes announce a huge frame. */
	int fd = raw_connect(&f->server);
	const char garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(send(fd, garbage, sizeof(garbage) - 1, 0), (ssize_t)sizeof(garbage) - 1);
	assert_true(closed_by_server(fd));
	close(fd);
	status_works(good);
	/* An honest length prefix over the limit, with no body behind it. */
	fd = raw_connect(&f->server);
	uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
	assert_int_equal(send(fd, huge, 4, 0), 4);
	assert_true(closed_by_server(fd));
	close(fd);
	status_works(good);
	/* A well-framed payload that is not a grove message. */
	fd = raw_connect(&f->server);
	uint8_t bad[4 + 8] = {8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(send(fd, bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	assert_true(closed_by_server(fd));
	close(fd);
	/* A valid request before the hello. */
	fd = raw_connect(&f->server);
	Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_STATUS;
	env.status = &sr;
	uint8_t frame[256];
	size_t len = grove__envelope__pack(&env, frame + 4);
	frame[0] = (uint8_t)len;
	frame[1] = frame[2] = frame[3] = 0;
	assert_int_equal(send(fd, frame, len + 4, 0), (ssize_t)(len + 4));
	assert_true(closed_by_server(fd));
	close(fd);
	/* A write whose value bytes are not a Variant: refused as a batch, the connection stays. */
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root"}, .name = "x"};
	struct variant v;
	variant_set_int(&v, 1);
	op.value = &v;
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&op, 1, &wr), GROVE_OK);
	wr.ops[0].value.data[0] = 0xee; /* no such type tag */
	Grove__Envelope wenv = GROVE__ENVELOPE__INIT, *reply;
	wenv.body_case = GROVE__ENVELOPE__BODY_WRITE;
	wenv.write = &wr.req;
	assert_int_equal(grove_client_call(good, &wenv, &reply), GROVE_OK);
	assert_int_equal(reply->write_reply->code, GROVE_ECORRUPT);
	grove__envelope__free_unpacked(reply, NULL);
	wire_request_free(&wr);
	status_works(good);
	/* A name holding a NUL byte (which protobuf-c would end the string at): refused, nothing stored. */
	struct tree_op create = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = "cutXhere", .text = "Node",
				 .index = -1};
	assert_int_equal(wire_encode_batch(&create, 1, &wr), GROVE_OK);
	wenv.write = &wr.req;
	uint8_t raw[512];
	size_t raw_len = grove__envelope__pack(&wenv, raw + 4);
	put_le32(raw, (uint32_t)raw_len);
	uint8_t *x = memmem(raw + 4, raw_len, "cutXhere", 8);
	assert_non_null(x);
	x[3] = 0;
	assert_int_equal(send(grove_client_fd(good), raw, raw_len + 4, MSG_NOSIGNAL), (ssize_t)(raw_len + 4));
	assert_int_equal(grove_client_receive(good, 5000, &reply), GROVE_OK);
	assert_int_equal(reply->write_reply->code, GROVE_EBADNAME);
	assert_non_null(strstr(reply->write_reply->message, "NUL"));
	grove__envelope__free_unpacked(reply, NULL);
	wire_request_free(&wr);
	struct cli_result cut;
	CLI(f, &cut, "get", "/root/cut");
	assert_int_equal(cut.status, 1);
	status_works(good);
	grove_client_close(good);
	/* The server is still fine and logged why it closed each connection. */
	struct cli_result r;
	CLI(f, &r, "status");
	expect_ok(&r);
	char log_path[4096];
	snprintf(log_path, sizeof(log_path), "%s.log", f->data);
	FILE *log = fopen(log_path, "r");
	assert_non_null(log);
	char line[1024];
	int exceeds = 0, malformed = 0, hello = 0;
	while (fgets(line, sizeof(line), log)) {
		exceeds += strstr(line, "exceeds the limit") != NULL;
		malformed += strstr(line, "malformed frame") != NULL;
		hello += strstr(line, "first message must be a hello") != NULL;
	}
	fclose(log);
	assert_int_equal(exceeds, 2);
	assert_int_equal(malformed, 1);
	assert_int_equal(hello, 1);
}

/* ---- writers ---- */

struct writer {
	const char *address;
	int first, count;      /* writes property p<first> .. p<first+count-1> */
	int acked;             /* how many were acknowledged (a prefix: writes are sequential) */
	const char *node;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	struct grove_client *c;
	if (grove_client_connect(w->address, NULL, 10000, &c, NULL, 0))
		return NULL;
	for (int i = 0; i < w->count; i++) {
		char prop[32];
		snprintf(prop, sizeof(prop), "p%d", w->first + i);
		if (client_set_int(c, w->node, prop, w->first + i) != 0)
			break;
		__atomic_store_n(&w->acked, i + 1, __ATOMIC_SEQ_CST);
	}
	grove_client_close(c);
	return NULL;
}

/* Read all properties of @p node into values[] (index from the name p<i>); returns how many. */
static int read_props(const char *address, const char *node, int64_t *values, int max)
{
	struct grove_client *c;
	assert_int_equal(grove_client_connect(address, NULL, 10000, &c, NULL, 0), GROVE_OK);
	Grove__Envelope *reply;
	Grove__ReadReply *rr = client_read(c, node, 0, true, &reply);
	grove_client_close(c);
	assert_non_null(rr);
	assert_int_equal(rr->code, 0);
	const Grove__NodeInfo *n = rr->nodes[0];
	int found = 0;
	for (size_t k = 0; k < n->n_props; k++) {
		int i = atoi(n->props[k]->name + 1);
		struct variant v;
		size_t used;
		assert_int_equal(variant_decode(&v, n->props[k]->value.data, n->props[k]->value.len, &used), GROVE_OK);
		if (i >= 0 && i < max) {
			values[i] = v.as.i;
			found++;
		}
		variant_free(&v);
	}
	grove__envelope__free_unpacked(reply, NULL);
	return found;
}

static void test_concurrent_clients(void **state)
{
	struct fixture *f = *state;
	struct cli_result r;
	CLI(f, &r, "add", "/root/Shared", "Node");
	expect_ok(&r);
	/* Read after a write, not at start: the new leader's own entry may not be applied yet then. */
	long base = applied_index(&f->server);
	enum { THREADS = 16, EACH = 200 };
	pthread_t threads[THREADS];
	struct writer w[THREADS];
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct writer){.address = f->server.address, .first = t * EACH, .count = EACH, .node = "/root/Shared"};
		pthread_create(&threads[t], NULL, write_loop, &w[t]);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(threads[t], NULL);
		assert_int_equal(w[t].acked, EACH);
	}
	int64_t *values = calloc(THREADS * EACH, sizeof(*values));
	assert_int_equal(read_props(f->server.address, "/root/Shared", values, THREADS * EACH), THREADS * EACH);
	for (int i = 0; i < THREADS * EACH; i++)
		assert_int_equal(values[i], i);
	free(values);
	/* 3,200 sets, one entry each, though group commit made them durable together. */
	assert_int_equal(applied_index(&f->server), base + 3200);
}

static void test_sigterm_and_restart(void **state)
{
	struct fixture *f = *state;
	struct cli_result r;
	CLI(f, &r, "add", "/root/Kept", "Node2D");
	expect_ok(&r);
	CLI(f, &r, "set", "/root/Kept", "position", "Vector2(0.1, -2.5e-07)");
	expect_ok(&r);
	int status = groved_stop(&f->server);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	groved_start(&f->server, f->data, NULL);
	CLI(f, &r, "get", "/root/Kept", "position");
	expect_ok(&r);
	assert_string_equal(r.out, "Vector2(0.1, -2.5e-07)\n");
}

/* 10,000 acknowledged writes survive kill -9, which lands while more writes are in flight. */
static void test_kill9_keeps_acknowledged_writes(void **state)
{
	struct fixture *f = *state;
	struct cli_result r;
	CLI(f, &r, "add", "/root/K", "Node");
	expect_ok(&r);
	enum { THREADS = 4, EACH = 3000, TARGET = 10000 };
	pthread_t threads[THREADS];
	struct writer w[THREADS];
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct writer){.address = f->server.address, .first = t * EACH, .count = EACH, .node = "/root/K"};
		pthread_create(&threads[t], NULL, write_loop, &w[t]);
	}
	/* Wait (bounded) for 10,000 acknowledgements, then kill while the writers go on. */
	time_t deadline = time(NULL) + 240;
	int total = 0;
	while (time(NULL) < deadline) {
		total = 0;
		for (int t = 0; t < THREADS; t++)
			total += __atomic_load_n(&w[t].acked, __ATOMIC_SEQ_CST);
		if (total >= TARGET)
			break;
		usleep(1000);
	}
	groved_kill(&f->server);
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);
	total = 0;
	for (int t = 0; t < THREADS; t++)
		total += w[t].acked;
	print_message("kill -9 after %d acknowledged writes\n", total);
	assert_true(total >= TARGET);
	groved_start(&f->server, f->data, NULL);
	int64_t *values = calloc(THREADS * EACH, sizeof(*values));
	for (int i = 0; i < THREADS * EACH; i++)
		values[i] = -1;
	int present = read_props(f->server.address, "/root/K", values, THREADS * EACH);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < w[t].acked; i++)
			assert_int_equal(values[w[t].first + i], w[t].first + i);
	/* The applied index covers the create and each present write (and the entries of each leader's start). */
	long applied = applied_index(&f->server);
	if (applied < present + 1)
		print_error("applied index %ld, expected at least %d\n", applied, present + 1);
	assert_true(applied >= present + 1);
	free(values);
}

static int count_sections(const char *path, const char *prefix)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[65536];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, prefix, strlen(prefix)) == 0;
	fclose(f);
	return n;
}

/* Ask @p c for the export of @p path from @p offset, @p max_bytes at a time (0: whole); the reply (free it). */
static Grove__Envelope *export_call(struct grove_client *c, const char *path, uint64_t offset, uint32_t max_bytes)
{
	Grove__NodeRef ref = GROVE__NODE_REF__INIT;
	ref.path = (char *)path;
	Grove__ExportRequest ex = GROVE__EXPORT_REQUEST__INIT;
	ex.node = &ref;
	ex.godot_major = 4;
	ex.offset = offset;
	ex.max_bytes = max_bytes;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_EXPORT_SCENE;
	env.export_scene = &ex;
	assert_int_equal(grove_client_call(c, &env, &reply), GROVE_OK);
	assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_EXPORT_REPLY);
	return reply;
}

/*
 * A scene larger than a frame (--max-frame 64 KiB here) is exported in chunks: asked for whole it is refused
 * with a hint; `grove export` fetches it in chunks, and its file is the scene a client assembles from chunks
 * of 1,000 bytes; a chunk asked for at an offset with no scene being fetched is refused.
 */
static void test_export_in_chunks(void **state)
{
	(void)state;
	const char *const args[] = {"--max-frame", "65536", NULL};
	struct groved_opts opts = {.args = args};
	struct groved_fixture *f = groved_fixture_new("export_chunks", &opts);
	struct grove_client *c;
	assert_int_equal(grove_client_connect(f->server.address, NULL, 5000, &c, NULL, 0), GROVE_OK);
	struct tree_op big = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = "Big", .text = "Node3D",
			      .index = -1};
	assert_int_equal(client_write_ops(c, &big, 1), GROVE_OK);
	enum { BATCHES = 10, PER_BATCH = 200 };
	static char names[BATCHES * PER_BATCH][16];
	for (int b = 0; b < BATCHES; b++) {
		struct tree_op ops[PER_BATCH];
		for (int i = 0; i < PER_BATCH; i++) {
			snprintf(names[b * PER_BATCH + i], sizeof(names[0]), "n%d", b * PER_BATCH + i);
			ops[i] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = "/root/Big"},
						  .name = names[b * PER_BATCH + i], .text = "Node3D", .index = -1};
		}
		assert_int_equal(client_write_ops(c, ops, PER_BATCH), GROVE_OK);
	}
	Grove__Envelope *reply = export_call(c, "/root/Big", 0, 0);
	assert_int_equal(reply->export_reply->code, GROVE_ETOOBIG);
	assert_non_null(strstr(reply->export_reply->message, "ask for it in chunks"));
	grove__envelope__free_unpacked(reply, NULL);

	struct grove_buf scene = {0};
	uint64_t total = 0;
	do {
		reply = export_call(c, "/root/Big", scene.len, 1000);
		const Grove__ExportReply *er = reply->export_reply;
		assert_int_equal(er->code, 0);
		assert_true(er->scene.len > 0 && er->scene.len <= 1000);
		assert_true(total == 0 || er->total == total);
		total = er->total;
		grove_buf_put(&scene, er->scene.data, er->scene.len);
		grove__envelope__free_unpacked(reply, NULL);
	} while (scene.len < total);
	assert_true(total > 65536);
	assert_int_equal(scene.len, total);
	grove_buf_put(&scene, "", 1);
	assert_non_null(strstr((const char *)scene.data, "[node name=\"n1999\""));

	struct cli_result r;
	char out[4200];
	snprintf(out, sizeof(out), "%s/big.tscn", f->dir);
	cli_run(&f->server, &r, "export", "/root/Big", "-o", out, (char *)NULL);
	assert_int_equal(r.status, 0);
	FILE *file = fopen(out, "rb");
	assert_non_null(file);
	char *text = calloc(1, total + 1);
	assert_int_equal(fread(text, 1, total + 1, file), total);
	fclose(file);
	assert_memory_equal(text, scene.data, total);
	free(text);
	grove_buf_free(&scene);
	grove_client_close(c);

	assert_int_equal(grove_client_connect(f->server.address, NULL, 5000, &c, NULL, 0), GROVE_OK);
	reply = export_call(c, "/root/Big", 5, 1000);
	assert_int_equal(reply->export_reply->code, GROVE_ERANGE);
	assert_non_null(strstr(reply->export_reply->message, "from offset 0"));
	grove__envelope__free_unpacked(reply, NULL);
	grove_client_close(c);
	groved_fixture_free(f);
}

static void test_cli_import_export(void **state)
{
	struct fixture *f = *state;
	const char *scene = "../shared/corpus/godot4/2d~dodge_the_creeps~main.tscn";
	if (access(scene, R_OK) != 0) {
		print_message("corpus scene %s is absent; skipping import/export through the CLI\n", scene);
		skip();
	}
	struct cli_result r;
	CLI(f, &r, "add", "/root/Level", "Node");
	expect_ok(&r);
	CLI(f, &r, "import", scene, "--at", "/root/Level");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "imported "));
	char out4[4096], out3[4096];
	snprintf(out4, sizeof(out4), "%s/main4.tscn", f->dir);
	snprintf(out3, sizeof(out3), "%s/main3.tscn", f->dir);
	CLI(f, &r, "export", "/root/Level/Main", "-o", out4);
	expect_ok(&r);
	CLI(f, &r, "export", "/root/Level/Main", "-o", out3, "--godot", "3");
	expect_ok(&r);
	int nodes = count_sections(scene, "[node ");
	assert_true(nodes > 0);
	assert_int_equal(count_sections(out4, "[node "), nodes);
	assert_int_equal(count_sections(out3, "[node "), nodes);
	assert_int_equal(count_sections(out4, "[gd_scene"), 1);
	assert_int_equal(count_sections(out3, "[gd_scene load_steps="), 1);
	/* A stored resource reads back as grove get shows it: ExtResource("#<id>"); another spelling is refused. */
	CLI(f, &r, "get", "/root/Level/Main/Music", "stream");
	expect_ok(&r);
	const char *stored = strstr(r.out, "ExtResource(\"#");
	assert_non_null(stored);
	char music[64];
	snprintf(music, sizeof(music), "%.*s", (int)(strchr(stored, ')') + 1 - stored), stored);
	CLI(f, &r, "set", "/root/Level/Main/DeathSound", "stream", music);
	expect_ok(&r);
	CLI(f, &r, "get", "/root/Level/Main/DeathSound", "stream");
	assert_non_null(strstr(r.out, music));
	CLI(f, &r, "set", "/root/Level/Main/DeathSound", "stream", "ExtResource(\"5_55d8h\")");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "ExtResource(\"#<id>\")"));
	/* A broken scene names its line and column and imports nothing. */
	char broken[4096];
	snprintf(broken, sizeof(broken), "%s/broken.tscn", f->dir);
	FILE *b = fopen(broken, "w");
	fputs("[gd_scene format=3]\n\n[node name=\"X\" type=\"Node\"]\nposition = Vector2(1,\n", b);
	fclose(b);
	CLI(f, &r, "import", broken, "--at", "/root");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "broken.tscn:5:1: "));
	CLI(f, &r, "get", "/root/X");
	assert_int_equal(r.status, 1);
	/* Importing the same scene again under the same parent clashes, all or nothing. */
	CLI(f, &r, "import", scene, "--at", "/root/Level");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "already has a child named Main"));
}

static void test_snapshot_save_restore(void **state)
{
	struct fixture *f = *state;
	struct cli_result r, tree_a, tree_b;
	CLI(f, &r, "add", "/root/World", "Node3D");
	expect_ok(&r);
	for (int i = 0; i < 50; i++) {
		char path[64], value[64];
		snprintf(path, sizeof(path), "/root/World/N%d", i);
		snprintf(value, sizeof(value), "Vector3(%d, 0.5, -1)", i);
		CLI(f, &r, "add", path, "Node3D");
		expect_ok(&r);
		CLI(f, &r, "set", path, "position", value);
		expect_ok(&r);
	}
	char file[4096];
	snprintf(file, sizeof(file), "%s/world.snap", f->dir);
	long at = applied_index(&f->server);
	CLI(f, &r, "snapshot", "save", file);
	expect_ok(&r);
	char expect[64];
	snprintf(expect, sizeof(expect), "at applied index %ld", at);
	assert_non_null(strstr(r.out, expect));
	CLI(f, &r, "tree");
	tree_a = r;
	/* A second, empty server takes the snapshot and then holds the same world. */
	char *dir2;
	if (asprintf(&dir2, "%s/data2", f->dir) < 0)
		abort();
	struct groved_proc second;
	groved_start(&second, dir2, NULL);
	cli_run(&second, &r, "snapshot", "restore", file, (char *)NULL);
	expect_ok(&r);
	cli_run(&second, &tree_b, "tree", (char *)NULL);
	expect_ok(&tree_b);
	assert_string_equal(tree_a.out, tree_b.out);
	/* The restore is one entry of the second server's own log. */
	long restored_at = applied_index(&second);
	cli_run(&second, &r, "--json", "status", (char *)NULL);
	assert_non_null(strstr(r.out, "\"nodes\":52"));
	assert_true(restored_at > 0);
	/* It keeps working, and a restart keeps the restored world. */
	cli_run(&second, &r, "add", "/root/World/After", "Node", (char *)NULL);
	expect_ok(&r);
	groved_stop(&second);
	groved_start(&second, dir2, NULL);
	cli_run(&second, &r, "get", "/root/World/N49", "position", (char *)NULL);
	assert_string_equal(r.out, "Vector3(49, 0.5, -1)\n");
	/* A world that has data refuses a restore. */
	cli_run(&second, &r, "snapshot", "restore", file, (char *)NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "restore needs an empty world"));
	groved_stop(&second);
	/* A damaged snapshot is refused and changes nothing. */
	FILE *fp = fopen(file, "r+b");
	fseek(fp, 100, SEEK_SET);
	fputc(0x55, fp);
	fclose(fp);
	char *dir3;
	if (asprintf(&dir3, "%s/data3", f->dir) < 0)
		abort();
	groved_start(&second, dir3, NULL);
	cli_run(&second, &r, "snapshot", "restore", file, (char *)NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "checksum"));
	cli_run(&second, &r, "get", "/root/World", (char *)NULL);
	assert_int_equal(r.status, 1);
	groved_stop(&second);
	free(dir2);
	free(dir3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cli_workflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_refuses_malformed_numbers, setup, teardown),
		cmocka_unit_test(test_bad_configuration_refused),
		cmocka_unit_test_setup_teardown(test_one_server_per_data_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_keeps_acknowledged_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_import_export, setup, teardown),
		cmocka_unit_test(test_export_in_chunks),
		cmocka_unit_test_setup_teardown(test_snapshot_save_restore, setup, teardown),
	};
	return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
