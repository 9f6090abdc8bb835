/* Fuzz target: grove's canonical Variant form (what the store and the wire carry). What decodes must encode to
 * exactly the bytes it came from. */
#include <string.h>

#include "fuzz.h"
#include "godot/variant_text.h"
#include "seeds.h"
#include "src/common/error.h"

int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	if (i >= fuzz_seed_value_count)
		return 0;
	struct variant v;
	struct godot_text_error err;
	if (godot_text_parse(fuzz_seed_values[i], strlen(fuzz_seed_values[i]), NULL, &v, &err) != GROVE_OK)
		grove_fuzz_fail("a seed does not parse");
	variant_encode(&v, out);
	variant_free(&v);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct variant v;
	size_t used;
	if (variant_decode(&v, data, size, &used) != GROVE_OK)
		return 0;
	struct grove_buf out = {0};
	if (variant_encode(&v, &out) != GROVE_OK)
		grove_fuzz_fail("a decoded value does not encode");
	if (out.len != used || memcmp(out.data, data, used) != 0)
		grove_fuzz_fail("the canonical form is not canonical");
	grove_buf_free(&out);
	variant_free(&v);
	return 0;
}
