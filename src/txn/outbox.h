/**
 * @file outbox.h
 * @brief Private to src/txn: the queue of messages a coordinator or a status
 * recovery has for its caller, each holding its own copy of its bytes so
 * that it stays valid whatever its sender does next, until taken; and the
 * timer that sends unanswered ones again.
 */
#ifndef GROVE_TXN_OUTBOX_H
#define GROVE_TXN_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/**
 * When unanswered commands go again. The wait doubles with every resend up to
 * a ceiling, so that a shard whose commits stall (no quorum) is not sent a
 * copy of every command each interval for as long as the stall lasts; it
 * starts again at the base interval when the sender moves on or hears an
 * answer.
 */
struct txn_resend {
	uint64_t base_ns; /**< the first wait; > 0 */
	uint64_t max_ns;  /**< the ceiling (at least base_ns) */
	uint64_t wait_ns; /**< the wait before the next resend */
	uint64_t due;     /**< the time of the next resend */
};

/** A timer with @p base_ns and a ceiling of @p max_ns (below base_ns: none), due @p base_ns after @p pt. */
void resend_init(struct txn_resend *r, uint64_t base_ns, uint64_t max_ns, uint64_t pt);

/** The sender moved on (sent something new): the next resend is the base interval after @p pt. */
void resend_restart(struct txn_resend *r, uint64_t pt);

/** An answer came (the shards are committing): the wait is the base interval again, from @p pt at the latest. */
void resend_relax(struct txn_resend *r, uint64_t pt);

/** @return whether a resend is due at @p pt; if so, the next one is due after twice the wait (at most the ceiling). */
bool resend_due(struct txn_resend *r, uint64_t pt);

#endif
