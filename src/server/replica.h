/**
 * @file replica.h
 * @brief One Raft group on this server: the consensus core (src/raft), its
 * share of the write-ahead log, and the state machine it drives.
 *
 * A replica runs the Ready cycle of its group: the entries and hard state
 * of each ready are queued in the server's write-ahead log (one flush, run
 * beside the loop, serves every group); the leader's appends go to the
 * peers at once, every other message after the flush that makes what it
 * promises durable; committed entries that are durable here are applied to
 * the state machine inside the server's apply transaction, together with
 * the applied index; then the core is advanced. When the flush finishes,
 * the server tells each replica (replica_flush_done()), which may commit
 * and apply more.
 *
 * What it needs from the server comes through struct replica_env: the
 * shared apply transaction, the log, and hooks to send messages, answer
 * clients and learn of new members. It calls nothing of the server's
 * directly, so it can run in a simulation over real files.
 *
 * Snapshots: a follower too far behind receives the leader's state machine
 * snapshot in chunks (struct snapshot_receiver); the replica assembles them
 * in whatever order they come (a late chunk of an older snapshot is dropped,
 * a newer snapshot replaces the one being assembled) and verifies it before
 * it steps it into Raft, then installs it in one store
 * transaction that also notes the snapshot in its group state, makes that
 * durable, and only then replaces its log; a restart between the two halves
 * finishes the install (replica_open()).
 *
 * Durability rule: the store is synced before the log drops entries behind
 * a snapshot (compaction or install), because after that they cannot be
 * applied again.
 */
#ifndef GROVE_SERVER_REPLICA_H
#define GROVE_SERVER_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/hlc/hlc.h"
#include "src/raft/raft.h"
#include "src/server/membership.h"
#include "src/server/metrics.h"
#include "src/server/statemachine.h"
#include "storage/store.h"
#include "storage/wal.h"

struct replica;

/** What applying one committed entry did. */
struct replica_applied {
	uint64_t index;                    /**< the entry's index */
	uint64_t term;                     /**< its term: a proposal of another term at this index was lost */
	const struct tree_result *result;  /**< the state machine's answer (borrowed for the call); NULL for
	                                        entries that are not commands (no-ops, membership) */
	struct hlc_ts stamp;               /**< the hybrid timestamp its leader proposed it at ({0, 0}: an entry
	                                        without one, see entrystamp.h) */
	uint64_t committed_ns;             /**< when its ready handed it out to apply (CLOCK_REALTIME): the
	                                        commit index had passed it and it was durable here */
	uint64_t applied_ns;               /**< when that ready's entries were applied (CLOCK_REALTIME) */
};

/** The server's side, as the replica sees it. */
struct replica_env {
	struct store *store;   /**< the store of the state machine and group state */
	store_db state_db;     /**< groupstate.h's database */
	struct wal *wal;       /**< the server's write-ahead log */
	void *ctx;             /**< passed to every hook */
	/** The open store transaction applies go into (shared by every group, committed lazily); NULL on failure. */
	struct store_txn *(*apply_txn)(void *ctx);
	/** Commit the apply transaction now (readers, snapshots). @return GROVE_OK or GROVE_ESTORAGE. */
	int (*commit_applied)(void *ctx);
	/** Wait until no log flush is running (before the log takes a snapshot mark). */
	void (*drain_log)(void *ctx);
	/**
	 * Send @p pb (borrowed) to peer @p to: at once, or, with @p after_persist, once every log write
	 * queued so far is durable.
	 */
	void (*send)(void *ctx, uint64_t to, const Grove__RaftMessage *pb, bool after_persist);
	/**
	 * Write out now what send() queued (NULL: the server writes at its own pace). Called before committed
	 * entries are applied: followers then hear of a commit before its leader spends time applying it.
	 */
	void (*flush_sends)(void *ctx);
	/** Bytes queued for peer @p to and not sent yet (0 when its link is down). */
	size_t (*backlog)(void *ctx, uint64_t to);
	/** A committed entry was applied (every entry, on every member). */
	void (*applied)(void *ctx, struct replica *r, const struct replica_applied *a);
	/**
	 * The state machine was replaced by a snapshot at @p index, installed and durable: the entries up to it
	 * were never applied here, and applied() was not called for them (NULL: nobody needs to know).
	 */
	void (*installed)(void *ctx, struct replica *r, uint64_t index);
	/** A linearizable read of @p context may be served: the state it needs is applied and committed. */
	void (*read_ready)(void *ctx, struct replica *r, uint64_t context);
	/** A membership change named member @p id at @p address. */
	void (*member_address)(void *ctx, uint64_t id, const char *address);
	/** The hybrid timestamp of a command this member proposes now (NULL: commands are not stamped). */
	struct hlc_ts (*stamp)(void *ctx);
	/** An applied entry carried stamp @p ts: merge it into the clock (NULL: ignored). */
	void (*observe)(void *ctx, struct hlc_ts ts);
	/** Where proposals, apply times and snapshot sends are counted (borrowed; NULL: not counted). */
	struct metrics *metrics;
};

/** How to start a replica. */
struct replica_config {
	uint64_t group;               /**< the group id (> 0) */
	uint64_t self;                /**< this server's id */
	const struct membership *founders; /**< a new group's voters (each writes them into its log); NULL to
	                                        wait for the leader to add this server (a joining member) */
	uint64_t compact_at;          /**< compact once the log holds this many applied entries; 0 = 20,000 */
	size_t snapshot_chunk;        /**< bytes per snapshot chunk; 0 = 1 MiB */
	size_t max_msg_bytes;         /**< largest AppendEntries payload; 0 = 4 MiB */
	uint64_t seed;                /**< seeds the election timeouts */
};

/**
 * @brief Start group @p cfg->group from what the log (@p log, NULL if it
 * holds nothing of the group) and the store hold; a new group is
 * bootstrapped: the founders are written into its log as committed
 * membership entries, as etcd does, so that a member joining later replays
 * the same membership.
 * @return GROVE_OK, GROVE_ECORRUPT (the store has applied entries of a group
 * whose log is gone, or applied less than the log's snapshot covers),
 * GROVE_EIO, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int replica_open(const struct replica_config *cfg, const struct replica_env *env, const struct wal_group *log,
		 struct state_machine sm, struct replica **out);

/** @brief Stop the replica (what it applied stays in the apply transaction). NULL is allowed. */
void replica_close(struct replica *r);

/** @brief The group id. */
uint64_t replica_group(const struct replica *r);

/** @brief One tick of Raft time (none while the group is quiesced); also retries lost snapshots. */
void replica_tick(struct replica *r);

/** @brief Wake a quiesced group: its leader's server fell silent (raft_wake()). */
void replica_wake(struct replica *r);

/**
 * @brief A RaftMessage from a peer (a snapshot chunk is assembled first).
 * @return GROVE_OK, GROVE_EINVAL (malformed; nothing changed), GROVE_ENOMEM.
 */
int replica_step(struct replica *r, const Grove__RaftMessage *pb);

/**
 * @brief Propose entry data @p data (copied), stamped with env.stamp() when
 * there is one (entrystamp.h); the state machine applies @p data alone.
 * @param index receives the index it will have if committed; @param term the term it was proposed in.
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE, GROVE_ENOMEM.
 */
int replica_propose(struct replica *r, const void *data, size_t len, uint64_t *index, uint64_t *term);

/** @brief Ask for a linearizable read [6.4]; read_ready follows. @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE. */
int replica_read(struct replica *r, uint64_t context);

/** @brief Hand leadership to @p to. @return as raft_transfer_leader(). */
int replica_transfer(struct replica *r, uint64_t to);

/**
 * @brief Propose a membership change: add @p node as a learner listening at
 * @p address, promote it, or remove it (one change at a time).
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE (a change is
 * pending), GROVE_EINVAL.
 */
int replica_change_membership(struct replica *r, enum raft_conf_op op, uint64_t node, const char *address);

/** @brief Start an election now if this server is the group's only voter. */
void replica_campaign_if_alone(struct replica *r);

/** @brief Whether replica_process() has work. */
bool replica_has_ready(const struct replica *r);

/**
 * @brief Run Ready cycles until there is nothing to do (bounded).
 * @return GROVE_OK, or a failure to persist or apply: the server must stop
 * (GROVE_EIO, GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_ECORRUPT).
 */
int replica_process(struct replica *r);

/** @brief Whether this replica queued log entries that no flush has taken yet. */
bool replica_entries_queued(const struct replica *r);

/** @brief A log flush began: what this replica queued is now in it. */
void replica_flush_taken(struct replica *r);

/** @brief The flush that replica_flush_taken() saw is durable. */
void replica_flush_done(struct replica *r);

/** @brief Serve the reads whose state is applied, committing the apply transaction first if they need it. */
int replica_release_reads(struct replica *r);

/** @brief Compact the log if it holds enough applied entries (drains the log writer first). */
void replica_maybe_compact(struct replica *r);

/** @brief The role and indexes, for status. */
struct replica_status {
	enum raft_role role;   /**< Raft role */
	bool voter;            /**< this server votes in the group */
	uint64_t term;         /**< current term */
	uint64_t leader;       /**< leader id, 0 if unknown */
	uint64_t commit;       /**< commit index */
	uint64_t applied;      /**< applied index */
	uint64_t first;        /**< first index of the log */
	uint64_t last;         /**< last index of the log */
	bool quiesced;         /**< the group is idle and does not tick (raft_quiesced()) */
	/**
	 * The leader, and it has applied an entry of its own term: everything committed before its term is
	 * applied here, so its state machine is the latest there is. A new leader is not current until its
	 * first entry is applied (it may not know yet how far its predecessor committed).
	 */
	bool current;
};

void replica_status(const struct replica *r, struct replica_status *out);

/** @brief The group's members (voters, then learners), and as its leader sees them, their match index. */
size_t replica_members(const struct replica *r, uint64_t *ids, bool *voter, uint64_t *match, size_t cap);

/**
 * @brief Take a snapshot of the state machine as applied now (committing the
 * apply transaction first).
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_EIO.
 */
int replica_snapshot(struct replica *r, struct snapshot *out);

/**
 * @brief The first half of replica_snapshot(), for a snapshot built on
 * another thread: commit the apply transaction and begin the read
 * transaction the snapshot is taken from (loop thread only).
 * @param txn receives the read transaction; hand it to
 * replica_snapshot_build(), or end it with store_txn_abort().
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int replica_snapshot_begin(struct replica *r, struct store_txn **txn);

/**
 * @brief The second half: build the snapshot from @p txn (which it ends,
 * also on error). Reads only the store through @p txn and what never
 * changes after the replica was opened, so it may run on any thread while
 * the loop goes on applying.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_EIO.
 */
int replica_snapshot_build(const struct replica *r, struct store_txn *txn, struct snapshot *out);

#endif
