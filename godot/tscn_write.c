/* Writing the scene model as .tscn text. */
#include <string.h>

#include "godot/tscn.h"
#include "godot/variant_text.h"
#include "src/common/error.h"

struct tscn_writer {
	const struct tscn_scene *scene;
};

/* A scene-local reference -(i + 1) names section i: answer with its kind and id. */
static int describe_ref(void *ctx, int64_t ref, bool *ext, struct variant *id)
{
	const struct tscn_writer *w = ctx;
	uint64_t i = ref < 0 ? (uint64_t)(-(ref + 1)) : UINT64_MAX;
	if (i >= w->scene->count)
		return GROVE_EINVAL;
	const struct tscn_section *s = &w->scene->sections[i];
	if (s->kind != TSCN_EXT_RESOURCE && s->kind != TSCN_SUB_RESOURCE)
		return GROVE_EINVAL;
	const struct variant *section_id = tscn_attr(s, "id");
	if (!section_id)
		return GROVE_EINVAL;
	*ext = s->kind == TSCN_EXT_RESOURCE;
	return variant_copy(id, section_id);
}

static const char *tag_of(enum tscn_section_kind kind)
{
	switch (kind) {
	case TSCN_GD_SCENE:
		return "gd_scene";
	case TSCN_EXT_RESOURCE:
		return "ext_resource";
	case TSCN_SUB_RESOURCE:
		return "sub_resource";
	case TSCN_NODE:
		return "node";
	case TSCN_CONNECTION:
		return "connection";
	case TSCN_EDITABLE:
		return "editable";
	}
	return NULL;
}

/*
 * Property names are written bare unless they could not be read back that way, as Godot decides
 * (String::property_name_encode()): a name with '=', '"', ';', '[', ']', a control character, a blank or
 * anything outside ASCII is quoted (Godot reads a bare name byte by byte, not as UTF-8).
 */
static void put_key(struct grove_buf *out, const char *key)
{
	bool bare = key[0] != '\0';
	for (const unsigned char *p = (const unsigned char *)key; *p && bare; p++)
		bare = *p > ' ' && *p < 127 && *p != '=' && *p != '"' && *p != ';' && *p != '[' && *p != ']';
	if (bare)
		grove_buf_put(out, key, strlen(key));
	else
		godot_text_write_string(out, key, strlen(key));
}

/*
 * The root's "scene_format" attribute: what an imported format=4 scene keeps on its root ("@scene_format")
 * and export hands back as a header attribute of the root node.
 */
static const struct variant *root_scene_format(const struct tscn_scene *scene)
{
	for (size_t i = 0; i < scene->count; i++)
		if (scene->sections[i].kind == TSCN_NODE && !tscn_attr(&scene->sections[i], "parent"))
			return tscn_attr(&scene->sections[i], "scene_format");
	return NULL;
}

int tscn_write(const struct tscn_scene *scene, int godot_major, struct grove_buf *out)
{
	if (godot_major != 3 && godot_major != 4)
		return GROVE_EINVAL;
	if (scene->count == 0 || scene->sections[0].kind != TSCN_GD_SCENE)
		return GROVE_EINVAL;
	/* Godot 4 reads format=3 everywhere; format=4 (base64 byte arrays) only from 4.3 on. */
	const struct variant *kept = root_scene_format(scene);
	bool was_4 = scene->format == 4 || (kept && kept->type == VARIANT_INT && kept->as.i == 4);
	int format = godot_major == 3 ? 2 : was_4 ? 4 : 3;
	struct tscn_writer w = {scene};
	struct godot_text_options opts = {
		.godot_major = godot_major, .base64_bytes = format == 4, .describe = describe_ref, .ctx = &w};
	for (size_t i = 0; i < scene->count; i++) {
		const struct tscn_section *s = &scene->sections[i];
		const char *tag = tag_of(s->kind);
		if (!tag)
			return GROVE_EINVAL;
		if (i > 0)
			grove_buf_put(out, "\n", 1);
		grove_buf_put(out, "[", 1);
		grove_buf_put(out, tag, strlen(tag));
		for (size_t k = 0; k < s->n_attrs; k++) {
			if (s->kind == TSCN_NODE && strcmp(s->attrs[k].key, "scene_format") == 0 && !tscn_attr(s, "parent"))
				continue;
			grove_buf_put(out, " ", 1);
			grove_buf_put(out, s->attrs[k].key, strlen(s->attrs[k].key));
			grove_buf_put(out, "=", 1);
			int e;
			if (s->kind == TSCN_GD_SCENE && strcmp(s->attrs[k].key, "format") == 0) {
				struct variant f;
				variant_set_int(&f, format);
				e = godot_text_write(&f, &opts, out);
			} else {
				e = godot_text_write(&s->attrs[k].value, &opts, out);
			}
			if (e)
				return e;
		}
		grove_buf_put(out, "]\n", 2);
		for (size_t k = 0; k < s->n_props; k++) {
			put_key(out, s->props[k].key);
			grove_buf_put(out, " = ", 3);
			int e = godot_text_write(&s->props[k].value, &opts, out);
			if (e)
				return e;
			grove_buf_put(out, "\n", 1);
		}
	}
	return out->failed ? GROVE_ENOMEM : GROVE_OK;
}
