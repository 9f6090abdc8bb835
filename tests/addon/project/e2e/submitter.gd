# The other half of the end-to-end test (tests/addon/test_e2e.c): waits for the snapshot of GROVE_PATH to
# learn the ids of the node it changes and of the parents it moves it between, then submits GROVE_COUNT
# batches, each setting the node's position and every other one also moving it, pipelined (all at once,
# or at most GROVE_WINDOW unanswered at a time, so that some are always on their way), and writes every
# key with the index that applied it or the refusal, and how many answers came after the first (the
# client must give one).
# Settings from the environment: those of grove_env.gd, GROVE_NODE (relative to GROVE_PATH, or a name
# anywhere below it; default Mover), GROVE_PARENTS (relative, default A,B), GROVE_COUNT (default 20),
# GROVE_WINDOW (default 0: all), GROVE_START_FILE (submits once this file exists; default: at once),
# GROVE_SECONDS (default 20), GROVE_OUT (default user://submitter.txt).
# Prints GROVE-SUBMITTER-UNAVAILABLE <refusals as unavailable, each followed by a resend>, then
# GROVE-SUBMITTER-DONE <answered> <count> when the file is written.
extends SceneTree

const GroveEnv = preload("res://e2e/grove_env.gd")

var client = null
var answers = {}
var repeats = {}
var keys = []
var count = 0
var window = 0
var mover = 0
var parents = []
var armed = false
var start_file = ""
var deadline = 0
var finished = false


func _init() -> void:
	client = GroveEnv.make_client("submitter_snapshot")
	client.connect("snapshot_loaded", self, "on_snapshot_loaded")
	client.connect("submitted", self, "on_submitted")
	client.connect("refused", self, "on_refused")
	root.add_child(client)
	count = int(GroveEnv.env("GROVE_COUNT", "20"))
	window = int(GroveEnv.env("GROVE_WINDOW", "0"))
	start_file = GroveEnv.env("GROVE_START_FILE", "")
	deadline = OS.get_ticks_msec() + int(GroveEnv.env("GROVE_SECONDS", "20")) * 1000
	connect("idle_frame", self, "on_frame")


# A path relative to the subscribed node, or a name to find anywhere below it: the node moves.
func id_of(scene_root: Node, relative: String) -> int:
	var node = scene_root.get_node_or_null(relative)
	if node == null:
		node = scene_root.find_node(relative, true, false)
	if node == null or not node.has_meta("grove_id"):
		return 0
	return int(node.get_meta("grove_id"))


# Armed once, by the first snapshot: a later one (after "compacted") must not submit again.
func on_snapshot_loaded(scene_root) -> void:
	if armed:
		return
	# Every node's grove_id, which a node of a snapshot otherwise gets only once a change names it.
	client.id_map()
	mover = id_of(scene_root, GroveEnv.env("GROVE_NODE", "Mover"))
	for relative in GroveEnv.env("GROVE_PARENTS", "A,B").split(","):
		parents.append(id_of(scene_root, relative))
	armed = true


func submit_more() -> void:
	while keys.size() < count and (window <= 0 or keys.size() - answers.size() < window):
		var i = keys.size()
		var ops = [{"op": "set", "node": mover, "property": "position", "value": Vector2(i, -i)}]
		if i % 2 == 1:
			ops.append({"op": "move", "node": mover, "parent": parents[(i / 2) % parents.size()], "index": -1})
		keys.append(client.submit(ops))


func on_submitted(key, index) -> void:
	answer(key, "submitted %d" % index)


func on_refused(key, code, reason) -> void:
	answer(key, "refused %d %s" % [code, reason])


func answer(key: String, what: String) -> void:
	if answers.has(key):
		repeats[key] = repeats.get(key, 0) + 1
	else:
		answers[key] = what
	submit_more()


func on_frame() -> void:
	if finished:
		return
	if armed and keys.empty() and (start_file == "" or File.new().file_exists(start_file)):
		submit_more()
	var all_answered = keys.size() == count and answers.size() == count
	if not all_answered and OS.get_ticks_msec() < deadline:
		return
	finished = true
	client.stop()
	var f = File.new()
	f.open(GroveEnv.env("GROVE_OUT", "user://submitter.txt"), File.WRITE)
	for i in range(keys.size()):
		f.store_line("%d %s %s (%d more)" % [i, keys[i], answers.get(keys[i], "unanswered"), repeats.get(keys[i], 0)])
	f.close()
	print("GROVE-SUBMITTER-UNAVAILABLE %d" % client.unavailable)
	print("GROVE-SUBMITTER-DONE %d %d" % [answers.size(), count])
	quit(0)
