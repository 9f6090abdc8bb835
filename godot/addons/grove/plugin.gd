tool
extends EditorPlugin

# A custom type rather than a class_name, so that GroveClient is in the Add Node dialog only while the
# addon is enabled, and a project that copies the addon without enabling it gets no global name.


func _enter_tree() -> void:
	add_custom_type("GroveClient", "Node", preload("grove_client.gd"), null)


func _exit_tree() -> void:
	remove_custom_type("GroveClient")
