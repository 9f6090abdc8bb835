#include "src/server/entrystamp.h"

#include "src/common/bytes.h"

void entry_stamp_put(struct hlc_ts ts, uint8_t out[ENTRY_STAMP_BYTES])
{
	out[0] = ENTRY_STAMP_MARK;
	put_le64(out + 1, ts.wall);
	put_le32(out + 9, ts.logical);
}

bool entry_stamp_read(const uint8_t *data, size_t len, struct hlc_ts *ts, const uint8_t **command, size_t *command_len)
{
	if (len < ENTRY_STAMP_BYTES || data[0] != ENTRY_STAMP_MARK) {
		*ts = (struct hlc_ts){0, 0};
		*command = data;
		*command_len = len;
		return false;
	}
	*ts = (struct hlc_ts){get_le64(data + 1), get_le32(data + 9)};
	*command = data + ENTRY_STAMP_BYTES;
	*command_len = len - ENTRY_STAMP_BYTES;
	return true;
}
