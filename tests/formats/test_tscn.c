/* The .tscn reader and writer on hand-made scenes: both formats read, written back equal, and every kind of
 * broken scene refused with its line and column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "godot/scene.h"
#include "godot/tscn.h"
#include "src/common/error.h"

static const char scene4[] =
	"[gd_scene load_steps=3 format=3 uid=\"uid://c1\"]\n"
	"\n"
	"; a comment line\n"
	"[ext_resource type=\"Script\" uid=\"uid://s\" path=\"res://p.gd\" id=\"1_abc\"]\n"
	"\n"
	"[sub_resource type=\"BoxShape3D\" id=\"Box_x1\"]\n"
	"size = Vector3(1, 2, 3)\n"
	"\n"
	"[node name=\"Player\" type=\"CharacterBody3D\" groups=[\"players\"] unique_id=7]\n"
	"script = ExtResource(\"1_abc\")\n"
	"metadata/_edit_lock_ = true\n"
	"text = \"two\n"
	"lines\"\n"
	"\n"
	"[node name=\"Shape\" type=\"CollisionShape3D\" parent=\".\"]\n"
	"shape = SubResource(\"Box_x1\")\n"
	"\"odd key\" = 1\n"
	"\n"
	"[connection signal=\"ready\" from=\".\" to=\"Shape\" method=\"_on_ready\" flags=3]\n";

static const char scene3[] =
	"[gd_scene load_steps=2 format=2]\n"
	"\n"
	"[ext_resource path=\"res://p.gd\" type=\"Script\" id=1]\n"
	"\n"
	"[node name=\"Main\" type=\"Node2D\"]\n"
	"script = ExtResource( 1 )\n"
	"position = Vector2( 1, 2 )\n"
	"\n"
	"[node name=\"Timer\" type=\"Timer\" parent=\".\"]\n"
	"wait_time = 0.5\n";

static void parse_ok(const char *text, struct tscn_scene *s)
{
	struct tscn_error err;
	int rc = tscn_parse(text, strlen(text), s, &err);
	if (rc)
		print_error("%u:%u: %s\n", err.line, err.column, err.message);
	assert_int_equal(rc, GROVE_OK);
}

static void test_read_and_write_back(void **state)
{
	(void)state;
	struct tscn_scene s, again;
	parse_ok(scene4, &s);
	assert_int_equal(s.format, 3);
	assert_int_equal(s.count, 6);
	const struct tscn_section *player = &s.sections[3];
	assert_int_equal(player->kind, TSCN_NODE);
	assert_int_equal(player->line, 9);
	assert_int_equal(tscn_prop(player, "script")->as.ref, -2); /* section 1 */
	assert_string_equal(tscn_prop(player, "text")->as.str.ptr, "two\nlines");
	assert_non_null(tscn_prop(player, "metadata/_edit_lock_"));
	assert_int_equal(tscn_prop(&s.sections[4], "shape")->as.ref, -3);
	assert_non_null(tscn_prop(&s.sections[4], "odd key"));
	struct grove_buf out = {0};
	assert_int_equal(tscn_write(&s, 4, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	parse_ok((const char *)out.data, &again);
	assert_int_equal(again.count, s.count);
	for (size_t i = 0; i < s.count; i++) {
		assert_int_equal(again.sections[i].n_attrs, s.sections[i].n_attrs);
		assert_int_equal(again.sections[i].n_props, s.sections[i].n_props);
		for (size_t k = 0; k < s.sections[i].n_props; k++)
			assert_true(variant_equal(&again.sections[i].props[k].value, &s.sections[i].props[k].value));
	}
	tscn_scene_free(&again);
	tscn_scene_free(&s);
	grove_buf_free(&out);

	parse_ok(scene3, &s);
	assert_int_equal(s.format, 2);
	assert_int_equal(tscn_prop(&s.sections[2], "script")->as.ref, -2);
	assert_int_equal(tscn_write(&s, 3, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	assert_non_null(strstr((char *)out.data, "script = ExtResource( 1 )"));
	assert_non_null(strstr((char *)out.data, "position = Vector2( 1, 2 )"));
	assert_non_null(strstr((char *)out.data, "[gd_scene load_steps=2 format=2]"));
	tscn_scene_free(&s);
	grove_buf_free(&out);
}

/*
 * What Godot's parser reads and its writers never write: a header over several lines, comments after a value
 * and inside one, two properties on one line. Names Godot would read back as other bytes are quoted.
 */
static void test_read_as_godot_does(void **state)
{
	(void)state;
	static const char text[] =
		"[gd_scene format=2]\n"
		"[node name=\"Root\" ; the root\n"
		"  type=\"Node2D\"]\n"
		"position = Vector2( 4, 5 ) ; where\n"
		"__meta__ = {\n"
		"; a note\n"
		"\"a\": [ 1, ; trailing\n"
		"2 ]\n"
		"}\n"
		"a = 1 b = 2\n"
		"\"\xc3\xbcn\xc3\xaf_key\" = 3\n"
		"\"semi;colon\" = 4\n"
		/* Godot 3.2 writes a name with ';' bare; its loader takes the ';' for a comment and the name on. */
		"z_;index = 5\n"
		"ind ex = 6\n";
	struct tscn_scene s;
	parse_ok(text, &s);
	assert_int_equal(s.count, 2);
	const struct tscn_section *root = &s.sections[1];
	assert_string_equal(tscn_attr(root, "type")->as.str.ptr, "Node2D");
	assert_int_equal(root->n_props, 7);
	assert_int_equal(tscn_prop(root, "z_index")->as.i, 6);
	assert_int_equal(tscn_prop(root, "a")->as.i, 1);
	assert_int_equal(tscn_prop(root, "b")->as.i, 2);
	assert_int_equal(tscn_prop(root, "__meta__")->type, VARIANT_DICTIONARY);
	struct grove_buf out = {0};
	assert_int_equal(tscn_write(&s, 3, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	assert_non_null(strstr((char *)out.data, "\n\"\xc3\xbcn\xc3\xaf_key\" = 3\n"));
	assert_non_null(strstr((char *)out.data, "\n\"semi;colon\" = 4\n"));
	assert_non_null(strstr((char *)out.data, "\na = 1\n"));
	tscn_scene_free(&s);
	grove_buf_free(&out);
}

static void expect_refused(const char *text, unsigned line, unsigned column, const char *fragment)
{
	struct tscn_scene s;
	struct tscn_error err;
	int rc = tscn_parse(text, strlen(text), &s, &err);
	if (rc == GROVE_OK || err.line != line || err.column != column || !strstr(err.message, fragment))
		print_error("rc %d at %u:%u \"%s\" for:\n%s\n", rc, err.line, err.column, err.message, text);
	assert_int_not_equal(rc, GROVE_OK);
	assert_int_equal(err.line, line);
	assert_int_equal(err.column, column);
	assert_non_null(strstr(err.message, fragment));
	assert_int_equal(s.count, 0);
}

static void test_broken_scenes(void **state)
{
	(void)state;
	expect_refused("", 1, 1, "empty scene");
	expect_refused("[node name=\"A\"]\n", 1, 1, "must start with [gd_scene]");
	expect_refused("[gd_scene format=9]\n", 1, 1, "unsupported scene format");
	expect_refused("[gd_scene format=3]\n[gd_scene format=3]\n", 2, 1, "second [gd_scene]");
	expect_refused("[gd_scene format=3]\n[bogus a=1]\n", 2, 1, "unknown section [bogus]");
	expect_refused("[gd_scene format=3]\n[node name=\"A\"\n", 2, 1, "unterminated section header");
	expect_refused("[gd_scene format=3]\n[node name=\"A]\n", 2, 12, "unterminated string");
	expect_refused("[gd_scene format=3]\n[node name=\"A\"]\nx = \"open\n", 3, 5, "unterminated string");
	expect_refused("[gd_scene format=3]\n[node name=\"A\"]\nx = Vector3(1, 2)\n", 3, 13, "takes 3 numbers");
	expect_refused("[gd_scene format=3]\n[node name=\"A\"]\nx = ExtResource(\"9\")\n", 3, 17, "unknown ExtResource");
	/* A bare name runs to the '=' (blanks and line ends skipped, as Godot reads it): the error is at its start. */
	expect_refused("[gd_scene format=3]\n[node name=\"A\"]\nx = 1 2\n", 3, 7, "expected '='");
	expect_refused("[gd_scene format=3]\n[node name=\"A\"]\nx 1\n", 3, 1, "expected '='");
	expect_refused("[gd_scene format=3]\nx = 1\n", 2, 1, "outside a [node]");
	expect_refused("[gd_scene format=3]\n[ext_resource type=\"T\" path=\"res://a\" id=\"1\"]\n"
		       "[ext_resource type=\"T\" path=\"res://b\" id=\"1\"]\n",
		       3, 1, "declared twice");
	/* A NUL byte would end a name or string early: the scene is refused at it. */
	const char nul[] = "[gd_scene format=3]\n[node name=\"Cut\0Here\" type=\"Node\"]\n";
	struct tscn_scene cut;
	struct tscn_error cut_err;
	assert_int_equal(tscn_parse(nul, sizeof(nul) - 1, &cut, &cut_err), GROVE_EPARSE);
	assert_int_equal(cut_err.line, 2);
	assert_int_equal(cut_err.column, 16);
	assert_non_null(strstr(cut_err.message, "NUL"));
	/* Truncating a good scene anywhere never crashes; it is refused or reads a shorter scene. */
	for (size_t cut = 0; cut < sizeof(scene4) - 1; cut++) {
		struct tscn_scene s;
		struct tscn_error err;
		if (tscn_parse(scene4, cut, &s, &err) == GROVE_OK)
			tscn_scene_free(&s);
		else
			assert_true(err.line >= 1 && err.message[0]);
	}
}

/* Scenes that read fine but are not trees are refused when planned, and nothing is imported. */
static void test_bad_structure(void **state)
{
	(void)state;
	const char *bad[] = {
		/* a parent path that only appears later: no cycle can be expressed, it is simply missing */
		"[gd_scene format=3]\n[node name=\"R\" type=\"Node\"]\n[node name=\"A\" type=\"Node\" parent=\"B\"]\n"
		"[node name=\"B\" type=\"Node\" parent=\"A\"]\n",
		/* duplicate sibling names */
		"[gd_scene format=3]\n[node name=\"R\" type=\"Node\"]\n[node name=\"A\" type=\"Node\" parent=\".\"]\n"
		"[node name=\"A\" type=\"Node\" parent=\".\"]\n",
		/* a node without a name, and a name of the wrong type */
		"[gd_scene format=3]\n[node type=\"Node\"]\n",
		"[gd_scene format=3]\n[node name=5 type=\"Node\"]\n",
		/* two roots */
		"[gd_scene format=3]\n[node name=\"R\" type=\"Node\"]\n[node name=\"S\" type=\"Node\"]\n",
		/* groups that are not an array of strings */
		"[gd_scene format=3]\n[node name=\"R\" type=\"Node\" groups=7]\n",
		/* an instance that is not an ext_resource */
		"[gd_scene format=3]\n[node name=\"R\" instance=5]\n",
		/* a connection to a node that is not there */
		"[gd_scene format=3]\n[node name=\"R\" type=\"Node\"]\n[connection signal=\"s\" from=\".\" to=\"X\" method=\"m\"]\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tscn_scene s;
		struct tscn_error err;
		assert_int_equal(tscn_parse(bad[i], strlen(bad[i]), &s, &err), GROVE_OK);
		struct scene_import plan;
		char msg[256];
		int rc = scene_import_plan(&s, "/root", NULL, &plan, msg, sizeof(msg));
		if (rc == GROVE_OK)
			print_error("scene %zu was accepted\n", i);
		assert_int_equal(rc, GROVE_EPARSE);
		assert_non_null(strstr(msg, "line "));
		assert_null(plan.ops);
		tscn_scene_free(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_and_write_back),
		cmocka_unit_test(test_read_as_godot_does),
		cmocka_unit_test(test_broken_scenes),
		cmocka_unit_test(test_bad_structure),
	};
	return cmocka_run_group_tests_name("tscn", tests, NULL, NULL);
}
