/** @file seeds.h @brief Seed values shared by the Variant fuzz targets (Godot text syntax). */
#ifndef GROVE_TESTS_FUZZ_SEEDS_H
#define GROVE_TESTS_FUZZ_SEEDS_H

#include <stddef.h>

extern const char *const fuzz_seed_values[];
extern const size_t fuzz_seed_value_count;

#endif
