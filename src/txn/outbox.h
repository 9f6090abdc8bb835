/**
 * @file outbox.h
 * @brief Private to src/txn: the queue of messages a coordinator or a status
 * recovery has for its caller, each holding its own copy of its bytes so
 * that it stays valid whatever its sender does next, until taken.
 */
#ifndef GROVE_TXN_OUTBOX_H
#define GROVE_TXN_OUTBOX_H

#include <stddef.h>

#include "src/txn/txn.h"

struct txn_outbox {
	struct txn_msg *msgs; /**< queued messages, oldest first */
	void **blocks;        /**< blocks[i]: the allocation msgs[i]'s bytes live in */
	size_t n;             /**< queued */
	size_t cap;           /**< room in msgs and blocks */
};

/** Queue a deep copy of @p cmd for @p shard. @return GROVE_OK or GROVE_ENOMEM (nothing queued). */
int outbox_push(struct txn_outbox *o, uint64_t shard, const struct txn_cmd *cmd);

/** Drop the @p n oldest messages (the caller has taken them). */
void outbox_take(struct txn_outbox *o, size_t n);

/** Drop everything and free the queue. */
void outbox_free(struct txn_outbox *o);

#endif
