/**
 * @file tree_sm.h
 * @brief The scene tree (src/tree) as a replica's state machine.
 *
 * Entry data is a command: one kind byte, then its bytes.
 * - TREE_CMD_WRITE: a WriteRequest (proto/grove.proto) exactly as the client
 *   sent it; it is decoded here, once, and applied as one atomic batch. A
 *   request that does not decode is refused like any bad batch, identically
 *   on every member.
 * - TREE_CMD_RESTORE: a snapshot (storage/snapshot.h) that replaces an empty
 *   world (`grove snapshot restore` into a cluster); a world with data
 *   refuses it, decided at apply time so that every member decides alike.
 * Entries written before commands had a kind byte are a bare WriteRequest
 * (whose first byte is never 1 or 2: protobuf has no field 0), and are
 * applied as such.
 *
 * Idempotency: a WriteRequest with a submit_key that an earlier entry
 * applied is not applied again; the result names that entry
 * (tree_result.duplicate_of). Keys are kept, as part of the replicated state
 * and of snapshots, for the last TREE_SM_KEEP_KEYS entries: a client that
 * retries later than that is too late. Tables, each key behind the group id:
 * "sm.keys" key -> u64 index, "sm.keys_by_index" u64 index (big-endian) ->
 * key; in snapshots, tables TREE_SM_TABLE_KEYS and TREE_SM_TABLE_KEYS_BY_INDEX.
 */
#ifndef GROVE_SERVER_TREE_SM_H
#define GROVE_SERVER_TREE_SM_H

#include <stddef.h>
#include <stdint.h>

#include "src/server/statemachine.h"
#include "src/tree/tree.h"

/** Command kinds: the first byte of entry data. */
enum tree_cmd {
	TREE_CMD_WRITE = 1,   /**< a WriteRequest */
	TREE_CMD_RESTORE = 2  /**< a snapshot for an empty world */
};

/** How many entries back an idempotency key is remembered. */
#define TREE_SM_KEEP_KEYS 100000
/** Snapshot table numbers of the key tables (after the tree's own). */
#define TREE_SM_TABLE_KEYS 32
#define TREE_SM_TABLE_KEYS_BY_INDEX 33

/** The tree of one group. */
struct tree_sm {
	struct tree tree;     /**< the group's tables */
	store_db keys;        /**< "sm.keys" */
	store_db keys_by_index; /**< "sm.keys_by_index" */
	bool record_changes;  /**< ask apply for change records (someone subscribes) */
};

/** The operations of the tree state machine; its state is a struct tree_sm. */
extern const struct state_machine_ops tree_sm_ops;

/**
 * @brief Open group @p group's tree in @p store and make sure it has a root.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int tree_sm_open(struct store *store, uint64_t group, struct tree_sm *out);

/**
 * @brief Entry data for command @p kind with @p len bytes of @p body, into
 * @p out (malloc'd; free it).
 * @return its length, or 0 when out of memory.
 */
size_t tree_sm_command(enum tree_cmd kind, const void *body, size_t len, uint8_t **out);

#endif
