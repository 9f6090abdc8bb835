/*
 * The linearizability checker: the history format and its refusals, known good and known bad histories of
 * both models, the final-read check, the excerpts of violations (short, and failing on their own), the step
 * limit, the command-line tool's exit statuses, and a seeded comparison against real executions:
 * histories generated from a sequential execution with random concurrent overlaps, fails and unknown
 * outcomes must pass; the same history with one read corrupted must fail.
 *
 * GROVE_LIN_SEEDS=N runs N seeds per model (default 2000 register, 1000 set); GROVE_LIN_SEED=S replays
 * one and prints its history. A failure prints its seed. GROVE_LIN_PERF_DIR=DIR keeps the large
 * generated histories of test_performance there, for timing the tool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "tests/jepsen/history.h"
#include "tests/jepsen/lincheck.h"

/* ---- helpers ---- */

static bool is_read_f(enum history_f f)
{
	return f == HISTORY_READ || f == HISTORY_READ_SET;
}

static struct history *parse(const char *text)
{
	struct history *h = NULL;
	struct history_error err;
	int rc = history_parse(text, strlen(text), &h, &err);
	if (rc)
		fprintf(stderr, "line %zu: %s\n", err.line, err.msg);
	assert_int_equal(rc, GROVE_OK);
	return h;
}

static size_t key_of(const struct history *h, const char *key)
{
	for (size_t k = 0; k < h->n_keys; k++)
		if (!strcmp(h->keys[k], key))
			return k;
	fail_msg("no key %s", key);
	return 0;
}

/* The whole history's verdict; the report is printed when it differs from @p want. */
static void expect(const char *text, enum lin_verdict want)
{
	struct history *h = parse(text);
	struct lin_report *r;
	assert_int_equal(lin_check(h, NULL, &r), GROVE_OK);
	if (r->verdict != want) {
		fprintf(stderr, "expected %s:\n%s", lin_verdict_name(want), text);
		lin_report_write(stderr, h, r, true);
	}
	assert_int_equal(r->verdict, want);
	lin_report_free(r);
	history_free(h);
}

/* The report of @p text as printed. */
static char *report_text(const char *text, const struct lin_options *opt, enum lin_verdict *verdict)
{
	struct history *h = parse(text);
	struct lin_report *r;
	assert_int_equal(lin_check(h, opt, &r), GROVE_OK);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	assert_int_equal(lin_report_write(f, h, r, true), 0);
	fclose(f);
	if (verdict)
		*verdict = r->verdict;
	lin_report_free(r);
	history_free(h);
	return out;
}

static void expect_report_has(const char *text, const char *needle)
{
	char *out = report_text(text, NULL, NULL);
	if (!strstr(out, needle))
		fail_msg("report lacks \"%s\":\n%s", needle, out);
	free(out);
}

/* The excerpt of @p kr, written out, read back and checked again: it must fail on its own. */
static void expect_excerpt_fails(const struct lin_key_result *kr)
{
	assert_non_null(kr->excerpt);
	struct lin_report *again;
	assert_int_equal(lin_check(kr->excerpt, NULL, &again), GROVE_OK);
	assert_int_equal(again->verdict, LIN_VIOLATION);
	lin_report_free(again);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	size_t *all = malloc((kr->excerpt->n_ops + 1) * sizeof(*all));
	for (size_t i = 0; i < kr->excerpt->n_ops; i++)
		all[i] = i;
	assert_int_equal(history_write_ops(f, kr->excerpt, all, NULL, kr->excerpt->n_ops), 0);
	fclose(f);
	free(all);
	struct history *h = parse(text);
	assert_int_equal(lin_check(h, NULL, &again), GROVE_OK);
	if (again->verdict != LIN_VIOLATION)
		fail_msg("the excerpt read back passes:\n%s", text);
	lin_report_free(again);
	history_free(h);
	free(text);
}

/* ---- the format ---- */

static void test_parse_fields(void **state)
{
	(void)state;
	const char *text = "# a comment\r\n"
	                   "\n"
	                   "  7\tinvoke  write\t/root/World/Player \"a \\\"b\\\"\\n\\x01\\\\\" 100\r\n"
	                   "7 ok write /root/World/Player \"a \\\"b\\\"\\n\\x01\\\\\" 150   \n"
	                   "8 invoke read final nil 120\n"
	                   "8 info read final nil 190\n"
	                   "9 invoke add s -9223372036854775808 130\n"
	                   "10 invoke read_set s nil 140\n"
	                   "10 ok read_set s [ -9223372036854775808 ,\"x y\",3] 160\n"
	                   "final n1 s [\"x y\", 3]\n"
	                   "final final s []";
	struct history *h = parse(text);
	assert_int_equal(h->n_keys, 3);
	assert_string_equal(h->keys[0], "/root/World/Player");
	assert_string_equal(h->keys[1], "final");
	assert_int_equal(h->models[0], HISTORY_REGISTER);
	assert_int_equal(h->models[2], HISTORY_GSET);
	assert_int_equal(h->n_ops, 4);
	const struct history_op *w = &h->ops[0];
	assert_int_equal(w->process, 7);
	assert_int_equal(w->status, HISTORY_OK);
	assert_int_equal(w->value.kind, HISTORY_STR);
	assert_string_equal(w->value.s, "a \"b\"\n\x01\\");
	assert_int_equal(w->invoke_ns, 100);
	assert_int_equal(w->complete_ns, 150);
	assert_int_equal(w->invoke_line, 3);
	assert_int_equal(w->complete_line, 4);
	assert_int_equal(h->ops[1].status, HISTORY_INFO);
	/* An add never completed is info, with no completion. */
	assert_int_equal(h->ops[2].status, HISTORY_INFO);
	assert_int_equal(h->ops[2].complete_line, 0);
	assert_int_equal(h->ops[2].value.i, INT64_MIN);
	const struct history_value *set = &h->ops[3].value;
	assert_int_equal(set->kind, HISTORY_SET);
	assert_int_equal(set->n_elems, 3);
	assert_string_equal(set->elems[1].s, "x y");
	assert_int_equal(h->n_finals, 2);
	assert_string_equal(h->finals[1].member, "final");
	assert_int_equal(h->finals[1].set.n_elems, 0);
	history_free(h);
}

/* What a campaign writes reads back the same. */
static void test_write_read_back(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct history_value s = {.kind = HISTORY_STR, .s = "tab\there \"q\" \\ \x7f\r\n\x1b end"};
	struct history_value i = {.kind = HISTORY_INT, .i = -42};
	struct history_value elems[2] = {s, i};
	struct history_value set = {.kind = HISTORY_SET, .elems = elems, .n_elems = 2};
	assert_int_equal(history_write_event(f, 1, HISTORY_INVOKE, HISTORY_WRITE, "k", &s, 10), 0);
	assert_int_equal(history_write_event(f, 1, HISTORY_OK, HISTORY_WRITE, "k", &s, 20), 0);
	assert_int_equal(history_write_event(f, 2, HISTORY_INVOKE, HISTORY_READ, "k", NULL, 30), 0);
	assert_int_equal(history_write_event(f, 2, HISTORY_OK, HISTORY_READ, "k", &s, 40), 0);
	assert_int_equal(history_write_event(f, 3, HISTORY_INVOKE, HISTORY_ADD, "s", &i, 50), 0);
	assert_int_equal(history_write_final(f, "m1", "s", &set), 0);
	/* Keys that the format cannot hold are refused. */
	assert_int_equal(history_write_event(f, 3, HISTORY_OK, HISTORY_ADD, "a key", &i, 60), -1);
	assert_int_equal(history_write_event(f, 3, HISTORY_OK, HISTORY_ADD, "", &i, 60), -1);
	assert_int_equal(history_write_final(f, "m1", "s", &i), -1);
	fclose(f);
	struct history *h = parse(text);
	assert_int_equal(h->n_ops, 3);
	assert_true(history_value_equal(&h->ops[0].value, &s));
	assert_true(history_value_equal(&h->ops[1].value, &s));
	assert_true(history_value_equal(&h->ops[2].value, &i));
	assert_true(history_value_equal(&h->finals[0].set, &set));
	history_free(h);
	free(text);
}

struct bad_case {
	const char *text;
	size_t line;
	const char *why;
};

static void test_parse_errors(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"1 invoke write x 1\n", 1, "missing time"},
		{"1 invoke write x 1 10 extra\n", 1, "unexpected text"},
		{"1 invoke write x\n", 1, "missing value"},
		{"x invoke write k 1 10\n", 1, "process 'x'"},
		{"-1 invoke write k 1 10\n", 1, "process '-1'"},
		{"1 begin write k 1 10\n", 1, "unknown event type 'begin'"},
		{"1 invoke delete k 1 10\n", 1, "unknown operation 'delete'"},
		{"1 invoke write k 1x 10\n", 1, "malformed value '1x'"},
		{"1 invoke write k - 10\n", 1, "malformed value"},
		{"1 invoke write k nill 10\n", 1, "after 'nil'"},
		{"1 invoke write k \"abc 10\n", 1, "not closed"},
		{"1 invoke write k \"a\\qb\" 10\n", 1, "unknown escape \\q"},
		{"1 invoke write k \"\\x00\" 10\n", 1, "not 00"},
		{"1 invoke write k \"\\x4\" 10\n", 1, "two hex digits"},
		{"1 invoke write k \"a\tb\" 10\n", 1, "control byte 0x09"},
		{"1 invoke write k \"a\"b 10\n", 1, "unexpected 'b' after the value"},
		{"1 invoke write k 9223372036854775808 10\n", 1, "does not fit"},
		{"1 invoke write k 1 18446744073709551616\n", 1, "time '18446744073709551616' does not fit"},
		{"1 invoke write k 1 18446744073709551615\n", 1, "reserved"},
		{"1 invoke write k 1 -5\n", 1, "time '-5'"},
		{"1 invoke read k 1 10\n", 1, "a read invoke carries nil, not an integer"},
		{"1 invoke add k nil 10\n", 1, "an add carries an integer or a string"},
		{"1 invoke write k [1] 10\n", 1, "only read_set and final lines carry sets"},
		{"1 invoke read_set k nil 10\n1 ok read_set k 3 20\n", 2, "a set like [1, 2], not an integer"},
		{"1 invoke read_set k nil 10\n1 ok read_set k [1, 2 20\n", 2, "not closed"},
		{"1 invoke read_set k nil 10\n1 ok read_set k [1, nil] 20\n", 2, "not nil"},
		{"1 invoke read_set k nil 10\n1 ok read_set k [1,, 2] 20\n", 2, "malformed value"},
		{"1 invoke read_set k nil 10\n1 info read_set k [] 20\n", 2, "a read_set info carries nil"},
		{"1 ok write k 1 10\n", 1, "has not invoked"},
		{"1 invoke write k 1 10\n1 invoke write k 2 20\n", 2, "invokes again while its write of k from line 1"},
		{"1 invoke write k 1 10\n1 ok write j 1 20\n", 2, "invoked a write of k on line 1"},
		{"1 invoke write k 1 10\n1 ok read k 1 20\n", 2, "completes a read of k"},
		{"1 invoke write k 1 20\n1 ok write k 1 10\n", 2, "back in time: 10 after 20"},
		{"1 invoke write k 1 10\n1 fail write k 2 20\n", 2, "another value than its invoke on line 1"},
		{"1 invoke write k 1 10\n1 ok write k 1 20\n2 invoke add k 5 30\n", 3,
		 "key k is used as a register on line 1 and as a set here"},
		{"1 invoke write k 1 10\nfinal n1 k []\n", 2, "used as a register"},
		{"1 invoke add s 5 10\n1 ok add s 5 20\n\n2 invoke add s 5 30\n", 4, "added before on line 1"},
		{"final n1 s 5\n", 1, "a final read must be a set"},
		{"final n1\n", 1, "missing key"},
		{"final n1 s [] x\n", 1, "unexpected text"},
		{"1 invoke write k 1 10\n# c\n1 ok write k 1 20 # no comments here\n", 3, "unexpected text"},
		{"1 invoke write k\x01 1 10\n", 1, "control byte 0x01"},
		{"1\n", 1, "missing event type"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct history *h = (struct history *)1;
		struct history_error err;
		int rc = history_parse(cases[i].text, strlen(cases[i].text), &h, &err);
		if (rc != GROVE_EPARSE || err.line != cases[i].line || !strstr(err.msg, cases[i].why))
			fail_msg("case %zu (%s): rc %d, line %zu: %s; wanted line %zu: %s", i, cases[i].text, rc, err.line,
			         err.msg, cases[i].line, cases[i].why);
		assert_null(h);
	}
	/* A NUL byte inside a line. */
	static const char nul[] = "1 invoke write k 1 10\n1 ok write k 1\0 20\n";
	struct history *h;
	struct history_error err;
	assert_int_equal(history_parse(nul, sizeof(nul) - 1, &h, &err), GROVE_EPARSE);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "NUL"));
	/* A file that is not there. */
	assert_int_equal(history_read_file("/nonexistent/history.txt", &h, &err), GROVE_EIO);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.msg, "/nonexistent/history.txt"));
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Any bytes are either parsed or refused with a line and a reason; never a crash (ASan watches). */
static void test_parse_mutations(void **state)
{
	(void)state;
	static const char base[] = "1 invoke write x \"a\\x41\" 10\n2 invoke read x nil 11\n1 ok write x \"a\\x41\" 12\n"
	                           "2 ok read x \"aA\" 13\n3 invoke add s 1 14\n3 info add s 1 15\n4 invoke read_set s nil 16\n"
	                           "4 ok read_set s [1, \"b\"] 17\nfinal n1 s [1]\n";
	static const char alphabet[] = " \t\n\r\"\\[],#-0123456789xnilokfailinfo";
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	char buf[sizeof(base) + 16];
	size_t parsed = 0;
	for (int round = 0; round < 20000; round++) {
		size_t n = sizeof(base) - 1;
		memcpy(buf, base, n);
		int edits = 1 + (int)(xorshift(&rng) % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = xorshift(&rng) % n;
			uint64_t how = xorshift(&rng) % 4;
			if (how == 0)
				buf[at] = (char)(xorshift(&rng) & 0xff);
			else if (how == 1)
				buf[at] = alphabet[xorshift(&rng) % (sizeof(alphabet) - 1)];
			else if (how == 2 && n > 1)
				memmove(buf + at, buf + at + 1, --n - at);
			else if (n < sizeof(buf) - 1) {
				memmove(buf + at + 1, buf + at, n++ - at);
				buf[at] = alphabet[xorshift(&rng) % (sizeof(alphabet) - 1)];
			}
		}
		struct history *h;
		struct history_error err;
		int rc = history_parse(buf, n, &h, &err);
		assert_true(rc == GROVE_OK || rc == GROVE_EPARSE);
		if (rc == GROVE_OK) {
			struct lin_report *r;
			assert_int_equal(lin_check(h, NULL, &r), GROVE_OK);
			lin_report_free(r);
			history_free(h);
			parsed++;
		} else {
			assert_true(err.line >= 1 && err.msg[0]);
		}
	}
	assert_true(parsed > 0);
}

/* ---- known histories: the register ---- */

static void test_register_good(void **state)
{
	(void)state;
	/* Sequential: nil, then what was written. */
	expect("1 invoke read x nil 0\n1 ok read x nil 5\n"
	       "1 invoke write x 1 10\n1 ok write x 1 20\n"
	       "1 invoke read x nil 30\n1 ok read x 1 40\n",
	       LIN_OK);
	/* A read concurrent with a write may see either value. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n"
	       "2 invoke write x 2 30\n3 invoke read x nil 31\n4 invoke read x nil 32\n"
	       "3 ok read x 1 40\n4 ok read x 2 41\n2 ok write x 2 50\n",
	       LIN_OK);
	/* Two concurrent writes, and reads during them seeing 1 then 2: the order 1, 2. */
	expect("1 invoke write x 1 0\n2 invoke write x 2 0\n"
	       "3 invoke read x nil 10\n3 ok read x 1 20\n3 invoke read x nil 30\n3 ok read x 2 40\n"
	       "1 ok write x 1 100\n2 ok write x 2 100\n",
	       LIN_OK);
	/* Equal times are concurrent: a read invoked when a write returns may miss it. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n2 invoke read x nil 20\n2 ok read x nil 30\n", LIN_OK);
	/* A failed write never happened. */
	expect("1 invoke write x 1 10\n1 fail write x 1 20\n2 invoke read x nil 30\n2 ok read x nil 40\n", LIN_OK);
	/* Strings and integers are different values, and the empty history is fine. */
	expect("1 invoke write x \"1\" 10\n1 ok write x \"1\" 20\n2 invoke read x nil 30\n2 ok read x \"1\" 40\n", LIN_OK);
	expect("", LIN_OK);
}

static void test_stale_read(void **state)
{
	(void)state;
	/* Write 1, then write 2, both acknowledged; a later read still sees 1. */
	const char *text = "1 invoke write x 1 10\n1 ok write x 1 20\n"
	                   "2 invoke write x 2 30\n2 ok write x 2 40\n"
	                   "3 invoke read x nil 50\n3 ok read x 1 60\n";
	expect(text, LIN_VIOLATION);
	expect_report_has(text, "the register then holds 2), and then the read by process 3 (lines 5-6) that returned 1 "
	                        "cannot take effect before it returns");
	/* A read after an acknowledged write sees the initial nil. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n2 invoke read x nil 30\n2 ok read x nil 40\n", LIN_VIOLATION);
}

static void test_concurrent_writes_impossible_order(void **state)
{
	(void)state;
	/* Two concurrent writes; after both returned, reads see 1, 2, then 1 again: a value came back. */
	expect("1 invoke write x 1 0\n2 invoke write x 2 0\n1 ok write x 1 100\n2 ok write x 2 100\n"
	       "3 invoke read x nil 110\n3 ok read x 1 120\n3 invoke read x nil 130\n3 ok read x 2 140\n"
	       "3 invoke read x nil 150\n3 ok read x 1 160\n",
	       LIN_VIOLATION);
	/* Two readers after both writes returned disagree: the register holds one value by then. */
	expect("1 invoke write x 1 0\n2 invoke write x 2 0\n1 ok write x 1 100\n2 ok write x 2 100\n"
	       "3 invoke read x nil 110\n4 invoke read x nil 110\n3 ok read x 1 120\n4 ok read x 2 120\n",
	       LIN_VIOLATION);
	/* Reads during the writes see 2 then 1, and a reader afterwards sees 2: the order would be 2, 1, 2. */
	expect("1 invoke write x 1 0\n2 invoke write x 2 0\n"
	       "3 invoke read x nil 10\n3 ok read x 2 20\n3 invoke read x nil 30\n3 ok read x 1 40\n"
	       "1 ok write x 1 100\n2 ok write x 2 100\n4 invoke read x nil 110\n4 ok read x 2 120\n",
	       LIN_VIOLATION);
}

static void test_info_writes(void **state)
{
	(void)state;
	/* An info write that becomes visible later, even after its info line: it took effect late. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n"
	       "2 invoke write x 2 30\n2 info write x 2 40\n"
	       "3 invoke read x nil 50\n3 ok read x 1 60\n"
	       "3 invoke read x nil 70\n3 ok read x 2 80\n"
	       "3 invoke read x nil 90\n3 ok read x 2 100\n",
	       LIN_OK);
	/* An info write never seen: it may never have happened. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n"
	       "2 invoke write x 2 30\n2 info write x 2 40\n"
	       "3 invoke read x nil 50\n3 ok read x 1 60\n3 invoke read x nil 70\n3 ok read x 1 80\n",
	       LIN_OK);
	/* An invoke never completed is info too. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n2 invoke write x 2 30\n"
	       "3 invoke read x nil 50\n3 ok read x 2 60\n",
	       LIN_OK);
	/* But it takes effect once: 2 seen, then the older 1 again, with no write of 1 after. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n"
	       "2 invoke write x 2 30\n2 info write x 2 40\n"
	       "3 invoke read x nil 50\n3 ok read x 2 60\n3 invoke read x nil 70\n3 ok read x 1 80\n",
	       LIN_VIOLATION);
	/* And never before its invoke. */
	expect("3 invoke read x nil 10\n3 ok read x 2 20\n2 invoke write x 2 30\n2 info write x 2 40\n", LIN_VIOLATION);
	/* Non-unique values: an info write of 1 may be what a read of 1 saw after 2 was written. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n"
	       "2 invoke write x 1 25\n2 info write x 1 26\n"
	       "4 invoke write x 2 30\n4 ok write x 2 40\n"
	       "3 invoke read x nil 50\n3 ok read x 1 60\n",
	       LIN_OK);
	/* An info read says nothing. */
	expect("1 invoke write x 1 10\n1 ok write x 1 20\n3 invoke read x nil 50\n3 info read x nil 60\n", LIN_OK);
}

static void test_read_never_written(void **state)
{
	(void)state;
	const char *text = "1 invoke write x 1 10\n1 ok write x 1 20\n2 invoke read x nil 30\n2 ok read x 7 40\n";
	expect(text, LIN_VIOLATION);
	expect_report_has(text, "the read by process 2 (lines 3-4) that returned 7, which no write of x wrote");
	/* The value of a failed write: it did not happen. */
	text = "1 invoke write x 7 10\n1 fail write x 7 20\n2 invoke read x nil 30\n2 ok read x 7 40\n";
	expect(text, LIN_VIOLATION);
	expect_report_has(text, "(the one on line 1 failed: it did not take effect)");
}

/* ---- known histories: the set ---- */

static void test_set_good(void **state)
{
	(void)state;
	expect("1 invoke add s 1 10\n1 ok add s 1 20\n"
	       "2 invoke add s \"b\" 15\n3 invoke read_set s nil 16\n3 ok read_set s [1] 25\n"
	       "3 invoke read_set s nil 26\n2 ok add s \"b\" 30\n3 ok read_set s [\"b\", 1] 35\n"
	       "4 invoke add s 3 40\n4 info add s 3 41\n"
	       "5 invoke add s 4 50\n5 fail add s 4 51\n"
	       "3 invoke read_set s nil 60\n3 ok read_set s [1, \"b\"] 70\n"
	       "3 invoke read_set s nil 80\n3 ok read_set s [1, \"b\", 3] 90\n"
	       "final n1 s [1, \"b\", 3]\nfinal n2 s [3, \"b\", 1]\nfinal n3 s [1, \"b\"]\n",
	       LIN_OK);
	expect("3 invoke read_set s nil 10\n3 ok read_set s [] 20\n", LIN_OK);
}

static void test_set_bad(void **state)
{
	(void)state;
	/* An acknowledged add missing from a later read. */
	const char *lost = "1 invoke add s 1 10\n1 ok add s 1 20\n2 invoke read_set s nil 30\n2 ok read_set s [] 40\n";
	expect(lost, LIN_VIOLATION);
	expect_report_has(lost, "the set then holds 1 element), and then the read_set by process 2 (lines 3-4) that "
	                        "returned [] cannot take effect before it returns");
	/* An element seen, then gone. */
	expect("1 invoke add s 1 10\n2 invoke read_set s nil 11\n2 ok read_set s [1] 12\n"
	       "2 invoke read_set s nil 13\n2 ok read_set s [] 14\n1 info add s 1 20\n",
	       LIN_VIOLATION);
	/* An element nobody added, one whose add failed, one seen twice. */
	const char *phantom = "1 invoke read_set s nil 10\n1 ok read_set s [5] 20\n";
	expect(phantom, LIN_VIOLATION);
	expect_report_has(phantom, "holds 5, which no add of s added");
	expect("2 invoke add s 5 1\n2 fail add s 5 2\n1 invoke read_set s nil 10\n1 ok read_set s [5] 20\n",
	       LIN_VIOLATION);
	expect_report_has("2 invoke add s 5 1\n2 ok add s 5 2\n1 invoke read_set s nil 10\n1 ok read_set s [5, 5] 20\n",
	                  "holds 5 twice");
	/* Two readers that see the two concurrent adds in opposite orders: only both elements together show it. */
	const char *crossed = "1 invoke add s \"a\" 0\n2 invoke add s \"b\" 0\n"
	                      "3 invoke read_set s nil 10\n4 invoke read_set s nil 10\n"
	                      "3 ok read_set s [\"a\"] 20\n4 ok read_set s [\"b\"] 20\n"
	                      "1 ok add s \"a\" 30\n2 ok add s \"b\" 30\n";
	expect(crossed, LIN_VIOLATION);
	struct history *h = parse(crossed);
	struct lin_report *r;
	assert_int_equal(lin_check(h, NULL, &r), GROVE_OK);
	assert_int_equal(r->keys[0].excerpt->n_ops, 4);
	expect_excerpt_fails(&r->keys[0]);
	lin_report_free(r);
	history_free(h);
}

static void test_final_reads(void **state)
{
	(void)state;
	const char *adds = "1 invoke add s 1 10\n1 ok add s 1 20\n2 invoke add s 2 10\n2 fail add s 2 20\n"
	                   "3 invoke add s 3 10\n3 info add s 3 20\n";
	char text[1024];
	/* Info adds may or may not be there. */
	snprintf(text, sizeof(text), "%sfinal n1 s [1, 3]\nfinal n2 s [1]\n", adds);
	expect(text, LIN_OK);
	expect_report_has(text, "final reads: 2, holding all 1 acknowledged adds");
	/* A lost acknowledged add. */
	snprintf(text, sizeof(text), "%sfinal n1 s [1]\nfinal n2 s [3]\n", adds);
	expect(text, LIN_VIOLATION);
	expect_report_has(text, "the final read of member n2 (line 8) lacks the add of 1 by process 1 (lines 1-2), which "
	                        "was acknowledged");
	/* A failed add present; an element never added; one twice. */
	snprintf(text, sizeof(text), "%sfinal n1 s [1, 2]\n", adds);
	expect_report_has(text, "holds 2, but the add of 2 by process 2 (lines 3-4) failed");
	snprintf(text, sizeof(text), "%sfinal n1 s [1, 9]\n", adds);
	expect_report_has(text, "holds 9, which no add of s added");
	snprintf(text, sizeof(text), "%sfinal n1 s [1, 1]\n", adds);
	expect_report_has(text, "holds 1 twice");
	/* A member that made final reads of other keys but not this one: undecided. */
	snprintf(text, sizeof(text), "%sfinal n1 s [1]\nfinal n2 t []\n", adds);
	expect(text, LIN_UNKNOWN);
	expect_report_has(text, "member n2 made no final read of this key");
	/* The final check flags what the history alone cannot: a read during the run was fine. */
	expect("1 invoke add s 1 10\n1 ok add s 1 20\n2 invoke read_set s nil 30\n2 ok read_set s [1] 40\n"
	       "final n1 s []\n",
	       LIN_VIOLATION);
}

/* ---- the excerpt ---- */

/* A long valid history of one register with one stale read near its end. */
static char *noisy_stale_history(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	unsigned long long t = 1000;
	for (int v = 0; v < 150; v++, t += 100) {
		/* A write of v + 1, a read concurrent with it that sees the old value, one after it the new. */
		fprintf(f, "1 invoke write x %d %llu\n2 invoke read x nil %llu\n", v + 1, t, t + 1);
		if (v)
			fprintf(f, "2 ok read x %d %llu\n", v, t + 2);
		else
			fprintf(f, "2 ok read x nil %llu\n", t + 2);
		fprintf(f, "1 ok write x %d %llu\n3 invoke read x nil %llu\n3 ok read x %d %llu\n", v + 1, t + 10, t + 20,
		        v + 1, t + 30);
		/* Once, a read after all that sees the value before. */
		if (v == 120)
			fprintf(f, "4 invoke read x nil %llu\n4 ok read x %d %llu\n", t + 40, v, t + 50);
	}
	fclose(f);
	return text;
}

static void test_minimized_excerpt(void **state)
{
	(void)state;
	char *text = noisy_stale_history();
	struct history *h = parse(text);
	assert_int_equal(h->n_ops, 451);
	struct lin_report *r;
	assert_int_equal(lin_check(h, NULL, &r), GROVE_OK);
	assert_int_equal(r->verdict, LIN_VIOLATION);
	const struct lin_key_result *kr = &r->keys[0];
	/* The stale read, the write it saw, and the write that replaced it. */
	if (kr->excerpt->n_ops > 3)
		lin_report_write(stderr, h, r, true);
	assert_int_equal(kr->excerpt->n_ops, 3);
	assert_non_null(strstr(kr->explanation, "the read by process 4"));
	expect_excerpt_fails(kr);
	/* Without minimizing, the excerpt is everything, and fails too. */
	struct lin_options whole = {.no_minimize = true};
	struct lin_report *r2;
	assert_int_equal(lin_check(h, &whole, &r2), GROVE_OK);
	assert_int_equal(r2->keys[0].excerpt->n_ops, h->n_ops);
	lin_report_free(r2);
	lin_report_free(r);
	history_free(h);
	free(text);
}

/* An operation pending at the cut stands as info in the excerpt, and a set read is shown projected. */
static void test_excerpt_cut_and_projection(void **state)
{
	(void)state;
	const char *text = "9 invoke write x 5 0\n"
	                   "1 invoke write x 1 10\n1 ok write x 1 20\n2 invoke write x 2 30\n2 ok write x 2 40\n"
	                   "3 invoke read x nil 50\n3 ok read x 5 60\n"
	                   "3 invoke read x nil 70\n3 ok read x 1 80\n9 ok write x 5 1000\n"
	                   "11 invoke add s 1 10\n11 ok add s 1 20\n12 invoke add s 2 10\n12 ok add s 2 20\n"
	                   "14 invoke add s 3 10\n14 ok add s 3 20\n"
	                   "15 invoke read_set s nil 30\n15 ok read_set s [1, 2, 3] 40\n"
	                   "15 invoke read_set s nil 50\n15 ok read_set s [1, 3] 60\n";
	struct history *h = parse(text);
	struct lin_report *r;
	assert_int_equal(lin_check(h, NULL, &r), GROVE_OK);
	const struct lin_key_result *x = &r->keys[key_of(h, "x")], *s = &r->keys[key_of(h, "s")];
	assert_int_equal(x->verdict, LIN_VIOLATION);
	/* The read of 1 after 5 was seen: the write of 5 was pending at the cut (80), so it stands as info. */
	bool cut_info = false;
	for (size_t i = 0; i < x->excerpt->n_ops; i++)
		cut_info |= x->excerpt->ops[i].process == 9 && x->excerpt->ops[i].status == HISTORY_INFO;
	assert_true(cut_info);
	expect_excerpt_fails(x);
	/* The element 2 that vanished is all that matters: one add and two reads of [2] and []. */
	assert_int_equal(s->verdict, LIN_VIOLATION);
	assert_int_equal(s->excerpt->n_ops, 2);
	for (size_t i = 0; i < s->excerpt->n_ops; i++)
		if (s->excerpt->ops[i].f == HISTORY_READ_SET)
			assert_true(s->excerpt->ops[i].value.n_elems <= 1);
	expect_excerpt_fails(s);
	lin_report_free(r);
	history_free(h);
}

/* ---- the step limit ---- */

static void test_step_limit(void **state)
{
	(void)state;
	char *text = noisy_stale_history();
	/* The zones decide this register without searching; the search alone stops at its limit. */
	struct lin_options opt = {.max_steps = 10, .search_only = true};
	enum lin_verdict v;
	char *out = report_text(text, &opt, &v);
	assert_int_equal(v, LIN_UNKNOWN);
	assert_non_null(strstr(out, "the search stopped at its limit of 10 steps"));
	free(out);
	/* A minimization out of budget still reports a failing excerpt: the whole history at worst. */
	struct history *h = parse(text);
	struct lin_options small = {.minimize_steps = 50, .search_only = true};
	struct lin_report *r;
	assert_int_equal(lin_check(h, &small, &r), GROVE_OK);
	assert_int_equal(r->verdict, LIN_VIOLATION);
	expect_excerpt_fails(&r->keys[0]);
	lin_report_free(r);
	history_free(h);
	free(text);
}

/* ---- generated histories ---- */

struct gop {
	uint64_t proc;
	enum history_f f;
	int key;
	enum history_type status;
	bool completes;      /* has a completion line */
	uint64_t invoke, complete;
	bool applied;        /* took effect, at `effect` */
	uint64_t effect;
	int64_t val;         /* write/add: the value; read: the value seen (when !nil) */
	bool nil;            /* read: saw nil */
	int64_t *set;        /* read_set: what it saw */
	size_t n_set;
};

struct gen {
	uint64_t rng;
	bool sets;           /* grow-only sets, else registers */
	bool strings;        /* values as "v<n>" strings */
	bool unique;         /* every write writes a new value */
	int n_keys, n_procs;
	struct gop *ops;
	size_t n, cap;
	int64_t **final;     /* sets: per key, the elements at the end */
	size_t *n_final;
};

static uint64_t grnd(struct gen *g, uint64_t n)
{
	return xorshift(&g->rng) % n;
}

static bool gchance(struct gen *g, unsigned percent)
{
	return grnd(g, 100) < percent;
}

static struct gop *gen_push(struct gen *g)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 256;
		g->ops = realloc(g->ops, g->cap * sizeof(*g->ops));
		assert_non_null(g->ops);
	}
	struct gop *o = &g->ops[g->n++];
	memset(o, 0, sizeof(*o));
	return o;
}

static int effect_cmp(const void *pa, const void *pb)
{
	const struct gop *const *a = pa, *const *b = pb;
	if ((*a)->effect != (*b)->effect)
		return (*a)->effect < (*b)->effect ? -1 : 1;
	return *a < *b ? -1 : *a > *b;
}

/*
 * @p per_proc operations per process: each invokes after a random pause, takes effect at a random moment
 * between its invoke and its return (an info write perhaps later, or never; a fail never), and returns;
 * then the effects run in order on a real register or set, which gives every read its value.
 */
static void gen_run(struct gen *g, int per_proc, uint64_t max_gap, uint64_t max_dur)
{
	int64_t next_val = 1;
	uint64_t next_proc = (uint64_t)g->n_procs + 1;
	for (int p = 0; p < g->n_procs; p++) {
		uint64_t t = grnd(g, max_gap + 1), proc = (uint64_t)p + 1;
		for (int i = 0; i < per_proc; i++) {
			struct gop *o = gen_push(g);
			o->proc = proc;
			o->key = (int)grnd(g, (uint64_t)g->n_keys);
			bool update = gchance(g, g->sets ? 50 : 40);
			o->f = g->sets ? (update ? HISTORY_ADD : HISTORY_READ_SET) : (update ? HISTORY_WRITE : HISTORY_READ);
			o->invoke = t + grnd(g, max_gap + 1);
			o->complete = o->invoke + grnd(g, max_dur + 1);
			t = o->complete;
			unsigned roll = (unsigned)grnd(g, 100);
			o->status = roll < (update ? 80u : 90u) ? HISTORY_OK : roll < 93 ? HISTORY_FAIL : HISTORY_INFO;
			o->completes = true;
			if (update) {
				o->val = g->unique ? next_val++ : (int64_t)grnd(g, 3) + 1;
				o->applied = o->status == HISTORY_OK || (o->status == HISTORY_INFO && gchance(g, 50));
			} else {
				o->applied = o->status == HISTORY_OK;
			}
			o->effect = o->invoke + grnd(g, o->complete - o->invoke + 1);
			if (o->status == HISTORY_INFO)
				o->effect = o->invoke + grnd(g, 3 * (o->complete - o->invoke) + max_gap + 1);
			/* Now and then a client dies with its operation in flight: no completion line; a new
			 * process takes its place. */
			if (o->status == HISTORY_INFO && gchance(g, 20)) {
				o->completes = false;
				proc = next_proc++;
			}
		}
	}
	struct gop **order = malloc(g->n * sizeof(*order));
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++)
		if (g->ops[i].applied)
			order[n++] = &g->ops[i];
	qsort(order, n, sizeof(*order), effect_cmp);
	int64_t *reg = calloc((size_t)g->n_keys, sizeof(*reg));
	bool *set_once = calloc((size_t)g->n_keys, sizeof(*set_once));
	g->final = calloc((size_t)g->n_keys, sizeof(*g->final));
	g->n_final = calloc((size_t)g->n_keys, sizeof(*g->n_final));
	for (int k = 0; k < g->n_keys; k++)
		g->final[k] = malloc((g->n + 1) * sizeof(**g->final));
	for (size_t i = 0; i < n; i++) {
		struct gop *o = order[i];
		switch (o->f) {
		case HISTORY_WRITE:
			reg[o->key] = o->val;
			set_once[o->key] = true;
			break;
		case HISTORY_READ:
			o->nil = !set_once[o->key];
			o->val = reg[o->key];
			break;
		case HISTORY_ADD:
			g->final[o->key][g->n_final[o->key]++] = o->val;
			break;
		case HISTORY_READ_SET:
			o->n_set = g->n_final[o->key];
			o->set = malloc((o->n_set + 1) * sizeof(*o->set));
			memcpy(o->set, g->final[o->key], o->n_set * sizeof(*o->set));
			/* A set has no order. */
			for (size_t j = o->n_set; j > 1; j--) {
				size_t r = grnd(g, j);
				int64_t tmp = o->set[j - 1];
				o->set[j - 1] = o->set[r];
				o->set[r] = tmp;
			}
			break;
		}
	}
	free(order);
	free(reg);
	free(set_once);
}

static void gen_free(struct gen *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->ops[i].set);
	free(g->ops);
	for (int k = 0; k < g->n_keys && g->final; k++)
		free(g->final[k]);
	free(g->final);
	free(g->n_final);
}

static struct history_value gval(const struct gen *g, int64_t v, char *buf, size_t n)
{
	if (!g->strings)
		return (struct history_value){.kind = HISTORY_INT, .i = v};
	snprintf(buf, n, "v%lld", (long long)v);
	return (struct history_value){.kind = HISTORY_STR, .s = buf};
}

struct gevent {
	uint64_t time;
	size_t op;
	bool complete;
};

static int gevent_cmp(const void *pa, const void *pb)
{
	const struct gevent *a = pa, *b = pb;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	if (a->op != b->op)
		return a->op < b->op ? -1 : 1;
	return a->complete - b->complete;
}

/* The history as text, events in time order; sets also get a final read per member (3 members). */
static char *gen_text(const struct gen *g, bool finals)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct gevent *ev = malloc(2 * g->n * sizeof(*ev));
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++) {
		ev[n++] = (struct gevent){g->ops[i].invoke, i, false};
		if (g->ops[i].completes)
			ev[n++] = (struct gevent){g->ops[i].complete, i, true};
	}
	/* Equal times keep each process's order: its ops are generated in order, so op indexes say it. */
	qsort(ev, n, sizeof(*ev), gevent_cmp);
	char key[32], buf[32];
	size_t most = g->n;
	for (size_t i = 0; i < g->n; i++)
		most = g->ops[i].n_set > most ? g->ops[i].n_set : most;
	struct history_value *elems = malloc((most + 1) * sizeof(*elems));
	char (*ebuf)[32] = malloc((most + 1) * sizeof(*ebuf));
	for (size_t e = 0; e < n; e++) {
		const struct gop *o = &g->ops[ev[e].op];
		enum history_type type = ev[e].complete ? o->status : HISTORY_INVOKE;
		snprintf(key, sizeof(key), "%s%d", g->sets ? "s" : "k", o->key);
		struct history_value v = {0};
		if (o->f == HISTORY_WRITE || o->f == HISTORY_ADD)
			v = gval(g, o->val, buf, sizeof(buf));
		else if (type == HISTORY_OK && o->f == HISTORY_READ && !o->nil)
			v = gval(g, o->val, buf, sizeof(buf));
		else if (type == HISTORY_OK && o->f == HISTORY_READ_SET) {
			for (size_t j = 0; j < o->n_set; j++)
				elems[j] = gval(g, o->set[j], ebuf[j], sizeof(ebuf[j]));
			v = (struct history_value){.kind = HISTORY_SET, .elems = elems, .n_elems = o->n_set};
		}
		assert_int_equal(history_write_event(f, o->proc, type, o->f, key, &v, ev[e].time), 0);
	}
	for (int k = 0; finals && g->sets && k < g->n_keys; k++) {
		snprintf(key, sizeof(key), "s%d", k);
		for (size_t j = 0; j < g->n_final[k]; j++)
			elems[j] = gval(g, g->final[k][j], ebuf[j], sizeof(ebuf[j]));
		struct history_value v = {.kind = HISTORY_SET, .elems = elems, .n_elems = g->n_final[k]};
		for (int m = 1; m <= 3; m++) {
			snprintf(buf, sizeof(buf), "n%d", m);
			assert_int_equal(history_write_final(f, buf, key, &v), 0);
		}
	}
	free(elems);
	free(ebuf);
	free(ev);
	fclose(f);
	return text;
}

/*
 * Make one read impossible, in a way chosen at random among those the history allows:
 * - a value (or element) nothing writes;
 * - a value written by a write invoked after the read returned (from the future);
 * - register: the value of an acknowledged write that another acknowledged write replaced before the read
 *   was invoked (stale); set: drop from the read an acknowledged add that returned before the read began.
 * @p last: the read that returns last, else one at random. Returns false when there is no ok read.
 */
static bool gen_corrupt(struct gen *g, bool last)
{
	size_t *reads = malloc(g->n * sizeof(*reads)), n_reads = 0;
	for (size_t i = 0; i < g->n; i++)
		if (g->ops[i].status == HISTORY_OK && (g->ops[i].f == HISTORY_READ || g->ops[i].f == HISTORY_READ_SET))
			reads[n_reads++] = i;
	if (!n_reads) {
		free(reads);
		return false;
	}
	size_t pick_read = reads[grnd(g, n_reads)];
	for (size_t i = 0; last && i < n_reads; i++)
		if (g->ops[reads[i]].complete > g->ops[pick_read].complete)
			pick_read = reads[i];
	struct gop *r = &g->ops[pick_read];
	free(reads);
	size_t *cands = malloc(g->n * sizeof(*cands)), n = 0;
	int how = (int)grnd(g, 3);
	if (how == 1 && g->unique) {
		for (size_t i = 0; i < g->n; i++) {
			const struct gop *w = &g->ops[i];
			if (w->key == r->key && w->status != HISTORY_FAIL && !is_read_f(w->f) && w->invoke > r->complete)
				cands[n++] = i;
		}
	} else if (how == 2 && g->unique && !g->sets) {
		for (size_t i = 0; i < g->n; i++) {
			const struct gop *old = &g->ops[i];
			if (old->key != r->key || old->f != HISTORY_WRITE || old->status != HISTORY_OK)
				continue;
			for (size_t j = 0; j < g->n; j++) {
				const struct gop *nw = &g->ops[j];
				if (nw->key == r->key && nw->f == HISTORY_WRITE && nw->status == HISTORY_OK &&
				    old->complete < nw->invoke && nw->complete < r->invoke) {
					cands[n++] = i;
					break;
				}
			}
		}
	} else if (how == 2 && g->sets) {
		for (size_t j = 0; j < r->n_set; j++)
			for (size_t i = 0; i < g->n; i++)
				if (g->ops[i].f == HISTORY_ADD && g->ops[i].key == r->key && g->ops[i].val == r->set[j] &&
				    g->ops[i].status == HISTORY_OK && g->ops[i].complete < r->invoke)
					cands[n++] = j;
	}
	if (!n)
		how = 0;
	size_t pick = n ? cands[grnd(g, n)] : 0;
	free(cands);
	int64_t never = 1000000000;
	if (g->sets) {
		if (how == 2) {
			r->set[pick] = r->set[--r->n_set]; /* an acknowledged element left out */
		} else {
			r->set = realloc(r->set, (r->n_set + 1) * sizeof(*r->set));
			r->set[r->n_set++] = how == 1 ? g->ops[pick].val : never;
		}
	} else {
		r->nil = false;
		r->val = how == 0 ? never : g->ops[pick].val;
	}
	return true;
}

/* The excerpt of @p kr fails on its own, and is no longer than the key's history. */
static bool excerpt_fails(const struct lin_key_result *kr)
{
	struct lin_report *again;
	if (!kr->excerpt || kr->excerpt->n_ops > kr->n_ops || lin_check(kr->excerpt, NULL, &again) != GROVE_OK)
		return false;
	bool fails = again->verdict == LIN_VIOLATION;
	lin_report_free(again);
	return fails;
}

/* Check @p text; print what went wrong (with the history if @p verbose) unless its verdict is @p want. */
static bool seed_verdict(uint64_t seed, const char *model, const char *what, const char *text, enum lin_verdict want,
                         bool verbose)
{
	struct history *h;
	struct history_error err;
	struct lin_report *r = NULL;
	bool ok = false;
	if (history_parse(text, strlen(text), &h, &err) != GROVE_OK) {
		printf("seed=%llu %s %s: line %zu: %s\n", (unsigned long long)seed, model, what, err.line, err.msg);
		return false;
	}
	if (lin_check(h, NULL, &r) == GROVE_OK) {
		ok = r->verdict == want;
		for (size_t k = 0; ok && k < r->n_keys; k++)
			if (r->keys[k].verdict == LIN_VIOLATION && !excerpt_fails(&r->keys[k]))
				ok = false;
	}
	/* The search alone agrees with the zones, key by key. */
	struct lin_options search_only = {.search_only = true};
	struct lin_report *r2 = NULL;
	if (ok && lin_check(h, &search_only, &r2) == GROVE_OK)
		for (size_t k = 0; k < r->n_keys; k++)
			if (r2->keys[k].verdict != r->keys[k].verdict) {
				printf("seed=%llu %s %s: key %s: %s by the search alone\n", (unsigned long long)seed, model, what,
				       h->keys[k], lin_verdict_name(r2->keys[k].verdict));
				ok = false;
			}
	lin_report_free(r2);
	if (!ok || verbose) {
		printf("seed=%llu %s %s: %s, wanted %s\n", (unsigned long long)seed, model, what,
		       r ? lin_verdict_name(r->verdict) : "error", lin_verdict_name(want));
		if (verbose)
			printf("%s", text);
		if (r)
			lin_report_write(stdout, h, r, verbose);
	}
	lin_report_free(r);
	history_free(h);
	return ok;
}

/* One seed: a history from a real execution must pass; with one read made impossible it must fail. */
static bool run_seed(uint64_t seed, bool sets, bool verbose)
{
	struct gen g = {.rng = (seed + 1) * 0x9e3779b97f4a7c15ull, .sets = sets};
	const char *model = sets ? "set" : "register";
	g.strings = gchance(&g, 30);
	g.unique = sets || gchance(&g, 75);
	g.n_keys = 1 + (int)grnd(&g, 3);
	g.n_procs = 2 + (int)grnd(&g, 9);
	gen_run(&g, 3 + (int)grnd(&g, 10), 20, 60);
	char *text = gen_text(&g, true);
	bool ok = seed_verdict(seed, model, "valid history", text, LIN_OK, verbose);
	free(text);
	if (ok && gen_corrupt(&g, false)) {
		text = gen_text(&g, true);
		ok = seed_verdict(seed, model, "one read corrupted", text, LIN_VIOLATION, verbose);
		free(text);
	}
	gen_free(&g);
	return ok;
}

static void run_seeds(bool sets, unsigned default_seeds)
{
	const char *one = getenv("GROVE_LIN_SEED");
	if (one) {
		assert_true(run_seed(strtoull(one, NULL, 10), sets, true));
		return;
	}
	const char *many = getenv("GROVE_LIN_SEEDS");
	unsigned seeds = many ? (unsigned)strtoul(many, NULL, 10) : default_seeds, failures = 0;
	for (unsigned seed = 1; seed <= seeds; seed++)
		failures += !run_seed(seed, sets, false);
	printf("%s histories: %u seeds, %u failed (replay one with GROVE_LIN_SEED=S)\n", sets ? "set" : "register",
	       seeds, failures);
	assert_int_equal(failures, 0);
}

static void test_random_registers(void **state)
{
	(void)state;
	run_seeds(false, 2000);
}

static void test_random_sets(void **state)
{
	(void)state;
	run_seeds(true, 1000);
}

/* Large generated histories get a verdict (their time is printed, not asserted); @p stale: with the last
 * read made impossible. */
static void perf_case(const char *what, const char *file, bool sets, int n_keys, int n_procs, int per_proc,
                      bool stale)
{
	struct gen g = {.rng = 0x5eed5eed5eedull, .sets = sets, .unique = true, .n_keys = n_keys, .n_procs = n_procs};
	gen_run(&g, per_proc, 20, 60);
	if (stale)
		assert_true(gen_corrupt(&g, true));
	char *text = gen_text(&g, true);
	const char *dir = getenv("GROVE_LIN_PERF_DIR");
	if (dir) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
	}
	struct history *h = parse(text);
	struct lin_report *r;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(lin_check(h, NULL, &r), GROVE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t steps = 0;
	for (size_t k = 0; k < r->n_keys; k++)
		steps += r->keys[k].steps;
	printf("%s: %zu operations, %zu keys, %d processes: %s, %llu steps, %.2f s\n", what, h->n_ops, h->n_keys, n_procs,
	       lin_verdict_name(r->verdict), (unsigned long long)steps,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (r->verdict != (stale ? LIN_VIOLATION : LIN_OK) || stale)
		lin_report_write(stdout, h, r, false);
	assert_int_equal(r->verdict, stale ? LIN_VIOLATION : LIN_OK);
	for (size_t k = 0; k < r->n_keys; k++)
		if (r->keys[k].verdict == LIN_VIOLATION)
			assert_true(excerpt_fails(&r->keys[k]));
	lin_report_free(r);
	history_free(h);
	free(text);
	gen_free(&g);
}

static void test_performance(void **state)
{
	(void)state;
	perf_case("one register", "register-20k.txt", false, 1, 10, 2000, false);
	perf_case("one register, last read corrupted", "register-20k-bad.txt", false, 1, 10, 2000, true);
	perf_case("registers", "registers-100k.txt", false, 100, 10, 10000, false);
	perf_case("sets", "sets-10k.txt", true, 20, 10, 1000, false);
	perf_case("sets, last read corrupted", "sets-10k-bad.txt", true, 20, 10, 1000, true);
}

/* ---- against a brute-force search ---- */

/* Whether some order of the operations not yet placed, with the info ones optional, is a legal run of
 * the model that respects real time: the definition, tried exhaustively. */
static bool brute_force(const struct history *h, const size_t *ops, size_t n, bool *placed,
                        const struct history_value *reg, const size_t *adds, size_t n_adds)
{
	bool all = true;
	for (size_t i = 0; i < n; i++)
		all &= placed[i] || h->ops[ops[i]].status == HISTORY_INFO;
	if (all)
		return true;
	for (size_t i = 0; i < n; i++) {
		const struct history_op *o = &h->ops[ops[i]];
		if (placed[i])
			continue;
		/* Everything that returned before it was invoked goes first. */
		bool ready = true;
		for (size_t j = 0; j < n && ready; j++)
			ready = placed[j] || j == i || h->ops[ops[j]].status == HISTORY_INFO ||
			        h->ops[ops[j]].complete_ns >= o->invoke_ns;
		if (!ready)
			continue;
		const struct history_value *next_reg = reg;
		size_t next_adds[16];
		if (n_adds)
			memcpy(next_adds, adds, n_adds * sizeof(*adds));
		size_t next_n = n_adds;
		if (o->f == HISTORY_WRITE) {
			next_reg = &o->value;
		} else if (o->f == HISTORY_ADD) {
			next_adds[next_n++] = ops[i];
		} else if (o->f == HISTORY_READ) {
			if (!history_value_equal(reg, &o->value))
				continue;
		} else {
			bool same = o->value.n_elems == n_adds;
			for (size_t e = 0; same && e < o->value.n_elems; e++) {
				bool in = false;
				for (size_t a = 0; a < n_adds; a++)
					in |= history_value_equal(&o->value.elems[e], &h->ops[adds[a]].value);
				for (size_t d = 0; d < e; d++)
					in &= !history_value_equal(&o->value.elems[e], &o->value.elems[d]);
				same = in;
			}
			if (!same)
				continue;
		}
		placed[i] = true;
		bool ok = brute_force(h, ops, n, placed, next_reg, next_adds, next_n);
		placed[i] = false;
		if (ok)
			return true;
	}
	return false;
}

/* Small histories with arbitrary values, some of unknown outcome, many equal times. */
static void random_small(struct gen *g)
{
	int64_t next_elem = 1;
	for (int p = 0; p < g->n_procs; p++) {
		uint64_t t = grnd(g, 5);
		int n = 1 + (int)grnd(g, 3);
		for (int i = 0; i < n; i++) {
			struct gop *o = gen_push(g);
			o->proc = (uint64_t)p + 1;
			bool update = gchance(g, 50);
			o->f = g->sets ? (update ? HISTORY_ADD : HISTORY_READ_SET) : (update ? HISTORY_WRITE : HISTORY_READ);
			o->invoke = t + grnd(g, 4);
			o->complete = o->invoke + grnd(g, 8);
			t = o->complete;
			unsigned roll = (unsigned)grnd(g, 100);
			o->status = roll < 70 ? HISTORY_OK : roll < 80 ? HISTORY_FAIL : HISTORY_INFO;
			o->completes = o->status != HISTORY_INFO || gchance(g, 70);
			if (o->f == HISTORY_WRITE)
				o->val = g->unique ? next_elem++ : 1 + (int64_t)grnd(g, 3);
			else if (o->f == HISTORY_READ)
				o->nil = !(o->val = (int64_t)grnd(g, g->unique ? 9 : 4));
			else if (o->f == HISTORY_ADD)
				o->val = next_elem++;
			else
				for (int64_t e = 1; e <= 5; e++)
					if (gchance(g, 40)) {
						o->set = realloc(o->set, (o->n_set + 1) * sizeof(*o->set));
						o->set[o->n_set++] = e;
					}
			if (!o->completes)
				break;
		}
	}
}

static void test_against_brute_force(void **state)
{
	(void)state;
	unsigned counts[3][2] = {{0}};
	for (uint64_t seed = 1; seed <= 9000; seed++) {
		/* Sets, registers with repeated values, registers with unique ones (decided by zones). */
		struct gen g = {.rng = seed * 0x2545f4914f6cdd1dull, .sets = seed % 3 == 0, .unique = seed % 3 == 1,
		                .n_keys = 1};
		g.n_procs = 2 + (int)grnd(&g, 3);
		random_small(&g);
		char *text = gen_text(&g, false);
		struct history *h = parse(text);
		size_t ops[16], n = 0;
		for (size_t i = 0; i < h->n_ops; i++)
			if (h->ops[i].status != HISTORY_FAIL && !(is_read_f(h->ops[i].f) && h->ops[i].status == HISTORY_INFO))
				ops[n++] = i;
		bool placed[16] = {false};
		static const struct history_value nil = {0};
		bool want = brute_force(h, ops, n, placed, &nil, NULL, 0);
		struct lin_report *r;
		assert_int_equal(lin_check(h, NULL, &r), GROVE_OK);
		bool got = r->verdict == LIN_OK;
		struct lin_options search_only = {.search_only = true};
		struct lin_report *r2;
		assert_int_equal(lin_check(h, &search_only, &r2), GROVE_OK);
		if (got != want || (r2->verdict == LIN_OK) != want) {
			printf("the search alone says %s\n", lin_verdict_name(r2->verdict));
			printf("seed=%llu: brute force says %s, the checker %s:\n%s", (unsigned long long)seed,
			       want ? "linearizable" : "not", lin_verdict_name(r->verdict), text);
			lin_report_write(stdout, h, r, true);
		}
		assert_int_equal(got, want);
		if (!got)
			assert_true(excerpt_fails(&r->keys[0]));
		assert_int_equal(r2->verdict == LIN_OK, want);
		counts[g.sets ? 2 : g.unique][got]++;
		lin_report_free(r2);
		lin_report_free(r);
		history_free(h);
		free(text);
		gen_free(&g);
	}
	printf("brute force agrees: registers with repeated values %u linearizable, %u not; with unique values %u, %u; "
	       "sets %u, %u\n",
	       counts[0][1], counts[0][0], counts[1][1], counts[1][0], counts[2][1], counts[2][0]);
}

/* ---- the command-line tool ---- */

/* Run the tool on a file holding @p text, with the options @p args (NULL-terminated, may be NULL). */
static int run_tool(const char *text, const char *const *args)
{
	const char *dir = getenv("GROVE_BUILD_DIR");
	char tool[4096], path[] = "/tmp/grove-lincheck-XXXXXX";
	snprintf(tool, sizeof(tool), "%s/tests/jepsen/grove_lincheck", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		const char *argv[16] = {tool};
		int n = 1;
		while (args && args[n - 1] && n < 14) {
			argv[n] = args[n - 1];
			n++;
		}
		argv[n] = path;
		execv(tool, (char *const *)argv);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_tool_exit_status(void **state)
{
	(void)state;
	if (!getenv("GROVE_BUILD_DIR"))
		skip();
	assert_int_equal(run_tool("1 invoke write x 1 10\n1 ok write x 1 20\n2 invoke read x nil 30\n2 ok read x 1 40\n",
	                          NULL),
	                 0);
	assert_int_equal(run_tool("1 invoke write x 1 10\n1 ok write x 1 20\n2 invoke read x nil 30\n2 ok read x 2 40\n",
	                          NULL),
	                 1);
	assert_int_equal(run_tool("1 invoke write x 1 10\n1 ok write x 2 20\n", NULL), 2);
	char *noisy = noisy_stale_history();
	static const char *const limited[] = {"--search-only", "--max-steps", "5", NULL};
	static const char *const bad_option[] = {"--no-such-option", NULL};
	static const char *const bad_count[] = {"--max-steps", "ten", NULL};
	assert_int_equal(run_tool(noisy, NULL), 1);
	assert_int_equal(run_tool(noisy, limited), 2);
	assert_int_equal(run_tool(noisy, bad_option), 2);
	assert_int_equal(run_tool(noisy, bad_count), 2);
	free(noisy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_write_read_back),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_mutations),
		cmocka_unit_test(test_register_good),
		cmocka_unit_test(test_stale_read),
		cmocka_unit_test(test_concurrent_writes_impossible_order),
		cmocka_unit_test(test_info_writes),
		cmocka_unit_test(test_read_never_written),
		cmocka_unit_test(test_set_good),
		cmocka_unit_test(test_set_bad),
		cmocka_unit_test(test_final_reads),
		cmocka_unit_test(test_minimized_excerpt),
		cmocka_unit_test(test_excerpt_cut_and_projection),
		cmocka_unit_test(test_step_limit),
		cmocka_unit_test(test_tool_exit_status),
		cmocka_unit_test(test_against_brute_force),
		cmocka_unit_test(test_random_registers),
		cmocka_unit_test(test_random_sets),
		cmocka_unit_test(test_performance),
	};
	return cmocka_run_group_tests_name("lincheck", tests, NULL, NULL);
}
