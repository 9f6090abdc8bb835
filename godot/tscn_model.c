/* The in-memory scene model: building, looking up and freeing sections. */
#include <stdlib.h>
#include <string.h>

#include "godot/tscn.h"
#include "src/common/error.h"
#include "src/common/grow.h"

/* The values: the keys and the lists are the arena's. */
static void values_free(struct tscn_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!e[i].borrowed)
			variant_free(&e[i].value);
}

void tscn_scene_free(struct tscn_scene *scene)
{
	for (size_t i = 0; i < scene->count; i++) {
		values_free(scene->sections[i].attrs, scene->sections[i].n_attrs);
		values_free(scene->sections[i].props, scene->sections[i].n_props);
	}
	free(scene->sections);
	if (scene->arena) {
		arena_free(scene->arena);
		free(scene->arena);
	}
	memset(scene, 0, sizeof(*scene));
}

void tscn_drop_last_section(struct tscn_scene *scene)
{
	if (scene->count == 0)
		return;
	struct tscn_section *last = &scene->sections[--scene->count];
	values_free(last->attrs, last->n_attrs);
	values_free(last->props, last->n_props);
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

struct arena *tscn_scene_arena(struct tscn_scene *scene)
{
	if (!scene->arena)
		scene->arena = calloc(1, sizeof(*scene->arena));
	return scene->arena;
}

struct tscn_section *tscn_add_section(struct tscn_scene *scene, enum tscn_section_kind kind)
{
	if (!tscn_scene_arena(scene))
		return NULL;
	if (grove_grow((void **)&scene->sections, &scene->cap, scene->count, sizeof(*scene->sections)))
		return NULL;
	struct tscn_section *s = &scene->sections[scene->count++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->arena = scene->arena;
	return s;
}

/* Give list @p list of @p n entries room for @p want in the arena; an outgrown list stays there. */
static int make_room(struct arena *arena, struct tscn_entry **list, size_t n, size_t *cap, size_t want)
{
	if (want <= *cap)
		return GROVE_OK;
	struct tscn_entry *grown = want < SIZE_MAX / sizeof(**list) ? arena_alloc(arena, want * sizeof(**list)) : NULL;
	if (!grown)
		return GROVE_ENOMEM;
	if (n)
		memcpy(grown, *list, n * sizeof(**list));
	*list = grown;
	*cap = want;
	return GROVE_OK;
}

/* Append to an entry list that doubles when full, from 4 (most sections have a few entries). */
static int append_entry(struct arena *arena, struct tscn_entry **list, size_t *n, size_t *cap, const char *key,
			struct variant *value, bool borrowed)
{
	size_t len = *n;
	int err = len < *cap ? GROVE_OK : make_room(arena, list, len, cap, len ? 2 * len : 4);
	if (err)
		return err;
	char *k = arena_strdup(arena, key);
	if (!k)
		return GROVE_ENOMEM;
	(*list)[len].key = k;
	(*list)[len].value = *value;
	(*list)[len].borrowed = borrowed;
	if (!borrowed)
		memset(value, 0, sizeof(*value));
	*n = len + 1;
	return GROVE_OK;
}

int tscn_reserve_props(struct tscn_section *s, size_t n)
{
	return make_room(s->arena, &s->props, s->n_props, &s->cap_props, n);
}

int tscn_reserve_attrs(struct tscn_section *s, size_t n)
{
	return make_room(s->arena, &s->attrs, s->n_attrs, &s->cap_attrs, n);
}

int tscn_reserve_sections(struct tscn_scene *scene, size_t n)
{
	if (n <= scene->cap)
		return GROVE_OK;
	struct tscn_section *grown = n < SIZE_MAX / sizeof(*grown) ? realloc(scene->sections, n * sizeof(*grown)) : NULL;
	if (!grown)
		return GROVE_ENOMEM;
	scene->sections = grown;
	scene->cap = n;
	return GROVE_OK;
}

int tscn_add_attr(struct tscn_section *s, const char *key, struct variant *value)
{
	return append_entry(s->arena, &s->attrs, &s->n_attrs, &s->cap_attrs, key, value, false);
}

int tscn_add_prop(struct tscn_section *s, const char *key, struct variant *value)
{
	return append_entry(s->arena, &s->props, &s->n_props, &s->cap_props, key, value, false);
}

int tscn_add_attr_borrowed(struct tscn_section *s, const char *key, const struct variant *value)
{
	struct variant shallow = *value;
	return append_entry(s->arena, &s->attrs, &s->n_attrs, &s->cap_attrs, key, &shallow, true);
}

int tscn_add_prop_borrowed(struct tscn_section *s, const char *key, const struct variant *value)
{
	struct variant shallow = *value;
	return append_entry(s->arena, &s->props, &s->n_props, &s->cap_props, key, &shallow, true);
}
