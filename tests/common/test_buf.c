/* The growable buffer's encoders: varints as protobuf writes them, fixed-width integers in both orders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/buf.h"

static void test_varints(void **state)
{
	(void)state;
	const struct {
		uint64_t v;
		size_t n;
		uint8_t bytes[10];
	} cases[] = {
		{0, 1, {0x00}},
		{1, 1, {0x01}},
		{127, 1, {0x7f}},
		{128, 2, {0x80, 0x01}},
		{300, 2, {0xac, 0x02}},
		{16383, 2, {0xff, 0x7f}},
		{16384, 3, {0x80, 0x80, 0x01}},
		{UINT32_MAX, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
		{UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	};
	struct grove_buf all = {0};
	size_t total = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct grove_buf b = {0};
		grove_buf_varint(&b, cases[i].v);
		assert_false(b.failed);
		assert_int_equal(b.len, cases[i].n);
		assert_memory_equal(b.data, cases[i].bytes, cases[i].n);
		grove_buf_free(&b);
		/* One after the other, each takes only its own bytes. */
		grove_buf_varint(&all, cases[i].v);
		assert_memory_equal(all.data + total, cases[i].bytes, cases[i].n);
		total += cases[i].n;
		assert_int_equal(all.len, total);
	}
	grove_buf_free(&all);
}

static void test_fixed_width(void **state)
{
	(void)state;
	struct grove_buf b = {0};
	grove_buf_le32(&b, 0x01020304);
	grove_buf_be32(&b, 0x01020304);
	grove_buf_le64(&b, 0x0102030405060708ull);
	grove_buf_be64(&b, 0x0102030405060708ull);
	const uint8_t want[] = {4, 3, 2, 1, 1, 2, 3, 4, 8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8};
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	/* A failed buffer takes nothing more. */
	b.failed = true;
	grove_buf_varint(&b, 5);
	grove_buf_u8(&b, 5);
	assert_int_equal(b.len, sizeof(want));
	grove_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varints),
		cmocka_unit_test(test_fixed_width),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
