#include "src/txn/codec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"
#include "src/txn/layout.h"

enum result_flags {
	FLAG_OTHER = 1,  /* the meta of the transaction in the way follows */
	FLAG_RECORD = 2, /* a record follows */
	FLAG_FOUND = 4   /* a version (writer, value) follows */
};

static int finish_writer(struct layout_writer *w, uint8_t **data, size_t *len)
{
	if (w->failed) {
		free(w->data);
		return GROVE_ENOMEM;
	}
	*data = w->data;
	*len = w->len;
	return GROVE_OK;
}

static int refuse(const char **why, int err, const char *what)
{
	if (why)
		*why = what;
	return err;
}

/* The version byte, or a refusal. */
static int get_version(struct layout_reader *r, const char **why)
{
	uint8_t version = layout_get_u8(r);
	if (r->bad)
		return refuse(why, GROVE_ECORRUPT, "empty input");
	if (version != TXN_CODEC_VERSION)
		return refuse(why, GROVE_EINVAL, "an encoding version this build does not read");
	return GROVE_OK;
}

static int check_end(const struct layout_reader *r, const char **why)
{
	if (r->bad)
		return refuse(why, GROVE_ECORRUPT, "truncated, or a length or count over its limit");
	if (r->p != r->end)
		return refuse(why, GROVE_ECORRUPT, "bytes after the end of the message");
	return GROVE_OK;
}

int txn_cmd_encode(const struct txn_cmd *cmd, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (txn_cmd_validate(cmd, NULL) != GROVE_OK)
		return GROVE_EINVAL;
	struct layout_writer w = {0};
	layout_u8(&w, TXN_CODEC_VERSION);
	layout_u8(&w, (uint8_t)cmd->type);
	if (cmd->type == TXN_CMD_READ || cmd->type == TXN_CMD_GC)
		layout_ts(&w, cmd->at);
	else
		layout_meta(&w, &cmd->txn);
	switch (cmd->type) {
	case TXN_CMD_WRITE_INTENT:
		layout_bytes(&w, cmd->key);
		layout_bytes(&w, cmd->value);
		break;
	case TXN_CMD_STAGE:
		layout_u64(&w, cmd->heartbeat);
		layout_write_refs(&w, cmd->writes, cmd->n_writes);
		break;
	case TXN_CMD_HEARTBEAT:
		layout_u64(&w, cmd->heartbeat);
		break;
	case TXN_CMD_FINALIZE:
		layout_u8(&w, (uint8_t)cmd->status);
		layout_u8(&w, (uint8_t)cmd->expect);
		layout_u64(&w, cmd->expiry_cutoff);
		break;
	case TXN_CMD_RESOLVE:
		layout_u8(&w, (uint8_t)cmd->status);
		layout_bytes(&w, cmd->key);
		break;
	case TXN_CMD_QUERY_INTENT:
	case TXN_CMD_READ:
		layout_bytes(&w, cmd->key);
		break;
	case TXN_CMD_GC:
	case TXN_CMD_FORGET:
		break;
	}
	return finish_writer(&w, data, len);
}

int txn_cmd_decode(const uint8_t *data, size_t len, struct txn_cmd *cmd, const char **why)
{
	memset(cmd, 0, sizeof(*cmd));
	struct layout_reader r = {data, data + len, false};
	int err = get_version(&r, why);
	if (err)
		return err;
	cmd->type = (enum txn_cmd_type)layout_get_u8(&r);
	if (cmd->type < TXN_CMD_WRITE_INTENT || cmd->type > TXN_CMD_FORGET)
		return refuse(why, GROVE_ECORRUPT, r.bad ? "truncated" : "unknown command kind");
	if (cmd->type == TXN_CMD_READ || cmd->type == TXN_CMD_GC)
		cmd->at = layout_get_ts(&r);
	else
		layout_get_meta(&r, &cmd->txn);
	switch (cmd->type) {
	case TXN_CMD_WRITE_INTENT:
		cmd->key = layout_get_bytes(&r, TXN_KEY_MAX);
		cmd->value = layout_get_bytes(&r, TXN_VALUE_MAX);
		break;
	case TXN_CMD_STAGE: {
		struct txn_write_ref *refs;
		cmd->heartbeat = layout_get_u64(&r);
		err = layout_get_write_refs(&r, &refs, &cmd->n_writes);
		cmd->writes = refs;
		break;
	}
	case TXN_CMD_HEARTBEAT:
		cmd->heartbeat = layout_get_u64(&r);
		break;
	case TXN_CMD_FINALIZE:
		cmd->status = (enum txn_status)layout_get_u8(&r);
		cmd->expect = (enum txn_expect)layout_get_u8(&r);
		cmd->expiry_cutoff = layout_get_u64(&r);
		break;
	case TXN_CMD_RESOLVE:
		cmd->status = (enum txn_status)layout_get_u8(&r);
		cmd->key = layout_get_bytes(&r, TXN_KEY_MAX);
		break;
	case TXN_CMD_QUERY_INTENT:
	case TXN_CMD_READ:
		cmd->key = layout_get_bytes(&r, TXN_KEY_MAX);
		break;
	case TXN_CMD_GC:
	case TXN_CMD_FORGET:
		break;
	}
	const char *invalid = NULL;
	if (!err && (err = check_end(&r, why)) == GROVE_OK && txn_cmd_validate(cmd, &invalid) != GROVE_OK)
		err = refuse(why, GROVE_ECORRUPT, invalid);
	if (err)
		txn_cmd_release(cmd);
	return err;
}

void txn_cmd_release(struct txn_cmd *cmd)
{
	if (!cmd)
		return;
	free((void *)cmd->writes);
	memset(cmd, 0, sizeof(*cmd));
}

static bool carries_other(enum txn_result_code code)
{
	return code == TXN_R_CONFLICT || code == TXN_R_INTENT;
}

int txn_result_encode(const struct txn_result *res, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if ((unsigned)res->code > TXN_R_FORGOTTEN || (res->has_record && (unsigned)res->record.status > TXN_ABORTED) ||
	    res->record.n_writes > TXN_WRITES_MAX || res->value_len > TXN_VALUE_MAX)
		return GROVE_EINVAL;
	for (size_t i = 0; res->has_record && i < res->record.n_writes; i++)
		if (res->record.writes[i].key.len > TXN_KEY_MAX)
			return GROVE_EINVAL;
	bool found = res->code == TXN_R_VALUE && res->found;
	struct layout_writer w = {0};
	layout_u8(&w, TXN_CODEC_VERSION);
	layout_u8(&w, (uint8_t)res->code);
	layout_u8(&w, (uint8_t)((carries_other(res->code) ? FLAG_OTHER : 0) | (res->has_record ? FLAG_RECORD : 0) |
				(found ? FLAG_FOUND : 0)));
	layout_ts(&w, res->ts);
	if (carries_other(res->code))
		layout_meta(&w, &res->other);
	if (res->has_record)
		layout_record(&w, &res->record);
	if (found) {
		layout_u64(&w, res->writer);
		layout_bytes(&w, (struct txn_bytes){res->value, res->value_len});
	}
	return finish_writer(&w, data, len);
}

int txn_result_decode(const uint8_t *data, size_t len, struct txn_result *res, const char **why)
{
	memset(res, 0, sizeof(*res));
	struct layout_reader r = {data, data + len, false};
	int err = get_version(&r, why);
	if (err)
		return err;
	uint8_t code = layout_get_u8(&r), flags = layout_get_u8(&r);
	res->code = (enum txn_result_code)code;
	res->ts = layout_get_ts(&r);
	if (r.bad)
		return refuse(why, GROVE_ECORRUPT, "truncated");
	if (code > TXN_R_FORGOTTEN)
		return refuse(why, GROVE_ECORRUPT, "unknown result code");
	if ((flags & ~(FLAG_OTHER | FLAG_RECORD | FLAG_FOUND)) || !(flags & FLAG_OTHER) != !carries_other(res->code) ||
	    ((flags & FLAG_FOUND) && res->code != TXN_R_VALUE))
		return refuse(why, GROVE_ECORRUPT, "flags that do not fit the result code");
	if (flags & FLAG_OTHER)
		layout_get_meta(&r, &res->other);
	if (flags & FLAG_RECORD) {
		res->has_record = true;
		if ((err = layout_get_record(&r, &res->record)) == GROVE_ENOMEM)
			return GROVE_ENOMEM;
	}
	struct txn_bytes value = {NULL, 0};
	if (flags & FLAG_FOUND) {
		res->found = true;
		res->writer = layout_get_u64(&r);
		value = layout_get_bytes(&r, TXN_VALUE_MAX);
	}
	if ((err = check_end(&r, why)) == GROVE_OK && value.len) {
		if (!(res->value = malloc(value.len))) {
			err = GROVE_ENOMEM;
		} else {
			memcpy(res->value, value.data, value.len);
			res->value_len = value.len;
		}
	}
	if (err)
		txn_result_free(res);
	return err;
}
