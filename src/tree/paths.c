/* The paths of a batch's change records, as shared steps (tree.h, struct tree_paths). */
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/tree/tree.h"

int tree_paths_add(struct tree_paths *p, uint64_t node, uint32_t up, const char *name, uint32_t *at)
{
	if (!name || (up != TREE_NO_PATH && up >= p->n))
		return GROVE_EINVAL;
	if (p->n >= TREE_NO_PATH)
		return GROVE_ETOOBIG;
	if (grove_grow((void **)&p->steps, &p->cap, p->n, sizeof(*p->steps)) != GROVE_OK)
		return GROVE_ENOMEM;
	char *copy = strdup(name);
	if (!copy)
		return GROVE_ENOMEM;
	p->steps[p->n] = (struct tree_path_step){.node = node, .up = up, .name = copy};
	*at = (uint32_t)p->n++;
	return GROVE_OK;
}

int tree_paths_string(const struct tree_paths *p, uint32_t at, char **out)
{
	*out = NULL;
	if (at == TREE_NO_PATH)
		return GROVE_OK;
	if (at >= p->n)
		return GROVE_EINVAL;
	/* Two passes up the steps: the length first, then the names written from the end. */
	size_t len = 0;
	uint32_t s = at;
	for (;; s = p->steps[s].up) {
		len += strlen(p->steps[s].name);
		if (p->steps[s].up == TREE_NO_PATH)
			break;
		len++; /* the '/' before the name */
	}
	char *path = malloc(len + 1);
	if (!path)
		return GROVE_ENOMEM;
	path[len] = '\0';
	size_t end = len;
	for (s = at;; s = p->steps[s].up) {
		size_t n = strlen(p->steps[s].name);
		end -= n;
		memcpy(path + end, p->steps[s].name, n);
		if (p->steps[s].up == TREE_NO_PATH)
			break;
		path[--end] = '/';
	}
	*out = path;
	return GROVE_OK;
}

void tree_paths_truncate(struct tree_paths *p, size_t n)
{
	for (size_t i = n; i < p->n; i++)
		free(p->steps[i].name);
	if (n < p->n)
		p->n = n;
}

void tree_paths_free(struct tree_paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->steps[i].name);
	free(p->steps);
	memset(p, 0, sizeof(*p));
}
