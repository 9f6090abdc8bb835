/* Import: a parsed .tscn becomes one batch of tree operations. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "godot/scene.h"
#include "godot/strmap.h"
#include "src/common/error.h"
#include "src/common/grow.h"

struct planner {
	const struct tscn_scene *scene;
	struct scene_import *plan;
	size_t ops_cap;          /* capacity of plan->ops and plan->values */
	size_t strings_cap;      /* capacity of plan->strings */
	size_t *section_op;      /* per section: the op that creates it, or SIZE_MAX */
	struct strmap paths;     /* node path relative to the scene root -> op index of its CREATE */
	bool *instanced;         /* per op: a CREATE of an instanced or implicit node */
	bool have_root;          /* the root node was seen */
	int64_t editables;       /* [editable] sections planned */
	char *message;
	size_t message_cap;
};

__attribute__((format(printf, 4, 5))) static int plan_error(struct planner *p, const struct tscn_section *s, int err,
							    const char *fmt, ...)
{
	char text[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (s && s->line)
		snprintf(p->message, p->message_cap, "line %u: %s", s->line, text);
	else
		snprintf(p->message, p->message_cap, "%s", text);
	return err;
}

static struct tree_op *new_op(struct planner *p, enum tree_op_kind kind)
{
	struct tree_op *op = &p->plan->ops[p->plan->count++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->index = -1;
	return op;
}

/* A string the plan owns; NULL on allocation failure. */
static const char *own_string(struct planner *p, char *s)
{
	if (!s)
		return NULL;
	if (grove_grow((void **)&p->plan->strings, &p->strings_cap, p->plan->n_strings, sizeof(*p->plan->strings))) {
		free(s);
		return NULL;
	}
	p->plan->strings[p->plan->n_strings++] = s;
	return s;
}

/* The string content of a String or StringName value, else NULL. */
static const char *string_of(const struct variant *v)
{
	if (v && (v->type == VARIANT_STRING || v->type == VARIANT_STRING_NAME || v->type == VARIANT_NODE_PATH))
		return v->as.str.ptr;
	return NULL;
}

struct rewrite {
	struct planner *p;
	const struct tscn_section *s;
};

static int rewrite_ref(void *ctx, int64_t *ref)
{
	const struct rewrite *r = ctx;
	uint64_t j = *ref < 0 ? (uint64_t)(-(*ref + 1)) : UINT64_MAX;
	if (j >= r->p->scene->count || r->p->section_op[j] == SIZE_MAX)
		return plan_error(r->p, r->s, GROVE_EPARSE, "reference to a resource the scene does not declare");
	*ref = -(int64_t)r->p->section_op[j] - 1;
	return GROVE_OK;
}

/*
 * Rewrite scene-local resource references (-(section + 1)) into batch-local ones (-(op + 1)), the scripts
 * typing a container too.
 */
static int rewrite_refs(struct planner *p, const struct tscn_section *s, struct variant *v)
{
	int err = variant_each_resource_ref(v, rewrite_ref, &(struct rewrite){p, s});
	return err == GROVE_ETOOBIG ? plan_error(p, s, GROVE_ETOOBIG, "value nested too deeply") : err;
}

/* Copy @p value into the plan with its references rewritten; returns the copy or NULL (message set). */
static const struct variant *plan_value(struct planner *p, const struct tscn_section *s, const struct variant *value,
					int *err)
{
	struct variant *copy = &p->plan->values[p->plan->n_values];
	*err = variant_copy(copy, value);
	if (*err) {
		plan_error(p, s, *err, "cannot copy a value");
		return NULL;
	}
	p->plan->n_values++;
	*err = rewrite_refs(p, s, copy);
	return *err ? NULL : copy;
}

/*
 * Which properties of @p s the section sets again further down (Godot's editors have written such
 * sections, and the engine sets both values in turn): *@p out gets one flag per property, or stays NULL
 * when none repeats.
 */
static int find_repeated_props(const struct tscn_section *s, bool **out)
{
	*out = NULL;
	if (s->n_props < 2)
		return GROVE_OK;
	bool *later = calloc(s->n_props, sizeof(*later));
	if (!later)
		return GROVE_ENOMEM;
	bool any = false;
	/* A short list is searched directly: most nodes set a handful of properties. */
	if (s->n_props <= 16) {
		for (size_t i = 0; i < s->n_props; i++)
			for (size_t j = i + 1; j < s->n_props && !later[i]; j++)
				later[i] = strcmp(s->props[i].key, s->props[j].key) == 0;
	} else {
		struct strmap last;
		if (strmap_init(&last, s->n_props)) {
			free(later);
			return GROVE_ENOMEM;
		}
		int err = GROVE_OK;
		for (size_t i = 0; !err && i < s->n_props; i++)
			err = strmap_set(&last, s->props[i].key, i);
		for (size_t i = 0; !err && i < s->n_props; i++) {
			size_t at = i;
			strmap_get(&last, s->props[i].key, &at);
			later[i] = at != i;
		}
		strmap_free(&last);
		if (err) {
			free(later);
			return err;
		}
	}
	for (size_t i = 0; i < s->n_props; i++)
		any |= later[i];
	if (any)
		*out = later;
	else
		free(later);
	return GROVE_OK;
}

static int plan_resource(struct planner *p, size_t index)
{
	const struct tscn_section *s = &p->scene->sections[index];
	bool ext = s->kind == TSCN_EXT_RESOURCE;
	const char *type = string_of(tscn_attr(s, "type"));
	const struct variant *id = tscn_attr(s, "id");
	if (!type || !id)
		return plan_error(p, s, GROVE_EPARSE, "%s without type or id", ext ? "ext_resource" : "sub_resource");
	char *local_id = NULL;
	if (id->type == VARIANT_INT) {
		if (asprintf(&local_id, "%" PRId64, id->as.i) < 0)
			local_id = NULL;
	} else if (string_of(id)) {
		local_id = strdup(string_of(id));
	} else {
		return plan_error(p, s, GROVE_EPARSE, "resource id must be a string or an integer");
	}
	struct tree_op *op = new_op(p, TREE_OP_PUT_RESOURCE);
	op->resource_kind = ext ? TREE_RESOURCE_EXT : TREE_RESOURCE_SUB;
	op->text = type;
	op->name = own_string(p, local_id);
	if (!op->name)
		return plan_error(p, s, GROVE_ENOMEM, "out of memory");
	p->section_op[index] = p->plan->count - 1;
	p->plan->resources++;
	if (ext) {
		op->instance = string_of(tscn_attr(s, "path"));
		op->uid = string_of(tscn_attr(s, "uid"));
		if (!op->instance)
			return plan_error(p, s, GROVE_EPARSE, "ext_resource without a path");
		return GROVE_OK;
	}
	/* A sub-resource's properties travel as one ordered dictionary, a repeated one under its own key. */
	bool *repeated_later = NULL;
	if (find_repeated_props(s, &repeated_later))
		return plan_error(p, s, GROVE_ENOMEM, "out of memory");
	struct variant props;
	int err = variant_set_dict(&props);
	for (size_t i = 0; !err && i < s->n_props; i++) {
		struct variant key, value;
		char *renamed = NULL;
		if (repeated_later && repeated_later[i] &&
		    asprintf(&renamed, SCENE_REPEATED_PROP_PREFIX "%zu:%s", i, s->props[i].key) < 0) {
			err = GROVE_ENOMEM;
			break;
		}
		const char *name = renamed ? renamed : s->props[i].key;
		err = variant_set_string(&key, VARIANT_STRING, name, strlen(name));
		free(renamed);
		if (!err)
			err = variant_copy(&value, &s->props[i].value);
		if (!err) {
			err = variant_dict_put(&props, &key, &value);
			if (err)
				variant_free(&value);
		}
		variant_free(&key);
	}
	free(repeated_later);
	if (err) {
		variant_free(&props);
		return plan_error(p, s, err, "out of memory");
	}
	/* The section's own refs only point backwards; rewrite them in place as a plan value. */
	struct variant *slot = &p->plan->values[p->plan->n_values++];
	*slot = props;
	err = rewrite_refs(p, s, slot);
	op->value = slot;
	return err;
}

/* Header attributes that have a first-class place in the tree. */
static bool is_structural_attr(const char *key)
{
	static const char *const keys[] = {"name", "type", "parent", "instance", "groups"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static int plan_set(struct planner *p, const struct tscn_section *s, size_t create_op, const char *name,
		    const struct variant *value)
{
	int err;
	const struct variant *v = plan_value(p, s, value, &err);
	if (!v)
		return err;
	struct tree_op *op = new_op(p, TREE_OP_SET_PROP);
	op->node.id = -(int64_t)create_op - 1;
	op->name = name;
	op->value = v;
	return GROVE_OK;
}

/*
 * @p path as the scene's node map keys it: Godot finds a parent or a connection's end with get_node()
 * from the root, so "./A", "A/./B" and "A/C/../B" name the same nodes as "A" and "A/B". NULL for a path
 * that climbs above the root, or on allocation failure (@p *nomem says which).
 */
static char *canonical_path(const char *path, bool *nomem)
{
	size_t len = strlen(path);
	char *out = malloc(len + 2);
	*nomem = !out;
	if (!out)
		return NULL;
	size_t n = 0;
	for (const char *seg = path; *seg;) {
		const char *end = strchr(seg, '/');
		size_t seglen = end ? (size_t)(end - seg) : strlen(seg);
		if (seglen == 2 && memcmp(seg, "..", 2) == 0) {
			if (n == 0) {
				free(out);
				return NULL;
			}
			while (n > 0 && out[n - 1] != '/')
				n--;
			n -= n > 0;
		} else if (seglen > 0 && !(seglen == 1 && seg[0] == '.')) {
			if (n > 0)
				out[n++] = '/';
			memcpy(out + n, seg, seglen);
			n += seglen;
		}
		seg += seglen + (end != NULL);
	}
	if (n == 0)
		out[n++] = '.';
	out[n] = '\0';
	return out;
}

/*
 * The CREATE op of the node at scene-relative @p path ("." is the root). A
 * scene may add nodes under, or connect to, nodes that live inside an
 * instanced scene and so have no [node] section of their own; those path
 * segments become "implicit" nodes (class empty, "@implicit" true) that
 * export leaves out again.
 */
static int path_op(struct planner *p, const struct tscn_section *s, const char *written, size_t *op)
{
	bool nomem;
	char *path = canonical_path(written, &nomem);
	if (!path)
		return nomem ? plan_error(p, s, GROVE_ENOMEM, "out of memory")
			     : plan_error(p, s, GROVE_EPARSE, "\"%s\" leads out of the scene", written);
	int err = GROVE_OK;
	if (strmap_get(&p->paths, path, op))
		goto out;
	if (!strmap_get(&p->paths, ".", op)) {
		err = plan_error(p, s, GROVE_EPARSE, "\"%s\" comes before the scene's root", written);
		goto out;
	}
	size_t len = strlen(path);
	char *prefix = malloc(len + 1);
	if (!prefix) {
		err = plan_error(p, s, GROVE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t end = 0; !err && end <= len; end++) {
		if (end < len && path[end] != '/')
			continue;
		memcpy(prefix, path, end);
		prefix[end] = '\0';
		size_t found;
		if (strmap_get(&p->paths, prefix, &found)) {
			*op = found;
			continue;
		}
		if (!p->instanced[*op]) {
			err = plan_error(p, s, GROVE_EPARSE, "\"%s\" is not a node of the scene", written);
			break;
		}
		const char *slash = strrchr(prefix, '/');
		const char *name = own_string(p, strdup(slash ? slash + 1 : prefix));
		if (!name || !name[0]) {
			err = plan_error(p, s, name ? GROVE_EPARSE : GROVE_ENOMEM, "malformed node path \"%s\"", written);
			break;
		}
		struct tree_op *create = new_op(p, TREE_OP_CREATE);
		create->node.id = -(int64_t)*op - 1;
		create->name = name;
		create->text = "";
		size_t create_op = p->plan->count - 1;
		struct tree_op *mark = new_op(p, TREE_OP_SET_PROP);
		mark->node.id = -(int64_t)create_op - 1;
		mark->name = "@implicit";
		struct variant *slot = &p->plan->values[p->plan->n_values++];
		variant_set_bool(slot, true);
		mark->value = slot;
		err = strmap_put(&p->paths, prefix, create_op);
		p->instanced[create_op] = true;
		*op = create_op;
	}
	free(prefix);
	if (err == GROVE_ENOMEM)
		err = plan_error(p, s, err, "out of memory");
out:
	free(path);
	return err;
}

static int plan_node(struct planner *p, size_t index, const char *at_path, const char *root_name)
{
	const struct tscn_section *s = &p->scene->sections[index];
	const char *name = string_of(tscn_attr(s, "name"));
	const struct variant *parent_attr = tscn_attr(s, "parent");
	const char *parent = string_of(parent_attr);
	if (!name)
		return plan_error(p, s, GROVE_EPARSE, "node without a name");
	if (parent_attr && !parent)
		return plan_error(p, s, GROVE_EPARSE, "node %s: parent must be a string", name);
	struct tree_op create = {.kind = TREE_OP_CREATE, .index = -1, .name = name};
	char *path;
	if (!parent) {
		if (p->have_root)
			return plan_error(p, s, GROVE_EPARSE, "node %s: a second node without a parent", name);
		p->have_root = true;
		create.node.path = at_path;
		if (root_name)
			create.name = root_name;
		path = strdup(".");
	} else {
		if (!p->have_root)
			return plan_error(p, s, GROVE_EPARSE, "node %s comes before the scene's root", name);
		size_t parent_op;
		int err = path_op(p, s, parent, &parent_op);
		if (err)
			return err;
		create.node.id = -(int64_t)parent_op - 1;
		bool nomem;
		char *parent_path = canonical_path(parent, &nomem);
		if (!parent_path || strcmp(parent_path, ".") == 0)
			path = parent_path ? strdup(name) : NULL;
		else if (asprintf(&path, "%s/%s", parent_path, name) < 0)
			path = NULL;
		free(parent_path);
	}
	if (!path)
		return plan_error(p, s, GROVE_ENOMEM, "out of memory");
	size_t create_op = p->plan->count;
	int err = strmap_put(&p->paths, path, create_op);
	free(path);
	if (err == GROVE_EEXIST)
		return plan_error(p, s, GROVE_EPARSE, "node %s: a sibling has the same name", name);
	if (err)
		return plan_error(p, s, err, "out of memory");
	const char *type = string_of(tscn_attr(s, "type"));
	create.text = type ? type : "";
	const struct variant *instance = tscn_attr(s, "instance");
	if (instance) {
		int64_t ref = instance->type == VARIANT_RESOURCE_REF ? instance->as.ref : 0;
		uint64_t j = ref < 0 ? (uint64_t)(-(ref + 1)) : UINT64_MAX;
		if (j >= p->scene->count || p->scene->sections[j].kind != TSCN_EXT_RESOURCE)
			return plan_error(p, s, GROVE_EPARSE, "node %s: instance must be an ExtResource", name);
		create.instance = string_of(tscn_attr(&p->scene->sections[j], "path"));
	}
	*new_op(p, TREE_OP_CREATE) = create;
	/*
	 * A node without a type is one the scene does not create: it comes from an instanced or inherited
	 * scene, like an instanced node, so its children the file never declares are implicit too.
	 */
	p->instanced[create_op] = instance != NULL || !type;
	p->plan->nodes++;
	if (!parent) {
		const char *uid = string_of(tscn_attr(&p->scene->sections[0], "uid"));
		if (uid && (err = plan_set(p, s, create_op, "@scene_uid", tscn_attr(&p->scene->sections[0], "uid"))))
			return err;
		/* format=4 (base64 byte arrays) is kept so that export writes the scene back the same way. */
		struct variant format;
		variant_set_int(&format, p->scene->format);
		if (p->scene->format == 4 && (err = plan_set(p, s, create_op, "@scene_format", &format)))
			return err;
	}
	if (instance && (err = plan_set(p, s, create_op, "@instance", instance)))
		return err;
	for (size_t i = 0; i < s->n_attrs; i++) {
		if (is_structural_attr(s->attrs[i].key))
			continue;
		char *key;
		if (asprintf(&key, "@%s", s->attrs[i].key) < 0)
			return plan_error(p, s, GROVE_ENOMEM, "out of memory");
		const char *owned = own_string(p, key);
		if (!owned)
			return plan_error(p, s, GROVE_ENOMEM, "out of memory");
		if ((err = plan_set(p, s, create_op, owned, &s->attrs[i].value)))
			return err;
	}
	const struct variant *groups = tscn_attr(s, "groups");
	if (groups) {
		if (groups->type != VARIANT_ARRAY)
			return plan_error(p, s, GROVE_EPARSE, "node %s: groups must be an array", name);
		for (uint32_t i = 0; i < groups->as.array->len; i++) {
			const char *g = string_of(&groups->as.array->items[i]);
			if (!g)
				return plan_error(p, s, GROVE_EPARSE, "node %s: group names must be strings", name);
			struct tree_op *op = new_op(p, TREE_OP_ADD_GROUP);
			op->node.id = -(int64_t)create_op - 1;
			op->name = g;
		}
	}
	bool *repeated_later = NULL;
	if ((err = find_repeated_props(s, &repeated_later)))
		return plan_error(p, s, err, "out of memory");
	for (size_t i = 0; !err && i < s->n_props; i++) {
		const char *key = s->props[i].key;
		if (repeated_later && repeated_later[i]) {
			char *renamed;
			if (asprintf(&renamed, SCENE_REPEATED_PROP_PREFIX "%zu:%s", i, key) < 0 ||
			    !(key = own_string(p, renamed))) {
				err = plan_error(p, s, GROVE_ENOMEM, "out of memory");
				break;
			}
		}
		err = plan_set(p, s, create_op, key, &s->props[i].value);
	}
	free(repeated_later);
	return err;
}

/* The CREATE op of the node at scene-relative @p path, or a planning error. */
static int node_op(struct planner *p, const struct tscn_section *s, const char *what, const struct variant *pathv,
		   int64_t *ref)
{
	const char *path = string_of(pathv);
	size_t op;
	if (!path)
		return plan_error(p, s, GROVE_EPARSE, "%s: %s is missing or not a string",
				  s->kind == TSCN_EDITABLE ? "editable" : "connection", what);
	int err = path_op(p, s, path, &op);
	if (!err)
		*ref = -(int64_t)op - 1;
	return err;
}

static int plan_connection(struct planner *p, size_t index)
{
	const struct tscn_section *s = &p->scene->sections[index];
	struct tree_op op = {.kind = TREE_OP_CONNECT, .index = -1};
	int err = node_op(p, s, "from", tscn_attr(s, "from"), &op.node.id);
	if (!err)
		err = node_op(p, s, "to", tscn_attr(s, "to"), &op.target.id);
	if (err)
		return err;
	op.name = string_of(tscn_attr(s, "signal"));
	op.text = string_of(tscn_attr(s, "method"));
	if (!op.name || !op.text)
		return plan_error(p, s, GROVE_EPARSE, "connection without signal or method");
	const struct variant *flags = tscn_attr(s, "flags"), *unbinds = tscn_attr(s, "unbinds");
	if ((flags && (flags->type != VARIANT_INT || flags->as.i < 0 || flags->as.i > 0xffff)) ||
	    (unbinds && (unbinds->type != VARIANT_INT || unbinds->as.i < 0 || unbinds->as.i > 0xffff)))
		return plan_error(p, s, GROVE_EPARSE, "connection flags and unbinds must be small integers");
	op.flags = (uint32_t)(flags ? flags->as.i : 0) | (uint32_t)(unbinds ? unbinds->as.i : 0) << 16;
	const struct variant *binds = tscn_attr(s, "binds");
	if (binds) {
		if (binds->type != VARIANT_ARRAY)
			return plan_error(p, s, GROVE_EPARSE, "connection binds must be an array");
		op.value = plan_value(p, s, binds, &err);
		if (!op.value)
			return err;
	}
	for (size_t i = 0; i < s->n_attrs; i++) {
		static const char *const known[] = {"signal", "from", "to", "method", "flags", "binds", "unbinds"};
		bool ok = false;
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]) && !ok; k++)
			ok = strcmp(s->attrs[i].key, known[k]) == 0;
		if (!ok)
			return plan_error(p, s, GROVE_EPARSE, "connection attribute %s is not supported", s->attrs[i].key);
	}
	*new_op(p, TREE_OP_CONNECT) = op;
	p->plan->connections++;
	return GROVE_OK;
}

static int plan_editable(struct planner *p, size_t index)
{
	const struct tscn_section *s = &p->scene->sections[index];
	int64_t ref = 0;
	int err = node_op(p, s, "path", tscn_attr(s, "path"), &ref);
	if (err)
		return err;
	struct tree_op *op = new_op(p, TREE_OP_SET_PROP);
	op->node.id = ref;
	op->name = "@editable";
	struct variant *slot = &p->plan->values[p->plan->n_values++];
	/* Its place among the file's [editable] sections: a node the file only names in a path has no place among
	 * its siblings that the file shows, so the order of the nodes would not give the file's order back. */
	variant_set_int(slot, ++p->editables);
	op->value = slot;
	return GROVE_OK;
}

/* An upper bound of the ops (and values) a section can produce. */
static size_t ops_for(const struct tscn_section *s)
{
	size_t n = 3 + s->n_attrs + s->n_props;
	/* Implicit nodes for the segments of every path the section names: two ops each. */
	for (size_t i = 0; i < s->n_attrs; i++) {
		const char *key = s->attrs[i].key;
		const char *path = strcmp(key, "parent") == 0 || strcmp(key, "from") == 0 || strcmp(key, "to") == 0 ||
					   strcmp(key, "path") == 0
				   ? string_of(&s->attrs[i].value)
				   : NULL;
		for (const char *c = path; c && *c; c++)
			n += *c == '/' ? 2 : 0;
		n += path ? 2 : 0;
	}
	const struct variant *groups = s->kind == TSCN_NODE ? tscn_attr(s, "groups") : NULL;
	if (groups && groups->type == VARIANT_ARRAY)
		n += groups->as.array->len;
	return n;
}

void scene_import_free(struct scene_import *plan)
{
	for (size_t i = 0; i < plan->n_values; i++)
		variant_free(&plan->values[i]);
	for (size_t i = 0; i < plan->n_strings; i++)
		free(plan->strings[i]);
	free(plan->values);
	free(plan->strings);
	free(plan->ops);
	memset(plan, 0, sizeof(*plan));
}

int scene_import_plan(const struct tscn_scene *scene, const char *at_path, const char *root_name,
		      struct scene_import *out, char *message, size_t message_cap)
{
	memset(out, 0, sizeof(*out));
	struct planner p = {.scene = scene, .plan = out, .message = message, .message_cap = message_cap};
	if (message_cap)
		message[0] = '\0';
	if (scene->count == 0 || scene->sections[0].kind != TSCN_GD_SCENE)
		return plan_error(&p, NULL, GROVE_EPARSE, "the scene has no gd_scene header");
	for (size_t i = 0; i < scene->count; i++)
		p.ops_cap += ops_for(&scene->sections[i]);
	out->ops = calloc(p.ops_cap + 1, sizeof(*out->ops));
	out->values = calloc(p.ops_cap + 1, sizeof(*out->values));
	p.section_op = malloc((scene->count + 1) * sizeof(*p.section_op));
	p.instanced = calloc(p.ops_cap + 1, sizeof(*p.instanced));
	int err = out->ops && out->values && p.section_op && p.instanced ? strmap_init(&p.paths, scene->count)
									  : GROVE_ENOMEM;
	if (err) {
		free(p.instanced);
		free(p.section_op);
		scene_import_free(out);
		return plan_error(&p, NULL, GROVE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < scene->count; i++)
		p.section_op[i] = SIZE_MAX;
	for (size_t i = 1; !err && i < scene->count; i++) {
		switch (scene->sections[i].kind) {
		case TSCN_EXT_RESOURCE:
		case TSCN_SUB_RESOURCE:
			err = plan_resource(&p, i);
			break;
		case TSCN_NODE:
			err = plan_node(&p, i, at_path, root_name);
			break;
		case TSCN_CONNECTION:
			err = plan_connection(&p, i);
			break;
		case TSCN_EDITABLE:
			err = plan_editable(&p, i);
			break;
		case TSCN_GD_SCENE:
			err = plan_error(&p, &scene->sections[i], GROVE_EPARSE, "a second gd_scene header");
			break;
		}
	}
	if (!err && !p.have_root)
		err = plan_error(&p, NULL, GROVE_EPARSE, "the scene has no nodes");
	strmap_free(&p.paths);
	free(p.section_op);
	free(p.instanced);
	if (err)
		scene_import_free(out);
	return err;
}
