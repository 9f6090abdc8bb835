/*
 * What one batch costs as it grows, on a real LMDB store with change records on (a server always wants
 * them): a chain built top-down in one batch and many moves among many siblings. The times are printed;
 * the asserts are only generous complexity bounds (the per-operation time may not grow with the batch),
 * which quadratic work per batch would break, never tight timings.
 *
 * GROVE_BATCH_COST_SCALE=k divides every size by k, to see the trend quickly on a slow build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

/* The longest chain built in one batch, the moves of one batch, and a whole batch's ceiling (seconds). */
#define CHAIN_NODES 100000
#define MOVES 20000
#define BATCH_SECONDS_MAX 20.0
/* How much more one operation may cost in a batch ten times larger: far below the 10x of quadratic work. */
#define PER_OP_GROWTH_MAX 4.0

struct fixture {
	char *dir;
	struct store *store;
	struct tree world;
	size_t scale;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("batchcost");
	struct store_options opts = {.no_sync = true, .map_size = 8ull << 30};
	assert_int_equal(store_open(&f->store, f->dir, &opts), GROVE_OK);
	assert_int_equal(tree_open(f->store, 1, &f->world), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&f->world, txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	const char *scale = getenv("GROVE_BATCH_COST_SCALE");
	f->scale = scale && atoi(scale) > 0 ? (size_t)atoi(scale) : 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Apply @p n ops as one batch with change records, commit, and return the seconds it all took. */
static double timed_batch(struct fixture *f, const struct tree_op *ops, size_t n)
{
	double start = now_s();
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {ops, n};
	struct tree_result res = {.record_changes = true};
	int err = tree_apply_batch(&f->world, txn, &batch, &res);
	if (err)
		fail_msg("batch of %zu refused at %zu: %s", n, res.failed_op, res.message);
	assert_int_equal(res.n_changes, n);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	tree_result_free(&res);
	return now_s() - start;
}

/* A chain of @p n nodes under /root/@p top, each created under the one before by the same batch. */
static double chain(struct fixture *f, const char *top, size_t n)
{
	struct tree_op *ops = calloc(n, sizeof(*ops));
	assert_non_null(ops);
	for (size_t i = 0; i < n; i++)
		ops[i] = (struct tree_op){.kind = TREE_OP_CREATE,
					  .node = {.id = i ? -(int64_t)i : 0, .path = i ? NULL : "/root"},
					  .name = i ? "n" : top, .text = "Node", .index = -1};
	double s = timed_batch(f, ops, n);
	free(ops);
	printf("chain of %zu nodes in one batch: %.3f s (%.2f us per node)\n", n, s, s * 1e6 / (double)n);
	return s;
}

static void test_chain_is_linear(void **state)
{
	struct fixture *f = *state;
	size_t big = CHAIN_NODES / f->scale, small = big / 10;
	double t_small = chain(f, "small", small);
	double t_big = chain(f, "big", big);
	assert_true(t_big < BATCH_SECONDS_MAX);
	double growth = (t_big / (double)big) / (t_small / (double)small);
	printf("per-node time grew %.2fx from %zu to %zu nodes\n", growth, small, big);
	assert_true(growth < PER_OP_GROWTH_MAX);
}

/*
 * @p n moves: /root/@p from has @p n children, and the batch moves them to the end of /root/@p to, last
 * child first, so that each leaves many siblings before it. (The end: a move to position k walks the k
 * siblings before it, which is the order table's cost, not the batch's.)
 */
static double moves(struct fixture *f, const char *from, const char *to, size_t n)
{
	struct tree_op *ops = calloc(n + 2, sizeof(*ops));
	char (*names)[16] = calloc(n, sizeof(*names));
	uint64_t *ids = calloc(n, sizeof(*ids));
	assert_true(ops && names && ids);
	ops[0] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = from, .text = "Node",
				  .index = -1};
	ops[1] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = to, .text = "Node",
				  .index = -1};
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		ops[i + 2] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = names[i],
					      .text = "Node2D", .index = -1};
	}
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_result res = {0};
	assert_int_equal(tree_apply_batch(&f->world, txn, &(struct tree_batch){ops, n + 2}, &res), GROVE_OK);
	uint64_t target = res.ids[1];
	memcpy(ids, res.ids + 2, n * sizeof(*ids));
	tree_result_free(&res);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);

	for (size_t i = 0; i < n; i++)
		ops[i] = (struct tree_op){.kind = TREE_OP_MOVE, .node = {.id = (int64_t)ids[n - 1 - i]},
					  .target = {.id = (int64_t)target}, .index = -1};
	double s = timed_batch(f, ops, n);
	free(ops);
	free(names);
	free(ids);
	printf("%zu moves among %zu siblings in one batch: %.3f s (%.2f us per move)\n", n, n, s, s * 1e6 / (double)n);
	return s;
}

static void test_moves_are_linear(void **state)
{
	struct fixture *f = *state;
	size_t big = MOVES / f->scale, small = big / 10;
	double t_small = moves(f, "from_small", "to_small", small);
	double t_big = moves(f, "from_big", "to_big", big);
	assert_true(t_big < BATCH_SECONDS_MAX);
	double growth = (t_big / (double)big) / (t_small / (double)small);
	printf("per-move time grew %.2fx from %zu to %zu moves\n", growth, small, big);
	assert_true(growth < PER_OP_GROWTH_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_is_linear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moves_are_linear, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
