#include "src/server/shard_sm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/bytes.h"
#include "src/common/error.h"
#include "storage/snapshot.h"

static const char map_name[] = "map";

static size_t map_key(const struct shard_sm *s, uint8_t key[16])
{
	put_be64(key, s->group);
	memcpy(key + 8, map_name, sizeof(map_name) - 1);
	return 8 + sizeof(map_name) - 1;
}

static int save(struct shard_sm *s, struct store_txn *txn)
{
	struct grove_buf b = {0};
	int err = shard_map_encode(&s->map, &b);
	uint8_t key[16];
	if (!err)
		err = store_put(txn, s->db, key, map_key(s, key), b.data, b.len);
	grove_buf_free(&b);
	return err;
}

int shard_sm_open(struct store *store, uint64_t group, uint64_t world, uint64_t first_group, const uint64_t *members,
		  size_t n, struct shard_sm *out)
{
	memset(out, 0, sizeof(*out));
	out->group = group;
	int err = store_db_open(store, "shard.map", true, &out->db);
	struct store_txn *txn;
	if (!err)
		err = store_txn_begin(store, NULL, false, &txn);
	if (err)
		return err;
	uint8_t key[16];
	struct store_bytes v;
	err = store_get(txn, out->db, key, map_key(out, key), &v);
	if (err == GROVE_OK)
		err = shard_map_decode(&out->map, v.data, v.len);
	else if (err == GROVE_ENOTFOUND)
		err = shard_map_init(&out->map, world, first_group, members, n);
	store_txn_abort(txn);
	if (err)
		shard_map_free(&out->map);
	return err;
}

void shard_sm_close(struct shard_sm *s)
{
	shard_map_free(&s->map);
}

static int apply(void *sm, struct store_txn *txn, uint64_t index, const uint8_t *data, size_t len,
		 struct tree_result *out)
{
	(void)index;
	struct shard_sm *s = sm;
	struct shard_cmd cmd;
	if (shard_cmd_decode(data, len, &cmd) != GROVE_OK) {
		out->err = GROVE_EPROTO;
		snprintf(out->message, sizeof(out->message), "the shard map command does not decode");
		return GROVE_OK;
	}
	uint64_t group;
	out->err = shard_map_apply(&s->map, &cmd, &group, out->message, sizeof(out->message));
	if (out->err == GROVE_ENOMEM)
		return GROVE_ENOMEM;
	if (!(out->ids = malloc(sizeof(*out->ids))))
		return GROVE_ENOMEM;
	out->ids[0] = group;
	out->count = 1;
	if (out->err)
		return GROVE_OK;
	if (cmd.kind == SHARD_CMD_ABORT) {
		/* Whoever waits for the split hears why the source refused it. */
		out->failed_op = cmd.code;
		snprintf(out->message, sizeof(out->message), "%s", cmd.reason);
	}
	return save(s, txn);
}

static int snapshot(void *sm, struct store_txn *txn, struct snapshot_builder *b)
{
	(void)txn;
	struct shard_sm *s = sm;
	struct grove_buf map = {0};
	int err = shard_map_encode(&s->map, &map);
	if (!err)
		err = snapshot_add_record(b, SHARD_SM_TABLE_MAP, map_name, sizeof(map_name) - 1, map.data, map.len);
	grove_buf_free(&map);
	return err;
}

struct loading {
	struct shard_map map;
	bool found;
};

static int load_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct loading *l = ctx;
	if (table != SHARD_SM_TABLE_MAP || key_len != sizeof(map_name) - 1 || memcmp(key, map_name, key_len) != 0)
		return GROVE_ECORRUPT;
	l->found = true;
	return shard_map_decode(&l->map, val, val_len);
}

static int restore(void *sm, struct store_txn *txn, const uint8_t *data, size_t len, char *why, size_t why_cap)
{
	struct shard_sm *s = sm;
	struct loading l = {0};
	int err = snapshot_for_each_record(data, len, load_record, &l, why, why_cap);
	if (!err && !l.found)
		err = GROVE_ECORRUPT;
	if (err) {
		if (err == GROVE_ECORRUPT && why && !why[0])
			snprintf(why, why_cap, "the snapshot does not hold a shard map");
		shard_map_free(&l.map);
		return err;
	}
	shard_map_free(&s->map);
	s->map = l.map;
	return save(s, txn);
}

const struct state_machine_ops shard_sm_ops = {.apply = apply, .snapshot = snapshot, .restore = restore};
