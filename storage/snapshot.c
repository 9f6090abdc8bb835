#include "storage/snapshot.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "src/common/error.h"
#include "storage/bytes.h"

static const char magic[8] = {'G', 'R', 'O', 'V', 'E', 'S', 'N', '1'};

/* The tables a snapshot holds: the state machine, not the Raft log. */
static const enum store_table snapshot_tables[] = {
	STORE_META,  STORE_NODES, STORE_CHILDREN,      STORE_ORDER,     STORE_PROPS,
	STORE_GROUPS, STORE_CONNS, STORE_CONNS_BY_NODE, STORE_RESOURCES,
};
#define N_TABLES (sizeof(snapshot_tables) / sizeof(snapshot_tables[0]))

uint32_t snapshot_crc32c(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	static int ready;
	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0x82f63b78u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = 1;
	}
	const uint8_t *p = data;
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* A growable byte buffer. */
struct bytes {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};

static void bytes_put(struct bytes *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 1 << 16;
		while (ncap < b->len + n)
			ncap *= 2;
		uint8_t *grown = realloc(b->data, ncap);
		if (!grown) {
			b->failed = true;
			return;
		}
		b->data = grown;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void bytes_u32(struct bytes *b, uint32_t v)
{
	uint8_t t[4];
	put_le32(t, v);
	bytes_put(b, t, 4);
}

/* Serialize every record of the snapshot tables. */
static int serialize(struct store_txn *txn, struct bytes *raw)
{
	for (size_t t = 0; t < N_TABLES; t++) {
		struct store_cursor *c;
		int err = store_cursor_open(txn, snapshot_tables[t], &c);
		if (err)
			return err;
		struct store_bytes k, v;
		for (err = store_cursor_seek(c, NULL, 0, &k, &v); err == GROVE_OK; err = store_cursor_next(c, &k, &v)) {
			uint8_t table = (uint8_t)snapshot_tables[t];
			bytes_put(raw, &table, 1);
			bytes_u32(raw, (uint32_t)k.len);
			bytes_put(raw, k.data, k.len);
			bytes_u32(raw, (uint32_t)v.len);
			bytes_put(raw, v.data, v.len);
		}
		store_cursor_close(c);
		if (err != GROVE_ENOTFOUND)
			return err;
	}
	return raw->failed ? GROVE_ENOMEM : GROVE_OK;
}

int snapshot_create(struct store *s, int level, struct snapshot *out)
{
	memset(out, 0, sizeof(*out));
	struct store_txn *txn;
	int err = store_txn_begin(s, NULL, false, &txn);
	if (err)
		return err;
	uint64_t applied = 0;
	struct bytes raw = {0};
	err = store_meta_get_u64(txn, "applied_index", 0, &applied);
	if (!err)
		err = serialize(txn, &raw);
	store_txn_abort(txn);
	if (err) {
		free(raw.data);
		return err;
	}
	size_t bound = ZSTD_compressBound(raw.len);
	uint8_t *buf = malloc(SNAPSHOT_HEADER_SIZE + bound);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	if (!buf || !cctx) {
		free(buf);
		free(raw.data);
		ZSTD_freeCCtx(cctx);
		return GROVE_ENOMEM;
	}
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level > 0 ? level : 3);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	size_t clen = ZSTD_compress2(cctx, buf + SNAPSHOT_HEADER_SIZE, bound, raw.data, raw.len);
	ZSTD_freeCCtx(cctx);
	free(raw.data);
	if (ZSTD_isError(clen)) {
		free(buf);
		return GROVE_EIO;
	}
	uint8_t *h = buf;
	memcpy(h, magic, 8);
	put_le32(h + 8, 1);
	put_le32(h + 12, SNAPSHOT_HEADER_SIZE);
	put_le64(h + 16, applied);
	put_le64(h + 24, raw.len);
	put_le64(h + 32, clen);
	put_le32(h + 40, snapshot_crc32c(0, buf + SNAPSHOT_HEADER_SIZE, clen));
	put_le32(h + 44, snapshot_crc32c(0, h, 44));
	out->data = buf;
	out->len = SNAPSHOT_HEADER_SIZE + clen;
	out->applied_index = applied;
	out->raw_size = raw.len;
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
	uint8_t *out = malloc(raw_size ? raw_size : 1);
	if (!out)
		return GROVE_ENOMEM;
	size_t got = ZSTD_decompress(out, raw_size, data + SNAPSHOT_HEADER_SIZE, clen);
	if (ZSTD_isError(got) || got != raw_size) {
		free(out);
		return corrupt(why, cap, "body does not decompress");
	}
	if (applied)
		*applied = get_le64(data + 16);
	*raw = out;
	*raw_len = raw_size;
	return GROVE_OK;
}

/* Walk the records; with @p txn set, write them. */
static int walk_records(const uint8_t *raw, size_t len, struct store_txn *txn, char *why, size_t cap)
{
	size_t pos = 0;
	while (pos < len) {
		if (len - pos < 5)
			return corrupt(why, cap, "truncated record");
		uint8_t table = raw[pos];
		bool known = false;
		for (size_t t = 0; t < N_TABLES; t++)
			known |= snapshot_tables[t] == table;
		uint32_t klen = get_le32(raw + pos + 1);
		if (!known || klen == 0 || klen > 511 || len - pos - 5 < (size_t)klen + 4)
			return corrupt(why, cap, "malformed record at byte %zu", pos);
		const uint8_t *key = raw + pos + 5;
		uint32_t vlen = get_le32(key + klen);
		if (len - pos - 9 - klen < vlen)
			return corrupt(why, cap, "malformed record at byte %zu", pos);
		if (txn) {
			int err = store_put(txn, (enum store_table)table, key, klen, key + klen + 4, vlen);
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
	err = walk_records(raw, raw_len, NULL, why, why_cap);
	free(raw);
	return err;
}

/* Delete every entry of @p table. */
static int clear_table(struct store_txn *txn, enum store_table table)
{
	struct store_cursor *c;
	for (;;) {
		int err = store_cursor_open(txn, table, &c);
		if (err)
			return err;
		struct store_bytes k;
		uint8_t key[512];
		size_t klen = 0;
		err = store_cursor_seek(c, NULL, 0, &k, NULL);
		if (!err && k.len <= sizeof(key)) {
			memcpy(key, k.data, k.len);
			klen = k.len;
		}
		store_cursor_close(c);
		if (err == GROVE_ENOTFOUND)
			return GROVE_OK;
		if (err)
			return err;
		if (!klen)
			return GROVE_ECORRUPT;
		err = store_del(txn, table, key, klen);
		if (err)
			return err;
	}
}

int snapshot_install_txn(struct store_txn *txn, const uint8_t *data, size_t len, char *why, size_t why_cap)
{
	uint8_t *raw;
	size_t raw_len;
	int err = open_snapshot(data, len, NULL, &raw, &raw_len, why, why_cap);
	if (err)
		return err;
	/* Check every record before deleting anything. */
	err = walk_records(raw, raw_len, NULL, why, why_cap);
	for (size_t t = 0; !err && t < N_TABLES; t++)
		err = clear_table(txn, snapshot_tables[t]);
	if (!err)
		err = walk_records(raw, raw_len, txn, why, why_cap);
	free(raw);
	return err;
}

int snapshot_install(struct store *s, const uint8_t *data, size_t len, char *why, size_t why_cap)
{
	struct store_txn *txn;
	int err = store_txn_begin(s, NULL, true, &txn);
	if (err)
		return err;
	err = snapshot_install_txn(txn, data, len, why, why_cap);
	if (err) {
		store_txn_abort(txn);
		return err;
	}
	return store_txn_commit(txn);
}

int snapshot_receiver_put(struct snapshot_receiver *r, size_t offset, size_t total, const void *chunk, size_t len,
			  size_t max_total)
{
	if (total > max_total)
		return GROVE_ETOOBIG;
	if (offset != r->len || (r->total && total != r->total) || len > total - offset)
		return GROVE_ERANGE;
	if (!r->data) {
		r->data = malloc(total ? total : 1);
		if (!r->data)
			return GROVE_ENOMEM;
		r->cap = total;
		r->total = total;
	}
	memcpy(r->data + r->len, chunk, len);
	r->len += len;
	return GROVE_OK;
}

int snapshot_receiver_complete(const struct snapshot_receiver *r)
{
	return r->total > 0 && r->len == r->total;
}

void snapshot_receiver_free(struct snapshot_receiver *r)
{
	free(r->data);
	memset(r, 0, sizeof(*r));
}
