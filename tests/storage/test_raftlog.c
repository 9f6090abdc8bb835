/* The durable Raft log: append, overwrite of a conflicting suffix, compaction, hard state, reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "storage/raftlog.h"
#include "storage/store.h"
#include "support.h"

static struct store_txn *begin(struct store *s, bool write)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(s, NULL, write, &txn), GROVE_OK);
	return txn;
}

static void append_terms(struct store_txn *txn, uint64_t group, uint64_t start, const uint64_t *terms, size_t n)
{
	struct raftlog_entry e[16];
	for (size_t i = 0; i < n; i++)
		e[i] = (struct raftlog_entry){.index = start + i, .term = terms[i], .type = 1, .data = "payload", .len = 7};
	assert_int_equal(raftlog_append(txn, group, e, n), GROVE_OK);
}

static void test_append_overwrite_compact(void **state)
{
	(void)state;
	char *dir = test_tmpdir("raftlog");
	struct store *s;
	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	struct store_txn *txn = begin(s, true);
	struct raftlog_bounds b;
	assert_int_equal(raftlog_get_bounds(txn, 7, &b), GROVE_OK);
	assert_int_equal(b.first, 1);
	assert_int_equal(b.last, 0);
	uint64_t t1[] = {1, 1, 2, 2, 2};
	append_terms(txn, 7, 1, t1, 5);
	/* Another group's log is separate. */
	uint64_t other[] = {9};
	append_terms(txn, 8, 1, other, 1);
	/* A gap is refused. */
	struct raftlog_entry gap = {.index = 9, .term = 3};
	assert_int_equal(raftlog_append(txn, 7, &gap, 1), GROVE_EINVAL);
	/* Overwrite from index 4 with term 3: entries 4 and 5 of term 2 go away. */
	uint64_t t2[] = {3};
	append_terms(txn, 7, 4, t2, 1);
	assert_int_equal(raftlog_get_bounds(txn, 7, &b), GROVE_OK);
	assert_int_equal(b.last, 4);
	uint64_t term;
	assert_int_equal(raftlog_term(txn, 7, 4, &term), GROVE_OK);
	assert_int_equal(term, 3);
	assert_int_equal(raftlog_term(txn, 7, 5, &term), GROVE_ENOTFOUND);
	struct raftlog_entry e;
	assert_int_equal(raftlog_get(txn, 7, 2, &e), GROVE_OK);
	assert_int_equal(e.term, 1);
	assert_int_equal(e.type, 1);
	assert_int_equal(e.len, 7);
	assert_memory_equal(e.data, "payload", 7);
	/* Compact through 2: term of index 2 stays answerable as the snapshot term. */
	assert_int_equal(raftlog_compact(txn, 7, 2, 1), GROVE_OK);
	assert_int_equal(raftlog_get_bounds(txn, 7, &b), GROVE_OK);
	assert_int_equal(b.first, 3);
	assert_int_equal(b.last, 4);
	assert_int_equal(raftlog_term(txn, 7, 2, &term), GROVE_OK);
	assert_int_equal(term, 1);
	assert_int_equal(raftlog_get(txn, 7, 1, &e), GROVE_ENOTFOUND);
	assert_int_equal(raftlog_term(txn, 7, 1, &term), GROVE_ENOTFOUND);
	struct raftlog_entry before_first = {.index = 2, .term = 5};
	assert_int_equal(raftlog_append(txn, 7, &before_first, 1), GROVE_EINVAL);
	/* A snapshot beyond the log (follower install): the log restarts after it. */
	assert_int_equal(raftlog_compact(txn, 7, 10, 4), GROVE_OK);
	assert_int_equal(raftlog_get_bounds(txn, 7, &b), GROVE_OK);
	assert_int_equal(b.first, 11);
	assert_int_equal(b.last, 10);
	uint64_t t3[] = {4, 5};
	append_terms(txn, 7, 11, t3, 2);
	struct raftlog_hard_state hs = {.term = 5, .vote = 2, .commit = 11};
	assert_int_equal(raftlog_put_hard_state(txn, 7, &hs), GROVE_OK);
	assert_int_equal(raftlog_put_conf_state(txn, 7, "conf", 4), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	store_close(s);

	assert_int_equal(store_open(&s, dir, NULL), GROVE_OK);
	txn = begin(s, false);
	struct raftlog_hard_state got;
	assert_int_equal(raftlog_get_hard_state(txn, 7, &got), GROVE_OK);
	assert_int_equal(got.term, 5);
	assert_int_equal(got.vote, 2);
	assert_int_equal(got.commit, 11);
	assert_int_equal(raftlog_get_hard_state(txn, 8, &got), GROVE_OK);
	assert_int_equal(got.term, 0);
	struct store_bytes conf;
	assert_int_equal(raftlog_get_conf_state(txn, 7, &conf), GROVE_OK);
	assert_int_equal(conf.len, 4);
	assert_int_equal(raftlog_get_conf_state(txn, 8, &conf), GROVE_ENOTFOUND);
	assert_int_equal(raftlog_get_bounds(txn, 7, &b), GROVE_OK);
	assert_int_equal(b.first, 11);
	assert_int_equal(b.last, 12);
	assert_int_equal(raftlog_term(txn, 7, 12, &term), GROVE_OK);
	assert_int_equal(term, 5);
	assert_int_equal(raftlog_term(txn, 8, 1, &term), GROVE_OK);
	assert_int_equal(term, 9);
	store_txn_abort(txn);
	store_close(s);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_overwrite_compact),
	};
	return cmocka_run_group_tests_name("raftlog", tests, NULL, NULL);
}
