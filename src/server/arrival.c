#include "src/server/arrival.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"

/* A node still to make: read once its parent was made, so that its step can hang under its parent's. */
struct pending {
	uint64_t id;
	uint64_t parent;
	int64_t index;
	uint32_t up;      /* its parent's step (the moved node: TREE_NO_PATH, its step is the move's) */
};

struct build {
	const struct tree *t;       /* the subtree's */
	const struct tree *outside; /* reads the nodes outside the subtree that connections name */
	struct store_txn *txn;
	struct tree_reader *r;
	struct tree_paths *paths;
	const struct arrival_limits *limits;
	struct tree_change *v;      /* the changes: the caller's first, then ours */
	size_t n, cap;
	struct tree_change *conns;  /* CONNECTs from its nodes, after every node: a target may be made after its source */
	size_t n_conns, cap_conns;
	struct tree_change *incoming; /* CONNECTs to its nodes, from nodes that may be outside it (known once all are made) */
	size_t n_incoming, cap_incoming;
	struct idmap made;          /* (0, node) -> its step + 1, for every node made; (1, node): one outside it;
	                               (2, resource): an embedded resource made, or being made */
	int resource_depth;         /* embedded resources being made, one inside the other's properties */
	size_t bytes;
	struct pending *queue;      /* breadth first: every parent is made before its children */
	size_t head, n_queue, cap_queue;
	size_t siblings;            /* children of the node being read, so far: the next one's index */
	uint64_t node;              /* the node being read */
	uint32_t step;              /* its step */
	const char *node_class;     /* its class (the reader's, valid while it is read) */
};

/* A new change at the end of @p v, zeroed but for what every change of an arrival shares. NULL if out of memory. */
static struct tree_change *add(struct build *b, struct tree_change **v, size_t *n, size_t *cap, enum tree_op_kind op)
{
	if (grove_grow((void **)v, cap, *n, sizeof(**v)))
		return NULL;
	struct tree_change *c = &(*v)[(*n)++];
	*c = (struct tree_change){.op = op, .node = b->node, .path_step = b->step, .old_path_step = TREE_NO_PATH,
				  .node_class = strdup(b->node_class)};
	if (!c->node_class) {
		(*n)--;
		return NULL;
	}
	b->bytes += strlen(b->node_class);
	return c;
}

/* Copy @p s into *@p to, counted against the limit. @return false if out of memory. */
static bool copy(struct build *b, char **to, const char *s)
{
	b->bytes += strlen(s);
	return (*to = strdup(s)) != NULL;
}

static int over(const struct build *b)
{
	return b->bytes > b->limits->max_bytes ? GROVE_ETOOBIG : GROVE_OK;
}

static int on_child(void *ctx, uint64_t child)
{
	struct build *b = ctx;
	if (b->n_queue >= b->limits->max_nodes)
		return GROVE_ETOOBIG;
	if (grove_grow((void **)&b->queue, &b->cap_queue, b->n_queue, sizeof(*b->queue)))
		return GROVE_ENOMEM;
	b->queue[b->n_queue++] = (struct pending){child, b->node, (int64_t)b->siblings++, b->step};
	return GROVE_OK;
}

static int bring_resource(void *ctx, int64_t *ref);

/* Resource @p r, if embedded: its PUT_RESOURCE, after those of the embedded resources its properties name. */
static int on_resource(void *ctx, const struct tree_resource *r)
{
	struct build *b = ctx;
	if (r->kind != TREE_RESOURCE_SUB)
		return GROVE_OK; /* a file: every reference to it names its path */
	int err = variant_each_resource_ref((struct variant *)r->props, bring_resource, b); /* only read */
	if (err)
		return err;
	if (grove_grow((void **)&b->v, &b->cap, b->n, sizeof(*b->v)))
		return GROVE_ENOMEM;
	struct tree_change *c = &b->v[b->n++];
	*c = (struct tree_change){.op = TREE_OP_PUT_RESOURCE, .node = r->id, .path_step = TREE_NO_PATH,
				  .old_path_step = TREE_NO_PATH, .flags = r->kind};
	if (!copy(b, &c->name, r->local_id ? r->local_id : "") || !copy(b, &c->text, r->type) ||
	    !copy(b, &c->instance, r->path ? r->path : ""))
		return GROVE_ENOMEM;
	err = r->props->type != VARIANT_NIL ? variant_encode(r->props, &c->value) : GROVE_OK;
	if (!err && c->value.failed)
		err = GROVE_ENOMEM;
	b->bytes += c->value.len;
	return err ? err : over(b);
}

/*
 * An embedded resource that a value of the subtree names, made before the change that names it: a
 * subscriber that never had the subtree may never have been told of it, and has no file to load it from.
 */
static int bring_resource(void *ctx, int64_t *ref)
{
	struct build *b = ctx;
	if (*ref <= 0 || idmap_get(&b->made, 2, (uint64_t)*ref))
		return GROVE_OK;
	int err = idmap_put(&b->made, 2, (uint64_t)*ref, b);
	if (!err && b->resource_depth >= VARIANT_MAX_DEPTH)
		err = GROVE_ETOOBIG;
	if (!err) {
		b->resource_depth++;
		err = tree_with_resource(b->t, b->txn, (uint64_t)*ref, on_resource, b);
		b->resource_depth--;
	}
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int on_prop(void *ctx, const char *name, struct variant *value)
{
	struct build *b = ctx;
	int err = variant_each_resource_ref(value, bring_resource, b);
	if (err)
		return err;
	struct tree_change *c = add(b, &b->v, &b->n, &b->cap, TREE_OP_SET_PROP);
	if (!c || !copy(b, &c->name, name))
		return GROVE_ENOMEM;
	err = variant_encode(value, &c->value);
	if (!err && c->value.failed)
		err = GROVE_ENOMEM;
	b->bytes += c->value.len;
	return err ? err : over(b);
}

static int on_group(void *ctx, const char *group)
{
	struct build *b = ctx;
	struct tree_change *c = add(b, &b->v, &b->n, &b->cap, TREE_OP_ADD_GROUP);
	if (!c || !copy(b, &c->name, group))
		return GROVE_ENOMEM;
	return over(b);
}

/*
 * A connection of the node being made: from it, or to it (its source's place is settled once every node is
 * made, settle_connections()). A connection to itself is one from it.
 */
static int on_connection(void *ctx, const struct tree_connection *k)
{
	struct build *b = ctx;
	bool from_here = k->from == b->node;
	struct tree_change *c = from_here ? add(b, &b->conns, &b->n_conns, &b->cap_conns, TREE_OP_CONNECT)
					  : add(b, &b->incoming, &b->n_incoming, &b->cap_incoming, TREE_OP_CONNECT);
	if (!c || !copy(b, &c->name, k->signal) || !copy(b, &c->text, k->method))
		return GROVE_ENOMEM;
	c->node = k->from;
	c->parent = k->to;
	c->old_path_step = from_here ? TREE_NO_PATH : b->step;
	c->flags = k->flags;
	int err = k->binds ? variant_each_resource_ref((struct variant *)k->binds, bring_resource, b) : GROVE_OK; /* only read */
	if (!err && k->binds && k->binds->type != VARIANT_NIL)
		err = variant_encode(k->binds, &c->value);
	if (!err && c->value.failed)
		err = GROVE_ENOMEM;
	b->bytes += c->value.len;
	return err ? err : over(b);
}

/* Whether step @p at of @p paths names @p name (a whole path's step: as its last part). */
static bool named(const struct tree_paths *paths, uint32_t at, const char *name)
{
	if (at >= paths->n)
		return false;
	const char *step = paths->steps[at].name;
	const char *slash = paths->steps[at].up == TREE_NO_PATH ? strrchr(step, '/') : NULL;
	return strcmp(slash ? slash + 1 : step, name) == 0;
}

/* Make pending node @p p: its CREATE, properties and groups, and queue its children. */
static int make(struct build *b, const struct tree_change *move, const struct pending *p)
{
	struct tree_node_view node;
	int err = tree_reader_node(b->r, p->id, &node);
	if (err)
		return err;
	b->node = p->id;
	b->node_class = node.class_name;
	b->step = move->path_step;
	if (p->up == TREE_NO_PATH && (node.parent != move->parent || !named(b->paths, move->path_step, node.name)))
		return GROVE_ECHANGED;
	if (p->up != TREE_NO_PATH && (err = tree_paths_add(b->paths, p->id, p->up, node.name, &b->step)))
		return err;
	if ((err = idmap_put(&b->made, 0, p->id, (void *)((uintptr_t)b->step + 1))))
		return err;
	struct tree_change *c = add(b, &b->v, &b->n, &b->cap, TREE_OP_CREATE);
	if (!c || !copy(b, &c->name, node.name) || !copy(b, &c->text, node.class_name) ||
	    !copy(b, &c->instance, node.instance))
		return GROVE_ENOMEM;
	c->parent = p->parent;
	c->index = p->index;
	if ((err = over(b)))
		return err;
	/* The reader's views of the node end at its next read: what the callbacks need of them is copied. */
	char *node_class = strdup(node.class_name);
	if (!node_class)
		return GROVE_ENOMEM;
	b->node_class = node_class;
	b->siblings = 0;
	err = tree_reader_props(b->r, p->id, on_prop, b);
	if (!err)
		err = tree_reader_groups(b->r, p->id, on_group, b);
	if (!err)
		err = tree_reader_connections(b->r, p->id, on_connection, b);
	if (!err)
		err = tree_reader_children(b->r, p->id, on_child, b);
	free(node_class);
	return err;
}

static void free_changes(struct tree_change *v, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		tree_change_free(&v[i]);
}

/*
 * The step of node @p id, which is not one the arrival made, in *@p at: its whole path as one step (made
 * once however many connections name it), or TREE_NO_PATH if b->outside does not find it.
 */
static int outside_step(struct build *b, uint64_t id, uint32_t *at)
{
	uintptr_t known = (uintptr_t)idmap_get(&b->made, 1, id);
	if (known) {
		*at = (uint32_t)(known - 1);
		return GROVE_OK;
	}
	char *path;
	int err = tree_node_path(b->outside, b->txn, id, &path);
	if (err == GROVE_ENOTFOUND) {
		*at = TREE_NO_PATH;
		err = GROVE_OK;
	} else if (!err) {
		b->bytes += strlen(path);
		err = tree_paths_add(b->paths, id, TREE_NO_PATH, path, at);
		free(path);
		if (!err)
			err = over(b);
	}
	return err ? err : idmap_put(&b->made, 1, id, (void *)((uintptr_t)*at + 1));
}

/*
 * Place both ends of every connection found: a target's step (one made, or outside the subtree); the
 * source of one to the subtree, if it was not made too (then the connection is its source's already):
 * its step and class, or dropped if b->outside does not find it. Those to the subtree go after the others.
 */
static int settle_connections(struct build *b)
{
	int err;
	for (size_t i = 0; i < b->n_conns; i++) {
		struct tree_change *c = &b->conns[i];
		uintptr_t made = (uintptr_t)idmap_get(&b->made, 0, c->parent);
		if (made)
			c->old_path_step = (uint32_t)(made - 1);
		else if ((err = outside_step(b, c->parent, &c->old_path_step)))
			return err;
	}
	for (size_t i = 0; i < b->n_incoming; i++) {
		struct tree_change *c = &b->incoming[i];
		struct tree_node source = {0};
		err = idmap_get(&b->made, 0, c->node) ? GROVE_ENOTFOUND : tree_get_node(b->outside, b->txn, c->node, &source);
		if (err == GROVE_ENOTFOUND) {
			tree_change_free(c);
			continue;
		}
		if (!err)
			err = outside_step(b, c->node, &c->path_step);
		if (err) {
			tree_node_free(&source);
			return err;
		}
		free(c->node_class);
		c->node_class = source.class_name;
		source.class_name = NULL;
		tree_node_free(&source);
		if (grove_grow((void **)&b->conns, &b->cap_conns, b->n_conns, sizeof(*b->conns)))
			return GROVE_ENOMEM;
		b->conns[b->n_conns++] = *c;
		*c = (struct tree_change){0};
	}
	return GROVE_OK;
}

int arrival_changes(const struct tree *t, const struct tree *outside, struct store_txn *txn,
		    const struct tree_change *move, struct tree_paths *paths, const struct arrival_limits *limits,
		    struct tree_change **out, size_t *n, size_t *cap)
{
	struct build b = {.t = t, .outside = outside ? outside : t, .txn = txn, .paths = paths, .limits = limits,
			  .v = *out, .n = *n, .cap = *cap};
	int err = tree_reader_open(t, txn, &b.r);
	if (!err && !limits->max_nodes)
		err = GROVE_ETOOBIG;
	if (!err && (err = grove_grow((void **)&b.queue, &b.cap_queue, 0, sizeof(*b.queue))) == GROVE_OK)
		b.queue[b.n_queue++] = (struct pending){move->node, move->parent, move->index, TREE_NO_PATH};
	while (!err && b.head < b.n_queue) {
		struct pending p = b.queue[b.head++];
		err = make(&b, move, &p);
	}
	if (!err)
		err = settle_connections(&b);
	tree_reader_close(b.r);
	free(b.queue);
	idmap_free(&b.made);
	free_changes(b.incoming, 0, b.n_incoming);
	free(b.incoming);
	for (size_t i = 0; !err && i < b.n_conns; i++) {
		if (grove_grow((void **)&b.v, &b.cap, b.n, sizeof(*b.v))) {
			err = GROVE_ENOMEM;
			break;
		}
		b.v[b.n++] = b.conns[i];
		b.conns[i] = (struct tree_change){0};
	}
	free_changes(b.conns, 0, b.n_conns);
	free(b.conns);
	if (err) {
		free_changes(b.v, *n, b.n);
		b.n = *n;
	}
	*out = b.v;
	*n = b.n;
	*cap = b.cap;
	return err;
}

/*
 * Whether move @p c may bring nodes into a subtree from outside it: its new parent was not an ancestor of
 * its old place. (A subtree that holds the new place and not the old one lies under the new parent, which
 * then was not above the old place.) Its half that left the group brings nothing here.
 */
static int may_bring(const struct tree_paths *paths, const struct tree_change *c, bool *brings)
{
	*brings = false;
	if (c->op != TREE_OP_MOVE || (c->flags & TREE_MOVE_LEFT_GROUP) || c->path_step == TREE_NO_PATH ||
	    c->old_path_step == TREE_NO_PATH)
		return GROVE_OK;
	char *to = NULL, *from = NULL;
	int err = tree_paths_string(paths, c->path_step, &to);
	if (!err)
		err = tree_paths_string(paths, c->old_path_step, &from);
	if (!err && to && from) {
		const char *slash = strrchr(to, '/');
		size_t parent = slash ? (size_t)(slash - to) : 0;
		*brings = !(strncmp(from, to, parent) == 0 && from[parent] == '/');
	}
	free(to);
	free(from);
	return err;
}

/* What change @p c counts against arrival_limits.max_bytes, as the build counts it. */
static size_t change_bytes(const struct tree_change *c)
{
	const char *strings[] = {c->node_class, c->name, c->text, c->instance};
	size_t bytes = c->value.len;
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		bytes += strings[i] ? strlen(strings[i]) : 0;
	return bytes;
}

int arrival_carry(const struct tree *t, const struct tree *outside, struct store_txn *txn, struct tree_result *res,
		  const struct arrival_limits *limits)
{
	/* The changes and what is carried after them: a copy, made at the first move that may bring nodes. */
	struct tree_change *all = NULL;
	size_t n = 0, cap = 0, nodes = 0, bytes = 0;
	bool full = false; /* a move did not fit: the later ones carry nothing either */
	int err = GROVE_OK;
	for (size_t i = 0; i < res->n_changes && !err; i++) {
		if (all && !(err = grove_grow((void **)&all, &cap, n, sizeof(*all))))
			all[n++] = res->changes[i];
		bool brings;
		if (err || full || (err = may_bring(&res->paths, &res->changes[i], &brings)) || !brings)
			continue;
		if (!all) {
			cap = res->n_changes + 1;
			if (!(all = malloc(cap * sizeof(*all)))) {
				err = GROVE_ENOMEM;
				break;
			}
			n = i + 1;
			memcpy(all, res->changes, n * sizeof(*all));
		}
		struct arrival_limits left = {limits->max_nodes - nodes, limits->max_bytes - bytes};
		size_t from = n, steps = res->paths.n;
		err = arrival_changes(t, outside, txn, &res->changes[i], &res->paths, &left, &all, &n, &cap);
		if (err)
			tree_paths_truncate(&res->paths, steps); /* what it read before it stopped */
		full = err == GROVE_ETOOBIG;
		if (err != GROVE_ENOMEM)
			err = GROVE_OK; /* too large, or moved on: nothing carried for this move */
		for (size_t j = from; j < n; j++) {
			all[j].carried = true;
			nodes += all[j].op == TREE_OP_CREATE;
			bytes += change_bytes(&all[j]);
		}
	}
	if (err) {
		for (size_t j = 0; j < n; j++)
			if (all[j].carried)
				tree_change_free(&all[j]);
		free(all);
		return err;
	}
	if (all) {
		free(res->changes);
		res->changes = all;
		res->n_changes = n;
	}
	return GROVE_OK;
}

/* Whether change @p c's value may name a resource: a reference, or a container that may hold one. */
static bool may_name_resource(const struct tree_change *c)
{
	if ((c->op != TREE_OP_SET_PROP && c->op != TREE_OP_CONNECT) || c->carried || !c->value.len)
		return false;
	uint8_t type = c->value.data[0];
	return type == VARIANT_RESOURCE_REF || type == VARIANT_ARRAY || type == VARIANT_DICTIONARY;
}

/* The PUT_RESOURCEs of the embedded resources that change @p c's value names, appended to b->v. */
static int bring_named(struct build *b, const struct tree_change *c)
{
	struct variant v;
	int err = variant_decode(&v, c->value.data, c->value.len, NULL);
	if (!err)
		err = variant_each_resource_ref(&v, bring_resource, b);
	variant_free(&v);
	return err;
}

int arrival_resources(const struct tree *t, struct store_txn *txn, struct tree_result *res,
		      const struct arrival_limits *limits)
{
	size_t n = res->n_changes, first = 0;
	while (first < n && !may_name_resource(&res->changes[first]))
		first++;
	if (first == n)
		return GROVE_OK;
	/* What change i brings goes to b.v[upto[i - 1] .. upto[i]) (from 0 for the first), before it. */
	struct build b = {.t = t, .txn = txn, .limits = limits};
	size_t *upto = calloc(n, sizeof(*upto));
	int err = upto ? GROVE_OK : GROVE_ENOMEM;
	/* What the entry puts itself, its subscribers are told of by the entry. */
	for (size_t i = 0; i < n && !err; i++)
		if (res->changes[i].op == TREE_OP_PUT_RESOURCE && !res->changes[i].carried)
			err = idmap_put(&b.made, 2, res->changes[i].node, &b);
	for (size_t i = first; i < n && !err; i++) {
		if (may_name_resource(&res->changes[i]))
			err = bring_named(&b, &res->changes[i]);
		upto[i] = b.n;
	}
	idmap_free(&b.made);
	struct tree_change *all = !err && b.n ? malloc((n + b.n) * sizeof(*all)) : NULL;
	if (!err && b.n && !all)
		err = GROVE_ENOMEM;
	if (err) {
		free_changes(b.v, 0, b.n);
		free(b.v);
		free(upto);
		return err == GROVE_ENOMEM ? err : GROVE_OK; /* too large, or unreadable: nothing brought */
	}
	for (size_t i = 0, k = 0, from = 0; all && i < n; i++) {
		for (; i >= first && from < upto[i]; from++)
			all[k++] = b.v[from];
		all[k++] = res->changes[i];
	}
	if (all) {
		free(res->changes);
		res->changes = all;
		res->n_changes = n + b.n;
	}
	free(b.v);
	free(upto);
	return GROVE_OK;
}
