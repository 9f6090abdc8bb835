/* Fuzz target: Godot's binary Variant decoder, both versions. What decodes must encode and decode back equal. */
#include <string.h>

#include "fuzz.h"
#include "godot/variant_binary.h"
#include "godot/variant_text.h"
#include "seeds.h"
#include "src/common/error.h"

int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i >= 2 * fuzz_seed_value_count)
		return 0;
	const char *text = fuzz_seed_values[i / 2];
	struct variant v;
	struct godot_text_error err;
	if (godot_text_parse(text, strlen(text), NULL, &v, &err) != GROVE_OK)
		grove_fuzz_fail("a seed does not parse");
	/* Even seeds in Godot 4 form; odd ones in Godot 3 form, or a 4-form fallback when 3 cannot hold them. */
	uint8_t major = i % 2 ? 3 : 4;
	grove_buf_put(out, &major, 1);
	if (godot_binary_encode(&v, major, out) != GROVE_OK) {
		out->len = 0;
		major = 4;
		grove_buf_put(out, &major, 1);
		godot_binary_encode(&v, 4, out);
	}
	variant_free(&v);
	return 1;
}

static int contains_node_path(const struct variant *v)
{
	if (v->type == VARIANT_NODE_PATH)
		return 1;
	if (v->type == VARIANT_ARRAY)
		for (uint32_t i = 0; i < v->as.array->len; i++)
			if (contains_node_path(&v->as.array->items[i]))
				return 1;
	if (v->type == VARIANT_DICTIONARY)
		for (uint32_t i = 0; i < v->as.dict->len; i++)
			if (contains_node_path(&v->as.dict->keys[i]) || contains_node_path(&v->as.dict->values[i]))
				return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the version, so one corpus covers both. */
	if (size < 1)
		return 0;
	int major = data[0] % 2 ? 3 : 4;
	struct variant v, again;
	if (godot_binary_decode(&v, major, data + 1, size - 1, NULL) != GROVE_OK)
		return 0;
	struct grove_buf out = {0};
	if (godot_binary_encode(&v, major, &out) != GROVE_OK)
		grove_fuzz_fail("a decoded value does not encode");
	if (godot_binary_decode(&again, major, out.data, out.len, NULL) != GROVE_OK)
		grove_fuzz_fail("an encoded value does not decode");
	/* Node paths are re-split on '/' and ':', which names from raw bytes may contain. */
	if (!contains_node_path(&v) && !variant_equal(&v, &again))
		grove_fuzz_fail("binary round trip changed the value");
	variant_free(&again);
	variant_free(&v);
	grove_buf_free(&out);
	return 0;
}
