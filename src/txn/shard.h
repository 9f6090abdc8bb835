/**
 * @file shard.h
 * @brief The shard side of cross-shard transactions: one deterministic state
 * machine per shard, applied in log order by the shard's Raft group.
 *
 * txn_shard_apply(store, command) -> result. The result depends only on the
 * state in the store and the command: no clock, no randomness, no caller.
 * So every replica that applies the same commands in the same order holds
 * the same state and computes the same results, and the leader's result is
 * what the command's sender is answered. Every command is idempotent as far
 * as its sender can tell: applying a duplicate changes nothing it has not
 * already changed, and answers the same or tells the sender what has
 * happened since (a later attempt, a final record).
 *
 * A shard keeps, behind the storage interface below:
 * - committed versions of each key (MVCC: a read at ts sees the newest
 *   version at or below ts);
 * - at most one intent per key (a provisional write of one transaction);
 * - the timestamp cache: per key, the highest timestamp a read or a
 *   prevention has covered; a write at or below it is pushed above it.
 *   Keys not tracked count as the low-water mark;
 * - the transaction records this shard anchors;
 * - finished markers: transactions whose intents this shard resolved, so a
 *   late intent write of a finished transaction is refused;
 * - early resolutions: transactions whose intents this shard resolved as
 *   implicitly committed before their record was final. Status recovery
 *   counts them as intents in place, and txn_gc() keeps them until a
 *   resolution by the final record confirms them.
 * Transaction state does not grow without bound: txn_gc() forgets what lies
 * at or below a low-water mark that follows the clock some time behind,
 * final records included once nothing needs them; a transaction that began
 * at or below the mark can no longer make a record (it is answered as
 * aborted, TXN_R_FORGOTTEN, its outcome before the collection unknown).
 *
 * Storage. The state machine reads and writes typed records as bytes in eight
 * tables through struct txn_store: the server backs it with LMDB tables
 * inside the Raft apply transaction (keys prefixed with the group id), the
 * tests with txn_memstore. Key order is bytewise, shorter first on a common
 * prefix (LMDB's default). All integers in values are little-endian; integers
 * in keys are big-endian so that keys sort by them. Every value starts with a
 * format byte (1).
 * - TXN_TABLE_INTENTS   key -> format, meta (id u64, anchor u64, epoch u32,
 *                       seq u32, ts, start ts), value (u32 length + bytes)
 * - TXN_TABLE_VERSIONS  key length u32 BE + key + ~wall u64 BE + ~logical
 *                       u32 BE (newest first) -> format, writer txn u64,
 *                       value (u32 length + bytes)
 * - TXN_TABLE_TSCACHE   key -> format, ts
 * - TXN_TABLE_RECORDS   txn id u64 BE -> format, status u8, epoch u32,
 *                       seq u32, ts, heartbeat u64, count u32, then per
 *                       in-flight entry shard u64, seq u32, key (u32 length
 *                       + bytes)
 * - TXN_TABLE_FINISHED  txn id u64 BE -> format, status u8, epoch u32,
 *                       seq u32, ts
 * - TXN_TABLE_META      "lwm" -> format, ts (the timestamp cache's low-water mark)
 * - TXN_TABLE_EARLY     txn id u64 BE -> format, meta (the attempt resolved
 *                       early, as intents store it)
 * - TXN_TABLE_RESOLVED  txn id u64 BE -> format (the final record of that
 *                       transaction has no intent left: txn_forget())
 * (ts = wall u64 + logical u32.)
 *
 * Atomicity: a command makes several writes; when a function here returns an
 * error other than GROVE_EINVAL the caller must discard them all (the Raft
 * apply transaction is aborted). GROVE_EINVAL (a malformed command) changes
 * nothing, on every replica alike.
 */
#ifndef GROVE_TXN_SHARD_H
#define GROVE_TXN_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/txn/txn.h"

/** The tables a shard's transaction state lives in. */
enum txn_table {
	TXN_TABLE_INTENTS = 0,  /**< key -> the intent on it */
	TXN_TABLE_VERSIONS = 1, /**< key + inverted ts -> a committed version */
	TXN_TABLE_TSCACHE = 2,  /**< key -> the highest timestamp read or prevented */
	TXN_TABLE_RECORDS = 3,  /**< txn id -> transaction record (anchored here) */
	TXN_TABLE_FINISHED = 4, /**< txn id -> finished marker */
	TXN_TABLE_META = 5,     /**< name -> small values (the low-water mark) */
	TXN_TABLE_EARLY = 6,    /**< txn id -> the attempt resolved early here, until confirmed */
	TXN_TABLE_RESOLVED = 7, /**< txn id -> nothing: every intent of its final record was resolved */
	TXN_TABLE_COUNT = 8     /**< number of tables; not a table */
};

/**
 * The storage a shard's state machine runs on. Every function returns
 * GROVE_OK, GROVE_ENOTFOUND (get, del, seek: no such key) or an error of the
 * backend (GROVE_ESTORAGE, GROVE_ENOMEM), which the state machine passes on.
 * Bytes handed out by get and seek are borrowed: valid until the next put or
 * del on the same store.
 */
struct txn_store_ops {
	/** Look up @p key in @p table. */
	int (*get)(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *val);
	/** Insert or replace @p key in @p table (the bytes are copied). */
	int (*put)(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes val);
	/** Delete @p key from @p table. */
	int (*del)(void *ctx, enum txn_table table, struct txn_bytes key);
	/** The first entry of @p table whose key is >= @p key (the first of the table for an empty key). */
	int (*seek)(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *key_out,
		    struct txn_bytes *val_out);
};

/** A store: the operations and their backend (an LMDB transaction, a txn_memstore...). */
struct txn_store {
	const struct txn_store_ops *ops; /**< the backend's functions */
	void *ctx;                       /**< the backend, passed to every function */
};

/**
 * @brief Apply one command to a shard: dispatch to the txn_* function of its
 * kind below.
 * @param res receives the result (owned: txn_result_free()); zeroed on error.
 * @return GROVE_OK (whatever the result says), GROVE_EINVAL (a malformed
 * command: txn_cmd_validate(); nothing changed), GROVE_ECORRUPT (a stored
 * record does not decode), GROVE_ENOMEM, or the store's error.
 */
int txn_shard_apply(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_WRITE_INTENT, the spec's ApplyIntent(k). Refused with
 * FINISHED if this shard resolved the transaction already (early or by its
 * final record) and with CONFLICT
 * (other = the holder) if another transaction's intent is on the key. The
 * same attempt again is a duplicate: WRITTEN at where it landed. An earlier
 * attempt is STALE. Otherwise the intent lands at the command's ts, or just
 * above the key's timestamp cache or newest version if either is at or
 * above it (pushed), replacing an earlier attempt's intent: WRITTEN at ts.
 * Same returns as txn_shard_apply().
 */
int txn_write_intent(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_STAGE on the anchor, the spec's ApplyStage: an absent or
 * PENDING record, or a STAGING one of an earlier attempt, becomes STAGING at
 * the command's (epoch, seq, ts) with its in-flight list (OK). The same
 * attempt again is OK; an earlier one is STALE; a final record is REFUSED.
 * The heartbeat only moves forward. An absent record of a transaction that
 * began at or below the low-water mark (its start) is not made: the answer is
 * FORGOTTEN with an ABORTED record at the command's attempt, and nothing is
 * stored (the same holds for HEARTBEAT and for FINALIZE expecting an
 * unstaged record). Its record may have been collected after it committed.
 * Same returns as txn_shard_apply().
 */
int txn_record_stage(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_HEARTBEAT on the anchor, the spec's Heartbeat: an absent
 * record becomes PENDING at the command's attempt; a PENDING or STAGING
 * one takes the later heartbeat (OK); a final one is REFUSED, which is how
 * a live coordinator learns that its transaction was finished by others.
 * Same returns as txn_shard_apply().
 */
int txn_heartbeat(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_FINALIZE on the anchor: a conditional update of the record.
 * - TXN_EXPECT_STAGING: the record is STAGING at exactly the command's
 *   (epoch, seq, ts); it becomes the command's status. This is the spec's
 *   CommitExplicit (the coordinator, after its acknowledgement) and
 *   RecoverTxn (status recovery, after querying every intent).
 * - TXN_EXPECT_UNSTAGED: the record is absent (the command's start
 *   timestamp is at or before the cutoff) or PENDING with a heartbeat at or
 *   before the cutoff; it becomes ABORTED (created if absent). The spec's
 *   PushAbort, and the coordinator's Rollback of an attempt never staged.
 * OK with the new record; REFUSED with the record as it is otherwise (a
 * final record always refuses, so a duplicate learns the outcome).
 * Same returns as txn_shard_apply().
 */
int txn_finalize(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_FORGET: note that every intent of the transaction's final
 * record is resolved, so that txn_gc() deletes the record once it is at or
 * below the low-water mark (OK; also OK when there is no record). A record
 * that is not final is kept as it is: REFUSED with it. Beyond the spec: the
 * coordinator sends it once it resolved every intent, and so does a status
 * recovery. A push after the record is deleted finds none and is answered
 * as aborted (FORGOTTEN: the transaction began at or below the mark, so
 * nothing can make another record for it), which is right for what can
 * still come: a copy of one of its intents that was late, at a pushed
 * timestamp, whose part was applied already (or never was).
 * Same returns as txn_shard_apply().
 */
int txn_forget(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_RESOLVE, the spec's ResolveIntent(k) and ResolveEarly(k).
 * - Status COMMITTED or ABORTED (ResolveIntent): the transaction is final
 *   with that status at the command's (epoch, seq, ts). Its intent on the
 *   key becomes the version at ts when COMMITTED and it is exactly that
 *   write (txn_intent_matches()); any other intent of it is removed. The
 *   shard notes the transaction as finished, and forgets its early
 *   resolution (confirmed).
 * - Status STAGING (ResolveEarly): the command's attempt is implicitly
 *   committed (its coordinator saw every intent in place and the record
 *   STAGING there) though the record may not be final yet. Its intent on
 *   the key, if it is exactly that write, becomes the version at ts, and
 *   the attempt is kept as an early resolution, which txn_query_intent()
 *   finds and txn_gc() keeps. Anything else changes nothing.
 * Always OK. Same returns as txn_shard_apply().
 */
int txn_resolve_intent(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_QUERY_INTENT, the spec's QueryIntent(k): FOUND if the
 * key's intent is the command's write at its ts, or if this shard resolved
 * exactly that attempt as committed (early, or by a COMMITTED record);
 * otherwise raise the key's timestamp cache to ts, so that write can never
 * land at ts any more, and answer PREVENTED. Same returns as
 * txn_shard_apply().
 */
int txn_query_intent(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_READ, the spec's ReaderRead(k): a read timestamp at or
 * below the low-water mark is answered GONE (txn_gc() may have dropped the
 * version it would see: read again later). An intent at or below the read
 * timestamp is in the way (INTENT, other = its transaction: recover it,
 * then read again). Otherwise raise the key's timestamp cache to the read
 * timestamp and answer VALUE with the newest version at or below it.
 * Same returns as txn_shard_apply().
 */
int txn_read(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/**
 * @brief TXN_CMD_GC: raise the timestamp cache's low-water mark to the
 * command's timestamp (never lower it), forget the cache entries and
 * finished markers at or below it, and drop every version at or below it but
 * the newest of its key. Final records at or below it go too: ABORTED ones,
 * and COMMITTED ones whose intents are all resolved (txn_forget()). Early
 * resolutions stay: status recovery may still need them to commit a
 * transaction whose record is STAGING. Safe at any time: a write at or below
 * the mark is pushed (and checked against the newest version, which stays),
 * a read there is answered GONE, a late intent of a forgotten transaction
 * can only land above the mark, where resolving it removes it, and no record
 * is made again for a transaction that began at or below it. Always OK.
 * Same returns as txn_shard_apply().
 */
int txn_gc(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res);

/* ---- inspection (tests, status, the server's read path) ---- */

/**
 * @brief The intent on @p key.
 * @param meta receives its transaction and attempt.
 * @param value may be NULL; receives a borrowed view of its value (valid
 * until the next write to the store).
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, or the store's error.
 */
int txn_shard_intent(const struct txn_store *st, struct txn_bytes key, struct txn_meta *meta, struct txn_bytes *value);

/**
 * @brief Whether write @p attempt (its id, epoch, seq and ts) of @p key is in
 * place: its intent, or resolved as committed here (what
 * txn_query_intent() answers FOUND for, without its side effect).
 * @return GROVE_OK, GROVE_ECORRUPT, or the store's error.
 */
int txn_shard_landed(const struct txn_store *st, struct txn_bytes key, const struct txn_meta *attempt, bool *landed);

/**
 * @brief The first early resolution (not confirmed yet) of a transaction
 * whose id is above @p after: whoever leads the shard recovers that
 * transaction once its coordinator is gone, so that its record becomes
 * final and confirms it.
 * @param meta receives the attempt resolved early (id and anchor included).
 * @return GROVE_OK, GROVE_ENOTFOUND (none), GROVE_ECORRUPT, or the store's error.
 */
int txn_shard_early(const struct txn_store *st, uint64_t after, struct txn_meta *meta);

/**
 * @brief The first record of a transaction whose id is above @p after, one
 * per call (so that a caller walking a large table bounds its work per turn),
 * and whether it waits for its coordinator or a recovery to finish: neither
 * ABORTED (which txn_gc() collects as it is) nor noted resolved by a FORGET.
 * Whoever leads the shard recovers a waiting one once its coordinator is
 * gone, so that no record is left behind (a coordinator can die after its
 * record became final and before its FORGET, with no intent left for anyone
 * to meet).
 * @param id receives the transaction's id.
 * @param rec receives its record (owned: txn_record_free()).
 * @param waits receives whether it waits.
 * @return GROVE_OK, GROVE_ENOTFOUND (none), GROVE_ECORRUPT, or the store's error.
 */
int txn_shard_next_record(const struct txn_store *st, uint64_t after, uint64_t *id, struct txn_record *rec,
			  bool *waits);

/**
 * @brief The low-water mark (zero until a GC raised it).
 * @return GROVE_OK, GROVE_ECORRUPT, or the store's error.
 */
int txn_shard_lwm(const struct txn_store *st, struct hlc_ts *lwm);

/**
 * @brief The record of transaction @p id (status TXN_NONE if there is none).
 * @param rec receives an owned record (txn_record_free()).
 * @return GROVE_OK, GROVE_ECORRUPT, GROVE_ENOMEM, or the store's error.
 */
int txn_shard_record(const struct txn_store *st, uint64_t id, struct txn_record *rec);

/**
 * @brief The timestamp cache of @p key: its entry or the low-water mark,
 * whichever is higher. @return GROVE_OK, GROVE_ECORRUPT, or the store's error.
 */
int txn_shard_tscache(const struct txn_store *st, struct txn_bytes key, struct hlc_ts *ts);

/** A committed version, as txn_shard_each_version() shows it. */
struct txn_version {
	struct hlc_ts ts;       /**< commit timestamp */
	uint64_t writer;        /**< the transaction that wrote it */
	struct txn_bytes value; /**< borrowed during the callback */
};

/**
 * @brief Call @p fn for every intent of the shard, in key order. The store
 * must not be written during the walk. A non-zero return of @p fn stops it.
 * @return GROVE_OK, what @p fn returned, GROVE_ECORRUPT, or the store's error.
 */
int txn_shard_each_intent(const struct txn_store *st,
			  int (*fn)(void *arg, struct txn_bytes key, const struct txn_meta *meta, struct txn_bytes value),
			  void *arg);

/**
 * @brief Call @p fn for every committed version of @p key, newest first.
 * Same rules and returns as txn_shard_each_intent().
 */
int txn_shard_each_version(const struct txn_store *st, struct txn_bytes key,
			   int (*fn)(void *arg, const struct txn_version *v), void *arg);

#endif
