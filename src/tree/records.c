#include "src/tree/records.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

/* ---- one group's part of a table ---- */

/* The stored form of @p key: the group id, then the key. @return its length, 0 if it is too long. */
static size_t group_key(const struct tree *t, const void *key, size_t len, uint8_t out[STORE_KEY_MAX])
{
	if (len > STORE_KEY_MAX - 8)
		return 0;
	put_be64(out, t->group);
	if (len)
		memcpy(out + 8, key, len);
	return 8 + len;
}

int tt_get(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *key, size_t len,
	   struct store_bytes *val)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, key, len, k);
	return klen ? store_get(txn, t->db[tab], k, klen, val) : GROVE_ENOTFOUND;
}

int tt_put(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *key, size_t len,
	   const void *val, size_t val_len)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, key, len, k);
	return klen ? store_put(txn, t->db[tab], k, klen, val, val_len) : GROVE_EINVAL;
}

int tt_del(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *key, size_t len)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, key, len, k);
	return klen ? store_del(txn, t->db[tab], k, klen) : GROVE_ENOTFOUND;
}

int tt_del_prefix(const struct tree *t, struct store_txn *txn, enum tree_table tab, const void *prefix, size_t len)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, prefix, len, k);
	return klen ? store_del_prefix(txn, t->db[tab], k, klen) : GROVE_EINVAL;
}

int tt_meta_get(const struct tree *t, struct store_txn *txn, const char *name, uint64_t dflt, uint64_t *value)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, name, strlen(name), k);
	return store_get_u64(txn, t->db[TREE_META], k, klen, dflt, value);
}

int tt_meta_put(const struct tree *t, struct store_txn *txn, const char *name, uint64_t value)
{
	uint8_t k[STORE_KEY_MAX];
	size_t klen = group_key(t, name, strlen(name), k);
	return store_put_u64(txn, t->db[TREE_META], k, klen, value);
}

int tt_meta_put_count(const struct tree *t, struct store_txn *txn, const char *name, uint64_t value)
{
	if (value)
		return tt_meta_put(t, txn, name, value);
	int err = tt_del(t, txn, TREE_META, name, strlen(name));
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int tt_meta_get_text(const struct tree *t, struct store_txn *txn, const char *name, char **out)
{
	*out = NULL;
	struct store_bytes v;
	int err = tt_get(t, txn, TREE_META, name, strlen(name), &v);
	if (err)
		return err == GROVE_ENOTFOUND ? GROVE_OK : err;
	*out = strndup(v.data, v.len);
	return *out ? GROVE_OK : GROVE_ENOMEM;
}

int tt_meta_put_text(const struct tree *t, struct store_txn *txn, const char *name, const char *value)
{
	return tt_put(t, txn, TREE_META, name, strlen(name), value, strlen(value));
}

int tt_own_node(const struct tree *t, struct store_txn *txn, uint64_t id, bool *own)
{
	*own = false;
	uint8_t key[8];
	put_be64(key, id);
	int err = tt_get(t, txn, TREE_NODES, key, sizeof(key), NULL);
	if (err == GROVE_ENOTFOUND)
		return GROVE_OK;
	uint64_t group;
	if (!err)
		err = tt_get_id_u64(t, txn, TREE_MOUNTS, id, &group);
	*own = err == GROVE_ENOTFOUND;
	return *own ? GROVE_OK : err;
}

/* The record of @p id in @p tab (an 8-byte id key), borrowed from @p txn. */
static int get_by_id(const struct tree *t, struct store_txn *txn, enum tree_table tab, uint64_t id,
		     struct store_bytes *v)
{
	uint8_t key[8];
	put_be64(key, id);
	return tt_get(t, txn, tab, key, sizeof(key), v);
}

int tt_get_id_u64(const struct tree *t, struct store_txn *txn, enum tree_table tab, uint64_t id, uint64_t *value)
{
	struct store_bytes v;
	int err = get_by_id(t, txn, tab, id, &v);
	if (!err && v.len != 8)
		err = GROVE_ECORRUPT;
	if (!err)
		*value = get_be64(v.data);
	return err;
}

int tt_put_id_u64(const struct tree *t, struct store_txn *txn, enum tree_table tab, uint64_t id, uint64_t value)
{
	uint8_t key[8], val[8];
	put_be64(key, id);
	put_be64(val, value);
	return tt_put(t, txn, tab, key, sizeof(key), val, sizeof(val));
}

int tree_top(const struct tree *t, struct store_txn *txn, uint64_t *top)
{
	return tt_meta_get(t, txn, "shard_root", TREE_ROOT_ID, top);
}

struct tt_cursor {
	struct store_cursor *c; /* over the whole table */
	uint64_t group;         /* the part it walks */
};

int tt_cursor_open(const struct tree *t, struct store_txn *txn, enum tree_table tab, struct tt_cursor **out)
{
	*out = malloc(sizeof(**out));
	if (!*out)
		return GROVE_ENOMEM;
	(*out)->group = t->group;
	int err = store_cursor_open(txn, t->db[tab], &(*out)->c);
	if (err) {
		free(*out);
		*out = NULL;
	}
	return err;
}

void tt_cursor_close(struct tt_cursor *c)
{
	if (!c)
		return;
	store_cursor_close(c->c);
	free(c);
}

/* Keep a position only if it is in the cursor's group, and strip the group from its key. */
static int in_group(struct tt_cursor *c, int err, struct store_bytes *k, struct store_bytes *key_out)
{
	if (err)
		return err;
	if (k->len < 8 || get_be64(k->data) != c->group)
		return GROVE_ENOTFOUND;
	if (key_out)
		*key_out = (struct store_bytes){(const uint8_t *)k->data + 8, k->len - 8};
	return GROVE_OK;
}

int tt_seek(struct tt_cursor *c, const void *key, size_t len, struct store_bytes *key_out, struct store_bytes *val_out)
{
	uint8_t k[STORE_KEY_MAX];
	struct tree t = {.group = c->group};
	size_t klen = group_key(&t, key, len, k);
	if (!klen)
		return GROVE_ENOTFOUND;
	struct store_bytes at;
	return in_group(c, store_cursor_seek(c->c, k, klen, &at, val_out), &at, key_out);
}

int tt_next(struct tt_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out)
{
	struct store_bytes at;
	return in_group(c, store_cursor_next(c->c, &at, val_out), &at, key_out);
}

int tt_prev(struct tt_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out)
{
	struct store_bytes at;
	return in_group(c, store_cursor_prev(c->c, &at, val_out), &at, key_out);
}

int tt_last(struct tt_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out)
{
	/* The group's last key is the one before the next group's first. */
	struct store_bytes at;
	int err = GROVE_ENOTFOUND;
	if (c->group < UINT64_MAX) {
		uint8_t next[8];
		put_be64(next, c->group + 1);
		err = store_cursor_seek(c->c, next, sizeof(next), &at, NULL);
		if (err == GROVE_OK)
			err = store_cursor_prev(c->c, &at, val_out);
	}
	if (err == GROVE_ENOTFOUND)
		err = store_cursor_last(c->c, &at, val_out);
	return in_group(c, err, &at, key_out);
}

static bool rec_need(struct rec_reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return false;
	}
	return true;
}

uint64_t rec_u64(struct rec_reader *r)
{
	if (!rec_need(r, 8))
		return 0;
	uint64_t v = get_be64(r->p);
	r->p += 8;
	return v;
}

uint32_t rec_u32(struct rec_reader *r)
{
	if (!rec_need(r, 4))
		return 0;
	uint32_t v = get_be32(r->p);
	r->p += 4;
	return v;
}

uint8_t rec_u8(struct rec_reader *r)
{
	if (!rec_need(r, 1))
		return 0;
	return *r->p++;
}

const char *rec_str(struct rec_reader *r, uint32_t *len)
{
	*len = rec_u32(r);
	if (!rec_need(r, *len))
		return NULL;
	const char *s = (const char *)r->p;
	r->p += *len;
	return s;
}

void buf_str(struct grove_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	grove_buf_be32(b, (uint32_t)n);
	grove_buf_put(b, s, n);
}

/* Copy a length-prefixed string out of a record as an owned C string. */
static char *rec_strdup(struct rec_reader *r)
{
	uint32_t len;
	const char *s = rec_str(r, &len);
	if (!s)
		return NULL;
	char *copy = malloc((size_t)len + 1);
	if (!copy) {
		r->bad = r->oom = true;
		return NULL;
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

void node_rec_free(struct node_rec *n)
{
	free(n->name);
	free(n->class_name);
	free(n->instance);
	memset(n, 0, sizeof(*n));
}

int node_rec_load(const struct tree *t, struct store_txn *txn, uint64_t id, struct node_rec *out)
{
	memset(out, 0, sizeof(*out));
	struct store_bytes v;
	int err = get_by_id(t, txn, TREE_NODES, id, &v);
	if (err)
		return err;
	struct rec_reader r = {.p = v.data, .end = (const uint8_t *)v.data + v.len};
	out->parent = rec_u64(&r);
	out->order = rec_u64(&r);
	out->next_seq = rec_u32(&r);
	out->name = rec_strdup(&r);
	out->class_name = rec_strdup(&r);
	out->instance = rec_strdup(&r);
	if (r.bad || r.p != r.end) {
		node_rec_free(out);
		return r.oom ? GROVE_ENOMEM : GROVE_ECORRUPT;
	}
	return GROVE_OK;
}

int node_rec_store(const struct tree *t, struct store_txn *txn, uint64_t id, const struct node_rec *n)
{
	struct grove_buf b = {0};
	grove_buf_be64(&b, n->parent);
	grove_buf_be64(&b, n->order);
	grove_buf_be32(&b, n->next_seq);
	buf_str(&b, n->name);
	buf_str(&b, n->class_name);
	buf_str(&b, n->instance);
	int err = GROVE_ENOMEM;
	if (!b.failed) {
		uint8_t key[8];
		put_be64(key, id);
		err = tt_put(t, txn, TREE_NODES, key, sizeof(key), b.data, b.len);
	}
	grove_buf_free(&b);
	return err;
}

size_t id_name_key(uint8_t *key, uint64_t id, const char *name)
{
	size_t n = strlen(name);
	put_be64(key, id);
	memcpy(key + 8, name, n);
	return 8 + n;
}

size_t id_pair_key(uint8_t *key, uint64_t a, uint64_t b)
{
	put_be64(key, a);
	put_be64(key + 8, b);
	return 16;
}

bool key_has_id_prefix(const struct store_bytes *key, uint64_t id)
{
	return key->len >= 8 && get_be64(key->data) == id;
}

void conn_rec_free(struct conn_rec *c)
{
	free(c->signal);
	free(c->method);
	variant_free(&c->binds);
	memset(c, 0, sizeof(*c));
}

int conn_rec_decode(const void *val, size_t len, struct conn_rec *out)
{
	memset(out, 0, sizeof(*out));
	struct rec_reader r = {.p = val, .end = (const uint8_t *)val + len};
	out->from = rec_u64(&r);
	out->to = rec_u64(&r);
	out->flags = rec_u32(&r);
	out->signal = rec_strdup(&r);
	out->method = rec_strdup(&r);
	int err = GROVE_OK;
	if (!r.bad) {
		size_t used = 0;
		err = variant_decode(&out->binds, r.p, (size_t)(r.end - r.p), &used);
		if (err || used != (size_t)(r.end - r.p))
			r.bad = true;
	}
	if (r.bad) {
		conn_rec_free(out);
		return r.oom || err == GROVE_ENOMEM ? GROVE_ENOMEM : GROVE_ECORRUPT;
	}
	return GROVE_OK;
}

int conn_rec_load(const struct tree *t, struct store_txn *txn, uint64_t id, struct conn_rec *out)
{
	memset(out, 0, sizeof(*out));
	struct store_bytes v;
	int err = get_by_id(t, txn, TREE_CONNS, id, &v);
	return err ? err : conn_rec_decode(v.data, v.len, out);
}

void resource_rec_free(struct resource_rec *r)
{
	free(r->type);
	free(r->path);
	free(r->uid);
	free(r->local_id);
	variant_free(&r->props);
	memset(r, 0, sizeof(*r));
}

int resource_rec_load(const struct tree *t, struct store_txn *txn, uint64_t id, struct resource_rec *out)
{
	memset(out, 0, sizeof(*out));
	struct store_bytes v;
	int err = get_by_id(t, txn, TREE_RESOURCES, id, &v);
	if (err)
		return err;
	struct rec_reader r = {.p = v.data, .end = (const uint8_t *)v.data + v.len};
	out->kind = rec_u8(&r);
	out->type = rec_strdup(&r);
	out->path = rec_strdup(&r);
	out->uid = rec_strdup(&r);
	out->local_id = rec_strdup(&r);
	if (!r.bad) {
		size_t used = 0;
		err = variant_decode(&out->props, r.p, (size_t)(r.end - r.p), &used);
		if (err || used != (size_t)(r.end - r.p))
			r.bad = true;
	}
	if (r.bad) {
		resource_rec_free(out);
		return r.oom || err == GROVE_ENOMEM ? GROVE_ENOMEM : GROVE_ECORRUPT;
	}
	return GROVE_OK;
}
