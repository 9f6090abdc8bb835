/*
 * Fuzz target: the Raft-log encoding of transaction commands and results (src/txn/codec.h). The first byte
 * picks which (even: a command, odd: a result). Any bytes must be refused with GROVE_ECORRUPT or GROVE_EINVAL
 * and a reason, or decode to a message that encodes back to exactly the same bytes; a command that decodes
 * must apply to a shard that holds intents, versions and records without being refused as malformed.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "src/common/error.h"
#include "src/txn/codec.h"
#include "src/txn/memstore.h"
#include "src/txn/shard.h"

static const struct txn_meta seed_meta = {.id = 7, .anchor = 1, .epoch = 0, .seq = 1, .ts = {5, 1}, .start = {5, 1}};

static struct txn_bytes text(const char *s)
{
	return (struct txn_bytes){(const uint8_t *)s, strlen(s)};
}

/* Seeds: one of each command kind, then results of each shape. */
int grove_fuzz_seed(size_t i, struct grove_buf *out)
{
	static const struct txn_write_ref refs[2] = {{1, 1, {(const uint8_t *)"k1", 2}}, {2, 1, {(const uint8_t *)"k2", 2}}};
	struct txn_cmd cmds[] = {
		{.type = TXN_CMD_WRITE_INTENT, .txn = seed_meta, .key = text("k1"), .value = text("value")},
		{.type = TXN_CMD_STAGE, .txn = seed_meta, .writes = refs, .n_writes = 2, .heartbeat = 5},
		{.type = TXN_CMD_HEARTBEAT, .txn = seed_meta, .heartbeat = 6},
		{.type = TXN_CMD_FINALIZE, .txn = seed_meta, .status = TXN_COMMITTED, .expect = TXN_EXPECT_STAGING},
		{.type = TXN_CMD_FINALIZE, .txn = seed_meta, .status = TXN_ABORTED, .expect = TXN_EXPECT_UNSTAGED,
		 .expiry_cutoff = 9},
		{.type = TXN_CMD_RESOLVE, .txn = seed_meta, .status = TXN_COMMITTED, .key = text("k1")},
		{.type = TXN_CMD_QUERY_INTENT, .txn = seed_meta, .key = text("k2")},
		{.type = TXN_CMD_READ, .key = text("k1"), .at = {9, 0}},
		{.type = TXN_CMD_GC, .at = {2, 0}},
		{.type = TXN_CMD_FORGET, .txn = seed_meta},
	};
	size_t n_cmds = sizeof(cmds) / sizeof(cmds[0]);
	uint8_t *bytes = NULL;
	size_t len = 0;
	uint8_t which = i < n_cmds ? 0 : 1;
	int err;
	if (i < n_cmds) {
		err = txn_cmd_encode(&cmds[i], &bytes, &len);
	} else {
		uint8_t value[] = "value";
		struct txn_result results[] = {
			{.code = TXN_R_WRITTEN, .ts = {5, 2}},
			{.code = TXN_R_CONFLICT, .other = seed_meta},
			{.code = TXN_R_REFUSED, .has_record = true,
			 .record = {TXN_STAGING, 0, 1, {5, 1}, 5, (struct txn_write_ref *)refs, 2}},
			{.code = TXN_R_VALUE, .ts = {5, 1}, .found = true, .writer = 7, .value = value, .value_len = 5},
			{.code = TXN_R_INTENT, .other = seed_meta},
		};
		if (i - n_cmds >= sizeof(results) / sizeof(results[0]))
			return 0;
		err = txn_result_encode(&results[i - n_cmds], &bytes, &len);
	}
	if (err)
		grove_fuzz_fail("a seed does not encode");
	grove_buf_put(out, &which, 1);
	grove_buf_put(out, bytes, len);
	free(bytes);
	return 1;
}

static void apply_or_fail(const struct txn_store *st, const struct txn_cmd *cmd)
{
	struct txn_result res;
	if (txn_shard_apply(st, cmd, &res) != GROVE_OK)
		grove_fuzz_fail("a decoded command is refused by the shard");
	txn_result_free(&res);
}

/* A shard with an intent and a staged record of transaction 7 and a committed version of transaction 8. */
static void fill_shard(const struct txn_store *st)
{
	struct txn_meta other = seed_meta;
	other.id = 8;
	other.ts = (struct hlc_ts){3, 0};
	struct txn_write_ref ref = {1, 1, text("k2")};
	struct txn_cmd setup[] = {
		{.type = TXN_CMD_WRITE_INTENT, .txn = seed_meta, .key = text("k1"), .value = text("seven")},
		{.type = TXN_CMD_STAGE, .txn = seed_meta, .writes = &ref, .n_writes = 1, .heartbeat = 5},
		{.type = TXN_CMD_WRITE_INTENT, .txn = other, .key = text("k2"), .value = text("eight")},
		{.type = TXN_CMD_STAGE, .txn = other, .writes = &ref, .n_writes = 1, .heartbeat = 3},
		{.type = TXN_CMD_FINALIZE, .txn = other, .status = TXN_COMMITTED, .expect = TXN_EXPECT_STAGING},
		{.type = TXN_CMD_RESOLVE, .txn = other, .status = TXN_COMMITTED, .key = text("k2")},
	};
	for (size_t i = 0; i < sizeof(setup) / sizeof(setup[0]); i++)
		apply_or_fail(st, &setup[i]);
}

static void refused_properly(int err, const char *why)
{
	if (err != GROVE_ECORRUPT && err != GROVE_EINVAL && err != GROVE_ENOMEM)
		grove_fuzz_fail("bad bytes refused with something other than GROVE_ECORRUPT or GROVE_EINVAL");
	if (err != GROVE_ENOMEM && !why)
		grove_fuzz_fail("bad bytes refused without a reason");
}

/* What encoding a decoded message gave (again, again_len, err) must be the bytes it was decoded from. */
static void same_bytes(const uint8_t *data, size_t size, uint8_t *again, size_t again_len, int err)
{
	if (err != GROVE_OK)
		grove_fuzz_fail("a decoded message does not encode");
	if (again_len != size || (size && memcmp(again, data, size) != 0))
		grove_fuzz_fail("a decoded message encodes to other bytes");
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 16))
		return 0;
	const uint8_t *msg = data + 1;
	size_t len = size - 1;
	const char *why = NULL;
	uint8_t *again = NULL;
	size_t again_len = 0;
	if (data[0] % 2 == 0) {
		struct txn_cmd cmd;
		int err = txn_cmd_decode(msg, len, &cmd, &why);
		if (err) {
			refused_properly(err, why);
			return 0;
		}
		err = txn_cmd_encode(&cmd, &again, &again_len);
		same_bytes(msg, len, again, again_len, err);
		struct txn_memstore *mem;
		if (txn_memstore_create(&mem) != GROVE_OK)
			grove_fuzz_fail("no memory for a store");
		struct txn_store st = txn_memstore_store(mem);
		fill_shard(&st);
		apply_or_fail(&st, &cmd);
		txn_memstore_destroy(mem);
		txn_cmd_release(&cmd);
	} else {
		struct txn_result res;
		int err = txn_result_decode(msg, len, &res, &why);
		if (err) {
			refused_properly(err, why);
			return 0;
		}
		err = txn_result_encode(&res, &again, &again_len);
		same_bytes(msg, len, again, again_len, err);
		txn_result_free(&res);
	}
	return 0;
}
