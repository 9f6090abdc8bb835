/**
 * @file stats.h
 * @brief What every benchmark measures with: a monotonic clock and
 * percentiles of latency samples; and the lists of sizes their options take.
 */
#ifndef GROVE_BENCH_STATS_H
#define GROVE_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/** @brief CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/** @brief qsort() comparison of two uint64_t, ascending. */
int cmp_u64(const void *a, const void *b);

/** @brief The @p p quantile (0 to 1) of @p n sorted nanosecond samples, in microseconds; 0 if none. */
double pct(const uint64_t *sorted, size_t n, double p);

/**
 * @brief Parse @p text, comma-separated integers each in [@p min, @p max], into @p out (at most @p cap).
 * @return how many, or -1 if one is out of range.
 */
int parse_int_list(const char *text, int min, int max, int *out, int cap);

#endif
