/**
 * @file support.h
 * @brief Helpers shared by grove's tests: temporary directories.
 */
#ifndef GROVE_TESTS_SUPPORT_H
#define GROVE_TESTS_SUPPORT_H

/**
 * @brief Create a fresh directory under $TMPDIR (or /tmp) named after @p tag.
 * @return a malloc'd path; aborts the test program if it cannot.
 */
char *test_tmpdir(const char *tag);

/** @brief Remove @p path and everything below it, then free @p path. */
void test_rmtree(char *path);

/** @brief A TCP port on 127.0.0.1 that was free a moment ago (for servers that need it before starting). */
int test_free_port(void);

#endif
