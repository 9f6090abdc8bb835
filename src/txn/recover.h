/**
 * @file recover.h
 * @brief Status recovery: finishing a transaction whose intent is in the way
 * and whose coordinator has stopped heartbeating.
 *
 * Run by any reader or writer that meets an intent (TXN_R_INTENT,
 * TXN_R_CONFLICT), and by a coordinator that rolls back its own transaction.
 * A pure state machine like the coordinator: time arrives as arguments (the
 * physical time of the caller's node, which its HLC turns into timestamps),
 * commands leave as messages that the caller delivers (txn_recover_ready()),
 * and their results come back through txn_recover_on_result(). Lost results
 * are made up for by retransmission on txn_recover_tick().
 *
 * The steps (spec actions of tla/parallel_commits/ParallelCommits.tla):
 * 1. PushAbort: a FINALIZE to the anchor that aborts the transaction if its
 *    record is absent or PENDING with a heartbeat older than the expiry. Its
 *    answer is the record: final (go to 4), live (outcome ALIVE: wait and
 *    read again later), or STAGING with an expired heartbeat (go to 2).
 * 2. StartRecovery and QueryIntent: a QUERY_INTENT to every listed intent's
 *    shard; each answers FOUND, or PREVENTED after raising the key's
 *    timestamp cache so that the write can never land at the staged ts.
 * 3. RecoverTxn: a FINALIZE conditional on the record still being STAGING at
 *    the attempt examined: COMMITTED if every intent was found, ABORTED
 *    otherwise. If the record moved on meanwhile, start again at 1.
 * 4. ResolveIntent: a RESOLVE for the intent that was met and for every
 *    listed intent, by the final record.
 * 5. Beyond the spec: a FORGET to the anchor once each is answered, so that
 *    the record can be collected (shard.h txn_forget()); done once answered.
 *    Only a resolution by the final record counts as an answer: an early one
 *    (a result of the coordinator's, which the caller may hand over too)
 *    leaves a mark on its shard that only the final record's removes, and
 *    once the record is forgotten nothing else would.
 *
 * Ownership: messages, records and metas handed out stay valid until
 * txn_recover_advance() (messages) or txn_recover_destroy().
 */
#ifndef GROVE_TXN_RECOVER_H
#define GROVE_TXN_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/hlc/hlc.h"
#include "src/txn/txn.h"

/** How a recovery is to behave. */
struct txn_recover_config {
	uint64_t expiry_ns;         /**< a heartbeat older than this (by the caller's clock) is abandoned; > 0 */
	uint64_t retry_interval_ns; /**< unanswered commands are sent again after this; > 0 */
	uint64_t retry_max_ns;      /**< each resend doubles the wait, up to this (0: it stays retry_interval_ns) */
	bool own;                   /**< the coordinator's own rollback: abort without waiting for expiry,
	                                 and leave resolving to the coordinator */
	bool forced;                /**< a pusher with priority (an older transaction, or a cut of the
	                                 world, whose intent a younger one's is in the way): abort an unstaged transaction, or recover a
	                                 STAGING one, whatever its heartbeat says; resolve as any recovery.
	                                 Safe as an expiry is: a live coordinator learns the outcome from
	                                 its commands' results, as one taken for dead does */
};

/** Where a recovery is. */
enum txn_recover_phase {
	TXN_RECOVER_PUSHING = 0,    /**< the push (conditional abort) is in flight */
	TXN_RECOVER_QUERYING = 1,   /**< querying the listed intents of a STAGING record */
	TXN_RECOVER_DECIDING = 2,   /**< the conditional COMMITTED/ABORTED is in flight */
	TXN_RECOVER_RESOLVING = 3,  /**< the record is final; resolving intents */
	TXN_RECOVER_FORGETTING = 4, /**< every intent resolved; telling the anchor so (TXN_CMD_FORGET) */
	TXN_RECOVER_DONE = 5        /**< nothing more to do */
};

/** What a recovery found out. */
enum txn_recover_outcome {
	TXN_RECOVER_UNKNOWN = 0,   /**< not yet */
	TXN_RECOVER_ALIVE = 1,     /**< the coordinator is alive (recent heartbeat): wait, then read again */
	TXN_RECOVER_COMMITTED = 2, /**< the record is COMMITTED */
	TXN_RECOVER_ABORTED = 3    /**< the record is ABORTED */
};

/** The work the caller must do now. */
struct txn_recover_ready {
	const struct txn_msg *msgs;       /**< deliver these */
	size_t n_msgs;                    /**< how many */
	bool outcome_changed;             /**< outcome was just learned */
	enum txn_recover_outcome outcome; /**< the outcome so far */
	bool done;                        /**< nothing more will be sent: destroy it */
};

struct txn_recover;

/**
 * @brief Start recovering transaction @p txn (as the met intent carries it)
 * with its push (the spec's PushAbort).
 * @param clock the caller's node clock (borrowed; it must outlive the recovery).
 * @param pt the caller's physical time in ns.
 * @param met_shard, met_key the intent that was met, resolved at the end;
 * @p met_key may be NULL (nothing met: the coordinator's own rollback).
 * @return GROVE_OK, GROVE_EINVAL (a zero interval or txn id, a key over
 * TXN_KEY_MAX), GROVE_ENOMEM.
 */
int txn_recover_create(const struct txn_recover_config *cfg, struct hlc_clock *clock, uint64_t pt,
		       const struct txn_meta *txn, uint64_t met_shard, const void *met_key, size_t met_key_len,
		       struct txn_recover **out);

/** @brief Free a recovery and its queued messages. NULL is allowed. */
void txn_recover_destroy(struct txn_recover *r);

/**
 * @brief A result for one of its commands: @p cmd as it was sent, @p res as
 * the shard answered. Results of commands it no longer waits for (duplicates,
 * answers to an earlier round) are ignored.
 * @return GROVE_OK, GROVE_EINVAL (@p cmd is about another transaction),
 * GROVE_ENOMEM.
 */
int txn_recover_on_result(struct txn_recover *r, uint64_t pt, const struct txn_cmd *cmd, const struct txn_result *res);

/** @brief Time passes: send unanswered commands again every retry interval. @return GROVE_OK, GROVE_ENOMEM. */
int txn_recover_tick(struct txn_recover *r, uint64_t pt);

/** @brief Whether txn_recover_ready() has anything. */
bool txn_recover_has_ready(const struct txn_recover *r);

/** @brief Fill @p rd; call nothing else on @p r before txn_recover_advance(). */
void txn_recover_ready(struct txn_recover *r, struct txn_recover_ready *rd);

/** @brief The messages of @p rd were delivered (or lost: retransmission makes up for it). */
void txn_recover_advance(struct txn_recover *r, const struct txn_recover_ready *rd);

/** @brief Where the recovery is. */
enum txn_recover_phase txn_recover_phase(const struct txn_recover *r);

/** @brief What it found out so far (TXN_RECOVER_UNKNOWN until the push is answered). */
enum txn_recover_outcome txn_recover_outcome(const struct txn_recover *r);

/** @brief The final record, once the outcome is COMMITTED or ABORTED (borrowed), else NULL. */
const struct txn_record *txn_recover_record(const struct txn_recover *r);

/** @brief The transaction being recovered, as the met intent carried it. */
const struct txn_meta *txn_recover_txn(const struct txn_recover *r);

/**
 * @brief Whether its ABORTED outcome is the low-water mark's answer (TXN_R_FORGOTTEN): the transaction can
 * no longer commit, and what it left is resolved as aborted, but it may have committed before its record was
 * collected, so whoever reports it to a client reports it as not known.
 */
bool txn_recover_forgotten(const struct txn_recover *r);

#endif
