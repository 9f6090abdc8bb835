/**
 * @file coord.h
 * @brief The coordinator of one cross-shard transaction (parallel commits).
 *
 * A pure state machine in the style of raft.h: time arrives as arguments
 * (the physical time of the coordinator's node, which the node's HLC turns
 * into timestamps), commands to shards leave as messages in a Ready batch
 * that the caller delivers, and their results come back through
 * txn_coord_on_result(). Unanswered commands are sent again on
 * txn_coord_tick(), so lost, duplicated or reordered messages only cost time;
 * each resend waits twice as long as the one before, up to a ceiling.
 *
 * The life of a transaction (spec actions of
 * tla/parallel_commits/ParallelCommits.tla in brackets):
 * - txn_coord_create() takes the timestamp (DESIGN.md step 1);
 *   txn_coord_put() adds writes; the first write's shard is the anchor that
 *   keeps the record;
 * - txn_coord_commit() sends every intent and the STAGING record at once
 *   [SendWrites] (step 2);
 * - once the record is STAGING and every intent landed at the timestamp, the
 *   Ready carries the outcome COMMITTED: acknowledge the client [Ack]
 *   (step 3). The same Ready carries the conditional FINALIZE that makes
 *   the record COMMITTED [CommitExplicit] and an early resolution of every
 *   intent (a RESOLVE with status STAGING, sent once) [ResolveEarly], so
 *   that the keys are free one round after the acknowledgement; once the
 *   record is final the intents are resolved by it [ResolveIntent] (step 4;
 *   it confirms the early resolutions); once every intent is, the record is deleted
 *   (TXN_CMD_FORGET, beyond the spec: shard.h txn_forget());
 * - if every intent landed but some above the timestamp (a read or a newer
 *   version was in the way), the Ready says pushed: the caller calls
 *   txn_coord_retry() to refresh (same epoch) or restart (next epoch) at
 *   the pushed timestamp [Retry], or txn_coord_rollback() [Rollback]; after
 *   max_attempts the coordinator rolls back by itself;
 * - an intent that meets another transaction's intent is blocked: the Ready
 *   names the blocker (the caller pushes or recovers it, recover.h) and the
 *   write is sent again, the same attempt, until it lands or block_timeout
 *   passes, when the coordinator rolls back;
 * - a rollback is status recovery of its own transaction (recover.h with
 *   own set): prevent the intents that are not in place and abort, or find
 *   that every intent is in place after all and commit. Either way the Ready
 *   reports the outcome that the record says;
 * - heartbeats [Heartbeat] keep the record's heartbeat fresh so that no one
 *   recovers a live transaction; a heartbeat refused because the record is
 *   final tells the coordinator that someone else finished it.
 * The outcome it reports is always the record's: COMMITTED only when the
 * transaction is implicitly or explicitly committed, ABORTED only when the
 * record is ABORTED (or when it is rolled back before anything was sent).
 *
 * Ownership: the coordinator copies keys and values. Messages, metas and
 * the record handed out by txn_coord_ready() stay valid until
 * txn_coord_advance(); between the two, call nothing else on it.
 */
#ifndef GROVE_TXN_COORD_H
#define GROVE_TXN_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/hlc/hlc.h"
#include "src/txn/txn.h"

/** What a coordinator needs to start. */
struct txn_coord_config {
	uint64_t id;                    /**< the transaction id: unique in the cluster, non-zero (e.g. node id
	                                     in the high bits, a counter in the low ones) */
	uint64_t heartbeat_interval_ns; /**< how often the record's heartbeat is refreshed; > 0 */
	uint64_t retry_interval_ns;     /**< unanswered commands are sent again after this; > 0 */
	uint64_t retry_max_ns;          /**< each resend doubles the wait, up to this (0: it stays retry_interval_ns) */
	uint64_t block_timeout_ns;      /**< give up (roll back) after a write is blocked this long; > 0 */
	uint64_t expiry_ns;             /**< the expiry recovery uses (for the own rollback's config); > 0 */
	uint32_t max_attempts;          /**< attempts including the first; >= 1 */
	struct hlc_ts start;            /**< the transaction's age (txn_meta.start) when it goes on from an
	                                     earlier one that gave up (zero: its first attempt's timestamp) */
};

/** Where a coordinator is. */
enum txn_coord_phase {
	TXN_COORD_OPEN = 0,         /**< begun: taking writes */
	TXN_COORD_WRITING = 1,      /**< the attempt's intents and STAGING record are in flight */
	TXN_COORD_PUSHED = 2,       /**< every intent landed, some above the timestamp: retry or roll back */
	TXN_COORD_FINALIZING = 3,   /**< implicitly committed and acknowledged; making the record COMMITTED */
	TXN_COORD_ROLLING_BACK = 4, /**< its own status recovery is running */
	TXN_COORD_RESOLVING = 5,    /**< the record is final; resolving the intents */
	TXN_COORD_DONE = 6,         /**< every intent resolved, the record forgotten */
	TXN_COORD_FORGETTING = 7    /**< every intent resolved; deleting the final record (after RESOLVING) */
};

/** A write blocked by another transaction's intent: recover that transaction (recover.h) from here. */
struct txn_coord_blocker {
	struct txn_meta txn;  /**< the transaction whose intent is in the way, as the intent carries it */
	uint64_t shard;       /**< where that intent is */
	struct txn_bytes key; /**< on which key (borrowed from the coordinator) */
};

/** The work the caller must do now; see the file comment. */
struct txn_coord_ready {
	const struct txn_msg *msgs;      /**< deliver these (after reporting the outcome, if there is one) */
	size_t n_msgs;                   /**< how many */
	bool outcome_changed;            /**< the outcome is new: tell the client */
	enum txn_status outcome;         /**< TXN_COMMITTED (at commit_ts) or TXN_ABORTED; TXN_NONE before */
	/**
	 * With TXN_ABORTED: not known. The transaction began at or below the low-water mark and its record is
	 * gone (TXN_R_FORGOTTEN): it can no longer commit, and what it left is resolved as aborted, but it may
	 * have committed, by a status recovery, before its record was collected (this coordinator was silent
	 * longer than the collection lags). Tell the client that the outcome is not known.
	 */
	bool outcome_unknown;
	struct hlc_ts commit_ts;         /**< the commit timestamp when COMMITTED */
	bool pushed;                     /**< call txn_coord_retry() or txn_coord_rollback() */
	struct hlc_ts pushed_to;         /**< the timestamp a retry would take */
	const struct txn_coord_blocker *blockers; /**< intents of other transactions that newly block a write */
	size_t n_blockers;                        /**< how many */
	bool done;                       /**< finished: nothing more will be sent; destroy it */
};

struct txn_coord;

/**
 * @brief Begin a transaction: its timestamp is @p clock's now at @p pt.
 * @param clock the node's clock (borrowed; it must outlive the coordinator).
 * @param pt the node's physical time in ns.
 * @return GROVE_OK, GROVE_EINVAL (a zero id, interval or attempt count),
 * GROVE_ERANGE (the clock's logical counter is full), GROVE_ENOMEM.
 */
int txn_coord_create(const struct txn_coord_config *cfg, struct hlc_clock *clock, uint64_t pt, struct txn_coord **out);

/** @brief Free a coordinator (a crash, as far as the protocol can tell, if not done). NULL is allowed. */
void txn_coord_destroy(struct txn_coord *c);

/**
 * @brief Add a write of @p value to @p key, which lives on @p shard; a key
 * written again keeps its last value.
 * @return GROVE_OK, GROVE_EINVAL (not OPEN, an empty or over-long key, a
 * value over TXN_VALUE_MAX, the key given before with another shard),
 * GROVE_ETOOBIG (TXN_WRITES_MAX writes already), GROVE_ENOMEM.
 */
int txn_coord_put(struct txn_coord *c, uint64_t shard, const void *key, size_t key_len, const void *value,
		  size_t value_len);

/**
 * @brief Commit: send the intents and the STAGING record, all at once (the
 * spec's SendWrites).
 * @return GROVE_OK, GROVE_EINVAL (not OPEN, or no writes), GROVE_ENOMEM.
 */
int txn_coord_commit(struct txn_coord *c, uint64_t pt);

/**
 * @brief A result for one of its commands: @p cmd as it was sent, @p res as
 * the shard answered. Results for earlier attempts and duplicates are
 * ignored. This is where the spec's Ack happens.
 * @return GROVE_OK, GROVE_EINVAL (@p cmd is about another transaction),
 * GROVE_ENOMEM.
 */
int txn_coord_on_result(struct txn_coord *c, uint64_t pt, const struct txn_cmd *cmd, const struct txn_result *res);

/**
 * @brief Retry a pushed transaction at the pushed timestamp, rewriting every
 * intent and staging the record again (the spec's Retry): a refresh keeps
 * the epoch (the caller knows that nothing the transaction read has changed
 * below the new timestamp), a restart takes the next one.
 * @return GROVE_OK, GROVE_EINVAL (not PUSHED), GROVE_ENOMEM.
 */
int txn_coord_retry(struct txn_coord *c, uint64_t pt, bool restart);

/**
 * @brief Abort the transaction unless it turns out to be committed (the
 * spec's Rollback). Before txn_coord_commit() it simply ends ABORTED.
 * @return GROVE_OK, GROVE_EINVAL (already acknowledged or final), GROVE_ENOMEM.
 */
int txn_coord_rollback(struct txn_coord *c, uint64_t pt);

/**
 * @brief Time passes: heartbeats, retransmission of unanswered commands, the
 * block timeout.
 * @return GROVE_OK, GROVE_ENOMEM.
 */
int txn_coord_tick(struct txn_coord *c, uint64_t pt);

/**
 * @brief Transaction @p txn's intent on @p shard was resolved: each write
 * that it blocked there is sent again now (the same attempt, as a
 * retransmission would) instead of at the next retransmission; nothing
 * happens when none is.
 * @return GROVE_OK, GROVE_ENOMEM.
 */
int txn_coord_unblocked(struct txn_coord *c, uint64_t shard, uint64_t txn);

/** @brief Whether txn_coord_ready() has anything. */
bool txn_coord_has_ready(const struct txn_coord *c);

/** @brief Fill @p rd with the current work. */
void txn_coord_ready(struct txn_coord *c, struct txn_coord_ready *rd);

/** @brief The work in @p rd was done (messages delivered, or lost: retransmission makes up for it). */
void txn_coord_advance(struct txn_coord *c, const struct txn_coord_ready *rd);

/** @brief Where the coordinator is. */
enum txn_coord_phase txn_coord_phase(const struct txn_coord *c);

/** @brief The transaction and its current attempt. */
const struct txn_meta *txn_coord_meta(const struct txn_coord *c);

/** @brief The outcome so far (TXN_NONE, TXN_COMMITTED, TXN_ABORTED). */
enum txn_status txn_coord_outcome(const struct txn_coord *c);

/**
 * @brief The value the transaction writes to @p key, if it writes it
 * (borrowed from @p c: valid until it is destroyed or the key written again).
 * @return GROVE_OK, GROVE_ENOTFOUND.
 */
int txn_coord_value(const struct txn_coord *c, struct txn_bytes key, struct txn_bytes *value);

#endif
