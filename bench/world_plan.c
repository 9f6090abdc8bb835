/* The cold-start benchmarks' world and the batches that create it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "world_plan.h"

#define CELLS_PER_ZONE 64
#define PROPS_PER_CELL 5
#define ICONS_PER_PANEL 7

static const char *const class_of[] = {"Spatial", "Spatial", "Node2D", "Spatial", "MeshInstance", "Position3D",
				       "Node2D", "Sprite"};

/* Append a node unless the plan is full; its index, or -1. */
static int plan_add(struct plan *p, int parent, enum plan_kind kind, int number)
{
	if (p->count == p->cap)
		return -1;
	p->nodes[p->count] = (struct plan_node){parent, kind, number};
	return p->count++;
}

/* Zones of CELLS_PER_ZONE units under World; nine units in ten are a 3D cell of props with anchors, the
 * tenth a 2D panel of icons under the zone's HUD. */
int plan_world(struct plan *p, int nodes)
{
	p->nodes = calloc((size_t)nodes, sizeof(*p->nodes));
	if (!p->nodes)
		return -1;
	p->cap = nodes;
	p->count = 0;
	plan_add(p, -1, PLAN_WORLD, 0);
	int zone = -1, hud = -1, units_in_zone = CELLS_PER_ZONE, zones = 0, unit = 0;
	while (p->count < nodes) {
		if (units_in_zone == CELLS_PER_ZONE) {
			zone = plan_add(p, 0, PLAN_ZONE, zones++);
			hud = plan_add(p, zone, PLAN_HUD, 0);
			units_in_zone = 0;
			continue;
		}
		units_in_zone++;
		unit++;
		if (unit % 10 == 0) {
			int panel = plan_add(p, hud, PLAN_PANEL, unit);
			for (int i = 0; i < ICONS_PER_PANEL && panel >= 0; i++)
				plan_add(p, panel, PLAN_ICON, i);
		} else {
			int cell = plan_add(p, zone, PLAN_CELL, unit);
			for (int i = 0; i < PROPS_PER_CELL && cell >= 0; i++) {
				int prop = plan_add(p, cell, PLAN_PROP, i);
				if (prop >= 0)
					plan_add(p, prop, PLAN_ANCHOR, 0);
			}
		}
	}
	return 0;
}

void plan_free(struct plan *p)
{
	free(p->nodes);
	p->nodes = NULL;
	p->count = p->cap = 0;
}

static void node_name(const struct plan_node *n, char *out, size_t cap)
{
	static const char *const stem[] = {"World", "Zone", "HUD", "Cell", "Prop", "Anchor", "Panel", "Icon"};
	if (n->kind == PLAN_WORLD || n->kind == PLAN_HUD || n->kind == PLAN_ANCHOR)
		snprintf(out, cap, "%s", stem[n->kind]);
	else
		snprintf(out, cap, "%s%d", stem[n->kind], n->number);
}

/* A Transform turning @p degrees about Y, scaled by @p scale, at (x, y, z): basis rows, then origin. */
static void set_transform(struct variant *v, double degrees, double scale, double x, double y, double z)
{
	double a = degrees * M_PI / 180, c = scale * cos(a), s = scale * sin(a);
	double r[12] = {c, 0, s, 0, scale, 0, -s, 0, c, x, y, z};
	if (variant_set_reals(v, VARIANT_TRANSFORM3D, r, 12))
		abort();
}

static void set_vector2(struct variant *v, double x, double y)
{
	double r[2] = {x, y};
	variant_set_reals(v, VARIANT_VECTOR2, r, 2);
}

/* The properties node @p k stores (what a scene of its class would): names into @p names, values into @p values. */
static int node_props(const struct plan_node *n, int k, const char **names, struct variant *values)
{
	switch (n->kind) {
	case PLAN_WORLD:
		return 0;
	case PLAN_ZONE:
		names[0] = "transform";
		set_transform(&values[0], 0, 1, n->number * 256.0, 0, 0);
		return 1;
	case PLAN_HUD:
		names[0] = "position", names[1] = "z_index";
		set_vector2(&values[0], 8, 8);
		variant_set_int(&values[1], 10);
		return 2;
	case PLAN_CELL:
		names[0] = "transform";
		set_transform(&values[0], k % 360, 1, k % 64 * 4.0, 0, k % 7 * 4.0);
		return 1;
	case PLAN_PROP:
		names[0] = "transform", names[1] = "cast_shadow";
		set_transform(&values[0], k % 90, 1.5, n->number - 2.0, 0.5, 1.25);
		variant_set_int(&values[1], k % 2);
		return 2;
	case PLAN_ANCHOR:
		names[0] = "transform";
		set_transform(&values[0], 0, 1, 0, 2, 0);
		return 1;
	case PLAN_PANEL:
		names[0] = "position", names[1] = "rotation";
		set_vector2(&values[0], k % 32 * 20.0, k % 16 * 20.0);
		variant_set_float(&values[1], 0.25);
		return 2;
	case PLAN_ICON: {
		names[0] = "position", names[1] = "scale", names[2] = "modulate";
		set_vector2(&values[0], n->number * 16.0, 0);
		set_vector2(&values[1], 0.5, 0.5);
		double color[4] = {1, k % 10 / 10.0, 0.5, 1};
		variant_set_reals(&values[2], VARIANT_COLOR, color, 4);
		return 3;
	}
	}
	return 0;
}


int plan_batch_make(const struct plan *p, int start, int end, const uint64_t *ids, struct plan_batch *b)
{
	size_t cap = (size_t)(end - start) * (1 + PLAN_MAX_PROPS);
	*b = (struct plan_batch){.ops = calloc(cap, sizeof(*b->ops)), .values = calloc(cap, sizeof(*b->values)),
				 .names = calloc((size_t)(end - start), sizeof(*b->names)),
				 .create_at = calloc((size_t)(end - start), sizeof(*b->create_at))};
	if (!b->ops || !b->values || !b->names || !b->create_at) {
		plan_batch_free(b);
		return -1;
	}
	size_t n = 0;
	for (int k = start; k < end; k++) {
		const struct plan_node *node = &p->nodes[k];
		struct tree_ref parent = {.path = "/root"};
		if (node->parent >= start)
			parent = (struct tree_ref){.id = -(int64_t)b->create_at[node->parent - start] - 1};
		else if (node->parent >= 0)
			parent = (struct tree_ref){.id = (int64_t)ids[node->parent]};
		node_name(node, b->names[k - start], sizeof(b->names[0]));
		b->create_at[k - start] = n;
		b->ops[n++] = (struct tree_op){.kind = TREE_OP_CREATE, .node = parent, .name = b->names[k - start],
					       .text = class_of[node->kind], .index = -1};
		const char *props[PLAN_MAX_PROPS];
		int count = node_props(node, k, props, &b->values[n]);
		for (int i = 0; i < count; i++, n++)
			b->ops[n] = (struct tree_op){.kind = TREE_OP_SET_PROP,
						     .node = {.id = -(int64_t)b->create_at[k - start] - 1},
						     .name = props[i], .value = &b->values[n]};
	}
	b->count = n;
	return 0;
}

void plan_batch_ids(const struct plan_batch *b, int start, int end, const uint64_t *op_ids, uint64_t *ids)
{
	for (int k = start; k < end; k++)
		ids[k] = op_ids[b->create_at[k - start]];
}

void plan_batch_free(struct plan_batch *b)
{
	if (b->values)
		for (size_t i = 0; i < b->count; i++)
			variant_free(&b->values[i]);
	free(b->ops);
	free(b->values);
	free(b->names);
	free(b->create_at);
	*b = (struct plan_batch){0};
}
