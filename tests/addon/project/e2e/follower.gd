# Half of the end-to-end test (it lands with the server side of the gateway): a GroveClient follows a
# subtree of a real groved, cold-starts, applies changes for a while or up to an index, and writes the
# tree it ended with and every index it saw, so that the test compares followers with each other and
# with the server's own export.
# Settings from the environment: GROVE_ADDRESSES (HOST:PORT,...), GROVE_TOKEN, GROVE_PATH, GROVE_SECONDS
# (default 10), GROVE_UNTIL_INDEX (0: none), GROVE_OUT (default user://follower.txt).
# Prints GROVE-FOLLOWER-DONE <applied index> when the file is written.
extends SceneTree

const GroveEnv = preload("res://e2e/grove_env.gd")
const TreeDump = preload("res://tree_dump.gd")

var client = null
var seen = []
var deadline = 0
var until_index = 0
var finished = false


func _init() -> void:
	client = GroveEnv.make_client("follower_snapshot")
	client.connect("snapshot_loaded", self, "on_snapshot_loaded")
	client.connect("changes_applied", self, "on_changes_applied")
	client.connect("error", self, "on_error")
	root.add_child(client)
	deadline = OS.get_ticks_msec() + int(GroveEnv.env("GROVE_SECONDS", "10")) * 1000
	until_index = int(GroveEnv.env("GROVE_UNTIL_INDEX", "0"))
	connect("idle_frame", self, "on_frame")


func on_snapshot_loaded(_scene_root) -> void:
	seen.append("S %d" % client.applied_index())


func on_changes_applied(index, changes) -> void:
	seen.append("A %d %d" % [index, changes.size()])


func on_error(code, reason) -> void:
	seen.append("E %d %s" % [code, reason])


func on_frame() -> void:
	if finished:
		return
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
		TreeDump.dump_node(client.scene_root(), client.scene_root().get_parent(), f)
	f.close()
	print("GROVE-FOLLOWER-DONE %d" % client.applied_index())
	quit(0)
