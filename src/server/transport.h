/**
 * @file transport.h
 * @brief Raft messages between servers: one outbound link per peer.
 *
 * Messages of every group for one peer queue up during a loop turn and
 * leave together, as one RaftBatch frame (a batch grows no larger than a
 * few MiB; a snapshot's chunks take several), so the heartbeats of many
 * groups between two servers travel in one frame and one send call. A link
 * starts with the cluster's hello; it reconnects after a failure (at most
 * every 100 ms), and a peer that does not drain its link is reset rather
 * than buffered without bound: Raft sends again what a link lost. A link
 * with nothing to say sends an empty batch now and then (keepalive), which
 * is all two servers exchange while every group between them is quiesced.
 *
 * Every frame carries the sender's hybrid timestamp, taken when it is
 * framed (RaftBatch.hlc_wall, hlc_logical): all the groups' messages in one
 * frame share one stamp.
 *
 * Incoming peer connections are accepted by the loop like any other and
 * handed to the server, which checks their hello; this module only sends.
 */
#ifndef GROVE_SERVER_TRANSPORT_H
#define GROVE_SERVER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/hlc/hlc.h"
#include "src/server/loop.h"

/** What a link says in its hello. */
struct transport_config {
	uint64_t self;              /**< this server's id */
	uint64_t cluster_id;        /**< the cluster it belongs to */
	const char *cluster_token;  /**< what peers must present (borrowed for the transport's life) */
	/** The hybrid timestamp of a frame framed now (NULL: frames go unstamped). */
	struct hlc_ts (*stamp)(void *ctx);
	void *ctx;                  /**< passed to stamp */
};

struct transport;

/** @brief A transport whose links the loop @p l watches. @return GROVE_OK, GROVE_ENOMEM. */
int transport_create(struct loop *l, const struct transport_config *cfg, struct transport **out);

/** @brief Close every link and free. NULL is allowed. */
void transport_destroy(struct transport *t);

/** @brief Know peer @p id at @p address (a second call for the same id does nothing). */
void transport_add_peer(struct transport *t, uint64_t id, const char *address);

/**
 * @brief Queue packed RaftMessage @p msg (copied) for peer @p to; it leaves
 * with the next transport_flush(). Dropped silently for an unknown peer or
 * a link that cannot connect now.
 */
void transport_send(struct transport *t, uint64_t to, const uint8_t *msg, size_t len);

/**
 * @brief Queue command @p data (copied) of group @p group for peer @p to,
 * the group's leader, to propose (a Proposal in the same RaftBatch frame).
 * Dropped like a message when the link cannot connect now.
 */
void transport_send_proposal(struct transport *t, uint64_t to, uint64_t group, const uint8_t *data, size_t len);

/** @brief Frame what was queued and write it to the sockets. */
void transport_flush(struct transport *t);

/** A link that sent nothing for this long sends an empty batch: the peer knows this server is alive. */
#define TRANSPORT_KEEPALIVE_MS 100

/**
 * @brief Queue an empty batch on every link that sent nothing for
 * TRANSPORT_KEEPALIVE_MS (call every tick): the one heartbeat between two
 * servers that stands for every quiesced group, whose Raft heartbeats stop.
 */
void transport_keepalive(struct transport *t);

/** @brief Whether peer @p id is known (its hello may be accepted). */
bool transport_has_peer(const struct transport *t, uint64_t id);

/** @brief Bytes queued for peer @p to and not written yet (0 when its link is down). */
size_t transport_backlog(const struct transport *t, uint64_t to);

/** @brief Bytes queued for every peer together and not sent yet. */
size_t transport_backlog_total(const struct transport *t);

#endif
