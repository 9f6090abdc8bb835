/* The bump allocator of arena.h. */
#include "src/common/arena.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Blocks double from the first size up to ARENA_MALLOC_BLOCK, from malloc. */
#define ARENA_FIRST_BLOCK 4096
#define ARENA_MALLOC_BLOCK ((size_t)1 << 20)
/*
 * Once the arena holds ARENA_MAPPED_FROM, its blocks go on doubling up to ARENA_MAX_BLOCK, mapped on their
 * own (see map_block()). Below that, a process that keeps freed memory for reuse (groved) fills the next
 * arena from it without a fault, which fresh mappings would not.
 */
#define ARENA_MAPPED_FROM ((size_t)32 << 20)
#define ARENA_MAX_BLOCK ((size_t)32 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

struct arena_block {
	struct arena_block *older;
	size_t mapped; /* bytes mapped for the block (it starts the mapping), 0 when it came from malloc */
	alignas(max_align_t) unsigned char bytes[];
};

static size_t round_up(size_t n)
{
	const size_t align = alignof(max_align_t);
	return (n + align - 1) & ~(align - 1);
}

/*
 * A large block of its own mapping, aligned to a huge page and marked for huge pages where the kernel
 * has them. An arena grows this large for a scene of many thousand nodes (a 100,000-node export's model
 * is over 100 MB), and its first touch of each 4 KB page is a page fault: most of such an export's time
 * on a virtual machine, where faults are slow. With huge pages one fault maps 2 MB. NULL when mapping
 * fails: the caller falls back to malloc.
 */
static struct arena_block *map_block(size_t bytes)
{
	size_t size = (sizeof(struct arena_block) + bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	if (size < bytes)
		return NULL;
	/* Map a huge page more than needed and give back the ends around the aligned part. */
	unsigned char *raw = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	unsigned char *start = (unsigned char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if (start > raw)
		munmap(raw, (size_t)(start - raw));
	if (start + size < raw + size + HUGE_PAGE)
		munmap(start + size, (size_t)(raw + size + HUGE_PAGE - (start + size)));
#ifdef MADV_HUGEPAGE
	madvise(start, size, MADV_HUGEPAGE);
#endif
	struct arena_block *b = (struct arena_block *)start;
	b->mapped = size;
	return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
	n = round_up(n ? n : 1);
	if (n > a->cap - a->used) {
		size_t cap = a->cap ? 2 * a->cap : ARENA_FIRST_BLOCK;
		bool mapped = a->held >= ARENA_MAPPED_FROM;
		if (cap > (mapped ? ARENA_MAX_BLOCK : ARENA_MALLOC_BLOCK))
			cap = mapped ? ARENA_MAX_BLOCK : ARENA_MALLOC_BLOCK;
		if (cap < n)
			cap = n;
		if (cap > SIZE_MAX - sizeof(struct arena_block) - 2 * HUGE_PAGE)
			return NULL;
		struct arena_block *b = mapped || cap > ARENA_MALLOC_BLOCK ? map_block(cap) : NULL;
		if (b) {
			cap = b->mapped - sizeof(*b);
		} else {
			b = malloc(sizeof(*b) + cap);
			if (!b)
				return NULL;
			b->mapped = 0;
		}
		b->older = a->head;
		a->head = b;
		a->used = 0;
		a->cap = cap;
		a->held += cap;
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
		if (a->head->mapped)
			munmap(a->head, a->head->mapped);
		else
			free(a->head);
		a->head = older;
	}
	memset(a, 0, sizeof(*a));
}
