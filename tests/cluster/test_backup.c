/* Scheduled backups on a real 3-node groved cluster (--snapshot-every): each member writes them beside its
 * loop, only when its applied index moved, and keeps the newest K; `grove snapshot list` shows them; a backup
 * restored into a fresh cluster holds exactly the tree the source read at the backup's index, ids included,
 * and brought forward with the source's change history (`--at INDEX --history-from`), the tree read at
 * INDEX; at a restart a corrupt backup is logged, left out of the list and not deleted; a history that no
 * longer holds what follows a backup refuses to bring it forward. A world with shards is saved and backed up
 * whole, at one point, while a player moves between two shards: each snapshot holds it in exactly one place
 * and restores as the world without shards, and backups stop while nothing changes. */
#include <dirent.h>
#include <pthread.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/grove.pb-c.h"
#include "src/common/buf.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "src/tree/tree.h"
#include "src/tree/variant.h"
#include "cluster.h"
#include "harness.h"
#include "support.h"

#define KEEP 3
#define KEEP_TEXT "3"

#define CLI(c, node, r, ...)                                                       \
	do {                                                                       \
		char at_[32];                                                      \
		cluster_address(c, node, at_, sizeof(at_));                        \
		cli_run_at(at_, r, __VA_ARGS__, (char *)NULL);                     \
		if ((r)->status)                                                   \
			print_message("grove: exit %d: %s", (r)->status, (r)->err); \
	} while (0)

/* The tree as read, one line per node in pre-order with every field and property: equal trees, equal text. */
static char *canonical(const Grove__ReadReply *rr)
{
	struct grove_buf b = {0};
	char line[512];
	for (size_t i = 0; i < rr->n_nodes; i++) {
		const Grove__NodeInfo *n = rr->nodes[i];
		int len = snprintf(line, sizeof(line), "%" PRIu64 " parent=%" PRIu64 " depth=%u %s (%s) %s path=%s\n", n->id,
				   n->parent, n->depth, n->name, n->class_name, n->instance, n->path);
		grove_buf_put(&b, line, (size_t)len);
		for (size_t k = 0; k < n->n_props; k++) {
			grove_buf_put(&b, "  ", 2);
			grove_buf_put(&b, n->props[k]->name, strlen(n->props[k]->name));
			grove_buf_put(&b, " =", 2);
			for (size_t x = 0; x < n->props[k]->value.len; x++) {
				len = snprintf(line, sizeof(line), " %02x", n->props[k]->value.data[x]);
				grove_buf_put(&b, line, (size_t)len);
			}
			grove_buf_put(&b, "\n", 1);
		}
	}
	grove_buf_put(&b, "", 1);
	assert_false(b.failed);
	return (char *)b.data;
}

/* The whole tree read through member @p node (a linearizable read), canonical; NULL if it could not be read. */
static char *read_tree(struct cluster *c, int node)
{
	char address[32];
	cluster_address(c, node, address, sizeof(address));
	struct grove_client *cl;
	/* A read of a world with shards waits while a cut holds them: every member's backups take cuts, and on a
	 * loaded machine members' cuts that meet each other have held the shards for seconds. */
	if (grove_client_connect(address, NULL, 30000, &cl, NULL, 0)) {
		print_message("member %d: cannot connect\n", node);
		return NULL;
	}
	Grove__Envelope *holder;
	Grove__ReadReply *rr = client_read(cl, "/root", UINT32_MAX, true, &holder);
	char *text = rr && rr->code == 0 ? canonical(rr) : NULL;
	if (!text)
		print_message("member %d: reading /root: %s\n", node, rr ? rr->message : "no answer");
	if (holder)
		grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(cl);
	return text;
}

/* Write batch @p op through @p cl; @return the applied index that includes it. */
static uint64_t write_one(struct grove_client *cl, const struct tree_op *op)
{
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(op, 1, &wr), GROVE_OK);
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	assert_int_equal(grove_client_call(cl, &env, &reply), GROVE_OK);
	wire_request_free(&wr);
	assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_WRITE_REPLY);
	if (reply->write_reply->code)
		fail_msg("write refused: %s", reply->write_reply->message);
	uint64_t index = reply->write_reply->applied_index;
	grove__envelope__free_unpacked(reply, NULL);
	assert_true(index > 0);
	return index;
}

/* The tree the source read after each write, with the index the write was applied at. */
struct states {
	uint64_t index[64];
	char *tree[64];
	size_t n;
};

/*
 * Write number @p k of a fixed sequence (creates, sets, renames, deletes under /root/World) through
 * @p cl, then read the tree through member @p node. This test is the only writer, so the tree read is the
 * state from the write's index until the next write's.
 */
static void write_step(struct cluster *c, int node, struct grove_client *cl, int k, struct states *s)
{
	char name[32], path[64], other[64];
	struct variant v;
	variant_set_int(&v, k);
	struct tree_op op = {.index = -1};
	if (k == 0) {
		op = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = "World", .text = "Node3D",
				      .index = -1};
	} else if (k % 8 == 0) {
		snprintf(path, sizeof(path), "/root/World/R%d", k - 7);
		op = (struct tree_op){.kind = TREE_OP_DELETE, .node = {.path = path}};
	} else if (k % 4 == 1) {
		snprintf(name, sizeof(name), "N%d", k);
		op = (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = "/root/World"}, .name = name,
				      .text = "Node2D", .index = -1};
	} else if (k % 4 == 2) {
		snprintf(path, sizeof(path), "/root/World/N%d", k - 1);
		op = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = {.path = path}, .name = "hp", .value = &v};
	} else if (k % 4 == 3) {
		snprintf(path, sizeof(path), "/root/World/N%d", k - 2);
		snprintf(other, sizeof(other), "R%d", k - 2);
		op = (struct tree_op){.kind = TREE_OP_RENAME, .node = {.path = path}, .name = other};
	} else {
		op = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World"}, .name = "step",
				      .value = &v};
	}
	assert_true(s->n < 64);
	s->index[s->n] = write_one(cl, &op);
	s->tree[s->n] = read_tree(c, node);
	assert_non_null(s->tree[s->n]);
	s->n++;
}

/* The state at index @p index: after the last write applied at or before it. */
static const char *state_at(const struct states *s, uint64_t index)
{
	const char *tree = NULL;
	for (size_t i = 0; i < s->n && s->index[i] <= index; i++)
		tree = s->tree[i];
	assert_non_null(tree);
	return tree;
}

/* One backup as `grove --json snapshot list` prints it. */
struct listed {
	char path[4096];
	uint64_t index;
	bool verified;
};

/* `grove --json snapshot list` on member @p node: @return how many backups it listed (at most @p cap kept). */
static size_t list_backups(struct cluster *c, int node, struct listed *out, size_t cap)
{
	struct cli_result *r = malloc(sizeof(*r));
	assert_non_null(r);
	CLI(c, node, r, "--json", "snapshot", "list");
	assert_int_equal(r->status, 0);
	size_t n = 0;
	for (char *line = strtok(r->out, "\n"); line; line = strtok(NULL, "\n")) {
		char *p = strstr(line, "\"path\":\""), *i = strstr(line, "\"applied_index\":");
		assert_non_null(p);
		assert_non_null(i);
		if (n < cap) {
			p += strlen("\"path\":\"");
			size_t len = (size_t)(strchr(p, '"') - p);
			assert_true(len < sizeof(out[n].path));
			memcpy(out[n].path, p, len);
			out[n].path[len] = '\0';
			out[n].index = strtoull(i + strlen("\"applied_index\":"), NULL, 10);
			out[n].verified = strstr(line, "\"verified\":true") != NULL;
		}
		n++;
	}
	free(r);
	return n;
}

/* Backup files (not temporary ones) in member @p node's backups folder. */
static size_t files_in_backups(struct cluster *c, int node)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/node%d/backups", c->dir, node);
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strncmp(e->d_name, "backup-", 7) == 0;
	closedir(d);
	return n;
}

/* Wait (at most 20 s) until member @p node lists a backup of index @p at_least or more; @return the newest. */
static struct listed wait_backup(struct cluster *c, int node, uint64_t at_least)
{
	struct listed got[16];
	for (int t = 0; t < 200; t++) {
		size_t n = list_backups(c, node, got, 16);
		if (n && n <= 16 && got[n - 1].index >= at_least)
			return got[n - 1];
		usleep(100000);
	}
	fail_msg("member %d wrote no backup of index %" PRIu64 " or more within 20 s", node, at_least);
	return got[0];
}

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static void free_states(struct states *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->tree[i]);
}

static void test_backups_restore_to_their_index(void **state)
{
	(void)state;
	struct cli_result *r = malloc(sizeof(*r));
	struct states s = {0};
	struct cluster a;
	const char *const args[] = {"--snapshot-every", "300ms", "--snapshot-keep", KEEP_TEXT, NULL};
	cluster_start(&a, args);
	int leader = cluster_wait_leader(&a);
	int follower = leader % CLUSTER_NODES + 1;
	char address[32];
	cluster_address(&a, leader, address, sizeof(address));
	struct grove_client *cl;
	assert_int_equal(grove_client_connect(address, NULL, 5000, &cl, NULL, 0), GROVE_OK);

	/* Writes, then a backup on a follower that holds them all. */
	int k = 0;
	for (; k < 14; k++)
		write_step(&a, leader, cl, k, &s);
	struct listed backup = wait_backup(&a, follower, s.index[s.n - 1]);
	char kept[4096];
	snprintf(kept, sizeof(kept), "%s/kept.snap", a.dir);
	copy_file(backup.path, kept); /* before retention deletes it */
	assert_true(backup.verified);

	/* More writes: the world moves on past the backup. */
	for (; k < 30; k++)
		write_step(&a, leader, cl, k, &s);
	grove_client_close(cl);
	uint64_t last = s.index[s.n - 1];
	assert_string_not_equal(state_at(&s, backup.index), state_at(&s, last));

	/* Every member writes its own backups, and keeps the newest KEEP, listed and on disk alike. */
	for (int n = 1; n <= CLUSTER_NODES; n++) {
		wait_backup(&a, n, last);
		struct listed all[16];
		size_t count = list_backups(&a, n, all, 16);
		assert_in_range(count, 1, KEEP);
		for (size_t i = 0; i < count; i++)
			assert_true(all[i].verified);
		assert_int_equal(files_in_backups(&a, n), count);
	}
	/* Nothing changes, so no more backups are written (the schedule skips an index already backed up). */
	char line[512];
	struct listed before[16], after[16];
	size_t n_before = list_backups(&a, follower, before, 16);
	usleep(1200000);
	size_t n_after = list_backups(&a, follower, after, 16);
	assert_int_equal(n_before, n_after);
	assert_string_equal(before[n_before - 1].path, after[n_after - 1].path);
	assert_true(cluster_log_has(&a, follower, "backups: wrote", line, sizeof(line)));

	/* The backup restored into a fresh cluster is the tree the source read at its index, ids and all. */
	struct cluster b;
	cluster_start(&b, NULL);
	int b_follower = cluster_wait_leader(&b) % CLUSTER_NODES + 1;
	CLI(&b, b_follower, r, "snapshot", "restore", kept);
	assert_int_equal(r->status, 0);
	char *restored = read_tree(&b, b_follower);
	assert_non_null(restored);
	assert_string_equal(restored, state_at(&s, backup.index));
	free(restored);
	cluster_stop(&b);
	test_rmtree(b.dir);

	/*
	 * Point in time: the same backup brought forward, with the source's change history, to an index between
	 * it and the next backups, is the tree the source read at that index.
	 */
	uint64_t target = s.index[21];
	assert_true(target > backup.index && target < last);
	char at[32], sources[128];
	snprintf(at, sizeof(at), "%" PRIu64, target);
	snprintf(sources, sizeof(sources), "127.0.0.1:%d,127.0.0.1:%d", a.ports[follower], a.ports[leader]);
	struct cluster p;
	cluster_start(&p, NULL);
	int p_leader = cluster_wait_leader(&p);
	CLI(&p, p_leader, r, "snapshot", "restore", kept, "--at", at, "--history-from", sources);
	assert_int_equal(r->status, 0);
	restored = read_tree(&p, p_leader % CLUSTER_NODES + 1);
	assert_non_null(restored);
	assert_string_equal(restored, state_at(&s, target));
	assert_string_not_equal(restored, state_at(&s, target - 1));
	free(restored);
	/* An index before the backup's, or past it with no history named, is refused and changes nothing. */
	snprintf(at, sizeof(at), "%" PRIu64, backup.index - 1);
	CLI(&p, p_leader, r, "snapshot", "restore", kept, "--at", at, "--history-from", sources);
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "restore an earlier one"));
	snprintf(at, sizeof(at), "%" PRIu64, last);
	CLI(&p, p_leader, r, "snapshot", "restore", kept, "--at", at);
	assert_int_equal(r->status, 2);
	assert_non_null(strstr(r->err, "needs --history-from"));
	cluster_stop(&p);
	test_rmtree(p.dir);
	cluster_stop(&a);

	/*
	 * A damaged backup (the oldest, so that the newest still holds the member's applied index and no new one
	 * is due): at the next start it is logged with its reason, left out of the list, and not deleted.
	 */
	struct listed all[16];
	cluster_node_start(&a, follower);
	size_t count = list_backups(&a, follower, all, 16);
	assert_in_range(count, 2, KEEP);
	FILE *f = fopen(all[0].path, "r+b");
	assert_non_null(f);
	fseek(f, -5, SEEK_END);
	int byte = fgetc(f);
	fseek(f, -5, SEEK_END);
	fputc(byte ^ 0x5a, f);
	fclose(f);
	cluster_node_signal(&a, follower, SIGTERM);
	cluster_node_start(&a, follower);
	assert_true(cluster_log_has(&a, follower, "is corrupt: body checksum mismatch; left out of the list", line,
				    sizeof(line)));
	assert_non_null(strstr(line, strrchr(all[0].path, '/') + 1));
	struct listed now[16];
	assert_int_equal(list_backups(&a, follower, now, 16), count - 1);
	for (size_t i = 1; i < count; i++)
		assert_string_equal(now[i - 1].path, all[i].path);
	assert_int_equal(access(all[0].path, F_OK), 0);
	cluster_stop(&a);

	free_states(&s);
	test_rmtree(a.dir);
	free(r);
}

/*
 * A history that no longer holds the entries after a backup: bringing the backup forward is refused with the
 * reason, and the world it was to go into stays empty.
 */
static void test_point_in_time_needs_the_history(void **state)
{
	(void)state;
	struct cli_result *r = malloc(sizeof(*r));
	const char *const args[] = {"--snapshot-every", "200ms", "--history-entries", "4", NULL};
	struct groved_opts opts = {.args = args};
	struct groved_fixture *source = groved_fixture_new("backup_source", &opts);
	struct groved_fixture *fresh = groved_fixture_new("backup_fresh", NULL);
	struct grove_client *cl;
	assert_int_equal(grove_client_connect(source->server.address, NULL, 5000, &cl, NULL, 0), GROVE_OK);
	struct states s = {0};
	int k = 0;
	for (; k < 3; k++) {
		struct variant v;
		variant_set_int(&v, k);
		struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root"}, .name = "n", .value = &v};
		s.index[s.n++] = write_one(cl, &op);
	}
	uint64_t first = s.index[s.n - 1];
	char kept[4200] = "";
	/* Backups are listed oldest first, a line each: one taken between the writes may come before it. */
	for (int t = 0; t < 100 && !kept[0]; t++) {
		cli_run(&source->server, r, "--json", "snapshot", "list", (char *)NULL);
		for (char *line = strtok(r->out, "\n"); line && !kept[0]; line = strtok(NULL, "\n")) {
			char *p = strstr(line, "\"path\":\""), *index = strstr(line, "\"applied_index\":");
			if (p && index && strtoull(index + 16, NULL, 10) >= first) {
				p += 8;
				snprintf(kept, sizeof(kept), "%.*s", (int)(strchr(p, '"') - p), p);
			}
		}
		usleep(100000);
	}
	assert_true(kept[0]);
	char copy[4200];
	snprintf(copy, sizeof(copy), "%s/kept.snap", source->dir);
	copy_file(kept, copy);
	for (; k < 20; k++) {
		struct variant v;
		variant_set_int(&v, k);
		struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root"}, .name = "n", .value = &v};
		s.index[s.n++] = write_one(cl, &op);
	}
	grove_client_close(cl);
	char at[32];
	snprintf(at, sizeof(at), "%" PRIu64, s.index[s.n - 1]);
	cli_run(&fresh->server, r, "snapshot", "restore", copy, "--at", at, "--history-from", source->server.address,
		(char *)NULL);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "no longer holds index"));
	cli_run(&fresh->server, r, "get", "/root", (char *)NULL);
	assert_int_equal(r->status, 0);
	assert_null(strstr(r->out, "n = "));
	groved_fixture_free(fresh);
	groved_fixture_free(source);
	free(r);
}

/* ---- a world with shards ---- */

#define ZONE_A "/root/World/ZoneA"
#define ZONE_B "/root/World/ZoneB"
/* Moves of the player across the zones while snapshots are saved, and the snapshots saved meanwhile. */
#define SAVED_MOVES 60
#define SAVES 12

static struct tree_op create(const char *parent, const char *name)
{
	return (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = parent}, .name = name, .text = "Node3D",
				.index = -1};
}

/* The player P in the zone @p zone of the world served at @p address: 1 if it is there with its three children. */
static int player_in(const char *address, const char *zone)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/P", zone);
	struct grove_client *cl;
	assert_int_equal(grove_client_connect(address, NULL, 5000, &cl, NULL, 0), GROVE_OK);
	Grove__Envelope *holder;
	Grove__ReadReply *rr = client_read(cl, path, 1, false, &holder);
	assert_non_null(rr);
	int there = rr->code == 0;
	if (there)
		assert_int_equal(rr->n_nodes, 4);
	else
		assert_int_equal(rr->code, GROVE_ENOTFOUND);
	grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(cl);
	return there;
}

struct mover {
	struct cluster *c;
	int moved;
	int refused;     /* answers "met another transaction, retry" */
	int unknown;     /* answers that leave the outcome unknown (no leader for the client's timeout, ...) */
	int failed_code; /* the answer that stopped the moves (0: none) */
};

/*
 * Move the player from zone to zone SAVED_MOVES times, through each member in turn; every move must succeed.
 * Each has a submit key, so that it is sent again (as a client does) whatever the answer was: while it is
 * refused as meeting another transaction (a cut among them), and a few times when the answer leaves the
 * outcome unknown; the key makes it apply once.
 */
static void *move_player(void *arg)
{
	struct mover *m = arg;
	for (int i = 0; i < SAVED_MOVES; i++) {
		struct tree_op op = {.kind = TREE_OP_MOVE, .node = {.path = i % 2 ? ZONE_B "/P" : ZONE_A "/P"},
				     .target = {.path = i % 2 ? ZONE_A : ZONE_B}, .index = -1};
		char key[32];
		snprintf(key, sizeof(key), "move-%d", i);
		int code = -1, unknown = 0;
		for (int attempt = 0; attempt < 20 && code != GROVE_OK && unknown < 3; attempt++) {
			struct grove_client *cl = cluster_connect(m->c, 1 + (i + attempt) % CLUSTER_NODES);
			uint64_t index;
			code = client_write_keyed(cl, key, &op, 1, &index);
			grove_client_close(cl);
			m->refused += code == GROVE_EINTENT;
			unknown += code != GROVE_OK && code != GROVE_EINTENT;
		}
		m->unknown += unknown;
		if (code != GROVE_OK) {
			m->failed_code = code;
			break;
		}
		m->moved++;
	}
	return NULL;
}

/* Restore snapshot file @p file into a fresh groved: @return its tree, canonical; in @p zone_a / @p zone_b whether P is there. */
static char *restored_world(const char *file, int *zone_a, int *zone_b)
{
	struct cli_result *r = malloc(sizeof(*r));
	struct groved_fixture *fresh = groved_fixture_new("backup_shards", NULL);
	cli_run(&fresh->server, r, "snapshot", "restore", file, (char *)NULL);
	if (r->status)
		fail_msg("restoring %s: %s", file, r->err);
	*zone_a = player_in(fresh->server.address, ZONE_A);
	*zone_b = player_in(fresh->server.address, ZONE_B);
	struct grove_client *cl;
	assert_int_equal(grove_client_connect(fresh->server.address, NULL, 5000, &cl, NULL, 0), GROVE_OK);
	Grove__Envelope *holder;
	Grove__ReadReply *rr = client_read(cl, "/root", UINT32_MAX, true, &holder);
	assert_true(rr && rr->code == 0);
	char *text = canonical(rr);
	grove__envelope__free_unpacked(holder, NULL);
	grove_client_close(cl);
	groved_fixture_free(fresh);
	free(r);
	return text;
}

/*
 * A world split into shards is saved whole: snapshots taken from every member while a player moves between
 * two shards over and over each hold it in exactly one zone with its subtree, and restore into a fresh server
 * as the world without shards; backups are written of it too, only when the tree changed, and the newest
 * restores as the tree the cluster reads, ids and all. A restore into the world with shards is refused.
 */
static void test_world_with_shards_is_saved_whole(void **state)
{
	(void)state;
	struct cli_result *r = malloc(sizeof(*r));
	struct cluster a;
	const char *const args[] = {"--snapshot-every", "300ms", "--snapshot-keep", KEEP_TEXT, NULL};
	cluster_start(&a, args);
	cluster_wait_leader(&a);
	struct grove_client *cl = cluster_connect(&a, 1);
	struct tree_op world[] = {create("/root", "World"), create("/root/World", "ZoneA"), create("/root/World", "ZoneB"),
				  create(ZONE_A, "P"), create(ZONE_A "/P", "Arm"), create(ZONE_A "/P", "Leg"),
				  create(ZONE_A "/P", "Head"), create(ZONE_B, "Q")};
	assert_int_equal(client_write_ops(cl, world, sizeof(world) / sizeof(world[0])), GROVE_OK);
	assert_int_equal(client_set_int(cl, ZONE_A "/P", "hp", 42), GROVE_OK);
	grove_client_close(cl);
	CLI(&a, 1, r, "shard", "split", ZONE_A);
	assert_int_equal(r->status, 0);
	CLI(&a, 2, r, "shard", "split", ZONE_B);
	assert_int_equal(r->status, 0);

	struct mover m = {&a, 0, 0, 0, 0};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, move_player, &m), 0);
	char files[SAVES][4200];
	for (int i = 0; i < SAVES; i++) {
		snprintf(files[i], sizeof(files[i]), "%s/saved-%d.snap", a.dir, i);
		/* A cut that cannot begin within the server's wait is answered "retry": done, at most twice more. */
		for (int attempt = 0; attempt < 3; attempt++) {
			CLI(&a, 1 + (i + attempt) % CLUSTER_NODES, r, "snapshot", "save", files[i]);
			if (r->status == 0 || !strstr(r->err, "retry"))
				break;
		}
		assert_int_equal(r->status, 0);
		usleep(10000);
	}
	pthread_join(thread, NULL);
	if (m.moved != SAVED_MOVES) {
		for (int node = 1; node <= CLUSTER_NODES; node++) {
			CLI(&a, node, r, "shard", "list");
			print_message("member %d's shards:\n%s", node, r->out);
		}
		fail_msg("move %d of %d answered %d", m.moved + 1, SAVED_MOVES, m.failed_code);
	}
	print_message("%d moves (%d answers to send one again, %d with the outcome unknown) while %d snapshots were "
		      "saved\n", m.moved, m.refused, m.unknown, SAVES);
	for (int i = 0; i < SAVES; i++) {
		int in_a, in_b;
		free(restored_world(files[i], &in_a, &in_b));
		if (in_a + in_b != 1)
			fail_msg("snapshot %d holds the player in %d zones", i, in_a + in_b);
	}

	/* Backups: the newest, once the moves stopped, is the world as read; then none while nothing changes. */
	int follower = cluster_wait_leader(&a) % CLUSTER_NODES + 1;
	char *now = read_tree(&a, follower);
	assert_non_null(now);
	usleep(1000000);
	struct listed before[16], after[16];
	size_t n_before = list_backups(&a, follower, before, 16);
	assert_in_range(n_before, 1, KEEP);
	usleep(1200000);
	size_t n_after = list_backups(&a, follower, after, 16);
	assert_int_equal(n_after, n_before);
	assert_string_equal(before[n_before - 1].path, after[n_after - 1].path);
	assert_true(after[n_after - 1].verified);
	int in_a, in_b;
	char *restored = restored_world(after[n_after - 1].path, &in_a, &in_b);
	assert_string_equal(restored, now);
	assert_int_equal(in_a, SAVED_MOVES % 2 == 0);
	free(restored);
	free(now);

	CLI(&a, 3, r, "snapshot", "restore", files[0]);
	assert_int_equal(r->status, 1);
	assert_non_null(strstr(r->err, "this one has shards"));
	cluster_stop(&a);
	test_rmtree(a.dir);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backups_restore_to_their_index),
		cmocka_unit_test(test_point_in_time_needs_the_history),
		cmocka_unit_test(test_world_with_shards_is_saved_whole),
	};
	if (getenv("GROVE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GROVE_TEST_FILTER"));
	return cmocka_run_group_tests_name("backup", tests, NULL, NULL);
}
