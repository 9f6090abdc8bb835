/**
 * @file frame.h
 * @brief Length-prefixed frames over non-blocking sockets.
 *
 * A frame is a 4-byte little-endian length followed by that many bytes of
 * payload (a protobuf Envelope). The reader accumulates bytes from a socket
 * and hands out whole frames; it refuses a length prefix over its maximum
 * before allocating anything for it, so a peer cannot make the server
 * reserve memory it did not send. The writer queues frames and drains them
 * as the socket accepts.
 */
#ifndef GROVE_NET_FRAME_H
#define GROVE_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"

/** Default largest payload accepted: 64 MiB (a whole scene import fits). */
#define FRAME_DEFAULT_MAX (64u << 20)

/** Accumulates bytes from a socket and splits them into frames. */
struct frame_reader {
	uint8_t *buf;      /**< received bytes not yet consumed, owned */
	size_t len;        /**< bytes in buf */
	size_t cap;        /**< allocated size of buf */
	size_t start;      /**< offset of the first unconsumed byte */
	uint32_t max;      /**< largest payload accepted */
};

/** Queues frames and writes them out. */
struct frame_writer {
	struct grove_buf buf; /**< queued bytes */
	size_t sent;          /**< bytes of buf already written */
};

/** @brief Initialize with a maximum payload (0 = FRAME_DEFAULT_MAX). */
void frame_reader_init(struct frame_reader *r, uint32_t max);
void frame_reader_free(struct frame_reader *r);

/**
 * @brief Read what the non-blocking socket @p fd has, up to what the buffer
 * holds: it grows only for a frame that does not fit, so once it holds a
 * whole frame the rest waits in the socket until frames are consumed.
 * @return GROVE_OK (read something or nothing yet), GROVE_EIO with errno
 * set (socket error), GROVE_ENOTFOUND (the peer closed), GROVE_ENOMEM.
 */
int frame_reader_fill(struct frame_reader *r, int fd);

/**
 * @brief The next whole frame, if any.
 * @param payload set to the payload (valid until the next fill or consume).
 * @return 1 if a frame is ready (consume it with frame_reader_consume()),
 * 0 if more bytes are needed, -GROVE_ETOOBIG if the length prefix is over
 * the maximum (then *len holds the announced length).
 */
int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len);

/** @brief Drop the frame returned by the last frame_reader_next(). */
void frame_reader_consume(struct frame_reader *r, size_t len);

void frame_writer_init(struct frame_writer *w);
void frame_writer_free(struct frame_writer *w);

/** @brief Queue one frame of @p len payload bytes. @return GROVE_OK, GROVE_ETOOBIG, GROVE_ENOMEM. */
int frame_writer_put(struct frame_writer *w, const void *payload, size_t len);

/**
 * @brief Queue a frame whose payload is written in place by @p fill
 * (exactly @p len bytes) — protobuf packs straight into the buffer.
 */
int frame_writer_put_with(struct frame_writer *w, size_t len, void (*fill)(void *ctx, uint8_t *out), void *ctx);

/**
 * @brief Write queued bytes to non-blocking @p fd until it would block.
 * @return GROVE_OK (check frame_writer_pending()), GROVE_EIO with errno set.
 */
int frame_writer_flush(struct frame_writer *w, int fd);

/** @brief Whether bytes are still queued. */
bool frame_writer_pending(const struct frame_writer *w);

/** @brief Bytes queued and not yet written. */
size_t frame_writer_queued(const struct frame_writer *w);

#endif
