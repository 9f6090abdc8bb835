#include "src/server/httpd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/server/log.h"

/* Longest request target; metrics paths are a few bytes. */
#define TARGET_MAX 256
/* How long the input of an answered connection is read and dropped before it is closed (conn_write()). */
#define DRAIN_MS 1000
/* Connections accepted per listener event, so that a flood of connects cannot make the turn long. */
#define ACCEPTS_PER_EVENT 32

/* One connection: reading its request, then writing its answer. */
struct http_conn {
	struct httpd *server;
	int fd;                  /* -1: a free slot */
	struct loop_watch *watch;
	char *in;                /* max_request bytes, allocated with the slot's first use */
	size_t in_len;
	struct grove_buf out;    /* the whole answer */
	size_t out_sent;
	uint64_t deadline_ms;    /* monotonic */
	bool answering;          /* the request was read: now writing */
	bool draining;           /* the answer is out: discarding input until the client closes */
};

struct httpd {
	struct loop *loop;
	struct httpd_config cfg;
	struct httpd_hooks hooks;
	int listen_fd;
	int port;
	struct loop_watch *listen_watch;
	struct http_conn *conns; /* cfg.max_connections slots */
};

static void conn_close(struct http_conn *c)
{
	if (c->fd < 0)
		return;
	loop_unwatch(c->watch);
	close(c->fd);
	c->watch = NULL;
	c->fd = -1;
	c->in_len = 0;
	c->out_sent = 0;
	c->answering = false;
	c->draining = false;
	grove_buf_free(&c->out);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/* Write what the answer has left; close once it is all out or the peer is gone. */
static void conn_write(struct http_conn *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_watch_events(c->watch, EPOLLOUT);
			return;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->out_sent += (size_t)n;
	}
	/*
	 * The end of the answer is the end of the connection. Closing at once with unread input (a request
	 * refused before it was all read) would reset the connection and could lose the answer on its way:
	 * the write side is closed, and what still comes in is read and dropped until the client closes,
	 * within a short deadline.
	 */
	shutdown(c->fd, SHUT_WR);
	c->answering = false;
	c->draining = true;
	c->deadline_ms = grove_monotonic_ms() + DRAIN_MS;
	loop_watch_events(c->watch, EPOLLIN);
}

/* Read and drop what the client still sends; close at its end. */
static void conn_drain(struct http_conn *c)
{
	char scratch[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;
	}
	conn_close(c); /* gone, or sending more than a client that waits for its answer would */
}

/* Answer @p status with @p body (@p extra_headers: CRLF-terminated lines, or ""), then close. */
static void conn_answer(struct http_conn *c, int status, const char *content_type, const struct grove_buf *body,
			const char *extra_headers)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
			 status, reason_phrase(status), content_type ? content_type : "text/plain; charset=utf-8",
			 body->len, extra_headers);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		conn_close(c);
		return;
	}
	grove_buf_free(&c->out);
	grove_buf_put(&c->out, head, (size_t)n);
	grove_buf_put(&c->out, body->data, body->len);
	if (c->out.failed) {
		conn_close(c);
		return;
	}
	c->answering = true;
	c->out_sent = 0;
	c->deadline_ms = grove_monotonic_ms() + c->server->cfg.write_timeout_ms;
	conn_write(c);
}

/* Answer a one-line text body. */
static void conn_answer_text(struct http_conn *c, int status, const char *text, const char *extra_headers)
{
	struct grove_buf body = {0};
	grove_buf_put(&body, text, strlen(text));
	grove_buf_put(&body, "\n", 1);
	conn_answer(c, status, NULL, &body, extra_headers);
	grove_buf_free(&body);
}

static bool is_token_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/*
 * Bytes that can never be part of a valid request: control characters other than CR, LF and tab, bytes
 * outside ASCII, and a LF without its CR. Refused as soon as they arrive rather than at the deadline.
 */
static bool has_invalid_bytes(const char *in, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch >= 0x7f || (ch < 0x20 && ch != '\r' && ch != '\n' && ch != '\t'))
			return true;
		if (ch == '\n' && (i == 0 || in[i - 1] != '\r'))
			return true;
	}
	return false;
}

/* Check the header lines in [@p p, @p end) (each CRLF-terminated): `name: value`, no folding. */
static bool headers_valid(const char *p, const char *end)
{
	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		if (!eol || eol > end)
			return false;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return false;
		for (const char *q = p; q < colon; q++)
			if (!is_token_char(*q))
				return false;
		p = eol + 2;
	}
	return true;
}

/* A whole request is in c->in, NUL-terminated, ending with an empty line at @p end_of_headers: answer it. */
static void conn_request(struct http_conn *c, const char *end_of_headers)
{
	char *line_end = strstr(c->in, "\r\n");
	char method[17], target[TARGET_MAX + 1];
	size_t method_len = 0, target_len = 0;
	const char *p = c->in;
	while (p < line_end && is_token_char(*p) && method_len < sizeof(method) - 1)
		method[method_len++] = *p++;
	method[method_len] = '\0';
	bool valid = method_len > 0 && *p == ' ';
	if (valid)
		p++;
	while (valid && p < line_end && *p != ' ' && target_len < TARGET_MAX)
		target[target_len++] = *p++;
	target[target_len] = '\0';
	valid = valid && target[0] == '/' && *p == ' ' && line_end - (p + 1) == 8 &&
		(strncmp(p + 1, "HTTP/1.1", 8) == 0 || strncmp(p + 1, "HTTP/1.0", 8) == 0) &&
		headers_valid(line_end + 2, end_of_headers + 2);
	if (!valid) {
		conn_answer_text(c, 400, "malformed request", "");
		return;
	}
	if (strcmp(method, "GET") != 0) {
		conn_answer_text(c, 405, "only GET is served here", "Allow: GET\r\n");
		return;
	}
	char *query = strchr(target, '?');
	if (query)
		*query = '\0';
	struct httpd_response r = {.status = 404};
	c->server->hooks.get(c->server->hooks.ctx, target, &r);
	if (r.body.failed) {
		grove_buf_free(&r.body);
		conn_close(c);
		return;
	}
	conn_answer(c, r.status, r.content_type, &r.body, "");
	grove_buf_free(&r.body);
}

static void conn_read(struct http_conn *c)
{
	size_t cap = c->server->cfg.max_request;
	for (;;) {
		if (c->in_len == cap) {
			conn_answer_text(c, 400, "request too large", "");
			return;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, cap - c->in_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(c); /* gone before its request was whole */
			return;
		}
		size_t from = c->in_len;
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		/* A CR that ended the last read is checked with the LF that follows it. */
		if (has_invalid_bytes(c->in, from ? from - 1 : 0, c->in_len)) {
			conn_answer_text(c, 400, "malformed request", "");
			return;
		}
		char *end = strstr(c->in, "\r\n\r\n");
		if (end) {
			loop_watch_events(c->watch, 0);
			conn_request(c, end);
			return;
		}
	}
}

static void conn_event(void *ctx, uint32_t events)
{
	struct http_conn *c = ctx;
	if (c->fd < 0)
		return;
	if (c->draining) {
		conn_drain(c);
		return;
	}
	if (c->answering) {
		if (events & (EPOLLERR | EPOLLHUP))
			conn_close(c);
		else
			conn_write(c);
		return;
	}
	conn_read(c);
}

static struct http_conn *free_slot(struct httpd *h)
{
	for (unsigned i = 0; i < h->cfg.max_connections; i++)
		if (h->conns[i].fd < 0)
			return &h->conns[i];
	return NULL;
}

static void accept_event(void *ctx, uint32_t events)
{
	(void)events;
	struct httpd *h = ctx;
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: the next event tries again */
		struct http_conn *c = free_slot(h);
		if (!c || (!c->in && !(c->in = malloc(h->cfg.max_request + 1)))) {
			close(fd); /* over the limit: scrapers retry */
			continue;
		}
		c->fd = fd;
		c->watch = loop_watch(h->loop, fd, EPOLLIN, conn_event, c);
		if (!c->watch) {
			close(fd);
			c->fd = -1;
			continue;
		}
		c->in_len = 0;
		c->answering = c->draining = false;
		c->deadline_ms = grove_monotonic_ms() + h->cfg.read_timeout_ms;
	}
}

int httpd_create(struct loop *loop, const struct httpd_config *cfg, const struct httpd_hooks *hooks,
		 struct httpd **out)
{
	*out = NULL;
	struct httpd *h = calloc(1, sizeof(*h));
	if (!h)
		return GROVE_ENOMEM;
	h->loop = loop;
	h->cfg = *cfg;
	h->hooks = *hooks;
	if (!h->cfg.max_request)
		h->cfg.max_request = 4096;
	if (!h->cfg.read_timeout_ms)
		h->cfg.read_timeout_ms = 2000;
	if (!h->cfg.write_timeout_ms)
		h->cfg.write_timeout_ms = 5000;
	if (!h->cfg.max_connections)
		h->cfg.max_connections = 16;
	h->conns = calloc(h->cfg.max_connections, sizeof(*h->conns));
	int err = h->conns ? GROVE_OK : GROVE_ENOMEM;
	for (unsigned i = 0; h->conns && i < h->cfg.max_connections; i++)
		h->conns[i] = (struct http_conn){.server = h, .fd = -1};
	h->listen_fd = err ? -1 : loop_listen_socket(cfg->address, 64, &h->port, &err);
	if (h->listen_fd < 0 && err == GROVE_EIO)
		log_line("cannot serve HTTP on %s: %s", cfg->address, strerror(errno));
	else if (h->listen_fd < 0 && err == GROVE_EINVAL)
		log_line("cannot serve HTTP on \"%s\": expected IPv4-ADDRESS:PORT", cfg->address ? cfg->address : "");
	if (!err && !(h->listen_watch = loop_watch(loop, h->listen_fd, EPOLLIN, accept_event, h)))
		err = GROVE_EIO;
	if (err) {
		httpd_destroy(h);
		return err;
	}
	*out = h;
	return GROVE_OK;
}

void httpd_destroy(struct httpd *h)
{
	if (!h)
		return;
	for (unsigned i = 0; h->conns && i < h->cfg.max_connections; i++) {
		conn_close(&h->conns[i]);
		free(h->conns[i].in);
	}
	free(h->conns);
	loop_unwatch(h->listen_watch);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	free(h);
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_sweep(struct httpd *h, uint64_t now_ms)
{
	for (unsigned i = 0; i < h->cfg.max_connections; i++)
		if (h->conns[i].fd >= 0 && now_ms >= h->conns[i].deadline_ms)
			conn_close(&h->conns[i]);
}
