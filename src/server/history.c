#include "src/server/history.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/bytes.h"
#include "src/common/error.h"

#define DEFAULT_MAX_ENTRIES 100000
#define DEFAULT_MAX_BYTES (64ull << 20)
/* The totals' key sorts after every index of the group. */
#define TOTALS_INDEX UINT64_MAX

int history_open(struct store *s, uint64_t max_entries, uint64_t max_bytes, struct history *out)
{
	out->max_entries = max_entries ? max_entries : DEFAULT_MAX_ENTRIES;
	out->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
	return store_db_open(s, "history", true, &out->db);
}

static void key_of(uint64_t group, uint64_t index, uint8_t out[16])
{
	put_be64(out, group);
	put_be64(out + 8, index);
}

struct totals {
	uint64_t entries, bytes;
};

static int get_totals(const struct history *h, struct store_txn *txn, uint64_t group, struct totals *t)
{
	uint8_t k[16];
	key_of(group, TOTALS_INDEX, k);
	return store_get_u64_pair(txn, h->db, k, sizeof(k), &t->entries, &t->bytes);
}

static int put_totals(const struct history *h, struct store_txn *txn, uint64_t group, const struct totals *t)
{
	uint8_t k[16];
	key_of(group, TOTALS_INDEX, k);
	return store_put_u64_pair(txn, h->db, k, sizeof(k), t->entries, t->bytes);
}

int history_oldest(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t *oldest)
{
	*oldest = 0;
	struct store_cursor *c;
	int err = store_cursor_open(txn, h->db, &c);
	if (err)
		return err;
	uint8_t k[16];
	key_of(group, 0, k);
	struct store_bytes at;
	err = store_cursor_seek(c, k, sizeof(k), &at, NULL);
	if (!err && at.len == 16 && get_be64(at.data) == group && get_be64((const uint8_t *)at.data + 8) != TOTALS_INDEX)
		*oldest = get_be64((const uint8_t *)at.data + 8);
	store_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int history_append(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t index, const void *bytes,
		   size_t len)
{
	struct totals t;
	uint8_t k[16];
	key_of(group, index, k);
	struct store_bytes old;
	int err = get_totals(h, txn, group, &t);
	/* An entry applied again after a crash replaces its own record. */
	int had = err ? err : store_get(txn, h->db, k, sizeof(k), &old);
	if (had == GROVE_OK && t.entries && t.bytes >= old.len) {
		t.entries--;
		t.bytes -= old.len;
	} else if (had != GROVE_ENOTFOUND) {
		return had;
	}
	err = store_put(txn, h->db, k, sizeof(k), bytes, len);
	t.entries++;
	t.bytes += len;
	while (!err && (t.entries > h->max_entries || t.bytes > h->max_bytes)) {
		uint64_t oldest;
		err = history_oldest(h, txn, group, &oldest);
		if (err || !oldest || oldest == index)
			break;
		key_of(group, oldest, k);
		err = store_get(txn, h->db, k, sizeof(k), &old);
		if (!err) {
			t.entries--;
			t.bytes -= old.len < t.bytes ? old.len : t.bytes;
			err = store_del(txn, h->db, k, sizeof(k));
		}
	}
	return err ? err : put_totals(h, txn, group, &t);
}

int history_read(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t from, size_t max_entries,
		 size_t max_bytes, int (*fn)(void *ctx, uint64_t index, const uint8_t *bytes, size_t len), void *ctx)
{
	struct store_cursor *c;
	int err = store_cursor_open(txn, h->db, &c);
	if (err)
		return err;
	uint8_t k[16];
	key_of(group, from, k);
	struct store_bytes at, v;
	size_t entries = 0, bytes = 0;
	uint64_t want = from;
	for (err = store_cursor_seek(c, k, sizeof(k), &at, &v); err == GROVE_OK && entries < max_entries &&
								   (entries == 0 || bytes + v.len <= max_bytes);
	     err = store_cursor_next(c, &at, &v)) {
		if (at.len != 16 || get_be64(at.data) != group)
			break;
		uint64_t index = get_be64((const uint8_t *)at.data + 8);
		if (index == TOTALS_INDEX)
			break;
		if (index != want) {
			err = GROVE_ERANGE; /* the history no longer holds what comes next */
			break;
		}
		err = fn(ctx, index, v.data, v.len);
		if (err)
			break;
		entries++;
		bytes += v.len;
		want++;
	}
	store_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/* ---- the records ---- */

static void put_str(struct grove_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	grove_buf_le32(b, (uint32_t)n);
	grove_buf_put(b, s, n);
}

int history_encode(const struct tree_change *changes, size_t n, struct grove_buf *out)
{
	grove_buf_le32(out, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct tree_change *c = &changes[i];
		grove_buf_u8(out, (uint8_t)c->op);
		grove_buf_le64(out, c->node);
		grove_buf_le64(out, c->parent);
		grove_buf_le64(out, c->old_parent);
		grove_buf_le64(out, (uint64_t)c->index);
		grove_buf_le64(out, (uint64_t)c->old_index);
		grove_buf_le32(out, c->flags);
		const char *strings[] = {c->name, c->old_name, c->path, c->old_path, c->node_class, c->text, c->instance};
		for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++)
			put_str(out, strings[s]);
		grove_buf_le32(out, (uint32_t)c->value.len);
		grove_buf_put(out, c->value.data, c->value.len);
	}
	return out->failed ? GROVE_ENOMEM : GROVE_OK;
}

/* A bounds-checked reader. */
struct reader {
	const uint8_t *p, *end;
	bool bad, oom;
};

static const uint8_t *take(struct reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *at = r->p;
	r->p += n;
	return at;
}

static uint64_t take64(struct reader *r)
{
	const uint8_t *at = take(r, 8);
	return at ? get_le64(at) : 0;
}

static uint32_t take32(struct reader *r)
{
	const uint8_t *at = take(r, 4);
	return at ? get_le32(at) : 0;
}

/* A string, NULL when empty (absent fields were NULL when encoded). */
static char *take_str(struct reader *r)
{
	uint32_t n = take32(r);
	const uint8_t *at = take(r, n);
	if (!at || !n)
		return NULL;
	char *s = malloc(n + 1);
	if (!s) {
		r->bad = r->oom = true;
		return NULL;
	}
	memcpy(s, at, n);
	s[n] = '\0';
	return s;
}

int history_decode(const uint8_t *bytes, size_t len, struct tree_change **out, size_t *n)
{
	struct reader r = {bytes, bytes + len, false, false};
	*out = NULL;
	*n = 0;
	uint32_t count = len ? take32(&r) : 0;
	if (r.bad || count > len / 40)
		return GROVE_ECORRUPT; /* every change takes at least 40 bytes */
	struct tree_change *c = calloc(count ? count : 1, sizeof(*c));
	if (!c)
		return GROVE_ENOMEM;
	size_t i = 0;
	for (; i < count && !r.bad; i++) {
		const uint8_t *op = take(&r, 1);
		c[i].op = op ? (enum tree_op_kind)*op : 0;
		c[i].node = take64(&r);
		c[i].parent = take64(&r);
		c[i].old_parent = take64(&r);
		c[i].index = (int64_t)take64(&r);
		c[i].old_index = (int64_t)take64(&r);
		c[i].flags = take32(&r);
		char **strings[] = {&c[i].name,      &c[i].old_name, &c[i].path,    &c[i].old_path,
				    &c[i].node_class, &c[i].text,     &c[i].instance};
		for (size_t s = 0; s < sizeof(strings) / sizeof(strings[0]); s++)
			*strings[s] = take_str(&r);
		uint32_t vlen = take32(&r);
		const uint8_t *v = take(&r, vlen);
		if (v)
			grove_buf_put(&c[i].value, v, vlen);
		r.oom |= c[i].value.failed;
	}
	if (r.bad || r.p != r.end) {
		for (size_t k = 0; k < i; k++)
			tree_change_free(&c[k]);
		free(c);
		return r.oom ? GROVE_ENOMEM : GROVE_ECORRUPT;
	}
	*out = c;
	*n = count;
	return GROVE_OK;
}
