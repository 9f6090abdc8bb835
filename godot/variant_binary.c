#include "godot/variant_binary.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

#define FLAG_64 (1u << 16)
#define FLAG_OBJECT_AS_ID (1u << 16)
#define TYPED_SHIFT 16 /* arrays and dictionary keys: bits 16-17; dictionary values: bits 18-19 */
enum { TYPED_NONE = 0, TYPED_BUILTIN = 1, TYPED_CLASS = 2, TYPED_SCRIPT = 3 };

/* Godot 3's type ids, in grove's (Godot 4) terms; -1 where grove stores nothing. */
static const int godot3_to_grove[] = {
	VARIANT_NIL,          VARIANT_BOOL,          VARIANT_INT,
	VARIANT_FLOAT,        VARIANT_STRING,        VARIANT_VECTOR2,
	VARIANT_RECT2,        VARIANT_VECTOR3,       VARIANT_TRANSFORM2D,
	VARIANT_PLANE,        VARIANT_QUATERNION,    VARIANT_AABB,
	VARIANT_BASIS,        VARIANT_TRANSFORM3D,   VARIANT_COLOR,
	VARIANT_NODE_PATH,    -1 /* RID */,          VARIANT_RESOURCE_REF,
	VARIANT_DICTIONARY,   VARIANT_ARRAY,         VARIANT_PACKED_BYTE_ARRAY,
	VARIANT_PACKED_INT32_ARRAY, VARIANT_PACKED_FLOAT32_ARRAY, VARIANT_PACKED_STRING_ARRAY,
	VARIANT_PACKED_VECTOR2_ARRAY, VARIANT_PACKED_VECTOR3_ARRAY, VARIANT_PACKED_COLOR_ARRAY,
};

static int grove_to_godot3(enum variant_type t)
{
	/* Godot 3 has plain strings, one int pool and one real pool. */
	if (t == VARIANT_STRING_NAME)
		return 4;
	if (t == VARIANT_PACKED_INT64_ARRAY)
		return 21;
	if (t == VARIANT_PACKED_FLOAT64_ARRAY)
		return 22;
	for (int i = 0; i < (int)(sizeof(godot3_to_grove) / sizeof(godot3_to_grove[0])); i++)
		if (godot3_to_grove[i] == (int)t)
			return i;
	return -1;
}

static bool stored_in_grove(int godot4_type)
{
	return variant_type_valid(godot4_type);
}

/* Real-component types whose Godot 4 encoding can carry 64-bit floats. */
static bool real_t_type(enum variant_type t)
{
	switch (t) {
	case VARIANT_VECTOR2:
	case VARIANT_RECT2:
	case VARIANT_VECTOR3:
	case VARIANT_TRANSFORM2D:
	case VARIANT_VECTOR4:
	case VARIANT_PLANE:
	case VARIANT_QUATERNION:
	case VARIANT_AABB:
	case VARIANT_BASIS:
	case VARIANT_TRANSFORM3D:
	case VARIANT_PROJECTION:
	case VARIANT_PACKED_VECTOR2_ARRAY:
	case VARIANT_PACKED_VECTOR3_ARRAY:
	case VARIANT_PACKED_VECTOR4_ARRAY:
		return true;
	default:
		return false;
	}
}

static bool int_vector_type(enum variant_type t)
{
	return t == VARIANT_VECTOR2I || t == VARIANT_VECTOR3I || t == VARIANT_VECTOR4I || t == VARIANT_RECT2I;
}

static bool float32_exact(double d)
{
	float f = (float)d;
	double back = f;
	/* Bit for bit: a NaN whose payload float32 cannot hold goes wide too, so it reads back the same. */
	return memcmp(&back, &d, sizeof(d)) == 0;
}

/* ---- encoding ---- */

static void put_u32(struct grove_buf *b, uint32_t v)
{
	uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	grove_buf_put(b, t, 4);
}

static void put_u64(struct grove_buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static void put_f32(struct grove_buf *b, double d)
{
	float f = (float)d;
	uint32_t bits;
	memcpy(&bits, &f, 4);
	put_u32(b, bits);
}

static void put_f64(struct grove_buf *b, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	put_u64(b, bits);
}

static void put_string(struct grove_buf *b, const char *s, uint32_t len)
{
	static const uint8_t zeros[4] = {0};
	put_u32(b, len);
	grove_buf_put(b, s, len);
	if (len % 4)
		grove_buf_put(b, zeros, 4 - len % 4);
}

static void put_reals(struct grove_buf *b, const double *r, size_t n, bool wide)
{
	for (size_t i = 0; i < n; i++) {
		if (wide)
			put_f64(b, r[i]);
		else
			put_f32(b, r[i]);
	}
}

/* Godot 4 writes real components as float64 (with the flag) only when float32 would lose them. */
static bool needs_wide(const double *r, size_t n, int major)
{
	if (major == 3)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!float32_exact(r[i]))
			return true;
	return false;
}

/* "a/b:c:d" -> names a, b and subnames c, d. */
static void put_node_path(struct grove_buf *b, const char *path, uint32_t len)
{
	bool absolute = len > 0 && path[0] == '/';
	const char *colon = memchr(path, ':', len);
	uint32_t names_end = colon ? (uint32_t)(colon - path) : len;
	uint32_t names = 0, subnames = 0;
	for (uint32_t i = absolute; i < names_end;) {
		uint32_t j = i;
		while (j < names_end && path[j] != '/')
			j++;
		names += j > i;
		i = j + 1;
	}
	for (uint32_t i = names_end; i < len; i++)
		subnames += path[i] == ':';
	put_u32(b, names | 0x80000000u);
	put_u32(b, subnames);
	put_u32(b, absolute ? 1 : 0);
	for (uint32_t i = absolute; i < names_end;) {
		uint32_t j = i;
		while (j < names_end && path[j] != '/')
			j++;
		if (j > i)
			put_string(b, path + i, j - i);
		i = j + 1;
	}
	for (uint32_t i = names_end; i < len;) {
		uint32_t j = i + 1;
		while (j < len && path[j] != ':')
			j++;
		put_string(b, path + i + 1, j - i - 1);
		i = j;
	}
}

static int encode_at(const struct variant *v, int major, struct grove_buf *out, int depth);

/*
 * The container type info of a Godot 4 typed array or dictionary side. A script-typed side goes the way
 * Godot sends it when objects travel as ids (as grove's references do): as a class name, since the
 * script-path form is for full objects only and the receiver could not load grove's scripts by path.
 */
static uint32_t typed_kind(const struct variant_typehint *h)
{
	if (h->type == VARIANT_NIL)
		return TYPED_NONE;
	return h->type == VARIANT_RESOURCE_REF && (h->class_name || h->script) ? TYPED_CLASS : TYPED_BUILTIN;
}

static void put_typed_info(struct grove_buf *b, const struct variant_typehint *h)
{
	uint32_t kind = typed_kind(h);
	const char *cls = h->class_name ? h->class_name : "Object";
	if (kind == TYPED_BUILTIN)
		put_u32(b, h->type == VARIANT_RESOURCE_REF ? 24 : (uint32_t)h->type);
	else if (kind == TYPED_CLASS)
		put_string(b, cls, (uint32_t)strlen(cls));
}

static int encode_packed(const struct variant *v, int major, struct grove_buf *out, uint32_t header)
{
	const struct variant_packed *p = v->as.packed;
	unsigned per = variant_packed_reals_per_element(v->type);
	size_t nreals = (size_t)p->len * per;
	bool wide = false;
	switch (v->type) {
	case VARIANT_PACKED_INT64_ARRAY:
		if (major == 3) {
			for (uint32_t i = 0; i < p->len; i++)
				if (p->as.i64[i] < INT32_MIN || p->as.i64[i] > INT32_MAX)
					return GROVE_EINVAL;
		}
		break;
	case VARIANT_PACKED_FLOAT64_ARRAY:
		if (major == 3)
			for (uint32_t i = 0; i < p->len; i++)
				if (!float32_exact(p->as.reals[i]))
					return GROVE_EINVAL;
		break;
	case VARIANT_PACKED_VECTOR4_ARRAY:
		if (major == 3)
			return GROVE_EINVAL;
		wide = needs_wide(p->as.reals, nreals, major);
		break;
	case VARIANT_PACKED_VECTOR2_ARRAY:
	case VARIANT_PACKED_VECTOR3_ARRAY:
		wide = needs_wide(p->as.reals, nreals, major);
		break;
	default:
		break;
	}
	put_u32(out, header | (wide ? FLAG_64 : 0));
	put_u32(out, p->len);
	switch (v->type) {
	case VARIANT_PACKED_BYTE_ARRAY: {
		static const uint8_t zeros[4] = {0};
		grove_buf_put(out, p->as.bytes, p->len);
		if (p->len % 4)
			grove_buf_put(out, zeros, 4 - p->len % 4);
		break;
	}
	case VARIANT_PACKED_INT32_ARRAY:
		for (uint32_t i = 0; i < p->len; i++)
			put_u32(out, (uint32_t)p->as.i32[i]);
		break;
	case VARIANT_PACKED_INT64_ARRAY:
		for (uint32_t i = 0; i < p->len; i++) {
			if (major == 3)
				put_u32(out, (uint32_t)(int32_t)p->as.i64[i]);
			else
				put_u64(out, (uint64_t)p->as.i64[i]);
		}
		break;
	case VARIANT_PACKED_FLOAT64_ARRAY:
		put_reals(out, p->as.reals, p->len, major != 3);
		break;
	case VARIANT_PACKED_STRING_ARRAY:
		/* Unlike a String, each element's length counts its NUL terminator, which is written too. */
		for (uint32_t i = 0; i < p->len; i++)
			put_string(out, p->as.strings.ptrs[i], p->as.strings.lens[i] + 1);
		break;
	default:
		/* Float32 and Color arrays are float32 in every Godot. */
		put_reals(out, p->as.reals, nreals, wide);
		break;
	}
	return GROVE_OK;
}

static int encode_at(const struct variant *v, int major, struct grove_buf *out, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	int id = major == 3 ? grove_to_godot3(v->type) : (int)v->type;
	if (id < 0 || !variant_type_valid((int)v->type))
		return GROVE_EINVAL;
	uint32_t header = (uint32_t)id;
	switch (v->type) {
	case VARIANT_NIL:
	case VARIANT_CALLABLE:
		/* Godot writes a Callable as its type alone and reads that back as an empty one. */
		put_u32(out, header);
		return GROVE_OK;
	case VARIANT_SIGNAL:
		/* An empty Signal: no name, no object. */
		put_u32(out, header);
		put_u32(out, 0);
		put_u64(out, 0);
		return GROVE_OK;
	case VARIANT_BOOL:
		put_u32(out, header);
		put_u32(out, v->as.b ? 1 : 0);
		return GROVE_OK;
	case VARIANT_INT:
		if (v->as.i < INT32_MIN || v->as.i > INT32_MAX) {
			put_u32(out, header | FLAG_64);
			put_u64(out, (uint64_t)v->as.i);
		} else {
			put_u32(out, header);
			put_u32(out, (uint32_t)(int32_t)v->as.i);
		}
		return GROVE_OK;
	case VARIANT_FLOAT:
		if (float32_exact(v->as.f)) {
			put_u32(out, header);
			put_f32(out, v->as.f);
		} else {
			put_u32(out, header | FLAG_64);
			put_f64(out, v->as.f);
		}
		return GROVE_OK;
	case VARIANT_STRING:
	case VARIANT_STRING_NAME:
		put_u32(out, header);
		put_string(out, v->as.str.ptr, v->as.str.len);
		return GROVE_OK;
	case VARIANT_NODE_PATH:
		put_u32(out, header);
		put_node_path(out, v->as.str.ptr, v->as.str.len);
		return GROVE_OK;
	case VARIANT_RESOURCE_REF:
		if (v->as.ref <= 0) {
			/* A null Object: the empty class name. */
			put_u32(out, header);
			put_u32(out, 0);
		} else {
			put_u32(out, header | FLAG_OBJECT_AS_ID);
			put_u64(out, (uint64_t)v->as.ref);
		}
		return GROVE_OK;
	case VARIANT_COLOR:
		put_u32(out, header);
		put_reals(out, variant_reals(v), 4, false);
		return GROVE_OK;
	case VARIANT_ARRAY: {
		const struct variant_array *a = v->as.array;
		uint32_t kind = major == 4 ? typed_kind(&a->elem) : TYPED_NONE;
		put_u32(out, header | kind << TYPED_SHIFT);
		if (kind)
			put_typed_info(out, &a->elem);
		put_u32(out, a->len);
		for (uint32_t i = 0; i < a->len; i++) {
			int err = encode_at(&a->items[i], major, out, depth + 1);
			if (err)
				return err;
		}
		return GROVE_OK;
	}
	case VARIANT_DICTIONARY: {
		const struct variant_dict *d = v->as.dict;
		uint32_t kk = major == 4 ? typed_kind(&d->key) : TYPED_NONE;
		uint32_t vk = major == 4 ? typed_kind(&d->value) : TYPED_NONE;
		put_u32(out, header | kk << TYPED_SHIFT | vk << (TYPED_SHIFT + 2));
		if (kk)
			put_typed_info(out, &d->key);
		if (vk)
			put_typed_info(out, &d->value);
		put_u32(out, d->len);
		for (uint32_t i = 0; i < d->len; i++) {
			int err = encode_at(&d->keys[i], major, out, depth + 1);
			if (!err)
				err = encode_at(&d->values[i], major, out, depth + 1);
			if (err)
				return err;
		}
		return GROVE_OK;
	}
	default:
		break;
	}
	if (v->type >= VARIANT_PACKED_BYTE_ARRAY)
		return encode_packed(v, major, out, header);
	unsigned n = variant_component_count(v->type);
	if (int_vector_type(v->type)) {
		if (major == 3)
			return GROVE_EINVAL;
		put_u32(out, header);
		for (unsigned i = 0; i < n; i++)
			put_u32(out, (uint32_t)v->as.iv[i]);
		return GROVE_OK;
	}
	const double *reals = variant_reals(v);
	bool wide = real_t_type(v->type) && needs_wide(reals, n, major);
	put_u32(out, header | (wide ? FLAG_64 : 0));
	put_reals(out, reals, n, wide);
	return GROVE_OK;
}

int godot_binary_encode(const struct variant *v, int godot_major, struct grove_buf *out)
{
	if (godot_major != 3 && godot_major != 4)
		return GROVE_EINVAL;
	size_t start = out->len;
	int err = encode_at(v, godot_major, out, 0);
	if (!err && out->failed)
		err = GROVE_ENOMEM;
	if (err && !out->failed)
		out->len = start;
	return err;
}

/* A PackedVector4Array made an Array of Vector4, for a Godot 4 that has no such packed array. */
static int vector4_array(struct variant *v)
{
	struct variant array;
	if (variant_set_array(&array))
		return GROVE_ENOMEM;
	const struct variant_packed *p = v->as.packed;
	for (uint32_t i = 0; i < p->len; i++) {
		struct variant item;
		if (variant_set_reals(&item, VARIANT_VECTOR4, p->as.reals + 4 * (size_t)i, 4) ||
		    variant_array_push(&array, &item)) {
			variant_free(&array);
			return GROVE_ENOMEM;
		}
	}
	variant_free(v);
	*v = array;
	return GROVE_OK;
}

static int readable_at(struct variant *v, int minor, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	int err = GROVE_OK;
	if (v->type == VARIANT_PACKED_VECTOR4_ARRAY && minor < GODOT4_TYPED_ARRAYS_MINOR)
		return vector4_array(v);
	if (v->type == VARIANT_ARRAY) {
		if (minor < GODOT4_TYPED_ARRAYS_MINOR)
			err = variant_array_set_typehint(v, VARIANT_NIL, NULL);
		for (uint32_t i = 0; !err && i < v->as.array->len; i++)
			err = readable_at(&v->as.array->items[i], minor, depth + 1);
	} else if (v->type == VARIANT_DICTIONARY) {
		if (minor < GODOT4_TYPED_DICTIONARIES_MINOR)
			err = variant_dict_set_typehints(v, VARIANT_NIL, NULL, VARIANT_NIL, NULL);
		for (uint32_t i = 0; !err && i < v->as.dict->len; i++) {
			err = readable_at(&v->as.dict->keys[i], minor, depth + 1);
			if (!err)
				err = readable_at(&v->as.dict->values[i], minor, depth + 1);
		}
	}
	return err;
}

int godot4_readable_by(struct variant *v, int minor)
{
	/* The newest decoders read everything: no walk through every value of every change for them. */
	return minor >= GODOT4_TYPED_DICTIONARIES_MINOR ? GROVE_OK : readable_at(v, minor, 0);
}

int godot_packet_encode(const struct variant *v, int godot_major, struct grove_buf *out)
{
	size_t start = out->len;
	put_u32(out, 0);
	int err = godot_binary_encode(v, godot_major, out);
	if (err) {
		if (!out->failed)
			out->len = start;
		return err;
	}
	size_t n = out->len - start - 4;
	if (n > GODOT_BINARY_MAX) {
		out->len = start;
		return GROVE_ETOOBIG;
	}
	uint8_t *h = out->data + start;
	h[0] = (uint8_t)n;
	h[1] = (uint8_t)(n >> 8);
	h[2] = (uint8_t)(n >> 16);
	h[3] = (uint8_t)(n >> 24);
	return GROVE_OK;
}

/* ---- decoding ---- */

struct reader {
	const uint8_t *p;
	const uint8_t *end;
};

static bool get_u32(struct reader *r, uint32_t *v)
{
	if (r->end - r->p < 4)
		return false;
	*v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
	r->p += 4;
	return true;
}

static bool get_u64(struct reader *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (!get_u32(r, &lo) || !get_u32(r, &hi))
		return false;
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

static bool get_real(struct reader *r, bool wide, double *d)
{
	if (wide) {
		uint64_t bits;
		if (!get_u64(r, &bits))
			return false;
		memcpy(d, &bits, 8);
		return true;
	}
	uint32_t bits;
	if (!get_u32(r, &bits))
		return false;
	float f;
	memcpy(&f, &bits, 4);
	*d = f;
	return true;
}

/* A padded string; *s points into the input (not NUL-terminated). */
static bool get_string(struct reader *r, const char **s, uint32_t *len)
{
	uint32_t n;
	if (!get_u32(r, &n) || n > (size_t)(r->end - r->p))
		return false;
	size_t padded = (size_t)n + (n % 4 ? 4 - n % 4 : 0);
	if (padded > (size_t)(r->end - r->p))
		return false;
	*s = (const char *)r->p;
	*len = n;
	r->p += padded;
	return true;
}

static bool room_for(const struct reader *r, uint64_t count, size_t each)
{
	return count <= UINT32_MAX && count * each <= (uint64_t)(r->end - r->p);
}

static int decode_node_path(struct reader *r, struct variant *v)
{
	uint32_t names, subnames, flags;
	if (!get_u32(r, &names) || !(names & 0x80000000u) || !get_u32(r, &subnames) || !get_u32(r, &flags))
		return GROVE_ECORRUPT; /* the pre-3.0 format is not accepted */
	names &= 0x7fffffffu;
	if (!room_for(r, (uint64_t)names + subnames, 4))
		return GROVE_ECORRUPT;
	struct grove_buf b = {0};
	if (flags & 1)
		grove_buf_put(&b, "/", 1);
	for (uint64_t i = 0; i < (uint64_t)names + subnames; i++) {
		const char *s;
		uint32_t len;
		if (!get_string(r, &s, &len)) {
			grove_buf_free(&b);
			return GROVE_ECORRUPT;
		}
		if (i > 0)
			grove_buf_put(&b, i < names ? "/" : ":", 1);
		else if (names == 0)
			grove_buf_put(&b, ":", 1);
		grove_buf_put(&b, s, len);
	}
	int err = b.failed ? GROVE_ENOMEM : variant_set_string(v, VARIANT_NODE_PATH, (const char *)b.data, b.len);
	grove_buf_free(&b);
	return err;
}

static int decode_at(struct variant *v, int major, struct reader *r, int depth);

static int get_typed_info(struct reader *r, uint32_t kind, int major, struct variant_typehint *h)
{
	memset(h, 0, sizeof(*h));
	if (kind == TYPED_NONE)
		return GROVE_OK;
	if (kind == TYPED_BUILTIN) {
		uint32_t t;
		if (!get_u32(r, &t))
			return GROVE_ECORRUPT;
		int type = major == 3 ? (t < 27 ? godot3_to_grove[t] : -1) : (int)t;
		if (type < 0 || !stored_in_grove(type))
			return GROVE_EINVAL;
		h->type = (enum variant_type)type;
		return GROVE_OK;
	}
	if (kind == TYPED_CLASS) {
		const char *s;
		uint32_t len;
		if (!get_string(r, &s, &len))
			return GROVE_ECORRUPT;
		h->type = VARIANT_RESOURCE_REF;
		h->class_name = strndup(s, len);
		return h->class_name ? GROVE_OK : GROVE_ENOMEM;
	}
	return GROVE_EINVAL; /* typed by a script */
}

static int decode_packed(struct variant *v, enum variant_type type, int major, bool wide, struct reader *r)
{
	uint32_t count;
	if (!get_u32(r, &count))
		return GROVE_ECORRUPT;
	unsigned per = variant_packed_reals_per_element(type);
	size_t each;
	switch (type) {
	case VARIANT_PACKED_BYTE_ARRAY:
		each = 1;
		break;
	case VARIANT_PACKED_INT32_ARRAY:
		each = 4;
		break;
	case VARIANT_PACKED_INT64_ARRAY:
		each = major == 3 ? 4 : 8;
		break;
	case VARIANT_PACKED_FLOAT64_ARRAY:
		each = 8;
		break;
	case VARIANT_PACKED_STRING_ARRAY:
		each = 4;
		break;
	case VARIANT_PACKED_COLOR_ARRAY:
	case VARIANT_PACKED_FLOAT32_ARRAY:
		each = 4 * per;
		break;
	default:
		each = (wide ? 8 : 4) * per;
		break;
	}
	if (!room_for(r, count, each))
		return GROVE_ECORRUPT;
	int err = variant_set_packed(v, type, count);
	if (err)
		return err;
	struct variant_packed *p = v->as.packed;
	uint32_t x32 = 0;
	uint64_t x64 = 0;
	for (uint32_t i = 0; i < count && !err; i++) {
		switch (type) {
		case VARIANT_PACKED_BYTE_ARRAY:
			p->as.bytes[i] = *r->p++;
			break;
		case VARIANT_PACKED_INT32_ARRAY:
			get_u32(r, &x32);
			p->as.i32[i] = (int32_t)x32;
			break;
		case VARIANT_PACKED_INT64_ARRAY:
			if (major == 3) {
				get_u32(r, &x32);
				p->as.i64[i] = (int32_t)x32;
			} else {
				get_u64(r, &x64);
				p->as.i64[i] = (int64_t)x64;
			}
			break;
		case VARIANT_PACKED_FLOAT64_ARRAY:
			get_real(r, true, &p->as.reals[i]);
			break;
		case VARIANT_PACKED_STRING_ARRAY: {
			const char *s;
			uint32_t len;
			if (!get_string(r, &s, &len) || len == 0 || s[len - 1] != '\0') {
				err = GROVE_ECORRUPT; /* the length counts a NUL terminator */
				break;
			}
			err = variant_packed_set_string(v, i, s, len - 1);
			break;
		}
		default: {
			bool w = wide && type != VARIANT_PACKED_COLOR_ARRAY && type != VARIANT_PACKED_FLOAT32_ARRAY;
			for (unsigned k = 0; k < per; k++)
				if (!get_real(r, w, &p->as.reals[(size_t)i * per + k]))
					err = GROVE_ECORRUPT;
			break;
		}
		}
	}
	if (!err && type == VARIANT_PACKED_BYTE_ARRAY && count % 4) {
		size_t pad = 4 - count % 4;
		if ((size_t)(r->end - r->p) < pad)
			return GROVE_ECORRUPT;
		r->p += pad;
	}
	return err;
}

static int decode_value(struct variant *v, int major, struct reader *r, int depth)
{
	memset(v, 0, sizeof(*v));
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	uint32_t header;
	if (!get_u32(r, &header))
		return GROVE_ECORRUPT;
	uint32_t id = header & 0xffffu, flags = header >> 16;
	int t = major == 3 ? (id < 27 ? godot3_to_grove[id] : -1) : (int)id;
	if (t < 0 || !stored_in_grove(t))
		return id < (major == 3 ? 27u : 39u) ? GROVE_EINVAL : GROVE_ECORRUPT;
	enum variant_type type = (enum variant_type)t;
	/* 64-bit components exist only in Godot 4 (double-precision builds); Godot 3 has them for int and float. */
	bool wide = (flags & 1) && (major == 4 || type == VARIANT_INT || type == VARIANT_FLOAT);
	uint32_t x32;
	uint64_t x64;
	switch (type) {
	case VARIANT_NIL:
		return GROVE_OK;
	case VARIANT_CALLABLE:
		v->type = type;
		return GROVE_OK;
	case VARIANT_SIGNAL: {
		const char *s;
		uint32_t len;
		if (!get_string(r, &s, &len) || !get_u64(r, &x64))
			return GROVE_ECORRUPT;
		/* Only the empty Signal is kept: a live one names an object of the sender's process. */
		if (len != 0 || x64 != 0)
			return GROVE_EINVAL;
		v->type = type;
		return GROVE_OK;
	}
	case VARIANT_BOOL:
		if (!get_u32(r, &x32) || x32 > 1)
			return GROVE_ECORRUPT;
		variant_set_bool(v, x32 != 0);
		return GROVE_OK;
	case VARIANT_INT:
		if (wide) {
			if (!get_u64(r, &x64))
				return GROVE_ECORRUPT;
			variant_set_int(v, (int64_t)x64);
		} else {
			if (!get_u32(r, &x32))
				return GROVE_ECORRUPT;
			variant_set_int(v, (int32_t)x32);
		}
		return GROVE_OK;
	case VARIANT_FLOAT: {
		double d;
		if (!get_real(r, wide, &d))
			return GROVE_ECORRUPT;
		variant_set_float(v, d);
		return GROVE_OK;
	}
	case VARIANT_STRING:
	case VARIANT_STRING_NAME: {
		const char *s;
		uint32_t len;
		if (!get_string(r, &s, &len))
			return GROVE_ECORRUPT;
		return variant_set_string(v, type, s, len);
	}
	case VARIANT_NODE_PATH:
		return decode_node_path(r, v);
	case VARIANT_RESOURCE_REF:
		if (flags & 1) {
			if (!get_u64(r, &x64) || x64 > INT64_MAX)
				return GROVE_ECORRUPT;
			variant_set_resource_ref(v, (int64_t)x64);
			return GROVE_OK;
		}
		/* A full Object: only the null one (empty class name) is accepted. */
		if (!get_u32(r, &x32))
			return GROVE_ECORRUPT;
		if (x32 != 0)
			return GROVE_EINVAL;
		variant_set_resource_ref(v, 0);
		return GROVE_OK;
	case VARIANT_ARRAY: {
		struct variant_typehint h;
		int err = get_typed_info(r, major == 4 ? flags & 3 : TYPED_NONE, major, &h);
		if (err)
			return err;
		err = variant_set_array(v);
		if (!err)
			err = variant_array_set_typehint(v, h.type, h.class_name);
		free(h.class_name);
		if (err)
			return err;
		if (!get_u32(r, &x32))
			return GROVE_ECORRUPT;
		uint32_t count = x32 & 0x7fffffffu;
		if (!room_for(r, count, 4))
			return GROVE_ECORRUPT;
		for (uint32_t i = 0; i < count; i++) {
			struct variant item;
			err = decode_at(&item, major, r, depth + 1);
			if (!err && (err = variant_array_push(v, &item)) != GROVE_OK)
				variant_free(&item);
			if (err)
				return err;
		}
		return GROVE_OK;
	}
	case VARIANT_DICTIONARY: {
		struct variant_typehint kh, vh = {0};
		int err = get_typed_info(r, major == 4 ? flags & 3 : TYPED_NONE, major, &kh);
		if (!err)
			err = get_typed_info(r, major == 4 ? (flags >> 2) & 3 : TYPED_NONE, major, &vh);
		if (!err)
			err = variant_set_dict(v);
		if (!err)
			err = variant_dict_set_typehints(v, kh.type, kh.class_name, vh.type, vh.class_name);
		free(kh.class_name);
		free(vh.class_name);
		if (err)
			return err;
		if (!get_u32(r, &x32))
			return GROVE_ECORRUPT;
		uint32_t count = x32 & 0x7fffffffu;
		if (!room_for(r, count, 8))
			return GROVE_ECORRUPT;
		for (uint32_t i = 0; i < count; i++) {
			struct variant key, value = {0};
			err = decode_at(&key, major, r, depth + 1);
			if (!err)
				err = decode_at(&value, major, r, depth + 1);
			if (!err)
				err = variant_dict_put(v, &key, &value);
			variant_free(&key);
			variant_free(&value);
			if (err)
				return err;
		}
		return GROVE_OK;
	}
	default:
		break;
	}
	if (type >= VARIANT_PACKED_BYTE_ARRAY)
		return decode_packed(v, type, major, wide, r);
	unsigned n = variant_component_count(type);
	if (int_vector_type(type)) {
		v->type = type;
	} else if (variant_set_reals(v, type, NULL, 0)) {
		return GROVE_ENOMEM;
	}
	double *reals = variant_reals_mut(v);
	for (unsigned i = 0; i < n; i++) {
		if (int_vector_type(type)) {
			if (!get_u32(r, &x32))
				return GROVE_ECORRUPT;
			v->as.iv[i] = (int32_t)x32;
		} else if (!get_real(r, wide && real_t_type(type), &reals[i])) {
			return GROVE_ECORRUPT;
		}
	}
	return GROVE_OK;
}

static int decode_at(struct variant *v, int major, struct reader *r, int depth)
{
	int err = decode_value(v, major, r, depth);
	if (err)
		variant_free(v);
	return err;
}

int godot_binary_decode(struct variant *v, int godot_major, const uint8_t *data, size_t len, size_t *consumed)
{
	memset(v, 0, sizeof(*v));
	if (godot_major != 3 && godot_major != 4)
		return GROVE_EINVAL;
	if (len > GODOT_BINARY_MAX)
		return GROVE_ETOOBIG;
	struct reader r = {data, data + len};
	int err = decode_at(v, godot_major, &r, 0);
	if (!err && consumed)
		*consumed = (size_t)(r.p - data);
	return err;
}

int godot_packet_decode(struct variant *v, int godot_major, const uint8_t *data, size_t len, size_t *consumed)
{
	memset(v, 0, sizeof(*v));
	if (len < 4)
		return GROVE_ENOTFOUND;
	uint32_t n = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	if (n > GODOT_BINARY_MAX)
		return GROVE_ETOOBIG;
	if (len - 4 < n)
		return GROVE_ENOTFOUND;
	size_t used;
	int err = godot_binary_decode(v, godot_major, data + 4, n, &used);
	if (!err && used != n) {
		variant_free(v);
		err = GROVE_ECORRUPT;
	}
	if (!err && consumed)
		*consumed = 4 + (size_t)n;
	return err;
}
