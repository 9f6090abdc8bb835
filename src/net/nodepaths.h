/**
 * @file nodepaths.h
 * @brief The absolute path of every node of a read reply, rebuilt from the
 * reply's names and depths.
 *
 * A ReadReply lists a subtree in pre-order; only its first node (the one
 * asked for) carries its absolute path, every node carries its name and its
 * depth below the first, so a reply grows with the number of nodes, not
 * with the square of the depth (see proto/grove.proto, NodeInfo). The walk
 * here keeps one path buffer and the end of each ancestor's path in it:
 * stepping to the next node cuts the buffer back to its parent's end and
 * appends "/name", so walking a whole reply costs the total length of the
 * names, whatever the depth. A caller that keeps every path must copy them,
 * and for a deep chain that is the square of the depth again: print them as
 * they come, or keep only those it needs.
 *
 * Works as well on replies of servers that filled every node's path (their
 * later paths are ignored; the rebuilt ones are the same).
 */
#ifndef GROVE_NET_NODEPATHS_H
#define GROVE_NET_NODEPATHS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"

/** A walk over a reply's nodes. Zero it or call grove_node_paths_init(); release with grove_node_paths_free(). */
struct grove_node_paths {
	const Grove__ReadReply *reply; /**< the reply walked, borrowed */
	size_t next;                   /**< index of the node the next step yields */
	char *path;                    /**< the current node's path, NUL-terminated, owned */
	size_t len, cap;               /**< its length and the buffer's size */
	struct {
		size_t end;                /**< length of its path in path */
		size_t index;              /**< its position in reply->nodes */
	} *levels;                     /**< levels[d]: the current node's ancestor at depth d (d = its own depth: itself), owned */
	size_t n_levels, cap_levels;   /**< entries in use and room in levels */
	int err;                       /**< the error that stopped the walk, 0 if none */
};

/** @brief Start a walk over @p reply (borrowed: it must outlive the walk). */
void grove_node_paths_init(struct grove_node_paths *w, const Grove__ReadReply *reply);

/**
 * @brief Step to the next node of the reply, in its order.
 * @param index receives the node's position in reply->nodes (may be NULL).
 * @param path receives its absolute path, owned by the walk and valid until
 *        the next step or grove_node_paths_free().
 * @param parent receives the position of its parent in reply->nodes, or
 *        SIZE_MAX for the first node (may be NULL).
 * @return 1 with a node, 0 at the end, -GROVE_EPROTO if the reply is not a
 * pre-order listing (the first node has no absolute path or a depth other
 * than 0, a node is more than one level below the one before it, or a name
 * is empty), -GROVE_ENOMEM. After an error every later step repeats it.
 */
int grove_node_paths_next(struct grove_node_paths *w, size_t *index, const char **path, size_t *parent);

/** @brief Release the walk's buffers. Safe on a zeroed walk. */
void grove_node_paths_free(struct grove_node_paths *w);

#endif
