#include "godot/gateway.h"

#include "src/common/bytes.h"

bool gateway_is_godot(const uint8_t *payload, size_t len, int *major)
{
	/*
	 * A Godot Variant starts with a u32 whose low 16 bits are the type: Dictionary is 18 in Godot 3 and 27 in
	 * Godot 4. A grove Envelope never starts so: 0x12 would be field 2 (a varint) as bytes, 0x1b a group.
	 */
	if (len < 8)
		return false;
	uint32_t type = get_le32(payload) & 0xffff;
	*major = type == 18 ? 3 : type == 27 ? 4 : 0;
	return *major != 0;
}
