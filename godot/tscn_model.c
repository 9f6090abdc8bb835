/* The in-memory scene model: building, looking up and freeing sections. */
#include <stdlib.h>
#include <string.h>

#include "godot/tscn.h"
#include "src/common/error.h"
#include "src/common/grow.h"

static void entries_free(struct tscn_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].key);
		variant_free(&e[i].value);
	}
	free(e);
}

void tscn_scene_free(struct tscn_scene *scene)
{
	for (size_t i = 0; i < scene->count; i++) {
		entries_free(scene->sections[i].attrs, scene->sections[i].n_attrs);
		entries_free(scene->sections[i].props, scene->sections[i].n_props);
	}
	free(scene->sections);
	memset(scene, 0, sizeof(*scene));
}

void tscn_drop_last_section(struct tscn_scene *scene)
{
	if (scene->count == 0)
		return;
	struct tscn_section *last = &scene->sections[--scene->count];
	entries_free(last->attrs, last->n_attrs);
	entries_free(last->props, last->n_props);
	memset(last, 0, sizeof(*last));
}

static const struct variant *lookup(const struct tscn_entry *e, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].key, key) == 0)
			return &e[i].value;
	return NULL;
}

const struct variant *tscn_attr(const struct tscn_section *s, const char *key)
{
	return lookup(s->attrs, s->n_attrs, key);
}

const struct variant *tscn_prop(const struct tscn_section *s, const char *key)
{
	return lookup(s->props, s->n_props, key);
}

struct tscn_section *tscn_add_section(struct tscn_scene *scene, enum tscn_section_kind kind)
{
	if (grove_grow((void **)&scene->sections, &scene->cap, scene->count, sizeof(*scene->sections)))
		return NULL;
	struct tscn_section *s = &scene->sections[scene->count++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	return s;
}

/* Append to an entry list whose capacity is the next power of two of its length. */
static int append_entry(struct tscn_entry **list, size_t *n, const char *key, struct variant *value)
{
	size_t len = *n;
	if ((len & (len - 1)) == 0) { /* len is 0 or a power of two: grow */
		struct tscn_entry *grown = realloc(*list, (len ? 2 * len : 1) * sizeof(**list));
		if (!grown)
			return GROVE_ENOMEM;
		*list = grown;
	}
	char *k = strdup(key);
	if (!k)
		return GROVE_ENOMEM;
	(*list)[len].key = k;
	(*list)[len].value = *value;
	memset(value, 0, sizeof(*value));
	*n = len + 1;
	return GROVE_OK;
}

int tscn_add_attr(struct tscn_section *s, const char *key, struct variant *value)
{
	return append_entry(&s->attrs, &s->n_attrs, key, value);
}

int tscn_add_prop(struct tscn_section *s, const char *key, struct variant *value)
{
	return append_entry(&s->props, &s->n_props, key, value);
}
