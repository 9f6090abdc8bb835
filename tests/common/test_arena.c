/* The bump allocator: alignment, contents kept across new blocks (mapped ones too), large requests, reuse after free. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/arena.h"

static void test_small_allocations_keep_their_contents(void **state)
{
	(void)state;
	struct arena a = {0};
	char *strings[5000];
	for (int i = 0; i < 5000; i++) {
		char text[32];
		int n = snprintf(text, sizeof(text), "node%d", i);
		strings[i] = arena_strndup(&a, text, (size_t)n);
		assert_non_null(strings[i]);
		assert_int_equal((uintptr_t)strings[i] % alignof(max_align_t), 0);
	}
	for (int i = 0; i < 5000; i++) {
		char text[32];
		snprintf(text, sizeof(text), "node%d", i);
		assert_string_equal(strings[i], text);
	}
	assert_string_equal(arena_strdup(&a, ""), "");
	assert_non_null(arena_alloc(&a, 0));
	arena_free(&a);
	assert_null(a.head);
}

static void test_large_request_and_reuse(void **state)
{
	(void)state;
	struct arena a = {0};
	char *small = arena_strdup(&a, "before");
	size_t big = (size_t)3 << 20; /* over the largest block */
	unsigned char *p = arena_alloc(&a, big);
	assert_non_null(p);
	memset(p, 0xab, big);
	uint64_t *after = arena_alloc(&a, sizeof(*after));
	assert_non_null(after);
	*after = 42;
	assert_string_equal(small, "before");
	assert_int_equal(p[big - 1], 0xab);
	assert_int_equal(*after, 42);
	arena_free(&a);
	assert_string_equal(arena_strdup(&a, "again"), "again");
	arena_free(&a);
}

static void test_growth_past_the_malloc_blocks(void **state)
{
	(void)state;
	struct arena a = {0};
	/* 48 MB in pieces: the blocks grow past 1 MB into mappings of their own, up to the largest. */
	enum { PIECE = 64 << 10, PIECES = 768 };
	unsigned char *pieces[PIECES];
	for (int i = 0; i < PIECES; i++) {
		pieces[i] = arena_alloc(&a, PIECE);
		assert_non_null(pieces[i]);
		assert_int_equal((uintptr_t)pieces[i] % alignof(max_align_t), 0);
		memset(pieces[i], i & 0xff, PIECE);
	}
	for (int i = 0; i < PIECES; i++) {
		assert_int_equal(pieces[i][0], i & 0xff);
		assert_int_equal(pieces[i][PIECE - 1], i & 0xff);
	}
	arena_free(&a);
	assert_null(a.head);
	assert_string_equal(arena_strdup(&a, "again"), "again");
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_allocations_keep_their_contents),
		cmocka_unit_test(test_large_request_and_reuse),
		cmocka_unit_test(test_growth_past_the_malloc_blocks),
	};
	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
