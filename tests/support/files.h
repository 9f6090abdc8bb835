/**
 * @file files.h
 * @brief Whole-file reads and writes for tests that hand files to other programs (Godot) or read
 * fixtures (the scene corpus).
 */
#ifndef GROVE_TESTS_FILES_H
#define GROVE_TESTS_FILES_H

#include <stddef.h>

/**
 * @brief The bytes of @p path with a NUL after them (not counted in @p len).
 * @return a malloc'd buffer, or NULL if the file cannot be opened or read.
 */
char *test_read_file(const char *path, size_t *len);

/** @brief Write @p len bytes to @p dir/@p name, replacing it; aborts the test program if it cannot. */
void test_write_file(const char *dir, const char *name, const void *data, size_t len);

#endif
