# A third half of the end-to-end test (tests/addon/test_e2e.c): once the snapshot of GROVE_PATH is in, it
# submits GROVE_COUNT batches of one to three operations drawn from GROVE_SEED, one batch at a time, each
# on the nodes its own copy holds once the batch before has been applied there: sets of properties and
# metadata with values of many types and names that need escaping, creates, renames, moves, reorders,
# removals, groups and clears. Some are refused (a name taken, a move into its own subtree): they change
# nothing, as grove's answer says. Writes each batch's answer to GROVE_OUT.
# Prints GROVE-RANDOM-DONE <submitted> <refused> when the file is written.
extends SceneTree

const GroveEnv = preload("res://e2e/grove_env.gd")

var client = null
var rng = RandomNumberGenerator.new()
var count = 0
var lines = []
var submitted = 0
var refused = 0
var waiting_key = ""
var waiting_index = -1
var armed = false
var deadline = 0
var finished = false
var subscribed = 0
var classes = ["Node", "Node2D", "Sprite", "Label", "Position2D", "Spatial", "Timer"]
var name_chars = ["a", "Z", "_", "-", " ", "%", "0", "é", "中", "(", "]", "'", "!", "+", "~", "#", "$", ",", ";", "=", "&"]
var string_chars = ["a", " ", "\"", "\\", "\n", "\t", "é", "中", "'", ";", "=", "[", "}", ":", "/", ",", "#", "@", "%"]


func _init() -> void:
	client = GroveEnv.make_client("random_snapshot")
	client.connect("snapshot_loaded", self, "on_snapshot_loaded")
	client.connect("submitted", self, "on_submitted")
	client.connect("refused", self, "on_refused")
	root.add_child(client)
	rng.seed = int(GroveEnv.env("GROVE_SEED", "1"))
	count = int(GroveEnv.env("GROVE_COUNT", "100"))
	deadline = OS.get_ticks_msec() + int(GroveEnv.env("GROVE_SECONDS", "60")) * 1000
	connect("idle_frame", self, "on_frame")


func on_snapshot_loaded(scene_root) -> void:
	subscribed = int(scene_root.get_meta("grove_id"))
	armed = true


func random_text(chars: Array, least: int, most: int) -> String:
	var s = ""
	for i in range(rng.randi_range(least, most)):
		s += chars[rng.randi() % chars.size()]
	return s


func random_value():
	match rng.randi() % 12:
		0:
			return null
		1:
			return rng.randi() % 2 == 0
		2:
			return int(rng.randi()) - 2147483648
		3:
			return rng.randf_range(-1e6, 1e6)
		4:
			return random_text(string_chars, 0, 8)
		5:
			return Vector2(rng.randf_range(-100, 100), rng.randi_range(-5, 5))
		6:
			return Color(rng.randf(), rng.randf(), rng.randf(), rng.randf())
		7:
			return Transform(Basis(Vector3(0, 1, 0), rng.randf()), Vector3(rng.randf(), 0, -1))
		8:
			return NodePath(["A/B:c", "../x", "/root/World", ""][rng.randi() % 4])
		9:
			return PoolStringArray([random_text(string_chars, 0, 3), ""])
		10:
			return [random_text(string_chars, 0, 3), rng.randi_range(-9, 9), [Vector3(1, 2, 3)]]
		_:
			return {random_text(string_chars, 1, 4): rng.randi_range(0, 9), 7: {"x": PoolIntArray([1, -2])}}


func random_op(ids: Array) -> Dictionary:
	var id = ids[rng.randi() % ids.size()]
	var other = ids[rng.randi() % ids.size()]
	var node = client.node_for_id(id)
	var below_top = id != subscribed
	match rng.randi() % 10:
		0, 1:
			var property = "__meta__"
			var value = {random_text(name_chars, 1, 4): random_value(), "k": random_value()}
			if node is CanvasItem and rng.randi() % 2 == 0:
				property = "modulate"
				value = Color(rng.randf(), rng.randf(), rng.randf(), 1)
			elif node is Node2D and rng.randi() % 2 == 0:
				property = "position"
				value = Vector2(rng.randf_range(-1e3, 1e3), rng.randf_range(-1e3, 1e3))
			elif node is Label:
				property = "text"
				value = random_text(string_chars, 0, 12)
			return {"op": "set", "node": id, "property": property, "value": value}
		2, 3:
			return {"op": "create", "parent": id, "name": random_text(name_chars, 1, 5), "class": classes[rng.randi() % classes.size()], "index": -1 if rng.randi() % 3 else 0}
		4:
			if below_top:
				return {"op": "rename", "node": id, "name": random_text(name_chars, 1, 5)}
		5:
			if below_top:
				return {"op": "move", "node": id, "parent": other, "index": -1 if rng.randi() % 3 else 0}
		6:
			if below_top and rng.randi() % 2 == 0:
				return {"op": "remove", "node": id}
		7:
			if below_top:
				return {"op": "reorder", "node": id, "index": 0}
		8:
			var group = random_text(name_chars, 1, 3)
			return {"op": "group_add" if rng.randi() % 3 else "group_remove", "node": id, "group": group}
	return {"op": "clear", "node": id, "property": ["modulate", "position", "__meta__", "text"][rng.randi() % 4]}


func submit_next() -> void:
	var ids = client.id_map().keys()
	ids.sort()
	var ops = []
	for i in range(rng.randi_range(1, 3)):
		ops.append(random_op(ids))
	waiting_key = client.submit(ops)
	waiting_index = -1


func on_submitted(key, index) -> void:
	if key == waiting_key:
		lines.append("%d submitted %d" % [lines.size(), index])
		submitted += 1
		waiting_index = index


func on_refused(key, code, reason) -> void:
	if key == waiting_key:
		lines.append("%d refused %d %s" % [lines.size(), code, reason])
		refused += 1
		waiting_index = 0


# The next batch once the one before is answered and, if it was applied, applied in this copy too.
func on_frame() -> void:
	if finished or not armed:
		return
	var ready = waiting_key == "" or (waiting_index >= 0 and client.applied_index() >= waiting_index)
	if ready and lines.size() < count and OS.get_ticks_msec() < deadline:
		submit_next()
		return
	if lines.size() < count and OS.get_ticks_msec() < deadline:
		return
	finished = true
	client.stop()
	var f = File.new()
	f.open(GroveEnv.env("GROVE_OUT", "user://random.txt"), File.WRITE)
	for line in lines:
		f.store_line(line)
	f.close()
	print("GROVE-RANDOM-DONE %d %d" % [submitted, refused])
	quit(0)
