#include "src/server/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/clock.h"
#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/server/groupstate.h"
#include "src/server/log.h"
#include "src/server/logwriter.h"
#include "src/server/migrate.h"
#include "src/server/tree_sm.h"

/* Ticks between commits of the applied state when nothing else asks for one (each costs an fdatasync). */
#define APPLIED_COMMIT_TICKS 10

/* A write waiting for its entry to be applied. */
struct proposal {
	struct host_ticket ticket;
	uint64_t term;         /* the term it was proposed in: another term's entry at its index means it was lost */
	uint64_t flush;        /* the log flush that holds it: the one after those started when it was proposed */
	uint64_t durable_ns;   /* when that flush finished */
	bool restore;
};

/* A linearizable read waiting for its index. */
struct waiting_read {
	struct host_ticket ticket;
	uint64_t group;
	uint8_t *request;      /* owned */
	size_t len;
};

/* A submit waiting for its key to be applied here. */
struct submit {
	struct host_ticket ticket;
	uint64_t group;
	char key[128];
	uint64_t deadline_ms;
};

/* A submit not applied within this many ms is answered with a retryable error. */
#define SUBMIT_TIMEOUT_MS 60000

/* A message that waits until the log flush @p after is durable. */
struct held {
	uint64_t after;
	uint64_t to;
	uint8_t *msg;          /* packed, owned */
	size_t len;
};

struct group {
	uint64_t id;
	struct replica *replica;
	struct tree_sm tree;
	bool was_leader;       /* at the end of the last process: reads wait only at a leader */
	uint64_t term;         /* likewise: the submits waiting here were proposed, or passed on, in it */
};

struct host {
	struct host_config cfg;
	struct host_hooks hooks;
	struct store *store;
	store_db state_db;
	struct history history;        /* what every applied entry changed */
	struct wal *wal;
	struct logwriter *writer;
	struct membership book;        /* every member known */
	struct group *groups;
	size_t n_groups, cap_groups;
	struct store_txn *apply_txn;   /* applied and not yet committed */
	unsigned ticks_since_commit;
	/* Log flushes: the one forming gets seq flushed + 1 (+1 again while one runs). */
	uint64_t flushes_started, flushes_done;
	bool flush_collected;          /* a flush finished while a replica was busy: tell them at the next safe point */
	int failed;                    /* a flush failed: stop */
	struct held *held;
	size_t n_held, cap_held;
	struct idmap proposals;        /* (group, index) -> struct proposal */
	struct idmap reads;            /* (0, context) -> struct waiting_read */
	uint64_t next_context;
	uint64_t writes_applied;
	struct submit *submits;        /* waiting, oldest first */
	size_t n_submits, cap_submits;
	struct grove_buf history_record; /* reused for each entry's record */
};

static struct group *group_of(const struct host *h, uint64_t id)
{
	for (size_t i = 0; i < h->n_groups; i++)
		if (h->groups[i].id == id)
			return &h->groups[i];
	return NULL;
}

/* ---- the apply transaction ---- */

static struct store_txn *apply_txn(void *ctx)
{
	struct host *h = ctx;
	if (!h->apply_txn && store_txn_begin(h->store, NULL, true, &h->apply_txn) != GROVE_OK)
		h->apply_txn = NULL;
	return h->apply_txn;
}

static int commit_applied(void *ctx)
{
	struct host *h = ctx;
	if (!h->apply_txn)
		return GROVE_OK;
	int err = store_txn_commit(h->apply_txn);
	h->apply_txn = NULL;
	h->ticks_since_commit = 0;
	return err;
}

/* ---- the log ---- */

/* Collect a finished flush (waiting for it with @p wait); the replicas hear of it at the next safe point. */
static void collect_flush(struct host *h, bool wait)
{
	int result;
	if (!logwriter_collect(h->writer, wait, &result))
		return;
	wal_flush_end(h->wal, result);
	if (result) {
		log_line("the Raft log cannot be written: %s; stopping to protect the data", grove_strerror(result));
		h->failed = result;
		return;
	}
	h->flushes_done++;
	h->flush_collected = true;
}

static void drain_log(void *ctx)
{
	collect_flush(ctx, true);
}

struct durable_at {
	uint64_t flush, ns;
};

static void stamp_durable(void *ctx, uint64_t group, uint64_t index, void *value)
{
	(void)group, (void)index;
	const struct durable_at *d = ctx;
	struct proposal *p = value;
	if (!p->durable_ns && p->flush <= d->flush)
		p->durable_ns = d->ns;
}

/* Tell the replicas the last flush is durable, and send what waited for it. */
static void finish_flush(struct host *h)
{
	if (!h->flush_collected)
		return;
	h->flush_collected = false;
	for (size_t i = 0; i < h->n_groups; i++)
		replica_flush_done(h->groups[i].replica);
	struct durable_at d = {h->flushes_done, grove_realtime_ns()};
	idmap_for_each(&h->proposals, stamp_durable, &d);
	size_t kept = 0;
	for (size_t i = 0; i < h->n_held; i++) {
		struct held *m = &h->held[i];
		if (m->after <= h->flushes_done) {
			h->hooks.send(h->hooks.ctx, m->to, m->msg, m->len);
			free(m->msg);
		} else {
			h->held[kept++] = *m;
		}
	}
	h->n_held = kept;
}

static void start_flush(struct host *h)
{
	if (h->failed || logwriter_busy(h->writer) || !wal_flush_begin(h->wal))
		return;
	h->flushes_started++;
	for (size_t i = 0; i < h->n_groups; i++)
		replica_flush_taken(h->groups[i].replica);
	logwriter_submit(h->writer);
}

int host_log_fd(const struct host *h)
{
	return logwriter_fd(h->writer);
}

void host_log_event(struct host *h)
{
	collect_flush(h, false);
	finish_flush(h);
}

/* ---- replica hooks ---- */

static void replica_send(void *ctx, uint64_t to, const Grove__RaftMessage *pb, bool after_persist)
{
	struct host *h = ctx;
	size_t len = grove__raft_message__get_packed_size(pb);
	/* What is queued now goes in the next flush; without anything queued, the running one covers it. */
	uint64_t after = wal_pending(h->wal)         ? h->flushes_started + 1
			 : logwriter_busy(h->writer) ? h->flushes_started
						     : h->flushes_done;
	if (!after_persist || after <= h->flushes_done) {
		uint8_t stack[512];
		uint8_t *buf = len <= sizeof(stack) ? stack : malloc(len);
		if (!buf)
			return; /* dropped: Raft sends again */
		grove__raft_message__pack(pb, buf);
		h->hooks.send(h->hooks.ctx, to, buf, len);
		if (buf != stack)
			free(buf);
		return;
	}
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf || grove_grow((void **)&h->held, &h->cap_held, h->n_held, sizeof(*h->held))) {
		free(buf);
		return;
	}
	grove__raft_message__pack(pb, buf);
	h->held[h->n_held++] = (struct held){after, to, buf, len};
}

static size_t replica_backlog(void *ctx, uint64_t to)
{
	struct host *h = ctx;
	return h->hooks.backlog(h->hooks.ctx, to);
}

/* Answer the submits waiting for key @p key: the entry at @p index carried it. */
static void submits_applied(struct host *h, uint64_t group, uint64_t index, const struct tree_result *res)
{
	size_t kept = 0;
	for (size_t i = 0; i < h->n_submits; i++) {
		struct submit *s = &h->submits[i];
		if (s->group == group && strcmp(s->key, res->key) == 0)
			h->hooks.submit_done(h->hooks.ctx, &s->ticket, s->key, res->duplicate_of ? res->duplicate_of : index,
					     res->err, res->message, res->failed_op);
		else
			h->submits[kept++] = *s;
	}
	h->n_submits = kept;
}

/* Keep what entry @p index changed, in the same transaction that applied it. */
static void record_history(struct host *h, uint64_t group, uint64_t index, const struct tree_result *res)
{
	/* Every entry has a record, an empty one when it changed nothing: a gap then means compacted. */
	struct store_txn *txn = apply_txn(h);
	h->history_record.len = 0;
	int err = history_encode(res ? res->changes : NULL, res ? res->n_changes : 0, &h->history_record);
	if (!err)
		err = txn ? history_append(&h->history, txn, group, index, h->history_record.data, h->history_record.len)
			  : GROVE_ESTORAGE;
	if (err) {
		log_line("cannot keep the changes of entry %llu: %s", (unsigned long long)index, grove_strerror(err));
		h->failed = err;
	}
}

static void replica_applied(void *ctx, struct replica *r, const struct replica_applied *a)
{
	struct host *h = ctx;
	uint64_t group = replica_group(r);
	const struct tree_result *res = a->result;
	if (res)
		h->writes_applied++;
	record_history(h, group, a->index, res);
	if (h->cfg.hub)
		h->cfg.hub->publish(h->cfg.hub->ctx, group, a->index, res ? res->changes : NULL, res ? res->n_changes : 0);
	if (res && res->key[0] && h->n_submits)
		submits_applied(h, group, a->index, res);
	struct proposal *p = idmap_remove(&h->proposals, group, a->index);
	if (!p)
		return;
	static const struct tree_result none;
	struct host_write_done w = {.group = group, .index = res && res->duplicate_of ? res->duplicate_of : a->index,
				    .restore = p->restore, .durable_ns = p->durable_ns};
	if (p->term != a->term) {
		w.code = GROVE_EUNAVAILABLE;
		w.message = p->restore ? "the restore was lost in a leadership change; retry"
				       : "the write was lost in a leadership change; retry";
	} else {
		if (!res)
			res = &none;
		w.code = res->err;
		w.message = res->message;
		w.failed_op = res->failed_op;
		if (!res->err) {
			w.ids = res->ids;
			w.n_ids = res->count;
		}
	}
	h->hooks.write_done(h->hooks.ctx, &p->ticket, &w);
	free(p);
}

static void replica_read_ready(void *ctx, struct replica *r, uint64_t context)
{
	(void)r;
	struct host *h = ctx;
	struct waiting_read *w = idmap_remove(&h->reads, 0, context);
	if (!w)
		return;
	h->hooks.read_ready(h->hooks.ctx, &w->ticket, w->request, w->len);
	free(w->request);
	free(w);
}

static void learn_member(struct host *h, uint64_t id, const char *address)
{
	if (!membership_add(&h->book, id, address, strlen(address)))
		return;
	struct store_txn *txn = apply_txn(h);
	if (!txn || groupstate_save_members(txn, h->state_db, &h->book) != GROVE_OK)
		log_line("cannot save the address of member %llu; it is learnt again from the log", (unsigned long long)id);
	if (id != h->cfg.self)
		h->hooks.member_added(h->hooks.ctx, id, address);
}

static void replica_member_address(void *ctx, uint64_t id, const char *address)
{
	learn_member(ctx, id, address);
}

/* ---- start and stop ---- */

static int open_group(struct host *h, uint64_t id, const struct wal_contents *log)
{
	if (grove_grow((void **)&h->groups, &h->cap_groups, h->n_groups, sizeof(*h->groups)))
		return GROVE_ENOMEM;
	struct group *g = &h->groups[h->n_groups];
	memset(g, 0, sizeof(*g));
	g->id = id;
	int err = tree_sm_open(h->store, id, &g->tree);
	if (err)
		return err;
	/* The history keeps every entry's changes, subscribers or not. */
	g->tree.record_changes = true;
	struct replica_env env = {.store = h->store, .state_db = h->state_db, .wal = h->wal, .ctx = h,
				  .apply_txn = apply_txn, .commit_applied = commit_applied, .drain_log = drain_log,
				  .send = replica_send, .backlog = replica_backlog, .applied = replica_applied,
				  .read_ready = replica_read_ready, .member_address = replica_member_address};
	struct replica_config rc = {.group = id, .self = h->cfg.self, .founders = h->cfg.join ? NULL : &h->cfg.founders,
				    .compact_at = h->cfg.compact_at, .snapshot_chunk = h->cfg.snapshot_chunk,
				    .max_msg_bytes = h->cfg.max_msg_bytes, .seed = h->cfg.self * 7919 + id * 104729 + grove_realtime_ns()};
	err = replica_open(&rc, &env, wal_contents_group(log, id), (struct state_machine){&tree_sm_ops, &g->tree},
			   &g->replica);
	if (err)
		return err;
	h->n_groups++;
	replica_campaign_if_alone(g->replica);
	return GROVE_OK;
}

int host_open(const struct host_config *cfg, const struct host_hooks *hooks, struct host **out)
{
	*out = NULL;
	struct host *h = calloc(1, sizeof(*h));
	if (!h)
		return GROVE_ENOMEM;
	h->cfg = *cfg;
	h->hooks = *hooks;
	h->book = cfg->founders;
	char log_dir[4096];
	snprintf(log_dir, sizeof(log_dir), "%s/raft-log", cfg->data_dir);
	/* The log replays whatever a crash undid in the store (wal.h), so store commits need one sync, not two. */
	struct store_options opts = {.no_sync = cfg->no_sync, .lazy_sync = true};
	struct wal_contents log = {0};
	int err = store_open(&h->store, cfg->data_dir, &opts);
	if (!err)
		err = groupstate_open(h->store, &h->state_db);
	if (!err)
		err = history_open(h->store, cfg->history_entries, cfg->history_bytes, &h->history);
	if (!err)
		err = migrate_data_dir(h->store, h->state_db, log_dir, cfg->join ? NULL : &cfg->founders, cfg->self);
	if (!err)
		err = wal_open(&h->wal, log_dir, &log);
	if (!err && log.torn_tail)
		log_line("raft: cut off the end of the log that a crash interrupted (never acknowledged)");
	if (!err && cfg->no_sync)
		wal_skip_sync(h->wal);
	if (!err) {
		struct store_txn *txn;
		err = store_txn_begin(h->store, NULL, false, &txn);
		if (!err) {
			err = groupstate_load_members(txn, h->state_db, &h->book);
			store_txn_abort(txn);
		}
	}
	if (!err)
		err = open_group(h, HOST_WORLD_GROUP, &log);
	wal_contents_free(&log);
	if (!err)
		err = commit_applied(h);
	if (!err)
		err = logwriter_start(h->wal, &h->writer);
	if (err) {
		host_close(h);
		return err;
	}
	for (size_t i = 0; i < h->book.n; i++)
		if (h->book.members[i].id != cfg->self)
			hooks->member_added(hooks->ctx, h->book.members[i].id, h->book.members[i].address);
	*out = h;
	return GROVE_OK;
}

static void free_read(void *ctx, uint64_t a, uint64_t b, void *value)
{
	(void)ctx, (void)a, (void)b;
	struct waiting_read *w = value;
	free(w->request);
	free(w);
}

static void free_value(void *ctx, uint64_t a, uint64_t b, void *value)
{
	(void)ctx, (void)a, (void)b;
	free(value);
}

void host_close(struct host *h)
{
	if (!h)
		return;
	if (h->writer) {
		collect_flush(h, true);
		logwriter_stop(h->writer);
	}
	commit_applied(h);
	for (size_t i = 0; i < h->n_groups; i++)
		replica_close(h->groups[i].replica);
	free(h->groups);
	for (size_t i = 0; i < h->n_held; i++)
		free(h->held[i].msg);
	free(h->held);
	idmap_for_each(&h->proposals, free_value, NULL);
	idmap_free(&h->proposals);
	idmap_for_each(&h->reads, free_read, NULL);
	idmap_free(&h->reads);
	free(h->submits);
	grove_buf_free(&h->history_record);
	wal_close(h->wal);
	store_close(h->store);
	free(h);
}

/* ---- the turn ---- */

/* What waits at one group: read contexts, or proposals' indices. */
struct group_reads {
	uint64_t group;
	uint64_t *contexts;
	size_t n, cap;
};

static void collect_reads_of(void *ctx, uint64_t a, uint64_t context, void *value)
{
	(void)a;
	struct group_reads *r = ctx;
	const struct waiting_read *w = value;
	if (w->group == r->group && !grove_grow((void **)&r->contexts, &r->cap, r->n, sizeof(*r->contexts)))
		r->contexts[r->n++] = context;
}

/* A leader that lost its leadership will never confirm the reads waiting at it: answer them now. */
static void fail_reads_of(struct host *h, uint64_t group)
{
	struct group_reads r = {.group = group};
	idmap_for_each(&h->reads, collect_reads_of, &r);
	for (size_t i = 0; i < r.n; i++) {
		struct waiting_read *w = idmap_remove(&h->reads, 0, r.contexts[i]);
		h->hooks.read_failed(h->hooks.ctx, &w->ticket, GROVE_EUNAVAILABLE,
				     "the read was lost in a leadership change; retry");
		free(w->request);
		free(w);
	}
	free(r.contexts);
}

static void collect_proposals_of(void *ctx, uint64_t group, uint64_t index, void *value)
{
	(void)value;
	struct group_reads *r = ctx;
	if (group == r->group && !grove_grow((void **)&r->contexts, &r->cap, r->n, sizeof(*r->contexts)))
		r->contexts[r->n++] = index;
}

/*
 * A leader that stepped down will not see its proposals through: answer them now rather than at the client's
 * timeout. Not as lost: one that reached a quorum may still be committed by the next leader.
 */
static void fail_proposals_of(struct host *h, uint64_t group)
{
	struct group_reads r = {.group = group};
	idmap_for_each(&h->proposals, collect_proposals_of, &r);
	for (size_t i = 0; i < r.n; i++) {
		struct proposal *p = idmap_remove(&h->proposals, group, r.contexts[i]);
		struct host_write_done w = {.group = group, .index = r.contexts[i], .restore = p->restore,
					    .code = GROVE_EUNAVAILABLE,
					    .message = "the leader stepped down before this was committed: it may or may "
						       "not be applied (a write with a submit key can be retried safely)"};
		h->hooks.write_done(h->hooks.ctx, &p->ticket, &w);
		free(p);
	}
	free(r.contexts);
}

/* Answer the submits of @p group (0: of every group) with a retryable error: all of them, or with @p now
 * only those past their deadline. */
static void fail_submits(struct host *h, uint64_t group, uint64_t now, const char *why)
{
	size_t kept = 0;
	for (size_t i = 0; i < h->n_submits; i++) {
		struct submit *s = &h->submits[i];
		if ((group && s->group != group) || (now && now < s->deadline_ms))
			h->submits[kept++] = *s;
		else
			h->hooks.submit_done(h->hooks.ctx, &s->ticket, s->key, 0, GROVE_EUNAVAILABLE, why, 0);
	}
	h->n_submits = kept;
}

int host_process(struct host *h)
{
	finish_flush(h);
	for (size_t i = 0; i < h->n_groups && !h->failed; i++) {
		struct group *g = &h->groups[i];
		if (replica_has_ready(g->replica)) {
			int err = replica_process(g->replica);
			if (err)
				return err;
			finish_flush(h); /* a flush collected by an install or a compaction */
		}
		struct replica_status st;
		replica_status(g->replica, &st);
		bool leader = st.role == RAFT_LEADER;
		if (g->was_leader && !leader) {
			fail_reads_of(h, g->id);
			fail_proposals_of(h, g->id);
		}
		g->was_leader = leader;
		/* A new term: a batch waiting here went to a leader that may have died with it, or to a member that
		 * no longer leads and dropped it, and nothing would apply it before the timeout. Told now, the
		 * client sends it again with its key, which is applied at most once. Not on a mere loss of the
		 * leader: a pre-vote that finds the leader alive changes no term, and its batches still come. */
		if (g->term && st.term != g->term)
			fail_submits(h, g->id, 0, "the leader changed before it was applied; retry with the same key");
		g->term = st.term;
	}
	start_flush(h);
	for (size_t i = 0; i < h->n_groups && !h->failed; i++)
		replica_maybe_compact(h->groups[i].replica);
	finish_flush(h);
	return h->failed;
}

void host_tick(struct host *h)
{
	fail_submits(h, 0, grove_monotonic_ms(), "not applied in time (a leadership change?); retry with the same key");
	for (size_t i = 0; i < h->n_groups; i++)
		replica_tick(h->groups[i].replica);
	if (h->apply_txn && ++h->ticks_since_commit >= APPLIED_COMMIT_TICKS && commit_applied(h) != GROVE_OK)
		h->failed = GROVE_ESTORAGE;
}

/* ---- requests ---- */

int host_step(struct host *h, uint64_t from, const Grove__RaftMessage *m)
{
	struct group *g = group_of(h, m->group ? m->group : 1);
	if (!g || m->from != from || m->to != h->cfg.self)
		return GROVE_EINVAL;
	return replica_step(g->replica, m);
}

int host_propose(struct host *h, uint64_t group, const struct host_ticket *t, int kind, const void *body, size_t len)
{
	struct group *g = group_of(h, group);
	if (!g)
		return GROVE_EINVAL;
	uint8_t *cmd;
	size_t cmd_len = tree_sm_command((enum tree_cmd)kind, body, len, &cmd);
	struct proposal *p = calloc(1, sizeof(*p));
	if (!cmd_len || !p) {
		free(cmd);
		free(p);
		return GROVE_ENOMEM;
	}
	uint64_t index;
	int err = replica_propose(g->replica, cmd, cmd_len, &index, &p->term);
	free(cmd);
	if (!err) {
		p->ticket = *t;
		p->restore = kind == TREE_CMD_RESTORE;
		p->flush = h->flushes_started + 1;
		err = idmap_put(&h->proposals, group, index, p);
	}
	if (err)
		free(p);
	return err;
}

int host_submit(struct host *h, uint64_t group, const struct host_ticket *t, const char *key, const void *request,
		size_t len)
{
	struct group *g = group_of(h, group);
	if (!g || strlen(key) >= sizeof(h->submits[0].key))
		return GROVE_EINVAL;
	struct replica_status st;
	replica_status(g->replica, &st);
	if (st.role != RAFT_LEADER && (!st.leader || st.leader == h->cfg.self))
		return GROVE_EUNAVAILABLE;
	uint8_t *cmd;
	size_t cmd_len = tree_sm_command(TREE_CMD_WRITE, request, len, &cmd);
	if (!cmd_len || grove_grow((void **)&h->submits, &h->cap_submits, h->n_submits, sizeof(*h->submits))) {
		free(cmd);
		return GROVE_ENOMEM;
	}
	int err = GROVE_OK;
	if (st.role == RAFT_LEADER) {
		uint64_t index, term;
		err = replica_propose(g->replica, cmd, cmd_len, &index, &term);
	} else {
		/* The leader proposes it; this member answers when it applies it, as every member does. */
		h->hooks.forward(h->hooks.ctx, st.leader, group, cmd, cmd_len);
	}
	free(cmd);
	if (err)
		return err;
	struct submit *s = &h->submits[h->n_submits++];
	*s = (struct submit){.ticket = *t, .group = group, .deadline_ms = grove_monotonic_ms() + SUBMIT_TIMEOUT_MS};
	snprintf(s->key, sizeof(s->key), "%s", key);
	return GROVE_OK;
}

void host_forwarded(struct host *h, uint64_t from, uint64_t group, const uint8_t *data, size_t len)
{
	struct group *g = group_of(h, group);
	uint64_t index, term;
	/* Not the leader (any more): dropped; the client retries with the same key, which applies once. */
	if (g && len && replica_propose(g->replica, data, len, &index, &term) != GROVE_OK)
		log_line("a command member %llu passed on was dropped: this member does not lead group %llu",
			 (unsigned long long)from, (unsigned long long)group);
}

uint64_t host_applied(const struct host *h, uint64_t group)
{
	struct group *g = group_of(h, group);
	if (!g)
		return 0;
	struct replica_status st;
	replica_status(g->replica, &st);
	return st.applied;
}

int host_read(struct host *h, uint64_t group, const struct host_ticket *t, const uint8_t *request, size_t len)
{
	struct group *g = group_of(h, group);
	if (!g)
		return GROVE_EINVAL;
	struct waiting_read *w = calloc(1, sizeof(*w));
	uint8_t *copy = malloc(len ? len : 1);
	if (!w || !copy) {
		free(w);
		free(copy);
		return GROVE_ENOMEM;
	}
	memcpy(copy, request, len);
	*w = (struct waiting_read){.ticket = *t, .group = group, .request = copy, .len = len};
	uint64_t context = ++h->next_context;
	int err = idmap_put(&h->reads, 0, context, w);
	if (!err) {
		err = replica_read(g->replica, context);
		if (err)
			idmap_remove(&h->reads, 0, context);
	}
	if (err) {
		free(copy);
		free(w);
	}
	return err;
}

int host_admin(struct host *h, uint64_t group, int op, uint64_t node, const char *address)
{
	struct group *g = group_of(h, group);
	if (!g)
		return GROVE_EINVAL;
	if (op == 0)
		return replica_transfer(g->replica, node);
	return replica_change_membership(g->replica, (enum raft_conf_op)op, node, address);
}

const struct history *host_history(const struct host *h)
{
	return &h->history;
}

int host_commit_applied(struct host *h)
{
	return commit_applied(h);
}

struct store *host_store(const struct host *h)
{
	return h->store;
}

const struct tree *host_tree(const struct host *h, uint64_t group)
{
	struct group *g = group_of(h, group);
	return g ? &g->tree.tree : NULL;
}

const char *host_leader_address(const struct host *h, uint64_t group)
{
	struct group *g = group_of(h, group);
	if (!g)
		return "";
	struct replica_status st;
	replica_status(g->replica, &st);
	const struct member *m = st.leader && st.leader != h->cfg.self ? membership_find(&h->book, st.leader) : NULL;
	return m ? m->address : "";
}

int host_status(const struct host *h, uint64_t group, struct host_status *out)
{
	struct group *g = group_of(h, group);
	if (!g)
		return GROVE_EINVAL;
	memset(out, 0, sizeof(*out));
	replica_status(g->replica, &out->group);
	uint64_t ids[RAFT_MAX_MEMBERS], match[RAFT_MAX_MEMBERS];
	bool voter[RAFT_MAX_MEMBERS];
	size_t n = replica_members(g->replica, ids, voter, match, RAFT_MAX_MEMBERS);
	for (size_t i = 0; i < n; i++) {
		const struct member *m = membership_find(&h->book, ids[i]);
		out->members[i].id = ids[i];
		snprintf(out->members[i].address, sizeof(out->members[i].address), "%s", m ? m->address : "");
		out->members[i].voter = voter[i];
		out->members[i].match = match[i];
	}
	out->n_members = n;
	out->writes_applied = h->writes_applied;
	out->log_flushes = h->flushes_done;
	return GROVE_OK;
}

int host_snapshot(struct host *h, uint64_t group, struct snapshot *out)
{
	struct group *g = group_of(h, group);
	return g ? replica_snapshot(g->replica, out) : GROVE_EINVAL;
}
