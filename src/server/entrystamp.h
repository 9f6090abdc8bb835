/**
 * @file entrystamp.h
 * @brief The hybrid timestamp a leader gives each command it proposes,
 * carried at the front of the entry's data.
 *
 * A stamped entry's data is `u8 ENTRY_STAMP_MARK | u64 wall | u32 logical |
 * command`, little-endian; the state machine sees the command alone. The
 * mark 0xFF cannot begin any command written before stamps: tree commands
 * start with their kind (1-3), shard map commands likewise, and a bare
 * WriteRequest of the oldest logs with a protobuf tag, whose low three bits
 * (the wire type) are never 7. So entries from older logs read back as
 * unstamped, and apply as before. A new leader's no-op holds a stamp alone
 * (raft_config.noop_data), and a membership change carries its stamp right
 * after the conf change's 9 bytes, before the address (membership.h); only
 * the founders' membership entries, which every founder writes alike when
 * a group is created, carry none.
 */
#ifndef GROVE_SERVER_ENTRYSTAMP_H
#define GROVE_SERVER_ENTRYSTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/hlc/hlc.h"

/** The first byte of a stamped entry's data. */
#define ENTRY_STAMP_MARK 0xFF
/** Bytes the stamp adds in front of the command. */
#define ENTRY_STAMP_BYTES 13

/**
 * @brief Write the stamp @p ts into @p out (ENTRY_STAMP_BYTES bytes); the
 * command follows it in the entry's data.
 */
void entry_stamp_put(struct hlc_ts ts, uint8_t out[ENTRY_STAMP_BYTES]);

/**
 * @brief Split entry data @p data of @p len bytes into its stamp and its
 * command (borrowed from @p data).
 * @return true if the entry is stamped (then *@p ts is its stamp), false if
 * it is not (then *@p ts is {0, 0} and the command is the whole data).
 */
bool entry_stamp_read(const uint8_t *data, size_t len, struct hlc_ts *ts, const uint8_t **command, size_t *command_len);

#endif
