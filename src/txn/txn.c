#include "src/txn/txn.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/error.h"

struct hlc_ts txn_ts_next(struct hlc_ts ts)
{
	if (ts.logical == UINT32_MAX)
		return (struct hlc_ts){ts.wall + 1, 0};
	return (struct hlc_ts){ts.wall, ts.logical + 1};
}

struct hlc_ts txn_ts_max(struct hlc_ts a, struct hlc_ts b)
{
	return hlc_cmp(a, b) >= 0 ? a : b;
}

bool txn_intent_matches(const struct txn_meta *intent, uint64_t id, uint32_t epoch, uint32_t seq, struct hlc_ts ts)
{
	return intent && intent->id == id && intent->epoch == epoch && intent->seq == seq && hlc_cmp(intent->ts, ts) == 0;
}

bool txn_is_implicitly_committed(uint64_t id, const struct txn_record *rec, const struct txn_meta *const *intents)
{
	if (rec->status != TXN_STAGING)
		return false;
	for (size_t i = 0; i < rec->n_writes; i++)
		if (!txn_intent_matches(intents[i], id, rec->epoch, rec->writes[i].seq, rec->ts))
			return false;
	return true;
}

bool txn_status_is_final(enum txn_status s)
{
	return s == TXN_COMMITTED || s == TXN_ABORTED;
}

int txn_record_copy(struct txn_record *dst, const struct txn_record *src)
{
	struct txn_record copy = *src;
	copy.writes = NULL;
	if (src->n_writes) {
		size_t bytes = src->n_writes * sizeof(*copy.writes);
		for (size_t i = 0; i < src->n_writes; i++)
			bytes += src->writes[i].key.len;
		copy.writes = malloc(bytes);
		if (!copy.writes) {
			memset(dst, 0, sizeof(*dst));
			return GROVE_ENOMEM;
		}
		uint8_t *keys = (uint8_t *)(copy.writes + src->n_writes);
		for (size_t i = 0; i < src->n_writes; i++) {
			copy.writes[i] = src->writes[i];
			if (src->writes[i].key.len)
				memcpy(keys, src->writes[i].key.data, src->writes[i].key.len);
			copy.writes[i].key.data = keys;
			keys += src->writes[i].key.len;
		}
	}
	*dst = copy;
	return GROVE_OK;
}

void txn_record_free(struct txn_record *rec)
{
	if (!rec)
		return;
	free(rec->writes);
	memset(rec, 0, sizeof(*rec));
}

void txn_result_free(struct txn_result *res)
{
	if (!res)
		return;
	txn_record_free(&res->record);
	free(res->value);
	memset(res, 0, sizeof(*res));
}

static bool key_ok(struct txn_bytes key)
{
	return key.len >= 1 && key.len <= TXN_KEY_MAX && key.data;
}

int txn_cmd_validate(const struct txn_cmd *cmd, const char **why)
{
	const char *bad = NULL;
	bool txn_cmd = cmd->type != TXN_CMD_READ && cmd->type != TXN_CMD_GC;
	if (cmd->type < TXN_CMD_WRITE_INTENT || cmd->type > TXN_CMD_FORGET)
		bad = "unknown command kind";
	else if (txn_cmd && cmd->txn.id == 0)
		bad = "transaction id 0";
	else if (txn_cmd && cmd->txn.seq == 0)
		bad = "sequence number 0";
	if (!bad) {
		switch (cmd->type) {
		case TXN_CMD_WRITE_INTENT:
			if (!key_ok(cmd->key))
				bad = "key empty or longer than TXN_KEY_MAX";
			else if (cmd->value.len > TXN_VALUE_MAX || (cmd->value.len && !cmd->value.data))
				bad = "value longer than TXN_VALUE_MAX";
			break;
		case TXN_CMD_STAGE:
			if (cmd->n_writes == 0 || cmd->n_writes > TXN_WRITES_MAX || !cmd->writes)
				bad = "in-flight list empty or longer than TXN_WRITES_MAX";
			for (size_t i = 0; !bad && i < cmd->n_writes; i++)
				if (!key_ok(cmd->writes[i].key) || cmd->writes[i].seq == 0)
					bad = "in-flight entry with a bad key or sequence number 0";
			break;
		case TXN_CMD_FINALIZE:
			if (!txn_status_is_final(cmd->status))
				bad = "finalize to a status that is not final";
			else if (cmd->expect != TXN_EXPECT_STAGING && cmd->expect != TXN_EXPECT_UNSTAGED)
				bad = "unknown expectation";
			else if (cmd->expect == TXN_EXPECT_UNSTAGED && cmd->status != TXN_ABORTED)
				bad = "an unstaged record can only be aborted";
			break;
		case TXN_CMD_RESOLVE:
			if (!txn_status_is_final(cmd->status) && cmd->status != TXN_STAGING)
				bad = "resolve with a status that is neither final nor STAGING (implicitly committed)";
			else if (!key_ok(cmd->key))
				bad = "key empty or longer than TXN_KEY_MAX";
			break;
		case TXN_CMD_QUERY_INTENT:
		case TXN_CMD_READ:
			if (!key_ok(cmd->key))
				bad = "key empty or longer than TXN_KEY_MAX";
			break;
		case TXN_CMD_HEARTBEAT:
		case TXN_CMD_GC:
		case TXN_CMD_FORGET:
			break;
		}
	}
	if (why)
		*why = bad;
	return bad ? GROVE_EINVAL : GROVE_OK;
}

const char *txn_status_name(enum txn_status s)
{
	static const char *const names[] = {"NONE", "PENDING", "STAGING", "COMMITTED", "ABORTED"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *txn_cmd_name(enum txn_cmd_type t)
{
	static const char *const names[] = {"?",       "WRITE_INTENT", "STAGE",        "HEARTBEAT", "FINALIZE",
					    "RESOLVE", "QUERY_INTENT", "READ",         "GC",        "FORGET"};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const char *txn_result_name(enum txn_result_code c)
{
	static const char *const names[] = {"OK",      "WRITTEN", "STALE",     "CONFLICT", "FINISHED",
					    "REFUSED", "FOUND",   "PREVENTED", "VALUE",    "INTENT",  "GONE"};
	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}
