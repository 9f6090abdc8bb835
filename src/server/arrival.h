/**
 * @file arrival.h
 * @brief A subtree that arrives in a subscriber's subtree from outside it
 * (a move in), written as the changes that make it: for a subscriber that
 * never had those nodes, the move is their creation.
 *
 * The changes are the kinds every stream carries already (CREATE, SET_PROP,
 * ADD_GROUP, CONNECT, PUT_RESOURCE), so whoever applies a stream applies them
 * as any other: nothing new on the wire.
 */
#ifndef GROVE_SERVER_ARRIVAL_H
#define GROVE_SERVER_ARRIVAL_H

#include <stddef.h>

#include "src/tree/tree.h"
#include "storage/store.h"

/** How much one arrival may make; over either, it is refused. */
struct arrival_limits {
	size_t max_nodes;   /**< nodes of the subtree, its root included */
	size_t max_bytes;   /**< names, classes and values of its changes together */
};

/** The limits streams apply unless configured otherwise. */
#define ARRIVAL_DEFAULT_MAX_NODES 10000
#define ARRIVAL_DEFAULT_MAX_BYTES (4u << 20)

/**
 * @brief The changes that make the subtree that @p move (a TREE_OP_MOVE
 * change whose path step is in @p paths) brought to its new parent, as tree
 * @p t holds it in @p txn: a CREATE of every node, parents before their
 * children and children in sibling order (the moved node at the move's
 * index under its new parent, the others at their place among their
 * siblings), each followed by its properties' SET_PROP (in the order they
 * were first set) and its groups' ADD_GROUP; before the first change whose
 * value (or binds) names an embedded resource, that resource's PUT_RESOURCE
 * (after those of the embedded resources its properties name: a subscriber
 * may never have been told of it, and has no file to load it from); after every node, a CONNECT
 * for each connection whose source is one of them, then one for each
 * connection to one of them from a node outside the subtree that
 * @p outside finds. Each change names its node's path by a step of
 * @p paths: the moved node by the move's step, the others by steps appended
 * under their parent's, a connection's source outside the subtree by a step
 * of its whole path; a CONNECT's old_path_step is its target's (a whole
 * path's step if outside the subtree; TREE_NO_PATH if @p outside does not
 * find it, which a subscriber counts as in its subtree).
 *
 * @p outside reads the nodes outside the subtree that its connections name:
 * a tree of a view across the store's groups (tree_view_group()) finds
 * those of other shards (a connection across shards); NULL reads @p t alone.
 *
 * The caller must know that @p t in @p txn is the state right after the
 * move, or after later changes; the changes describe that state, so
 * changes after the move of nodes they make are already in them.
 * @param out the changes are appended to *@p out (room for *@p cap; grown
 * with realloc, *@p cap then updated; the caller frees them and it), *@p n
 * counts them
 * @return GROVE_OK; GROVE_ETOOBIG (over @p limits), GROVE_ENOTFOUND (@p t
 * does not hold the node), GROVE_ECHANGED (the node is no longer where the
 * move put it: under another parent, or renamed), GROVE_ENOMEM, GROVE_ESTORAGE, GROVE_ECORRUPT:
 * then *@p out and *@p n are as they were (their contents freed), and
 * @p paths may hold unused steps.
 */
int arrival_changes(const struct tree *t, const struct tree *outside, struct store_txn *txn,
		    const struct tree_change *move, struct tree_paths *paths, const struct arrival_limits *limits,
		    struct tree_change **out, size_t *n, size_t *cap);

/**
 * @brief Carry in @p res (a batch applied by tree @p t in @p txn, with its
 * change records; @p outside as for arrival_changes()) what every move
 * that may bring nodes into a subscriber's subtree from outside it brought:
 * a MOVE to a parent that was not an ancestor of the node's old place. Each such move is followed in
 * res->changes by its arrival_changes() as the batch left the tree, marked
 * carried (tree_change.carried), their steps added to res->paths; so the
 * entry's record says what arrived however much the tree changes later,
 * and a subscriber given it at any time (live behind other entries,
 * catching up, resumed) is given the creation of what it never had.
 *
 * The batch's carried changes together stay within @p limits (the first
 * moves' first); a move over them, and every move after it, or one whose
 * node moved on again in the batch, carries nothing, and a subscriber it
 * brings nodes to is told "compacted" unless the tree still holds the
 * entry's state. So a batch of many moves costs at most one failed read
 * of at most @p limits beyond what it carries.
 * @return GROVE_OK (also when nothing could be carried: the record is then
 * as it was), GROVE_ENOMEM (res unchanged but for unused steps in
 * res->paths).
 */
int arrival_carry(const struct tree *t, const struct tree *outside, struct store_txn *txn, struct tree_result *res,
		  const struct arrival_limits *limits);

/**
 * @brief Before each change of @p res (a batch applied by tree @p t in
 * @p txn, with its change records) whose value names an embedded resource
 * that the entry does not put itself (a SET_PROP's value, a CONNECT's
 * binds), that resource's PUT_RESOURCE, after those of the embedded
 * resources its properties name, once per entry: a subscriber may know it
 * only from its snapshot's scene, where no id names it, or not at all, and
 * has no file to load it from. Not carried: every subscriber gets them, as
 * any PUT_RESOURCE. Only values that may hold a reference (a reference, an
 * Array, a Dictionary) are decoded, so a batch of other values costs one
 * look at each change.
 *
 * The resources one entry brings stay within @p limits' bytes; beyond them,
 * or when a stored value cannot be read, the entry brings none (a
 * subscriber then leaves the value as it was, as before).
 * @return GROVE_OK, GROVE_ENOMEM (res unchanged).
 */
int arrival_resources(const struct tree *t, struct store_txn *txn, struct tree_result *res,
		      const struct arrival_limits *limits);

#endif
