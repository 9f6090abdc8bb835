#include "src/common/buf.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/bytes.h"

void grove_buf_free(struct grove_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

uint8_t *grove_buf_extend(struct grove_buf *b, size_t n)
{
	if (b->failed)
		return NULL;
	if (n > b->cap - b->len) {
		if (n > SIZE_MAX / 2 - b->len) {
			b->failed = true;
			return NULL;
		}
		size_t ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + n)
			ncap *= 2;
		uint8_t *grown = realloc(b->data, ncap);
		if (!grown) {
			b->failed = true;
			return NULL;
		}
		b->data = grown;
		b->cap = ncap;
	}
	uint8_t *at = b->data + b->len;
	b->len += n;
	return at;
}

void grove_buf_put(struct grove_buf *b, const void *data, size_t n)
{
	if (n == 0)
		return;
	uint8_t *at = grove_buf_extend(b, n);
	if (at)
		memcpy(at, data, n);
}

void grove_buf_u8(struct grove_buf *b, uint8_t v)
{
	grove_buf_put(b, &v, 1);
}

void grove_buf_le32(struct grove_buf *b, uint32_t v)
{
	uint8_t *at = grove_buf_extend(b, 4);
	if (at)
		put_le32(at, v);
}

void grove_buf_le64(struct grove_buf *b, uint64_t v)
{
	uint8_t *at = grove_buf_extend(b, 8);
	if (at)
		put_le64(at, v);
}

void grove_buf_be32(struct grove_buf *b, uint32_t v)
{
	uint8_t *at = grove_buf_extend(b, 4);
	if (at)
		put_be32(at, v);
}

void grove_buf_be64(struct grove_buf *b, uint64_t v)
{
	uint8_t *at = grove_buf_extend(b, 8);
	if (at)
		put_be64(at, v);
}

void grove_buf_varint(struct grove_buf *b, uint64_t v)
{
	uint8_t *at = grove_buf_extend(b, 10); /* the most a varint takes; what it does not use is given back */
	if (!at)
		return;
	size_t n = 0;
	do {
		at[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	b->len -= 10 - n;
}
