/* The bump allocator of arena.h. */
#include "src/common/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Blocks double up to this size; a larger request gets a block of its own. */
#define ARENA_FIRST_BLOCK 4096
#define ARENA_MAX_BLOCK ((size_t)1 << 20)

struct arena_block {
	struct arena_block *older;
	alignas(max_align_t) unsigned char bytes[];
};

static size_t round_up(size_t n)
{
	const size_t align = alignof(max_align_t);
	return (n + align - 1) & ~(align - 1);
}

void *arena_alloc(struct arena *a, size_t n)
{
	n = round_up(n ? n : 1);
	if (n > a->cap - a->used) {
		size_t cap = a->cap ? 2 * a->cap : ARENA_FIRST_BLOCK;
		if (cap > ARENA_MAX_BLOCK)
			cap = ARENA_MAX_BLOCK;
		if (cap < n)
			cap = n;
		if (cap > SIZE_MAX - sizeof(struct arena_block))
			return NULL;
		struct arena_block *b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->older = a->head;
		a->head = b;
		a->used = 0;
		a->cap = cap;
	}
	void *p = a->head->bytes + a->used;
	a->used += n;
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *copy = n < SIZE_MAX ? arena_alloc(a, n + 1) : NULL;
	if (copy) {
		memcpy(copy, s, n);
		copy[n] = '\0';
	}
	return copy;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *older = a->head->older;
		free(a->head);
		a->head = older;
	}
	memset(a, 0, sizeof(*a));
}
