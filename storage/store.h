/**
 * @file store.h
 * @brief The durable store: one LMDB environment per server, holding named
 * databases.
 *
 * This is the narrow interface every LMDB user in grove goes through. It
 * knows nothing about what the bytes mean: each module opens the databases
 * it owns by name with store_db_open() and documents their key and value
 * layout itself (the scene tree its tables in src/tree/tree.h, a replica its
 * applied index and membership in src/server/replica.h). Keys that belong to
 * a Raft group start with the group id, so one environment holds many groups.
 *
 * Durability contract: store_txn_commit() on a write transaction returns only
 * after the transaction is on stable storage (LMDB's default sync mode), so
 * whatever a caller acknowledges after a successful commit survives kill -9
 * and power loss, unless the store was opened lazy_sync (see store_options).
 * A crash before the commit returns leaves no trace of the transaction.
 * Nested write transactions give all-or-nothing sub-batches inside one
 * commit (group commit).
 *
 * Threading: one writer at a time (LMDB's rule); read transactions may run in
 * other threads. A struct store_txn must be used by one thread. Databases are
 * opened once, at start-up, before transactions run in other threads.
 *
 * Values returned by store_get() and cursors point into LMDB's memory map:
 * they are valid until the transaction ends or the database is next written
 * in that transaction, and must not be modified.
 */
#ifndef GROVE_STORAGE_STORE_H
#define GROVE_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest key a database accepts (LMDB's limit). */
#define STORE_KEY_MAX 511

/** A named database of an environment (an LMDB dbi), valid while the environment is open. */
typedef unsigned store_db;

/** An open environment. */
struct store;
/** A read or write transaction. */
struct store_txn;
/** A cursor over one table inside a transaction. */
struct store_cursor;

/** Options for store_open(). Zero-initialize, then set what you need. */
struct store_options {
	size_t map_size;  /**< maximum size of the data file in bytes; 0 = 64 GiB */
	bool no_sync;     /**< skip fsync on commit: ONLY for benchmarks and tests that say so */
	/**
	 * Commit syncs the data pages but not the meta page (one fsync, not two): a system crash may then
	 * undo the last commits, never corrupt the store. For a store whose changes a log elsewhere can
	 * replay; store_sync() makes every commit so far durable.
	 */
	bool lazy_sync;
};

/** A borrowed byte string (key or value). */
struct store_bytes {
	const void *data; /**< start of the bytes */
	size_t len;       /**< number of bytes */
};

/**
 * @brief Open (creating if needed) the environment in directory @p dir.
 *
 * Creates @p dir if it does not exist. Opening a directory whose data was
 * left by a killed process is always safe: LMDB's copy-on-write pages mean
 * the last committed transaction is what is found.
 * @param out receives the environment; release with store_close().
 * @param opts may be NULL for defaults.
 * @return GROVE_OK, GROVE_EIO (directory or lock problem; see the log),
 * GROVE_ESTORAGE (LMDB error), GROVE_ENOMEM.
 */
int store_open(struct store **out, const char *dir, const struct store_options *opts);

/** @brief Close the environment. Every transaction must have ended. NULL is allowed. */
void store_close(struct store *s);

/**
 * @brief Open the database @p name (at most 63 bytes), creating it if @p create.
 * Opening the same name again gives the same handle.
 * @return GROVE_OK, GROVE_ENOTFOUND (absent and not @p create), GROVE_ESTORAGE
 * (including too many databases: see the log).
 */
int store_db_open(struct store *s, const char *name, bool create, store_db *out);

/**
 * @brief Delete database @p db and its contents when @p txn commits (a data
 * directory's migration retiring an old layout). The handle is invalid after.
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int store_db_drop(struct store_txn *txn, store_db db);

/**
 * @brief Begin a transaction.
 * @param parent NULL for a top-level transaction, or an open write
 *        transaction to begin a nested one (then @p write must be true): the
 *        nested transaction's changes become part of the parent on commit and
 *        vanish on abort. While a child is open the parent must not be used.
 * @param out receives the transaction.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int store_txn_begin(struct store *s, struct store_txn *parent, bool write, struct store_txn **out);

/**
 * @brief Make every committed transaction durable (for a store opened
 * lazy_sync or no_sync; otherwise they already are).
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int store_sync(struct store *s);

/**
 * @brief Commit and free @p txn. For a top-level write transaction this
 * returns after the data is durable (unless the store was opened no_sync or
 * lazy_sync).
 * @return GROVE_OK, GROVE_ENOSPC (the file system is full), or
 * GROVE_ESTORAGE (either way nothing of @p txn is stored, and @p txn is
 * freed all the same). The store never maps its file writable
 * (MDB_WRITEMAP), so a full disk is an error here, never a SIGBUS.
 */
int store_txn_commit(struct store_txn *txn);

/** @brief The environment @p txn belongs to (to begin a nested transaction). */
struct store *store_txn_store(struct store_txn *txn);

/** @brief Discard and free @p txn. NULL is allowed. */
void store_txn_abort(struct store_txn *txn);

/**
 * @brief Look up @p key in @p db.
 * @param val receives a borrowed view of the value (see the file comment).
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ESTORAGE.
 */
int store_get(struct store_txn *txn, store_db db, const void *key, size_t key_len,
	      struct store_bytes *val);

/**
 * @brief Insert @p key in @p db unless it is there (one search where a get and a put take two).
 * @param old receives the value already there when GROVE_EEXIST (valid as store_get()'s); may be NULL.
 * @return GROVE_OK (inserted), GROVE_EEXIST (nothing changed), GROVE_EINVAL (empty key or key over 511
 * bytes), GROVE_ESTORAGE.
 */
int store_put_new(struct store_txn *txn, store_db db, const void *key, size_t key_len, const void *val,
		  size_t val_len, struct store_bytes *old);

/**
 * @brief Insert or replace @p key in @p db.
 * @return GROVE_OK, GROVE_EINVAL (empty key or key over 511 bytes),
 * GROVE_ESTORAGE (includes a full map: see the log).
 */
int store_put(struct store_txn *txn, store_db db, const void *key, size_t key_len,
	      const void *val, size_t val_len);

/**
 * @brief Delete @p key from @p db.
 * @return GROVE_OK, GROVE_ENOTFOUND, GROVE_ESTORAGE.
 */
int store_del(struct store_txn *txn, store_db db, const void *key, size_t key_len);

/**
 * @brief Read the 8-byte little-endian value of @p key; @p *value = @p dflt if absent.
 * @return GROVE_OK, GROVE_ECORRUPT (not 8 bytes), GROVE_ESTORAGE.
 */
int store_get_u64(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t dflt,
		  uint64_t *value);

/** @brief Write @p value as 8 little-endian bytes under @p key. Same returns as store_put(). */
int store_put_u64(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t value);

/**
 * @brief Read the two 8-byte little-endian values of @p key; both 0 if absent.
 * @return GROVE_OK, GROVE_ECORRUPT (not 16 bytes), GROVE_ESTORAGE.
 */
int store_get_u64_pair(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t *a, uint64_t *b);

/** @brief Write @p a and @p b as 16 little-endian bytes under @p key. Same returns as store_put(). */
int store_put_u64_pair(struct store_txn *txn, store_db db, const void *key, size_t key_len, uint64_t a, uint64_t b);

/**
 * @brief Delete every key of @p db that starts with @p prefix (@p len bytes; all keys when 0).
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int store_del_prefix(struct store_txn *txn, store_db db, const void *prefix, size_t len);

/**
 * @brief Open a cursor on @p db. It starts unpositioned.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int store_cursor_open(struct store_txn *txn, store_db db, struct store_cursor **out);

/** @brief Close a cursor (before its transaction ends). NULL is allowed. */
void store_cursor_close(struct store_cursor *c);

/**
 * @brief Position at the first key >= @p key (the first key of the table
 * when @p key_len is 0).
 * @return GROVE_OK, GROVE_ENOTFOUND (no such key), GROVE_ESTORAGE.
 */
int store_cursor_seek(struct store_cursor *c, const void *key, size_t key_len,
		      struct store_bytes *key_out, struct store_bytes *val_out);

/** @brief Position at the last key of the table. Same returns as seek. */
int store_cursor_last(struct store_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out);

/** @brief Step to the next key. @return GROVE_OK, GROVE_ENOTFOUND at the end, GROVE_ESTORAGE. */
int store_cursor_next(struct store_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out);

/** @brief Step to the previous key. Same returns as store_cursor_next(). */
int store_cursor_prev(struct store_cursor *c, struct store_bytes *key_out, struct store_bytes *val_out);

/**
 * @brief Delete the pair the cursor stands at. The cursor is then not positioned: seek again.
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int store_cursor_del(struct store_cursor *c);

/** @brief Bytes in use by the data file. @return GROVE_OK or GROVE_ESTORAGE. */
int store_file_bytes(struct store_txn *txn, uint64_t *bytes);

/** @brief Number of keys in @p db. @return GROVE_OK or GROVE_ESTORAGE. */
int store_db_entries(struct store_txn *txn, store_db db, uint64_t *entries);

#endif
