/* The durable floor under a replicated write: the least that a 3-member pipeline which makes each write
 * durable on a majority does on this machine, with none of a consensus protocol's bookkeeping (no terms,
 * no log indexes, no state machine, no decoding). grove_bench_cluster runs the same clients against it
 * and against groved; what grove costs above it is grove's own overhead on this machine's disk, loopback
 * TCP and scheduler, a figure that does not move with the machine as a ratio to etcd does.
 *
 *   grove_bench_pipeline_floor follower PORT LOG
 *   grove_bench_pipeline_floor leader PORT REPLY_BYTES LOG FOLLOWER_PORT FOLLOWER_PORT
 *
 * The leader serves clients with epoll in one thread. Each turn it takes every complete request frame that
 * arrived (grove's frames: a 4-byte little-endian length, then that many bytes), sends them as one frame to
 * both followers, appends them to its log and fdatasyncs it, waits until one follower acknowledged them,
 * and answers each request with a frame of REPLY_BYTES zeros (one send per client). A follower appends
 * every frame that one read brought to its log, fdatasyncs once, and acknowledges with the number of frames
 * it holds (8 bytes, little-endian). Logs are preallocated as grove's are, and written from the start again
 * when full. Each prints "ready" once it listens on 127.0.0.1:PORT; runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (1u << 20)
#define LOG_BYTES (64u << 20)

static _Noreturn void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An append-only log file that starts over when full (the floor needs the writes, not the contents). */
struct log {
	int fd;
	size_t at;
};

static void log_open(struct log *l, const char *path)
{
	l->fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (l->fd < 0 || posix_fallocate(l->fd, 0, LOG_BYTES) != 0 || fsync(l->fd) != 0)
		die("pipeline floor: log");
	l->at = 0;
}

static void log_append_sync(struct log *l, const uint8_t *data, size_t len)
{
	if (len > LOG_BYTES)
		die("pipeline floor: batch larger than the log");
	if (l->at + len > LOG_BYTES)
		l->at = 0;
	if (pwrite(l->fd, data, len, (off_t)l->at) != (ssize_t)len || fdatasync(l->fd) != 0)
		die("pipeline floor: append");
	l->at += len;
}

static int listen_on(int port)
{
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1024) != 0)
		die("pipeline floor: listen");
	return ls;
}

static int connect_to(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int tries = 0; tries < 200; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	die("pipeline floor: connect to a follower");
}

static void send_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("pipeline floor: send");
		data += n;
		len -= (size_t)n;
	}
}

static void ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

static int follower(int port, const char *log_path)
{
	struct log log;
	log_open(&log, log_path);
	int ls = listen_on(port);
	ready();
	int fd = accept(ls, NULL, NULL);
	int one = 1;
	if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		die("pipeline floor: accept");
	uint8_t *in = malloc(MAX_FRAME + 4);
	if (!in)
		die("pipeline floor: memory");
	size_t have = 0;
	uint64_t held = 0;
	for (;;) {
		ssize_t got = recv(fd, in + have, MAX_FRAME + 4 - have, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return 0; /* the leader is gone */
		have += (size_t)got;
		size_t at = 0;
		uint64_t frames = 0;
		for (; have - at >= 4; frames++) {
			uint32_t len = le32(in + at);
			if (len > MAX_FRAME)
				die("pipeline floor: oversized frame");
			if (have - at - 4 < len)
				break;
			at += 4 + len;
		}
		if (frames == 0)
			continue;
		log_append_sync(&log, in, at);
		held += frames;
		uint8_t ack[8];
		for (int i = 0; i < 8; i++)
			ack[i] = (uint8_t)(held >> (8 * i));
		send_all(fd, ack, sizeof(ack));
		memmove(in, in + at, have - at);
		have -= at;
	}
}

struct client {
	int fd;
	uint8_t *in; /* MAX_FRAME + 4 bytes */
	size_t have;
	size_t owed;  /* requests of this turn's batch to answer */
	bool closing; /* the connection ended or broke; freed after the turn */
};

/* The batch of one turn: the frames to replicate, and the clients owed answers. */
struct batch {
	uint8_t *frames;
	size_t len, cap;
	struct client **owed;
	size_t n_owed, cap_owed;
};

static void batch_add_frame(struct batch *b, const uint8_t *frame, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = 2 * (b->len + len) + 4096;
		if (!(b->frames = realloc(b->frames, b->cap)))
			die("pipeline floor: memory");
	}
	memcpy(b->frames + b->len, frame, len);
	b->len += len;
}

static void batch_owe(struct batch *b, struct client *c)
{
	if (c->owed++ > 0)
		return;
	if (b->n_owed == b->cap_owed) {
		b->cap_owed = 2 * b->cap_owed + 64;
		if (!(b->owed = realloc(b->owed, b->cap_owed * sizeof(*b->owed))))
			die("pipeline floor: memory");
	}
	b->owed[b->n_owed++] = c;
}

/* Read what arrived from @p c and add its complete frames to @p b. */
static void take_requests(struct client *c, struct batch *b)
{
	ssize_t got = recv(c->fd, c->in + c->have, MAX_FRAME + 4 - c->have, 0);
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0) {
		c->closing = true;
		return;
	}
	c->have += (size_t)got;
	size_t at = 0;
	while (c->have - at >= 4) {
		uint32_t len = le32(c->in + at);
		if (len > MAX_FRAME) {
			c->closing = true;
			return;
		}
		if (c->have - at - 4 < len)
			break;
		batch_add_frame(b, c->in + at, 4 + len);
		batch_owe(b, c);
		at += 4 + len;
	}
	memmove(c->in, c->in + at, c->have - at);
	c->have -= at;
}

/* Block until a follower holds @p frames frames, reading every acknowledgement that arrived. */
static void wait_for_one_follower(const int *fds, uint64_t *acked, uint8_t (*ack_in)[8], size_t *ack_have,
				  uint64_t frames)
{
	while (acked[0] < frames && acked[1] < frames) {
		struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("pipeline floor: poll");
		}
		for (int f = 0; f < 2; f++) {
			if (!(pfd[f].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			ssize_t n = recv(fds[f], ack_in[f] + ack_have[f], 8 - ack_have[f], MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				die("pipeline floor: a follower is gone");
			if (n > 0 && (ack_have[f] += (size_t)n) == 8) {
				acked[f] = 0;
				for (int i = 0; i < 8; i++)
					acked[f] |= (uint64_t)ack_in[f][i] << (8 * i);
				ack_have[f] = 0;
			}
		}
	}
}

static _Noreturn void leader(int port, size_t reply_bytes, const char *log_path, int follower_port0, int follower_port1)
{
	struct log log;
	log_open(&log, log_path);
	int fds[2] = {connect_to(follower_port0), connect_to(follower_port1)};
	uint64_t sent = 0, acked[2] = {0, 0};
	uint8_t ack_in[2][8];
	size_t ack_have[2] = {0, 0};
	int ls = listen_on(port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev) != 0)
		die("pipeline floor: epoll");
	uint8_t *out = malloc(MAX_FRAME);
	if (!out || reply_bytes + 4 > MAX_FRAME)
		die("pipeline floor: memory");
	struct batch b = {0};
	ready();
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno != EINTR)
			die("pipeline floor: epoll_wait");
		b.len = b.n_owed = 0;
		batch_add_frame(&b, (const uint8_t[4]){0}, 4); /* the follower frame's length, set below */
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;
			if (c) {
				take_requests(c, &b);
				continue;
			}
			int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			int one = 1;
			if (fd < 0)
				continue;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (!(c = calloc(1, sizeof(*c))) || !(c->in = malloc(MAX_FRAME + 4)))
				die("pipeline floor: memory");
			c->fd = fd;
			struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
		}
		if (b.n_owed > 0) {
			if (b.len - 4 > MAX_FRAME)
				die("pipeline floor: a turn's requests pass the frame bound");
			put_le32(b.frames, (uint32_t)(b.len - 4));
			send_all(fds[0], b.frames, b.len);
			send_all(fds[1], b.frames, b.len);
			sent++;
			log_append_sync(&log, b.frames + 4, b.len - 4);
			wait_for_one_follower(fds, acked, ack_in, ack_have, sent);
		}
		for (size_t i = 0; i < b.n_owed; i++) {
			struct client *c = b.owed[i];
			size_t used = 0;
			for (; c->owed > 0; c->owed--) {
				if (used + 4 + reply_bytes > MAX_FRAME) {
					send_all(c->fd, out, used);
					used = 0;
				}
				put_le32(out + used, (uint32_t)reply_bytes);
				memset(out + used + 4, 0, reply_bytes);
				used += 4 + reply_bytes;
			}
			/* The benchmark's clients have one request in flight, so the socket's buffer takes the answers. */
			if (!c->closing && send(c->fd, out, used, MSG_NOSIGNAL) != (ssize_t)used)
				c->closing = true;
		}
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;
			if (c && c->closing) {
				close(c->fd); /* also leaves the epoll set */
				free(c->in);
				free(c);
			}
		}
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "follower") == 0 && atoi(argv[2]) > 0)
		return follower(atoi(argv[2]), argv[3]);
	if (argc == 7 && strcmp(argv[1], "leader") == 0 && atoi(argv[2]) > 0 && atoi(argv[5]) > 0 &&
	    atoi(argv[6]) > 0)
		leader(atoi(argv[2]), (size_t)atol(argv[3]), argv[4], atoi(argv[5]), atoi(argv[6]));
	fprintf(stderr, "usage: %s follower PORT LOG\n       %s leader PORT REPLY_BYTES LOG FOLLOWER_PORT FOLLOWER_PORT\n",
		argv[0], argv[0]);
	return 2;
}
