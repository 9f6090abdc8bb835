/* Replaying change records (tree_replay) on real LMDB stores: a tree loaded from a dump taken at one batch,
 * brought forward by the records of every later batch, dumps byte for byte as the tree that applied those
 * batches, ids included; records replayed on a state they were not made on, or a stored resource, are refused
 * and change nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/common/buf.h"
#include "src/common/error.h"
#include "src/tree/forward.h"
#include "src/tree/tree.h"
#include "src/tree/variant.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "support.h"

struct side {
	char *dir;
	struct store *store;
	struct tree tree;
};

static void open_side(struct side *s, const char *tag)
{
	s->dir = test_tmpdir(tag);
	struct store_options opts = {.no_sync = true, .map_size = 1ull << 28};
	assert_int_equal(store_open(&s->store, s->dir, &opts), GROVE_OK);
	assert_int_equal(tree_open(s->store, 1, &s->tree), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&s->tree, txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
}

static void close_side(struct side *s)
{
	store_close(s->store);
	test_rmtree(s->dir);
}

static int put_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct grove_buf *b = ctx;
	uint8_t t = (uint8_t)table;
	uint32_t kl = (uint32_t)key_len, vl = (uint32_t)val_len;
	grove_buf_put(b, &t, 1);
	grove_buf_put(b, &kl, 4);
	grove_buf_put(b, key, key_len);
	grove_buf_put(b, &vl, 4);
	grove_buf_put(b, val, val_len);
	return b->failed ? GROVE_ENOMEM : GROVE_OK;
}

/* Every record of the tree, in the order tree_dump() gives them. */
static void dump(struct side *s, struct grove_buf *out)
{
	memset(out, 0, sizeof(*out));
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_dump(&s->tree, txn, put_record, out), GROVE_OK);
	store_txn_abort(txn);
}

/* Load what dump() made into @p s. */
static void load(struct side *s, const struct grove_buf *records)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_load_begin(&s->tree, txn), GROVE_OK);
	for (size_t at = 0; at < records->len;) {
		uint8_t table = records->data[at];
		uint32_t kl, vl;
		memcpy(&kl, records->data + at + 1, 4);
		const uint8_t *key = records->data + at + 5;
		memcpy(&vl, key + kl, 4);
		assert_int_equal(tree_load_record(&s->tree, txn, table, key, kl, key + kl + 4, vl), GROVE_OK);
		at += 9 + kl + vl;
	}
	assert_int_equal(tree_load_end(&s->tree, txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
}

/* A server's snapshot of @p s at @p index: the tree's records, then one of another table (a submit key). */
static void snapshot_of(struct side *s, uint64_t index, struct snapshot *out)
{
	struct snapshot_builder b = {0};
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_dump(&s->tree, txn, snapshot_add_record, &b), GROVE_OK);
	store_txn_abort(txn);
	assert_int_equal(snapshot_add_record(&b, 32, "key-1", 5, "answer", 6), GROVE_OK);
	assert_int_equal(snapshot_finish(&b, index, 0, out), GROVE_OK);
}

/* The records of snapshot @p snap, as put_record() lays them out. */
static void records_of(const struct snapshot *snap, struct grove_buf *out)
{
	memset(out, 0, sizeof(*out));
	assert_int_equal(snapshot_for_each_record(snap->data, snap->len, put_record, out, NULL, 0), GROVE_OK);
}

/* Apply @p n ops as one batch, recording its changes into @p res (kept by the caller). */
static void apply(struct side *s, const struct tree_op *ops, size_t n, struct tree_result *res)
{
	memset(res, 0, sizeof(*res));
	res->record_changes = true;
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {.ops = ops, .count = n};
	int err = tree_apply_batch(&s->tree, txn, &batch, res);
	if (err)
		fail_msg("batch refused: op %zu: %s", res->failed_op, res->message);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
}

static int replay(struct side *s, const struct tree_result *res, char *why, size_t cap)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s->store, NULL, true, &txn), GROVE_OK);
	int err = tree_replay(&s->tree, txn, res->changes, res->n_changes, why, cap);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return err;
}

static struct tree_ref p(const char *path)
{
	return (struct tree_ref){.path = path};
}

static struct tree_ref local(int64_t op)
{
	return (struct tree_ref){.id = -(op + 1)};
}

/* An array of ops and its length, as apply() takes them. */
#define OPS(...)                                 \
	((const struct tree_op[]){__VA_ARGS__}), \
		sizeof((const struct tree_op[]){__VA_ARGS__}) / sizeof(struct tree_op)

static void test_replay_equals_applying(void **state)
{
	(void)state;
	struct side a, b;
	open_side(&a, "replay_a");
	open_side(&b, "replay_b");
	struct tree_result res[32];
	size_t n = 0;
	struct variant one, text, list, binds, nil, ref;
	variant_set_int(&one, 1);
	assert_int_equal(variant_set_string(&text, VARIANT_STRING, "hello", 5), GROVE_OK);
	assert_int_equal(variant_set_array(&list), GROVE_OK);
	struct variant item;
	variant_set_int(&item, 7);
	assert_int_equal(variant_array_push(&list, &item), GROVE_OK);
	assert_int_equal(variant_set_array(&binds), GROVE_OK);
	variant_set_nil(&nil);

	/* Before the dump: a world, and a resource (what replay cannot make, but may refer to). */
	apply(&a, OPS({.kind = TREE_OP_CREATE, .node = p("/root"), .name = "World", .text = "Node3D", .index = -1},
		      {.kind = TREE_OP_CREATE, .node = local(0), .name = "A", .text = "Node2D", .index = -1},
		      {.kind = TREE_OP_CREATE, .node = local(0), .name = "B", .text = "Node2D", .index = -1},
		      {.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture2D",
		       .instance = "res://a.png", .uid = "uid://abc", .name = "1_a"}),
	      &res[n++]);
	uint64_t resource = res[0].ids[3];
	variant_set_resource_ref(&ref, (int64_t)resource);
	struct grove_buf at_dump;
	dump(&a, &at_dump);
	size_t first_after = n;

	/* After it: every kind of change replay makes, batch-local references and positions included. */
	apply(&a, OPS({.kind = TREE_OP_CREATE, .node = p("/root/World/A"), .name = "C", .text = "Sprite2D", .index = -1},
		      {.kind = TREE_OP_SET_PROP, .node = local(0), .name = "texture", .value = &ref},
		      {.kind = TREE_OP_SET_PROP, .node = local(0), .name = "hp", .value = &one},
		      {.kind = TREE_OP_CREATE, .node = p("/root/World"), .name = "First", .text = "Node", .index = 0}),
	      &res[n++]);
	apply(&a, OPS({.kind = TREE_OP_SET_PROP, .node = p("/root/World/B"), .name = "title", .value = &text},
		      {.kind = TREE_OP_SET_PROP, .node = p("/root/World/B"), .name = "list", .value = &list},
		      {.kind = TREE_OP_ADD_GROUP, .node = p("/root/World/B"), .name = "enemies"},
		      {.kind = TREE_OP_ADD_GROUP, .node = p("/root/World/A"), .name = "enemies"}),
	      &res[n++]);
	apply(&a, OPS({.kind = TREE_OP_CONNECT, .node = p("/root/World/A"), .target = p("/root/World/B"),
		       .name = "pressed", .text = "_on_pressed", .flags = 3, .value = &binds},
		      {.kind = TREE_OP_CONNECT, .node = p("/root/World/B"), .target = p("/root/World/A"), .name = "hit",
		       .text = "_on_hit"},
		      {.kind = TREE_OP_CONNECT, .node = p("/root/World/A/C"), .target = p("/root/World/B"),
		       .name = "done", .text = "_on_done", .value = &nil}),
	      &res[n++]);
	apply(&a, OPS({.kind = TREE_OP_MOVE, .node = p("/root/World/A/C"), .target = p("/root/World/B"), .index = 0},
		      {.kind = TREE_OP_RENAME, .node = p("/root/World/B/C"), .name = "Moved"},
		      {.kind = TREE_OP_REORDER, .node = p("/root/World/B"), .index = 0},
		      {.kind = TREE_OP_CLEAR_PROP, .node = p("/root/World/B"), .name = "list"},
		      {.kind = TREE_OP_REMOVE_GROUP, .node = p("/root/World/A"), .name = "enemies"},
		      {.kind = TREE_OP_DISCONNECT, .node = p("/root/World/B"), .target = p("/root/World/A"),
		       .name = "hit", .text = "_on_hit"}),
	      &res[n++]);
	/* A create and a delete of it in one batch take an id that no node keeps. */
	apply(&a, OPS({.kind = TREE_OP_CREATE, .node = p("/root/World"), .name = "Gone", .text = "Node", .index = -1},
		      {.kind = TREE_OP_DELETE, .node = local(0)},
		      {.kind = TREE_OP_CREATE, .node = p("/root/World"), .name = "Kept", .text = "Node", .index = 1,
		       .instance = "res://kept.tscn"}),
	      &res[n++]);
	apply(&a, OPS({.kind = TREE_OP_DELETE, .node = p("/root/World/A")},
		      {.kind = TREE_OP_CREATE, .node = p("/root/World/B/Moved"), .name = "Leaf", .text = "Node",
		       .index = -1}),
	      &res[n++]);

	/* b, loaded from the dump, is brought forward by the records: it is then a, record for record. */
	load(&b, &at_dump);
	char why[300];
	for (size_t i = first_after; i < n; i++) {
		int err = replay(&b, &res[i], why, sizeof(why));
		if (err)
			fail_msg("batch %zu: %s", i, why);
	}
	struct grove_buf want, got;
	dump(&a, &want);
	dump(&b, &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);

	/* Replayed again on a state it was not made on (the node it creates exists), it is refused; b stays. */
	assert_int_equal(replay(&b, &res[first_after], why, sizeof(why)), GROVE_ECORRUPT);
	print_message("refused as expected: %s\n", why);
	struct grove_buf after;
	dump(&b, &after);
	assert_int_equal(after.len, got.len);
	assert_memory_equal(after.data, got.data, got.len);
	grove_buf_free(&after);

	/* A stored resource cannot be made again exactly (its record has no uid): refused, nothing changes. */
	assert_int_equal(replay(&b, &res[0], why, sizeof(why)), GROVE_EINVAL);
	assert_non_null(strstr(why, "uid"));
	dump(&b, &after);
	assert_memory_equal(after.data, got.data, got.len);

	/* Records that name a node the state does not have: refused. */
	struct tree_change orphan = {.op = TREE_OP_SET_PROP, .node = 999999, .name = "x",
				     .path_step = TREE_NO_PATH, .old_path_step = TREE_NO_PATH};
	grove_buf_put(&orphan.value, res[1].changes[2].value.data, res[1].changes[2].value.len);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(b.store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_replay(&b.tree, txn, &orphan, 1, why, sizeof(why)), GROVE_ECORRUPT);
	store_txn_abort(txn);
	grove_buf_free(&orphan.value);

	grove_buf_free(&after);
	grove_buf_free(&got);
	grove_buf_free(&want);
	grove_buf_free(&at_dump);
	for (size_t i = 0; i < n; i++)
		tree_result_free(&res[i]);
	variant_free(&text);
	variant_free(&list);
	variant_free(&binds);
	close_side(&a);
	close_side(&b);
}

/*
 * A snapshot brought forward (tree_forward) with the records of later entries is the snapshot a server takes at
 * the later index, other tables' records included; what the records cannot show is refused.
 */
static void test_forward(void **state)
{
	(void)state;
	struct side a;
	open_side(&a, "forward_a");
	char *scratch_top = test_tmpdir("forward_scratch");
	char scratch[4096];
	snprintf(scratch, sizeof(scratch), "%s/s", scratch_top);
	char why[300] = "";
	struct tree_forward *f;

	/* An empty world at index 5, then records from index 9 on: a restore may have come between. */
	struct snapshot empty;
	snapshot_of(&a, 5, &empty);
	struct variant one;
	variant_set_int(&one, 1);
	struct tree_result res[4];
	apply(&a, OPS({.kind = TREE_OP_CREATE, .node = p("/root"), .name = "World", .text = "Node3D", .index = -1}),
	      &res[0]);
	assert_int_equal(tree_forward_open(empty.data, empty.len, scratch, &f, why, sizeof(why)), GROVE_OK);
	assert_int_equal(tree_forward_index(f), 5);
	assert_int_equal(tree_forward_apply(f, 9, res[0].changes, res[0].n_changes, why, sizeof(why)), GROVE_EINVAL);
	assert_non_null(strstr(why, "empty at index 5"));
	struct snapshot out;
	assert_int_equal(tree_forward_finish(f, 7, &out, why, sizeof(why)), GROVE_EINVAL);
	/* The very next index cannot hide a restore. */
	assert_int_equal(tree_forward_apply(f, 6, res[0].changes, res[0].n_changes, why, sizeof(why)), GROVE_OK);
	tree_forward_close(f);

	/* A world at index 6; later entries at 8 and 12; brought forward to 15, it is the world at 12. */
	struct snapshot at6;
	snapshot_of(&a, 6, &at6);
	apply(&a, OPS({.kind = TREE_OP_CREATE, .node = p("/root/World"), .name = "A", .text = "Node", .index = -1},
		      {.kind = TREE_OP_SET_PROP, .node = local(0), .name = "hp", .value = &one}),
	      &res[1]);
	apply(&a, OPS({.kind = TREE_OP_RENAME, .node = p("/root/World/A"), .name = "B"}), &res[2]);
	struct snapshot want;
	snapshot_of(&a, 15, &want);
	assert_int_equal(tree_forward_open(at6.data, at6.len, scratch, &f, why, sizeof(why)), GROVE_OK);
	assert_int_equal(tree_forward_apply(f, 8, res[1].changes, res[1].n_changes, why, sizeof(why)), GROVE_OK);
	assert_int_equal(tree_forward_apply(f, 8, res[2].changes, res[2].n_changes, why, sizeof(why)), GROVE_ERANGE);
	assert_int_equal(tree_forward_apply(f, 12, res[2].changes, res[2].n_changes, why, sizeof(why)), GROVE_OK);
	assert_int_equal(tree_forward_index(f), 12);
	assert_int_equal(tree_forward_finish(f, 11, &out, why, sizeof(why)), GROVE_ERANGE);
	assert_int_equal(tree_forward_finish(f, 15, &out, why, sizeof(why)), GROVE_OK);
	assert_int_equal(out.applied_index, 15);
	struct grove_buf got, expected;
	records_of(&out, &got);
	records_of(&want, &expected);
	assert_int_equal(got.len, expected.len);
	assert_memory_equal(got.data, expected.data, expected.len);
	/* Changes made on another state are refused and leave the state as it was. */
	assert_int_equal(tree_forward_apply(f, 13, res[1].changes, res[1].n_changes, why, sizeof(why)), GROVE_ECORRUPT);
	assert_int_equal(tree_forward_index(f), 12);
	tree_forward_close(f);
	assert_int_not_equal(access(scratch, F_OK), 0); /* the scratch store is gone */

	/* Not a snapshot: refused with the reason. */
	at6.data[at6.len - 2] ^= 0x40;
	assert_int_equal(tree_forward_open(at6.data, at6.len, scratch, &f, why, sizeof(why)), GROVE_ECORRUPT);
	assert_non_null(strstr(why, "checksum"));

	grove_buf_free(&got);
	grove_buf_free(&expected);
	snapshot_free(&out);
	snapshot_free(&want);
	snapshot_free(&at6);
	snapshot_free(&empty);
	for (size_t i = 0; i < 3; i++)
		tree_result_free(&res[i]);
	test_rmtree(scratch_top);
	close_side(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_equals_applying),
		cmocka_unit_test(test_forward),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
