/**
 * @file streams.h
 * @brief What the benchmarks of change streams share (grove_bench_stream, grove_bench_e2e): subscribers
 * of a grove cluster (C clients over protobuf, subscribed to /root/World) and watchers of an etcd cluster
 * (the v3 JSON gateway's watch of the prefix /world/), read by a few threads over epoll; one writer that
 * sets a sequence number through the leader, one write after the other; and when each value reached each
 * subscriber.
 *
 * A round: N subscribers, subscriber k on member k % 3; the writer writes values base, base + 1, ... and
 * each subscriber notes, per value, when the bytes that carried it were read (one clock read per socket
 * read, taken before any message is decoded). Every loop is bounded in count and in time.
 */
#ifndef GROVE_BENCH_STREAMS_H
#define GROVE_BENCH_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clusters.h"
#include "src/net/frame.h"

/** The most subscribers in one round. */
#define MAX_SUBSCRIBERS 1000

/** What a grove subscriber's event of one value said of the member that delivered it (SubscribeEvent). */
struct event_times {
	uint64_t index;        /**< the entry */
	uint64_t committed_ns; /**< the member's stage times (CLOCK_REALTIME); 0 when not sent live */
	uint64_t applied_ns;
	uint64_t sent_ns;
};

/** A subscriber (grove) or a watcher (etcd): one connection, and when each of the writer's values came. */
struct sub {
	int fd;
	int member;                 /**< the member it is connected to */
	bool on_leader;             /**< that member led when the round started */
	struct grove_client *grove; /**< grove: owns fd */
	struct frame_reader frames;
	struct http_conn *http;     /**< etcd: owns fd */
	char *raw;                  /**< etcd: bytes of the HTTP response not yet de-chunked */
	size_t raw_len;
	size_t chunk_left;          /**< etcd: data bytes left in the current chunk (+2 for its CRLF) */
	bool in_body;               /**< etcd: past the response's headers */
	char *line;                 /**< etcd: de-chunked bytes of the JSON message being read */
	size_t line_len;
	uint64_t *arrival;          /**< per value: when it was read (the store's clock), 0 until then */
	struct event_times *events; /**< grove, per value: its event's stage times (set before arrival); NULL: not kept */
	size_t values;              /**< length of arrival and events */
	int64_t base;               /**< the value of write 0 */
	bool ready;                 /**< grove: snapshot received; etcd: watch created */
	bool failed;
	/** Read what the socket has (false when the connection is done). */
	bool (*fill)(struct sub *s);
	/** Take the messages it completed, read at @p at. */
	bool (*parse)(struct sub *s, uint64_t at);
};

struct store;

/**
 * Writes sent without waiting for each one's acknowledgement (a submitter that pipelines): a store that has
 * them can run stream_round_pipelined().
 */
struct pipeline_ops {
	void *(*open)(const struct store *st);          /**< a connection to the leader */
	bool (*queue)(void *conn, int64_t value);        /**< encode one write of @p value, sent at the next flush */
	bool (*flush)(void *conn);                       /**< send every queued write */
	/** Wait up to @p timeout_ms for acknowledgements; they come in the order of the writes. Each one's
	 * success goes to ok[0..]; at most @p max. @return how many came (0: none yet), or -1 (connection lost). */
	int (*take_acks)(void *conn, int timeout_ms, bool *ok, int max);
	void (*close)(void *conn);
};

/** A store under test: how to subscribe, and the writer. */
struct store {
	const char *name;
	int leader;                                          /**< index of the leading member */
	bool (*open)(struct sub *s, const struct store *st); /**< connect and subscribe s to member s->member */
	const void *ctx;                                     /**< the cluster (and what the writer needs) */
	void *(*writer)(const struct store *st);             /**< the writer's connection to the leader */
	bool (*write)(void *writer, int64_t value);          /**< one write, acknowledged */
	void (*close_writer)(void *writer);
	uint64_t (*clock)(void);                             /**< every time of a round; NULL: now_ns() */
	const struct pipeline_ops *pipeline;                 /**< NULL: no pipelined writes */
};

/** What a round recorded, handed to its summary before it is freed. */
struct round_log {
	const struct sub *subs; /**< the subscribers, with their arrivals */
	int n;
	const uint64_t *sent;   /**< per value: when the writer sent it */
	const uint64_t *acked;  /**< per value: when its acknowledgement came (0: not written) */
	size_t warmup;          /**< values before this one are not counted */
	size_t total;           /**< values written, at most */
	uint64_t counted_from;  /**< values sent before this time are not counted either (0: none) */
	size_t refused;         /**< writes the store refused (pipelined rounds) */
};

/** Latency samples in nanoseconds. */
struct samples {
	uint64_t *v;
	size_t n;
};

/** @brief Append @p ns to @p s (which has room). */
void add_sample(struct samples *s, uint64_t ns);

/** @brief Sort @p s and @return its @p p quantile (0 to 1) in microseconds (0 if empty). */
double sorted_pct(struct samples *s, double p);

/**
 * @brief One round: @p n subscribers, then up to @p ops writes after a warm-up of max(ops / 10, 20), for at
 * most @p seconds of writing, values from @p base; then wait (at most 10 s) for the last to arrive
 * everywhere, and hand what was recorded to @p summary.
 * @return false if the subscribers could not all subscribe (nothing is summarized then).
 */
bool stream_round(const struct store *st, int n, int ops, double seconds, int64_t base,
		  void (*summary)(void *ctx, const struct round_log *log), void *ctx);

/**
 * @brief A pipelined round: @p n subscribers, then @p submitters connections to the leader (one thread
 * each), each keeping up to @p window writes in flight, write for @p seconds; submitter p writes the values
 * base + p + submitters * k (k = 0, 1, ...), at most @p cap values in all. Writes sent in the first tenth
 * of the time are the warm-up (round_log.counted_from). Then wait (at most 10 s) until every subscriber
 * has each submitter's last acknowledged value, and hand what was recorded to @p summary.
 * @return false if the store has no pipeline or the subscribers could not all subscribe.
 */
bool stream_round_pipelined(const struct store *st, int n, int submitters, int window, size_t cap, double seconds,
			    int64_t base, void (*summary)(void *ctx, const struct round_log *log), void *ctx);

/** Pipelined writes of /root/World/Target's "seq" to the leader of the grove cluster st->ctx points to. */
extern const struct pipeline_ops grove_pipeline;

/** @brief Subscribe @p s to /root/World at member s->member of the grove cluster st->ctx points to. */
bool grove_open(struct sub *s, const struct store *st);

/** @brief A client of the leader of the grove cluster st->ctx points to. */
void *grove_writer(const struct store *st);

/** @brief Set /root/World/Target's "seq" to @p value, acknowledged. */
bool grove_write_seq(void *writer, int64_t value);

/** @brief Close a grove_writer(). */
void grove_close_writer(void *writer);

/** @brief Make /root/World and /root/World/Target through member @p leader; every member applies them. */
bool grove_make_world(const struct grove_cluster *c, int leader);

/**
 * @brief Start a durable 3-member cluster in @p dir (grove_cluster_init(), tag "grove") and make its world
 * (grove_make_world()). @return the leader's index, or -1 (said on stderr; the cluster is stopped).
 */
int grove_world_start(struct grove_cluster *c, const char *dir);

/** @brief Wait (up to 10 s each) until every member applied what member @p leader has; @return whether they did. */
bool grove_members_caught_up(const struct grove_cluster *c, int leader);

/** @brief Watch /world/ at member s->member of the etcd cluster st->ctx points to. */
bool etcd_open(struct sub *s, const struct store *st);

/** @brief A keep-alive connection to the leader of the etcd cluster st->ctx points to. */
void *etcd_writer(const struct store *st);

/** @brief Put /world/target = @p value, acknowledged. */
bool etcd_put_seq(void *writer, int64_t value);

/** @brief Close an etcd_writer(). */
void etcd_close_writer(void *writer);

#endif
