# GroveClient: follows a subtree of a grove world in this scene tree and submits changes to it, over
# grove's Godot gateway (godot/gateway.h is the protocol). Plain GDScript and plain Variants, so a game
# server needs no native code: StreamPeerTCP, PacketPeerStream frames, Dictionaries, never objects.
extends Node

const GroveMirror = preload("grove_mirror.gd")

signal connected
signal snapshot_loaded(root)
signal checkpoint_loaded(root)
signal changes_applied(index, changes)
signal submitted(key, index)
signal refused(key, code, reason)
signal error(code, reason)
signal disconnected

# grove's error codes (src/common/error.h) for what the client itself finds wrong.
const ECORRUPT = 8
const EPROTO = 12
const EPARSE = 16
const EUNAVAILABLE = 17
# Answers that say "not applied, or not yet: send it again" (a leader changing, a node whose shard moved,
# a cross-shard change built from what changed since, a shard held by a transaction).
const RETRY_CODES = [EUNAVAILABLE, 20, 23, 24]

enum Link { IDLE, CONNECTING, HELLO, UP }
enum Stream { NONE, SNAPSHOT, RESUMING, LIVE }

# Members of the cluster, "HOST:PORT": any of them serves a subscription and passes submits on to the
# leader, so the client takes them in turn and needs to know none's role.
@export var addresses: PackedStringArray = PackedStringArray()
@export var token: String = ""
@export var subscribe_path: String = "/root/World"
# Where the subscribed subtree is instanced; empty: under this node.
@export var mount_path: NodePath = NodePath("")
# Applying changes shares the frame with the game: entries are applied until this much time went by (at
# least one per frame, so a long catch-up always moves).
@export var apply_budget_ms: float = 2.0
@export var autostart: bool = true
# Without extension: the snapshot's format gives it. Two clients in one project need two files.
@export var snapshot_file: String = "user://grove_snapshot"
# A copy of the followed tree on disk, with the index it reflects, so that a restarted game server resumes
# from there instead of taking a whole snapshot: a path ending in .scn or .tscn (which says the format), or
# empty for none. Packing walks the whole tree, hence at most one per interval.
@export var checkpoint_file: String = ""
@export var checkpoint_every_ms: int = 1000
@export var reconnect_min_ms: int = 100
@export var reconnect_max_ms: int = 5000
@export var connect_timeout_ms: int = 3000
# A quiet link is pinged, and one that stays silent is taken for dead: a peer that vanished without a
# FIN (power loss, a cable) is otherwise noticed only by TCP's own timeouts, minutes later.
@export var keepalive_ms: int = 1000
@export var dead_after_ms: int = 10000
# Godot rounds (size + 4) up to a power of two; snapshot chunks and parts are fewer with a larger buffer. The
# hello tells the server: an entry with one change larger than this is not sent, and the client takes a
# snapshot instead (at least 65,532, PacketPeerStream's default).
@export var buffer_bytes: int = 4 * 1024 * 1024 - 4
# A snapshot's grove ids come beside its scene, which is then about half the size and faster to load and
# instance, rather than in every node's metadata: each node gets its grove_id metadata once something
# needs it (a change names it, node_for_id(), id_map(), a checkpoint).
@export var snapshot_ids_beside: bool = true

var last_failure = ""
var leader = ""

var _mirror = GroveMirror.new()
var _tcp = null
var _peer = null
var _link = Link.IDLE
var _stream = Stream.NONE
var _stopped = true
var _link_since = 0
var _heard_at = 0
var _sent_at = 0
var _retry_at = 0
var _attempt = 0
var _next_address = -1
var _rng = RandomNumberGenerator.new()
var _client_key = ""
var _submits = 0
var _unacked = {}
var _resubmit = []
var _resubmit_at = 0
var _snapshot = PackedByteArray()
var _snapshot_ids = {}
var _snapshot_names = []
var _loaded = false
var _received_index = 0
var _applied_index = 0
var _queue = []
var _queue_head = 0
var _parts = []
var _parts_index = -1
var _next_part = 0
var _checkpoint_index = 0
var _checkpoint_at = -1
# The stream gives its position (its shards' indexes) with every entry: the last received is what a resume
# sends back, the last applied what a checkpoint keeps. The client never looks inside it.
var _received_position = ""
var _applied_position = ""
# Told "compacted", the client takes a new snapshot that must not be older than the position it had (a
# member behind it waits, or says to ask another), so that the copy never goes back to an older world.
var _not_before = ""


func _init() -> void:
	_rng.randomize()
	# Keys must be unique across every client and restart: 64 random bits name this client.
	_client_key = Crypto.new().generate_random_bytes(8).hex_encode()


func _ready() -> void:
	if autostart:
		start()


func _exit_tree() -> void:
	if is_following():
		_maybe_checkpoint(true)
	_close_link()


# Starts (again) following: connects to a member, cold-starts or resumes, and reconnects as needed.
func start() -> void:
	_stopped = false
	_retry_at = 0
	if not _loaded:
		_load_checkpoint()


func stop() -> void:
	var was_up = _link == Link.UP
	if is_following():
		_maybe_checkpoint(true)
	_stopped = true
	_close_link()
	if was_up:
		emit_signal("disconnected")


# The last entry of the world's log that this copy reflects.
func applied_index() -> int:
	return _applied_index


# Where a stream across shards stands for the applied entries, as the server gave it ("" within one shard).
func applied_position() -> String:
	return _applied_position


# The last entry received whole; entries past applied_index() wait for their turn in a frame.
func received_index() -> int:
	return _received_index


func scene_root() -> Node:
	if is_instance_valid(_mirror.root):
		return _mirror.root
	return null


func node_for_id(id: int) -> Node:
	return _mirror.node_for(id)


# grove id -> Node, live: read it, never change it. Every node of a snapshot not looked up yet is looked up
# for it, once: about as long as the cold start saved (some 0.3 s for 100,000 nodes).
func id_map() -> Dictionary:
	_mirror.look_up_all()
	return _mirror.nodes


func is_following() -> bool:
	return _stream == Stream.LIVE


# One atomic batch (ops as in godot/gateway.h). The key names it until it is answered: a batch whose
# answer a broken link lost is sent again with the same key after the reconnect, and grove applies a
# key once, so submitting never doubles a change.
func submit(ops: Array) -> String:
	_submits += 1
	var key = "%s-%d" % [_client_key, _submits]
	_unacked[key] = ops.duplicate(true)
	if _link == Link.UP:
		_send({"op": "submit", "key": key, "ops": _unacked[key]})
	return key


func pending_submits() -> Array:
	return _unacked.keys()


func _process(_delta: float) -> void:
	_poll_link()
	_resubmit_refused()
	apply_queued(apply_budget_ms)


# Batches refused with a retry code go again with their keys, after a pause that lets an election end.
func _resubmit_refused() -> void:
	if _resubmit.is_empty() or _link != Link.UP or Time.get_ticks_msec() < _resubmit_at:
		return
	for key in _resubmit:
		if _unacked.has(key):
			_send({"op": "submit", "key": key, "ops": _unacked[key]})
	_resubmit = []


# Applies queued entries, in index order, each whole, until budget_ms went by (at least one entry).
# A negative budget applies everything queued.
func apply_queued(budget_ms: float) -> void:
	var start_usec = Time.get_ticks_usec()
	while _queue_head < _queue.size():
		var entry = _queue[_queue_head]
		_queue[_queue_head] = null
		_queue_head += 1
		_apply_entry(entry)
		if budget_ms >= 0.0 and Time.get_ticks_usec() - start_usec >= int(budget_ms * 1000.0):
			break
	# Compacted now and then, not on every entry: taking entries off the front one by one costs a copy of
	# the queue each, which a catch-up of thousands of entries would feel.
	if _queue_head == _queue.size():
		_queue = []
		_queue_head = 0
	elif _queue_head > 64 and _queue_head * 2 > _queue.size():
		var rest = []
		for i in range(_queue_head, _queue.size()):
			rest.append(_queue[i])
		_queue = rest
		_queue_head = 0
	_maybe_checkpoint(false)


# The tree and its index as one scene file, saved aside and renamed over the previous one, so that a
# process killed while saving leaves the previous checkpoint whole. Godot does not sync the file: a crash
# of the machine, unlike one of the process, may still lose it, and the client then cold-starts.
func save_checkpoint() -> int:
	var top = scene_root()
	if checkpoint_file.is_empty() or top == null or not _loaded:
		return ERR_UNCONFIGURED
	_checkpoint_at = Time.get_ticks_msec()
	var aside = checkpoint_file.get_basename() + ".tmp." + checkpoint_file.get_extension()
	var scene = PackedScene.new()
	# A restart maps the checkpoint's nodes by their metadata alone.
	_mirror.look_up_all()
	top.set_meta("grove_index", _applied_index)
	top.set_meta("grove_path", subscribe_path)
	top.set_meta("grove_position", _applied_position)
	var err = scene.pack(top)
	if err == OK:
		err = ResourceSaver.save(scene, aside)
	# Only now: the packed scene holds the root's metadata itself, not a copy of it.
	top.remove_meta("grove_index")
	top.remove_meta("grove_path")
	top.remove_meta("grove_position")
	if err == OK:
		err = DirAccess.rename_absolute(aside, checkpoint_file)
	if err != OK:
		push_warning("grove: cannot write the checkpoint %s (error %d)" % [checkpoint_file, err])
		return err
	_checkpoint_index = _applied_index
	return OK


func _maybe_checkpoint(now: bool) -> void:
	if checkpoint_file.is_empty() or not _loaded or _applied_index == _checkpoint_index:
		return
	if now or _checkpoint_at < 0 or Time.get_ticks_msec() - _checkpoint_at >= checkpoint_every_ms:
		save_checkpoint()


# A checkpoint that does not load (torn by a crash of the machine, of another subtree, not a scene at all)
# only costs the head start: the client cold-starts as it would without one.
func _load_checkpoint() -> void:
	if checkpoint_file.is_empty() or not ResourceLoader.exists(checkpoint_file):
		return
	var top = _mirror.load_scene(checkpoint_file)
	var index = 0
	if top != null and top.has_meta("grove_index") and top.has_meta("grove_path") and str(top.get_meta("grove_path")) == subscribe_path:
		index = int(top.get_meta("grove_index"))
	if index <= 0:
		push_warning("grove: %s is not a checkpoint of %s; starting from a snapshot" % [checkpoint_file, subscribe_path])
		if top != null:
			top.free()
		return
	top.remove_meta("grove_index")
	top.remove_meta("grove_path")
	# A checkpoint written before positions were kept has none: it resumes from its index.
	_received_position = ""
	if top.has_meta("grove_position"):
		_received_position = str(top.get_meta("grove_position"))
		top.remove_meta("grove_position")
	_applied_position = _received_position
	_mirror.mount(top, _mount_point())
	_queue = []
	_queue_head = 0
	_received_index = index
	_applied_index = index
	_checkpoint_index = index
	_loaded = true
	emit_signal("checkpoint_loaded", top)


func _apply_entry(entry: Dictionary) -> void:
	var changes = entry["changes"]
	_applied_position = entry["position"]
	if changes == null:
		_applied_index = entry["index"]
		return
	for change in changes:
		if typeof(change) == TYPE_DICTIONARY:
			_mirror.apply(change)
	_mirror.finish_entry()
	_applied_index = entry["index"]
	emit_signal("changes_applied", _applied_index, changes)


func _poll_link() -> void:
	var now = Time.get_ticks_msec()
	if _tcp == null:
		if not _stopped and addresses.size() > 0 and now >= _retry_at:
			_open_link(now)
		return
	_tcp.poll()
	var status = _tcp.get_status()
	if _link == Link.CONNECTING:
		if status == StreamPeerTCP.STATUS_CONNECTED:
			_tcp.set_no_delay(true)
			_link = Link.HELLO
			_link_since = now
			_heard_at = now
			_send({"op": "hello", "godot": Engine.get_version_info()["major"], "minor": Engine.get_version_info()["minor"], "token": token, "client": _client_key, "buffer": buffer_bytes})
		elif status != StreamPeerTCP.STATUS_CONNECTING or now - _link_since > connect_timeout_ms:
			_link_lost("cannot connect to %s" % addresses[_next_address % addresses.size()])
		return
	# What arrived before a close is still read: the server says why it closes (a bad token) and then does.
	while _link != Link.IDLE and _peer.get_available_packet_count() > 0:
		var message = _peer.get_var(false)
		if _peer.get_packet_error() != OK or typeof(message) != TYPE_DICTIONARY:
			_fail(EPROTO, "a frame that is not a Dictionary")
			return
		_heard_at = now
		_handle_message(message)
	if _link != Link.IDLE and status != StreamPeerTCP.STATUS_CONNECTED:
		_link_lost("the connection closed")
	elif _link == Link.HELLO and now - _link_since > connect_timeout_ms:
		_link_lost("no welcome")
	elif _link != Link.IDLE and now - _heard_at > dead_after_ms:
		_link_lost("the server went silent")
	elif _link == Link.UP and now - _sent_at > keepalive_ms:
		_send({"op": "ping", "t": now})


func _open_link(now: int) -> void:
	if _next_address < 0:
		# A random first member spreads the followers of one cluster over its members.
		_next_address = _rng.randi_range(0, addresses.size() - 1)
	else:
		_next_address += 1
	var address = addresses[_next_address % addresses.size()]
	var colon = address.rfind(":")
	_tcp = StreamPeerTCP.new()
	_peer = PacketPeerStream.new()
	_peer.input_buffer_max_size = buffer_bytes
	_peer.output_buffer_max_size = buffer_bytes
	_peer.stream_peer = _tcp
	_link = Link.CONNECTING
	_link_since = now
	var host = address.substr(0, colon).trim_prefix("[").trim_suffix("]")
	if colon < 0 or _tcp.connect_to_host(host, address.substr(colon + 1).to_int()) != OK:
		_link_lost("cannot connect to %s" % address)


func _close_link() -> void:
	if _tcp != null:
		_tcp.disconnect_from_host()
	_tcp = null
	_peer = null
	_link = Link.IDLE
	_stream = Stream.NONE
	_parts = []
	_parts_index = -1
	_snapshot = PackedByteArray()
	_snapshot_ids = {}
	_snapshot_names = []


# Equal jitter: half the delay is fixed, so a member that comes back is not stormed, and half is random,
# so the followers that lost it together do not return together.
func _link_lost(reason: String) -> void:
	var was_up = _link == Link.UP
	_close_link()
	last_failure = reason
	var delay = reconnect_max_ms
	if _attempt < 16:
		delay = int(min(reconnect_max_ms, reconnect_min_ms * (1 << _attempt)))
	_attempt += 1
	_retry_at = Time.get_ticks_msec() + delay / 2 + _rng.randi_range(0, delay / 2)
	if was_up:
		emit_signal("disconnected")


func _fail(code: int, reason: String) -> void:
	emit_signal("error", code, reason)
	_link_lost(reason)


func _send(message: Dictionary) -> void:
	if _peer == null:
		return
	_sent_at = Time.get_ticks_msec()
	if _peer.put_var(message, false) != OK:
		_link_lost("cannot send")


# Every message from the server comes through here, in order; tests call it with hand-made messages.
func _handle_message(message: Dictionary) -> void:
	match str(message.get("op", "")):
		"welcome":
			_on_welcome(message)
		"snapshot":
			_on_snapshot(message)
		"snapshot_ids":
			_on_snapshot_ids(message)
		"resumed":
			_on_resumed(message)
		"changes":
			_on_changes(message)
		"progress":
			_on_progress(message)
		"compacted":
			_on_compacted()
		"submitted":
			_on_answer(message, true)
		"refused":
			_on_answer(message, false)
		"error":
			_on_error(message)
		"pong":
			pass
		_:
			push_warning("grove: unknown message %s" % str(message.get("op")))


func _on_welcome(message: Dictionary) -> void:
	_link = Link.UP
	_attempt = 0
	leader = str(message.get("leader", ""))
	_subscribe()
	_resubmit = []
	for key in _unacked:
		_send({"op": "submit", "key": key, "ops": _unacked[key]})
	emit_signal("connected")


# With a tree, resume after the last entry received (those queued are kept); without one, or once the
# server has compacted the history we need, a snapshot.
func _subscribe() -> void:
	_parts = []
	_parts_index = -1
	var message = {"op": "subscribe", "path": subscribe_path, "format": "scn"}
	if _loaded:
		message["from"] = _received_index
		if _received_position != "":
			message["from"] = _received_position
		_stream = Stream.RESUMING
	else:
		_snapshot = PackedByteArray()
		_snapshot_ids = {}
		_snapshot_names = []
		if snapshot_ids_beside:
			message["ids"] = "names"
		if _not_before != "":
			message["not_before"] = _not_before
		_stream = Stream.SNAPSHOT
	_send(message)


# Before a snapshot's chunks, the ids its scene does not carry: by path, and every node's with its parent
# and name, kept as they come and joined once the scene is there.
func _on_snapshot_ids(message: Dictionary) -> void:
	var ids = message.get("ids")
	if _stream == Stream.SNAPSHOT and typeof(ids) == TYPE_DICTIONARY:
		for path in ids:
			_snapshot_ids[path] = ids[path]
	if _stream != Stream.SNAPSHOT or typeof(message.get("node_ids")) != TYPE_ARRAY or typeof(message.get("parents")) != TYPE_PACKED_INT32_ARRAY or typeof(message.get("names")) != TYPE_PACKED_STRING_ARRAY:
		return
	var part = [message["node_ids"], message["parents"], message["names"]]
	# A parent is a position in the lists joined: lists of different lengths would misplace every later one.
	if part[0].size() != part[1].size() or part[0].size() != part[2].size():
		_fail(EPROTO, "snapshot ids whose lists differ in length")
		return
	_snapshot_names.append(part)


func _on_snapshot(message: Dictionary) -> void:
	if _stream != Stream.SNAPSHOT:
		return
	var data = message.get("data")
	if typeof(data) != TYPE_PACKED_BYTE_ARRAY or int(message.get("offset", -1)) != _snapshot.size():
		_fail(EPROTO, "a snapshot chunk out of order")
		return
	_snapshot.append_array(data)
	if not message.get("last", false):
		return
	var format = str(message.get("format", "scn"))
	if _snapshot.size() != int(message.get("size", -1)) or not (format == "scn" or format == "tscn"):
		_fail(ECORRUPT, "a snapshot of %d bytes, announced as %s" % [_snapshot.size(), str(message.get("size"))])
		return
	var scene_root = _mirror.load_snapshot(_snapshot, snapshot_file + "." + format)
	_snapshot = PackedByteArray()
	if scene_root == null:
		_fail(EPARSE, "the snapshot could not be written to or loaded from %s" % (snapshot_file + "." + format))
		return
	_mount_snapshot(scene_root, int(message.get("root", 0)))
	_queue = []
	_queue_head = 0
	_received_index = int(message.get("index", 0))
	_applied_index = _received_index
	_received_position = str(message.get("position", ""))
	_applied_position = _received_position
	_not_before = ""
	_loaded = true
	_stream = Stream.LIVE
	emit_signal("snapshot_loaded", scene_root)


func _mount_snapshot(scene_root: Node, root_id: int) -> void:
	var named = _snapshot_names
	var by_path = _snapshot_ids
	_snapshot_names = []
	_snapshot_ids = {}
	if not named.is_empty():
		_mirror.mount_named(scene_root, _mount_point(), root_id, named)
		return
	# Nodes whose metadata the scene does not carry (Godot 3's instanced ones; nodes of an instanced scene
	# that it does not declare) come by path.
	for path in by_path:
		var node = scene_root.get_node_or_null(str(path))
		if node != null:
			node.set_meta("grove_id", int(by_path[path]))
	# The subscribed node is where changes to its children attach: its id must be in the map even if
	# the scene's root came without the metadata.
	if not scene_root.has_meta("grove_id"):
		scene_root.set_meta("grove_id", root_id)
	_mirror.mount(scene_root, _mount_point())


func _mount_point() -> Node:
	if mount_path.is_empty() or get_node_or_null(mount_path) == null:
		return self
	return get_node_or_null(mount_path)


func _on_resumed(message: Dictionary) -> void:
	if _stream != Stream.RESUMING:
		return
	# Across shards the server gives the position back, a shard split off since added at its birth: the
	# index may then be past the one asked for, and an entry that applies nothing takes the client there.
	var index = int(message.get("index", -1))
	var position = str(message.get("position", ""))
	if index != _received_index and (position == "" or index < _received_index):
		_fail(EPROTO, "resumed at %s, asked for %d" % [str(message.get("index")), _received_index])
		return
	if position != "" and position != _received_position:
		_queue.append({"index": index, "changes": null, "position": position})
		_received_index = index
		_received_position = position
	_stream = Stream.LIVE


# "prev" chains every message to the one before it: a message whose prev is not the last index received
# means the stream lost something, and the client resubscribes from what it has. Anything at or below the
# last index received is a repeat and is dropped; while a resubscription is on its way, what the old one
# still sends is dropped too (the stream is not LIVE then).
func _on_changes(message: Dictionary) -> void:
	if _stream != Stream.LIVE:
		return
	var index = int(message.get("index", 0))
	var part = int(message.get("part", 0))
	if index <= _received_index:
		return
	if part == 0:
		if int(message.get("prev", -1)) != _received_index:
			_subscribe()
			return
		_parts = []
		_parts_index = index
	elif index != _parts_index or part != _next_part:
		_subscribe()
		return
	var changes = message.get("changes", [])
	if typeof(changes) == TYPE_ARRAY:
		_parts += changes
	_next_part = part + 1
	if not message.get("last", true):
		return
	_received_position = str(message.get("position", _received_position))
	_queue.append({"index": index, "changes": _parts, "position": _received_position})
	_received_index = index
	_parts = []
	_parts_index = -1


func _on_progress(message: Dictionary) -> void:
	if _stream != Stream.LIVE:
		return
	var index = int(message.get("index", 0))
	if index <= _received_index:
		return
	if int(message.get("prev", -1)) != _received_index or _parts_index >= 0:
		_subscribe()
		return
	_received_position = str(message.get("position", _received_position))
	_queue.append({"index": index, "changes": null, "position": _received_position})
	_received_index = index


# The history no longer reaches back to this copy: start over from a snapshot. What is queued is dropped
# (the snapshot holds it), the tree stays until the new one replaces it.
func _on_compacted() -> void:
	if _stream == Stream.NONE or _stream == Stream.SNAPSHOT:
		return
	_not_before = _received_position
	_loaded = false
	_queue = []
	_queue_head = 0
	_subscribe()


# A retry code is not an answer: the batch was not applied, or not yet (no leader was known, the leader
# changed before it was applied, a transaction held its shard), and grove applies a key once however often
# it is sent.
func _on_answer(message: Dictionary, applied: bool) -> void:
	var key = str(message.get("key", ""))
	if not _unacked.has(key):
		return
	if not applied and int(message.get("code", 0)) in RETRY_CODES:
		if _resubmit.is_empty():
			_resubmit_at = Time.get_ticks_msec() + _rng.randi_range(reconnect_min_ms, 2 * reconnect_min_ms)
		_resubmit.append(key)
		return
	_unacked.erase(key)
	if applied:
		emit_signal("submitted", key, int(message.get("index", 0)))
	else:
		emit_signal("refused", key, int(message.get("code", 0)), str(message.get("reason", "")))


# Before the welcome, an error ends the connection (a bad token); after it, it answers a request.
func _on_error(message: Dictionary) -> void:
	var code = int(message.get("code", 0))
	var reason = str(message.get("reason", ""))
	if _link == Link.HELLO:
		_fail(code, reason)
		return
	if _stream == Stream.SNAPSHOT or _stream == Stream.RESUMING:
		# A subscribe this member cannot serve now (it is behind the position, busy, or held): another can.
		if code in RETRY_CODES:
			_fail(code, reason)
			return
		_stream = Stream.NONE
	emit_signal("error", code, reason)
