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

struct change_hub {
	void *ctx; /**< passed to every call */
	/**
	 * Entry @p index of @p group was applied; @p changes (borrowed for the call) is what it changed, in
	 * order, and @p paths (borrowed; NULL when @p n is 0) the path steps they name; @p n is 0 for entries
	 * that changed nothing (refused batches, no-ops, membership); @p times (borrowed for the call) says
	 * when it was committed and applied here.
	 */
	void (*publish)(void *ctx, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
			const struct tree_paths *paths, const struct entry_times *times);
	/**
	 * Entry @p index of @p group (published just before) moved the subtree at @p path (borrowed for the
	 * call) into the new group @p to: the group's later entries never touch it again. May be NULL.
	 */
	void (*moved)(void *ctx, uint64_t group, uint64_t index, const char *path, uint64_t to);
};

#endif
