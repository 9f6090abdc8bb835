/* Writes across shards on a real 3-node groved cluster, committed as parallel-commit transactions: a node
 * and its subtree moved from one shard to another and back, a batch that sets values in two shards, a batch
 * whose part one shard refuses (nothing of it anywhere); batches across the same shards back to back, which
 * never wait for the last one's parts to be applied; then moves back and forth, coordinated by each member
 * in turn, with kill -9 of the coordinating member in the middle of some of them: afterwards the node is in
 * exactly one place, with its subtree, on every member, and no shard is held by an intent or keeps a
 * transaction resolved early without its record's confirmation. A subscriber of
 * the world across its shards gets one snapshot of all of them and one stream in which each move across
 * shards is one move, and a shard split off below it later is followed too; a node moved into a subscriber's
 * subtree brings the connections its snapshot holds, whatever shard their other end is in. Writes across shards with a
 * submit key (protobuf and the Godot gateway) apply once: a retry after a reconnect, one that races the first
 * attempt, and one after a split moved one of their nodes answer the first attempt's index and change
 * nothing, as does one whose first op names by id a node the first attempt moved across shards (answered by
 * the shard that took it); a key whose transaction was refused is free again. A subscriber across shards that leaves resumes
 * from its last position, on another member, over protobuf and the Godot gateway: exactly the rest, a move
 * across shards as one event; a position the history no longer holds is answered "compacted", a malformed one
 * an error; `grove watch --from` resumes from a position too. */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/server/tree_sm.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "cluster.h"
#include "files.h"
#include "godot_client.h"
#include "harness.h"
#include "support.h"

#define ZONE_A "/root/World/ZoneA"
#define ZONE_B "/root/World/ZoneB"
/* Moves in the kill test, and one in how many has its coordinator killed. */
#define MOVES 100
#define KILL_EVERY 10
/* Moves while a subscriber follows the world. */
#define STREAMED_MOVES 10

static struct tree_op create(const char *parent, const char *name)
{
	return (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = parent}, .name = name, .text = "Node3D",
				.index = -1};
}

static struct tree_op move(const char *node, const char *parent)
{
	return (struct tree_op){.kind = TREE_OP_MOVE, .node = {.path = node}, .target = {.path = parent}, .index = -1};
}

/*
 * Shards held by an intent, or with a transaction resolved early that its record has not confirmed, as member
 * @p node sees them (-1 if it does not answer).
 */
static int unsettled_shards(struct cluster *c, int node)
{
	struct grove_client *cl = cluster_connect(c, node);
	Grove__Envelope *holder;
	Grove__ShardReply *sr = client_shard_list(cl, &holder);
	int held = sr ? 0 : -1;
	for (size_t i = 0; sr && i < sr->n_shards; i++)
		held += sr->shards[i]->held_by || sr->shards[i]->resolved_early;
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(cl);
	return held;
}

/* Wait (bounded) until no member sees a shard held by an intent or resolved early without confirmation. */
static void wait_settled(struct cluster *c)
{
	for (int t = 0; t < 300; t++) {
		bool clear = true;
		for (int n = 1; n <= CLUSTER_NODES && clear; n++)
			clear = unsettled_shards(c, n) == 0;
		if (clear)
			return;
		usleep(100000);
	}
	fail_msg("a shard is still held by a transaction's intent, or resolved early unconfirmed, after 30 s");
}

/* The node at @p path as member @p node reads it: its id and how many children it has; 0 if there is none. */
static uint64_t node_at(struct grove_client *cl, const char *path, size_t *children)
{
	Grove__Envelope *holder = NULL;
	Grove__ReadReply *rr = client_read(cl, path, 1, false, &holder);
	uint64_t id = 0;
	if (rr && rr->code == 0 && rr->n_nodes >= 1) {
		id = rr->nodes[0]->id;
		if (children)
			*children = rr->n_nodes - 1;
	} else if (!rr || rr->code != GROVE_ENOTFOUND) {
		fail_msg("reading %s: %s", path,
			 rr					       ? rr->message
			 : holder && holder->body_case == GROVE__ENVELOPE__BODY_ERROR ? holder->error->message
										     : "no answer (the connection failed)");
	}
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	return id;
}

/* Where the player is on member @p node: 'A', 'B', or 0 for nowhere; fails if it is in both. */
static char where(struct cluster *c, int node, uint64_t id)
{
	struct grove_client *cl = cluster_connect(c, node);
	size_t kids_a = 0, kids_b = 0;
	uint64_t a = node_at(cl, ZONE_A "/P", &kids_a), b = node_at(cl, ZONE_B "/P", &kids_b);
	grove_client_close(cl);
	if (a && b)
		fail_msg("member %d holds the player in both zones", node);
	if (a || b) {
		assert_int_equal(a ? a : b, id);
		assert_int_equal(a ? kids_a : kids_b, 3);
	}
	return a ? 'A' : b ? 'B' : 0;
}

/*
 * Three members (serving metrics if @p metrics); ZoneA (holding P with three children and a property) and ZoneB
 * split off. P's id in @p id.
 */
static struct grove_client *start_world_with(struct cluster *c, const char *const *args, bool metrics, uint64_t *id)
{
	if (metrics)
		cluster_start_with_metrics(c, args);
	else
		cluster_start(c, args);
	cluster_wait_leader(c);
	struct grove_client *cl = cluster_connect(c, 1);
	struct tree_op world[] = {create("/root", "World"), create("/root/World", "ZoneA"), create("/root/World", "ZoneB"),
				  create(ZONE_A, "P"), create(ZONE_A "/P", "Arm"), create(ZONE_A "/P", "Leg"),
				  create(ZONE_A "/P", "Head"), create(ZONE_B, "Q")};
	assert_int_equal(client_write_ops(cl, world, sizeof(world) / sizeof(world[0])), GROVE_OK);
	assert_int_equal(client_set_int(cl, ZONE_A "/P", "hp", 42), GROVE_OK);
	assert_int_equal(client_shard_split(cl, ZONE_A, NULL), GROVE_OK);
	assert_int_equal(client_shard_split(cl, ZONE_B, NULL), GROVE_OK);
	*id = node_at(cl, ZONE_A "/P", NULL);
	assert_true(*id > 0);
	return cl;
}

static struct grove_client *start_world(struct cluster *c, uint64_t *id)
{
	return start_world_with(c, NULL, false, id);
}

/* Hand the leadership of the shard at @p path to member @p to (`grove shard transfer-leader`), and see it taken. */
static void lead(struct grove_client *cl, const char *path, uint64_t to)
{
	for (int attempt = 0; attempt < 100 && client_shard_leader(cl, path) != to; attempt++) {
		Grove__Envelope *reply = client_shard_call(cl, GROVE__SHARD_REQUEST__OP__TRANSFER_LEADER, path, to);
		if (reply)
			grove__envelope__free_unpacked(reply, NULL);
		usleep(100000);
	}
	assert_int_equal(client_shard_leader(cl, path), to);
}

/* Plain writes to a node of each zone, back to back from one client, until @c stop: load on the shards' leaders. */
struct zone_load {
	struct cluster *c;
	bool stop;
	int written;
};

static void *load_zones(void *arg)
{
	struct zone_load *l = arg;
	struct grove_client *cl = cluster_connect(l->c, 1);
	for (int i = 0; !__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE) && i < 1000000; i++)
		l->written += client_set_int(cl, i % 2 ? ZONE_B "/Q" : ZONE_A, "load", i) == GROVE_OK;
	grove_client_close(cl);
	return NULL;
}

/* The subtree at @p path exported through @p cl as a Godot 4 text scene, whole; malloc'd. */
static char *export_text(struct grove_client *cl, const char *path)
{
	Grove__NodeRef ref = GROVE__NODE_REF__INIT;
	ref.path = (char *)path;
	Grove__ExportRequest ex = GROVE__EXPORT_REQUEST__INIT;
	ex.node = &ref;
	ex.godot_major = 4;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_EXPORT_SCENE;
	env.export_scene = &ex;
	assert_int_equal(grove_client_call(cl, &env, &reply), GROVE_OK);
	assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_EXPORT_REPLY);
	if (reply->export_reply->code)
		fail_msg("export of %s: %s", path, reply->export_reply->message);
	char *scene = strndup((const char *)reply->export_reply->scene.data, reply->export_reply->scene.len);
	grove__envelope__free_unpacked(reply, NULL);
	return scene;
}

static void test_writes_across_shards(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id;
	struct grove_client *cl = start_world(&c, &id);
	/* The player and its subtree go to the other shard, and come back. */
	struct tree_op there = move(ZONE_A "/P", ZONE_B);
	assert_int_equal(client_write_ops(cl, &there, 1), GROVE_OK);
	cluster_wait_converged(&c);
	for (int n = 1; n <= CLUSTER_NODES; n++)
		assert_int_equal(where(&c, n, id), 'B');
	struct tree_op back = move(ZONE_B "/P", ZONE_A);
	assert_int_equal(client_write_ops(cl, &back, 1), GROVE_OK);
	for (int n = 1; n <= CLUSTER_NODES; n++)
		assert_int_equal(where(&c, n, id), 'A');
	/*
	 * Back and forth by path, each move right after the last was answered: the next is planned by the leader of
	 * the shard the last one moved it into (another member: the zones are led by members 2 and 3), which may
	 * not have applied that shard's intent yet when the other coordinated (and answered) it, the more so while
	 * other writes keep both busy. It must find the node there, not answer "no such node".
	 */
	lead(cl, ZONE_A, 2);
	lead(cl, ZONE_B, 3);
	struct zone_load load[6];
	pthread_t loaders[6];
	for (int k = 0; k < 6; k++) {
		load[k] = (struct zone_load){.c = &c};
		assert_int_equal(pthread_create(&loaders[k], NULL, load_zones, &load[k]), 0);
	}
	for (int i = 0; i < 100; i++) {
		struct tree_op hop = move(i % 2 ? ZONE_B "/P" : ZONE_A "/P", i % 2 ? ZONE_A : ZONE_B);
		assert_int_equal(client_write_ops(cl, &hop, 1), GROVE_OK);
	}
	for (int k = 0; k < 6; k++) {
		__atomic_store_n(&load[k].stop, true, __ATOMIC_RELEASE);
		pthread_join(loaders[k], NULL);
		assert_true(load[k].written > 0);
	}

	/* One batch, values in two shards: both, at once. */
	struct variant one = {0};
	variant_set_int(&one, 1);
	struct tree_op both[] = {{.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_A "/P"}, .name = "x", .value = &one},
				 {.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_B "/Q"}, .name = "x", .value = &one}};
	assert_int_equal(client_write_ops(cl, both, 2), GROVE_OK);
	/* A batch whose part in ZoneB is refused (Q exists): nothing of it lands in ZoneA either. */
	struct tree_op refused[] = {{.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_A "/P"}, .name = "y", .value = &one},
				    create(ZONE_B, "Q")};
	assert_int_equal(client_write_ops(cl, refused, 2), GROVE_EEXIST);
	Grove__Envelope *holder;
	Grove__ReadReply *rr = client_read(cl, ZONE_A "/P", 0, true, &holder);
	assert_non_null(rr);
	bool has_x = false, has_y = false;
	for (size_t i = 0; i < rr->nodes[0]->n_props; i++) {
		has_x |= strcmp(rr->nodes[0]->props[i]->name, "x") == 0;
		has_y |= strcmp(rr->nodes[0]->props[i]->name, "y") == 0;
	}
	grove__envelope__free_unpacked(holder, NULL);
	assert_true(has_x);
	assert_false(has_y);

	/* Resources put by a batch across shards: each kept by the shard whose nodes refer to it. */
	struct variant script, texture;
	variant_set_resource_ref(&script, -1);
	variant_set_resource_ref(&texture, -2);
	struct tree_op resources[] = {
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Script",
		 .instance = "res://hero.gd", .name = "1"},
		{.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_EXT, .text = "Texture",
		 .instance = "res://door.png", .name = "2"},
		{.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_A "/P"}, .name = "script", .value = &script},
		{.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_B "/Q"}, .name = "texture", .value = &texture},
	};
	assert_int_equal(client_write_ops(cl, resources, 4), GROVE_OK);
	char *scene = export_text(cl, "/root/World");
	assert_non_null(strstr(scene, "path=\"res://hero.gd\""));
	assert_non_null(strstr(scene, "path=\"res://door.png\""));
	const char *p = strstr(scene, "[node name=\"P\""), *q = strstr(scene, "[node name=\"Q\"");
	assert_non_null(p);
	assert_non_null(q);
	assert_non_null(strstr(p, "script = ExtResource("));
	assert_non_null(strstr(q, "texture = ExtResource("));
	free(scene);
	/* A file for both shards: each keeps it; an embedded resource for both: each keeps a copy. */
	resources[3].value = &script;
	resources[3].name = "also_script";
	assert_int_equal(client_write_ops(cl, resources, 4), GROVE_OK);
	scene = export_text(cl, "/root/World");
	q = strstr(scene, "[node name=\"Q\"");
	assert_non_null(q);
	assert_non_null(strstr(q, "also_script = ExtResource("));
	free(scene);
	resources[0] = (struct tree_op){.kind = TREE_OP_PUT_RESOURCE, .resource_kind = TREE_RESOURCE_SUB,
					.text = "SpatialMaterial", .name = "m"};
	resources[2].name = "material";
	resources[3].name = "material_too";
	assert_int_equal(client_write_ops(cl, resources, 4), GROVE_OK);
	scene = export_text(cl, "/root/World");
	p = strstr(scene, "[node name=\"P\"");
	q = strstr(scene, "[node name=\"Q\"");
	assert_non_null(p);
	assert_non_null(q);
	assert_non_null(strstr(p, "material = SubResource("));
	assert_non_null(strstr(q, "material_too = SubResource("));
	const char *first = strstr(scene, "type=\"SpatialMaterial\"");
	assert_non_null(first);
	assert_non_null(strstr(first + 1, "type=\"SpatialMaterial\"")); /* a copy per shard */
	free(scene);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* Counter @p metric summed over every member. */
static uint64_t summed(struct cluster *c, const char *metric)
{
	uint64_t total = 0;
	for (int n = 1; n <= CLUSTER_NODES; n++) {
		uint64_t v;
		assert_true(groved_metric(c->metrics_ports[n], metric, &v));
		total += v;
	}
	return total;
}

/* Writes that waited in the servers for a transaction's part to be applied, over every member. */
static uint64_t writes_waited(struct cluster *c)
{
	return summed(c, "grove_writes_waited_for_transactions_total");
}

/* Reads likewise. */
static uint64_t reads_waited(struct cluster *c)
{
	return summed(c, "grove_reads_waited_for_transactions_total");
}

/* The sum of every shard's term as member 1 sees it: it moves when any shard's leader changes. */
static uint64_t terms(struct cluster *c)
{
	struct grove_client *cl = cluster_connect(c, 1);
	Grove__Envelope *holder;
	Grove__ShardReply *sr = client_shard_list(cl, &holder);
	assert_non_null(sr);
	uint64_t sum = 0;
	for (size_t i = 0; i < sr->n_shards; i++)
		sum += sr->shards[i]->term;
	grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(cl);
	return sum;
}

/*
 * A writer's next batch across the same shards, right after the answer to the last, does not wait for the last
 * one's parts to be applied: its member sent their resolutions, and its intents are proposed behind them. Nor
 * does a move of another node across them, whose parts commute with the batch's (both hold the shards at once).
 * A move of a node the batch sets waits for it (so the count does move).
 */
static void test_back_to_back_writes_do_not_wait(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id;
	struct grove_client *cl = start_world_with(&c, NULL, true, &id);
	struct tree_op r = create(ZONE_A, "R");
	assert_int_equal(client_write_ops(cl, &r, 1), GROVE_OK);
	struct variant v = {0};
	uint64_t before = writes_waited(&c), term = terms(&c);
	for (int i = 0; i < 50; i++) {
		variant_set_int(&v, i);
		struct tree_op both[] = {{.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_A "/R"}, .name = "x", .value = &v},
					 {.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_B "/Q"}, .name = "x", .value = &v}};
		assert_int_equal(client_write_ops(cl, both, 2), GROVE_OK);
	}
	/* A new leader of a shard coordinates nothing yet: writes there may wait once (a loaded machine can miss a
	 * heartbeat). */
	uint64_t batches_waited = writes_waited(&c) - before;
	if (terms(&c) == term)
		assert_int_equal(batches_waited, 0);
	else
		print_message("a shard's leader changed during the batches: their waits are not checked\n");
	int waited[2] = {0, 0};
	uint64_t r_id = node_at(cl, ZONE_A "/R", NULL);
	for (int i = 0; i < 40; i++) {
		bool same = i >= 20; /* the move names the node the batch sets */
		variant_set_int(&v, i);
		struct tree_op both[] = {{.kind = TREE_OP_SET_PROP, .node = {.id = (int64_t)r_id}, .name = "y", .value = &v},
					 {.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_B "/Q"}, .name = "y", .value = &v}};
		struct tree_op there = move(NULL, i % 2 ? ZONE_A : ZONE_B);
		there.node = (struct tree_ref){.id = (int64_t)(same ? r_id : id)};
		uint64_t at = writes_waited(&c);
		term = terms(&c);
		assert_int_equal(client_write_ops(cl, both, 2), GROVE_OK);
		assert_int_equal(client_write_ops(cl, &there, 1), GROVE_OK);
		waited[same] += writes_waited(&c) > at && terms(&c) == term;
	}
	print_message("50 writes across two shards back to back: %llu waited; 20 moves of another node by id right after "
		      "one: %d waited; 20 moves of the node it sets: %d waited\n", (unsigned long long)batches_waited,
		      waited[0], waited[1]);
	assert_int_equal(waited[0], 0);
	assert_true(waited[1] > 0);
	variant_free(&v);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/*
 * A client that writes @c count batches across ZoneA and ZoneB, one after the other, naming ZoneA's P first or
 * (@c b_first) ZoneB's Q first, so that the leader of that zone coordinates them; each acknowledgement is
 * numbered in the order all clients' come (@c order).
 */
struct opposed {
	struct cluster *c;
	bool b_first;
	int count, order_first, order_last, acked, lost;
	int *order;
};

static void *write_opposed(void *arg)
{
	struct opposed *o = arg;
	struct grove_client *cl = cluster_connect(o->c, 1);
	struct variant v = {0};
	struct tree_ref p = {.path = ZONE_A "/P"}, q = {.path = ZONE_B "/Q"};
	for (int i = 0; i < o->count; i++) {
		variant_set_int(&v, i);
		struct tree_op both[] = {{.kind = TREE_OP_SET_PROP, .node = o->b_first ? q : p, .name = "x", .value = &v},
					 {.kind = TREE_OP_SET_PROP, .node = o->b_first ? p : q, .name = "x", .value = &v}};
		int code = client_write_ops(cl, both, 2);
		if (code != GROVE_OK) {
			/* Only a leadership change on a loaded machine may lose a write's answer; nothing else fails. */
			if (code != GROVE_EUNAVAILABLE && code != -1)
				fail_msg("writer %s first: write %d answered %d", o->b_first ? "ZoneB" : "ZoneA", i, code);
			o->lost++;
			continue;
		}
		int at = __atomic_add_fetch(o->order, 1, __ATOMIC_ACQ_REL);
		if (!o->acked++)
			o->order_first = at;
		o->order_last = at;
	}
	variant_free(&v);
	grove_client_close(cl);
	return NULL;
}

/*
 * Writers across the same two shards in opposite orders, coordinated by their two leaders (members 1 and 2),
 * each setting the same two nodes: every writer goes on. Before, the transactions of one member, each begun
 * behind the last one's resolution, kept the shards held without a gap, and the other member's writers waited
 * until they stopped; and two that each held one shard waited for each other's timeout. Now a transaction
 * that met another's intent reserves the shard against younger ones, the older of two that wait for each
 * other pushes the younger out, one that waited 200 ms in its member for the others begins anyway, and writes
 * that wait in a member go before those that come after them. Checked by order, not time: each writer's
 * first write is acknowledged before every other writer's last.
 */
static void test_opposed_writers_all_go_on(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id;
	struct grove_client *cl = start_world(&c, &id);
	assert_int_equal(client_set_int(cl, ZONE_B "/Q", "x", 0), GROVE_OK);
	lead(cl, ZONE_A, 1);
	lead(cl, ZONE_B, 2);
	enum { WRITERS = 4, EACH = 20 };
	int order = 0;
	struct opposed o[WRITERS];
	pthread_t threads[WRITERS];
	for (int k = 0; k < WRITERS; k++) {
		o[k] = (struct opposed){.c = &c, .b_first = k % 2, .count = EACH, .order = &order};
		assert_int_equal(pthread_create(&threads[k], NULL, write_opposed, &o[k]), 0);
	}
	for (int k = 0; k < WRITERS; k++)
		pthread_join(threads[k], NULL);
	for (int k = 0; k < WRITERS; k++) {
		print_message("writer %d (%s first): %d acknowledged (%d lost in a leadership change), the first %d-th "
			      "and the last %d-th of all\n", k, o[k].b_first ? "ZoneB" : "ZoneA", o[k].acked, o[k].lost,
			      o[k].order_first, o[k].order_last);
		assert_true(o[k].acked > EACH / 2);
	}
	for (int k = 0; k < WRITERS; k++)
		for (int j = 0; j < WRITERS; j++)
			if (j != k && o[k].order_first > o[j].order_last)
				fail_msg("writer %d's first write was acknowledged after writer %d's last", k, j);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* Writes across the world's group and ZoneA, back to back, until @c count are acknowledged. */
struct across {
	struct cluster *c;
	int count, acked;
	bool done;
};

static void *write_across(void *arg)
{
	struct across *a = arg;
	struct grove_client *cl = cluster_connect(a->c, 1);
	struct variant v = {0};
	for (int i = 0; i < a->count; i++) {
		variant_set_int(&v, i);
		struct tree_op both[] = {{.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/X"}, .name = "x", .value = &v},
					 {.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_A "/P"}, .name = "x", .value = &v}};
		if (client_write_ops(cl, both, 2) == GROVE_OK)
			__atomic_add_fetch(&a->acked, 1, __ATOMIC_RELEASE);
	}
	variant_free(&v);
	grove_client_close(cl);
	__atomic_store_n(&a->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Export the subtree at @p path (export_text()); it must hold that node. @return its property x (-1: none). */
static long long export_x(struct grove_client *cl, const char *path)
{
	char *scene = export_text(cl, path);
	const char *name = strrchr(path, '/') + 1, *x = strstr(scene, "\nx = ");
	char header[128];
	snprintf(header, sizeof(header), "[node name=\"%s\"", name);
	assert_non_null(strstr(scene, header));
	long long value = x ? atoll(x + 5) : -1;
	free(scene);
	return value;
}

/*
 * Read the subtree at @p path (through @p readers, each member's client in turn; with @p export, export it)
 * while @p writes transactions over the world's group and ZoneA follow each other, each setting x of
 * /root/World/X and ZoneA's P to its number; the reads made in @p reads. An export of P must show the
 * last acknowledged number, or a later one. @return how many of the reads waited in a server for a
 * transaction.
 */
static uint64_t reads_during_writes(struct cluster *c, struct grove_client **readers, const char *path, uint32_t depth,
				    bool export, int writes, int *reads)
{
	uint64_t before = reads_waited(c);
	struct across a = {.c = c, .count = writes};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, write_across, &a), 0);
	bool of_p = strcmp(path, ZONE_A "/P") == 0;
	for (*reads = 0; !__atomic_load_n(&a.done, __ATOMIC_ACQUIRE) && *reads < 100000; (*reads)++) {
		struct grove_client *reader = readers[1 + *reads % CLUSTER_NODES];
		if (export) {
			int acked = __atomic_load_n(&a.acked, __ATOMIC_ACQUIRE);
			long long x = export_x(reader, path);
			if (of_p && x < acked - 1)
				fail_msg("an export of P shows x = %lld after write %d was acknowledged", x, acked - 1);
			continue;
		}
		Grove__Envelope *holder = NULL;
		Grove__ReadReply *rr = client_read(reader, path, depth, true, &holder);
		assert_true(rr && rr->code == 0);
		grove__envelope__free_unpacked(holder, NULL);
	}
	pthread_join(thread, NULL);
	assert_int_equal(a.acked, writes);
	return reads_waited(c) - before;
}

/*
 * A read waits for a transaction only when it reads one of its shards, and there only what its part changes:
 * reads of ZoneB's subtree, on every member, while transactions over the world's group and ZoneA (setting a
 * value of ZoneA's P) follow each other, never wait, nor do reads or exports of P's children's subtrees in
 * ZoneA; reads of P itself, or of the whole world, meanwhile may, and an export of P always shows the last
 * acknowledged value or a later one.
 */
static void test_reads_wait_only_for_their_shards(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id;
	struct grove_client *cl = start_world_with(&c, NULL, true, &id);
	struct tree_op x = create("/root/World", "X");
	assert_int_equal(client_write_ops(cl, &x, 1), GROVE_OK);
	grove_client_close(cl);
	struct grove_client *readers[CLUSTER_NODES + 1];
	for (int n = 1; n <= CLUSTER_NODES; n++)
		readers[n] = cluster_connect(&c, n);
	int zone_reads, arm_reads, p_reads, world_reads, arm_exports, p_exports;
	uint64_t zone_waited = reads_during_writes(&c, readers, ZONE_B, UINT32_MAX, false, 100, &zone_reads);
	uint64_t arm_waited = reads_during_writes(&c, readers, ZONE_A "/P/Arm", UINT32_MAX, false, 100, &arm_reads);
	uint64_t p_waited = reads_during_writes(&c, readers, ZONE_A "/P", 0, false, 30, &p_reads);
	uint64_t world_waited = reads_during_writes(&c, readers, "/root/World", UINT32_MAX, false, 30, &world_reads);
	uint64_t arm_exports_waited = reads_during_writes(&c, readers, ZONE_A "/P/Arm", 0, true, 100, &arm_exports);
	uint64_t p_exports_waited = reads_during_writes(&c, readers, ZONE_A "/P", 0, true, 30, &p_exports);
	print_message("100 transactions over the world's group and ZoneA: %d reads of ZoneB, %llu waited; 100 more: %d "
		      "reads of ZoneA's P/Arm, %llu waited; 30 more: %d reads of P, %llu waited; 30 more: %d reads of the "
		      "whole world, %llu waited; 100 more: %d exports of P/Arm, %llu waited; 30 more: %d exports of P, "
		      "%llu waited\n", zone_reads, (unsigned long long)zone_waited, arm_reads,
		      (unsigned long long)arm_waited, p_reads, (unsigned long long)p_waited, world_reads,
		      (unsigned long long)world_waited, arm_exports, (unsigned long long)arm_exports_waited, p_exports,
		      (unsigned long long)p_exports_waited);
	assert_true(zone_reads > 0 && arm_reads > 0 && arm_exports > 0 && p_exports > 0);
	assert_int_equal(zone_waited, 0);
	assert_int_equal(arm_waited, 0);
	assert_int_equal(arm_exports_waited, 0);
	for (int n = 1; n <= CLUSTER_NODES; n++)
		grove_client_close(readers[n]);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

struct mover {
	struct cluster *c;
	int node;
	char from, to;
	int code;
};

static void *send_move(void *arg)
{
	struct mover *m = arg;
	char address[32];
	cluster_address(m->c, m->node, address, sizeof(address));
	struct grove_client *cl = NULL;
	m->code = -1;
	if (grove_client_connect(address, NULL, 20000, &cl, NULL, 0) != GROVE_OK)
		return NULL;
	struct tree_op op = move(m->from == 'A' ? ZONE_A "/P" : ZONE_B "/P", m->to == 'A' ? ZONE_A : ZONE_B);
	m->code = client_write_ops(cl, &op, 1);
	grove_client_close(cl);
	return NULL;
}

/*
 * Move the player (node @p id) between the zones @p moves times, each coordinated by the next member, and
 * kill -9 every @p kill_every-th coordinator while its move is on the way (then start it again). Every move not
 * killed must be acknowledged; afterwards every member agrees where the player is, which is where the last
 * acknowledged move (or a read, after a killed one) put it.
 */
static void move_killing_coordinators(struct cluster *c, uint64_t id, int moves, int kill_every)
{
	srand(7);
	int kills = 0, acknowledged = 0;
	char at = 'A';
	for (int i = 0; i < moves; i++) {
		struct mover m = {c, 1 + i % CLUSTER_NODES, at, at == 'A' ? 'B' : 'A', 0};
		pthread_t thread;
		assert_int_equal(pthread_create(&thread, NULL, send_move, &m), 0);
		bool kill_it = i % kill_every == kill_every - 1;
		if (kill_it) {
			usleep((useconds_t)(rand() % 4000));
			cluster_node_signal(c, m.node, SIGKILL);
			kills++;
		}
		pthread_join(thread, NULL);
		if (kill_it)
			cluster_node_start(c, m.node);
		acknowledged += m.code == GROVE_OK;
		if (m.code == GROVE_OK)
			at = m.to; /* acknowledged: it must be there */
		else
			at = where(c, 1 + (i + 1) % CLUSTER_NODES, id); /* killed before or after it took: ask */
		if (m.code != GROVE_OK && !kill_it)
			fail_msg("move %d (%c to %c, coordinated by member %d) failed: %d", i, m.from, m.to, m.node, m.code);
		assert_true(at == 'A' || at == 'B');
	}
	wait_settled(c);
	cluster_wait_converged(c);
	char first = where(c, 1, id);
	for (int n = 1; n <= CLUSTER_NODES; n++)
		assert_int_equal(where(c, n, id), first);
	assert_int_equal(first, at);
	print_message("%d moves, %d acknowledged, %d coordinators killed\n", moves, acknowledged, kills);
}

/* Print each member's first log line that has @p text. */
static void print_log_lines(struct cluster *c, const char *text)
{
	for (int n = 1; n <= CLUSTER_NODES; n++) {
		char line[256];
		if (cluster_log_has(c, n, text, line, sizeof(line)))
			print_message("member %d: %s\n", n, line);
	}
}

static void test_kill_the_coordinator(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id;
	grove_client_close(start_world(&c, &id));
	move_killing_coordinators(&c, id, MOVES, KILL_EVERY);
	cluster_stop(&c);
	print_log_lines(&c, "transactions: recovering");
	test_rmtree(c.dir);
}

/*
 * The next subscription event (fails after 20 s without one: longer than the 10 s a member waits to apply a
 * "not_before" position before it says to ask another member).
 */
static Grove__Envelope *next_event(struct grove_client *cl)
{
	Grove__Envelope *msg = NULL;
	assert_int_equal(grove_client_receive(cl, 20000, &msg), GROVE_OK);
	assert_int_equal(msg->body_case, GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT);
	return msg;
}

/* @p sub subscribed to @p path: its snapshot, in one event (free it with grove__envelope__free_unpacked()). */
static Grove__Envelope *subscribed(struct grove_client *sub, const char *path)
{
	assert_int_equal(client_subscribe(sub, path, false, 0), GROVE_OK);
	Grove__Envelope *msg = next_event(sub);
	assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
	assert_true(msg->subscribe_event->last);
	return msg;
}

/* The next subscription event, which must not be "compacted". */
static Grove__Envelope *next_uncompacted(struct grove_client *sub)
{
	Grove__Envelope *msg = next_event(sub);
	if (msg->subscribe_event->kind == GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED)
		fail_msg("compacted: %s", msg->subscribe_event->reason);
	return msg;
}

/* What a subscriber of the world saw after its snapshot. */
struct stream_seen {
	uint64_t last;     /* its position */
	int moves;         /* of the player */
	char player_in;    /* the zone the last one took it to */
	int64_t q[STREAMED_MOVES];
	size_t n_q;        /* values of ZoneB/Q's "n", in order */
	bool r_set;        /* ZoneC/R's "n", once ZoneC is a shard */
};

/* Take one event, checking that it follows the one before and holds each move of the player whole, once. */
static void take_event(struct stream_seen *s, const Grove__SubscribeEvent *ev, uint64_t player)
{
	if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__PROGRESS || ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES) {
		if (ev->prev != s->last)
			fail_msg("event at %llu follows %llu, but the last one was %llu", (unsigned long long)ev->index,
				 (unsigned long long)ev->prev, (unsigned long long)s->last);
		assert_true(ev->index > s->last);
		s->last = ev->index;
	} else {
		fail_msg("event of kind %d in the stream: %s", ev->kind, ev->reason);
	}
	int player_changes = 0;
	for (size_t i = 0; i < ev->n_changes; i++) {
		const Grove__Change *ch = ev->changes[i];
		assert_int_not_equal(ch->op, TREE_OP_DELETE);
		if (ch->node == player) {
			assert_int_equal(ch->op, TREE_OP_MOVE);
			bool to_a = strcmp(ch->path, ZONE_A "/P") == 0;
			assert_true(to_a || strcmp(ch->path, ZONE_B "/P") == 0);
			assert_string_equal(ch->old_path, to_a ? ZONE_B "/P" : ZONE_A "/P");
			s->player_in = to_a ? 'A' : 'B';
			s->moves++;
			player_changes++;
		} else if (ch->op == TREE_OP_SET_PROP && strcmp(ch->path, ZONE_B "/Q") == 0 && s->n_q < STREAMED_MOVES) {
			struct variant v;
			assert_int_equal(variant_decode(&v, ch->value.data, ch->value.len, NULL), GROVE_OK);
			s->q[s->n_q++] = v.as.i;
		} else if (ch->op == TREE_OP_SET_PROP && strcmp(ch->path, "/root/World/ZoneC/R") == 0) {
			s->r_set = true;
		}
	}
	assert_true(player_changes <= 1);
}

/*
 * start_world() (*@p cl its client) and a subscriber of @p path on member 2 (*@p sub): its snapshot, in one
 * event, is returned (free it with grove__envelope__free_unpacked()).
 */
static Grove__Envelope *start_following(struct cluster *c, uint64_t *player, const char *path, struct grove_client **cl,
					struct grove_client **sub)
{
	*cl = start_world(c, player);
	*sub = cluster_connect(c, 2);
	return subscribed(*sub, path);
}

/*
 * Three members, and a client of member 1 that wrote @p n ops @p ops, applied by every member (a subscriber of a
 * member that had not applied them yet would be told there is no such node).
 */
static struct grove_client *start_with_ops(struct cluster *c, const struct tree_op *ops, size_t n)
{
	cluster_start(c, NULL);
	cluster_wait_leader(c);
	struct grove_client *cl = cluster_connect(c, 1);
	assert_int_equal(client_write_ops(cl, ops, n), GROVE_OK);
	cluster_wait_converged(c);
	return cl;
}

static struct tree_op connect_op(const char *from, const char *signal, const char *to, const char *method)
{
	return (struct tree_op){.kind = TREE_OP_CONNECT, .node = {.path = from}, .target = {.path = to}, .name = signal,
				.text = method};
}

/* How many times @p needle occurs in /root/World exported as a text scene by member @p node. */
static int in_export(struct cluster *c, int node, const char *needle)
{
	char address[32], out[PATH_MAX];
	cluster_address(c, node, address, sizeof(address));
	snprintf(out, sizeof(out), "%s/export-%d.tscn", c->dir, node);
	struct cli_result r;
	for (int t = 0; t < 100; t++) {
		cli_run_at(address, &r, "export", "/root/World", "-o", out, (char *)NULL);
		if (r.status == 0)
			break;
		usleep(100000); /* a read that waits for a transaction, or a leader not elected yet */
	}
	if (r.status)
		fail_msg("grove export at member %d: exit %d: %s", node, r.status, r.err);
	size_t len;
	char *text = test_read_file(out, &len);
	assert_non_null(text);
	int n = 0;
	for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
		n++;
	free(text);
	return n;
}

/* Every member's export states each of @p lines once, and no other connection. */
static void assert_exports_state(struct cluster *c, const char *const *lines, size_t n)
{
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		if (in_export(c, node, "[connection") != (int)n)
			fail_msg("member %d's export states other connections than the %zu expected", node, n);
		for (size_t k = 0; k < n; k++)
			if (in_export(c, node, lines[k]) != 1)
				fail_msg("member %d's export does not state %s once", node, lines[k]);
	}
}

/*
 * Signal connections across shards: a zone connected to its world's nodes splits off with them (as a scene with
 * connections from its nodes to the scene's root does), a connection is made between two zones (a subscriber
 * of the world sees it once), each export states each connection once on every member, a connected node moves
 * to another shard and back with its connections, and deleting a connected node takes the connections in both
 * shards with it, leaving no half behind (a delete of the other end is then a plain one that nothing refuses).
 */
static void test_connections_across_shards(void **state)
{
	(void)state;
	struct cluster c;
	struct tree_op world[] = {create("/root", "World"), create("/root/World", "Manager"),
				  create("/root/World", "ZoneA"), create("/root/World", "ZoneB"),
				  create(ZONE_A, "Trigger"), create(ZONE_B, "Door"),
				  connect_op(ZONE_A "/Trigger", "body_entered", "/root/World/Manager", "_on_trigger"),
				  connect_op("/root/World/Manager", "alarm", ZONE_A "/Trigger", "arm")};
	struct grove_client *cl = start_with_ops(&c, world, sizeof(world) / sizeof(world[0]));
	assert_int_equal(client_shard_split(cl, ZONE_A, NULL), GROVE_OK);
	assert_int_equal(client_shard_split(cl, ZONE_B, NULL), GROVE_OK);
	/* A subscriber of the world, at a follower, sees the connection once: the source's change. */
	struct grove_client *sub = cluster_connect(&c, 2);
	Grove__Envelope *msg = subscribed(sub, "/root/World");
	grove__envelope__free_unpacked(msg, NULL);
	struct tree_op door = connect_op(ZONE_B "/Door", "opened", ZONE_A "/Trigger", "_on_door");
	assert_int_equal(client_write_ops(cl, &door, 1), GROVE_OK);
	assert_int_equal(client_write_ops(cl, &door, 1), GROVE_EEXIST);
	assert_int_equal(client_set_int(cl, ZONE_B "/Door", "n", 1), GROVE_OK); /* the end of what to look at */
	size_t connects = 0, others = 0;
	bool marked = false;
	for (int events = 0; events < 200 && !marked; events++) {
		msg = next_event(sub);
		const Grove__SubscribeEvent *ev = msg->subscribe_event;
		for (size_t k = 0; k < ev->n_changes; k++) {
			const Grove__Change *ch = ev->changes[k];
			bool connect = ch->op == TREE_OP_CONNECT && strcmp(ch->name, "opened") == 0;
			marked |= ch->op == TREE_OP_SET_PROP && strcmp(ch->name, "n") == 0;
			connects += connect;
			others += !connect && ch->op != TREE_OP_SET_PROP;
		}
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_true(marked);
	assert_int_equal(connects, 1);
	assert_int_equal(others, 0);
	grove_client_close(sub);
	cluster_wait_converged(&c);
	static const char *const lines[] = {
		"[connection signal=\"body_entered\" from=\"ZoneA/Trigger\" to=\"Manager\" method=\"_on_trigger\"]",
		"[connection signal=\"alarm\" from=\"Manager\" to=\"ZoneA/Trigger\" method=\"arm\"]",
		"[connection signal=\"opened\" from=\"ZoneB/Door\" to=\"ZoneA/Trigger\" method=\"_on_door\"]",
	};
	assert_exports_state(&c, lines, 3);

	/*
	 * Trigger moves into ZoneB and back, its connections along: with the world's Manager (across shards
	 * wherever it is) and from ZoneB's Door (within ZoneB while it is there, across again once it is back).
	 */
	static const char *const moved[] = {
		"[connection signal=\"body_entered\" from=\"ZoneB/Trigger\" to=\"Manager\" method=\"_on_trigger\"]",
		"[connection signal=\"alarm\" from=\"Manager\" to=\"ZoneB/Trigger\" method=\"arm\"]",
		"[connection signal=\"opened\" from=\"ZoneB/Door\" to=\"ZoneB/Trigger\" method=\"_on_door\"]",
	};
	struct tree_op there = move(ZONE_A "/Trigger", ZONE_B), back = move(ZONE_B "/Trigger", ZONE_A);
	for (int round = 0; round < 10; round++) {
		assert_int_equal(client_write_ops(cl, &there, 1), GROVE_OK);
		if (round == 0) {
			cluster_wait_converged(&c);
			assert_exports_state(&c, moved, 3);
		}
		assert_int_equal(client_write_ops(cl, &back, 1), GROVE_OK);
	}
	wait_settled(&c);
	cluster_wait_converged(&c);
	assert_exports_state(&c, lines, 3);

	struct tree_op gone = {.kind = TREE_OP_DELETE, .node = {.path = ZONE_A "/Trigger"}};
	assert_int_equal(client_write_ops(cl, &gone, 1), GROVE_OK);
	cluster_wait_converged(&c);
	for (int n = 1; n <= CLUSTER_NODES; n++)
		assert_int_equal(in_export(&c, n, "[connection"), 0);
	struct tree_op rest[] = {{.kind = TREE_OP_DELETE, .node = {.path = ZONE_B "/Door"}},
				 {.kind = TREE_OP_DELETE, .node = {.path = "/root/World/Manager"}}};
	for (size_t k = 0; k < 2; k++)
		assert_int_equal(client_write_ops(cl, &rest[k], 1), GROVE_OK);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

static void test_stream_across_shards(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t player;
	struct grove_client *cl, *sub;
	/* One scene of the world, both shards' subtrees in it. */
	Grove__Envelope *msg = start_following(&c, &player, "/root/World", &cl, &sub);
	const Grove__SubscribeEvent *ev = msg->subscribe_event;
	char *scene = strndup((const char *)ev->data.data, ev->data.len);
	assert_non_null(strstr(scene, "[node name=\"Arm\""));
	assert_non_null(strstr(scene, "[node name=\"Q\""));
	free(scene);
	struct stream_seen s = {.last = ev->index, .player_in = 'A'};
	grove__envelope__free_unpacked(msg, NULL);

	/* Moves across the shards, and writes in one of them between them. */
	for (int i = 0; i < STREAMED_MOVES; i++) {
		struct tree_op op = i % 2 ? move(ZONE_B "/P", ZONE_A) : move(ZONE_A "/P", ZONE_B);
		assert_int_equal(client_write_ops(cl, &op, 1), GROVE_OK);
		assert_int_equal(client_set_int(cl, ZONE_B "/Q", "n", i), GROVE_OK);
	}
	/* A shard split off below the subscribed node after it subscribed: followed from its birth on. */
	struct tree_op zone_c[] = {create("/root/World", "ZoneC"), create("/root/World/ZoneC", "R")};
	assert_int_equal(client_write_ops(cl, zone_c, 2), GROVE_OK);
	assert_int_equal(client_shard_split(cl, "/root/World/ZoneC", NULL), GROVE_OK);
	assert_int_equal(client_set_int(cl, "/root/World/ZoneC/R", "n", 7), GROVE_OK);
	for (int events = 0; events < 1000 && (s.moves < STREAMED_MOVES || s.n_q < STREAMED_MOVES || !s.r_set); events++) {
		msg = next_event(sub);
		take_event(&s, msg->subscribe_event, player);
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_int_equal(s.moves, STREAMED_MOVES);
	assert_int_equal(s.player_in, STREAMED_MOVES % 2 ? 'B' : 'A');
	for (int i = 0; i < STREAMED_MOVES; i++)
		assert_int_equal(s.q[i], i);
	assert_true(s.r_set);

	grove_client_close(sub);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* Sets "n" of ZoneS/R to 1, 2, ... SPLIT_WRITES one at a time; which were acknowledged. */
#define SPLIT_WRITES 300
struct counting_writer {
	struct cluster *c;
	bool acked[SPLIT_WRITES + 1];
	atomic_int n_acked;
	pthread_t thread;
};

static void *counting_writer_main(void *arg)
{
	struct counting_writer *w = arg;
	struct grove_client *cl = cluster_connect(w->c, 1);
	for (int v = 1; v <= SPLIT_WRITES; v++)
		if (client_set_int(cl, "/root/World/ZoneS/R", "n", v) == GROVE_OK) {
			w->acked[v] = true;
			atomic_fetch_add(&w->n_acked, 1);
		}
	grove_client_close(cl);
	return NULL;
}

/*
 * Subscribers of a subtree that is split into a shard of its own while a writer sets its node's value, and of
 * its parent. Both streams go on through the split with no gap, no repeat and no new snapshot: every
 * acknowledged value comes once, in order, each event chained to the one before it; the stream of the split's
 * root is handed over to the new group at its birth. At a subscriber of every member.
 */
static void test_stream_through_a_split_of_its_root(void **state)
{
	(void)state;
	struct cluster c;
	struct tree_op world[] = {create("/root", "World"), create("/root/World", "ZoneS"),
				  create("/root/World/ZoneS", "R")};
	struct grove_client *cl = start_with_ops(&c, world, sizeof(world) / sizeof(world[0]));
	enum { SUBS = 4 };
	struct grove_client *sub[SUBS];
	uint64_t subscribed_index[SUBS];
	for (int i = 0; i < SUBS; i++) {
		sub[i] = cluster_connect(&c, 1 + i % CLUSTER_NODES);
		Grove__Envelope *msg = subscribed(sub[i], i < CLUSTER_NODES ? "/root/World/ZoneS" : "/root/World");
		subscribed_index[i] = msg->subscribe_event->index;
		grove__envelope__free_unpacked(msg, NULL);
	}
	struct counting_writer *w = calloc(1, sizeof(*w));
	w->c = &c;
	assert_int_equal(pthread_create(&w->thread, NULL, counting_writer_main, w), 0);
	while (atomic_load(&w->n_acked) < SPLIT_WRITES / 3)
		usleep(2000);
	assert_int_equal(client_shard_split(cl, "/root/World/ZoneS", NULL), GROVE_OK);
	pthread_join(w->thread, NULL);
	int last_acked = 0;
	for (int v = 1; v <= SPLIT_WRITES; v++)
		if (w->acked[v])
			last_acked = v;
	assert_true(last_acked > SPLIT_WRITES / 3);
	for (int i = 0; i < SUBS; i++) {
		bool of_root = i < CLUSTER_NODES;
		int64_t last_seen = 0;
		int seen = 0;
		uint64_t index = subscribed_index[i];
		for (int events = 0; events < 10 * SPLIT_WRITES && last_seen < last_acked; events++) {
			Grove__Envelope *msg = next_event(sub[i]);
			const Grove__SubscribeEvent *ev = msg->subscribe_event;
			if (ev->kind != GROVE__SUBSCRIBE_EVENT__KIND__CHANGES && ev->kind != GROVE__SUBSCRIBE_EVENT__KIND__PROGRESS)
				fail_msg("subscriber %d: an event of kind %d after %lld: %s", i, ev->kind, (long long)last_seen,
					 ev->reason);
			if (ev->prev != index || ev->index <= index)
				fail_msg("subscriber %d: an event at %llu after %llu, but the last one was at %llu", i,
					 (unsigned long long)ev->index, (unsigned long long)ev->prev, (unsigned long long)index);
			index = ev->index;
			for (size_t k = 0; k < ev->n_changes; k++) {
				const Grove__Change *ch = ev->changes[k];
				if (ch->op != TREE_OP_SET_PROP || strcmp(ch->name, "n") != 0)
					continue;
				struct variant v;
				assert_int_equal(variant_decode(&v, ch->value.data, ch->value.len, NULL), GROVE_OK);
				if (v.as.i <= last_seen)
					fail_msg("subscriber %d: %lld after %lld", i, (long long)v.as.i, (long long)last_seen);
				for (int64_t skipped = last_seen + 1; skipped < v.as.i; skipped++)
					if (w->acked[skipped])
						fail_msg("subscriber %d: %lld, acknowledged, never came (%lld came next)", i,
							 (long long)skipped, (long long)v.as.i);
				last_seen = v.as.i;
				seen++;
			}
			grove__envelope__free_unpacked(msg, NULL);
		}
		assert_int_equal(last_seen, last_acked);
		print_message("subscriber %d (%s, member %d): %d values streamed\n", i,
			      of_root ? "the split's root" : "its parent", 1 + i % CLUSTER_NODES, seen);
		grove_client_close(sub[i]);
	}
	free(w);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/*
 * A subscriber of ZoneB alone, a shard of its own: the player and its subtree moved in from ZoneA's shard
 * arrive as their creation with the player's property, never "compacted".
 */
static void test_move_across_shards_into_a_zone(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t player;
	struct grove_client *cl, *sub;
	Grove__Envelope *msg = start_following(&c, &player, ZONE_B, &cl, &sub);
	grove__envelope__free_unpacked(msg, NULL);
	struct tree_op op = move(ZONE_A "/P", ZONE_B);
	assert_int_equal(client_write_ops(cl, &op, 1), GROVE_OK);
	int creates = 0;
	bool hp = false;
	for (int events = 0; events < 100 && creates < 4; events++) {
		msg = next_uncompacted(sub);
		const Grove__SubscribeEvent *ev = msg->subscribe_event;
		for (size_t i = 0; i < ev->n_changes; i++) {
			const Grove__Change *ch = ev->changes[i];
			assert_int_not_equal(ch->op, TREE_OP_MOVE);
			creates += ch->op == TREE_OP_CREATE;
			if (ch->op == TREE_OP_CREATE && ch->node == player)
				assert_string_equal(ch->path, ZONE_B "/P");
			hp |= ch->op == TREE_OP_SET_PROP && ch->node == player && strcmp(ch->name, "hp") == 0;
		}
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_int_equal(creates, 4); /* P, Arm, Leg, Head */
	assert_true(hp);
	grove_client_close(sub);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* A connection a subscriber was given: its signal, source path and target path. */
struct seen_connection {
	char signal[32], path[96], target[96];
};

/*
 * A node moved into a subscriber's subtree from outside it brings the connections a snapshot of that subtree
 * holds, whatever shard their other end is in: one to it from a node of another shard in the subtree, and its
 * own to such a node, each with both ends' paths; not its own to a node of a shard outside the subtree.
 */
static void test_arrival_names_other_shards(void **state)
{
	(void)state;
	struct cluster c;
	struct tree_op world[] = {create("/root", "World"), create("/root/World", "Hall"), create("/root/World", "ZoneA"),
				  create("/root/World", "ZoneB"), create(ZONE_A, "Trigger"), create(ZONE_B, "Q"),
				  create("/root", "Lobby"), create("/root/Lobby", "X"), create("/root", "Far"),
				  create("/root/Far", "Bell"),
				  connect_op(ZONE_B "/Q", "seen", "/root/Lobby/X", "_on_seen"),
				  connect_op("/root/Lobby/X", "armed", ZONE_A "/Trigger", "arm"),
				  connect_op("/root/Lobby/X", "rang", "/root/Far/Bell", "ring")};
	struct grove_client *cl = start_with_ops(&c, world, sizeof(world) / sizeof(world[0]));
	static const char *const shards[] = {ZONE_A, ZONE_B, "/root/Far"};
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(client_shard_split(cl, shards[k], NULL), GROVE_OK);
	struct grove_client *sub = cluster_connect(&c, 2);
	Grove__Envelope *msg = subscribed(sub, "/root/World");
	grove__envelope__free_unpacked(msg, NULL);

	struct tree_op in = move("/root/Lobby/X", "/root/World/Hall");
	assert_int_equal(client_write_ops(cl, &in, 1), GROVE_OK);
	struct seen_connection seen[8];
	size_t n = 0;
	bool created = false;
	for (int events = 0; events < 100 && !created; events++) {
		msg = next_uncompacted(sub);
		const Grove__SubscribeEvent *ev = msg->subscribe_event;
		for (size_t i = 0; i < ev->n_changes; i++) {
			const Grove__Change *ch = ev->changes[i];
			created |= ch->op == TREE_OP_CREATE && strcmp(ch->path, "/root/World/Hall/X") == 0;
			if (ch->op != TREE_OP_CONNECT)
				continue;
			assert_true(n < 8);
			snprintf(seen[n].signal, sizeof(seen[n].signal), "%s", ch->name);
			snprintf(seen[n].path, sizeof(seen[n].path), "%s", ch->path);
			snprintf(seen[n].target, sizeof(seen[n].target), "%s", ch->target_path ? ch->target_path : "");
			n++;
		}
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_true(created);
	assert_int_equal(n, 2);
	for (size_t k = 0; k < n; k++) {
		if (strcmp(seen[k].signal, "seen") == 0) {
			assert_string_equal(seen[k].path, ZONE_B "/Q");
			assert_string_equal(seen[k].target, "/root/World/Hall/X");
		} else {
			assert_string_equal(seen[k].signal, "armed");
			assert_string_equal(seen[k].path, "/root/World/Hall/X");
			assert_string_equal(seen[k].target, ZONE_A "/Trigger");
		}
	}
	assert_string_not_equal(seen[0].signal, seen[1].signal);

	/* What a fresh snapshot of the subtree holds, at a member that has applied the move. */
	cluster_wait_converged(&c);
	struct grove_client *fresh = cluster_connect(&c, 3);
	msg = subscribed(fresh, "/root/World");
	char *scene = strndup((const char *)msg->subscribe_event->data.data, msg->subscribe_event->data.len);
	assert_non_null(scene);
	assert_non_null(strstr(scene, "[connection signal=\"seen\" from=\"ZoneB/Q\" to=\"Hall/X\""));
	assert_non_null(strstr(scene, "[connection signal=\"armed\" from=\"Hall/X\" to=\"ZoneA/Trigger\""));
	assert_null(strstr(scene, "rang"));
	free(scene);
	grove__envelope__free_unpacked(msg, NULL);
	grove_client_close(fresh);
	grove_client_close(sub);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* ---- submit keys across shards ---- */

/* Integer property @p prop of the node at @p path as member 1 reads it (fails if the node or prop is missing). */
static int64_t prop_of(struct cluster *c, const char *path, const char *prop)
{
	struct grove_client *cl = cluster_connect(c, 1);
	Grove__Envelope *holder = NULL;
	Grove__ReadReply *rr = client_read(cl, path, 0, true, &holder);
	assert_non_null(rr);
	if (rr->code || rr->n_nodes < 1)
		fail_msg("reading %s: %s", path, rr->message);
	int64_t value = INT64_MIN;
	for (size_t i = 0; i < rr->nodes[0]->n_props; i++) {
		const Grove__Property *p = rr->nodes[0]->props[i];
		if (strcmp(p->name, prop) != 0)
			continue;
		struct variant v;
		assert_int_equal(variant_decode(&v, p->value.data, p->value.len, NULL), GROVE_OK);
		value = v.as.i;
		variant_free(&v);
	}
	grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(cl);
	if (value == INT64_MIN)
		fail_msg("%s has no property %s", path, prop);
	return value;
}

static struct tree_op set_op(const char *node, const char *prop, const struct variant *value)
{
	return (struct tree_op){.kind = TREE_OP_SET_PROP, .node = {.path = node}, .name = prop, .value = value};
}

/* ---- what transactions leave behind ---- */

/* Keys of each table of @p names (@p n of them) in member @p node's store (every group's), read once it is stopped. */
static void table_entries(struct cluster *c, int node, const char *const *names, size_t n, uint64_t *entries)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/node%d", c->dir, node);
	struct store *st;
	struct store_options opts = {.map_size = 1ull << 30};
	assert_int_equal(store_open(&st, dir, &opts), GROVE_OK);
	store_db dbs[8];
	bool there[8];
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) /* before the transaction: it sees only the tables opened before it began */
		there[i] = store_db_open(st, names[i], false, &dbs[i]) == GROVE_OK;
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(st, NULL, false, &txn), GROVE_OK);
	for (size_t i = 0; i < n; i++) {
		entries[i] = 0;
		if (there[i])
			assert_int_equal(store_db_entries(txn, dbs[i], &entries[i]), GROVE_OK);
	}
	store_txn_abort(txn);
	store_close(st);
}

/*
 * With --txn-gc-after 300ms, 20 transactions over ZoneA and ZoneB leave, on every member, one version per shard
 * (the newest, which later writes are checked against), no finished marker, timestamp cache entry or record.
 */
static void test_transaction_state_is_collected(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id;
	static const char *const args[] = {"--txn-gc-after", "300ms", NULL};
	struct grove_client *cl = start_world_with(&c, args, false, &id);
	enum { TXNS = 20 };
	for (int i = 0; i < TXNS; i++) {
		struct variant v = {0};
		variant_set_int(&v, i);
		struct tree_op both[] = {set_op(ZONE_A "/P", "n", &v), set_op(ZONE_B "/Q", "n", &v)};
		assert_int_equal(client_write_ops(cl, both, 2), GROVE_OK);
	}
	grove_client_close(cl);
	wait_settled(&c);
	cluster_wait_converged(&c);
	usleep(1500 * 1000); /* past the mark, and a collection or two (every 75 ms) */
	cluster_stop(&c);
	static const char *const tables[] = {"txn.versions", "txn.finished", "txn.tscache", "txn.records",
					     "txn.resolved"};
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		uint64_t n[5];
		table_entries(&c, node, tables, 5, n);
		print_message("member %d after %d transactions: %llu versions, %llu finished markers, %llu cache entries, "
			      "%llu records, %llu resolved notes\n", node, TXNS, (unsigned long long)n[0],
			      (unsigned long long)n[1], (unsigned long long)n[2], (unsigned long long)n[3],
			      (unsigned long long)n[4]);
		assert_true(n[0] >= 2 && n[0] <= 2 * TREE_SM_LANES); /* the newest of each lane's key in each shard */
		assert_int_equal(n[1], 0);
		assert_int_equal(n[2], 0);
		assert_int_equal(n[3], 0); /* each noted resolved by its coordinator, then collected */
		assert_int_equal(n[4], 0);
	}
	test_rmtree(c.dir);
}

/*
 * With --txn-gc-after 300ms, transactions whose coordinators were killed at any step leave nothing behind
 * either once the expiry (2 s) and a collection have passed: the records of those that a recovery finished,
 * or that waited for a coordinator killed after its record was final, are collected like the rest.
 */
static void test_killed_transactions_are_collected(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id;
	static const char *const args[] = {"--txn-gc-after", "300ms", NULL};
	grove_client_close(start_world_with(&c, args, false, &id));
	move_killing_coordinators(&c, id, 24, 3);
	usleep(4000 * 1000); /* the expiry, a look for abandoned records (every 250 ms), their recovery, a collection */
	cluster_stop(&c);
	print_log_lines(&c, "record shard");
	static const char *const tables[] = {"txn.records", "txn.resolved", "txn.intents", "txn.early"};
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		uint64_t n[4];
		table_entries(&c, node, tables, 4, n);
		print_message("member %d: %llu records, %llu resolved notes, %llu intents, %llu early resolutions\n", node,
			      (unsigned long long)n[0], (unsigned long long)n[1], (unsigned long long)n[2],
			      (unsigned long long)n[3]);
		for (int t = 0; t < 4; t++)
			assert_int_equal(n[t], 0);
	}
	test_rmtree(c.dir);
}

/* Write @p ops with @p key through a new connection to member @p node, again while a transaction holds a shard. */
static int keyed_write(struct cluster *c, int node, const char *key, const struct tree_op *ops, size_t n,
		       uint64_t *index)
{
	int code = -1;
	for (int attempt = 0; attempt < 50; attempt++) {
		struct grove_client *cl = cluster_connect(c, node);
		code = client_write_keyed(cl, key, ops, n, index);
		grove_client_close(cl);
		if (code != GROVE_EINTENT)
			break;
		usleep(100000);
	}
	return code;
}

/* start_world() for the keyed tests, which connect per write: P's id. */
static uint64_t keyed_world(struct cluster *c)
{
	uint64_t id;
	grove_client_close(start_world(c, &id));
	return id;
}

static void test_keyed_writes_across_shards(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t p = keyed_world(&c);
	struct variant one = {0}, five = {0};
	variant_set_int(&one, 1);
	variant_set_int(&five, 5);

	/* Applied once; its retry on a new connection answers the same index and changes nothing. */
	struct tree_op batch[] = {set_op(ZONE_A "/P", "k", &one), create(ZONE_B, "K")};
	uint64_t first = 0, again = 0;
	assert_int_equal(keyed_write(&c, 1, "move-1", batch, 2, &first), GROVE_OK);
	assert_true(first > 0);
	struct tree_op later = set_op(ZONE_A "/P", "k", &five);
	struct grove_client *cl = cluster_connect(&c, 1);
	assert_int_equal(client_write_ops(cl, &later, 1), GROVE_OK);
	grove_client_close(cl);
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		assert_int_equal(keyed_write(&c, node, "move-1", batch, 2, &again), GROVE_OK);
		assert_int_equal(again, first);
	}
	assert_int_equal(prop_of(&c, ZONE_A "/P", "k"), 5);

	/* A key whose transaction was refused (ZoneB/Q exists) is free again: nothing of it landed. */
	struct tree_op refused[] = {set_op(ZONE_A "/P", "r", &one), create(ZONE_B, "Q")};
	assert_int_equal(keyed_write(&c, 1, "move-2", refused, 2, &again), GROVE_EEXIST);
	struct tree_op fixed[] = {set_op(ZONE_A "/P", "r", &one), create(ZONE_B, "R")};
	assert_int_equal(keyed_write(&c, 1, "move-2", fixed, 2, &first), GROVE_OK);
	assert_int_equal(prop_of(&c, ZONE_A "/P", "r"), 1);
	assert_int_equal(keyed_write(&c, 2, "move-2", fixed, 2, &again), GROVE_OK);
	assert_int_equal(again, first);

	/*
	 * A batch whose first op moves P, named by its id, to the other shard: its retry is routed to where P is
	 * now, the shard that took it, which had a part of the transaction and knows the key (before, it did
	 * not, and the retry was applied again there: refused, as K4 existed).
	 */
	struct tree_op by_id[] = {{.kind = TREE_OP_MOVE, .node = {.id = (int64_t)p}, .target = {.path = ZONE_B}, .index = -1},
				  create(ZONE_B, "K4")};
	assert_int_equal(keyed_write(&c, 1, "move-4", by_id, 2, &first), GROVE_OK);
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		assert_int_equal(keyed_write(&c, node, "move-4", by_id, 2, &again), GROVE_OK);
		assert_true(again > 0);
	}
	assert_int_equal(where(&c, 1, p), 'B');
	struct tree_op back = move(ZONE_B "/P", ZONE_A);
	cl = cluster_connect(&c, 1);
	assert_int_equal(client_write_ops(cl, &back, 1), GROVE_OK);
	grove_client_close(cl);

	/* A retry after a split moved the anchor's node (P) into a new shard: that shard knows the key. */
	struct tree_op split_batch[] = {set_op(ZONE_A "/P", "s", &one), set_op(ZONE_B "/Q", "s", &one)};
	assert_int_equal(keyed_write(&c, 1, "move-3", split_batch, 2, &first), GROVE_OK);
	cl = cluster_connect(&c, 1);
	assert_int_equal(client_shard_split(cl, ZONE_A "/P", NULL), GROVE_OK);
	struct tree_op bump[] = {set_op(ZONE_A "/P", "s", &five), set_op(ZONE_B "/Q", "s", &five)};
	assert_int_equal(client_write_ops(cl, bump, 2), GROVE_OK);
	grove_client_close(cl);
	assert_int_equal(keyed_write(&c, 1, "move-3", split_batch, 2, &again), GROVE_OK);
	assert_int_equal(again, first);
	assert_int_equal(prop_of(&c, ZONE_A "/P", "s"), 5);
	assert_int_equal(prop_of(&c, ZONE_B "/Q", "s"), 5);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

struct keyed_sender {
	struct cluster *c;
	int node;
	const char *key;
	const struct tree_op *ops;
	size_t n;
	int code;
	uint64_t index;
};

static void *send_keyed(void *arg)
{
	struct keyed_sender *k = arg;
	k->code = keyed_write(k->c, k->node, k->key, k->ops, k->n, &k->index);
	return NULL;
}

/* A retry sent while the first attempt's transaction may still hold its shards: one application, one index. */
static void test_keyed_retry_races_the_first(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t id = keyed_world(&c);
	for (int round = 0; round < 5; round++) {
		char name[16];
		snprintf(name, sizeof(name), "N%d", round);
		struct tree_op ops[] = {move(round % 2 ? ZONE_B "/P" : ZONE_A "/P", round % 2 ? ZONE_A : ZONE_B),
					create(round % 2 ? ZONE_B : ZONE_A, name)};
		char key[32];
		snprintf(key, sizeof(key), "race-%d", round);
		struct keyed_sender a = {&c, 1, key, ops, 2, -1, 0}, b = {&c, 1 + (round + 1) % CLUSTER_NODES, key, ops, 2, -1, 0};
		pthread_t ta, tb;
		assert_int_equal(pthread_create(&ta, NULL, send_keyed, &a), 0);
		assert_int_equal(pthread_create(&tb, NULL, send_keyed, &b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		/*
		 * Applied once: P moved once, the node made once. An attempt planned before the other applied is
		 * refused by a shard the other changed, but its answer is the anchor's word on the key: the other's
		 * index, or, if the anchor could not check the key before the attempt was aborted, a retry.
		 */
		assert_true(a.code == GROVE_OK || b.code == GROVE_OK);
		assert_true(a.code == GROVE_OK || a.code == GROVE_EINTENT);
		assert_true(b.code == GROVE_OK || b.code == GROVE_EINTENT);
		if (a.code == GROVE_OK && b.code == GROVE_OK)
			assert_int_equal(a.index, b.index);
		wait_settled(&c);
		cluster_wait_converged(&c);
		assert_int_equal(where(&c, 1, id), round % 2 ? 'A' : 'B');
		uint64_t index;
		assert_int_equal(keyed_write(&c, 2, key, ops, 2, &index), GROVE_OK);
		assert_int_equal(index, a.code == GROVE_OK ? a.index : b.index);
		if (a.code || b.code)
			print_message("round %d: one attempt was answered \"retry\": aborted before its key was checked\n",
				      round);
	}
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* The gateway port of member @p node. */
static int port_of(struct cluster *c, int node)
{
	char address[32];
	cluster_address(c, node, address, sizeof(address));
	return atoi(strrchr(address, ':') + 1);
}

/* Submit through the Godot gateway of member @p node, on a new connection: the answer. */
static void godot_keyed(struct cluster *c, int node, const char *key, struct variant *answer)
{
	struct godot g;
	godot_hello(&g, port_of(c, node), 4);
	struct variant set, make, ops;
	godot_dict(&set, "op", "s:set", "node", "s:" ZONE_A "/P", "property", "s:g", "value", "i:1", NULL);
	godot_dict(&make, "op", "s:create", "parent", "s:" ZONE_B, "name", "s:G", "class", "s:Node3D", NULL);
	assert_int_equal(variant_set_array(&ops), GROVE_OK);
	assert_int_equal(variant_array_push(&ops, &set), GROVE_OK);
	assert_int_equal(variant_array_push(&ops, &make), GROVE_OK);
	for (int attempt = 0; attempt < 50; attempt++) {
		struct variant copy;
		assert_int_equal(variant_copy(&copy, &ops), GROVE_OK);
		godot_send_ops(&g, key, &copy);
		godot_answer(&g, answer);
		const struct variant *code = godot_field(answer, "code");
		if (strcmp(godot_op_of(answer), "refused") != 0 || code->as.i != GROVE_EINTENT)
			break;
		variant_free(answer);
		usleep(100000);
	}
	variant_free(&ops);
	godot_close(&g);
}

static void test_godot_keyed_submit_across_shards(void **state)
{
	(void)state;
	struct cluster c;
	keyed_world(&c);
	struct variant a, b;
	godot_keyed(&c, 2, "godot-1", &a);
	if (strcmp(godot_op_of(&a), "submitted") != 0)
		fail_msg("the submit was %s: %s", godot_op_of(&a), godot_field(&a, "reason")->as.str.ptr);
	assert_string_equal(godot_field(&a, "key")->as.str.ptr, "godot-1");
	int64_t index = godot_field(&a, "index")->as.i;
	assert_true(index > 0);
	assert_int_equal(prop_of(&c, ZONE_A "/P", "g"), 1);
	struct variant five = {0};
	variant_set_int(&five, 5);
	struct tree_op later = set_op(ZONE_A "/P", "g", &five);
	struct grove_client *cl = cluster_connect(&c, 1);
	assert_int_equal(client_write_ops(cl, &later, 1), GROVE_OK);
	grove_client_close(cl);
	/* The retry, on a new connection to each member: the same index, nothing applied again. */
	for (int node = 1; node <= CLUSTER_NODES; node++) {
		godot_keyed(&c, node, "godot-1", &b);
		assert_string_equal(godot_op_of(&b), "submitted");
		assert_int_equal(godot_field(&b, "index")->as.i, index);
		variant_free(&b);
	}
	variant_free(&a);
	assert_int_equal(prop_of(&c, ZONE_A "/P", "g"), 5);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* ---- resuming a stream across shards ---- */

/* History kept per group in the resume test: what its writes between two subscriptions fit in. */
#define RESUME_HISTORY "64"

/* A subscriber over protobuf or the Godot gateway, and what it reads, whichever protocol brings it. */
struct follower {
	bool godot;
	struct grove_client *pb;
	struct godot gd;
};

struct read_event {
	char kind;              /* 'S' a snapshot's last chunk, 'C' changes, 'P' progress, 'R' resumed, 'X' compacted, 'E' error */
	uint64_t index, prev;
	char position[256];
	char reason[256];
	int64_t code;
	size_t n_sets;          /* property "n" set, in order: on which node, to what */
	uint64_t set_node[16];
	int64_t set_value[16];
	size_t moves;           /* of the player, each whole */
};

static void follower_open(struct follower *f, struct cluster *c, int node, bool godot)
{
	*f = (struct follower){.godot = godot};
	if (godot)
		godot_hello(&f->gd, port_of(c, node), 4);
	else
		f->pb = cluster_connect(c, node);
}

static void follower_close(struct follower *f)
{
	if (f->godot)
		godot_close(&f->gd);
	else
		grove_client_close(f->pb);
}

/* Subscribe to @p path: a snapshot, or resumed after @p position. */
static void follower_subscribe_at(struct follower *f, const char *path, const char *position)
{
	if (f->godot) {
		struct variant m;
		char from[300], at[300];
		snprintf(from, sizeof(from), "s:%s", position ? position : "");
		snprintf(at, sizeof(at), "s:%s", path);
		if (position)
			godot_dict(&m, "op", "s:subscribe", "path", at, "format", "s:tscn", "from", from, NULL);
		else
			godot_dict(&m, "op", "s:subscribe", "path", at, "format", "s:tscn", NULL);
		godot_send(&f->gd, &m);
		return;
	}
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = (char *)path;
	rq.tscn = true;
	rq.resume = position != NULL;
	rq.position = (char *)(position ? position : "");
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	assert_int_equal(grove_client_send(f->pb, &env), GROVE_OK);
}

/* Subscribe to the world: a snapshot, or resumed after @p position. */
static void follower_subscribe(struct follower *f, const char *position)
{
	follower_subscribe_at(f, "/root/World", position);
}

static void note_set(struct read_event *e, uint64_t node, int64_t value)
{
	assert_true(e->n_sets < 16);
	e->set_node[e->n_sets] = node;
	e->set_value[e->n_sets++] = value;
}

static void copy_text(char *to, size_t cap, const char *from)
{
	snprintf(to, cap, "%s", from ? from : "");
}

static bool pb_next(struct follower *f, struct read_event *e, uint64_t player)
{
	Grove__Envelope *msg = next_event(f->pb);
	const Grove__SubscribeEvent *ev = msg->subscribe_event;
	static const char kinds[] = {'S', 'C', 'P', 'R', 'X', 'E'};
	e->kind = ev->kind < sizeof(kinds) ? kinds[ev->kind] : '?';
	bool whole = ev->kind != GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT || ev->last;
	e->index = ev->index;
	e->prev = ev->prev;
	e->code = ev->code;
	copy_text(e->position, sizeof(e->position), ev->position);
	copy_text(e->reason, sizeof(e->reason), ev->reason);
	for (size_t i = 0; i < ev->n_changes; i++) {
		const Grove__Change *ch = ev->changes[i];
		if (ch->node == player && ch->op == TREE_OP_MOVE) {
			e->moves++;
		} else if (ch->op == TREE_OP_SET_PROP && strcmp(ch->name, "n") == 0) {
			struct variant v;
			assert_int_equal(variant_decode(&v, ch->value.data, ch->value.len, NULL), GROVE_OK);
			note_set(e, ch->node, v.as.i);
		}
		assert_false(ch->node == player && ch->op == TREE_OP_DELETE);
	}
	grove__envelope__free_unpacked(msg, NULL);
	return whole;
}

static int64_t int_field(const struct variant *m, const char *key)
{
	const struct variant *v = godot_field(m, key);
	return v && v->type == VARIANT_INT ? v->as.i : -1;
}

static bool godot_next(struct follower *f, struct read_event *e, uint64_t player)
{
	struct variant m;
	assert_true(godot_receive(&f->gd, &m));
	const char *op = godot_op_of(&m);
	const char *ops[] = {"snapshot", "changes", "progress", "resumed", "compacted", "error"};
	e->kind = '?';
	for (size_t i = 0; i < 6; i++)
		if (strcmp(op, ops[i]) == 0)
			e->kind = "SCPRXE"[i];
	const struct variant *last = godot_field(&m, "last"), *position = godot_field(&m, "position"),
			     *reason = godot_field(&m, "reason"), *changes = godot_field(&m, "changes");
	bool whole = e->kind != 'S' || (last && last->as.b);
	e->index = (uint64_t)int_field(&m, "index");
	e->prev = (uint64_t)int_field(&m, "prev");
	e->code = int_field(&m, "code");
	copy_text(e->position, sizeof(e->position), position ? position->as.str.ptr : NULL);
	copy_text(e->reason, sizeof(e->reason), reason ? reason->as.str.ptr : NULL);
	if (e->kind == 'C')
		assert_true(godot_field(&m, "last")->as.b); /* small entries: one part each */
	for (size_t i = 0; changes && i < changes->as.array->len; i++) {
		const struct variant *ch = &changes->as.array->items[i];
		const char *kind = godot_op_of(ch);
		uint64_t id = (uint64_t)int_field(ch, "id");
		const struct variant *property = godot_field(ch, "property");
		if (id == player && strcmp(kind, "move") == 0)
			e->moves++;
		else if (strcmp(kind, "set") == 0 && property && strcmp(property->as.str.ptr, "n") == 0)
			note_set(e, id, int_field(ch, "value"));
		assert_false(id == player && strcmp(kind, "remove") == 0);
	}
	variant_free(&m);
	return whole;
}

/* The next whole event (a snapshot's last chunk, not the ones before it). */
static void follower_next(struct follower *f, struct read_event *e, uint64_t player)
{
	for (;;) {
		*e = (struct read_event){0};
		if (f->godot ? godot_next(f, e, player) : pb_next(f, e, player))
			return;
	}
}

/* What a subscriber was given since its snapshot or resume, checked event by event. */
struct resume_seen {
	uint64_t index;              /* of the last event */
	char position[256];          /* and its position */
	int64_t values[2][16];       /* "n" set on S (0) and on Q (1), in order */
	size_t n_values[2];
	size_t moves;
};

/* Read events until @p want values on each of S (@p s) and Q (@p q) and @p moves moves of the player came. */
static void read_rest(struct follower *f, struct resume_seen *seen, uint64_t s, uint64_t q, uint64_t player,
		      size_t want, size_t moves)
{
	for (int events = 0; events < 500 && (seen->n_values[0] < want || seen->n_values[1] < want || seen->moves < moves);
	     events++) {
		struct read_event e;
		follower_next(f, &e, player);
		if (e.kind != 'C' && e.kind != 'P')
			fail_msg("event '%c' in the stream: %s", e.kind, e.reason);
		if (e.prev != seen->index)
			fail_msg("event at %llu follows %llu, but the last one was %llu", (unsigned long long)e.index,
				 (unsigned long long)e.prev, (unsigned long long)seen->index);
		assert_true(e.index > seen->index);
		assert_true(strchr(e.position, ',') != NULL); /* it names every group */
		seen->index = e.index;
		copy_text(seen->position, sizeof(seen->position), e.position);
		assert_true(e.moves <= 1);
		seen->moves += e.moves;
		for (size_t i = 0; i < e.n_sets; i++) {
			int which = e.set_node[i] == s ? 0 : e.set_node[i] == q ? 1 : -1;
			if (which >= 0 && seen->n_values[which] < 16)
				seen->values[which][seen->n_values[which]++] = e.set_value[i];
		}
	}
	assert_int_equal(seen->moves, moves);
	for (int which = 0; which < 2; which++) {
		assert_int_equal(seen->n_values[which], want);
		for (size_t i = 0; i < want; i++)
			assert_int_equal(seen->values[which][i], seen->values[which][0] + (int64_t)i);
	}
}

/* Values @p from and @p from + 1 of "n" on S and Q, and the player moved across the shards between them. */
static void write_round(struct grove_client *cl, int64_t from, const char *player_at, const char *to)
{
	assert_int_equal(client_set_int(cl, ZONE_A "/S", "n", from), GROVE_OK);
	assert_int_equal(client_set_int(cl, ZONE_B "/Q", "n", from), GROVE_OK);
	struct tree_op op = move(player_at, to);
	assert_int_equal(client_write_ops(cl, &op, 1), GROVE_OK);
	assert_int_equal(client_set_int(cl, ZONE_A "/S", "n", from + 1), GROVE_OK);
	assert_int_equal(client_set_int(cl, ZONE_B "/Q", "n", from + 1), GROVE_OK);
}

/*
 * A subscriber of the world (three shards) over @p godot or protobuf reads a round of writes, the player's
 * move across the shards among them as one event; it leaves, another round is written, and it resumes from
 * its last position on another member: exactly that round, no gap, no repeat. Its first position, once the
 * history of ZoneB's shard has moved past it, is answered "compacted"; a malformed one, an error.
 */
static void resume_round_trip(struct cluster *c, struct grove_client *cl, bool godot, uint64_t player, int64_t base)
{
	uint64_t s = node_at(cl, ZONE_A "/S", NULL), q = node_at(cl, ZONE_B "/Q", NULL);
	struct follower f;
	follower_open(&f, c, 2, godot);
	follower_subscribe(&f, NULL);
	struct read_event e;
	follower_next(&f, &e, player);
	assert_int_equal(e.kind, 'S');
	char first[256];
	copy_text(first, sizeof(first), e.position);
	assert_int_equal(strchr(first, ',') != strrchr(first, ','), true); /* three groups */
	struct resume_seen seen = {.index = e.index};
	write_round(cl, base, ZONE_A "/P", ZONE_B);
	read_rest(&f, &seen, s, q, player, 2, 1);
	assert_int_equal(seen.values[0][0], base);
	follower_close(&f);

	write_round(cl, base + 2, ZONE_B "/P", ZONE_A);
	follower_open(&f, c, 3, godot);
	follower_subscribe(&f, seen.position);
	follower_next(&f, &e, player);
	if (e.kind != 'R')
		fail_msg("resuming from %s: '%c' %s", seen.position, e.kind, e.reason);
	assert_int_equal(e.index, seen.index);
	assert_string_equal(e.position, seen.position);
	struct resume_seen rest = {.index = seen.index};
	read_rest(&f, &rest, s, q, player, 2, 1);
	assert_int_equal(rest.values[0][0], base + 2); /* nothing of the first round again */
	assert_int_equal(rest.values[1][0], base + 2);
	follower_close(&f);
	if (!godot) {
		/* `grove watch --from` takes the position too, and prints the ones it is given. */
		char address[32], resumed[300];
		struct cli_result *r = calloc(1, sizeof(*r));
		assert_non_null(r);
		cluster_address(c, 2, address, sizeof(address));
		cli_run_at(address, r, "--json", "watch", "/root/World", "--from", seen.position, "--count", "1", (char *)NULL);
		snprintf(resumed, sizeof(resumed), "{\"resumed\":%llu,\"position\":\"%s\"}\n", (unsigned long long)seen.index,
			 seen.position);
		if (r->status != 0 || strncmp(r->out, resumed, strlen(resumed)) != 0 || !strstr(r->out, "\"prev_index\":"))
			fail_msg("grove watch --from %s: %d\n%s%s", seen.position, r->status, r->out, r->err);
		assert_non_null(strstr(strchr(r->out, '\n'), "\"position\":\""));
		free(r);
	}

	/* ZoneB's history moves past the first position. */
	for (int i = 0; i < 70; i++)
		assert_int_equal(client_set_int(cl, ZONE_B "/Q", "m", i), GROVE_OK);
	follower_open(&f, c, 1, godot);
	follower_subscribe(&f, first);
	follower_next(&f, &e, player);
	if (e.kind != 'X')
		fail_msg("resuming from %s: '%c' %s", first, e.kind, e.reason);
	assert_non_null(strstr(e.reason, "no longer holds"));
	/* A position that does not parse: an error, and the connection still serves. */
	follower_subscribe(&f, "1:12,x");
	follower_next(&f, &e, player);
	assert_int_equal(e.kind, 'E');
	assert_int_equal(e.code, GROVE_EINVAL);
	assert_non_null(strstr(e.reason, "position"));
	follower_subscribe(&f, NULL);
	follower_next(&f, &e, player);
	assert_int_equal(e.kind, 'S');
	follower_close(&f);
}

static void test_resume_across_shards(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t player;
	const char *args[] = {"--history-entries", RESUME_HISTORY, NULL};
	struct grove_client *cl = start_world_with(&c, args, false, &player);
	struct tree_op make_s = create(ZONE_A, "S");
	assert_int_equal(client_write_ops(cl, &make_s, 1), GROVE_OK);
	resume_round_trip(&c, cl, false, player, 100);
	resume_round_trip(&c, cl, true, player, 200);
	grove_client_close(cl);
	wait_settled(&c);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* Read events of @p f until value @p want of "n" on node @p t came; every value after @p seen->values' last once, in order. */
static void read_values_until(struct follower *f, struct resume_seen *seen, uint64_t t, int64_t want)
{
	int64_t last = seen->n_values[0] ? seen->values[0][seen->n_values[0] - 1] : 0;
	for (int events = 0; events < 500 && last < want; events++) {
		struct read_event e;
		follower_next(f, &e, 0);
		if (e.kind != 'C' && e.kind != 'P')
			fail_msg("event '%c' in the stream after %lld: %s", e.kind, (long long)last, e.reason);
		if (e.prev != seen->index || e.index <= seen->index)
			fail_msg("event at %llu follows %llu, but the last one was %llu", (unsigned long long)e.index,
				 (unsigned long long)e.prev, (unsigned long long)seen->index);
		seen->index = e.index;
		copy_text(seen->position, sizeof(seen->position), e.position);
		for (size_t i = 0; i < e.n_sets; i++) {
			if (e.set_node[i] != t)
				continue;
			if (e.set_value[i] != last + 1)
				fail_msg("%lld after %lld", (long long)e.set_value[i], (long long)last);
			last = e.set_value[i];
			if (seen->n_values[0] < 16)
				seen->values[0][seen->n_values[0]++] = last;
		}
	}
	assert_int_equal(last, want);
}

/* Resume @p f at member @p node from @p seen's position: "resumed" at it or past it, never a new snapshot. */
static void resume_at(struct follower *f, struct cluster *c, int node, bool godot, const char *path,
		      struct resume_seen *seen)
{
	struct read_event e;
	follower_open(f, c, node, godot);
	follower_subscribe_at(f, path, seen->position);
	follower_next(f, &e, 0);
	if (e.kind != 'R')
		fail_msg("resuming %s from %s: '%c' at %llu %s", path, seen->position, e.kind, (unsigned long long)e.index,
			 e.reason);
	assert_true(e.index >= seen->index);
	seen->index = e.index;
	copy_text(seen->position, sizeof(seen->position), e.position);
}

/*
 * A stream within one shard names its group, and a split that moved the subscribed subtree to a new group
 * while its client was away does not end it: the old position resumes in the old group up to the split and
 * in the new one from its birth (whose log starts again at 1: an index of the old one is never read as one
 * of the new), with nothing skipped or repeated and no new snapshot; the position then names both, and
 * resumes again at another member. The subscribed node (T, in a zone) is then split off the zone's shard in
 * turn while the stream follows it: handed over live, and a position from between the two splits resumes
 * through both.
 */
static void test_resume_after_the_subtree_moved_shards(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t player;
	struct grove_client *cl = start_world(&c, &player);
	for (int godot = 0; godot <= 1; godot++) {
		char path[64];
		snprintf(path, sizeof(path), "/root/World/ZoneC%d", godot);
		struct tree_op zone[] = {create("/root/World", path + strlen("/root/World/")), create(path, "T")};
		assert_int_equal(client_write_ops(cl, zone, 2), GROVE_OK);
		cluster_wait_converged(&c); /* member 2 serves the subscription from what it applied */
		char t[80];
		snprintf(t, sizeof(t), "%s/T", path);
		uint64_t t_id = node_at(cl, t, NULL);
		struct follower f;
		struct read_event e;
		follower_open(&f, &c, 2, godot);
		follower_subscribe_at(&f, t, NULL);
		follower_next(&f, &e, player);
		assert_int_equal(e.kind, 'S');
		assert_int_equal(strchr(e.position, ','), NULL); /* one group */
		assert_true(e.position[0] != '\0');
		struct resume_seen seen = {.index = e.index};
		assert_int_equal(client_set_int(cl, t, "n", 1), GROVE_OK);
		read_values_until(&f, &seen, t_id, 1);
		follower_close(&f);

		assert_int_equal(client_shard_split(cl, path, NULL), GROVE_OK);
		for (int i = 2; i < 6; i++)
			assert_int_equal(client_set_int(cl, t, "n", i), GROVE_OK);
		cluster_wait_converged(&c);
		resume_at(&f, &c, 3, godot, t, &seen);
		read_values_until(&f, &seen, t_id, 5);
		follower_close(&f);
		assert_non_null(strchr(seen.position, ',')); /* the old group and the new */

		assert_int_equal(client_set_int(cl, t, "n", 6), GROVE_OK);
		cluster_wait_converged(&c);
		resume_at(&f, &c, 1, godot, t, &seen);
		read_values_until(&f, &seen, t_id, 6);
		struct resume_seen between = seen;
		assert_int_equal(client_shard_split(cl, t, NULL), GROVE_OK);
		assert_int_equal(client_set_int(cl, t, "n", 7), GROVE_OK);
		read_values_until(&f, &seen, t_id, 7);
		follower_close(&f);

		assert_int_equal(client_set_int(cl, t, "n", 8), GROVE_OK);
		cluster_wait_converged(&c);
		resume_at(&f, &c, 2, godot, t, &seen);
		read_values_until(&f, &seen, t_id, 8);
		follower_close(&f);
		resume_at(&f, &c, 3, godot, t, &between);
		read_values_until(&f, &between, t_id, 8);
		follower_close(&f);
	}
	grove_client_close(cl);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* Subscribe follower @p f to @p path for a snapshot not older than position @p not_before. */
static void subscribe_not_before(struct follower *f, const char *path, const char *not_before)
{
	if (f->godot) {
		struct variant m;
		char at[300], nb[300];
		snprintf(at, sizeof(at), "s:%s", path);
		snprintf(nb, sizeof(nb), "s:%s", not_before);
		godot_dict(&m, "op", "s:subscribe", "path", at, "format", "s:tscn", "not_before", nb, NULL);
		godot_send(&f->gd, &m);
		return;
	}
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = (char *)path;
	rq.tscn = true;
	rq.not_before = (char *)not_before;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	assert_int_equal(grove_client_send(f->pb, &env), GROVE_OK);
}

/*
 * A client told "compacted" asks for a snapshot not older than the position it had ("not_before"): a member
 * that has not applied that far waits for it (the snapshot then holds what was written meanwhile), and says
 * to ask another member once 10 s went by; a "not_before" that is not a position is an error. Over protobuf
 * and the Godot gateway.
 */
static void test_snapshot_not_before_a_position(void **state)
{
	(void)state;
	struct cluster c;
	uint64_t player;
	struct grove_client *cl = start_world(&c, &player);
	struct tree_op make = create("/root/World", "NB");
	assert_int_equal(client_write_ops(cl, &make, 1), GROVE_OK);
	uint64_t nb = node_at(cl, "/root/World/NB", NULL);
	for (int godot = 0; godot <= 1; godot++) {
		assert_int_equal(client_set_int(cl, "/root/World/NB", "n", 10 * godot + 1), GROVE_OK);
		cluster_wait_converged(&c);
		struct follower f;
		struct read_event e;
		follower_open(&f, &c, 2, godot);
		follower_subscribe_at(&f, "/root/World/NB", NULL);
		follower_next(&f, &e, player);
		assert_int_equal(e.kind, 'S');
		unsigned long long group, index;
		assert_int_equal(sscanf(e.position, "%llu:%llu", &group, &index), 2);
		char ahead[64];
		snprintf(ahead, sizeof(ahead), "%llu:%llu", group, index + 1);
		/* One entry ahead: the snapshot waits for the next write, and holds it. */
		subscribe_not_before(&f, "/root/World/NB", ahead);
		assert_int_equal(client_set_int(cl, "/root/World/NB", "n", 10 * godot + 2), GROVE_OK);
		do /* the first subscription goes on until the new one takes its snapshot */
			follower_next(&f, &e, player);
		while (e.kind == 'C' || e.kind == 'P');
		assert_int_equal(e.kind, 'S');
		unsigned long long at_group, at_index;
		assert_int_equal(sscanf(e.position, "%llu:%llu", &at_group, &at_index), 2);
		assert_true(at_index >= index + 1);
		follower_subscribe_at(&f, "/root/World/NB", e.position); /* the stream goes on from it */
		assert_int_equal(client_set_int(cl, "/root/World/NB", "n", 10 * godot + 3), GROVE_OK);
		do
			follower_next(&f, &e, player);
		while (e.kind != 'C');
		assert_int_equal(e.n_sets, 1);
		assert_int_equal(e.set_node[0], nb);
		assert_int_equal(e.set_value[0], 10 * godot + 3); /* so the snapshot held 10 * godot + 2 */
		subscribe_not_before(&f, "/root/World/NB", "1:x");
		do
			follower_next(&f, &e, player);
		while (e.kind != 'E');
		assert_int_equal(e.code, GROVE_EINVAL);
		if (!godot) {
			snprintf(ahead, sizeof(ahead), "%llu:%llu", group, index + 1000000);
			subscribe_not_before(&f, "/root/World/NB", ahead);
			do
				follower_next(&f, &e, player);
			while (e.kind != 'E');
			assert_int_equal(e.code, GROVE_EUNAVAILABLE);
			assert_non_null(strstr(e.reason, "ask another member"));
			/*
			 * The same when only another group the position names is ahead, one the subtree is not in by
			 * this member's shard map (a member that applied a split before the map's switch to the new
			 * group routes the subtree to the group it left), or one not started here at all.
			 */
			uint64_t zone_a = client_shard_group(cl, ZONE_A);
			const char *const ahead_elsewhere[] = {"%llu:%llu,%llu:1000000", "%llu:%llu,%llu:1"};
			for (int k = 0; k < 2; k++) {
				snprintf(ahead, sizeof(ahead), ahead_elsewhere[k], group, index,
					 k ? 999ull : (unsigned long long)zone_a);
				subscribe_not_before(&f, "/root/World/NB", ahead);
				do {
					follower_next(&f, &e, player);
					if (e.kind == 'S')
						fail_msg("a snapshot, though not before %s, which this member has not applied", ahead);
				} while (e.kind != 'E');
				assert_int_equal(e.code, GROVE_EUNAVAILABLE);
				assert_non_null(strstr(e.reason, k ? "shard 999 up to 0" : "ask another member"));
			}
		}
		follower_close(&f);
	}
	grove_client_close(cl);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

int main(void)
{
	const char *filter = getenv("GROVE_TEST_FILTER");
	if (filter)
		cmocka_set_test_filter(filter);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_across_shards),
		cmocka_unit_test(test_connections_across_shards),
		cmocka_unit_test(test_back_to_back_writes_do_not_wait),
		cmocka_unit_test(test_opposed_writers_all_go_on),
		cmocka_unit_test(test_reads_wait_only_for_their_shards),
		cmocka_unit_test(test_kill_the_coordinator),
		cmocka_unit_test(test_stream_across_shards),
		cmocka_unit_test(test_stream_through_a_split_of_its_root),
		cmocka_unit_test(test_move_across_shards_into_a_zone),
		cmocka_unit_test(test_arrival_names_other_shards),
		cmocka_unit_test(test_transaction_state_is_collected),
		cmocka_unit_test(test_killed_transactions_are_collected),
		cmocka_unit_test(test_keyed_writes_across_shards),
		cmocka_unit_test(test_keyed_retry_races_the_first),
		cmocka_unit_test(test_godot_keyed_submit_across_shards),
		cmocka_unit_test(test_resume_across_shards),
		cmocka_unit_test(test_resume_after_the_subtree_moved_shards),
		cmocka_unit_test(test_snapshot_not_before_a_position),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
