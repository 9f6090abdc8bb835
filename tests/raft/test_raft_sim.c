/*
 * Deterministic simulation of Raft clusters: 3 or 5 nodes running the real core, a simulated network that
 * delays, reorders, drops, duplicates and partitions, nodes that crash (losing everything not persisted,
 * sometimes between persisting and sending) and restart from a storage double that keeps exactly what the
 * Ready contract says is durable, log compaction and snapshot installs. Writes finish asynchronously, as
 * groved's log writer makes them: a ready's entries become durable some steps later (raft_persisted()),
 * the leader's appends leave at once, every other message waits for the writes before it, and a crash
 * loses the writes still running. Nodes are paused too (as by SIGSTOP: no ticks, messages wait).
 * Linearizable reads (ReadIndex) are asked of whichever node thinks it leads, a partitioned one or one
 * just resumed from a pause included. After every event:
 *   - at most one leader per term (election safety);
 *   - every applied entry agrees with one global history (state-machine safety, applied prefixes);
 *   - a new leader holds every entry applied anywhere (leader completeness);
 *   - logs that agree on an index and term agree on everything before (log matching, checked periodically);
 *   - a read is served from a state that holds every entry applied anywhere before it was asked;
 * and at the end, after healing the network and restarting every node, every acknowledged proposal is in
 * every node's state and the cluster still commits new proposals.
 *
 * GROVE_SIM_SEEDS=N runs N seeds (default 2000); GROVE_SIM_SEED=S replays one (with GROVE_SIM_TRACE=1, printing
 * its events). A failure prints its seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/raft/raft.h"

#define MAX_NODES 5
#define MAX_INDEX 8192

/* What a node's disk holds: exactly what its ready cycles persisted. */
struct disk {
	struct raft_hard_state hard;
	struct raft_entry *log; /* snapshot_index+1 .. */
	size_t n, cap;
	uint64_t snapshot_index, snapshot_term;
	struct raft_conf conf;       /* membership as of `applied` */
	uint64_t applied;            /* the state machine is durable through here */
};

/* A write handed to the disk and not finished yet. */
struct write {
	uint64_t seq;                /* writes finish in this order */
	struct raft_entry *entries;  /* deep copies */
	size_t n;
	bool has_hard;
	struct raft_hard_state hard;
	uint64_t done_at;            /* the step at which it becomes durable */
};

/* A message that waits until the writes before it are durable. */
struct held {
	struct raft_msg m;   /* deep copy */
	uint64_t after;      /* the seq of the last write handed out before it */
};

/* A linearizable read waiting at a node. */
struct read {
	uint64_t context;
	uint64_t index;      /* 0 until the core confirmed it */
	uint64_t required;   /* highest index applied anywhere when it was asked */
};

struct node {
	uint64_t id;
	struct raft *r;
	bool up;
	struct disk disk;
	uint64_t values[MAX_INDEX];  /* the state machine: value applied at each index (0: none) */
	uint64_t applied;            /* the state machine's last index (in memory) */
	struct write *writes;        /* running, oldest first */
	size_t n_writes;
	uint64_t next_seq, done_seq; /* seq of the next write; every write up to done_seq is durable */
	struct held *held;
	size_t n_held;
	struct read reads[16];
	size_t n_reads;
	uint64_t paused_until;       /* stopped (SIGSTOP): no ticks, no processing, messages wait */
};

struct inflight {
	struct raft_msg m;  /* deep copy */
	uint64_t at;        /* delivery step */
};

struct history_entry {
	uint64_t term;
	uint64_t value;
	bool set;
	uint64_t committed_by; /* the highest term any node had when it was first applied: it committed no later */
};

struct sim {
	uint64_t seed;
	uint64_t rng;
	int n;
	struct node nodes[MAX_NODES];
	struct inflight *net;
	size_t n_net, cap_net;
	bool cut[MAX_NODES][MAX_NODES]; /* partitions */
	uint64_t now;
	uint64_t next_value;
	struct history_entry hist[MAX_INDEX];
	uint64_t max_applied;           /* highest index applied anywhere */
	uint64_t leader_of_term[4096];
	uint64_t acked[4096];           /* values applied somewhere: acknowledged to their client */
	size_t n_acked;
	bool faults;                    /* crashes, drops, partitions are on */
	uint64_t next_context;          /* of reads */
	uint64_t reads_served;
	bool failed;
	char why[256];
};

static uint64_t rnd(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static bool chance(struct sim *s, unsigned percent)
{
	return rnd(s) % 1000 < percent * 10;
}

__attribute__((format(printf, 2, 3))) static void violate(struct sim *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* GROVE_SIM_TRACE=1 with GROVE_SIM_SEED=S prints the seed's events: what a failure came from. */
static bool tracing;

__attribute__((format(printf, 2, 3))) static void trace(const struct sim *s, const char *fmt, ...)
{
	if (!tracing)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("t=%llu ", (unsigned long long)s->now);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void trace_msg(const struct sim *s, const char *what, const struct raft_msg *m)
{
	if (!tracing)
		return;
	char entries[256] = "";
	size_t at = 0;
	for (size_t i = 0; i < m->n_entries && at < sizeof(entries) - 24; i++)
		at += (size_t)snprintf(entries + at, sizeof(entries) - at, " %llu:%llu",
				       (unsigned long long)m->entries[i].index, (unsigned long long)m->entries[i].term);
	trace(s, "%s type=%d %llu->%llu term=%llu index=%llu log_term=%llu commit=%llu reject=%d hint=%llu snap=%llu%s",
	      what, (int)m->type, (unsigned long long)m->from, (unsigned long long)m->to, (unsigned long long)m->term,
	      (unsigned long long)m->index, (unsigned long long)m->log_term, (unsigned long long)m->commit, m->reject,
	      (unsigned long long)m->reject_hint, (unsigned long long)m->snapshot_index, entries);
}

static void copy_msg(struct raft_msg *dst, const struct raft_msg *src)
{
	*dst = *src;
	dst->entries = NULL;
	if (src->n_entries) {
		dst->entries = calloc(src->n_entries, sizeof(*dst->entries));
		for (size_t i = 0; i < src->n_entries; i++) {
			dst->entries[i] = src->entries[i];
			dst->entries[i].data = NULL;
			if (src->entries[i].len) {
				dst->entries[i].data = malloc(src->entries[i].len);
				memcpy(dst->entries[i].data, src->entries[i].data, src->entries[i].len);
			}
		}
	}
}

static void free_msg(struct raft_msg *m)
{
	for (size_t i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
}

static void disk_truncate(struct disk *d, uint64_t after)
{
	while (d->n && d->log[d->n - 1].index > after) {
		free(d->log[d->n - 1].data);
		d->n--;
	}
}

static void disk_append(struct disk *d, const struct raft_entry *e)
{
	disk_truncate(d, e->index - 1);
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->log = realloc(d->log, d->cap * sizeof(*d->log));
	}
	struct raft_entry *c = &d->log[d->n++];
	*c = *e;
	c->data = NULL;
	if (e->len) {
		c->data = malloc(e->len);
		memcpy(c->data, e->data, e->len);
	}
}

static void disk_compact(struct disk *d, uint64_t index, uint64_t term)
{
	size_t drop = 0;
	while (drop < d->n && d->log[drop].index <= index)
		free(d->log[drop++].data);
	memmove(d->log, d->log + drop, (d->n - drop) * sizeof(*d->log));
	d->n -= drop;
	d->snapshot_index = index;
	d->snapshot_term = term;
}

static struct raft_config config_for(struct sim *s, uint64_t id)
{
	return (struct raft_config){.id = id, .election_ticks = 10, .heartbeat_ticks = 2, .max_inflight = 4,
				    .max_batch = 8, .seed = s->seed * 31 + id + s->now, .pre_vote = true,
				    .check_quorum = true};
}

static void start_node(struct sim *s, struct node *nd)
{
	struct raft_restore rs = {.hard = nd->disk.hard, .conf = nd->disk.conf,
				  .snapshot_index = nd->disk.snapshot_index, .snapshot_term = nd->disk.snapshot_term,
				  .entries = nd->disk.log, .n_entries = nd->disk.n, .applied = nd->disk.applied};
	struct raft_config cfg = config_for(s, nd->id);
	assert_int_equal(raft_create(&cfg, &rs, &nd->r), GROVE_OK);
	/* The state machine is durable through disk.applied; later values were lost with memory. */
	for (uint64_t i = nd->disk.applied + 1; i < MAX_INDEX; i++)
		nd->values[i] = 0;
	nd->applied = nd->disk.applied;
	nd->up = true;
}

static void free_writes(struct node *nd)
{
	for (size_t i = 0; i < nd->n_writes; i++) {
		for (size_t k = 0; k < nd->writes[i].n; k++)
			free(nd->writes[i].entries[k].data);
		free(nd->writes[i].entries);
	}
	nd->n_writes = 0;
	for (size_t i = 0; i < nd->n_held; i++)
		free_msg(&nd->held[i].m);
	nd->n_held = 0;
}

/* A crash: memory is gone, and so are the writes that had not finished and the messages they held. */
static void crash_node(struct sim *s, struct node *nd)
{
	trace(s, "node %llu crashes (durable through %llu, %zu writes lost)", (unsigned long long)nd->id,
	      (unsigned long long)(nd->disk.n ? nd->disk.log[nd->disk.n - 1].index : nd->disk.snapshot_index),
	      nd->n_writes);
	raft_destroy(nd->r);
	nd->r = NULL;
	nd->up = false;
	free_writes(nd);
	nd->next_seq = nd->done_seq;
	nd->n_reads = 0;
}

static void check_leader(struct sim *s, struct node *nd)
{
	if (raft_role(nd->r) != RAFT_LEADER)
		return;
	uint64_t term = raft_term(nd->r);
	if (term >= 4096)
		return;
	if (s->leader_of_term[term] == 0) {
		s->leader_of_term[term] = nd->id;
		trace(s, "node %llu leads term %llu, log to %llu", (unsigned long long)nd->id, (unsigned long long)term,
		      (unsigned long long)raft_last_index(nd->r));
		/*
		 * Leader completeness: what was committed before its term is in the new leader's log. A leader
		 * may be seen late (it was paused), after later terms committed more: those it need not have.
		 */
		for (uint64_t i = raft_first_index(nd->r); i <= s->max_applied; i++) {
			if (s->hist[i].set && s->hist[i].committed_by < term && raft_term_at(nd->r, i) != s->hist[i].term)
				violate(s, "leader %llu of term %llu lacks committed entry %llu", (unsigned long long)nd->id,
					(unsigned long long)term, (unsigned long long)i);
		}
	} else if (s->leader_of_term[term] != nd->id) {
		violate(s, "two leaders in term %llu: %llu and %llu", (unsigned long long)term,
			(unsigned long long)s->leader_of_term[term], (unsigned long long)nd->id);
	}
}

static uint64_t value_of(const struct raft_entry *e)
{
	uint64_t v = 0;
	if (e->type == RAFT_ENTRY_NORMAL && e->len == sizeof(v))
		memcpy(&v, e->data, sizeof(v));
	return v;
}

static void apply_entry(struct sim *s, struct node *nd, const struct raft_entry *e)
{
	if (e->index >= MAX_INDEX) {
		violate(s, "index beyond the simulation's bound");
		return;
	}
	uint64_t v = value_of(e);
	trace(s, "node %llu applies %llu:%llu value %llu", (unsigned long long)nd->id, (unsigned long long)e->index,
	      (unsigned long long)e->term, (unsigned long long)v);
	struct history_entry *h = &s->hist[e->index];
	if (!h->set) {
		uint64_t top = 0;
		for (int i = 0; i < s->n; i++)
			if (s->nodes[i].up && raft_term(s->nodes[i].r) > top)
				top = raft_term(s->nodes[i].r);
		*h = (struct history_entry){e->term, v, true, top};
		if (v && s->n_acked < 4096)
			s->acked[s->n_acked++] = v;
	} else if (h->term != e->term || h->value != v) {
		violate(s, "node %llu applied at %llu (term %llu) something else than history (term %llu)",
			(unsigned long long)nd->id, (unsigned long long)e->index, (unsigned long long)e->term,
			(unsigned long long)h->term);
	}
	if (e->index > s->max_applied)
		s->max_applied = e->index;
	nd->values[e->index] = v;
	nd->applied = e->index;
	if (e->type == RAFT_ENTRY_CONF_CHANGE) {
		raft_apply_conf_change(nd->r, e);
		nd->disk.conf = *raft_conf(nd->r);
	}
	nd->disk.applied = e->index;
}

static void send(struct sim *s, const struct raft_msg *m)
{
	if (s->n_net == s->cap_net) {
		s->cap_net = s->cap_net ? 2 * s->cap_net : 256;
		s->net = realloc(s->net, s->cap_net * sizeof(*s->net));
	}
	struct inflight *f = &s->net[s->n_net++];
	copy_msg(&f->m, m);
	f->at = s->now + 1 + rnd(s) % 3;
	trace_msg(s, "send", m);
}

/* Finish the writes due by now (all of them with @p all), in order, and release what waited for them. */
static void finish_writes(struct sim *s, struct node *nd, bool all)
{
	size_t done = 0;
	while (done < nd->n_writes && (all || nd->writes[done].done_at <= s->now)) {
		struct write *w = &nd->writes[done++];
		for (size_t i = 0; i < w->n; i++)
			disk_append(&nd->disk, &w->entries[i]);
		if (w->has_hard)
			nd->disk.hard = w->hard;
		trace(s, "node %llu write %llu durable: %zu entries to %llu:%llu, hard %d term=%llu vote=%llu commit=%llu",
		      (unsigned long long)nd->id, (unsigned long long)w->seq, w->n,
		      (unsigned long long)(w->n ? w->entries[w->n - 1].index : 0),
		      (unsigned long long)(w->n ? w->entries[w->n - 1].term : 0), w->has_hard,
		      (unsigned long long)w->hard.term, (unsigned long long)w->hard.vote, (unsigned long long)w->hard.commit);
		if (w->n)
			raft_persisted(nd->r, w->entries[w->n - 1].index, w->entries[w->n - 1].term);
		for (size_t i = 0; i < w->n; i++)
			free(w->entries[i].data);
		free(w->entries);
		nd->done_seq = w->seq;
	}
	if (done) {
		memmove(nd->writes, nd->writes + done, (nd->n_writes - done) * sizeof(*nd->writes));
		nd->n_writes -= done;
	}
	size_t kept = 0;
	for (size_t i = 0; i < nd->n_held; i++) {
		if (nd->held[i].after <= nd->done_seq) {
			send(s, &nd->held[i].m);
			free_msg(&nd->held[i].m);
		} else {
			nd->held[kept++] = nd->held[i];
		}
	}
	nd->n_held = kept;
}

/* Serve the reads whose index is confirmed and applied: the state must hold what they required. */
static void serve_reads(struct sim *s, struct node *nd)
{
	size_t kept = 0;
	for (size_t i = 0; i < nd->n_reads; i++) {
		struct read *rd = &nd->reads[i];
		if (!rd->index || nd->applied < rd->index) {
			nd->reads[kept++] = *rd;
			continue;
		}
		s->reads_served++;
		if (nd->applied < rd->required)
			violate(s, "node %llu served a read at %llu, but %llu was applied before the read was asked",
				(unsigned long long)nd->id, (unsigned long long)nd->applied, (unsigned long long)rd->required);
	}
	nd->n_reads = kept;
}

/* One ready cycle: hand the writes to the disk, send or hold the messages, (maybe crash), apply, advance. */
static void process(struct sim *s, struct node *nd)
{
	for (int rounds = 0; nd->up && raft_has_ready(nd->r) && rounds < 8; rounds++) {
		struct raft_ready rd;
		raft_ready(nd->r, &rd);
		if (rd.install_snapshot) {
			/* The server lets running writes finish before it installs a snapshot. */
			finish_writes(s, nd, true);
			/* The snapshot's data is the history up to its index. */
			disk_truncate(&nd->disk, 0);
			nd->disk.n = 0;
			nd->disk.snapshot_index = rd.snapshot_index;
			nd->disk.snapshot_term = rd.snapshot_term;
			nd->disk.conf = rd.snapshot_conf;
			for (uint64_t i = 1; i <= rd.snapshot_index && i < MAX_INDEX; i++) {
				if (!s->hist[i].set)
					violate(s, "snapshot at %llu covers an index no one applied", (unsigned long long)i);
				nd->values[i] = s->hist[i].value;
			}
			nd->disk.applied = nd->applied = rd.snapshot_index;
		}
		if (rd.n_entries || rd.hard_state_changed) {
			nd->writes = realloc(nd->writes, (nd->n_writes + 1) * sizeof(*nd->writes));
			struct write *w = &nd->writes[nd->n_writes++];
			/* Half the writes finish within the turn, as a synchronous one would; some disks are slow. */
			uint64_t delay = chance(s, 50) ? 0 : chance(s, 20) ? 5 + rnd(s) % 30 : 1 + rnd(s) % 3;
			*w = (struct write){.seq = ++nd->next_seq, .n = rd.n_entries, .has_hard = rd.hard_state_changed,
					    .hard = rd.hard, .done_at = s->now + delay};
			w->entries = calloc(rd.n_entries + 1, sizeof(*w->entries));
			for (size_t i = 0; i < rd.n_entries; i++) {
				w->entries[i] = rd.entries[i];
				w->entries[i].data = NULL;
				if (rd.entries[i].len) {
					w->entries[i].data = malloc(rd.entries[i].len);
					memcpy(w->entries[i].data, rd.entries[i].data, rd.entries[i].len);
				}
			}
		}
		for (size_t i = 0; i < rd.n_msgs; i++) {
			const struct raft_msg *m = &rd.msgs[i];
			/* A leader's appends promise nothing about its own disk: they leave before its write. */
			if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT) {
				send(s, m);
				continue;
			}
			nd->held = realloc(nd->held, (nd->n_held + 1) * sizeof(*nd->held));
			nd->held[nd->n_held].after = nd->next_seq;
			copy_msg(&nd->held[nd->n_held++].m, m);
		}
		for (size_t i = 0; i < rd.n_committed; i++)
			apply_entry(s, nd, &rd.committed[i]);
		for (size_t i = 0; i < rd.n_reads; i++)
			for (size_t k = 0; k < nd->n_reads; k++)
				if (nd->reads[k].context == rd.reads[i].context)
					nd->reads[k].index = rd.reads[i].index;
		raft_advance(nd->r, &rd);
		if (s->faults && chance(s, 1)) {
			/* Crash with writes running, or after they finished but before what they held was sent. */
			crash_node(s, nd);
			return;
		}
		finish_writes(s, nd, false);
		serve_reads(s, nd);
		check_leader(s, nd);
	}
}

static struct node *node_by_id(struct sim *s, uint64_t id)
{
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].id == id)
			return &s->nodes[i];
	return NULL;
}

static void deliver(struct sim *s, bool faults)
{
	for (size_t i = 0; i < s->n_net;) {
		struct inflight *f = &s->net[i];
		if (f->at > s->now) {
			i++;
			continue;
		}
		struct node *to = node_by_id(s, f->m.to);
		if (to && to->up && to->paused_until > s->now) {
			f->at = to->paused_until;
			i++;
			continue;
		}
		struct raft_msg m = f->m;
		s->net[i] = s->net[--s->n_net];
		bool lost = !to || !to->up || s->cut[m.from - 1][m.to - 1] || (faults && chance(s, 5));
		if (!lost) {
			if (faults && chance(s, 3)) {
				/* Duplicate: deliver again later. */
				if (s->n_net == s->cap_net) {
					s->cap_net *= 2;
					s->net = realloc(s->net, s->cap_net * sizeof(*s->net));
				}
				copy_msg(&s->net[s->n_net].m, &m);
				s->net[s->n_net++].at = s->now + 1 + rnd(s) % 5;
			}
			trace_msg(s, "step", &m);
			int err = raft_step(to->r, &m);
			if (err)
				violate(s, "step refused a message of type %d: %d", m.type, err);
			process(s, to);
		}
		if (m.type == RAFT_MSG_SNAPSHOT) {
			/* The transport tells the sender how the snapshot transfer ended. */
			struct node *from = node_by_id(s, m.from);
			if (from && from->up) {
				raft_report_snapshot(from->r, m.to, !lost);
				process(s, from);
			}
		}
		free_msg(&m);
	}
}

/* A client's linearizable read at @p nd, if it thinks it leads. */
static void ask_read(struct sim *s, struct node *nd)
{
	if (!nd->up || raft_role(nd->r) != RAFT_LEADER || nd->n_reads == 16)
		return;
	uint64_t context = ++s->next_context;
	if (raft_read_index(nd->r, context) == GROVE_OK) {
		nd->reads[nd->n_reads++] = (struct read){.context = context, .required = s->max_applied};
		process(s, nd);
	}
}

static void check_log_matching(struct sim *s)
{
	for (int a = 0; a < s->n; a++)
		for (int b = a + 1; b < s->n; b++) {
			struct node *x = &s->nodes[a], *y = &s->nodes[b];
			if (!x->up || !y->up)
				continue;
			uint64_t lo = raft_first_index(x->r) > raft_first_index(y->r) ? raft_first_index(x->r)
											  : raft_first_index(y->r);
			uint64_t hi = raft_last_index(x->r) < raft_last_index(y->r) ? raft_last_index(x->r)
										      : raft_last_index(y->r);
			/* Find the highest common (index, term); below it everything must match. */
			uint64_t top = 0;
			for (uint64_t i = hi; i >= lo && i > 0; i--)
				if (raft_term_at(x->r, i) == raft_term_at(y->r, i)) {
					top = i;
					break;
				}
			for (uint64_t i = lo; i <= top; i++) {
				const struct raft_entry *ex = raft_entry_at(x->r, i), *ey = raft_entry_at(y->r, i);
				if (!ex || !ey || ex->term != ey->term || value_of(ex) != value_of(ey))
					violate(s, "log matching broken at %llu between %llu and %llu", (unsigned long long)i,
						(unsigned long long)x->id, (unsigned long long)y->id);
			}
		}
}

static void step_world(struct sim *s, bool faults)
{
	s->now++;
	s->faults = faults;
	for (int i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (!nd->up) {
			if (!faults || chance(s, 10)) {
				start_node(s, nd);
				trace(s, "node %llu restarts: term %llu vote %llu commit %llu, log %llu..%llu, applied %llu",
				      (unsigned long long)nd->id, (unsigned long long)nd->disk.hard.term,
				      (unsigned long long)nd->disk.hard.vote, (unsigned long long)nd->disk.hard.commit,
				      (unsigned long long)nd->disk.snapshot_index + 1,
				      (unsigned long long)(nd->disk.n ? nd->disk.log[nd->disk.n - 1].index : nd->disk.snapshot_index),
				      (unsigned long long)nd->disk.applied);
				process(s, nd);
			}
			continue;
		}
		if (nd->paused_until > s->now)
			continue;
		if (nd->paused_until == s->now && chance(s, 50))
			ask_read(s, nd); /* a request that arrived during the pause, read first on resuming */
		if (!nd->up)
			continue;
		if (chance(s, 70))
			raft_tick(nd->r);
		finish_writes(s, nd, false);
		process(s, nd);
		serve_reads(s, nd);
	}
	deliver(s, faults);
	if (faults) {
		if (chance(s, 1)) {
			struct node *nd = &s->nodes[rnd(s) % s->n];
			if (nd->up)
				crash_node(s, nd);
		}
		if (chance(s, 1)) {
			struct node *nd = &s->nodes[rnd(s) % s->n];
			if (nd->up && nd->paused_until <= s->now)
				nd->paused_until = s->now + 10 + rnd(s) % 50;
		}
		if (chance(s, 2)) {
			/* Cut or heal a random link (both directions). */
			int a = (int)(rnd(s) % s->n), b = (int)(rnd(s) % s->n);
			if (a != b)
				s->cut[a][b] = s->cut[b][a] = !s->cut[a][b];
		}
		if (chance(s, 2)) {
			struct node *nd = &s->nodes[rnd(s) % s->n];
			if (nd->up && nd->disk.applied > raft_first_index(nd->r) + 4 &&
			    raft_compact(nd->r, nd->disk.applied) == GROVE_OK)
				disk_compact(&nd->disk, nd->disk.applied, raft_term_at(nd->r, nd->disk.applied));
		}
	}
	if (faults && chance(s, 10)) {
		/* A client asks whichever node claims to lead, even one that a partition has cut off. */
		struct node *nd = &s->nodes[rnd(s) % s->n];
		if (nd->paused_until <= s->now)
			ask_read(s, nd);
	}
	if (faults && chance(s, 30)) {
		struct node *nd = &s->nodes[rnd(s) % s->n];
		if (nd->up && raft_role(nd->r) == RAFT_LEADER) {
			uint64_t v = ++s->next_value;
			uint64_t index;
			if (raft_propose(nd->r, &v, sizeof(v), &index) == GROVE_OK) {
				trace(s, "node %llu proposes value %llu at %llu", (unsigned long long)nd->id,
				      (unsigned long long)v, (unsigned long long)index);
				process(s, nd);
			}
		}
	}
	if (s->now % 25 == 0)
		check_log_matching(s);
}

static uint64_t find_leader(struct sim *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].up && raft_role(s->nodes[i].r) == RAFT_LEADER)
			return s->nodes[i].id;
	return 0;
}

static void free_sim(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		raft_destroy(s->nodes[i].r);
		disk_truncate(&s->nodes[i].disk, 0);
		free(s->nodes[i].disk.log);
		free_writes(&s->nodes[i]);
		free(s->nodes[i].writes);
		free(s->nodes[i].held);
	}
	for (size_t i = 0; i < s->n_net; i++)
		free_msg(&s->net[i].m);
	free(s->net);
}

/* Runs one seed; returns true if every check held. */
static bool run_seed(uint64_t seed, bool verbose)
{
	struct sim *s = calloc(1, sizeof(*s));
	s->seed = seed;
	s->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	s->n = seed % 2 ? 5 : 3;
	struct raft_conf conf = {.n_voters = (size_t)s->n};
	for (int i = 0; i < s->n; i++)
		conf.voters[i] = (uint64_t)i + 1;
	for (int i = 0; i < s->n; i++) {
		s->nodes[i].id = (uint64_t)i + 1;
		s->nodes[i].disk.conf = conf;
		start_node(s, &s->nodes[i]);
	}
	for (int t = 0; t < 600 && !s->failed; t++)
		step_world(s, true);
	/* Heal: no faults, everyone up and running, links restored; a leader must emerge and commit. */
	memset(s->cut, 0, sizeof(s->cut));
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].paused_until > s->now)
			s->nodes[i].paused_until = s->now + 1;
	uint64_t final_value = 0, committed_final = 0;
	for (int t = 0; t < 3000 && !s->failed; t++) {
		step_world(s, false);
		uint64_t lead = find_leader(s);
		/* A client whose proposal was not applied after a while retries with a new one. */
		if (final_value && t % 300 == 299)
			final_value = 0;
		if (lead && !final_value) {
			final_value = ++s->next_value;
			uint64_t index;
			struct node *nd = node_by_id(s, lead);
			if (raft_propose(nd->r, &final_value, sizeof(final_value), &index) != GROVE_OK)
				final_value = 0;
			else
				process(s, nd);
		}
		if (final_value) {
			/* Done when every node applied the final value and everything applied anywhere. */
			bool all = true;
			for (int i = 0; i < s->n && all; i++) {
				bool has = false;
				for (uint64_t k = 1; k <= s->max_applied && !has; k++)
					has = s->nodes[i].values[k] == final_value;
				all = has && s->nodes[i].up && s->nodes[i].disk.applied >= s->max_applied;
			}
			if (all) {
				committed_final = 1;
				break;
			}
		}
	}
	if (!s->failed && !committed_final) {
		violate(s, "after healing, the cluster did not commit a new proposal everywhere");
		if (getenv("GROVE_SIM_DEBUG"))
			for (int i = 0; i < s->n; i++) {
				struct node *nd = &s->nodes[i];
				printf("node %d up=%d role=%d term=%llu lead=%llu commit=%llu last=%llu first=%llu applied=%llu final=%llu\n", i + 1, nd->up, nd->up ? (int)raft_role(nd->r) : -1, nd->up ? (unsigned long long)raft_term(nd->r) : 0, nd->up ? (unsigned long long)raft_leader(nd->r) : 0, nd->up ? (unsigned long long)raft_commit(nd->r) : 0, nd->up ? (unsigned long long)raft_last_index(nd->r) : 0, nd->up ? (unsigned long long)raft_first_index(nd->r) : 0, (unsigned long long)nd->disk.applied, (unsigned long long)final_value);
				for (int k = 0; k < s->n && nd->up; k++)
					printf("   match[%d]=%llu\n", k + 1, (unsigned long long)raft_match(nd->r, (uint64_t)k + 1));
			}
	}
	check_log_matching(s);
	/* No acknowledged proposal is lost: every node's state holds each of them. */
	for (size_t a = 0; a < s->n_acked && !s->failed; a++) {
		for (int i = 0; i < s->n; i++) {
			bool has = false;
			for (uint64_t k = 1; k <= s->max_applied && !has; k++)
				has = s->nodes[i].values[k] == s->acked[a];
			if (!has) {
				violate(s, "acknowledged value %llu missing on node %d", (unsigned long long)s->acked[a], i + 1);
				if (getenv("GROVE_SIM_DEBUG")) {
					for (uint64_t k = 1; k <= s->max_applied; k++)
						printf("idx %llu hist t%llu v%llu | node%d v%llu disk.applied=%llu snap=%llu first=%llu commit=%llu\n", (unsigned long long)k, (unsigned long long)s->hist[k].term, (unsigned long long)s->hist[k].value, i+1, (unsigned long long)s->nodes[i].values[k], (unsigned long long)s->nodes[i].disk.applied, (unsigned long long)s->nodes[i].disk.snapshot_index, (unsigned long long)raft_first_index(s->nodes[i].r), (unsigned long long)raft_commit(s->nodes[i].r));
				}
			}
		}
	}
	bool ok = !s->failed;
	if (!ok || verbose)
		printf("seed=%llu nodes=%d steps=%llu applied=%llu acked=%zu reads=%llu %s%s\n", (unsigned long long)seed,
		       s->n, (unsigned long long)s->now, (unsigned long long)s->max_applied, s->n_acked,
		       (unsigned long long)s->reads_served, ok ? "ok" : "FAILED: ", ok ? "" : s->why);
	free_sim(s);
	free(s);
	return ok;
}

static void test_simulation(void **state)
{
	(void)state;
	const char *one = getenv("GROVE_SIM_SEED");
	tracing = one && getenv("GROVE_SIM_TRACE");
	if (one) {
		assert_true(run_seed(strtoull(one, NULL, 10), true));
		return;
	}
	const char *many = getenv("GROVE_SIM_SEEDS");
	unsigned seeds = many ? (unsigned)strtoul(many, NULL, 10) : 2000;
	unsigned failures = 0;
	for (unsigned seed = 1; seed <= seeds; seed++)
		if (!run_seed(seed, false))
			failures++;
	/* Seeds beyond the default run that once failed: each found a bug, and each runs in every run. */
	static const uint64_t once_failed[] = {44242};
	for (size_t i = 0; i < sizeof(once_failed) / sizeof(once_failed[0]); i++)
		if (once_failed[i] > seeds && !run_seed(once_failed[i], false))
			failures++;
	printf("raft simulation: %u seeds, %u failed (replay one with GROVE_SIM_SEED=S)\n", seeds, failures);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simulation),
	};
	return cmocka_run_group_tests_name("raft_sim", tests, NULL, NULL);
}
