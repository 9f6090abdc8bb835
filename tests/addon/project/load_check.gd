# Loads (compiles) every script of the addon and of the end-to-end test, which is all that can be asked
# of them without a server, and makes a GroveClient: a parse error would otherwise be found only by the
# first game that enables the addon.
extends SceneTree


func scripts(dir_path: String) -> Array:
	var found = []
	var dir = Directory.new()
	if dir.open(dir_path) != OK:
		return found
	dir.list_dir_begin(true, true)
	var entry = dir.get_next()
	while entry != "":
		if entry.ends_with(".gd"):
			found.append(dir_path + "/" + entry)
		entry = dir.get_next()
	dir.list_dir_end()
	found.sort()
	return found


func _init() -> void:
	for path in scripts("res://addons/grove") + scripts("res://e2e"):
		var script = load(path)
		if script is GDScript and script.can_instance():
			print("LOADED " + path)
		else:
			print("FAILED " + path)
	var client = load("res://addons/grove/grove_client.gd").new()
	client.autostart = false
	root.add_child(client)
	if client.applied_index() == 0 and client.submit([]).length() > 0 and client.pending_submits().size() == 1:
		print("CLIENT-MADE")
	client.free()
	print("GROVE-DONE")
	quit(0)
