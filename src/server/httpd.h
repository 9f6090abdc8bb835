/**
 * @file httpd.h
 * @brief A tiny HTTP/1.x server inside groved's event loop, for metrics and
 * health checks: GET only, one request per connection, `Connection: close`.
 *
 * It listens on its own address (never on the client port) and its
 * connections are not the loop's connections: they are watched in the same
 * epoll set (loop_watch()), so no thread is added and what a handler reads
 * needs no lock.
 *
 * It is strict, because whoever can reach it may send anything: a request
 * is a request line `METHOD SP /PATH SP HTTP/1.0|1.1` and header lines
 * `name: value`, each ending in CRLF, in printable ASCII, ending with an
 * empty line, all within a small limit. Anything else is answered 400; a
 * method other than GET 405; a path the handler does not know is its own
 * answer (404). A connection that has not sent a whole request within the
 * read deadline, or not taken its answer within the write deadline, is
 * closed; connections over the limit are closed as they are accepted.
 */
#ifndef GROVE_SERVER_HTTPD_H
#define GROVE_SERVER_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "src/common/buf.h"
#include "src/server/loop.h"

/** Where and with which limits. Zero fields take the defaults in brackets. */
struct httpd_config {
	const char *address;       /**< "IPv4:PORT" to listen on; port 0 picks a free one */
	size_t max_request;        /**< bytes of request line and headers [4 KiB] */
	unsigned read_timeout_ms;  /**< to send the whole request, from the accept [2 s] */
	unsigned write_timeout_ms; /**< to take the whole answer [5 s] */
	unsigned max_connections;  /**< open at once [16] */
};

/** An answer, filled by the handler. */
struct httpd_response {
	int status;               /**< 200, 404, 503... */
	const char *content_type; /**< static text; NULL: text/plain; charset=utf-8 */
	struct grove_buf body;    /**< appended to by the handler (owned by the server) */
};

/** What answers requests. */
struct httpd_hooks {
	void *ctx; /**< passed to get */
	/** A GET of @p path (the target without its query): fill @p r. Runs in the loop's thread. */
	void (*get)(void *ctx, const char *path, struct httpd_response *r);
};

struct httpd;

/**
 * @brief Listen on cfg->address, watched in @p loop (which must outlive it).
 * @return GROVE_OK, GROVE_EINVAL (not IPv4:PORT), GROVE_EIO (bind: logged), GROVE_ENOMEM.
 */
int httpd_create(struct loop *loop, const struct httpd_config *cfg, const struct httpd_hooks *hooks,
		 struct httpd **out);

/** @brief Close every connection and the listener, and free. NULL is allowed. */
void httpd_destroy(struct httpd *h);

/** @brief The bound port. */
int httpd_port(const struct httpd *h);

/**
 * @brief Close connections past their deadline. Call after the events of a
 * turn were handled (struct loop_hooks' turn), never from inside one: a
 * watch freed while the turn's events are handled could still have one.
 */
void httpd_sweep(struct httpd *h, uint64_t now_ms);

#endif
