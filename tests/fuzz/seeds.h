/** @file seeds.h @brief Seed values and a seed batch shared by the fuzz targets. */
#ifndef GROVE_TESTS_FUZZ_SEEDS_H
#define GROVE_TESTS_FUZZ_SEEDS_H

#include <stddef.h>

#include "src/tree/tree.h"

/** Variant values in Godot's text syntax. */
extern const char *const fuzz_seed_values[];
extern const size_t fuzz_seed_value_count;

/** Operations in the seed batch. */
#define FUZZ_SEED_OPS 12

/**
 * @brief Fill @p ops and their @p values (FUZZ_SEED_OPS slots each) with a
 * batch that builds a small scene under /root with every kind of operation;
 * later operations name the nodes earlier ones create (negative ids).
 * Release the values with fuzz_seed_batch_free().
 * @return the number of operations.
 */
size_t fuzz_seed_batch(struct tree_op *ops, struct variant *values);

/** @brief Release the values fuzz_seed_batch() filled. */
void fuzz_seed_batch_free(struct variant *values);

#endif
