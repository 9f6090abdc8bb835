/**
 * @file txnplan.h
 * @brief The plan of a write across shards: one client batch as one sub-batch per shard.
 *
 * A client batch may name nodes of several shards. Such a write commits as a
 * transaction across those shards' groups (DESIGN.md, "Transactions across
 * shards"): one intent per shard, whose value is the shard's sub-batch, a
 * packed WriteRequest that the group applies atomically when the transaction
 * commits. txn_plan_build() makes those sub-batches from the client's
 * request and the state of the world it reads; it writes nothing.
 *
 * Each operation goes to the shard of the node it acts on (a path by the
 * shard map, an id by where the view finds it, a CREATE by its parent, a
 * batch-local reference with the operation it names, renumbered to the
 * part's own numbering); a part keeps its operations in the client's order.
 * A MOVE whose node and new parent are in different shards becomes two
 * halves (tree.h): CARRY_OUT in the node's shard, CARRY_IN in the new
 * parent's, both carrying the subtree as tree_carry_gather() gives it now.
 *
 * The carried bytes are read before the batch runs, so the plan refuses what
 * would make them stale or ambiguous (GROVE_ECROSSSHARD, with a message that
 * says how to split the batch): a move across shards of a node that an
 * earlier operation of its shard's part acts on, or may act on (a path the
 * world does not hold yet, or any path after a rename, move or delete there);
 * a node created by the batch moved across shards; an operation naming a node
 * that an earlier operation moved across shards. Also refused: a batch-local
 * reference to a node created in another shard's part (a connection with one
 * included).
 *
 * Resources are kept per group, each with ids of its own. A resource the batch
 * puts goes to the parts of the ops that refer to it batch-locally (with a
 * resource that another put refers to, that one's; one that nothing refers to,
 * to the anchor's), and the references are renumbered as each part numbers its
 * ops. A resource goes to every part that needs it, the first answering for
 * the client's op: an ext_resource (a file, by path) Godot loads once however
 * many entries name it; a sub_resource (embedded) becomes a copy per shard, as
 * when a split or a move across shards takes some of its users. Refused: a
 * resource in the binds of a connection across shards (both groups keep
 * them), and a batch-local resource reference to what is not an earlier put
 * (GROVE_EINVAL, as the apply refuses it).
 *
 * A connection between nodes of two shards (or its removal) is a half in each
 * shard's part (TREE_OP_CONNECT_ACROSS, TREE_OP_DISCONNECT_ACROSS); the source's
 * part answers for the client's op. A delete in a shard that holds connections
 * across shards (tree_has_across()) removes both halves of every one of them
 * below the deleted node first, those made earlier in the batch included: so a
 * delete there is planned even when it names one shard, and is refused, to be
 * sent in a batch of its own, after an earlier op of the batch moved nodes in
 * that shard or changed the path it is named by. Nodes that do not exist are not refused here (except an id
 * that cannot be located: GROVE_ENOTFOUND): their shard's apply refuses them,
 * as every replica would.
 *
 * The client's submit key goes with every part: each part's group remembers
 * it when that part is applied as committed, and refuses a later
 * transaction's part, or a later write, with the same key (tree_sm.h). A
 * retry is routed by its first op that names a node: to the anchor's group
 * or, when the batch
 * moved that node across shards, to the group that took it; both know the
 * key.
 *
 * Whatever the plan accepts, applying each part to its group (all parts or,
 * if one refuses, none) leaves the world as applying the client's batch to an
 * unsharded copy of it would.
 */
#ifndef GROVE_SERVER_TXNPLAN_H
#define GROVE_SERVER_TXNPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/shard/shardmap.h"
#include "src/tree/tree.h"
#include "storage/store.h"

/** What the planner reads; all borrowed for the call. */
struct txn_plan_world {
	const struct shard_map *map;   /**< path -> group (longest prefix) */
	struct store_txn *txn;         /**< a transaction (read-only is enough) of the store of every tree group */
	struct tree_view *view;        /**< over every tree group: locates ids, resolves paths across shards */
	/** Group @p group's own tree (no view: tree_carry_gather() runs there), or NULL if unknown. */
	const struct tree *(*group_tree)(void *ctx, uint64_t group);
	void *ctx;                     /**< passed to group_tree */
	/**
	 * A delete in a shard with connections across shards looks for them node by node in a subtree of at
	 * most this many nodes, and through every such connection of the shard in a larger one (0: 4096).
	 */
	size_t walk_max;
};

/** One shard's part of a cross-shard write. */
struct txn_plan_part {
	uint64_t group;      /**< the shard's group */
	uint8_t *request;    /**< a packed WriteRequest (no client_send_ns; the client's submit_key in parts[0] only); owned */
	size_t request_len;  /**< its bytes */
	size_t n_ops;        /**< its operations */
	uint32_t *client_op; /**< per operation of the part: the client op it comes from; owned */
};

/** The plan. Release with txn_plan_free(). */
struct txn_plan {
	struct txn_plan_part *parts; /**< parts[0]: the shard of the first op that names a node (the anchor); owned */
	size_t n_parts;              /**< 1 when the whole batch falls in one shard (propose it as a plain write) */
	/**
	 * Client op i is operation op_index[i] of parts[op_part[i]]; for a move
	 * across shards, its CARRY_OUT half (the CARRY_IN half is found through
	 * the parts' client_op). Owned.
	 */
	uint32_t *op_part, *op_index;
	size_t n_ops;                /**< the client's operations */
	/**
	 * The plan rests on the trees' state: it located a node by id or read a
	 * subtree to carry. Otherwise (paths only, no move across shards) it is
	 * the same whatever the shards hold, and may be made while a
	 * transaction's part is still to be applied to one of them.
	 */
	bool reads_tree;
};

/**
 * @brief Split @p req into one sub-batch per shard, reading the world @p w.
 * On success @p out owns what it holds; on failure @p out is zeroed and
 * nothing stays allocated.
 * @param why on failure, one line naming the op number and the nodes.
 * @return GROVE_OK; refusals: GROVE_ECROSSSHARD (see the file comment),
 * GROVE_EINVAL (a restore_snapshot, an empty or malformed batch, a reference
 * to an op that is not an earlier create, an op that names no node),
 * GROVE_ENOTFOUND (an id no group holds), what wire_decode_batch() refuses,
 * and tree_carry_gather()'s refusals of a node moved across shards (its
 * code and message); failures: GROVE_ENOMEM, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int txn_plan_build(const Grove__WriteRequest *req, const struct txn_plan_world *w, struct txn_plan *out, char *why,
		   size_t why_cap);

/** @brief Release what @p p owns and zero it. Safe on a zeroed plan. */
void txn_plan_free(struct txn_plan *p);

#endif
