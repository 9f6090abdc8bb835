#include "storage/snapshot.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "storage/store.h"
#include "src/common/bytes.h"

static const char magic[8] = {'G', 'R', 'O', 'V', 'E', 'S', 'N', '1'};

/* CRC-32C a byte at a time through a table: for processors without the instruction. */
static uint32_t crc_table[256];

static void make_crc_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0x82f63b78u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32c_by_table(uint32_t crc, const uint8_t *p, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, make_crc_table); /* the log's writer thread and snapshot builders call this too */
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/*
 * SSE4.2's crc32 instruction computes CRC-32C (the same reflected polynomial), 8 bytes at a time: the log
 * checksums every record it writes and reads, and a snapshot its whole body, so the byte-wise table showed
 * in profiles of a loaded server.
 */
__attribute__((target("sse4.2"))) static uint32_t crc32c_by_instruction(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t word;
		memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
	}
	uint32_t c32 = (uint32_t)c;
	for (; len; p++, len--)
		c32 = __builtin_ia32_crc32qi(c32, *p);
	return c32;
}
#endif

uint32_t snapshot_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_by_instruction(~crc, p, len);
#endif
	return ~crc32c_by_table(~crc, p, len);
}

int snapshot_add_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
			size_t val_len)
{
	struct snapshot_builder *b = ctx;
	if (table > 255 || key_len == 0 || key_len > STORE_KEY_MAX || val_len > UINT32_MAX)
		return GROVE_EINVAL;
	grove_buf_u8(&b->raw, (uint8_t)table);
	grove_buf_le32(&b->raw, (uint32_t)key_len);
	grove_buf_put(&b->raw, key, key_len);
	grove_buf_le32(&b->raw, (uint32_t)val_len);
	grove_buf_put(&b->raw, val, val_len);
	return b->raw.failed ? GROVE_ENOMEM : GROVE_OK;
}

int snapshot_finish(struct snapshot_builder *b, uint64_t applied_index, int level, struct snapshot *out)
{
	memset(out, 0, sizeof(*out));
	struct grove_buf raw = b->raw;
	memset(b, 0, sizeof(*b));
	if (raw.failed) {
		grove_buf_free(&raw);
		return GROVE_ENOMEM;
	}
	size_t bound = ZSTD_compressBound(raw.len);
	uint8_t *buf = malloc(SNAPSHOT_HEADER_SIZE + bound);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	if (!buf || !cctx) {
		free(buf);
		grove_buf_free(&raw);
		ZSTD_freeCCtx(cctx);
		return GROVE_ENOMEM;
	}
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level > 0 ? level : 3);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	size_t clen = ZSTD_compress2(cctx, buf + SNAPSHOT_HEADER_SIZE, bound, raw.data, raw.len);
	ZSTD_freeCCtx(cctx);
	size_t raw_len = raw.len;
	grove_buf_free(&raw);
	if (ZSTD_isError(clen)) {
		free(buf);
		return GROVE_EIO;
	}
	uint8_t *h = buf;
	memcpy(h, magic, 8);
	put_le32(h + 8, 1);
	put_le32(h + 12, SNAPSHOT_HEADER_SIZE);
	put_le64(h + 16, applied_index);
	put_le64(h + 24, raw_len);
	put_le64(h + 32, clen);
	put_le32(h + 40, snapshot_crc32c(0, buf + SNAPSHOT_HEADER_SIZE, clen));
	put_le32(h + 44, snapshot_crc32c(0, h, 44));
	out->data = buf;
	out->len = SNAPSHOT_HEADER_SIZE + clen;
	out->applied_index = applied_index;
	out->raw_size = raw_len;
	return GROVE_OK;
}

void snapshot_free(struct snapshot *snap)
{
	free(snap->data);
	memset(snap, 0, sizeof(*snap));
}

__attribute__((format(printf, 3, 4))) static int corrupt(char *why, size_t cap, const char *fmt, ...)
{
	if (why && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return GROVE_ECORRUPT;
}

/* Memory for the first part of a body; more only as decompressed bytes fill it. */
#define FIRST_ALLOCATION (1u << 20)

/*
 * Decompress @p clen bytes of one zstd frame at @p src into *@p out (caller frees), which must come to
 * exactly @p raw_size bytes. The buffer grows with what actually comes out, up to @p raw_size: a header
 * that claims gigabytes for a body of a few bytes does not get them allocated.
 * @return GROVE_OK, GROVE_ECORRUPT, GROVE_ENOMEM.
 */
static int decompress_body(const uint8_t *src, size_t clen, uint64_t raw_size, uint8_t **out)
{
	*out = NULL;
	size_t cap = raw_size < FIRST_ALLOCATION ? (size_t)raw_size : FIRST_ALLOCATION, len = 0;
	uint8_t *buf = malloc(cap ? cap : 1);
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	int err = buf && dctx ? GROVE_OK : GROVE_ENOMEM;
	ZSTD_inBuffer in = {src, clen, 0};
	while (!err) {
		ZSTD_outBuffer o = {buf, cap, len};
		size_t consumed = in.pos;
		size_t left = ZSTD_decompressStream(dctx, &o, &in);
		bool progress = o.pos != len || in.pos != consumed;
		len = o.pos;
		if (ZSTD_isError(left))
			err = GROVE_ECORRUPT;
		else if (left == 0)
			break; /* the frame is complete */
		else if (len == cap && cap < raw_size) {
			size_t grown = raw_size - cap < cap ? (size_t)raw_size : 2 * cap;
			uint8_t *bigger = realloc(buf, grown);
			if (!bigger)
				err = GROVE_ENOMEM;
			else
				buf = bigger, cap = grown;
		} else if (!progress) {
			err = GROVE_ECORRUPT; /* truncated, or more than the header says */
		}
	}
	ZSTD_freeDCtx(dctx);
	if (!err && (len != raw_size || in.pos != in.size))
		err = GROVE_ECORRUPT;
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	return GROVE_OK;
}

/* Check everything and decompress the body into @p raw (caller frees). */
static int open_snapshot(const uint8_t *data, size_t len, uint64_t *applied, uint8_t **raw, size_t *raw_len,
			 char *why, size_t cap)
{
	*raw = NULL;
	if (len < SNAPSHOT_HEADER_SIZE || memcmp(data, magic, 8) != 0)
		return corrupt(why, cap, "not a grove snapshot");
	if (get_le32(data + 44) != snapshot_crc32c(0, data, 44))
		return corrupt(why, cap, "header checksum mismatch");
	if (get_le32(data + 8) != 1 || get_le32(data + 12) != SNAPSHOT_HEADER_SIZE)
		return corrupt(why, cap, "unsupported snapshot version %u", get_le32(data + 8));
	uint64_t raw_size = get_le64(data + 24), clen = get_le64(data + 32);
	if (clen != len - SNAPSHOT_HEADER_SIZE)
		return corrupt(why, cap, "body is %zu bytes, header says %llu", len - SNAPSHOT_HEADER_SIZE,
			       (unsigned long long)clen);
	if (raw_size > SNAPSHOT_MAX_RAW)
		return GROVE_ETOOBIG;
	if (get_le32(data + 40) != snapshot_crc32c(0, data + SNAPSHOT_HEADER_SIZE, clen))
		return corrupt(why, cap, "body checksum mismatch");
	unsigned long long frame = ZSTD_getFrameContentSize(data + SNAPSHOT_HEADER_SIZE, clen);
	if (frame != raw_size)
		return corrupt(why, cap, "compressed frame does not match the header");
	uint8_t *out;
	int err = decompress_body(data + SNAPSHOT_HEADER_SIZE, clen, raw_size, &out);
	if (err == GROVE_ECORRUPT)
		return corrupt(why, cap, "body does not decompress to the %llu bytes the header says",
			       (unsigned long long)raw_size);
	if (err)
		return err;
	if (applied)
		*applied = get_le64(data + 16);
	*raw = out;
	*raw_len = raw_size;
	return GROVE_OK;
}

typedef int record_fn(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len);

/* Walk the records, handing each to @p fn when it is not NULL. */
static int walk_records(const uint8_t *raw, size_t len, record_fn *fn, void *ctx, char *why, size_t cap)
{
	size_t pos = 0;
	while (pos < len) {
		if (len - pos < 5)
			return corrupt(why, cap, "truncated record");
		uint8_t table = raw[pos];
		uint32_t klen = get_le32(raw + pos + 1);
		if (klen == 0 || klen > STORE_KEY_MAX || len - pos - 5 < (size_t)klen + 4)
			return corrupt(why, cap, "malformed record at byte %zu", pos);
		const uint8_t *key = raw + pos + 5;
		uint32_t vlen = get_le32(key + klen);
		if (len - pos - 9 - klen < vlen)
			return corrupt(why, cap, "malformed record at byte %zu", pos);
		if (fn) {
			int err = fn(ctx, table, key, klen, key + klen + 4, vlen);
			if (err)
				return err;
		}
		pos += 9 + (size_t)klen + vlen;
	}
	return GROVE_OK;
}

int snapshot_verify(const uint8_t *data, size_t len, uint64_t *applied_index, char *why, size_t why_cap)
{
	uint8_t *raw;
	size_t raw_len;
	int err = open_snapshot(data, len, applied_index, &raw, &raw_len, why, why_cap);
	if (err)
		return err;
	err = walk_records(raw, raw_len, NULL, NULL, why, why_cap);
	free(raw);
	return err;
}

int snapshot_for_each_record(const uint8_t *data, size_t len, record_fn *fn, void *ctx, char *why, size_t why_cap)
{
	uint8_t *raw;
	size_t raw_len;
	int err = open_snapshot(data, len, NULL, &raw, &raw_len, why, why_cap);
	if (err)
		return err;
	/* Every record is checked before the first one is handed out. */
	err = walk_records(raw, raw_len, NULL, NULL, why, why_cap);
	if (!err)
		err = walk_records(raw, raw_len, fn, ctx, why, why_cap);
	free(raw);
	return err;
}

int snapshot_receiver_put_any(struct snapshot_receiver *r, size_t offset, size_t total, const void *chunk, size_t len,
			      size_t max_total)
{
	if (total > max_total)
		return GROVE_ETOOBIG;
	if ((r->total && total != r->total) || offset > total || len > total - offset)
		return GROVE_ERANGE;
	if (r->n_ranges == r->cap_ranges &&
	    grove_grow((void **)&r->ranges, &r->cap_ranges, r->n_ranges, sizeof(*r->ranges)) != GROVE_OK)
		return GROVE_ENOMEM;
	if (!r->data) {
		r->data = malloc(total ? total : 1);
		if (!r->data)
			return GROVE_ENOMEM;
		r->total = total;
	}
	if (!len)
		return GROVE_OK; /* an empty chunk may come as NULL (protobuf's empty bytes) */
	/* Merge [offset, offset + len) with the ranges it overlaps or touches: those from `first` to `last`. */
	size_t start = offset, end = offset + len, first = 0;
	while (first < r->n_ranges && r->ranges[first].end < start)
		first++;
	size_t last = first;
	for (; last < r->n_ranges && r->ranges[last].start <= end; last++) {
		start = r->ranges[last].start < start ? r->ranges[last].start : start;
		end = r->ranges[last].end > end ? r->ranges[last].end : end;
	}
	if (last == first && r->n_ranges == SNAPSHOT_RECEIVER_MAX_RANGES)
		return GROVE_ERANGE;
	memcpy(r->data + offset, chunk, len);
	if (last == first) {
		memmove(r->ranges + first + 1, r->ranges + first, (r->n_ranges - first) * sizeof(*r->ranges));
		r->n_ranges++;
	} else {
		memmove(r->ranges + first + 1, r->ranges + last, (r->n_ranges - last) * sizeof(*r->ranges));
		r->n_ranges -= last - first - 1;
	}
	r->ranges[first] = (struct snapshot_range){start, end};
	r->len = r->ranges[0].start == 0 ? r->ranges[0].end : 0;
	return GROVE_OK;
}

int snapshot_receiver_put(struct snapshot_receiver *r, size_t offset, size_t total, const void *chunk, size_t len,
			  size_t max_total)
{
	if (total > max_total)
		return GROVE_ETOOBIG;
	if (offset != r->len)
		return GROVE_ERANGE;
	return snapshot_receiver_put_any(r, offset, total, chunk, len, max_total);
}

int snapshot_receiver_complete(const struct snapshot_receiver *r)
{
	return r->total > 0 && r->len == r->total;
}

void snapshot_receiver_free(struct snapshot_receiver *r)
{
	free(r->data);
	free(r->ranges);
	memset(r, 0, sizeof(*r));
}
