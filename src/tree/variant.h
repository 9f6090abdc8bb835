/**
 * @file variant.h
 * @brief grove's Variant: the value of a node property, modelled on Godot 4.
 *
 * A Variant is a tagged value covering Godot 4's serializable value types.
 * The tag numbers are Godot 4's own Variant::Type ids, so codecs for Godot's
 * formats can map them directly. RID is not stored (Godot cannot serialize
 * it either); Callable and Signal are stored only empty, without a payload,
 * because that is all Godot's scene formats keep of them (`Callable()`,
 * `Signal()`); Object is replaced by a reference to a stored resource
 * (VARIANT_RESOURCE_REF).
 *
 * Representation rules, chosen so that every Godot format round-trips:
 * - every real component (vectors, rects, transforms, colors, planes,
 *   quaternions, packed float and vector arrays) is held as a double; a codec
 *   for a float32 Godot type narrows when it encodes and widens exactly when
 *   it decodes, so Godot's values survive bit for bit;
 * - integer vector components are int32_t, as in Godot;
 * - strings (String, StringName, NodePath) are UTF-8 with an explicit length
 *   and a terminating NUL that is not counted;
 * - arrays may carry an element type hint (Godot 4's typed arrays), and
 *   dictionaries keep insertion order, which equality respects.
 *
 * Equality is exact: floats compare by bit pattern (so NaN equals the same
 * NaN and 0.0 differs from -0.0). The canonical binary form (variant_encode)
 * is a deterministic byte string: two variants are equal if and only if their
 * canonical forms are equal.
 *
 * Ownership: a struct variant owns everything it points to. variant_free()
 * releases it and resets it to NIL; variant_copy() makes a deep copy.
 */
#ifndef GROVE_TREE_VARIANT_H
#define GROVE_TREE_VARIANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"

/** Variant type tags: Godot 4's Variant::Type ids. */
enum variant_type {
	VARIANT_NIL = 0,
	VARIANT_BOOL = 1,
	VARIANT_INT = 2,             /**< int64_t */
	VARIANT_FLOAT = 3,           /**< double */
	VARIANT_STRING = 4,
	VARIANT_VECTOR2 = 5,         /**< r[0..1]: x, y */
	VARIANT_VECTOR2I = 6,        /**< iv[0..1] */
	VARIANT_RECT2 = 7,           /**< r[0..3]: position x, y, size x, y */
	VARIANT_RECT2I = 8,          /**< iv[0..3] */
	VARIANT_VECTOR3 = 9,         /**< r[0..2] */
	VARIANT_VECTOR3I = 10,       /**< iv[0..2] */
	VARIANT_TRANSFORM2D = 11,    /**< r[0..5]: x axis, y axis, origin (as Godot writes them) */
	VARIANT_VECTOR4 = 12,        /**< r[0..3] */
	VARIANT_VECTOR4I = 13,       /**< iv[0..3] */
	VARIANT_PLANE = 14,          /**< r[0..3]: normal x, y, z, d */
	VARIANT_QUATERNION = 15,     /**< r[0..3]: x, y, z, w */
	VARIANT_AABB = 16,           /**< r[0..5]: position, size */
	VARIANT_BASIS = 17,          /**< r[0..8]: rows, in the order Godot's text form writes them */
	VARIANT_TRANSFORM3D = 18,    /**< r[0..11]: basis (9, as for BASIS) then origin (3) */
	VARIANT_PROJECTION = 19,     /**< r[0..15]: four column vectors */
	VARIANT_COLOR = 20,          /**< r[0..3]: r, g, b, a */
	VARIANT_STRING_NAME = 21,
	VARIANT_NODE_PATH = 22,      /**< held in Godot's text form, e.g. "../Player:position" */
	/* 23 (RID) is not storable. */
	VARIANT_RESOURCE_REF = 24,   /**< takes Object's id: a reference to a stored resource, see ref */
	VARIANT_CALLABLE = 25,       /**< an empty Callable: no payload */
	VARIANT_SIGNAL = 26,         /**< an empty Signal: no payload */
	VARIANT_DICTIONARY = 27,
	VARIANT_ARRAY = 28,
	VARIANT_PACKED_BYTE_ARRAY = 29,
	VARIANT_PACKED_INT32_ARRAY = 30,
	VARIANT_PACKED_INT64_ARRAY = 31,
	VARIANT_PACKED_FLOAT32_ARRAY = 32,
	VARIANT_PACKED_FLOAT64_ARRAY = 33,
	VARIANT_PACKED_STRING_ARRAY = 34,
	VARIANT_PACKED_VECTOR2_ARRAY = 35,
	VARIANT_PACKED_VECTOR3_ARRAY = 36,
	VARIANT_PACKED_COLOR_ARRAY = 37,
	VARIANT_PACKED_VECTOR4_ARRAY = 38,
	VARIANT_TYPE_MAX = 39        /**< one past the largest tag; not a type */
};

struct variant;

/**
 * Element type of a typed container: Godot 4's `Array[int]` (a builtin
 * type), `Array[Node]` (a class) or `Array[ExtResource("2_abc")]` (a script).
 * type VARIANT_NIL means untyped. class_name is set (owned, NUL-terminated)
 * only when type is VARIANT_RESOURCE_REF (Godot's OBJECT), e.g. "PackedScene".
 * script, also only with VARIANT_RESOURCE_REF, is a resource reference to the
 * script that types the elements, with the meaning and lifecycle of
 * variant.as.ref (stored id, batch-local < 0, scene-local in a parsed scene);
 * 0 means no script. Everything that binds, renumbers or localizes the
 * references inside a value does the same to it.
 */
struct variant_typehint {
	enum variant_type type; /**< element type, VARIANT_NIL for any */
	char *class_name;       /**< class of object elements, or NULL */
	int64_t script;         /**< reference to the typing script, or 0 */
};

/** An ordered sequence of variants, optionally typed. */
struct variant_array {
	struct variant *items;        /**< len elements, owned */
	uint32_t len;                 /**< number of elements */
	uint32_t cap;                 /**< allocated capacity of items */
	struct variant_typehint elem; /**< element type hint */
};

/** An insertion-ordered map from variant keys to variant values. */
struct variant_dict {
	struct variant *keys;          /**< len keys, owned; no two are equal */
	struct variant *values;        /**< len values, owned; values[i] belongs to keys[i] */
	uint32_t len;                  /**< number of entries */
	uint32_t cap;                  /**< allocated capacity of keys and values */
	struct variant_typehint key;   /**< key type hint (Godot 4.4 typed dictionaries) */
	struct variant_typehint value; /**< value type hint */
};

/**
 * The elements of a Packed*Array. `len` counts elements of the array's type
 * (a PackedVector3Array of 2 vectors has len 2 and 6 doubles in `reals`).
 */
struct variant_packed {
	uint32_t len; /**< number of elements */
	union {
		uint8_t *bytes;   /**< PACKED_BYTE_ARRAY: len bytes */
		int32_t *i32;     /**< PACKED_INT32_ARRAY: len values */
		int64_t *i64;     /**< PACKED_INT64_ARRAY: len values */
		double *reals;    /**< FLOAT32/FLOAT64 (1 per element), VECTOR2 (2), VECTOR3 (3), COLOR (4), VECTOR4 (4) */
		struct {
			char **ptrs;      /**< PACKED_STRING_ARRAY: len NUL-terminated strings, owned */
			uint32_t *lens;   /**< byte length of each string, without the NUL */
		} strings;
	} as;
};

/** A Variant value. Zero-initialized memory is a valid NIL variant. */
struct variant {
	enum variant_type type; /**< which member of `as` is live */
	union {
		bool b;                        /**< BOOL */
		int64_t i;                     /**< INT */
		double f;                      /**< FLOAT */
		struct {
			char *ptr;             /**< UTF-8 bytes, NUL-terminated, owned */
			uint32_t len;          /**< byte length without the NUL */
		} str;                         /**< STRING, STRING_NAME, NODE_PATH */
		/**
		 * Real-component types of up to 4 components (vectors, Rect2, Plane,
		 * Quaternion, Color), layout per enum comment. Read and write any
		 * real-component type through variant_reals().
		 */
		double r[4];
		/**
		 * The components of a real-component type of more (Transform2D, AABB,
		 * Basis, Transform3D, Projection), owned: kept apart so that every
		 * variant stays small, as a scene of many thousand nodes holds several
		 * per node.
		 */
		double *rs;
		int32_t iv[4];                 /**< integer vector and Rect2i types */
		/**
		 * RESOURCE_REF: the id of a stored resource (> 0), 0 for a null
		 * object, or a batch-local reference (< 0): -(k + 1) names the
		 * resource created by op k of the batch being applied.
		 */
		int64_t ref;
		struct variant_array *array;   /**< ARRAY, owned */
		struct variant_dict *dict;     /**< DICTIONARY, owned */
		struct variant_packed *packed; /**< PACKED_*, owned */
	} as;
};

/** Upper bound of nesting (arrays in dictionaries in arrays ...) accepted anywhere. */
#define VARIANT_MAX_DEPTH 64

/**
 * @brief Godot's name of a type, e.g. "Vector3", "PackedStringArray".
 * @return a static string, or NULL if @p type is not a storable type.
 */
const char *variant_type_name(enum variant_type type);

/** @brief True if @p type is a tag that a struct variant may hold. */
bool variant_type_valid(int type);

/**
 * @brief Number of doubles in `as.r` for a real-component type (Vector3: 3,
 * Transform3D: 12, ...), or of int32 in `as.iv` for an integer vector type;
 * 0 for every other type.
 */
unsigned variant_component_count(enum variant_type type);

/**
 * @brief Number of doubles per element of a packed real array (Float32/64: 1,
 * Vector2: 2, Vector3: 3, Color and Vector4: 4); 0 for other types.
 */
unsigned variant_packed_reals_per_element(enum variant_type type);

/** @brief Release everything @p v owns and reset it to NIL. NULL is allowed. */
void variant_free(struct variant *v);

/**
 * @brief Deep-copy @p src into @p dst (whose previous content is not freed).
 * @return GROVE_OK, or GROVE_ENOMEM (then @p dst is NIL).
 */
int variant_copy(struct variant *dst, const struct variant *src);

/** @brief Exact equality as described above. */
bool variant_equal(const struct variant *a, const struct variant *b);

/* ---- constructors: each leaves a fully owned value in *v ---- */

void variant_set_nil(struct variant *v);
void variant_set_bool(struct variant *v, bool b);
void variant_set_int(struct variant *v, int64_t i);
void variant_set_float(struct variant *v, double f);
/**
 * @brief Set a real-component type from @p n doubles (n == variant_component_count(type);
 * missing ones are 0).
 * @return GROVE_OK, or GROVE_ENOMEM (then @p v is NIL).
 */
int variant_set_reals(struct variant *v, enum variant_type type, const double *r, unsigned n);
/**
 * @brief The variant_component_count() components of real-component variant
 * @p v, wherever it keeps them; NULL for any other type. The pointer lives as
 * long as @p v's value.
 */
const double *variant_reals(const struct variant *v);
/** @brief variant_reals(), writable. */
double *variant_reals_mut(struct variant *v);
/** @brief Set an integer vector type from @p n int32 values. */
void variant_set_ints(struct variant *v, enum variant_type type, const int32_t *iv, unsigned n);
void variant_set_resource_ref(struct variant *v, int64_t ref);
/**
 * @brief Set a STRING, STRING_NAME or NODE_PATH from @p len bytes (copied).
 * @return GROVE_OK, GROVE_EINVAL for another type, GROVE_ENOMEM.
 */
int variant_set_string(struct variant *v, enum variant_type type, const char *s, size_t len);
/**
 * @brief Make @p v an empty ARRAY (untyped).
 * @return GROVE_OK or GROVE_ENOMEM.
 */
int variant_set_array(struct variant *v);
/**
 * @brief Make @p v an empty DICTIONARY (untyped).
 * @return GROVE_OK or GROVE_ENOMEM.
 */
int variant_set_dict(struct variant *v);
/**
 * @brief Make @p v a packed array of @p type with @p len zeroed elements
 * (strings start empty, not NULL).
 * @return GROVE_OK, GROVE_EINVAL if @p type is not packed, GROVE_ENOMEM.
 */
int variant_set_packed(struct variant *v, enum variant_type type, uint32_t len);

/**
 * @brief Append @p item to an ARRAY, taking ownership of its contents
 * (*item becomes NIL).
 * @return GROVE_OK, GROVE_ETYPE if @p array is not an ARRAY, GROVE_ENOMEM
 * (then *item is left untouched and still owned by the caller).
 */
int variant_array_push(struct variant *array, struct variant *item);

/**
 * @brief Append a key/value pair to a DICTIONARY, taking ownership of both
 * (they become NIL). A key equal to an existing key replaces that entry's value.
 * @return GROVE_OK, GROVE_ETYPE, GROVE_ENOMEM (then nothing is taken).
 */
int variant_dict_put(struct variant *dict, struct variant *key, struct variant *value);

/**
 * @brief Set the element hint of an ARRAY or the key/value hints of a
 * DICTIONARY. @p class_name may be NULL; it is copied. The hint's script is
 * cleared: set variant_typehint.script afterwards for a script-typed side.
 * @return GROVE_OK, GROVE_ETYPE, GROVE_EINVAL (bad type), GROVE_ENOMEM.
 */
int variant_array_set_typehint(struct variant *array, enum variant_type type, const char *class_name);
int variant_dict_set_typehints(struct variant *dict, enum variant_type key_type, const char *key_class,
			       enum variant_type value_type, const char *value_class);

/**
 * @brief Call @p fn with every non-zero resource reference in @p v, depth
 * first: a container's type hint scripts (variant_typehint.script: an
 * ARRAY's element hint, a DICTIONARY's key then value hint) before its
 * elements, an array's items in order, a dictionary's keys and values in
 * order, and a RESOURCE_REF's reference. @p fn may rewrite the reference it
 * is given (to a non-zero one); the walk stops at the first non-zero value
 * it returns. Every code that binds, renumbers, collects or localizes the
 * resources a value names walks it so, hints included.
 * @return GROVE_OK, @p fn's non-zero value, or GROVE_ETOOBIG (@p v is nested
 * deeper than VARIANT_MAX_DEPTH; @p fn may have been called for part of it).
 */
int variant_each_resource_ref(struct variant *v, int (*fn)(void *ctx, int64_t *ref), void *ctx);

/**
 * @brief Set element @p index of a PACKED_STRING_ARRAY to a copy of @p s.
 * @return GROVE_OK, GROVE_ETYPE, GROVE_ERANGE, GROVE_ENOMEM.
 */
int variant_packed_set_string(struct variant *v, uint32_t index, const char *s, size_t len);

/* ---- canonical binary form ---- */


/**
 * @brief Append the canonical binary form of @p v to @p out.
 *
 * Layout: one type byte, then the payload, little-endian: BOOL 1 byte; INT
 * 8; FLOAT and real components 8 each (IEEE bits); int components 4 each;
 * strings u32 length + bytes; RESOURCE_REF 8; CALLABLE and SIGNAL nothing;
 * typehint = type byte, u32 length + class bytes, and when the hint has a
 * script the type byte carries 0x80 and the script's reference (8) follows
 * (older bytes never set that bit, so they decode as before); ARRAY = hint,
 * u32 count, items; DICTIONARY = key
 * hint, value hint, u32 count, key, value, ...; packed arrays u32 count then
 * elements (strings as u32 length + bytes).
 * @return GROVE_OK, GROVE_ENOMEM, GROVE_ETOOBIG (nesting deeper than
 * VARIANT_MAX_DEPTH), GROVE_EINVAL (an unstorable type tag).
 */
int variant_encode(const struct variant *v, struct grove_buf *out);

/**
 * @brief Decode one canonical value from @p data.
 *
 * Never reads past @p len; validates every tag, length and nesting level.
 * @param consumed set to the number of bytes used (may be NULL).
 * @return GROVE_OK (then *v owns the value), GROVE_ECORRUPT for malformed
 * or truncated input, GROVE_ETOOBIG for nesting beyond VARIANT_MAX_DEPTH,
 * GROVE_ENOMEM. On error *v is NIL.
 */
int variant_decode(struct variant *v, const uint8_t *data, size_t len, size_t *consumed);

#endif
