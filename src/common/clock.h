/**
 * @file clock.h
 * @brief The two clocks a server reads: wall time for the stage stamps that
 * travel with requests (comparable between processes on one machine), and
 * monotonic time for deadlines (never jumps).
 */
#ifndef GROVE_COMMON_CLOCK_H
#define GROVE_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/** @brief CLOCK_REALTIME in nanoseconds since the epoch. */
static inline uint64_t grove_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** @brief CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t grove_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** @brief CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t grove_monotonic_ms(void)
{
	return grove_monotonic_ns() / 1000000;
}

#endif
