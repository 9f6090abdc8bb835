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
 * - TREE_CMD_SPLIT: move the subtree at a path into a new group (u64 group,
 *   u8 voters, voters x u64, all little-endian, then the path's bytes):
 *   src/tree's tree_split() in the apply transaction. The outcome (done, or
 *   the refusal) is kept per new group ("sm.splits": group id, new group ->
 *   u32 code, u64 index, u64 root, message; snapshot table
 *   TREE_SM_TABLE_SPLITS), so a repeated command changes nothing and
 *   answers the same, and whoever drives the split (the meta group's
 *   leader) reads how it ended. A split that was done names the new group
 *   and its voters in the result (tree_result.split_group), for the host to
 *   start it.
 *
 * - TREE_CMD_TXN: a command of a cross-shard transaction (src/txn, parallel
 *   commits; encoded by src/txn/codec.h) to this shard, applied by
 *   txn_shard_apply() on the group's transaction tables (src/txn/lmdbstore.h)
 *   in a nested transaction of the apply. A shard has TREE_SM_LANES keys of
 *   the transaction layer, its lanes (tree_sm_txn_key(): a transaction's is
 *   chosen by its id): an intent on one holds the shard's part of a
 *   transaction, a WriteRequest whose ops may include the halves of a move
 *   across shards (TREE_OP_CARRY_OUT, TREE_OP_CARRY_IN). The part is checked
 *   when its intent is written, by applying it and undoing it (a part the
 *   tree refuses writes no intent: the answer is the tree's refusal), and
 *   against the part of every other transaction that holds the shard: both
 *   must apply beside each other, in either order, as tree_apply_beside()
 *   decides for a write, and not carry the same submit key; otherwise the
 *   intent is refused as a conflict with that transaction (TXN_R_CONFLICT,
 *   as on one key: the coordinator waits or pushes), so several transactions
 *   hold a shard at once only when their parts commute. A part is kept
 *   ("sm.txn_parts": group id, txn id -> the part)
 *   while its intent is there, and applied to the tree, change records and
 *   all, when the intent is resolved as committed. While intents hold the
 *   shard, each part must still apply exactly as checked when its transaction
 *   commits: a plain write applies beside them only when it commutes with each
 *   (tree_apply_beside(): it does not act on a node the part acts on, touch a
 *   subtree the part moves, renames or deletes, change a node above those,
 *   nor the children of a node whose children the part changes), and is
 *   refused with GROVE_EINTENT (retry) otherwise; splits of the shard are
 *   refused. A part of no ops changes nothing and holds the shard whole (every
 *   write is refused): a cut of the world (host_world_snapshot_begin()) is a
 *   transaction with such a part on every shard. A transaction whose intent
 *   meets another's reserves the shard, unless an older one does
 *   ("sm.txn_parts" key "reserve": the transaction and its part) until its
 *   own lands there or it is resolved: meanwhile the intent of a transaction
 *   that began after it, with a part that does not commute with its part, is
 *   answered as blocked by it (TXN_R_CONFLICT), not written; the reservation
 *   lapses 2 s after the reserving attempt's timestamp. The outcome carries the command and the
 *   shard's result (tree_result.txn_cmd, txn_result) for whoever waits on
 *   it; TREE_SM_TABLE_TXN_PARTS and TREE_SM_TABLE_TXN + enum txn_table hold
 *   the transaction state in snapshots.
 *
 * Idempotency: a WriteRequest with a submit_key that an earlier entry
 * applied is not applied again; the result names that entry
 * (tree_result.duplicate_of). A transaction's key travels in every part:
 * each group remembers it when its part is applied as committed, at
 * the index its intent was first written at by the attempt that committed
 * (a command sent twice lands twice; kept beside the part in
 * "sm.txn_parts", txn id and "k" -> u64 index, while the intent is there),
 * and a later intent whose part carries a remembered key is not written:
 * the result has duplicate_of and no err, and the transaction aborts with
 * nothing applied. A split gives the new group every key the parent knew. Keys are kept, as part of the replicated state
 * and of snapshots, for the last TREE_SM_KEEP_KEYS entries: a client that
 * retries later than that is too late. Tables, each key behind the group id:
 * "sm.keys" key -> u64 index, "sm.keys_by_index" u64 index (big-endian) ->
 * key; in snapshots, tables TREE_SM_TABLE_KEYS and TREE_SM_TABLE_KEYS_BY_INDEX.
 */
#ifndef GROVE_SERVER_TREE_SM_H
#define GROVE_SERVER_TREE_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/server/statemachine.h"
#include "src/txn/lmdbstore.h"
#include "src/tree/tree.h"

/** Command kinds: the first byte of entry data. */
enum tree_cmd {
	TREE_CMD_WRITE = 1,   /**< a WriteRequest */
	TREE_CMD_RESTORE = 2, /**< a snapshot for an empty world */
	TREE_CMD_SPLIT = 3,   /**< a split of a subtree into a new group */
	TREE_CMD_TXN = 4      /**< a command of a cross-shard transaction (src/txn/codec.h) */
};

/** Bytes of the transaction layer's key of a shard's lane (tree_sm_txn_key()). */
#define TREE_SM_TXN_KEY_LEN 13

/** Lanes of a shard: transactions whose parts commute hold the shard at once, each on its lane's key. */
#define TREE_SM_LANES 32

/** The most transactions that hold a shard at once: a lane each, and the whole-shard key of older stores. */
#define TREE_SM_HOLDERS_MAX (TREE_SM_LANES + 1)

/** @brief The lane of transaction @p txn_id in every shard (ids of one coordinator step by two). */
unsigned tree_sm_lane(uint64_t txn_id);

/**
 * @brief The transaction layer's key of transaction @p txn_id in the shard
 * of group @p group: "tree", the group id (big-endian) and the lane
 * (tree_sm_lane()), so that every shard has keys of its own,
 * and two transactions hold one shard at once unless they share a lane (the
 * layer allows one intent per key) or their parts do not commute (the
 * shard refuses the second intent as a conflict with the first).
 */
void tree_sm_txn_key(uint64_t group, uint64_t txn_id, uint8_t key[TREE_SM_TXN_KEY_LEN]);

/** Bytes of an idempotency key, with its NUL: longer ones are refused (tree_result.key holds one). */
#define TREE_SM_KEY_MAX 128
/** How many entries back an idempotency key is remembered. */
#define TREE_SM_KEEP_KEYS 100000
/** Snapshot table numbers of the key tables (after the tree's own). */
#define TREE_SM_TABLE_KEYS 32
#define TREE_SM_TABLE_KEYS_BY_INDEX 33
#define TREE_SM_TABLE_SPLITS 34
#define TREE_SM_TABLE_TXN_PARTS 35
/** The transaction tables are TREE_SM_TABLE_TXN + enum txn_table. */
#define TREE_SM_TABLE_TXN 40

/** The tree of one group. */
struct tree_sm {
	struct tree tree;     /**< the group's tables */
	store_db keys;        /**< "sm.keys" */
	store_db keys_by_index; /**< "sm.keys_by_index" */
	store_db splits;      /**< "sm.splits" */
	store_db txn_parts;   /**< "sm.txn_parts" */
	struct txn_lmdbstore_tables txn; /**< the transaction layer's tables */
	bool record_changes;  /**< ask apply for change records (someone subscribes) */
	/**
	 * A view across every tree group of the store (tree_view_init(); the caller frees it), through which
	 * what a move brings finds the nodes of other shards its connections name (arrival.h); NULL: this
	 * group's tables alone, and such connections are recorded without the other end's path.
	 */
	int (*world_view)(void *ctx, struct tree_view *out);
	void *world_view_ctx; /**< passed to world_view */
};

/** The operations of the tree state machine; its state is a struct tree_sm. */
extern const struct state_machine_ops tree_sm_ops;

/**
 * @brief Open group @p group's tree in @p store and make sure it has a root.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int tree_sm_open(struct store *store, uint64_t group, struct tree_sm *out);

/**
 * @brief Open the tree of group @p group, born by a split (its records come
 * from the split, or from a snapshot): no root is made.
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int tree_sm_open_shard(struct store *store, uint64_t group, struct tree_sm *out);

/**
 * @brief Entry data of a split of the subtree at @p path into group
 * @p group with @p n voters @p voters, into @p out (malloc'd; free it).
 * @return its length, or 0 when out of memory or @p n is over 16.
 */
size_t tree_sm_split_command(uint64_t group, const uint64_t *voters, size_t n, const char *path, uint8_t **out);

/** How a split command ended, as the group that applied it recorded it. */
struct tree_sm_split_outcome {
	int code;            /**< GROVE_OK (done) or the refusal */
	uint64_t index;      /**< the entry that applied it */
	uint64_t root;       /**< the subtree's root (done) */
	char message[512];   /**< the refusal's reason */
};

/**
 * @brief How the split into group @p group ended in tree @p t.
 * @return GROVE_OK, GROVE_ENOTFOUND (no such split applied yet), GROVE_ECORRUPT, GROVE_ESTORAGE.
 */
int tree_sm_split_outcome(struct tree_sm *t, struct store_txn *txn, uint64_t group, struct tree_sm_split_outcome *out);

/**
 * @brief Whether a cross-shard transaction's intent holds the shard of tree
 * @p t, and whose (@p meta, may be NULL: the transaction and attempt; of
 * several, the first of tree_sm_holders()).
 * @return true or false (false also when the store cannot be read).
 */
bool tree_sm_held(struct tree_sm *t, struct store_txn *txn, struct txn_meta *meta);

/**
 * @brief Whether write @p request (a packed WriteRequest) would be refused
 * now, in @p txn, because a cross-shard transaction holds the shard: it meets
 * that transaction's part (tree_apply_beside()), or the hold is a cut's. A
 * write is applied beside a part that it commutes with; one that does not
 * waits for the resolution. @p txn is left as it was (the check runs in a
 * nested transaction that is undone).
 * @return true or false (false when the shard is not held or the request
 * does not decode: the apply refuses it anyway; true when the store fails).
 */
bool tree_sm_write_waits(struct tree_sm *t, struct store_txn *txn, const uint8_t *request, size_t len);

/**
 * @brief Whether write @p request would meet @p part, a cross-shard
 * transaction's part for this shard (a packed WriteRequest) whose intent may
 * not be here yet, if both applied now in @p txn: tree_apply_beside() would
 * refuse the write beside it, or @p part has no ops (a cut's). @p txn is
 * left as it was.
 * @return true or false (false when the request does not decode; true when
 * the store fails).
 */
bool tree_sm_write_meets(struct tree_sm *t, struct store_txn *txn, const uint8_t *part, size_t part_len,
			 const uint8_t *request, size_t len);

/**
 * @brief Whether a read of the node at @p path (or, with @p path NULL or
 * empty, of node @p id), with its whole subtree or (@p whole false) alone,
 * must wait because a cross-shard transaction holds the shard: its part may
 * change what the read returns (tree_read_beside()), the node is not here
 * (the part may bring it), the hold is a cut's, or the part is over 64 KiB
 * (tried for every read, it would cost the loop too much). A read that the
 * part does not meet returns the same before and after the part, so it is
 * served beside it. @p txn is left as it was.
 * @return true or false (false when the shard is not held; true when the
 * store fails).
 */
bool tree_sm_read_waits(struct tree_sm *t, struct store_txn *txn, const char *path, int64_t id, bool whole);

/**
 * @brief The transactions whose intents hold the shard of tree @p t, at
 * most TREE_SM_HOLDERS_MAX (transactions whose parts commute hold a shard
 * at once, each on its lane: tree_sm_txn_key()), in key order, into @p out.
 * @return how many (0: not held, or the store cannot be read).
 */
size_t tree_sm_holders(struct tree_sm *t, struct store_txn *txn, struct txn_meta out[TREE_SM_HOLDERS_MAX]);

/**
 * @brief Whether the intent of a transaction whose part for this shard is
 * @p part (a packed WriteRequest) would now be refused as a conflict with a
 * transaction that holds the shard: the two parts do not commute (each
 * applied beside the other, both ways, by tree_apply_beside()), one of them
 * is a cut's, or they carry the same submit key. Holders for which
 * @p passes (may be NULL) is true are left out: the caller knows the intent
 * will come after their resolution. @p txn is left as it was.
 * @return true or false (true when the store fails).
 */
bool tree_sm_part_waits(struct tree_sm *t, struct store_txn *txn, const uint8_t *part, size_t len,
			bool (*passes)(void *ctx, uint64_t txn_id), void *ctx);

/**
 * @brief Whether parts @p a and @p b of two transactions for this shard
 * would not hold it at once (as for tree_sm_part_waits()), applied now in
 * @p txn (left as it was).
 * @return true or false (true when the store fails).
 */
bool tree_sm_parts_meet(struct tree_sm *t, struct store_txn *txn, const uint8_t *a, size_t a_len, const uint8_t *b,
			size_t b_len);

/**
 * @brief The index that applied submit key @p key in tree @p t (0: none
 * remembered; a key of TREE_SM_KEY_MAX bytes or more never is).
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ECORRUPT.
 */
int tree_sm_key_applied(struct tree_sm *t, struct store_txn *txn, const char *key, uint64_t *index);

/**
 * @brief Entry data for command @p kind with @p len bytes of @p body, into
 * @p out (malloc'd; free it).
 * @return its length, or 0 when out of memory.
 */
size_t tree_sm_command(enum tree_cmd kind, const void *body, size_t len, uint8_t **out);

#endif
