/**
 * @file handlers.h
 * @brief Answers to groved's read-only requests (read, status, export),
 * built from one consistent read transaction.
 */
#ifndef GROVE_SERVER_HANDLERS_H
#define GROVE_SERVER_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/tree/tree.h"
#include "storage/store.h"

/** Counters the server keeps and the status request reports. */
struct server_state {
	uint64_t server_id;       /**< configured id */
	uint64_t applied_index;   /**< the last log index applied to the group the request was for */
	uint64_t node_count;      /**< nodes in every shard together (0: count the tree read from) */
	uint64_t writes_applied;  /**< batches applied since start */
	uint64_t group_commits;   /**< log flushes (each one write and one fdatasync) since start */
	uint64_t clients;         /**< open connections */
	uint64_t start_ns;        /**< start time, CLOCK_REALTIME */
	/* The Raft view of the world's group. */
	const char *role;         /**< "leader", "follower", "candidate" or "learner" */
	uint64_t term;            /**< Raft term */
	uint64_t leader_id;       /**< current leader, 0 if unknown */
	char leader_address[64];  /**< its client address */
	uint64_t commit_index;    /**< Raft commit index */
	size_t n_members;         /**< members below */
	struct {
		uint64_t id;
		char address[64];
		bool voter;
		uint64_t match;
	} members[16];            /**< every member of the group */
};

/** Most nodes one read reply lists; beyond it the reply says truncated. */
#define HANDLER_MAX_NODES 200000

/**
 * A reply and the memory it points into. The envelope's sub-messages are
 * allocated from `blocks`; handler_reply_free() releases them all.
 */
struct handler_reply {
	Grove__Envelope env;  /**< ready to pack */
	void **blocks;        /**< allocations owned by the reply */
	size_t n_blocks;      /**< number of blocks */
	size_t cap_blocks;    /**< capacity of blocks */
};

/**
 * @brief Answer a READ, STATUS or EXPORT_SCENE request from tree @p t as
 * transaction @p txn sees it.
 * Always fills @p out with a reply (an error reply if the request cannot
 * be answered).
 */
void handle_read_request(const struct tree *t, struct store_txn *txn, const struct server_state *state, const Grove__Envelope *req,
			 struct handler_reply *out);

/** @brief Release a reply's memory. */
void handler_reply_free(struct handler_reply *r);

#endif
