/* Binary scenes (.scn) for Godot 3 and 4, checked against the format's rules by a reader of this test's
 * own: header fields, string table, resource tables and offsets, every body, and the PackedScene's
 * _bundled dictionary (every index in range, counts consistent, each node, property, group and connection
 * equal to the scene's). Real scenes of the corpus and hand-made scenes holding every Variant type grove
 * stores; values a Godot version cannot hold are refused. */
#include <dirent.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "godot/scn.h"
#include "godot/tscn.h"
#include "src/common/error.h"
#include "files.h"
#include "src/common/bytes.h"

#define CORPUS "../shared/corpus"

/* References in decoded values: ext_resource k and internal resource k. */
#define EXT_REF(k) (1000000 + (int64_t)(k))
#define INT_REF(k) (2000000 + (int64_t)(k))

/* ---- a reader of the binary resource format ---- */

struct reader {
	const uint8_t *data;
	size_t len, pos;
	int major;
	const char *what; /* what is being read, for failure messages */
	/* Godot 3 names internal resources by subindex: subindex -> internal index */
	int64_t *subindex;
	uint32_t n_internal;
	uint32_t n_ext;
	uint32_t body;    /* the internal resource being read: references must point below it */
};

static void need(struct reader *r, size_t n)
{
	if (n > r->len - r->pos) {
		print_error("truncated while reading %s at %zu (+%zu of %zu)\n", r->what, r->pos, n, r->len);
		fail();
	}
}

static uint32_t rd_u32(struct reader *r)
{
	need(r, 4);
	r->pos += 4;
	return get_le32(r->data + r->pos - 4);
}

static uint16_t rd_u16(struct reader *r)
{
	need(r, 2);
	const uint8_t *b = r->data + r->pos;
	r->pos += 2;
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint64_t rd_u64(struct reader *r)
{
	uint64_t lo = rd_u32(r);
	return lo | (uint64_t)rd_u32(r) << 32;
}

static double rd_f32(struct reader *r)
{
	uint32_t bits = rd_u32(r);
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static double rd_f64(struct reader *r)
{
	uint64_t bits = rd_u64(r);
	double d;
	memcpy(&d, &bits, 8);
	return d;
}

/* A string of @p n bytes that must end with its NUL; returns a malloc'd copy without it. */
static char *rd_bytes_nul(struct reader *r, uint32_t n, size_t *len)
{
	assert_true(n >= 1);
	need(r, n);
	assert_int_equal(r->data[r->pos + n - 1], 0);
	char *s = malloc(n);
	memcpy(s, r->data + r->pos, n);
	r->pos += n;
	*len = n - 1;
	return s;
}

static char *rd_ustring(struct reader *r, size_t *len)
{
	uint32_t n = rd_u32(r);
	assert_int_equal(n & 0x80000000u, 0);
	size_t ignored;
	return rd_bytes_nul(r, n, len ? len : &ignored);
}

/* "a/b:c" from a NodePath's parts, the way the writer's input spells it. */
static void rd_node_path(struct reader *r, struct variant *out)
{
	uint32_t names = rd_u16(r), sub = rd_u16(r);
	bool absolute = sub & 0x8000;
	sub &= 0x7fff;
	char text[4096] = "";
	size_t used = 0;
	if (absolute)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "/");
	for (uint32_t i = 0; i < names + sub; i++) {
		uint32_t n = rd_u32(r);
		assert_true(n & 0x80000000u); /* the writer puts path parts inline */
		size_t len;
		char *part = rd_bytes_nul(r, n & 0x7fffffffu, &len);
		const char *sep = i >= names ? ":" : i > 0 ? "/" : "";
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", sep, part);
		free(part);
	}
	assert_true(used < sizeof(text));
	assert_int_equal(variant_set_string(out, VARIANT_NODE_PATH, text, used), GROVE_OK);
}

static void rd_reals(struct reader *r, double *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = rd_f32(r);
}

static void rd_variant(struct reader *r, struct variant *out, int depth);

static void rd_packed(struct reader *r, enum variant_type type, struct variant *out, int id)
{
	uint32_t n = rd_u32(r);
	assert_true(n <= r->len);
	assert_int_equal(variant_set_packed(out, type, n), GROVE_OK);
	struct variant_packed *p = out->as.packed;
	switch (type) {
	case VARIANT_PACKED_BYTE_ARRAY:
		need(r, n);
		memcpy(p->as.bytes, r->data + r->pos, n);
		r->pos += n;
		for (uint32_t pad = (4 - n % 4) % 4; pad; pad--) {
			need(r, 1);
			assert_int_equal(r->data[r->pos++], 0);
		}
		return;
	case VARIANT_PACKED_INT32_ARRAY:
		for (uint32_t i = 0; i < n; i++)
			p->as.i32[i] = (int32_t)rd_u32(r);
		return;
	case VARIANT_PACKED_INT64_ARRAY:
		for (uint32_t i = 0; i < n; i++)
			p->as.i64[i] = (int64_t)rd_u64(r);
		return;
	case VARIANT_PACKED_STRING_ARRAY:
		for (uint32_t i = 0; i < n; i++) {
			size_t len;
			char *s = rd_ustring(r, &len);
			assert_int_equal(variant_packed_set_string(out, i, s, len), GROVE_OK);
			free(s);
		}
		return;
	default: {
		size_t count = (size_t)n * variant_packed_reals_per_element(type);
		if (id == 49) {
			for (size_t i = 0; i < count; i++)
				p->as.reals[i] = rd_f64(r);
		} else {
			rd_reals(r, p->as.reals, count);
		}
		return;
	}
	}
}

static void rd_object(struct reader *r, struct variant *out)
{
	uint32_t kind = rd_u32(r);
	if (kind == 0) {
		variant_set_resource_ref(out, 0);
	} else if (kind == 3) {
		uint32_t k = rd_u32(r);
		assert_true(k < r->n_ext);
		variant_set_resource_ref(out, EXT_REF(k));
	} else {
		assert_int_equal(kind, 2);
		uint32_t k = rd_u32(r);
		if (r->major == 3) {
			/* Godot 3 refers by subindex, the number in "local://N" */
			uint32_t found = UINT32_MAX;
			for (uint32_t i = 0; i + 1 < r->n_internal; i++)
				if (r->subindex[i] == (int64_t)k)
					found = i;
			assert_int_not_equal(found, UINT32_MAX);
			k = found;
		}
		/* only to sub-resources stored before the body that names them: Godot 3 resolves them while loading */
		assert_true(k + 1 < r->n_internal);
		assert_true(k < r->body);
		variant_set_resource_ref(out, INT_REF(k));
	}
}

static void rd_variant(struct reader *r, struct variant *out, int depth)
{
	assert_true(depth <= VARIANT_MAX_DEPTH);
	uint32_t id = rd_u32(r);
	static const struct {
		uint32_t id;
		enum variant_type type;
		bool godot4;
	} fixed[] = {
		{10, VARIANT_VECTOR2, false},     {11, VARIANT_RECT2, false},     {12, VARIANT_VECTOR3, false},
		{13, VARIANT_PLANE, false},       {14, VARIANT_QUATERNION, false}, {15, VARIANT_AABB, false},
		{16, VARIANT_BASIS, false},       {17, VARIANT_TRANSFORM3D, false}, {18, VARIANT_TRANSFORM2D, false},
		{20, VARIANT_COLOR, false},       {50, VARIANT_VECTOR4, true},     {52, VARIANT_PROJECTION, true},
		{45, VARIANT_VECTOR2I, true},     {46, VARIANT_RECT2I, true},      {47, VARIANT_VECTOR3I, true},
		{51, VARIANT_VECTOR4I, true},
	};
	static const struct {
		uint32_t id;
		enum variant_type type;
		bool godot4;
	} packed[] = {
		{31, VARIANT_PACKED_BYTE_ARRAY, false},    {32, VARIANT_PACKED_INT32_ARRAY, false},
		{33, VARIANT_PACKED_FLOAT32_ARRAY, false}, {34, VARIANT_PACKED_STRING_ARRAY, false},
		{35, VARIANT_PACKED_VECTOR3_ARRAY, false}, {36, VARIANT_PACKED_COLOR_ARRAY, false},
		{37, VARIANT_PACKED_VECTOR2_ARRAY, false}, {48, VARIANT_PACKED_INT64_ARRAY, true},
		{49, VARIANT_PACKED_FLOAT64_ARRAY, true},  {53, VARIANT_PACKED_VECTOR4_ARRAY, true},
	};
	size_t len;
	char *s;
	switch (id) {
	case 1:
		variant_set_nil(out);
		return;
	case 2: {
		uint32_t b = rd_u32(r);
		assert_true(b <= 1);
		variant_set_bool(out, b);
		return;
	}
	case 3:
		variant_set_int(out, (int32_t)rd_u32(r));
		return;
	case 40: {
		int64_t i = (int64_t)rd_u64(r);
		assert_true(i < INT32_MIN || i > INT32_MAX); /* small ints use the 32-bit id */
		variant_set_int(out, i);
		return;
	}
	case 4:
		variant_set_float(out, rd_f32(r));
		return;
	case 41:
		variant_set_float(out, rd_f64(r));
		return;
	case 5:
	case 44:
		assert_true(id == 5 || r->major == 4);
		s = rd_ustring(r, &len);
		assert_int_equal(variant_set_string(out, id == 5 ? VARIANT_STRING : VARIANT_STRING_NAME, s, len),
				 GROVE_OK);
		free(s);
		return;
	case 22:
		rd_node_path(r, out);
		return;
	case 24:
		rd_object(r, out);
		return;
	case 42:
	case 43:
		/* Godot 4 keeps a Callable or Signal as its type id alone and loads it back empty */
		assert_int_equal(r->major, 4);
		variant_set_nil(out);
		out->type = id == 42 ? VARIANT_CALLABLE : VARIANT_SIGNAL;
		return;
	case 26: {
		uint32_t n = rd_u32(r);
		assert_true(n <= r->len);
		assert_int_equal(variant_set_dict(out), GROVE_OK);
		for (uint32_t i = 0; i < n; i++) {
			struct variant k, v;
			rd_variant(r, &k, depth + 1);
			rd_variant(r, &v, depth + 1);
			assert_int_equal(variant_dict_put(out, &k, &v), GROVE_OK);
		}
		assert_int_equal(out->as.dict->len, n); /* no key twice */
		return;
	}
	case 30: {
		uint32_t n = rd_u32(r);
		assert_true(n <= r->len);
		assert_int_equal(variant_set_array(out), GROVE_OK);
		for (uint32_t i = 0; i < n; i++) {
			struct variant v;
			rd_variant(r, &v, depth + 1);
			assert_int_equal(variant_array_push(out, &v), GROVE_OK);
		}
		return;
	}
	default:
		break;
	}
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (fixed[i].id != id)
			continue;
		assert_true(!fixed[i].godot4 || r->major == 4);
		enum variant_type t = fixed[i].type;
		unsigned n = variant_component_count(t);
		if (t == VARIANT_VECTOR2I || t == VARIANT_VECTOR3I || t == VARIANT_VECTOR4I || t == VARIANT_RECT2I) {
			int32_t iv[4];
			for (unsigned k = 0; k < n; k++)
				iv[k] = (int32_t)rd_u32(r);
			variant_set_ints(out, t, iv, n);
		} else {
			double rv[16];
			rd_reals(r, rv, n);
			assert_int_equal(variant_set_reals(out, t, rv, n), GROVE_OK);
		}
		return;
	}
	for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++) {
		if (packed[i].id == id) {
			assert_true(!packed[i].godot4 || r->major == 4);
			rd_packed(r, packed[i].type, out, (int)id);
			return;
		}
	}
	print_error("unknown variant id %u at %zu in %s\n", id, r->pos - 4, r->what);
	fail();
}

/* ---- the file as read ---- */

struct body {
	char *type;
	uint32_t n;
	uint32_t *names;         /* string table indices */
	struct variant *values;
};

struct decoded {
	int minor, format;
	int64_t uid;
	char **strings;
	uint32_t n_strings;
	char **ext_type, **ext_path;
	int64_t *ext_uid;
	uint32_t n_ext;
	char **int_path;
	uint64_t *int_offset;
	uint32_t n_internal;
	struct body *bodies;      /* one per internal resource; the PackedScene last */
};

static void decoded_free(struct decoded *d)
{
	for (uint32_t i = 0; i < d->n_strings; i++)
		free(d->strings[i]);
	for (uint32_t i = 0; i < d->n_ext; i++) {
		free(d->ext_type[i]);
		free(d->ext_path[i]);
	}
	for (uint32_t i = 0; i < d->n_internal; i++) {
		free(d->int_path[i]);
		free(d->bodies[i].type);
		for (uint32_t k = 0; k < d->bodies[i].n; k++)
			variant_free(&d->bodies[i].values[k]);
		free(d->bodies[i].values);
		free(d->bodies[i].names);
	}
	free(d->strings);
	free(d->ext_type);
	free(d->ext_path);
	free(d->ext_uid);
	free(d->int_path);
	free(d->int_offset);
	free(d->bodies);
	memset(d, 0, sizeof(*d));
}

static char *rd_string_alloc(struct reader *r)
{
	return rd_ustring(r, NULL);
}

/* Read and check everything outside the PackedScene's dictionary. */
static void read_file(const uint8_t *data, size_t len, int major, struct decoded *d)
{
	memset(d, 0, sizeof(*d));
	struct reader r = {.data = data, .len = len, .major = major, .what = "the header"};
	need(&r, 4);
	assert_memory_equal(data, "RSRC", 4);
	r.pos = 4;
	assert_int_equal(rd_u32(&r), 0); /* little-endian */
	assert_int_equal(rd_u32(&r), 0); /* 32-bit reals */
	assert_int_equal(rd_u32(&r), (uint32_t)major);
	d->minor = (int)rd_u32(&r);
	d->format = (int)rd_u32(&r);
	if (major == 3) {
		/* Godot 3.2 refuses a format above 3 */
		assert_int_equal(d->minor, 2);
		assert_int_equal(d->format, 3);
	} else {
		assert_true((d->format == 4 && d->minor == 0) || (d->format == 6 && d->minor == 3));
	}
	char *type = rd_string_alloc(&r);
	assert_string_equal(type, "PackedScene");
	free(type);
	assert_int_equal(rd_u64(&r), 0);
	if (major == 3) {
		for (int i = 0; i < 14; i++)
			assert_int_equal(rd_u32(&r), 0);
	} else {
		assert_int_equal(rd_u32(&r), 1 | 2); /* named sub-resource ids, uids; no script class */
		d->uid = (int64_t)rd_u64(&r);
		for (int i = 0; i < 11; i++)
			assert_int_equal(rd_u32(&r), 0);
	}
	r.what = "the string table";
	d->n_strings = rd_u32(&r);
	assert_true(d->n_strings <= len);
	d->strings = calloc(d->n_strings + 1, sizeof(char *));
	for (uint32_t i = 0; i < d->n_strings; i++) {
		d->strings[i] = rd_string_alloc(&r);
		for (uint32_t k = 0; k < i; k++)
			assert_string_not_equal(d->strings[k], d->strings[i]);
	}
	r.what = "the external resources";
	d->n_ext = rd_u32(&r);
	assert_true(d->n_ext <= len);
	d->ext_type = calloc(d->n_ext + 1, sizeof(char *));
	d->ext_path = calloc(d->n_ext + 1, sizeof(char *));
	d->ext_uid = calloc(d->n_ext + 1, sizeof(int64_t));
	for (uint32_t i = 0; i < d->n_ext; i++) {
		d->ext_type[i] = rd_string_alloc(&r);
		d->ext_path[i] = rd_string_alloc(&r);
		if (major == 4)
			d->ext_uid[i] = (int64_t)rd_u64(&r);
	}
	r.what = "the internal resources";
	d->n_internal = rd_u32(&r);
	assert_true(d->n_internal >= 1 && d->n_internal <= len);
	d->int_path = calloc(d->n_internal, sizeof(char *));
	d->int_offset = calloc(d->n_internal, sizeof(uint64_t));
	int64_t *subindex = calloc(d->n_internal, sizeof(int64_t));
	for (uint32_t i = 0; i < d->n_internal; i++) {
		d->int_path[i] = rd_string_alloc(&r);
		d->int_offset[i] = rd_u64(&r);
		if (i + 1 < d->n_internal) {
			assert_true(strncmp(d->int_path[i], "local://", 8) == 0);
			assert_true(d->int_path[i][8] != '\0');
			for (uint32_t k = 0; k < i; k++)
				assert_string_not_equal(d->int_path[k], d->int_path[i]);
			if (major == 3) {
				char *end;
				subindex[i] = strtoll(d->int_path[i] + 8, &end, 10);
				assert_true(*end == '\0' && subindex[i] > 0);
			}
		}
	}
	/* The bodies follow the tables back to back, in table order, and the closing magic ends the file. */
	d->bodies = calloc(d->n_internal, sizeof(struct body));
	r.subindex = subindex;
	r.n_internal = d->n_internal;
	r.n_ext = d->n_ext;
	for (uint32_t i = 0; i < d->n_internal; i++) {
		assert_int_equal(d->int_offset[i], r.pos);
		r.what = i + 1 < d->n_internal ? "a sub-resource" : "the PackedScene";
		r.body = i;
		struct body *b = &d->bodies[i];
		b->type = rd_string_alloc(&r);
		b->n = rd_u32(&r);
		assert_true(b->n <= len);
		b->names = calloc(b->n + 1, sizeof(uint32_t));
		b->values = calloc(b->n + 1, sizeof(struct variant));
		for (uint32_t k = 0; k < b->n; k++) {
			b->names[k] = rd_u32(&r);
			assert_true(b->names[k] < d->n_strings);
			rd_variant(&r, &b->values[k], 0);
		}
	}
	assert_string_equal(d->bodies[d->n_internal - 1].type, "PackedScene");
	assert_int_equal(len - r.pos, 4);
	assert_memory_equal(data + r.pos, "RSRC", 4);
	free(subindex);
}

/* ---- what the scene says, in the form the file holds it ---- */

static const char *str_attr(const struct tscn_section *s, const char *key)
{
	const struct variant *v = tscn_attr(s, key);
	return v && (v->type == VARIANT_STRING || v->type == VARIANT_STRING_NAME || v->type == VARIANT_NODE_PATH)
		       ? v->as.str.ptr
		       : NULL;
}

/* A NodePath text as Godot parses it: empty parts dropped. */
static void canonical_path(const char *in, char *out, size_t cap)
{
	size_t used = 0;
	if (in[0] == '/')
		out[used++] = '/';
	const char *colon = strchr(in, ':');
	size_t path_len = colon ? (size_t)(colon - in) : strlen(in);
	bool first = true;
	for (size_t from = 0, i = 0; i <= path_len; i++) {
		if (i < path_len && in[i] != '/')
			continue;
		if (i > from) {
			used += (size_t)snprintf(out + used, cap - used, "%s%.*s", first ? "" : "/", (int)(i - from), in + from);
			first = false;
		}
		from = i + 1;
	}
	if (colon) {
		size_t len = strlen(in);
		for (size_t from = path_len + 1, i = from; i <= len; i++) {
			if (i < len && in[i] != ':')
				continue;
			if (i > from)
				used += (size_t)snprintf(out + used, cap - used, ":%.*s", (int)(i - from), in + from);
			from = i + 1;
		}
	}
	out[used < cap ? used : cap - 1] = '\0';
}

struct refmap {
	const struct tscn_scene *scene;
	int64_t *code; /* per section: EXT_REF / INT_REF code, 0 for others */
};

static double narrow(double v)
{
	return (double)(float)v;
}

/* The value the file should hold for @p in: reals narrowed to float32, references renamed, Godot 3's types. */
static void expected_value(const struct refmap *m, int major, const struct variant *in, struct variant *out)
{
	assert_int_equal(variant_copy(out, in), GROVE_OK);
	switch (out->type) {
	case VARIANT_RESOURCE_REF:
		if (out->as.ref < 0)
			out->as.ref = m->code[-(out->as.ref + 1)];
		return;
	case VARIANT_STRING_NAME:
		if (major == 3)
			out->type = VARIANT_STRING;
		return;
	case VARIANT_NODE_PATH: {
		char text[4096];
		canonical_path(in->as.str.ptr, text, sizeof(text));
		variant_free(out);
		assert_int_equal(variant_set_string(out, VARIANT_NODE_PATH, text, strlen(text)), GROVE_OK);
		return;
	}
	case VARIANT_ARRAY:
		free(out->as.array->elem.class_name);
		out->as.array->elem = (struct variant_typehint){0};
		for (uint32_t i = 0; i < out->as.array->len; i++) {
			struct variant item;
			expected_value(m, major, &in->as.array->items[i], &item);
			variant_free(&out->as.array->items[i]);
			out->as.array->items[i] = item;
		}
		return;
	case VARIANT_DICTIONARY: {
		variant_free(out);
		assert_int_equal(variant_set_dict(out), GROVE_OK);
		for (uint32_t i = 0; i < in->as.dict->len; i++) {
			struct variant k, v;
			expected_value(m, major, &in->as.dict->keys[i], &k);
			expected_value(m, major, &in->as.dict->values[i], &v);
			assert_int_equal(variant_dict_put(out, &k, &v), GROVE_OK);
		}
		return;
	}
	case VARIANT_PACKED_INT64_ARRAY:
		if (major == 3) {
			struct variant narrowed;
			assert_int_equal(variant_set_packed(&narrowed, VARIANT_PACKED_INT32_ARRAY, in->as.packed->len), GROVE_OK);
			for (uint32_t i = 0; i < in->as.packed->len; i++)
				narrowed.as.packed->as.i32[i] = (int32_t)in->as.packed->as.i64[i];
			variant_free(out);
			*out = narrowed;
		}
		return;
	case VARIANT_PACKED_FLOAT64_ARRAY:
		if (major == 3) {
			out->type = VARIANT_PACKED_FLOAT32_ARRAY;
			for (uint32_t i = 0; i < out->as.packed->len; i++)
				out->as.packed->as.reals[i] = narrow(out->as.packed->as.reals[i]);
		}
		return;
	default:
		break;
	}
	unsigned per = variant_packed_reals_per_element(out->type);
	if (per) {
		for (size_t i = 0; i < (size_t)out->as.packed->len * per; i++)
			out->as.packed->as.reals[i] = narrow(out->as.packed->as.reals[i]);
		return;
	}
	bool int_vector = out->type == VARIANT_VECTOR2I || out->type == VARIANT_VECTOR3I ||
			  out->type == VARIANT_VECTOR4I || out->type == VARIANT_RECT2I;
	unsigned n = int_vector ? 0 : variant_component_count(out->type);
	double *reals = variant_reals_mut(out);
	for (unsigned i = 0; i < n; i++)
		reals[i] = narrow(reals[i]);
}

static void expect_equal_value(const struct refmap *m, int major, const struct variant *model, const struct variant *got,
			       const char *what)
{
	struct variant want;
	expected_value(m, major, model, &want);
	if (!variant_equal(&want, got)) {
		print_error("%s: the file holds a different value (types %d and %d)\n", what, (int)want.type, (int)got->type);
		fail();
	}
	variant_free(&want);
}

static const struct variant *dict_get(const struct variant *d, const char *key)
{
	for (uint32_t i = 0; i < d->as.dict->len; i++)
		if (d->as.dict->keys[i].type == VARIANT_STRING && strcmp(d->as.dict->keys[i].as.str.ptr, key) == 0)
			return &d->as.dict->values[i];
	return NULL;
}

/* A node id of the bundle: a declared node before @p limit, or a node path; returns its path text. */
static const char *id_path(int32_t id, int32_t limit, char **node_path_of, const struct variant *node_paths,
			   char *buf, size_t cap)
{
	if ((uint32_t)id & (1u << 30)) {
		uint32_t k = (uint32_t)id & ((1u << 24) - 1);
		assert_true(k < node_paths->as.array->len);
		const struct variant *np = &node_paths->as.array->items[k];
		assert_int_equal(np->type, VARIANT_NODE_PATH);
		snprintf(buf, cap, "%s", np->as.str.ptr);
		return buf;
	}
	assert_true(id >= 0 && id < limit);
	return node_path_of[id];
}

static int32_t int_at(const struct variant *a, size_t *pos)
{
	assert_true(*pos < a->as.packed->len);
	return a->as.packed->as.i32[(*pos)++];
}

/* The whole check of one written file against its scene. */
static void check_file(const struct tscn_scene *sc, int major, const uint8_t *data, size_t len, const char *name)
{
	struct decoded d;
	read_file(data, len, major, &d);
	/* Resources: tables in file order, each pointing at a body of its type. */
	struct refmap m = {sc, calloc(sc->count, sizeof(int64_t))};
	uint32_t n_ext = 0, n_sub = 0;
	for (size_t i = 0; i < sc->count; i++) {
		const struct tscn_section *s = &sc->sections[i];
		if (s->kind == TSCN_EXT_RESOURCE) {
			assert_true(n_ext < d.n_ext);
			assert_string_equal(d.ext_type[n_ext], str_attr(s, "type"));
			assert_string_equal(d.ext_path[n_ext], str_attr(s, "path"));
			if (major == 4 && !str_attr(s, "uid"))
				assert_int_equal(d.ext_uid[n_ext], -1);
			m.code[i] = EXT_REF(n_ext++);
		} else if (s->kind == TSCN_SUB_RESOURCE) {
			assert_true(n_sub + 1 < d.n_internal);
			assert_string_equal(d.bodies[n_sub].type, str_attr(s, "type"));
			const struct variant *id = tscn_attr(s, "id");
			if (major == 4 && id->type == VARIANT_STRING) {
				char want[512];
				snprintf(want, sizeof(want), "local://%s", id->as.str.ptr);
				assert_string_equal(d.int_path[n_sub], want);
			}
			m.code[i] = INT_REF(n_sub++);
		}
	}
	assert_int_equal(d.n_ext, n_ext);
	assert_int_equal(d.n_internal, n_sub + 1);
	uint32_t k = 0;
	for (size_t i = 0; i < sc->count; i++) {
		const struct tscn_section *s = &sc->sections[i];
		if (s->kind != TSCN_SUB_RESOURCE)
			continue;
		struct body *b = &d.bodies[k++];
		assert_int_equal(b->n, s->n_props);
		for (uint32_t p = 0; p < b->n; p++) {
			assert_string_equal(d.strings[b->names[p]], s->props[p].key);
			expect_equal_value(&m, major, &s->props[p].value, &b->values[p], s->props[p].key);
		}
	}
	/* The PackedScene: one property, _bundled. */
	struct body *main = &d.bodies[d.n_internal - 1];
	assert_int_equal(main->n, 1);
	assert_string_equal(d.strings[main->names[0]], "_bundled");
	const struct variant *bundle = &main->values[0];
	assert_int_equal(bundle->type, VARIANT_DICTIONARY);
	const struct variant *names = dict_get(bundle, "names"), *variants = dict_get(bundle, "variants");
	const struct variant *node_count = dict_get(bundle, "node_count"), *nodes = dict_get(bundle, "nodes");
	const struct variant *conn_count = dict_get(bundle, "conn_count"), *conns = dict_get(bundle, "conns");
	const struct variant *node_paths = dict_get(bundle, "node_paths");
	const struct variant *editable = dict_get(bundle, "editable_instances");
	const struct variant *version = dict_get(bundle, "version"), *base = dict_get(bundle, "base_scene");
	assert_non_null(names);
	assert_non_null(variants);
	assert_non_null(node_count);
	assert_non_null(nodes);
	assert_non_null(conn_count);
	assert_non_null(conns);
	assert_non_null(node_paths);
	assert_non_null(editable);
	assert_non_null(version);
	assert_int_equal(names->type, VARIANT_PACKED_STRING_ARRAY);
	assert_int_equal(variants->type, VARIANT_ARRAY);
	assert_int_equal(nodes->type, VARIANT_PACKED_INT32_ARRAY);
	assert_int_equal(conns->type, VARIANT_PACKED_INT32_ARRAY);
	assert_int_equal(node_paths->type, VARIANT_ARRAY);
	assert_int_equal(editable->type, VARIANT_ARRAY);
	assert_int_equal(version->as.i, major == 3 ? 2 : 3);
	uint32_t n_names = names->as.packed->len, n_values = variants->as.array->len;
	char *const *name_of = names->as.packed->as.strings.ptrs;
	/* Nodes, in file order. */
	size_t n_nodes = 0, n_conns = 0, n_editable = 0;
	for (size_t i = 0; i < sc->count; i++) {
		n_nodes += sc->sections[i].kind == TSCN_NODE;
		n_conns += sc->sections[i].kind == TSCN_CONNECTION;
		n_editable += sc->sections[i].kind == TSCN_EDITABLE;
	}
	assert_int_equal(node_count->as.i, (int64_t)n_nodes);
	assert_int_equal(conn_count->as.i, (int64_t)n_conns);
	assert_int_equal(editable->as.array->len, n_editable);
	char **node_path_of = calloc(n_nodes + 1, sizeof(char *));
	size_t pos = 0, node = 0;
	char buf[4096];
	for (size_t i = 0; i < sc->count; i++) {
		const struct tscn_section *s = &sc->sections[i];
		if (s->kind != TSCN_NODE)
			continue;
		const char *parent = str_attr(s, "parent"), *type = str_attr(s, "type"), *nm = str_attr(s, "name");
		int32_t parent_id = int_at(nodes, &pos), owner = int_at(nodes, &pos), type_id = int_at(nodes, &pos);
		uint32_t name_index = (uint32_t)int_at(nodes, &pos);
		int32_t instance = int_at(nodes, &pos);
		if (!parent) {
			assert_int_equal(node, 0);
			assert_int_equal(parent_id, -1);
			assert_int_equal(owner, -1);
			node_path_of[0] = strdup(".");
		} else {
			/* a declared parent by index, anything else by path */
			assert_string_equal(id_path(parent_id, (int32_t)node, node_path_of, node_paths, buf, sizeof(buf)), parent);
			if (strcmp(parent, ".") == 0)
				node_path_of[node] = strdup(nm);
			else
				assert_true(asprintf(&node_path_of[node], "%s/%s", parent, nm) > 0);
			if (owner != -1 && !str_attr(s, "owner"))
				assert_int_equal(owner, 0);
		}
		if (type) {
			assert_true(type_id >= 0 && (uint32_t)type_id < n_names);
			assert_string_equal(name_of[type_id], type);
		} else {
			assert_int_equal(type_id, 0x7fffffff);
		}
		assert_true((name_index & 0x3ffff) < n_names);
		assert_string_equal(name_of[name_index & 0x3ffff], nm);
		const struct variant *index = tscn_attr(s, "index");
		if (index && index->type == VARIANT_STRING)
			assert_int_equal((int64_t)(name_index >> 18) - 1, strtoll(index->as.str.ptr, NULL, 10));
		else if (!index)
			assert_int_equal(name_index >> 18, 0);
		const struct variant *inst = tscn_attr(s, "instance");
		if (inst && !parent) {
			assert_int_equal(instance, -1);
			assert_non_null(base);
			assert_true(base->as.i >= 0 && base->as.i < n_values);
			expect_equal_value(&m, major, inst, &variants->as.array->items[base->as.i], "base_scene");
		} else if (inst) {
			assert_true(instance >= 0 && (uint32_t)instance < n_values);
			expect_equal_value(&m, major, inst, &variants->as.array->items[instance], "instance");
		} else if (!tscn_attr(s, "instance_placeholder")) {
			assert_int_equal(instance, -1);
		}
		int32_t n_props = int_at(nodes, &pos);
		assert_int_equal(n_props, (int32_t)s->n_props);
		for (int32_t p = 0; p < n_props; p++) {
			uint32_t key = (uint32_t)int_at(nodes, &pos);
			int32_t value = int_at(nodes, &pos);
			assert_true((key & ((1u << 30) - 1)) < n_names);
			assert_string_equal(name_of[key & ((1u << 30) - 1)], s->props[p].key);
			assert_true(value >= 0 && (uint32_t)value < n_values);
			expect_equal_value(&m, major, &s->props[p].value, &variants->as.array->items[value], s->props[p].key);
		}
		const struct variant *groups = tscn_attr(s, "groups");
		int32_t n_groups = int_at(nodes, &pos);
		assert_int_equal(n_groups, groups ? (int32_t)groups->as.array->len : 0);
		for (int32_t g = 0; g < n_groups; g++) {
			int32_t gi = int_at(nodes, &pos);
			assert_true(gi >= 0 && (uint32_t)gi < n_names);
			assert_string_equal(name_of[gi], groups->as.array->items[g].as.str.ptr);
		}
		node++;
	}
	assert_int_equal(pos, nodes->as.packed->len);
	if (!base)
		for (size_t i = 0; i < sc->count; i++)
			if (sc->sections[i].kind == TSCN_NODE && !tscn_attr(&sc->sections[i], "parent"))
				assert_null(tscn_attr(&sc->sections[i], "instance"));
	/* Connections, in file order. */
	pos = 0;
	for (size_t i = 0; i < sc->count; i++) {
		const struct tscn_section *s = &sc->sections[i];
		if (s->kind != TSCN_CONNECTION)
			continue;
		int32_t from = int_at(conns, &pos), to = int_at(conns, &pos);
		assert_string_equal(id_path(from, (int32_t)n_nodes, node_path_of, node_paths, buf, sizeof(buf)),
				    str_attr(s, "from"));
		assert_string_equal(id_path(to, (int32_t)n_nodes, node_path_of, node_paths, buf, sizeof(buf)),
				    str_attr(s, "to"));
		int32_t signal = int_at(conns, &pos), method = int_at(conns, &pos), flags = int_at(conns, &pos);
		assert_true(signal >= 0 && (uint32_t)signal < n_names && method >= 0 && (uint32_t)method < n_names);
		assert_string_equal(name_of[signal], str_attr(s, "signal"));
		assert_string_equal(name_of[method], str_attr(s, "method"));
		const struct variant *f = tscn_attr(s, "flags");
		assert_int_equal(flags, f ? f->as.i : 2);
		const struct variant *binds = tscn_attr(s, "binds");
		int32_t n_binds = int_at(conns, &pos);
		assert_int_equal(n_binds, binds ? (int32_t)binds->as.array->len : 0);
		for (int32_t b = 0; b < n_binds; b++) {
			int32_t v = int_at(conns, &pos);
			assert_true(v >= 0 && (uint32_t)v < n_values);
			expect_equal_value(&m, major, &binds->as.array->items[b], &variants->as.array->items[v], "bind");
		}
		if (major == 4) {
			const struct variant *u = tscn_attr(s, "unbinds");
			assert_int_equal(int_at(conns, &pos), u ? u->as.i : 0);
		}
	}
	assert_int_equal(pos, conns->as.packed->len);
	/* Every node path is one a node or connection needed, and every value is used. */
	for (uint32_t i = 0; i < node_paths->as.array->len; i++)
		assert_int_equal(node_paths->as.array->items[i].type, VARIANT_NODE_PATH);
	for (size_t i = 0; i < n_nodes; i++)
		free(node_path_of[i]);
	free(node_path_of);
	free(m.code);
	decoded_free(&d);
	(void)name;
}

/* ---- helpers ---- */

static void parse_ok(const char *text, struct tscn_scene *s)
{
	struct tscn_error err;
	int rc = tscn_parse(text, strlen(text), s, &err);
	if (rc)
		print_error("%u:%u: %s\n", err.line, err.column, err.message);
	assert_int_equal(rc, GROVE_OK);
}

struct pieces {
	struct grove_buf all;
	size_t calls;
	size_t fail_after; /* fail the call after this many bytes arrived (0: never) */
};

static int collect(void *ctx, const void *data, size_t len)
{
	struct pieces *p = ctx;
	p->calls++;
	if (p->fail_after && p->all.len + len > p->fail_after)
		return GROVE_EIO;
	grove_buf_put(&p->all, data, len);
	return GROVE_OK;
}

/* Write @p sc both ways (buffer and stream), require the same bytes, and check them. */
static void write_and_check(const struct tscn_scene *sc, int major, const char *name)
{
	struct grove_buf out = {0};
	struct scn_error err;
	int rc = scn_write(sc, major, &out, &err);
	if (rc)
		print_error("%s (Godot %d): %s: %s\n", name, major, grove_errname(rc), err.message);
	assert_int_equal(rc, GROVE_OK);
	struct pieces streamed = {0};
	struct scn_sink sink = {collect, &streamed};
	assert_int_equal(scn_write_to(sc, major, &sink, &err), GROVE_OK);
	assert_int_equal(streamed.all.len, out.len);
	assert_memory_equal(streamed.all.data, out.data, out.len);
	check_file(sc, major, out.data, out.len, name);
	grove_buf_free(&streamed.all);
	grove_buf_free(&out);
}

/* ---- tests ---- */

/* One node per Variant type grove stores, references in every position, Godot 4. */
static const char every_type4[] =
	"[gd_scene load_steps=4 format=3 uid=\"uid://cxq3ab0d1efg\"]\n"
	"[ext_resource type=\"Script\" uid=\"uid://b7k2\" path=\"res://a.gd\" id=\"1_a\"]\n"
	"[ext_resource type=\"PackedScene\" path=\"res://gun.tscn\" id=\"2_g\"]\n"
	"[sub_resource type=\"BoxShape3D\" id=\"Box_1\"]\n"
	"size = Vector3(1, 2.5, 0.1)\n"
	"[sub_resource type=\"ShaderMaterial\" id=\"Mat_2\"]\n"
	"shader_parameter/box = SubResource(\"Box_1\")\n"
	"shader_parameter/list = [SubResource(\"Box_1\"), ExtResource(\"1_a\"), null]\n"
	"[node name=\"Root\" type=\"Node3D\" groups=[\"a\", \"b\"]]\n"
	"script = ExtResource(\"1_a\")\n"
	"nil = null\n"
	"b = true\n"
	"i = -7\n"
	"big = 1099511627776\n"
	"f = 0.5\n"
	"f2 = 0.1\n"
	"s = \"h\xc3\xa9llo\"\n"
	"empty = \"\"\n"
	"v2 = Vector2(1, -2.5)\n"
	"v2i = Vector2i(3, -4)\n"
	"r2 = Rect2(0, 0.1, 2, 4)\n"
	"r2i = Rect2i(1, 2, 3, 4)\n"
	"v3 = Vector3(1, 2, 3)\n"
	"v3i = Vector3i(1, 2, 3)\n"
	"t2 = Transform2D(1, 0, 0, 1, 5, 6)\n"
	"v4 = Vector4(1, 2, 3, 4)\n"
	"v4i = Vector4i(1, 2, 3, 4)\n"
	"pl = Plane(0, 1, 0, 2)\n"
	"q = Quaternion(0, 0, 0, 1)\n"
	"ab = AABB(0, 0, 0, 1, 1, 1)\n"
	"ba = Basis(1, 0, 0, 0, 1, 0, 0, 0, 1)\n"
	"t3 = Transform3D(1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 8, 9)\n"
	"pr = Projection(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)\n"
	"c = Color(1, 0.5, 0, 1)\n"
	"sn = &\"name\"\n"
	"np = NodePath(\"../Player:position:x\")\n"
	"npa = NodePath(\"/root/Main\")\n"
	"npe = NodePath(\"\")\n"
	"d = {\"k\": true, 3: [1, {\"x\": SubResource(\"Mat_2\")}]}\n"
	"a = [1, \"x\", [2]]\n"
	"ta = Array[int]([1, 2])\n"
	"td = Dictionary[String, int]({\"a\": 1})\n"
	"tsa = Array[ExtResource(\"1_a\")]([SubResource(\"Box_1\"), null])\n"
	"tsd = Dictionary[SubResource(\"Box_1\"), int]({})\n"
	"cb = Callable()\n"
	"sig = Signal()\n"
	"pba = PackedByteArray(1, 2, 3)\n"
	"pi32 = PackedInt32Array(-1, 2)\n"
	"pi64 = PackedInt64Array(-1, 5000000000)\n"
	"pf32 = PackedFloat32Array(0.5, 0.1)\n"
	"pf64 = PackedFloat64Array(0.5, 0.1)\n"
	"pstr = PackedStringArray(\"hi\", \"\", \"there\")\n"
	"pv2 = PackedVector2Array(1, 2, 3, 4)\n"
	"pv3 = PackedVector3Array(1, 2, 3)\n"
	"pc = PackedColorArray(0, 0, 0, 1)\n"
	"pv4 = PackedVector4Array(1, 2, 3, 4)\n"
	"same1 = Vector3(1, 2, 3)\n"
	"[node name=\"Shape\" type=\"CollisionShape3D\" parent=\".\" index=\"0\"]\n"
	"shape = SubResource(\"Box_1\")\n"
	"[node name=\"Gun\" parent=\".\" node_paths=PackedStringArray(\"target\") instance=ExtResource(\"2_g\")]\n"
	"target = NodePath(\"../Shape\")\n"
	"[node name=\"Flash\" type=\"Node3D\" parent=\"Gun/Barrel\"]\n"
	"[node name=\"Later\" parent=\".\" instance_placeholder=\"res://later.tscn\"]\n"
	"[connection signal=\"ready\" from=\".\" to=\"Shape\" method=\"_on_ready\" flags=3 binds=[1, \"x\"] unbinds=1]\n"
	"[connection signal=\"fired\" from=\"Gun/Barrel\" to=\".\" method=\"_on_fired\"]\n"
	"[editable path=\"Gun\"]\n";

static void test_every_type_godot4(void **state)
{
	(void)state;
	struct tscn_scene sc;
	parse_ok(every_type4, &sc);
	/* a null object reference has no text form */
	struct tscn_section *root = NULL;
	for (size_t i = 0; i < sc.count && !root; i++)
		if (sc.sections[i].kind == TSCN_NODE)
			root = &sc.sections[i];
	struct variant null_ref;
	variant_set_resource_ref(&null_ref, 0);
	assert_int_equal(tscn_add_prop(root, "nothing", &null_ref), GROVE_OK);
	write_and_check(&sc, 4, "every type");
	struct grove_buf out = {0};
	assert_int_equal(scn_write(&sc, 4, &out, NULL), GROVE_OK);
	struct decoded d;
	read_file(out.data, out.len, 4, &d);
	/* PackedVector4Array needs format 6 (4.3); the scene's and the ext_resources' uids are kept */
	assert_int_equal(d.format, 6);
	assert_int_not_equal(d.uid, -1);
	assert_int_not_equal(d.ext_uid[0], -1);
	assert_int_equal(d.ext_uid[1], -1);
	/* "uid://b7k2": b=1, 7=25+7, k=10, 2=25+2 in base 34 */
	assert_int_equal(d.ext_uid[0], ((1 * 34 + 32) * 34 + 10) * 34 + 27);
	decoded_free(&d);
	grove_buf_free(&out);
	tscn_scene_free(&sc);
}

static void test_format_4_without_vector4_arrays(void **state)
{
	(void)state;
	struct tscn_scene sc;
	parse_ok("[gd_scene format=3]\n[node name=\"R\" type=\"Node\"]\nv = Vector4(1, 2, 3, 4)\n", &sc);
	struct grove_buf out = {0};
	assert_int_equal(scn_write(&sc, 4, &out, NULL), GROVE_OK);
	struct decoded d;
	read_file(out.data, out.len, 4, &d);
	assert_int_equal(d.format, 4);
	assert_int_equal(d.minor, 0);
	assert_int_equal(d.uid, -1);
	decoded_free(&d);
	grove_buf_free(&out);
	tscn_scene_free(&sc);
}

/* Godot 3: everything it can hold, its way (integer sub-resource ids, StringName as String, no unbinds). */
static const char every_type3[] =
	"[gd_scene load_steps=3 format=2]\n"
	"[ext_resource path=\"res://a.gd\" type=\"Script\" id=1]\n"
	"[sub_resource type=\"RectangleShape2D\" id=7]\n"
	"extents = Vector2( 1, 2.5 )\n"
	"[sub_resource type=\"CircleShape2D\" id=\"named\"]\n"
	"radius = 0.1\n"
	"[node name=\"Main\" type=\"Node2D\"]\n"
	"script = ExtResource( 1 )\n"
	"b = false\n"
	"i = 2147483647\n"
	"big = -2147483649\n"
	"f = 1e+300\n"
	"s = \"x\"\n"
	"sn = &\"as_string\"\n"
	"v2 = Vector2( 1, 2 )\n"
	"r2 = Rect2( 0, 0, 2, 4 )\n"
	"v3 = Vector3( 1, 2.5, 3 )\n"
	"t2 = Transform2D( 1, 0, 0, 1, 5, 6 )\n"
	"pl = Plane( 0, 1, 0, 2 )\n"
	"q = Quat( 0, 0, 0, 1 )\n"
	"ab = AABB( 0, 0, 0, 1, 1, 1 )\n"
	"ba = Basis( 1, 0, 0, 0, 1, 0, 0, 0, 1 )\n"
	"t3 = Transform( 1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 8, 9 )\n"
	"c = Color( 1, 0.5, 0, 1 )\n"
	"np = NodePath(\"a/b:c\")\n"
	"d = {\"k\": [ SubResource( 7 ) ]}\n"
	"pba = PoolByteArray( 1, 2, 3, 4, 5 )\n"
	"pi = PoolIntArray( -1, 2 )\n"
	"pi64 = PackedInt64Array(1, -2)\n"
	"pr = PoolRealArray( 0.5, 0.25 )\n"
	"pf64 = PackedFloat64Array(0.1)\n"
	"ps = PoolStringArray( \"hi\", \"there\" )\n"
	"pv2 = PoolVector2Array( 1, 2, 3, 4 )\n"
	"pv3 = PoolVector3Array( 1, 2, 3 )\n"
	"pc = PoolColorArray( 0, 0, 0, 1 )\n"
	"[node name=\"Body\" type=\"KinematicBody2D\" parent=\".\" groups=[ \"g\" ]]\n"
	"[node name=\"Shape\" type=\"CollisionShape2D\" parent=\"Body\" owner=\".\"]\n"
	"shape = SubResource( \"named\" )\n"
	"[connection signal=\"ready\" from=\"Body\" to=\".\" method=\"_on_ready\" binds=[ 1 ]]\n";

static void test_every_type_godot3(void **state)
{
	(void)state;
	struct tscn_scene sc;
	parse_ok(every_type3, &sc);
	write_and_check(&sc, 3, "every Godot 3 type");
	struct grove_buf out = {0};
	assert_int_equal(scn_write(&sc, 3, &out, NULL), GROVE_OK);
	struct decoded d;
	read_file(out.data, out.len, 3, &d);
	/* the integer id is kept; the string id gets the next free integer */
	assert_string_equal(d.int_path[0], "local://7");
	assert_string_equal(d.int_path[1], "local://8");
	decoded_free(&d);
	grove_buf_free(&out);
	tscn_scene_free(&sc);
}

/* Each of these is a value Godot 3 cannot hold. */
static void test_godot3_refusals(void **state)
{
	(void)state;
	static const char *const values[] = {
		"Vector2i(1, 2)", "Rect2i(1, 2, 3, 4)", "Vector3i(1, 2, 3)", "Vector4(1, 2, 3, 4)",
		"Vector4i(1, 2, 3, 4)", "Projection(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)",
		"PackedVector4Array(1, 2, 3, 4)", "PackedInt64Array(5000000000)", "[1, {\"deep\": Vector2i(1, 2)}]",
		"Callable()", "Signal()", "[Callable()]",
	};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "[gd_scene format=3]\n[node name=\"R\" type=\"Node\"]\nok = 1\nbad = %s\n",
			 values[i]);
		struct tscn_scene sc;
		parse_ok(text, &sc);
		struct grove_buf out = {0};
		grove_buf_put(&out, "kept", 4);
		struct scn_error err;
		assert_int_equal(scn_write(&sc, 3, &out, &err), GROVE_EINVAL);
		assert_non_null(strstr(err.message, "bad"));
		assert_non_null(strstr(err.message, "Godot 3"));
		assert_int_equal(out.len, 4); /* nothing half-written is left */
		/* Godot 4 holds them all */
		write_and_check(&sc, 4, values[i]);
		grove_buf_free(&out);
		tscn_scene_free(&sc);
	}
}

static void expect_refused(struct tscn_scene *sc, int major, int code, const char *words)
{
	struct grove_buf out = {0};
	struct scn_error err;
	int rc = scn_write(sc, major, &out, &err);
	if (rc != code || !strstr(err.message, words))
		print_error("expected %s mentioning \"%s\", got %s: %s\n", grove_errname(code), words, grove_errname(rc),
			    err.message);
	assert_int_equal(rc, code);
	assert_non_null(strstr(err.message, words));
	assert_int_equal(out.len, 0);
	grove_buf_free(&out);
}

static void test_malformed_scenes_refused(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *words;
	} cases[] = {
		{"[gd_scene format=3]\n", "no nodes"},
		{"[gd_scene format=3]\n[node name=\"A\" type=\"Node\"]\n[node name=\"B\" type=\"Node\"]\n", "second node"},
		{"[gd_scene format=3]\n[node type=\"Node\"]\n", "without a name"},
		{"[gd_scene format=3]\n[node name=\"A\" type=\"Node\"]\n[node name=\"C\" parent=\".\"]\n"
		 "[node name=\"C\" parent=\".\"]\n",
		 "same name"},
		{"[gd_scene format=3]\n[node name=\"A\" type=\"Node\"]\n[connection signal=\"s\" from=\".\" to=\".\"]\n",
		 "connection"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tscn_scene sc;
		parse_ok(cases[i].text, &sc);
		expect_refused(&sc, 4, GROVE_EINVAL, cases[i].words);
		tscn_scene_free(&sc);
	}
	/* References the text reader would not let through, built by hand. */
	struct tscn_scene sc;
	parse_ok("[gd_scene format=3]\n[sub_resource type=\"A\" id=\"a\"]\n[sub_resource type=\"B\" id=\"b\"]\n"
		 "[node name=\"R\" type=\"Node\"]\n",
		 &sc);
	struct variant *second_id = (struct variant *)tscn_attr(&sc.sections[2], "id");
	variant_free(second_id);
	assert_int_equal(variant_set_string(second_id, VARIANT_STRING, "a", 1), GROVE_OK);
	expect_refused(&sc, 4, GROVE_EINVAL, "used twice");
	struct variant ref;
	variant_set_resource_ref(&ref, -3); /* section 2: the second sub_resource, after the first */
	assert_int_equal(tscn_add_prop(&sc.sections[1], "next", &ref), GROVE_OK);
	expect_refused(&sc, 3, GROVE_EINVAL, "declared after");
	tscn_scene_free(&sc);
	parse_ok("[gd_scene format=3]\n[node name=\"R\" type=\"Node\"]\n", &sc);
	variant_set_resource_ref(&ref, -1); /* the gd_scene header is no resource */
	assert_int_equal(tscn_add_prop(&sc.sections[1], "p", &ref), GROVE_OK);
	expect_refused(&sc, 4, GROVE_EINVAL, "line 2, p");
	expect_refused(&sc, 5, GROVE_EINVAL, "3 or 4");
	tscn_scene_free(&sc);
}

static void test_sink_error_stops_the_write(void **state)
{
	(void)state;
	struct tscn_scene sc;
	parse_ok(every_type3, &sc);
	struct pieces p = {.fail_after = 100};
	struct scn_sink sink = {collect, &p};
	assert_int_equal(scn_write_to(&sc, 3, &sink, NULL), GROVE_EIO);
	assert_true(p.all.len <= 100);
	grove_buf_free(&p.all);
	tscn_scene_free(&sc);
}

/* A wide scene: node, name and value indices past what small scenes reach. */
static void test_large_scene(void **state)
{
	(void)state;
	struct grove_buf text = {0};
	const char head[] = "[gd_scene format=2]\n[node name=\"Root\" type=\"Node2D\"]\n";
	grove_buf_put(&text, head, sizeof(head) - 1);
	char line[256];
	for (int i = 0; i < 20000; i++) {
		/* every tenth node below the root, the others below N0 */
		int n = snprintf(line, sizeof(line),
				 "[node name=\"N%d\" type=\"Node2D\" parent=\"%s\"]\nposition = Vector2( %d, 0.5 )\n", i,
				 i % 10 == 0 || i < 1 ? "." : "N0", i);
		grove_buf_put(&text, line, (size_t)n);
	}
	struct tscn_scene sc;
	grove_buf_put(&text, "", 1);
	parse_ok((const char *)text.data, &sc);
	write_and_check(&sc, 3, "large");
	write_and_check(&sc, 4, "large");
	tscn_scene_free(&sc);
	grove_buf_free(&text);
}

/* Every corpus scene of @p dir written for @p major (and, when the scene needs no Godot 4 type, the other). */
static void corpus(const char *dir, int major)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", CORPUS, dir);
	DIR *d = opendir(path);
	if (!d) {
		print_message("corpus %s is absent; skipping\n", path);
		skip();
	}
	size_t written = 0, refused = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 5, ".tscn") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", CORPUS, dir, e->d_name);
		char *text = test_read_file(path, &len);
		struct tscn_scene sc;
		parse_ok(text, &sc);
		free(text);
		write_and_check(&sc, major, e->d_name);
		written++;
		/* The other major: Godot 4 scenes may hold what Godot 3 cannot; then the refusal names it. */
		struct grove_buf out = {0};
		struct scn_error err;
		int other = major == 3 ? 4 : 3;
		int rc = scn_write(&sc, other, &out, &err);
		if (rc == GROVE_OK) {
			check_file(&sc, other, out.data, out.len, e->d_name);
		} else {
			assert_int_equal(rc, GROVE_EINVAL);
			assert_int_equal(other, 3);
			assert_non_null(strstr(err.message, "Godot 3"));
			refused++;
		}
		grove_buf_free(&out);
		tscn_scene_free(&sc);
	}
	closedir(d);
	print_message("%zu %s scenes written and read back (%zu refused for the other version)\n", written, dir, refused);
	assert_true(written > 100);
}

static void test_corpus_godot3(void **state)
{
	(void)state;
	corpus("godot3", 3);
}

static void test_corpus_godot4(void **state)
{
	(void)state;
	corpus("godot4", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_godot4),
		cmocka_unit_test(test_format_4_without_vector4_arrays),
		cmocka_unit_test(test_every_type_godot3),
		cmocka_unit_test(test_godot3_refusals),
		cmocka_unit_test(test_malformed_scenes_refused),
		cmocka_unit_test(test_sink_error_stops_the_write),
		cmocka_unit_test(test_large_scene),
		cmocka_unit_test(test_corpus_godot3),
		cmocka_unit_test(test_corpus_godot4),
	};
	return cmocka_run_group_tests_name("scn", tests, NULL, NULL);
}
