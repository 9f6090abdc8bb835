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
 * otherwise it speaks grove's protobuf protocol. Frames from the server fit
 * the buffer the hello announces (PacketPeerStream's default 64 KiB if it
 * announces none): a client that raises its buffer (input_buffer_max_size)
 * and says so gets its snapshot and the ids beside it in fewer, larger
 * frames (up to 1 MiB); "changes" frames are kept under 60 KiB whatever the
 * buffer, unless one change alone is larger (see "compacted").
 *
 * Client to server:
 * - {"op": "hello", "godot": 3|4, "minor": int (optional: the client's
 *   Godot minor version; a Godot 4 client's changes then hold only what
 *   its decoder reads, see godot4_readable_by(); the newest layout if
 *   absent), "token": String, "client": String,
 *   "buffer": int (optional: the largest frame payload its PacketPeerStream
 *   reads, input_buffer_max_size; 65,532 if absent, the default)}
 *   First, always. Answer: {"op": "welcome", "server": int (member id),
 *   "version": String, "leader": String ("HOST:PORT" of the leader, "" if
 *   this member leads or none is known)}; or {"op": "error", "code": int,
 *   "reason": String} and the connection closes.
 * - {"op": "subscribe", "path": String (absolute, "/root/World"),
 *   "format": "scn"|"tscn" (default "scn"), "ids": "metadata"|"names"
 *   (default "metadata"), "from": int (optional),
 *   "classes": Array of String (optional), "properties": Array of String
 *   (optional), "depth": int (optional, levels below the subscribed node)}
 *   One subscription per connection; a second replaces the first. Any member
 *   serves it, from what it has applied, in log order.
 *   Without "from": the server sends the subtree as a scene taken at applied
 *   index N, in chunks: {"op": "snapshot", "index": N, "root": int (grove id
 *   of the subscribed node), "format": String, "size": int (bytes in all),
 *   "offset": int, "data": PoolByteArray/PackedByteArray, "last": bool}.
 *   With "ids": "metadata" (the default), every node of the scene carries
 *   its grove id as metadata "grove_id" (Godot 3: `__meta__`; Godot 4:
 *   `metadata/grove_id`), except, in Godot 3, a node of an instanced or
 *   inherited scene that stores no `__meta__` (the scene's would replace
 *   what its own scene gives it), and a node of an instanced scene that the
 *   scene does not declare: before the chunks come {"op": "snapshot_ids",
 *   "ids": Dictionary of node path (from the scene's root) -> id}, as many
 *   as keep each frame under the bound, for the client to find once it
 *   instanced the scene. With "ids": "names", the scene carries no ids (it
 *   is about half the size, and Godot loads and instances it faster): the
 *   "snapshot_ids" messages carry an empty "ids" and "node_ids": Array of
 *   ids, "parents": PoolIntArray/PackedInt32Array and "names":
 *   PoolStringArray/PackedStringArray, to be joined in the order they come:
 *   every node of the scene in ascending order of id, entry k being node
 *   node_ids[k], named names[k], whose parent is entry parents[k] (-1 for
 *   the scene's root), so that the client finds a node from its parent by
 *   name once it needs it (godot/scene.h, SCENE_IDS_NAMES). Then
 *   every change from N + 1 on. No change is missed or repeated between the
 *   two.
 *   With "from" = F (the last index the client applied): the stream resumes
 *   at F + 1 with {"op": "resumed", "index": F}; if the server no longer has
 *   F + 1 in its history it answers {"op": "compacted", "oldest": int,
 *   "reason": String} and the client subscribes again without "from" (a new
 *   snapshot), with "not_before": the last position it had (a String as
 *   the server sent it), so that the new snapshot is not older than what it
 *   had: a member that has not applied that far (in every shard the
 *   position names) waits for it, up to 10 s,
 *   then answers {"op": "error", "code": 17} (ask another member).
 *   The snapshot's last chunk, "changes", "progress" and "resumed" carry
 *   "position": String ("group:index" pairs, comma-separated, e.g.
 *   "1:120,5:33"; one pair within one shard); across shards "index" is a
 *   sum that only orders the stream. Keep the latest position and resume with "from" = that
 *   String: each shard resumes after its index, a shard split off below the
 *   subscribed node since from its birth, and so does the shard that the
 *   subscribed subtree itself was split into (the shard it split from stays
 *   in the position); "resumed" gives the index and
 *   position it resumed at (a new shard included). A position naming a shard
 *   that holds no part of the subtree now, or behind a shard's history, is
 *   answered "compacted"; one that does not parse, "error" (the subscription
 *   stays as it was).
 * - {"op": "submit", "key": String, "ops": Array of op Dictionaries}
 *   One atomic batch. "key" is chosen by the client, unique per batch; a
 *   retry with the same key (after a reconnect, to any member) is applied
 *   once. Answer: {"op": "submitted", "key": String, "index": int (the log
 *   index that applied it; for a batch across shards, the index in the
 *   first op's shard where the transaction's part was staged)} or {"op": "refused", "key": String, "code": int,
 *   "reason": String, "failed_op": int}. A member that does not lead passes
 *   the batch on to the leader and answers once it has applied it itself.
 *   Code 17 (unavailable: no leader known, a new term began before the batch
 *   was applied, or 60 s went by) says the batch was not applied, or not
 *   yet: send it again with the same key.
 *   Ops (node references: an int id > 0, an absolute path String, or a
 *   negative int -(k + 1) for the node created by op k of the same batch):
 *     {"op": "create", "parent": ref, "name": String, "class": String,
 *      "index": int (optional, -1 = last), "instance": String (optional)}
 *     {"op": "set", "node": ref, "property": String, "value": Variant}
 *      (a stored resource, anywhere in the value, as changes describe it:
 *      {"@resource": id, ...}; never an Object)
 *     {"op": "clear", "node": ref, "property": String}
 *     {"op": "rename", "node": ref, "name": String}
 *     {"op": "move", "node": ref, "parent": ref, "index": int (optional)}
 *     {"op": "reorder", "node": ref, "index": int}
 *     {"op": "remove", "node": ref}
 *     {"op": "group_add" | "group_remove", "node": ref, "group": String}
 * - {"op": "ping", "t": any} -> {"op": "pong", "t": the same}
 *
 * Server to client, after the snapshot or "resumed":
 * - {"op": "changes", "index": int, "prev": int, "position": String,
 *    "changes": Array, "part": int, "last": bool}: what log entry "index" changed in the
 *   subtree. "prev" is the index of the last "changes" or "progress" message
 *   before it (the snapshot's or resume index for the first), so a client
 *   that sees prev != its last index knows it missed something and
 *   resubscribes from its last index. An entry whose changes do not fit in
 *   one frame comes in parts (same index, "part" 0, 1, ..., "last" true on
 *   the final one); apply them together, at the last part.
 * - {"op": "progress", "index": int, "prev": int, "position": String}: nothing in the subtree changed up to "index"; sent when quiet,
 *   so the client's position moves.
 * - {"op": "compacted", "oldest": int, "reason": String}: the client fell
 *   too far behind (or asked for a position the history no longer holds),
 *   or an entry holds a change larger than one frame it reads (its hello's
 *   "buffer"); subscribe again without "from" (the snapshot carries any
 *   value in chunks).
 * - {"op": "error", "code": int, "reason": String}: a request was refused
 *   (malformed message, unknown op, no such path); grove_err codes.
 * Change dictionaries (ids are grove's node ids):
 *   {"op": "create", "id", "parent", "name", "class", "index", "instance"}
 *   {"op": "remove", "id"} (the node and its whole subtree)
 *   {"op": "set", "id", "property", "value"}   {"op": "clear", "id", "property"}
 *   {"op": "rename", "id", "name"}   {"op": "move", "id", "parent", "index"}
 *   {"op": "reorder", "id", "index"}   {"op": "group_add"|"group_remove", "id", "group"}
 *   {"op": "connect"|"disconnect", "id" (source), "target", "signal", "method", "flags"},
 *   a connect with binds also "binds": an Array, values as a set's
 *   {"op": "resource", "id", "type", "path"}, and for an embedded resource
 *   (path "") with properties, "properties": a Dictionary of them, values as
 *   a set's (resources they refer to described as below), for the client to
 *   build it: it has no file to load it from. An entry whose set (or
 *   connect's binds) names an embedded resource that the entry does not
 *   make brings it this way first, after those its properties name
 *   (src/server/arrival.h): a client may have it only in its snapshot's
 *   scene, where no id names it
 *   "index" is the position asked for among the siblings (-1: last). A value
 *   that refers to a resource is {"@resource": id, "path": String ("" for an
 *   embedded one), "type": String}. A value (or binds, or an embedded
 *   resource's properties) that the client's major cannot hold is left out:
 *   "value" (or "binds", "properties") is null and "unsupported" true.
 *
 * This module turns those Dictionaries into grove's operations and grove's
 * change records into Dictionaries; the server does the rest.
 */
#ifndef GROVE_GODOT_GATEWAY_H
#define GROVE_GODOT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"
#include "src/tree/tree.h"
#include "src/tree/variant.h"

/** Largest frame the server sends a Godot client (its default PacketPeerStream buffer is 64 KiB). */
#define GATEWAY_FRAME_MAX (60u << 10)

/** The largest frame payload a client reads unless its hello says otherwise: PacketPeerStream's default. */
#define GATEWAY_CLIENT_BUFFER_DEFAULT 65532u

/**
 * A hello's "minor" when it names none: changes are then written in the
 * newest layout (Godot 4.4's typed containers), as before hellos named it.
 */
#define GATEWAY_MINOR_NEWEST 1000

/** Whether the first frame @p payload of a connection is a Godot Dictionary (of major 3 or 4, set in *@p major). */
bool gateway_is_godot(const uint8_t *payload, size_t len, int *major);

/** The requests a client sends. */
enum gateway_op {
	GATEWAY_HELLO = 1,
	GATEWAY_SUBSCRIBE,
	GATEWAY_SUBMIT,
	GATEWAY_PING
};

/** A decoded request; strings point into @c msg, which owns everything. */
struct gateway_request {
	enum gateway_op op;        /**< which request */
	struct variant msg;        /**< the whole Dictionary, owned */
	/* hello */
	int godot;                 /**< the major the client says it is */
	int minor;                 /**< its minor (GATEWAY_MINOR_NEWEST if absent): what its Godot 4 decoder reads */
	const char *token;         /**< "" if absent */
	uint32_t buffer;           /**< the largest frame payload it reads (GATEWAY_CLIENT_BUFFER_DEFAULT if absent) */
	/* subscribe */
	const char *path;          /**< the subtree */
	bool tscn;                 /**< text scene rather than binary */
	bool ids_names;            /**< the snapshot's ids beside it with parents and names (scene.h), not as metadata */
	bool has_from;             /**< resume */
	uint64_t from;             /**< the last index the client applied */
	const char *from_position; /**< "from" as a position String, or NULL; borrowed from the message */
	const char *not_before;    /**< "not_before", a position String, or NULL; borrowed from the message */
	int depth;                 /**< < 0: all levels */
	const char **properties;   /**< owned array of borrowed strings, or NULL */
	size_t n_properties;
	const char **classes;      /**< likewise */
	size_t n_classes;
	/* submit */
	const char *key;           /**< the idempotency key */
	struct variant *ops;       /**< the Array of op Dictionaries, in msg */
	/* ping */
	const struct variant *t;   /**< echoed back */
};

/**
 * @brief Decode frame @p payload of a client of Godot @p major into @p out
 * (release with gateway_request_free(), also after an error).
 * @return GROVE_OK, GROVE_ECORRUPT (not a Variant), GROVE_EPROTO (not a
 * Dictionary with a known "op", or a field of the wrong type; one line in
 * @p why), GROVE_ENOMEM.
 */
int gateway_decode_request(const uint8_t *payload, size_t len, int major, struct gateway_request *out, char *why,
			   size_t why_cap);

void gateway_request_free(struct gateway_request *r);

/** A submitted batch as tree operations; strings and values borrow from the request. */
struct gateway_batch {
	struct tree_op *ops;       /**< owned array */
	size_t count;              /**< number of operations */
};

/**
 * @brief The operations of a submit request. A value's {"@resource": id, ...}
 * Dictionaries (as changes describe resources) become references to resource
 * id again, in @p r's message.
 * @return GROVE_OK, GROVE_EINVAL (an op that is not a Dictionary, an unknown
 * op, a missing or mistyped field: @p why names it), GROVE_ETOOBIG, GROVE_ENOMEM.
 */
int gateway_submit_batch(struct gateway_request *r, struct gateway_batch *out, char *why, size_t why_cap);

void gateway_batch_free(struct gateway_batch *b);

/** A server message being built: a Dictionary. */
struct gateway_msg {
	struct variant dict; /**< owned */
	bool failed;         /**< an allocation failed */
};

/** @brief Start message @p op. */
void gateway_msg_begin(struct gateway_msg *m, const char *op);
void gateway_msg_int(struct gateway_msg *m, const char *key, int64_t v);
void gateway_msg_bool(struct gateway_msg *m, const char *key, bool v);
void gateway_msg_str(struct gateway_msg *m, const char *key, const char *v);
void gateway_msg_bytes(struct gateway_msg *m, const char *key, const void *data, size_t len);
/** @brief Put @p v (its contents are taken; it becomes NIL). */
void gateway_msg_take(struct gateway_msg *m, const char *key, struct variant *v);

/**
 * @brief Encode the message for Godot @p major into @p out (the frame's
 * payload) and release it.
 * @return GROVE_OK, GROVE_EINVAL (a value that major cannot hold), GROVE_ENOMEM.
 */
int gateway_msg_finish(struct gateway_msg *m, int major, struct grove_buf *out);

/** Says what a stored resource is, for values that refer to one. */
struct gateway_resources {
	void *ctx;
	/** Fill @p path ("" for an embedded resource) and @p type of resource @p id; false if unknown. */
	bool (*describe)(void *ctx, uint64_t id, char *path, size_t path_cap, char *type, size_t type_cap);
};

/**
 * @brief The "changes" message(s) of entry @p index for Godot @p major
 * (4.@p minor for Godot 4: values as godot4_readable_by() makes them):
 * @p emit gets each frame's payload, in order, each at most
 * GATEWAY_FRAME_MAX bytes unless one change alone is larger. A value that
 * major cannot hold goes as nil with "unsupported": true. @p position (a
 * stream; NULL: none) goes in every frame as "position".
 * @return GROVE_OK, @p emit's non-zero value, GROVE_ENOMEM.
 */
int gateway_changes(uint64_t index, uint64_t prev, const char *position, const struct tree_change *changes, size_t n,
		    int major, int minor, const struct gateway_resources *res,
		    int (*emit)(void *ctx, const uint8_t *frame, size_t len), void *ctx);

/**
 * The encodings of changes that differ by the client's version: Godot 3; Godot 4 below
 * GODOT4_TYPED_ARRAYS_MINOR; below GODOT4_TYPED_DICTIONARIES_MINOR; from it on.
 */
#define GATEWAY_DIALECTS 4

/** @brief Which of the GATEWAY_DIALECTS Godot @p major.@p minor reads (0 .. GATEWAY_DIALECTS - 1). */
int gateway_dialect(int major, int minor);

/** An entry's changes encoded once for one Godot major, to frame for any number of subscribers. */
struct gateway_encoded_changes {
	struct grove_buf items; /**< the change Dictionaries, back to back */
	size_t *ends;           /**< per change, where its encoding ends in items, owned */
	size_t n;
	/**
	 * The bytes of the largest single change. A frame holds at most GATEWAY_FRAME_MAX bytes unless one change
	 * alone is larger; then that change's frame takes it and its header.
	 */
	size_t largest;
	int major;
	int minor;
};

/**
 * @brief gateway_changes() in two steps: encode @p changes for Godot @p major.@p minor into @p out (free it with
 * gateway_encoded_changes_free(); on error it holds nothing) ...
 * @return GROVE_OK, GROVE_ENOMEM, GROVE_EINVAL (a change that cannot be encoded).
 */
int gateway_changes_encode(const struct tree_change *changes, size_t n, int major, int minor,
			   const struct gateway_resources *res, struct gateway_encoded_changes *out);

/**
 * @brief ... then frame them for one subscriber, as gateway_changes() does: its @p index, @p prev and
 * @p position in every frame's header. @return GROVE_OK, @p emit's non-zero value, GROVE_ENOMEM.
 */
int gateway_changes_send(uint64_t index, uint64_t prev, const char *position, const struct gateway_encoded_changes *enc,
			 int (*emit)(void *ctx, const uint8_t *frame, size_t len), void *ctx);

/**
 * What a "changes" frame holds besides its changes, at most (its header: index, prev, part, last; plus the
 * position's bytes).
 */
#define GATEWAY_FRAME_HEADER_MAX 256u

/** @brief Release what gateway_changes_encode() made. */
void gateway_encoded_changes_free(struct gateway_encoded_changes *e);

#endif
