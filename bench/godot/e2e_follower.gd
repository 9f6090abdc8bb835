# The Godot game server of grove_bench_e2e (bench/e2e_bench.c): GroveClient follows /root/World at
# GROVE_ADDRESS while the benchmark writes /root/World/Target's "seq". For every entry applied it notes,
# in the engine's clock (OS.get_ticks_usec(): CLOCK_MONOTONIC_RAW, in us from the engine's start), when
# its message reached the client and when the mirror had applied it to the scene tree, and what Target's
# seq holds then.
#
# GROVE_FPS paces its frames as a game server's (the client reads the network once a frame), so that
# when a message is received includes the wait for the next frame.
#
# Prints GROVE-FOLLOWING once the snapshot is live. Once the file GROVE_STOP exists (it holds the last
# value written) it waits for that value to be applied (at most GROVE_DRAIN_SECONDS, default 10), writes
# GROVE_RECORDS, prints GROVE-E2E-DONE <entries> and quits; GROVE_SECONDS (default 120) bounds the whole
# run (GROVE-E2E-FAILED <why>, exit status 1, records written all the same). GROVE_RECORDS holds lines
#   CLOCK <ticks before> <ticks after> <ms>   CLOCK_REALTIME reached <ms> ms between the two ticks
#   EVENT <value> <index> <received ticks> <applied ticks> <Target's seq then>
# with a CLOCK line from before the first entry and one from after the last.
extends SceneTree

const TimedClient = preload("res://timed_client.gd")
const SeqHolder = preload("res://seq_holder.gd")

# Godot 3's wall clock reads in whole ms: the tightest of this many ms edges ties the two clocks.
const CLOCK_EDGES = 5
const STOP_POLL_MS = 20

var client = null
var target = null
var records = PoolStringArray()
var deadline = 0
var drain_ms = 10000
var stop_file = ""
var stop_polled_at = 0
var last_value = -1
var drain_deadline = -1
var latest_value = -1
var finished = false


func env(name: String, default: String) -> String:
	if OS.has_environment(name):
		return OS.get_environment(name)
	return default


func _init() -> void:
	# A game server's pace (GROVE_FPS frames a second; 0: as fast as the project's frame sleep lets it).
	Engine.target_fps = int(env("GROVE_FPS", "0"))
	stop_file = env("GROVE_STOP", "")
	drain_ms = int(env("GROVE_DRAIN_SECONDS", "10")) * 1000
	deadline = OS.get_ticks_msec() + int(env("GROVE_SECONDS", "120")) * 1000
	client = TimedClient.new()
	client.addresses = PoolStringArray([env("GROVE_ADDRESS", "127.0.0.1:7401")])
	client.subscribe_path = "/root/World"
	client.connect("snapshot_loaded", self, "on_snapshot_loaded")
	client.connect("changes_applied", self, "on_changes_applied")
	root.add_child(client)
	connect("idle_frame", self, "on_frame")


func on_snapshot_loaded(scene_root: Node) -> void:
	target = scene_root.get_node_or_null("Target")
	if target == null:
		end_run("the snapshot has no Target", 1)
		return
	target.set_script(SeqHolder)
	records.append(clock_line())
	print("GROVE-FOLLOWING")


func on_changes_applied(index: int, changes: Array) -> void:
	var applied = OS.get_ticks_usec()
	var received = client.take_received_usec(index)
	for change in changes:
		if typeof(change) == TYPE_DICTIONARY and str(change.get("property", "")) == "seq":
			latest_value = int(change.get("value", -1))
			records.append("EVENT %d %d %d %d %d" % [latest_value, index, received, applied, int(target.seq)])


# The wall clock's ms edge placed between two engine ticks: spin until get_system_time_msecs() turns
# over. The edge came after the last read that still saw the old ms (so after the ticks taken just
# before it) and by the read that saw the new one (so before the ticks taken just after it). A spin is
# at most a ms, hence only before the first entry and after the last.
func clock_line() -> String:
	var best = ""
	var best_width = -1
	for edge in range(CLOCK_EDGES):
		var before = OS.get_ticks_usec()
		var first_ms = OS.get_system_time_msecs()
		var ms = first_ms
		var after = before
		while ms == first_ms:
			var read_at = OS.get_ticks_usec()
			ms = OS.get_system_time_msecs()
			after = OS.get_ticks_usec()
			if ms == first_ms:
				before = read_at
		if best_width < 0 or after - before < best_width:
			best_width = after - before
			best = "CLOCK %d %d %d" % [before, after, ms]
	return best


func on_frame() -> void:
	if finished:
		return
	var now = OS.get_ticks_msec()
	if now > deadline:
		end_run("not done within GROVE_SECONDS (%s)" % client.last_failure, 1)
		return
	if last_value < 0 and stop_file != "" and now - stop_polled_at >= STOP_POLL_MS:
		stop_polled_at = now
		if File.new().file_exists(stop_file):
			var f = File.new()
			if f.open(stop_file, File.READ) == OK:
				last_value = int(f.get_as_text().strip_edges())
				f.close()
				drain_deadline = now + drain_ms
	if last_value >= 0 and (latest_value >= last_value or now > drain_deadline):
		end_run("", 0)


func end_run(failure: String, status: int) -> void:
	finished = true
	records.append(clock_line())
	var f = File.new()
	if f.open(env("GROVE_RECORDS", "user://e2e_records.txt"), File.WRITE) == OK:
		f.store_string(records.join("\n") + "\n")
		f.close()
	if failure == "":
		print("GROVE-E2E-DONE %d" % (records.size() - 2))
	else:
		print("GROVE-E2E-FAILED %s" % failure)
	client.stop()
	quit(status)
