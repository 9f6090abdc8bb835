/* Every real scene under ../shared/corpus/ (Godot's demo projects, Godot 4 and Godot 3): parse -> import
 * into a store -> export -> write -> parse again, and the two scenes must be equal node by node (name,
 * class, parent, order, every property value exactly, groups, instance), resource by resource and
 * connection by connection.
 * GROVE_CORPUS_EXTRA=dir1:dir2 adds every .tscn found below those directories (a project of one's own,
 * say), each exported for the Godot major its header's format names. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "godot/scene.h"
#include "godot/tscn.h"
#include "src/common/error.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

/* The world's tree (group 1) of the store the test opened last. */
static struct tree world;

#define CORPUS "../shared/corpus"

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) != 0) {
		fclose(f);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	*len = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (buf)
		buf[*len] = '\0';
	return buf;
}

/* ---- semantic comparison of two scenes ---- */

static bool values_equal(const struct tscn_scene *sa, const struct variant *a, const struct tscn_scene *sb,
			 const struct variant *b, int depth);

static const struct tscn_section *ref_section(const struct tscn_scene *s, const struct variant *v)
{
	uint64_t i = v->as.ref < 0 ? (uint64_t)(-(v->as.ref + 1)) : UINT64_MAX;
	return i < s->count ? &s->sections[i] : NULL;
}

static bool entries_equal_by_key(const struct tscn_scene *sa, const struct tscn_entry *ea, size_t na,
				 const struct tscn_scene *sb, const struct tscn_entry *eb, size_t nb, const char *skip)
{
	size_t counted_a = 0, counted_b = 0;
	for (size_t i = 0; i < na; i++) {
		if (skip && strcmp(ea[i].key, skip) == 0)
			continue;
		counted_a++;
		size_t j = 0;
		while (j < nb && strcmp(eb[j].key, ea[i].key) != 0)
			j++;
		if (j == nb || !values_equal(sa, &ea[i].value, sb, &eb[j].value, 0)) {
			print_message("  attribute %s differs\n", ea[i].key);
			return false;
		}
	}
	for (size_t j = 0; j < nb; j++)
		counted_b += !(skip && strcmp(eb[j].key, skip) == 0);
	return counted_a == counted_b;
}

static bool props_equal_in_order(const struct tscn_scene *sa, const struct tscn_section *a,
				 const struct tscn_scene *sb, const struct tscn_section *b)
{
	if (a->n_props != b->n_props) {
		print_message("  %zu properties vs %zu\n", a->n_props, b->n_props);
		/* Name what one side has and the other lacks, so that a user's failing scene says what went wrong. */
		for (int side = 0; side < 2; side++) {
			const struct tscn_section *x = side ? b : a, *y = side ? a : b;
			for (size_t i = 0; i < x->n_props; i++) {
				size_t j = 0;
				while (j < y->n_props && strcmp(y->props[j].key, x->props[i].key) != 0)
					j++;
				if (j == y->n_props)
					print_message("  property %s is only in the %s scene\n", x->props[i].key,
						      side ? "exported" : "original");
			}
		}
		return false;
	}
	for (size_t i = 0; i < a->n_props; i++) {
		if (strcmp(a->props[i].key, b->props[i].key) != 0 ||
		    !values_equal(sa, &a->props[i].value, sb, &b->props[i].value, 0)) {
			print_message("  property %s differs\n", a->props[i].key);
			return false;
		}
	}
	return true;
}

/* Two resources are equal when their content is, whatever ids the files gave them. */
static bool resources_equal(const struct tscn_scene *sa, const struct tscn_section *a, const struct tscn_scene *sb,
			    const struct tscn_section *b, int depth)
{
	(void)depth;
	if (!a || !b || a->kind != b->kind)
		return false;
	return entries_equal_by_key(sa, a->attrs, a->n_attrs, sb, b->attrs, b->n_attrs, "id") &&
	       props_equal_in_order(sa, a, sb, b);
}

static bool values_equal(const struct tscn_scene *sa, const struct variant *a, const struct tscn_scene *sb,
			 const struct variant *b, int depth)
{
	if (a->type != b->type || depth > VARIANT_MAX_DEPTH)
		return false;
	switch (a->type) {
	case VARIANT_RESOURCE_REF:
		if (a->as.ref == 0 || b->as.ref == 0)
			return a->as.ref == b->as.ref;
		return resources_equal(sa, ref_section(sa, a), sb, ref_section(sb, b), depth + 1);
	case VARIANT_ARRAY: {
		const struct variant_array *x = a->as.array, *y = b->as.array;
		if (x->len != y->len || x->elem.type != y->elem.type)
			return false;
		for (uint32_t i = 0; i < x->len; i++)
			if (!values_equal(sa, &x->items[i], sb, &y->items[i], depth + 1))
				return false;
		return true;
	}
	case VARIANT_DICTIONARY: {
		const struct variant_dict *x = a->as.dict, *y = b->as.dict;
		if (x->len != y->len)
			return false;
		for (uint32_t i = 0; i < x->len; i++)
			if (!values_equal(sa, &x->keys[i], sb, &y->keys[i], depth + 1) ||
			    !values_equal(sa, &x->values[i], sb, &y->values[i], depth + 1))
				return false;
		return true;
	}
	default:
		return variant_equal(a, b);
	}
}

struct section_list {
	const struct tscn_section **items;
	size_t n;
};

static struct section_list of_kind(const struct tscn_scene *s, enum tscn_section_kind kind)
{
	struct section_list l = {calloc(s->count + 1, sizeof(*l.items)), 0};
	for (size_t i = 0; i < s->count; i++)
		if (s->sections[i].kind == kind)
			l.items[l.n++] = &s->sections[i];
	return l;
}

/* Compare the sections of one kind in order; resources are compared where they are used instead. */
static bool kind_equal(const struct tscn_scene *a, const struct tscn_scene *b, enum tscn_section_kind kind,
		       const char *what)
{
	struct section_list la = of_kind(a, kind), lb = of_kind(b, kind);
	bool ok = la.n == lb.n;
	if (!ok)
		print_message("  %zu %s vs %zu\n", la.n, what, lb.n);
	for (size_t i = 0; ok && i < la.n; i++) {
		ok = entries_equal_by_key(a, la.items[i]->attrs, la.items[i]->n_attrs, b, lb.items[i]->attrs,
					  lb.items[i]->n_attrs, NULL) &&
		     props_equal_in_order(a, la.items[i], b, lb.items[i]);
		if (!ok)
			print_message("  %s #%zu differs (line %u)\n", what, i, la.items[i]->line);
	}
	free(la.items);
	free(lb.items);
	return ok;
}

/* Every resource of the original must reach the export (unused ones are dropped by export, as Godot does). */
static bool scenes_equal(const struct tscn_scene *a, const struct tscn_scene *b)
{
	return kind_equal(a, b, TSCN_NODE, "nodes") && kind_equal(a, b, TSCN_CONNECTION, "connections") &&
	       kind_equal(a, b, TSCN_EDITABLE, "editables");
}

/* ---- the round trip ---- */

struct corpus_run {
	struct store *store;
	int checked;
	int failed;
	size_t nodes;
	size_t resources;
	size_t connections;
};

/* @p major 0: the major the scene's own format names (format=2 is Godot 3's, 3 and 4 are Godot 4's). */
static int round_trip(struct corpus_run *run, const char *path, int major)
{
	size_t len;
	char *text = read_file(path, &len);
	if (!text)
		return -1;
	struct tscn_scene first = {0}, second = {0};
	struct tscn_error perr;
	int err = tscn_parse(text, len, &first, &perr);
	free(text);
	if (err) {
		print_message("%s:%u:%u: %s\n", path, perr.line, perr.column, perr.message);
		return -1;
	}
	if (major == 0)
		major = first.format == 2 ? 3 : 4;
	/* Each scene goes under a parent of its own in the one shared store. */
	char parent[64], msg[400];
	snprintf(parent, sizeof(parent), "/root/S%d", run->checked);
	struct tree_op holder = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = parent + 6,
				 .text = "Node", .index = -1};
	struct scene_import plan;
	err = scene_import_plan(&first, parent, NULL, &plan, msg, sizeof(msg));
	struct store_txn *txn = NULL;
	struct tree_result res = {0};
	if (!err) {
		assert_int_equal(store_txn_begin(run->store, NULL, true, &txn), GROVE_OK);
		struct tree_batch hb = {&holder, 1};
		assert_int_equal(tree_apply_batch(&world, txn, &hb, &res), GROVE_OK);
		struct tree_batch batch = {plan.ops, plan.count};
		err = tree_apply_batch(&world, txn, &batch, &res);
		if (err)
			snprintf(msg, sizeof(msg), "op %zu: %.300s", res.failed_op, res.message);
		tree_result_free(&res);
		assert_int_equal(store_txn_commit(txn), GROVE_OK);
		run->nodes += plan.nodes;
		run->resources += plan.resources;
		run->connections += plan.connections;
		scene_import_free(&plan);
	}
	struct grove_buf out = {0};
	if (!err) {
		assert_int_equal(store_txn_begin(run->store, NULL, false, &txn), GROVE_OK);
		uint64_t root_id = 0;
		/* The scene root is the holder's only child. */
		struct tscn_scene exported;
		char root_path[512];
		for (size_t i = 0; i < first.count; i++) {
			if (first.sections[i].kind == TSCN_NODE && !tscn_attr(&first.sections[i], "parent")) {
				snprintf(root_path, sizeof(root_path), "%s/%s", parent,
					 tscn_attr(&first.sections[i], "name")->as.str.ptr);
				break;
			}
		}
		assert_int_equal(tree_resolve_path(&world, txn, root_path, &root_id), GROVE_OK);
		err = scene_export(&world, txn, root_id, major, &exported, msg, sizeof(msg));
		store_txn_abort(txn);
		if (!err) {
			err = tscn_write(&exported, major, &out);
			if (err)
				snprintf(msg, sizeof(msg), "write: %s", grove_strerror(err));
			tscn_scene_free(&exported);
		}
	}
	if (!err) {
		err = tscn_parse((const char *)out.data, out.len, &second, &perr);
		if (err)
			snprintf(msg, sizeof(msg), "re-parse %u:%u: %s", perr.line, perr.column, perr.message);
	}
	if (!err && !scenes_equal(&first, &second)) {
		err = GROVE_ECORRUPT;
		snprintf(msg, sizeof(msg), "the exported scene differs");
	}
	if (err)
		print_message("%s: %s\n", path, msg);
	grove_buf_free(&out);
	tscn_scene_free(&first);
	tscn_scene_free(&second);
	return err ? -1 : 0;
}

/* @p recurse: also the directories below (not hidden ones, such as a project's .godot/ cache). */
static void run_dir(struct corpus_run *run, const char *dir, int major, bool recurse)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		size_t n = strlen(e->d_name);
		struct stat st;
		if (recurse && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			run_dir(run, path, major, recurse);
			continue;
		}
		if (n < 5 || strcmp(e->d_name + n - 5, ".tscn") != 0)
			continue;
		if (round_trip(run, path, major) != 0)
			run->failed++;
		run->checked++;
	}
	closedir(d);
}

/* The directories GROVE_CORPUS_EXTRA lists, separated by ':'. */
static void run_extra(struct corpus_run *run)
{
	const char *list = getenv("GROVE_CORPUS_EXTRA");
	if (!list || !*list)
		return;
	char *copy = strdup(list);
	assert_non_null(copy);
	int before = run->checked, failed_before = run->failed;
	for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
		run_dir(run, dir, 0, true);
	print_message("GROVE_CORPUS_EXTRA: %d scenes checked, %d failed\n", run->checked - before,
		      run->failed - failed_before);
	free(copy);
}

static void test_corpus_round_trip(void **state)
{
	(void)state;
	struct stat st;
	const char *extra = getenv("GROVE_CORPUS_EXTRA");
	if (stat(CORPUS, &st) != 0 && !(extra && *extra)) {
		print_message("corpus: %s is absent; skipping the corpus round trip\n", CORPUS);
		skip();
	}
	char *dir = test_tmpdir("corpus");
	struct corpus_run run = {0};
	struct store_options opts = {.no_sync = true, .map_size = 4ull << 30};
	assert_int_equal(store_open(&run.store, dir, &opts), GROVE_OK);
	assert_int_equal(tree_open(run.store, 1, &world), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(run.store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&world, txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	run_dir(&run, CORPUS "/godot4", 4, false);
	int g4 = run.checked;
	run_dir(&run, CORPUS "/godot3", 3, false);
	int g3 = run.checked - g4;
	run_extra(&run);
	print_message("corpus: %d scenes checked (%d Godot 4, %d Godot 3 from the corpus), %d failed; %zu nodes, %zu resources, "
		      "%zu connections\n",
		      run.checked, g4, g3, run.failed, run.nodes, run.resources, run.connections);
	store_close(run.store);
	test_rmtree(dir);
	assert_true(run.checked > 0);
	assert_int_equal(run.failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_round_trip),
	};
	return cmocka_run_group_tests_name("corpus", tests, NULL, NULL);
}
