/* The floor under a request/reply benchmark: a server that answers every frame at once and does nothing
 * else (no decoding, no log, no disk, no replication), in one thread with epoll, as groved's loop serves
 * clients. What the same clients measure against it is what this machine's loopback TCP, scheduler and
 * client shape allow any server; the benchmark prints it beside grove's figures.
 *
 *   grove_bench_floor_server PORT REPLY_BYTES
 *
 * Frames are grove's: a 4-byte little-endian length, then that many bytes. Every complete frame read is
 * answered with a frame of REPLY_BYTES zeros; the replies to what one read brought leave in one send.
 * Prints "ready" once it listens on 127.0.0.1:PORT; runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME (1u << 20)

struct conn {
	int fd;
	uint8_t *in; /* MAX_FRAME + 4 bytes: what has arrived of the frames not answered yet */
	size_t have;
};

static size_t reply_bytes;

/* Answer every complete frame in c->in, in one send per buffer of answers; false once the connection is done. */
static bool answer(struct conn *c, uint8_t *out, size_t out_cap)
{
	size_t at = 0, used = 0;
	while (c->have - at >= 4) {
		uint32_t len = (uint32_t)c->in[at] | (uint32_t)c->in[at + 1] << 8 | (uint32_t)c->in[at + 2] << 16 |
			       (uint32_t)c->in[at + 3] << 24;
		if (len > MAX_FRAME)
			return false;
		if (c->have - at - 4 < len)
			break;
		at += 4 + len;
		if (used + 4 + reply_bytes > out_cap) {
			if (send(c->fd, out, used, MSG_NOSIGNAL) != (ssize_t)used)
				return false;
			used = 0;
		}
		out[used] = (uint8_t)reply_bytes;
		out[used + 1] = (uint8_t)(reply_bytes >> 8);
		out[used + 2] = out[used + 3] = 0;
		memset(out + used + 4, 0, reply_bytes);
		used += 4 + reply_bytes;
	}
	memmove(c->in, c->in + at, c->have - at);
	c->have -= at;
	/* The benchmark's clients have one request in flight, so the socket's buffer always takes the answers. */
	return used == 0 || send(c->fd, out, used, MSG_NOSIGNAL) == (ssize_t)used;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT REPLY_BYTES\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	reply_bytes = (size_t)atol(argv[2]);
	if (port <= 0 || port > 65535 || reply_bytes > 65535) {
		fprintf(stderr, "floor: bad port or reply size\n");
		return 2;
	}
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 1024) != 0) {
		perror("floor: listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	size_t out_cap = 64 * (4 + reply_bytes) + 4096;
	uint8_t *out = malloc(out_cap);
	if (!out)
		return 1;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
				if (fd < 0)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c = calloc(1, sizeof(*c));
				if (!c || !(c->in = malloc(MAX_FRAME + 4))) {
					free(c);
					close(fd);
					continue;
				}
				c->fd = fd;
				struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				continue;
			}
			ssize_t got = recv(c->fd, c->in + c->have, MAX_FRAME + 4 - c->have, 0);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got > 0) {
				c->have += (size_t)got;
				if (answer(c, out, out_cap))
					continue;
			}
			close(c->fd); /* also leaves the epoll set */
			free(c->in);
			free(c);
		}
	}
}
