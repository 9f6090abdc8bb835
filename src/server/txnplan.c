#include "src/server/txnplan.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/buf.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/net/wire.h"

#define NO_PART UINT32_MAX
/* More ancestors than nodes a store can hold: the parent links loop. */
#define PARENT_CHAIN_MAX (UINT64_C(1) << 48)

/*
 * How a client op appears in a part: itself, one half of a move across shards, one group's half of a connection
 * across shards (made or removed), or the removal of one group's half of a connection across shards that a
 * delete takes away.
 */
enum half { HALF_PLAIN, HALF_OUT, HALF_IN, HALF_LINK, HALF_UNLINK };

struct part_entry {
	uint32_t client_op;
	enum half half;
	uint32_t unlink; /* HALF_UNLINK: which of the planner's unlinks */
};

/* A connection across shards that the batch removes: by a disconnect, or with a node it deletes. */
struct unlink {
	uint64_t from, to;
	char *signal, *method;
	char *to_path; /* the target's path, as the plan reads it (NULL: not known) */
	bool gone; /* removed by the ops planned so far (a later connect makes it again) */
};

/* An earlier op's node in a part: what a later move across shards must not carry away under its feet. */
struct touch {
	uint64_t id; /* the node before the batch; 0: not known (a path the world does not hold yet) */
	uint32_t op;
};

struct part_build {
	uint64_t group;
	struct part_entry *entries;
	size_t n, cap;
	struct touch *touched;
	size_t n_touched, cap_touched;
	bool paths_changed; /* a rename, move or delete ran here: a later path may name another node than it did */
	bool paths_unsure;  /* and a path was named after that */
	bool moved_within;  /* a move inside the shard ran here: a subtree may hold other nodes than it did */
};

/* A move across shards, as the planner keeps it until the parts are packed. */
struct carry {
	uint64_t node, target; /* ids before the batch (target 0: not known) */
	uint64_t from, to;     /* groups */
	char *name, *path_before, *path_after;
	struct grove_buf carried;
};

struct op_plan {
	uint32_t part, index;       /* where the op went (a move across shards: its CARRY_OUT half) */
	uint64_t anchor;            /* CREATE: the node, before the batch, that its new node is created under (0: not known) */
	struct carry *carry;        /* a move across shards */
	uint64_t source, target;    /* a (dis)connection across shards: its ends */
	char *target_path;          /* and its target's path, as the plan reads it (NULL: not known) */
};

struct moved_subtree {
	uint64_t root;
	char *path;
	uint32_t op;
};

/*
 * A shard whose records a move across shards of a subtree with connections to nodes outside it changes beyond
 * the subtree: one holding an outside end (whose end becomes, or stops being, across shards), or the one the
 * subtree enters.
 */
struct leaving {
	uint64_t outside; /* the end outside the subtree; 0: the entry names the shard the subtree enters */
	uint64_t group;
	uint32_t op;
};

/* Where one reference of a client op lands. */
struct place {
	uint64_t group;
	int64_t local; /* the client op it names batch-locally, or -1 */
	uint64_t id;   /* the node it names before the batch; 0 if not known */
	bool by_path;
};

/*
 * Where the resources of a batch across shards go: a row per PUT_RESOURCE op, a column per part of the
 * first pass (which placed every other op).
 */
#define NO_ROW UINT32_MAX
struct resource_places {
	size_t parts;
	uint32_t *row;   /* per client op: its row, or NO_ROW */
	uint8_t *in;     /* row * parts + part: whether the part gets the resource */
	uint32_t *index; /* row * parts + part: its index in that part (second pass) */
	bool *referred;  /* per row: an op refers to it */
};

struct planner {
	const Grove__WriteRequest *req;
	const struct txn_plan_world *w;
	const struct tree *world; /* the view's tree of the world's group: ids and paths across shards */
	struct wire_batch batch;
	struct op_plan *ops;
	struct part_build *parts;
	size_t n_parts, cap_parts;
	struct moved_subtree *moved;
	size_t n_moved, cap_moved;
	struct unlink *unlinks;
	size_t n_unlinks, cap_unlinks;
	struct leaving *leaving;
	size_t n_leaving, cap_leaving;
	bool spans_resources; /* an op puts a resource or refers to one batch-locally */
	bool located;         /* an op names a node by id: where it is was read from the trees */
	/* Across shards, the second pass: where each resource goes (NULL in the first pass). */
	struct resource_places *places;
	char *why;
	size_t why_cap;
};

static int refuse(struct planner *pl, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(struct planner *pl, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pl->why, pl->why_cap, fmt, ap);
	va_end(ap);
	return err;
}

struct local_walk {
	bool (*fn)(void *ctx, int64_t *ref);
	void *ctx;
};

static int local_ref(void *ctx, int64_t *ref)
{
	const struct local_walk *w = ctx;
	return *ref < 0 && w->fn(w->ctx, ref);
}

/*
 * Call @p fn with each batch-local resource reference in @p v (its -(op + 1), which @p fn may change; the
 * scripts typing a container are references like its items') until it returns true. @return whether it did.
 */
static bool each_local_resource(struct variant *v, bool (*fn)(void *ctx, int64_t *ref), void *ctx)
{
	struct local_walk w = {fn, ctx};
	return v && variant_each_resource_ref(v, local_ref, &w) == 1;
}

/* Any client op: for refers_to_local_resource(). */
#define ANY_OP SIZE_MAX

static bool names_op(void *ctx, int64_t *ref)
{
	size_t k = *(const size_t *)ctx;
	return k == ANY_OP || *ref == -(int64_t)k - 1;
}

/* Whether @p v refers batch-locally to the resource that client op @p k puts (ANY_OP: to any). */
static bool refers_to_local_resource(const struct variant *v, size_t k)
{
	return each_local_resource((struct variant *)v, names_op, &k); /* only read */
}

/* A client op's reference to what may not be its resource: not an earlier put. */
struct bad_ref {
	const struct planner *pl;
	size_t op, named;
};

static bool not_an_earlier_put(void *ctx, int64_t *ref)
{
	struct bad_ref *b = ctx;
	uint64_t k = (uint64_t)(-(*ref + 1));
	b->named = (size_t)k;
	return k >= b->op || b->pl->batch.ops[k].kind != TREE_OP_PUT_RESOURCE;
}

/* A value's references as one part numbers its ops. */
struct numbering {
	const struct planner *pl;
	uint32_t part;
};

static bool to_part_numbering(void *ctx, int64_t *ref)
{
	const struct numbering *nb = ctx;
	const struct resource_places *rp = nb->pl->places;
	size_t k = (size_t)(-(*ref + 1)); /* checked: an earlier put's, which the part holds */
	*ref = -(int64_t)rp->index[rp->row[k] * rp->parts + nb->part] - 1;
	return false;
}

/* Whether node @p id is @p root or below it, before the batch (the walk up crosses shards). */
static int is_within(struct planner *pl, uint64_t id, uint64_t root, bool *within)
{
	*within = false;
	for (uint64_t steps = 0; id != 0; steps++) {
		if (id == root) {
			*within = true;
			return GROVE_OK;
		}
		if (id == TREE_ROOT_ID)
			return GROVE_OK;
		if (steps > PARENT_CHAIN_MAX)
			return GROVE_ECORRUPT; /* parents that never reach the root */
		struct tree_node n;
		int err = tree_get_node(pl->world, pl->w->txn, id, &n);
		if (err == GROVE_ENOTFOUND)
			return GROVE_OK;
		if (err)
			return err;
		id = n.parent;
		tree_node_free(&n);
	}
	return GROVE_OK;
}

static char *join_path(const char *parent, const char *name)
{
	size_t plen = strlen(parent), nlen = strlen(name);
	while (plen > 1 && parent[plen - 1] == '/')
		plen--;
	char *s = malloc(plen + 1 + nlen + 1);
	if (s) {
		memcpy(s, parent, plen);
		s[plen] = '/';
		memcpy(s + plen + 1, name, nlen + 1);
	}
	return s;
}

/*
 * The absolute path @p ref names before the batch (for a batch-local reference, the path its created node will
 * have): malloc'd in @p *out, NULL when not known. Paths only label the halves of a move in change records.
 */
static int ref_path(struct planner *pl, const struct tree_ref *ref, char **out)
{
	*out = NULL;
	size_t depth = 0;
	const struct tree_ref *base = ref;
	for (; base->id < 0; base = &pl->batch.ops[-(base->id + 1)].node)
		depth++;
	const char **names = depth ? calloc(depth, sizeof(*names)) : NULL;
	if (depth && !names)
		return GROVE_ENOMEM;
	size_t level = depth;
	for (const struct tree_ref *r = ref; r->id < 0; r = &pl->batch.ops[-(r->id + 1)].node)
		names[--level] = pl->batch.ops[-(r->id + 1)].name; /* from the base's child down to ref's node */
	char *path = NULL;
	int err = GROVE_OK;
	if (base->id > 0)
		err = tree_node_path(pl->world, pl->w->txn, (uint64_t)base->id, &path);
	else if (base->path && (path = strdup(base->path)) == NULL)
		err = GROVE_ENOMEM;
	for (size_t i = 0; !err && path && i < depth; i++) {
		char *longer = join_path(path, names[i]);
		free(path);
		path = longer;
		err = path ? GROVE_OK : GROVE_ENOMEM;
	}
	free(names);
	if (err) {
		free(path);
		return err == GROVE_ENOTFOUND ? GROVE_OK : err;
	}
	*out = path;
	return GROVE_OK;
}

static void ref_text(const struct tree_ref *ref, char *text, size_t cap)
{
	if (ref->id > 0)
		snprintf(text, cap, "node %lld", (long long)ref->id);
	else if (ref->id < 0)
		snprintf(text, cap, "the node created by op %lld", (long long)-(ref->id + 1));
	else
		snprintf(text, cap, "%s", ref->path ? ref->path : "(none)");
}

static int place_ref(struct planner *pl, size_t i, const struct tree_ref *ref, struct place *out)
{
	*out = (struct place){.local = -1};
	const struct txn_plan_world *w = pl->w;
	if (ref->id < 0) {
		uint64_t k = (uint64_t)-(ref->id + 1);
		if (k >= i || pl->batch.ops[k].kind != TREE_OP_CREATE)
			return refuse(pl, GROVE_EINVAL, "op %zu refers to op %llu, which is not an earlier create", i,
				      (unsigned long long)k);
		out->local = (int64_t)k;
		out->group = pl->parts[pl->ops[k].part].group;
		out->id = pl->ops[k].anchor;
		return GROVE_OK;
	}
	if (ref->id > 0) {
		out->id = (uint64_t)ref->id;
		pl->located = true;
		int err = tree_view_locate(w->view, w->txn, out->id, &out->group);
		if (err == GROVE_ENOTFOUND)
			return refuse(pl, err, "op %zu: node %lld: no such node", i, (long long)ref->id);
		return err;
	}
	if (!ref->path)
		return refuse(pl, GROVE_EINVAL, "op %zu names no node", i);
	out->by_path = true;
	const struct shard_entry *e = shard_map_lookup(w->map, ref->path);
	out->group = e ? e->group : w->view->world_group;
	int err = tree_resolve_path(pl->world, w->txn, ref->path, &out->id);
	if (err == GROVE_ENOTFOUND || err == GROVE_EINVAL) {
		out->id = 0;
		err = GROVE_OK;
	}
	if (err)
		return err;
	for (size_t m = 0; m < pl->n_moved; m++) {
		bool within = shard_path_within(ref->path, pl->moved[m].path);
		if (!within && out->id && (err = is_within(pl, out->id, pl->moved[m].root, &within)) != GROVE_OK)
			return err;
		if (within)
			return refuse(pl, GROVE_ECROSSSHARD,
				      "op %zu names %s, which op %u moves to another shard earlier in the batch: name it in a "
				      "later batch", i, ref->path, pl->moved[m].op);
	}
	return GROVE_OK;
}

/* A node named by id must not be in a subtree an earlier op moved across shards. */
static int check_not_moved(struct planner *pl, size_t i, const struct place *at)
{
	if (at->by_path || at->local >= 0)
		return GROVE_OK; /* paths were checked as placed; created nodes never move across */
	for (size_t m = 0; m < pl->n_moved; m++) {
		bool within;
		int err = is_within(pl, at->id, pl->moved[m].root, &within);
		if (err)
			return err;
		if (within)
			return refuse(pl, GROVE_ECROSSSHARD,
				      "op %zu names node %llu, which op %u moves to another shard (from %s) earlier in the "
				      "batch: name it in a later batch", i, (unsigned long long)at->id, pl->moved[m].op,
				      pl->moved[m].path);
	}
	return GROVE_OK;
}

/* The part of group @p group, made if new. */
static int part_of(struct planner *pl, uint64_t group, uint32_t *part)
{
	for (size_t p = 0; p < pl->n_parts; p++) {
		if (pl->parts[p].group == group) {
			*part = (uint32_t)p;
			return GROVE_OK;
		}
	}
	if (grove_grow((void **)&pl->parts, &pl->cap_parts, pl->n_parts, sizeof(*pl->parts)))
		return GROVE_ENOMEM;
	pl->parts[pl->n_parts] = (struct part_build){.group = group};
	*part = (uint32_t)pl->n_parts++;
	return GROVE_OK;
}

static int part_add(struct planner *pl, uint32_t part, size_t i, enum half half, uint32_t *index)
{
	struct part_build *p = &pl->parts[part];
	if (grove_grow((void **)&p->entries, &p->cap, p->n, sizeof(*p->entries)))
		return GROVE_ENOMEM;
	p->entries[p->n] = (struct part_entry){.client_op = (uint32_t)i, .half = half};
	*index = (uint32_t)p->n++;
	return GROVE_OK;
}

/* What op @p i names in its part, for the moves across shards after it. */
static int part_touch(struct planner *pl, uint32_t part, size_t i, const struct place *at)
{
	struct part_build *p = &pl->parts[part];
	if (at->by_path && p->paths_changed)
		p->paths_unsure = true;
	if (grove_grow((void **)&p->touched, &p->cap_touched, p->n_touched, sizeof(*p->touched)))
		return GROVE_ENOMEM;
	p->touched[p->n_touched++] = (struct touch){.id = at->id, .op = (uint32_t)i};
	return GROVE_OK;
}

/*
 * The subtree a move across shards carries is read before the batch runs: refuse when an earlier op of its
 * part acts, or may act, on it, since its CARRY_OUT would then find it changed.
 */
static int check_unchanged(struct planner *pl, size_t i, const struct place *node, const char *named)
{
	uint32_t part = NO_PART;
	for (size_t p = 0; p < pl->n_parts; p++)
		if (pl->parts[p].group == node->group)
			part = (uint32_t)p;
	if (part == NO_PART)
		return node->id ? GROVE_OK : refuse(pl, GROVE_ENOTFOUND, "op %zu: %s: no such node", i, named);
	const struct part_build *p = &pl->parts[part];
	const char *advice = "move it in a batch of its own";
	if (!node->id || p->paths_unsure || (p->paths_changed && node->by_path))
		return refuse(pl, GROVE_ECROSSSHARD,
			      "op %zu moves %s across shards after earlier ops of the batch changed paths in its shard: %s",
			      i, named, advice);
	for (size_t t = 0; t < p->n_touched; t++) {
		bool within = p->touched[t].id == 0;
		int err = within ? GROVE_OK : is_within(pl, p->touched[t].id, node->id, &within);
		/* A delete of a node above it takes it away before the move: that is for the apply to say, in one part. */
		if (!err && !within && pl->batch.ops[p->touched[t].op].kind == TREE_OP_DELETE)
			err = is_within(pl, node->id, p->touched[t].id, &within);
		if (err)
			return err;
		if (within)
			return refuse(pl, GROVE_ECROSSSHARD,
				      "op %zu moves %s across shards after op %u of the batch acted on it or below it: %s", i,
				      named, p->touched[t].op, advice);
	}
	return GROVE_OK;
}

static void carry_free(struct carry *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->path_before);
	free(c->path_after);
	grove_buf_free(&c->carried);
	free(c);
}

struct edge_scan {
	struct planner *pl;
	size_t op;
	size_t first; /* this move's first entry in pl->leaving */
	const char *named;
};

static int add_leaving(struct planner *pl, uint64_t outside, uint64_t group, size_t op)
{
	if (grove_grow((void **)&pl->leaving, &pl->cap_leaving, pl->n_leaving, sizeof(*pl->leaving)))
		return GROVE_ENOMEM;
	pl->leaving[pl->n_leaving++] = (struct leaving){outside, group, (uint32_t)op};
	return GROVE_OK;
}

/*
 * A connection of the carried subtree with node @p outside: its record is read before the batch and checked
 * as read at apply, so no earlier op may have removed it (a delete in the outside end's shard: refused
 * broadly, for a delete's removal of connections is planned from the records before the batch), and no other
 * move of the batch may carry its other end.
 */
static int check_leaving(void *ctx, uint64_t inside, uint64_t outside)
{
	(void)inside;
	struct edge_scan *e = ctx;
	struct planner *pl = e->pl;
	uint64_t group;
	int err = tree_view_locate(pl->w->view, pl->w->txn, outside, &group);
	if (err == GROVE_ENOTFOUND)
		return refuse(pl, GROVE_ECHANGED, "op %zu: node %llu, connected to %s, is not applied here yet; retry", e->op,
			      (unsigned long long)outside, e->named);
	if (err)
		return err;
	for (size_t k = 0; k < e->op; k++)
		if (pl->batch.ops[k].kind == TREE_OP_DELETE && pl->ops[k].part != NO_PART &&
		    pl->parts[pl->ops[k].part].group == group)
			return refuse(pl, GROVE_ECROSSSHARD,
				      "op %zu moves %s, connected to node %llu, across shards after op %zu of the batch deleted "
				      "in that node's shard: move it in a batch of its own", e->op, e->named,
				      (unsigned long long)outside, k);
	bool within = false;
	for (size_t m = 0; !err && !within && m + 1 < pl->n_moved; m++)
		err = is_within(pl, outside, pl->moved[m].root, &within);
	for (size_t l = 0; !err && !within && l < e->first; l++)
		if (pl->leaving[l].outside)
			err = is_within(pl, pl->leaving[l].outside, pl->moved[pl->n_moved - 1].root, &within);
	if (!err && within)
		return refuse(pl, GROVE_ECROSSSHARD,
			      "op %zu moves %s across shards, and another move of the batch carries a node connected to it: "
			      "move them in two batches", e->op, e->named);
	return err ? err : add_leaving(pl, outside, group, e->op);
}

/* A delete, op @p i in @p group, after a move across shards whose connections changed records there. */
static int check_delete_after_leaving(struct planner *pl, size_t i, uint64_t group)
{
	for (size_t l = 0; l < pl->n_leaving; l++)
		if (pl->leaving[l].group == group)
			return refuse(pl, GROVE_ECROSSSHARD,
				      "op %zu deletes in a shard whose connections op %u changed, moving a subtree connected "
				      "to nodes outside it across shards: delete in a batch of its own", i, pl->leaving[l].op);
	return GROVE_OK;
}

/* Op @p i moves @p node to @p target, in another shard: read the subtree and what both halves say of it. */
static int plan_carry(struct planner *pl, size_t i, const struct place *node, const struct place *target)
{
	const struct tree_op *op = &pl->batch.ops[i];
	char named[TREE_TEXT_MAX + 32];
	ref_text(&op->node, named, sizeof(named));
	if (node->local >= 0)
		return refuse(pl, GROVE_ECROSSSHARD,
			      "op %zu moves %s, created by this batch, to another shard: create it in its new place", i,
			      named);
	int err = check_unchanged(pl, i, node, named);
	if (err)
		return err;
	const struct tree *own = pl->w->group_tree(pl->w->ctx, node->group);
	if (!own)
		return refuse(pl, GROVE_EINVAL, "op %zu: %s is in group %llu, which is not a tree group here", i, named,
			      (unsigned long long)node->group);
	struct carry *c = calloc(1, sizeof(*c));
	if (!c)
		return GROVE_ENOMEM;
	pl->ops[i].carry = c;
	c->node = node->id;
	c->target = target->local < 0 ? target->id : 0;
	c->from = node->group;
	c->to = target->group;
	struct tree_split_result gathered = {0};
	err = tree_carry_gather(own, pl->w->txn, node->id, &c->carried, &gathered);
	if (err == GROVE_ESTORAGE || err == GROVE_ENOMEM || err == GROVE_ECORRUPT)
		return err;
	if (err)
		return refuse(pl, err, "op %zu: %s", i, gathered.message);
	if (c->carried.failed)
		return GROVE_ENOMEM;
	struct tree_node n;
	if ((err = tree_get_node(pl->world, pl->w->txn, node->id, &n)) != GROVE_OK)
		return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err; /* the gather found it */
	c->name = n.name;
	n.name = NULL;
	tree_node_free(&n);
	if ((err = tree_node_path(pl->world, pl->w->txn, node->id, &c->path_before)) != GROVE_OK)
		return err;
	char *parent_path;
	if ((err = ref_path(pl, &op->target, &parent_path)) != GROVE_OK)
		return err;
	if (parent_path) {
		c->path_after = join_path(parent_path, c->name);
		free(parent_path);
		if (!c->path_after)
			return GROVE_ENOMEM;
	}
	if (grove_grow((void **)&pl->moved, &pl->cap_moved, pl->n_moved, sizeof(*pl->moved)))
		return GROVE_ENOMEM;
	if (!(pl->moved[pl->n_moved].path = strdup(c->path_before)))
		return GROVE_ENOMEM;
	pl->moved[pl->n_moved].root = node->id;
	pl->moved[pl->n_moved++].op = (uint32_t)i;
	size_t first = pl->n_leaving;
	struct edge_scan scan = {pl, i, first, named};
	if ((err = tree_carried_edges(c->carried.data, c->carried.len, check_leaving, &scan)) != GROVE_OK)
		return err;
	if (pl->n_leaving > first && (err = add_leaving(pl, 0, c->to, i)) != GROVE_OK)
		return err;
	uint32_t from, to, in_index;
	if ((err = part_of(pl, c->from, &from)) || (err = part_of(pl, c->to, &to)) ||
	    (err = part_add(pl, from, i, HALF_OUT, &pl->ops[i].index)) || (err = part_add(pl, to, i, HALF_IN, &in_index)))
		return err;
	pl->ops[i].part = from;
	pl->parts[from].paths_changed = true;
	err = part_touch(pl, from, i, node); /* what it leaves: a later move of its old parent carries less */
	return err ? err : part_touch(pl, to, i, target);
}

/* Refuse op @p i (which @p does) when an earlier op of the batch may have changed what @p at names: its id was read before the batch. */
static int check_named_before(struct planner *pl, size_t i, const struct place *at, const char *does)
{
	for (size_t p = 0; p < pl->n_parts; p++) {
		const struct part_build *b = &pl->parts[p];
		if (b->group == at->group && (b->paths_unsure || (b->paths_changed && at->by_path)))
			return refuse(pl, GROVE_ECROSSSHARD,
				      "op %zu %s after earlier ops of the batch changed paths in its shard: put it in a batch "
				      "of its own", i, does);
	}
	return GROVE_OK;
}

/* The planner's record of connection (from, signal, to, method); SIZE_MAX if it has none. */
static size_t find_unlink(const struct planner *pl, uint64_t from, uint64_t to, const char *signal, const char *method)
{
	for (size_t k = 0; k < pl->n_unlinks; k++) {
		const struct unlink *u = &pl->unlinks[k];
		if (u->from == from && u->to == to && strcmp(u->signal, signal) == 0 && strcmp(u->method, method) == 0)
			return k;
	}
	return SIZE_MAX;
}

/*
 * The path of node @p id before the batch in *@p out (malloc'd), or NULL if the world does not hold it: the
 * source's shard records a connection across shards with its target's path, which it does not hold, so
 * that a subscriber of a subtree can leave out one to a node outside it.
 */
static int path_of(struct planner *pl, uint64_t id, char **out)
{
	int err = tree_node_path(pl->world, pl->w->txn, id, out);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/*
 * Note that the batch removes connection (from, signal, to, method), as its unlink *@p index; *@p added is false if
 * the ops planned so far removed it already.
 */
static int add_unlink(struct planner *pl, uint64_t from, uint64_t to, const char *signal, const char *method,
		      uint32_t *index, bool *added)
{
	size_t k = find_unlink(pl, from, to, signal, method);
	*added = k == SIZE_MAX || !pl->unlinks[k].gone;
	if (k == SIZE_MAX) {
		if (grove_grow((void **)&pl->unlinks, &pl->cap_unlinks, pl->n_unlinks, sizeof(*pl->unlinks)))
			return GROVE_ENOMEM;
		struct unlink *u = &pl->unlinks[pl->n_unlinks];
		*u = (struct unlink){from, to, strdup(signal), strdup(method), NULL, false};
		int err = u->signal && u->method ? path_of(pl, to, &u->to_path) : GROVE_ENOMEM;
		if (err) {
			free(u->signal);
			free(u->method);
			return err;
		}
		k = pl->n_unlinks++;
	}
	pl->unlinks[k].gone = true;
	*index = (uint32_t)k;
	return GROVE_OK;
}

/* Op @p i connects or disconnects @p node and @p target, nodes of two shards: a half in each shard's part. */
static int plan_link(struct planner *pl, size_t i, const struct place *node, const struct place *target)
{
	const struct tree_op *op = &pl->batch.ops[i];
	char a[TREE_TEXT_MAX + 32], b[TREE_TEXT_MAX + 32];
	ref_text(&op->node, a, sizeof(a));
	ref_text(&op->target, b, sizeof(b));
	if (node->local >= 0 || target->local >= 0)
		return refuse(pl, GROVE_ECROSSSHARD,
			      "op %zu connects %s and %s, nodes of two shards, one of them created by this batch: connect "
			      "them in a later batch", i, a, b);
	int err = check_named_before(pl, i, node, "connects nodes of two shards");
	if (!err)
		err = check_named_before(pl, i, target, "connects nodes of two shards");
	if (!err && (!node->id || !target->id))
		return refuse(pl, GROVE_ENOTFOUND, "op %zu: %s: no such node", i, node->id ? b : a);
	bool added;
	uint32_t index;
	if (!err && op->kind == TREE_OP_DISCONNECT)
		err = add_unlink(pl, node->id, target->id, op->name, op->text, &index, &added);
	size_t made = op->kind == TREE_OP_CONNECT ? find_unlink(pl, node->id, target->id, op->name, op->text) : SIZE_MAX;
	if (made != SIZE_MAX)
		pl->unlinks[made].gone = false; /* made again: a later delete removes it once more */
	if (err)
		return err;
	pl->located = true;
	pl->ops[i].source = node->id;
	pl->ops[i].target = target->id;
	if (!pl->ops[i].target_path && (err = path_of(pl, target->id, &pl->ops[i].target_path)))
		return err;
	uint32_t from, to, other;
	if ((err = part_of(pl, node->group, &from)) || (err = part_of(pl, target->group, &to)) ||
	    (err = part_add(pl, from, i, HALF_LINK, &pl->ops[i].index)) || (err = part_add(pl, to, i, HALF_LINK, &other)) ||
	    (err = part_touch(pl, from, i, node)) || (err = part_touch(pl, to, i, target)))
		return err;
	pl->ops[i].part = from;
	return GROVE_OK;
}

/* Removing connection (@p from, @p signal, @p to, @p method) of node @p here, in group @p group, with the node (op @p i). */
static int plan_unlink(struct planner *pl, size_t i, uint64_t group, uint64_t here, uint64_t from, uint64_t to,
		       const char *signal, const char *method)
{
	bool added;
	uint32_t unlink;
	int err = add_unlink(pl, from, to, signal, method, &unlink, &added);
	if (err || !added)
		return err;
	uint64_t other = here == from ? to : from, other_group;
	err = tree_view_locate(pl->w->view, pl->w->txn, other, &other_group);
	if (err == GROVE_ENOTFOUND)
		return refuse(pl, GROVE_ECHANGED, "op %zu: node %llu, connected to node %llu across shards, is not applied "
			      "here yet; retry", i, (unsigned long long)other, (unsigned long long)here);
	uint32_t parts[2], index;
	if (err || (err = part_of(pl, group, &parts[0])) || (err = part_of(pl, other_group, &parts[1])))
		return err;
	for (int k = 0; k < 2; k++) {
		if ((err = part_add(pl, parts[k], i, HALF_UNLINK, &index)) != GROVE_OK)
			return err;
		pl->parts[parts[k]].entries[index].unlink = unlink;
	}
	return part_touch(pl, parts[1], i, &(struct place){.group = other_group, .local = -1, .id = other});
}

/* Nodes of a subtree a delete walks to find its connections across shards, rather than going through them all. */
#define WALK_MAX 4096

struct subtree {
	uint64_t *ids;
	size_t n, cap, max;
	bool whole; /* every node of it (else: a larger subtree, not walked to the end) */
};

static int add_below(void *ctx, uint64_t child)
{
	struct subtree *s = ctx;
	if (s->n == s->max)
		return 1;
	if (grove_grow((void **)&s->ids, &s->cap, s->n, sizeof(*s->ids)))
		return GROVE_ENOMEM;
	s->ids[s->n++] = child;
	return 0;
}

/* The nodes of @p t's subtree at @p root, breadth first, if it has at most @p max; s->whole says whether it does. */
static int subtree_within(const struct tree *t, struct store_txn *txn, uint64_t root, size_t max, struct subtree *s)
{
	s->max = max;
	int err = add_below(s, root);
	for (size_t k = 0; !err && k < s->n; k++)
		err = tree_for_each_child(t, txn, s->ids[k], add_below, s);
	s->whole = err == GROVE_OK;
	if (err == 1)
		s->n = 0; /* too large: the caller goes through every connection instead */
	return err == 1 ? GROVE_OK : err;
}

struct unlink_scan {
	struct planner *pl;
	size_t op;
	uint64_t root, group;
};

static int unlink_if_within(void *ctx, uint64_t node, const struct tree_connection *c)
{
	struct unlink_scan *u = ctx;
	bool within;
	int err = is_within(u->pl, node, u->root, &within);
	if (!err && within)
		err = plan_unlink(u->pl, u->op, u->group, node, c->from, c->to, c->signal, c->method);
	return err;
}

/*
 * Op @p i deletes @p node: every connection across shards of a node of its subtree (made before the batch or by
 * an earlier op) is removed first, in both shards, so that no group keeps a half whose other half is gone.
 */
static int plan_unlinks(struct planner *pl, size_t i, const struct place *node)
{
	const struct tree *own = pl->w->group_tree(pl->w->ctx, node->group);
	bool linked = false;
	for (size_t k = 0; k < i && !linked; k++)
		linked = pl->ops[k].source && pl->batch.ops[k].kind == TREE_OP_CONNECT;
	if (!own || (!linked && !tree_has_across(own, pl->w->txn)))
		return GROVE_OK;
	/* A node the batch made holds nothing from before the batch, but what a move put under it. */
	int err = node->local >= 0 ? GROVE_OK
				   : check_named_before(pl, i, node, "deletes a node of a shard with connections across shards");
	for (size_t p = 0; !err && p < pl->n_parts; p++)
		if (pl->parts[p].group == node->group && pl->parts[p].moved_within)
			err = refuse(pl, GROVE_ECROSSSHARD,
				     "op %zu deletes a node of a shard with connections across shards after earlier ops of the "
				     "batch moved nodes there: put it in a batch of its own", i);
	if (err || !node->id || node->local >= 0)
		return err; /* no such node: the apply says so */
	pl->located = true;
	struct unlink_scan u = {pl, i, node->id, node->group};
	struct subtree below = {0};
	err = subtree_within(own, pl->w->txn, node->id, pl->w->walk_max ? pl->w->walk_max : WALK_MAX, &below);
	for (size_t k = 0; !err && k < below.n; k++)
		err = tree_for_each_across(own, pl->w->txn, below.ids[k], unlink_if_within, &u);
	if (!err && !below.whole)
		err = tree_for_each_across(own, pl->w->txn, 0, unlink_if_within, &u);
	free(below.ids);
	for (size_t k = 0; !err && k < i; k++) {
		const struct op_plan *o = &pl->ops[k];
		const struct tree_op *made = &pl->batch.ops[k];
		bool from_within = false, to_within = false;
		if (!o->source || made->kind != TREE_OP_CONNECT)
			continue;
		if (!(err = is_within(pl, o->source, node->id, &from_within)) && !from_within)
			err = is_within(pl, o->target, node->id, &to_within);
		if (!err && (from_within || to_within))
			err = plan_unlink(pl, i, node->group, from_within ? o->source : o->target, o->source, o->target,
					  made->name, made->text);
	}
	return err;
}

static bool has_target(enum tree_op_kind kind)
{
	return kind == TREE_OP_MOVE || kind == TREE_OP_CONNECT || kind == TREE_OP_DISCONNECT;
}

/* Second pass: put resource op @p i in every part that gets it, the first answering for the client's op. */
static int place_resource(struct planner *pl, size_t i)
{
	struct resource_places *rp = pl->places;
	size_t row = rp->row[i];
	for (uint32_t part = 0; part < rp->parts; part++) {
		if (!rp->in[row * rp->parts + part])
			continue;
		uint32_t *index = &rp->index[row * rp->parts + part];
		int err = part_add(pl, part, i, HALF_PLAIN, index);
		if (err)
			return err;
		if (pl->ops[i].part == NO_PART)
			pl->ops[i].part = part, pl->ops[i].index = *index;
	}
	return GROVE_OK;
}

static int plan_op(struct planner *pl, size_t i)
{
	const struct tree_op *op = &pl->batch.ops[i];
	if (op->kind == TREE_OP_PUT_RESOURCE || refers_to_local_resource(op->value, ANY_OP)) {
		pl->spans_resources = true;
		if (op->kind == TREE_OP_PUT_RESOURCE && !pl->places)
			return GROVE_OK; /* it names no node: it goes where the ops that refer to it go */
		if (op->kind == TREE_OP_PUT_RESOURCE)
			return place_resource(pl, i);
	}
	struct place node, target = {0};
	int err = place_ref(pl, i, &op->node, &node);
	if (!err)
		err = check_not_moved(pl, i, &node);
	if (!err && has_target(op->kind) && !(err = place_ref(pl, i, &op->target, &target)))
		err = check_not_moved(pl, i, &target);
	if (err)
		return err;
	if (op->kind == TREE_OP_CREATE)
		pl->ops[i].anchor = node.id;
	if (has_target(op->kind) && node.group != target.group)
		return op->kind == TREE_OP_MOVE ? plan_carry(pl, i, &node, &target) : plan_link(pl, i, &node, &target);
	if (op->kind == TREE_OP_DELETE &&
	    ((err = check_delete_after_leaving(pl, i, node.group)) != GROVE_OK || (err = plan_unlinks(pl, i, &node)) != GROVE_OK))
		return err;
	uint32_t part;
	if ((err = part_of(pl, node.group, &part)) || (err = part_add(pl, part, i, HALF_PLAIN, &pl->ops[i].index)) ||
	    (err = part_touch(pl, part, i, &node)) || (has_target(op->kind) && (err = part_touch(pl, part, i, &target))))
		return err;
	pl->ops[i].part = part;
	if (op->kind == TREE_OP_RENAME || op->kind == TREE_OP_MOVE || op->kind == TREE_OP_DELETE)
		pl->parts[part].paths_changed = true;
	pl->parts[part].moved_within |= op->kind == TREE_OP_MOVE;
	return GROVE_OK;
}

/* A reference of the client's batch as the part numbers its ops. */
static void renumber(const struct planner *pl, const Grove__NodeRef *from, Grove__NodeRef *to)
{
	grove__node_ref__init(to);
	to->path = from->path;
	to->id = from->id;
	if (from->id < 0)
		to->id = -(int64_t)pl->ops[-(from->id + 1)].index - 1;
}

/* @p v, its batch-local resource references as part @p part numbers its ops (to_part_numbering()), encoded. */
static int renumbered_value(const struct planner *pl, uint32_t part, const struct variant *v, struct grove_buf *out)
{
	struct variant copy;
	int err = variant_copy(&copy, v);
	if (err)
		return err;
	each_local_resource(&copy, to_part_numbering, &(struct numbering){pl, part});
	err = variant_encode(&copy, out);
	variant_free(&copy);
	return err ? err : out->failed ? GROVE_ENOMEM : GROVE_OK;
}

static int pack_part(struct planner *pl, const struct part_build *b, struct txn_plan_part *out)
{
	int err = GROVE_ENOMEM;
	Grove__Op *ops = calloc(b->n, sizeof(*ops));
	Grove__Op **ptrs = calloc(b->n, sizeof(*ptrs));
	Grove__NodeRef *refs = calloc(2 * b->n, sizeof(*refs));
	uint64_t *groups = calloc(pl->n_parts, sizeof(*groups));
	struct grove_buf *values = calloc(b->n, sizeof(*values));
	out->client_op = calloc(b->n, sizeof(*out->client_op));
	if (!ops || !ptrs || !refs || !groups || !values || !out->client_op)
		goto done;
	for (size_t p = 0; p < pl->n_parts; p++)
		groups[p] = pl->parts[p].group;
	for (size_t j = 0; j < b->n; j++) {
		uint32_t i = b->entries[j].client_op;
		const Grove__Op *from = pl->req->ops[i];
		const struct carry *c = pl->ops[i].carry;
		Grove__Op *w = &ops[j];
		Grove__NodeRef *node = &refs[2 * j], *target = &refs[2 * j + 1];
		out->client_op[j] = i;
		ptrs[j] = w;
		grove__node_ref__init(node);
		grove__node_ref__init(target);
		switch (b->entries[j].half) {
		case HALF_PLAIN:
			*w = *from;
			w->carried.len = 0, w->carried.data = NULL, w->group = 0;
			if (from->node)
				renumber(pl, from->node, node), w->node = node;
			if (from->target)
				renumber(pl, from->target, target), w->target = target;
			if (pl->places && refers_to_local_resource(pl->batch.ops[i].value, ANY_OP)) {
				uint32_t part = (uint32_t)(b - pl->parts);
				if (renumbered_value(pl, part, pl->batch.ops[i].value, &values[j]) != GROVE_OK)
					goto done;
				w->value.data = values[j].data, w->value.len = values[j].len;
			}
			break;
		case HALF_OUT:
			grove__op__init(w);
			w->kind = TREE_OP_CARRY_OUT;
			node->id = (int64_t)c->node;
			target->id = (int64_t)c->target;
			w->node = node, w->target = target;
			w->name = c->name;
			w->text = c->path_after ? c->path_after : (char *)"";
			w->carried.data = c->carried.data, w->carried.len = c->carried.len;
			w->group = c->to;
			break;
		case HALF_LINK:
			*w = *from;
			w->carried.len = 0, w->carried.data = NULL, w->group = 0;
			w->kind = from->kind == TREE_OP_CONNECT ? TREE_OP_CONNECT_ACROSS : TREE_OP_DISCONNECT_ACROSS;
			node->id = (int64_t)pl->ops[i].source;
			target->id = (int64_t)pl->ops[i].target;
			w->node = node, w->target = target;
			w->instance = pl->ops[i].target_path ? pl->ops[i].target_path : (char *)"";
			if ((uint32_t)(b - pl->parts) != pl->ops[i].part) {
				w->value.data = NULL, w->value.len = 0; /* the binds stay with the source's half */
			} else if (pl->places && refers_to_local_resource(pl->batch.ops[i].value, ANY_OP)) {
				if (renumbered_value(pl, pl->ops[i].part, pl->batch.ops[i].value, &values[j]) != GROVE_OK)
					goto done;
				w->value.data = values[j].data, w->value.len = values[j].len;
			}
			break;
		case HALF_UNLINK: {
			const struct unlink *u = &pl->unlinks[b->entries[j].unlink];
			grove__op__init(w);
			w->kind = TREE_OP_DISCONNECT_ACROSS;
			node->id = (int64_t)u->from;
			target->id = (int64_t)u->to;
			w->node = node, w->target = target;
			w->name = u->signal;
			w->text = u->method;
			w->instance = u->to_path ? u->to_path : (char *)"";
			break;
		}
		case HALF_IN:
			grove__op__init(w);
			w->kind = TREE_OP_CARRY_IN;
			renumber(pl, from->target, target);
			w->node = node, w->target = target;
			w->name = c->name;
			w->index = from->index;
			w->text = c->path_before;
			w->carried.data = c->carried.data, w->carried.len = c->carried.len;
			w->group = c->from;
			break;
		}
	}
	Grove__WriteRequest req = GROVE__WRITE_REQUEST__INIT;
	/*
	 * Every part carries the key: each group remembers it when its part applies as committed, so a retry
	 * finds it wherever its first op's node is now (a node the batch moved across shards is in another).
	 */
	if (pl->req->submit_key)
		req.submit_key = pl->req->submit_key;
	req.n_ops = b->n;
	req.ops = ptrs;
	req.n_txn_groups = pl->n_parts;
	req.txn_groups = groups;
	out->group = b->group;
	out->n_ops = b->n;
	out->request_len = grove__write_request__get_packed_size(&req);
	out->request = malloc(out->request_len ? out->request_len : 1);
	if (out->request) {
		grove__write_request__pack(&req, out->request);
		err = GROVE_OK;
	}
done:
	for (size_t j = 0; values && j < b->n; j++)
		grove_buf_free(&values[j]);
	free(values);
	free(ops);
	free(ptrs);
	free(refs);
	free(groups);
	return err;
}

/* One op's references spread to the resources they name: the parts of the op get them too. */
struct spread {
	struct planner *pl;
	struct resource_places *rp;
	size_t op;
};

static bool spread_parts(void *ctx, int64_t *ref)
{
	struct spread *sp = ctx;
	struct planner *pl = sp->pl;
	struct resource_places *rp = sp->rp;
	size_t k = (size_t)(-(*ref + 1)), parts = rp->parts; /* checked: an earlier put */
	uint8_t *theirs = &rp->in[rp->row[k] * parts];
	rp->referred[rp->row[k]] = true;
	for (size_t p = 0; p < parts; p++) {
		uint32_t row = rp->row[sp->op];
		if (row != NO_ROW ? rp->in[row * parts + p] : pl->ops[sp->op].part == p)
			theirs[p] = 1;
	}
	return false;
}

/*
 * Which parts get each resource the batch puts, once every other op is placed: those of the ops that
 * refer to it, a resource another put refers to with that one's (a resource refers only to earlier ones,
 * so a backward pass meets every op that refers to a resource before the resource), one that nothing
 * refers to the anchor's. Each group keeps the resources its nodes refer to, under ids of its own, so a
 * resource goes to every part that needs it: an ext_resource (a file, by path) is loaded once by Godot
 * however many entries name it; a sub_resource (embedded) becomes a copy per shard, as it does when a
 * split or a move across shards takes some of its users (resources never change once put, so the copies
 * stay equal). A connection across shards keeps its binds in its source's group only, so a resource in them
 * goes to the source's part (the op's own part). One walk over each value.
 */
static int resources_across(struct planner *pl, struct resource_places *rp)
{
	size_t n = pl->batch.count, rows = 0;
	rp->parts = pl->n_parts;
	rp->row = calloc(n, sizeof(*rp->row));
	if (!rp->row)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct bad_ref bad = {pl, i, 0};
		struct variant *value = (struct variant *)pl->batch.ops[i].value; /* only read */
		if (each_local_resource(value, not_an_earlier_put, &bad))
			return refuse(pl, GROVE_EINVAL,
				      "op %zu refers to resource of op %zu, which is not an earlier put_resource", i,
				      bad.named);
		rp->row[i] = pl->batch.ops[i].kind == TREE_OP_PUT_RESOURCE ? (uint32_t)rows++ : NO_ROW;
	}
	rp->in = rows < SIZE_MAX / rp->parts ? calloc(rows * rp->parts, sizeof(*rp->in)) : NULL;
	rp->index = rp->in ? calloc(rows * rp->parts, sizeof(*rp->index)) : NULL;
	rp->referred = calloc(rows ? rows : 1, sizeof(*rp->referred));
	if (!rp->in || !rp->index || !rp->referred)
		return GROVE_ENOMEM;
	for (size_t j = n; j-- > 0;) {
		uint32_t row = rp->row[j];
		if (row != NO_ROW && !rp->referred[row])
			rp->in[row * rp->parts] = 1; /* nothing refers to it: the anchor's */
		struct spread sp = {pl, rp, j};
		each_local_resource((struct variant *)pl->batch.ops[j].value, spread_parts, &sp); /* only read; never stops */
	}
	return GROVE_OK;
}

static void resource_places_free(struct resource_places *rp)
{
	free(rp->row);
	free(rp->in);
	free(rp->index);
	free(rp->referred);
	memset(rp, 0, sizeof(*rp));
}

/* Resources in a batch of one shard: every op in that part, in the client's order and numbering. */
static int place_resources(struct planner *pl)
{
	if (!pl->spans_resources || pl->n_parts > 1)
		return GROVE_OK;
	uint32_t part;
	int err = part_of(pl, pl->n_parts ? pl->parts[0].group : pl->w->view->world_group, &part);
	if (err)
		return err;
	struct part_build *b = &pl->parts[part];
	b->n = 0;
	for (size_t i = 0; i < pl->batch.count; i++) {
		if ((err = part_add(pl, part, i, HALF_PLAIN, &pl->ops[i].index)) != GROVE_OK)
			return err;
		pl->ops[i].part = part;
	}
	return GROVE_OK;
}

static void planner_free(struct planner *pl)
{
	for (size_t i = 0; pl->ops && i < pl->batch.count; i++) {
		carry_free(pl->ops[i].carry);
		free(pl->ops[i].target_path);
	}
	free(pl->ops);
	for (size_t p = 0; p < pl->n_parts; p++) {
		free(pl->parts[p].entries);
		free(pl->parts[p].touched);
	}
	free(pl->parts);
	for (size_t m = 0; m < pl->n_moved; m++)
		free(pl->moved[m].path);
	free(pl->moved);
	for (size_t u = 0; u < pl->n_unlinks; u++) {
		free(pl->unlinks[u].signal);
		free(pl->unlinks[u].method);
		free(pl->unlinks[u].to_path);
	}
	free(pl->unlinks);
	free(pl->leaving);
	wire_batch_free(&pl->batch);
	memset(pl, 0, sizeof(*pl));
}

void txn_plan_free(struct txn_plan *p)
{
	for (size_t i = 0; p->parts && i < p->n_parts; i++) {
		free(p->parts[i].request);
		free(p->parts[i].client_op);
	}
	free(p->parts);
	free(p->op_part);
	free(p->op_index);
	memset(p, 0, sizeof(*p));
}

/* The parts of a second pass: made first, in the first pass's order, and where each resource goes. */
struct part_order {
	const uint64_t *groups;
	size_t n;
	struct resource_places *places;
};

/* Place every op of @p req in @p pl (freed by the caller, also on failure); @p order: NULL in a first pass. */
static int plan_ops(const Grove__WriteRequest *req, const struct txn_plan_world *w, const struct part_order *order,
		    struct planner *pl, char *why, size_t why_cap)
{
	*pl = (struct planner){.req = req, .w = w, .why = why, .why_cap = why_cap};
	pl->world = tree_view_group(w->view, w->view->world_group);
	if (!pl->world)
		return refuse(pl, GROVE_EINVAL, "the view holds no tree of the world's group %llu",
			      (unsigned long long)w->view->world_group);
	int err = wire_decode_batch(req, false, &pl->batch, why, why_cap);
	if (err)
		return err;
	size_t n = pl->batch.count;
	pl->ops = calloc(n, sizeof(*pl->ops));
	if (!pl->ops)
		return GROVE_ENOMEM;
	uint32_t part;
	for (size_t p = 0; order && !err && p < order->n; p++)
		err = part_of(pl, order->groups[p], &part);
	pl->places = order ? order->places : NULL;
	for (size_t i = 0; !err && i < n; i++) {
		pl->ops[i].part = NO_PART;
		err = plan_op(pl, i);
	}
	return err ? err : place_resources(pl);
}

int txn_plan_build(const Grove__WriteRequest *req, const struct txn_plan_world *w, struct txn_plan *out, char *why,
		   size_t why_cap)
{
	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	struct planner pl;
	struct resource_places places = {0};
	int err = plan_ops(req, w, NULL, &pl, why, why_cap);
	if (!err && pl.spans_resources && pl.n_parts > 1) {
		/* Again, the resources placed where the ops that refer to them went, the parts in the same order. */
		err = resources_across(&pl, &places);
		uint64_t *order = err ? NULL : calloc(pl.n_parts, sizeof(*order));
		size_t n_parts = pl.n_parts;
		for (size_t p = 0; order && p < n_parts; p++)
			order[p] = pl.parts[p].group;
		err = err ? err : order ? GROVE_OK : GROVE_ENOMEM;
		planner_free(&pl);
		if (!err)
			err = plan_ops(req, w, &(struct part_order){order, n_parts, &places}, &pl, why, why_cap);
		free(order);
	}
	size_t n = pl.batch.count;
	if (!err) {
		out->parts = calloc(pl.n_parts, sizeof(*out->parts));
		out->op_part = calloc(n, sizeof(*out->op_part));
		out->op_index = calloc(n, sizeof(*out->op_index));
		err = out->parts && out->op_part && out->op_index ? GROVE_OK : GROVE_ENOMEM;
	}
	for (size_t p = 0; !err && p < pl.n_parts; p++) {
		out->n_parts = p + 1;
		err = pack_part(&pl, &pl.parts[p], &out->parts[p]);
	}
	for (size_t i = 0; !err && i < n; i++) {
		out->op_part[i] = pl.ops[i].part;
		out->op_index[i] = pl.ops[i].index;
	}
	out->n_ops = n;
	out->reads_tree = pl.located || pl.n_moved > 0;
	planner_free(&pl);
	resource_places_free(&places);
	if (err) {
		if (err == GROVE_ENOMEM && !why[0])
			snprintf(why, why_cap, "out of memory");
		txn_plan_free(out);
	}
	return err;
}
