/**
 * @file stats.h
 * @brief What every benchmark measures with: a monotonic clock and
 * percentiles of latency samples.
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

#endif
