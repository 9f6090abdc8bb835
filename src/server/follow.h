/**
 * @file follow.h
 * @brief The server side of the change stream: subscribe requests (from
 * Godot game servers over the gateway protocol of godot/gateway.h, and from
 * C clients over grove's protobuf), the snapshot scene each new subscriber
 * starts from, the events subs.h produces encoded for each protocol, and the
 * batches Godot clients submit.
 *
 * A new subscriber's snapshot is one LMDB read transaction at the applied
 * index N, taken in the loop between two applies, and the subscriber is
 * registered at N in the same step: nothing is missed or repeated.
 *
 * Shards: a subscription follows the shard that holds its subtree's root
 * and every shard below it, in one stream (subs.h): the snapshot is read
 * through all of them at one apply boundary, taken while no transaction
 * holds any of them (a subscribe waits for that, up to 10 s, then is told
 * to retry), so no transaction is in it by halves. Within one shard, event
 * indexes are that group's log indexes; across shards they are sums, and
 * the events also carry the stream's position (subs_position_format():
 * "group:index" per group), which a subscribe resumes from (subs_resume();
 * a position that does not parse is an error and changes nothing). A split
 * that moves the subscribed subtree into a shard of its own hands the stream
 * over to that shard (subs_moved()); a position from before it resumes
 * there too, the group it split from kept in the position. Submits are routed
 * to the shard of the nodes they name; one that names several is handed to the server's write across
 * shards (follow_config.submit_across), which answers it, once, through
 * follow_submit_done(): its key holds across the transaction.
 */
#ifndef GROVE_SERVER_FOLLOW_H
#define GROVE_SERVER_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/server/host.h"
#include "src/server/loop.h"
#include "src/server/offload.h"
#include "src/server/subs.h"

struct follow;

/** Limits. Zero fields take defaults (subs.h). */
struct follow_config {
	const char *token;        /**< the client token Godot clients must present ("" or NULL: none) */
	uint64_t server_id;       /**< reported in the welcome */
	const char *version;      /**< reported in the welcome */
	size_t live_max_queued;   /**< see struct subs_config */
	unsigned max_catchups;    /**< see struct subs_config */
	struct offload *offload;  /**< where snapshot scenes are written, beside the loop; outlives the follow */
	/**
	 * Begin a submit whose batch names nodes of several shards as a write across shards (NULL: such a
	 * submit is refused with GROVE_ECROSSSHARD). @p request is the packed WriteRequest with its submit
	 * @p key (both borrowed for the call). GROVE_OK with *@p applied_at set: the key was applied already,
	 * at that index (answered "submitted" now); GROVE_OK with it 0: it is answered later, exactly once, by
	 * follow_submit_done() with ticket @p t. Otherwise it was not begun: the refusal's code, and its
	 * reason in @p why (left empty when the code says enough).
	 */
	int (*submit_across)(void *ctx, const struct host_ticket *t, const char *key, const uint8_t *request, size_t len,
			     uint64_t *applied_at, char *why, size_t why_cap);
	void *ctx;                /**< passed to submit_across */
};

/** @brief The stream over @p host, answering through @p loop. @return GROVE_OK, GROVE_ENOMEM. */
int follow_create(struct loop *loop, struct host *host, const struct follow_config *cfg, struct follow **out);

void follow_destroy(struct follow *f);

/**
 * @brief The first frame of connection @p c: if it is a Godot Dictionary the
 * connection speaks the gateway protocol from now on and this handles it.
 * @return true if it did (then every later frame goes to follow_godot_frame()).
 */
bool follow_godot_hello(struct follow *f, struct loop_conn *c, const uint8_t *payload, size_t len);

/** @brief A frame of a Godot connection after its hello. */
void follow_godot_frame(struct follow *f, struct loop_conn *c, const uint8_t *payload, size_t len);

/** @brief Queue an "error" message (@p code, @p reason) to Godot client @p c. @return false if @p c is none. */
bool follow_godot_error(struct follow *f, struct loop_conn *c, int code, const char *reason);

/** @brief A protobuf SubscribeRequest of an authenticated client. */
void follow_subscribe(struct follow *f, struct loop_conn *c, const Grove__Envelope *req);

/** @brief A protobuf SubscribersRequest: who follows what, and how far behind. */
void follow_subscribers(struct follow *f, struct loop_conn *c, const Grove__Envelope *req);

/** @brief Entry @p index of @p group was applied at @p times, a part of @p txn (struct change_hub's publish). */
void follow_publish(struct follow *f, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
		    const struct tree_paths *paths, const struct entry_times *times, const struct change_txn *txn);

/** @brief A split moved the subtree at @p path out of @p group into group @p to (struct change_hub's moved). */
void follow_moved(struct follow *f, uint64_t group, uint64_t index, const char *path, uint64_t to, uint64_t born_at);

/** @brief @p group's copy here was replaced by a snapshot at @p index (struct change_hub's installed). */
void follow_installed(struct follow *f, uint64_t group, uint64_t index);

/** @brief A submit ended (struct host_hooks' submit_done). */
void follow_submit_done(struct follow *f, const struct host_ticket *t, const char *key, uint64_t index, int code,
			const char *message, size_t failed_op);

/** @brief Every subscriber together, for metrics (subs_summarize()). */
void follow_summarize(const struct follow *f, struct subs_summary *out);

/** @brief Periodic work (progress, catch-ups); every tick. */
void follow_tick(struct follow *f);

/**
 * @brief The end of a loop turn, after the turn's applies: a transaction's
 * parts across shards completed in it go out now (subs_turn()).
 */
void follow_turn(struct follow *f);

/** @brief Connection @p c is gone. */
void follow_closed(struct follow *f, struct loop_conn *c);

#endif
