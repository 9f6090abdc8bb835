#include "src/common/error.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
	const char *name;
	const char *text;
} error_table[GROVE_ERR_COUNT] = {
	[GROVE_OK] = {"GROVE_OK", "success"},
	[GROVE_ENOMEM] = {"GROVE_ENOMEM", "out of memory"},
	[GROVE_EINVAL] = {"GROVE_EINVAL", "invalid argument"},
	[GROVE_ENOTFOUND] = {"GROVE_ENOTFOUND", "not found"},
	[GROVE_EEXIST] = {"GROVE_EEXIST", "already exists"},
	[GROVE_ECYCLE] = {"GROVE_ECYCLE", "would become its own ancestor"},
	[GROVE_EBADNAME] = {"GROVE_EBADNAME", "invalid node name"},
	[GROVE_EROOT] = {"GROVE_EROOT", "the root cannot be changed that way"},
	[GROVE_ECORRUPT] = {"GROVE_ECORRUPT", "data is corrupt"},
	[GROVE_ESTORAGE] = {"GROVE_ESTORAGE", "storage error"},
	[GROVE_ETOOBIG] = {"GROVE_ETOOBIG", "too large"},
	[GROVE_EAUTH] = {"GROVE_EAUTH", "authentication failed"},
	[GROVE_EPROTO] = {"GROVE_EPROTO", "protocol error"},
	[GROVE_EIO] = {"GROVE_EIO", "I/O error"},
	[GROVE_ERANGE] = {"GROVE_ERANGE", "out of range"},
	[GROVE_ETYPE] = {"GROVE_ETYPE", "wrong value type"},
	[GROVE_EPARSE] = {"GROVE_EPARSE", "parse error"},
	[GROVE_EUNAVAILABLE] = {"GROVE_EUNAVAILABLE", "unavailable"},
	[GROVE_ENOTLEADER] = {"GROVE_ENOTLEADER", "not the leader"},
	[GROVE_ETIMEDOUT] = {"GROVE_ETIMEDOUT", "timed out"},
	[GROVE_EMOVED] = {"GROVE_EMOVED", "moved to another shard; retry"},
	[GROVE_ECROSSSHARD] = {"GROVE_ECROSSSHARD", "spans shards in a way that is not supported"},
	[GROVE_ENOSPC] = {"GROVE_ENOSPC", "the disk is full"},
	[GROVE_ECHANGED] = {"GROVE_ECHANGED", "changed since it was read; retry"},
	[GROVE_EINTENT] = {"GROVE_EINTENT", "held by a cross-shard transaction; retry"},
};

const char *grove_strerror(int err)
{
	if (err < 0 || err >= GROVE_ERR_COUNT)
		return "unknown error";
	return error_table[err].text;
}

const char *grove_errname(int err)
{
	if (err < 0 || err >= GROVE_ERR_COUNT)
		return "GROVE_E?";
	return error_table[err].name;
}

int grove_say(int err, char *why, size_t cap, const char *fmt, ...)
{
	if (why && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return err;
}
