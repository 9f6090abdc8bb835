/**
 * @file scn.h
 * @brief Godot's binary scene resource (.scn, a PackedScene in the "RSRC"
 * binary resource format), written from the scene model of tscn.h for
 * Godot 3 and Godot 4.
 *
 * A Godot server instances a binary scene about twice as fast as the same
 * scene as .tscn (no text to parse, parents named by index instead of by
 * path), so cold starts use it. The writer turns a struct tscn_scene into
 * exactly what Godot's own loader builds from the .tscn: the same nodes,
 * owners, properties, groups, connections and resources.
 *
 * ## The file (every integer little-endian; "ustring" = u32 byte length
 * including a NUL, the UTF-8 bytes, the NUL, no padding)
 *
 *   "RSRC"                                magic
 *   u32 0, u32 0                          little-endian; no 64-bit reals
 *   u32 major, u32 minor, u32 format      engine version and format version
 *   ustring "PackedScene"                 the type of the main resource
 *   u64 0                                 import metadata offset (none)
 *   Godot 3: 14 x u32 0                   reserved
 *   Godot 4: u32 flags (1 named sub-resource ids | 2 uids), u64 uid of the
 *            scene (ResourceUID text_to_id of gd_scene's uid, or -1),
 *            11 x u32 0 reserved
 *   u32 n, n x ustring                    the string table (property names)
 *   u32 n, n x (ustring type, ustring path [, Godot 4: u64 uid or -1])
 *                                         external resources, in file order
 *   u32 n, n x (ustring path, u64 offset) internal resources: the
 *                                         sub_resources in file order
 *                                         ("local://<id>"), the PackedScene
 *                                         last; offset = absolute file
 *                                         position of its body
 *   bodies: ustring type, u32 count, count x (u32 string index, variant)
 *   "RSRC"                                closing magic
 *
 * Versions written: Godot 3 gets engine 3.2 and format 3, what 3.2's saver
 * writes and the newest its loader accepts (it refuses a format or a major
 * above its own). Godot 4 gets format 4 (engine 4.0), the oldest Godot 4
 * format, which every 4.x loader reads; a scene that holds a
 * PackedVector4Array, which only format 6 can express, gets format 6 (engine
 * 4.3, the first to read it). Formats 5 and 6 differ from 4 only by an
 * optional script class in the header and that type.
 *
 * ## Variants (the resource format's own type ids, not the network ones)
 *
 * NIL 1; BOOL 2 (u32); INT 3 (i32) or INT64 40 (i64) when it does not fit;
 * FLOAT 4 (float32) when exact, else DOUBLE 41 (float64); STRING 5
 * (ustring); VECTOR2 10, RECT2 11, VECTOR3 12, PLANE 13, QUATERNION 14,
 * AABB 15, BASIS 16, TRANSFORM3D 17, TRANSFORM2D 18, COLOR 20: float32
 * components in grove's component order (which is Godot's); NODE_PATH 22:
 * u16 name count, u16 subname count | 0x8000 if absolute, then each part as
 * u32 (length + 1) | 0x80000000 and the bytes with a NUL (inline, not through
 * the string table; Godot loads "/", absolute without names, as the empty path, from its own .scn files
 * too); OBJECT 24: u32 0 (null), or 3 + u32 external index, or
 * 2 + u32 internal reference (Godot 3: the sub-resource's integer id, which
 * is also its "local://<id>"; Godot 4: its index in the internal table);
 * DICTIONARY 26 and ARRAY 30: u32 count then the items; packed arrays:
 * u32 count then raw elements: BYTE 31 (padded to 4), INT32 32, FLOAT32 33,
 * STRING 34 (ustrings), VECTOR3 35, COLOR 36, VECTOR2 37. Godot 4 only:
 * STRING_NAME 44 (ustring), VECTOR2I 45, RECT2I 46, VECTOR3I 47, INT64
 * array 48, FLOAT64 array 49, VECTOR4 50, VECTOR4I 51, PROJECTION 52,
 * VECTOR4 array 53.
 *
 * Real components are float32, as in every standard Godot build (real_t is
 * float): grove's doubles are rounded to the nearest float32, as Godot does
 * when it reads the same value from a .tscn. The format keeps no element
 * type for typed arrays and dictionaries (Godot re-types them from the
 * property on load), so none is written.
 *
 * Godot 3 refusals (GROVE_EINVAL, with a message): integer vectors, Rect2i,
 * Vector4(i), Projection, PackedVector4Array, a PackedInt64Array value that
 * does not fit 32 bits. Like tscn_write(), a StringName becomes a String
 * and a PackedFloat64Array a float32 array for Godot 3.
 *
 * ## The PackedScene body: one property, "_bundled", a Dictionary
 *
 *   names       PackedStringArray: node names, classes, property names,
 *               groups, signal and method names, each once
 *   variants    Array: property values, instanced PackedScenes, placeholder
 *               paths, connection binds (equal non-container values once)
 *   node_count  int
 *   nodes       PackedInt32Array, per node: parent, owner, type (name index
 *               or 0x7FFFFFFF for a node that comes from an instanced or
 *               inherited scene), name index | (index + 1) << 18 when the
 *               node has an index below 16383, instance (variant index, |
 *               1 << 30 for a placeholder, or -1), property count, pairs of
 *               (name index [Godot 4: | 1 << 30 for a property listed in
 *               node_paths], variant index), group count, group name indices
 *   conn_count  int
 *   conns       PackedInt32Array, per connection: from, to, signal, method,
 *               flags (2, CONNECT_PERSIST, when the scene gives none), bind
 *               count, bind variant indices [Godot 4: unbinds]
 *   node_paths  Array of NodePath
 *   editable_instances  Array of NodePath
 *   base_scene  int, the variant index of the inherited scene (only then)
 *   version     int: 2 for Godot 3, 3 for Godot 4 (with unbinds)
 *
 * A node id (parent, owner, connection end) is the index of a node the file
 * declares, or 1 << 30 | an index into node_paths for a node it only reaches
 * through an instanced scene ("Gun/Barrel"), resolved by Godot from the
 * scene root. Owners follow Godot's text loader: the root for every node
 * the scene creates, none for the root and for nodes of an instanced scene,
 * or the "owner" attribute. Godot 4.6's unique_id and parent_id_path have no
 * place in this layout and are left out; Godot 4.6 reads scenes without them.
 *
 * ## Memory
 *
 * Nothing of the scene is copied: the plan holds the string and node
 * indices and points into the model's values. scn_write_to() streams the file
 * through a sink callback without keeping it: a first pass only counts bytes
 * to learn the offsets of the bodies, the second writes, so a later export
 * can stream a snapshot's scene straight to a socket or file. scn_write()
 * writes once into a growable buffer and patches the offsets in place.
 */
#ifndef GROVE_GODOT_SCN_H
#define GROVE_GODOT_SCN_H

#include <stddef.h>

#include "godot/tscn.h"
#include "src/tree/variant.h"

/** Why writing failed. */
struct scn_error {
	char message[256]; /**< one line naming the section (and its line) and the problem */
};

/**
 * Where scn_write_to() sends the bytes. write() receives them in order, in
 * pieces of any size, and returns GROVE_OK or an error that stops the write
 * (and is returned by scn_write_to()).
 */
struct scn_sink {
	int (*write)(void *ctx, const void *data, size_t len); /**< consume @p len bytes */
	void *ctx;                                             /**< passed to write() */
};

/**
 * @brief Append @p scene as a binary PackedScene for Godot @p godot_major
 * (3 or 4) to @p out.
 * @param err filled on failure (may be NULL).
 * @return GROVE_OK; GROVE_EINVAL (no gd_scene header or no root, a second
 * root, a node without a name, a value Godot @p godot_major cannot hold, a
 * dangling or forward sub-resource reference, duplicate sub-resource ids),
 * GROVE_ETOOBIG (more nodes, names or values than the format can index;
 * nesting beyond VARIANT_MAX_DEPTH), GROVE_ENOMEM. On error @p out keeps its
 * previous length.
 */
int scn_write(const struct tscn_scene *scene, int godot_major, struct grove_buf *out, struct scn_error *err);

/**
 * @brief Like scn_write(), but hand the bytes to @p sink as they are made,
 * without holding the file (two passes over the scene; see above).
 * @return like scn_write(), or the sink's error. After an error the sink has
 * received a partial file.
 */
int scn_write_to(const struct tscn_scene *scene, int godot_major, const struct scn_sink *sink, struct scn_error *err);

#endif
