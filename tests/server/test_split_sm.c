/*
 * Splits through the state machines members run (tree_sm.h over real LMDB stores), seed by seed: the same
 * logs of two groups (the source with writes and a split command, repeated too; the new group with the
 * writes routed to it by a shard map) applied by three members in different ways must give the same
 * results and the same records:
 *   - member A applies each entry in a transaction of its own;
 *   - member B applies several entries per transaction, and now and then "crashes": its open transaction
 *     is aborted and it applies again from what it had committed (replay after kill -9);
 *   - member C lags: it takes A's snapshots of both groups somewhere after the split (so it never applies
 *     the split itself, as a member whose source installed a snapshot) and applies the rest.
 * GROVE_SIM_SEEDS=N runs N seeds (default 200); GROVE_SIM_SEED=S replays one. A failure prints its seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/wire.h"
#include "src/server/tree_sm.h"
#include "src/shard/shardmap.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "support.h"

#define SOURCE 1
#define BORN 3
#define MEMBERS 3
#define MAX_ENTRIES 160

/* One group's log: entry data, and the result code each member got for it. */
struct log {
	uint8_t *data[MAX_ENTRIES];
	size_t len[MAX_ENTRIES];
	size_t n;
	int code[MEMBERS][MAX_ENTRIES];
};

struct member {
	char *dir;
	struct store *store;
	struct tree_sm groups[2]; /* the source's and the born group's */
	size_t applied[2];        /* entries of each log applied and committed */
};

static uint64_t rng;
/* Over every seed: writes the source refused as moved, and writes the split's group applied. */
static uint64_t moved_total, born_total;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void append(struct log *l, uint8_t *data, size_t len)
{
	assert_true(l->n < MAX_ENTRIES);
	l->data[l->n] = data;
	l->len[l->n++] = len;
}

/* A write command of one op: create @p name under @p parent, or set a property of @p parent. */
static void append_write(struct log *l, const char *parent, const char *name, int64_t value)
{
	struct variant v;
	variant_set_int(&v, value);
	struct tree_op op = name ? (struct tree_op){.kind = TREE_OP_CREATE, .node = {.path = parent}, .name = name,
						     .text = "Node3D", .index = -1}
				 : (struct tree_op){.kind = TREE_OP_SET_PROP, .node = {.path = parent}, .name = "v",
						     .value = &v};
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&op, 1, &wr), GROVE_OK);
	size_t len = grove__write_request__get_packed_size(&wr.req);
	uint8_t *packed = malloc(len);
	grove__write_request__pack(&wr.req, packed);
	wire_request_free(&wr);
	uint8_t *cmd;
	size_t cmd_len = tree_sm_command(TREE_CMD_WRITE, packed, len, &cmd);
	free(packed);
	append(l, cmd, cmd_len);
}

/* The logs of one seed: zones under /root/W, writes here and there, a split of one zone, more writes. */
static void make_logs(struct log logs[2], char *split_path, size_t split_cap)
{
	struct shard_map map;
	const uint64_t members[MEMBERS] = {1, 2, 3};
	assert_int_equal(shard_map_init(&map, SOURCE, BORN, members, MEMBERS), GROVE_OK);
	append_write(&logs[0], "/root", "W", 0);
	int zones = 2 + (int)(next_random() % 4);
	for (int z = 0; z < zones; z++) {
		char name[16];
		snprintf(name, sizeof(name), "Z%d", z);
		append_write(&logs[0], "/root/W", name, 0);
	}
	int split_zone = (int)(next_random() % (uint64_t)zones);
	snprintf(split_path, split_cap, "/root/W/Z%d", split_zone);
	int writes = 40 + (int)(next_random() % 60), split_at = (int)(next_random() % (uint64_t)writes);
	int children[8] = {0};
	for (int i = 0; i < writes; i++) {
		if (i == split_at || (i > split_at && next_random() % 20 == 0)) {
			/* The split (repeated now and then: the meta leader asks again when it has no answer). */
			uint64_t group = BORN;
			if (i == split_at)
				assert_int_equal(shard_map_start_split(&map, split_path, members, MEMBERS, &group, NULL, 0),
						 GROVE_OK);
			uint8_t *cmd;
			size_t len = tree_sm_split_command(BORN, members, MEMBERS, split_path, &cmd);
			append(&logs[0], cmd, len);
			if (i == split_at)
				shard_map_switch(&map, BORN, logs[0].n);
			continue;
		}
		int z = (int)(next_random() % (uint64_t)zones);
		char zone[32], child[64], name[16];
		snprintf(zone, sizeof(zone), "/root/W/Z%d", z);
		bool create = children[z] == 0 || next_random() % 3 == 0;
		snprintf(name, sizeof(name), "n%d", children[z]);
		snprintf(child, sizeof(child), "%s/n%d", zone, children[z] ? (int)(next_random() % (uint64_t)children[z]) : 0);
		/* Routed as groved routes: by the map as it is when the write is sent (before the switch: the source). */
		const char *target = create ? zone : child;
		int log = shard_map_lookup(&map, target)->group == SOURCE ? 0 : 1;
		/* Now and then a write sent by a stale map to the source after the split: refused as moved. */
		bool stale = log == 1 && next_random() % 8 == 0;
		if (stale)
			log = 0;
		append_write(&logs[log], target, create ? name : NULL, i);
		if (create && !stale) /* a create refused as moved makes no node for later writes to name */
			children[z]++;
	}
	shard_map_free(&map);
}

static void member_open(struct member *m)
{
	m->dir = test_tmpdir("split-sm");
	struct store_options opts = {.no_sync = true, .map_size = 1ull << 28};
	assert_int_equal(store_open(&m->store, m->dir, &opts), GROVE_OK);
	assert_int_equal(tree_sm_open(m->store, SOURCE, &m->groups[0]), GROVE_OK);
	assert_int_equal(tree_sm_open_shard(m->store, BORN, &m->groups[1]), GROVE_OK);
	m->applied[0] = m->applied[1] = 0;
}

static void member_close(struct member *m)
{
	store_close(m->store);
	test_rmtree(m->dir);
}

/* Apply entries [from, to) of log @p g to member @p who in one transaction, committed or (@p crash) not. */
static void apply_range(struct member *m, int who, struct log *l, int g, size_t to, bool crash)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(m->store, NULL, true, &txn), GROVE_OK);
	for (size_t i = m->applied[g]; i < to; i++) {
		struct tree_result res = {0};
		assert_int_equal(tree_sm_ops.apply(&m->groups[g], txn, i + 1, l->data[i], l->len[i], &res), GROVE_OK);
		l->code[who][i] = res.err;
		tree_result_free(&res);
	}
	if (crash) {
		store_txn_abort(txn);
		return;
	}
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	m->applied[g] = to;
}

/* Member @p to takes member @p from's snapshot of group @p g (as Raft installs one). */
static void install(struct member *from, struct member *to, int g, struct log *l)
{
	struct store_txn *txn;
	struct snapshot_builder b = {0};
	assert_int_equal(store_txn_begin(from->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_sm_ops.snapshot(&from->groups[g], txn, &b), GROVE_OK);
	store_txn_abort(txn);
	struct snapshot snap;
	assert_int_equal(snapshot_finish(&b, from->applied[g], 0, &snap), GROVE_OK);
	assert_int_equal(store_txn_begin(to->store, NULL, true, &txn), GROVE_OK);
	char why[160] = "";
	assert_int_equal(tree_sm_ops.restore(&to->groups[g], txn, snap.data, snap.len, why, sizeof(why)), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	snapshot_free(&snap);
	for (size_t i = to->applied[g]; i < from->applied[g]; i++)
		l->code[2][i] = l->code[0][i];
	to->applied[g] = from->applied[g];
}

static int dump_into(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	return snapshot_add_record(ctx, table, key, key_len, val, val_len);
}

/* Every record of group @p g of member @p m, in order. */
static void dump(struct member *m, int g, struct snapshot_builder *b)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(m->store, NULL, false, &txn), GROVE_OK);
	assert_int_equal(tree_dump(&m->groups[g].tree, txn, dump_into, b), GROVE_OK);
	store_txn_abort(txn);
}

/* One seed; false (with a line saying why) if the members disagree. */
static bool run_seed(uint64_t seed)
{
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	struct log logs[2];
	memset(logs, 0, sizeof(logs));
	char split_path[32];
	make_logs(logs, split_path, sizeof(split_path));
	struct member m[MEMBERS];
	for (int i = 0; i < MEMBERS; i++)
		member_open(&m[i]);
	/* A: one transaction per entry; the born group's log only after the split (as its replica is born then). */
	for (int g = 0; g < 2; g++)
		for (size_t i = 0; i < logs[g].n; i++)
			apply_range(&m[0], 0, &logs[g], g, i + 1, false);
	/* B: batches, with crashes that lose the open transaction. */
	for (int g = 0; g < 2; g++)
		while (m[1].applied[g] < logs[g].n) {
			size_t to = m[1].applied[g] + 1 + next_random() % 7;
			if (to > logs[g].n)
				to = logs[g].n;
			bool crash = next_random() % 4 == 0;
			apply_range(&m[1], 1, &logs[g], g, to, crash);
		}
	/* C: the source's start, then both groups from snapshots of A's taken past the split, then nothing more to do. */
	apply_range(&m[2], 2, &logs[0], 0, logs[0].n / 4, false);
	install(&m[0], &m[2], 0, &logs[0]);
	install(&m[0], &m[2], 1, &logs[1]);
	bool same = true;
	for (int g = 0; g < 2 && same; g++) {
		for (size_t i = 0; i < logs[g].n && same; i++)
			if (logs[g].code[1][i] != logs[g].code[0][i]) {
				print_message("seed=%llu: group %d entry %zu: member B got %d, A %d\n", (unsigned long long)seed,
					      g, i + 1, logs[g].code[1][i], logs[g].code[0][i]);
				same = false;
			}
		struct snapshot_builder d[MEMBERS] = {0};
		for (int i = 0; i < MEMBERS; i++)
			dump(&m[i], g, &d[i]);
		for (int i = 1; i < MEMBERS && same; i++)
			if (d[i].raw.len != d[0].raw.len || memcmp(d[i].raw.data, d[0].raw.data, d[0].raw.len) != 0) {
				print_message("seed=%llu: member %d's group %d differs from member A's\n", (unsigned long long)seed,
					      i, g ? BORN : SOURCE);
				same = false;
			}
		for (int i = 0; i < MEMBERS; i++)
			grove_buf_free(&d[i].raw);
	}
	/* The born group took the writes routed to it. */
	bool applied_born = false;
	for (size_t i = 0; i < logs[1].n; i++) {
		applied_born |= logs[1].code[0][i] == GROVE_OK;
		born_total += logs[1].code[0][i] == GROVE_OK;
	}
	for (size_t i = 0; i < logs[0].n; i++)
		moved_total += logs[0].code[0][i] == GROVE_EMOVED;
	if (same && logs[1].n && !applied_born) {
		print_message("seed=%llu: no write applied in the split's group\n", (unsigned long long)seed);
		same = false;
	}
	for (int i = 0; i < MEMBERS; i++)
		member_close(&m[i]);
	for (int g = 0; g < 2; g++)
		for (size_t i = 0; i < logs[g].n; i++)
			free(logs[g].data[i]);
	return same;
}

static void test_split_state_machines(void **state)
{
	(void)state;
	const char *one = getenv("GROVE_SIM_SEED"), *count = getenv("GROVE_SIM_SEEDS");
	uint64_t first = one ? strtoull(one, NULL, 10) : 0;
	uint64_t n = one ? 1 : count ? strtoull(count, NULL, 10) : 200;
	int failed = 0;
	for (uint64_t s = first; s < first + n; s++)
		failed += !run_seed(s);
	print_message("split state machines: %llu seeds, %d failed (replay one with GROVE_SIM_SEED=S); %llu writes "
		      "refused as moved, %llu applied in the new groups\n",
		      (unsigned long long)n, failed, (unsigned long long)moved_total, (unsigned long long)born_total);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_state_machines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
