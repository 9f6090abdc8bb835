#include "src/txn/memstore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"

/* One entry: key and value share one allocation, the key first. */
struct mem_entry {
	uint8_t *key;
	size_t key_len;
	uint8_t *val; /* points into the same block, after the key */
	size_t val_len;
};

struct mem_table {
	struct mem_entry *entries; /* sorted by key */
	size_t n, cap;
};

struct txn_memstore {
	struct mem_table tables[TXN_TABLE_COUNT];
};

static int key_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

/* The index of the first entry whose key is >= key. */
static size_t lower_bound(const struct mem_table *t, struct txn_bytes key)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(t->entries[mid].key, t->entries[mid].key_len, key.data, key.len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool at_key(const struct mem_table *t, size_t i, struct txn_bytes key)
{
	return i < t->n && key_cmp(t->entries[i].key, t->entries[i].key_len, key.data, key.len) == 0;
}

static int mem_get(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *val)
{
	struct mem_table *t = &((struct txn_memstore *)ctx)->tables[table];
	size_t i = lower_bound(t, key);
	if (!at_key(t, i, key))
		return GROVE_ENOTFOUND;
	*val = (struct txn_bytes){t->entries[i].val, t->entries[i].val_len};
	return GROVE_OK;
}

static int mem_put(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes val)
{
	struct mem_table *t = &((struct txn_memstore *)ctx)->tables[table];
	uint8_t *block = malloc(key.len + val.len + 1);
	if (!block)
		return GROVE_ENOMEM;
	if (key.len)
		memcpy(block, key.data, key.len);
	if (val.len)
		memcpy(block + key.len, val.data, val.len);
	struct mem_entry e = {block, key.len, block + key.len, val.len};
	size_t i = lower_bound(t, key);
	if (at_key(t, i, key)) {
		free(t->entries[i].key);
		t->entries[i] = e;
		return GROVE_OK;
	}
	if (grove_grow((void **)&t->entries, &t->cap, t->n, sizeof(*t->entries)) != GROVE_OK) {
		free(block);
		return GROVE_ENOMEM;
	}
	memmove(t->entries + i + 1, t->entries + i, (t->n - i) * sizeof(*t->entries));
	t->entries[i] = e;
	t->n++;
	return GROVE_OK;
}

static int mem_del(void *ctx, enum txn_table table, struct txn_bytes key)
{
	struct mem_table *t = &((struct txn_memstore *)ctx)->tables[table];
	size_t i = lower_bound(t, key);
	if (!at_key(t, i, key))
		return GROVE_ENOTFOUND;
	free(t->entries[i].key);
	memmove(t->entries + i, t->entries + i + 1, (t->n - i - 1) * sizeof(*t->entries));
	t->n--;
	return GROVE_OK;
}

static int mem_seek(void *ctx, enum txn_table table, struct txn_bytes key, struct txn_bytes *key_out,
		    struct txn_bytes *val_out)
{
	struct mem_table *t = &((struct txn_memstore *)ctx)->tables[table];
	size_t i = lower_bound(t, key);
	if (i >= t->n)
		return GROVE_ENOTFOUND;
	*key_out = (struct txn_bytes){t->entries[i].key, t->entries[i].key_len};
	*val_out = (struct txn_bytes){t->entries[i].val, t->entries[i].val_len};
	return GROVE_OK;
}

static const struct txn_store_ops mem_ops = {mem_get, mem_put, mem_del, mem_seek};

int txn_memstore_create(struct txn_memstore **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? GROVE_OK : GROVE_ENOMEM;
}

void txn_memstore_destroy(struct txn_memstore *m)
{
	if (!m)
		return;
	for (int t = 0; t < TXN_TABLE_COUNT; t++) {
		for (size_t i = 0; i < m->tables[t].n; i++)
			free(m->tables[t].entries[i].key);
		free(m->tables[t].entries);
	}
	free(m);
}

struct txn_store txn_memstore_store(struct txn_memstore *m)
{
	return (struct txn_store){&mem_ops, m};
}

size_t txn_memstore_count(const struct txn_memstore *m, enum txn_table table)
{
	return m->tables[table].n;
}
