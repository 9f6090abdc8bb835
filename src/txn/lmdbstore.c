#include "src/txn/lmdbstore.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/txn/layout.h"

#define GROUP_BYTES 8
/** Longest key of the state machine's a table takes, after the group id. */
#define KEY_ROOM (STORE_KEY_MAX - GROUP_BYTES)

/* The longest key the state machine hands over: a seek past a version (shard.c's successor of a versions key:
 * key length u32, key, timestamp, one more byte). Anything longer would fail at run time, not here. */
_Static_assert(GROUP_BYTES + 4 + TXN_KEY_MAX + LAYOUT_TS_BYTES + 1 <= STORE_KEY_MAX,
	       "TXN_KEY_MAX leaves no room for the group id and the versions key's framing");

static const char *const table_names[TXN_TABLE_COUNT] = {
	[TXN_TABLE_INTENTS] = "txn.intents", [TXN_TABLE_VERSIONS] = "txn.versions",
	[TXN_TABLE_TSCACHE] = "txn.tscache", [TXN_TABLE_RECORDS] = "txn.records",
	[TXN_TABLE_FINISHED] = "txn.finished", [TXN_TABLE_META] = "txn.meta",
	[TXN_TABLE_EARLY] = "txn.early", [TXN_TABLE_RESOLVED] = "txn.resolved",
};

int txn_lmdbstore_open(struct store *store, struct txn_lmdbstore_tables *out)
{
	for (int t = 0; t < TXN_TABLE_COUNT; t++) {
		int err = store_db_open(store, table_names[t], true, &out->db[t]);
		if (err)
			return err;
	}
	return GROVE_OK;
}

/* The group id followed by @p key in @p out; false (nothing written) when it would not fit a table. */
static bool group_key(uint64_t group, const void *key, size_t len, uint8_t out[STORE_KEY_MAX], size_t *out_len)
{
	if (len > KEY_ROOM)
		return false;
	put_be64(out, group);
	if (len)
		memcpy(out + GROUP_BYTES, key, len);
	*out_len = GROUP_BYTES + len;
	return true;
}

/* A key the state machine handed over that no table can hold: a storage error for the state machine (the
 * command's writes are discarded), named in the log. */
static int key_too_long(const struct txn_lmdbstore *b, enum txn_table table, size_t len)
{
	fprintf(stderr, "txn store: group %llu: a key of %zu bytes for %s, which takes at most %d\n",
		(unsigned long long)b->group, len, table_names[table], KEY_ROOM);
	return GROVE_ESTORAGE;
}

static int lmdb_get(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *val)
{
	const struct txn_lmdbstore *b = ctx;
	uint8_t k[STORE_KEY_MAX];
	size_t k_len;
	if (!group_key(b->group, key.data, key.len, k, &k_len))
		return key_too_long(b, table, key.len);
	struct store_bytes v;
	int err = store_get(b->txn, b->tables->db[table], k, k_len, &v);
	if (err == GROVE_OK)
		*val = (struct txn_bytes){v.data, v.len};
	return err;
}

static int lmdb_put(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes val)
{
	const struct txn_lmdbstore *b = ctx;
	uint8_t k[STORE_KEY_MAX];
	size_t k_len;
	if (!group_key(b->group, key.data, key.len, k, &k_len))
		return key_too_long(b, table, key.len);
	int err = store_put(b->txn, b->tables->db[table], k, k_len, val.data, val.len);
	/* store_put's only refusal is a key of the wrong length, which group_key() rules out. */
	return err == GROVE_EINVAL ? GROVE_ESTORAGE : err;
}

static int lmdb_del(void *ctx, enum txn_table table, struct txn_bytes key)
{
	const struct txn_lmdbstore *b = ctx;
	uint8_t k[STORE_KEY_MAX];
	size_t k_len;
	if (!group_key(b->group, key.data, key.len, k, &k_len))
		return key_too_long(b, table, key.len);
	return store_del(b->txn, b->tables->db[table], k, k_len);
}

/* Whether a table's key @p k is group @p group's; then its key without the group id in @p out. */
static bool in_group(uint64_t group, struct store_bytes k, struct store_bytes *out)
{
	if (k.len < GROUP_BYTES || get_be64(k.data) != group)
		return false;
	*out = (struct store_bytes){(const uint8_t *)k.data + GROUP_BYTES, k.len - GROUP_BYTES};
	return true;
}

static int lmdb_seek(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *key_out,
		     struct txn_bytes *val_out)
{
	const struct txn_lmdbstore *b = ctx;
	uint8_t k[STORE_KEY_MAX];
	size_t k_len;
	if (!group_key(b->group, key.data, key.len, k, &k_len))
		return key_too_long(b, table, key.len);
	struct store_cursor *c;
	int err = store_cursor_open(b->txn, b->tables->db[table], &c);
	if (err)
		return err;
	struct store_bytes at, v, stripped;
	err = store_cursor_seek(c, k, k_len, &at, &v);
	/* The bytes live in the transaction's pages, not in the cursor: they outlive it. */
	store_cursor_close(c);
	if (err)
		return err;
	if (!in_group(b->group, at, &stripped))
		return GROVE_ENOTFOUND; /* past the group's last key: another group's, or none */
	*key_out = (struct txn_bytes){stripped.data, stripped.len};
	*val_out = (struct txn_bytes){v.data, v.len};
	return GROVE_OK;
}

static const struct txn_store_ops lmdb_ops = {lmdb_get, lmdb_put, lmdb_del, lmdb_seek};

struct txn_store txn_lmdbstore_store(struct txn_lmdbstore *b)
{
	return (struct txn_store){&lmdb_ops, b};
}

int txn_lmdbstore_dump(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group,
		       int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
				   size_t val_len),
		       void *ctx)
{
	uint8_t prefix[GROUP_BYTES];
	put_be64(prefix, group);
	for (unsigned table = 0; table < TXN_TABLE_COUNT; table++) {
		struct store_cursor *c;
		int err = store_cursor_open(txn, tables->db[table], &c);
		if (err)
			return err;
		struct store_bytes k, v, stripped;
		for (err = store_cursor_seek(c, prefix, sizeof(prefix), &k, &v); err == GROVE_OK;
		     err = store_cursor_next(c, &k, &v)) {
			if (!in_group(group, k, &stripped)) {
				err = GROVE_ENOTFOUND;
				break;
			}
			err = emit(ctx, table, stripped.data, stripped.len, v.data, v.len);
			if (err)
				break;
		}
		store_cursor_close(c);
		if (err != GROVE_ENOTFOUND)
			return err;
	}
	return GROVE_OK;
}

int txn_lmdbstore_delete(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group)
{
	uint8_t prefix[GROUP_BYTES];
	put_be64(prefix, group);
	for (int table = 0; table < TXN_TABLE_COUNT; table++) {
		int err = store_del_prefix(txn, tables->db[table], prefix, sizeof(prefix));
		if (err)
			return err;
	}
	return GROVE_OK;
}

int txn_lmdbstore_load_begin(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group)
{
	return txn_lmdbstore_delete(tables, txn, group);
}

int txn_lmdbstore_load_record(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group,
			      unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	uint8_t k[STORE_KEY_MAX];
	size_t k_len;
	if (table >= TXN_TABLE_COUNT || !group_key(group, key, key_len, k, &k_len))
		return GROVE_ECORRUPT;
	int err = store_put(txn, tables->db[table], k, k_len, val, val_len);
	return err == GROVE_EINVAL ? GROVE_ESTORAGE : err;
}
