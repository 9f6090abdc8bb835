/**
 * @file hlc.h
 * @brief Hybrid logical clocks (Kulkarni et al., "Logical Physical Clocks", 2014).
 *
 * A timestamp is (wall, logical): wall is the largest physical time (ns) this
 * node has heard of, logical breaks ties among events with the same wall.
 * Properties the algorithm gives and the tests check:
 * - monotonic: every timestamp a clock hands out is larger than the last;
 * - causal: if e happened before f (locally, or through a message carrying
 *   e's timestamp) then ts(e) < ts(f);
 * - bounded: wall - pt stays within the maximum offset the cluster accepts,
 *   because a remote timestamp further ahead than that is refused;
 * - the logical counter stays small (bounded by the number of events within
 *   one offset window) and is checked against overflow.
 *
 * The clock does not read time itself: the caller passes the physical time,
 * so the module is deterministic and testable (the server passes
 * CLOCK_REALTIME). Not thread-safe: one clock per event loop.
 */
#ifndef GROVE_HLC_HLC_H
#define GROVE_HLC_HLC_H

#include <stdbool.h>
#include <stdint.h>

/** A hybrid timestamp. Compare with hlc_cmp(). */
struct hlc_ts {
	uint64_t wall;    /**< physical component, ns since the epoch */
	uint32_t logical; /**< logical component */
};

/** A node's clock. Initialize with hlc_init(). */
struct hlc_clock {
	struct hlc_ts last;      /**< the largest timestamp handed out or received */
	uint64_t max_offset_ns;  /**< remote timestamps more than this ahead of pt are refused */
};

/** @brief Start a clock with no history and the given maximum offset. */
void hlc_init(struct hlc_clock *c, uint64_t max_offset_ns);

/** @brief -1, 0 or 1 as @p a is before, equal to or after @p b. */
int hlc_cmp(struct hlc_ts a, struct hlc_ts b);

/**
 * @brief Timestamp a local or send event at physical time @p pt:
 * wall = max(last.wall, pt); logical = last.logical + 1 if wall did not move, else 0.
 * @return GROVE_OK, or GROVE_ERANGE if the logical counter would overflow
 * (then the clock is unchanged).
 */
int hlc_now(struct hlc_clock *c, uint64_t pt, struct hlc_ts *out);

/**
 * @brief Merge a remote timestamp @p remote received at physical time @p pt
 * and timestamp the receive event: wall = max(last.wall, remote.wall, pt),
 * logical chosen so the result exceeds both last and remote.
 * @return GROVE_OK; GROVE_ERANGE if remote.wall is more than max_offset_ns
 * ahead of pt (the remote clock is out of bounds: the message must be
 * refused, and the clock is unchanged) or the logical counter would overflow.
 */
int hlc_update(struct hlc_clock *c, uint64_t pt, struct hlc_ts remote, struct hlc_ts *out);

/**
 * @brief Make sure every timestamp @p c hands out from now on is above
 * @p floor (a restart: the upper bound of what the clock handed out before).
 * A clock already past @p floor is unchanged.
 */
void hlc_raise(struct hlc_clock *c, struct hlc_ts floor);

#endif
