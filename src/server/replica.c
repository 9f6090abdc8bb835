#include "src/server/replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/net/raftwire.h"
#include "src/server/entrystamp.h"
#include "src/server/groupstate.h"
#include "src/server/log.h"
#include "storage/snapshot.h"

/* By default, compact the log once it holds this many applied entries, keeping a quarter for slow followers. */
#define DEFAULT_COMPACT_AT 20000
#define DEFAULT_SNAPSHOT_CHUNK (1u << 20)
#define DEFAULT_MAX_MSG_BYTES (4u << 20)
/* Largest snapshot a follower assembles in memory. */
#define SNAPSHOT_RECEIVE_MAX ((size_t)16 << 30)
/*
 * A snapshot that left this server but was not acknowledged within this many ticks of its link going quiet
 * (the link died, or the follower dropped it) is reported lost, so Raft sends a fresh one.
 */
#define SNAPSHOT_RETRY_TICKS 500

/* A confirmed read waiting for the state it needs. */
struct pending_read {
	uint64_t context;
	uint64_t index;
};

/* Entries queued in the log and not yet durable: the last one of a flush that is forming or running. */
struct queued_mark {
	bool any;
	uint64_t index, term;
};

struct replica {
	struct replica_config cfg;
	struct replica_env env;
	struct state_machine sm;
	struct raft *raft;
	uint64_t applied;
	uint64_t saved_term, saved_vote;  /* the hard state last queued */
	struct queued_mark queued, flying;
	struct pending_read *reads;
	size_t n_reads, cap_reads;
	struct tree_result *results; /* one per committed entry of a ready; kept to spare an allocation each */
	size_t cap_results;
	/* A snapshot being received in chunks, whose it is, and one assembled for this turn's install. */
	struct snapshot_receiver receiving;
	uint64_t receiving_from, receiving_term, receiving_index;
	uint8_t *incoming_snapshot;
	size_t incoming_snapshot_len;
	/* Snapshots sent and not yet acknowledged: peer id (0 = free slot) and ticks since its link went quiet. */
	struct {
		uint64_t peer;
		unsigned quiet_ticks;
	} sending[RAFT_MAX_MEMBERS];
};

uint64_t replica_group(const struct replica *r)
{
	return r->cfg.group;
}

/* ---- start ---- */

/* A new leader's no-op carries a stamp alone: every entry a leader makes is stamped. */
static size_t stamp_noop(void *ctx, uint8_t *out)
{
	struct replica *r = ctx;
	entry_stamp_put(r->env.stamp(r->env.ctx), out);
	return ENTRY_STAMP_BYTES;
}

/*
 * Write a new group's founders into its log as committed membership entries of term 1. Every founder
 * writes the same bytes at the same indexes, so these carry no stamp.
 */
static int bootstrap(struct replica *r, struct raft_restore *rs, struct raft_entry *entries)
{
	const struct membership *f = r->cfg.founders;
	struct wal_entry e[RAFT_MAX_MEMBERS];
	static uint8_t data[RAFT_MAX_MEMBERS][9 + MEMBER_ADDRESS_MAX];
	for (size_t i = 0; i < f->n; i++) {
		struct raft_conf_change cc = {RAFT_CONF_ADD_VOTER, f->members[i].id};
		size_t len = membership_encode_change(&cc, f->members[i].address, data[i]);
		e[i] = (struct wal_entry){i + 1, 1, RAFT_ENTRY_CONF_CHANGE, data[i], len};
		entries[i] = (struct raft_entry){i + 1, 1, RAFT_ENTRY_CONF_CHANGE, data[i], len};
		rs->conf.voters[rs->conf.n_voters++] = f->members[i].id;
	}
	struct wal_hard_state hs = {.term = 1, .vote = 0, .commit = f->n};
	int err = wal_append(r->env.wal, r->cfg.group, e, f->n);
	if (!err)
		err = wal_set_hard_state(r->env.wal, r->cfg.group, &hs);
	if (!err)
		err = wal_sync(r->env.wal);
	rs->hard = (struct raft_hard_state){hs.term, hs.vote, hs.commit};
	rs->entries = entries;
	rs->n_entries = f->n;
	return err;
}

/*
 * A group born by a split: the store holds its state as of its first snapshot (the split wrote it), and it
 * has no log yet. Its log starts after that snapshot, in the term of the snapshot.
 */
static int be_born(struct replica *r, struct raft_restore *rs, uint64_t index, uint64_t term)
{
	/* The store's state is durable already; the log learns of the group with the next flush. */
	struct wal_hard_state hs = {.term = term, .vote = 0, .commit = index};
	int err = wal_start_group(r->env.wal, r->cfg.group, index, term);
	if (!err)
		err = wal_set_hard_state(r->env.wal, r->cfg.group, &hs);
	rs->hard = (struct raft_hard_state){hs.term, hs.vote, hs.commit};
	rs->snapshot_index = index;
	rs->snapshot_term = term;
	if (!err)
		log_line("raft: group %llu starts from the split that made it (index %llu)", (unsigned long long)r->cfg.group,
			 (unsigned long long)index);
	return err;
}

/*
 * Restore the core's state from the log and the store. A snapshot the store noted that the log does not
 * know yet means a crash came between the two halves of an install: finish it.
 */
static int restore(struct replica *r, const struct wal_group *log, struct raft_restore *rs, struct raft_entry **entries)
{
	struct store_txn *txn;
	int err = store_txn_begin(r->env.store, NULL, false, &txn);
	if (err)
		return err;
	uint64_t snap_index, snap_term;
	int cerr = groupstate_get_conf(txn, r->env.state_db, r->cfg.group, &rs->conf);
	err = groupstate_get_applied(txn, r->env.state_db, r->cfg.group, &r->applied);
	if (!err)
		err = groupstate_get_snapshot(txn, r->env.state_db, r->cfg.group, &snap_index, &snap_term);
	store_txn_abort(txn);
	if (!err && cerr && cerr != GROVE_ENOTFOUND)
		err = cerr;
	if (err)
		return err;
	*entries = calloc((log ? log->n_entries : 0) + RAFT_MAX_MEMBERS + 1, sizeof(**entries));
	if (!*entries)
		return GROVE_ENOMEM;
	if (!log && cerr == GROVE_OK && snap_index > 0 && r->applied == snap_index)
		return be_born(r, rs, snap_index, snap_term);
	if (!log) {
		if (cerr == GROVE_OK || r->applied > 0) {
			/* Starting over would give entries the store already applied new meanings. */
			log_line("raft: group %llu has applied entries in the store, but its log is missing",
				 (unsigned long long)r->cfg.group);
			return GROVE_ECORRUPT;
		}
		return r->cfg.founders ? bootstrap(r, rs, *entries) : GROVE_OK;
	}
	uint64_t log_snapshot = log->snapshot_index, log_snapshot_term = log->snapshot_term;
	size_t skip = 0;
	if (snap_index > log_snapshot) {
		log_line("raft: group %llu: finishing the install of the snapshot at %llu that a crash interrupted",
			 (unsigned long long)r->cfg.group, (unsigned long long)snap_index);
		err = wal_install_snapshot(r->env.wal, r->cfg.group, snap_index, snap_term);
		if (err)
			return err;
		log_snapshot = snap_index;
		log_snapshot_term = snap_term;
		skip = log->n_entries; /* the install replaced them all */
	}
	if (r->applied < log_snapshot) {
		/* The store is made durable before the log drops what a snapshot covers: it cannot lag behind. */
		log_line("raft: group %llu: the store has applied %llu, but the log starts after %llu",
			 (unsigned long long)r->cfg.group, (unsigned long long)r->applied, (unsigned long long)log_snapshot);
		return GROVE_ECORRUPT;
	}
	for (size_t i = skip; i < log->n_entries; i++) {
		const struct wal_entry *e = &log->entries[i];
		(*entries)[i - skip] = (struct raft_entry){.index = e->index, .term = e->term, .type = e->type,
							   .data = (uint8_t *)e->data, .len = e->len};
	}
	if (cerr == GROVE_ENOTFOUND && r->cfg.founders) {
		/* A log from before the store kept the membership: the founders are the voters. */
		for (size_t i = 0; i < r->cfg.founders->n; i++)
			rs->conf.voters[rs->conf.n_voters++] = r->cfg.founders->members[i].id;
	}
	rs->hard = (struct raft_hard_state){log->hard.term, log->hard.vote, log->hard.commit};
	rs->snapshot_index = log_snapshot;
	rs->snapshot_term = log_snapshot_term;
	rs->entries = *entries;
	rs->n_entries = log->n_entries - skip;
	return GROVE_OK;
}

int replica_open(const struct replica_config *cfg, const struct replica_env *env, const struct wal_group *log,
		 struct state_machine sm, struct replica **out)
{
	*out = NULL;
	struct replica *r = calloc(1, sizeof(*r));
	if (!r)
		return GROVE_ENOMEM;
	r->cfg = *cfg;
	r->env = *env;
	r->sm = sm;
	struct raft_restore rs = {0};
	struct raft_entry *entries = NULL;
	int err = restore(r, log, &rs, &entries);
	if (!err) {
		rs.applied = r->applied;
		r->saved_term = rs.hard.term;
		r->saved_vote = rs.hard.vote;
		struct raft_config rc = {.id = cfg->self, .election_ticks = 30, .heartbeat_ticks = 3, .max_inflight = 64,
					 .max_batch = 512,
					 .max_msg_bytes = cfg->max_msg_bytes ? cfg->max_msg_bytes : DEFAULT_MAX_MSG_BYTES,
					 .seed = cfg->seed, .pre_vote = true, .check_quorum = true, .quiesce = true,
					 .noop_data = r->env.stamp ? stamp_noop : NULL, .noop_ctx = r};
		err = raft_create(&rc, &rs, &r->raft);
	}
	free(entries); /* raft_create copied them */
	if (err) {
		free(r);
		return err;
	}
	log_line("raft: group %llu, member %llu, term %llu, log %llu..%llu, applied %llu",
		 (unsigned long long)cfg->group, (unsigned long long)cfg->self, (unsigned long long)raft_term(r->raft),
		 (unsigned long long)raft_first_index(r->raft), (unsigned long long)raft_last_index(r->raft),
		 (unsigned long long)r->applied);
	*out = r;
	return GROVE_OK;
}

void replica_close(struct replica *r)
{
	if (!r)
		return;
	raft_destroy(r->raft);
	free(r->reads);
	free(r->results);
	free(r->incoming_snapshot);
	snapshot_receiver_free(&r->receiving);
	free(r);
}

void replica_campaign_if_alone(struct replica *r)
{
	const struct raft_conf *conf = raft_conf(r->raft);
	if (conf->n_voters == 1 && conf->voters[0] == r->cfg.self)
		raft_campaign(r->raft);
}

/* ---- snapshots between members ---- */

static void note_snapshot_sent(struct replica *r, uint64_t peer)
{
	size_t free_slot = RAFT_MAX_MEMBERS;
	for (size_t i = 0; i < RAFT_MAX_MEMBERS; i++) {
		if (r->sending[i].peer == peer) {
			r->sending[i].quiet_ticks = 0;
			return;
		}
		if (!r->sending[i].peer && free_slot == RAFT_MAX_MEMBERS)
			free_slot = i;
	}
	if (free_slot < RAFT_MAX_MEMBERS)
		r->sending[free_slot].peer = peer, r->sending[free_slot].quiet_ticks = 0;
}

/* Give up on snapshots that went out but were never acknowledged: Raft then sends a new one. */
static void check_snapshots_sent(struct replica *r)
{
	for (size_t i = 0; i < RAFT_MAX_MEMBERS; i++) {
		uint64_t peer = r->sending[i].peer;
		if (!peer)
			continue;
		if (raft_match(r->raft, peer) >= raft_first_index(r->raft) - 1 || raft_role(r->raft) != RAFT_LEADER) {
			r->sending[i].peer = 0; /* caught up (or no longer ours to send) */
			continue;
		}
		if (r->env.backlog(r->env.ctx, peer) == 0 && ++r->sending[i].quiet_ticks >= SNAPSHOT_RETRY_TICKS) {
			log_line("raft: group %llu: snapshot to %llu was not acknowledged; sending a new one",
				 (unsigned long long)r->cfg.group, (unsigned long long)peer);
			raft_report_snapshot(r->raft, peer, false);
			r->sending[i].peer = 0;
		}
	}
}

void replica_tick(struct replica *r)
{
	raft_tick(r->raft);
	check_snapshots_sent(r);
}

/* Add one chunk; *@p complete once the whole snapshot is here and verifies. */
static int receive_snapshot_chunk(struct replica *r, const Grove__RaftMessage *pb, bool *complete)
{
	*complete = false;
	if (pb->from != r->receiving_from || pb->term != r->receiving_term || pb->snapshot_index != r->receiving_index ||
	    pb->snapshot_size != r->receiving.total) {
		/* A late chunk of an older snapshot than the one being assembled changes nothing; a newer one replaces it. */
		if (r->receiving.total && (pb->term < r->receiving_term ||
					   (pb->term == r->receiving_term && pb->snapshot_index < r->receiving_index)))
			return GROVE_OK;
		snapshot_receiver_free(&r->receiving);
		r->receiving_from = pb->from;
		r->receiving_term = pb->term;
		r->receiving_index = pb->snapshot_index;
	}
	/* Chunks that the network reordered or repeated are taken as they come. */
	int err = snapshot_receiver_put_any(&r->receiving, pb->snapshot_offset, pb->snapshot_size,
					    pb->snapshot_data.data, pb->snapshot_data.len, SNAPSHOT_RECEIVE_MAX);
	if (err == GROVE_ERANGE)
		return GROVE_OK; /* a chunk that does not fit its own snapshot: the sender retries in time */
	if (err)
		return err;
	if (!snapshot_receiver_complete(&r->receiving))
		return GROVE_OK;
	char why[160];
	err = snapshot_verify(r->receiving.data, r->receiving.len, NULL, why, sizeof(why));
	if (err) {
		log_line("raft: group %llu: snapshot from %llu refused: %s", (unsigned long long)r->cfg.group,
			 (unsigned long long)pb->from, why);
		snapshot_receiver_free(&r->receiving);
		return GROVE_OK;
	}
	*complete = true;
	return GROVE_OK;
}

int replica_step(struct replica *r, const Grove__RaftMessage *pb)
{
	struct raft_msg m;
	uint64_t group;
	int err = raftwire_decode(pb, &group, &m);
	if (err)
		return err;
	if (m.type == RAFT_MSG_SNAPSHOT) {
		bool complete;
		err = receive_snapshot_chunk(r, pb, &complete);
		if (err || !complete) {
			raftwire_in_free(&m);
			return err;
		}
	}
	uint64_t before = raft_first_index(r->raft);
	err = raft_step(r->raft, &m);
	raftwire_in_free(&m);
	if (m.type == RAFT_MSG_SNAPSHOT) {
		if (!err && raft_first_index(r->raft) != before) {
			/* The core accepted it: keep the data for this turn's install. */
			free(r->incoming_snapshot);
			r->incoming_snapshot = r->receiving.data;
			r->incoming_snapshot_len = r->receiving.len;
			r->receiving.data = NULL;
		}
		snapshot_receiver_free(&r->receiving);
	}
	return err;
}

int replica_snapshot_begin(struct replica *r, struct store_txn **txn)
{
	*txn = NULL;
	int err = r->env.commit_applied(r->env.ctx);
	return err ? err : store_txn_begin(r->env.store, NULL, false, txn);
}

int replica_snapshot_build(const struct replica *r, struct store_txn *txn, struct snapshot *out)
{
	uint64_t applied;
	struct snapshot_builder b = {0};
	int err = groupstate_get_applied(txn, r->env.state_db, r->cfg.group, &applied);
	if (!err)
		err = r->sm.ops->snapshot(r->sm.sm, txn, &b);
	store_txn_abort(txn);
	if (err) {
		grove_buf_free(&b.raw);
		return err;
	}
	return snapshot_finish(&b, applied, 0, out);
}

int replica_snapshot(struct replica *r, struct snapshot *out)
{
	struct store_txn *txn;
	int err = replica_snapshot_begin(r, &txn);
	return err ? err : replica_snapshot_build(r, txn, out);
}

/* Send @p m, a SNAPSHOT of the state machine as applied now, in chunks. */
static void send_snapshot(struct replica *r, const struct raft_msg *m)
{
	struct snapshot snap;
	if (replica_snapshot(r, &snap) != GROVE_OK) {
		raft_report_snapshot(r->raft, m->to, false);
		return;
	}
	struct raft_msg sm = *m;
	/* The data reflects the applied index, which may be past the core's compaction point. */
	sm.snapshot_index = snap.applied_index;
	sm.snapshot_term = raft_term_at(r->raft, snap.applied_index);
	sm.snapshot_conf = *raft_conf(r->raft);
	struct raftwire_out out;
	if (raftwire_encode(r->cfg.group, &sm, &out) != GROVE_OK) {
		snapshot_free(&snap);
		raft_report_snapshot(r->raft, m->to, false);
		return;
	}
	size_t chunk = r->cfg.snapshot_chunk ? r->cfg.snapshot_chunk : DEFAULT_SNAPSHOT_CHUNK;
	out.pb.snapshot_size = snap.len;
	for (size_t offset = 0; offset < snap.len;) {
		out.pb.snapshot_offset = offset;
		out.pb.snapshot_data.data = snap.data + offset;
		out.pb.snapshot_data.len = snap.len - offset < chunk ? snap.len - offset : chunk;
		offset += out.pb.snapshot_data.len;
		r->env.send(r->env.ctx, m->to, &out.pb, false);
	}
	raftwire_out_free(&out);
	if (r->env.metrics) {
		r->env.metrics->snapshot_sends++;
		r->env.metrics->snapshot_bytes += snap.len;
	}
	snapshot_free(&snap);
	note_snapshot_sent(r, m->to);
}

/* ---- the Ready cycle ---- */

/*
 * Install a snapshot that this turn's messages brought, with the membership it carries, and make it durable
 * before the log drops the entries it replaces. The store notes the snapshot in the same transaction, so
 * that a restart between the two finishes the log's part (restore()).
 */
static int install_snapshot(struct replica *r, const struct raft_ready *rd)
{
	char why[160] = "";
	if (!r->incoming_snapshot)
		return GROVE_ECORRUPT;
	int err = r->env.commit_applied(r->env.ctx);
	struct store_txn *txn = NULL;
	if (!err)
		err = store_txn_begin(r->env.store, NULL, true, &txn);
	if (!err)
		err = r->sm.ops->restore(r->sm.sm, txn, r->incoming_snapshot, r->incoming_snapshot_len, why, sizeof(why));
	if (!err)
		err = groupstate_put_conf(txn, r->env.state_db, r->cfg.group, &rd->snapshot_conf);
	if (!err)
		err = groupstate_put_snapshot(txn, r->env.state_db, r->cfg.group, rd->snapshot_index, rd->snapshot_term);
	if (!err)
		err = groupstate_put_applied(txn, r->env.state_db, r->cfg.group, rd->snapshot_index);
	if (err)
		store_txn_abort(txn);
	else
		err = store_txn_commit(txn);
	size_t len = r->incoming_snapshot_len;
	free(r->incoming_snapshot);
	r->incoming_snapshot = NULL;
	if (!err)
		err = store_sync(r->env.store);
	if (!err) {
		r->env.drain_log(r->env.ctx);
		err = wal_install_snapshot(r->env.wal, r->cfg.group, rd->snapshot_index, rd->snapshot_term);
	}
	if (err) {
		log_line("raft: group %llu: snapshot install failed: %s", (unsigned long long)r->cfg.group,
			 why[0] ? why : grove_strerror(err));
		return err;
	}
	r->applied = rd->snapshot_index;
	log_line("raft: group %llu: installed a snapshot of %zu bytes at index %llu", (unsigned long long)r->cfg.group,
		 len, (unsigned long long)rd->snapshot_index);
	if (r->env.installed)
		r->env.installed(r->env.ctx, r, rd->snapshot_index);
	return GROVE_OK;
}

/*
 * Queue the entries and the hard state in the log; the server's next flush makes them durable. The
 * commit index is not worth a record of its own: after a crash it is learnt again from the leader.
 */
static int queue_persist(struct replica *r, const struct raft_ready *rd)
{
	int err = GROVE_OK;
	if (rd->n_entries) {
		struct wal_entry stack[64];
		struct wal_entry *e = rd->n_entries <= 64 ? stack : calloc(rd->n_entries, sizeof(*e));
		if (!e)
			return GROVE_ENOMEM;
		for (size_t i = 0; i < rd->n_entries; i++)
			e[i] = (struct wal_entry){rd->entries[i].index, rd->entries[i].term, rd->entries[i].type,
						  rd->entries[i].data, rd->entries[i].len};
		err = wal_append(r->env.wal, r->cfg.group, e, rd->n_entries);
		if (e != stack)
			free(e);
		if (!err) {
			const struct raft_entry *last = &rd->entries[rd->n_entries - 1];
			r->queued = (struct queued_mark){true, last->index, last->term};
		}
	}
	if (!err && rd->hard_state_changed && (rd->hard.term != r->saved_term || rd->hard.vote != r->saved_vote)) {
		struct wal_hard_state hs = {rd->hard.term, rd->hard.vote, rd->hard.commit};
		err = wal_set_hard_state(r->env.wal, r->cfg.group, &hs);
		if (!err) {
			r->saved_term = hs.term;
			r->saved_vote = hs.vote;
		}
	}
	return err;
}

bool replica_entries_queued(const struct replica *r)
{
	return r->queued.any;
}

void replica_flush_taken(struct replica *r)
{
	if (r->queued.any)
		r->flying = r->queued;
	r->queued.any = false;
}

void replica_flush_done(struct replica *r)
{
	if (r->flying.any)
		raft_persisted(r->raft, r->flying.index, r->flying.term);
	r->flying.any = false;
}

/* A membership change entry: the core's new membership, stored with the applied index; a new address. */
static int apply_conf_change(struct replica *r, struct store_txn *txn, const struct raft_entry *e)
{
	struct hlc_ts stamp;
	const uint8_t *rest;
	size_t rest_len;
	if (e->len > 9 && entry_stamp_read(e->data + 9, e->len - 9, &stamp, &rest, &rest_len) && r->env.observe)
		r->env.observe(r->env.ctx, stamp);
	int err = raft_apply_conf_change(r->raft, e);
	if (err)
		return GROVE_OK; /* malformed: the core ignores it, and so does every member */
	err = groupstate_put_conf(txn, r->env.state_db, r->cfg.group, raft_conf(r->raft));
	uint64_t id;
	char address[MEMBER_ADDRESS_MAX + 1];
	if (!err && membership_change_address(e->data, e->len, &id, address))
		r->env.member_address(r->env.ctx, id, address);
	return err;
}

/* Apply committed entries and record the applied index, in the server's apply transaction. */
static int apply_committed(struct replica *r, const struct raft_ready *rd)
{
	if (r->env.flush_sends)
		r->env.flush_sends(r->env.ctx);
	struct store_txn *txn = r->env.apply_txn(r->env.ctx);
	if (!txn)
		return GROVE_ESTORAGE;
	while (r->cap_results < rd->n_committed)
		if (grove_grow((void **)&r->results, &r->cap_results, r->cap_results, sizeof(*r->results)))
			return GROVE_ENOMEM;
	struct tree_result *results = r->results;
	memset(results, 0, rd->n_committed * sizeof(*results));
	/* Stage times for latency accounting: two clock reads per ready, whatever the number of entries. */
	uint64_t committed_ns = grove_realtime_ns();
	int err = GROVE_OK;
	uint64_t last = r->applied;
	size_t n = 0;
	for (; !err && n < rd->n_committed; n++) {
		const struct raft_entry *e = &rd->committed[n];
		if (e->index <= r->applied)
			continue; /* already in the state (a snapshot covered it) */
		if (e->type == RAFT_ENTRY_CONF_CHANGE) {
			err = apply_conf_change(r, txn, e);
		} else if (e->len) {
			const uint8_t *command;
			size_t command_len;
			struct hlc_ts stamp;
			if (entry_stamp_read(e->data, e->len, &stamp, &command, &command_len) && r->env.observe)
				r->env.observe(r->env.ctx, stamp);
			if (command_len) /* a stamp alone is a new leader's no-op */
				err = r->sm.ops->apply(r->sm.sm, txn, e->index, command, command_len, &results[n]);
		}
		last = e->index;
	}
	if (!err && last > r->applied)
		err = groupstate_put_applied(txn, r->env.state_db, r->cfg.group, last);
	if (!err) {
		r->applied = last;
		uint64_t applied_ns = grove_realtime_ns();
		if (r->env.metrics)
			metrics_observe(&r->env.metrics->apply, metrics_elapsed(committed_ns, applied_ns));
		/* What was applied goes to whoever waits for it once the whole ready is in the transaction. */
		for (size_t i = 0; i < rd->n_committed; i++) {
			const struct raft_entry *e = &rd->committed[i];
			struct replica_applied a = {e->index, e->term, NULL, {0, 0}, committed_ns, applied_ns};
			const uint8_t *command;
			size_t command_len = 0;
			if (e->type != RAFT_ENTRY_CONF_CHANGE)
				entry_stamp_read(e->data, e->len, &a.stamp, &command, &command_len);
			if (command_len)
				a.result = &results[i];
			r->env.applied(r->env.ctx, r, &a);
		}
	}
	for (size_t i = 0; i < rd->n_committed; i++)
		tree_result_free(&results[i]);
	return err;
}

/* The messages of a ready: the leader's appends at once (§10.2.1), the rest once the log is durable. */
static void send_messages(struct replica *r, const struct raft_ready *rd)
{
	for (size_t i = 0; i < rd->n_msgs; i++) {
		const struct raft_msg *m = &rd->msgs[i];
		if (m->type == RAFT_MSG_SNAPSHOT) {
			send_snapshot(r, m);
			continue;
		}
		struct raftwire_out out;
		if (raftwire_encode(r->cfg.group, m, &out) != GROVE_OK)
			continue; /* dropped: Raft sends again */
		bool early = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT;
		r->env.send(r->env.ctx, m->to, &out.pb, !early);
		raftwire_out_free(&out);
	}
}

bool replica_has_ready(const struct replica *r)
{
	return raft_has_ready(r->raft);
}

int replica_release_reads(struct replica *r)
{
	bool ready = false;
	for (size_t i = 0; i < r->n_reads && !ready; i++)
		ready = r->reads[i].index <= r->applied;
	if (!ready)
		return GROVE_OK;
	/* Reads see the store: make what they wait for visible first. */
	int err = r->env.commit_applied(r->env.ctx);
	if (err)
		return err;
	size_t kept = 0;
	for (size_t i = 0; i < r->n_reads; i++) {
		if (r->reads[i].index <= r->applied)
			r->env.read_ready(r->env.ctx, r, r->reads[i].context);
		else
			r->reads[kept++] = r->reads[i];
	}
	r->n_reads = kept;
	return GROVE_OK;
}

int replica_process(struct replica *r)
{
	for (int rounds = 0; rounds < 16 && raft_has_ready(r->raft); rounds++) {
		struct raft_ready rd;
		raft_ready(r->raft, &rd);
		int err = GROVE_OK;
		if (rd.install_snapshot)
			err = install_snapshot(r, &rd);
		if (!err)
			err = queue_persist(r, &rd);
		if (err) {
			log_line("raft: group %llu: cannot persist: %s", (unsigned long long)r->cfg.group, grove_strerror(err));
			return err;
		}
		send_messages(r, &rd);
		if (rd.n_committed && (err = apply_committed(r, &rd)) != GROVE_OK) {
			log_line("raft: group %llu: cannot apply: %s", (unsigned long long)r->cfg.group, grove_strerror(err));
			return err;
		}
		for (size_t i = 0; i < rd.n_reads; i++) {
			if (grove_grow((void **)&r->reads, &r->cap_reads, r->n_reads, sizeof(*r->reads)))
				break; /* the read is lost; its client times out and retries */
			r->reads[r->n_reads++] = (struct pending_read){rd.reads[i].context, rd.reads[i].index};
		}
		raft_advance(r->raft, &rd);
	}
	return replica_release_reads(r);
}

void replica_maybe_compact(struct replica *r)
{
	uint64_t first = raft_first_index(r->raft);
	uint64_t at = r->cfg.compact_at ? r->cfg.compact_at : DEFAULT_COMPACT_AT;
	if (r->applied < first || r->applied - first < at)
		return;
	uint64_t upto = r->applied - at / 4;
	uint64_t term = raft_term_at(r->raft, upto);
	/* The entries dropped from the log must never be needed again: the state they made is durable first. */
	if (r->env.commit_applied(r->env.ctx) != GROVE_OK || store_sync(r->env.store) != GROVE_OK)
		return;
	r->env.drain_log(r->env.ctx);
	if (wal_compact(r->env.wal, r->cfg.group, upto, term) != GROVE_OK) {
		log_line("raft: group %llu: cannot compact the log; it keeps growing", (unsigned long long)r->cfg.group);
		return;
	}
	raft_compact(r->raft, upto);
}

/* ---- requests ---- */

/* Propose @p data, stamped when there is a clock. */
static int propose_stamped(struct replica *r, const void *data, size_t len, uint64_t *index)
{
	/* Only a leader's proposal becomes an entry: elsewhere Raft refuses it, and the clock need not tick. */
	if (!r->env.stamp || raft_role(r->raft) != RAFT_LEADER)
		return raft_propose(r->raft, data, len, index);
	uint8_t stack[512];
	uint8_t *stamped = ENTRY_STAMP_BYTES + len <= sizeof(stack) ? stack : malloc(ENTRY_STAMP_BYTES + len);
	if (!stamped)
		return GROVE_ENOMEM;
	entry_stamp_put(r->env.stamp(r->env.ctx), stamped);
	if (len)
		memcpy(stamped + ENTRY_STAMP_BYTES, data, len);
	int err = raft_propose(r->raft, stamped, ENTRY_STAMP_BYTES + len, index);
	if (stamped != stack)
		free(stamped);
	return err;
}

int replica_propose(struct replica *r, const void *data, size_t len, uint64_t *index, uint64_t *term)
{
	*term = raft_term(r->raft);
	int err = propose_stamped(r, data, len, index);
	if (!err && r->env.metrics)
		r->env.metrics->proposals++;
	return err;
}

int replica_read(struct replica *r, uint64_t context)
{
	return raft_read_index(r->raft, context);
}

int replica_transfer(struct replica *r, uint64_t to)
{
	return raft_transfer_leader(r->raft, to);
}

int replica_change_membership(struct replica *r, enum raft_conf_op op, uint64_t node, const char *address)
{
	struct raft_conf_change cc = {op, node};
	size_t alen = address ? strlen(address) : 0;
	if (op == RAFT_CONF_ADD_LEARNER && (alen == 0 || alen > MEMBER_ADDRESS_MAX || !strchr(address, ':')))
		return GROVE_EINVAL;
	/* What follows the conf change in its entry: a stamp like every command's, then a learner's address. */
	uint8_t context[ENTRY_STAMP_BYTES + MEMBER_ADDRESS_MAX];
	size_t len = 0;
	if (r->env.stamp && raft_role(r->raft) == RAFT_LEADER) {
		entry_stamp_put(r->env.stamp(r->env.ctx), context);
		len = ENTRY_STAMP_BYTES;
	}
	if (op == RAFT_CONF_ADD_LEARNER) {
		memcpy(context + len, address, alen);
		len += alen;
	}
	uint64_t index;
	return raft_propose_conf_change_with(r->raft, &cc, context, len, &index);
}

void replica_status(const struct replica *r, struct replica_status *out)
{
	const struct raft_conf *conf = raft_conf(r->raft);
	*out = (struct replica_status){.role = raft_role(r->raft), .voter = raft_conf_has_voter(conf, r->cfg.self),
				       .term = raft_term(r->raft), .leader = raft_leader(r->raft),
				       .commit = raft_commit(r->raft), .applied = r->applied,
				       .first = raft_first_index(r->raft), .last = raft_last_index(r->raft),
				       .quiesced = raft_quiesced(r->raft)};
	out->current = out->role == RAFT_LEADER && raft_term_at(r->raft, r->applied) == out->term;
}

void replica_wake(struct replica *r)
{
	raft_wake(r->raft);
}

size_t replica_members(const struct replica *r, uint64_t *ids, bool *voter, uint64_t *match, size_t cap)
{
	const struct raft_conf *conf = raft_conf(r->raft);
	size_t n = 0;
	for (size_t i = 0; i < conf->n_voters && n < cap; i++, n++)
		ids[n] = conf->voters[i], voter[n] = true, match[n] = raft_match(r->raft, conf->voters[i]);
	for (size_t i = 0; i < conf->n_learners && n < cap; i++, n++)
		ids[n] = conf->learners[i], voter[n] = false, match[n] = raft_match(r->raft, conf->learners[i]);
	return n;
}
