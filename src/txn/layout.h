/**
 * @file layout.h
 * @brief Private to src/txn: the little-endian pieces that both the Raft-log
 * encoding (codec.c) and the shard's stored records (shard.c) are made of.
 *
 * - u8, u32, u64: little-endian, fixed width;
 * - ts: wall u64, logical u32 (12 bytes);
 * - bytes: length u32, then the bytes;
 * - meta: id u64, anchor u64, epoch u32, seq u32, ts, start ts (48 bytes);
 * - record: status u8, epoch u32, seq u32, ts, heartbeat u64, count u32,
 *   then per entry shard u64, seq u32, key bytes.
 */
#ifndef GROVE_TXN_LAYOUT_H
#define GROVE_TXN_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/txn/txn.h"

/** Bytes of an encoded timestamp. */
#define LAYOUT_TS_BYTES 12
/** Bytes of an encoded struct txn_meta. */
#define LAYOUT_META_BYTES 48
/** Fewest bytes an in-flight entry takes (shard, seq, key length). */
#define LAYOUT_WRITE_REF_MIN 16

/** A growing output buffer; once an allocation fails it stays failed. */
struct layout_writer {
	uint8_t *data; /**< owned */
	size_t len;    /**< bytes written */
	size_t cap;    /**< bytes allocated */
	bool failed;   /**< an allocation failed; the contents are incomplete */
};

/** A bounds-checked reader; once a read runs past the end it stays bad. */
struct layout_reader {
	const uint8_t *p;   /**< next byte */
	const uint8_t *end; /**< one past the last byte */
	bool bad;           /**< a read ran past the end or met a value out of range */
};

/** Append to @p w in the layouts of the file comment (raw bytes for layout_put); a no-op once w->failed. */
void layout_put(struct layout_writer *w, const void *data, size_t len);
void layout_u8(struct layout_writer *w, uint8_t v);
void layout_u32(struct layout_writer *w, uint32_t v);
void layout_u64(struct layout_writer *w, uint64_t v);
void layout_ts(struct layout_writer *w, struct hlc_ts ts);
void layout_bytes(struct layout_writer *w, struct txn_bytes b);
void layout_meta(struct layout_writer *w, const struct txn_meta *m);
/** An in-flight list: count u32, then per entry shard u64, seq u32, key bytes. */
void layout_write_refs(struct layout_writer *w, const struct txn_write_ref *refs, size_t n);
void layout_record(struct layout_writer *w, const struct txn_record *rec);

/** Read from @p r in the layouts of the file comment; zeros once r->bad (a read past the end sets it). */
uint8_t layout_get_u8(struct layout_reader *r);
uint32_t layout_get_u32(struct layout_reader *r);
uint64_t layout_get_u64(struct layout_reader *r);
struct hlc_ts layout_get_ts(struct layout_reader *r);
/** Borrowed from the reader's buffer; refuses (r->bad) a length over @p max. */
struct txn_bytes layout_get_bytes(struct layout_reader *r, size_t max);
void layout_get_meta(struct layout_reader *r, struct txn_meta *m);

/**
 * Read an in-flight list: @p *refs is an owned array (free()), NULL when
 * empty, whose keys are borrowed from the reader's buffer. A count over
 * TXN_WRITES_MAX or beyond what the input could hold is refused before
 * anything is allocated.
 * @return GROVE_OK (check r->bad), GROVE_ENOMEM.
 */
int layout_get_write_refs(struct layout_reader *r, struct txn_write_ref **refs, size_t *n);

/**
 * Read a record into @p rec, which then owns its list (txn_record_free()).
 * @return GROVE_OK, GROVE_ECORRUPT (r->bad: truncated, a status out of
 * range, a count over TXN_WRITES_MAX or a key over TXN_KEY_MAX), GROVE_ENOMEM.
 */
int layout_get_record(struct layout_reader *r, struct txn_record *rec);

#endif
