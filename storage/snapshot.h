/**
 * @file snapshot.h
 * @brief Snapshots of the scene tree: a consistent read of the tree tables,
 * serialized, zstd-compressed and checksummed; and their verified, atomic
 * installation.
 *
 * Format (all integers little-endian):
 *   header  "GROVESN1" magic, u32 version (1), u32 header length (48),
 *           u64 applied index, u64 uncompressed size, u64 compressed size,
 *           u32 CRC-32C of the compressed body, u32 CRC-32C of the header's
 *           first 44 bytes;
 *   body    one zstd frame (with zstd's own content checksum) of records
 *           u8 table, u32 key length, key, u32 value length, value — every
 *           entry of the tree tables and of the meta table, in key order.
 * The Raft tables are not part of it: a snapshot is the state machine.
 *
 * A snapshot is created from one LMDB read transaction, so it is consistent
 * without stopping writers. Installation checks both checksums and the whole
 * body before it touches the store, then replaces the tree tables in one
 * write transaction: a crash leaves either the old state or the new one.
 *
 * Snapshots travel in chunks. A struct snapshot_receiver assembles them in
 * order and says which offset it expects next, so an interrupted transfer
 * resumes where it stopped rather than from the beginning.
 */
#ifndef GROVE_STORAGE_SNAPSHOT_H
#define GROVE_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

/** Size of a snapshot's header. */
#define SNAPSHOT_HEADER_SIZE 48
/** Largest uncompressed body accepted when installing (defends against a forged size). */
#define SNAPSHOT_MAX_RAW (64ull << 30)

/** A snapshot in memory. */
struct snapshot {
	uint8_t *data;          /**< header + compressed body, owned */
	size_t len;             /**< total length */
	uint64_t applied_index; /**< the applied index it reflects */
	uint64_t raw_size;      /**< uncompressed body size */
};

/**
 * @brief Snapshot the tree tables of @p s (one read transaction).
 * @param level zstd level (1..19; 0 for the default 3).
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_EIO (compression failed).
 */
int snapshot_create(struct store *s, int level, struct snapshot *out);

/** @brief Release a snapshot's memory. */
void snapshot_free(struct snapshot *snap);

/**
 * @brief Check a snapshot's header and body without installing it: magic,
 * version, sizes, both checksums, a complete zstd frame whose records parse.
 * @param applied_index receives the index it reflects (may be NULL).
 * @return GROVE_OK, GROVE_ECORRUPT (with a reason in @p why, which may be
 * NULL), GROVE_ETOOBIG, GROVE_ENOMEM.
 */
int snapshot_verify(const uint8_t *data, size_t len, uint64_t *applied_index, char *why, size_t why_cap);

/**
 * @brief Verify, then replace the tree tables of @p s with the snapshot's
 * content, atomically and durably.
 * @return GROVE_OK, the errors of snapshot_verify(), GROVE_ESTORAGE.
 */
int snapshot_install(struct store *s, const uint8_t *data, size_t len, char *why, size_t why_cap);

/**
 * @brief Verify, then replace the tree tables (and the meta table) with the
 * snapshot's content inside @p txn, a write transaction the caller commits
 * or aborts. The caller restores any meta value it owns afterwards.
 * @return as snapshot_install(); on error @p txn must be aborted.
 */
int snapshot_install_txn(struct store_txn *txn, const uint8_t *data, size_t len, char *why, size_t why_cap);

/** Assembles a snapshot sent in chunks. Zero-initialize; free with snapshot_receiver_free(). */
struct snapshot_receiver {
	uint8_t *data;   /**< bytes received so far, owned */
	size_t len;      /**< = the next offset expected */
	size_t cap;      /**< allocated */
	size_t total;    /**< announced total size, 0 until the first chunk */
};

/**
 * @brief Add the chunk at @p offset of a snapshot of @p total bytes.
 * @return GROVE_OK; GROVE_ERANGE if @p offset is not the next expected one
 * (resume from receiver->len) or the total changed; GROVE_ETOOBIG if
 * @p total is over @p max_total; GROVE_ENOMEM.
 */
int snapshot_receiver_put(struct snapshot_receiver *r, size_t offset, size_t total, const void *chunk, size_t len,
			  size_t max_total);

/** @brief Whether every byte has arrived. */
int snapshot_receiver_complete(const struct snapshot_receiver *r);

void snapshot_receiver_free(struct snapshot_receiver *r);

/** @brief CRC-32C (Castagnoli) of @p len bytes, continuing from @p crc (start with 0). */
uint32_t snapshot_crc32c(uint32_t crc, const void *data, size_t len);

#endif
