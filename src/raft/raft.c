#include "src/raft/raft.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"

#define MAX_INFLIGHT 256
/* HEARTBEAT context marking a vote sent for a leadership transfer (it may cross a leader's lease). */
#define CONTEXT_TRANSFER 1

enum progress_state { PROBE, REPLICATE, SNAPSHOTTING };

/* The leader's view of one member's log [3.5]. */
struct progress {
	uint64_t id;
	uint64_t match;             /* highest index known replicated there */
	uint64_t next;              /* next index to send */
	enum progress_state state;  /* probing for a match, streaming, or waiting for a snapshot */
	bool paused;                /* probe: one append in flight until an answer */
	uint64_t inflight[MAX_INFLIGHT]; /* last index of each append in flight, ascending */
	unsigned n_inflight;
	bool recent_active;         /* heard from since the last check-quorum round */
	uint64_t pending_snapshot;  /* index of the snapshot being sent */
	bool learner;
};

/* A ReadIndex request waiting for a quorum to confirm leadership [6.4]. */
struct pending_read {
	uint64_t seq;      /* heartbeat context that confirms it */
	uint64_t context;  /* the caller's */
	uint64_t index;    /* commit index when it was asked */
	uint32_t acks;     /* bit per progress slot */
};

struct raft {
	struct raft_config cfg;
	uint64_t id;
	/* Durable state [3.8], and what was last handed out for persisting. */
	uint64_t term, vote;
	struct raft_hard_state handed_hard;
	enum raft_role role;
	uint64_t lead;
	/* The log: entries snapshot_index+1 .. snapshot_index+n. */
	struct raft_entry *ents;
	size_t n_ents, cap_ents;
	uint64_t snapshot_index, snapshot_term;
	struct raft_conf snapshot_conf;
	uint64_t handed;           /* entries up to here were handed out for persisting */
	uint64_t persisted;        /* entries up to here are durable (raft_persisted()); <= handed */
	uint64_t commit, applied;
	struct raft_conf conf;
	/* Elections. */
	unsigned election_elapsed, heartbeat_elapsed, randomized_timeout;
	uint64_t rng;
	uint64_t granted[RAFT_MAX_MEMBERS], rejected[RAFT_MAX_MEMBERS];
	size_t n_granted, n_rejected;
	/* Leader state. */
	struct progress prs[RAFT_MAX_MEMBERS];
	size_t n_prs;
	uint64_t pending_conf_index;
	bool appends_due;          /* entries proposed since the last raft_ready(): one AppendEntries carries them */
	uint64_t transferee;
	struct pending_read *reads;
	size_t n_reads, cap_reads;
	uint64_t read_seq;
	/* Output. */
	struct raft_msg *msgs;
	size_t n_msgs, cap_msgs;
	/* The messages of the ready handed out, until raft_advance(): those made meanwhile go to the next one. */
	struct raft_msg *handed_msgs;
	size_t n_handed_msgs, cap_handed_msgs;
	struct raft_read_state *ready_reads;
	size_t n_ready_reads, cap_ready_reads;
	bool snapshot_to_install;
	/* Follower: its peers' acknowledgements of the current term (copies of their answers to the leader). */
	struct peer_ack {
		uint64_t id, index;
	} peer_acks[RAFT_MAX_MEMBERS];
	size_t n_peer_acks;
	uint64_t peer_acks_term;
	/* Quiescence (raft_quiesced()). */
	bool quiesced;
	unsigned idle_heartbeats;  /* leader: heartbeat periods in a row that found the group idle */
};

/* ---- small helpers ---- */

static uint64_t next_random(struct raft *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

static void reset_election_timeout(struct raft *r)
{
	r->election_elapsed = 0;
	r->randomized_timeout = r->cfg.election_ticks + (unsigned)(next_random(r) % r->cfg.election_ticks);
}

bool raft_conf_has_voter(const struct raft_conf *conf, uint64_t id)
{
	for (size_t i = 0; i < conf->n_voters; i++)
		if (conf->voters[i] == id)
			return true;
	return false;
}

bool raft_conf_has_learner(const struct raft_conf *conf, uint64_t id)
{
	for (size_t i = 0; i < conf->n_learners; i++)
		if (conf->learners[i] == id)
			return true;
	return false;
}

static size_t quorum(const struct raft *r)
{
	return r->conf.n_voters / 2 + 1;
}

static uint64_t last_index(const struct raft *r)
{
	return r->n_ents ? r->ents[r->n_ents - 1].index : r->snapshot_index;
}

static uint64_t term_at(const struct raft *r, uint64_t index)
{
	if (index == r->snapshot_index)
		return r->snapshot_term;
	if (index < r->snapshot_index || index > last_index(r))
		return 0;
	return r->ents[index - r->snapshot_index - 1].term;
}

static struct progress *progress_of(struct raft *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

static bool copy_entry(struct raft_entry *dst, const struct raft_entry *src)
{
	*dst = *src;
	dst->data = NULL;
	if (src->len) {
		dst->data = malloc(src->len);
		if (!dst->data)
			return false;
		memcpy(dst->data, src->data, src->len);
	}
	return true;
}

/* ---- the log ---- */

static int log_push(struct raft *r, const struct raft_entry *e)
{
	if (grove_grow((void **)&r->ents, &r->cap_ents, r->n_ents, sizeof(*r->ents)))
		return GROVE_ENOMEM;
	if (!copy_entry(&r->ents[r->n_ents], e))
		return GROVE_ENOMEM;
	r->n_ents++;
	return GROVE_OK;
}

/* Drop entries after @p index (a follower overwriting a conflicting suffix, §3.5). */
static void log_truncate_after(struct raft *r, uint64_t index)
{
	while (r->n_ents && r->ents[r->n_ents - 1].index > index) {
		free(r->ents[r->n_ents - 1].data);
		r->n_ents--;
	}
	if (r->handed > index)
		r->handed = index;
	if (r->persisted > index)
		r->persisted = index;
}

/* ---- output ---- */

static struct raft_msg *msg_new(struct raft *r, enum raft_msg_type type, uint64_t to)
{
	if (grove_grow((void **)&r->msgs, &r->cap_msgs, r->n_msgs, sizeof(*r->msgs)))
		return NULL;
	struct raft_msg *m = &r->msgs[r->n_msgs++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = r->id;
	m->to = to;
	m->term = r->term;
	return m;
}

static void free_msgs(struct raft_msg *msgs, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		for (size_t k = 0; k < msgs[i].n_entries; k++)
			free(msgs[i].entries[k].data);
		free(msgs[i].entries);
	}
	*n = 0;
}

static void push_ready_read(struct raft *r, uint64_t context, uint64_t index)
{
	if (grove_grow((void **)&r->ready_reads, &r->cap_ready_reads, r->n_ready_reads, sizeof(*r->ready_reads)))
		return; /* the read is lost; the caller times out and retries */
	r->ready_reads[r->n_ready_reads++] = (struct raft_read_state){context, index};
}

/* ---- roles ---- */

static void reset_votes(struct raft *r)
{
	r->n_granted = r->n_rejected = 0;
}

static void wake(struct raft *r);

static void become_follower(struct raft *r, uint64_t term, uint64_t lead)
{
	wake(r);
	if (term != r->term) {
		r->term = term;
		r->vote = 0;
	}
	r->role = RAFT_FOLLOWER;
	r->lead = lead;
	r->transferee = 0;
	r->n_reads = 0; /* pending reads die with the leadership that could confirm them */
	reset_election_timeout(r);
}

static void init_progress(struct raft *r)
{
	r->n_prs = 0;
	uint64_t next = last_index(r) + 1;
	for (int pass = 0; pass < 2; pass++) {
		const uint64_t *ids = pass ? r->conf.learners : r->conf.voters;
		size_t n = pass ? r->conf.n_learners : r->conf.n_voters;
		for (size_t i = 0; i < n; i++) {
			struct progress *p = &r->prs[r->n_prs++];
			memset(p, 0, sizeof(*p));
			p->id = ids[i];
			p->next = next;
			p->state = PROBE;
			p->learner = pass == 1;
			p->recent_active = true;
			if (ids[i] == r->id)
				p->match = r->persisted;
		}
	}
}

static void broadcast_append(struct raft *r, bool allow_empty);

static void become_leader(struct raft *r)
{
	wake(r);
	r->role = RAFT_LEADER;
	r->lead = r->id;
	r->transferee = 0;
	r->heartbeat_elapsed = 0;
	r->election_elapsed = 0;
	r->n_reads = 0;
	init_progress(r);
	/* A no-op of the new term lets the leader commit what earlier terms left (§3.6.2). */
	uint8_t data[RAFT_NOOP_DATA_MAX];
	size_t len = r->cfg.noop_data ? r->cfg.noop_data(r->cfg.noop_ctx, data) : 0;
	if (len > RAFT_NOOP_DATA_MAX)
		len = 0;
	struct raft_entry noop = {.index = last_index(r) + 1, .term = r->term, .type = RAFT_ENTRY_NORMAL,
				  .data = len ? data : NULL, .len = len};
	log_push(r, &noop);
	/* Until it commits, a conf change could still be pending from an earlier term. */
	r->pending_conf_index = noop.index;
	broadcast_append(r, true);
}

static bool promotable(const struct raft *r)
{
	return raft_conf_has_voter(&r->conf, r->id);
}

static void send_vote_requests(struct raft *r, enum raft_msg_type type, uint64_t term, uint64_t context)
{
	for (size_t i = 0; i < r->conf.n_voters; i++) {
		uint64_t to = r->conf.voters[i];
		if (to == r->id)
			continue;
		struct raft_msg *m = msg_new(r, type, to);
		if (!m)
			return;
		m->term = term;
		m->index = last_index(r);
		m->log_term = term_at(r, m->index);
		m->context = context;
	}
}

static bool record_vote(struct raft *r, uint64_t from, bool granted);

static void campaign(struct raft *r, bool pre, uint64_t context)
{
	if (!promotable(r))
		return;
	reset_votes(r);
	if (pre) {
		r->role = RAFT_PRE_CANDIDATE;
		r->lead = 0;
		reset_election_timeout(r);
		record_vote(r, r->id, true);
		if (r->role == RAFT_PRE_CANDIDATE)
			send_vote_requests(r, RAFT_MSG_PRE_VOTE, r->term + 1, context);
		return;
	}
	r->term++;
	r->vote = r->id;
	r->role = RAFT_CANDIDATE;
	r->lead = 0;
	reset_election_timeout(r);
	record_vote(r, r->id, true);
	if (r->role == RAFT_CANDIDATE)
		send_vote_requests(r, RAFT_MSG_VOTE, r->term, context);
}

/* Count a (pre-)vote; win or lose once a quorum has answered either way. Returns whether it was new. */
static bool record_vote(struct raft *r, uint64_t from, bool granted)
{
	for (size_t i = 0; i < r->n_granted; i++)
		if (r->granted[i] == from)
			return false;
	for (size_t i = 0; i < r->n_rejected; i++)
		if (r->rejected[i] == from)
			return false;
	if (granted)
		r->granted[r->n_granted++] = from;
	else
		r->rejected[r->n_rejected++] = from;
	if (r->n_granted >= quorum(r)) {
		if (r->role == RAFT_PRE_CANDIDATE)
			campaign(r, false, 0);
		else if (r->role == RAFT_CANDIDATE)
			become_leader(r);
	} else if (r->n_rejected >= quorum(r)) {
		become_follower(r, r->term, 0);
	}
	return true;
}

/* ---- replication (leader) ---- */

static bool inflight_full(const struct raft *r, const struct progress *p)
{
	return p->n_inflight >= r->cfg.max_inflight;
}

static void inflight_free_to(struct progress *p, uint64_t index)
{
	unsigned k = 0;
	while (k < p->n_inflight && p->inflight[k] <= index)
		k++;
	memmove(p->inflight, p->inflight + k, (p->n_inflight - k) * sizeof(p->inflight[0]));
	p->n_inflight -= k;
}

static void send_snapshot(struct raft *r, struct progress *p)
{
	struct raft_msg *m = msg_new(r, RAFT_MSG_SNAPSHOT, p->id);
	if (!m)
		return;
	m->snapshot_index = r->snapshot_index;
	m->snapshot_term = r->snapshot_term;
	m->snapshot_conf = r->snapshot_conf;
	p->state = SNAPSHOTTING;
	p->pending_snapshot = r->snapshot_index;
	p->n_inflight = 0;
}

/* Whether a membership change lies in the log after @p after, up to @p index. */
static bool conf_change_between(const struct raft *r, uint64_t after, uint64_t index)
{
	for (uint64_t i = after + 1 > r->snapshot_index + 1 ? after + 1 : r->snapshot_index + 1;
	     i <= index && i <= last_index(r); i++)
		if (r->ents[i - r->snapshot_index - 1].type == RAFT_ENTRY_CONF_CHANGE)
			return true;
	return false;
}

/* Send what @p p lacks, within flow control; an empty append only if @p allow_empty. */
static void send_append(struct raft *r, struct progress *p, bool allow_empty)
{
	if (r->role != RAFT_LEADER || p->id == r->id || p->state == SNAPSHOTTING || (p->state == PROBE && p->paused) ||
	    (p->state == REPLICATE && inflight_full(r, p)))
		return;
	if (p->next <= r->snapshot_index) {
		send_snapshot(r, p);
		return;
	}
	uint64_t last = last_index(r);
	uint64_t from = p->next, to = last;
	if (to >= from && to - from + 1 > r->cfg.max_batch)
		to = from + r->cfg.max_batch - 1;
	if (r->cfg.max_msg_bytes) {
		/* Keep each message within what the transport carries; the first entry always goes. */
		size_t bytes = 0;
		for (uint64_t i = from; i <= to; i++) {
			bytes += r->ents[i - r->snapshot_index - 1].len;
			if (bytes > r->cfg.max_msg_bytes && i > from) {
				to = i - 1;
				break;
			}
		}
	}
	size_t n = to >= from ? (size_t)(to - from + 1) : 0;
	if (n == 0 && !allow_empty && p->state == REPLICATE)
		return;
	struct raft_msg *m = msg_new(r, RAFT_MSG_APPEND, p->id);
	if (!m)
		return;
	m->index = from - 1;
	m->log_term = term_at(r, m->index);
	/* Never tell a follower a commit index beyond what it is known to hold [3.5]. */
	m->commit = r->commit;
	if (n) {
		m->entries = calloc(n, sizeof(*m->entries));
		for (size_t i = 0; m->entries && i < n; i++) {
			if (!copy_entry(&m->entries[i], &r->ents[from + i - r->snapshot_index - 1])) {
				n = i;
				break;
			}
		}
		m->n_entries = m->entries ? n : 0;
	}
	if (p->state == PROBE) {
		p->paused = true;
	} else if (m->n_entries) {
		p->next = from + m->n_entries;
		p->inflight[p->n_inflight++] = p->next - 1;
	}
}

static void broadcast_append(struct raft *r, bool allow_empty)
{
	for (size_t i = 0; i < r->n_prs; i++)
		send_append(r, &r->prs[i], allow_empty);
}

/*
 * Tell the members that the commit index moved on from @p old_commit. Voters learn it from the very
 * acknowledgements that moved it, which every member sends to every voter (learn_commit()): an empty append
 * to them would cost the leader two sends before it answers the client, and each follower a wake-up, for
 * nothing. So it goes to learners, and to everyone when the newly committed entries hold a membership change
 * (learn_commit() does not cross one); appends that carry entries go as ever. A voter that missed an
 * acknowledgement (a link that dropped) hears the commit index with the next heartbeat.
 */
static void broadcast_commit(struct raft *r, uint64_t old_commit)
{
	bool to_all = conf_change_between(r, old_commit, r->commit);
	for (size_t i = 0; i < r->n_prs; i++)
		send_append(r, &r->prs[i], to_all || r->prs[i].learner);
}

static void broadcast_heartbeat(struct raft *r, uint64_t context, bool quiesce)
{
	for (size_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (p->id == r->id)
			continue;
		struct raft_msg *m = msg_new(r, RAFT_MSG_HEARTBEAT, p->id);
		if (!m)
			return;
		m->commit = p->match < r->commit ? p->match : r->commit;
		m->context = context;
		m->quiesce = quiesce;
	}
}

/* ---- quiescence ---- */

static void wake(struct raft *r)
{
	if (!r->quiesced)
		return;
	r->quiesced = false;
	r->idle_heartbeats = 0;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	/* Nobody was heard while nothing was said: give every member a full round to answer. */
	for (size_t i = 0; i < r->n_prs; i++)
		r->prs[i].recent_active = true;
}

/* Whether a leader's group is idle: nothing to replicate, commit, persist, confirm or hand over. */
static bool idle(const struct raft *r)
{
	uint64_t last = last_index(r);
	if (r->commit != last || r->persisted != last || r->applied != last || r->n_reads || r->transferee ||
	    r->pending_conf_index > r->commit || r->appends_due)
		return false;
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id != r->id && (r->prs[i].match != last || r->prs[i].n_inflight || !r->prs[i].recent_active))
			return false;
	return true;
}

bool raft_quiesced(const struct raft *r)
{
	return r->quiesced;
}

void raft_wake(struct raft *r)
{
	wake(r);
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x > y ? -1 : x < y;
}

/*
 * The highest index that a quorum of the @p n voters' @p matches (sorted here) reaches, if it is past the
 * commit index and of the current term (§3.6.2); else 0.
 */
static uint64_t quorum_commit(const struct raft *r, uint64_t *matches, size_t n)
{
	if (n < quorum(r))
		return 0;
	qsort(matches, n, sizeof(matches[0]), cmp_desc);
	uint64_t candidate = matches[quorum(r) - 1];
	return candidate > r->commit && term_at(r, candidate) == r->term ? candidate : 0;
}

/* Commit the highest index a quorum of voters holds, if it is of the current term. */
static bool maybe_commit(struct raft *r)
{
	uint64_t matches[RAFT_MAX_MEMBERS];
	size_t n = 0;
	for (size_t i = 0; i < r->n_prs; i++) {
		if (r->prs[i].learner)
			continue;
		matches[n++] = r->prs[i].id == r->id ? r->persisted : r->prs[i].match;
	}
	uint64_t candidate = quorum_commit(r, matches, n);
	if (candidate)
		r->commit = candidate;
	return candidate != 0;
}

static void release_reads(struct raft *r)
{
	/* A read whose heartbeat round a quorum answered releases every read asked before it. */
	size_t confirmed = 0;
	for (size_t i = 0; i < r->n_reads; i++) {
		size_t acks = 0;
		for (size_t k = 0; k < r->n_prs; k++)
			if (!r->prs[k].learner && (r->reads[i].acks >> k & 1))
				acks++;
		if (acks >= quorum(r))
			confirmed = i + 1;
	}
	for (size_t i = 0; i < confirmed; i++)
		push_ready_read(r, r->reads[i].context, r->reads[i].index);
	memmove(r->reads, r->reads + confirmed, (r->n_reads - confirmed) * sizeof(*r->reads));
	r->n_reads -= confirmed;
}

static void handle_append_resp(struct raft *r, const struct raft_msg *m)
{
	struct progress *p = progress_of(r, m->from);
	if (!p)
		return;
	p->recent_active = true;
	if (m->reject) {
		/* Back off toward the follower's log (§3.5), never below what it matched. */
		uint64_t next = m->reject_hint + 1 < p->next - 1 ? m->reject_hint + 1 : p->next - 1;
		if (next <= p->match)
			next = p->match + 1;
		p->next = next;
		p->state = PROBE;
		p->paused = false;
		p->n_inflight = 0;
		send_append(r, p, true);
		return;
	}
	bool progressed = m->index > p->match;
	uint64_t old_commit = r->commit;
	if (progressed)
		p->match = m->index;
	if (p->next < m->index + 1)
		p->next = m->index + 1;
	inflight_free_to(p, m->index);
	if (p->state == PROBE) {
		p->state = REPLICATE;
		p->paused = false;
		p->next = p->match + 1;
		p->n_inflight = 0;
	} else if (p->state == SNAPSHOTTING && p->match >= p->pending_snapshot) {
		p->state = PROBE;
		p->paused = false;
		p->next = p->match + 1;
	}
	if (progressed && maybe_commit(r))
		broadcast_commit(r, old_commit);
	else
		send_append(r, p, false);
	if (r->transferee == p->id && p->match == last_index(r))
		msg_new(r, RAFT_MSG_TIMEOUT_NOW, p->id);
}

static void handle_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
	struct progress *p = progress_of(r, m->from);
	if (!p)
		return;
	p->recent_active = true;
	p->paused = false;
	if (p->match < last_index(r)) {
		/*
		 * Appends may have been lost: free one in-flight slot and send even an empty append at
		 * `next`, which the follower rejects if it lacks what came before, starting recovery.
		 */
		if (p->state == REPLICATE && inflight_full(r, p))
			inflight_free_to(p, p->inflight[0]);
		send_append(r, p, true);
	}
	if (m->context) {
		size_t slot = (size_t)(p - r->prs);
		for (size_t i = 0; i < r->n_reads; i++)
			if (r->reads[i].seq <= m->context)
				r->reads[i].acks |= 1u << slot;
		release_reads(r);
	}
}

/* ---- follower ---- */

static struct raft_msg *reply(struct raft *r, const struct raft_msg *to, enum raft_msg_type type)
{
	return msg_new(r, type, to->from);
}

/*
 * Say that this log matches the leader's up to @p index, durably (a follower answering an append, or the
 * leader once its own write is durable), to the leader and to every other voter: a follower that sees a
 * quorum hold an entry of the current term commits it itself (learn_commit()), without waiting for the
 * leader's next message to tell it.
 */
static void acknowledge(struct raft *r, uint64_t leader, uint64_t index)
{
	struct raft_msg *resp;
	if (leader != r->id && (resp = msg_new(r, RAFT_MSG_APPEND_RESP, leader)) != NULL)
		resp->index = index;
	for (size_t i = 0; i < r->conf.n_voters; i++) {
		uint64_t peer = r->conf.voters[i];
		if (peer != r->id && peer != leader && (resp = msg_new(r, RAFT_MSG_APPEND_RESP, peer)) != NULL)
			resp->index = index;
	}
}

/*
 * Commit what a quorum of voters holds, as a leader would, from this follower's durable log and the
 * acknowledgements of this term it heard (its peers' copies, and the leader's own once its write is durable,
 * see raft_persisted()): an entry of this term at index i here is the leader's entry i (only the term's
 * leader makes entries of it, and logs that share an entry share what precedes it), so a quorum that
 * acknowledged i holds it (tla/raft/Raft.tla, LearnCommit). Not across a membership change this follower has
 * not applied: the quorum it counts is then one of the configuration in force (changes come one at a time).
 */
static void learn_commit(struct raft *r)
{
	if (r->role != RAFT_FOLLOWER || r->peer_acks_term != r->term || !raft_conf_has_voter(&r->conf, r->id))
		return;
	uint64_t matches[RAFT_MAX_MEMBERS];
	size_t n = 0;
	for (size_t i = 0; i < r->conf.n_voters; i++) {
		uint64_t id = r->conf.voters[i], match = id == r->id ? r->persisted : 0;
		for (size_t k = 0; id != r->id && k < r->n_peer_acks; k++)
			if (r->peer_acks[k].id == id)
				match = r->peer_acks[k].index;
		matches[n++] = match;
	}
	uint64_t candidate = quorum_commit(r, matches, n);
	if (candidate && !conf_change_between(r, r->applied, candidate))
		r->commit = candidate;
}

/* An acknowledgement of this term heard by this follower: a peer's copy, or the leader's own. */
static void handle_peer_ack(struct raft *r, const struct raft_msg *m)
{
	if (m->reject || r->role != RAFT_FOLLOWER)
		return;
	if (r->peer_acks_term != r->term) {
		r->peer_acks_term = r->term;
		r->n_peer_acks = 0;
	}
	size_t k = 0;
	while (k < r->n_peer_acks && r->peer_acks[k].id != m->from)
		k++;
	if (k == r->n_peer_acks) {
		if (k == RAFT_MAX_MEMBERS)
			return;
		r->peer_acks[r->n_peer_acks++] = (struct peer_ack){m->from, 0};
	}
	if (m->index > r->peer_acks[k].index)
		r->peer_acks[k].index = m->index;
	learn_commit(r);
}

static void handle_append(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg *resp;
	if (m->index < r->commit) {
		/* Already committed here: say so and let the leader move on. */
		acknowledge(r, m->from, r->commit);
		return;
	}
	if (term_at(r, m->index) != m->log_term || m->index > last_index(r)) {
		if ((resp = reply(r, m, RAFT_MSG_APPEND_RESP)) != NULL) {
			resp->reject = true;
			resp->index = m->index;
			resp->reject_hint = m->index < last_index(r) ? m->index : last_index(r);
		}
		return;
	}
	/* Skip what matches; truncate at the first conflict; append the rest (§3.5). */
	size_t i = 0;
	for (; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->index > last_index(r))
			break;
		if (term_at(r, e->index) != e->term) {
			log_truncate_after(r, e->index - 1);
			break;
		}
	}
	for (; i < m->n_entries; i++)
		if (log_push(r, &m->entries[i]) != GROVE_OK)
			break;
	uint64_t last_new = m->index + m->n_entries;
	if (last_new > last_index(r))
		last_new = last_index(r);
	uint64_t commit = m->commit < last_new ? m->commit : last_new;
	if (commit > r->commit)
		r->commit = commit;
	acknowledge(r, m->from, last_new);
}

static void handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
	uint64_t commit = m->commit < last_index(r) ? m->commit : last_index(r);
	if (commit > r->commit)
		r->commit = commit;
	/* Quiesce only holding everything the leader committed; else keep ticking (and time out if it stays silent). */
	if (m->quiesce && r->cfg.quiesce && r->commit == last_index(r) && m->commit == r->commit)
		r->quiesced = true;
	else if (m->quiesce)
		wake(r);
	struct raft_msg *resp = reply(r, m, RAFT_MSG_HEARTBEAT_RESP);
	if (resp)
		resp->context = m->context;
}

static void handle_snapshot(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg *resp = reply(r, m, RAFT_MSG_APPEND_RESP);
	if (m->snapshot_index <= r->commit) {
		if (resp)
			resp->index = r->commit;
		return;
	}
	if (term_at(r, m->snapshot_index) == m->snapshot_term && m->snapshot_index <= last_index(r)) {
		/* The log already holds it: just commit up to it. */
		r->commit = m->snapshot_index;
		if (resp)
			resp->index = m->snapshot_index;
		return;
	}
	log_truncate_after(r, r->snapshot_index);
	r->snapshot_index = m->snapshot_index;
	r->snapshot_term = m->snapshot_term;
	r->snapshot_conf = m->snapshot_conf;
	r->conf = m->snapshot_conf;
	r->commit = m->snapshot_index;
	r->handed = r->persisted = m->snapshot_index;
	r->snapshot_to_install = true;
	if (resp)
		resp->index = m->snapshot_index;
}

/* ---- entry points ---- */

int raft_create(const struct raft_config *cfg, const struct raft_restore *restore, struct raft **out)
{
	*out = NULL;
	if (cfg->id == 0 || cfg->election_ticks < 2 || cfg->heartbeat_ticks == 0 ||
	    cfg->heartbeat_ticks >= cfg->election_ticks || cfg->max_inflight == 0 || cfg->max_inflight > MAX_INFLIGHT ||
	    cfg->max_batch == 0)
		return GROVE_EINVAL;
	struct raft *r = calloc(1, sizeof(*r));
	if (!r)
		return GROVE_ENOMEM;
	r->cfg = *cfg;
	r->id = cfg->id;
	r->rng = cfg->seed * 0x9e3779b97f4a7c15ull + cfg->id;
	if (!r->rng)
		r->rng = 1;
	if (restore) {
		if (restore->conf.n_voters > RAFT_MAX_MEMBERS || restore->conf.n_learners > RAFT_MAX_MEMBERS ||
		    restore->conf.n_voters + restore->conf.n_learners > RAFT_MAX_MEMBERS) {
			free(r);
			return GROVE_EINVAL;
		}
		r->term = restore->hard.term;
		r->vote = restore->hard.vote;
		r->conf = restore->conf;
		r->snapshot_index = restore->snapshot_index;
		r->snapshot_term = restore->snapshot_term;
		r->snapshot_conf = restore->conf;
		for (size_t i = 0; i < restore->n_entries; i++) {
			if (restore->entries[i].index != r->snapshot_index + 1 + i || log_push(r, &restore->entries[i])) {
				raft_destroy(r);
				return GROVE_EINVAL;
			}
		}
		r->handed = r->persisted = last_index(r);
		r->applied = restore->applied > r->snapshot_index ? restore->applied : r->snapshot_index;
		/* A commit index beyond a log that was lost is clamped, not trusted. */
		r->commit = restore->hard.commit < r->persisted ? restore->hard.commit : r->persisted;
		if (r->commit < r->applied)
			r->commit = r->applied;
	}
	r->handed_hard = (struct raft_hard_state){r->term, r->vote, r->commit};
	become_follower(r, r->term, 0);
	*out = r;
	return GROVE_OK;
}

void raft_destroy(struct raft *r)
{
	if (!r)
		return;
	log_truncate_after(r, 0);
	free(r->ents);
	free_msgs(r->msgs, &r->n_msgs);
	free(r->msgs);
	free_msgs(r->handed_msgs, &r->n_handed_msgs);
	free(r->handed_msgs);
	free(r->reads);
	free(r->ready_reads);
	free(r);
}

int raft_campaign(struct raft *r)
{
	wake(r);
	if (r->role == RAFT_LEADER)
		return GROVE_OK;
	if (!promotable(r))
		return GROVE_EINVAL;
	campaign(r, r->cfg.pre_vote, 0);
	return GROVE_OK;
}

void raft_tick(struct raft *r)
{
	if (r->quiesced)
		return;
	if (r->role != RAFT_LEADER) {
		r->election_elapsed++;
		if (promotable(r) && r->election_elapsed >= r->randomized_timeout)
			campaign(r, r->cfg.pre_vote, 0);
		return;
	}
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->election_elapsed >= r->cfg.election_ticks) {
		r->election_elapsed = 0;
		r->transferee = 0; /* a transfer that did not finish in an election timeout is abandoned */
		if (r->cfg.check_quorum) {
			size_t active = 0;
			for (size_t i = 0; i < r->n_prs; i++) {
				if (!r->prs[i].learner && (r->prs[i].recent_active || r->prs[i].id == r->id))
					active++;
				r->prs[i].recent_active = false;
			}
			if (active < quorum(r)) {
				become_follower(r, r->term, 0);
				return;
			}
		}
	}
	if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		r->idle_heartbeats = r->cfg.quiesce && idle(r) ? r->idle_heartbeats + 1 : 0;
		bool quiesce = r->idle_heartbeats >= 2;
		broadcast_heartbeat(r, 0, quiesce);
		r->quiesced = quiesce;
	}
}

static bool in_lease(const struct raft *r)
{
	return r->cfg.check_quorum && r->lead != 0 && r->election_elapsed < r->cfg.election_ticks;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
	if (m->type < RAFT_MSG_APPEND || m->type > RAFT_MSG_TIMEOUT_NOW || m->to != r->id || m->from == 0 ||
	    m->from == r->id)
		return GROVE_EINVAL;
	for (size_t i = 0; i < m->n_entries; i++)
		if (m->entries[i].index != m->index + 1 + i || m->entries[i].term > m->term)
			return GROVE_EINVAL;
	/* Anything but a leader's heartbeat (or an answer to one) is a sign of life that needs ticks. */
	if (m->type != RAFT_MSG_HEARTBEAT_RESP && !(m->type == RAFT_MSG_HEARTBEAT && m->quiesce))
		wake(r);
	/*
	 * An acknowledgement reaches a non-leader as a peer's copy (acknowledge()): one of another term tells it
	 * nothing it may use, and is dropped rather than taken for a sign of a newer term.
	 */
	if (m->type == RAFT_MSG_APPEND_RESP && r->role != RAFT_LEADER && m->term != r->term)
		return GROVE_OK;
	bool vote_request = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
	if (m->term > r->term) {
		if (vote_request && m->context != CONTEXT_TRANSFER && in_lease(r))
			return GROVE_OK; /* a leader is alive: a disruptive candidate is ignored [9.6] */
		if (m->type == RAFT_MSG_PRE_VOTE || (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject)) {
			/* A pre-vote changes no term (the double-vote bug of some implementations). */
		} else {
			bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
					   m->type == RAFT_MSG_SNAPSHOT;
			become_follower(r, m->term, from_leader ? m->from : 0);
		}
	} else if (m->term < r->term) {
		struct raft_msg *resp;
		if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT) {
			/* Tell a stale leader about the newer term so it steps down. */
			if ((resp = reply(r, m, RAFT_MSG_APPEND_RESP)) != NULL)
				resp->index = r->commit;
		} else if (m->type == RAFT_MSG_PRE_VOTE) {
			if ((resp = reply(r, m, RAFT_MSG_PRE_VOTE_RESP)) != NULL)
				resp->reject = true;
		}
		return GROVE_OK;
	}
	switch (m->type) {
	case RAFT_MSG_PRE_VOTE:
	case RAFT_MSG_VOTE: {
		uint64_t last = last_index(r), last_term = term_at(r, last);
		bool up_to_date = m->log_term > last_term || (m->log_term == last_term && m->index >= last);
		bool can_vote;
		if (m->type == RAFT_MSG_VOTE)
			can_vote = r->vote == m->from || (r->vote == 0 && r->lead == 0);
		else
			can_vote = m->term > r->term && (m->context == CONTEXT_TRANSFER || !in_lease(r));
		bool grant = can_vote && up_to_date && raft_conf_has_voter(&r->conf, r->id);
		struct raft_msg *resp =
			reply(r, m, m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PRE_VOTE_RESP);
		if (resp) {
			resp->reject = !grant;
			resp->term = m->type == RAFT_MSG_PRE_VOTE && grant ? m->term : r->term;
		}
		if (grant && m->type == RAFT_MSG_VOTE) {
			r->vote = m->from;
			r->election_elapsed = 0;
		}
		return GROVE_OK;
	}
	case RAFT_MSG_PRE_VOTE_RESP:
		if (r->role == RAFT_PRE_CANDIDATE)
			record_vote(r, m->from, !m->reject);
		return GROVE_OK;
	case RAFT_MSG_VOTE_RESP:
		if (r->role == RAFT_CANDIDATE)
			record_vote(r, m->from, !m->reject);
		return GROVE_OK;
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		if (r->role != RAFT_FOLLOWER)
			become_follower(r, r->term, m->from);
		r->lead = m->from;
		r->election_elapsed = 0;
		if (m->type == RAFT_MSG_APPEND)
			handle_append(r, m);
		else if (m->type == RAFT_MSG_HEARTBEAT)
			handle_heartbeat(r, m);
		else
			handle_snapshot(r, m);
		return GROVE_OK;
	case RAFT_MSG_APPEND_RESP:
		if (r->role == RAFT_LEADER)
			handle_append_resp(r, m);
		else
			handle_peer_ack(r, m);
		return GROVE_OK;
	case RAFT_MSG_HEARTBEAT_RESP:
		if (r->role == RAFT_LEADER)
			handle_heartbeat_resp(r, m);
		return GROVE_OK;
	case RAFT_MSG_TIMEOUT_NOW:
		if (r->role != RAFT_LEADER && promotable(r))
			campaign(r, false, CONTEXT_TRANSFER);
		return GROVE_OK;
	}
	return GROVE_EINVAL;
}

static int append_own(struct raft *r, uint32_t type, const void *data, size_t len, uint64_t *index)
{
	struct raft_entry e = {.index = last_index(r) + 1, .term = r->term, .type = type, .data = (uint8_t *)data,
			       .len = len};
	int err = log_push(r, &e);
	if (err)
		return err;
	if (index)
		*index = e.index;
	r->appends_due = true;
	return GROVE_OK;
}

int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index)
{
	if (r->role != RAFT_LEADER)
		return GROVE_ENOTLEADER;
	wake(r);
	if (r->transferee)
		return GROVE_EUNAVAILABLE;
	return append_own(r, RAFT_ENTRY_NORMAL, data, len, index);
}

void raft_encode_conf_change(const struct raft_conf_change *cc, uint8_t out[9])
{
	out[0] = (uint8_t)cc->op;
	for (int i = 0; i < 8; i++)
		out[1 + i] = (uint8_t)(cc->node >> (8 * i));
}

static bool decode_conf_change(const struct raft_entry *e, struct raft_conf_change *cc)
{
	/* Bytes after the first 9 are the application's (a new member's address, say). */
	if (e->type != RAFT_ENTRY_CONF_CHANGE || e->len < 9)
		return false;
	cc->op = (enum raft_conf_op)e->data[0];
	cc->node = 0;
	for (int i = 0; i < 8; i++)
		cc->node |= (uint64_t)e->data[1 + i] << (8 * i);
	return cc->node != 0 && cc->op >= RAFT_CONF_ADD_LEARNER && cc->op <= RAFT_CONF_ADD_VOTER;
}

/* Whether @p cc makes sense against @p conf. */
static bool conf_change_valid(const struct raft_conf *conf, const struct raft_conf_change *cc)
{
	bool voter = raft_conf_has_voter(conf, cc->node), learner = raft_conf_has_learner(conf, cc->node);
	bool room = conf->n_voters + conf->n_learners < RAFT_MAX_MEMBERS;
	switch (cc->op) {
	case RAFT_CONF_ADD_LEARNER:
		return !voter && !learner && room;
	case RAFT_CONF_ADD_VOTER:
		return !voter && !learner && room;
	case RAFT_CONF_PROMOTE:
		return learner;
	case RAFT_CONF_REMOVE:
		return (voter && conf->n_voters > 1) || learner;
	}
	return false;
}

int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc, uint64_t *index)
{
	return raft_propose_conf_change_with(r, cc, NULL, 0, index);
}

int raft_propose_conf_change_with(struct raft *r, const struct raft_conf_change *cc, const void *context,
				  size_t context_len, uint64_t *index)
{
	if (r->role != RAFT_LEADER)
		return GROVE_ENOTLEADER;
	wake(r);
	/* One change at a time, and only once this term has committed an entry (§4.1, erratum). */
	if (r->pending_conf_index > r->applied || term_at(r, r->commit) != r->term || r->transferee)
		return GROVE_EUNAVAILABLE;
	if (!conf_change_valid(&r->conf, cc))
		return GROVE_EINVAL;
	if (context_len > 1024)
		return GROVE_EINVAL;
	uint8_t data[9 + 1024];
	raft_encode_conf_change(cc, data);
	if (context_len)
		memcpy(data + 9, context, context_len);
	uint64_t at;
	int err = append_own(r, RAFT_ENTRY_CONF_CHANGE, data, 9 + context_len, &at);
	if (!err) {
		r->pending_conf_index = at;
		if (index)
			*index = at;
	}
	return err;
}

static void remove_id(uint64_t *ids, size_t *n, uint64_t id)
{
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id) {
			ids[i] = ids[--*n];
			return;
		}
}

int raft_apply_conf_change(struct raft *r, const struct raft_entry *e)
{
	struct raft_conf_change cc;
	if (!decode_conf_change(e, &cc))
		return GROVE_EINVAL;
	if (!conf_change_valid(&r->conf, &cc))
		return GROVE_OK; /* the same change applied twice (a replay): nothing to do */
	switch (cc.op) {
	case RAFT_CONF_ADD_LEARNER:
		r->conf.learners[r->conf.n_learners++] = cc.node;
		break;
	case RAFT_CONF_ADD_VOTER:
		r->conf.voters[r->conf.n_voters++] = cc.node;
		break;
	case RAFT_CONF_PROMOTE:
		remove_id(r->conf.learners, &r->conf.n_learners, cc.node);
		r->conf.voters[r->conf.n_voters++] = cc.node;
		break;
	case RAFT_CONF_REMOVE:
		remove_id(r->conf.voters, &r->conf.n_voters, cc.node);
		remove_id(r->conf.learners, &r->conf.n_learners, cc.node);
		break;
	}
	if (r->role != RAFT_LEADER)
		return GROVE_OK;
	if (cc.op == RAFT_CONF_REMOVE && cc.node == r->id) {
		become_follower(r, r->term, 0);
		return GROVE_OK;
	}
	/* Rebuild progress, keeping what is known about members that stay. */
	struct progress old[RAFT_MAX_MEMBERS];
	size_t n_old = r->n_prs;
	memcpy(old, r->prs, sizeof(old));
	init_progress(r);
	for (size_t i = 0; i < r->n_prs; i++)
		for (size_t k = 0; k < n_old; k++)
			if (old[k].id == r->prs[i].id) {
				bool learner = r->prs[i].learner;
				r->prs[i] = old[k];
				r->prs[i].learner = learner;
			}
	if (maybe_commit(r))
		broadcast_append(r, true);
	else
		broadcast_append(r, false);
	return GROVE_OK;
}

int raft_read_index(struct raft *r, uint64_t context)
{
	if (r->role != RAFT_LEADER)
		return GROVE_ENOTLEADER;
	wake(r);
	if (term_at(r, r->commit) != r->term)
		return GROVE_EUNAVAILABLE;
	if (r->conf.n_voters == 1) {
		push_ready_read(r, context, r->commit);
		return GROVE_OK;
	}
	if (grove_grow((void **)&r->reads, &r->cap_reads, r->n_reads, sizeof(*r->reads)))
		return GROVE_ENOMEM;
	struct pending_read *pr = &r->reads[r->n_reads++];
	pr->seq = ++r->read_seq;
	pr->context = context;
	/*
	 * Not only the commit index: a follower may have committed (and applied, and shown) entries past it
	 * from its peers' acknowledgements (learn_commit()), and a read must see them. Every entry any member
	 * holds of this term is in this log, so its last index bounds them.
	 */
	pr->index = last_index(r);
	pr->acks = 0;
	for (size_t k = 0; k < r->n_prs; k++)
		if (r->prs[k].id == r->id)
			pr->acks |= 1u << k;
	broadcast_heartbeat(r, pr->seq, false);
	return GROVE_OK;
}

int raft_transfer_leader(struct raft *r, uint64_t to)
{
	if (r->role != RAFT_LEADER)
		return GROVE_ENOTLEADER;
	wake(r);
	if (to == r->id || !raft_conf_has_voter(&r->conf, to))
		return GROVE_EINVAL;
	struct progress *p = progress_of(r, to);
	if (!p)
		return GROVE_EINVAL;
	r->transferee = to;
	r->election_elapsed = 0;
	if (p->match == last_index(r))
		msg_new(r, RAFT_MSG_TIMEOUT_NOW, to);
	else
		send_append(r, p, false);
	return GROVE_OK;
}

int raft_compact(struct raft *r, uint64_t index)
{
	if (index > r->applied || index <= r->snapshot_index)
		return GROVE_EINVAL;
	uint64_t term = term_at(r, index);
	size_t drop = (size_t)(index - r->snapshot_index);
	for (size_t i = 0; i < drop; i++)
		free(r->ents[i].data);
	memmove(r->ents, r->ents + drop, (r->n_ents - drop) * sizeof(*r->ents));
	r->n_ents -= drop;
	r->snapshot_index = index;
	r->snapshot_term = term;
	r->snapshot_conf = r->conf;
	return GROVE_OK;
}

void raft_report_snapshot(struct raft *r, uint64_t peer, bool ok)
{
	/*
	 * Only a leader tracks its followers' progress. One that stepped down while the snapshot was on its way
	 * keeps its stale progress; acting on it would send an append in its new term, with its own log, to a
	 * follower that takes whatever arrives in the term as the term's leader's, and acknowledges it to the
	 * real one as if it held that leader's entries.
	 */
	if (r->role != RAFT_LEADER)
		return;
	struct progress *p = progress_of(r, peer);
	if (!p || p->state != SNAPSHOTTING)
		return;
	p->state = PROBE;
	p->paused = false;
	/*
	 * Sent is not durable: the follower's answer, held until it is, says what it holds (a follower whose
	 * log already held the snapshot's last entry, not yet synced, may lose it in a crash). Counted as
	 * matched, it would never be probed below that again, nor sent a snapshot once the log is compacted.
	 */
	if (ok)
		p->next = p->pending_snapshot + 1;
	send_append(r, p, true);
}

/* The last entry that may be applied: committed, and durable here (an entry applied before this server
 * persisted it could be applied by a state that outlives a crash which loses it). */
static uint64_t applicable(const struct raft *r)
{
	return r->commit < r->persisted ? r->commit : r->persisted;
}

bool raft_has_ready(const struct raft *r)
{
	return r->n_msgs || r->appends_due || r->handed < last_index(r) || applicable(r) > r->applied ||
	       r->n_ready_reads || r->snapshot_to_install || r->term != r->handed_hard.term ||
	       r->vote != r->handed_hard.vote || r->commit != r->handed_hard.commit;
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
	/* Proposals of one turn leave together: a follower persists them with one sync, not one each. */
	if (r->appends_due && r->role == RAFT_LEADER)
		broadcast_append(r, false);
	r->appends_due = false;
	memset(rd, 0, sizeof(*rd));
	rd->hard = (struct raft_hard_state){r->term, r->vote, r->commit};
	rd->hard_state_changed = rd->hard.term != r->handed_hard.term || rd->hard.vote != r->handed_hard.vote ||
				 rd->hard.commit != r->handed_hard.commit;
	if (r->snapshot_to_install) {
		rd->install_snapshot = true;
		rd->snapshot_index = r->snapshot_index;
		rd->snapshot_term = r->snapshot_term;
		rd->snapshot_conf = r->snapshot_conf;
	}
	if (r->handed < last_index(r)) {
		uint64_t from = r->handed + 1 > r->snapshot_index + 1 ? r->handed + 1 : r->snapshot_index + 1;
		rd->entries = &r->ents[from - r->snapshot_index - 1];
		rd->n_entries = (size_t)(last_index(r) - from + 1);
	}
	/*
	 * The messages leave the list that msg_new() grows: a raft_persisted() before raft_advance() (a caller
	 * that persists synchronously) may make more, which must neither move these nor be dropped with them.
	 */
	free_msgs(r->handed_msgs, &r->n_handed_msgs);
	struct raft_msg *spare = r->handed_msgs;
	size_t spare_cap = r->cap_handed_msgs;
	r->handed_msgs = r->msgs, r->n_handed_msgs = r->n_msgs, r->cap_handed_msgs = r->cap_msgs;
	r->msgs = spare, r->n_msgs = 0, r->cap_msgs = spare_cap;
	rd->msgs = r->handed_msgs;
	rd->n_msgs = r->n_handed_msgs;
	uint64_t apply_from = r->applied + 1 > r->snapshot_index + 1 ? r->applied + 1 : r->snapshot_index + 1;
	uint64_t apply_to = applicable(r);
	if (apply_to >= apply_from) {
		rd->committed = &r->ents[apply_from - r->snapshot_index - 1];
		rd->n_committed = (size_t)(apply_to - apply_from + 1);
	}
	rd->reads = r->ready_reads;
	rd->n_reads = r->n_ready_reads;
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
	if (rd->hard_state_changed)
		r->handed_hard = rd->hard;
	if (rd->install_snapshot) {
		r->snapshot_to_install = false;
		if (r->applied < rd->snapshot_index)
			r->applied = rd->snapshot_index;
	}
	if (rd->n_entries) {
		uint64_t last = rd->entries[rd->n_entries - 1].index;
		if (last > r->handed && last <= last_index(r))
			r->handed = last;
	}
	if (rd->n_committed) {
		uint64_t last = rd->committed[rd->n_committed - 1].index;
		if (last > r->applied)
			r->applied = last;
	}
	free_msgs(r->handed_msgs, &r->n_handed_msgs);
	r->n_ready_reads = 0;
}

void raft_persisted(struct raft *r, uint64_t index, uint64_t term)
{
	/* A write of entries that a later conflict replaced proves nothing about the entries now there. */
	if (index > last_index(r) || index <= r->persisted || term_at(r, index) != term)
		return;
	r->persisted = index;
	/* The leader's own write is now durable: it may complete a quorum; so may a follower's, with its peers'. */
	if (r->role == RAFT_LEADER) {
		struct progress *self = progress_of(r, r->id);
		if (self)
			self->match = r->persisted;
		uint64_t old_commit = r->commit;
		if (maybe_commit(r))
			broadcast_commit(r, old_commit);
		acknowledge(r, r->id, r->persisted);
	} else {
		learn_commit(r);
	}
}

uint64_t raft_persisted_index(const struct raft *r)
{
	return r->persisted;
}

enum raft_role raft_role(const struct raft *r)
{
	return r->role;
}

uint64_t raft_term(const struct raft *r)
{
	return r->term;
}

uint64_t raft_leader(const struct raft *r)
{
	return r->lead;
}

uint64_t raft_commit(const struct raft *r)
{
	return r->commit;
}

uint64_t raft_last_index(const struct raft *r)
{
	return last_index(r);
}

uint64_t raft_first_index(const struct raft *r)
{
	return r->snapshot_index + 1;
}

uint64_t raft_term_at(const struct raft *r, uint64_t index)
{
	return term_at(r, index);
}

const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index)
{
	if (index <= r->snapshot_index || index > last_index(r))
		return NULL;
	return &r->ents[index - r->snapshot_index - 1];
}

const struct raft_conf *raft_conf(const struct raft *r)
{
	return &r->conf;
}

uint64_t raft_match(const struct raft *r, uint64_t peer)
{
	for (size_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == peer)
			return r->prs[i].id == r->id ? r->persisted : r->prs[i].match;
	return 0;
}
