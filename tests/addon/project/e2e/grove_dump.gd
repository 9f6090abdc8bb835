# The server's side of the end-to-end test's comparison: loads the scene `grove export` wrote (GROVE_SCENE),
# gives each node the grove id that `grove --json tree` lists for its path (GROVE_IDS, that command's
# output: the first node's path, then each node's name and parent id, its paths rebuilt here), since an
# export carries no ids, and writes the tree as follower.gd does (GROVE_OUT), so that the two compare as
# text, ids included.
# Prints GROVE-DUMP-DONE <nodes given an id> when the file is written.
extends SceneTree

const GroveEnv = preload("res://e2e/grove_env.gd")
const TreeDump = preload("res://tree_dump.gd")


func _init() -> void:
	var base = Node.new()
	root.add_child(base)
	var scene = ResourceLoader.load(GroveEnv.env("GROVE_SCENE", ""), "", true)
	var top = scene.instance()
	base.add_child(top)
	var f = File.new()
	f.open(GroveEnv.env("GROVE_IDS", ""), File.READ)
	var parsed = JSON.parse(f.get_as_text())
	f.close()
	if parsed.error != OK:
		print("GROVE-DUMP-FAILED the listing is not JSON: %s" % parsed.error_string)
		quit(1)
		return
	var listing = parsed.result
	var named = 0
	var paths = {}
	# The exported node is the scene's root, under base: a path names a node below base from its parent on.
	var above = str(listing["nodes"][0]["path"]).get_base_dir() + "/"
	for entry in listing["nodes"]:
		var path = str(entry["path"]) if entry.has("path") else paths[str(int(entry["parent"]))] + "/" + str(entry["name"])
		paths[str(int(entry["id"]))] = path
		var node = base.get_node_or_null(path.trim_prefix(above))
		if node != null:
			node.set_meta("grove_id", int(entry["id"]))
			named += 1
	f.open(GroveEnv.env("GROVE_OUT", "user://grove.txt"), File.WRITE)
	TreeDump.dump_node(top, base, f)
	f.close()
	print("GROVE-DUMP-DONE %d" % named)
	quit(0)
