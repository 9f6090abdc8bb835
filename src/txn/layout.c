#include "src/txn/layout.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/bytes.h"

void layout_put(struct layout_writer *w, const void *data, size_t len)
{
	if (w->failed || !len)
		return;
	if (w->cap - w->len < len) {
		size_t cap = w->cap ? w->cap : 64;
		while (cap - w->len < len)
			cap *= 2;
		uint8_t *grown = realloc(w->data, cap);
		if (!grown) {
			w->failed = true;
			return;
		}
		w->data = grown;
		w->cap = cap;
	}
	memcpy(w->data + w->len, data, len);
	w->len += len;
}

void layout_u8(struct layout_writer *w, uint8_t v)
{
	layout_put(w, &v, 1);
}

void layout_u32(struct layout_writer *w, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	layout_put(w, b, 4);
}

void layout_u64(struct layout_writer *w, uint64_t v)
{
	uint8_t b[8];
	put_le64(b, v);
	layout_put(w, b, 8);
}

void layout_ts(struct layout_writer *w, struct hlc_ts ts)
{
	layout_u64(w, ts.wall);
	layout_u32(w, ts.logical);
}

void layout_bytes(struct layout_writer *w, struct txn_bytes b)
{
	layout_u32(w, (uint32_t)b.len);
	layout_put(w, b.data, b.len);
}

void layout_meta(struct layout_writer *w, const struct txn_meta *m)
{
	layout_u64(w, m->id);
	layout_u64(w, m->anchor);
	layout_u32(w, m->epoch);
	layout_u32(w, m->seq);
	layout_ts(w, m->ts);
	layout_ts(w, m->start);
}

void layout_write_refs(struct layout_writer *w, const struct txn_write_ref *refs, size_t n)
{
	layout_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		layout_u64(w, refs[i].shard);
		layout_u32(w, refs[i].seq);
		layout_bytes(w, refs[i].key);
	}
}

void layout_record(struct layout_writer *w, const struct txn_record *rec)
{
	layout_u8(w, (uint8_t)rec->status);
	layout_u32(w, rec->epoch);
	layout_u32(w, rec->seq);
	layout_ts(w, rec->ts);
	layout_u64(w, rec->heartbeat);
	layout_write_refs(w, rec->writes, rec->n_writes);
}

static bool need(struct layout_reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return false;
	}
	return true;
}

uint8_t layout_get_u8(struct layout_reader *r)
{
	if (!need(r, 1))
		return 0;
	return *r->p++;
}

uint32_t layout_get_u32(struct layout_reader *r)
{
	if (!need(r, 4))
		return 0;
	uint32_t v = get_le32(r->p);
	r->p += 4;
	return v;
}

uint64_t layout_get_u64(struct layout_reader *r)
{
	if (!need(r, 8))
		return 0;
	uint64_t v = get_le64(r->p);
	r->p += 8;
	return v;
}

struct hlc_ts layout_get_ts(struct layout_reader *r)
{
	struct hlc_ts ts;
	ts.wall = layout_get_u64(r);
	ts.logical = layout_get_u32(r);
	return ts;
}

struct txn_bytes layout_get_bytes(struct layout_reader *r, size_t max)
{
	uint32_t len = layout_get_u32(r);
	if (len > max) {
		r->bad = true;
		return (struct txn_bytes){NULL, 0};
	}
	if (!need(r, len))
		return (struct txn_bytes){NULL, 0};
	struct txn_bytes b = {len ? r->p : NULL, len};
	r->p += len;
	return b;
}

void layout_get_meta(struct layout_reader *r, struct txn_meta *m)
{
	m->id = layout_get_u64(r);
	m->anchor = layout_get_u64(r);
	m->epoch = layout_get_u32(r);
	m->seq = layout_get_u32(r);
	m->ts = layout_get_ts(r);
	m->start = layout_get_ts(r);
}

int layout_get_write_refs(struct layout_reader *r, struct txn_write_ref **refs, size_t *n)
{
	*refs = NULL;
	*n = 0;
	uint32_t count = layout_get_u32(r);
	if (count > TXN_WRITES_MAX || (size_t)(r->end - r->p) / LAYOUT_WRITE_REF_MIN < count)
		r->bad = true;
	if (r->bad || count == 0)
		return GROVE_OK;
	struct txn_write_ref *list = calloc(count, sizeof(*list));
	if (!list)
		return GROVE_ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		list[i].shard = layout_get_u64(r);
		list[i].seq = layout_get_u32(r);
		list[i].key = layout_get_bytes(r, TXN_KEY_MAX);
	}
	*refs = list;
	*n = count;
	return GROVE_OK;
}

int layout_get_record(struct layout_reader *r, struct txn_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	struct txn_record borrowed;
	uint8_t status = layout_get_u8(r);
	borrowed.status = (enum txn_status)status;
	borrowed.epoch = layout_get_u32(r);
	borrowed.seq = layout_get_u32(r);
	borrowed.ts = layout_get_ts(r);
	borrowed.heartbeat = layout_get_u64(r);
	if (status > TXN_ABORTED)
		r->bad = true;
	int err = layout_get_write_refs(r, &borrowed.writes, &borrowed.n_writes);
	if (!err && !r->bad)
		err = txn_record_copy(rec, &borrowed); /* the keys were borrowed from the reader's buffer */
	else if (!err)
		err = GROVE_ECORRUPT;
	free(borrowed.writes);
	return err;
}
