/**
 * @file shard_sm.h
 * @brief The shard map (src/shard/shardmap.h) as the meta group's state
 * machine, kept in LMDB.
 *
 * Entry data is a shard map command (shard_cmd_encode()). Applying one runs
 * shard_map_apply() on the map as applied so far and, when the map changed,
 * writes the whole map (it is small: one entry per shard) under the meta
 * group's id in the database "shard.map", in the apply transaction. The map
 * as applied is also kept in memory, for routing. A command the map refuses
 * changes nothing and is answered with the refusal; the result's first id
 * is the group the command was about (START_SPLIT: the new group).
 *
 * Snapshots hold one record (table SHARD_SM_TABLE_MAP, key "map").
 */
#ifndef GROVE_SERVER_SHARD_SM_H
#define GROVE_SERVER_SHARD_SM_H

#include <stddef.h>
#include <stdint.h>

#include "src/server/statemachine.h"
#include "src/shard/shardmap.h"
#include "storage/store.h"

/** The snapshot table of the map's record. */
#define SHARD_SM_TABLE_MAP 64

/** The meta group's state. */
struct shard_sm {
	uint64_t group;        /**< the meta group */
	struct shard_map map;  /**< as applied */
	store_db db;           /**< "shard.map" */
};

/** The operations of the shard map state machine; its state is a struct shard_sm. */
extern const struct state_machine_ops shard_sm_ops;

/**
 * @brief Open the meta group @p group's map in @p store: the stored one, or
 * a map whose only shard is the world (@p world, with @p n members
 * @p members) and whose splits get ids from @p first_group on.
 * @return GROVE_OK, GROVE_ESTORAGE, GROVE_ECORRUPT, GROVE_ENOMEM, GROVE_EINVAL.
 */
int shard_sm_open(struct store *store, uint64_t group, uint64_t world, uint64_t first_group, const uint64_t *members,
		  size_t n, struct shard_sm *out);

/** @brief Release the in-memory map. */
void shard_sm_close(struct shard_sm *s);

#endif
