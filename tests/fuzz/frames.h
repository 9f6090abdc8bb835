/**
 * @file frames.h
 * @brief Helpers of the fuzz targets whose input is a stream of frames
 * (src/net/frame.h): the bytes go through a real socket and a real frame
 * reader, as a connection's bytes do in the server.
 */
#ifndef GROVE_TESTS_FUZZ_FRAMES_H
#define GROVE_TESTS_FUZZ_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"

/**
 * @brief Hand each whole frame of the byte stream @p data (@p size bytes) to
 * @p fn, in order, as a frame reader with maximum payload @p max splits them
 * from a socket the bytes are written into in pieces. Stops at a length
 * prefix over @p max (as the server closes such a connection) or after
 * @p max_frames frames. Calls grove_fuzz_fail() if the socket or the reader
 * fails.
 * @return the number of frames handed out.
 */
size_t fuzz_for_each_frame(const uint8_t *data, size_t size, uint32_t max, size_t max_frames,
			   void (*fn)(void *ctx, const uint8_t *payload, size_t len), void *ctx);

/** @brief Append @p len bytes of @p payload to @p out as one frame, encoded by the frame writer. */
void fuzz_put_frame(struct grove_buf *out, const void *payload, size_t len);

#endif
