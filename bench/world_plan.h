/**
 * @file world_plan.h
 * @brief The world the cold-start benchmarks fill a store with: zones of cells of MeshInstance props
 * with Position3D anchors, and 2D panels of Sprites under each zone's HUD, each node with a few
 * properties (Godot 3 classes, five levels deep), and the tree batches that create it.
 */
#ifndef GROVE_BENCH_WORLD_PLAN_H
#define GROVE_BENCH_WORLD_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "src/tree/tree.h"

/** The most properties a planned node sets. */
#define PLAN_MAX_PROPS 3

/** What a planned node is. */
enum plan_kind { PLAN_WORLD, PLAN_ZONE, PLAN_HUD, PLAN_CELL, PLAN_PROP, PLAN_ANCHOR, PLAN_PANEL, PLAN_ICON };

/** One node of the world. */
struct plan_node {
	int parent;          /**< index in the plan; -1 for World, which goes under /root */
	enum plan_kind kind; /**< what it is */
	int number;          /**< tells siblings of a kind apart */
};

/** The world, parents before children. */
struct plan {
	struct plan_node *nodes; /**< count nodes, owned */
	int count;               /**< nodes planned */
	int cap;                 /**< room in nodes */
};

/** @brief Plan a world of @p nodes nodes. @return 0, or -1 when out of memory. Release with plan_free(). */
int plan_world(struct plan *p, int nodes);

/** @brief Release what plan_world() made. */
void plan_free(struct plan *p);

/** The operations that create nodes [start, end) of a plan, and what they point to (all owned). */
struct plan_batch {
	struct tree_op *ops;     /**< a CREATE per node, each followed by its SET_PROPs */
	size_t count;            /**< operations */
	struct variant *values;  /**< the property values the operations point to */
	char (*names)[32];       /**< the node names the operations point to */
	size_t *create_at;       /**< per node, the index of its CREATE in ops */
};

/**
 * @brief Make the batch that creates nodes [@p start, @p end) of @p p. Parents made by earlier batches
 * are named by their ids in @p ids (indexed like the plan); World's parent is "/root".
 * @return 0, or -1 when out of memory. Release with plan_batch_free().
 */
int plan_batch_make(const struct plan *p, int start, int end, const uint64_t *ids, struct plan_batch *b);

/** @brief Note in @p ids the ids that the applied batch gave its nodes (@p op_ids: an id per operation). */
void plan_batch_ids(const struct plan_batch *b, int start, int end, const uint64_t *op_ids, uint64_t *ids);

/** @brief Release what plan_batch_make() made. */
void plan_batch_free(struct plan_batch *b);

#endif
