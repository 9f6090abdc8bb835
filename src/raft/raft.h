/**
 * @file raft.h
 * @brief The Raft consensus core: a pure state machine, one per shard.
 *
 * No sockets, files, clocks or randomness of its own: time arrives as
 * raft_tick(), messages as raft_step(), proposals as raft_propose(), and the
 * election timeout is drawn from a PRNG seeded by the caller, so a run is a
 * function of its inputs and a simulation can replay it exactly.
 *
 * The caller's loop follows etcd's Ready contract, with persistence that may
 * finish later (etcd's AsyncStorageWrites):
 *   1. raft_ready() says what to do: entries and hard state to persist,
 *      messages to send, committed entries to apply, a snapshot to install,
 *      read states whose index has been confirmed;
 *   2. the caller starts persisting the entries and hard state, sends the
 *      leader's AppendEntries and heartbeats at once, holds every other
 *      message until the persisting of this ready (and of every earlier one)
 *      is durable, and applies the committed entries;
 *   3. raft_advance() tells the core that it was handed all of it;
 *   4. raft_persisted() tells it, whenever the write has become durable, up
 *      to which entry.
 * A vote or an append acknowledgement therefore never leaves before the
 * state it promises is durable; a leader's own appends leave before its own
 * write (dissertation §10.2.1), but it counts its own log toward a quorum
 * only once raft_persisted() said so; and only entries that are durable
 * here are handed out to apply, so no applied state can outlive a crash
 * that loses the entries behind it. A caller that persists synchronously
 * calls raft_persisted() before sending.
 *
 * Implemented (Ongaro's dissertation sections in brackets): leader election
 * [3.4] with pre-vote and check-quorum [9.6]; log replication [3.5] with
 * per-follower progress (probe / replicate / snapshot), pipelining (up to
 * max_inflight AppendEntries in flight) and batching; commitment of
 * current-term entries only [3.6.2]; a no-op entry at the start of each term;
 * log compaction and snapshots [5.1] (the transport cuts the snapshot data
 * into chunks; the core only carries its metadata); single-server membership
 * changes [4.1], one at a time, applied when committed, refused until the
 * leader has committed an entry of its own term (the fix for the bug of
 * section 4.1's erratum); learners [4.2.1] (non-voting members); leadership
 * transfer [3.10]; ReadIndex for linearizable reads without a log write [6.4].
 *
 * Commit learned by followers: a follower sends its acknowledgement of an
 * append to the leader and the same answer to the other voters, a leader
 * acknowledges its own log to the followers once its write is durable, and a
 * follower commits an entry of its term that it holds durably once the
 * acknowledgements of its term it heard make a quorum with it, without
 * waiting for the leader's next message to tell it; never across a
 * membership change it has not applied. So a follower may apply an entry before the leader counts it
 * committed, and a ReadIndex read waits for the leader's last index rather
 * than its commit index. tla/raft/Raft.tla and
 * tla/linearizability/Linearizability.tla (LearnCommit) check both.
 *
 * Ownership: the core owns its log. Entries, messages and read states handed
 * out by raft_ready() stay valid until raft_advance(); entry data passed to
 * raft_propose() and in stepped messages is copied.
 */
#ifndef GROVE_RAFT_RAFT_H
#define GROVE_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Most members (voters + learners) of one group. */
#define RAFT_MAX_MEMBERS 16

/** Node roles. */
enum raft_role {
	RAFT_FOLLOWER = 0,
	RAFT_PRE_CANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3
};

/** Entry kinds. */
enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 0,      /**< application data (empty, or raft_config.noop_data's: the leader's no-op) */
	RAFT_ENTRY_CONF_CHANGE = 1  /**< a struct raft_conf_change, encoded by raft_encode_conf_change() */
};

/** One log entry. */
struct raft_entry {
	uint64_t index;   /**< position in the log, from 1 */
	uint64_t term;    /**< term of the leader that created it */
	uint32_t type;    /**< enum raft_entry_type */
	uint8_t *data;    /**< payload, owned by whoever holds the entry */
	size_t len;       /**< payload length */
};

/** Message kinds. */
enum raft_msg_type {
	RAFT_MSG_APPEND = 1,          /**< AppendEntries [3.5] */
	RAFT_MSG_APPEND_RESP = 2,
	RAFT_MSG_VOTE = 3,            /**< RequestVote [3.4] */
	RAFT_MSG_VOTE_RESP = 4,
	RAFT_MSG_PRE_VOTE = 5,        /**< pre-vote [9.6]: a vote that changes no one's term */
	RAFT_MSG_PRE_VOTE_RESP = 6,
	RAFT_MSG_HEARTBEAT = 7,       /**< empty append carrying commit and a ReadIndex context */
	RAFT_MSG_HEARTBEAT_RESP = 8,
	RAFT_MSG_SNAPSHOT = 9,        /**< InstallSnapshot [5.1] (metadata; data travels beside it) */
	RAFT_MSG_TIMEOUT_NOW = 10     /**< leadership transfer: start an election now [3.10] */
};

/** The membership of a group. */
struct raft_conf {
	uint64_t voters[RAFT_MAX_MEMBERS];   /**< voting members */
	size_t n_voters;                     /**< number of voters */
	uint64_t learners[RAFT_MAX_MEMBERS]; /**< non-voting members */
	size_t n_learners;                   /**< number of learners */
};

/** A membership change: one server at a time. */
enum raft_conf_op {
	RAFT_CONF_ADD_LEARNER = 1,  /**< add a non-voting member */
	RAFT_CONF_PROMOTE = 2,      /**< make a learner a voter */
	RAFT_CONF_REMOVE = 3,       /**< remove a voter or a learner */
	RAFT_CONF_ADD_VOTER = 4     /**< add a voter directly (prefer learner + promote) */
};

struct raft_conf_change {
	enum raft_conf_op op; /**< what to do */
	uint64_t node;        /**< to whom */
};

/** A message between members. */
struct raft_msg {
	enum raft_msg_type type;
	uint64_t from, to;
	uint64_t term;             /**< sender's term (pre-vote: the term it would campaign in) */
	uint64_t log_term;         /**< APPEND: term of entry `index`; VOTE: term of the candidate's last entry */
	uint64_t index;            /**< APPEND: index before the entries; VOTE: candidate's last index;
	                                APPEND_RESP: last index matched (or rejected) */
	uint64_t commit;           /**< leader's commit index (capped at what the follower is known to have) */
	bool reject;               /**< a refused append or vote */
	uint64_t reject_hint;      /**< APPEND_RESP reject: the follower's last index */
	struct raft_entry *entries;/**< APPEND: entries after `index`; owned by the sender of the message */
	size_t n_entries;
	uint64_t context;          /**< HEARTBEAT(_RESP): ReadIndex round id; 0 for none */
	bool quiesce;              /**< HEARTBEAT: the leader's group is idle; a follower that holds everything stops ticking */
	uint64_t snapshot_index;   /**< SNAPSHOT: last index the snapshot covers */
	uint64_t snapshot_term;    /**< SNAPSHOT: its term */
	struct raft_conf snapshot_conf; /**< SNAPSHOT: membership at that index */
};

/** Durable per-server state [3.8]. */
struct raft_hard_state {
	uint64_t term;    /**< current term */
	uint64_t vote;    /**< voted for in term, 0 for none */
	uint64_t commit;  /**< highest known committed index */
};

/** A confirmed linearizable read: serve it once applied >= index. */
struct raft_read_state {
	uint64_t context; /**< what raft_read_index() was given */
	uint64_t index;   /**< the leader's last index at the time of the request (every entry any member may
	                       have committed), confirmed by a quorum */
};

/** What the core needs to start. */
struct raft_config {
	uint64_t id;                 /**< this server's id (> 0) */
	unsigned election_ticks;     /**< election timeout base, in ticks (randomized in [t, 2t)) */
	unsigned heartbeat_ticks;    /**< heartbeat interval, in ticks; < election_ticks */
	unsigned max_inflight;       /**< AppendEntries in flight per follower (pipelining) */
	size_t max_batch;            /**< most entries per AppendEntries */
	size_t max_msg_bytes;        /**< AppendEntries stop adding entries past this many payload bytes
	                                  (one entry always goes, whatever its size); 0 = no limit */
	uint64_t seed;               /**< seeds the election timeout randomization */
	bool pre_vote;               /**< run a pre-vote before each election */
	bool check_quorum;           /**< a leader steps down without a quorum's contact */
	bool quiesce;                /**< an idle group stops ticking (see raft_quiesced()) */
	/**
	 * What the no-op entry of a new leader holds (NULL: nothing): called when the leader appends it, with
	 * @p out of RAFT_NOOP_DATA_MAX bytes; returns how many it wrote. The application must take an entry that
	 * holds only such bytes for empty (e.g. a timestamp it stamps its commands with too).
	 */
	size_t (*noop_data)(void *ctx, uint8_t *out);
	void *noop_ctx;              /**< passed to noop_data */
};

/** Most bytes raft_config.noop_data may write. */
#define RAFT_NOOP_DATA_MAX 32

/** Durable state the core restarts from (all zero for a new member). */
struct raft_restore {
	struct raft_hard_state hard;   /**< persisted term, vote, commit */
	struct raft_conf conf;         /**< membership as of the last applied conf change or snapshot */
	uint64_t snapshot_index;       /**< the log starts after this index */
	uint64_t snapshot_term;        /**< term of snapshot_index */
	const struct raft_entry *entries; /**< persisted entries snapshot_index+1 .. (copied) */
	size_t n_entries;
	uint64_t applied;              /**< last index the application applied (>= snapshot_index) */
};

/** The work the caller must do now; see the file comment. */
struct raft_ready {
	bool hard_state_changed;           /**< persist `hard` */
	struct raft_hard_state hard;
	const struct raft_entry *entries;  /**< persist these (they may overwrite a suffix) */
	size_t n_entries;
	bool install_snapshot;             /**< install the snapshot at snapshot_index first (follower) */
	uint64_t snapshot_index, snapshot_term;
	struct raft_conf snapshot_conf;
	struct raft_msg *msgs;             /**< send these after persisting */
	size_t n_msgs;
	const struct raft_entry *committed;/**< apply these, in order, after sending */
	size_t n_committed;
	struct raft_read_state *reads;     /**< confirmed reads */
	size_t n_reads;
};

struct raft;

/**
 * @brief Create a core. @p restore may be NULL for a fresh member; a fresh
 * member with voters in restore->conf (or a bootstrap configuration) can
 * campaign.
 * @return GROVE_OK, GROVE_EINVAL (bad config), GROVE_ENOMEM.
 */
int raft_create(const struct raft_config *cfg, const struct raft_restore *restore, struct raft **out);

/** @brief Free a core. NULL is allowed. */
void raft_destroy(struct raft *r);

/**
 * @brief Start an election now, without waiting for the election timeout (a
 * group whose only voter is this server need not wait for anyone).
 * @return GROVE_OK (also when already the leader), GROVE_EINVAL (not a voter).
 */
int raft_campaign(struct raft *r);

/**
 * @brief Advance logical time by one tick (elections, heartbeats, check-quorum).
 * Does nothing while the group is quiesced.
 */
void raft_tick(struct raft *r);

/**
 * @brief Whether the group is quiesced here. Quiescence (CockroachDB's, with
 * cfg.quiesce): a leader whose group has been idle for two heartbeat periods
 * (every member holds the whole log, everything is committed and durable, no
 * read, transfer or membership change is pending) sends a last heartbeat
 * marked quiesce and stops ticking: no heartbeats, no check-quorum. A
 * follower that holds all the leader committed stops ticking when that
 * heartbeat arrives. Any other message, a proposal, a read, a transfer or
 * raft_wake() wakes it with a fresh election timeout (a leader also counts
 * every member active for its next check-quorum round). Whoever runs the
 * core must wake a quiesced follower whose leader may be gone (its server
 * fell silent), else no election ever replaces it.
 */
bool raft_quiesced(const struct raft *r);

/** @brief Wake a quiesced group (see raft_quiesced()); nothing if it is not. */
void raft_wake(struct raft *r);

/**
 * @brief Process one message. Stale terms are ignored (answered when useful).
 * @return GROVE_OK, GROVE_EINVAL (malformed: unknown type, not addressed to
 * this node, entries not consecutive), GROVE_ENOMEM.
 */
int raft_step(struct raft *r, const struct raft_msg *m);

/**
 * @brief Append an entry to the leader's log [3.5]; it is sent to the
 * followers with the next raft_ready().
 * @param index receives the entry's index (to match the commit later).
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE (leadership
 * transfer in progress), GROVE_ENOMEM.
 */
int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index);

/**
 * @brief Propose a single-server membership change [4.1].
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE (a change is still
 * pending, or no entry of this term is committed yet), GROVE_EINVAL (the
 * change makes no sense: removing a non-member, promoting a non-learner, too
 * many members), GROVE_ENOMEM.
 */
int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc, uint64_t *index);

/**
 * @brief Like raft_propose_conf_change(), with up to 1024 bytes of the
 * application's own after the change in the entry (a new member's address).
 */
int raft_propose_conf_change_with(struct raft *r, const struct raft_conf_change *cc, const void *context,
				  size_t context_len, uint64_t *index);

/**
 * @brief Apply a committed conf change entry (call when applying it).
 * @return GROVE_OK or GROVE_EINVAL (a malformed entry).
 */
int raft_apply_conf_change(struct raft *r, const struct raft_entry *e);

/**
 * @brief Ask for a linearizable read [6.4]; a read state with @p context
 * appears in a later ready once a quorum has confirmed leadership. Its index
 * is this leader's last index when asked: a follower may have committed and
 * applied entries past the leader's commit index, and the read must see them.
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE (no entry of this
 * term committed yet: retry shortly).
 */
int raft_read_index(struct raft *r, uint64_t context);

/**
 * @brief Hand leadership to @p to [3.10].
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EINVAL (not a voter, or self).
 */
int raft_transfer_leader(struct raft *r, uint64_t to);

/**
 * @brief The application has a snapshot of its state through @p index
 * (<= applied): drop the log up to it [5.1].
 * @return GROVE_OK, GROVE_EINVAL (beyond applied, or already compacted).
 */
int raft_compact(struct raft *r, uint64_t index);

/** @brief The snapshot sent to @p peer was installed (or failed: @p ok false). */
void raft_report_snapshot(struct raft *r, uint64_t peer, bool ok);

/** @brief Whether there is work for the caller. */
bool raft_has_ready(const struct raft *r);

/**
 * @brief Fill @p rd with the current work. Call raft_advance() when done.
 * A leader's AppendEntries for the entries proposed since the last call are
 * made here, so that the proposals of one turn reach each follower together.
 */
void raft_ready(struct raft *r, struct raft_ready *rd);

/**
 * @brief Everything in the last ready was handed over: its entries and hard
 * state are being persisted, its messages sent or held, its committed
 * entries applied. The next raft_ready() does not hand them out again.
 */
void raft_advance(struct raft *r, const struct raft_ready *rd);

/**
 * @brief The entries handed out up to @p index (whose term is @p term) are
 * durable, and so is every hard state handed out with them (it may be called
 * before the raft_advance() of the ready that handed them out). Ignored when
 * the entry at @p index is no longer the one of @p term (a conflict
 * replaced it meanwhile).
 */
void raft_persisted(struct raft *r, uint64_t index, uint64_t term);

/** @brief The last entry known durable on this server. */
uint64_t raft_persisted_index(const struct raft *r);

/* ---- observation (tests, status) ---- */

enum raft_role raft_role(const struct raft *r);
uint64_t raft_term(const struct raft *r);
uint64_t raft_leader(const struct raft *r);
uint64_t raft_commit(const struct raft *r);
uint64_t raft_last_index(const struct raft *r);
uint64_t raft_first_index(const struct raft *r);
/** @brief Term of entry @p index, or 0 when it is not held (or compacted past). */
uint64_t raft_term_at(const struct raft *r, uint64_t index);
/** @brief The entry at @p index, or NULL; borrowed until the next call into the core. */
const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index);
const struct raft_conf *raft_conf(const struct raft *r);
/** @brief The leader's view of @p peer: its match index, or 0. */
uint64_t raft_match(const struct raft *r, uint64_t peer);

/** @brief Encode @p cc as the first 9 bytes of conf change entry data. */
void raft_encode_conf_change(const struct raft_conf_change *cc, uint8_t out[9]);

/** @brief Whether @p id is a voter / a learner of @p conf. */
bool raft_conf_has_voter(const struct raft_conf *conf, uint64_t id);
bool raft_conf_has_learner(const struct raft_conf *conf, uint64_t id);

#endif
