/**
 * @file hub.h
 * @brief Where applied changes go: the subscriber hub's interface.
 *
 * After a replica applied a committed entry, the server hands the entry's
 * change records (src/tree/tree.h, struct tree_change) to the hub, in log
 * order, group by group. The hub must never make apply wait: it copies what
 * it needs and returns at once; a subscriber that cannot keep up is the
 * hub's problem, not the log's.
 */
#ifndef GROVE_SERVER_HUB_H
#define GROVE_SERVER_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/tree/tree.h"

/** When an entry was handed out to apply and applied on this member (CLOCK_REALTIME, ns): latency accounting. */
struct entry_times {
	uint64_t committed_ns; /**< the commit index had passed it and it was durable here */
	uint64_t applied_ns;   /**< its ready's entries were applied */
};

/**
 * The transaction across shards whose part an entry applied: its id and the
 * groups of all its parts (the entry's own among them). Those parts are
 * applied in their groups' logs one by one; a reader that follows several
 * of the groups puts them together again.
 */
struct change_txn {
	uint64_t id;
	uint64_t *groups;  /**< borrowed where handed out, owned where decoded (history_decode()) */
	size_t n_groups;
};

struct change_hub {
	void *ctx; /**< passed to every call */
	/**
	 * Entry @p index of @p group was applied; @p changes (borrowed for the call) is what it changed, in
	 * order, and @p paths (borrowed; NULL when @p n is 0) the path steps they name; @p n is 0 for entries
	 * that changed nothing (refused batches, no-ops, membership); @p times (borrowed for the call) says
	 * when it was committed and applied here; @p txn (borrowed; NULL: none) names the transaction across
	 * shards whose part the entry applied.
	 */
	void (*publish)(void *ctx, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
			const struct tree_paths *paths, const struct entry_times *times, const struct change_txn *txn);
	/**
	 * Entry @p index of @p group (published just before) moved the subtree at @p path (borrowed for the
	 * call) into the new group @p to, whose state is that of its own log at index @p born_at: the group's
	 * later entries never touch it again, @p to's entries after @p born_at do. May be NULL.
	 */
	void (*moved)(void *ctx, uint64_t group, uint64_t index, const char *path, uint64_t to, uint64_t born_at);
	/**
	 * This member's copy of @p group was replaced by a snapshot at @p index (it had fallen behind the log):
	 * the entries up to @p index were never applied here, so they were not published and never will be.
	 * May be NULL.
	 */
	void (*installed)(void *ctx, uint64_t group, uint64_t index);
};

#endif
