/* Scene import and export against a real store, on scenes built in memory: every section kind survives
 * import -> export, resources keep their dependency order, and a broken scene imports nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "godot/scene.h"
#include "godot/tscn.h"
#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

/* The world's tree (group 1) of the store the test opened last. */
static struct tree world;

struct fixture {
	char *dir;
	struct store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("scene");
	struct store_options opts = {.no_sync = true, .map_size = 1ull << 30};
	assert_int_equal(store_open(&f->store, f->dir, &opts), GROVE_OK);
	assert_int_equal(tree_open(f->store, 1, &world), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&world, txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
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

/* Records per table (the store holds one group, so all of them are the world's). */
static void count_records(struct fixture *f, uint64_t counts[TREE_TABLE_COUNT])
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	for (int t = 0; t < TREE_TABLE_COUNT; t++)
		assert_int_equal(store_db_entries(txn, world.db[t], &counts[t]), GROVE_OK);
	store_txn_abort(txn);
}


static void add_str(struct tscn_section *s, bool attr, const char *key, const char *text)
{
	struct variant v;
	assert_int_equal(variant_set_string(&v, VARIANT_STRING, text, strlen(text)), GROVE_OK);
	assert_int_equal(attr ? tscn_add_attr(s, key, &v) : tscn_add_prop(s, key, &v), GROVE_OK);
}

static void add_val(struct tscn_section *s, bool attr, const char *key, struct variant v)
{
	assert_int_equal(attr ? tscn_add_attr(s, key, &v) : tscn_add_prop(s, key, &v), GROVE_OK);
}

static struct variant ref_to(size_t section)
{
	struct variant v;
	variant_set_resource_ref(&v, -(int64_t)section - 1);
	return v;
}

static struct variant int_value(int64_t i)
{
	struct variant v;
	variant_set_int(&v, i);
	return v;
}

/*
 * [gd_scene format=3 uid="uid://abc"]
 * [ext_resource type="Script" uid="uid://s1" path="res://player.gd" id="1_a"]       (section 1)
 * [ext_resource type="PackedScene" path="res://gun.tscn" id="2_b"]                   (section 2)
 * [sub_resource type="Gradient" id="Gradient_1"]  colors = PackedColorArray(...)     (section 3)
 * [sub_resource type="GradientTexture1D" id="Tex_1"]  gradient = SubResource(3)      (section 4)
 * [node name="Player" type="CharacterBody3D" unique_id=7]  script = ExtResource(1)
 * [node name="Body" type="MeshInstance3D" parent="." groups=["solid", "visible"]]  texture = SubResource(4)
 * [node name="Gun" parent="Body" instance=ExtResource(2) index="0"]
 * [node name="Muzzle" parent="Body/Gun"]   (override of a node inside the instanced scene)
 * [node name="Flash" type="OmniLight3D" parent="Body/Gun/Barrel"]   (Barrel lives in gun.tscn)
 * [connection signal="fired" from="Body/Gun" to="." method="_on_fired" flags=3 binds=[1]]
 * [editable path="Body/Gun"]
 */
static void build_scene(struct tscn_scene *scene)
{
	memset(scene, 0, sizeof(*scene));
	scene->format = 3;
	struct tscn_section *s = tscn_add_section(scene, TSCN_GD_SCENE);
	add_val(s, true, "format", int_value(3));
	add_str(s, true, "uid", "uid://abc");
	s = tscn_add_section(scene, TSCN_EXT_RESOURCE);
	add_str(s, true, "type", "Script");
	add_str(s, true, "uid", "uid://s1");
	add_str(s, true, "path", "res://player.gd");
	add_str(s, true, "id", "1_a");
	s = tscn_add_section(scene, TSCN_EXT_RESOURCE);
	add_str(s, true, "type", "PackedScene");
	add_str(s, true, "path", "res://gun.tscn");
	add_str(s, true, "id", "2_b");
	s = tscn_add_section(scene, TSCN_SUB_RESOURCE);
	add_str(s, true, "type", "Gradient");
	add_str(s, true, "id", "Gradient_1");
	struct variant colors;
	assert_int_equal(variant_set_packed(&colors, VARIANT_PACKED_COLOR_ARRAY, 2), GROVE_OK);
	for (int i = 0; i < 8; i++)
		colors.as.packed->as.reals[i] = i / 7.0;
	add_val(s, false, "colors", colors);
	s = tscn_add_section(scene, TSCN_SUB_RESOURCE);
	add_str(s, true, "type", "GradientTexture1D");
	add_str(s, true, "id", "Tex_1");
	add_val(s, false, "gradient", ref_to(3));
	s = tscn_add_section(scene, TSCN_NODE);
	add_str(s, true, "name", "Player");
	add_str(s, true, "type", "CharacterBody3D");
	add_val(s, true, "unique_id", int_value(7));
	add_val(s, false, "script", ref_to(1));
	s = tscn_add_section(scene, TSCN_NODE);
	add_str(s, true, "name", "Body");
	add_str(s, true, "type", "MeshInstance3D");
	add_str(s, true, "parent", ".");
	struct variant groups, g;
	assert_int_equal(variant_set_array(&groups), GROVE_OK);
	assert_int_equal(variant_set_string(&g, VARIANT_STRING, "solid", 5), GROVE_OK);
	assert_int_equal(variant_array_push(&groups, &g), GROVE_OK);
	assert_int_equal(variant_set_string(&g, VARIANT_STRING, "visible", 7), GROVE_OK);
	assert_int_equal(variant_array_push(&groups, &g), GROVE_OK);
	add_val(s, true, "groups", groups);
	add_val(s, false, "texture", ref_to(4));
	s = tscn_add_section(scene, TSCN_NODE);
	add_str(s, true, "name", "Gun");
	add_str(s, true, "parent", "Body");
	add_val(s, true, "instance", ref_to(2));
	add_str(s, true, "index", "0");
	s = tscn_add_section(scene, TSCN_NODE);
	add_str(s, true, "name", "Muzzle");
	add_str(s, true, "parent", "Body/Gun");
	add_val(s, false, "visible", int_value(0));
	/* Under a node that lives inside the instanced gun scene: Barrel has no section of its own. */
	s = tscn_add_section(scene, TSCN_NODE);
	add_str(s, true, "name", "Flash");
	add_str(s, true, "type", "OmniLight3D");
	add_str(s, true, "parent", "Body/Gun/Barrel");
	s = tscn_add_section(scene, TSCN_CONNECTION);
	add_str(s, true, "signal", "fired");
	add_str(s, true, "from", "Body/Gun");
	add_str(s, true, "to", ".");
	add_str(s, true, "method", "_on_fired");
	add_val(s, true, "flags", int_value(3));
	struct variant binds, one = int_value(1);
	assert_int_equal(variant_set_array(&binds), GROVE_OK);
	assert_int_equal(variant_array_push(&binds, &one), GROVE_OK);
	add_val(s, true, "binds", binds);
	s = tscn_add_section(scene, TSCN_EDITABLE);
	add_str(s, true, "path", "Body/Gun");
}

static int import_scene(struct fixture *f, const struct tscn_scene *scene, const char *at, char *msg, size_t cap)
{
	struct scene_import plan;
	int err = scene_import_plan(scene, at, NULL, &plan, msg, cap);
	if (err)
		return err;
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {plan.ops, plan.count};
	struct tree_result res = {0};
	err = tree_apply_batch(&world, txn, &batch, &res);
	if (err)
		snprintf(msg, cap, "%s", res.message);
	tree_result_free(&res);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	scene_import_free(&plan);
	return err;
}

static void export_scene(struct fixture *f, const char *path, int major, struct tscn_scene *out)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t id;
	assert_int_equal(tree_resolve_path(&world, txn, path, &id), GROVE_OK);
	char msg[512];
	int err = scene_export(&world, txn, id, major, out, msg, sizeof(msg));
	if (err)
		print_error("export: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	store_txn_abort(txn);
}

/* Sections equal kind by kind, attribute by attribute (order-insensitive), property by property (in order). */
static void assert_sections_equal(const struct tscn_section *a, const struct tscn_section *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->n_props, b->n_props);
	for (size_t i = 0; i < a->n_props; i++) {
		assert_string_equal(a->props[i].key, b->props[i].key);
		assert_true(variant_equal(&a->props[i].value, &b->props[i].value));
	}
	assert_int_equal(a->n_attrs, b->n_attrs);
	for (size_t i = 0; i < a->n_attrs; i++) {
		const struct variant *other = tscn_attr(b, a->attrs[i].key);
		if (!other)
			print_error("attribute %s missing\n", a->attrs[i].key);
		assert_non_null(other);
		assert_true(variant_equal(&a->attrs[i].value, other));
	}
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct tscn_scene scene, out;
	build_scene(&scene);
	char msg[512];
	int err = import_scene(f, &scene, "/root", msg, sizeof(msg));
	if (err)
		print_error("import: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	export_scene(f, "/root/Player", 4, &out);
	/* The exported file lists the same sections; the header gains load_steps. */
	assert_int_equal(out.count, scene.count);
	assert_string_equal(tscn_attr(&out.sections[0], "uid")->as.str.ptr, "uid://abc");
	assert_int_equal(tscn_attr(&out.sections[0], "load_steps")->as.i, 5);
	for (size_t i = 1; i < scene.count; i++)
		assert_sections_equal(&scene.sections[i], &out.sections[i]);
	tscn_scene_free(&out);

	/* Godot 3 flavour: integer resource ids, format=2, no uid. */
	export_scene(f, "/root/Player", 3, &out);
	assert_int_equal(tscn_attr(&out.sections[0], "format")->as.i, 2);
	assert_null(tscn_attr(&out.sections[0], "uid"));
	assert_int_equal(tscn_attr(&out.sections[1], "id")->type, VARIANT_INT);
	assert_null(tscn_attr(&out.sections[1], "uid"));
	tscn_scene_free(&out);

	/* A subtree exports as a scene of its own; the connection to its outside is dropped. */
	export_scene(f, "/root/Player/Body", 4, &out);
	size_t nodes = 0, conns = 0, subs = 0;
	for (size_t i = 0; i < out.count; i++) {
		nodes += out.sections[i].kind == TSCN_NODE;
		conns += out.sections[i].kind == TSCN_CONNECTION;
		subs += out.sections[i].kind == TSCN_SUB_RESOURCE;
	}
	assert_int_equal(nodes, 4);
	assert_int_equal(conns, 0);
	assert_int_equal(subs, 2);
	tscn_scene_free(&out);

	/* Importing the same scene again next to itself clashes by name and changes nothing. */
	uint64_t before[TREE_TABLE_COUNT], after[TREE_TABLE_COUNT];
	count_records(f, before);
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EEXIST);
	assert_string_equal(msg, "/root already has a child named Player");
	count_records(f, after);
	assert_memory_equal(before, after, sizeof(before));
	tscn_scene_free(&scene);
}

static void test_broken_scenes(void **state)
{
	struct fixture *f = *state;
	char msg[512];
	struct tscn_scene scene;
	/* A node whose parent the scene does not define. */
	build_scene(&scene);
	struct tscn_section *s = tscn_add_section(&scene, TSCN_NODE);
	add_str(s, true, "name", "Lost");
	add_str(s, true, "parent", "Nowhere");
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EPARSE);
	assert_non_null(strstr(msg, "\"Nowhere\" is not a node of the scene"));
	tscn_scene_free(&scene);
	/* Paths into an instanced scene are fine, but not into an ordinary node. */
	build_scene(&scene);
	s = tscn_add_section(&scene, TSCN_NODE);
	add_str(s, true, "name", "Deep");
	add_str(s, true, "parent", "Body/NotInstanced");
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EPARSE);
	tscn_scene_free(&scene);
	/* A second root. */
	build_scene(&scene);
	s = tscn_add_section(&scene, TSCN_NODE);
	add_str(s, true, "name", "Other");
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EPARSE);
	tscn_scene_free(&scene);
	/* A connection to a node that is not there. */
	build_scene(&scene);
	s = tscn_add_section(&scene, TSCN_CONNECTION);
	add_str(s, true, "signal", "x");
	add_str(s, true, "from", ".");
	add_str(s, true, "to", "Ghost");
	add_str(s, true, "method", "m");
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EPARSE);
	tscn_scene_free(&scene);
	/* A duplicate sibling name, and an invalid node name (refused at apply time). */
	build_scene(&scene);
	s = tscn_add_section(&scene, TSCN_NODE);
	add_str(s, true, "name", "Body");
	add_str(s, true, "parent", ".");
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EPARSE);
	tscn_scene_free(&scene);
	build_scene(&scene);
	s = tscn_add_section(&scene, TSCN_NODE);
	add_str(s, true, "name", "bad:name");
	add_str(s, true, "parent", ".");
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EBADNAME);
	tscn_scene_free(&scene);
	/* A reference to an undeclared resource. */
	build_scene(&scene);
	add_val(&scene.sections[5], false, "extra", ref_to(40));
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EPARSE);
	tscn_scene_free(&scene);
	/* A sub_resource property without a name (`"" = 1`): Godot's loaders refuse the whole file. */
	build_scene(&scene);
	add_val(&scene.sections[3], false, "", int_value(1));
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EINVAL);
	assert_non_null(strstr(msg, "invalid resource property name"));
	tscn_scene_free(&scene);
	/* Nothing of any of them arrived. */
	uint64_t records[TREE_TABLE_COUNT];
	count_records(f, records);
	assert_int_equal(records[TREE_NODES], 1);
	assert_int_equal(records[TREE_RESOURCES], 0);
}

/*
 * Parse @p text, import it under /root, export the scene's root @p root for Godot @p major, and check
 * that the export lists the same sections, property by property in order and attribute by attribute.
 */
static void assert_text_round_trips(struct fixture *f, const char *text, const char *root, int major)
{
	struct tscn_scene scene, out;
	struct tscn_error perr;
	int err = tscn_parse(text, strlen(text), &scene, &perr);
	if (err)
		print_error("parse %u:%u: %s\n", perr.line, perr.column, perr.message);
	assert_int_equal(err, GROVE_OK);
	char msg[512];
	err = import_scene(f, &scene, "/root", msg, sizeof(msg));
	if (err)
		print_error("import: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	char path[256];
	snprintf(path, sizeof(path), "/root/%s", root);
	export_scene(f, path, major, &out);
	assert_int_equal(out.count, scene.count);
	for (size_t i = 1; i < scene.count; i++) {
		if (scene.sections[i].kind == TSCN_NODE || scene.sections[i].kind == TSCN_CONNECTION)
			assert_sections_equal(&scene.sections[i], &out.sections[i]);
		else
			assert_int_equal(scene.sections[i].n_props, out.sections[i].n_props);
	}
	tscn_scene_free(&out);
	tscn_scene_free(&scene);
}

/* A section that sets a property twice (Godot's editors have saved such files) comes back with both lines,
 * in place, while the stored property holds the last value, which is what the engine's object ends with. */
static void test_repeated_properties(void **state)
{
	struct fixture *f = *state;
	const char text[] = "[gd_scene load_steps=2 format=2]\n\n"
			    "[sub_resource type=\"ImageTexture\" id=1]\n"
			    "flags = 4\nflags = 0\nsize = Vector2( 16, 16 )\n\n"
			    "[node name=\"Twice\" type=\"Button\"]\n"
			    "focus_mode = 1\ntext = \"a\"\nfocus_mode = 2\nicon = SubResource( 1 )\nfocus_mode = 0\n";
	assert_text_round_trips(f, text, "Twice", 3);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t id;
	assert_int_equal(tree_resolve_path(&world, txn, "/root/Twice", &id), GROVE_OK);
	struct variant v;
	assert_int_equal(tree_get_prop(&world, txn, id, "focus_mode", &v), GROVE_OK);
	assert_int_equal(v.type, VARIANT_INT);
	assert_int_equal(v.as.i, 0);
	store_txn_abort(txn);
	/* The sub-resource keeps both of its lines too. */
	struct tscn_scene out;
	export_scene(f, "/root/Twice", 3, &out);
	const struct tscn_section *tex = &out.sections[1];
	assert_int_equal(tex->kind, TSCN_SUB_RESOURCE);
	assert_int_equal(tex->n_props, 3);
	assert_string_equal(tex->props[0].key, "flags");
	assert_int_equal(tex->props[0].value.as.i, 4);
	assert_string_equal(tex->props[1].key, "flags");
	assert_int_equal(tex->props[1].value.as.i, 0);
	tscn_scene_free(&out);
}

/* Names Godot's scene loader keeps although its editor would not make them: '@' and '%'. */
static void test_names_godot_loads(void **state)
{
	struct fixture *f = *state;
	const char godot3[] = "[gd_scene format=2]\n\n"
			      "[node name=\"Zoom\" type=\"HBoxContainer\"]\n\n"
			      "[node name=\"100%\" type=\"Button\" parent=\".\"]\ntext = \"100%\"\n\n"
			      "[node name=\"Icon\" type=\"TextureRect\" parent=\"100%\"]\n\n"
			      "[connection signal=\"pressed\" from=\"100%\" to=\".\" method=\"_on_100_pressed\"]\n";
	assert_text_round_trips(f, godot3, "Zoom", 3);
	const char godot4[] = "[gd_scene format=3]\n\n"
			      "[node name=\"Library\" type=\"Node3D\"]\n\n"
			      "[node name=\"@@4\" type=\"MeshInstance3D\" parent=\".\"]\n\n"
			      "[node name=\"@Body@2\" type=\"StaticBody3D\" parent=\"@@4\"]\n";
	assert_text_round_trips(f, godot4, "Library", 4);
}

/* Import @p text under /root, export /root/@p root as Godot @p major text into @p out (message in @p msg). */
static int export_text(struct fixture *f, const char *text, const char *root, int major, struct grove_buf *out,
		       char *msg, size_t cap)
{
	struct tscn_scene scene;
	struct tscn_error perr;
	int err = tscn_parse(text, strlen(text), &scene, &perr);
	if (err)
		print_error("parse %u:%u: %s\n", perr.line, perr.column, perr.message);
	assert_int_equal(err, GROVE_OK);
	err = import_scene(f, &scene, "/root", msg, cap);
	if (err)
		print_error("import: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	tscn_scene_free(&scene);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	char path[256];
	snprintf(path, sizeof(path), "/root/%s", root);
	uint64_t id;
	assert_int_equal(tree_resolve_path(&world, txn, path, &id), GROVE_OK);
	err = scene_export_file(&world, txn, id, major, false, SCENE_IDS_NONE, NULL, 0, out, msg, cap);
	store_txn_abort(txn);
	grove_buf_put(out, "", 1);
	return err;
}

/* Godot 4 writes exported Callable and Signal properties as `Callable()` and `Signal()`: kept, exactly. */
static void test_callable_and_signal(void **state)
{
	struct fixture *f = *state;
	const char text[] = "[gd_scene format=3]\n\n"
			    "[node name=\"Hooks\" type=\"Node\"]\n"
			    "callback = Callable()\n"
			    "sig = Signal()\n"
			    "both = [Callable(), Signal()]\n";
	struct grove_buf out = {0};
	char msg[512];
	int err = export_text(f, text, "Hooks", 4, &out, msg, sizeof(msg));
	if (err)
		print_error("export: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	assert_string_equal((char *)out.data, text);
	/* stored as payload-less values */
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t id;
	assert_int_equal(tree_resolve_path(&world, txn, "/root/Hooks", &id), GROVE_OK);
	struct variant v;
	assert_int_equal(tree_get_prop(&world, txn, id, "callback", &v), GROVE_OK);
	assert_int_equal(v.type, VARIANT_CALLABLE);
	assert_int_equal(tree_get_prop(&world, txn, id, "sig", &v), GROVE_OK);
	assert_int_equal(v.type, VARIANT_SIGNAL);
	/* Godot 3 has neither: its export is refused, naming the property and the type. */
	out.len = 0;
	err = scene_export_file(&world, txn, id, 3, false, SCENE_IDS_NONE, NULL, 0, &out, msg, sizeof(msg));
	assert_int_equal(err, GROVE_EINVAL);
	if (!strstr(msg, "callback") || !strstr(msg, "Callable") || !strstr(msg, "Godot 3"))
		print_error("message: %s\n", msg);
	assert_non_null(strstr(msg, "callback"));
	assert_non_null(strstr(msg, "Callable"));
	assert_non_null(strstr(msg, "Godot 3"));
	out.len = 0;
	err = scene_export_file(&world, txn, id, 3, true, SCENE_IDS_NONE, NULL, 0, &out, msg, sizeof(msg));
	assert_int_equal(err, GROVE_EINVAL);
	assert_non_null(strstr(msg, "Callable"));
	assert_non_null(strstr(msg, "Godot 3"));
	store_txn_abort(txn);
	grove_buf_free(&out);
}

/*
 * Godot finds a node's parent and a connection's ends with get_node() from the root, so a scene may spell
 * them "./A" or "A/C/../B"; a colour may be an HTML code, alpha first in Godot 3 (both as Godot 3.2.3 loads
 * them). Export writes the plain spelling.
 */
static void test_spellings_godot_loads(void **state)
{
	struct fixture *f = *state;
	const char text[] = "[gd_scene format=2]\n\n"
			    "[node name=\"Level\" type=\"Node2D\"]\n"
			    "modulate = #80ff0000\n\n"
			    "[node name=\"A\" type=\"Node2D\" parent=\"./\"]\n\n"
			    "[node name=\"B\" type=\"Node2D\" parent=\"./A\"]\n\n"
			    "[node name=\"C\" type=\"Node2D\" parent=\"A/B/../B/.\"]\n"
			    "self_modulate = #0f0\n\n"
			    "[connection signal=\"ready\" from=\"./A/B/C\" to=\"A/..\" method=\"_on_ready\"]\n";
	const char written[] = "[gd_scene format=2]\n\n"
			       "[node name=\"Level\" type=\"Node2D\"]\n"
			       "modulate = Color( 1, 0, 0, 0.501960813999176 )\n\n"
			       "[node name=\"A\" type=\"Node2D\" parent=\".\"]\n\n"
			       "[node name=\"B\" type=\"Node2D\" parent=\"A\"]\n\n"
			       "[node name=\"C\" type=\"Node2D\" parent=\"A/B\"]\n"
			       "self_modulate = Color( 0, 1, 0, 1 )\n\n"
			       "[connection signal=\"ready\" from=\"A/B/C\" to=\".\" method=\"_on_ready\"]\n";
	struct grove_buf out = {0};
	char msg[512];
	int err = export_text(f, text, "Level", 3, &out, msg, sizeof(msg));
	if (err)
		print_error("export: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	assert_string_equal((char *)out.data, written);
	grove_buf_free(&out);
	/* A path that climbs out of the scene names no node of it. */
	struct tscn_scene scene;
	struct tscn_error perr;
	const char outside[] = "[gd_scene format=2]\n\n[node name=\"L\" type=\"Node\"]\n\n"
			       "[node name=\"A\" type=\"Node\" parent=\"./..\"]\n";
	assert_int_equal(tscn_parse(outside, strlen(outside), &scene, &perr), GROVE_OK);
	assert_int_equal(import_scene(f, &scene, "/root", msg, sizeof(msg)), GROVE_EPARSE);
	assert_non_null(strstr(msg, "\"./..\" leads out of the scene"));
	tscn_scene_free(&scene);
}

/*
 * Godot 4 writes `@export var items: Array[Item]` as an array typed by the script: the script is a resource
 * reference that is bound, stored and exported like any, even when nothing else uses it.
 */
static void test_script_typed_containers(void **state)
{
	struct fixture *f = *state;
	const char text[] = "[gd_scene load_steps=5 format=3]\n\n"
			    "[ext_resource type=\"Script\" path=\"res://item.gd\" id=\"2_abc\"]\n\n"
			    "[ext_resource type=\"Resource\" path=\"res://sword.tres\" id=\"3_x\"]\n\n"
			    "[ext_resource type=\"Resource\" path=\"res://shield.tres\" id=\"4_y\"]\n\n"
			    "[sub_resource type=\"Resource\" id=\"Resource_k\"]\n"
			    "script = ExtResource(\"2_abc\")\n\n"
			    "[node name=\"Inventory\" type=\"Node\"]\n"
			    "items = Array[ExtResource(\"2_abc\")]([ExtResource(\"3_x\"), ExtResource(\"4_y\")])\n"
			    "by_item = Dictionary[ExtResource(\"2_abc\"), int]({\n"
			    "ExtResource(\"3_x\"): 1\n"
			    "})\n"
			    "kinds = Array[SubResource(\"Resource_k\")]([])\n\n"
			    "[node name=\"Bag\" type=\"Node\" parent=\".\"]\n"
			    "items = Array[ExtResource(\"2_abc\")]([])\n";
	struct grove_buf out = {0};
	char msg[512];
	int err = export_text(f, text, "Inventory", 4, &out, msg, sizeof(msg));
	if (err)
		print_error("export: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	if (strcmp((char *)out.data, text) != 0)
		print_error("exported:\n%s\n", (char *)out.data);
	assert_string_equal((char *)out.data, text);
	/* stored with the hint bound to the stored script */
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t bag;
	assert_int_equal(tree_resolve_path(&world, txn, "/root/Inventory/Bag", &bag), GROVE_OK);
	struct variant v;
	assert_int_equal(tree_get_prop(&world, txn, bag, "items", &v), GROVE_OK);
	assert_int_equal(v.type, VARIANT_ARRAY);
	assert_true(v.as.array->elem.script > 0);
	variant_free(&v);
	/* A subtree whose only use of the script is the type of an empty array still names it. */
	out.len = 0;
	err = scene_export_file(&world, txn, bag, 4, false, SCENE_IDS_NONE, NULL, 0, &out, msg, sizeof(msg));
	assert_int_equal(err, GROVE_OK);
	grove_buf_put(&out, "", 1);
	const char bag_text[] = "[gd_scene load_steps=2 format=3]\n\n"
				"[ext_resource type=\"Script\" path=\"res://item.gd\" id=\"2_abc\"]\n\n"
				"[node name=\"Bag\" type=\"Node\"]\n"
				"items = Array[ExtResource(\"2_abc\")]([])\n";
	if (strcmp((char *)out.data, bag_text) != 0)
		print_error("exported:\n%s\n", (char *)out.data);
	assert_string_equal((char *)out.data, bag_text);
	/* Godot 3 has no typed containers: the items are kept, untyped. */
	struct tscn_scene g3;
	uint64_t inv;
	assert_int_equal(tree_resolve_path(&world, txn, "/root/Inventory", &inv), GROVE_OK);
	assert_int_equal(scene_export(&world, txn, inv, 3, &g3, msg, sizeof(msg)), GROVE_OK);
	out.len = 0;
	assert_int_equal(tscn_write(&g3, 3, &out), GROVE_OK);
	grove_buf_put(&out, "", 1);
	assert_non_null(strstr((char *)out.data, "items = [ ExtResource( 2 ), ExtResource( 3 ) ]"));
	tscn_scene_free(&g3);
	/* and the binary scene for Godot 4 keeps arrays untyped, as Godot's own binary resources do */
	out.len = 0;
	err = scene_export_file(&world, txn, inv, 4, true, SCENE_IDS_NONE, NULL, 0, &out, msg, sizeof(msg));
	if (err)
		print_error("scn: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	store_txn_abort(txn);
	grove_buf_free(&out);
}

/* The id of node /root/World/@p rel ("." for World). */
static int64_t id_at(struct store_txn *txn, const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "/root/World%s%s", strcmp(rel, ".") ? "/" : "", strcmp(rel, ".") ? rel : "");
	uint64_t id;
	assert_int_equal(tree_resolve_path(&world, txn, path, &id), GROVE_OK);
	return (int64_t)id;
}

/* @p ids->by_path holds exactly the @p n paths of @p paths, each with its node's id. */
static void assert_by_path(struct store_txn *txn, const struct scene_ids *ids, const char *const *paths, size_t n)
{
	assert_int_equal(ids->by_path.type, n ? VARIANT_DICTIONARY : VARIANT_NIL);
	assert_int_equal(n ? ids->by_path.as.dict->len : 0, n);
	for (size_t i = 0; i < n; i++) {
		const struct variant_dict *d = ids->by_path.as.dict;
		const struct variant *id = NULL;
		for (uint32_t k = 0; k < d->len && !id; k++)
			if (strcmp(d->keys[k].as.str.ptr, paths[i]) == 0)
				id = &d->values[k];
		if (!id)
			print_error("%s is not among the ids by path\n", paths[i]);
		assert_non_null(id);
		assert_int_equal(id->as.i, id_at(txn, paths[i]));
	}
}

/*
 * Entry @p k of the named ids beside a scene is the node at @p rel (from the scene's root), and its parent
 * is the entry of the node at @p parent_rel (NULL for the scene's root).
 */
static void assert_named(struct store_txn *txn, const struct scene_ids *ids, size_t k, const char *rel,
			 const char *parent_rel)
{
	assert_int_equal(ids->node_ids[k], id_at(txn, rel));
	const char *slash = strrchr(rel, '/');
	const char *name = (const char *)ids->names.data + ids->name_at[k];
	if (strcmp(rel, ".") != 0)
		assert_string_equal(name, slash ? slash + 1 : rel);
	if (!parent_rel) {
		assert_int_equal(ids->parents[k], -1);
		return;
	}
	assert_in_range(ids->parents[k], 0, ids->len - 1);
	assert_int_equal(ids->node_ids[ids->parents[k]], id_at(txn, parent_rel));
}

/*
 * The ids beside a scene: with names, every node, the nodes of instanced scenes too, sorted by id, each
 * with its parent's entry and its name; as metadata, only those whose metadata Godot 3 would lose or that
 * the file does not declare, by path.
 */
static void test_ids_beside_the_scene(void **state)
{
	struct fixture *f = *state;
	const char text[] = "[gd_scene load_steps=2 format=2]\n\n"
			    "[ext_resource path=\"res://prop.tscn\" type=\"PackedScene\" id=1]\n\n"
			    "[node name=\"World\" type=\"Node2D\"]\n\n"
			    "[node name=\"A\" type=\"Node2D\" parent=\".\"]\n\n"
			    "[node name=\"A1\" type=\"Sprite\" parent=\"A\"]\n\n"
			    "[node name=\"A2\" parent=\"A\" instance=ExtResource( 1 )]\n\n"
			    "[node name=\"Inner\" parent=\"A/A2\"]\nposition = Vector2( 1, 2 )\n\n"
			    "[node name=\"Added\" type=\"Node\" parent=\"A/A2\"]\n\n"
			    "[node name=\"X\" type=\"Node\" parent=\"A/A2/Deep\"]\n\n"
			    "[node name=\"B\" type=\"Node\" parent=\".\"]\n\n"
			    "[node name=\"B1\" type=\"Node\" parent=\"B\"]\n\n"
			    "[node name=\"B2\" type=\"Node\" parent=\"B\" index=\"0\"]\n\n"
			    "[node name=\"C\" type=\"Node\" parent=\".\"]\n";
	struct tscn_scene scene;
	struct tscn_error perr;
	char msg[512];
	assert_int_equal(tscn_parse(text, strlen(text), &scene, &perr), GROVE_OK);
	int err = import_scene(f, &scene, "/root", msg, sizeof(msg));
	if (err)
		print_error("import: %s\n", msg);
	assert_int_equal(err, GROVE_OK);
	tscn_scene_free(&scene);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t root = (uint64_t)id_at(txn, ".");
	for (int major = 3; major <= 4; major++) {
		struct grove_buf out = {0};
		struct scene_ids ids;
		assert_int_equal(scene_export_file(&world, txn, root, major, false, SCENE_IDS_NAMES, &ids, 0, &out, msg,
						   sizeof(msg)),
				 GROVE_OK);
		grove_buf_put(&out, "", 1);
		assert_null(strstr((char *)out.data, "grove_id"));
		/* Every node with its parent: Deep is only named in a path, B2 placed at an index. */
		const char *nodes[][2] = {{".", NULL},          {"A", "."},
					  {"A/A1", "A"},        {"A/A2", "A"},
					  {"A/A2/Inner", "A/A2"}, {"A/A2/Added", "A/A2"},
					  {"A/A2/Deep", "A/A2"}, {"A/A2/Deep/X", "A/A2/Deep"},
					  {"B", "."},           {"B/B1", "B"},
					  {"B/B2", "B"},        {"C", "."}};
		const size_t n = sizeof(nodes) / sizeof(nodes[0]);
		assert_int_equal(ids.len, n);
		for (size_t k = 1; k < n; k++)
			assert_true(ids.node_ids[k - 1] < ids.node_ids[k]);
		for (size_t i = 0; i < n; i++) {
			size_t k = 0;
			while (k < n && ids.node_ids[k] != (uint64_t)id_at(txn, nodes[i][0]))
				k++;
			assert_true(k < n);
			assert_named(txn, &ids, k, nodes[i][0], nodes[i][1]);
		}
		assert_by_path(txn, &ids, NULL, 0);
		scene_ids_free(&ids);
		/* As metadata: every declared node carries it, but for Godot 3 those of instanced scenes. */
		out.len = 0;
		assert_int_equal(scene_export_file(&world, txn, root, major, false, SCENE_IDS_METADATA, &ids, 0, &out,
						   msg, sizeof(msg)),
				 GROVE_OK);
		grove_buf_put(&out, "", 1);
		assert_non_null(strstr((char *)out.data, "grove_id"));
		assert_int_equal(ids.len, 0);
		const char *godot3[] = {"A/A2", "A/A2/Inner", "A/A2/Deep"};
		if (major == 3)
			assert_by_path(txn, &ids, godot3, 3);
		else
			assert_by_path(txn, &ids, godot3 + 2, 1);
		scene_ids_free(&ids);
		grove_buf_free(&out);
	}
	store_txn_abort(txn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_scenes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_properties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_godot_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callable_and_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spellings_godot_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script_typed_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_beside_the_scene, setup, teardown),
	};
	return cmocka_run_group_tests_name("scene", tests, NULL, NULL);
}
