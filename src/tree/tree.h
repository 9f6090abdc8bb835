/**
 * @file tree.h
 * @brief The scene-tree state machine: Godot node trees kept in the store.
 *
 * The world is one tree of nodes rooted at the node "root" (id 1, path
 * "/root"), as in Godot's SceneTree. A node has a stable 64-bit id, a parent,
 * a name unique among its siblings, a class, a position among its siblings,
 * properties (name -> Variant), groups, an optional instanced scene and
 * signal connections. Resources that scenes reference (Godot's ext_resource
 * and sub_resource) are stored too, with their own ids, and properties refer
 * to them with VARIANT_RESOURCE_REF values.
 *
 * Changes arrive as batches of operations. tree_apply_batch() validates each
 * operation against the state left by the previous ones and applies the
 * whole batch atomically or not at all. Validation depends only on the store
 * and the batch, never on time, randomness or the caller, so replicas that
 * apply the same batches in the same order reach identical states: this is
 * what lets a Raft log drive it. Ids come from a counter kept in the store
 * and are never reused.
 *
 * Node references inside a batch (struct tree_ref) may name a node by id, by
 * absolute path resolved at apply time, or as the node created by an earlier
 * operation of the same batch, so a client can build a subtree in one batch
 * without knowing ids in advance. Resource references work the same way in
 * variant values (see variant.h, VARIANT_RESOURCE_REF).
 *
 * Properties whose names start with '@' are not engine properties: they keep
 * what a scene file says about a node outside its property list (for
 * example "@unique_id", "@index", "@instance" as a reference to the
 * PackedScene ext_resource), so that .tscn import and export are lossless.
 * Godot never sees them as properties.
 *
 * Storage: the tree owns the databases named "tree.*" of a store. One store
 * holds the trees of many Raft groups: every key starts with the group id
 * (u64), so a group's tree is one contiguous range of each table. After the
 * group id (all integers big-endian so keys sort numerically):
 * - tree.nodes    id -> parent u64, order u64, next_prop_seq u32,
 *                 name, class, instance (each u32 length + bytes)
 * - tree.children parent u64 + name -> id u64
 * - tree.order    parent u64 + order u64 -> id u64
 * - tree.props    id u64 + name -> seq u32 + canonical variant
 * - tree.groups   id u64 + group -> seq u32
 * - tree.conns    connection id u64 -> from, to u64, flags u32, signal,
 *                 method (u32 length + bytes), binds (canonical variant)
 * - tree.conns_by_node node u64 + connection id u64 -> empty
 * - tree.resources resource id u64 -> kind u8, type, path, uid, local id
 *                 (u32 length + bytes), properties (canonical variant dict)
 * - tree.mounts   id u64 -> group u64: the node is the root of another
 *                 group's shard; only its record stays here (name, class,
 *                 place among its siblings), as a mount point
 * - tree.moved    id u64 -> group u64: a split moved the node to that group
 * - tree.conns_across node u64 + connection id u64 -> empty: a connection
 *                 of this group's node whose other end another group holds
 * - tree.meta     "next_id" (next id to hand out), "node_count" (u64 little-endian),
 *                 and in a group born by a split: "shard_root" (its root's id),
 *                 "shard_path" (the root's absolute path, bytes), "id_limit"
 *                 (ids stay below it); "mounts" (mount points here)
 *
 * Shards. A split (tree_split()) moves the subtree at a path from one
 * group's tables to a new group's, in one transaction: every record of its
 * nodes, with their ids (ids stay unique across the world: a group born by
 * a split hands out ids from its own block, group << TREE_ID_BLOCK_BITS, and
 * ids are never reused); the resources they refer to are copied (resources
 * never change). The subtree's root keeps its record in the source as a
 * mount point (tree.mounts), so its name stays taken among its siblings and its
 * place in their order stays put; its parent link crosses the groups: in
 * the new group the root's parent id names a node it does not hold, and
 * the group knows its root's path ("shard_path"), which cannot change: a
 * shard root, and its ancestors, cannot be renamed, moved or deleted (nor
 * the root reordered among its siblings): the shard map names the shard by
 * that path, and no transaction moves a shard yet. A write that names a mount point, a node under it, or a moved id is
 * refused with GROVE_EMOVED (retry: the routing sends it to the new group).
 * A signal connection between a node inside the subtree and one outside it
 * becomes a connection across shards: both groups keep its record (the same
 * id), each indexes its own end, and tree.conns_across marks those ends.
 *
 * Every function that reads or writes takes the tree (which group, which
 * databases) and a store transaction. A tree whose `view` is set (see
 * struct tree_view) reads across groups, following mount points and moved ids, as
 * if the world were one tree; it is for reads only.
 */
#ifndef GROVE_TREE_TREE_H
#define GROVE_TREE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/tree/variant.h"
#include "storage/store.h"

/**
 * The tables, in the order (and with the numbers) a dump gives them: a
 * snapshot's records name their table by this number.
 */
enum tree_table {
	TREE_META = 0,        /**< "next_id", "node_count" */
	TREE_NODES,           /**< id -> node record */
	TREE_CHILDREN,        /**< parent + name -> id */
	TREE_ORDER,           /**< parent + order key -> id */
	TREE_PROPS,           /**< id + property name -> seq + value */
	TREE_GROUPS,          /**< id + group name -> seq */
	TREE_CONNS,           /**< connection id -> connection record */
	TREE_CONNS_BY_NODE,   /**< node + connection id -> empty */
	TREE_RESOURCES,       /**< resource id -> resource record */
	TREE_MOUNTS,          /**< mount point id -> the group whose shard it roots */
	TREE_MOVED,           /**< moved node id -> the group a split moved it to */
	TREE_CONNS_ACROSS,    /**< node + connection id -> empty: the connection's other end is in another group */
	TREE_TABLE_COUNT      /**< number of tables; not a table */
};

struct tree_view;

/** One Raft group's scene tree in a store. Fill with tree_open(); nothing to free. */
struct tree {
	uint64_t group;                 /**< the group whose keys it reads and writes */
	store_db db[TREE_TABLE_COUNT];  /**< the tables, shared by every group of the store */
	struct tree_view *view;         /**< NULL: this group's tables alone; else reads follow shards (tree_view) */
};

/** Ids a group born by a split hands out start at group << TREE_ID_BLOCK_BITS. */
#define TREE_ID_BLOCK_BITS 40

/**
 * @brief The group whose block id @p id was handed out from: @p world for
 * the world's ids (below 2 << TREE_ID_BLOCK_BITS), else id >> TREE_ID_BLOCK_BITS.
 * A split may have moved the node since (tree.moved says where).
 */
uint64_t tree_id_birth_group(uint64_t id, uint64_t world);

/**
 * A read-only view of the world across the groups of one store: every tree
 * it hands out (tree_view_group()) reads a node in whichever group holds it
 * now, starting from the group whose block its id came from and following
 * mount points and moved ids, and resolves absolute paths from the world's root
 * through mount points. Reads through it see each group as the one store
 * transaction they run in sees it. A node whose mount point or moved id leads
 * to a group the view lacks, or to one that does not hold it yet, is never
 * read as that mount point: the read fails with GROVE_EMOVED (retry). It keeps
 * a one-entry cache (the last node located), so it must not be shared between
 * transactions or threads.
 */
struct tree_view {
	struct tree *trees;          /**< one per group, each with view = this; owned */
	size_t n;                    /**< number of trees */
	uint64_t world_group;        /**< the group that holds "/root" */
	uint64_t cached_id;          /**< the last node located (0: none) */
	const struct tree *cached;   /**< and the tree that holds it */
};

/**
 * @brief A view over the @p n trees @p groups (copied; the view must be kept
 * at a fixed address while its trees are used).
 * @return GROVE_OK, GROVE_ENOMEM.
 */
int tree_view_init(struct tree_view *v, const struct tree *const *groups, size_t n, uint64_t world_group);

/** @brief Release the view's trees. Safe on a zeroed view. */
void tree_view_free(struct tree_view *v);

/** @brief The view's tree of group @p group (reads from it follow shards), or NULL. */
const struct tree *tree_view_group(const struct tree_view *v, uint64_t group);

/**
 * @brief The group that holds node @p id, as the view sees it.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ESTORAGE.
 */
int tree_view_locate(struct tree_view *v, struct store_txn *txn, uint64_t id, uint64_t *group);

/**
 * @brief The tree of group @p group in @p store, creating its tables if
 * needed. Call before transactions run in other threads (store.h).
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int tree_open(struct store *store, uint64_t group, struct tree *out);

/** The id of the root node, "/root". It always exists. */
#define TREE_ROOT_ID 1
/** Longest node, property, group, signal or method name in bytes. */
#define TREE_NAME_MAX 255
/** Longest class name, resource type, path or uid in bytes. */
#define TREE_TEXT_MAX 4096
/** Largest number of operations in one batch. */
#define TREE_BATCH_MAX_OPS (1u << 22)

/**
 * A reference to a node inside a batch. Exactly one form is used:
 * - id > 0: the node with that id;
 * - id < 0: the node created by operation k = -id - 1 of the same batch
 *   (k must be earlier than the referring operation);
 * - id == 0: the node at absolute path @c path, e.g. "/root/World/Player",
 *   resolved when the operation is applied.
 */
struct tree_ref {
	int64_t id;       /**< node id, batch-local reference, or 0 */
	const char *path; /**< absolute path when id == 0; borrowed */
};

/** Kinds of operation. Values are stable: they travel on the wire. */
enum tree_op_kind {
	TREE_OP_CREATE = 1,       /**< create a node under a parent */
	TREE_OP_DELETE = 2,       /**< delete a node and its whole subtree */
	TREE_OP_SET_PROP = 3,     /**< set a property */
	TREE_OP_CLEAR_PROP = 4,   /**< remove a property */
	TREE_OP_RENAME = 5,       /**< rename a node */
	TREE_OP_MOVE = 6,         /**< reparent a node, at an index */
	TREE_OP_REORDER = 7,      /**< move a node among its siblings */
	TREE_OP_ADD_GROUP = 8,    /**< add a node to a group */
	TREE_OP_REMOVE_GROUP = 9, /**< remove a node from a group */
	TREE_OP_CONNECT = 10,     /**< connect a signal */
	TREE_OP_DISCONNECT = 11,  /**< disconnect a signal */
	TREE_OP_PUT_RESOURCE = 12, /**< store a new resource */
	/*
	 * The two halves of a move across shards, each applied in its own group's log as part of a cross-shard
	 * transaction (never accepted from clients). Their change records say TREE_OP_MOVE: a subscriber sees a
	 * move, the node leaving one shard and entering the other.
	 */
	TREE_OP_CARRY_OUT = 13,   /**< remove a subtree that another group takes (tree_carry_gather()) */
	TREE_OP_CARRY_IN = 14,    /**< take a subtree another group gave up */
	/*
	 * A signal connection between nodes of two shards is kept by both groups, each indexing the end it holds
	 * (tree.conns_across marks it): made and removed by a transaction with one of these in each group's part
	 * (never accepted from clients). node is the source, target the target, both by id; exactly one of them
	 * must be this group's; instance, if an absolute path, is the target's path (which the source's group
	 * does not hold; its change record names it). Only the source's half has a change record
	 * (TREE_OP_CONNECT or _DISCONNECT): a subscriber sees one connection. A delete of a node with such a connection is refused (GROVE_ECHANGED)
	 * unless the batch removed it first: the other group's half must go in the same transaction.
	 */
	TREE_OP_CONNECT_ACROSS = 15,    /**< this group's half of a connection across shards */
	TREE_OP_DISCONNECT_ACROSS = 16  /**< remove this group's half of a connection across shards */
};

/** Resource kinds, as in a .tscn. */
enum tree_resource_kind {
	TREE_RESOURCE_EXT = 1, /**< ext_resource: a file referenced by path */
	TREE_RESOURCE_SUB = 2  /**< sub_resource: embedded, with properties */
};

/**
 * One operation. Strings are borrowed: they must outlive the call that
 * applies the batch. Which fields are read depends on @c kind:
 *
 * | kind         | node             | target            | name     | text     | index | value  |
 * |--------------|------------------|-------------------|----------|----------|-------|--------|
 * | CREATE       | parent           |                   | new name | class    | pos   |        |
 * | DELETE       | node             |                   |          |          |       |        |
 * | SET_PROP     | node             |                   | property |          |       | value  |
 * | CLEAR_PROP   | node             |                   | property |          |       |        |
 * | RENAME       | node             |                   | new name |          |       |        |
 * | MOVE         | node             | new parent        |          |          | pos   |        |
 * | REORDER      | node             |                   |          |          | pos   |        |
 * | ADD_GROUP    | node             |                   | group    |          |       |        |
 * | REMOVE_GROUP | node             |                   | group    |          |       |        |
 * | CONNECT      | source           | target            | signal   | method   |       | binds  |
 * | DISCONNECT   | source           | target            | signal   | method   |       |        |
 * | PUT_RESOURCE |                  |                   | local id | type     |       | props  |
 * | CARRY_OUT    | subtree's root   | new parent (id)   | new name | path after |     |        |
 * | CARRY_IN     |                  | new parent        | new name | path before | pos |        |
 *
 * pos: 0-based position among the siblings after the change; -1 = last.
 * CREATE also reads @c instance (instanced scene path, may be NULL). The
 * class may be empty: an instanced node, or a scene's override of a node
 * inside an instanced scene, takes its class from that scene.
 * CONNECT reads @c flags (Godot's ConnectFlags). PUT_RESOURCE reads
 * @c resource_kind, @c instance as the resource path (ext) and @c uid.
 * binds: NIL or an ARRAY. props: NIL or a DICTIONARY with String keys.
 * CARRY_OUT and CARRY_IN read @c carried (the subtree as tree_carry_gather()
 * gave it) and @c group (the group the subtree goes to, or came from).
 * CARRY_OUT is refused with GROVE_ECHANGED unless the subtree is still
 * exactly what @c carried holds; it leaves the subtree's ids marked as moved
 * to @c group (tree.moved), and keeps the resources (they never change).
 * CARRY_IN refuses ids it holds already (GROVE_EEXIST) and clears their
 * moved marks; the root takes the new name; resources it has already are kept.
 * A connection between a carried node and a node outside the subtree goes
 * with the subtree and stays what it was, each group keeping what holds its
 * ends: CARRY_OUT keeps its record, marked across shards, when the outside end
 * stays (the connection was within the group), and drops its half otherwise;
 * CARRY_IN takes it, marked across shards, unless it holds the outside end:
 * then the two halves become one connection within the group (the binds of
 * the source's half), refused with GROVE_ECHANGED if its half is gone. A
 * third group that holds the outside end keeps its half as it was.
 */
struct tree_op {
	enum tree_op_kind kind;                 /**< which operation */
	struct tree_ref node;                   /**< the node acted on (CREATE: the parent) */
	struct tree_ref target;                 /**< MOVE: new parent; (DIS)CONNECT: target node */
	const char *name;                       /**< node name, property, group, signal or local id */
	const char *text;                       /**< class, method or resource type */
	const char *instance;                   /**< CREATE: instanced scene; PUT_RESOURCE: path; (DIS)CONNECT_ACROSS:
	                                             the target's path, or NULL */
	const char *uid;                        /**< PUT_RESOURCE: uid://..., may be NULL */
	int64_t index;                          /**< position among siblings, -1 for last */
	uint32_t flags;                         /**< CONNECT: flags */
	enum tree_resource_kind resource_kind;  /**< PUT_RESOURCE: ext or sub */
	const struct variant *value;            /**< SET_PROP value, CONNECT binds, PUT_RESOURCE props; borrowed */
	const uint8_t *carried;                 /**< CARRY_OUT, CARRY_IN: the subtree's records; borrowed */
	size_t carried_len;                     /**< their bytes */
	uint64_t group;                         /**< CARRY_OUT: where the subtree goes; CARRY_IN: where it came from */
};

/** A batch: applied all or nothing. */
struct tree_batch {
	const struct tree_op *ops; /**< the operations, applied in order */
	size_t count;              /**< number of operations */
};

/** No path: what a change's path_step or old_path_step holds when the change has none. */
#define TREE_NO_PATH UINT32_MAX

/**
 * One step of the paths of a batch's changes: node @c node's absolute path,
 * at the moment the step was taken, is the path of step @c up, "/" and
 * @c name; a step whose @c up is TREE_NO_PATH holds a whole absolute path in
 * @c name. A step only refers to steps before it, and never changes once
 * taken, so a later move or rename adds new steps instead.
 */
struct tree_path_step {
	uint64_t node; /**< the node whose path it is */
	uint32_t up;   /**< the step of its parent's path then, or TREE_NO_PATH */
	char *name;    /**< its name (with up: an absolute path); owned */
};

/**
 * The paths of a batch's changes, as steps that the changes share: a node's
 * path is built from its parent's step once, not walked up to the root for
 * every change, so the paths of a batch take time and space linear in the
 * batch however deep its nodes are. Absolute path strings are made only
 * when wanted, by tree_paths_string(). Zero-initialize; release with
 * tree_paths_free().
 */
struct tree_paths {
	struct tree_path_step *steps; /**< in the order taken; owned */
	size_t n;                     /**< number of steps */
	size_t cap;                   /**< room in steps */
};

/**
 * @brief Append a step for @p node: under step @p up with name @p name, or
 * with @p up TREE_NO_PATH the absolute path @p name (copied). Its index goes
 * to @p *at. On failure @p p is as it was.
 * @return GROVE_OK, GROVE_EINVAL (@p up is not an earlier step, or @p name
 * is NULL), GROVE_ETOOBIG (TREE_NO_PATH steps already), GROVE_ENOMEM.
 */
int tree_paths_add(struct tree_paths *p, uint64_t node, uint32_t up, const char *name, uint32_t *at);

/**
 * @brief The absolute path step @p at stands for, as a malloc'd string in
 * @p *out (NULL for TREE_NO_PATH). Costs the steps up to a whole path and
 * the path's length.
 * @return GROVE_OK, GROVE_EINVAL (@p at out of range), GROVE_ENOMEM.
 */
int tree_paths_string(const struct tree_paths *p, uint32_t at, char **out);

/** @brief Release the steps. Safe on a zeroed value; leaves it zeroed. */
void tree_paths_free(struct tree_paths *p);

/** @brief Drop the steps from @p n on (those appended since @p p held @p n steps). */
void tree_paths_truncate(struct tree_paths *p, size_t n);

/**
 * What one operation of an applied batch changed, with ids resolved (no
 * batch-local references): what a subscriber needs to make the same change
 * to its copy of the tree. Paths are steps of the batch's tree_paths, not
 * strings, so that recording a batch stays linear in its size. Strings and
 * value are owned.
 */
struct tree_change {
	enum tree_op_kind op;     /**< the operation */
	uint64_t node;            /**< the node acted on or created; PUT_RESOURCE: the resource; (DIS)CONNECT: the source */
	uint64_t parent;          /**< CREATE, MOVE, REORDER, DELETE: the parent (after a move); (DIS)CONNECT: the target */
	uint64_t old_parent;      /**< MOVE: the parent before */
	int64_t index;            /**< CREATE, MOVE, REORDER: the position asked for among the siblings after it (-1: last) */
	char *name;               /**< CREATE, RENAME: the (new) name; SET/CLEAR_PROP: the property; ADD/REMOVE_GROUP: the
	                               group; (DIS)CONNECT: the signal; PUT_RESOURCE: the local id; else NULL */
	char *old_name;           /**< RENAME: the name before; else NULL */
	uint32_t path_step;       /**< the step of the node's absolute path after the change (DELETE: before it);
	                               PUT_RESOURCE: TREE_NO_PATH */
	uint32_t old_path_step;   /**< MOVE, RENAME: the step of the absolute path before; (DIS)CONNECT: the target's
	                               step (TREE_NO_PATH if unknown: an end in another shard, or an older record);
	                               else TREE_NO_PATH */
	char *node_class;         /**< the node's class (DELETE: the deleted node's); PUT_RESOURCE: NULL */
	char *text;               /**< CREATE: the class; (DIS)CONNECT: the method; PUT_RESOURCE: the type; else NULL */
	char *instance;           /**< CREATE: the instanced scene; PUT_RESOURCE: the path; else NULL */
	uint32_t flags;           /**< CONNECT: Godot's ConnectFlags; PUT_RESOURCE: enum tree_resource_kind;
	                               MOVE: TREE_MOVE_LEFT_GROUP or 0 */
	struct grove_buf value;   /**< SET_PROP: the value; CONNECT: binds; PUT_RESOURCE: properties; canonical
	                               Variant bytes (variant.h) with resource references bound to ids; empty otherwise */
	bool carried;             /**< not a change the batch made but part of what the MOVE before it brought, as
	                               the batch left it (set by whoever records the entry, src/server/arrival.h):
	                               for a reader that never had the moved nodes; every other reader skips it */
};

/**
 * A MOVE change's flag: the half of a move across shards that the node left
 * this group by (CARRY_OUT). The group that took it records the whole move
 * (CARRY_IN, old parent and old path included), so a reader of both groups
 * keeps that one.
 */
#define TREE_MOVE_LEFT_GROUP 1u

/**
 * What applying a batch produced. Zero-initialize; release with
 * tree_result_free().
 */
struct tree_result {
	bool record_changes; /**< in: fill changes (a subscriber will want them) */
	int err;             /**< GROVE_OK or the error that refused the batch */
	size_t failed_op;    /**< index of the refused operation when err != 0 */
	char message[512];   /**< one line naming the cause, e.g. "/root/A would become its own ancestor" */
	uint64_t *ids;       /**< per operation: id created by CREATE or PUT_RESOURCE, else the node acted on; owned */
	size_t count;        /**< number of entries in ids */
	struct tree_change *changes; /**< with record_changes and err == GROVE_OK: one per operation, in order; owned */
	size_t n_changes;    /**< number of changes */
	struct tree_paths paths; /**< with changes: the steps their path_step and old_path_step name; owned */
	char key[128];       /**< filled by the caller that applied it: the batch's idempotency key, "" if none */
	uint64_t duplicate_of; /**< filled by that caller: the index that already applied this key (nothing was done now), or 0 */
	uint64_t split_group;  /**< filled by a caller that applied a split (tree_split()): the group it created, or 0 */
	uint64_t split_voters[16]; /**< and that group's voters */
	size_t n_split_voters;     /**< number of split_voters */
	struct grove_buf txn_cmd;  /**< filled by a caller that applied a transaction command: the command's bytes */
	struct grove_buf txn_result; /**< and the shard's result (both src/txn/codec.h; empty: none) */
	uint64_t txn_id;           /**< filled by a caller that applied a committed transaction's part: its id, else 0 */
	uint64_t *txn_groups;      /**< and the groups of all its parts; owned */
	size_t n_txn_groups;       /**< number of txn_groups */
};

/** @brief Release what one change owns. */
void tree_change_free(struct tree_change *c);

/** @brief Release what @p res owns (record_changes is kept). */
void tree_result_free(struct tree_result *res);

/** @brief Release the changes (and their paths) of @p res alone: it keeps its ids and the rest. */
void tree_result_drop_changes(struct tree_result *res);

/**
 * @brief Whether the world is empty: no node was ever created under the root, and the root has no
 * property, group or connection, and there is no resource. Only an empty world may be replaced by a
 * restored snapshot.
 * @return true or false (false also when the store cannot be read).
 */
bool tree_is_empty(const struct tree *t, struct store_txn *txn);

/**
 * @brief Make sure the root exists and the id counter is initialized (the
 * world's tree; a group born by a split gets its state from tree_split()).
 * Idempotent; call once after opening a store, in a write transaction.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int tree_init(const struct tree *t, struct store_txn *txn);

/**
 * @brief Validate and apply @p batch inside the write transaction @p txn.
 *
 * If any operation is refused, nothing of the batch remains and @p txn is as
 * it was, so the caller can go on applying other batches in the same (group)
 * commit. (A batch runs in a nested transaction of @p txn, unless it is one
 * operation that checks everything before it writes.)
 * Refusals, with the failing operation in res->failed_op and a message:
 * GROVE_ENOTFOUND (node, parent, property, group, connection or resource),
 * GROVE_EEXIST (sibling name taken, group or connection present),
 * GROVE_EBADNAME (empty, too long, not UTF-8, ".", "..", or with : / " or a control character), GROVE_ECYCLE,
 * GROVE_EROOT (delete, rename or move of the root, or of a shard's root:
 * its reorder too), GROVE_EMOVED (a node a split moved to another group),
 * GROVE_ECROSSSHARD (a delete, rename or move that would change another
 * shard's root), GROVE_ERANGE (index),
 * GROVE_EINVAL (malformed op or bad batch-local reference), GROVE_ETYPE
 * (binds not an array, props not a dictionary), GROVE_ETOOBIG (also: the
 * group's id block is used up).
 * @return res->err: GROVE_OK, one of the refusals, or GROVE_ESTORAGE /
 * GROVE_ENOMEM / GROVE_ECORRUPT for failures that are not the batch's fault
 * (the caller should then abort @p txn).
 */
int tree_apply_batch(const struct tree *t, struct store_txn *txn, const struct tree_batch *batch, struct tree_result *res);

/**
 * @brief Apply @p batch beside @p pending, a batch checked to apply here
 * that will be applied later (a cross-shard transaction's part, held by its
 * intent): only if @p batch commutes with it. That is: @p batch applies, and
 * does not act on a node @p pending acts on, touch a subtree it moves or
 * deletes, delete, move or rename a node it names or one above those, or
 * change the children of a node whose children it changes; and @p pending
 * still applies after it. Then, with @p keep, @p batch is applied to @p txn
 * as tree_apply_batch() would; without, @p txn is left as it was (a check).
 * @return GROVE_OK; GROVE_EINTENT (res->err too, with a message: it meets
 * @p pending, or fails beside it, or @p pending does not apply; nothing was
 * applied); GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_ECORRUPT (abort @p txn).
 */
int tree_apply_beside(const struct tree *t, struct store_txn *txn, const struct tree_batch *pending,
		      const struct tree_batch *batch, bool keep, struct tree_result *res);

/**
 * @brief Whether a read of node @p node (with its whole subtree; without
 * @p whole, the node alone and how many children it has) may see something
 * that @p pending, applied later as for tree_apply_beside(), changes: the
 * node, or one above it, is moved, renamed or deleted by it (or is not in
 * this tree), or, in what the read covers, a node is acted on or gains, loses
 * or reorders children. A read that it does not meet reads the same before
 * and after @p pending. @p pending is tried in a nested transaction that is
 * undone: @p txn is left as it was. *@p meets is true too when @p pending
 * does not apply.
 * @return GROVE_OK; GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_ECORRUPT (then
 * *@p meets is true).
 */
int tree_read_beside(const struct tree *t, struct store_txn *txn, const struct tree_batch *pending, uint64_t node,
		     bool whole, bool *meets);

/**
 * @brief Make again, in this tree, the changes one applied batch recorded
 * (its tree_result changes, or the same records read back from the change
 * history): each change becomes the operation that made it, naming nodes by
 * id, and the batch is applied with tree_apply_batch(). On the state the
 * batch was applied to, that yields the same state, with the same ids: ids
 * are handed out in order, so every create takes the id it took then, which
 * is checked. This brings a snapshot forward to a later index
 * (point-in-time restore). All or nothing: on any error @p txn is as it was.
 * @param why receives the reason on error (may be NULL).
 * @return GROVE_OK; GROVE_EINVAL (a PUT_RESOURCE: its record does not keep
 * the resource's uid, so it cannot be made exactly; or a change of an
 * unknown kind, or a value that does not decode); GROVE_ECORRUPT (this tree
 * is not the state the changes were made on: one was refused, or an id came
 * out different); GROVE_ENOMEM, GROVE_ESTORAGE.
 */
int tree_replay(const struct tree *t, struct store_txn *txn, const struct tree_change *changes, size_t n, char *why,
		size_t why_cap);

/* ---- reading ---- */

/** A node as read from the store. Release with tree_node_free(). */
struct tree_node {
	uint64_t id;        /**< stable id */
	uint64_t parent;    /**< parent id; 0 for the root */
	char *name;         /**< name, owned */
	char *class_name;   /**< Godot class, owned */
	char *instance;     /**< instanced scene path or NULL, owned */
};

/** @brief Release what @p n owns. */
void tree_node_free(struct tree_node *n);

/**
 * @brief Read node @p id.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int tree_get_node(const struct tree *t, struct store_txn *txn, uint64_t id, struct tree_node *out);

/**
 * @brief Resolve an absolute path ("/root", "/root/World/Player") to an id.
 * A trailing slash is ignored; "." and ".." are not accepted. In a group
 * born by a split only paths at or below its root resolve; a mount point resolves
 * to itself (its children are in the other group), except through a view.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_EINVAL (not absolute / malformed),
 * GROVE_ESTORAGE.
 */
int tree_resolve_path(const struct tree *t, struct store_txn *txn, const char *path, uint64_t *id);

/**
 * A node that tree_resolve_path_steps() walked through: node @p id, named
 * by the @p len bytes at @p name (not NUL-terminated), below the node of the
 * call before. The first call names the node the walk starts from (the
 * group's root, or the view's) by the bytes of the path up to it, as given.
 * Any return other than GROVE_OK stops the walk and is returned.
 */
typedef int (*tree_step_fn)(void *ctx, uint64_t id, const char *name, size_t len);

/**
 * @brief tree_resolve_path(), telling @p step (may be NULL) of every node
 * on the way, the top first and @p *id last; a walk that fails part way
 * has told of the nodes it found.
 * @return as tree_resolve_path(), or what @p step returned.
 */
int tree_resolve_path_steps(const struct tree *t, struct store_txn *txn, const char *path, uint64_t *id,
			    tree_step_fn step, void *ctx);

/**
 * @brief The absolute path of node @p id, as a malloc'd string in @p *out
 * (in a shard's group: the shard root's path and the names below it).
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ENOMEM, GROVE_ESTORAGE.
 */
int tree_node_path(const struct tree *t, struct store_txn *txn, uint64_t id, char **out);

/**
 * @brief Call @p fn for each child of @p parent in sibling order.
 * Iteration stops early when @p fn returns non-zero; that value is returned.
 * @return GROVE_OK, @p fn's non-zero value, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int tree_for_each_child(const struct tree *t, struct store_txn *txn, uint64_t parent,
			int (*fn)(void *ctx, uint64_t child), void *ctx);

/** @brief Number of children of @p parent (walks the order index). */
int tree_child_count(const struct tree *t, struct store_txn *txn, uint64_t parent, uint64_t *count);

/**
 * @brief Read property @p name of node @p id into @p value (owned by the caller).
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ENOMEM, GROVE_ESTORAGE.
 */
int tree_get_prop(const struct tree *t, struct store_txn *txn, uint64_t id, const char *name, struct variant *value);

/**
 * @brief Call @p fn for each property of node @p id in the order they were
 * first set (the order a .tscn lists them). @p value is borrowed for the call.
 * @return like tree_for_each_child().
 */
int tree_for_each_prop(const struct tree *t, struct store_txn *txn, uint64_t id,
		       int (*fn)(void *ctx, const char *name, const struct variant *value), void *ctx);

/** @brief Call @p fn for each group of node @p id in the order they were added. */
int tree_for_each_group(const struct tree *t, struct store_txn *txn, uint64_t id, int (*fn)(void *ctx, const char *group), void *ctx);

/** A signal connection as read from the store. */
struct tree_connection {
	uint64_t id;          /**< connection id */
	uint64_t from;        /**< source node */
	uint64_t to;          /**< target node */
	const char *signal;   /**< signal name; borrowed for the callback */
	const char *method;   /**< method name; borrowed for the callback */
	uint32_t flags;       /**< Godot ConnectFlags */
	const struct variant *binds; /**< NIL or ARRAY; borrowed for the callback */
};

/**
 * @brief Call @p fn for each connection whose source or target is node @p id,
 * in creation order.
 */
int tree_for_each_connection(const struct tree *t, struct store_txn *txn, uint64_t id,
			     int (*fn)(void *ctx, const struct tree_connection *c), void *ctx);

/**
 * @brief Call @p fn for each connection of this group's nodes (of node @p of
 * alone, unless it is 0) whose other end another group holds
 * (tree.conns_across), with @p node its end here, in (node, connection id)
 * order. The group that holds the source holds the connection as a scene says
 * it (binds included); the other keeps the ends, signal and method, for the
 * transaction that removes both halves.
 * @return GROVE_OK, @p fn's non-zero value, GROVE_ECORRUPT, GROVE_ESTORAGE.
 */
int tree_for_each_across(const struct tree *t, struct store_txn *txn, uint64_t of,
			 int (*fn)(void *ctx, uint64_t node, const struct tree_connection *c), void *ctx);

/**
 * @brief Whether the group holds any connection across shards (tree_for_each_across() would call its function);
 * true as well when the store cannot tell (a failed read), so that a caller takes the careful path.
 */
bool tree_has_across(const struct tree *t, struct store_txn *txn);

/** A resource as read from the store. */
struct tree_resource {
	uint64_t id;                       /**< resource id */
	enum tree_resource_kind kind;      /**< ext or sub */
	const char *type;                  /**< Godot type, e.g. "PackedScene"; borrowed */
	const char *path;                  /**< ext: res:// path; borrowed; "" for sub */
	const char *uid;                   /**< uid://... or ""; borrowed */
	const char *local_id;              /**< id the resource had in its scene file; borrowed */
	const struct variant *props;       /**< sub: DICTIONARY of properties (NIL if none); borrowed */
};

/**
 * @brief Read resource @p id and pass it to @p fn (the views are valid only
 * during the call).
 * @return GROVE_OK, @p fn's non-zero value, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ESTORAGE.
 */
int tree_with_resource(const struct tree *t, struct store_txn *txn, uint64_t id,
		       int (*fn)(void *ctx, const struct tree_resource *r), void *ctx);

/* ---- reading many nodes ---- */

/**
 * A reader for the reads of many nodes in one transaction (an export of a subtree): it keeps its
 * cursors, which LMDB positions faster near their last key, and its scratch memory from one node to the
 * next, so that reading a node allocates nothing once the reader has warmed up. Through a tree of a view
 * it follows each node to the group that holds it, as the functions above do. Open with
 * tree_reader_open(), release with tree_reader_close(); use it only while its transaction lives, and
 * from one thread.
 */
struct tree_reader;

/** A node as a reader read it: the strings are borrowed, valid until the reader's next tree_reader_node(). */
struct tree_node_view {
	uint64_t id;            /**< stable id */
	uint64_t parent;        /**< parent id; 0 for the root */
	const char *name;       /**< name */
	const char *class_name; /**< Godot class ("" for a node of an instanced scene) */
	const char *instance;   /**< instanced scene path, "" when none */
};

/** @brief A reader of @p t in @p txn (both must outlive it). @return GROVE_OK, GROVE_ENOMEM. */
int tree_reader_open(const struct tree *t, struct store_txn *txn, struct tree_reader **out);

/** @brief Release a reader; NULL is allowed. */
void tree_reader_close(struct tree_reader *r);

/**
 * @brief Read node @p id, as tree_get_node() does, into a view of the reader's memory.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ECORRUPT, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int tree_reader_node(struct tree_reader *r, uint64_t id, struct tree_node_view *out);

/**
 * @brief tree_for_each_child(), tree_for_each_group() and tree_for_each_connection() through a reader.
 * The callbacks must not use @p r.
 */
int tree_reader_children(struct tree_reader *r, uint64_t parent, int (*fn)(void *ctx, uint64_t child), void *ctx);
int tree_reader_groups(struct tree_reader *r, uint64_t id, int (*fn)(void *ctx, const char *group), void *ctx);
int tree_reader_connections(struct tree_reader *r, uint64_t id, int (*fn)(void *ctx, const struct tree_connection *c),
			    void *ctx);

/**
 * @brief tree_for_each_prop() through a reader, except that @p fn may take @p value: move its contents
 * out and leave it NIL (what it leaves is freed after the call). @p fn must not use @p r.
 * @return like tree_for_each_prop().
 */
int tree_reader_props(struct tree_reader *r, uint64_t id, int (*fn)(void *ctx, const char *name, struct variant *value),
		      void *ctx);

/**
 * @brief Whether a node name is acceptable: 1..TREE_NAME_MAX bytes of valid
 * UTF-8, none of `: / "`, no control characters, not "." or "..".
 * Dots are allowed: Godot 3 loads and saves names such as "wall.002"; so
 * are '@' and '%', which Godot's scene loader keeps ("@@4", "100%").
 */
bool tree_name_valid(const char *name);

/** @brief Whether @p s is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
bool tree_utf8_valid(const char *s);

/**
 * @brief The number of nodes the group holds (its root included, mount points of
 * other shards not). @return GROVE_OK, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int tree_node_count(const struct tree *t, struct store_txn *txn, uint64_t *count);

/* ---- shards ---- */

/**
 * @brief The root of the group's tree: TREE_ROOT_ID for the world, the
 * shard's root for a group born by a split; with @p path (may be NULL) its
 * absolute path (malloc'd).
 * @return GROVE_OK, GROVE_ENOMEM, GROVE_ESTORAGE.
 */
int tree_shard_root(const struct tree *t, struct store_txn *txn, uint64_t *root, char **path);

/**
 * @brief If node @p id is a mount point of another group's shard, that group.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ESTORAGE.
 */
int tree_mount_of(const struct tree *t, struct store_txn *txn, uint64_t id, uint64_t *group);

/** @brief If a split moved node @p id out of this group, where to. @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ESTORAGE. */
int tree_moved_to(const struct tree *t, struct store_txn *txn, uint64_t id, uint64_t *group);

/**
 * @brief Call @p fn for every mount point of the group (another shard's root), in
 * id order; stops at @p fn's first non-zero return and returns it.
 * @return GROVE_OK, @p fn's value, GROVE_ESTORAGE.
 */
int tree_for_each_mount(const struct tree *t, struct store_txn *txn, int (*fn)(void *ctx, uint64_t id, uint64_t group),
			void *ctx);

/** What a split (or a carry: tree_carry_gather()) did, or why it refused. */
struct tree_split_result {
	int err;              /**< GROVE_OK or the refusal */
	char message[512];    /**< one line naming the cause */
	uint64_t root;        /**< the subtree's root (the mount point left behind) */
	uint64_t nodes;       /**< nodes moved (mount points of other shards inside it not counted) */
	uint64_t resources;   /**< resources copied */
};

/**
 * @brief Move the subtree at @p path out of tree @p from into the empty
 * tree of group @p group (the same store and transaction): the spec's
 * Freeze, CopyState and Release (tla/membership/Shards.tla) in one step. See
 * the file comment for what moves, what stays and what is refused.
 * Refusals (nothing changes): GROVE_EINVAL (not a node path), GROVE_ENOTFOUND,
 * GROVE_EMOVED (the path is in another group already), GROVE_EROOT (the
 * group's own root: "/root" or a shard's root), GROVE_EEXIST (already the
 * root of a shard; @p group is not empty).
 * @return res->err, or GROVE_ESTORAGE / GROVE_ENOMEM / GROVE_ECORRUPT
 * (abort @p txn: the move may be half done).
 */
int tree_split(const struct tree *from, uint64_t group, struct store_txn *txn, const char *path,
	       struct tree_split_result *res);

/**
 * @brief The subtree rooted at node @p node as carried bytes, appended to
 * @p out: every record of its nodes, their connections (those with a node
 * outside the subtree too, as this group holds them) and the resources their
 * values refer to (binds included). The bytes depend only on the subtree's
 * state and its connections' records, so equal bytes mean an unchanged
 * subtree. Nothing is written. Refusals (res->err and res->message, @p out
 * then holds a partial result to discard): GROVE_ENOTFOUND, GROVE_EROOT (the
 * group's own root), GROVE_ECROSSSHARD (another shard's root inside it).
 * @return res->err, or GROVE_ESTORAGE / GROVE_ENOMEM / GROVE_ECORRUPT.
 */
int tree_carry_gather(const struct tree *t, struct store_txn *txn, uint64_t node, struct grove_buf *out,
		      struct tree_split_result *res);

/**
 * @brief Call @p fn with the ends of every connection of carried bytes
 * (tree_carry_gather()) between a carried node (@p inside) and a node outside
 * the subtree (@p outside), in the order carried; stops at @p fn's first
 * non-zero return and returns it.
 * @return GROVE_OK, @p fn's value, GROVE_ECORRUPT (malformed bytes), GROVE_ENOMEM.
 */
int tree_carried_edges(const uint8_t *data, size_t len, int (*fn)(void *ctx, uint64_t inside, uint64_t outside),
		       void *ctx);

/* ---- whole trees: snapshots and migrations ---- */

/**
 * @brief Hand every record of the tree to @p emit, table by table in the
 * order of enum tree_table, keys in order and without the group id, so that
 * the records can be loaded into any group. Stops at @p emit's first
 * non-zero return and returns it.
 * @return GROVE_OK, @p emit's value, GROVE_ESTORAGE.
 */
int tree_dump(const struct tree *t, struct store_txn *txn,
	      int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len),
	      void *ctx);

/**
 * @brief Hand every record of the world that view @p v sees (every group of
 * it, the world's among them) to @p emit as the records of one tree, as
 * tree_dump() gives them: loaded into an empty group, they make the world
 * with no shards, every node with its id. Mount points, moved ids and the
 * groups' shard bookkeeping are left out, a shard's root is its own group's
 * record, and a resource that splits copied is given once. Reads each group's
 * tables alone (not through the view), all in @p txn: the caller makes sure
 * the groups' states belong together (a cut of the world). Stops at
 * @p emit's first non-zero return and returns it.
 * @return GROVE_OK, @p emit's value, GROVE_EINVAL (the view has no world
 * group), GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int tree_view_dump(const struct tree_view *v, struct store_txn *txn,
		   int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
			       size_t val_len),
		   void *ctx);

/**
 * @brief Replace the tree with dumped records: tree_load_begin() deletes the
 * whole tree, tree_load_record() puts one record, tree_load_end() checks the
 * result has a root and recounts the nodes. Meta records other than the id
 * counter are ignored (older snapshots carried a server's own values there).
 * @return GROVE_OK, GROVE_ECORRUPT (a table number out of range, an empty
 * key, no root at the end), GROVE_ESTORAGE.
 */
int tree_load_begin(const struct tree *t, struct store_txn *txn);
int tree_load_record(const struct tree *t, struct store_txn *txn, unsigned table, const void *key, size_t key_len,
		     const void *val, size_t val_len);
int tree_load_end(const struct tree *t, struct store_txn *txn);

#endif
