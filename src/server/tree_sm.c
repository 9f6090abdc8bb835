#include "src/server/tree_sm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/wire.h"

int tree_sm_open(struct store *store, uint64_t group, struct tree_sm *out)
{
	memset(out, 0, sizeof(*out));
	int err = tree_open(store, group, &out->tree);
	if (err)
		return err;
	struct store_txn *txn;
	err = store_txn_begin(store, NULL, true, &txn);
	if (err)
		return err;
	err = tree_init(&out->tree, txn);
	if (err) {
		store_txn_abort(txn);
		return err;
	}
	return store_txn_commit(txn);
}

size_t tree_sm_command(enum tree_cmd kind, const void *body, size_t len, uint8_t **out)
{
	*out = malloc(1 + len);
	if (!*out)
		return 0;
	(*out)[0] = (uint8_t)kind;
	if (len)
		memcpy(*out + 1, body, len);
	return 1 + len;
}

static int load_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct tree_sm *t = ((void **)ctx)[0];
	return tree_load_record(&t->tree, ((void **)ctx)[1], table, key, key_len, val, val_len);
}

static int restore(void *sm, struct store_txn *txn, const uint8_t *data, size_t len, char *why, size_t why_cap)
{
	struct tree_sm *t = sm;
	int err = snapshot_verify(data, len, NULL, why, why_cap);
	if (!err)
		err = tree_load_begin(&t->tree, txn);
	void *ctx[2] = {t, txn};
	if (!err)
		err = snapshot_for_each_record(data, len, load_record, ctx, why, why_cap);
	if (!err)
		err = tree_load_end(&t->tree, txn);
	if (err == GROVE_ECORRUPT && why && !why[0])
		snprintf(why, why_cap, "the snapshot does not hold a scene tree");
	return err;
}

/* A batch from a WriteRequest: decoded here, once, and applied atomically. */
static int apply_write(struct tree_sm *t, struct store_txn *txn, const uint8_t *data, size_t len,
		       struct tree_result *out)
{
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, len, data);
	if (!wr) {
		out->err = GROVE_EPROTO;
		snprintf(out->message, sizeof(out->message), "the write request does not decode");
		return GROVE_OK;
	}
	int err = GROVE_OK;
	if (wr->restore_snapshot.len) {
		/* Only a log from before commands had a kind byte holds a restore this way. */
		if (!tree_is_empty(&t->tree, txn)) {
			out->err = GROVE_EEXIST;
			snprintf(out->message, sizeof(out->message), "restore needs an empty world; this one has data");
		} else {
			out->err = restore(t, txn, wr->restore_snapshot.data, wr->restore_snapshot.len, out->message,
					   sizeof(out->message));
		}
	} else {
		struct wire_batch batch = {0};
		out->err = wire_decode_batch(wr, &batch, out->message, sizeof(out->message));
		if (!out->err) {
			struct tree_batch tb = {batch.ops, batch.count};
			out->record_changes = t->record_changes;
			int aerr = tree_apply_batch(&t->tree, txn, &tb, out);
			if (aerr == GROVE_ESTORAGE || aerr == GROVE_ENOMEM)
				err = aerr;
		}
		wire_batch_free(&batch);
	}
	grove__write_request__free_unpacked(wr, NULL);
	return err;
}

static int apply(void *sm, struct store_txn *txn, uint64_t index, const uint8_t *data, size_t len,
		 struct tree_result *out)
{
	(void)index;
	struct tree_sm *t = sm;
	if (data[0] == TREE_CMD_WRITE)
		return apply_write(t, txn, data + 1, len - 1, out);
	if (data[0] != TREE_CMD_RESTORE)
		return apply_write(t, txn, data, len, out);
	/* Decided here, at apply time, so that a write committed before it makes every member refuse it. */
	if (!tree_is_empty(&t->tree, txn)) {
		out->err = GROVE_EEXIST;
		snprintf(out->message, sizeof(out->message), "restore needs an empty world; this one received writes meanwhile");
		return GROVE_OK;
	}
	/* The leader verified the snapshot before proposing it; a nested transaction keeps a failure clean. */
	struct store_txn *nested;
	int err = store_txn_begin(store_txn_store(txn), txn, true, &nested);
	if (err)
		return err;
	out->err = restore(t, nested, data + 1, len - 1, out->message, sizeof(out->message));
	if (out->err) {
		store_txn_abort(nested);
		return out->err == GROVE_ESTORAGE || out->err == GROVE_ENOMEM ? out->err : GROVE_OK;
	}
	return store_txn_commit(nested);
}

static int snapshot(void *sm, struct store_txn *txn, struct snapshot_builder *b)
{
	struct tree_sm *t = sm;
	return tree_dump(&t->tree, txn, snapshot_add_record, b);
}

const struct state_machine_ops tree_sm_ops = {.apply = apply, .snapshot = snapshot, .restore = restore};
