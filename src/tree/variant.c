#include "src/tree/variant.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

static const char *const type_names[VARIANT_TYPE_MAX] = {
	[VARIANT_NIL] = "Nil",
	[VARIANT_BOOL] = "bool",
	[VARIANT_INT] = "int",
	[VARIANT_FLOAT] = "float",
	[VARIANT_STRING] = "String",
	[VARIANT_VECTOR2] = "Vector2",
	[VARIANT_VECTOR2I] = "Vector2i",
	[VARIANT_RECT2] = "Rect2",
	[VARIANT_RECT2I] = "Rect2i",
	[VARIANT_VECTOR3] = "Vector3",
	[VARIANT_VECTOR3I] = "Vector3i",
	[VARIANT_TRANSFORM2D] = "Transform2D",
	[VARIANT_VECTOR4] = "Vector4",
	[VARIANT_VECTOR4I] = "Vector4i",
	[VARIANT_PLANE] = "Plane",
	[VARIANT_QUATERNION] = "Quaternion",
	[VARIANT_AABB] = "AABB",
	[VARIANT_BASIS] = "Basis",
	[VARIANT_TRANSFORM3D] = "Transform3D",
	[VARIANT_PROJECTION] = "Projection",
	[VARIANT_COLOR] = "Color",
	[VARIANT_STRING_NAME] = "StringName",
	[VARIANT_NODE_PATH] = "NodePath",
	[VARIANT_RESOURCE_REF] = "Object",
	[VARIANT_CALLABLE] = "Callable",
	[VARIANT_SIGNAL] = "Signal",
	[VARIANT_DICTIONARY] = "Dictionary",
	[VARIANT_ARRAY] = "Array",
	[VARIANT_PACKED_BYTE_ARRAY] = "PackedByteArray",
	[VARIANT_PACKED_INT32_ARRAY] = "PackedInt32Array",
	[VARIANT_PACKED_INT64_ARRAY] = "PackedInt64Array",
	[VARIANT_PACKED_FLOAT32_ARRAY] = "PackedFloat32Array",
	[VARIANT_PACKED_FLOAT64_ARRAY] = "PackedFloat64Array",
	[VARIANT_PACKED_STRING_ARRAY] = "PackedStringArray",
	[VARIANT_PACKED_VECTOR2_ARRAY] = "PackedVector2Array",
	[VARIANT_PACKED_VECTOR3_ARRAY] = "PackedVector3Array",
	[VARIANT_PACKED_COLOR_ARRAY] = "PackedColorArray",
	[VARIANT_PACKED_VECTOR4_ARRAY] = "PackedVector4Array",
};

bool variant_type_valid(int type)
{
	return type >= 0 && type < VARIANT_TYPE_MAX && type_names[type] != NULL;
}

const char *variant_type_name(enum variant_type type)
{
	return variant_type_valid((int)type) ? type_names[type] : NULL;
}

static bool is_string_type(enum variant_type t)
{
	return t == VARIANT_STRING || t == VARIANT_STRING_NAME || t == VARIANT_NODE_PATH;
}

static bool is_packed_type(enum variant_type t)
{
	return t >= VARIANT_PACKED_BYTE_ARRAY && t <= VARIANT_PACKED_VECTOR4_ARRAY;
}

static bool is_int_vector_type(enum variant_type t)
{
	return t == VARIANT_VECTOR2I || t == VARIANT_VECTOR3I || t == VARIANT_VECTOR4I || t == VARIANT_RECT2I;
}

unsigned variant_component_count(enum variant_type type)
{
	switch (type) {
	case VARIANT_VECTOR2:
	case VARIANT_VECTOR2I:
		return 2;
	case VARIANT_VECTOR3:
	case VARIANT_VECTOR3I:
		return 3;
	case VARIANT_RECT2:
	case VARIANT_RECT2I:
	case VARIANT_VECTOR4:
	case VARIANT_VECTOR4I:
	case VARIANT_PLANE:
	case VARIANT_QUATERNION:
	case VARIANT_COLOR:
		return 4;
	case VARIANT_TRANSFORM2D:
	case VARIANT_AABB:
		return 6;
	case VARIANT_BASIS:
		return 9;
	case VARIANT_TRANSFORM3D:
		return 12;
	case VARIANT_PROJECTION:
		return 16;
	default:
		return 0;
	}
}

/* Real-component types whose components do not fit in `as.r` and live in `as.rs`. */
static bool reals_apart(enum variant_type type)
{
	const size_t inline_reals = sizeof(((struct variant){0}).as.r) / sizeof(double);
	return !is_int_vector_type(type) && variant_component_count(type) > inline_reals;
}

unsigned variant_packed_reals_per_element(enum variant_type type)
{
	switch (type) {
	case VARIANT_PACKED_FLOAT32_ARRAY:
	case VARIANT_PACKED_FLOAT64_ARRAY:
		return 1;
	case VARIANT_PACKED_VECTOR2_ARRAY:
		return 2;
	case VARIANT_PACKED_VECTOR3_ARRAY:
		return 3;
	case VARIANT_PACKED_COLOR_ARRAY:
	case VARIANT_PACKED_VECTOR4_ARRAY:
		return 4;
	default:
		return 0;
	}
}

/* Bytes per element of a packed array's payload (0 for strings). */
static size_t packed_elem_size(enum variant_type type)
{
	switch (type) {
	case VARIANT_PACKED_BYTE_ARRAY:
		return 1;
	case VARIANT_PACKED_INT32_ARRAY:
		return 4;
	case VARIANT_PACKED_INT64_ARRAY:
		return 8;
	case VARIANT_PACKED_STRING_ARRAY:
		return 0;
	default:
		return sizeof(double) * variant_packed_reals_per_element(type);
	}
}

static void typehint_free(struct variant_typehint *h)
{
	free(h->class_name);
	h->class_name = NULL;
	h->type = VARIANT_NIL;
	h->script = 0;
}

static void packed_free(enum variant_type type, struct variant_packed *p)
{
	if (!p)
		return;
	if (type == VARIANT_PACKED_STRING_ARRAY) {
		for (uint32_t i = 0; i < p->len; i++)
			free(p->as.strings.ptrs[i]);
		free(p->as.strings.ptrs);
		free(p->as.strings.lens);
	} else {
		free(p->as.bytes);
	}
	free(p);
}

void variant_free(struct variant *v)
{
	if (!v)
		return;
	switch (v->type) {
	case VARIANT_STRING:
	case VARIANT_STRING_NAME:
	case VARIANT_NODE_PATH:
		free(v->as.str.ptr);
		break;
	case VARIANT_ARRAY:
		if (v->as.array) {
			for (uint32_t i = 0; i < v->as.array->len; i++)
				variant_free(&v->as.array->items[i]);
			free(v->as.array->items);
			typehint_free(&v->as.array->elem);
			free(v->as.array);
		}
		break;
	case VARIANT_DICTIONARY:
		if (v->as.dict) {
			for (uint32_t i = 0; i < v->as.dict->len; i++) {
				variant_free(&v->as.dict->keys[i]);
				variant_free(&v->as.dict->values[i]);
			}
			free(v->as.dict->keys);
			free(v->as.dict->values);
			typehint_free(&v->as.dict->key);
			typehint_free(&v->as.dict->value);
			free(v->as.dict);
		}
		break;
	default:
		if (is_packed_type(v->type))
			packed_free(v->type, v->as.packed);
		else if (reals_apart(v->type))
			free(v->as.rs);
		break;
	}
	memset(v, 0, sizeof(*v));
}

void variant_set_nil(struct variant *v)
{
	memset(v, 0, sizeof(*v));
}

void variant_set_bool(struct variant *v, bool b)
{
	memset(v, 0, sizeof(*v));
	v->type = VARIANT_BOOL;
	v->as.b = b;
}

void variant_set_int(struct variant *v, int64_t i)
{
	memset(v, 0, sizeof(*v));
	v->type = VARIANT_INT;
	v->as.i = i;
}

void variant_set_float(struct variant *v, double f)
{
	memset(v, 0, sizeof(*v));
	v->type = VARIANT_FLOAT;
	v->as.f = f;
}

/* Make @p v a zero value of real-component @p type. */
static int set_zero_reals(struct variant *v, enum variant_type type)
{
	memset(v, 0, sizeof(*v));
	if (reals_apart(type) && !(v->as.rs = calloc(variant_component_count(type), sizeof(double))))
		return GROVE_ENOMEM;
	v->type = type;
	return GROVE_OK;
}

int variant_set_reals(struct variant *v, enum variant_type type, const double *r, unsigned n)
{
	int err = set_zero_reals(v, type);
	if (err)
		return err;
	double *to = variant_reals_mut(v);
	unsigned want = to ? variant_component_count(type) : 0;
	for (unsigned i = 0; i < n && i < want; i++)
		to[i] = r[i];
	return GROVE_OK;
}

double *variant_reals_mut(struct variant *v)
{
	if (is_int_vector_type(v->type) || !variant_component_count(v->type))
		return NULL;
	return reals_apart(v->type) ? v->as.rs : v->as.r;
}

const double *variant_reals(const struct variant *v)
{
	return variant_reals_mut((struct variant *)v);
}

void variant_set_ints(struct variant *v, enum variant_type type, const int32_t *iv, unsigned n)
{
	memset(v, 0, sizeof(*v));
	v->type = type;
	unsigned want = is_int_vector_type(type) ? variant_component_count(type) : 0;
	for (unsigned i = 0; i < n && i < want; i++)
		v->as.iv[i] = iv[i];
}

void variant_set_resource_ref(struct variant *v, int64_t ref)
{
	memset(v, 0, sizeof(*v));
	v->type = VARIANT_RESOURCE_REF;
	v->as.ref = ref;
}

int variant_set_string(struct variant *v, enum variant_type type, const char *s, size_t len)
{
	memset(v, 0, sizeof(*v));
	if (!is_string_type(type))
		return GROVE_EINVAL;
	if (len > UINT32_MAX - 1)
		return GROVE_ETOOBIG;
	char *copy = malloc(len + 1);
	if (!copy)
		return GROVE_ENOMEM;
	if (len)
		memcpy(copy, s, len);
	copy[len] = '\0';
	v->type = type;
	v->as.str.ptr = copy;
	v->as.str.len = (uint32_t)len;
	return GROVE_OK;
}

int variant_set_array(struct variant *v)
{
	memset(v, 0, sizeof(*v));
	struct variant_array *a = calloc(1, sizeof(*a));
	if (!a)
		return GROVE_ENOMEM;
	v->type = VARIANT_ARRAY;
	v->as.array = a;
	return GROVE_OK;
}

int variant_set_dict(struct variant *v)
{
	memset(v, 0, sizeof(*v));
	struct variant_dict *d = calloc(1, sizeof(*d));
	if (!d)
		return GROVE_ENOMEM;
	v->type = VARIANT_DICTIONARY;
	v->as.dict = d;
	return GROVE_OK;
}

int variant_set_packed(struct variant *v, enum variant_type type, uint32_t len)
{
	memset(v, 0, sizeof(*v));
	if (!is_packed_type(type))
		return GROVE_EINVAL;
	struct variant_packed *p = calloc(1, sizeof(*p));
	if (!p)
		return GROVE_ENOMEM;
	p->len = len;
	if (type == VARIANT_PACKED_STRING_ARRAY) {
		p->as.strings.ptrs = calloc(len ? len : 1, sizeof(char *));
		p->as.strings.lens = calloc(len ? len : 1, sizeof(uint32_t));
		bool ok = p->as.strings.ptrs && p->as.strings.lens;
		for (uint32_t i = 0; ok && i < len; i++)
			ok = (p->as.strings.ptrs[i] = calloc(1, 1)) != NULL;
		if (!ok) {
			packed_free(type, p);
			return GROVE_ENOMEM;
		}
	} else {
		size_t size = packed_elem_size(type);
		p->as.bytes = calloc(len ? len : 1, size);
		if (!p->as.bytes) {
			free(p);
			return GROVE_ENOMEM;
		}
	}
	v->type = type;
	v->as.packed = p;
	return GROVE_OK;
}

int variant_packed_set_string(struct variant *v, uint32_t index, const char *s, size_t len)
{
	if (v->type != VARIANT_PACKED_STRING_ARRAY)
		return GROVE_ETYPE;
	if (index >= v->as.packed->len)
		return GROVE_ERANGE;
	if (len > UINT32_MAX - 1)
		return GROVE_ETOOBIG;
	char *copy = malloc(len + 1);
	if (!copy)
		return GROVE_ENOMEM;
	if (len)
		memcpy(copy, s, len);
	copy[len] = '\0';
	free(v->as.packed->as.strings.ptrs[index]);
	v->as.packed->as.strings.ptrs[index] = copy;
	v->as.packed->as.strings.lens[index] = (uint32_t)len;
	return GROVE_OK;
}

static int grow(void **items, uint32_t *cap, uint32_t len, size_t size)
{
	if (len < *cap)
		return GROVE_OK;
	if (*cap >= UINT32_MAX / 2)
		return GROVE_ETOOBIG;
	uint32_t ncap = *cap ? *cap * 2 : 4;
	void *grown = realloc(*items, (size_t)ncap * size);
	if (!grown)
		return GROVE_ENOMEM;
	*items = grown;
	*cap = ncap;
	return GROVE_OK;
}

int variant_array_push(struct variant *array, struct variant *item)
{
	if (array->type != VARIANT_ARRAY)
		return GROVE_ETYPE;
	struct variant_array *a = array->as.array;
	void *items = a->items;
	int err = grow(&items, &a->cap, a->len, sizeof(struct variant));
	a->items = items;
	if (err)
		return err;
	a->items[a->len++] = *item;
	memset(item, 0, sizeof(*item));
	return GROVE_OK;
}

int variant_dict_put(struct variant *dict, struct variant *key, struct variant *value)
{
	if (dict->type != VARIANT_DICTIONARY)
		return GROVE_ETYPE;
	struct variant_dict *d = dict->as.dict;
	for (uint32_t i = 0; i < d->len; i++) {
		if (variant_equal(&d->keys[i], key)) {
			variant_free(&d->values[i]);
			d->values[i] = *value;
			memset(value, 0, sizeof(*value));
			variant_free(key);
			return GROVE_OK;
		}
	}
	if (d->len == d->cap) {
		uint32_t kcap = d->cap, vcap = d->cap;
		void *keys = d->keys, *values = d->values;
		int err = grow(&keys, &kcap, d->len, sizeof(struct variant));
		d->keys = keys;
		if (!err) {
			err = grow(&values, &vcap, d->len, sizeof(struct variant));
			d->values = values;
		}
		if (err)
			return err;
		d->cap = kcap < vcap ? kcap : vcap;
	}
	d->keys[d->len] = *key;
	d->values[d->len] = *value;
	d->len++;
	memset(key, 0, sizeof(*key));
	memset(value, 0, sizeof(*value));
	return GROVE_OK;
}

static int typehint_set(struct variant_typehint *h, enum variant_type type, const char *class_name)
{
	if (!variant_type_valid((int)type))
		return GROVE_EINVAL;
	char *copy = NULL;
	if (class_name) {
		copy = strdup(class_name);
		if (!copy)
			return GROVE_ENOMEM;
	}
	free(h->class_name);
	h->type = type;
	h->class_name = copy;
	h->script = 0;
	return GROVE_OK;
}

int variant_array_set_typehint(struct variant *array, enum variant_type type, const char *class_name)
{
	if (array->type != VARIANT_ARRAY)
		return GROVE_ETYPE;
	return typehint_set(&array->as.array->elem, type, class_name);
}

int variant_dict_set_typehints(struct variant *dict, enum variant_type key_type, const char *key_class,
			       enum variant_type value_type, const char *value_class)
{
	if (dict->type != VARIANT_DICTIONARY)
		return GROVE_ETYPE;
	int err = typehint_set(&dict->as.dict->key, key_type, key_class);
	return err ? err : typehint_set(&dict->as.dict->value, value_type, value_class);
}

static int each_resource_ref(struct variant *v, int (*fn)(void *ctx, int64_t *ref), void *ctx, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	int err = GROVE_OK;
	if (v->type == VARIANT_RESOURCE_REF)
		return v->as.ref ? fn(ctx, &v->as.ref) : GROVE_OK;
	if (v->type == VARIANT_ARRAY) {
		struct variant_array *a = v->as.array;
		if (a->elem.script)
			err = fn(ctx, &a->elem.script);
		for (uint32_t i = 0; !err && i < a->len; i++)
			err = each_resource_ref(&a->items[i], fn, ctx, depth + 1);
	} else if (v->type == VARIANT_DICTIONARY) {
		struct variant_dict *d = v->as.dict;
		if (d->key.script)
			err = fn(ctx, &d->key.script);
		if (!err && d->value.script)
			err = fn(ctx, &d->value.script);
		for (uint32_t i = 0; !err && i < d->len; i++) {
			err = each_resource_ref(&d->keys[i], fn, ctx, depth + 1);
			if (!err)
				err = each_resource_ref(&d->values[i], fn, ctx, depth + 1);
		}
	}
	return err;
}

int variant_each_resource_ref(struct variant *v, int (*fn)(void *ctx, int64_t *ref), void *ctx)
{
	return each_resource_ref(v, fn, ctx, 0);
}

/* ---- equality ---- */

static bool typehint_equal(const struct variant_typehint *a, const struct variant_typehint *b)
{
	if (a->type != b->type || a->script != b->script)
		return false;
	if (!a->class_name || !b->class_name)
		return a->class_name == b->class_name;
	return strcmp(a->class_name, b->class_name) == 0;
}

static bool packed_equal(enum variant_type type, const struct variant_packed *a, const struct variant_packed *b)
{
	if (a->len != b->len)
		return false;
	if (type == VARIANT_PACKED_STRING_ARRAY) {
		for (uint32_t i = 0; i < a->len; i++) {
			if (a->as.strings.lens[i] != b->as.strings.lens[i] ||
			    memcmp(a->as.strings.ptrs[i], b->as.strings.ptrs[i], a->as.strings.lens[i]) != 0)
				return false;
		}
		return true;
	}
	/* memcmp compares doubles by bit pattern, which is the equality we want. */
	return memcmp(a->as.bytes, b->as.bytes, (size_t)a->len * packed_elem_size(type)) == 0;
}

bool variant_equal(const struct variant *a, const struct variant *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case VARIANT_NIL:
	case VARIANT_CALLABLE:
	case VARIANT_SIGNAL:
		return true;
	case VARIANT_BOOL:
		return a->as.b == b->as.b;
	case VARIANT_INT:
		return a->as.i == b->as.i;
	case VARIANT_FLOAT:
		return memcmp(&a->as.f, &b->as.f, sizeof(double)) == 0;
	case VARIANT_STRING:
	case VARIANT_STRING_NAME:
	case VARIANT_NODE_PATH:
		return a->as.str.len == b->as.str.len && memcmp(a->as.str.ptr, b->as.str.ptr, a->as.str.len) == 0;
	case VARIANT_RESOURCE_REF:
		return a->as.ref == b->as.ref;
	case VARIANT_ARRAY: {
		const struct variant_array *x = a->as.array, *y = b->as.array;
		if (x->len != y->len || !typehint_equal(&x->elem, &y->elem))
			return false;
		for (uint32_t i = 0; i < x->len; i++)
			if (!variant_equal(&x->items[i], &y->items[i]))
				return false;
		return true;
	}
	case VARIANT_DICTIONARY: {
		const struct variant_dict *x = a->as.dict, *y = b->as.dict;
		if (x->len != y->len || !typehint_equal(&x->key, &y->key) || !typehint_equal(&x->value, &y->value))
			return false;
		for (uint32_t i = 0; i < x->len; i++)
			if (!variant_equal(&x->keys[i], &y->keys[i]) || !variant_equal(&x->values[i], &y->values[i]))
				return false;
		return true;
	}
	default:
		if (is_packed_type(a->type))
			return packed_equal(a->type, a->as.packed, b->as.packed);
		if (is_int_vector_type(a->type))
			return memcmp(a->as.iv, b->as.iv, sizeof(int32_t) * variant_component_count(a->type)) == 0;
		return memcmp(variant_reals(a), variant_reals(b), sizeof(double) * variant_component_count(a->type)) == 0;
	}
}

/* ---- copy (through the canonical form, which already handles every type and depth) ---- */

int variant_copy(struct variant *dst, const struct variant *src)
{
	struct grove_buf buf = {0};
	int err = variant_encode(src, &buf);
	if (!err && buf.failed)
		err = GROVE_ENOMEM;
	if (!err)
		err = variant_decode(dst, buf.data, buf.len, NULL);
	else
		memset(dst, 0, sizeof(*dst));
	grove_buf_free(&buf);
	return err == GROVE_ECORRUPT ? GROVE_ENOMEM : err;
}

/* ---- canonical binary form ---- */

static void put_le(struct grove_buf *b, uint64_t v, unsigned bytes)
{
	uint8_t tmp[8];
	for (unsigned i = 0; i < bytes; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	grove_buf_put(b, tmp, bytes);
}

static void put_double(struct grove_buf *b, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof(bits));
	put_le(b, bits, 8);
}

static void put_bytes(struct grove_buf *b, const char *s, uint32_t len)
{
	put_le(b, len, 4);
	grove_buf_put(b, s, len);
}

/* Set on a typehint's type byte when a script reference follows its class (no type id reaches it). */
#define HINT_HAS_SCRIPT 0x80u

static void put_typehint(struct grove_buf *b, const struct variant_typehint *h)
{
	put_le(b, (uint64_t)h->type | (h->script ? HINT_HAS_SCRIPT : 0), 1);
	const char *cls = h->class_name ? h->class_name : "";
	put_bytes(b, cls, (uint32_t)strlen(cls));
	if (h->script)
		put_le(b, (uint64_t)h->script, 8);
}

static int encode_at(const struct variant *v, struct grove_buf *out, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	if (!variant_type_valid((int)v->type))
		return GROVE_EINVAL;
	put_le(out, (uint64_t)v->type, 1);
	switch (v->type) {
	case VARIANT_NIL:
	case VARIANT_CALLABLE:
	case VARIANT_SIGNAL:
		return GROVE_OK;
	case VARIANT_BOOL:
		put_le(out, v->as.b ? 1 : 0, 1);
		return GROVE_OK;
	case VARIANT_INT:
		put_le(out, (uint64_t)v->as.i, 8);
		return GROVE_OK;
	case VARIANT_FLOAT:
		put_double(out, v->as.f);
		return GROVE_OK;
	case VARIANT_STRING:
	case VARIANT_STRING_NAME:
	case VARIANT_NODE_PATH:
		put_bytes(out, v->as.str.ptr, v->as.str.len);
		return GROVE_OK;
	case VARIANT_RESOURCE_REF:
		put_le(out, (uint64_t)v->as.ref, 8);
		return GROVE_OK;
	case VARIANT_ARRAY: {
		const struct variant_array *a = v->as.array;
		put_typehint(out, &a->elem);
		put_le(out, a->len, 4);
		for (uint32_t i = 0; i < a->len; i++) {
			int err = encode_at(&a->items[i], out, depth + 1);
			if (err)
				return err;
		}
		return GROVE_OK;
	}
	case VARIANT_DICTIONARY: {
		const struct variant_dict *d = v->as.dict;
		put_typehint(out, &d->key);
		put_typehint(out, &d->value);
		put_le(out, d->len, 4);
		for (uint32_t i = 0; i < d->len; i++) {
			int err = encode_at(&d->keys[i], out, depth + 1);
			if (!err)
				err = encode_at(&d->values[i], out, depth + 1);
			if (err)
				return err;
		}
		return GROVE_OK;
	}
	default:
		break;
	}
	if (is_packed_type(v->type)) {
		const struct variant_packed *p = v->as.packed;
		put_le(out, p->len, 4);
		switch (v->type) {
		case VARIANT_PACKED_BYTE_ARRAY:
			grove_buf_put(out, p->as.bytes, p->len);
			break;
		case VARIANT_PACKED_INT32_ARRAY:
			for (uint32_t i = 0; i < p->len; i++)
				put_le(out, (uint32_t)p->as.i32[i], 4);
			break;
		case VARIANT_PACKED_INT64_ARRAY:
			for (uint32_t i = 0; i < p->len; i++)
				put_le(out, (uint64_t)p->as.i64[i], 8);
			break;
		case VARIANT_PACKED_STRING_ARRAY:
			for (uint32_t i = 0; i < p->len; i++)
				put_bytes(out, p->as.strings.ptrs[i], p->as.strings.lens[i]);
			break;
		default: {
			size_t n = (size_t)p->len * variant_packed_reals_per_element(v->type);
			for (size_t i = 0; i < n; i++)
				put_double(out, p->as.reals[i]);
			break;
		}
		}
		return GROVE_OK;
	}
	unsigned n = variant_component_count(v->type);
	if (is_int_vector_type(v->type)) {
		for (unsigned i = 0; i < n; i++)
			put_le(out, (uint32_t)v->as.iv[i], 4);
	} else {
		const double *r = variant_reals(v);
		for (unsigned i = 0; i < n; i++)
			put_double(out, r[i]);
	}
	return GROVE_OK;
}

int variant_encode(const struct variant *v, struct grove_buf *out)
{
	size_t start = out->len;
	int err = encode_at(v, out, 0);
	if (err && !out->failed)
		out->len = start;
	if (!err && out->failed)
		err = GROVE_ENOMEM;
	return err;
}

/* Bounds-checked little-endian reader over untrusted bytes. */
struct reader {
	const uint8_t *p;
	const uint8_t *end;
};

static bool get_le(struct reader *r, unsigned bytes, uint64_t *out)
{
	if ((size_t)(r->end - r->p) < bytes)
		return false;
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	*out = v;
	return true;
}

static bool get_double(struct reader *r, double *d)
{
	uint64_t bits;
	if (!get_le(r, 8, &bits))
		return false;
	memcpy(d, &bits, sizeof(*d));
	return true;
}

/* A counted element list must fit in what remains: each element takes at least @p min_size bytes. */
static bool count_fits(const struct reader *r, uint64_t count, size_t min_size)
{
	return count <= UINT32_MAX && count * min_size <= (uint64_t)(r->end - r->p);
}

static int get_string(struct reader *r, char **out, uint32_t *len_out)
{
	uint64_t len;
	if (!get_le(r, 4, &len) || len > (uint64_t)(r->end - r->p))
		return GROVE_ECORRUPT;
	char *s = malloc(len + 1);
	if (!s)
		return GROVE_ENOMEM;
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	*out = s;
	*len_out = (uint32_t)len;
	return GROVE_OK;
}

static int get_typehint(struct reader *r, struct variant_typehint *h)
{
	uint64_t type;
	if (!get_le(r, 1, &type))
		return GROVE_ECORRUPT;
	bool has_script = (type & HINT_HAS_SCRIPT) != 0;
	type &= ~(uint64_t)HINT_HAS_SCRIPT;
	if (!variant_type_valid((int)type) || (has_script && type != VARIANT_RESOURCE_REF))
		return GROVE_ECORRUPT;
	char *cls;
	uint32_t len;
	int err = get_string(r, &cls, &len);
	if (err)
		return err;
	h->type = (enum variant_type)type;
	if (len == 0 || strlen(cls) != len) {
		free(cls);
		if (len)
			return GROVE_ECORRUPT;
		cls = NULL;
	}
	uint64_t script = 0;
	/* A script reference of 0 would not have set the bit: such bytes are forged. */
	if (has_script && (!get_le(r, 8, &script) || script == 0)) {
		free(cls);
		return GROVE_ECORRUPT;
	}
	h->class_name = cls;
	h->script = (int64_t)script;
	return GROVE_OK;
}

static int decode_at(struct variant *v, struct reader *r, int depth);

static int decode_packed(struct variant *v, enum variant_type type, struct reader *r)
{
	uint64_t count;
	if (!get_le(r, 4, &count))
		return GROVE_ECORRUPT;
	size_t min = type == VARIANT_PACKED_STRING_ARRAY ? 4 : packed_elem_size(type);
	if (!count_fits(r, count, min))
		return GROVE_ECORRUPT;
	int err = variant_set_packed(v, type, (uint32_t)count);
	if (err)
		return err;
	struct variant_packed *p = v->as.packed;
	uint64_t x = 0;
	for (uint32_t i = 0; i < p->len; i++) {
		switch (type) {
		case VARIANT_PACKED_BYTE_ARRAY:
			get_le(r, 1, &x);
			p->as.bytes[i] = (uint8_t)x;
			break;
		case VARIANT_PACKED_INT32_ARRAY:
			get_le(r, 4, &x);
			p->as.i32[i] = (int32_t)(uint32_t)x;
			break;
		case VARIANT_PACKED_INT64_ARRAY:
			get_le(r, 8, &x);
			p->as.i64[i] = (int64_t)x;
			break;
		case VARIANT_PACKED_STRING_ARRAY: {
			char *s;
			uint32_t len;
			err = get_string(r, &s, &len);
			if (err)
				return err;
			free(p->as.strings.ptrs[i]);
			p->as.strings.ptrs[i] = s;
			p->as.strings.lens[i] = len;
			break;
		}
		default: {
			unsigned per = variant_packed_reals_per_element(type);
			for (unsigned k = 0; k < per; k++)
				if (!get_double(r, &p->as.reals[(size_t)i * per + k]))
					return GROVE_ECORRUPT;
			break;
		}
		}
	}
	return GROVE_OK;
}

static int decode_value(struct variant *v, struct reader *r, int depth)
{
	memset(v, 0, sizeof(*v));
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	uint64_t tag, x;
	if (!get_le(r, 1, &tag) || !variant_type_valid((int)tag))
		return GROVE_ECORRUPT;
	enum variant_type type = (enum variant_type)tag;
	switch (type) {
	case VARIANT_NIL:
		return GROVE_OK;
	case VARIANT_CALLABLE:
	case VARIANT_SIGNAL:
		v->type = type;
		return GROVE_OK;
	case VARIANT_BOOL:
		if (!get_le(r, 1, &x) || x > 1)
			return GROVE_ECORRUPT;
		variant_set_bool(v, x == 1);
		return GROVE_OK;
	case VARIANT_INT:
		if (!get_le(r, 8, &x))
			return GROVE_ECORRUPT;
		variant_set_int(v, (int64_t)x);
		return GROVE_OK;
	case VARIANT_FLOAT: {
		double d;
		if (!get_double(r, &d))
			return GROVE_ECORRUPT;
		variant_set_float(v, d);
		return GROVE_OK;
	}
	case VARIANT_STRING:
	case VARIANT_STRING_NAME:
	case VARIANT_NODE_PATH: {
		char *s;
		uint32_t len;
		int err = get_string(r, &s, &len);
		if (err)
			return err;
		v->type = type;
		v->as.str.ptr = s;
		v->as.str.len = len;
		return GROVE_OK;
	}
	case VARIANT_RESOURCE_REF:
		if (!get_le(r, 8, &x))
			return GROVE_ECORRUPT;
		variant_set_resource_ref(v, (int64_t)x);
		return GROVE_OK;
	case VARIANT_ARRAY: {
		int err = variant_set_array(v);
		if (err)
			return err;
		err = get_typehint(r, &v->as.array->elem);
		if (!err && (!get_le(r, 4, &x) || !count_fits(r, x, 1)))
			err = GROVE_ECORRUPT;
		for (uint64_t i = 0; !err && i < x; i++) {
			struct variant item;
			err = decode_at(&item, r, depth + 1);
			if (!err) {
				err = variant_array_push(v, &item);
				if (err)
					variant_free(&item);
			}
		}
		return err;
	}
	case VARIANT_DICTIONARY: {
		int err = variant_set_dict(v);
		if (err)
			return err;
		err = get_typehint(r, &v->as.dict->key);
		if (!err)
			err = get_typehint(r, &v->as.dict->value);
		if (!err && (!get_le(r, 4, &x) || !count_fits(r, x, 2)))
			err = GROVE_ECORRUPT;
		for (uint64_t i = 0; !err && i < x; i++) {
			struct variant key, value = {0};
			err = decode_at(&key, r, depth + 1);
			if (!err)
				err = decode_at(&value, r, depth + 1);
			if (!err) {
				/* The canonical form never repeats a key; a repeat is forged input. */
				for (uint32_t k = 0; !err && k < v->as.dict->len; k++)
					if (variant_equal(&v->as.dict->keys[k], &key))
						err = GROVE_ECORRUPT;
			}
			if (!err)
				err = variant_dict_put(v, &key, &value);
			if (err) {
				variant_free(&key);
				variant_free(&value);
			}
		}
		return err;
	}
	default:
		break;
	}
	if (is_packed_type(type))
		return decode_packed(v, type, r);
	unsigned n = variant_component_count(type);
	int err = set_zero_reals(v, type);
	if (err)
		return err;
	double *reals = variant_reals_mut(v);
	for (unsigned i = 0; i < n; i++) {
		if (is_int_vector_type(type)) {
			if (!get_le(r, 4, &x))
				return GROVE_ECORRUPT;
			v->as.iv[i] = (int32_t)(uint32_t)x;
		} else if (!get_double(r, &reals[i])) {
			return GROVE_ECORRUPT;
		}
	}
	return GROVE_OK;
}

/* Decode one value; on failure nothing stays allocated and *v is NIL. */
static int decode_at(struct variant *v, struct reader *r, int depth)
{
	int err = decode_value(v, r, depth);
	if (err)
		variant_free(v);
	return err;
}

int variant_decode(struct variant *v, const uint8_t *data, size_t len, size_t *consumed)
{
	struct reader r = {data, data + len};
	int err = decode_at(v, &r, 0);
	if (err)
		return err;
	if (consumed)
		*consumed = (size_t)(r.p - data);
	return GROVE_OK;
}
