# GroveClient's logic without a network: hand-made messages go in through _handle_message (the path the
# network takes too), what the client would send is recorded, and the tree it builds is checked here step
# by step and dumped for the C test (tests/addon/test_addon.c) to compare whole.
extends SceneTree

const RecordingClient = preload("res://recording_client.gd")
const TreeDump = preload("res://tree_dump.gd")

var failures = 0
var events = []
var client = null
var mount = null


func check(ok: bool, what: String) -> void:
	if not ok:
		failures += 1
		print("FAIL: " + what)


func on_connected() -> void:
	events.append("connected")


func on_snapshot_loaded(scene_root) -> void:
	events.append("snapshot_loaded %s" % scene_root.name)


func on_changes_applied(index, changes) -> void:
	events.append("changes_applied %d %d" % [index, changes.size()])


func on_submitted(key, index) -> void:
	events.append("submitted %s %d" % [key.split("-")[1], index])


func on_refused(key, code, reason) -> void:
	events.append("refused %s %d %s" % [key.split("-")[1], code, reason])


func on_error(code, reason) -> void:
	events.append("error %d %s" % [code, reason])


func on_disconnected() -> void:
	events.append("disconnected")


func last_sent() -> Dictionary:
	if client.sent.empty():
		return {}
	return client.sent.back()


func file_bytes(path: String) -> PoolByteArray:
	var f = File.new()
	f.open(path, File.READ)
	var bytes = f.get_buffer(f.get_len())
	f.close()
	return bytes


# In small chunks, so that assembling by offset is exercised as the server's 60 KiB frames would.
# A snapshot across shards gives its @position with the last chunk.
func feed_snapshot(bytes: PoolByteArray, index: int, root_id: int, format: String, position: String = "") -> void:
	var offset = 0
	while offset < bytes.size():
		var n = int(min(97, bytes.size() - offset))
		var data = bytes.subarray(offset, offset + n - 1)
		var message = {"op": "snapshot", "index": index, "root": root_id, "format": format,
				"size": bytes.size(), "offset": offset, "data": data, "last": offset + n == bytes.size()}
		if position != "" and message["last"]:
			message["position"] = position
		client._handle_message(message)
		offset += n


func changes(index: int, prev: int, list: Array, part: int = 0, last: bool = true) -> void:
	changes_to(client, index, prev, list, part, last)


func changes_to(to, index: int, prev: int, list: Array, part: int = 0, last: bool = true) -> void:
	to._handle_message({"op": "changes", "index": index, "prev": prev, "changes": list, "part": part, "last": last})


# Changes of a stream across shards: each carries the stream's position after it.
func changes_at(index: int, prev: int, position: String, list: Array) -> void:
	client._handle_message({"op": "changes", "index": index, "prev": prev, "position": position, "changes": list, "part": 0, "last": true})


func path_of(id: int) -> String:
	var node = client.node_for_id(id)
	if node == null:
		return "-"
	return str(mount.get_path_to(node))


func dump(title: String, f: File) -> void:
	f.store_line("== %s: applied %d received %d" % [title, client.applied_index(), client.received_index()])
	var ids = client.id_map().keys()
	ids.sort()
	for id in ids:
		f.store_line("I %d %s" % [id, path_of(id)])
	if client.scene_root() != null:
		TreeDump.dump_node(client.scene_root(), mount, f)


# A world as Godot saves it, without ids: containers whose class makes children of its own as it is built
# (a ScrollContainer's scroll bars, a SpinBox's LineEdit), below them nodes of the scene, an instanced scene
# with a node grove holds (Lamp) and one it does not (Bulb), and chains of nodes to rename, move and remove.
func named_scene_bytes() -> PoolByteArray:
	var prop = Node2D.new()
	prop.name = "Prop"
	for child_name in ["Lamp", "Bulb"]:
		var child = Node2D.new()
		child.name = child_name
		prop.add_child(child)
		child.owner = prop
	var prop_scene = PackedScene.new()
	prop_scene.pack(prop)
	ResourceSaver.save("res://named_prop.scn", prop_scene)
	prop.free()
	var world = Node2D.new()
	world.name = "World"
	var made = {".": world}
	# Parent path, name, class; the instanced scene is added apart.
	for spec in [[".", "Scroll", "ScrollContainer"], ["Scroll", "Content", "VBoxContainer"], ["Scroll/Content", "Item", "Label"],
			[".", "Spin", "SpinBox"], ["Spin", "Extra", "Node"], [".", "Room", "Node2D"], ["Room", "Desk", "Node2D"],
			["Room/Desk", "Pen", "Node2D"], ["Room/Desk/Pen", "Cap", "Node2D"], [".", "Zone", "Node2D"], ["Zone", "Crate", "Node2D"],
			["Zone/Crate", "Lid", "Node2D"], [".", "Shelf", "Node2D"], [".", "Tail", "Node"], ["Tail", "End", "Node"],
			[".", "Sign", "Node2D"], [".", "Attic", "Node2D"], ["Attic", "Trunk", "Node2D"]]:
		var node = ClassDB.instance(spec[2])
		node.name = spec[1]
		made[spec[0]].add_child(node)
		node.owner = world
		made[str(world.get_path_to(node))] = node
	var instanced = load("res://named_prop.scn").instance()
	world.add_child(instanced)
	instanced.owner = world
	var scene = PackedScene.new()
	scene.pack(world)
	ResourceSaver.save("res://named.scn", scene)
	world.free()
	return file_bytes("res://named.scn")


# The ids beside named_scene_bytes()'s scene, sorted by id, in two messages; a parent is a position in the
# two joined, so the second's Lamp names the first's Prop. A child's id may be below its parent's (Desk,
# made before it was moved under Room; Trunk). _v_scroll and _h_scroll are nodes grove holds that this copy
# lacks: the scroll bars of those names that the ScrollContainer made for itself must not be taken for them.
func feed_named(to, bytes: PoolByteArray) -> void:
	var entries = [
		[1, -1, "World"], [2, 0, "Scroll"], [3, 1, "Content"], [4, 2, "Item"], [5, 0, "Spin"], [6, 4, "Extra"],
		[7, 0, "Prop"], [8, 6, "Lamp"], [9, 1, "_v_scroll"], [12, 12, "Desk"], [13, 9, "Pen"], [14, 10, "Cap"],
		[20, 0, "Room"], [30, 0, "Zone"], [31, 13, "Crate"], [32, 14, "Lid"], [40, 0, "Shelf"], [41, 0, "Tail"],
		[42, 17, "End"], [43, 21, "Trunk"], [44, 0, "Sign"], [45, 0, "Attic"], [46, 1, "_h_scroll"],
	]
	for half in [entries.slice(0, 6), entries.slice(7, entries.size() - 1)]:
		var ids = []
		var parents = PoolIntArray()
		var names = PoolStringArray()
		for e in half:
			ids.append(e[0])
			parents.append(e[1])
			names.append(e[2])
		to._handle_message({"op": "snapshot_ids", "ids": {}, "node_ids": ids, "parents": parents, "names": names})
	to._handle_message({"op": "snapshot", "index": 40, "root": 1, "format": "scn", "size": bytes.size(), "offset": 0, "data": bytes, "last": true})


func named_path(to, id: int) -> String:
	var node = to.node_for_id(id)
	if node == null:
		return "-"
	return str(to.scene_root().get_path_to(node))


# A snapshot whose ids come beside it as ids, parents and names: mounted with only its root mapped, each
# other node found by name the first time something needs it.
func check_named_snapshot() -> void:
	var holder = Node.new()
	root.add_child(holder)
	var named = RecordingClient.new()
	named.autostart = false
	named.snapshot_file = "user://addon_test_named"
	holder.add_child(named)
	named._handle_message({"op": "welcome", "server": 1, "version": "test", "leader": ""})
	check(named.sent.back().hash() == {"op": "subscribe", "path": "/root/World", "format": "scn", "ids": "names"}.hash(), "the ids asked for beside the scene, by name: %s" % str(named.sent.back()))
	feed_named(named, named_scene_bytes())
	var top = named.scene_root()
	check(named.is_following() and top != null and top.get_parent() == named, "a snapshot with its ids beside it is mounted")
	check(TreeDump.same_map(TreeDump.ids_in(top), {1: "."}) and named._mirror.nodes.size() == 1, "only the root is mapped at first: %s" % str(TreeDump.ids_in(top)))
	check(named_path(named, 4) == "Scroll/Content/Item" and int(named.node_for_id(4).get_meta("grove_id")) == 4, "a node found on first use: %s" % named_path(named, 4))
	check(TreeDump.same_map(TreeDump.ids_in(top), {1: ".", 2: "Scroll", 3: "Scroll/Content", 4: "Scroll/Content/Item"}), "with its ancestors, and nothing else: %s" % str(TreeDump.ids_in(top)))
	check(named_path(named, 6) == "Spin/Extra" and named.node_for_id(5) is SpinBox, "a node below a SpinBox, past the LineEdit it made: %s" % named_path(named, 6))
	check(named_path(named, 8) == "Prop/Lamp", "a node of an instanced scene: %s" % named_path(named, 8))
	check(top.get_node("Scroll").get_node_or_null("_v_scroll") != null and named.node_for_id(9) == null, "a child its class made is not a node of the scene")
	check(named.node_for_id(10) == null and named.node_for_id(99) == null, "ids the snapshot does not list")
	# Changes name nodes not looked up yet: the rename and the move find Room as it is, then Pen, two levels
	# below it and never looked up, is found where Room went.
	changes_to(named, 41, 40, [
		{"op": "rename", "id": 20, "name": "Hall"},
		{"op": "move", "id": 20, "parent": 40, "index": -1},
		{"op": "set", "id": 13, "property": "position", "value": Vector2(5, 6)},
	])
	named.apply_queued(-1.0)
	check(named_path(named, 13) == "Shelf/Hall/Desk/Pen" and named.node_for_id(13).position == Vector2(5, 6), "found below an ancestor renamed and moved: %s" % named_path(named, 13))
	check(named_path(named, 12) == "Shelf/Hall/Desk", "and the node between: %s" % named_path(named, 12))
	# Zone goes with Crate and Lid, never looked up; a new Zone with a Crate and a Lid takes their names.
	changes_to(named, 42, 41, [
		{"op": "remove", "id": 30},
		{"op": "create", "id": 50, "parent": 1, "name": "Zone", "class": "Node2D", "index": -1, "instance": ""},
		{"op": "create", "id": 51, "parent": 50, "name": "Crate", "class": "Node2D", "index": -1, "instance": ""},
		{"op": "create", "id": 52, "parent": 51, "name": "Lid", "class": "Node2D", "index": -1, "instance": ""},
	])
	named.apply_queued(-1.0)
	check(named.node_for_id(30) == null and named.node_for_id(31) == null and named.node_for_id(32) == null, "a removed node and the nodes below it are gone for good: %s %s %s" % [named_path(named, 30), named_path(named, 31), named_path(named, 32)])
	check(named_path(named, 50) == "Zone" and named_path(named, 51) == "Zone/Crate" and named_path(named, 52) == "Zone/Crate/Lid", "the new nodes of those names")
	check(int(named.node_for_id(51).get_meta("grove_id")) == 51 and int(named.node_for_id(52).get_meta("grove_id")) == 52, "keep their own ids")
	# A create that names a child already there without an id: a node of an instanced scene that grove did
	# not hold (Bulb) is taken over; a snapshot node not looked up yet (Tail) is not.
	var bulb = top.get_node("Prop/Bulb")
	var tail = top.get_node("Tail")
	changes_to(named, 43, 42, [
		{"op": "create", "id": 60, "parent": 7, "name": "Bulb", "class": "Node2D", "index": -1, "instance": ""},
		{"op": "create", "id": 61, "parent": 1, "name": "Tail", "class": "Node", "index": -1, "instance": ""},
		# A target not looked up yet is one this copy has.
		{"op": "connect", "id": 4, "target": 44, "signal": "resized", "method": "update", "flags": CONNECT_PERSIST},
	])
	named.apply_queued(-1.0)
	check(named.node_for_id(60) == bulb and top.get_node("Prop").get_child_count() == 2, "an instanced scene's child taken over")
	check(top.get_node("Scroll/Content/Item").is_connected("resized", top.get_node("Sign"), "update"), "a connection to a node not looked up yet")
	check(named.node_for_id(41) == tail and int(tail.get_meta("grove_id")) == 41 and named.node_for_id(61) != tail and named.node_for_id(61) != null, "a snapshot node not looked up yet is not taken over")
	# id_map() looks up every node still waiting: all of them, each with its grove_id.
	check(not top.get_node("Attic").has_meta("grove_id") and not top.get_node("Shelf/Hall/Desk/Pen/Cap").has_meta("grove_id"), "nodes no change named wait")
	var paths = {}
	for id in named.id_map():
		paths[id] = named_path(named, id)
	var want = {1: ".", 2: "Scroll", 3: "Scroll/Content", 4: "Scroll/Content/Item", 5: "Spin", 6: "Spin/Extra", 7: "Prop",
			8: "Prop/Lamp", 12: "Shelf/Hall/Desk", 13: "Shelf/Hall/Desk/Pen", 14: "Shelf/Hall/Desk/Pen/Cap", 20: "Shelf/Hall",
			40: "Shelf", 41: "Tail", 42: "Tail/End", 43: "Attic/Trunk", 44: "Sign", 45: "Attic", 50: "Zone", 51: "Zone/Crate",
			52: "Zone/Crate/Lid", 60: "Prop/Bulb", 61: named_path(named, 61)}
	check(TreeDump.same_map(paths, want), "id_map() has every node: %s" % str(paths))
	check(TreeDump.same_map(TreeDump.ids_in(top), want), "each with its grove_id: %s" % str(TreeDump.ids_in(top)))
	check(named.node_for_id(46) == null, "nor is a scroll bar taken for a node looked up with all the others")
	# A new snapshot forgets the nodes the last one left waiting.
	named._handle_message({"op": "compacted", "oldest": 50})
	feed_named(named, named_scene_bytes())
	check(named._mirror._unseen == 22, "waiting again: %d" % named._mirror._unseen)
	named._handle_message({"op": "compacted", "oldest": 60})
	var fresh = fresh_scene_bytes()
	named._handle_message({"op": "snapshot", "index": 60, "root": 1, "format": "scn", "size": fresh.size(), "offset": 0, "data": fresh, "last": true})
	check(named._mirror._unseen == 0 and named._mirror._unseen_ids.empty() and named.node_for_id(2) == null, "a snapshot with ids in its nodes after one by name")
	check(named.id_map().size() == 2, "its ids: %s" % str(named.id_map().keys()))
	# Lists of different lengths would misplace every parent after them.
	named._handle_message({"op": "compacted", "oldest": 70})
	named._handle_message({"op": "snapshot_ids", "ids": {}, "node_ids": [1, 2], "parents": PoolIntArray([-1]), "names": PoolStringArray(["World", "A"])})
	check(named._link == named.Link.IDLE and named.last_failure == "snapshot ids whose lists differ in length", "ids whose lists differ: %s" % named.last_failure)
	holder.free()

	# A parent of more than a thousand children, whose children are looked up all at once through an index of
	# them: all found, but not one that the scene does not own, nor one the scene lacks.
	var wide = Node.new()
	wide.name = "Wide"
	var ids = [1]
	var parents = PoolIntArray([-1])
	var names = PoolStringArray(["Wide"])
	for i in range(1100):
		var child = Node.new()
		child.name = "C%d" % i
		wide.add_child(child)
		child.owner = wide
		ids.append(2 + i)
		parents.append(0)
		names.append(child.name)
	var loose = Node.new()
	loose.name = "Loose"
	wide.add_child(loose)
	for extra in [[5000, "Loose"], [5001, "Missing"]]:
		ids.append(extra[0])
		parents.append(0)
		names.append(extra[1])
	var wide_holder = Node.new()
	root.add_child(wide_holder)
	var mirror = preload("res://addons/grove/grove_mirror.gd").new()
	mirror.mount_named(wide, wide_holder, 1, [[ids, parents, names]])
	mirror.look_up_all()
	check(mirror.nodes.size() == 1101 and mirror.nodes.get(1101) == wide.get_node("C1099") and int(wide.get_node("C1099").get_meta("grove_id")) == 1101, "the children of a wide parent: %d" % mirror.nodes.size())
	check(not mirror.nodes.has(5000) and not loose.has_meta("grove_id") and mirror.node_for(5001) == null, "not one the scene does not own")
	mirror.drop()
	wide_holder.free()


# The second snapshot is a binary scene that Godot itself writes, as the server's default format is.
func fresh_scene_bytes() -> PoolByteArray:
	var world = Node2D.new()
	world.name = "World"
	world.set_meta("grove_id", 1)
	var fresh = Sprite.new()
	fresh.name = "Fresh"
	fresh.position = Vector2(7, 8)
	fresh.set_meta("grove_id", 200)
	world.add_child(fresh)
	fresh.owner = world
	var scene = PackedScene.new()
	scene.pack(world)
	ResourceSaver.save("res://fresh.scn", scene)
	world.free()
	return file_bytes("res://fresh.scn")


func _init() -> void:
	mount = Node.new()
	mount.name = "Mount"
	root.add_child(mount)
	client = RecordingClient.new()
	client.name = "Client"
	client.autostart = false
	client.mount_path = NodePath("../Mount")
	client.snapshot_file = "user://addon_test_snapshot"
	root.add_child(client)
	for sig in ["connected", "snapshot_loaded", "changes_applied", "submitted", "refused", "error", "disconnected"]:
		client.connect(sig, self, "on_" + sig)
	var out = File.new()
	out.open("res://dump.txt", File.WRITE)

	# A first welcome: no tree yet, so a subscription without "from" (a snapshot).
	client._handle_message({"op": "welcome", "server": 1, "version": "test", "leader": ""})
	check(last_sent().hash() == {"op": "subscribe", "path": "/root/World", "format": "scn", "ids": "names"}.hash(), "cold subscribe: %s" % str(last_sent()))
	# Changes before the snapshot belong to no tree and are dropped.
	changes(3, 2, [{"op": "rename", "id": 1, "name": "Early"}])
	feed_snapshot(file_bytes("res://snapshot.tscn"), 10, 1, "tscn")
	check(client.scene_root() != null and client.scene_root().get_parent() == mount, "the snapshot is mounted under mount_path")
	check(client.applied_index() == 10 and client.id_map().size() == 5, "snapshot at 10 with 5 ids")
	check(client.is_following(), "following after the snapshot")
	check(client.node_for_id(3).is_in_group("players"), "the snapshot's groups")

	# Entry 11 whole, entry 12 in two parts, then progress to 13: all queued, nothing applied yet.
	changes(11, 10, [
		{"op": "create", "id": 6, "parent": 2, "name": "Bob", "class": "Node2D", "index": 0, "instance": ""},
		{"op": "set", "id": 6, "property": "position", "value": Vector2(3, 4)},
		{"op": "group_add", "id": 6, "group": "players"},
	])
	changes(12, 11, [
		{"op": "move", "id": 3, "parent": 4, "index": -1},
		{"op": "rename", "id": 4, "name": "Arena"},
	], 0, false)
	check(client.received_index() == 11, "a partial entry is not received yet")
	changes(12, 11, [
		{"op": "reorder", "id": 5, "index": 0},
		{"op": "set", "id": 5, "property": "text", "value": "hello"},
		{"op": "clear", "id": 3, "property": "position"},
		{"op": "set", "id": 3, "property": "@index", "value": 4},
	], 1, true)
	client._handle_message({"op": "progress", "index": 13, "prev": 12})
	check(client.applied_index() == 10 and client.received_index() == 13, "queued, not applied: %d %d" % [client.applied_index(), client.received_index()])
	# A budget of nothing still applies one whole entry per call, so a catch-up always moves.
	client.apply_queued(0.0)
	check(client.applied_index() == 11 and path_of(6) == "World/Players/Bob", "one entry within a zero budget")
	client.apply_queued(-1.0)
	check(client.applied_index() == 13, "all applied: %d" % client.applied_index())
	check(path_of(3) == "World/Arena/Alice" and path_of(5) == "World/Label", "move and rename")
	check(client.node_for_id(5).get_index() == 0, "reorder")
	check(client.node_for_id(3).position == Vector2(0, 0), "clear gives the class default")
	check(client.node_for_id(6).is_in_group("players") and client.node_for_id(6).owner == client.scene_root(), "a new node's groups and owner")

	# Entry 14: a subtree removed, groups, a node made, resources by path and embedded, a connection.
	changes(14, 13, [
		{"op": "remove", "id": 2},
		{"op": "group_remove", "id": 3, "group": "players"},
		{"op": "create", "id": 7, "parent": 1, "name": "Sign", "class": "Label", "index": -1, "instance": ""},
		{"op": "set", "id": 7, "property": "text", "value": "welcome"},
		{"op": "resource", "id": 50, "type": "Theme", "path": "res://theme.tres"},
		{"op": "set", "id": 7, "property": "theme", "value": {"@resource": 50, "path": "", "type": "Theme"}},
		{"op": "set", "id": 5, "property": "theme", "value": {"@resource": 99, "path": "", "type": "Theme"}},
		# Embedded resources come with their properties and are built; a script is not, nor set on one.
		{"op": "resource", "id": 51, "type": "Gradient", "path": "", "properties": {"offsets": PoolRealArray([0.0, 1.0]), "colors": PoolColorArray([Color(1, 0, 0), Color(0, 0, 1)])}},
		{"op": "resource", "id": 52, "type": "GradientTexture", "path": "", "properties": {"gradient": {"@resource": 51, "path": "", "type": "Gradient"}, "width": 16}},
		{"op": "resource", "id": 53, "type": "GDScript", "path": "", "properties": {"source_code": "extends Node"}},
		{"op": "resource", "id": 54, "type": "StyleBoxFlat", "path": "", "properties": {"bg_color": Color(0, 1, 0), "script": {"@resource": 53, "path": "", "type": "GDScript"}, "resource_path": "res://claimed.tres"}},
		{"op": "set", "id": 7, "property": "custom_styles/normal", "value": {"@resource": 54, "path": "", "type": "StyleBoxFlat"}},
		{"op": "set", "id": 5, "property": "custom_styles/normal", "value": {"@resource": 53, "path": "", "type": "GDScript"}},
		{"op": "set", "id": 3, "property": "__meta__", "value": {"grove_id": 3, "skin": {"@resource": 52, "path": "", "type": "GradientTexture"}}},
		{"op": "connect", "id": 5, "target": 1, "signal": "resized", "method": "update", "flags": CONNECT_PERSIST},
		{"op": "connect", "id": 7, "target": 1, "signal": "resized", "method": "update", "flags": CONNECT_PERSIST},
		# A target outside what this copy follows (a zone's node connected to the world's manager): left out.
		{"op": "connect", "id": 7, "target": 998, "signal": "resized", "method": "update", "flags": 0},
		{"op": "set", "id": 6, "property": "position", "value": Vector2(9, 9)},
	])
	client.apply_queued(-1.0)
	check(client.node_for_id(2) == null and client.node_for_id(6) == null, "the removed subtree left the id map")
	check(client.id_map().size() == 5, "ids after the removal: %s" % str(client.id_map().keys()))
	var style = client.node_for_id(7).get("custom_styles/normal")
	check(style is StyleBoxFlat and style.bg_color == Color(0, 1, 0) and style.get_script() == null and style.resource_path == "", "an embedded resource built from its properties, without the script or a path")
	check(not ResourceLoader.has_cached("res://claimed.tres"), "a built resource claims no path in the cache")
	check(client.node_for_id(5).get("custom_styles/normal") == null, "a script is not built")
	var skin = client.node_for_id(3).get_meta("skin")
	check(skin is GradientTexture and skin.width == 16 and skin.gradient.colors[1] == Color(0, 0, 1), "embedded resources referring to each other")

	# A gap (15 is missing): resubscribe from 14; what the old subscription still sends is dropped
	# until the server says it resumed.
	changes(16, 15, [{"op": "rename", "id": 7, "name": "Lost"}])
	check(last_sent().get("op") == "subscribe" and last_sent().get("from") == 14, "resubscribe after a gap: %s" % str(last_sent()))
	changes(17, 16, [{"op": "rename", "id": 7, "name": "Lost"}])
	client._handle_message({"op": "resumed", "index": 14})
	changes(15, 14, [
		{"op": "rename", "id": 7, "name": "Sign2"},
		{"op": "disconnect", "id": 7, "target": 1, "signal": "resized", "method": "update", "flags": 0},
	])
	changes(15, 14, [{"op": "rename", "id": 7, "name": "Again"}])
	client.apply_queued(-1.0)
	check(client.applied_index() == 15 and path_of(7) == "World/Sign2", "resumed at 14, applied 15 once")

	# A submit whose answer a broken link lost goes again, same key, after the next welcome, behind the
	# subscription that resumes from 15.
	var key = client.submit([{"op": "set", "node": 3, "property": "position", "value": Vector2(5, 5)}])
	check(last_sent().get("op") == "submit" and last_sent().get("key") == key, "submit sent")
	client._link_lost("test")
	var before = client.sent.size()
	client._handle_message({"op": "welcome", "server": 2, "version": "test", "leader": "127.0.0.1:1"})
	check(client.sent.size() == before + 2, "subscribe and one resend")
	check(client.sent[before].get("op") == "subscribe" and client.sent[before].get("from") == 15, "resume from 15 after a reconnect")
	check(client.sent[before + 1].get("key") == key and client.sent[before + 1].get("ops")[0].get("value") == Vector2(5, 5), "the same key resent")
	client._handle_message({"op": "resumed", "index": 15})
	client._handle_message({"op": "submitted", "key": key, "index": 16})
	client._handle_message({"op": "submitted", "key": key, "index": 16})
	var other = client.submit([{"op": "remove", "node": 999}])
	client._handle_message({"op": "refused", "key": other, "code": 3, "reason": "no such node", "failed_op": 0})
	# Refused as unavailable (the leader changed before it was applied): not an answer; the batch goes
	# again with its key once the pause is over, and the answer to that is the one reported.
	client.reconnect_min_ms = 60000
	var retried = client.submit([{"op": "set", "node": 3, "property": "position", "value": Vector2(0, 0)}])
	client._handle_message({"op": "refused", "key": retried, "code": 17, "reason": "the leader changed", "failed_op": 0})
	check(client.pending_submits().size() == 1 and client.pending_submits()[0] == retried, "a batch refused as unavailable stays pending")
	before = client.sent.size()
	client._process(0.0)
	check(client.sent.size() == before, "not sent again before the pause is over")
	client._resubmit_at = 0
	client._process(0.0)
	client._process(0.0)
	check(client.sent.size() == before + 1 and client.sent[before].get("key") == retried, "then sent again once, with its key")
	client._handle_message({"op": "submitted", "key": retried, "index": 17})
	check(client.pending_submits().empty(), "every submit answered")
	# Held by a cross-shard transaction: the same, a retry and not an answer.
	var held = client.submit([{"op": "set", "node": 3, "property": "scale", "value": Vector2(2, 2)}])
	client._handle_message({"op": "refused", "key": held, "code": 24, "reason": "retry with the same key", "failed_op": 0})
	check(client.pending_submits().size() == 1 and client.pending_submits()[0] == held, "a batch refused while a shard is held stays pending")
	before = client.sent.size()
	client._resubmit_at = 0
	client._process(0.0)
	check(client.sent.size() == before + 1 and client.sent[before].get("key") == held, "and is sent again with its key")
	client._handle_message({"op": "submitted", "key": held, "index": 17})
	check(client.pending_submits().empty(), "answered at last")
	changes(16, 15, [{"op": "set", "id": 3, "property": "position", "value": Vector2(5, 5)}])
	client.apply_queued(-1.0)
	dump("before compacted", out)

	# A catch-up of 100 entries, a frame's worth at a time: order and the queue's reuse hold up.
	for i in range(100):
		changes(17 + i, 16 + i, [{"op": "set", "id": 3, "property": "position", "value": Vector2(i, 0)}])
	for i in range(70):
		client.apply_queued(0.0)
	check(client.applied_index() == 86 and client.node_for_id(3).position == Vector2(69, 0), "70 entries in 70 zero budgets")
	client.apply_queued(-1.0)
	check(client.applied_index() == 116 and client.node_for_id(3).position == Vector2(99, 0), "the rest of the catch-up")

	# Compacted: a new snapshot, a fresh tree; the old one stays until the new one replaces it.
	var old_root = client.scene_root()
	client._handle_message({"op": "compacted", "oldest": 100})
	check(last_sent().hash() == {"op": "subscribe", "path": "/root/World", "format": "scn", "ids": "names"}.hash(), "cold start after compacted: %s" % str(last_sent()))
	check(is_instance_valid(old_root), "the old tree stays until the snapshot")
	changes(17, 16, [{"op": "rename", "id": 7, "name": "Stale"}])
	feed_snapshot(fresh_scene_bytes(), 120, 1, "scn")
	check(not is_instance_valid(old_root), "the old tree is freed")
	check(client.applied_index() == 120 and client.id_map().size() == 2, "fresh snapshot at 120")
	# Names that Godot's name setter would change ("Cube.001", an editor's "@@4") are kept whole, as a
	# snapshot keeps them.
	changes(121, 120, [
		{"op": "create", "id": 201, "parent": 200, "name": "Child", "class": "Node", "index": -1, "instance": "res://missing.tscn"},
		{"op": "create", "id": 202, "parent": 1, "name": "Cube.001", "class": "Sprite", "index": -1, "instance": ""},
		{"op": "set", "id": 202, "property": "position", "value": Vector2(3, 1)},
		{"op": "create", "id": 203, "parent": 202, "name": "@@4", "class": "Node", "index": -1, "instance": ""},
	])
	client.apply_queued(-1.0)
	check(path_of(202) == "World/Cube.001" and path_of(203) == "World/Cube.001/@@4", "names kept whole: %s %s" % [path_of(202), path_of(203)])
	check(client.node_for_id(202) is Sprite and client.node_for_id(202).position == Vector2(3, 1), "a node named whole is of its class")
	client._handle_message({"op": "error", "code": 3, "reason": "no such path"})
	check(client.applied_position() == "", "no position within one shard")
	dump("after compacted", out)

	# Across shards: the snapshot's last chunk, changes and progress give the position; the client keeps
	# the one of the last entry received, resumes from it after a reconnect, and applies it with the entry.
	client._handle_message({"op": "compacted", "oldest": 200})
	feed_snapshot(fresh_scene_bytes(), 300, 1, "scn", "1:200,5:100")
	check(client.applied_index() == 300 and client.applied_position() == "1:200,5:100", "the snapshot's position: %s" % client.applied_position())
	changes_at(301, 300, "1:200,5:101", [{"op": "set", "id": 200, "property": "position", "value": Vector2(1, 1)}])
	client._handle_message({"op": "progress", "index": 303, "prev": 301, "position": "1:202,5:101"})
	check(client.applied_position() == "1:200,5:100", "queued, not applied: %s" % client.applied_position())
	client.apply_queued(0.0)
	check(client.applied_index() == 301 and client.applied_position() == "1:200,5:101", "applied with its entry: %s" % client.applied_position())
	client._link_lost("test")
	client._handle_message({"op": "welcome", "server": 3, "version": "test", "leader": ""})
	check(last_sent().hash() == {"op": "subscribe", "path": "/root/World", "format": "scn", "from": "1:202,5:101"}.hash(), "resume from the position: %s" % str(last_sent()))
	# The server gives the position back with a shard split off since, at its birth: the index moves on.
	client._handle_message({"op": "resumed", "index": 304, "position": "1:202,5:101,7:1"})
	check(client.received_index() == 304, "resumed at the server's index: %d" % client.received_index())
	changes_at(306, 304, "1:202,5:102,7:2", [{"op": "set", "id": 200, "property": "position", "value": Vector2(2, 2)}])
	client.apply_queued(-1.0)
	check(client.applied_index() == 306 and client.applied_position() == "1:202,5:102,7:2", "all applied: %s" % client.applied_position())
	check(client.node_for_id(200).position == Vector2(2, 2), "the changes after the resume")
	# A resume answered below the index asked for is an error, across shards too.
	client._link_lost("test")
	client._handle_message({"op": "welcome", "server": 3, "version": "test", "leader": ""})
	check(last_sent().get("from") == "1:202,5:102,7:2", "resume from the last position: %s" % str(last_sent()))
	client._handle_message({"op": "resumed", "index": 305, "position": "1:202,5:102,7:1"})
	dump("across shards", out)
	out.store_line("== events")
	for e in events:
		out.store_line(e)
	out.close()

	# Told "compacted" with a position: the new snapshot must not be older (a member behind it waits, or says
	# to ask another, which the client then does); once a snapshot came, the bound is its position.
	client._handle_message({"op": "welcome", "server": 3, "version": "test", "leader": ""})
	client._handle_message({"op": "resumed", "index": 306, "position": "1:202,5:102,7:2"})
	client._handle_message({"op": "compacted", "oldest": 400})
	check(last_sent().get("not_before") == "1:202,5:102,7:2" and not last_sent().has("from"), "a new snapshot, not before the position: %s" % str(last_sent()))
	client._handle_message({"op": "error", "code": 17, "reason": "this member is behind"})
	check(client._link == client.Link.IDLE, "refused as unavailable, it asks another member")
	client._handle_message({"op": "welcome", "server": 2, "version": "test", "leader": ""})
	check(last_sent().get("not_before") == "1:202,5:102,7:2", "and says the same there: %s" % str(last_sent()))
	feed_snapshot(fresh_scene_bytes(), 400, 1, "scn", "1:300,5:102,7:2")
	client._handle_message({"op": "compacted", "oldest": 500})
	check(last_sent().get("not_before") == "1:300,5:102,7:2", "the bound moves with the snapshot: %s" % str(last_sent()))
	client._handle_message({"op": "error", "code": 3, "reason": "no such path"})
	check(client._link == client.Link.UP, "a refusal that is final is reported, not retried")

	check_named_snapshot()

	# The built embedded resources and the paths kept are bounded: past the limit the oldest half goes.
	var mirror = preload("res://addons/grove/grove_mirror.gd").new()
	mirror.embedded_max = 4
	for i in range(9):
		mirror.apply({"op": "resource", "id": 100 + i, "type": "Gradient", "path": "", "properties": {}})
	check(mirror.embedded.size() <= 4 and mirror.embedded.has(108) and not mirror.embedded.has(100), "embedded resources bounded: %s" % str(mirror.embedded.keys()))
	for i in range(9):
		mirror.apply({"op": "resource", "id": 200 + i, "type": "Theme", "path": "res://theme.tres"})
	check(mirror.resources.size() <= 4 and mirror.resources.has(208) and not mirror.resources.has(200), "resource paths bounded: %s" % str(mirror.resources.keys()))

	# A set of a path to a property that holds a Node gives it the node once its entry is applied (the
	# entry may make the node after the set); a property that holds a path keeps the path.
	var world = Node.new()
	mirror.root = world
	mirror.nodes = {1: world}
	mirror.apply({"op": "create", "id": 2, "parent": 1, "name": "Holder", "class": "Node", "index": -1, "instance": ""})
	mirror.apply({"op": "resource", "id": 60, "type": "GDScript", "path": "res://node_holder.gd"})
	mirror.apply({"op": "set", "id": 2, "property": "script", "value": {"@resource": 60, "path": "res://node_holder.gd", "type": "GDScript"}})
	mirror.apply({"op": "set", "id": 2, "property": "target", "value": NodePath("../Later")})
	mirror.apply({"op": "set", "id": 2, "property": "path_kept", "value": NodePath("../Later")})
	mirror.apply({"op": "create", "id": 3, "parent": 1, "name": "Later", "class": "Node", "index": -1, "instance": ""})
	mirror.finish_entry()
	var holder = mirror.node_for(2)
	check(holder.get("target") == mirror.node_for(3) and mirror.node_for(3) != null, "a Node property gets its node: %s" % str(holder.get("target")))
	check(holder.get("path_kept") == NodePath("../Later"), "a NodePath property keeps its path: %s" % str(holder.get("path_kept")))

	# A resource that keys a Dictionary comes as a reference, like a value, and is resolved.
	mirror.apply({"op": "resource", "id": 61, "type": "Theme", "path": "res://theme.tres"})
	mirror.apply({"op": "set", "id": 2, "property": "by_resource", "value": {{"@resource": 61, "path": "", "type": "Theme"}: {"@resource": 61, "path": "", "type": "Theme"}, "plain": 2}})
	var keyed = holder.get("by_resource")
	var theme = load("res://theme.tres")
	check(keyed.size() == 2 and keyed.get(theme) == theme and keyed.get("plain") == 2, "a resource as a Dictionary key: %s" % str(keyed))
	# A typed Dictionary's value is copied into an empty copy of the one it replaces (Godot 4.4 types it).
	var replaced = {"old": 1}
	var copied = mirror._dictionary_like(replaced, {"new": 2})
	check(copied.size() == 1 and copied.get("new") == 2 and replaced.size() == 1 and replaced.has("old"), "a Dictionary copied into an empty copy of another: %s" % str(copied))
	world.free()

	if failures == 0:
		print("GROVE-ADDON-OK")
	print("GROVE-DONE")
	quit(0)
