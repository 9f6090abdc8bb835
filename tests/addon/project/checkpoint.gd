# GroveClient's checkpoint without a network, fed hand-made messages as in client_logic.gd: written after
# applies (at most once per interval, only when the index moved, and when the client stops), a fresh
# client reloads the tree and its id map from it and resumes from its index (across shards, from its
# position), and a checkpoint that is torn, garbage, of another subtree or not a checkpoint at all is
# passed over for a cold start.
extends SceneTree

const RecordingClient = preload("res://recording_client.gd")
const TreeDump = preload("res://tree_dump.gd")

const CHECKPOINT = "user://checkpoint_test.scn"
const ASIDE = "user://checkpoint_test.tmp.scn"

var failures = 0
var loaded = []


func check(ok: bool, what: String) -> void:
	if not ok:
		failures += 1
		print("FAIL: " + what)


func on_checkpoint_loaded(scene_root) -> void:
	loaded.append(scene_root)


func file_bytes(path: String) -> PoolByteArray:
	var f = File.new()
	if f.open(path, File.READ) != OK:
		return PoolByteArray()
	var bytes = f.get_buffer(f.get_len())
	f.close()
	return bytes


func put_file(path: String, bytes: PoolByteArray) -> void:
	var f = File.new()
	f.open(path, File.WRITE)
	f.store_buffer(bytes)
	f.close()


func remove_file(path: String) -> void:
	var dir = Directory.new()
	if dir.file_exists(path):
		dir.remove(path)


# The index the checkpoint on disk says, read as any Godot would read it; -1 if there is none.
func checkpoint_index() -> int:
	if not File.new().file_exists(CHECKPOINT):
		return -1
	var scene = ResourceLoader.load(CHECKPOINT, "", true)
	if not (scene is PackedScene):
		return -2
	var top = scene.instance()
	var index = -3
	if top.has_meta("grove_index"):
		index = int(top.get_meta("grove_index"))
	top.free()
	return index


func make_client(mount_name: String) -> Node:
	var mount = Node.new()
	mount.name = mount_name
	root.add_child(mount)
	var client = RecordingClient.new()
	client.name = "Client" + mount_name
	client.autostart = false
	client.mount_path = NodePath("../" + mount_name)
	client.snapshot_file = "user://checkpoint_test_snapshot"
	client.checkpoint_file = CHECKPOINT
	client.checkpoint_every_ms = 60000
	client.connect("checkpoint_loaded", self, "on_checkpoint_loaded")
	root.add_child(client)
	return client


func last_sent(client) -> Dictionary:
	if client.sent.empty():
		return {}
	return client.sent.back()


func changes(client, index: int, prev: int, list: Array) -> void:
	client._handle_message({"op": "changes", "index": index, "prev": prev, "changes": list, "part": 0, "last": true})


func path_of(client, id: int) -> String:
	var node = client.node_for_id(id)
	if node == null:
		return "-"
	return str(client.scene_root().get_parent().get_path_to(node))


# The tree and the id map as text, paths relative to the mount point.
func dump(client) -> String:
	var path = "user://checkpoint_test_dump.txt"
	var f = File.new()
	f.open(path, File.WRITE)
	var mount = client.scene_root().get_parent()
	var ids = client.id_map().keys()
	ids.sort()
	for id in ids:
		f.store_line("I %d %s" % [id, str(mount.get_path_to(client.node_for_id(id)))])
	TreeDump.dump_node(client.scene_root(), mount, f)
	f.close()
	return file_bytes(path).get_string_from_utf8()


# res://snapshot.tscn as a binary scene without the grove ids, as a snapshot whose ids come beside it.
func scene_without_ids() -> PoolByteArray:
	var top = load("res://snapshot.tscn").instance()
	var stack = [top]
	while not stack.empty():
		var node = stack.pop_back()
		node.remove_meta("grove_id")
		for child in node.get_children():
			stack.append(child)
	var scene = PackedScene.new()
	scene.pack(top)
	top.free()
	ResourceSaver.save("user://checkpoint_test_bare.scn", scene)
	return file_bytes("user://checkpoint_test_bare.scn")


# A client started on whatever the checkpoint file holds now: it must cold-start.
func expect_cold_start(what: String) -> void:
	var before = loaded.size()
	var client = make_client("Cold" + what.replace(" ", ""))
	client.start()
	check(loaded.size() == before and client.scene_root() == null and client.applied_index() == 0, "%s: no tree, index 0" % what)
	client._handle_message({"op": "welcome", "server": 1, "version": "test", "leader": ""})
	check(not last_sent(client).has("from"), "%s: a subscription without from: %s" % [what, str(last_sent(client))])
	client.stop()
	client.free()


func _init() -> void:
	remove_file(CHECKPOINT)
	remove_file(ASIDE)
	var a = make_client("MountA")
	a.start()
	check(loaded.empty() and a.scene_root() == null, "no checkpoint yet: nothing loaded")
	a._handle_message({"op": "welcome", "server": 1, "version": "test", "leader": ""})
	var bytes = file_bytes("res://snapshot.tscn")
	a._handle_message({"op": "snapshot", "index": 10, "root": 1, "format": "tscn", "size": bytes.size(), "offset": 0, "data": bytes, "last": true})
	check(checkpoint_index() == -1, "nothing is written before entries are applied")
	# The first apply after the start writes one whatever the interval, so that a restart soon after
	# a snapshot finds it.
	a.apply_queued(-1.0)
	check(checkpoint_index() == 10, "the snapshot's index checkpointed: %d" % checkpoint_index())
	check(not a.scene_root().has_meta("grove_index"), "the live root does not keep the index")

	# Within the interval: applied, not written.
	changes(a, 11, 10, [
		{"op": "create", "id": 6, "parent": 2, "name": "Bob", "class": "Node2D", "index": 0, "instance": ""},
		{"op": "set", "id": 6, "property": "position", "value": Vector2(3, 4)},
	])
	a.apply_queued(-1.0)
	check(a.applied_index() == 11 and checkpoint_index() == 10, "at most one per interval: %d" % checkpoint_index())
	a.checkpoint_every_ms = 0
	changes(a, 12, 11, [
		{"op": "move", "id": 3, "parent": 4, "index": -1},
		{"op": "rename", "id": 4, "name": "Arena"},
		{"op": "group_add", "id": 6, "group": "players"},
	])
	a.apply_queued(-1.0)
	check(checkpoint_index() == 12, "once the interval passed: %d" % checkpoint_index())
	a._handle_message({"op": "progress", "index": 13, "prev": 12})
	a.apply_queued(-1.0)
	check(checkpoint_index() == 13, "progress moves the index too: %d" % checkpoint_index())
	remove_file(CHECKPOINT)
	a.apply_queued(-1.0)
	check(checkpoint_index() == -1, "not written again while the index stays")

	# Stopping writes what the interval held back.
	a.checkpoint_every_ms = 60000
	changes(a, 14, 13, [
		{"op": "remove", "id": 2},
		{"op": "create", "id": 7, "parent": 1, "name": "Sign", "class": "Label", "index": -1, "instance": ""},
		{"op": "set", "id": 7, "property": "text", "value": "welcome"},
	])
	a.apply_queued(-1.0)
	check(checkpoint_index() == -1, "held back by the interval")
	a.stop()
	check(checkpoint_index() == 14, "written when stopped: %d" % checkpoint_index())
	var tree_a = dump(a)

	# A save killed half way leaves its file aside; the checkpoint itself is whole.
	put_file(ASIDE, file_bytes(CHECKPOINT).subarray(0, 99))
	var b = make_client("MountB")
	b.start()
	check(loaded.size() == 1 and loaded[0] == b.scene_root(), "checkpoint_loaded with the mounted root")
	check(b.applied_index() == 14 and b.received_index() == 14, "resumes at the checkpoint's index: %d" % b.applied_index())
	check(not b.scene_root().has_meta("grove_index"), "the mounted root does not keep the index")
	var tree_b = dump(b)
	check(tree_b == tree_a, "the same tree and ids:\n%s\nagainst\n%s" % [tree_b, tree_a])
	b._handle_message({"op": "welcome", "server": 2, "version": "test", "leader": ""})
	check(last_sent(b).hash() == {"op": "subscribe", "path": "/root/World", "format": "scn", "from": 14}.hash(), "subscribes from the checkpoint: %s" % str(last_sent(b)))
	b._handle_message({"op": "resumed", "index": 14})
	changes(b, 15, 14, [{"op": "set", "id": 3, "property": "position", "value": Vector2(9, 9)}, {"op": "rename", "id": 7, "name": "Sign2"}])
	b.apply_queued(-1.0)
	check(b.applied_index() == 15 and path_of(b, 3) == "World/Arena/Alice" and b.node_for_id(3).position == Vector2(9, 9) and path_of(b, 7) == "World/Sign2", "the reloaded id map takes changes")
	# Compacted: a fresh snapshot, as for a client that never had a checkpoint.
	b._handle_message({"op": "compacted", "oldest": 100})
	check(last_sent(b).hash() == {"op": "subscribe", "path": "/root/World", "format": "scn", "ids": "names"}.hash(), "compacted: a snapshot: %s" % str(last_sent(b)))
	b.free()

	var whole = file_bytes(CHECKPOINT)
	put_file(CHECKPOINT, whole.subarray(0, whole.size() / 2 - 1))
	expect_cold_start("torn in half")
	put_file(CHECKPOINT, whole.subarray(0, 39))
	expect_cold_start("torn at 40 bytes")
	put_file(CHECKPOINT, "not a scene at all".to_utf8())
	expect_cold_start("garbage")
	# A scene, but not one a client wrote: no index.
	var plain = Node2D.new()
	var scene = PackedScene.new()
	scene.pack(plain)
	ResourceSaver.save(CHECKPOINT, scene)
	plain.free()
	expect_cold_start("a scene without an index")
	put_file(CHECKPOINT, whole)
	var other = make_client("MountOther")
	other.subscribe_path = "/root/Elsewhere"
	other.start()
	check(other.scene_root() == null and other.applied_index() == 0, "a checkpoint of another subtree is not used")
	other.free()

	# Across shards the checkpoint keeps the applied entries' position too, and a restart resumes from it.
	remove_file(CHECKPOINT)
	var c = make_client("MountC")
	c.start()
	c._handle_message({"op": "welcome", "server": 1, "version": "test", "leader": ""})
	c._handle_message({"op": "snapshot", "index": 30, "root": 1, "format": "tscn", "size": bytes.size(), "offset": 0, "data": bytes, "last": true, "position": "1:20,4:10"})
	c._handle_message({"op": "changes", "index": 32, "prev": 30, "position": "1:21,4:11", "changes": [{"op": "rename", "id": 4, "name": "Arena"}], "part": 0, "last": true})
	c._handle_message({"op": "progress", "index": 33, "prev": 32, "position": "1:22,4:11"})
	c.apply_queued(0.0)
	c.stop()
	check(checkpoint_index() == 32, "the position's entry checkpointed: %d" % checkpoint_index())
	c.free()
	var d = make_client("MountD")
	d.start()
	check(d.applied_index() == 32 and d.applied_position() == "1:21,4:11", "reloaded at the position: %s" % d.applied_position())
	check(not d.scene_root().has_meta("grove_position"), "the mounted root does not keep the position")
	d._handle_message({"op": "welcome", "server": 2, "version": "test", "leader": ""})
	check(last_sent(d).hash() == {"op": "subscribe", "path": "/root/World", "format": "scn", "from": "1:21,4:11"}.hash(), "subscribes from the checkpoint's position: %s" % str(last_sent(d)))
	d.free()

	# A snapshot whose ids came beside it: its nodes wait to be looked up until something needs them, and
	# the checkpoint written right after it carries every node's grove_id all the same.
	remove_file(CHECKPOINT)
	var e = make_client("MountE")
	e.start()
	e._handle_message({"op": "welcome", "server": 1, "version": "test", "leader": ""})
	check(last_sent(e).get("ids") == "names", "the ids beside the scene: %s" % str(last_sent(e)))
	var bare = scene_without_ids()
	e._handle_message({"op": "snapshot_ids", "ids": {}, "node_ids": [1, 2, 3], "parents": PoolIntArray([-1, 0, 1]), "names": PoolStringArray(["World", "Players", "Alice"])})
	e._handle_message({"op": "snapshot_ids", "ids": {}, "node_ids": [4, 5], "parents": PoolIntArray([0, 0]), "names": PoolStringArray(["Zone", "Label"])})
	e._handle_message({"op": "snapshot", "index": 50, "root": 1, "format": "scn", "size": bare.size(), "offset": 0, "data": bare, "last": true})
	var want = {1: ".", 2: "Players", 3: "Players/Alice", 4: "Zone", 5: "Label"}
	check(TreeDump.ids_in(e.scene_root()).size() == 1, "only the root has its id before the checkpoint: %s" % str(TreeDump.ids_in(e.scene_root())))
	e.apply_queued(-1.0)
	check(checkpoint_index() == 50, "the snapshot's index checkpointed: %d" % checkpoint_index())
	var saved = ResourceLoader.load(CHECKPOINT, "", true).instance()
	check(TreeDump.same_map(TreeDump.ids_in(saved), want), "the checkpoint carries every node's grove_id: %s" % str(TreeDump.ids_in(saved)))
	saved.free()
	e.stop()
	e.free()
	var f = make_client("MountF")
	f.start()
	check(f.applied_index() == 50 and path_of(f, 3) == "World/Players/Alice" and path_of(f, 5) == "World/Label", "and a restart maps them from it: %s" % path_of(f, 3))
	f.free()

	remove_file(CHECKPOINT)
	remove_file(ASIDE)
	if failures == 0:
		print("GROVE-CHECKPOINT-OK")
	print("GROVE-DONE")
	quit(0)
