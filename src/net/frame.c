#include "src/net/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/common/bytes.h"
#include "src/common/error.h"

void frame_reader_init(struct frame_reader *r, uint32_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max ? max : FRAME_DEFAULT_MAX;
}

void frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Whether a whole frame (or a length prefix over the maximum, which ends the stream) is buffered. */
static bool frame_buffered(const struct frame_reader *r)
{
	size_t avail = r->len - r->start;
	if (avail < 4)
		return false;
	uint32_t n = get_le32(r->buf + r->start);
	return n > r->max || avail - 4 >= n;
}

/* Largest buffer an empty reader keeps: a large frame's memory goes back once it is handed out. */
#define READER_KEEP_BYTES (64u << 10)

int frame_reader_fill(struct frame_reader *r, int fd)
{
	for (;;) {
		/* Compact consumed bytes away before growing. */
		if (r->start > 0 && (r->start == r->len || r->len == r->cap)) {
			memmove(r->buf, r->buf + r->start, r->len - r->start);
			r->len -= r->start;
			r->start = 0;
		}
		if (r->len == r->cap) {
			/* Hand out what is whole before reading on: a peer that pipelines requests leaves the rest
			 * in its socket, where the kernel bounds it, rather than in this buffer. */
			if (frame_buffered(r))
				return GROVE_OK;
			size_t ncap = r->cap ? r->cap * 2 : 16384;
			/* Never hold more than one maximal frame plus its header and a read's worth. */
			if (ncap > (size_t)r->max + 4 + 65536)
				ncap = (size_t)r->max + 4 + 65536;
			if (ncap <= r->cap)
				return GROVE_OK; /* full: the caller consumes a frame first */
			uint8_t *grown = realloc(r->buf, ncap);
			if (!grown)
				return GROVE_ENOMEM;
			r->buf = grown;
			r->cap = ncap;
		}
		ssize_t n = recv(fd, r->buf + r->len, r->cap - r->len, 0);
		if (n > 0) {
			r->len += (size_t)n;
			if (r->len < r->cap)
				return GROVE_OK;
			continue;
		}
		if (n == 0)
			return GROVE_ENOTFOUND;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return GROVE_OK;
		return GROVE_EIO;
	}
}

int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len)
{
	size_t avail = r->len - r->start;
	if (avail < 4)
		return 0;
	const uint8_t *p = r->buf + r->start;
	uint32_t n = get_le32(p);
	*len = n;
	if (n > r->max)
		return -GROVE_ETOOBIG;
	if (avail - 4 < n)
		return 0;
	*payload = p + 4;
	return 1;
}

void frame_reader_consume(struct frame_reader *r, size_t len)
{
	r->start += 4 + len;
	if (r->start == r->len) {
		r->start = r->len = 0;
		if (r->cap > READER_KEEP_BYTES) {
			free(r->buf);
			r->buf = NULL;
			r->cap = 0;
		}
	}
}

void frame_writer_init(struct frame_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void frame_writer_free(struct frame_writer *w)
{
	grove_buf_free(&w->buf);
	w->sent = 0;
}

/* Largest buffer an idle writer keeps: a burst's memory goes back once it is sent. */
#define WRITER_KEEP_BYTES (256u << 10)

int frame_writer_put_with(struct frame_writer *w, size_t len, void (*fill)(void *ctx, uint8_t *out), void *ctx)
{
	if (len > UINT32_MAX)
		return GROVE_ETOOBIG;
	if (w->sent > 0 && w->sent == w->buf.len)
		w->sent = w->buf.len = 0;
	uint8_t *at = grove_buf_extend(&w->buf, 4 + len);
	if (!at) {
		w->buf.failed = false; /* the queue is intact: only this frame was refused */
		return GROVE_ENOMEM;
	}
	put_le32(at, (uint32_t)len);
	fill(ctx, at + 4);
	return GROVE_OK;
}

static void copy_fill(void *ctx, uint8_t *out)
{
	const struct {
		const void *p;
		size_t n;
	} *src = ctx;
	memcpy(out, src->p, src->n);
}

int frame_writer_put(struct frame_writer *w, const void *payload, size_t len)
{
	struct {
		const void *p;
		size_t n;
	} src = {payload, len};
	return frame_writer_put_with(w, len, copy_fill, &src);
}

int frame_writer_flush(struct frame_writer *w, int fd)
{
	while (w->sent < w->buf.len) {
		ssize_t n = send(fd, w->buf.data + w->sent, w->buf.len - w->sent, MSG_NOSIGNAL);
		if (n > 0) {
			w->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return GROVE_OK;
		return GROVE_EIO;
	}
	w->sent = w->buf.len = 0;
	if (w->buf.cap > WRITER_KEEP_BYTES)
		grove_buf_free(&w->buf);
	return GROVE_OK;
}

bool frame_writer_pending(const struct frame_writer *w)
{
	return w->sent < w->buf.len;
}

size_t frame_writer_queued(const struct frame_writer *w)
{
	return w->buf.len - w->sent;
}
