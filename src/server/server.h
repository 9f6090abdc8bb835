/**
 * @file server.h
 * @brief groved's single-node server: one epoll event loop serving clients
 * over length-prefixed protobuf frames, with group commit.
 *
 * Each loop turn reads everything the sockets have, applies all write
 * batches that arrived in that turn inside one LMDB write transaction (each
 * batch atomic on its own), records the applied index in the same
 * transaction, commits once (one fsync), and only then replies to the
 * writers. Reads are answered after the turn's commit, so a client always
 * reads its own acknowledged writes.
 *
 * A connection must start with a Hello carrying the client token (when the
 * server has one). A frame that is oversized, does not decode, or arrives
 * before authentication closes that connection with one logged line; the
 * other connections are not affected.
 */
#ifndef GROVE_SERVER_SERVER_H
#define GROVE_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What groved was started with. */
struct server_config {
	const char *data_dir;   /**< LMDB environment directory (created if missing) */
	const char *listen;     /**< "HOST:PORT"; port 0 picks a free port */
	const char *token;      /**< client token, or NULL for none */
	uint32_t max_frame;     /**< largest frame accepted, 0 = FRAME_DEFAULT_MAX */
	uint64_t id;            /**< server id reported to clients (and Raft member id) */
	bool no_sync;           /**< benchmarks only: commit without fsync */
	const char *peers;      /**< replicated mode: "1=HOST:PORT,2=..."; NULL for a single node */
	const char *cluster_token; /**< replicated mode: what peers must present */
	uint64_t cluster_id;    /**< replicated mode: peers of another cluster are refused */
	uint64_t compact_at;    /**< replicated mode: log compaction threshold (0: default) */
	size_t snapshot_chunk;  /**< replicated mode: bytes per InstallSnapshot chunk (0: 1 MiB) */
	bool join;              /**< replicated mode: a new member, waiting to be added by the leader */
};

struct server;

/**
 * @brief Open the store and bind the listening socket.
 * @return GROVE_OK, GROVE_EINVAL (bad listen address), GROVE_EIO (bind or
 * store directory), GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int server_create(const struct server_config *config, struct server **out);

/** @brief The bound port (useful with port 0). */
int server_port(const struct server *s);

/**
 * @brief Serve until SIGTERM or SIGINT (which the caller must have blocked
 * in every thread, so that the loop receives them through a signalfd).
 * @return GROVE_OK on a clean stop, or the error that stopped the loop.
 */
int server_run(struct server *s);

/** @brief Close every connection and the store, and free @p s. */
void server_destroy(struct server *s);

#endif
