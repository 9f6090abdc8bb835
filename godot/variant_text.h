/**
 * @file variant_text.h
 * @brief Godot's Variant text syntax (what .tscn files and `var_to_str` use),
 * read and written for Godot 4 and Godot 3.
 *
 * Reading accepts both versions' spellings at once (`Transform3D(...)` and
 * Godot 3's `Transform( ... )`, `Quaternion`/`Quat`, `Packed*Array`/`Pool*Array`,
 * `&"name"`, `^"path"` and `NodePath("path")`, `ExtResource("1_abc")` and
 * `ExtResource( 1 )`, typed arrays `Array[int]([...])`, `Array[Node]([...])`
 * and arrays typed by a script `Array[ExtResource("2_abc")]([...])`, typed
 * dictionaries `Dictionary[String, int]({...})` (a side may be a script
 * reference too), the empty `Callable()` and `Signal()`, base64
 * `PackedByteArray("...")`, `inf`, `-inf`, `nan`, HTML colour codes `#rrggbb`),
 * so a caller need not know a file's version to read it (except for what a
 * colour code with alpha means: see godot_major).
 * As Godot's loaders do, an integer beyond 64 bits is clamped to the nearest
 * limit and a vector of integers takes components written as floats toward
 * zero.
 * Writing targets one version and refuses what that version cannot express
 * (Godot 3 has no integer vectors, Vector4, Callable or Signal); what it
 * spells differently is written its way (a StringName as a String, a typed
 * container untyped).
 *
 * Floats are written with the fewest digits that read back to the same
 * double, so text -> value -> text -> value is exact. A bare float is always
 * written with a '.' or an exponent (`1.0`), so it reads back as a float;
 * components inside constructors are written the way Godot writes them
 * (`Vector3(1, 0.5, 0)`).
 *
 * Resource references are resolved through callbacks, because the .tscn
 * layer owns resource ids: reading calls `resolve` with the id as written
 * (a String, or an int for Godot 3), writing calls `describe` for the id to
 * write; the script of a typed container (variant_typehint.script) goes
 * through the same callbacks. Without callbacks, references are refused.
 */
#ifndef GROVE_GODOT_VARIANT_TEXT_H
#define GROVE_GODOT_VARIANT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/tree/variant.h"

/** A read position inside a larger text (a .tscn file, a command line). */
struct godot_text_cursor {
	const char *text; /**< the whole text; borrowed */
	size_t len;       /**< its length in bytes */
	size_t pos;       /**< next byte to read */
	uint32_t line;    /**< 1-based line of pos */
	uint32_t column;  /**< 1-based column (in bytes) of pos */
};

/** Why reading failed, and where. */
struct godot_text_error {
	uint32_t line;      /**< 1-based line */
	uint32_t column;    /**< 1-based column */
	char message[200];  /**< one line, without the position */
};

/** How to read or write values. Zero-initialized means Godot 4, no resource references. */
struct godot_text_options {
	/**
	 * 3 or 4: the version written. Reading accepts both versions' spellings; this only says which
	 * meaning a colour code with alpha has (`#aarrggbb` and `#argb` in Godot 3, `#rrggbbaa` and
	 * `#rgba` in Godot 4). 0 means 4.
	 */
	int godot_major;
	/**
	 * Godot 4 only: write PackedByteArray as one base64 string (.tscn
	 * format=4) instead of a list of numbers (format=3, which every Godot 4
	 * reads).
	 */
	bool base64_bytes;
	/**
	 * Reading: map `ExtResource(id)` (@p ext true) or `SubResource(id)` to a
	 * value for variant.as.ref. @p id is a STRING or INT variant.
	 * @return GROVE_OK or an error (the parse fails with "unknown resource").
	 */
	int (*resolve)(void *ctx, bool ext, const struct variant *id, int64_t *ref);
	/**
	 * Writing: the section kind and id to write for reference @p ref.
	 * @p id receives a STRING or INT variant owned by the caller.
	 * @return GROVE_OK or an error (the write fails).
	 */
	int (*describe)(void *ctx, int64_t ref, bool *ext, struct variant *id);
	void *ctx; /**< passed to the callbacks */
};

/** @brief Start a cursor at the beginning of @p text. */
void godot_text_cursor_init(struct godot_text_cursor *c, const char *text, size_t len);

/** @brief Move past one byte, keeping line and column right (no-op at the end). */
void godot_text_advance(struct godot_text_cursor *c);

/**
 * @brief Skip blanks, tabs, carriage returns, newlines and `;` comments to
 * the end of their line: Godot's parser takes a `;` outside a string for a
 * comment anywhere, inside a value too.
 */
void godot_text_skip_space(struct godot_text_cursor *c);

/**
 * @brief Read one value at the cursor (after skipping leading white space)
 * and leave the cursor just after it.
 * @param out receives the value (owned by the caller) on success, NIL on failure.
 * @param err filled on failure (may be NULL).
 * @return GROVE_OK, GROVE_EPARSE (with position and message), GROVE_ETOOBIG
 * (nesting beyond VARIANT_MAX_DEPTH), GROVE_ENOMEM.
 */
int godot_text_parse_at(struct godot_text_cursor *c, const struct godot_text_options *opts, struct variant *out,
			struct godot_text_error *err);

/**
 * @brief Read @p text as exactly one value (surrounding white space allowed,
 * anything else after the value is an error).
 * @return like godot_text_parse_at().
 */
int godot_text_parse(const char *text, size_t len, const struct godot_text_options *opts, struct variant *out,
		     struct godot_text_error *err);

/**
 * @brief Append the text form of @p v to @p out.
 * @return GROVE_OK, GROVE_EINVAL (not expressible in the target version, or
 * a reference without a describe callback), GROVE_ETOOBIG, GROVE_ENOMEM,
 * or the describe callback's error.
 */
int godot_text_write(const struct variant *v, const struct godot_text_options *opts, struct grove_buf *out);

/**
 * @brief Read a quoted string at the cursor (with Godot's escapes) into a
 * malloc'd, NUL-terminated @p *out of @p *len bytes.
 * @return GROVE_OK, GROVE_EPARSE, GROVE_ENOMEM.
 */
int godot_text_parse_string(struct godot_text_cursor *c, char **out, size_t *len, struct godot_text_error *err);

/** @brief Append @p s as a quoted string with Godot's escaping. */
void godot_text_write_string(struct grove_buf *out, const char *s, size_t len);

#endif
