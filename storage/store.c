#include "storage/store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/common/bytes.h"
#include "src/common/error.h"

/* Named databases an environment may hold: the tree's tables, replica state, history and a few spare. */
#define MAX_DBS 64

struct store {
	MDB_env *env; /* the LMDB environment */
};

struct store_txn {
	struct store *store; /* owning environment */
	MDB_txn *txn;        /* the LMDB transaction */
};

struct store_cursor {
	MDB_cursor *cursor; /* the LMDB cursor */
};

#define DEFAULT_MAP_SIZE (64ull << 30)

static int log_mdb(const char *what, int rc)
{
	fprintf(stderr, "store: %s: %s\n", what, mdb_strerror(rc));
	return rc == ENOSPC || rc == EDQUOT ? GROVE_ENOSPC : GROVE_ESTORAGE;
}

int store_open(struct store **out, const char *dir, const struct store_options *opts)
{
	struct store_options defaults = {0};
	if (!opts)
		opts = &defaults;
	*out = NULL;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "store: cannot create %s: %s\n", dir, strerror(errno));
		return GROVE_EIO;
	}
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return GROVE_ENOMEM;
	int rc = mdb_env_create(&s->env);
	if (rc) {
		free(s);
		return log_mdb("create", rc);
	}
	mdb_env_set_maxdbs(s->env, MAX_DBS);
	mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE);
	/* NOTLS: transactions are tied to their struct, not to a thread, so a
	 * server may hand read transactions between threads. */
	unsigned flags = MDB_NOTLS | (opts->lazy_sync ? MDB_NOMETASYNC : 0) | (opts->no_sync ? MDB_NOSYNC : 0);
	rc = mdb_env_open(s->env, dir, flags, 0644);
	if (rc) {
		fprintf(stderr, "store: open %s: %s\n", dir, mdb_strerror(rc));
		mdb_env_close(s->env);
		free(s);
		return rc == EACCES || rc == ENOENT || rc == EAGAIN ? GROVE_EIO : GROVE_ESTORAGE;
	}
	*out = s;
	return GROVE_OK;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s);
}

int store_db_open(struct store *s, const char *name, bool create, store_db *out)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc)
		return log_mdb("begin", rc);
	MDB_dbi dbi;
	rc = mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, &dbi);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return GROVE_ENOTFOUND;
	}
	if (rc) {
		mdb_txn_abort(txn);
		return log_mdb(name, rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return log_mdb("open database", rc);
	*out = dbi;
	return GROVE_OK;
}

int store_db_drop(struct store_txn *txn, store_db db)
{
	int rc = mdb_drop(txn->txn, db, 1);
	return rc ? log_mdb("drop", rc) : GROVE_OK;
}

int store_txn_begin(struct store *s, struct store_txn *parent, bool write, struct store_txn **out)
{
	*out = NULL;
	if (parent && !write)
		return GROVE_EINVAL;
	struct store_txn *t = malloc(sizeof(*t));
	if (!t)
		return GROVE_ENOMEM;
	t->store = s;
	int rc = mdb_txn_begin(s->env, parent ? parent->txn : NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc) {
		free(t);
		return log_mdb("begin", rc);
	}
	*out = t;
	return GROVE_OK;
}

int store_sync(struct store *s)
{
	int rc = mdb_env_sync(s->env, 1);
	return rc ? log_mdb("sync", rc) : GROVE_OK;
}

int store_txn_commit(struct store_txn *txn)
{
	int rc = mdb_txn_commit(txn->txn);
	free(txn);
	return rc ? log_mdb("commit", rc) : GROVE_OK;
}

struct store *store_txn_store(struct store_txn *txn)
{
	return txn->store;
}

void store_txn_abort(struct store_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn->txn);
	free(txn);
}

static void to_view(const MDB_val *v, struct store_bytes *out)
{
	if (out) {
		out->data = v->mv_data;
		out->len = v->mv_size;
	}
}

int store_get(struct store_txn *txn, store_db db, const void *key, size_t key_len,
	      struct store_bytes *val)
{
	MDB_val k = {key_len, (void *)key}, v;
	int rc = mdb_get(txn->txn, db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return GROVE_ENOTFOUND;
	if (rc)
		return log_mdb("get", rc);
	to_view(&v, val);
	return GROVE_OK;
}

int store_put(struct store_txn *txn, store_db db, const void *key, size_t key_len,
	      const void *val, size_t val_len)
{
	if (key_len == 0 || key_len > 511)
		return GROVE_EINVAL;
	MDB_val k = {key_len, (void *)key}, v = {val_len, (void *)val};
	int rc = mdb_put(txn->txn, db, &k, &v, 0);
	return rc ? log_mdb("put", rc) : GROVE_OK;
}

int store_put_new(struct store_txn *txn, store_db db, const void *key, size_t key_len, const void *val,
		  size_t val_len, struct store_bytes *old)
{
	if (key_len == 0 || key_len > 511)
		return GROVE_EINVAL;
	MDB_val k = {key_len, (void *)key}, v = {val_len, (void *)val};
	int rc = mdb_put(txn->txn, db, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		if (old)
			to_view(&v, old);
		return GROVE_EEXIST;
	}
	return rc ? log_mdb("put", rc) : GROVE_OK;
}

int store_del(struct store_txn *txn, store_db db, const void *key, size_t key_len)
{
	MDB_val k = {key_len, (void *)key};
	int rc = mdb_del(txn->txn, db, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return GROVE_ENOTFOUND;
	return rc ? log_mdb("del", rc) : GROVE_OK;
}

int store_get_u64(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t dflt,
		  uint64_t *value)
{
	struct store_bytes v;
	int err = store_get(txn, db, key, key_len, &v);
	if (err == GROVE_ENOTFOUND) {
		*value = dflt;
		return GROVE_OK;
	}
	if (err)
		return err;
	if (v.len != 8)
		return GROVE_ECORRUPT;
	*value = get_le64(v.data);
	return GROVE_OK;
}

int store_put_u64(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t value)
{
	uint8_t v[8];
	put_le64(v, value);
	return store_put(txn, db, key, key_len, v, sizeof(v));
}

int store_get_u64_pair(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t *a, uint64_t *b)
{
	struct store_bytes v;
	*a = *b = 0;
	int err = store_get(txn, db, key, key_len, &v);
	if (err == GROVE_ENOTFOUND)
		return GROVE_OK;
	if (err)
		return err;
	if (v.len != 16)
		return GROVE_ECORRUPT;
	*a = get_le64(v.data);
	*b = get_le64((const uint8_t *)v.data + 8);
	return GROVE_OK;
}

int store_put_u64_pair(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t a, uint64_t b)
{
	uint8_t v[16];
	put_le64(v, a);
	put_le64(v + 8, b);
	return store_put(txn, db, key, key_len, v, sizeof(v));
}

int store_del_prefix(struct store_txn *txn, store_db db, const void *prefix, size_t len)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn->txn, db, &c);
	if (rc)
		return log_mdb("cursor", rc);
	for (;;) {
		/* Seek again after each delete: a cursor whose last key went is no longer positioned. */
		MDB_val k = {len, (void *)prefix}, v;
		rc = mdb_cursor_get(c, &k, &v, len ? MDB_SET_RANGE : MDB_FIRST);
		if (rc || k.mv_size < len || (len && memcmp(k.mv_data, prefix, len) != 0))
			break;
		rc = mdb_cursor_del(c, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? GROVE_OK : log_mdb("delete", rc);
}

int store_cursor_open(struct store_txn *txn, store_db db, struct store_cursor **out)
{
	*out = NULL;
	struct store_cursor *c = malloc(sizeof(*c));
	if (!c)
		return GROVE_ENOMEM;
	int rc = mdb_cursor_open(txn->txn, db, &c->cursor);
	if (rc) {
		free(c);
		return log_mdb("cursor", rc);
	}
	*out = c;
	return GROVE_OK;
}

void store_cursor_close(struct store_cursor *c)
{
	if (!c)
		return;
	mdb_cursor_close(c->cursor);
	free(c);
}

static int cursor_op(struct store_cursor *c, MDB_val *k, MDB_cursor_op op, struct store_bytes *key_out,
		     struct store_bytes *val_out)
{
	MDB_val v;
	int rc = mdb_cursor_get(c->cursor, k, &v, op);
	if (rc == MDB_NOTFOUND)
		return GROVE_ENOTFOUND;
	if (rc)
		return log_mdb("cursor get", rc);
	to_view(k, key_out);
	to_view(&v, val_out);
	return GROVE_OK;
}

int store_cursor_seek(struct store_cursor *c, const void *key, size_t key_len, struct store_bytes *key_out,
		      struct store_bytes *val_out)
{
	MDB_val k = {key_len, (void *)key};
	return cursor_op(c, &k, key_len ? MDB_SET_RANGE : MDB_FIRST, key_out, val_out);
}

int store_cursor_last(struct store_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out)
{
	MDB_val k = {0, NULL};
	return cursor_op(c, &k, MDB_LAST, key_out, val_out);
}

int store_cursor_next(struct store_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out)
{
	MDB_val k = {0, NULL};
	return cursor_op(c, &k, MDB_NEXT, key_out, val_out);
}

int store_cursor_prev(struct store_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out)
{
	MDB_val k = {0, NULL};
	return cursor_op(c, &k, MDB_PREV, key_out, val_out);
}

int store_cursor_del(struct store_cursor *c)
{
	int rc = mdb_cursor_del(c->cursor, 0);
	return rc ? log_mdb("cursor del", rc) : GROVE_OK;
}

int store_file_bytes(struct store_txn *txn, uint64_t *bytes)
{
	MDB_envinfo info;
	MDB_stat ms;
	int rc = mdb_env_info(txn->store->env, &info);
	if (!rc)
		rc = mdb_env_stat(txn->store->env, &ms);
	if (rc)
		return log_mdb("env info", rc);
	*bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	return GROVE_OK;
}

int store_db_entries(struct store_txn *txn, store_db db, uint64_t *entries)
{
	MDB_stat ms;
	int rc = mdb_stat(txn->txn, db, &ms);
	if (rc)
		return log_mdb("stat", rc);
	*entries = ms.ms_entries;
	return GROVE_OK;
}
