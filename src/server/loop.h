/**
 * @file loop.h
 * @brief groved's event loop: one epoll set for the listener, client
 * connections, timers, signals and whatever else the server watches (peer
 * links, the log writer's eventfd).
 *
 * A connection carries length-prefixed frames (src/net/frame.h) both ways;
 * what a frame means is the server's business (hooks.frame). The loop
 * enforces what protects the server from its clients:
 * - before a connection is authenticated (loop_conn_authenticated()) its
 *   frames are limited to a few KiB and it must authenticate within a
 *   deadline; after that, a connection with nothing in flight (the server
 *   says what is: loop_conn_pending()) that neither sends nor receives for
 *   the idle time is closed;
 * - output is bounded: a connection whose unsent replies pass its limit,
 *   or while all connections together pass theirs, is not read from (its
 *   requests wait in the socket) until they drain; one that stays over its
 *   limit past a deadline is closed with a logged reason;
 * - requests in flight are bounded: a client connection with pending_max
 *   requests handed on and not answered yet (loop_conn_pending()) is not
 *   read from either (its next requests wait in the socket) until an answer
 *   brings it under the limit; it is then read again in the same or the
 *   next turn, and while it waits no turn does any work for it;
 * - out of file descriptors, a connection is accepted and closed at once
 *   (a spare descriptor keeps that possible) and one line is logged per
 *   interval, instead of spinning on the listener;
 * - each turn touches only the connections that had something happen:
 *   epoll interest changes only when it must, so idle connections cost
 *   nothing per turn; and a connection hands out at most a few frames per
 *   turn (the rest wait in its socket), so one that pipelines many requests
 *   cannot make the turn long for the others.
 *
 * A turn: wait for events; read what arrived and hand whole frames to
 * hooks.frame; run hooks.turn (the server's Ready cycles); write out what
 * was queued.
 */
#ifndef GROVE_SERVER_LOOP_H
#define GROVE_SERVER_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Limits and timers. Zero fields take the defaults in brackets. */
struct loop_config {
	const char *listen;            /**< "IPv4:PORT"; port 0 picks a free one */
	uint32_t max_frame;            /**< largest frame from an authenticated connection [64 MiB] */
	uint32_t handshake_max_frame;  /**< largest frame before that [4 KiB] */
	unsigned handshake_ms;         /**< time to authenticate [10 s] */
	unsigned idle_ms;              /**< an idle authenticated connection is closed after this [10 min]; UINT32_MAX: never */
	size_t output_max;             /**< unsent bytes per connection before it is not read from [4 MiB] */
	size_t output_total_max;       /**< unsent bytes of all connections together [256 MiB] */
	unsigned output_stall_ms;      /**< a connection over its limit this long is closed [30 s] */
	unsigned pending_max;          /**< requests in flight per authenticated client connection before it is not read from [4096] */
	unsigned tick_ms;              /**< period of hooks.tick [10 ms] */
};

struct loop;
struct loop_conn;
struct loop_watch;

/** What the server does with events. */
struct loop_hooks {
	void *ctx; /**< passed to every hook */
	/** A whole frame arrived on @p c (@p payload borrowed for the call). */
	void (*frame)(void *ctx, struct loop_conn *c, const uint8_t *payload, size_t len);
	/** @p c is about to be freed (its id is never used again). */
	void (*closed)(void *ctx, struct loop_conn *c);
	/** The tick timer fired (once per missed period, at most 10 at a time). */
	void (*tick)(void *ctx);
	/** The events of a turn were handled: run what they started. */
	void (*turn)(void *ctx);
	/**
	 * A frame on @p c exceeds its limit (@p reason says by how much). @p c closes once what is queued is
	 * sent, so this may queue a last message telling the client why. May be NULL.
	 */
	void (*too_large)(void *ctx, struct loop_conn *c, const char *reason);
};

/**
 * @brief Block SIGTERM and SIGINT in the calling thread and in the threads
 * it starts afterwards, as loop_create() needs: call it before starting any.
 */
void loop_block_signals(void);

/**
 * @brief Bind the listener, set up signals (SIGTERM and SIGINT, which the
 * caller must have blocked: loop_block_signals()) and the tick timer.
 * @return GROVE_OK, GROVE_EINVAL (bad address), GROVE_EIO (bind, epoll), GROVE_ENOMEM.
 */
int loop_create(const struct loop_config *cfg, const struct loop_hooks *hooks, struct loop **out);

/** @brief Close every connection and watch, and free. NULL is allowed. */
void loop_destroy(struct loop *l);

/** @brief The bound port. */
int loop_port(const struct loop *l);

/**
 * @brief Run turns until SIGTERM, SIGINT or loop_stop().
 * @return GROVE_OK, or GROVE_EIO if epoll failed.
 */
int loop_run(struct loop *l);

/**
 * @brief Run a turn within @p ns (rounded up to a millisecond) even if no
 * event comes, rather than at the next tick. The earliest of several asked
 * for holds.
 */
void loop_wake_after(struct loop *l, uint64_t ns);

/** @brief End loop_run() after the current turn. */
void loop_stop(struct loop *l);

/**
 * @brief Watch @p fd for @p events (EPOLLIN, EPOLLOUT): @p fn runs with what fired.
 * @return the watch, or NULL (out of memory, or epoll refused: errno says).
 */
struct loop_watch *loop_watch(struct loop *l, int fd, uint32_t events, void (*fn)(void *ctx, uint32_t events),
			      void *ctx);

/** @brief Change what @p w waits for (no system call when it is the same). */
void loop_watch_events(struct loop_watch *w, uint32_t events);

/**
 * @brief Stop watching @p w (the fd is not closed): its function is not
 * called again, not even for an event already taken in this turn; it is
 * freed at the end of the turn. NULL is allowed.
 */
void loop_unwatch(struct loop_watch *w);

/* ---- connections ---- */

/** @brief The connection with id @p id, or NULL once it is gone. */
struct loop_conn *loop_conn_find(const struct loop *l, uint64_t id);

/** @brief A connection's id (never reused). */
uint64_t loop_conn_id(const struct loop_conn *c);

/** @brief "ip:port" of the other end, for logs. */
const char *loop_conn_peer(const struct loop_conn *c);

/** @brief The server's own state of a connection (NULL until set). */
void *loop_conn_data(const struct loop_conn *c);
void loop_conn_set_data(struct loop_conn *c, void *data);

/**
 * @brief @p c proved who it is: frames up to max_frame, no handshake
 * deadline. A server peer (@p peer) has neither output limit, in-flight
 * limit nor idle time.
 */
void loop_conn_authenticated(struct loop_conn *c, bool peer);

/**
 * @brief A request of @p c was handed on and is answered later: until
 * loop_conn_answered() says so for each, @p c is not idle, and while
 * pending_max of them wait, @p c is not read from.
 */
void loop_conn_pending(struct loop_conn *c);

/** @brief One request that loop_conn_pending() counted was answered. */
void loop_conn_answered(struct loop_conn *c);

/**
 * @brief Queue a frame of @p len payload bytes written in place by @p fill.
 * @return GROVE_OK, GROVE_ETOOBIG, GROVE_ENOMEM (then the connection is closed with a logged reason).
 */
int loop_send_with(struct loop_conn *c, size_t len, void (*fill)(void *ctx, uint8_t *out), void *ctx);

/** @brief Queue a frame that is a copy of @p payload. Same returns. */
int loop_send(struct loop_conn *c, const void *payload, size_t len);

/** @brief Bytes queued on @p c and not written yet. */
size_t loop_conn_queued(const struct loop_conn *c);

/** @brief Log @p reason (one line), stop reading, and close once the output is written. */
void loop_close_after_send(struct loop_conn *c, const char *reason);

/** @brief Statistics for status: connections open now. */
size_t loop_connections(const struct loop *l);

/** @brief Bytes queued on every connection together and not written yet. */
size_t loop_queued_total(const struct loop *l);

/** @brief Statistics for metrics: the most requests one client connection had in flight at once. */
unsigned loop_pending_peak(const struct loop *l);

/** @brief Statistics for metrics: times a client connection reached pending_max and was not read from. */
uint64_t loop_pending_pauses(const struct loop *l);

/** @brief Whether @p address is an "IPv4:PORT" that loop_listen_socket() accepts. */
bool loop_address_valid(const char *address);

/**
 * @brief A non-blocking TCP listener bound to @p address ("IPv4:PORT"; port
 * 0 picks a free one), for the loop's own and for others watched in it.
 * @param port receives the bound port.
 * @return the socket (the caller closes it), or -1: *@p err says why,
 * GROVE_EINVAL (not IPv4:PORT) or GROVE_EIO (socket, bind, listen: errno says).
 */
int loop_listen_socket(const char *address, int backlog, int *port, int *err);

#endif
