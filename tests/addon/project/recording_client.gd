# The client with its sending replaced by a record, so that a test sees what it would have sent (a
# subscribe, a resent submit) without a server.
extends "res://addons/grove/grove_client.gd"

var sent = []


func _send(message: Dictionary) -> void:
	sent.append(message)
