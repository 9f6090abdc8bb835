/**
 * @file client.h
 * @brief A small blocking client for grove servers: connect, say hello,
 * send a request, wait for its reply. Used by the CLI, tests and benchmarks.
 *
 * A client talks to one member at a time, the one its last request was
 * answered by; it keeps the connections it made to others it was sent to
 * (up to 8; a world with shards has a leader per shard), so following a
 * leader back reuses one, checked first to be still open. It is not
 * thread-safe (use one per thread). Replies are matched by request id; a
 * reply for another id, or a frame that does not decode, ends the call with
 * GROVE_EPROTO.
 */
#ifndef GROVE_NET_CLIENT_H
#define GROVE_NET_CLIENT_H

#include <stdint.h>

#include "proto/grove.pb-c.h"

struct grove_client;

/**
 * @brief Connect to @p address ("HOST:PORT", IPv4 or a name) and
 * authenticate with @p token (may be NULL or ""). @p address may list
 * several members, comma-separated: they are tried in order, each given at
 * most 2 s to connect and answer the hello, until one does (a refused token
 * ends the search: every member shares it).
 * @param timeout_ms connect and per-request timeout; 0 for 10 s.
 * @param error on failure, one line saying why (may be NULL).
 * @return GROVE_OK, or the last member's failure: GROVE_EINVAL (bad
 * address), GROVE_EIO (cannot connect), GROVE_EAUTH (token refused),
 * GROVE_ETIMEDOUT, GROVE_EPROTO, GROVE_ENOMEM.
 */
int grove_client_connect(const char *address, const char *token, int timeout_ms, struct grove_client **out,
			 char *error, size_t error_cap);

/** @brief Close the connections and free the client. NULL is allowed. */
void grove_client_close(struct grove_client *c);

/**
 * @brief Send @p req (its request_id and version are set here) and wait for
 * the reply. A follower's "not the leader" is followed to the leader it
 * names (reconnecting there; a leader that cannot be reached, perhaps dead
 * and not replaced yet, is asked for again through the same server after a
 * pause); "no leader yet", a read (or export, or status) that a leadership
 * change lost (GROVE_EUNAVAILABLE), and "moved to another shard"
 * (GROVE_EMOVED: a split moved what the request names, and the request was
 * not applied) are retried after growing pauses, until the timeout.
 * @param reply receives the reply; free it with grove__envelope__free_unpacked(reply, NULL).
 * @return GROVE_OK (the reply may still carry an error code of its own),
 * GROVE_EIO, GROVE_ETIMEDOUT, GROVE_EPROTO, GROVE_ENOMEM.
 */
int grove_client_call(struct grove_client *c, Grove__Envelope *req, Grove__Envelope **reply);

/**
 * @brief Send @p req (its request_id and version are set here) without
 * waiting: a subscription, whose events arrive with grove_client_receive().
 * @return GROVE_OK, GROVE_EIO, GROVE_ETIMEDOUT, GROVE_ENOMEM.
 */
int grove_client_send(struct grove_client *c, Grove__Envelope *req);

/**
 * @brief Wait up to @p timeout_ms (< 0: the client's timeout) for the next
 * message the server sends, whatever its request id.
 * @param msg receives it; free it with grove__envelope__free_unpacked(msg, NULL).
 * @return GROVE_OK, GROVE_ETIMEDOUT, GROVE_EIO (the server closed), GROVE_EPROTO, GROVE_ENOMEM.
 */
int grove_client_receive(struct grove_client *c, int timeout_ms, Grove__Envelope **msg);

/** @brief How many times a request was asked again because a split had moved what it named. */
uint64_t grove_client_moved_retries(const struct grove_client *c);

/** @brief The id of the server requests go to now, from its hello reply. */
uint64_t grove_client_server_id(const struct grove_client *c);

/** @brief The socket of the member requests go to now, for tests that need to send raw bytes. */
int grove_client_fd(const struct grove_client *c);

#endif
