# The addon's mirror with a clock on each step of a cold start: writing the snapshot to user://, loading
# it as a PackedScene, instancing it, adding it to the tree, and mapping its grove ids (with the ids beside
# the scene, only joining the lists its nodes are looked up by).
extends "res://addons/grove/grove_mirror.gd"

var write_usec = 0
var load_usec = 0
var instance_usec = 0
var add_usec = 0
var register_usec = 0


# The addon's load_snapshot, step by step, so that each step has its own time.
func load_snapshot(data: PoolByteArray, file: String) -> Node:
	var t0 = OS.get_ticks_usec()
	if _write_file(file, data) != OK:
		return null
	var t1 = OS.get_ticks_usec()
	var scene = ResourceLoader.load(file, "", true)
	var t2 = OS.get_ticks_usec()
	if not (scene is PackedScene):
		return null
	var node = scene.instance()
	var t3 = OS.get_ticks_usec()
	write_usec = t1 - t0
	load_usec = t2 - t1
	instance_usec = t3 - t2
	return node


# The addon's mount, step by step: adding to the tree, then the id map.
func mount(scene_root: Node, parent: Node) -> void:
	drop()
	root = scene_root
	var t0 = OS.get_ticks_usec()
	parent.add_child(scene_root)
	var t1 = OS.get_ticks_usec()
	_register(scene_root)
	var t2 = OS.get_ticks_usec()
	add_usec = t1 - t0
	register_usec = t2 - t1


# A snapshot whose ids came beside it: adding it to the tree, then joining the lists that its nodes are
# looked up by later (the lookups themselves come when something needs a node, after the cold start).
func adopt(scene_root: Node, parent: Node, root_id: int) -> void:
	var t0 = OS.get_ticks_usec()
	.adopt(scene_root, parent, root_id)
	add_usec = OS.get_ticks_usec() - t0


func keep_names(parts: Array, root_id: int) -> void:
	var t0 = OS.get_ticks_usec()
	.keep_names(parts, root_id)
	register_usec = OS.get_ticks_usec() - t0
