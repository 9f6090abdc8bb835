/**
 * @file support.h
 * @brief Helpers shared by grove's tests: temporary directories, ports, and
 * killing a writer with SIGKILL in the middle of its work.
 */
#ifndef GROVE_TESTS_SUPPORT_H
#define GROVE_TESTS_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/**
 * @brief Create a fresh directory under $TMPDIR (or /tmp) named after @p tag.
 * @return a malloc'd path; aborts the test program if it cannot.
 */
char *test_tmpdir(const char *tag);

/** @brief Remove @p path and everything below it, then free @p path. */
void test_rmtree(char *path);

/**
 * @brief A TCP port on 127.0.0.1 that was free a moment ago (for servers that need it before starting),
 * chosen at random below the kernel's ephemeral range, so that no outgoing connection takes it meanwhile.
 */
int test_free_port(void);

/** @brief Raise this process's descriptor limit towards @p want, as far as the hard limit allows; @return the limit now. */
unsigned long test_raise_nofile(unsigned long want);

/**
 * @brief Seed rand() for a test that picks random kill points: from $GROVE_CRASH_SEED if set (to replay
 * a failure), else from the time; prints the seed.
 */
void test_seed_crashes(const char *what);

/**
 * @brief Fork a child that runs @p writer(@p dir, fd) and writes one uint64_t to fd after each write it
 * made durable; after @p target of them (or 20 s), and a random pause of up to 3 ms, kill it with SIGKILL.
 * Acknowledgements that were on their way when it died count too.
 * @param last receives the last acknowledgement (unchanged if there was none).
 * @return how many acknowledgements were read. Fails the test if the child did not die of the SIGKILL.
 */
int test_kill9_after(void (*writer)(const char *dir, int ack_fd), const char *dir, int target, uint64_t *last);

/**
 * @brief Mount a tmpfs of @p size_mib MiB on the empty directory @p dir, for tests of a full disk. Needs
 * the right to mount (root, or CAP_SYS_ADMIN); where that is missing, @p why (@p why_cap bytes) says so.
 * @return 0 if mounted, -1 if not.
 */
int test_mount_tmpfs(const char *dir, unsigned size_mib, char *why, size_t why_cap);

/** @brief Unmount what test_mount_tmpfs() mounted on @p dir (lazily if still busy). */
void test_unmount(const char *dir);

/**
 * @brief Fill the file system of @p path with file @p path (zeros, written until it is full).
 * @return the bytes written.
 */
uint64_t test_fill_disk(const char *path);

#endif
