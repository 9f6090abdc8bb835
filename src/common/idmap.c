#include "src/common/idmap.h"

#include <stdlib.h>

#include "src/common/error.h"

static size_t hash(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 31;
	return (size_t)h;
}

void idmap_free(struct idmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

static struct idmap_slot *find(const struct idmap *m, uint64_t a, uint64_t b)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash(a, b) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct idmap_slot *s = &m->slots[i];
		if (!s->value)
			return NULL;
		if (s->a == a && s->b == b)
			return s;
	}
}

void *idmap_get(const struct idmap *m, uint64_t a, uint64_t b)
{
	struct idmap_slot *s = find(m, a, b);
	return s ? s->value : NULL;
}

static void insert(struct idmap_slot *slots, size_t cap, uint64_t a, uint64_t b, void *value)
{
	size_t i = hash(a, b) & (cap - 1);
	while (slots[i].value && !(slots[i].a == a && slots[i].b == b))
		i = (i + 1) & (cap - 1);
	slots[i] = (struct idmap_slot){a, b, value};
}

int idmap_put(struct idmap *m, uint64_t a, uint64_t b, void *value)
{
	if (!value)
		return GROVE_EINVAL;
	struct idmap_slot *s = find(m, a, b);
	if (s) {
		s->value = value;
		return GROVE_OK;
	}
	/* Keep the table at most half full, so probes stay short. */
	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct idmap_slot *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return GROVE_ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slots[i].value)
				insert(slots, cap, m->slots[i].a, m->slots[i].b, m->slots[i].value);
		free(m->slots);
		m->slots = slots;
		m->cap = cap;
	}
	insert(m->slots, m->cap, a, b, value);
	m->n++;
	return GROVE_OK;
}

void *idmap_remove(struct idmap *m, uint64_t a, uint64_t b)
{
	struct idmap_slot *s = find(m, a, b);
	if (!s)
		return NULL;
	void *value = s->value;
	size_t hole = (size_t)(s - m->slots), mask = m->cap - 1;
	/* Shift back the entries after the hole that would no longer be found past it. */
	for (size_t i = (hole + 1) & mask; m->slots[i].value; i = (i + 1) & mask) {
		size_t home = hash(m->slots[i].a, m->slots[i].b) & mask;
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			m->slots[hole] = m->slots[i];
			hole = i;
		}
	}
	m->slots[hole].value = NULL;
	m->n--;
	return value;
}

void idmap_for_each(const struct idmap *m, void (*fn)(void *ctx, uint64_t a, uint64_t b, void *value), void *ctx)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].value)
			fn(ctx, m->slots[i].a, m->slots[i].b, m->slots[i].value);
}
