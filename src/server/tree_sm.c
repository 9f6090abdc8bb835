#include "src/server/tree_sm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/grove.pb-c.h"
#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/net/wire.h"
#include "src/server/arrival.h"
#include "src/txn/codec.h"
#include "src/txn/shard.h"

int tree_sm_open_shard(struct store *store, uint64_t group, struct tree_sm *out)
{
	memset(out, 0, sizeof(*out));
	int err = tree_open(store, group, &out->tree);
	if (!err)
		err = store_db_open(store, "sm.keys", true, &out->keys);
	if (!err)
		err = store_db_open(store, "sm.keys_by_index", true, &out->keys_by_index);
	if (!err)
		err = store_db_open(store, "sm.splits", true, &out->splits);
	if (!err)
		err = store_db_open(store, "sm.txn_parts", true, &out->txn_parts);
	if (!err)
		err = txn_lmdbstore_open(store, &out->txn);
	return err;
}

int tree_sm_open(struct store *store, uint64_t group, struct tree_sm *out)
{
	int err = tree_sm_open_shard(store, group, out);
	if (err)
		return err;
	struct store_txn *txn;
	err = store_txn_begin(store, NULL, true, &txn);
	if (err)
		return err;
	err = tree_init(&out->tree, txn);
	if (err) {
		store_txn_abort(txn);
		return err;
	}
	return store_txn_commit(txn);
}

size_t tree_sm_command(enum tree_cmd kind, const void *body, size_t len, uint8_t **out)
{
	*out = malloc(1 + len);
	if (!*out)
		return 0;
	(*out)[0] = (uint8_t)kind;
	if (len)
		memcpy(*out + 1, body, len);
	return 1 + len;
}

size_t tree_sm_split_command(uint64_t group, const uint64_t *voters, size_t n, const char *path, uint8_t **out)
{
	*out = NULL;
	if (n > 16)
		return 0;
	struct grove_buf b = {0};
	grove_buf_u8(&b, TREE_CMD_SPLIT);
	grove_buf_le64(&b, group);
	grove_buf_u8(&b, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		grove_buf_le64(&b, voters[i]);
	grove_buf_put(&b, path, strlen(path));
	if (b.failed) {
		grove_buf_free(&b);
		return 0;
	}
	*out = b.data;
	return b.len;
}

/* ---- idempotency keys ---- */

/* @p key behind the group id, in @p out; its length (0 if too long). */
static size_t group_key(const struct tree_sm *t, const void *key, size_t len, uint8_t out[STORE_KEY_MAX])
{
	if (len > STORE_KEY_MAX - 8)
		return 0;
	put_be64(out, t->tree.group);
	memcpy(out + 8, key, len);
	return 8 + len;
}

static int put_grouped(struct store_txn *txn, store_db db, const struct tree_sm *t, const void *key, size_t len,
		       const void *val, size_t val_len)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, key, len, k);
	return klen ? store_put(txn, db, k, klen, val, val_len) : GROVE_ECORRUPT;
}

/* The index that applied @p key, or 0. */
static int key_applied_at(struct tree_sm *t, struct store_txn *txn, const char *key, uint64_t *index)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, key, strlen(key), k);
	return store_get_u64(txn, t->keys, k, klen, 0, index);
}

int tree_sm_key_applied(struct tree_sm *t, struct store_txn *txn, const char *key, uint64_t *index)
{
	*index = 0;
	return strlen(key) < TREE_SM_KEY_MAX ? key_applied_at(t, txn, key, index) : GROVE_OK;
}

/* Remember @p key as applied at @p index, and forget the keys applied TREE_SM_KEEP_KEYS entries before. */
static int remember_key(struct tree_sm *t, struct store_txn *txn, const char *key, uint64_t index)
{
	uint8_t at[8], v[8];
	put_be64(at, index);
	put_le64(v, index);
	int err = put_grouped(txn, t->keys, t, key, strlen(key), v, sizeof(v));
	if (!err)
		err = put_grouped(txn, t->keys_by_index, t, at, sizeof(at), key, strlen(key));
	if (err || index <= TREE_SM_KEEP_KEYS)
		return err;
	struct store_cursor *c;
	err = store_cursor_open(txn, t->keys_by_index, &c);
	uint8_t first[8];
	put_be64(first, t->tree.group);
	for (int forgotten = 0; !err && forgotten < 16; forgotten++) {
		/* Only the group's oldest keys, a few per entry: pruning never costs more than applying. */
		struct store_bytes k, old;
		err = store_cursor_seek(c, first, sizeof(first), &k, &old);
		if (err || k.len != 16 || get_be64(k.data) != t->tree.group ||
		    get_be64((const uint8_t *)k.data + 8) + TREE_SM_KEEP_KEYS > index) {
			err = err == GROVE_ENOTFOUND ? GROVE_OK : err;
			break;
		}
		uint8_t gone[STORE_KEY_MAX];
		size_t gone_len = group_key(t, old.data, old.len, gone);
		uint8_t by_index[16];
		memcpy(by_index, k.data, 16);
		err = gone_len ? store_del(txn, t->keys, gone, gone_len) : GROVE_ECORRUPT;
		if (!err || err == GROVE_ENOTFOUND)
			err = store_del(txn, t->keys_by_index, by_index, sizeof(by_index));
	}
	store_cursor_close(c);
	return err;
}

_Static_assert(sizeof(((struct tree_result *)0)->key) == TREE_SM_KEY_MAX, "a key fits tree_result.key");

/*
 * Give group @p to every key this group remembers, in both tables, at the same indexes: a retry of a batch
 * applied here may name nodes that a split moved there, and must find its key there. Every key, not only
 * those of batches that touched the subtree: a key is one batch's, so knowing more of them refuses nothing
 * that should apply. The indexes are this group's: @p to's own pruning treats them as its own, which at
 * worst keeps a copied key longer.
 */
static int copy_keys(struct tree_sm *t, struct store_txn *txn, uint64_t to)
{
	store_db dbs[2] = {t->keys, t->keys_by_index};
	uint8_t prefix[8];
	put_be64(prefix, t->tree.group);
	int err = GROVE_OK;
	for (size_t d = 0; !err && d < 2; d++) {
		struct store_cursor *c;
		if ((err = store_cursor_open(txn, dbs[d], &c)) != GROVE_OK)
			break;
		struct store_bytes k, v;
		for (err = store_cursor_seek(c, prefix, sizeof(prefix), &k, &v); err == GROVE_OK;
		     err = store_cursor_next(c, &k, &v)) {
			if (k.len <= 8 || k.len > STORE_KEY_MAX || memcmp(k.data, prefix, 8) != 0)
				break;
			if (v.len > STORE_KEY_MAX) {
				err = GROVE_ECORRUPT; /* an index or a key, both short */
				break;
			}
			/* Copied out first: a write may move the page the cursor's bytes are on. */
			uint8_t copy[STORE_KEY_MAX], val[STORE_KEY_MAX];
			memcpy(copy, k.data, k.len);
			memcpy(val, v.data, v.len);
			put_be64(copy, to);
			if ((err = store_put(txn, dbs[d], copy, k.len, val, v.len)) != GROVE_OK)
				break;
		}
		store_cursor_close(c);
		err = err == GROVE_ENOTFOUND ? GROVE_OK : err;
	}
	return err;
}

/* ---- snapshots ---- */

struct loading {
	struct tree_sm *t;
	struct store_txn *txn;
};

static int load_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	struct loading *l = ctx;
	if (table == TREE_SM_TABLE_KEYS)
		return put_grouped(l->txn, l->t->keys, l->t, key, key_len, val, val_len);
	if (table == TREE_SM_TABLE_KEYS_BY_INDEX)
		return put_grouped(l->txn, l->t->keys_by_index, l->t, key, key_len, val, val_len);
	if (table == TREE_SM_TABLE_SPLITS)
		return put_grouped(l->txn, l->t->splits, l->t, key, key_len, val, val_len);
	if (table == TREE_SM_TABLE_TXN_PARTS)
		return put_grouped(l->txn, l->t->txn_parts, l->t, key, key_len, val, val_len);
	if (table >= TREE_SM_TABLE_TXN && table < TREE_SM_TABLE_TXN + TXN_TABLE_COUNT)
		return txn_lmdbstore_load_record(&l->t->txn, l->txn, l->t->tree.group, table - TREE_SM_TABLE_TXN, key,
						 key_len, val, val_len);
	return tree_load_record(&l->t->tree, l->txn, table, key, key_len, val, val_len);
}

static int clear_keys(struct tree_sm *t, struct store_txn *txn)
{
	uint8_t prefix[8];
	put_be64(prefix, t->tree.group);
	int err = store_del_prefix(txn, t->keys, prefix, sizeof(prefix));
	if (!err)
		err = store_del_prefix(txn, t->splits, prefix, sizeof(prefix));
	if (!err)
		err = store_del_prefix(txn, t->txn_parts, prefix, sizeof(prefix));
	if (!err)
		err = txn_lmdbstore_load_begin(&t->txn, txn, t->tree.group);
	return err ? err : store_del_prefix(txn, t->keys_by_index, prefix, sizeof(prefix));
}

static int restore(void *sm, struct store_txn *txn, const uint8_t *data, size_t len, char *why, size_t why_cap)
{
	struct tree_sm *t = sm;
	int err = snapshot_verify(data, len, NULL, why, why_cap);
	if (!err)
		err = tree_load_begin(&t->tree, txn);
	if (!err)
		err = clear_keys(t, txn);
	struct loading l = {t, txn};
	if (!err)
		err = snapshot_for_each_record(data, len, load_record, &l, why, why_cap);
	if (!err)
		err = tree_load_end(&t->tree, txn);
	if (err == GROVE_ECORRUPT && why && !why[0])
		snprintf(why, why_cap, "the snapshot does not hold a scene tree");
	return err;
}

/* ---- cross-shard transactions ---- */

/* The first bytes of every key of the shard of group @p group: "tree" and the group id (all its lanes share them). */
#define SHARD_KEY_PREFIX 12

static void shard_key_prefix(uint64_t group, uint8_t prefix[SHARD_KEY_PREFIX])
{
	memcpy(prefix, "tree", 4);
	put_be64(prefix + 4, group);
}

unsigned tree_sm_lane(uint64_t txn_id)
{
	return (unsigned)((txn_id >> 1) % TREE_SM_LANES);
}

void tree_sm_txn_key(uint64_t group, uint64_t txn_id, uint8_t key[TREE_SM_TXN_KEY_LEN])
{
	shard_key_prefix(group, key);
	key[SHARD_KEY_PREFIX] = (uint8_t)tree_sm_lane(txn_id);
}

/*
 * The first @p max transactions whose intents hold the shard, in key order (a lane's key each; before lanes,
 * one key stood for the whole shard: an intent written then is found too). @return how many, or -1 when the
 * store fails.
 */
static int shard_holders(const struct tree_sm *t, const struct txn_store *st, struct txn_meta *out, int max)
{
	uint8_t prefix[SHARD_KEY_PREFIX], at[TREE_SM_TXN_KEY_LEN + 1];
	shard_key_prefix(t->tree.group, prefix);
	memcpy(at, prefix, sizeof(prefix));
	size_t at_len = sizeof(prefix);
	int n = 0;
	while (n < max) {
		struct txn_bytes k, v;
		int err = st->ops->seek(st->ctx, TXN_TABLE_INTENTS, (struct txn_bytes){at, at_len}, &k, &v);
		if (err == GROVE_ENOTFOUND || (!err && (k.len > TREE_SM_TXN_KEY_LEN || k.len < sizeof(prefix) ||
							memcmp(k.data, prefix, sizeof(prefix)) != 0)))
			break;
		uint8_t key[TREE_SM_TXN_KEY_LEN];
		size_t len = k.len;
		if (!err) {
			memcpy(key, k.data, len);
			err = txn_shard_intent(st, (struct txn_bytes){key, len}, &out[n], NULL);
		}
		if (err)
			return -1;
		n++;
		memcpy(at, key, len); /* the next key: this one with a zero byte after it */
		at[len] = 0;
		at_len = len + 1;
	}
	return n;
}

static size_t holders_upto(struct tree_sm *t, struct store_txn *txn, struct txn_meta *out, int max)
{
	struct txn_lmdbstore b = {&t->txn, t->tree.group, txn};
	struct txn_store st = txn_lmdbstore_store(&b);
	int n = shard_holders(t, &st, out, max);
	return n > 0 ? (size_t)n : 0;
}

size_t tree_sm_holders(struct tree_sm *t, struct store_txn *txn, struct txn_meta out[TREE_SM_HOLDERS_MAX])
{
	return holders_upto(t, txn, out, TREE_SM_HOLDERS_MAX);
}

bool tree_sm_held(struct tree_sm *t, struct store_txn *txn, struct txn_meta *meta)
{
	struct txn_meta first;
	if (!holders_upto(t, txn, &first, 1))
		return false;
	if (meta)
		*meta = first;
	return true;
}

/* Refuse @p what: transaction @p holder holds the shard, and its part must apply as it was checked. */
static void refuse_held(const struct tree_sm *t, uint64_t holder, const char *what, struct tree_result *out)
{
	out->err = GROVE_EINTENT;
	snprintf(out->message, sizeof(out->message), "shard %llu is held by cross-shard transaction %016llx: %s must "
		 "wait until it is resolved; retry", (unsigned long long)t->tree.group, (unsigned long long)holder, what);
}

/* Refuse what would change a shard that a transaction holds, whatever it is (a split). */
static bool refused_while_held(struct tree_sm *t, struct store_txn *txn, const char *what, struct tree_result *out)
{
	struct txn_meta held;
	if (!tree_sm_held(t, txn, &held))
		return false;
	refuse_held(t, held.id, what, out);
	return true;
}

static int txn_part_key(const struct tree_sm *t, uint64_t txn_id, uint8_t key[STORE_KEY_MAX])
{
	uint8_t id[8];
	put_be64(id, txn_id);
	return (int)group_key(t, id, sizeof(id), key);
}

/*
 * Apply a write's batch (with @p keep; without, only see whether it would be refused) beside @p part, the part
 * of transaction @p holder for this shard (NULL: none kept), when the two commute (tree_apply_beside()): a
 * transaction holds what its part acts on, per node, as an intent per key would. A cut's hold (a part of no
 * ops: the shard is read at one point with the others) refuses every write. Refused: out->err GROVE_EINTENT.
 */
static int apply_beside(struct tree_sm *t, struct store_txn *txn, uint64_t holder, const uint8_t *part,
			size_t part_len, const struct tree_batch *batch, bool keep, struct tree_result *out)
{
	Grove__WriteRequest *wr = part ? grove__write_request__unpack(NULL, part_len, part) : NULL;
	struct wire_batch pending = {0};
	char why[sizeof(out->message)];
	int err = GROVE_OK;
	if (!wr || !wr->n_ops || wire_decode_batch(wr, true, &pending, why, sizeof(why)) != GROVE_OK) {
		refuse_held(t, holder, "a write", out);
	} else {
		err = tree_apply_beside(&t->tree, txn, &(struct tree_batch){pending.ops, pending.count}, batch, keep, out);
		if (err == GROVE_EINTENT) {
			snprintf(why, sizeof(why), "%s", out->message);
			snprintf(out->message, sizeof(out->message), "shard %llu: cross-shard transaction %016llx holds what "
				 "this write needs (%.400s); retry once it is resolved", (unsigned long long)t->tree.group,
				 (unsigned long long)holder, why);
			err = GROVE_OK;
		}
	}
	wire_batch_free(&pending);
	if (wr)
		grove__write_request__free_unpacked(wr, NULL);
	return err;
}

/* The part transaction @p id keeps beside its intent here (*@p part empty: none, a cut's hold). */
static int held_part(struct tree_sm *t, struct store_txn *txn, uint64_t id, struct store_bytes *part)
{
	uint8_t key[STORE_KEY_MAX];
	int err = store_get(txn, t->txn_parts, key, (size_t)txn_part_key(t, id, key), part);
	if (err == GROVE_ENOTFOUND)
		*part = (struct store_bytes){0};
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/*
 * Apply a write's batch (with @p keep; without, only see whether the holds on the shard refuse it): beside
 * every part that holds the shard, checked beside each and applied beside the last.
 */
static int apply_batch(struct tree_sm *t, struct store_txn *txn, const struct tree_batch *batch, bool keep,
		       struct tree_result *out)
{
	out->record_changes = t->record_changes;
	struct txn_meta held[TREE_SM_HOLDERS_MAX];
	size_t n = tree_sm_holders(t, txn, held);
	if (!n)
		return keep ? tree_apply_batch(&t->tree, txn, batch, out) : GROVE_OK;
	for (size_t i = 0; i < n; i++) {
		bool last = i + 1 == n;
		struct tree_result check = {0};
		struct tree_result *res = last ? out : &check;
		struct store_bytes part;
		int err = held_part(t, txn, held[i].id, &part);
		if (!err)
			err = apply_beside(t, txn, held[i].id, part.len ? part.data : NULL, part.len, batch, last && keep, res);
		if (!last && check.err) {
			out->err = check.err;
			out->failed_op = check.failed_op;
			snprintf(out->message, sizeof(out->message), "%s", check.message);
		}
		tree_result_free(&check);
		if (err || out->err)
			return err;
	}
	return GROVE_OK;
}

/* The groups of every part of the transaction, for subscribers that follow several (tree_result.txn_groups). */
static int copy_txn_groups(const Grove__WriteRequest *wr, struct tree_result *out)
{
	free(out->txn_groups);
	out->n_txn_groups = 0;
	out->txn_groups = malloc(wr->n_txn_groups * sizeof(*out->txn_groups));
	if (!out->txn_groups)
		return GROVE_ENOMEM;
	memcpy(out->txn_groups, wr->txn_groups, wr->n_txn_groups * sizeof(*out->txn_groups));
	out->n_txn_groups = wr->n_txn_groups;
	return GROVE_OK;
}

/*
 * Apply a transaction's part (a packed WriteRequest, carries allowed) to the tree in @p txn: for real
 * (@p record: with change records), or to check it. @return GROVE_OK (out->err says how it went), or
 * a failure that is not the part's fault.
 */
static int apply_part(struct tree_sm *t, struct store_txn *txn, const uint8_t *part, size_t len, bool record,
		      struct tree_result *out)
{
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, len, part);
	if (!wr) {
		out->err = GROVE_EPROTO;
		snprintf(out->message, sizeof(out->message), "a transaction's part does not decode");
		return GROVE_OK;
	}
	struct wire_batch batch = {0};
	int err = GROVE_OK;
	/* A part of no ops only holds its shard while its transaction runs: a cut of the world (xshard.h). */
	bool holds_only = wr->n_ops == 0 && !wr->restore_snapshot.len;
	out->err = holds_only ? GROVE_OK : wire_decode_batch(wr, true, &batch, out->message, sizeof(out->message));
	if (!out->err && !holds_only) {
		struct tree_batch tb = {batch.ops, batch.count};
		out->record_changes = record && t->record_changes;
		err = tree_apply_batch(&t->tree, txn, &tb, out);
		if (err != GROVE_ESTORAGE && err != GROVE_ENOMEM)
			err = GROVE_OK;
	}
	if (!err && !out->err && record && wr->n_txn_groups)
		err = copy_txn_groups(wr, out);
	wire_batch_free(&batch);
	grove__write_request__free_unpacked(wr, NULL);
	return err;
}

/*
 * Where a keyed part's intent was written, beside the part: its txn_parts key and "k", u64 index. The key is
 * remembered at that index once the part applies, so that the answer the coordinator gave at the implicit
 * commit (the index its anchor intent was written at) and every retry's answer name the same entry.
 */
static size_t txn_key_index_key(const struct tree_sm *t, uint64_t txn_id, uint8_t key[STORE_KEY_MAX])
{
	uint8_t id[9];
	put_be64(id, txn_id);
	id[8] = 'k';
	return group_key(t, id, sizeof(id), key);
}

/* The submit key a transaction's part carries, "" if none. */
static int part_submit_key(const uint8_t *part, size_t len, char key[TREE_SM_KEY_MAX], struct tree_result *out)
{
	key[0] = '\0';
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, len, part);
	if (!wr)
		return GROVE_OK; /* apply_part() refuses it */
	int err = GROVE_OK;
	if (strlen(wr->submit_key) >= TREE_SM_KEY_MAX) {
		out->err = err = GROVE_ETOOBIG;
		snprintf(out->message, sizeof(out->message), "a submit key is at most %d bytes", TREE_SM_KEY_MAX - 1);
	} else {
		snprintf(key, TREE_SM_KEY_MAX, "%s", wr->submit_key);
	}
	grove__write_request__free_unpacked(wr, NULL);
	return err;
}

/*
 * Writing an intent: the txn layer decides whether it lands; the tree then checks the part by applying
 * it in a transaction that is undone. A part the tree refuses leaves no intent behind.
 *
 * A keyed part (every part of a keyed write is) whose key this group applied already is refused as a
 * duplicate (out->duplicate_of, out->err 0), which aborts its transaction with nothing applied. Why this
 * holds the key across the transaction: the key is remembered only by resolve_intent(), in the same LMDB
 * transaction that applies the part as committed, and this check runs at apply time in the group's log, so
 * every member decides alike. Two parts with the same submit key never hold the shard at once (parts_commute()
 * says they do not commute, whatever they do), so another attempt's intent can be written here only once the
 * first one's intent is gone: resolved as committed (its key remembered: the later one is a duplicate) or as
 * aborted (nothing applied, the key free: the later one applies). A retry of the same batch has the same first op, hence the same anchor; or, after the batch
 * moved that node across shards, the group that took it, which had a part and so remembers the key; or,
 * after a split moved that node, a group that was given its parent's keys (copy_keys()).
 */
/*
 * A transaction whose intent meets another's here reserves the shard, unless an older one does: until its own
 * intent lands (or its transaction is resolved), the intent of a transaction that began after it and whose
 * part does not commute with its part (parts_commute(); a cut's part, of no ops, commutes with nothing) is
 * answered as blocked by it, not written. Otherwise a stream of younger transactions, each proposed behind
 * the last one's resolution (as a member that coordinates them back to back does), would take the shard
 * again each time it frees, and keep an older one out for good. The reservation is kept beside the parts
 * ("reserve": the transaction, 48 bytes, then its part); an attempt begun again (it keeps its age) takes it
 * over, and it lapses RESERVE_NS after the attempt's timestamp, so that one that went away holds nobody for
 * longer.
 */
#define RESERVE_NS 2000000000ull
#define RESERVE_BYTES 48

static size_t reserve_key(const struct tree_sm *t, uint8_t key[STORE_KEY_MAX])
{
	return group_key(t, "reserve", 7, key);
}

static void put_meta(uint8_t *b, const struct txn_meta *m)
{
	put_be64(b, m->id);
	put_be64(b + 8, m->anchor);
	put_be32(b + 16, m->epoch);
	put_be32(b + 20, m->seq);
	put_be64(b + 24, m->ts.wall);
	put_be32(b + 32, m->ts.logical);
	put_be64(b + 36, m->start.wall);
	put_be32(b + 44, m->start.logical);
}

static void get_meta(const uint8_t *b, struct txn_meta *m)
{
	*m = (struct txn_meta){.id = get_be64(b), .anchor = get_be64(b + 8), .epoch = get_be32(b + 16),
			       .seq = get_be32(b + 20), .ts = {get_be64(b + 24), get_be32(b + 32)},
			       .start = {get_be64(b + 36), get_be32(b + 44)}};
}

/*
 * The transaction that reserves the shard, if any, into @p by, and (with @p part) a copy of its part (malloc'd;
 * empty for a cut). @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
static int reservation(const struct tree_sm *t, struct store_txn *txn, struct txn_meta *by, struct store_bytes *part)
{
	uint8_t key[STORE_KEY_MAX];
	struct store_bytes v;
	int err = store_get(txn, t->txn_parts, key, reserve_key(t, key), &v);
	if (err)
		return err;
	if (v.len < RESERVE_BYTES)
		return GROVE_ECORRUPT;
	get_meta(v.data, by);
	if (!part)
		return GROVE_OK;
	/* A copy: the trials that check it against another part write to the store, which may move these bytes. */
	size_t len = v.len - RESERVE_BYTES;
	void *copy = malloc(len ? len : 1);
	if (!copy)
		return GROVE_ENOMEM;
	memcpy(copy, (const uint8_t *)v.data + RESERVE_BYTES, len);
	*part = (struct store_bytes){copy, len};
	return GROVE_OK;
}

static int parts_commute(struct tree_sm *t, struct store_txn *txn, const uint8_t *a, size_t a_len, const uint8_t *b,
			 size_t b_len, bool *commute);

/*
 * Whether the shard's reservation makes the intent of @p cmd (part @p part) wait: by a transaction that began
 * before it, while the reservation lasts, with a part that does not commute with @p part. Into @p by.
 * @return GROVE_OK (by->id 0: it does not wait), or the store's failure.
 */
static int reserved_against(struct tree_sm *t, struct store_txn *txn, const struct txn_cmd *cmd,
			    struct txn_bytes part, struct txn_meta *by)
{
	struct store_bytes theirs = {0};
	int err = reservation(t, txn, by, &theirs);
	bool waits = !err && hlc_cmp(cmd->txn.start, by->start) > 0 && cmd->txn.ts.wall < by->ts.wall + RESERVE_NS;
	bool commute = false;
	if (waits && theirs.len)
		err = parts_commute(t, txn, theirs.data, theirs.len, part.data, part.len, &commute);
	free((void *)theirs.data);
	if (err == GROVE_ENOTFOUND || !waits || commute)
		by->id = 0;
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/*
 * After the txn layer applied intent @p cmd, whose part is @p part: a reservation is made (the intent met
 * another, and no older transaction reserves the shard), or lifted (the reserver's intent, or an older
 * one's, landed).
 */
static int update_reservation(struct tree_sm *t, struct store_txn *txn, const struct txn_cmd *cmd,
			      struct txn_bytes part, const struct txn_result *res)
{
	struct txn_meta held;
	int err = reservation(t, txn, &held, NULL);
	if (err && err != GROVE_ENOTFOUND)
		return err;
	bool reserved = !err;
	uint8_t key[STORE_KEY_MAX];
	size_t klen = reserve_key(t, key);
	bool not_younger = reserved && hlc_cmp(cmd->txn.start, held.start) <= 0;
	if (res->code == TXN_R_WRITTEN && not_younger)
		return store_del(txn, t->txn_parts, key, klen);
	if (res->code != TXN_R_CONFLICT || (reserved && !not_younger))
		return GROVE_OK; /* it did not meet an intent, or an older transaction reserves the shard already */
	uint8_t *value = malloc(RESERVE_BYTES + part.len);
	if (!value)
		return GROVE_ENOMEM;
	put_meta(value, &cmd->txn);
	if (part.len)
		memcpy(value + RESERVE_BYTES, part.data, part.len);
	err = store_put(txn, t->txn_parts, key, klen, value, RESERVE_BYTES + part.len);
	free(value);
	return err;
}

/* A transaction was resolved: if it reserved the shard, it no longer waits for it. */
static int lift_reservation_of(struct tree_sm *t, struct store_txn *txn, uint64_t txn_id)
{
	struct txn_meta held;
	int err = reservation(t, txn, &held, NULL);
	if (err == GROVE_ENOTFOUND || (!err && held.id != txn_id))
		return GROVE_OK;
	uint8_t key[STORE_KEY_MAX];
	return err ? err : store_del(txn, t->txn_parts, key, reserve_key(t, key));
}

/* A transaction's part decoded: its ops borrow from the request. */
struct decoded_part {
	Grove__WriteRequest *wr;
	struct wire_batch batch;
};

/* Part @p part (a packed WriteRequest, carries allowed) into @p out; false if it does not decode, or has no ops. */
static bool decode_part(const uint8_t *part, size_t len, struct decoded_part *out)
{
	*out = (struct decoded_part){part ? grove__write_request__unpack(NULL, len, part) : NULL, {0}};
	char why[256];
	return out->wr && out->wr->n_ops && wire_decode_batch(out->wr, true, &out->batch, why, sizeof(why)) == GROVE_OK;
}

static void decoded_part_free(struct decoded_part *d)
{
	wire_batch_free(&d->batch);
	if (d->wr)
		grove__write_request__free_unpacked(d->wr, NULL);
}

/* Whether two refs name one node for sure: the same stored id, or the same path. */
static bool same_node(const struct tree_ref *a, const struct tree_ref *b)
{
	if (a->id > 0 || b->id > 0)
		return a->id == b->id;
	return a->id == 0 && b->id == 0 && a->path && b->path && strcmp(a->path, b->path) == 0;
}

/* Whether an op of @p a and one of @p b act on a node that both name the same way: they meet, without a trial. */
static bool act_on_one_node(const struct wire_batch *a, const struct wire_batch *b)
{
	for (size_t i = 0; i < a->count; i++)
		for (size_t k = 0; k < b->count; k++)
			if (a->ops[i].kind != TREE_OP_PUT_RESOURCE && b->ops[k].kind != TREE_OP_PUT_RESOURCE &&
			    same_node(&a->ops[i].node, &b->ops[k].node))
				return true;
	return false;
}

/*
 * Whether two transactions' parts for this shard may hold it at once: each applies beside the other
 * (tree_apply_beside(), both ways, so each still applies as checked, with the ids its client was told,
 * whichever is applied first), and they do not carry the same submit key (each part's group remembers its
 * key when the part applies: two attempts of one keyed write must not both apply). A cut's part (no ops)
 * goes with nothing. @p txn is left as it was.
 */
static int parts_commute(struct tree_sm *t, struct store_txn *txn, const uint8_t *a, size_t a_len, const uint8_t *b,
			 size_t b_len, bool *commute)
{
	*commute = false;
	struct decoded_part pa, pb = {0};
	struct tree_result ignored = {0};
	int err = GROVE_OK;
	if (decode_part(a, a_len, &pa) && decode_part(b, b_len, &pb) &&
	    (!pa.wr->submit_key[0] || strcmp(pa.wr->submit_key, pb.wr->submit_key) != 0) &&
	    !act_on_one_node(&pa.batch, &pb.batch)) {
		struct tree_batch ba = {pa.batch.ops, pa.batch.count}, bb = {pb.batch.ops, pb.batch.count};
		err = tree_apply_beside(&t->tree, txn, &ba, &bb, false, &ignored);
		tree_result_free(&ignored);
		ignored = (struct tree_result){0};
		if (!err)
			err = tree_apply_beside(&t->tree, txn, &bb, &ba, false, &ignored);
		*commute = err == GROVE_OK;
		err = err == GROVE_EINTENT ? GROVE_OK : err;
	}
	tree_result_free(&ignored);
	decoded_part_free(&pa);
	decoded_part_free(&pb);
	return err;
}

/* Which holders a part is not checked against: transaction @p self's own, and those @p passes says. */
struct holder_filter {
	uint64_t self;
	bool (*passes)(void *ctx, uint64_t txn_id); /* NULL: none */
	void *ctx;
};

/*
 * The first transaction that holds the shard, but for those @p skip leaves out, with a part that does not
 * commute with @p part (parts_commute()), in *@p met. @return GROVE_OK (met->id 0: none), or the store's failure.
 */
static int part_meets_holders(struct tree_sm *t, struct store_txn *txn, const struct txn_store *st,
			      const struct holder_filter *skip, const uint8_t *part, size_t len, struct txn_meta *met)
{
	met->id = 0;
	struct txn_meta held[TREE_SM_HOLDERS_MAX];
	int n = shard_holders(t, st, held, TREE_SM_HOLDERS_MAX);
	if (n < 0)
		return GROVE_ESTORAGE;
	for (int i = 0; i < n; i++) {
		if (held[i].id == skip->self || (skip->passes && skip->passes(skip->ctx, held[i].id)))
			continue;
		struct store_bytes theirs;
		bool commute = false;
		int err = held_part(t, txn, held[i].id, &theirs);
		if (!err && theirs.len)
			err = parts_commute(t, txn, theirs.data, theirs.len, part, len, &commute);
		if (err)
			return err;
		if (!commute) {
			*met = held[i];
			return GROVE_OK;
		}
	}
	return GROVE_OK;
}

static int write_intent(struct tree_sm *t, struct store_txn *txn, uint64_t index, const struct txn_store *st,
			struct txn_cmd *cmd, struct txn_result *res, struct tree_result *out)
{
	struct txn_bytes part = cmd->value;
	cmd->value = (struct txn_bytes){NULL, 0}; /* kept beside the intent, not in the txn layer's versions */
	/*
	 * A command sent again (its coordinator heard nothing in time) lands again, as the same attempt: its key
	 * must stay at the index the attempt first landed at, which its coordinator may have answered already.
	 */
	struct txn_meta there;
	int err = txn_shard_intent(st, cmd->key, &there, NULL);
	if (err && err != GROVE_ENOTFOUND)
		return err;
	bool again = !err && there.id == cmd->txn.id && there.seq == cmd->txn.seq;
	/* This attempt's intent landed already (its answer was lost): the same answer again, reserved or not. */
	struct txn_meta reserver = {0};
	if (!again && (err = reserved_against(t, txn, cmd, part, &reserver)) != GROVE_OK)
		return err;
	if (reserver.id) {
		*res = (struct txn_result){.code = TXN_R_CONFLICT, .other = reserver};
		return GROVE_OK;
	}
	/* Another lane's transaction whose part this one's does not commute with goes first: a conflict, as on one key. */
	struct txn_meta met;
	err = part_meets_holders(t, txn, st, &(struct holder_filter){.self = cmd->txn.id}, part.data, part.len, &met);
	if (!err && met.id)
		*res = (struct txn_result){.code = TXN_R_CONFLICT, .other = met};
	else if (!err)
		err = txn_shard_apply(st, cmd, res);
	if (!err)
		err = update_reservation(t, txn, cmd, part, res);
	if (err || res->code != TXN_R_WRITTEN)
		return err;
	char submit_key[TREE_SM_KEY_MAX];
	if (part_submit_key(part.data, part.len, submit_key, out) != GROVE_OK)
		return GROVE_EINTENT;
	if (submit_key[0] && (err = key_applied_at(t, txn, submit_key, &out->duplicate_of)) != GROVE_OK)
		return err;
	if (out->duplicate_of) {
		snprintf(out->message, sizeof(out->message), "already applied at index %llu",
			 (unsigned long long)out->duplicate_of);
		return GROVE_EINTENT; /* not the txn layer's refusal: undo the intent */
	}
	struct store_txn *trial = NULL;
	err = store_txn_begin(store_txn_store(txn), txn, true, &trial);
	if (!err)
		err = apply_part(t, trial, part.data, part.len, false, out);
	if (trial)
		store_txn_abort(trial);
	if (err || out->err)
		return err ? err : GROVE_EINTENT;
	uint8_t key[STORE_KEY_MAX];
	err = store_put(txn, t->txn_parts, key, (size_t)txn_part_key(t, cmd->txn.id, key), part.data, part.len);
	if (!err && submit_key[0] && !again) {
		uint8_t at[8];
		put_le64(at, index);
		err = store_put(txn, t->txn_parts, key, txn_key_index_key(t, cmd->txn.id, key), at, sizeof(at));
	}
	return err;
}

/* A committed keyed part was applied: remember its key at the index its intent was written at. */
static int remember_part_key(struct tree_sm *t, struct store_txn *txn, uint64_t txn_id, const uint8_t *part,
			     size_t len, uint64_t index)
{
	char submit_key[TREE_SM_KEY_MAX];
	struct tree_result ignored = {0};
	if (part_submit_key(part, len, submit_key, &ignored) != GROVE_OK || !submit_key[0])
		return GROVE_OK; /* a key that is too long never got this far */
	uint8_t key[STORE_KEY_MAX];
	uint64_t at = 0;
	int err = store_get_u64(txn, t->txn_parts, key, txn_key_index_key(t, txn_id, key), 0, &at);
	return err ? err : remember_key(t, txn, submit_key, at ? at : index);
}

/*
 * Resolving an intent: a committed transaction's part is applied to the tree when its intent becomes a
 * version (by the final record, or early: txn_resolve_intent), and dropped with the intent. An early
 * resolution that changes nothing keeps it for the resolution by the record.
 */
static int resolve_intent(struct tree_sm *t, struct store_txn *txn, uint64_t index, const struct txn_store *st,
			  const struct txn_cmd *cmd, struct txn_result *res, struct tree_result *out)
{
	struct txn_meta meta;
	int err = txn_shard_intent(st, cmd->key, &meta, NULL);
	bool exact = !err && txn_intent_matches(&meta, cmd->txn.id, cmd->txn.epoch, cmd->txn.seq, cmd->txn.ts);
	if (err == GROVE_ENOTFOUND)
		err = GROVE_OK;
	if (!err)
		err = txn_shard_apply(st, cmd, res);
	bool resolved = false; /* the intent is gone */
	if (!err && exact) {
		err = txn_shard_intent(st, cmd->key, &meta, NULL);
		resolved = err == GROVE_ENOTFOUND;
		err = resolved ? GROVE_OK : err;
	}
	if (!err)
		err = lift_reservation_of(t, txn, cmd->txn.id);
	bool early = cmd->status == TXN_STAGING;
	uint8_t key[STORE_KEY_MAX];
	size_t klen = (size_t)txn_part_key(t, cmd->txn.id, key);
	if (!err && resolved && (early || cmd->status == TXN_COMMITTED)) {
		struct store_bytes part;
		err = store_get(txn, t->txn_parts, key, klen, &part);
		if (err == GROVE_ENOTFOUND)
			err = GROVE_ECORRUPT; /* written with its intent, in the same transaction */
		if (!err)
			err = apply_part(t, txn, part.data, part.len, true, out);
		if (!err && !out->err)
			out->txn_id = cmd->txn.id;
		if (!err && out->err) {
			/* It was checked when its intent was written, and nothing could change the shard since. */
			fprintf(stderr, "groved: shard %llu: the committed part of transaction %016llx does not apply: %s\n",
				(unsigned long long)t->tree.group, (unsigned long long)cmd->txn.id, out->message);
			err = GROVE_ECORRUPT;
		}
		/* Read again: applying wrote to the store, which may have moved the bytes it gave. */
		if (!err && (err = store_get(txn, t->txn_parts, key, klen, &part)) == GROVE_OK)
			err = remember_part_key(t, txn, cmd->txn.id, part.data, part.len, index);
	}
	if (err || (early && !resolved))
		return err;
	err = store_del(txn, t->txn_parts, key, klen);
	err = err == GROVE_ENOTFOUND ? GROVE_OK : err;
	if (!err) {
		err = store_del(txn, t->txn_parts, key, txn_key_index_key(t, cmd->txn.id, key));
		err = err == GROVE_ENOTFOUND ? GROVE_OK : err;
	}
	return err;
}

/* A transaction command, in a nested transaction: all of it, or (a failure, a refused part) none of it. */
static int apply_txn(struct tree_sm *t, struct store_txn *txn, uint64_t index, const uint8_t *data, size_t len,
		     struct tree_result *out)
{
	struct txn_cmd cmd;
	const char *why = NULL;
	int err = txn_cmd_decode(data, len, &cmd, &why);
	if (err == GROVE_ENOMEM)
		return err;
	if (err) {
		out->err = GROVE_EPROTO;
		snprintf(out->message, sizeof(out->message), "a transaction command does not decode: %s", why ? why : "?");
		return GROVE_OK;
	}
	struct store_txn *nested;
	err = store_txn_begin(store_txn_store(txn), txn, true, &nested);
	if (err) {
		txn_cmd_release(&cmd);
		return err;
	}
	struct txn_lmdbstore b = {&t->txn, t->tree.group, nested};
	struct txn_store st = txn_lmdbstore_store(&b);
	struct txn_result res = {0};
	if (cmd.type == TXN_CMD_WRITE_INTENT)
		err = write_intent(t, nested, index, &st, &cmd, &res, out);
	else if (cmd.type == TXN_CMD_RESOLVE)
		err = resolve_intent(t, nested, index, &st, &cmd, &res, out);
	else
		err = txn_shard_apply(&st, &cmd, &res);
	txn_cmd_release(&cmd);
	if (err == GROVE_EINTENT || err == GROVE_EINVAL) {
		/* Refused whole, alike on every member: the tree refused the part, or the command is malformed. */
		store_txn_abort(nested);
		if (err == GROVE_EINVAL) {
			out->err = GROVE_EINVAL;
			snprintf(out->message, sizeof(out->message), "a malformed transaction command");
		}
		err = GROVE_OK;
	} else if (err) {
		store_txn_abort(nested);
	} else {
		err = store_txn_commit(nested);
		uint8_t *encoded = NULL;
		size_t encoded_len = 0;
		if (!err)
			err = txn_result_encode(&res, &encoded, &encoded_len);
		grove_buf_put(&out->txn_result, encoded, encoded_len);
		free(encoded);
	}
	txn_result_free(&res);
	grove_buf_put(&out->txn_cmd, data, len);
	return err ? err : out->txn_cmd.failed || out->txn_result.failed ? GROVE_ENOMEM : GROVE_OK;
}

/* A batch from a WriteRequest: decoded here, once, and applied atomically (once per idempotency key). */
static int apply_write(struct tree_sm *t, struct store_txn *txn, uint64_t index, const uint8_t *data, size_t len,
		       struct tree_result *out)
{
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, len, data);
	if (!wr) {
		out->err = GROVE_EPROTO;
		snprintf(out->message, sizeof(out->message), "the write request does not decode");
		return GROVE_OK;
	}
	int err = GROVE_OK;
	if (wire_write_has_nul(data, len)) {
		out->err = GROVE_EBADNAME;
		snprintf(out->message, sizeof(out->message), "a name, path or text holds a NUL byte");
	} else if (wr->restore_snapshot.len) {
		/* Only a log from before commands had a kind byte holds a restore this way. */
		if (!tree_is_empty(&t->tree, txn)) {
			out->err = GROVE_EEXIST;
			snprintf(out->message, sizeof(out->message), "restore needs an empty world; this one has data");
		} else {
			out->err = restore(t, txn, wr->restore_snapshot.data, wr->restore_snapshot.len, out->message,
					   sizeof(out->message));
		}
	} else if (strlen(wr->submit_key) >= sizeof(out->key)) {
		out->err = GROVE_ETOOBIG;
		snprintf(out->message, sizeof(out->message), "a submit key is at most %zu bytes", sizeof(out->key) - 1);
	} else if (wr->submit_key[0] && (err = key_applied_at(t, txn, wr->submit_key, &out->duplicate_of)) == GROVE_OK &&
		   out->duplicate_of) {
		snprintf(out->key, sizeof(out->key), "%s", wr->submit_key);
		snprintf(out->message, sizeof(out->message), "already applied at index %llu",
			 (unsigned long long)out->duplicate_of);
	} else if (!err) {
		snprintf(out->key, sizeof(out->key), "%s", wr->submit_key);
		struct wire_batch batch = {0};
		out->err = wire_decode_batch(wr, false, &batch, out->message, sizeof(out->message));
		if (!out->err) {
			int aerr = apply_batch(t, txn, &(struct tree_batch){batch.ops, batch.count}, true, out);
			if (aerr == GROVE_ESTORAGE || aerr == GROVE_ENOSPC || aerr == GROVE_ENOMEM)
				err = aerr;
		}
		wire_batch_free(&batch);
		/* Only an applied batch is remembered: a refused one may be retried once its cause is gone. */
		if (!err && !out->err && out->key[0])
			err = remember_key(t, txn, out->key, index);
	}
	grove__write_request__free_unpacked(wr, NULL);
	return err;
}

/* Whether write @p request would be refused now: by the hold on the shard, or beside @p part if @p given. */
static bool write_refused(struct tree_sm *t, struct store_txn *txn, const uint8_t *request, size_t len,
			  const uint8_t *part, size_t part_len, bool given)
{
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, len, request);
	if (!wr)
		return false; /* refused at apply, held or not */
	struct wire_batch batch = {0};
	struct tree_result out = {0};
	bool refused = false;
	if (wire_decode_batch(wr, false, &batch, out.message, sizeof(out.message)) == GROVE_OK) {
		struct tree_batch b = {batch.ops, batch.count};
		int err = given ? apply_beside(t, txn, 0, part, part_len, &b, false, &out)
				: apply_batch(t, txn, &b, false, &out);
		refused = err != GROVE_OK || out.err == GROVE_EINTENT;
	}
	tree_result_free(&out);
	wire_batch_free(&batch);
	grove__write_request__free_unpacked(wr, NULL);
	return refused;
}

bool tree_sm_write_waits(struct tree_sm *t, struct store_txn *txn, const uint8_t *request, size_t len)
{
	return tree_sm_held(t, txn, NULL) && write_refused(t, txn, request, len, NULL, 0, false);
}

bool tree_sm_write_meets(struct tree_sm *t, struct store_txn *txn, const uint8_t *part, size_t part_len,
			 const uint8_t *request, size_t len)
{
	return write_refused(t, txn, request, len, part, part_len, true);
}

/*
 * The largest part a read is checked beside: the check tries the part, on the loop, for every read of the shard
 * while it is held; beside a larger one (a large subtree carried in or out) a read waits for the part.
 */
#define READ_BESIDE_PART_MAX (64u << 10)

/* Whether a read of @p node (@p whole: with its subtree) may see something part @p part changes (tree_read_beside()). */
static bool read_meets_part(struct tree_sm *t, struct store_txn *txn, const struct store_bytes *part, uint64_t node,
			    bool whole)
{
	if (part->len > READ_BESIDE_PART_MAX)
		return true; /* too large to try for every read */
	struct decoded_part pending;
	bool meets = true; /* a cut's hold, or a part that cannot be read */
	if (decode_part(part->data, part->len, &pending) &&
	    tree_read_beside(&t->tree, txn, &(struct tree_batch){pending.batch.ops, pending.batch.count}, node, whole,
			     &meets) != GROVE_OK)
		meets = true;
	decoded_part_free(&pending);
	return meets;
}

bool tree_sm_read_waits(struct tree_sm *t, struct store_txn *txn, const char *path, int64_t id, bool whole)
{
	struct txn_meta held[TREE_SM_HOLDERS_MAX];
	size_t n = tree_sm_holders(t, txn, held);
	if (!n)
		return false;
	uint64_t node = id > 0 ? (uint64_t)id : 0;
	if (!node && (!path || tree_resolve_path(&t->tree, txn, path, &node) != GROVE_OK))
		return true; /* not here now: a part may bring it */
	for (size_t i = 0; i < n; i++) {
		struct store_bytes part;
		if (held_part(t, txn, held[i].id, &part) != GROVE_OK || read_meets_part(t, txn, &part, node, whole))
			return true;
	}
	return false;
}

bool tree_sm_part_waits(struct tree_sm *t, struct store_txn *txn, const uint8_t *part, size_t len,
			bool (*passes)(void *ctx, uint64_t txn_id), void *ctx)
{
	struct txn_lmdbstore b = {&t->txn, t->tree.group, txn};
	struct txn_store st = txn_lmdbstore_store(&b);
	struct txn_meta met;
	struct holder_filter skip = {0, passes, ctx};
	return part_meets_holders(t, txn, &st, &skip, part, len, &met) != GROVE_OK || met.id != 0;
}

bool tree_sm_parts_meet(struct tree_sm *t, struct store_txn *txn, const uint8_t *a, size_t a_len, const uint8_t *b,
			size_t b_len)
{
	bool commute;
	return parts_commute(t, txn, a, a_len, b, b_len, &commute) != GROVE_OK || !commute;
}

/* ---- splits ---- */

static int split_key(const struct tree_sm *t, uint64_t group, uint8_t key[STORE_KEY_MAX])
{
	uint8_t g[8];
	put_be64(g, group);
	return (int)group_key(t, g, sizeof(g), key);
}

int tree_sm_split_outcome(struct tree_sm *t, struct store_txn *txn, uint64_t group, struct tree_sm_split_outcome *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t key[STORE_KEY_MAX];
	struct store_bytes v;
	int err = store_get(txn, t->splits, key, (size_t)split_key(t, group, key), &v);
	if (err)
		return err;
	if (v.len < 20)
		return GROVE_ECORRUPT;
	const uint8_t *p = v.data;
	out->code = (int)get_le32(p);
	out->index = get_le64(p + 4);
	out->root = get_le64(p + 12);
	size_t n = v.len - 20 < sizeof(out->message) - 1 ? v.len - 20 : sizeof(out->message) - 1;
	memcpy(out->message, p + 20, n);
	out->message[n] = '\0';
	return GROVE_OK;
}

static int record_split(struct tree_sm *t, struct store_txn *txn, uint64_t group, const struct tree_sm_split_outcome *o)
{
	uint8_t key[STORE_KEY_MAX], v[20 + sizeof(o->message)];
	size_t n = strlen(o->message);
	put_le32(v, (uint32_t)o->code);
	put_le64(v + 4, o->index);
	put_le64(v + 12, o->root);
	memcpy(v + 20, o->message, n);
	return store_put(txn, t->splits, key, (size_t)split_key(t, group, key), v, 20 + n);
}

/*
 * A split: decided and done at apply time, in a nested transaction so that a refusal leaves nothing; how
 * it ended is kept, and a repeated command only answers that again.
 */
static int apply_split(struct tree_sm *t, struct store_txn *txn, uint64_t index, const uint8_t *data, size_t len,
		       struct tree_result *out)
{
	uint64_t group = len >= 9 ? get_le64(data) : 0;
	size_t voters = len >= 9 ? data[8] : 0;
	if (len < 9 || voters > 16 || len < 9 + 8 * voters || len - 9 - 8 * voters > 4096) {
		out->err = GROVE_EPROTO;
		snprintf(out->message, sizeof(out->message), "the split command does not decode");
		return GROVE_OK;
	}
	char path[4097];
	size_t path_len = len - 9 - 8 * voters;
	memcpy(path, data + 9 + 8 * voters, path_len);
	path[path_len] = '\0';
	struct tree_sm_split_outcome o;
	int err = tree_sm_split_outcome(t, txn, group, &o);
	if (err == GROVE_OK) {
		out->err = o.code;
		snprintf(out->message, sizeof(out->message), "%s", o.code ? o.message : "split already");
		return GROVE_OK;
	}
	if (err != GROVE_ENOTFOUND)
		return err;
	if (refused_while_held(t, txn, "a split", out))
		return GROVE_OK; /* not kept as the split's outcome: the split is tried again */
	struct store_txn *nested;
	err = store_txn_begin(store_txn_store(txn), txn, true, &nested);
	if (err)
		return err;
	struct tree_split_result res;
	err = tree_split(&t->tree, group, nested, path, &res);
	if (err == GROVE_ESTORAGE || err == GROVE_ENOSPC || err == GROVE_ENOMEM || err == GROVE_ECORRUPT) {
		store_txn_abort(nested);
		return err;
	}
	if (!err && (err = copy_keys(t, nested, group)) != GROVE_OK) {
		store_txn_abort(nested);
		return err;
	}
	if (err)
		store_txn_abort(nested);
	else if ((err = store_txn_commit(nested)) != GROVE_OK)
		return err;
	o = (struct tree_sm_split_outcome){.code = res.err, .index = index, .root = res.root};
	snprintf(o.message, sizeof(o.message), "%s", res.message);
	err = record_split(t, txn, group, &o);
	if (err)
		return err;
	out->err = res.err;
	snprintf(out->message, sizeof(out->message), "%s", res.message);
	if (!res.err) {
		out->split_group = group;
		out->n_split_voters = voters;
		for (size_t i = 0; i < voters; i++)
			out->split_voters[i] = get_le64(data + 9 + 8 * i);
	}
	return GROVE_OK;
}

/*
 * What a move brought into the tree, and the embedded resources that values name, go into the entry's change
 * records (arrival.h): a subscriber given the entry after the tree moved on (behind other entries, catching
 * up, resumed) is still told what arrived, and one that has a resource only in its snapshot's scene, or not
 * at all, is given it.
 */
static int carry_arrivals(struct tree_sm *t, struct store_txn *txn, int err, struct tree_result *out)
{
	static const struct arrival_limits limits = {ARRIVAL_DEFAULT_MAX_NODES, ARRIVAL_DEFAULT_MAX_BYTES};
	if (err || out->err)
		return err;
	(void)arrival_resources(&t->tree, txn, out, &limits); /* out of memory: records as they were, as before */
	bool moved = false;
	for (size_t i = 0; i < out->n_changes && !moved; i++)
		moved = out->changes[i].op == TREE_OP_MOVE;
	if (!moved)
		return err;
	struct tree_view view = {0};
	const struct tree *outside = t->world_view && t->world_view(t->world_view_ctx, &view) == GROVE_OK
					     ? tree_view_group(&view, t->tree.group) : NULL;
	(void)arrival_carry(&t->tree, outside, txn, out, &limits); /* out of memory: records as they were, still right */
	tree_view_free(&view);
	return err;
}

static int apply(void *sm, struct store_txn *txn, uint64_t index, const uint8_t *data, size_t len,
		 struct tree_result *out)
{
	struct tree_sm *t = sm;
	if (data[0] == TREE_CMD_WRITE)
		return carry_arrivals(t, txn, apply_write(t, txn, index, data + 1, len - 1, out), out);
	if (data[0] == TREE_CMD_SPLIT)
		return apply_split(t, txn, index, data + 1, len - 1, out);
	if (data[0] == TREE_CMD_TXN)
		return carry_arrivals(t, txn, apply_txn(t, txn, index, data + 1, len - 1, out), out);
	if (data[0] != TREE_CMD_RESTORE)
		return carry_arrivals(t, txn, apply_write(t, txn, index, data, len, out), out);
	/* Decided here, at apply time, so that a write committed before it makes every member refuse it. */
	if (!tree_is_empty(&t->tree, txn)) {
		out->err = GROVE_EEXIST;
		snprintf(out->message, sizeof(out->message), "restore needs an empty world; this one received writes meanwhile");
		return GROVE_OK;
	}
	/* The leader verified the snapshot before proposing it; a nested transaction keeps a failure clean. */
	struct store_txn *nested;
	int err = store_txn_begin(store_txn_store(txn), txn, true, &nested);
	if (err)
		return err;
	out->err = restore(t, nested, data + 1, len - 1, out->message, sizeof(out->message));
	if (out->err) {
		store_txn_abort(nested);
		return out->err == GROVE_ESTORAGE || out->err == GROVE_ENOSPC || out->err == GROVE_ENOMEM ? out->err : GROVE_OK;
	}
	return store_txn_commit(nested);
}

/* Every record of the group in @p db, without the group id, as table @p table. */
static int dump_grouped(struct tree_sm *t, struct store_txn *txn, store_db db, unsigned table,
			struct snapshot_builder *b)
{
	struct store_cursor *c;
	int err = store_cursor_open(txn, db, &c);
	if (err)
		return err;
	uint8_t prefix[8];
	put_be64(prefix, t->tree.group);
	struct store_bytes k, v;
	for (err = store_cursor_seek(c, prefix, sizeof(prefix), &k, &v); err == GROVE_OK;
	     err = store_cursor_next(c, &k, &v)) {
		if (k.len <= 8 || memcmp(k.data, prefix, 8) != 0)
			break;
		err = snapshot_add_record(b, table, (const uint8_t *)k.data + 8, k.len - 8, v.data, v.len);
		if (err)
			break;
	}
	store_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int dump_txn_record(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len)
{
	return snapshot_add_record(ctx, TREE_SM_TABLE_TXN + table, key, key_len, val, val_len);
}

static int snapshot(void *sm, struct store_txn *txn, struct snapshot_builder *b)
{
	struct tree_sm *t = sm;
	int err = tree_dump(&t->tree, txn, snapshot_add_record, b);
	if (!err)
		err = dump_grouped(t, txn, t->keys, TREE_SM_TABLE_KEYS, b);
	if (!err)
		err = dump_grouped(t, txn, t->keys_by_index, TREE_SM_TABLE_KEYS_BY_INDEX, b);
	if (!err)
		err = dump_grouped(t, txn, t->splits, TREE_SM_TABLE_SPLITS, b);
	if (!err)
		err = dump_grouped(t, txn, t->txn_parts, TREE_SM_TABLE_TXN_PARTS, b);
	if (!err)
		err = txn_lmdbstore_dump(&t->txn, txn, t->tree.group, dump_txn_record, b);
	return err;
}

const struct state_machine_ops tree_sm_ops = {.apply = apply, .snapshot = snapshot, .restore = restore};
