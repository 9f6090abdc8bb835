/**
 * @file xshard.h
 * @brief Cross-shard writes on this member: a coordinator per write that
 * spans shards, and status recoveries of transactions found in the way.
 *
 * A write that names nodes of several shards becomes a transaction of
 * src/txn (parallel commits, tla/parallel_commits/ParallelCommits.tla): one
 * intent per shard, whose value is that shard's part of the write (a packed
 * WriteRequest, see tree_sm.h TREE_CMD_TXN), and a STAGING record on the
 * first part's shard (the anchor). The client is answered once the record
 * is STAGING and every intent landed at its timestamp: one round of
 * consensus. The record then becomes COMMITTED and each shard applies its
 * part when its intent is resolved.
 *
 * The transaction layer's coordinators and recoveries are pure state
 * machines (coord.h, recover.h); this module drives them. Their commands are
 * proposed to the shards' groups through a hook (host_send_command(): here
 * if this member leads the group, else by its leader) and nobody waits for a
 * proposal: every member applies every group's log, so a command's result
 * comes back when this member applies it (xshard_applied()). A command lost
 * on the way is sent again by the state machine that sent it, on a tick.
 *
 * A status recovery (recover.h) is started for a transaction whose intent
 * holds a shard that this member leads, when its record is final (the
 * intents were left unresolved) or its heartbeat expired (its coordinator
 * is gone): xshard_recover(). Its outcome resolves the intents.
 *
 * Held back. What a committed transaction sends after its answer (the
 * record's FINALIZE, the resolutions of its intents, the FORGET) needs a log
 * flush of its groups, and a transaction proposed while that flush runs
 * waits for it: a client writing across the same shards back to back paid
 * about one flush more per write than one writing in a single shard. So
 * while transactions keep beginning soon after the last answer (two of the
 * latest within 1 ms of one: xshard_config.hold_ns), those commands wait for
 * the next transaction's, which goes into the same flush behind them, or at
 * most 1 ms (xshard_release_due()). A held resolution delays only its parts'
 * apply; whatever would wait for that apply releases it (xshard_release():
 * a write or read that meets the transaction's hold), and a writer whose
 * transactions are far apart never has its commands held.
 *
 * Time: @p pt arguments are this member's physical time in ns (CLOCK_REALTIME),
 * which the member's hybrid clock turns into timestamps. Single-threaded:
 * call everything from the event loop.
 */
#ifndef GROVE_SERVER_XSHARD_H
#define GROVE_SERVER_XSHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/hlc/hlc.h"
#include "src/server/host.h"
#include "src/tree/tree.h"
#include "src/txn/txn.h"

/** How a cross-shard write ended, for the done hook. All borrowed for the call. */
struct xshard_outcome {
	int code;             /**< GROVE_OK (committed, or a duplicate of a keyed write that was) or the refusal */
	const char *message;  /**< the refusal's reason ("" if none) */
	size_t failed_op;     /**< a refusal's op, as the client numbered it */
	/**
	 * GROVE_OK: the index the anchor's intent was first written at in the anchor's log, which is also the index
	 * its submit key is remembered at; for a duplicate, that of the transaction that applied the key.
	 */
	uint64_t index;
	uint64_t group;       /**< the anchor's group */
	const uint64_t *ids;  /**< per op of the client's batch, as tree_result.ids (NULL for a duplicate) */
	size_t n_ids;
	const char *key;      /**< the write's submit key, "" if none */
	uint64_t txn;         /**< the transaction's id */
};

/** What the module needs from the server. */
struct xshard_hooks {
	void *ctx;
	/** Have TREE_CMD_TXN command body @p cmd (@p len bytes, borrowed) proposed to @p group. */
	int (*send)(void *ctx, uint64_t group, const uint8_t *cmd, size_t len);
	/** A cross-shard write ended (called once per xshard_begin() that succeeded). */
	void (*done)(void *ctx, const struct host_ticket *t, const struct xshard_outcome *o);
	/**
	 * The lanes (bit tree_sm_lane()) of the transactions that hold @p group as applied here; NULL: none
	 * known. A transaction begun takes a lane that neither those nor the transactions coordinated here
	 * use in its groups, while there is one: two transactions on one lane of two shards could each hold
	 * one and wait for the other until one times out.
	 */
	uint32_t (*lanes_held)(void *ctx, uint64_t group);
};

/** How to behave. Zero fields take the defaults in brackets. */
struct xshard_config {
	uint64_t self;               /**< this member's id: the high 16 bits of its transactions' ids */
	struct hlc_clock *clock;     /**< the member's hybrid clock (borrowed; outlives the module) */
	uint64_t expiry_ns;          /**< a coordinator silent this long is gone [2 s] */
	uint64_t retry_interval_ns;  /**< unanswered commands are sent again after this [200 ms] */
	uint64_t retry_max_ns;       /**< and after twice as long each time, up to this [1.6 s] */
	bool two_phase;              /**< benchmarks only: answer once the record is COMMITTED, not at the implicit
	                                  commit (the round that parallel commits save, measured) */
	size_t max_txns;             /**< transactions coordinated at once, at most [1,024] */
	size_t max_bytes;            /**< bytes of their parts held at once, at most (one may pass it) [256 MiB] */
	uint64_t hold_ns;            /**< how soon after an answer a transaction counts as back to back, and how
	                                  long commands held back wait at most ("Held back") [1 ms] */
};

/** One shard's part of a write: a packed WriteRequest of the ops that go to @c group. */
struct xshard_part {
	uint64_t group;           /**< the shard */
	const uint8_t *request;   /**< the packed WriteRequest (borrowed for xshard_begin()) */
	size_t len;               /**< its bytes */
};

/** Where each op of the client's batch went: op i is op @c op_index[i] of part @c op_part[i]. */
struct xshard_ops {
	const uint32_t *op_part;  /**< per client op */
	const uint32_t *op_index; /**< per client op */
	size_t n;                 /**< ops in the client's batch */
};

struct xshard;

/** @return GROVE_OK, GROVE_EINVAL (no clock or id), GROVE_ENOMEM. */
int xshard_create(const struct xshard_config *cfg, const struct xshard_hooks *hooks, struct xshard **out);

/** @brief Free everything; writes not answered yet are not answered (the server is closing). NULL is allowed. */
void xshard_destroy(struct xshard *x);

/**
 * @brief Begin the transaction of a write whose @p n parts go to different
 * shards (at least two); the first part's shard is the anchor. The parts are
 * copied. Its end goes to the done hook with @p t and @p key (the write's
 * submit key, copied; NULL or "": none), which every part must carry
 * (txn_plan_build() puts it there): a part refused as a duplicate of that
 * key ends the write with GROVE_OK and the index that applied it (the
 * anchor's, if the anchor refused its part too; else that shard's, with its
 * group). Of two transactions that each hold a shard the other needs (begun
 * on two members), the older pushes the younger out at once (wound-wait, as
 * with a cut below), whose client is told to retry.
 * @return GROVE_OK, GROVE_EINVAL (fewer than two parts, a group twice, an op
 * mapped outside the parts), GROVE_ETOOBIG (a part over TXN_VALUE_MAX, a key
 * of TREE_SM_KEY_MAX bytes or more), GROVE_EUNAVAILABLE (xshard_full(): try
 * again once one ended), GROVE_ENOMEM.
 */
int xshard_begin(struct xshard *x, const struct host_ticket *t, const char *key, const struct xshard_part *parts,
		 size_t n, const struct xshard_ops *ops, uint64_t pt);

/**
 * @brief Begin a cut of the world (cut.h): a transaction whose part on each
 * of the @p n groups @p groups (at least two, the anchor first) has no ops
 * and only holds its shard while the transaction runs. Its end goes to the
 * done hook with @p t; a committed outcome names the transaction
 * (xshard_outcome.txn). Its id is odd (every other transaction's is even).
 * Between a cut and another transaction the older goes on (wound-wait), as
 * between any two: an intent of a younger one in the way is pushed at once,
 * whatever its heartbeat (txn_recover_config.forced): aborted if not staged
 * (a write's client is told to retry), recovered if staged; an older one is
 * waited for. @p age:
 * zero for a new cut, which gets its transaction's start; a cut begun again
 * after it gave up passes it back, and keeps its age.
 * @return as xshard_begin().
 */
int xshard_begin_cut(struct xshard *x, const struct host_ticket *t, const uint64_t *groups, size_t n,
		     struct hlc_ts *age, uint64_t pt);

/**
 * @brief Whether this member coordinates as many transactions (or bytes of
 * their parts) as its configuration allows: a new one must wait until one
 * ended (it ends when its last command, a FORGET, is applied here).
 */
bool xshard_full(const struct xshard *x);

/**
 * @brief Group @p group applied a transaction command here at @p index (the
 * host's txn_applied hook). Its result goes to the coordinator or recovery
 * that sent it; a resolution also sends again, at once, every write of a
 * transaction coordinated here that the resolved intent blocked.
 */
void xshard_applied(struct xshard *x, uint64_t group, uint64_t index, const struct tree_result *res, uint64_t pt);

/**
 * @brief Recover the transaction whose intent @p met holds shard @p shard
 * (its coordinator is not on this member, or is gone): one recovery per
 * transaction at a time; a transaction coordinated here is left to its
 * coordinator. @return GROVE_OK, GROVE_ENOMEM.
 */
int xshard_recover(struct xshard *x, const struct txn_meta *met, uint64_t shard, uint64_t pt);

/** @brief Whether transaction @p id is coordinated or recovered on this member now. */
bool xshard_busy_with(const struct xshard *x, uint64_t id);

/**
 * @brief Whether transaction @p id is coordinated here and has sent the
 * resolution of every intent (early, with its acknowledgement, or by its
 * final record), none of its commands held back. A command this member sends to one of its shards after
 * that is applied after the resolution, unless the shard's leader changed
 * in between (then the command meets the intent, and waits or is refused,
 * as any command that meets one).
 */
bool xshard_resolution_sent(const struct xshard *x, uint64_t id);

/**
 * @brief Whether a transaction coordinated here sent an intent to @p group
 * and not yet its resolution: its intent is in the group's log or on its
 * way, though this member may not have applied it yet. A write or
 * transaction proposed to the group now would meet it.
 */
bool xshard_writing_to(const struct xshard *x, uint64_t group);

/**
 * @brief Call @p fn with the part of each transaction coordinated here that
 * xshard_writing_to() counts for @p group (a packed WriteRequest, borrowed
 * for the call; empty for a cut's), until one returns true.
 * @return whether one did.
 */
bool xshard_any_part_to(const struct xshard *x, uint64_t group, bool (*fn)(void *ctx, const uint8_t *part, size_t len),
			void *ctx);

/**
 * @brief Send every command held back now, in the order they were made.
 * @return whether there were any.
 */
bool xshard_release(struct xshard *x);

/** @brief When the commands held back are due to be sent (pt), 0 if none is held. */
uint64_t xshard_held_until(const struct xshard *x);

/**
 * @brief Send the commands held back if they are due by @p pt
 * (xshard_held_until()). @return whether any were sent.
 */
bool xshard_release_due(struct xshard *x, uint64_t pt);

/** @brief Time passes: heartbeats, commands sent again, timeouts, held commands due. */
void xshard_tick(struct xshard *x, uint64_t pt);

/** @brief The expiry the module was configured with (ns). */
uint64_t xshard_expiry(const struct xshard *x);

/** @brief Transactions coordinated here that are not done, and recoveries running. */
void xshard_counts(const struct xshard *x, size_t *coordinating, size_t *recovering);

#endif
