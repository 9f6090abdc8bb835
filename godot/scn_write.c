/* Writing the scene model as a binary PackedScene resource (.scn); the format is described in scn.h. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "godot/scn.h"
#include "godot/strmap.h"
#include "src/common/grow.h"
#include "src/common/error.h"
#include "src/common/bytes.h"

/* SceneState's packing constants (the same in Godot 3 and 4). */
#define TYPE_INSTANTIATED 0x7FFFFFFF
#define FLAG_ID_IS_PATH (1u << 30)
#define FLAG_INSTANCE_IS_PLACEHOLDER (1u << 30)
#define FLAG_PATH_PROPERTY_IS_NODE (1u << 30)
#define FLAG_MASK ((1u << 24) - 1)
#define NAME_INDEX_BITS 18
#define NAME_MASK ((1u << NAME_INDEX_BITS) - 1)
#define MAX_SAVED_INDEX ((1 << (32 - NAME_INDEX_BITS)) - 1)
#define CONNECT_PERSIST 2

/* Variant ids of the binary resource format. */
enum rsrc_type {
	RS_NIL = 1,
	RS_BOOL = 2,
	RS_INT = 3,
	RS_FLOAT = 4,
	RS_STRING = 5,
	RS_VECTOR2 = 10,
	RS_RECT2 = 11,
	RS_VECTOR3 = 12,
	RS_PLANE = 13,
	RS_QUATERNION = 14,
	RS_AABB = 15,
	RS_BASIS = 16,
	RS_TRANSFORM3D = 17,
	RS_TRANSFORM2D = 18,
	RS_COLOR = 20,
	RS_NODE_PATH = 22,
	RS_OBJECT = 24,
	RS_DICTIONARY = 26,
	RS_ARRAY = 30,
	RS_PACKED_BYTE = 31,
	RS_PACKED_INT32 = 32,
	RS_PACKED_FLOAT32 = 33,
	RS_PACKED_STRING = 34,
	RS_PACKED_VECTOR3 = 35,
	RS_PACKED_COLOR = 36,
	RS_PACKED_VECTOR2 = 37,
	RS_INT64 = 40,
	RS_DOUBLE = 41,
	RS_CALLABLE = 42,
	RS_SIGNAL = 43,
	RS_STRING_NAME = 44,
	RS_VECTOR2I = 45,
	RS_RECT2I = 46,
	RS_VECTOR3I = 47,
	RS_PACKED_INT64 = 48,
	RS_PACKED_FLOAT64 = 49,
	RS_VECTOR4 = 50,
	RS_VECTOR4I = 51,
	RS_PROJECTION = 52,
	RS_PACKED_VECTOR4 = 53,
};

enum { OBJECT_EMPTY = 0, OBJECT_INTERNAL_RESOURCE = 2, OBJECT_EXTERNAL_RESOURCE_INDEX = 3 };
enum { FORMAT_FLAG_NAMED_SCENE_IDS = 1, FORMAT_FLAG_UIDS = 2 };

/* The resource format type id of each Variant type with the same layout in Godot 3 and 4 (0: none). */
static const uint8_t common_ids[VARIANT_TYPE_MAX] = {
	[VARIANT_VECTOR2] = RS_VECTOR2,       [VARIANT_RECT2] = RS_RECT2,
	[VARIANT_VECTOR3] = RS_VECTOR3,       [VARIANT_PLANE] = RS_PLANE,
	[VARIANT_QUATERNION] = RS_QUATERNION, [VARIANT_AABB] = RS_AABB,
	[VARIANT_BASIS] = RS_BASIS,           [VARIANT_TRANSFORM3D] = RS_TRANSFORM3D,
	[VARIANT_TRANSFORM2D] = RS_TRANSFORM2D, [VARIANT_COLOR] = RS_COLOR,
	[VARIANT_PACKED_BYTE_ARRAY] = RS_PACKED_BYTE, [VARIANT_PACKED_INT32_ARRAY] = RS_PACKED_INT32,
	[VARIANT_PACKED_FLOAT32_ARRAY] = RS_PACKED_FLOAT32, [VARIANT_PACKED_STRING_ARRAY] = RS_PACKED_STRING,
	[VARIANT_PACKED_VECTOR3_ARRAY] = RS_PACKED_VECTOR3, [VARIANT_PACKED_COLOR_ARRAY] = RS_PACKED_COLOR,
	[VARIANT_PACKED_VECTOR2_ARRAY] = RS_PACKED_VECTOR2,
};

/* Types only Godot 4 has. */
static const uint8_t godot4_ids[VARIANT_TYPE_MAX] = {
	[VARIANT_VECTOR2I] = RS_VECTOR2I,     [VARIANT_RECT2I] = RS_RECT2I,
	[VARIANT_VECTOR3I] = RS_VECTOR3I,     [VARIANT_VECTOR4] = RS_VECTOR4,
	[VARIANT_VECTOR4I] = RS_VECTOR4I,     [VARIANT_PROJECTION] = RS_PROJECTION,
	[VARIANT_PACKED_INT64_ARRAY] = RS_PACKED_INT64, [VARIANT_PACKED_FLOAT64_ARRAY] = RS_PACKED_FLOAT64,
	[VARIANT_PACKED_VECTOR4_ARRAY] = RS_PACKED_VECTOR4,
	[VARIANT_CALLABLE] = RS_CALLABLE,     [VARIANT_SIGNAL] = RS_SIGNAL,
};

/* ---- the plan: every table of the file, pointing into the scene ---- */

struct int_list {
	int32_t *items;
	size_t len, cap;
};

/* Borrowed pointers (strings or values of the scene). */
struct ptr_list {
	const void **items;
	size_t len, cap;
};

/* Equal non-container values share one entry of "variants": open addressing over their indices. */
struct value_slot {
	uint64_t hash;  /* value_hash() of the value */
	uint32_t index; /* variant index + 1; 0 is empty */
};

struct value_set {
	struct value_slot *slots;
	size_t cap, count;
};

struct plan {
	const struct tscn_scene *scene;
	int major;
	struct scn_error *err;
	int format_version;
	int64_t scene_uid;
	struct strmap strings;       /* string table: property names of resource bodies */
	struct ptr_list string_list;
	size_t *section_slot;        /* per section: its ext index, internal index or node index */
	int64_t *sub_subindex;       /* Godot 3, per section: the integer id of a sub_resource */
	char **sub_path;             /* per section: "local://<id>" of a sub_resource, owned */
	struct ptr_list ext_sections, sub_sections; /* section indices + 1, cast to pointers */
	struct strmap names;         /* _bundled names */
	struct ptr_list name_list;
	struct ptr_list values;      /* _bundled variants */
	struct value_set value_index;
	struct int_list nodes, conns;
	size_t node_count, conn_count;
	struct ptr_list node_paths, editable;
	struct strmap node_index;    /* scene-relative path of a declared node -> its index */
	struct grove_buf path;       /* room to make a node's path in */
	int64_t base_scene;
	size_t current_section;      /* for messages */
	const char *current_key;
};

__attribute__((format(printf, 3, 4))) static int fail(struct plan *p, int code, const char *fmt, ...)
{
	if (!p->err)
		return code;
	char text[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	const struct tscn_section *s = p->current_section < p->scene->count ? &p->scene->sections[p->current_section] : NULL;
	if (s && s->line && p->current_key)
		snprintf(p->err->message, sizeof(p->err->message), "line %u, %s: %s", s->line, p->current_key, text);
	else if (s && s->line)
		snprintf(p->err->message, sizeof(p->err->message), "line %u: %s", s->line, text);
	else if (p->current_key)
		snprintf(p->err->message, sizeof(p->err->message), "section %zu, %s: %s", p->current_section,
			 p->current_key, text);
	else
		snprintf(p->err->message, sizeof(p->err->message), "%s", text);
	return code;
}

static int int_push(struct int_list *l, int32_t v)
{
	int e = grove_grow((void **)&l->items, &l->cap, l->len, sizeof(*l->items));
	if (!e)
		l->items[l->len++] = v;
	return e;
}

static int ptr_push(struct ptr_list *l, const void *v)
{
	int e = grove_grow((void **)&l->items, &l->cap, l->len, sizeof(*l->items));
	if (!e)
		l->items[l->len++] = v;
	return e;
}

/* The index of @p s in a string list, added if new. */
static int intern(struct strmap *map, struct ptr_list *list, const char *s, size_t *index)
{
	*index = list->len;
	int e = strmap_intern(map, s, index);
	return e || *index != list->len ? e : ptr_push(list, s);
}

static int add_name(struct plan *p, const char *s, int32_t *index)
{
	size_t i;
	int e = intern(&p->names, &p->name_list, s, &i);
	if (e)
		return e;
	if (i >= FLAG_PATH_PROPERTY_IS_NODE)
		return fail(p, GROVE_ETOOBIG, "more distinct names than a scene can index");
	*index = (int32_t)i;
	return GROVE_OK;
}

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
	const unsigned char *b = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* A hash consistent with variant_equal() for every non-container type. */
static uint64_t value_hash_bytes(const struct variant *v);

static uint64_t value_hash(const struct variant *v)
{
	/* FNV's low bits, which pick the slot, are weak for short binary values: finish with a full mix. */
	uint64_t h = value_hash_bytes(v);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t value_hash_bytes(const struct variant *v)
{
	uint64_t h = mix(1469598103934665603ull, &v->type, sizeof(v->type));
	switch (v->type) {
	case VARIANT_NIL:
	case VARIANT_CALLABLE:
	case VARIANT_SIGNAL:
		return h;
	case VARIANT_BOOL:
		return mix(h, &v->as.b, sizeof(v->as.b));
	case VARIANT_INT:
	case VARIANT_RESOURCE_REF:
		return mix(h, &v->as.i, sizeof(v->as.i));
	case VARIANT_FLOAT:
		return mix(h, &v->as.f, sizeof(v->as.f));
	case VARIANT_STRING:
	case VARIANT_STRING_NAME:
	case VARIANT_NODE_PATH:
		return mix(h, v->as.str.ptr, v->as.str.len);
	default:
		break;
	}
	unsigned n = variant_component_count(v->type);
	if (n && (v->type == VARIANT_VECTOR2I || v->type == VARIANT_VECTOR3I || v->type == VARIANT_VECTOR4I ||
		  v->type == VARIANT_RECT2I))
		return mix(h, v->as.iv, n * sizeof(int32_t));
	if (n)
		return mix(h, variant_reals(v), n * sizeof(double));
	const struct variant_packed *pk = v->as.packed;
	h = mix(h, &pk->len, sizeof(pk->len));
	switch (v->type) {
	case VARIANT_PACKED_BYTE_ARRAY:
		return mix(h, pk->as.bytes, pk->len);
	case VARIANT_PACKED_INT32_ARRAY:
		return mix(h, pk->as.i32, pk->len * sizeof(int32_t));
	case VARIANT_PACKED_INT64_ARRAY:
		return mix(h, pk->as.i64, pk->len * sizeof(int64_t));
	case VARIANT_PACKED_STRING_ARRAY:
		for (uint32_t i = 0; i < pk->len; i++)
			h = mix(h, pk->as.strings.ptrs[i], pk->as.strings.lens[i] + 1);
		return h;
	default:
		return mix(h, pk->as.reals, (size_t)pk->len * variant_packed_reals_per_element(v->type) * sizeof(double));
	}
}

static int value_set_grow(struct plan *p)
{
	struct value_set *s = &p->value_index;
	size_t ncap = s->cap ? 2 * s->cap : 1024;
	struct value_slot *slots = calloc(ncap, sizeof(*slots));
	if (!slots)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->slots[i].index)
			continue;
		size_t j = s->slots[i].hash & (ncap - 1);
		while (slots[j].index)
			j = (j + 1) & (ncap - 1);
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->cap = ncap;
	return GROVE_OK;
}

/*
 * The index of @p v in "variants". Arrays and dictionaries always get their own entry: Godot hands the
 * same Array object to every node that names the entry, and the text loader never shares one.
 */
static int add_value(struct plan *p, const struct variant *v, int32_t *index)
{
	bool shareable = v->type != VARIANT_ARRAY && v->type != VARIANT_DICTIONARY;
	struct value_set *s = &p->value_index;
	size_t slot = 0;
	uint64_t hash = 0;
	if (shareable) {
		if (2 * (s->count + 1) > s->cap) {
			int e = value_set_grow(p);
			if (e)
				return e;
		}
		hash = value_hash(v);
		for (slot = hash & (s->cap - 1); s->slots[slot].index; slot = (slot + 1) & (s->cap - 1)) {
			const struct value_slot *at = &s->slots[slot];
			if (at->hash == hash && variant_equal(p->values.items[at->index - 1], v)) {
				*index = (int32_t)(at->index - 1);
				return GROVE_OK;
			}
		}
	}
	if (p->values.len >= FLAG_MASK)
		return fail(p, GROVE_ETOOBIG, "more distinct values than a scene can index");
	int e = ptr_push(&p->values, v);
	if (e)
		return e;
	*index = (int32_t)(p->values.len - 1);
	if (shareable) {
		s->slots[slot] = (struct value_slot){hash, (uint32_t)p->values.len};
		s->count++;
	}
	return GROVE_OK;
}

static int add_node_path(struct plan *p, const char *path, int32_t *id)
{
	if (p->node_paths.len >= FLAG_MASK)
		return fail(p, GROVE_ETOOBIG, "more node paths than a scene can index");
	*id = (int32_t)(FLAG_ID_IS_PATH | p->node_paths.len);
	return ptr_push(&p->node_paths, path);
}

/* A node id: the index of a node the file declares, else a path resolved by Godot from the root. */
static int node_id(struct plan *p, const char *path, int32_t *id)
{
	size_t index;
	if (strmap_get(&p->node_index, path, &index)) {
		*id = (int32_t)index;
		return GROVE_OK;
	}
	return add_node_path(p, path, id);
}

static const char *string_of(const struct variant *v)
{
	if (v && (v->type == VARIANT_STRING || v->type == VARIANT_STRING_NAME || v->type == VARIANT_NODE_PATH))
		return v->as.str.ptr;
	return NULL;
}

/* ---- checking values against what the target version can hold ---- */

static const struct tscn_section *ref_section(const struct plan *p, const struct variant *v, size_t *index)
{
	uint64_t i = v->as.ref < 0 ? (uint64_t)(-(v->as.ref + 1)) : UINT64_MAX;
	if (i >= p->scene->count)
		return NULL;
	*index = (size_t)i;
	const struct tscn_section *s = &p->scene->sections[i];
	return s->kind == TSCN_EXT_RESOURCE || s->kind == TSCN_SUB_RESOURCE ? s : NULL;
}

static int check_value(struct plan *p, const struct variant *v, size_t before, int depth);

/*
 * The script typing a container must be a resource of the scene like any reference, though the file
 * does not name it: Godot's binary resources keep arrays and dictionaries untyped and its loader types
 * them again from the property they are set on.
 */
static int check_hint(struct plan *p, const struct variant_typehint *h, size_t before, int depth)
{
	if (!h->script)
		return GROVE_OK;
	struct variant ref;
	variant_set_resource_ref(&ref, h->script);
	return check_value(p, &ref, before, depth);
}

/*
 * Refuse what Godot @p major cannot hold before a byte is written. @p before: references to
 * sub_resources must name one declared before this section (Godot 3 resolves them while loading).
 */
static int check_value(struct plan *p, const struct variant *v, size_t before, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return fail(p, GROVE_ETOOBIG, "value nested deeper than %d", VARIANT_MAX_DEPTH);
	if (!variant_type_valid((int)v->type))
		return fail(p, GROVE_EINVAL, "a value of an unstorable type (%d)", (int)v->type);
	switch (v->type) {
	case VARIANT_RESOURCE_REF: {
		if (v->as.ref == 0)
			return GROVE_OK;
		size_t i;
		const struct tscn_section *s = ref_section(p, v, &i);
		if (!s)
			return fail(p, GROVE_EINVAL, "a reference to no ext_resource or sub_resource of the scene");
		if (s->kind == TSCN_SUB_RESOURCE && i >= before)
			return fail(p, GROVE_EINVAL, "a sub_resource refers to one declared after it");
		return GROVE_OK;
	}
	case VARIANT_ARRAY: {
		int e = check_hint(p, &v->as.array->elem, before, depth + 1);
		for (uint32_t i = 0; !e && i < v->as.array->len; i++)
			e = check_value(p, &v->as.array->items[i], before, depth + 1);
		return e;
	}
	case VARIANT_DICTIONARY: {
		int e = check_hint(p, &v->as.dict->key, before, depth + 1);
		if (!e)
			e = check_hint(p, &v->as.dict->value, before, depth + 1);
		for (uint32_t i = 0; !e && i < v->as.dict->len; i++) {
			e = check_value(p, &v->as.dict->keys[i], before, depth + 1);
			if (!e)
				e = check_value(p, &v->as.dict->values[i], before, depth + 1);
		}
		return e;
	}
	case VARIANT_PACKED_VECTOR4_ARRAY:
		if (p->major == 4)
			p->format_version = 6;
		break;
	case VARIANT_PACKED_INT64_ARRAY:
		if (p->major == 3) {
			for (uint32_t i = 0; i < v->as.packed->len; i++)
				if (v->as.packed->as.i64[i] < INT32_MIN || v->as.packed->as.i64[i] > INT32_MAX)
					return fail(p, GROVE_EINVAL,
						    "Godot 3 has no 64-bit int arrays and %" PRId64 " does not fit 32 bits",
						    v->as.packed->as.i64[i]);
			return GROVE_OK;
		}
		break;
	default:
		break;
	}
	if (p->major == 3 && godot4_ids[v->type] && v->type != VARIANT_PACKED_FLOAT64_ARRAY)
		return fail(p, GROVE_EINVAL, "Godot 3 has no %s", variant_type_name(v->type));
	return GROVE_OK;
}

/* ---- planning ---- */

/* Godot's ResourceUID text ("uid://...") as its 63-bit number; -1 (invalid) when it is not one. */
static int64_t uid_number(const char *text)
{
	if (!text || strncmp(text, "uid://", 6) != 0 || strcmp(text, "uid://<invalid>") == 0)
		return -1;
	const uint64_t letters = 'z' - 'a', base = letters + ('9' - '0');
	uint64_t uid = 0;
	for (const char *c = text + 6; *c; c++) {
		uid *= base;
		if (*c >= 'a' && *c <= 'z')
			uid += (uint64_t)(*c - 'a');
		else if (*c >= '0' && *c <= '9')
			uid += (uint64_t)(*c - '0') + letters;
		else
			return -1;
	}
	return (int64_t)(uid & INT64_MAX);
}

static int plan_resources(struct plan *p)
{
	const struct tscn_scene *sc = p->scene;
	int64_t max_id = 0;
	for (size_t i = 0; i < sc->count; i++) {
		if (sc->sections[i].kind != TSCN_SUB_RESOURCE)
			continue; /* not a search of every node's header */
		const struct variant *id = tscn_attr(&sc->sections[i], "id");
		if (id && id->type == VARIANT_INT && id->as.i > max_id)
			max_id = id->as.i;
	}
	struct strmap ids;
	int e = strmap_init(&ids, sc->count);
	for (size_t i = 0; !e && i < sc->count; i++) {
		const struct tscn_section *s = &sc->sections[i];
		if (s->kind != TSCN_EXT_RESOURCE && s->kind != TSCN_SUB_RESOURCE)
			continue;
		p->current_section = i;
		p->current_key = NULL;
		const char *type = string_of(tscn_attr(s, "type"));
		if (!type) {
			e = fail(p, GROVE_EINVAL, "resource without a type");
			break;
		}
		if (s->kind == TSCN_EXT_RESOURCE) {
			if (!string_of(tscn_attr(s, "path"))) {
				e = fail(p, GROVE_EINVAL, "ext_resource without a path");
				break;
			}
			p->section_slot[i] = p->ext_sections.len;
			e = ptr_push(&p->ext_sections, (const void *)(uintptr_t)(i + 1));
			continue;
		}
		p->section_slot[i] = p->sub_sections.len;
		e = ptr_push(&p->sub_sections, (const void *)(uintptr_t)(i + 1));
		/* Godot 3 names a sub-resource by a positive integer, Godot 4 by a string. */
		const struct variant *id = tscn_attr(s, "id");
		char text[32];
		const char *local = NULL;
		if (p->major == 3) {
			int64_t n = id && id->type == VARIANT_INT && id->as.i > 0 ? id->as.i : 0;
			snprintf(text, sizeof(text), "%" PRId64, n);
			if (!e && (n == 0 || strmap_get(&ids, text, &(size_t){0}))) {
				if (max_id >= INT32_MAX)
					e = fail(p, GROVE_ETOOBIG, "no free sub_resource id");
				n = ++max_id;
				snprintf(text, sizeof(text), "%" PRId64, n);
			}
			p->sub_subindex[i] = n;
			local = text;
		} else if (id && id->type == VARIANT_INT) {
			snprintf(text, sizeof(text), "%" PRId64, id->as.i);
			local = text;
		} else {
			local = string_of(id);
		}
		if (!e && !local)
			e = fail(p, GROVE_EINVAL, "sub_resource without a string or integer id");
		if (!e) {
			e = strmap_put(&ids, local, 0);
			if (e == GROVE_EEXIST)
				e = fail(p, GROVE_EINVAL, "sub_resource id %s is used twice", local);
		}
		if (!e && asprintf(&p->sub_path[i], "local://%s", local) < 0) {
			p->sub_path[i] = NULL;
			e = GROVE_ENOMEM;
		}
		for (size_t k = 0; !e && k < s->n_props; k++) {
			size_t index;
			p->current_key = s->props[k].key;
			/* Godot's loader takes an empty property name for a corrupt file, and loads none of it. */
			if (!s->props[k].key[0])
				e = fail(p, GROVE_EINVAL, "sub_resource %s has a property without a name", local);
			if (!e)
				e = check_value(p, &s->props[k].value, i, 0);
			if (!e)
				e = intern(&p->strings, &p->string_list, s->props[k].key, &index);
		}
	}
	strmap_free(&ids);
	return e;
}

/* An "index" attribute: Godot writes it as a string, a hand-made scene may use an int. */
static int64_t index_of(const struct variant *v)
{
	if (v && v->type == VARIANT_INT)
		return v->as.i;
	if (v && v->type == VARIANT_STRING) {
		char *end;
		long long n = strtoll(v->as.str.ptr, &end, 10);
		return end != v->as.str.ptr && *end == '\0' ? n : -1;
	}
	return -1;
}

/* Whether property @p key is listed in @p list, the node's node_paths attribute (Godot 4), if any. */
static bool is_node_path_property(const struct variant *list, const char *key)
{
	if (!list)
		return false;
	if (list->type == VARIANT_PACKED_STRING_ARRAY) {
		for (uint32_t i = 0; i < list->as.packed->len; i++)
			if (strcmp(list->as.packed->as.strings.ptrs[i], key) == 0)
				return true;
	} else if (list->type == VARIANT_ARRAY) {
		for (uint32_t i = 0; i < list->as.array->len; i++) {
			const char *name = string_of(&list->as.array->items[i]);
			if (name && strcmp(name, key) == 0)
				return true;
		}
	}
	return false;
}

/* The header attributes a node's entry uses (each the first of its key, as tscn_attr() finds it). */
struct node_attrs {
	const struct variant *name, *parent, *type, *instance, *placeholder, *owner, *index, *groups, *node_paths;
};

/* One pass over the attributes instead of a search per key: a scene may hold 100,000 nodes. */
static void node_attrs_of(const struct tscn_section *s, struct node_attrs *a)
{
	*a = (struct node_attrs){0};
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
		{"name", offsetof(struct node_attrs, name)},         {"parent", offsetof(struct node_attrs, parent)},
		{"type", offsetof(struct node_attrs, type)},         {"instance", offsetof(struct node_attrs, instance)},
		{"instance_placeholder", offsetof(struct node_attrs, placeholder)},
		{"owner", offsetof(struct node_attrs, owner)},       {"index", offsetof(struct node_attrs, index)},
		{"groups", offsetof(struct node_attrs, groups)},     {"node_paths", offsetof(struct node_attrs, node_paths)},
	};
	for (size_t k = 0; k < s->n_attrs; k++) {
		for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
			const struct variant **slot = (const struct variant **)((char *)a + keys[j].offset);
			if (!*slot && s->attrs[k].key[0] == keys[j].key[0] && strcmp(s->attrs[k].key, keys[j].key) == 0) {
				*slot = &s->attrs[k].value;
				break;
			}
		}
	}
}

static int plan_node(struct plan *p, size_t i)
{
	const struct tscn_section *s = &p->scene->sections[i];
	struct node_attrs a;
	node_attrs_of(s, &a);
	const char *name = string_of(a.name);
	const struct variant *parent_attr = a.parent;
	const char *parent = string_of(parent_attr);
	if (!name)
		return fail(p, GROVE_EINVAL, "node without a name");
	if (parent_attr && !parent)
		return fail(p, GROVE_EINVAL, "node %s: parent must be a string", name);
	if (!parent && p->node_count > 0)
		return fail(p, GROVE_EINVAL, "node %s: a second node without a parent", name);
	if (parent && p->node_count == 0)
		return fail(p, GROVE_EINVAL, "node %s comes before the scene's root", name);
	if (p->node_count >= FLAG_MASK)
		return fail(p, GROVE_ETOOBIG, "more nodes than a scene can index");
	int32_t parent_id = -1, owner_id = -1, type_id = TYPE_INSTANTIATED, name_id, instance = -1;
	int e = parent ? node_id(p, parent, &parent_id) : GROVE_OK;
	const char *type = string_of(a.type);
	if (!e && type)
		e = add_name(p, type, &type_id);
	if (!e)
		e = add_name(p, name, &name_id);
	if (!e && (uint32_t)name_id > NAME_MASK)
		return fail(p, GROVE_ETOOBIG, "node %s: more distinct names than a scene can index", name);
	const struct variant *inst = a.instance;
	if (!e && inst) {
		size_t ext;
		p->current_key = "instance";
		if (inst->type != VARIANT_RESOURCE_REF || !ref_section(p, inst, &ext) ||
		    p->scene->sections[ext].kind != TSCN_EXT_RESOURCE)
			return fail(p, GROVE_EINVAL, "node %s: instance must be an ExtResource", name);
		e = add_value(p, inst, &instance);
		if (!e && !parent) {
			/* An instanced root is scene inheritance. */
			p->base_scene = instance;
			instance = -1;
		}
	}
	const struct variant *placeholder = a.placeholder;
	if (!e && placeholder) {
		if (!string_of(placeholder) || !parent)
			return fail(p, GROVE_EINVAL, "node %s: instance_placeholder must be a path, and not on the root",
				    name);
		e = add_value(p, placeholder, &instance);
		instance = (int32_t)((uint32_t)instance | FLAG_INSTANCE_IS_PLACEHOLDER);
	}
	const char *owner = string_of(a.owner);
	if (!e && owner)
		e = node_id(p, owner, &owner_id);
	else if (parent && !(type_id == TYPE_INSTANTIATED && instance == -1))
		owner_id = 0;
	int64_t index = index_of(a.index);
	uint32_t name_index = (uint32_t)name_id;
	if (index >= 0 && index < MAX_SAVED_INDEX)
		name_index |= (uint32_t)(index + 1) << NAME_INDEX_BITS;
	struct int_list *n = &p->nodes;
	if (!e)
		e = int_push(n, parent_id);
	if (!e)
		e = int_push(n, owner_id);
	if (!e)
		e = int_push(n, type_id);
	if (!e)
		e = int_push(n, (int32_t)name_index);
	if (!e)
		e = int_push(n, instance);
	if (!e)
		e = int_push(n, (int32_t)s->n_props);
	for (size_t k = 0; !e && k < s->n_props; k++) {
		int32_t key, value;
		p->current_key = s->props[k].key;
		e = check_value(p, &s->props[k].value, p->scene->count, 0);
		if (!e)
			e = add_name(p, s->props[k].key, &key);
		if (!e)
			e = add_value(p, &s->props[k].value, &value);
		if (!e && p->major == 4 && is_node_path_property(a.node_paths, s->props[k].key))
			key = (int32_t)((uint32_t)key | FLAG_PATH_PROPERTY_IS_NODE);
		if (!e)
			e = int_push(n, key);
		if (!e)
			e = int_push(n, value);
	}
	p->current_key = "groups";
	const struct variant *groups = a.groups;
	if (!e && groups && groups->type != VARIANT_ARRAY && groups->type != VARIANT_PACKED_STRING_ARRAY)
		return fail(p, GROVE_EINVAL, "node %s: groups must be an array", name);
	uint32_t n_groups = !groups ? 0
			    : groups->type == VARIANT_ARRAY ? groups->as.array->len
							     : groups->as.packed->len;
	if (!e)
		e = int_push(n, (int32_t)n_groups);
	for (uint32_t k = 0; !e && k < n_groups; k++) {
		const char *g = groups->type == VARIANT_ARRAY ? string_of(&groups->as.array->items[k])
							      : groups->as.packed->as.strings.ptrs[k];
		int32_t gi;
		if (!g)
			return fail(p, GROVE_EINVAL, "node %s: group names must be strings", name);
		e = add_name(p, g, &gi);
		if (!e)
			e = int_push(n, gi);
	}
	if (e)
		return e;
	/* Register the node's own path for the nodes and connections that follow. */
	struct grove_buf *path = &p->path;
	path->len = 0;
	if (!parent) {
		grove_buf_put(path, ".", 1);
	} else {
		if (strcmp(parent, ".") != 0) {
			grove_buf_put(path, parent, strlen(parent));
			grove_buf_put(path, "/", 1);
		}
		grove_buf_put(path, name, strlen(name));
	}
	grove_buf_u8(path, 0);
	if (path->failed)
		return GROVE_ENOMEM;
	e = strmap_put(&p->node_index, (const char *)path->data, p->node_count);
	if (e == GROVE_EEXIST)
		return fail(p, GROVE_EINVAL, "node %s: a sibling has the same name", name);
	p->section_slot[i] = p->node_count++;
	return e;
}

static int plan_connection(struct plan *p, size_t i)
{
	const struct tscn_section *s = &p->scene->sections[i];
	const char *from = string_of(tscn_attr(s, "from")), *to = string_of(tscn_attr(s, "to"));
	const char *signal = string_of(tscn_attr(s, "signal")), *method = string_of(tscn_attr(s, "method"));
	if (!from || !to || !signal || !method)
		return fail(p, GROVE_EINVAL, "connection without from, to, signal or method");
	const struct variant *flags = tscn_attr(s, "flags"), *unbinds = tscn_attr(s, "unbinds");
	const struct variant *binds = tscn_attr(s, "binds");
	if ((flags && flags->type != VARIANT_INT) || (unbinds && unbinds->type != VARIANT_INT) ||
	    (binds && binds->type != VARIANT_ARRAY))
		return fail(p, GROVE_EINVAL, "connection flags and unbinds must be integers, binds an array");
	int32_t ids[4];
	int e = node_id(p, from, &ids[0]);
	if (!e)
		e = node_id(p, to, &ids[1]);
	if (!e)
		e = add_name(p, signal, &ids[2]);
	if (!e)
		e = add_name(p, method, &ids[3]);
	for (int k = 0; !e && k < 4; k++)
		e = int_push(&p->conns, ids[k]);
	if (!e)
		e = int_push(&p->conns, flags ? (int32_t)flags->as.i : CONNECT_PERSIST);
	uint32_t n_binds = binds ? binds->as.array->len : 0;
	if (!e)
		e = int_push(&p->conns, (int32_t)n_binds);
	p->current_key = "binds";
	for (uint32_t k = 0; !e && k < n_binds; k++) {
		int32_t value;
		e = check_value(p, &binds->as.array->items[k], p->scene->count, 0);
		if (!e)
			e = add_value(p, &binds->as.array->items[k], &value);
		if (!e)
			e = int_push(&p->conns, value);
	}
	/* Godot 3's bundle (version 2) has no unbinds. */
	if (!e && p->major == 4)
		e = int_push(&p->conns, unbinds ? (int32_t)unbinds->as.i : 0);
	if (!e)
		p->conn_count++;
	return e;
}

static int plan_scene(struct plan *p)
{
	const struct tscn_scene *sc = p->scene;
	p->format_version = p->major == 3 ? 3 : 4;
	p->base_scene = -1;
	p->current_section = SIZE_MAX;
	if (sc->count == 0 || sc->sections[0].kind != TSCN_GD_SCENE)
		return fail(p, GROVE_EINVAL, "the scene has no gd_scene header");
	p->scene_uid = uid_number(string_of(tscn_attr(&sc->sections[0], "uid")));
	p->section_slot = calloc(sc->count, sizeof(*p->section_slot));
	p->sub_subindex = calloc(sc->count, sizeof(*p->sub_subindex));
	p->sub_path = calloc(sc->count, sizeof(*p->sub_path));
	if (!p->section_slot || !p->sub_subindex || !p->sub_path)
		return GROVE_ENOMEM;
	int e = strmap_init(&p->strings, 64);
	if (!e)
		e = strmap_init(&p->names, 256);
	if (!e)
		e = strmap_init(&p->node_index, sc->count);
	if (!e)
		e = plan_resources(p);
	size_t index;
	if (!e)
		e = intern(&p->strings, &p->string_list, "_bundled", &index);
	for (size_t i = 1; !e && i < sc->count; i++) {
		p->current_section = i;
		p->current_key = NULL;
		switch (sc->sections[i].kind) {
		case TSCN_NODE:
			e = plan_node(p, i);
			break;
		case TSCN_CONNECTION:
			e = plan_connection(p, i);
			break;
		case TSCN_EDITABLE: {
			const char *path = string_of(tscn_attr(&sc->sections[i], "path"));
			e = path ? ptr_push(&p->editable, path) : fail(p, GROVE_EINVAL, "editable without a path");
			break;
		}
		case TSCN_GD_SCENE:
			e = fail(p, GROVE_EINVAL, "a second gd_scene header");
			break;
		default:
			break;
		}
	}
	p->current_section = SIZE_MAX;
	p->current_key = NULL;
	if (!e && p->node_count == 0)
		e = fail(p, GROVE_EINVAL, "the scene has no nodes");
	return e;
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; p->sub_path && i < p->scene->count; i++)
		free(p->sub_path[i]);
	free(p->sub_path);
	free(p->sub_subindex);
	free(p->section_slot);
	strmap_free(&p->strings);
	strmap_free(&p->names);
	strmap_free(&p->node_index);
	grove_buf_free(&p->path);
	free(p->string_list.items);
	free(p->name_list.items);
	free(p->values.items);
	free(p->value_index.slots);
	free(p->nodes.items);
	free(p->conns.items);
	free(p->ext_sections.items);
	free(p->sub_sections.items);
	free(p->node_paths.items);
	free(p->editable.items);
}

/* ---- emitting ---- */

/* Bytes go through a chunk to the sink (or only count, without one). */
struct out {
	const struct scn_sink *sink; /* NULL: count only */
	uint8_t chunk[1 << 16];
	size_t fill;
	uint64_t pos;                /* bytes emitted so far */
	int err;
};

static void flush(struct out *o)
{
	if (o->fill && o->sink && !o->err)
		o->err = o->sink->write(o->sink->ctx, o->chunk, o->fill);
	o->fill = 0;
}

static void put(struct out *o, const void *data, size_t len)
{
	o->pos += len;
	if (!o->sink || o->err)
		return;
	if (len > sizeof(o->chunk) - o->fill) {
		flush(o);
		if (len >= sizeof(o->chunk)) {
			if (!o->err)
				o->err = o->sink->write(o->sink->ctx, data, len);
			return;
		}
	}
	memcpy(o->chunk + o->fill, data, len);
	o->fill += len;
}

static void put_u32(struct out *o, uint32_t v)
{
	uint8_t b[4];
	put_le32(b, v);
	put(o, b, 4);
}

static void put_u64(struct out *o, uint64_t v)
{
	uint8_t b[8];
	put_le64(b, v);
	put(o, b, 8);
}

static void put_f32(struct out *o, double v)
{
	float f = (float)v;
	uint32_t bits;
	memcpy(&bits, &f, 4);
	put_u32(o, bits);
}

static void put_f64(struct out *o, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, 8);
	put_u64(o, bits);
}

/* Length with the NUL, the bytes, the NUL; @p inline_flag marks a string outside the string table. */
static void put_ustring(struct out *o, const char *s, size_t len, bool inline_flag)
{
	put_u32(o, (uint32_t)(len + 1) | (inline_flag ? 0x80000000u : 0));
	put(o, s, len);
	put(o, "", 1);
}

static void put_cstring(struct out *o, const char *s)
{
	put_ustring(o, s, strlen(s), false);
}

/* The non-empty parts of s[from, end) between @p sep characters: counted, and written inline if @p write. */
static uint32_t put_parts(struct out *o, const char *s, size_t from, size_t end, char sep, bool write)
{
	uint32_t n = 0;
	for (size_t i = from; i <= end; i++) {
		if (i < end && s[i] != sep)
			continue;
		if (i > from) {
			n++;
			if (write)
				put_ustring(o, s + from, i - from, true);
		}
		from = i + 1;
	}
	return n;
}

/* A NodePath's names ("a/b") and subnames (":c:d"), parsed as Godot's NodePath(String) does. */
static void put_node_path(struct out *o, const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t path_len = colon ? (size_t)(colon - s) : len;
	size_t sub_from = colon ? path_len + 1 : len;
	uint32_t names = put_parts(o, s, 0, path_len, '/', false);
	uint32_t subnames = put_parts(o, s, sub_from, len, ':', false);
	if (len > 0 && s[0] == '/')
		subnames |= 0x8000u; /* absolute */
	uint8_t counts[4] = {(uint8_t)names, (uint8_t)(names >> 8), (uint8_t)subnames, (uint8_t)(subnames >> 8)};
	put(o, counts, 4);
	put_parts(o, s, 0, path_len, '/', true);
	put_parts(o, s, sub_from, len, ':', true);
}

static void put_reals(struct out *o, const double *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_f32(o, r[i]);
}

static void put_variant(const struct plan *p, struct out *o, const struct variant *v);

static void put_resource_ref(const struct plan *p, struct out *o, const struct variant *v)
{
	put_u32(o, RS_OBJECT);
	uint64_t i = v->as.ref < 0 ? (uint64_t)(-(v->as.ref + 1)) : UINT64_MAX;
	if (i >= p->scene->count) { /* a null reference; check_value() let nothing else through */
		put_u32(o, OBJECT_EMPTY);
		return;
	}
	if (p->scene->sections[i].kind == TSCN_EXT_RESOURCE) {
		put_u32(o, OBJECT_EXTERNAL_RESOURCE_INDEX);
		put_u32(o, (uint32_t)p->section_slot[i]);
	} else {
		put_u32(o, OBJECT_INTERNAL_RESOURCE);
		put_u32(o, (uint32_t)(p->major == 3 ? p->sub_subindex[i] : (int64_t)p->section_slot[i]));
	}
}

static void put_packed(const struct plan *p, struct out *o, const struct variant *v)
{
	const struct variant_packed *pk = v->as.packed;
	enum variant_type type = v->type;
	/* Godot 3 keeps one int and one real pool: the values were checked to fit. */
	if (p->major == 3 && type == VARIANT_PACKED_INT64_ARRAY) {
		put_u32(o, RS_PACKED_INT32);
		put_u32(o, pk->len);
		for (uint32_t i = 0; i < pk->len; i++)
			put_u32(o, (uint32_t)(int32_t)pk->as.i64[i]);
		return;
	}
	if (p->major == 3 && type == VARIANT_PACKED_FLOAT64_ARRAY)
		type = VARIANT_PACKED_FLOAT32_ARRAY;
	put_u32(o, common_ids[type] ? common_ids[type] : godot4_ids[type]);
	put_u32(o, pk->len);
	switch (type) {
	case VARIANT_PACKED_BYTE_ARRAY:
		put(o, pk->as.bytes, pk->len);
		put(o, "\0\0\0", (4 - pk->len % 4) % 4);
		return;
	case VARIANT_PACKED_INT32_ARRAY:
		for (uint32_t i = 0; i < pk->len; i++)
			put_u32(o, (uint32_t)pk->as.i32[i]);
		return;
	case VARIANT_PACKED_INT64_ARRAY:
		for (uint32_t i = 0; i < pk->len; i++)
			put_u64(o, (uint64_t)pk->as.i64[i]);
		return;
	case VARIANT_PACKED_FLOAT64_ARRAY:
		for (uint32_t i = 0; i < pk->len; i++)
			put_f64(o, pk->as.reals[i]);
		return;
	case VARIANT_PACKED_STRING_ARRAY:
		for (uint32_t i = 0; i < pk->len; i++)
			put_ustring(o, pk->as.strings.ptrs[i], pk->as.strings.lens[i], false);
		return;
	default:
		put_reals(o, pk->as.reals, (size_t)pk->len * variant_packed_reals_per_element(type));
		return;
	}
}

static void put_variant(const struct plan *p, struct out *o, const struct variant *v)
{
	switch (v->type) {
	case VARIANT_NIL:
		put_u32(o, RS_NIL);
		return;
	case VARIANT_CALLABLE:
	case VARIANT_SIGNAL:
		/* Godot saves them as the type alone and loads them back empty. */
		put_u32(o, godot4_ids[v->type]);
		return;
	case VARIANT_BOOL:
		put_u32(o, RS_BOOL);
		put_u32(o, v->as.b);
		return;
	case VARIANT_INT:
		if (v->as.i >= INT32_MIN && v->as.i <= INT32_MAX) {
			put_u32(o, RS_INT);
			put_u32(o, (uint32_t)(int32_t)v->as.i);
		} else {
			put_u32(o, RS_INT64);
			put_u64(o, (uint64_t)v->as.i);
		}
		return;
	case VARIANT_FLOAT:
		if ((double)(float)v->as.f == v->as.f || isnan(v->as.f)) {
			put_u32(o, RS_FLOAT);
			put_f32(o, v->as.f);
		} else {
			put_u32(o, RS_DOUBLE);
			put_f64(o, v->as.f);
		}
		return;
	case VARIANT_STRING:
		put_u32(o, RS_STRING);
		put_ustring(o, v->as.str.ptr, v->as.str.len, false);
		return;
	case VARIANT_STRING_NAME:
		put_u32(o, p->major == 3 ? RS_STRING : RS_STRING_NAME);
		put_ustring(o, v->as.str.ptr, v->as.str.len, false);
		return;
	case VARIANT_NODE_PATH:
		put_u32(o, RS_NODE_PATH);
		put_node_path(o, v->as.str.ptr, v->as.str.len);
		return;
	case VARIANT_RESOURCE_REF:
		put_resource_ref(p, o, v);
		return;
	case VARIANT_ARRAY:
		put_u32(o, RS_ARRAY);
		put_u32(o, v->as.array->len);
		for (uint32_t i = 0; i < v->as.array->len; i++)
			put_variant(p, o, &v->as.array->items[i]);
		return;
	case VARIANT_DICTIONARY:
		put_u32(o, RS_DICTIONARY);
		put_u32(o, v->as.dict->len);
		for (uint32_t i = 0; i < v->as.dict->len; i++) {
			put_variant(p, o, &v->as.dict->keys[i]);
			put_variant(p, o, &v->as.dict->values[i]);
		}
		return;
	default:
		break;
	}
	if (variant_packed_reals_per_element(v->type) || v->type == VARIANT_PACKED_BYTE_ARRAY ||
	    v->type == VARIANT_PACKED_INT32_ARRAY || v->type == VARIANT_PACKED_INT64_ARRAY ||
	    v->type == VARIANT_PACKED_STRING_ARRAY) {
		put_packed(p, o, v);
		return;
	}
	unsigned n = variant_component_count(v->type);
	put_u32(o, common_ids[v->type] ? common_ids[v->type] : godot4_ids[v->type]);
	if (v->type == VARIANT_VECTOR2I || v->type == VARIANT_VECTOR3I || v->type == VARIANT_VECTOR4I ||
	    v->type == VARIANT_RECT2I) {
		for (unsigned i = 0; i < n; i++)
			put_u32(o, (uint32_t)v->as.iv[i]);
	} else {
		put_reals(o, variant_reals(v), n);
	}
}

/* A key of the bundle dictionary. */
static void put_key(struct out *o, const char *key)
{
	put_u32(o, RS_STRING);
	put_cstring(o, key);
}

static void put_key_int(struct out *o, const char *key, int64_t value)
{
	put_key(o, key);
	put_variant(NULL, o, &(struct variant){.type = VARIANT_INT, .as.i = value});
}

static void put_int_array(struct out *o, const char *key, const struct int_list *l)
{
	put_key(o, key);
	put_u32(o, RS_PACKED_INT32);
	put_u32(o, (uint32_t)l->len);
	for (size_t i = 0; i < l->len; i++)
		put_u32(o, (uint32_t)l->items[i]);
}

static void put_path_array(struct out *o, const char *key, const struct ptr_list *l)
{
	put_key(o, key);
	put_u32(o, RS_ARRAY);
	put_u32(o, (uint32_t)l->len);
	for (size_t i = 0; i < l->len; i++) {
		const char *path = l->items[i];
		put_u32(o, RS_NODE_PATH);
		put_node_path(o, path, strlen(path));
	}
}

/* The PackedScene's body: SceneState's bundle, straight from the plan. */
static void put_scene_body(const struct plan *p, struct out *o)
{
	size_t bundled;
	strmap_get(&p->strings, "_bundled", &bundled);
	put_cstring(o, "PackedScene");
	put_u32(o, 1);
	put_u32(o, (uint32_t)bundled);
	put_u32(o, RS_DICTIONARY);
	put_u32(o, p->base_scene >= 0 ? 10 : 9);
	put_key(o, "names");
	put_u32(o, RS_PACKED_STRING);
	put_u32(o, (uint32_t)p->name_list.len);
	for (size_t i = 0; i < p->name_list.len; i++)
		put_cstring(o, p->name_list.items[i]);
	put_key(o, "variants");
	put_u32(o, RS_ARRAY);
	put_u32(o, (uint32_t)p->values.len);
	for (size_t i = 0; i < p->values.len; i++)
		put_variant(p, o, p->values.items[i]);
	put_key_int(o, "node_count", (int64_t)p->node_count);
	put_int_array(o, "nodes", &p->nodes);
	put_key_int(o, "conn_count", (int64_t)p->conn_count);
	put_int_array(o, "conns", &p->conns);
	put_path_array(o, "node_paths", &p->node_paths);
	put_path_array(o, "editable_instances", &p->editable);
	if (p->base_scene >= 0)
		put_key_int(o, "base_scene", p->base_scene);
	put_key_int(o, "version", p->major == 3 ? 2 : 3);
}

/*
 * The whole file. @p offsets: the body positions, when a counting pass learned them (else zeros are
 * written); @p body_pos and @p field_pos receive where each body starts and where its offset is written.
 */
static void emit(const struct plan *p, struct out *o, const uint64_t *offsets, uint64_t *body_pos, uint64_t *field_pos)
{
	const struct tscn_scene *sc = p->scene;
	put(o, "RSRC", 4);
	put_u32(o, 0); /* little-endian */
	put_u32(o, 0); /* reals are 32-bit */
	put_u32(o, (uint32_t)p->major);
	put_u32(o, p->major == 3 ? 2 : p->format_version == 6 ? 3 : 0);
	put_u32(o, (uint32_t)p->format_version);
	put_cstring(o, "PackedScene");
	put_u64(o, 0); /* no import metadata */
	if (p->major == 3) {
		for (int i = 0; i < 14; i++)
			put_u32(o, 0);
	} else {
		put_u32(o, FORMAT_FLAG_NAMED_SCENE_IDS | FORMAT_FLAG_UIDS);
		put_u64(o, (uint64_t)p->scene_uid);
		for (int i = 0; i < 11; i++)
			put_u32(o, 0);
	}
	put_u32(o, (uint32_t)p->string_list.len);
	for (size_t i = 0; i < p->string_list.len; i++)
		put_cstring(o, p->string_list.items[i]);
	put_u32(o, (uint32_t)p->ext_sections.len);
	for (size_t k = 0; k < p->ext_sections.len; k++) {
		const struct tscn_section *s = &sc->sections[(uintptr_t)p->ext_sections.items[k] - 1];
		put_cstring(o, string_of(tscn_attr(s, "type")));
		put_cstring(o, string_of(tscn_attr(s, "path")));
		if (p->major == 4)
			put_u64(o, (uint64_t)uid_number(string_of(tscn_attr(s, "uid"))));
	}
	size_t n_internal = p->sub_sections.len + 1;
	put_u32(o, (uint32_t)n_internal);
	for (size_t k = 0; k < n_internal; k++) {
		const char *path = k < p->sub_sections.len ? p->sub_path[(uintptr_t)p->sub_sections.items[k] - 1] : "";
		put_cstring(o, path);
		field_pos[k] = o->pos;
		put_u64(o, offsets ? offsets[k] : 0);
	}
	for (size_t k = 0; k < p->sub_sections.len; k++) {
		const struct tscn_section *s = &sc->sections[(uintptr_t)p->sub_sections.items[k] - 1];
		body_pos[k] = o->pos;
		put_cstring(o, string_of(tscn_attr(s, "type")));
		put_u32(o, (uint32_t)s->n_props);
		for (size_t i = 0; i < s->n_props; i++) {
			size_t name;
			strmap_get(&p->strings, s->props[i].key, &name);
			put_u32(o, (uint32_t)name);
			put_variant(p, o, &s->props[i].value);
		}
	}
	body_pos[p->sub_sections.len] = o->pos;
	put_scene_body(p, o);
	put(o, "RSRC", 4);
	flush(o);
}

/* Plan, then hand the offset tables to @p write. */
static int write_scene(const struct tscn_scene *scene, int godot_major, struct scn_error *err,
		       int (*write)(const struct plan *p, uint64_t *body_pos, uint64_t *field_pos, void *ctx), void *ctx)
{
	if (err)
		err->message[0] = '\0';
	struct plan p = {.scene = scene, .major = godot_major, .err = err};
	if (godot_major != 3 && godot_major != 4)
		return fail(&p, GROVE_EINVAL, "Godot version must be 3 or 4");
	int e = plan_scene(&p);
	uint64_t *body_pos = NULL, *field_pos = NULL;
	if (!e) {
		body_pos = calloc(p.sub_sections.len + 1, sizeof(*body_pos));
		field_pos = calloc(p.sub_sections.len + 1, sizeof(*field_pos));
		e = body_pos && field_pos ? write(&p, body_pos, field_pos, ctx) : GROVE_ENOMEM;
	}
	if (e == GROVE_ENOMEM && err && !err->message[0])
		snprintf(err->message, sizeof(err->message), "out of memory");
	free(body_pos);
	free(field_pos);
	plan_free(&p);
	return e;
}

static int append_to_buffer(void *ctx, const void *data, size_t len)
{
	struct grove_buf *b = ctx;
	grove_buf_put(b, data, len);
	return b->failed ? GROVE_ENOMEM : GROVE_OK;
}

/* One pass into the buffer, then the offsets are patched in place. */
static int write_buffer(const struct plan *p, uint64_t *body_pos, uint64_t *field_pos, void *ctx)
{
	struct grove_buf *buf = ctx;
	size_t start = buf->len;
	struct scn_sink sink = {append_to_buffer, buf};
	struct out *o = malloc(sizeof(*o));
	if (!o)
		return GROVE_ENOMEM;
	*o = (struct out){.sink = &sink};
	emit(p, o, NULL, body_pos, field_pos);
	int e = o->err;
	free(o);
	for (size_t k = 0; !e && k <= p->sub_sections.len; k++)
		put_le64(buf->data + start + field_pos[k], body_pos[k]);
	if (e)
		buf->len = start;
	return e;
}

/* A counting pass learns the offsets; the second pass streams. */
static int write_stream(const struct plan *p, uint64_t *body_pos, uint64_t *field_pos, void *ctx)
{
	struct out *o = malloc(sizeof(*o));
	if (!o)
		return GROVE_ENOMEM;
	*o = (struct out){.sink = NULL};
	emit(p, o, NULL, body_pos, field_pos);
	*o = (struct out){.sink = ctx};
	emit(p, o, body_pos, body_pos, field_pos);
	int e = o->err;
	free(o);
	return e;
}

int scn_write(const struct tscn_scene *scene, int godot_major, struct grove_buf *out, struct scn_error *err)
{
	if (out->failed)
		return GROVE_ENOMEM;
	return write_scene(scene, godot_major, err, write_buffer, out);
}

int scn_write_to(const struct tscn_scene *scene, int godot_major, const struct scn_sink *sink, struct scn_error *err)
{
	return write_scene(scene, godot_major, err, write_stream, (void *)sink);
}
