/**
 * @file wal.h
 * @brief The write-ahead log of a server: the Raft entries and hard state of
 * every group it hosts, made durable with one sequential write and one
 * fdatasync per batch, whatever the number of groups (group commit across
 * groups).
 *
 * Keeping the log in LMDB costs each Raft round an LMDB commit, that is a
 * dozen scattered page writes and two fdatasyncs (data, then meta page).
 * The log only ever grows at its end, is read back whole at start-up, and is
 * cut at its front behind snapshots, so an append-only file fits it better:
 * one pwrite of the batch at the end of a preallocated segment, one
 * fdatasync. The state machines, applied indexes and memberships stay in
 * LMDB, whose commits then need not be durable one by one: whatever a crash
 * undoes there is applied again from this log (see wal_compact() for the
 * one ordering rule).
 *
 * On disk: a directory of segments named by a hexadecimal sequence number
 * (`0000000000000001.wal`), each preallocated (WAL_SEGMENT_BYTES, or more for
 * one large batch) and filled with records, then zeros. A record is
 * `u32 length | u32 crc32c(payload) | payload`, payload `u8 kind | u64 group
 * | fields`, little-endian: an entry (index, term, type, data), a hard state
 * (term, vote, commit) or a snapshot mark (index, term, and whether the
 * snapshot replaces the group's whole log or only its entries up to index).
 * A length of 0 ends a segment's records. Every new segment starts by
 * restating each group's hard state and snapshot mark, so that older
 * segments can be deleted once snapshots cover every entry they hold.
 * Records written before the log served several groups carry no group id
 * (kinds 1-3) and are read as group 1's.
 *
 * Reading it back replays the records in order, group by group: an entry at
 * or below the group's last one replaces that suffix (a follower overwriting
 * a conflict, §3.5), a snapshot mark drops the entries it covers (or all of
 * them). A record that is cut short or fails its checksum at the end of the
 * newest segment is a write that a crash interrupted before its fdatasync
 * returned; it was never acknowledged, and it is cut off. The same anywhere
 * else is corruption: in an older segment, or followed by a record that
 * passes its checksum (a bit flipped in an acknowledged record, whose cutting
 * off would silently drop the acknowledged records after it; a crash that
 * wrote a later page of its last batch but not an earlier one looks the same,
 * and refusing to start is the safe side of that rare case). A record that
 * passes its checksum but cannot be decoded is corruption wherever it is.
 * Either way struct wal_damage names the segment, the byte offset and what
 * is wrong.
 *
 * A full disk is not a failure of the log: a flush that cannot get space
 * (ENOSPC, EDQUOT) returns GROVE_ENOSPC, keeps its batch, and the next flush
 * writes it again, ahead of whatever was queued since (see wal_flush_end()).
 *
 * Threads: one thread (the server's loop) calls everything, except that a
 * flush may run in a second thread: the loop takes what is queued with
 * wal_flush_begin(), the writer thread calls wal_flush_run(), and the loop,
 * told that it returned, calls wal_flush_end(). While a flush runs the loop
 * may only queue more (wal_append(), wal_set_hard_state(), wal_pending());
 * the next batch thus forms while the disk syncs the last one.
 */
#ifndef GROVE_STORAGE_WAL_H
#define GROVE_STORAGE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Size a segment is preallocated to; a larger batch gets a segment of its own size. */
#define WAL_SEGMENT_BYTES ((size_t)16 << 20)

/** One log entry. */
struct wal_entry {
	uint64_t index;    /**< position in the group's log, from 1 */
	uint64_t term;     /**< term in which the leader created it */
	uint32_t type;     /**< entry type, defined by the Raft core */
	const void *data;  /**< payload; borrowed (owned by struct wal_contents when read back) */
	size_t len;        /**< payload length */
};

/** Raft's persistent per-server state of one group (§3.8: currentTerm, votedFor), plus commit. */
struct wal_hard_state {
	uint64_t term;   /**< current term */
	uint64_t vote;   /**< server voted for in term, 0 for none */
	uint64_t commit; /**< highest index known committed (written lazily) */
};

/** What wal_open() read back of one group. */
struct wal_group {
	uint64_t group;               /**< the group id */
	struct wal_hard_state hard;   /**< the last hard state written (all 0 if none) */
	uint64_t snapshot_index;      /**< the entries start after this index */
	uint64_t snapshot_term;       /**< term of snapshot_index (0 if none) */
	struct wal_entry *entries;    /**< snapshot_index + 1 .. in order; data owned */
	size_t n_entries;             /**< number of entries */
	size_t cap_entries;           /**< allocated entries */
	uint64_t gap_upto;            /**< private to the replay */
};

/** Where the log is damaged, or where an interrupted write was cut off. */
struct wal_damage {
	char segment[24];  /**< file name of the segment in the log's directory ("" when no one file is at fault) */
	uint64_t offset;   /**< byte offset of the bad record in it */
	char what[160];    /**< what is wrong, one line */
};

/** What wal_open() read back. Release with wal_contents_free(). */
struct wal_contents {
	struct wal_group *groups;  /**< every group with a record in the log, in order of first appearance */
	size_t n_groups;           /**< number of groups */
	size_t cap_groups;         /**< allocated groups */
	bool fresh;                /**< the directory held no segment: nothing was ever written */
	bool torn_tail;            /**< an interrupted write at the end was cut off (where: damage) */
	struct wal_damage damage;  /**< set when torn_tail, or when wal_open() returned GROVE_ECORRUPT */
};

struct wal;

/**
 * @brief Open (creating if needed) the log in directory @p dir and read it back.
 * @param out receives the log; release with wal_close().
 * @param contents receives what it holds; release with wal_contents_free() (also after an error).
 * @return GROVE_OK, GROVE_ECORRUPT (a bad record before the end of the newest
 * segment, an entry that leaves a gap no snapshot covers, an unknown record
 * kind; @p contents->damage says where and what), GROVE_ENOSPC (no room
 * for a first segment), GROVE_EIO (a system call failed; errno tells
 * which), GROVE_ENOMEM.
 */
int wal_open(struct wal **out, const char *dir, struct wal_contents *contents);

/**
 * @brief wal_open() with new segments preallocated to @p segment_bytes
 * instead of WAL_SEGMENT_BYTES (simulations that restart often read every
 * segment whole at each start).
 */
int wal_open_sized(struct wal **out, const char *dir, size_t segment_bytes, struct wal_contents *contents);

/** @brief Free what wal_open() returned in @p contents. */
void wal_contents_free(struct wal_contents *contents);

/** @brief Group @p group of @p contents, or NULL if the log holds nothing of it. Borrowed. */
const struct wal_group *wal_contents_group(const struct wal_contents *contents, uint64_t group);

/**
 * @brief Queue @p n entries (consecutive indexes) of group @p group. An entry
 * at or below the group's last one written replaces its log from that index
 * on. Nothing is durable before the flush that takes it.
 * @return GROVE_OK, GROVE_EINVAL (indexes not consecutive), GROVE_ETOOBIG
 * (an entry of 4 GiB or more), GROVE_ENOMEM. On error nothing was queued.
 */
int wal_append(struct wal *w, uint64_t group, const struct wal_entry *entries, size_t n);

/** @brief Queue a hard state of group @p group. @return GROVE_OK, GROVE_ENOMEM. */
int wal_set_hard_state(struct wal *w, uint64_t group, const struct wal_hard_state *hs);

/**
 * @brief Take everything queued for a flush. @return false (and nothing to
 * do) when nothing is queued. Only one flush at a time.
 */
bool wal_flush_begin(struct wal *w);

/**
 * @brief Write what wal_flush_begin() took at the end of the log and
 * fdatasync it (a new segment when the current one is full). May run in
 * another thread than the rest. When it returns GROVE_OK the records are durable.
 * @return GROVE_OK, GROVE_ENOSPC (the file system is full: nothing of the
 * batch may be counted as durable; it is written again by the next flush),
 * GROVE_EIO (the log can no longer be trusted: stop), GROVE_ENOMEM.
 */
int wal_flush_run(struct wal *w);

/**
 * @brief Account for the flush that wal_flush_run() finished with @p result.
 * After GROVE_ENOSPC the batch is kept, and the next wal_flush_begin() takes
 * it again with whatever was queued since (so there is always something to
 * flush until it succeeds); after any other error the log refuses further
 * flushes.
 */
void wal_flush_end(struct wal *w, int result);

/**
 * @brief wal_flush_begin(), wal_flush_run() and wal_flush_end() in the calling
 * thread. When it returns GROVE_OK everything queued is durable.
 * @return as wal_flush_run(); after GROVE_ENOSPC calling it again retries.
 */
int wal_sync(struct wal *w);

/**
 * @brief Compaction: record that a snapshot at @p index of term @p term covers
 * group @p group's log up to @p index, make it durable (with whatever else
 * is queued), and delete the segments that only held covered entries.
 * Later entries stay. No flush may be running.
 *
 * The caller must have made the state that the snapshot stands for durable
 * first (store_sync()): after this call those entries cannot be replayed.
 * @return GROVE_OK, GROVE_ENOSPC (nothing deleted; the mark stays queued and
 * the next flush writes it), GROVE_EIO, GROVE_ENOMEM.
 */
int wal_compact(struct wal *w, uint64_t group, uint64_t index, uint64_t term);

/**
 * @brief A follower of group @p group installed a snapshot at @p index of
 * term @p term that replaces its whole log (§5.3: its own entries did not
 * match): record it, make it durable, and delete the segments that only
 * held dead entries. The group's next entry appended must be @p index + 1.
 * The same rules as for wal_compact() apply.
 * @return GROVE_OK, GROVE_EIO, GROVE_ENOMEM.
 */
int wal_install_snapshot(struct wal *w, uint64_t group, uint64_t index, uint64_t term);

/**
 * @brief A new group @p group whose state starts as a snapshot at @p index of
 * term @p term (a group born by a split, whose state the store holds
 * durably already): queue its snapshot mark, as if a snapshot replaced its
 * (empty) log; the next flush makes it durable, before any entry the group
 * appends after it. The group's next entry must be @p index + 1.
 * @return GROVE_OK, GROVE_ENOMEM (nothing queued).
 */
int wal_start_group(struct wal *w, uint64_t group, uint64_t index, uint64_t term);

/** @brief Write without fdatasync from now on (NOT durable): ONLY for benchmarks that say so. */
void wal_skip_sync(struct wal *w);

/** @brief Bytes queued and not yet taken by a flush, and those of a batch kept after GROVE_ENOSPC. */
size_t wal_pending(const struct wal *w);

/** @brief Number of segment files the log has now. */
size_t wal_segments(const struct wal *w);

/** @brief Close the log (queued records are dropped). No flush may be running. NULL is allowed. */
void wal_close(struct wal *w);

#endif
