/**
 * @file statemachine.h
 * @brief What a replica drives: a deterministic state machine kept in LMDB.
 *
 * A replica (replica.h) hands its state machine every committed entry in
 * log order, inside the store transaction that also records the applied
 * index, so the two never disagree after a crash. The state machine never
 * looks at time, randomness or which server it runs on: every member that
 * applies the same entries reaches the same state. Snapshots are its whole
 * state as records (storage/snapshot.h), taken from one read transaction.
 *
 * The scene tree (tree_sm.h) is one; transaction records and the shard map
 * are to be others.
 */
#ifndef GROVE_SERVER_STATEMACHINE_H
#define GROVE_SERVER_STATEMACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "src/tree/tree.h"
#include "storage/snapshot.h"
#include "storage/store.h"

struct state_machine_ops {
	/**
	 * Apply entry data @p data (@p len bytes, never empty) committed at
	 * @p index, inside @p txn. The command's own outcome (applied, or refused
	 * with a reason) goes to @p out: err and message for every state
	 * machine; ids and change records for the tree.
	 * @return GROVE_OK, or a failure that is not the command's fault
	 * (GROVE_ESTORAGE, GROVE_ENOMEM): the replica must stop.
	 */
	int (*apply)(void *sm, struct store_txn *txn, uint64_t index, const uint8_t *data, size_t len,
		     struct tree_result *out);
	/** Add every record of the state to @p b. @return GROVE_OK, GROVE_ESTORAGE, GROVE_ENOMEM. */
	int (*snapshot)(void *sm, struct store_txn *txn, struct snapshot_builder *b);
	/**
	 * Replace the state with snapshot @p data, which is verified before
	 * anything changes. @return GROVE_OK, GROVE_ECORRUPT (reason in @p why),
	 * GROVE_ETOOBIG, GROVE_ESTORAGE, GROVE_ENOMEM; on error @p txn must be aborted.
	 */
	int (*restore)(void *sm, struct store_txn *txn, const uint8_t *data, size_t len, char *why, size_t why_cap);
};

/** A state machine: its operations and its state. */
struct state_machine {
	const struct state_machine_ops *ops; /**< what it does */
	void *sm;                            /**< what it is, passed to every operation */
};

#endif
