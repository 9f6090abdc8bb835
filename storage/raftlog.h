/**
 * @file raftlog.h
 * @brief A Raft group's log, hard state and conf state, kept in the store.
 *
 * groved keeps each group's conf state here, in the same transaction as the
 * applied index and the tree. Its log and hard state live in their own file
 * (storage/wal.h), which costs one fdatasync per round where an LMDB commit
 * costs two; data directories from before that keep them here, and groved
 * moves them to the file once at start-up.
 *
 * The log of a group is the contiguous range [first, last] of entries; the
 * entries before `first` were compacted behind a snapshot whose index is
 * first - 1 and whose term is kept as `snapshot_term`. An empty log after
 * compaction has last == first - 1.
 *
 * All functions take a store transaction: write functions need a write
 * transaction and take effect when it commits. Entry data returned by
 * raftlog_get() is borrowed from the store (see store.h for its lifetime).
 */
#ifndef GROVE_STORAGE_RAFTLOG_H
#define GROVE_STORAGE_RAFTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

/** One log entry. */
struct raftlog_entry {
	uint64_t index;    /**< position in the log, from 1 */
	uint64_t term;     /**< term in which the leader created it */
	uint32_t type;     /**< entry type, defined by the Raft core (normal, conf change, ...) */
	const void *data;  /**< payload; borrowed */
	size_t len;        /**< payload length */
};

/** Raft's persistent per-server state (dissertation §3.8: currentTerm, votedFor), plus commit. */
struct raftlog_hard_state {
	uint64_t term;   /**< current term */
	uint64_t vote;   /**< server voted for in term, 0 for none */
	uint64_t commit; /**< highest index known committed (may be persisted lazily) */
};

/** The bounds of a group's log. */
struct raftlog_bounds {
	uint64_t first;         /**< index of the first entry held (snapshot index + 1) */
	uint64_t last;          /**< index of the last entry held; first - 1 if none */
	uint64_t snapshot_term; /**< term of entry first - 1 (0 when first == 1) */
};

/**
 * @brief Append @p n entries to group @p group's log.
 *
 * The entries must have consecutive indexes starting at most at last + 1 and
 * at least at first. Entries already stored at or after entries[0].index
 * are deleted first: a follower overwriting a conflicting suffix (§3.5).
 * @return GROVE_OK, GROVE_EINVAL (gap, non-consecutive, or before first),
 * GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int raftlog_append(struct store_txn *txn, uint64_t group, const struct raftlog_entry *entries, size_t n);

/**
 * @brief Read the entry at @p index.
 * @return GROVE_OK, GROVE_ENOTFOUND (compacted or beyond last),
 * GROVE_ECORRUPT, GROVE_ESTORAGE.
 */
int raftlog_get(struct store_txn *txn, uint64_t group, uint64_t index, struct raftlog_entry *out);

/**
 * @brief The term of entry @p index; for first - 1, the snapshot term.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ESTORAGE.
 */
int raftlog_term(struct store_txn *txn, uint64_t group, uint64_t index, uint64_t *term);

/** @brief Read the bounds of the log (a fresh group has first 1, last 0). */
int raftlog_get_bounds(struct store_txn *txn, uint64_t group, struct raftlog_bounds *out);

/**
 * @brief Discard entries up to and including @p index, which a snapshot of
 * term @p term now covers (§5.1). If @p index is beyond last, the whole log
 * is discarded and the next append must start at index + 1 (a follower
 * installing a snapshot).
 * @return GROVE_OK, GROVE_EINVAL (index below first - 1), GROVE_ESTORAGE.
 */
int raftlog_compact(struct store_txn *txn, uint64_t group, uint64_t index, uint64_t term);

/** @brief Persist the hard state. @return GROVE_OK or GROVE_ESTORAGE. */
int raftlog_put_hard_state(struct store_txn *txn, uint64_t group, const struct raftlog_hard_state *hs);

/** @brief Read the hard state; all zero for a fresh group. @return GROVE_OK, GROVE_ECORRUPT, GROVE_ESTORAGE. */
int raftlog_get_hard_state(struct store_txn *txn, uint64_t group, struct raftlog_hard_state *hs);

/**
 * @brief Persist the membership (conf state) as opaque bytes encoded by the
 * Raft layer. @return GROVE_OK, GROVE_ESTORAGE.
 */
int raftlog_put_conf_state(struct store_txn *txn, uint64_t group, const void *data, size_t len);

/**
 * @brief Read the conf state bytes (borrowed). @return GROVE_OK,
 * GROVE_ENOTFOUND for a group that never stored one, GROVE_ESTORAGE.
 */
int raftlog_get_conf_state(struct store_txn *txn, uint64_t group, struct store_bytes *out);

#endif
