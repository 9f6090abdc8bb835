# One cold start, timed: a GroveClient connects to GROVE_ADDRESS, says hello, subscribes to /root/World,
# receives the snapshot as a binary .scn (its grove ids beside it, or with GROVE_IDS_IN_SCENE in each node's
# metadata), writes it to user://, loads, instances and adds it to the tree. The <id map> time is, with the
# ids beside the scene, that of joining the lists its nodes are looked up by when first needed.
# Prints one line, times in microseconds from start():
#   GROVE-COLDSTART <total> <welcome> <first chunk> <last chunk> <write> <load> <instance> <add> <id map>
#                   <bytes> <nodes>
# or GROVE-COLDSTART-FAILED <why> after GROVE_SECONDS (default 60).
extends SceneTree

const TimedClient = preload("res://timed_client.gd")

var client = null
var deadline = 0
var finished = false


func _init() -> void:
	client = TimedClient.new()
	client.addresses = PoolStringArray([OS.get_environment("GROVE_ADDRESS")])
	client.subscribe_path = "/root/World"
	client.autostart = false
	client.snapshot_ids_beside = not OS.has_environment("GROVE_IDS_IN_SCENE")
	client.connect("snapshot_loaded", self, "on_snapshot_loaded")
	root.add_child(client)
	var seconds = 60
	if OS.has_environment("GROVE_SECONDS"):
		seconds = int(OS.get_environment("GROVE_SECONDS"))
	deadline = OS.get_ticks_msec() + seconds * 1000
	connect("idle_frame", self, "on_frame")
	client.start()


func on_snapshot_loaded(_scene_root) -> void:
	var total = OS.get_ticks_usec() - client.started_usec
	var m = client.mirror()
	finished = true
	# Counted after the clock stopped: id_map() looks up every node that a snapshot whose ids came beside it
	# left to be looked up when needed, which is no part of a cold start.
	var nodes = client.id_map().size()
	print("GROVE-COLDSTART %d %d %d %d %d %d %d %d %d %d %d" % [total, client.welcome_usec, client.first_chunk_usec,
			client.last_chunk_usec, m.write_usec, m.load_usec, m.instance_usec, m.add_usec, m.register_usec,
			client.snapshot_bytes, nodes])
	client.stop()
	quit(0)


func on_frame() -> void:
	if not finished and OS.get_ticks_msec() > deadline:
		finished = true
		print("GROVE-COLDSTART-FAILED %s" % client.last_failure)
		client.stop()
		quit(1)
