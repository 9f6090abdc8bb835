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
#include "src/hlc/hlc.h"
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
	size_t max_reply_bytes;   /**< largest reply frame a client takes (the frame limit; 0: FRAME_DEFAULT_MAX) */
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
	struct hlc_ts hlc;        /**< the server's hybrid clock now */
	size_t n_peer_clocks;     /**< peers below */
	struct {
		uint64_t id;          /**< a member other than this server */
		bool measured;        /**< a stamped frame of it arrived (the rest is 0 otherwise) */
		int64_t offset_ns;    /**< its wall at send minus our physical time at receive, last frame */
		uint64_t age_ms;      /**< how long ago that frame arrived */
		uint64_t refused;     /**< its frames refused for a clock too far ahead */
	} peer_clocks[16];        /**< what this server measured of each other member's clock */
};

/**
 * Most nodes one read reply lists; beyond it the reply says truncated. A listing whose bytes would not fit
 * in max_reply_bytes is refused instead (GROVE_ETOOBIG), as soon as the walk gets there: only its first
 * node carries an absolute path, the others their name and depth (proto/grove.proto, NodeInfo), so that
 * limit is met by subtrees of many nodes with large properties, not by deep ones.
 */
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

/** Largest scene an export in chunks makes (held by the server while its chunks are fetched). */
#define EXPORT_SCENE_MAX ((size_t)256 << 20)

/**
 * @brief Answer a READ, STATUS or EXPORT_SCENE request from tree @p t as
 * transaction @p txn sees it.
 * Always fills @p out with a reply (an error reply if the request cannot
 * be answered). A read or an export whose reply would exceed
 * state->max_reply_bytes answers GROVE_ETOOBIG with a message that says so,
 * having built no more than that limit of it; an export asked for in chunks
 * (export_scene->max_bytes > 0) is built whole up to EXPORT_SCENE_MAX, for
 * the caller to send in chunks.
 */
void handle_read_request(const struct tree *t, struct store_txn *txn, const struct server_state *state, const Grove__Envelope *req,
			 struct handler_reply *out);

/** @brief Release a reply's memory. */
void handler_reply_free(struct handler_reply *r);

/**
 * @brief Take block @p p (an allocation the reply owns, e.g. an export's
 * scene bytes) out of the reply: the caller frees it. @return @p p, or NULL
 * if the reply does not own it.
 */
void *handler_reply_release(struct handler_reply *r, const void *p);

#endif
