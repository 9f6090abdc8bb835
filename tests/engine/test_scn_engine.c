/* The real engine, Debian's godot3-server (headless Godot 3.2), loads grove's binary scenes:
 *  - every Godot 3 corpus scene is written by grove both as .tscn and as .scn; Godot loads each (uncached)
 *    and instances it, and the two instanced trees must dump the same: every node's path, class, owner,
 *    every stored property (resources described by their stored properties), groups and connections.
 *    What the scenes reference but the corpus does not ship is provided: an instanced scene of the same
 *    demo project is taken from the corpus (made loadable the same way), anything else is a stub of its
 *    type (an empty script, an empty resource), so every scene loads;
 *    GROVE_CORPUS_EXTRA=dir1:dir2 adds the format=2 scenes of those directories, each checked the same way;
 *  - a generated 100,000-node scene loads from .scn with every node.
 * Without godot3-server the test skips with a message, or fails when CI=true. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "godot/scn.h"
#include "godot/tscn.h"
#include "src/common/error.h"
#include "files.h"
#include "support.h"

#define GODOT "godot3-server"
#define CORPUS3 "../shared/corpus/godot3"
#define MAX_SCENES 4096

/* The directory of Godot 3 scenes being checked: the corpus's, then each of GROVE_CORPUS_EXTRA's. */
static const char *scene_dir = CORPUS3;

static bool have_godot(void)
{
	if (system("command -v " GODOT " >/dev/null 2>&1") == 0)
		return true;
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0) {
		print_error("godot3-server is not installed; CI must run the engine tests (tools/setup.sh installs it)\n");
		fail();
	}
	print_message("godot3-server is not installed; skipping the engine tests\n");
	return false;
}

static char *make_project(void)
{
	char *dir = test_tmpdir("godot-scn");
	const char project[] = "config_version=4\n\n[application]\n\nconfig/name=\"grove-scn-test\"\n";
	test_write_file(dir, "project.godot", project, sizeof(project) - 1);
	char ext[4096];
	snprintf(ext, sizeof(ext), "%s/ext", dir);
	assert_int_equal(mkdir(ext, 0755), 0);
	return dir;
}

/*
 * Run the engine on @p script; returns its standard output (malloc'd); *err_out gets its standard error. A
 * run that does not finish fails the test, unless @p crashed is given: then it says so there.
 */
static char *run_godot_or_crash(const char *project, const char *script, char **err_out, bool *crashed)
{
	char cmd[8192], path[4096];
	snprintf(cmd, sizeof(cmd), "HOME=%s timeout 300 " GODOT " --path %s -s %s > %s/godot.out 2> %s/godot.err", project,
		 project, script, project, project);
	int rc = system(cmd);
	size_t len;
	snprintf(path, sizeof(path), "%s/godot.out", project);
	char *out = test_read_file(path, &len);
	snprintf(path, sizeof(path), "%s/godot.err", project);
	char *err = test_read_file(path, &len);
	assert_non_null(out);
	assert_non_null(err);
	bool done = strstr(out, "GROVE-DONE") != NULL;
	if (crashed)
		*crashed = !done;
	else if (!done) {
		print_error("godot exited %d without finishing; output:\n%s\nerrors:\n%.4000s\n", rc, out, err);
		fail();
	}
	*err_out = err;
	return out;
}

static char *run_godot(const char *project, const char *script, char **err_out)
{
	return run_godot_or_crash(project, script, err_out, NULL);
}

static void write_scene(const char *dir, const char *name, const struct tscn_scene *sc, bool binary)
{
	struct grove_buf out = {0};
	struct scn_error err = {{0}};
	int rc = binary ? scn_write(sc, 3, &out, &err) : tscn_write(sc, 3, &out);
	if (rc)
		print_error("%s: %s %s\n", name, grove_errname(rc), err.message);
	assert_int_equal(rc, GROVE_OK);
	test_write_file(dir, name, out.data, out.len);
	grove_buf_free(&out);
}

/* ---- making corpus scenes loadable ---- */

struct project {
	char *dir;
	char *deps[MAX_SCENES]; /* corpus file names of the instanced scenes written so far */
	char *dep_path[MAX_SCENES];
	size_t n_deps;
};

static const char *str_attr(const struct tscn_section *s, const char *key)
{
	const struct variant *v = tscn_attr(s, key);
	return v && v->type == VARIANT_STRING ? v->as.str.ptr : NULL;
}

static void set_str_attr(struct tscn_section *s, const char *key, const char *text)
{
	for (size_t i = 0; i < s->n_attrs; i++)
		if (strcmp(s->attrs[i].key, key) == 0) {
			variant_free(&s->attrs[i].value);
			assert_int_equal(variant_set_string(&s->attrs[i].value, VARIANT_STRING, text, strlen(text)), GROVE_OK);
		}
}

static bool refers_to(const struct variant *v, int64_t ref)
{
	if (v->type == VARIANT_RESOURCE_REF)
		return v->as.ref == ref;
	if (v->type == VARIANT_ARRAY)
		for (uint32_t i = 0; i < v->as.array->len; i++)
			if (refers_to(&v->as.array->items[i], ref))
				return true;
	if (v->type == VARIANT_DICTIONARY)
		for (uint32_t i = 0; i < v->as.dict->len; i++)
			if (refers_to(&v->as.dict->keys[i], ref) || refers_to(&v->as.dict->values[i], ref))
				return true;
	return false;
}

/* A class Godot 3.2 can make for an ext_resource of @p type (abstract ones get a concrete subclass). */
static const char *concrete_class(const char *type)
{
	static const char *const map[][2] = {
		{"Texture", "ImageTexture"},     {"AudioStream", "AudioStreamSample"}, {"Material", "SpatialMaterial"},
		{"Shape", "BoxShape"},           {"Shape2D", "RectangleShape2D"},     {"StyleBox", "StyleBoxEmpty"},
		{"Font", "DynamicFont"},         {"Mesh", "ArrayMesh"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], type) == 0)
			return map[i][1];
	return type;
}

static void prepare(struct project *pr, struct tscn_scene *sc, const char *corpus_name, int depth);

/*
 * The corpus file of res:// path @p res as seen from corpus scene @p from: a file's corpus name is its
 * path in the demo repository with '~' for '/', and the project root is one of its directories.
 */
static bool corpus_dependency(const char *from, const char *res, char *name, size_t cap)
{
	if (strncmp(res, "res://", 6) != 0)
		return false;
	char rel[1024];
	snprintf(rel, sizeof(rel), "%s", res + 6);
	for (char *c = rel; *c; c++)
		if (*c == '/')
			*c = '~';
	for (size_t cut = strlen(from); cut > 0; cut--) {
		if (from[cut - 1] != '~')
			continue;
		char path[4096];
		if (snprintf(name, cap, "%.*s%s", (int)cut, from, rel) >= (int)cap)
			continue;
		snprintf(path, sizeof(path), "%s/%s", scene_dir, name);
		struct stat st;
		if (stat(path, &st) == 0)
			return true;
	}
	snprintf(name, cap, "%s", rel);
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", scene_dir, name);
	struct stat st;
	return stat(path, &st) == 0;
}

/* The res:// path of a loadable copy of instanced scene @p res, written on first use. */
static const char *scene_dependency(struct project *pr, const char *from, const char *res, int depth)
{
	char name[1024];
	if (depth > 6 || !corpus_dependency(from, res, name, sizeof(name)))
		return "res://ext/stub_scene.tscn";
	for (size_t i = 0; i < pr->n_deps; i++)
		if (strcmp(pr->deps[i], name) == 0)
			return pr->dep_path[i];
	assert_true(pr->n_deps < MAX_SCENES);
	size_t k = pr->n_deps++;
	pr->deps[k] = strdup(name);
	assert_true(asprintf(&pr->dep_path[k], "res://ext/dep%zu.tscn", k) > 0);
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", scene_dir, name);
	char *text = test_read_file(path, &len);
	struct tscn_scene dep;
	struct tscn_error err;
	assert_int_equal(tscn_parse(text, len, &dep, &err), GROVE_OK);
	free(text);
	prepare(pr, &dep, name, depth + 1);
	write_scene(pr->dir, pr->dep_path[k] + 6, &dep, false);
	tscn_scene_free(&dep);
	return pr->dep_path[k];
}

/* Point every ext_resource of @p sc at a file the project has. */
static void prepare(struct project *pr, struct tscn_scene *sc, const char *corpus_name, int depth)
{
	for (size_t i = 0; i < sc->count; i++) {
		struct tscn_section *s = &sc->sections[i];
		if (s->kind != TSCN_EXT_RESOURCE)
			continue;
		const char *type = str_attr(s, "type"), *path = str_attr(s, "path");
		assert_non_null(type);
		assert_non_null(path);
		char stub[256];
		if (strcmp(type, "PackedScene") == 0) {
			snprintf(stub, sizeof(stub), "%s", scene_dependency(pr, corpus_name, path, depth));
		} else if (strcmp(type, "Script") == 0) {
			/* a script a node uses must extend Node; one a resource uses, Resource */
			bool on_node = false;
			for (size_t k = 0; k < sc->count; k++)
				for (size_t p = 0; sc->sections[k].kind == TSCN_NODE && p < sc->sections[k].n_props; p++)
					on_node = on_node || refers_to(&sc->sections[k].props[p].value, -(int64_t)i - 1);
			snprintf(stub, sizeof(stub), "res://ext/%s_script.gd", on_node ? "node" : "resource");
		} else {
			snprintf(stub, sizeof(stub), "res://ext/%s.tres", concrete_class(type));
			char file[512], body[512];
			snprintf(file, sizeof(file), "ext/%s.tres", concrete_class(type));
			int n = snprintf(body, sizeof(body), "[gd_resource type=\"%s\" format=2]\n\n[resource]\n",
					 concrete_class(type));
			test_write_file(pr->dir, file, body, (size_t)n);
		}
		set_str_attr(s, "path", stub);
	}
}

/* ---- the dump ---- */

static const char dump_script[] =
	"extends SceneTree\n"
	"\n"
	"func describe(v, depth):\n"
	"\tif typeof(v) == TYPE_OBJECT:\n"
	"\t\tif v == null:\n"
	"\t\t\treturn \"null\"\n"
	"\t\tif v is Node or depth > 3:\n"
	"\t\t\treturn \"<\" + v.get_class() + \">\"\n"
	"\t\tvar s = v.get_class() + \"{\"\n"
	"\t\tfor p in v.get_property_list():\n"
	"\t\t\tif p.usage & PROPERTY_USAGE_STORAGE and p.name != \"resource_path\":\n"
	"\t\t\t\tvar value = v.get(p.name)\n"
	"\t\t\t\tif v is AnimationNodeBlendTree and p.name == \"node_connections\":\n"
	"\t\t\t\t\tvalue = sorted_triples(value)\n"
	"\t\t\t\tif v is SpriteFrames and p.name == \"animations\":\n"
	"\t\t\t\t\tvalue = sorted_by_name(value)\n"
	"\t\t\t\ts += p.name + \"=\" + describe(value, depth + 1) + \";\"\n"
	"\t\treturn s + \"}\"\n"
	"\tif typeof(v) == TYPE_ARRAY:\n"
	"\t\tvar s = \"[\"\n"
	"\t\tfor x in v:\n"
	"\t\t\ts += describe(x, depth + 1) + \",\"\n"
	"\t\treturn s + \"]\"\n"
	"\tif typeof(v) == TYPE_DICTIONARY:\n"
	"\t\tvar s = \"{\"\n"
	"\t\tfor k in v:\n"
	"\t\t\ts += describe(k, depth + 1) + \":\" + describe(v[k], depth + 1) + \",\"\n"
	"\t\treturn s + \"}\"\n"
	"\treturn var2str(v)\n"
	"\n"
	"# A blend tree lists its connections in the order of its node names' StringName addresses,\n"
	"# which depends on when each name was first made, not on the scene.\n"
	"func sorted_triples(list):\n"
	"\tvar triples = []\n"
	"\tfor i in range(0, list.size(), 3):\n"
	"\t\ttriples.append(var2str([list[i], list[i + 1], list[i + 2]]))\n"
	"\ttriples.sort()\n"
	"\treturn triples\n"
	"\n"
	"# So does SpriteFrames its animations.\n"
	"func sorted_by_name(list):\n"
	"\tvar names = []\n"
	"\tvar by_name = {}\n"
	"\tfor a in list:\n"
	"\t\tnames.append(str(a[\"name\"]))\n"
	"\t\tby_name[str(a[\"name\"])] = a\n"
	"\tnames.sort()\n"
	"\tvar sorted = []\n"
	"\tfor n in names:\n"
	"\t\tsorted.append(by_name[n])\n"
	"\treturn sorted\n"
	"\n"
	"func path_of(root, o):\n"
	"\tif o is Node:\n"
	"\t\treturn str(root.get_path_to(o))\n"
	"\treturn \"<\" + o.get_class() + \">\"\n"
	"\n"
	"func dump(root, node, f, self_path):\n"
	"\tvar owner_path = \"-\"\n"
	"\tif node.owner != null:\n"
	"\t\towner_path = str(root.get_path_to(node.owner))\n"
	"\tvar lines = [\"N \" + str(root.get_path_to(node)) + \" \" + node.get_class() + \" owner=\" + owner_path]\n"
	"\tfor p in node.get_property_list():\n"
	"\t\tif p.usage & PROPERTY_USAGE_STORAGE:\n"
	"\t\t\tlines.append(\"P \" + p.name + \" = \" + describe(node.get(p.name), 0))\n"
	/* Sorted: Godot 3 keeps a node's groups in a map ordered by the address of each name's interned string,
	 * so their order changes with what the process interned first. */
	"\tvar groups = []\n"
	"\tfor g in node.get_groups():\n"
	"\t\tgroups.append(str(g))\n"
	"\tgroups.sort()\n"
	"\tfor g in groups:\n"
	"\t\tlines.append(\"G \" + g)\n"
	/* Sorted too: a signal's connections to one object are ordered by the address of each method's name. */
	"\tvar connections = []\n"
	"\tfor sig in node.get_signal_list():\n"
	"\t\tfor c in node.get_signal_connection_list(sig.name):\n"
	"\t\t\tconnections.append(\"C \" + sig.name + \" -> \" + path_of(root, c.target) + \".\" + c.method + \" flags=\" + "
	"str(c.flags) + \" binds=\" + describe(c.binds, 0))\n"
	"\tconnections.sort()\n"
	"\tfor c in connections:\n"
	"\t\tlines.append(c)\n"
	"\tfor line in lines:\n"
	"\t\tf.store_line(line.replace(\"\\n\", \"\\\\n\").replace(self_path, \"SELF\"))\n"
	"\tfor c in node.get_children():\n"
	"\t\tdump(root, c, f, self_path)\n"
	"\n"
	"func load_and_dump(path, out_path):\n"
	"\tprinterr(\"GROVE-LOAD \" + path)\n"
	"\tvar ps = ResourceLoader.load(path, \"\", true)\n"
	"\tif ps == null:\n"
	"\t\tprint(\"FAILED\\t\" + path)\n"
	"\t\treturn\n"
	"\tvar inst = ps.instance()\n"
	"\tif inst == null:\n"
	"\t\tprint(\"FAILED\\t\" + path)\n"
	"\t\treturn\n"
	"\tvar f = File.new()\n"
	"\tf.open(out_path, File.WRITE)\n"
	"\tdump(inst, inst, f, path)\n"
	"\tf.close()\n"
	"\tinst.free()\n"
	"\tprint(\"LOADED\\t\" + path)\n"
	"\n"
	"func _init():\n"
	"\tvar i = 0\n"
	"\tvar start = File.new()\n"
	"\tif start.open(\"res://start.txt\", File.READ) == OK:\n"
	"\t\ti = int(start.get_line())\n"
	"\t\tstart.close()\n"
	"\twhile File.new().file_exists(\"res://s%d.tscn\" % i):\n"
	"\t\tload_and_dump(\"res://s%d.tscn\" % i, \"res://d%d.tscn.txt\" % i)\n"
	"\t\tload_and_dump(\"res://s%d.scn\" % i, \"res://d%d.scn.txt\" % i)\n"
	"\t\ti += 1\n"
	"\tprinterr(\"GROVE-LOAD end\")\n"
	"\tprint(\"GROVE-DONE\")\n"
	"\tquit(0)\n";

/* What the engine said on standard error while it loaded @p path. */
static void print_engine_messages(const char *err, const char *path)
{
	char marker[256];
	snprintf(marker, sizeof(marker), "GROVE-LOAD %s\n", path);
	const char *from = strstr(err, marker);
	if (!from)
		return;
	from += strlen(marker);
	const char *to = strstr(from, "GROVE-LOAD ");
	print_error("  the engine said:\n%.*s\n", (int)((to ? to : from + strlen(from)) - from), from);
}

/* Godot names internal nodes "@@<counter>" from a process-wide counter: the counter is no content. */
static void drop_internal_counters(char *text)
{
	char *w = text;
	for (const char *r = text; *r;) {
		if (r[0] == '@' && r[1] == '@') {
			*w++ = *r++;
			*w++ = *r++;
			while (*r >= '0' && *r <= '9')
				r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* Whether the two dumps of scene @p i are equal; if not, where they part. */
static bool same_dump(const char *project, size_t i, const char *name, size_t *lines)
{
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/d%zu.tscn.txt", project, i);
	char *t = test_read_file(path, &len);
	snprintf(path, sizeof(path), "%s/d%zu.scn.txt", project, i);
	char *s = test_read_file(path, &len);
	assert_non_null(t);
	assert_non_null(s);
	drop_internal_counters(t);
	drop_internal_counters(s);
	bool same = strcmp(t, s) == 0;
	for (const char *c = t; *c; c++)
		*lines += *c == '\n';
	if (!same) {
		const char *a = t, *b = s;
		size_t line = 1;
		while (*a && *a == *b) {
			line += *a == '\n';
			a++;
			b++;
		}
		/* from the start of the line, or 100 bytes before the difference in a long one */
		size_t back = 0;
		while (a - back > t && a[-(long)back - 1] != '\n' && back < 100)
			back++;
		print_error("%s: the trees differ at dump line %zu:\n  .tscn: %.300s\n  .scn:  %.300s\n", name, line,
			    a - back, b - back);
	}
	free(t);
	free(s);
	return same;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the file at @p dir/@p name is a Godot 3 scene that parses (another directory's scenes are checked
 * by test_corpus, which names what does not parse). */
static bool godot3_scene(const char *dir, const char *name)
{
	char path[4096];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *text = test_read_file(path, &len);
	struct tscn_scene sc;
	struct tscn_error perr;
	bool ok = text && tscn_parse(text, len, &sc, &perr) == GROVE_OK;
	free(text);
	if (ok) {
		ok = sc.format == 2;
		tscn_scene_free(&sc);
	}
	return ok;
}

/*
 * Every Godot 3 scene of @p dir (the corpus, or with @p extra one of GROVE_CORPUS_EXTRA's directories, flat as
 * the corpus is: a file's path with '/' written as '~', so that instanced scenes are found).
 */
static void check_scene_dir(const char *dir, bool extra)
{
	scene_dir = dir;
	DIR *d = opendir(dir);
	if (!d) {
		print_message("%s is absent; skipping it\n", dir);
		return;
	}
	static char *names[MAX_SCENES];
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && count < MAX_SCENES) {
		size_t len = strlen(e->d_name);
		if (len > 5 && strcmp(e->d_name + len - 5, ".tscn") == 0 && (!extra || godot3_scene(dir, e->d_name)))
			names[count++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, count, sizeof(names[0]), compare_names);
	struct project pr = {.dir = make_project()};
	const char node_script[] = "extends Node\n", resource_script[] = "extends Resource\n";
	const char stub_scene[] = "[gd_scene format=2]\n\n[node name=\"Stub\" type=\"Node\"]\n";
	test_write_file(pr.dir, "ext/node_script.gd", node_script, sizeof(node_script) - 1);
	test_write_file(pr.dir, "ext/resource_script.gd", resource_script, sizeof(resource_script) - 1);
	test_write_file(pr.dir, "ext/stub_scene.tscn", stub_scene, sizeof(stub_scene) - 1);
	for (size_t i = 0; i < count; i++) {
		char path[4096], file[64];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", scene_dir, names[i]);
		char *text = test_read_file(path, &len);
		struct tscn_scene sc;
		struct tscn_error perr;
		assert_int_equal(tscn_parse(text, len, &sc, &perr), GROVE_OK);
		free(text);
		prepare(&pr, &sc, names[i], 0);
		snprintf(file, sizeof(file), "s%zu.tscn", i);
		write_scene(pr.dir, file, &sc, false);
		snprintf(file, sizeof(file), "s%zu.scn", i);
		write_scene(pr.dir, file, &sc, true);
		tscn_scene_free(&sc);
	}
	test_write_file(pr.dir, "dump.gd", dump_script, sizeof(dump_script) - 1);
	/*
	 * The engine may crash on a project's scene (3.2 on a node of a class from a later Godot 3, such as
	 * AspectRatioContainer): that scene is skipped if it was the text form, which is the project's scene
	 * as written, and the engine goes on from the next one. A crash on the binary form is a failure.
	 */
	char *crashed_on = calloc(count + 1, sizeof(*crashed_on)); /* 0, or 't' / 'b': the form it crashed on */
	struct grove_buf all_out = {0}, all_err = {0};
	for (size_t start = 0;;) {
		char *out, *err, text[32];
		bool crashed;
		snprintf(text, sizeof(text), "%zu\n", start);
		test_write_file(pr.dir, "start.txt", text, strlen(text));
		out = run_godot_or_crash(pr.dir, "dump.gd", &err, extra ? &crashed : NULL);
		grove_buf_put(&all_out, out, strlen(out));
		grove_buf_put(&all_err, err, strlen(err));
		/* The scene it was loading when it stopped. */
		size_t at = count;
		char form = 0;
		for (const char *m = strstr(err, "GROVE-LOAD res://s"); m; m = strstr(m + 1, "GROVE-LOAD res://s")) {
			char *end;
			at = strtoul(m + strlen("GROVE-LOAD res://s"), &end, 10);
			form = strncmp(end, ".tscn", 5) == 0 ? 't' : 'b';
		}
		free(out);
		free(err);
		if (!extra || !crashed)
			break;
		assert_true(at >= start && at < count);
		crashed_on[at] = form;
		start = at + 1;
	}
	grove_buf_put(&all_out, "", 1);
	grove_buf_put(&all_err, "", 1);
	char *out = (char *)all_out.data, *err = (char *)all_err.data;
	size_t loaded = 0, failed = 0, differ = 0, lines = 0, newer = 0;
	for (size_t i = 0; i < count; i++) {
		if (crashed_on[i]) {
			char crashed_path[64];
			bool binary = crashed_on[i] == 'b';
			snprintf(crashed_path, sizeof(crashed_path), "res://s%zu.%s", i, binary ? "scn" : "tscn");
			if (binary)
				print_error("%s: godot3-server crashed loading grove's .scn, after its .tscn\n", names[i]);
			else
				print_message("%s: godot3-server crashed loading it (a later Godot 3's scene?); skipped\n",
					      names[i]);
			print_engine_messages(err, crashed_path);
			failed += binary;
			newer += !binary;
			continue;
		}
		char path[2][64];
		bool in[2];
		for (int binary = 0; binary < 2; binary++) {
			char line[256];
			snprintf(path[binary], sizeof(path[binary]), "res://s%zu.%s", i, binary ? "scn" : "tscn");
			snprintf(line, sizeof(line), "LOADED\t%s\n", path[binary]);
			in[binary] = strstr(out, line) != NULL;
		}
		/*
		 * A project's scene that this engine loads in neither form is one it cannot load at all (a class of
		 * a later Godot 3, such as 3.5's TextMesh): nothing to compare, named and counted.
		 */
		if (extra && !in[0] && !in[1]) {
			print_message("%s: godot3-server loads it neither as .tscn nor as .scn (a later Godot 3's scene?); "
				      "skipped\n", names[i]);
			print_engine_messages(err, path[0]);
			newer++;
			continue;
		}
		for (int binary = 0; binary < 2; binary++)
			if (!in[binary]) {
				print_error("%s: Godot could not load or instance grove's %s (%s)\n", names[i],
					    binary ? ".scn" : ".tscn", path[binary]);
				print_engine_messages(err, path[binary]);
			}
		if (!in[0] || !in[1]) {
			failed++;
			continue;
		}
		loaded++;
		differ += !same_dump(pr.dir, i, names[i], &lines);
	}
	print_message("godot3 loaded %zu of %zu scenes of %s both as .tscn and as .scn (%zu instanced scenes "
		      "from there); %zu dump lines compared, %zu scenes differ; %zu it cannot load as the project wrote them\n",
		      loaded, count, dir, pr.n_deps, lines, differ, newer);
	assert_int_equal(failed, 0);
	assert_int_equal(differ, 0);
	assert_true(extra || count > 100);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	for (size_t i = 0; i < pr.n_deps; i++) {
		free(pr.deps[i]);
		free(pr.dep_path[i]);
	}
	free(out);
	free(err);
	free(crashed_on);
	test_rmtree(pr.dir);
}

static void test_corpus_scn_loads_like_tscn(void **state)
{
	(void)state;
	if (!have_godot())
		skip();
	struct stat st;
	if (stat(CORPUS3, &st) == 0)
		check_scene_dir(CORPUS3, false);
	else
		print_message("corpus %s is absent; skipping it\n", CORPUS3);
	const char *list = getenv("GROVE_CORPUS_EXTRA");
	char *copy = list ? strdup(list) : NULL;
	for (char *save = NULL, *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save))
		check_scene_dir(dir, true);
	free(copy);
}

/* ---- a 100,000-node scene ---- */

static const char big_script[] =
	"extends SceneTree\n"
	"func count(node):\n"
	"\tvar n = 1\n"
	"\tfor c in node.get_children():\n"
	"\t\tn += count(c)\n"
	"\treturn n\n"
	"func _init():\n"
	"\tfor path in [\"res://big.scn\", \"res://big.tscn\"]:\n"
	"\t\tprinterr(\"GROVE-LOAD \" + path)\n"
	"\t\tvar ps = ResourceLoader.load(path, \"\", true)\n"
	"\t\tif ps == null:\n"
	"\t\t\tprint(\"FAILED\\t\" + path)\n"
	"\t\t\tcontinue\n"
	"\t\tvar inst = ps.instance()\n"
	"\t\tvar last = inst.get_node(\"B999/Last\")\n"
	"\t\tprint(\"BIG\\t\" + path + \"\\t\" + str(count(inst)) + \"\\t\" + var2str(last.position) + \"\\t\" + "
	"str(last.get_groups()))\n"
	"\t\tinst.free()\n"
	"\tprint(\"GROVE-DONE\")\n"
	"\tquit(0)\n";

/*
 * 1,000 branches below the root, each holding 99 nodes in chains of ten levels, every node with a
 * position and every tenth in a group, and one more node the script looks up.
 */
static void big_scene(struct tscn_scene *sc)
{
	struct grove_buf text = {0};
	const char head[] = "[gd_scene format=2]\n\n[node name=\"Root\" type=\"Node2D\"]\n";
	grove_buf_put(&text, head, sizeof(head) - 1);
	char parent[1024], line[1400];
	for (int b = 0; b < 1000; b++) {
		int n = snprintf(line, sizeof(line), "\n[node name=\"B%d\" type=\"Node2D\" parent=\".\"]\n", b);
		grove_buf_put(&text, line, (size_t)n);
		for (int k = 1; k < 100; k++) {
			int id = b * 100 + k;
			if (k % 10 == 1)
				snprintf(parent, sizeof(parent), "B%d", b);
			n = snprintf(line, sizeof(line), "\n[node name=\"N%d\" type=\"Node2D\" parent=\"%s\"%s]\nposition = Vector2( %d, %d )\n",
				     id, parent, id % 10 == 0 ? " groups=[ \"tenth\" ]" : "", id, k);
			grove_buf_put(&text, line, (size_t)n);
			size_t plen = strlen(parent);
			snprintf(parent + plen, sizeof(parent) - plen, "/N%d", id);
		}
	}
	const char tail[] = "\n[node name=\"Last\" type=\"Node2D\" parent=\"B999\" groups=[ \"last\" ]]\nposition = Vector2( 7, 8 )\n";
	grove_buf_put(&text, tail, sizeof(tail) - 1);
	struct tscn_error err;
	int rc = tscn_parse((const char *)text.data, text.len, sc, &err);
	if (rc)
		print_error("%u:%u %s\n", err.line, err.column, err.message);
	assert_int_equal(rc, GROVE_OK);
	grove_buf_free(&text);
}

static void test_100k_node_scene_loads_from_scn(void **state)
{
	(void)state;
	if (!have_godot())
		skip();
	char *project = make_project();
	struct tscn_scene sc;
	big_scene(&sc);
	write_scene(project, "big.scn", &sc, true);
	write_scene(project, "big.tscn", &sc, false);
	tscn_scene_free(&sc);
	test_write_file(project, "big.gd", big_script, sizeof(big_script) - 1);
	char *err;
	char *out = run_godot(project, "big.gd", &err);
	for (int binary = 1; binary >= 0; binary--) {
		char want[256];
		snprintf(want, sizeof(want), "BIG\tres://big.%s\t100002\tVector2( 7, 8 )\t[last]", binary ? "scn" : "tscn");
		if (!strstr(out, want)) {
			print_error("expected \"%s\"; Godot printed:\n%s\n", want, out);
			print_engine_messages(err, binary ? "res://big.scn" : "res://big.tscn");
			fail();
		}
	}
	print_message("godot3 instanced the 100,002-node scene from .scn and from .tscn\n");
	free(out);
	free(err);
	test_rmtree(project);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_scn_loads_like_tscn),
		cmocka_unit_test(test_100k_node_scene_loads_from_scn),
	};
	return cmocka_run_group_tests_name("scn_engine", tests, NULL, NULL);
}
