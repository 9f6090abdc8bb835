#include "seeds.h"

#include "src/tree/variant.h"

const char *const fuzz_seed_values[] = {
	"null", "true", "-42", "1099511627776", "1.5", "0.1", "-inf", "nan", "\"t\\\"e\\nxt\"", "&\"name\"",
	"NodePath(\"../a/b:c:d\")", "Vector2(1, -2)", "Vector2i(3, 4)", "Rect2(0, 0, 1, 1)", "Rect2i(1, 2, 3, 4)",
	"Vector3(0.1, 0.2, 0.3)", "Vector3i(1, 2, 3)", "Transform2D(1, 0, 0, 1, 5, 6)", "Vector4(1, 2, 3, 4)",
	"Vector4i(1, 2, 3, 4)", "Plane(0, 1, 0, 2)", "Quaternion(0, 0, 0, 1)", "AABB(0, 0, 0, 1, 1, 1)",
	"Basis(1, 0, 0, 0, 1, 0, 0, 0, 1)", "Transform3D(1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 8, 9)",
	"Projection(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)", "Color(1, 0.5, 0, 1)",
	"[1, \"x\", [2, [3]], {}]", "Array[int]([1, 2])", "Array[PackedScene]([])", "{\"k\": true, 3: [null]}",
	"Callable()", "Signal()", "[Callable(), {\"s\": Signal()}]",
	"Dictionary[String, int]({\"a\": 1})", "PackedByteArray(1, 2, 3)", "PackedByteArray(\"AAH/\")",
	"PackedInt32Array(-1, 2)", "PackedInt64Array(1099511627776)", "PackedFloat32Array(0.5)",
	"PackedFloat64Array(0.1)", "PackedStringArray(\"a\", \"\")", "PackedVector2Array(1, 2)",
	"PackedVector3Array(1, 2, 3)", "PackedColorArray(0, 0, 0, 1)", "PackedVector4Array(1, 2, 3, 4)",
	"Transform( 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 )", "PoolRealArray( 0.5 )",
};
const size_t fuzz_seed_value_count = sizeof(fuzz_seed_values) / sizeof(fuzz_seed_values[0]);

size_t fuzz_seed_batch(struct tree_op *ops, struct variant *values)
{
	for (size_t i = 0; i < FUZZ_SEED_OPS; i++) {
		variant_set_nil(&values[i]);
		ops[i] = (struct tree_op){.index = -1};
	}
	const double position[2] = {1.5, -2};
	variant_set_reals(&values[1], VARIANT_VECTOR2, position, 2);
	variant_set_string(&values[2], VARIANT_STRING, "hello", 5);
	variant_set_int(&values[3], 42);
	variant_set_array(&values[9]);
	variant_set_dict(&values[10]);
	struct variant key, value;
	variant_set_string(&key, VARIANT_STRING, "radius", 6);
	variant_set_float(&value, 0.5);
	variant_dict_put(&values[10], &key, &value);
	struct tree_ref root = {.path = "/root"}, first = {.id = -1}, second = {.id = -5};
	size_t n = 0;
	ops[n++] = (struct tree_op){.kind = TREE_OP_CREATE, .node = root, .name = "World", .text = "Node2D", .index = -1};
	ops[n++] = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = first, .name = "position", .value = &values[1]};
	ops[n++] = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = first, .name = "editor_description", .value = &values[2]};
	ops[n++] = (struct tree_op){.kind = TREE_OP_SET_PROP, .node = first, .name = "z_index", .value = &values[3]};
	ops[n++] = (struct tree_op){.kind = TREE_OP_CREATE, .node = first, .name = "Player", .text = "Sprite2D",
				    .instance = "res://player.tscn", .index = 0};
	ops[n++] = (struct tree_op){.kind = TREE_OP_ADD_GROUP, .node = second, .name = "players"};
	ops[n++] = (struct tree_op){.kind = TREE_OP_RENAME, .node = second, .name = "Hero"};
	ops[n++] = (struct tree_op){.kind = TREE_OP_CLEAR_PROP, .node = first, .name = "z_index"};
	ops[n++] = (struct tree_op){.kind = TREE_OP_REORDER, .node = second, .index = 0};
	ops[n++] = (struct tree_op){.kind = TREE_OP_CONNECT, .node = second, .target = first, .name = "ready",
				    .text = "_on_ready", .flags = 1, .value = &values[9]};
	ops[n++] = (struct tree_op){.kind = TREE_OP_PUT_RESOURCE, .node = first, .name = "Shape_1", .text = "CircleShape2D",
				    .resource_kind = TREE_RESOURCE_SUB, .value = &values[10]};
	ops[n++] = (struct tree_op){.kind = TREE_OP_MOVE, .node = second, .target = root, .index = -1};
	return n;
}

void fuzz_seed_batch_free(struct variant *values)
{
	for (size_t i = 0; i < FUZZ_SEED_OPS; i++)
		variant_free(&values[i]);
}
