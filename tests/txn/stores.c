#include "stores.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/common/error.h"
#include "src/txn/lmdbstore.h"
#include "src/txn/memstore.h"
#include "storage/store.h"
#include "support.h"

/* Most groups a test keeps at once, and most entries a count walks. */
#define MAX_GROUPS 64
#define COUNT_LIMIT (1u << 24)

struct group_store {
	uint64_t group;
	struct stores *owner;
	struct txn_memstore *mem;  /* STORES_MEMORY */
	struct txn_lmdbstore lmdb; /* STORES_LMDB: its txn set on every call */
};

struct stores {
	enum stores_kind kind;
	char *dir;
	struct store *env;
	struct txn_lmdbstore_tables tables;
	struct store_txn *txn; /* the command's write transaction, NULL between commands */
	struct group_store *groups[MAX_GROUPS];
	size_t n_groups;
};

struct stores *stores_open(enum stores_kind kind)
{
	struct stores *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->kind = kind;
	if (kind == STORES_LMDB) {
		s->dir = test_tmpdir("txnstore");
		struct store_options opts = {.no_sync = true};
		assert_int_equal(store_open(&s->env, s->dir, &opts), GROVE_OK);
		assert_int_equal(txn_lmdbstore_open(s->env, &s->tables), GROVE_OK);
	}
	return s;
}

void stores_close(struct stores *s)
{
	if (!s)
		return;
	store_txn_abort(s->txn);
	for (size_t i = 0; i < s->n_groups; i++) {
		txn_memstore_destroy(s->groups[i]->mem);
		free(s->groups[i]);
	}
	store_close(s->env);
	test_rmtree(s->dir);
	free(s);
}

enum stores_kind stores_kind(const struct stores *s)
{
	return s->kind;
}

const char *stores_kind_name(enum stores_kind kind)
{
	return kind == STORES_LMDB ? "lmdb" : "memory";
}

static struct group_store *group_of(struct stores *s, uint64_t group)
{
	for (size_t i = 0; i < s->n_groups; i++)
		if (s->groups[i]->group == group)
			return s->groups[i];
	assert_true(s->n_groups < MAX_GROUPS);
	struct group_store *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	g->group = group;
	g->owner = s;
	if (s->kind == STORES_MEMORY)
		assert_int_equal(txn_memstore_create(&g->mem), GROVE_OK);
	else
		g->lmdb = (struct txn_lmdbstore){.tables = &s->tables, .group = group};
	s->groups[s->n_groups++] = g;
	return g;
}

/* The group's LMDB store in the transaction open now, begun if there is none. */
static int current(struct group_store *g, struct txn_store *out)
{
	struct stores *s = g->owner;
	if (!s->txn) {
		int err = store_txn_begin(s->env, NULL, true, &s->txn);
		if (err)
			return err;
	}
	g->lmdb.txn = s->txn;
	*out = txn_lmdbstore_store(&g->lmdb);
	return GROVE_OK;
}

static int current_get(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *val)
{
	struct txn_store st;
	int err = current(ctx, &st);
	return err ? err : st.ops->get(st.ctx, table, key, val);
}

static int current_put(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes val)
{
	struct txn_store st;
	int err = current(ctx, &st);
	return err ? err : st.ops->put(st.ctx, table, key, val);
}

static int current_del(void *ctx, enum txn_table table, struct txn_bytes key)
{
	struct txn_store st;
	int err = current(ctx, &st);
	return err ? err : st.ops->del(st.ctx, table, key);
}

static int current_seek(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *key_out,
			struct txn_bytes *val_out)
{
	struct txn_store st;
	int err = current(ctx, &st);
	return err ? err : st.ops->seek(st.ctx, table, key, key_out, val_out);
}

static const struct txn_store_ops current_ops = {current_get, current_put, current_del, current_seek};

struct txn_store stores_of(struct stores *s, uint64_t group)
{
	struct group_store *g = group_of(s, group);
	if (s->kind == STORES_MEMORY)
		return txn_memstore_store(g->mem);
	return (struct txn_store){&current_ops, g};
}

int stores_applied(struct stores *s, int err)
{
	struct store_txn *txn = s->txn;
	s->txn = NULL;
	if (!txn)
		return err;
	if (err != GROVE_OK && err != GROVE_EINVAL) {
		store_txn_abort(txn);
		return err;
	}
	int committed = store_txn_commit(txn);
	return err ? err : committed;
}

size_t stores_count(struct stores *s, uint64_t group, enum txn_table table)
{
	struct txn_store st = stores_of(s, group);
	uint8_t from[STORE_KEY_MAX + 1];
	struct txn_bytes at = {from, 0}, k, v;
	size_t n = 0;
	int err = GROVE_OK;
	while (n < COUNT_LIMIT && (err = st.ops->seek(st.ctx, table, at, &k, &v)) == GROVE_OK) {
		if (k.len >= sizeof(from))
			return (size_t)-1;
		/* The next key after k is k followed by a zero byte. */
		memcpy(from, k.data, k.len);
		from[k.len] = 0;
		at.len = k.len + 1;
		n++;
	}
	return n < COUNT_LIMIT && err == GROVE_ENOTFOUND ? n : (size_t)-1;
}

int stores_forget(struct stores *s, uint64_t group)
{
	for (size_t i = 0; i < s->n_groups; i++) {
		struct group_store *g = s->groups[i];
		if (g->group != group)
			continue;
		int err = GROVE_OK;
		if (s->kind == STORES_LMDB) {
			struct txn_store st;
			err = current(g, &st);
			if (!err)
				err = txn_lmdbstore_delete(&s->tables, s->txn, group);
			err = stores_applied(s, err);
		}
		txn_memstore_destroy(g->mem);
		free(g);
		s->groups[i] = s->groups[--s->n_groups];
		return err;
	}
	return GROVE_OK;
}
