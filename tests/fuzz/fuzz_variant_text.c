/* Fuzz target: the Godot Variant text parser. Whatever parses must write back (Godot 4) and read back equal. */
#include <string.h>

#include "fuzz.h"
#include "godot/variant_text.h"
#include "seeds.h"
#include "src/common/error.h"

int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i >= fuzz_seed_value_count)
		return 0;
	grove_buf_put(out, fuzz_seed_values[i], strlen(fuzz_seed_values[i]));
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 16))
		return 0;
	struct variant v, again;
	struct godot_text_error err;
	if (godot_text_parse((const char *)data, size, NULL, &v, &err) != GROVE_OK)
		return 0;
	for (int major = 4; major >= 3; major--) {
		struct godot_text_options o = {.godot_major = major};
		struct grove_buf out = {0};
		if (godot_text_write(&v, &o, &out) == GROVE_OK) {
			if (godot_text_parse((const char *)out.data, out.len, NULL, &again, &err) != GROVE_OK)
				grove_fuzz_fail("written text does not read back");
			if (major == 4 && !variant_equal(&v, &again))
				grove_fuzz_fail("text round trip changed the value");
			variant_free(&again);
		}
		grove_buf_free(&out);
	}
	variant_free(&v);
	return 0;
}
