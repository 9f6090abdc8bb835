/* Scenes that only round-trip through the store since two fixes: inherited scenes whose overrides name,
 * as a parent, a node of the base scene that the file never declares, below nodes it declares without a
 * type (Godot 4 with unique_id / parent_id_path, and Godot 3); and format=4 scenes, whose byte arrays
 * must come back in base64. Each scene is imported, exported and written; the hand-made ones must come
 * back as the same text the writer makes of the original, the corpus ones with the same base64 text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "files.h"
#include "godot/scene.h"
#include "godot/tscn.h"
#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

/* The world's tree (group 1) of the store the test opened last. */
static struct tree world;

#define CORPUS4 "../shared/corpus/godot4"

struct fixture {
	char *dir;
	struct store *store;
	int scenes; /* scenes imported so far, each under a holder node of its own */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("scene-inherited");
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

/*
 * Import @p scene into the store, export it back for Godot @p major into @p exported. Every call into the
 * tree's API is here, so that a change of its signatures touches this function only.
 */
static int import_and_export(struct fixture *f, const struct tscn_scene *scene, int major, struct tscn_scene *exported,
			     char *msg, size_t cap)
{
	char holder[32];
	snprintf(holder, sizeof(holder), "/root/H%d", f->scenes++);
	struct scene_import plan;
	int err = scene_import_plan(scene, holder, "Imported", &plan, msg, cap);
	if (err)
		return err;
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_op h = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = holder + 6, .text = "Node",
			    .index = -1};
	struct tree_batch hb = {&h, 1}, batch = {plan.ops, plan.count};
	struct tree_result res = {0};
	assert_int_equal(tree_apply_batch(&world, txn, &hb, &res), GROVE_OK);
	err = tree_apply_batch(&world, txn, &batch, &res);
	if (err)
		snprintf(msg, cap, "op %zu: %.400s", res.failed_op, res.message);
	tree_result_free(&res);
	scene_import_free(&plan);
	char root_path[64];
	uint64_t root = 0;
	snprintf(root_path, sizeof(root_path), "%s/Imported", holder);
	if (!err)
		err = tree_resolve_path(&world, txn, root_path, &root);
	if (!err)
		err = scene_export(&world, txn, root, major, exported, msg, cap);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return err;
}

static void parse_ok(const char *text, size_t len, struct tscn_scene *s)
{
	struct tscn_error err;
	int rc = tscn_parse(text, len, s, &err);
	if (rc)
		print_error("%u:%u: %s\n", err.line, err.column, err.message);
	assert_int_equal(rc, GROVE_OK);
}

/* The root is renamed on import; give the original the same name so that the texts can be compared. */
static void rename_root(struct tscn_scene *sc)
{
	for (size_t i = 0; i < sc->count; i++) {
		struct tscn_section *s = &sc->sections[i];
		if (s->kind != TSCN_NODE || tscn_attr(s, "parent"))
			continue;
		struct variant *name = (struct variant *)tscn_attr(s, "name");
		variant_free(name);
		assert_int_equal(variant_set_string(name, VARIANT_STRING, "Imported", 8), GROVE_OK);
		return;
	}
}

/* Export always writes load_steps, which Godot 4.6 leaves out; the count is no content of the scene. */
static void drop_load_steps(struct tscn_scene *sc)
{
	struct tscn_section *h = &sc->sections[0];
	for (size_t i = 0; i < h->n_attrs; i++) {
		if (strcmp(h->attrs[i].key, "load_steps") != 0)
			continue;
		/* The key is the scene's (its arena); the count is an int the section owns. */
		variant_free(&h->attrs[i].value);
		memmove(&h->attrs[i], &h->attrs[i + 1], (h->n_attrs - i - 1) * sizeof(h->attrs[0]));
		h->n_attrs--;
		return;
	}
}

static int compare_entries(const void *a, const void *b)
{
	return strcmp(((const struct tscn_entry *)a)->key, ((const struct tscn_entry *)b)->key);
}

/* Export orders a node's header as Godot 4.5 did (index, instance, the rest); 4.6 puts unique_id first. */
static void sort_node_attrs(struct tscn_scene *sc)
{
	for (size_t i = 0; i < sc->count; i++)
		if (sc->sections[i].kind == TSCN_NODE)
			qsort(sc->sections[i].attrs, sc->sections[i].n_attrs, sizeof(struct tscn_entry), compare_entries);
}

/*
 * Round-trip @p text through the store. With @p exact the written export must equal the written
 * original; else it is returned for the caller to check (export lists resources in the order of their
 * first use, not in the file's).
 */
static char *round_trip(struct fixture *f, const char *text, size_t len, int major, bool exact)
{
	struct tscn_scene original, exported;
	parse_ok(text, len, &original);
	rename_root(&original);
	char msg[512];
	int err = import_and_export(f, &original, major, &exported, msg, sizeof(msg));
	if (err)
		print_error("%s: %s\n", grove_errname(err), msg);
	assert_int_equal(err, GROVE_OK);
	drop_load_steps(&original);
	drop_load_steps(&exported);
	sort_node_attrs(&original);
	sort_node_attrs(&exported);
	struct grove_buf want = {0}, got = {0};
	assert_int_equal(tscn_write(&original, major, &want), GROVE_OK);
	assert_int_equal(tscn_write(&exported, major, &got), GROVE_OK);
	grove_buf_put(&want, "", 1);
	grove_buf_put(&got, "", 1);
	if (exact && strcmp((const char *)want.data, (const char *)got.data) != 0) {
		const char *a = (const char *)want.data, *b = (const char *)got.data;
		size_t at = 0;
		while (a[at] && a[at] == b[at])
			at++;
		size_t from = at > 300 ? at - 300 : 0;
		print_error("the export differs at byte %zu:\n--- original\n%.600s\n--- export\n%.600s\n", at, a + from,
			    b + from);
	}
	if (exact)
		assert_string_equal(want.data, got.data);
	tscn_scene_free(&original);
	tscn_scene_free(&exported);
	grove_buf_free(&want);
	return (char *)got.data;
}

/* Godot 4.6: C is a node of the base scene that this file never declares; A and B are declared untyped. */
static const char inherited4[] =
	"[gd_scene load_steps=3 format=3 uid=\"uid://dinh4\"]\n"
	"\n"
	"[ext_resource type=\"PackedScene\" uid=\"uid://cbase\" path=\"res://base.tscn\" id=\"1_base\"]\n"
	"[ext_resource type=\"Texture2D\" uid=\"uid://ctex\" path=\"res://icon.svg\" id=\"2_tex\"]\n"
	"\n"
	"[node name=\"Imported\" instance=ExtResource(\"1_base\") unique_id=100]\n"
	"\n"
	"[node name=\"A\" parent=\".\" unique_id=200]\n"
	"visible = false\n"
	"\n"
	"[node name=\"B\" parent=\"A\" unique_id=300]\n"
	"position = Vector2(1, 2)\n"
	"\n"
	"[node name=\"Light\" type=\"PointLight2D\" parent=\"A/B/C\" parent_id_path=PackedInt32Array(200, 300, 400) "
	"unique_id=500]\n"
	"texture = ExtResource(\"2_tex\")\n"
	"\n"
	"[node name=\"Spark\" type=\"Sprite2D\" parent=\"A/B/C/D\" parent_id_path=PackedInt32Array(200, 300, 400, 410) "
	"unique_id=600]\n"
	"\n"
	"[connection signal=\"ready\" from=\"A/B/C\" to=\".\" method=\"_on_c_ready\"]\n";

static const char inherited3[] =
	"[gd_scene load_steps=2 format=2]\n"
	"\n"
	"[ext_resource path=\"res://base.tscn\" type=\"PackedScene\" id=1]\n"
	"\n"
	"[node name=\"Imported\" instance=ExtResource( 1 )]\n"
	"\n"
	"[node name=\"A\" parent=\".\"]\n"
	"visible = false\n"
	"\n"
	"[node name=\"B\" parent=\"A\"]\n"
	"position = Vector2( 1, 2 )\n"
	"\n"
	"[node name=\"Light\" type=\"Light2D\" parent=\"A/B/C\"]\n"
	"energy = 2.0\n"
	"\n"
	"[connection signal=\"ready\" from=\"A/B/C\" to=\".\" method=\"_on_c_ready\"]\n";

static void test_inherited_godot4(void **state)
{
	char *text = round_trip(*state, inherited4, sizeof(inherited4) - 1, 4, true);
	/* the implicit nodes C and D are no sections of their own */
	assert_null(strstr(text, "name=\"C\""));
	assert_non_null(strstr(text, "parent=\"A/B/C/D\" parent_id_path=PackedInt32Array(200, 300, 400, 410)"));
	free(text);
}

static void test_inherited_godot3(void **state)
{
	char *text = round_trip(*state, inherited3, sizeof(inherited3) - 1, 3, true);
	assert_null(strstr(text, "name=\"C\""));
	free(text);
}

/*
 * Godot 3 writes [editable] sections in the order of its tree, where the base scene's nodes come first: here
 * Bounds (of the base scene, never declared in the file, so it becomes an implicit node last among the
 * root's children) precedes Platform and Platform2, which the file declares. The export keeps that order.
 */
static const char editables3[] =
	"[gd_scene load_steps=3 format=2]\n"
	"\n"
	"[ext_resource path=\"res://base.tscn\" type=\"PackedScene\" id=1]\n"
	"[ext_resource path=\"res://platform.tscn\" type=\"PackedScene\" id=2]\n"
	"\n"
	"[node name=\"Level\" instance=ExtResource( 1 )]\n"
	"\n"
	"[node name=\"Platform\" parent=\".\" index=\"3\" instance=ExtResource( 2 )]\n"
	"\n"
	"[node name=\"Platform2\" parent=\".\" index=\"4\" instance=ExtResource( 2 )]\n"
	"\n"
	"[editable path=\"Bounds\"]\n"
	"[editable path=\"Platform2\"]\n"
	"[editable path=\"Platform\"]\n";

static void test_editables_keep_their_order(void **state)
{
	char *text = round_trip(*state, editables3, sizeof(editables3) - 1, 3, true);
	const char *bounds = strstr(text, "[editable path=\"Bounds\"]"), *second = strstr(text, "[editable path=\"Platform2\"]"),
		   *first = strstr(text, "[editable path=\"Platform\"]");
	assert_non_null(bounds);
	assert_true(bounds < second && second < first);
	free(text);
}

/* A typed node is the scene's own: a path through a child it does not declare is still refused. */
static void test_typed_parent_still_refused(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "[gd_scene format=3]\n"
				   "[node name=\"Imported\" type=\"Node2D\"]\n"
				   "[node name=\"A\" type=\"Node2D\" parent=\".\"]\n"
				   "[node name=\"X\" type=\"Node2D\" parent=\"A/Missing\"]\n";
	struct tscn_scene sc, exported;
	parse_ok(text, sizeof(text) - 1, &sc);
	char msg[512];
	assert_int_equal(import_and_export(f, &sc, 4, &exported, msg, sizeof(msg)), GROVE_EPARSE);
	assert_non_null(strstr(msg, "A/Missing"));
	tscn_scene_free(&sc);
}

/* format=4: byte arrays in base64, written back the same way, and format=3 scenes stay format=3. */
static void test_format4_written_back_in_base64(void **state)
{
	static const char format4[] = "[gd_scene load_steps=2 format=4 uid=\"uid://f4\"]\n"
				      "\n"
				      "[sub_resource type=\"Image\" id=\"Image_1\"]\n"
				      "data = {\n"
				      "\"data\": PackedByteArray(\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB\"),\n"
				      "\"format\": \"L8\"\n"
				      "}\n"
				      "\n"
				      "[node name=\"Imported\" type=\"Node\"]\n"
				      "bytes = PackedByteArray(\"AQID\")\n"
				      "empty = PackedByteArray()\n"
				      "image = SubResource(\"Image_1\")\n";
	char *text = round_trip(*state, format4, sizeof(format4) - 1, 4, true);
	assert_non_null(strstr(text, "format=4"));
	assert_non_null(strstr(text, "bytes = PackedByteArray(\"AQID\")"));
	free(text);
	static const char format3[] = "[gd_scene format=3]\n"
				      "\n"
				      "[node name=\"Imported\" type=\"Node\"]\n"
				      "bytes = PackedByteArray(1, 2, 3)\n";
	text = round_trip(*state, format3, sizeof(format3) - 1, 4, true);
	assert_non_null(strstr(text, "format=3"));
	assert_non_null(strstr(text, "PackedByteArray(1, 2, 3)"));
	free(text);
}

/* Every format=4 scene of the corpus. */
static void test_corpus_format4_scenes(void **state)
{
	static const char *const names[] = {
		"2d~dynamic_tilemap_layers~world.tscn", "2d~isometric~dungeon.tscn",
		"2d~kinematic_character~world.tscn",    "2d~physics_platformer~stage.tscn",
		"2d~platformer~level~level.tscn",       "2d~role_playing_game~grid_movement~exploration.tscn",
		"2d~skeleton~level.tscn",               "3d~ragdoll_physics~ragdoll_physics.tscn",
	};
	size_t done = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[512];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", CORPUS4, names[i]);
		char *text = test_read_file(path, &len);
		if (!text)
			continue;
		assert_non_null(strstr(text, "format=4"));
		char *exported = round_trip(*state, text, len, 4, false);
		assert_non_null(strstr(exported, "format=4"));
		/* every byte array comes back as the same base64 text */
		size_t arrays = 0;
		for (const char *at = strstr(text, "PackedByteArray(\""); at; at = strstr(at + 1, "PackedByteArray(\"")) {
			const char *end = strstr(at, "\")");
			assert_non_null(end);
			char *literal = strndup(at, (size_t)(end - at) + 2);
			if (!strstr(exported, literal))
				print_error("%s: %.80s... is not in the export\n", names[i], literal);
			assert_non_null(strstr(exported, literal));
			free(literal);
			arrays++;
		}
		assert_true(arrays > 0);
		assert_null(strstr(exported, "PackedByteArray(0"));
		free(exported);
		free(text);
		done++;
	}
	if (!done) {
		print_message("corpus %s is absent; skipping\n", CORPUS4);
		skip();
	}
	print_message("%zu format=4 corpus scenes come back as format=4 with the same base64 byte arrays\n", done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inherited_godot4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inherited_godot3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_editables_keep_their_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_typed_parent_still_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format4_written_back_in_base64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corpus_format4_scenes, setup, teardown),
	};
	return cmocka_run_group_tests_name("scene_inherited", tests, NULL, NULL);
}
