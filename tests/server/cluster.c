#include "cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "support.h"

void cluster_address(const struct cluster *c, int node, char *out, size_t cap)
{
	snprintf(out, cap, "127.0.0.1:%d", c->ports[node]);
}

struct grove_client *cluster_connect(struct cluster *c, int node)
{
	char address[32];
	cluster_address(c, node, address, sizeof(address));
	struct grove_client *cl = NULL;
	for (int t = 0; t < 100; t++) {
		if (grove_client_connect(address, NULL, 20000, &cl, NULL, 0) == GROVE_OK)
			return cl;
		usleep(100000);
	}
	fail_msg("cannot connect to member %d", node);
	return NULL;
}

pid_t cluster_spawn_joiner(struct cluster *c, int id, char *address, size_t cap)
{
	int port = test_free_port();
	char peers[320], data[4096], log[4096], idtext[16];
	snprintf(peers, sizeof(peers), "%s,%d=127.0.0.1:%d", c->peers, id, port);
	snprintf(data, sizeof(data), "%s/node%d", c->dir, id);
	snprintf(log, sizeof(log), "%s/node%d.log", c->dir, id);
	snprintf(idtext, sizeof(idtext), "%d", id);
	snprintf(address, cap, "127.0.0.1:%d", port);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(GROVED_PATH, "groved", "--id", idtext, "--join", "--peers", peers, "--data", data, "--listen", address,
		      "--cluster-token", "test-token", (char *)NULL);
		_exit(127);
	}
	return pid;
}

const char *cluster_faketime_library(void)
{
	static const char *const places[] = {"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
					     "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
					     "/usr/lib/faketime/libfaketimeMT.so.1"};
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++)
		if (access(places[i], R_OK) == 0)
			return places[i];
	return NULL;
}

/* The file member @p node's libfaketime reads its clock's shift from. */
static void clock_file(const struct cluster *c, int node, char *out, size_t cap)
{
	snprintf(out, cap, "%s/node%d.clock", c->dir, node);
}

bool cluster_clock_shift(struct cluster *c, int node, int64_t ms)
{
	char path[4096], tmp[4200];
	clock_file(c, node, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return false;
	/* libfaketime's relative form: seconds ahead (+) or behind (-) the real clock. */
	uint64_t abs_ms = (uint64_t)(ms < 0 ? -ms : ms);
	bool ok = fprintf(f, "%c%llu.%03llu\n", ms < 0 ? '-' : '+', (unsigned long long)(abs_ms / 1000),
			  (unsigned long long)(abs_ms % 1000)) > 0;
	ok &= fclose(f) == 0;
	return ok && rename(tmp, path) == 0;
}

/* An environment of faketime_env(); its strings end at the first NULL. */
static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/*
 * The environment of member @p node under libfaketime: this process's, with the library preloaded and told
 * where the shift is (read again once a second), the monotonic clock and file times left alone, and ASan
 * (in sanitizer builds) told that another library comes first. Built before fork(): a child of a process with
 * threads must not allocate. NULL-terminated, malloc'd (the strings too); free with free_env().
 */
static char **faketime_env(struct cluster *c, int node)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 7, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	const char *asan = "";
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0)
			asan = environ[i] + 13;
		else if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "FAKETIME", 8) != 0)
			env[k++] = strdup(environ[i]);
	}
	char file[4096], preload[4200], shift[4200], asan_options[4200];
	clock_file(c, node, file, sizeof(file));
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", c->faketime);
	snprintf(shift, sizeof(shift), "FAKETIME_TIMESTAMP_FILE=%s", file);
	snprintf(asan_options, sizeof(asan_options), "ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan, asan[0] ? ":" : "");
	const char *const added[] = {preload, shift, asan_options, "FAKETIME_CACHE_DURATION=1",
				     "FAKETIME_DONT_FAKE_MONOTONIC=1", "NO_FAKE_STAT=1"};
	for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++)
		env[k++] = strdup(added[i]);
	bool whole = true;
	for (size_t i = 0; i < k; i++)
		whole &= env[i] != NULL;
	if (!whole) {
		for (size_t i = 0; i < k; i++)
			free(env[i]);
		free(env);
		return NULL;
	}
	return env;
}

pid_t cluster_node_spawn(struct cluster *c, int node, int *out)
{
	char data[4096], log[4096], id[16], listen[32], metrics[32];
	snprintf(data, sizeof(data), "%s/node%d", c->dir, node);
	snprintf(log, sizeof(log), "%s/node%d.log", c->dir, node);
	snprintf(id, sizeof(id), "%d", node);
	cluster_address(c, node, listen, sizeof(listen));
	const char *peers = c->member_peers[node][0] ? c->member_peers[node] : c->peers;
	const char *argv[32] = {"groved", "--id", id, "--peers", peers, "--data", data, "--listen", listen,
				"--cluster-token", "test-token"};
	size_t n = 11;
	for (size_t i = 0; i < c->n_args; i++)
		argv[n++] = c->args[i];
	if (c->metrics_ports[node]) {
		snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", c->metrics_ports[node]);
		argv[n++] = "--metrics";
		argv[n++] = metrics;
	}
	argv[n] = NULL;
	char **env = NULL;
	if (c->faketime) {
		char file[4096];
		clock_file(c, node, file, sizeof(file));
		if (access(file, F_OK) != 0)
			assert_true(cluster_clock_shift(c, node, 0));
		assert_non_null(env = faketime_env(c, node));
	}
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		close(fds[0]);
		if (env)
			execve(GROVED_PATH, (char *const *)argv, env);
		else
			execv(GROVED_PATH, (char *const *)argv);
		_exit(127);
	}
	free_env(env);
	close(fds[1]);
	*out = fds[0];
	return pid;
}

void cluster_node_start(struct cluster *c, int node)
{
	int out;
	pid_t pid = cluster_node_spawn(c, node, &out);
	char line[128] = "";
	struct pollfd pfd = {.fd = out, .events = POLLIN};
	if (poll(&pfd, 1, 10000) > 0)
		(void)!read(out, line, sizeof(line) - 1);
	close(out);
	c->pids[node] = pid;
	if (!strstr(line, "listening on"))
		fail_msg("member %d did not start (said \"%s\"); see %s/node%d.log", node, line, c->dir, node);
}

void cluster_node_signal(struct cluster *c, int node, int sig)
{
	if (c->pids[node] > 0) {
		kill(c->pids[node], sig);
		waitpid(c->pids[node], NULL, 0);
		c->pids[node] = 0;
	}
}

/* Set up @p c, with metrics listeners if @p metrics. */
static void prepare(struct cluster *c, const char *const *args, const char *dir, bool metrics)
{
	memset(c, 0, sizeof(*c));
	c->dir = dir ? strdup(dir) : test_tmpdir("cluster");
	assert_non_null(c->dir);
	for (size_t i = 0; args && args[i]; i++) {
		assert_true(c->n_args < sizeof(c->args) / sizeof(c->args[0]) && strlen(args[i]) < sizeof(c->args[0]));
		strcpy(c->args[c->n_args++], args[i]);
	}
	size_t n = 0;
	for (int i = 1; i <= CLUSTER_NODES; i++) {
		c->ports[i] = test_free_port();
		c->metrics_ports[i] = metrics ? test_free_port() : 0;
		n += (size_t)snprintf(c->peers + n, sizeof(c->peers) - n, "%s%d=127.0.0.1:%d", i > 1 ? "," : "", i,
				      c->ports[i]);
	}
}

void cluster_prepare(struct cluster *c, const char *const *args, const char *dir)
{
	prepare(c, args, dir, false);
}

/* Set up @p c and start every member, with metrics listeners if @p metrics. */
static void start_members(struct cluster *c, const char *const *args, bool metrics)
{
	prepare(c, args, NULL, metrics);
	for (int i = 1; i <= CLUSTER_NODES; i++)
		cluster_node_start(c, i);
}

void cluster_start(struct cluster *c, const char *const *args)
{
	start_members(c, args, false);
}

void cluster_start_with_metrics(struct cluster *c, const char *const *args)
{
	start_members(c, args, true);
}

void cluster_stop(struct cluster *c)
{
	for (int i = 1; i <= CLUSTER_NODES; i++)
		cluster_node_signal(c, i, SIGTERM);
}

int cluster_leader(struct cluster *c, uint64_t applied[CLUSTER_NODES + 1])
{
	int leader = 0;
	for (int i = 1; i <= CLUSTER_NODES; i++) {
		applied[i] = 0;
		if (!c->pids[i])
			continue;
		char address[32];
		cluster_address(c, i, address, sizeof(address));
		Grove__Envelope *holder;
		Grove__StatusReply *s = client_status(address, 2000, &holder);
		if (s) {
			applied[i] = s->applied_index;
			if (strcmp(s->role, "leader") == 0)
				leader = i;
		}
		if (holder)
			grove__envelope__free_unpacked(holder, NULL);
	}
	return leader;
}

int cluster_wait_leader(struct cluster *c)
{
	uint64_t applied[CLUSTER_NODES + 1];
	for (int t = 0; t < 100; t++) {
		int l = cluster_leader(c, applied);
		if (l)
			return l;
		usleep(100000);
	}
	fail_msg("no leader was elected");
	return 0;
}

/* Groups a member may host, beyond which a convergence check gives up on the shard list. */
#define CONVERGE_GROUPS_MAX 1024

/*
 * Every group's applied index at member @p node, as (group, applied) pairs in its shard list's order, in @p out
 * (room for CONVERGE_GROUPS_MAX pairs), their count in *@p n (0: the member keeps no shard list).
 * @return false if the member did not answer.
 */
static bool groups_applied(struct cluster *c, int node, uint64_t *out, size_t *n)
{
	char address[32];
	cluster_address(c, node, address, sizeof(address));
	struct grove_client *cl = NULL;
	*n = 0;
	if (grove_client_connect(address, NULL, 2000, &cl, NULL, 0) != GROVE_OK)
		return false;
	Grove__Envelope *holder = NULL;
	Grove__ShardReply *r = client_shard_list(cl, &holder);
	bool answered = r != NULL;
	for (size_t i = 0; r && r->code == 0 && i < r->n_shards && i < CONVERGE_GROUPS_MAX; i++) {
		out[2 * i] = r->shards[i]->group;
		out[2 * i + 1] = r->shards[i]->applied_index;
		*n = i + 1;
	}
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(cl);
	return answered;
}

/* Whether every member applied every group (every shard, not only the world's) as far as the first. */
static bool groups_converged(struct cluster *c)
{
	static uint64_t first[2 * CONVERGE_GROUPS_MAX], other[2 * CONVERGE_GROUPS_MAX];
	size_t n_first, n_other;
	if (!groups_applied(c, 1, first, &n_first))
		return false;
	for (int i = 2; i <= CLUSTER_NODES; i++)
		if (!groups_applied(c, i, other, &n_other) || n_other != n_first ||
		    memcmp(first, other, 2 * n_first * sizeof(*first)) != 0)
			return false;
	return true;
}

uint64_t cluster_wait_converged(struct cluster *c)
{
	uint64_t applied[CLUSTER_NODES + 1];
	for (int t = 0; t < 300; t++) {
		cluster_leader(c, applied);
		bool same = applied[1] > 0;
		for (int i = 2; i <= CLUSTER_NODES; i++)
			same &= applied[i] == applied[1];
		if (same && groups_converged(c))
			return applied[1];
		usleep(100000);
	}
	fail_msg("members did not converge: %llu %llu %llu", (unsigned long long)applied[1],
		 (unsigned long long)applied[2], (unsigned long long)applied[3]);
	return 0;
}

/* Member @p node's log read line by line into @p line (to the first line with @p needle if @p first_only): how many had it. */
static int scan_log(struct cluster *c, int node, const char *needle, char *line, size_t cap, bool first_only)
{
	char log[4096];
	snprintf(log, sizeof(log), "%s/node%d.log", c->dir, node);
	FILE *f = fopen(log, "r");
	int found = 0;
	while (f && !(first_only && found) && fgets(line, (int)cap, f))
		found += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

bool cluster_log_has(struct cluster *c, int node, const char *needle, char *line, size_t cap)
{
	bool found = scan_log(c, node, needle, line, cap, true) > 0;
	if (!found)
		line[0] = '\0';
	return found;
}

int cluster_log_count(struct cluster *c, int node, const char *needle)
{
	char line[1024];
	return scan_log(c, node, needle, line, sizeof(line), false);
}
