/**
 * @file metrics.h
 * @brief groved's own measurements, and their rendering in Prometheus' text
 * exposition format (version 0.0.4).
 *
 * struct metrics holds what happens over time: latency histograms (commit,
 * log flush, apply) and counters (proposals, snapshot sends). It is updated
 * from the loop's thread only, with no lock and no allocation: an
 * observation is a few comparisons and additions. What is a state rather
 * than an event (Raft's view per group, connections, subscribers, bytes
 * queued) is not kept here: whoever renders gathers it at scrape time into a
 * struct metrics_gauges.
 *
 * Histograms have fixed log-scale buckets from 100 µs to 10 s (and +Inf), in
 * seconds as Prometheus expects; series are rendered cumulative with their
 * _sum and _count.
 */
#ifndef GROVE_SERVER_METRICS_H
#define GROVE_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"

/** Upper bounds of the finite buckets. */
#define METRICS_BUCKETS 16

/** One latency histogram. Zero-initialized is empty. */
struct metrics_histogram {
	uint64_t buckets[METRICS_BUCKETS + 1]; /**< observations per bucket (not cumulative); the last is +Inf only */
	uint64_t count;                        /**< observations */
	uint64_t sum_ns;                       /**< their total, in ns */
};

/** What groved measures over time. Zero-initialize it; it owns nothing. */
struct metrics {
	struct metrics_histogram commit;  /**< a write proposed at the leader until applied there */
	struct metrics_histogram flush;   /**< one log flush: its write and fdatasync */
	struct metrics_histogram apply;   /**< applying one ready's committed entries */
	uint64_t proposals;               /**< entries proposed to Raft by this member */
	uint64_t snapshot_sends;          /**< state machine snapshots sent to followers */
	uint64_t snapshot_bytes;          /**< and their bytes */
};

/** @brief Count one observation of @p ns nanoseconds in @p h. */
void metrics_observe(struct metrics_histogram *h, uint64_t ns);

/** @brief The time from @p from_ns to @p to_ns, 0 if the clock went back in between. */
uint64_t metrics_elapsed(uint64_t from_ns, uint64_t to_ns);

/** One group's Raft view as this member has it. */
struct metrics_group {
	uint64_t group;    /**< the group id */
	uint64_t term;     /**< current term */
	bool leader;       /**< this member leads it */
	uint64_t leader_id; /**< the leader this member knows, 0 if none */
	uint64_t commit;   /**< commit index */
	uint64_t applied;  /**< applied index */
};

/** States gathered when rendering. */
struct metrics_gauges {
	uint64_t server_id;             /**< this member */
	uint64_t writes_applied;        /**< commands applied since start (a counter kept by the host) */
	uint64_t log_flushes;           /**< log flushes since start (likewise) */
	size_t connections;             /**< open connections on the client port (clients, and peers' links in) */
	size_t clients;                 /**< of those, authenticated clients */
	size_t queued_clients;          /**< bytes queued on those connections, not yet written */
	unsigned client_pending_peak;   /**< the most requests one client connection had in flight at once */
	uint64_t client_pending_pauses; /**< times a client connection reached --max-inflight and was not read from */
	uint64_t writes_waited;         /**< writes that waited in the server for a transaction's part to be applied */
	uint64_t reads_waited;          /**< reads that waited in the server for a transaction's part to be applied */
	uint64_t leaders_handed;        /**< groups this member handed to a member that led fewer (balance.h) */
	size_t queued_peers;            /**< bytes queued on the links to peers, not yet written */
	size_t subscribers;             /**< change stream subscribers */
	size_t subscribers_catching_up; /**< of those, catching up from the history */
	uint64_t subscriber_lag_max;    /**< entries the furthest behind has not been sent */
	uint64_t subscriber_lag_sum;    /**< and all of them together */
	const struct metrics_group *groups; /**< every group hosted (borrowed) */
	size_t n_groups;
};

/**
 * @brief Append the exposition of @p m and @p g to @p out: every metric with
 * its HELP and TYPE lines. An allocation failure sets out->failed.
 */
void metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct grove_buf *out);

#endif
