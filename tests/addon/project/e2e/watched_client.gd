# The addon's client with what the end-to-end test must see and the addon keeps to itself: every
# subscription it sends (did a restarted follower resume from its checkpoint, with a "from", or ask for a
# snapshot?) and how many of its batches were refused as unavailable (and so sent again).
extends "res://addons/grove/grove_client.gd"

signal subscribing(from)

var unavailable = 0


func _send(message: Dictionary) -> void:
	if str(message.get("op", "")) == "subscribe":
		emit_signal("subscribing", index_of(message.get("from", -1)))
	._send(message)


# A position ("group:index,...") stands for the sum of its indexes, as the stream's index does.
func index_of(from) -> int:
	if typeof(from) != TYPE_STRING:
		return int(from)
	var sum = 0
	for pair in from.split(","):
		sum += int(pair.split(":")[1])
	return sum


func _handle_message(message: Dictionary) -> void:
	if str(message.get("op", "")) == "refused" and int(message.get("code", 0)) == EUNAVAILABLE:
		unavailable += 1
	._handle_message(message)
