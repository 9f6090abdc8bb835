#include "src/txn/recover.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/txn/outbox.h"

/* What a listed intent's query answered. */
enum query_state { QUERY_PENDING = 0, QUERY_FOUND = 1, QUERY_MISSING = 2 };

struct txn_recover {
	struct txn_recover_config cfg;
	struct hlc_clock *clock;          /* the caller's node clock (borrowed) */
	struct txn_meta txn;              /* the transaction, as the met intent carried it */
	uint64_t met_shard;               /* where the met intent is */
	uint8_t met_key[TXN_KEY_MAX];     /* its key */
	size_t met_key_len;               /* 0: no intent was met (own rollback) */
	enum txn_recover_phase phase;
	enum txn_recover_outcome outcome;
	bool outcome_new;                 /* learned since the last advance */
	bool done_reported;               /* `done` was handed out */
	uint64_t cutoff;                  /* the push's expiry: heartbeats at or before it are abandoned */
	struct txn_record rec;            /* the STAGING record examined; then the final record (owned) */
	bool forgotten;                   /* that final record is the mark's answer (TXN_R_FORGOTTEN) */
	uint8_t *queried;                 /* per listed intent: enum query_state */
	bool *resolved;                   /* per listed intent, then the met intent: answered */
	struct txn_resend resend;         /* when unanswered commands go again */
	struct txn_outbox out;
};

static int send(struct txn_recover *r, uint64_t shard, const struct txn_cmd *cmd)
{
	return outbox_push(&r->out, shard, cmd);
}

/* The recovered transaction at the attempt of the record being examined. */
static struct txn_meta attempt_of(const struct txn_recover *r, uint32_t seq)
{
	struct txn_meta m = r->txn;
	m.epoch = r->rec.epoch;
	m.seq = seq;
	m.ts = r->rec.ts;
	return m;
}

/* PushAbort: abort the transaction if nothing is staged and its heartbeat has expired; the answer is its record. */
static int push_abort(struct txn_recover *r, uint64_t pt)
{
	struct hlc_ts now;
	if (hlc_now(r->clock, pt, &now) != GROVE_OK)
		now = r->clock->last;
	if (r->cfg.own || r->cfg.forced)
		r->cutoff = UINT64_MAX;
	else
		r->cutoff = now.wall > r->cfg.expiry_ns ? now.wall - r->cfg.expiry_ns : 0;
	r->phase = TXN_RECOVER_PUSHING;
	struct txn_cmd cmd = {.type = TXN_CMD_FINALIZE, .txn = r->txn, .status = TXN_ABORTED,
			      .expect = TXN_EXPECT_UNSTAGED, .expiry_cutoff = r->cutoff};
	return send(r, r->txn.anchor, &cmd);
}

/* QueryIntent(k): is listed intent i there at the staged attempt? (The shard prevents it if not.) */
static int query_intent(struct txn_recover *r, size_t i)
{
	const struct txn_write_ref *w = &r->rec.writes[i];
	struct txn_cmd cmd = {.type = TXN_CMD_QUERY_INTENT, .txn = attempt_of(r, w->seq), .key = w->key};
	return send(r, w->shard, &cmd);
}

/* RecoverTxn: commit if every intent was found, else abort; only if the record is still the attempt examined. */
static int recover_txn(struct txn_recover *r)
{
	bool all_found = true;
	for (size_t i = 0; i < r->rec.n_writes; i++)
		all_found = all_found && r->queried[i] == QUERY_FOUND;
#ifdef TXN_MUTANT_RECOVER_UNCHECKED
	/* Known-bad: the first listed intent stands for all of them. */
	all_found = r->rec.n_writes && r->queried[0] == QUERY_FOUND;
#endif
	r->phase = TXN_RECOVER_DECIDING;
	struct txn_cmd cmd = {.type = TXN_CMD_FINALIZE, .txn = attempt_of(r, r->rec.seq),
			      .status = all_found ? TXN_COMMITTED : TXN_ABORTED, .expect = TXN_EXPECT_STAGING};
	return send(r, r->txn.anchor, &cmd);
}

/* StartRecovery: the record is STAGING and its coordinator silent; query every listed intent. */
static int start_recovery(struct txn_recover *r, const struct txn_record *staging)
{
	txn_record_free(&r->rec);
	free(r->queried);
	r->queried = NULL;
	int err = txn_record_copy(&r->rec, staging);
	if (!err && r->rec.n_writes && !(r->queried = calloc(r->rec.n_writes, 1)))
		err = GROVE_ENOMEM;
	if (err)
		return err;
	r->phase = TXN_RECOVER_QUERYING;
	for (size_t i = 0; i < r->rec.n_writes && !err; i++)
		err = query_intent(r, i);
	if (!err && r->rec.n_writes == 0)
		err = recover_txn(r);
	return err;
}

/* Whether the met intent's key is one of the listed ones (then it is resolved with them). */
static bool met_is_listed(const struct txn_recover *r)
{
	for (size_t i = 0; i < r->rec.n_writes; i++)
		if (r->rec.writes[i].shard == r->met_shard && r->rec.writes[i].key.len == r->met_key_len &&
		    memcmp(r->rec.writes[i].key.data, r->met_key, r->met_key_len) == 0)
			return true;
	return false;
}

/* ResolveIntent(k) for listed intent i, or for the met intent when i == n_writes. */
static int resolve_intent(struct txn_recover *r, size_t i)
{
	bool listed = i < r->rec.n_writes;
	struct txn_cmd cmd = {.type = TXN_CMD_RESOLVE, .status = r->rec.status,
			      .txn = attempt_of(r, listed ? r->rec.writes[i].seq : r->txn.seq),
			      .key = listed ? r->rec.writes[i].key : (struct txn_bytes){r->met_key, r->met_key_len}};
	return send(r, listed ? r->rec.writes[i].shard : r->met_shard, &cmd);
}

static bool all_resolved(const struct txn_recover *r)
{
	for (size_t i = 0; i <= r->rec.n_writes; i++)
		if (!r->resolved[i])
			return false;
	return true;
}

static int resolve_unanswered(struct txn_recover *r)
{
	int err = GROVE_OK;
	for (size_t i = 0; i <= r->rec.n_writes && !err; i++)
		if (!r->resolved[i])
			err = resolve_intent(r, i);
	return err;
}

/* Every intent is resolved: the record can be collected once it is old enough (txn_forget()). */
static int forget_record(struct txn_recover *r)
{
	r->phase = TXN_RECOVER_FORGETTING;
	struct txn_cmd cmd = {.type = TXN_CMD_FORGET, .txn = r->txn};
	return send(r, r->txn.anchor, &cmd);
}

static void learn(struct txn_recover *r, enum txn_recover_outcome outcome)
{
	r->outcome = outcome;
	r->outcome_new = true;
}

/* The record is final: that is the outcome; then resolve what was met and what is listed. */
static int finish(struct txn_recover *r, const struct txn_record *final)
{
	txn_record_free(&r->rec);
	free(r->queried);
	r->queried = NULL;
	int err = txn_record_copy(&r->rec, final);
	if (err)
		return err;
	learn(r, final->status == TXN_COMMITTED ? TXN_RECOVER_COMMITTED : TXN_RECOVER_ABORTED);
	if (r->cfg.own) {
		r->phase = TXN_RECOVER_DONE;
		return GROVE_OK;
	}
	if (!(r->resolved = calloc(r->rec.n_writes + 1, sizeof(*r->resolved))))
		return GROVE_ENOMEM;
	r->resolved[r->rec.n_writes] = !r->met_key_len || met_is_listed(r);
	r->phase = TXN_RECOVER_RESOLVING;
	/* A record that lists no intent (pushed before it was staged), met through no intent: nothing to resolve,
	 * and no RESOLVE answer would ever move it on. */
	return all_resolved(r) ? forget_record(r) : resolve_unanswered(r);
}

int txn_recover_create(const struct txn_recover_config *cfg, struct hlc_clock *clock, uint64_t pt,
		       const struct txn_meta *txn, uint64_t met_shard, const void *met_key, size_t met_key_len,
		       struct txn_recover **out)
{
	*out = NULL;
	if (!cfg->expiry_ns || !cfg->retry_interval_ns || !txn->id || met_key_len > TXN_KEY_MAX ||
	    (met_key_len && !met_key))
		return GROVE_EINVAL;
	struct txn_recover *r = calloc(1, sizeof(*r));
	if (!r)
		return GROVE_ENOMEM;
	r->cfg = *cfg;
	r->clock = clock;
	r->txn = *txn;
	resend_init(&r->resend, cfg->retry_interval_ns, cfg->retry_max_ns, pt);
	r->met_shard = met_shard;
	r->met_key_len = met_key ? met_key_len : 0;
	if (r->met_key_len)
		memcpy(r->met_key, met_key, met_key_len);
	int err = push_abort(r, pt);
	if (err) {
		txn_recover_destroy(r);
		return err;
	}
	*out = r;
	return GROVE_OK;
}

void txn_recover_destroy(struct txn_recover *r)
{
	if (!r)
		return;
	txn_record_free(&r->rec);
	free(r->queried);
	free(r->resolved);
	outbox_free(&r->out);
	free(r);
}

static bool same_attempt(const struct txn_meta *m, const struct txn_record *rec)
{
	return m->epoch == rec->epoch && hlc_cmp(m->ts, rec->ts) == 0;
}

/* The answer to a push, this one's or one it overheard (every push of the transaction is heard by all). */
static int on_push(struct txn_recover *r, const struct txn_cmd *cmd, const struct txn_result *res)
{
	const struct txn_record *rec = &res->record;
	r->forgotten = res->code == TXN_R_FORGOTTEN;
	if (txn_status_is_final(rec->status))
		return finish(r, rec);
	if (rec->status == TXN_STAGING && (r->cfg.own || r->cfg.forced || rec->heartbeat <= r->cutoff))
		return start_recovery(r, rec);
	/*
	 * A push with an older cutoff than this one's that found the heartbeat too recent says nothing of this
	 * one: its own answer decides. A coordinator's own rollback (no cutoff) must never end as "alive", or
	 * the coordinator waits for itself for good.
	 */
	if (cmd->expiry_cutoff < r->cutoff)
		return GROVE_OK;
	/* A recent heartbeat: the coordinator is alive and will finish the transaction itself. */
	learn(r, TXN_RECOVER_ALIVE);
	r->phase = TXN_RECOVER_DONE;
	return GROVE_OK;
}

static int on_query(struct txn_recover *r, const struct txn_cmd *cmd, const struct txn_result *res)
{
	if (!same_attempt(&cmd->txn, &r->rec) || (res->code != TXN_R_FOUND && res->code != TXN_R_PREVENTED))
		return GROVE_OK;
	bool all_answered = true;
	for (size_t i = 0; i < r->rec.n_writes; i++) {
		const struct txn_write_ref *w = &r->rec.writes[i];
		if (r->queried[i] == QUERY_PENDING && w->seq == cmd->txn.seq && w->key.len == cmd->key.len &&
		    memcmp(w->key.data, cmd->key.data, w->key.len) == 0)
			r->queried[i] = res->code == TXN_R_FOUND ? QUERY_FOUND : QUERY_MISSING;
		all_answered = all_answered && r->queried[i] != QUERY_PENDING;
	}
	return all_answered ? recover_txn(r) : GROVE_OK;
}

static int on_decided(struct txn_recover *r, const struct txn_cmd *cmd, const struct txn_result *res, uint64_t pt)
{
	if (!same_attempt(&cmd->txn, &r->rec) || cmd->txn.seq != r->rec.seq)
		return GROVE_OK;
	if (txn_status_is_final(res->record.status))
		return finish(r, &res->record);
	/* The record moved on (a later attempt was staged): what was examined says nothing now. */
	return push_abort(r, pt);
}

static int on_resolved(struct txn_recover *r, const struct txn_cmd *cmd)
{
	/* Only the final record's resolution counts: an early one (heard from the coordinator it replaces) leaves
	 * a mark that only the final record's removes. */
	if (cmd->status != r->rec.status)
		return GROVE_OK;
	for (size_t i = 0; i <= r->rec.n_writes; i++) {
		struct txn_bytes key = i < r->rec.n_writes ? r->rec.writes[i].key
							   : (struct txn_bytes){r->met_key, r->met_key_len};
		if (key.len == cmd->key.len && memcmp(key.data, cmd->key.data, key.len) == 0)
			r->resolved[i] = true;
	}
	return all_resolved(r) ? forget_record(r) : GROVE_OK;
}

static int on_result(struct txn_recover *r, uint64_t pt, const struct txn_cmd *cmd, const struct txn_result *res)
{
	bool finalize = cmd->type == TXN_CMD_FINALIZE && res->has_record;
	switch (r->phase) {
	case TXN_RECOVER_PUSHING:
		return finalize && cmd->expect == TXN_EXPECT_UNSTAGED ? on_push(r, cmd, res) : GROVE_OK;
	case TXN_RECOVER_QUERYING:
		return cmd->type == TXN_CMD_QUERY_INTENT ? on_query(r, cmd, res) : GROVE_OK;
	case TXN_RECOVER_DECIDING:
		return finalize && cmd->expect == TXN_EXPECT_STAGING ? on_decided(r, cmd, res, pt) : GROVE_OK;
	case TXN_RECOVER_RESOLVING:
		return cmd->type == TXN_CMD_RESOLVE ? on_resolved(r, cmd) : GROVE_OK;
	case TXN_RECOVER_FORGETTING:
		if (cmd->type == TXN_CMD_FORGET)
			r->phase = TXN_RECOVER_DONE;
		break;
	case TXN_RECOVER_DONE:
		break;
	}
	return GROVE_OK;
}

int txn_recover_on_result(struct txn_recover *r, uint64_t pt, const struct txn_cmd *cmd, const struct txn_result *res)
{
	if (cmd->txn.id != r->txn.id)
		return GROVE_EINVAL;
	enum txn_recover_phase before = r->phase;
	int err = on_result(r, pt, cmd, res);
	if (r->phase != before)
		resend_restart(&r->resend, pt); /* new commands: the backoff of the old ones does not apply to them */
	else
		resend_relax(&r->resend, pt);
	return err;
}

int txn_recover_tick(struct txn_recover *r, uint64_t pt)
{
	if (r->phase == TXN_RECOVER_DONE || !resend_due(&r->resend, pt))
		return GROVE_OK;
	int err = GROVE_OK;
	switch (r->phase) {
	case TXN_RECOVER_PUSHING:
		return push_abort(r, pt);
	case TXN_RECOVER_QUERYING:
		for (size_t i = 0; i < r->rec.n_writes && !err; i++)
			if (r->queried[i] == QUERY_PENDING)
				err = query_intent(r, i);
		return err;
	case TXN_RECOVER_DECIDING:
		return recover_txn(r);
	case TXN_RECOVER_RESOLVING:
		return resolve_unanswered(r);
	case TXN_RECOVER_FORGETTING:
		return forget_record(r);
	case TXN_RECOVER_DONE:
		break;
	}
	return GROVE_OK;
}

bool txn_recover_has_ready(const struct txn_recover *r)
{
	return r->out.n || r->outcome_new || (r->phase == TXN_RECOVER_DONE && !r->done_reported);
}

void txn_recover_ready(struct txn_recover *r, struct txn_recover_ready *rd)
{
	rd->msgs = r->out.msgs;
	rd->n_msgs = r->out.n;
	rd->outcome_changed = r->outcome_new;
	rd->outcome = r->outcome;
	rd->done = r->phase == TXN_RECOVER_DONE;
}

void txn_recover_advance(struct txn_recover *r, const struct txn_recover_ready *rd)
{
	outbox_take(&r->out, rd->n_msgs);
	if (rd->outcome_changed)
		r->outcome_new = false;
	if (rd->done)
		r->done_reported = true;
}

enum txn_recover_phase txn_recover_phase(const struct txn_recover *r)
{
	return r->phase;
}

enum txn_recover_outcome txn_recover_outcome(const struct txn_recover *r)
{
	return r->outcome;
}

const struct txn_record *txn_recover_record(const struct txn_recover *r)
{
	return r->outcome == TXN_RECOVER_COMMITTED || r->outcome == TXN_RECOVER_ABORTED ? &r->rec : NULL;
}

const struct txn_meta *txn_recover_txn(const struct txn_recover *r)
{
	return &r->txn;
}

bool txn_recover_forgotten(const struct txn_recover *r)
{
	return r->forgotten;
}
