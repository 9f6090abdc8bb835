/**
 * @file forward.h
 * @brief Point-in-time restore: a snapshot of the world (storage/snapshot.h)
 * brought forward to a later index with the change records of the entries
 * after it, and made into a snapshot of that index again.
 *
 * The snapshot's scene tree is loaded into a scratch LMDB store; each entry's
 * changes are then made again with tree_replay(), which checks that every id
 * comes out as recorded; the result is dumped as a snapshot whose applied
 * index is the later one. Records of tables that are not the tree's (a
 * server's submit keys) are carried through as they were: they are those of
 * the first snapshot's index.
 *
 * What the records cannot show is refused, never guessed: a stored resource
 * (its record has no uid), and any stretch of indexes with no records seen
 * after a state with an empty world, where a `grove snapshot restore` may
 * have replaced the world without leaving a record.
 */
#ifndef GROVE_TREE_FORWARD_H
#define GROVE_TREE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "src/tree/tree.h"
#include "storage/snapshot.h"

struct tree_forward;

/**
 * @brief Verify snapshot @p data and load it into a new scratch store in
 * directory @p dir (created; must not hold a store already).
 * @param out receives the state at the snapshot's index; release with tree_forward_close().
 * @param why receives the reason on error (may be NULL).
 * @return GROVE_OK, GROVE_ECORRUPT (the snapshot does not verify or holds no
 * scene tree), GROVE_EIO, GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int tree_forward_open(const uint8_t *data, size_t len, const char *dir, struct tree_forward **out, char *why,
		      size_t why_cap);

/** @brief The index of the state held now: the snapshot's, then the last entry applied. */
uint64_t tree_forward_index(const struct tree_forward *f);

/**
 * @brief Apply the changes of entry @p index (after every entry applied so
 * far; entries between that recorded no changes may be skipped). All or
 * nothing.
 * @return GROVE_OK; GROVE_ERANGE (@p index not after the state's);
 * GROVE_EINVAL (a change that cannot be made exactly, or a stretch of
 * indexes after an empty world, see above); GROVE_ECORRUPT (the changes were
 * not made on this state); GROVE_ESTORAGE, GROVE_ENOMEM. The reason goes to
 * @p why.
 */
int tree_forward_apply(struct tree_forward *f, uint64_t index, const struct tree_change *changes, size_t n, char *why,
		       size_t why_cap);

/**
 * @brief The snapshot of the state at @p index, which is the state's index
 * or later with no changes between (the caller knows the entries up to
 * @p index recorded none after the last applied).
 * @param out receives it; release with snapshot_free().
 * @return GROVE_OK; GROVE_ERANGE (@p index before the state's); GROVE_EINVAL
 * (the world was empty at the state's index, which is before @p index);
 * GROVE_ESTORAGE, GROVE_ENOMEM, GROVE_EIO.
 */
int tree_forward_finish(struct tree_forward *f, uint64_t index, struct snapshot *out, char *why, size_t why_cap);

/** @brief Close the scratch store and remove its files. NULL is allowed. */
void tree_forward_close(struct tree_forward *f);

#endif
