/* Snapshots of a group's tree: create, verify, install into another store and group (which then holds exactly
 * the same tree), refuse every kind of damage without touching the target, and assemble chunks in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "support.h"

/* A store and the tree of group @p group in it. */
struct world {
	char *dir;
	struct store *store;
	struct tree tree;
};

static void fresh_world(struct world *w, uint64_t group)
{
	w->dir = test_tmpdir("snapshot");
	assert_int_equal(store_open(&w->store, w->dir, NULL), GROVE_OK);
	assert_int_equal(tree_open(w->store, group, &w->tree), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&w->tree, txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
}

static void close_world(struct world *w)
{
	store_close(w->store);
	test_rmtree(w->dir);
}

static void build_world(struct world *w, const char *name, int nodes)
{
	struct tree_op *ops = calloc((size_t)nodes * 2 + 1, sizeof(*ops));
	char (*names)[16] = calloc((size_t)nodes, 16);
	struct variant v;
	double xyz[3] = {1.5, -2, 3};
	variant_set_reals(&v, VARIANT_VECTOR3, xyz, 3);
	ops[0] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = name, .text = "Node3D",
				  .index = -1};
	for (int i = 0; i < nodes; i++) {
		snprintf(names[i], 16, "n%d", i);
		ops[1 + 2 * i] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = names[i],
						  .text = "Node3D", .index = -1};
		ops[2 + 2 * i] = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = {.id = -(int64_t)(2 + 2 * i)},
						  .name = "position", .value = &v};
	}
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch b = {ops, (size_t)nodes * 2 + 1};
	struct tree_result res = {0};
	assert_int_equal(tree_apply_batch(&w->tree, txn, &b, &res), GROVE_OK);
	tree_result_free(&res);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	free(ops);
	free(names);
}

static void expect_world(struct world *w, const char *name, int nodes, bool present)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	char path[64];
	snprintf(path, sizeof(path), "/root/%s/n%d", name, nodes - 1);
	uint64_t id;
	int err = tree_resolve_path(&w->tree, txn, path, &id);
	assert_int_equal(err, present ? GROVE_OK : GROVE_ENOTFOUND);
	if (present) {
		struct variant v;
		assert_int_equal(tree_get_prop(&w->tree, txn, id, "position", &v), GROVE_OK);
		assert_int_equal(v.type, VARIANT_VECTOR3);
		assert_true(v.as.r[0] == 1.5 && v.as.r[1] == -2);
	}
	store_txn_abort(txn);
}

static void take(struct world *w, int level, uint64_t applied, struct snapshot *snap)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	struct snapshot_builder b = {0};
	assert_int_equal(tree_dump(&w->tree, txn, snapshot_add_record, &b), GROVE_OK);
	store_txn_abort(txn);
	assert_int_equal(snapshot_finish(&b, applied, level, snap), GROVE_OK);
}

struct loading {
	struct world *w;
	struct store_txn *txn;
};

static int load_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct loading *l = ctx;
	return tree_load_record(&l->w->tree, l->txn, table, key, key_len, val, val_len);
}

/* Replace @p w's tree with the snapshot, all or nothing. */
static int install(struct world *w, const uint8_t *data, size_t len, char *why, size_t cap)
{
	struct loading l = {w, NULL};
	assert_int_equal(store_txn_begin(w->store, NULL, true, &l.txn), GROVE_OK);
	int err = snapshot_verify(data, len, NULL, why, cap);
	if (!err)
		err = tree_load_begin(&w->tree, l.txn);
	if (!err)
		err = snapshot_for_each_record(data, len, load_record, &l, why, cap);
	if (!err)
		err = tree_load_end(&w->tree, l.txn);
	if (err) {
		store_txn_abort(l.txn);
		return err;
	}
	return store_txn_commit(l.txn);
}

static void test_create_and_install(void **state)
{
	(void)state;
	struct world a, b;
	fresh_world(&a, 1);
	fresh_world(&b, 7); /* another group: a group's records carry no group id */
	build_world(&a, "World", 5000);
	build_world(&b, "Other", 10);
	struct snapshot snap;
	take(&a, 0, 42, &snap);
	assert_int_equal(snap.applied_index, 42);
	assert_true(snap.len < snap.raw_size); /* it compresses */
	uint64_t applied;
	char why[128];
	assert_int_equal(snapshot_verify(snap.data, snap.len, &applied, why, sizeof(why)), GROVE_OK);
	assert_int_equal(applied, 42);
	assert_int_equal(install(&b, snap.data, snap.len, why, sizeof(why)), GROVE_OK);
	expect_world(&b, "World", 5000, true);
	expect_world(&b, "Other", 10, false);
	/* Same content: the next ids and the node count agree, and a snapshot of b equals the one of a. */
	struct snapshot again;
	take(&b, 0, 42, &again);
	assert_int_equal(again.len, snap.len);
	assert_memory_equal(again.data, snap.data, snap.len);
	snapshot_free(&again);
	struct store_txn *txn;
	uint64_t count;
	assert_int_equal(store_txn_begin(b.store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_node_count(&b.tree, txn, &count), GROVE_OK);
	assert_int_equal(count, 5002);
	store_txn_abort(txn);
	/* It survives a reopen. */
	store_close(b.store);
	assert_int_equal(store_open(&b.store, b.dir, NULL), GROVE_OK);
	assert_int_equal(tree_open(b.store, 7, &b.tree), GROVE_OK);
	expect_world(&b, "World", 5000, true);
	snapshot_free(&snap);
	close_world(&a);
	close_world(&b);
}

static void test_damage_refused(void **state)
{
	(void)state;
	struct world a, b;
	fresh_world(&a, 1);
	fresh_world(&b, 1);
	build_world(&a, "World", 200);
	build_world(&b, "Other", 10);
	struct snapshot snap;
	take(&a, 1, 5, &snap);
	char why[128];
	struct {
		size_t at;
		const char *reason;
	} flips[] = {{0, "not a grove snapshot"}, {20, "header checksum"}, {SNAPSHOT_HEADER_SIZE + 10, "body checksum"},
		     {snap.len - 1, "body checksum"}};
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		snap.data[flips[i].at] ^= 0x40;
		assert_int_equal(install(&b, snap.data, snap.len, why, sizeof(why)), GROVE_ECORRUPT);
		assert_non_null(strstr(why, flips[i].reason));
		snap.data[flips[i].at] ^= 0x40;
	}
	for (size_t cut = 0; cut < snap.len; cut += snap.len / 37 + 1)
		assert_int_equal(snapshot_verify(snap.data, cut, NULL, NULL, 0), GROVE_ECORRUPT);
	/* Nothing of it reached b. */
	expect_world(&b, "Other", 10, true);
	expect_world(&b, "World", 200, false);
	snapshot_free(&snap);
	close_world(&a);
	close_world(&b);
}

/* Records a tree does not hold are refused, a snapshot without a root too; a server's own meta values (as
 * snapshots from before groups carried) are ignored. */
static void test_foreign_records(void **state)
{
	(void)state;
	struct world b;
	fresh_world(&b, 1);
	build_world(&b, "Other", 3);
	char why[128] = "";
	struct snapshot snap;
	struct snapshot_builder sb = {0};
	assert_int_equal(snapshot_add_record(&sb, TREE_META, "raft_members", 12, "junk", 4), GROVE_OK);
	assert_int_equal(snapshot_add_record(&sb, TREE_TABLE_COUNT, "k", 1, "v", 1), GROVE_OK);
	assert_int_equal(snapshot_finish(&sb, 1, 0, &snap), GROVE_OK);
	assert_int_equal(install(&b, snap.data, snap.len, why, sizeof(why)), GROVE_ECORRUPT);
	snapshot_free(&snap);
	assert_int_equal(snapshot_add_record(&sb, TREE_META, "applied_index", 13, "12345678", 8), GROVE_OK);
	assert_int_equal(snapshot_finish(&sb, 1, 0, &snap), GROVE_OK);
	assert_int_equal(install(&b, snap.data, snap.len, why, sizeof(why)), GROVE_ECORRUPT); /* no root */
	snapshot_free(&snap);
	expect_world(&b, "Other", 3, true);
	/* An empty key or an oversized one cannot even be added. */
	assert_int_equal(snapshot_add_record(&sb, TREE_NODES, "", 0, "v", 1), GROVE_EINVAL);
	grove_buf_free(&sb.raw);
	close_world(&b);
}

static int count_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	(void)table, (void)key, (void)key_len, (void)val;
	size_t *bytes = ctx;
	*bytes += val_len;
	return GROVE_OK;
}

/* Sign header field @p at (u64) of @p snap anew with @p value, as a forger would. */
static void forge_u64(struct snapshot *snap, size_t at, uint64_t value)
{
	for (int i = 0; i < 8; i++)
		snap->data[at + i] = (uint8_t)(value >> (8 * i));
	uint32_t crc = snapshot_crc32c(0, snap->data, 44);
	for (int i = 0; i < 4; i++)
		snap->data[44 + i] = (uint8_t)(crc >> (8 * i));
}

/* A body of several MiB decompresses whole (its buffer grows as bytes come); a re-signed header that claims
 * more or fewer bytes than the body holds, gigabytes too, is refused. (A body whose own zstd frame claims
 * gigabytes is kept in tests/fuzz/corpus/snapshot/, replayed where allocations over 1 GiB fail.) */
static void test_body_sizes(void **state)
{
	(void)state;
	struct snapshot_builder b = {0};
	static uint8_t value[64 << 10];
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i * 2654435761u >> 13);
	for (uint32_t k = 0; k < 48; k++)
		assert_int_equal(snapshot_add_record(&b, 1, &k, sizeof(k), value, sizeof(value)), GROVE_OK);
	struct snapshot snap;
	assert_int_equal(snapshot_finish(&b, 3, 1, &snap), GROVE_OK);
	size_t bytes = 0;
	assert_int_equal(snapshot_for_each_record(snap.data, snap.len, count_record, &bytes, NULL, 0), GROVE_OK);
	assert_int_equal(bytes, 48 * sizeof(value));
	char why[128] = "";
	uint64_t sizes[] = {snap.raw_size - 1, snap.raw_size + 1, 60ull << 30};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		forge_u64(&snap, 24, sizes[i]);
		assert_int_equal(snapshot_verify(snap.data, snap.len, NULL, why, sizeof(why)), GROVE_ECORRUPT);
		assert_non_null(strstr(why, "header"));
	}
	snapshot_free(&snap);
}

static void test_chunks(void **state)
{
	(void)state;
	uint8_t data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	struct snapshot_receiver r = {0};
	assert_int_equal(snapshot_receiver_put(&r, 0, 1000, data, 300, 1 << 20), GROVE_OK);
	/* A chunk from the wrong offset is refused; the sender resumes from r.len. */
	assert_int_equal(snapshot_receiver_put(&r, 600, 1000, data + 600, 100, 1 << 20), GROVE_ERANGE);
	assert_int_equal(r.len, 300);
	assert_int_equal(snapshot_receiver_put(&r, 300, 999, data + 300, 100, 1 << 20), GROVE_ERANGE);
	assert_int_equal(snapshot_receiver_put(&r, 300, 1000, data + 300, 701, 1 << 20), GROVE_ERANGE);
	assert_false(snapshot_receiver_complete(&r));
	assert_int_equal(snapshot_receiver_put(&r, 300, 1000, data + 300, 700, 1 << 20), GROVE_OK);
	assert_true(snapshot_receiver_complete(&r));
	assert_memory_equal(r.data, data, 1000);
	snapshot_receiver_free(&r);
	assert_int_equal(snapshot_receiver_put(&r, 0, 1u << 30, data, 10, 1 << 20), GROVE_ETOOBIG);
	snapshot_receiver_free(&r);
	/* A chunk without bytes, as protobuf hands an empty field (NULL): nothing arrives, nothing breaks. */
	assert_int_equal(snapshot_receiver_put(&r, 0, 1000, NULL, 0, 1 << 20), GROVE_OK);
	assert_int_equal(r.len, 0);
	assert_int_equal(snapshot_receiver_put(&r, 0, 1000, data, 1000, 1 << 20), GROVE_OK);
	assert_true(snapshot_receiver_complete(&r));
	snapshot_receiver_free(&r);
}

/* A peer's chunks, reordered and repeated by the network, overlapping too: the snapshot still comes whole. */
static void test_chunks_in_any_order(void **state)
{
	(void)state;
	uint8_t data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	struct snapshot_receiver r = {0};
	static const size_t order[][2] = {{600, 200}, {200, 200}, {800, 200}, {600, 200}, {250, 100}, {0, 100}};
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		assert_int_equal(snapshot_receiver_put_any(&r, order[k][0], 1000, data + order[k][0], order[k][1], 1 << 20),
				 GROVE_OK);
		assert_false(snapshot_receiver_complete(&r));
	}
	/* 0..100, 200..400, 600..1000 have come: the next offset expected is where the first gap starts. */
	assert_int_equal(r.len, 100);
	assert_int_equal(r.n_ranges, 3);
	/* Out of its snapshot, or of another size: refused, and nothing changes. */
	assert_int_equal(snapshot_receiver_put_any(&r, 950, 1000, data, 100, 1 << 20), GROVE_ERANGE);
	assert_int_equal(snapshot_receiver_put_any(&r, 100, 999, data + 100, 100, 1 << 20), GROVE_ERANGE);
	assert_int_equal(snapshot_receiver_put_any(&r, 0, 1u << 30, data, 10, 1 << 20), GROVE_ETOOBIG);
	assert_int_equal(r.n_ranges, 3);
	assert_int_equal(snapshot_receiver_put_any(&r, 400, 1000, data + 400, 200, 1 << 20), GROVE_OK);
	assert_int_equal(r.n_ranges, 2);
	assert_false(snapshot_receiver_complete(&r));
	assert_int_equal(snapshot_receiver_put_any(&r, 100, 1000, data + 100, 100, 1 << 20), GROVE_OK);
	assert_true(snapshot_receiver_complete(&r));
	assert_int_equal(r.len, 1000);
	assert_memory_equal(r.data, data, sizeof(data));
	snapshot_receiver_free(&r);
	/* One-byte chunks with gaps between them: the ranges kept stop at the bound. */
	size_t total = 4 * SNAPSHOT_RECEIVER_MAX_RANGES;
	uint8_t *big = calloc(total, 1);
	for (size_t k = 0; k < SNAPSHOT_RECEIVER_MAX_RANGES; k++)
		assert_int_equal(snapshot_receiver_put_any(&r, 2 * k + 1, total, big, 1, total), GROVE_OK);
	assert_int_equal(snapshot_receiver_put_any(&r, total - 1, total, big, 1, total), GROVE_ERANGE);
	assert_int_equal(r.n_ranges, SNAPSHOT_RECEIVER_MAX_RANGES);
	/* A chunk that joins ranges is still taken. */
	assert_int_equal(snapshot_receiver_put_any(&r, 0, total, big, 8, total), GROVE_OK);
	assert_true(r.n_ranges < SNAPSHOT_RECEIVER_MAX_RANGES);
	snapshot_receiver_free(&r);
	free(big);
}

/* CRC-32C bit by bit, as its definition gives it: the reference for the fast paths. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/*
 * The checksum of every length and alignment (the instruction takes 8 bytes at a time, then the rest one by
 * one), and continued across any split of the same bytes, equals the definition's.
 */
static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(snapshot_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(snapshot_crc32c(0, NULL, 0), 0);
	uint8_t data[300 + 8];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < sizeof(data); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (uint8_t)x;
	}
	for (size_t offset = 0; offset < 8; offset++)
		for (size_t len = 0; len <= 300; len++) {
			uint32_t want = crc32c_bitwise(data + offset, len);
			assert_int_equal(snapshot_crc32c(0, data + offset, len), want);
			size_t cut = (len * 7 + offset) % (len + 1);
			assert_int_equal(snapshot_crc32c(snapshot_crc32c(0, data + offset, cut), data + offset + cut, len - cut),
					 want);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_install),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_foreign_records),
		cmocka_unit_test(test_body_sizes),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_chunks_in_any_order),
		cmocka_unit_test(test_crc32c),
	};
	return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
