# For test_godot_engine: each scene res://w<i>.scn, exported by grove without its ids, is instanced and mapped
# by GroveClient's own walk (grove_mirror.gd's map_walk) from res://w<i>.ids, written beside it: "W <id>
# <children entered>" lines in the walk's order, "P <id> <path>" for the ids by path. Prints "W <i> <ids
# found>" per scene (0: the walk did not fit), then "I <i> <id> <path from the root>" per id found, then
# GROVE-DONE.
extends SceneTree

const GroveMirror = preload("res://addons/grove/grove_mirror.gd")


func _init() -> void:
	var i = 0
	var f = File.new()
	while f.file_exists("res://w%d.scn" % i):
		var scene = ResourceLoader.load("res://w%d.scn" % i, "", true)
		if not (scene is PackedScene):
			print("W\t%d\tLOAD-FAILED" % i)
			i += 1
			continue
		var top = scene.instance()
		var walk = []
		var children = []
		var by_path = {}
		f.open("res://w%d.ids" % i, File.READ)
		while not f.eof_reached():
			var parts = f.get_line().split(" ", false, 2)
			if parts.size() == 3 and parts[0] == "W":
				walk.append(int(parts[1]))
				children.append(int(parts[2]))
			elif parts.size() == 3 and parts[0] == "P":
				by_path[parts[2]] = int(parts[1])
		f.close()
		var found = GroveMirror.new().map_walk(top, walk, children, by_path)
		print("W\t%d\t%d" % [i, found.size()])
		for id in found:
			print("I\t%d\t%d\t%s" % [i, id, str(top.get_path_to(found[id]))])
		top.free()
		i += 1
	print("GROVE-DONE")
	quit(0)
