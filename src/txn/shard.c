#include "src/txn/shard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/txn/layout.h"

/* The format byte every stored value starts with. */
#define FORMAT 1
/* Longest stored key: a version key (length, key, inverted timestamp). */
#define KEY_BUF (4 + TXN_KEY_MAX + LAYOUT_TS_BYTES + 1)

static const struct txn_bytes lwm_key = {(const uint8_t *)"lwm", 3};

static void put_be(uint8_t *out, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *in, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | in[i];
	return v;
}

/* ---- keys ---- */

struct id_key {
	uint8_t bytes[8];
};

static struct txn_bytes id_key(struct id_key *k, uint64_t id)
{
	put_be(k->bytes, id, 8);
	return (struct txn_bytes){k->bytes, 8};
}

/* The versions of a key sort newest first: the timestamp is stored inverted. */
static size_t version_prefix(uint8_t *out, struct txn_bytes key)
{
	put_be(out, key.len, 4);
	memcpy(out + 4, key.data, key.len);
	return 4 + key.len;
}

static struct txn_bytes version_key(uint8_t *out, struct txn_bytes key, struct hlc_ts ts)
{
	size_t n = version_prefix(out, key);
	put_be(out + n, ~ts.wall, 8);
	put_be(out + n + 8, (uint32_t)~ts.logical, 4);
	return (struct txn_bytes){out, n + LAYOUT_TS_BYTES};
}

static struct hlc_ts version_ts(struct txn_bytes stored_key)
{
	const uint8_t *p = stored_key.data + stored_key.len - LAYOUT_TS_BYTES;
	return (struct hlc_ts){~get_be(p, 8), (uint32_t)~get_be(p + 8, 4)};
}

static bool has_prefix(struct txn_bytes k, const uint8_t *prefix, size_t len)
{
	return k.len >= len && memcmp(k.data, prefix, len) == 0;
}

/* The smallest key after k: k followed by a zero byte. */
static struct txn_bytes successor(uint8_t *buf, struct txn_bytes k)
{
	memcpy(buf, k.data, k.len);
	buf[k.len] = 0;
	return (struct txn_bytes){buf, k.len + 1};
}

/* ---- stored values ---- */

static struct layout_reader reader_of(struct txn_bytes v)
{
	struct layout_reader r = {v.data, v.data + v.len, false};
	if (layout_get_u8(&r) != FORMAT)
		r.bad = true;
	return r;
}

static int finish_reader(const struct layout_reader *r)
{
	return r->bad || r->p != r->end ? GROVE_ECORRUPT : GROVE_OK;
}

static int put_written(const struct txn_store *st, enum txn_table table, struct txn_bytes key, struct layout_writer *w)
{
	int err = w->failed ? GROVE_ENOMEM : st->ops->put(st->ctx, table, key, (struct txn_bytes){w->data, w->len});
	free(w->data);
	return err;
}

static int load_intent(const struct txn_store *st, struct txn_bytes key, struct txn_meta *meta, struct txn_bytes *value)
{
	struct txn_bytes v;
	int err = st->ops->get(st->ctx, TXN_TABLE_INTENTS, key, &v);
	if (err)
		return err;
	struct layout_reader r = reader_of(v);
	layout_get_meta(&r, meta);
	struct txn_bytes val = layout_get_bytes(&r, TXN_VALUE_MAX);
	if (value)
		*value = val;
	return finish_reader(&r);
}

/* The intent on key, if there is one. */
static int find_intent(const struct txn_store *st, struct txn_bytes key, bool *present, struct txn_meta *meta,
		       struct txn_bytes *value)
{
	int err = load_intent(st, key, meta, value);
	*present = err == GROVE_OK;
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int store_intent(const struct txn_store *st, struct txn_bytes key, const struct txn_meta *meta,
			struct txn_bytes value)
{
	struct layout_writer w = {0};
	layout_u8(&w, FORMAT);
	layout_meta(&w, meta);
	layout_bytes(&w, value);
	return put_written(st, TXN_TABLE_INTENTS, key, &w);
}

static int load_record(const struct txn_store *st, uint64_t id, struct txn_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	struct id_key k;
	struct txn_bytes v;
	int err = st->ops->get(st->ctx, TXN_TABLE_RECORDS, id_key(&k, id), &v);
	if (err == GROVE_ENOTFOUND)
		return GROVE_OK;
	if (err)
		return err;
	struct layout_reader r = reader_of(v);
	err = r.bad ? GROVE_ECORRUPT : layout_get_record(&r, rec);
	if (!err && (err = finish_reader(&r)) != GROVE_OK)
		txn_record_free(rec);
	return err;
}

static int store_record(const struct txn_store *st, uint64_t id, const struct txn_record *rec)
{
	struct layout_writer w = {0};
	struct id_key k;
	layout_u8(&w, FORMAT);
	layout_record(&w, rec);
	return put_written(st, TXN_TABLE_RECORDS, id_key(&k, id), &w);
}

static int load_ts(const struct txn_store *st, enum txn_table table, struct txn_bytes key, struct hlc_ts *ts)
{
	*ts = (struct hlc_ts){0, 0};
	struct txn_bytes v;
	int err = st->ops->get(st->ctx, table, key, &v);
	if (err == GROVE_ENOTFOUND)
		return GROVE_OK;
	if (err)
		return err;
	struct layout_reader r = reader_of(v);
	*ts = layout_get_ts(&r);
	return finish_reader(&r);
}

static int store_ts(const struct txn_store *st, enum txn_table table, struct txn_bytes key, struct hlc_ts ts)
{
	struct layout_writer w = {0};
	layout_u8(&w, FORMAT);
	layout_ts(&w, ts);
	return put_written(st, table, key, &w);
}

/* A finished marker as stored. */
struct marker {
	enum txn_status status;
	uint32_t epoch, seq;
	struct hlc_ts ts;
};

static int parse_marker(struct txn_bytes val, struct marker *m)
{
	struct layout_reader r = reader_of(val);
	m->status = (enum txn_status)layout_get_u8(&r);
	m->epoch = layout_get_u32(&r);
	m->seq = layout_get_u32(&r);
	m->ts = layout_get_ts(&r);
	return txn_status_is_final(m->status) ? finish_reader(&r) : GROVE_ECORRUPT;
}

static int marker_ts(struct txn_bytes val, struct hlc_ts *ts)
{
	struct marker m;
	int err = parse_marker(val, &m);
	*ts = m.ts;
	return err;
}

/* Whether this shard resolved transaction id already (it has its finished marker). */
static int load_marker(const struct txn_store *st, uint64_t id, bool *found)
{
	struct id_key k;
	struct txn_bytes v;
	struct hlc_ts ts;
	int err = st->ops->get(st->ctx, TXN_TABLE_FINISHED, id_key(&k, id), &v);
	*found = err == GROVE_OK;
	if (err == GROVE_ENOTFOUND)
		return GROVE_OK;
	return err ? err : marker_ts(v, &ts);
}

/* The attempt of transaction @p id resolved early here (found false if none; @p meta may be NULL). */
static int load_early(const struct txn_store *st, uint64_t id, bool *found, struct txn_meta *meta)
{
	struct id_key k;
	struct txn_bytes v;
	struct txn_meta m;
	int err = st->ops->get(st->ctx, TXN_TABLE_EARLY, id_key(&k, id), &v);
	*found = err == GROVE_OK;
	if (err)
		return err == GROVE_ENOTFOUND ? GROVE_OK : err;
	struct layout_reader r = reader_of(v);
	layout_get_meta(&r, meta ? meta : &m);
	return finish_reader(&r);
}

static int store_early(const struct txn_store *st, const struct txn_meta *meta)
{
	struct layout_writer w = {0};
	struct id_key k;
	layout_u8(&w, FORMAT);
	layout_meta(&w, meta);
	return put_written(st, TXN_TABLE_EARLY, id_key(&k, meta->id), &w);
}

/* Whether this shard resolved exactly @p attempt (id, epoch, seq, ts) as committed: early or by its record. */
static int resolved_committed(const struct txn_store *st, const struct txn_meta *attempt, bool *found)
{
	struct txn_meta early;
	int err = load_early(st, attempt->id, found, &early);
	if (err || *found) {
		*found = *found && txn_intent_matches(&early, attempt->id, attempt->epoch, attempt->seq, attempt->ts);
		return err;
	}
	struct id_key k;
	struct txn_bytes v;
	struct marker m;
	if ((err = st->ops->get(st->ctx, TXN_TABLE_FINISHED, id_key(&k, attempt->id), &v)) != GROVE_OK)
		return err == GROVE_ENOTFOUND ? GROVE_OK : err;
	if ((err = parse_marker(v, &m)) != GROVE_OK)
		return err;
	*found = m.status == TXN_COMMITTED && m.epoch == attempt->epoch && m.seq == attempt->seq &&
		 hlc_cmp(m.ts, attempt->ts) == 0;
	return GROVE_OK;
}

static int store_marker(const struct txn_store *st, const struct txn_cmd *cmd)
{
	struct layout_writer w = {0};
	struct id_key k;
	layout_u8(&w, FORMAT);
	layout_u8(&w, (uint8_t)cmd->status);
	layout_u32(&w, cmd->txn.epoch);
	layout_u32(&w, cmd->txn.seq);
	layout_ts(&w, cmd->txn.ts);
	return put_written(st, TXN_TABLE_FINISHED, id_key(&k, cmd->txn.id), &w);
}

int txn_shard_early(const struct txn_store *st, uint64_t after, struct txn_meta *meta)
{
	struct id_key k;
	struct txn_bytes key, val;
	if (after == UINT64_MAX)
		return GROVE_ENOTFOUND;
	int err = st->ops->seek(st->ctx, TXN_TABLE_EARLY, id_key(&k, after + 1), &key, &val);
	if (err)
		return err;
	struct layout_reader r = reader_of(val);
	layout_get_meta(&r, meta);
	return finish_reader(&r);
}

int txn_shard_next_record(const struct txn_store *st, uint64_t after, uint64_t *id, struct txn_record *rec,
			  bool *waits)
{
	memset(rec, 0, sizeof(*rec));
	struct id_key k;
	struct txn_bytes key, val, resolved;
	if (after == UINT64_MAX)
		return GROVE_ENOTFOUND;
	int err = st->ops->seek(st->ctx, TXN_TABLE_RECORDS, id_key(&k, after + 1), &key, &val);
	if (err)
		return err;
	if (key.len != sizeof(k.bytes))
		return GROVE_ECORRUPT;
	*id = get_be(key.data, 8);
	if ((err = load_record(st, *id, rec)) != GROVE_OK)
		return err;
	err = rec->status == TXN_ABORTED ? GROVE_OK : st->ops->get(st->ctx, TXN_TABLE_RESOLVED, id_key(&k, *id), &resolved);
	*waits = err == GROVE_ENOTFOUND;
	if (err == GROVE_OK || err == GROVE_ENOTFOUND)
		return GROVE_OK;
	txn_record_free(rec);
	return err;
}

int txn_shard_lwm(const struct txn_store *st, struct hlc_ts *lwm)
{
	*lwm = (struct hlc_ts){0};
	return load_ts(st, TXN_TABLE_META, lwm_key, lwm);
}

int txn_shard_tscache(const struct txn_store *st, struct txn_bytes key, struct hlc_ts *ts)
{
	struct hlc_ts lwm = {0}, entry = {0};
	int err = load_ts(st, TXN_TABLE_META, lwm_key, &lwm);
	if (!err)
		err = load_ts(st, TXN_TABLE_TSCACHE, key, &entry);
	*ts = txn_ts_max(lwm, entry);
	return err;
}

static int tscache_raise(const struct txn_store *st, struct txn_bytes key, struct hlc_ts ts)
{
	struct hlc_ts cur;
	int err = txn_shard_tscache(st, key, &cur);
	if (err || hlc_cmp(ts, cur) <= 0)
		return err;
	return store_ts(st, TXN_TABLE_TSCACHE, key, ts);
}

/* The newest version of key at or below at (found false if there is none). */
static int newest_version(const struct txn_store *st, struct txn_bytes key, struct hlc_ts at, bool *found,
			  struct txn_version *out)
{
	uint8_t buf[KEY_BUF];
	struct txn_bytes k, v;
	size_t prefix = version_prefix(buf, key);
	*found = false;
	int err = st->ops->seek(st->ctx, TXN_TABLE_VERSIONS, version_key(buf, key, at), &k, &v);
	if (err == GROVE_ENOTFOUND || (!err && (k.len != prefix + LAYOUT_TS_BYTES || !has_prefix(k, buf, prefix))))
		return GROVE_OK;
	if (err)
		return err;
	struct layout_reader r = reader_of(v);
	out->ts = version_ts(k);
	out->writer = layout_get_u64(&r);
	out->value = layout_get_bytes(&r, TXN_VALUE_MAX);
	*found = true;
	return finish_reader(&r);
}

/* ---- results ---- */

static int with_record(struct txn_result *res, enum txn_result_code code, const struct txn_record *rec)
{
	res->code = code;
	res->has_record = true;
	return txn_record_copy(&res->record, rec);
}

static int refuse_malformed(const struct txn_cmd *cmd, enum txn_cmd_type type, struct txn_result *res)
{
	memset(res, 0, sizeof(*res));
	if (cmd->type != type)
		return GROVE_EINVAL;
	return txn_cmd_validate(cmd, NULL);
}

/* ---- commands ---- */

int txn_write_intent(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	int err = refuse_malformed(cmd, TXN_CMD_WRITE_INTENT, res);
	if (err)
		return err;
	bool finished, early;
	if ((err = load_marker(st, cmd->txn.id, &finished)) != GROVE_OK ||
	    (err = load_early(st, cmd->txn.id, &early, NULL)) != GROVE_OK)
		return err;
	if (finished || early) {
		res->code = TXN_R_FINISHED;
		return GROVE_OK;
	}
	struct txn_meta held;
	bool present;
	if ((err = find_intent(st, cmd->key, &present, &held, NULL)) != GROVE_OK)
		return err;
	if (present) {
		if (held.id != cmd->txn.id) {
			res->code = TXN_R_CONFLICT;
			res->other = held;
			return GROVE_OK;
		}
		if (cmd->txn.seq <= held.seq) {
			/* The same attempt again answers where it landed; an earlier one must not undo a later one. */
			res->code = cmd->txn.seq == held.seq ? TXN_R_WRITTEN : TXN_R_STALE;
			res->ts = held.ts;
			return GROVE_OK;
		}
	}
	/* Above every read and prevention of the key, and above its newest version. */
	struct hlc_ts at = cmd->txn.ts, cache;
	if ((err = txn_shard_tscache(st, cmd->key, &cache)) != GROVE_OK)
		return err;
	if (hlc_cmp(cache, at) >= 0)
		at = txn_ts_next(cache);
	bool has_version;
	struct txn_version newest;
	if ((err = newest_version(st, cmd->key, (struct hlc_ts){UINT64_MAX, UINT32_MAX}, &has_version, &newest)) != GROVE_OK)
		return err;
	if (has_version && hlc_cmp(newest.ts, at) >= 0)
		at = txn_ts_next(newest.ts);
	struct txn_meta landed = cmd->txn;
	landed.ts = at;
	if ((err = store_intent(st, cmd->key, &landed, cmd->value)) != GROVE_OK)
		return err;
	res->code = TXN_R_WRITTEN;
	res->ts = at;
	return GROVE_OK;
}

/*
 * Whether @p cmd would make a record for a transaction that began at or below the low-water mark. txn_gc()
 * deletes final records there, so a record made now could contradict the outcome that was forgotten (a late
 * copy of a committed transaction's STAGE, or a slow coordinator staging what a push aborted). FINALIZE
 * expecting STAGING never makes a record, so it is left to its own condition.
 */
static int begun_at_or_below_mark(const struct txn_store *st, const struct txn_cmd *cmd, bool *too_old)
{
	struct hlc_ts lwm;
	int err = load_ts(st, TXN_TABLE_META, lwm_key, &lwm);
	*too_old = !err && !(cmd->type == TXN_CMD_FINALIZE && cmd->expect == TXN_EXPECT_STAGING) &&
		   hlc_cmp(cmd->txn.start, lwm) <= 0;
	return err;
}

/*
 * Such a transaction can no longer commit: it is answered as aborted (FORGOTTEN, with an ABORTED record at the
 * command's attempt), and nothing is stored, since the mark refuses its record for good. Its record may have
 * been collected after it committed, so the answer must not say it never did: a coordinator that hears it
 * before it knew the outcome cannot tell its client either (txn_coord_ready.outcome_unknown).
 */
static void forgotten_record(const struct txn_cmd *cmd, struct txn_record *answer)
{
	*answer = (struct txn_record){TXN_ABORTED, cmd->txn.epoch, cmd->txn.seq, cmd->txn.ts, cmd->heartbeat, NULL, 0};
}

/*
 * The three commands on the record are each a step from the record as it is to the next one, with an
 * answer. A final record never changes: every one of them is REFUSED with it, which is how a sender learns
 * the outcome.
 */
typedef enum txn_result_code (*record_step)(const struct txn_record *rec, const struct txn_cmd *cmd,
					     struct txn_record *next, bool *changed);

static int update_record(const struct txn_store *st, const struct txn_cmd *cmd, enum txn_cmd_type type,
			 struct txn_result *res, record_step step)
{
	int err = refuse_malformed(cmd, type, res);
	struct txn_record rec;
	if (err || (err = load_record(st, cmd->txn.id, &rec)) != GROVE_OK)
		return err;
	struct txn_record next = rec;
	bool changed = false, too_old = false;
	if (rec.status == TXN_NONE && (err = begun_at_or_below_mark(st, cmd, &too_old)) != GROVE_OK)
		return err;
	enum txn_result_code code;
	if (too_old) {
		forgotten_record(cmd, &next);
		code = TXN_R_FORGOTTEN;
	} else if (txn_status_is_final(rec.status)) {
		code = TXN_R_REFUSED;
	} else {
		code = step(&rec, cmd, &next, &changed);
	}
	if (changed)
		err = store_record(st, cmd->txn.id, &next);
	if (!err)
		err = with_record(res, code, changed || too_old ? &next : &rec);
	txn_record_free(&rec);
	return err;
}

static enum txn_result_code stage_step(const struct txn_record *rec, const struct txn_cmd *cmd,
				       struct txn_record *next, bool *changed)
{
	if (rec->status != TXN_NONE && rec->seq > cmd->txn.seq)
		return TXN_R_STALE;
	if (rec->status == TXN_STAGING && rec->seq == cmd->txn.seq)
		return TXN_R_OK;
	*next = (struct txn_record){TXN_STAGING,
				    cmd->txn.epoch,
				    cmd->txn.seq,
				    cmd->txn.ts,
				    rec->heartbeat > cmd->heartbeat ? rec->heartbeat : cmd->heartbeat,
				    (struct txn_write_ref *)cmd->writes,
				    cmd->n_writes};
	*changed = true;
	return TXN_R_OK;
}

int txn_record_stage(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	return update_record(st, cmd, TXN_CMD_STAGE, res, stage_step);
}

static enum txn_result_code heartbeat_step(const struct txn_record *rec, const struct txn_cmd *cmd,
					   struct txn_record *next, bool *changed)
{
	if (rec->status == TXN_NONE) {
		next->status = TXN_PENDING;
		next->epoch = cmd->txn.epoch;
		next->seq = cmd->txn.seq;
		next->ts = cmd->txn.ts;
	}
	if (rec->status == TXN_NONE || cmd->heartbeat > rec->heartbeat) {
		next->heartbeat = cmd->heartbeat;
		*changed = true;
	}
	return TXN_R_OK;
}

int txn_heartbeat(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	return update_record(st, cmd, TXN_CMD_HEARTBEAT, res, heartbeat_step);
}

/* Whether the record is what the FINALIZE command requires. */
static bool finalize_condition_holds(const struct txn_record *rec, const struct txn_cmd *cmd)
{
#ifdef TXN_MUTANT_UNCONDITIONAL_FINALIZE
	/* Known-bad: any record that is not final yet is overwritten. */
	(void)rec;
	(void)cmd;
	return true;
#else
	if (cmd->expect == TXN_EXPECT_STAGING)
		return rec->status == TXN_STAGING && rec->epoch == cmd->txn.epoch && rec->seq == cmd->txn.seq &&
		       hlc_cmp(rec->ts, cmd->txn.ts) == 0;
	if (rec->status == TXN_NONE)
		return cmd->txn.start.wall <= cmd->expiry_cutoff;
	return rec->status == TXN_PENDING && rec->heartbeat <= cmd->expiry_cutoff;
#endif
}

static enum txn_result_code finalize_step(const struct txn_record *rec, const struct txn_cmd *cmd,
					  struct txn_record *next, bool *changed)
{
	if (!finalize_condition_holds(rec, cmd))
		return TXN_R_REFUSED;
	if (rec->status == TXN_NONE) {
		/* Pushing a transaction that never wrote a record: the ABORTED record keeps its attempt out. */
		next->epoch = cmd->txn.epoch;
		next->seq = cmd->txn.seq;
		next->ts = cmd->txn.ts;
	}
	next->status = cmd->status;
	*changed = true;
	return TXN_R_OK;
}

int txn_finalize(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	return update_record(st, cmd, TXN_CMD_FINALIZE, res, finalize_step);
}

/* @p intent's value becomes the version of @p key at its timestamp (the value is copied before the write). */
static int put_version(const struct txn_store *st, struct txn_bytes key, const struct txn_meta *intent,
		       struct txn_bytes value)
{
	struct layout_writer w = {0};
	uint8_t buf[KEY_BUF];
	layout_u8(&w, FORMAT);
	layout_u64(&w, intent->id);
	layout_bytes(&w, value);
	return put_written(st, TXN_TABLE_VERSIONS, version_key(buf, key, intent->ts), &w);
}

/* ResolveEarly: only the implicitly committed attempt's own intent, and only before the record is final. */
static int resolve_early(const struct txn_store *st, const struct txn_cmd *cmd, bool finished, bool resolved_early)
{
	struct txn_meta held;
	struct txn_bytes value;
	bool present;
	int err = find_intent(st, cmd->key, &present, &held, &value);
	if (err || finished || !present ||
	    !txn_intent_matches(&held, cmd->txn.id, cmd->txn.epoch, cmd->txn.seq, cmd->txn.ts))
		return err;
	if ((err = put_version(st, cmd->key, &held, value)) != GROVE_OK ||
	    (!resolved_early && (err = store_early(st, &held)) != GROVE_OK))
		return err;
	return st->ops->del(st->ctx, TXN_TABLE_INTENTS, cmd->key);
}

int txn_resolve_intent(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	int err = refuse_malformed(cmd, TXN_CMD_RESOLVE, res);
	if (err)
		return err;
	bool finished, resolved_early;
	struct id_key k;
	if ((err = load_marker(st, cmd->txn.id, &finished)) != GROVE_OK ||
	    (err = load_early(st, cmd->txn.id, &resolved_early, NULL)) != GROVE_OK)
		return err;
	res->code = TXN_R_OK;
	if (cmd->status == TXN_STAGING)
		return resolve_early(st, cmd, finished, resolved_early);
	if (!finished && (err = store_marker(st, cmd)) != GROVE_OK)
		return err;
	if (resolved_early && (err = st->ops->del(st->ctx, TXN_TABLE_EARLY, id_key(&k, cmd->txn.id))) != GROVE_OK)
		return err; /* confirmed by the final record */
	struct txn_meta held;
	struct txn_bytes value;
	bool present;
	if ((err = find_intent(st, cmd->key, &present, &held, &value)) != GROVE_OK)
		return err;
	if (!present || held.id != cmd->txn.id)
		return GROVE_OK;
	/* Only the very write that was committed becomes a version; a pushed or earlier one is removed. */
	bool committed = cmd->status == TXN_COMMITTED &&
			 txn_intent_matches(&held, cmd->txn.id, cmd->txn.epoch, cmd->txn.seq, cmd->txn.ts);
	if (committed && (err = put_version(st, cmd->key, &held, value)) != GROVE_OK)
		return err;
	return st->ops->del(st->ctx, TXN_TABLE_INTENTS, cmd->key);
}

int txn_forget(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	int err = refuse_malformed(cmd, TXN_CMD_FORGET, res);
	struct txn_record rec;
	if (err || (err = load_record(st, cmd->txn.id, &rec)) != GROVE_OK)
		return err;
	if (rec.status != TXN_NONE && !txn_status_is_final(rec.status)) {
		err = with_record(res, TXN_R_REFUSED, &rec); /* a live transaction is never forgotten */
		txn_record_free(&rec);
		return err;
	}
	res->code = TXN_R_OK;
	if (rec.status == TXN_NONE)
		return GROVE_OK;
	txn_record_free(&rec);
	struct layout_writer w = {0};
	struct id_key k;
	layout_u8(&w, FORMAT);
	return put_written(st, TXN_TABLE_RESOLVED, id_key(&k, cmd->txn.id), &w);
}

int txn_shard_landed(const struct txn_store *st, struct txn_bytes key, const struct txn_meta *attempt, bool *landed)
{
	struct txn_meta held;
	bool present;
	*landed = false;
	int err = find_intent(st, key, &present, &held, NULL);
	if (err)
		return err;
	if (present && txn_intent_matches(&held, attempt->id, attempt->epoch, attempt->seq, attempt->ts)) {
		*landed = true;
		return GROVE_OK;
	}
	return resolved_committed(st, attempt, landed);
}

int txn_query_intent(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	int err = refuse_malformed(cmd, TXN_CMD_QUERY_INTENT, res);
	bool landed;
	if (err || (err = txn_shard_landed(st, cmd->key, &cmd->txn, &landed)) != GROVE_OK)
		return err;
#ifdef TXN_MUTANT_EARLY_UNMARKED
	/* Known-bad: only the intent counts; a write resolved early is taken for a missing one. */
	struct txn_meta held;
	bool present;
	if ((err = find_intent(st, cmd->key, &present, &held, NULL)) != GROVE_OK)
		return err;
	landed = present && txn_intent_matches(&held, cmd->txn.id, cmd->txn.epoch, cmd->txn.seq, cmd->txn.ts);
#endif
	if (landed) {
		res->code = TXN_R_FOUND;
		return GROVE_OK;
	}
#ifndef TXN_MUTANT_NO_PREVENT
	if ((err = tscache_raise(st, cmd->key, cmd->txn.ts)) != GROVE_OK)
		return err;
#endif
	res->code = TXN_R_PREVENTED;
	return GROVE_OK;
}

int txn_read(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	int err = refuse_malformed(cmd, TXN_CMD_READ, res);
	if (err)
		return err;
	struct hlc_ts lwm;
	if ((err = load_ts(st, TXN_TABLE_META, lwm_key, &lwm)) != GROVE_OK)
		return err;
	if (hlc_cmp(cmd->at, lwm) <= 0) {
		res->code = TXN_R_GONE; /* txn_gc() may have dropped the version it would see */
		return GROVE_OK;
	}
	struct txn_meta held;
	bool present;
	if ((err = find_intent(st, cmd->key, &present, &held, NULL)) != GROVE_OK)
		return err;
	if (present && hlc_cmp(held.ts, cmd->at) <= 0) {
		res->code = TXN_R_INTENT;
		res->other = held;
		return GROVE_OK;
	}
	if ((err = tscache_raise(st, cmd->key, cmd->at)) != GROVE_OK)
		return err;
	struct txn_version v;
	if ((err = newest_version(st, cmd->key, cmd->at, &res->found, &v)) != GROVE_OK)
		return err;
	res->code = TXN_R_VALUE;
	if (res->found) {
		res->ts = v.ts;
		res->writer = v.writer;
		res->value_len = v.value.len;
		if (v.value.len && !(res->value = malloc(v.value.len)))
			return GROVE_ENOMEM;
		if (v.value.len)
			memcpy(res->value, v.value.data, v.value.len);
	}
	return GROVE_OK;
}

/* Whether the entry (key, val) of a table is forgotten at low-water mark lwm. */
typedef int (*expiry)(const struct txn_store *st, struct txn_bytes key, struct txn_bytes val, struct hlc_ts lwm,
		      bool *expired);

/* Delete every entry of table that has expired at lwm. */
static int forget_below(const struct txn_store *st, enum txn_table table, struct hlc_ts lwm, expiry expired)
{
	uint8_t cur[KEY_BUF], from_buf[KEY_BUF];
	struct txn_bytes k, v, from = {from_buf, 0};
	int err;
	while ((err = st->ops->seek(st->ctx, table, from, &k, &v)) == GROVE_OK) {
		bool gone;
		if (k.len >= KEY_BUF)
			return GROVE_ECORRUPT;
		struct txn_bytes at = {cur, k.len};
		memcpy(cur, k.data, k.len); /* k is gone once deleted */
		if ((err = expired(st, at, v, lwm, &gone)) != GROVE_OK ||
		    (gone && (err = st->ops->del(st->ctx, table, at)) != GROVE_OK))
			return err;
		from = successor(from_buf, at);
	}
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int tscache_expired(const struct txn_store *st, struct txn_bytes key, struct txn_bytes val, struct hlc_ts lwm,
			   bool *expired)
{
	(void)st;
	(void)key;
	struct layout_reader r = reader_of(val);
	struct hlc_ts ts = layout_get_ts(&r);
	*expired = hlc_cmp(ts, lwm) <= 0;
	return finish_reader(&r);
}

static int marker_expired(const struct txn_store *st, struct txn_bytes key, struct txn_bytes val, struct hlc_ts lwm,
			  bool *expired)
{
	(void)st;
	(void)key;
	struct hlc_ts ts;
	int err = marker_ts(val, &ts);
	*expired = hlc_cmp(ts, lwm) <= 0;
	return err;
}

/*
 * A final record at or below the mark goes once nothing needs it: an ABORTED one always (a push of a transaction
 * that began there finds no record and aborts it again), a COMMITTED one once every intent of it was resolved
 * (txn_forget()); until then a recovery must still find it COMMITTED.
 */
static int record_expired(const struct txn_store *st, struct txn_bytes key, struct txn_bytes val, struct hlc_ts lwm,
			  bool *expired)
{
	struct layout_reader r = reader_of(val);
	enum txn_status status = (enum txn_status)layout_get_u8(&r);
	layout_get_u32(&r);
	layout_get_u32(&r);
	struct hlc_ts ts = layout_get_ts(&r);
	*expired = false;
	if (r.bad)
		return GROVE_ECORRUPT;
	if (!txn_status_is_final(status) || hlc_cmp(ts, lwm) > 0)
		return GROVE_OK;
	struct txn_bytes resolved;
	int err = status == TXN_ABORTED ? GROVE_OK : st->ops->get(st->ctx, TXN_TABLE_RESOLVED, key, &resolved);
	*expired = err == GROVE_OK;
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/* A resolved note goes with its record. */
static int note_orphaned(const struct txn_store *st, struct txn_bytes key, struct txn_bytes val, struct hlc_ts lwm,
			 bool *expired)
{
	(void)val;
	(void)lwm;
	struct txn_bytes record;
	int err = st->ops->get(st->ctx, TXN_TABLE_RECORDS, key, &record);
	*expired = err == GROVE_ENOTFOUND;
	return *expired ? GROVE_OK : err;
}

/*
 * Delete every version at or below lwm but the newest of its key: a write is checked against the newest, and
 * no read at or below the mark is served (txn_read()), so the older ones are never read again.
 */
static int prune_versions(const struct txn_store *st, struct hlc_ts lwm)
{
	uint8_t cur[KEY_BUF], from_buf[KEY_BUF], kept[KEY_BUF];
	size_t kept_len = SIZE_MAX; /* the key whose newest version at or below lwm stays */
	struct txn_bytes k, v, from = {from_buf, 0};
	int err;
	while ((err = st->ops->seek(st->ctx, TXN_TABLE_VERSIONS, from, &k, &v)) == GROVE_OK) {
		if (k.len >= KEY_BUF || k.len < 4 + LAYOUT_TS_BYTES)
			return GROVE_ECORRUPT;
		struct txn_bytes at = {cur, k.len};
		memcpy(cur, k.data, k.len); /* k is gone once deleted */
		size_t prefix = k.len - LAYOUT_TS_BYTES;
		if (hlc_cmp(version_ts(at), lwm) <= 0) {
			if (kept_len == prefix && memcmp(kept, cur, prefix) == 0) {
				if ((err = st->ops->del(st->ctx, TXN_TABLE_VERSIONS, at)) != GROVE_OK)
					return err;
			} else {
				memcpy(kept, cur, prefix);
				kept_len = prefix;
			}
		}
		from = successor(from_buf, at);
	}
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int txn_gc(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	int err = refuse_malformed(cmd, TXN_CMD_GC, res);
	struct hlc_ts lwm;
	if (err || (err = load_ts(st, TXN_TABLE_META, lwm_key, &lwm)) != GROVE_OK)
		return err;
	if (hlc_cmp(cmd->at, lwm) > 0) {
		lwm = cmd->at;
		if ((err = store_ts(st, TXN_TABLE_META, lwm_key, lwm)) != GROVE_OK)
			return err;
	}
	if ((err = forget_below(st, TXN_TABLE_TSCACHE, lwm, tscache_expired)) != GROVE_OK ||
	    (err = forget_below(st, TXN_TABLE_FINISHED, lwm, marker_expired)) != GROVE_OK ||
	    (err = forget_below(st, TXN_TABLE_RECORDS, lwm, record_expired)) != GROVE_OK ||
	    (err = forget_below(st, TXN_TABLE_RESOLVED, lwm, note_orphaned)) != GROVE_OK ||
	    (err = prune_versions(st, lwm)) != GROVE_OK)
		return err;
	res->code = TXN_R_OK;
	return GROVE_OK;
}

int txn_shard_apply(const struct txn_store *st, const struct txn_cmd *cmd, struct txn_result *res)
{
	switch (cmd->type) {
	case TXN_CMD_WRITE_INTENT:
		return txn_write_intent(st, cmd, res);
	case TXN_CMD_STAGE:
		return txn_record_stage(st, cmd, res);
	case TXN_CMD_HEARTBEAT:
		return txn_heartbeat(st, cmd, res);
	case TXN_CMD_FINALIZE:
		return txn_finalize(st, cmd, res);
	case TXN_CMD_RESOLVE:
		return txn_resolve_intent(st, cmd, res);
	case TXN_CMD_QUERY_INTENT:
		return txn_query_intent(st, cmd, res);
	case TXN_CMD_READ:
		return txn_read(st, cmd, res);
	case TXN_CMD_GC:
		return txn_gc(st, cmd, res);
	case TXN_CMD_FORGET:
		return txn_forget(st, cmd, res);
	}
	memset(res, 0, sizeof(*res));
	return GROVE_EINVAL;
}

/* ---- inspection ---- */

int txn_shard_intent(const struct txn_store *st, struct txn_bytes key, struct txn_meta *meta, struct txn_bytes *value)
{
	return load_intent(st, key, meta, value);
}

int txn_shard_record(const struct txn_store *st, uint64_t id, struct txn_record *rec)
{
	return load_record(st, id, rec);
}

int txn_shard_each_intent(const struct txn_store *st,
			  int (*fn)(void *arg, struct txn_bytes key, const struct txn_meta *meta, struct txn_bytes value),
			  void *arg)
{
	uint8_t buf[KEY_BUF];
	struct txn_bytes k, v, from = {buf, 0};
	int err;
	while ((err = st->ops->seek(st->ctx, TXN_TABLE_INTENTS, from, &k, &v)) == GROVE_OK) {
		if (k.len > TXN_KEY_MAX)
			return GROVE_ECORRUPT;
		struct txn_meta meta;
		struct txn_bytes value;
		struct layout_reader r = reader_of(v);
		layout_get_meta(&r, &meta);
		value = layout_get_bytes(&r, TXN_VALUE_MAX);
		if ((err = finish_reader(&r)) != GROVE_OK || (err = fn(arg, k, &meta, value)) != 0)
			return err;
		from = successor(buf, k);
	}
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int txn_shard_each_version(const struct txn_store *st, struct txn_bytes key,
			   int (*fn)(void *arg, const struct txn_version *v), void *arg)
{
	uint8_t prefix[KEY_BUF], buf[KEY_BUF];
	size_t prefix_len = version_prefix(prefix, key);
	struct txn_bytes k, v, from = {prefix, prefix_len};
	int err;
	while ((err = st->ops->seek(st->ctx, TXN_TABLE_VERSIONS, from, &k, &v)) == GROVE_OK) {
		if (!has_prefix(k, prefix, prefix_len) || k.len != prefix_len + LAYOUT_TS_BYTES)
			return GROVE_OK;
		struct layout_reader r = reader_of(v);
		struct txn_version ver;
		ver.ts = version_ts(k);
		ver.writer = layout_get_u64(&r);
		ver.value = layout_get_bytes(&r, TXN_VALUE_MAX);
		if ((err = finish_reader(&r)) != GROVE_OK || (err = fn(arg, &ver)) != 0)
			return err;
		from = successor(buf, k);
	}
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}
