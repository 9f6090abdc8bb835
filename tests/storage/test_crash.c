/* Durability of the store under kill -9: a child process applies a stream of durable batches and reports
 * each one it has committed; the parent kills it with SIGKILL at a random moment, reopens the same files
 * and checks that every acknowledged batch is there, that no batch is half applied, and that the applied
 * index agrees with the tree. Several rounds run on the same directory. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

/* The world's tree (group 1) of the store the test opened last, and where the applied index is kept. */
static struct tree world;
static store_db applied_db;

static int open_world(struct store *s)
{
	int err = tree_open(s, 1, &world);
	return err ? err : store_db_open(s, "test.applied", true, &applied_db);
}

/* Apply batch @p i: create node n<i> with property seq = i, and set /root's "last" to i. */
static int apply_batch(struct store *s, uint64_t i)
{
	char name[32];
	snprintf(name, sizeof(name), "n%llu", (unsigned long long)i);
	struct variant v = {0};
	variant_set_int(&v, (int64_t)i);
	struct tree_op ops[] = {
		{.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = name, .text = "Node", .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = {.id = -1}, .name = "seq", .value = &v},
		{.kind = TREE_OP_SET_PROP, .node = {.id = TREE_ROOT_ID}, .name = "last", .value = &v},
	};
	struct store_txn *txn;
	if (store_txn_begin(s, NULL, true, &txn))
		return -1;
	struct tree_batch batch = {ops, 3};
	struct tree_result res = {0};
	int err = tree_apply_batch(&world, txn, &batch, &res);
	tree_result_free(&res);
	if (!err)
		err = store_put_u64(txn, applied_db, "applied", 7, i + 1);
	if (err) {
		store_txn_abort(txn);
		return -1;
	}
	return store_txn_commit(txn) ? -1 : 0;
}

/* The child: write batches from the current applied index on, acknowledging each on @p ack_fd. */
static void writer(const char *dir, int ack_fd)
{
	struct store *s;
	if (store_open(&s, dir, NULL) || open_world(s))
		_exit(2);
	struct store_txn *txn;
	uint64_t next = 0;
	if (store_txn_begin(s, NULL, true, &txn) || tree_init(&world, txn) ||
	    store_get_u64(txn, applied_db, "applied", 7, 0, &next) || store_txn_commit(txn))
		_exit(3);
	for (uint64_t i = next; i < next + 100000; i++) {
		if (apply_batch(s, i))
			_exit(4);
		if (write(ack_fd, &i, sizeof(i)) != sizeof(i))
			_exit(5);
	}
	_exit(0);
}

/* Open @p dir and check it against the highest acknowledged batch; returns the applied index. */
static uint64_t verify(const char *dir, int64_t last_acked)
{
	struct store *s;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	assert_int_equal(open_world(s), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, false, &txn), GROVE_OK);
	uint64_t applied;
	assert_int_equal(store_get_u64(txn, applied_db, "applied", 7, 0, &applied), GROVE_OK);
	assert_true((int64_t)applied >= last_acked + 1);
	/* The tree reflects exactly `applied` batches: n0..n(applied-1) exist, n(applied) does not. */
	struct variant v = {0};
	if (applied > 0) {
		assert_int_equal(tree_get_prop(&world, txn, TREE_ROOT_ID, "last", &v), GROVE_OK);
		assert_int_equal(v.as.i, (int64_t)applied - 1);
		variant_free(&v);
	}
	uint64_t count;
	assert_int_equal(tree_child_count(&world, txn, TREE_ROOT_ID, &count), GROVE_OK);
	assert_int_equal(count, applied);
	for (uint64_t i = 0; i <= applied; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/root/n%llu", (unsigned long long)i);
		uint64_t id;
		int err = tree_resolve_path(&world, txn, path, &id);
		if (i == applied) {
			assert_int_equal(err, GROVE_ENOTFOUND);
			break;
		}
		assert_int_equal(err, GROVE_OK);
		assert_int_equal(tree_get_prop(&world, txn, id, "seq", &v), GROVE_OK);
		assert_int_equal(v.as.i, (int64_t)i);
		variant_free(&v);
	}
	store_txn_abort(txn);
	store_close(s);
	return applied;
}

static void test_kill9_keeps_acknowledged(void **state)
{
	(void)state;
	char *dir = test_tmpdir("crash");
	test_seed_crashes("crash test");
	int64_t last_acked = -1;
	uint64_t total_acked = 0;
	for (int round = 0; round < 5; round++) {
		/* Kill after a random number of acknowledgements, at most a few seconds in. */
		uint64_t last;
		int got = test_kill9_after(writer, dir, 50 + rand() % 400, &last);
		if (got)
			last_acked = (int64_t)last;
		total_acked += (uint64_t)got;
		uint64_t applied = verify(dir, last_acked);
		printf("round %d: last acknowledged %lld, applied %llu\n", round, (long long)last_acked,
		       (unsigned long long)applied);
	}
	assert_true(total_acked >= 250);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_keeps_acknowledged),
	};
	return cmocka_run_group_tests_name("storage_crash", tests, NULL, NULL);
}
