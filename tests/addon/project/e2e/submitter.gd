# The other half of the end-to-end test (it lands with the server side of the gateway): waits for the
# snapshot of GROVE_PATH to learn the ids of the node it changes and of the parents it moves it between,
# then submits GROVE_COUNT batches, each setting the node's position and every other one also moving it,
# all at once (pipelined), and writes every key with the index that applied it or the refusal.
# Settings from the environment: GROVE_ADDRESSES, GROVE_TOKEN, GROVE_PATH (default /root/World),
# GROVE_NODE (relative to it, default Mover), GROVE_PARENTS (relative, default A,B), GROVE_COUNT (default
# 20), GROVE_SECONDS (default 20), GROVE_OUT (default user://submitter.txt).
# Prints GROVE-SUBMITTER-DONE <answered> <count> when the file is written.
extends SceneTree

const GroveEnv = preload("res://e2e/grove_env.gd")

var client = null
var answers = {}
var keys = []
var count = 0
var deadline = 0
var finished = false


func _init() -> void:
	client = GroveEnv.make_client("submitter_snapshot")
	client.connect("snapshot_loaded", self, "on_snapshot_loaded")
	client.connect("submitted", self, "on_submitted")
	client.connect("refused", self, "on_refused")
	root.add_child(client)
	count = int(GroveEnv.env("GROVE_COUNT", "20"))
	deadline = OS.get_ticks_msec() + int(GroveEnv.env("GROVE_SECONDS", "20")) * 1000
	connect("idle_frame", self, "on_frame")


func id_of(scene_root: Node, relative: String) -> int:
	var node = scene_root.get_node_or_null(relative)
	if node == null or not node.has_meta("grove_id"):
		return 0
	return int(node.get_meta("grove_id"))


# Submitted once, on the first snapshot: a later one (after "compacted") must not submit again.
func on_snapshot_loaded(scene_root) -> void:
	if not keys.empty():
		return
	var mover = id_of(scene_root, GroveEnv.env("GROVE_NODE", "Mover"))
	var parents = []
	for relative in GroveEnv.env("GROVE_PARENTS", "A,B").split(","):
		parents.append(id_of(scene_root, relative))
	for i in range(count):
		var ops = [{"op": "set", "node": mover, "property": "position", "value": Vector2(i, -i)}]
		if i % 2 == 1:
			ops.append({"op": "move", "node": mover, "parent": parents[(i / 2) % parents.size()], "index": -1})
		keys.append(client.submit(ops))


func on_submitted(key, index) -> void:
	answers[key] = "submitted %d" % index


func on_refused(key, code, reason) -> void:
	answers[key] = "refused %d %s" % [code, reason]


func on_frame() -> void:
	if finished:
		return
	var all_answered = keys.size() == count and answers.size() == count
	if not all_answered and OS.get_ticks_msec() < deadline:
		return
	finished = true
	client.stop()
	var f = File.new()
	f.open(GroveEnv.env("GROVE_OUT", "user://submitter.txt"), File.WRITE)
	for i in range(keys.size()):
		f.store_line("%d %s %s" % [i, keys[i], answers.get(keys[i], "unanswered")])
	f.close()
	print("GROVE-SUBMITTER-DONE %d %d" % [answers.size(), count])
	quit(0)
