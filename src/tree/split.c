/*
 * Subtrees that leave a group: a split moves the subtree at a path, records and all, from one group's
 * tables to a new group's in one transaction; a carry gathers a subtree's records as bytes that another
 * group's log can take (a move across shards).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/tree/records.h"
#include "src/tree/tree.h"

/* A set of ids kept in insertion order (an idmap for membership, an array for the order). */
struct id_set {
	struct idmap member;
	uint64_t *ids;
	size_t n, cap;
};

static int set_add(struct id_set *s, uint64_t id)
{
	if (idmap_get(&s->member, 0, id))
		return GROVE_OK;
	if (grove_grow((void **)&s->ids, &s->cap, s->n, sizeof(*s->ids)))
		return GROVE_ENOMEM;
	int err = idmap_put(&s->member, 0, id, (void *)1);
	if (!err)
		s->ids[s->n++] = id;
	return err;
}

static bool set_has(const struct id_set *s, uint64_t id)
{
	return idmap_get(&s->member, 0, id) != NULL;
}

static void set_free(struct id_set *s)
{
	idmap_free(&s->member);
	free(s->ids);
	memset(s, 0, sizeof(*s));
}

/* A connection across the subtree's edge: a split makes it (or keeps it) one across shards; a carry takes it along. */
struct edge {
	uint64_t id;
	uint64_t inside, outside; /* its ends */
	bool outside_here;        /* a split: the source holds the outside end, both groups keep a half */
};

/* What a split (or a carry) gathers before it moves anything. */
struct split {
	const struct tree *from;
	struct tree to;
	struct grove_buf *carried; /* a carry: records go here as bytes, not to another group's tables */
	struct store_txn *txn;
	struct tree_split_result *res;
	uint64_t root;
	struct id_set nodes;      /* the subtree, the root first */
	struct id_set mounts;     /* mount points of other shards inside it */
	struct id_set conns;      /* connections of its nodes (both ends inside) */
	struct edge *edges;       /* connections between a node inside and one outside */
	size_t n_edges, cap_edges;
	struct id_set resources;  /* resources its values refer to, directly or through other resources */
};

__attribute__((format(printf, 3, 4))) static int refuse(struct split *sp, int err, const char *fmt, ...)
{
	sp->res->err = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sp->res->message, sizeof(sp->res->message), fmt, ap);
	va_end(ap);
	return err;
}

static int fail(struct split *sp, int err)
{
	return refuse(sp, err, "%s", grove_strerror(err));
}

/* ---- gathering ---- */

static int push_child(void *ctx, uint64_t child)
{
	struct id_set *stack = ctx;
	if (grove_grow((void **)&stack->ids, &stack->cap, stack->n, sizeof(*stack->ids)))
		return GROVE_ENOMEM;
	stack->ids[stack->n++] = child;
	return 0;
}

/* The subtree's nodes, depth first without recursion; a mount point's subtree is in its own group already. */
static int gather_nodes(struct split *sp)
{
	struct id_set stack = {0};
	int err = push_child(&stack, sp->root);
	while (!err && stack.n) {
		uint64_t id = stack.ids[--stack.n], group;
		err = set_add(&sp->nodes, id);
		if (err)
			break;
		err = tree_mount_of(sp->from, sp->txn, id, &group);
		if (err == GROVE_OK) {
			err = set_add(&sp->mounts, id);
			continue;
		}
		if (err == GROVE_ENOTFOUND)
			err = tree_for_each_child(sp->from, sp->txn, id, push_child, &stack);
	}
	set_free(&stack);
	return err;
}

static int gather_ref(void *ctx, int64_t *ref)
{
	struct split *sp = ctx;
	return *ref > 0 ? set_add(&sp->resources, (uint64_t)*ref) : GROVE_OK;
}

/* Add the resources @p v refers to (the scripts typing its containers too). */
static int gather_refs(struct split *sp, const struct variant *v)
{
	int err = variant_each_resource_ref((struct variant *)v, gather_ref, sp); /* only read */
	return err == GROVE_ETOOBIG ? GROVE_ECORRUPT : err;
}

static int gather_prop_refs(void *ctx, const char *name, const struct variant *value)
{
	(void)name;
	return gather_refs(ctx, value);
}

struct conn_check {
	struct split *sp;
	uint64_t node;
};

/*
 * A connection of a subtree node. One with a node outside becomes (or stays) a connection across shards: a
 * split keeps it in both groups at once; a carry takes it along, and each group's half of the move makes its
 * end right (tree.h, TREE_OP_CARRY_OUT).
 */
static int check_connection(void *ctx, const struct tree_connection *c)
{
	struct conn_check *cc = ctx;
	struct split *sp = cc->sp;
	bool from_inside = set_has(&sp->nodes, c->from), to_inside = set_has(&sp->nodes, c->to);
	if (!from_inside || !to_inside) {
		if (grove_grow((void **)&sp->edges, &sp->cap_edges, sp->n_edges, sizeof(*sp->edges)))
			return GROVE_ENOMEM;
		struct edge *e = &sp->edges[sp->n_edges];
		*e = (struct edge){.id = c->id, .inside = from_inside ? c->from : c->to, .outside = from_inside ? c->to : c->from};
		int err = sp->carried ? GROVE_OK : tt_own_node(sp->from, sp->txn, e->outside, &e->outside_here);
		if (err)
			return err;
		sp->n_edges++;
		return gather_refs(sp, c->binds);
	}
	int err = set_add(&sp->conns, c->id);
	return err ? err : gather_refs(sp, c->binds);
}

static int gather_resource_refs(void *ctx, const struct tree_resource *r)
{
	return gather_refs(ctx, r->props);
}

/* Connections, and every resource the subtree's values refer to, through resources that refer to others. */
static int gather_links(struct split *sp)
{
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < sp->nodes.n; i++) {
		uint64_t id = sp->nodes.ids[i];
		if (set_has(&sp->mounts, id))
			continue; /* its records are in its own group */
		struct conn_check cc = {sp, id};
		err = tree_for_each_connection(sp->from, sp->txn, id, check_connection, &cc);
		if (!err)
			err = tree_for_each_prop(sp->from, sp->txn, id, gather_prop_refs, sp);
	}
	for (size_t i = 0; !err && i < sp->resources.n; i++) {
		err = tree_with_resource(sp->from, sp->txn, sp->resources.ids[i], gather_resource_refs, sp);
		if (err == GROVE_ENOTFOUND)
			err = GROVE_ECORRUPT; /* a value names a resource the group does not hold */
	}
	return err;
}

/* ---- moving ---- */

/*
 * Copy every record of @p tab whose key starts with id @p id (or is exactly it, @p exact) to the new group,
 * and, with @p release, delete it from the source. The records are read out first: the cursor does not
 * walk a table that is being written.
 */
static int move_records(struct split *sp, enum tree_table tab, uint64_t id, bool exact, bool release)
{
	struct tt_cursor *c;
	int err = tt_cursor_open(sp->from, sp->txn, tab, &c);
	if (err)
		return err;
	uint8_t prefix[8];
	put_be64(prefix, id);
	struct grove_buf copy = {0};
	struct store_bytes k, v;
	for (err = tt_seek(c, prefix, sizeof(prefix), &k, &v); err == GROVE_OK; err = tt_next(c, &k, &v)) {
		if (!key_has_id_prefix(&k, id) || (exact && k.len != 8))
			break;
		grove_buf_le32(&copy, (uint32_t)k.len);
		grove_buf_put(&copy, k.data, k.len);
		grove_buf_le32(&copy, (uint32_t)v.len);
		grove_buf_put(&copy, v.data, v.len);
	}
	tt_cursor_close(c);
	if (err == GROVE_ENOTFOUND)
		err = copy.failed ? GROVE_ENOMEM : GROVE_OK;
	for (size_t at = 0; !err && at < copy.len;) {
		uint32_t klen = get_le32(copy.data + at);
		const uint8_t *key = copy.data + at + 4;
		uint32_t vlen = get_le32(key + klen);
		const uint8_t *val = key + klen + 4;
		if (sp->carried) {
			grove_buf_u8(sp->carried, (uint8_t)tab);
			grove_buf_put(sp->carried, copy.data + at, 8 + (size_t)klen + vlen);
			err = sp->carried->failed ? GROVE_ENOMEM : GROVE_OK;
		} else {
			err = tt_put(&sp->to, sp->txn, tab, key, klen, val, vlen);
		}
		if (!err && release)
			err = tt_del(sp->from, sp->txn, tab, key, klen);
		at += 8 + (size_t)klen + vlen;
	}
	grove_buf_free(&copy);
	return err;
}

static int move_node(struct split *sp, uint64_t id)
{
	static const enum tree_table below[] = {TREE_CHILDREN, TREE_ORDER, TREE_PROPS, TREE_GROUPS, TREE_CONNS_BY_NODE,
						TREE_CONNS_ACROSS, TREE_MOUNTS};
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < sizeof(below) / sizeof(below[0]); i++)
		err = move_records(sp, below[i], id, below[i] == TREE_MOUNTS, true);
	/* The root's record stays behind as the mount point that keeps its name and place among its siblings. */
	if (!err)
		err = move_records(sp, TREE_NODES, id, true, id != sp->root);
	if (!err && id != sp->root)
		err = tt_put_id_u64(sp->from, sp->txn, TREE_MOVED, id, sp->to.group);
	return err;
}

static int adjust_count(const struct tree *t, struct store_txn *txn, const char *name, int64_t delta)
{
	uint64_t value;
	int err = tt_meta_get(t, txn, name, strcmp(name, "node_count") == 0 ? 1 : 0, &value);
	return err ? err : tt_meta_put_count(t, txn, name, value + (uint64_t)delta);
}

static int move_all(struct split *sp, const char *root_path)
{
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < sp->nodes.n; i++)
		err = move_node(sp, sp->nodes.ids[i]);
	for (size_t i = 0; !err && i < sp->conns.n; i++)
		err = move_records(sp, TREE_CONNS, sp->conns.ids[i], true, true);
	/*
	 * A connection across the edge: the new group takes it with its inside end (whose index entries and mark
	 * moved with the node); the source keeps it, marked, while it holds the outside end too.
	 */
	for (size_t i = 0; !err && i < sp->n_edges; i++) {
		const struct edge *e = &sp->edges[i];
		err = move_records(sp, TREE_CONNS, e->id, true, !e->outside_here);
		uint8_t key[16];
		if (!err && e->outside_here) {
			id_pair_key(key, e->outside, e->id);
			err = tt_put(sp->from, sp->txn, TREE_CONNS_ACROSS, key, sizeof(key), "", 0);
			id_pair_key(key, e->inside, e->id);
			if (!err)
				err = tt_put(&sp->to, sp->txn, TREE_CONNS_ACROSS, key, sizeof(key), "", 0);
		}
	}
	/* Resources never change once stored: both groups keep the ones the subtree uses. */
	for (size_t i = 0; !err && i < sp->resources.n; i++)
		err = move_records(sp, TREE_RESOURCES, sp->resources.ids[i], true, false);
	int64_t moved = (int64_t)(sp->nodes.n - sp->mounts.n);
	uint64_t block = sp->to.group << TREE_ID_BLOCK_BITS;
	if (!err)
		err = tt_put_id_u64(sp->from, sp->txn, TREE_MOUNTS, sp->root, sp->to.group);
	if (!err)
		err = adjust_count(sp->from, sp->txn, "node_count", -moved);
	if (!err)
		err = adjust_count(sp->from, sp->txn, "mounts", 1 - (int64_t)sp->mounts.n);
	if (!err)
		err = tt_meta_put(&sp->to, sp->txn, "next_id", block);
	if (!err)
		err = tt_meta_put(&sp->to, sp->txn, "id_limit", block + (1ull << TREE_ID_BLOCK_BITS));
	if (!err)
		err = tt_meta_put(&sp->to, sp->txn, "shard_root", sp->root);
	if (!err)
		err = tt_meta_put_text(&sp->to, sp->txn, "shard_path", root_path);
	if (!err)
		err = tt_meta_put(&sp->to, sp->txn, "node_count", (uint64_t)moved);
	if (!err)
		err = tt_meta_put_count(&sp->to, sp->txn, "mounts", sp->mounts.n);
	if (!err) {
		sp->res->nodes = (uint64_t)moved;
		sp->res->resources = sp->resources.n;
	}
	return err;
}

/* ---- the split ---- */

static int check_target(struct split *sp, const char *path, char **root_path)
{
	uint64_t top, group;
	int err = tree_resolve_path(sp->from, sp->txn, path, &sp->root);
	if (err == GROVE_EINVAL)
		return refuse(sp, err, "\"%.200s\" is not a node path like /root/World/Zone", path);
	if (err == GROVE_ENOTFOUND) {
		/* Below a mount point: the subtree is another group's already. */
		char *mount_path = NULL;
		err = mount_above(sp->from, sp->txn, path, &group, &mount_path);
		if (err == GROVE_OK)
			refuse(sp, GROVE_EMOVED, "%.200s is in shard %llu (rooted at %.200s)", path, (unsigned long long)group,
			       mount_path);
		else if (err == GROVE_ENOTFOUND)
			refuse(sp, GROVE_ENOTFOUND, "%.200s: no such node", path);
		else
			fail(sp, err);
		free(mount_path);
		return sp->res->err;
	}
	if (!err)
		err = tree_top(sp->from, sp->txn, &top);
	if (err)
		return fail(sp, err);
	if (sp->root == top && top == TREE_ROOT_ID)
		return refuse(sp, GROVE_EROOT, "/root is the world's root: it cannot be split off");
	if (sp->root == top)
		return refuse(sp, GROVE_EROOT, "%.200s is the root of shard %llu already", path,
			      (unsigned long long)sp->from->group);
	err = tree_mount_of(sp->from, sp->txn, sp->root, &group);
	if (err == GROVE_OK)
		return refuse(sp, GROVE_EEXIST, "%.200s is the root of shard %llu already", path, (unsigned long long)group);
	uint64_t next;
	if (err == GROVE_ENOTFOUND)
		err = tt_meta_get(&sp->to, sp->txn, "next_id", 0, &next);
	if (err)
		return fail(sp, err);
	if (next != 0)
		return refuse(sp, GROVE_EEXIST, "group %llu holds a tree already", (unsigned long long)sp->to.group);
	err = tree_node_path(sp->from, sp->txn, sp->root, root_path);
	return err ? fail(sp, err) : GROVE_OK;
}

int tree_split(const struct tree *from, uint64_t group, struct store_txn *txn, const char *path,
	       struct tree_split_result *res)
{
	memset(res, 0, sizeof(*res));
	struct split sp = {.from = from, .to = *from, .txn = txn, .res = res};
	sp.to.group = group;
	sp.to.view = NULL;
	char *root_path = NULL;
	if (group == from->group || group == 0 || group >= (1ull << (64 - TREE_ID_BLOCK_BITS)))
		return refuse(&sp, GROVE_EINVAL, "group %llu cannot hold a split of group %llu", (unsigned long long)group,
			      (unsigned long long)from->group);
	int err = check_target(&sp, path, &root_path);
	if (err) {
		free(root_path);
		return err;
	}
	res->root = sp.root;
	err = gather_nodes(&sp);
	if (!err)
		err = gather_links(&sp);
	if (!err)
		err = move_all(&sp, root_path);
	if (err && !res->err)
		fail(&sp, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err);
	set_free(&sp.nodes);
	set_free(&sp.mounts);
	set_free(&sp.conns);
	set_free(&sp.resources);
	free(sp.edges);
	free(root_path);
	return res->err;
}

/* ---- carries: a subtree as bytes, for a move across shards ---- */

/* Format byte of carried bytes. */
#define CARRY_FORMAT 1
/* format u8, root u64, old parent u64, node count u64 (little-endian) */
#define CARRY_HEADER (1 + 8 + 8 + 8)

/* A node's own records, its record first, in the order carried_parse() checks them. */
static int carry_node(struct split *sp, uint64_t id)
{
	static const enum tree_table own[] = {TREE_NODES, TREE_CHILDREN, TREE_ORDER, TREE_PROPS, TREE_GROUPS,
					      TREE_CONNS_BY_NODE};
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < sizeof(own) / sizeof(own[0]); i++)
		err = move_records(sp, own[i], id, own[i] == TREE_NODES, false);
	return err;
}

int tree_carry_gather(const struct tree *t, struct store_txn *txn, uint64_t node, struct grove_buf *out,
		      struct tree_split_result *res)
{
	memset(res, 0, sizeof(*res));
	struct split sp = {.from = t, .carried = out, .txn = txn, .res = res, .root = node};
	uint64_t top, group;
	struct node_rec rec = {0};
	int err = tree_top(t, txn, &top);
	if (!err)
		err = node_rec_load(t, txn, node, &rec);
	if (err == GROVE_ENOTFOUND)
		return refuse(&sp, err, "no node with id %llu in shard %llu", (unsigned long long)node,
			      (unsigned long long)t->group);
	if (err)
		return fail(&sp, err);
	uint64_t old_parent = rec.parent;
	node_rec_free(&rec);
	if (node == top)
		return refuse(&sp, GROVE_EROOT, "node %llu is the root of shard %llu: it cannot move to another shard",
			      (unsigned long long)node, (unsigned long long)t->group);
	err = gather_nodes(&sp);
	if (!err && sp.mounts.n > 0) {
		char *inside = NULL;
		tree_node_path(t, txn, sp.mounts.ids[0], &inside);
		err = tree_mount_of(t, txn, sp.mounts.ids[0], &group);
		refuse(&sp, GROVE_ECROSSSHARD, "%s, the root of shard %llu, is inside the subtree: a subtree holding a "
		       "shard's root cannot move to another shard", inside ? inside : "a node",
		       err ? 0ull : (unsigned long long)group);
		free(inside);
	}
	if (!err && !res->err)
		err = gather_links(&sp);
	if (!err && !res->err) {
		grove_buf_u8(out, CARRY_FORMAT);
		grove_buf_le64(out, node);
		grove_buf_le64(out, old_parent);
		grove_buf_le64(out, sp.nodes.n);
		for (size_t i = 0; !err && i < sp.nodes.n; i++)
			err = carry_node(&sp, sp.nodes.ids[i]);
		for (size_t i = 0; !err && i < sp.conns.n; i++)
			err = move_records(&sp, TREE_CONNS, sp.conns.ids[i], true, false);
		for (size_t i = 0; !err && i < sp.n_edges; i++)
			err = move_records(&sp, TREE_CONNS, sp.edges[i].id, true, false);
		for (size_t i = 0; !err && i < sp.resources.n; i++)
			err = move_records(&sp, TREE_RESOURCES, sp.resources.ids[i], true, false);
		if (!err && out->failed)
			err = GROVE_ENOMEM;
	}
	if (err && !res->err)
		fail(&sp, err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err);
	if (!res->err) {
		res->root = node;
		res->nodes = sp.nodes.n;
		res->resources = sp.resources.n;
	}
	set_free(&sp.nodes);
	set_free(&sp.mounts);
	set_free(&sp.conns);
	set_free(&sp.resources);
	free(sp.edges);
	return res->err;
}

int carried_conn_ends(const struct carried_record *r, uint64_t *from, uint64_t *to)
{
	if (r->table != TREE_CONNS || r->val_len < 16)
		return GROVE_ECORRUPT;
	*from = get_be64(r->val);
	*to = get_be64(r->val + 8);
	return GROVE_OK;
}

int carried_parse(const uint8_t *data, size_t len, struct carried *out)
{
	memset(out, 0, sizeof(*out));
	if (!data || len < CARRY_HEADER || data[0] != CARRY_FORMAT)
		return GROVE_ECORRUPT;
	out->root = get_le64(data + 1);
	out->old_parent = get_le64(data + 9);
	out->nodes = get_le64(data + 17);
	out->records = data + CARRY_HEADER;
	out->len = len - CARRY_HEADER;
	/* Every record belongs to one of the carried nodes, each node's record coming before the rest of its own. */
	struct idmap seen = {0};
	uint64_t nodes = 0;
	bool past_nodes = false;
	int err = GROVE_OK;
	for (size_t at = 0; !err && at < out->len;) {
		struct carried_record r;
		err = carried_next(out, &at, &r);
		if (err)
			break;
		uint64_t id = get_be64(r.key);
		bool exact = r.table == TREE_NODES || r.table == TREE_CONNS || r.table == TREE_RESOURCES;
		if (exact != (r.key_len == 8) || (r.table == TREE_NODES ? (nodes == 0) != (id == out->root) ||
						  idmap_get(&seen, 0, id) != NULL
						: !exact && !idmap_get(&seen, 0, id))) {
			err = GROVE_ECORRUPT;
			break;
		}
		uint64_t from, to;
		past_nodes |= r.table == TREE_CONNS || r.table == TREE_RESOURCES;
		if (r.table == TREE_NODES && past_nodes) {
			err = GROVE_ECORRUPT; /* every node before the connections: which are within the subtree is known */
		} else if (r.table == TREE_NODES) {
			nodes++;
			err = idmap_put(&seen, 0, id, (void *)1);
		} else if (r.table == TREE_CONNS && (carried_conn_ends(&r, &from, &to) != GROVE_OK ||
						     (!idmap_get(&seen, 0, from) && !idmap_get(&seen, 0, to)))) {
			err = GROVE_ECORRUPT; /* a connection comes after its carried end */
		}
	}
	idmap_free(&seen);
	if (!err && (nodes != out->nodes || nodes == 0))
		err = GROVE_ECORRUPT;
	return err;
}

int carried_next(const struct carried *c, size_t *at, struct carried_record *r)
{
	static const bool carried_table[TREE_TABLE_COUNT] = {
		[TREE_NODES] = true, [TREE_CHILDREN] = true, [TREE_ORDER] = true, [TREE_PROPS] = true,
		[TREE_GROUPS] = true, [TREE_CONNS] = true, [TREE_CONNS_BY_NODE] = true, [TREE_RESOURCES] = true};
	size_t left = c->len - *at;
	const uint8_t *p = c->records + *at;
	if (left < 1 + 4 || p[0] >= TREE_TABLE_COUNT || !carried_table[p[0]])
		return GROVE_ECORRUPT;
	r->table = (enum tree_table)p[0];
	r->key_len = get_le32(p + 1);
	if (r->key_len < 8 || r->key_len > STORE_KEY_MAX - 8 || left - 5 < (size_t)r->key_len + 4)
		return GROVE_ECORRUPT;
	r->key = p + 5;
	r->val_len = get_le32(r->key + r->key_len);
	if (left - 9 - r->key_len < r->val_len)
		return GROVE_ECORRUPT;
	r->val = r->key + r->key_len + 4;
	*at += 9 + (size_t)r->key_len + r->val_len;
	return GROVE_OK;
}

int tree_carried_edges(const uint8_t *data, size_t len, int (*fn)(void *ctx, uint64_t inside, uint64_t outside),
		       void *ctx)
{
	struct carried c;
	int err = carried_parse(data, len, &c);
	struct idmap nodes = {0};
	struct carried_record r;
	for (size_t at = 0; !err && at < c.len;) {
		uint64_t from, to;
		if ((err = carried_next(&c, &at, &r)) != GROVE_OK)
			break;
		if (r.table == TREE_NODES) {
			err = idmap_put(&nodes, 0, get_be64(r.key), (void *)1);
		} else if (r.table == TREE_CONNS && !(err = carried_conn_ends(&r, &from, &to))) {
			bool from_inside = idmap_get(&nodes, 0, from) != NULL, to_inside = idmap_get(&nodes, 0, to) != NULL;
			if (from_inside != to_inside)
				err = fn(ctx, from_inside ? from : to, from_inside ? to : from);
		}
	}
	idmap_free(&nodes);
	return err;
}
