# Godot alone, for comparison with a cold start: the snapshot a cold start left in user:// loaded from the
# local file, instanced and added to the tree. Prints, in microseconds:
#   GROVE-LOCAL <load> <instance> <add> <nodes>
extends SceneTree

const SNAPSHOT = "user://grove_snapshot.scn"


func _init() -> void:
	var t0 = OS.get_ticks_usec()
	var scene = ResourceLoader.load(SNAPSHOT, "", true)
	var t1 = OS.get_ticks_usec()
	if not (scene is PackedScene):
		print("GROVE-LOCAL-FAILED cannot load %s" % SNAPSHOT)
		quit(1)
		return
	var node = scene.instance()
	var t2 = OS.get_ticks_usec()
	root.add_child(node)
	var t3 = OS.get_ticks_usec()
	print("GROVE-LOCAL %d %d %d %d" % [t1 - t0, t2 - t1, t3 - t2, count_nodes(node)])
	quit(0)


func count_nodes(top: Node) -> int:
	var count = 0
	var stack = [top]
	while not stack.empty():
		var node = stack.pop_back()
		count += 1
		stack += node.get_children()
	return count
