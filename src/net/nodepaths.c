#include "src/net/nodepaths.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"

void grove_node_paths_init(struct grove_node_paths *w, const Grove__ReadReply *reply)
{
	memset(w, 0, sizeof(*w));
	w->reply = reply;
}

void grove_node_paths_free(struct grove_node_paths *w)
{
	free(w->path);
	free(w->levels);
	memset(w, 0, sizeof(*w));
}

/* Make room for @p want bytes plus the NUL in the path buffer. */
static int reserve_path(struct grove_node_paths *w, size_t want)
{
	if (want < w->cap)
		return GROVE_OK;
	size_t ncap = w->cap ? w->cap : 256;
	while (ncap <= want)
		ncap *= 2;
	char *grown = realloc(w->path, ncap);
	if (!grown)
		return GROVE_ENOMEM;
	w->path = grown;
	w->cap = ncap;
	return GROVE_OK;
}

static int stop(struct grove_node_paths *w, int err)
{
	w->err = err;
	return -err;
}

int grove_node_paths_next(struct grove_node_paths *w, size_t *index, const char **path, size_t *parent)
{
	if (w->err)
		return -w->err;
	if (!w->reply || w->next >= w->reply->n_nodes)
		return 0;
	const Grove__NodeInfo *n = w->reply->nodes[w->next];
	size_t depth = n->depth;
	const char *piece;
	size_t base;
	if (w->next == 0) {
		/* The first node's path is given whole; every other one hangs below an earlier node. */
		if (depth != 0 || !n->path || n->path[0] != '/')
			return stop(w, GROVE_EPROTO);
		piece = n->path;
		base = 0;
	} else {
		/* Pre-order: a node is a child of the last node one level up, which must be its nearest ancestor. */
		if (depth == 0 || depth > w->n_levels || !n->name || !n->name[0])
			return stop(w, GROVE_EPROTO);
		piece = n->name;
		base = w->levels[depth - 1].end;
	}
	size_t plen = strlen(piece);
	size_t len = base + (w->next == 0 ? 0 : 1) + plen;
	if (len < base || reserve_path(w, len) != GROVE_OK)
		return stop(w, GROVE_ENOMEM);
	if (depth == w->n_levels && grove_grow((void **)&w->levels, &w->cap_levels, w->n_levels, sizeof(*w->levels)))
		return stop(w, GROVE_ENOMEM);
	if (w->next > 0)
		w->path[base] = '/';
	memcpy(w->path + len - plen, piece, plen);
	w->path[len] = '\0';
	w->len = len;
	w->levels[depth].end = len;
	w->levels[depth].index = w->next;
	w->n_levels = depth + 1;
	if (index)
		*index = w->next;
	if (parent)
		*parent = depth ? w->levels[depth - 1].index : SIZE_MAX;
	*path = w->path;
	w->next++;
	return 1;
}
