/**
 * @file lmdbstore.h
 * @brief The shard state machine's storage (struct txn_store, shard.h) in
 * LMDB, one Raft group's part of six tables shared by every group of a
 * store.
 *
 * Tables (named databases of the store, one per enum txn_table):
 * "txn.intents", "txn.versions", "txn.tscache", "txn.records",
 * "txn.finished", "txn.meta". Every key is the group id (u64 big-endian)
 * followed by the key shard.h lays out, so a group's state is one contiguous
 * range of each table and one environment holds many groups. A struct
 * txn_store handed out here adds the group id to every key it is given and
 * strips it from every key it hands out; a seek never leaves the group's
 * range.
 *
 * The store works inside a store transaction chosen by the caller, normally
 * the Raft apply transaction (or a nested transaction of it per command, so
 * that a command whose apply fails leaves nothing: shard.h, "Atomicity").
 * Bytes handed out are LMDB's: valid until the next put or del, or the end
 * of the transaction, whichever comes first.
 *
 * Errors of the struct txn_store functions are those shard.h allows:
 * GROVE_ENOTFOUND, GROVE_ESTORAGE (an LMDB error, or a key longer than a
 * table takes: both logged to stderr), GROVE_ENOMEM. TXN_KEY_MAX is sized so
 * that every key the state machine builds fits with the group id.
 *
 * Snapshots: txn_lmdbstore_dump() hands out a group's records without the
 * group id, so that txn_lmdbstore_load_begin() and txn_lmdbstore_load_record()
 * can put them into any group (the shape of tree_dump() and tree_load_*()).
 *
 * Threading: as store.h. The tables are opened once, at start-up.
 */
#ifndef GROVE_TXN_LMDBSTORE_H
#define GROVE_TXN_LMDBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "src/txn/shard.h"
#include "storage/store.h"

/** The six tables of a store, shared by every group. Fill with txn_lmdbstore_open(); nothing to free. */
struct txn_lmdbstore_tables {
	store_db db[TXN_TABLE_COUNT]; /**< indexed by enum txn_table */
};

/**
 * One group's transaction state inside one store transaction: the backend
 * behind a struct txn_store. The caller fills it and owns it; nothing to
 * free. @c txn may be changed between calls (a new apply transaction); a
 * struct txn_store made from it then uses the new one.
 */
struct txn_lmdbstore {
	const struct txn_lmdbstore_tables *tables; /**< from txn_lmdbstore_open(); must outlive this */
	uint64_t group;                            /**< the Raft group whose keys it reads and writes */
	struct store_txn *txn;                     /**< a write transaction (or a read one, for get and seek only) */
};

/**
 * @brief Open the six tables in @p store, creating them if needed. Call once
 * at start-up, before transactions run in other threads (store_db_open()).
 * @param out receives the handles (valid while @p store is open).
 * @return GROVE_OK, GROVE_ESTORAGE (including too many databases).
 */
int txn_lmdbstore_open(struct store *store, struct txn_lmdbstore_tables *out);

/**
 * @brief The struct txn_store that reads and writes @p b's group in @p b's
 * transaction. @p b is borrowed: it must live, and its transaction be open,
 * while the struct txn_store is used.
 */
struct txn_store txn_lmdbstore_store(struct txn_lmdbstore *b);

/**
 * @brief Hand every record of group @p group to @p emit: table by table in
 * the order of enum txn_table (@p table is that number), keys in order and
 * without the group id. The bytes are borrowed during the call. Stops at
 * @p emit's first non-zero return and returns it. @p txn is not written.
 * @return GROVE_OK, @p emit's value, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int txn_lmdbstore_dump(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group,
		       int (*emit)(void *ctx, unsigned table, const void *key, size_t key_len, const void *val,
				   size_t val_len),
		       void *ctx);

/**
 * @brief Delete every record of group @p group from the six tables (the
 * group was removed, or its state is about to be replaced). Other groups are
 * left alone. @return GROVE_OK, GROVE_ESTORAGE.
 */
int txn_lmdbstore_delete(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group);

/**
 * @brief Replace group @p group's transaction state with dumped records:
 * txn_lmdbstore_load_begin() deletes it all (txn_lmdbstore_delete()), then
 * txn_lmdbstore_load_record() puts one record as txn_lmdbstore_dump() handed
 * it out. The records are not decoded: the state machine checks them when it
 * reads them (GROVE_ECORRUPT).
 * @return GROVE_OK, GROVE_ECORRUPT (a table number out of range, or a key
 * longer than a table takes; nothing written), GROVE_ESTORAGE (abort @p txn).
 */
int txn_lmdbstore_load_begin(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group);
int txn_lmdbstore_load_record(const struct txn_lmdbstore_tables *tables, struct store_txn *txn, uint64_t group,
			      unsigned table, const void *key, size_t key_len, const void *val, size_t val_len);

#endif
