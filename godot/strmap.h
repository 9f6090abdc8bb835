/**
 * @file strmap.h
 * @brief A small open-addressing hash map from strings to size_t, for the
 * scene importer's path lookups (a scene may hold 100,000 nodes).
 */
#ifndef GROVE_GODOT_STRMAP_H
#define GROVE_GODOT_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/arena.h"

struct strmap_slot {
	char *key;     /**< copy in the map's arena, NULL for an empty slot */
	size_t value;  /**< the mapped value */
	uint64_t hash; /**< hash of key, so that a probe compares strings only when the hashes agree */
};

struct strmap {
	struct strmap_slot *slots; /**< capacity slots, a power of two */
	size_t capacity;           /**< number of slots */
	size_t count;              /**< keys stored */
	struct arena keys;         /**< the keys' copies, freed at once (a map may hold 100,000 of them) */
};

/** @brief Initialize for about @p expected keys. @return GROVE_OK or GROVE_ENOMEM. */
int strmap_init(struct strmap *m, size_t expected);
/** @brief Release the map and its keys. */
void strmap_free(struct strmap *m);
/** @brief Insert a copy of @p key. @return GROVE_OK, GROVE_EEXIST (key present, unchanged), GROVE_ENOMEM. */
int strmap_put(struct strmap *m, const char *key, size_t value);
/** @brief Insert or update @p key. @return GROVE_OK or GROVE_ENOMEM. */
int strmap_set(struct strmap *m, const char *key, size_t value);
/**
 * @brief The value of @p key in *@p value if present, else insert a copy of @p key with @p value (one
 * probe either way, for interning).
 * @return GROVE_OK (found or inserted), GROVE_ENOMEM.
 */
int strmap_intern(struct strmap *m, const char *key, size_t *value);
/** @brief Look up @p key. @return true and *value if present. */
bool strmap_get(const struct strmap *m, const char *key, size_t *value);

#endif
