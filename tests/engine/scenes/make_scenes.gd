extends SceneTree
# Makes random scenes with the engine itself and saves them as Godot does: res://gen_<seed>.tscn for
# GROVE_SCENE_COUNT seeds from GROVE_FIRST_SEED on. Each is a tree of built-in nodes with names, strings
# and metadata keys full of characters that need quoting or escaping, metadata of every Variant type
# Godot 3 has (containers nested, floats at their extremes), embedded resources (one shared by several
# nodes, some nesting others), animations (value, method and bezier tracks), tile maps (cells far from
# the origin, flipped and transposed), polygons, a script with exported values, persistent groups, signal connections with
# binds and flags, and now and then an instance of the previous seed's scene with an overridden value.
# The same seed makes the same scene. GROVE_NO_ONE_SHOT (not empty) leaves the one-shot flag out.

var rng = RandomNumberGenerator.new()
var classes = ["Node", "Node2D", "Spatial", "Control", "Label", "Sprite", "Timer", "Position2D", "MeshInstance", "Button", "AnimationPlayer", "TileMap", "Polygon2D"]
var name_chars = ["a", "Z", "_", "-", " ", "%", "0", "9", "é", "ß", "中", "(", ")", "[", "]", "{", "'", "!", "+", "~", "#", "$", ",", ";", "=", "&", "*", "<", ">", "?", "|"]
var string_chars = ["a", "b", " ", "\"", "\\", "\n", "\t", "é", "中", "😀", "'", ";", "=", "[", "]", "{", "}", ":", "/", ",", "#", "&", "^", "@", "%", "\r", "\u0001"]


func random_string(most):
	var s = ""
	for i in range(rng.randi_range(0, most)):
		s += string_chars[rng.randi() % string_chars.size()]
	return s


func random_name():
	var s = ""
	for i in range(rng.randi_range(1, 6)):
		s += name_chars[rng.randi() % name_chars.size()]
	return s


func random_float():
	var kind = rng.randi() % 8
	if kind == 0:
		return 0.0
	if kind == 1:
		return -0.0
	if kind == 2:
		return 1e-30 * rng.randf()
	if kind == 3:
		return 1e30 * rng.randf()
	if kind == 4:
		return float(rng.randi_range(-100, 100))
	return rng.randf_range(-1000.0, 1000.0)


func random_int():
	var i = int(rng.randi()) - 2147483648
	return i if rng.randi() % 2 else i * 4294967296


func random_vector3():
	return Vector3(random_float(), random_float(), random_float())


func random_value(depth):
	match rng.randi() % (24 if depth < 3 else 22):
		0:
			return null
		1:
			return rng.randi() % 2 == 0
		2:
			return random_int()
		3:
			return random_float()
		4:
			return random_string(8)
		5:
			return Vector2(random_float(), random_float())
		6:
			return Rect2(random_float(), random_float(), random_float(), random_float())
		7:
			return random_vector3()
		8:
			return Transform2D(random_float(), Vector2(random_float(), random_float()))
		9:
			return Plane(random_float(), random_float(), random_float(), random_float())
		10:
			return Quat(random_float(), random_float(), random_float(), random_float())
		11:
			return AABB(random_vector3(), random_vector3())
		12:
			return Basis(random_vector3(), random_vector3(), random_vector3())
		13:
			return Transform(Basis(), random_vector3())
		14:
			return Color(rng.randf(), rng.randf(), rng.randf(), rng.randf())
		15:
			var path = ["", "A/B", "../x:y:z", "/root/a", ".", random_string(5)][rng.randi() % 6]
			# Godot's binary format loads "/" (absolute, no names) as the empty path, from its own files too.
			return NodePath("A" if path != "" and path.replace("/", "") == "" else path)
		16:
			return PoolByteArray([rng.randi() % 256, 0, 255])
		17:
			return PoolIntArray([int(rng.randi()) - 2147483648, 0])
		18:
			return PoolRealArray([random_float(), random_float()])
		19:
			return PoolStringArray([random_string(4), random_string(4)])
		20:
			return PoolVector2Array([Vector2(random_float(), random_float())])
		21:
			return PoolVector3Array([random_vector3()])
		22:
			var items = []
			for i in range(rng.randi_range(0, 3)):
				items.append(random_value(depth + 1))
			return items
		_:
			var entries = {}
			for i in range(rng.randi_range(0, 3)):
				var key = [random_string(4), rng.randi_range(-5, 5), Vector2(1, 2), null, true][rng.randi() % 5]
				entries[key] = random_value(depth + 1)
			return entries


func random_resource(depth):
	var kind = rng.randi() % 5
	if kind == 0:
		var gradient = Gradient.new()
		gradient.add_point(rng.randf(), Color(rng.randf(), rng.randf(), rng.randf(), rng.randf()))
		return gradient
	if kind == 1:
		var curve = Curve2D.new()
		for i in range(rng.randi_range(0, 3)):
			curve.add_point(Vector2(random_float(), random_float()), Vector2(random_float(), random_float()))
		return curve
	if kind == 2:
		var material = SpatialMaterial.new()
		material.albedo_color = Color(rng.randf(), rng.randf(), rng.randf(), 1)
		material.resource_name = random_string(5)
		if depth < 2 and rng.randi() % 2 == 0:
			material.next_pass = random_resource(depth + 1)
		return material
	if kind == 3:
		var shape = RectangleShape2D.new()
		shape.extents = Vector2(abs(random_float()), abs(random_float()))
		return shape
	var texture = GradientTexture.new()
	texture.gradient = random_resource(depth + 1) if depth < 2 else Gradient.new()
	texture.width = rng.randi_range(1, 64)
	return texture


# An animation with a value track, a method track and a bezier track, keys at random times.
func random_animation() -> Animation:
	var animation = Animation.new()
	animation.length = rng.randf_range(0.1, 10.0)
	animation.loop = rng.randi() % 2 == 0
	var track = animation.add_track(Animation.TYPE_VALUE)
	animation.track_set_path(track, NodePath(".:position"))
	for k in range(rng.randi_range(0, 4)):
		animation.track_insert_key(track, rng.randf_range(0.0, animation.length), Vector2(random_float(), random_float()), rng.randf_range(0.1, 2.0))
	track = animation.add_track(Animation.TYPE_METHOD)
	animation.track_set_path(track, NodePath("."))
	animation.track_insert_key(track, 0.0, {"method": "m_" + random_name(), "args": [random_value(1)]})
	track = animation.add_track(Animation.TYPE_BEZIER)
	animation.track_set_path(track, NodePath(".:modulate:a"))
	animation.bezier_track_insert_key(track, 0.5, random_float(), Vector2(-0.25, 0), Vector2(0.25, 0))
	return animation


func make_scene(seed_value):
	rng.seed = seed_value
	var root = Node2D.new()
	root.name = "Root"
	var nodes = [root]
	for i in range(rng.randi_range(3, 25)):
		var parent = nodes[rng.randi() % nodes.size()]
		var node = ClassDB.instance(classes[rng.randi() % classes.size()])
		parent.add_child(node)
		node.name = random_name()
		node.owner = root
		nodes.append(node)
	var previous = "res://gen_%d.tscn" % (seed_value - 1)
	if rng.randi() % 2 == 0 and ResourceLoader.exists(previous):
		var instance = ResourceLoader.load(previous).instance(PackedScene.GEN_EDIT_STATE_INSTANCE)
		nodes[rng.randi() % nodes.size()].add_child(instance)
		instance.name = "Inst" + random_name()
		instance.owner = root
		instance.set_meta("override", random_value(0))
	var script = load("res://scripted.gd")
	var shared = random_resource(0)
	for node in nodes:
		for k in range(rng.randi_range(0, 3)):
			node.set_meta(random_name(), random_value(0))
		if rng.randi() % 4 == 0 and node != root:
			node.set_script(script)
			node.set("hp", random_value(0))
			if rng.randi() % 2 == 0:
				node.set("items", [random_value(1), random_value(1)])
		if rng.randi() % 3 == 0:
			node.set_meta("res" + random_name(), shared if rng.randi() % 2 == 0 else random_resource(0))
		if node is Label:
			node.text = random_string(10)
		if node is Node2D:
			node.position = Vector2(random_float(), random_float())
		if node is Timer:
			node.wait_time = abs(random_float()) + 0.001
		if node is AnimationPlayer:
			# Godot 3.2 writes an animation's property name ("anims/NAME") bare, and its loader takes a ';'
			# in it for a comment (as grove does): such a name does not survive Godot's own save and load.
			node.add_animation(random_name().replace(";", "_"), random_animation())
		if node is TileMap:
			for k in range(rng.randi_range(0, 6)):
				node.set_cell(rng.randi_range(-70000, 70000), rng.randi_range(-5, 5), rng.randi_range(0, 3), rng.randi() % 2 == 0, rng.randi() % 2 == 0, rng.randi() % 2 == 0)
		if node is Polygon2D:
			node.polygon = PoolVector2Array([Vector2(random_float(), 0), Vector2(1, random_float()), Vector2(-1, 2)])
			node.color = Color(rng.randf(), rng.randf(), rng.randf(), rng.randf())
		if rng.randi() % 3 == 0:
			node.add_to_group(random_name(), true)
	for k in range(rng.randi_range(0, 4)):
		var from = nodes[rng.randi() % nodes.size()]
		var to = nodes[rng.randi() % nodes.size()]
		var binds = []
		for j in range(rng.randi_range(0, 2)):
			binds.append(random_value(1))
		var flags = [CONNECT_PERSIST, CONNECT_PERSIST | CONNECT_DEFERRED, CONNECT_PERSIST | CONNECT_ONESHOT, CONNECT_PERSIST | CONNECT_REFERENCE_COUNTED][rng.randi() % 4]
		# A one-shot connection of a signal that entering the tree emits is gone once it did: copies of a scene
		# that entered their trees differently (a live follower's) would not compare.
		if OS.get_environment("GROVE_NO_ONE_SHOT") != "":
			flags &= ~CONNECT_ONESHOT
		from.connect(["tree_entered", "renamed", "ready"][rng.randi() % 3], to, "m_" + str(k), binds, flags)
	var packed = PackedScene.new()
	var err = packed.pack(root)
	if err == OK:
		err = ResourceSaver.save("res://gen_%d.tscn" % seed_value, packed)
	print("MADE\t%d\t%d" % [seed_value, err])
	root.free()


func _init():
	var first = int(OS.get_environment("GROVE_FIRST_SEED"))
	for s in range(first, first + int(OS.get_environment("GROVE_SCENE_COUNT"))):
		make_scene(s)
	print("GROVE-DONE")
	quit()
