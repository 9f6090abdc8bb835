#include "frames.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "src/common/error.h"
#include "src/net/frame.h"

/* One socket pair for the whole process: a fuzzer runs millions of inputs. */
static int sockets[2] = {-1, -1};

static void open_sockets(void)
{
	if (sockets[0] >= 0)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) != 0 || fcntl(sockets[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(sockets[1], F_SETFL, O_NONBLOCK) != 0)
		grove_fuzz_fail("cannot make a socket pair");
}

/* Read what the socket holds into @p r, as far as its buffer allows. */
static void drain_socket(struct frame_reader *r)
{
	if (frame_reader_fill(r, sockets[1]) != GROVE_OK)
		grove_fuzz_fail("the frame reader failed on a local socket");
}

size_t fuzz_for_each_frame(const uint8_t *data, size_t size, uint32_t max, size_t max_frames,
			   void (*fn)(void *ctx, const uint8_t *payload, size_t len), void *ctx)
{
	open_sockets();
	struct frame_reader r;
	frame_reader_init(&r, max);
	size_t sent = 0, frames = 0;
	/* Pieces of odd sizes, so that frames and length prefixes arrive split. */
	size_t piece = 1 + (size ? data[0] % 97 : 0) * 41;
	bool over = false;
	while (!over && frames < max_frames) {
		if (sent < size) {
			size_t n = size - sent < piece ? size - sent : piece;
			ssize_t w = write(sockets[0], data + sent, n);
			if (w <= 0)
				grove_fuzz_fail("cannot write to a local socket");
			sent += (size_t)w;
		}
		drain_socket(&r);
		const uint8_t *payload;
		size_t len;
		int got = 0;
		while (frames < max_frames && (got = frame_reader_next(&r, &payload, &len)) == 1) {
			fn(ctx, payload, len);
			frame_reader_consume(&r, len);
			frames++;
		}
		over = got < 0;
		if (sent == size && got == 0) {
			/* Everything written: what is still buffered is an incomplete frame. */
			drain_socket(&r);
			if (frame_reader_next(&r, &payload, &len) == 0)
				break;
		}
	}
	/* Leave the socket empty for the next input. */
	uint8_t rest[4096];
	while (read(sockets[1], rest, sizeof(rest)) > 0)
		;
	frame_reader_free(&r);
	return frames;
}

void fuzz_put_frame(struct grove_buf *out, const void *payload, size_t len)
{
	struct frame_writer w;
	frame_writer_init(&w);
	if (frame_writer_put(&w, payload, len) != GROVE_OK)
		grove_fuzz_fail("a seed frame does not encode");
	grove_buf_put(out, w.buf.data, w.buf.len);
	frame_writer_free(&w);
}
