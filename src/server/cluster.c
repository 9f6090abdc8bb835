#include "src/server/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/net/wire.h"
#include "src/server/log.h"
#include "storage/raftlog.h"
#include "storage/snapshot.h"
#include "storage/wal.h"

#define GROUP 1
/* By default, compact the log once it holds this many applied entries, keeping a quarter for slow followers. */
#define DEFAULT_COMPACT_AT 20000
#define DEFAULT_SNAPSHOT_CHUNK (1u << 20)
/* Largest snapshot a follower assembles in memory. */
#define SNAPSHOT_RECEIVE_MAX ((size_t)16 << 30)
/*
 * A snapshot that left this server but was not acknowledged within this many ticks (its link died, or the
 * follower dropped it) is reported lost, so Raft sends a fresh one.
 */
#define SNAPSHOT_RETRY_TICKS 500
/*
 * Applied state waits at most this many ticks for its commit when nothing else asks for it: each commit
 * costs an fdatasync that the log's own syncs would wait behind.
 */
#define APPLIED_FLUSH_TICKS 10

struct pending_read {
	uint64_t context;
	uint64_t index;
};

struct cluster {
	struct cluster_config cfg;
	struct store *store;
	struct cluster_hooks hooks;
	struct raft *raft;
	struct wal *wal;                 /* the durable log and hard state */
	uint64_t applied;
	struct pending_read *reads;
	size_t n_reads, cap_reads;
	uint8_t *incoming_snapshot;   /* data of a SNAPSHOT message stepped this turn */
	size_t incoming_snapshot_len;
	/* The snapshot being received in chunks, and whose it is. */
	struct snapshot_receiver receiving;
	uint64_t receiving_from, receiving_term, receiving_index;
	/* Snapshots sent and not yet acknowledged: peer id (0 = free slot) and ticks since its link went quiet. */
	struct {
		uint64_t peer;
		unsigned quiet_ticks;
	} sending[CLUSTER_MAX_PEERS];
	uint64_t saved_term, saved_vote; /* the hard state last written */
	unsigned ticks_since_flush;
	/*
	 * Applied entries whose transaction is not committed yet. The log already holds them durably on a
	 * quorum, so clients may be answered; the state catches up with the next commit (before a read is
	 * served, before a snapshot or compaction, or APPLIED_FLUSH_TICKS after the last), and a crash just
	 * re-applies them.
	 */
	struct store_txn *pending_txn;
	uint64_t applied_visible;        /* what readers of the store can see */
};

/* Commit the applied-but-unsaved state, if any. */
static int flush_applied(struct cluster *c)
{
	if (!c->pending_txn)
		return GROVE_OK;
	int err = store_txn_commit(c->pending_txn);
	c->pending_txn = NULL;
	c->ticks_since_flush = 0;
	if (!err)
		c->applied_visible = c->applied;
	return err;
}

/* ---- configuration ---- */

int cluster_parse_peers(const char *spec, struct cluster_config *cfg)
{
	cfg->n_peers = 0;
	const char *p = spec;
	while (*p) {
		if (cfg->n_peers == CLUSTER_MAX_PEERS)
			return GROVE_EINVAL;
		char *end;
		unsigned long long id = strtoull(p, &end, 10);
		if (id == 0 || *end != '=')
			return GROVE_EINVAL;
		p = end + 1;
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(cfg->peers[0].address) || !memchr(p, ':', n))
			return GROVE_EINVAL;
		struct cluster_peer *peer = &cfg->peers[cfg->n_peers++];
		peer->id = id;
		memcpy(peer->address, p, n);
		peer->address[n] = '\0';
		for (size_t i = 0; i + 1 < cfg->n_peers; i++)
			if (cfg->peers[i].id == id)
				return GROVE_EINVAL;
		p += n;
		if (*p == ',')
			p++;
	}
	return cfg->n_peers ? GROVE_OK : GROVE_EINVAL;
}

/* Membership bytes: u32 voters, ids, u32 learners, ids (little-endian). */
static size_t encode_conf(const struct raft_conf *conf, uint8_t *out)
{
	size_t n = 0;
	const uint64_t *lists[2] = {conf->voters, conf->learners};
	size_t counts[2] = {conf->n_voters, conf->n_learners};
	for (int l = 0; l < 2; l++) {
		for (int i = 0; i < 4; i++)
			out[n++] = (uint8_t)(counts[l] >> (8 * i));
		for (size_t k = 0; k < counts[l]; k++)
			for (int i = 0; i < 8; i++)
				out[n++] = (uint8_t)(lists[l][k] >> (8 * i));
	}
	return n;
}

static int decode_conf(const uint8_t *p, size_t len, struct raft_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	size_t pos = 0;
	uint64_t *lists[2] = {conf->voters, conf->learners};
	size_t *counts[2] = {&conf->n_voters, &conf->n_learners};
	for (int l = 0; l < 2; l++) {
		if (len - pos < 4)
			return GROVE_ECORRUPT;
		uint32_t n = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
			     (uint32_t)p[pos + 3] << 24;
		pos += 4;
		if (n > RAFT_MAX_MEMBERS || len - pos < (size_t)n * 8)
			return GROVE_ECORRUPT;
		for (uint32_t k = 0; k < n; k++, pos += 8) {
			uint64_t v = 0;
			for (int i = 0; i < 8; i++)
				v |= (uint64_t)p[pos + i] << (8 * i);
			lists[l][k] = v;
		}
		*counts[l] = n;
	}
	return pos == len ? GROVE_OK : GROVE_ECORRUPT;
}

/* ---- the address book: --peers plus members added since, kept with the state ---- */

static const char members_key[] = "raft_members";

static int save_members(struct cluster *c, struct store_txn *txn)
{
	uint8_t buf[CLUSTER_MAX_PEERS * 74];
	size_t n = 0;
	for (size_t i = 0; i < c->cfg.n_peers; i++) {
		const struct cluster_peer *p = &c->cfg.peers[i];
		size_t alen = strlen(p->address);
		for (int k = 0; k < 8; k++)
			buf[n++] = (uint8_t)(p->id >> (8 * k));
		buf[n++] = (uint8_t)alen;
		memcpy(buf + n, p->address, alen);
		n += alen;
	}
	return store_put(txn, STORE_META, members_key, sizeof(members_key) - 1, buf, n);
}

static bool add_member(struct cluster *c, uint64_t id, const char *address, size_t alen)
{
	for (size_t i = 0; i < c->cfg.n_peers; i++)
		if (c->cfg.peers[i].id == id)
			return false;
	if (c->cfg.n_peers == CLUSTER_MAX_PEERS || alen == 0 || alen >= sizeof(c->cfg.peers[0].address))
		return false;
	struct cluster_peer *p = &c->cfg.peers[c->cfg.n_peers++];
	p->id = id;
	memcpy(p->address, address, alen);
	p->address[alen] = '\0';
	return true;
}

static void load_members(struct cluster *c, struct store_txn *txn)
{
	struct store_bytes v;
	if (store_get(txn, STORE_META, members_key, sizeof(members_key) - 1, &v) != GROVE_OK)
		return;
	const uint8_t *p = v.data;
	size_t pos = 0;
	while (pos + 9 <= v.len) {
		uint64_t id = 0;
		for (int k = 0; k < 8; k++)
			id |= (uint64_t)p[pos + k] << (8 * k);
		size_t alen = p[pos + 8];
		if (pos + 9 + alen > v.len)
			break;
		add_member(c, id, (const char *)p + pos + 9, alen);
		pos += 9 + alen;
	}
}

/* ---- start ---- */

/*
 * A new group writes its initial membership into the log, identically on every founding member: one
 * committed ADD_VOTER entry of term 1 per peer (with its address), as etcd does. A member that joins later
 * replays them from the leader, so it learns the same membership the founders have.
 */
static int bootstrap(struct cluster *c)
{
	struct raftlog_entry e[CLUSTER_MAX_PEERS];
	uint8_t data[CLUSTER_MAX_PEERS][9 + sizeof(c->cfg.peers[0].address)];
	for (size_t i = 0; i < c->cfg.n_peers; i++) {
		struct raft_conf_change cc = {RAFT_CONF_ADD_VOTER, c->cfg.peers[i].id};
		raft_encode_conf_change(&cc, data[i]);
		size_t alen = strlen(c->cfg.peers[i].address);
		memcpy(data[i] + 9, c->cfg.peers[i].address, alen);
		e[i] = (struct raftlog_entry){i + 1, 1, RAFT_ENTRY_CONF_CHANGE, data[i], 9 + alen};
	}
	struct raftlog_hard_state hs = {.term = 1, .vote = 0, .commit = c->cfg.n_peers};
	int err = wal_append(c->wal, e, c->cfg.n_peers);
	if (!err)
		err = wal_set_hard_state(c->wal, &hs);
	if (!err)
		err = wal_sync(c->wal);
	if (err)
		return err;
	struct raft_conf initial = {0};
	for (size_t i = 0; i < c->cfg.n_peers; i++)
		initial.voters[initial.n_voters++] = c->cfg.peers[i].id;
	uint8_t bytes[8 + 16 * RAFT_MAX_MEMBERS];
	struct store_txn *txn;
	err = store_txn_begin(c->store, NULL, true, &txn);
	if (err)
		return err;
	err = raftlog_put_conf_state(txn, GROUP, bytes, encode_conf(&initial, bytes));
	if (err) {
		store_txn_abort(txn);
		return err;
	}
	err = store_txn_commit(txn);
	return err ? err : store_sync(c->store);
}

/*
 * A data directory from before the log had a file of its own keeps the log in the store: copy it into the
 * new log once (the store's copy is then left unused). Sets *@p found when there was one.
 */
static int import_store_log(struct cluster *c, bool *found)
{
	struct store_txn *txn;
	int err = store_txn_begin(c->store, NULL, false, &txn);
	if (err)
		return err;
	struct raftlog_bounds b;
	struct raftlog_hard_state hs;
	err = raftlog_get_bounds(txn, GROUP, &b);
	if (!err)
		err = raftlog_get_hard_state(txn, GROUP, &hs);
	*found = !err && (b.last >= b.first || hs.term > 0);
	if (*found) {
		if (b.first > 1)
			err = wal_compact(c->wal, b.first - 1, b.snapshot_term);
		for (uint64_t i = b.first; !err && i <= b.last; i++) {
			struct raftlog_entry e;
			err = raftlog_get(txn, GROUP, i, &e);
			if (!err)
				err = wal_append(c->wal, &e, 1);
		}
		if (!err)
			err = wal_set_hard_state(c->wal, &hs);
		if (!err)
			err = wal_sync(c->wal);
	}
	store_txn_abort(txn);
	if (!err && *found)
		log_line("raft: moved the log (entries %llu..%llu) from the store to its own file",
			 (unsigned long long)b.first, (unsigned long long)b.last);
	return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
}

/* Whether the store has applied any entry (errors count as yes: nothing is overwritten on a doubt). */
static bool store_has_applied(struct cluster *c)
{
	struct store_txn *txn;
	uint64_t applied = 1;
	if (store_txn_begin(c->store, NULL, false, &txn) == GROVE_OK) {
		store_meta_get_u64(txn, "applied_index", 0, &applied);
		store_txn_abort(txn);
	}
	return applied > 0;
}

/*
 * The snapshot the store holds (noted by install_snapshot()) is newer than the log's: a crash came between
 * installing it in the store and marking it in the log. Mark it now; *@p done says whether it was needed.
 */
static int finish_install(struct cluster *c, const struct wal_contents *log, bool *done)
{
	struct store_txn *txn;
	int err = store_txn_begin(c->store, NULL, false, &txn);
	if (err)
		return err;
	struct raftlog_bounds b;
	err = raftlog_get_bounds(txn, GROUP, &b);
	store_txn_abort(txn);
	*done = !err && b.first - 1 > log->snapshot_index;
	if (!*done)
		return err;
	log_line("raft: finishing the install of the snapshot at %llu that a crash interrupted",
		 (unsigned long long)(b.first - 1));
	return wal_install_snapshot(c->wal, b.first - 1, b.snapshot_term);
}

/*
 * Open the log; a log that was never written is imported from the store or bootstrapped, one whose
 * snapshot install was interrupted is finished, and then it is read back.
 */
static int open_log(struct cluster *c, struct wal_contents *log)
{
	int err = wal_open(&c->wal, c->cfg.log_dir, log);
	if (err)
		return err;
	bool changed;
	if (log->fresh) {
		err = import_store_log(c, &changed);
		if (!err && !changed && store_has_applied(c)) {
			/* Starting over would give entries the store already applied new meanings. */
			log_line("raft: the log in %s is missing, but the store has applied entries", c->cfg.log_dir);
			return GROVE_ECORRUPT;
		}
		if (!err && !changed && !c->cfg.join) {
			err = bootstrap(c);
			changed = true;
		}
	} else {
		err = finish_install(c, log, &changed);
	}
	if (err || !changed)
		return err;
	wal_contents_free(log);
	wal_close(c->wal);
	c->wal = NULL;
	return wal_open(&c->wal, c->cfg.log_dir, log);
}

static int restore_state(struct cluster *c, struct raft_restore *rs, struct wal_contents *log,
			 struct raft_entry **entries)
{
	int err = open_log(c, log);
	if (err)
		return err;
	if (c->cfg.no_sync)
		wal_skip_sync(c->wal);
	if (log->torn_tail)
		log_line("raft: cut off the end of the log that a crash interrupted (never acknowledged)");
	struct store_txn *txn;
	err = store_txn_begin(c->store, NULL, false, &txn);
	if (err)
		return err;
	struct store_bytes conf_bytes;
	int cerr = raftlog_get_conf_state(txn, GROUP, &conf_bytes);
	if (cerr == GROVE_ENOTFOUND) {
		/* A new group: every configured peer is a voter. A joining member waits to be added. */
		for (size_t i = 0; !c->cfg.join && i < c->cfg.n_peers; i++)
			rs->conf.voters[rs->conf.n_voters++] = c->cfg.peers[i].id;
	} else if (cerr) {
		err = cerr;
	} else {
		err = decode_conf(conf_bytes.data, conf_bytes.len, &rs->conf);
	}
	if (!err)
		err = store_meta_get_u64(txn, "applied_index", 0, &c->applied);
	if (!err)
		load_members(c, txn);
	store_txn_abort(txn);
	if (err)
		return err;
	if (c->applied < log->snapshot_index) {
		/* The store is made durable before the log drops what a snapshot covers: it cannot lag behind. */
		log_line("raft: the store has applied %llu, but the log starts after %llu", (unsigned long long)c->applied,
			 (unsigned long long)log->snapshot_index);
		return GROVE_ECORRUPT;
	}
	c->applied_visible = c->applied;
	*entries = calloc(log->n_entries + 1, sizeof(**entries));
	if (!*entries)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < log->n_entries; i++) {
		const struct raftlog_entry *e = &log->entries[i];
		(*entries)[i] = (struct raft_entry){.index = e->index, .term = e->term, .type = e->type,
						    .data = (uint8_t *)e->data, .len = e->len};
	}
	rs->hard = (struct raft_hard_state){log->hard.term, log->hard.vote, log->hard.commit};
	c->saved_term = log->hard.term;
	c->saved_vote = log->hard.vote;
	rs->snapshot_index = log->snapshot_index;
	rs->snapshot_term = log->snapshot_term;
	rs->entries = *entries;
	rs->n_entries = log->n_entries;
	rs->applied = c->applied;
	return GROVE_OK;
}

int cluster_create(const struct cluster_config *cfg, struct store *store, const struct cluster_hooks *hooks,
		   struct cluster **out)
{
	*out = NULL;
	bool self = false;
	for (size_t i = 0; i < cfg->n_peers; i++)
		self |= cfg->peers[i].id == cfg->id;
	if (!self)
		return GROVE_EINVAL;
	struct cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return GROVE_ENOMEM;
	c->cfg = *cfg;
	c->store = store;
	c->hooks = *hooks;
	struct raft_restore rs = {0};
	struct raft_entry *entries = NULL;
	struct wal_contents log;
	int err = restore_state(c, &rs, &log, &entries);
	if (!err) {
		struct raft_config rc = {.id = cfg->id, .election_ticks = 30, .heartbeat_ticks = 3, .max_inflight = 64,
					 .max_batch = 512, .max_msg_bytes = 4u << 20, .seed = cfg->id * 7919 + (uint64_t)(uintptr_t)c,
					 .pre_vote = true, .check_quorum = true};
		err = raft_create(&rc, &rs, &c->raft);
	}
	free(entries); /* raft_create copied them; their data belongs to the log's contents */
	wal_contents_free(&log);
	if (err) {
		wal_close(c->wal);
		free(c);
		return err;
	}
	log_line("raft: member %llu of %zu, term %llu, log %llu..%llu, applied %llu", (unsigned long long)cfg->id,
		 cfg->n_peers, (unsigned long long)raft_term(c->raft), (unsigned long long)raft_first_index(c->raft),
		 (unsigned long long)raft_last_index(c->raft), (unsigned long long)c->applied);
	*out = c;
	return GROVE_OK;
}

void cluster_destroy(struct cluster *c)
{
	if (!c)
		return;
	flush_applied(c);
	raft_destroy(c->raft);
	wal_close(c->wal);
	free(c->reads);
	free(c->incoming_snapshot);
	snapshot_receiver_free(&c->receiving);
	free(c);
}

/* Give up on snapshots that went out but were never acknowledged: Raft then sends a new one. */
static void retry_lost_snapshots(struct cluster *c)
{
	for (size_t i = 0; i < CLUSTER_MAX_PEERS; i++) {
		uint64_t peer = c->sending[i].peer;
		if (!peer)
			continue;
		if (raft_match(c->raft, peer) >= raft_first_index(c->raft) - 1 || raft_role(c->raft) != RAFT_LEADER) {
			c->sending[i].peer = 0; /* installed, or no longer ours to send */
		} else if (c->hooks.backlog && c->hooks.backlog(c->hooks.ctx, peer)) {
			c->sending[i].quiet_ticks = 0;
		} else if (++c->sending[i].quiet_ticks > SNAPSHOT_RETRY_TICKS) {
			c->sending[i].peer = 0;
			log_line("raft: snapshot to %llu was not acknowledged; sending a new one",
				 (unsigned long long)peer);
			raft_report_snapshot(c->raft, peer, false);
		}
	}
}

static void note_snapshot_sent(struct cluster *c, uint64_t peer)
{
	size_t free_slot = CLUSTER_MAX_PEERS;
	for (size_t i = 0; i < CLUSTER_MAX_PEERS; i++) {
		if (c->sending[i].peer == peer) {
			free_slot = i;
			break;
		}
		if (!c->sending[i].peer && free_slot == CLUSTER_MAX_PEERS)
			free_slot = i;
	}
	if (free_slot < CLUSTER_MAX_PEERS)
		c->sending[free_slot].peer = peer, c->sending[free_slot].quiet_ticks = 0;
}

void cluster_tick(struct cluster *c)
{
	if (++c->ticks_since_flush >= APPLIED_FLUSH_TICKS && flush_applied(c) != GROVE_OK)
		log_line("raft: cannot save the applied state; it will be applied again from the log");
	raft_tick(c->raft);
	retry_lost_snapshots(c);
}

/* ---- messages ---- */

/*
 * Add one chunk of an incoming snapshot. A chunk at offset 0, or from another sender, term or snapshot,
 * starts over; a chunk out of order drops what was assembled (the leader sends the snapshot again).
 * @p complete is set once the whole snapshot has arrived and verifies.
 */
static int receive_snapshot_chunk(struct cluster *c, const Grove__RaftMessage *m, bool *complete)
{
	*complete = false;
	if (m->snapshot_offset == 0 || m->from != c->receiving_from || m->term != c->receiving_term ||
	    m->snapshot_index != c->receiving_index) {
		snapshot_receiver_free(&c->receiving);
		c->receiving_from = m->from;
		c->receiving_term = m->term;
		c->receiving_index = m->snapshot_index;
	}
	int err = snapshot_receiver_put(&c->receiving, m->snapshot_offset, m->snapshot_size, m->snapshot_data.data,
					m->snapshot_data.len, SNAPSHOT_RECEIVE_MAX);
	if (err) {
		log_line("raft: dropped a snapshot chunk from %llu at offset %llu of %llu: %s",
			 (unsigned long long)m->from, (unsigned long long)m->snapshot_offset,
			 (unsigned long long)m->snapshot_size, grove_strerror(err));
		snapshot_receiver_free(&c->receiving);
		c->receiving_from = 0;
		return GROVE_EINVAL;
	}
	if (!snapshot_receiver_complete(&c->receiving))
		return GROVE_OK;
	uint64_t applied;
	char why[128];
	if (snapshot_verify(c->receiving.data, c->receiving.len, &applied, why, sizeof(why)) ||
	    applied != m->snapshot_index) {
		log_line("raft: refused a snapshot from %llu: %s", (unsigned long long)m->from,
			 applied != m->snapshot_index ? "its index does not match its data" : why);
		snapshot_receiver_free(&c->receiving);
		c->receiving_from = 0;
		return GROVE_EINVAL;
	}
	*complete = true;
	return GROVE_OK;
}

int cluster_step(struct cluster *c, const Grove__RaftMessage *m)
{
	if (m->n_entries > 1u << 20 || m->n_snapshot_voters > RAFT_MAX_MEMBERS ||
	    m->n_snapshot_learners > RAFT_MAX_MEMBERS)
		return GROVE_EINVAL;
	struct raft_msg rm = {.type = (enum raft_msg_type)m->type, .from = m->from, .to = m->to, .term = m->term,
			      .log_term = m->log_term, .index = m->index, .commit = m->commit, .reject = m->reject,
			      .reject_hint = m->reject_hint, .context = m->context,
			      .snapshot_index = m->snapshot_index, .snapshot_term = m->snapshot_term};
	for (size_t i = 0; i < m->n_snapshot_voters; i++)
		rm.snapshot_conf.voters[rm.snapshot_conf.n_voters++] = m->snapshot_voters[i];
	for (size_t i = 0; i < m->n_snapshot_learners; i++)
		rm.snapshot_conf.learners[rm.snapshot_conf.n_learners++] = m->snapshot_learners[i];
	if (rm.type == RAFT_MSG_SNAPSHOT) {
		bool complete;
		int err = receive_snapshot_chunk(c, m, &complete);
		if (err || !complete)
			return err;
	}
	struct raft_entry *entries = NULL;
	if (m->n_entries) {
		entries = calloc(m->n_entries, sizeof(*entries));
		if (!entries)
			return GROVE_ENOMEM;
		for (size_t i = 0; i < m->n_entries; i++)
			entries[i] = (struct raft_entry){.index = m->entries[i]->index, .term = m->entries[i]->term,
							 .type = m->entries[i]->type, .data = m->entries[i]->data.data,
							 .len = m->entries[i]->data.len};
	}
	rm.entries = entries;
	rm.n_entries = m->n_entries;
	uint64_t before = raft_first_index(c->raft);
	int err = raft_step(c->raft, &rm);
	free(entries);
	if (rm.type == RAFT_MSG_SNAPSHOT) {
		if (!err && raft_first_index(c->raft) != before) {
			/* The core accepted it: keep the data for this turn's install. */
			free(c->incoming_snapshot);
			c->incoming_snapshot = c->receiving.data;
			c->incoming_snapshot_len = c->receiving.len;
			c->receiving.data = NULL;
		}
		snapshot_receiver_free(&c->receiving);
	}
	return err;
}

static void pack_and_send(struct cluster *c, const struct raft_msg *m, const struct snapshot *snap)
{
	Grove__RaftMessage rm = GROVE__RAFT_MESSAGE__INIT;
	rm.type = (uint32_t)m->type;
	rm.from = m->from;
	rm.to = m->to;
	rm.term = m->term;
	rm.log_term = m->log_term;
	rm.index = m->index;
	rm.commit = m->commit;
	rm.reject = m->reject;
	rm.reject_hint = m->reject_hint;
	rm.context = m->context;
	rm.snapshot_index = m->snapshot_index;
	rm.snapshot_term = m->snapshot_term;
	Grove__RaftEntry *ents = m->n_entries ? calloc(m->n_entries, sizeof(*ents)) : NULL;
	Grove__RaftEntry **ptrs = m->n_entries ? calloc(m->n_entries, sizeof(*ptrs)) : NULL;
	if (m->n_entries && (!ents || !ptrs)) {
		free(ents);
		free(ptrs);
		return; /* dropped: Raft retries */
	}
	for (size_t i = 0; i < m->n_entries; i++) {
		grove__raft_entry__init(&ents[i]);
		ents[i].index = m->entries[i].index;
		ents[i].term = m->entries[i].term;
		ents[i].type = m->entries[i].type;
		ents[i].data.data = m->entries[i].data;
		ents[i].data.len = m->entries[i].len;
		ptrs[i] = &ents[i];
	}
	rm.entries = ptrs;
	rm.n_entries = m->n_entries;
	uint64_t voters[RAFT_MAX_MEMBERS], learners[RAFT_MAX_MEMBERS];
	if (snap) {
		const struct raft_conf *conf = raft_conf(c->raft);
		memcpy(voters, conf->voters, conf->n_voters * sizeof(uint64_t));
		memcpy(learners, conf->learners, conf->n_learners * sizeof(uint64_t));
		rm.snapshot_voters = voters;
		rm.n_snapshot_voters = conf->n_voters;
		rm.snapshot_learners = learners;
		rm.n_snapshot_learners = conf->n_learners;
		/* The data reflects the applied index, which may be past the core's compaction point. */
		rm.snapshot_index = snap->applied_index;
		rm.snapshot_term = raft_term_at(c->raft, snap->applied_index);
		rm.snapshot_size = snap->len;
	}
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.version = 1;
	env.body_case = GROVE__ENVELOPE__BODY_RAFT;
	env.raft = &rm;
	size_t chunk = c->cfg.snapshot_chunk ? c->cfg.snapshot_chunk : DEFAULT_SNAPSHOT_CHUNK;
	size_t offset = 0;
	do {
		if (snap) {
			rm.snapshot_offset = offset;
			rm.snapshot_data.data = snap->data + offset;
			rm.snapshot_data.len = snap->len - offset < chunk ? snap->len - offset : chunk;
			offset += rm.snapshot_data.len;
		}
		size_t len = grove__envelope__get_packed_size(&env);
		uint8_t *buf = malloc(len);
		if (!buf)
			break; /* dropped: Raft retries */
		grove__envelope__pack(&env, buf);
		c->hooks.send(c->hooks.ctx, m->to, buf, len);
		free(buf);
	} while (snap && offset < snap->len);
	if (snap)
		note_snapshot_sent(c, m->to);
	free(ents);
	free(ptrs);
}

/* ---- the Ready cycle ---- */

/*
 * Install a snapshot that this turn's messages brought, with the membership it carries, and make it durable
 * before the log drops the entries it replaces (after a crash they could not be applied again). The store
 * notes the snapshot's index and term in the same transaction, so that a restart between the two finishes
 * the log's part (restore_state()).
 */
static int install_snapshot(struct cluster *c, const struct raft_ready *rd)
{
	char why[128] = "";
	if (!c->incoming_snapshot)
		return GROVE_ECORRUPT;
	size_t len = c->incoming_snapshot_len;
	struct store_txn *txn;
	int err = store_txn_begin(c->store, NULL, true, &txn);
	if (!err) {
		uint8_t conf[8 + 16 * RAFT_MAX_MEMBERS];
		err = snapshot_install_txn(txn, c->incoming_snapshot, len, why, sizeof(why));
		if (!err)
			err = raftlog_put_conf_state(txn, GROUP, conf, encode_conf(&rd->snapshot_conf, conf));
		if (!err)
			err = raftlog_compact(txn, GROUP, rd->snapshot_index, rd->snapshot_term);
		if (err)
			store_txn_abort(txn);
		else
			err = store_txn_commit(txn);
	}
	free(c->incoming_snapshot);
	c->incoming_snapshot = NULL;
	if (!err)
		err = store_sync(c->store);
	if (!err)
		err = wal_install_snapshot(c->wal, rd->snapshot_index, rd->snapshot_term);
	if (err) {
		log_line("raft: snapshot install failed: %s", why[0] ? why : grove_strerror(err));
		return err;
	}
	c->applied = rd->snapshot_index;
	log_line("raft: installed a snapshot of %zu bytes at index %llu", len, (unsigned long long)rd->snapshot_index);
	return GROVE_OK;
}

/*
 * Queue the log entries and the hard state, and make them durable with one write and one fdatasync. The
 * commit index is not worth a record of its own: after a crash it is learnt again from the leader (and
 * never below the applied index), so only term and vote changes count.
 */
static int persist(struct cluster *c, const struct raft_ready *rd)
{
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < rd->n_entries; i++) {
		const struct raft_entry *e = &rd->entries[i];
		struct raftlog_entry le = {e->index, e->term, e->type, e->data, e->len};
		err = wal_append(c->wal, &le, 1);
	}
	if (!err && rd->hard_state_changed && (rd->hard.term != c->saved_term || rd->hard.vote != c->saved_vote)) {
		struct raftlog_hard_state hs = {rd->hard.term, rd->hard.vote, rd->hard.commit};
		err = wal_set_hard_state(c->wal, &hs);
		if (!err) {
			c->saved_term = hs.term;
			c->saved_vote = hs.vote;
		}
	}
	return err ? err : wal_sync(c->wal);
}

/*
 * A committed restore: every member replaces its world with the snapshot, in the same transaction as the
 * applied index. The check that the world is empty is made here, at apply time, so that all members decide
 * alike even if a write committed between the leader's check and this entry. The membership is this
 * cluster's own, not the one the snapshot may carry.
 */
static int apply_restore(struct cluster *c, struct store_txn *txn, const ProtobufCBinaryData *snapshot,
			 struct tree_result *res)
{
	if (!tree_is_empty(txn)) {
		res->err = GROVE_EEXIST;
		snprintf(res->message, sizeof(res->message),
			 "restore needs an empty world; this one received writes meanwhile");
		return GROVE_OK;
	}
	int err = snapshot_install_txn(txn, snapshot->data, snapshot->len, res->message, sizeof(res->message));
	if (err == GROVE_ECORRUPT || err == GROVE_ETOOBIG) {
		/* Checked before anything changed; the leader verified it too, so this is not expected. */
		res->err = err;
		return GROVE_OK;
	}
	if (!err)
		err = save_members(c, txn);
	return err;
}

/* Apply committed entries and record the applied index, in @p txn. */
static int apply(struct cluster *c, const struct raft_ready *rd, struct store_txn *txn, struct cluster_applied *done)
{
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < rd->n_committed; i++) {
		const struct raft_entry *e = &rd->committed[i];
		done[i].index = e->index;
		done[i].term = e->term;
		if (e->index <= c->applied)
			continue; /* already in the state (a snapshot covered it) */
		if (e->type == RAFT_ENTRY_CONF_CHANGE) {
			raft_apply_conf_change(c->raft, e);
			uint8_t conf[8 + 16 * RAFT_MAX_MEMBERS];
			err = raftlog_put_conf_state(txn, GROUP, conf, encode_conf(raft_conf(c->raft), conf));
			/* A new member's address travels after the change itself. */
			uint64_t node = 0;
			for (int k = 0; k < 8 && e->len >= 9; k++)
				node |= (uint64_t)e->data[1 + k] << (8 * k);
			if (!err && e->len > 9 && add_member(c, node, (const char *)e->data + 9, e->len - 9)) {
				err = save_members(c, txn);
				c->hooks.member_added(c->hooks.ctx, node, c->cfg.peers[c->cfg.n_peers - 1].address);
			}
		} else if (e->len) {
			Grove__WriteRequest *wr = grove__write_request__unpack(NULL, e->len, e->data);
			struct wire_batch batch = {0};
			if (wr && wr->restore_snapshot.len) {
				err = apply_restore(c, txn, &wr->restore_snapshot, &done[i].result);
			} else if (!wr ||
				   wire_decode_batch(wr, &batch, done[i].result.message, sizeof(done[i].result.message))) {
				/* Proposals are validated before they enter the log; this cannot be the client's fault. */
				done[i].result.err = GROVE_ECORRUPT;
			} else {
				struct tree_batch tb = {batch.ops, batch.count};
				int aerr = tree_apply_batch(txn, &tb, &done[i].result);
				if (aerr == GROVE_ESTORAGE || aerr == GROVE_ENOMEM)
					err = aerr;
			}
			wire_batch_free(&batch);
			if (wr)
				grove__write_request__free_unpacked(wr, NULL);
		}
		if (!err)
			err = store_meta_put_u64(txn, "applied_index", e->index);
	}
	return err;
}

static void maybe_compact(struct cluster *c)
{
	uint64_t first = raft_first_index(c->raft);
	uint64_t at = c->cfg.compact_at ? c->cfg.compact_at : DEFAULT_COMPACT_AT;
	if (c->applied < first || c->applied - first < at)
		return;
	uint64_t upto = c->applied - at / 4;
	uint64_t term = raft_term_at(c->raft, upto);
	/* The entries dropped from the log must never be needed again: the state they made is durable first. */
	if (flush_applied(c) != GROVE_OK || store_sync(c->store) != GROVE_OK)
		return;
	if (wal_compact(c->wal, upto, term) != GROVE_OK) {
		log_line("raft: cannot compact the log; it keeps growing");
		return;
	}
	raft_compact(c->raft, upto);
}

static void send_messages(struct cluster *c, const struct raft_ready *rd, bool leader_appends)
{
	struct snapshot snap = {0};
	for (size_t i = 0; i < rd->n_msgs; i++) {
		const struct raft_msg *m = &rd->msgs[i];
		bool early = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT;
		if (early != leader_appends)
			continue;
		if (m->type == RAFT_MSG_SNAPSHOT && !snap.data && (flush_applied(c) || snapshot_create(c->store, 0, &snap))) {
			raft_report_snapshot(c->raft, m->to, false);
			continue;
		}
		pack_and_send(c, m, m->type == RAFT_MSG_SNAPSHOT ? &snap : NULL);
	}
	snapshot_free(&snap);
}

int cluster_process(struct cluster *c)
{
	for (int rounds = 0; rounds < 16 && raft_has_ready(c->raft); rounds++) {
		struct raft_ready rd;
		raft_ready(c->raft, &rd);
		/*
		 * A leader's appends may leave before its own write (dissertation §10.2.1): its entries count
		 * toward a quorum only once persisted, so followers' disks work in parallel with its own.
		 */
		send_messages(c, &rd, true);
		if (c->hooks.flush)
			c->hooks.flush(c->hooks.ctx);
		int err = GROVE_OK;
		if (rd.install_snapshot) {
			err = flush_applied(c);
			if (!err)
				err = install_snapshot(c, &rd);
			if (!err)
				c->applied_visible = c->applied;
		}
		/* Entries and term/vote are made durable with one write and one fdatasync of the log. */
		if (!err)
			err = persist(c, &rd);
		if (err) {
			log_line("raft: cannot persist: %s", grove_strerror(err));
			return err;
		}
		/* Votes and acknowledgements only once what they promise is durable. */
		send_messages(c, &rd, false);
		if (rd.n_committed) {
			struct cluster_applied *done = calloc(rd.n_committed, sizeof(*done));
			if (!done)
				return GROVE_ENOMEM;
			if (!c->pending_txn)
				err = store_txn_begin(c->store, NULL, true, &c->pending_txn);
			if (!err)
				err = apply(c, &rd, c->pending_txn, done);
			if (err) {
				store_txn_abort(c->pending_txn);
				c->pending_txn = NULL;
				free(done);
				log_line("raft: cannot apply: %s", grove_strerror(err));
				return err;
			}
			uint64_t last = rd.committed[rd.n_committed - 1].index;
			if (last > c->applied)
				c->applied = last;
			for (size_t i = 0; i < rd.n_committed; i++) {
				c->hooks.applied(c->hooks.ctx, &done[i]);
				tree_result_free(&done[i].result);
			}
			free(done);
		}
		for (size_t i = 0; i < rd.n_reads; i++) {
			if (grove_grow((void **)&c->reads, &c->cap_reads, c->n_reads, sizeof(*c->reads)))
				break;
			c->reads[c->n_reads++] = (struct pending_read){rd.reads[i].context, rd.reads[i].index};
		}
		raft_advance(c->raft, &rd);
	}
	/* Reads see the store: make what they wait for visible first. */
	bool ready_read = false;
	for (size_t i = 0; i < c->n_reads && !ready_read; i++)
		ready_read = c->reads[i].index <= c->applied;
	if (ready_read && flush_applied(c) != GROVE_OK)
		return GROVE_ESTORAGE;
	size_t kept = 0;
	for (size_t i = 0; i < c->n_reads; i++) {
		if (c->reads[i].index <= c->applied_visible)
			c->hooks.read_ready(c->hooks.ctx, c->reads[i].context);
		else
			c->reads[kept++] = c->reads[i];
	}
	c->n_reads = kept;
	maybe_compact(c);
	return GROVE_OK;
}

int cluster_propose(struct cluster *c, const uint8_t *request, size_t len, uint64_t *index, uint64_t *term)
{
	*term = raft_term(c->raft);
	return raft_propose(c->raft, request, len, index);
}

int cluster_read(struct cluster *c, uint64_t context)
{
	return raft_read_index(c->raft, context);
}

int cluster_transfer(struct cluster *c, uint64_t to)
{
	return raft_transfer_leader(c->raft, to);
}

int cluster_change_membership(struct cluster *c, enum raft_conf_op op, uint64_t node, const char *address)
{
	struct raft_conf_change cc = {op, node};
	size_t alen = address ? strlen(address) : 0;
	if (op == RAFT_CONF_ADD_LEARNER && (alen == 0 || alen >= sizeof(c->cfg.peers[0].address) || !strchr(address, ':')))
		return GROVE_EINVAL;
	uint64_t index;
	return raft_propose_conf_change_with(c->raft, &cc, address, op == RAFT_CONF_ADD_LEARNER ? alen : 0, &index);
}

const char *cluster_leader_address(const struct cluster *c)
{
	uint64_t lead = raft_leader(c->raft);
	if (lead == c->cfg.id)
		return "";
	for (size_t i = 0; i < c->cfg.n_peers; i++)
		if (c->cfg.peers[i].id == lead)
			return c->cfg.peers[i].address;
	return "";
}

void cluster_status(const struct cluster *c, enum raft_role *role, uint64_t *term, uint64_t *leader,
		    uint64_t *commit, uint64_t *applied)
{
	*role = raft_role(c->raft);
	*term = raft_term(c->raft);
	*leader = raft_leader(c->raft);
	*commit = raft_commit(c->raft);
	*applied = c->applied;
}

size_t cluster_members(const struct cluster *c, struct cluster_peer *out, uint64_t *match, bool *voter, size_t cap)
{
	size_t n = 0;
	const struct raft_conf *conf = raft_conf(c->raft);
	for (size_t i = 0; i < c->cfg.n_peers && n < cap; i++) {
		uint64_t id = c->cfg.peers[i].id;
		if (!raft_conf_has_voter(conf, id) && !raft_conf_has_learner(conf, id))
			continue; /* removed, or not added yet */
		out[n] = c->cfg.peers[i];
		match[n] = raft_match(c->raft, c->cfg.peers[i].id);
		voter[n] = raft_conf_has_voter(raft_conf(c->raft), c->cfg.peers[i].id);
		n++;
	}
	return n;
}
