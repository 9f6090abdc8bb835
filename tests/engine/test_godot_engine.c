/* The real engine, Debian's godot3-server (headless Godot 3.2), checks grove's output:
 *  - Variants grove encodes in Godot 3's binary form are read by bytes2var and printed back;
 *  - Variants Godot encodes with var2bytes are read by grove;
 *  - every Godot 3 corpus scene, made loadable by dropping what needs files that are not shipped
 *    (ext_resources: scripts, textures, instanced scenes), is imported into a store, exported by grove
 *    as format=2, loaded and instanced by Godot, and Godot's tree (paths, classes, chosen properties,
 *    groups) must agree with grove's.
 *  - scenes the engine makes itself from a seed (tests/engine/scenes/make_scenes.gd), imported and exported
 *    as .tscn and .scn, and through Godot 4's text and back: Godot's dumps of the exports must equal its
 *    dump of each scene it saved;
 * Without godot3-server the test skips with a message, or fails when CI=true. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "godot/scene.h"
#include "godot/tscn.h"
#include "godot/variant_binary.h"
#include "godot/variant_text.h"
#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

/* The world's tree (group 1) of the store the test opened last. */
static struct tree world;

#define GODOT "godot3-server"
#define CORPUS3 "../shared/corpus/godot3"

static bool have_godot(void)
{
	int rc = system("command -v " GODOT " >/dev/null 2>&1");
	if (rc == 0)
		return true;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0) {
		print_error("godot3-server is not installed; CI must run the engine tests (tools/setup.sh installs it)\n");
		fail();
	}
	print_message("godot3-server is not installed; skipping the engine tests\n");
	return false;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Copy @p from (a path from the repository's root, where the tests run) into @p dir as @p name. */
static void copy_into(const char *dir, const char *from, const char *name)
{
	FILE *f = fopen(from, "rb");
	assert_non_null(f);
	struct grove_buf b = {0};
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		grove_buf_put(&b, chunk, n);
	fclose(f);
	write_file(dir, name, b.data, b.len);
	grove_buf_free(&b);
}

static char *make_project(void)
{
	char *dir = test_tmpdir("godot");
	const char project[] = "config_version=4\n\n[application]\n\nconfig/name=\"grove-test\"\n";
	write_file(dir, "project.godot", project, sizeof(project) - 1);
	return dir;
}

/* Run the engine on @p script (in the project) and return its standard output (malloc'd). */
static char *run_godot(const char *project, const char *script)
{
	char cmd[8192], out_path[4096];
	snprintf(out_path, sizeof(out_path), "%s/godot.out", project);
	snprintf(cmd, sizeof(cmd), "HOME=%s timeout 60 " GODOT " --path %s -s %s > %s 2> %s/godot.err", project, project,
		 script, out_path, project);
	int rc = system(cmd);
	FILE *f = fopen(out_path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)len + 1);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	if (!strstr(buf, "GROVE-DONE")) {
		print_error("godot exited %d without finishing; output:\n%s\n", rc, buf);
		fail();
	}
	return buf;
}

/* Values Godot 3 can hold, with decimals that survive its 6-digit printing. */
static const char *const values[] = {
	"null", "true", "42", "-7", "1099511627776", "1.5", "\"h\xc3\xa9llo\"", "Vector2( 1, -2.5 )",
	"Rect2( 0, 0, 2, 4 )", "Vector3( 1, 2.5, 3 )", "Transform2D( 1, 0, 0, 1, 5, 6 )", "Plane( 0, 1, 0, 2 )",
	"Quat( 0, 0, 0, 1 )", "AABB( 0, 0, 0, 1, 1, 1 )", "Basis( 1, 0, 0, 0, 1, 0, 0, 0, 1 )",
	"Transform( 1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 8, 9 )", "Color( 1, 0.5, 0, 1 )", "NodePath(\"a/b:c\")",
	"[ 1, \"x\", [ 2 ] ]", "{\"k\": true, 3: \"v\"}", "PoolByteArray( 1, 2, 3 )", "PoolIntArray( -1, 2 )",
	"PoolRealArray( 0.5, 0.25 )", "PoolStringArray( \"hi\", \"there\" )", "PoolVector2Array( 1, 2, 3, 4 )",
	"PoolVector3Array( 1, 2, 3 )", "PoolColorArray( 0, 0, 0, 1 )",
};
#define N_VALUES (sizeof(values) / sizeof(values[0]))

static void parse_value(const char *text, struct variant *v)
{
	struct godot_text_error err;
	if (godot_text_parse(text, strlen(text), NULL, v, &err) != GROVE_OK) {
		print_error("cannot parse \"%s\": %s\n", text, err.message);
		fail();
	}
}

/*
 * Godot prints with 6 significant digits: compare reals with that tolerance, everything else exactly.
 * Godot 3's dictionaries do not keep insertion order, so keys are matched wherever they are.
 */
static bool close_enough(const struct variant *a, const struct variant *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == VARIANT_ARRAY) {
		if (a->as.array->len != b->as.array->len)
			return false;
		for (uint32_t i = 0; i < a->as.array->len; i++)
			if (!close_enough(&a->as.array->items[i], &b->as.array->items[i]))
				return false;
		return true;
	}
	if (a->type == VARIANT_DICTIONARY) {
		const struct variant_dict *x = a->as.dict, *y = b->as.dict;
		if (x->len != y->len)
			return false;
		for (uint32_t i = 0; i < x->len; i++) {
			uint32_t j = 0;
			while (j < y->len && !variant_equal(&x->keys[i], &y->keys[j]))
				j++;
			if (j == y->len || !close_enough(&x->values[i], &y->values[j]))
				return false;
		}
		return true;
	}
	unsigned n = variant_component_count(a->type);
	if (a->type == VARIANT_FLOAT)
		return fabs(a->as.f - b->as.f) <= 1e-5 * fmax(1, fabs(a->as.f));
	if (n && a->type != VARIANT_VECTOR2I && a->type != VARIANT_VECTOR3I && a->type != VARIANT_VECTOR4I &&
	    a->type != VARIANT_RECT2I) {
		const double *x = variant_reals(a), *y = variant_reals(b);
		for (unsigned i = 0; i < n; i++)
			if (fabs(x[i] - y[i]) > 1e-4 * fmax(1, fabs(x[i])))
				return false;
		return true;
	}
	return variant_equal(a, b);
}

static const char binary_to_text_script[] =
	"extends SceneTree\n"
	"func _init():\n"
	"\tvar f = File.new()\n"
	"\tif f.open(\"res://values.bin\", File.READ) != OK:\n"
	"\t\tprint(\"cannot open\")\n"
	"\t\tquit(1)\n"
	"\t\treturn\n"
	"\twhile f.get_position() < f.get_len():\n"
	"\t\tvar n = f.get_32()\n"
	"\t\tvar v = bytes2var(f.get_buffer(n))\n"
	"\t\tprint(\"V\\t\" + var2str(v).replace(\"\\n\", \" \"))\n"
	"\tf.close()\n"
	"\tprint(\"GROVE-DONE\")\n"
	"\tquit(0)\n";

static void test_godot_reads_grove_binary(void **state)
{
	(void)state;
	if (!have_godot())
		skip();
	char *project = make_project();
	struct grove_buf bin = {0};
	for (size_t i = 0; i < N_VALUES; i++) {
		struct variant v;
		parse_value(values[i], &v);
		assert_int_equal(godot_packet_encode(&v, 3, &bin), GROVE_OK);
		variant_free(&v);
	}
	write_file(project, "values.bin", bin.data, bin.len);
	grove_buf_free(&bin);
	write_file(project, "read.gd", binary_to_text_script, sizeof(binary_to_text_script) - 1);
	char *out = run_godot(project, "read.gd");
	size_t seen = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "V\t", 2) != 0)
			continue;
		assert_true(seen < N_VALUES);
		struct variant want, got;
		parse_value(values[seen], &want);
		parse_value(line + 2, &got);
		if (!close_enough(&want, &got))
			print_error("value %zu: grove sent %s, Godot read %s\n", seen, values[seen], line + 2);
		assert_true(close_enough(&want, &got));
		variant_free(&want);
		variant_free(&got);
		seen++;
	}
	assert_int_equal(seen, N_VALUES);
	print_message("godot3 decoded %zu values grove encoded\n", seen);
	free(out);
	test_rmtree(project);
}

static void test_grove_reads_godot_binary(void **state)
{
	(void)state;
	if (!have_godot())
		skip();
	char *project = make_project();
	/* The script builds the same values from their text (str2var) and writes var2bytes of each. */
	struct grove_buf script = {0};
	const char head[] = "extends SceneTree\n"
			    "func _init():\n"
			    "\tvar f = File.new()\n"
			    "\tf.open(\"res://from_godot.bin\", File.WRITE)\n"
			    "\tfor text in [";
	grove_buf_put(&script, head, sizeof(head) - 1);
	for (size_t i = 0; i < N_VALUES; i++) {
		if (i)
			grove_buf_put(&script, ", ", 2);
		godot_text_write_string(&script, values[i], strlen(values[i]));
	}
	const char tail[] = "]:\n"
			    "\t\tvar b = var2bytes(str2var(text))\n"
			    "\t\tf.store_32(b.size())\n"
			    "\t\tf.store_buffer(b)\n"
			    "\tf.close()\n"
			    "\tprint(\"GROVE-DONE\")\n"
			    "\tquit(0)\n";
	grove_buf_put(&script, tail, sizeof(tail) - 1);
	write_file(project, "write.gd", script.data, script.len);
	grove_buf_free(&script);
	free(run_godot(project, "write.gd"));
	char path[4096];
	snprintf(path, sizeof(path), "%s/from_godot.bin", project);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *data = malloc(1 << 20);
	size_t len = fread(data, 1, 1 << 20, f);
	fclose(f);
	size_t pos = 0, seen = 0;
	while (pos < len) {
		struct variant got, want;
		size_t used;
		int rc = godot_packet_decode(&got, 3, data + pos, len - pos, &used);
		if (rc)
			print_error("value %zu (%s): grove cannot decode Godot's bytes: %s\n", seen, values[seen],
				    grove_strerror(rc));
		assert_int_equal(rc, GROVE_OK);
		parse_value(values[seen], &want);
		if (!close_enough(&want, &got))
			print_error("value %zu: Godot wrote %s, grove read a different value\n", seen, values[seen]);
		assert_true(close_enough(&want, &got));
		variant_free(&want);
		variant_free(&got);
		pos += used;
		seen++;
	}
	assert_int_equal(seen, N_VALUES);
	print_message("grove decoded %zu values godot3 encoded\n", seen);
	free(data);
	test_rmtree(project);
}

/* ---- scenes ---- */

static bool refers_to_dropped(const struct variant *v, const bool *dropped, size_t n)
{
	if (v->type == VARIANT_RESOURCE_REF && v->as.ref < 0) {
		size_t i = (size_t)(-(v->as.ref + 1));
		return i >= n || dropped[i];
	}
	if (v->type == VARIANT_ARRAY) {
		for (uint32_t i = 0; i < v->as.array->len; i++)
			if (refers_to_dropped(&v->as.array->items[i], dropped, n))
				return true;
	}
	if (v->type == VARIANT_DICTIONARY) {
		for (uint32_t i = 0; i < v->as.dict->len; i++)
			if (refers_to_dropped(&v->as.dict->keys[i], dropped, n) ||
			    refers_to_dropped(&v->as.dict->values[i], dropped, n))
				return true;
	}
	return false;
}

static void remap_refs(struct variant *v, const size_t *new_index)
{
	if (v->type == VARIANT_RESOURCE_REF && v->as.ref < 0)
		v->as.ref = -(int64_t)new_index[-(v->as.ref + 1)] - 1;
	else if (v->type == VARIANT_ARRAY)
		for (uint32_t i = 0; i < v->as.array->len; i++)
			remap_refs(&v->as.array->items[i], new_index);
	else if (v->type == VARIANT_DICTIONARY)
		for (uint32_t i = 0; i < v->as.dict->len; i++) {
			remap_refs(&v->as.dict->keys[i], new_index);
			remap_refs(&v->as.dict->values[i], new_index);
		}
}

static const char *str_attr(const struct tscn_section *s, const char *key)
{
	const struct variant *v = tscn_attr(s, key);
	return v && v->type == VARIANT_STRING ? v->as.str.ptr : NULL;
}

/* Whether scene-relative @p path is @p root or below it. */
static bool under(const char *path, const char *root)
{
	size_t n = strlen(root);
	return strcmp(path, root) == 0 || (strncmp(path, root, n) == 0 && path[n] == '/');
}

/*
 * A loadable copy of @p in: no ext_resources; no property, attribute or node that needs one (an
 * instanced node goes with everything under it); no connection or editable mark touching a dropped node.
 * Returns false for an inherited scene (its root is instanced): nothing of it is loadable alone.
 */
static bool make_loadable(const struct tscn_scene *in, struct tscn_scene *out)
{
	for (size_t i = 0; i < in->count; i++)
		if (in->sections[i].kind == TSCN_NODE && !tscn_attr(&in->sections[i], "parent"))
			if (tscn_attr(&in->sections[i], "instance"))
				return false;
	size_t n = in->count;
	bool *dropped = calloc(n, sizeof(bool));
	size_t *new_index = calloc(n, sizeof(size_t));
	char **dropped_paths = calloc(n, sizeof(char *));
	size_t n_dropped_paths = 0;
	for (size_t i = 0; i < n; i++)
		dropped[i] = in->sections[i].kind == TSCN_EXT_RESOURCE;
	for (size_t i = 0; i < n; i++) {
		const struct tscn_section *s = &in->sections[i];
		const char *parent = str_attr(s, "parent");
		if (s->kind == TSCN_NODE) {
			char path[2048];
			const char *name = str_attr(s, "name");
			if (!parent)
				snprintf(path, sizeof(path), ".");
			else if (strcmp(parent, ".") == 0)
				snprintf(path, sizeof(path), "%s", name);
			else
				snprintf(path, sizeof(path), "%s/%s", parent, name);
			bool gone = false;
			for (size_t k = 0; k < n_dropped_paths && !gone; k++)
				gone = under(path, dropped_paths[k]);
			if (gone || tscn_attr(s, "instance")) {
				dropped[i] = true;
				dropped_paths[n_dropped_paths++] = strdup(path);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct tscn_section *s = &in->sections[i];
		if (s->kind == TSCN_CONNECTION || s->kind == TSCN_EDITABLE) {
			const char *paths[3] = {str_attr(s, "from"), str_attr(s, "to"), str_attr(s, "path")};
			for (int p = 0; p < 3; p++)
				for (size_t k = 0; paths[p] && k < n_dropped_paths; k++)
					if (under(paths[p], dropped_paths[k]) || strcmp(dropped_paths[k], ".") == 0)
						dropped[i] = true;
			if (s->kind == TSCN_EDITABLE)
				dropped[i] = true; /* editable marks only make sense on instanced nodes */
		}
	}
	memset(out, 0, sizeof(*out));
	out->format = in->format;
	size_t next = 0;
	for (size_t i = 0; i < n; i++)
		new_index[i] = dropped[i] ? SIZE_MAX : next++;
	for (size_t i = 0; i < n; i++) {
		if (dropped[i])
			continue;
		const struct tscn_section *s = &in->sections[i];
		struct tscn_section *c = tscn_add_section(out, s->kind);
		c->line = s->line;
		for (size_t k = 0; k < s->n_attrs; k++) {
			if (refers_to_dropped(&s->attrs[k].value, dropped, n))
				continue;
			struct variant v;
			assert_int_equal(variant_copy(&v, &s->attrs[k].value), GROVE_OK);
			remap_refs(&v, new_index);
			assert_int_equal(tscn_add_attr(c, s->attrs[k].key, &v), GROVE_OK);
		}
		for (size_t k = 0; k < s->n_props; k++) {
			if (refers_to_dropped(&s->props[k].value, dropped, n))
				continue;
			struct variant v;
			assert_int_equal(variant_copy(&v, &s->props[k].value), GROVE_OK);
			remap_refs(&v, new_index);
			assert_int_equal(tscn_add_prop(c, s->props[k].key, &v), GROVE_OK);
		}
	}
	for (size_t k = 0; k < n_dropped_paths; k++)
		free(dropped_paths[k]);
	free(dropped_paths);
	free(dropped);
	free(new_index);
	return true;
}

static char *slurp(const char *path, size_t *len)
{
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	fstat(fileno(f), &st);
	char *buf = malloc((size_t)st.st_size + 1);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/*
 * The properties the dump script prints when a node has them. Control margins and rects are left out:
 * Godot's layout rewrites them at runtime (a ColorPicker grows to its minimum size), so they are not
 * what the scene file says.
 */
static const char *const dumped_props[] = {"position", "rotation_degrees", "scale", "transform", "modulate",
					   "visible", "text", "z_index", "wait_time", "anchor_right", "color", "mode"};
#define N_DUMPED (sizeof(dumped_props) / sizeof(dumped_props[0]))

static const char dump_script_head[] =
	"extends SceneTree\n"
	"var props = [";
static const char dump_script_body[] =
	"]\n"
	"func dump(root, node):\n"
	"\tprint(\"N\\t\" + str(root.get_path_to(node)) + \"\\t\" + node.get_class())\n"
	"\tvar names = []\n"
	"\tfor p in node.get_property_list():\n"
	"\t\tnames.append(p.name)\n"
	"\tfor p in props:\n"
	"\t\tif p in names:\n"
	"\t\t\tprint(\"P\\t\" + p + \"\\t\" + var2str(node.get(p)).replace(\"\\n\", \"\\\\n\"))\n"
	"\tfor g in node.get_groups():\n"
	"\t\tprint(\"G\\t\" + str(g))\n"
	"\tfor c in node.get_children():\n"
	"\t\tif c.owner == root:\n"
	"\t\t\tdump(root, c)\n"
	"func _init():\n"
	"\tvar i = 0\n"
	"\twhile File.new().file_exists(\"res://s%d.tscn\" % i):\n"
	"\t\tvar ps = load(\"res://s%d.tscn\" % i)\n"
	"\t\tif ps == null:\n"
	"\t\t\tprint(\"S\\t%d\\tLOAD-FAILED\" % i)\n"
	"\t\telse:\n"
	"\t\t\tvar inst = ps.instance()\n"
	"\t\t\tprint(\"S\\t%d\\tOK\" % i)\n"
	"\t\t\tdump(inst, inst)\n"
	"\t\t\tinst.free()\n"
	"\t\ti += 1\n"
	"\tprint(\"GROVE-DONE\")\n"
	"\tquit(0)\n";

/* Compare Godot's dump of one scene (lines from *cursor on) with grove's subtree at @p root. */
static int compare_dump(struct store_txn *txn, uint64_t root, char **cursor, const char *scene_name, size_t *nodes,
			size_t *props)
{
	char *root_path = NULL;
	assert_int_equal(tree_node_path(&world, txn, root, &root_path), GROVE_OK);
	int mismatches = 0;
	uint64_t node = 0;
	char *line;
	while ((line = *cursor) != NULL && *line && strncmp(line, "S\t", 2) != 0 && strncmp(line, "GROVE-DONE", 10) != 0) {
		char *nl = strchr(line, '\n');
		*cursor = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		if (strncmp(line, "N\t", 2) == 0) {
			char *rel = line + 2, *cls = strchr(rel, '\t');
			*cls++ = '\0';
			char path[4096];
			snprintf(path, sizeof(path), "%s%s%s", root_path, strcmp(rel, ".") ? "/" : "", strcmp(rel, ".") ? rel : "");
			if (tree_resolve_path(&world, txn, path, &node) != GROVE_OK) {
				print_error("%s: Godot has node %s, grove does not\n", scene_name, rel);
				mismatches++;
				node = 0;
				continue;
			}
			struct tree_node n;
			assert_int_equal(tree_get_node(&world, txn, node, &n), GROVE_OK);
			if (n.class_name[0] && strcmp(n.class_name, cls) != 0) {
				print_error("%s: %s is a %s in grove, a %s in Godot\n", scene_name, rel, n.class_name, cls);
				mismatches++;
			}
			tree_node_free(&n);
			(*nodes)++;
		} else if (strncmp(line, "P\t", 2) == 0 && node) {
			char *name = line + 2, *text = strchr(name, '\t');
			*text++ = '\0';
			struct variant mine, theirs;
			if (tree_get_prop(&world, txn, node, name, &mine) != GROVE_OK)
				continue; /* grove never set it: Godot shows its default */
			struct godot_text_error err;
			if (godot_text_parse(text, strlen(text), NULL, &theirs, &err) != GROVE_OK) {
				variant_free(&mine);
				continue; /* a value Godot prints in a form grove does not read (objects) */
			}
			/* Godot stores some ints as floats and the other way round; compare numbers by value. */
			if (mine.type == VARIANT_INT && theirs.type == VARIANT_FLOAT)
				variant_set_float(&mine, (double)mine.as.i);
			if (!close_enough(&mine, &theirs)) {
				print_error("%s: node %" PRIu64 " property %s differs: Godot has %s\n", scene_name, node, name,
					    text);
				mismatches++;
			}
			(*props)++;
			variant_free(&mine);
			variant_free(&theirs);
		}
	}
	free(root_path);
	return mismatches;
}

/* The subtree at @p root exported for Godot @p major (a .scn with @p binary) into @p out; it must succeed. */
static void export_or_fail(struct store_txn *txn, uint64_t root, int major, bool binary, const char *name,
			   struct grove_buf *out)
{
	char msg[512];
	int err = scene_export_file(&world, txn, root, major, binary, SCENE_IDS_NONE, NULL, 0, out, msg, sizeof(msg));
	if (err)
		print_error("%s: export for Godot %d: %s\n", name, major, msg);
	assert_int_equal(err, GROVE_OK);
}

/* A store in @p dir whose world (group 1, the file's `world`) holds only its root. */
static struct store *open_world(const char *dir)
{
	struct store *store;
	struct store_options opts = {.no_sync = true, .map_size = 1ull << 30};
	assert_int_equal(store_open(&store, dir, &opts), GROVE_OK);
	assert_int_equal(tree_open(store, 1, &world), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&world, txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return store;
}

/* Import @p scene into the world under a holder of its own, /root/H<n> (so root names cannot clash); its root's id. */
static uint64_t import_under_holder(struct store_txn *txn, const struct tscn_scene *scene, size_t n, const char *name)
{
	char holder[32], msg[512];
	snprintf(holder, sizeof(holder), "/root/H%zu", n);
	struct tree_op h = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = holder + 6, .text = "Node",
			    .index = -1};
	struct tree_batch hb = {&h, 1};
	struct tree_result res = {0};
	assert_int_equal(tree_apply_batch(&world, txn, &hb, &res), GROVE_OK);
	tree_result_free(&res);
	struct scene_import plan;
	int err = scene_import_plan(scene, holder, NULL, &plan, msg, sizeof(msg));
	if (err)
		print_error("%s: %s\n", name, msg);
	assert_int_equal(err, GROVE_OK);
	struct tree_batch batch = {plan.ops, plan.count};
	err = tree_apply_batch(&world, txn, &batch, &res);
	if (err)
		print_error("%s: %s\n", name, res.message);
	assert_int_equal(err, GROVE_OK);
	uint64_t root = res.ids[0];
	for (size_t k = 0; k < plan.count; k++)
		if (plan.ops[k].kind == TREE_OP_CREATE && plan.ops[k].node.path) {
			root = res.ids[k];
			break;
		}
	tree_result_free(&res);
	scene_import_free(&plan);
	return root;
}

/* GroveClient's own lookup (the addon's grove_mirror.gd), for lookup_check.gd to run in @p project. */
static void add_lookup_check(const char *project)
{
	char addon[4200];
	snprintf(addon, sizeof(addon), "%s/addons", project);
	assert_int_equal(mkdir(addon, 0755), 0);
	snprintf(addon, sizeof(addon), "%s/addons/grove", project);
	assert_int_equal(mkdir(addon, 0755), 0);
	copy_into(project, "godot/addons/grove/grove_mirror.gd", "addons/grove/grove_mirror.gd");
	copy_into(project, "tests/engine/scenes/lookup_check.gd", "lookup_check.gd");
}

/*
 * Scene @p n of @p project as GroveClient gets it: w<n>.scn without ids, and beside it w<n>.ids, one
 * "N id parent name" line per node (parent: the entry of its parent, -1 for the root) in the order they
 * come. @return how many ids it names.
 */
static size_t write_named(struct store_txn *txn, const char *project, uint64_t root, size_t n, const char *name)
{
	struct grove_buf scn = {0}, lines = {0};
	struct scene_ids ids;
	char msg[512], file[32], line[4200];
	int err = scene_export_file(&world, txn, root, 3, true, SCENE_IDS_NAMES, &ids, 0, &scn, msg, sizeof(msg));
	if (err)
		print_error("%s: export with its ids beside it: %s\n", name, msg);
	assert_int_equal(err, GROVE_OK);
	snprintf(file, sizeof(file), "w%zu.scn", n);
	write_file(project, file, scn.data, scn.len);
	assert_int_equal(ids.by_path.type, VARIANT_NIL);
	for (size_t i = 0; i < ids.len; i++) {
		snprintf(line, sizeof(line), "N %" PRIu64 " %" PRId32 " %s\n", ids.node_ids[i], ids.parents[i],
			 (const char *)ids.names.data + ids.name_at[i]);
		grove_buf_put(&lines, line, strlen(line));
	}
	snprintf(file, sizeof(file), "w%zu.ids", n);
	write_file(project, file, lines.data, lines.len);
	size_t named = ids.len;
	scene_ids_free(&ids);
	grove_buf_free(&scn);
	grove_buf_free(&lines);
	return named;
}

/*
 * lookup_check.gd's output @p out: every scene's lookup found all @p named[i] ids it names, each at the node grove
 * holds under that path. @return the mismatches.
 */
static int check_lookups(struct store_txn *txn, char *out, const uint64_t *roots, const size_t *named, size_t count,
		       char (*names)[256])
{
	int mismatches = 0;
	size_t scenes = 0, ids = 0;
	for (char *line = out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *end;
		size_t i = strtoul(line + 2, &end, 10);
		if ((line[0] != 'W' && line[0] != 'I') || line[1] != '\t' || i >= count)
			continue;
		if (line[0] == 'W') {
			scenes++;
			if (strtoul(end + 1, NULL, 10) != named[i]) {
				print_error("%s: the lookup found %s of the %zu ids beside the scene\n", names[i], end + 1, named[i]);
				mismatches++;
			}
			continue;
		}
		uint64_t id = strtoull(end + 1, &end, 10), at = 0;
		char *root_path = NULL, path[4600];
		assert_int_equal(tree_node_path(&world, txn, roots[i], &root_path), GROVE_OK);
		snprintf(path, sizeof(path), "%s%s%s", root_path, strcmp(end + 1, ".") ? "/" : "",
			 strcmp(end + 1, ".") ? end + 1 : "");
		free(root_path);
		if (tree_resolve_path(&world, txn, path, &at) != GROVE_OK || at != id) {
			print_error("%s: the lookup found id %" PRIu64 " at %s, which grove holds as %" PRIu64 "\n", names[i], id,
				    end + 1, at);
			mismatches++;
		}
		ids++;
	}
	print_message("GroveClient's lookup by name mapped %zu ids on %zu of %zu scenes as grove holds them\n", ids, scenes, count);
	return mismatches + (scenes == count ? 0 : 1);
}

static void test_godot_loads_grove_scenes(void **state)
{
	(void)state;
	if (!have_godot())
		skip();
	struct stat st;
	if (stat(CORPUS3, &st) != 0) {
		print_message("corpus %s is absent; skipping the scene load test\n", CORPUS3);
		skip();
	}
	char *project = make_project();
	add_lookup_check(project);
	char *store_dir = test_tmpdir("engine-store");
	struct store *store = open_world(store_dir);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(store, NULL, true, &txn), GROVE_OK);
	DIR *d = opendir(CORPUS3);
	struct dirent *e;
	uint64_t roots[512];
	size_t named[512];
	char names[512][256];
	size_t count = 0, inherited = 0;
	while ((e = readdir(d)) != NULL && count < 512) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 5, ".tscn") != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", CORPUS3, e->d_name);
		char *text = slurp(path, &len);
		struct tscn_scene original, loadable;
		struct tscn_error perr;
		assert_int_equal(tscn_parse(text, len, &original, &perr), GROVE_OK);
		free(text);
		bool usable = make_loadable(&original, &loadable);
		tscn_scene_free(&original);
		if (!usable) {
			inherited++;
			continue;
		}
		char msg[512];
		roots[count] = import_under_holder(txn, &loadable, count, e->d_name);
		tscn_scene_free(&loadable);
		struct tscn_scene exported;
		assert_int_equal(scene_export(&world, txn, roots[count], 3, &exported, msg, sizeof(msg)), GROVE_OK);
		struct grove_buf out = {0};
		assert_int_equal(tscn_write(&exported, 3, &out), GROVE_OK);
		tscn_scene_free(&exported);
		char file[32];
		snprintf(file, sizeof(file), "s%zu.tscn", count);
		write_file(project, file, out.data, out.len);
		grove_buf_free(&out);
		named[count] = write_named(txn, project, roots[count], count, e->d_name);
		snprintf(names[count], sizeof(names[count]), "%s", e->d_name);
		count++;
	}
	closedir(d);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	struct grove_buf script = {0};
	grove_buf_put(&script, dump_script_head, sizeof(dump_script_head) - 1);
	for (size_t i = 0; i < N_DUMPED; i++) {
		if (i)
			grove_buf_put(&script, ", ", 2);
		godot_text_write_string(&script, dumped_props[i], strlen(dumped_props[i]));
	}
	grove_buf_put(&script, dump_script_body, sizeof(dump_script_body) - 1);
	write_file(project, "dump.gd", script.data, script.len);
	grove_buf_free(&script);
	char *out = run_godot(project, "dump.gd");
	assert_int_equal(store_txn_begin(store, NULL, false, &txn), GROVE_OK);
	char *cursor = out;
	size_t loaded = 0, nodes = 0, props = 0;
	int mismatches = 0;
	while (cursor && *cursor) {
		char *line = cursor;
		char *nl = strchr(line, '\n');
		cursor = nl ? nl + 1 : NULL;
		if (strncmp(line, "S\t", 2) != 0)
			continue;
		size_t index = strtoul(line + 2, NULL, 10);
		assert_true(index < count);
		if (strstr(line, "LOAD-FAILED") && strstr(line, "LOAD-FAILED") < (nl ? nl : line + strlen(line))) {
			print_error("Godot could not load grove's export of %s\n", names[index]);
			mismatches++;
			continue;
		}
		loaded++;
		mismatches += compare_dump(txn, roots[index], &cursor, names[index], &nodes, &props);
	}
	char *looked = run_godot(project, "lookup_check.gd");
	mismatches += check_lookups(txn, looked, roots, named, count, names);
	free(looked);
	store_txn_abort(txn);
	print_message("godot3 loaded %zu of %zu scenes grove exported (%zu inherited scenes left out); "
		      "%zu nodes and %zu property values agree\n",
		      loaded, count, inherited, nodes, props);
	assert_int_equal(mismatches, 0);
	assert_int_equal(loaded, count);
	assert_true(count > 100);
	free(out);
	store_close(store);
	test_rmtree(store_dir);
	test_rmtree(project);
}

#define SCENE_SCRIPTS "tests/engine/scenes"

/* The dump of scene @p path in the dump script's output @p out: from its "S" line to the next (malloc'd). */
static char *dump_section(const char *out, const char *path)
{
	char head[128];
	snprintf(head, sizeof(head), "S\t%s\n", path);
	const char *from = strstr(out, head);
	assert_non_null(from);
	from += strlen(head);
	const char *end = strstr(from, "\nS\t");
	const char *done = strstr(from, "\nGROVE-DONE");
	if (!end || (done && done < end))
		end = done;
	assert_non_null(end);
	return strndup(from, (size_t)(end - from));
}

/* Whether two dumps agree; if not, say where, for the scene of @p seed and its export @p what. */
static bool same_dump(const char *original, const char *exported, int seed, const char *what)
{
	if (strcmp(original, exported) == 0)
		return true;
	size_t at = 0, line = 1;
	for (; original[at] && original[at] == exported[at]; at++)
		line += original[at] == '\n';
	size_t from = at > 120 ? at - 120 : 0;
	print_error("seed %d: Godot's dump of grove's %s export differs from the scene's own on line %zu:\n"
		    "  scene:  ...%.240s\n  export: ...%.240s\n(replay with GROVE_ENGINE_FIRST_SEED=%d GROVE_ENGINE_SCENES=1)\n",
		    seed, what, line, original + from, exported + from, seed);
	return false;
}

/*
 * Scenes the engine makes itself (tests/engine/scenes/make_scenes.gd: random trees whose names, strings,
 * metadata of every Godot 3 type, embedded resources, script values, groups, connections and instances
 * of the previous scene are drawn from a seed) are imported into a store and exported as .tscn and .scn,
 * and once more through Godot 4 (exported as Godot 4 text, read back, stored again and exported for Godot
 * 3): Godot's dump of each export (dump_scenes.gd) must equal its dump of the scene it saved. 100 scenes from
 * seed 1 by default; GROVE_ENGINE_SCENES and GROVE_ENGINE_FIRST_SEED choose others.
 */
static void test_godot_loads_engine_made_scenes(void **state)
{
	(void)state;
	if (!have_godot())
		skip();
	const char *count_text = getenv("GROVE_ENGINE_SCENES"), *first_text = getenv("GROVE_ENGINE_FIRST_SEED");
	int count = count_text ? atoi(count_text) : 100, first = first_text ? atoi(first_text) : 1;
	assert_true(count > 0 && count <= 1000);
	char *project = make_project();
	add_lookup_check(project);
	uint64_t *roots = calloc((size_t)count, sizeof(*roots));
	size_t *named = calloc((size_t)count, sizeof(*named));
	char(*names)[256] = calloc((size_t)count, sizeof(*names));
	assert_true(roots && named && names);
	static const char *const scripts[] = {"make_scenes.gd", "dump_scenes.gd", "scripted.gd"};
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		char path[256];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", SCENE_SCRIPTS, scripts[i]);
		char *text = slurp(path, &len);
		assert_non_null(text);
		write_file(project, scripts[i], text, len);
		free(text);
	}
	char number[32];
	snprintf(number, sizeof(number), "%d", first);
	setenv("GROVE_FIRST_SEED", number, 1);
	snprintf(number, sizeof(number), "%d", count);
	setenv("GROVE_SCENE_COUNT", number, 1);
	free(run_godot(project, "make_scenes.gd"));

	char *store_dir = test_tmpdir("engine-made");
	struct store *store = open_world(store_dir);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(store, NULL, true, &txn), GROVE_OK);
	struct grove_buf dump_list = {0};
	for (int seed = first; seed < first + count; seed++) {
		char name[64], path[4096];
		snprintf(name, sizeof(name), "gen_%d.tscn", seed);
		snprintf(path, sizeof(path), "%s/%s", project, name);
		size_t len;
		char *text = slurp(path, &len);
		if (!text)
			print_error("godot did not make %s\n", name);
		assert_non_null(text);
		struct tscn_scene scene;
		struct tscn_error perr;
		int err = tscn_parse(text, len, &scene, &perr);
		if (err)
			print_error("%s:%u:%u: %s\n", name, perr.line, perr.column, perr.message);
		assert_int_equal(err, GROVE_OK);
		free(text);
		uint64_t root = import_under_holder(txn, &scene, (size_t)seed, name);
		tscn_scene_free(&scene);
		roots[seed - first] = root;
		named[seed - first] = write_named(txn, project, root, (size_t)(seed - first), name);
		snprintf(names[seed - first], sizeof(names[0]), "%s", name);
		for (int binary = 0; binary < 2; binary++) {
			struct grove_buf out = {0};
			export_or_fail(txn, root, 3, binary, name, &out);
			snprintf(path, sizeof(path), "out_%d.%s", seed, binary ? "scn" : "tscn");
			write_file(project, path, out.data, out.len);
			grove_buf_free(&out);
		}
		/* Through Godot 4: grove's Godot 4 text of it, read back, stored again and exported for Godot 3. */
		struct grove_buf four = {0}, back = {0};
		export_or_fail(txn, root, 4, false, name, &four);
		err = tscn_parse((const char *)four.data, four.len, &scene, &perr);
		if (err)
			print_error("%s as Godot 4 text:%u:%u: %s\n", name, perr.line, perr.column, perr.message);
		assert_int_equal(err, GROVE_OK);
		grove_buf_free(&four);
		uint64_t again = import_under_holder(txn, &scene, (size_t)seed + 1000000, name);
		tscn_scene_free(&scene);
		export_or_fail(txn, again, 3, false, name, &back);
		snprintf(path, sizeof(path), "via4_%d.tscn", seed);
		write_file(project, path, back.data, back.len);
		grove_buf_free(&back);
		snprintf(path, sizeof(path), "res://gen_%d.tscn res://out_%d.tscn res://out_%d.scn res://via4_%d.tscn ", seed,
			 seed, seed, seed);
		grove_buf_put(&dump_list, path, strlen(path));
	}
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	grove_buf_put(&dump_list, "", 1);
	setenv("GROVE_DUMP", (char *)dump_list.data, 1);
	grove_buf_free(&dump_list);
	char *out = run_godot(project, "dump_scenes.gd");
	int differing = 0;
	size_t lines = 0;
	for (int seed = first; seed < first + count; seed++) {
		char path[4][64];
		static const char *const what[] = {NULL, ".tscn", ".scn", "Godot 4 .tscn, read back and"};
		snprintf(path[0], sizeof(path[0]), "res://gen_%d.tscn", seed);
		snprintf(path[1], sizeof(path[1]), "res://out_%d.tscn", seed);
		snprintf(path[2], sizeof(path[2]), "res://out_%d.scn", seed);
		snprintf(path[3], sizeof(path[3]), "res://via4_%d.tscn", seed);
		char *original = dump_section(out, path[0]);
		if (strstr(original, "LOAD-FAILED") || !*original) {
			print_error("seed %d: Godot could not load the scene it made\n", seed);
			differing++;
		}
		for (const char *c = original; *c; c++)
			lines += *c == '\n';
		for (int k = 1; k < 4; k++) {
			char *exported = dump_section(out, path[k]);
			differing += !same_dump(original, exported, seed, what[k]);
			free(exported);
		}
		free(original);
	}
	print_message("godot3 made %d scenes (%zu nodes); its dumps of grove's .tscn and .scn exports of them, and of "
		      "their Godot 4 text read back, %s\n",
		      count, lines, differing ? "differ" : "agree");
	char *looked = run_godot(project, "lookup_check.gd");
	assert_int_equal(store_txn_begin(store, NULL, false, &txn), GROVE_OK);
	differing += check_lookups(txn, looked, roots, named, (size_t)count, names);
	store_txn_abort(txn);
	free(looked);
	free(roots);
	free(named);
	free(names);
	assert_int_equal(differing, 0);
	free(out);
	store_close(store);
	test_rmtree(store_dir);
	test_rmtree(project);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_godot_reads_grove_binary),
		cmocka_unit_test(test_grove_reads_godot_binary),
		cmocka_unit_test(test_godot_loads_grove_scenes),
		cmocka_unit_test(test_godot_loads_engine_made_scenes),
	};
	return cmocka_run_group_tests_name("godot_engine", tests, NULL, NULL);
}
