/**
 * @file memstore.h
 * @brief An in-memory struct txn_store: a sorted map per table.
 *
 * For tests and simulations of the shard state machine (a shard's apply is
 * durable once applied, so memory is its whole disk there), and for any
 * caller that wants transaction state without LMDB. Keys are ordered as
 * LMDB orders them (bytewise, shorter first on a common prefix). Lookups
 * are binary searches; inserts move the entries after them, which suits
 * tables of thousands of entries, not millions. Not thread-safe.
 */
#ifndef GROVE_TXN_MEMSTORE_H
#define GROVE_TXN_MEMSTORE_H

#include <stddef.h>

#include "src/txn/shard.h"

struct txn_memstore;

/** @brief An empty store. @return GROVE_OK or GROVE_ENOMEM. */
int txn_memstore_create(struct txn_memstore **out);

/** @brief Free the store and everything in it. NULL is allowed. */
void txn_memstore_destroy(struct txn_memstore *m);

/** @brief The struct txn_store that reads and writes @p m (valid while @p m lives). */
struct txn_store txn_memstore_store(struct txn_memstore *m);

/** @brief Number of entries in @p table. */
size_t txn_memstore_count(const struct txn_memstore *m, enum txn_table table);

#endif
