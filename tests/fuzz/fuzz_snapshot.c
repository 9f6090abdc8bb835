/*
 * Fuzz target: snapshots (storage/snapshot.h) and the restore of a scene tree from one (tree_load_*), in
 * a real LMDB store whose write transaction is aborted after each input. The first byte picks what the
 * rest is: 0, a whole snapshot file; 1, a compressed body, given a header with the right sizes and
 * checksums; 2, the uncompressed records, compressed and framed by the snapshot builder. So mutations
 * reach the record parser and the tree loader and not only the checksums. A snapshot that verifies must
 * walk without a container error, and a tree loads from it or is refused as corrupt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "fuzz.h"
#include "seeds.h"
#include "src/common/bytes.h"
#include "src/common/error.h"
#include "storage/snapshot.h"
#include "storage/store.h"

static char dir[64];
static struct store *store;
static struct tree tree;

static void close_store(void)
{
	store_close(store);
	char path[128];
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void open_store(void)
{
	if (store)
		return;
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/grove-fuzz-snap-XXXXXX", base && *base && strlen(base) < 32 ? base : "/tmp");
	struct store_options opts = {.map_size = 1u << 30, .no_sync = true};
	if (!mkdtemp(dir) || store_open(&store, dir, &opts) != GROVE_OK || tree_open(store, 1, &tree) != GROVE_OK)
		grove_fuzz_fail("cannot open a store");
	atexit(close_store);
	struct store_txn *txn;
	if (store_txn_begin(store, NULL, true, &txn) != GROVE_OK || tree_init(&tree, txn) != GROVE_OK ||
	    store_txn_commit(txn) != GROVE_OK)
		grove_fuzz_fail("cannot create a tree");
}


struct loading {
	struct store_txn *txn;
};

static int load_into_tree(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct loading *l = ctx;
	return tree_load_record(&tree, l->txn, table, key, key_len, val, val_len);
}

/* Verify @p data and restore the tree from it, in a transaction that is then aborted. */
static void restore(const uint8_t *data, size_t len)
{
	char why[200] = "";
	int err = snapshot_verify(data, len, NULL, why, sizeof(why));
	if (err != GROVE_OK && err != GROVE_ECORRUPT && err != GROVE_ETOOBIG && err != GROVE_ENOMEM)
		grove_fuzz_fail("a snapshot refused with an undocumented code");
	if (err == GROVE_ECORRUPT && !why[0])
		grove_fuzz_fail("a snapshot refused without a reason");
	if (err)
		return;
	struct store_txn *txn;
	if (store_txn_begin(store, NULL, true, &txn) != GROVE_OK)
		grove_fuzz_fail("cannot begin a transaction");
	struct loading l = {txn};
	err = tree_load_begin(&tree, txn);
	if (!err)
		err = snapshot_for_each_record(data, len, load_into_tree, &l, why, sizeof(why));
	if (!err)
		err = tree_load_end(&tree, txn);
	store_txn_abort(txn);
	if (err != GROVE_OK && err != GROVE_ECORRUPT)
		grove_fuzz_fail("a verified snapshot does not load or is refused with something other than ECORRUPT");
}

/* Records from the seed batch applied to a fresh tree, as a snapshot of it would hold them. */
static void seed_records(struct snapshot_builder *b)
{
	struct tree_op ops[FUZZ_SEED_OPS];
	struct variant values[FUZZ_SEED_OPS];
	struct tree_batch batch = {ops, fuzz_seed_batch(ops, values)};
	struct store_txn *txn;
	struct tree_result res = {0};
	if (store_txn_begin(store, NULL, true, &txn) != GROVE_OK || tree_apply_batch(&tree, txn, &batch, &res) != GROVE_OK ||
	    res.err != GROVE_OK || tree_dump(&tree, txn, snapshot_add_record, b) != GROVE_OK)
		grove_fuzz_fail(res.message[0] ? res.message : "the seed tree does not build");
	store_txn_abort(txn);
	tree_result_free(&res);
	fuzz_seed_batch_free(values);
}

/* Seeds: the seed tree's snapshot in each of the three forms. */
int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i >= 3)
		return 0;
	open_store();
	struct snapshot_builder b = {0};
	seed_records(&b);
	uint8_t form = (uint8_t)i;
	grove_buf_put(out, &form, 1);
	if (i == 2) {
		grove_buf_put(out, b.raw.data, b.raw.len);
		grove_buf_free(&b.raw);
		return 1;
	}
	struct snapshot snap;
	if (snapshot_finish(&b, 12, 1, &snap) != GROVE_OK)
		grove_fuzz_fail("the seed snapshot does not build");
	if (i == 0)
		grove_buf_put(out, snap.data, snap.len);
	else
		grove_buf_put(out, snap.data + SNAPSHOT_HEADER_SIZE, snap.len - SNAPSHOT_HEADER_SIZE);
	snapshot_free(&snap);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 16))
		return 0;
	open_store();
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	if (data[0] % 3 == 0) {
		restore(body, len);
	} else if (data[0] % 3 == 1) {
		/* The header snapshot.h describes, made to match the body. */
		uint8_t *snap = malloc(SNAPSHOT_HEADER_SIZE + len);
		if (!snap)
			grove_fuzz_fail("out of memory");
		unsigned long long raw = ZSTD_getFrameContentSize(body, len);
		memcpy(snap, "GROVESN1", 8);
		put_le32(snap + 8, 1);
		put_le32(snap + 12, SNAPSHOT_HEADER_SIZE);
		put_le64(snap + 16, 7);
		put_le64(snap + 24, raw);
		put_le64(snap + 32, len);
		put_le32(snap + 40, snapshot_crc32c(0, body, len));
		put_le32(snap + 44, snapshot_crc32c(0, snap, 44));
		memcpy(snap + SNAPSHOT_HEADER_SIZE, body, len);
		restore(snap, SNAPSHOT_HEADER_SIZE + len);
		free(snap);
	} else {
		struct snapshot_builder b = {0};
		grove_buf_put(&b.raw, body, len);
		struct snapshot snap;
		if (snapshot_finish(&b, 7, 1, &snap) != GROVE_OK)
			grove_fuzz_fail("records do not compress");
		restore(snap.data, snap.len);
		snapshot_free(&snap);
	}
	return 0;
}
