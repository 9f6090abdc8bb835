/* The read side of the scene tree: lookups, paths and ordered iteration. */
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/tree/records.h"
#include "src/tree/tree.h"

/* ---- views across groups ---- */

uint64_t tree_id_birth_group(uint64_t id, uint64_t world)
{
	uint64_t block = id >> TREE_ID_BLOCK_BITS;
	return block == 0 ? world : block;
}

static int by_group(const void *a, const void *b)
{
	uint64_t x = ((const struct tree *)a)->group, y = ((const struct tree *)b)->group;
	return x < y ? -1 : x > y;
}

int tree_view_init(struct tree_view *v, const struct tree *const *groups, size_t n, uint64_t world_group)
{
	memset(v, 0, sizeof(*v));
	v->trees = calloc(n ? n : 1, sizeof(*v->trees));
	if (!v->trees)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v->trees[i] = *groups[i];
		v->trees[i].view = v;
	}
	qsort(v->trees, n, sizeof(*v->trees), by_group);
	v->n = n;
	v->world_group = world_group;
	return GROVE_OK;
}

void tree_view_free(struct tree_view *v)
{
	free(v->trees);
	memset(v, 0, sizeof(*v));
}

const struct tree *tree_view_group(const struct tree_view *v, uint64_t group)
{
	struct tree key = {.group = group};
	return v ? bsearch(&key, v->trees, v->n, sizeof(*v->trees), by_group) : NULL;
}

/*
 * The tree that holds node @p id's own records: @p t itself, unless @p t belongs to a view; then the group
 * the id was born in, following moved ids and mount points from there (each split leaves one of them behind).
 * NULL when they lead to a group this view lacks, or through a mount point to a group that does not hold its
 * root yet (a member whose new group waits for its first snapshot): a mount point is not the node, and reading
 * it as the node would give it without its records. Readers answer NULL with GROVE_EMOVED (retry). A moved id
 * that its group no longer holds was deleted there: the read fails as it would without a view.
 */
static const struct tree *holder(const struct tree *t, struct store_txn *txn, uint64_t id)
{
	struct tree_view *v = t->view;
	if (!v)
		return t;
	if (v->cached && v->cached_id == id)
		return v->cached;
	const struct tree *cur = tree_view_group(v, tree_id_birth_group(id, v->world_group));
	uint8_t key[8];
	put_be64(key, id);
	int hops;
	bool via_mount = false;
	for (hops = 0; cur && hops < 64; hops++) {
		uint64_t group;
		int err = tt_get(cur, txn, TREE_NODES, key, sizeof(key), NULL);
		if (err == GROVE_OK && tt_get_id_u64(cur, txn, TREE_MOUNTS, id, &group) != GROVE_OK) {
			v->cached_id = id;
			v->cached = cur;
			return cur;
		}
		if (err == GROVE_ENOTFOUND && tt_get_id_u64(cur, txn, TREE_MOVED, id, &group) != GROVE_OK)
			return via_mount ? NULL : t; /* never made, or deleted: the read fails as without a view */
		if (err && err != GROVE_ENOTFOUND)
			return t;
		via_mount = err == GROVE_OK;
		cur = tree_view_group(v, group);
	}
	/* Not even its birth group is here: the read fails as without a view; a group it moved to is not yet. */
	return hops == 0 ? t : NULL;
}

int tree_view_locate(struct tree_view *v, struct store_txn *txn, uint64_t id, uint64_t *group)
{
	const struct tree *start = tree_view_group(v, v->world_group);
	if (!start)
		return GROVE_ENOTFOUND;
	const struct tree *t = holder(start, txn, id);
	if (!t)
		return GROVE_EMOVED;
	uint8_t key[8];
	put_be64(key, id);
	int err = tt_get(t, txn, TREE_NODES, key, sizeof(key), NULL);
	if (!err)
		*group = t->group;
	return err;
}

void tree_node_free(struct tree_node *n)
{
	free(n->name);
	free(n->class_name);
	free(n->instance);
	memset(n, 0, sizeof(*n));
}

int tree_get_node(const struct tree *t, struct store_txn *txn, uint64_t id, struct tree_node *out)
{
	memset(out, 0, sizeof(*out));
	t = holder(t, txn, id);
	if (!t)
		return GROVE_EMOVED;
	struct node_rec rec;
	int err = node_rec_load(t, txn, id, &rec);
	if (err)
		return err;
	out->id = id;
	out->parent = rec.parent;
	out->name = rec.name;
	out->class_name = rec.class_name;
	if (rec.instance[0]) {
		out->instance = rec.instance;
	} else {
		free(rec.instance);
	}
	return GROVE_OK;
}

bool tree_utf8_valid(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int more = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
		if (more < 0 || (more == 1 && *p < 0xc2))
			return false; /* a stray continuation byte, a 5- or 6-byte form, or an overlong 2-byte one */
		uint32_t cp = more ? *p & (0x3f >> more) : *p;
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p & 0x3f);
		}
		if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
			return false; /* overlong, beyond Unicode, or a surrogate */
	}
	return true;
}

bool tree_name_valid(const char *name)
{
	size_t n = strlen(name);
	/* Godot 3 accepts dots in names ("wall.002", as 3D exporters write them); alone they would be paths. */
	if (n == 0 || n > TREE_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	/*
	 * '@' and '%' are allowed: Godot's scene loader gives a node its name unchecked, and real projects' scenes
	 * hold names such as "@@4" (an editor-generated name Godot 4 saved) and "100%" (valid in Godot 3).
	 * ':', '/' and '"' would make the name part of a path, a property or a quoted attribute.
	 */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || strchr(":/\"", *p))
			return false;
	}
	return tree_utf8_valid(name);
}

/* Resolve the names of @p p (a path's rest after its start) one by one from node @p cur of @p t. */
static int resolve_below(const struct tree *t, struct store_txn *txn, uint64_t cur, const char *p, uint64_t *id,
			 tree_step_fn step, void *ctx)
{
	uint8_t key[8 + TREE_NAME_MAX + 1];
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > TREE_NAME_MAX)
			return GROVE_ENOTFOUND;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return GROVE_EINVAL;
		if (t->view) {
			/* The children of a mount point are in the group whose shard it roots. */
			uint64_t group;
			for (int hops = 0; hops < 64 && tt_get_id_u64(t, txn, TREE_MOUNTS, cur, &group) == GROVE_OK; hops++) {
				const struct tree *next = tree_view_group(t->view, group);
				if (!next)
					return GROVE_ENOTFOUND;
				t = next;
			}
		}
		put_be64(key, cur);
		memcpy(key + 8, p, n);
		struct store_bytes v;
		int err = tt_get(t, txn, TREE_CHILDREN, key, 8 + n, &v);
		if (err)
			return err;
		if (v.len != 8)
			return GROVE_ECORRUPT;
		cur = get_be64(v.data);
		if (step && (err = step(ctx, cur, p, n)) != GROVE_OK)
			return err;
		p += n;
	}
	*id = cur;
	return GROVE_OK;
}

/* Whether @p path, read as tree_resolve_path() reads paths (repeated slashes), is @p root or below it; where its rest starts. */
static bool path_below(const char *path, const char *root, const char **rest)
{
	const char *p = path, *r = root;
	while (*r) {
		if (*p != *r)
			return false;
		if (*p == '/')
			while (p[1] == '/')
				p++;
		p++, r++;
	}
	if (*p != '\0' && *p != '/')
		return false;
	*rest = p;
	return true;
}

int tree_resolve_path(const struct tree *t, struct store_txn *txn, const char *path, uint64_t *id)
{
	return tree_resolve_path_steps(t, txn, path, id, NULL, NULL);
}

int tree_resolve_path_steps(const struct tree *t, struct store_txn *txn, const char *path, uint64_t *id,
			    tree_step_fn step, void *ctx)
{
	if (path[0] != '/')
		return GROVE_EINVAL;
	if (t->view) {
		const struct tree *world = tree_view_group(t->view, t->view->world_group);
		t = world ? world : t;
	}
	char *shard_path = NULL;
	uint64_t top = TREE_ROOT_ID;
	int err = t->view ? GROVE_OK : tt_meta_get_text(t, txn, "shard_path", &shard_path);
	if (!err && shard_path)
		err = tree_top(t, txn, &top);
	const char *rest;
	if (!err && !path_below(path, shard_path ? shard_path : "/root", &rest))
		err = GROVE_ENOTFOUND;
	free(shard_path);
	if (!err && step)
		err = step(ctx, top, path, (size_t)(rest - path));
	return err ? err : resolve_below(t, txn, top, rest, id, step, ctx);
}

int tree_node_path(const struct tree *t, struct store_txn *txn, uint64_t id, char **out)
{
	*out = NULL;
	t = holder(t, txn, id);
	if (!t)
		return GROVE_EMOVED;
	/* Collect names leaf-to-top, then join them in reverse; iterative so
	 * that a 10,000-level tree needs no deep recursion. A shard's names
	 * hang below the path its root has in the world. */
	uint64_t top;
	char *shard_path = NULL;
	int err = tree_top(t, txn, &top);
	if (!err && top != TREE_ROOT_ID)
		err = tt_meta_get_text(t, txn, "shard_path", &shard_path);
	if (err)
		return err;
	const char *slash = shard_path ? strrchr(shard_path, '/') : NULL;
	size_t prefix = slash ? (size_t)(slash - shard_path) : 0;
	size_t count = 0, cap = 16, total = prefix;
	char **names = malloc(cap * sizeof(*names));
	if (!names) {
		free(shard_path);
		return GROVE_ENOMEM;
	}
	uint64_t cur = id;
	for (;;) {
		struct node_rec rec;
		err = node_rec_load(t, txn, cur, &rec);
		if (err)
			break;
		if (grove_grow((void **)&names, &cap, count, sizeof(*names))) {
			node_rec_free(&rec);
			err = GROVE_ENOMEM;
			break;
		}
		names[count++] = rec.name;
		total += strlen(rec.name) + 1;
		rec.name = NULL;
		uint64_t parent = rec.parent;
		node_rec_free(&rec);
		if (cur == top)
			break;
		if (parent == 0 || count > (1u << 24)) {
			err = GROVE_ECORRUPT;
			break;
		}
		cur = parent;
	}
	if (!err) {
		char *path = malloc(total + 1);
		if (!path) {
			err = GROVE_ENOMEM;
		} else {
			memcpy(path, shard_path ? shard_path : "", prefix);
			char *w = path + prefix;
			for (size_t i = count; i-- > 0;) {
				*w++ = '/';
				size_t n = strlen(names[i]);
				memcpy(w, names[i], n);
				w += n;
			}
			*w = '\0';
			*out = path;
		}
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(shard_path);
	return err;
}

/* The children of @p parent through @p c, a cursor over the order table of the tree that holds it. */
static int children_with(struct tt_cursor *c, uint64_t parent, int (*fn)(void *ctx, uint64_t child), void *ctx)
{
	uint8_t key[8];
	put_be64(key, parent);
	struct store_bytes k, v;
	int err;
	for (err = tt_seek(c, key, sizeof(key), &k, &v); err == GROVE_OK;
	     err = tt_next(c, &k, &v)) {
		if (!key_has_id_prefix(&k, parent))
			break;
		if (v.len != 8)
			return GROVE_ECORRUPT;
		int stop = fn(ctx, get_be64(v.data));
		if (stop)
			return stop;
	}
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int count_child(void *ctx, uint64_t child)
{
	(void)child;
	(*(uint64_t *)ctx)++;
	return 0;
}

int tree_child_count(const struct tree *t, struct store_txn *txn, uint64_t parent, uint64_t *count)
{
	*count = 0;
	return tree_for_each_child(t, txn, parent, count_child, count);
}

int tree_get_prop(const struct tree *t, struct store_txn *txn, uint64_t id, const char *name, struct variant *value)
{
	t = holder(t, txn, id);
	variant_set_nil(value);
	if (!t)
		return GROVE_EMOVED;
	if (strlen(name) > TREE_NAME_MAX)
		return GROVE_ENOTFOUND;
	uint8_t key[8 + TREE_NAME_MAX];
	size_t klen = id_name_key(key, id, name);
	struct store_bytes v;
	int err = tt_get(t, txn, TREE_PROPS, key, klen, &v);
	if (err)
		return err;
	if (v.len < 4)
		return GROVE_ECORRUPT;
	size_t used;
	err = variant_decode(value, (const uint8_t *)v.data + 4, v.len - 4, &used);
	if (err)
		return err == GROVE_ENOMEM ? err : GROVE_ECORRUPT;
	if (used != v.len - 4) {
		variant_free(value);
		return GROVE_ECORRUPT;
	}
	return GROVE_OK;
}

/* One named entry (property or group) of a node, for sorting by sequence. */
struct seq_entry {
	uint32_t seq;               /* insertion sequence */
	size_t name;                /* offset of its NUL-terminated name in the scratch's names */
	struct store_bytes payload; /* borrowed: the stored value after the seq */
};

/* What reading a node's entries needs, kept from one node to the next by a reader. */
struct seq_scratch {
	struct seq_entry *items;
	size_t cap;
	struct grove_buf names;
};

static void seq_scratch_free(struct seq_scratch *s)
{
	free(s->items);
	grove_buf_free(&s->names);
	memset(s, 0, sizeof(*s));
}

static int seq_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct seq_entry *)a)->seq, y = ((const struct seq_entry *)b)->seq;
	return x < y ? -1 : x > y;
}

/*
 * Read every "id + name -> seq + payload" entry of node @p id through @p c (a cursor over the props or
 * groups table of the tree that holds the node) into @p s, sorted by seq. Payloads stay valid because
 * nothing writes meanwhile.
 */
static int load_seq_entries(struct tt_cursor *c, uint64_t id, struct seq_scratch *s, size_t *count)
{
	size_t n = 0;
	*count = 0;
	s->names.len = 0;
	uint8_t key[8];
	put_be64(key, id);
	struct store_bytes k, v;
	int err;
	for (err = tt_seek(c, key, sizeof(key), &k, &v); err == GROVE_OK;
	     err = tt_next(c, &k, &v)) {
		if (!key_has_id_prefix(&k, id))
			break;
		if (v.len < 4)
			return GROVE_ECORRUPT;
		if (grove_grow((void **)&s->items, &s->cap, n, sizeof(*s->items)))
			return GROVE_ENOMEM;
		s->items[n].seq = get_be32(v.data);
		s->items[n].name = s->names.len;
		s->items[n].payload.data = (const uint8_t *)v.data + 4;
		s->items[n].payload.len = v.len - 4;
		grove_buf_put(&s->names, (const uint8_t *)k.data + 8, k.len - 8);
		grove_buf_u8(&s->names, 0);
		n++;
	}
	if (err != GROVE_ENOTFOUND && err != GROVE_OK)
		return err;
	if (s->names.failed)
		return GROVE_ENOMEM;
	if (n > 1)
		qsort(s->items, n, sizeof(*s->items), seq_cmp);
	*count = n;
	return GROVE_OK;
}

static const char *seq_name(const struct seq_scratch *s, size_t i)
{
	return (const char *)s->names.data + s->items[i].name;
}

/* Node @p id's properties in the order they were first set; @p fn may take each value (leave it NIL). */
static int props_with(struct tt_cursor *c, struct seq_scratch *s, uint64_t id,
		      int (*fn)(void *ctx, const char *name, struct variant *value), void *ctx)
{
	size_t n;
	int err = load_seq_entries(c, id, s, &n);
	for (size_t i = 0; i < n && !err; i++) {
		struct variant value;
		size_t used;
		err = variant_decode(&value, s->items[i].payload.data, s->items[i].payload.len, &used);
		if (err)
			return err == GROVE_ENOMEM ? err : GROVE_ECORRUPT;
		if (used != s->items[i].payload.len)
			err = GROVE_ECORRUPT;
		else
			err = fn(ctx, seq_name(s, i), &value);
		variant_free(&value);
	}
	return err;
}

static int groups_with(struct tt_cursor *c, struct seq_scratch *s, uint64_t id, int (*fn)(void *ctx, const char *group),
		       void *ctx)
{
	size_t n;
	int err = load_seq_entries(c, id, s, &n);
	for (size_t i = 0; i < n && !err; i++)
		err = fn(ctx, seq_name(s, i));
	return err;
}

/* Node @p id's connections through @p cur, a cursor over the conns_by_node table of @p t, which holds the node. */
static int connections_with(const struct tree *t, struct store_txn *txn, struct tt_cursor *cur, uint64_t id,
			    int (*fn)(void *ctx, const struct tree_connection *c), void *ctx)
{
	uint8_t key[8];
	put_be64(key, id);
	struct store_bytes k, v;
	int err;
	for (err = tt_seek(cur, key, sizeof(key), &k, &v); err == GROVE_OK;
	     err = tt_next(cur, &k, &v)) {
		if (!key_has_id_prefix(&k, id))
			break;
		if (k.len != 16)
			return GROVE_ECORRUPT;
		uint64_t conn_id = get_be64((const uint8_t *)k.data + 8);
		struct conn_rec rec;
		err = conn_rec_load(t, txn, conn_id, &rec);
		if (err)
			return err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
		struct tree_connection view = {
			.id = conn_id,
			.from = rec.from,
			.to = rec.to,
			.signal = rec.signal,
			.method = rec.method,
			.flags = rec.flags,
			.binds = &rec.binds,
		};
		err = fn(ctx, &view);
		conn_rec_free(&rec);
		if (err)
			return err;
	}
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

int tree_for_each_across(const struct tree *t, struct store_txn *txn, uint64_t of,
			 int (*fn)(void *ctx, uint64_t node, const struct tree_connection *c), void *ctx)
{
	struct tt_cursor *cur;
	int err = tt_cursor_open(t, txn, TREE_CONNS_ACROSS, &cur);
	if (err)
		return err;
	uint8_t prefix[8];
	put_be64(prefix, of);
	struct store_bytes k;
	for (err = tt_seek(cur, of ? prefix : NULL, of ? sizeof(prefix) : 0, &k, NULL); err == GROVE_OK;
	     err = tt_next(cur, &k, NULL)) {
		if (of && !key_has_id_prefix(&k, of))
			break;
		if (k.len != 16) {
			err = GROVE_ECORRUPT;
			break;
		}
		uint64_t node = get_be64(k.data), conn_id = get_be64((const uint8_t *)k.data + 8);
		struct conn_rec rec;
		err = conn_rec_load(t, txn, conn_id, &rec);
		if (err) {
			err = err == GROVE_ENOTFOUND ? GROVE_ECORRUPT : err;
			break;
		}
		struct tree_connection view = {.id = conn_id, .from = rec.from, .to = rec.to, .signal = rec.signal,
					       .method = rec.method, .flags = rec.flags, .binds = &rec.binds};
		err = fn(ctx, node, &view);
		conn_rec_free(&rec);
		if (err)
			break;
	}
	tt_cursor_close(cur);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}

static int stop_at_first(void *ctx, uint64_t node, const struct tree_connection *c)
{
	(void)ctx, (void)node, (void)c;
	return 1;
}

bool tree_has_across(const struct tree *t, struct store_txn *txn)
{
	return tree_for_each_across(t, txn, 0, stop_at_first, NULL) != GROVE_OK; /* found, or it could not tell */
}

/* ---- readers: the per-node reads, with cursors and scratch kept from one node to the next ---- */

struct tree_reader {
	const struct tree *t;                      /* as given: maybe through a view */
	struct store_txn *txn;
	const struct tree *at;                     /* the tree the cursors read; NULL before the first read */
	struct tt_cursor *cursors[TREE_TABLE_COUNT]; /* opened on first use */
	struct seq_scratch scratch;
	struct grove_buf node;                     /* the last node's strings, NUL-terminated */
};

int tree_reader_open(const struct tree *t, struct store_txn *txn, struct tree_reader **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return GROVE_ENOMEM;
	(*out)->t = t;
	(*out)->txn = txn;
	return GROVE_OK;
}

static void reader_close_cursors(struct tree_reader *r)
{
	for (int i = 0; i < TREE_TABLE_COUNT; i++) {
		tt_cursor_close(r->cursors[i]);
		r->cursors[i] = NULL;
	}
}

/* Release what a reader holds, but not the reader. */
static void reader_release(struct tree_reader *r)
{
	reader_close_cursors(r);
	seq_scratch_free(&r->scratch);
	grove_buf_free(&r->node);
}

void tree_reader_close(struct tree_reader *r)
{
	if (!r)
		return;
	reader_release(r);
	free(r);
}

/* A cursor over @p table of the tree that holds node @p id (through a view, cursors follow the node's group). */
static int reader_cursor(struct tree_reader *r, uint64_t id, enum tree_table table, struct tt_cursor **out)
{
	const struct tree *t = holder(r->t, r->txn, id);
	if (!t)
		return GROVE_EMOVED;
	if (t != r->at) {
		reader_close_cursors(r);
		r->at = t;
	}
	if (!r->cursors[table]) {
		int err = tt_cursor_open(t, r->txn, table, &r->cursors[table]);
		if (err)
			return err;
	}
	*out = r->cursors[table];
	return GROVE_OK;
}

/* Append a stored string to the node buffer with its NUL; its offset. */
static size_t node_str(struct tree_reader *r, struct rec_reader *rec)
{
	uint32_t len;
	const char *s = rec_str(rec, &len);
	size_t at = r->node.len;
	if (s)
		grove_buf_put(&r->node, s, len);
	grove_buf_u8(&r->node, 0);
	return at;
}

int tree_reader_node(struct tree_reader *r, uint64_t id, struct tree_node_view *out)
{
	struct tt_cursor *c;
	int err = reader_cursor(r, id, TREE_NODES, &c);
	if (err)
		return err;
	uint8_t key[8];
	put_be64(key, id);
	struct store_bytes k, v;
	err = tt_seek(c, key, sizeof(key), &k, &v);
	if (err)
		return err;
	if (k.len != 8 || memcmp(k.data, key, 8) != 0)
		return GROVE_ENOTFOUND;
	struct rec_reader rec = {.p = v.data, .end = (const uint8_t *)v.data + v.len};
	out->id = id;
	out->parent = rec_u64(&rec);
	rec_u64(&rec); /* order */
	rec_u32(&rec); /* next_seq */
	r->node.len = 0;
	size_t name = node_str(r, &rec), class_name = node_str(r, &rec), instance = node_str(r, &rec);
	if (rec.bad || rec.p != rec.end)
		return GROVE_ECORRUPT;
	if (r->node.failed)
		return GROVE_ENOMEM;
	out->name = (const char *)r->node.data + name;
	out->class_name = (const char *)r->node.data + class_name;
	out->instance = (const char *)r->node.data + instance;
	return GROVE_OK;
}

int tree_reader_children(struct tree_reader *r, uint64_t parent, int (*fn)(void *ctx, uint64_t child), void *ctx)
{
	struct tt_cursor *c;
	int err = reader_cursor(r, parent, TREE_ORDER, &c);
	return err ? err : children_with(c, parent, fn, ctx);
}

int tree_reader_props(struct tree_reader *r, uint64_t id, int (*fn)(void *ctx, const char *name, struct variant *value),
		      void *ctx)
{
	struct tt_cursor *c;
	int err = reader_cursor(r, id, TREE_PROPS, &c);
	return err ? err : props_with(c, &r->scratch, id, fn, ctx);
}

int tree_reader_groups(struct tree_reader *r, uint64_t id, int (*fn)(void *ctx, const char *group), void *ctx)
{
	struct tt_cursor *c;
	int err = reader_cursor(r, id, TREE_GROUPS, &c);
	return err ? err : groups_with(c, &r->scratch, id, fn, ctx);
}

int tree_reader_connections(struct tree_reader *r, uint64_t id, int (*fn)(void *ctx, const struct tree_connection *c),
			    void *ctx)
{
	struct tt_cursor *c;
	int err = reader_cursor(r, id, TREE_CONNS_BY_NODE, &c);
	return err ? err : connections_with(r->at, r->txn, c, id, fn, ctx);
}

/* ---- the same reads, one node at a time: through a reader that lives for the call ---- */

/* The const view of a property that tree_for_each_prop() hands on. */
struct const_props {
	int (*fn)(void *ctx, const char *name, const struct variant *value);
	void *ctx;
};

static int hand_on_prop(void *ctx, const char *name, struct variant *value)
{
	const struct const_props *p = ctx;
	return p->fn(p->ctx, name, value);
}

int tree_for_each_child(const struct tree *t, struct store_txn *txn, uint64_t parent, int (*fn)(void *ctx, uint64_t child), void *ctx)
{
	struct tree_reader r = {.t = t, .txn = txn};
	int err = tree_reader_children(&r, parent, fn, ctx);
	reader_release(&r);
	return err;
}

int tree_for_each_prop(const struct tree *t, struct store_txn *txn, uint64_t id,
		       int (*fn)(void *ctx, const char *name, const struct variant *value), void *ctx)
{
	struct tree_reader r = {.t = t, .txn = txn};
	struct const_props p = {fn, ctx};
	int err = tree_reader_props(&r, id, hand_on_prop, &p);
	reader_release(&r);
	return err;
}

int tree_for_each_group(const struct tree *t, struct store_txn *txn, uint64_t id, int (*fn)(void *ctx, const char *group), void *ctx)
{
	struct tree_reader r = {.t = t, .txn = txn};
	int err = tree_reader_groups(&r, id, fn, ctx);
	reader_release(&r);
	return err;
}

int tree_for_each_connection(const struct tree *t, struct store_txn *txn, uint64_t id,
			     int (*fn)(void *ctx, const struct tree_connection *c), void *ctx)
{
	struct tree_reader r = {.t = t, .txn = txn};
	int err = tree_reader_connections(&r, id, fn, ctx);
	reader_release(&r);
	return err;
}

int tree_with_resource(const struct tree *t, struct store_txn *txn, uint64_t id, int (*fn)(void *ctx, const struct tree_resource *r),
		       void *ctx)
{
	/* Resources are copied, never moved, by splits: the group that made one holds it. */
	const struct tree *maker = t->view ? tree_view_group(t->view, tree_id_birth_group(id, t->view->world_group)) : NULL;
	if (maker)
		t = maker;
	struct resource_rec rec;
	int err = resource_rec_load(t, txn, id, &rec);
	if (err)
		return err;
	struct tree_resource view = {
		.id = id,
		.kind = (enum tree_resource_kind)rec.kind,
		.type = rec.type,
		.path = rec.path,
		.uid = rec.uid,
		.local_id = rec.local_id,
		.props = &rec.props,
	};
	err = fn(ctx, &view);
	resource_rec_free(&rec);
	return err;
}

/* Whether the group's part of @p table has any key starting with @p id (every key when @p id is 0). */
static bool has_records(const struct tree *t, struct store_txn *txn, enum tree_table table, uint64_t id)
{
	struct tt_cursor *c;
	if (tt_cursor_open(t, txn, table, &c) != GROVE_OK)
		return true;
	uint8_t key[8];
	put_be64(key, id);
	struct store_bytes k;
	int err = tt_seek(c, key, id ? sizeof(key) : 0, &k, NULL);
	bool found = err != GROVE_ENOTFOUND && (err || !id || key_has_id_prefix(&k, id));
	tt_cursor_close(c);
	return found;
}

bool tree_is_empty(const struct tree *t, struct store_txn *txn)
{
	/* Ids are never reused, so a counter that never moved means nothing was ever created. */
	uint64_t next;
	if (tt_meta_get(t, txn, "next_id", 0, &next) || next > TREE_ROOT_ID + 1)
		return false;
	return !has_records(t, txn, TREE_PROPS, TREE_ROOT_ID) && !has_records(t, txn, TREE_GROUPS, TREE_ROOT_ID) &&
	       !has_records(t, txn, TREE_CONNS, 0) && !has_records(t, txn, TREE_RESOURCES, 0);
}

int tree_node_count(const struct tree *t, struct store_txn *txn, uint64_t *count)
{
	return tt_meta_get(t, txn, "node_count", 1, count);
}

int tree_shard_root(const struct tree *t, struct store_txn *txn, uint64_t *root, char **path)
{
	int err = tree_top(t, txn, root);
	if (err || !path)
		return err;
	err = tt_meta_get_text(t, txn, "shard_path", path);
	if (!err && !*path && !(*path = strdup("/root")))
		err = GROVE_ENOMEM;
	return err;
}

int tree_mount_of(const struct tree *t, struct store_txn *txn, uint64_t id, uint64_t *group)
{
	return tt_get_id_u64(t, txn, TREE_MOUNTS, id, group);
}

int tree_moved_to(const struct tree *t, struct store_txn *txn, uint64_t id, uint64_t *group)
{
	return tt_get_id_u64(t, txn, TREE_MOVED, id, group);
}

struct mount_search {
	const struct tree *t;
	struct store_txn *txn;
	const char *path;
	uint64_t group;
	char *mount_path; /* owned */
};

static int mount_is_above(void *ctx, uint64_t id, uint64_t group)
{
	struct mount_search *s = ctx;
	char *path;
	int err = tree_node_path(s->t, s->txn, id, &path);
	if (err)
		return err;
	size_t n = strlen(path);
	if (strncmp(s->path, path, n) == 0 && (s->path[n] == '\0' || s->path[n] == '/')) {
		s->group = group;
		s->mount_path = path;
		return 1;
	}
	free(path);
	return 0;
}

int mount_above(const struct tree *t, struct store_txn *txn, const char *path, uint64_t *group, char **mount_path)
{
	struct mount_search s = {.t = t, .txn = txn, .path = path};
	int err = tree_for_each_mount(t, txn, mount_is_above, &s);
	*group = s.group;
	*mount_path = s.mount_path;
	return err == 1 ? GROVE_OK : err ? err : GROVE_ENOTFOUND;
}

int tree_for_each_mount(const struct tree *t, struct store_txn *txn, int (*fn)(void *ctx, uint64_t id, uint64_t group),
			void *ctx)
{
	struct tt_cursor *c;
	int err = tt_cursor_open(t, txn, TREE_MOUNTS, &c);
	if (err)
		return err;
	struct store_bytes k, v;
	for (err = tt_seek(c, NULL, 0, &k, &v); err == GROVE_OK; err = tt_next(c, &k, &v)) {
		if (k.len != 8 || v.len != 8) {
			err = GROVE_ECORRUPT;
			break;
		}
		err = fn(ctx, get_be64(k.data), get_be64(v.data));
		if (err)
			break;
	}
	tt_cursor_close(c);
	return err == GROVE_ENOTFOUND ? GROVE_OK : err;
}
