/*
 * Deterministic simulation of replicas with their real storage: 3 or 5 members of one Raft group in one
 * process, each a real replica (src/server/replica.h) driving the real tree state machine over a real
 * write-ahead log and a real LMDB store in a temporary directory. The network (delays, reordering, drops,
 * duplicates, partitions) and the clock are simulated; the log's flushes finish some steps after they
 * begin, as groved's writer thread makes them, and a crash can come at any point: between queueing a
 * ready's writes and sending, with a flush still running, between applying and the lazy commit of the
 * applied state, during a snapshot install. A crash closes everything without committing or flushing
 * what was pending, and the member restarts from its files.
 *
 * Every write creates a node of its own name (/root/w<k>), so applying one twice is refused by the tree
 * and seen. Checked throughout and at the end, after healing and restarting everyone:
 *   - no entry is applied twice (a write refused because its node exists was proposed once);
 *   - a read released by a replica finds, in its store, every write acknowledged before it was asked,
 *     reads at a leader that a partition or a pause cut off included;
 *   - every acknowledged write is in every member's tree, and the trees are identical record for record;
 *   - no tree holds a write that was never proposed.
 *
 * GROVE_SIM_SEEDS=N runs N seeds (default 500); GROVE_SIM_SEED=S replays one. A failure prints its seed.
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
#include "src/common/grow.h"
#include "src/net/wire.h"
#include "src/server/groupstate.h"
#include "src/server/replica.h"
#include "src/server/tree_sm.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "storage/wal.h"
#include "support.h"

#define MAX_NODES 5
#define MAX_WRITES 4096
#define GROUP 1

struct sim;

/* A message that waits until the flush @p after of its sender is durable. */
struct held {
	uint64_t after;
	uint64_t to;
	uint8_t *msg;
	size_t len;
};

/* A read asked at a node: what it must find. */
struct read {
	uint64_t context;
	uint64_t acked_before; /* writes 1..: those acknowledged when it was asked (as a count in s->acked) */
};

/* A proposal waiting at its leader. */
struct proposal {
	uint64_t index, term, write;
};

struct node {
	struct sim *sim;
	uint64_t id;
	char dir[4096];
	bool up;
	uint64_t paused_until;
	struct store *store;
	store_db state_db;
	struct wal *wal;
	struct tree_sm tree;
	struct replica *rep;
	struct store_txn *apply;         /* applied, not committed */
	bool flying;                     /* a flush was taken and has not finished */
	uint64_t flight_done_at;
	uint64_t flushes_started, flushes_done;
	bool flush_finished;             /* finished during a replica call: tell it after */
	struct held *held;
	size_t n_held, cap_held;
	struct read reads[8];
	size_t n_reads;
	struct proposal proposals[64];
	size_t n_proposals;
};

struct inflight {
	uint64_t from, to;
	uint8_t *msg;
	size_t len;
	uint64_t at;
};

struct sim {
	uint64_t seed, rng, now;
	int n;
	struct node nodes[MAX_NODES];
	struct membership founders;
	struct inflight *net;
	size_t n_net, cap_net;
	bool cut[MAX_NODES][MAX_NODES];
	bool faults;
	uint64_t next_write, next_context;
	bool acked_set[MAX_WRITES];
	uint64_t acked_in_term[MAX_WRITES]; /* the acknowledging member's term then: at least the commit's */
	uint64_t acked[MAX_WRITES];      /* in the order they were acknowledged */
	size_t n_acked;
	uint64_t reads_served, crashes;
	bool failed;
	char why[256];
};

static uint64_t rnd(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static bool chance(struct sim *s, unsigned percent)
{
	return rnd(s) % 1000 < percent * 10;
}

__attribute__((format(printf, 2, 3))) static void violate(struct sim *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static struct node *node_by_id(struct sim *s, uint64_t id)
{
	return id >= 1 && id <= (uint64_t)s->n ? &s->nodes[id - 1] : NULL;
}

/* ---- the replica's environment, as groved's host gives it ---- */

static struct store_txn *env_apply_txn(void *ctx)
{
	struct node *nd = ctx;
	if (!nd->apply && store_txn_begin(nd->store, NULL, true, &nd->apply) != GROVE_OK)
		nd->apply = NULL;
	return nd->apply;
}

static int env_commit_applied(void *ctx)
{
	struct node *nd = ctx;
	if (!nd->apply)
		return GROVE_OK;
	int err = store_txn_commit(nd->apply);
	nd->apply = NULL;
	return err;
}

static void finish_flight(struct node *nd)
{
	int err = wal_flush_run(nd->wal);
	wal_flush_end(nd->wal, err);
	if (err)
		violate(nd->sim, "node %llu: a flush failed: %d", (unsigned long long)nd->id, err);
	nd->flying = false;
	nd->flushes_done++;
	nd->flush_finished = true;
}

static void env_drain_log(void *ctx)
{
	struct node *nd = ctx;
	if (nd->flying)
		finish_flight(nd);
}

static void net_send(struct sim *s, uint64_t from, uint64_t to, const uint8_t *msg, size_t len)
{
	if (grove_grow((void **)&s->net, &s->cap_net, s->n_net, sizeof(*s->net)))
		return;
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, msg, len);
	s->net[s->n_net++] = (struct inflight){from, to, copy, len, s->now + 1 + rnd(s) % 3};
}

static void env_send(void *ctx, uint64_t to, const Grove__RaftMessage *pb, bool after_persist)
{
	struct node *nd = ctx;
	size_t len = grove__raft_message__get_packed_size(pb);
	uint8_t *buf = malloc(len ? len : 1);
	grove__raft_message__pack(pb, buf);
	uint64_t after = wal_pending(nd->wal) ? nd->flushes_started + 1 : nd->flying ? nd->flushes_started : nd->flushes_done;
	if (!after_persist || after <= nd->flushes_done) {
		net_send(nd->sim, nd->id, to, buf, len);
		free(buf);
		return;
	}
	if (grove_grow((void **)&nd->held, &nd->cap_held, nd->n_held, sizeof(*nd->held))) {
		free(buf);
		return;
	}
	nd->held[nd->n_held++] = (struct held){after, to, buf, len};
}

static size_t env_backlog(void *ctx, uint64_t to)
{
	(void)ctx, (void)to;
	return 0;
}

static void env_applied(void *ctx, struct replica *r, const struct replica_applied *a)
{
	(void)r;
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	const struct tree_result *res = a->result;
	if (res && res->err == GROVE_EEXIST)
		violate(s, "node %llu applied entry %llu twice: %s", (unsigned long long)nd->id, (unsigned long long)a->index,
			res->message);
	else if (res && res->err)
		violate(s, "node %llu: entry %llu refused: %s", (unsigned long long)nd->id, (unsigned long long)a->index,
			res->message);
	/*
	 * Every proposal at this index is settled by this entry: the one of its term is acknowledged, and one of
	 * an earlier term (its leader's entry overwritten there) is dropped. Both can be held at once.
	 */
	for (size_t i = 0; i < nd->n_proposals;) {
		struct proposal *p = &nd->proposals[i];
		if (p->index != a->index) {
			i++;
			continue;
		}
		if (p->term == a->term && res && !res->err && !s->acked_set[p->write]) {
			s->acked_set[p->write] = true;
			struct replica_status st;
			replica_status(nd->rep, &st);
			s->acked_in_term[p->write] = st.term;
			s->acked[s->n_acked++] = p->write;
		}
		nd->proposals[i] = nd->proposals[--nd->n_proposals];
	}
}

static bool has_write(struct node *nd, struct store_txn *txn, uint64_t k)
{
	char path[64];
	snprintf(path, sizeof(path), "/root/w%llu", (unsigned long long)k);
	uint64_t id;
	return tree_resolve_path(&nd->tree.tree, txn, path, &id) == GROVE_OK;
}

/* A read released: its store must show every write acknowledged before it was asked. */
static void env_read_ready(void *ctx, struct replica *r, uint64_t context)
{
	(void)r;
	struct node *nd = ctx;
	struct sim *s = nd->sim;
	for (size_t i = 0; i < nd->n_reads; i++) {
		if (nd->reads[i].context != context)
			continue;
		struct store_txn *txn;
		if (store_txn_begin(nd->store, NULL, false, &txn) != GROVE_OK) {
			violate(s, "cannot read node %llu's store", (unsigned long long)nd->id);
			return;
		}
		for (size_t k = 0; k < nd->reads[i].acked_before && !s->failed; k++)
			if (!has_write(nd, txn, s->acked[k]))
				violate(s, "node %llu served a read without w%llu, acknowledged before the read was asked",
					(unsigned long long)nd->id, (unsigned long long)s->acked[k]);
		store_txn_abort(txn);
		s->reads_served++;
		nd->reads[i] = nd->reads[--nd->n_reads];
		return;
	}
}

static void env_member_address(void *ctx, uint64_t id, const char *address)
{
	(void)ctx, (void)id, (void)address;
}

/* ---- a member's life ---- */

static void start_node(struct sim *s, struct node *nd)
{
	struct store_options opts = {.no_sync = true, .lazy_sync = true, .map_size = 1ull << 30};
	assert_int_equal(store_open(&nd->store, nd->dir, &opts), GROVE_OK);
	assert_int_equal(groupstate_open(nd->store, &nd->state_db), GROVE_OK);
	char log_dir[4200];
	snprintf(log_dir, sizeof(log_dir), "%s/raft-log", nd->dir);
	struct wal_contents log;
	/* Small segments: many roll over and are deleted behind snapshots, and a restart reads little. */
	assert_int_equal(wal_open_sized(&nd->wal, log_dir, 64 << 10, &log), GROVE_OK);
	wal_skip_sync(nd->wal);
	assert_int_equal(tree_sm_open(nd->store, GROUP, &nd->tree), GROVE_OK);
	struct replica_env env = {.store = nd->store, .state_db = nd->state_db, .wal = nd->wal, .ctx = nd,
				  .apply_txn = env_apply_txn, .commit_applied = env_commit_applied,
				  .drain_log = env_drain_log, .send = env_send, .backlog = env_backlog,
				  .applied = env_applied, .read_ready = env_read_ready, .member_address = env_member_address};
	struct replica_config rc = {.group = GROUP, .self = nd->id, .founders = &s->founders, .compact_at = 24,
				    .snapshot_chunk = 512, .seed = s->seed * 31 + nd->id + s->now};
	int err = replica_open(&rc, &env, wal_contents_group(&log, GROUP),
			       (struct state_machine){&tree_sm_ops, &nd->tree}, &nd->rep);
	wal_contents_free(&log);
	if (err) {
		violate(s, "node %llu cannot restart from its files: %d", (unsigned long long)nd->id, err);
		wal_close(nd->wal);
		store_close(nd->store);
		nd->wal = NULL;
		nd->store = NULL;
	}
	nd->up = err == GROVE_OK;
	nd->flying = false;
	nd->flushes_started = nd->flushes_done = 0;
	nd->flush_finished = false;
}

/* Everything in memory is lost; what a flush or an LMDB commit wrote stays (as after kill -9). */
static void crash_node(struct sim *s, struct node *nd)
{
	s->crashes++;
	replica_close(nd->rep);
	nd->rep = NULL;
	store_txn_abort(nd->apply);
	nd->apply = NULL;
	if (nd->flying && chance(s, 50))
		finish_flight(nd); /* the write reached the disk before the crash, unacknowledged */
	wal_close(nd->wal);
	nd->wal = NULL;
	store_close(nd->store);
	nd->store = NULL;
	for (size_t i = 0; i < nd->n_held; i++)
		free(nd->held[i].msg);
	nd->n_held = nd->n_reads = nd->n_proposals = 0;
	nd->flying = false;
	nd->up = false;
}

/* Tell the replica about a finished flush, and send what waited for it. */
static void after_flush(struct node *nd)
{
	if (!nd->flush_finished)
		return;
	nd->flush_finished = false;
	replica_flush_done(nd->rep);
	size_t kept = 0;
	for (size_t i = 0; i < nd->n_held; i++) {
		struct held *h = &nd->held[i];
		if (h->after <= nd->flushes_done) {
			net_send(nd->sim, nd->id, h->to, h->msg, h->len);
			free(h->msg);
		} else {
			nd->held[kept++] = *h;
		}
	}
	nd->n_held = kept;
}

/* A loop turn of a member: Ready cycles, then a flush if none runs, sometimes a crash in between. */
static void process(struct sim *s, struct node *nd)
{
	for (int round = 0; nd->up && round < 4; round++) {
		after_flush(nd);
		if (replica_has_ready(nd->rep) && replica_process(nd->rep) != GROVE_OK) {
			violate(s, "node %llu: process failed", (unsigned long long)nd->id);
			return;
		}
		after_flush(nd);
		if (s->faults && rnd(s) % 1000 < 3) {
			crash_node(s, nd); /* queued but not flushed, applied but not committed */
			return;
		}
		if (!nd->flying && wal_flush_begin(nd->wal)) {
			nd->flying = true;
			nd->flushes_started++;
			replica_flush_taken(nd->rep);
			uint64_t delay = chance(s, 40) ? 0 : chance(s, 20) ? 5 + rnd(s) % 20 : 1 + rnd(s) % 3;
			nd->flight_done_at = s->now + delay;
		}
		if (nd->flying && nd->flight_done_at <= s->now)
			finish_flight(nd);
		else if (!replica_has_ready(nd->rep) && !nd->flush_finished)
			break;
	}
	if (nd->up && chance(s, 20) && env_commit_applied(nd) != GROVE_OK)
		violate(s, "node %llu: commit failed", (unsigned long long)nd->id);
	if (nd->up)
		replica_maybe_compact(nd->rep);
	if (nd->up)
		after_flush(nd);
}

static void deliver(struct sim *s)
{
	for (size_t i = 0; i < s->n_net;) {
		struct inflight *f = &s->net[i];
		struct node *to = node_by_id(s, f->to);
		if (f->at > s->now || (to && to->up && to->paused_until > s->now)) {
			i++;
			continue;
		}
		struct inflight m = *f;
		s->net[i] = s->net[--s->n_net];
		bool lost = !to || !to->up || s->cut[m.from - 1][m.to - 1] || (s->faults && chance(s, 5));
		if (!lost && s->faults && chance(s, 3))
			net_send(s, m.from, m.to, m.msg, m.len); /* delivered again later */
		if (!lost) {
			Grove__RaftMessage *pb = grove__raft_message__unpack(NULL, m.len, m.msg);
			if (!pb || replica_step(to->rep, pb) != GROVE_OK)
				violate(s, "node %llu refused a message", (unsigned long long)to->id);
			if (pb)
				grove__raft_message__free_unpacked(pb, NULL);
			process(s, to);
		}
		free(m.msg);
	}
}

/*
 * A leader that says it is current (replica_status.current) is read as the latest state there is (a plan
 * across shards reads it): it must hold every write acknowledged in an earlier term, which was committed in
 * one. (A leader cut off from a newer one's term still believes it leads; what that one commits it lacks.)
 */
static void check_current(struct sim *s, struct node *nd, const struct replica_status *st)
{
	if (!st->current || !s->n_acked)
		return;
	struct store_txn *read = NULL;
	if (!nd->apply && store_txn_begin(nd->store, NULL, false, &read) != GROVE_OK) {
		violate(s, "cannot read node %llu's store", (unsigned long long)nd->id);
		return;
	}
	uint64_t checked[2] = {s->acked[s->n_acked - 1], s->acked[rnd(s) % s->n_acked]};
	for (int k = 0; k < 2 && !s->failed; k++)
		if (s->acked_in_term[checked[k]] < st->term && !has_write(nd, nd->apply ? nd->apply : read, checked[k]))
			violate(s, "node %llu leads as current (term %llu, applied %llu) without acknowledged w%llu",
				(unsigned long long)nd->id, (unsigned long long)st->term, (unsigned long long)st->applied,
				(unsigned long long)checked[k]);
	if (read)
		store_txn_abort(read);
}

/* A client's write at whichever member thinks it leads: create /root/w<k>. */
/* A client's write at @p nd, if it thinks it leads. */
static void propose_at(struct sim *s, struct node *nd)
{
	struct replica_status st;
	if (!nd->up || nd->paused_until > s->now || s->next_write + 1 >= MAX_WRITES || nd->n_proposals == 64)
		return;
	replica_status(nd->rep, &st);
	if (st.role != RAFT_LEADER)
		return;
	check_current(s, nd, &st);
	uint64_t k = ++s->next_write;
	char name[32];
	snprintf(name, sizeof(name), "w%llu", (unsigned long long)k);
	struct tree_op op = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = name, .text = "Node", .index = -1};
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&op, 1, &wr), GROVE_OK);
	uint8_t packed[256];
	size_t len = grove__write_request__pack(&wr.req, packed);
	wire_request_free(&wr);
	uint8_t *cmd;
	size_t cmd_len = tree_sm_command(TREE_CMD_WRITE, packed, len, &cmd);
	struct proposal p = {.write = k};
	if (replica_propose(nd->rep, cmd, cmd_len, &p.index, &p.term) == GROVE_OK)
		nd->proposals[nd->n_proposals++] = p;
	else
		s->next_write--; /* nothing was proposed: the next write takes its name */
	free(cmd);
	process(s, nd);
}

/* A client's write at a member picked at random. */
static void propose(struct sim *s)
{
	propose_at(s, &s->nodes[rnd(s) % s->n]);
}

/* A client's linearizable read at whichever member thinks it leads, a cut-off or resumed one included. */
static void ask_read(struct sim *s, struct node *nd)
{
	struct replica_status st;
	if (!nd->up || nd->n_reads == 8)
		return;
	replica_status(nd->rep, &st);
	if (st.role != RAFT_LEADER)
		return;
	uint64_t context = ++s->next_context;
	if (replica_read(nd->rep, context) != GROVE_OK)
		return;
	nd->reads[nd->n_reads++] = (struct read){context, s->n_acked};
	process(s, nd);
}

static void step(struct sim *s, bool faults)
{
	s->now++;
	s->faults = faults;
	for (int i = 0; i < s->n && !s->failed; i++) {
		struct node *nd = &s->nodes[i];
		if (!nd->up) {
			if (!faults || chance(s, 10)) {
				start_node(s, nd);
				if (nd->up)
					process(s, nd);
			}
			continue;
		}
		if (nd->paused_until > s->now)
			continue;
		if (nd->paused_until == s->now)
			ask_read(s, nd); /* a request that arrived during the pause, read first on resuming */
		if (!nd->up)
			continue;
		if (chance(s, 70))
			replica_tick(nd->rep);
		process(s, nd);
	}
	deliver(s);
	if (!faults)
		return;
	if (rnd(s) % 1000 < 5) {
		struct node *nd = &s->nodes[rnd(s) % s->n];
		if (nd->up)
			crash_node(s, nd);
	}
	if (chance(s, 2)) {
		struct node *nd = &s->nodes[rnd(s) % s->n];
		if (nd->up && nd->paused_until <= s->now)
			nd->paused_until = s->now + 10 + rnd(s) % 60;
	}
	if (chance(s, 2)) {
		int a = (int)(rnd(s) % s->n), b = (int)(rnd(s) % s->n);
		if (a != b)
			s->cut[a][b] = s->cut[b][a] = !s->cut[a][b];
	}
	if (chance(s, 25))
		ask_read(s, &s->nodes[rnd(s) % s->n]);
	if (chance(s, 40))
		propose(s);
}

/* ---- the end: everyone agrees ---- */

static void check_final(struct sim *s)
{
	struct snapshot_builder dumps[MAX_NODES] = {0};
	for (int i = 0; i < s->n && !s->failed; i++) {
		struct node *nd = &s->nodes[i];
		env_commit_applied(nd);
		struct store_txn *txn;
		assert_int_equal(store_txn_begin(nd->store, NULL, false, &txn), GROVE_OK);
		for (size_t k = 0; k < s->n_acked && !s->failed; k++)
			if (!has_write(nd, txn, s->acked[k]))
				violate(s, "acknowledged w%llu missing on node %d", (unsigned long long)s->acked[k], i + 1);
		for (uint64_t k = s->next_write + 1; k <= s->next_write + 3 && !s->failed; k++)
			if (has_write(nd, txn, k))
				violate(s, "node %d holds w%llu, never proposed", i + 1, (unsigned long long)k);
		assert_int_equal(tree_dump(&nd->tree.tree, txn, snapshot_add_record, &dumps[i]), GROVE_OK);
		store_txn_abort(txn);
		if (i > 0 && !s->failed &&
		    (dumps[i].raw.len != dumps[0].raw.len || memcmp(dumps[i].raw.data, dumps[0].raw.data, dumps[0].raw.len)))
			violate(s, "node %d's tree differs from node 1's", i + 1);
	}
	for (int i = 0; i < s->n; i++)
		grove_buf_free(&dumps[i].raw);
}

/* Heal and run until a last write is applied everywhere; false if the group never got there. */
static bool heal(struct sim *s)
{
	memset(s->cut, 0, sizeof(s->cut));
	for (int i = 0; i < s->n; i++)
		s->nodes[i].paused_until = 0;
	uint64_t last = 0;
	for (int t = 0; t < 4000 && !s->failed; t++) {
		step(s, false);
		if (!last || t % 400 == 399) {
			/* At whichever member leads: a client that tried members at random could miss it every time. */
			uint64_t before = s->next_write;
			for (int i = 0; i < s->n && s->next_write == before; i++)
				propose_at(s, &s->nodes[i]);
			last = s->next_write > before ? s->next_write : last;
		}
		if (!last || !s->acked_set[last])
			continue;
		bool all = true;
		uint64_t applied0 = 0;
		for (int i = 0; i < s->n && all; i++) {
			struct replica_status st;
			replica_status(s->nodes[i].rep, &st);
			if (i == 0)
				applied0 = st.applied;
			all = s->nodes[i].up && st.applied == applied0 && !s->nodes[i].flying && !s->nodes[i].n_held;
		}
		if (all && !s->n_net)
			return true;
	}
	if (getenv("GROVE_SIM_DEBUG"))
		for (int i = 0; i < s->n; i++) {
			struct node *nd = &s->nodes[i];
			struct replica_status st = {0};
			if (nd->up)
				replica_status(nd->rep, &st);
			printf("node %d up=%d role=%d term=%llu leader=%llu commit=%llu applied=%llu log=%llu..%llu "
			       "quiesced=%d flying=%d held=%zu net=%zu last=%llu acked=%d\n",
			       i + 1, nd->up, (int)st.role, (unsigned long long)st.term, (unsigned long long)st.leader,
			       (unsigned long long)st.commit, (unsigned long long)st.applied, (unsigned long long)st.first,
			       (unsigned long long)st.last, st.quiesced, (int)nd->flying, nd->n_held, s->n_net,
			       (unsigned long long)last, last ? s->acked_set[last] : 0);
		}
	return false;
}

static void free_sim(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (nd->up)
			crash_node(s, nd);
		free(nd->held);
		char *dir = strdup(nd->dir);
		test_rmtree(dir);
	}
	for (size_t i = 0; i < s->n_net; i++)
		free(s->net[i].msg);
	free(s->net);
}

static bool run_seed(uint64_t seed, bool verbose)
{
	struct sim *s = calloc(1, sizeof(*s));
	s->seed = seed;
	s->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	s->n = seed % 4 == 1 ? 5 : 3;
	char *base = test_tmpdir("replica-sim");
	for (int i = 0; i < s->n; i++) {
		char address[32];
		snprintf(address, sizeof(address), "127.0.0.1:%d", 1000 + i);
		membership_add(&s->founders, (uint64_t)i + 1, address, strlen(address));
	}
	for (int i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		nd->sim = s;
		nd->id = (uint64_t)i + 1;
		snprintf(nd->dir, sizeof(nd->dir), "%s/node%d", base, i + 1);
		start_node(s, nd);
	}
	for (int t = 0; t < 400 && !s->failed; t++)
		step(s, true);
	if (!s->failed && !heal(s))
		violate(s, "after healing, the group did not apply a new write everywhere");
	if (!s->failed)
		check_final(s);
	bool ok = !s->failed;
	if (!ok || verbose)
		printf("seed=%llu nodes=%d steps=%llu writes=%llu acked=%zu reads=%llu crashes=%llu %s%s\n",
		       (unsigned long long)seed, s->n, (unsigned long long)s->now, (unsigned long long)s->next_write,
		       s->n_acked, (unsigned long long)s->reads_served, (unsigned long long)s->crashes,
		       ok ? "ok" : "FAILED: ", ok ? "" : s->why);
	free_sim(s);
	test_rmtree(base);
	free(s);
	return ok;
}

static void test_simulation(void **state)
{
	(void)state;
	const char *one = getenv("GROVE_SIM_SEED");
	if (one) {
		assert_true(run_seed(strtoull(one, NULL, 10), true));
		return;
	}
	const char *many = getenv("GROVE_SIM_SEEDS");
	unsigned seeds = many ? (unsigned)strtoul(many, NULL, 10) : 500;
	unsigned failures = 0;
	for (unsigned seed = 1; seed <= seeds; seed++)
		if (!run_seed(seed, false))
			failures++;
	/* Seeds beyond the default run that once failed: each found a bug, and each runs in every run. */
	static const uint64_t once_failed[] = {4304, 4495, 17495};
	for (size_t i = 0; i < sizeof(once_failed) / sizeof(once_failed[0]); i++)
		if (once_failed[i] > seeds && !run_seed(once_failed[i], false))
			failures++;
	printf("replica simulation: %u seeds, %u failed (replay one with GROVE_SIM_SEED=S)\n", seeds, failures);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simulation),
	};
	return cmocka_run_group_tests_name("replica_sim", tests, NULL, NULL);
}
