#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	abort();
}

void groved_start(struct groved_proc *p, char *data_dir, const char *token)
{
	const char *token_args[] = {"--token", token, NULL};
	groved_start_args(p, data_dir, "127.0.0.1:0", token ? token_args : NULL);
}

void groved_start_args(struct groved_proc *p, char *data_dir, const char *listen, const char *const *args)
{
	int out[2];
	if (pipe(out) != 0)
		die("pipe");
	char log_path[4096];
	snprintf(log_path, sizeof(log_path), "%s.log", data_dir);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(out[1], 1);
		int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (log >= 0)
			dup2(log, 2);
		close(out[0]);
		close(out[1]);
		const char *argv[64] = {"groved", "--data", data_dir, "--listen", listen};
		for (int i = 0; args && args[i] && i < 58; i++)
			argv[5 + i] = args[i];
		execv(GROVED_PATH, (char *const *)argv);
		_exit(127);
	}
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

void cli_run(const struct groved_proc *p, struct cli_result *r, ...)
{
	const char *args[64] = {"grove", "--server", p->address};
	int n = 3;
	va_list ap;
	va_start(ap, r);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 63)
		args[n++] = a;
	va_end(ap);
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
