/**
 * @file stores.h
 * @brief The shard stores the transaction tests run on, one per group id:
 * in memory (a txn_memstore per group) or in LMDB (one environment in a
 * temporary directory, every group's state in the same tables through
 * src/txn/lmdbstore.h).
 *
 * With LMDB a write transaction is begun when a store is first used and
 * ends when the caller says a command was applied (stores_applied()): it is
 * committed, or aborted when the state machine's error says its writes must
 * be discarded (shard.h, "Atomicity"). Reads between commands (the tests'
 * checks) happen in the transaction the next command then applies in. The
 * environment is opened without fsync: nothing here survives the process.
 *
 * Failures to set up (a directory, the environment) fail the test program;
 * errors of the stores themselves are returned to the caller.
 */
#ifndef GROVE_TESTS_TXN_STORES_H
#define GROVE_TESTS_TXN_STORES_H

#include <stddef.h>
#include <stdint.h>

#include "src/txn/shard.h"

/** Where the stores keep their state. */
enum stores_kind {
	STORES_MEMORY, /**< a txn_memstore per group */
	STORES_LMDB    /**< one LMDB environment, a group id per store */
};

struct stores;

/** @brief Empty stores of @p kind; release with stores_close(). */
struct stores *stores_open(enum stores_kind kind);

/** @brief End an open transaction (aborted), free everything, remove the directory. NULL is allowed. */
void stores_close(struct stores *s);

/** @brief What @p s keeps its state in. */
enum stores_kind stores_kind(const struct stores *s);

/** @brief "memory" or "lmdb". */
const char *stores_kind_name(enum stores_kind kind);

/**
 * @brief The store of group @p group (created empty the first time). It
 * stays usable across commands: with LMDB each call of it runs in the
 * transaction open at the time, begun if there is none.
 */
struct txn_store stores_of(struct stores *s, uint64_t group);

/**
 * @brief A command was applied (or failed to apply) with @p err: with LMDB,
 * commit the transaction, or abort it when @p err is neither GROVE_OK nor
 * GROVE_EINVAL.
 * @return @p err, or the commit's error when @p err was fine but the commit
 * failed.
 */
int stores_applied(struct stores *s, int err);

/**
 * @brief Entries of group @p group in @p table, counted through its store.
 * @return the count, or (size_t)-1 on a store error.
 */
size_t stores_count(struct stores *s, uint64_t group, enum txn_table table);

/** @brief Delete group @p group's whole state (and commit, with LMDB). @return GROVE_OK or a store error. */
int stores_forget(struct stores *s, uint64_t group);

#endif
