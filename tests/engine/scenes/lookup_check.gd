# For test_godot_engine: each scene res://w<i>.scn, exported by grove without its ids, is instanced and its
# nodes looked up by GroveClient's own mirror (grove_mirror.gd: mount_named(), then node_for() of each id)
# from res://w<i>.ids, written beside it: "N <id> <parent entry> <name>" lines, as the ids come beside a
# snapshot. Prints "W <i> <ids found>" per scene, then "I <i> <id> <path from the root>" per id found, then
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
		var ids = []
		var parents = PoolIntArray()
		var names = PoolStringArray()
		var root_id = 0
		f.open("res://w%d.ids" % i, File.READ)
		while not f.eof_reached():
			var parts = f.get_line().split(" ", true, 3)
			if parts.size() == 4 and parts[0] == "N":
				ids.append(int(parts[1]))
				parents.append(int(parts[2]))
				names.append(parts[3])
				if int(parts[2]) < 0:
					root_id = int(parts[1])
		f.close()
		var holder = Node.new()
		var mirror = GroveMirror.new()
		mirror.mount_named(top, holder, root_id, [[ids, parents, names]])
		var found = {}
		for id in ids:
			var node = mirror.node_for(id)
			if node != null:
				found[id] = node
		print("W\t%d\t%d" % [i, found.size()])
		for id in found:
			print("I\t%d\t%d\t%s" % [i, id, str(top.get_path_to(found[id]))])
		mirror.drop()
		holder.free()
		i += 1
	print("GROVE-DONE")
	quit(0)
