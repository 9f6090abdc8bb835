#include "src/server/host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/server/groupstate.h"
#include "src/server/log.h"
#include "src/server/logwriter.h"
#include "src/server/migrate.h"
#include "src/server/shard_sm.h"
#include "src/server/tree_sm.h"
#include "src/txn/shard.h"
#include "storage/dirlock.h"

/* Ticks between commits of the applied state when nothing else asks for one (each costs an fdatasync). */
#define APPLIED_COMMIT_TICKS 10
/* Ticks between two looks for groups this member lacks, and before a step of a split is asked for again (its
 * command was lost, or its source's leader changed); the meta group's leader looks at running splits every turn. */
#define SPLIT_DRIVE_TICKS 10
#define SPLIT_RETRY_TICKS 100
/* How long a start waits for the data directory's previous holder to exit (one killed a moment ago). */
#define DIR_LOCK_WAIT_MS 2000
/* How far behind its group's commit index a learner may be and be promoted (entries). */
#define PROMOTE_LAG 16
/* A group born by a split starts from a snapshot at this index and term: its state as the split left it. */
#define BIRTH_TERM 1
/* A quiesced follower whose leader's server has been silent this long wakes (and may elect another leader).
 * Servers send each other something at least every TRANSPORT_KEEPALIVE_MS (transport.h). */
#define PEER_SILENCE_MS 1000
/* A `shard split` not finished within this many ms is answered "still running". */
#define SPLIT_WAIT_MS 120000

/* A write waiting for its entry to be applied. */
struct proposal {
	struct host_ticket ticket;
	uint64_t term;         /* the term it was proposed in: another term's entry at its index means it was lost */
	uint64_t flush;        /* the log flush that holds it: the one after those started when it was proposed */
	uint64_t durable_ns;   /* when that flush finished */
	uint64_t proposed_ns;  /* when it was handed to Raft */
	bool restore;
	bool shard_split;      /* a START_SPLIT of the meta group: answered once the split ends (struct split_wait) */
};

/* A `shard split` waiting for its split to end (switched or aborted). */
struct split_wait {
	struct host_ticket ticket;
	uint64_t group;        /* the split's new group */
	uint64_t deadline_ms;
};

/* When the meta group's leader may ask for a step of a split again. */
struct split_drive {
	uint64_t group;
	int step;              /* the step asked for last: 1 the move, 2 the switch or the abort */
	uint64_t next_tick;
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

/* A command sent (host_send_command()) while a replica applied: proposed once no Ready cycle runs. */
struct deferred_command {
	uint64_t group;
	uint8_t *cmd;          /* entry data, owned */
	size_t len;
};

/*
 * A full disk. New writes are refused (GROVE_ENOSPC) while the data directory's file system has less than
 * DISK_RESERVE_BYTES free, or while the log cannot write a batch: the reserve is the room that the writes
 * already accepted need to be applied in the store, whose commits (unlike the log's flushes, which keep
 * their batch and retry) cannot be undone and done again. A flush that found the disk full is tried again
 * after a backoff doubling from FLUSH_RETRY_MIN_MS to FLUSH_RETRY_MAX_MS; the state is logged when it
 * starts, at most once every DISK_FULL_LOG_MS while it lasts, and when it ends.
 */
#define DISK_RESERVE_BYTES ((uint64_t)4 << 20)
#define DISK_CHECK_MS 200
#define FLUSH_RETRY_MIN_MS 50
#define FLUSH_RETRY_MAX_MS 2000
#define DISK_FULL_LOG_MS 10000

/*
 * Where the log is synced. The writer thread lets the next batch form while the disk syncs the last one, which
 * is what a busy leader needs; but handing a flush to it and hearing back costs two thread wake-ups, each
 * tens of microseconds where an idle CPU must be woken (a virtual machine's most of all), and on a follower
 * both lie on every write's path: its acknowledgement waits for the sync. So a member that leads no group
 * syncs in the loop, which has nothing else to do meanwhile (what arrives is read at the next turn, in one
 * batch), and so does a leader whose batch is at most INLINE_FLUSH_MAX_BYTES (a client or two writing one at
 * a time), after sending its appends so that the followers' syncs run beside its own. A larger batch with
 * entries of a group led here goes to the thread (measured: with 8 clients or more, syncing such batches in
 * the loop costs a tenth of the throughput). A turn syncs in the loop at most INLINE_FLUSH_ROUNDS times; what
 * its last round queued goes to the thread, whose end wakes the loop.
 */
#define INLINE_FLUSH_MAX_BYTES 1024
#define INLINE_FLUSH_ROUNDS 3

/* A message that waits until the log flush @p after is durable. */
struct held {
	uint64_t after;
	uint64_t to;
	uint8_t *msg;          /* packed, owned */
	size_t len;
};

/* What a group's state machine is. */
enum group_kind {
	GROUP_WORLD,  /* the scene tree from /root (made at the first start) */
	GROUP_META,   /* the shard map */
	GROUP_SHARD   /* a subtree's scene tree, born by a split (or caught up from a snapshot of one) */
};

struct group {
	uint64_t id;
	enum group_kind kind;
	struct replica *replica;
	struct tree_sm tree;   /* GROUP_WORLD, GROUP_SHARD */
	struct shard_sm map;   /* GROUP_META */
	bool was_leader;       /* at the end of the last process: reads wait only at a leader */
	uint64_t term;         /* likewise: the submits waiting here were proposed, or passed on, in it */
};

struct host {
	struct host_config cfg;
	struct host_hooks hooks;
	bool sends_flushed;            /* this turn's first apply wrote out what was queued for peers */
	int dir_lock;                  /* the data directory's lock (dirlock.h), held until host_close() */
	struct store *store;
	store_db state_db;
	struct history history;        /* what every applied entry changed */
	struct wal *wal;
	struct logwriter *writer;
	struct membership book;        /* every member known */
	struct group **groups;         /* each allocated on its own: replicas keep pointers to their state machines */
	size_t n_groups, cap_groups;
	struct idmap group_index;      /* (0, group id) -> struct group */
	uint64_t *births;              /* groups a split made in this turn, started after it */
	size_t n_births, cap_births;
	struct split_wait *split_waits;
	size_t n_split_waits, cap_split_waits;
	struct split_drive *drives;
	size_t n_drives, cap_drives;
	uint64_t ticks;
	uint64_t changes_applied;      /* entries applied here since it opened whose change records are not empty */
	struct {
		uint64_t id;       /* a peer server */
		uint64_t ms;       /* when something last came from it (monotonic) */
	} heard[RAFT_MAX_MEMBERS];
	size_t n_heard;
	uint64_t started_ms;
	struct store_txn *apply_txn;   /* applied and not yet committed */
	unsigned ticks_since_commit;
	/* Log flushes: the one forming gets seq flushed + 1 (+1 again while one runs). */
	uint64_t flushes_started, flushes_done;
	bool flush_collected;          /* a flush finished while a replica was busy: tell them at the next safe point */
	int failed;                    /* a flush failed: stop */
	/* A full disk (DISK_RESERVE_BYTES). */
	bool log_full;                 /* the last flush found the disk full: its batch waits for a retry */
	bool space_low;                /* the file system had less than the reserve free at the last check */
	uint64_t free_bytes;           /* free at the last check */
	uint64_t disk_checked_ms, flush_retry_ms, flush_backoff_ms, disk_logged_ms;
	struct held *held;
	size_t n_held, cap_held;
	struct idmap proposals;        /* (group, index) -> struct proposal */
	struct idmap reads;            /* (0, context) -> struct waiting_read */
	uint64_t next_context;
	uint64_t writes_applied;
	struct submit *submits;        /* waiting, oldest first */
	size_t n_submits, cap_submits;
	struct grove_buf history_record; /* reused for each entry's record */
	bool processing;               /* inside a replica's Ready cycle: a command proposed now must wait */
	struct deferred_command *deferred; /* commands sent while processing, proposed right after */
	size_t n_deferred, cap_deferred;
	struct metrics own_metrics;    /* counted here when the config names no struct metrics */
	struct metrics *metrics;       /* cfg.metrics, or own_metrics */
};

static struct group *group_of(const struct host *h, uint64_t id)
{
	return idmap_get(&h->group_index, 0, id);
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

static void end_flush(struct host *h, int result, uint64_t duration_ns);

/* Collect a finished flush (waiting for it with @p wait); the replicas hear of it at the next safe point. */
static void collect_flush(struct host *h, bool wait)
{
	int result;
	uint64_t duration_ns;
	if (logwriter_collect(h->writer, wait, &result, &duration_ns))
		end_flush(h, result, duration_ns);
}

/* Hand the result of a flush that ran (in the thread or the loop) to the log, the metrics and the host. */
static void end_flush(struct host *h, int result, uint64_t duration_ns)
{
	wal_flush_end(h->wal, result);
	metrics_observe(&h->metrics->flush, duration_ns);
	if (result == GROVE_ENOSPC) {
		/*
		 * Nothing of the batch counts as durable: the replicas are not told (no raft_persisted()), so a
		 * leader neither counts itself in a quorum for these entries nor applies or answers them (Raft
		 * applies only what is durable here). It keeps leading rather than stepping down: its followers may
		 * still persist and commit what it sent (a leader's own write is not needed for a quorum), it goes
		 * on serving reads, and it refuses new writes with a clear error, which an election would replace
		 * with a leaderless gap; moving leadership to a member with room is the operator's call (grove
		 * cluster transfer-leader). Nothing it did not persist is counted, so this is safe either way.
		 */
		uint64_t now = grove_monotonic_ms();
		h->flush_backoff_ms = !h->log_full ? FLUSH_RETRY_MIN_MS
				     : h->flush_backoff_ms * 2 > FLUSH_RETRY_MAX_MS ? FLUSH_RETRY_MAX_MS
										: h->flush_backoff_ms * 2;
		h->flush_retry_ms = now + h->flush_backoff_ms;
		if (!h->log_full || now - h->disk_logged_ms >= DISK_FULL_LOG_MS) {
			log_line("the disk is full: the Raft log in %s/raft-log cannot be written; writes are refused "
				 "and the log is retried until space is freed", h->cfg.data_dir);
			h->disk_logged_ms = now;
		}
		h->log_full = true;
		return;
	}
	if (h->log_full) {
		log_line("the Raft log is written again after the disk was full");
		h->log_full = false;
	}
	if (result) {
		log_line("the Raft log cannot be written: %s; stopping to protect the data", grove_strerror(result));
		h->failed = result;
		return;
	}
	/* Numbered by their starts: a flush that follows ones that found the disk full wrote their batches too. */
	h->flushes_done = h->flushes_started;
	h->flush_collected = true;
}

static void drain_log(void *ctx)
{
	struct host *h = ctx;
	if (h->writer)
		collect_flush(h, true);
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
		replica_flush_done(h->groups[i]->replica);
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

/*
 * Whether the next flush, of @p bytes, runs in the loop rather than the writer thread (see
 * INLINE_FLUSH_MAX_BYTES). Call before the replicas hear that the flush took their entries.
 */
static bool flush_in_loop(const struct host *h, size_t bytes)
{
	if (bytes <= INLINE_FLUSH_MAX_BYTES)
		return true;
	for (size_t i = 0; i < h->n_groups; i++)
		if (h->groups[i]->was_leader && replica_entries_queued(h->groups[i]->replica))
			return false;
	return true;
}

/*
 * Flush what is queued, if anything is and no flush runs, in the loop if @p may_run_here and flush_in_loop()
 * says so. @return true if it ran to its end here: the replicas heard of it and its held messages left.
 */
static bool start_flush(struct host *h, bool may_run_here)
{
	size_t bytes = wal_pending(h->wal);
	if (h->failed || logwriter_busy(h->writer) || (h->log_full && grove_monotonic_ms() < h->flush_retry_ms) ||
	    !wal_flush_begin(h->wal))
		return false;
	h->flushes_started++;
	bool here = may_run_here && flush_in_loop(h, bytes);
	for (size_t i = 0; i < h->n_groups; i++)
		replica_flush_taken(h->groups[i]->replica);
	if (!here) {
		logwriter_submit(h->writer);
		return false;
	}
	if (h->hooks.flush_sends)
		h->hooks.flush_sends(h->hooks.ctx);
	uint64_t start = grove_monotonic_ns();
	int result = wal_flush_run(h->wal);
	end_flush(h, result, grove_monotonic_ns() - start);
	finish_flush(h);
	return true;
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

/*
 * Before a turn's first apply, what the turn's groups queued for peers leaves (a commit told to the
 * followers among it), once: the rest of the turn's messages still leave together at its end.
 */
static void replica_flush_sends(void *ctx)
{
	struct host *h = ctx;
	if (!h->sends_flushed && h->hooks.flush_sends) {
		h->hooks.flush_sends(h->hooks.ctx);
		h->sends_flushed = true;
	}
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
static void record_history(struct host *h, uint64_t group, uint64_t index, const struct tree_result *res,
			   const struct change_txn *part_of)
{
	/* Every entry has a record, an empty one when it changed nothing: a gap then means compacted. */
	struct store_txn *txn = apply_txn(h);
	if (res && res->n_changes)
		h->changes_applied++;
	h->history_record.len = 0;
	int err = history_encode(res ? res->changes : NULL, res ? res->n_changes : 0, res ? &res->paths : NULL,
				 part_of, &h->history_record);
	if (!err)
		err = txn ? history_append(&h->history, txn, group, index, h->history_record.data, h->history_record.len)
			  : GROVE_ESTORAGE;
	if (err) {
		log_line("cannot keep the changes of entry %llu: %s", (unsigned long long)index, grove_strerror(err));
		h->failed = err;
	}
}

/*
 * A split applied here made group @p res->split_group: its group state goes into the apply transaction
 * (membership, and its first snapshot at HOST_BIRTH_INDEX, which is the state the split wrote), and it starts
 * after this turn's applies (start_births()).
 */
static void note_birth(struct host *h, uint64_t source, uint64_t index, const struct tree_result *res)
{
	uint64_t group = res->split_group;
	if (group_of(h, group)) {
		log_line("shards: group %llu, split off group %llu, is here already", (unsigned long long)group,
			 (unsigned long long)source);
		return;
	}
	struct store_txn *txn = apply_txn(h);
	struct raft_conf conf = {.n_voters = res->n_split_voters};
	memcpy(conf.voters, res->split_voters, res->n_split_voters * sizeof(*conf.voters));
	int err = txn ? groupstate_put_conf(txn, h->state_db, group, &conf) : GROVE_ESTORAGE;
	if (!err)
		err = groupstate_put_snapshot(txn, h->state_db, group, HOST_BIRTH_INDEX, BIRTH_TERM);
	if (!err)
		err = groupstate_put_applied(txn, h->state_db, group, HOST_BIRTH_INDEX);
	if (!err)
		err = grove_grow((void **)&h->births, &h->cap_births, h->n_births, sizeof(*h->births));
	if (err) {
		log_line("shards: cannot start group %llu: %s", (unsigned long long)group, grove_strerror(err));
		h->failed = err;
		return;
	}
	h->births[h->n_births++] = group;
	char *path = NULL;
	struct tree born = group_of(h, source)->tree.tree;
	born.group = group;
	uint64_t root;
	if (tree_shard_root(&born, txn, &root, &path) == GROVE_OK && h->cfg.hub && h->cfg.hub->moved)
		h->cfg.hub->moved(h->cfg.hub->ctx, source, index, path, group, HOST_BIRTH_INDEX);
	log_line("shards: group %llu split %s off into group %llu at index %llu", (unsigned long long)source,
		 path ? path : "?", (unsigned long long)group, (unsigned long long)index);
	free(path);
}

/* Answer the `shard split` waiting for the split into @p group, which ended with @p code. */
static void split_ended(struct host *h, uint64_t group, int code, const char *message)
{
	size_t kept = 0;
	for (size_t i = 0; i < h->n_split_waits; i++) {
		struct split_wait *w = &h->split_waits[i];
		if (w->group == group)
			h->hooks.shard_done(h->hooks.ctx, &w->ticket, code, message, group);
		else
			h->split_waits[kept++] = *w;
	}
	h->n_split_waits = kept;
}

/* The meta group applied a command: a split of this member's asking started, or a split ended. */
static void meta_applied(struct host *h, struct group *meta, struct proposal *p, const struct replica_applied *a)
{
	const struct tree_result *res = a->result;
	uint64_t group = res && res->count ? res->ids[0] : 0;
	if (p && p->term != a->term) {
		h->hooks.shard_done(h->hooks.ctx, &p->ticket, GROVE_EUNAVAILABLE,
				    "the split request was lost in a leadership change; retry", 0);
	} else if (p && res && res->err) {
		h->hooks.shard_done(h->hooks.ctx, &p->ticket, res->err, res->message, 0);
	} else if (p && res && !grove_grow((void **)&h->split_waits, &h->cap_split_waits, h->n_split_waits,
					   sizeof(*h->split_waits))) {
		h->split_waits[h->n_split_waits++] =
			(struct split_wait){p->ticket, group, grove_monotonic_ms() + SPLIT_WAIT_MS};
	}
	if (!res || res->err || !group)
		return;
	const struct shard_entry *e = shard_map_find_group(&meta->map.map, group);
	if (!e) {
		log_line("shards: the split into group %llu was given up: %s", (unsigned long long)group, res->message);
		split_ended(h, group, res->failed_op ? (int)res->failed_op : GROVE_EINVAL, res->message);
	} else if (e->state == SHARD_ACTIVE && e->source) {
		char done[SHARD_PATH_MAX + 64];
		snprintf(done, sizeof(done), "%s is shard %llu", e->path, (unsigned long long)group);
		split_ended(h, group, GROVE_OK, done);
	}
}

/* A group's copy here was replaced by a snapshot: its subscribers that lacked what it covers must start over. */
static void replica_installed(void *ctx, struct replica *r, uint64_t index)
{
	struct host *h = ctx;
	if (h->cfg.hub && h->cfg.hub->installed)
		h->cfg.hub->installed(h->cfg.hub->ctx, replica_group(r), index);
}

static void replica_applied(void *ctx, struct replica *r, const struct replica_applied *a)
{
	struct host *h = ctx;
	uint64_t group = replica_group(r);
	struct group *g = group_of(h, group);
	const struct tree_result *res = a->result;
	if (res)
		h->writes_applied++;
	struct change_txn part_of = {res ? res->txn_id : 0, res ? res->txn_groups : NULL, res ? res->n_txn_groups : 0};
	record_history(h, group, a->index, res, part_of.n_groups > 1 ? &part_of : NULL);
	if (h->cfg.hub)
		h->cfg.hub->publish(h->cfg.hub->ctx, group, a->index, res ? res->changes : NULL, res ? res->n_changes : 0,
				    res ? &res->paths : NULL, &(struct entry_times){a->committed_ns, a->applied_ns},
				    part_of.n_groups > 1 ? &part_of : NULL);
	if (res && res->split_group)
		note_birth(h, group, a->index, res);
	if (res && res->key[0] && h->n_submits)
		submits_applied(h, group, a->index, res);
	if (res && res->txn_cmd.len && h->hooks.txn_applied)
		h->hooks.txn_applied(h->hooks.ctx, group, a->index, res);
	struct proposal *p = idmap_remove(&h->proposals, group, a->index);
	if (g && g->kind == GROUP_META) {
		meta_applied(h, g, p, a);
		free(p);
		return;
	}
	if (!p)
		return;
	static const struct tree_result none;
	struct host_write_done w = {.group = group, .index = res && res->duplicate_of ? res->duplicate_of : a->index,
				    .restore = p->restore, .durable_ns = p->durable_ns, .proposed_ns = p->proposed_ns,
				    .committed_ns = a->committed_ns, .applied_ns = a->applied_ns};
	if (p->term != a->term) {
		w.code = GROVE_EUNAVAILABLE;
		w.message = p->restore ? "the restore was lost in a leadership change; retry"
				       : "the write was lost in a leadership change; retry";
	} else {
		metrics_observe(&h->metrics->commit, metrics_elapsed(p->proposed_ns, a->applied_ns));
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

static struct hlc_ts replica_stamp(void *ctx)
{
	struct host *h = ctx;
	return h->hooks.stamp(h->hooks.ctx);
}

static void replica_observe(void *ctx, struct hlc_ts ts)
{
	struct host *h = ctx;
	h->hooks.observe(h->hooks.ctx, ts);
}

/* ---- start and stop ---- */

/* The world across the groups, for what a move into a group brings (tree_sm.world_view). */
static int world_view(void *ctx, struct tree_view *out)
{
	return host_view(ctx, out);
}

/* Open group @p id (of kind @p kind) from what the store and the log (@p log, may be NULL) hold. */
static int open_group(struct host *h, uint64_t id, enum group_kind kind, const struct wal_contents *log)
{
	/* Its tables are opened in a write transaction of their own, and LMDB has one writer at a time: the
	 * applies that wait in ours are committed first. */
	if (commit_applied(h) != GROVE_OK)
		return GROVE_ESTORAGE;
	if (grove_grow((void **)&h->groups, &h->cap_groups, h->n_groups, sizeof(*h->groups)))
		return GROVE_ENOMEM;
	struct group *g = calloc(1, sizeof(*g));
	if (!g)
		return GROVE_ENOMEM;
	g->id = id;
	g->kind = kind;
	struct state_machine sm = {&tree_sm_ops, &g->tree};
	/* Every founding member writes the world's and the map's first members into their logs; a split's group
	 * gets its members from the split, and a member that joins later waits to be added. */
	const struct membership *founders = h->cfg.join || kind == GROUP_SHARD ? NULL : &h->cfg.founders;
	int err;
	if (kind == GROUP_META) {
		uint64_t members[SHARD_MAX_MEMBERS];
		size_t n = 0;
		for (; n < h->cfg.founders.n && n < SHARD_MAX_MEMBERS; n++)
			members[n] = h->cfg.founders.members[n].id;
		err = shard_sm_open(h->store, id, HOST_WORLD_GROUP, HOST_FIRST_SHARD_GROUP, members, n, &g->map);
		sm = (struct state_machine){&shard_sm_ops, &g->map};
	} else if (kind == GROUP_WORLD) {
		err = tree_sm_open(h->store, id, &g->tree);
	} else {
		err = tree_sm_open_shard(h->store, id, &g->tree);
	}
	/* The history keeps every entry's changes, subscribers or not. */
	g->tree.record_changes = true;
	g->tree.world_view = world_view;
	g->tree.world_view_ctx = h;
	struct replica_env env = {.store = h->store, .state_db = h->state_db, .wal = h->wal, .ctx = h,
				  .apply_txn = apply_txn, .commit_applied = commit_applied, .drain_log = drain_log,
				  .send = replica_send, .backlog = replica_backlog, .flush_sends = replica_flush_sends,
				  .applied = replica_applied, .installed = replica_installed,
				  .read_ready = replica_read_ready, .member_address = replica_member_address,
				  .stamp = h->hooks.stamp ? replica_stamp : NULL,
				  .observe = h->hooks.observe ? replica_observe : NULL, .metrics = h->metrics};
	struct replica_config rc = {.group = id, .self = h->cfg.self, .founders = founders,
				    .compact_at = h->cfg.compact_at, .snapshot_chunk = h->cfg.snapshot_chunk,
				    .max_msg_bytes = h->cfg.max_msg_bytes, .seed = h->cfg.self * 7919 + id * 104729 + grove_realtime_ns()};
	if (!err)
		err = replica_open(&rc, &env, log ? wal_contents_group(log, id) : NULL, sm, &g->replica);
	if (!err)
		err = idmap_put(&h->group_index, 0, id, g);
	if (err) {
		replica_close(g->replica);
		if (kind == GROUP_META)
			shard_sm_close(&g->map);
		free(g);
		return err;
	}
	h->groups[h->n_groups++] = g;
	replica_campaign_if_alone(g->replica);
	return GROVE_OK;
}

/* Open every group this server hosts: the world, the map, and every group a split made here or that the log or the store knows. */
static int open_groups(struct host *h, const struct wal_contents *log)
{
	int err = open_group(h, HOST_WORLD_GROUP, GROUP_WORLD, log);
	if (!err)
		err = open_group(h, HOST_META_GROUP, GROUP_META, log);
	uint64_t *ids = NULL;
	size_t n = 0;
	struct store_txn *txn = NULL;
	if (!err)
		err = store_txn_begin(h->store, NULL, false, &txn);
	if (!err)
		err = groupstate_list(txn, h->state_db, NULL, 0, &n);
	if (!err && n && !(ids = calloc(n, sizeof(*ids))))
		err = GROVE_ENOMEM;
	if (!err)
		err = groupstate_list(txn, h->state_db, ids, n, &n);
	store_txn_abort(txn);
	for (size_t i = 0; !err && i < n; i++)
		if (!group_of(h, ids[i]))
			err = open_group(h, ids[i], GROUP_SHARD, log);
	for (size_t i = 0; !err && log && i < log->n_groups; i++)
		if (!group_of(h, log->groups[i].group))
			err = open_group(h, log->groups[i].group, GROUP_SHARD, log);
	free(ids);
	return err;
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
	h->metrics = cfg->metrics ? cfg->metrics : &h->own_metrics;
	h->started_ms = grove_monotonic_ms();
	char log_dir[4096];
	snprintf(log_dir, sizeof(log_dir), "%s/raft-log", cfg->data_dir);
	/* The log replays whatever a crash undid in the store (wal.h), so store commits need one sync, not two. */
	struct store_options opts = {.no_sync = cfg->no_sync, .lazy_sync = true};
	struct wal_contents log = {0};
	pid_t holder;
	int err = dirlock_take(cfg->data_dir, DIR_LOCK_WAIT_MS, &h->dir_lock, &holder);
	if (err == GROVE_EUNAVAILABLE)
		log_line("%s is in use by another groved (process %ld): stop it first, or give this one a --data of its "
			 "own", cfg->data_dir, (long)holder);
	else if (err)
		log_line("cannot lock %s/LOCK: %s", cfg->data_dir, strerror(errno));
	if (!err)
		err = store_open(&h->store, cfg->data_dir, &opts);
	if (!err)
		err = groupstate_open(h->store, &h->state_db);
	if (!err)
		err = history_open(h->store, cfg->history_entries, cfg->history_bytes, &h->history);
	if (!err)
		err = migrate_data_dir(h->store, h->state_db, log_dir, cfg->join ? NULL : &cfg->founders, cfg->self);
	if (!err)
		err = wal_open(&h->wal, log_dir, &log);
	if (!err && log.torn_tail)
		log_line("raft: cut off the end of the log that a crash interrupted (never acknowledged): %s/%s at byte "
			 "%llu: %s", log_dir, log.damage.segment, (unsigned long long)log.damage.offset, log.damage.what);
	if (err == GROVE_ECORRUPT && log.damage.segment[0])
		log_line("raft: the log is corrupt: %s/%s at byte %llu: %s; refusing to start rather than drop "
			 "acknowledged entries", log_dir, log.damage.segment, (unsigned long long)log.damage.offset,
			 log.damage.what);
	else if (err == GROVE_ECORRUPT && log.damage.what[0])
		log_line("raft: the log in %s is corrupt: %s; refusing to start", log_dir, log.damage.what);
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
		err = open_groups(h, &log);
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
	for (size_t i = 0; i < h->n_groups; i++) {
		replica_close(h->groups[i]->replica);
		if (h->groups[i]->kind == GROUP_META)
			shard_sm_close(&h->groups[i]->map);
		free(h->groups[i]);
	}
	free(h->groups);
	idmap_free(&h->group_index);
	free(h->births);
	free(h->split_waits);
	free(h->drives);
	for (size_t i = 0; i < h->n_held; i++)
		free(h->held[i].msg);
	free(h->held);
	idmap_for_each(&h->proposals, free_value, NULL);
	idmap_free(&h->proposals);
	idmap_for_each(&h->reads, free_read, NULL);
	idmap_free(&h->reads);
	free(h->submits);
	for (size_t i = 0; i < h->n_deferred; i++)
		free(h->deferred[i].cmd);
	free(h->deferred);
	grove_buf_free(&h->history_record);
	wal_close(h->wal);
	store_close(h->store);
	dirlock_release(h->dir_lock);
	free(h);
}

/* ---- splits ---- */

static bool leads(const struct group *g)
{
	struct replica_status st;
	replica_status(g->replica, &st);
	return st.role == RAFT_LEADER;
}

/* Whether step @p step of the split into @p group may be asked for now: at once, then every SPLIT_RETRY_TICKS. */
static bool split_step_due(struct host *h, uint64_t group, int step)
{
	struct split_drive *d = NULL;
	for (size_t i = 0; i < h->n_drives && !d; i++)
		if (h->drives[i].group == group)
			d = &h->drives[i];
	if (!d) {
		if (grove_grow((void **)&h->drives, &h->cap_drives, h->n_drives, sizeof(*h->drives)))
			return false;
		d = &h->drives[h->n_drives++];
		*d = (struct split_drive){group, 0, 0};
	}
	if (d->step == step && h->ticks < d->next_tick)
		return false;
	d->step = step;
	d->next_tick = h->ticks + SPLIT_RETRY_TICKS;
	return true;
}

static void propose_meta(struct group *meta, const struct shard_cmd *cmd)
{
	struct grove_buf b = {0};
	uint64_t index, term;
	if (shard_cmd_encode(cmd, &b) == GROVE_OK)
		replica_propose(meta->replica, b.data, b.len, &index, &term);
	grove_buf_free(&b);
}

/* Ask the leader of @p source to apply the split of entry @p e (proposed here if this member leads it). */
static void ask_for_split(struct host *h, struct group *source, const struct shard_entry *e)
{
	uint8_t *cmd;
	size_t len = tree_sm_split_command(e->group, e->members, e->n_members, e->path, &cmd);
	struct replica_status st;
	replica_status(source->replica, &st);
	uint64_t index, term;
	if (len && st.role == RAFT_LEADER)
		replica_propose(source->replica, cmd, len, &index, &term);
	else if (len && st.leader && st.leader != h->cfg.self)
		h->hooks.forward(h->hooks.ctx, st.leader, source->id, cmd, len);
	free(cmd);
}

/*
 * The meta group's leader drives each running split, from what this member has applied of the source: ask
 * the source to split (StartSplit's second half: Freeze, CopyState and Release in the source's log), then
 * switch the map when the source did it, or give the split up when the source refused it. Every step is
 * idempotent, so a step asked for twice, or by a new leader, does no harm.
 */
static void drive_splits(struct host *h)
{
	struct group *meta = group_of(h, HOST_META_GROUP);
	if (!meta || h->failed || !leads(meta))
		return;
	const struct shard_map *map = &meta->map.map;
	for (size_t i = 0; i < map->n; i++) {
		const struct shard_entry *e = &map->entries[i];
		struct group *source = e->state == SHARD_SPLITTING ? group_of(h, e->source) : NULL;
		struct store_txn *txn = source ? apply_txn(h) : NULL;
		struct tree_sm_split_outcome o;
		int err = txn ? tree_sm_split_outcome(&source->tree, txn, e->group, &o) : GROVE_EINVAL;
		if (err == GROVE_ENOTFOUND && split_step_due(h, e->group, 1)) {
			ask_for_split(h, source, e);
		} else if (err == GROVE_OK && split_step_due(h, e->group, 2)) {
			struct shard_cmd cmd = {.kind = o.code ? SHARD_CMD_ABORT : SHARD_CMD_SWITCH, .group = e->group,
						.split_index = o.index, .code = (uint32_t)o.code, .reason = o.message};
			propose_meta(meta, &cmd);
		}
	}
}

/*
 * A member whose copy of a split's source caught up past the split by a snapshot never applied the split,
 * so never made its group: it starts the group empty, and the group's leader catches it up by a snapshot.
 */
static void open_missing_groups(struct host *h)
{
	struct group *meta = group_of(h, HOST_META_GROUP);
	if (!meta)
		return;
	const struct shard_map *map = &meta->map.map;
	for (size_t i = 0; i < map->n; i++) {
		const struct shard_entry *e = &map->entries[i];
		if (e->state != SHARD_ACTIVE || !e->source || group_of(h, e->group))
			continue;
		struct group *source = group_of(h, e->source);
		if (!source || host_applied(h, e->source) < e->split_index)
			continue; /* the source will apply the split itself, and make the group */
		log_line("shards: group %llu was split off before the snapshot this member installed; catching up",
			 (unsigned long long)e->group);
		int err = open_group(h, e->group, GROUP_SHARD, NULL);
		if (err) {
			log_line("shards: cannot start group %llu: %s", (unsigned long long)e->group, grove_strerror(err));
			h->failed = err;
			return;
		}
	}
}

static bool has_id(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * Take group @p g, which this member leads, one step towards the world group's members (@p wn of them, in
 * @p world_ids, voters where @p world_voter): remove a member the world no longer has (handing the group to
 * another voter first if that is this member), add one it lacks as a learner, promote a learner the world has
 * as a voter once it caught up. One change at a time, as Raft allows: a change still pending refuses the next
 * (GROVE_EUNAVAILABLE), which waits for the next look.
 */
static void follow_members(struct host *h, struct group *g, const uint64_t *world_ids, const bool *world_voter,
			   size_t wn)
{
	uint64_t ids[RAFT_MAX_MEMBERS], match[RAFT_MAX_MEMBERS];
	bool voter[RAFT_MAX_MEMBERS];
	size_t n = replica_members(g->replica, ids, voter, match, RAFT_MAX_MEMBERS);
	struct replica_status st;
	replica_status(g->replica, &st);
	enum raft_conf_op op = RAFT_CONF_REMOVE;
	uint64_t node = 0;
	for (size_t k = 0; k < n && !node; k++)
		if (!has_id(world_ids, wn, ids[k]))
			node = ids[k];
	if (node == h->cfg.self) {
		for (size_t k = 0; k < n; k++)
			if (voter[k] && ids[k] != node && has_id(world_ids, wn, ids[k])) {
				if (replica_transfer(g->replica, ids[k]) == GROVE_OK)
					log_line("members: handing group %llu to member %llu: this member left the world's "
						 "group", (unsigned long long)g->id, (unsigned long long)ids[k]);
				return;
			}
		return;
	}
	for (size_t k = 0; k < wn && !node; k++)
		if (!has_id(ids, n, world_ids[k]))
			op = RAFT_CONF_ADD_LEARNER, node = world_ids[k];
	for (size_t k = 0; k < n && !node; k++) {
		bool world_has_voter = false;
		for (size_t w = 0; w < wn; w++)
			world_has_voter = world_has_voter || (world_ids[w] == ids[k] && world_voter[w]);
		if (!voter[k] && world_has_voter && match[k] + PROMOTE_LAG >= st.commit)
			op = RAFT_CONF_PROMOTE, node = ids[k];
	}
	if (!node)
		return;
	const struct member *m = membership_find(&h->book, node);
	if (op == RAFT_CONF_ADD_LEARNER && !m)
		return; /* its address is learnt with the world's change, which this member applies first */
	static const char *const what[] = {[RAFT_CONF_ADD_LEARNER] = "adding learner", [RAFT_CONF_PROMOTE] = "promoting",
					   [RAFT_CONF_REMOVE] = "removing"};
	if (replica_change_membership(g->replica, op, node, m ? m->address : NULL) == GROVE_OK)
		log_line("members: group %llu %s member %llu, as the world's group has it", (unsigned long long)g->id,
			 what[op], (unsigned long long)node);
}

/* Every group this member leads follows the world group's members (`grove cluster add/promote/remove`). */
static void follow_world_members(struct host *h)
{
	struct group *world = group_of(h, HOST_WORLD_GROUP);
	uint64_t ids[RAFT_MAX_MEMBERS], match[RAFT_MAX_MEMBERS];
	bool voter[RAFT_MAX_MEMBERS];
	size_t n = world ? replica_members(world->replica, ids, voter, match, RAFT_MAX_MEMBERS) : 0;
	for (size_t i = 0; n && i < h->n_groups; i++)
		if (h->groups[i] != world && leads(h->groups[i]))
			follow_members(h, h->groups[i], ids, voter, n);
}

static void expire_split_waits(struct host *h, uint64_t now)
{
	size_t kept = 0;
	for (size_t i = 0; i < h->n_split_waits; i++) {
		struct split_wait *w = &h->split_waits[i];
		if (now < w->deadline_ms)
			h->split_waits[kept++] = *w;
		else
			h->hooks.shard_done(h->hooks.ctx, &w->ticket, GROVE_ETIMEDOUT,
					    "the split is still running; see grove shard list", w->group);
	}
	h->n_split_waits = kept;
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

/*
 * Start the groups that this turn's splits made. Their state must be durable in the store before their log
 * exists (a group with a log and no state could not start again), so the applies are committed and synced
 * first; their first log records go with the next flush.
 */
static void start_births(struct host *h)
{
	if (!h->n_births || h->failed)
		return;
	int err = commit_applied(h);
	if (!err)
		err = store_sync(h->store);
	for (size_t i = 0; !err && i < h->n_births; i++)
		err = open_group(h, h->births[i], GROUP_SHARD, NULL);
	h->n_births = 0;
	if (err) {
		log_line("shards: cannot start a group a split made: %s; stopping to protect the data", grove_strerror(err));
		h->failed = err;
	}
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

static bool propose_deferred(struct host *h);

/* Every group's Ready cycle, and what it tells the host about leadership. */
static int process_groups(struct host *h)
{
	h->processing = true;
	for (size_t i = 0; i < h->n_groups && !h->failed; i++) {
		struct group *g = h->groups[i];
		if (replica_has_ready(g->replica)) {
			int err = replica_process(g->replica);
			if (err) {
				h->processing = false;
				return err;
			}
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
	h->processing = false;
	return GROVE_OK;
}

int host_process(struct host *h)
{
	h->sends_flushed = false;
	finish_flush(h);
	int err = process_groups(h);
	/* Commands that applies sent (a transaction's next step) go into this turn's flush: one more cycle. */
	for (int round = 0; !err && round < 4 && propose_deferred(h); round++)
		err = process_groups(h);
	if (err)
		return err;
	start_births(h);
	if (shard_map_has_splits(&group_of(h, HOST_META_GROUP)->map.map))
		drive_splits(h);
	/* What a flush in the loop made durable is committed, applied and answered in the same turn. */
	for (int round = 0; !err && start_flush(h, round < INLINE_FLUSH_ROUNDS); round++)
		err = process_groups(h);
	if (err)
		return err;
	/* A compaction writes the log synchronously: not while it waits for space. */
	for (size_t i = 0; i < h->n_groups && !h->failed && !h->log_full; i++)
		replica_maybe_compact(h->groups[i]->replica);
	finish_flush(h);
	return h->failed;
}

void host_peer_heard(struct host *h, uint64_t peer)
{
	uint64_t now = grove_monotonic_ms();
	for (size_t i = 0; i < h->n_heard; i++)
		if (h->heard[i].id == peer) {
			h->heard[i].ms = now;
			return;
		}
	if (h->n_heard < RAFT_MAX_MEMBERS) {
		h->heard[h->n_heard].id = peer;
		h->heard[h->n_heard++].ms = now;
	}
}

/* When server @p peer was last heard from (the start, if never). */
static uint64_t last_heard(const struct host *h, uint64_t peer)
{
	for (size_t i = 0; i < h->n_heard; i++)
		if (h->heard[i].id == peer)
			return h->heard[i].ms;
	return h->started_ms;
}

/* Quiesced followers of a leader whose server fell silent wake: no heartbeat would ever time them out. */
static void wake_orphans(struct host *h, uint64_t now)
{
	for (size_t i = 0; i < h->n_groups; i++) {
		struct replica_status st;
		replica_status(h->groups[i]->replica, &st);
		if (st.quiesced && st.role != RAFT_LEADER && st.leader != h->cfg.self &&
		    (!st.leader || now - last_heard(h, st.leader) > PEER_SILENCE_MS))
			replica_wake(h->groups[i]->replica);
	}
}

/* Note how much room the data directory's file system has, logging when that changes what is accepted. */
static void check_disk(struct host *h, uint64_t now)
{
	if (now - h->disk_checked_ms < DISK_CHECK_MS && h->disk_checked_ms)
		return;
	h->disk_checked_ms = now;
	struct statvfs st;
	if (statvfs(h->cfg.data_dir, &st) != 0)
		return; /* unknown: the log's own errors still tell */
	h->free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	bool low = h->free_bytes < DISK_RESERVE_BYTES;
	if (low && (!h->space_low || now - h->disk_logged_ms >= DISK_FULL_LOG_MS)) {
		log_line("the disk is full: %llu bytes free in %s, less than the %llu kept for writes already accepted; "
			 "new writes are refused until space is freed",
			 (unsigned long long)h->free_bytes, h->cfg.data_dir, (unsigned long long)DISK_RESERVE_BYTES);
		h->disk_logged_ms = now;
	} else if (!low && h->space_low) {
		log_line("disk space returned (%llu bytes free in %s): accepting writes again",
			 (unsigned long long)h->free_bytes, h->cfg.data_dir);
	}
	h->space_low = low;
}

bool host_disk_full(const struct host *h, char *why, size_t why_cap)
{
	if (!h->log_full && !h->space_low)
		return false;
	if (why_cap && h->log_full)
		snprintf(why, why_cap, "the disk is full: the server cannot write its log in %s; "
			 "writes are refused until space is freed", h->cfg.data_dir);
	else if (why_cap)
		snprintf(why, why_cap, "the disk is full: %llu bytes free in %s, less than the %llu MiB reserve; "
			 "writes are refused until space is freed", (unsigned long long)h->free_bytes, h->cfg.data_dir,
			 (unsigned long long)(DISK_RESERVE_BYTES >> 20));
	return true;
}

bool host_commit_due(const struct host *h)
{
	return h->apply_txn && h->ticks_since_commit + 1 >= APPLIED_COMMIT_TICKS;
}

void host_tick(struct host *h)
{
	uint64_t now = grove_monotonic_ms();
	check_disk(h, now);
	if (h->log_full && now >= h->flush_retry_ms)
		start_flush(h, false);
	fail_submits(h, 0, now, "not applied in time (a leadership change?); retry with the same key");
	for (size_t i = 0; i < h->n_groups; i++)
		replica_tick(h->groups[i]->replica);
	if (h->apply_txn && ++h->ticks_since_commit >= APPLIED_COMMIT_TICKS) {
		int err = commit_applied(h);
		if (err == GROVE_ENOSPC)
			/* The reserve (check_disk()) is there so that this does not happen; when something else filled
			 * the disk faster, applies already made cannot be undone here. The log holds every entry. */
			log_line("the store in %s cannot be written: the disk is full; stopping: every acknowledged write "
				 "is in the log and is applied again at the next start, once space is freed", h->cfg.data_dir);
		if (err)
			h->failed = err;
	}
	if (++h->ticks % SPLIT_DRIVE_TICKS == 0) {
		wake_orphans(h, now);
		open_missing_groups(h);
		follow_world_members(h);
		expire_split_waits(h, now);
	}
}

/* ---- requests ---- */

int host_step(struct host *h, uint64_t from, const Grove__RaftMessage *m)
{
	struct group *g = group_of(h, m->group ? m->group : 1);
	if (m->from != from || m->to != h->cfg.self)
		return GROVE_EINVAL;
	/* A group this member has not made yet (its split is not applied here yet): its leader sends again. */
	return g ? replica_step(g->replica, m) : GROVE_ENOTFOUND;
}

int host_propose(struct host *h, uint64_t group, const struct host_ticket *t, int kind, const void *body, size_t len)
{
	struct group *g = group_of(h, group);
	if (!g)
		return GROVE_EINVAL;
	if (host_disk_full(h, NULL, 0))
		return GROVE_ENOSPC;
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
		p->proposed_ns = grove_realtime_ns();
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
	if (st.role == RAFT_LEADER && host_disk_full(h, NULL, 0))
		return GROVE_ENOSPC;
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

/* Propose entry data @p cmd to group @p group here if this member leads it, else by its leader. */
static int propose_or_forward(struct host *h, uint64_t group, const uint8_t *cmd, size_t len)
{
	struct group *g = group_of(h, group);
	if (!g)
		return GROVE_EINVAL;
	struct replica_status st;
	replica_status(g->replica, &st);
	if (st.role == RAFT_LEADER) {
		uint64_t index, term;
		return replica_propose(g->replica, cmd, len, &index, &term);
	}
	if (!st.leader || st.leader == h->cfg.self)
		return GROVE_EUNAVAILABLE;
	h->hooks.forward(h->hooks.ctx, st.leader, group, cmd, len);
	return GROVE_OK;
}

int host_send_command(struct host *h, uint64_t group, int kind, const void *body, size_t len)
{
	if (!group_of(h, group))
		return GROVE_EINVAL;
	uint8_t *cmd;
	size_t cmd_len = tree_sm_command((enum tree_cmd)kind, body, len, &cmd);
	if (!cmd_len)
		return GROVE_ENOMEM;
	/* Sent by whoever an apply told: a proposal now would grow a log whose Ready is being worked on. */
	if (h->processing) {
		if (grove_grow((void **)&h->deferred, &h->cap_deferred, h->n_deferred, sizeof(*h->deferred))) {
			free(cmd);
			return GROVE_ENOMEM;
		}
		h->deferred[h->n_deferred++] = (struct deferred_command){group, cmd, cmd_len};
		return GROVE_OK;
	}
	int err = propose_or_forward(h, group, cmd, cmd_len);
	free(cmd);
	return err;
}

/* Propose the commands sent while replicas were processing; @return whether there were any. */
static bool propose_deferred(struct host *h)
{
	size_t n = h->n_deferred;
	for (size_t i = 0; i < n; i++) {
		propose_or_forward(h, h->deferred[i].group, h->deferred[i].cmd, h->deferred[i].len);
		free(h->deferred[i].cmd);
	}
	h->n_deferred = 0;
	return n > 0;
}

/*
 * Tree group @p group's state machine, with in *@p txn the transaction that sees what this member applied;
 * NULL if the group is not a tree group here or the store cannot be read.
 */
static struct tree_sm *applied_tree(struct host *h, uint64_t group, struct store_txn **txn)
{
	struct group *g = group_of(h, group);
	*txn = apply_txn(h);
	return g && g->kind != GROUP_META && *txn ? &g->tree : NULL;
}

bool host_held(struct host *h, uint64_t group, struct txn_meta *meta)
{
	struct store_txn *txn;
	struct tree_sm *t = applied_tree(h, group, &txn);
	return t && tree_sm_held(t, txn, meta);
}

size_t host_holders(struct host *h, uint64_t group, struct txn_meta *out, size_t max)
{
	struct store_txn *txn;
	struct tree_sm *t = applied_tree(h, group, &txn);
	struct txn_meta held[TREE_SM_HOLDERS_MAX];
	size_t n = t ? tree_sm_holders(t, txn, held) : 0;
	n = n < max ? n : max;
	memcpy(out, held, n * sizeof(*out));
	return n;
}

bool host_part_waits(struct host *h, uint64_t group, const uint8_t *part, size_t len,
		     bool (*passes)(void *ctx, uint64_t txn_id), void *ctx)
{
	struct store_txn *txn;
	struct tree_sm *t = applied_tree(h, group, &txn);
	return t && tree_sm_part_waits(t, txn, part, len, passes, ctx);
}

bool host_parts_meet(struct host *h, uint64_t group, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	struct store_txn *txn;
	struct tree_sm *t = applied_tree(h, group, &txn);
	return !t || tree_sm_parts_meet(t, txn, a, a_len, b, b_len);
}

bool host_write_waits(struct host *h, uint64_t group, const uint8_t *request, size_t len)
{
	struct store_txn *txn;
	struct tree_sm *t = applied_tree(h, group, &txn);
	return t && tree_sm_write_waits(t, txn, request, len);
}

bool host_write_meets(struct host *h, uint64_t group, const uint8_t *part, size_t part_len, const uint8_t *request,
		      size_t len)
{
	struct store_txn *txn;
	struct tree_sm *t = applied_tree(h, group, &txn);
	return !t || tree_sm_write_meets(t, txn, part, part_len, request, len);
}

bool host_read_waits(struct host *h, uint64_t group, const struct host_ref *node, bool whole)
{
	struct group *g = group_of(h, group);
	struct store_txn *txn = apply_txn(h);
	if (!g || g->kind == GROUP_META)
		return false;
	return !txn || tree_sm_read_waits(&g->tree, txn, node->path && node->path[0] ? node->path : NULL, node->id, whole);
}

int host_key_applied(struct host *h, uint64_t group, const char *key, uint64_t *index)
{
	*index = 0;
	struct group *g = group_of(h, group);
	struct store_txn *txn = apply_txn(h);
	if (!g || g->kind == GROUP_META)
		return GROVE_EINVAL;
	return txn ? tree_sm_key_applied(&g->tree, txn, key, index) : GROVE_ESTORAGE;
}

/* Group @p group's transaction state as this member applied it (@p b backs @p st). @return GROVE_OK, GROVE_EINVAL,
 * GROVE_ESTORAGE. */
static int txn_state(struct host *h, uint64_t group, struct txn_lmdbstore *b, struct txn_store *st)
{
	struct group *g = group_of(h, group);
	struct store_txn *txn = apply_txn(h);
	if (!g || g->kind == GROUP_META)
		return GROVE_EINVAL;
	if (!txn)
		return GROVE_ESTORAGE;
	*b = (struct txn_lmdbstore){&g->tree.txn, group, txn};
	*st = txn_lmdbstore_store(b);
	return GROVE_OK;
}

int host_txn_record(struct host *h, uint64_t group, uint64_t id, struct txn_record *rec)
{
	struct txn_lmdbstore b;
	struct txn_store st;
	int err = txn_state(h, group, &b, &st);
	return err ? err : txn_shard_record(&st, id, rec);
}

int host_txn_early(struct host *h, uint64_t group, uint64_t after, struct txn_meta *meta)
{
	struct txn_lmdbstore b;
	struct txn_store st;
	int err = txn_state(h, group, &b, &st);
	return err ? err : txn_shard_early(&st, after, meta);
}

int host_txn_next_record(struct host *h, uint64_t group, uint64_t after, uint64_t *id, struct txn_record *rec,
			 bool *waits)
{
	struct txn_lmdbstore b;
	struct txn_store st;
	int err = txn_state(h, group, &b, &st);
	return err ? err : txn_shard_next_record(&st, after, id, rec, waits);
}

/* Group @p group's replica status in @p st; false if this member does not serve it. */
static bool group_status(const struct host *h, uint64_t group, struct replica_status *st)
{
	struct group *g = group_of(h, group);
	if (g)
		replica_status(g->replica, st);
	return g != NULL;
}

bool host_leads(const struct host *h, uint64_t group)
{
	struct replica_status st;
	return group_status(h, group, &st) && st.role == RAFT_LEADER;
}

bool host_leads_current(const struct host *h, uint64_t group)
{
	struct replica_status st;
	return group_status(h, group, &st) && st.current;
}

void host_forwarded(struct host *h, uint64_t from, uint64_t group, const uint8_t *data, size_t len)
{
	struct group *g = group_of(h, group);
	uint64_t index, term;
	/* A full disk here (logged by check_disk()): dropped like the rest; the retry with its key applies once. */
	if (host_disk_full(h, NULL, 0))
		return;
	/* Not the leader (any more): dropped; the client retries with the same key, which applies once. */
	int err = g && len ? replica_propose(g->replica, data, len, &index, &term) : GROVE_OK;
	if (err)
		log_line("a command member %llu passed on for group %llu was dropped: %s", (unsigned long long)from,
			 (unsigned long long)group,
			 err == GROVE_ENOTLEADER     ? "this member does not lead it"
			 : err == GROVE_EUNAVAILABLE ? "this member is handing its leadership over"
						     : grove_strerror(err));
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

int host_clock_bound(struct host *h, uint64_t *bound)
{
	struct store_txn *txn = apply_txn(h);
	return txn ? groupstate_get_clock_bound(txn, h->state_db, bound) : GROVE_ESTORAGE;
}

int host_save_clock_bound(struct host *h, uint64_t bound)
{
	struct store_txn *txn = apply_txn(h);
	int err = txn ? groupstate_put_clock_bound(txn, h->state_db, bound) : GROVE_ESTORAGE;
	return err ? err : commit_applied(h);
}

const struct history *host_history(const struct host *h)
{
	return &h->history;
}

struct store_txn *host_applied_txn(struct host *h)
{
	return apply_txn(h);
}

int host_commit_applied(struct host *h)
{
	return commit_applied(h);
}

int host_read_applied(struct host *h, struct store_txn **out)
{
	return store_txn_begin(h->store, h->apply_txn, h->apply_txn != NULL, out);
}

uint64_t host_changes_applied(const struct host *h)
{
	return h->changes_applied;
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

/* Whether the leader @p st names may be alive: a quiesced group's leader is only while its server is heard from. */
static bool leader_alive(const struct host *h, const struct replica_status *st)
{
	return !st->quiesced || st->leader == h->cfg.self ||
	       grove_monotonic_ms() - last_heard(h, st->leader) <= PEER_SILENCE_MS;
}

bool host_peer_lately_heard(const struct host *h, uint64_t peer, uint64_t ms)
{
	return peer == h->cfg.self || grove_monotonic_ms() - last_heard(h, peer) <= ms;
}

const char *host_leader_address(const struct host *h, uint64_t group)
{
	struct group *g = group_of(h, group);
	if (!g)
		return "";
	struct replica_status st;
	replica_status(g->replica, &st);
	if (!leader_alive(h, &st))
		return "";
	const struct member *m = st.leader && st.leader != h->cfg.self ? membership_find(&h->book, st.leader) : NULL;
	return m ? m->address : "";
}

size_t host_group_ids(const struct host *h, uint64_t *ids, size_t cap)
{
	for (size_t i = 0; i < h->n_groups && i < cap; i++)
		ids[i] = h->groups[i]->id;
	return h->n_groups;
}

/* Whether a quorum of @p g's voters, this member included, was heard from within PEER_SILENCE_MS. */
static bool quorum_heard(const struct host *h, const struct group *g, uint64_t now)
{
	uint64_t ids[RAFT_MAX_MEMBERS], match[RAFT_MAX_MEMBERS];
	bool voter[RAFT_MAX_MEMBERS];
	size_t n = replica_members(g->replica, ids, voter, match, RAFT_MAX_MEMBERS);
	size_t voters = 0, heard = 0;
	for (size_t i = 0; i < n; i++) {
		if (!voter[i])
			continue;
		voters++;
		if (ids[i] == h->cfg.self || now - last_heard(h, ids[i]) <= PEER_SILENCE_MS)
			heard++;
	}
	return heard > voters / 2;
}

bool host_ready(const struct host *h, uint64_t group, uint64_t max_lag, char *why, size_t why_cap)
{
	struct group *g = group_of(h, group);
	if (!g) {
		snprintf(why, why_cap, "group %llu is not hosted here", (unsigned long long)group);
		return false;
	}
	struct replica_status st;
	replica_status(g->replica, &st);
	if (st.role == RAFT_LEADER) {
		/* A leader steps down without a quorum's contact (check-quorum), but a quiesced one does not tick. */
		if (!quorum_heard(h, g, grove_monotonic_ms())) {
			snprintf(why, why_cap, "group %llu: this member leads, but no quorum was heard from lately",
				 (unsigned long long)group);
			return false;
		}
	} else if (!st.leader || !leader_alive(h, &st)) {
		snprintf(why, why_cap, "group %llu: no leader is known", (unsigned long long)group);
		return false;
	}
	if (st.commit > st.applied + max_lag) {
		snprintf(why, why_cap, "group %llu: applied %llu of %llu committed", (unsigned long long)group,
			 (unsigned long long)st.applied, (unsigned long long)st.commit);
		return false;
	}
	return true;
}

int host_status(const struct host *h, uint64_t group, struct host_status *out)
{
	struct group *g = group_of(h, group);
	if (!g)
		return GROVE_EINVAL;
	memset(out, 0, sizeof(*out));
	replica_status(g->replica, &out->group);
	out->quiesced = out->group.quiesced;
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

int host_snapshot_begin(struct host *h, uint64_t group, struct host_snapshot_read *out)
{
	struct group *g = group_of(h, group);
	memset(out, 0, sizeof(*out));
	if (!g)
		return GROVE_EINVAL;
	out->replica = g->replica;
	return replica_snapshot_begin(g->replica, &out->txn);
}

bool host_world_held(struct host *h, uint64_t *holder)
{
	struct store_txn *txn = apply_txn(h);
	*holder = 0;
	for (size_t i = 0; txn && i < h->n_groups; i++) {
		struct txn_meta held;
		if (h->groups[i]->kind == GROUP_META)
			continue;
		if (!tree_sm_held(&h->groups[i]->tree, txn, &held) || (*holder && held.id != *holder))
			return false;
		*holder = held.id;
	}
	return *holder != 0;
}

int host_world_snapshot_begin(struct host *h, uint64_t holder, struct host_snapshot_read *out)
{
	memset(out, 0, sizeof(*out));
	int err = commit_applied(h);
	if (!err)
		err = store_txn_begin(h->store, NULL, false, &out->txn);
	if (err)
		return err;
	for (size_t i = 0; !err && i < h->n_groups; i++) {
		struct txn_meta held;
		if (h->groups[i]->kind != GROUP_META &&
		    (!tree_sm_held(&h->groups[i]->tree, out->txn, &held) || held.id != holder))
			err = GROVE_EINTENT;
	}
	if (!err)
		err = host_view(h, &out->view);
	if (err) {
		host_snapshot_abandon(out);
		return err;
	}
	out->world = true;
	out->state_db = h->state_db;
	return GROVE_OK;
}

/* Build the world snapshot begun in @p rd (host_world_snapshot_begin()) from its read transaction @p txn. */
static int build_world_snapshot(struct host_snapshot_read *rd, struct store_txn *txn, struct snapshot *out)
{
	uint64_t applied;
	struct snapshot_builder b = {0};
	int err = groupstate_get_applied(txn, rd->state_db, HOST_WORLD_GROUP, &applied);
	if (!err)
		err = tree_view_dump(&rd->view, txn, snapshot_add_record, &b);
	store_txn_abort(txn);
	tree_view_free(&rd->view);
	rd->world = false;
	if (err) {
		grove_buf_free(&b.raw);
		return err;
	}
	return snapshot_finish(&b, applied, 0, out);
}

int host_snapshot_build(struct host_snapshot_read *rd, struct snapshot *out)
{
	struct store_txn *txn = rd->txn;
	rd->txn = NULL;
	if (rd->world)
		return build_world_snapshot(rd, txn, out);
	return replica_snapshot_build(rd->replica, txn, out);
}

void host_snapshot_abandon(struct host_snapshot_read *rd)
{
	store_txn_abort(rd->txn);
	rd->txn = NULL;
	if (rd->world)
		tree_view_free(&rd->view);
	rd->world = false;
}

/* ---- shards ---- */

const struct shard_map *host_shard_map(const struct host *h)
{
	struct group *meta = group_of(h, HOST_META_GROUP);
	return &meta->map.map;
}

bool host_sharded(const struct host *h)
{
	/* A split applied here before this member's copy of the map shows it has made shards all the same. */
	if (host_shard_map(h)->n > 1 || h->n_births)
		return true;
	for (size_t i = 0; i < h->n_groups; i++)
		if (h->groups[i]->kind == GROUP_SHARD)
			return true;
	return false;
}

bool host_connected_across(struct host *h, uint64_t group)
{
	const struct tree *t = host_tree(h, group);
	struct store_txn *txn = t ? apply_txn(h) : NULL;
	return txn && tree_has_across(t, txn);
}

/* Whether every member of group @p g is a voter of the meta group: a new group's members are the meta group's. */
static bool members_in_meta(struct group *g, struct group *meta, uint64_t *missing)
{
	uint64_t ids[RAFT_MAX_MEMBERS], meta_ids[RAFT_MAX_MEMBERS], match[RAFT_MAX_MEMBERS];
	bool voter[RAFT_MAX_MEMBERS], meta_voter[RAFT_MAX_MEMBERS];
	size_t n = replica_members(g->replica, ids, voter, match, RAFT_MAX_MEMBERS);
	size_t m = replica_members(meta->replica, meta_ids, meta_voter, match, RAFT_MAX_MEMBERS);
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		for (size_t k = 0; k < m && !found; k++)
			found = meta_ids[k] == ids[i] && meta_voter[k];
		if (!found) {
			*missing = ids[i];
			return false;
		}
	}
	return true;
}

int host_shard_split(struct host *h, const struct host_ticket *t, const char *path, char *why, size_t why_cap)
{
	struct group *meta = group_of(h, HOST_META_GROUP);
	struct shard_cmd cmd = {.kind = SHARD_CMD_START_SPLIT, .path = path};
	uint64_t ids[RAFT_MAX_MEMBERS], match[RAFT_MAX_MEMBERS], missing;
	bool voter[RAFT_MAX_MEMBERS];
	if (leads(meta) && !members_in_meta(group_of(h, HOST_WORLD_GROUP), meta, &missing)) {
		snprintf(why, why_cap, "server %llu is a member of the world's group but not yet a voter of the shard "
			 "map's, which follows the world's members: splits need every server in every group; retry once "
			 "it caught up", (unsigned long long)missing);
		return GROVE_EINVAL;
	}
	size_t n = replica_members(meta->replica, ids, voter, match, RAFT_MAX_MEMBERS);
	for (size_t i = 0; i < n && cmd.n_members < SHARD_MAX_MEMBERS; i++)
		if (voter[i])
			cmd.members[cmd.n_members++] = ids[i];
	struct grove_buf b = {0};
	int err = shard_cmd_encode(&cmd, &b);
	struct proposal *p = err ? NULL : calloc(1, sizeof(*p));
	if (!err && !p)
		err = GROVE_ENOMEM;
	uint64_t index;
	if (!err)
		err = replica_propose(meta->replica, b.data, b.len, &index, &p->term);
	grove_buf_free(&b);
	if (!err) {
		p->ticket = *t;
		p->shard_split = true;
		p->flush = h->flushes_started + 1;
		err = idmap_put(&h->proposals, HOST_META_GROUP, index, p);
	}
	if (err)
		free(p);
	return err;
}

/*
 * A view across the scene trees of every group here. A group that a split made in this turn starts only after
 * the turn's applies (start_births()), yet its records are in the store already, and a read released in the
 * same turn (replica_release_reads() commits the applies first) follows the split's mount point into it: it is
 * in the view too, as the world's tables read under its group id. Without it, the mount point left in the
 * source would be read as the node, without its records.
 */
int host_view(const struct host *h, struct tree_view *out)
{
	size_t cap = h->n_groups + h->n_births, n = 0;
	struct tree *born = calloc(h->n_births ? h->n_births : 1, sizeof(*born));
	const struct tree **trees = calloc(cap ? cap : 1, sizeof(*trees));
	int err = born && trees ? GROVE_OK : GROVE_ENOMEM;
	for (size_t i = 0; !err && i < h->n_groups; i++)
		if (h->groups[i]->kind != GROUP_META)
			trees[n++] = &h->groups[i]->tree.tree;
	for (size_t i = 0; !err && i < h->n_births; i++) {
		born[i] = group_of(h, HOST_WORLD_GROUP)->tree.tree;
		born[i].group = h->births[i];
		trees[n++] = &born[i];
	}
	if (!err)
		err = tree_view_init(out, trees, n, HOST_WORLD_GROUP);
	free(trees);
	free(born);
	return err;
}

int host_locate(struct host *h, uint64_t id, uint64_t *group)
{
	struct tree_view v;
	struct store_txn *txn = apply_txn(h);
	int err = txn ? host_view(h, &v) : GROVE_ESTORAGE;
	if (err)
		return err;
	err = tree_view_locate(&v, txn, id, group);
	tree_view_free(&v);
	return err;
}

int host_route(struct host *h, const struct host_ref *refs, size_t n, uint64_t *group, char *why, size_t why_cap)
{
	*group = HOST_WORLD_GROUP;
	if (!host_sharded(h))
		return GROVE_OK;
	const struct shard_map *map = host_shard_map(h);
	const char *first = NULL;
	for (size_t i = 0; i < n; i++) {
		uint64_t g;
		const char *named = refs[i].path;
		char by_id[32];
		if (refs[i].path && refs[i].path[0]) {
			const struct shard_entry *e = shard_map_lookup(map, refs[i].path);
			if (!e)
				continue; /* not a path under /root: the state machine refuses it */
			g = e->group;
		} else if (refs[i].id > 0) {
			if (host_locate(h, (uint64_t)refs[i].id, &g) != GROVE_OK)
				continue; /* no such node: the state machine refuses it */
			snprintf(by_id, sizeof(by_id), "node %lld", (long long)refs[i].id);
			named = by_id;
		} else {
			continue;
		}
		if (!first) {
			*group = g;
			first = named;
			continue;
		}
		if (g != *group) {
			snprintf(why, why_cap, "the request names %s (shard %llu) and %s (shard %llu): requests across shards are "
				 "not supported yet", first, (unsigned long long)*group, named, (unsigned long long)g);
			return GROVE_ECROSSSHARD;
		}
	}
	return GROVE_OK;
}
