#include "src/server/xshard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/server/tree_sm.h"
#include "src/txn/codec.h"
#include "src/txn/coord.h"
#include "src/txn/recover.h"

/*
 * Attempts of a transaction whose intents were pushed, before it rolls back. A cut has more: its timestamp
 * means nothing to it (it reads and writes nothing), and the transactions it pushes out of its way leave its
 * shards' timestamps above its own.
 */
#define MAX_ATTEMPTS 4
#define MAX_CUT_ATTEMPTS 16
/* Ready rounds handled per event, so that a state machine that keeps producing work cannot hold the loop. */
#define MAX_ROUNDS 16
/*
 * Holding back what follows an answer (xshard.h): a transaction begun within cfg.hold_ns of the last answer
 * counts towards the streak, one begun later against it; at HOLD_STREAK a committed transaction's commands
 * after its answer wait for the next transaction's, at most cfg.hold_ns.
 */
#define HOLD_STREAK 2
#define HOLD_STREAK_MAX 4

/* One cross-shard write coordinated here. */
struct xtxn {
	struct txn_coord *coord;
	uint64_t id;
	struct host_ticket ticket;
	bool answered;
	bool committed;        /* answered as committed */
	uint64_t *groups;      /* the parts' shards, the anchor first */
	size_t n_parts;
	size_t bytes;          /* of the parts, held by its coordinator */
	uint32_t *op_part;     /* per client op */
	uint32_t *op_index;
	uint64_t *ids;         /* per client op: what its part gave when its intent was written */
	size_t n_ops;
	uint64_t anchor_index; /* where the anchor's intent of its latest attempt first landed: the answer's index */
	uint32_t anchor_seq;   /* that attempt */
	uint64_t duplicate_of; /* a shard refused its part: its key was applied there, at this index */
	uint64_t duplicate_group; /* that shard */
	char key[TREE_SM_KEY_MAX];
	bool anchor_decided;   /* the anchor's intent was written, or refused (by its key or its tree) */
	bool cut;              /* a cut of the world (xshard_begin_cut()) */
	bool answer_held;      /* aborted with a key before the anchor decided: answered once it does */
	enum txn_status held_outcome;
	bool outcome_unknown;  /* its ABORTED is the low-water mark's: the outcome is not known (coord.h) */
	int refusal;           /* a part the tree refused: the write's answer */
	size_t failed_op;
	char message[512];
};

/* A status recovery running here. */
struct xrec {
	struct txn_recover *recover;
	uint64_t id;
};

struct xshard {
	struct xshard_config cfg;
	struct xshard_hooks hooks;
	struct xtxn **txns;
	size_t n_txns, cap_txns;
	size_t bytes;                /* of the parts of txns */
	struct xrec *recs;
	size_t n_recs, cap_recs;
	uint64_t next_id;
	struct held_command {
		uint64_t shard, txn;
		uint8_t *cmd;
		size_t len;
	} *held;                     /* commands held back, in the order they were made */
	size_t n_held, cap_held;
	uint64_t held_since;         /* when the oldest of them was made (pt) */
	uint64_t last_answer;        /* when a transaction was last answered as committed (pt) */
	unsigned streak;             /* how many of the latest transactions began soon after an answer */
};

int xshard_create(const struct xshard_config *cfg, const struct xshard_hooks *hooks, struct xshard **out)
{
	*out = NULL;
	if (!cfg->clock || !cfg->self || cfg->self >= (1u << 16))
		return GROVE_EINVAL;
	struct xshard *x = calloc(1, sizeof(*x));
	if (!x)
		return GROVE_ENOMEM;
	x->cfg = *cfg;
	x->hooks = *hooks;
	if (!x->cfg.expiry_ns)
		x->cfg.expiry_ns = 2000000000ull;
	if (!x->cfg.retry_interval_ns)
		x->cfg.retry_interval_ns = 200000000ull;
	if (!x->cfg.retry_max_ns)
		x->cfg.retry_max_ns = 8 * x->cfg.retry_interval_ns;
	if (!x->cfg.max_txns)
		x->cfg.max_txns = 1024;
	if (!x->cfg.hold_ns)
		x->cfg.hold_ns = 1000000ull;
	if (!x->cfg.max_bytes)
		x->cfg.max_bytes = (size_t)256 << 20;
	/*
	 * Ids never repeat across restarts: the counter starts at the time's microseconds (48 bits), even; a cut's
	 * is the odd one above, so that a cut is told apart wherever its id shows (its lane is its even twin's).
	 */
	x->next_id = (grove_realtime_ns() / 1000) & ((1ull << 48) - 2);
	*out = x;
	return GROVE_OK;
}

static void xtxn_free(struct xtxn *t)
{
	txn_coord_destroy(t->coord);
	free(t->groups);
	free(t->op_part);
	free(t->op_index);
	free(t->ids);
	free(t);
}

void xshard_destroy(struct xshard *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_txns; i++)
		xtxn_free(x->txns[i]);
	for (size_t i = 0; i < x->n_recs; i++)
		txn_recover_destroy(x->recs[i].recover);
	for (size_t i = 0; i < x->n_held; i++)
		free(x->held[i].cmd);
	free(x->held);
	free(x->txns);
	free(x->recs);
	free(x);
}

/* Whether commands of transaction @p id are held back. */
static bool holds(const struct xshard *x, uint64_t id)
{
	for (size_t i = 0; i < x->n_held; i++)
		if (x->held[i].txn == id)
			return true;
	return false;
}

bool xshard_release(struct xshard *x)
{
	size_t n = x->n_held;
	x->n_held = 0;
	for (size_t i = 0; i < n; i++) {
		x->hooks.send(x->hooks.ctx, x->held[i].shard, x->held[i].cmd, x->held[i].len);
		free(x->held[i].cmd);
	}
	return n > 0;
}

uint64_t xshard_held_until(const struct xshard *x)
{
	return x->n_held ? x->held_since + x->cfg.hold_ns : 0;
}

bool xshard_release_due(struct xshard *x, uint64_t pt)
{
	return x->n_held && pt >= xshard_held_until(x) && xshard_release(x);
}

/* Keep encoded command @p cmd of transaction @p txn for @p shard until the next transaction's (owned). */
static bool hold(struct xshard *x, uint64_t shard, uint64_t txn, uint8_t *cmd, size_t len, uint64_t pt)
{
	if (grove_grow((void **)&x->held, &x->cap_held, x->n_held, sizeof(*x->held)))
		return false;
	if (!x->n_held)
		x->held_since = pt;
	x->held[x->n_held++] = (struct held_command){shard, txn, cmd, len};
	return true;
}

/*
 * Hand each command to its shard's group; one that cannot go now is sent again on a tick. With @p held_for,
 * a transaction answered already, they wait for the next transaction's commands instead (xshard.h).
 */
static void deliver(struct xshard *x, const struct txn_msg *msgs, size_t n, const struct xtxn *held_for, uint64_t pt)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *cmd;
		size_t len;
		if (txn_cmd_encode(&msgs[i].cmd, &cmd, &len) != GROVE_OK)
			continue;
		if (held_for && hold(x, msgs[i].shard, held_for->id, cmd, len, pt))
			continue;
		x->hooks.send(x->hooks.ctx, msgs[i].shard, cmd, len);
		free(cmd);
	}
}

static void answer(struct xshard *x, struct xtxn *t, enum txn_status outcome)
{
	if (t->answered)
		return;
	t->answered = true;
	t->committed = outcome == TXN_COMMITTED;
	struct xshard_outcome o = {.message = "", .group = t->groups[0], .key = t->key, .txn = t->id};
	if (outcome == TXN_COMMITTED) {
		o.index = t->anchor_index, o.ids = t->ids, o.n_ids = t->n_ops;
	} else if (t->duplicate_of) {
		o.index = t->duplicate_of; /* answered as a write applied once: the same index as the first answer */
		o.group = t->duplicate_group;
	} else if (t->key[0] && !t->anchor_decided) {
		/* Whether an earlier attempt with this key applied is not known: only a retry can tell. */
		o.code = GROVE_EINTENT;
		o.message = "the cross-shard write was aborted before its shard could check its key; retry with the "
			    "same key";
	} else if (t->refusal) {
		o.code = t->refusal, o.message = t->message, o.failed_op = t->failed_op;
	} else if (t->outcome_unknown) {
		/* Not a refusal: a client that retries on its own would apply twice what did commit. */
		o.code = GROVE_ETIMEDOUT;
		o.message = "the outcome of the cross-shard write is not known: this server stayed silent longer than "
			    "--txn-gc-after and the transaction's record was collected; read to see whether it applied (a "
			    "retry with the same key applies it at most once)";
	} else {
		o.code = GROVE_EINTENT;
		o.message = "the cross-shard write was aborted: it met another transaction, or could not be staged in "
			    "time; retry";
	}
	x->hooks.done(x->hooks.ctx, &t->ticket, &o);
}

static size_t txn_slot(const struct xshard *x, uint64_t id)
{
	for (size_t i = 0; i < x->n_txns; i++)
		if (x->txns[i]->id == id)
			return i;
	return SIZE_MAX;
}

static int recover(struct xshard *x, const struct txn_meta *met, uint64_t shard, uint64_t pt, bool forced);

/* The lanes transactions use in @p group: those that hold it as applied here, and those coordinated here. */
static uint32_t lanes_in(const struct xshard *x, uint64_t group)
{
	uint32_t busy = x->hooks.lanes_held ? x->hooks.lanes_held(x->hooks.ctx, group) : 0;
	for (size_t i = 0; i < x->n_txns; i++)
		for (size_t k = 0; k < x->txns[i]->n_parts; k++)
			if (x->txns[i]->groups[k] == group)
				busy |= 1u << tree_sm_lane(x->txns[i]->id);
	return busy;
}

/* The id of the next transaction over @p parts: on a lane no other uses in its groups, if one is free. */
static uint64_t next_txn_id(struct xshard *x, const struct xshard_part *parts, size_t n, bool cut)
{
	uint32_t busy = 0;
	for (size_t i = 0; i < n; i++)
		busy |= lanes_in(x, parts[i].group);
	uint64_t id = 0;
	for (unsigned tries = 0; tries < TREE_SM_LANES; tries++) {
		x->next_id += 2;
		id = x->cfg.self << 48 | ((x->next_id | cut) & ((1ull << 48) - 1));
		if (!(busy >> tree_sm_lane(id) & 1))
			break;
	}
	return id;
}

/*
 * Whether transaction @p self, blocked by @p other's intent, pushes it out of its way (wound-wait): when
 * @p other began after it. The older always goes on: two that each hold what the other needs (coordinated on
 * two members, or a cut and a transaction) never wait for each other's timeout, and a transaction that
 * reserves a shard (tree_sm.h) is not kept out by a younger one that holds another shard it needs. A younger
 * one pushed out is aborted if one of its intents is missing (its client is told to retry; a cut is begun
 * again with its age, cut.h, so that it becomes the oldest in time), and recovered as committed if not.
 */
static bool wounds(const struct txn_meta *self, const struct txn_meta *other)
{
	int c = hlc_cmp(other->start, self->start);
	return c > 0 || (c == 0 && other->id > self->id);
}

static void pump_txn(struct xshard *x, size_t slot, uint64_t pt)
{
	struct xtxn *t = x->txns[slot];
	for (int round = 0; round < MAX_ROUNDS && txn_coord_has_ready(t->coord); round++) {
		struct txn_coord_ready rd;
		txn_coord_ready(t->coord, &rd);
		if (rd.outcome_changed)
			t->outcome_unknown = rd.outcome_unknown;
		if (rd.outcome_changed && !(x->cfg.two_phase && rd.outcome == TXN_COMMITTED)) {
			if (rd.outcome != TXN_COMMITTED && t->key[0] && !t->anchor_decided && !rd.done) {
				t->answer_held = true;
				t->held_outcome = rd.outcome;
			} else {
				answer(x, t, rd.outcome);
			}
			if (t->committed)
				x->last_answer = pt;
		}
		/* What a committed transaction sends after its answer nobody waits for: it may go with the next one's. */
		bool may_hold = t->committed && !x->cfg.two_phase && x->streak >= HOLD_STREAK;
		deliver(x, rd.msgs, rd.n_msgs, may_hold ? t : NULL, pt);
		for (size_t i = 0; i < rd.n_blockers; i++)
			recover(x, &rd.blockers[i].txn, rd.blockers[i].shard, pt,
				wounds(txn_coord_meta(t->coord), &rd.blockers[i].txn));
		bool pushed = rd.pushed, done = rd.done;
		txn_coord_advance(t->coord, &rd);
		if (done) {
			if (t->answer_held)
				answer(x, t, t->held_outcome);
			x->bytes -= t->bytes;
			xtxn_free(t);
			x->txns[slot] = x->txns[--x->n_txns];
			return;
		}
		/* Nothing the transaction wrote depends on what it read at its timestamp: a refresh is always right. */
		if (pushed)
			txn_coord_retry(t->coord, pt, false);
	}
}

static size_t rec_slot(const struct xshard *x, uint64_t id)
{
	for (size_t i = 0; i < x->n_recs; i++)
		if (x->recs[i].id == id)
			return i;
	return SIZE_MAX;
}

static void pump_rec(struct xshard *x, size_t slot)
{
	struct txn_recover *r = x->recs[slot].recover;
	for (int round = 0; round < MAX_ROUNDS && txn_recover_has_ready(r); round++) {
		struct txn_recover_ready rd;
		txn_recover_ready(r, &rd);
		deliver(x, rd.msgs, rd.n_msgs, NULL, 0);
		/* A live coordinator: leave it; if it really is gone, the next look at the shard starts again. */
		bool over = rd.done || (rd.outcome_changed && rd.outcome == TXN_RECOVER_ALIVE);
		txn_recover_advance(r, &rd);
		if (over) {
			txn_recover_destroy(r);
			x->recs[slot] = x->recs[--x->n_recs];
			return;
		}
	}
}

static int begin(struct xshard *x, const struct host_ticket *ticket, const char *key, const struct xshard_part *parts,
		 size_t n, const struct xshard_ops *ops, struct hlc_ts *cut_age, uint64_t pt)
{
	bool cut = cut_age != NULL;
	if (n < 2)
		return GROVE_EINVAL;
	if (key && strlen(key) >= TREE_SM_KEY_MAX)
		return GROVE_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		if (parts[i].len > TXN_VALUE_MAX)
			return GROVE_ETOOBIG;
		for (size_t j = 0; j < i; j++)
			if (parts[j].group == parts[i].group)
				return GROVE_EINVAL;
	}
	for (size_t i = 0; i < ops->n; i++)
		if (ops->op_part[i] >= n)
			return GROVE_EINVAL;
	if (xshard_full(x))
		return GROVE_EUNAVAILABLE;
	bool soon = x->last_answer && pt >= x->last_answer && pt - x->last_answer <= x->cfg.hold_ns;
	if (!cut && soon && x->streak < HOLD_STREAK_MAX)
		x->streak++;
	else if (!cut && !soon && x->streak)
		x->streak--;
	/* In each group's log what the transactions before it left comes first, as if it had not waited. */
	xshard_release(x);
	if (grove_grow((void **)&x->txns, &x->cap_txns, x->n_txns, sizeof(*x->txns)))
		return GROVE_ENOMEM;
	struct xtxn *t = calloc(1, sizeof(*t));
	if (!t)
		return GROVE_ENOMEM;
	size_t n_ops = ops->n ? ops->n : 1;
	t->groups = calloc(n, sizeof(*t->groups));
	t->op_part = calloc(n_ops, sizeof(*t->op_part));
	t->op_index = calloc(n_ops, sizeof(*t->op_index));
	t->ids = calloc(n_ops, sizeof(*t->ids));
	t->id = next_txn_id(x, parts, n, cut);
	t->ticket = *ticket;
	t->cut = cut;
	snprintf(t->key, sizeof(t->key), "%s", key ? key : "");
	t->n_parts = n;
	t->n_ops = ops->n;
	struct txn_coord_config cc = {.id = t->id, .heartbeat_interval_ns = x->cfg.expiry_ns / 4,
				      .retry_interval_ns = x->cfg.retry_interval_ns, .retry_max_ns = x->cfg.retry_max_ns,
				      .block_timeout_ns = x->cfg.expiry_ns,
				      .expiry_ns = x->cfg.expiry_ns, .max_attempts = cut ? MAX_CUT_ATTEMPTS : MAX_ATTEMPTS,
				      .start = cut ? *cut_age : (struct hlc_ts){0}};
	int err = t->groups && t->op_part && t->op_index && t->ids ? txn_coord_create(&cc, x->cfg.clock, pt, &t->coord)
								   : GROVE_ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		uint8_t key[TREE_SM_TXN_KEY_LEN];
		tree_sm_txn_key(parts[i].group, t->id, key);
		t->groups[i] = parts[i].group;
		t->bytes += parts[i].len;
		err = txn_coord_put(t->coord, parts[i].group, key, sizeof(key), parts[i].request, parts[i].len);
	}
	if (!err) {
		memcpy(t->op_part, ops->op_part, ops->n * sizeof(*t->op_part));
		memcpy(t->op_index, ops->op_index, ops->n * sizeof(*t->op_index));
		err = txn_coord_commit(t->coord, pt);
	}
	if (err) {
		xtxn_free(t);
		return err;
	}
	if (cut)
		*cut_age = txn_coord_meta(t->coord)->start;
	x->txns[x->n_txns++] = t;
	x->bytes += t->bytes;
	pump_txn(x, x->n_txns - 1, pt);
	return GROVE_OK;
}

int xshard_begin(struct xshard *x, const struct host_ticket *t, const char *key, const struct xshard_part *parts,
		 size_t n, const struct xshard_ops *ops, uint64_t pt)
{
	return begin(x, t, key, parts, n, ops, NULL, pt);
}

int xshard_begin_cut(struct xshard *x, const struct host_ticket *t, const uint64_t *groups, size_t n,
		     struct hlc_ts *age, uint64_t pt)
{
	struct xshard_part *parts = calloc(n ? n : 1, sizeof(*parts));
	if (!parts)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < n; i++)
		parts[i] = (struct xshard_part){.group = groups[i]}; /* no ops: it only holds the shard */
	uint32_t none = 0;
	struct xshard_ops ops = {&none, &none, 0};
	int err = begin(x, t, NULL, parts, n, &ops, age, pt);
	free(parts);
	return err;
}

bool xshard_full(const struct xshard *x)
{
	return x->n_txns >= x->cfg.max_txns || x->bytes >= x->cfg.max_bytes;
}

/* The answer of a shard to an intent of @p t (applied at @p index): the ids its part gave, or the tree's refusal of it. */
static void note_part(struct xtxn *t, uint64_t group, uint64_t index, uint32_t seq, const struct tree_result *res,
		      bool written, uint64_t pt)
{
	size_t part = 0;
	while (part < t->n_parts && t->groups[part] != group)
		part++;
	if (part == t->n_parts)
		return;
	if (part == 0 && (written || res->duplicate_of || res->err))
		t->anchor_decided = true;
	if (written) {
		/* An attempt's command sent twice lands twice: the anchor's tree keeps the key at the first (tree_sm.c). */
		if (part == 0 && (!t->anchor_index || seq != t->anchor_seq))
			t->anchor_index = index, t->anchor_seq = seq;
		for (size_t i = 0; i < t->n_ops; i++)
			if (t->op_part[i] == part && t->op_index[i] < res->count)
				t->ids[i] = res->ids[t->op_index[i]];
		return;
	}
	if (res->duplicate_of && !res->err && !t->answered) {
		/*
		 * A shard applied this key already, for an earlier transaction: nothing of this one may apply, and
		 * the answer is that one's, whatever another shard said of this attempt (a retry planned before its
		 * first attempt applied is refused by a shard that the first attempt changed). Every part carries
		 * the key, so a shard that took part knows it too: a retry whose first op names a node that the
		 * first attempt moved into that shard asks it. The anchor's word comes first: every attempt with
		 * the same first op asks the anchor, so their answers name one index.
		 */
		bool first = !t->duplicate_of;
		if (first || part == 0)
			t->duplicate_of = res->duplicate_of, t->duplicate_group = group;
		if (first && !t->refusal)
			txn_coord_rollback(t->coord, pt);
		return;
	}
	if (t->duplicate_of)
		return;
	if (!res->err || t->refusal)
		return;
	/*
	 * The shard's tree refuses its part: nothing of the write can be applied. With a key, the answer waits
	 * for the anchor's word on the key (pump_txn()): the refusal may come from a shard that an earlier
	 * attempt with the same key changed.
	 */
	t->refusal = res->err;
	snprintf(t->message, sizeof(t->message), "%s", res->message);
	for (size_t i = 0; i < t->n_ops; i++)
		if (t->op_part[i] == part && t->op_index[i] == res->failed_op)
			t->failed_op = i;
	txn_coord_rollback(t->coord, pt);
}

void xshard_applied(struct xshard *x, uint64_t group, uint64_t index, const struct tree_result *res, uint64_t pt)
{
	struct txn_cmd cmd;
	if (txn_cmd_decode(res->txn_cmd.data, res->txn_cmd.len, &cmd, NULL) != GROVE_OK)
		return;
	struct txn_result r = {0};
	bool have = res->txn_result.len &&
		    txn_result_decode(res->txn_result.data, res->txn_result.len, &r, NULL) == GROVE_OK;
	size_t slot = txn_slot(x, cmd.txn.id);
	if (slot != SIZE_MAX) {
		struct xtxn *t = x->txns[slot];
		if (cmd.type == TXN_CMD_WRITE_INTENT)
			note_part(t, group, index, cmd.txn.seq, res, have && r.code == TXN_R_WRITTEN, pt);
		if (t->answer_held && t->anchor_decided) {
			t->answer_held = false;
			answer(x, t, t->held_outcome);
		}
		if (x->cfg.two_phase && cmd.type == TXN_CMD_FINALIZE && have && r.has_record &&
		    r.record.status == TXN_COMMITTED)
			answer(x, t, TXN_COMMITTED);
		if (have)
			txn_coord_on_result(t->coord, pt, &cmd, &r);
		pump_txn(x, slot, pt);
	}
	slot = rec_slot(x, cmd.txn.id);
	if (slot != SIZE_MAX && have) {
		txn_recover_on_result(x->recs[slot].recover, pt, &cmd, &r);
		pump_rec(x, slot);
	}
	/* An intent resolved frees the shard (or a cut's reservation of it): a write it blocked there goes now. */
	if (cmd.type == TXN_CMD_RESOLVE)
		for (size_t i = x->n_txns; i-- > 0;)
			if (txn_coord_unblocked(x->txns[i]->coord, group, cmd.txn.id) == GROVE_OK)
				pump_txn(x, i, pt);
	txn_result_free(&r);
	txn_cmd_release(&cmd);
}

bool xshard_busy_with(const struct xshard *x, uint64_t id)
{
	return txn_slot(x, id) != SIZE_MAX || rec_slot(x, id) != SIZE_MAX;
}

bool xshard_resolution_sent(const struct xshard *x, uint64_t id)
{
	size_t slot = txn_slot(x, id);
	if (slot == SIZE_MAX)
		return false;
	enum txn_coord_phase phase = txn_coord_phase(x->txns[slot]->coord);
	bool after_answer = phase == TXN_COORD_FINALIZING || phase == TXN_COORD_RESOLVING ||
			    phase == TXN_COORD_FORGETTING || phase == TXN_COORD_DONE;
	return after_answer && !holds(x, id);
}

static bool any_part(void *ctx, const uint8_t *part, size_t len)
{
	(void)ctx, (void)part, (void)len;
	return true;
}

bool xshard_writing_to(const struct xshard *x, uint64_t group)
{
	return xshard_any_part_to(x, group, any_part, NULL);
}

bool xshard_any_part_to(const struct xshard *x, uint64_t group, bool (*fn)(void *ctx, const uint8_t *part, size_t len),
			void *ctx)
{
	for (size_t i = 0; i < x->n_txns; i++) {
		enum txn_coord_phase phase = txn_coord_phase(x->txns[i]->coord);
		if (phase != TXN_COORD_WRITING && phase != TXN_COORD_PUSHED && phase != TXN_COORD_ROLLING_BACK)
			continue;
		uint8_t key[TREE_SM_TXN_KEY_LEN];
		tree_sm_txn_key(group, x->txns[i]->id, key);
		struct txn_bytes part;
		if (txn_coord_value(x->txns[i]->coord, (struct txn_bytes){key, sizeof(key)}, &part) == GROVE_OK &&
		    fn(ctx, part.data, part.len))
			return true;
	}
	return false;
}

/*
 * One recovery per transaction at a time. A transaction coordinated here is left to its coordinator, unless
 * @p forced (wounds()).
 */
static int recover(struct xshard *x, const struct txn_meta *met, uint64_t shard, uint64_t pt, bool forced)
{
	if (rec_slot(x, met->id) != SIZE_MAX || (!forced && txn_slot(x, met->id) != SIZE_MAX))
		return GROVE_OK;
	if (grove_grow((void **)&x->recs, &x->cap_recs, x->n_recs, sizeof(*x->recs)))
		return GROVE_ENOMEM;
	struct txn_recover_config rc = {.expiry_ns = x->cfg.expiry_ns, .retry_interval_ns = x->cfg.retry_interval_ns,
					.retry_max_ns = x->cfg.retry_max_ns, .forced = forced};
	struct txn_recover *r;
	uint8_t key[TREE_SM_TXN_KEY_LEN];
	tree_sm_txn_key(shard, met->id, key);
	int err = txn_recover_create(&rc, x->cfg.clock, pt, met, shard, key, sizeof(key), &r);
	if (err)
		return err;
	x->recs[x->n_recs++] = (struct xrec){r, met->id};
	pump_rec(x, x->n_recs - 1);
	return GROVE_OK;
}

int xshard_recover(struct xshard *x, const struct txn_meta *met, uint64_t shard, uint64_t pt)
{
	return recover(x, met, shard, pt, false);
}

void xshard_tick(struct xshard *x, uint64_t pt)
{
	xshard_release_due(x, pt);
	/* Backwards: a slot that ends is refilled from the end, which was visited already. */
	for (size_t i = x->n_txns; i-- > 0;) {
		txn_coord_tick(x->txns[i]->coord, pt);
		pump_txn(x, i, pt);
	}
	for (size_t i = x->n_recs; i-- > 0;) {
		txn_recover_tick(x->recs[i].recover, pt);
		pump_rec(x, i);
	}
}

uint64_t xshard_expiry(const struct xshard *x)
{
	return x->cfg.expiry_ns;
}

void xshard_counts(const struct xshard *x, size_t *coordinating, size_t *recovering)
{
	*coordinating = x->n_txns;
	*recovering = x->n_recs;
}
