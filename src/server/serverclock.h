/**
 * @file serverclock.h
 * @brief The server's hybrid logical clock (src/hlc) over CLOCK_REALTIME:
 * it stamps every frame to a peer and every command a leader proposes,
 * merges the stamps of frames and entries it receives, refuses a peer whose
 * clock is further ahead than the maximum offset, measures each peer's
 * offset, and says when its upper bound must be persisted.
 *
 * Monotonic across restarts: the store keeps an upper bound of the walls
 * handed out (groupstate "hlc_bound"). Whenever the clock comes within half a
 * window of the bound, the server persists bound = wall + window (window: half
 * the maximum offset, so that a clock restarted at the bound is still within
 * the offset its peers accept); at start the clock is raised to the bound.
 *
 * Only the loop thread uses it (not thread-safe).
 */
#ifndef GROVE_SERVER_SERVERCLOCK_H
#define GROVE_SERVER_SERVERCLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/hlc/hlc.h"
#include "src/raft/raft.h"

/** The maximum offset when none is configured: 500 ms. */
#define SERVER_CLOCK_DEFAULT_MAX_OFFSET_MS 500
/** A peer whose frames are refused is logged at most this often. */
#define SERVER_CLOCK_REFUSAL_LOG_MS 1000

/** What this server measured of a peer's clock. */
struct server_clock_peer {
	uint64_t id;            /**< the peer server */
	int64_t offset_ns;      /**< of its last stamped frame: its wall at send minus our physical time at
				     receive (the network delay makes it a little smaller than the true offset) */
	uint64_t measured_ms;   /**< when (CLOCK_MONOTONIC, ms); 0 if no stamped frame came yet */
	uint64_t refused;       /**< its frames refused since start (clock too far ahead) */
	uint64_t unlogged;      /**< refused since the last log line about it */
	uint64_t logged_ms;     /**< when that line was written (CLOCK_MONOTONIC, ms) */
};

/** The clock. Set up with server_clock_init(). */
struct server_clock {
	struct hlc_clock hlc;       /**< the timestamps */
	int64_t shift_ns;           /**< added to CLOCK_REALTIME (tests only; 0 otherwise) */
	uint64_t window_ns;         /**< how far past the wall a persisted bound reaches */
	uint64_t bound;             /**< the bound persisted last (0: none) */
	struct server_clock_peer peers[RAFT_MAX_MEMBERS]; /**< peers heard from, in order of first frame */
	size_t n_peers;             /**< entries of peers */
};

/**
 * @brief A clock refusing remote walls more than @p max_offset_ms ahead,
 * reading CLOCK_REALTIME shifted by @p shift_ms (a test's skewed machine;
 * 0 in service). @p max_offset_ms must be at least 1 (0 is taken as 1).
 */
void server_clock_init(struct server_clock *c, uint64_t max_offset_ms, int64_t shift_ms);

/** @brief Physical time as this server reads it (CLOCK_REALTIME plus the shift), ns since the epoch. */
uint64_t server_clock_physical(const struct server_clock *c);

/**
 * @brief Start above @p bound, the bound persisted before a restart (0: none):
 * every timestamp handed out from now on is larger than any handed out before.
 */
void server_clock_restart_from(struct server_clock *c, uint64_t bound);

/**
 * @brief Timestamp a send or a proposal. Never fails: should the logical
 * counter be exhausted (4 billion events without the physical clock moving),
 * the last timestamp is repeated.
 */
struct hlc_ts server_clock_now(struct server_clock *c);

/**
 * @brief Merge the stamp @p ts of an entry appended or applied here. An
 * entry's stamp is not refused (the entry is committed already); one beyond
 * the maximum offset is simply not merged.
 */
void server_clock_observe(struct server_clock *c, struct hlc_ts ts);

/**
 * @brief Merge the stamp @p remote of a frame from peer @p peer, and note
 * the peer's offset.
 * @return GROVE_OK, or GROVE_ERANGE: its wall is more than the maximum offset
 * ahead of our physical time, the frame must be dropped (the clock is
 * unchanged); a line names the peer and the offset, at most once per
 * SERVER_CLOCK_REFUSAL_LOG_MS per peer (with the number refused meanwhile).
 */
int server_clock_receive(struct server_clock *c, uint64_t peer, struct hlc_ts remote);

/**
 * @brief Whether the bound must be persisted now (the clock came within half
 * a window of it), and the new bound, @p *next, to persist; then call
 * server_clock_bound_saved().
 */
bool server_clock_bound_due(const struct server_clock *c, uint64_t *next);

/** @brief What was measured of peer @p id, or NULL if no frame of it came yet. Borrowed. */
const struct server_clock_peer *server_clock_peer(const struct server_clock *c, uint64_t id);

/** @brief The bound @p bound is persisted. */
void server_clock_bound_saved(struct server_clock *c, uint64_t bound);

#endif
