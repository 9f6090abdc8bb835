/* Data directories written by older versions of groved (tests/data/legacy, made with real builds of those
 * versions by make-fixtures.sh there) are moved into the current layout when the current groved starts on
 * a copy of them: the server says so, the world reads back exactly as the old version showed it, new writes
 * work and survive a restart after SIGTERM and after SIGKILL, and a cluster elects a leader whose writes
 * reach all three members, which end with the same world. An upgrade whose first start fails on a full
 * disk is done whole by the next start. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/server/groupstate.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "harness.h"
#include "support.h"

#define MAX_NODES 3
#define MOVED_TABLES "moved the data of an older version into group 1's tables"
#define TOKEN "legacy-fixture"

struct fixture {
	const char *name;       /* its folder under LEGACY_DIR */
	int nodes;              /* 1: a single node, on any port; 3: members 1..3 on base_port + id */
	int base_port;          /* the ports it was made with: its members' addresses are in its data */
	const char *moved_log;  /* a second line its migration logs, or NULL */
};

static const struct fixture single_a060f1d = {"single-a060f1d", 1, 0, NULL};
static const struct fixture cluster_a060f1d = {"cluster-a060f1d", 3, 17200, NULL};
static const struct fixture cluster_6d2b416 = {"cluster-6d2b416", 3, 17300, "raft: moved the log (entries"};

/* A copy of a fixture and the servers running on it. */
struct run {
	const struct fixture *f;
	char fixture[4096];                  /* LEGACY_DIR/name */
	char *dir;                           /* the copy */
	char data[MAX_NODES + 1][4096];      /* dir/nodeN */
	char listen[MAX_NODES + 1][32];
	char id[MAX_NODES + 1][16];
	char peers[256];
	struct groved_proc nodes[MAX_NODES + 1];
	struct cli_result *r;
};

/* ---- files ---- */

/* The whole of @p path, NUL-terminated (malloc'd), or NULL. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[4096];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = '\0';
	return buf;
}

/* Copy the directory @p from (regular files and directories) to @p to. */
static void copy_tree(const char *from, const char *to)
{
	assert_int_equal(mkdir(to, 0755), 0);
	DIR *d = opendir(from);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char src[4096], dst[4096];
		snprintf(src, sizeof(src), "%s/%s", from, de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
		struct stat st;
		assert_int_equal(stat(src, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(src, dst);
			continue;
		}
		int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(in >= 0 && out >= 0);
		char buf[65536];
		ssize_t n;
		while ((n = read(in, buf, sizeof(buf))) > 0)
			assert_int_equal(write(out, buf, (size_t)n), n);
		assert_int_equal(n, 0);
		close(in);
		close(out);
	}
	closedir(d);
}

/* How many lines of node @p node's log contain @p needle. */
static int log_count(const struct run *run, int node, const char *needle)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s.log", run->data[node]);
	FILE *f = fopen(path, "r");
	int n = 0;
	char line[1024];
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* ---- servers ---- */

/* The arguments after --data and --listen that node @p node was made with (NULL for a single node). */
static const char *const *node_args(struct run *run, int node, const char *argv[8])
{
	if (run->f->nodes == 1)
		return NULL;
	const char *args[] = {"--id", run->id[node], "--peers", run->peers, "--cluster-token", TOKEN, NULL};
	memcpy(argv, args, sizeof(args));
	return argv;
}

static void node_start(struct run *run, int node)
{
	const char *argv[8];
	struct groved_opts o = {.listen = run->listen[node], .args = node_args(run, node, argv)};
	groved_start_opts(&run->nodes[node], run->data[node], &o);
}

static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	bool free_now = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return free_now;
}

/* A cluster's members must have the ports they were made with: wait (at most 60 s) for them to be free. */
static void wait_ports(const struct run *run)
{
	for (int i = 1; i <= run->f->nodes && run->f->base_port; i++) {
		int port = run->f->base_port + i;
		for (int t = 0; t < 600 && !port_free(port); t++)
			usleep(100000);
		if (!port_free(port))
			fail_msg("%s: port %d is taken; this fixture's members were made on ports %d..%d", run->f->name,
				 port, run->f->base_port + 1, run->f->base_port + run->f->nodes);
	}
}

static void start_all(struct run *run)
{
	wait_ports(run);
	for (int i = 1; i <= run->f->nodes; i++)
		node_start(run, i);
}

/* SIGTERM every node: each must exit cleanly. */
static void stop_all(struct run *run)
{
	for (int i = 1; i <= run->f->nodes; i++) {
		int status = groved_stop(&run->nodes[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void kill_all(struct run *run)
{
	for (int i = 1; i <= run->f->nodes; i++)
		groved_kill(&run->nodes[i]);
}

/*
 * Start node @p node the way a disk that is full (for files past 4 MiB, well below a log segment's
 * preallocation) would let it start: it must refuse, and exit within 30 s.
 */
static void start_on_full_disk(struct run *run, int node)
{
	const char *args[8];
	const char *const *extra = node_args(run, node, args);
	const char *argv[16] = {"groved", "--data", run->data[node], "--listen", run->listen[node]};
	for (int i = 0; extra && extra[i]; i++)
		argv[5 + i] = extra[i];
	char log[4200];
	snprintf(log, sizeof(log), "%s.log", run->data[node]);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		/* Ignored, SIGXFSZ turns a write past the limit into EFBIG, as ENOSPC on a full disk. */
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit limit = {4 << 20, 4 << 20};
		setrlimit(RLIMIT_FSIZE, &limit);
		execv(GROVED_PATH, (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	time_t deadline = time(NULL) + 30;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("node %d started on a full disk", node);
		}
		usleep(50000);
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

/* A number field of `grove --json status` of node @p node (-1 if it did not answer). */
static long long status_field(struct run *run, int node, const char *field)
{
	cli_run(&run->nodes[node], run->r, "--json", "status", (char *)NULL);
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", field);
	const char *at = strstr(run->r->out, key);
	return run->r->status == 0 && at ? strtoll(at + strlen(key), NULL, 10) : -1;
}

static bool is_leader(struct run *run, int node)
{
	cli_run(&run->nodes[node], run->r, "--json", "status", (char *)NULL);
	return run->r->status == 0 && strstr(run->r->out, "\"role\":\"leader\"") != NULL;
}

/* Wait (at most 20 s) until a node is leader; returns it. */
static int wait_leader(struct run *run)
{
	for (int t = 0; t < 200; t++) {
		for (int i = 1; i <= run->f->nodes; i++)
			if (is_leader(run, i))
				return i;
		usleep(100000);
	}
	fail_msg("%s: no leader was elected", run->f->name);
	return 0;
}

/* Wait (at most 20 s) until every node has applied the same index, at least @p at_least; returns it. */
static long long wait_converged(struct run *run, long long at_least)
{
	long long applied[MAX_NODES + 1] = {0};
	for (int t = 0; t < 200; t++) {
		bool same = true;
		for (int i = 1; i <= run->f->nodes; i++) {
			applied[i] = status_field(run, i, "applied_index");
			same &= applied[i] >= at_least && applied[i] == applied[1];
		}
		if (same)
			return applied[1];
		usleep(100000);
	}
	fail_msg("%s: the nodes did not converge: %lld %lld %lld", run->f->name, applied[1], applied[2], applied[3]);
	return 0;
}

/* ---- the world ---- */

static void cli_ok(struct run *run, int node, ...)
{
	va_list ap;
	va_start(ap, node);
	const char *args[16] = {0};
	int n = 0;
	while (n < 15 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	cli_run(&run->nodes[node], run->r, args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7],
		(char *)NULL);
	if (run->r->status != 0)
		fail_msg("%s: grove %s %s: exit %d: %s", run->f->name, args[0], args[1] ? args[1] : "", run->r->status,
			 run->r->err);
}

static void strip_newlines(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
}

/* `grove tree` through node @p node is the recorded tree followed by @p extra. */
static void check_tree(struct run *run, int node, const char *extra)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/expected/tree.txt", run->fixture);
	char *tree = read_text(path);
	assert_non_null(tree);
	char *want = malloc(strlen(tree) + strlen(extra) + 1);
	assert_non_null(want);
	strcpy(want, tree);
	strcat(want, extra);
	cli_ok(run, node, "tree", NULL);
	bool same = strcmp(run->r->out, want) == 0;
	if (!same)
		print_message("%s: grove tree:\n%s\nwas:\n%s\n", run->f->name, run->r->out, want);
	free(want);
	free(tree);
	assert_true(same);
}

/* The imported scene exports as the old version exported it: its resources and connection came along. */
static void check_export(struct run *run, int node)
{
	char out[4200], path[4200];
	snprintf(out, sizeof(out), "%s/level.tscn", run->dir);
	snprintf(path, sizeof(path), "%s/expected/level.tscn", run->fixture);
	unlink(out);
	cli_ok(run, node, "export", "/root/World/Level", "-o", out, NULL);
	char *got = read_text(out), *want = read_text(path);
	bool same = got && want && strcmp(got, want) == 0;
	if (!same)
		print_message("%s: exported:\n%s\nwas:\n%s\n", run->f->name, got ? got : "(none)", want ? want : "(none)");
	free(got);
	free(want);
	assert_true(same);
}

/* Every node as JSON (ids too) as the old version showed it; the root only if nothing was added to it. */
static void check_gets(struct run *run, int node, bool root)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/expected/get.tsv", run->fixture);
	char *gets = read_text(path);
	assert_non_null(gets);
	int checked = 0;
	for (char *line = strtok(gets, "\n"); line; line = strtok(NULL, "\n")) {
		char *tab = strchr(line, '\t');
		assert_non_null(tab);
		*tab = '\0';
		if (!root && strcmp(line, "/root") == 0)
			continue;
		cli_ok(run, node, "--json", "get", line, NULL);
		strip_newlines(run->r->out);
		if (strcmp(run->r->out, tab + 1) != 0)
			fail_msg("%s: get %s:\n  now %s\n  was %s", run->f->name, line, run->r->out, tab + 1);
		checked++;
	}
	free(gets);
	assert_true(checked >= 10);
}

/* Everything recorded from the old version: the tree, every node, the deleted paths, the imported scene. */
static void check_world(struct run *run, int node)
{
	check_tree(run, node, "");
	check_gets(run, node, true);
	char path[4200];
	snprintf(path, sizeof(path), "%s/expected/absent.txt", run->fixture);
	char *absent = read_text(path);
	assert_non_null(absent);
	for (char *line = strtok(absent, "\n"); line; line = strtok(NULL, "\n")) {
		cli_run(&run->nodes[node], run->r, "get", line, (char *)NULL);
		if (run->r->status != 1)
			fail_msg("%s: %s came back (exit %d)", run->f->name, line, run->r->status);
	}
	free(absent);
	check_export(run, node);
}

/* The tree's lines for /root/After, the node the new version writes. */
static void after_lines(char *out, size_t cap, int n)
{
	snprintf(out, cap, "  After (Node)\n    n = %d\n", n);
}

/* ---- the stores ---- */

struct digest {
	uint64_t hash;
	size_t records;
};

static void fnv(uint64_t *h, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		*h = (*h ^ b[i]) * 1099511628211ull;
}

static int digest_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct digest *d = ctx;
	uint64_t lens[3] = {table, key_len, val_len};
	fnv(&d->hash, lens, sizeof(lens));
	fnv(&d->hash, key, key_len);
	fnv(&d->hash, val, val_len);
	d->records++;
	return GROVE_OK;
}

/*
 * Node @p node's store (stopped): the old databases are gone, /root/After has n = @p n, and the digest of
 * its whole tree goes to @p d (every member must hold the same).
 */
static void check_store(struct run *run, int node, int n, struct digest *d)
{
	struct store *s;
	assert_int_equal(store_open(&s, run->data[node], NULL), GROVE_OK);
	store_db old;
	assert_int_equal(store_db_open(s, "meta", false, &old), GROVE_ENOTFOUND);
	assert_int_equal(store_db_open(s, "nodes", false, &old), GROVE_ENOTFOUND);
	assert_int_equal(store_db_open(s, "raft_state", false, &old), GROVE_ENOTFOUND);
	struct tree world;
	assert_int_equal(tree_open(s, 1, &world), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, false, &txn), GROVE_OK);
	uint64_t id;
	assert_int_equal(tree_resolve_path(&world, txn, "/root/After", &id), GROVE_OK);
	struct variant v;
	assert_int_equal(tree_get_prop(&world, txn, id, "n", &v), GROVE_OK);
	if (v.as.i != n)
		fail_msg("%s: node %d has n = %lld, not %d", run->f->name, node, (long long)v.as.i, n);
	*d = (struct digest){.hash = 14695981039346656037ull};
	assert_int_equal(tree_dump(&world, txn, digest_record, d), GROVE_OK);
	store_txn_abort(txn);
	store_close(s);
}

/* ---- the upgrade ---- */

static bool fixture_present(const struct fixture *f)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s/node1/data.mdb", LEGACY_DIR, f->name);
	return access(path, R_OK) == 0;
}

static void run_open(struct run *run, const struct fixture *f)
{
	memset(run, 0, sizeof(*run));
	run->f = f;
	run->r = malloc(sizeof(*run->r));
	assert_non_null(run->r);
	snprintf(run->fixture, sizeof(run->fixture), "%s/%s", LEGACY_DIR, f->name);
	run->dir = test_tmpdir("migrate");
	if (f->nodes > 1) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/peers", run->fixture);
		char *peers = read_text(path);
		assert_non_null(peers);
		strip_newlines(peers);
		snprintf(run->peers, sizeof(run->peers), "%s", peers);
		free(peers);
	}
	for (int i = 1; i <= f->nodes; i++) {
		char from[4200];
		snprintf(from, sizeof(from), "%s/node%d", run->fixture, i);
		snprintf(run->data[i], sizeof(run->data[i]), "%s/node%d", run->dir, i);
		copy_tree(from, run->data[i]);
		snprintf(run->id[i], sizeof(run->id[i]), "%d", i);
		if (f->nodes == 1)
			snprintf(run->listen[i], sizeof(run->listen[i]), "127.0.0.1:0");
		else
			snprintf(run->listen[i], sizeof(run->listen[i]), "127.0.0.1:%d", f->base_port + i);
	}
}

/* The run of the test under way: a failed test leaves it to cleanup(). */
static struct run *current;

static void run_close(struct run *run)
{
	kill_all(run);
	test_rmtree(run->dir);
	free(run->r);
	current = NULL;
}

static int cleanup(void **state)
{
	(void)state;
	if (current)
		run_close(current);
	return 0;
}

/* Each node's applied index from the old version's status. */
static long long old_applied(struct run *run, int node)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/expected/status-node%d.json", run->fixture, node);
	char *status = read_text(path);
	assert_non_null(status);
	const char *at = strstr(status, "\"applied_index\":");
	assert_non_null(at);
	long long applied = strtoll(at + strlen("\"applied_index\":"), NULL, 10);
	free(status);
	return applied;
}

/* The current groved on a copy of @p f (after a first start on a full disk when @p full_disk_first). */
static void upgrade(const struct fixture *f, bool full_disk_first)
{
	if (!fixture_present(f)) {
		print_message("%s/%s is absent: nothing to upgrade\n", LEGACY_DIR, f->name);
		skip();
	}
	time_t began = time(NULL);
	static struct run run;
	run_open(&run, f);
	current = &run;
	if (full_disk_first)
		start_on_full_disk(&run, 1);

	/* The first start moves the data, once, and reads back what the old version showed. */
	start_all(&run);
	int leader = wait_leader(&run);
	long long applied = 0;
	for (int i = 1; i <= f->nodes; i++) {
		assert_int_equal(log_count(&run, i, MOVED_TABLES), 1);
		if (f->moved_log)
			assert_int_equal(log_count(&run, i, f->moved_log), 1);
		if (old_applied(&run, i) > applied)
			applied = old_applied(&run, i);
	}
	wait_converged(&run, applied);
	check_world(&run, leader);

	/* New writes, through any member, and a clean restart. */
	char after[64];
	cli_ok(&run, f->nodes, "add", "/root/After", "Node", NULL);
	cli_ok(&run, 1, "set", "/root/After", "n", "1", NULL);
	after_lines(after, sizeof(after), 1);
	check_tree(&run, 1, after);
	stop_all(&run);
	start_all(&run);
	leader = wait_leader(&run);
	check_tree(&run, leader, after);

	/* An acknowledged write survives SIGKILL of every member. */
	cli_ok(&run, 1, "set", "/root/After", "n", "2", NULL);
	kill_all(&run);
	start_all(&run);
	leader = wait_leader(&run);
	after_lines(after, sizeof(after), 2);
	check_tree(&run, leader, after);
	check_gets(&run, leader, false);
	for (int i = 1; i <= f->nodes; i++)
		assert_int_equal(log_count(&run, i, MOVED_TABLES), 1);

	/* Every member has the write and the same world. */
	wait_converged(&run, 0);
	stop_all(&run);
	struct digest first, d;
	for (int i = 1; i <= f->nodes; i++) {
		char aside[4200];
		snprintf(aside, sizeof(aside), "%s/raft-log.new", run.data[i]);
		assert_int_equal(access(aside, F_OK), -1);
		check_store(&run, i, 2, i == 1 ? &first : &d);
		if (i > 1 && (d.hash != first.hash || d.records != first.records))
			fail_msg("%s: node %d's tree differs from node 1's", f->name, i);
	}
	print_message("%s: %zu records on each of %d node(s); %lld s\n", f->name, first.records, f->nodes,
		      (long long)(time(NULL) - began));
	run_close(&run);
}

/* One upgrade: of which fixture, and whether its first start (node 1's) meets a full disk. */
struct upgrade_case {
	const struct fixture *f;
	bool full_disk_first;
};

static void test_upgrade(void **state)
{
	const struct upgrade_case *c = *state;
	upgrade(c->f, c->full_disk_first);
}

int main(void)
{
	/* A full disk matters to the layouts whose upgrade writes a new Raft log: it stops that log half made. */
	static const struct upgrade_case cases[] = {
		{&single_a060f1d, false}, {&cluster_a060f1d, false}, {&cluster_6d2b416, false},
		{&single_a060f1d, true},  {&cluster_6d2b416, true},
	};
	const struct CMUnitTest tests[] = {
		{"single-a060f1d", test_upgrade, NULL, cleanup, (void *)&cases[0]},
		{"cluster-a060f1d", test_upgrade, NULL, cleanup, (void *)&cases[1]},
		{"cluster-6d2b416", test_upgrade, NULL, cleanup, (void *)&cases[2]},
		{"single-a060f1d after a full disk", test_upgrade, NULL, cleanup, (void *)&cases[3]},
		{"cluster-6d2b416 after a full disk", test_upgrade, NULL, cleanup, (void *)&cases[4]},
	};
	/* GROVE_TEST_FILTER=cluster* runs only the matching tests. */
	if (getenv("GROVE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GROVE_TEST_FILTER"));
	return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
