#include "src/net/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src/common/error.h"
#include "src/net/frame.h"

/*
 * Connections kept to members at once. A world with shards has a leader per shard, often on different
 * members: a client that follows each request's leader keeps the connections it made, instead of making a
 * new one at every hop.
 */
#define CLIENT_LINKS 8

/* One connection to a member. */
struct link {
	int fd;                    /* connected socket, non-blocking with poll-based waits */
	char address[256];         /* the member's */
	uint64_t server_id;        /* from the hello reply */
	uint64_t used;             /* when it was last chosen (the client's counter): the oldest is closed first */
	struct frame_reader reader;
};

struct grove_client {
	struct link links[CLIENT_LINKS];
	size_t n_links;
	struct link *cur;          /* where requests go: the member the last one was answered by */
	char token[256];           /* to say hello to each member */
	int timeout_ms;            /* per-request timeout */
	uint64_t next_request_id;
	uint64_t uses;
	uint64_t moved_retries;    /* requests asked again after a refusal that passes (a split moved what they named, a transaction held their shard) */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The socket is non-blocking (so reads can drain it); wait for room when a large request fills it. */
static int send_all(int fd, const uint8_t *p, size_t n, int timeout_ms)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int rc = poll(&pfd, 1, timeout_ms);
			if (rc == 0)
				return GROVE_ETIMEDOUT;
			if (rc < 0 && errno != EINTR)
				return GROVE_EIO;
			continue;
		}
		if (w <= 0)
			return GROVE_EIO;
		p += w;
		n -= (size_t)w;
	}
	return GROVE_OK;
}

static int send_envelope(struct grove_client *c, Grove__Envelope *env)
{
	size_t len = grove__envelope__get_packed_size(env);
	uint8_t *buf = malloc(len + 4);
	if (!buf)
		return GROVE_ENOMEM;
	buf[0] = (uint8_t)len;
	buf[1] = (uint8_t)(len >> 8);
	buf[2] = (uint8_t)(len >> 16);
	buf[3] = (uint8_t)(len >> 24);
	grove__envelope__pack(env, buf + 4);
	int err = send_all(c->cur->fd, buf, len + 4, c->timeout_ms);
	free(buf);
	return err;
}

static int receive_envelope(struct grove_client *c, int timeout_ms, Grove__Envelope **out)
{
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		const uint8_t *payload;
		size_t len;
		int ready = frame_reader_next(&c->cur->reader, &payload, &len);
		if (ready < 0)
			return GROVE_EPROTO;
		if (ready == 1) {
			*out = grove__envelope__unpack(NULL, len, payload);
			frame_reader_consume(&c->cur->reader, len);
			return *out ? GROVE_OK : GROVE_EPROTO;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return GROVE_ETIMEDOUT;
		struct pollfd pfd = {.fd = c->cur->fd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? GROVE_ETIMEDOUT : GROVE_EIO;
		int err = frame_reader_fill(&c->cur->reader, c->cur->fd);
		if (err)
			return err == GROVE_ENOTFOUND ? GROVE_EIO : err;
	}
}

static int call_once(struct grove_client *c, Grove__Envelope *req, Grove__Envelope **reply)
{
	*reply = NULL;
	req->version = 1;
	req->request_id = ++c->next_request_id;
	int err = send_envelope(c, req);
	if (err)
		return err;
	err = receive_envelope(c, c->timeout_ms, reply);
	if (err)
		return err;
	if ((*reply)->request_id != req->request_id) {
		grove__envelope__free_unpacked(*reply, NULL);
		*reply = NULL;
		return GROVE_EPROTO;
	}
	return GROVE_OK;
}

int grove_client_send(struct grove_client *c, Grove__Envelope *req)
{
	req->version = 1;
	req->request_id = ++c->next_request_id;
	return send_envelope(c, req);
}

int grove_client_receive(struct grove_client *c, int timeout_ms, Grove__Envelope **msg)
{
	*msg = NULL;
	return receive_envelope(c, timeout_ms < 0 ? c->timeout_ms : timeout_ms, msg);
}

static int connect_with_timeout(const char *address, int timeout_ms, int *fd_out, char *error, size_t cap);
static int say_hello(struct grove_client *c, char *error, size_t error_cap);

static void link_close(struct link *l)
{
	close(l->fd);
	frame_reader_free(&l->reader);
}

/*
 * Whether a kept connection still looks open: nothing is due on it between requests, so anything to read
 * (the member closed it, or restarted) or an error means it is not.
 */
static bool link_open(const struct link *l)
{
	struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
	return poll(&pfd, 1, 0) == 0;
}

/*
 * Make the connection to @p address the one requests go to: the kept one if it still looks open, else a new
 * one (connected within @p attempt_ms and greeted), in place of the one used least lately when all are
 * taken. On failure the client stays where it was.
 */
static int use_member(struct grove_client *c, const char *address, int attempt_ms, char *error, size_t error_cap)
{
	struct link *l = NULL;
	for (size_t i = 0; i < c->n_links && !l; i++)
		if (strcmp(c->links[i].address, address) == 0)
			l = &c->links[i];
	if (l && link_open(l)) {
		l->used = ++c->uses;
		c->cur = l;
		return GROVE_OK;
	}
	struct link fresh = {.used = ++c->uses};
	int err = connect_with_timeout(address, attempt_ms, &fresh.fd, error, error_cap);
	if (err)
		return err;
	snprintf(fresh.address, sizeof(fresh.address), "%s", address);
	frame_reader_init(&fresh.reader, 0);
	struct link *was = c->cur;
	c->cur = &fresh;
	int timeout_ms = c->timeout_ms;
	c->timeout_ms = attempt_ms;
	err = say_hello(c, error, error_cap);
	c->timeout_ms = timeout_ms;
	c->cur = was;
	if (err) {
		link_close(&fresh);
		return err;
	}
	if (l) {
		link_close(l); /* kept, but closed by the member */
	} else if (c->n_links < CLIENT_LINKS) {
		l = &c->links[c->n_links++];
	} else {
		for (size_t i = 0; i < c->n_links; i++) /* the one used least lately, never the current one */
			if (&c->links[i] != c->cur && (!l || c->links[i].used < l->used))
				l = &c->links[i];
		link_close(l);
	}
	*l = fresh;
	c->cur = l;
	return GROVE_OK;
}

/* Whether @p code refuses a request without applying it, for a reason that passes: ask again. */
static bool retry_later(uint32_t code)
{
	return code == GROVE_EMOVED || code == GROVE_EINTENT || code == GROVE_ECHANGED;
}

/*
 * Whether @p reply refuses the request for a while only: a split moved what it names, a cross-shard
 * transaction holds its shard, or what a cross-shard write was built from changed meanwhile.
 */
static bool says_retry(const Grove__Envelope *reply)
{
	switch (reply->body_case) {
	case GROVE__ENVELOPE__BODY_ERROR:
		return retry_later(reply->error->code);
	case GROVE__ENVELOPE__BODY_WRITE_REPLY:
		return retry_later(reply->write_reply->code);
	case GROVE__ENVELOPE__BODY_READ_REPLY:
		return retry_later(reply->read_reply->code);
	case GROVE__ENVELOPE__BODY_EXPORT_REPLY:
		return retry_later(reply->export_reply->code);
	default:
		return false;
	}
}

/*
 * Whether @p req changes nothing, so that asking it again after it failed on the way is harmless: a read
 * that a leadership change lost (a balancer's transfer, a failover) is answered GROVE_EUNAVAILABLE.
 */
static bool reads_only(const Grove__Envelope *req)
{
	return req->body_case == GROVE__ENVELOPE__BODY_READ || req->body_case == GROVE__ENVELOPE__BODY_EXPORT_SCENE ||
	       req->body_case == GROVE__ENVELOPE__BODY_STATUS;
}

int grove_client_call(struct grove_client *c, Grove__Envelope *req, Grove__Envelope **reply)
{
	/* A follower names the leader: follow it. With no leader yet (or a read lost in a leadership change),
	 * wait for one (bounded). A shard that moved, or is held by a transaction: ask again, a little later
	 * each time, until it is served. */
	int64_t deadline = now_ms() + c->timeout_ms;
	long pause_ms = 10;
	for (int hops = 0;;) {
		int err = call_once(c, req, reply);
		if (!err && says_retry(*reply) && now_ms() < deadline) {
			c->moved_retries++;
			grove__envelope__free_unpacked(*reply, NULL);
			*reply = NULL;
			struct timespec pause = {0, pause_ms * 1000000L};
			nanosleep(&pause, NULL);
			pause_ms = pause_ms < 200 ? pause_ms * 2 : 200;
			continue;
		}
		if (err || (*reply)->body_case != GROVE__ENVELOPE__BODY_ERROR || req->body_case == GROVE__ENVELOPE__BODY_HELLO)
			return err;
		const Grove__ErrorReply *er = (*reply)->error;
		bool redirect = er->code == GROVE_ENOTLEADER && er->leader && er->leader[0] && hops < 8;
		/* A write is asked again only when it was not proposed (no leader); a read, whatever befell it. */
		bool wait = er->code == GROVE_EUNAVAILABLE && (strstr(er->message, "no leader") || reads_only(req)) &&
			    now_ms() < deadline;
		if (!redirect && !wait)
			return GROVE_OK;
		char leader[256];
		snprintf(leader, sizeof(leader), "%s", redirect ? er->leader : "");
		grove__envelope__free_unpacked(*reply, NULL);
		*reply = NULL;
		/* A leader that cannot be reached may be dead and not replaced yet: ask this server again shortly. */
		char error[256];
		if (redirect && use_member(c, leader, c->timeout_ms, error, sizeof(error)) == GROVE_OK) {
			hops++;
			continue;
		}
		if (now_ms() >= deadline)
			return redirect ? GROVE_EIO : GROVE_ETIMEDOUT;
		struct timespec pause = {0, 100 * 1000000L};
		nanosleep(&pause, NULL);
	}
}

static int connect_with_timeout(const char *address, int timeout_ms, int *fd_out, char *error, size_t cap)
{
	char host[256];
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address || (size_t)(colon - address) >= sizeof(host) || !colon[1]) {
		snprintf(error, cap, "address must be HOST:PORT, not \"%s\"", address);
		return GROVE_EINVAL;
	}
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		snprintf(error, cap, "cannot resolve %s: %s", address, gai_strerror(rc));
		return GROVE_EINVAL;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		snprintf(error, cap, "socket: %s", strerror(errno));
		return GROVE_EIO;
	}
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		rc = poll(&pfd, 1, timeout_ms);
		if (rc == 0) {
			close(fd);
			snprintf(error, cap, "cannot connect to %s: timed out", address);
			return GROVE_ETIMEDOUT;
		}
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		errno = soerr;
		rc = soerr ? -1 : 0;
	}
	if (rc < 0) {
		snprintf(error, cap, "cannot connect to %s: %s", address, strerror(errno));
		close(fd);
		return GROVE_EIO;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd_out = fd;
	return GROVE_OK;
}

/* A member that does not answer in this long, with others to try, is passed over (etcdctl's dial timeout). */
#define MEMBER_ATTEMPT_MS 2000

int grove_client_connect(const char *address, const char *token, int timeout_ms, struct grove_client **out,
			 char *error, size_t error_cap)
{
	char scratch[1];
	if (!error) {
		error = scratch;
		error_cap = sizeof(scratch);
	}
	*out = NULL;
	struct grove_client *c = calloc(1, sizeof(*c));
	if (!c)
		return GROVE_ENOMEM;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	snprintf(c->token, sizeof(c->token), "%s", token ? token : "");
	bool several = strchr(address, ',') != NULL;
	int attempt_ms = several && c->timeout_ms > MEMBER_ATTEMPT_MS ? MEMBER_ATTEMPT_MS : c->timeout_ms;
	int err = GROVE_EINVAL;
	snprintf(error, error_cap, "no server address given");
	/* Members in the order given; the next when one cannot be reached or does not answer. */
	for (const char *at = address; *at;) {
		size_t len = strcspn(at, ",");
		char one[sizeof(c->links[0].address)];
		snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) ? len : sizeof(one) - 1), at);
		at += len + (at[len] == ',');
		if (!one[0])
			continue;
		err = use_member(c, one, attempt_ms, error, error_cap);
		if (!err || err == GROVE_EAUTH || err == GROVE_ENOMEM)
			break; /* connected, or refused for a reason every member shares */
	}
	if (err) {
		free(c);
		return err;
	}
	*out = c;
	return GROVE_OK;
}

static int say_hello(struct grove_client *c, char *error, size_t error_cap)
{
	Grove__Hello hello = GROVE__HELLO__INIT;
	hello.role = GROVE__HELLO__ROLE__CLIENT;
	hello.token = c->token;
	hello.client_name = "grove";
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	Grove__Envelope *reply;
	int err = call_once(c, &env, &reply);
	if (err) {
		snprintf(error, error_cap, "hello to %s failed: %s", c->cur->address, grove_strerror(err));
	} else if (reply->body_case == GROVE__ENVELOPE__BODY_ERROR) {
		err = (int)reply->error->code ? (int)reply->error->code : GROVE_EPROTO;
		snprintf(error, error_cap, "%s", reply->error->message);
	} else if (reply->body_case != GROVE__ENVELOPE__BODY_HELLO_REPLY) {
		err = GROVE_EPROTO;
		snprintf(error, error_cap, "unexpected answer to hello");
	} else {
		c->cur->server_id = reply->hello_reply->server_id;
	}
	if (reply)
		grove__envelope__free_unpacked(reply, NULL);
	return err;
}

void grove_client_close(struct grove_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_links; i++)
		link_close(&c->links[i]);
	free(c);
}

uint64_t grove_client_moved_retries(const struct grove_client *c)
{
	return c->moved_retries;
}

uint64_t grove_client_server_id(const struct grove_client *c)
{
	return c->cur->server_id;
}

int grove_client_fd(const struct grove_client *c)
{
	return c->cur->fd;
}
