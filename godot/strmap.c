#include "godot/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

/*
 * FNV-1a: short keys, no adversary (keys come from the scene being imported, bounded in size), finished
 * with a full mix because the slot is chosen by the low bits, which FNV leaves weak for keys that differ
 * only in their last characters ("N10", "N11", ...).
 */
static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

int strmap_init(struct strmap *m, size_t expected)
{
	size_t cap = 16;
	while (cap < 2 * expected + 2)
		cap *= 2;
	m->slots = calloc(cap, sizeof(*m->slots));
	m->capacity = m->slots ? cap : 0;
	m->count = 0;
	m->keys = (struct arena){0};
	return m->slots ? GROVE_OK : GROVE_ENOMEM;
}

void strmap_free(struct strmap *m)
{
	arena_free(&m->keys);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static struct strmap_slot *find(const struct strmap *m, const char *key, uint64_t h)
{
	size_t mask = m->capacity - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
			return s;
	}
}

static int grow(struct strmap *m)
{
	struct strmap bigger;
	if (strmap_init(&bigger, m->capacity))
		return GROVE_ENOMEM;
	bigger.keys = m->keys;
	for (size_t i = 0; i < m->capacity; i++) {
		if (m->slots[i].key) {
			*find(&bigger, m->slots[i].key, m->slots[i].hash) = m->slots[i];
			bigger.count++;
		}
	}
	free(m->slots);
	*m = bigger;
	return GROVE_OK;
}

/* The slot of @p key, or the empty one where it goes (with room for it made). */
static int slot_for(struct strmap *m, const char *key, struct strmap_slot **out)
{
	if (2 * (m->count + 1) > m->capacity && grow(m))
		return GROVE_ENOMEM;
	uint64_t h = hash(key);
	*out = find(m, key, h);
	(*out)->hash = (*out)->key ? (*out)->hash : h;
	return GROVE_OK;
}

/* Fill the empty slot @p s with a copy of @p key. */
static int fill(struct strmap *m, struct strmap_slot *s, const char *key, size_t value)
{
	s->key = arena_strdup(&m->keys, key);
	if (!s->key)
		return GROVE_ENOMEM;
	s->value = value;
	m->count++;
	return GROVE_OK;
}

int strmap_intern(struct strmap *m, const char *key, size_t *value)
{
	struct strmap_slot *s;
	int err = slot_for(m, key, &s);
	if (err || s->key) {
		if (!err)
			*value = s->value;
		return err;
	}
	return fill(m, s, key, *value);
}

int strmap_put(struct strmap *m, const char *key, size_t value)
{
	struct strmap_slot *s;
	int err = slot_for(m, key, &s);
	if (err)
		return err;
	if (s->key)
		return GROVE_EEXIST;
	return fill(m, s, key, value);
}

int strmap_set(struct strmap *m, const char *key, size_t value)
{
	if (m->capacity) {
		struct strmap_slot *s = find(m, key, hash(key));
		if (s->key) {
			s->value = value;
			return GROVE_OK;
		}
	}
	return strmap_put(m, key, value);
}

bool strmap_get(const struct strmap *m, const char *key, size_t *value)
{
	if (!m->capacity)
		return false;
	const struct strmap_slot *s = find(m, key, hash(key));
	if (!s->key)
		return false;
	*value = s->value;
	return true;
}
