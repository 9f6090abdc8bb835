extends SceneTree
# Loads and instances each scene named in GROVE_DUMP (space-separated res:// paths) and prints, after a
# line "S<TAB>path", one line per node in tree order: its path from the scene's root, class, metadata (keys
# sorted, values and types), text, position, wait_time, animations, tile data, polygon and colour, script
# and its exported values, persistent groups (sorted) and the connections of three signals (sorted). Values print with var2str, so embedded
# resources print with every property.


func text(value):
	return var2str(value).replace("\n", "\\n")


func dump(node, root):
	var line = str(root.get_path_to(node)) + " <" + node.get_class() + ">"
	var keys = []
	for key in node.get_meta_list():
		keys.append(key)
	keys.sort()
	for key in keys:
		line += " meta[" + key + "]=" + text(node.get_meta(key)) + "(" + str(typeof(node.get_meta(key))) + ")"
	if node is Label:
		line += " text=" + text(node.text)
	if node is Node2D:
		line += " position=" + text(node.position)
	if node is Timer:
		line += " wait_time=" + text(node.wait_time)
	if node is AnimationPlayer:
		for animation_name in node.get_animation_list():
			line += " animation[" + animation_name + "]=" + text(node.get_animation(animation_name))
	if node is TileMap:
		line += " tile_data=" + text(node.get("tile_data"))
	if node is Polygon2D:
		line += " polygon=" + text(node.polygon) + " color=" + text(node.color)
	if node.get_script() != null:
		line += " script=" + node.get_script().resource_path + " hp=" + text(node.get("hp")) + " items=" + text(node.get("items"))
	var groups = []
	for group in node.get_groups():
		groups.append(group)
	groups.sort()
	line += " groups=" + text(groups)
	var connections = []
	for signal_name in ["tree_entered", "renamed", "ready"]:
		for c in node.get_signal_connection_list(signal_name):
			connections.append(signal_name + ">" + str(root.get_path_to(c.target)) + "." + c.method + text(c.binds) + str(c.flags))
	connections.sort()
	line += " connections=" + text(connections)
	print(line)
	for child in node.get_children():
		dump(child, root)


func _init():
	for path in OS.get_environment("GROVE_DUMP").split(" ", false):
		print("S\t" + path)
		var packed = ResourceLoader.load(path, "", true)
		if packed == null:
			print("LOAD-FAILED")
			continue
		var root = packed.instance()
		dump(root, root)
		root.free()
	print("GROVE-DONE")
	quit()
