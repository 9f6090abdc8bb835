#include "storage/raftlog.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

/* Keys are big-endian so a group's entries sort by index. */
static void be64(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t from_be64(const uint8_t *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

static size_t entry_key(uint8_t key[16], uint64_t group, uint64_t index)
{
	be64(key, group);
	be64(key + 8, index);
	return 16;
}

static size_t state_key(uint8_t key[40], uint64_t group, const char *name)
{
	size_t n = strlen(name);
	be64(key, group);
	memcpy(key + 8, name, n);
	return 8 + n;
}

static int put_bounds(struct store_txn *txn, uint64_t group, const struct raftlog_bounds *b)
{
	uint8_t key[40], val[24];
	size_t klen = state_key(key, group, "bounds");
	be64(val, b->first);
	be64(val + 8, b->last);
	be64(val + 16, b->snapshot_term);
	return store_put(txn, STORE_RAFT_STATE, key, klen, val, sizeof(val));
}

int raftlog_get_bounds(struct store_txn *txn, uint64_t group, struct raftlog_bounds *out)
{
	uint8_t key[40];
	size_t klen = state_key(key, group, "bounds");
	struct store_bytes v;
	int err = store_get(txn, STORE_RAFT_STATE, key, klen, &v);
	if (err == GROVE_ENOTFOUND) {
		*out = (struct raftlog_bounds){.first = 1, .last = 0, .snapshot_term = 0};
		return GROVE_OK;
	}
	if (err)
		return err;
	if (v.len != 24)
		return GROVE_ECORRUPT;
	out->first = from_be64(v.data);
	out->last = from_be64((const uint8_t *)v.data + 8);
	out->snapshot_term = from_be64((const uint8_t *)v.data + 16);
	return out->first == 0 || out->last + 1 < out->first ? GROVE_ECORRUPT : GROVE_OK;
}

/* Delete entries [from, to] of @p group. */
static int delete_range(struct store_txn *txn, uint64_t group, uint64_t from, uint64_t to)
{
	uint8_t key[16];
	for (uint64_t i = from; i <= to && i != 0; i++) {
		entry_key(key, group, i);
		int err = store_del(txn, STORE_RAFT_LOG, key, sizeof(key));
		if (err)
			return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
	}
	return GROVE_OK;
}

int raftlog_append(struct store_txn *txn, uint64_t group, const struct raftlog_entry *entries, size_t n)
{
	if (n == 0)
		return GROVE_OK;
	struct raftlog_bounds b;
	int err = raftlog_get_bounds(txn, group, &b);
	if (err)
		return err;
	uint64_t start = entries[0].index;
	if (start < b.first || start > b.last + 1)
		return GROVE_EINVAL;
	for (size_t i = 1; i < n; i++) {
		if (entries[i].index != start + i)
			return GROVE_EINVAL;
	}
	if (start <= b.last) {
		err = delete_range(txn, group, start, b.last);
		if (err)
			return err;
	}
	uint8_t key[16];
	uint8_t *val = NULL;
	size_t cap = 0;
	for (size_t i = 0; i < n && !err; i++) {
		size_t need = 12 + entries[i].len;
		if (need > cap) {
			uint8_t *grown = realloc(val, need);
			if (!grown) {
				err = GROVE_ENOMEM;
				break;
			}
			val = grown;
			cap = need;
		}
		be64(val, entries[i].term);
		val[8] = (uint8_t)(entries[i].type >> 24);
		val[9] = (uint8_t)(entries[i].type >> 16);
		val[10] = (uint8_t)(entries[i].type >> 8);
		val[11] = (uint8_t)entries[i].type;
		if (entries[i].len)
			memcpy(val + 12, entries[i].data, entries[i].len);
		entry_key(key, group, entries[i].index);
		err = store_put(txn, STORE_RAFT_LOG, key, sizeof(key), val, need);
	}
	free(val);
	if (err)
		return err;
	b.last = start + n - 1;
	return put_bounds(txn, group, &b);
}

int raftlog_get(struct store_txn *txn, uint64_t group, uint64_t index, struct raftlog_entry *out)
{
	uint8_t key[16];
	entry_key(key, group, index);
	struct store_bytes v;
	int err = store_get(txn, STORE_RAFT_LOG, key, sizeof(key), &v);
	if (err)
		return err;
	if (v.len < 12)
		return GROVE_ECORRUPT;
	const uint8_t *p = v.data;
	out->index = index;
	out->term = from_be64(p);
	out->type = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	out->data = p + 12;
	out->len = v.len - 12;
	return GROVE_OK;
}

int raftlog_term(struct store_txn *txn, uint64_t group, uint64_t index, uint64_t *term)
{
	struct raftlog_bounds b;
	int err = raftlog_get_bounds(txn, group, &b);
	if (err)
		return err;
	if (index + 1 == b.first) {
		*term = b.snapshot_term;
		return GROVE_OK;
	}
	if (index < b.first || index > b.last)
		return GROVE_ENOTFOUND;
	struct raftlog_entry e;
	err = raftlog_get(txn, group, index, &e);
	if (err == GROVE_ENOTFOUND)
		return GROVE_ECORRUPT;
	if (!err)
		*term = e.term;
	return err;
}

int raftlog_compact(struct store_txn *txn, uint64_t group, uint64_t index, uint64_t term)
{
	struct raftlog_bounds b;
	int err = raftlog_get_bounds(txn, group, &b);
	if (err)
		return err;
	if (index + 1 < b.first)
		return GROVE_EINVAL;
	uint64_t upto = index < b.last ? index : b.last;
	if (upto >= b.first) {
		err = delete_range(txn, group, b.first, upto);
		if (err)
			return err;
	}
	b.first = index + 1;
	if (b.last < index)
		b.last = index;
	b.snapshot_term = term;
	return put_bounds(txn, group, &b);
}

int raftlog_put_hard_state(struct store_txn *txn, uint64_t group, const struct raftlog_hard_state *hs)
{
	uint8_t key[40], val[24];
	size_t klen = state_key(key, group, "hard");
	be64(val, hs->term);
	be64(val + 8, hs->vote);
	be64(val + 16, hs->commit);
	return store_put(txn, STORE_RAFT_STATE, key, klen, val, sizeof(val));
}

int raftlog_get_hard_state(struct store_txn *txn, uint64_t group, struct raftlog_hard_state *hs)
{
	uint8_t key[40];
	size_t klen = state_key(key, group, "hard");
	struct store_bytes v;
	int err = store_get(txn, STORE_RAFT_STATE, key, klen, &v);
	if (err == GROVE_ENOTFOUND) {
		*hs = (struct raftlog_hard_state){0};
		return GROVE_OK;
	}
	if (err)
		return err;
	if (v.len != 24)
		return GROVE_ECORRUPT;
	hs->term = from_be64(v.data);
	hs->vote = from_be64((const uint8_t *)v.data + 8);
	hs->commit = from_be64((const uint8_t *)v.data + 16);
	return GROVE_OK;
}

int raftlog_put_conf_state(struct store_txn *txn, uint64_t group, const void *data, size_t len)
{
	uint8_t key[40];
	size_t klen = state_key(key, group, "conf");
	return store_put(txn, STORE_RAFT_STATE, key, klen, data, len);
}

int raftlog_get_conf_state(struct store_txn *txn, uint64_t group, struct store_bytes *out)
{
	uint8_t key[40];
	size_t klen = state_key(key, group, "conf");
	return store_get(txn, STORE_RAFT_STATE, key, klen, out);
}
