/* Export: a stored subtree becomes a .tscn scene model. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "godot/scene.h"
#include "godot/scn.h"
#include "godot/strmap.h"
#include "godot/variant_text.h"
#include "src/common/arena.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"

/* One node of the exported subtree, in pre-order; its strings are in the exporter's arena. */
struct export_node {
	uint64_t id;            /* stored id */
	size_t parent;          /* index of the parent in the node list; SIZE_MAX for the scene root */
	const char *name;       /* its name */
	const char *class_name; /* its class, "" for a node of an instanced scene */
	const char *instance;   /* its instanced scene's path, or NULL */
	size_t relpath_len;     /* strlen(relpath), known before relpath is made */
	const char *relpath;    /* path relative to the scene root: "." for the root, "A/B" below */
	bool sectionless;       /* a node of an instanced scene that the file does not declare */
};

/* One resource the scene needs. */
struct export_resource {
	uint64_t id;           /* stored id; 0 for an ext_resource synthesized from an instance path */
	bool ext;              /* ext_resource or sub_resource */
	char *synth_path;      /* the instance path of a synthesized ext_resource */
	size_t section;        /* its section index once placed */
};

struct exporter {
	const struct tree *t;
	struct store_txn *txn;
	int godot_major;
	struct tscn_scene *scene;
	struct tree_reader *reader;        /* every per-node read goes through it */
	struct arena *strings;             /* the node list's strings: the scene's arena, which its attributes borrow */
	struct export_node *nodes;
	size_t n_nodes, nodes_cap;
	struct idmap node_index;           /* id -> index in nodes + 1, made at the first connection */
	bool nodes_indexed;                /* node_index holds every node */
	struct export_resource *res;
	size_t n_res, res_cap;
	struct strmap res_index;           /* decimal id -> index in res */
	char *message;
	size_t message_cap;
	size_t refs_noted;                 /* resource references note_refs() has seen */
	size_t node_sections;              /* the nodes' sections, built first (build_nodes()) */
	enum scene_ids_mode ids_mode;      /* how the scene says which node is which (scene.h) */
	struct scene_ids *ids;             /* the ids beside the scene */
	size_t max_bytes;                  /* largest scene allowed; 0: no limit */
	/*
	 * The properties of the node being built, as read: its section takes them at once, in a list of their
	 * size (a list that grew by doubling would leave the smaller ones behind in the arena, for every node).
	 */
	struct grove_buf prop_names;       /* NUL-terminated, one after the other */
	struct kept_prop {
		size_t name_at;            /* in prop_names */
		struct variant value;      /* owned until the section takes it */
	} *props;
	size_t n_props, props_cap;
};

__attribute__((format(printf, 3, 4))) static int export_error(struct exporter *e, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, e->message_cap, fmt, ap);
	va_end(ap);
	return err;
}

static void id_key(char buf[24], uint64_t id)
{
	snprintf(buf, 24, "%" PRIu64, id);
}

/* ---- walking the subtree ---- */

struct child_list {
	uint64_t *ids;
	size_t n, cap;
	int err;
};

static int collect_child(void *ctx, uint64_t child)
{
	struct child_list *l = ctx;
	if (grove_grow((void **)&l->ids, &l->cap, l->n, sizeof(*l->ids)))
		return l->err = GROVE_ENOMEM;
	l->ids[l->n++] = child;
	return 0;
}

static int add_node(struct exporter *e, const struct tree_node_view *n, size_t parent, size_t relpath_len)
{
	if (grove_grow((void **)&e->nodes, &e->nodes_cap, e->n_nodes, sizeof(*e->nodes)))
		return GROVE_ENOMEM;
	struct export_node en = {.id = n->id, .parent = parent, .relpath_len = relpath_len,
				 .name = arena_strdup(e->strings, n->name),
				 .class_name = arena_strdup(e->strings, n->class_name),
				 .instance = n->instance[0] ? arena_strdup(e->strings, n->instance) : NULL};
	if (!en.name || !en.class_name || (n->instance[0] && !en.instance))
		return GROVE_ENOMEM;
	e->nodes[e->n_nodes++] = en;
	return GROVE_OK;
}

/*
 * The index of stored node @p id in the node list in *@p index, and whether it is in the subtree in
 * *@p found. Only connections need it: the map is made at the first, since filling it for every node of
 * a large subtree without connections was a tenth of the export's time.
 */
static int node_index_of(struct exporter *e, uint64_t id, size_t *index, bool *found)
{
	for (size_t i = 0; !e->nodes_indexed && i < e->n_nodes; i++) {
		int err = idmap_put(&e->node_index, e->nodes[i].id, 0, (void *)(uintptr_t)(i + 1));
		if (err)
			return err;
	}
	e->nodes_indexed = true;
	uintptr_t v = (uintptr_t)idmap_get(&e->node_index, id, 0);
	*index = v - 1;
	*found = v != 0;
	return GROVE_OK;
}

/*
 * Pre-order walk without recursion: an explicit stack of (node index, its children, next child). A frame
 * whose last child is taken is dropped before that child's frame goes on, so a chain keeps one frame.
 * Only names and path lengths are kept: the paths themselves are made once they are known to fit.
 */
static int walk_subtree(struct exporter *e, uint64_t root_id)
{
	struct tree_node_view n;
	int err = tree_reader_node(e->reader, root_id, &n);
	if (!err)
		err = add_node(e, &n, SIZE_MAX, 1);
	if (err)
		return err;
	struct frame {
		size_t node;
		struct child_list kids;
		size_t next;
	};
	size_t depth = 0, cap = 0;
	struct frame *stack = NULL;
	if (grove_grow((void **)&stack, &cap, depth, sizeof(*stack)))
		return GROVE_ENOMEM;
	stack[0] = (struct frame){.node = 0};
	err = tree_reader_children(e->reader, root_id, collect_child, &stack[0].kids);
	if (!err)
		err = stack[0].kids.err;
	depth = 1;
	while (!err && depth > 0) {
		struct frame *f = &stack[depth - 1];
		if (f->next == f->kids.n) {
			free(f->kids.ids);
			depth--;
			continue;
		}
		uint64_t child = f->kids.ids[f->next++];
		size_t parent = f->node;
		if (f->next == f->kids.n) {
			free(f->kids.ids);
			depth--;
		}
		err = tree_reader_node(e->reader, child, &n);
		if (err)
			break;
		size_t len = strlen(n.name) + (parent == 0 ? 0 : e->nodes[parent].relpath_len + 1);
		size_t index = e->n_nodes;
		err = add_node(e, &n, parent, len);
		if (err)
			break;
		if (grove_grow((void **)&stack, &cap, depth, sizeof(*stack))) {
			err = GROVE_ENOMEM;
			break;
		}
		stack[depth] = (struct frame){.node = index};
		err = tree_reader_children(e->reader, child, collect_child, &stack[depth].kids);
		if (!err)
			err = stack[depth].kids.err;
		depth++;
	}
	for (size_t i = 0; i < depth; i++)
		free(stack[i].kids.ids);
	free(stack);
	return err;
}

/*
 * A scene names each node's parent by its path from the scene's root (parent="A/B/C"), so the paths of a
 * chain of D levels add up to about D * D / 2 names: refuse, before making any, a scene whose parent paths
 * alone would take more than the limit. Then make each node's path from its parent's, in pre-order.
 */
static int make_relpaths(struct exporter *e, uint64_t root_id)
{
	size_t path_bytes = 0, deepest = 0;
	for (size_t i = 1; i < e->n_nodes; i++) {
		size_t parent_len = e->nodes[e->nodes[i].parent].relpath_len;
		path_bytes += parent_len + sizeof(" parent=\"\"");
		if (e->nodes[i].relpath_len > e->nodes[deepest].relpath_len)
			deepest = i;
	}
	if (e->max_bytes && path_bytes > e->max_bytes) {
		char *root_path = NULL;
		tree_node_path(e->t, e->txn, root_id, &root_path);
		int err = export_error(e, GROVE_ETOOBIG,
				       "%.200s: the scene's node paths alone would take %zu bytes (the limit is %zu; its "
				       "longest path from the scene's root is %zu bytes, and a scene names every "
				       "node's parent by that path); export a smaller or shallower subtree",
				       root_path ? root_path : "the subtree", path_bytes, e->max_bytes,
				       e->nodes[deepest].relpath_len);
		free(root_path);
		return err;
	}
	for (size_t i = 0; i < e->n_nodes; i++) {
		struct export_node *en = &e->nodes[i];
		if (i == 0) {
			en->relpath = ".";
		} else if (en->parent == 0) {
			en->relpath = en->name;
		} else {
			const struct export_node *parent = &e->nodes[en->parent];
			char *path = arena_alloc(e->strings, en->relpath_len + 1);
			if (!path)
				return GROVE_ENOMEM;
			memcpy(path, parent->relpath, parent->relpath_len);
			path[parent->relpath_len] = '/';
			memcpy(path + parent->relpath_len + 1, en->name, en->relpath_len - parent->relpath_len - 1);
			path[en->relpath_len] = '\0';
			en->relpath = path;
		}
	}
	return GROVE_OK;
}

/* ---- resources ---- */

static int add_resource(struct exporter *e, uint64_t id, bool ext, char *synth_path, size_t *index)
{
	if (grove_grow((void **)&e->res, &e->res_cap, e->n_res, sizeof(*e->res)))
		return GROVE_ENOMEM;
	*index = e->n_res;
	e->res[e->n_res++] = (struct export_resource){.id = id, .ext = ext, .synth_path = synth_path};
	return GROVE_OK;
}

static int kind_of(void *ctx, const struct tree_resource *r)
{
	*(bool *)ctx = r->kind == TREE_RESOURCE_EXT;
	return 0;
}

struct sub_deps {
	struct exporter *e;
	int err;
};

static int note_refs(struct exporter *e, const struct variant *v);

static int note_sub_props(void *ctx, const struct tree_resource *r)
{
	struct sub_deps *d = ctx;
	d->err = note_refs(d->e, r->props);
	return 0;
}

/* Record stored resource @p ref and, before it, what it references (a sub-resource's dependencies come first). */
static int note_ref(void *ctx, int64_t *ref)
{
	struct exporter *e = ctx;
	if (*ref <= 0)
		return GROVE_OK;
	uint64_t id = (uint64_t)*ref;
	e->refs_noted++;
	char key[24];
	id_key(key, id);
	size_t index;
	if (strmap_get(&e->res_index, key, &index))
		return GROVE_OK;
	/* Mark it visited before descending, so a cycle cannot recurse forever. */
	int err = strmap_put(&e->res_index, key, SIZE_MAX);
	bool ext = false;
	if (!err)
		err = tree_with_resource(e->t, e->txn, id, kind_of, &ext);
	if (!err && !ext) {
		struct sub_deps d = {e, GROVE_OK};
		err = tree_with_resource(e->t, e->txn, id, note_sub_props, &d);
		if (!err)
			err = d.err;
	}
	if (err)
		return err;
	err = add_resource(e, id, ext, NULL, &index);
	if (err)
		return err;
	return strmap_set(&e->res_index, key, index);
}

/*
 * Record every stored resource @p v references (a script typing a container too: it is exported like any
 * resource the value names, even if nothing else does), depth-first.
 */
static int note_refs(struct exporter *e, const struct variant *v)
{
	return variant_each_resource_ref((struct variant *)v, note_ref, e); /* only read */
}

/* ---- building sections ---- */

/* A string attribute whose text is in the scene's arena already (or static): the section borrows it. */
static int attr_text(struct tscn_section *s, const char *key, const char *text, size_t len)
{
	struct variant v = {.type = VARIANT_STRING, .as.str = {.ptr = (char *)text, .len = (uint32_t)len}};
	return tscn_add_attr_borrowed(s, key, &v);
}

static int attr_string(struct tscn_section *s, const char *key, const char *text)
{
	size_t len = strlen(text);
	char *copy = arena_strndup(s->arena, text, len);
	return copy ? attr_text(s, key, copy, len) : GROVE_ENOMEM;
}

static int attr_int(struct tscn_section *s, const char *key, int64_t value)
{
	struct variant v;
	variant_set_int(&v, value);
	return tscn_add_attr(s, key, &v);
}

/* The resource's section as a scene-local reference. */
static int64_t section_ref(const struct exporter *e, size_t res_index)
{
	return -(int64_t)e->res[res_index].section - 1;
}

static int localize_ref(void *ctx, int64_t *ref)
{
	const struct exporter *e = ctx;
	if (*ref < 0)
		return GROVE_OK;
	char key[24];
	size_t index;
	id_key(key, (uint64_t)*ref);
	if (!strmap_get(&e->res_index, key, &index) || index == SIZE_MAX)
		return GROVE_ECORRUPT;
	*ref = section_ref(e, index);
	return GROVE_OK;
}

/* Replace stored resource ids in @p v (the scripts typing its containers too) by scene-local section references. */
static int localize_refs(struct exporter *e, struct variant *v)
{
	return variant_each_resource_ref(v, localize_ref, e);
}

/* Resource ids must be unique per kind in a file; Godot 3 wants integers. */
struct id_allocator {
	struct strmap used; /* ids handed out, per kind prefix "e:" / "s:" */
	int64_t next_int[2];
};

static int choose_id(struct exporter *e, struct id_allocator *ids, bool ext, const char *wanted, struct variant *out)
{
	char key[TREE_NAME_MAX + 8];
	const char *prefix = ext ? "e:" : "s:";
	if (e->godot_major == 3) {
		char *end;
		long long n = wanted && *wanted ? strtoll(wanted, &end, 10) : 0;
		if (!(wanted && *wanted && *end == '\0' && n > 0)) {
			n = 0;
		}
		for (;;) {
			if (n <= 0)
				n = ++ids->next_int[ext];
			snprintf(key, sizeof(key), "%s%lld", prefix, n);
			int err = strmap_put(&ids->used, key, 0);
			if (err == GROVE_OK) {
				variant_set_int(out, n);
				return GROVE_OK;
			}
			if (err != GROVE_EEXIST)
				return err;
			n = 0;
		}
	}
	const char *candidate = wanted && *wanted ? wanted : NULL;
	char generated[32];
	for (;;) {
		if (!candidate) {
			snprintf(generated, sizeof(generated), "%" PRId64 "_grove", ++ids->next_int[ext]);
			candidate = generated;
		}
		snprintf(key, sizeof(key), "%s%s", prefix, candidate);
		int err = strmap_put(&ids->used, key, 0);
		if (err == GROVE_OK)
			return variant_set_string(out, VARIANT_STRING, candidate, strlen(candidate));
		if (err != GROVE_EEXIST)
			return err;
		candidate = NULL;
	}
}

struct resource_build {
	struct exporter *e;
	struct id_allocator *ids;
	struct tscn_section *section;
	int err;
};

/* The property an "@repeated<i>:<name>" entry sets earlier in its section (see scene.h), or NULL. */
static const char *repeated_prop_name(const char *name)
{
	size_t prefix = strlen(SCENE_REPEATED_PROP_PREFIX);
	if (strncmp(name, SCENE_REPEATED_PROP_PREFIX, prefix) != 0)
		return NULL;
	const char *p = name + prefix;
	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == ':' && p[1] ? p + 1 : NULL;
}

static int build_resource(void *ctx, const struct tree_resource *r)
{
	struct resource_build *b = ctx;
	struct tscn_section *s = b->section;
	struct variant id;
	int err = choose_id(b->e, b->ids, r->kind == TREE_RESOURCE_EXT, r->local_id, &id);
	if (err)
		return b->err = err;
	if (r->kind == TREE_RESOURCE_EXT) {
		if (b->e->godot_major == 3) {
			err = attr_string(s, "path", r->path);
			if (!err)
				err = attr_string(s, "type", r->type);
		} else {
			err = attr_string(s, "type", r->type);
			if (!err && r->uid[0])
				err = attr_string(s, "uid", r->uid);
			if (!err)
				err = attr_string(s, "path", r->path);
		}
	} else {
		err = attr_string(s, "type", r->type);
	}
	if (!err)
		err = tscn_add_attr(s, "id", &id);
	variant_free(&id);
	if (!err && r->kind == TREE_RESOURCE_SUB && r->props->type == VARIANT_DICTIONARY) {
		const struct variant_dict *d = r->props->as.dict;
		for (uint32_t i = 0; !err && i < d->len; i++) {
			if (d->keys[i].type != VARIANT_STRING) {
				err = GROVE_ECORRUPT;
				break;
			}
			struct variant value;
			err = variant_copy(&value, &d->values[i]);
			if (!err)
				err = localize_refs(b->e, &value);
			const char *repeated = repeated_prop_name(d->keys[i].as.str.ptr);
			if (!err)
				err = tscn_add_prop(s, repeated ? repeated : d->keys[i].as.str.ptr, &value);
			variant_free(&value);
		}
	}
	return b->err = err;
}

static int place_resources(struct exporter *e, struct id_allocator *ids)
{
	/* ext_resources first, then sub_resources in dependency order (the order they were noted). */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < e->n_res; i++) {
			if (e->res[i].ext != (pass == 0))
				continue;
			struct tscn_section *s = tscn_add_section(e->scene, e->res[i].ext ? TSCN_EXT_RESOURCE : TSCN_SUB_RESOURCE);
			if (!s)
				return GROVE_ENOMEM;
			/* Its index once it is moved in front of the nodes' sections (place_nodes()). */
			e->res[i].section = e->scene->count - 1 - e->node_sections;
			if (e->res[i].synth_path) {
				struct tree_resource synth = {.kind = TREE_RESOURCE_EXT, .type = "PackedScene",
							      .path = e->res[i].synth_path, .uid = "", .local_id = ""};
				struct resource_build b = {e, ids, s, GROVE_OK};
				build_resource(&b, &synth);
				if (b.err)
					return b.err;
				continue;
			}
			struct resource_build b = {e, ids, s, GROVE_OK};
			int err = tree_with_resource(e->t, e->txn, e->res[i].id, build_resource, &b);
			if (!err)
				err = b.err;
			if (err)
				return err;
		}
	}
	return GROVE_OK;
}

/* A node's "@" properties, which become header attributes in Godot's order: keys in the exporter's arena. */
struct deferred {
	struct tscn_entry *items; /* values owned */
	size_t n, cap;
};

static int defer(struct exporter *e, struct deferred *d, const char *key, struct variant *value)
{
	char *copy = arena_strdup(e->strings, key);
	if (!copy || grove_grow((void **)&d->items, &d->cap, d->n, sizeof(*d->items)))
		return GROVE_ENOMEM;
	d->items[d->n++] = (struct tscn_entry){.key = copy, .value = *value};
	variant_set_nil(value);
	return GROVE_OK;
}

static bool deferred_has(const struct deferred *d, const char *key)
{
	for (size_t k = 0; k < d->n; k++)
		if (strcmp(d->items[k].key, key) == 0)
			return true;
	return false;
}

struct node_build {
	struct exporter *e;
	struct tscn_section *section;
	struct deferred *deferred;      /* "@" attributes collected for the header */
	int64_t editable;               /* 0, or where its [editable] section goes (editable_order()) */
	bool implicit;                  /* a node of an instanced scene: no section of its own */
	int err;
};

/* Keep property @p name of the node being built, taking @p value, until its section takes them all. */
static int keep_prop(struct exporter *e, const char *name, struct variant *value)
{
	if (grove_grow((void **)&e->props, &e->props_cap, e->n_props, sizeof(*e->props)))
		return GROVE_ENOMEM;
	size_t at = e->prop_names.len;
	grove_buf_put(&e->prop_names, name, strlen(name) + 1);
	if (e->prop_names.failed)
		return GROVE_ENOMEM;
	e->props[e->n_props++] = (struct kept_prop){at, *value};
	variant_set_nil(value);
	return GROVE_OK;
}

/* Hand the kept properties to section @p s (room for @p extra more), or release them when @p s is NULL. */
static int take_props(struct exporter *e, struct tscn_section *s, size_t extra)
{
	int err = s ? tscn_reserve_props(s, s->n_props + e->n_props + extra) : GROVE_OK;
	for (size_t k = 0; k < e->n_props; k++) {
		const char *name = (const char *)e->prop_names.data + e->props[k].name_at;
		if (!err)
			err = tscn_add_prop(s, name, &e->props[k].value);
		variant_free(&e->props[k].value);
	}
	e->n_props = 0;
	e->prop_names.len = 0;
	return err;
}

/*
 * Where the [editable] section of a node whose "@editable" is @p value goes, or 0 for none: its place in
 * the file it came from, or after every placed one (in the order of the nodes) for a mark without a place.
 */
static int64_t editable_order(const struct variant *value)
{
	if (value->type == VARIANT_INT && value->as.i > 0)
		return value->as.i;
	return value->type == VARIANT_BOOL && value->as.b ? INT64_MAX : 0;
}

/* Take a property of the node: its resource references are noted now and localized once resources are placed. */
static int build_prop(void *ctx, const char *name, struct variant *value)
{
	struct node_build *b = ctx;
	int err = note_refs(b->e, value);
	if (err)
		return b->err = err;
	const char *repeated = repeated_prop_name(name);
	if (name[0] != '@' || repeated) {
		err = keep_prop(b->e, repeated ? repeated : name, value);
	} else if (strcmp(name, "@editable") == 0) {
		b->editable = editable_order(value);
	} else if (strcmp(name, "@implicit") == 0) {
		b->implicit = value->type == VARIANT_BOOL && value->as.b;
	} else if (strcmp(name, "@scene_uid") != 0) {
		err = defer(b->e, b->deferred, name + 1, value);
	}
	return b->err = err;
}

struct group_build {
	struct variant array;
	int err;
};

static int build_group(void *ctx, const char *group)
{
	struct group_build *g = ctx;
	struct variant v;
	/* Most nodes have no group: the array is made for the first. */
	g->err = g->array.type == VARIANT_ARRAY ? GROVE_OK : variant_set_array(&g->array);
	if (!g->err)
		g->err = variant_set_string(&v, VARIANT_STRING, group, strlen(group));
	if (!g->err) {
		g->err = variant_array_push(&g->array, &v);
		variant_free(&v);
	}
	return g->err;
}

/* The instance resource of a node without "@instance": the synthesized ext_resource for its path. */
static int synthesized_instance(struct exporter *e, const char *path, size_t *index)
{
	for (size_t i = 0; i < e->n_res; i++)
		if (e->res[i].synth_path && strcmp(e->res[i].synth_path, path) == 0) {
			*index = i;
			return GROVE_OK;
		}
	char *copy = strdup(path);
	if (!copy)
		return GROVE_ENOMEM;
	int err = add_resource(e, 0, true, copy, index);
	if (err)
		free(copy);
	return err;
}

/* Node @p en's id in the ids beside the scene, under its path from the scene's root. */
static int put_by_path(struct exporter *e, const struct export_node *en)
{
	struct variant key, value;
	variant_set_int(&value, (int64_t)en->id);
	int err = e->ids->by_path.type == VARIANT_DICTIONARY ? GROVE_OK : variant_set_dict(&e->ids->by_path);
	if (!err)
		err = variant_set_string(&key, VARIANT_STRING, en->relpath, en->relpath_len);
	if (!err && (err = variant_dict_put(&e->ids->by_path, &key, &value)))
		variant_free(&key);
	return err;
}

/*
 * Node @p en's id as metadata, so that a client that instances the scene can map grove's ids to its nodes:
 * Godot 4 writes metadata as "metadata/NAME" properties, Godot 3 in the node's "__meta__" Dictionary (which
 * a scene may already have, with editor keys). A Godot 3 scene's "__meta__" replaces the whole Dictionary,
 * so a node of an instanced or inherited scene (instanced here, or declared without a type) that stores
 * none keeps what its own scene gives it only if its id goes aside instead, by its path.
 */
static int add_grove_id(struct exporter *e, struct tscn_section *s, const struct export_node *en)
{
	struct variant key, value;
	variant_set_int(&value, (int64_t)en->id);
	if (e->godot_major == 4)
		return tscn_add_prop(s, "metadata/grove_id", &value);
	for (size_t k = 0; k < s->n_props; k++) {
		if (strcmp(s->props[k].key, "__meta__") == 0 && s->props[k].value.type == VARIANT_DICTIONARY &&
		    !s->props[k].borrowed) {
			if (variant_set_string(&key, VARIANT_STRING, "grove_id", 8))
				return GROVE_ENOMEM;
			return variant_dict_put(&s->props[k].value, &key, &value);
		}
	}
	if (en->instance || !en->class_name[0])
		return put_by_path(e, en);
	/* Made in the scene's arena: one per node of a large scene, freed with it at once. */
	struct variant_dict *d = arena_alloc(s->arena, sizeof(*d));
	struct variant *items = arena_alloc(s->arena, 2 * sizeof(*items));
	if (!d || !items)
		return GROVE_ENOMEM;
	items[0] = (struct variant){.type = VARIANT_STRING, .as.str = {.ptr = (char *)"grove_id", .len = 8}};
	items[1] = value;
	*d = (struct variant_dict){.keys = &items[0], .values = &items[1], .len = 1, .cap = 1};
	struct variant meta = {.type = VARIANT_DICTIONARY, .as.dict = d};
	return tscn_add_prop_borrowed(s, "__meta__", &meta);
}

/*
 * What a node section built before the resources were placed still needs: its resource references
 * localized, and the reference of its synthesized instance set.
 */
struct pending_node {
	bool refs;         /* its values hold stored resource references */
	size_t synth_attr; /* its "instance" attribute when synthesized, else SIZE_MAX */
	size_t synth_res;  /* and the resource it names */
	int64_t editable;  /* its instanced scene is editable (also noted for a node without a section): the
			    * section's place (editable_order()), or 0 */
};

/* A node whose instanced scene is editable, and where its [editable] section goes. */
struct editable_mark {
	int64_t order;
	size_t node;
};

static int compare_editable_marks(const void *a, const void *b)
{
	const struct editable_mark *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

/*
 * Build node @p i's section as the last of the scene, reading each of its records once. A node of an
 * instanced scene gets no section of its own; its references are noted all the same.
 */
static int build_node(struct exporter *e, size_t i, struct pending_node *pending)
{
	struct export_node *en = &e->nodes[i];
	*pending = (struct pending_node){.synth_attr = SIZE_MAX};
	size_t refs_before = e->refs_noted;
	struct tscn_section *s = tscn_add_section(e->scene, TSCN_NODE);
	struct deferred deferred = {0};
	struct node_build b = {e, s, &deferred, false, false, GROVE_OK};
	struct group_build g = {.err = GROVE_OK};
	/* Records first: then the header's list is made the size of its attributes. */
	int err = s ? tree_reader_props(e->reader, en->id, build_prop, &b) : GROVE_ENOMEM;
	if (!err)
		err = b.err;
	if (!err)
		err = tree_reader_groups(e->reader, en->id, build_group, &g);
	if (!err)
		err = g.err;
	bool synthesized = en->instance && !deferred_has(&deferred, "instance");
	if (!err)
		err = tscn_reserve_attrs(s, 1 + (en->class_name[0] != '\0') + (en->parent != SIZE_MAX) + synthesized +
						 (g.array.type == VARIANT_ARRAY) + deferred.n);
	if (!err)
		err = attr_text(s, "name", en->name, strlen(en->name));
	if (!err && en->class_name[0])
		err = attr_text(s, "type", en->class_name, strlen(en->class_name));
	if (!err && en->parent != SIZE_MAX)
		err = attr_text(s, "parent", e->nodes[en->parent].relpath, e->nodes[en->parent].relpath_len);
	int taken = take_props(e, err ? NULL : s, e->ids_mode == SCENE_IDS_METADATA ? 1 : 0);
	if (!err)
		err = taken;
	/* Header order as Godot writes it: index, instance, then the rest, groups last. */
	en->sectionless = b.implicit;
	for (size_t k = 0; !err && k < deferred.n; k++)
		if (strcmp(deferred.items[k].key, "index") == 0)
			err = tscn_add_attr(s, "index", &deferred.items[k].value);
	if (!err && synthesized) {
		/* Its reference is set once the resource has its section. */
		struct variant ref;
		variant_set_resource_ref(&ref, 0);
		pending->synth_attr = s->n_attrs;
		err = synthesized_instance(e, en->instance, &pending->synth_res);
		if (!err)
			err = tscn_add_attr(s, "instance", &ref);
	}
	for (size_t k = 0; !err && k < deferred.n; k++)
		if (strcmp(deferred.items[k].key, "instance") == 0)
			err = tscn_add_attr(s, "instance", &deferred.items[k].value);
	if (!err && g.array.type == VARIANT_ARRAY)
		err = tscn_add_attr(s, "groups", &g.array);
	variant_free(&g.array);
	for (size_t k = 0; !err && k < deferred.n; k++) {
		const char *key = deferred.items[k].key;
		if (strcmp(key, "index") != 0 && strcmp(key, "instance") != 0)
			err = tscn_add_attr(s, key, &deferred.items[k].value);
	}
	for (size_t k = 0; k < deferred.n; k++)
		variant_free(&deferred.items[k].value);
	free(deferred.items);
	if (!err && e->ids_mode == SCENE_IDS_METADATA && !b.implicit)
		err = add_grove_id(e, s, en);
	pending->refs = e->refs_noted != refs_before;
	pending->editable = b.editable;
	if (!err && b.implicit) {
		/* Built only to read it; the last section is this node's, so drop it. */
		tscn_drop_last_section(e->scene);
	}
	return err;
}

/* Localize the references of a node section built before the resources were placed. */
static int finish_node(struct exporter *e, struct tscn_section *s, const struct pending_node *pending)
{
	if (pending->synth_attr != SIZE_MAX)
		s->attrs[pending->synth_attr].value.as.ref = section_ref(e, pending->synth_res);
	int err = GROVE_OK;
	for (size_t k = 0; pending->refs && !err && k < s->n_attrs; k++)
		if (k != pending->synth_attr)
			err = localize_refs(e, &s->attrs[k].value);
	for (size_t k = 0; pending->refs && !err && k < s->n_props; k++)
		err = localize_refs(e, &s->props[k].value);
	return err;
}

struct conn_build {
	struct exporter *e;
	uint64_t from;
	int err;
	size_t skipped;
};

static int build_connection(void *ctx, const struct tree_connection *c)
{
	struct conn_build *b = ctx;
	struct exporter *e = b->e;
	if (c->from != b->from)
		return 0; /* listed once, from its source */
	size_t from, to;
	bool found;
	int err = node_index_of(e, c->from, &from, &found);
	if (!err)
		err = node_index_of(e, c->to, &to, &found);
	if (err)
		return b->err = err;
	if (!found) {
		b->skipped++; /* the target lies outside the exported subtree: a scene cannot say it */
		return 0;
	}
	struct tscn_section *s = tscn_add_section(e->scene, TSCN_CONNECTION);
	err = s ? attr_string(s, "signal", c->signal) : GROVE_ENOMEM;
	if (!err)
		err = attr_text(s, "from", e->nodes[from].relpath, e->nodes[from].relpath_len);
	if (!err)
		err = attr_text(s, "to", e->nodes[to].relpath, e->nodes[to].relpath_len);
	if (!err)
		err = attr_string(s, "method", c->method);
	if (!err && (c->flags & 0xffff))
		err = attr_int(s, "flags", c->flags & 0xffff);
	if (!err && c->binds->type == VARIANT_ARRAY && c->binds->as.array->len > 0) {
		struct variant binds;
		err = variant_copy(&binds, c->binds);
		if (!err)
			err = localize_refs(e, &binds);
		if (!err)
			err = tscn_add_attr(s, "binds", &binds);
		variant_free(&binds);
	}
	if (!err && (c->flags >> 16))
		err = attr_int(s, "unbinds", c->flags >> 16);
	return b->err = err;
}

static void exporter_free(struct exporter *e)
{
	take_props(e, NULL, 0);
	grove_buf_free(&e->prop_names);
	free(e->props);
	tree_reader_close(e->reader);
	free(e->nodes);
	for (size_t i = 0; i < e->n_res; i++)
		free(e->res[i].synth_path);
	free(e->res);
	idmap_free(&e->node_index);
	strmap_free(&e->res_index);
}

/*
 * The nodes' sections, built first in one pass over their records, which is also what finds the resources
 * they need: the header and the resources' sections are added behind them, then moved to the front.
 */
static int build_nodes(struct exporter *e, struct pending_node *pending, struct editable_mark *editable,
		       size_t *n_editable)
{
	/* A section per node, and the header. */
	int err = tscn_reserve_sections(e->scene, e->n_nodes + 1);
	if (err)
		return err;
	for (size_t i = 0; i < e->n_nodes; i++) {
		struct pending_node *p = &pending[e->scene->count];
		err = build_node(e, i, p);
		if (err)
			return err;
		if (p->editable)
			editable[(*n_editable)++] = (struct editable_mark){p->editable, i};
	}
	qsort(editable, *n_editable, sizeof(*editable), compare_editable_marks);
	e->node_sections = e->scene->count;
	/* The header and the resources' sections follow. */
	return tscn_reserve_sections(e->scene, e->scene->count + 1 + e->n_res);
}

/* Move the header and resource sections, added behind the nodes', to the front; finish the nodes'. */
static int place_nodes(struct exporter *e, const struct pending_node *pending)
{
	struct tscn_scene *sc = e->scene;
	size_t nodes = e->node_sections, front = sc->count - nodes;
	struct tscn_section *moved = malloc(front * sizeof(*moved));
	if (!moved)
		return GROVE_ENOMEM;
	memcpy(moved, sc->sections + nodes, front * sizeof(*moved));
	memmove(sc->sections + front, sc->sections, nodes * sizeof(*moved));
	memcpy(sc->sections, moved, front * sizeof(*moved));
	free(moved);
	int err = GROVE_OK;
	for (size_t k = 0; !err && k < nodes; k++)
		err = finish_node(e, &sc->sections[front + k], &pending[k]);
	return err;
}

/* Of the nodes the file does not declare, by path (scene.h): with SCENE_IDS_METADATA, they carry none. */
static int note_undeclared(struct exporter *e)
{
	int err = GROVE_OK;
	for (size_t i = 0; !err && i < e->n_nodes; i++)
		if (e->nodes[i].sectionless)
			err = put_by_path(e, &e->nodes[i]);
	return err;
}

struct id_entry {
	uint64_t id;
	size_t node; /* index in the node list */
};

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct id_entry *)a)->id, y = ((const struct id_entry *)b)->id;
	return x < y ? -1 : x > y;
}

/* SCENE_IDS_NAMES (scene.h): every node by id, with its parent's entry and its name. */
static int note_names(struct exporter *e)
{
	size_t n = e->n_nodes;
	struct scene_ids *ids = e->ids;
	if (n > INT32_MAX)
		return GROVE_ETOOBIG;
	struct id_entry *sorted = malloc(n * sizeof(*sorted));
	size_t *entry_of = malloc(n * sizeof(*entry_of));
	ids->node_ids = malloc(n * sizeof(*ids->node_ids));
	ids->parents = malloc(n * sizeof(*ids->parents));
	ids->name_at = malloc(n * sizeof(*ids->name_at));
	int err = sorted && entry_of && ids->node_ids && ids->parents && ids->name_at ? GROVE_OK : GROVE_ENOMEM;
	for (size_t i = 0; !err && i < n; i++)
		sorted[i] = (struct id_entry){e->nodes[i].id, i};
	if (!err)
		qsort(sorted, n, sizeof(*sorted), by_id);
	for (size_t k = 0; !err && k < n; k++)
		entry_of[sorted[k].node] = k;
	for (size_t k = 0; !err && k < n; k++) {
		const struct export_node *en = &e->nodes[sorted[k].node];
		ids->node_ids[k] = en->id;
		/* The node list starts at the scene's root; every other node's parent is in it. */
		ids->parents[k] = sorted[k].node == 0 ? -1 : (int32_t)entry_of[en->parent];
		ids->name_at[k] = (uint32_t)ids->names.len;
		grove_buf_put(&ids->names, en->name, strlen(en->name) + 1);
	}
	if (!err && (ids->names.failed || ids->names.len > UINT32_MAX))
		err = GROVE_ENOMEM;
	if (!err)
		ids->len = n;
	free(sorted);
	free(entry_of);
	return err;
}

static int export_all(struct exporter *e, uint64_t root_id)
{
	e->strings = tscn_scene_arena(e->scene);
	int err = e->strings ? tree_reader_open(e->t, e->txn, &e->reader) : GROVE_ENOMEM;
	if (!err)
		err = walk_subtree(e, root_id);
	if (!err)
		err = make_relpaths(e, root_id);
	if (err)
		return err;
	struct pending_node *pending = calloc(e->n_nodes + 1, sizeof(*pending));
	size_t n_editable = 0;
	struct editable_mark *editable_nodes = calloc(e->n_nodes + 1, sizeof(*editable_nodes));
	err = pending && editable_nodes ? build_nodes(e, pending, editable_nodes, &n_editable) : GROVE_ENOMEM;
	if (!err && e->ids_mode == SCENE_IDS_METADATA)
		err = note_undeclared(e);
	else if (!err && e->ids_mode == SCENE_IDS_NAMES)
		err = note_names(e);
	struct tscn_section *header = err ? NULL : tscn_add_section(e->scene, TSCN_GD_SCENE);
	if (!err && !header)
		err = GROVE_ENOMEM;
	if (!err && e->n_res > 0)
		err = attr_int(header, "load_steps", (int64_t)e->n_res + 1);
	if (!err)
		err = attr_int(header, "format", e->godot_major == 3 ? 2 : 3);
	struct variant uid = {0};
	if (!err && e->godot_major == 4 && tree_get_prop(e->t, e->txn, root_id, "@scene_uid", &uid) == GROVE_OK &&
	    uid.type == VARIANT_STRING)
		err = tscn_add_attr(header, "uid", &uid);
	variant_free(&uid);
	struct id_allocator ids = {0};
	if (!err)
		err = strmap_init(&ids.used, e->n_res);
	if (!err)
		err = place_resources(e, &ids);
	strmap_free(&ids.used);
	if (!err)
		err = place_nodes(e, pending);
	free(pending);
	size_t skipped = 0;
	for (size_t i = 0; !err && i < e->n_nodes; i++) {
		struct conn_build b = {e, e->nodes[i].id, GROVE_OK, 0};
		err = tree_reader_connections(e->reader, e->nodes[i].id, build_connection, &b);
		if (!err)
			err = b.err;
		skipped += b.skipped;
	}
	for (size_t k = 0; !err && k < n_editable; k++) {
		struct tscn_section *s = tscn_add_section(e->scene, TSCN_EDITABLE);
		const struct export_node *en = &e->nodes[editable_nodes[k].node];
		err = s ? attr_text(s, "path", en->relpath, en->relpath_len) : GROVE_ENOMEM;
	}
	free(editable_nodes);
	(void)skipped;
	return err;
}

int scene_export(const struct tree *t, struct store_txn *txn, uint64_t root_id, int godot_major, struct tscn_scene *out, char *message,
		 size_t message_cap)
{
	return scene_export_with_ids(t, txn, root_id, godot_major, SCENE_IDS_NONE, NULL, 0, out, message, message_cap);
}

void scene_ids_free(struct scene_ids *ids)
{
	variant_free(&ids->by_path);
	free(ids->node_ids);
	free(ids->parents);
	free(ids->name_at);
	grove_buf_free(&ids->names);
	*ids = (struct scene_ids){0};
}

int scene_export_with_ids(const struct tree *t, struct store_txn *txn, uint64_t root_id, int godot_major,
			  enum scene_ids_mode mode, struct scene_ids *ids, size_t max_bytes, struct tscn_scene *out,
			  char *message, size_t message_cap)
{
	memset(out, 0, sizeof(*out));
	if (message_cap)
		message[0] = '\0';
	if (mode != SCENE_IDS_NONE)
		*ids = (struct scene_ids){0};
	struct exporter e = {.t = t, .txn = txn, .godot_major = godot_major, .scene = out, .message = message,
			     .message_cap = message_cap, .ids_mode = mode, .ids = ids, .max_bytes = max_bytes};
	if (godot_major != 3 && godot_major != 4)
		return export_error(&e, GROVE_EINVAL, "Godot version must be 3 or 4");
	out->format = godot_major == 3 ? 2 : 3;
	int err = strmap_init(&e.res_index, 64);
	if (!err)
		err = export_all(&e, root_id);
	exporter_free(&e);
	if (err) {
		tscn_scene_free(out);
		if (mode != SCENE_IDS_NONE)
			scene_ids_free(ids);
		if (!message[0])
			export_error(&e, err, "export failed: %s", grove_strerror(err));
	}
	return err;
}

/* The type of the first value inside @p v that Godot @p major's text cannot hold, or NULL. */
static const char *unwritable_type(const struct variant *v, int major, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return NULL;
	if (v->type == VARIANT_ARRAY) {
		for (uint32_t i = 0; i < v->as.array->len; i++) {
			const char *t = unwritable_type(&v->as.array->items[i], major, depth + 1);
			if (t)
				return t;
		}
		return NULL;
	}
	if (v->type == VARIANT_DICTIONARY) {
		for (uint32_t i = 0; i < v->as.dict->len; i++) {
			const char *t = unwritable_type(&v->as.dict->keys[i], major, depth + 1);
			if (!t)
				t = unwritable_type(&v->as.dict->values[i], major, depth + 1);
			if (t)
				return t;
		}
		return NULL;
	}
	if (v->type == VARIANT_RESOURCE_REF)
		return NULL;
	struct godot_text_options opts = {.godot_major = major};
	struct grove_buf scratch = {0};
	int err = godot_text_write(v, &opts, &scratch);
	grove_buf_free(&scratch);
	return err == GROVE_EINVAL ? variant_type_name(v->type) : NULL;
}

/* Say which property of @p scene holds what Godot @p major cannot hold; false if none is found. */
static bool explain_unwritable(const struct tscn_scene *scene, int major, char *message, size_t message_cap)
{
	for (size_t i = 0; i < scene->count; i++) {
		const struct tscn_section *s = &scene->sections[i];
		for (size_t k = 0; k < s->n_props; k++) {
			const char *type = unwritable_type(&s->props[k].value, major, 0);
			if (!type)
				continue;
			const struct variant *name = tscn_attr(s, s->kind == TSCN_NODE ? "name" : "id");
			snprintf(message, message_cap,
				 "the subtree cannot be written for Godot %d: property \"%s\" of %s \"%s\" holds a %s, "
				 "which Godot %d cannot hold",
				 major, s->props[k].key, s->kind == TSCN_NODE ? "node" : "resource",
				 name && name->type == VARIANT_STRING ? name->as.str.ptr : "?", type, major);
			return true;
		}
	}
	return false;
}

int scene_export_file(const struct tree *t, struct store_txn *txn, uint64_t root_id, int godot_major, bool binary,
		      enum scene_ids_mode mode, struct scene_ids *ids, size_t max_bytes, struct grove_buf *out,
		      char *message, size_t message_cap)
{
	struct tscn_scene scene;
	size_t before = out->len;
	int err = scene_export_with_ids(t, txn, root_id, godot_major, mode, ids, max_bytes, &scene, message,
					message_cap);
	if (err)
		return err;
	struct scn_error serr = {""};
	err = binary ? scn_write(&scene, godot_major, out, &serr) : tscn_write(&scene, godot_major, out);
	if (err && !(err == GROVE_EINVAL && !serr.message[0] && explain_unwritable(&scene, godot_major, message, message_cap)))
		snprintf(message, message_cap, "the subtree cannot be written for Godot %d: %s", godot_major,
			 serr.message[0] ? serr.message : grove_strerror(err));
	tscn_scene_free(&scene);
	if (!err && max_bytes && out->len - before > max_bytes) {
		snprintf(message, message_cap,
			 "the scene takes %zu bytes, over the limit of %zu; export a smaller subtree", out->len - before,
			 max_bytes);
		out->len = before;
		err = GROVE_ETOOBIG;
	}
	if (err && mode != SCENE_IDS_NONE)
		scene_ids_free(ids);
	return err;
}
