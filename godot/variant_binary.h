/**
 * @file variant_binary.h
 * @brief Godot's binary Variant serialization (what `var2bytes` /
 * `var_to_bytes`, `bytes2var` / `bytes_to_var` and PacketPeerStream use),
 * for Godot 3 and Godot 4 type ids.
 *
 * Layout (little-endian, every item padded to 4 bytes): a u32 header whose
 * low 16 bits are the type id and whose upper bits are flags — bit 16
 * (ENCODE_FLAG_64) marks 64-bit ints and doubles; for Godot 4 arrays and
 * dictionaries bits 16-19 say whether the container is typed. Then the
 * payload: ints and floats as 4 or 8 bytes, strings as a u32 byte length +
 * UTF-8 + padding (in packed string arrays the length also counts a NUL
 * written after the bytes), vectors as float32 components (float64 with the flag),
 * NodePath in the "new" format (name count | 0x80000000, subname count,
 * flags, then each part as a string), containers as a u32 count followed by
 * their items, packed arrays as a u32 count followed by raw elements.
 *
 * Choices where grove's Variant and Godot's differ:
 * - Floats: a FLOAT (and, for Godot 4, any real component) is written as
 *   float32 when that is exact and as float64 with the flag otherwise, so
 *   nothing is lost (Godot 4 reads 64-bit components; Godot 3 does not, so
 *   for Godot 3 components are narrowed to float32, as its real_t is).
 * - Resource references have no binary form in Godot (an Object would be
 *   sent whole); grove writes them as an Object id (type OBJECT with the
 *   object-as-id flag, u64 id), which Godot decodes as that id. A null
 *   reference is written as a null Object.
 * - Callable and Signal are kept only empty: a Callable is its type id alone
 *   (as Godot writes and reads it), a Signal its type id, an empty name and
 *   object id 0; a Signal naming a signal is refused (GROVE_EINVAL).
 * - Godot 3 cannot hold integer vectors, Vector4, Projection, Callable or
 *   Signal; StringName is written as a String, int64 or float64 packed
 *   arrays narrowed only when every value fits exactly (refused otherwise).
 * - Godot 4 typed arrays keep their element type (builtin or class name);
 *   typed dictionaries (4.4) likewise. A side typed by a script is written
 *   as Godot writes it when objects go as ids: class-name typed (its class,
 *   or "Object"), without the script, which only a full-object encoding
 *   names (by path); reading such a script-typed side is refused
 *   (GROVE_EINVAL), since grove cannot bind a path. The Godot 4 layout is
 *   that of 4.3+.
 */
#ifndef GROVE_GODOT_VARIANT_BINARY_H
#define GROVE_GODOT_VARIANT_BINARY_H

#include <stddef.h>
#include <stdint.h>

#include "src/tree/variant.h"

/** Largest Variant payload accepted by the decoder, as in Godot's PacketPeer. */
#define GODOT_BINARY_MAX (64u << 20)

/**
 * @brief Append the Godot @p godot_major (3 or 4) binary form of @p v.
 * @return GROVE_OK, GROVE_EINVAL (not expressible in that version),
 * GROVE_ETOOBIG (nesting), GROVE_ENOMEM.
 */
int godot_binary_encode(const struct variant *v, int godot_major, struct grove_buf *out);

/**
 * @brief Decode one Godot @p godot_major binary Variant from @p data.
 * Never reads past @p len; validates every type id, length and nesting level.
 * @param consumed set to the bytes used (may be NULL).
 * @return GROVE_OK, GROVE_ECORRUPT (truncated or malformed), GROVE_EINVAL
 * (a type grove does not store: RID, a Signal that is not empty, a full
 * Object, a container typed by a script path),
 * GROVE_ETOOBIG, GROVE_ENOMEM. On error *v is NIL.
 */
int godot_binary_decode(struct variant *v, int godot_major, const uint8_t *data, size_t len, size_t *consumed);

/** The Godot 4 minor whose binary decoder first reads typed arrays and PackedVector4Array (4.3). */
#define GODOT4_TYPED_ARRAYS_MINOR 3
/** The Godot 4 minor whose binary decoder first reads typed dictionaries (4.4). */
#define GODOT4_TYPED_DICTIONARIES_MINOR 4

/**
 * @brief Make @p v, in place, what the binary decoder of Godot 4.@p minor
 * reads. An older decoder takes the bits that type a container for part of
 * its header and misreads what follows, and refuses a type id it does not
 * know: below GODOT4_TYPED_ARRAYS_MINOR arrays lose their element type and a
 * PackedVector4Array becomes an Array of Vector4; below
 * GODOT4_TYPED_DICTIONARIES_MINOR dictionaries lose their key and value
 * types. The values are the same; a newer @p minor changes nothing.
 * @return GROVE_OK, GROVE_ETOOBIG (nesting), GROVE_ENOMEM (@p v is then
 * partly changed, but still a valid Variant).
 */
int godot4_readable_by(struct variant *v, int minor);

/**
 * @brief Append one PacketPeerStream frame: a u32 little-endian length and
 * the encoded Variant.
 * @return like godot_binary_encode().
 */
int godot_packet_encode(const struct variant *v, int godot_major, struct grove_buf *out);

/**
 * @brief Decode one PacketPeerStream frame from @p data.
 * @param consumed set to the bytes used when a whole frame was there.
 * @return GROVE_OK, GROVE_ENOTFOUND (not a whole frame yet: read more),
 * GROVE_ETOOBIG (frame over GODOT_BINARY_MAX), or a decode error (the frame
 * is malformed: the connection should be closed).
 */
int godot_packet_decode(struct variant *v, int godot_major, const uint8_t *data, size_t len, size_t *consumed);

#endif
