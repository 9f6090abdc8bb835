extends Node
# The script that make_scenes.gd gives some nodes: exported values are saved with the scene.
export var hp = 3
export(Array) var items = []
