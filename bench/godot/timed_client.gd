# GroveClient with a clock on the network side of a cold start: when the welcome, the first snapshot
# chunk and the last one arrived, counted from start().
extends "res://addons/grove/grove_client.gd"

const TimedMirror = preload("res://timed_mirror.gd")

var started_usec = 0
var welcome_usec = 0
var first_chunk_usec = 0
var last_chunk_usec = 0
var snapshot_bytes = 0


func _init() -> void:
	_mirror = TimedMirror.new()


func start() -> void:
	started_usec = OS.get_ticks_usec()
	.start()


func mirror():
	return _mirror


func _on_welcome(message: Dictionary) -> void:
	welcome_usec = OS.get_ticks_usec() - started_usec
	._on_welcome(message)


func _on_snapshot(message: Dictionary) -> void:
	var now = OS.get_ticks_usec() - started_usec
	if first_chunk_usec == 0:
		first_chunk_usec = now
	if message.get("last", false):
		last_chunk_usec = now
		snapshot_bytes = int(message.get("size", 0))
	._on_snapshot(message)
