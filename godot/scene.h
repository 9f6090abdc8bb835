/**
 * @file scene.h
 * @brief Between Godot scenes and the stored tree: import a .tscn model as one
 * atomic batch, export a stored subtree as a .tscn model.
 *
 * Import turns every section of a scene into tree operations: each
 * ext_resource and sub_resource becomes a PUT_RESOURCE, each node a CREATE
 * followed by its properties and groups, each connection a CONNECT. Nodes
 * and resources refer to each other with batch-local references, so the
 * whole scene applies in one batch, all or nothing. What a scene says about a
 * node outside its properties is kept in '@' properties (see tree.h):
 * "@instance" (the PackedScene resource), "@editable" (the place of its
 * [editable] section among the file's, from 1: export writes them back in that
 * order; true, as stores written before kept it, goes after them), "@scene_uid"
 * on the scene's root, "@scene_format" (4) on the root of a format=4 scene (export
 * hands it back as the root's scene_format attribute, which tscn_write()
 * turns into format=4), and every other [node] header attribute as
 * "@<name>" (index, unique_id, node_paths, parent_id_path,
 * instance_placeholder, owner, ...). Nodes that the file declares without a
 * type come from an instanced or inherited scene; the nodes below them that
 * the file only names in a path ("A/B/C") become implicit nodes, as below an
 * instanced node.
 * A connection's `unbinds` count is kept in bits 16..31 of its flags.
 * A property that a [node] or [sub_resource] section sets more than once
 * (the engine sets each value in turn, so the last one stays) keeps its last
 * value under its own name and each earlier one as "@repeated<i>:<name>" (i:
 * its place in the section), so the property holds what Godot's object ends
 * with and export writes every line back where it was.
 *
 * Export walks a subtree in sibling order and rebuilds the sections: the
 * resources its properties reference (directly or through other
 * sub-resources) in dependency order, the nodes with their header attributes,
 * the connections whose both ends lie inside the subtree, and the editable
 * marks. Resource ids in the exported file are the ids the resources had in
 * the scene they came from, renamed only where two would clash.
 */
#ifndef GROVE_GODOT_SCENE_H
#define GROVE_GODOT_SCENE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "godot/tscn.h"
#include "src/common/buf.h"
#include "src/tree/tree.h"

/** The start of the name that keeps a value a [node] section sets again later (see above). */
#define SCENE_REPEATED_PROP_PREFIX "@repeated"

/** A planned import: the batch plus everything its operations point to. */
struct scene_import {
	struct tree_op *ops;      /**< the operations, owned */
	size_t count;             /**< number of operations */
	struct variant *values;   /**< values the operations point to, owned */
	size_t n_values;          /**< number of values */
	char **strings;           /**< strings the operations point to, owned */
	size_t n_strings;         /**< number of strings */
	size_t nodes;             /**< nodes the scene creates */
	size_t resources;         /**< resources the scene creates */
	size_t connections;       /**< connections the scene creates */
};

/**
 * @brief Plan the import of @p scene as a new child of the node at absolute
 * path @p at_path.
 *
 * The plan borrows strings from @p scene, which must outlive it. The scene's
 * root is named @p root_name if not NULL, else as in the file. Nothing is
 * validated against the store here: tree_apply_batch() does that when the
 * plan is applied, and refuses the whole scene on any conflict.
 * @param message on failure, one line naming the section and the problem.
 * @return GROVE_OK, GROVE_EPARSE (a node or connection names a parent or
 * node that the scene does not define, a node without a name, a second
 * root), GROVE_EINVAL, GROVE_ENOMEM.
 */
int scene_import_plan(const struct tscn_scene *scene, const char *at_path, const char *root_name,
		      struct scene_import *out, char *message, size_t message_cap);

/** @brief Release a plan. */
void scene_import_free(struct scene_import *plan);

/**
 * @brief Build the scene of the subtree rooted at node @p root_id.
 * @param godot_major 4 (format=3) or 3 (format=2): only the header's format
 *        and uid depend on it; the value syntax is the writer's concern.
 * @param out receives the scene (release with tscn_scene_free()).
 * @param message on failure, one line.
 * @return GROVE_OK, GROVE_ENOTFOUND (no such node), GROVE_ECORRUPT,
 * GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int scene_export(const struct tree *t, struct store_txn *txn, uint64_t root_id, int godot_major, struct tscn_scene *out, char *message,
		 size_t message_cap);

/** How a scene made for a client says which of grove's nodes each of its nodes stands for. */
enum scene_ids_mode {
	SCENE_IDS_NONE,     /**< it does not: a scene for a file */
	SCENE_IDS_METADATA, /**< each node carries its id as metadata (below) */
	SCENE_IDS_NAMES,    /**< the scene carries none: they come beside it (below) */
};

/** The ids that come beside a scene (scene_export_with_ids()). */
struct scene_ids {
	/** Node path (relative to the scene's root, "." for the root) -> id: a Dictionary, or NIL for none. */
	struct variant by_path;
	/* SCENE_IDS_NAMES: every node of the scene, in ascending order of id, in these lists of len entries. */
	uint64_t *node_ids;     /**< the ids, owned */
	int32_t *parents;       /**< the entry of each one's parent, -1 for the scene's root, owned */
	uint32_t *name_at;      /**< where each one's name (NUL-terminated) starts in names */
	struct grove_buf names; /**< the names, owned */
	size_t len;             /**< entries in each list */
};

/** @brief Release what @p ids holds; it is empty afterwards. */
void scene_ids_free(struct scene_ids *ids);

/**
 * @brief scene_export(), with the ids a client that instances the scene
 * needs to find the node a change names, as @p mode says:
 *
 * SCENE_IDS_METADATA: every node carries its grove id as metadata
 * "grove_id" (Godot 4: property "metadata/grove_id"; Godot 3: key
 * "grove_id" of the node's "__meta__" Dictionary), except, in Godot 3, a
 * node of an instanced or inherited scene (instanced here, or declared
 * without a type) that stores no "__meta__" of its own: a Godot 3 scene's
 * "__meta__" replaces all of a node's metadata, so its id goes to
 * @p ids->by_path instead, for the client to set after it instanced the
 * scene.
 *
 * SCENE_IDS_NAMES: no node carries metadata it does not store (the file is
 * about half the size, and Godot loads and instances it faster); @p ids
 * lists every node of the scene by id, each with its parent's entry and its
 * name, which is how a client that instanced the scene finds a node: from
 * its parent, by name, only once it needs it (looking all of them up as the
 * scene arrives took a Godot client longer than adding the scene to its
 * tree). Sorted by id, so that the client finds an entry by bisection.
 *
 * With SCENE_IDS_METADATA, the nodes of an instanced scene that the file does
 * not declare but grove holds (a parent named only in a path) are in
 * @p ids->by_path too. The caller releases @p ids with scene_ids_free() (it is
 * empty after a failure). With SCENE_IDS_NONE, @p ids may be NULL.
 *
 * With @p max_bytes (0: no limit), a subtree whose scene would hold more than
 * @p max_bytes of node paths is refused with GROVE_ETOOBIG (and a message
 * giving the sizes) after one walk that keeps only ids and names, before any
 * path is made: a scene names each node's parent by its path from the
 * scene's root, so those paths grow with the square of a chain's depth,
 * while what the scene holds besides grows with the subtree's records.
 * Otherwise same returns.
 */
int scene_export_with_ids(const struct tree *t, struct store_txn *txn, uint64_t root_id, int godot_major,
			  enum scene_ids_mode mode, struct scene_ids *ids, size_t max_bytes, struct tscn_scene *out,
			  char *message, size_t message_cap);

/**
 * @brief The subtree at @p root_id as a file Godot @p godot_major loads:
 * the binary scene resource (.scn) with @p binary, the text scene (.tscn)
 * otherwise, appended to @p out; with @p mode, @p ids and @p max_bytes as
 * scene_export_with_ids(). A binary scene names parents by index, but it is
 * made from the same model, so the same bound on node paths applies.
 * @return as scene_export(), GROVE_EINVAL for a value the major cannot
 * hold (@p message names it), and GROVE_ETOOBIG also when the file comes
 * out larger than @p max_bytes (then nothing is appended to @p out).
 */
int scene_export_file(const struct tree *t, struct store_txn *txn, uint64_t root_id, int godot_major, bool binary,
		      enum scene_ids_mode mode, struct scene_ids *ids, size_t max_bytes, struct grove_buf *out,
		      char *message, size_t message_cap);

#endif
