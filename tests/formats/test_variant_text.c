/* Godot's Variant text syntax: every type reads and writes back exactly, in Godot 4 and Godot 3 spelling;
 * floats keep their bits; bad text is refused with a line and column. Also the canonical binary form. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "godot/variant_text.h"
#include "src/common/error.h"

static void parse_ok(const char *text, struct variant *v)
{
	struct godot_text_error err = {0};
	int rc = godot_text_parse(text, strlen(text), NULL, v, &err);
	if (rc)
		print_error("parse \"%s\": %u:%u %s\n", text, err.line, err.column, err.message);
	assert_int_equal(rc, GROVE_OK);
}

/* text -> value -> text gives @p expect (NULL: the same text), and that reads back equal, bit for bit. */
static void round_trip(int major, const char *text, const char *expect)
{
	struct variant v, again;
	parse_ok(text, &v);
	struct godot_text_options o = {.godot_major = major};
	struct grove_buf out = {0};
	assert_int_equal(godot_text_write(&v, &o, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	if (strcmp((char *)out.data, expect ? expect : text) != 0)
		print_error("wrote %s, expected %s\n", out.data, expect ? expect : text);
	assert_string_equal((char *)out.data, expect ? expect : text);
	parse_ok((char *)out.data, &again);
	assert_true(variant_equal(&v, &again));
	/* The canonical binary form round-trips too. */
	struct grove_buf canon = {0};
	struct variant decoded;
	size_t used;
	assert_int_equal(variant_encode(&v, &canon), GROVE_OK);
	assert_int_equal(variant_decode(&decoded, canon.data, canon.len, &used), GROVE_OK);
	assert_int_equal(used, canon.len);
	assert_true(variant_equal(&v, &decoded));
	for (size_t cut = 0; cut < canon.len; cut++) {
		struct variant partial;
		assert_int_equal(variant_decode(&partial, canon.data, cut, NULL), GROVE_ECORRUPT);
	}
	variant_free(&decoded);
	grove_buf_free(&canon);
	variant_free(&again);
	variant_free(&v);
	grove_buf_free(&out);
}

static void test_godot4_types(void **state)
{
	(void)state;
	round_trip(4, "null", NULL);
	round_trip(4, "true", NULL);
	round_trip(4, "-9223372036854775808", NULL);
	round_trip(4, "1.0", NULL);
	round_trip(4, "-0.0", NULL);
	round_trip(4, "0.1", NULL);
	round_trip(4, "1e-05", NULL);
	round_trip(4, "1.7976931348623157e+308", NULL);
	round_trip(4, "0.30000000000000004", NULL);
	round_trip(4, "inf", NULL);
	round_trip(4, "-inf", "inf_neg"); /* Godot 4 before 4.5 reads only inf_neg */
	round_trip(4, "inf_neg", NULL);
	round_trip(4, "Vector2(inf_neg, 0)", NULL);
	round_trip(4, "nan", NULL);
	round_trip(4, "\"line one\nline \\\"two\\\" \\\\ é\"", NULL);
	round_trip(4, "\"\\t\\u00e9\\uD83D\\uDE00\"", "\"\t\xc3\xa9\xf0\x9f\x98\x80\"");
	/* Any other escaped character is itself, as Godot reads it: its writers escape ' and ? (NodePaths). */
	round_trip(4, "\"what\\?\\'s \\/ \\q \\a \\v\"", "\"what?'s / q a v\"");
	round_trip(3, "NodePath(\"../what\\?/x\\'y\")", "NodePath(\"../what?/x'y\")");
	/* A ';' outside a string begins a comment, inside a value too. */
	round_trip(4, "{\n\"a\": [ 1, ; one\n2 ] ; the list\n}", "{\n\"a\": [1, 2]\n}");
	round_trip(4, "&\"idle\"", NULL);
	round_trip(4, "^\"../Player:position\"", "NodePath(\"../Player:position\")");
	round_trip(4, "NodePath(\"A/B\")", NULL);
	round_trip(4, "Vector2(1, -0.5)", NULL);
	round_trip(4, "Vector2i(1, -2)", NULL);
	round_trip(4, "Rect2(0, 0, 1920, 1080)", NULL);
	round_trip(4, "Rect2i(0, 0, 16, 16)", NULL);
	round_trip(4, "Vector3(0.1, 0.2, 0.3)", NULL);
	round_trip(4, "Vector3i(1, 2, 3)", NULL);
	round_trip(4, "Transform2D(1, 0, 0, 1, 100, 200)", NULL);
	round_trip(4, "Vector4(1, 2, 3, 4)", NULL);
	round_trip(4, "Vector4i(1, 2, 3, 4)", NULL);
	round_trip(4, "Plane(0, 1, 0, -4.37114e-08)", NULL);
	round_trip(4, "Quaternion(0, 0.7071068, 0, 0.7071068)", NULL);
	round_trip(4, "AABB(-1, -1, -1, 2, 2, 2)", NULL);
	round_trip(4, "Basis(1, 0, 0, 0, 1, 0, 0, 0, 1)", NULL);
	round_trip(4, "Transform3D(1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 1.2, -3)", NULL);
	round_trip(4, "Projection(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)", NULL);
	round_trip(4, "Color(0.4383469, 0.18152684, 0.094284914, 1)", NULL);
	round_trip(4, "Color(1, 0, 0)", "Color(1, 0, 0, 1)");
	round_trip(4, "[1, \"two\", [3.5], {}]", NULL);
	round_trip(4, "Array[NodePath]([NodePath(\"a\"), NodePath(\"b\")])", NULL);
	round_trip(4, "Array[PackedScene]([])", NULL);
	round_trip(4, "{\n\"a\": 1,\n2: Vector2(1, 2)\n}", NULL);
	round_trip(4, "Dictionary[String, int]({\n\"hp\": 100\n})", NULL);
	round_trip(4, "PackedByteArray(0, 1, 255)", NULL);
	round_trip(4, "PackedByteArray(\"AAH/\")", "PackedByteArray(0, 1, 255)");
	round_trip(4, "PackedInt32Array(-2147483648, 2147483647)", NULL);
	round_trip(4, "PackedInt64Array(9223372036854775807)", NULL);
	round_trip(4, "PackedFloat32Array(0.5, -1, 1e+20)", NULL);
	round_trip(4, "PackedFloat64Array(0.1)", NULL);
	round_trip(4, "PackedStringArray(\"a\", \"\", \"c d\")", NULL);
	round_trip(4, "PackedVector2Array(1, 2, 3, 4)", NULL);
	round_trip(4, "PackedVector3Array(1, 2, 3)", NULL);
	round_trip(4, "PackedColorArray(1, 1, 1, 1)", NULL);
	round_trip(4, "PackedVector4Array(1, 2, 3, 4)", NULL);
	round_trip(4, "PackedInt32Array()", NULL);
	/* Godot keeps only empty Callables and Signals, written with no arguments. */
	round_trip(4, "Callable()", NULL);
	round_trip(4, "Signal()", NULL);
	round_trip(4, "Callable( )", "Callable()");
	round_trip(4, "[Callable(), {\n\"s\": Signal()\n}]", NULL);
	round_trip(4, "Array[Callable]([Callable()])", NULL);
	round_trip(4, "Dictionary[StringName, Signal]({})", NULL);
}

static void test_godot3_spelling(void **state)
{
	(void)state;
	round_trip(3, "Vector2( 1, 2 )", NULL);
	round_trip(3, "Transform( 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 )", NULL);
	round_trip(3, "Quat( 0, 0, 0, 1 )", NULL);
	round_trip(3, "PoolRealArray( 0.5, 1 )", NULL);
	round_trip(3, "PoolIntArray(  )", NULL);
	round_trip(3, "PoolStringArray( \"a\" )", NULL);
	round_trip(3, "PoolVector2Array( 0, 0, 480, 720 )", NULL);
	round_trip(3, "[ 1, 2 ]", NULL);
	round_trip(3, "[  ]", NULL);
	round_trip(3, "Rect3( 0, 0, 0, 1, 1, 1 )", "AABB( 0, 0, 0, 1, 1, 1 )");
	/* Godot 3 has no StringName literal and no typed arrays: they become what Godot 3 has. */
	struct variant v;
	parse_ok("&\"x\"", &v);
	struct godot_text_options o3 = {.godot_major = 3};
	struct grove_buf out = {0};
	assert_int_equal(godot_text_write(&v, &o3, &out), GROVE_OK);
	assert_memory_equal(out.data, "\"x\"", 3);
	variant_free(&v);
	grove_buf_free(&out);
	/* What it cannot hold is refused. */
	const char *refused[] = {"Vector2i(1, 2)", "Vector4(1, 2, 3, 4)", "Vector3(inf, 0, 0)",
				 "PackedInt64Array(9223372036854775807)", "Callable()", "Signal()",
				 "[1, {\"deep\": Callable()}]"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		parse_ok(refused[i], &v);
		assert_int_equal(godot_text_write(&v, &o3, &out), GROVE_EINVAL);
		assert_int_equal(out.len, 0);
		variant_free(&v);
	}
	grove_buf_free(&out);
}

static void expect_error(const char *text, unsigned line, unsigned column, const char *fragment)
{
	struct variant v;
	struct godot_text_error err;
	int rc = godot_text_parse(text, strlen(text), NULL, &v, &err);
	if (rc == GROVE_OK || err.line != line || err.column != column || !strstr(err.message, fragment))
		print_error("\"%s\": rc %d at %u:%u \"%s\"\n", text, rc, err.line, err.column, err.message);
	assert_int_not_equal(rc, GROVE_OK);
	assert_int_equal(err.line, line);
	assert_int_equal(err.column, column);
	assert_non_null(strstr(err.message, fragment));
	assert_int_equal(v.type, VARIANT_NIL);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("\"unterminated", 1, 1, "unterminated string");
	expect_error("Vector3(1, 2)", 1, 9, "takes 3 numbers");
	expect_error("Vector9(1)", 1, 1, "unknown constructor");
	expect_error("[1, 2", 1, 6, "unterminated array");
	expect_error("{\n\"a\" 1}", 2, 5, "expected ':'");
	expect_error("1 2", 1, 3, "unexpected text after the value");
	expect_error("Vector2i(3000000000.0, 2)", 1, 10, "32-bit integers");
	expect_error("PackedByteArray(256)", 1, 17, "bytes");
	expect_error("PackedVector2Array(1, 2, 3)", 1, 20, "multiple of 2");
	expect_error("ExtResource(\"1_a\")", 1, 13, "unknown ExtResource");
	expect_error("\"escape at the end \\", 1, 1, "unterminated string");
	expect_error("#12345", 1, 1, "3, 4, 6 or 8 hex digits");
	expect_error("#", 1, 1, "3, 4, 6 or 8 hex digits");
	expect_error("#123456789", 1, 1, "3, 4, 6 or 8 hex digits");
	expect_error("nonsense", 1, 1, "unknown word");
	expect_error("Callable(1)", 1, 10, "takes no arguments");
	expect_error("Signal", 1, 1, "unknown word");
	/* A container typed by a script needs the resource layer, like any reference. */
	expect_error("Array[ExtResource(\"2_abc\")]([])", 1, 19, "unknown ExtResource");
	expect_error("Array[ExtResource]([])", 1, 18, "expected '('");
	/* An exponent's sign at the end of the number buffer: refused, never written past it. */
	char exponents[128] = "11";
	for (int i = 0; i < 40; i++)
		strcat(exponents, "e-");
	expect_error(exponents, 1, 1, "malformed number");
	expect_error("", 1, 1, "expected a value");
	/* Nesting beyond the limit is refused, not a stack overflow. */
	char deep[2 * VARIANT_MAX_DEPTH + 40];
	size_t n = 0;
	for (int i = 0; i < VARIANT_MAX_DEPTH + 10; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	struct variant v;
	struct godot_text_error err;
	assert_int_equal(godot_text_parse(deep, n, NULL, &v, &err), GROVE_ETOOBIG);
}

/* A colour code read for Godot @p major is the Color of these components (as bytes over 255). */
static void expect_colour(int major, const char *text, const int bytes[4])
{
	struct godot_text_options o = {.godot_major = major};
	struct godot_text_error err = {0};
	struct variant v;
	int rc = godot_text_parse(text, strlen(text), &o, &v, &err);
	if (rc)
		print_error("parse \"%s\": %u:%u %s\n", text, err.line, err.column, err.message);
	assert_int_equal(rc, GROVE_OK);
	assert_int_equal(v.type, VARIANT_COLOR);
	for (int i = 0; i < 4; i++)
		assert_true(v.as.r[i] == (float)(bytes[i] / 255.0));
	variant_free(&v);
}

/* What Godot's own loaders accept and how they read it (checked against Godot 3.2.3). */
static void test_read_as_godot_does(void **state)
{
	(void)state;
	/* Colour codes: alpha first in Godot 3, last in Godot 4; a short form doubles each digit. */
	expect_colour(3, "#ff8000", (int[]){255, 128, 0, 255});
	expect_colour(4, "#FF8000", (int[]){255, 128, 0, 255});
	expect_colour(3, "#80ff0000", (int[]){255, 0, 0, 128});
	expect_colour(4, "#80ff0000", (int[]){128, 255, 0, 0});
	expect_colour(3, "#f00", (int[]){255, 0, 0, 255});
	expect_colour(3, "#8f00", (int[]){255, 0, 0, 136});
	expect_colour(4, "#8f00", (int[]){136, 255, 0, 0});
	expect_colour(0, "  #0a0B0c ; a comment", (int[]){10, 11, 12, 255});
	/* Inside containers, and written back as Color(...). */
	round_trip(4, "[#00ff00]", "[Color(0, 1, 0, 1)]");
	round_trip(3, "{\"c\": #0000ff}", "{\n\"c\": Color( 0, 0, 1, 1 )\n}");
	/* Integers beyond 64 bits are clamped to the nearest limit. */
	round_trip(4, "99999999999999999999", "9223372036854775807");
	round_trip(4, "-99999999999999999999", "-9223372036854775808");
	/* Integer vectors take float components toward zero. */
	round_trip(4, "Vector2i(1.9, -2.9)", "Vector2i(1, -2)");
	round_trip(4, "Vector3i(1e3, 0.5, -0.5)", "Vector3i(1000, 0, 0)");
}

static int resolve(void *ctx, bool ext, const struct variant *id, int64_t *ref)
{
	(void)ctx;
	if (id->type == VARIANT_INT) {
		*ref = ext ? -id->as.i : -100 - id->as.i;
		return GROVE_OK;
	}
	if (id->type == VARIANT_STRING && strcmp(id->as.str.ptr, "1_abc") == 0) {
		*ref = ext ? -1 : -200;
		return GROVE_OK;
	}
	return GROVE_ENOTFOUND;
}

static int describe(void *ctx, int64_t ref, bool *ext, struct variant *id)
{
	int major = *(int *)ctx;
	*ext = ref > -100;
	if (major == 3) {
		variant_set_int(id, *ext ? -ref : -ref - 100);
		return GROVE_OK;
	}
	return variant_set_string(id, VARIANT_STRING, "1_abc", 5);
}

static void test_resource_references(void **state)
{
	(void)state;
	int major = 4;
	struct godot_text_options o = {.godot_major = 4, .resolve = resolve, .describe = describe, .ctx = &major};
	struct variant v;
	struct godot_text_error err;
	const char *text4 = "[ExtResource(\"1_abc\"), SubResource(\"1_abc\")]";
	assert_int_equal(godot_text_parse(text4, strlen(text4), &o, &v, &err), GROVE_OK);
	assert_int_equal(v.as.array->items[0].as.ref, -1);
	assert_int_equal(v.as.array->items[1].as.ref, -200);
	struct grove_buf out = {0};
	assert_int_equal(godot_text_write(&v, &o, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	assert_string_equal((char *)out.data, text4);
	variant_free(&v);
	grove_buf_free(&out);
	major = 3;
	o.godot_major = 3;
	const char *text3 = "[ ExtResource( 1 ), SubResource( 2 ) ]";
	assert_int_equal(godot_text_parse(text3, strlen(text3), &o, &v, &err), GROVE_OK);
	assert_int_equal(godot_text_write(&v, &o, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	assert_string_equal((char *)out.data, text3);
	variant_free(&v);
	grove_buf_free(&out);
}

/* Text @p text parses with references, writes back as @p expect, and its canonical form round-trips. */
static void ref_round_trip(int major, const char *text, const char *expect, struct variant *v)
{
	int ctx = major;
	struct godot_text_options o = {.godot_major = major, .resolve = resolve, .describe = describe, .ctx = &ctx};
	struct godot_text_error err = {0};
	int rc = godot_text_parse(text, strlen(text), &o, v, &err);
	if (rc)
		print_error("parse \"%s\": %u:%u %s\n", text, err.line, err.column, err.message);
	assert_int_equal(rc, GROVE_OK);
	struct grove_buf out = {0};
	assert_int_equal(godot_text_write(v, &o, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	if (strcmp((char *)out.data, expect) != 0)
		print_error("wrote %s, expected %s\n", out.data, expect);
	assert_string_equal((char *)out.data, expect);
	grove_buf_free(&out);
	struct grove_buf canon = {0};
	struct variant back;
	size_t used;
	assert_int_equal(variant_encode(v, &canon), GROVE_OK);
	assert_int_equal(variant_decode(&back, canon.data, canon.len, &used), GROVE_OK);
	assert_int_equal(used, canon.len);
	assert_true(variant_equal(v, &back));
	for (size_t cut = 0; cut < canon.len; cut++) {
		struct variant partial;
		assert_int_equal(variant_decode(&partial, canon.data, cut, NULL), GROVE_ECORRUPT);
	}
	variant_free(&back);
	grove_buf_free(&canon);
}

/* Godot 4's containers typed by a script: the script is a resource reference inside the type. */
static void test_script_typed_containers(void **state)
{
	(void)state;
	struct variant v;
	const char *arr = "Array[ExtResource(\"1_abc\")]([ExtResource(\"1_abc\"), SubResource(\"1_abc\")])";
	ref_round_trip(4, arr, arr, &v);
	assert_int_equal(v.as.array->elem.type, VARIANT_RESOURCE_REF);
	assert_null(v.as.array->elem.class_name);
	assert_int_equal(v.as.array->elem.script, -1);
	assert_int_equal(v.as.array->len, 2);
	/* the script takes part in equality */
	struct variant other;
	assert_int_equal(variant_copy(&other, &v), GROVE_OK);
	assert_true(variant_equal(&v, &other));
	other.as.array->elem.script = -200;
	assert_false(variant_equal(&v, &other));
	variant_free(&other);
	variant_free(&v);
	ref_round_trip(4, "Array[SubResource(\"1_abc\")]([])", "Array[SubResource(\"1_abc\")]([])", &v);
	assert_int_equal(v.as.array->elem.script, -200);
	variant_free(&v);
	const char *dict = "Dictionary[ExtResource(\"1_abc\"), int]({\nExtResource(\"1_abc\"): 1\n})";
	ref_round_trip(4, dict, dict, &v);
	assert_int_equal(v.as.dict->key.script, -1);
	assert_int_equal(v.as.dict->value.script, 0);
	assert_int_equal(v.as.dict->value.type, VARIANT_INT);
	variant_free(&v);
	ref_round_trip(4, "Dictionary[String, SubResource(\"1_abc\")]({})", "Dictionary[String, SubResource(\"1_abc\")]({})",
		       &v);
	assert_int_equal(v.as.dict->value.script, -200);
	variant_free(&v);
	/* Godot 3 has no typed containers: the array is written untyped, its items kept. */
	ref_round_trip(3, "Array[ExtResource( 4 )]([ExtResource( 5 )])", "[ ExtResource( 5 ) ]", &v);
	assert_int_equal(v.as.array->elem.script, -4);
	variant_free(&v);
}

/* Bytes stored before hints could name a script decode as they always did. */
static void test_canonical_hints_compatible(void **state)
{
	(void)state;
	/* Array[int]([1]): tag, hint type 2 with no class, count 1, INT 1 */
	static const uint8_t old_bytes[] = {0x1c, 0x02, 0, 0, 0, 0, 1, 0, 0, 0, 0x02, 1, 0, 0, 0, 0, 0, 0, 0};
	struct variant v;
	size_t used;
	assert_int_equal(variant_decode(&v, old_bytes, sizeof(old_bytes), &used), GROVE_OK);
	assert_int_equal(used, sizeof(old_bytes));
	assert_int_equal(v.as.array->elem.type, VARIANT_INT);
	assert_int_equal(v.as.array->elem.script, 0);
	struct grove_buf again = {0};
	assert_int_equal(variant_encode(&v, &again), GROVE_OK);
	assert_int_equal(again.len, sizeof(old_bytes));
	assert_memory_equal(again.data, old_bytes, sizeof(old_bytes));
	variant_free(&v);
	grove_buf_free(&again);
	/* A script-typed hint: the Object tag with 0x80, the (empty) class, then the 8-byte reference. */
	static const uint8_t script_bytes[] = {0x1c, 0x98, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(variant_decode(&v, script_bytes, sizeof(script_bytes), &used), GROVE_OK);
	assert_int_equal(v.as.array->elem.type, VARIANT_RESOURCE_REF);
	assert_int_equal(v.as.array->elem.script, 7);
	assert_int_equal(variant_encode(&v, &again), GROVE_OK);
	assert_memory_equal(again.data, script_bytes, sizeof(script_bytes));
	variant_free(&v);
	grove_buf_free(&again);
	/* Forged: a script on a builtin hint, a script reference of 0. */
	static const uint8_t builtin_script[] = {0x1c, 0x82, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(variant_decode(&v, builtin_script, sizeof(builtin_script), NULL), GROVE_ECORRUPT);
	static const uint8_t zero_script[] = {0x1c, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(variant_decode(&v, zero_script, sizeof(zero_script), NULL), GROVE_ECORRUPT);
	/* Callable and Signal are their tag alone. */
	static const uint8_t callable[] = {25}, sig[] = {26};
	assert_int_equal(variant_decode(&v, callable, 1, &used), GROVE_OK);
	assert_int_equal(v.type, VARIANT_CALLABLE);
	assert_int_equal(variant_decode(&v, sig, 1, &used), GROVE_OK);
	assert_int_equal(v.type, VARIANT_SIGNAL);
	static const uint8_t rid[] = {23, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(variant_decode(&v, rid, sizeof(rid), NULL), GROVE_ECORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_godot4_types),
		cmocka_unit_test(test_godot3_spelling),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_read_as_godot_does),
		cmocka_unit_test(test_resource_references),
		cmocka_unit_test(test_script_typed_containers),
		cmocka_unit_test(test_canonical_hints_compatible),
	};
	return cmocka_run_group_tests_name("variant_text", tests, NULL, NULL);
}
