# Half of the end-to-end test (tests/addon/test_e2e.c): a GroveClient follows a subtree of a real grove
# cluster, cold-starts (or resumes from its checkpoint), applies changes until it reaches an index or its
# time is up, and writes the tree it ended with and everything it saw, so that the test compares followers
# with each other and with the server's own export.
# Settings from the environment: those of grove_env.gd, GROVE_SECONDS (default 10), GROVE_UNTIL_INDEX (0:
# none), GROVE_UNTIL_FILE (a file that, once it exists, holds the index to reach), GROVE_OUT (default
# user://follower.txt).
# Lines written: "applied N", then in order "W <leader the member named, or self>" for each connection,
# "U <from, -1 for a snapshot>" for each subscription, "K N" for a checkpoint loaded at index N, "S N <ids>" for a
# snapshot at N whose grove ids came "beside" it or in its nodes' "metadata", "A N <changes>" for each entry applied, "E <code> <reason>" for errors; then the tree.
# Prints GROVE-FOLLOWER-DONE <applied index> when the file is written.
extends SceneTree

const GroveEnv = preload("res://e2e/grove_env.gd")
const TreeDump = preload("res://tree_dump.gd")

var client = null
var seen = []
var deadline = 0
var until_index = 0
var until_file = ""
var finished = false


func _init() -> void:
	client = GroveEnv.make_client("follower_snapshot")
	client.connect("connected", self, "on_connected")
	client.connect("subscribing", self, "on_subscribing")
	client.connect("checkpoint_loaded", self, "on_checkpoint_loaded")
	client.connect("snapshot_loaded", self, "on_snapshot_loaded")
	client.connect("changes_applied", self, "on_changes_applied")
	client.connect("error", self, "on_error")
	root.add_child(client)
	deadline = OS.get_ticks_msec() + int(GroveEnv.env("GROVE_SECONDS", "10")) * 1000
	until_index = int(GroveEnv.env("GROVE_UNTIL_INDEX", "0"))
	until_file = GroveEnv.env("GROVE_UNTIL_FILE", "")
	connect("idle_frame", self, "on_frame")


func on_connected() -> void:
	if client.leader == "":
		seen.append("W self")
	else:
		seen.append("W %s" % client.leader)


func on_subscribing(from) -> void:
	seen.append("U %d" % from)


func on_checkpoint_loaded(_scene_root) -> void:
	seen.append("K %d" % client.applied_index())


func on_snapshot_loaded(_scene_root) -> void:
	seen.append("S %d %s" % [client.applied_index(), "beside" if client.snapshot_ids_beside else "metadata"])


func on_changes_applied(index, changes) -> void:
	seen.append("A %d %d" % [index, changes.size()])


func on_error(code, reason) -> void:
	seen.append("E %d %s" % [code, reason])


func on_frame() -> void:
	if finished:
		return
	if until_index == 0 and until_file != "" and File.new().file_exists(until_file):
		var f = File.new()
		if f.open(until_file, File.READ) == OK:
			until_index = int(f.get_as_text())
			f.close()
	var reached = until_index > 0 and client.applied_index() >= until_index
	if not reached and OS.get_ticks_msec() < deadline:
		return
	finished = true
	client.apply_queued(-1.0)
	client.stop()
	var f = File.new()
	f.open(GroveEnv.env("GROVE_OUT", "user://follower.txt"), File.WRITE)
	f.store_line("applied %d" % client.applied_index())
	for line in seen:
		f.store_line(line)
	if client.scene_root() != null:
		# The dump names each node's id, which a node of a snapshot gets only once something needs it.
		client.id_map()
		TreeDump.dump_node(client.scene_root(), client.scene_root().get_parent(), f)
	f.close()
	print("GROVE-FOLLOWER-DONE %d" % client.applied_index())
	quit(0)
