# One line per fact of a tree, in a stable order, so that two trees compare as text: the client's test
# compares its dump with what it expects, and the integration test compares followers with each other.
extends Reference


static func describe(value) -> String:
	if typeof(value) == TYPE_OBJECT and value != null:
		# An embedded resource is told by what it holds: the copies compared came from different files.
		if value is Resource and (value.resource_path == "" or "::" in value.resource_path):
			var held = ""
			for info in value.get_property_list():
				if info.usage & PROPERTY_USAGE_STORAGE and info.name != "resource_path":
					held += " %s=%s" % [info.name, describe(value.get(info.name))]
			return "<%s%s>" % [value.get_class(), held]
		if value is Resource:
			return "<%s %s>" % [value.get_class(), value.resource_path]
		return "<%s>" % value.get_class()
	# Inside a container, var2str writes a resource out whole, its path left out.
	return var2str(value).replace("\n", " ")


# Paths are relative to base; a property is listed when it differs from a fresh node of its class, as a
# scene stores it.
static func dump_node(top: Node, base: Node, f: File) -> void:
	var stack = [top]
	while not stack.empty():
		var node = stack.pop_back()
		var id = "-"
		if node.has_meta("grove_id"):
			id = str(node.get_meta("grove_id"))
		var owner_path = "-"
		if node.owner != null:
			owner_path = str(base.get_path_to(node.owner))
		f.store_line("N %s %s id=%s owner=%s" % [str(base.get_path_to(node)), node.get_class(), id, owner_path])
		var keys = []
		for key in node.get_meta_list():
			if key != "grove_id":
				keys.append(key)
		keys.sort()
		for key in keys:
			f.store_line("M %s = %s" % [key, describe(node.get_meta(key))])
		var fresh = ClassDB.instance(node.get_class())
		for info in node.get_property_list():
			if info.usage & PROPERTY_USAGE_STORAGE and info.name != "__meta__":
				var value = describe(node.get(info.name))
				if value != describe(fresh.get(info.name)):
					f.store_line("P %s = %s" % [info.name, value])
		fresh.free()
		var groups = []
		for group in node.get_groups():
			# Godot's own groups: a counter names the canvas a top-level CanvasItem draws on.
			if not str(group).begins_with("_") and not str(group).begins_with("root_canvas"):
				groups.append(str(group))
		groups.sort()
		for group in groups:
			f.store_line("G %s" % group)
		for sig in node.get_signal_list():
			for c in node.get_signal_connection_list(sig.name):
				# A scene's connections are persistent; Godot's own (a Label's resize) are not.
				if c.flags & Object.CONNECT_PERSIST and c.target is Node and base.is_a_parent_of(c.target):
					var binds = " binds=" + describe(c.binds) if not c.binds.empty() else ""
					f.store_line("C %s -> %s.%s%s" % [sig.name, str(base.get_path_to(c.target)), c.method, binds])
		var children = node.get_children()
		children.invert()
		stack += children


# The nodes of the tree below @p top that carry a grove_id: id -> path from top.
static func ids_in(top: Node) -> Dictionary:
	var found = {}
	var stack = [top]
	while not stack.empty():
		var node = stack.pop_back()
		if node.has_meta("grove_id"):
			found[int(node.get_meta("grove_id"))] = str(top.get_path_to(node))
		for child in node.get_children():
			stack.append(child)
	return found


# Dictionary.hash() depends on the order of the keys.
static func same_map(a: Dictionary, b: Dictionary) -> bool:
	if a.size() != b.size():
		return false
	for key in a:
		if not b.has(key) or b[key] != a[key]:
			return false
	return true
