/* Reading .tscn text into the scene model. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "godot/strmap.h"
#include "godot/tscn.h"
#include "godot/variant_text.h"
#include "src/common/error.h"

/* Scenes larger than this are refused before parsing. */
#define TSCN_MAX_BYTES (1ull << 30)

struct tscn_reader {
	struct godot_text_cursor c;
	struct tscn_scene *scene;
	struct strmap ids;          /* "e:<id>" / "s:<id>" -> section index */
	struct tscn_error *err;
};

__attribute__((format(printf, 4, 5))) static int read_error(struct tscn_reader *r, const struct godot_text_cursor *at,
							    int code, const char *fmt, ...)
{
	if (r->err) {
		r->err->line = at->line;
		r->err->column = at->column;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err->message, sizeof(r->err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

/* "e:1_abc", "s:3": the key of a resource id in the id map. */
static int id_key(bool ext, const struct variant *id, char *key, size_t cap)
{
	if (id->type == VARIANT_INT)
		snprintf(key, cap, "%c:%" PRId64, ext ? 'e' : 's', id->as.i);
	else if (id->type == VARIANT_STRING && id->as.str.len < cap - 3)
		snprintf(key, cap, "%c:%s", ext ? 'e' : 's', id->as.str.ptr);
	else
		return GROVE_EINVAL;
	return GROVE_OK;
}

static int resolve_ref(void *ctx, bool ext, const struct variant *id, int64_t *ref)
{
	struct tscn_reader *r = ctx;
	char key[300];
	size_t index;
	if (id_key(ext, id, key, sizeof(key)) || !strmap_get(&r->ids, key, &index))
		return GROVE_ENOTFOUND;
	*ref = -(int64_t)index - 1;
	return GROVE_OK;
}

static const struct {
	const char *tag;
	enum tscn_section_kind kind;
} section_tags[] = {
	{"gd_scene", TSCN_GD_SCENE},       {"ext_resource", TSCN_EXT_RESOURCE}, {"sub_resource", TSCN_SUB_RESOURCE},
	{"node", TSCN_NODE},               {"connection", TSCN_CONNECTION},     {"editable", TSCN_EDITABLE},
};

static bool word_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

static int cur(const struct godot_text_cursor *c)
{
	return c->pos < c->len ? (unsigned char)c->text[c->pos] : -1;
}

/* Blanks and tabs only: a header or a property line does not continue on the next line between tokens. */
static void skip_blanks(struct godot_text_cursor *c)
{
	while (cur(c) == ' ' || cur(c) == '\t' || cur(c) == '\r')
		godot_text_advance(c);
}

static int read_header(struct tscn_reader *r)
{
	struct godot_text_cursor *c = &r->c;
	struct godot_text_cursor start = *c;
	godot_text_advance(c); /* '[' */
	size_t from = c->pos;
	while (word_char(cur(c)))
		godot_text_advance(c);
	size_t len = c->pos - from;
	enum tscn_section_kind kind = 0;
	for (size_t i = 0; i < sizeof(section_tags) / sizeof(section_tags[0]); i++)
		if (strlen(section_tags[i].tag) == len && memcmp(section_tags[i].tag, c->text + from, len) == 0)
			kind = section_tags[i].kind;
	if (!kind)
		return read_error(r, &start, GROVE_EPARSE, "unknown section [%.*s]", (int)(len > 40 ? 40 : len),
				  c->text + from);
	if ((kind == TSCN_GD_SCENE) != (r->scene->count == 0))
		return read_error(r, &start, GROVE_EPARSE,
				  kind == TSCN_GD_SCENE ? "a second [gd_scene] header" : "the file must start with [gd_scene]");
	struct tscn_section *s = tscn_add_section(r->scene, kind);
	if (!s)
		return GROVE_ENOMEM;
	s->line = start.line;
	struct godot_text_options opts = {.resolve = resolve_ref, .ctx = r};
	for (;;) {
		godot_text_skip_space(c); /* Godot reads a header over several lines, comments and all */
		int ch = cur(c);
		if (ch == ']') {
			godot_text_advance(c);
			break;
		}
		if (ch == -1)
			return read_error(r, &start, GROVE_EPARSE, "unterminated section header");
		size_t kfrom = c->pos;
		while (word_char(cur(c)))
			godot_text_advance(c);
		size_t klen = c->pos - kfrom;
		godot_text_skip_space(c);
		if (klen == 0 || cur(c) != '=')
			return read_error(r, c, GROVE_EPARSE, "expected key=value in the section header");
		godot_text_advance(c);
		struct variant value;
		struct godot_text_error verr;
		int e = godot_text_parse_at(c, &opts, &value, &verr);
		if (e) {
			if (r->err) {
				r->err->line = verr.line;
				r->err->column = verr.column;
				snprintf(r->err->message, sizeof(r->err->message), "%s", verr.message);
			}
			return e;
		}
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)(klen > 63 ? 63 : klen), c->text + kfrom);
		e = tscn_add_attr(s, key, &value);
		variant_free(&value);
		if (e)
			return e;
	}
	skip_blanks(c);
	if (cur(c) != -1 && cur(c) != '\n' && cur(c) != ';')
		return read_error(r, c, GROVE_EPARSE, "unexpected text after the section header");
	if (kind == TSCN_GD_SCENE) {
		const struct variant *format = tscn_attr(s, "format");
		if (!format || format->type != VARIANT_INT || format->as.i < 2 || format->as.i > 4)
			return read_error(r, &start, GROVE_EPARSE, "unsupported scene format (2, 3 and 4 are read)");
		r->scene->format = (int)format->as.i;
	}
	if (kind == TSCN_EXT_RESOURCE || kind == TSCN_SUB_RESOURCE) {
		const struct variant *id = tscn_attr(s, "id");
		char key[300];
		if (!id || id_key(kind == TSCN_EXT_RESOURCE, id, key, sizeof(key)))
			return read_error(r, &start, GROVE_EPARSE, "resource without a string or integer id");
		int e = strmap_put(&r->ids, key, r->scene->count - 1);
		if (e == GROVE_EEXIST)
			return read_error(r, &start, GROVE_EPARSE, "resource id %s is declared twice", key + 2);
		if (e)
			return e;
	}
	return GROVE_OK;
}

static int read_property(struct tscn_reader *r)
{
	struct godot_text_cursor *c = &r->c;
	struct godot_text_cursor start = *c;
	if (r->scene->count == 0)
		return read_error(r, &start, GROVE_EPARSE, "the file must start with [gd_scene]");
	struct tscn_section *s = &r->scene->sections[r->scene->count - 1];
	if (s->kind != TSCN_NODE && s->kind != TSCN_SUB_RESOURCE)
		return read_error(r, &start, GROVE_EPARSE, "property outside a [node] or [sub_resource]");
	char *key = NULL;
	if (cur(c) == '"') {
		size_t klen;
		struct godot_text_error kerr;
		if (godot_text_parse_string(c, &key, &klen, &kerr))
			return read_error(r, &start, GROVE_EPARSE, "%s", kerr.message);
	} else {
		/*
		 * As Godot's loader reads a bare name: every byte above a blank up to the '=', blanks and line ends
		 * skipped, and a ';' a comment to the end of its line (Godot 3.2 writes names with ';' bare, and
		 * reads them back so: "anims/a;b = X" names whatever the next line holds up to its '=').
		 */
		struct grove_buf name = {0};
		while (cur(c) != -1 && cur(c) != '=') {
			if (cur(c) == ';') {
				while (cur(c) != -1 && cur(c) != '\n')
					godot_text_advance(c);
				continue;
			}
			if (cur(c) > ' ')
				grove_buf_put(&name, c->text + c->pos, 1);
			godot_text_advance(c);
		}
		if (!name.len || cur(c) != '=') {
			const char *why = name.len ? "expected '=' after the property name" : "expected a property name";
			grove_buf_free(&name);
			return read_error(r, &start, GROVE_EPARSE, "%s", why);
		}
		key = name.failed ? NULL : strndup((const char *)name.data, name.len);
		grove_buf_free(&name);
		if (!key)
			return GROVE_ENOMEM;
	}
	skip_blanks(c);
	if (cur(c) != '=') {
		free(key);
		return read_error(r, c, GROVE_EPARSE, "expected '=' after the property name");
	}
	godot_text_advance(c);
	/* A colour code with alpha means ARGB in a Godot 3 scene (format=2), RGBA in a Godot 4 one. */
	struct godot_text_options opts = {
		.godot_major = r->scene->format == 2 ? 3 : 4, .resolve = resolve_ref, .ctx = r};
	struct variant value;
	struct godot_text_error verr;
	int e = godot_text_parse_at(c, &opts, &value, &verr);
	if (e) {
		free(key);
		if (r->err) {
			r->err->line = verr.line;
			r->err->column = verr.column;
			snprintf(r->err->message, sizeof(r->err->message), "%s", verr.message);
		}
		return e;
	}
	/* What follows on the line (a comment, or the next property, as Godot reads it) is read next. */
	e = tscn_add_prop(s, key, &value);
	free(key);
	variant_free(&value);
	return e;
}

int tscn_parse(const char *text, size_t len, struct tscn_scene *out, struct tscn_error *err)
{
	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));
	struct tscn_reader r = {.scene = out, .err = err};
	godot_text_cursor_init(&r.c, text, len);
	if (len > TSCN_MAX_BYTES)
		return read_error(&r, &r.c, GROVE_ETOOBIG, "scene larger than %llu bytes", TSCN_MAX_BYTES);
	const char *nul = memchr(text, 0, len);
	if (nul) {
		/* Godot stops reading there; a name or string would be cut short without a word. */
		struct godot_text_cursor at = r.c;
		for (const char *p = text; p < nul; p++) {
			if (*p == '\n') {
				at.line++;
				at.column = 1;
			} else {
				at.column++;
			}
		}
		return read_error(&r, &at, GROVE_EPARSE, "a NUL byte in the scene text");
	}
	int e = strmap_init(&r.ids, 64);
	while (!e) {
		godot_text_skip_space(&r.c);
		if (r.c.pos >= r.c.len)
			break;
		e = cur(&r.c) == '[' ? read_header(&r) : read_property(&r);
	}
	if (!e && out->count == 0)
		e = read_error(&r, &r.c, GROVE_EPARSE, "empty scene: no [gd_scene] header");
	strmap_free(&r.ids);
	if (e)
		tscn_scene_free(out);
	return e;
}
