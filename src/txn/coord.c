#include "src/txn/coord.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/txn/outbox.h"
#include "src/txn/recover.h"

/* Where one write of the current attempt is. */
enum write_state {
	WRITE_INFLIGHT = 0, /* sent, not answered */
	WRITE_BLOCKED = 1,  /* another transaction's intent is on the key: sent again until it lands */
	WRITE_LANDED = 2    /* the intent is there, at `landed` */
};

struct coord_write {
	uint64_t shard;         /* where the key lives */
	uint8_t *key;           /* owned; the value follows it in the same block */
	size_t key_len;
	uint8_t *value;
	size_t value_len;
	enum write_state state; /* of the current attempt's intent */
	struct hlc_ts landed;   /* where it landed (WRITE_LANDED) */
	uint64_t blocked_by;    /* the transaction whose intent is in its way (WRITE_BLOCKED) */
	bool resolved;          /* its RESOLVE was answered */
};

struct txn_coord {
	struct txn_coord_config cfg;
	struct hlc_clock *clock;       /* the node's clock (borrowed) */
	struct txn_meta meta;          /* id, anchor and the current attempt */
	struct coord_write *writes;
	size_t n_writes, cap_writes;
	struct txn_write_ref *refs;    /* the current attempt's in-flight list (keys borrowed from writes) */
	enum txn_coord_phase phase;
	bool staged;                   /* the record is STAGING at the current attempt */
	bool blocked;                  /* some write is blocked, since blocked_since */
	uint64_t blocked_since;
	struct hlc_ts pushed_to;       /* the highest timestamp an intent of the attempt landed at */
	uint64_t next_heartbeat;       /* when the record's heartbeat is refreshed */
	struct txn_resend resend;      /* when unanswered commands go again */
	enum txn_status outcome;       /* what the client was (or is to be) told; TXN_NONE before */
	bool outcome_unknown;          /* ...and that ABORTED is the mark's answer: the client is told "not known" */
	struct hlc_ts commit_ts;
	bool outcome_new;              /* not handed out yet */
	bool pushed_new;               /* the push is not handed out yet */
	bool done_reported;            /* `done` was handed out */
	struct txn_coord_blocker *blockers; /* blockers not handed out yet */
	size_t n_blockers, cap_blockers;
	struct txn_record final;       /* the final record the intents are resolved by (owned) */
	struct txn_recover *rollback;  /* its own status recovery, while rolling back */
	struct txn_outbox out;
};

static int send(struct txn_coord *c, uint64_t shard, const struct txn_cmd *cmd)
{
	return outbox_push(&c->out, shard, cmd);
}

/* A wall time for heartbeats: the node's HLC now. */
static uint64_t heartbeat_wall(struct txn_coord *c, uint64_t pt)
{
	struct hlc_ts now;
	return hlc_now(c->clock, pt, &now) == GROVE_OK ? now.wall : c->clock->last.wall;
}

static struct coord_write *write_of(const struct txn_coord *c, struct txn_bytes key)
{
	for (size_t i = 0; i < c->n_writes; i++)
		if (c->writes[i].key_len == key.len && memcmp(c->writes[i].key, key.data, key.len) == 0)
			return &c->writes[i];
	return NULL;
}

int txn_coord_value(const struct txn_coord *c, struct txn_bytes key, struct txn_bytes *value)
{
	const struct coord_write *w = write_of(c, key);
	if (!w)
		return GROVE_ENOTFOUND;
	*value = (struct txn_bytes){w->value, w->value_len};
	return GROVE_OK;
}

static int write_intent(struct txn_coord *c, const struct coord_write *w)
{
	struct txn_cmd cmd = {.type = TXN_CMD_WRITE_INTENT, .txn = c->meta,
			      .key = {w->key, w->key_len}, .value = {w->value, w->value_len}};
	return send(c, w->shard, &cmd);
}

static int stage_record(struct txn_coord *c, uint64_t pt)
{
	for (size_t i = 0; i < c->n_writes; i++)
		c->refs[i] = (struct txn_write_ref){c->writes[i].shard, c->meta.seq, {c->writes[i].key, c->writes[i].key_len}};
	struct txn_cmd cmd = {.type = TXN_CMD_STAGE, .txn = c->meta, .writes = c->refs, .n_writes = c->n_writes,
			      .heartbeat = heartbeat_wall(c, pt)};
	return send(c, c->meta.anchor, &cmd);
}

/* Heartbeat: the record's heartbeat is now, so no one takes the transaction for abandoned. */
static int heartbeat(struct txn_coord *c, uint64_t pt)
{
	c->next_heartbeat = pt + c->cfg.heartbeat_interval_ns;
	struct txn_cmd cmd = {.type = TXN_CMD_HEARTBEAT, .txn = c->meta, .heartbeat = heartbeat_wall(c, pt)};
	return send(c, c->meta.anchor, &cmd);
}

/* SendWrites: every intent and the STAGING record of the current attempt, all at once. */
static int send_writes(struct txn_coord *c, uint64_t pt)
{
	c->phase = TXN_COORD_WRITING;
	c->staged = c->blocked = false;
	resend_restart(&c->resend, pt);
	c->next_heartbeat = pt + c->cfg.heartbeat_interval_ns;
	int err = GROVE_OK;
	for (size_t i = 0; i < c->n_writes && !err; i++) {
		c->writes[i].state = WRITE_INFLIGHT;
		err = write_intent(c, &c->writes[i]);
	}
	return err ? err : stage_record(c, pt);
}

/* CommitExplicit: the record becomes COMMITTED, if it is still STAGING at the acknowledged attempt. */
static int commit_explicit(struct txn_coord *c)
{
	struct txn_cmd cmd = {.type = TXN_CMD_FINALIZE, .txn = c->meta, .status = TXN_COMMITTED,
			      .expect = TXN_EXPECT_STAGING};
	return send(c, c->meta.anchor, &cmd);
}

/*
 * Ack: every intent landed at the timestamp and the record is STAGING there: implicitly committed. With the
 * record's FINALIZE go the early resolutions [ResolveEarly], sent once: each key is free a round sooner, and
 * one that is lost is resolved by the final record as before.
 */
static int ack(struct txn_coord *c)
{
	c->outcome = TXN_COMMITTED;
	c->commit_ts = c->meta.ts;
	c->outcome_new = true;
	c->phase = TXN_COORD_FINALIZING;
	int err = commit_explicit(c);
	for (size_t i = 0; i < c->n_writes && !err; i++) {
		struct txn_cmd cmd = {.type = TXN_CMD_RESOLVE, .txn = c->meta, .status = TXN_STAGING,
				      .key = {c->writes[i].key, c->writes[i].key_len}};
		err = send(c, c->writes[i].shard, &cmd);
	}
	return err;
}

/* ResolveIntent for write i, by the final record. */
static int resolve_intent(struct txn_coord *c, const struct coord_write *w)
{
	uint32_t seq = c->meta.seq;
	for (size_t i = 0; i < c->final.n_writes; i++)
		if (c->final.writes[i].key.len == w->key_len && memcmp(c->final.writes[i].key.data, w->key, w->key_len) == 0)
			seq = c->final.writes[i].seq;
	struct txn_meta at = c->meta;
	at.epoch = c->final.epoch;
	at.seq = seq;
	at.ts = c->final.ts;
	struct txn_cmd cmd = {.type = TXN_CMD_RESOLVE, .txn = at, .status = c->final.status, .key = {w->key, w->key_len}};
	return send(c, w->shard, &cmd);
}

static int resolve_unanswered(struct txn_coord *c)
{
	int err = GROVE_OK;
	for (size_t i = 0; i < c->n_writes && !err; i++)
		if (!c->writes[i].resolved)
			err = resolve_intent(c, &c->writes[i]);
	return err;
}

/*
 * The record is final (by this coordinator or by anyone): report it and resolve every intent by it. With
 * @p forgotten it is the low-water mark's ABORTED (TXN_R_FORGOTTEN): resolving by it is right, but the
 * transaction may have committed before its record was collected, so the outcome reported is not known.
 */
static int learn_final(struct txn_coord *c, uint64_t pt, const struct txn_record *rec, bool forgotten)
{
	txn_record_free(&c->final);
	int err = txn_record_copy(&c->final, rec);
	if (err)
		return err;
	if (c->outcome == TXN_NONE) {
		c->outcome = rec->status;
		c->outcome_unknown = forgotten;
		c->commit_ts = rec->ts;
		c->outcome_new = true;
	}
	txn_recover_destroy(c->rollback);
	c->rollback = NULL;
	c->pushed_new = false;
	c->phase = TXN_COORD_RESOLVING;
	resend_restart(&c->resend, pt);
	for (size_t i = 0; i < c->n_writes; i++)
		c->writes[i].resolved = false;
	return resolve_unanswered(c);
}

/*
 * An acknowledged attempt is committed (no recovery can abort it), yet the anchor has no record, or an ABORTED
 * one: a recovery committed the attempt and resolved its intents, and the record was collected while this
 * coordinator was silent (txn_gc()); a heartbeat of it, too old to make a record, then made an ABORTED one.
 */
static int learn_forgotten_commit(struct txn_coord *c, uint64_t pt)
{
	struct txn_record committed = {TXN_COMMITTED, c->meta.epoch, c->meta.seq, c->meta.ts, 0, NULL, 0};
	return learn_final(c, pt, &committed, false);
}

/* Move the rollback's messages into this queue; once it knows the outcome, take it over. */
static int drain_rollback(struct txn_coord *c, uint64_t pt)
{
	int err = GROVE_OK;
	while (!err && txn_recover_has_ready(c->rollback)) {
		struct txn_recover_ready rd;
		txn_recover_ready(c->rollback, &rd);
		for (size_t i = 0; i < rd.n_msgs && !err; i++)
			err = send(c, rd.msgs[i].shard, &rd.msgs[i].cmd);
		txn_recover_advance(c->rollback, &rd);
	}
	const struct txn_record *final = txn_recover_record(c->rollback);
	return err || !final ? err : learn_final(c, pt, final, txn_recover_forgotten(c->rollback));
}

/* Rollback: its own status recovery, which aborts unless every intent turns out to be in place. */
static int rollback(struct txn_coord *c, uint64_t pt)
{
	struct txn_recover_config cfg = {.expiry_ns = c->cfg.expiry_ns, .retry_interval_ns = c->cfg.retry_interval_ns,
					 .retry_max_ns = c->cfg.retry_max_ns, .own = true};
	int err = txn_recover_create(&cfg, c->clock, pt, &c->meta, 0, NULL, 0, &c->rollback);
	if (err)
		return err;
	c->phase = TXN_COORD_ROLLING_BACK;
	return drain_rollback(c, pt);
}

/* After each answer while writing: acknowledge, or report the push, or keep waiting. */
static int evaluate(struct txn_coord *c, uint64_t pt)
{
	if (!c->staged)
		return GROVE_OK;
#ifdef TXN_MUTANT_EARLY_ACK
	/* Known-bad: the STAGING record and the first intent at the timestamp are taken for all of it. */
	if (c->writes[0].state == WRITE_LANDED && hlc_cmp(c->writes[0].landed, c->meta.ts) == 0)
		return ack(c);
#endif
	bool all_at_ts = true;
	c->pushed_to = c->meta.ts;
	for (size_t i = 0; i < c->n_writes; i++) {
		if (c->writes[i].state != WRITE_LANDED)
			return GROVE_OK;
		all_at_ts = all_at_ts && hlc_cmp(c->writes[i].landed, c->meta.ts) == 0;
		c->pushed_to = txn_ts_max(c->pushed_to, c->writes[i].landed);
	}
	if (all_at_ts)
		return ack(c);
	if (c->meta.seq >= c->cfg.max_attempts)
		return rollback(c, pt);
	c->phase = TXN_COORD_PUSHED;
	c->pushed_new = true;
	return GROVE_OK;
}

static int add_blocker(struct txn_coord *c, const struct coord_write *w, const struct txn_meta *other)
{
	for (size_t i = 0; i < c->n_blockers; i++)
		if (c->blockers[i].txn.id == other->id && c->blockers[i].key.data == w->key)
			return GROVE_OK;
	int err = grove_grow((void **)&c->blockers, &c->cap_blockers, c->n_blockers, sizeof(*c->blockers));
	if (!err)
		c->blockers[c->n_blockers++] = (struct txn_coord_blocker){*other, w->shard, {w->key, w->key_len}};
	return err;
}

static int on_write(struct txn_coord *c, uint64_t pt, const struct txn_cmd *cmd, const struct txn_result *res)
{
	struct coord_write *w = write_of(c, cmd->key);
	if (!w || w->state == WRITE_LANDED)
		return GROVE_OK;
	int err = GROVE_OK;
	switch (res->code) {
	case TXN_R_WRITTEN:
		w->state = WRITE_LANDED;
		w->landed = res->ts;
		break;
	case TXN_R_CONFLICT:
		if (!c->blocked) {
			c->blocked = true;
			c->blocked_since = pt;
		}
		w->state = WRITE_BLOCKED;
		w->blocked_by = res->other.id;
		err = add_blocker(c, w, &res->other);
		break;
	case TXN_R_FINISHED:
		/* Someone finished the transaction; the record says how. */
		return rollback(c, pt);
	default:
		break;
	}
	bool any_blocked = false;
	for (size_t i = 0; i < c->n_writes; i++)
		any_blocked = any_blocked || c->writes[i].state == WRITE_BLOCKED;
	c->blocked = any_blocked;
	return err;
}

/* Every intent is resolved: nothing needs the record any more (txn_forget()). */
static int forget_record(struct txn_coord *c)
{
	struct txn_cmd cmd = {.type = TXN_CMD_FORGET, .txn = c->meta};
	return send(c, c->meta.anchor, &cmd);
}

static int on_resolved(struct txn_coord *c, const struct txn_cmd *cmd)
{
	struct coord_write *w = write_of(c, cmd->key);
	if (w)
		w->resolved = true;
	bool all = true;
	for (size_t i = 0; i < c->n_writes; i++)
		all = all && c->writes[i].resolved;
	if (!all)
		return GROVE_OK;
	c->phase = TXN_COORD_FORGETTING;
	return forget_record(c);
}

static bool is_current_attempt(const struct txn_coord *c, const struct txn_cmd *cmd)
{
	return c->phase == TXN_COORD_WRITING && cmd->txn.seq == c->meta.seq;
}

int txn_coord_on_result(struct txn_coord *c, uint64_t pt, const struct txn_cmd *cmd, const struct txn_result *res)
{
	if (cmd->txn.id != c->meta.id)
		return GROVE_EINVAL;
	struct hlc_ts merged;
	if (res->code == TXN_R_WRITTEN)
		hlc_update(c->clock, pt, res->ts, &merged); /* a timestamp too far ahead is not merged; it is still used */
	if (c->phase == TXN_COORD_ROLLING_BACK) {
		int err = txn_recover_on_result(c->rollback, pt, cmd, res);
		return err ? err : drain_rollback(c, pt);
	}
	enum txn_coord_phase before = c->phase;
	bool final_record = res->has_record && txn_status_is_final(res->record.status);
	bool active = c->phase == TXN_COORD_WRITING || c->phase == TXN_COORD_PUSHED || c->phase == TXN_COORD_FINALIZING;
	int err = GROVE_OK;
	switch (cmd->type) {
	case TXN_CMD_WRITE_INTENT:
		if (is_current_attempt(c, cmd))
			err = on_write(c, pt, cmd, res);
		break;
	case TXN_CMD_STAGE:
		if (is_current_attempt(c, cmd) && final_record)
			err = learn_final(c, pt, &res->record, res->code == TXN_R_FORGOTTEN);
		else if (is_current_attempt(c, cmd) && res->code == TXN_R_OK)
			c->staged = true;
		break;
	case TXN_CMD_HEARTBEAT:
	case TXN_CMD_FINALIZE:
		/*
		 * A refused heartbeat is how a live coordinator learns that others finished its transaction. An
		 * acknowledged one that hears of no record, or an ABORTED one, takes it for its record collected after
		 * the commit, but only from a command made after its STAGE: another member's push (expecting an
		 * unstaged record) may have been applied before the STAGE and overheard late, so it says nothing;
		 * its own commands will tell.
		 */
		if (c->phase == TXN_COORD_FINALIZING && res->has_record &&
		    (res->record.status == TXN_NONE || res->record.status == TXN_ABORTED)) {
			if (cmd->expect != TXN_EXPECT_UNSTAGED)
				err = learn_forgotten_commit(c, pt);
		} else if (active && final_record)
			err = learn_final(c, pt, &res->record, res->code == TXN_R_FORGOTTEN);
		break;
	case TXN_CMD_RESOLVE:
		/* An early resolution's answer says nothing of the resolution by the final record. */
		if (c->phase == TXN_COORD_RESOLVING && cmd->status == c->final.status)
			err = on_resolved(c, cmd);
		break;
	case TXN_CMD_FORGET:
		if (c->phase == TXN_COORD_FORGETTING)
			c->phase = TXN_COORD_DONE;
		break;
	default:
		break;
	}
	if (!err && c->phase == TXN_COORD_WRITING)
		err = evaluate(c, pt);
	if (c->phase != before)
		resend_restart(&c->resend, pt); /* new commands: the backoff of the old ones does not apply to them */
	else
		resend_relax(&c->resend, pt);
	return err;
}

int txn_coord_create(const struct txn_coord_config *cfg, struct hlc_clock *clock, uint64_t pt, struct txn_coord **out)
{
	*out = NULL;
	if (!cfg->id || !cfg->heartbeat_interval_ns || !cfg->retry_interval_ns || !cfg->block_timeout_ns ||
	    !cfg->expiry_ns || !cfg->max_attempts)
		return GROVE_EINVAL;
	struct txn_coord *c = calloc(1, sizeof(*c));
	if (!c)
		return GROVE_ENOMEM;
	int err = hlc_now(clock, pt, &c->meta.ts);
	if (err) {
		free(c);
		return err;
	}
	c->cfg = *cfg;
	resend_init(&c->resend, cfg->retry_interval_ns, cfg->retry_max_ns, pt);
	c->clock = clock;
	c->meta.id = cfg->id;
	c->meta.start = cfg->start.wall || cfg->start.logical ? cfg->start : c->meta.ts;
	*out = c;
	return GROVE_OK;
}

void txn_coord_destroy(struct txn_coord *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_writes; i++)
		free(c->writes[i].key);
	free(c->writes);
	free(c->refs);
	free(c->blockers);
	txn_record_free(&c->final);
	txn_recover_destroy(c->rollback);
	outbox_free(&c->out);
	free(c);
}

int txn_coord_put(struct txn_coord *c, uint64_t shard, const void *key, size_t key_len, const void *value,
		  size_t value_len)
{
	if (c->phase != TXN_COORD_OPEN || !key || key_len == 0 || key_len > TXN_KEY_MAX || value_len > TXN_VALUE_MAX ||
	    (value_len && !value))
		return GROVE_EINVAL;
	struct coord_write *w = write_of(c, (struct txn_bytes){key, key_len});
	if (w && w->shard != shard)
		return GROVE_EINVAL;
	if (!w && c->n_writes == TXN_WRITES_MAX)
		return GROVE_ETOOBIG;
	uint8_t *block = malloc(key_len + value_len);
	if (!block)
		return GROVE_ENOMEM;
	if (!w) {
		if (grove_grow((void **)&c->writes, &c->cap_writes, c->n_writes, sizeof(*c->writes)) != GROVE_OK) {
			free(block);
			return GROVE_ENOMEM;
		}
		w = &c->writes[c->n_writes++];
		memset(w, 0, sizeof(*w));
		w->shard = shard;
		if (c->n_writes == 1)
			c->meta.anchor = shard;
	}
	free(w->key);
	memcpy(block, key, key_len);
	if (value_len)
		memcpy(block + key_len, value, value_len);
	w->key = block;
	w->key_len = key_len;
	w->value = block + key_len;
	w->value_len = value_len;
	return GROVE_OK;
}

int txn_coord_commit(struct txn_coord *c, uint64_t pt)
{
	if (c->phase != TXN_COORD_OPEN || c->n_writes == 0)
		return GROVE_EINVAL;
	if (!(c->refs = calloc(c->n_writes, sizeof(*c->refs))))
		return GROVE_ENOMEM;
	c->meta.seq = 1;
	return send_writes(c, pt);
}

int txn_coord_retry(struct txn_coord *c, uint64_t pt, bool restart)
{
	if (c->phase != TXN_COORD_PUSHED)
		return GROVE_EINVAL;
	struct hlc_ts merged;
	hlc_update(c->clock, pt, c->pushed_to, &merged);
	c->meta.seq++;
	c->meta.epoch += restart;
	c->meta.ts = c->pushed_to;
	c->pushed_new = false;
	return send_writes(c, pt);
}

int txn_coord_rollback(struct txn_coord *c, uint64_t pt)
{
	if (c->phase == TXN_COORD_OPEN) {
		/* Nothing was sent, so there is nothing to undo. */
		c->outcome = TXN_ABORTED;
		c->outcome_new = true;
		c->phase = TXN_COORD_DONE;
		return GROVE_OK;
	}
	if (c->phase != TXN_COORD_WRITING && c->phase != TXN_COORD_PUSHED)
		return GROVE_EINVAL;
	c->pushed_new = false;
	return rollback(c, pt);
}

int txn_coord_unblocked(struct txn_coord *c, uint64_t shard, uint64_t txn)
{
	int err = GROVE_OK;
	for (size_t i = 0; i < c->n_writes && !err && c->phase == TXN_COORD_WRITING; i++) {
		const struct coord_write *w = &c->writes[i];
		if (w->state == WRITE_BLOCKED && w->shard == shard && w->blocked_by == txn)
			err = write_intent(c, w);
	}
	return err;
}

int txn_coord_tick(struct txn_coord *c, uint64_t pt)
{
	int err = GROVE_OK;
	bool heartbeating = c->phase == TXN_COORD_WRITING || c->phase == TXN_COORD_PUSHED ||
			    c->phase == TXN_COORD_FINALIZING;
	if (heartbeating && pt >= c->next_heartbeat && (err = heartbeat(c, pt)) != GROVE_OK)
		return err;
	if (c->phase == TXN_COORD_WRITING && c->blocked && pt - c->blocked_since >= c->cfg.block_timeout_ns)
		return rollback(c, pt);
	if (c->phase == TXN_COORD_ROLLING_BACK) {
		err = txn_recover_tick(c->rollback, pt);
		return err ? err : drain_rollback(c, pt);
	}
	if (!resend_due(&c->resend, pt))
		return GROVE_OK;
	switch (c->phase) {
	case TXN_COORD_WRITING:
		for (size_t i = 0; i < c->n_writes && !err; i++)
			if (c->writes[i].state != WRITE_LANDED)
				err = write_intent(c, &c->writes[i]);
		return err || c->staged ? err : stage_record(c, pt);
	case TXN_COORD_FINALIZING:
		return commit_explicit(c);
	case TXN_COORD_RESOLVING:
		return resolve_unanswered(c);
	case TXN_COORD_FORGETTING:
		return forget_record(c);
	default:
		return GROVE_OK;
	}
}

bool txn_coord_has_ready(const struct txn_coord *c)
{
	return c->out.n || c->outcome_new || c->pushed_new || c->n_blockers ||
	       (c->phase == TXN_COORD_DONE && !c->done_reported);
}

void txn_coord_ready(struct txn_coord *c, struct txn_coord_ready *rd)
{
	memset(rd, 0, sizeof(*rd));
	rd->msgs = c->out.msgs;
	rd->n_msgs = c->out.n;
	rd->outcome_changed = c->outcome_new;
	rd->outcome = c->outcome;
	rd->outcome_unknown = c->outcome_unknown;
	rd->commit_ts = c->commit_ts;
	rd->pushed = c->pushed_new;
	rd->pushed_to = c->pushed_to;
	rd->blockers = c->blockers;
	rd->n_blockers = c->n_blockers;
	rd->done = c->phase == TXN_COORD_DONE;
}

void txn_coord_advance(struct txn_coord *c, const struct txn_coord_ready *rd)
{
	outbox_take(&c->out, rd->n_msgs);
	if (rd->outcome_changed)
		c->outcome_new = false;
	if (rd->pushed)
		c->pushed_new = false;
	if (rd->n_blockers) {
		memmove(c->blockers, c->blockers + rd->n_blockers, (c->n_blockers - rd->n_blockers) * sizeof(*c->blockers));
		c->n_blockers -= rd->n_blockers;
	}
	if (rd->done)
		c->done_reported = true;
}

enum txn_coord_phase txn_coord_phase(const struct txn_coord *c)
{
	return c->phase;
}

const struct txn_meta *txn_coord_meta(const struct txn_coord *c)
{
	return &c->meta;
}

enum txn_status txn_coord_outcome(const struct txn_coord *c)
{
	return c->outcome;
}
