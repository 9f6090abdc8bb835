/**
 * @file migrate.h
 * @brief Data directories written by older versions of groved, moved into
 * the current layout once, at start-up.
 *
 * Before a server hosted several groups, the tree's tables ("meta",
 * "nodes", ...) had no group id in their keys, the Raft state lived in
 * "raft_state" and, before the log had a file of its own, the log in
 * "raft_log"; a single node kept no Raft log at all. All of it becomes
 * group 1's: the log (if still in LMDB) is written into a log directory
 * beside its place, synced and renamed into it, then the tables, applied
 * index, membership and address book are copied and the old databases
 * dropped in one transaction. A failure or crash before the rename leaves
 * the old layout whole, and the next start begins again; one after it finds
 * the old databases still there and does the second step again. A single node's store becomes the
 * snapshot its group's log starts after.
 */
#ifndef GROVE_SERVER_MIGRATE_H
#define GROVE_SERVER_MIGRATE_H

#include <stdint.h>

#include "src/server/groupstate.h"
#include "src/server/membership.h"
#include "storage/store.h"

/**
 * @brief Move an older layout in @p s (and its log into @p log_dir) into the
 * current one; nothing to do for a current or new directory.
 * @param founders the members this server is started with (NULL for a joining member).
 * @return GROVE_OK, GROVE_EINVAL (an old single node started as a cluster
 * member; logged), GROVE_ECORRUPT (half an old layout), GROVE_EIO,
 * GROVE_ESTORAGE, GROVE_ENOMEM.
 */
int migrate_data_dir(struct store *s, store_db state_db, const char *log_dir, const struct membership *founders,
		     uint64_t self);

#endif
