/* The data directory's lock: flock on DIR/LOCK, naming its holder. */
#include "storage/dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/common/error.h"

int dirlock_take(const char *dir, int wait_ms, int *fd, pid_t *holder)
{
	*fd = -1;
	*holder = 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return GROVE_EIO;
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/LOCK", dir) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return GROVE_EIO;
	}
	int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0)
		return GROVE_EIO;
	int locked;
	for (int waited_ms = 0; (locked = flock(lock, LOCK_EX | LOCK_NB)) != 0 && errno == EWOULDBLOCK && waited_ms < wait_ms;
	     waited_ms += 20)
		usleep(20000);
	if (locked != 0) {
		int saved = errno;
		char text[32] = "";
		ssize_t n = pread(lock, text, sizeof(text) - 1, 0);
		if (n > 0)
			*holder = (pid_t)strtol(text, NULL, 10);
		close(lock);
		errno = saved;
		return saved == EWOULDBLOCK ? GROVE_EUNAVAILABLE : GROVE_EIO;
	}
	char text[32];
	int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	/* The id is only for the message of a process refused later: failing to write it is not fatal. */
	bool named = ftruncate(lock, 0) == 0 && pwrite(lock, text, (size_t)len, 0) == len;
	(void)named;
	*fd = lock;
	return GROVE_OK;
}

void dirlock_release(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the only descriptor of the open file drops the lock */
}
