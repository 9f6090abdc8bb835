/**
 * @file cut.h
 * @brief Consistent snapshots of a world with shards: cuts.
 *
 * Each shard is its own Raft group and every member applies each group's log
 * at its own pace, so the shards' states in one read transaction may show a
 * cross-shard transaction applied on one shard and not yet written on
 * another. A cut is a cross-shard transaction of its own (xshard.h) with a
 * part on every shard that changes nothing and only holds it (tree_sm.h).
 * When it commits on this member, its intent holds every shard as this
 * member applied them and its resolution is not applied yet: each shard is
 * as it was at the cut's intent, and no other transaction is applied on one
 * shard but not on another (it would hold a shard the cut needed, or waits
 * behind the cut). The read transaction taken then, at the end of the loop's
 * turn and checked to see every shard held by the cut
 * (host_world_snapshot_begin()), is the world at one point.
 *
 * A member runs one cut at a time; those asked for meanwhile (a backup and a
 * save, say) share its point. Any moment at which one transaction holds
 * every shard here is as good, whoever began it: a cut asked for here is
 * read from another member's cut when this member sees every shard held by
 * it, so cuts of several members do not fight over the shards. A cut begins when no transaction holds a shard here or is on its way to
 * one from this member (as a write across shards waits), or after a short
 * wait for that: under back-to-back transactions coordinated by other
 * members there may be no such moment. A younger transaction whose intent
 * it meets is pushed at once (xshard_begin_cut()): aborted if not staged
 * (its client is told to retry), recovered if staged; an older one is waited
 * for, and the shard is reserved for the cut meanwhile (tree_sm.h): a
 * younger transaction's intent there waits until the cut's lands, so that a
 * stream of transactions does not take the shard again each time it frees.
 * So a cut neither waits behind a stream of transactions nor deadlocks with
 * one, or with another member's cut. A cut that does not get
 * there (a shard split off meanwhile, its resolution applied before the
 * read) is begun again, a few times, within a bounded wait. While its
 * intents hold the shards (one round of consensus, until its resolution
 * applies) writes to them wait, as behind any transaction.
 *
 * Single-threaded: call everything from the event loop.
 */
#ifndef GROVE_SERVER_CUT_H
#define GROVE_SERVER_CUT_H

#include <stddef.h>
#include <stdint.h>

#include "src/server/host.h"
#include "src/server/xshard.h"

/** Who asked for a cut, handed back with it: a client's request, or the server's own (conn 0). */
struct cut_for {
	uint64_t conn;        /**< the connection (0: none, e.g. a backup) */
	uint64_t request_id;  /**< its request */
	uint64_t detail;      /**< the asker's own (e.g. the chunk size it asked for) */
};

/** What the module needs from the server. */
struct cut_hooks {
	void *ctx;
	/**
	 * A cut ended: @p err GROVE_OK and the world's snapshot begun in @p rd
	 * (the hook owns it: build it with host_snapshot_build() or abandon it),
	 * or the failure with a reason in @p why (@p rd is then empty).
	 */
	void (*taken)(void *ctx, const struct cut_for *who, int err, const char *why, struct host_snapshot_read *rd);
};

struct cut_list;

/** @return GROVE_OK, GROVE_ENOMEM. @p h and @p x are borrowed and outlive the list. */
int cut_list_create(struct host *h, struct xshard *x, const struct cut_hooks *hooks, struct cut_list **out);

/** @brief Free the list; cuts not taken are not reported. NULL is allowed. */
void cut_list_destroy(struct cut_list *l);

/**
 * @brief Begin a cut of the world for @p who, reported through the taken
 * hook once taken, or failed: GROVE_EINVAL (the world has no shards),
 * GROVE_EUNAVAILABLE (this member coordinates as many transactions as it
 * may, or 64 cuts wait already), GROVE_EINTENT (no cut after the attempts and the wait allowed).
 */
void cut_begin(struct cut_list *l, const struct cut_for *who);

/**
 * @brief Whether transaction ticket @p t is a cut's (xshard_begin() was
 * given it by this module): then its end goes to cut_txn_ended().
 */
bool cut_owns(const struct host_ticket *t);

/** @brief A cut's transaction ended (xshard's done hook, for a ticket cut_owns()). */
void cut_txn_ended(struct cut_list *l, const struct host_ticket *t, const struct xshard_outcome *o);

/** @brief End of the loop's turn: begin the cuts whose shards are free, take the reads of those that committed. */
void cut_turn(struct cut_list *l);

/** @brief Whether any cut is running (so the server knows to call cut_turn()). */
bool cut_pending(const struct cut_list *l);

#endif
