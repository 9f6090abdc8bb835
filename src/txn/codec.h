/**
 * @file codec.h
 * @brief The binary encoding of transaction commands (the payload of a
 * shard's Raft entries) and of their results (the answer to the sender).
 *
 * Compact, versioned, little-endian; layout.h names the pieces (ts is wall
 * u64 + logical u32, bytes are a u32 length and the bytes, meta is id,
 * anchor, epoch, seq, ts, start ts). Version 1:
 *
 *   command := version u8 (1), kind u8, then by kind:
 *     WRITE_INTENT  meta, key bytes, value bytes
 *     STAGE         meta, heartbeat u64, count u32, count x (shard u64, seq u32, key bytes)
 *     HEARTBEAT     meta, heartbeat u64
 *     FINALIZE      meta, status u8, expect u8, expiry_cutoff u64
 *     RESOLVE       meta, status u8, key bytes
 *     QUERY_INTENT  meta, key bytes
 *     READ          at ts, key bytes
 *     GC            at ts
 *   result := version u8 (1), code u8, flags u8 (1: other, 2: record,
 *     4: found), ts, [other meta], [record], [writer u64, value bytes]
 *     where record is status u8, epoch u32, seq u32, ts, heartbeat u64,
 *     count u32, count x (shard u64, seq u32, key bytes).
 *
 * Decoding checks everything txn_cmd_validate() checks, plus that the bytes
 * are exactly one message: nothing missing, nothing after it, every
 * enumeration in range, every length within its limit (checked before
 * anything is allocated). What it refuses it refuses whole.
 */
#ifndef GROVE_TXN_CODEC_H
#define GROVE_TXN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "src/txn/txn.h"

/** The encoding version this build writes and reads. */
#define TXN_CODEC_VERSION 1

/**
 * @brief Encode @p cmd.
 * @param data receives a malloc'd buffer (free() it); NULL on error.
 * @param len receives its length.
 * @return GROVE_OK, GROVE_EINVAL (txn_cmd_validate() refuses it), GROVE_ENOMEM.
 */
int txn_cmd_encode(const struct txn_cmd *cmd, uint8_t **data, size_t *len);

/**
 * @brief Decode one command from @p data.
 * @param cmd receives the command. Its key, value and list keys are borrowed
 * from @p data (keep it alive); its list array is owned: release it with
 * txn_cmd_release().
 * @param why receives a static description of what was wrong (may be NULL).
 * @return GROVE_OK; GROVE_EINVAL for a version this build does not read;
 * GROVE_ECORRUPT for anything else malformed; GROVE_ENOMEM. On error
 * @p cmd holds nothing to release.
 */
int txn_cmd_decode(const uint8_t *data, size_t len, struct txn_cmd *cmd, const char **why);

/** @brief Release the list of a command from txn_cmd_decode() and zero it. NULL is allowed. */
void txn_cmd_release(struct txn_cmd *cmd);

/**
 * @brief Encode @p res.
 * @param data receives a malloc'd buffer (free() it); NULL on error.
 * @return GROVE_OK, GROVE_EINVAL (a code, status or length out of range), GROVE_ENOMEM.
 */
int txn_result_encode(const struct txn_result *res, uint8_t **data, size_t *len);

/**
 * @brief Decode one result from @p data.
 * @param res receives an owned result (txn_result_free()), nothing borrowed.
 * @return as txn_cmd_decode(); on error @p res is zeroed.
 */
int txn_result_decode(const uint8_t *data, size_t len, struct txn_result *res, const char **why);

#endif
