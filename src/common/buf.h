/**
 * @file buf.h
 * @brief A growable byte buffer, for every encoder in grove.
 *
 * Zero-initialize a struct grove_buf; release it with grove_buf_free(). An
 * allocation failure sets `failed`, after which appends do nothing, so an
 * encoder appends freely and checks once at the end.
 */
#ifndef GROVE_COMMON_BUF_H
#define GROVE_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct grove_buf {
	uint8_t *data; /**< bytes written, owned */
	size_t len;    /**< number of bytes written */
	size_t cap;    /**< allocated size of data */
	bool failed;   /**< an allocation failed; the content is incomplete */
};

/** @brief Release the bytes and zero @p b (it can be used again). */
void grove_buf_free(struct grove_buf *b);

/** @brief Append @p n bytes. Sets b->failed on allocation failure. */
void grove_buf_put(struct grove_buf *b, const void *data, size_t n);

/**
 * @brief Append @p n bytes for the caller to fill in.
 * @return where they start (valid until the next append), or NULL (and
 * b->failed) on allocation failure.
 */
uint8_t *grove_buf_extend(struct grove_buf *b, size_t n);

/** @brief Append one byte, and fixed-width little-endian integers. */
void grove_buf_u8(struct grove_buf *b, uint8_t v);
void grove_buf_le32(struct grove_buf *b, uint32_t v);
void grove_buf_le64(struct grove_buf *b, uint64_t v);

/** @brief Fixed-width big-endian integers (the byte order of LMDB keys). */
void grove_buf_be32(struct grove_buf *b, uint32_t v);
void grove_buf_be64(struct grove_buf *b, uint64_t v);

/** @brief An unsigned varint (LEB128, protobuf's encoding): 7 bits a byte, low first, 1 to 10 bytes. */
void grove_buf_varint(struct grove_buf *b, uint64_t v);

#endif
