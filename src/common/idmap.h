/**
 * @file idmap.h
 * @brief A hash map from a pair of 64-bit ids to a pointer: proposals by
 * (group, index), connections by id, reads by context.
 *
 * Open addressing with linear probing and backward-shift deletion, so
 * lookups stay short however many removals there were. The map does not
 * own the values.
 */
#ifndef GROVE_COMMON_IDMAP_H
#define GROVE_COMMON_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	uint64_t a, b; /**< the key */
	void *value;   /**< NULL marks an empty slot */
};

/** Zero-initialize; release with idmap_free(). */
struct idmap {
	struct idmap_slot *slots; /**< a power of two of them, or NULL */
	size_t cap;               /**< number of slots */
	size_t n;                 /**< values held */
};

/** @brief Release the slots (not the values). */
void idmap_free(struct idmap *m);

/** @brief The value under (@p a, @p b), or NULL. */
void *idmap_get(const struct idmap *m, uint64_t a, uint64_t b);

/**
 * @brief Put @p value (not NULL) under (@p a, @p b), replacing any.
 * @return GROVE_OK, GROVE_EINVAL (NULL value), GROVE_ENOMEM.
 */
int idmap_put(struct idmap *m, uint64_t a, uint64_t b, void *value);

/** @brief Remove (@p a, @p b) and return its value, or NULL if absent. */
void *idmap_remove(struct idmap *m, uint64_t a, uint64_t b);

/**
 * @brief Call @p fn for every value (in no particular order); @p fn must not
 * change the map.
 */
void idmap_for_each(const struct idmap *m, void (*fn)(void *ctx, uint64_t a, uint64_t b, void *value), void *ctx);

#endif
