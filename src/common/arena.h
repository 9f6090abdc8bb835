/**
 * @file arena.h
 * @brief A bump allocator: many small allocations that live and die together (the nodes and strings of
 * one export) cost one malloc per block instead of one each, and are freed at once.
 *
 * Blocks double in size up to 1 MB, from malloc. Once an arena holds 32 MB (a scene of tens of thousands
 * of nodes), its next blocks double on up to 32 MB, each a mapping of its own, aligned to and marked for
 * huge pages, so that filling it takes one page fault per 2 MB rather than one per 4 KB where the kernel
 * grants huge pages (transparent huge pages set to "madvise" or "always"); a single request over 1 MB
 * gets such a block too. arena_free() unmaps them: their memory goes back to the system at once.
 */
#ifndef GROVE_COMMON_ARENA_H
#define GROVE_COMMON_ARENA_H

#include <stddef.h>

struct arena_block;

/** Zero-initialize; release with arena_free(). */
struct arena {
	struct arena_block *head; /**< the block allocations come from, linked to the older ones */
	size_t used;              /**< bytes of head handed out */
	size_t cap;               /**< bytes head holds */
	size_t held;              /**< bytes all blocks hold */
};

/**
 * @brief @p n bytes aligned for any type, uninitialized, owned by the arena (valid until arena_free()).
 * @return the bytes, or NULL when out of memory (the arena stays usable).
 */
void *arena_alloc(struct arena *a, size_t n);

/** @brief A NUL-terminated copy of the @p n bytes at @p s in the arena, or NULL when out of memory. */
char *arena_strndup(struct arena *a, const char *s, size_t n);

/** @brief arena_strndup() of the whole of @p s. */
char *arena_strdup(struct arena *a, const char *s);

/** @brief Release everything the arena handed out and zero it (it can be used again). */
void arena_free(struct arena *a);

#endif
