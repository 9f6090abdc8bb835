/**
 * @file wal.h
 * @brief A Raft group's write-ahead log: its entries and hard state, made
 * durable with one sequential write and one fdatasync per batch.
 *
 * Keeping the log in LMDB costs each Raft round an LMDB commit, that is a
 * dozen scattered page writes and two fdatasyncs (data, then meta page).
 * The log only ever grows at its end, is read back whole at start-up, and is
 * cut at its front behind snapshots, so an append-only file fits it better:
 * one pwrite of the batch at the end of a preallocated segment, one
 * fdatasync. The tree, the applied index and the membership stay in LMDB,
 * whose commits then need not be durable one by one: whatever a crash
 * undoes there is applied again from this log (see wal_compact() for the
 * one ordering rule).
 *
 * On disk: a directory of segments named by a hexadecimal sequence number
 * (`0000000000000001.wal`), each preallocated (WAL_SEGMENT_BYTES, or more for
 * one large record) and filled with records, then zeros. A record is
 * `u32 length | u32 crc32c(payload) | payload`, payload `u8 kind | fields`,
 * little-endian: an entry (index, term, type, data), a hard state (term,
 * vote, commit) or a snapshot mark (index, term, and whether the snapshot
 * replaces the whole log or only the entries up to index). A length of 0
 * ends a segment's records. Every new segment starts by restating the hard
 * state and the snapshot mark, so that older segments can be deleted once a
 * snapshot covers their entries.
 *
 * Reading it back replays the records in order: an entry at or below the
 * last one replaces that suffix (a follower overwriting a conflict, §3.5), a
 * snapshot mark drops the entries it covers (or all of them). A record that
 * is cut short or fails its checksum at the end of the newest segment is a
 * write that a crash interrupted before its fdatasync returned; it was never
 * acknowledged, and it is cut off. The same anywhere else is corruption.
 *
 * One struct wal belongs to one thread; it is not locked.
 */
#ifndef GROVE_STORAGE_WAL_H
#define GROVE_STORAGE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/raftlog.h"

/** Size a segment is preallocated to; a larger record gets a segment of its own size. */
#define WAL_SEGMENT_BYTES ((size_t)16 << 20)

struct wal;

/** What wal_open() read back. */
struct wal_contents {
	struct raftlog_hard_state hard; /**< the last hard state written (all 0 if none) */
	uint64_t snapshot_index;        /**< the entries start after this index */
	uint64_t snapshot_term;         /**< term of snapshot_index (0 if none) */
	struct raftlog_entry *entries;  /**< snapshot_index + 1 .. in order; data owned, see wal_contents_free() */
	size_t n_entries;
	bool fresh;                     /**< the directory held no segment: nothing was ever written */
	bool torn_tail;                 /**< an interrupted write at the end was cut off */
};

/**
 * @brief Open (creating if needed) the log in directory @p dir and read it back.
 * @param out receives the log; release with wal_close().
 * @param contents receives what it holds; release with wal_contents_free() (also after an error).
 * @return GROVE_OK, GROVE_ECORRUPT (a bad record before the end of the newest
 * segment, an entry that leaves a gap no snapshot covers, an unknown record
 * kind), GROVE_EIO (a system call failed; errno tells which), GROVE_ENOMEM.
 */
int wal_open(struct wal **out, const char *dir, struct wal_contents *contents);

/** @brief Free what wal_open() returned in @p contents. */
void wal_contents_free(struct wal_contents *contents);

/**
 * @brief Queue @p n entries (consecutive indexes). An entry at or below the
 * last one written replaces the log from its index on. Nothing is durable
 * before wal_sync().
 * @return GROVE_OK, GROVE_EINVAL (indexes not consecutive), GROVE_ETOOBIG
 * (an entry of 4 GiB or more), GROVE_ENOMEM.
 */
int wal_append(struct wal *w, const struct raftlog_entry *entries, size_t n);

/** @brief Queue a hard state. @return GROVE_OK, GROVE_ENOMEM. */
int wal_set_hard_state(struct wal *w, const struct raftlog_hard_state *hs);

/**
 * @brief Compaction: record that a snapshot at @p index of term @p term covers
 * the log up to @p index, make it durable, and delete the segments that only
 * held covered entries. Later entries stay.
 *
 * The caller must have made the state that the snapshot stands for durable
 * first (store_sync()): after this call those entries cannot be replayed.
 * @return GROVE_OK, GROVE_EIO, GROVE_ENOMEM.
 */
int wal_compact(struct wal *w, uint64_t index, uint64_t term);

/**
 * @brief A follower installed a snapshot at @p index of term @p term that
 * replaces its whole log (§5.3: its own entries did not match): record it,
 * make it durable, and delete every older segment. The next entry appended
 * must be @p index + 1. The same rule as for wal_compact() applies.
 * @return GROVE_OK, GROVE_EIO, GROVE_ENOMEM.
 */
int wal_install_snapshot(struct wal *w, uint64_t index, uint64_t term);

/**
 * @brief Write everything queued at the end of the log and fdatasync it (one
 * write and one sync; a new segment when the current one is full). When it
 * returns GROVE_OK the queued records are durable.
 * @return GROVE_OK, GROVE_EIO (the log can no longer be trusted: stop), GROVE_ENOMEM.
 */
int wal_sync(struct wal *w);

/** @brief Write without fdatasync from now on (NOT durable): ONLY for benchmarks that say so. */
void wal_skip_sync(struct wal *w);

/** @brief Bytes queued and not yet written by wal_sync(). */
size_t wal_pending(const struct wal *w);

/** @brief Close the log (queued records are dropped). NULL is allowed. */
void wal_close(struct wal *w);

#endif
