/* End to end, stage by stage: how long from a game server sending an event to every other game server
 * having it, on a durable 3-member cluster, side by side with etcd in the same run.
 *
 * grove: one writer sets /root/World/Target's "seq" through the leader, one write after the other, and
 * puts its send time in the request (WriteRequest.client_send_ns); the leader's reply carries its stage
 * times (receive, durable, committed, applied); N subscribers (C clients, subscriber k at member k % 3)
 * receive each change with the delivering member's committed, applied and queued times and its index;
 * the benchmark joins them by value. Every time is CLOCK_REALTIME on this machine (the servers' stamps
 * are, and one clock compares across processes). Stages:
 *   propagation   client send -> leader receive
 *   processing    leader receive -> durable in the leader's log
 *   replication   durable -> committed (handed out to apply: a quorum had it and the leader's log did)
 *   answered      leader receive -> its reply sent (processing and replication together; across shards,
 *                 the parallel-commit coordination too)
 *   apply         committed -> applied, on the leader; on followers: leader committed -> follower applied
 *                 (0 when the follower applied first: followers commit from the acknowledgements they hear)
 *   delivery      applied at the subscriber's member -> read by the subscriber (queued: -> the member
 *                 queued it to that subscriber; wire: queued -> read)
 *   Godot apply   (5c) in a real game server: godot3-server running the GroveClient addon unchanged
 *                 (bench/godot/e2e_follower.gd) at a follower member, in every round on loopback and in
 *                 every --net row: its message handed to the addon -> the mirror applied it to the scene
 *                 tree, in the engine's own clock; and leader committed -> that receive, with the engine's
 *                 clock tied to CLOCK_REALTIME at two ms edges of the wall clock (the only one Godot 3
 *                 gives, in ms), read inside the engine's process: no link, hence no delay, in the tie
 *   frame wait    until the next frame at 90 Hz: computed, a uniform phase in an 11.1 ms frame per event;
 *                 and measured, where a C subscriber is at the follower's member: a second Godot follower
 *                 there, its frames paced at 90 Hz (Engine.target_fps) and reading the network once a
 *                 frame, from a C subscriber's read of the change to that follower's
 *   total         client send -> read by the subscriber, plus the (computed) frame wait, plus the same
 *                 write's 5c (the frame's work, after its wait)
 * etcd (3.4): put -> the event read by a watcher on a member other than the leader.
 *
 * The clusters (grove's, the cross-shard one, etcd's) run from the start, and each subscriber count is
 * measured on each in turn, so that the ratios compare figures taken side by side on a machine whose load
 * drifts.
 *
 * --cross-shard adds, for the same subscriber counts, rounds on a second cluster whose world is split into
 * two shards (/root/World/ZoneA and /root/World/ZoneB, each with a Target): every write sets "seq" of both
 * Targets in one batch, a transaction across the shards (parallel commits), and the subscribers of /root/World (which spans both) get the two parts as one event. Its
 * reply carries the leader's receive and answer times only, so its row has propagation, receive ->
 * answered (leader processing, replication and the parallel-commit coordination together), delivery (an
 * event made from the change history carries its last part's commit and apply times), commit, submit ->
 * subscriber read and the total, and "-" where a stage needs a time it lacks. The ratios cross-shard /
 * single-shard of commit (send -> writer's ack), of submit -> subscriber read and of receive -> answered
 * follow, per subscriber count, at p50, p99 and p99.9 (the goal: at most 1.3x). No Godot follower
 * and no netdelay in those rounds.
 *
 * --net adds rows through tools/netdelay (a delaying TCP proxy) on every link: lan (0.2 ms one way),
 * metro (2 ms), wan-near (leader near the clients, followers 30 ms away) and wan-far (the leader 30 ms
 * away from the clients and the followers); jitter is a tenth of the delay. Each row has its Godot
 * follower too, connected through the proxy of its member like the C subscribers there (a game server at
 * the clients' distance from that member), so each row has 5c and a total with it.
 *
 * The report ends with DESIGN.md's two worked examples, stages 2-5 replaced by measured figures, stage 5
 * being leader committed -> subscriber read plus 5c, and the frame wait added: LAN from the lan row (else
 * the loopback round of 10 subscribers), WAN from each wan row, each example from one row only.
 *
 *   grove_bench_e2e [--ops N] [--subscribers 1,10,100] [--seconds S] [--no-etcd] [--cross-shard]
 *                   [--colocate-leaders] [--net lan,metro,wan-near,wan-far] [--net-ops N]
 *                   [--net-subscribers N] [--report DIR]
 *
 * --colocate-leaders hands both shards' leadership to the writer's member before the cross-shard rounds
 * (grove shard transfer-leader, on members started with --no-leader-balance), so that a transaction's
 * coordinator leads every group it writes to.
 *
 * --report DIR also writes DIR/e2e.md and bar charts per stage and CDFs (gnuplot, PNG and SVG). Without
 * godot3-server the Godot follower is left out, said in one line.
 *
 * Not a test: it prints figures.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusters.h"
#include "files.h"
#include "godot_procs.h"
#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "stats.h"
#include "streams.h"
#include "support.h"

#define MAX_ROUNDS 16
#define MAX_PRESETS 5
#define FRAME_HZ 90
#define FRAME_NS (1000000000ull / FRAME_HZ)
#define ZONE_A "/root/World/ZoneA"
#define ZONE_B "/root/World/ZoneB"

/* ---- stages ---- */

enum stage {
	ST_PROPAGATION,
	ST_PROCESSING,
	ST_REPLICATION,
	ST_ANSWERED,
	ST_APPLY_LEADER,
	ST_APPLY_FOLLOWER,
	ST_DELIVERY,
	ST_QUEUED,
	ST_WIRE,
	ST_COMMITTED_TO_READ,
	ST_GODOT_RECEIVED,
	ST_GODOT_APPLY,
	ST_FRAME,
	ST_FRAME_MEASURED,
	ST_SUBMIT_TO_READ,
	ST_GODOT_SUBMIT_TO_APPLIED,
	ST_TOTAL,
	ST_COMMIT,
	N_STAGES
};

static const char *const stage_names[N_STAGES] = {
	"2 propagation: send -> leader receive",
	"3 processing: receive -> durable",
	"4 replication: durable -> committed",
	"3+4 receive -> answered (across shards: with coordination)",
	"5a apply on the leader",
	"5a apply on followers (leader commit ->)",
	"5b delivery: applied -> subscriber read",
	"   of which applied -> queued",
	"   of which queued -> read",
	"5 leader committed -> subscriber read",
	"5 leader committed -> Godot client received",
	"5c Godot apply: received -> applied in scene tree",
	"frame wait at 90 Hz (computed)",
	"frame wait at 90 Hz (measured: C subscriber read -> Godot at 90 Hz read, same member)",
	"submit -> subscriber read",
	"submit -> applied in the Godot tree (its own frames)",
	"total (with the frame wait and 5c)",
	"(commit: send -> writer's ack)",
};

/* Percentiles of one stage, in microseconds. */
struct pcts {
	double p50, p99, p999;
	size_t n;
};

struct e2e_result {
	int subscribers;
	bool cross;            /* every write a transaction across two shards */
	struct pcts stage[N_STAGES];
	struct pcts etcd;      /* put -> watcher on another member read it */
	uint64_t *read_sorted, *etcd_sorted; /* submit -> read, put -> read (ns), sorted, for the CDF */
	size_t n_read, n_etcd;
	size_t missed;
	bool ok, etcd_ok;
	/* The Godot follower's part, when one ran in the round (godot_ran). */
	char placement[256];   /* across shards: which member leads each shard ("" otherwise) */
	bool godot_ran;
	int godot_member;
	size_t godot_writes, godot_applied, godot_not_in_tree;
	double godot_tie_us, godot_drift_us; /* its clock against CLOCK_REALTIME: uncertainty, drift over the round */
};

/* What the leader said of write i. */
struct write_times {
	uint64_t client_send, receive, durable, committed, applied, reply; /* 0: not said (across shards) */
};

/* The grove store's context: the cluster (addresses maybe through proxies) and each write's times. */
struct e2e_grove {
	struct grove_cluster cluster;
	struct write_times *writes;
	size_t cap;
	int64_t base;
	bool cross;             /* writes set the Targets of both shards (make_cross_world()) */
};

struct e2e_writer {
	struct grove_client *client;
	struct e2e_grove *g;
};

static uint64_t realtime(void)
{
	return grove_realtime_ns();
}

static void *e2e_writer_open(const struct store *st)
{
	struct e2e_grove *g = (struct e2e_grove *)st->ctx;
	struct e2e_writer *w = calloc(1, sizeof(*w));
	if (w && grove_client_connect(g->cluster.addresses[st->leader], NULL, 10000, &w->client, NULL, 0) != GROVE_OK) {
		free(w);
		return NULL;
	}
	if (w)
		w->g = g;
	return w;
}

static bool e2e_write(void *writer, int64_t value)
{
	struct e2e_writer *w = writer;
	struct variant v;
	variant_set_int(&v, value);
	struct tree_op ops[] = {
		{.kind = TREE_OP_SET_PROP, .node = {.path = w->g->cross ? ZONE_A "/Target" : "/root/World/Target"},
		 .name = "seq", .value = &v},
		{.kind = TREE_OP_SET_PROP, .node = {.path = ZONE_B "/Target"}, .name = "seq", .value = &v},
	};
	struct wire_request wr;
	if (wire_encode_batch(ops, w->g->cross ? 2 : 1, &wr) != GROVE_OK)
		return false;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	wr.req.client_send_ns = realtime();
	int err = grove_client_call(w->client, &env, &reply);
	uint64_t sent = wr.req.client_send_ns;
	wire_request_free(&wr);
	if (err)
		return false;
	bool ok = reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY && reply->write_reply->code == 0;
	int64_t i = value - w->g->base;
	if (ok && i >= 0 && (size_t)i < w->g->cap) {
		const Grove__WriteReply *r = reply->write_reply;
		w->g->writes[i] = (struct write_times){sent, r->server_receive_ns, r->server_durable_ns,
						       r->server_committed_ns, r->server_applied_ns, r->server_reply_ns};
	}
	grove__envelope__free_unpacked(reply, NULL);
	return ok;
}

static void e2e_writer_close(void *writer)
{
	struct e2e_writer *w = writer;
	grove_client_close(w->client);
	free(w);
}

/* ---- a Godot game server following the world ---- */

/* Waits that end a round's Godot part rather than hang it: the engine started and its snapshot live;
 * after the writes, the script's own wait for the last value (GROVE_DRAIN_SECONDS), then its exit. */
#define GODOT_READY_MS 60000
#define GODOT_DRAIN_S 10
#define GODOT_FINISH_MS 30000

/* godot3-server running bench/godot/e2e_follower.gd (GroveClient and its mirror) through one round. */
struct godot_follower {
	pid_t pid; /* 0 once it is gone */
	int member;
	char log[4300], records[4300], stop[4300];
};

/* One entry the follower applied, in the engine's clock (us). */
struct godot_event {
	int64_t received, applied, tree_value;
	bool seen;
};

/* What the follower's records say, per value written (index: value - base), and its clock tied to
 * CLOCK_REALTIME: at two ms edges of the wall clock, one before the first entry and one after the last,
 * the offset between the clocks is known to within half the ticks around the edge; in between it is
 * taken as moving linearly (the engine's clock is CLOCK_MONOTONIC_RAW, which NTP does not slew: the two
 * part at NTP's correction rate, steady over a round). */
struct godot_events {
	struct godot_event *v;
	size_t values;
	int64_t tie_at[2], offset[2]; /* engine ticks at each edge; CLOCK_REALTIME - ticks there (us) */
	double tie_us;                /* the larger half-width of the two edges */
	int ties;
};

/* CLOCK_REALTIME (ns) at engine ticks @p at. */
static uint64_t godot_realtime_ns(const struct godot_events *e, int64_t at)
{
	double slope = e->tie_at[1] != e->tie_at[0] ? (double)(e->offset[1] - e->offset[0]) / (double)(e->tie_at[1] - e->tie_at[0]) : 0;
	double offset = (double)e->offset[0] + slope * (double)(at - e->tie_at[0]);
	return (uint64_t)(at + (int64_t)offset) * 1000u;
}

/* Start the follower at @p address for round @p round of the cluster @p tag (files in @p dir, named by both:
 * a stop file left by an earlier cluster's round would end this one at once), its frames paced at @p fps
 * (0: as fast as the project's 1 ms sleep lets them), and wait until its tree is live. @return whether it
 * follows; if not, it is stopped and its output shown. */
static bool godot_follow(struct godot_follower *f, const char *project, const char *dir, const char *tag, int round,
			 int member, const char *address, double seconds, int fps)
{
	char env_address[64], env_records[4320], env_stop[4320], env_seconds[48], env_drain[48], env_fps[32];
	f->member = member;
	snprintf(f->log, sizeof(f->log), "%s/godot-%s-%d-fps%d.log", dir, tag, round, fps);
	snprintf(f->records, sizeof(f->records), "%s/godot-%s-%d-fps%d.records", dir, tag, round, fps);
	snprintf(f->stop, sizeof(f->stop), "%s/godot-%s-%d-fps%d.stop", dir, tag, round, fps);
	snprintf(env_address, sizeof(env_address), "GROVE_ADDRESS=%s", address);
	snprintf(env_records, sizeof(env_records), "GROVE_RECORDS=%s", f->records);
	snprintf(env_stop, sizeof(env_stop), "GROVE_STOP=%s", f->stop);
	/* Its own bound covers the round's longest course: subscribing, writing, both drains. */
	snprintf(env_seconds, sizeof(env_seconds), "GROVE_SECONDS=%d", (int)seconds + 180);
	snprintf(env_drain, sizeof(env_drain), "GROVE_DRAIN_SECONDS=%d", GODOT_DRAIN_S);
	snprintf(env_fps, sizeof(env_fps), "GROVE_FPS=%d", fps);
	const char *env[] = {env_address, env_records, env_stop, env_seconds, env_drain, env_fps, NULL};
	f->pid = godot_spawn(project, "e2e_follower.gd", env, f->log);
	static const char *const said[] = {"GROVE-FOLLOWING", "GROVE-E2E-FAILED"};
	if (f->pid > 0 && bench_wait_said(f->log, said, 2, GODOT_READY_MS) == 0)
		return true;
	bench_stop(f->pid);
	f->pid = 0;
	size_t len;
	char *text = test_read_file(f->log, &len);
	/* The end says why (the engine's warnings come first). */
	const char *tail = text && len > 2000 ? text + len - 2000 : text;
	fprintf(stderr, "godot3-server did not follow /root/World at %s; no Godot stage in this round. The end of its output:\n%s\n",
		address, tail ? tail : "(none)");
	free(text);
	return false;
}

/* Stop the follower if it still runs (a round that ended before its summary). */
static void godot_abandon(struct godot_follower *f)
{
	bench_stop(f->pid);
	f->pid = 0;
}

/* The records' lines into @p e (values from @p base). @return false if the file is missing or its clock
 * was not tied twice. */
static bool godot_read_records(const char *path, int64_t base, struct godot_events *e)
{
	size_t len;
	char *text = test_read_file(path, &len), *save = NULL;
	for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		long long a, b, c, d, v;
		if (sscanf(line, "CLOCK %lld %lld %lld", &a, &b, &c) == 3 && e->ties < 2) {
			e->tie_at[e->ties] = (a + b) / 2;
			e->offset[e->ties] = c * 1000 - (a + b) / 2;
			double half = (double)(b - a + 1) / 2; /* ticks are whole us: the edge is in [a, b + 1) */
			e->tie_us = half > e->tie_us ? half : e->tie_us;
			e->ties++;
		} else if (sscanf(line, "EVENT %lld %lld %lld %lld %lld", &v, &a, &b, &c, &d) == 5) {
			int64_t i = v - base;
			(void)a; /* the entry's index: the value alone joins it to the write */
			if (i >= 0 && (size_t)i < e->values)
				e->v[i] = (struct godot_event){b, c, d, true};
		}
	}
	free(text);
	return e->ties == 2;
}

/* Tell the follower the last value written (the stop file, renamed into place whole), wait for it to
 * apply that and exit (killed after GODOT_FINISH_MS), and read its records into @p e. */
static bool godot_finish(struct godot_follower *f, int64_t last_value, int64_t base, struct godot_events *e)
{
	char aside[4400];
	snprintf(aside, sizeof(aside), "%s.tmp", f->stop);
	FILE *stop = fopen(aside, "w");
	bool told = stop && fprintf(stop, "%lld\n", (long long)last_value) > 0;
	if (stop)
		told = fclose(stop) == 0 && told;
	told = told && rename(aside, f->stop) == 0;
	int status = bench_wait(f->pid, told ? GODOT_FINISH_MS : 0);
	f->pid = 0;
	static const char *const done[] = {"GROVE-E2E-DONE"};
	if (status != 0 || bench_wait_said(f->log, done, 1, 0) != 0)
		fprintf(stderr, "godot3-server's follower did not finish cleanly (status %d); see %s\n", status, f->log);
	return godot_read_records(f->records, base, e);
}

/* ---- summaries ---- */

static void fill_pcts(struct pcts *p, struct samples *s)
{
	p->n = s->n;
	p->p50 = sorted_pct(s, 0.5);
	p->p99 = sorted_pct(s, 0.99);
	p->p999 = sorted_pct(s, 0.999);
}

static uint64_t span(uint64_t from, uint64_t to)
{
	return to > from ? to - from : 0;
}

/* A sample of from -> to, unless a time is missing (0: the server did not say it). */
static void add_span(struct samples *s, uint64_t from, uint64_t to)
{
	if (from && to)
		add_sample(s, span(from, to));
}

/* A uniform phase in the frame, from a fixed-seed xorshift: the same draws in every run. */
static uint64_t frame_wait(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state % FRAME_NS;
}

struct grove_summary {
	struct e2e_result *r;
	const struct e2e_grove *g;
	struct godot_follower *godot; /* NULL: none in this round */
	struct godot_follower *paced; /* a second one, its frames at 90 Hz, at the same member (NULL: none) */
};

/*
 * The wait for the next frame of a game server at 90 Hz, measured: from when a C subscriber at the paced
 * follower's member read write @p i (the earliest of them: the member sends the change to every connection
 * in one pass) to when the paced follower read it, at the start of the frame that applies it.
 */
static void add_paced_sample(struct samples *s, const struct round_log *log, const struct godot_events *paced,
			     int member, size_t i)
{
	const struct godot_event *ev = &paced->v[i];
	uint64_t first = 0;
	for (int k = 0; k < log->n; k++) {
		uint64_t at = log->subs[k].arrival[i];
		if (log->subs[k].member == member && at && (!first || at < first))
			first = at;
	}
	if (ev->seen && ev->received && first)
		add_sample(&s[ST_FRAME_MEASURED], span(first, godot_realtime_ns(paced, ev->received)));
}

/* The follower's stages for write @p i (value @p value), and what it adds to the total: its 5c in ns, 0 when
 * it lacks the write. */
static uint64_t add_godot_samples(struct samples *s, struct e2e_result *r, const struct godot_events *e, size_t i,
				  int64_t value, const struct write_times *w)
{
	r->godot_writes++;
	const struct godot_event *ev = &e->v[i];
	if (!ev->seen)
		return 0;
	r->godot_applied++;
	r->godot_not_in_tree += ev->tree_value != value;
	if (!ev->received)
		return 0; /* applied, but its message was not seen arriving: no time to count from */
	uint64_t apply = span((uint64_t)ev->received, (uint64_t)ev->applied) * 1000u;
	uint64_t received = godot_realtime_ns(e, ev->received);
	add_sample(&s[ST_GODOT_APPLY], apply);
	add_sample(&s[ST_GODOT_RECEIVED], span(w->committed, received));
	add_sample(&s[ST_GODOT_SUBMIT_TO_APPLIED], span(w->client_send, received + apply));
	return apply;
}

static void summarize_grove(void *ctx, const struct round_log *log)
{
	struct grove_summary *gs = ctx;
	struct e2e_result *r = gs->r;
	size_t writes = log->total > log->warmup ? log->total - log->warmup : 0, pairs = writes * (size_t)log->n;
	struct samples s[N_STAGES];
	for (int k = 0; k < N_STAGES; k++)
		s[k] = (struct samples){calloc(pairs + writes + 1, sizeof(uint64_t)), 0};
	struct godot_events godot = {.values = log->total};
	if (gs->godot) {
		godot.v = calloc(log->total + 1, sizeof(*godot.v));
		r->godot_member = gs->godot->member;
		r->godot_ran = godot_finish(gs->godot, gs->g->base + (int64_t)log->total - 1, gs->g->base, &godot);
		r->godot_tie_us = godot.tie_us;
		r->godot_drift_us = (double)(godot.offset[1] - godot.offset[0]);
	}
	struct godot_events paced = {.values = log->total};
	bool paced_ran = false;
	if (gs->paced) {
		paced.v = calloc(log->total + 1, sizeof(*paced.v));
		paced_ran = godot_finish(gs->paced, gs->g->base + (int64_t)log->total - 1, gs->g->base, &paced);
	}
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (size_t i = log->warmup; i < log->total; i++) {
		const struct write_times *w = &gs->g->writes[i];
		if (!log->acked[i] || !w->receive)
			continue;
		/* The game server's frame starts after the frame wait, and 5c is its work in that frame: it adds
		 * to every subscriber's total for this write (0 when no follower measured it). */
		uint64_t godot_apply = r->godot_ran ? add_godot_samples(s, r, &godot, i, gs->g->base + (int64_t)i, w) : 0;
		add_sample(&s[ST_COMMIT], span(log->sent[i], log->acked[i]));
		add_span(&s[ST_PROPAGATION], w->client_send, w->receive);
		add_span(&s[ST_PROCESSING], w->receive, w->durable);
		add_span(&s[ST_REPLICATION], w->durable, w->committed);
		add_span(&s[ST_ANSWERED], w->receive, w->reply);
		add_span(&s[ST_APPLY_LEADER], w->committed, w->applied);
		if (paced_ran)
			add_paced_sample(s, log, &paced, gs->paced->member, i);
		for (int k = 0; k < log->n; k++) {
			const struct sub *sub = &log->subs[k];
			uint64_t at = sub->arrival[i];
			if (!at) {
				r->missed++;
				continue;
			}
			const struct event_times *ev = &sub->events[i];
			if (ev->applied_ns) {
				if (!sub->on_leader)
					add_span(&s[ST_APPLY_FOLLOWER], w->committed, ev->applied_ns);
				add_sample(&s[ST_DELIVERY], span(ev->applied_ns, at));
				add_sample(&s[ST_QUEUED], span(ev->applied_ns, ev->sent_ns));
				add_sample(&s[ST_WIRE], span(ev->sent_ns, at));
			}
			add_span(&s[ST_COMMITTED_TO_READ], w->committed, at);
			uint64_t wait = frame_wait(&rng);
			add_sample(&s[ST_FRAME], wait);
			add_sample(&s[ST_SUBMIT_TO_READ], span(w->client_send, at));
			add_sample(&s[ST_TOTAL], span(w->client_send, at) + wait + godot_apply);
		}
	}
	free(godot.v);
	free(paced.v);
	for (int k = 0; k < N_STAGES; k++) {
		fill_pcts(&r->stage[k], &s[k]);
		if (k == ST_SUBMIT_TO_READ) {
			r->read_sorted = s[k].v, r->n_read = s[k].n; /* kept for the CDF */
			continue;
		}
		free(s[k].v);
	}
	r->ok = r->stage[ST_TOTAL].n > 0;
}

/* etcd: put -> read by a watcher on a member other than the leader. */
static void summarize_etcd(void *ctx, const struct round_log *log)
{
	struct e2e_result *r = ctx;
	size_t writes = log->total > log->warmup ? log->total - log->warmup : 0;
	struct samples s = {calloc(writes * (size_t)log->n + 1, sizeof(uint64_t)), 0};
	for (size_t i = log->warmup; i < log->total; i++)
		for (int k = 0; k < log->n; k++)
			if (log->acked[i] && !log->subs[k].on_leader && log->subs[k].arrival[i])
				add_sample(&s, span(log->sent[i], log->subs[k].arrival[i]));
	fill_pcts(&r->etcd, &s);
	r->etcd_sorted = s.v, r->n_etcd = s.n; /* kept for the CDF */
	r->etcd_ok = r->etcd.n > 0;
}

/* ---- delays on the links ---- */

/* One delay preset: one-way delays in ms, between the clients and the leader, the clients and the
 * followers, and between members. */
struct preset {
	const char *name;
	double client_leader, client_follower, peers;
};

static const struct preset presets[] = {
	{"lan", 0.2, 0.2, 0.2},
	{"metro", 2, 2, 2},
	{"wan-near", 0.2, 30, 30},
	{"wan-far", 30, 0.2, 30},
};

static const struct preset *preset_named(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strlen(presets[i].name) == len && strncmp(presets[i].name, name, len) == 0)
			return &presets[i];
	return NULL;
}

/* Start a netdelay from @p listen to @p target with @p ms one way (each direction) and a tenth of it as
 * jitter; wait until it listens. @return its pid, or -1. */
static pid_t start_delay(const char *dir, int listen, int target, double ms)
{
	char l[16], t[16], d[32], j[32], log[4200];
	snprintf(l, sizeof(l), "%d", listen);
	snprintf(t, sizeof(t), "%d", target);
	snprintf(d, sizeof(d), "%g", ms);
	snprintf(j, sizeof(j), "%g", ms / 10);
	snprintf(log, sizeof(log), "%s/netdelay-%d.log", dir, listen);
	char *argv[] = {NETDELAY_PATH, "--listen", l, "--target", t, "--up-ms", d, "--down-ms", d, "--jitter-ms", j, NULL};
	pid_t pid = bench_spawn(argv, log);
	static const char *const listening[] = {"ready"};
	if (pid > 0)
		bench_wait_said(log, listening, 1, 5000);
	return pid;
}

/* ---- one cluster: rounds of every subscriber count ---- */

/* --colocate-leaders: the shards' leaders handed to the writer's member before the cross-shard rounds. */
static bool colocate_leaders;

/* /root/World with ZoneA/Target and ZoneB/Target, each zone split off into a shard of its own, through
 * member @p leader; every member applies them. With colocate_leaders, @p leader then leads both shards. */
static bool make_cross_world(const struct grove_cluster *c, int leader)
{
	static const struct tree_op world[] = {
		{.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = "World", .text = "Node", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {.path = "/root/World"}, .name = "ZoneA", .text = "Node", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {.path = "/root/World"}, .name = "ZoneB", .text = "Node", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {.path = ZONE_A}, .name = "Target", .text = "Node", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {.path = ZONE_B}, .name = "Target", .text = "Node", .index = -1},
	};
	struct grove_client *w;
	if (grove_client_connect(c->addresses[leader], NULL, 10000, &w, NULL, 0) != GROVE_OK)
		return false;
	bool ok = client_write_ops(w, world, sizeof(world) / sizeof(world[0])) == GROVE_OK &&
		  grove_shard_split(w, ZONE_A) && grove_shard_split(w, ZONE_B);
	if (ok && colocate_leaders)
		ok = grove_shard_lead(w, ZONE_A, (uint64_t)leader + 1) && grove_shard_lead(w, ZONE_B, (uint64_t)leader + 1);
	grove_client_close(w);
	return ok && grove_members_caught_up(c, leader);
}

/* After the rounds, which member leads each shard (as member @p leader, the writer's, sees it) in each result. */
static void note_placement(const struct grove_cluster *c, int leader, struct e2e_result *out, int rounds)
{
	struct grove_client *cl;
	char placement[sizeof(out->placement)];
	int n = snprintf(placement, sizeof(placement), "the writer's member %d; ", leader + 1);
	if (grove_client_connect(c->addresses[leader], NULL, 10000, &cl, NULL, 0) != GROVE_OK)
		return;
	grove_shard_leaders(cl, placement + n, sizeof(placement) - (size_t)n);
	grove_client_close(cl);
	for (int r = 0; r < rounds; r++)
		snprintf(out[r].placement, sizeof(out[r].placement), "%s", placement);
}

/* A grove cluster that rounds run on: the cluster, the view its clients have of it (their addresses through
 * proxies when delayed), the proxies, and the member that leads. */
struct grove_run {
	struct e2e_grove *g;
	struct e2e_grove view;
	pid_t proxies[2 * CLUSTER_MEMBERS];
	int leader;
	bool cross;
};

/* Stop @p run's cluster and proxies, and free it. */
static void grove_run_free(struct grove_run *run)
{
	grove_cluster_stop(&run->g->cluster);
	for (int i = 0; i < 2 * CLUSTER_MEMBERS; i++)
		bench_stop(run->proxies[i]);
	free(run->g);
	run->g = NULL;
}

/* Start a fresh cluster, delayed by @p p if not NULL; with @p cross, its world split into two shards written
 * together. @return false (the cluster stopped, its logs left in @p dir) if it did not come up. */
static bool grove_run_start(struct grove_run *run, const char *dir, const char *tag, const struct preset *p, bool cross)
{
	memset(run, 0, sizeof(*run));
	struct e2e_grove *g = run->g = calloc(1, sizeof(*g));
	g->cross = run->cross = cross;
	static const char *const fixed_leaders[] = {"--no-leader-balance", NULL}; /* they stay where they are put */
	grove_cluster_init(&g->cluster, dir, tag, cross && colocate_leaders ? fixed_leaders : NULL);
	if (p) {
		/* Members reach each other through a proxy in front of each member; each names itself as it listens. */
		int ports[CLUSTER_MEMBERS];
		for (int i = 0; i < CLUSTER_MEMBERS; i++) {
			ports[i] = test_free_port();
			run->proxies[i] = start_delay(dir, ports[i], g->cluster.ports[i], p->peers);
		}
		for (int i = 0; i < CLUSTER_MEMBERS; i++)
			for (int j = 0; j < CLUSTER_MEMBERS; j++) {
				char *list = g->cluster.member_peers[i];
				size_t n = strlen(list);
				snprintf(list + n, sizeof(g->cluster.member_peers[i]) - n, "%s%d=127.0.0.1:%d", j ? "," : "", j + 1,
					 i == j ? g->cluster.ports[j] : ports[j]);
			}
	}
	int leader = run->leader = grove_cluster_start(&g->cluster);
	bool ok = leader >= 0 && (cross ? make_cross_world(&g->cluster, leader) : grove_make_world(&g->cluster, leader));
	if (!ok)
		fprintf(stderr, "grove (%s): no leader, or /root/World (%s) could not be made; logs kept in %s\n", tag,
			cross ? "two shards" : "one shard", dir);
	/* The clients reach each member through a proxy of their own, now that the leader is known. The
	 * subscribers' and the writer's addresses are the proxies'; the cluster's own stay as they were. */
	run->view = *g;
	for (int i = 0; ok && p && i < CLUSTER_MEMBERS; i++) {
		int port = test_free_port();
		run->proxies[CLUSTER_MEMBERS + i] =
			start_delay(dir, port, g->cluster.ports[i], i == leader ? p->client_leader : p->client_follower);
		snprintf(run->view.cluster.addresses[i], sizeof(run->view.cluster.addresses[i]), "127.0.0.1:%d", port);
	}
	if (!ok)
		grove_run_free(run);
	return ok;
}

/* Round @p r on @p run: @p subscribers subscribers; with @p godot_project, a Godot follower at a follower member. */
static void grove_run_round(struct grove_run *run, const char *dir, const char *tag, int r, int subscribers, int ops,
			    double seconds, const char *godot_project, struct e2e_result *out)
{
	struct e2e_grove *view = &run->view;
	size_t warmup = ops / 10 > 20 ? (size_t)ops / 10 : 20;
	view->cap = warmup + (size_t)ops;
	view->base = 1000000 * (int64_t)(r + 1);
	view->writes = calloc(view->cap, sizeof(*view->writes));
	struct store st = {"grove", run->leader, grove_open, view, e2e_writer_open, e2e_write, e2e_writer_close,
			   realtime, NULL};
	memset(out, 0, sizeof(*out));
	out->subscribers = subscribers;
	out->cross = run->cross;
	struct godot_follower follower = {0}, paced = {0};
	int member = (run->leader + 1) % CLUSTER_MEMBERS;
	bool following = godot_project && godot_follow(&follower, godot_project, dir, tag, r, member,
						       view->cluster.addresses[member], seconds, 0);
	/* The paced one needs a C subscriber at its member to measure from: subscriber k is at member k % 3. */
	bool pacing = following && subscribers > member &&
		      godot_follow(&paced, godot_project, dir, tag, r, member, view->cluster.addresses[member], seconds,
				   FRAME_HZ);
	struct grove_summary gs = {out, view, following ? &follower : NULL, pacing ? &paced : NULL};
	stream_round(&st, subscribers, ops, seconds, view->base, summarize_grove, &gs);
	godot_abandon(&follower);
	godot_abandon(&paced);
	free(view->writes);
	view->writes = NULL;
}

/* Stop @p run's cluster and proxies; across shards, first note in its @p rounds results who led the shards. */
static void grove_run_stop(struct grove_run *run, struct e2e_result *out, int rounds)
{
	if (!run->g)
		return;
	if (run->cross)
		note_placement(&run->g->cluster, run->leader, out, rounds);
	grove_run_free(run);
}

/* ---- report ---- */

/* What the Godot follower of a round did, or that the row has none. */
static void print_godot_follower(FILE *out, const struct e2e_result *r)
{
	if (!r->godot_ran) {
		fprintf(out, "no Godot follower in this row: 5c not measured, the total is without it\n");
		return;
	}
	size_t missing = r->godot_writes - r->godot_applied;
	fprintf(out, "Godot follower (godot3-server, GroveClient at member %d): applied %zu of the %zu writes", r->godot_member + 1,
		r->godot_applied, r->godot_writes);
	if (missing)
		fprintf(out, ", %zu MISSING", missing);
	if (r->godot_not_in_tree)
		fprintf(out, ", %zu NOT IN ITS TREE when applied", r->godot_not_in_tree);
	fprintf(out, "; its clock tied to CLOCK_REALTIME within +-%.1f us (the two moved %.0f us apart over the round)\n",
		r->godot_tie_us, r->godot_drift_us);
	if (r->stage[ST_FRAME_MEASURED].n)
		fprintf(out, "a second Godot follower at member %d, at 90 Hz: the frame wait measured for %zu writes\n",
			r->godot_member + 1, r->stage[ST_FRAME_MEASURED].n);
}

static void print_stages(FILE *out, const struct e2e_result *r, bool etcd)
{
	fprintf(out, "\n%s%d subscriber%s: %zu subscriber-events, %zu never delivered; microseconds\n",
		r->cross ? "across two shards (every write a transaction over both), " : "", r->subscribers,
		r->subscribers == 1 ? "" : "s", r->stage[ST_TOTAL].n, r->missed);
	print_godot_follower(out, r);
	if (r->placement[0])
		fprintf(out, "shard leaders: %s\n", r->placement);
	fprintf(out, "| stage | p50 | p99 | p99.9 |\n|---|---:|---:|---:|\n");
	for (int k = 0; k < N_STAGES; k++) {
		const struct pcts *p = &r->stage[k];
		if (p->n)
			fprintf(out, "| %s | %.0f | %.0f | %.0f |\n", stage_names[k], p->p50, p->p99, p->p999);
		else
			fprintf(out, "| %s | - | - | - |\n", stage_names[k]);
	}
	if (etcd && r->etcd_ok) {
		const struct pcts *s = &r->stage[ST_SUBMIT_TO_READ], *e = &r->etcd;
		fprintf(out, "| etcd put -> watcher on another member read | %.0f | %.0f | %.0f |\n", e->p50, e->p99, e->p999);
		fprintf(out, "| ratio etcd / grove (submit -> read) | %.2fx | %.2fx | %.2fx |\n", e->p50 / s->p50, e->p99 / s->p99,
		       e->p999 / s->p999);
	}
}

/* Cross-shard against single-shard rounds of the same subscriber count, in the same run: the issue asks
 * for at most 1.3x. */
static void print_cross_ratios(FILE *out, const struct e2e_result *single, const struct e2e_result *cross, int rounds)
{
	static const enum stage compared[] = {ST_COMMIT, ST_SUBMIT_TO_READ, ST_ANSWERED};
	static const char *const names[] = {"commit (send -> writer's ack)", "submit -> subscriber read",
					    "receive -> answered"};
	fprintf(out, "\ncross-shard / single-shard, same run (goal: <= 1.3x):\n| subscribers | what | p50 | p99 | p99.9 |\n"
		     "|---:|---|---:|---:|---:|\n");
	for (int r = 0; r < rounds; r++) {
		if (!single[r].ok || !cross[r].ok)
			continue;
		for (size_t k = 0; k < sizeof(compared) / sizeof(compared[0]); k++) {
			const struct pcts *a = &single[r].stage[compared[k]], *b = &cross[r].stage[compared[k]];
			fprintf(out, "| %d | %s | %.2fx | %.2fx | %.2fx |\n", single[r].subscribers, names[k], b->p50 / a->p50,
				b->p99 / a->p99, b->p999 / a->p999);
		}
	}
}

/* DESIGN.md's worked example with stages 2-5 replaced by the figures of row @p row (ms). Its stage 5 is the
 * node-tree change applied on the servers that render it: the leader's commit -> read by a subscriber
 * (applied at its member, then delivered), plus 5c, the game server's apply in its scene tree, where the
 * row had a Godot follower; the frame wait is the row's too. Each stage's own percentile: the sum of
 * p99s is a bound, not the p99 of the sum. */
static void print_example(FILE *out, const char *name, const char *row, const char *textbook, const struct e2e_result *r)
{
	static const enum stage measured[4] = {ST_PROPAGATION, ST_PROCESSING, ST_REPLICATION, ST_COMMITTED_TO_READ};
	const struct pcts *s = r->stage;
	bool godot = r->godot_ran && s[ST_GODOT_APPLY].n;
	fprintf(out, "%s, every figure from the %s (textbook %s):\n", name, row, textbook);
	for (int k = 0; k < 2; k++) {
		double q[4], sum = 3 + 10 + 2;
		for (int m = 0; m < 4; m++)
			sum += q[m] = (k ? s[measured[m]].p99 : s[measured[m]].p50) / 1000;
		double godot_apply = godot ? (k ? s[ST_GODOT_APPLY].p99 : s[ST_GODOT_APPLY].p50) / 1000 : 0;
		double frame = (k ? s[ST_FRAME].p99 : s[ST_FRAME].p50) / 1000;
		sum += godot_apply;
		char five[64];
		if (godot)
			snprintf(five, sizeof(five), "(%.2f + %.2f)", q[3], godot_apply);
		else
			snprintf(five, sizeof(five), "%.2f", q[3]);
		fprintf(out, "  stages at p%s: 3 + %.2f + %.2f + %.2f + %s + 10 + 2 = %.1f ms; with the frame wait (%.1f ms) %.1f ms\n",
			k ? "99" : "50", q[0], q[1], q[2], five, sum, frame, sum + frame);
	}
	fprintf(out, godot ? "  (stage 5: leader committed -> subscriber read + 5c, the Godot follower's apply in its scene tree)\n"
			   : "  (stage 5: leader committed -> subscriber read; no Godot follower in this row, 5c not in the sum)\n");
}

/* What one invocation measured. */
struct run {
	const struct e2e_result *res, *net_res;
	const struct e2e_result *cross_res; /* NULL: no cross-shard rounds */
	const struct preset *const *net;
	int rounds, n_net, ops, net_ops;
	const int *counts;
	double seconds;
	bool etcd_ran;
};

/* Everything measured, as Markdown, into @p out. */
static void report(FILE *out, const struct run *run)
{
	const struct e2e_result *res = run->res, *net_res = run->net_res;
	const struct preset *const *net = run->net;
	int rounds = run->rounds, n_net = run->n_net, ops = run->ops, net_ops = run->net_ops;
	const int *counts = run->counts;
	double seconds = run->seconds;
	bool etcd_ran = run->etcd_ran;
	fprintf(out, "end to end, stage by stage: 3-member durable grove cluster on 127.0.0.1, one sequential writer at\n"
	       "the leader, subscribers spread over the members, %d writes per row after a warm-up (at most %.0f s);\n"
	       "CLOCK_REALTIME on this machine; frame wait computed (uniform phase in a 90 Hz frame), and measured where\n"
	       "a follower at 90 Hz ran.\n", ops, seconds);
	for (int r = 0; r < rounds; r++)
		print_stages(out, &res[r], etcd_ran);
	if (run->cross_res) {
		for (int r = 0; r < rounds; r++)
			print_stages(out, &run->cross_res[r], false);
		print_cross_ratios(out, res, run->cross_res, rounds);
	}
	for (int k = 0; k < n_net; k++) {
		fprintf(out, "\nthrough netdelay, preset %s (one way: clients-leader %g ms, clients-followers %g ms, "
		       "between members %g ms; jitter a tenth), %d writes:", net[k]->name, net[k]->client_leader,
		       net[k]->client_follower, net[k]->peers, net_ops);
		print_stages(out, &net_res[k], false);
	}

	/* The worked examples: LAN from the lan row if it ran, else the loopback round of 10 subscribers (or the
	 * first); WAN from each wan row. */
	const struct e2e_result *lan = NULL, *ten = &res[0];
	for (int r = 0; r < rounds; r++)
		if (counts[r] == 10)
			ten = &res[r];
	for (int k = 0; k < n_net; k++)
		if (strcmp(net[k]->name, "lan") == 0 && net_res[k].ok)
			lan = &net_res[k];
	fprintf(out, "\nDESIGN.md's worked examples, stages 2-5 measured (5 = apply + delivery to the game server + its\n"
		     "apply in the scene tree), ms:\n");
	char row[96];
	const struct e2e_result *l = lan ? lan : ten;
	snprintf(row, sizeof(row), "%s, %d subscriber%s", lan ? "lan row" : "loopback round (no added delay)", l->subscribers,
		 l->subscribers == 1 ? "" : "s");
	if (l->ok)
		print_example(out, "LAN", row, "3 + 0.5 + 5 + 3 + 10 + 10 + 2 = 33.5", l);
	bool wan = false;
	for (int k = 0; k < n_net; k++)
		if (strncmp(net[k]->name, "wan", 3) == 0 && net_res[k].ok) {
			snprintf(row, sizeof(row), "%s row, %d subscriber%s", net[k]->name, net_res[k].subscribers,
				 net_res[k].subscribers == 1 ? "" : "s");
			print_example(out, "WAN", row, "3 + 30 + 15 + 10 + 10 + 10 + 2 = 80", &net_res[k]);
			wan = true;
		}
	if (!wan)
		fprintf(out, "WAN: not measured in this run (add --net wan-near,wan-far)\n");
}

/* DIR/e2e.md (the report), DIR/stages.dat and DIR/cdf-N.dat (the figures), and their pictures by
 * gnuplot (Debian package gnuplot) as PNG and SVG: p50 and p99 per stage per subscriber count, and the
 * CDF of submit -> subscriber read for grove and etcd. @return false if a file could not be written. */
static bool write_report(const char *dir, const struct run *run)
{
	char path[4200];
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/e2e.md", dir);
	FILE *md = fopen(path, "w");
	if (!md)
		return false;
	fprintf(md, "# grove end to end, stage by stage\n\n```\n");
	report(md, run);
	fprintf(md, "```\n\n![p50 and p99 per stage](stages.png)\n\n![CDF of submit -> subscriber read](cdf.png)\n");
	fclose(md);
	static const enum stage shown[] = {ST_PROPAGATION, ST_PROCESSING, ST_REPLICATION, ST_APPLY_LEADER,
					   ST_APPLY_FOLLOWER, ST_DELIVERY, ST_FRAME, ST_GODOT_APPLY};
	static const char *const labels[] = {"propagation", "processing", "replication", "apply (leader)",
					     "apply (followers)", "delivery", "frame wait", "Godot apply"};
	snprintf(path, sizeof(path), "%s/stages.dat", dir);
	FILE *dat = fopen(path, "w");
	if (!dat)
		return false;
	fprintf(dat, "stage");
	for (int r = 0; r < run->rounds; r++)
		fprintf(dat, " p50_%d p99_%d", run->counts[r], run->counts[r]);
	fprintf(dat, "\n");
	for (size_t k = 0; k < sizeof(shown) / sizeof(shown[0]); k++) {
		fprintf(dat, "\"%s\"", labels[k]);
		for (int r = 0; r < run->rounds; r++)
			fprintf(dat, " %.1f %.1f", run->res[r].stage[shown[k]].p50, run->res[r].stage[shown[k]].p99);
		fprintf(dat, "\n");
	}
	fclose(dat);
	for (int r = 0; r < run->rounds; r++) {
		snprintf(path, sizeof(path), "%s/cdf-%d.dat", dir, run->counts[r]);
		FILE *cdf = fopen(path, "w");
		if (!cdf)
			return false;
		const struct e2e_result *e = &run->res[r];
		/* 200 points of each distribution: grove, then etcd (same quantiles). */
		for (int q = 0; q <= 200; q++) {
			double p = q / 200.0;
			fprintf(cdf, "%.4f %.1f %.1f\n", p, pct(e->read_sorted, e->n_read, p), e->etcd_ok ? pct(e->etcd_sorted, e->n_etcd, p) : 0);
		}
		fclose(cdf);
	}
	snprintf(path, sizeof(path), "%s/plot.gp", dir);
	FILE *gp = fopen(path, "w");
	if (!gp)
		return false;
	const char *terms[][2] = {{"pngcairo size 1000,600", "png"}, {"svg size 1000,600", "svg"}};
	for (int t = 0; t < 2; t++) {
		fprintf(gp, "set terminal %s\nset output 'stages.%s'\nset style data histograms\nset style histogram cluster gap 1\n"
			    "set style fill solid border -1\nset logscale y\nset ylabel 'microseconds'\nset xtics rotate by -20\n"
			    "set key top left\nset title 'grove: p50 and p99 per stage (3 durable members, 127.0.0.1)'\nplot ",
			terms[t][0], terms[t][1]);
		for (int r = 0; r < run->rounds; r++)
			fprintf(gp, "%s'stages.dat' using %d:xtic(1) title 'p50, %d subs', '' using %d title 'p99, %d subs'",
				r ? ", " : "", 2 + 2 * r, run->counts[r], 3 + 2 * r, run->counts[r]);
		fprintf(gp, "\nunset xtics\nset xtics\nunset style\nset style data lines\nset logscale x\nunset logscale y\n"
			    "set xlabel 'submit -> subscriber read, microseconds'\nset ylabel 'fraction'\nset key bottom right\n"
			    "set output 'cdf.%s'\nset title 'CDF, grove vs etcd put -> watch, same run'\nplot ", terms[t][1]);
		for (int r = 0; r < run->rounds; r++) {
			fprintf(gp, "%s'cdf-%d.dat' using 2:1 title 'grove, %d subs'", r ? ", " : "", run->counts[r], run->counts[r]);
			if (run->res[r].etcd_ok)
				fprintf(gp, ", 'cdf-%d.dat' using 3:1 title 'etcd, %d watchers'", run->counts[r], run->counts[r]);
		}
		fprintf(gp, "\nunset logscale x\nunset xlabel\n");
	}
	fclose(gp);
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot plot.gp", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "gnuplot failed or is not installed (Debian package gnuplot): %s has the data, no pictures\n", dir);
	return true;
}

int main(int argc, char **argv)
{
	int ops = 1000, net_ops = 200, net_subscribers = 10, counts[MAX_ROUNDS] = {1, 10, 100}, rounds = 3, n_net = 0;
	double seconds = 60;
	bool with_etcd = true, cross = false;
	const char *report_dir = NULL;
	const struct preset *net[MAX_PRESETS];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
			ops = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--net-ops") == 0 && i + 1 < argc) {
			net_ops = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--net-subscribers") == 0 && i + 1 < argc) {
			net_subscribers = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (strcmp(argv[i], "--subscribers") == 0 && i + 1 < argc) {
			rounds = parse_int_list(argv[++i], 1, MAX_SUBSCRIBERS, counts, MAX_ROUNDS);
		} else if (strcmp(argv[i], "--no-etcd") == 0) {
			with_etcd = false;
		} else if (strcmp(argv[i], "--cross-shard") == 0) {
			cross = true;
		} else if (strcmp(argv[i], "--colocate-leaders") == 0) {
			colocate_leaders = true;
		} else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc) {
			report_dir = argv[++i];
		} else if (strcmp(argv[i], "--net") == 0 && i + 1 < argc) {
			for (const char *p = argv[++i]; *p && n_net < MAX_PRESETS; p += *p == ',') {
				size_t len = strcspn(p, ",");
				if (!(net[n_net++] = preset_named(p, len)))
					rounds = -1;
				p += len;
			}
		} else {
			rounds = -1;
			break;
		}
	}
	if (rounds < 1 || ops < 1 || net_ops < 1 || seconds <= 0 || net_subscribers < 1 || net_subscribers > MAX_SUBSCRIBERS) {
		fprintf(stderr, "usage: %s [--ops N] [--subscribers N,N,...] [--seconds S] [--no-etcd] [--cross-shard]\n"
				"          [--colocate-leaders] [--net lan,metro,wan-near,wan-far] [--net-ops N]\n"
				"          [--net-subscribers N] [--report DIR]\n"
				"  (subscriber counts 1 to %d, default 1,10,100; ops default 1000, per preset 200;\n"
				"   seconds: the most any round writes for, default 60)\n",
			argv[0], MAX_SUBSCRIBERS);
		return 2;
	}
	test_raise_nofile(4096);
	char *dir = test_tmpdir("bench-e2e");
	struct e2e_result res[MAX_ROUNDS], net_res[MAX_PRESETS], cross_res[MAX_ROUNDS];
	memset(res, 0, sizeof(res));
	memset(cross_res, 0, sizeof(cross_res));
	memset(net_res, 0, sizeof(net_res));
	char *godot_project = NULL;
	if (!godot_installed())
		printf("godot3-server is not installed (Debian package godot3-server): no Godot follower, stage 5c not measured\n");
	else if (!(godot_project = godot_bench_project()))
		return 1;
	/*
	 * Every cluster runs from the start, and each round's subscriber count is measured on each in turn:
	 * a shared machine's load drifts over minutes, and the ratios compare figures taken side by side.
	 */
	struct grove_run single, crossed;
	bool grove_ran = grove_run_start(&single, dir, "grove", NULL, false);
	bool kept = !grove_ran;
	bool cross_ran = grove_ran && cross && grove_run_start(&crossed, dir, "cross", NULL, true);
	kept |= cross && !cross_ran;
	bool etcd_started = grove_ran && with_etcd && etcd_installed();
	struct etcd_cluster e;
	int etcd_leader = etcd_started ? etcd_cluster_start(&e, dir) : -1;
	if (etcd_started && etcd_leader < 0)
		fprintf(stderr, "etcd: no leader\n");
	else if (grove_ran && with_etcd && !etcd_started)
		printf("etcd is not installed (Debian package etcd-server): no comparison\n");
	struct store etcd_store = {"etcd", etcd_leader, etcd_open, &e, etcd_writer, etcd_put_seq, etcd_close_writer, realtime,
				   NULL};
	for (int r = 0; grove_ran && r < rounds; r++) {
		grove_run_round(&single, dir, "grove", r, counts[r], ops, seconds, godot_project, &res[r]);
		if (cross_ran)
			grove_run_round(&crossed, dir, "cross", r, counts[r], ops, seconds, NULL, &cross_res[r]);
		if (etcd_leader >= 0)
			stream_round(&etcd_store, counts[r], ops, seconds, 1000000 * (int64_t)(r + 1), summarize_etcd, &res[r]);
	}
	if (grove_ran)
		grove_run_stop(&single, res, rounds);
	if (cross_ran)
		grove_run_stop(&crossed, cross_res, rounds);
	if (etcd_started)
		etcd_cluster_stop(&e);
	bool etcd_ran = etcd_leader >= 0;
	if (!grove_ran) {
		if (godot_project)
			test_rmtree(godot_project);
		return 1;
	}
	for (int k = 0; k < n_net; k++) {
		char tag[32];
		snprintf(tag, sizeof(tag), "net-%s", net[k]->name);
		struct grove_run delayed;
		bool up = grove_run_start(&delayed, dir, tag, net[k], false);
		if (up) {
			grove_run_round(&delayed, dir, tag, 0, net_subscribers, net_ops, seconds, godot_project, &net_res[k]);
			grove_run_stop(&delayed, &net_res[k], 1);
		}
		kept |= !up;
	}
	if (godot_project)
		test_rmtree(godot_project);

	struct run run = {res, net_res, cross ? cross_res : NULL, net, rounds, n_net, ops, net_ops, counts, seconds, etcd_ran};
	report(stdout, &run);
	if (report_dir && !write_report(report_dir, &run))
		fprintf(stderr, "the report could not be written to %s\n", report_dir);
	if (!kept)
		test_rmtree(dir);
	return 0;
}
