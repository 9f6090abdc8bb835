/* The store's own contract: named databases, cursors, nested transactions, prefix deletes, reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "storage/store.h"
#include "support.h"

static void test_put_get_reopen(void **state)
{
	(void)state;
	char *dir = test_tmpdir("store");
	struct store *s;
	store_db nodes, props, groups, meta;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	assert_int_equal(store_db_open(s, "nodes", false, &nodes), GROVE_ENOTFOUND);
	assert_int_equal(store_db_open(s, "nodes", true, &nodes), GROVE_OK);
	assert_int_equal(store_db_open(s, "props", true, &props), GROVE_OK);
	assert_int_equal(store_db_open(s, "meta", true, &meta), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	assert_int_equal(store_put(txn, nodes, "k1", 2, "v1", 2), GROVE_OK);
	assert_int_equal(store_put(txn, props, "k1", 2, "other", 5), GROVE_OK);
	assert_int_equal(store_put_u64(txn, meta, "applied_index", 13, 42), GROVE_OK);
	assert_int_equal(store_put(txn, nodes, "", 0, "x", 1), GROVE_EINVAL);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	store_close(s);

	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	assert_int_equal(store_db_open(s, "nodes", false, &nodes), GROVE_OK);
	assert_int_equal(store_db_open(s, "props", false, &props), GROVE_OK);
	assert_int_equal(store_db_open(s, "meta", false, &meta), GROVE_OK);
	assert_int_equal(store_db_open(s, "groups", true, &groups), GROVE_OK);
	assert_int_equal(store_txn_begin(s, NULL, false, &txn), GROVE_OK);
	struct store_bytes v;
	assert_int_equal(store_get(txn, nodes, "k1", 2, &v), GROVE_OK);
	assert_int_equal(v.len, 2);
	assert_memory_equal(v.data, "v1", 2);
	assert_int_equal(store_get(txn, props, "k1", 2, &v), GROVE_OK);
	assert_int_equal(v.len, 5); /* databases are separate */
	assert_int_equal(store_get(txn, groups, "k1", 2, &v), GROVE_ENOTFOUND);
	uint64_t applied;
	assert_int_equal(store_get_u64(txn, meta, "applied_index", 13, 0, &applied), GROVE_OK);
	assert_int_equal(applied, 42);
	assert_int_equal(store_get_u64(txn, meta, "absent", 6, 7, &applied), GROVE_OK);
	assert_int_equal(applied, 7);
	assert_int_equal(store_get_u64(txn, props, "k1", 2, 0, &applied), GROVE_ECORRUPT); /* not 8 bytes */
	store_txn_abort(txn);
	store_close(s);
	test_rmtree(dir);
}

static void test_nested_and_abort(void **state)
{
	(void)state;
	char *dir = test_tmpdir("store");
	struct store *s;
	store_db nodes;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	assert_int_equal(store_db_open(s, "nodes", true, &nodes), GROVE_OK);
	struct store_txn *outer, *inner;
	assert_int_equal(store_txn_begin(s, NULL, true, &outer), GROVE_OK);
	assert_int_equal(store_put(outer, nodes, "a", 1, "1", 1), GROVE_OK);
	assert_int_equal(store_txn_begin(s, outer, true, &inner), GROVE_OK);
	assert_int_equal(store_put(inner, nodes, "b", 1, "2", 1), GROVE_OK);
	store_txn_abort(inner);
	assert_int_equal(store_txn_begin(s, outer, true, &inner), GROVE_OK);
	assert_int_equal(store_put(inner, nodes, "c", 1, "3", 1), GROVE_OK);
	assert_int_equal(store_txn_commit(inner), GROVE_OK);
	assert_int_equal(store_txn_begin(s, outer, false, &inner), GROVE_EINVAL);
	assert_int_equal(store_txn_commit(outer), GROVE_OK);
	/* An aborted top-level write leaves nothing. */
	assert_int_equal(store_txn_begin(s, NULL, true, &outer), GROVE_OK);
	assert_int_equal(store_put(outer, nodes, "d", 1, "4", 1), GROVE_OK);
	store_txn_abort(outer);

	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, false, &txn), GROVE_OK);
	assert_int_equal(store_get(txn, nodes, "a", 1, NULL), GROVE_OK);
	assert_int_equal(store_get(txn, nodes, "b", 1, NULL), GROVE_ENOTFOUND);
	assert_int_equal(store_get(txn, nodes, "c", 1, NULL), GROVE_OK);
	assert_int_equal(store_get(txn, nodes, "d", 1, NULL), GROVE_ENOTFOUND);
	uint64_t entries, bytes;
	assert_int_equal(store_db_entries(txn, nodes, &entries), GROVE_OK);
	assert_int_equal(entries, 2);
	assert_int_equal(store_file_bytes(txn, &bytes), GROVE_OK);
	assert_true(bytes > 0);
	store_txn_abort(txn);
	store_close(s);
	test_rmtree(dir);
}

/* Cursors walk keys in order, delete at their place; an insert can refuse a key that is there. */
static void test_cursor_order(void **state)
{
	(void)state;
	char *dir = test_tmpdir("store");
	struct store *s;
	store_db order;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	assert_int_equal(store_db_open(s, "order", true, &order), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	const char *keys[] = {"b2", "a1", "c3", "b1"};
	for (int i = 0; i < 4; i++)
		assert_int_equal(store_put(txn, order, keys[i], 2, "", 0), GROVE_OK);
	struct store_cursor *c;
	assert_int_equal(store_cursor_open(txn, order, &c), GROVE_OK);
	struct store_bytes k;
	assert_int_equal(store_cursor_seek(c, "b", 1, &k, NULL), GROVE_OK);
	assert_memory_equal(k.data, "b1", 2);
	assert_int_equal(store_cursor_next(c, &k, NULL), GROVE_OK);
	assert_memory_equal(k.data, "b2", 2);
	assert_int_equal(store_cursor_next(c, &k, NULL), GROVE_OK);
	assert_memory_equal(k.data, "c3", 2);
	assert_int_equal(store_cursor_next(c, &k, NULL), GROVE_ENOTFOUND);
	assert_int_equal(store_cursor_last(c, &k, NULL), GROVE_OK);
	assert_memory_equal(k.data, "c3", 2);
	assert_int_equal(store_cursor_prev(c, &k, NULL), GROVE_OK);
	assert_memory_equal(k.data, "b2", 2);
	assert_int_equal(store_cursor_seek(c, NULL, 0, &k, NULL), GROVE_OK);
	assert_memory_equal(k.data, "a1", 2);
	assert_int_equal(store_cursor_seek(c, "d", 1, &k, NULL), GROVE_ENOTFOUND);
	/* A delete at the cursor takes that key; seek again after it. */
	assert_int_equal(store_cursor_seek(c, "b", 1, &k, NULL), GROVE_OK);
	assert_int_equal(store_cursor_del(c), GROVE_OK);
	assert_int_equal(store_get(txn, order, "b1", 2, NULL), GROVE_ENOTFOUND);
	assert_int_equal(store_cursor_seek(c, "b", 1, &k, NULL), GROVE_OK);
	assert_memory_equal(k.data, "b2", 2);
	store_cursor_close(c);
	/* An insert that finds its key changes nothing and shows what is there. */
	struct store_bytes old;
	assert_int_equal(store_put_new(txn, order, "b1", 2, "new", 3, &old), GROVE_OK);
	assert_int_equal(store_put_new(txn, order, "b1", 2, "other", 5, &old), GROVE_EEXIST);
	assert_int_equal(old.len, 3);
	assert_memory_equal(old.data, "new", 3);
	assert_int_equal(store_get(txn, order, "b1", 2, &old), GROVE_OK);
	assert_memory_equal(old.data, "new", 3);
	assert_int_equal(store_put_new(txn, order, "", 0, "x", 1, NULL), GROVE_EINVAL);
	/* A prefix delete takes exactly the keys that start with it. */
	assert_int_equal(store_del_prefix(txn, order, "b", 1), GROVE_OK);
	uint64_t left;
	assert_int_equal(store_db_entries(txn, order, &left), GROVE_OK);
	assert_int_equal(left, 2);
	assert_int_equal(store_get(txn, order, "a1", 2, NULL), GROVE_OK);
	assert_int_equal(store_get(txn, order, "c3", 2, NULL), GROVE_OK);
	assert_int_equal(store_del_prefix(txn, order, NULL, 0), GROVE_OK);
	assert_int_equal(store_db_entries(txn, order, &left), GROVE_OK);
	assert_int_equal(left, 0);
	store_txn_abort(txn);
	store_close(s);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_reopen),
		cmocka_unit_test(test_nested_and_abort),
		cmocka_unit_test(test_cursor_order),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
