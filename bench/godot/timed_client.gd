# GroveClient with a clock on the network side: when the welcome, the first snapshot chunk and the last
# one arrived, counted from start() (a cold start), and when each entry's changes arrived (following).
extends "res://addons/grove/grove_client.gd"

const TimedMirror = preload("res://timed_mirror.gd")

var started_usec = 0
var welcome_usec = 0
var first_chunk_usec = 0
var last_chunk_usec = 0
var snapshot_bytes = 0

# Entry index -> OS.get_ticks_usec() when the message that completed it reached _handle_message: read from
# the socket and decoded, before the addon queues it for a frame's apply. Taken by take_received_usec().
var _received_usec = {}


func _init() -> void:
	_mirror = TimedMirror.new()


func start() -> void:
	started_usec = OS.get_ticks_usec()
	.start()


func mirror():
	return _mirror


# When entry @index was received (see _received_usec), 0 if it was not; asking forgets it, so that a long
# run keeps only the entries still waiting for their apply.
func take_received_usec(index: int) -> int:
	var at = _received_usec.get(index, 0)
	_received_usec.erase(index)
	return at


# _handle_message is where every message from the server enters the addon: the earliest it exposes.
func _handle_message(message: Dictionary) -> void:
	var now = OS.get_ticks_usec()
	var before = received_index()
	._handle_message(message)
	if str(message.get("op", "")) == "changes" and received_index() > before:
		_received_usec[received_index()] = now


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
