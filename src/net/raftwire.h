/**
 * @file raftwire.h
 * @brief Raft messages on the wire: struct raft_msg (src/raft/raft.h) to and
 * from the RaftMessage of proto/grove.proto, with the group it belongs to.
 *
 * Decoding trusts nothing: a message whose fields cannot be a Raft message
 * (an unknown type, more members than a group can have, entries that do not
 * follow each other) is refused, so the core only ever steps well-formed
 * messages. Snapshot chunks (snapshot_data, _offset, _size) are not Raft's:
 * the snapshot transfer fills and reads them beside the message.
 */
#ifndef GROVE_NET_RAFTWIRE_H
#define GROVE_NET_RAFTWIRE_H

#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/raft/raft.h"

/** A RaftMessage ready to pack, and the storage it points into. */
struct raftwire_out {
	Grove__RaftMessage pb;                    /**< pack this */
	Grove__RaftEntry *entries;                /**< owned; entry data borrowed from the raft_msg */
	Grove__RaftEntry **entry_ptrs;            /**< owned */
	uint64_t voters[RAFT_MAX_MEMBERS];        /**< a snapshot's membership */
	uint64_t learners[RAFT_MAX_MEMBERS];
};

/**
 * @brief Fill @p out from @p m of group @p group. The entries' data stay
 * borrowed from @p m, which must outlive the packing.
 * @return GROVE_OK, GROVE_ENOMEM.
 */
int raftwire_encode(uint64_t group, const struct raft_msg *m, struct raftwire_out *out);

/** @brief Release what raftwire_encode() allocated. */
void raftwire_out_free(struct raftwire_out *out);

/**
 * @brief Read @p pb into @p m and its group into @p group. The entries array
 * is allocated (free it with raftwire_in_free()); their data is borrowed
 * from @p pb.
 * @return GROVE_OK, GROVE_EINVAL (malformed: unknown type, from or to 0,
 * too many members, entries not consecutive), GROVE_ENOMEM.
 */
int raftwire_decode(const Grove__RaftMessage *pb, uint64_t *group, struct raft_msg *m);

/** @brief Release what raftwire_decode() allocated in @p m. */
void raftwire_in_free(struct raft_msg *m);

#endif
