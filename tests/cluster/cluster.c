/* A real 3-node groved cluster on 127.0.0.1 (cluster.h). */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster.h"
#include "harness.h"
#include "support.h"


void address_of(const struct cluster *c, int node, char *out, size_t cap)
{
	snprintf(out, cap, "127.0.0.1:%d", c->ports[node]);
}

/* Start groved as node @p node; its stdout comes back through *@p out. */
pid_t node_spawn(struct cluster *c, int node, int *out)
{
	char data[4096], log[4096], id[16], listen[32];
	snprintf(data, sizeof(data), "%s/node%d", c->dir, node);
	snprintf(log, sizeof(log), "%s/node%d.log", c->dir, node);
	snprintf(id, sizeof(id), "%d", node);
	address_of(c, node, listen, sizeof(listen));
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		close(fds[0]);
		execl(GROVED_PATH, "groved", "--id", id, "--peers", c->peers, "--data", data, "--listen", listen,
		      "--cluster-token", "test-token", "--raft-compact-at", c->compact_at, "--snapshot-chunk",
		      SNAPSHOT_CHUNK, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

void node_start(struct cluster *c, int node)
{
	int out;
	pid_t pid = node_spawn(c, node, &out);
	char line[128] = "";
	struct pollfd pfd = {.fd = out, .events = POLLIN};
	if (poll(&pfd, 1, 10000) > 0)
		(void)!read(out, line, sizeof(line) - 1);
	close(out);
	assert_non_null(strstr(line, "listening on"));
	c->pids[node] = pid;
}

/* Start node @p node expecting it to refuse within 10 s: returns its exit status. */
int node_start_refused(struct cluster *c, int node)
{
	int out, status;
	pid_t pid = node_spawn(c, node, &out);
	close(out);
	for (int t = 0; t < 100; t++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("node %d started when it should have refused", node);
	return status;
}

void node_signal(struct cluster *c, int node, int sig)
{
	if (c->pids[node] > 0) {
		kill(c->pids[node], sig);
		waitpid(c->pids[node], NULL, 0);
		c->pids[node] = 0;
	}
}

void cluster_start(struct cluster *c, int compact_at)
{
	memset(c, 0, sizeof(*c));
	c->dir = test_tmpdir("cluster");
	snprintf(c->compact_at, sizeof(c->compact_at), "%d", compact_at);
	size_t n = 0;
	for (int i = 1; i <= NODES; i++) {
		c->ports[i] = test_free_port();
		n += (size_t)snprintf(c->peers + n, sizeof(c->peers) - n, "%s%d=127.0.0.1:%d", i > 1 ? "," : "", i,
				      c->ports[i]);
	}
	for (int i = 1; i <= NODES; i++)
		node_start(c, i);
}

void cluster_stop(struct cluster *c)
{
	for (int i = 1; i <= NODES; i++)
		node_signal(c, i, SIGTERM);
}

Grove__StatusReply *status_of(struct cluster *c, int node, Grove__Envelope **holder)
{
	char address[32];
	address_of(c, node, address, sizeof(address));
	return client_status(address, 2000, holder);
}

/* The node that is leader (0 if none) and, through @p applied, each live node's applied index. */
int leader_of(struct cluster *c, uint64_t applied[NODES + 1])
{
	int leader = 0;
	for (int i = 1; i <= NODES; i++) {
		applied[i] = 0;
		if (!c->pids[i])
			continue;
		Grove__Envelope *holder;
		Grove__StatusReply *s = status_of(c, i, &holder);
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

int wait_leader(struct cluster *c)
{
	uint64_t applied[NODES + 1];
	for (int t = 0; t < 100; t++) {
		int l = leader_of(c, applied);
		if (l)
			return l;
		usleep(100000);
	}
	fail_msg("no leader was elected");
	return 0;
}

/* Wait (bounded) until every node has applied the same index. */
uint64_t wait_converged(struct cluster *c)
{
	uint64_t applied[NODES + 1];
	for (int t = 0; t < 300; t++) {
		leader_of(c, applied);
		bool same = applied[1] > 0;
		for (int i = 2; i <= NODES; i++)
			same &= applied[i] == applied[1];
		if (same)
			return applied[1];
		usleep(100000);
	}
	fail_msg("nodes did not converge: %llu %llu %llu", (unsigned long long)applied[1],
		 (unsigned long long)applied[2], (unsigned long long)applied[3]);
	return 0;
}


/* The first line of node @p node's log that contains @p needle, or "" (in @p line). */
bool log_has(struct cluster *c, int node, const char *needle, char *line, size_t cap)
{
	char log[4096];
	snprintf(log, sizeof(log), "%s/node%d.log", c->dir, node);
	FILE *f = fopen(log, "r");
	bool found = false;
	while (f && !found && fgets(line, (int)cap, f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	if (!found)
		line[0] = '\0';
	return found;
}
