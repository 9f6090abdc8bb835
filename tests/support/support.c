#include "support.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int test_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		perror("test_free_port");
		abort();
	}
	close(fd);
	return ntohs(a.sin_port);
}
