/**
 * @file cluster.h
 * @brief groved's replication: the Raft core wired to the durable log, the
 * scene tree and the peers.
 *
 * The server's event loop feeds it peer messages, ticks, client proposals
 * and read requests, then calls cluster_process() once per turn. That runs
 * the Raft Ready cycle (src/raft/raft.h): entries and hard state of the turn
 * are appended to the Raft log (storage/wal.h) with one write and one
 * fdatasync (group commit), the messages are handed back to the server to
 * send, committed entries are applied to the tree in one LMDB transaction
 * that also records the applied index (so a crash never applies an entry
 * twice), and linearizable reads whose index is confirmed and applied are
 * handed back.
 *
 * The store is opened lazy_sync (store.h): its commits are not durable one by
 * one, because the log replays whatever a crash undid. The one rule that
 * keeps this true: the store is synced (store_sync()) before the log drops
 * entries behind a snapshot, after compaction or a snapshot install.
 *
 * Raft group 1 holds the whole world; shards (more groups) come later.
 */
#ifndef GROVE_SERVER_CLUSTER_H
#define GROVE_SERVER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/raft/raft.h"
#include "src/tree/tree.h"
#include "storage/store.h"

#define CLUSTER_MAX_PEERS RAFT_MAX_MEMBERS

/** One member, as given by --peers. */
struct cluster_peer {
	uint64_t id;          /**< server id */
	char address[64];     /**< "HOST:PORT" where it listens (clients and peers alike) */
};

struct cluster_config {
	uint64_t id;                                  /**< this server */
	struct cluster_peer peers[CLUSTER_MAX_PEERS]; /**< every member, this one included */
	size_t n_peers;
	uint64_t cluster_id;                          /**< peers from another cluster are refused */
	unsigned tick_ms;                             /**< length of one Raft tick */
	uint64_t compact_at;                          /**< compact once the log holds this many applied
	                                                   entries (keeping a quarter); 0 = 20,000 */
	bool join;                                    /**< a new member: no voters until the leader adds it */
	size_t snapshot_chunk;                        /**< bytes per InstallSnapshot chunk; 0 = 1 MiB */
	bool no_sync;                                 /**< benchmarks only: the log is not fsynced (not durable) */
	const char *log_dir;                          /**< directory of the Raft log (storage/wal.h); borrowed
	                                                   for cluster_create() only */
};

/** What applying one committed entry did, for the client that proposed it. */
struct cluster_applied {
	uint64_t index;             /**< the entry's index */
	uint64_t term;              /**< the entry's term */
	struct tree_result result;  /**< the batch's outcome (owned by the cluster until the callback returns) */
};

/** Hooks the server provides. */
struct cluster_hooks {
	/** Send @p m (a packed Envelope with a RaftMessage) to peer @p to. The bytes are borrowed. */
	void (*send)(void *ctx, uint64_t to, const uint8_t *frame, size_t len);
	/** A committed entry was applied (every entry, on every member). */
	void (*applied)(void *ctx, const struct cluster_applied *a);
	/** A linearizable read of @p context may now be served (applied >= its index). */
	void (*read_ready)(void *ctx, uint64_t context);
	/** A member was added (or learnt at start): open a link to it. */
	void (*member_added)(void *ctx, uint64_t id, const char *address);
	/** Bytes queued for peer @p to that have not left yet (0 when its link is down). */
	size_t (*backlog)(void *ctx, uint64_t to);
	/** Write what was sent so far to the sockets now (before this member's own fsync). */
	void (*flush)(void *ctx);
	void *ctx;
};

struct cluster;

/**
 * @brief Start replication on @p store: restore the Raft state from it (or
 * bootstrap a new group whose voters are all the peers).
 * @return GROVE_OK, GROVE_EINVAL, GROVE_ECORRUPT, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int cluster_create(const struct cluster_config *cfg, struct store *store, const struct cluster_hooks *hooks,
		   struct cluster **out);

void cluster_destroy(struct cluster *c);

/** @brief One tick of Raft time. */
void cluster_tick(struct cluster *c);

/**
 * @brief A RaftMessage from a peer. Malformed messages are refused and change nothing.
 * @return GROVE_OK, GROVE_EINVAL.
 */
int cluster_step(struct cluster *c, const Grove__RaftMessage *m);

/**
 * @brief Propose a client's packed WriteRequest.
 * @param index receives the log index it will have when committed.
 * @param term receives the term it was proposed in (to detect a lost proposal).
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE, GROVE_ENOMEM.
 */
int cluster_propose(struct cluster *c, const uint8_t *request, size_t len, uint64_t *index, uint64_t *term);

/**
 * @brief Ask for a linearizable read [6.4]; read_ready(context) follows.
 * @return GROVE_OK, GROVE_ENOTLEADER, GROVE_EUNAVAILABLE.
 */
int cluster_read(struct cluster *c, uint64_t context);

/** @brief Run the Ready cycle until there is nothing left to do. */
int cluster_process(struct cluster *c);

/** @brief Hand leadership to @p to. */
int cluster_transfer(struct cluster *c, uint64_t to);

/**
 * @brief Propose a membership change: add @p node as a learner listening at
 * @p address, promote it to voter, or remove it (one change at a time).
 * @return GROVE_OK (proposed), GROVE_ENOTLEADER, GROVE_EUNAVAILABLE (a
 * change is pending), GROVE_EINVAL (nonsense for the current membership).
 */
int cluster_change_membership(struct cluster *c, enum raft_conf_op op, uint64_t node, const char *address);

/** @brief The leader's client address ("" if unknown or this is the leader). */
const char *cluster_leader_address(const struct cluster *c);

/** @brief Role, term, leader, commit and applied, for status. */
void cluster_status(const struct cluster *c, enum raft_role *role, uint64_t *term, uint64_t *leader,
		    uint64_t *commit, uint64_t *applied);

/** @brief The members (ids and addresses) and each one's match index as the leader sees it. */
size_t cluster_members(const struct cluster *c, struct cluster_peer *out, uint64_t *match, bool *voter,
		       size_t cap);

/**
 * @brief Parse "1=127.0.0.1:7001,2=127.0.0.1:7002" into @p cfg->peers.
 * @return GROVE_OK or GROVE_EINVAL.
 */
int cluster_parse_peers(const char *spec, struct cluster_config *cfg);

#endif
