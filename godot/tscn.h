/**
 * @file tscn.h
 * @brief Godot text scenes (.tscn): a faithful in-memory model, reader and writer.
 *
 * A scene is the ordered list of its sections, exactly as the file has them:
 * `[gd_scene ...]`, `[ext_resource ...]`, `[sub_resource ...]` (with property
 * lines), `[node ...]` (with property lines), `[connection ...]` and
 * `[editable ...]`. Each section keeps its header attributes and its body
 * properties in file order, values as Variants, so that writing a parsed
 * scene gives back an equivalent file. Godot 4 (format=3) and Godot 3
 * (format=2) are both read and written; the model is the same.
 *
 * Resource references inside values: `ExtResource("1_abc")` and
 * `SubResource("Box_x1")` (Godot 3: `ExtResource( 1 )`) are held as
 * VARIANT_RESOURCE_REF values whose ref is -(i + 1), where i is the index in
 * `sections` of the ext_resource or sub_resource section whose `id` attribute
 * matches. A reference to an id that no earlier section declares is a parse
 * error. The writer maps refs back to the ids of those sections. This is the
 * same "negative = local" convention the tree uses for batch-local refs,
 * which keeps import a simple renumbering.
 *
 * Ownership: a struct tscn_scene owns everything; tscn_scene_free() releases
 * it. The keys and the entry lists of its sections live in the scene's arena
 * (one malloc per block rather than one per key: a scene may hold 100,000
 * nodes), its values each own their contents. So entries are added only
 * through tscn_add_attr() and tscn_add_prop(), to sections made by
 * tscn_add_section(), and sections move only within their scene.
 */
#ifndef GROVE_GODOT_TSCN_H
#define GROVE_GODOT_TSCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/arena.h"
#include "src/tree/variant.h"

/** The kinds of section a .tscn may hold. */
enum tscn_section_kind {
	TSCN_GD_SCENE = 1,     /**< [gd_scene load_steps=.. format=.. uid=..] (always first) */
	TSCN_EXT_RESOURCE = 2, /**< [ext_resource type=.. uid=.. path=.. id=..] */
	TSCN_SUB_RESOURCE = 3, /**< [sub_resource type=.. id=..] + properties */
	TSCN_NODE = 4,         /**< [node name=.. type=.. parent=.. ...] + properties */
	TSCN_CONNECTION = 5,   /**< [connection signal=.. from=.. to=.. method=.. ...] */
	TSCN_EDITABLE = 6      /**< [editable path=..] */
};

/** A key and its value: a header attribute or a property line. */
struct tscn_entry {
	char *key;            /**< attribute or property name, in the scene's arena */
	struct variant value; /**< the value, owned (unless borrowed) */
	bool borrowed;        /**< the value's contents live in the scene's arena: they go with it, not on their own */
};

/** One section. */
struct tscn_section {
	enum tscn_section_kind kind; /**< which section */
	struct tscn_entry *attrs;    /**< header attributes in file order, owned */
	size_t n_attrs;              /**< number of attrs */
	struct tscn_entry *props;    /**< body properties in file order, owned */
	size_t n_props;              /**< number of props */
	size_t cap_attrs, cap_props; /**< entries the lists have room for (the functions below grow them) */
	uint32_t line;               /**< 1-based line of the header in the source (0 if built in memory) */
	struct arena *arena;         /**< the scene's arena, where attrs, props and their keys live */
};

/** A whole scene file. */
struct tscn_scene {
	int format;                     /**< 3 for Godot 4, 2 for Godot 3 */
	struct tscn_section *sections;  /**< in file order; sections[0] is the gd_scene header */
	size_t count;                   /**< number of sections */
	size_t cap;                     /**< allocated capacity of sections */
	struct arena *arena;            /**< the sections' keys and entry lists, owned; NULL before the first section */
};

/** Where and why reading failed. */
struct tscn_error {
	uint32_t line;       /**< 1-based line, 0 if not about a position */
	uint32_t column;     /**< 1-based column */
	char message[256];   /**< one line, without the position */
};

/**
 * @brief Parse the .tscn text @p text of @p len bytes.
 *
 * Accepts format=2 and format=3 scenes, comments (`;` lines) and blank lines,
 * values spanning several lines, Godot 4.6's unique_id and parent_id_path
 * attributes, and any attribute or property name. Refuses with a clear
 * message: a missing or repeated gd_scene header, an unknown section kind,
 * a format other than 2 or 3, an unterminated string or section, a value
 * that does not parse, a resource reference to an undeclared id, trailing
 * text after a value.
 * @param out receives the scene on success (release with tscn_scene_free()).
 * @param err filled on failure (may be NULL).
 * @return GROVE_OK, GROVE_EPARSE, GROVE_ENOMEM, GROVE_ETOOBIG.
 */
int tscn_parse(const char *text, size_t len, struct tscn_scene *out, struct tscn_error *err);

/**
 * @brief Write @p scene as .tscn text for Godot @p godot_major (3 or 4; it
 * decides format=2 or format=3 and the value syntax) into @p out.
 * Floats are written so that parsing them gives back the same bits. For
 * Godot 4 the file is format=3 (every Godot 4 reads it) unless the scene was
 * format=4 (scene->format, or a scene_format=4 attribute on the root node, as
 * an imported format=4 scene comes back from export; that attribute is not
 * written): then format=4, with PackedByteArrays in base64, as Godot 4.3+
 * writes them.
 * @return GROVE_OK, GROVE_EINVAL (a value Godot @p godot_major cannot hold, or
 * a dangling resource reference), GROVE_ENOMEM.
 */
int tscn_write(const struct tscn_scene *scene, int godot_major, struct grove_buf *out);

/** @brief Release everything @p scene owns and zero it. */
void tscn_scene_free(struct tscn_scene *scene);

/**
 * @brief The value of attribute (or, with tscn_prop, property) @p key of a
 * section, or NULL. The pointer is borrowed from the section.
 */
const struct variant *tscn_attr(const struct tscn_section *s, const char *key);
const struct variant *tscn_prop(const struct tscn_section *s, const char *key);

/**
 * @brief Append a section of @p kind and return it (attributes and properties
 * empty), or NULL on allocation failure.
 */
struct tscn_section *tscn_add_section(struct tscn_scene *scene, enum tscn_section_kind kind);

/** @brief Remove and release the last section (no-op on an empty scene). */
void tscn_drop_last_section(struct tscn_scene *scene);

/**
 * @brief Append an entry to a section's attributes (tscn_add_attr) or
 * properties (tscn_add_prop), copying @p key (into the scene's arena) and
 * taking ownership of @p value's contents (it becomes NIL).
 * @return GROVE_OK or GROVE_ENOMEM (then @p value is untouched).
 */
int tscn_add_attr(struct tscn_section *s, const char *key, struct variant *value);
int tscn_add_prop(struct tscn_section *s, const char *key, struct variant *value);

/**
 * @brief Make room for @p n properties (tscn_reserve_props) or attributes (tscn_reserve_attrs) in all in
 * section @p s, so that a builder that knows how many it adds gets a list of their size (lists otherwise
 * grow by doubling, the outgrown ones left in the arena).
 * @return GROVE_OK or GROVE_ENOMEM.
 */
int tscn_reserve_props(struct tscn_section *s, size_t n);
int tscn_reserve_attrs(struct tscn_section *s, size_t n);

/**
 * @brief Make room for @p n sections in all, so that a builder that knows how many it adds does not copy
 * the list as it doubles. Section pointers stay valid until the scene holds more than that.
 * @return GROVE_OK or GROVE_ENOMEM.
 */
int tscn_reserve_sections(struct tscn_scene *scene, size_t n);

/**
 * @brief The scene's arena, made on first use: where a builder puts the contents of borrowed values
 * (strings, containers), which are then freed at once with the scene instead of one by one.
 * @return the arena, or NULL when out of memory.
 */
struct arena *tscn_scene_arena(struct tscn_scene *scene);

/**
 * @brief tscn_add_attr() and tscn_add_prop() for a value whose contents are in the scene's arena (or
 * static): the entry holds a shallow copy of @p value and never frees its contents. Nothing may change
 * a borrowed value's containers afterwards.
 * @return GROVE_OK or GROVE_ENOMEM.
 */
int tscn_add_attr_borrowed(struct tscn_section *s, const char *key, const struct variant *value);
int tscn_add_prop_borrowed(struct tscn_section *s, const char *key, const struct variant *value);

#endif
