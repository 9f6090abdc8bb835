/* Deep trees on a real groved: a read reply grows with its nodes, not with the square of the depth (only
 * the first node carries its path; the client library rebuilds the others), a listing over the frame limit
 * is refused up front with a clear error, an export whose node paths would exceed the limit is refused
 * before they are made, and groved's memory stays bounded meanwhile and it keeps serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/nodepaths.h"
#include "src/net/wire.h"
#include "src/tree/tree.h"
#include "support.h"

/* groved's peak resident memory may not pass this, whatever the depth (it holds ASan's shadow too). */
#define MAX_HWM_KIB (300L * 1024)

/* ASan keeps freed blocks aside (256 MiB of them by default): without that, groved's peak is its own. */
static const struct groved_opts groved_measured = {.asan_options = "quarantine_size_mb=0"};

static int setup(void **state)
{
	*state = groved_fixture_new("deep", &groved_measured);
	return 0;
}

static int teardown(void **state)
{
	groved_fixture_free(*state);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident memory of @p pid, in KiB (-1 if it cannot be read). */
static long peak_rss_kib(pid_t pid)
{
	return proc_status_kib(pid, "VmHWM");
}

/*
 * Start measuring @p pid's peak resident memory afresh (Linux: "5" to clear_refs resets VmHWM), so that a
 * peak says what came after, not what making the chain took.
 */
static void reset_peak_rss(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("5", f);
	assert_int_equal(fclose(f), 0);
}

static struct grove_client *connect_to(const struct groved_proc *p)
{
	struct grove_client *c = NULL;
	char why[256];
	if (grove_client_connect(p->address, NULL, 120000, &c, why, sizeof(why)) != GROVE_OK)
		fail_msg("cannot connect to %s: %s", p->address, why);
	return c;
}

/* Write one batch; the id its last operation created or acted on. */
static uint64_t write_batch(struct grove_client *c, const struct tree_op *ops, size_t n)
{
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(ops, n, &wr), GROVE_OK);
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	Grove__Envelope *reply = NULL;
	assert_int_equal(grove_client_call(c, &env, &reply), GROVE_OK);
	wire_request_free(&wr);
	assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_WRITE_REPLY);
	if (reply->write_reply->code)
		fail_msg("batch refused: %s", reply->write_reply->message);
	assert_int_equal(reply->write_reply->n_ids, n);
	uint64_t last = reply->write_reply->ids[n - 1];
	grove__envelope__free_unpacked(reply, NULL);
	return last;
}

/*
 * A chain /root/TOP/N1/N2/.../N<levels>, made in one batch from the bottom up: the nodes are created side by
 * side under TOP, the last first, then each is moved under the one before it, last first, so that every
 * operation acts at depth 1 or 2 on the first of TOP's children. (Created top-down, each CREATE's change
 * record would carry its absolute path, and moved from the end of the row, each MOVE's record its position
 * counted from the front: either way the batch would cost the square of the depth on the write path.)
 */
static void make_chain(struct grove_client *c, const char *top, size_t levels)
{
	struct tree_op *ops = calloc(1 + 2 * levels, sizeof(*ops));
	char (*names)[24] = calloc(levels + 1, sizeof(*names));
	assert_true(ops && names);
	ops[0] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = top, .text = "Node",
				  .index = -1};
	/* Op levels + 1 - k creates N_k: its batch-local reference is -(levels + 2 - k). */
	for (size_t k = levels; k >= 1; k--) {
		snprintf(names[k], sizeof(names[k]), "N%zu", k);
		ops[levels + 1 - k] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = names[k],
						       .text = "Node", .index = -1};
	}
	size_t op = levels + 1;
	for (size_t k = levels; k >= 2; k--)
		ops[op++] = (struct tree_op){.kind = TREE_OP_MOVE, .node = {.id = -(int64_t)(levels + 2 - k)},
					     .target = {.id = -(int64_t)(levels + 3 - k)}, .index = -1};
	double t0 = now_s();
	write_batch(c, ops, op);
	print_message("%s: a chain of %zu levels made in one batch of %zu operations in %.2f s\n", top, levels, op,
		      now_s() - t0);
	free(names);
	free(ops);
}

/* Run the CLI against @p p with its output into a pipe: how many bytes and lines it printed, and its status. */
static int cli_count(const struct groved_proc *p, const char *args, const char *must_contain, size_t *bytes,
		     size_t *lines)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s --server %s %s", GROVE_CLI_PATH, p->address, args);
	FILE *out = popen(cmd, "r");
	assert_non_null(out);
	char buf[1 << 16];
	size_t n;
	bool found = !must_contain;
	*bytes = *lines = 0;
	size_t keep = must_contain ? strlen(must_contain) : 0;
	char tail[256] = "";
	while ((n = fread(buf, 1, sizeof(buf), out)) > 0) {
		*bytes += n;
		for (size_t i = 0; i < n; i++)
			*lines += buf[i] == '\n';
		/* Look across the block boundary too: the tail of the last block before this one. */
		if (!found) {
			char window[sizeof(tail) + sizeof(buf) + 1];
			size_t t = strlen(tail);
			memcpy(window, tail, t);
			memcpy(window + t, buf, n);
			window[t + n] = '\0';
			found = strstr(window, must_contain) != NULL;
			size_t from = t + n > keep ? t + n - keep : 0;
			memcpy(tail, window + from, t + n - from + 1);
		}
	}
	int status = pclose(out);
	assert_true(found);
	return status;
}

/* ---- a small tree: the paths rebuilt from names and depths ---- */

static void test_reply_paths_round_trip(void **state)
{
	struct groved_fixture *f = *state;
	struct grove_client *c = connect_to(&f->server);
	static const char *const made[] = {"/root/W", "/root/W/A", "/root/W/A/A1", "/root/W/A/A2", "/root/W/A/A2/X",
					   "/root/W/B", "/root/W/B/B1", "/root/W/C"};
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		char *parent = strdup(made[i]);
		char *slash = strrchr(parent, '/');
		*slash = '\0';
		struct tree_op op = {.kind = TREE_OP_CREATE, .node = {.path = parent}, .name = slash + 1, .text = "Node",
				     .index = -1};
		assert_int_equal(client_write_ops(c, &op, 1), 0);
		free(parent);
	}
	Grove__Envelope *holder;
	Grove__ReadReply *rr = client_read(c, "/root/W/A", UINT32_MAX, false, &holder);
	assert_non_null(rr);
	assert_int_equal(rr->code, 0);
	assert_int_equal(rr->n_nodes, 4);
	assert_string_equal(rr->nodes[0]->path, "/root/W/A");
	for (size_t i = 1; i < rr->n_nodes; i++)
		assert_string_equal(rr->nodes[i]->path, ""); /* only the first node carries its path */
	grove__envelope__free_unpacked(holder, NULL);

	/* Pre-order with siblings and nesting: each path and each parent's position. */
	rr = client_read(c, "/root/W", UINT32_MAX, false, &holder);
	assert_non_null(rr);
	assert_int_equal(rr->n_nodes, sizeof(made) / sizeof(made[0]));
	static const size_t parents[] = {SIZE_MAX, 0, 1, 1, 3, 0, 5, 0};
	struct grove_node_paths walk;
	grove_node_paths_init(&walk, rr);
	size_t index, parent, seen = 0;
	const char *path;
	int step;
	while ((step = grove_node_paths_next(&walk, &index, &path, &parent)) > 0) {
		assert_int_equal(index, seen);
		assert_string_equal(path, made[index]);
		assert_int_equal(parent, parents[index]);
		if (parent != SIZE_MAX)
			assert_int_equal(rr->nodes[index]->parent, rr->nodes[parent]->id);
		seen++;
	}
	assert_int_equal(step, 0);
	assert_int_equal(seen, rr->n_nodes);
	grove_node_paths_free(&walk);

	/* A listing that is not a pre-order one is refused by the walk, and stays refused. */
	uint32_t depth_was = rr->nodes[2]->depth;
	rr->nodes[2]->depth = 3; /* two levels below the node before it */
	grove_node_paths_init(&walk, rr);
	assert_int_equal(grove_node_paths_next(&walk, NULL, &path, NULL), 1);
	assert_int_equal(grove_node_paths_next(&walk, NULL, &path, NULL), 1);
	assert_int_equal(grove_node_paths_next(&walk, NULL, &path, NULL), -GROVE_EPROTO);
	assert_int_equal(grove_node_paths_next(&walk, NULL, &path, NULL), -GROVE_EPROTO);
	grove_node_paths_free(&walk);
	rr->nodes[2]->depth = depth_was;
	char *first_path = rr->nodes[0]->path;
	rr->nodes[0]->path = "";
	grove_node_paths_init(&walk, rr);
	assert_int_equal(grove_node_paths_next(&walk, NULL, &path, NULL), -GROVE_EPROTO);
	grove_node_paths_free(&walk);
	rr->nodes[0]->path = first_path;
	grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(c);

	/* The CLI's JSON: the root's path, then names and parent ids. */
	struct cli_result *r = malloc(sizeof(*r));
	cli_run(&f->server, r, "--json", "tree", "/root/W/A", (char *)NULL);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "{\"path\":\"/root/W/A\",\"id\":"));
	assert_null(strstr(strstr(r->out, "\"name\":\"A1\""), "\"path\""));
	assert_non_null(strstr(r->out, "\"name\":\"X\""));
	cli_run(&f->server, r, "tree", "/root/W", (char *)NULL);
	assert_int_equal(r->status, 0);
	assert_string_equal(r->out, "W (Node)\n"
				    "  A (Node)\n"
				    "    A1 (Node)\n"
				    "    A2 (Node)\n"
				    "      X (Node)\n"
				    "  B (Node)\n"
				    "    B1 (Node)\n"
				    "  C (Node)\n");
	free(r);
}

/* ---- 100,000 levels: a linear reply, bounded memory ---- */

#define CHAIN_LEVELS 100000

static void test_chain_read_is_linear(void **state)
{
	struct groved_fixture *f = *state;
	struct grove_client *c = connect_to(&f->server);
	make_chain(c, "Chain", CHAIN_LEVELS);
	print_message("groved peak RSS making it: %ld MiB\n", peak_rss_kib(f->server.pid) / 1024);
	reset_peak_rss(f->server.pid);

	double t0 = now_s();
	Grove__Envelope *holder;
	Grove__ReadReply *rr = client_read(c, "/root/Chain", UINT32_MAX, true, &holder);
	double read_s = now_s() - t0;
	assert_non_null(rr);
	if (rr->code)
		fail_msg("read refused: %s", rr->message);
	assert_int_equal(rr->n_nodes, CHAIN_LEVELS + 1);
	assert_false(rr->truncated);
	size_t bytes = grove__read_reply__get_packed_size(rr);
	print_message("read in %.2f s: %zu bytes (%.1f per node)\n", read_s, bytes, (double)bytes / (double)rr->n_nodes);
	assert_true(bytes / rr->n_nodes <= 40);

	/* Every path, rebuilt in one pass: the last is the whole chain. */
	struct grove_node_paths walk;
	grove_node_paths_init(&walk, rr);
	size_t index, parent, count = 0;
	const char *path;
	size_t want_len = strlen("/root/Chain");
	while (grove_node_paths_next(&walk, &index, &path, &parent) > 0) {
		assert_int_equal(parent, index ? index - 1 : SIZE_MAX);
		if (index > 0) {
			char name[24];
			want_len += (size_t)snprintf(name, sizeof(name), "/N%zu", index);
			assert_string_equal(path + want_len - strlen(name), name);
		}
		assert_int_equal(strlen(path), want_len);
		count++;
	}
	assert_int_equal(count, CHAIN_LEVELS + 1);
	assert_int_equal(strncmp(path, "/root/Chain/N1/N2/N3/", 21), 0);
	grove_node_paths_free(&walk);
	grove__envelope__free_unpacked(holder, NULL);

	/* The CLI: an indented tree whose lines stop growing past 32 levels. */
	size_t out_bytes, out_lines;
	t0 = now_s();
	assert_int_equal(cli_count(&f->server, "tree /root/Chain", "[depth 100000] N100000 (Node)\n", &out_bytes,
				   &out_lines),
			 0);
	print_message("grove tree: %zu lines, %zu bytes in %.2f s\n", out_lines, out_bytes, now_s() - t0);
	assert_int_equal(out_lines, CHAIN_LEVELS + 1);
	assert_true(out_bytes / out_lines <= 100);
	assert_int_equal(cli_count(&f->server, "--json tree /root/Chain", "\"path\":\"/root/Chain\"", &out_bytes,
				   &out_lines),
			 0);
	assert_true(out_bytes / (CHAIN_LEVELS + 1) <= 200);

	long hwm = peak_rss_kib(f->server.pid);
	print_message("groved peak RSS: %ld MiB\n", hwm / 1024);
	assert_true(hwm > 0 && hwm < MAX_HWM_KIB);

	/* It keeps serving. */
	assert_int_equal(client_set_int(c, "/root/Chain", "after", 1), 0);
	rr = client_read(c, "/root/Chain", 0, true, &holder);
	assert_non_null(rr);
	assert_int_equal(rr->code, 0);
	assert_int_equal(rr->nodes[0]->n_props, 1);
	grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(c);
}

/* ---- over the frame limit: refused with a clear error, nothing built past the limit ---- */

static void test_chain_read_over_the_limit_is_refused(void **state)
{
	struct groved_fixture *f = *state;
	struct grove_client *c = connect_to(&f->server);
	make_chain(c, "Chain", CHAIN_LEVELS);
	grove_client_close(c);
	/* The same world behind a 1 MiB frame limit: the chain's listing takes about 2.5 MiB. */
	groved_kill(&f->server);
	const char *args[] = {"--max-frame", "1048576", NULL};
	struct groved_opts o = groved_measured;
	o.args = args;
	groved_start_opts(&f->server, f->data, &o);
	c = connect_to(&f->server);

	/* Less depth fits. */
	Grove__Envelope *holder;
	Grove__ReadReply *rr = client_read(c, "/root/Chain", 1000, false, &holder);
	assert_non_null(rr);
	assert_int_equal(rr->code, 0);
	assert_int_equal(rr->n_nodes, 1001);
	grove__envelope__free_unpacked(holder, NULL);
	reset_peak_rss(f->server.pid);

	double t0 = now_s();
	rr = client_read(c, "/root/Chain", UINT32_MAX, false, &holder);
	assert_non_null(rr);
	print_message("refused in %.2f s: %s\n", now_s() - t0, rr->message);
	assert_int_equal(rr->code, GROVE_ETOOBIG);
	assert_int_equal(rr->n_nodes, 0);
	assert_non_null(strstr(rr->message, "/root/Chain: the listing would exceed the reply limit of 1048576 bytes"));
	assert_non_null(strstr(rr->message, "ask for less depth or a smaller subtree"));
	grove__envelope__free_unpacked(holder, NULL);

	struct cli_result *r = malloc(sizeof(*r));
	cli_run(&f->server, r, "tree", "/root/Chain", (char *)NULL);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "ask for less depth or a smaller subtree"));
	free(r);

	long hwm = peak_rss_kib(f->server.pid);
	print_message("groved peak RSS: %ld MiB\n", hwm / 1024);
	assert_true(hwm > 0 && hwm < MAX_HWM_KIB);
	assert_int_equal(client_set_int(c, "/root/Chain", "after", 1), 0);
	grove_client_close(c);
}

/* ---- exports of deep chains ---- */

#define EXPORT_REFUSED_LEVELS 20000

static void test_chain_export(void **state)
{
	struct groved_fixture *f = *state;
	struct grove_client *c = connect_to(&f->server);
	make_chain(c, "Deep", EXPORT_REFUSED_LEVELS);
	make_chain(c, "Short", 1000);
	make_chain(c, "Longer", 2000);
	reset_peak_rss(f->server.pid);
	struct cli_result *r = malloc(sizeof(*r));
	char out[4200];

	/* A .tscn names every node's parent by its path from the scene's root: the text grows with the square
	 * of the depth. */
	size_t sizes[2];
	const char *tops[] = {"/root/Short", "/root/Longer"};
	for (int i = 0; i < 2; i++) {
		snprintf(out, sizeof(out), "%s/chain.tscn", f->dir);
		cli_run(&f->server, r, "export", tops[i], "-o", out, (char *)NULL);
		assert_int_equal(r->status, 0);
		struct stat st;
		assert_int_equal(stat(out, &st), 0);
		sizes[i] = (size_t)st.st_size;
	}
	print_message(".tscn of a chain: 1,000 levels %zu bytes, 2,000 levels %zu bytes\n", sizes[0], sizes[1]);
	assert_true(sizes[1] > 3 * sizes[0]);
	snprintf(out, sizeof(out), "%s/chain.scn", f->dir);
	cli_run(&f->server, r, "export", "/root/Longer", "-o", out, (char *)NULL);
	assert_int_equal(r->status, 0);
	print_message("groved peak RSS for these exports: %ld MiB\n", peak_rss_kib(f->server.pid) / 1024);
	reset_peak_rss(f->server.pid);

	/* 20,000 levels: about a gigabyte of paths, refused before any is made. */
	double t0 = now_s();
	snprintf(out, sizeof(out), "%s/deep.tscn", f->dir);
	cli_run(&f->server, r, "export", "/root/Deep", "-o", out, (char *)NULL);
	print_message("refused in %.2f s: %s", now_s() - t0, r->err);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "/root/Deep: the scene's node paths alone would take"));
	assert_non_null(strstr(r->err, "export a smaller or shallower subtree"));
	assert_int_equal(access(out, F_OK), -1);
	snprintf(out, sizeof(out), "%s/deep.scn", f->dir);
	cli_run(&f->server, r, "export", "/root/Deep", "-o", out, (char *)NULL);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "export a smaller or shallower subtree"));

	/* A subscriber's snapshot is bounded the same way, and the stream says why. */
	cli_run(&f->server, r, "watch", "/root/Deep", "--seconds", "20", (char *)NULL);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "export a smaller or shallower subtree"));

	long hwm = peak_rss_kib(f->server.pid);
	print_message("groved peak RSS: %ld MiB\n", hwm / 1024);
	assert_true(hwm > 0 && hwm < MAX_HWM_KIB);
	cli_run(&f->server, r, "get", "/root/Deep", (char *)NULL);
	assert_int_equal(r->status, 0);
	free(r);
	grove_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reply_paths_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_read_is_linear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_read_over_the_limit_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_export, setup, teardown),
	};
	return cmocka_run_group_tests_name("deep", tests, NULL, NULL);
}
