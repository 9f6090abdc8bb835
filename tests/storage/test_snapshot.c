/* Snapshots of the tree tables: create, verify, install into another store (which then holds exactly the same
 * tree), refuse every kind of damage without touching the target, and assemble chunks in order. */
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

static struct store *fresh_store(char **dir)
{
	*dir = test_tmpdir("snapshot");
	struct store *s;
	assert_int_equal(store_open(&s, *dir, NULL), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return s;
}

static void build_world(struct store *s, const char *name, int nodes)
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
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	struct tree_batch b = {ops, (size_t)nodes * 2 + 1};
	struct tree_result res = {0};
	assert_int_equal(tree_apply_batch(txn, &b, &res), GROVE_OK);
	tree_result_free(&res);
	assert_int_equal(store_meta_put_u64(txn, "applied_index", 42), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	free(ops);
	free(names);
}

static void expect_world(struct store *s, const char *name, int nodes, bool present)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, false, &txn), GROVE_OK);
	char path[64];
	snprintf(path, sizeof(path), "/root/%s/n%d", name, nodes - 1);
	uint64_t id;
	int err = tree_resolve_path(txn, path, &id);
	assert_int_equal(err, present ? GROVE_OK : GROVE_ENOTFOUND);
	if (present) {
		struct variant v;
		assert_int_equal(tree_get_prop(txn, id, "position", &v), GROVE_OK);
		assert_int_equal(v.type, VARIANT_VECTOR3);
		assert_true(v.as.r[0] == 1.5 && v.as.r[1] == -2);
	}
	store_txn_abort(txn);
}

static void test_create_and_install(void **state)
{
	(void)state;
	char *a_dir, *b_dir;
	struct store *a = fresh_store(&a_dir), *b = fresh_store(&b_dir);
	build_world(a, "World", 5000);
	build_world(b, "Other", 10);
	struct snapshot snap;
	assert_int_equal(snapshot_create(a, 0, &snap), GROVE_OK);
	assert_int_equal(snap.applied_index, 42);
	assert_true(snap.len < snap.raw_size); /* it compresses */
	uint64_t applied;
	char why[128];
	assert_int_equal(snapshot_verify(snap.data, snap.len, &applied, why, sizeof(why)), GROVE_OK);
	assert_int_equal(applied, 42);
	assert_int_equal(snapshot_install(b, snap.data, snap.len, why, sizeof(why)), GROVE_OK);
	expect_world(b, "World", 5000, true);
	expect_world(b, "Other", 10, false);
	/* Same content: the next ids agree, and a snapshot of b equals the one of a, byte for byte. */
	struct snapshot again;
	assert_int_equal(snapshot_create(b, 0, &again), GROVE_OK);
	assert_int_equal(again.len, snap.len);
	assert_memory_equal(again.data, snap.data, snap.len);
	snapshot_free(&again);
	/* It survives a reopen. */
	store_close(b);
	assert_int_equal(store_open(&b, b_dir, NULL), GROVE_OK);
	expect_world(b, "World", 5000, true);
	snapshot_free(&snap);
	store_close(a);
	store_close(b);
	test_rmtree(a_dir);
	test_rmtree(b_dir);
}

static void test_damage_refused(void **state)
{
	(void)state;
	char *a_dir, *b_dir;
	struct store *a = fresh_store(&a_dir), *b = fresh_store(&b_dir);
	build_world(a, "World", 200);
	build_world(b, "Other", 10);
	struct snapshot snap;
	assert_int_equal(snapshot_create(a, 1, &snap), GROVE_OK);
	char why[128];
	struct {
		size_t at;
		const char *reason;
	} flips[] = {{0, "not a grove snapshot"}, {20, "header checksum"}, {SNAPSHOT_HEADER_SIZE + 10, "body checksum"},
		     {snap.len - 1, "body checksum"}};
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		snap.data[flips[i].at] ^= 0x40;
		assert_int_equal(snapshot_install(b, snap.data, snap.len, why, sizeof(why)), GROVE_ECORRUPT);
		assert_non_null(strstr(why, flips[i].reason));
		snap.data[flips[i].at] ^= 0x40;
	}
	for (size_t cut = 0; cut < snap.len; cut += snap.len / 37 + 1)
		assert_int_equal(snapshot_verify(snap.data, cut, NULL, NULL, 0), GROVE_ECORRUPT);
	/* Nothing of it reached b. */
	expect_world(b, "Other", 10, true);
	expect_world(b, "World", 200, false);
	snapshot_free(&snap);
	store_close(a);
	store_close(b);
	test_rmtree(a_dir);
	test_rmtree(b_dir);
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
	assert_int_equal(snapshot_crc32c(0, "123456789", 9), 0xe3069283u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_install),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_chunks),
	};
	return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
