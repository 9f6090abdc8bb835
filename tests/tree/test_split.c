/* Splits on a real LMDB store: a subtree's records move from one group's tables to a new group's in one
 * transaction; ids stay, the root stays behind as a mount point; writes that name moved nodes are refused as
 * moved; shard roots and their ancestors stay put; a view reads the world across groups as one tree, and
 * dumps it as the records of the one tree it was before the splits. */
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
#include "treelist.h"

#define WORLD 1
#define GA 3 /* the group /root/World/ZoneA goes to */

struct fixture {
	char *dir;
	struct store *store;
	struct tree trees[8]; /* trees[i] is group i's (the same tables, other keys) */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = test_tmpdir("split");
	struct store_options opts = {.no_sync = true, .map_size = 1ull << 30};
	assert_int_equal(store_open(&f->store, f->dir, &opts), GROVE_OK);
	for (uint64_t g = 1; g < 8; g++)
		assert_int_equal(tree_open(f->store, g, &f->trees[g]), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&f->trees[WORLD], txn), GROVE_OK);
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

static struct tree_ref at(const char *path)
{
	return (struct tree_ref){.path = path};
}

static struct tree_op create(const char *parent, const char *name)
{
	return (struct tree_op){.kind = TREE_OP_CREATE, .node = at(parent), .name = name, .text = "Node3D", .index = -1};
}

/* Apply ops to group @p g in a committed transaction; the result's code, its message in @p msg, ids in @p ids. */
static int apply(struct fixture *f, uint64_t g, const struct tree_op *ops, size_t n, char *msg, uint64_t *ids)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {ops, n};
	struct tree_result res = {0};
	int err = tree_apply_batch(&f->trees[g], txn, &batch, &res);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	if (msg)
		snprintf(msg, 512, "%s", res.message);
	for (size_t i = 0; ids && !err && i < n; i++)
		ids[i] = res.ids[i];
	tree_result_free(&res);
	return err;
}

static int apply1(struct fixture *f, uint64_t g, struct tree_op op, char *msg)
{
	return apply(f, g, &op, 1, msg, NULL);
}

static int split(struct fixture *f, uint64_t from, uint64_t to, const char *path, struct tree_split_result *res)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	int err = tree_split(&f->trees[from], to, txn, path, res);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return err;
}

static uint64_t lookup(struct fixture *f, uint64_t g, const char *path)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t id = 0;
	int err = tree_resolve_path(&f->trees[g], txn, path, &id);
	store_txn_abort(txn);
	return err == GROVE_OK ? id : 0;
}

static uint64_t count_of(struct fixture *f, uint64_t g)
{
	struct store_txn *txn;
	uint64_t n = 0;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_node_count(&f->trees[g], txn, &n), GROVE_OK);
	store_txn_abort(txn);
	return n;
}

static char *path_of(struct fixture *f, uint64_t g, uint64_t id)
{
	struct store_txn *txn;
	char *p = NULL;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_node_path(&f->trees[g], txn, id, &p), GROVE_OK);
	store_txn_abort(txn);
	return p;
}

/* The listing of the world from @p t (a plain tree, or a view's), malloc'd. */
static char *listing_of(struct fixture *f, const struct tree *t)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t root;
	assert_int_equal(tree_resolve_path(t, txn, "/root", &root), GROVE_OK);
	char *text = test_tree_listing(t, txn, root, TEST_LIST_IDS | TEST_LIST_CONNS);
	store_txn_abort(txn);
	return text;
}

/* The world of groups 1..@p n through a view. */
static char *view_listing(struct fixture *f, uint64_t n)
{
	const struct tree *groups[8];
	for (uint64_t g = 1; g <= n; g++)
		groups[g - 1] = &f->trees[g];
	struct tree_view v;
	assert_int_equal(tree_view_init(&v, groups, n, WORLD), GROVE_OK);
	char *text = listing_of(f, tree_view_group(&v, WORLD));
	tree_view_free(&v);
	return text;
}

/*
 * /root/World/ZoneA/{P1, P2}, /root/World/ZoneB/Q; P1 has a property that refers to resource R1 (a mesh),
 * whose properties refer to R2 (a material); R3 is referred to by nothing; P1 is in a group and connects to P2.
 */
static void build_world(struct fixture *f, uint64_t *r1, uint64_t *r2, uint64_t *r3)
{
	struct variant props = {0}, key = {0}, inner = {0}, ref_local = {0}, num = {0};
	assert_int_equal(variant_set_dict(&props), GROVE_OK);
	assert_int_equal(variant_set_string(&key, VARIANT_STRING, "material", 8), GROVE_OK);
	variant_set_resource_ref(&inner, -3); /* op 2: the material */
	assert_int_equal(variant_dict_put(&props, &key, &inner), GROVE_OK);
	variant_set_resource_ref(&ref_local, -4); /* op 3: the mesh */
	variant_set_int(&num, 7);
	struct tree_op ops[] = {
		create("/root", "World"),
		create("/root/World", "ZoneA"),
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Material",
		 .instance = "res://m.tres", .name = "1"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "BoxMesh", .name = "2",
		 .value = &props},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Script",
		 .instance = "res://unused.gd", .name = "3"},
		create("/root/World/ZoneA", "P1"),
		create("/root/World/ZoneA", "P2"),
		create("/root/World", "ZoneB"),
		create("/root/World/ZoneB", "Q"),
		{.kind = TREE_OP_SET_PROP, .node = at("/root/World/ZoneA/P1"), .name = "mesh", .value = &ref_local},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/World/ZoneA/P1"), .name = "hp", .value = &num},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/World/ZoneA"), .name = "hp", .value = &num},
		{.kind = TREE_OP_ADD_GROUP, .node = at("/root/World/ZoneA/P1"), .name = "players"},
		{.kind = TREE_OP_CONNECT, .node = at("/root/World/ZoneA/P1"), .target = at("/root/World/ZoneA/P2"),
		 .name = "hit", .text = "_on_hit"},
	};
	uint64_t ids[sizeof(ops) / sizeof(ops[0])];
	char msg[512];
	assert_int_equal(apply(f, WORLD, ops, sizeof(ops) / sizeof(ops[0]), msg, ids), GROVE_OK);
	variant_free(&num);
	*r1 = ids[3];
	*r2 = ids[2];
	*r3 = ids[4];
	variant_free(&props);
}

static int ignore_resource(void *ctx, const struct tree_resource *r)
{
	(void)ctx, (void)r;
	return 0;
}

static bool holds_resource(struct fixture *f, uint64_t g, uint64_t id)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	int err = tree_with_resource(&f->trees[g], txn, id, ignore_resource, NULL);
	store_txn_abort(txn);
	return err == GROVE_OK;
}

/* ---- moves across shards: a subtree carried out of one group and into another ---- */

static int dump_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct grove_buf *b = ctx;
	grove_buf_u8(b, (uint8_t)table);
	grove_buf_le32(b, (uint32_t)key_len);
	grove_buf_put(b, key, key_len);
	grove_buf_le32(b, (uint32_t)val_len);
	grove_buf_put(b, val, val_len);
	return 0;
}

/* Every record of group @p g's tree, as bytes (to see that a refusal changed nothing). */
static struct grove_buf dump_of(struct fixture *f, uint64_t g)
{
	struct store_txn *txn;
	struct grove_buf b = {0};
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_dump(&f->trees[g], txn, dump_record, &b), GROVE_OK);
	store_txn_abort(txn);
	return b;
}

static void assert_same_dump(struct fixture *f, uint64_t g, struct grove_buf *before)
{
	struct grove_buf now = dump_of(f, g);
	assert_int_equal(now.len, before->len);
	assert_memory_equal(now.data, before->data, now.len);
	grove_buf_free(&now);
	grove_buf_free(before);
}

/* The carried bytes of the subtree at @p path of group @p g; the refusal's code otherwise. */
static int gather(struct fixture *f, uint64_t g, const char *path, struct grove_buf *out, char *msg)
{
	struct store_txn *txn;
	struct tree_split_result res;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t id = 0;
	assert_int_equal(tree_resolve_path(&f->trees[g], txn, path, &id), GROVE_OK);
	int err = tree_carry_gather(&f->trees[g], txn, id, out, &res);
	store_txn_abort(txn);
	if (msg)
		snprintf(msg, 512, "%s", res.message);
	return err;
}

static struct tree_op carry_out(const char *path, uint64_t to, uint64_t new_parent, const char *path_after,
				const struct grove_buf *b)
{
	return (struct tree_op){.kind = TREE_OP_CARRY_OUT, .node = at(path), .target = {.id = (int64_t)new_parent},
				.text = path_after, .carried = b->data, .carried_len = b->len, .group = to};
}

static struct tree_op carry_in(const char *parent, const char *name, uint64_t from, const char *path_before,
			       const struct grove_buf *b)
{
	return (struct tree_op){.kind = TREE_OP_CARRY_IN, .target = at(parent), .name = name, .text = path_before,
				.index = -1, .carried = b->data, .carried_len = b->len, .group = from};
}

/* Apply one half of a move to group @p g, and check that its change record is the move of @p node. */
static void assert_move_recorded(struct fixture *f, uint64_t g, struct tree_op op, uint64_t node, uint64_t parent,
				 const char *path_after, const char *path_before)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {&op, 1};
	struct tree_result res = {.record_changes = true};
	assert_int_equal(tree_apply_batch(&f->trees[g], txn, &batch, &res), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	assert_int_equal(res.n_changes, 1);
	const struct tree_change *c = &res.changes[0];
	assert_int_equal(c->op, TREE_OP_MOVE);
	assert_int_equal(c->node, node);
	assert_int_equal(c->parent, parent);
	char *after, *before;
	assert_int_equal(tree_paths_string(&res.paths, c->path_step, &after), GROVE_OK);
	assert_int_equal(tree_paths_string(&res.paths, c->old_path_step, &before), GROVE_OK);
	assert_string_equal(after, path_after);
	assert_string_equal(before, path_before);
	free(after);
	free(before);
	tree_result_free(&res);
}

static void test_carry_moves_subtree(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	uint64_t zone = lookup(f, WORLD, "/root/World/ZoneA"), p1 = lookup(f, WORLD, "/root/World/ZoneA/P1");
	uint64_t q = lookup(f, WORLD, "/root/World/ZoneB/Q");
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneB", &res), GROVE_OK);
	char *before = view_listing(f, GA);
	uint64_t world_nodes = count_of(f, WORLD), ga_nodes = count_of(f, GA);

	/* ZoneA (three nodes, a connection inside, two resources) goes under ZoneB/Q, in shard GA. */
	struct grove_buf b = {0};
	char msg[512];
	assert_int_equal(gather(f, WORLD, "/root/World/ZoneA", &b, msg), GROVE_OK);
	assert_move_recorded(f, WORLD, carry_out("/root/World/ZoneA", GA, q, "/root/World/ZoneB/Q/Zone", &b), zone, q,
			     "/root/World/ZoneB/Q/Zone", "/root/World/ZoneA");
	assert_int_equal(count_of(f, WORLD), world_nodes - 3);
	assert_int_equal(lookup(f, WORLD, "/root/World/ZoneA"), 0);
	/* Named by id in the group it left, a carried node is elsewhere now: retry, routed afresh. */
	struct variant num = {0};
	variant_set_int(&num, 9);
	struct tree_op set_p1 = {.kind = TREE_OP_SET_PROP, .node = {.id = (int64_t)p1}, .name = "hp", .value = &num};
	assert_int_equal(apply1(f, WORLD, set_p1, msg), GROVE_EMOVED);

	assert_move_recorded(f, GA, carry_in("/root/World/ZoneB/Q", "Zone", WORLD, "/root/World/ZoneA", &b), zone, q,
			     "/root/World/ZoneB/Q/Zone", "/root/World/ZoneA");
	assert_int_equal(count_of(f, GA), ga_nodes + 3);
	assert_int_equal(lookup(f, GA, "/root/World/ZoneB/Q/Zone/P1"), p1);
	assert_true(holds_resource(f, GA, r1));
	assert_true(holds_resource(f, GA, r2));
	assert_false(holds_resource(f, GA, r3));
	assert_int_equal(apply1(f, GA, set_p1, msg), GROVE_OK);
	/* Across groups, the world is what it was but for the move (and the property set just now). */
	char *after = view_listing(f, GA);
	assert_non_null(strstr(after, "/root/World/ZoneB/Q/Zone/P1 #"));
	assert_non_null(strstr(after, "[players] hit->_on_hit"));
	assert_null(strstr(after, "/root/World/ZoneA"));
	assert_int_equal(strlen(after), strlen(before) + 3 * strlen("/ZoneB/Q") - 3 * strlen("A"));
	free(after);
	grove_buf_free(&b);

	/* And back, under another name: the marks of where the nodes went follow them. */
	assert_int_equal(gather(f, GA, "/root/World/ZoneB/Q/Zone", &b, msg), GROVE_OK);
	assert_int_equal(apply1(f, GA, carry_out("/root/World/ZoneB/Q/Zone", WORLD, zone, "/root/World/ZoneA", &b), msg),
			 GROVE_OK);
	struct tree_op back = carry_in("/root/World", "ZoneA", GA, "/root/World/ZoneB/Q/Zone", &b);
	back.index = 0; /* where it was among its siblings */
	assert_int_equal(apply1(f, WORLD, back, msg), GROVE_OK);
	grove_buf_free(&b);
	struct store_txn *txn;
	uint64_t g;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_moved_to(&f->trees[WORLD], txn, p1, &g), GROVE_ENOTFOUND);
	assert_int_equal(tree_moved_to(&f->trees[GA], txn, p1, &g), GROVE_OK);
	assert_int_equal(g, WORLD);
	store_txn_abort(txn);
	assert_int_equal(count_of(f, WORLD), world_nodes);
	assert_int_equal(count_of(f, GA), ga_nodes);
	/* The world is as it was, the property set in shard GA included. */
	after = view_listing(f, GA);
	assert_string_equal(after, before);
	free(after);
	free(before);
	variant_free(&num);
}

static void test_carry_refusals(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	uint64_t q = lookup(f, WORLD, "/root/World/ZoneB/Q");
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneB", &res), GROVE_OK);
	struct grove_buf b = {0};
	char msg[512];
	/* What cannot move: the root, a subtree holding a shard's root. */
	assert_int_equal(gather(f, WORLD, "/root", &b, msg), GROVE_EROOT);
	grove_buf_free(&b);
	assert_int_equal(gather(f, WORLD, "/root/World", &b, msg), GROVE_ECROSSSHARD);
	assert_non_null(strstr(msg, "/root/World/ZoneB, the root of shard 3"));
	grove_buf_free(&b);
	assert_int_equal(gather(f, GA, "/root/World/ZoneB", &b, msg), GROVE_EROOT);
	grove_buf_free(&b);

	/* A subtree that changed after it was gathered is not carried out: the transaction must read it again. */
	assert_int_equal(gather(f, WORLD, "/root/World/ZoneA", &b, msg), GROVE_OK);
	assert_int_equal(apply1(f, WORLD, create("/root/World/ZoneA/P2", "Late"), msg), GROVE_OK);
	struct grove_buf world = dump_of(f, WORLD);
	assert_int_equal(apply1(f, WORLD, carry_out("/root/World/ZoneA", GA, q, "/root/World/ZoneB/Q/ZoneA", &b), msg),
			 GROVE_ECHANGED);
	/* Its own group, or none, is not where a carry goes. */
	assert_int_equal(apply1(f, WORLD, carry_out("/root/World/ZoneA", WORLD, q, "/root/World/ZoneA", &b), msg),
			 GROVE_EINVAL);
	assert_same_dump(f, WORLD, &world);
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneA/P2/Late")},
				msg), GROVE_OK);

	/* Taking it in: a name taken, a parent that is not in the group, bytes that are not a carry. */
	struct grove_buf ga = dump_of(f, GA);
	uint64_t ga_nodes = count_of(f, GA);
	assert_int_equal(apply1(f, GA, carry_in("/root/World/ZoneB", "Q", WORLD, "/root/World/ZoneA", &b), msg),
			 GROVE_EEXIST);
	assert_int_equal(apply1(f, GA, carry_in("/root/World/ZoneB", "a/b", WORLD, "/root/World/ZoneA", &b), msg),
			 GROVE_EBADNAME);
	assert_int_equal(apply1(f, GA, carry_in("/root/World/Nowhere", "ZoneA", WORLD, "/root/World/ZoneA", &b), msg),
			 GROVE_ENOTFOUND);
	for (size_t cut = 0; cut < b.len; cut += 1 + cut / 8) {
		struct grove_buf part = {.data = b.data, .len = cut};
		assert_int_equal(apply1(f, GA, carry_in("/root/World/ZoneB", "ZoneA", WORLD, "/root/World/ZoneA", &part),
					msg), GROVE_EINVAL);
	}
	uint8_t saved = b.data[25];
	b.data[25] = TREE_MOUNTS; /* the first record's table: not one a carry holds */
	assert_int_equal(apply1(f, GA, carry_in("/root/World/ZoneB", "ZoneA", WORLD, "/root/World/ZoneA", &b), msg),
			 GROVE_EINVAL);
	b.data[25] = saved;
	b.data[27] ^= 1; /* the first record's key: not the root's */
	assert_int_equal(apply1(f, GA, carry_in("/root/World/ZoneB", "ZoneA", WORLD, "/root/World/ZoneA", &b), msg),
			 GROVE_EINVAL);
	b.data[27] ^= 1;
	assert_same_dump(f, GA, &ga);
	assert_int_equal(count_of(f, GA), ga_nodes);
	/* Taken in once, not twice. */
	assert_int_equal(apply1(f, GA, carry_in("/root/World/ZoneB", "ZoneA", WORLD, "/root/World/ZoneA", &b), msg),
			 GROVE_OK);
	assert_int_equal(apply1(f, GA, carry_in("/root/World/ZoneB/Q", "ZoneA", WORLD, "/root/World/ZoneA", &b), msg),
			 GROVE_EEXIST);
	assert_non_null(strstr(msg, "is in shard 3 already"));
	assert_int_equal(count_of(f, GA), ga_nodes + 3);
	grove_buf_free(&b);
}

static void test_split_moves_records(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	char *before = listing_of(f, &f->trees[WORLD]);
	uint64_t zone = lookup(f, WORLD, "/root/World/ZoneA"), p1 = lookup(f, WORLD, "/root/World/ZoneA/P1");
	uint64_t nodes_before = count_of(f, WORLD);
	assert_int_equal(nodes_before, 7);
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneA", &res), GROVE_OK);
	assert_int_equal(res.root, zone);
	assert_int_equal(res.nodes, 3);
	assert_int_equal(res.resources, 2); /* R1 and, through it, R2; not R3 */
	/* The source keeps the root as a mount point and forgets the rest; the counts add up. */
	assert_int_equal(lookup(f, WORLD, "/root/World/ZoneA"), zone);
	assert_int_equal(lookup(f, WORLD, "/root/World/ZoneA/P1"), 0);
	assert_int_equal(count_of(f, WORLD), nodes_before - 3);
	assert_int_equal(count_of(f, GA), 3);
	struct store_txn *txn;
	uint64_t g;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_mount_of(&f->trees[WORLD], txn, zone, &g), GROVE_OK);
	assert_int_equal(g, GA);
	assert_int_equal(tree_moved_to(&f->trees[WORLD], txn, p1, &g), GROVE_OK);
	assert_int_equal(g, GA);
	assert_int_equal(tree_moved_to(&f->trees[WORLD], txn, zone, &g), GROVE_ENOTFOUND);
	uint64_t root;
	char *root_path;
	assert_int_equal(tree_shard_root(&f->trees[GA], txn, &root, &root_path), GROVE_OK);
	assert_int_equal(root, zone);
	assert_string_equal(root_path, "/root/World/ZoneA");
	free(root_path);
	assert_int_equal(tree_shard_root(&f->trees[WORLD], txn, &root, &root_path), GROVE_OK);
	assert_int_equal(root, TREE_ROOT_ID);
	assert_string_equal(root_path, "/root");
	free(root_path);
	store_txn_abort(txn);
	/* The new group resolves its paths, with the same ids, and knows where it hangs in the world. */
	assert_int_equal(lookup(f, GA, "/root/World/ZoneA/P1"), p1);
	assert_int_equal(lookup(f, GA, "/root/World/ZoneA"), zone);
	assert_int_equal(lookup(f, GA, "/root/World//ZoneA/P1/"), p1);
	assert_int_equal(lookup(f, GA, "/root/World/ZoneB"), 0);
	assert_int_equal(lookup(f, GA, "/root"), 0);
	char *p = path_of(f, GA, p1);
	assert_string_equal(p, "/root/World/ZoneA/P1");
	free(p);
	assert_true(holds_resource(f, GA, r1));
	assert_true(holds_resource(f, GA, r2));
	assert_false(holds_resource(f, GA, r3));
	assert_true(holds_resource(f, WORLD, r1)); /* copied, not moved */
	/* Read across groups, the world is what it was. */
	char *after = view_listing(f, GA);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

static void test_writes_after_split(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	uint64_t p1 = lookup(f, WORLD, "/root/World/ZoneA/P1"), zone = lookup(f, WORLD, "/root/World/ZoneA");
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneA", &res), GROVE_OK);
	char msg[512];
	struct variant one = {0};
	variant_set_int(&one, 1);
	/* In the source: anything under or at the mount point is "moved", by path or by id. */
	struct tree_op set = {.kind = TREE_OP_SET_PROP, .node = at("/root/World/ZoneA/P1"), .name = "x", .value = &one};
	assert_int_equal(apply1(f, WORLD, set, msg), GROVE_EMOVED);
	assert_non_null(strstr(msg, "shard 3"));
	set.node = (struct tree_ref){.id = (int64_t)p1};
	assert_int_equal(apply1(f, WORLD, set, msg), GROVE_EMOVED);
	set.node = at("/root/World/ZoneA");
	assert_int_equal(apply1(f, WORLD, set, msg), GROVE_EMOVED);
	set.node = (struct tree_ref){.id = (int64_t)zone};
	assert_int_equal(apply1(f, WORLD, set, msg), GROVE_EMOVED);
	assert_int_equal(apply1(f, WORLD, create("/root/World/ZoneA", "New"), msg), GROVE_EMOVED);
	assert_int_equal(apply1(f, WORLD, create("/root/World/ZoneA/P1", "New"), msg), GROVE_EMOVED);
	/* The mount point keeps its name taken; its siblings and parent go on. */
	assert_int_equal(apply1(f, WORLD, create("/root/World", "ZoneA"), msg), GROVE_EEXIST);
	assert_int_equal(apply1(f, WORLD, create("/root/World", "ZoneC"), msg), GROVE_OK);
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_RENAME, .node = at("/root/World/ZoneB"),
							   .name = "ZoneB2"}, msg), GROVE_OK);
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_REORDER, .node = at("/root/World/ZoneC"),
							   .index = 0}, msg), GROVE_OK);
	/* A shard root's ancestors cannot be renamed, moved or deleted: its path would change. */
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_RENAME, .node = at("/root/World"),
							   .name = "W"}, msg), GROVE_ECROSSSHARD);
	assert_non_null(strstr(msg, "/root/World/ZoneA is the root of shard 3"));
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/World"),
							   .target = at("/root/World/ZoneC"), .index = -1}, msg), GROVE_ECYCLE);
	assert_int_equal(apply1(f, WORLD, create("/root", "Other"), msg), GROVE_OK);
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/World"),
							   .target = at("/root/Other"), .index = -1}, msg), GROVE_ECROSSSHARD);
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World")}, msg),
			 GROVE_ECROSSSHARD);
	assert_int_equal(lookup(f, WORLD, "/root/World/ZoneC") != 0, true); /* the refused delete left it all */
	/* A move into the mount point is refused too (it would be cross-shard). */
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/World/ZoneC"),
							   .target = at("/root/World/ZoneA"), .index = -1}, msg), GROVE_EMOVED);
	/* In the new group: writes work, new ids come from its block, the root stays put. */
	uint64_t ids[1];
	struct tree_op add = create("/root/World/ZoneA/P1", "Sword");
	assert_int_equal(apply(f, GA, &add, 1, msg, ids), GROVE_OK);
	assert_int_equal(ids[0], (uint64_t)GA << TREE_ID_BLOCK_BITS);
	char *p = path_of(f, GA, ids[0]);
	assert_string_equal(p, "/root/World/ZoneA/P1/Sword");
	free(p);
	set.node = at("/root/World/ZoneA/P1/Sword");
	assert_int_equal(apply1(f, GA, set, msg), GROVE_OK);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/World/ZoneA/P1"),
							.target = at("/root/World/ZoneA/P2"), .index = -1}, msg), GROVE_OK);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/World/ZoneA/P2"),
							.target = at("/root/World/ZoneA/P2/P1"), .index = -1}, msg), GROVE_ECYCLE);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneA")}, msg),
			 GROVE_EROOT);
	assert_non_null(strstr(msg, "root of shard 3"));
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_RENAME, .node = at("/root/World/ZoneA"),
							.name = "Z"}, msg), GROVE_EROOT);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_REORDER, .node = at("/root/World/ZoneA"),
							.index = 0}, msg), GROVE_EROOT);
	assert_int_equal(apply1(f, GA, create("/root/World/ZoneB2", "X"), msg), GROVE_ENOTFOUND);
	assert_non_null(strstr(msg, "in this shard"));
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneA/P2")},
			      msg), GROVE_OK);
	assert_int_equal(count_of(f, GA), 1);
	assert_int_equal(lookup(f, GA, "/root/World/ZoneA/P2/P1"), 0);
	variant_free(&one);
}

static void test_split_refusals(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root", &res), GROVE_EROOT);
	assert_non_null(strstr(res.message, "world's root"));
	assert_int_equal(split(f, WORLD, GA, "/root/Nowhere", &res), GROVE_ENOTFOUND);
	assert_int_equal(split(f, WORLD, GA, "root/World", &res), GROVE_EINVAL);
	assert_int_equal(split(f, WORLD, WORLD, "/root/World", &res), GROVE_EINVAL);
	assert_int_equal(count_of(f, GA), 1); /* the default of a group that holds nothing */
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneA", &res), GROVE_OK);
	assert_int_equal(split(f, WORLD, 4, "/root/World/ZoneA", &res), GROVE_EEXIST);
	assert_non_null(strstr(res.message, "already"));
	assert_int_equal(split(f, WORLD, 4, "/root/World/ZoneA/P2", &res), GROVE_EMOVED);
	assert_int_equal(split(f, GA, 4, "/root/World/ZoneA", &res), GROVE_EROOT);
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneB", &res), GROVE_EEXIST); /* group 3 holds a tree */
	assert_int_equal(split(f, GA, 4, "/root/World/ZoneB", &res), GROVE_ENOTFOUND);
}

static void test_nested_splits_and_view(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	char msg[512];
	char *before = listing_of(f, &f->trees[WORLD]);
	struct tree_split_result res;
	/* A shard inside a shard, then its parent split off with it, then a split inside the first. */
	assert_int_equal(split(f, WORLD, 3, "/root/World/ZoneA", &res), GROVE_OK);
	assert_int_equal(split(f, WORLD, 4, "/root/World", &res), GROVE_OK);
	assert_int_equal(res.nodes, 3); /* World, ZoneB, Q; ZoneA's mount point went along, not counted */
	char *connected = view_listing(f, 4);
	assert_int_equal(split(f, 3, 5, "/root/World/ZoneA/P2", &res), GROVE_OK); /* P1 connects to it, across now */
	assert_int_equal(count_of(f, WORLD) + count_of(f, 3) + count_of(f, 4) + count_of(f, 5), 7);
	char *after = view_listing(f, 5);
	assert_string_equal(after, connected);
	assert_non_null(strstr(after, "hit->_on_hit"));
	free(after);
	free(connected);
	/* Writes land in the right groups and the view sees them all. */
	assert_int_equal(apply1(f, 5, create("/root/World/ZoneA/P2", "Deep"), msg), GROVE_OK);
	assert_int_equal(apply1(f, 4, create("/root/World/ZoneB", "Q2"), msg), GROVE_OK);
	assert_int_equal(apply1(f, 3, create("/root/World/ZoneA/P2", "No"), msg), GROVE_EMOVED);
	assert_int_equal(apply1(f, 4, create("/root/World/ZoneA", "No"), msg), GROVE_EMOVED);
	assert_int_equal(apply1(f, WORLD, create("/root/World/ZoneB", "No"), msg), GROVE_EMOVED);
	after = view_listing(f, 5);
	assert_non_null(strstr(after, "/root/World/ZoneA/P2/Deep #"));
	assert_non_null(strstr(after, "/root/World/ZoneB/Q2 #"));
	assert_null(strstr(after, "/No"));
	/* Paths resolve through the view from the world's root, across every mount point on the way. */
	const struct tree *groups[5] = {&f->trees[1], &f->trees[2], &f->trees[3], &f->trees[4], &f->trees[5]};
	struct tree_view v;
	assert_int_equal(tree_view_init(&v, groups, 5, WORLD), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	uint64_t deep;
	assert_int_equal(tree_resolve_path(tree_view_group(&v, 3), txn, "/root/World/ZoneA/P2/Deep", &deep), GROVE_OK);
	assert_int_equal(deep, (uint64_t)5 << TREE_ID_BLOCK_BITS);
	char *p;
	assert_int_equal(tree_node_path(tree_view_group(&v, WORLD), txn, deep, &p), GROVE_OK);
	assert_string_equal(p, "/root/World/ZoneA/P2/Deep");
	free(p);
	struct variant got = {0};
	assert_int_equal(tree_get_prop(tree_view_group(&v, WORLD), txn, lookup(f, 3, "/root/World/ZoneA/P1"), "hp", &got),
			 GROVE_OK);
	assert_int_equal(got.as.i, 7);
	variant_free(&got);
	assert_int_equal(tree_with_resource(tree_view_group(&v, 4), txn, r2, ignore_resource, NULL), GROVE_OK);
	store_txn_abort(txn);
	tree_view_free(&v);
	free(after);
	free(before);
}

static int collect(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct grove_buf *b = ctx;
	uint8_t head[12];
	put_be32(head, table);
	put_be32(head + 4, (uint32_t)key_len);
	put_be32(head + 8, (uint32_t)val_len);
	grove_buf_put(b, head, sizeof(head));
	grove_buf_put(b, key, key_len);
	grove_buf_put(b, val, val_len);
	return 0;
}

/* Replace group @p to's tree with the records of @p dump (collect()'s format) in @p txn. */
static void load_dump(struct fixture *f, struct store_txn *txn, uint64_t to, const struct grove_buf *dump)
{
	assert_int_equal(tree_load_begin(&f->trees[to], txn), GROVE_OK);
	for (size_t at = 0; at < dump->len;) {
		unsigned table = get_be32(dump->data + at);
		uint32_t klen = get_be32(dump->data + at + 4), vlen = get_be32(dump->data + at + 8);
		assert_int_equal(tree_load_record(&f->trees[to], txn, table, dump->data + at + 12, klen,
						  dump->data + at + 12 + klen, vlen), GROVE_OK);
		at += 12 + klen + vlen;
	}
	assert_int_equal(tree_load_end(&f->trees[to], txn), GROVE_OK);
}

/* Load group @p from's records, as a snapshot carries them, into group @p to. */
static void copy_group(struct fixture *f, uint64_t from, uint64_t to)
{
	struct store_txn *txn;
	struct grove_buf dump = {0};
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_dump(&f->trees[from], txn, collect, &dump), GROVE_OK);
	load_dump(f, txn, to, &dump);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	grove_buf_free(&dump);
}

/* A split-born group's records (a snapshot of it) load into another group and make the same shard. */
/*
 * A view that lacks the group a split made (a read in the turn that applied the split, before the group was
 * started; a member whose new group waits for its first snapshot) never reads the mount point left in the
 * source as the node: the node, its properties, its path and its subtree's nodes are GROVE_EMOVED (retry),
 * and the nodes outside the split read as before. With the group in the view they read whole.
 */
static void test_view_without_the_new_group(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	uint64_t zone = lookup(f, WORLD, "/root/World/ZoneA"), p1 = lookup(f, WORLD, "/root/World/ZoneA/P1");
	uint64_t q = lookup(f, WORLD, "/root/World/ZoneB/Q");
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, 3, "/root/World/ZoneA", &res), GROVE_OK);
	struct tree_view v;
	const struct tree *world_only[] = {&f->trees[WORLD]};
	assert_int_equal(tree_view_init(&v, world_only, 1, WORLD), GROVE_OK);
	const struct tree *t = tree_view_group(&v, WORLD);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	struct tree_node n;
	assert_int_equal(tree_get_node(t, txn, zone, &n), GROVE_EMOVED); /* before: the mount point, as ZoneA */
	assert_int_equal(tree_get_node(t, txn, p1, &n), GROVE_EMOVED);
	struct variant got = {0};
	assert_int_equal(tree_get_prop(t, txn, p1, "hp", &got), GROVE_EMOVED);
	char *path = NULL;
	assert_int_equal(tree_node_path(t, txn, p1, &path), GROVE_EMOVED);
	assert_null(path);
	uint64_t group;
	assert_int_equal(tree_view_locate(&v, txn, zone, &group), GROVE_EMOVED);
	assert_int_equal(tree_get_node(t, txn, q, &n), GROVE_OK);
	assert_string_equal(n.name, "Q");
	tree_node_free(&n);
	assert_int_equal(tree_get_node(t, txn, (uint64_t)9 << 40, &n), GROVE_ENOTFOUND); /* no such id anywhere */
	store_txn_abort(txn);
	tree_view_free(&v);
	/* With the new group in the view, ZoneA and P1 are themselves again. */
	const struct tree *both[] = {&f->trees[WORLD], &f->trees[3]};
	assert_int_equal(tree_view_init(&v, both, 2, WORLD), GROVE_OK);
	t = tree_view_group(&v, WORLD);
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_get_prop(t, txn, p1, "hp", &got), GROVE_OK);
	assert_int_equal(got.as.i, 7);
	variant_free(&got);
	assert_int_equal(tree_node_path(t, txn, p1, &path), GROVE_OK);
	assert_string_equal(path, "/root/World/ZoneA/P1");
	free(path);
	assert_int_equal(tree_view_locate(&v, txn, zone, &group), GROVE_OK);
	assert_int_equal(group, 3);
	store_txn_abort(txn);
	/* A moved node deleted where it went is gone, not "moved": its id is not found, as without a view. */
	char msg[512];
	assert_int_equal(apply1(f, 3, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneA/P1")}, msg),
			 GROVE_OK);
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_get_node(t, txn, p1, &n), GROVE_ENOTFOUND);
	assert_int_equal(tree_get_prop(t, txn, p1, "hp", &got), GROVE_ENOTFOUND);
	store_txn_abort(txn);
	tree_view_free(&v);
}

static void test_split_group_snapshot(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneA", &res), GROVE_OK);
	copy_group(f, GA, 6);
	assert_int_equal(count_of(f, 6), 3);
	assert_int_equal(lookup(f, 6, "/root/World/ZoneA/P1"), lookup(f, GA, "/root/World/ZoneA/P1"));
	uint64_t ids[1];
	assert_int_equal(apply(f, 6, (struct tree_op[]){create("/root/World/ZoneA", "N")}, 1, NULL, ids), GROVE_OK);
	assert_int_equal(ids[0], (uint64_t)GA << TREE_ID_BLOCK_BITS); /* the block came with the records */
	/* The source's snapshot keeps its mount point and moved ids. */
	copy_group(f, WORLD, 7);
	assert_int_equal(count_of(f, 7), count_of(f, WORLD));
	char msg[512];
	assert_int_equal(apply1(f, 7, create("/root/World/ZoneA", "X"), msg), GROVE_EMOVED);
}

/* One record of a dump, for sorting dumps into sets. */
struct record_slice {
	const uint8_t *at;
	size_t len;
};

static int by_bytes(const void *a, const void *b)
{
	const struct record_slice *x = a, *y = b;
	int c = memcmp(x->at, y->at, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The records of a dump (collect()'s format) sorted, without the meta records a dump of the world drops. */
static struct grove_buf record_set(const struct grove_buf *dump)
{
	struct record_slice *slices = calloc(dump->len / 12 + 1, sizeof(*slices));
	size_t n = 0;
	for (size_t at = 0; at < dump->len;) {
		unsigned table = get_be32(dump->data + at);
		uint32_t klen = get_be32(dump->data + at + 4), vlen = get_be32(dump->data + at + 8);
		bool counter = klen == 7 && memcmp(dump->data + at + 12, "next_id", 7) == 0;
		if (table != TREE_META || counter)
			slices[n++] = (struct record_slice){dump->data + at, 12 + klen + vlen};
		at += 12 + klen + vlen;
	}
	qsort(slices, n, sizeof(*slices), by_bytes);
	struct grove_buf set = {0};
	for (size_t i = 0; i < n; i++)
		grove_buf_put(&set, slices[i].at, slices[i].len);
	free(slices);
	return set;
}

/* The world of groups 1..@p n dumped as one tree (tree_view_dump()) in @p txn, into @p dump. */
static void dump_world(struct fixture *f, uint64_t n, struct store_txn *txn, struct grove_buf *dump)
{
	const struct tree *groups[8];
	for (uint64_t g = 1; g <= n; g++)
		groups[g - 1] = &f->trees[g];
	struct tree_view v;
	assert_int_equal(tree_view_init(&v, groups, n, WORLD), GROVE_OK);
	assert_int_equal(tree_view_dump(&v, txn, collect, dump), GROVE_OK);
	tree_view_free(&v);
}

/* Group @p g's records as a sorted record set. */
static struct grove_buf group_records(struct fixture *f, uint64_t g)
{
	struct store_txn *txn;
	struct grove_buf dump = {0};
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_dump(&f->trees[g], txn, collect, &dump), GROVE_OK);
	store_txn_abort(txn);
	struct grove_buf set = record_set(&dump);
	grove_buf_free(&dump);
	return set;
}

/* The world of groups 1..@p n dumped as one tree, as a sorted record set. */
static struct grove_buf world_records(struct fixture *f, uint64_t n)
{
	struct store_txn *txn;
	struct grove_buf dump = {0};
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	dump_world(f, n, txn, &dump);
	store_txn_abort(txn);
	struct grove_buf set = record_set(&dump);
	grove_buf_free(&dump);
	return set;
}

/* Load the world of groups 1..@p n, dumped as one tree, into the empty group @p to. */
static void load_world(struct fixture *f, uint64_t n, uint64_t to)
{
	struct store_txn *txn;
	struct grove_buf dump = {0};
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	dump_world(f, n, txn, &dump);
	load_dump(f, txn, to, &dump);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	grove_buf_free(&dump);
}

/*
 * A world split into shards (nested ones too) dumps as the one tree it was before the splits, record for
 * record; loaded into an empty group it is that world without shards, and writes made in the shards since
 * are in it with their ids.
 */
static void test_world_dump_is_one_tree(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	struct grove_buf before = group_records(f, WORLD);
	char *listing = listing_of(f, &f->trees[WORLD]);
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneA", &res), GROVE_OK);
	assert_int_equal(split(f, WORLD, 4, "/root/World", &res), GROVE_OK);
	assert_int_equal(split(f, 4, 5, "/root/World/ZoneB/Q", &res), GROVE_OK);
	struct grove_buf after = world_records(f, 5);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.data, before.data, before.len);
	grove_buf_free(&after);
	grove_buf_free(&before);
	load_world(f, 5, 6);
	char *loaded = listing_of(f, &f->trees[6]);
	assert_string_equal(loaded, listing);
	free(loaded);
	free(listing);
	/* A node made in a shard keeps its id from the shard's block; the world's counter goes on. */
	char msg[512];
	assert_int_equal(apply1(f, 5, create("/root/World/ZoneB/Q", "Deep"), msg), GROVE_OK);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneA/P2")},
				msg), GROVE_OK);
	uint64_t total = count_of(f, WORLD) + count_of(f, GA) + count_of(f, 4) + count_of(f, 5);
	char *shards = view_listing(f, 5);
	load_world(f, 5, 7);
	assert_int_equal(count_of(f, 7), total);
	loaded = listing_of(f, &f->trees[7]);
	assert_string_equal(loaded, shards);
	assert_int_equal(lookup(f, 7, "/root/World/ZoneB/Q/Deep"), (uint64_t)5 << TREE_ID_BLOCK_BITS);
	assert_int_equal(lookup(f, 7, "/root/World/ZoneA/P2"), 0);
	assert_true(holds_resource(f, 7, r1) && holds_resource(f, 7, r2) && holds_resource(f, 7, r3));
	uint64_t ids[1];
	assert_int_equal(apply(f, 7, (struct tree_op[]){create("/root/World/ZoneA", "N")}, 1, NULL, ids), GROVE_OK);
	assert_true(ids[0] > lookup(f, 7, "/root/World/ZoneB/Q") && ids[0] < (uint64_t)2 << TREE_ID_BLOCK_BITS);
	free(loaded);
	free(shards);
}

/* Apply @p op to group @p g with change records: how many it made, and the first one's kind (0 if none). */
static int apply_recorded(struct fixture *f, uint64_t g, struct tree_op op, char *msg, size_t *n_changes,
			  enum tree_op_kind *kind)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {&op, 1};
	struct tree_result res = {.record_changes = true};
	int err = tree_apply_batch(&f->trees[g], txn, &batch, &res);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	snprintf(msg, 512, "%s", res.message);
	*n_changes = res.n_changes;
	*kind = res.n_changes ? res.changes[0].op : 0;
	tree_result_free(&res);
	return err;
}

static struct tree_op across(enum tree_op_kind kind, uint64_t from, uint64_t to, const char *signal, const char *method)
{
	return (struct tree_op){.kind = kind, .node = {.id = (int64_t)from}, .target = {.id = (int64_t)to},
				.name = signal, .text = method};
}

/*
 * A connection between a node inside a split's subtree and one outside becomes a connection across shards: the
 * world reads and dumps as it did, neither end is deleted alone, a later split takes its
 * half along, and the halves are made and removed one group at a time (a transaction's parts), the change
 * recorded once, by the source's group.
 */
static void test_split_keeps_connections_across(void **state)
{
	struct fixture *f = *state;
	uint64_t r1, r2, r3;
	build_world(f, &r1, &r2, &r3);
	char msg[512];
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_CONNECT, .node = at("/root/World/ZoneB/Q"),
							   .target = at("/root/World/ZoneA/P2"), .name = "seen",
							   .text = "_on_seen"}, msg), GROVE_OK);
	uint64_t q = lookup(f, WORLD, "/root/World/ZoneB/Q"), p1 = lookup(f, WORLD, "/root/World/ZoneA/P1"),
		 p2 = lookup(f, WORLD, "/root/World/ZoneA/P2");
	char *listing = listing_of(f, &f->trees[WORLD]);
	struct grove_buf before = group_records(f, WORLD);
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneA", &res), GROVE_OK);
	char *now = view_listing(f, GA);
	assert_string_equal(now, listing);
	free(now);
	struct grove_buf world = world_records(f, GA);
	assert_int_equal(world.len, before.len);
	assert_memory_equal(world.data, before.data, before.len);
	grove_buf_free(&world);

	/* Neither end goes alone. */
	struct grove_buf ga = dump_of(f, GA);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneA/P2")}, msg),
			 GROVE_ECHANGED);
	assert_non_null(strstr(msg, "seen -> _on_seen"));
	assert_same_dump(f, GA, &ga);
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneB")}, msg),
			 GROVE_ECHANGED);

	/* ZoneB split off too: the world's half goes with Q, and the world keeps no record of it. */
	assert_int_equal(split(f, WORLD, 4, "/root/World/ZoneB", &res), GROVE_OK);
	now = view_listing(f, 4);
	assert_string_equal(now, listing);
	free(now);
	world = world_records(f, 4);
	assert_int_equal(world.len, before.len);
	assert_memory_equal(world.data, before.data, before.len);
	grove_buf_free(&world);
	size_t n;
	enum tree_op_kind kind;
	assert_int_equal(apply_recorded(f, WORLD, across(TREE_OP_DISCONNECT_ACROSS, q, p2, "seen", "_on_seen"), msg, &n,
					&kind), GROVE_EMOVED);

	/* The halves, removed one group at a time: only the source's records a change. */
	assert_int_equal(apply_recorded(f, GA, across(TREE_OP_DISCONNECT_ACROSS, q, p2, "seen", "_on_seen"), msg, &n, &kind),
			 GROVE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(apply_recorded(f, 4, across(TREE_OP_DISCONNECT_ACROSS, q, p2, "seen", "_on_seen"), msg, &n, &kind),
			 GROVE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(kind, TREE_OP_DISCONNECT);
	assert_int_equal(apply_recorded(f, 4, across(TREE_OP_DISCONNECT_ACROSS, q, p2, "seen", "_on_seen"), msg, &n, &kind),
			 GROVE_ENOTFOUND);
	now = view_listing(f, 4);
	assert_null(strstr(now, "seen->_on_seen"));
	free(now);

	/* Made again, between other nodes: each group's half under its own id, the world one connection. */
	assert_int_equal(apply_recorded(f, 4, across(TREE_OP_CONNECT_ACROSS, q, p1, "again", "_m"), msg, &n, &kind),
			 GROVE_OK);
	assert_int_equal(kind, TREE_OP_CONNECT);
	assert_int_equal(apply_recorded(f, GA, across(TREE_OP_CONNECT_ACROSS, q, p1, "again", "_m"), msg, &n, &kind),
			 GROVE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(apply_recorded(f, GA, across(TREE_OP_CONNECT_ACROSS, q, p1, "again", "_m"), msg, &n, &kind),
			 GROVE_EEXIST);
	assert_int_equal(apply_recorded(f, GA, across(TREE_OP_CONNECT_ACROSS, p1, p2, "both", "_here"), msg, &n, &kind),
			 GROVE_ECHANGED);
	now = view_listing(f, 4);
	assert_non_null(strstr(now, "again->_m"));
	load_world(f, 4, 6);
	char *loaded = listing_of(f, &f->trees[6]);
	assert_string_equal(loaded, now);
	assert_int_equal(apply1(f, 6, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneB")}, msg),
			 GROVE_OK); /* one tree again: nothing across */
	free(loaded);
	free(now);
	/* With its half removed there as well, a node goes. */
	assert_int_equal(apply1(f, 4, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneB/Q")}, msg),
			 GROVE_ECHANGED);
	assert_int_equal(apply(f, 4, (struct tree_op[]){across(TREE_OP_DISCONNECT_ACROSS, q, p1, "again", "_m"),
							 {.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneB/Q")}},
			       2, msg, NULL), GROVE_OK);
	assert_int_equal(apply1(f, GA, across(TREE_OP_DISCONNECT_ACROSS, q, p1, "again", "_m"), msg), GROVE_OK);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_DELETE, .node = at("/root/World/ZoneA/P1")}, msg),
			 GROVE_OK);
	free(listing);
	grove_buf_free(&before);
	grove_buf_free(&ga);
}

/* ---- a carry of a subtree with connections to nodes outside it ---- */

static struct tree_op connect_op(const char *from, const char *to, const char *signal, const char *method,
				 const struct variant *binds)
{
	return (struct tree_op){.kind = TREE_OP_CONNECT, .node = at(from), .target = at(to), .name = signal,
				.text = method, .value = binds};
}

/* Move the subtree at @p path of group @p from under @p parent (a node of group @p to) as a transaction's two parts do. */
static void carry(struct fixture *f, uint64_t from, uint64_t to, const char *path, const char *parent, const char *name,
		  int64_t index)
{
	struct grove_buf b = {0};
	char msg[512], after[256];
	assert_int_equal(gather(f, from, path, &b, msg), GROVE_OK);
	snprintf(after, sizeof(after), "%s/%s", parent, name);
	assert_int_equal(apply1(f, from, carry_out(path, to, lookup(f, to, parent), after, &b), msg), GROVE_OK);
	struct tree_op in = carry_in(parent, name, from, path, &b);
	in.index = index;
	assert_int_equal(apply1(f, to, in, msg), GROVE_OK);
	grove_buf_free(&b);
}

static void assert_same_records(struct grove_buf *a, struct grove_buf *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->data, b->data, a->len);
	grove_buf_free(a);
	grove_buf_free(b);
}

struct binds_of {
	const char *signal;
	struct grove_buf canonical;
	int seen;
};

static int find_binds(void *ctx, const struct tree_connection *c)
{
	struct binds_of *b = ctx;
	if (strcmp(c->signal, b->signal) == 0) {
		b->seen++;
		assert_int_equal(variant_encode(c->binds, &b->canonical), GROVE_OK);
	}
	return 0;
}

/*
 * A subtree carried to another shard takes its connections with nodes outside it along, whichever group holds
 * the other end: the world (read and dumped as one tree) is the world a plain move makes in a world without
 * shards, record for record, binds included, there and back; the ends left behind are connections across
 * shards (neither goes alone), those met in the group it enters are connections within it again, and a third
 * group's half stays as it was. Halves that two groups numbered each on its own become one connection, with
 * the source's binds; a carry-in whose half is gone is refused and changes nothing.
 */
static void test_carry_keeps_connections_leaving(void **state)
{
	struct fixture *f = *state;
	struct variant seven = {0}, binds = {0};
	variant_set_int(&seven, 7);
	assert_int_equal(variant_set_array(&binds), GROVE_OK);
	assert_int_equal(variant_array_push(&binds, &seven), GROVE_OK);
	const char *P = "/root/World/ZoneA/P", *GUN = "/root/World/ZoneA/P/Gun", *N = "/root/World/ZoneA/N",
		   *Q = "/root/World/ZoneB/Q", *R = "/root/World/ZoneC/R";
	struct tree_op ops[] = {
		create("/root", "Manager"), create("/root", "World"), create("/root/World", "ZoneA"),
		create("/root/World/ZoneA", "P"), create(P, "Gun"), create("/root/World/ZoneA", "N"),
		create("/root/World", "ZoneB"), create("/root/World/ZoneB", "Q"), create("/root/World", "ZoneC"),
		create("/root/World/ZoneC", "R"),
		connect_op(P, N, "hit", "_on_hit", &binds),     /* within the group it leaves, either way */
		connect_op(N, P, "heal", "_on_heal", NULL),
		connect_op(P, Q, "seen", "_on_seen", &binds),   /* with the group it enters, either way */
		connect_op(Q, P, "ping", "_on_ping", &binds),
		connect_op(GUN, R, "aim", "_on_aim", &binds),   /* with a third group, either way */
		connect_op(R, GUN, "lock", "_on_lock", NULL),
		connect_op(P, GUN, "fire", "_fire", NULL),      /* inside */
		connect_op("/root/Manager", P, "tick", "_on_tick", NULL),
	};
	char msg[512];
	assert_int_equal(apply(f, WORLD, ops, sizeof(ops) / sizeof(ops[0]), msg, NULL), GROVE_OK);
	copy_group(f, WORLD, 6); /* the same world without shards */
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/World/ZoneB", &res), GROVE_OK);
	assert_int_equal(split(f, WORLD, 4, "/root/World/ZoneC", &res), GROVE_OK);
	struct grove_buf dump4 = dump_of(f, 4);

	/* P (with Gun) into ZoneB/Q, shard GA; in the world without shards, a move. */
	carry(f, WORLD, GA, P, Q, "P", -1);
	assert_int_equal(apply1(f, 6, (struct tree_op){.kind = TREE_OP_MOVE, .node = at(P), .target = at(Q), .index = -1},
				msg), GROVE_OK);
	struct grove_buf world = world_records(f, 4), plain = group_records(f, 6);
	assert_same_records(&world, &plain);
	char *sharded = view_listing(f, 4), *one = listing_of(f, &f->trees[6]);
	assert_string_equal(sharded, one);
	assert_non_null(strstr(sharded, "/root/World/ZoneB/Q/P #"));
	free(sharded);
	free(one);
	assert_same_dump(f, 4, &dump4); /* R's group: its halves name P's nodes by id, wherever they are */

	/* N's end is across shards now: it does not go alone; Q's end is within its group again: it does. */
	struct grove_buf before = dump_of(f, WORLD);
	assert_int_equal(apply1(f, WORLD, (struct tree_op){.kind = TREE_OP_DELETE, .node = at(N)}, msg), GROVE_ECHANGED);
	assert_same_dump(f, WORLD, &before);
	uint64_t p = lookup(f, GA, "/root/World/ZoneB/Q/P"), n = lookup(f, WORLD, N);
	assert_int_equal(apply1(f, GA, across(TREE_OP_CONNECT_ACROSS, p, n, "hit", "_on_hit"), msg), GROVE_EEXIST);

	/* And back to ZoneA, first among its children: the world is still the one a move makes. */
	carry(f, GA, WORLD, "/root/World/ZoneB/Q/P", "/root/World/ZoneA", "P", 0);
	assert_int_equal(apply1(f, 6, (struct tree_op){.kind = TREE_OP_MOVE, .node = at("/root/World/ZoneB/Q/P"),
						       .target = at("/root/World/ZoneA"), .index = 0}, msg), GROVE_OK);
	world = world_records(f, 4), plain = group_records(f, 6);
	assert_same_records(&world, &plain);

	/*
	 * A connection whose halves the two groups made, each numbered by its own group: Q -> P, whose binds only
	 * Q's half keeps. Carried in, the two become one, with Q's binds.
	 */
	uint64_t q = lookup(f, GA, Q);
	struct tree_op wave = across(TREE_OP_CONNECT_ACROSS, q, p, "wave", "_on_wave");
	wave.value = &binds;
	assert_int_equal(apply1(f, GA, wave, msg), GROVE_OK);
	assert_int_equal(apply1(f, WORLD, wave, msg), GROVE_OK);
	assert_int_equal(apply1(f, 6, connect_op(Q, P, "wave", "_on_wave", &binds), msg), GROVE_OK);
	carry(f, WORLD, GA, P, Q, "P", -1);
	assert_int_equal(apply1(f, 6, (struct tree_op){.kind = TREE_OP_MOVE, .node = at(P), .target = at(Q), .index = -1},
				msg), GROVE_OK);
	sharded = view_listing(f, 4), one = listing_of(f, &f->trees[6]);
	assert_string_equal(sharded, one);
	free(sharded);
	free(one);
	struct binds_of got = {.signal = "wave"}, want = {0};
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_for_each_connection(&f->trees[GA], txn, p, find_binds, &got), GROVE_OK);
	store_txn_abort(txn);
	assert_int_equal(got.seen, 1);
	assert_int_equal(variant_encode(&binds, &want.canonical), GROVE_OK);
	assert_int_equal(got.canonical.len, want.canonical.len);
	assert_memory_equal(got.canonical.data, want.canonical.data, got.canonical.len);
	grove_buf_free(&got.canonical);
	grove_buf_free(&want.canonical);
	/* Gun's ends with R, in a third group, are still across shards: Q does not go alone. */
	before = dump_of(f, GA);
	assert_int_equal(apply1(f, GA, (struct tree_op){.kind = TREE_OP_DELETE, .node = at(Q)}, msg), GROVE_ECHANGED);
	assert_non_null(strstr(msg, "_on_"));
	assert_same_dump(f, GA, &before);

	/* A carry-in that finds its group's half gone (a transaction removed it) is refused and changes nothing. */
	assert_int_equal(apply1(f, WORLD, create("/root/World/ZoneA", "P"), msg), GROVE_OK);
	p = lookup(f, WORLD, P);
	uint64_t r = lookup(f, 4, R);
	assert_int_equal(apply1(f, 4, across(TREE_OP_CONNECT_ACROSS, r, p, "lock", "_on_lock"), msg), GROVE_OK);
	assert_int_equal(apply1(f, WORLD, across(TREE_OP_CONNECT_ACROSS, r, p, "lock", "_on_lock"), msg), GROVE_OK);
	struct grove_buf b = {0};
	assert_int_equal(gather(f, WORLD, P, &b, msg), GROVE_OK);
	assert_int_equal(apply1(f, 4, across(TREE_OP_DISCONNECT_ACROSS, r, p, "lock", "_on_lock"), msg), GROVE_OK);
	dump4 = dump_of(f, 4);
	assert_int_equal(apply1(f, 4, carry_in("/root/World/ZoneC/R", "P", WORLD, P, &b), msg), GROVE_ECHANGED);
	assert_non_null(strstr(msg, "lock -> _on_lock"));
	assert_same_dump(f, 4, &dump4);
	grove_buf_free(&b);
	variant_free(&seven);
	variant_free(&binds);
}

/* A subtree of 10,300 nodes, 200 levels deep in places, moves in one transaction. */
static void test_large_split(void **state)
{
	struct fixture *f = *state;
	char msg[512];
	assert_int_equal(apply1(f, WORLD, create("/root", "Big"), msg), GROVE_OK);
	enum { WIDE = 100, DEEP = 199 };
	struct tree_op *ops = calloc(WIDE + DEEP + 1, sizeof(*ops));
	char names[WIDE][16];
	for (int round = 0; round < 100; round++) {
		char parent[64];
		snprintf(parent, sizeof(parent), "/root/Big");
		ops[0] = create(parent, "r");
		char rname[16];
		snprintf(rname, sizeof(rname), "r%d", round);
		ops[0].name = rname;
		for (int i = 0; i < WIDE; i++) {
			snprintf(names[i], sizeof(names[i]), "c%d", i);
			ops[1 + i] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = names[i],
						      .text = "Node", .index = -1};
		}
		for (int i = 0; i < DEEP && round == 0; i++)
			ops[1 + WIDE + i] = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.id = -(int64_t)(WIDE + i + 1)},
							     .name = "d", .text = "Node", .index = -1};
		assert_int_equal(apply(f, WORLD, ops, 1 + WIDE + (round == 0 ? DEEP : 0), msg, NULL), GROVE_OK);
	}
	free(ops);
	uint64_t total = count_of(f, WORLD);
	struct tree_split_result res;
	assert_int_equal(split(f, WORLD, GA, "/root/Big", &res), GROVE_OK);
	assert_int_equal(res.nodes, 1 + 100 * (1 + WIDE) + DEEP);
	assert_int_equal(count_of(f, WORLD) + count_of(f, GA), total);
	assert_int_equal(count_of(f, WORLD), 1);
	assert_true(lookup(f, GA, "/root/Big/r99/c99") != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_moves_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_after_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_splits_and_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_without_the_new_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_group_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carry_moves_subtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carry_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_world_dump_is_one_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_keeps_connections_across, setup, teardown),
		cmocka_unit_test_setup_teardown(test_carry_keeps_connections_leaving, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
