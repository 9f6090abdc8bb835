/**
 * @file host.h
 * @brief The host: the Raft groups this server serves, their shared
 * write-ahead log and its writer thread, and what waits on them.
 *
 * A host owns the store (one LMDB environment for every group), the log (one
 * for every group, one write and one fdatasync per flush whatever the number
 * of groups; flushed beside the loop by a struct logwriter when a leader's
 * batch is large, in the loop otherwise: see host.c), and a replica
 * per group (replica.h) keyed by group id. It tracks proposals by (group,
 * index) and linearizable reads by context, and answers them through its
 * hooks; it sends Raft messages through its hooks too, holding back those
 * that promise what the log has not made durable yet. It knows nothing of
 * sockets: the server wires it to the loop and the transport.
 *
 * Applied state is committed to LMDB lazily (the log replays what a crash
 * undoes): before a read or a snapshot needs it, and otherwise every 10 ticks.
 *
 * Groups: the world's (HOST_WORLD_GROUP), the meta group that keeps the
 * shard map (HOST_META_GROUP, shard_sm.h), and one per shard that a split
 * made. Every server is a member of every group: membership changes are
 * made to the world's group (host_admin()), and the leader of every other
 * group follows it, one Raft change at a time (adds a member as a learner,
 * promotes it once caught up if the world's group has it as a voter,
 * removes one the world's group no longer has, handing the group to
 * another voter first if that is itself). A split's group is born on
 * each member when that member applies the split in the source's log: its
 * state is what the split wrote, as if a snapshot at index 1 (so a member
 * that lags behind it is caught up by a snapshot like any other); a member
 * that skipped the split (its source caught up by a snapshot) starts the
 * group empty and is caught up by a snapshot of it. The meta group's leader
 * drives every split (tla/membership/Shards.tla): StartSplit in the meta
 * log, the move in the source's log, SwitchMap in the meta log.
 */
#ifndef GROVE_SERVER_HOST_H
#define GROVE_SERVER_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/server/history.h"
#include "src/server/hub.h"
#include "src/server/membership.h"
#include "src/server/metrics.h"
#include "src/server/replica.h"
#include "src/shard/shardmap.h"
#include "src/tree/tree.h"
#include "src/txn/txn.h"
#include "storage/snapshot.h"
#include "storage/store.h"

/** The group that holds the world's root, and everything no split took away. */
#define HOST_WORLD_GROUP 1
/** The index a group split off starts its own log from: its state is the split's, as if a snapshot there. */
#define HOST_BIRTH_INDEX 1
/** The meta group: the shard map (every server is a member). */
#define HOST_META_GROUP 2
/** Splits make groups from this id on. */
#define HOST_FIRST_SHARD_GROUP 3

/** How to start. */
struct host_config {
	uint64_t self;                 /**< this server's id */
	const char *data_dir;          /**< the store, and the log in DATA/raft-log */
	struct membership founders;    /**< the founding members (a single node: itself) */
	bool join;                     /**< a new member: wait to be added instead of founding */
	bool no_sync;                  /**< benchmarks only: nothing is fsynced (not durable) */
	uint64_t compact_at;           /**< log compaction threshold (0: default) */
	size_t snapshot_chunk;         /**< bytes per snapshot chunk (0: 1 MiB) */
	size_t max_msg_bytes;          /**< largest AppendEntries payload (0: 4 MiB) */
	const struct change_hub *hub;  /**< where applied changes go; NULL for nowhere */
	uint64_t history_entries;      /**< change history retention per group, in entries (0: default) */
	uint64_t history_bytes;        /**< and in bytes (0: default) */
	struct metrics *metrics;       /**< where latencies and proposals are counted (borrowed, outlives the
	                                    host; NULL: counted where nobody reads them) */
};

/** Who waits for an answer: a connection of the loop and its request. */
struct host_ticket {
	uint64_t conn;        /**< connection id */
	uint64_t request_id;  /**< the client's */
	uint64_t receive_ns;  /**< when the request arrived (CLOCK_REALTIME) */
};

/** How a proposed write ended. */
struct host_write_done {
	uint64_t group;          /**< its group */
	uint64_t index;          /**< the log index it went to */
	bool restore;            /**< it was a snapshot restore */
	int code;                /**< GROVE_OK, the state machine's refusal, or GROVE_EUNAVAILABLE when lost */
	const char *message;     /**< why, when code != 0 */
	size_t failed_op;        /**< the refused operation */
	const uint64_t *ids;     /**< per operation, the node or resource id */
	size_t n_ids;            /**< number of ids */
	uint64_t durable_ns;     /**< when the leader's own log held it durably (CLOCK_REALTIME) */
	uint64_t proposed_ns;    /**< when it was handed to Raft (CLOCK_REALTIME) */
	uint64_t committed_ns;   /**< when it was handed out to apply (struct replica_applied) */
	uint64_t applied_ns;     /**< when it was applied (struct replica_applied) */
};

/** What the host needs from the server. Strings and bytes handed to hooks are borrowed for the call. */
struct host_hooks {
	void *ctx;
	/** Send a packed RaftMessage to peer @p to. */
	void (*send)(void *ctx, uint64_t to, const uint8_t *msg, size_t len);
	/** Bytes queued for peer @p to and not sent yet. */
	size_t (*backlog)(void *ctx, uint64_t to);
	/** Write out what send() queued so far (NULL: only when the server flushes at the end of its turn). */
	void (*flush_sends)(void *ctx);
	/** A proposal ended. */
	void (*write_done)(void *ctx, const struct host_ticket *t, const struct host_write_done *w);
	/** A linearizable read may be served now from the store (@p request: what host_read() was given). */
	void (*read_ready)(void *ctx, const struct host_ticket *t, const uint8_t *request, size_t len);
	/** A read cannot be served here (@p code GROVE_ENOTLEADER or GROVE_EUNAVAILABLE, @p why one line). */
	void (*read_failed)(void *ctx, const struct host_ticket *t, int code, const char *why);
	/** A member became known (at start, or by a membership change). */
	void (*member_added)(void *ctx, uint64_t id, const char *address);
	/** Pass command @p data of group @p group on to member @p to, its leader. */
	void (*forward)(void *ctx, uint64_t to, uint64_t group, const uint8_t *data, size_t len);
	/**
	 * A submit ended: the entry carrying its key was applied here at @p index (@p code GROVE_OK, or the
	 * state machine's refusal), or it was not applied in time (GROVE_EUNAVAILABLE: retry with the key).
	 */
	void (*submit_done)(void *ctx, const struct host_ticket *t, const char *key, uint64_t index, int code,
			    const char *message, size_t failed_op);
	/**
	 * A `shard split` (host_shard_split()) ended: @p code GROVE_OK (the subtree is shard @p group now), the
	 * refusal of the map or of the split's source, GROVE_EUNAVAILABLE (lost in a leadership change) or
	 * GROVE_ETIMEDOUT (still running).
	 */
	void (*shard_done)(void *ctx, const struct host_ticket *t, int code, const char *message, uint64_t group);
	/** The hybrid timestamp of a command this member proposes now, as its leader (entrystamp.h). */
	struct hlc_ts (*stamp)(void *ctx);
	/** An applied entry carried stamp @p ts: merge it into the server's clock. */
	void (*observe)(void *ctx, struct hlc_ts ts);
	/**
	 * Group @p group applied a cross-shard transaction's command here, at @p index: @p res holds the
	 * command and the shard's result (tree_result.txn_cmd, txn_result), or the tree's refusal of an
	 * intent's part (res->err, with the result empty) or of its key (res->duplicate_of), and the ids the
	 * part gave (NULL: not wanted).
	 */
	void (*txn_applied)(void *ctx, uint64_t group, uint64_t index, const struct tree_result *res);
};

struct host;

/**
 * @brief Take cfg->data_dir for this process (dirlock.h), open the store and
 * the log in it (moving data from older layouts first), start the groups and
 * the log writer.
 * @return GROVE_OK, GROVE_EUNAVAILABLE (another process holds the directory:
 * logged with its process id), GROVE_EINVAL, GROVE_ECORRUPT, GROVE_EIO,
 * GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int host_open(const struct host_config *cfg, const struct host_hooks *hooks, struct host **out);

/** @brief Commit what was applied, stop the writer, close everything. NULL is allowed. */
void host_close(struct host *h);

/** @brief The eventfd that tells the loop a log flush finished; call host_log_event() then. */
int host_log_fd(const struct host *h);

/** @brief A log flush finished (or maybe did): account for it and release what waited for it. */
void host_log_event(struct host *h);

/**
 * @brief One tick: Raft time for every group that is not quiesced; applied
 * state committed every 10 ticks; quiesced followers whose leader's server
 * fell silent (host_peer_heard()) woken.
 */
void host_tick(struct host *h);

/**
 * @brief Whether the next host_tick() commits the applied state (an fdatasync of the store): what must be
 * made durable soon anyway may be written now and share that commit (host_save_clock_bound()).
 */
bool host_commit_due(const struct host *h);

/** @brief Something arrived from peer server @p peer: it is alive (for waking quiesced groups). */
void host_peer_heard(struct host *h, uint64_t peer);

/**
 * @brief Run every group's Ready cycle, then start a log flush if anything
 * is queued and none runs. Call once per loop turn.
 * @return GROVE_OK, or the failure that makes the server stop to protect the data.
 */
int host_process(struct host *h);

/**
 * @brief A RaftMessage from peer @p from (the connection's authenticated id).
 * @return GROVE_OK, GROVE_EINVAL (malformed, not from @p from or not to this
 * server), GROVE_ENOTFOUND (of a group not hosted here yet: dropped).
 */
int host_step(struct host *h, uint64_t from, const Grove__RaftMessage *m);

/**
 * @brief Whether new writes are refused because the disk is full: the data
 * directory's file system has less than the reserve free, or the log found
 * it full and waits to write its batch again. @p why (@p why_cap bytes,
 * 0 for none) receives one line for the client.
 */
bool host_disk_full(const struct host *h, char *why, size_t why_cap);

/**
 * @brief Propose command @p kind (tree_sm.h) of @p len bytes to group
 * @p group; the answer goes to write_done.
 * @return GROVE_OK (proposed), GROVE_ENOTLEADER, GROVE_EUNAVAILABLE,
 * GROVE_ENOSPC (the disk is full: host_disk_full()), GROVE_EINVAL (no such
 * group), GROVE_ENOMEM.
 */
int host_propose(struct host *h, uint64_t group, const struct host_ticket *t, int kind, const void *body, size_t len);

/**
 * @brief Submit WriteRequest @p request (@p len bytes, carrying submit_key
 * @p key) to group @p group: proposed here if this member leads, otherwise
 * passed on to the leader. Either way it is answered (submit_done) when
 * this member applies the entry with that key, or after 60 s without one.
 * @return GROVE_OK, GROVE_EUNAVAILABLE (no leader known), GROVE_ENOSPC
 * (this member leads and its disk is full), GROVE_EINVAL, GROVE_ENOMEM.
 */
int host_submit(struct host *h, uint64_t group, const struct host_ticket *t, const char *key, const void *request,
		size_t len);

/**
 * @brief Have command @p kind (tree_sm.h) of @p len bytes proposed to group
 * @p group: here if this member leads it, otherwise by its leader. Nobody
 * waits for it: whoever sent it learns what became of it when this member
 * applies it (a lost one is sent again by its sender).
 * @return GROVE_OK, GROVE_EUNAVAILABLE (no leader known), GROVE_EINVAL (no
 * such group), GROVE_ENOMEM.
 */
int host_send_command(struct host *h, uint64_t group, int kind, const void *body, size_t len);

/**
 * @brief The index at which tree group @p group applied submit key @p key, as
 * this member applied it (0: not, or not any more, remembered). What a
 * member applied may lag the group's log: 0 decides nothing.
 * @return GROVE_OK, GROVE_EINVAL (not a tree group here), GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int host_key_applied(struct host *h, uint64_t group, const char *key, uint64_t *index);

/**
 * @brief Whether a cross-shard transaction's intent holds group @p group as
 * this member applied it, and which (@p meta, may be NULL: the first of
 * host_holders()).
 */
bool host_held(struct host *h, uint64_t group, struct txn_meta *meta);

/**
 * @brief The cross-shard transactions whose intents hold tree group @p group
 * as this member applied it (tree_sm_holders()), the first @p max of them
 * into @p out.
 * @return how many were stored (0 for a group that is not held, or not a
 * tree group here).
 */
size_t host_holders(struct host *h, uint64_t group, struct txn_meta *out, size_t max);

/**
 * @brief Whether a transaction whose part for tree group @p group is
 * @p part would now meet a transaction that holds the group, but for those
 * @p passes (may be NULL) leaves out, as this member applied it
 * (tree_sm_part_waits()). False for a group that is not held.
 */
bool host_part_waits(struct host *h, uint64_t group, const uint8_t *part, size_t len,
		     bool (*passes)(void *ctx, uint64_t txn_id), void *ctx);

/**
 * @brief Whether parts @p a and @p b of two transactions for tree group
 * @p group would not hold it at once (tree_sm_parts_meet()), as this member
 * applied it; true when the group is not a tree group here.
 */
bool host_parts_meet(struct host *h, uint64_t group, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/**
 * @brief Whether write @p request (a packed WriteRequest) to tree group
 * @p group would be refused now, as this member applied the group, because a
 * cross-shard transaction holds it and the write does not commute with its
 * part (tree_sm_write_waits()). False for a group that is not held.
 */
bool host_write_waits(struct host *h, uint64_t group, const uint8_t *request, size_t len);

/**
 * @brief Whether write @p request to tree group @p group would meet @p part,
 * a cross-shard transaction's part for the group whose intent may not be
 * applied here yet, as this member applied the group (tree_sm_write_meets()).
 */
bool host_write_meets(struct host *h, uint64_t group, const uint8_t *part, size_t part_len, const uint8_t *request,
		      size_t len);

/**
 * @brief The record of transaction @p id on its anchor @p group, as this
 * member applied it (TXN_NONE if there is none).
 * @param rec receives an owned record (txn_record_free()).
 * @return GROVE_OK, GROVE_EINVAL (no such group), GROVE_ESTORAGE, GROVE_ECORRUPT, GROVE_ENOMEM.
 */
int host_txn_record(struct host *h, uint64_t group, uint64_t id, struct txn_record *rec);

/**
 * @brief The first transaction with an id above @p after that @p group
 * resolved early (shard.h txn_shard_early()) and whose record has not
 * confirmed it yet, as this member applied it.
 * @param meta receives the attempt resolved early.
 * @return GROVE_OK, GROVE_ENOTFOUND (none), GROVE_EINVAL (no such tree
 * group), GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int host_txn_early(struct host *h, uint64_t group, uint64_t after, struct txn_meta *meta);

/**
 * @brief The first record, of a transaction with an id above @p after, that
 * @p group anchors, and whether it waits for its coordinator or a recovery
 * (shard.h txn_shard_next_record()), as this member applied it.
 * @param id receives the transaction's id.
 * @param rec receives its record (owned: txn_record_free()).
 * @return GROVE_OK, GROVE_ENOTFOUND (none), GROVE_EINVAL (no such tree
 * group), GROVE_ESTORAGE, GROVE_ECORRUPT, GROVE_ENOMEM.
 */
int host_txn_next_record(struct host *h, uint64_t group, uint64_t after, uint64_t *id, struct txn_record *rec,
			 bool *waits);

/**
 * @brief Whether server @p peer was heard from within the last @p ms
 * milliseconds (a live peer's link sends something at least every
 * TRANSPORT_KEEPALIVE_MS); this member always is.
 */
bool host_peer_lately_heard(const struct host *h, uint64_t peer, uint64_t ms);

/** @brief Whether this member leads group @p group now. */
bool host_leads(const struct host *h, uint64_t group);

/**
 * @brief Whether this member leads group @p group and its tree there is the
 * latest there is (replica_status.current): what is read from it is not
 * behind what the group committed before this leader's term.
 */
bool host_leads_current(const struct host *h, uint64_t group);

/**
 * @brief A command (entry data) that member @p from passed on: proposed if
 * this member leads the group, dropped otherwise or while its disk is full
 * (the client's retry with the same key applies once).
 */
void host_forwarded(struct host *h, uint64_t from, uint64_t group, const uint8_t *data, size_t len);

/** @brief The last index applied of group @p group (0 if not hosted). */
uint64_t host_applied(const struct host *h, uint64_t group);

/**
 * @brief A linearizable read of group @p group: read_ready (or read_failed)
 * follows, handing back a copy of @p request.
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE, GROVE_EINVAL, GROVE_ENOMEM.
 */
int host_read(struct host *h, uint64_t group, const struct host_ticket *t, const uint8_t *request, size_t len);

/**
 * @brief Membership and leadership of group @p group: add @p node as a
 * learner at @p address, promote it, remove it (op as enum raft_conf_op), or
 * with op 0 hand leadership to it.
 * @return as replica_change_membership() / replica_transfer().
 */
int host_admin(struct host *h, uint64_t group, int op, uint64_t node, const char *address);

/**
 * @brief Commit what was applied, so that readers of the store see it (status
 * and other reads that need no quorum). @return GROVE_OK, GROVE_ESTORAGE.
 */
int host_commit_applied(struct host *h);

/**
 * @brief A transaction that sees everything applied, without committing the
 * applies first (a commit makes the loop wait for the store's sync): while
 * applies wait uncommitted, one nested in their transaction, to read only and
 * to end with store_txn_abort() before anything else touches the store;
 * otherwise a read transaction.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int host_read_applied(struct host *h, struct store_txn **out);

/**
 * @brief The open write transaction that holds everything this member
 * applied, committed to LMDB or not yet: for reads in the loop's thread
 * that must see the latest applied state without paying for a commit.
 * Borrowed: neither commit nor abort it, and do not keep it past the
 * current event. @return it, or NULL when the store cannot begin one.
 */
struct store_txn *host_applied_txn(struct host *h);

/**
 * @brief The hybrid clock's bound persisted in the store (0 if none yet):
 * at start, the clock starts above it (serverclock.h).
 * @return GROVE_OK, GROVE_ECORRUPT, GROVE_ESTORAGE.
 */
int host_clock_bound(struct host *h, uint64_t *bound);

/**
 * @brief Persist @p bound as the hybrid clock's bound, committed at once
 * together with whatever was applied (a commit without an fsync: it survives
 * a crash of the process at once, a crash of the machine once the store is
 * next synced). @return GROVE_OK, GROVE_ESTORAGE.
 */
int host_save_clock_bound(struct host *h, uint64_t bound);

/** @brief The change history every applied entry is recorded in. */
const struct history *host_history(const struct host *h);

/**
 * @brief How many entries this member applied, in any group, since the host
 * opened, that changed a tree (their change records are not empty): a cheap
 * "did the world change" across shards.
 */
uint64_t host_changes_applied(const struct host *h);

/** @brief The store (for reads). */
struct store *host_store(const struct host *h);

/** @brief Group @p group's tree, or NULL if not hosted here. */
const struct tree *host_tree(const struct host *h, uint64_t group);

/**
 * @brief The ids of the groups hosted here, up to @p cap of them into @p ids.
 * @return how many there are (more than @p cap when they did not all fit).
 */
size_t host_group_ids(const struct host *h, uint64_t *ids, size_t cap);

/**
 * @brief Whether this member can serve group @p group now: it leads it and a
 * quorum of its voters was heard from lately, or it knows a live leader; and
 * it applied all but at most @p max_lag of what it knows was committed.
 * @param why one line saying what is missing, when not.
 */
bool host_ready(const struct host *h, uint64_t group, uint64_t max_lag, char *why, size_t why_cap);

/** @brief The leader's address for group @p group, "" if unknown or this server leads. */
const char *host_leader_address(const struct host *h, uint64_t group);

/** What status reports of a group and of the server. */
struct host_status {
	struct replica_status group;       /**< the group's Raft view */
	size_t n_members;                  /**< members below */
	struct {
		uint64_t id;                     /**< member id */
		char address[MEMBER_ADDRESS_MAX + 1]; /**< where it listens */
		bool voter;                      /**< it votes */
		uint64_t match;                  /**< as the leader sees it */
	} members[RAFT_MAX_MEMBERS];
	bool quiesced;                     /**< the group is idle: it does not tick */
	uint64_t writes_applied;           /**< commands applied since start */
	uint64_t log_flushes;              /**< log flushes (group commits) since start, with those that found the disk full */
};

/** @brief Fill @p out for group @p group. @return GROVE_OK or GROVE_EINVAL (not hosted). */
int host_status(const struct host *h, uint64_t group, struct host_status *out);

/**
 * A snapshot begun in the loop and built on another thread: of one group
 * (host_snapshot_begin()), or of the whole world (host_world_snapshot_begin()).
 */
struct host_snapshot_read {
	const struct replica *replica; /**< borrowed: a group stays open as long as the host */
	struct store_txn *txn;         /**< the read transaction it is taken from, owned until built or abandoned */
	bool world;                    /**< the world across its shards, as one tree (view) */
	struct tree_view view;         /**< every tree group, when world (owned) */
	store_db state_db;             /**< where the world group's applied index is read, when world */
};

/**
 * @brief A snapshot of group @p group as applied now, in two halves, so
 * that the long part runs beside the loop: here (loop thread), commit what
 * was applied and begin the read transaction of the group's state.
 * @return GROVE_OK, GROVE_EINVAL (no such group), GROVE_ESTORAGE. On error
 * there is nothing to abandon.
 */
int host_snapshot_begin(struct host *h, uint64_t group, struct host_snapshot_read *out);

/**
 * @brief Build the snapshot begun with host_snapshot_begin(); any thread,
 * while the loop goes on. Ends the read transaction, also on error.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_EIO.
 */
int host_snapshot_build(struct host_snapshot_read *rd, struct snapshot *out);

/** @brief End a snapshot begun and not built (its read transaction). Safe after a build. */
void host_snapshot_abandon(struct host_snapshot_read *rd);

/**
 * @brief Begin a snapshot of the whole world, its shards merged into one tree
 * (tree_view_dump(): it restores as a world without shards), from what this
 * member applied: commit what was applied, begin the read transaction, and
 * check in it that transaction @p holder's intent holds every shard (every
 * group but the meta group). Held so, each shard's state is the one at that
 * intent, and no other cross-shard transaction is applied on one shard and
 * not on another (it would hold a shard too, or wait behind @p holder): the
 * states belong together. The snapshot names the world group's applied index.
 * Build it with host_snapshot_build().
 * @return GROVE_OK, GROVE_EINTENT (a shard is not held by @p holder: no
 * cut here), GROVE_ESTORAGE, GROVE_ENOMEM. On error there is nothing to abandon.
 */
int host_world_snapshot_begin(struct host *h, uint64_t holder, struct host_snapshot_read *out);

/**
 * @brief Whether one transaction's intent holds every shard (every group but
 * the meta group) as this member applied them, and which (@p holder): then
 * host_world_snapshot_begin() with it reads a consistent cut, whoever began
 * that transaction (a cut of another member's, say).
 */
bool host_world_held(struct host *h, uint64_t *holder);

/* ---- shards ---- */

/** @brief The shard map as this member applied it (borrowed; it changes as the meta group applies). */
const struct shard_map *host_shard_map(const struct host *h);

/**
 * @brief Whether the world has more than one shard (or a split running), as
 * this member knows it: by its copy of the map, or by a group that a split
 * made here (its source's log may be applied before the meta group's).
 */
bool host_sharded(const struct host *h);

/**
 * @brief Whether group @p group, as this member applied it, holds a signal connection across shards: a delete
 * there may have to remove its other half too, so it is planned as a write across shards (txnplan.h).
 */
bool host_connected_across(struct host *h, uint64_t group);

/**
 * @brief Split the subtree at @p path off into a new group: proposes the
 * split's start to the meta group (this member must lead it); the meta
 * group's leader then drives it (the source applies it, the map switches)
 * and shard_done answers when it ended.
 * @param why one line when refused here.
 * @return GROVE_OK (proposed), GROVE_ENOTLEADER, GROVE_EUNAVAILABLE,
 * GROVE_EINVAL (a path too long; a member of the world's group that is not
 * one of the meta group's: the new group could not have it), GROVE_ENOMEM.
 */
int host_shard_split(struct host *h, const struct host_ticket *t, const char *path, char *why, size_t why_cap);

/**
 * @brief A read-only view of the world across every tree group hosted here
 * (struct tree_view), as this member applied them, groups made by a split in
 * this turn and not started yet included. Release with tree_view_free().
 * @return GROVE_OK, GROVE_ENOMEM.
 */
int host_view(const struct host *h, struct tree_view *out);

/**
 * @brief The group that holds node @p id as this member applied it.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int host_locate(struct host *h, uint64_t id, uint64_t *group);

/** A node a request names: an absolute path, or else an id (> 0; batch-local references are not given). */
struct host_ref {
	const char *path;  /**< "" or NULL when by id */
	int64_t id;        /**< when no path */
};

/**
 * @brief The group a request naming @p n nodes @p refs goes to: the shard of
 * every path (longest prefix in the map) and id (where it is now); the
 * world's group when it names none.
 * @return GROVE_OK, or GROVE_ECROSSSHARD (with @p why) when they are in
 * different shards.
 */
int host_route(struct host *h, const struct host_ref *refs, size_t n, uint64_t *group, char *why, size_t why_cap);

/**
 * @brief Whether a read of @p node in tree group @p group, whole or alone,
 * must wait for the cross-shard transaction that holds the group, as this
 * member applied it (tree_sm_read_waits()). False for a group that is not
 * held; true when the store cannot be read.
 */
bool host_read_waits(struct host *h, uint64_t group, const struct host_ref *node, bool whole);

#endif
