/**
 * @file history.h
 * @brief The change history: what every applied entry changed, kept in LMDB
 * apart from the Raft log, with a retention of its own, so that a
 * subscriber that fell behind or reconnects resumes from its last index
 * without a new snapshot, however the Raft log was compacted meanwhile.
 *
 * Layout: database "history"; key group (u64 big-endian) + index (u64
 * big-endian) -> the entry's change records (history_encode()); every
 * applied entry has a record, an empty one when it changed nothing, so a
 * missing index means the history no longer holds it. Under group + index
 * 2^64 - 1, the group's totals (u64 entries, u64 bytes, little-endian).
 *
 * Records are written in the apply transaction of the entries they
 * describe, so history and state never disagree after a crash; once the
 * group holds more than the entries or bytes its retention allows, the
 * oldest are dropped until it holds 1/256 less than that (so that it is
 * done once in many appends).
 */
#ifndef GROVE_SERVER_HISTORY_H
#define GROVE_SERVER_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"
#include "src/server/hub.h"
#include "src/tree/tree.h"
#include "storage/store.h"

/** A history and its retention. */
struct history {
	store_db db;            /**< "history" */
	uint64_t max_entries;   /**< keep at most this many entries per group */
	uint64_t max_bytes;     /**< and at most this many bytes of records */
};

/**
 * @brief Open the history of @p s with a retention of @p max_entries entries
 * and @p max_bytes bytes per group (0: 100,000 and 64 MiB).
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int history_open(struct store *s, uint64_t max_entries, uint64_t max_bytes, struct history *out);

/**
 * @brief Append the record of entry @p index of @p group (@p len bytes, may
 * be 0), then drop the oldest while over the retention.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int history_append(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t index, const void *bytes,
		   size_t len);

/** @brief The oldest index @p group's history holds (0 if none). @return GROVE_OK, GROVE_ESTORAGE. */
int history_oldest(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t *oldest);

/**
 * @brief Hand the records of @p group from index @p from on to @p fn, in
 * order, until @p max_entries or @p max_bytes were handed out, the history
 * ends, or @p fn returns non-zero (which is returned). Stops early, with
 * GROVE_ERANGE, at a gap (an index no longer held).
 * @return GROVE_OK, GROVE_ERANGE, @p fn's value, GROVE_ESTORAGE.
 */
int history_read(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t from, size_t max_entries,
		 size_t max_bytes, int (*fn)(void *ctx, uint64_t index, const uint8_t *bytes, size_t len), void *ctx);

/**
 * @brief Encode change records and the path steps they name (@p paths may
 * be NULL when no change has a path), all little-endian: u32 0xFFFFFFFF,
 * u32 number of steps, per step u64 node, u32 up, name (u32 length and its
 * bytes); then u32 count, per change u8 operation, u64 node, parent, old
 * parent, i64 index, u32 flags, path step, old path step, then name, old
 * name, class of the node, text, instance and value, each a u32 length and
 * its bytes. The operation's top bit (0x80) marks a carried change
 * (tree_change.carried). No change at all is a lone u32 0.
 *
 * Records written before paths were steps start with the count instead of
 * 0xFFFFFFFF, and per change hold the old position (i64) after the index
 * and the absolute path and old path as strings after the old name:
 * history_decode() reads both.
 *
 * An entry that applied a part of a transaction across shards (@p txn not
 * NULL, with more than one group) is prefixed with u32 0xFFFFFFFE, u64 the
 * transaction's id, u32 the number of groups and u64 each.
 * @return GROVE_OK or GROVE_ENOMEM.
 */
int history_encode(const struct tree_change *changes, size_t n, const struct tree_paths *paths,
		   const struct change_txn *txn, struct grove_buf *out);

/**
 * @brief Decode what history_encode() wrote, in either layout, into @p *out
 * (@p *n changes, owned: free each with tree_change_free() and the array
 * with free()) and the steps their paths name into @p paths (overwritten;
 * owned: release with tree_paths_free()); an older record's paths become
 * steps holding whole paths. @p txn (NULL: not wanted) receives the
 * transaction the entry applied a part of (n_groups 0: none; groups owned,
 * free() them). On failure nothing is left to free.
 * @return GROVE_OK, GROVE_ECORRUPT, GROVE_ENOMEM.
 */
int history_decode(const uint8_t *bytes, size_t len, struct tree_change **out, size_t *n, struct tree_paths *paths,
		   struct change_txn *txn);

#endif
