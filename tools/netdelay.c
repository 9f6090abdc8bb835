/*
 * netdelay: a TCP proxy on 127.0.0.1 that adds a one-way delay and jitter to each direction, to predict
 * latencies over LAN, metro and WAN links on one machine (`tc netem` needs privileges and a real device).
 *
 *   netdelay --listen PORT --target PORT [--up-ms D] [--down-ms D] [--jitter-ms J] [--seconds S]
 *            [--control PORT]
 *
 * Bytes from a connecting client to the target are held --up-ms (plus a uniform random 0..J) before they
 * are forwarded, bytes from the target back --down-ms (plus 0..J). Within a direction bytes never overtake
 * each other: a chunk leaves no earlier than the one before it, as on a real link, so jitter delays but
 * never reorders a TCP stream. Bandwidth is not modelled. One thread, one epoll; it runs until SIGTERM or
 * --seconds (default one day) passes. Prints "ready" once it listens.
 *
 * Faults at run time (the fault campaign, tests/jepsen/campaign.c, partitions grove's peers with them): with
 * --control PORT it also listens on 127.0.0.1:PORT for connections that each send one command line and get
 * "ok" or "error ..." back:
 *
 *   drop up|down|both   discard the bytes of that direction from now on (a partition; one-way when one
 *                       direction only)
 *   heal                stop discarding; every connection that lost bytes is reset
 *   delay UP_MS DOWN_MS the delays of bytes read from now on
 *
 * A dropped direction keeps its connections open and silently discards what they carry, as a partitioned
 * network does: the peers notice only by their own timeouts. The alternative, resetting connections and
 * refusing new ones, would tell them at once, which no real partition does. Discarding leaves a hole in
 * the TCP stream, which a real TCP connection never delivers (it stalls, retransmits, and eventually gives
 * up with a reset): so a connection that lost bytes is reset when the fault heals, and never resumes with
 * the bytes after the hole, which would reach the peer as corrupt frames.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINKS 4096
#define READ_CHUNK 65536

/* Bytes read from one side, to be written to the other side at @c due. */
struct chunk {
	struct chunk *next;
	uint64_t due_ns;
	size_t len, off;
	uint8_t data[];
};

/* One direction of a proxied connection: what was read from @c from and waits to be written to @c to. */
struct direction {
	struct link *link;    /* the connection it belongs to */
	int from, to;
	struct chunk *head, *tail;
	uint64_t last_due_ns; /* chunks leave in order */
	bool eof;             /* @c from closed: shut @c to's write side once the queue is empty */
	bool shut;
	bool lost;            /* bytes were discarded (drop): the stream has a hole, reset it when healing */
	bool up;              /* client -> target */
};

struct link {
	struct direction up, down; /* client -> target, target -> client */
	bool used;
};

static struct link links[MAX_LINKS];
static int links_high; /* links at this slot and above were never used */
static uint64_t jitter_ns;
static uint64_t delay_up_ns, delay_down_ns; /* for bytes read from now on */
static bool drop_up, drop_down;           /* discard what the direction carries */
static volatile sig_atomic_t stopping;

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static uint64_t parse_ms(const char *text)
{
	return (uint64_t)(atof(text) * 1e6);
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int connect_target(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	set_nodelay(fd);
	return fd;
}

static void free_queue(struct direction *d)
{
	while (d->head) {
		struct chunk *c = d->head;
		d->head = c->next;
		free(c);
	}
	d->tail = NULL;
}

static void close_link(int ep, struct link *l)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, l->up.from, NULL);
	epoll_ctl(ep, EPOLL_CTL_DEL, l->down.from, NULL);
	close(l->up.from);
	close(l->down.from);
	free_queue(&l->up);
	free_queue(&l->down);
	memset(l, 0, sizeof(*l));
}

/* Close both sockets of @p l with a reset (RST) rather than an orderly end of stream. */
static void reset_link(int ep, struct link *l)
{
	struct linger hard = {.l_onoff = 1, .l_linger = 0};
	setsockopt(l->up.from, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	setsockopt(l->down.from, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	close_link(ep, l);
}

/* Carry out one control command line; @p reply receives the answer line. */
static void control_command(int ep, char *line, char *reply, size_t cap)
{
	char what[16] = "";
	double up_ms, down_ms;
	snprintf(reply, cap, "ok\n");
	if (sscanf(line, "drop %15s", what) == 1) {
		bool up = strcmp(what, "up") == 0 || strcmp(what, "both") == 0;
		bool down = strcmp(what, "down") == 0 || strcmp(what, "both") == 0;
		drop_up |= up;
		drop_down |= down;
		if (!up && !down)
			snprintf(reply, cap, "error: drop up|down|both\n");
	} else if (strncmp(line, "heal", 4) == 0) {
		drop_up = drop_down = false;
		for (int i = 0; i < links_high; i++)
			if (links[i].used && (links[i].up.lost || links[i].down.lost))
				reset_link(ep, &links[i]);
	} else if (sscanf(line, "delay %lf %lf", &up_ms, &down_ms) == 2 && up_ms >= 0 && down_ms >= 0) {
		delay_up_ns = (uint64_t)(up_ms * 1e6);
		delay_down_ns = (uint64_t)(down_ms * 1e6);
	} else
		snprintf(reply, cap, "error: unknown command (drop up|down|both, heal, delay UP_MS DOWN_MS)\n");
}

/*
 * Serve one control connection: one line in, one line out. It blocks the loop for at most a second, which
 * only the campaign's own commands can cause: they are short and sent whole.
 */
static void serve_control(int ep, int control)
{
	int fd = accept4(control, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval limit = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
	char line[128];
	size_t len = 0;
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		ssize_t n = recv(fd, line + len, sizeof(line) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	line[len] = '\0';
	char reply[128];
	control_command(ep, line, reply, sizeof(reply));
	(void)!send(fd, reply, strlen(reply), MSG_NOSIGNAL);
	close(fd);
}

/* A socket listening on 127.0.0.1:@p port, or -1. */
static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd >= 0 && (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 256) != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read what @p d's source has into a new chunk due after the delay. @return false when the link failed. */
static bool take(struct direction *d)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n = recv(d->from, buf, sizeof(buf), 0);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0) {
		d->eof = true;
		return true;
	}
	if (d->up ? drop_up : drop_down) {
		d->lost = true;
		return true;
	}
	struct chunk *c = malloc(sizeof(*c) + (size_t)n);
	if (!c)
		return false;
	uint64_t extra = jitter_ns ? (uint64_t)((double)random() / RAND_MAX * (double)jitter_ns) : 0;
	uint64_t due = monotonic_ns() + (d->up ? delay_up_ns : delay_down_ns) + extra;
	if (due < d->last_due_ns)
		due = d->last_due_ns;
	d->last_due_ns = due;
	*c = (struct chunk){.due_ns = due, .len = (size_t)n};
	memcpy(c->data, buf, (size_t)n);
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	return true;
}

/* Write the chunks that are due. @return false when the link failed. */
static bool give(struct direction *d, uint64_t now)
{
	while (d->head && d->head->due_ns <= now) {
		struct chunk *c = d->head;
		ssize_t n = send(d->to, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR; /* a full socket: try again on the next turn */
		c->off += (size_t)n;
		if (c->off < c->len)
			return true;
		d->head = c->next;
		if (!d->head)
			d->tail = NULL;
		free(c);
	}
	if (d->eof && !d->head && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
	return true;
}

/* When the earliest chunk is due (UINT64_MAX when none waits). */
static uint64_t earliest_due(void)
{
	uint64_t earliest = UINT64_MAX;
	for (int i = 0; i < links_high; i++) {
		if (!links[i].used)
			continue;
		struct direction *ds[2] = {&links[i].up, &links[i].down};
		for (int k = 0; k < 2; k++)
			if (ds[k]->head && ds[k]->head->due_ns < earliest)
				earliest = ds[k]->head->due_ns;
	}
	return earliest;
}

/* Arm @p timer for @p due (CLOCK_MONOTONIC): epoll_wait's timeout is in whole milliseconds, the delays are not. */
static void arm(int timer, uint64_t due)
{
	struct itimerspec its = {0};
	if (due != UINT64_MAX) {
		due = due ? due : 1; /* zero would disarm it */
		its.it_value = (struct timespec){(time_t)(due / 1000000000ull), (long)(due % 1000000000ull)};
	}
	timerfd_settime(timer, TFD_TIMER_ABSTIME, &its, NULL);
}

static void accept_link(int ep, int listener, int target_port)
{
	int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (client < 0)
		return;
	int slot = 0;
	while (slot < MAX_LINKS && links[slot].used)
		slot++;
	int target = slot < MAX_LINKS ? connect_target(target_port) : -1;
	if (target < 0) {
		close(client);
		return;
	}
	set_nodelay(client);
	struct link *l = &links[slot];
	*l = (struct link){.up = {.link = l, .from = client, .to = target, .up = true},
			   .down = {.link = l, .from = target, .to = client},
			   .used = true};
	if (slot >= links_high)
		links_high = slot + 1;
	/* The pointer tells which direction became readable. */
	struct epoll_event eu = {.events = EPOLLIN, .data.ptr = &l->up}, ed = {.events = EPOLLIN, .data.ptr = &l->down};
	epoll_ctl(ep, EPOLL_CTL_ADD, client, &eu);
	epoll_ctl(ep, EPOLL_CTL_ADD, target, &ed);
}

int main(int argc, char **argv)
{
	int listen_port = 0, target_port = 0, control_port = 0;
	double seconds = 86400;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0)
			listen_port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--target") == 0)
			target_port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--up-ms") == 0)
			delay_up_ns = parse_ms(argv[i + 1]);
		else if (strcmp(argv[i], "--down-ms") == 0)
			delay_down_ns = parse_ms(argv[i + 1]);
		else if (strcmp(argv[i], "--jitter-ms") == 0)
			jitter_ns = parse_ms(argv[i + 1]);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--control") == 0)
			control_port = atoi(argv[i + 1]);
		else
			listen_port = 0;
	}
	if (listen_port <= 0 || target_port <= 0 || argc % 2 == 0) {
		fprintf(stderr, "usage: %s --listen PORT --target PORT [--up-ms D] [--down-ms D] [--jitter-ms J] "
				"[--seconds S] [--control PORT]\n", argv[0]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid());
	int listener = listen_on(listen_port), control = control_port > 0 ? listen_on(control_port) : -2;
	if (listener < 0 || control == -1) {
		perror("netdelay: listen");
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	/* The listener and the timer are told apart from the directions by these two addresses. */
	static char listener_tag, timer_tag, control_tag;
	int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct epoll_event le = {.events = EPOLLIN, .data.ptr = &listener_tag}, te = {.events = EPOLLIN, .data.ptr = &timer_tag};
	epoll_ctl(ep, EPOLL_CTL_ADD, listener, &le);
	epoll_ctl(ep, EPOLL_CTL_ADD, timer, &te);
	struct epoll_event ce = {.events = EPOLLIN, .data.ptr = &control_tag};
	if (control >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, control, &ce);
	/* Timers of this process fire within a microsecond of their time rather than the default 50. */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	printf("ready\n");
	fflush(stdout);
	uint64_t end = monotonic_ns() + (uint64_t)(seconds * 1e9);
	while (!stopping && monotonic_ns() < end) {
		struct epoll_event events[64];
		arm(timer, earliest_due());
		int n = epoll_wait(ep, events, 64, 100);
		for (int i = 0; i < n; i++) {
			void *tag = events[i].data.ptr;
			if (tag == &listener_tag) {
				accept_link(ep, listener, target_port);
				continue;
			}
			if (tag == &control_tag) {
				serve_control(ep, control);
				continue;
			}
			if (tag == &timer_tag) {
				uint64_t expirations;
				if (read(timer, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
					break;
				continue;
			}
			struct direction *d = tag;
			struct link *l = d->link;
			if (!l || !l->used) /* closed earlier in this batch */
				continue;
			if (!take(d)) {
				close_link(ep, l);
				continue;
			}
			if (d->eof)
				epoll_ctl(ep, EPOLL_CTL_DEL, d->from, NULL);
		}
		uint64_t now = monotonic_ns();
		for (int i = 0; i < links_high; i++) {
			struct link *l = &links[i];
			if (!l->used)
				continue;
			if (!give(&l->up, now) || !give(&l->down, now) || (l->up.shut && l->down.shut))
				close_link(ep, l);
		}
	}
	for (int i = 0; i < MAX_LINKS; i++)
		if (links[i].used)
			close_link(ep, &links[i]);
	close(listener);
	if (control >= 0)
		close(control);
	close(timer);
	close(ep);
	return 0;
}
