#include "seeds.h"

const char *const fuzz_seed_values[] = {
	"null", "true", "-42", "1099511627776", "1.5", "0.1", "-inf", "nan", "\"t\\\"e\\nxt\"", "&\"name\"",
	"NodePath(\"../a/b:c:d\")", "Vector2(1, -2)", "Vector2i(3, 4)", "Rect2(0, 0, 1, 1)", "Rect2i(1, 2, 3, 4)",
	"Vector3(0.1, 0.2, 0.3)", "Vector3i(1, 2, 3)", "Transform2D(1, 0, 0, 1, 5, 6)", "Vector4(1, 2, 3, 4)",
	"Vector4i(1, 2, 3, 4)", "Plane(0, 1, 0, 2)", "Quaternion(0, 0, 0, 1)", "AABB(0, 0, 0, 1, 1, 1)",
	"Basis(1, 0, 0, 0, 1, 0, 0, 0, 1)", "Transform3D(1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 8, 9)",
	"Projection(1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1)", "Color(1, 0.5, 0, 1)",
	"[1, \"x\", [2, [3]], {}]", "Array[int]([1, 2])", "Array[PackedScene]([])", "{\"k\": true, 3: [null]}",
	"Dictionary[String, int]({\"a\": 1})", "PackedByteArray(1, 2, 3)", "PackedByteArray(\"AAH/\")",
	"PackedInt32Array(-1, 2)", "PackedInt64Array(1099511627776)", "PackedFloat32Array(0.5)",
	"PackedFloat64Array(0.1)", "PackedStringArray(\"a\", \"\")", "PackedVector2Array(1, 2)",
	"PackedVector3Array(1, 2, 3)", "PackedColorArray(0, 0, 0, 1)", "PackedVector4Array(1, 2, 3, 4)",
	"Transform( 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 )", "PoolRealArray( 0.5 )",
};
const size_t fuzz_seed_value_count = sizeof(fuzz_seed_values) / sizeof(fuzz_seed_values[0]);
