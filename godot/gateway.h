/**
 * @file gateway.h
 * @brief The Godot gateway protocol: how a Godot game server follows a part
 * of the world and submits changes, with nothing but GDScript
 * (StreamPeerTCP + PacketPeerStream, put_var / get_var, never objects).
 *
 * Transport. The same TCP port as every grove client. Each message is one
 * PacketPeerStream frame: a u32 little-endian length, then the message as a
 * Godot binary Variant (var2bytes / var_to_bytes, without objects) of the
 * major version the client named in its hello. Every message is a
 * Dictionary with String keys; "op" names it. A connection whose first frame
 * is a Dictionary of Godot 3 or 4 (type id 18 or 27) speaks this protocol;
 * otherwise it speaks grove's protobuf protocol. Frames from the server are
 * kept under 60 KiB, so that PacketPeerStream's default 64 KiB buffer holds
 * them; a client may raise its buffer (input_buffer_max_size) for fewer
 * parts.
 *
 * Client to server:
 * - {"op": "hello", "godot": 3|4, "token": String, "client": String}
 *   First, always. Answer: {"op": "welcome", "server": int (member id),
 *   "version": String, "leader": String ("HOST:PORT" of the leader, "" if
 *   this member leads or none is known)}; or {"op": "error", "code": int,
 *   "reason": String} and the connection closes.
 * - {"op": "subscribe", "path": String (absolute, "/root/World"),
 *   "format": "scn"|"tscn" (default "scn"), "from": int (optional),
 *   "classes": Array of String (optional), "properties": Array of String
 *   (optional), "depth": int (optional, levels below the subscribed node)}
 *   One subscription per connection; a second replaces the first. Any member
 *   serves it, from what it has applied, in log order.
 *   Without "from": the server sends the subtree as a scene taken at applied
 *   index N, in chunks: {"op": "snapshot", "index": N, "root": int (grove id
 *   of the subscribed node), "format": String, "size": int (bytes in all),
 *   "offset": int, "data": PoolByteArray/PackedByteArray, "last": bool}.
 *   Every node of the scene carries its grove id as metadata "grove_id"
 *   (Godot 3: `__meta__`; Godot 4: `metadata/grove_id`). Then every change
 *   from N + 1 on. No change is missed or repeated between the two.
 *   With "from" = F (the last index the client applied): the stream resumes
 *   at F + 1 with {"op": "resumed", "index": F}; if the server no longer has
 *   F + 1 in its history it answers {"op": "compacted", "oldest": int} and
 *   the client subscribes again without "from" (a new snapshot).
 * - {"op": "submit", "key": String, "ops": Array of op Dictionaries}
 *   One atomic batch. "key" is chosen by the client, unique per batch; a
 *   retry with the same key (after a reconnect, to any member) is applied
 *   once. Answer: {"op": "submitted", "key": String, "index": int (the log
 *   index that applied it)} or {"op": "refused", "key": String, "code": int,
 *   "reason": String, "failed_op": int}. A member that does not lead passes
 *   the batch on to the leader and answers once it has applied it itself.
 *   Ops (node references: an int id > 0, an absolute path String, or a
 *   negative int -(k + 1) for the node created by op k of the same batch):
 *     {"op": "create", "parent": ref, "name": String, "class": String,
 *      "index": int (optional, -1 = last), "instance": String (optional)}
 *     {"op": "set", "node": ref, "property": String, "value": Variant}
 *     {"op": "clear", "node": ref, "property": String}
 *     {"op": "rename", "node": ref, "name": String}
 *     {"op": "move", "node": ref, "parent": ref, "index": int (optional)}
 *     {"op": "reorder", "node": ref, "index": int}
 *     {"op": "remove", "node": ref}
 *     {"op": "group_add" | "group_remove", "node": ref, "group": String}
 * - {"op": "ping", "t": any} -> {"op": "pong", "t": the same}
 *
 * Server to client, after the snapshot or "resumed":
 * - {"op": "changes", "index": int, "prev": int, "changes": Array,
 *    "part": int, "last": bool}: what log entry "index" changed in the
 *   subtree. "prev" is the index of the last "changes" or "progress" message
 *   before it (the snapshot's or resume index for the first), so a client
 *   that sees prev != its last index knows it missed something and
 *   resubscribes from its last index. An entry whose changes do not fit in
 *   one frame comes in parts (same index, "part" 0, 1, ..., "last" true on
 *   the final one); apply them together, at the last part.
 * - {"op": "progress", "index": int, "prev": int}: nothing in the subtree
 *   changed up to "index"; sent when quiet, so the client's position moves.
 * - {"op": "compacted", "oldest": int}: the client fell too far behind (or
 *   asked for a position the history no longer holds); subscribe again
 *   without "from".
 * - {"op": "error", "code": int, "reason": String}: a request was refused
 *   (malformed message, unknown op, no such path); grove_err codes.
 * Change dictionaries (ids are grove's node ids):
 *   {"op": "create", "id", "parent", "name", "class", "index", "instance"}
 *   {"op": "remove", "id"} (the node and its whole subtree)
 *   {"op": "set", "id", "property", "value"}   {"op": "clear", "id", "property"}
 *   {"op": "rename", "id", "name"}   {"op": "move", "id", "parent", "index"}
 *   {"op": "reorder", "id", "index"}   {"op": "group_add"|"group_remove", "id", "group"}
 *   {"op": "connect"|"disconnect", "id" (source), "target", "signal", "method", "flags"}
 *   {"op": "resource", "id", "type", "path"}
 *   "index" is the position asked for among the siblings (-1: last). A value
 *   that refers to a resource is {"@resource": id, "path": String ("" for an
 *   embedded one), "type": String}.
 *
 * This module turns those Dictionaries into grove's operations and grove's
 * change records into Dictionaries; the server does the rest.
 */
#ifndef GROVE_GODOT_GATEWAY_H
#define GROVE_GODOT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/tree/tree.h"
#include "src/tree/variant.h"

/** Largest frame the server sends a Godot client (its default PacketPeerStream buffer is 64 KiB). */
#define GATEWAY_FRAME_MAX (60u << 10)

/** Whether the first frame @p payload of a connection is a Godot Dictionary (of major 3 or 4, set in *@p major). */
bool gateway_is_godot(const uint8_t *payload, size_t len, int *major);

#endif
