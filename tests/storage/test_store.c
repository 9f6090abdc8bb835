/* The store's own contract: tables, cursors, nested transactions, reopen. */
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
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	assert_int_equal(store_put(txn, STORE_NODES, "k1", 2, "v1", 2), GROVE_OK);
	assert_int_equal(store_put(txn, STORE_PROPS, "k1", 2, "other", 5), GROVE_OK);
	assert_int_equal(store_meta_put_u64(txn, "applied_index", 42), GROVE_OK);
	assert_int_equal(store_put(txn, STORE_NODES, "", 0, "x", 1), GROVE_EINVAL);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	store_close(s);

	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	assert_int_equal(store_txn_begin(s, NULL, false, &txn), GROVE_OK);
	struct store_bytes v;
	assert_int_equal(store_get(txn, STORE_NODES, "k1", 2, &v), GROVE_OK);
	assert_int_equal(v.len, 2);
	assert_memory_equal(v.data, "v1", 2);
	assert_int_equal(store_get(txn, STORE_PROPS, "k1", 2, &v), GROVE_OK);
	assert_int_equal(v.len, 5); /* tables are separate */
	assert_int_equal(store_get(txn, STORE_GROUPS, "k1", 2, &v), GROVE_ENOTFOUND);
	uint64_t applied;
	assert_int_equal(store_meta_get_u64(txn, "applied_index", 0, &applied), GROVE_OK);
	assert_int_equal(applied, 42);
	assert_int_equal(store_meta_get_u64(txn, "absent", 7, &applied), GROVE_OK);
	assert_int_equal(applied, 7);
	store_txn_abort(txn);
	store_close(s);
	test_rmtree(dir);
}

static void test_nested_and_abort(void **state)
{
	(void)state;
	char *dir = test_tmpdir("store");
	struct store *s;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	struct store_txn *outer, *inner;
	assert_int_equal(store_txn_begin(s, NULL, true, &outer), GROVE_OK);
	assert_int_equal(store_put(outer, STORE_NODES, "a", 1, "1", 1), GROVE_OK);
	assert_int_equal(store_txn_begin(s, outer, true, &inner), GROVE_OK);
	assert_int_equal(store_put(inner, STORE_NODES, "b", 1, "2", 1), GROVE_OK);
	store_txn_abort(inner);
	assert_int_equal(store_txn_begin(s, outer, true, &inner), GROVE_OK);
	assert_int_equal(store_put(inner, STORE_NODES, "c", 1, "3", 1), GROVE_OK);
	assert_int_equal(store_txn_commit(inner), GROVE_OK);
	assert_int_equal(store_txn_begin(s, outer, false, &inner), GROVE_EINVAL);
	assert_int_equal(store_txn_commit(outer), GROVE_OK);
	/* An aborted top-level write leaves nothing. */
	assert_int_equal(store_txn_begin(s, NULL, true, &outer), GROVE_OK);
	assert_int_equal(store_put(outer, STORE_NODES, "d", 1, "4", 1), GROVE_OK);
	store_txn_abort(outer);

	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, false, &txn), GROVE_OK);
	assert_int_equal(store_get(txn, STORE_NODES, "a", 1, NULL), GROVE_OK);
	assert_int_equal(store_get(txn, STORE_NODES, "b", 1, NULL), GROVE_ENOTFOUND);
	assert_int_equal(store_get(txn, STORE_NODES, "c", 1, NULL), GROVE_OK);
	assert_int_equal(store_get(txn, STORE_NODES, "d", 1, NULL), GROVE_ENOTFOUND);
	struct store_stats st;
	assert_int_equal(store_stats(txn, &st), GROVE_OK);
	assert_int_equal(st.entries[STORE_NODES], 2);
	assert_true(st.file_bytes > 0);
	store_txn_abort(txn);
	store_close(s);
	test_rmtree(dir);
}

static void test_cursor_order(void **state)
{
	(void)state;
	char *dir = test_tmpdir("store");
	struct store *s;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	const char *keys[] = {"b2", "a1", "c3", "b1"};
	for (int i = 0; i < 4; i++)
		assert_int_equal(store_put(txn, STORE_ORDER, keys[i], 2, "", 0), GROVE_OK);
	struct store_cursor *c;
	assert_int_equal(store_cursor_open(txn, STORE_ORDER, &c), GROVE_OK);
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
	store_cursor_close(c);
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
