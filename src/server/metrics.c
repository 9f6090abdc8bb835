#include "src/server/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

/* Bucket bounds in ns: 1, 2.5 and 5 per decade, from 100 µs (a fast fdatasync) to 10 s (a stalled disk). */
static const uint64_t bounds_ns[METRICS_BUCKETS] = {
	100000,    250000,    500000,     1000000,    2500000,    5000000,    10000000,   25000000,
	50000000,  100000000, 250000000,  500000000,  1000000000, 2500000000, 5000000000, 10000000000,
};

void metrics_observe(struct metrics_histogram *h, uint64_t ns)
{
	size_t i = 0;
	while (i < METRICS_BUCKETS && ns > bounds_ns[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum_ns += ns;
}

uint64_t metrics_elapsed(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? to_ns - from_ns : 0;
}

/* Append printf-style text to @p out. */
__attribute__((format(printf, 2, 3))) static void put(struct grove_buf *out, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		grove_buf_put(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void header(struct grove_buf *out, const char *name, const char *type, const char *help)
{
	put(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct grove_buf *out, const char *name, const char *help, uint64_t value)
{
	header(out, name, "counter", help);
	put(out, "%s %" PRIu64 "\n", name, value);
}

static void gauge(struct grove_buf *out, const char *name, const char *help, uint64_t value)
{
	header(out, name, "gauge", help);
	put(out, "%s %" PRIu64 "\n", name, value);
}

static void histogram(struct grove_buf *out, const char *name, const char *help, const struct metrics_histogram *h)
{
	header(out, name, "histogram", help);
	uint64_t cumulative = 0;
	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		cumulative += h->buckets[i];
		put(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)bounds_ns[i] / 1e9, cumulative);
	}
	put(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	put(out, "%s_sum %.9f\n", name, (double)h->sum_ns / 1e9);
	put(out, "%s_count %" PRIu64 "\n", name, h->count);
}

/* One gauge per group, labelled with its id, of what @p value reads from each group. */
static void per_group(struct grove_buf *out, const struct metrics_gauges *g, const char *name, const char *help,
		      uint64_t (*value)(const struct metrics_group *))
{
	header(out, name, "gauge", help);
	for (size_t i = 0; i < g->n_groups; i++)
		put(out, "%s{group=\"%" PRIu64 "\"} %" PRIu64 "\n", name, g->groups[i].group, value(&g->groups[i]));
}

static uint64_t group_term(const struct metrics_group *m)
{
	return m->term;
}

static uint64_t group_leader(const struct metrics_group *m)
{
	return m->leader;
}

static uint64_t group_leader_id(const struct metrics_group *m)
{
	return m->leader_id;
}

static uint64_t group_commit(const struct metrics_group *m)
{
	return m->commit;
}

static uint64_t group_applied(const struct metrics_group *m)
{
	return m->applied;
}

void metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct grove_buf *out)
{
	gauge(out, "grove_server_id", "This member's id.", g->server_id);
	histogram(out, "grove_commit_duration_seconds",
		  "Time from a write's proposal at the leader until the leader applied it.", &m->commit);
	histogram(out, "grove_fsync_duration_seconds",
		  "Time of one write-ahead log flush: its write and fdatasync (every group's entries at once).",
		  &m->flush);
	histogram(out, "grove_apply_duration_seconds",
		  "Time to apply the committed entries of one Raft ready to the state machine.", &m->apply);
	counter(out, "grove_proposals_total", "Entries this member proposed to Raft as a leader.", m->proposals);
	counter(out, "grove_writes_applied_total", "Commands applied to the state machines.", g->writes_applied);
	counter(out, "grove_log_flushes_total", "Write-ahead log flushes (group commits) that finished.",
		g->log_flushes);
	counter(out, "grove_snapshot_sends_total", "State machine snapshots sent to followers.", m->snapshot_sends);
	counter(out, "grove_snapshot_sent_bytes_total", "Bytes of the snapshots sent to followers.", m->snapshot_bytes);
	per_group(out, g, "grove_raft_term", "Current Raft term of the group.", group_term);
	per_group(out, g, "grove_raft_leader", "1 if this member leads the group, else 0.", group_leader);
	per_group(out, g, "grove_raft_leader_id", "The group's leader as this member knows it (0: none).",
		  group_leader_id);
	per_group(out, g, "grove_raft_commit_index", "The group's commit index as this member knows it.", group_commit);
	per_group(out, g, "grove_raft_applied_index", "The last index of the group this member applied.", group_applied);
	gauge(out, "grove_connections", "Open connections on the client port (clients and peers' links in).",
	      g->connections);
	gauge(out, "grove_client_connections", "Open connections of authenticated clients.", g->clients);
	gauge(out, "grove_client_queued_bytes", "Bytes queued to connections on the client port, not yet written.",
	      g->queued_clients);
	gauge(out, "grove_peer_queued_bytes", "Bytes queued on the links to peers, not yet written.", g->queued_peers);
	gauge(out, "grove_client_requests_in_flight_peak",
	      "The most requests one client connection had in flight at once since the start.", g->client_pending_peak);
	counter(out, "grove_client_inflight_pauses_total",
		"Times a client connection reached --max-inflight requests in flight and was not read from.",
		g->client_pending_pauses);
	counter(out, "grove_writes_waited_for_transactions_total",
		"Writes that met a shard whose cross-shard transaction's part was not applied yet, and waited for it.",
		g->writes_waited);
	counter(out, "grove_reads_waited_for_transactions_total",
		"Reads that met a shard they read held by a cross-shard transaction whose part was not applied yet, and "
		"waited for it.", g->reads_waited);
	counter(out, "grove_leaderships_handed_total",
		"Groups whose leadership this member handed to a member that led two fewer (leader balancing).",
		g->leaders_handed);
	gauge(out, "grove_subscribers", "Change stream subscribers.", g->subscribers);
	gauge(out, "grove_subscribers_catching_up", "Subscribers catching up from the change history.",
	      g->subscribers_catching_up);
	gauge(out, "grove_subscriber_lag_max_entries", "Entries applied and not yet sent to the furthest behind subscriber.",
	      g->subscriber_lag_max);
	gauge(out, "grove_subscriber_lag_entries_sum", "Entries applied and not yet sent, over every subscriber.",
	      g->subscriber_lag_sum);
}
