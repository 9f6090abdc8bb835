#include "godot/variant_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/common/grow.h"

/* ---- the constructors, by name ---- */

/* A constructor of fixed arity: Godot 4 name, Godot 3 name (NULL if none). */
struct constructor {
	const char *name;
	const char *name3;
	enum variant_type type;
};

static const struct constructor constructors[] = {
	{"Vector2", "Vector2", VARIANT_VECTOR2},
	{"Vector2i", NULL, VARIANT_VECTOR2I},
	{"Rect2", "Rect2", VARIANT_RECT2},
	{"Rect2i", NULL, VARIANT_RECT2I},
	{"Vector3", "Vector3", VARIANT_VECTOR3},
	{"Vector3i", NULL, VARIANT_VECTOR3I},
	{"Transform2D", "Transform2D", VARIANT_TRANSFORM2D},
	{"Vector4", NULL, VARIANT_VECTOR4},
	{"Vector4i", NULL, VARIANT_VECTOR4I},
	{"Plane", "Plane", VARIANT_PLANE},
	{"Quaternion", "Quat", VARIANT_QUATERNION},
	{"AABB", "AABB", VARIANT_AABB},
	{"Basis", "Basis", VARIANT_BASIS},
	{"Transform3D", "Transform", VARIANT_TRANSFORM3D},
	{"Projection", NULL, VARIANT_PROJECTION},
	{"Color", "Color", VARIANT_COLOR},
	{"PackedByteArray", "PoolByteArray", VARIANT_PACKED_BYTE_ARRAY},
	{"PackedInt32Array", "PoolIntArray", VARIANT_PACKED_INT32_ARRAY},
	{"PackedInt64Array", NULL, VARIANT_PACKED_INT64_ARRAY},
	{"PackedFloat32Array", "PoolRealArray", VARIANT_PACKED_FLOAT32_ARRAY},
	{"PackedFloat64Array", NULL, VARIANT_PACKED_FLOAT64_ARRAY},
	{"PackedStringArray", "PoolStringArray", VARIANT_PACKED_STRING_ARRAY},
	{"PackedVector2Array", "PoolVector2Array", VARIANT_PACKED_VECTOR2_ARRAY},
	{"PackedVector3Array", "PoolVector3Array", VARIANT_PACKED_VECTOR3_ARRAY},
	{"PackedColorArray", "PoolColorArray", VARIANT_PACKED_COLOR_ARRAY},
	{"PackedVector4Array", NULL, VARIANT_PACKED_VECTOR4_ARRAY},
};

static const struct constructor *constructor_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(constructors) / sizeof(constructors[0]); i++) {
		const struct constructor *k = &constructors[i];
		if ((strlen(k->name) == len && memcmp(k->name, name, len) == 0) ||
		    (k->name3 && strlen(k->name3) == len && memcmp(k->name3, name, len) == 0))
			return k;
	}
	/* Older Godot 3 files say Rect3 for AABB. */
	if (len == 5 && memcmp(name, "Rect3", 5) == 0)
		return &constructors[11];
	return NULL;
}

static const struct constructor *constructor_by_type(enum variant_type type)
{
	for (size_t i = 0; i < sizeof(constructors) / sizeof(constructors[0]); i++)
		if (constructors[i].type == type)
			return &constructors[i];
	return NULL;
}

static bool is_packed(enum variant_type t)
{
	return t >= VARIANT_PACKED_BYTE_ARRAY && t <= VARIANT_PACKED_VECTOR4_ARRAY;
}

static bool is_int_components(enum variant_type t)
{
	return t == VARIANT_VECTOR2I || t == VARIANT_VECTOR3I || t == VARIANT_VECTOR4I || t == VARIANT_RECT2I;
}

/* ---- cursor ---- */

void godot_text_cursor_init(struct godot_text_cursor *c, const char *text, size_t len)
{
	c->text = text;
	c->len = len;
	c->pos = 0;
	c->line = 1;
	c->column = 1;
}

static int peek(const struct godot_text_cursor *c)
{
	return c->pos < c->len ? (unsigned char)c->text[c->pos] : -1;
}

static int peek_at(const struct godot_text_cursor *c, size_t ahead)
{
	return c->pos + ahead < c->len ? (unsigned char)c->text[c->pos + ahead] : -1;
}

void godot_text_advance(struct godot_text_cursor *c)
{
	if (c->pos >= c->len)
		return;
	if (c->text[c->pos] == '\n') {
		c->line++;
		c->column = 1;
	} else {
		c->column++;
	}
	c->pos++;
}

void godot_text_skip_space(struct godot_text_cursor *c)
{
	for (;;) {
		int ch = peek(c);
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			godot_text_advance(c);
		} else if (ch == ';') {
			while (peek(c) != -1 && peek(c) != '\n')
				godot_text_advance(c);
		} else {
			return;
		}
	}
}

__attribute__((format(printf, 4, 5))) static int parse_error(const struct godot_text_cursor *c,
							     struct godot_text_error *err, int code,
							     const char *fmt, ...)
{
	if (err) {
		err->line = c->line;
		err->column = c->column;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

static bool is_ident_start(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_ident_char(int ch)
{
	return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

static bool expect(struct godot_text_cursor *c, int ch)
{
	godot_text_skip_space(c);
	if (peek(c) != ch)
		return false;
	godot_text_advance(c);
	return true;
}

/* ---- strings ---- */

static void put_utf8(struct grove_buf *b, uint32_t cp)
{
	uint8_t tmp[4];
	size_t n;
	if (cp < 0x80) {
		tmp[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = (uint8_t)(0xc0 | cp >> 6);
		tmp[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (uint8_t)(0xe0 | cp >> 12);
		tmp[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		tmp[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		tmp[0] = (uint8_t)(0xf0 | cp >> 18);
		tmp[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		tmp[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		tmp[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	grove_buf_put(b, tmp, n);
}

static bool read_hex(struct godot_text_cursor *c, int digits, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < digits; i++) {
		int ch = peek(c);
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (d < 0)
			return false;
		v = v * 16 + (uint32_t)d;
		godot_text_advance(c);
	}
	*out = v;
	return true;
}

int godot_text_parse_string(struct godot_text_cursor *c, char **out, size_t *len, struct godot_text_error *err)
{
	*out = NULL;
	if (peek(c) != '"')
		return parse_error(c, err, GROVE_EPARSE, "expected a string");
	struct godot_text_cursor start = *c;
	godot_text_advance(c);
	struct grove_buf b = {0};
	for (;;) {
		int ch = peek(c);
		if (ch == -1) {
			grove_buf_free(&b);
			return parse_error(&start, err, GROVE_EPARSE, "unterminated string");
		}
		if (ch == '"') {
			godot_text_advance(c);
			break;
		}
		if (ch != '\\') {
			/* Raw newlines are part of the string: Godot writes multi-line text that way. */
			char byte = (char)ch;
			grove_buf_put(&b, &byte, 1);
			godot_text_advance(c);
			continue;
		}
		godot_text_advance(c);
		int esc = peek(c);
		char byte;
		uint32_t cp;
		switch (esc) {
		case 'n': byte = '\n'; break;
		case 't': byte = '\t'; break;
		case 'r': byte = '\r'; break;
		case 'b': byte = '\b'; break;
		case 'f': byte = '\f'; break;
		case 'u':
		case 'U':
			godot_text_advance(c);
			if (!read_hex(c, esc == 'u' ? 4 : 6, &cp) || cp > 0x10ffff) {
				grove_buf_free(&b);
				return parse_error(c, err, GROVE_EPARSE, "malformed \\%c escape", esc);
			}
			/* A UTF-16 surrogate pair written as two \u escapes. */
			if (cp >= 0xd800 && cp < 0xdc00 && peek(c) == '\\' && peek_at(c, 1) == 'u') {
				godot_text_advance(c);
				godot_text_advance(c);
				uint32_t low;
				if (!read_hex(c, 4, &low) || low < 0xdc00 || low > 0xdfff) {
					grove_buf_free(&b);
					return parse_error(c, err, GROVE_EPARSE, "malformed surrogate pair");
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			}
			put_utf8(&b, cp);
			continue;
		case -1:
			grove_buf_free(&b);
			return parse_error(&start, err, GROVE_EPARSE, "unterminated string");
		default:
			/* Godot reads any other escaped character as itself (its writers escape ' and ? so). */
			byte = (char)esc;
			break;
		}
		grove_buf_put(&b, &byte, 1);
		godot_text_advance(c);
	}
	grove_buf_put(&b, "", 1);
	if (b.failed) {
		grove_buf_free(&b);
		return GROVE_ENOMEM;
	}
	*out = (char *)b.data;
	*len = b.len - 1;
	return GROVE_OK;
}

void godot_text_write_string(struct grove_buf *out, const char *s, size_t len)
{
	grove_buf_put(out, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			grove_buf_put(out, s + run, i - run);
			grove_buf_put(out, "\\", 1);
			run = i;
		}
	}
	grove_buf_put(out, s + run, len - run);
	grove_buf_put(out, "\"", 1);
}

/* ---- numbers ---- */

/* A number as read: integer if written without '.', exponent, inf or nan. */
struct number {
	bool is_int;
	int64_t i;
	double d;
};

static int parse_number(struct godot_text_cursor *c, struct number *n, struct godot_text_error *err)
{
	struct godot_text_cursor start = *c;
	char buf[80];
	size_t k = 0;
	int ch = peek(c);
	if (ch == '-' || ch == '+') {
		buf[k++] = (char)ch;
		godot_text_advance(c);
	}
	if (is_ident_start(peek(c))) {
		size_t from = c->pos;
		while (is_ident_char(peek(c)))
			godot_text_advance(c);
		size_t wl = c->pos - from;
		const char *w = c->text + from;
		bool neg = k > 0 && buf[0] == '-';
		if (wl == 3 && memcmp(w, "inf", 3) == 0)
			*n = (struct number){.d = neg ? -INFINITY : INFINITY};
		else if (wl == 7 && memcmp(w, "inf_neg", 7) == 0 && k == 0)
			*n = (struct number){.d = -INFINITY};
		else if (wl == 3 && memcmp(w, "nan", 3) == 0)
			*n = (struct number){.d = NAN};
		else
			return parse_error(&start, err, GROVE_EPARSE, "expected a number");
		return GROVE_OK;
	}
	bool is_int = true, digits = false;
	/* Room for an exponent's sign after its 'e', and the NUL. */
	while (k + 2 < sizeof(buf)) {
		ch = peek(c);
		if (ch >= '0' && ch <= '9') {
			digits = true;
		} else if (ch == '.') {
			is_int = false;
		} else if (ch == 'e' || ch == 'E') {
			is_int = false;
			buf[k++] = (char)ch;
			godot_text_advance(c);
			ch = peek(c);
			if (ch != '-' && ch != '+')
				continue;
		} else {
			break;
		}
		buf[k++] = (char)ch;
		godot_text_advance(c);
	}
	buf[k] = '\0';
	if (!digits || is_ident_char(peek(c)) || peek(c) == '.')
		return parse_error(&start, err, GROVE_EPARSE, "malformed number");
	char *end;
	if (is_int) {
		/* Beyond 64 bits strtoll gives the nearest limit: Godot's loaders clamp the same way (and log it). */
		long long v = strtoll(buf, &end, 10);
		if (*end)
			return parse_error(&start, err, GROVE_EPARSE, "malformed number");
		*n = (struct number){.is_int = true, .i = v, .d = (double)v};
	} else {
		double d = strtod(buf, &end);
		if (*end)
			return parse_error(&start, err, GROVE_EPARSE, "malformed number");
		*n = (struct number){.d = d};
	}
	return GROVE_OK;
}

static bool number_starts(int ch, int next)
{
	return (ch >= '0' && ch <= '9') || ch == '.' || ((ch == '-' || ch == '+') && next != -1);
}

/* Read a comma-separated list of numbers up to ')'. The opening '(' is already consumed. */
static int parse_number_list(struct godot_text_cursor *c, struct number **out, size_t *count,
			     struct godot_text_error *err)
{
	size_t n = 0, cap = 16;
	struct number *items = malloc(cap * sizeof(*items));
	if (!items)
		return GROVE_ENOMEM;
	godot_text_skip_space(c);
	if (peek(c) == ')') {
		godot_text_advance(c);
		*out = items;
		*count = 0;
		return GROVE_OK;
	}
	for (;;) {
		godot_text_skip_space(c);
		if (grove_grow((void **)&items, &cap, n, sizeof(*items))) {
			free(items);
			return GROVE_ENOMEM;
		}
		int e = parse_number(c, &items[n], err);
		if (e) {
			free(items);
			return e;
		}
		n++;
		godot_text_skip_space(c);
		if (peek(c) == ',') {
			godot_text_advance(c);
			continue;
		}
		if (peek(c) == ')') {
			godot_text_advance(c);
			break;
		}
		free(items);
		return parse_error(c, err, GROVE_EPARSE, "expected ',' or ')'");
	}
	*out = items;
	*count = n;
	return GROVE_OK;
}

/* ---- colours written as HTML codes: #rgb, #rrggbb and, with alpha, 4 or 8 digits ---- */

static int hex_digit(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Godot's parsers read '#' and every hex digit after it as a colour. With alpha, Godot 3 puts it first
 * (#aarrggbb, #argb) and Godot 4 last (#rrggbbaa, #rgba); a short form doubles each digit. Components
 * are bytes over 255, narrowed to the float a Color holds.
 */
static int parse_html_color(struct godot_text_cursor *c, const struct godot_text_options *o, struct variant *out,
			    struct godot_text_error *err)
{
	struct godot_text_cursor start = *c;
	godot_text_advance(c); /* '#' */
	int digits[8];
	size_t n = 0;
	while (hex_digit(peek(c)) >= 0) {
		if (n < 8)
			digits[n] = hex_digit(peek(c));
		n++;
		godot_text_advance(c);
	}
	if (n != 3 && n != 4 && n != 6 && n != 8)
		return parse_error(&start, err, GROVE_EPARSE, "a colour code has 3, 4, 6 or 8 hex digits, not %zu", n);
	bool short_form = n < 6;
	size_t count = short_form ? n : n / 2;
	double bytes[4];
	for (size_t i = 0; i < count; i++)
		bytes[i] = short_form ? digits[i] * 17 : digits[2 * i] * 16 + digits[2 * i + 1];
	double rgba[4] = {0, 0, 0, 255};
	bool alpha_first = count == 4 && o && o->godot_major == 3;
	for (size_t i = 0; i < count; i++)
		rgba[alpha_first ? (i + 3) % 4 : i] = bytes[i];
	for (size_t i = 0; i < 4; i++)
		rgba[i] = (float)(rgba[i] / 255.0);
	return variant_set_reals(out, VARIANT_COLOR, rgba, 4);
}

/* ---- base64 (Godot 4 writes PackedByteArray that way) ---- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(int ch)
{
	const char *p = ch > 0 ? strchr(b64_alphabet, ch) : NULL;
	return p ? (int)(p - b64_alphabet) : -1;
}

static int base64_decode(const char *s, size_t len, struct variant *out)
{
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return GROVE_EPARSE;
	size_t bytes = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	if (bytes > UINT32_MAX)
		return GROVE_ETOOBIG;
	int e = variant_set_packed(out, VARIANT_PACKED_BYTE_ARRAY, (uint32_t)bytes);
	if (e)
		return e;
	uint8_t *dst = out->as.packed->as.bytes;
	uint32_t acc = 0;
	int bits = 0;
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			variant_free(out);
			return GROVE_EPARSE;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dst[w++] = (uint8_t)(acc >> bits);
		}
	}
	return GROVE_OK;
}

static void base64_encode(struct grove_buf *out, const uint8_t *data, size_t len)
{
	char quad[4];
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		quad[0] = b64_alphabet[v >> 18];
		quad[1] = b64_alphabet[(v >> 12) & 63];
		quad[2] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		quad[3] = i + 2 < len ? b64_alphabet[v & 63] : '=';
		grove_buf_put(out, quad, 4);
	}
}

/* ---- values ---- */

static int parse_value(struct godot_text_cursor *c, const struct godot_text_options *o, struct variant *out,
		       struct godot_text_error *err, int depth);

static int parse_fixed(struct godot_text_cursor *c, enum variant_type type, struct variant *out,
		       struct godot_text_error *err)
{
	struct godot_text_cursor start = *c;
	struct number *nums;
	size_t n;
	int e = parse_number_list(c, &nums, &n, err);
	if (e)
		return e;
	unsigned want = variant_component_count(type);
	/* Color may be written without alpha. */
	if (type == VARIANT_COLOR && n == 3) {
		nums[3] = (struct number){.is_int = true, .i = 1, .d = 1.0};
		n = 4;
	}
	if (n != want) {
		free(nums);
		return parse_error(&start, err, GROVE_EPARSE, "%s takes %u numbers, not %zu", variant_type_name(type),
				   want, n);
	}
	if (is_int_components(type)) {
		int32_t iv[4];
		for (unsigned i = 0; i < n; i++) {
			/* Godot converts a component written as a float the way C does: toward zero. */
			double d = nums[i].is_int ? (double)nums[i].i : trunc(nums[i].d);
			if (!(d >= INT32_MIN && d <= INT32_MAX)) {
				free(nums);
				return parse_error(&start, err, GROVE_EPARSE, "%s takes 32-bit integers",
						   variant_type_name(type));
			}
			iv[i] = (int32_t)d;
		}
		variant_set_ints(out, type, iv, want);
	} else {
		double r[16];
		for (unsigned i = 0; i < n; i++)
			r[i] = nums[i].d;
		e = variant_set_reals(out, type, r, want);
	}
	free(nums);
	return e;
}

static int parse_packed(struct godot_text_cursor *c, enum variant_type type, struct variant *out,
			struct godot_text_error *err)
{
	struct godot_text_cursor start = *c;
	godot_text_skip_space(c);
	if (type == VARIANT_PACKED_STRING_ARRAY || (type == VARIANT_PACKED_BYTE_ARRAY && peek(c) == '"')) {
		/* Strings (or one base64 string for bytes) up to ')'. */
		struct variant list;
		int e = variant_set_array(&list);
		while (!e && peek(c) != ')') {
			char *s;
			size_t len;
			e = godot_text_parse_string(c, &s, &len, err);
			if (e)
				break;
			struct variant item = {.type = VARIANT_STRING, .as.str = {s, (uint32_t)len}};
			e = variant_array_push(&list, &item);
			if (e)
				variant_free(&item);
			godot_text_skip_space(c);
			if (!e && peek(c) == ',') {
				godot_text_advance(c);
				godot_text_skip_space(c);
			} else if (!e && peek(c) != ')') {
				e = parse_error(c, err, GROVE_EPARSE, "expected ',' or ')'");
			}
		}
		if (!e)
			godot_text_advance(c);
		if (!e && type == VARIANT_PACKED_BYTE_ARRAY) {
			const struct variant_array *a = list.as.array;
			if (a->len > 1)
				e = parse_error(&start, err, GROVE_EPARSE, "PackedByteArray takes one base64 string");
			else if (a->len == 0)
				e = variant_set_packed(out, type, 0);
			else if ((e = base64_decode(a->items[0].as.str.ptr, a->items[0].as.str.len, out)) == GROVE_EPARSE)
				parse_error(&start, err, e, "malformed base64 in PackedByteArray");
		} else if (!e) {
			const struct variant_array *a = list.as.array;
			e = variant_set_packed(out, type, a->len);
			for (uint32_t i = 0; !e && i < a->len; i++)
				e = variant_packed_set_string(out, i, a->items[i].as.str.ptr, a->items[i].as.str.len);
		}
		variant_free(&list);
		return e;
	}
	struct number *nums;
	size_t n;
	int e = parse_number_list(c, &nums, &n, err);
	if (e)
		return e;
	unsigned per = variant_packed_reals_per_element(type);
	size_t elems = per ? n / per : n;
	if ((per && n % per) || elems > UINT32_MAX) {
		free(nums);
		return parse_error(&start, err, GROVE_EPARSE, "%s needs a multiple of %u numbers", variant_type_name(type),
				   per);
	}
	e = variant_set_packed(out, type, (uint32_t)elems);
	for (size_t i = 0; !e && i < n; i++) {
		switch (type) {
		case VARIANT_PACKED_BYTE_ARRAY:
			if (!nums[i].is_int || nums[i].i < 0 || nums[i].i > 255)
				e = parse_error(&start, err, GROVE_EPARSE, "PackedByteArray takes bytes (0-255)");
			else
				out->as.packed->as.bytes[i] = (uint8_t)nums[i].i;
			break;
		case VARIANT_PACKED_INT32_ARRAY:
			if (!nums[i].is_int || nums[i].i < INT32_MIN || nums[i].i > INT32_MAX)
				e = parse_error(&start, err, GROVE_EPARSE, "PackedInt32Array takes 32-bit integers");
			else
				out->as.packed->as.i32[i] = (int32_t)nums[i].i;
			break;
		case VARIANT_PACKED_INT64_ARRAY:
			if (!nums[i].is_int)
				e = parse_error(&start, err, GROVE_EPARSE, "PackedInt64Array takes integers");
			else
				out->as.packed->as.i64[i] = nums[i].i;
			break;
		default:
			out->as.packed->as.reals[i] = nums[i].d;
			break;
		}
	}
	free(nums);
	if (e)
		variant_free(out);
	return e;
}

static int parse_resource_ref(struct godot_text_cursor *c, const struct godot_text_options *o, bool ext,
			      struct variant *out, struct godot_text_error *err);

/*
 * A type inside Array[...] or Dictionary[...]: a builtin type name, a class name, or the script that
 * types the elements, written as a resource reference (ExtResource(...) or SubResource(...)).
 */
static int parse_typehint(struct godot_text_cursor *c, const struct godot_text_options *o, struct variant_typehint *h,
			  struct godot_text_error *err)
{
	godot_text_skip_space(c);
	size_t from = c->pos;
	if (!is_ident_start(peek(c)))
		return parse_error(c, err, GROVE_EPARSE, "expected a type name");
	while (is_ident_char(peek(c)))
		godot_text_advance(c);
	size_t len = c->pos - from;
	const char *name = c->text + from;
	memset(h, 0, sizeof(*h));
	bool ext = len == 11 && memcmp(name, "ExtResource", 11) == 0;
	if (ext || (len == 11 && memcmp(name, "SubResource", 11) == 0)) {
		if (!expect(c, '('))
			return parse_error(c, err, GROVE_EPARSE, "expected '('");
		struct variant ref;
		int e = parse_resource_ref(c, o, ext, &ref, err);
		if (e)
			return e;
		if (ref.as.ref == 0)
			return parse_error(c, err, GROVE_EPARSE, "a container typed by a null script");
		h->type = VARIANT_RESOURCE_REF;
		h->script = ref.as.ref;
		return GROVE_OK;
	}
	for (int t = 0; t < VARIANT_TYPE_MAX; t++) {
		const char *tn = variant_type_name((enum variant_type)t);
		if (tn && t != VARIANT_RESOURCE_REF && strlen(tn) == len && memcmp(tn, name, len) == 0) {
			h->type = (enum variant_type)t;
			return GROVE_OK;
		}
	}
	/* Any other name is a class: an Object-typed container. */
	h->type = VARIANT_RESOURCE_REF;
	if (!(len == 6 && memcmp(name, "Object", 6) == 0)) {
		h->class_name = strndup(name, len);
		if (!h->class_name)
			return GROVE_ENOMEM;
	}
	return GROVE_OK;
}

static int parse_array_body(struct godot_text_cursor *c, const struct godot_text_options *o, struct variant *out,
			    struct godot_text_error *err, int depth)
{
	/* The '[' is already consumed. */
	int e = variant_set_array(out);
	godot_text_skip_space(c);
	while (!e && peek(c) != ']') {
		struct variant item;
		e = parse_value(c, o, &item, err, depth + 1);
		if (e)
			break;
		e = variant_array_push(out, &item);
		if (e) {
			variant_free(&item);
			break;
		}
		godot_text_skip_space(c);
		if (peek(c) == ',') {
			godot_text_advance(c);
			godot_text_skip_space(c);
		} else if (peek(c) != ']') {
			e = parse_error(c, err, GROVE_EPARSE, peek(c) == -1 ? "unterminated array" : "expected ',' or ']'");
		}
	}
	if (!e)
		godot_text_advance(c);
	if (e)
		variant_free(out);
	return e;
}

static int parse_dict_body(struct godot_text_cursor *c, const struct godot_text_options *o, struct variant *out,
			   struct godot_text_error *err, int depth)
{
	/* The '{' is already consumed. */
	int e = variant_set_dict(out);
	godot_text_skip_space(c);
	while (!e && peek(c) != '}') {
		struct variant key, value = {0};
		e = parse_value(c, o, &key, err, depth + 1);
		if (e)
			break;
		if (!expect(c, ':')) {
			variant_free(&key);
			e = parse_error(c, err, GROVE_EPARSE, "expected ':' after a dictionary key");
			break;
		}
		e = parse_value(c, o, &value, err, depth + 1);
		if (!e)
			e = variant_dict_put(out, &key, &value);
		variant_free(&key);
		variant_free(&value);
		if (e)
			break;
		godot_text_skip_space(c);
		if (peek(c) == ',') {
			godot_text_advance(c);
			godot_text_skip_space(c);
		} else if (peek(c) != '}') {
			e = parse_error(c, err, GROVE_EPARSE, peek(c) == -1 ? "unterminated dictionary" : "expected ',' or '}'");
		}
	}
	if (!e)
		godot_text_advance(c);
	if (e)
		variant_free(out);
	return e;
}

/* ExtResource(...) / SubResource(...): the id is a string or (Godot 3) an integer. */
static int parse_resource_ref(struct godot_text_cursor *c, const struct godot_text_options *o, bool ext,
			      struct variant *out, struct godot_text_error *err)
{
	struct godot_text_cursor start = *c;
	godot_text_skip_space(c);
	struct variant id = {0};
	int e;
	if (peek(c) == '"') {
		char *s;
		size_t len;
		e = godot_text_parse_string(c, &s, &len, err);
		if (e)
			return e;
		id = (struct variant){.type = VARIANT_STRING, .as.str = {s, (uint32_t)len}};
	} else {
		struct number n;
		e = parse_number(c, &n, err);
		if (e)
			return e;
		if (!n.is_int)
			return parse_error(&start, err, GROVE_EPARSE, "resource id must be a string or an integer");
		variant_set_int(&id, n.i);
	}
	if (!expect(c, ')')) {
		variant_free(&id);
		return parse_error(c, err, GROVE_EPARSE, "expected ')'");
	}
	int64_t ref = 0;
	e = o && o->resolve ? o->resolve(o->ctx, ext, &id, &ref) : GROVE_ENOTFOUND;
	variant_free(&id);
	if (e)
		return parse_error(&start, err, GROVE_EPARSE, "unknown %s", ext ? "ExtResource" : "SubResource");
	variant_set_resource_ref(out, ref);
	return GROVE_OK;
}

static int parse_identifier(struct godot_text_cursor *c, const struct godot_text_options *o, struct variant *out,
			    struct godot_text_error *err, int depth)
{
	struct godot_text_cursor start = *c;
	size_t from = c->pos;
	while (is_ident_char(peek(c)))
		godot_text_advance(c);
	size_t len = c->pos - from;
	const char *name = c->text + from;
#define IS(word) (len == sizeof(word) - 1 && memcmp(name, word, len) == 0)
	if (IS("true") || IS("false")) {
		variant_set_bool(out, IS("true"));
		return GROVE_OK;
	}
	if (IS("null") || IS("nil")) {
		variant_set_nil(out);
		return GROVE_OK;
	}
	if (IS("inf") || IS("inf_neg") || IS("nan")) {
		variant_set_float(out, IS("nan") ? NAN : IS("inf") ? INFINITY : -INFINITY);
		return GROVE_OK;
	}
	if (IS("Array") || IS("Dictionary")) {
		bool is_array = IS("Array");
		godot_text_skip_space(c);
		if (peek(c) != '[')
			return parse_error(c, err, GROVE_EPARSE, "expected '[' after %s", is_array ? "Array" : "Dictionary");
		godot_text_advance(c);
		struct variant_typehint k = {0}, v = {0};
		int e = parse_typehint(c, o, &k, err);
		if (!e && !is_array) {
			if (!expect(c, ','))
				e = parse_error(c, err, GROVE_EPARSE, "expected ',' between key and value types");
			else
				e = parse_typehint(c, o, &v, err);
		}
		if (!e && !expect(c, ']'))
			e = parse_error(c, err, GROVE_EPARSE, "expected ']'");
		if (!e && !expect(c, '('))
			e = parse_error(c, err, GROVE_EPARSE, "expected '('");
		if (!e && !expect(c, is_array ? '[' : '{'))
			e = parse_error(c, err, GROVE_EPARSE, "expected '%c'", is_array ? '[' : '{');
		if (!e)
			e = is_array ? parse_array_body(c, o, out, err, depth) : parse_dict_body(c, o, out, err, depth);
		if (!e && !expect(c, ')')) {
			variant_free(out);
			e = parse_error(c, err, GROVE_EPARSE, "expected ')'");
		}
		if (!e)
			e = is_array ? variant_array_set_typehint(out, k.type, k.class_name)
				     : variant_dict_set_typehints(out, k.type, k.class_name, v.type, v.class_name);
		if (!e && is_array) {
			out->as.array->elem.script = k.script;
		} else if (!e) {
			out->as.dict->key.script = k.script;
			out->as.dict->value.script = v.script;
		}
		free(k.class_name);
		free(v.class_name);
		if (e)
			variant_free(out);
		return e;
	}
	godot_text_skip_space(c);
	if (peek(c) != '(')
		return parse_error(&start, err, GROVE_EPARSE, "unknown word \"%.*s\"", (int)(len > 40 ? 40 : len), name);
	godot_text_advance(c);
	if (IS("ExtResource") || IS("SubResource"))
		return parse_resource_ref(c, o, IS("ExtResource"), out, err);
	if (IS("Callable") || IS("Signal")) {
		/* Godot writes only empty ones (what a scene can keep of them) and reads them back empty. */
		enum variant_type type = IS("Callable") ? VARIANT_CALLABLE : VARIANT_SIGNAL;
		if (!expect(c, ')'))
			return parse_error(c, err, GROVE_EPARSE, "%s takes no arguments", variant_type_name(type));
		out->type = type;
		return GROVE_OK;
	}
	if (IS("NodePath") || IS("StringName") || IS("String")) {
		enum variant_type type = IS("NodePath") ? VARIANT_NODE_PATH : IS("StringName") ? VARIANT_STRING_NAME
											 : VARIANT_STRING;
		godot_text_skip_space(c);
		char *s;
		size_t slen;
		int e = godot_text_parse_string(c, &s, &slen, err);
		if (e)
			return e;
		if (!expect(c, ')')) {
			free(s);
			return parse_error(c, err, GROVE_EPARSE, "expected ')'");
		}
		*out = (struct variant){.type = type, .as.str = {s, (uint32_t)slen}};
		return GROVE_OK;
	}
	const struct constructor *k = constructor_by_name(name, len);
	if (!k)
		return parse_error(&start, err, GROVE_EPARSE, "unknown constructor %.*s", (int)(len > 40 ? 40 : len), name);
	return is_packed(k->type) ? parse_packed(c, k->type, out, err) : parse_fixed(c, k->type, out, err);
#undef IS
}

static int parse_value(struct godot_text_cursor *c, const struct godot_text_options *o, struct variant *out,
		       struct godot_text_error *err, int depth)
{
	variant_set_nil(out);
	if (depth > VARIANT_MAX_DEPTH)
		return parse_error(c, err, GROVE_ETOOBIG, "value nested deeper than %d", VARIANT_MAX_DEPTH);
	godot_text_skip_space(c);
	int ch = peek(c);
	if (ch == -1)
		return parse_error(c, err, GROVE_EPARSE, "expected a value");
	if (ch == '"' || ((ch == '&' || ch == '^') && peek_at(c, 1) == '"')) {
		enum variant_type type = ch == '&' ? VARIANT_STRING_NAME : ch == '^' ? VARIANT_NODE_PATH : VARIANT_STRING;
		if (ch != '"')
			godot_text_advance(c);
		char *s;
		size_t len;
		int e = godot_text_parse_string(c, &s, &len, err);
		if (e)
			return e;
		if (len > UINT32_MAX - 1) {
			free(s);
			return parse_error(c, err, GROVE_ETOOBIG, "string too long");
		}
		*out = (struct variant){.type = type, .as.str = {s, (uint32_t)len}};
		return GROVE_OK;
	}
	if (ch == '[') {
		godot_text_advance(c);
		return parse_array_body(c, o, out, err, depth);
	}
	if (ch == '{') {
		godot_text_advance(c);
		return parse_dict_body(c, o, out, err, depth);
	}
	if (number_starts(ch, peek_at(c, 1))) {
		struct number n;
		int e = parse_number(c, &n, err);
		if (e)
			return e;
		if (n.is_int)
			variant_set_int(out, n.i);
		else
			variant_set_float(out, n.d);
		return GROVE_OK;
	}
	if (ch == '#')
		return parse_html_color(c, o, out, err);
	if (is_ident_start(ch))
		return parse_identifier(c, o, out, err, depth);
	return parse_error(c, err, GROVE_EPARSE, "unexpected character '%c'", ch);
}

int godot_text_parse_at(struct godot_text_cursor *c, const struct godot_text_options *opts, struct variant *out,
			struct godot_text_error *err)
{
	return parse_value(c, opts, out, err, 0);
}

int godot_text_parse(const char *text, size_t len, const struct godot_text_options *opts, struct variant *out,
		     struct godot_text_error *err)
{
	struct godot_text_cursor c;
	godot_text_cursor_init(&c, text, len);
	int e = parse_value(&c, opts, out, err, 0);
	if (e)
		return e;
	godot_text_skip_space(&c);
	if (c.pos != c.len) {
		variant_free(out);
		return parse_error(&c, err, GROVE_EPARSE, "unexpected text after the value");
	}
	return GROVE_OK;
}

/* ---- writing ---- */

static void put_str(struct grove_buf *b, const char *s)
{
	grove_buf_put(b, s, strlen(s));
}

/*
 * The shortest decimal that reads back as exactly @p d. If @p bare, an
 * integral value keeps a ".0" so that it reads back as a float. Negative
 * infinity is "inf_neg" for Godot 4, whose parsers before 4.5 do not read
 * "-inf" (Godot 3, @p g3, writes "-inf", which it does not read either).
 */
static void put_real(struct grove_buf *b, double d, bool bare, bool g3)
{
	char buf[40];
	if (isnan(d)) {
		put_str(b, "nan");
		return;
	}
	if (isinf(d)) {
		put_str(b, d > 0 ? "inf" : g3 ? "-inf" : "inf_neg");
		return;
	}
	if (d == floor(d) && fabs(d) < 1e15) {
		snprintf(buf, sizeof(buf), bare ? "%.1f" : "%.0f", d);
		put_str(b, buf);
		return;
	}
	for (int precision = 15; precision <= 17; precision++) {
		snprintf(buf, sizeof(buf), "%.*g", precision, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (bare && !strpbrk(buf, ".e"))
		strcat(buf, ".0");
	put_str(b, buf);
}

static int write_value(const struct variant *v, const struct godot_text_options *o, struct grove_buf *out,
		       int depth);

/* Opening of a constructor call: Godot 3 puts a space inside the parentheses, even around nothing. */
static void open_call(struct grove_buf *out, const char *name, bool g3)
{
	put_str(out, name);
	put_str(out, g3 ? "( " : "(");
}

static void close_call(struct grove_buf *out, bool g3)
{
	put_str(out, g3 ? " )" : ")");
}

static int write_resource_ref(const struct variant *v, const struct godot_text_options *o, struct grove_buf *out,
			      bool g3);

static int write_typehint_name(const struct variant_typehint *h, const struct godot_text_options *o,
			       struct grove_buf *out)
{
	if (h->type == VARIANT_RESOURCE_REF && h->script) {
		struct variant ref;
		variant_set_resource_ref(&ref, h->script);
		return write_resource_ref(&ref, o, out, false);
	}
	if (h->type == VARIANT_RESOURCE_REF)
		put_str(out, h->class_name ? h->class_name : "Object");
	else
		put_str(out, variant_type_name(h->type));
	return GROVE_OK;
}

static int write_packed(const struct variant *v, struct grove_buf *out, bool g3, bool base64)
{
	const struct constructor *k = constructor_by_type(v->type);
	const struct variant_packed *p = v->as.packed;
	if (g3 && !k->name3) {
		if (v->type == VARIANT_PACKED_INT64_ARRAY || v->type == VARIANT_PACKED_FLOAT64_ARRAY) {
			/* Godot 3 has one int and one real pool; narrow when the values allow it. */
			for (uint32_t i = 0; v->type == VARIANT_PACKED_INT64_ARRAY && i < p->len; i++)
				if (p->as.i64[i] < INT32_MIN || p->as.i64[i] > INT32_MAX)
					return GROVE_EINVAL;
			k = constructor_by_type(v->type == VARIANT_PACKED_INT64_ARRAY ? VARIANT_PACKED_INT32_ARRAY
										       : VARIANT_PACKED_FLOAT32_ARRAY);
		} else {
			return GROVE_EINVAL;
		}
	}
	const char *name = g3 ? k->name3 : k->name;
	if (!g3 && base64 && v->type == VARIANT_PACKED_BYTE_ARRAY) {
		put_str(out, name);
		put_str(out, "(");
		if (p->len) {
			put_str(out, "\"");
			base64_encode(out, p->as.bytes, p->len);
			put_str(out, "\"");
		}
		put_str(out, ")");
		return GROVE_OK;
	}
	unsigned per = variant_packed_reals_per_element(v->type);
	size_t n = per ? (size_t)p->len * per : p->len;
	open_call(out, name, g3);
	char buf[32];
	for (size_t i = 0; i < n; i++) {
		if (i)
			put_str(out, ", ");
		switch (v->type) {
		case VARIANT_PACKED_BYTE_ARRAY:
			snprintf(buf, sizeof(buf), "%u", p->as.bytes[i]);
			put_str(out, buf);
			break;
		case VARIANT_PACKED_INT32_ARRAY:
			snprintf(buf, sizeof(buf), "%" PRId32, p->as.i32[i]);
			put_str(out, buf);
			break;
		case VARIANT_PACKED_INT64_ARRAY:
			snprintf(buf, sizeof(buf), "%" PRId64, p->as.i64[i]);
			put_str(out, buf);
			break;
		case VARIANT_PACKED_STRING_ARRAY:
			godot_text_write_string(out, p->as.strings.ptrs[i], p->as.strings.lens[i]);
			break;
		default:
			if (g3 && !isfinite(p->as.reals[i]))
				return GROVE_EINVAL;
			put_real(out, p->as.reals[i], false, g3);
			break;
		}
	}
	close_call(out, g3);
	return GROVE_OK;
}

static int write_fixed(const struct variant *v, struct grove_buf *out, bool g3)
{
	const struct constructor *k = constructor_by_type(v->type);
	if (g3 && !k->name3)
		return GROVE_EINVAL;
	unsigned n = variant_component_count(v->type);
	open_call(out, g3 ? k->name3 : k->name, g3);
	char buf[24];
	const double *reals = variant_reals(v);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			put_str(out, ", ");
		if (is_int_components(v->type)) {
			snprintf(buf, sizeof(buf), "%" PRId32, v->as.iv[i]);
			put_str(out, buf);
		} else {
			/* Godot 3's constructors refuse inf and nan. */
			if (g3 && !isfinite(reals[i]))
				return GROVE_EINVAL;
			put_real(out, reals[i], false, g3);
		}
	}
	close_call(out, g3);
	return GROVE_OK;
}

static int write_resource_ref(const struct variant *v, const struct godot_text_options *o, struct grove_buf *out,
			      bool g3)
{
	if (v->as.ref == 0) {
		put_str(out, "null");
		return GROVE_OK;
	}
	if (!o || !o->describe)
		return GROVE_EINVAL;
	bool ext = false;
	struct variant id = {0};
	int e = o->describe(o->ctx, v->as.ref, &ext, &id);
	if (e)
		return e;
	open_call(out, ext ? "ExtResource" : "SubResource", g3);
	if (id.type == VARIANT_INT) {
		char buf[24];
		snprintf(buf, sizeof(buf), "%" PRId64, id.as.i);
		put_str(out, buf);
	} else if (id.type == VARIANT_STRING) {
		godot_text_write_string(out, id.as.str.ptr, id.as.str.len);
	} else {
		e = GROVE_EINVAL;
	}
	close_call(out, g3);
	variant_free(&id);
	return e;
}

static int write_value(const struct variant *v, const struct godot_text_options *o, struct grove_buf *out, int depth)
{
	if (depth > VARIANT_MAX_DEPTH)
		return GROVE_ETOOBIG;
	bool g3 = o && o->godot_major == 3;
	char buf[32];
	switch (v->type) {
	case VARIANT_NIL:
		put_str(out, "null");
		return GROVE_OK;
	case VARIANT_BOOL:
		put_str(out, v->as.b ? "true" : "false");
		return GROVE_OK;
	case VARIANT_INT:
		snprintf(buf, sizeof(buf), "%" PRId64, v->as.i);
		put_str(out, buf);
		return GROVE_OK;
	case VARIANT_FLOAT:
		put_real(out, v->as.f, true, g3);
		return GROVE_OK;
	case VARIANT_STRING:
		godot_text_write_string(out, v->as.str.ptr, v->as.str.len);
		return GROVE_OK;
	case VARIANT_STRING_NAME:
		/* Godot 3 has no StringName literal; its scenes hold plain strings there. */
		if (!g3)
			put_str(out, "&");
		godot_text_write_string(out, v->as.str.ptr, v->as.str.len);
		return GROVE_OK;
	case VARIANT_NODE_PATH:
		put_str(out, "NodePath(");
		godot_text_write_string(out, v->as.str.ptr, v->as.str.len);
		put_str(out, ")");
		return GROVE_OK;
	case VARIANT_RESOURCE_REF:
		return write_resource_ref(v, o, out, g3);
	case VARIANT_CALLABLE:
	case VARIANT_SIGNAL:
		/* Godot 3 has neither type. */
		if (g3)
			return GROVE_EINVAL;
		put_str(out, v->type == VARIANT_CALLABLE ? "Callable()" : "Signal()");
		return GROVE_OK;
	case VARIANT_ARRAY: {
		const struct variant_array *a = v->as.array;
		bool typed = !g3 && a->elem.type != VARIANT_NIL;
		if (typed) {
			put_str(out, "Array[");
			int e = write_typehint_name(&a->elem, o, out);
			if (e)
				return e;
			put_str(out, "](");
		}
		put_str(out, g3 ? "[ " : "[");
		for (uint32_t i = 0; i < a->len; i++) {
			if (i)
				put_str(out, ", ");
			int e = write_value(&a->items[i], o, out, depth + 1);
			if (e)
				return e;
		}
		put_str(out, g3 ? " ]" : "]");
		if (typed)
			put_str(out, ")");
		return GROVE_OK;
	}
	case VARIANT_DICTIONARY: {
		const struct variant_dict *d = v->as.dict;
		bool typed = !g3 && (d->key.type != VARIANT_NIL || d->value.type != VARIANT_NIL);
		if (typed) {
			put_str(out, "Dictionary[");
			int e = write_typehint_name(&d->key, o, out);
			if (!e) {
				put_str(out, ", ");
				e = write_typehint_name(&d->value, o, out);
			}
			if (e)
				return e;
			put_str(out, "](");
		}
		put_str(out, d->len ? "{\n" : "{");
		for (uint32_t i = 0; i < d->len; i++) {
			if (i)
				put_str(out, ",\n");
			int e = write_value(&d->keys[i], o, out, depth + 1);
			if (!e) {
				put_str(out, ": ");
				e = write_value(&d->values[i], o, out, depth + 1);
			}
			if (e)
				return e;
		}
		put_str(out, d->len ? "\n}" : "}");
		if (typed)
			put_str(out, ")");
		return GROVE_OK;
	}
	default:
		if (!variant_type_valid((int)v->type))
			return GROVE_EINVAL;
		return is_packed(v->type) ? write_packed(v, out, g3, o && o->base64_bytes) : write_fixed(v, out, g3);
	}
}

int godot_text_write(const struct variant *v, const struct godot_text_options *opts, struct grove_buf *out)
{
	size_t start = out->len;
	int e = write_value(v, opts, out, 0);
	if (!e && out->failed)
		e = GROVE_ENOMEM;
	if (e && !out->failed)
		out->len = start;
	return e;
}
