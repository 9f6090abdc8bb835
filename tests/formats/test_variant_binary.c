/* Godot's binary Variant format: vectors written by hand from the format's definition (Godot's "Binary
 * serialization API" page and marshalls.cpp), for Godot 3 and Godot 4 type ids, both directions; every
 * truncation is refused; malformed headers and counts are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "godot/variant_binary.h"
#include "godot/variant_text.h"
#include "src/common/error.h"

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned v;
		sscanf(p, "%2x", &v);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

static void value_of(const char *text, struct variant *v)
{
	struct godot_text_error err;
	int rc = godot_text_parse(text, strlen(text), NULL, v, &err);
	if (rc)
		print_error("cannot parse %s: %s\n", text, err.message);
	assert_int_equal(rc, GROVE_OK);
}

/* decode(bytes) == value, encode(value) == bytes, and every shorter prefix is refused. */
static void check_vector(int major, const char *text, const char *hex)
{
	struct variant want;
	value_of(text, &want);
	uint8_t bytes[512];
	size_t n = unhex(hex, bytes);
	struct variant got;
	size_t used = 0;
	int rc = godot_binary_decode(&got, major, bytes, n, &used);
	if (rc || !variant_equal(&got, &want) || used != n)
		print_error("Godot %d decode of %s failed (rc %d, used %zu of %zu)\n", major, text, rc, used, n);
	assert_int_equal(rc, GROVE_OK);
	assert_int_equal(used, n);
	assert_true(variant_equal(&got, &want));
	variant_free(&got);
	struct grove_buf out = {0};
	assert_int_equal(godot_binary_encode(&want, major, &out), GROVE_OK);
	if (out.len != n || memcmp(out.data, bytes, n) != 0) {
		print_error("Godot %d encode of %s differs:\n  got ", major, text);
		for (size_t i = 0; i < out.len; i++)
			print_error("%02x", out.data[i]);
		print_error("\n want %s\n", hex);
	}
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, bytes, n);
	grove_buf_free(&out);
	for (size_t cut = 0; cut < n; cut++) {
		rc = godot_binary_decode(&got, major, bytes, cut, NULL);
		assert_int_equal(rc, GROVE_ECORRUPT);
		assert_int_equal(got.type, VARIANT_NIL);
	}
	variant_free(&want);
}

static void test_godot3_vectors(void **state)
{
	(void)state;
	check_vector(3, "null", "00000000");
	check_vector(3, "true", "01000000 01000000");
	check_vector(3, "false", "01000000 00000000");
	check_vector(3, "42", "02000000 2a000000");
	check_vector(3, "-1", "02000000 ffffffff");
	check_vector(3, "1099511627776", "02000100 00000000 00010000");
	check_vector(3, "1.5", "03000000 0000c03f");
	check_vector(3, "0.1", "03000100 9a9999999999b93f");
	check_vector(3, "\"abc\"", "04000000 03000000 61626300");
	check_vector(3, "\"abcd\"", "04000000 04000000 61626364");
	check_vector(3, "\"\"", "04000000 00000000");
	check_vector(3, "Vector2(1, -2)", "05000000 0000803f 000000c0");
	check_vector(3, "Rect2(0, 0, 2, 4)", "06000000 00000000 00000000 00000040 00008040");
	check_vector(3, "Vector3(1, 2.5, 3)", "07000000 0000803f 00002040 00004040");
	check_vector(3, "Transform2D(1, 0, 0, 1, 5, 6)",
		     "08000000 0000803f 00000000 00000000 0000803f 0000a040 0000c040");
	check_vector(3, "Plane(0, 1, 0, 2)", "09000000 00000000 0000803f 00000000 00000040");
	check_vector(3, "Quaternion(0, 0, 0, 1)", "0a000000 00000000 00000000 00000000 0000803f");
	check_vector(3, "AABB(0, 0, 0, 1, 1, 1)",
		     "0b000000 00000000 00000000 00000000 0000803f 0000803f 0000803f");
	check_vector(3, "Basis(1, 0, 0, 0, 1, 0, 0, 0, 1)",
		     "0c000000 0000803f 00000000 00000000 00000000 0000803f 00000000 00000000 00000000 0000803f");
	check_vector(3, "Transform3D(1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 8, 9)",
		     "0d000000 0000803f 00000000 00000000 00000000 0000803f 00000000 00000000 00000000 0000803f "
		     "0000e040 00000041 00001041");
	check_vector(3, "Color(1, 0, 0, 1)", "0e000000 0000803f 00000000 00000000 0000803f");
	check_vector(3, "NodePath(\"a/b:c\")",
		     "0f000000 02000080 01000000 00000000 01000000 61000000 01000000 62000000 01000000 63000000");
	check_vector(3, "NodePath(\"/root\")", "0f000000 01000080 00000000 01000000 04000000 726f6f74");
	check_vector(3, "[1, \"x\"]", "13000000 02000000 02000000 01000000 04000000 01000000 78000000");
	check_vector(3, "{\"k\": true}", "12000000 01000000 04000000 01000000 6b000000 01000000 01000000");
	check_vector(3, "PackedByteArray(1, 2, 3)", "14000000 03000000 01020300");
	check_vector(3, "PackedInt32Array(-1, 2)", "15000000 02000000 ffffffff 02000000");
	check_vector(3, "PackedFloat32Array(0.5)", "16000000 01000000 0000003f");
	check_vector(3, "PackedStringArray(\"hi\", \"\")", "17000000 02000000 03000000 68690000 01000000 00000000");
	check_vector(3, "PackedVector2Array(1, 2)", "18000000 01000000 0000803f 00000040");
	check_vector(3, "PackedVector3Array(1, 2, 3)", "19000000 01000000 0000803f 00000040 00004040");
	check_vector(3, "PackedColorArray(0, 0, 0, 1)", "1a000000 01000000 00000000 00000000 00000000 0000803f");
}

static void test_godot4_vectors(void **state)
{
	(void)state;
	check_vector(4, "null", "00000000");
	check_vector(4, "7", "02000000 07000000");
	check_vector(4, "2.0", "03000000 00000040");
	check_vector(4, "Vector2(1, -2)", "05000000 0000803f 000000c0");
	check_vector(4, "Vector2i(3, -4)", "06000000 03000000 fcffffff");
	check_vector(4, "Rect2i(1, 2, 3, 4)", "08000000 01000000 02000000 03000000 04000000");
	check_vector(4, "Vector3(1, 2.5, 3)", "09000000 0000803f 00002040 00004040");
	/* A component float32 cannot hold exactly: the whole value goes 64-bit, with the flag. */
	check_vector(4, "Vector3(0.1, 0, 0)",
		     "09000100 9a9999999999b93f 0000000000000000 0000000000000000");
	check_vector(4, "Vector3i(1, -1, 2)", "0a000000 01000000 ffffffff 02000000");
	check_vector(4, "Vector4(1, 2, 3, 4)", "0c000000 0000803f 00000040 00004040 00008040");
	check_vector(4, "Vector4i(1, 2, 3, 4)", "0d000000 01000000 02000000 03000000 04000000");
	check_vector(4, "Quaternion(0, 0, 0, 1)", "0f000000 00000000 00000000 00000000 0000803f");
	check_vector(4, "Color(1, 0.5, 0, 1)", "14000000 0000803f 0000003f 00000000 0000803f");
	check_vector(4, "&\"n\"", "15000000 01000000 6e000000");
	check_vector(4, "NodePath(\"x:y\")", "16000000 01000080 01000000 00000000 01000000 78000000 01000000 79000000");
	check_vector(4, "[]", "1c000000 00000000");
	check_vector(4, "Array[int]([7])", "1c000100 02000000 01000000 02000000 07000000");
	check_vector(4, "Array[PackedScene]([])", "1c000200 0b000000 5061636b65645363656e6500 00000000");
	/* Godot writes a Callable as its type alone, a Signal with its name and object id: only empty ones here. */
	check_vector(4, "Callable()", "19000000");
	check_vector(4, "Signal()", "1a000000 00000000 00000000 00000000");
	check_vector(4, "[Callable(), Signal()]", "1c000000 02000000 19000000 1a000000 00000000 00000000 00000000");
	check_vector(4, "Array[Callable]([])", "1c000100 19000000 00000000");
	check_vector(4, "{}", "1b000000 00000000");
	check_vector(4, "Dictionary[String, int]({\"a\": 1})",
		     "1b000500 04000000 02000000 01000000 04000000 01000000 61000000 02000000 01000000");
	check_vector(4, "PackedByteArray(255)", "1d000000 01000000 ff000000");
	check_vector(4, "PackedInt64Array(1)", "1f000000 01000000 0100000000000000");
	check_vector(4, "PackedFloat64Array(0.1)", "21000000 01000000 9a9999999999b93f");
	check_vector(4, "PackedVector2Array(1, 2)", "23000000 01000000 0000803f 00000040");
	check_vector(4, "PackedVector4Array(1, 2, 3, 4)", "26000000 01000000 0000803f 00000040 00004040 00008040");
}

/* A NaN whose payload float32 cannot hold goes 64-bit, so that it reads back bit for bit. */
static void test_nan_payload_kept(void **state)
{
	(void)state;
	uint8_t bytes[64];
	size_t n = unhex("09000100 9a99ffffffffffff 0000000000000000 000000000000f03f", bytes);
	struct variant v, again;
	assert_int_equal(godot_binary_decode(&v, 4, bytes, n, NULL), GROVE_OK);
	struct grove_buf out = {0};
	assert_int_equal(godot_binary_encode(&v, 4, &out), GROVE_OK);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, bytes, n);
	assert_int_equal(godot_binary_decode(&again, 4, out.data, out.len, NULL), GROVE_OK);
	assert_true(variant_equal(&v, &again));
	grove_buf_free(&out);
	variant_free(&v);
	variant_free(&again);
}

static void test_resource_refs_and_refusals(void **state)
{
	(void)state;
	struct variant v, got;
	variant_set_resource_ref(&v, 5);
	struct grove_buf out = {0};
	assert_int_equal(godot_binary_encode(&v, 4, &out), GROVE_OK);
	uint8_t want[12];
	assert_int_equal(unhex("18000100 0500000000000000", want), 12);
	assert_memory_equal(out.data, want, 12);
	assert_int_equal(godot_binary_decode(&got, 4, out.data, out.len, NULL), GROVE_OK);
	assert_true(variant_equal(&got, &v));
	grove_buf_free(&out);
	/* What Godot 3 cannot hold is refused, not mangled. */
	struct variant iv;
	value_of("Vector2i(1, 2)", &iv);
	assert_int_equal(godot_binary_encode(&iv, 3, &out), GROVE_EINVAL);
	assert_int_equal(out.len, 0);
	value_of("PackedInt64Array(1099511627776)", &iv);
	assert_int_equal(godot_binary_encode(&iv, 3, &out), GROVE_EINVAL);
	/* Godot 3 has no Callable or Signal: refused, not mangled, wherever they are. */
	static const char *const godot4_only[] = {"Callable()", "Signal()", "{\"cb\": [Callable()]}"};
	for (size_t i = 0; i < sizeof(godot4_only) / sizeof(godot4_only[0]); i++) {
		variant_free(&iv);
		value_of(godot4_only[i], &iv);
		assert_int_equal(godot_binary_encode(&iv, 3, &out), GROVE_EINVAL);
		assert_int_equal(out.len, 0);
	}
	grove_buf_free(&out);
	variant_free(&iv);
	uint8_t bytes[64];
	size_t n;
	/* A Signal that names a signal of a live object is not stored. */
	n = unhex("1a000000 01000000 78000000 01000000 00000000", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_EINVAL);
	n = unhex("1a000000 00000000 05000000 00000000", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_EINVAL);
	/* RID is not stored; unknown ids are corrupt. */
	n = unhex("17000000 0100000000000000", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_EINVAL);
	n = unhex("63000000", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_ECORRUPT);
	n = unhex("1b000000 00000000", bytes);
	assert_int_equal(godot_binary_decode(&got, 3, bytes, n, NULL), GROVE_ECORRUPT);
	/* Counts larger than the bytes behind them. */
	n = unhex("1c000000 ffffff7f", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_ECORRUPT);
	n = unhex("04000000 ffffffff 61", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_ECORRUPT);
	n = unhex("01000000 02000000", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_ECORRUPT);
	/* A full Object is refused; the null Object is a null reference. */
	n = unhex("18000000 04000000 4e6f6465", bytes);
	assert_int_equal(godot_binary_decode(&got, 4, bytes, n, NULL), GROVE_EINVAL);
	n = unhex("11000000 00000000", bytes);
	assert_int_equal(godot_binary_decode(&got, 3, bytes, n, NULL), GROVE_OK);
	assert_int_equal(got.type, VARIANT_RESOURCE_REF);
	assert_int_equal(got.as.ref, 0);
	/* Deep nesting is refused before it can exhaust the stack. */
	size_t depth = VARIANT_MAX_DEPTH + 10;
	uint8_t *deep = calloc(depth * 8 + 8, 1);
	for (size_t i = 0; i < depth; i++)
		unhex("1c000000 01000000", deep + 8 * i);
	assert_int_equal(godot_binary_decode(&got, 4, deep, depth * 8 + 4, NULL), GROVE_ETOOBIG);
	free(deep);
}

/*
 * A container typed by a script: sent the way Godot sends it when objects go as ids (grove's references
 * do), class-name typed without the script; the script-path form (full objects) is refused on reading.
 */
static void test_script_typed_containers(void **state)
{
	(void)state;
	struct variant v;
	assert_int_equal(variant_set_array(&v), GROVE_OK);
	assert_int_equal(variant_array_set_typehint(&v, VARIANT_RESOURCE_REF, NULL), GROVE_OK);
	v.as.array->elem.script = 12;
	struct variant item;
	variant_set_resource_ref(&item, 5);
	assert_int_equal(variant_array_push(&v, &item), GROVE_OK);
	struct grove_buf out = {0};
	assert_int_equal(godot_binary_encode(&v, 4, &out), GROVE_OK);
	uint8_t want[64];
	size_t n = unhex("1c000200 06000000 4f626a65 63740000 01000000 18000100 05000000 00000000", want);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, want, n);
	/* with a class, the class is named */
	out.len = 0;
	assert_int_equal(variant_array_set_typehint(&v, VARIANT_RESOURCE_REF, "Resource"), GROVE_OK);
	v.as.array->elem.script = 12;
	assert_int_equal(godot_binary_encode(&v, 4, &out), GROVE_OK);
	n = unhex("1c000200 08000000 5265736f 75726365 01000000 18000100 05000000 00000000", want);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, want, n);
	/* Godot 3 has no typed arrays: the items go untyped */
	out.len = 0;
	assert_int_equal(godot_binary_encode(&v, 3, &out), GROVE_OK);
	n = unhex("13000000 01000000 11000100 05000000 00000000", want);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, want, n);
	variant_free(&v);
	grove_buf_free(&out);
	/* Typed by a script's path: grove cannot bind a path to a stored resource. */
	struct variant got;
	n = unhex("1c000300 0b000000 7265733a 2f2f612e 67640000 00000000", want);
	assert_int_equal(godot_binary_decode(&got, 4, want, n, NULL), GROVE_EINVAL);
	assert_int_equal(got.type, VARIANT_NIL);
}

static void test_packet_framing(void **state)
{
	(void)state;
	struct variant v, got;
	value_of("{\"op\": \"set\", \"value\": Vector3(1, 2, 3)}", &v);
	struct grove_buf out = {0};
	assert_int_equal(godot_packet_encode(&v, 4, &out), GROVE_OK);
	assert_int_equal(out.data[0] | out.data[1] << 8, out.len - 4);
	size_t used;
	for (size_t cut = 0; cut < out.len; cut++)
		assert_int_equal(godot_packet_decode(&got, 4, out.data, cut, &used), GROVE_ENOTFOUND);
	assert_int_equal(godot_packet_decode(&got, 4, out.data, out.len, &used), GROVE_OK);
	assert_int_equal(used, out.len);
	assert_true(variant_equal(&got, &v));
	variant_free(&got);
	uint8_t huge[8] = {0xff, 0xff, 0xff, 0x7f};
	assert_int_equal(godot_packet_decode(&got, 4, huge, sizeof(huge), &used), GROVE_ETOOBIG);
	/* A frame whose length covers more than the value: corrupt. */
	out.data[0]++;
	grove_buf_put(&out, "\0", 1);
	assert_int_equal(godot_packet_decode(&got, 4, out.data, out.len, &used), GROVE_ECORRUPT);
	grove_buf_free(&out);
	variant_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_godot3_vectors),
		cmocka_unit_test(test_godot4_vectors),
		cmocka_unit_test(test_nan_payload_kept),
		cmocka_unit_test(test_resource_refs_and_refusals),
		cmocka_unit_test(test_script_typed_containers),
		cmocka_unit_test(test_packet_framing),
	};
	return cmocka_run_group_tests_name("variant_binary", tests, NULL, NULL);
}
