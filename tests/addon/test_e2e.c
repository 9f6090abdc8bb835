/* The GroveClient addon against a real 3-member groved cluster on 127.0.0.1, in Debian's godot3-server:
 *  - two followers (tests/addon/project/e2e/follower.gd) and a submitter (submitter.gd: 1,000 pipelined
 *    batches of position sets, every other one also a move between A and B): every key is answered
 *    "submitted" once, each follower applies exactly the submitter's batches after its snapshot, in
 *    increasing index order, none missing, none twice, and both end with the tree grove exports, grove ids
 *    included;
 *  - the same with the leader, which the followers and the submitter are connected to, killed with SIGKILL
 *    in the middle of the stream: the submitter's batches are each applied once, and the followers resume
 *    through another member without a gap or a repeat;
 *  - batches a member passed on to a leader that is stopped, then killed, before it proposes them: the
 *    member answers them as unavailable once a new term begins, and the submitter's client sends them
 *    again, so each is applied once, in seconds rather than after the member's 60 s timeout;
 *  - a follower with a checkpoint killed with SIGKILL and started again resumes from its checkpoint's
 *    index (no snapshot) across the batches written meanwhile; and with groved keeping a history of 64
 *    entries, a follower started again after more than 64 entries is told "compacted" and takes a
 *    snapshot;
 *  - a follower of zone B alone gets a node with a child moved in from zone A as its creation, with no
 *    new snapshot, and a node whose texture is an embedded resource with it, and ends equal to grove's
 *    export of zone B; one of zone B while B is split into a shard of its own follows it through the split
 *    with no new snapshot and ends equal to grove's export of it;
 *  - a follower of a world into which scenes the engine made are imported, before its snapshot and while
 *    it follows (embedded resources arrive with their properties), ends equal to grove's export;
 *  - a follower of a world that a Godot client changes with 150 random batches (sets of values of many
 *    types, metadata, creates, renames, moves, reorders, removals, groups, clears) ends equal to grove's
 *    export, and every batch was answered once.
 * Without godot3-server the tests skip with a message, or fail when CI=true. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/common/buf.h"
#include "cluster.h"
#include "files.h"
#include "godot_project.h"
#include "harness.h"
#include "support.h"

#define WORLD "/root/World"
#define BATCHES 1000
/* A Godot process that has not finished by then has hung: the followers' own deadline is shorter. */
#define GODOT_SECONDS 150
#define FOLLOWER_SECONDS "120"
#define MAX_GODOTS 16
#define MAX_INDICES 4096

struct e2e {
	struct cluster cluster;
	char *dir;                   /* each Godot process's home, every output */
	char *project;               /* the Godot project */
	char addresses[256];         /* GROVE_ADDRESSES, in the order clients try them */
	int first;                   /* the member listed first: the one clients connect to */
	pid_t godots[MAX_GODOTS];    /* every Godot process started, for the teardown */
	size_t n_godots;
	uint64_t applied[MAX_INDICES]; /* the index of every batch the submitters had applied */
	size_t n_applied;
	bool passed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the grove side ---- */

/* `grove --server <a running member> ARGS...`, which must succeed; its output in @p r. */
#define CLI(e, r, ...)                                                                                  \
	do {                                                                                            \
		struct groved_proc member_ = {0};                                                       \
		cluster_address(&(e)->cluster, any_member(e), member_.address, sizeof(member_.address)); \
		cli_run(&member_, r, __VA_ARGS__, (char *)NULL);                                        \
		if ((r)->status)                                                                        \
			fail_msg("grove %s: exit %d: %s", #__VA_ARGS__, (r)->status, (r)->err);         \
	} while (0)

static int any_member(const struct e2e *e)
{
	for (int i = 1; i <= CLUSTER_NODES; i++)
		if (e->cluster.pids[i])
			return i;
	fail_msg("no member runs");
	return 0;
}

/* The world the test changes: A and B, between which Mover moves, and a few nodes that only are. */
static void make_world(struct e2e *e)
{
	struct cli_result *r = malloc(sizeof(*r));
	CLI(e, r, "add", WORLD, "Node2D");
	CLI(e, r, "add", WORLD "/A", "Node2D");
	CLI(e, r, "set", WORLD "/A", "position", "Vector2(10, 20)");
	CLI(e, r, "add", WORLD "/B", "Node2D");
	CLI(e, r, "add", WORLD "/A/Mover", "Node2D");
	CLI(e, r, "add", WORLD "/B/Lamp", "Sprite");
	CLI(e, r, "set", WORLD "/B/Lamp", "modulate", "Color(1, 0.5, 0, 1)");
	CLI(e, r, "add", WORLD "/Sign", "Label");
	CLI(e, r, "set", WORLD "/Sign", "text", "\"welcome\"");
	CLI(e, r, "group", "add", WORLD "/Sign", "signs");
	CLI(e, r, "add", WORLD "/Spawn", "Position2D");
	CLI(e, r, "set", WORLD "/Spawn", "position", "Vector2(-5, 7.5)");
	free(r);
}

/* GROVE_ADDRESSES with member @p first first: clients in order connect to it. */
static void order_addresses(struct e2e *e, int first)
{
	e->first = first;
	size_t n = 0;
	for (int k = 0; k < CLUSTER_NODES; k++) {
		char address[32];
		cluster_address(&e->cluster, (first - 1 + k) % CLUSTER_NODES + 1, address, sizeof(address));
		n += (size_t)snprintf(e->addresses + n, sizeof(e->addresses) - n, "%s%s", k ? "," : "", address);
	}
}

/* Member @p node leads (bounded): on a loaded machine the members may have held an election of their own
 * since the clients connected to it. */
static void make_leader(struct e2e *e, int node)
{
	struct cli_result *r = malloc(sizeof(*r));
	uint64_t applied[CLUSTER_NODES + 1];
	int leader = 0;
	for (int t = 0; t < 50 && (leader = cluster_leader(&e->cluster, applied)) != node; t++) {
		if (leader) {
			struct groved_proc member = {0};
			char id[16];
			snprintf(id, sizeof(id), "%d", node);
			cluster_address(&e->cluster, leader, member.address, sizeof(member.address));
			cli_run(&member, r, "cluster", "transfer-leader", id, (char *)NULL);
		}
		usleep(100000);
	}
	free(r);
	if (leader != node)
		fail_msg("member %d does not take the leadership", node);
}

/* How many subscribers of @p path the running members serve. */
static int subscribers_of(struct e2e *e, const char *path)
{
	char quoted[300];
	snprintf(quoted, sizeof(quoted), "\"path\":\"%s\"", path);
	struct cli_result *r = malloc(sizeof(*r));
	int n = 0;
	for (int i = 1; i <= CLUSTER_NODES; i++) {
		if (!e->cluster.pids[i])
			continue;
		struct groved_proc member = {0};
		cluster_address(&e->cluster, i, member.address, sizeof(member.address));
		cli_run(&member, r, "--json", "subscribers", (char *)NULL);
		for (const char *p = r->out; r->status == 0 && (p = strstr(p, quoted)); p++)
			n++;
	}
	free(r);
	return n;
}

/* ---- Godot processes ---- */

/* Start @p script of the test project as process @p name, with its own home (so its own user://) and
 * the environment assignments @p env (NULL-terminated); its output goes to DIR/NAME.out and .err. */
static pid_t godot_start(struct e2e *e, const char *name, const char *script, const char *const *env)
{
	char home[4096], out[4096], err[4096];
	snprintf(home, sizeof(home), "%s/home-%s", e->dir, name);
	snprintf(out, sizeof(out), "%s/%s.out", e->dir, name);
	snprintf(err, sizeof(err), "%s/%s.err", e->dir, name);
	mkdir(home, 0755);
	assert_true(e->n_godots < MAX_GODOTS);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("HOME", home, 1);
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644), x = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(o, 1);
		dup2(x, 2);
		execlp(GODOT, GODOT, "--path", e->project, "-s", script, (char *)NULL);
		_exit(127);
	}
	e->godots[e->n_godots++] = pid;
	return pid;
}

/* Forget @p pid once it was waited for, so that the teardown does not signal a reused id. */
static void godot_forget(struct e2e *e, pid_t pid)
{
	for (size_t i = 0; i < e->n_godots; i++)
		if (e->godots[i] == pid)
			e->godots[i] = 0;
}

static void godot_kill(struct e2e *e, pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	godot_forget(e, pid);
}

/* Wait (at most GODOT_SECONDS) for process @p name to exit 0 having printed @p marker, without a script
 * error. */
static void godot_wait(struct e2e *e, pid_t pid, const char *name, const char *marker)
{
	int status = -1;
	for (int t = 0; t < GODOT_SECONDS * 20 && waitpid(pid, &status, WNOHANG) != pid; t++)
		usleep(50000);
	if (!WIFEXITED(status) && !WIFSIGNALED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	godot_forget(e, pid);
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s.out", e->dir, name);
	char *out = test_read_file(path, &len);
	snprintf(path, sizeof(path), "%s/%s.err", e->dir, name);
	char *err = test_read_file(path, &len);
	assert_non_null(out);
	assert_non_null(err);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(out, marker) || strstr(err, "SCRIPT ERROR") ||
	    strstr(err, "Parse Error"))
		fail_msg("%s: exit status %d; output:\n%s\nerrors:\n%.6000s", name, status, out, err);
	free(out);
	free(err);
}

/* A follower of the world, connected to the members in order; with @p checkpoint, it keeps one. */
static pid_t follower_start(struct e2e *e, const char *name, bool checkpoint, const char *path)
{
	char addresses[300], out[4200], until[4200], cp[4200], follows[300];
	snprintf(addresses, sizeof(addresses), "GROVE_ADDRESSES=%s", e->addresses);
	snprintf(follows, sizeof(follows), "GROVE_PATH=%s", path);
	snprintf(out, sizeof(out), "GROVE_OUT=%s/%s.txt", e->dir, name);
	snprintf(until, sizeof(until), "GROVE_UNTIL_FILE=%s/until", e->dir);
	if (checkpoint)
		snprintf(cp, sizeof(cp), "GROVE_CHECKPOINT=%s/%s.scn", e->dir, name);
	else
		snprintf(cp, sizeof(cp), "GROVE_CHECKPOINT=");
	const char *env[] = {addresses, out, until, cp, "GROVE_IN_ORDER=1", "GROVE_CHECKPOINT_MS=200",
			     "GROVE_SECONDS=" FOLLOWER_SECONDS, follows, NULL};
	return godot_start(e, name, "e2e/follower.gd", env);
}

/* Wait (bounded) until the members serve @p n subscribers of @p path: from then on, every batch comes
 * after their snapshots. */
static void wait_subscribers(struct e2e *e, const char *path, int n)
{
	for (int t = 0; t < 300 && subscribers_of(e, path) < n; t++)
		usleep(100000);
	assert_true(subscribers_of(e, path) >= n);
}

/* The followers stop once they have applied what the members have: nothing writes any more. */
static uint64_t release_followers(struct e2e *e)
{
	uint64_t index = cluster_wait_converged(&e->cluster);
	char text[32];
	int len = snprintf(text, sizeof(text), "%" PRIu64, index);
	test_write_file(e->dir, "until.tmp", text, (size_t)len);
	char from[4200], to[4200];
	snprintf(from, sizeof(from), "%s/until.tmp", e->dir);
	snprintf(to, sizeof(to), "%s/until", e->dir);
	assert_int_equal(rename(from, to), 0); /* whole, or not there: a follower never reads half a number */
	return index;
}

/* ---- the submitter ---- */

/* @p count batches, at most @p window at a time (0: all at once); with @p held, only once DIR/start exists. */
static pid_t submitter_start(struct e2e *e, const char *name, int count, int window, bool held)
{
	char addresses[300], out[4200], n[64], w[64], start[4200] = "GROVE_START_FILE=";
	snprintf(addresses, sizeof(addresses), "GROVE_ADDRESSES=%s", e->addresses);
	snprintf(out, sizeof(out), "GROVE_OUT=%s/%s.txt", e->dir, name);
	snprintf(n, sizeof(n), "GROVE_COUNT=%d", count);
	snprintf(w, sizeof(w), "GROVE_WINDOW=%d", window);
	if (held)
		snprintf(start, sizeof(start), "GROVE_START_FILE=%s/start", e->dir);
	const char *env[] = {addresses, out, n, w, start, "GROVE_IN_ORDER=1", "GROVE_SECONDS=" FOLLOWER_SECONDS, NULL};
	return godot_start(e, name, "e2e/submitter.gd", env);
}

/* Every key of submitter @p name was answered "submitted", once, and no two at the same index; the
 * indices join e->applied. */
static void check_submitter(struct e2e *e, const char *name, int count)
{
	char path[4200];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s.txt", e->dir, name);
	char *text = test_read_file(path, &len);
	assert_non_null(text);
	int lines = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
		int i, more;
		char key[128];
		uint64_t index;
		if (sscanf(line, "%d %127s submitted %" SCNu64 " (%d more)", &i, key, &index, &more) != 4 || i != lines)
			fail_msg("%s: batch %d was not submitted: %s", name, lines, line);
		if (more)
			fail_msg("%s: batch %d was answered %d more times", name, i, more);
		for (size_t k = 0; k < e->n_applied; k++)
			if (e->applied[k] == index)
				fail_msg("%s: batch %d applied at index %" PRIu64 ", which another batch has", name, i, index);
		assert_true(e->n_applied < MAX_INDICES);
		e->applied[e->n_applied++] = index;
	}
	assert_int_equal(lines, count);
	free(text);
}

/* How many of submitter @p name's batches were refused as unavailable, and sent again. */
static int unavailable_of(struct e2e *e, const char *name)
{
	char path[4200];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s.out", e->dir, name);
	char *out = test_read_file(path, &len);
	assert_non_null(out);
	const char *line = strstr(out, "GROVE-SUBMITTER-UNAVAILABLE ");
	assert_non_null(line);
	int n = atoi(line + strlen("GROVE-SUBMITTER-UNAVAILABLE "));
	free(out);
	return n;
}

/* ---- what a follower saw ---- */

struct seen {
	char *text;        /* the whole file */
	uint64_t applied;  /* its last applied index */
	const char *tree;  /* its tree, from the first "N " line */
};

static void seen_read(struct e2e *e, const char *name, struct seen *s)
{
	char path[4200];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s.txt", e->dir, name);
	s->text = test_read_file(path, &len);
	assert_non_null(s->text);
	assert_int_equal(sscanf(s->text, "applied %" SCNu64, &s->applied), 1);
	s->tree = strstr(s->text, "\nN ");
	assert_non_null(s->tree);
	s->tree++;
	/* Every world here fits the walk that finds a snapshot's ids beside it (the addon's default). */
	for (const char *line = s->text; line < s->tree; line = strchr(line, '\n') + 1)
		if (strncmp(line, "S ", 2) == 0 && !strstr(line, " beside\n"))
			fail_msg("%s: a snapshot's ids did not come beside it: %.80s", name, line);
}

/* How many lines of @p s start with @p tag (e.g. "S "); the numbers after the first @p cap in @p values. */
static size_t lines_of(const struct seen *s, const char *tag, int64_t *values, size_t cap)
{
	size_t n = 0, tlen = strlen(tag);
	for (const char *line = s->text; line && line < s->tree; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (strncmp(line, tag, tlen) == 0) {
			if (n < cap)
				values[n] = strtoll(line + tlen, NULL, 10);
			n++;
		}
	return n;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Each stretch of changes follower @p name applied on a tree (one it loaded, "S" or "K", at index b) is
 * strictly increasing, above b, and is exactly the submitters' batches from b on up to where it ends (the
 * last stretch: all of them): nothing missing, nothing twice, nothing else; and no error came. @return the
 * entries applied.
 */
static size_t check_stream(struct e2e *e, const char *name, const struct seen *s)
{
	uint64_t *want = malloc(e->n_applied * sizeof(*want));
	memcpy(want, e->applied, e->n_applied * sizeof(*want));
	qsort(want, e->n_applied, sizeof(*want), compare_u64);
	size_t applied = 0, w = 0;
	bool tree = false;
	uint64_t last = 0;
	for (const char *line = s->text;; line = strchr(line, '\n') + 1) {
		uint64_t index;
		bool end = line >= s->tree;
		bool load = !end && (line[0] == 'S' || line[0] == 'K') && line[1] == ' ';
		if (end || load) {
			/* The stretch that ends here held every batch up to its last entry. */
			if (tree && w < e->n_applied && want[w] <= last)
				fail_msg("%s: batch at index %" PRIu64 " missing before %" PRIu64, name, want[w], last);
			if (end)
				break;
			last = strtoull(line + 2, NULL, 10);
			tree = true;
			for (w = 0; w < e->n_applied && want[w] <= last; w++) {
			}
		} else if (line[0] == 'A' && line[1] == ' ') {
			index = strtoull(line + 2, NULL, 10);
			if (!tree)
				fail_msg("%s: entry %" PRIu64 " applied with no tree", name, index);
			if (index <= last)
				fail_msg("%s: entry %" PRIu64 " applied after %" PRIu64 " (a repeat or out of order)", name, index,
					 last);
			if (w == e->n_applied || want[w] != index)
				fail_msg("%s: entry %" PRIu64 " applied, but the next batch is at %" PRIu64, name, index,
					 w < e->n_applied ? want[w] : 0);
			w++;
			last = index;
			applied++;
		} else if (line[0] == 'E' && line[1] == ' ') {
			fail_msg("%s: %.200s", name, line);
		}
	}
	if (w != e->n_applied)
		fail_msg("%s: batch at index %" PRIu64 " never applied", name, want[w]);
	free(want);
	return applied;
}

/* ---- grove's tree as Godot loads it ---- */

/* The subtree at @p path exported by grove, loaded in Godot with the ids grove lists, dumped as a follower dumps. */
static char *grove_tree(struct e2e *e, const char *path)
{
	struct cli_result *r = malloc(sizeof(*r));
	char scene[4200];
	snprintf(scene, sizeof(scene), "%s/grove_world.tscn", e->project);
	CLI(e, r, "export", path, "-o", scene, "--godot", "3");
	/*
	 * An export carries no grove ids; `grove tree` lists them with names and parents, and the dump script puts
	 * them back. The listing goes straight to a file: a large world's is more than a captured output holds.
	 */
	char cmd[8192], member[64], listing[4200];
	cluster_address(&e->cluster, any_member(e), member, sizeof(member));
	snprintf(listing, sizeof(listing), "%s/grove_ids.json", e->dir);
	snprintf(cmd, sizeof(cmd), "%s --server %s --json tree '%s' > %s", GROVE_CLI_PATH, member, path, listing);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
	size_t len;
	char *listed = test_read_file(listing, &len);
	assert_non_null(listed);
	size_t nodes = 0; /* a node's "id" is a number; a property named "id" would be an object */
	for (const char *p = listed; (p = strstr(p, "\"id\":")); p++)
		nodes += p[5] >= '0' && p[5] <= '9';
	free(listed);
	char ids[4200], out[4200], marker[64];
	snprintf(ids, sizeof(ids), "GROVE_IDS=%s/grove_ids.json", e->dir);
	snprintf(out, sizeof(out), "GROVE_OUT=%s/grove.txt", e->dir);
	const char *env[] = {"GROVE_SCENE=res://grove_world.tscn", ids, out, NULL};
	pid_t pid = godot_start(e, "grove", "e2e/grove_dump.gd", env);
	snprintf(marker, sizeof(marker), "GROVE-DUMP-DONE %zu\n", nodes);
	godot_wait(e, pid, "grove", marker);
	snprintf(out, sizeof(out), "%s/grove.txt", e->dir);
	char *tree = test_read_file(out, &len);
	assert_non_null(tree);
	free(r);
	return tree;
}

static void check_tree(const char *name, const struct seen *s, const char *want)
{
	godot_check_text(name, s->tree, "grove's export", want);
}

/* ---- fixtures ---- */

/* A cluster whose members run with the groved arguments *@p state (NULL-terminated, or NULL), and the
 * world. */
static int setup(void **state)
{
	const char *const *args = *state;
	bool engine = godot_available();
	struct e2e *e = calloc(1, sizeof(*e));
	*state = e;
	if (!engine)
		return 0;
	e->dir = test_tmpdir("e2e");
	e->project = godot_project_make();
	cluster_start(&e->cluster, args);
	order_addresses(e, cluster_wait_leader(&e->cluster));
	make_world(e);
	return 0;
}

/* A history of 64 entries, so that a follower that stays away for more is told "compacted". */
static const char *const short_history[] = {"--history-entries", "64", NULL};

/* Everything started is killed, passed or failed; the files stay for a look when the test failed (or
 * GROVE_E2E_KEEP is set). */
static int teardown(void **state)
{
	struct e2e *e = *state;
	for (size_t i = 0; i < e->n_godots; i++)
		if (e->godots[i] > 0) {
			kill(e->godots[i], SIGKILL);
			waitpid(e->godots[i], NULL, 0);
		}
	for (int i = 1; i <= CLUSTER_NODES; i++)
		cluster_node_signal(&e->cluster, i, SIGKILL);
	if (e->passed && !getenv("GROVE_E2E_KEEP")) {
		test_rmtree(e->cluster.dir);
		test_rmtree(e->dir);
		test_rmtree(e->project);
	} else {
		if (e->dir)
			print_message("left for a look: %s, %s and %s\n", e->dir, e->project, e->cluster.dir ? e->cluster.dir : "-");
		free(e->cluster.dir);
		free(e->dir);
		free(e->project);
	}
	free(e);
	return 0;
}

/* ---- the tests ---- */

/* The test's cluster and files; it skips without the engine. */
static struct e2e *running(void **state)
{
	struct e2e *e = *state;
	if (!e->dir)
		skip();
	return e;
}

/* Two followers and a submitter of 1,000 batches; with @p kill_leader, the leader dies mid-stream. */
static void followers_and_submitter(struct e2e *e, bool kill_leader)
{
	double t0 = now_s();
	pid_t f1 = follower_start(e, "follower1", false, WORLD), f2 = follower_start(e, "follower2", false, WORLD);
	wait_subscribers(e, WORLD, 2);
	double t1 = now_s();
	uint64_t applied[CLUSTER_NODES + 1];
	int leader = e->first;
	cluster_leader(&e->cluster, applied);
	uint64_t before = applied[leader];
	/* With the leader killed, a window keeps batches on their way at every moment, the kill's included;
	 * otherwise all go at once. */
	pid_t sub = submitter_start(e, "submitter", BATCHES, kill_leader ? 32 : 0, false);
	if (kill_leader) {
		/* A third of the batches applied: the rest is in flight, at the leader or not yet sent. */
		for (int t = 0; t < 3000; t++) {
			cluster_leader(&e->cluster, applied);
			if (applied[leader] >= before + BATCHES / 3)
				break;
			usleep(20000);
		}
		assert_true(applied[leader] >= before + BATCHES / 3);
		/* The followers and the submitter are connected to the member listed first: it must be the one
		 * that leads when it dies. */
		make_leader(e, leader);
		cluster_node_signal(&e->cluster, leader, SIGKILL);
		print_message("kill -9 of the leader, member %d, at index %" PRIu64 "\n", leader, applied[leader]);
		print_message("member %d leads now\n", cluster_wait_leader(&e->cluster));
	}
	godot_wait(e, sub, "submitter", "GROVE-SUBMITTER-DONE");
	double t2 = now_s();
	check_submitter(e, "submitter", BATCHES);
	print_message("%d of the batches were refused as unavailable and sent again\n", unavailable_of(e, "submitter"));
	if (kill_leader)
		cluster_node_start(&e->cluster, leader);
	uint64_t end = release_followers(e);
	godot_wait(e, f1, "follower1", "GROVE-FOLLOWER-DONE");
	godot_wait(e, f2, "follower2", "GROVE-FOLLOWER-DONE");
	double t3 = now_s();
	struct seen s1, s2;
	seen_read(e, "follower1", &s1);
	seen_read(e, "follower2", &s2);
	/* Not equal: an election of the members' own, after the followers were released, adds an entry. */
	assert_true(s1.applied >= end && s2.applied >= end);
	int64_t v[8];
	const struct seen *both[] = {&s1, &s2};
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "follower2" : "follower1";
		/* One snapshot each, then only resumptions. */
		assert_int_equal(lines_of(both[i], "S ", v, 8), 1);
		size_t subs = lines_of(both[i], "U ", v, 8);
		for (size_t k = 1; k < subs && k < 8; k++)
			if (v[k] < 0)
				fail_msg("%s asked for a second snapshot", name);
		/* The link to the killed member breaks: the follower reconnects, to another member. */
		size_t welcomes = lines_of(both[i], "W ", v, 8);
		if (kill_leader ? welcomes < 2 || subs < 2 : welcomes != 1)
			fail_msg("%s: %zu welcomes, %zu subscriptions", name, welcomes, subs);
		size_t n = check_stream(e, name, both[i]);
		print_message("%s: snapshot, then %zu entries applied in order, %zu connection(s)\n", name, n, welcomes);
		assert_true(n > 0);
	}
	char *tree = grove_tree(e, WORLD);
	check_tree("follower1", &s1, tree);
	check_tree("follower2", &s2, tree);
	print_message("%d batches submitted and applied once, up to index %" PRIu64 "; both followers equal grove's "
		      "tree (%zu bytes)\n", BATCHES, end, strlen(tree));
	print_message("followers up %.1f s, submitter %.1f s, followers done %.1f s later\n", t1 - t0, t2 - t1, t3 - t2);
	free(tree);
	free(s1.text);
	free(s2.text);
}

static void test_followers_equal_grove(void **state)
{
	struct e2e *e = running(state);
	followers_and_submitter(e, false);
	e->passed = true;
}

static void test_leader_killed_mid_stream(void **state)
{
	struct e2e *e = running(state);
	followers_and_submitter(e, true);
	e->passed = true;
}

/*
 * Batches that a member forwards to a leader that never proposes them (stopped with SIGSTOP, then killed
 * with SIGKILL): the member answers them as unavailable as soon as another member leads, rather than at
 * its 60 s timeout, and the client sends them again with their keys, so that every one is applied, once,
 * within seconds.
 */
static void test_batches_lost_with_the_leader(void **state)
{
	struct e2e *e = running(state);
	uint64_t applied[CLUSTER_NODES + 1];
	int leader = cluster_leader(&e->cluster, applied), forwarder = leader % CLUSTER_NODES + 1;
	assert_true(leader > 0);
	order_addresses(e, forwarder);
	pid_t sub = submitter_start(e, "submitter", 200, 0, true);
	wait_subscribers(e, WORLD, 1);
	make_leader(e, leader);
	assert_int_equal(kill(e->cluster.pids[leader], SIGSTOP), 0);
	double t0 = now_s();
	test_write_file(e->dir, "start", "", 0);
	/* The forwarder still takes the stopped member for its leader until its election timeout (300 ms and
	 * more): what it forwards meanwhile never gets out of the stopped member's socket. */
	usleep(200000);
	cluster_node_signal(&e->cluster, leader, SIGKILL);
	godot_wait(e, sub, "submitter", "GROVE-SUBMITTER-DONE");
	double took = now_s() - t0;
	check_submitter(e, "submitter", 200);
	int unavailable = unavailable_of(e, "submitter");
	print_message("member %d forwarded to the stopped leader; %d refusals as unavailable; all 200 batches applied "
		      "once, %.1f s after the stop\n",
		      forwarder, unavailable, took);
	assert_true(unavailable > 0);
	if (took > 30)
		fail_msg("the batches took %.1f s: the forwarder waited for its timeout", took);
	e->passed = true;
}

/* Until the checkpoint of follower @p name is on disk (bounded). */
static void wait_checkpoint(struct e2e *e, const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.scn", e->dir, name);
	struct stat st;
	for (int t = 0; t < 300 && stat(path, &st) != 0; t++)
		usleep(100000);
	assert_int_equal(stat(path, &st), 0);
}

/*
 * A follower with a checkpoint is killed with SIGKILL after @p first batches, @p second more are written
 * while it is down, and it is started again: it loads its checkpoint and asks to resume from its index;
 * with @p compacted the server no longer holds that position and it takes a snapshot. It ends equal to
 * grove's tree either way, having applied every batch after the tree it last loaded.
 */
static void follower_restarted(struct e2e *e, int first, int second, bool compacted)
{
	pid_t f = follower_start(e, "follower", true, WORLD);
	wait_subscribers(e, WORLD, 1);
	godot_wait(e, submitter_start(e, "submitter1", first, 0, false), "submitter1", "GROVE-SUBMITTER-DONE");
	check_submitter(e, "submitter1", first);
	wait_checkpoint(e, "follower");
	usleep(500000); /* a few more checkpoint intervals: it has seen the batches by now */
	godot_kill(e, f);
	godot_wait(e, submitter_start(e, "submitter2", second, 0, false), "submitter2", "GROVE-SUBMITTER-DONE");
	check_submitter(e, "submitter2", second);
	f = follower_start(e, "follower", true, WORLD);
	uint64_t end = release_followers(e);
	godot_wait(e, f, "follower", "GROVE-FOLLOWER-DONE");
	struct seen s;
	seen_read(e, "follower", &s);
	assert_true(s.applied >= end);
	int64_t k[4], u[8], snaps[4];
	assert_int_equal(lines_of(&s, "K ", k, 4), 1);
	size_t subs = lines_of(&s, "U ", u, 8);
	size_t n_snaps = lines_of(&s, "S ", snaps, 4);
	assert_true(subs >= 1);
	if (u[0] != k[0])
		fail_msg("loaded its checkpoint at %" PRId64 " but subscribed from %" PRId64, k[0], u[0]);
	if (compacted) {
		assert_true(subs >= 2 && u[1] == -1);
		assert_int_equal(n_snaps, 1);
		assert_true(snaps[0] >= k[0] + 64);
	} else {
		assert_int_equal(n_snaps, 0);
	}
	size_t n = check_stream(e, "follower", &s);
	char *tree = grove_tree(e, WORLD);
	check_tree("follower", &s, tree);
	print_message("the restarted follower loaded its checkpoint at %" PRId64 ", subscribed from it, %s, applied "
		      "%zu entries up to %" PRIu64 " and equals grove's tree\n",
		      k[0],
		      compacted ? "was told compacted and took a snapshot" : "resumed without a snapshot", n, end);
	free(tree);
	free(s.text);
}

static void test_follower_resumes_from_checkpoint(void **state)
{
	struct e2e *e = running(state);
	follower_restarted(e, 200, 200, false);
	e->passed = true;
}

static void test_follower_behind_short_history_takes_snapshot(void **state)
{
	struct e2e *e = running(state);
	follower_restarted(e, 20, 100, true);
	e->passed = true;
}

/* Follower @p f, @p name, released and ended, has applied all there is, on the one snapshot it took, and no error came. */
static void follower_ended(struct e2e *e, pid_t f, const char *name, struct seen *s)
{
	uint64_t end = release_followers(e);
	godot_wait(e, f, name, "GROVE-FOLLOWER-DONE");
	seen_read(e, name, s);
	assert_true(s->applied >= end);
	int64_t v[4];
	assert_int_equal(lines_of(s, "S ", v, 4), 1);
	assert_int_equal(lines_of(s, "E ", v, 4), 0);
}

/* Follower @p f of zone B ended as follower_ended() says, on its one subscription: grove's tree of zone B (free it). */
static char *zone_follower_ended(struct e2e *e, pid_t f, const char *name, struct seen *s)
{
	follower_ended(e, f, name, s);
	int64_t v[4];
	assert_int_equal(lines_of(s, "U ", v, 4), 1);
	return grove_tree(e, WORLD "/B");
}

/*
 * A follower of zone B alone: a node with a child and properties moved in from zone A arrives as its
 * creation (one snapshot, the one it started with, and nothing refused), and a node whose texture is an
 * embedded resource (embedding another) with that resource; a node given the embedded texture that the
 * follower has only in its snapshot's scene gets it too; the follower ends equal to grove's tree of zone B,
 * grove ids included.
 */
static void test_zone_follower_gets_moved_in_nodes(void **state)
{
	struct e2e *e = running(state);
	struct cli_result *r = malloc(sizeof(*r));
	CLI(e, r, "add", WORLD "/A/Mover/Arm", "Sprite");
	CLI(e, r, "set", WORLD "/A/Mover/Arm", "modulate", "Color(0, 1, 0, 1)");
	CLI(e, r, "set", WORLD "/A/Mover", "position", "Vector2(3, 4)");
	/* A crate whose texture is embedded, and embeds its gradient: resources the follower is never told of. */
	static const char crate[] = "[gd_scene load_steps=3 format=2]\n\n"
				    "[sub_resource type=\"Gradient\" id=1]\n"
				    "colors = PoolColorArray( 1, 0, 0, 1, 0, 0, 1, 1 )\n\n"
				    "[sub_resource type=\"GradientTexture\" id=2]\n"
				    "gradient = SubResource( 1 )\nwidth = 8\n\n"
				    "[node name=\"Crate\" type=\"Sprite\"]\ntexture = SubResource( 2 )\n";
	test_write_file(e->dir, "crate.tscn", crate, sizeof(crate) - 1);
	char crate_path[4200];
	snprintf(crate_path, sizeof(crate_path), "%s/crate.tscn", e->dir);
	CLI(e, r, "import", crate_path, "--at", WORLD "/A");
	/* And one in zone B, whose embedded texture the follower has only in its snapshot's scene. */
	CLI(e, r, "import", crate_path, "--at", WORLD "/B", "--name", "Stack");
	pid_t f = follower_start(e, "zone", false, WORLD "/B");
	wait_subscribers(e, WORLD "/B", 1);
	CLI(e, r, "mv", WORLD "/A/Mover", WORLD "/B");
	CLI(e, r, "mv", WORLD "/A/Crate", WORLD "/B");
	CLI(e, r, "get", WORLD "/B/Stack", "texture");
	const char *stored = strstr(r->out, "ExtResource(\"#");
	assert_non_null(stored);
	char texture[48];
	snprintf(texture, sizeof(texture), "ExtResource(\"#%lld\")", strtoll(stored + 14, NULL, 10));
	CLI(e, r, "set", WORLD "/B/Mover/Arm", "texture", texture);
	struct seen s;
	char *tree = zone_follower_ended(e, f, "zone", &s);
	assert_non_null(strstr(tree, "B/Mover/Arm Sprite"));
	assert_non_null(strstr(tree, "P texture = <GradientTexture"));
	const char *arm = strstr(tree, "B/Mover/Arm Sprite");
	assert_non_null(arm);
	const char *arm_texture = strstr(arm, "P texture = <GradientTexture"), *next = strstr(arm, "\nN ");
	assert_true(arm_texture && (!next || arm_texture < next));
	check_tree("zone", &s, tree);
	print_message("the follower of zone B got the node moved in as its creation and equals grove's tree of it\n");
	free(tree);
	free(s.text);
	free(r);
	e->passed = true;
}

/*
 * A follower of zone B while B is split into a shard of its own: its stream is handed over to the new shard
 * with no new snapshot and no new subscription; the values set before and after the split, a node added,
 * and a node moved in from zone A (across the shards then) all reach it, and it ends equal to grove's tree of
 * zone B, grove ids included.
 */
static void test_zone_follower_through_its_split(void **state)
{
	struct e2e *e = running(state);
	struct cli_result *r = malloc(sizeof(*r));
	pid_t f = follower_start(e, "split", false, WORLD "/B");
	wait_subscribers(e, WORLD "/B", 1);
	for (int i = 0; i < 20; i++) {
		char value[48];
		snprintf(value, sizeof(value), "Vector2(%d, %d)", i, -i);
		CLI(e, r, "set", WORLD "/B/Lamp", "position", value);
		if (i == 9)
			CLI(e, r, "shard", "split", WORLD "/B");
	}
	CLI(e, r, "add", WORLD "/B/Lamp/Glow", "Sprite");
	CLI(e, r, "set", WORLD "/B/Lamp/Glow", "modulate", "Color(0, 0, 1, 1)");
	CLI(e, r, "mv", WORLD "/A/Mover", WORLD "/B");
	CLI(e, r, "set", WORLD "/B/Mover", "position", "Vector2(3, 4)");
	struct seen s;
	char *tree = zone_follower_ended(e, f, "split", &s);
	assert_non_null(strstr(tree, "B/Lamp/Glow Sprite"));
	assert_non_null(strstr(tree, "B/Mover Node2D"));
	check_tree("split", &s, tree);
	print_message("the follower of zone B followed it through its split with its one snapshot and equals grove's tree of it\n");
	free(tree);
	free(s.text);
	free(r);
	e->passed = true;
}

/*
 * Scenes the engine made itself (tests/engine/scenes/make_scenes.gd: names and strings that need escaping,
 * metadata of every Godot 3 type, embedded resources shared and nested, a script's values, groups,
 * connections with binds, instances of another of them) imported into the world, half before a follower's
 * snapshot and half while it follows, then one moved into another and one renamed, and before them 1,500
 * instances of a scene that gives its root metadata: the follower ends equal to grove's tree, metadata
 * and embedded resources compared whole.
 */
static void test_follower_of_imported_scenes(void **state)
{
	struct e2e *e = running(state);
	static const char *const files[] = {"make_scenes.gd", "scripted.gd"};
	for (size_t i = 0; i < 2; i++) {
		char path[256];
		size_t len;
		snprintf(path, sizeof(path), "tests/engine/scenes/%s", files[i]);
		char *text = test_read_file(path, &len);
		assert_non_null(text);
		test_write_file(e->project, files[i], text, len);
		free(text);
	}
	const char *env[] = {"GROVE_FIRST_SEED=1", "GROVE_SCENE_COUNT=8", "GROVE_NO_ONE_SHOT=1", NULL};
	godot_wait(e, godot_start(e, "maker", "make_scenes.gd", env), "maker", "GROVE-DONE");
	struct cli_result *r = malloc(sizeof(*r));
	/*
	 * 1,500 instances of a scene whose root has metadata: their ids cannot go in a Godot 3 scene's
	 * __meta__ (it would replace that scene's), so they precede the snapshot, in more than one message.
	 */
	static const char prop[] = "[gd_scene format=2]\n\n[node name=\"Prop\" type=\"Node2D\"]\n"
				   "__meta__ = {\n\"kind\": \"crate\"\n}\n\n[node name=\"Lid\" type=\"Node2D\" parent=\".\"]\n";
	test_write_file(e->project, "prop.tscn", prop, sizeof(prop) - 1);
	struct grove_buf props = {0};
	const char head[] = "[gd_scene load_steps=2 format=2]\n\n[ext_resource path=\"res://prop.tscn\" type=\"PackedScene\" id=1]\n\n"
			    "[node name=\"Props\" type=\"Node2D\"]\n";
	grove_buf_put(&props, head, sizeof(head) - 1);
	for (int i = 0; i < 1500; i++) {
		char line[160];
		int n = snprintf(line, sizeof(line),
				 "\n[node name=\"an_instance_with_a_longer_name_%04d\" parent=\".\" instance=ExtResource( 1 )]\n", i);
		grove_buf_put(&props, line, (size_t)n);
	}
	test_write_file(e->dir, "props.tscn", props.data, props.len);
	grove_buf_free(&props);
	char props_path[4200];
	snprintf(props_path, sizeof(props_path), "%s/props.tscn", e->dir);
	CLI(e, r, "import", props_path, "--at", WORLD);
	pid_t f = 0;
	for (int n = 1; n <= 8; n++) {
		if (n == 5) {
			f = follower_start(e, "scenes", false, WORLD);
			wait_subscribers(e, WORLD, 1);
		}
		char scene[4200], name[16];
		snprintf(scene, sizeof(scene), "%s/gen_%d.tscn", e->project, n);
		snprintf(name, sizeof(name), "G%d", n);
		CLI(e, r, "import", scene, "--at", WORLD, "--name", name);
	}
	CLI(e, r, "mv", WORLD "/G1", WORLD "/G6");
	CLI(e, r, "rename", WORLD "/G2", "W\xc3\xb6rld [2] %");
	struct seen s;
	follower_ended(e, f, "scenes", &s);
	char *tree = grove_tree(e, WORLD);
	assert_non_null(strstr(tree, "World/G6/G1/"));
	assert_non_null(strstr(tree, "N World/Props/an_instance_with_a_longer_name_1499 Node2D id="));
	assert_non_null(strstr(tree, "M kind = \"crate\""));
	check_tree("scenes", &s, tree);
	size_t nodes = 0, embedded = 0;
	for (const char *p = tree; (p = strstr(p, "\nN ")); p++)
		nodes++;
	for (const char *p = tree; (p = strstr(p, " resource_local_to_scene=")); p++)
		embedded++;
	print_message("a follower of 8 engine-made scenes, 4 imported while it followed, equals grove's tree: %zu nodes, "
		      "%zu embedded resources shown whole\n", nodes, embedded);
	assert_true(embedded > 0);
	free(tree);
	free(s.text);
	free(r);
	e->passed = true;
}

/*
 * A submitter of random batches (tests/addon/project/e2e/random_submitter.gd, seed GROVE_E2E_SEED, 1 by
 * default): sets of properties and metadata with values of many types and names that need escaping,
 * creates, renames, moves, reorders, removals, groups and clears, one batch after the other on the nodes
 * its own copy holds; a follower ends equal to grove's tree, and every batch was answered once.
 */
static void test_random_batches_keep_follower_equal(void **state)
{
	struct e2e *e = running(state);
	enum { BATCHES_DRAWN = 150 };
	pid_t f = follower_start(e, "follower", false, WORLD);
	wait_subscribers(e, WORLD, 1);
	char addresses[300], out[4200], seed[64], count[64];
	snprintf(addresses, sizeof(addresses), "GROVE_ADDRESSES=%s", e->addresses);
	snprintf(out, sizeof(out), "GROVE_OUT=%s/random.txt", e->dir);
	snprintf(seed, sizeof(seed), "GROVE_SEED=%s", getenv("GROVE_E2E_SEED") ? getenv("GROVE_E2E_SEED") : "1");
	snprintf(count, sizeof(count), "GROVE_COUNT=%d", BATCHES_DRAWN);
	const char *env[] = {addresses, out, seed, count, "GROVE_SECONDS=" FOLLOWER_SECONDS, NULL};
	godot_wait(e, godot_start(e, "random", "e2e/random_submitter.gd", env), "random", "GROVE-RANDOM-DONE");
	size_t len;
	char path[4200];
	snprintf(path, sizeof(path), "%s/random.txt", e->dir);
	char *answers = test_read_file(path, &len);
	assert_non_null(answers);
	int lines = 0, applied = 0;
	for (char *line = strtok(answers, "\n"); line; line = strtok(NULL, "\n")) {
		lines++;
		applied += strstr(line, " submitted ") != NULL;
	}
	free(answers);
	assert_int_equal(lines, BATCHES_DRAWN);
	struct seen s;
	follower_ended(e, f, "follower", &s);
	char *tree = grove_tree(e, WORLD);
	check_tree("follower", &s, tree);
	print_message("%d random batches answered (%d applied, %d refused); the follower equals grove's tree (%s)\n",
		      lines, applied, lines - applied, seed);
	assert_true(applied > BATCHES_DRAWN / 3);
	free(tree);
	free(s.text);
	e->passed = true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_followers_equal_grove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leader_killed_mid_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_lost_with_the_leader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follower_resumes_from_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zone_follower_gets_moved_in_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zone_follower_through_its_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follower_of_imported_scenes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_batches_keep_follower_equal, setup, teardown),
		cmocka_unit_test_prestate_setup_teardown(test_follower_behind_short_history_takes_snapshot, setup, teardown,
							 (void *)short_history),
	};
	/* GROVE_TEST_FILTER='test_leader*' runs only the matching tests. */
	if (getenv("GROVE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GROVE_TEST_FILTER"));
	return cmocka_run_group_tests_name("e2e", tests, NULL, NULL);
}
