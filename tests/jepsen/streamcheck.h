/**
 * @file streamcheck.h
 * @brief What watchers of the change stream saw during a fault campaign,
 * checked against the campaign's history of register writes.
 *
 * A watcher follows the whole world's change stream, or one register's node
 * (a snapshot, then every applied entry, resuming from its last position at
 * another member whenever its link fails), and notes, in stream order, every
 * value set on a register with the number of the event that brought it. The stream is the log's
 * order made visible, so for each register:
 *  - a value is seen at most once per watcher, also across a new snapshot
 *    after "compacted" (which is never older than what the watcher had), and
 *    only one that a write which did not fail wrote (an `info` write may
 *    have applied);
 *  - every acknowledged write invoked after the watcher's last snapshot
 *    arrived is seen (nothing is lost between a snapshot and its stream, or
 *    across a resume), of every register the watcher follows, and nothing
 *    of the others;
 *  - two acknowledged writes ordered in real time (one completed before the
 *    other was invoked) are seen in that order;
 *  - any two watchers see their common values in the same order;
 *  - a batch that wrote one value to two registers (a transaction across
 *    shards; a writer's values are otherwise unique) is seen whole, in one
 *    event, or not at all, by a watcher that follows both.
 * Each violation is written as one line to the report; the count is returned.
 */
#ifndef GROVE_TESTS_JEPSEN_STREAMCHECK_H
#define GROVE_TESTS_JEPSEN_STREAMCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tests/jepsen/history.h"

/** One value seen set on a register. */
struct stream_value {
	char key[16];    /**< the register's key in the history ("r3") */
	int64_t value;
	uint64_t event;  /**< the number of the stream event that brought it (increasing) */
};

/** What one watcher saw. Zero-initialize; release with stream_watch_free(). */
struct stream_watch {
	struct stream_value *seen; /**< in stream order */
	size_t n, cap;
	/** Acknowledged writes invoked at or after this time (the history's clock) must all be seen. */
	uint64_t complete_from_ns;
	/** The one register it follows (a subscriber of that register's node), or "" for all of them. */
	char only_key[16];
	/** A broken stream noticed on the wire (an index out of its chain), or "" */
	char violation[256];
};

/** @brief Note that value @p value of register @p key came in event @p event. @return 0, or -1 out of memory. */
int stream_watch_add(struct stream_watch *w, const char *key, int64_t value, uint64_t event);

/** @brief Release what @p w holds. */
void stream_watch_free(struct stream_watch *w);

/**
 * @brief Check @p n watchers @p w against history @p h (its register keys
 * only), writing one line per violation to @p report (prefixed "stream: ").
 * @return the number of violations (0: every check passed), or SIZE_MAX
 * when out of memory.
 */
size_t stream_check(const struct history *h, const struct stream_watch *w, size_t n, FILE *report);

#endif
