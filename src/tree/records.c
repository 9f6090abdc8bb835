#include "src/tree/records.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

void put_be64(uint8_t *out, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t get_be64(const uint8_t *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

void put_be32(uint8_t *out, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint32_t get_be32(const uint8_t *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = (v << 8) | in[i];
	return v;
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

void buf_u64(struct variant_buf *b, uint64_t v)
{
	uint8_t tmp[8];
	put_be64(tmp, v);
	variant_buf_put(b, tmp, 8);
}

void buf_u32(struct variant_buf *b, uint32_t v)
{
	uint8_t tmp[4];
	put_be32(tmp, v);
	variant_buf_put(b, tmp, 4);
}

void buf_str(struct variant_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	buf_u32(b, (uint32_t)n);
	variant_buf_put(b, s, n);
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

int node_rec_load(struct store_txn *txn, uint64_t id, struct node_rec *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t key[8];
	put_be64(key, id);
	struct store_bytes v;
	int err = store_get(txn, STORE_NODES, key, sizeof(key), &v);
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

int node_rec_store(struct store_txn *txn, uint64_t id, const struct node_rec *n)
{
	struct variant_buf b = {0};
	buf_u64(&b, n->parent);
	buf_u64(&b, n->order);
	buf_u32(&b, n->next_seq);
	buf_str(&b, n->name);
	buf_str(&b, n->class_name);
	buf_str(&b, n->instance);
	int err = GROVE_ENOMEM;
	if (!b.failed) {
		uint8_t key[8];
		put_be64(key, id);
		err = store_put(txn, STORE_NODES, key, sizeof(key), b.data, b.len);
	}
	variant_buf_free(&b);
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

int conn_rec_load(struct store_txn *txn, uint64_t id, struct conn_rec *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t key[8];
	put_be64(key, id);
	struct store_bytes v;
	int err = store_get(txn, STORE_CONNS, key, sizeof(key), &v);
	if (err)
		return err;
	struct rec_reader r = {.p = v.data, .end = (const uint8_t *)v.data + v.len};
	out->from = rec_u64(&r);
	out->to = rec_u64(&r);
	out->flags = rec_u32(&r);
	out->signal = rec_strdup(&r);
	out->method = rec_strdup(&r);
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

void resource_rec_free(struct resource_rec *r)
{
	free(r->type);
	free(r->path);
	free(r->uid);
	free(r->local_id);
	variant_free(&r->props);
	memset(r, 0, sizeof(*r));
}

int resource_rec_load(struct store_txn *txn, uint64_t id, struct resource_rec *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t key[8];
	put_be64(key, id);
	struct store_bytes v;
	int err = store_get(txn, STORE_RESOURCES, key, sizeof(key), &v);
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
