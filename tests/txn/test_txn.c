/*
 * Focused scenarios for the transaction layer, each driven message by message: the happy path, every outcome
 * of status recovery, push with refresh and restart, a write blocked by another transaction's intent, a late
 * intent after prevention and after resolution, duplicate delivery of every command, the low-water mark, and
 * malformed encodings. Every command and result goes through the Raft-log encoding on its way, as in a server.
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
#include "src/txn/codec.h"
#include "src/txn/coord.h"
#include "src/txn/lmdbstore.h"
#include "src/txn/recover.h"
#include "src/txn/shard.h"
#include "stores.h"
#include "support.h"

#define MS 1000000ull
#define SHARDS 3
#define EXPIRY (50 * MS)

/* The backend the world's shards run on: every scenario runs once on each (main()). */
static enum stores_kind backend;

struct world {
	struct stores *stores;                /* shard s is group s */
	struct hlc_clock clock;               /* one node runs every coordinator and recovery here */
	uint64_t now;                         /* physical time, ns */
	uint64_t next_id;
};

/* A message taken from a coordinator or recovery, with its own copy of the command's bytes. */
struct held {
	uint64_t shard;
	uint8_t *bytes;
	size_t len;
};

struct queue {
	struct held items[256];
	size_t n;
};

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	w->stores = stores_open(backend);
	hlc_init(&w->clock, 10 * MS);
	w->now = 1000 * MS;
	w->next_id = 1;
	return w;
}

static void world_free(struct world *w)
{
	stores_close(w->stores);
	free(w);
}

static struct txn_store store_of(struct world *w, uint64_t shard)
{
	return stores_of(w->stores, shard);
}

static struct txn_bytes bytes_of(const char *s)
{
	return (struct txn_bytes){(const uint8_t *)s, strlen(s)};
}

/* Apply an encoded command to its shard as a Raft group would, and answer with the decoded result. */
static void apply_encoded(struct world *w, uint64_t shard, const uint8_t *bytes, size_t len, struct txn_cmd *cmd,
			  struct txn_result *res)
{
	assert_int_equal(txn_cmd_decode(bytes, len, cmd, NULL), GROVE_OK);
	struct txn_store st = store_of(w, shard);
	struct txn_result applied;
	assert_int_equal(stores_applied(w->stores, txn_shard_apply(&st, cmd, &applied)), GROVE_OK);
	uint8_t *out;
	size_t out_len;
	assert_int_equal(txn_result_encode(&applied, &out, &out_len), GROVE_OK);
	assert_int_equal(txn_result_decode(out, out_len, res, NULL), GROVE_OK);
	free(out);
	txn_result_free(&applied);
}

/* Apply a command built here (not sent by a coordinator). */
static void apply_cmd(struct world *w, uint64_t shard, const struct txn_cmd *cmd, struct txn_result *res)
{
	uint8_t *bytes;
	size_t len;
	struct txn_cmd decoded;
	assert_int_equal(txn_cmd_encode(cmd, &bytes, &len), GROVE_OK);
	apply_encoded(w, shard, bytes, len, &decoded, res);
	txn_cmd_release(&decoded);
	free(bytes);
}

static void hold(struct queue *q, const struct txn_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_true(q->n < 256);
		struct held *h = &q->items[q->n++];
		h->shard = msgs[i].shard;
		assert_int_equal(txn_cmd_encode(&msgs[i].cmd, &h->bytes, &h->len), GROVE_OK);
	}
}

/* What the coordinator's Ready said, collected. */
struct coord_view {
	enum txn_status outcome;
	struct hlc_ts commit_ts;
	int outcomes;  /* how many times an outcome was reported */
	bool pushed;
	struct txn_meta blocker;
	uint64_t blocked_shard;  /* where the first blocker's intent is */
	char blocked_key[8];
	bool blocked;
	bool done;
	bool unknown;  /* the last outcome reported is "not known" (outcome_unknown) */
};

static void take_coord(struct txn_coord *c, struct queue *q, struct coord_view *v)
{
	while (txn_coord_has_ready(c)) {
		struct txn_coord_ready rd;
		txn_coord_ready(c, &rd);
		if (rd.outcome_changed) {
			v->outcome = rd.outcome;
			v->unknown = rd.outcome_unknown;
			v->commit_ts = rd.commit_ts;
			v->outcomes++;
		}
		v->pushed = v->pushed || rd.pushed;
		if (rd.n_blockers) {
			v->blocker = rd.blockers[0].txn;
			v->blocked_shard = rd.blockers[0].shard;
			snprintf(v->blocked_key, sizeof(v->blocked_key), "%.*s", (int)rd.blockers[0].key.len,
				 (const char *)rd.blockers[0].key.data);
			v->blocked = true;
		}
		v->done = v->done || rd.done;
		hold(q, rd.msgs, rd.n_msgs);
		txn_coord_advance(c, &rd);
	}
}

/* Which held messages to deliver: every one, or those of one kind. */
typedef bool (*pick_fn)(const struct txn_cmd *cmd, const void *arg);

static bool any(const struct txn_cmd *cmd, const void *arg)
{
	(void)cmd;
	(void)arg;
	return true;
}

static bool of_kind(const struct txn_cmd *cmd, const void *arg)
{
	return cmd->type == *(const enum txn_cmd_type *)arg;
}

static bool early_resolution_of(const struct txn_cmd *cmd, const void *arg)
{
	return cmd->type == TXN_CMD_RESOLVE && cmd->status == TXN_STAGING && cmd->key.len == strlen(arg) &&
	       memcmp(cmd->key.data, arg, cmd->key.len) == 0;
}

static bool not_key(const struct txn_cmd *cmd, const void *arg)
{
	return !(cmd->key.len == strlen(arg) && memcmp(cmd->key.data, arg, cmd->key.len) == 0);
}

/* Deliver the picked messages of q (once each, or twice when dup) to their shards and the results to c. */
static size_t deliver(struct world *w, struct queue *q, pick_fn pick, const void *arg, struct txn_coord *c,
		      struct txn_recover *r, bool dup)
{
	size_t delivered = 0;
	for (size_t i = 0; i < q->n;) {
		struct held h = q->items[i];
		struct txn_cmd cmd;
		assert_int_equal(txn_cmd_decode(h.bytes, h.len, &cmd, NULL), GROVE_OK);
		bool picked = pick(&cmd, arg);
		txn_cmd_release(&cmd);
		if (!picked) {
			i++;
			continue;
		}
		q->items[i] = q->items[--q->n];
		for (int times = dup ? 2 : 1; times > 0; times--) {
			struct txn_result res;
			apply_encoded(w, h.shard, h.bytes, h.len, &cmd, &res);
			if (c)
				assert_int_equal(txn_coord_on_result(c, w->now, &cmd, &res), GROVE_OK);
			if (r)
				assert_int_equal(txn_recover_on_result(r, w->now, &cmd, &res), GROVE_OK);
			txn_cmd_release(&cmd);
			txn_result_free(&res);
		}
		free(h.bytes);
		delivered++;
	}
	return delivered;
}

static void drop_all(struct queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->items[i].bytes);
	q->n = 0;
}

static struct txn_coord_config coord_config(struct world *w)
{
	return (struct txn_coord_config){.id = w->next_id++, .heartbeat_interval_ns = 10 * MS,
					 .retry_interval_ns = 5 * MS, .block_timeout_ns = 40 * MS,
					 .expiry_ns = EXPIRY, .max_attempts = 3};
}

/* A transaction writing "a" on shard 1 (the anchor) and "b" on shard 2. */
static struct txn_coord *two_shard_txn(struct world *w, const char *value)
{
	struct txn_coord_config cfg = coord_config(w);
	struct txn_coord *c;
	assert_int_equal(txn_coord_create(&cfg, &w->clock, w->now, &c), GROVE_OK);
	assert_int_equal(txn_coord_put(c, 1, "a", 1, value, strlen(value)), GROVE_OK);
	assert_int_equal(txn_coord_put(c, 2, "b", 1, value, strlen(value)), GROVE_OK);
	assert_int_equal(txn_coord_commit(c, w->now), GROVE_OK);
	return c;
}

/* A world with two_shard_txn() begun and its first Ready taken: the intents and the STAGING record, in q. */
struct scene {
	struct world *w;
	struct txn_coord *c;
	struct txn_meta meta; /* its first attempt */
	struct queue q;       /* messages taken, not delivered */
	struct coord_view v;  /* what its Ready said */
};

static void begin_two_shard(struct scene *s, const char *value)
{
	memset(s, 0, sizeof(*s));
	s->w = world_new();
	s->c = two_shard_txn(s->w, value);
	s->meta = *txn_coord_meta(s->c);
	take_coord(s->c, &s->q, &s->v);
}

/* begin_two_shard(), with a read of key (on shard) at (the timestamp's wall + ahead, logical) landing first,
 * so that its intent is pushed above the read; every message delivered: the coordinator is PUSHED.
 * Returns the read's timestamp. */
static struct hlc_ts begin_pushed(struct scene *s, uint64_t shard, const char *key, uint64_t ahead, uint32_t logical);

static bool not_forget(const struct txn_cmd *cmd, const void *arg)
{
	(void)arg;
	return cmd->type != TXN_CMD_FORGET;
}

/* Run coordinator c until every intent is resolved, its record (COMMITTED or ABORTED) kept: FORGET stays in q. */
static void run_coord_keeping_record(struct world *w, struct txn_coord *c, struct queue *q, struct coord_view *v)
{
	for (int round = 0; round < 100 && txn_coord_phase(c) != TXN_COORD_FORGETTING; round++) {
		take_coord(c, q, v);
		if (!deliver(w, q, not_forget, NULL, c, NULL, false)) {
			w->now += 5 * MS;
			assert_int_equal(txn_coord_tick(c, w->now), GROVE_OK);
		}
	}
	take_coord(c, q, v);
	assert_int_equal(txn_coord_phase(c), TXN_COORD_FORGETTING);
}

/* begin_two_shard(), every intent and the STAGING record delivered: acknowledged, its FINALIZE and early
 * resolutions in q. */
static void begin_acknowledged(struct scene *s, const char *value)
{
	begin_two_shard(s, value);
	deliver(s->w, &s->q, any, NULL, s->c, NULL, false);
	take_coord(s->c, &s->q, &s->v);
	assert_int_equal(s->v.outcome, TXN_COMMITTED);
}

/* Run coordinator c to completion, delivering everything. */
static void run_coord(struct world *w, struct txn_coord *c, struct queue *q, struct coord_view *v)
{
	for (int round = 0; round < 100 && !v->done; round++) {
		take_coord(c, q, v);
		if (!deliver(w, q, any, NULL, c, NULL, false)) {
			w->now += 5 * MS;
			assert_int_equal(txn_coord_tick(c, w->now), GROVE_OK);
		}
	}
	take_coord(c, q, v);
}

struct recover_view {
	enum txn_recover_outcome outcome;
	bool done;
};

static void take_recover(struct txn_recover *r, struct queue *q, struct recover_view *v)
{
	while (txn_recover_has_ready(r)) {
		struct txn_recover_ready rd;
		txn_recover_ready(r, &rd);
		if (rd.outcome_changed)
			v->outcome = rd.outcome;
		v->done = v->done || rd.done;
		hold(q, rd.msgs, rd.n_msgs);
		txn_recover_advance(r, &rd);
	}
}

/* Recover the transaction whose intent is on (shard, key), running it to completion. */
/* Run a status recovery of @p txn to its end, met on @p key of @p shard (NULL: met no intent). */
static enum txn_recover_outcome recover_txn(struct world *w, const struct txn_meta *txn, uint64_t shard,
					      const char *key)
{
	struct txn_recover_config cfg = {.expiry_ns = EXPIRY, .retry_interval_ns = 5 * MS};
	struct txn_recover *r;
	assert_int_equal(txn_recover_create(&cfg, &w->clock, w->now, txn, shard, key, key ? strlen(key) : 0, &r),
			 GROVE_OK);
	struct queue q = {0};
	struct recover_view v = {0};
	for (int round = 0; round < 50 && !v.done; round++) {
		take_recover(r, &q, &v);
		deliver(w, &q, any, NULL, NULL, r, false);
	}
	take_recover(r, &q, &v);
	assert_true(v.done);
	drop_all(&q);
	txn_recover_destroy(r);
	return v.outcome;
}

static enum txn_recover_outcome recover_intent(struct world *w, uint64_t shard, const char *key)
{
	struct txn_meta met;
	struct txn_store st = store_of(w, shard);
	assert_int_equal(txn_shard_intent(&st, bytes_of(key), &met, NULL), GROVE_OK);
	return recover_txn(w, &met, shard, key);
}

static bool has_intent(struct world *w, uint64_t shard, const char *key)
{
	struct txn_meta m;
	struct txn_store st = store_of(w, shard);
	return txn_shard_intent(&st, bytes_of(key), &m, NULL) == GROVE_OK;
}

static enum txn_status record_status(struct world *w, uint64_t id)
{
	struct txn_record rec;
	struct txn_store st = store_of(w, 1);
	assert_int_equal(txn_shard_record(&st, id, &rec), GROVE_OK);
	enum txn_status s = rec.status;
	txn_record_free(&rec);
	return s;
}

/* A GC on @p shard with its low-water mark just above @p ts. */
static void collect(struct world *w, uint64_t shard, struct hlc_ts ts)
{
	struct txn_cmd gc = {.type = TXN_CMD_GC, .at = txn_ts_next(ts)};
	struct txn_result res;
	apply_cmd(w, shard, &gc, &res);
	assert_int_equal(res.code, TXN_R_OK);
	txn_result_free(&res);
}

/* Read key on shard at ts; returns the result code, the value in out (if found). */
static enum txn_result_code read_at(struct world *w, uint64_t shard, const char *key, struct hlc_ts at, char *out,
				    struct hlc_ts *version_ts)
{
	struct txn_cmd cmd = {.type = TXN_CMD_READ, .key = bytes_of(key), .at = at};
	struct txn_result res;
	apply_cmd(w, shard, &cmd, &res);
	out[0] = '\0';
	if (res.code == TXN_R_VALUE && res.found) {
		memcpy(out, res.value, res.value_len);
		out[res.value_len] = '\0';
		if (version_ts)
			*version_ts = res.ts;
	}
	enum txn_result_code code = res.code;
	txn_result_free(&res);
	return code;
}

static struct hlc_ts far_future(void)
{
	return (struct hlc_ts){UINT64_MAX / 2, 0};
}

static void test_happy_path(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	assert_int_equal(s.q.n, 3); /* two intents and the STAGING record, all at once */
	assert_int_equal(deliver(s.w, &s.q, any, NULL, s.c, NULL, false), 3);
	take_coord(s.c, &s.q, &s.v);
	/* Acknowledged after that one round; the explicit commit is on its way. */
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	assert_int_equal(hlc_cmp(s.v.commit_ts, s.meta.ts), 0);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_STAGING);
	assert_int_equal(s.q.n, 3); /* and each intent's early resolution */
	run_coord(s.w, s.c, &s.q, &s.v);
	assert_true(s.v.done);
	for (uint64_t shard = 1; shard <= 2; shard++)
		assert_int_equal(stores_count(s.w->stores, shard, TXN_TABLE_EARLY), 0); /* confirmed */
	assert_int_equal(s.v.outcomes, 1);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_COMMITTED);
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_RESOLVED), 1); /* every intent resolved: FORGET */
	collect(s.w, 1, s.meta.ts);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_NONE); /* collected once at or below the mark */
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_RESOLVED), 0);
	assert_false(has_intent(s.w, 1, "a"));
	assert_false(has_intent(s.w, 2, "b"));
	char val[64];
	struct hlc_ts vts;
	assert_int_equal(read_at(s.w, 1, "a", far_future(), val, &vts), TXN_R_VALUE);
	assert_string_equal(val, "v1");
	assert_int_equal(hlc_cmp(vts, s.meta.ts), 0);
	assert_int_equal(read_at(s.w, 2, "b", far_future(), val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "v1");
	/* A read below the commit timestamp does not see it. */
	assert_int_equal(read_at(s.w, 2, "b", (struct hlc_ts){s.meta.ts.wall - 1, 0}, val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "");
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/* The coordinator dies after its intents and STAGING record landed: recovery finds them all and commits. */
static void test_recovery_commits_implicitly_committed(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	uint64_t id = s.meta.id;
	deliver(s.w, &s.q, any, NULL, NULL, NULL, false);
	txn_coord_destroy(s.c); /* crash before hearing any answer */
	char val[64];
	assert_int_equal(read_at(s.w, 2, "b", far_future(), val, NULL), TXN_R_INTENT);
	/* While the heartbeat is fresh the reader waits. */
	assert_int_equal(recover_intent(s.w, 2, "b"), TXN_RECOVER_ALIVE);
	assert_int_equal(record_status(s.w, id), TXN_STAGING);
	s.w->now += 2 * EXPIRY;
	assert_int_equal(recover_intent(s.w, 2, "b"), TXN_RECOVER_COMMITTED);
	assert_int_equal(record_status(s.w, id), TXN_COMMITTED);
	assert_false(has_intent(s.w, 1, "a"));
	assert_false(has_intent(s.w, 2, "b"));
	assert_int_equal(read_at(s.w, 1, "a", far_future(), val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "v1");
	/* The recovery said so (FORGET) once every intent was resolved: the record is collected. */
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_RESOLVED), 1);
	collect(s.w, 1, s.meta.ts);
	assert_int_equal(record_status(s.w, id), TXN_NONE);
	world_free(s.w);
}

/*
 * Acknowledged, then the early resolutions land but the FINALIZE does not, and the coordinator dies: the
 * writes are versions while the record is STAGING, and the shards keep the attempt through a GC. A recovery
 * (met on the intent left, or on no intent at all) finds them in place and commits; the resolution by the
 * record confirms them. A late copy of an intent is refused.
 */
static void test_early_resolution(void **state)
{
	(void)state;
	for (int left = 0; left <= 1; left++) { /* one intent not resolved early, or none */
		struct scene s;
		begin_acknowledged(&s, "v1");
		enum txn_cmd_type resolve = TXN_CMD_RESOLVE;
		assert_int_equal(deliver(s.w, &s.q, left ? early_resolution_of : of_kind, left ? (const void *)"a" : &resolve,
					 NULL, NULL, false),
				 left ? 1 : 2);
		drop_all(&s.q); /* the FINALIZE is lost */
		txn_coord_destroy(s.c);
		uint64_t id = s.meta.id;
		char val[64];
		assert_int_equal(record_status(s.w, id), TXN_STAGING);
		assert_false(has_intent(s.w, 1, "a"));
		assert_int_equal(has_intent(s.w, 2, "b"), left == 1);
		assert_int_equal(read_at(s.w, 1, "a", far_future(), val, NULL), TXN_R_VALUE);
		assert_string_equal(val, "v1");
		struct txn_store st1 = store_of(s.w, 1);
		struct txn_meta early;
		assert_int_equal(txn_shard_early(&st1, 0, &early), GROVE_OK);
		assert_int_equal(early.id, id);
		assert_int_equal(early.anchor, s.meta.anchor);
		assert_int_equal(txn_shard_early(&st1, id, &early), GROVE_ENOTFOUND);
		bool landed;
		assert_int_equal(txn_shard_landed(&st1, bytes_of("a"), &s.meta, &landed), GROVE_OK);
		assert_true(landed);
		/* A GC past it keeps the early resolution (recovery may need it), not the finished markers. */
		struct txn_cmd gc = {.type = TXN_CMD_GC, .at = far_future()};
		struct txn_result res;
		apply_cmd(s.w, 1, &gc, &res);
		txn_result_free(&res);
		assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_EARLY), 1);
		assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_FINISHED), 0);
		struct txn_cmd late = {.type = TXN_CMD_WRITE_INTENT, .txn = s.meta, .key = bytes_of("a"),
				       .value = bytes_of("v1")};
		apply_cmd(s.w, 1, &late, &res);
		assert_int_equal(res.code, TXN_R_FINISHED);
		txn_result_free(&res);
		s.w->now += 2 * EXPIRY;
		enum txn_recover_outcome out = left ? recover_intent(s.w, 2, "b") : recover_txn(s.w, &early, 0, NULL);
		assert_int_equal(out, TXN_RECOVER_COMMITTED);
		assert_int_equal(record_status(s.w, id), TXN_COMMITTED);
		assert_false(has_intent(s.w, 2, "b"));
		assert_int_equal(read_at(s.w, 2, "b", far_future(), val, NULL), TXN_R_VALUE);
		assert_string_equal(val, "v1");
		for (uint64_t shard = 1; shard <= 2; shard++)
			assert_int_equal(stores_count(s.w->stores, shard, TXN_TABLE_EARLY), 0);
		world_free(s.w);
	}
}

/*
 * The coordinator finalizes and dies with its early resolution of "b" still on its way; the recovery that
 * finishes the transaction loses its own resolution of "b" and then hears the late early one's result (groved
 * hands every applied result to whoever works on the transaction). That early resolution is not the final
 * record's: the recovery sends its own again, and only then forgets the record, leaving no early mark.
 */
static void test_recovery_hears_an_early_resolution(void **state)
{
	(void)state;
	struct scene s;
	begin_acknowledged(&s, "v1");
	enum txn_cmd_type finalize = TXN_CMD_FINALIZE;
	assert_int_equal(deliver(s.w, &s.q, of_kind, &finalize, NULL, NULL, false), 1);
	assert_int_equal(deliver(s.w, &s.q, early_resolution_of, "a", NULL, NULL, false), 1);
	txn_coord_destroy(s.c);
	assert_int_equal(s.q.n, 1); /* the early resolution of "b", late */
	assert_int_equal(record_status(s.w, s.meta.id), TXN_COMMITTED);

	struct txn_store st1 = store_of(s.w, 1);
	struct txn_meta early;
	assert_int_equal(txn_shard_early(&st1, 0, &early), GROVE_OK);
	struct txn_recover_config cfg = {.expiry_ns = EXPIRY, .retry_interval_ns = 5 * MS};
	struct txn_recover *r;
	assert_int_equal(txn_recover_create(&cfg, &s.w->clock, s.w->now, &early, 0, NULL, 0, &r), GROVE_OK);
	struct queue rq = {0};
	struct recover_view v = {0};
	take_recover(r, &rq, &v);
	assert_int_equal(deliver(s.w, &rq, any, NULL, NULL, r, false), 1); /* the push finds the record final */
	take_recover(r, &rq, &v);
	assert_int_equal(txn_recover_phase(r), TXN_RECOVER_RESOLVING);
	assert_int_equal(deliver(s.w, &rq, not_key, "b", NULL, r, false), 1);
	drop_all(&rq); /* its resolution of "b" is lost */
	assert_int_equal(deliver(s.w, &s.q, any, NULL, NULL, r, false), 1);
	take_recover(r, &rq, &v);
	assert_int_equal(txn_recover_phase(r), TXN_RECOVER_RESOLVING);
	assert_int_equal(rq.n, 0);
	assert_int_equal(stores_count(s.w->stores, 2, TXN_TABLE_EARLY), 1);

	s.w->now += 5 * MS;
	assert_int_equal(txn_recover_tick(r, s.w->now), GROVE_OK);
	for (int round = 0; round < 10 && !v.done; round++) {
		take_recover(r, &rq, &v);
		deliver(s.w, &rq, any, NULL, NULL, r, false);
	}
	take_recover(r, &rq, &v);
	assert_true(v.done);
	assert_int_equal(v.outcome, TXN_RECOVER_COMMITTED);
	for (uint64_t shard = 1; shard <= 2; shard++)
		assert_int_equal(stores_count(s.w->stores, shard, TXN_TABLE_EARLY), 0);
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_RESOLVED), 1); /* forgotten, after that */
	txn_recover_destroy(r);
	world_free(s.w);
}

/*
 * A recovery that met no intent (a sweep of the records an anchor keeps) of a transaction that never staged: the
 * push aborts it with a record that lists no intent, so there is nothing to resolve, and the recovery goes
 * straight on to forget the record instead of waiting for an answer that nothing was sent to give.
 */
static void test_recovery_of_an_unstaged_record_met_through_no_intent(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct txn_meta never_staged = {.id = w->next_id++, .anchor = 1, .epoch = 0, .seq = 1,
					.ts = {w->now - 2 * EXPIRY, 0}, .start = {w->now - 2 * EXPIRY, 0}};
	assert_int_equal(recover_txn(w, &never_staged, 0, NULL), TXN_RECOVER_ABORTED);
	assert_int_equal(record_status(w, never_staged.id), TXN_ABORTED);
	assert_int_equal(stores_count(w->stores, 1, TXN_TABLE_RESOLVED), 1); /* forgotten */
	world_free(w);
}

/* Another member's push of the scene's transaction with @p cutoff, applied on the anchor now; its answer in @p res. */
static struct txn_cmd push_from_elsewhere(struct scene *s, uint64_t cutoff, struct txn_result *res)
{
	struct txn_cmd push = {.type = TXN_CMD_FINALIZE, .txn = s->meta, .status = TXN_ABORTED,
			       .expect = TXN_EXPECT_UNSTAGED, .expiry_cutoff = cutoff};
	apply_cmd(s->w, 1, &push, res);
	assert_int_equal(res->code, TXN_R_REFUSED);
	return push;
}

/*
 * A coordinator rolls back (its own status recovery) while its record is PENDING with a fresh heartbeat, and
 * overhears another member's push, whose older cutoff the heartbeat passed: refused, "alive". That answer says
 * nothing of its own push (no cutoff at all), whose answer aborts the transaction; taken for its own, it
 * had ended the rollback as "alive" and left the coordinator waiting for itself for good.
 */
static void test_rollback_ignores_an_older_push(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	drop_all(&s.q); /* nothing of the attempt lands */
	struct txn_cmd beat = {.type = TXN_CMD_HEARTBEAT, .txn = s.meta, .heartbeat = s.w->now};
	struct txn_result res;
	apply_cmd(s.w, 1, &beat, &res);
	assert_int_equal(res.record.status, TXN_PENDING);
	txn_result_free(&res);
	assert_int_equal(txn_coord_rollback(s.c, s.w->now), GROVE_OK);
	take_coord(s.c, &s.q, &s.v); /* its own push, held */
	struct txn_cmd other = push_from_elsewhere(&s, s.w->now - EXPIRY, &res);
	assert_int_equal(res.record.status, TXN_PENDING);
	assert_int_equal(txn_coord_on_result(s.c, s.w->now, &other, &res), GROVE_OK); /* overheard */
	txn_result_free(&res);
	run_coord(s.w, s.c, &s.q, &s.v);
	assert_true(s.v.done);
	assert_int_equal(s.v.outcomes, 1);
	assert_int_equal(s.v.outcome, TXN_ABORTED);
	assert_false(s.v.unknown);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_ABORTED);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/*
 * Another member pushes a young transaction before its STAGE lands: refused, no record. The coordinator then
 * stages, is acknowledged, and overhears that answer late. An absent record in an answer to a push says
 * nothing of a collection (the push may have come before the STAGE): taken for its record collected after the
 * commit, it had resolved the intents and left the record STAGING, which a later recovery, finding the intents
 * gone, aborted under the committed values.
 */
static void test_acknowledged_coordinator_ignores_an_early_push(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	struct txn_result early;
	struct txn_cmd push = push_from_elsewhere(&s, s.meta.start.wall - 1, &early);
	assert_int_equal(early.record.status, TXN_NONE);
	deliver(s.w, &s.q, any, NULL, s.c, NULL, false);
	take_coord(s.c, &s.q, &s.v);
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	assert_int_equal(txn_coord_on_result(s.c, s.w->now, &push, &early), GROVE_OK); /* overheard, late */
	txn_result_free(&early);
	assert_int_equal(txn_coord_phase(s.c), TXN_COORD_FINALIZING);
	run_coord(s.w, s.c, &s.q, &s.v);
	assert_true(s.v.done);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_COMMITTED);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/* The coordinator dies with one intent still in flight: recovery prevents it and aborts. The late intent,
 * arriving between the prevention and the decision, can no longer land at the timestamp; once the shard has
 * resolved the transaction it is refused outright. */
static void test_recovery_prevents_and_aborts(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	/* Everything but the intent on "b" lands; that one stays in the network. */
	deliver(s.w, &s.q, not_key, "b", NULL, NULL, false);
	assert_int_equal(s.q.n, 1);
	txn_coord_destroy(s.c);
	s.w->now += 2 * EXPIRY;
	struct txn_meta met;
	struct txn_store st1 = store_of(s.w, 1), st2 = store_of(s.w, 2);
	assert_int_equal(txn_shard_intent(&st1, bytes_of("a"), &met, NULL), GROVE_OK);
	struct txn_recover_config cfg = {.expiry_ns = EXPIRY, .retry_interval_ns = 5 * MS};
	struct txn_recover *r;
	assert_int_equal(txn_recover_create(&cfg, &s.w->clock, s.w->now, &met, 1, "a", 1, &r), GROVE_OK);
	struct queue rq = {0};
	struct recover_view rv = {0};
	take_recover(r, &rq, &rv);
	deliver(s.w, &rq, any, NULL, NULL, r, false); /* the push finds it STAGING and expired */
	take_recover(r, &rq, &rv);
	enum txn_cmd_type queries = TXN_CMD_QUERY_INTENT;
	assert_int_equal(deliver(s.w, &rq, of_kind, &queries, NULL, r, false), 2);
	struct hlc_ts cache;
	assert_int_equal(txn_shard_tscache(&st2, bytes_of("b"), &cache), GROVE_OK);
	assert_true(hlc_cmp(cache, s.meta.ts) >= 0);
	/* The late intent lands above the prevented timestamp: the attempt can never be complete. */
	struct txn_cmd late;
	struct txn_result res;
	apply_encoded(s.w, s.q.items[0].shard, s.q.items[0].bytes, s.q.items[0].len, &late, &res);
	assert_int_equal(res.code, TXN_R_WRITTEN);
	assert_true(hlc_cmp(res.ts, s.meta.ts) > 0);
	txn_result_free(&res);
	txn_cmd_release(&late);
	for (int round = 0; round < 10 && !rv.done; round++) {
		take_recover(r, &rq, &rv);
		deliver(s.w, &rq, any, NULL, NULL, r, false);
	}
	take_recover(r, &rq, &rv);
	assert_int_equal(rv.outcome, TXN_RECOVER_ABORTED);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_ABORTED);
	txn_recover_destroy(r);
	/* Recovery resolved every listed intent, the late one included. */
	assert_false(has_intent(s.w, 1, "a"));
	assert_false(has_intent(s.w, 2, "b"));
	char val[64];
	assert_int_equal(read_at(s.w, 2, "b", far_future(), val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "");
	/* Now the shard has resolved the transaction: the same late write again is refused. */
	apply_encoded(s.w, s.q.items[0].shard, s.q.items[0].bytes, s.q.items[0].len, &late, &res);
	assert_int_equal(res.code, TXN_R_FINISHED);
	assert_false(has_intent(s.w, 2, "b"));
	txn_result_free(&res);
	txn_cmd_release(&late);
	drop_all(&s.q);
	world_free(s.w);
}

/* Intents landed but the STAGING record never did: the first pusher after expiry aborts the transaction. */
static void test_push_aborts_unstaged(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	uint64_t id = s.meta.id;
	enum txn_cmd_type intents = TXN_CMD_WRITE_INTENT;
	deliver(s.w, &s.q, of_kind, &intents, NULL, NULL, false);
	txn_coord_destroy(s.c);
	assert_int_equal(recover_intent(s.w, 2, "b"), TXN_RECOVER_ALIVE); /* young: might still be staged */
	assert_int_equal(record_status(s.w, id), TXN_NONE);
	s.w->now += 2 * EXPIRY;
	assert_int_equal(recover_intent(s.w, 2, "b"), TXN_RECOVER_ABORTED);
	assert_int_equal(record_status(s.w, id), TXN_ABORTED);
	/* The STAGING record arriving late is refused: the abort stands. */
	struct txn_cmd stage;
	struct txn_result res;
	apply_encoded(s.w, s.q.items[0].shard, s.q.items[0].bytes, s.q.items[0].len, &stage, &res);
	assert_int_equal(stage.type, TXN_CMD_STAGE);
	assert_int_equal(res.code, TXN_R_REFUSED);
	assert_int_equal(res.record.status, TXN_ABORTED);
	txn_result_free(&res);
	txn_cmd_release(&stage);
	assert_int_equal(recover_intent(s.w, 1, "a"), TXN_RECOVER_ABORTED);
	assert_false(has_intent(s.w, 1, "a"));
	drop_all(&s.q);
	world_free(s.w);
}

static struct hlc_ts begin_pushed(struct scene *s, uint64_t shard, const char *key, uint64_t ahead, uint32_t logical)
{
	char val[64];
	begin_two_shard(s, "v1");
	struct hlc_ts read_ts = {s->meta.ts.wall + ahead, logical};
	assert_int_equal(read_at(s->w, shard, key, read_ts, val, NULL), TXN_R_VALUE);
	deliver(s->w, &s->q, any, NULL, s->c, NULL, false);
	take_coord(s->c, &s->q, &s->v);
	assert_true(s->v.pushed);
	assert_int_equal(s->v.outcome, TXN_NONE);
	assert_int_equal(txn_coord_phase(s->c), TXN_COORD_PUSHED);
	return read_ts;
}

/* Recovery examined attempt 1, but the live coordinator staged attempt 2 before recovery's decision: the
 * conditional update is refused and recovery starts over, finding the coordinator alive. */
static void test_recovery_record_moved_on(void **state)
{
	(void)state;
	struct scene s;
	char val[64];
	/* A reader above the timestamp pushes "b"; the attempt lands pushed. */
	begin_pushed(&s, 2, "b", 5, 0);
	/* Recovery by someone whose clock runs ahead starts on attempt 1 (STAGING, heartbeat "expired"). */
	struct txn_meta met;
	struct txn_store st1 = store_of(s.w, 1);
	assert_int_equal(txn_shard_intent(&st1, bytes_of("a"), &met, NULL), GROVE_OK);
	struct txn_recover_config cfg = {.expiry_ns = EXPIRY, .retry_interval_ns = 5 * MS};
	struct txn_recover *r;
	struct hlc_clock fast;
	hlc_init(&fast, 10 * MS);
	assert_int_equal(txn_recover_create(&cfg, &fast, s.w->now + 2 * EXPIRY, &met, 1, "a", 1, &r), GROVE_OK);
	struct queue rq = {0};
	struct recover_view rv = {0};
	take_recover(r, &rq, &rv);
	deliver(s.w, &rq, any, NULL, NULL, r, false); /* the push: STAGING, expired by that clock */
	take_recover(r, &rq, &rv);
	assert_int_equal(txn_recover_phase(r), TXN_RECOVER_QUERYING);
	deliver(s.w, &rq, any, NULL, NULL, r, false); /* the queries: "b" is not at ts (pushed) */
	take_recover(r, &rq, &rv);
	assert_int_equal(txn_recover_phase(r), TXN_RECOVER_DECIDING);
	/* Meanwhile the coordinator refreshes: attempt 2 is staged first. */
	assert_int_equal(txn_coord_retry(s.c, s.w->now, false), GROVE_OK);
	take_coord(s.c, &s.q, &s.v);
	enum txn_cmd_type stage = TXN_CMD_STAGE;
	deliver(s.w, &s.q, of_kind, &stage, s.c, NULL, false);
	deliver(s.w, &rq, any, NULL, NULL, r, false); /* ABORTED expecting attempt 1: refused */
	assert_int_equal(record_status(s.w, s.meta.id), TXN_STAGING);
	take_recover(r, &rq, &rv);
	assert_int_equal(txn_recover_phase(r), TXN_RECOVER_PUSHING);
	/* The coordinator finishes attempt 2 and commits; recovery's new push learns it. */
	run_coord_keeping_record(s.w, s.c, &s.q, &s.v);
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	assert_true(hlc_cmp(s.v.commit_ts, s.meta.ts) > 0);
	for (int round = 0; round < 10 && !rv.done; round++) {
		deliver(s.w, &rq, any, NULL, NULL, r, false);
		take_recover(r, &rq, &rv);
	}
	assert_int_equal(rv.outcome, TXN_RECOVER_COMMITTED);
	assert_int_equal(read_at(s.w, 2, "b", far_future(), val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "v1");
	drop_all(&rq);
	drop_all(&s.q);
	txn_recover_destroy(r);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/* A read above the timestamp pushes one intent; the coordinator refreshes (same epoch) or restarts (next
 * epoch) at the pushed timestamp and commits there; the committed version is above the read. */
static void push_and_retry(bool restart)
{
	struct scene s;
	char val[64];
	struct hlc_ts read_ts = begin_pushed(&s, 2, "b", 3, 7);
	assert_int_equal(txn_coord_retry(s.c, s.w->now, restart), GROVE_OK);
	assert_int_equal(txn_coord_meta(s.c)->epoch, restart ? 1u : 0u);
	assert_int_equal(txn_coord_meta(s.c)->seq, 2u);
	run_coord(s.w, s.c, &s.q, &s.v);
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	assert_true(hlc_cmp(s.v.commit_ts, read_ts) > 0);
	struct hlc_ts vts;
	assert_int_equal(read_at(s.w, 1, "a", far_future(), val, &vts), TXN_R_VALUE);
	assert_string_equal(val, "v1");
	assert_int_equal(hlc_cmp(vts, s.v.commit_ts), 0);
	/* The earlier read is still right: nothing below its timestamp changed. */
	assert_int_equal(read_at(s.w, 2, "b", read_ts, val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "");
	txn_coord_destroy(s.c);
	world_free(s.w);
}

static void test_push_refresh(void **state)
{
	(void)state;
	push_and_retry(false);
}

static void test_push_restart(void **state)
{
	(void)state;
	push_and_retry(true);
}

/* After a refresh, attempt 1's intent on "a" sits exactly at attempt 2's timestamp (it was pushed there),
 * while attempt 2's write to "a" is still on its way. Recovery must not count the earlier attempt's intent:
 * it prevents the missing write and aborts (the sequence numbers of ParallelCommits.tla). */
static void test_earlier_attempt_at_later_timestamp(void **state)
{
	(void)state;
	struct scene s;
	char val[64];
	begin_pushed(&s, 1, "a", 2, 0);
	assert_int_equal(txn_coord_retry(s.c, s.w->now, false), GROVE_OK);
	struct txn_meta second = *txn_coord_meta(s.c);
	take_coord(s.c, &s.q, &s.v);
	/* Attempt 2's STAGING record and its write to "b" land; its write to "a" is held back. */
	deliver(s.w, &s.q, not_key, "a", NULL, NULL, false);
	struct txn_meta held;
	struct txn_store st1 = store_of(s.w, 1);
	assert_int_equal(txn_shard_intent(&st1, bytes_of("a"), &held, NULL), GROVE_OK);
	assert_int_equal(held.seq, 1u);
	assert_int_equal(hlc_cmp(held.ts, second.ts), 0);
	txn_coord_destroy(s.c);
	s.w->now += 2 * EXPIRY;
	assert_int_equal(recover_intent(s.w, 2, "b"), TXN_RECOVER_ABORTED);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_ABORTED);
	assert_false(has_intent(s.w, 1, "a"));
	assert_int_equal(read_at(s.w, 1, "a", far_future(), val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "");
	drop_all(&s.q);
	world_free(s.w);
}

/* A write of an earlier attempt delivered after the retry's does not undo it. */
static void test_stale_attempt_ignored(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	char val[64];
	/* Keep copies of attempt 1 to deliver late. */
	struct queue old = {0};
	for (size_t i = 0; i < s.q.n; i++) {
		old.items[old.n] = s.q.items[i];
		old.items[old.n].bytes = malloc(s.q.items[i].len);
		memcpy(old.items[old.n++].bytes, s.q.items[i].bytes, s.q.items[i].len);
	}
	assert_int_equal(read_at(s.w, 2, "b", (struct hlc_ts){s.meta.ts.wall + 1, 0}, val, NULL), TXN_R_VALUE);
	deliver(s.w, &s.q, any, NULL, s.c, NULL, false);
	take_coord(s.c, &s.q, &s.v);
	assert_int_equal(txn_coord_retry(s.c, s.w->now, false), GROVE_OK);
	take_coord(s.c, &s.q, &s.v);
	deliver(s.w, &s.q, any, NULL, s.c, NULL, false);
	take_coord(s.c, &s.q, &s.v);
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	/* Attempt 1 again, all of it, before the explicit commit: STALE everywhere, the record stays. */
	for (size_t i = 0; i < old.n; i++) {
		struct txn_cmd cmd;
		struct txn_result res;
		apply_encoded(s.w, old.items[i].shard, old.items[i].bytes, old.items[i].len, &cmd, &res);
		assert_int_equal(res.code, TXN_R_STALE);
		txn_cmd_release(&cmd);
		txn_result_free(&res);
	}
	drop_all(&old);
	struct txn_meta held;
	struct txn_store st1 = store_of(s.w, 1);
	assert_int_equal(txn_shard_intent(&st1, bytes_of("a"), &held, NULL), GROVE_OK);
	assert_int_equal(held.seq, 2u);
	run_coord_keeping_record(s.w, s.c, &s.q, &s.v);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_COMMITTED);
	drop_all(&s.q);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/* Every command of a whole transaction delivered twice: the second application changes nothing. */
static void test_duplicates_idempotent(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct txn_coord *c = two_shard_txn(w, "v1");
	uint64_t id = txn_coord_meta(c)->id;
	struct queue q = {0};
	struct coord_view v = {0};
	for (int round = 0; round < 20 && !v.done; round++) {
		take_coord(c, &q, &v);
		deliver(w, &q, any, NULL, c, NULL, true);
	}
	assert_true(v.done);
	assert_int_equal(v.outcomes, 1);
	assert_int_equal(v.outcome, TXN_COMMITTED);
	assert_int_equal(record_status(w, id), TXN_COMMITTED);
	assert_int_equal(stores_count(w->stores, 1, TXN_TABLE_RESOLVED), 1); /* forgotten, twice */
	/* And each command applied twice answers the same both times. */
	struct txn_meta m = {.id = 99, .anchor = 3, .seq = 1, .ts = {5, 0}, .start = {5, 0}};
	struct txn_write_ref ref = {3, 1, bytes_of("z")};
	struct txn_cmd cmds[] = {
		{.type = TXN_CMD_WRITE_INTENT, .txn = m, .key = bytes_of("z"), .value = bytes_of("x")},
		{.type = TXN_CMD_HEARTBEAT, .txn = m, .heartbeat = 7},
		{.type = TXN_CMD_STAGE, .txn = m, .writes = &ref, .n_writes = 1, .heartbeat = 7},
		{.type = TXN_CMD_QUERY_INTENT, .txn = m, .key = bytes_of("z")},
		{.type = TXN_CMD_FINALIZE, .txn = m, .status = TXN_COMMITTED, .expect = TXN_EXPECT_STAGING},
		{.type = TXN_CMD_RESOLVE, .txn = m, .status = TXN_COMMITTED, .key = bytes_of("z")},
		{.type = TXN_CMD_READ, .key = bytes_of("z"), .at = {6, 0}},
		{.type = TXN_CMD_GC, .at = {1, 0}},
	};
	enum txn_result_code first[] = {TXN_R_WRITTEN, TXN_R_OK, TXN_R_OK, TXN_R_FOUND,
					TXN_R_OK, TXN_R_OK, TXN_R_VALUE, TXN_R_OK};
	enum txn_result_code again[] = {TXN_R_WRITTEN, TXN_R_OK, TXN_R_OK, TXN_R_FOUND,
					TXN_R_REFUSED, TXN_R_OK, TXN_R_VALUE, TXN_R_OK};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct txn_result a, b;
		apply_cmd(w, 3, &cmds[i], &a);
		apply_cmd(w, 3, &cmds[i], &b);
		assert_int_equal(a.code, first[i]);
		/* A FINALIZE that applied is refused the second time, with the same final record. */
		assert_int_equal(b.code, again[i]);
		assert_int_equal(hlc_cmp(a.ts, b.ts), 0);
		assert_int_equal(a.record.status, b.record.status);
		assert_int_equal(a.found, b.found);
		txn_result_free(&a);
		txn_result_free(&b);
	}
	assert_int_equal(stores_count(w->stores, 3, TXN_TABLE_VERSIONS), 1);
	assert_int_equal(stores_count(w->stores, 3, TXN_TABLE_INTENTS), 0);
	txn_coord_destroy(c);
	world_free(w);
}

/* Transaction A, whose intents on "a" and "b" landed; its STAGING record is still in qa. */
static struct txn_coord *holding_a_and_b(struct world *w, struct queue *qa, struct coord_view *va)
{
	struct txn_coord *a = two_shard_txn(w, "A");
	take_coord(a, qa, va);
	enum txn_cmd_type intents = TXN_CMD_WRITE_INTENT;
	deliver(w, qa, of_kind, &intents, a, NULL, false);
	return a;
}

/* Transaction "B" over the keys that @p a holds, its writes sent and blocked by @p a. */
static struct txn_coord *blocked_by(struct world *w, struct txn_coord *a, struct queue *qb, struct coord_view *vb)
{
	struct txn_coord *b = two_shard_txn(w, "B");
	take_coord(b, qb, vb);
	deliver(w, qb, any, NULL, b, NULL, false);
	take_coord(b, qb, vb);
	assert_true(vb->blocked);
	assert_int_equal(vb->blocker.id, txn_coord_meta(a)->id);
	return b;
}

/* A transaction's write meets another's intent: blocked until the other is resolved, then it lands. */
static void test_blocked_write(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct queue qa = {0}, qb = {0};
	struct coord_view va = {0}, vb = {0};
	struct txn_coord *a = holding_a_and_b(w, &qa, &va);
	struct txn_coord *b = blocked_by(w, a, &qb, &vb);
	assert_true((vb.blocked_shard == 1 && strcmp(vb.blocked_key, "a") == 0) ||
		    (vb.blocked_shard == 2 && strcmp(vb.blocked_key, "b") == 0));
	/* A finishes; B's next retransmission lands above A's version. */
	run_coord(w, a, &qa, &va);
	assert_int_equal(va.outcome, TXN_COMMITTED);
	run_coord(w, b, &qb, &vb);
	assert_int_equal(vb.outcome, TXN_COMMITTED);
	assert_true(hlc_cmp(vb.commit_ts, va.commit_ts) > 0);
	char val[64];
	assert_int_equal(read_at(w, 2, "b", far_future(), val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "B");
	assert_int_equal(read_at(w, 2, "b", va.commit_ts, val, NULL), TXN_R_VALUE);
	assert_string_equal(val, "A");
	txn_coord_destroy(a);
	txn_coord_destroy(b);
	world_free(w);
}

/* How many held messages of q are of @p type. */
static size_t count_kind(const struct queue *q, enum txn_cmd_type type)
{
	size_t n = 0;
	for (size_t i = 0; i < q->n; i++) {
		struct txn_cmd cmd;
		assert_int_equal(txn_cmd_decode(q->items[i].bytes, q->items[i].len, &cmd, NULL), GROVE_OK);
		n += cmd.type == type;
		txn_cmd_release(&cmd);
	}
	return n;
}

/*
 * Advance time 1 ms at a time until c (or r) sends a command of @p type again, dropping everything it sends
 * (lost); return how long that took, in ms, or 0 if nothing came within @p limit_ms.
 */
static uint64_t until_resent(struct world *w, struct txn_coord *c, struct txn_recover *r, enum txn_cmd_type type,
			     uint64_t limit_ms)
{
	struct queue q = {0};
	struct coord_view cv = {0};
	struct recover_view rv = {0};
	for (uint64_t ms = 1; ms <= limit_ms; ms++) {
		w->now += MS;
		if (c) {
			assert_int_equal(txn_coord_tick(c, w->now), GROVE_OK);
			take_coord(c, &q, &cv);
		} else {
			assert_int_equal(txn_recover_tick(r, w->now), GROVE_OK);
			take_recover(r, &q, &rv);
		}
		size_t n = count_kind(&q, type);
		drop_all(&q);
		if (n)
			return ms;
	}
	return 0;
}

/* c (or r) sends a command of @p type again after each of the @p n waits in turn, in ms, nothing answered. */
static void expect_resends(struct world *w, struct txn_coord *c, struct txn_recover *r, enum txn_cmd_type type,
			   const uint64_t *waits, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(until_resent(w, c, r, type, 100), waits[i]);
}

/*
 * Unanswered commands go again after the retry interval, then after twice as long each time up to the
 * ceiling, so that a shard that cannot commit is not sent a copy of every command each interval for as long
 * as that lasts; a coordinator that moves on, or hears an answer, starts again at the interval.
 */
static void test_resends_back_off(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct txn_coord_config cfg = coord_config(w);
	cfg.retry_max_ns = 20 * MS; /* retry_interval_ns is 5 ms */
	struct txn_coord *c;
	assert_int_equal(txn_coord_create(&cfg, &w->clock, w->now, &c), GROVE_OK);
	assert_int_equal(txn_coord_put(c, 1, "a", 1, "A", 1), GROVE_OK);
	assert_int_equal(txn_coord_put(c, 2, "b", 1, "A", 1), GROVE_OK);
	assert_int_equal(txn_coord_commit(c, w->now), GROVE_OK);
	struct queue q = {0};
	struct coord_view v = {0};
	take_coord(c, &q, &v);
	assert_int_equal(count_kind(&q, TXN_CMD_WRITE_INTENT), 2);
	drop_all(&q);
	static const uint64_t doubling[] = {5, 10, 20, 20, 20};
	expect_resends(w, c, NULL, TXN_CMD_WRITE_INTENT, doubling, 5);
	/* The next copies arrive but b's: an answer, so b's next copy goes after the interval again. */
	w->now += 20 * MS;
	assert_int_equal(txn_coord_tick(c, w->now), GROVE_OK);
	take_coord(c, &q, &v);
	assert_true(deliver(w, &q, not_key, "b", c, NULL, false) >= 2); /* a's intent, the STAGE, a heartbeat */
	drop_all(&q);
	assert_int_equal(txn_coord_phase(c), TXN_COORD_WRITING);
	assert_int_equal(until_resent(w, c, NULL, TXN_CMD_WRITE_INTENT, 100), 5);
	/* b's next copy arrives: acknowledged, it finalizes, and the FINALIZE goes again after the interval. */
	w->now += 10 * MS;
	assert_int_equal(txn_coord_tick(c, w->now), GROVE_OK);
	take_coord(c, &q, &v);
	deliver(w, &q, any, NULL, c, NULL, false);
	take_coord(c, &q, &v);
	assert_int_equal(v.outcome, TXN_COMMITTED);
	assert_int_equal(txn_coord_phase(c), TXN_COORD_FINALIZING);
	drop_all(&q);
	expect_resends(w, c, NULL, TXN_CMD_FINALIZE, doubling, 2);
	struct txn_meta txn = *txn_coord_meta(c);
	txn_coord_destroy(c);

	/* A status recovery's push backs off the same way (nothing is delivered); without a ceiling the wait
	 * stays the interval. */
	for (int ceiling = 0; ceiling < 2; ceiling++) {
		struct txn_recover_config rc = {.expiry_ns = EXPIRY, .retry_interval_ns = 5 * MS,
						.retry_max_ns = ceiling ? 40 * MS : 0};
		struct txn_recover *r;
		assert_int_equal(txn_recover_create(&rc, &w->clock, w->now, &txn, 0, NULL, 0, &r), GROVE_OK);
		struct recover_view rv = {0};
		take_recover(r, &q, &rv);
		assert_int_equal(count_kind(&q, TXN_CMD_FINALIZE), 1);
		drop_all(&q);
		static const uint64_t backing_off[] = {5, 10, 20, 40, 40}, steady[] = {5, 5, 5, 5, 5};
		expect_resends(w, NULL, r, TXN_CMD_FINALIZE, ceiling ? backing_off : steady, 5);
		txn_recover_destroy(r);
	}
	world_free(w);
}

/* A blocked write goes again as soon as the intent in its way is resolved, not at the next retransmission. */
static void test_unblocked_write_goes_at_once(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct queue qa = {0}, qb = {0};
	struct coord_view va = {0}, vb = {0};
	struct txn_coord *a = holding_a_and_b(w, &qa, &va);
	struct txn_coord *b = blocked_by(w, a, &qb, &vb); /* on both shards: A holds a and b */
	assert_false(txn_coord_has_ready(b));
	/* A's writes land and are resolved without the clock moving: B has nothing to send until told. */
	enum txn_cmd_type kinds[] = {TXN_CMD_STAGE, TXN_CMD_FINALIZE, TXN_CMD_RESOLVE};
	for (int round = 0; round < 10 && (has_intent(w, 1, "a") || has_intent(w, 2, "b")); round++) {
		take_coord(a, &qa, &va);
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			deliver(w, &qa, of_kind, &kinds[k], a, NULL, false);
	}
	assert_int_equal(va.outcome, TXN_COMMITTED);
	assert_false(has_intent(w, 1, "a") || has_intent(w, 2, "b"));
	assert_false(txn_coord_has_ready(b));
	uint64_t a_id = txn_coord_meta(a)->id;
	assert_int_equal(txn_coord_unblocked(b, 1, a_id + 1), GROVE_OK); /* another transaction's intent: nothing */
	assert_false(txn_coord_has_ready(b));
	assert_int_equal(txn_coord_unblocked(b, 1, a_id), GROVE_OK);
	assert_true(txn_coord_has_ready(b));
	assert_int_equal(txn_coord_unblocked(b, 2, a_id), GROVE_OK);
	for (int round = 0; round < 10 && vb.outcome == TXN_NONE; round++) {
		take_coord(b, &qb, &vb);
		deliver(w, &qb, any, NULL, b, NULL, false);
	}
	assert_int_equal(vb.outcome, TXN_COMMITTED);
	assert_true(hlc_cmp(vb.commit_ts, va.commit_ts) > 0);
	txn_coord_destroy(a);
	txn_coord_destroy(b);
	drop_all(&qa);
	drop_all(&qb);
	world_free(w);
}

/* Blocked for longer than block_timeout: the coordinator rolls back, preventing its missing intent. */
static void test_blocked_then_rollback(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct queue qa = {0}, qb = {0};
	struct coord_view va = {0}, vb = {0};
	struct txn_coord *a = holding_a_and_b(w, &qa, &va);
	drop_all(&qa);
	struct txn_coord *b = two_shard_txn(w, "B");
	uint64_t b_id = txn_coord_meta(b)->id;
	run_coord(w, b, &qb, &vb);
	assert_true(vb.done);
	assert_int_equal(vb.outcome, TXN_ABORTED);
	assert_int_equal(record_status(w, b_id), TXN_ABORTED); /* aborted: collected by the next GC above it */
	/* The keys still hold A's intents, none of B's. */
	struct txn_meta held;
	struct txn_store st1 = store_of(w, 1), st2 = store_of(w, 2);
	assert_int_equal(txn_shard_intent(&st1, bytes_of("a"), &held, NULL), GROVE_OK);
	assert_int_equal(held.id, txn_coord_meta(a)->id);
	assert_int_equal(txn_shard_intent(&st2, bytes_of("b"), &held, NULL), GROVE_OK);
	assert_int_equal(held.id, txn_coord_meta(a)->id);
	txn_coord_destroy(a);
	txn_coord_destroy(b);
	world_free(w);
}

/* The low-water mark: a write below it is pushed, and the finished markers it covers are forgotten, so a
 * late intent of a forgotten transaction lands above the mark and a recovery removes it. */
static void test_gc_low_water_mark(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	struct held late = {s.q.items[0].shard, malloc(s.q.items[0].len), s.q.items[0].len};
	memcpy(late.bytes, s.q.items[0].bytes, late.len);
	run_coord(s.w, s.c, &s.q, &s.v);
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	struct txn_cmd gc = {.type = TXN_CMD_GC, .at = {s.meta.ts.wall + 100, 0}};
	struct txn_result res;
	for (uint64_t shard = 1; shard <= 2; shard++) {
		apply_cmd(s.w, shard, &gc, &res);
		assert_int_equal(res.code, TXN_R_OK);
		assert_int_equal(stores_count(s.w->stores, shard, TXN_TABLE_FINISHED), 0);
		assert_int_equal(stores_count(s.w->stores, shard, TXN_TABLE_TSCACHE), 0);
		txn_result_free(&res);
	}
	struct txn_cmd cmd;
	apply_encoded(s.w, late.shard, late.bytes, late.len, &cmd, &res);
	assert_int_equal(res.code, TXN_R_WRITTEN);
	assert_true(hlc_cmp(res.ts, gc.at) > 0);
	txn_cmd_release(&cmd);
	txn_result_free(&res);
	free(late.bytes);
	uint64_t shard = late.shard;
	const char *key = shard == 1 ? "a" : "b";
	/*
	 * Its record was collected too (COMMITTED, every intent resolved, at or below the mark): the transaction
	 * began below the mark, so no record can be made for it again, and a recovery aborts it at once, which
	 * removes the late intent and nothing else.
	 */
	assert_int_equal(record_status(s.w, s.meta.id), TXN_NONE);
	assert_int_equal(recover_intent(s.w, shard, key), TXN_RECOVER_ABORTED);
	assert_false(has_intent(s.w, shard, key));
	char val[64];
	struct hlc_ts vts;
	assert_int_equal(read_at(s.w, shard, key, far_future(), val, &vts), TXN_R_VALUE);
	assert_int_equal(hlc_cmp(vts, s.meta.ts), 0); /* still the one version, at the commit timestamp */
	assert_int_equal(stores_count(s.w->stores, shard, TXN_TABLE_VERSIONS), 1);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/* Apply @p cmd (built here) to shard 1 and return its result code; the record it answered with in @p status. */
static enum txn_result_code apply_on_anchor(struct world *w, const struct txn_cmd *cmd, enum txn_status *status)
{
	struct txn_result res;
	apply_cmd(w, 1, cmd, &res);
	enum txn_result_code code = res.code;
	*status = res.has_record ? res.record.status : TXN_NONE;
	txn_result_free(&res);
	return code;
}

/*
 * A GC collects a final record at or below its mark: an ABORTED one as it is, a COMMITTED one only once a
 * FORGET said every intent of it was resolved (a recovery must still find it COMMITTED until then).
 */
static void test_records_collected(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	run_coord_keeping_record(s.w, s.c, &s.q, &s.v);
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	struct txn_store st = store_of(s.w, 1);
	struct txn_record rec;
	uint64_t id;
	bool waits;
	assert_int_equal(txn_shard_next_record(&st, 0, &id, &rec, &waits), GROVE_OK);
	assert_int_equal(id, s.meta.id);
	assert_int_equal(rec.status, TXN_COMMITTED);
	assert_true(waits); /* for its FORGET */
	txn_record_free(&rec);
	collect(s.w, 1, s.meta.ts);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_COMMITTED); /* kept: no FORGET yet */
	run_coord(s.w, s.c, &s.q, &s.v);
	assert_true(s.v.done);
	assert_int_equal(txn_shard_next_record(&st, 0, &id, &rec, &waits), GROVE_OK);
	assert_false(waits);
	txn_record_free(&rec);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_COMMITTED); /* noted; the mark already passed it */
	collect(s.w, 1, s.meta.ts);
	assert_int_equal(record_status(s.w, s.meta.id), TXN_NONE);
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_RESOLVED), 0);
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_RECORDS), 0);

	/* An ABORTED record (a push of a transaction that wrote none) needs no FORGET. */
	struct txn_meta pushed = {.id = 77, .anchor = 1, .seq = 1, .ts = {s.w->now, 0}, .start = {s.w->now, 0}};
	struct txn_cmd push = {.type = TXN_CMD_FINALIZE, .txn = pushed, .status = TXN_ABORTED,
			       .expect = TXN_EXPECT_UNSTAGED, .expiry_cutoff = s.w->now};
	enum txn_status status;
	assert_int_equal(apply_on_anchor(s.w, &push, &status), TXN_R_OK);
	assert_int_equal(status, TXN_ABORTED);
	assert_int_equal(txn_shard_next_record(&st, 0, &id, &rec, &waits), GROVE_OK);
	assert_false(waits); /* nothing to wait for */
	txn_record_free(&rec);
	assert_int_equal(txn_shard_next_record(&st, id, &id, &rec, &waits), GROVE_ENOTFOUND);
	collect(s.w, 1, pushed.ts);
	assert_int_equal(record_status(s.w, pushed.id), TXN_NONE);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/*
 * A transaction that began at or below the mark can no longer make a record: its STAGE, its HEARTBEAT and a
 * push (whatever its age) are answered FORGOTTEN with an ABORTED record, and nothing is stored (its outcome
 * may have been COMMITTED before its record was collected). One that began above the mark stages.
 */
static void test_no_record_at_or_below_mark(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct hlc_ts mark = {w->now, 0};
	collect(w, 1, mark); /* the mark is just above it */
	struct txn_write_ref ref = {1, 1, bytes_of("a")};
	struct txn_meta old = {.id = 1, .anchor = 1, .seq = 1, .ts = txn_ts_next(mark), .start = mark};
	struct txn_cmd stage = {.type = TXN_CMD_STAGE, .txn = old, .writes = &ref, .n_writes = 1, .heartbeat = w->now};
	enum txn_status status;
	assert_int_equal(apply_on_anchor(w, &stage, &status), TXN_R_FORGOTTEN);
	assert_int_equal(status, TXN_ABORTED);
	assert_int_equal(record_status(w, 1), TXN_NONE);
	assert_int_equal(apply_on_anchor(w, &stage, &status), TXN_R_FORGOTTEN); /* and again, the same */

	old.id = 2;
	struct txn_cmd beat = {.type = TXN_CMD_HEARTBEAT, .txn = old, .heartbeat = w->now};
	assert_int_equal(apply_on_anchor(w, &beat, &status), TXN_R_FORGOTTEN);
	assert_int_equal(status, TXN_ABORTED);

	old.id = 3;
	struct txn_cmd push = {.type = TXN_CMD_FINALIZE, .txn = old, .status = TXN_ABORTED,
			       .expect = TXN_EXPECT_UNSTAGED, .expiry_cutoff = 0}; /* young by the pusher's clock */
	assert_int_equal(apply_on_anchor(w, &push, &status), TXN_R_FORGOTTEN);
	assert_int_equal(status, TXN_ABORTED);
	assert_int_equal(stores_count(w->stores, 1, TXN_TABLE_RECORDS), 0);

	struct txn_meta young = {.id = 4, .anchor = 1, .seq = 1, .ts = {w->now + 1, 0}, .start = {w->now + 1, 0}};
	stage.txn = young;
	assert_int_equal(apply_on_anchor(w, &stage, &status), TXN_R_OK);
	assert_int_equal(status, TXN_STAGING);
	world_free(w);
}

/*
 * The scene's transaction was committed by a status recovery, its intents resolved and its record collected
 * while its coordinator did not hear of it; the coordinator then goes on until it is done.
 */
static void recover_and_collect_behind_the_coordinator(struct scene *s)
{
	s->w->now += 2 * EXPIRY;
	assert_int_equal(recover_intent(s->w, 2, "b"), TXN_RECOVER_COMMITTED);
	collect(s->w, 1, s->meta.ts);
	collect(s->w, 2, s->meta.ts);
	assert_int_equal(record_status(s->w, s->meta.id), TXN_NONE);
	assert_int_equal(txn_coord_tick(s->c, s->w->now), GROVE_OK); /* what it had not heard of, again */
	run_coord(s->w, s->c, &s->q, &s->v);
	assert_true(s->v.done);
	assert_int_equal(s->v.outcomes, 1);
}

/* Both writes of the scene's transaction are there at its timestamp, and no intent of it is left. */
static void expect_committed_at_ts(struct scene *s)
{
	char val[64];
	struct hlc_ts vts;
	assert_int_equal(read_at(s->w, 1, "a", far_future(), val, &vts), TXN_R_VALUE);
	assert_string_equal(val, "v1");
	assert_int_equal(hlc_cmp(vts, s->meta.ts), 0);
	assert_int_equal(read_at(s->w, 2, "b", far_future(), val, &vts), TXN_R_VALUE);
	assert_string_equal(val, "v1");
	assert_false(has_intent(s->w, 1, "a"));
	assert_false(has_intent(s->w, 2, "b"));
}

/*
 * A coordinator silent from its acknowledgement until its record was committed by a recovery, resolved and
 * collected: its explicit commit finds no record and its heartbeat is answered FORGOTTEN (it began below the
 * mark), and it takes both for what they are, the commit it acknowledged. Nothing it then does undoes a write.
 */
static void test_coordinator_silent_through_collection(void **state)
{
	(void)state;
	struct scene s;
	begin_acknowledged(&s, "v1"); /* its FINALIZE and early resolutions held */
	recover_and_collect_behind_the_coordinator(&s); /* a heartbeat and the FINALIZE again */
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	expect_committed_at_ts(&s);
	collect(s.w, 1, (struct hlc_ts){s.w->now, 0});
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_RECORDS), 0);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/*
 * A coordinator that never heard back from its attempt (every answer lost) while a status recovery committed
 * it, resolved its intents and saw its record collected: its retried STAGE is answered FORGOTTEN, and it
 * cannot tell COMMITTED from ABORTED, so it reports the outcome as not known, never as aborted. Its late
 * intents are resolved away; the committed values stay.
 */
static void test_coordinator_unanswered_through_collection(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	assert_int_equal(deliver(s.w, &s.q, any, NULL, NULL, NULL, false), 3); /* landed; the answers lost */
	recover_and_collect_behind_the_coordinator(&s); /* the intents and the STAGE again */
	assert_int_equal(s.v.outcome, TXN_ABORTED);
	assert_true(s.v.unknown);
	expect_committed_at_ts(&s);
	txn_coord_destroy(s.c);
	world_free(s.w);
}

/*
 * The versions below the mark: all but the newest of each key are dropped, which a write is still checked
 * against; a read at or below the mark is answered GONE, one above it as before.
 */
static void test_gc_prunes_versions(void **state)
{
	(void)state;
	struct scene s;
	begin_two_shard(&s, "v1");
	run_coord(s.w, s.c, &s.q, &s.v);
	assert_int_equal(s.v.outcome, TXN_COMMITTED);
	struct hlc_ts first = s.meta.ts;
	txn_coord_destroy(s.c);
	const char *const values[] = {"v2", "v3"};
	struct hlc_ts last = first;
	for (int i = 0; i < 2; i++) {
		s.w->now += 10 * MS;
		struct txn_coord *c = two_shard_txn(s.w, values[i]);
		struct coord_view v = {0};
		struct queue q = {0};
		last = txn_coord_meta(c)->ts;
		run_coord(s.w, c, &q, &v);
		assert_int_equal(v.outcome, TXN_COMMITTED);
		txn_coord_destroy(c);
	}
	assert_int_equal(stores_count(s.w->stores, 1, TXN_TABLE_VERSIONS), 3);
	/* A mark between the second and third versions: the first goes, the second stays under the third. */
	struct txn_cmd gc = {.type = TXN_CMD_GC, .at = {last.wall - 1, 0}};
	struct txn_result res;
	for (uint64_t shard = 1; shard <= 2; shard++) {
		apply_cmd(s.w, shard, &gc, &res);
		assert_int_equal(res.code, TXN_R_OK);
		assert_int_equal(stores_count(s.w->stores, shard, TXN_TABLE_VERSIONS), 2);
		txn_result_free(&res);
	}
	char val[64];
	struct hlc_ts vts;
	assert_int_equal(read_at(s.w, 1, "a", first, val, &vts), TXN_R_GONE);
	assert_int_equal(read_at(s.w, 1, "a", gc.at, val, &vts), TXN_R_GONE);
	assert_int_equal(read_at(s.w, 1, "a", far_future(), val, &vts), TXN_R_VALUE);
	assert_string_equal(val, "v3");
	assert_int_equal(hlc_cmp(vts, last), 0);
	/* A mark above them all: the newest stays; a lower mark changes nothing. */
	gc.at = far_future();
	apply_cmd(s.w, 2, &gc, &res);
	txn_result_free(&res);
	gc.at = first;
	apply_cmd(s.w, 2, &gc, &res);
	txn_result_free(&res);
	assert_int_equal(stores_count(s.w->stores, 2, TXN_TABLE_VERSIONS), 1);
	struct txn_store st2 = store_of(s.w, 2);
	struct hlc_ts lwm;
	assert_int_equal(txn_shard_lwm(&st2, &lwm), GROVE_OK);
	assert_int_equal(hlc_cmp(lwm, far_future()), 0);
	world_free(s.w);
}

static int decode_cmd(const uint8_t *data, size_t len)
{
	struct txn_cmd cmd;
	const char *why = NULL;
	int err = txn_cmd_decode(data, len, &cmd, &why);
	if (err)
		assert_non_null(why);
	txn_cmd_release(&cmd);
	return err;
}

static void test_malformed_refused(void **state)
{
	(void)state;
	struct txn_meta m = {.id = 7, .anchor = 1, .seq = 1, .ts = {5, 1}, .start = {5, 1}};
	struct txn_write_ref refs[2] = {{1, 1, bytes_of("k1")}, {2, 1, bytes_of("k2")}};
	struct txn_cmd stage = {.type = TXN_CMD_STAGE, .txn = m, .writes = refs, .n_writes = 2, .heartbeat = 9};
	uint8_t *bytes;
	size_t len;
	assert_int_equal(txn_cmd_encode(&stage, &bytes, &len), GROVE_OK);
	assert_int_equal(decode_cmd(bytes, len), GROVE_OK);
	/* Every truncation is refused. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(decode_cmd(bytes, cut), GROVE_ECORRUPT);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, bytes, len);
	longer[len] = 0;
	assert_int_equal(decode_cmd(longer, len + 1), GROVE_ECORRUPT); /* a byte after the end */
	longer[0] = 2;
	assert_int_equal(decode_cmd(longer, len), GROVE_EINVAL); /* a version this build does not read */
	longer[0] = 1;
	longer[1] = 42;
	assert_int_equal(decode_cmd(longer, len), GROVE_ECORRUPT); /* an unknown kind */
	longer[1] = TXN_CMD_STAGE;
	/* A count far beyond what the bytes could hold: refused before any allocation. */
	size_t count_at = 2 + 48 + 8;
	longer[count_at + 3] = 0x7f;
	assert_int_equal(decode_cmd(longer, len), GROVE_ECORRUPT);
	free(longer);
	free(bytes);
	/* Things encode refuses, and decode refuses when another encoder wrote them. */
	struct txn_cmd bad[] = {
		{.type = TXN_CMD_WRITE_INTENT, .txn = m, .key = {NULL, 0}},
		{.type = TXN_CMD_WRITE_INTENT, .txn = {.seq = 1}, .key = bytes_of("k")},
		{.type = TXN_CMD_FINALIZE, .txn = m, .status = TXN_STAGING, .expect = TXN_EXPECT_STAGING},
		{.type = TXN_CMD_FINALIZE, .txn = m, .status = TXN_COMMITTED, .expect = TXN_EXPECT_UNSTAGED},
		{.type = TXN_CMD_STAGE, .txn = m, .n_writes = 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(txn_cmd_encode(&bad[i], &bytes, &len), GROVE_EINVAL);
		assert_null(bytes);
		struct world *w = world_new();
		struct txn_store st = store_of(w, 1);
		struct txn_result res;
		assert_int_equal(stores_applied(w->stores, txn_shard_apply(&st, &bad[i], &res)), GROVE_EINVAL);
		for (int table = 0; table < TXN_TABLE_COUNT; table++)
			assert_int_equal(stores_count(w->stores, 1, (enum txn_table)table), 0);
		world_free(w);
	}
	/* A finalize whose status byte is out of range, written by hand. */
	struct txn_cmd fin = {.type = TXN_CMD_FINALIZE, .txn = m, .status = TXN_ABORTED, .expect = TXN_EXPECT_STAGING};
	assert_int_equal(txn_cmd_encode(&fin, &bytes, &len), GROVE_OK);
	bytes[2 + 48] = 9;
	assert_int_equal(decode_cmd(bytes, len), GROVE_ECORRUPT);
	free(bytes);
	/* Results: a record with a bad status, flags that do not fit the code. */
	struct txn_result res = {.code = TXN_R_REFUSED, .has_record = true, .record = {.status = TXN_STAGING}};
	assert_int_equal(txn_result_encode(&res, &bytes, &len), GROVE_OK);
	struct txn_result back;
	assert_int_equal(txn_result_decode(bytes, len, &back, NULL), GROVE_OK);
	txn_result_free(&back);
	bytes[2] |= 1; /* "other follows" on a REFUSED */
	assert_int_equal(txn_result_decode(bytes, len, &back, NULL), GROVE_ECORRUPT);
	bytes[2] &= (uint8_t)~1;
	bytes[3 + 12] = 77; /* the record's status */
	assert_int_equal(txn_result_decode(bytes, len, &back, NULL), GROVE_ECORRUPT);
	free(bytes);
}

/* ---- the LMDB backend itself: groups sharing one environment, snapshots, nested transactions ---- */

struct lmdb_env {
	char *dir;
	struct store *store;
	struct txn_lmdbstore_tables tables;
};

static void lmdb_env_open(struct lmdb_env *e)
{
	e->dir = test_tmpdir("txnstore");
	struct store_options opts = {.no_sync = true}; /* nothing here needs to survive a crash */
	assert_int_equal(store_open(&e->store, e->dir, &opts), GROVE_OK);
	assert_int_equal(txn_lmdbstore_open(e->store, &e->tables), GROVE_OK);
}

static struct store_txn *begin(const struct lmdb_env *e, bool write)
{
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(e->store, NULL, write, &txn), GROVE_OK);
	return txn;
}

static void lmdb_env_close(struct lmdb_env *e)
{
	store_close(e->store);
	test_rmtree(e->dir);
}

static struct txn_store bind(struct txn_lmdbstore *b, const struct lmdb_env *e, uint64_t group, struct store_txn *txn)
{
	*b = (struct txn_lmdbstore){&e->tables, group, txn};
	return txn_lmdbstore_store(b);
}

static void apply_ok(const struct txn_store *st, const struct txn_cmd *cmd)
{
	struct txn_result res;
	assert_int_equal(txn_shard_apply(st, cmd, &res), GROVE_OK);
	txn_result_free(&res);
}

/* Commands that leave an entry in each of the seven tables: txn 99 committed on "z" (a version, a record, a
 * finished marker), txn 100 staged with its intent on "y", txn 101 resolved early on "w" (an early
 * resolution), a read of "x" (a timestamp cache entry) and a GC far below everything (the low-water mark). */
static void fill_every_table(const struct txn_store *st)
{
	struct txn_meta done = {.id = 99, .anchor = 1, .seq = 1, .ts = {50, 0}, .start = {50, 0}};
	struct txn_meta open = {.id = 100, .anchor = 1, .seq = 1, .ts = {60, 0}, .start = {60, 0}};
	struct txn_meta early = {.id = 101, .anchor = 1, .seq = 1, .ts = {65, 0}, .start = {65, 0}};
	struct txn_write_ref done_ref = {1, 1, bytes_of("z")}, open_ref = {1, 1, bytes_of("y")};
	struct txn_write_ref early_ref = {1, 1, bytes_of("w")};
	const struct txn_cmd cmds[] = {
		{.type = TXN_CMD_WRITE_INTENT, .txn = done, .key = bytes_of("z"), .value = bytes_of("zv")},
		{.type = TXN_CMD_STAGE, .txn = done, .writes = &done_ref, .n_writes = 1, .heartbeat = 51},
		{.type = TXN_CMD_FINALIZE, .txn = done, .status = TXN_COMMITTED, .expect = TXN_EXPECT_STAGING},
		{.type = TXN_CMD_RESOLVE, .txn = done, .status = TXN_COMMITTED, .key = bytes_of("z")},
		{.type = TXN_CMD_FORGET, .txn = done},
		{.type = TXN_CMD_WRITE_INTENT, .txn = open, .key = bytes_of("y"), .value = bytes_of("yv")},
		{.type = TXN_CMD_STAGE, .txn = open, .writes = &open_ref, .n_writes = 1, .heartbeat = 61},
		{.type = TXN_CMD_WRITE_INTENT, .txn = early, .key = bytes_of("w"), .value = bytes_of("wv")},
		{.type = TXN_CMD_STAGE, .txn = early, .writes = &early_ref, .n_writes = 1, .heartbeat = 66},
		{.type = TXN_CMD_RESOLVE, .txn = early, .status = TXN_STAGING, .key = bytes_of("w")},
		{.type = TXN_CMD_READ, .key = bytes_of("x"), .at = {70, 0}},
		{.type = TXN_CMD_GC, .at = {1, 0}},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		apply_ok(st, &cmds[i]);
}

/* A group's records as txn_lmdbstore_dump() hands them out, copied. */
struct dumped {
	unsigned table[64];
	uint8_t key[64][STORE_KEY_MAX];
	size_t key_len[64];
	uint8_t val[64][256];
	size_t val_len[64];
	size_t n;
	size_t per_table[TXN_TABLE_COUNT];
};

static int keep_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct dumped *d = ctx;
	assert_true(d->n < 64 && table < TXN_TABLE_COUNT && key_len <= STORE_KEY_MAX && val_len <= 256);
	d->table[d->n] = table;
	memcpy(d->key[d->n], key, key_len);
	d->key_len[d->n] = key_len;
	memcpy(d->val[d->n], val, val_len);
	d->val_len[d->n] = val_len;
	d->n++;
	d->per_table[table]++;
	return 0;
}

static struct dumped *dump_group(const struct lmdb_env *e, struct store_txn *txn, uint64_t group)
{
	struct dumped *d = calloc(1, sizeof(*d));
	assert_int_equal(txn_lmdbstore_dump(&e->tables, txn, group, keep_record, d), GROVE_OK);
	return d;
}

static void assert_same_records(const struct dumped *a, const struct dumped *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->table[i], b->table[i]);
		assert_int_equal(a->key_len[i], b->key_len[i]);
		assert_memory_equal(a->key[i], b->key[i], a->key_len[i]);
		assert_int_equal(a->val_len[i], b->val_len[i]);
		assert_memory_equal(a->val[i], b->val[i], a->val_len[i]);
	}
}

/* Neighbouring groups in one environment: a seek stops at the end of its group's range, and a key of one
 * group is not there for another's get and del. Keys too long for a table are refused cleanly. */
static void test_lmdb_groups_isolated(void **state)
{
	(void)state;
	struct lmdb_env e;
	lmdb_env_open(&e);
	struct store_txn *txn = begin(&e, true);
	struct txn_lmdbstore b1, b2, b3;
	struct txn_store g1 = bind(&b1, &e, 1, txn), g2 = bind(&b2, &e, 2, txn), g3 = bind(&b3, &e, 3, txn);
	struct txn_bytes k, v;
	for (int table = 0; table < TXN_TABLE_COUNT; table++) {
		enum txn_table t = (enum txn_table)table;
		assert_int_equal(g1.ops->put(g1.ctx, t, bytes_of("a"), bytes_of("1a")), GROVE_OK);
		assert_int_equal(g1.ops->put(g1.ctx, t, bytes_of("m"), bytes_of("1m")), GROVE_OK);
		assert_int_equal(g3.ops->put(g3.ctx, t, bytes_of("b"), bytes_of("3b")), GROVE_OK);
		/* Group 2 is empty: a seek from its start must not land in group 3, nor from group 1's end. */
		assert_int_equal(g2.ops->seek(g2.ctx, t, bytes_of(""), &k, &v), GROVE_ENOTFOUND);
		assert_int_equal(g1.ops->seek(g1.ctx, t, bytes_of("n"), &k, &v), GROVE_ENOTFOUND);
		assert_int_equal(g1.ops->seek(g1.ctx, t, bytes_of("b"), &k, &v), GROVE_OK);
		assert_int_equal(k.len, 1);
		assert_memory_equal(k.data, "m", 1);
		assert_memory_equal(v.data, "1m", 2);
		assert_int_equal(g3.ops->seek(g3.ctx, t, bytes_of(""), &k, &v), GROVE_OK);
		assert_memory_equal(k.data, "b", 1);
		assert_int_equal(g3.ops->seek(g3.ctx, t, bytes_of("ba"), &k, &v), GROVE_ENOTFOUND);
		/* The other group's key: not found, not deleted. */
		assert_int_equal(g1.ops->get(g1.ctx, t, bytes_of("b"), &v), GROVE_ENOTFOUND);
		assert_int_equal(g1.ops->del(g1.ctx, t, bytes_of("b")), GROVE_ENOTFOUND);
		assert_int_equal(g3.ops->get(g3.ctx, t, bytes_of("a"), &v), GROVE_ENOTFOUND);
		assert_int_equal(g3.ops->get(g3.ctx, t, bytes_of("b"), &v), GROVE_OK);
		assert_memory_equal(v.data, "3b", 2);
		assert_int_equal(g1.ops->del(g1.ctx, t, bytes_of("a")), GROVE_OK);
		assert_int_equal(g1.ops->get(g1.ctx, t, bytes_of("a"), &v), GROVE_ENOTFOUND);
	}
	/* The longest key a table takes fits; one byte more is a storage error for every function, and changes
	 * nothing. */
	uint8_t big[STORE_KEY_MAX];
	memset(big, 0xff, sizeof(big));
	struct txn_bytes fits = {big, STORE_KEY_MAX - 8}, too_long = {big, STORE_KEY_MAX - 7};
	assert_int_equal(g2.ops->put(g2.ctx, TXN_TABLE_META, fits, bytes_of("x")), GROVE_OK);
	assert_int_equal(g2.ops->put(g2.ctx, TXN_TABLE_META, too_long, bytes_of("x")), GROVE_ESTORAGE);
	assert_int_equal(g2.ops->get(g2.ctx, TXN_TABLE_META, too_long, &v), GROVE_ESTORAGE);
	assert_int_equal(g2.ops->del(g2.ctx, TXN_TABLE_META, too_long), GROVE_ESTORAGE);
	assert_int_equal(g2.ops->seek(g2.ctx, TXN_TABLE_META, too_long, &k, &v), GROVE_ESTORAGE);
	assert_int_equal(g2.ops->seek(g2.ctx, TXN_TABLE_META, bytes_of(""), &k, &v), GROVE_OK);
	assert_int_equal(k.len, fits.len);
	assert_int_equal(g2.ops->del(g2.ctx, TXN_TABLE_META, fits), GROVE_OK);
	/* The highest group id has no next group to stop at. */
	struct txn_lmdbstore blast;
	struct txn_store glast = bind(&blast, &e, UINT64_MAX, txn);
	assert_int_equal(glast.ops->put(glast.ctx, TXN_TABLE_RECORDS, bytes_of("q"), bytes_of("v")), GROVE_OK);
	assert_int_equal(glast.ops->seek(glast.ctx, TXN_TABLE_RECORDS, bytes_of("r"), &k, &v), GROVE_ENOTFOUND);
	assert_int_equal(g3.ops->seek(g3.ctx, TXN_TABLE_RECORDS, bytes_of("c"), &k, &v), GROVE_ENOTFOUND);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	lmdb_env_close(&e);
}

/* A group's state dumped and loaded into another group (over what was there) reads back identical, through
 * the dump and through the state machine. Bad records are refused. */
static void test_lmdb_dump_load_round_trip(void **state)
{
	(void)state;
	struct lmdb_env e;
	lmdb_env_open(&e);
	struct store_txn *txn = begin(&e, true);
	struct txn_lmdbstore b1, b2, b7;
	struct txn_store g1 = bind(&b1, &e, 1, txn), g2 = bind(&b2, &e, 2, txn), g7 = bind(&b7, &e, 7, txn);
	fill_every_table(&g1);
	fill_every_table(&g2); /* right after group 1's range: a dump that strayed past it would show */
	assert_int_equal(g7.ops->put(g7.ctx, TXN_TABLE_INTENTS, bytes_of("stale"), bytes_of("junk")), GROVE_OK);
	struct dumped *from = dump_group(&e, txn, 1);
	for (int table = 0; table < TXN_TABLE_COUNT; table++)
		assert_true(from->per_table[table] > 0);
	assert_int_equal(txn_lmdbstore_load_begin(&e.tables, txn, 7), GROVE_OK);
	for (size_t i = 0; i < from->n; i++)
		assert_int_equal(txn_lmdbstore_load_record(&e.tables, txn, 7, from->table[i], from->key[i],
							   from->key_len[i], from->val[i], from->val_len[i]),
				 GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	txn = begin(&e, false);
	struct dumped *to = dump_group(&e, txn, 7);
	assert_same_records(from, to);
	struct dumped *again = dump_group(&e, txn, 1);
	assert_same_records(from, again);
	g7 = bind(&b7, &e, 7, txn);
	struct txn_record rec;
	assert_int_equal(txn_shard_record(&g7, 100, &rec), GROVE_OK);
	assert_int_equal(rec.status, TXN_STAGING);
	txn_record_free(&rec);
	struct txn_meta held;
	assert_int_equal(txn_shard_intent(&g7, bytes_of("y"), &held, NULL), GROVE_OK);
	assert_int_equal(held.id, 100);
	assert_int_equal(txn_shard_intent(&g7, bytes_of("stale"), &held, NULL), GROVE_ENOTFOUND);
	store_txn_abort(txn);
	/* A table number out of range, a key no table takes: refused, nothing written. */
	txn = begin(&e, true);
	uint8_t big[STORE_KEY_MAX] = {0};
	assert_int_equal(txn_lmdbstore_load_record(&e.tables, txn, 8, TXN_TABLE_COUNT, "k", 1, "v", 1), GROVE_ECORRUPT);
	assert_int_equal(txn_lmdbstore_load_record(&e.tables, txn, 8, TXN_TABLE_META, big, STORE_KEY_MAX - 7, "v", 1),
			 GROVE_ECORRUPT);
	struct dumped *none = dump_group(&e, txn, 8);
	assert_int_equal(none->n, 0);
	store_txn_abort(txn);
	free(from);
	free(to);
	free(again);
	free(none);
	lmdb_env_close(&e);
}

/* Deleting a group's transaction state leaves its neighbours' whole. */
static void test_lmdb_delete_group(void **state)
{
	(void)state;
	struct lmdb_env e;
	lmdb_env_open(&e);
	struct store_txn *txn = begin(&e, true);
	struct dumped *before[3];
	for (uint64_t group = 4; group <= 6; group++) {
		struct txn_lmdbstore b;
		struct txn_store st = bind(&b, &e, group, txn);
		fill_every_table(&st);
		before[group - 4] = dump_group(&e, txn, group);
	}
	assert_int_equal(txn_lmdbstore_delete(&e.tables, txn, 5), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	txn = begin(&e, false);
	for (uint64_t group = 4; group <= 6; group++) {
		struct dumped *after = dump_group(&e, txn, group);
		if (group == 5)
			assert_int_equal(after->n, 0);
		else
			assert_same_records(before[group - 4], after);
		free(after);
		free(before[group - 4]);
	}
	store_txn_abort(txn);
	lmdb_env_close(&e);
}

/* A command applied in a nested transaction that is aborted leaves nothing; committed, it stays. */
static void test_lmdb_nested_abort(void **state)
{
	(void)state;
	struct lmdb_env e;
	lmdb_env_open(&e);
	for (int commit = 0; commit <= 1; commit++) {
		struct store_txn *txn = begin(&e, true), *nested;
		assert_int_equal(store_txn_begin(e.store, txn, true, &nested), GROVE_OK);
		struct txn_lmdbstore b;
		struct txn_store st = bind(&b, &e, 3, nested);
		fill_every_table(&st);
		struct dumped *inside = dump_group(&e, nested, 3);
		assert_true(inside->n >= TXN_TABLE_COUNT);
		if (commit)
			assert_int_equal(store_txn_commit(nested), GROVE_OK);
		else
			store_txn_abort(nested);
		struct dumped *after = dump_group(&e, txn, 3);
		assert_int_equal(after->n, commit ? inside->n : 0);
		assert_int_equal(store_txn_commit(txn), GROVE_OK);
		free(inside);
		free(after);
	}
	lmdb_env_close(&e);
}

static int on_memory(void **state)
{
	(void)state;
	backend = STORES_MEMORY;
	return 0;
}

static int on_lmdb(void **state)
{
	(void)state;
	backend = STORES_LMDB;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_happy_path),
		cmocka_unit_test(test_early_resolution),
		cmocka_unit_test(test_recovery_hears_an_early_resolution),
		cmocka_unit_test(test_recovery_commits_implicitly_committed),
		cmocka_unit_test(test_recovery_prevents_and_aborts),
		cmocka_unit_test(test_recovery_of_an_unstaged_record_met_through_no_intent),
		cmocka_unit_test(test_rollback_ignores_an_older_push),
		cmocka_unit_test(test_acknowledged_coordinator_ignores_an_early_push),
		cmocka_unit_test(test_push_aborts_unstaged),
		cmocka_unit_test(test_recovery_record_moved_on),
		cmocka_unit_test(test_push_refresh),
		cmocka_unit_test(test_push_restart),
		cmocka_unit_test(test_earlier_attempt_at_later_timestamp),
		cmocka_unit_test(test_stale_attempt_ignored),
		cmocka_unit_test(test_duplicates_idempotent),
		cmocka_unit_test(test_blocked_write),
		cmocka_unit_test(test_unblocked_write_goes_at_once),
		cmocka_unit_test(test_resends_back_off),
		cmocka_unit_test(test_blocked_then_rollback),
		cmocka_unit_test(test_gc_low_water_mark),
		cmocka_unit_test(test_gc_prunes_versions),
		cmocka_unit_test(test_records_collected),
		cmocka_unit_test(test_no_record_at_or_below_mark),
		cmocka_unit_test(test_coordinator_silent_through_collection),
		cmocka_unit_test(test_coordinator_unanswered_through_collection),
		cmocka_unit_test(test_malformed_refused),
	};
	const struct CMUnitTest lmdb_tests[] = {
		cmocka_unit_test(test_lmdb_groups_isolated),
		cmocka_unit_test(test_lmdb_dump_load_round_trip),
		cmocka_unit_test(test_lmdb_delete_group),
		cmocka_unit_test(test_lmdb_nested_abort),
	};
	/* Every scenario on each backend, then the LMDB backend's own cases. */
	int failed = cmocka_run_group_tests_name("txn (memory)", tests, on_memory, NULL);
	failed += cmocka_run_group_tests_name("txn (lmdb)", tests, on_lmdb, NULL);
	failed += cmocka_run_group_tests_name("txn lmdbstore", lmdb_tests, NULL, NULL);
	return failed;
}
