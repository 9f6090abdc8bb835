/* The log writer thread (src/server/logwriter.h) over a real write-ahead log in a temporary directory: a
 * flush runs beside the caller and is collected once, what it wrote reads back, and its eventfd is left
 * quiet once collected, however it was collected. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "src/common/error.h"
#include "src/server/logwriter.h"
#include "storage/wal.h"
#include "support.h"

static bool readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, timeout_ms) == 1;
}

/* Queue one entry of group 1 at @p index and take it for a flush. */
static void queue_entry(struct wal *wal, uint64_t index)
{
	char data[32];
	int len = snprintf(data, sizeof(data), "entry %llu", (unsigned long long)index);
	struct wal_entry e = {.index = index, .term = 1, .type = 0, .data = data, .len = (size_t)len};
	assert_int_equal(wal_append(wal, 1, &e, 1), GROVE_OK);
	assert_true(wal_flush_begin(wal));
}

/* A fresh log in @p dir and a writer thread for it. */
static struct logwriter *start_writer(const char *dir, struct wal **wal)
{
	struct wal_contents contents;
	assert_int_equal(wal_open(wal, dir, &contents), GROVE_OK);
	wal_contents_free(&contents);
	struct logwriter *lw;
	assert_int_equal(logwriter_start(*wal, &lw), GROVE_OK);
	return lw;
}

static void test_flushes_beside_and_collected_once(void **state)
{
	(void)state;
	char *dir = test_tmpdir("logwriter");
	struct wal *wal;
	struct logwriter *lw = start_writer(dir, &wal);
	int result = -1;
	uint64_t duration_ns = 0;
	assert_false(logwriter_collect(lw, false, &result, &duration_ns)); /* nothing submitted */

	for (uint64_t index = 1; index <= 3; index++) {
		queue_entry(wal, index);
		logwriter_submit(lw);
		assert_true(logwriter_busy(lw));
		/* The loop's way: wait for the eventfd, then collect without blocking. */
		assert_true(readable(logwriter_fd(lw), 10000));
		assert_true(logwriter_collect(lw, false, &result, &duration_ns));
		assert_int_equal(result, GROVE_OK);
		assert_true(duration_ns > 0);
		assert_false(logwriter_busy(lw));
		wal_flush_end(wal, result);
		assert_false(logwriter_collect(lw, false, &result, &duration_ns));
		assert_false(readable(logwriter_fd(lw), 0));
	}
	logwriter_stop(lw);
	wal_close(wal);

	struct wal_contents contents;
	assert_int_equal(wal_open(&wal, dir, &contents), GROVE_OK);
	assert_int_equal(contents.n_groups, 1);
	assert_int_equal(contents.groups[0].n_entries, 3);
	assert_int_equal(contents.groups[0].entries[2].index, 3);
	assert_memory_equal(contents.groups[0].entries[2].data, "entry 3", 7);
	wal_contents_free(&contents);
	wal_close(wal);
	test_rmtree(dir);
}

/*
 * A flush collected by a waiting call (a snapshot or compaction drains the log so) still signals its
 * eventfd after it finished. The next collect, which finds nothing submitted, must read that signal: an
 * eventfd left readable makes the loop's epoll return at once on every turn until the next flush.
 */
static void test_signal_of_a_waited_flush_is_drained(void **state)
{
	(void)state;
	char *dir = test_tmpdir("logwriter");
	struct wal *wal;
	struct logwriter *lw = start_writer(dir, &wal);
	queue_entry(wal, 1);
	logwriter_submit(lw);
	int result = -1;
	uint64_t duration_ns;
	assert_true(logwriter_collect(lw, true, &result, &duration_ns));
	assert_int_equal(result, GROVE_OK);
	wal_flush_end(wal, result);
	assert_true(readable(logwriter_fd(lw), 10000)); /* the thread signals after it hands the result over */
	assert_false(logwriter_collect(lw, false, &result, &duration_ns));
	assert_false(readable(logwriter_fd(lw), 0));
	logwriter_stop(lw);
	wal_close(wal);
	test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flushes_beside_and_collected_once),
		cmocka_unit_test(test_signal_of_a_waited_flush_is_drained),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
