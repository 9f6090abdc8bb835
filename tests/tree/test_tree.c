/* The scene-tree state machine on a real LMDB store: every operation, every refusal, atomic batches, and
 * trees far deeper and wider than recursion could handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/buf.h"
#include "src/common/bytes.h"
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
	f->dir = test_tmpdir("tree");
	struct store_options opts = {.no_sync = true, .map_size = 4ull << 30};
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

/* Apply @p n ops in one committed transaction; returns the result code, fills @p res (caller frees). */
static int apply(struct fixture *f, const struct tree_op *ops, size_t n, struct tree_result *res)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {ops, n};
	int err = tree_apply_batch(&world, txn, &batch, res);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return err;
}

static int apply1(struct fixture *f, struct tree_op op, char *message, size_t cap)
{
	struct tree_result res = {0};
	int err = apply(f, &op, 1, &res);
	if (message)
		snprintf(message, cap, "%s", res.message);
	tree_result_free(&res);
	return err;
}

static struct tree_ref at(const char *path)
{
	return (struct tree_ref){.path = path};
}

static struct tree_op create(const char *parent, const char *name, const char *cls)
{
	return (struct tree_op){.kind = TREE_OP_CREATE, .node = at(parent), .name = name, .text = cls, .index = -1};
}

static uint64_t lookup(struct fixture *f, const char *path)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t id = 0;
	int err = tree_resolve_path(&world, txn, path, &id);
	store_txn_abort(txn);
	return err == GROVE_OK ? id : 0;
}

static char *path_of(struct fixture *f, uint64_t id)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	char *p = NULL;
	assert_int_equal(tree_node_path(&world, txn, id, &p), GROVE_OK);
	store_txn_abort(txn);
	return p;
}

struct name_list {
	char names[16][64];
	int count;
	struct store_txn *txn;
};

static int collect_child(void *ctx, uint64_t child)
{
	struct name_list *l = ctx;
	struct tree_node n;
	assert_int_equal(tree_get_node(&world, l->txn, child, &n), GROVE_OK);
	if (l->count < 16)
		snprintf(l->names[l->count], 64, "%s", n.name);
	l->count++;
	tree_node_free(&n);
	return 0;
}

/* The children of @p path as "a,b,c". */
static void children_of(struct fixture *f, const char *path, char *out, size_t cap)
{
	struct name_list l = {0};
	assert_int_equal(store_txn_begin(f->store, NULL, false, &l.txn), GROVE_OK);
	uint64_t id = lookup(f, path);
	assert_true(id != 0);
	assert_int_equal(tree_for_each_child(&world, l.txn, id, collect_child, &l), GROVE_OK);
	store_txn_abort(l.txn);
	out[0] = '\0';
	for (int i = 0; i < l.count && i < 16; i++) {
		strncat(out, l.names[i], cap - strlen(out) - 1);
		if (i + 1 < l.count)
			strncat(out, ",", cap - strlen(out) - 1);
	}
}

/* Records in table @p t (the store holds one group, so all of them are the world's). */
static uint64_t entries(struct fixture *f, enum tree_table t)
{
	struct store_txn *txn;
	uint64_t n;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(store_db_entries(txn, world.db[t], &n), GROVE_OK);
	store_txn_abort(txn);
	return n;
}

static void build_abc(struct fixture *f)
{
	struct tree_op ops[] = {
		create("/root", "A", "Node3D"),
		{.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = "B", .text = "Node3D", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {.id = -2}, .name = "C", .text = "MeshInstance3D", .index = -1},
	};
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, 3, &res), GROVE_OK);
	assert_int_equal(res.count, 3);
	assert_true(res.ids[0] < res.ids[1] && res.ids[1] < res.ids[2]);
	tree_result_free(&res);
}

static void test_root_exists(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(lookup(f, "/root"), TREE_ROOT_ID);
	assert_int_equal(lookup(f, "/root/"), TREE_ROOT_ID);
	char *p = path_of(f, TREE_ROOT_ID);
	assert_string_equal(p, "/root");
	free(p);
}

static void test_create_three_levels(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	uint64_t c = lookup(f, "/root/A/B/C");
	assert_true(c > TREE_ROOT_ID);
	char *p = path_of(f, c);
	assert_string_equal(p, "/root/A/B/C");
	free(p);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	struct tree_node n;
	assert_int_equal(tree_get_node(&world, txn, c, &n), GROVE_OK);
	assert_string_equal(n.name, "C");
	assert_string_equal(n.class_name, "MeshInstance3D");
	assert_null(n.instance);
	assert_int_equal(n.parent, lookup(f, "/root/A/B"));
	tree_node_free(&n);
	store_txn_abort(txn);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	char msg[512];
	assert_int_equal(apply1(f, create("/root", "A", "Node"), msg, sizeof(msg)), GROVE_EEXIST);
	assert_string_equal(msg, "/root already has a child named A");
	assert_int_equal(apply1(f, create("/root/Nope", "X", "Node"), msg, sizeof(msg)), GROVE_ENOTFOUND);
	assert_string_equal(msg, "/root/Nope: no such node");
	const char *bad[] = {".", "..", "a:b", "a/b", "a\"b", "", "tab\there", "del\x7f",
			     "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80x"}; /* not UTF-8 */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(apply1(f, create("/root", bad[i], "Node"), NULL, 0), GROVE_EBADNAME);
	/* Godot 3 keeps dots in names, and every language's letters are names too. */
	assert_int_equal(apply1(f, create("/root", "wall.002", "Node"), NULL, 0), GROVE_OK);
	/* Godot's scene loader keeps '@' and '%' in names, so real scenes hold them. */
	assert_int_equal(apply1(f, create("/root", "@@4", "Node"), NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, create("/root", "100%", "Node"), NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, create("/root", "\xc3\xa9t\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x8c\xb2", "Node"), NULL, 0), GROVE_OK);
	struct store_txn *rtxn;
	uint64_t dotted;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &rtxn), GROVE_OK);
	assert_int_equal(tree_resolve_path(&world, rtxn, "/root/wall.002", &dotted), GROVE_OK);
	store_txn_abort(rtxn);
	char longname[TREE_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(apply1(f, create("/root", longname, "Node"), NULL, 0), GROVE_EBADNAME);
	char longclass[TREE_TEXT_MAX + 2];
	memset(longclass, 'C', sizeof(longclass) - 1);
	longclass[sizeof(longclass) - 1] = '\0';
	assert_int_equal(apply1(f, create("/root", "LongClass", longclass), NULL, 0), GROVE_EINVAL);
	/* An empty class is a node whose class comes from an instanced scene. */
	assert_int_equal(apply1(f, create("/root", "FromScene", ""), NULL, 0), GROVE_OK);
	/* Unicode names are fine. */
	assert_int_equal(apply1(f, create("/root", "Spieler_Ä", "Node"), NULL, 0), GROVE_OK);

	struct tree_op del_root = {.kind = TREE_OP_DELETE, .node = at("/root")};
	assert_int_equal(apply1(f, del_root, NULL, 0), GROVE_EROOT);
	struct tree_op rename_root = {.kind = TREE_OP_RENAME, .node = at("/root"), .name = "x"};
	assert_int_equal(apply1(f, rename_root, NULL, 0), GROVE_EROOT);
	struct tree_op move_root = {.kind = TREE_OP_MOVE, .node = at("/root"), .target = at("/root/A"), .index = -1};
	assert_int_equal(apply1(f, move_root, NULL, 0), GROVE_EROOT);
	struct tree_op by_id = {.kind = TREE_OP_DELETE, .node = {.id = 999999}};
	assert_int_equal(apply1(f, by_id, msg, sizeof(msg)), GROVE_ENOTFOUND);
	assert_string_equal(msg, "no node with id 999999");
	struct tree_op bad_kind = {.kind = (enum tree_op_kind)77, .node = at("/root")};
	assert_int_equal(apply1(f, bad_kind, NULL, 0), GROVE_EINVAL);
	/* A batch-local reference to a node an earlier op of the batch deleted names nothing. */
	struct tree_op gone[] = {
		create("/root", "Gone", "Node"),
		{.kind = TREE_OP_DELETE, .node = at("/root/Gone")},
		{.kind = TREE_OP_MOVE, .node = at("/root/A"), .target = {.id = -1}, .index = -1},
	};
	struct tree_result res = {0};
	assert_int_equal(apply(f, gone, 3, &res), GROVE_ENOTFOUND);
	assert_int_equal(res.failed_op, 2);
	assert_string_equal(res.message, "op 2 refers to the node op 0 created, which an earlier op deleted");
	tree_result_free(&res);
}

static void test_cycle_refused(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	char msg[512];
	struct tree_op mv = {.kind = TREE_OP_MOVE, .node = at("/root/A"), .target = at("/root/A/B/C"), .index = -1};
	assert_int_equal(apply1(f, mv, msg, sizeof(msg)), GROVE_ECYCLE);
	assert_string_equal(msg, "/root/A would become its own ancestor");
	mv.target = at("/root/A");
	assert_int_equal(apply1(f, mv, msg, sizeof(msg)), GROVE_ECYCLE);
	/* Nothing moved. */
	assert_int_equal(lookup(f, "/root/A/B/C") != 0, 1);
	/* A legal move: C up to the root, then B under C. */
	mv = (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/A/B/C"), .target = at("/root"), .index = -1};
	assert_int_equal(apply1(f, mv, NULL, 0), GROVE_OK);
	mv = (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/A/B"), .target = at("/root/C"), .index = 0};
	assert_int_equal(apply1(f, mv, NULL, 0), GROVE_OK);
	assert_true(lookup(f, "/root/C/B") != 0);
	assert_int_equal(lookup(f, "/root/A/B"), 0);
}

static void test_move_name_clash_and_index(void **state)
{
	struct fixture *f = *state;
	struct tree_op ops[] = {
		create("/root", "P", "Node"),      create("/root", "Q", "Node"),      create("/root/P", "x", "Node"),
		create("/root/Q", "x", "Node"),    create("/root/Q", "y", "Node"),    create("/root/Q", "z", "Node"),
	};
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, 6, &res), GROVE_OK);
	tree_result_free(&res);
	char msg[512], list[256];
	struct tree_op mv = {.kind = TREE_OP_MOVE, .node = at("/root/P/x"), .target = at("/root/Q"), .index = -1};
	assert_int_equal(apply1(f, mv, msg, sizeof(msg)), GROVE_EEXIST);
	assert_string_equal(msg, "/root/Q already has a child named x");
	struct tree_op rn = {.kind = TREE_OP_RENAME, .node = at("/root/P/x"), .name = "w"};
	assert_int_equal(apply1(f, rn, NULL, 0), GROVE_OK);
	mv.node = at("/root/P/w");
	mv.index = 1;
	assert_int_equal(apply1(f, mv, NULL, 0), GROVE_OK);
	children_of(f, "/root/Q", list, sizeof(list));
	assert_string_equal(list, "x,w,y,z");
	mv.node = at("/root/Q/z");
	mv.target = at("/root/P");
	mv.index = 5;
	assert_int_equal(apply1(f, mv, NULL, 0), GROVE_ERANGE);
	struct tree_op ro = {.kind = TREE_OP_REORDER, .node = at("/root/Q/z"), .index = 0};
	assert_int_equal(apply1(f, ro, NULL, 0), GROVE_OK);
	children_of(f, "/root/Q", list, sizeof(list));
	assert_string_equal(list, "z,x,w,y");
	ro.node = at("/root/Q/z");
	ro.index = 3;
	assert_int_equal(apply1(f, ro, NULL, 0), GROVE_OK);
	children_of(f, "/root/Q", list, sizeof(list));
	assert_string_equal(list, "x,w,y,z");
	ro.index = -1;
	ro.node = at("/root/Q/x");
	assert_int_equal(apply1(f, ro, NULL, 0), GROVE_OK);
	children_of(f, "/root/Q", list, sizeof(list));
	assert_string_equal(list, "w,y,z,x");
	/* Renaming to the same name is a no-op; renaming onto a sibling is refused. */
	rn = (struct tree_op){.kind = TREE_OP_RENAME, .node = at("/root/Q/w"), .name = "w"};
	assert_int_equal(apply1(f, rn, NULL, 0), GROVE_OK);
	rn.name = "y";
	assert_int_equal(apply1(f, rn, NULL, 0), GROVE_EEXIST);
	rn.name = "bad:name";
	assert_int_equal(apply1(f, rn, NULL, 0), GROVE_EBADNAME);
}

/* Inserting repeatedly at the same position exhausts the gap and forces renumbering. */
static void test_order_renumbering(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(apply1(f, create("/root", "P", "Node"), NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, create("/root/P", "last", "Node"), NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, create("/root/P", "first", "Node"), NULL, 0), GROVE_OK);
	struct tree_op ro = {.kind = TREE_OP_REORDER, .node = at("/root/P/first"), .index = 0};
	assert_int_equal(apply1(f, ro, NULL, 0), GROVE_OK);
	char name[16];
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		struct tree_op op = create("/root/P", name, "Node");
		op.index = 1; /* always right after "first": halves the same gap each time */
		assert_int_equal(apply1(f, op, NULL, 0), GROVE_OK);
	}
	char list[1024];
	children_of(f, "/root/P", list, sizeof(list));
	assert_true(strncmp(list, "first,n59,n58,n57", 17) == 0);
	uint64_t count;
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_child_count(&world, txn, lookup(f, "/root/P"), &count), GROVE_OK);
	store_txn_abort(txn);
	assert_int_equal(count, 62);
}

static void test_atomic_batch(void **state)
{
	struct fixture *f = *state;
	uint64_t nodes_before = entries(f, TREE_NODES);
	struct variant v = {0};
	variant_set_int(&v, 7);
	struct tree_op ops[] = {
		create("/root", "New", "Node"),
		{.kind = TREE_OP_SET_PROP, .node = {.id = -1}, .name = "hp", .value = &v},
		{.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = "Child", .text = "Node", .index = -1},
		create("/root", "New", "Node"), /* duplicate: refuses the whole batch */
	};
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, 4, &res), GROVE_EEXIST);
	assert_int_equal(res.failed_op, 3);
	tree_result_free(&res);
	assert_int_equal(lookup(f, "/root/New"), 0);
	assert_int_equal(entries(f, TREE_NODES), nodes_before);
	assert_int_equal(entries(f, TREE_PROPS), 0);
	/* A batch-local reference must point backwards at a create. */
	struct tree_op fwd[] = {
		{.kind = TREE_OP_CREATE, .node = {.id = -2}, .name = "X", .text = "Node", .index = -1},
		create("/root", "Y", "Node"),
	};
	assert_int_equal(apply(f, fwd, 2, &res), GROVE_EINVAL);
	tree_result_free(&res);
	struct tree_op not_create[] = {
		{.kind = TREE_OP_SET_PROP, .node = at("/root"), .name = "p", .value = &v},
		{.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = "X", .text = "Node", .index = -1},
	};
	assert_int_equal(apply(f, not_create, 2, &res), GROVE_EINVAL);
	tree_result_free(&res);
	assert_int_equal(entries(f, TREE_PROPS), 0);
}

static void test_ids_never_reused(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(apply1(f, create("/root", "X", "Node"), NULL, 0), GROVE_OK);
	uint64_t first = lookup(f, "/root/X");
	struct tree_op del = {.kind = TREE_OP_DELETE, .node = at("/root/X")};
	assert_int_equal(apply1(f, del, NULL, 0), GROVE_OK);
	/* A refused batch consumes no ids either, but must not hand out old ones. */
	assert_int_equal(apply1(f, create("/root/Gone", "Y", "Node"), NULL, 0), GROVE_ENOTFOUND);
	assert_int_equal(apply1(f, create("/root", "X", "Node"), NULL, 0), GROVE_OK);
	uint64_t second = lookup(f, "/root/X");
	assert_true(second > first);
}

struct prop_list {
	char text[512];
};

static int collect_prop(void *ctx, const char *name, const struct variant *v)
{
	struct prop_list *l = ctx;
	char item[64];
	snprintf(item, sizeof(item), "%s%s:%d", l->text[0] ? "," : "", name, (int)v->type);
	strncat(l->text, item, sizeof(l->text) - strlen(l->text) - 1);
	return 0;
}

static void test_properties(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	struct variant pos = {0}, name = {0}, hp = {0};
	double xyz[3] = {1, 2, 3};
	variant_set_reals(&pos, VARIANT_VECTOR3, xyz, 3);
	assert_int_equal(variant_set_string(&name, VARIANT_STRING, "hero", 4), GROVE_OK);
	variant_set_int(&hp, 100);
	struct tree_op ops[] = {
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "position", .value = &pos},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "name_label", .value = &name},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "theme_override_colors/font_color", .value = &hp},
	};
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, 3, &res), GROVE_OK);
	tree_result_free(&res);
	/* Overwriting keeps the original position in the property order. */
	double other[3] = {-0.0, 0.5, 1e300};
	struct variant pos2 = {0};
	variant_set_reals(&pos2, VARIANT_VECTOR3, other, 3);
	struct tree_op set = {.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "position", .value = &pos2};
	assert_int_equal(apply1(f, set, NULL, 0), GROVE_OK);

	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	struct variant got = {0};
	assert_int_equal(tree_get_prop(&world, txn, lookup(f, "/root/A"), "position", &got), GROVE_OK);
	assert_true(variant_equal(&got, &pos2));
	assert_false(variant_equal(&got, &pos));
	variant_free(&got);
	struct prop_list l = {0};
	assert_int_equal(tree_for_each_prop(&world, txn, lookup(f, "/root/A"), collect_prop, &l), GROVE_OK);
	assert_string_equal(l.text, "position:9,name_label:4,theme_override_colors/font_color:2");
	assert_int_equal(tree_get_prop(&world, txn, lookup(f, "/root/A"), "missing", &got), GROVE_ENOTFOUND);
	store_txn_abort(txn);

	char msg[512];
	struct tree_op clear = {.kind = TREE_OP_CLEAR_PROP, .node = at("/root/A"), .name = "name_label"};
	assert_int_equal(apply1(f, clear, NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, clear, msg, sizeof(msg)), GROVE_ENOTFOUND);
	assert_string_equal(msg, "/root/A has no property name_label");
	struct tree_op noval = {.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "x"};
	assert_int_equal(apply1(f, noval, NULL, 0), GROVE_EINVAL);
	struct tree_op noname = {.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "", .value = &hp};
	assert_int_equal(apply1(f, noname, NULL, 0), GROVE_EINVAL);
	variant_free(&pos);
	variant_free(&pos2);
	variant_free(&name);
	variant_free(&hp);
}

struct group_list {
	char text[256];
};

static int collect_group(void *ctx, const char *g)
{
	struct group_list *l = ctx;
	if (l->text[0])
		strcat(l->text, ",");
	strcat(l->text, g);
	return 0;
}

static void test_groups(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	struct tree_op add = {.kind = TREE_OP_ADD_GROUP, .node = at("/root/A"), .name = "players"};
	assert_int_equal(apply1(f, add, NULL, 0), GROVE_OK);
	add.name = "enemies";
	assert_int_equal(apply1(f, add, NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, add, NULL, 0), GROVE_EEXIST);
	struct group_list l = {0};
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_for_each_group(&world, txn, lookup(f, "/root/A"), collect_group, &l), GROVE_OK);
	store_txn_abort(txn);
	assert_string_equal(l.text, "players,enemies");
	struct tree_op rm = {.kind = TREE_OP_REMOVE_GROUP, .node = at("/root/A"), .name = "players"};
	assert_int_equal(apply1(f, rm, NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, rm, NULL, 0), GROVE_ENOTFOUND);
	assert_int_equal(entries(f, TREE_GROUPS), 1);
}

struct conn_count {
	int count;
	char last[128];
};

static int count_conn(void *ctx, const struct tree_connection *c)
{
	struct conn_count *cc = ctx;
	cc->count++;
	snprintf(cc->last, sizeof(cc->last), "%s->%s flags=%u binds=%d", c->signal, c->method, c->flags,
		 (int)c->binds->type);
	return 0;
}

static void test_connections(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	struct variant binds = {0};
	assert_int_equal(variant_set_array(&binds), GROVE_OK);
	struct variant one = {0};
	variant_set_int(&one, 1);
	assert_int_equal(variant_array_push(&binds, &one), GROVE_OK);
	struct tree_op con = {.kind = TREE_OP_CONNECT, .node = at("/root/A/B"), .target = at("/root/A"),
			      .name = "body_entered", .text = "_on_body_entered", .flags = 3, .value = &binds};
	assert_int_equal(apply1(f, con, NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, con, NULL, 0), GROVE_EEXIST);
	struct variant notarray = {0};
	variant_set_int(&notarray, 5);
	struct tree_op badbinds = con;
	badbinds.name = "other";
	badbinds.value = &notarray;
	assert_int_equal(apply1(f, badbinds, NULL, 0), GROVE_ETYPE);
	struct conn_count cc = {0};
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_for_each_connection(&world, txn, lookup(f, "/root/A"), count_conn, &cc), GROVE_OK);
	store_txn_abort(txn);
	assert_int_equal(cc.count, 1);
	assert_string_equal(cc.last, "body_entered->_on_body_entered flags=3 binds=28");
	struct tree_op dis = con;
	dis.kind = TREE_OP_DISCONNECT;
	assert_int_equal(apply1(f, dis, NULL, 0), GROVE_OK);
	assert_int_equal(apply1(f, dis, NULL, 0), GROVE_ENOTFOUND);
	assert_int_equal(entries(f, TREE_CONNS), 0);
	assert_int_equal(entries(f, TREE_CONNS_BY_NODE), 0);
	/* Deleting the target's subtree removes the connection from the source's side too. */
	con.node = at("/root");
	con.target = at("/root/A/B/C");
	assert_int_equal(apply1(f, con, NULL, 0), GROVE_OK);
	assert_int_equal(entries(f, TREE_CONNS), 1);
	struct tree_op del = {.kind = TREE_OP_DELETE, .node = at("/root/A")};
	assert_int_equal(apply1(f, del, NULL, 0), GROVE_OK);
	assert_int_equal(entries(f, TREE_CONNS), 0);
	assert_int_equal(entries(f, TREE_CONNS_BY_NODE), 0);
	variant_free(&binds);
}

static int check_resource(void *ctx, const struct tree_resource *r)
{
	(void)ctx;
	assert_int_equal(r->kind, TREE_RESOURCE_SUB);
	assert_string_equal(r->type, "BoxShape3D");
	assert_string_equal(r->local_id, "BoxShape3D_x1");
	assert_int_equal(r->props->type, VARIANT_DICTIONARY);
	return 0;
}

static void test_resources(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	struct variant props = {0}, key = {0}, val = {0}, ref = {0};
	assert_int_equal(variant_set_dict(&props), GROVE_OK);
	assert_int_equal(variant_set_string(&key, VARIANT_STRING, "size", 4), GROVE_OK);
	double size[3] = {1, 2, 3};
	variant_set_reals(&val, VARIANT_VECTOR3, size, 3);
	assert_int_equal(variant_dict_put(&props, &key, &val), GROVE_OK);
	variant_set_resource_ref(&ref, -1);
	struct tree_op ops[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .name = "BoxShape3D_x1",
		 .text = "BoxShape3D", .value = &props},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A/B/C"), .name = "shape", .value = &ref},
	};
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, 2, &res), GROVE_OK);
	uint64_t rid = res.ids[0];
	tree_result_free(&res);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	struct variant got = {0};
	assert_int_equal(tree_get_prop(&world, txn, lookup(f, "/root/A/B/C"), "shape", &got), GROVE_OK);
	assert_int_equal(got.type, VARIANT_RESOURCE_REF);
	assert_int_equal(got.as.ref, (int64_t)rid);
	assert_int_equal(tree_with_resource(&world, txn, rid, check_resource, NULL), GROVE_OK);
	store_txn_abort(txn);
	variant_free(&got);
	/* References to missing resources, or batch-local ones pointing at non-resources, are refused. */
	variant_set_resource_ref(&ref, 123456);
	struct tree_op set = {.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "shape", .value = &ref};
	assert_int_equal(apply1(f, set, NULL, 0), GROVE_ENOTFOUND);
	variant_set_resource_ref(&ref, -1);
	assert_int_equal(apply1(f, set, NULL, 0), GROVE_EINVAL);
	struct tree_op ext = {.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Script"};
	assert_int_equal(apply1(f, ext, NULL, 0), GROVE_EINVAL); /* ext needs a path */
	ext.instance = "res://player.gd";
	assert_int_equal(apply1(f, ext, NULL, 0), GROVE_OK);
	variant_free(&props);
}

static int append_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct grove_buf *b = ctx;
	uint8_t head[3 * 8];
	put_be64(head, table);
	put_be64(head + 8, key_len);
	put_be64(head + 16, val_len);
	grove_buf_put(b, head, sizeof(head));
	grove_buf_put(b, key, key_len);
	grove_buf_put(b, val, val_len);
	return 0;
}

/* Every record of the world, table by table, as one byte string. */
static void dump_all(struct fixture *f, struct grove_buf *out)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_dump(&world, txn, append_record, out), GROVE_OK);
	store_txn_abort(txn);
	assert_false(out->failed);
}

/*
 * The operations that run in the caller's transaction, without a nested one, must refuse before their first
 * write: a refusal committed with its group commit leaves every table as it was.
 */
static void test_refusals_write_nothing(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	struct tree_op in_group = {.kind = TREE_OP_ADD_GROUP, .node = at("/root/A"), .name = "players"};
	assert_int_equal(apply1(f, in_group, NULL, 0), GROVE_OK);
	struct variant one = {0}, missing = {0}, deep = {0};
	variant_set_int(&one, 1);
	variant_set_resource_ref(&missing, 123456);
	assert_int_equal(variant_set_array(&deep), GROVE_OK);
	for (int i = 0; i < VARIANT_MAX_DEPTH + 2; i++) {
		struct variant outer;
		assert_int_equal(variant_set_array(&outer), GROVE_OK);
		assert_int_equal(variant_array_push(&outer, &deep), GROVE_OK);
		deep = outer;
	}
	const struct tree_op refused[] = {
		{.kind = TREE_OP_SET_PROP, .node = at("/root/Nope"), .name = "p", .value = &one},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "tab\there", .value = &one},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "p"},
		/* A first value of a property: refused after the node was read, before its record is written. */
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "fresh", .value = &missing},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A"), .name = "fresh", .value = &deep},
		{.kind = TREE_OP_CLEAR_PROP, .node = at("/root/A"), .name = "never_set"},
		{.kind = TREE_OP_CLEAR_PROP, .node = at("/root/Nope"), .name = "p"},
		{.kind = TREE_OP_ADD_GROUP, .node = at("/root/A"), .name = "players"},
		{.kind = TREE_OP_ADD_GROUP, .node = at("/root/A"), .name = ""},
		{.kind = TREE_OP_REMOVE_GROUP, .node = at("/root/A"), .name = "enemies"},
		{.kind = TREE_OP_REMOVE_GROUP, .node = {.id = 999999}, .name = "players"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct grove_buf before = {0}, after = {0};
		dump_all(f, &before);
		char msg[512];
		if (apply1(f, refused[i], msg, sizeof(msg)) == GROVE_OK)
			fail_msg("op %zu was not refused", i);
		dump_all(f, &after);
		if (before.len != after.len || memcmp(before.data, after.data, before.len) != 0)
			fail_msg("refused op %zu (%s) changed the store", i, msg);
		grove_buf_free(&before);
		grove_buf_free(&after);
	}
	variant_free(&deep);
}

static void test_delete_subtree(void **state)
{
	struct fixture *f = *state;
	uint64_t base_nodes = entries(f, TREE_NODES);
	build_abc(f);
	struct variant v = {0};
	variant_set_bool(&v, true);
	struct tree_op ops[] = {
		{.kind = TREE_OP_SET_PROP, .node = at("/root/A/B"), .name = "visible", .value = &v},
		{.kind = TREE_OP_ADD_GROUP, .node = at("/root/A/B/C"), .name = "g"},
		create("/root/A", "B2", "Node"),
	};
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, 3, &res), GROVE_OK);
	tree_result_free(&res);
	struct tree_op del = {.kind = TREE_OP_DELETE, .node = at("/root/A")};
	assert_int_equal(apply1(f, del, NULL, 0), GROVE_OK);
	assert_int_equal(entries(f, TREE_NODES), base_nodes);
	assert_int_equal(entries(f, TREE_CHILDREN), 0);
	assert_int_equal(entries(f, TREE_ORDER), 0);
	assert_int_equal(entries(f, TREE_PROPS), 0);
	assert_int_equal(entries(f, TREE_GROUPS), 0);
	assert_int_equal(apply1(f, del, NULL, 0), GROVE_ENOTFOUND);
}

/* 10,000 levels: built in one batch, path computed, cycle check walks it, deleted without recursion. */
static void test_deep_tree(void **state)
{
	struct fixture *f = *state;
	enum { DEPTH = 10000 };
	struct tree_op *ops = calloc(DEPTH, sizeof(*ops));
	for (int i = 0; i < DEPTH; i++) {
		ops[i] = (struct tree_op){.kind = TREE_OP_CREATE, .name = "d", .text = "Node", .index = -1};
		ops[i].node = i == 0 ? at("/root") : (struct tree_ref){.id = -(int64_t)i};
	}
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, DEPTH, &res), GROVE_OK);
	uint64_t top = res.ids[0], leaf = res.ids[DEPTH - 1];
	tree_result_free(&res);
	char *p = path_of(f, leaf);
	assert_int_equal(strlen(p), strlen("/root") + 2 * DEPTH);
	assert_int_equal(lookup(f, p), leaf);
	free(p);
	struct tree_op mv = {.kind = TREE_OP_MOVE, .node = {.id = (int64_t)top}, .target = {.id = (int64_t)leaf},
			     .index = -1};
	char msg[512];
	assert_int_equal(apply1(f, mv, msg, sizeof(msg)), GROVE_ECYCLE);
	assert_string_equal(msg, "/root/d would become its own ancestor");
	struct tree_op del = {.kind = TREE_OP_DELETE, .node = {.id = (int64_t)top}};
	assert_int_equal(apply1(f, del, NULL, 0), GROVE_OK);
	assert_int_equal(entries(f, TREE_NODES), 1);
	free(ops);
}

/* 100,000 children under one parent: appended in one batch, inserted in the middle, counted, deleted. */
static void test_wide_tree(void **state)
{
	struct fixture *f = *state;
	enum { WIDTH = 100000 };
	struct tree_op *ops = calloc(WIDTH + 1, sizeof(*ops));
	char (*names)[16] = calloc(WIDTH, 16);
	ops[0] = create("/root", "Wide", "Node");
	for (int i = 0; i < WIDTH; i++) {
		snprintf(names[i], 16, "c%d", i);
		ops[i + 1] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = names[i],
					      .text = "Node2D", .index = -1};
	}
	struct tree_result res = {0};
	assert_int_equal(apply(f, ops, WIDTH + 1, &res), GROVE_OK);
	tree_result_free(&res);
	struct tree_op mid = create("/root/Wide", "middle", "Node");
	mid.index = WIDTH / 2;
	assert_int_equal(apply1(f, mid, NULL, 0), GROVE_OK);
	struct tree_op front = create("/root/Wide", "front", "Node");
	front.index = 0;
	assert_int_equal(apply1(f, front, NULL, 0), GROVE_OK);
	uint64_t count;
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_child_count(&world, txn, lookup(f, "/root/Wide"), &count), GROVE_OK);
	store_txn_abort(txn);
	assert_int_equal(count, WIDTH + 2);
	char list[256];
	children_of(f, "/root/Wide", list, sizeof(list));
	assert_true(strncmp(list, "front,c0,c1,c2", 14) == 0);
	assert_true(lookup(f, "/root/Wide/c99999") != 0);
	struct tree_op del = {.kind = TREE_OP_DELETE, .node = at("/root/Wide")};
	assert_int_equal(apply1(f, del, NULL, 0), GROVE_OK);
	assert_int_equal(entries(f, TREE_NODES), 1);
	free(ops);
	free(names);
}

/* Change records: ids resolved, paths before and after, classes, values with bound references. */
/* That step @p at of @p paths stands for @p want. */
static void assert_step_path(const struct tree_paths *paths, uint32_t at, const char *want)
{
	char *path;
	assert_int_equal(tree_paths_string(paths, at, &path), GROVE_OK);
	assert_non_null(path);
	assert_string_equal(path, want);
	free(path);
}

static void test_change_records(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	struct variant v;
	variant_set_int(&v, 7);
	struct tree_op ops[] = {
		create("/root/A", "N", "Node3D"),
		{.kind = TREE_OP_SET_PROP, .node = {.id = -1}, .name = "hp", .value = &v},
		{.kind = TREE_OP_RENAME, .node = {.id = -1}, .name = "M"},
		{.kind = TREE_OP_MOVE, .node = {.id = -1}, .target = at("/root"), .index = 0},
		{.kind = TREE_OP_DELETE, .node = at("/root/A/B")},
	};
	struct tree_result res = {.record_changes = true};
	assert_int_equal(apply(f, ops, 5, &res), GROVE_OK);
	assert_int_equal(res.n_changes, 5);
	const struct tree_change *c = res.changes;
	uint64_t n = res.ids[0], a = lookup(f, "/root/A");
	assert_int_equal(c[0].op, TREE_OP_CREATE);
	assert_int_equal(c[0].node, n);
	assert_int_equal(c[0].parent, a);
	assert_string_equal(c[0].name, "N");
	assert_string_equal(c[0].text, "Node3D");
	assert_step_path(&res.paths, c[0].path_step, "/root/A/N");
	assert_string_equal(c[0].node_class, "Node3D");
	assert_int_equal(c[1].op, TREE_OP_SET_PROP);
	assert_string_equal(c[1].name, "hp");
	struct variant back;
	assert_int_equal(variant_decode(&back, c[1].value.data, c[1].value.len, NULL), GROVE_OK);
	assert_int_equal(back.as.i, 7);
	variant_free(&back);
	assert_string_equal(c[2].old_name, "N");
	assert_step_path(&res.paths, c[2].old_path_step, "/root/A/N");
	assert_step_path(&res.paths, c[2].path_step, "/root/A/M");
	assert_int_equal(c[3].old_parent, a);
	assert_int_equal(c[3].parent, TREE_ROOT_ID);
	assert_int_equal(c[3].index, 0);
	assert_step_path(&res.paths, c[3].old_path_step, "/root/A/M");
	assert_step_path(&res.paths, c[3].path_step, "/root/M");
	assert_int_equal(c[4].op, TREE_OP_DELETE);
	assert_step_path(&res.paths, c[4].path_step, "/root/A/B");
	assert_int_equal(c[4].parent, a);
	tree_result_free(&res);
	/* A refused batch has nothing to tell. */
	struct tree_op bad[] = {create("/root", "X", "Node"), create("/root", "X", "Node")};
	res = (struct tree_result){.record_changes = true};
	assert_int_equal(apply(f, bad, 2, &res), GROVE_EEXIST);
	assert_int_equal(res.n_changes, 0);
	tree_result_free(&res);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	store_close(f->store);
	struct store_options opts = {.no_sync = true, .map_size = 4ull << 30};
	assert_int_equal(store_open(&f->store, f->dir, &opts), GROVE_OK);
	assert_int_equal(tree_open(f->store, 1, &world), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&world, txn), GROVE_OK); /* idempotent */
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	assert_true(lookup(f, "/root/A/B/C") != 0);
	assert_int_equal(lookup(f, "/root/A/../A"), 0);
	assert_int_equal(lookup(f, "relative/path"), 0);
}

/* A rename or move in a batch changes the paths its later changes give for the nodes below it. */
static void test_change_paths_follow_renames(void **state)
{
	struct fixture *f = *state;
	struct variant v = {.type = VARIANT_INT, .as.i = 1};
	struct tree_op ops[] = {
		create("/root", "P", "Node"),
		{.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = "C", .text = "Node", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {.id = -2}, .name = "G", .text = "Node", .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = {.id = -3}, .name = "hp", .value = &v},
		{.kind = TREE_OP_RENAME, .node = {.id = -1}, .name = "Q"},
		{.kind = TREE_OP_SET_PROP, .node = {.id = -3}, .name = "hp", .value = &v},
		{.kind = TREE_OP_MOVE, .node = {.id = -2}, .target = at("/root"), .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = {.id = -3}, .name = "hp", .value = &v},
		{.kind = TREE_OP_REORDER, .node = {.id = -2}, .index = 0},
		{.kind = TREE_OP_DELETE, .node = {.id = -2}},
	};
	const char *paths[][2] = {{"/root/P", NULL},         {"/root/P/C", NULL},       {"/root/P/C/G", NULL},
				  {"/root/P/C/G", NULL},     {"/root/Q", "/root/P"},    {"/root/Q/C/G", NULL},
				  {"/root/C", "/root/Q/C"}, {"/root/C/G", NULL},       {"/root/C", "/root/C"},
				  {"/root/C", NULL}};
	struct tree_result res = {.record_changes = true};
	assert_int_equal(apply(f, ops, 10, &res), GROVE_OK);
	assert_int_equal(res.n_changes, 10);
	for (size_t i = 0; i < 10; i++) {
		assert_step_path(&res.paths, res.changes[i].path_step, paths[i][0]);
		if (paths[i][1])
			assert_step_path(&res.paths, res.changes[i].old_path_step, paths[i][1]);
		else
			assert_int_equal(res.changes[i].old_path_step, TREE_NO_PATH);
	}
	tree_result_free(&res);

	/* Nodes that were there before the batch: their paths are read once, then follow the batch. */
	struct tree_op before[] = {create("/root", "X", "Node"), create("/root/X", "Y", "Node"),
				   create("/root/X/Y", "Z", "Node")};
	res = (struct tree_result){.record_changes = true};
	assert_int_equal(apply(f, before, 3, &res), GROVE_OK);
	tree_result_free(&res);
	struct tree_op later[] = {
		{.kind = TREE_OP_SET_PROP, .node = at("/root/X/Y/Z"), .name = "hp", .value = &v},
		{.kind = TREE_OP_RENAME, .node = at("/root/X"), .name = "W"},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Y/Z"), .name = "hp", .value = &v},
		{.kind = TREE_OP_RENAME, .node = at("/root/W/Y/Z"), .name = "Z2"},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Y/Z2"), .name = "hp", .value = &v},
	};
	const char *later_paths[] = {"/root/X/Y/Z", "/root/W", "/root/W/Y/Z", "/root/W/Y/Z2", "/root/W/Y/Z2"};
	res = (struct tree_result){.record_changes = true};
	assert_int_equal(apply(f, later, 5, &res), GROVE_OK);
	for (size_t i = 0; i < 5; i++)
		assert_step_path(&res.paths, res.changes[i].path_step, later_paths[i]);
	assert_step_path(&res.paths, res.changes[3].old_path_step, "/root/W/Y/Z");
	tree_result_free(&res);
}

/* Apply @p n ops in a transaction that is then aborted; the change records' paths into @p out (old -> new). */
static size_t change_paths_of(struct fixture *f, const struct tree_op *ops, size_t n, char out[][2][64])
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {ops, n};
	struct tree_result res = {.record_changes = true};
	assert_int_equal(tree_apply_batch(&world, txn, &batch, &res), GROVE_OK);
	store_txn_abort(txn);
	for (size_t i = 0; i < res.n_changes; i++) {
		uint32_t steps[2] = {res.changes[i].old_path_step, res.changes[i].path_step};
		for (int k = 0; k < 2; k++) {
			char *path = NULL;
			assert_int_equal(tree_paths_string(&res.paths, steps[k], &path), GROVE_OK);
			snprintf(out[i][k], sizeof(out[i][k]), "%s", path ? path : "-");
			free(path);
		}
	}
	size_t changes = res.n_changes;
	tree_result_free(&res);
	return changes;
}

/*
 * A node named by its path has the path steps of the walk that found it; named by id, they are read up from
 * it: the change records say the same either way, through moves, renames and deletes in the batch, and
 * paths written with repeated or trailing slashes.
 */
static void test_change_paths_by_path_or_id(void **state)
{
	struct fixture *f = *state;
	build_abc(f);
	struct tree_op setup_ops[] = {create("/root/A", "D", "Node"), create("/root", "E", "Node")};
	struct tree_result res = {0};
	assert_int_equal(apply(f, setup_ops, 2, &res), GROVE_OK);
	tree_result_free(&res);
	struct variant v = {.type = VARIANT_INT, .as.i = 1};
	const char *paths[] = {"/root/A/B/C", "/root//A/B/C/", "/root/A/D", "/root/A/B", "/root/E/B/C",
			       "/root/A/D/N", "/root/A/D/N2", "/root/A/D", "/root/E/B/C", "/root/E/B"};
	struct tree_op by_path[] = {
		{.kind = TREE_OP_SET_PROP, .node = at(paths[0]), .name = "hp", .value = &v},
		{.kind = TREE_OP_SET_PROP, .node = at(paths[1]), .name = "hp", .value = &v},
		create(paths[2], "N", "Node"),
		{.kind = TREE_OP_MOVE, .node = at(paths[3]), .target = at("/root/E"), .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = at(paths[4]), .name = "hp", .value = &v},
		{.kind = TREE_OP_RENAME, .node = at(paths[5]), .name = "N2"},
		{.kind = TREE_OP_SET_PROP, .node = at(paths[6]), .name = "hp", .value = &v},
		{.kind = TREE_OP_DELETE, .node = at(paths[7])},
		create(paths[8], "X", "Node"),
		{.kind = TREE_OP_REORDER, .node = at(paths[9]), .index = 0},
	};
	enum { N = sizeof(by_path) / sizeof(by_path[0]) };
	/* The same nodes by id: where each is before the batch, or op 2's node. */
	const char *before[] = {"/root/A/B/C", "/root/A/B/C", "/root/A/D", "/root/A/B", "/root/A/B/C",
				NULL,          NULL,          "/root/A/D", "/root/A/B/C", "/root/A/B"};
	struct tree_op by_id[N];
	for (size_t i = 0; i < N; i++) {
		by_id[i] = by_path[i];
		by_id[i].node = (struct tree_ref){.id = before[i] ? (int64_t)lookup(f, before[i]) : -3};
	}
	by_id[3].target = (struct tree_ref){.id = (int64_t)lookup(f, "/root/E")};
	char want[N][2][64], got[N][2][64];
	assert_int_equal(change_paths_of(f, by_id, N, want), N);
	assert_int_equal(change_paths_of(f, by_path, N, got), N);
	for (size_t i = 0; i < N; i++) {
		assert_string_equal(got[i][0], want[i][0]);
		assert_string_equal(got[i][1], want[i][1]);
	}
	assert_string_equal(got[4][1], "/root/E/B/C");
	assert_string_equal(got[6][1], "/root/A/D/N2");
	assert_string_equal(got[7][1], "/root/A/D");
}

/* What a walk of resource references saw, and what it does to each. */
struct ref_walk {
	int64_t seen[8];
	size_t n;
	size_t stop_at; /* return 1 at this visit (SIZE_MAX: never) */
};

static int visit_ref(void *ctx, int64_t *ref)
{
	struct ref_walk *w = ctx;
	assert_true(w->n < 8);
	w->seen[w->n] = *ref;
	*ref += 1000; /* rewritten in place */
	return w->n++ == w->stop_at;
}

/*
 * variant_each_resource_ref(): a container's hint scripts before its elements, items and keys then values in
 * order, zero references skipped, each rewritable; a non-zero return stops the walk; too deep a value is refused.
 */
static void test_resource_refs_walk(void **state)
{
	(void)state;
	struct variant dict, inner, key, value;
	assert_int_equal(variant_set_dict(&dict), GROVE_OK);
	assert_int_equal(variant_dict_set_typehints(&dict, VARIANT_RESOURCE_REF, NULL, VARIANT_ARRAY, NULL), GROVE_OK);
	dict.as.dict->key.script = 1;
	assert_int_equal(variant_set_array(&inner), GROVE_OK);
	assert_int_equal(variant_array_set_typehint(&inner, VARIANT_RESOURCE_REF, NULL), GROVE_OK);
	inner.as.array->elem.script = 3;
	const int64_t items[] = {4, 0, -5};
	for (size_t i = 0; i < 3; i++) {
		struct variant item;
		variant_set_resource_ref(&item, items[i]);
		assert_int_equal(variant_array_push(&inner, &item), GROVE_OK);
	}
	variant_set_resource_ref(&key, 2);
	assert_int_equal(variant_dict_put(&dict, &key, &inner), GROVE_OK);
	variant_set_int(&key, 7);
	variant_set_resource_ref(&value, 6);
	assert_int_equal(variant_dict_put(&dict, &key, &value), GROVE_OK);

	struct ref_walk w = {.stop_at = SIZE_MAX};
	assert_int_equal(variant_each_resource_ref(&dict, visit_ref, &w), GROVE_OK);
	const int64_t order[] = {1, 2, 3, 4, -5, 6};
	assert_int_equal(w.n, 6);
	assert_memory_equal(w.seen, order, sizeof(order));
	assert_int_equal(dict.as.dict->key.script, 1001);
	assert_int_equal(dict.as.dict->values[0].as.array->elem.script, 1003);
	assert_int_equal(dict.as.dict->values[0].as.array->items[2].as.ref, 995);
	w = (struct ref_walk){.stop_at = 2};
	assert_int_equal(variant_each_resource_ref(&dict, visit_ref, &w), 1);
	assert_int_equal(w.n, 3);
	variant_free(&dict);

	struct variant deep;
	variant_set_resource_ref(&deep, 9);
	for (int i = 0; i <= VARIANT_MAX_DEPTH; i++) {
		struct variant outer;
		assert_int_equal(variant_set_array(&outer), GROVE_OK);
		assert_int_equal(variant_array_push(&outer, &deep), GROVE_OK);
		deep = outer;
	}
	w = (struct ref_walk){.stop_at = SIZE_MAX};
	assert_int_equal(variant_each_resource_ref(&deep, visit_ref, &w), GROVE_ETOOBIG);
	assert_int_equal(w.n, 0);
	variant_free(&deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_root_exists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_three_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_write_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cycle_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_name_clash_and_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_renumbering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_properties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resources, setup, teardown),
		cmocka_unit_test(test_resource_refs_walk),
		cmocka_unit_test_setup_teardown(test_delete_subtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_paths_follow_renames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_paths_by_path_or_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	};
	return cmocka_run_group_tests_name("tree", tests, NULL, NULL);
}
