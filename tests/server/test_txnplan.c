/* The plan of a write across shards, on real LMDB stores: which shard each op goes to, how batch-local references
 * are renumbered, the two halves of a move across shards, each refusal; and an oracle: random batches applied as
 * their parts to a world split into four shards leave it as the batches themselves leave an unsharded copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "src/common/buf.h"
#include "src/common/error.h"
#include "src/net/wire.h"
#include "src/server/txnplan.h"
#include "src/shard/shardmap.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"
#include "treelist.h"

#define WORLD 1
#define N_GROUPS 4 /* the world, /root/W/Z1, /root/W/Z2, /root/W/Z3/A */

struct world {
	char *dir;
	struct store *store;
	struct tree trees[N_GROUPS + 1]; /* trees[g] is group g's */
	struct shard_map map;
	size_t n_groups;
};

static struct tree_ref at(const char *path)
{
	return (struct tree_ref){.path = path};
}

static struct tree_ref local(int64_t k)
{
	return (struct tree_ref){.id = -k - 1};
}

static struct tree_op create(struct tree_ref parent, const char *name)
{
	return (struct tree_op){.kind = TREE_OP_CREATE, .node = parent, .name = name, .text = "Node3D", .index = -1};
}

static int apply_ops(struct world *w, uint64_t g, const struct tree_op *ops, size_t n, size_t *failed_op)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {ops, n};
	struct tree_result res = {0};
	int err = tree_apply_batch(&w->trees[g], txn, &batch, &res);
	if (failed_op)
		*failed_op = res.failed_op;
	tree_result_free(&res);
	if (err)
		store_txn_abort(txn);
	else
		assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return err;
}

/*
 * /root/W/Z0..Z3, each with A (children x, y), B (child q) and C; then, if @p sharded, Z1, Z2 and Z3/A split
 * into groups 2, 3 and 4.
 */
static void world_open(struct world *w, const char *tag, bool sharded)
{
	memset(w, 0, sizeof(*w));
	w->dir = test_tmpdir(tag);
	struct store_options opts = {.no_sync = true, .map_size = 1ull << 30};
	assert_int_equal(store_open(&w->store, w->dir, &opts), GROVE_OK);
	w->n_groups = sharded ? N_GROUPS : 1;
	for (uint64_t g = 1; g <= w->n_groups; g++)
		assert_int_equal(tree_open(w->store, g, &w->trees[g]), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
	assert_int_equal(tree_init(&w->trees[WORLD], txn), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	static const char *zones[] = {"/root/W/Z0", "/root/W/Z1", "/root/W/Z2", "/root/W/Z3"};
	static char paths[4][3][32];
	struct tree_op ops[64];
	size_t n = 0;
	ops[n++] = create(at("/root"), "W");
	for (int z = 0; z < 4; z++) {
		ops[n++] = create(at("/root/W"), zones[z] + 8);
		for (int c = 0; c < 3; c++)
			snprintf(paths[z][c], sizeof(paths[z][c]), "%s/%c", zones[z], "ABC"[c]);
		ops[n++] = create(at(zones[z]), "A");
		ops[n++] = create(at(zones[z]), "B");
		ops[n++] = create(at(zones[z]), "C");
		ops[n++] = create(at(paths[z][0]), "x");
		ops[n++] = create(at(paths[z][0]), "y");
		ops[n++] = create(at(paths[z][1]), "q");
	}
	assert_int_equal(apply_ops(w, WORLD, ops, n, NULL), GROVE_OK);
	uint64_t member = 1;
	assert_int_equal(shard_map_init(&w->map, WORLD, 2, &member, 1), GROVE_OK);
	if (!sharded)
		return;
	static const char *splits[] = {"/root/W/Z1", "/root/W/Z2", "/root/W/Z3/A"};
	for (int s = 0; s < 3; s++) {
		uint64_t group;
		char why[256];
		uint64_t from = shard_map_lookup(&w->map, splits[s])->group;
		assert_int_equal(shard_map_start_split(&w->map, splits[s], &member, 1, &group, why, sizeof(why)), GROVE_OK);
		assert_int_equal(group, (uint64_t)s + 2);
		struct tree_split_result res;
		assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
		assert_int_equal(tree_split(&w->trees[from], group, txn, splits[s], &res), GROVE_OK);
		assert_int_equal(store_txn_commit(txn), GROVE_OK);
		assert_int_equal(shard_map_switch(&w->map, group, 1), GROVE_OK);
	}
}

static void world_close(struct world *w)
{
	shard_map_free(&w->map);
	store_close(w->store);
	test_rmtree(w->dir);
}

static void view_open(struct world *w, struct tree_view *v)
{
	const struct tree *groups[N_GROUPS];
	for (size_t g = 1; g <= w->n_groups; g++)
		groups[g - 1] = &w->trees[g];
	assert_int_equal(tree_view_init(v, groups, w->n_groups, WORLD), GROVE_OK);
}

static const struct tree *group_tree(void *ctx, uint64_t group)
{
	struct world *w = ctx;
	return group >= 1 && group <= w->n_groups ? &w->trees[group] : NULL;
}

/* The id at @p path, as the world sees it (0 if none). */
static uint64_t id_of(struct world *w, const char *path)
{
	struct tree_view v;
	view_open(w, &v);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	uint64_t id = 0;
	if (tree_resolve_path(tree_view_group(&v, WORLD), txn, path, &id) != GROVE_OK)
		id = 0;
	store_txn_abort(txn);
	tree_view_free(&v);
	return id;
}

/* The plan's walk_max (0: its default); the oracle makes it 1 for some batches, so that both ways are taken. */
static size_t plan_walk_max;

/* Plan @p ops (with @p req_extra's submit key and restore bytes, if any) in transaction @p txn. */
static int plan_in(struct world *w, struct store_txn *txn, const struct tree_op *ops, size_t n, const char *submit_key,
		   struct txn_plan *plan, char *why)
{
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(ops, n, &wr), GROVE_OK);
	if (submit_key) {
		wr.req.submit_key = (char *)submit_key;
		wr.req.client_send_ns = 12345;
	}
	struct tree_view v;
	view_open(w, &v);
	struct txn_plan_world pw = {.map = &w->map, .txn = txn, .view = &v, .group_tree = group_tree, .ctx = w,
				    .walk_max = plan_walk_max};
	int err = txn_plan_build(&wr.req, &pw, plan, why, 512);
	tree_view_free(&v);
	wire_request_free(&wr);
	return err;
}

/* plan_in() in a read transaction of its own, with submit key @p key (NULL: none). */
static int plan_keyed(struct world *w, const struct tree_op *ops, size_t n, const char *key, struct txn_plan *plan,
		      char *why)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	int err = plan_in(w, txn, ops, n, key, plan, why);
	store_txn_abort(txn);
	return err;
}

static int plan_ops(struct world *w, const struct tree_op *ops, size_t n, struct txn_plan *plan, char *why)
{
	return plan_keyed(w, ops, n, NULL, plan, why);
}

static Grove__WriteRequest *part_request(const struct txn_plan_part *part)
{
	Grove__WriteRequest *r = grove__write_request__unpack(NULL, part->request_len, part->request);
	assert_non_null(r);
	assert_int_equal(r->n_ops, part->n_ops);
	return r;
}

/*
 * Apply every part of @p plan to its group inside @p txn; the earliest refused client op (by the client's
 * numbering) goes to @p failed_op. Refused parts leave @p txn as it was.
 */
static int apply_parts_ids(struct world *w, struct store_txn *txn, const struct txn_plan *plan, size_t *failed_op,
			   struct grove_buf *ids);

static int apply_parts(struct world *w, struct store_txn *txn, const struct txn_plan *plan, size_t *failed_op)
{
	return apply_parts_ids(w, txn, plan, failed_op, NULL);
}

/* apply_parts(), and the ids each part's ops gave appended to @p ids (NULL: not wanted). */
static int apply_parts_ids(struct world *w, struct store_txn *txn, const struct txn_plan *plan, size_t *failed_op,
			   struct grove_buf *ids)
{
	int first_err = GROVE_OK;
	*failed_op = SIZE_MAX;
	for (size_t p = 0; p < plan->n_parts; p++) {
		Grove__WriteRequest *r = part_request(&plan->parts[p]);
		struct wire_batch b;
		char msg[512];
		assert_int_equal(wire_decode_batch(r, true, &b, msg, sizeof(msg)), GROVE_OK);
		struct tree_batch batch = {b.ops, b.count};
		struct tree_result res = {0};
		int err = tree_apply_batch(&w->trees[plan->parts[p].group], txn, &batch, &res);
		assert_true(err != GROVE_ESTORAGE && err != GROVE_ENOMEM && err != GROVE_ECORRUPT);
		if (ids && !err)
			grove_buf_put(ids, res.ids, res.count * sizeof(*res.ids));
		if (err && plan->parts[p].client_op[res.failed_op] < *failed_op) {
			*failed_op = plan->parts[p].client_op[res.failed_op];
			first_err = err;
		}
		tree_result_free(&res);
		wire_batch_free(&b);
		grove__write_request__free_unpacked(r, NULL);
	}
	return first_err;
}

static int apply_plan(struct world *w, const struct txn_plan *plan)
{
	struct store_txn *txn;
	size_t failed;
	assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
	int err = apply_parts(w, txn, plan, &failed);
	if (err)
		store_txn_abort(txn);
	else
		assert_int_equal(store_txn_commit(txn), GROVE_OK);
	return err;
}

/* ---- listings: paths, classes, properties and groups in sibling order; no ids (they differ by shard) ---- */

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Sort each line's connections (its last words, " signal->method"): a node carried across shards keeps its
 * connections' ids, so one made after the move may come first in its new shard.
 */
static void sort_connections(char *listing)
{
	for (char *line = listing; *line; line += strcspn(line, "\n") + 1) {
		size_t len = strcspn(line, "\n");
		char *copy = strndup(line, len), *words[128], *save = NULL;
		size_t n = 0, first = SIZE_MAX;
		for (char *w = strtok_r(copy, " ", &save); w && n < 128; w = strtok_r(NULL, " ", &save)) {
			if (first == SIZE_MAX && strstr(w, "->"))
				first = n;
			words[n++] = w;
		}
		if (first != SIZE_MAX) {
			qsort(words + first, n - first, sizeof(*words), by_text);
			char *at = line;
			for (size_t k = 0; k < n; k++)
				at += sprintf(at, k ? " %s" : "%s", words[k]);
			*at = '\n';
		}
		free(copy);
	}
}

/* The world as one text in @p txn, through a view when it is sharded; malloc'd. */
static char *listing_in(struct world *w, struct store_txn *txn)
{
	struct tree_view v;
	view_open(w, &v);
	char *text = test_tree_listing(tree_view_group(&v, WORLD), txn, TREE_ROOT_ID,
				       TEST_LIST_VALUES | TEST_LIST_CONNS | TEST_LIST_RESOURCES);
	sort_connections(text);
	tree_view_free(&v);
	return text;
}

/* The world as one text, as committed; malloc'd. */
static char *listing_of(struct world *w)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	char *text = listing_in(w, txn);
	store_txn_abort(txn);
	return text;
}

/* ---- unit cases ---- */

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	world_open(w, "txnplan", true);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world_close(*state);
	free(*state);
	return 0;
}

static void test_one_shard(void **state)
{
	struct world *w = *state;
	struct tree_op ops[] = {
		create(at("/root/W/Z1/A"), "n"),
		{.kind = TREE_OP_SET_PROP, .node = local(0), .name = "hp", .value = NULL},
		{.kind = TREE_OP_RENAME, .node = {.id = (int64_t)id_of(w, "/root/W/Z1/B")}, .name = "B2"},
	};
	struct variant hp = {0};
	variant_set_int(&hp, 3);
	ops[1].value = &hp;
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_keyed(w, ops, 3, "key-1", &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 1);
	assert_int_equal(plan.parts[0].group, 2);
	assert_int_equal(plan.n_ops, 3);
	Grove__WriteRequest *r = part_request(&plan.parts[0]);
	assert_string_equal(r->submit_key, "key-1"); /* the anchor's part carries the key */
	assert_int_equal(r->client_send_ns, 0);
	assert_int_equal(r->ops[1]->node->id, -1);
	grove__write_request__free_unpacked(r, NULL);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(plan.op_part[i], 0);
		assert_int_equal(plan.op_index[i], i);
	}
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	assert_int_not_equal(id_of(w, "/root/W/Z1/A/n"), 0);
	assert_int_not_equal(id_of(w, "/root/W/Z1/B2"), 0);
	variant_free(&hp);

	/* Unknown nodes are the shard's to refuse; a restore is never a write. */
	struct tree_op unknown = create(at("/root/W/Z2/Nope"), "n");
	assert_int_equal(plan_ops(w, &unknown, 1, &plan, why), GROVE_OK);
	assert_int_equal(plan.parts[0].group, 3);
	assert_int_equal(apply_plan(w, &plan), GROVE_ENOTFOUND);
	txn_plan_free(&plan);
	struct tree_op by_id = {.kind = TREE_OP_DELETE, .node = {.id = 999999}};
	assert_int_equal(plan_ops(w, &by_id, 1, &plan, why), GROVE_ENOTFOUND);
	assert_non_null(strstr(why, "op 0"));
	assert_non_null(strstr(why, "999999"));
	assert_null(plan.parts);

	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&unknown, 1, &wr), GROVE_OK);
	uint8_t snap[4] = {1, 2, 3, 4};
	wr.req.restore_snapshot.data = snap;
	wr.req.restore_snapshot.len = sizeof(snap);
	struct tree_view v;
	view_open(w, &v);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	struct txn_plan_world pw = {.map = &w->map, .txn = txn, .view = &v, .group_tree = group_tree, .ctx = w,
				    .walk_max = plan_walk_max};
	assert_int_equal(txn_plan_build(&wr.req, &pw, &plan, why, sizeof(why)), GROVE_EINVAL);
	store_txn_abort(txn);
	tree_view_free(&v);
	wire_request_free(&wr);
}

/*
 * A submit key goes with every part, the anchor's (the first op's shard) first: each group remembers it, so a
 * retry finds it wherever its first op's node went.
 */
static void test_key_goes_to_every_part(void **state)
{
	struct world *w = *state;
	struct tree_op ops[] = {create(at("/root/W/Z2/A"), "a"), create(at("/root/W/Z1/A"), "b"),
				create(at("/root/W/Z0/C"), "c")};
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_keyed(w, ops, 3, "player-7-zone", &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 3);
	assert_int_equal(plan.parts[0].group, 3);
	for (size_t p = 0; p < plan.n_parts; p++) {
		Grove__WriteRequest *r = part_request(&plan.parts[p]);
		assert_string_equal(r->submit_key, "player-7-zone");
		grove__write_request__free_unpacked(r, NULL);
	}
	txn_plan_free(&plan);
}

static void test_parts_and_renumbering(void **state)
{
	struct world *w = *state;
	struct variant hp = {0};
	variant_set_int(&hp, 5);
	struct tree_op ops[] = {
		create(at("/root/W/Z2/A"), "a"),                                        /* Z2: 0 */
		create(at("/root/W/Z1/A"), "b"),                                        /* Z1: 0 */
		create(local(1), "c"),                                                  /* Z1: 1 */
		{.kind = TREE_OP_SET_PROP, .node = local(0), .name = "hp", .value = &hp}, /* Z2: 1 */
		create(local(2), "d"),                                                  /* Z1: 2 */
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z0/C"), .name = "hp", .value = &hp}, /* world: 0 */
		create(at("/root/W/Z3/A/x"), "e"),                                      /* Z3/A: 0 */
	};
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_ops(w, ops, 7, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 4);
	assert_false(plan.reads_tree); /* paths and batch-local references: the same whatever the trees hold */
	uint64_t groups[] = {3, 2, 1, 4};
	for (size_t p = 0; p < 4; p++)
		assert_int_equal(plan.parts[p].group, groups[p]);
	uint32_t want_part[] = {0, 1, 1, 0, 1, 2, 3}, want_index[] = {0, 0, 1, 1, 2, 0, 0};
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(plan.op_part[i], want_part[i]);
		assert_int_equal(plan.op_index[i], want_index[i]);
		assert_int_equal(plan.parts[want_part[i]].client_op[want_index[i]], i);
	}
	Grove__WriteRequest *z1 = part_request(&plan.parts[1]), *z2 = part_request(&plan.parts[0]);
	assert_string_equal(z1->ops[0]->node->path, "/root/W/Z1/A");
	assert_int_equal(z1->ops[1]->node->id, -1); /* client op 1 is this part's op 0 */
	assert_int_equal(z1->ops[2]->node->id, -2);
	assert_int_equal(z2->ops[1]->node->id, -1);
	assert_int_equal(z2->ops[1]->kind, TREE_OP_SET_PROP);
	grove__write_request__free_unpacked(z1, NULL);
	grove__write_request__free_unpacked(z2, NULL);
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	assert_int_not_equal(id_of(w, "/root/W/Z1/A/b/c/d"), 0);
	assert_int_not_equal(id_of(w, "/root/W/Z3/A/x/e"), 0);
	char *text = listing_of(w);
	assert_non_null(strstr(text, "/root/W/Z2/A/a Node3D hp="));
	free(text);
	variant_free(&hp);
}

/* A plan that names a node by id located it in the trees; one of paths alone did not read them. */
static void test_reads_tree(void **state)
{
	struct world *w = *state;
	struct variant hp = {0};
	variant_set_int(&hp, 1);
	struct tree_op ops[] = {{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/A"), .name = "hp", .value = &hp},
				{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z2/B"), .name = "hp", .value = &hp}};
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_ops(w, ops, 2, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_false(plan.reads_tree);
	txn_plan_free(&plan);
	ops[1].node = (struct tree_ref){.id = (int64_t)id_of(w, "/root/W/Z2/B")};
	assert_int_equal(plan_ops(w, ops, 2, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_true(plan.reads_tree);
	txn_plan_free(&plan);
	variant_free(&hp);
}

static void test_move_across_halves(void **state)
{
	struct world *w = *state;
	uint64_t a = id_of(w, "/root/W/Z1/A"), b = id_of(w, "/root/W/Z2/B");
	struct grove_buf gathered = {0};
	struct tree_split_result gres;
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_carry_gather(&w->trees[2], txn, a, &gathered, &gres), GROVE_OK);
	store_txn_abort(txn);
	struct tree_op move = {.kind = TREE_OP_MOVE, .node = {.id = (int64_t)a}, .target = at("/root/W/Z2/B"), .index = 0};
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_ops(w, &move, 1, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_true(plan.reads_tree); /* a subtree carried, and a node located by id */
	assert_int_equal(plan.parts[0].group, 2);
	assert_int_equal(plan.parts[1].group, 3);
	assert_int_equal(plan.op_part[0], 0);
	assert_int_equal(plan.parts[1].client_op[0], 0);
	Grove__WriteRequest *out = part_request(&plan.parts[0]), *in = part_request(&plan.parts[1]);
	const Grove__Op *o = out->ops[0], *i = in->ops[0];
	assert_int_equal(o->kind, TREE_OP_CARRY_OUT);
	assert_int_equal(o->node->id, (int64_t)a);
	assert_int_equal(o->target->id, (int64_t)b);
	assert_string_equal(o->text, "/root/W/Z2/B/A");
	assert_int_equal(o->group, 3);
	assert_int_equal(o->carried.len, gathered.len);
	assert_memory_equal(o->carried.data, gathered.data, gathered.len);
	assert_int_equal(i->kind, TREE_OP_CARRY_IN);
	assert_string_equal(i->target->path, "/root/W/Z2/B");
	assert_string_equal(i->name, "A");
	assert_int_equal(i->index, 0);
	assert_string_equal(i->text, "/root/W/Z1/A");
	assert_int_equal(i->group, 2);
	assert_memory_equal(i->carried.data, gathered.data, gathered.len);
	grove__write_request__free_unpacked(out, NULL);
	grove__write_request__free_unpacked(in, NULL);
	grove_buf_free(&gathered);
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	assert_int_equal(id_of(w, "/root/W/Z2/B/A"), a);
	assert_int_equal(id_of(w, "/root/W/Z1/A"), 0);
	char *text = listing_of(w);
	assert_non_null(strstr(text, "/root/W/Z2/B Node3D\n/root/W/Z2/B/A Node3D\n/root/W/Z2/B/A/x Node3D\n/root/W/Z2/B/A/y Node3D\n/root/W/Z2/B/q"));
	free(text);

	/* Into a node the batch creates in the other shard, then on below it in that shard's part. */
	struct tree_op ops[] = {
		create(at("/root/W/Z0"), "Box"),
		{.kind = TREE_OP_MOVE, .node = at("/root/W/Z2/B/A"), .target = local(0), .index = -1},
		create(at("/root/W/Z0/Box/A"), "inside"),
	};
	assert_int_equal(plan_ops(w, ops, 3, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_int_equal(plan.parts[0].group, 1);
	in = part_request(&plan.parts[0]);
	out = part_request(&plan.parts[1]);
	assert_int_equal(in->n_ops, 3);
	assert_int_equal(in->ops[1]->kind, TREE_OP_CARRY_IN);
	assert_int_equal(in->ops[1]->target->id, -1);
	assert_int_equal(out->ops[0]->target->id, 0); /* not known before the batch */
	assert_string_equal(out->ops[0]->text, "/root/W/Z0/Box/A");
	grove__write_request__free_unpacked(out, NULL);
	grove__write_request__free_unpacked(in, NULL);
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	assert_int_equal(id_of(w, "/root/W/Z0/Box/A"), a);
	assert_int_not_equal(id_of(w, "/root/W/Z0/Box/A/inside"), 0);
}

/* The kinds of part @p p's ops, as one string of their numbers ("15 2 "), malloc'd. */
static char *part_kinds(const struct txn_plan *plan, size_t p)
{
	Grove__WriteRequest *r = part_request(&plan->parts[p]);
	char *text = calloc(1, 4 * r->n_ops + 1);
	for (size_t i = 0; i < r->n_ops; i++)
		sprintf(text + strlen(text), "%u ", r->ops[i]->kind);
	grove__write_request__free_unpacked(r, NULL);
	return text;
}

/* The part of group @p group in @p plan. */
static size_t part_of_group(const struct txn_plan *plan, uint64_t group)
{
	for (size_t p = 0; p < plan->n_parts; p++)
		if (plan->parts[p].group == group)
			return p;
	fail_msg("no part for group %llu", (unsigned long long)group);
	return 0;
}

static void expect_part(const struct txn_plan *plan, uint64_t group, const char *kinds)
{
	char *got = part_kinds(plan, part_of_group(plan, group));
	assert_string_equal(got, kinds);
	free(got);
}

/*
 * The change record that group @p group's part of @p plan makes (applied and taken back) of a connection:
 * the target's path it names, in @p target (empty if none).
 */
static void recorded_target(struct world *w, const struct txn_plan *plan, uint64_t group, char *target, size_t cap)
{
	const struct txn_plan_part *part = &plan->parts[part_of_group(plan, group)];
	Grove__WriteRequest *r = part_request(part);
	struct wire_batch b;
	char msg[512];
	assert_int_equal(wire_decode_batch(r, true, &b, msg, sizeof(msg)), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
	struct tree_batch batch = {b.ops, b.count};
	struct tree_result res = {.record_changes = true};
	assert_int_equal(tree_apply_batch(&w->trees[group], txn, &batch, &res), GROVE_OK);
	store_txn_abort(txn);
	target[0] = '\0';
	for (size_t i = 0; i < res.n_changes; i++) {
		if (res.changes[i].op != TREE_OP_CONNECT && res.changes[i].op != TREE_OP_DISCONNECT)
			continue;
		char *path;
		assert_int_equal(tree_paths_string(&res.paths, res.changes[i].old_path_step, &path), GROVE_OK);
		snprintf(target, cap, "%s", path ? path : "");
		free(path);
	}
	tree_result_free(&res);
	wire_batch_free(&b);
	grove__write_request__free_unpacked(r, NULL);
}

/*
 * A connection between nodes of two shards is a half in each shard's part, the source's recording it with
 * the target's path (which its shard does not hold); a delete of a node with such a connection (or one
 * below it) removes both halves first, and a delete in that shard elsewhere stays one part.
 */
static void expect_refusal(struct world *w, const struct tree_op *ops, size_t n, int code, const char *says);

static void test_connections_across(void **state)
{
	struct world *w = *state;
	uint64_t x = id_of(w, "/root/W/Z1/A/x"), a0 = id_of(w, "/root/W/Z0/A");
	struct tree_op connect = {.kind = TREE_OP_CONNECT, .node = at("/root/W/Z1/A/x"), .target = at("/root/W/Z0/A"),
				  .name = "hit", .text = "_on_hit"};
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_ops(w, &connect, 1, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_int_equal(plan.parts[plan.op_part[0]].group, 2); /* the source's part answers for the op */
	expect_part(&plan, 2, "15 ");
	expect_part(&plan, 1, "15 ");
	char target[256];
	recorded_target(w, &plan, 2, target, sizeof(target));
	assert_string_equal(target, "/root/W/Z0/A");
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	char *listing = listing_of(w);
	assert_non_null(strstr(listing, "/root/W/Z1/A/x Node3D hit->_on_hit"));
	free(listing);
	assert_int_equal(plan_ops(w, &connect, 1, &plan, why), GROVE_OK);
	assert_int_equal(apply_plan(w, &plan), GROVE_EEXIST);
	txn_plan_free(&plan);
	/* A node made by the batch holds, when it is deleted, what the batch moved under it: not planned. */
	struct tree_op under_new[] = {create(at("/root/W/Z1"), "C"),
				      {.kind = TREE_OP_MOVE, .node = at("/root/W/Z1/A"), .target = local(0), .index = -1},
				      {.kind = TREE_OP_DELETE, .node = local(0)}};
	expect_refusal(w, under_new, 3, GROVE_ECROSSSHARD, "op 2 deletes a node of a shard with connections across shards "
		       "after earlier ops of the batch moved nodes there");

	/* Elsewhere in the shard a delete is one part; of the connected node's parent, both halves go first. */
	struct tree_op del = {.kind = TREE_OP_DELETE, .node = at("/root/W/Z0/B")};
	assert_int_equal(plan_ops(w, &del, 1, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 1);
	txn_plan_free(&plan);
	del.node = at("/root/W/Z1/A");
	assert_int_equal(plan_ops(w, &del, 1, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	expect_part(&plan, 2, "16 2 ");
	expect_part(&plan, 1, "16 ");
	recorded_target(w, &plan, 2, target, sizeof(target));
	assert_string_equal(target, "/root/W/Z0/A");
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	listing = listing_of(w);
	assert_null(strstr(listing, "hit->_on_hit"));
	free(listing);
	assert_int_equal(id_of(w, "/root/W/Z1/A/x"), 0);

	/* Made and removed by the client's own ops, and in one batch with a delete that takes it away again. */
	connect.node = at("/root/W/Z2/A/x");
	struct tree_op batch[] = {connect, {.kind = TREE_OP_DELETE, .node = {.id = (int64_t)a0}}};
	assert_int_equal(plan_ops(w, batch, 2, &plan, why), GROVE_OK);
	expect_part(&plan, 1, "15 16 2 ");
	expect_part(&plan, 3, "15 16 ");
	txn_plan_free(&plan);
	assert_int_equal(plan_ops(w, &connect, 1, &plan, why), GROVE_OK);
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	struct tree_op disconnect = connect;
	disconnect.kind = TREE_OP_DISCONNECT;
	struct tree_op remade[] = {disconnect, connect, {.kind = TREE_OP_DELETE, .node = at("/root/W/Z0/A")}};
	assert_int_equal(plan_ops(w, remade, 3, &plan, why), GROVE_OK);
	expect_part(&plan, 1, "16 15 16 2 "); /* made again by op 1: the delete removes it once more */
	expect_part(&plan, 3, "16 15 16 ");
	txn_plan_free(&plan);
	struct tree_op twice[] = {disconnect, {.kind = TREE_OP_DELETE, .node = at("/root/W/Z0/A")}};
	assert_int_equal(plan_ops(w, twice, 2, &plan, why), GROVE_OK);
	expect_part(&plan, 1, "16 2 "); /* the delete finds it removed by op 0 */
	expect_part(&plan, 3, "16 ");
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	assert_int_equal(id_of(w, "/root/W/Z0/A"), 0);
	(void)x;
}

/* A resource's type, into @p ctx (32 bytes). */
static int copy_type(void *ctx, const struct tree_resource *r)
{
	snprintf(ctx, 32, "%s", r->type);
	return 0;
}

/* The resource that a material's "next_pass" refers to, into @p ctx (a uint64_t). */
static int next_pass_of(void *ctx, const struct tree_resource *r)
{
	assert_int_equal(r->props->type, VARIANT_DICTIONARY);
	assert_int_equal(r->props->as.dict->len, 1);
	assert_int_equal(r->props->as.dict->values[0].type, VARIANT_RESOURCE_REF);
	*(uint64_t *)ctx = (uint64_t)r->props->as.dict->values[0].as.ref;
	return 0;
}

/* Node @p path's property @p name refers to a resource of group @p g of type @p type. */
static void expect_resource(struct world *w, uint64_t g, const char *path, const char *name, const char *type)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	struct variant v;
	assert_int_equal(tree_get_prop(&w->trees[g], txn, id_of(w, path), name, &v), GROVE_OK);
	assert_int_equal(v.type, VARIANT_RESOURCE_REF);
	char got[32] = "";
	assert_int_equal(tree_with_resource(&w->trees[g], txn, (uint64_t)v.as.ref, copy_type, got), GROVE_OK);
	assert_string_equal(got, type);
	variant_free(&v);
	store_txn_abort(txn);
}

struct binds_seen {
	struct world *w;
	struct store_txn *txn;
	uint64_t group;
	char type[32];  /* the class of the resource the binds name, "" if none */
	bool nil;       /* the connection keeps no binds */
};

static int see_binds(void *ctx, const struct tree_connection *c)
{
	struct binds_seen *b = ctx;
	b->nil = !c->binds || c->binds->type == VARIANT_NIL;
	if (!b->nil && c->binds->as.array->len == 1 && c->binds->as.array->items[0].type == VARIANT_RESOURCE_REF)
		assert_int_equal(tree_with_resource(&b->w->trees[b->group], b->txn,
						    (uint64_t)c->binds->as.array->items[0].as.ref, copy_type, b->type),
				 GROVE_OK);
	return 0;
}

/*
 * A connection across shards whose binds name a resource the batch puts: the binds stay in the source's
 * group, so the resource goes to the source's part, and the binds name that group's copy; the target's group
 * keeps the connection without binds.
 */
static void test_binds_across_keep_their_resource(void **state)
{
	struct world *w = *state;
	struct variant binds, ref, nothing, hp;
	assert_int_equal(variant_set_array(&binds), GROVE_OK);
	variant_set_resource_ref(&ref, -2); /* op 1, the first op of the source's part */
	assert_int_equal(variant_array_push(&binds, &ref), GROVE_OK);
	assert_int_equal(variant_set_dict(&nothing), GROVE_OK);
	variant_set_int(&hp, 3);
	struct tree_op ops[] = {
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z2/B"), .name = "hp", .value = &hp},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "SpatialMaterial", .name = "m",
		 .value = &nothing},
		{.kind = TREE_OP_CONNECT, .node = at("/root/W/Z1/A"), .target = at("/root/W/Z2/A"), .name = "s", .text = "m",
		 .value = &binds},
	};
	struct txn_plan plan;
	char why[512];
	int err = plan_ops(w, ops, 3, &plan, why);
	if (err)
		print_error("%s\n", why);
	assert_int_equal(err, GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_int_equal(plan.op_part[1], plan.op_part[2]); /* the put goes with the source's half */
	assert_int_not_equal(plan.op_part[0], plan.op_part[1]);
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	struct binds_seen source = {w, txn, 2, "", true}, target = {w, txn, 3, "", false};
	assert_int_equal(tree_for_each_connection(&w->trees[2], txn, id_of(w, "/root/W/Z1/A"), see_binds, &source),
			 GROVE_OK);
	assert_int_equal(tree_for_each_connection(&w->trees[3], txn, id_of(w, "/root/W/Z2/A"), see_binds, &target),
			 GROVE_OK);
	store_txn_abort(txn);
	assert_string_equal(source.type, "SpatialMaterial");
	assert_true(target.nil);
	variant_free(&binds);
	variant_free(&nothing);
}

/*
 * Resources a batch across shards puts go to the part of the ops that refer to them, a resource that another
 * refers to with it, one that nothing refers to to the anchor's part; the references are renumbered as their
 * part numbers its ops. One that nodes of two shards refer to goes to both, a file or an embedded one.
 */
static void test_resources_across(void **state)
{
	struct world *w = *state;
	struct variant script, material, next, nothing;
	variant_set_resource_ref(&script, -1);
	variant_set_resource_ref(&material, -3);
	assert_int_equal(variant_set_dict(&next), GROVE_OK);
	struct variant key, pass;
	assert_int_equal(variant_set_string(&key, VARIANT_STRING, "next_pass", 9), GROVE_OK);
	variant_set_resource_ref(&pass, -2);
	assert_int_equal(variant_dict_put(&next, &key, &pass), GROVE_OK);
	assert_int_equal(variant_set_dict(&nothing), GROVE_OK);
	struct tree_op ops[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Script", .instance = "res://a.gd",
		 .name = "1"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "SpatialMaterial", .name = "m1",
		 .value = &nothing},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "ShaderMaterial", .name = "m2",
		 .value = &next},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/A"), .name = "script", .value = &script},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z2/A"), .name = "material", .value = &material},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture", .instance = "res://b.png",
		 .name = "2"},
	};
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_ops(w, ops, 6, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_int_equal(plan.parts[0].group, 2); /* the anchor: the shard of the first op that names a node */
	assert_int_equal(plan.parts[1].group, 3);
	const uint32_t parts[] = {0, 1, 1, 0, 1, 0}, indexes[] = {0, 0, 1, 1, 2, 2};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(plan.op_part[i], parts[i]);
		assert_int_equal(plan.op_index[i], indexes[i]);
	}
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	expect_resource(w, 2, "/root/W/Z1/A", "script", "Script");
	expect_resource(w, 3, "/root/W/Z2/A", "material", "ShaderMaterial");
	/* The material's next pass, renumbered in its part, is the other material, in the same group. */
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	struct variant v;
	assert_int_equal(tree_get_prop(&w->trees[3], txn, id_of(w, "/root/W/Z2/A"), "material", &v), GROVE_OK);
	uint64_t outer = (uint64_t)v.as.ref;
	variant_free(&v);
	store_txn_abort(txn);
	uint64_t inner = 0;
	char type[32] = "";
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_with_resource(&w->trees[3], txn, outer, next_pass_of, &inner), GROVE_OK);
	assert_int_equal(tree_with_resource(&w->trees[3], txn, inner, copy_type, type), GROVE_OK);
	store_txn_abort(txn);
	assert_string_equal(type, "SpatialMaterial");
	variant_free(&next);
	variant_free(&nothing);

	/* A file both shards' nodes refer to: each part puts it, and each node refers to its own group's. */
	struct tree_op shared[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture", .instance = "res://t.png",
		 .name = "1"},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/B"), .name = "texture", .value = &script},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z2/B"), .name = "texture", .value = &script},
	};
	assert_int_equal(plan_ops(w, shared, 3, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_int_equal(plan.parts[0].n_ops, 2);
	assert_int_equal(plan.parts[1].n_ops, 2);
	assert_int_equal(plan.op_part[0], 0); /* the first part that gets it answers for the op */
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	expect_resource(w, 2, "/root/W/Z1/B", "texture", "Texture");
	expect_resource(w, 3, "/root/W/Z2/B", "texture", "Texture");

	/*
	 * An embedded material, whose next pass is another, that both shards' nodes use: each part puts a copy of
	 * both, and each node refers to its own group's copy, whose next pass is the copy beside it.
	 */
	struct variant pass_only, outer_ref;
	assert_int_equal(variant_set_dict(&pass_only), GROVE_OK);
	assert_int_equal(variant_set_dict(&next), GROVE_OK);
	variant_set_resource_ref(&pass, -1);
	assert_int_equal(variant_set_string(&key, VARIANT_STRING, "next_pass", 9), GROVE_OK); /* the first was taken */
	assert_int_equal(variant_dict_put(&next, &key, &pass), GROVE_OK);
	variant_set_resource_ref(&outer_ref, -2);
	struct tree_op embedded[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "SpatialMaterial", .name = "p",
		 .value = &pass_only},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "ShaderMaterial", .name = "m",
		 .value = &next},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/B"), .name = "material", .value = &outer_ref},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z2/B"), .name = "material", .value = &outer_ref},
	};
	assert_int_equal(plan_ops(w, embedded, 4, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_int_equal(plan.parts[0].n_ops, 3);
	assert_int_equal(plan.parts[1].n_ops, 3);
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	const char *const users[] = {"/root/W/Z1/B", "/root/W/Z2/B"};
	uint64_t copies[2];
	for (uint64_t g = 2; g <= 3; g++) {
		assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
		assert_int_equal(tree_get_prop(&w->trees[g], txn, id_of(w, users[g - 2]), "material", &v), GROVE_OK);
		copies[g - 2] = (uint64_t)v.as.ref;
		variant_free(&v);
		inner = 0;
		assert_int_equal(tree_with_resource(&w->trees[g], txn, copies[g - 2], copy_type, type), GROVE_OK);
		assert_string_equal(type, "ShaderMaterial");
		assert_int_equal(tree_with_resource(&w->trees[g], txn, copies[g - 2], next_pass_of, &inner), GROVE_OK);
		assert_int_equal(tree_with_resource(&w->trees[g], txn, inner, copy_type, type), GROVE_OK);
		assert_string_equal(type, "SpatialMaterial");
		store_txn_abort(txn);
	}
	variant_free(&next);
	variant_free(&pass_only);
}

/* Node @p path's property @p name is an array typed by a script of group @p g (a Script resource). */
static void expect_typed_by_script(struct world *w, uint64_t g, const char *path, const char *name)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, false, &txn), GROVE_OK);
	struct variant v;
	assert_int_equal(tree_get_prop(&w->trees[g], txn, id_of(w, path), name, &v), GROVE_OK);
	assert_int_equal(v.type, VARIANT_ARRAY);
	assert_int_equal(v.as.array->elem.type, VARIANT_RESOURCE_REF);
	assert_true(v.as.array->elem.script > 0);
	char got[32] = "";
	assert_int_equal(tree_with_resource(&w->trees[g], txn, (uint64_t)v.as.array->elem.script, copy_type, got),
			 GROVE_OK);
	assert_string_equal(got, "Script");
	assert_int_equal(v.as.array->len, 1);
	assert_int_equal(tree_with_resource(&w->trees[g], txn, (uint64_t)v.as.array->items[0].as.ref, copy_type, got),
			 GROVE_OK);
	assert_string_equal(got, "Texture");
	variant_free(&v);
	store_txn_abort(txn);
}

/* The script typing an array (Array[ExtResource(...)]) is a batch-local reference renumbered like any. */
static void test_script_typed_arrays_across(void **state)
{
	struct world *w = *state;
	struct variant items;
	assert_int_equal(variant_set_array(&items), GROVE_OK);
	assert_int_equal(variant_array_set_typehint(&items, VARIANT_RESOURCE_REF, NULL), GROVE_OK);
	items.as.array->elem.script = -3;
	struct variant item;
	variant_set_resource_ref(&item, -2);
	assert_int_equal(variant_array_push(&items, &item), GROVE_OK);
	struct tree_op ops[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture", .instance = "res://u.png",
		 .name = "1"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture", .instance = "res://i.png",
		 .name = "2"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Script", .instance = "res://item.gd",
		 .name = "3"},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z2/A"), .name = "items", .value = &items},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/A"), .name = "items", .value = &items},
	};
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_ops(w, ops, 5, &plan, why), GROVE_OK);
	assert_int_equal(plan.n_parts, 2);
	assert_int_equal(apply_plan(w, &plan), GROVE_OK);
	txn_plan_free(&plan);
	expect_typed_by_script(w, 2, "/root/W/Z1/A", "items");
	expect_typed_by_script(w, 3, "/root/W/Z2/A", "items");
	/* A script typing an array must be an earlier put, as any batch-local reference. */
	items.as.array->elem.script = -9;
	items.as.array->items[0].as.ref = -1;
	struct tree_op bad[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture", .instance = "res://i.png",
		 .name = "2"},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z2/A"), .name = "items", .value = &items},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/A"), .name = "items", .value = &items},
	};
	int err = plan_ops(w, bad, 3, &plan, why);
	if (err == GROVE_OK)
		txn_plan_free(&plan);
	assert_int_not_equal(err, GROVE_OK);
	variant_free(&items);
}

static void expect_refusal(struct world *w, const struct tree_op *ops, size_t n, int code, const char *says)
{
	struct txn_plan plan;
	char why[512];
	int err = plan_ops(w, ops, n, &plan, why);
	if (err != code || !strstr(why, says))
		fail_msg("expected %s with \"%s\", got %s: %s", grove_errname(code), says, grove_errname(err), why);
	assert_null(plan.parts);
	assert_null(strchr(why, '\n'));
}

static void test_refusals(void **state)
{
	struct world *w = *state;
	uint64_t x = id_of(w, "/root/W/Z1/A/x");
	struct variant ref = {0};
	variant_set_resource_ref(&ref, -1);
	/* A node created in one shard's part, moved to or connected with another shard. */
	struct tree_op created_moved[] = {
		create(at("/root/W/Z1"), "n"),
		{.kind = TREE_OP_MOVE, .node = local(0), .target = at("/root/W/Z2"), .index = -1},
	};
	expect_refusal(w, created_moved, 2, GROVE_ECROSSSHARD, "op 1 moves the node created by op 0");
	struct tree_op created_connected[] = {
		create(at("/root/W/Z1"), "n"),
		{.kind = TREE_OP_CONNECT, .node = at("/root/W/Z2/A"), .target = local(0), .name = "s", .text = "m"},
	};
	expect_refusal(w, created_connected, 2, GROVE_ECROSSSHARD, "one of them created by this batch");
	struct tree_op renamed_connected[] = {
		{.kind = TREE_OP_RENAME, .node = at("/root/W/Z0/A"), .name = "A2"},
		{.kind = TREE_OP_CONNECT, .node = {.id = (int64_t)x}, .target = at("/root/W/Z0/A2"), .name = "s", .text = "m"},
	};
	expect_refusal(w, renamed_connected, 2, GROVE_ECROSSSHARD, "after earlier ops of the batch changed paths");
	/* Resources across shards. */
	struct tree_op resources[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "SpatialMaterial", .name = "m"},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/A"), .name = "material", .value = &ref},
	};
	struct tree_op unput[] = {resources[1], resources[1]};
	unput[1].node = at("/root/W/Z2/A");
	expect_refusal(w, unput, 2, GROVE_EINVAL, "op 0 refers to resource of op 0, which is not an earlier put");
	struct txn_plan plan;
	char why[512];
	assert_int_equal(plan_ops(w, resources, 2, &plan, why), GROVE_OK); /* one shard: fine */
	assert_int_equal(plan.n_parts, 1);
	assert_int_equal(plan.parts[0].group, 2);
	assert_int_equal(plan.op_index[0], 0);
	assert_int_equal(plan.op_index[1], 1);
	txn_plan_free(&plan);
	/* Names of what an earlier op moved across shards, by path or by id. */
	struct tree_op moved[] = {
		{.kind = TREE_OP_MOVE, .node = at("/root/W/Z1/A"), .target = at("/root/W/Z2"), .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/A/x"), .name = "hp", .value = &ref},
	};
	variant_set_int(&ref, 1);
	expect_refusal(w, moved, 2, GROVE_ECROSSSHARD, "op 1 names /root/W/Z1/A/x, which op 0 moves");
	moved[1].node = (struct tree_ref){.id = (int64_t)x};
	expect_refusal(w, moved, 2, GROVE_ECROSSSHARD, "which op 0 moves to another shard (from /root/W/Z1/A)");
	moved[1].node = at("/root/W/Z2/A/x"); /* its new place: fine, in the new shard's part */
	assert_int_equal(plan_ops(w, moved, 2, &plan, why), GROVE_OK);
	assert_int_equal(plan.op_part[1], 1);
	txn_plan_free(&plan);
	/* A subtree changed by an earlier op of its part cannot be carried as read before the batch. */
	struct tree_op stale[] = {
		{.kind = TREE_OP_SET_PROP, .node = {.id = (int64_t)x}, .name = "hp", .value = &ref},
		{.kind = TREE_OP_MOVE, .node = at("/root/W/Z1/A"), .target = at("/root/W/Z2"), .index = -1},
	};
	expect_refusal(w, stale, 2, GROVE_ECROSSSHARD, "op 1 moves /root/W/Z1/A across shards after op 0");
	stale[0] = (struct tree_op){.kind = TREE_OP_RENAME, .node = at("/root/W/Z1/C"), .name = "A"};
	expect_refusal(w, stale, 2, GROVE_ECROSSSHARD, "after earlier ops of the batch changed paths");
	stale[0] = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = at("/root/W/Z1/B"), .name = "hp", .value = &ref};
	assert_int_equal(plan_ops(w, stale, 2, &plan, why), GROVE_OK); /* a sibling: fine */
	txn_plan_free(&plan);
	/* Batch-local references to what is not an earlier create. */
	struct tree_op forward[] = {create(local(1), "n"), create(at("/root/W/Z1"), "m")};
	expect_refusal(w, forward, 2, GROVE_EINVAL, "op 0 refers to op 1, which is not an earlier create");
	variant_free(&ref);
}

/* ---- the oracle ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t pick(size_t n)
{
	return (size_t)(rnd() % n);
}

/* A reference before it is made into each world's: a path, the id of a path, or an earlier op's node. */
struct aref {
	const char *path; /* NULL: local */
	bool by_id;
	int64_t k;
};

struct aop {
	enum tree_op_kind kind;
	struct aref node, target;
	const char *name;  /* PUT_RESOURCE: the resource's path */
	int64_t index;
	int64_t value;
	int64_t resource;  /* SET_PROP: the op whose resource is the value (-1: an int) */
};

struct nodes {
	char **paths;
	size_t n;
	bool *movable; /* not a shard root nor above one */
};

static void nodes_free(struct nodes *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->paths[i]);
	free(ns->paths);
	free(ns->movable);
	memset(ns, 0, sizeof(*ns));
}

static void nodes_of(const char *listing, const struct shard_map *map, struct nodes *ns)
{
	memset(ns, 0, sizeof(*ns));
	for (const char *line = listing; *line; line = strchr(line, '\n') + 1) {
		size_t len = strcspn(line, " \n");
		ns->paths = realloc(ns->paths, (ns->n + 1) * sizeof(*ns->paths));
		ns->movable = realloc(ns->movable, (ns->n + 1) * sizeof(*ns->movable));
		char *p = strndup(line, len);
		bool movable = strcmp(p, "/root") != 0;
		for (size_t e = 0; e < map->n; e++)
			if (strcmp(map->entries[e].path, "/root") != 0 && shard_path_within(map->entries[e].path, p))
				movable = false;
		ns->paths[ns->n] = p;
		ns->movable[ns->n++] = movable;
	}
}

static const char *names[] = {"n0", "n1", "n2", "n3", "x", "A"};

static struct aref any_ref(const struct nodes *ns, const struct aop *ops, size_t i, bool movable_only)
{
	if (!movable_only && i > 0 && pick(4) == 0) {
		size_t k = pick(i);
		if (ops[k].kind == TREE_OP_CREATE)
			return (struct aref){.k = (int64_t)k};
	}
	size_t at;
	do
		at = pick(ns->n);
	while (movable_only && !ns->movable[at]);
	return (struct aref){.path = ns->paths[at], .by_id = pick(10) < 3};
}

static size_t make_batch(const struct nodes *ns, struct aop *ops)
{
	size_t n = 1 + pick(6);
	for (size_t i = 0; i < n; i++) {
		struct aop *op = &ops[i];
		memset(op, 0, sizeof(*op));
		size_t roll = pick(100);
		if (ns->n > 160 && roll < 30)
			roll = 90; /* keep the world small: delete rather than create */
		op->index = pick(5) == 0 ? 0 : -1;
		op->name = names[pick(sizeof(names) / sizeof(names[0]))];
		op->resource = -1;
		if (roll < 4) {
			static const char *const resources[] = {"res://r0.png", "res://r1.png", "res://r2.png"};
			op->kind = TREE_OP_PUT_RESOURCE;
			op->name = resources[pick(3)];
		} else if (roll < 30) {
			op->kind = TREE_OP_CREATE;
			op->node = any_ref(ns, ops, i, false);
		} else if (roll < 50) {
			op->kind = TREE_OP_SET_PROP;
			op->node = any_ref(ns, ops, i, false);
			op->name = pick(2) ? "hp" : "mp";
			op->value = (int64_t)pick(1000);
			for (size_t k = 0; k < i; k++)
				if (ops[k].kind == TREE_OP_PUT_RESOURCE && pick(2))
					op->resource = (int64_t)k;
		} else if (roll < 60) {
			op->kind = TREE_OP_RENAME;
			op->node = any_ref(ns, ops, i, true);
		} else if (roll < 85) {
			op->kind = TREE_OP_MOVE;
			op->node = any_ref(ns, ops, i, true);
			op->target = any_ref(ns, ops, i, false);
		} else if (roll < 93) {
			op->kind = TREE_OP_DELETE;
			op->node = any_ref(ns, ops, i, true);
		} else if (roll < 94) {
			op->kind = TREE_OP_REORDER;
			op->node = any_ref(ns, ops, i, true);
			op->index = 0;
		} else if (roll < 95) {
			op->kind = TREE_OP_ADD_GROUP;
			op->node = any_ref(ns, ops, i, false);
			op->name = pick(2) ? "g0" : "g1";
		} else {
			/* Few signals, so that a connection is often there to remove, or there already. */
			op->kind = pick(3) ? TREE_OP_CONNECT : TREE_OP_DISCONNECT;
			op->node = any_ref(ns, ops, i, false);
			op->target = any_ref(ns, ops, i, false);
			op->name = pick(2) ? "s0" : "s1";
		}
	}
	return n;
}

static struct tree_ref make_ref(struct world *w, const struct aref *r)
{
	if (!r->path)
		return local(r->k);
	if (!r->by_id)
		return at(r->path);
	uint64_t id = id_of(w, r->path);
	assert_int_not_equal(id, 0);
	return (struct tree_ref){.id = (int64_t)id};
}

static void make_ops(struct world *w, const struct aop *a, size_t n, struct tree_op *ops, struct variant *values)
{
	for (size_t i = 0; i < n; i++) {
		ops[i] = (struct tree_op){.kind = a[i].kind, .node = make_ref(w, &a[i].node), .name = a[i].name,
					  .index = a[i].index, .text = "Node"};
		if (a[i].kind == TREE_OP_MOVE || a[i].kind == TREE_OP_CONNECT || a[i].kind == TREE_OP_DISCONNECT)
			ops[i].target = make_ref(w, &a[i].target);
		if (a[i].kind == TREE_OP_SET_PROP) {
			if (a[i].resource >= 0)
				variant_set_resource_ref(&values[i], -a[i].resource - 1);
			else
				variant_set_int(&values[i], a[i].value);
			ops[i].value = &values[i];
		}
		if (a[i].kind == TREE_OP_PUT_RESOURCE)
			ops[i] = (struct tree_op){.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT,
						  .text = "Texture", .instance = a[i].name, .name = "1"};
	}
}

static void describe(const struct aop *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		print_message("  op %zu kind %d node %s%s%lld target %s%s%lld name %s index %lld\n", i, (int)a[i].kind,
			      a[i].node.path ? a[i].node.path : "local:", a[i].node.by_id ? "(id)" : "",
			      (long long)(a[i].node.path ? 0 : a[i].node.k), a[i].target.path ? a[i].target.path : "local:",
			      a[i].target.by_id ? "(id)" : "", (long long)(a[i].target.path ? 0 : a[i].target.k), a[i].name,
			      (long long)a[i].index);
	}
}

/* The lines of one listing that the other lacks (a listing is too long to print whole). */
static void print_differences(const char *unsharded, const char *sharded)
{
	const char *sides[2][2] = {{unsharded, sharded}, {sharded, unsharded}};
	for (int s = 0; s < 2; s++) {
		for (const char *line = sides[s][0]; *line; line = strchr(line, '\n') + 1) {
			size_t len = strcspn(line, "\n");
			bool found = false;
			for (const char *o = sides[s][1]; *o && !found; o = strchr(o, '\n') + 1)
				found = strcspn(o, "\n") == len && strncmp(o, line, len) == 0;
			if (!found)
				print_message("only %s: %.*s\n", s ? "sharded" : "unsharded", (int)len, line);
		}
	}
}

/* The random runs' seed (GROVE_PLAN_SEED, else the time) and length (GROVE_PLAN_BATCHES, else 400); seeds rnd(). */
static uint64_t seed_run(uint64_t salt, size_t *count)
{
	const char *seed_env = getenv("GROVE_PLAN_SEED"), *count_env = getenv("GROVE_PLAN_BATCHES");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL);
	*count = count_env ? strtoul(count_env, NULL, 0) : 400;
	rng_state = seed * 2654435761u + salt;
	return seed;
}

static int count_edge(void *ctx, uint64_t inside, uint64_t outside)
{
	(void)inside, (void)outside;
	++*(size_t *)ctx;
	return 0;
}

/* Connections with nodes outside the subtrees that part @p part carries out. */
static size_t edges_carried(const struct txn_plan_part *part)
{
	Grove__WriteRequest *r = part_request(part);
	size_t edges = 0;
	for (size_t i = 0; i < r->n_ops; i++)
		if (r->ops[i]->kind == TREE_OP_CARRY_OUT)
			assert_int_equal(tree_carried_edges(r->ops[i]->carried.data, r->ops[i]->carried.len, count_edge,
							    &edges), GROVE_OK);
	grove__write_request__free_unpacked(r, NULL);
	return edges;
}

static void test_oracle(void **state)
{
	(void)state;
	size_t batches;
	uint64_t seed = seed_run(1, &batches);
	struct world sharded, flat;
	world_open(&sharded, "txnplan-sharded", true);
	world_open(&flat, "txnplan-flat", false);
	char *expect = listing_of(&flat), *got = listing_of(&sharded);
	assert_string_equal(got, expect);
	free(got);
	size_t both_ok = 0, both_refused = 0, plan_only = 0, multi = 0, carries = 0, linked = 0, leaving = 0, resourced = 0;
	/* A long run goes on past its length, up to three times it, until the rarest kinds have come up. */
	size_t b = 0;
	for (; b < batches || (batches >= 400 && b < 3 * batches && (!leaving || !resourced)); b++) {
		struct nodes ns;
		nodes_of(expect, &sharded.map, &ns);
		struct aop a[8];
		size_t n = make_batch(&ns, a);
		plan_walk_max = pick(2); /* a delete looks node by node below it, or (1: unless it is a leaf) at all */
		struct tree_op ops_s[8], ops_f[8];
		struct variant values_s[8] = {0}, values_f[8] = {0};
		make_ops(&sharded, a, n, ops_s, values_s);
		make_ops(&flat, a, n, ops_f, values_f);

		struct store_txn *txn;
		struct txn_plan plan;
		char why[512];
		size_t failed_s = SIZE_MAX, failed_f = SIZE_MAX;
		assert_int_equal(store_txn_begin(sharded.store, NULL, true, &txn), GROVE_OK);
		int err_plan = plan_in(&sharded, txn, ops_s, n, NULL, &plan, why);
		int err_s = err_plan ? err_plan : apply_parts(&sharded, txn, &plan, &failed_s);
		/* The unsharded world keeps the batch only if the sharded one could: both worlds stay the same. */
		struct store_txn *flat_txn;
		assert_int_equal(store_txn_begin(flat.store, NULL, true, &flat_txn), GROVE_OK);
		struct tree_batch batch = {ops_f, n};
		struct tree_result res = {0};
		int err_f = tree_apply_batch(&flat.trees[WORLD], flat_txn, &batch, &res);
		failed_f = err_f ? res.failed_op : SIZE_MAX;
		tree_result_free(&res);
		if (err_s || err_f) {
			store_txn_abort(txn);
			store_txn_abort(flat_txn);
		} else {
			assert_int_equal(store_txn_commit(txn), GROVE_OK);
			assert_int_equal(store_txn_commit(flat_txn), GROVE_OK);
		}
		bool ok = true;
		if (err_plan && !err_f) {
			ok = err_plan == GROVE_ECROSSSHARD; /* only what a transaction cannot do in one go */
			plan_only++;
		} else if (err_plan) {
			both_refused++;
		} else if (!err_s != !err_f) {
			ok = false;
		} else if (err_s) {
			both_refused++;
			ok = err_s == err_f && failed_s == failed_f; /* the first op refused in its part is the batch's */
		} else {
			both_ok++;
			multi += plan.n_parts > 1;
			bool connects = false, puts = false;
			for (size_t i = 0; i < n; i++) {
				connects |= a[i].kind == TREE_OP_CONNECT || a[i].kind == TREE_OP_DISCONNECT;
				puts |= a[i].kind == TREE_OP_PUT_RESOURCE;
			}
			linked += connects && plan.n_parts > 1;
			resourced += puts && plan.n_parts > 1;
			for (size_t p = 0; p < plan.n_parts; p++) {
				carries += plan.parts[p].n_ops;
				leaving += edges_carried(&plan.parts[p]);
			}
			carries -= n;
		}
		free(expect);
		expect = listing_of(&flat);
		got = listing_of(&sharded);
		if (!ok || strcmp(got, expect) != 0) {
			print_message("batch %zu: plan %s (%s), sharded %s at op %zu, unsharded %s at op %zu\n", b,
				      grove_errname(err_plan), why, grove_errname(err_s), failed_s, grove_errname(err_f),
				      failed_f);
			describe(a, n);
			print_differences(expect, got);
			fail_msg("the sharded world differs from the unsharded one; replay with GROVE_PLAN_SEED=%llu",
				 (unsigned long long)seed);
		}
		free(got);
		if (!err_plan)
			txn_plan_free(&plan);
		for (size_t i = 0; i < n; i++) {
			variant_free(&values_s[i]);
			variant_free(&values_f[i]);
		}
		nodes_free(&ns);
	}
	print_message("seed %llu: %zu batches, %zu accepted by both (%zu across shards, %zu ops added for moves, "
		      "connections and resources across, %zu with connections across, %zu connections carried along "
		      "with a move, %zu putting resources across shards), %zu refused by both, %zu refused by the plan "
		      "alone\n",
		      (unsigned long long)seed, b, both_ok, multi, carries, linked, leaving, resourced, both_refused,
		      plan_only);
	if (both_ok * 5 < b * 2 || plan_only * 5 > b || carries * 20 < b || linked == 0 ||
	    (batches >= 400 && (leaving == 0 || resourced == 0)))
		fail_msg("too few batches accepted; replay with GROVE_PLAN_SEED=%llu", (unsigned long long)seed);
	free(expect);
	world_close(&sharded);
	world_close(&flat);
}

/* Part @p p of @p plan as a batch (carries allowed); release with wire_batch_free() and the request. */
static Grove__WriteRequest *part_batch(const struct txn_plan *plan, size_t p, struct wire_batch *b)
{
	Grove__WriteRequest *r = part_request(&plan->parts[p]);
	char msg[512];
	assert_int_equal(wire_decode_batch(r, true, b, msg, sizeof(msg)), GROVE_OK);
	return r;
}

static int count_child(void *ctx, uint64_t child)
{
	(void)child;
	++*(size_t *)ctx;
	return 0;
}

/* What a read of node @p id of group @p g returns: its subtree's listing, or (@p whole false) its line and how many children it has. */
static char *read_of(struct world *w, struct store_txn *txn, uint64_t g, uint64_t id, bool whole)
{
	char *text = test_tree_listing(&w->trees[g], txn, id, TEST_LIST_IDS | TEST_LIST_VALUES);
	if (whole)
		return text;
	size_t children = 0;
	assert_int_equal(tree_for_each_child(&w->trees[g], txn, id, count_child, &children), GROVE_OK);
	char *node = NULL;
	assert_true(asprintf(&node, "%.*s children=%zu", (int)strcspn(text, "\n"), text, children) > 0);
	free(text);
	return node;
}

struct read_seen {
	uint64_t group, id;
	bool whole;
	char *before;
};

/*
 * Reads beside the parts of @p plan (tree_read_beside()): random nodes of each part's group, read whole or
 * alone; every read that a part does not meet must read the same once every part is applied.
 */
static void reads_beside(struct world *w, const struct txn_plan *plan, const struct nodes *ns, uint64_t seed,
			 size_t *through, size_t *met)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(w->store, NULL, true, &txn), GROVE_OK);
	struct read_seen seen[16];
	size_t n_seen = 0;
	for (size_t p = 0; p < plan->n_parts; p++) {
		uint64_t g = plan->parts[p].group;
		struct wire_batch b;
		Grove__WriteRequest *r = part_batch(plan, p, &b);
		struct tree_batch pending = {b.ops, b.count};
		for (int k = 0; k < 4 && n_seen < 16; k++) {
			uint64_t id;
			if (tree_resolve_path(&w->trees[g], txn, ns->paths[pick(ns->n)], &id) != GROVE_OK)
				continue;
			bool whole = pick(2), meets;
			assert_int_equal(tree_read_beside(&w->trees[g], txn, &pending, id, whole, &meets), GROVE_OK);
			if (meets) {
				++*met;
				continue;
			}
			++*through;
			seen[n_seen++] = (struct read_seen){g, id, whole, read_of(w, txn, g, id, whole)};
		}
		wire_batch_free(&b);
		grove__write_request__free_unpacked(r, NULL);
	}
	size_t failed;
	bool applied = apply_parts(w, txn, plan, &failed) == GROVE_OK;
	for (size_t i = 0; i < n_seen; i++) {
		if (applied) {
			char *after = read_of(w, txn, seen[i].group, seen[i].id, seen[i].whole);
			if (strcmp(after, seen[i].before) != 0) {
				print_differences(seen[i].before, after);
				fail_msg("a read of node %llu (%s) that the transaction does not meet reads otherwise after it; "
					 "replay with GROVE_PLAN_SEED=%llu", (unsigned long long)seen[i].id,
					 seen[i].whole ? "whole" : "alone", (unsigned long long)seed);
			}
			free(after);
		}
		free(seen[i].before);
	}
	store_txn_abort(txn);
}

/*
 * Writes beside a transaction's pending part (tree_apply_beside()), the oracle: a random batch across shards is
 * the pending transaction, a random batch within one of its shards the write. Whenever the write is let
 * through, applying it and then every part leaves the world as every part and then the write does (the write
 * behaves as if it came after the transaction its client may have seen acknowledged), and the part still
 * applies after it. A check (keep false) decides as the apply does and changes nothing. Reads beside the parts
 * likewise (reads_beside()). GROVE_PLAN_SEED and GROVE_PLAN_BATCHES as for the oracle above.
 */
static void test_beside_commutes(void **state)
{
	(void)state;
	size_t rounds;
	uint64_t seed = seed_run(7, &rounds);
	plan_walk_max = 0;
	struct world w;
	world_open(&w, "txnplan-beside", true);
	size_t tried = 0, through = 0, met = 0, reads_through = 0, reads_met = 0;
	for (size_t round = 0; round < rounds; round++) {
		char *listing = listing_of(&w);
		struct nodes ns;
		nodes_of(listing, &w.map, &ns);
		struct aop ta[8], wa[8];
		struct tree_op t_ops[8], w_ops[8];
		struct variant t_values[8] = {0}, w_values[8] = {0};
		size_t tn = make_batch(&ns, ta), wn = 0;
		make_ops(&w, ta, tn, t_ops, t_values);
		struct txn_plan tplan, wplan;
		char why[512];
		bool have_t = plan_ops(&w, t_ops, tn, &tplan, why) == GROVE_OK;
		bool have_w = false, both_applied = false;
		size_t tp = 0;
		if (have_t && tplan.n_parts > 1)
			reads_beside(&w, &tplan, &ns, seed, &reads_through, &reads_met);
		if (have_t && tplan.n_parts > 1) {
			struct store_txn *txn;
			size_t failed;
			assert_int_equal(store_txn_begin(w.store, NULL, true, &txn), GROVE_OK);
			bool applies = apply_parts(&w, txn, &tplan, &failed) == GROVE_OK;
			store_txn_abort(txn);
			for (int attempt = 0; applies && attempt < 40 && !have_w; attempt++) {
				for (size_t i = 0; i < wn; i++)
					variant_free(&w_values[i]);
				wn = make_batch(&ns, wa);
				make_ops(&w, wa, wn, w_ops, w_values);
				if (plan_ops(&w, w_ops, wn, &wplan, why) != GROVE_OK)
					continue;
				for (size_t p = 0; p < tplan.n_parts && !have_w; p++)
					if (wplan.n_parts == 1 && wplan.parts[0].group == tplan.parts[p].group) {
						have_w = true;
						tp = p;
					}
				if (!have_w)
					txn_plan_free(&wplan);
			}
		}
		if (have_w) {
			tried++;
			uint64_t g = tplan.parts[tp].group;
			struct wire_batch pending_b, write_b;
			Grove__WriteRequest *pending_r = part_batch(&tplan, tp, &pending_b);
			Grove__WriteRequest *write_r = part_batch(&wplan, 0, &write_b);
			struct tree_batch pending = {pending_b.ops, pending_b.count}, write = {write_b.ops, write_b.count};
			struct store_txn *txn;
			size_t failed;
			assert_int_equal(store_txn_begin(w.store, NULL, true, &txn), GROVE_OK);
			struct tree_result checked = {0}, res = {0};
			int check = tree_apply_beside(&w.trees[g], txn, &pending, &write, false, &checked);
			char *unchanged = listing_in(&w, txn);
			assert_string_equal(unchanged, listing);
			free(unchanged);
			int err = tree_apply_beside(&w.trees[g], txn, &pending, &write, true, &res);
			assert_int_equal(check, err);
			assert_true(err == GROVE_OK || err == GROVE_EINTENT);
			if (err == GROVE_EINTENT) {
				met++;
				store_txn_abort(txn);
			} else {
				through++;
				both_applied = true;
				struct grove_buf ids_first = {0}, ids_after = {0};
				int t_err = apply_parts_ids(&w, txn, &tplan, &failed, &ids_first);
				char *write_first = listing_in(&w, txn);
				store_txn_abort(txn);
				assert_int_equal(store_txn_begin(w.store, NULL, true, &txn), GROVE_OK);
				assert_int_equal(apply_parts_ids(&w, txn, &tplan, &failed, &ids_after), GROVE_OK);
				struct tree_result after = {0};
				int w_err = tree_apply_batch(&w.trees[g], txn, &write, &after);
				char *write_after = listing_in(&w, txn);
				/* The ids too: the transaction's client was told them when its intents were written. */
				bool same_ids = ids_first.len == ids_after.len &&
						memcmp(ids_first.data, ids_after.data, ids_first.len) == 0;
				grove_buf_free(&ids_first);
				grove_buf_free(&ids_after);
				if (t_err || w_err || !same_ids || strcmp(write_first, write_after) != 0) {
					print_message("round %zu: part %s after the write, write %s after the part (%s), ids %s\n",
						      round, grove_errname(t_err), grove_errname(w_err), after.message,
						      same_ids ? "the same" : "differ");
					print_message("the transaction:\n");
					describe(ta, tn);
					print_message("the write (group %llu):\n", (unsigned long long)g);
					describe(wa, wn);
					print_differences(write_after, write_first);
					fail_msg("a write let through beside a transaction does not commute with it; replay with "
						 "GROVE_PLAN_SEED=%llu", (unsigned long long)seed);
				}
				tree_result_free(&after);
				free(write_first);
				free(write_after);
				assert_int_equal(store_txn_commit(txn), GROVE_OK);
			}
			tree_result_free(&checked);
			tree_result_free(&res);
			wire_batch_free(&pending_b);
			wire_batch_free(&write_b);
			grove__write_request__free_unpacked(pending_r, NULL);
			grove__write_request__free_unpacked(write_r, NULL);
			txn_plan_free(&wplan);
		}
		if (have_t && !both_applied)
			apply_plan(&w, &tplan); /* the world moves on either way (a refused batch changes nothing) */
		if (have_t)
			txn_plan_free(&tplan);
		for (size_t i = 0; i < 8; i++) {
			variant_free(&t_values[i]);
			variant_free(&w_values[i]);
		}
		nodes_free(&ns);
		free(listing);
	}
	print_message("seed %llu: %zu writes beside a transaction, %zu let through, %zu met it; %zu reads let through, %zu "
		      "met it\n", (unsigned long long)seed, tried, through, met, reads_through, reads_met);
	if (through * 10 < tried || met * 10 < tried || tried * 8 < rounds || reads_through * 10 < reads_met ||
	    reads_met * 10 < reads_through)
		fail_msg("too few of either; replay with GROVE_PLAN_SEED=%llu", (unsigned long long)seed);
	world_close(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_shard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parts_and_renumbering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_goes_to_every_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_across_halves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script_typed_arrays_across, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resources_across, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binds_across_keep_their_resource, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_across, setup, teardown),
		cmocka_unit_test(test_oracle),
		cmocka_unit_test(test_beside_commutes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
