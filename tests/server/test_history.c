/* The change history's records: what a batch's changes and path steps become, and records written before
 * paths were steps, which a subscriber catching up must still be able to read; its retention, in a real
 * LMDB store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/buf.h"
#include "src/common/error.h"
#include "src/server/history.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

static void assert_path(const struct tree_paths *paths, uint32_t at, const char *want)
{
	char *path;
	assert_int_equal(tree_paths_string(paths, at, &path), GROVE_OK);
	if (!want) {
		assert_null(path);
		return;
	}
	assert_non_null(path);
	assert_string_equal(path, want);
	free(path);
}

static void free_changes(struct tree_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tree_change_free(&c[i]);
	free(c);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct tree_paths paths = {0};
	uint32_t root, a, b;
	assert_int_equal(tree_paths_add(&paths, 1, TREE_NO_PATH, "/root", &root), GROVE_OK);
	assert_int_equal(tree_paths_add(&paths, 5, root, "A", &a), GROVE_OK);
	assert_int_equal(tree_paths_add(&paths, 6, a, "B", &b), GROVE_OK);
	assert_int_equal(tree_paths_add(&paths, 6, 7, "B", &b), GROVE_EINVAL);
	struct tree_change changes[] = {
		{.op = TREE_OP_CREATE, .node = 5, .parent = 1, .index = -1, .name = "A", .path_step = a,
		 .old_path_step = TREE_NO_PATH, .node_class = "Node", .text = "Node", .instance = ""},
		{.op = TREE_OP_RENAME, .node = 6, .name = "B", .old_name = "C", .path_step = b, .old_path_step = a,
		 .node_class = "Node", .carried = true},
		{.op = TREE_OP_PUT_RESOURCE, .node = 9, .path_step = TREE_NO_PATH, .old_path_step = TREE_NO_PATH,
		 .flags = 1},
	};
	struct grove_buf out = {0};
	assert_int_equal(history_encode(changes, 3, &paths, NULL, &out), GROVE_OK);
	struct tree_change *back;
	size_t n;
	struct tree_paths back_paths;
	assert_int_equal(history_decode(out.data, out.len, &back, &n, &back_paths, NULL), GROVE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(back[0].node, 5);
	assert_string_equal(back[0].name, "A");
	assert_string_equal(back[0].text, "Node");
	assert_path(&back_paths, back[0].path_step, "/root/A");
	assert_int_equal(back[0].old_path_step, TREE_NO_PATH);
	assert_path(&back_paths, back[1].path_step, "/root/A/B");
	assert_path(&back_paths, back[1].old_path_step, "/root/A");
	assert_string_equal(back[1].old_name, "C");
	assert_false(back[0].carried);
	assert_true(back[1].carried);
	assert_int_equal(back[1].op, TREE_OP_RENAME);
	assert_int_equal(back[2].path_step, TREE_NO_PATH);
	assert_int_equal(back[2].flags, 1);
	free_changes(back, n);
	tree_paths_free(&back_paths);

	/* A step a change names that the record does not hold is corrupt. */
	out.data[out.len - 4 - 4 * 5 - 4] = 9; /* the last change's old path step (none): its low byte */
	assert_int_equal(history_decode(out.data, out.len, &back, &n, &back_paths, NULL), GROVE_ECORRUPT);

	/* No change at all: the same lone zero as ever. */
	out.len = 0;
	assert_int_equal(history_encode(NULL, 0, NULL, NULL, &out), GROVE_OK);
	assert_int_equal(out.len, 4);
	assert_int_equal(history_decode(out.data, out.len, &back, &n, &back_paths, NULL), GROVE_OK);
	assert_int_equal(n, 0);
	free(back);
	tree_paths_free(&back_paths);
	grove_buf_free(&out);
	tree_paths_free(&paths);
}

/* A part of a transaction across shards: the record names the transaction and every group of it. */
static void test_transaction_part(void **state)
{
	(void)state;
	struct tree_paths paths = {0};
	uint32_t at;
	assert_int_equal(tree_paths_add(&paths, 5, TREE_NO_PATH, "/root/B/P", &at), GROVE_OK);
	struct tree_change move = {.op = TREE_OP_MOVE, .node = 5, .parent = 3, .index = -1, .path_step = at,
				   .old_path_step = TREE_NO_PATH, .node_class = "Node", .flags = TREE_MOVE_LEFT_GROUP};
	uint64_t groups[] = {2, 3};
	struct change_txn txn = {0xabcdef, groups, 2};
	struct grove_buf out = {0};
	assert_int_equal(history_encode(&move, 1, &paths, &txn, &out), GROVE_OK);
	struct tree_change *back;
	size_t n;
	struct tree_paths back_paths;
	struct change_txn back_txn;
	assert_int_equal(history_decode(out.data, out.len, &back, &n, &back_paths, &back_txn), GROVE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(back[0].flags, TREE_MOVE_LEFT_GROUP);
	assert_path(&back_paths, back[0].path_step, "/root/B/P");
	assert_int_equal(back_txn.id, 0xabcdef);
	assert_int_equal(back_txn.n_groups, 2);
	assert_int_equal(back_txn.groups[1], 3);
	free(back_txn.groups);
	free_changes(back, n);
	tree_paths_free(&back_paths);
	/* Not wanted: skipped. Cut inside the prefix, or the prefix alone: corrupt. */
	assert_int_equal(history_decode(out.data, out.len, &back, &n, &back_paths, NULL), GROVE_OK);
	free_changes(back, n);
	tree_paths_free(&back_paths);
	assert_int_equal(history_decode(out.data, 20, &back, &n, &back_paths, &back_txn), GROVE_ECORRUPT);
	assert_int_equal(history_decode(out.data, 4 + 8 + 4 + 16, &back, &n, &back_paths, &back_txn), GROVE_ECORRUPT);
	/* One group is no transaction across shards: nothing is added. */
	size_t plain = out.len - (4 + 8 + 4 + 16);
	txn.n_groups = 1;
	out.len = 0;
	assert_int_equal(history_encode(&move, 1, &paths, &txn, &out), GROVE_OK);
	assert_int_equal(out.len, plain);
	grove_buf_free(&out);
	tree_paths_free(&paths);
}

static void put_str(struct grove_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	grove_buf_le32(b, (uint32_t)n);
	grove_buf_put(b, s, n);
}

/* A record as history_encode() wrote it before paths were steps. */
static void older_record(struct grove_buf *b)
{
	grove_buf_le32(b, 2);
	/* op, node, parent, old parent, index, old index, flags */
	grove_buf_u8(b, TREE_OP_MOVE);
	grove_buf_le64(b, 7);
	grove_buf_le64(b, 1);
	grove_buf_le64(b, 5);
	grove_buf_le64(b, 0);
	grove_buf_le64(b, 3);
	grove_buf_le32(b, 0);
	const char *move[] = {NULL, NULL, "/root/M", "/root/A/M", "Node2D", NULL, NULL};
	for (size_t i = 0; i < 7; i++)
		put_str(b, move[i]);
	grove_buf_le32(b, 0);
	grove_buf_u8(b, TREE_OP_SET_PROP);
	grove_buf_le64(b, 7);
	grove_buf_le64(b, 0);
	grove_buf_le64(b, 0);
	grove_buf_le64(b, 0);
	grove_buf_le64(b, 0);
	grove_buf_le32(b, 0);
	const char *set[] = {"hp", NULL, "/root/M", NULL, "Node2D", NULL, NULL};
	for (size_t i = 0; i < 7; i++)
		put_str(b, set[i]);
	grove_buf_le32(b, 2);
	grove_buf_put(b, "\x02\x07", 2);
}

static void test_older_records(void **state)
{
	(void)state;
	struct grove_buf b = {0};
	older_record(&b);
	struct tree_change *back;
	size_t n;
	struct tree_paths paths;
	assert_int_equal(history_decode(b.data, b.len, &back, &n, &paths, NULL), GROVE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(back[0].op, TREE_OP_MOVE);
	assert_int_equal(back[0].old_parent, 5);
	assert_path(&paths, back[0].path_step, "/root/M");
	assert_path(&paths, back[0].old_path_step, "/root/A/M");
	assert_string_equal(back[0].node_class, "Node2D");
	assert_string_equal(back[1].name, "hp");
	assert_path(&paths, back[1].path_step, "/root/M");
	assert_int_equal(back[1].old_path_step, TREE_NO_PATH);
	assert_int_equal(back[1].value.len, 2);
	free_changes(back, n);
	tree_paths_free(&paths);
	/* Cut short, it is corrupt. */
	assert_int_equal(history_decode(b.data, b.len - 1, &back, &n, &paths, NULL), GROVE_ECORRUPT);
	grove_buf_free(&b);
}

/* How many records of @p group the history holds from its oldest on, and their bytes; checks there is no gap. */
static int count_record(void *ctx, uint64_t index, const uint8_t *bytes, size_t len)
{
	(void)index, (void)bytes;
	uint64_t *held = ctx;
	held[0]++;
	held[1] += len;
	return 0;
}

static void held(const struct history *h, struct store_txn *txn, uint64_t group, uint64_t *oldest, uint64_t *entries,
		 uint64_t *bytes)
{
	uint64_t counts[2] = {0, 0};
	assert_int_equal(history_oldest(h, txn, group, oldest), GROVE_OK);
	assert_int_equal(history_read(h, txn, group, *oldest, SIZE_MAX, SIZE_MAX, count_record, counts), GROVE_OK);
	*entries = counts[0];
	*bytes = counts[1];
}

/*
 * The retention: never more than it allows, dropping the oldest first, a little under it after each trim
 * (1/256 of it), never the record just written, and per group; an entry applied again replaces its record.
 */
static void test_retention(void **state)
{
	(void)state;
	char *dir = test_tmpdir("history");
	struct store *s;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	struct history h;
	assert_int_equal(history_open(s, 1024, 40000, &h), GROVE_OK);
	uint8_t record[300];
	memset(record, 'r', sizeof(record));
	uint64_t trims = 0, last_entries = 0;
	for (uint64_t i = 1; i <= 3000; i++) {
		struct store_txn *txn;
		assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
		/* Group 1's records are 10 bytes (the entries bound them); group 2's 300 from 1,000 on (the bytes do). */
		size_t len2 = i < 1000 ? 10 : 300;
		assert_int_equal(history_append(&h, txn, 1, i, record, 10), GROVE_OK);
		assert_int_equal(history_append(&h, txn, 2, i, record, len2), GROVE_OK);
		if (i % 7 == 0) /* applied again after a crash: the same record, counted once */
			assert_int_equal(history_append(&h, txn, 1, i, record, 10), GROVE_OK);
		uint64_t oldest, entries, bytes;
		held(&h, txn, 1, &oldest, &entries, &bytes);
		assert_int_equal(oldest + entries - 1, i);
		assert_true(entries <= 1024 && entries >= (i < 1024 ? i : 1024 - 4));
		trims += entries < last_entries;
		last_entries = entries;
		held(&h, txn, 2, &oldest, &entries, &bytes);
		assert_int_equal(oldest + entries - 1, i);
		assert_true(bytes <= 40000 && (i < 1200 || bytes > 40000 - 40000 / 256 - 300));
		assert_int_equal(store_txn_commit(txn), GROVE_OK);
	}
	/* Once full, a trim goes from 1,025 records to 1,020: (3000 - 1024) / 5 trims, not one per append. */
	assert_true(trims >= 390 && trims <= 400);
	/* A record larger than the whole retention stays: it is the newest. */
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	uint8_t *big = calloc(50000, 1);
	assert_int_equal(history_append(&h, txn, 2, 3001, big, 50000), GROVE_OK);
	uint64_t oldest, entries, bytes;
	held(&h, txn, 2, &oldest, &entries, &bytes);
	assert_int_equal(oldest, 3001);
	assert_int_equal(entries, 1);
	free(big);
	store_txn_abort(txn);
	store_close(s);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_transaction_part),
		cmocka_unit_test(test_older_records),
		cmocka_unit_test(test_retention),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
