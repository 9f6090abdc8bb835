/**
 * @file server.h
 * @brief groved: a member of a Raft cluster serving a grove world. A single
 * node is simply a cluster of one member; every write, in every mode, goes
 * through the same path: proposed, made durable in the write-ahead log,
 * committed by a quorum, applied to the tree, answered.
 *
 * The server wires three parts that never call each other: the loop
 * (loop.h: sockets, timers, limits), the transport (transport.h: links to
 * peers) and the host (host.h: the groups, their log and their state
 * machines). It speaks grove's protocol (proto/grove.proto) to clients and
 * peers: a connection starts with a Hello carrying the client token, or the
 * cluster token and ids of a peer; anything else first, or a frame that does
 * not decode, closes that connection with one logged line.
 *
 * With metrics_listen, an HTTP listener in the same loop serves /metrics
 * (Prometheus' text format: metrics.h), /healthz and /readyz (httpd.h).
 *
 * With snapshot_every_ms, the member writes a backup of the world (backup.h)
 * that often, if its applied index moved, on a thread beside the loop.
 *
 * Writes and linearizable reads (read, export, snapshot save) are served by
 * the leader; other members answer with the leader's address. Status is
 * answered by any member from what it has.
 */
#ifndef GROVE_SERVER_SERVER_H
#define GROVE_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What groved was started with. */
struct server_config {
	const char *data_dir;      /**< LMDB environment and Raft log (created if missing) */
	const char *listen;        /**< "HOST:PORT" for clients and peers; port 0 picks a free port (single node only) */
	const char *token;         /**< client token, or NULL for none */
	uint32_t max_frame;        /**< largest frame accepted, 0 = FRAME_DEFAULT_MAX */
	uint64_t id;               /**< this member's id */
	bool no_sync;              /**< benchmarks only: nothing is fsynced (not durable) */
	bool txn_two_phase;        /**< benchmarks only: cross-shard writes answered once their record is COMMITTED */
	bool no_leader_balance;    /**< leave each group's leadership where its election put it (balance.h) */
	uint64_t txn_gc_after_ms;  /**< a shard's transaction state older than this is forgotten (0: 60 s) */
	const char *peers;         /**< "1=HOST:PORT,2=..." for every member, this one included; NULL for a single node */
	const char *cluster_token; /**< what peers must present */
	uint64_t cluster_id;       /**< peers of another cluster are refused */
	uint64_t compact_at;       /**< log compaction threshold (0: default) */
	size_t snapshot_chunk;     /**< bytes per snapshot chunk to a follower (0: 1 MiB) */
	bool join;                 /**< a new member, waiting to be added by the leader */
	unsigned idle_timeout_s;   /**< close idle client connections after this (0: 600 s) */
	size_t output_max;         /**< unsent reply bytes per client before it is not read from (0: 4 MiB) */
	uint64_t history_entries;  /**< change history kept per group, in entries (0: 100,000) */
	uint64_t history_bytes;    /**< and in bytes (0: 64 MiB) */
	unsigned output_stall_s;   /**< a client over output_max this long is closed (0: 30 s) */
	unsigned max_inflight;     /**< requests in flight per client before it is not read from (0: 4096) */
	unsigned handshake_timeout_s; /**< a connection must say hello within this (0: 10 s) */
	uint64_t max_clock_offset_ms; /**< frames of a peer whose clock is further ahead are refused (0: 500 ms) */
	int64_t test_clock_shift_ms;  /**< tests only: this server's physical clock reads this much ahead (< 0: behind) */
	const char *metrics_listen;   /**< "IPv4:PORT" to serve /metrics, /healthz and /readyz over HTTP on (NULL: none) */
	uint64_t snapshot_every_ms;   /**< write a backup (backup.h) this often when the world changed (0: never) */
	unsigned snapshot_keep;       /**< backups kept (0: BACKUP_DEFAULT_KEEP) */
};

struct server;

/**
 * @brief Check the configuration, open the store and the log, bind the
 * listener.
 * @return GROVE_OK, GROVE_EINVAL (a configuration that cannot work, logged
 * with what to fix), GROVE_EIO, GROVE_ECORRUPT, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int server_create(const struct server_config *config, struct server **out);

/** @brief The bound port (useful with port 0). */
int server_port(const struct server *s);

/** @brief The bound port of the metrics listener (0 without one). */
int server_metrics_port(const struct server *s);

/**
 * @brief Serve until SIGTERM or SIGINT (which the caller must have blocked
 * in every thread, so that the loop receives them through a signalfd).
 * @return GROVE_OK on a clean stop, or the error that stopped the server.
 */
int server_run(struct server *s);

/** @brief Close every connection, commit what was applied, close the store and free @p s. */
void server_destroy(struct server *s);

#endif
