/*
 * Subscriptions' filters over path steps: a subtree, its depth, a node moved out of it, the root renamed,
 * and an entry far deeper than the subscriber's root filtered in time linear in the entry; a transaction's
 * parts across shards handed out together at the end of the loop turn that applied the last, no tick needed;
 * positions across shards as text, and a stream across shards resumed from one: exactly the rest, the parts of a
 * transaction as one event, and the positions it cannot resume from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/server/arrival.h"
#include "src/server/subs.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "support.h"

#define GROUP 1
#define MAX_SEEN 16

/* What the last event carried, as a subscriber would read it. */
struct seen {
	size_t events;
	size_t n;            /* changes in the last event */
	enum tree_op_kind op[MAX_SEEN];
	uint64_t node[MAX_SEEN], parent[MAX_SEEN];
	int64_t at[MAX_SEEN];  /* a change's index */
	char *path[MAX_SEEN];
	char *old_path[MAX_SEEN];
	bool keep_paths;     /* false: count the changes only */
	uint64_t index;      /* of the last event */
	char *position;      /* and its position's text, if it named more than one group */
	size_t compacted;    /* "compacted" events */
	uint64_t committed_ns, applied_ns; /* of the last event */
};

static void forget(struct seen *s)
{
	for (size_t i = 0; i < MAX_SEEN; i++) {
		free(s->path[i]);
		free(s->old_path[i]);
		s->path[i] = s->old_path[i] = NULL;
	}
	free(s->position);
	s->position = NULL;
	s->n = 0;
}

static bool emit(void *ctx, uint64_t conn, const struct sub_event *ev)
{
	(void)conn;
	struct seen *s = ctx;
	s->compacted += ev->kind == SUB_COMPACTED;
	if (ev->kind != SUB_CHANGES)
		return true;
	forget(s);
	s->events++;
	s->n = ev->n_changes;
	s->index = ev->index;
	s->committed_ns = ev->committed_ns;
	s->applied_ns = ev->applied_ns;
	if (ev->n_at > 1)
		assert_non_null(s->position = subs_position_format(ev->at, ev->n_at));
	for (size_t i = 0; s->keep_paths && i < ev->n_changes && i < MAX_SEEN; i++) {
		s->op[i] = ev->changes[i].op;
		s->node[i] = ev->changes[i].node;
		s->parent[i] = ev->changes[i].parent;
		s->at[i] = ev->changes[i].index;
		assert_int_equal(tree_paths_string(ev->paths, ev->changes[i].path_step, &s->path[i]), GROVE_OK);
		assert_int_equal(tree_paths_string(ev->paths, ev->changes[i].old_path_step, &s->old_path[i]), GROVE_OK);
	}
	return true;
}

static size_t nothing_queued(void *ctx, uint64_t conn)
{
	(void)ctx;
	(void)conn;
	return 0;
}

static struct store_txn *no_txn(void *ctx)
{
	(void)ctx;
	return NULL;
}

static struct subs *subscribe(struct seen *seen, uint64_t root, const char *root_path, int depth)
{
	struct subs_config cfg = {0};
	struct subs_hooks hooks = {.ctx = seen, .emit = emit, .queued = nothing_queued, .read_txn = no_txn};
	struct subs *s;
	assert_int_equal(subs_create(&cfg, NULL, &hooks, &s), GROVE_OK);
	static const uint64_t groups[] = {GROUP};
	struct sub_spec spec = {.groups = groups, .n_groups = 1, .root = root, .root_path = root_path, .depth = depth};
	uint64_t oldest;
	assert_int_equal(subs_add(s, 1, &spec, 0, 0, &oldest), GROVE_OK);
	return s;
}

static uint32_t step(struct tree_paths *p, uint64_t node, uint32_t up, const char *name)
{
	uint32_t at;
	assert_int_equal(tree_paths_add(p, node, up, name, &at), GROVE_OK);
	return at;
}

static struct tree_change change(enum tree_op_kind op, uint64_t node, uint32_t path, uint32_t old_path)
{
	return (struct tree_change){.op = op, .node = node, .path_step = path, .old_path_step = old_path};
}

/* /root(1)/A(5)/B(6)/C(7) and /root/X(8); subscribers of /root/A/B and of /root/A down one level. */
static void test_subtree_and_depth(void **state)
{
	(void)state;
	struct tree_paths p = {0};
	uint32_t root = step(&p, 1, TREE_NO_PATH, "/root"), a = step(&p, 5, root, "A"), b = step(&p, 6, a, "B"),
		 c = step(&p, 7, b, "C"), x = step(&p, 8, root, "X"), c_under_x = step(&p, 7, x, "C");
	struct tree_change changes[] = {
		change(TREE_OP_SET_PROP, 7, c, TREE_NO_PATH),
		change(TREE_OP_SET_PROP, 8, x, TREE_NO_PATH),
		change(TREE_OP_SET_PROP, 5, a, TREE_NO_PATH),
		change(TREE_OP_SET_PROP, 6, b, TREE_NO_PATH),
		change(TREE_OP_MOVE, 7, c_under_x, c),
	};
	struct seen seen = {.keep_paths = true};
	struct subs *s = subscribe(&seen, 6, "/root/A/B", -1);
	subs_publish(s, GROUP, 1, changes, 5, &p, NULL, NULL);
	assert_int_equal(seen.events, 1);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.path[0], "/root/A/B/C");
	assert_string_equal(seen.path[1], "/root/A/B");
	assert_int_equal(seen.op[2], TREE_OP_DELETE); /* it left the subtree */
	assert_string_equal(seen.path[2], "/root/A/B/C");
	subs_destroy(s);

	s = subscribe(&seen, 5, "/root/A", 1);
	subs_publish(s, GROUP, 1, changes, 4, &p, NULL, NULL);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.path[0], "/root/A");
	assert_string_equal(seen.path[1], "/root/A/B");
	subs_destroy(s);

	/* /root/AB is not below /root/A. */
	uint32_t ab = step(&p, 9, root, "AB");
	struct tree_change beside = change(TREE_OP_SET_PROP, 9, ab, TREE_NO_PATH);
	s = subscribe(&seen, 5, "/root/A", -1);
	seen.events = 0;
	subs_publish(s, GROUP, 1, &beside, 1, &p, NULL, NULL);
	assert_int_equal(seen.events, 0);
	subs_destroy(s);
	forget(&seen);
	tree_paths_free(&p);
}

/* The subscribed root renamed in an entry: later changes of that entry below it still match. */
static void test_root_renamed(void **state)
{
	(void)state;
	struct tree_paths p = {0};
	uint32_t root = step(&p, 1, TREE_NO_PATH, "/root"), a = step(&p, 5, root, "A"), a2 = step(&p, 5, root, "A2"),
		 c = step(&p, 7, a2, "C");
	struct tree_change changes[] = {
		change(TREE_OP_RENAME, 5, a2, a),
		change(TREE_OP_SET_PROP, 7, c, TREE_NO_PATH),
	};
	struct seen seen = {.keep_paths = true};
	struct subs *s = subscribe(&seen, 5, "/root/A", -1);
	subs_publish(s, GROUP, 1, changes, 2, &p, NULL, NULL);
	/* As before steps: the root's own rename is not sent (its new path is judged against the old root path). */
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.path[0], "/root/A2/C");
	subs_destroy(s);
	forget(&seen);
	tree_paths_free(&p);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 100,000-level chain in one entry, filtered for subscribers beside it and halfway down it. */
static void test_deep_entry_is_linear(void **state)
{
	(void)state;
	enum { DEPTH = 100000 };
	struct tree_paths p = {0};
	struct tree_change *changes = calloc(DEPTH, sizeof(*changes));
	assert_non_null(changes);
	uint32_t up = step(&p, 1, TREE_NO_PATH, "/root");
	for (size_t i = 0; i < DEPTH; i++) {
		up = step(&p, 100 + i, up, "n");
		changes[i] = change(TREE_OP_CREATE, 100 + i, up, TREE_NO_PATH);
	}
	struct seen seen = {.keep_paths = false};
	double start = now_s();
	struct subs *s = subscribe(&seen, 2, "/root/other", -1);
	subs_publish(s, GROUP, 1, changes, DEPTH, &p, NULL, NULL);
	assert_int_equal(seen.events, 0);
	subs_destroy(s);
	/* /root followed by DEPTH / 2 "/n": the node created by change DEPTH / 2 - 1. */
	size_t len = 5 + 2 * (DEPTH / 2);
	char *half = malloc(len + 1);
	assert_non_null(half);
	memcpy(half, "/root", 5);
	for (size_t i = 5; i < len; i += 2)
		memcpy(half + i, "/n", 2);
	half[len] = '\0';
	s = subscribe(&seen, 100 + DEPTH / 2 - 1, half, -1);
	subs_publish(s, GROUP, 1, changes, DEPTH, &p, NULL, NULL);
	assert_int_equal(seen.events, 1);
	assert_int_equal(seen.n, DEPTH - DEPTH / 2 + 1);
	subs_destroy(s);
	double took = now_s() - start;
	printf("a %d-level entry filtered for two subscribers: %.3f s\n", DEPTH, took);
	assert_true(took < 10.0); /* quadratic work would take minutes */
	free(half);
	free(changes);
	tree_paths_free(&p);
}

/* ---- a subtree across two shards ---- */

#define SHARD_A 1
#define SHARD_B 2
#define TXN_ID 77

/* Two shards' history in a store of their own, and subscribers of /root, which spans both. */
struct shards {
	char *dir;
	struct store *store;
	struct history history;
	struct seen seen;
	size_t queued;          /* what every subscriber's connection holds unsent */
	struct subs *subs;
	uint64_t applied[4];    /* per shard (a third one split off SHARD_A) */
	uint64_t txn_id;        /* of the next parts (0: TXN_ID) */
	struct tree tree;       /* SHARD_A's tree, in the same store */
	struct tree tree_b;     /* SHARD_B's (it holds its root only) */
	struct arrival_limits carry; /* SHARD_A's records carry what moves brought, within these (0 nodes: they do not) */
	bool unpublished;       /* apply() records the entry in the history but does not publish it */
	bool unrecorded;        /* apply() does neither: the entry is lost */
};

static size_t shards_queued(void *ctx, uint64_t conn)
{
	(void)conn;
	const struct shards *sh = ctx;
	return sh->queued;
}

static bool shards_emit(void *ctx, uint64_t conn, const struct sub_event *ev)
{
	struct shards *sh = ctx;
	return emit(&sh->seen, conn, ev);
}

static struct store_txn *shards_read(void *ctx)
{
	struct shards *sh = ctx;
	struct store_txn *txn;
	return store_txn_begin(sh->store, NULL, false, &txn) == GROVE_OK ? txn : NULL;
}

static const struct tree *shards_tree(void *ctx, uint64_t group, uint64_t *applied)
{
	struct shards *sh = ctx;
	*applied = sh->applied[group];
	return group == SHARD_A ? &sh->tree : group == SHARD_B ? &sh->tree_b : NULL;
}

/* (Again) the subscriptions of @p sh, without subscribers. */
static void shards_subs(struct shards *sh, unsigned max_catchups, size_t arrival_max_nodes)
{
	subs_destroy(sh->subs);
	struct subs_config cfg = {.max_catchups = max_catchups, .live_max_queued = 1000,
				  .arrival_max_nodes = arrival_max_nodes};
	struct subs_hooks hooks = {.ctx = sh, .emit = shards_emit, .queued = shards_queued, .read_txn = shards_read,
				   .tree = shards_tree};
	assert_int_equal(subs_create(&cfg, &sh->history, &hooks, &sh->subs), GROVE_OK);
}

static void shards_open(struct shards *sh, unsigned max_catchups, size_t subscribers)
{
	*sh = (struct shards){.dir = test_tmpdir("subs-shards"), .seen = {.keep_paths = true}};
	struct store_options opts = {.no_sync = true, .map_size = 1ull << 26};
	assert_int_equal(store_open(&sh->store, sh->dir, &opts), GROVE_OK);
	assert_int_equal(history_open(sh->store, 0, 0, &sh->history), GROVE_OK);
	assert_int_equal(tree_open(sh->store, SHARD_A, &sh->tree), GROVE_OK);
	assert_int_equal(tree_open(sh->store, SHARD_B, &sh->tree_b), GROVE_OK);
	struct store_txn *w;
	assert_int_equal(store_txn_begin(sh->store, NULL, true, &w), GROVE_OK);
	assert_int_equal(tree_init(&sh->tree, w), GROVE_OK);
	assert_int_equal(tree_init(&sh->tree_b, w), GROVE_OK);
	assert_int_equal(store_txn_commit(w), GROVE_OK);
	shards_subs(sh, max_catchups, 0);
	static const uint64_t groups[] = {SHARD_A, SHARD_B};
	static const uint64_t at[] = {0, 0};
	struct sub_spec spec = {.groups = groups, .n_groups = 2, .root = 1, .root_path = "/root", .depth = -1};
	for (uint64_t conn = 1; conn <= subscribers; conn++) {
		assert_int_equal(subs_add_held(sh->subs, conn, &spec, at), GROVE_OK);
		subs_release(sh->subs, conn);
	}
}

static void shards_close(struct shards *sh)
{
	subs_destroy(sh->subs);
	forget(&sh->seen);
	store_close(sh->store);
	test_rmtree(sh->dir);
}

/*
 * Apply the next entry of @p group as the host does: its record in the history, committed, then published.
 * It sets property "x" of node @p node at @p path, as a part of the transaction over both shards if @p part.
 */
static void apply(struct shards *sh, uint64_t group, uint64_t node, const char *path, bool part)
{
	struct tree_paths paths = {0};
	struct tree_change c = change(TREE_OP_SET_PROP, node, step(&paths, node, TREE_NO_PATH, path), TREE_NO_PATH);
	c.name = "x";
	uint64_t groups[] = {SHARD_A, SHARD_B};
	struct change_txn txn = {sh->txn_id ? sh->txn_id : TXN_ID, groups, 2};
	uint64_t index = ++sh->applied[group];
	if (sh->unrecorded) {
		tree_paths_free(&paths);
		return;
	}
	struct grove_buf rec = {0};
	assert_int_equal(history_encode(&c, 1, &paths, part ? &txn : NULL, &rec), GROVE_OK);
	struct store_txn *w;
	assert_int_equal(store_txn_begin(sh->store, NULL, true, &w), GROVE_OK);
	assert_int_equal(history_append(&sh->history, w, group, index, rec.data, rec.len), GROVE_OK);
	assert_int_equal(store_txn_commit(w), GROVE_OK);
	grove_buf_free(&rec);
	/* Times the test can tell apart: committed at 1000 x the group + the index, applied 1 later. */
	struct entry_times times = {1000 * group + index, 1000 * group + index + 1};
	if (!sh->unpublished)
		subs_publish(sh->subs, group, index, &c, 1, &paths, &times, part ? &txn : NULL);
	tree_paths_free(&paths);
}

/* The parts go out as one event when the turn that applied the last ends, with no tick in between. */
static void test_parts_at_turn_end(void **state)
{
	(void)state;
	struct shards sh;
	shards_open(&sh, 0, 1);
	apply(&sh, SHARD_A, 10, "/root/a", false);
	assert_int_equal(sh.seen.events, 1); /* live */
	apply(&sh, SHARD_A, 10, "/root/a", true);
	subs_turn(sh.subs, 1);
	assert_int_equal(sh.seen.events, 1); /* the part in B is not applied yet */
	apply(&sh, SHARD_B, 20, "/root/b", true);
	assert_int_equal(sh.seen.events, 1); /* never the last part alone, live */
	subs_turn(sh.subs, 1);
	assert_int_equal(sh.seen.events, 2);
	assert_int_equal(sh.seen.n, 2);
	assert_string_equal(sh.seen.path[0], "/root/a");
	assert_string_equal(sh.seen.path[1], "/root/b");
	/* Made from the history, the event still says when it was committed and applied: its last part's. */
	assert_int_equal(sh.seen.committed_ns, 1000 * SHARD_B + 1);
	assert_int_equal(sh.seen.applied_ns, 1000 * SHARD_B + 2);
	assert_false(subs_more_due(sh.subs));
	/* Caught up, it is live again: the next entry goes out as it is published. */
	apply(&sh, SHARD_B, 20, "/root/b", false);
	assert_int_equal(sh.seen.events, 3);
	assert_string_equal(sh.seen.path[0], "/root/b");
	shards_close(&sh);
}

/*
 * A shard split off below the root while the subscriber catches up: nothing of the new shard goes out
 * before what its source applied up to the split, even when the source's catch-up stops at a transaction's
 * part that waits for another shard.
 */
static void test_split_while_catching_up(void **state)
{
	(void)state;
	enum { SHARD_C = 3 };
	struct shards sh;
	shards_open(&sh, 0, 1);
	sh.queued = 2000; /* over live_max_queued: the subscriber leaves live mode */
	apply(&sh, SHARD_A, 10, "/root/a", false);
	apply(&sh, SHARD_A, 10, "/root/a", true); /* its part in B comes later */
	apply(&sh, SHARD_A, 30, "/root/c", false); /* the split's entry */
	subs_moved(sh.subs, SHARD_A, sh.applied[SHARD_A], "/root/c", SHARD_C, 0);
	apply(&sh, SHARD_C, 30, "/root/c", false); /* after the split */
	sh.queued = 0;
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.events, 1); /* A's first entry; A waits at the part, C at the split */
	assert_string_equal(sh.seen.path[0], "/root/a");
	assert_int_equal(sh.seen.committed_ns, 1000 * SHARD_A + 1); /* caught up from the history, with its times */
	apply(&sh, SHARD_B, 20, "/root/b", true);
	subs_turn(sh.subs, 1);
	subs_tick(sh.subs, 2);
	assert_int_equal(sh.seen.events, 4); /* the parts, the split's entry, then C's */
	assert_string_equal(sh.seen.path[0], "/root/c");
	assert_string_equal(sh.seen.position, "1:3,2:1,3:1");
	shards_close(&sh);
}

/*
 * Turns catch up at most max_catchups subscribers (ticks included), and none whose queue is too full; one
 * that left a subscriber to the cap alone wants another turn soon.
 */
static void test_turn_catchups_bounded(void **state)
{
	(void)state;
	struct shards sh;
	shards_open(&sh, 1, 2);
	apply(&sh, SHARD_A, 10, "/root/a", true);
	apply(&sh, SHARD_B, 20, "/root/b", true);
	sh.queued = 600; /* over half the limit: it waits for its connection to drain */
	subs_turn(sh.subs, 1);
	assert_int_equal(sh.seen.events, 0);
	assert_false(subs_more_due(sh.subs)); /* a drain brings it back: no turn is wanted for it */
	sh.queued = 0;
	subs_turn(sh.subs, 1);
	assert_int_equal(sh.seen.events, 1); /* one subscriber per turn */
	assert_true(subs_more_due(sh.subs)); /* the other waits for the cap alone: another turn is wanted */
	subs_turn(sh.subs, 1);
	assert_int_equal(sh.seen.events, 2);
	assert_false(subs_more_due(sh.subs));
	subs_turn(sh.subs, 1);
	assert_int_equal(sh.seen.events, 2); /* nothing more is due */
	shards_close(&sh);
}

/* ---- positions ---- */

static void test_position_codec(void **state)
{
	(void)state;
	const struct sub_at at[] = {{1, 120}, {5, 0}, {UINT64_MAX, UINT64_MAX}};
	char *text = subs_position_format(at, 3);
	assert_string_equal(text, "1:120,5:0,18446744073709551615:18446744073709551615");
	struct sub_at *back;
	size_t n;
	char why[200];
	assert_int_equal(subs_position_parse(text, &back, &n, why, sizeof(why)), GROVE_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(back, at, sizeof(at));
	free(back);
	free(text);
	assert_int_equal(subs_position_parse("7:0", &back, &n, why, sizeof(why)), GROVE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(back[0].group, 7);
	assert_int_equal(back[0].index, 0);
	free(back);
	const char *bad[] = {"", "1", "1:", ":1", "1:2,", ",1:2", "1:2,1:3", "0:5", "1:2 ", " 1:2", "+1:2", "1:-2", "1;2",
			     "a:b", "1:2:3", "18446744073709551616:1", "1:18446744073709551616"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		back = (struct sub_at *)1;
		why[0] = '\0';
		if (subs_position_parse(bad[i], &back, &n, why, sizeof(why)) != GROVE_EINVAL)
			fail_msg("\"%s\" parsed", bad[i]);
		assert_null(back);
		assert_int_equal(n, 0);
		assert_non_null(strstr(why, "position"));
	}
	/* More groups than a position may name. */
	size_t many = SUBS_POSITION_MAX_GROUPS + 1;
	struct sub_at *lots = calloc(many, sizeof(*lots));
	for (size_t i = 0; i < many; i++)
		lots[i] = (struct sub_at){i + 1, i};
	text = subs_position_format(lots, many);
	assert_int_equal(subs_position_parse(text, &back, &n, why, sizeof(why)), GROVE_EINVAL);
	free(text);
	free(lots);
}

/* Resume @p conn of @p sh's /root after @p position, each shard at what it applied. */
static int shards_resume(struct shards *sh, uint64_t conn, const char *position, const struct sub_span *span,
			 struct sub_refusal *why)
{
	static const uint64_t groups[] = {SHARD_A, SHARD_B};
	struct sub_spec spec = {.groups = groups, .n_groups = 2, .root = 1, .root_path = "/root", .depth = -1};
	struct sub_span now[2] = {{.applied = sh->applied[SHARD_A]}, {.applied = sh->applied[SHARD_B]}};
	struct sub_at *from;
	size_t n;
	char text[200];
	assert_int_equal(subs_position_parse(position, &from, &n, text, sizeof(text)), GROVE_OK);
	uint64_t at[2];
	int err = subs_resume(sh->subs, conn, &spec, span ? span : now, from, n, at, why);
	free(from);
	return err;
}

/*
 * A subscriber across two shards leaves after an event, entries go on in both, one more transaction across
 * them among them; resumed from its last position it gets exactly the rest, the transaction as one event.
 */
static void test_resume_across_shards(void **state)
{
	(void)state;
	struct shards sh;
	shards_open(&sh, 0, 1);
	apply(&sh, SHARD_A, 10, "/root/a", false);
	apply(&sh, SHARD_A, 10, "/root/a", true);
	apply(&sh, SHARD_B, 20, "/root/b", true);
	subs_turn(sh.subs, 1);
	assert_int_equal(sh.seen.events, 2);
	assert_string_equal(sh.seen.position, "1:2,2:1");
	assert_int_equal(sh.seen.index, 3);
	char *left_at = strdup(sh.seen.position);
	subs_remove(sh.subs, 1);

	apply(&sh, SHARD_B, 20, "/root/b", false);
	sh.txn_id = TXN_ID + 1;
	apply(&sh, SHARD_B, 20, "/root/b", true);
	apply(&sh, SHARD_A, 10, "/root/a", false);
	apply(&sh, SHARD_A, 10, "/root/a", true);
	apply(&sh, SHARD_A, 10, "/root/a", false);
	struct sub_refusal why;
	assert_int_equal(shards_resume(&sh, 2, left_at, NULL, &why), GROVE_OK);
	size_t before = sh.seen.events;
	/* The catch-up: B's entry 2, A's 3 (A's group first, up to the transaction's part), the parts, A's 5. */
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.events - before, 4);
	assert_int_equal(sh.seen.n, 1);
	assert_string_equal(sh.seen.position, "1:5,2:3");
	assert_int_equal(sh.seen.index, 8);
	/* Live again: the next entry goes out as it is published, after that position. */
	apply(&sh, SHARD_B, 20, "/root/b", false);
	assert_int_equal(sh.seen.events - before, 5);
	assert_string_equal(sh.seen.position, "1:5,2:4");

	/* A position past what this member applied skips what it has not sent. */
	assert_int_equal(shards_resume(&sh, 3, "1:5,2:4", NULL, &why), GROVE_OK);
	before = sh.seen.events;
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.events, before);
	free(left_at);
	shards_close(&sh);
}

/*
 * A subscriber of /root/c, which SHARD_A holds until a split moves it into a shard of its own (C): its stream
 * goes on in C from C's birth, A kept in its position, with no "compacted"; a position from before the split
 * resumes the same way (the spec then names C, the root's group, and A, which the position names), once A was
 * looked at up to the split; without the split's index, or without A, it cannot.
 */
static void test_subtree_handed_over_at_its_split(void **state)
{
	(void)state;
	enum { SHARD_C = 3, NODE_C = 30 };
	struct shards sh;
	shards_open(&sh, 0, 0);
	static const uint64_t before_split[] = {SHARD_A};
	struct sub_spec spec = {.groups = before_split, .n_groups = 1, .root = NODE_C, .root_path = "/root/c", .depth = -1};
	static const uint64_t at_start[] = {0};
	assert_int_equal(subs_add_held(sh.subs, 1, &spec, at_start), GROVE_OK);
	subs_release(sh.subs, 1);
	apply(&sh, SHARD_A, NODE_C, "/root/c", false);
	apply(&sh, SHARD_A, NODE_C, "/root/c", false);
	assert_int_equal(sh.seen.events, 2);
	assert_int_equal(sh.seen.index, 2);
	const char *left_at = "1:2";
	apply(&sh, SHARD_A, 10, "/root/a", false); /* the split's entry */
	subs_moved(sh.subs, SHARD_A, sh.applied[SHARD_A], "/root/c", SHARD_C, 0);
	apply(&sh, SHARD_C, NODE_C, "/root/c", false);
	assert_int_equal(sh.seen.events, 3);
	assert_int_equal(sh.seen.compacted, 0);
	assert_string_equal(sh.seen.path[0], "/root/c");
	assert_string_equal(sh.seen.position, "3:1,1:3"); /* the root's group first */
	assert_int_equal(sh.seen.index, 4);
	apply(&sh, SHARD_A, 10, "/root/a", false); /* nothing of the subtree: looked at, not sent */
	assert_int_equal(sh.seen.events, 3);

	/* Resumed from before the split, as a subscribe builds it: the root's group C, and A, which it names. */
	static const uint64_t after_split[] = {SHARD_C, SHARD_A};
	spec.groups = after_split;
	spec.n_groups = 2;
	struct sub_span span[2] = {{.applied = sh.applied[SHARD_C], .source = SHARD_A, .split_index = 3, .born = 0},
				   {.applied = sh.applied[SHARD_A]}};
	struct sub_at *from;
	size_t n;
	char text[200];
	assert_int_equal(subs_position_parse(left_at, &from, &n, text, sizeof(text)), GROVE_OK);
	uint64_t at[2];
	struct sub_refusal why;
	assert_int_equal(subs_resume(sh.subs, 2, &spec, span, from, n, at, &why), GROVE_OK);
	assert_int_equal(at[0], 0);
	assert_int_equal(at[1], 2);
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.events, 4); /* C's entry, once A was looked at past the split */
	assert_string_equal(sh.seen.path[0], "/root/c");
	assert_string_equal(sh.seen.position, "3:1,1:4");
	/* Not knowing where the split was, or not naming A: a new snapshot. */
	span[0].split_index = 0;
	assert_int_equal(subs_resume(sh.subs, 3, &spec, span, from, n, at, &why), GROVE_ERANGE);
	assert_non_null(strstr(why.reason, "shard 3 now"));
	free(from);
	span[0].split_index = 3;
	assert_int_equal(subs_position_parse("2:1", &from, &n, text, sizeof(text)), GROVE_OK);
	assert_int_equal(subs_resume(sh.subs, 3, &spec, span, from, n, at, &why), GROVE_ERANGE);
	free(from);
	assert_int_equal(sh.seen.compacted, 0);
	shards_close(&sh);
}

/*
 * A member whose copy of a group fell behind installs a snapshot of it: the entries the snapshot covers were
 * never applied here, so they are not in its history and were never published. A subscriber that had not
 * been given them all is told "compacted" (it takes a new snapshot) rather than handed the entries after
 * the snapshot as if nothing lay between; one that had been given them (it resumed from a position at or
 * past the snapshot, from another member) follows on.
 */
static void test_snapshot_installed_past_a_subscriber(void **state)
{
	(void)state;
	struct shards sh;
	shards_open(&sh, 0, 1);
	apply(&sh, SHARD_A, 10, "/root/a", false);
	assert_int_equal(sh.seen.events, 1);
	struct sub_refusal why;
	assert_int_equal(shards_resume(&sh, 2, "1:30,2:0", NULL, &why), GROVE_OK); /* from a member further on */
	sh.applied[SHARD_A] = 20;
	subs_installed(sh.subs, SHARD_A, 20);
	assert_int_equal(sh.seen.compacted, 1); /* subscriber 1, at 1:1 */
	assert_int_equal(sh.seen.events, 1);
	size_t before = sh.seen.events;
	for (int i = 0; i < 11; i++)
		apply(&sh, SHARD_A, 10, "/root/a", false);
	subs_tick(sh.subs, 1);
	/* Subscriber 2 gets 31 only: 21-30 it had. Subscriber 1 gets nothing: it is gone. */
	assert_int_equal(sh.seen.events - before, 1);
	assert_int_equal(sh.seen.index, 31);
	assert_int_equal(sh.seen.compacted, 1);
	shards_close(&sh);
}

/*
 * A live subscriber is handed an entry only if it follows the last one it was given; after a gap (never
 * expected: every applied entry is published) it goes to the history, which brings what lies between, in
 * order, or, when that is gone, says "compacted": never a silent skip.
 */
static void test_live_gap_goes_through_history(void **state)
{
	(void)state;
	struct shards sh;
	shards_open(&sh, 0, 1);
	apply(&sh, SHARD_A, 10, "/root/a", false);
	assert_int_equal(sh.seen.events, 1);
	sh.unpublished = true;
	apply(&sh, SHARD_A, 10, "/root/a", false);
	apply(&sh, SHARD_A, 10, "/root/a", false);
	sh.unpublished = false;
	apply(&sh, SHARD_A, 10, "/root/a", false); /* 4, after 2 and 3 that were not published */
	subs_turn(sh.subs, 1);
	subs_tick(sh.subs, 2);
	assert_int_equal(sh.seen.events, 4); /* 2, 3 and 4, in order, from the history */
	assert_int_equal(sh.seen.index, 4);
	sh.unrecorded = true;
	apply(&sh, SHARD_A, 10, "/root/a", false);
	sh.unrecorded = false;
	apply(&sh, SHARD_A, 10, "/root/a", false); /* 6, after 5 that is nowhere */
	subs_turn(sh.subs, 1);
	subs_tick(sh.subs, 3);
	assert_int_equal(sh.seen.events, 4);
	assert_int_equal(sh.seen.compacted, 1);
	shards_close(&sh);
}

/* Which resumes take a new snapshot instead, and why; the parts of a transaction never go out alone. */
static void test_resume_refused(void **state)
{
	(void)state;
	struct shards sh;
	shards_open(&sh, 0, 0);
	sh.history.max_entries = 2;
	for (int i = 0; i < 4; i++)
		apply(&sh, SHARD_A, 10, "/root/a", false);
	apply(&sh, SHARD_B, 20, "/root/b", false);
	struct sub_refusal why;
	/* Behind what A's history keeps (3 and 4). */
	assert_int_equal(shards_resume(&sh, 1, "1:1,2:0", NULL, &why), GROVE_ERANGE);
	assert_int_equal(why.oldest, 3);
	assert_non_null(strstr(why.reason, "no longer holds"));
	assert_int_equal(shards_resume(&sh, 1, "1:2,2:0", NULL, &why), GROVE_OK);
	/* A shard that holds no part of the subtree now, or not the root's. */
	assert_int_equal(shards_resume(&sh, 1, "1:2,2:0,9:4", NULL, &why), GROVE_ERANGE);
	assert_non_null(strstr(why.reason, "shard 9"));
	assert_int_equal(shards_resume(&sh, 1, "2:0", NULL, &why), GROVE_ERANGE);
	assert_non_null(strstr(why.reason, "shard 1 now"));
	/* B split off from A at A's entry 3 since: from its birth, once A was looked at up to the split. */
	struct sub_span split[2] = {{.applied = 4}, {.applied = 1, .source = SHARD_A, .split_index = 3, .born = 0}};
	assert_int_equal(shards_resume(&sh, 1, "1:2", split, &why), GROVE_OK);
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.events, 3);
	assert_string_equal(sh.seen.path[0], "/root/b");
	assert_string_equal(sh.seen.position, "1:4,2:1");
	/* A split whose source the position does not follow, or that is not done. */
	split[1].source = 9;
	assert_int_equal(shards_resume(&sh, 1, "1:2", split, &why), GROVE_ERANGE);
	assert_non_null(strstr(why.reason, "split off"));
	split[1] = (struct sub_span){.applied = 1, .source = SHARD_A};
	assert_int_equal(shards_resume(&sh, 1, "1:2", split, &why), GROVE_ERANGE);

	/* A transaction's part in A after the position, its part in B not applied yet: nothing of it goes out. */
	assert_int_equal(shards_resume(&sh, 1, "1:4,2:1", NULL, &why), GROVE_OK);
	sh.history.max_entries = 0;
	apply(&sh, SHARD_A, 10, "/root/a", true);
	size_t before = sh.seen.events;
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.events, before);
	subs_remove(sh.subs, 1);
	apply(&sh, SHARD_B, 20, "/root/b", true);
	assert_int_equal(shards_resume(&sh, 1, "1:4,2:1", NULL, &why), GROVE_OK);
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.events, before + 1);
	assert_int_equal(sh.seen.n, 2);
	assert_string_equal(sh.seen.position, "1:5,2:2");
	shards_close(&sh);
}

/* ---- a subtree moved into a subscriber's from outside it ---- */

/*
 * Apply batch @p ops in SHARD_A's tree as the host does: applied, its record in the history, committed,
 * then published. @p ids receives the ids the batch's operations created or acted on (NULL: not wanted).
 */
static void zone_apply_part(struct shards *sh, const struct tree_op *ops, size_t n, uint64_t *ids,
			    const struct change_txn *txn)
{
	struct store_txn *w;
	assert_int_equal(store_txn_begin(sh->store, NULL, true, &w), GROVE_OK);
	struct tree_result res = {.record_changes = true};
	struct tree_batch batch = {ops, n};
	assert_int_equal(tree_apply_batch(&sh->tree, w, &batch, &res), GROVE_OK);
	static const struct arrival_limits resources = {ARRIVAL_DEFAULT_MAX_NODES, ARRIVAL_DEFAULT_MAX_BYTES};
	assert_int_equal(arrival_resources(&sh->tree, w, &res, &resources), GROVE_OK);
	if (sh->carry.max_nodes)
		assert_int_equal(arrival_carry(&sh->tree, NULL, w, &res, &sh->carry), GROVE_OK);
	uint64_t index = ++sh->applied[SHARD_A];
	struct grove_buf rec = {0};
	assert_int_equal(history_encode(res.changes, res.n_changes, &res.paths, txn, &rec), GROVE_OK);
	assert_int_equal(history_append(&sh->history, w, SHARD_A, index, rec.data, rec.len), GROVE_OK);
	assert_int_equal(store_txn_commit(w), GROVE_OK);
	grove_buf_free(&rec);
	for (size_t i = 0; ids && i < n; i++)
		ids[i] = res.ids[i];
	subs_publish(sh->subs, SHARD_A, index, res.changes, res.n_changes, &res.paths, NULL, txn);
	tree_result_free(&res);
}

static void zone_apply(struct shards *sh, const struct tree_op *ops, size_t n, uint64_t *ids)
{
	zone_apply_part(sh, ops, n, ids, NULL);
}

/* Move /root/A/P to @p to ("/root/A" or "/root/B"). */
static void zone_move(struct shards *sh, const char *from, const char *to)
{
	struct tree_op move = {.kind = TREE_OP_MOVE, .node = {.path = from}, .target = {.path = to}, .index = -1};
	zone_apply(sh, &move, 1, NULL);
}

/* Connection @p conn follows /root/B (node @p b) in SHARD_A (and SHARD_B too if @p both) from what they applied. */
static void zone_subscribe_in(struct shards *sh, uint64_t conn, uint64_t b, bool both)
{
	static const uint64_t groups[] = {SHARD_A, SHARD_B};
	struct sub_spec spec = {.groups = groups, .n_groups = both ? 2 : 1, .root = b, .root_path = "/root/B", .depth = -1};
	uint64_t at[] = {sh->applied[SHARD_A], sh->applied[SHARD_B]};
	assert_int_equal(subs_add_held(sh->subs, conn, &spec, at), GROVE_OK);
	subs_release(sh->subs, conn);
}

static void zone_subscribe(struct shards *sh, uint64_t conn, uint64_t b)
{
	zone_subscribe_in(sh, conn, b, false);
}

/* /root/A/P with properties, a group, children C1 (with child D) and C2, and a connection C1 -> C2; /root/B. */
static uint64_t zone_build(struct shards *sh, uint64_t *ids)
{
	struct variant seven, two, nil = {0};
	variant_set_int(&seven, 7);
	variant_set_int(&two, 2);
	struct tree_op ops[] = {
		{.kind = TREE_OP_CREATE, .node = {TREE_ROOT_ID, NULL}, .name = "A", .text = "Node3D", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {TREE_ROOT_ID, NULL}, .name = "B", .text = "Node3D", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {-1, NULL}, .name = "P", .text = "Node3D", .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = {-3, NULL}, .name = "x", .value = &seven},
		{.kind = TREE_OP_ADD_GROUP, .node = {-3, NULL}, .name = "players"},
		{.kind = TREE_OP_CREATE, .node = {-3, NULL}, .name = "C1", .text = "Sprite", .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = {-6, NULL}, .name = "y", .value = &two},
		{.kind = TREE_OP_CREATE, .node = {-3, NULL}, .name = "C2", .text = "Node", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {-6, NULL}, .name = "D", .text = "Node", .index = -1},
		{.kind = TREE_OP_CONNECT, .node = {-6, NULL}, .target = {-8, NULL}, .name = "ready", .text = "on_ready",
		 .value = &nil},
	};
	zone_apply(sh, ops, sizeof(ops) / sizeof(ops[0]), ids);
	return ids[1];
}

/* shards_open(), zone_build() (@p ids its ids) and subscriber 1 of /root/B (in both shards if @p both): /root/B's id. */
static uint64_t zone_open(struct shards *sh, uint64_t *ids, bool both)
{
	shards_open(sh, 0, 0);
	uint64_t b = zone_build(sh, ids);
	zone_subscribe_in(sh, 1, b, both);
	return b;
}

/*
 * A node with children moved from /root/A into /root/B: a live subscriber of /root/B is given their
 * creation, parents first, with their properties, groups and connection; one catching up once more has
 * happened since is told "compacted", one catching up to the last entry is given the creation too; a
 * subtree over the limit is "compacted".
 */
static void test_move_in_creates(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	uint64_t b = zone_open(&sh, ids, false);
	uint64_t p = ids[2], c1 = ids[5], c2 = ids[7], d = ids[8];
	zone_move(&sh, "/root/A/P", "/root/B");
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(sh.seen.events, 1);
	assert_int_equal(sh.seen.n, 8);
	static const enum tree_op_kind ops[] = {TREE_OP_CREATE, TREE_OP_SET_PROP, TREE_OP_ADD_GROUP, TREE_OP_CREATE,
						TREE_OP_SET_PROP, TREE_OP_CREATE, TREE_OP_CREATE, TREE_OP_CONNECT};
	const uint64_t nodes[] = {p, p, p, c1, c1, c2, d, c1};
	static const char *const paths[] = {"/root/B/P", "/root/B/P", "/root/B/P", "/root/B/P/C1", "/root/B/P/C1",
					    "/root/B/P/C2", "/root/B/P/C1/D", "/root/B/P/C1"};
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(sh.seen.op[i], ops[i]);
		assert_int_equal(sh.seen.node[i], nodes[i]);
		assert_string_equal(sh.seen.path[i], paths[i]);
		if (i < 7)
			assert_null(sh.seen.old_path[i]);
	}
	assert_string_equal(sh.seen.old_path[7], "/root/B/P/C2"); /* the connection's target */
	assert_int_equal(sh.seen.parent[0], b);
	assert_int_equal(sh.seen.at[0], -1); /* where the move put it */
	assert_int_equal(sh.seen.parent[3], p);
	assert_int_equal(sh.seen.at[3], 0);
	assert_int_equal(sh.seen.at[5], 1);
	assert_int_equal(sh.seen.parent[6], c1);
	assert_int_equal(sh.seen.parent[7], c2); /* the connection's target */

	/* Out and in again while it catches up, and something after: the state moved on, "compacted". */
	zone_move(&sh, "/root/B/P", "/root/A");
	assert_int_equal(sh.seen.op[0], TREE_OP_DELETE);
	sh.queued = 2000;
	zone_move(&sh, "/root/A/P", "/root/B");
	zone_move(&sh, "/root/B/P/C2", "/root/B/P/C1");
	sh.queued = 0;
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.compacted, 1);

	/* Catching up to the last entry applied: the state is the entry's, the creation goes out. */
	zone_subscribe(&sh, 2, b);
	zone_move(&sh, "/root/B/P", "/root/A");
	sh.queued = 2000;
	zone_move(&sh, "/root/A/P", "/root/B");
	size_t events = sh.seen.events;
	sh.queued = 0;
	subs_tick(sh.subs, 2);
	assert_int_equal(sh.seen.compacted, 1);
	assert_int_equal(sh.seen.events, events + 1);
	assert_int_equal(sh.seen.n, 8);
	assert_int_equal(sh.seen.op[0], TREE_OP_CREATE);
	assert_string_equal(sh.seen.path[6], "/root/B/P/C1/C2"); /* C2 moved under C1 meanwhile */

	/* Four nodes, over a limit of three. */
	shards_subs(&sh, 0, 3);
	zone_subscribe(&sh, 3, b);
	zone_move(&sh, "/root/B/P", "/root/A");
	events = sh.seen.events;
	zone_move(&sh, "/root/A/P", "/root/B");
	assert_int_equal(sh.seen.events, events);
	assert_int_equal(sh.seen.compacted, 2);
	shards_close(&sh);
}

/*
 * A node whose property names an embedded resource (which names another, and a file's) moved into /root/B:
 * the subscriber (which may have subscribed after the resources were put) is given each embedded one
 * before the change that names it, the one it names first, and nothing for the file's (a reference names
 * its path); once, though two properties name it.
 */
static void test_move_in_brings_embedded_resources(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	uint64_t b = zone_open(&sh, ids, false);
	struct variant props, key, ref, skin, again;
	assert_int_equal(variant_set_dict(&props), GROVE_OK);
	assert_int_equal(variant_set_string(&key, VARIANT_STRING, "gradient", 8), GROVE_OK);
	variant_set_resource_ref(&ref, -2); /* op 1: the gradient */
	assert_int_equal(variant_dict_put(&props, &key, &ref), GROVE_OK);
	assert_int_equal(variant_set_string(&key, VARIANT_STRING, "normal", 6), GROVE_OK);
	variant_set_resource_ref(&ref, -1); /* op 0: a file */
	assert_int_equal(variant_dict_put(&props, &key, &ref), GROVE_OK);
	variant_set_resource_ref(&skin, -3); /* op 2: the texture */
	variant_set_resource_ref(&again, -3);
	struct tree_op ops[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture", .instance = "res://n.png",
		 .name = "1"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "Gradient", .name = "2"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "GradientTexture", .name = "3",
		 .value = &props},
		{.kind = TREE_OP_SET_PROP, .node = {.path = "/root/A/P/C1"}, .name = "texture", .value = &skin},
		{.kind = TREE_OP_SET_PROP, .node = {.path = "/root/A/P/C1"}, .name = "normal_map", .value = &again},
	};
	uint64_t made[5];
	zone_apply(&sh, ops, 5, made);
	zone_move(&sh, "/root/A/P", "/root/B");
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(sh.seen.n, 12);
	/* P's creation, x, its group; the gradient, the texture, then C1's creation... */
	static const enum tree_op_kind want[] = {TREE_OP_CREATE, TREE_OP_SET_PROP, TREE_OP_ADD_GROUP, TREE_OP_CREATE,
						 TREE_OP_SET_PROP, TREE_OP_PUT_RESOURCE, TREE_OP_PUT_RESOURCE,
						 TREE_OP_SET_PROP, TREE_OP_SET_PROP, TREE_OP_CREATE, TREE_OP_CREATE,
						 TREE_OP_CONNECT};
	for (size_t i = 0; i < 12; i++)
		assert_int_equal(sh.seen.op[i], want[i]);
	assert_int_equal(sh.seen.node[5], made[1]); /* the gradient, which the texture names */
	assert_int_equal(sh.seen.node[6], made[2]);
	assert_int_equal(sh.seen.parent[0], b);
	variant_free(&props);
	shards_close(&sh);
}

/*
 * A value that names an embedded resource stored before (a subscriber may have it only in its snapshot's
 * scene, or not at all) brings it, after the resources its properties name, once per entry; one that the
 * entry puts itself, or a file, is not brought again; a value of another kind is not looked into.
 */
static void test_set_brings_embedded_resources(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	uint64_t b = zone_open(&sh, ids, false);
	struct variant props, key, ref;
	assert_int_equal(variant_set_dict(&props), GROVE_OK);
	assert_int_equal(variant_set_string(&key, VARIANT_STRING, "gradient", 8), GROVE_OK);
	variant_set_resource_ref(&ref, -2); /* op 1: the gradient */
	assert_int_equal(variant_dict_put(&props, &key, &ref), GROVE_OK);
	struct tree_op put[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture", .instance = "res://n.png",
		 .name = "1"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "Gradient", .name = "2"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB, .text = "GradientTexture", .name = "3",
		 .value = &props},
	};
	uint64_t made[3];
	zone_apply(&sh, put, 3, made);
	variant_free(&props);
	sh.seen.n = 0;
	/* In /root/B: the texture twice (in a value and inside an Array), the file, a position. */
	struct variant skin, list, item, file, where;
	variant_set_resource_ref(&skin, (int64_t)made[2]);
	assert_int_equal(variant_set_array(&list), GROVE_OK);
	variant_set_resource_ref(&item, (int64_t)made[2]);
	assert_int_equal(variant_array_push(&list, &item), GROVE_OK);
	variant_set_resource_ref(&file, (int64_t)made[0]);
	where = (struct variant){.type = VARIANT_VECTOR2, .as.r = {1, 2}};
	struct tree_op sets[] = {
		{.kind = TREE_OP_CREATE, .node = {(int64_t)b, NULL}, .name = "S", .text = "Sprite", .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = {-1, NULL}, .name = "position", .value = &where},
		{.kind = TREE_OP_SET_PROP, .node = {-1, NULL}, .name = "texture", .value = &skin},
		{.kind = TREE_OP_SET_PROP, .node = {-1, NULL}, .name = "frames", .value = &list},
		{.kind = TREE_OP_SET_PROP, .node = {-1, NULL}, .name = "normal_map", .value = &file},
	};
	uint64_t sprite[5];
	zone_apply(&sh, sets, 5, sprite);
	static const enum tree_op_kind want[] = {TREE_OP_CREATE, TREE_OP_SET_PROP, TREE_OP_PUT_RESOURCE,
						 TREE_OP_PUT_RESOURCE, TREE_OP_SET_PROP, TREE_OP_SET_PROP,
						 TREE_OP_SET_PROP};
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(sh.seen.n, 7);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(sh.seen.op[i], want[i]);
	assert_int_equal(sh.seen.node[2], made[1]); /* the gradient, which the texture names, first */
	assert_int_equal(sh.seen.node[3], made[2]);
	/* The next entry names it again, inside an Array only: brought again. */
	sh.seen.n = 0;
	struct tree_op again = {.kind = TREE_OP_SET_PROP, .node = {(int64_t)sprite[0], NULL}, .name = "frames",
				.value = &list};
	zone_apply(&sh, &again, 1, NULL);
	variant_free(&list);
	assert_int_equal(sh.seen.n, 3);
	assert_int_equal(sh.seen.op[0], TREE_OP_PUT_RESOURCE);
	assert_int_equal(sh.seen.op[1], TREE_OP_PUT_RESOURCE);
	assert_int_equal(sh.seen.op[2], TREE_OP_SET_PROP);
	shards_close(&sh);
}

/* Apply @p ops in SHARD_A's tree in @p w, with change records, into @p res, then carry what they brought within @p limits: the steps before. */
static size_t carry_batch(struct shards *sh, struct store_txn *w, const struct tree_op *ops, size_t n,
			  const struct arrival_limits *limits, struct tree_result *res)
{
	*res = (struct tree_result){.record_changes = true};
	struct tree_batch batch = {ops, n};
	assert_int_equal(tree_apply_batch(&sh->tree, w, &batch, res), GROVE_OK);
	size_t steps = res->paths.n;
	assert_int_equal(arrival_carry(&sh->tree, NULL, w, res, limits), GROVE_OK);
	return steps;
}

/*
 * Records that carry what moves brought (the host's): a subscriber that catches up, after the tree moved on
 * since, is given the subtree as the entry left it, and then the later changes to it; with a carry over
 * its limits the record carries nothing, and such a subscriber is "compacted" as before. Moves that bring
 * nothing from outside a subtree (within one parent, up to an ancestor) carry nothing.
 */
static void test_move_in_carried(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	uint64_t b = zone_open(&sh, ids, false);
	sh.carry = (struct arrival_limits){ARRIVAL_DEFAULT_MAX_NODES, ARRIVAL_DEFAULT_MAX_BYTES};
	uint64_t p = ids[2], c1 = ids[5], c2 = ids[7];
	sh.queued = 2000; /* it falls behind: catching up, the tree ahead of what it is given */
	zone_move(&sh, "/root/A/P", "/root/B");
	zone_move(&sh, "/root/B/P/C2", "/root/B/P/C1");
	sh.queued = 0;
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(sh.seen.n, 1); /* the last event: C2 moved under C1, within the subtree */
	assert_int_equal(sh.seen.op[0], TREE_OP_MOVE);
	assert_string_equal(sh.seen.old_path[0], "/root/B/P/C2");
	assert_string_equal(sh.seen.path[0], "/root/B/P/C1/C2");
	assert_int_equal(sh.seen.events, 2);

	/* Given live, and resumed from the history: the same 8 changes, C2 where the move's entry left it. */
	zone_move(&sh, "/root/B/P", "/root/A");
	zone_move(&sh, "/root/A/P/C1/C2", "/root/A/P");
	zone_subscribe(&sh, 2, b);
	zone_move(&sh, "/root/A/P", "/root/B");
	assert_int_equal(sh.seen.n, 8);
	assert_string_equal(sh.seen.path[5], "/root/B/P/C2");
	assert_int_equal(sh.seen.parent[5], p);
	assert_int_equal(sh.seen.node[7], c1);
	assert_int_equal(sh.seen.parent[7], c2);
	size_t events = sh.seen.events;
	struct variant v;
	variant_set_int(&v, 5);
	struct tree_op set = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root/B/P"}, .name = "x", .value = &v};
	zone_apply(&sh, &set, 1, NULL);
	assert_int_equal(sh.seen.events, events + 2); /* one per subscriber */
	uint64_t at = sh.applied[SHARD_A] - 2;
	subs_remove(sh.subs, 2);
	static const uint64_t groups[] = {SHARD_A};
	struct sub_spec spec = {.groups = groups, .n_groups = 1, .root = b, .root_path = "/root/B", .depth = -1};
	assert_int_equal(subs_add_held(sh.subs, 2, &spec, &at), GROVE_OK);
	subs_release(sh.subs, 2);
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(sh.seen.n, 1); /* the set after the arrival, given last */
	assert_int_equal(sh.seen.op[0], TREE_OP_SET_PROP);
	assert_int_equal(sh.seen.events, events + 4);

	/* Within one parent, or up to an ancestor of the old place: nothing carried, nothing to give. */
	struct tree_op within[] = {
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/B/P/C2"}, .target = {.path = "/root/B/P"}, .index = 0},
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/B/P/C1/D"}, .target = {.path = "/root/B"}, .index = -1},
	};
	struct store_txn *w;
	assert_int_equal(store_txn_begin(sh.store, NULL, true, &w), GROVE_OK);
	struct tree_result res;
	carry_batch(&sh, w, within, 2, &sh.carry, &res);
	assert_int_equal(res.n_changes, 2);
	/*
	 * Within limits of two nodes: D (one node) carries its creation; P (three) carries nothing, and no move
	 * after it does, which leaves no step of it behind either.
	 */
	tree_result_free(&res);
	struct tree_op both_to_a[] = {
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/B/D"}, .target = {.path = "/root/A"}, .index = -1},
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/B/P"}, .target = {.path = "/root/A"}, .index = -1},
	};
	struct arrival_limits two = {2, ARRIVAL_DEFAULT_MAX_BYTES};
	carry_batch(&sh, w, both_to_a, 2, &two, &res);
	assert_int_equal(res.n_changes, 3);
	assert_true(res.changes[1].carried);
	assert_int_equal(res.changes[1].op, TREE_OP_CREATE);
	assert_false(res.changes[2].carried);
	tree_result_free(&res);
	struct tree_op both_to_b[] = {
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/A/P"}, .target = {.path = "/root/B"}, .index = -1},
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/A/D"}, .target = {.path = "/root/B"}, .index = -1},
	};
	size_t steps = carry_batch(&sh, w, both_to_b, 2, &two, &res);
	assert_int_equal(res.n_changes, 2);
	assert_int_equal(res.paths.n, steps);
	tree_result_free(&res);
	store_txn_abort(w);

	/* The subscriber behind again, with a record over the limits: "compacted". */
	sh.carry.max_nodes = 3;
	zone_move(&sh, "/root/B/P", "/root/A");
	sh.queued = 2000;
	zone_move(&sh, "/root/A/P", "/root/B");
	zone_apply(&sh, &set, 1, NULL);
	sh.queued = 0;
	subs_tick(sh.subs, 1);
	assert_int_equal(sh.seen.compacted, 2);
	shards_close(&sh);
}

/* The subscriber's depth, classes and properties pick among what arrives, as among any changes. */
static void test_move_in_filtered(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	uint64_t b = zone_open(&sh, ids, false);
	subs_remove(sh.subs, 1);
	static const uint64_t groups[] = {SHARD_A};
	static const char *const sprites[] = {"Sprite"}, *const y[] = {"y"};
	struct sub_spec shallow = {.groups = groups, .n_groups = 1, .root = b, .root_path = "/root/B", .depth = 1};
	struct sub_spec only = {.groups = groups, .n_groups = 1, .root = b, .root_path = "/root/B", .depth = -1,
				.classes = sprites, .n_classes = 1, .properties = y, .n_properties = 1};
	const struct sub_spec *specs[] = {&shallow, &only};
	static const enum tree_op_kind want[2][3] = {{TREE_OP_CREATE, TREE_OP_SET_PROP, TREE_OP_ADD_GROUP},
						     {TREE_OP_CREATE, TREE_OP_SET_PROP, TREE_OP_CONNECT}};
	static const char *const paths[2][3] = {{"/root/B/P", "/root/B/P", "/root/B/P"},
						{"/root/B/P/C1", "/root/B/P/C1", "/root/B/P/C1"}};
	for (size_t k = 0; k < 2; k++) {
		assert_int_equal(subs_add_held(sh.subs, 2, specs[k], &sh.applied[SHARD_A]), GROVE_OK);
		subs_release(sh.subs, 2);
		zone_move(&sh, "/root/A/P", "/root/B");
		assert_int_equal(sh.seen.n, 3);
		for (size_t i = 0; i < 3; i++) {
			assert_int_equal(sh.seen.op[i], want[k][i]);
			assert_string_equal(sh.seen.path[i], paths[k][i]);
		}
		zone_move(&sh, "/root/B/P", "/root/A");
		subs_remove(sh.subs, 2);
	}
	assert_int_equal(sh.seen.compacted, 0);
	shards_close(&sh);
}

/*
 * One entry moves P into /root/B and goes on changing what it brought: a set, a child made, a child moved
 * on to /root/B, a grandchild deleted. The subscriber is given P's subtree as the entry left it, those
 * changes not again, the child that moved on as an arrival of its own, and the connection to that child
 * after it.
 */
static void test_move_in_then_more(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	uint64_t b = zone_open(&sh, ids, false);
	struct variant nine;
	variant_set_int(&nine, 9);
	struct tree_op ops[] = {
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/A/P"}, .target = {.path = "/root/B"}, .index = -1},
		{.kind = TREE_OP_SET_PROP, .node = {.path = "/root/B/P"}, .name = "x", .value = &nine},
		{.kind = TREE_OP_CREATE, .node = {.path = "/root/B/P"}, .name = "New", .text = "Node", .index = -1},
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/B/P/C2"}, .target = {.path = "/root/B"}, .index = -1},
		{.kind = TREE_OP_DELETE, .node = {.path = "/root/B/P/C1/D"}},
	};
	zone_apply(&sh, ops, sizeof(ops) / sizeof(ops[0]), NULL);
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(sh.seen.events, 1);
	assert_int_equal(sh.seen.n, 8);
	/* The connection C1 -> C2 once C2 is there too. */
	static const enum tree_op_kind kinds[] = {TREE_OP_CREATE, TREE_OP_SET_PROP, TREE_OP_ADD_GROUP, TREE_OP_CREATE,
						  TREE_OP_SET_PROP, TREE_OP_CREATE, TREE_OP_CREATE, TREE_OP_CONNECT};
	static const char *const paths[] = {"/root/B/P", "/root/B/P", "/root/B/P", "/root/B/P/C1",
					    "/root/B/P/C1", "/root/B/P/New", "/root/B/C2", "/root/B/P/C1"};
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(sh.seen.op[i], kinds[i]);
		assert_string_equal(sh.seen.path[i], paths[i]);
	}
	assert_int_equal(sh.seen.node[6], ids[7]);
	assert_int_equal(sh.seen.parent[6], b);
	assert_int_equal(sh.seen.parent[7], ids[7]);
	shards_close(&sh);
}

/*
 * A move across shards into /root/B, whose carry-in (the whole move) SHARD_A applied, the part SHARD_B
 * recorded being the half it left by; then @p after more entries in SHARD_A; then the turn ends.
 */
static void zone_move_across(struct shards *sh, int after)
{
	uint64_t groups[] = {SHARD_A, SHARD_B};
	struct change_txn txn = {sh->txn_id ? sh->txn_id : TXN_ID, groups, 2};
	sh->txn_id = txn.id + 1;
	struct tree_op in = {.kind = TREE_OP_MOVE, .node = {.path = "/root/A/P"}, .target = {.path = "/root/B"}, .index = -1};
	zone_apply_part(sh, &in, 1, NULL, &txn);
	struct tree_paths paths = {0};
	uint64_t p = 0;
	struct store_txn *r = shards_read(sh);
	assert_int_equal(tree_resolve_path(&sh->tree, r, "/root/B/P", &p), GROVE_OK);
	store_txn_abort(r);
	struct tree_change half = change(TREE_OP_MOVE, p, step(&paths, p, TREE_NO_PATH, "/root/B/P"),
					 step(&paths, p, TREE_NO_PATH, "/root/A/P"));
	half.flags = TREE_MOVE_LEFT_GROUP;
	uint64_t index = ++sh->applied[SHARD_B];
	struct grove_buf rec = {0};
	assert_int_equal(history_encode(&half, 1, &paths, &txn, &rec), GROVE_OK);
	struct store_txn *w;
	assert_int_equal(store_txn_begin(sh->store, NULL, true, &w), GROVE_OK);
	assert_int_equal(history_append(&sh->history, w, SHARD_B, index, rec.data, rec.len), GROVE_OK);
	assert_int_equal(store_txn_commit(w), GROVE_OK);
	grove_buf_free(&rec);
	subs_publish(sh->subs, SHARD_B, index, &half, 1, &paths, NULL, &txn);
	tree_paths_free(&paths);
	for (int i = 0; i < after; i++) {
		struct variant v;
		variant_set_int(&v, i);
		struct tree_op set = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root/B/P"}, .name = "x", .value = &v};
		zone_apply(sh, &set, 1, NULL);
	}
	subs_turn(sh->subs, 1);
}

/*
 * A subscriber of /root/B that follows both shards of a move across them into it: given the parts
 * together at the end of the turn that applied the last, with nothing applied after them, it gets the
 * creation of what moved in; with an entry applied after them in that turn, "compacted".
 */
static void test_move_in_across_shards(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	zone_open(&sh, ids, true);
	zone_move_across(&sh, 0);
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(sh.seen.events, 1);
	assert_int_equal(sh.seen.n, 8);
	assert_int_equal(sh.seen.op[0], TREE_OP_CREATE);
	assert_int_equal(sh.seen.node[0], ids[2]);
	assert_string_equal(sh.seen.path[0], "/root/B/P");
	assert_string_equal(sh.seen.path[6], "/root/B/P/C1/D");
	assert_string_equal(sh.seen.position, "1:2,2:1");

	zone_move(&sh, "/root/B/P", "/root/A");
	assert_int_equal(sh.seen.op[0], TREE_OP_DELETE);
	zone_move_across(&sh, 1);
	assert_int_equal(sh.seen.compacted, 1);
	shards_close(&sh);
}

/* Connect @p from's signal "hit" to @p to's "on_hit" (or disconnect them) in SHARD_A, as one entry. */
static void zone_connect(struct shards *sh, const char *from, const char *to, bool connect)
{
	struct variant nil = {0};
	struct tree_op op = {.kind = connect ? TREE_OP_CONNECT : TREE_OP_DISCONNECT, .node = {.path = from},
			     .target = {.path = to}, .name = "hit", .text = "on_hit", .value = &nil};
	zone_apply(sh, &op, 1, NULL);
}

/* Whether the last event gave the connection from node @p from to node @p to, its paths @p path and @p target. */
static size_t seen_connection(const struct shards *sh, uint64_t from, uint64_t to, const char *path,
			      const char *target)
{
	size_t found = 0;
	for (size_t i = 0; i < sh->seen.n && i < MAX_SEEN; i++) {
		if (sh->seen.op[i] != TREE_OP_CONNECT || sh->seen.node[i] != from || sh->seen.parent[i] != to)
			continue;
		assert_string_equal(sh->seen.path[i], path);
		assert_non_null(sh->seen.old_path[i]);
		assert_string_equal(sh->seen.old_path[i], target);
		found++;
	}
	return found;
}

/*
 * A subscriber is given a connection only while both its ends are in its subtree, as its snapshot would
 * hold it: one to a node outside is not given; when that node moves in, the connections to it from nodes
 * the subscriber has come with it, once, whether the record carries the arrival or it is read live; and
 * a connection between two subtrees moved in by one entry is given once, not by both.
 */
static void test_connections_need_both_ends(void **state)
{
	(void)state;
	struct shards sh;
	uint64_t ids[10];
	uint64_t b = zone_open(&sh, ids, false);
	uint64_t p = ids[2], c1 = ids[5], c2 = ids[7];
	struct tree_op make_q = {.kind = TREE_OP_CREATE, .node = {.path = "/root/B"}, .name = "Q", .text = "Area",
				 .index = -1};
	uint64_t q;
	zone_apply(&sh, &make_q, 1, &q);
	assert_int_equal(sh.seen.op[0], TREE_OP_CREATE);

	/* Out of the subtree at either end: nothing for this subscriber. */
	size_t events = sh.seen.events;
	zone_connect(&sh, "/root/B/Q", "/root/A/P", true);
	zone_connect(&sh, "/root/A/P/C2", "/root/B/Q", true);
	assert_true(sh.seen.events == events || sh.seen.n == 0);

	/* P moves in: its own connection, its connection to Q, and Q's connection to it. */
	for (int carried = 0; carried < 2; carried++) {
		if (carried) {
			zone_move(&sh, "/root/B/P", "/root/A");
			assert_int_equal(sh.seen.op[0], TREE_OP_DELETE);
			sh.carry = (struct arrival_limits){ARRIVAL_DEFAULT_MAX_NODES, ARRIVAL_DEFAULT_MAX_BYTES};
			sh.queued = 2000; /* behind: the arrival must come from the record */
		}
		zone_move(&sh, "/root/A/P", "/root/B");
		if (carried) {
			zone_connect(&sh, "/root/A", "/root/A", true); /* the tree moves on, outside the subtree */
			sh.queued = 0;
			subs_tick(sh.subs, 1);
		}
		assert_int_equal(sh.seen.compacted, 0);
		assert_int_equal(sh.seen.n, 10);
		assert_int_equal(seen_connection(&sh, c1, c2, "/root/B/P/C1", "/root/B/P/C2"), 1);
		assert_int_equal(seen_connection(&sh, c2, q, "/root/B/P/C2", "/root/B/Q"), 1);
		assert_int_equal(seen_connection(&sh, q, p, "/root/B/Q", "/root/B/P"), 1);
		for (size_t i = 0; i < 7; i++)
			assert_int_not_equal(sh.seen.op[i], TREE_OP_CONNECT); /* after every node */
	}
	assert_int_equal(sh.seen.compacted, 0);

	/* Both ends in: a connection made or removed is given, its target's path with it. */
	zone_connect(&sh, "/root/B/Q", "/root/B/P/C1", true);
	assert_int_equal(sh.seen.n, 1);
	assert_int_equal(seen_connection(&sh, q, c1, "/root/B/Q", "/root/B/P/C1"), 1);
	zone_connect(&sh, "/root/B/Q", "/root/B/P", false);
	assert_int_equal(sh.seen.n, 1);
	assert_int_equal(sh.seen.op[0], TREE_OP_DISCONNECT);
	assert_string_equal(sh.seen.old_path[0], "/root/B/P");

	/* C2 and P move in again by one entry: C1 -> C2 is P's and C2's, given once. */
	zone_move(&sh, "/root/B/P", "/root/A");
	subs_tick(sh.subs, 1);
	struct tree_op both[] = {
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/A/P/C2"}, .target = {.path = "/root/B"}, .index = -1},
		{.kind = TREE_OP_MOVE, .node = {.path = "/root/A/P"}, .target = {.path = "/root/B"}, .index = -1},
	};
	zone_apply(&sh, both, 2, NULL);
	assert_int_equal(sh.seen.compacted, 0);
	assert_int_equal(seen_connection(&sh, c1, c2, "/root/B/P/C1", "/root/B/C2"), 1);
	assert_int_equal(seen_connection(&sh, c2, q, "/root/B/C2", "/root/B/Q"), 1);
	(void)b;
	shards_close(&sh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subtree_and_depth),
		cmocka_unit_test(test_root_renamed),
		cmocka_unit_test(test_deep_entry_is_linear),
		cmocka_unit_test(test_parts_at_turn_end),
		cmocka_unit_test(test_split_while_catching_up),
		cmocka_unit_test(test_turn_catchups_bounded),
		cmocka_unit_test(test_position_codec),
		cmocka_unit_test(test_resume_across_shards),
		cmocka_unit_test(test_resume_refused),
		cmocka_unit_test(test_subtree_handed_over_at_its_split),
		cmocka_unit_test(test_snapshot_installed_past_a_subscriber),
		cmocka_unit_test(test_live_gap_goes_through_history),
		cmocka_unit_test(test_move_in_creates),
		cmocka_unit_test(test_move_in_brings_embedded_resources),
		cmocka_unit_test(test_set_brings_embedded_resources),
		cmocka_unit_test(test_move_in_then_more),
		cmocka_unit_test(test_move_in_filtered),
		cmocka_unit_test(test_move_in_carried),
		cmocka_unit_test(test_move_in_across_shards),
		cmocka_unit_test(test_connections_need_both_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
