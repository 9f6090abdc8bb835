/**
 * @file fuzz.h
 * @brief The contract of grove's fuzz targets.
 *
 * Each target defines LLVMFuzzerTestOneInput (libFuzzer's entry point) and
 * grove_fuzz_seed. Built with -DGROVE_FUZZ=ON (clang) a target links with
 * libFuzzer; otherwise it links with driver.c, which replays the seeds and a
 * bounded number of seeded mutations of them: the short smoke run of the
 * default test suite.
 */
#ifndef GROVE_TESTS_FUZZ_H
#define GROVE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "src/tree/variant.h"

/** libFuzzer's entry point: must never crash, leak or hang, whatever @p data is. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** @brief Append seed input number @p i to @p out. @return 0 once @p i is past the last seed. */
int grove_fuzz_seed(size_t i, struct grove_buf *out);

/** @brief Stop the process with a message: a property the target checks does not hold. */
void grove_fuzz_fail(const char *what);

#endif
