/**
 * @file snapshot.h
 * @brief Snapshots of a state machine: records serialized, zstd-compressed
 * and checksummed; verified before anything reads them.
 *
 * The container does not know what the records mean: a state machine (the
 * scene tree, src/tree/tree.h tree_dump()) hands them in as (table, key,
 * value) triples, and gets them back the same way to load them. A snapshot
 * is made from one consistent read (one LMDB read transaction), so writers
 * never stop for it; whoever loads it checks it whole first
 * (snapshot_verify() or the first pass of snapshot_for_each_record()), so a
 * damaged snapshot changes nothing.
 *
 * Format (all integers little-endian):
 *   header  "GROVESN1" magic, u32 version (1), u32 header length (48),
 *           u64 applied index, u64 uncompressed size, u64 compressed size,
 *           u32 CRC-32C of the compressed body, u32 CRC-32C of the header's
 *           first 44 bytes;
 *   body    one zstd frame (with zstd's own content checksum) of records
 *           u8 table, u32 key length, key, u32 value length, value.
 * Keys are 1..STORE_KEY_MAX bytes.
 *
 * Snapshots travel in chunks. A struct snapshot_receiver assembles them and
 * says which offset it expects next, so that an interrupted transfer resumes
 * where it stopped rather than from the beginning; chunks that a network
 * reordered or repeated are taken as well (snapshot_receiver_put_any()).
 */
#ifndef GROVE_STORAGE_SNAPSHOT_H
#define GROVE_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"

/** Size of a snapshot's header. */
#define SNAPSHOT_HEADER_SIZE 48
/** Largest uncompressed body accepted (defends against a forged size). */
#define SNAPSHOT_MAX_RAW (64ull << 30)

/** A snapshot in memory. */
struct snapshot {
	uint8_t *data;          /**< header + compressed body, owned */
	size_t len;             /**< total length */
	uint64_t applied_index; /**< the applied index it reflects */
	uint64_t raw_size;      /**< uncompressed body size */
};

/** The records of a snapshot being made. Zero-initialize. */
struct snapshot_builder {
	struct grove_buf raw; /**< records so far, uncompressed */
};

/**
 * @brief Add one record; the signature of tree_dump()'s emit, with @p ctx a
 * struct snapshot_builder.
 * @return GROVE_OK, GROVE_EINVAL (table over 255, key empty or too long), GROVE_ENOMEM.
 */
int snapshot_add_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
			size_t val_len);

/**
 * @brief Compress the records into @p out, a snapshot of the state at
 * @p applied_index, and release the builder's memory (also on error).
 * @param level zstd level (1..19; 0 for the default 3).
 * @return GROVE_OK, GROVE_ENOMEM, GROVE_EIO (compression failed).
 */
int snapshot_finish(struct snapshot_builder *b, uint64_t applied_index, int level, struct snapshot *out);

/** @brief Release a snapshot's memory. */
void snapshot_free(struct snapshot *snap);

/**
 * @brief Check a snapshot's header and body without reading it: magic,
 * version, sizes, both checksums, a complete zstd frame whose records parse.
 * @param applied_index receives the index it reflects (may be NULL).
 * @return GROVE_OK, GROVE_ECORRUPT (with a reason in @p why, which may be
 * NULL), GROVE_ETOOBIG, GROVE_ENOMEM.
 */
int snapshot_verify(const uint8_t *data, size_t len, uint64_t *applied_index, char *why, size_t why_cap);

/**
 * @brief Verify the snapshot completely, then hand each record to @p fn in
 * order. @p fn is never called for a snapshot that fails verification; a
 * non-zero return from it stops the walk and is returned.
 * @return the errors of snapshot_verify(), or @p fn's non-zero value.
 */
int snapshot_for_each_record(const uint8_t *data, size_t len,
			     int (*fn)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
				       size_t val_len),
			     void *ctx, char *why, size_t why_cap);

/** A byte range [start, end) of a snapshot that has arrived. */
struct snapshot_range {
	size_t start, end;
};

/** Assembles a snapshot sent in chunks. Zero-initialize; free with snapshot_receiver_free(). */
struct snapshot_receiver {
	uint8_t *data;   /**< the snapshot's bytes (room for total once a chunk came), owned */
	size_t len;      /**< bytes received from offset 0 without a gap: the next offset expected */
	size_t total;    /**< announced total size, 0 until the first chunk */
	struct snapshot_range *ranges; /**< what arrived: sorted, disjoint, not adjacent; owned */
	size_t n_ranges, cap_ranges;
};

/**
 * @brief Add the chunk at @p offset of a snapshot of @p total bytes, which
 * must be the next offset expected (a client's transfer, which resumes from
 * receiver->len after a refusal).
 * @return GROVE_OK; GROVE_ERANGE if @p offset is not the next expected one
 * or the total changed; GROVE_ETOOBIG if @p total is over @p max_total;
 * GROVE_ENOMEM.
 */
int snapshot_receiver_put(struct snapshot_receiver *r, size_t offset, size_t total, const void *chunk, size_t len,
			  size_t max_total);

/** Most separate ranges a receiver keeps (chunks with gaps between them). */
#define SNAPSHOT_RECEIVER_MAX_RANGES 4096

/**
 * @brief Add the chunk at @p offset of a snapshot of @p total bytes, in
 * whatever order the chunks come, again or overlapping (a peer's transfer,
 * whose messages a network may reorder or repeat).
 * @return GROVE_OK; GROVE_ERANGE if the chunk passes @p total, the total
 * changed, or it would leave more than SNAPSHOT_RECEIVER_MAX_RANGES separate
 * ranges (a sender scattering small chunks: it retries from the start);
 * GROVE_ETOOBIG if @p total is over @p max_total; GROVE_ENOMEM.
 * On an error @p r is as it was.
 */
int snapshot_receiver_put_any(struct snapshot_receiver *r, size_t offset, size_t total, const void *chunk, size_t len,
			      size_t max_total);

/** @brief Whether every byte has arrived. */
int snapshot_receiver_complete(const struct snapshot_receiver *r);

void snapshot_receiver_free(struct snapshot_receiver *r);

/** @brief CRC-32C (Castagnoli) of @p len bytes, continuing from @p crc (start with 0). */
uint32_t snapshot_crc32c(uint32_t crc, const void *data, size_t len);

#endif
