/* Point-in-time restore: a snapshot loaded into a scratch store, brought forward with change records. */
#include "src/tree/forward.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/common/buf.h"
#include "src/common/error.h"
#include "storage/store.h"

/* The scratch store's map: a sparse file, so room costs nothing until it is used. */
#define SCRATCH_MAP_SIZE (64ull << 30)

struct tree_forward {
	char *dir;
	struct store *store;
	struct tree tree;
	uint64_t index;            /* of the state held */
	bool empty;                /* the world held is empty: a restore may follow unrecorded */
	struct snapshot_builder other; /* records of tables that are not the tree's, as they came */
};

struct loading {
	struct tree_forward *f;
	struct store_txn *txn;
};

static int load_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct loading *l = ctx;
	if (table >= TREE_TABLE_COUNT)
		return snapshot_add_record(&l->f->other, table, key, key_len, val, val_len);
	return tree_load_record(&l->f->tree, l->txn, table, key, key_len, val, val_len);
}

/* Whether the state held is an empty world. */
static int note_empty(struct tree_forward *f)
{
	struct store_txn *txn;
	int err = store_txn_begin(f->store, NULL, false, &txn);
	if (err)
		return err;
	f->empty = tree_is_empty(&f->tree, txn);
	store_txn_abort(txn);
	return GROVE_OK;
}

int tree_forward_open(const uint8_t *data, size_t len, const char *dir, struct tree_forward **out, char *why,
		      size_t why_cap)
{
	*out = NULL;
	uint64_t index;
	int err = snapshot_verify(data, len, &index, why, why_cap);
	if (err)
		return err;
	struct tree_forward *f = calloc(1, sizeof(*f));
	if (!f || !(f->dir = strdup(dir))) {
		free(f);
		return GROVE_ENOMEM;
	}
	f->index = index;
	struct store_options opts = {.no_sync = true, .map_size = SCRATCH_MAP_SIZE};
	err = store_open(&f->store, dir, &opts);
	if (err)
		grove_say(err, why, why_cap, "cannot make a scratch store in %s", dir);
	if (!err)
		err = tree_open(f->store, 1, &f->tree);
	struct store_txn *txn = NULL;
	if (!err)
		err = store_txn_begin(f->store, NULL, true, &txn);
	if (!err)
		err = tree_load_begin(&f->tree, txn);
	struct loading l = {f, txn};
	if (!err)
		err = snapshot_for_each_record(data, len, load_record, &l, why, why_cap);
	if (!err)
		err = tree_load_end(&f->tree, txn);
	if (txn)
		err = err ? (store_txn_abort(txn), err) : store_txn_commit(txn);
	if (!err)
		err = note_empty(f);
	if (err) {
		if (err == GROVE_ECORRUPT && why && why_cap && !why[0])
			grove_say(err, why, why_cap, "the snapshot does not hold a scene tree");
		tree_forward_close(f);
		return err;
	}
	*out = f;
	return GROVE_OK;
}

uint64_t tree_forward_index(const struct tree_forward *f)
{
	return f->index;
}

/* Refuse to pass over indexes after an empty world: a restore there leaves no record. */
static int check_gap(const struct tree_forward *f, uint64_t next, char *why, size_t why_cap)
{
	if (f->empty && next > f->index + 1)
		return grove_say(GROVE_EINVAL, why, why_cap,
				 "the world was empty at index %" PRIu64 ", and entries up to %" PRIu64 " left no change "
				 "records: a restore may have replaced it there, which the history does not record; bring "
				 "a later backup forward",
				 f->index, next - 1);
	return GROVE_OK;
}

int tree_forward_apply(struct tree_forward *f, uint64_t index, const struct tree_change *changes, size_t n, char *why,
		       size_t why_cap)
{
	if (index <= f->index)
		return grove_say(GROVE_ERANGE, why, why_cap, "entry %" PRIu64 " is not after the state's index %" PRIu64,
				 index, f->index);
	int err = check_gap(f, index, why, why_cap);
	struct store_txn *txn = NULL;
	if (!err)
		err = store_txn_begin(f->store, NULL, true, &txn);
	if (!err)
		err = tree_replay(&f->tree, txn, changes, n, why, why_cap);
	if (txn)
		err = err ? (store_txn_abort(txn), err) : store_txn_commit(txn);
	if (!err)
		err = note_empty(f);
	if (!err)
		f->index = index;
	return err;
}

int tree_forward_finish(struct tree_forward *f, uint64_t index, struct snapshot *out, char *why, size_t why_cap)
{
	memset(out, 0, sizeof(*out));
	if (index < f->index)
		return grove_say(GROVE_ERANGE, why, why_cap, "index %" PRIu64 " is before the state's index %" PRIu64,
				 index, f->index);
	int err = check_gap(f, index + 1, why, why_cap);
	struct store_txn *txn = NULL;
	if (!err)
		err = store_txn_begin(f->store, NULL, false, &txn);
	struct snapshot_builder b = {0};
	if (!err)
		err = tree_dump(&f->tree, txn, snapshot_add_record, &b);
	if (txn)
		store_txn_abort(txn);
	/* The other tables' records follow the tree's, as a server's snapshot has them. */
	if (!err && f->other.raw.len)
		grove_buf_put(&b.raw, f->other.raw.data, f->other.raw.len);
	if (!err && b.raw.failed)
		err = GROVE_ENOMEM;
	if (err) {
		grove_buf_free(&b.raw);
		if (why && why_cap && !why[0])
			grove_say(err, why, why_cap, "%s", grove_strerror(err));
		return err;
	}
	return snapshot_finish(&b, index, 0, out);
}

void tree_forward_close(struct tree_forward *f)
{
	if (!f)
		return;
	store_close(f->store);
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	rmdir(f->dir);
	grove_buf_free(&f->other.raw);
	free(f->dir);
	free(f);
}
