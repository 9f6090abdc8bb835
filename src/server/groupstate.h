/**
 * @file groupstate.h
 * @brief What a server keeps in LMDB about each Raft group it hosts, beside
 * the group's state machine: the applied index, the membership, the last
 * snapshot installed; and, for the whole server, the address book.
 *
 * These are written in the same LMDB transaction as the state machine
 * changes they describe (the applied index with the entries' effects, the
 * membership with the conf change that made it), so a crash never leaves
 * them apart.
 *
 * Layout: one database, "group.state"; keys are the group id (u64
 * big-endian) followed by a name:
 * - "applied"  u64 little-endian: the last entry applied
 * - "conf"     u32 voters, voter ids, u32 learners, learner ids (little-endian)
 * - "snapshot" u64 index, u64 term of the last snapshot installed (the Raft
 *              log is cut behind it; a restart that finds the log older
 *              finishes the install)
 * and under group 0, "members": the address book, per member u64 id, u8
 * length, address.
 */
#ifndef GROVE_SERVER_GROUPSTATE_H
#define GROVE_SERVER_GROUPSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "src/raft/raft.h"
#include "src/server/membership.h"
#include "storage/store.h"

/** @brief Open (creating) the database. @return GROVE_OK, GROVE_ESTORAGE. */
int groupstate_open(struct store *s, store_db *out);

/** @brief The applied index of @p group (0 if none). @return GROVE_OK, GROVE_ECORRUPT, GROVE_ESTORAGE. */
int groupstate_get_applied(struct store_txn *txn, store_db db, uint64_t group, uint64_t *applied);
/** @brief @return GROVE_OK, GROVE_ESTORAGE. */
int groupstate_put_applied(struct store_txn *txn, store_db db, uint64_t group, uint64_t applied);

/**
 * @brief The membership of @p group.
 * @return GROVE_OK, GROVE_ENOTFOUND (a group that never stored one),
 * GROVE_ECORRUPT, GROVE_ESTORAGE.
 */
int groupstate_get_conf(struct store_txn *txn, store_db db, uint64_t group, struct raft_conf *conf);
/** @brief @return GROVE_OK, GROVE_ESTORAGE. */
int groupstate_put_conf(struct store_txn *txn, store_db db, uint64_t group, const struct raft_conf *conf);

/** @brief The last snapshot installed in @p group (0, 0 if none). @return GROVE_OK, GROVE_ECORRUPT, GROVE_ESTORAGE. */
int groupstate_get_snapshot(struct store_txn *txn, store_db db, uint64_t group, uint64_t *index, uint64_t *term);
/** @brief @return GROVE_OK, GROVE_ESTORAGE. */
int groupstate_put_snapshot(struct store_txn *txn, store_db db, uint64_t group, uint64_t index, uint64_t term);

/** @brief Add the stored address book's members to @p book (those it lacks). @return GROVE_OK, GROVE_ESTORAGE. */
int groupstate_load_members(struct store_txn *txn, store_db db, struct membership *book);
/** @brief Store @p book. @return GROVE_OK, GROVE_ESTORAGE. */
int groupstate_save_members(struct store_txn *txn, store_db db, const struct membership *book);

/**
 * @brief The groups (id > 0) that have a membership or an applied index stored, in id order: up to @p cap
 * of them in @p ids, their number in @p *n (which may exceed @p cap).
 * @return GROVE_OK, GROVE_ESTORAGE.
 */
int groupstate_list(struct store_txn *txn, store_db db, uint64_t *ids, size_t cap, size_t *n);

/** @brief Whether any group has applied anything (errors count as yes: nothing is overwritten on a doubt). */
bool groupstate_any_applied(struct store *s, store_db db);

#endif
