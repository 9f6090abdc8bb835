/**
 * @file dirlock.h
 * @brief One server per data directory: an exclusive lock that a second
 * process, pointed at the same directory by mistake, cannot take.
 *
 * Two servers on one directory would both append to its write-ahead log and
 * commit to its store, each unaware of the other's entries: acknowledged
 * writes would be lost or the log made unreadable. The lock is flock(2) on
 * DIR/LOCK, which the kernel drops when its holder exits, however it exits
 * (kill -9 included), so a crash never leaves a directory locked. The file
 * holds the holder's process id, for the message of the one refused.
 */
#ifndef GROVE_STORAGE_DIRLOCK_H
#define GROVE_STORAGE_DIRLOCK_H

#include <sys/types.h>

/**
 * @brief Take directory @p dir (created if missing) for this process,
 * waiting up to @p wait_ms for a holder to let go (a predecessor that was
 * just killed may still be exiting).
 * @param fd receives the lock's descriptor, to give to dirlock_release().
 * @param holder on GROVE_EUNAVAILABLE, the process id the lock file names
 * (0 when it names none).
 * @return GROVE_OK; GROVE_EUNAVAILABLE (another process holds it: nothing
 * else may open the directory's store or log); GROVE_EIO (the directory or
 * its lock file cannot be made or locked; errno says why).
 */
int dirlock_take(const char *dir, int wait_ms, int *fd, pid_t *holder);

/** @brief Release a lock from dirlock_take(); -1 is allowed. The file stays. */
void dirlock_release(int fd);

#endif
