/*
 * The check of what change-stream watchers saw during a campaign (streamcheck.h): a stream that shows every
 * register write as the log ordered it passes; each way of getting it wrong (a value lost, repeated, never
 * written or from a failed write, two writes in the wrong real-time order, two watchers in opposite orders,
 * half of a batch across shards, a broken chain, a register a watcher does not follow) is reported, and
 * nothing else is; a watcher of one register owes nothing of the others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "tests/jepsen/streamcheck.h"

/*
 * r0: 1 then 2 (in real-time order), 3 concurrent with 2 and unknown, 4 failed, 10 with r1 in one batch
 * (its second write by the companion process); s0 is a set, which the check leaves alone.
 */
static const char history_text[] = "1 invoke write r0 1 100\n"
				   "1 ok write r0 1 200\n"
				   "2 invoke write r0 2 300\n"
				   "3 invoke write r0 3 350\n"
				   "2 ok write r0 2 400\n"
				   "3 info write r0 3 500\n"
				   "4 invoke write r0 4 600\n"
				   "4 fail write r0 4 700\n"
				   "5 invoke write r0 10 800\n"
				   "37 invoke write r1 10 801\n"
				   "5 ok write r0 10 900\n"
				   "37 ok write r1 10 901\n"
				   "6 invoke add s0 1 950\n"
				   "6 ok add s0 1 960\n";

static struct history *h;

static int setup(void **state)
{
	(void)state;
	struct history_error err;
	return history_parse(history_text, sizeof(history_text) - 1, &h, &err) == GROVE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	history_free(h);
	return 0;
}

/* A watcher from "r0=1@1 r0=2@2 ..." (key=value@event, space-separated). */
static void watch(struct stream_watch *w, const char *seen)
{
	*w = (struct stream_watch){0};
	char copy[256], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", seen);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char key[16];
		long long value;
		unsigned long long event;
		assert_int_equal(sscanf(t, "%15[^=]=%lld@%llu", key, &value, &event), 3);
		assert_int_equal(stream_watch_add(w, key, value, event), 0);
	}
}

/* The violations of watchers @p seen (@p n of them), the report kept in @p report when it is not NULL. */
static size_t check(const char *const *seen, size_t n, uint64_t complete_from_ns, char *report, size_t cap)
{
	struct stream_watch w[4];
	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++) {
		watch(&w[i], seen[i]);
		w[i].complete_from_ns = complete_from_ns;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	size_t violations = stream_check(h, w, n, f);
	fclose(f);
	if (report)
		snprintf(report, cap, "%s", text);
	free(text);
	for (size_t i = 0; i < n; i++)
		stream_watch_free(&w[i]);
	return violations;
}

/* The violations of watcher @p w alone (freed), its report kept in @p report. */
static size_t check_one(struct stream_watch *w, char *report, size_t cap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	size_t violations = stream_check(h, w, 1, f);
	fclose(f);
	snprintf(report, cap, "%s", text);
	free(text);
	stream_watch_free(w);
	return violations;
}

static void test_good_streams_pass(void **state)
{
	(void)state;
	const char *const seen[] = {"r0=1@1 r0=2@2 r0=3@3 r0=10@4 r1=10@4", "r0=1@7 r0=2@9 r0=10@12 r1=10@12",
				    "r0=1@1 r0=3@2 r0=2@3 r0=10@5 r1=10@5"};
	/* The first two agree on 1, 2, 10; the third put the unknown 3 before 2, which the first put after it. */
	assert_int_equal(check(seen, 2, 0, NULL, 0), 0);
	const char *const alone[] = {seen[2]};
	assert_int_equal(check(alone, 1, 0, NULL, 0), 0);
	/* A watcher whose snapshot came after 1 and 2 were written need not see them. */
	const char *const late[] = {"r0=10@1 r1=10@1"};
	assert_int_equal(check(late, 1, 700, NULL, 0), 0);
}

static void test_each_mistake_is_reported(void **state)
{
	(void)state;
	static const struct {
		const char *seen[2];
		size_t n;
		const char *says;
	} cases[] = {
		{{"r0=1@1 r0=10@2 r1=10@2"}, 1, "never saw r0 = 2, which was acknowledged"},
		{{"r0=2@1 r0=1@2 r0=10@3 r1=10@3"}, 1, "after a value whose write was invoked once it had completed"},
		{{"r0=1@1 r0=2@2 r0=4@3 r0=10@4 r1=10@4"}, 1, "whose write failed"},
		{{"r0=1@1 r0=2@2 r0=99@3 r0=10@4 r1=10@4"}, 1, "which no one wrote"},
		{{"r0=1@1 r0=2@2 r0=2@3 r0=10@4 r1=10@4"}, 1, "twice"},
		{{"r0=1@1 r0=2@2 r0=10@4 r1=10@5"}, 1, "without r1 in the same event"},
		{{"r0=1@1 r0=2@2 r0=3@3 r0=10@4 r1=10@4", "r0=1@1 r0=3@2 r0=2@3 r0=10@4 r1=10@4"}, 2, "opposite orders"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char report[1024];
		size_t violations = check(cases[i].seen, cases[i].n, 0, report, sizeof(report));
		if (violations != 1 || !strstr(report, cases[i].says))
			fail_msg("case %zu: %zu violations, wanted one saying \"%s\":\n%s", i, violations, cases[i].says, report);
	}
	/* Half a batch lost: the acknowledged half is missing, and the batch was not seen whole. */
	char report[1024];
	const char *const half[] = {"r0=1@1 r0=2@2 r0=10@3"};
	assert_int_equal(check(half, 1, 0, report, sizeof(report)), 2);
	assert_non_null(strstr(report, "never saw r1 = 10"));
	/* A watcher of r1 alone owes nothing of r0, sees no batch by halves, and must not see r0. */
	struct stream_watch w;
	watch(&w, "r1=10@4");
	snprintf(w.only_key, sizeof(w.only_key), "r1");
	assert_int_equal(check_one(&w, report, sizeof(report)), 0);
	watch(&w, "r0=1@1 r1=10@4");
	snprintf(w.only_key, sizeof(w.only_key), "r1");
	assert_int_equal(check_one(&w, report, sizeof(report)), 1);
	assert_non_null(strstr(report, "which follows r1 only, saw r0 = 1"));
	/* A broken chain noticed on the wire is reported as it was noticed. */
	watch(&w, "r0=1@1 r0=2@2 r0=10@3 r1=10@3");
	snprintf(w.violation, sizeof(w.violation), "an event at 7 after 5, but the last one was at 6");
	assert_int_equal(check_one(&w, report, sizeof(report)), 1);
	assert_non_null(strstr(report, "watcher 0: an event at 7"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_streams_pass),
		cmocka_unit_test(test_each_mistake_is_reported),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
