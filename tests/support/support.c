#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *test_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/grove-%s-XXXXXX", base && *base ? base : "/tmp", tag) < 0 || !mkdtemp(path)) {
		perror("test_tmpdir");
		abort();
	}
	return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void test_rmtree(char *path)
{
	if (!path)
		return;
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

/* Bind a TCP socket to 127.0.0.1:@p port (0: any) and close it; @return the port bound, or 0. */
static int bind_once(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t len = sizeof(a);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  getsockname(fd, (struct sockaddr *)&a, &len) == 0;
	if (fd >= 0)
		close(fd);
	return ok ? ntohs(a.sin_port) : 0;
}

/*
 * Below the kernel's ephemeral range: a port from it (what binding port 0 gives) can be taken, between this
 * call and the server's listen, by any outgoing connection of a test running beside this one.
 */
int test_free_port(void)
{
	unsigned low = 32768;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%u", &low) != 1)
			low = 32768;
		fclose(f);
	}
	static unsigned calls;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec ^ ++calls * 40503u;
	const unsigned base = 10000;
	for (int i = 0; low > base + 1000 && i < 64; i++) {
		int port = bind_once((int)(base + (unsigned)rand_r(&seed) % (low - base)));
		if (port)
			return port;
	}
	int port = bind_once(0);
	if (!port) {
		perror("test_free_port");
		abort();
	}
	return port;
}

unsigned long test_raise_nofile(unsigned long want)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (unsigned long)rl.rlim_cur;
}

void test_seed_crashes(const char *what)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	const char *env = getenv("GROVE_CRASH_SEED");
	if (env)
		seed = (unsigned)strtoul(env, NULL, 10);
	printf("%s seed=%u (GROVE_CRASH_SEED replays the kill points)\n", what, seed);
	srand(seed);
}

int test_kill9_after(void (*writer)(const char *dir, int ack_fd), const char *dir, int target, uint64_t *last)
{
	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe");
		abort();
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		abort();
	}
	if (pid == 0) {
		close(fds[0]);
		writer(dir, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	int got = 0;
	time_t deadline = time(NULL) + 20;
	uint64_t ack;
	while (got < target && time(NULL) < deadline && read(fds[0], &ack, sizeof(ack)) == sizeof(ack)) {
		*last = ack;
		got++;
	}
	usleep((useconds_t)(rand() % 3000));
	kill(pid, SIGKILL);
	while (read(fds[0], &ack, sizeof(ack)) == sizeof(ack)) {
		*last = ack;
		got++;
	}
	close(fds[0]);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		fprintf(stderr, "the writer did not die of SIGKILL (status %d)\n", status);
		abort();
	}
	return got;
}

int test_mount_tmpfs(const char *dir, unsigned size_mib, char *why, size_t why_cap)
{
	char opts[32];
	snprintf(opts, sizeof(opts), "size=%um", size_mib);
	if (mount("tmpfs", dir, "tmpfs", 0, opts) == 0)
		return 0;
	snprintf(why, why_cap, "cannot mount a %u MiB tmpfs on %s (%s): the test needs the right to mount", size_mib,
		 dir, strerror(errno));
	return -1;
}

void test_unmount(const char *dir)
{
	if (umount(dir) != 0 && errno == EBUSY)
		umount2(dir, MNT_DETACH);
}

uint64_t test_fill_disk(const char *path)
{
	static const char zeros[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	uint64_t total = 0;
	/* Bounded: a tmpfs that never filled would be a broken test set-up, not a reason to write forever. */
	for (int i = 0; fd >= 0 && i < (1 << 16); i++) {
		ssize_t n = write(fd, zeros, sizeof(zeros));
		if (n <= 0)
			break;
		total += (uint64_t)n;
	}
	if (fd >= 0)
		close(fd);
	return total;
}
