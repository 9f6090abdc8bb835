# The local copy of the subscribed subtree: the instanced snapshot and the map from grove's node ids to
# the Nodes that stand for them. It knows nothing of the network, so that the client and the tests feed
# it the same change dictionaries (godot/gateway.h lists them).
extends RefCounted

# Grove keeps what a scene says about a node beyond its properties (the instanced scene, unique ids, the
# index in the file) in entries named "@..." next to the properties: bookkeeping of the store that no
# Godot node has as a property.
const STORE_ENTRY_PREFIX = "@"

var root = null
var nodes = {}
var resources = {}
var embedded = {}
# The embedded resources kept built, and the paths of the others kept by id, each: the oldest half goes past
# it (a change that names one of those again leaves its value as it was, with a warning), so a
# long-followed world does not grow the maps without end.
var embedded_max = 4096
var _defaults = {}
var _unresolved = false
# Sets of a property that holds a Node, to the path of one: [node, property, NodePath], made by finish_entry().
var _node_paths = []
# The nodes of a snapshot whose ids came beside it that were not looked up yet (mount_named()): their ids
# ascending, the entry of each one's parent (-1 for the root; TAKEN once looked up) and their names.
const TAKEN = -2
var _unseen_ids = []
var _unseen_parents = []
var _unseen_names = PackedStringArray()
var _unseen = 0


# Godot builds a PackedScene only from a resource file, hence the detour through user://.
func load_snapshot(data: PackedByteArray, file: String) -> Node:
	if _write_file(file, data) != OK:
		return null
	return load_scene(file)


# Uncached, because the next snapshot or checkpoint goes to the same path and must not be served the old
# one.
func load_scene(file: String) -> Node:
	var scene = ResourceLoader.load(file, "", ResourceLoader.CACHE_MODE_IGNORE)
	if not (scene is PackedScene):
		return null
	return scene.instantiate()


func _write_file(file: String, data: PackedByteArray) -> int:
	var f = FileAccess.open(file, FileAccess.WRITE)
	var opened = f != null
	if not opened:
		return ERR_CANT_CREATE
	f.store_buffer(data)
	f.close()
	return OK


# The old tree goes only once the new one is ready, so that a game keeps showing the world it had while
# a new snapshot is on its way.
func mount(scene_root: Node, parent: Node) -> void:
	drop()
	root = scene_root
	parent.add_child(scene_root)
	_register(scene_root)


# A snapshot whose ids came beside it (godot/gateway.h): in the tree at once, with only its root mapped;
# every other node is found by name the first time something needs it (node_for()). Walking the whole
# scene for its ids as it arrived took a 100,000-node snapshot longer than adding it to the tree.
func mount_named(scene_root: Node, parent: Node, root_id: int, parts: Array) -> void:
	adopt(scene_root, parent, root_id)
	keep_names(parts, root_id)


# The scene carries no ids: its root's came with the snapshot's last chunk.
func adopt(scene_root: Node, parent: Node, root_id: int) -> void:
	drop()
	root = scene_root
	parent.add_child(scene_root)
	scene_root.set_meta("grove_id", root_id)
	nodes[root_id] = scene_root


# Each part is one snapshot_ids message's [node_ids, parents, names]. A parent is an entry of the lists
# joined, in the order they came; joined here, once the scene is there, rather than as each message comes.
func keep_names(parts: Array, root_id: int) -> void:
	var ids = []
	var parents = PackedInt32Array()
	var names = PackedStringArray()
	for part in parts:
		ids += part[0]
		parents.append_array(part[1])
		names.append_array(part[2])
	_unseen_ids = ids
	# An Array rather than a pool one, for find(): Godot 3's pool arrays have none.
	_unseen_parents = Array(parents)
	_unseen_names = names
	_unseen = ids.size()
	var at = _entry(root_id)
	if at >= 0:
		_take(at)


func drop() -> void:
	if is_instance_valid(root):
		if root.get_parent() != null:
			root.get_parent().remove_child(root)
		root.free()
	root = null
	nodes = {}
	_forget_names()


func _forget_names() -> void:
	_unseen_ids = []
	_unseen_parents = []
	_unseen_names = PackedStringArray()
	_unseen = 0


func node_for(id: int) -> Node:
	var node = nodes.get(id)
	if is_instance_valid(node):
		return node
	var at = _entry(id)
	if at < 0 or _unseen_parents[at] == TAKEN:
		return null
	return _look_up(at)


# For what needs every node's id (id_map(), a checkpoint, which must carry each node's grove_id). A node
# whose parent is found already, as most are by then, is looked up here: one call of _look_up() each took
# half as long again. Godot 3 finds a child by name by going through its siblings, which made the 20,000
# children of one parent take 0.6 s: those of a wide parent are indexed once (a narrow one is searched faster
# by the engine than indexed in GDScript).
func look_up_all() -> void:
	var wide = {}
	for k in range(_unseen_ids.size()):
		if _unseen == 0:
			break
		var up = _unseen_parents[k]
		if up == TAKEN:
			continue
		var above = nodes.get(_unseen_ids[up]) if up >= 0 and up < _unseen_ids.size() else null
		if not is_instance_valid(above):
			_look_up(k)
			continue
		if above.get_child_count() > 1000:
			if not wide.has(above):
				wide[above] = _children_by_name(above)
			_settle(k, wide[above].get(_unseen_names[k]))
		else:
			_settle(k, _child_named(above, _unseen_names[k]))
	_forget_names()


func _children_by_name(parent: Node) -> Dictionary:
	var by_name = {}
	for child in parent.get_children():
		by_name[str(child.name)] = child
	return by_name


# Godot 4 reads a path that starts with "%" as a scene-unique name, and grove keeps such names as Godot's
# scene loader does: a child so named is looked for among the children.
func _child_named(parent: Node, node_name: String) -> Node:
	if not node_name.begins_with("%"):
		return parent.get_node_or_null(NodePath(node_name))
	for child in parent.get_children():
		if str(child.name) == node_name:
			return child
	return null


# The ids are sorted: Array.bsearch finds one in engine code.
func _entry(id: int) -> int:
	var at = _unseen_ids.bsearch(id)
	if at < _unseen_ids.size() and _unseen_ids[at] == id:
		return at
	return -1


# Down from the nearest ancestor already found, by name, each node of the way (_settle()). Below an
# ancestor that is gone nothing is found. Up by a loop, not recursion: a chain of parents may be thousands
# deep.
func _look_up(at: int) -> Node:
	var chain = [at]
	var above = null
	while above == null:
		var up = _unseen_parents[chain.back()]
		if up < 0 or up >= _unseen_ids.size() or chain.size() > _unseen_ids.size():
			break
		var node = nodes.get(_unseen_ids[up])
		if is_instance_valid(node):
			above = node
		elif _unseen_parents[up] == TAKEN:
			break
		else:
			chain.append(up)
	for i in range(chain.size() - 1, -1, -1):
		var k = chain[i]
		above = _settle(k, _child_named(above, _unseen_names[k]) if above != null else null)
	if _unseen == 0:
		_forget_names()
	return above


# Entry k stands for @p found if the scene owns it (not a child that its class made for itself, as a
# SpinBox's LineEdit). Taken once, found or not: a node that came later under a name the snapshot's held
# (once that one was removed) is never taken for it.
func _settle(k: int, found) -> Node:
	if found != null and found.owner == null:
		found = null
	if found != null:
		found.set_meta("grove_id", _unseen_ids[k])
		nodes[_unseen_ids[k]] = found
	_take(k)
	return found


func _take(k: int) -> void:
	_unseen_parents[k] = TAKEN
	_unseen -= 1


# The snapshot's node of that name under that parent, looked up if it was not yet: it has no grove_id
# until then, and must not be taken over for another.
func _look_up_child(parent_id: int, node_name: String) -> void:
	var above = _entry(parent_id)
	if above < 0:
		return
	var k = _unseen_parents.find(above)
	while k >= 0:
		if _unseen_names[k] == node_name:
			_look_up(k)
			return
		k = _unseen_parents.find(above, k + 1)


# A change that names a node this copy lacks is skipped with a warning: grove validated it against its
# own tree, so the copy has drifted (a node freed by game code) and only that node's part is lost.
func apply(change: Dictionary) -> void:
	var op = str(change.get("op", ""))
	if op == "create":
		_create(change)
		return
	if op == "resource":
		resources[int(change.get("id", 0))] = str(change.get("path", ""))
		_bound(resources)
		if typeof(change.get("properties")) == TYPE_DICTIONARY:
			_embed(int(change.get("id", 0)), str(change.get("type", "")), change.get("properties"))
		return
	var node = node_for(int(change.get("id", 0)))
	if node == null:
		push_warning("grove: %s of node %s, which this copy does not have" % [op, str(change.get("id"))])
		return
	match op:
		"remove":
			_remove(node)
		"set":
			_set_property(node, str(change.get("property", "")), change.get("value"))
		"clear":
			_clear_property(node, str(change.get("property", "")))
		"rename":
			node.name = str(change.get("name", ""))
		"move":
			_move(node, change)
		"reorder":
			_place(node, int(change.get("index", -1)))
		"group_add":
			node.add_to_group(str(change.get("group", "")), true)
		"group_remove":
			if node.is_in_group(str(change.get("group", ""))):
				node.remove_from_group(str(change.get("group", "")))
		"connect", "disconnect":
			_connection(node, change, op == "connect")
		_:
			push_warning("grove: unknown change %s" % op)


func _create(change: Dictionary) -> void:
	var id = int(change.get("id", 0))
	var parent = node_for(int(change.get("parent", 0)))
	if parent == null:
		push_warning("grove: node %d made under node %s, which this copy does not have" % [id, str(change.get("parent"))])
		return
	var node_name = str(change.get("name", ""))
	var node = null
	if node_name != "":
		node = _child_named(parent, node_name)
	# A child that an instanced scene made is there already, without an id: grove names it when it first
	# stores something about it, and the copy takes it over instead of adding a twin beside it. A snapshot
	# node not looked up yet has no id either, and is not such a child.
	if node != null and not node.has_meta("grove_id"):
		_look_up_child(int(change.get("parent", 0)), node_name)
	if node == null or node.has_meta("grove_id"):
		node = _named(_make(str(change.get("class", "Node")), str(change.get("instance", ""))), node_name)
		parent.add_child(node)
		node.owner = root
		_place(node, int(change.get("index", -1)))
	node.set_meta("grove_id", id)
	nodes[id] = node


# Godot's name setter drops characters that its scene loader keeps and grove stores ("Cube.001", "@@4"): a
# node so named is loaded from a scene of its own, its name put into the packed bundle, as a snapshot would.
func _named(node: Node, node_name: String) -> Node:
	node.name = node_name
	if node_name == "" or str(node.name) == node_name:
		return node
	var placeholder = "GroveNamePlaceholder"
	node.name = placeholder
	var scene = PackedScene.new()
	if scene.pack(node) != OK:
		return node
	var bundle = scene._bundled
	var names: PackedStringArray = bundle["names"]
	var at = Array(names).find(placeholder)
	if at < 0:
		return node
	names[at] = node_name
	bundle["names"] = names
	scene._bundled = bundle
	var named = scene.instantiate()
	node.free()
	return named


func _make(cls: String, scene_path: String) -> Node:
	if scene_path != "":
		var scene = null
		if ResourceLoader.exists(scene_path):
			scene = load(scene_path)
		if scene is PackedScene:
			return scene.instantiate()
		push_warning("grove: cannot load the instanced scene %s; a %s stands in for it" % [scene_path, cls])
	if ClassDB.class_exists(cls) and ClassDB.can_instantiate(cls) and ClassDB.is_parent_class(cls, "Node"):
		return ClassDB.instantiate(cls)
	push_warning("grove: this Godot has no node class %s; a Node stands in for it" % cls)
	return Node.new()


# Freed at once rather than queued, so that a later change of the same entry may reuse the name.
func _remove(node: Node) -> void:
	_forget(node)
	if node == root:
		root = null
	if node.get_parent() != null:
		node.get_parent().remove_child(node)
	node.free()


func _move(node: Node, change: Dictionary) -> void:
	var parent = node_for(int(change.get("parent", 0)))
	if parent == null:
		push_warning("grove: node %s moved under node %s, which this copy does not have" % [str(change.get("id")), str(change.get("parent"))])
		return
	if node.get_parent() != parent:
		node.get_parent().remove_child(node)
		parent.add_child(node)
		_own(node)
	_place(node, int(change.get("index", -1)))


func _place(node: Node, index: int) -> void:
	var parent = node.get_parent()
	var last = parent.get_child_count() - 1
	if index < 0 or index > last:
		index = last
	parent.move_child(node, index)


# Leaving its parent clears the owner of every node the root owned (Godot keeps an owner only while it
# is an ancestor); giving it back keeps the live tree packable like the snapshot it came from.
func _own(top: Node) -> void:
	var stack = [top]
	while not stack.is_empty():
		var node = stack.pop_back()
		if node.owner == null and node != root:
			node.owner = root
		for child in node.get_children():
			stack.append(child)


# Children are appended one by one: `stack += children` copies the whole stack at every node, which made
# the id map of a 100,000-node snapshot take longer than adding the tree.
func _register(top: Node) -> void:
	var stack = [top]
	while not stack.is_empty():
		var node = stack.pop_back()
		if node.has_meta("grove_id"):
			nodes[int(node.get_meta("grove_id"))] = node
		for child in node.get_children():
			stack.append(child)


func _forget(top: Node) -> void:
	var stack = [top]
	while not stack.is_empty():
		var node = stack.pop_back()
		if node.has_meta("grove_id") and nodes.get(int(node.get_meta("grove_id"))) == node:
			nodes.erase(int(node.get_meta("grove_id")))
		for child in node.get_children():
			stack.append(child)


func _set_property(node: Node, property: String, value) -> void:
	if property.begins_with(STORE_ENTRY_PREFIX):
		return
	_unresolved = false
	var resolved = _resolve(value)
	if _unresolved:
		push_warning("grove: %s of %s refers to a resource this copy was not sent (embedded in its snapshot) or a file it lacks; left as it is" % [property, str(node.get_path())])
		return
	if (typeof(resolved) == TYPE_NODE_PATH and _holds_object(node, property)) or (typeof(resolved) == TYPE_ARRAY and _holds_objects(node.get(property))):
		_node_paths.append([node, property, resolved])
		return
	if typeof(resolved) == TYPE_ARRAY or typeof(resolved) == TYPE_DICTIONARY:
		resolved = _typed_like(node.get(property), resolved)
	var id = node.get_meta("grove_id") if node.has_meta("grove_id") else null
	node.set(property, resolved)
	_keep_id(node, id)


# Godot 4 types arrays (and, from 4.4, dictionaries), and a script's typed container takes no plain one
# (set() fails silently): the value gets the type of the container it replaces, as Godot's loader
# converts it. Godot 3's containers have no type.
func _typed_like(current, value):
	if typeof(value) == TYPE_DICTIONARY:
		return _dictionary_like(current, value) if _typed_dictionary(current) else value
	return value if typeof(current) != TYPE_ARRAY or not current.is_typed() else Array(value, current.get_typed_builtin(), current.get_typed_class_name(), current.get_typed_script())


# Dictionaries are typed from Godot 4.4 on; is_typed() is not called on older ones, which lack it.
func _typed_dictionary(current) -> bool:
	return typeof(current) == TYPE_DICTIONARY and Engine.get_version_info()["minor"] >= 4 and current.is_typed()


# An empty copy of the Dictionary replaced has its type, and takes the value's entries.
func _dictionary_like(current: Dictionary, value: Dictionary) -> Dictionary:
	var typed = current.duplicate()
	typed.clear()
	for key in value:
		typed[key] = value[key]
	return typed


# A property that holds a Node (a typed script variable, an exported Node of Godot 4) is stored as the
# path to the node, as a scene stores it, and set() refuses a path there without a word: the node is
# looked up once the whole entry is applied, as Godot's loader does once the scene is built, since the
# entry may make it after the set.
func _holds_object(node: Node, property: String) -> bool:
	for info in node.get_property_list():
		if info["name"] == property:
			return info["type"] == TYPE_OBJECT
	return false


# An Array of Nodes (Godot 4's typed ones) holds paths likewise.
func _holds_objects(current) -> bool:
	return typeof(current) == TYPE_ARRAY and current.is_typed() and current.get_typed_builtin() == TYPE_OBJECT


# The end of an entry: the Node properties it set get their nodes.
func finish_entry() -> void:
	for pending in _node_paths:
		var node = pending[0]
		if is_instance_valid(node):
			node.set(pending[1], _nodes_at(node, pending[1], pending[2]))
	_node_paths = []


func _nodes_at(node: Node, property: String, value):
	if typeof(value) != TYPE_ARRAY:
		return node.get_node_or_null(value)
	var found = []
	for path in value:
		found.append(node.get_node_or_null(path) if typeof(path) == TYPE_NODE_PATH else path)
	return _typed_like(node.get(property), found)


# Resources travel as references ({"@resource": id, "path": ...}), never as objects: a file is loaded
# from the project; an embedded one (no path) is the one built from its properties when the stream
# brought it (one that came in the snapshot is in the scene, but no id names it). A container is copied
# with duplicate(), which keeps the type a Godot 4 container came with; a Dictionary's keys are resolved
# too, since a resource can be one.
func _resolve(value):
	if typeof(value) == TYPE_DICTIONARY:
		if value.has("@resource"):
			return _load_resource(value)
		var table = value.duplicate()
		table.clear()
		for key in value:
			table[_resolve(key)] = _resolve(value[key])
		return table
	if typeof(value) == TYPE_ARRAY:
		var list = value.duplicate()
		for i in range(list.size()):
			list[i] = _resolve(list[i])
		return list
	return value


# An embedded resource comes with its properties and is built here from its class, never decoded as an
# object; only an engine Resource that runs no code (not a Script, no script set) is built, and it claims
# no path (a resource_path would take a file's place in the resource cache).
func _embed(id: int, type: String, properties: Dictionary) -> void:
	if not ClassDB.class_exists(type) or not ClassDB.is_parent_class(type, "Resource") or ClassDB.is_parent_class(type, "Script") or not ClassDB.can_instantiate(type):
		push_warning("grove: embedded resource %d is a %s, which is not built" % [id, type])
		return
	var resource = ClassDB.instantiate(type)
	for property in properties:
		if str(property) == "script" or str(property) == "resource_path":
			continue
		_unresolved = false
		var value = _resolve(properties[property])
		if not _unresolved:
			resource.set(str(property), value)
	embedded[id] = resource
	_bound(embedded)


func _bound(table: Dictionary) -> void:
	if table.size() > embedded_max:
		var oldest = table.keys()
		for i in range(oldest.size() - embedded_max / 2):
			table.erase(oldest[i])


func _load_resource(ref: Dictionary):
	var path = str(ref.get("path", ""))
	if path == "" and embedded.has(int(ref.get("@resource", 0))):
		return embedded[int(ref.get("@resource", 0))]
	if path == "":
		path = str(resources.get(int(ref.get("@resource", 0)), ""))
	if path == "" or not ResourceLoader.exists(path):
		_unresolved = true
		return null
	return load(path)


func _clear_property(node: Node, property: String) -> void:
	if property.begins_with(STORE_ENTRY_PREFIX):
		return
	var id = node.get_meta("grove_id") if node.has_meta("grove_id") else null
	node.set(property, _default_value(node, property))
	_keep_id(node, id)


# Godot 3 keeps all of a node's metadata in one property, __meta__: setting or clearing it must not lose
# the node's grove id.
func _keep_id(node: Node, id) -> void:
	if id != null and not node.has_meta("grove_id"):
		node.set_meta("grove_id", id)


# A cleared property holds what a node of its class holds before anything is stored. Godot 3 has no call
# for a property's default, so a fresh instance of each class is asked once, for what a scene would store.
func _default_value(node: Node, property: String):
	var script = node.get_script()
	if script != null and script.get_property_default_value(property) != null:
		return script.get_property_default_value(property)
	var cls = node.get_class()
	if not _defaults.has(cls):
		var values = {}
		var fresh = ClassDB.instantiate(cls)
		if fresh != null:
			for info in fresh.get_property_list():
				if info.usage & PROPERTY_USAGE_STORAGE:
					values[info.name] = fresh.get(info.name)
			fresh.free()
		_defaults[cls] = values
	return _defaults[cls].get(property)


# A target this copy never had (or saw go) is outside what it follows, as a zone's node connected to the
# world's manager: the connection is left out, as a scene of the subtree leaves it out. Best effort otherwise:
# the target freed by game code or the signal missing (a script not loaded yet) leave it out with a warning
# rather than failing the whole entry.
func _connection(node: Node, change: Dictionary, on: bool) -> void:
	var target_id = int(change.get("target", 0))
	var target = node_for(target_id)
	if not nodes.has(target_id):
		return
	var sig = str(change.get("signal", ""))
	var method = str(change.get("method", ""))
	if target == null or not node.has_signal(sig):
		push_warning("grove: cannot %s %s of %s" % [str(change.get("op")), sig, str(node.get_path())])
		return
	# A scene's connections are persistent, whatever flags it names: Godot's instancing adds the flag too.
	# Above their low 16 bits the flags count the signal's arguments to drop (the unbinds of a Godot 4 scene),
	# which Godot 4 drops as its loader does; Godot 3 cannot, and connects as it loads that scene's export.
	var flags = int(change.get("flags", 0))
	if on and not node.is_connected(sig, Callable(target, method)):
		node.connect(sig, (Callable(target, method).unbind(flags >> 16) if flags >> 16 > 0 else Callable(target, method).bindv(_binds(change))), (flags & 0xFFFF) | CONNECT_PERSIST)
	elif not on and node.is_connected(sig, Callable(target, method)):
		node.disconnect(sig, Callable(target, method))


# A connection's binds, resources among them resolved as in a set's value.
func _binds(change: Dictionary) -> Array:
	var binds = _resolve(change.get("binds", []))
	return binds if typeof(binds) == TYPE_ARRAY else []
