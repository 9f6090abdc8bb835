/* The write side of the scene tree: validating and applying batches. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/tree/records.h"
#include "src/tree/tree.h"

/* State of one batch being applied. */
struct applier {
	const struct tree *t;          /* the tree it changes */
	struct store_txn *txn;         /* where the batch writes: a nested transaction, or the caller's */
	int64_t node_delta;            /* nodes created minus nodes deleted, added to the count at the end */
	const struct tree_batch *batch;
	struct tree_result *res;
	size_t op_index;               /* operation being applied */
	uint64_t next_id;              /* id counter, written back at the end */
	uint64_t id_limit;             /* ids stay below it (a split-born group's block) */
	uint64_t top;                  /* the group's root: /root, or its shard's root */
	bool has_mounts;               /* some of its nodes are roots of other shards */
	int has_across;                /* some of its nodes have connections across shards: -1 not looked at yet */
	bool no_change;                /* the operation applied has no change record (another group's has it) */
	/* What the operation being applied found, for its change record. */
	struct {
		uint64_t parent, old_parent;
		char *old_name;            /* owned */
		uint32_t old_path_step;    /* where the node was before (TREE_NO_PATH: not asked) */
		char *node_class;          /* owned: of a deleted node */
		struct grove_buf value;    /* a copy of the bound value's bytes */
	} seen;
	/*
	 * Each node's latest path step (tree_paths), valid while path_epoch stays: a move or rename of a node
	 * with children makes every step taken before stale, since its descendants' paths changed with it.
	 */
	struct idmap step_of_node;     /* (node, epoch) -> step index + 1 */
	uint64_t path_epoch;
};

/* Record a refusal (or failure) with a formatted one-line message. */
__attribute__((format(printf, 3, 4))) static int refuse(struct applier *a, int err, const char *fmt, ...)
{
	a->res->err = err;
	a->res->failed_op = a->op_index;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->res->message, sizeof(a->res->message), fmt, ap);
	va_end(ap);
	return err;
}

/* Refuse with the generic text for a storage-level failure. */
static int fail(struct applier *a, int err)
{
	return refuse(a, err, "%s", grove_strerror(err));
}

/* A node's path for a message; "node <id>" if it cannot be computed. */
static void describe(struct applier *a, uint64_t id, char *out, size_t cap)
{
	char *path = NULL;
	if (tree_node_path(a->t, a->txn, id, &path) == GROVE_OK)
		snprintf(out, cap, "%s", path);
	else
		snprintf(out, cap, "node %llu", (unsigned long long)id);
	free(path);
}

static int node_exists(struct applier *a, uint64_t id)
{
	uint8_t key[8];
	put_be64(key, id);
	return tt_get(a->t, a->txn, TREE_NODES, key, sizeof(key), NULL);
}

/*
 * Refuse a reference that a split or a move across shards sent elsewhere; *@p found tells whether it did.
 * An id is looked up among the moved ones only when @p missing (no node here has it).
 */
static int refuse_if_moved(struct applier *a, const char *path, uint64_t id, bool missing, bool *found)
{
	*found = false;
	if (!a->has_mounts && !missing)
		return GROVE_OK;
	uint64_t group;
	int err;
	if (path) {
		char *mount_path = NULL;
		err = mount_above(a->t, a->txn, path, &group, &mount_path);
		if (err == GROVE_OK) {
			*found = true;
			err = refuse(a, GROVE_EMOVED, "%s is in shard %llu (rooted at %s) now; retry", path,
				     (unsigned long long)group, mount_path);
		} else if (err != GROVE_ENOTFOUND) {
			err = fail(a, err);
		} else {
			err = GROVE_OK;
		}
		free(mount_path);
		return err;
	}
	err = a->has_mounts ? tree_mount_of(a->t, a->txn, id, &group) : GROVE_ENOTFOUND;
	if (err == GROVE_ENOTFOUND && missing)
		err = tree_moved_to(a->t, a->txn, id, &group);
	if (err == GROVE_ENOTFOUND)
		return GROVE_OK;
	if (err)
		return fail(a, err);
	*found = true;
	return refuse(a, GROVE_EMOVED, "node %llu is in shard %llu now; retry", (unsigned long long)id,
		      (unsigned long long)group);
}

static int add_step(struct applier *a, uint64_t id, uint32_t up, const char *name, uint32_t *at);

/* The walk of a path resolved for an operation, taken as the path steps of the nodes on it (node_step()). */
struct path_walk {
	struct applier *a;
	uint32_t up; /* the step of the node walked before */
	bool on;     /* still taking steps: the walk started at the group's root */
};

static int take_walked_step(void *ctx, uint64_t id, const char *name, size_t len)
{
	struct path_walk *w = ctx;
	struct applier *a = w->a;
	if (!w->on)
		return GROVE_OK;
	void *known = idmap_get(&a->step_of_node, id, a->path_epoch);
	if (known) {
		w->up = (uint32_t)((uintptr_t)known - 1);
		return GROVE_OK;
	}
	if (w->up == TREE_NO_PATH && id != a->top) {
		w->on = false;
		return GROVE_OK;
	}
	char own[TREE_NAME_MAX + 1], *copy = len < sizeof(own) ? own : malloc(len + 1);
	if (!copy)
		return fail(a, GROVE_ENOMEM);
	memcpy(copy, name, len);
	copy[len] = '\0';
	int err = add_step(a, id, w->up, copy, &w->up);
	if (copy != own)
		free(copy);
	return err;
}

/*
 * tree_resolve_path(), and when the batch records changes, the nodes on the way taken as their path steps:
 * the change records need them (node_step()), and the walk has just read them. Only a path written as
 * node_step() would write it (no repeated or trailing slash) names the steps as they are.
 */
static int resolve_path(struct applier *a, const char *path, uint64_t *id)
{
	size_t len = strlen(path);
	if (!a->res->record_changes || strstr(path, "//") || (len > 1 && path[len - 1] == '/'))
		return tree_resolve_path(a->t, a->txn, path, id);
	struct path_walk w = {a, TREE_NO_PATH, true};
	return tree_resolve_path_steps(a->t, a->txn, path, id, take_walked_step, &w);
}

/* Resolve a node reference to an existing node id of this group (not a mount point of another shard). */
static int resolve(struct applier *a, const struct tree_ref *ref, uint64_t *id)
{
	bool moved;
	if (ref->id < 0) {
		uint64_t k = (uint64_t)(-(ref->id + 1));
		if (k >= a->op_index || a->batch->ops[k].kind != TREE_OP_CREATE)
			return refuse(a, GROVE_EINVAL, "op %zu refers to op %llu, which is not an earlier create",
				      a->op_index, (unsigned long long)k);
		*id = a->res->ids[k];
		int err = node_exists(a, *id);
		if (err == GROVE_ENOTFOUND)
			return refuse(a, err, "op %zu refers to the node op %llu created, which an earlier op deleted",
				      a->op_index, (unsigned long long)k);
		return err ? fail(a, err) : GROVE_OK;
	} else if (ref->id > 0) {
		*id = (uint64_t)ref->id;
	} else {
		if (!ref->path)
			return refuse(a, GROVE_EINVAL, "op %zu names no node", a->op_index);
		int err = resolve_path(a, ref->path, id);
		if (err == GROVE_EINVAL)
			return refuse(a, err, "%s: no such node", ref->path);
		if (err == GROVE_ENOTFOUND) {
			err = refuse_if_moved(a, ref->path, 0, false, &moved);
			if (moved || err)
				return err;
			return refuse(a, GROVE_ENOTFOUND, "%s: no such node%s", ref->path,
				      a->top == TREE_ROOT_ID ? "" : " in this shard");
		}
		if (err)
			return fail(a, err);
		return refuse_if_moved(a, NULL, *id, false, &moved);
	}
	int err = node_exists(a, *id);
	if (err == GROVE_ENOTFOUND || err == GROVE_OK) {
		int found = err;
		err = refuse_if_moved(a, NULL, *id, found == GROVE_ENOTFOUND, &moved);
		if (moved || err)
			return err;
		if (found == GROVE_ENOTFOUND)
			return refuse(a, GROVE_ENOTFOUND, "no node with id %llu", (unsigned long long)*id);
		return GROVE_OK;
	}
	return fail(a, err);
}

/* Refuse a change to this group's root; @p what: "deleted", "renamed", "moved", "reordered". */
static int refuse_top(struct applier *a, const char *what)
{
	if (a->top == TREE_ROOT_ID)
		return refuse(a, GROVE_EROOT, "/root cannot be %s", what);
	char where[256];
	describe(a, a->top, where, sizeof(where));
	return refuse(a, GROVE_EROOT, "%s is the root of shard %llu: it cannot be %s (the shard map names a shard "
		      "by its root's path, which stays)", where, (unsigned long long)a->t->group, what);
}

struct mount_below {
	const struct applier *a;
	uint64_t node;     /* the node being renamed or moved */
	uint64_t mount;    /* a mount point at or below it */
	uint64_t group;
};

static int find_mount_below(void *ctx, uint64_t id, uint64_t group)
{
	struct mount_below *s = ctx;
	for (uint64_t cur = id, steps = 0; cur != 0 && steps < (1u << 26); steps++) {
		if (cur == s->node) {
			s->mount = id;
			s->group = group;
			return 1;
		}
		if (cur == s->a->top)
			return 0;
		struct node_rec rec;
		int err = node_rec_load(s->a->t, s->a->txn, cur, &rec);
		if (err)
			return err;
		cur = rec.parent;
		node_rec_free(&rec);
	}
	return 0;
}

/* Refuse renaming or moving @p id if another shard's root is at or below it: its path would change. */
static int refuse_if_shard_below(struct applier *a, uint64_t id, const char *what)
{
	if (!a->has_mounts)
		return GROVE_OK;
	struct mount_below s = {.a = a, .node = id};
	int err = tree_for_each_mount(a->t, a->txn, find_mount_below, &s);
	if (err == 1) {
		char where[256];
		describe(a, s.mount, where, sizeof(where));
		return refuse(a, GROVE_ECROSSSHARD, "%s is the root of shard %llu: a node above it cannot be %s "
			      "(the shard map names a shard by its root's path, which stays)", where,
			      (unsigned long long)s.group, what);
	}
	return err ? fail(a, err) : GROVE_OK;
}

static int check_node_name(struct applier *a, const char *name)
{
	if (!name || !tree_name_valid(name))
		return refuse(a, GROVE_EBADNAME,
			      "invalid node name \"%.64s\": names are 1-%d bytes of UTF-8 without : / \" or control characters, not . or ..",
			      name ? name : "", TREE_NAME_MAX);
	return GROVE_OK;
}

/* Property, group, signal and method names: 1..TREE_NAME_MAX printable bytes. */
static int check_member_name(struct applier *a, const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	bool ok = n > 0 && n <= TREE_NAME_MAX && tree_utf8_valid(name);
	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f;
	if (!ok)
		return refuse(a, GROVE_EINVAL, "invalid %s name \"%.64s\"", what, name ? name : "");
	return GROVE_OK;
}

static int check_text(struct applier *a, const char *what, const char *text, bool required)
{
	size_t n = text ? strlen(text) : 0;
	if ((required && n == 0) || n > TREE_TEXT_MAX)
		return refuse(a, GROVE_EINVAL, "invalid %s \"%.64s\"", what, text ? text : "");
	return GROVE_OK;
}

static int child_lookup(struct applier *a, uint64_t parent, const char *name, uint64_t *child)
{
	uint8_t key[8 + TREE_NAME_MAX];
	size_t klen = id_name_key(key, parent, name);
	struct store_bytes v;
	int err = tt_get(a->t, a->txn, TREE_CHILDREN, key, klen, &v);
	if (err)
		return err;
	if (v.len != 8)
		return GROVE_ECORRUPT;
	*child = get_be64(v.data);
	return GROVE_OK;
}

static int name_free_under(struct applier *a, uint64_t parent, const char *name)
{
	uint64_t other;
	int err = child_lookup(a, parent, name, &other);
	if (err == GROVE_ENOTFOUND)
		return GROVE_OK;
	if (err)
		return fail(a, err);
	char where[256];
	describe(a, parent, where, sizeof(where));
	return refuse(a, GROVE_EEXIST, "%s already has a child named %s", where, name);
}

/* ---- sibling order ---- */

/* Rewrite the order keys of all children of @p parent as GAP, 2*GAP, ... */
static int renumber_children(struct applier *a, uint64_t parent)
{
	size_t n = 0, cap = 64;
	uint64_t *kids = malloc(cap * sizeof(*kids));
	if (!kids)
		return GROVE_ENOMEM;
	struct tt_cursor *c;
	int err = tt_cursor_open(a->t, a->txn, TREE_ORDER, &c);
	if (err) {
		free(kids);
		return err;
	}
	uint8_t key[16];
	put_be64(key, parent);
	struct store_bytes k, v;
	for (err = tt_seek(c, key, 8, &k, &v); err == GROVE_OK; err = tt_next(c, &k, &v)) {
		if (!key_has_id_prefix(&k, parent))
			break;
		if (grove_grow((void **)&kids, &cap, n, sizeof(*kids))) {
			err = GROVE_ENOMEM;
			break;
		}
		kids[n++] = get_be64(v.data);
	}
	tt_cursor_close(c);
	if (err == GROVE_ENOTFOUND)
		err = GROVE_OK;
	for (size_t i = 0; i < n && !err; i++) {
		struct node_rec rec;
		err = node_rec_load(a->t, a->txn, kids[i], &rec);
		if (err)
			break;
		id_pair_key(key, parent, rec.order);
		err = tt_del(a->t, a->txn, TREE_ORDER, key, sizeof(key));
		rec.order = (i + 1) * ORDER_GAP;
		if (!err)
			err = node_rec_store(a->t, a->txn, kids[i], &rec);
		node_rec_free(&rec);
	}
	for (size_t i = 0; i < n && !err; i++) {
		uint8_t val[8];
		put_be64(val, kids[i]);
		id_pair_key(key, parent, (i + 1) * ORDER_GAP);
		err = tt_put(a->t, a->txn, TREE_ORDER, key, sizeof(key), val, sizeof(val));
	}
	free(kids);
	return err;
}

/*
 * Choose an order key that puts a new child at position @p index among the
 * current children of @p parent (-1: last). Keys are spaced by ORDER_GAP;
 * when two neighbours leave no room, the siblings are renumbered first.
 */
/* The largest order key among @p parent's children, 0 if it has none. */
static int last_order_key(const struct tree *t, struct store_txn *txn, uint64_t parent, uint64_t *last)
{
	*last = 0;
	struct tt_cursor *c;
	int err = tt_cursor_open(t, txn, TREE_ORDER, &c);
	if (err)
		return err;
	/* Seek past this parent's range, then step back into it. */
	uint8_t key[8];
	put_be64(key, parent + 1);
	struct store_bytes k;
	err = parent == UINT64_MAX ? GROVE_ENOTFOUND : tt_seek(c, key, sizeof(key), &k, NULL);
	if (err == GROVE_OK)
		err = tt_prev(c, &k, NULL);
	else if (err == GROVE_ENOTFOUND)
		err = tt_last(c, &k, NULL);
	if (err == GROVE_OK && key_has_id_prefix(&k, parent) && k.len == 16)
		*last = get_be64((const uint8_t *)k.data + 8);
	tt_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int order_key_for(struct applier *a, uint64_t parent, int64_t index, uint64_t *order)
{
	if (index < 0) {
		uint64_t last;
		int err = last_order_key(a->t, a->txn, parent, &last);
		if (err)
			return fail(a, err);
		if (last <= UINT64_MAX - 2 * ORDER_GAP) {
			*order = last + ORDER_GAP;
			return GROVE_OK;
		}
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		struct tt_cursor *c;
		int err = tt_cursor_open(a->t, a->txn, TREE_ORDER, &c);
		if (err)
			return fail(a, err);
		uint8_t key[8];
		put_be64(key, parent);
		struct store_bytes k, v;
		uint64_t prev = 0, next = 0;
		bool have_next = false;
		int64_t pos = 0;
		for (err = tt_seek(c, key, sizeof(key), &k, &v); err == GROVE_OK;
		     err = tt_next(c, &k, &v)) {
			if (!key_has_id_prefix(&k, parent) || k.len != 16)
				break;
			uint64_t this_key = get_be64((const uint8_t *)k.data + 8);
			if (index >= 0 && pos == index) {
				next = this_key;
				have_next = true;
				break;
			}
			prev = this_key;
			pos++;
		}
		tt_cursor_close(c);
		if (err && err != GROVE_ENOTFOUND)
			return fail(a, err);
		if (index > pos)
			return refuse(a, GROVE_ERANGE, "index %lld is past the last position (%lld)", (long long)index,
				      (long long)pos);
		if (!have_next) {
			if (prev > UINT64_MAX - 2 * ORDER_GAP) {
				err = renumber_children(a, parent);
				if (err)
					return fail(a, err);
				continue;
			}
			*order = prev + ORDER_GAP;
			return GROVE_OK;
		}
		if (next - prev >= 2) {
			*order = prev + (next - prev) / 2;
			return GROVE_OK;
		}
		err = renumber_children(a, parent);
		if (err)
			return fail(a, err);
	}
	return refuse(a, GROVE_ECORRUPT, "sibling order could not be renumbered");
}

static int link_child(struct applier *a, uint64_t parent, uint64_t child, const char *name, uint64_t order)
{
	uint8_t key[8 + TREE_NAME_MAX], val[8];
	put_be64(val, child);
	size_t klen = id_name_key(key, parent, name);
	int err = tt_put(a->t, a->txn, TREE_CHILDREN, key, klen, val, sizeof(val));
	if (!err) {
		id_pair_key(key, parent, order);
		err = tt_put(a->t, a->txn, TREE_ORDER, key, 16, val, sizeof(val));
	}
	return err ? fail(a, err) : GROVE_OK;
}

static int unlink_child(struct applier *a, const struct node_rec *rec)
{
	uint8_t key[8 + TREE_NAME_MAX];
	size_t klen = id_name_key(key, rec->parent, rec->name);
	int err = tt_del(a->t, a->txn, TREE_CHILDREN, key, klen);
	if (!err) {
		id_pair_key(key, rec->parent, rec->order);
		err = tt_del(a->t, a->txn, TREE_ORDER, key, 16);
	}
	if (err == GROVE_ENOTFOUND)
		err = GROVE_ECORRUPT;
	return err ? fail(a, err) : GROVE_OK;
}

/* ---- values ---- */

/*
 * A resource reference of a value being bound: a batch-local one (-(op + 1)) becomes the id that op created
 * earlier in this batch; a stored one must exist.
 */
static int bind_resource(void *ctx, int64_t *ref)
{
	struct applier *a = ctx;
	if (*ref < 0) {
		uint64_t k = (uint64_t)(-(*ref + 1));
		if (k >= a->op_index || a->batch->ops[k].kind != TREE_OP_PUT_RESOURCE)
			return refuse(a, GROVE_EINVAL, "op %zu refers to resource of op %llu, which is not an earlier put_resource",
				      a->op_index, (unsigned long long)k);
		*ref = (int64_t)a->res->ids[k];
		return GROVE_OK;
	}
	uint8_t key[8];
	put_be64(key, (uint64_t)*ref);
	int err = tt_get(a->t, a->txn, TREE_RESOURCES, key, sizeof(key), NULL);
	if (err == GROVE_ENOTFOUND)
		return refuse(a, err, "no resource with id %lld", (long long)*ref);
	return err ? fail(a, err) : GROVE_OK;
}

/* Bind every resource reference in @p v (the scripts typing its containers too) in place. */
static int bind_resources(struct applier *a, struct variant *v)
{
	int err = variant_each_resource_ref(v, bind_resource, a);
	if (err == GROVE_ETOOBIG && !a->res->err) /* not a refusal of bind_resource(): the value is too deep */
		return refuse(a, GROVE_ETOOBIG, "value nested deeper than %d", VARIANT_MAX_DEPTH);
	return err;
}

static int any_resource(void *ctx, int64_t *ref)
{
	(void)ctx, (void)ref;
	return 1;
}

/* Whether @p v refers to a resource (or is too deep to tell, which binding then refuses). */
static bool refers_to_resources(const struct variant *v)
{
	return variant_each_resource_ref((struct variant *)v, any_resource, NULL) != GROVE_OK; /* only read */
}

/* Encode @p value, its resource references bound (on a copy: the op is the caller's), into @p out. */
static int encode_bound_value(struct applier *a, const struct variant *value, struct grove_buf *out)
{
	struct variant copy = {0};
	const struct variant *bound = value;
	int err = GROVE_OK;
	if (refers_to_resources(value)) {
		err = variant_copy(&copy, value);
		if (err)
			return fail(a, err);
		err = bind_resources(a, &copy);
		bound = &copy;
	}
	if (!err) {
		err = variant_encode(bound, out);
		if (err)
			err = refuse(a, err, "value cannot be stored: %s", grove_strerror(err));
		else if (out->failed)
			err = fail(a, GROVE_ENOMEM);
	}
	variant_free(&copy);
	return err;
}

/* Keep a copy of a bound value's bytes for the change record. */
static void see_value(struct applier *a, const uint8_t *bytes, size_t len)
{
	if (a->res->record_changes)
		grove_buf_put(&a->seen.value, bytes, len);
}

/* Take step (@p id under step @p up, @p name) as where @p id is now. */
static int add_step(struct applier *a, uint64_t id, uint32_t up, const char *name, uint32_t *at)
{
	int err = tree_paths_add(&a->res->paths, id, up, name, at);
	if (!err)
		err = idmap_put(&a->step_of_node, id, a->path_epoch, (void *)(uintptr_t)(*at + 1));
	return err ? fail(a, err) : GROVE_OK;
}

/*
 * The step of where node @p id is now, for a change record. The nodes up from it that have no step of this
 * epoch get one, the highest first (the group's root as its absolute path), so each node of a batch is
 * walked over once, not once per descendant: a chain built top-down costs one step per node.
 */
static int node_step(struct applier *a, uint64_t id, uint32_t *at)
{
	void *known = idmap_get(&a->step_of_node, id, a->path_epoch);
	if (known) {
		*at = (uint32_t)((uintptr_t)known - 1);
		return GROVE_OK;
	}
	struct climb {
		uint64_t id;
		char *name;
	} *below = NULL;
	size_t n = 0, cap = 0;
	uint32_t up = TREE_NO_PATH;
	int err = GROVE_OK;
	for (uint64_t cur = id;;) {
		if ((known = idmap_get(&a->step_of_node, cur, a->path_epoch))) {
			up = (uint32_t)((uintptr_t)known - 1);
			break;
		}
		if (cur == a->top) {
			char *path;
			err = tree_node_path(a->t, a->txn, cur, &path);
			if (err) {
				err = fail(a, err);
				break;
			}
			err = add_step(a, cur, TREE_NO_PATH, path, &up);
			free(path);
			break;
		}
		struct node_rec rec;
		err = node_rec_load(a->t, a->txn, cur, &rec);
		if (!err && (rec.parent == 0 || grove_grow((void **)&below, &cap, n, sizeof(*below)) != GROVE_OK))
			err = rec.parent == 0 ? GROVE_ECORRUPT : GROVE_ENOMEM; /* above the group's root, or no room */
		if (err) {
			node_rec_free(&rec);
			err = fail(a, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err); /* a parent link to nothing */
			break;
		}
		below[n++] = (struct climb){cur, rec.name};
		rec.name = NULL;
		cur = rec.parent;
		node_rec_free(&rec);
	}
	while (n > 0) {
		n--;
		if (!err)
			err = add_step(a, below[n].id, up, below[n].name, &up);
		free(below[n].name);
	}
	free(below);
	*at = up;
	return err;
}

static uint64_t take_id(struct applier *a)
{
	return a->next_id++;
}

/* ---- operations ---- */

static int op_create(struct applier *a, const struct tree_op *op)
{
	uint64_t parent;
	int err = resolve(a, &op->node, &parent);
	if (!err)
		err = check_node_name(a, op->name);
	/*
	 * The class may be empty: a scene's node that overrides properties of a
	 * node inside an instanced scene has no type of its own (Godot takes it
	 * from the instanced scene).
	 */
	if (!err)
		err = check_text(a, "class", op->text, false);
	if (!err)
		err = check_text(a, "instance path", op->instance, false);
	if (!err)
		err = name_free_under(a, parent, op->name);
	uint64_t order = 0;
	if (!err)
		err = order_key_for(a, parent, op->index, &order);
	if (err)
		return err;
	uint64_t id = take_id(a);
	struct node_rec rec = {
		.parent = parent,
		.order = order,
		.next_seq = 0,
		.name = (char *)op->name,
		.class_name = (char *)(op->text ? op->text : ""),
		.instance = (char *)(op->instance ? op->instance : ""),
	};
	err = node_rec_store(a->t, a->txn, id, &rec);
	if (err)
		return fail(a, err);
	a->res->ids[a->op_index] = id;
	a->node_delta++;
	a->seen.parent = parent;
	return link_child(a, parent, id, op->name, order);
}

/* Delete every key of @p table that starts with node id @p id. */
static int delete_prefixed(const struct tree *t, struct store_txn *txn, enum tree_table table, uint64_t id)
{
	uint8_t prefix[8];
	put_be64(prefix, id);
	return tt_del_prefix(t, txn, table, prefix, sizeof(prefix));
}

/* Delete @p key from @p tab if it is there; *@p found says whether it was. */
static int del_present(const struct tree *t, struct store_txn *txn, enum tree_table tab, const uint8_t *key, size_t len,
		       unsigned *found)
{
	int err = tt_del(t, txn, tab, key, len);
	*found += err == GROVE_OK;
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/*
 * Remove connection @p conn_id and its index entries: both ends' here, or, for a connection across shards, the
 * one end this group holds and its mark (tree.conns_across).
 */
static int delete_connection(const struct tree *t, struct store_txn *txn, uint64_t conn_id)
{
	struct conn_rec rec;
	int err = conn_rec_load(t, txn, conn_id, &rec);
	if (err)
		return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
	uint8_t key[16];
	put_be64(key, conn_id);
	err = tt_del(t, txn, TREE_CONNS, key, 8);
	uint64_t ends[2] = {rec.from, rec.to};
	unsigned n_ends = rec.to != rec.from ? 2 : 1, indexed = 0, across = 0;
	for (unsigned e = 0; !err && e < n_ends; e++) {
		id_pair_key(key, ends[e], conn_id);
		err = del_present(t, txn, TREE_CONNS_BY_NODE, key, 16, &indexed);
		if (!err)
			err = del_present(t, txn, TREE_CONNS_ACROSS, key, 16, &across);
	}
	conn_rec_free(&rec);
	if (!err && !(across == 0 ? indexed == n_ends : across == 1 && indexed == 1))
		err = GROVE_ECORRUPT;
	return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
}

/* The first connection of node @p id in @p tab (tree.conns_by_node or tree.conns_across); 0 if none. */
static int first_connection(const struct tree *t, struct store_txn *txn, enum tree_table tab, uint64_t id,
			    uint64_t *conn_id)
{
	*conn_id = 0;
	struct tt_cursor *c;
	int err = tt_cursor_open(t, txn, tab, &c);
	if (err)
		return err;
	uint8_t prefix[8];
	put_be64(prefix, id);
	struct store_bytes k;
	err = tt_seek(c, prefix, sizeof(prefix), &k, NULL);
	if (!err && key_has_id_prefix(&k, id) && k.len == 16)
		*conn_id = get_be64((const uint8_t *)k.data + 8);
	tt_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int delete_connections_of(const struct tree *t, struct store_txn *txn, uint64_t id)
{
	for (;;) {
		uint64_t conn_id;
		int err = first_connection(t, txn, TREE_CONNS_BY_NODE, id, &conn_id);
		if (err || conn_id == 0)
			return err;
		if ((err = delete_connection(t, txn, conn_id)) != GROVE_OK)
			return err;
	}
}

/*
 * Refuse deleting node @p id while it has a connection with another shard's node: the other group's half must
 * go in the same transaction (the planner removes both halves first, TREE_OP_DISCONNECT_ACROSS).
 */
static int refuse_if_connected_across(struct applier *a, uint64_t id)
{
	if (a->has_across < 0)
		a->has_across = tree_has_across(a->t, a->txn); /* looked at once, by the batch's first delete */
	if (!a->has_across)
		return GROVE_OK;
	uint64_t conn_id;
	int err = first_connection(a->t, a->txn, TREE_CONNS_ACROSS, id, &conn_id);
	if (err || !conn_id)
		return err ? fail(a, err) : GROVE_OK;
	struct conn_rec rec;
	err = conn_rec_load(a->t, a->txn, conn_id, &rec);
	if (err)
		return fail(a, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err);
	char where[256];
	describe(a, id, where, sizeof(where));
	err = refuse(a, GROVE_ECHANGED,
		     "%s has a signal connection (%s -> %s) with a node of another shard: deleting it removes the "
		     "connection in both shards, one transaction across them; retry", where, rec.signal, rec.method);
	conn_rec_free(&rec);
	return err;
}

/* Remove one node's own records (not its children's). */
static int delete_one(struct applier *a, uint64_t id)
{
	int refused = refuse_if_connected_across(a, id);
	if (refused)
		return refused;
	struct node_rec rec;
	int err = node_rec_load(a->t, a->txn, id, &rec);
	if (err)
		return fail(a, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err);
	err = unlink_child(a, &rec);
	node_rec_free(&rec);
	if (err)
		return err;
	uint8_t key[8];
	put_be64(key, id);
	err = tt_del(a->t, a->txn, TREE_NODES, key, sizeof(key));
	a->node_delta--;
	if (!err)
		err = delete_prefixed(a->t, a->txn, TREE_PROPS, id);
	if (!err)
		err = delete_prefixed(a->t, a->txn, TREE_GROUPS, id);
	if (!err)
		err = delete_connections_of(a->t, a->txn, id);
	return err ? fail(a, err) : GROVE_OK;
}

static int take_first(void *ctx, uint64_t child)
{
	*(uint64_t *)ctx = child;
	return 1;
}

/* The id of some child of @p parent, or 0 if it has none. */
static int first_child(const struct tree *t, struct store_txn *txn, uint64_t parent, uint64_t *child)
{
	*child = 0;
	int err = tree_for_each_child(t, txn, parent, take_first, child);
	return err == 1 ? GROVE_OK : err;
}

static int op_delete(struct applier *a, const struct tree_op *op)
{
	uint64_t id;
	int err = resolve(a, &op->node, &id);
	if (err)
		return err;
	if (id == a->top)
		return refuse_top(a, "deleted");
	a->res->ids[a->op_index] = id;
	struct node_rec top;
	err = node_rec_load(a->t, a->txn, id, &top);
	if (err)
		return fail(a, err);
	a->seen.parent = top.parent;
	if (a->res->record_changes) {
		a->seen.node_class = strdup(top.class_name);
		err = a->seen.node_class ? node_step(a, id, &a->seen.old_path_step) : fail(a, GROVE_ENOMEM);
	}
	node_rec_free(&top);
	if (err)
		return err;
	/*
	 * Depth-first without recursion: descend to a leaf, delete it, climb
	 * back to its parent and repeat. Memory stays O(1) however deep or wide
	 * the subtree is.
	 */
	uint64_t cur = id;
	for (;;) {
		uint64_t child;
		err = first_child(a->t, a->txn, cur, &child);
		if (err)
			return fail(a, err);
		if (child) {
			cur = child;
			continue;
		}
		uint64_t group;
		if (a->has_mounts && (err = tree_mount_of(a->t, a->txn, cur, &group)) != GROVE_ENOTFOUND) {
			if (err)
				return fail(a, err);
			char where[256];
			describe(a, cur, where, sizeof(where));
			return refuse(a, GROVE_ECROSSSHARD, "%s is the root of shard %llu: a subtree holding it cannot be "
				      "deleted (a shard's root stays; delete what it holds)", where, (unsigned long long)group);
		}
		struct node_rec rec;
		err = node_rec_load(a->t, a->txn, cur, &rec);
		if (err)
			return fail(a, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err);
		uint64_t parent = rec.parent;
		node_rec_free(&rec);
		err = delete_one(a, cur);
		if (err)
			return err;
		if (cur == id)
			return GROVE_OK;
		cur = parent;
	}
}

/* The node an operation acts on, which is also what its result names. */
static int load_target_node(struct applier *a, const struct tree_ref *ref, uint64_t *id, struct node_rec *rec)
{
	int err = resolve(a, ref, id);
	if (err)
		return err;
	a->res->ids[a->op_index] = *id;
	err = node_rec_load(a->t, a->txn, *id, rec);
	return err ? fail(a, err) : GROVE_OK;
}

static int op_set_prop(struct applier *a, const struct tree_op *op)
{
	uint64_t id;
	struct node_rec rec;
	int err = load_target_node(a, &op->node, &id, &rec);
	if (err)
		return err;
	err = check_member_name(a, "property", op->name);
	if (!err && !op->value)
		err = refuse(a, GROVE_EINVAL, "set of %s has no value", op->name);
	/* The value is bound and encoded (or refused) before anything is written: see tree_apply_batch(). */
	struct grove_buf buf = {0};
	const uint8_t seq_placeholder[4] = {0};
	if (!err) {
		grove_buf_put(&buf, seq_placeholder, sizeof(seq_placeholder));
		err = encode_bound_value(a, op->value, &buf);
	}
	uint8_t key[8 + TREE_NAME_MAX];
	size_t klen = 0;
	uint32_t seq = 0;
	if (!err) {
		klen = id_name_key(key, id, op->name);
		struct store_bytes old;
		err = tt_get(a->t, a->txn, TREE_PROPS, key, klen, &old);
		if (err == GROVE_OK && old.len >= 4) {
			seq = get_be32(old.data);
		} else if (err == GROVE_OK) {
			err = fail(a, GROVE_ECORRUPT);
		} else if (err == GROVE_ENOTFOUND) {
			seq = rec.next_seq++;
			err = node_rec_store(a->t, a->txn, id, &rec);
			if (err)
				err = fail(a, err);
		} else {
			err = fail(a, err);
		}
	}
	if (!err) {
		put_be32(buf.data, seq);
		err = tt_put(a->t, a->txn, TREE_PROPS, key, klen, buf.data, buf.len);
		if (err)
			err = fail(a, err);
	}
	if (!err)
		see_value(a, buf.data + 4, buf.len - 4);
	grove_buf_free(&buf);
	node_rec_free(&rec);
	return err;
}

static int op_clear_prop(struct applier *a, const struct tree_op *op)
{
	uint64_t id;
	int err = resolve(a, &op->node, &id);
	if (!err)
		err = check_member_name(a, "property", op->name);
	if (err)
		return err;
	a->res->ids[a->op_index] = id;
	uint8_t key[8 + TREE_NAME_MAX];
	size_t klen = id_name_key(key, id, op->name);
	err = tt_del(a->t, a->txn, TREE_PROPS, key, klen);
	if (err == GROVE_ENOTFOUND) {
		char where[256];
		describe(a, id, where, sizeof(where));
		return refuse(a, err, "%s has no property %s", where, op->name);
	}
	return err ? fail(a, err) : GROVE_OK;
}

static int op_rename(struct applier *a, const struct tree_op *op)
{
	uint64_t id;
	struct node_rec rec;
	int err = load_target_node(a, &op->node, &id, &rec);
	if (err)
		return err;
	if (id == a->top)
		err = refuse_top(a, "renamed");
	if (!err)
		err = check_node_name(a, op->name);
	if (!err && strcmp(rec.name, op->name) != 0)
		err = refuse_if_shard_below(a, id, "renamed");
	if (!err && a->res->record_changes)
		err = (a->seen.old_name = strdup(rec.name)) ? node_step(a, id, &a->seen.old_path_step)
							    : fail(a, GROVE_ENOMEM);
	if (!err && strcmp(rec.name, op->name) != 0) {
		err = name_free_under(a, rec.parent, op->name);
		if (!err)
			err = unlink_child(a, &rec);
		if (!err) {
			free(rec.name);
			rec.name = strdup(op->name);
			err = rec.name ? node_rec_store(a->t, a->txn, id, &rec) : GROVE_ENOMEM;
			if (err)
				err = fail(a, err);
		}
		if (!err)
			err = link_child(a, rec.parent, id, rec.name, rec.order);
	}
	node_rec_free(&rec);
	return err;
}

/* Refuse if @p id is @p new_parent or one of its ancestors. */
static int check_no_cycle(struct applier *a, uint64_t id, uint64_t new_parent)
{
	uint64_t cur = new_parent;
	for (uint64_t steps = 0; cur != 0; steps++) {
		if (cur == id) {
			char where[256];
			describe(a, id, where, sizeof(where));
			return refuse(a, GROVE_ECYCLE, "%s would become its own ancestor", where);
		}
		if (cur == a->top)
			return GROVE_OK;
		struct node_rec rec;
		int err = node_rec_load(a->t, a->txn, cur, &rec);
		if (err)
			return fail(a, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err);
		cur = rec.parent;
		node_rec_free(&rec);
		if (steps > (1u << 26))
			return fail(a, GROVE_ECORRUPT);
	}
	return fail(a, GROVE_ECORRUPT);
}

/* Detach @p id from its place and attach it under @p parent at @p index. */
static int relocate(struct applier *a, uint64_t id, struct node_rec *rec, uint64_t parent, int64_t index)
{
	a->seen.old_parent = rec->parent;
	a->seen.parent = parent;
	int err = a->res->record_changes ? node_step(a, id, &a->seen.old_path_step) : GROVE_OK;
	if (!err)
		err = unlink_child(a, rec);
	uint64_t order = 0;
	if (!err)
		err = order_key_for(a, parent, index, &order);
	if (err)
		return err;
	rec->parent = parent;
	rec->order = order;
	err = node_rec_store(a->t, a->txn, id, rec);
	if (err)
		return fail(a, err);
	return link_child(a, parent, id, rec->name, order);
}

static int op_move(struct applier *a, const struct tree_op *op)
{
	uint64_t id, parent;
	struct node_rec rec;
	int err = load_target_node(a, &op->node, &id, &rec);
	if (err)
		return err;
	if (id == a->top)
		err = refuse_top(a, "moved");
	if (!err)
		err = resolve(a, &op->target, &parent);
	if (!err)
		err = check_no_cycle(a, id, parent);
	if (!err && parent != rec.parent)
		err = refuse_if_shard_below(a, id, "moved");
	if (!err && parent != rec.parent)
		err = name_free_under(a, parent, rec.name);
	if (!err)
		err = relocate(a, id, &rec, parent, op->index);
	node_rec_free(&rec);
	return err;
}

static int op_reorder(struct applier *a, const struct tree_op *op)
{
	uint64_t id;
	struct node_rec rec;
	int err = load_target_node(a, &op->node, &id, &rec);
	if (err)
		return err;
	if (id == a->top)
		err = a->top == TREE_ROOT_ID ? refuse(a, GROVE_EROOT, "/root has no siblings") : refuse_top(a, "reordered");
	if (!err)
		err = relocate(a, id, &rec, rec.parent, op->index);
	node_rec_free(&rec);
	return err;
}

static int op_group(struct applier *a, const struct tree_op *op, bool add)
{
	uint64_t id;
	struct node_rec rec;
	int err = load_target_node(a, &op->node, &id, &rec);
	if (err)
		return err;
	err = check_member_name(a, "group", op->name);
	uint8_t key[8 + TREE_NAME_MAX];
	size_t klen = id_name_key(key, id, op->name ? op->name : "");
	if (!err) {
		int found = tt_get(a->t, a->txn, TREE_GROUPS, key, klen, NULL);
		char where[256];
		if (found != GROVE_OK && found != GROVE_ENOTFOUND) {
			err = fail(a, found);
		} else if (add && found == GROVE_OK) {
			describe(a, id, where, sizeof(where));
			err = refuse(a, GROVE_EEXIST, "%s is already in group %s", where, op->name);
		} else if (!add && found == GROVE_ENOTFOUND) {
			describe(a, id, where, sizeof(where));
			err = refuse(a, GROVE_ENOTFOUND, "%s is not in group %s", where, op->name);
		} else if (add) {
			uint8_t seq[4];
			put_be32(seq, rec.next_seq++);
			err = node_rec_store(a->t, a->txn, id, &rec);
			if (!err)
				err = tt_put(a->t, a->txn, TREE_GROUPS, key, klen, seq, sizeof(seq));
			if (err)
				err = fail(a, err);
		} else {
			err = tt_del(a->t, a->txn, TREE_GROUPS, key, klen);
			if (err)
				err = fail(a, err);
		}
	}
	node_rec_free(&rec);
	return err;
}

/* Find the connection (from, signal, to, method) among those of node @p via, one of its ends; *conn_id = 0 if absent. */
static int find_connection(struct applier *a, uint64_t from, const char *signal, uint64_t to, const char *method,
			   uint64_t via, uint64_t *conn_id)
{
	*conn_id = 0;
	struct tt_cursor *c;
	int err = tt_cursor_open(a->t, a->txn, TREE_CONNS_BY_NODE, &c);
	if (err)
		return err;
	uint8_t prefix[8];
	put_be64(prefix, via);
	struct store_bytes k;
	for (err = tt_seek(c, prefix, sizeof(prefix), &k, NULL); err == GROVE_OK;
	     err = tt_next(c, &k, NULL)) {
		if (!key_has_id_prefix(&k, via) || k.len != 16)
			break;
		uint64_t candidate = get_be64((const uint8_t *)k.data + 8);
		struct conn_rec rec;
		err = conn_rec_load(a->t, a->txn, candidate, &rec);
		if (err)
			break;
		bool match = rec.from == from && rec.to == to && strcmp(rec.signal, signal) == 0 &&
			     strcmp(rec.method, method) == 0;
		conn_rec_free(&rec);
		if (match) {
			*conn_id = candidate;
			break;
		}
	}
	tt_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

/*
 * Connect or disconnect (from, signal, to, method). @p here is the end this group holds (for a connection across
 * shards), or 0: both are its own. A connection across shards is indexed by its end here only and marked
 * (tree.conns_across); the target's group keeps it without binds, which only the source's group hands out.
 */
static int change_connection(struct applier *a, const struct tree_op *op, uint64_t from, uint64_t to, uint64_t here,
			     bool connect)
{
	int err = check_member_name(a, "signal", op->name);
	if (!err)
		err = check_member_name(a, "method", op->text);
	if (err)
		return err;
	a->res->ids[a->op_index] = from;
	a->seen.parent = to;
	uint64_t existing;
	err = find_connection(a, from, op->name, to, op->text, here ? here : from, &existing);
	if (err)
		return fail(a, err);
	char where[256];
	if (!connect) {
		if (!existing) {
			describe(a, here ? here : from, where, sizeof(where));
			return refuse(a, GROVE_ENOTFOUND, "%s has no connection %s -> %s", where, op->name, op->text);
		}
		err = delete_connection(a->t, a->txn, existing);
		return err ? fail(a, err) : GROVE_OK;
	}
	if (existing) {
		describe(a, here ? here : from, where, sizeof(where));
		return refuse(a, GROVE_EEXIST, "%s already connects %s to %s", where, op->name, op->text);
	}
	if (op->value && op->value->type != VARIANT_NIL && op->value->type != VARIANT_ARRAY)
		return refuse(a, GROVE_ETYPE, "connection binds must be an Array");
	struct variant nil = {0};
	const struct variant *binds = op->value && here != to ? op->value : &nil;
	struct grove_buf buf = {0};
	grove_buf_be64(&buf, from);
	grove_buf_be64(&buf, to);
	grove_buf_be32(&buf, op->flags);
	buf_str(&buf, op->name);
	buf_str(&buf, op->text);
	size_t binds_at = buf.len;
	err = encode_bound_value(a, binds, &buf);
	if (!err)
		see_value(a, buf.data + binds_at, buf.len - binds_at);
	uint64_t conn_id = take_id(a);
	uint8_t key[16];
	put_be64(key, conn_id);
	if (!err)
		err = tt_put(a->t, a->txn, TREE_CONNS, key, 8, buf.data, buf.len);
	grove_buf_free(&buf);
	uint64_t ends[2] = {here ? here : from, here ? here : to};
	for (unsigned e = 0; !err && e < (ends[1] != ends[0] ? 2u : 1u); e++) {
		id_pair_key(key, ends[e], conn_id);
		err = tt_put(a->t, a->txn, TREE_CONNS_BY_NODE, key, 16, "", 0);
		if (!err && here)
			err = tt_put(a->t, a->txn, TREE_CONNS_ACROSS, key, 16, "", 0);
	}
	if (here)
		a->has_across = 1;
	return err && a->res->err == GROVE_OK ? fail(a, err) : err;
}

static int op_connection(struct applier *a, const struct tree_op *op, bool connect)
{
	uint64_t from, to;
	int err = resolve(a, &op->node, &from);
	if (!err)
		err = resolve(a, &op->target, &to);
	return err ? err : change_connection(a, op, from, to, 0, connect);
}

/* This group's half of a connection across shards (TREE_OP_CONNECT_ACROSS, TREE_OP_DISCONNECT_ACROSS). */
static int op_connection_across(struct applier *a, const struct tree_op *op, bool connect)
{
	if (op->node.id <= 0 || op->target.id <= 0)
		return refuse(a, GROVE_EINVAL, "op %zu: a connection across shards names both its ends by id", a->op_index);
	uint64_t from = (uint64_t)op->node.id, to = (uint64_t)op->target.id;
	bool from_here, to_here;
	int err = tt_own_node(a->t, a->txn, from, &from_here);
	if (!err)
		err = tt_own_node(a->t, a->txn, to, &to_here);
	if (err)
		return fail(a, err);
	if (from_here && to_here)
		return refuse(a, GROVE_ECHANGED, "node %llu and node %llu are both in shard %llu now; retry",
			      (unsigned long long)from, (unsigned long long)to, (unsigned long long)a->t->group);
	if (!from_here && !to_here) {
		/* The reason: an end gone (said first, as a write in one shard would), or moved. */
		uint64_t id;
		err = resolve(a, &op->target, &id);
		if (err != GROVE_ENOTFOUND)
			err = resolve(a, &op->node, &id);
		return err ? err : refuse(a, GROVE_ENOTFOUND, "node %llu: no such node", (unsigned long long)from);
	}
	a->no_change = !from_here; /* the source's group records the change */
	return change_connection(a, op, from, to, from_here ? from : to, connect);
}

/* A resource's properties, which Godot reads back by name: every key a name as check_member_name() has it. */
static int check_resource_props(struct applier *a, const struct variant *props)
{
	const struct variant_dict *d = props->as.dict;
	for (uint32_t i = 0; i < d->len; i++) {
		const struct variant *k = &d->keys[i];
		if (k->type != VARIANT_STRING && k->type != VARIANT_STRING_NAME)
			return refuse(a, GROVE_ETYPE, "resource property names must be Strings");
		int err = check_member_name(a, "resource property", k->as.str.ptr);
		if (err)
			return err;
	}
	return GROVE_OK;
}

static int op_put_resource(struct applier *a, const struct tree_op *op)
{
	if (op->resource_kind != TREE_RESOURCE_EXT && op->resource_kind != TREE_RESOURCE_SUB)
		return refuse(a, GROVE_EINVAL, "unknown resource kind %d", (int)op->resource_kind);
	int err = check_text(a, "resource type", op->text, true);
	if (!err)
		err = check_text(a, "resource path", op->instance, op->resource_kind == TREE_RESOURCE_EXT);
	if (!err)
		err = check_text(a, "resource uid", op->uid, false);
	if (!err && op->name && strlen(op->name) > TREE_NAME_MAX)
		err = refuse(a, GROVE_EINVAL, "resource id longer than %d bytes", TREE_NAME_MAX);
	if (!err && op->value && op->value->type != VARIANT_NIL && op->value->type != VARIANT_DICTIONARY)
		err = refuse(a, GROVE_ETYPE, "resource properties must be a Dictionary");
	if (!err && op->value && op->value->type == VARIANT_DICTIONARY)
		err = check_resource_props(a, op->value);
	if (err)
		return err;
	struct variant nil = {0};
	struct grove_buf buf = {0};
	uint8_t kind = (uint8_t)op->resource_kind;
	grove_buf_put(&buf, &kind, 1);
	buf_str(&buf, op->text);
	buf_str(&buf, op->instance);
	buf_str(&buf, op->uid);
	buf_str(&buf, op->name);
	size_t props_at = buf.len;
	err = encode_bound_value(a, op->value ? op->value : &nil, &buf);
	if (!err)
		see_value(a, buf.data + props_at, buf.len - props_at);
	uint64_t id = take_id(a);
	if (!err) {
		uint8_t key[8];
		put_be64(key, id);
		err = tt_put(a->t, a->txn, TREE_RESOURCES, key, sizeof(key), buf.data, buf.len);
		if (err)
			err = fail(a, err);
	}
	grove_buf_free(&buf);
	a->res->ids[a->op_index] = id;
	return err;
}

/* ---- moves across shards (tree.h: TREE_OP_CARRY_OUT, TREE_OP_CARRY_IN) ---- */

/* Whether carried connection @p r has one end outside the subtree (@p nodes: the carried nodes so far, all of them by now). */
static int carried_edge(const struct idmap *nodes, const struct carried_record *r, bool *edge)
{
	uint64_t from, to;
	int err = carried_conn_ends(r, &from, &to);
	if (!err)
		*edge = !idmap_get(nodes, 0, from) || !idmap_get(nodes, 0, to);
	return err;
}

/* Put (or delete) the mark of connection @p conn_id's end @p node as across shards. */
static int mark_across(struct applier *a, uint64_t node, uint64_t conn_id, bool mark)
{
	uint8_t key[16];
	id_pair_key(key, node, conn_id);
	if (!mark)
		return tt_del(a->t, a->txn, TREE_CONNS_ACROSS, key, sizeof(key));
	a->has_across = 1;
	return tt_put(a->t, a->txn, TREE_CONNS_ACROSS, key, sizeof(key), "", 0);
}

/*
 * CARRY_OUT of connection @p r between a carried node and one outside: kept, marked across shards at the
 * outside end, when this group holds that end (its carried end's index entry is a carried record, gone with
 * it); else this group's half goes, mark and all.
 */
static int leave_edge(struct applier *a, const struct idmap *nodes, const struct carried_record *r)
{
	uint64_t from, to;
	bool kept;
	int err = carried_conn_ends(r, &from, &to);
	uint64_t outside = idmap_get(nodes, 0, from) ? to : from, conn_id = get_be64(r->key);
	if (!err)
		err = tt_own_node(a->t, a->txn, outside, &kept);
	if (!err && kept)
		return mark_across(a, outside, conn_id, true);
	if (!err)
		err = tt_del(a->t, a->txn, TREE_CONNS, r->key, r->key_len);
	return err ? err : mark_across(a, outside == from ? to : from, conn_id, false);
}

/*
 * CARRY_IN of connection @p r between a carried node and one outside (whose index entry at the carried end
 * was a carried record): taken, marked across shards at the carried end, unless this group holds the outside
 * end. Then this group's half of it (found by its ends, signal and method: each group numbered its own half)
 * and the carried one become one connection within the group, under the carried id, as the source's half has
 * it (the target's half has no binds).
 */
static int take_edge(struct applier *a, const struct idmap *nodes, const struct carried_record *r)
{
	struct conn_rec rec;
	int err = conn_rec_decode(r->val, r->val_len, &rec);
	if (err)
		return fail(a, err);
	bool from_inside = idmap_get(nodes, 0, rec.from) != NULL, here;
	uint64_t outside = from_inside ? rec.to : rec.from, conn_id = get_be64(r->key), half = 0;
	err = tt_own_node(a->t, a->txn, outside, &here);
	if (!err && !here) {
		err = tt_put(a->t, a->txn, TREE_CONNS, r->key, r->key_len, r->val, r->val_len);
		if (!err)
			err = mark_across(a, from_inside ? rec.from : rec.to, conn_id, true);
		conn_rec_free(&rec);
		return err ? fail(a, err) : GROVE_OK;
	}
	if (!err)
		err = find_connection(a, rec.from, rec.signal, rec.to, rec.method, outside, &half);
	if (!err && !half) {
		char where[256];
		describe(a, outside, where, sizeof(where));
		err = refuse(a, GROVE_ECHANGED, "%s has no half of the connection (%s -> %s) across shards that node %llu "
			     "brings; retry", where, rec.signal, rec.method, (unsigned long long)(from_inside ? rec.from : rec.to));
		conn_rec_free(&rec);
		return err;
	}
	conn_rec_free(&rec);
	uint8_t key[16];
	struct store_bytes mine;
	struct grove_buf value = {0};
	put_be64(key, half);
	if (!err)
		err = tt_get(a->t, a->txn, TREE_CONNS, key, 8, &mine);
	if (!err)
		grove_buf_put(&value, from_inside ? r->val : mine.data, from_inside ? r->val_len : mine.len);
	if (!err && value.failed)
		err = GROVE_ENOMEM;
	/* Not delete_connection(): a half a split made has the carried id, whose carried end's entry is in already. */
	if (!err)
		err = tt_del(a->t, a->txn, TREE_CONNS, key, 8);
	if (!err)
		err = mark_across(a, outside, half, false);
	id_pair_key(key, outside, half);
	if (!err)
		err = tt_del(a->t, a->txn, TREE_CONNS_BY_NODE, key, sizeof(key));
	if (!err)
		err = tt_put(a->t, a->txn, TREE_CONNS, r->key, r->key_len, value.data, value.len);
	id_pair_key(key, outside, conn_id);
	if (!err)
		err = tt_put(a->t, a->txn, TREE_CONNS_BY_NODE, key, sizeof(key), "", 0);
	grove_buf_free(&value);
	return err ? fail(a, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err) : GROVE_OK;
}

static int check_carry_group(struct applier *a, const struct tree_op *op)
{
	if (op->group == 0 || op->group == a->t->group || !op->carried)
		return refuse(a, GROVE_EINVAL, "op %zu: a move across shards needs another group and the subtree",
			      a->op_index);
	return GROVE_OK;
}

static int op_carry_out(struct applier *a, const struct tree_op *op)
{
	uint64_t id;
	struct node_rec rec;
	int err = check_carry_group(a, op);
	if (!err)
		err = load_target_node(a, &op->node, &id, &rec);
	if (err)
		return err;
	struct grove_buf now = {0};
	struct tree_split_result gathered;
	if (tree_carry_gather(a->t, a->txn, id, &now, &gathered) != GROVE_OK)
		err = refuse(a, gathered.err, "%s", gathered.message);
	else if (now.len != op->carried_len || memcmp(now.data, op->carried, now.len) != 0)
		err = refuse(a, GROVE_ECHANGED, "the subtree of node %llu changed since it was read for its move to shard "
			     "%llu; retry", (unsigned long long)id, (unsigned long long)op->group);
	grove_buf_free(&now);
	struct carried c;
	if (!err && carried_parse(op->carried, op->carried_len, &c) != GROVE_OK)
		err = fail(a, GROVE_ECORRUPT); /* it matched what this group gathered */
	a->seen.old_parent = rec.parent;
	a->seen.parent = op->target.id > 0 ? (uint64_t)op->target.id : 0;
	if (!err && a->res->record_changes)
		err = (a->seen.node_class = strdup(rec.class_name)) ? node_step(a, id, &a->seen.old_path_step)
								    : fail(a, GROVE_ENOMEM);
	if (!err)
		err = unlink_child(a, &rec);
	node_rec_free(&rec);
	struct idmap carried_nodes = {0};
	struct carried_record r;
	for (size_t at = 0; !err && at < c.len;) {
		bool edge = false;
		if ((err = carried_next(&c, &at, &r)) != GROVE_OK)
			break;
		if (r.table == TREE_RESOURCES)
			continue; /* both groups keep them: they never change */
		if (r.table == TREE_CONNS && (err = carried_edge(&carried_nodes, &r, &edge)) == GROVE_OK && edge)
			err = leave_edge(a, &carried_nodes, &r);
		else if (!err)
			err = tt_del(a->t, a->txn, r.table, r.key, r.key_len);
		if (!err && r.table == TREE_NODES) {
			a->node_delta--;
			err = tt_put_id_u64(a->t, a->txn, TREE_MOVED, get_be64(r.key), op->group);
			if (!err)
				err = idmap_put(&carried_nodes, 0, get_be64(r.key), (void *)1);
		}
	}
	idmap_free(&carried_nodes);
	return err && a->res->err == GROVE_OK ? fail(a, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err) : err;
}

/* Put carried record @p r here (CARRY_IN), the nodes' own records as they were. */
static int take_record(struct applier *a, const struct carried_record *r)
{
	if (r->table == TREE_RESOURCES) {
		int err = tt_get(a->t, a->txn, TREE_RESOURCES, r->key, r->key_len, NULL);
		if (err != GROVE_ENOTFOUND)
			return err ? fail(a, err) : GROVE_OK; /* the same resource: they never change */
	} else if (r->table == TREE_NODES) {
		uint64_t id = get_be64(r->key);
		int err = node_exists(a, id);
		if (err == GROVE_OK)
			return refuse(a, GROVE_EEXIST, "node %llu is in shard %llu already", (unsigned long long)id,
				      (unsigned long long)a->t->group);
		if (err == GROVE_ENOTFOUND)
			err = tt_del(a->t, a->txn, TREE_MOVED, r->key, r->key_len);
		if (err && err != GROVE_ENOTFOUND)
			return fail(a, err);
		a->node_delta++;
	}
	int err = tt_put(a->t, a->txn, r->table, r->key, r->key_len, r->val, r->val_len);
	return err ? fail(a, err) : GROVE_OK;
}

static int op_carry_in(struct applier *a, const struct tree_op *op)
{
	uint64_t parent, order = 0;
	struct carried c;
	int err = check_carry_group(a, op);
	if (!err)
		err = resolve(a, &op->target, &parent);
	if (!err)
		err = check_node_name(a, op->name);
	if (!err)
		err = name_free_under(a, parent, op->name);
	if (!err && carried_parse(op->carried, op->carried_len, &c) != GROVE_OK)
		err = refuse(a, GROVE_EINVAL, "op %zu: the subtree carried from shard %llu is malformed", a->op_index,
			     (unsigned long long)op->group);
	if (!err)
		err = order_key_for(a, parent, op->index, &order);
	struct idmap carried_nodes = {0};
	struct carried_record r;
	for (size_t at = 0; !err && at < c.len;) {
		bool edge = false;
		if (carried_next(&c, &at, &r) != GROVE_OK || (r.table == TREE_CONNS && carried_edge(&carried_nodes, &r, &edge)))
			err = fail(a, GROVE_ECORRUPT);
		else if (edge)
			err = take_edge(a, &carried_nodes, &r);
		else
			err = take_record(a, &r);
		if (!err && r.table == TREE_NODES && idmap_put(&carried_nodes, 0, get_be64(r.key), (void *)1))
			err = fail(a, GROVE_ENOMEM);
	}
	idmap_free(&carried_nodes);
	if (err)
		return err;
	a->res->ids[a->op_index] = c.root;
	a->seen.old_parent = c.old_parent;
	a->seen.parent = parent;
	if (a->res->record_changes && op->text && op->text[0] == '/' &&
	    (err = tree_paths_add(&a->res->paths, c.root, TREE_NO_PATH, op->text, &a->seen.old_path_step)) != GROVE_OK)
		return fail(a, err);
	struct node_rec rec;
	if ((err = node_rec_load(a->t, a->txn, c.root, &rec)) != GROVE_OK)
		return fail(a, err);
	free(rec.name);
	rec.name = strdup(op->name);
	rec.parent = parent;
	rec.order = order;
	err = rec.name ? node_rec_store(a->t, a->txn, c.root, &rec) : GROVE_ENOMEM;
	node_rec_free(&rec);
	return err ? fail(a, err) : link_child(a, parent, c.root, op->name, order);
}

static int apply_op(struct applier *a, const struct tree_op *op)
{
	switch (op->kind) {
	case TREE_OP_CREATE:
		return op_create(a, op);
	case TREE_OP_DELETE:
		return op_delete(a, op);
	case TREE_OP_SET_PROP:
		return op_set_prop(a, op);
	case TREE_OP_CLEAR_PROP:
		return op_clear_prop(a, op);
	case TREE_OP_RENAME:
		return op_rename(a, op);
	case TREE_OP_MOVE:
		return op_move(a, op);
	case TREE_OP_REORDER:
		return op_reorder(a, op);
	case TREE_OP_ADD_GROUP:
		return op_group(a, op, true);
	case TREE_OP_REMOVE_GROUP:
		return op_group(a, op, false);
	case TREE_OP_CONNECT:
		return op_connection(a, op, true);
	case TREE_OP_DISCONNECT:
		return op_connection(a, op, false);
	case TREE_OP_CONNECT_ACROSS:
		return op_connection_across(a, op, true);
	case TREE_OP_DISCONNECT_ACROSS:
		return op_connection_across(a, op, false);
	case TREE_OP_PUT_RESOURCE:
		return op_put_resource(a, op);
	case TREE_OP_CARRY_OUT:
		return op_carry_out(a, op);
	case TREE_OP_CARRY_IN:
		return op_carry_in(a, op);
	}
	return refuse(a, GROVE_EINVAL, "unknown operation kind %d", (int)op->kind);
}

void tree_change_free(struct tree_change *c)
{
	free(c->name);
	free(c->old_name);
	free(c->node_class);
	free(c->text);
	free(c->instance);
	grove_buf_free(&c->value);
	memset(c, 0, sizeof(*c));
}

void tree_result_drop_changes(struct tree_result *res)
{
	for (size_t i = 0; i < res->n_changes; i++)
		tree_change_free(&res->changes[i]);
	free(res->changes);
	res->changes = NULL;
	res->n_changes = 0;
	tree_paths_free(&res->paths);
}

void tree_result_free(struct tree_result *res)
{
	free(res->ids);
	res->ids = NULL;
	res->count = 0;
	tree_result_drop_changes(res);
	grove_buf_free(&res->txn_cmd);
	grove_buf_free(&res->txn_result);
	free(res->txn_groups);
	res->txn_groups = NULL;
	res->n_txn_groups = 0;
	res->txn_id = 0;
}

static char *copy_or_null(const char *s, bool *oom)
{
	if (!s)
		return NULL;
	char *c = strdup(s);
	*oom |= !c;
	return c;
}

/* The step of where node @p id is after operation @p op, just applied to it. */
static int step_after(struct applier *a, const struct tree_op *op, uint64_t id, const struct node_rec *rec,
		      uint32_t *at)
{
	if (op->kind != TREE_OP_CREATE && op->kind != TREE_OP_RENAME && op->kind != TREE_OP_MOVE &&
	    op->kind != TREE_OP_CARRY_IN)
		return node_step(a, id, at);
	if (op->kind != TREE_OP_CREATE) {
		uint64_t child;
		int err = first_child(a->t, a->txn, id, &child);
		if (err)
			return fail(a, err);
		if (child)
			a->path_epoch++; /* its descendants' paths changed with it */
	}
	uint32_t up;
	int err = node_step(a, rec->parent, &up);
	return err ? err : add_step(a, id, up, rec->name, at);
}

/* The change record of operation @p op, just applied, from what it found. */
static int record_change(struct applier *a, const struct tree_op *op)
{
	/* Either half of a connection across shards is, to a reader, the connection made or removed. */
	enum tree_op_kind kind = op->kind == TREE_OP_CONNECT_ACROSS	 ? TREE_OP_CONNECT
				 : op->kind == TREE_OP_DISCONNECT_ACROSS ? TREE_OP_DISCONNECT
									 : op->kind;
	struct tree_change c = {.op = kind, .node = a->res->ids[a->op_index], .parent = a->seen.parent,
				.old_parent = a->seen.old_parent, .index = op->index, .old_name = a->seen.old_name,
				.path_step = TREE_NO_PATH, .old_path_step = a->seen.old_path_step,
				.value = a->seen.value};
	bool oom = c.value.failed;
	a->seen.old_name = NULL;
	memset(&a->seen.value, 0, sizeof(a->seen.value));
	int err = GROVE_OK;
	if (op->kind == TREE_OP_DELETE) {
		c.path_step = a->seen.old_path_step, c.old_path_step = TREE_NO_PATH;
		c.node_class = a->seen.node_class;
		a->seen.node_class = NULL;
	} else if (op->kind == TREE_OP_CARRY_OUT) {
		/* Where it went is another shard's: its path after, as the transaction gave it. */
		c.flags = TREE_MOVE_LEFT_GROUP;
		c.node_class = a->seen.node_class;
		a->seen.node_class = NULL;
		if (op->text && op->text[0] == '/')
			err = tree_paths_add(&a->res->paths, c.node, TREE_NO_PATH, op->text, &c.path_step);
		if (err)
			err = fail(a, err);
	} else if (op->kind != TREE_OP_PUT_RESOURCE) {
		/* Where the node is now, and what it is: what a subscriber of a subtree filters on. */
		struct node_rec rec;
		err = node_rec_load(a->t, a->txn, c.node, &rec);
		if (err) {
			err = fail(a, err);
		} else {
			c.node_class = strdup(rec.class_name);
			oom |= !c.node_class;
			err = step_after(a, op, c.node, &rec, &c.path_step);
			node_rec_free(&rec);
		}
		/* A reader of a subtree keeps a connection only while both its ends are in it. The other
		 * shard's end of a connection across shards is not here: its path is the one the transaction
		 * gave, if any. */
		if (!err && (op->kind == TREE_OP_CONNECT || op->kind == TREE_OP_DISCONNECT)) {
			err = node_step(a, c.parent, &c.old_path_step);
		} else if (kind == TREE_OP_CONNECT || kind == TREE_OP_DISCONNECT) {
			c.old_path_step = TREE_NO_PATH;
			if (!err && op->instance && op->instance[0] == '/' &&
			    (err = tree_paths_add(&a->res->paths, c.parent, TREE_NO_PATH, op->instance, &c.old_path_step)))
				err = fail(a, err);
		}
	}
	if (op->kind == TREE_OP_CARRY_OUT || op->kind == TREE_OP_CARRY_IN)
		c.op = TREE_OP_MOVE; /* the two halves of one move */
	else if (op->kind != TREE_OP_DELETE && op->kind != TREE_OP_MOVE && op->kind != TREE_OP_REORDER)
		c.name = copy_or_null(op->name, &oom);
	if (op->kind == TREE_OP_CREATE || kind == TREE_OP_CONNECT || kind == TREE_OP_DISCONNECT ||
	    op->kind == TREE_OP_PUT_RESOURCE)
		c.text = copy_or_null(op->text ? op->text : "", &oom);
	if (op->kind == TREE_OP_CREATE || op->kind == TREE_OP_PUT_RESOURCE)
		c.instance = copy_or_null(op->instance ? op->instance : "", &oom);
	if (kind == TREE_OP_CONNECT)
		c.flags = op->flags;
	if (op->kind == TREE_OP_PUT_RESOURCE)
		c.flags = (uint32_t)op->resource_kind;
	if (oom || err) {
		tree_change_free(&c);
		return err ? err : fail(a, GROVE_ENOMEM);
	}
	a->res->changes[a->res->n_changes++] = c;
	return GROVE_OK;
}

int tree_init(const struct tree *t, struct store_txn *txn)
{
	uint64_t next, top;
	int err = tt_meta_get(t, txn, "next_id", 0, &next);
	if (!err)
		err = tree_top(t, txn, &top);
	if (err)
		return err;
	if (top != TREE_ROOT_ID)
		return GROVE_ECORRUPT; /* a shard's tree: the world's root does not belong in it */
	struct node_rec root;
	err = node_rec_load(t, txn, TREE_ROOT_ID, &root);
	if (err == GROVE_OK) {
		node_rec_free(&root);
		return next > TREE_ROOT_ID ? GROVE_OK : GROVE_ECORRUPT;
	}
	if (err != GROVE_ENOTFOUND)
		return err;
	if (next != 0)
		return GROVE_ECORRUPT;
	struct node_rec fresh = {.name = "root", .class_name = "Window", .instance = ""};
	err = node_rec_store(t, txn, TREE_ROOT_ID, &fresh);
	if (!err)
		err = tt_meta_put(t, txn, "next_id", TREE_ROOT_ID + 1);
	if (!err)
		err = tt_meta_put(t, txn, "node_count", 1);
	return err;
}

int tree_open(struct store *store, uint64_t group, struct tree *out)
{
	static const char *const names[TREE_TABLE_COUNT] = {
		[TREE_META] = "tree.meta",         [TREE_NODES] = "tree.nodes",   [TREE_CHILDREN] = "tree.children",
		[TREE_ORDER] = "tree.order",       [TREE_PROPS] = "tree.props",   [TREE_GROUPS] = "tree.groups",
		[TREE_CONNS] = "tree.conns",       [TREE_CONNS_BY_NODE] = "tree.conns_by_node",
		[TREE_RESOURCES] = "tree.resources", [TREE_MOUNTS] = "tree.mounts", [TREE_MOVED] = "tree.moved",
		[TREE_CONNS_ACROSS] = "tree.conns_across",
	};
	out->group = group;
	out->view = NULL;
	for (int i = 0; i < TREE_TABLE_COUNT; i++) {
		int err = store_db_open(store, names[i], true, &out->db[i]);
		if (err)
			return err;
	}
	return GROVE_OK;
}

/* ---- whole trees ---- */

/* Whether group tree @p t holds the source of connection @p conn_id: the group whose record the world keeps. */
static int source_here(const struct tree *t, struct store_txn *txn, uint64_t conn_id, bool *here)
{
	struct conn_rec rec;
	int err = conn_rec_load(t, txn, conn_id, &rec);
	if (err)
		return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
	err = tt_own_node(t, txn, rec.from, here);
	conn_rec_free(&rec);
	return err;
}

/*
 * In the dump of the world, the index entry of a connection's target that another group holds: emitted with
 * the source's (@p key, a tree.conns_by_node key of group tree @p t), the target's group's entry being left out.
 */
static int emit_remote_target(const struct tree *t, struct store_txn *txn, const struct store_bytes *key,
			      int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
					  size_t val_len),
			      void *ctx)
{
	if (tt_get(t, txn, TREE_CONNS_ACROSS, key->data, key->len, NULL) != GROVE_OK)
		return GROVE_OK;
	uint64_t conn_id = get_be64((const uint8_t *)key->data + 8);
	struct conn_rec rec;
	int err = conn_rec_load(t, txn, conn_id, &rec);
	if (err)
		return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
	uint8_t target[16];
	id_pair_key(target, rec.to, conn_id);
	err = rec.from == get_be64(key->data) ? emit(ctx, TREE_CONNS_BY_NODE, target, sizeof(target), "", 0) : GROVE_OK;
	conn_rec_free(&rec);
	return err;
}

/*
 * Whether group tree @p i's record (@p table, @p key) belongs in the dump of the world as one tree: the
 * shard bookkeeping does not (mount points and moved ids, and every meta record but the world's id
 * counter, and the marks of connections across shards), a mount point's record is its shard's root's, a
 * resource copied by a split is emitted by the first group that holds it, and a connection across shards by
 * the group of its source.
 */
static int world_keeps(const struct tree_view *v, size_t i, struct store_txn *txn, unsigned table,
		       const struct store_bytes *key, bool *keep)
{
	const struct tree *t = &v->trees[i];
	*keep = true;
	if (table == TREE_MOUNTS || table == TREE_MOVED || table == TREE_CONNS_ACROSS) {
		*keep = false;
	} else if (table == TREE_CONNS && key->len == 8) {
		return source_here(t, txn, get_be64(key->data), keep);
	} else if (table == TREE_CONNS_BY_NODE && key->len == 16) {
		return source_here(t, txn, get_be64((const uint8_t *)key->data + 8), keep);
	} else if (table == TREE_META) {
		*keep = t->group == v->world_group && key->len == strlen("next_id") &&
			memcmp(key->data, "next_id", key->len) == 0;
	} else if (table == TREE_NODES && key->len == 8) {
		uint64_t group;
		int err = tt_get_id_u64(t, txn, TREE_MOUNTS, get_be64(key->data), &group);
		if (err && err != GROVE_ENOTFOUND)
			return err;
		*keep = err == GROVE_ENOTFOUND;
	} else if (table == TREE_RESOURCES) {
		for (size_t k = 0; k < i && *keep; k++) {
			struct store_bytes val;
			int err = tt_get(&v->trees[k], txn, TREE_RESOURCES, key->data, key->len, &val);
			if (err && err != GROVE_ENOTFOUND)
				return err;
			*keep = err == GROVE_ENOTFOUND;
		}
	}
	return GROVE_OK;
}

/*
 * Hand group tree @p t's records of @p table to @p emit: all of them, or with @p world set (t being its
 * tree @p i) those that belong in the dump of the world as one tree.
 */
static int dump_table(const struct tree *t, struct store_txn *txn, unsigned table, const struct tree_view *world,
		      size_t i,
		      int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
				  size_t val_len),
		      void *ctx)
{
	struct tt_cursor *c;
	int err = tt_cursor_open(t, txn, table, &c);
	if (err)
		return err;
	struct store_bytes k, v;
	for (err = tt_seek(c, NULL, 0, &k, &v); err == GROVE_OK; err = tt_next(c, &k, &v)) {
		bool keep = true;
		if (world)
			err = world_keeps(world, i, txn, table, &k, &keep);
		if (!err && keep)
			err = emit(ctx, table, k.data, k.len, v.data, v.len);
		if (!err && keep && world && table == TREE_CONNS_BY_NODE && k.len == 16)
			err = emit_remote_target(t, txn, &k, emit, ctx);
		if (err)
			break;
	}
	tt_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int tree_dump(const struct tree *t, struct store_txn *txn,
	      int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val, size_t val_len),
	      void *ctx)
{
	int err = GROVE_OK;
	for (unsigned table = 0; !err && table < TREE_TABLE_COUNT; table++)
		err = dump_table(t, txn, table, NULL, 0, emit, ctx);
	return err;
}

int tree_view_dump(const struct tree_view *v, struct store_txn *txn,
		   int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
			       size_t val_len),
		   void *ctx)
{
	bool world_seen = false;
	for (size_t i = 0; i < v->n; i++)
		world_seen = world_seen || v->trees[i].group == v->world_group;
	if (!world_seen)
		return GROVE_EINVAL;
	int err = GROVE_OK;
	for (unsigned table = 0; !err && table < TREE_TABLE_COUNT; table++)
		for (size_t i = 0; !err && i < v->n; i++)
			err = dump_table(&v->trees[i], txn, table, v, i, emit, ctx);
	return err;
}

int tree_load_begin(const struct tree *t, struct store_txn *txn)
{
	for (unsigned table = 0; table < TREE_TABLE_COUNT; table++) {
		int err = tt_del_prefix(t, txn, table, NULL, 0);
		if (err)
			return err;
	}
	return GROVE_OK;
}

/* Whether meta record @p key is state a snapshot carries (the node count is recomputed instead). */
static bool meta_is_state(const void *key, size_t len)
{
	static const char *const kept[] = {"next_id", "shard_root", "shard_path", "id_limit", "mounts"};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (len == strlen(kept[i]) && memcmp(key, kept[i], len) == 0)
			return true;
	return false;
}

int tree_load_record(const struct tree *t, struct store_txn *txn, unsigned table, const void *key, size_t key_len,
		     const void *val, size_t val_len)
{
	if (table >= TREE_TABLE_COUNT || key_len == 0 || key_len > STORE_KEY_MAX - 8)
		return GROVE_ECORRUPT;
	if (table == TREE_META && !meta_is_state(key, key_len))
		return GROVE_OK; /* the count is recomputed; anything else was never the tree's */
	return tt_put(t, txn, table, key, key_len, val, val_len);
}

/* The number of the group's keys in @p table. */
static int count_keys(const struct tree *t, struct store_txn *txn, enum tree_table table, uint64_t *count)
{
	*count = 0;
	struct tt_cursor *c;
	int err = tt_cursor_open(t, txn, table, &c);
	if (err)
		return err;
	struct store_bytes k;
	for (err = tt_seek(c, NULL, 0, &k, NULL); err == GROVE_OK; err = tt_next(c, &k, NULL))
		(*count)++;
	tt_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int tree_load_end(const struct tree *t, struct store_txn *txn)
{
	uint64_t next, top, nodes = 0, mounts = 0;
	struct node_rec root;
	int err = tt_meta_get(t, txn, "next_id", 0, &next);
	if (!err)
		err = tree_top(t, txn, &top);
	if (!err)
		err = node_rec_load(t, txn, top, &root);
	if (err)
		return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
	node_rec_free(&root);
	if (next <= TREE_ROOT_ID)
		return GROVE_ECORRUPT;
	/* Mount points of other shards are not this group's nodes. */
	err = count_keys(t, txn, TREE_NODES, &nodes);
	if (!err)
		err = count_keys(t, txn, TREE_MOUNTS, &mounts);
	if (err)
		return err;
	if (mounts > nodes)
		return GROVE_ECORRUPT;
	err = tt_meta_put_count(t, txn, "mounts", mounts);
	return err ? err : tt_meta_put(t, txn, "node_count", nodes - mounts);
}

/*
 * Whether @p batch is one operation that refuses, if at all, before its first write. Such a batch runs in
 * the caller's transaction itself: LMDB's nested transaction costs two allocations of megabytes and a copy
 * of every page the batch touches, more than a property set does. Keep each of these operations checking
 * everything before it writes; test_tree checks that their refusals leave every table as it was.
 */
static bool refuses_before_writing(const struct tree_batch *batch)
{
	if (batch->count != 1)
		return false;
	switch (batch->ops[0].kind) {
	case TREE_OP_SET_PROP:
	case TREE_OP_CLEAR_PROP:
	case TREE_OP_ADD_GROUP:
	case TREE_OP_REMOVE_GROUP:
		return true;
	default:
		return false;
	}
}

int tree_apply_batch(const struct tree *t, struct store_txn *txn, const struct tree_batch *batch, struct tree_result *res)
{
	tree_result_free(res);
	res->err = GROVE_OK;
	res->failed_op = 0;
	res->message[0] = '\0';
	struct applier a = {.t = t, .batch = batch, .res = res};
	if (batch->count > TREE_BATCH_MAX_OPS)
		return refuse(&a, GROVE_ETOOBIG, "batch of %zu ops exceeds %u", batch->count, TREE_BATCH_MAX_OPS);
	res->ids = calloc(batch->count ? batch->count : 1, sizeof(*res->ids));
	/* One change per operation, so the array is never grown. */
	if (res->record_changes)
		res->changes = calloc(batch->count ? batch->count : 1, sizeof(*res->changes));
	if (!res->ids || (res->record_changes && !res->changes))
		return fail(&a, GROVE_ENOMEM);
	res->count = batch->count;
	bool nested = !refuses_before_writing(batch);
	int err = nested ? store_txn_begin(store_txn_store(txn), txn, true, &a.txn) : GROVE_OK;
	if (err)
		return fail(&a, err);
	if (!nested)
		a.txn = txn;
	uint64_t mounts = 0;
	err = tt_meta_get(a.t, a.txn, "next_id", 0, &a.next_id);
	uint64_t first_free_id = a.next_id;
	if (!err && a.next_id <= TREE_ROOT_ID)
		err = GROVE_ECORRUPT;
	if (!err)
		err = tt_meta_get(a.t, a.txn, "id_limit", UINT64_MAX, &a.id_limit);
	if (!err)
		err = tree_top(a.t, a.txn, &a.top);
	if (!err)
		err = tt_meta_get(a.t, a.txn, "mounts", 0, &mounts);
	a.has_mounts = mounts > 0;
	a.has_across = -1;
	if (err)
		fail(&a, err);
	a.seen.old_path_step = TREE_NO_PATH;
	for (size_t i = 0; !err && i < batch->count; i++) {
		a.op_index = i;
		a.no_change = false;
		err = apply_op(&a, &batch->ops[i]);
		if (!err && res->record_changes && !a.no_change)
			err = record_change(&a, &batch->ops[i]);
		free(a.seen.old_name);
		free(a.seen.node_class);
		grove_buf_free(&a.seen.value);
		memset(&a.seen, 0, sizeof(a.seen));
		a.seen.old_path_step = TREE_NO_PATH;
	}
	idmap_free(&a.step_of_node);
	if (!err && a.node_delta) {
		uint64_t count;
		err = tree_node_count(t, a.txn, &count);
		if (!err)
			err = tt_meta_put(t, a.txn, "node_count", count + (uint64_t)a.node_delta);
		if (err)
			fail(&a, err);
	}
	if (!err && a.next_id > a.id_limit)
		err = refuse(&a, GROVE_ETOOBIG, "shard %llu has handed out every id of its block", (unsigned long long)t->group);
	if (!err && a.next_id != first_free_id && (err = tt_meta_put(t, a.txn, "next_id", a.next_id)))
		fail(&a, err);
	if (err) {
		if (nested)
			store_txn_abort(a.txn);
		/* A refused batch changed nothing, so it has nothing to tell subscribers. */
		for (size_t i = 0; i < res->n_changes; i++)
			tree_change_free(&res->changes[i]);
		res->n_changes = 0;
		tree_paths_free(&res->paths);
		return res->err;
	}
	err = nested ? store_txn_commit(a.txn) : GROVE_OK;
	if (err)
		return fail(&a, err);
	return GROVE_OK;
}
