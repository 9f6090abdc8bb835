/**
 * @file txn.h
 * @brief Cross-shard transactions: the vocabulary shared by the shard state
 * machine (shard.h), the coordinator (coord.h), status recovery (recover.h)
 * and the Raft-log encoding (codec.h).
 *
 * The protocol is CockroachDB's parallel commits, as DESIGN.md "Transactions
 * across shards" lays it out and tla/parallel_commits/ParallelCommits.tla
 * specifies it (the spec's action names are quoted where they are
 * implemented; tla/README.md section 3 maps every name):
 * 1. the coordinator gives the transaction an id and an HLC timestamp;
 * 2. it sends, all at once, an intent write to every shard involved and a
 *    STAGING transaction record that lists those intents to the anchor shard;
 * 3. once the record is STAGING at (epoch, ts) and every listed intent is
 *    present with its epoch and sequence number at exactly ts, the
 *    transaction is implicitly committed: the coordinator acknowledges the
 *    client after one round of consensus;
 * 4. asynchronously the record becomes COMMITTED and the intents are resolved.
 * Whoever meets an intent of a transaction whose coordinator stopped
 * heartbeating runs status recovery: it asks every listed intent's shard
 * whether the intent is there and, where it is not, raises the key's
 * timestamp cache so that it can never land at ts (prevention); then it
 * makes the record COMMITTED if every intent was there and ABORTED if not,
 * by a conditional update that only applies to the attempt it examined.
 *
 * Keys and values are opaque byte strings: the transaction layer does not
 * know the scene tree. A key lives on exactly one shard; which one is the
 * caller's business (the shard map).
 *
 * Everything here is deterministic and owns no sockets, files or clocks:
 * time arrives as arguments, messages leave as structs for the caller to
 * deliver (like Raft's Ready), and a shard's state sits behind the storage
 * interface of shard.h.
 */
#ifndef GROVE_TXN_TXN_H
#define GROVE_TXN_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/hlc/hlc.h"

/** Longest key in bytes (so that a stored key, with its prefixes, fits LMDB's 511). */
#define TXN_KEY_MAX 256
/** Largest value in bytes. */
#define TXN_VALUE_MAX (1u << 20)
/** Most writes (keys) in one transaction. */
#define TXN_WRITES_MAX 1024

/** The status of a transaction record. Values are stable: they are stored and sent. */
enum txn_status {
	TXN_NONE = 0,      /**< no record (yet) */
	TXN_PENDING = 1,   /**< a heartbeat made it; no attempt staged */
	TXN_STAGING = 2,   /**< an attempt is staged: committed once every listed intent is in place */
	TXN_COMMITTED = 3, /**< final: committed at the record's (epoch, ts) */
	TXN_ABORTED = 4    /**< final: nothing of it ever becomes visible */
};

/** A borrowed byte string. */
struct txn_bytes {
	const uint8_t *data; /**< the bytes (may be NULL when len is 0) */
	size_t len;          /**< how many */
};

/** A transaction's identity and attempt, as its intents and commands carry it. */
struct txn_meta {
	uint64_t id;          /**< unique, never 0; chosen by the coordinator's host */
	uint64_t anchor;      /**< the shard that holds the transaction record */
	uint32_t epoch;       /**< bumped by a restart */
	uint32_t seq;         /**< attempt number, from 1; every retry (refresh or restart) takes the next */
	struct hlc_ts ts;     /**< the attempt's timestamp: the commit timestamp if it commits */
	struct hlc_ts start;  /**< the first attempt's timestamp: the age of a transaction with no record */
};

/** One entry of a record's in-flight list: an intent the attempt wrote. */
struct txn_write_ref {
	uint64_t shard;       /**< where the key lives */
	uint32_t seq;         /**< the sequence number the intent must carry */
	struct txn_bytes key; /**< the key */
};

/**
 * A transaction record, as kept on the anchor shard.
 * A record filled in by this library owns its list: one allocation holding
 * the array and the keys, released by txn_record_free().
 */
struct txn_record {
	enum txn_status status;       /**< NONE when there is no record */
	uint32_t epoch;               /**< epoch of the staged (or final) attempt */
	uint32_t seq;                 /**< sequence number of that attempt */
	struct hlc_ts ts;             /**< its timestamp; the commit timestamp once COMMITTED */
	uint64_t heartbeat;           /**< latest coordinator heartbeat, HLC wall time in ns */
	struct txn_write_ref *writes; /**< in-flight list of the staged attempt */
	size_t n_writes;              /**< entries in writes */
};

/** Command kinds. Values are stable: they are stored in Raft entries. */
enum txn_cmd_type {
	TXN_CMD_WRITE_INTENT = 1, /**< write an intent (txn_write_intent) */
	TXN_CMD_STAGE = 2,        /**< stage the record (txn_record_stage) */
	TXN_CMD_HEARTBEAT = 3,    /**< the coordinator is alive (txn_heartbeat) */
	TXN_CMD_FINALIZE = 4,     /**< conditionally make the record COMMITTED or ABORTED (txn_finalize) */
	TXN_CMD_RESOLVE = 5,      /**< turn an intent into a version or remove it (txn_resolve_intent) */
	TXN_CMD_QUERY_INTENT = 6, /**< is the intent there? if not, prevent it (txn_query_intent) */
	TXN_CMD_READ = 7,         /**< read a key at a timestamp (txn_read) */
	TXN_CMD_GC = 8,           /**< raise the timestamp cache's low-water mark, forget what it covers (txn_gc) */
	TXN_CMD_FORGET = 9        /**< delete a final record whose intents are all resolved (txn_forget) */
};

/** The condition of a FINALIZE command. Values are stable. */
enum txn_expect {
	TXN_EXPECT_STAGING = 1,  /**< the record is STAGING at exactly the command's (epoch, seq, ts) */
	TXN_EXPECT_UNSTAGED = 2  /**< the record is absent or PENDING, and its heartbeat is at or
	                              before expiry_cutoff (only with status ABORTED) */
};

/**
 * A command to one shard's state machine: the payload of a Raft entry.
 * Commands borrow their bytes (keys, values, list) from whoever built them.
 * Which fields a kind uses is said per field; the rest are ignored.
 */
struct txn_cmd {
	enum txn_cmd_type type;
	struct txn_meta txn;                /**< every kind but READ and GC: the transaction and attempt */
	struct txn_bytes key;               /**< WRITE_INTENT, RESOLVE, QUERY_INTENT, READ */
	struct txn_bytes value;             /**< WRITE_INTENT */
	const struct txn_write_ref *writes; /**< STAGE: the in-flight list (at least one entry) */
	size_t n_writes;                    /**< STAGE: entries in writes */
	uint64_t heartbeat;                 /**< STAGE, HEARTBEAT: the coordinator's HLC wall time */
	uint64_t expiry_cutoff;             /**< FINALIZE with TXN_EXPECT_UNSTAGED: heartbeats at or before
	                                         this wall time are expired */
	enum txn_status status;             /**< FINALIZE: TXN_COMMITTED or TXN_ABORTED; RESOLVE: those (the
	                                         record is final) or TXN_STAGING (an early resolution: the
	                                         attempt is implicitly committed, shard.h txn_resolve_intent) */
	enum txn_expect expect;             /**< FINALIZE */
	struct hlc_ts at;                   /**< READ: the read timestamp; GC: the new low-water mark */
};

/**
 * A command for the caller to deliver: propose it to the Raft group of
 * @c shard and, once applied, hand its result back to whoever sent it
 * (txn_coord_on_result(), txn_recover_on_result()) with the command itself.
 * Messages may be lost, duplicated or reordered: senders retransmit and
 * every command is idempotent.
 */
struct txn_msg {
	uint64_t shard;     /**< the shard whose state machine must apply cmd */
	struct txn_cmd cmd; /**< the command (its bytes owned by the sender's queue) */
};

/** What applying a command did. Values are stable: they are sent back. */
enum txn_result_code {
	TXN_R_OK = 0,        /**< applied as asked (STAGE, HEARTBEAT, FINALIZE: record holds the result) */
	TXN_R_WRITTEN = 1,   /**< WRITE_INTENT: the intent is at ts (pushed when ts > the command's) */
	TXN_R_STALE = 2,     /**< a later attempt of the transaction is already there; nothing changed */
	TXN_R_CONFLICT = 3,  /**< WRITE_INTENT: another transaction's intent holds the key (other) */
	TXN_R_FINISHED = 4,  /**< WRITE_INTENT: the transaction was already resolved on this shard */
	TXN_R_REFUSED = 5,   /**< STAGE, HEARTBEAT, FINALIZE: the record is not as required; record is it */
	TXN_R_FOUND = 6,     /**< QUERY_INTENT: the intent is there at the attempt and timestamp */
	TXN_R_PREVENTED = 7, /**< QUERY_INTENT: it is not; it can no longer land at that timestamp */
	TXN_R_VALUE = 8,     /**< READ: the newest version at or below the read timestamp (if found) */
	TXN_R_INTENT = 9,    /**< READ: an intent at or below the read timestamp is in the way (other) */
	TXN_R_GONE = 10,     /**< READ: at or below the low-water mark, whose older versions are gone (txn_gc):
	                          read again at a later timestamp */
	TXN_R_FORGOTTEN = 11 /**< STAGE, HEARTBEAT, FINALIZE: the transaction began at or below the low-water mark
	                          and has no record, so none can be made for it: record is an ABORTED one for the
	                          command's attempt (nothing is stored). It can no longer commit, but it may have
	                          committed before its record was collected (txn_gc): its outcome is not known */
};

/**
 * The result of one command. Owns its record list and value; release with
 * txn_result_free().
 */
struct txn_result {
	enum txn_result_code code;
	struct hlc_ts ts;         /**< WRITTEN: where the intent is; VALUE: the version's timestamp */
	struct txn_meta other;    /**< CONFLICT, INTENT: the transaction whose intent is in the way */
	bool has_record;          /**< record is filled (STAGE, HEARTBEAT, FINALIZE and their refusals) */
	struct txn_record record; /**< the record after the command (owned) */
	bool found;               /**< VALUE: a version exists at or below the read timestamp */
	uint64_t writer;          /**< VALUE: the transaction that wrote the version */
	uint8_t *value;           /**< VALUE: the version's bytes (owned, NULL when empty) */
	size_t value_len;         /**< VALUE: their length */
};

/** @brief The timestamp right after @p ts: logical + 1 (or the next wall ns when logical is full). */
struct hlc_ts txn_ts_next(struct hlc_ts ts);

/** @brief The larger of two timestamps. */
struct hlc_ts txn_ts_max(struct hlc_ts a, struct hlc_ts b);

/**
 * @brief Whether an intent carrying @p intent is the write of transaction
 * @p id at (@p epoch, @p seq) that landed at exactly @p ts.
 * The spec's IntentAt(k, e, s, t).
 */
bool txn_intent_matches(const struct txn_meta *intent, uint64_t id, uint32_t epoch, uint32_t seq, struct hlc_ts ts);

/**
 * @brief Whether transaction @p id is implicitly committed: @p rec is STAGING
 * and every listed intent is in place. The spec's ImplicitlyCommitted; the
 * simulation checks it across shards (a shard alone cannot).
 * @param intents intents[i] is the intent now on rec->writes[i]'s key (NULL if none).
 */
bool txn_is_implicitly_committed(uint64_t id, const struct txn_record *rec, const struct txn_meta *const *intents);

/** @brief Whether @p s is COMMITTED or ABORTED. */
bool txn_status_is_final(enum txn_status s);

/**
 * @brief Deep-copy @p src into @p dst (one allocation for list and keys).
 * @return GROVE_OK or GROVE_ENOMEM (then @p dst is an empty record).
 */
int txn_record_copy(struct txn_record *dst, const struct txn_record *src);

/** @brief Release a record's list and zero it. NULL is allowed. */
void txn_record_free(struct txn_record *rec);

/** @brief Release what a result owns and zero it. NULL is allowed. */
void txn_result_free(struct txn_result *res);

/**
 * @brief Check that @p cmd is well formed: a known kind, the fields its kind
 * uses in range (keys 1..TXN_KEY_MAX bytes, values up to TXN_VALUE_MAX, 1 to
 * TXN_WRITES_MAX list entries, a non-zero transaction id and sequence
 * number, a final status, an expectation that fits it).
 * @param why receives a static description of the first problem (may be NULL).
 * @return GROVE_OK or GROVE_EINVAL.
 */
int txn_cmd_validate(const struct txn_cmd *cmd, const char **why);

/** @brief "NONE", "PENDING", ... ("?" for anything else). */
const char *txn_status_name(enum txn_status s);

/** @brief "WRITE_INTENT", "STAGE", ... ("?" for anything else). */
const char *txn_cmd_name(enum txn_cmd_type t);

/** @brief "OK", "WRITTEN", ... ("?" for anything else). */
const char *txn_result_name(enum txn_result_code c);

#endif
