#include "src/server/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/common/idmap.h"
#include "src/net/frame.h"
#include "src/server/log.h"

/* Out of descriptors, at most one line per this many ms. */
#define EMFILE_LOG_MS 10000
/* Frames a connection hands out per turn: one that pipelines many cannot make everyone's turn long. */
#define FRAMES_PER_TURN 16
/* Out of descriptors with no spare one to accept with, the listener rests this long. */
#define LISTENER_REST_MS 100

/* What an epoll registration points at. */
enum endpoint { ENDPOINT_LISTENER, ENDPOINT_SIGNAL, ENDPOINT_TIMER, ENDPOINT_WATCH, ENDPOINT_CONN };

struct loop_watch {
	enum endpoint kind;   /* ENDPOINT_WATCH */
	struct loop *loop;
	int fd;
	uint32_t events;
	void (*fn)(void *ctx, uint32_t events);
	void *ctx;
	bool gone;                  /* unwatched: freed at the end of the turn, not called */
	struct loop_watch *next_gone;
};

/* A doubly linked list of connections, oldest first. */
struct conn_list {
	struct loop_conn *head, *tail;
};

/* A connection is in up to two lists at once: one that orders its deadline, and the blocked one. */
enum { LINK_ORDER, LINK_BLOCKED, LINKS };

struct link {
	struct conn_list *list; /* the list it is in, NULL if none */
	struct loop_conn *prev, *next;
};

struct loop_conn {
	enum endpoint kind;          /* ENDPOINT_CONN */
	struct loop *loop;
	int fd;
	uint64_t id;
	char peer[64];               /* "ip:port" */
	struct frame_reader in;
	struct frame_writer out;
	void *data;                  /* the server's */
	bool authenticated, server_peer;
	bool closing;                /* close once the output is written */
	bool dead;                   /* close now */
	bool input_waiting;          /* whole frames are buffered that were not handed out (paused, or turn budget spent) */
	bool dirty;                  /* in the turn's list of connections to settle */
	uint32_t events;             /* epoll interest now */
	unsigned in_flight;          /* requests handed on and not answered yet */
	uint64_t dispatched_turn;    /* the turn it last handed out frames in */
	uint64_t since_ms;           /* accepted (unauthenticated) or last activity (authenticated) */
	uint64_t over_since_ms;      /* over the output limit since, 0 if not */
	struct link link[LINKS];     /* LINK_ORDER: fresh, active or peers; LINK_BLOCKED: blocked */
	struct loop_conn *next_dirty;
};

struct loop {
	struct loop_config cfg;
	struct loop_hooks hooks;
	enum endpoint listener_kind, signal_kind, timer_kind;
	int listen_fd, signal_fd, timer_fd, epoll_fd, spare_fd;
	int port;
	bool stopping;
	struct idmap conns;            /* (0, id) -> struct loop_conn */
	uint64_t next_id;
	struct conn_list fresh;        /* not authenticated yet, by accept time */
	struct conn_list active;       /* authenticated clients with nothing in flight, by last activity */
	struct conn_list peers;        /* authenticated servers */
	struct conn_list blocked;      /* not read from (paused: output or requests in flight over the limit) or with frames waiting */
	struct loop_conn *dirty;       /* connections to settle at the end of the turn */
	struct loop_watch *gone;       /* unwatched this turn: events for them may still wait in the batch */
	size_t total_out;              /* unsent bytes of every connection */
	uint64_t emfile_logged_ms;     /* last "out of file descriptors" line, and refusals since */
	size_t emfile_refused;
	uint64_t listener_rests_until_ms; /* the listener is not watched until then (0: it is) */
	uint64_t wake_at_ns;           /* a turn is wanted by then (CLOCK_MONOTONIC; 0: none before the tick) */
	uint64_t last_sweep_ms;
	uint64_t turn;                 /* turns run */
	unsigned pending_peak;         /* the most requests one client connection had in flight */
	uint64_t pending_pauses;       /* times a client connection reached pending_max */
};

/* ---- lists ---- */

static void list_remove(struct loop_conn *c, int k)
{
	struct link *e = &c->link[k];
	if (!e->list)
		return;
	if (e->prev)
		e->prev->link[k].next = e->next;
	else
		e->list->head = e->next;
	if (e->next)
		e->next->link[k].prev = e->prev;
	else
		e->list->tail = e->prev;
	*e = (struct link){0};
}

static void list_append(struct conn_list *list, struct loop_conn *c, int k)
{
	list_remove(c, k);
	struct link *e = &c->link[k];
	e->list = list;
	e->prev = list->tail;
	if (list->tail)
		list->tail->link[k].next = c;
	else
		list->head = c;
	list->tail = c;
}

/* ---- set-up ---- */

static int parse_listen(const char *listen, struct sockaddr_in *addr)
{
	char host[64];
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return GROVE_EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || port < 0 || port > 65535)
		return GROVE_EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? GROVE_OK : GROVE_EINVAL;
}

static int epoll_set(struct loop *l, int op, int fd, void *ptr, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = ptr};
	return epoll_ctl(l->epoll_fd, op, fd, &ev) == 0 ? GROVE_OK : GROVE_EIO;
}

static void apply_defaults(struct loop_config *c)
{
	if (!c->max_frame)
		c->max_frame = FRAME_DEFAULT_MAX;
	if (!c->handshake_max_frame)
		c->handshake_max_frame = 4096;
	if (!c->handshake_ms)
		c->handshake_ms = 10000;
	if (!c->idle_ms)
		c->idle_ms = 600000;
	if (!c->output_max)
		c->output_max = 4u << 20;
	if (!c->output_total_max)
		c->output_total_max = 256u << 20;
	if (!c->output_stall_ms)
		c->output_stall_ms = 30000;
	if (!c->pending_max)
		c->pending_max = 4096;
	if (!c->tick_ms)
		c->tick_ms = 10;
}

bool loop_address_valid(const char *address)
{
	struct sockaddr_in addr;
	return parse_listen(address, &addr) == GROVE_OK;
}

int loop_listen_socket(const char *address, int backlog, int *port, int *err)
{
	struct sockaddr_in addr;
	if (parse_listen(address, &addr)) {
		*err = GROVE_EINVAL;
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, backlog) != 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		errno = saved;
		*err = GROVE_EIO;
		return -1;
	}
	socklen_t alen = sizeof(addr);
	getsockname(fd, (struct sockaddr *)&addr, &alen);
	*port = ntohs(addr.sin_port);
	*err = GROVE_OK;
	return fd;
}

/* The signals that stop the loop: it reads them from a signalfd, so they must not be delivered. */
static void stop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
}

void loop_block_signals(void)
{
	sigset_t mask;
	stop_signals(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
}

int loop_create(const struct loop_config *cfg, const struct loop_hooks *hooks, struct loop **out)
{
	*out = NULL;
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return GROVE_ENOMEM;
	l->cfg = *cfg;
	apply_defaults(&l->cfg);
	l->hooks = *hooks;
	l->listener_kind = ENDPOINT_LISTENER;
	l->signal_kind = ENDPOINT_SIGNAL;
	l->timer_kind = ENDPOINT_TIMER;
	int err;
	l->listen_fd = loop_listen_socket(cfg->listen, 512, &l->port, &err);
	int listen_errno = errno;
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sigset_t mask;
	stop_signals(&mask);
	l->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->listen_fd < 0) {
		if (err == GROVE_EINVAL)
			log_line("cannot listen on \"%s\": expected IPv4-ADDRESS:PORT", cfg->listen ? cfg->listen : "");
		else
			log_line("cannot listen on %s: %s", cfg->listen, strerror(listen_errno));
		loop_destroy(l);
		return err;
	}
	long tick_ns = (long)l->cfg.tick_ms * 1000000L;
	struct itimerspec its = {.it_interval = {tick_ns / 1000000000L, tick_ns % 1000000000L},
				 .it_value = {tick_ns / 1000000000L, tick_ns % 1000000000L}};
	if (l->epoll_fd < 0 || l->signal_fd < 0 || l->timer_fd < 0 || timerfd_settime(l->timer_fd, 0, &its, NULL) ||
	    epoll_set(l, EPOLL_CTL_ADD, l->listen_fd, &l->listener_kind, EPOLLIN) ||
	    epoll_set(l, EPOLL_CTL_ADD, l->signal_fd, &l->signal_kind, EPOLLIN) ||
	    epoll_set(l, EPOLL_CTL_ADD, l->timer_fd, &l->timer_kind, EPOLLIN)) {
		log_line("cannot set up the event loop: %s", strerror(errno));
		loop_destroy(l);
		return GROVE_EIO;
	}
	*out = l;
	return GROVE_OK;
}

int loop_port(const struct loop *l)
{
	return l->port;
}

void loop_stop(struct loop *l)
{
	l->stopping = true;
}

size_t loop_queued_total(const struct loop *l)
{
	return l->total_out;
}

size_t loop_connections(const struct loop *l)
{
	return l->conns.n;
}

unsigned loop_pending_peak(const struct loop *l)
{
	return l->pending_peak;
}

uint64_t loop_pending_pauses(const struct loop *l)
{
	return l->pending_pauses;
}

/* ---- watches ---- */

struct loop_watch *loop_watch(struct loop *l, int fd, uint32_t events, void (*fn)(void *ctx, uint32_t events),
			      void *ctx)
{
	struct loop_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	*w = (struct loop_watch){.kind = ENDPOINT_WATCH, .loop = l, .fd = fd, .events = events, .fn = fn, .ctx = ctx};
	if (epoll_set(l, EPOLL_CTL_ADD, fd, w, events)) {
		free(w);
		return NULL;
	}
	return w;
}

void loop_watch_events(struct loop_watch *w, uint32_t events)
{
	if (w->events == events)
		return;
	w->events = events;
	epoll_set(w->loop, EPOLL_CTL_MOD, w->fd, w, events);
}

void loop_unwatch(struct loop_watch *w)
{
	if (!w)
		return;
	epoll_ctl(w->loop->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
	w->gone = true;
	w->next_gone = w->loop->gone;
	w->loop->gone = w;
}

static void free_unwatched(struct loop *l)
{
	while (l->gone) {
		struct loop_watch *w = l->gone;
		l->gone = w->next_gone;
		free(w);
	}
}

/* ---- connections ---- */

struct loop_conn *loop_conn_find(const struct loop *l, uint64_t id)
{
	return idmap_get(&l->conns, 0, id);
}

uint64_t loop_conn_id(const struct loop_conn *c)
{
	return c->id;
}

const char *loop_conn_peer(const struct loop_conn *c)
{
	return c->peer;
}

void *loop_conn_data(const struct loop_conn *c)
{
	return c->data;
}

void loop_conn_set_data(struct loop_conn *c, void *data)
{
	c->data = data;
}

static void mark_dirty(struct loop_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = c->loop->dirty;
	c->loop->dirty = c;
}

/* Activity of an authenticated client: it moves to the end of the idle order. */
static void touch(struct loop_conn *c)
{
	if (c->link[LINK_ORDER].list != &c->loop->active)
		return;
	c->since_ms = grove_monotonic_ms();
	list_append(&c->loop->active, c, LINK_ORDER);
}

void loop_conn_authenticated(struct loop_conn *c, bool peer)
{
	c->authenticated = true;
	c->server_peer = peer;
	c->in.max = c->loop->cfg.max_frame;
	list_append(peer ? &c->loop->peers : &c->loop->active, c, LINK_ORDER);
	c->since_ms = grove_monotonic_ms();
}

/*
 * Waiting for an answer is not idleness: such a connection leaves the idle order until it has none in flight.
 * At the limit, settling it stops reading it, wherever the request came from.
 */
void loop_conn_pending(struct loop_conn *c)
{
	struct loop *l = c->loop;
	if (c->in_flight++ == 0 && c->link[LINK_ORDER].list == &l->active)
		list_remove(c, LINK_ORDER);
	if (c->server_peer)
		return;
	if (c->in_flight > l->pending_peak)
		l->pending_peak = c->in_flight;
	if (c->in_flight == l->cfg.pending_max) {
		l->pending_pauses++;
		mark_dirty(c);
	}
}

void loop_conn_answered(struct loop_conn *c)
{
	if (c->in_flight == 0 || --c->in_flight > 0)
		return;
	if (c->authenticated && !c->server_peer) {
		c->since_ms = grove_monotonic_ms();
		list_append(&c->loop->active, c, LINK_ORDER);
	}
}

/* Account for a frame just queued (or refused: the connection cannot be trusted with replies any more). */
static int queued(struct loop_conn *c, size_t before, size_t len, int err)
{
	if (err) {
		log_line("%s: cannot queue a reply of %zu bytes: %s; closing the connection", c->peer, len,
			 grove_strerror(err));
		c->dead = true;
	} else {
		c->loop->total_out += frame_writer_queued(&c->out) - before;
	}
	mark_dirty(c);
	return err;
}

int loop_send_with(struct loop_conn *c, size_t len, void (*fill)(void *ctx, uint8_t *out), void *ctx)
{
	if (c->dead)
		return GROVE_EIO;
	size_t before = frame_writer_queued(&c->out);
	return queued(c, before, len, frame_writer_put_with(&c->out, len, fill, ctx));
}

int loop_send(struct loop_conn *c, const void *payload, size_t len)
{
	if (c->dead)
		return GROVE_EIO;
	size_t before = frame_writer_queued(&c->out);
	return queued(c, before, len, frame_writer_put(&c->out, payload, len));
}

size_t loop_conn_queued(const struct loop_conn *c)
{
	return frame_writer_queued(&c->out);
}

void loop_close_after_send(struct loop_conn *c, const char *reason)
{
	if (!c->closing && !c->dead)
		log_line("%s: %s; closing the connection", c->peer, reason);
	c->closing = true;
	mark_dirty(c);
}

static void conn_free(struct loop *l, struct loop_conn *c)
{
	l->hooks.closed(l->hooks.ctx, c);
	idmap_remove(&l->conns, 0, c->id);
	list_remove(c, LINK_ORDER);
	list_remove(c, LINK_BLOCKED);
	l->total_out -= frame_writer_queued(&c->out);
	epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	frame_reader_free(&c->in);
	frame_writer_free(&c->out);
	free(c);
}

/* Stop or resume watching the listener (a connection waiting there keeps it readable). */
static void listener_rest(struct loop *l, uint64_t until_ms)
{
	if (!l->listener_rests_until_ms != !until_ms)
		epoll_set(l, EPOLL_CTL_MOD, l->listen_fd, &l->listener_kind, until_ms ? 0 : EPOLLIN);
	l->listener_rests_until_ms = until_ms;
}

/*
 * Accept and close at once: out of descriptors, the spare one makes room for the accept. Without that
 * (no spare could be had) the connection stays in the backlog and the listener rests a moment, rather
 * than waking every turn for what cannot be accepted.
 */
static void refuse_for_lack_of_descriptors(struct loop *l)
{
	bool taken = false;
	if (l->spare_fd >= 0) {
		close(l->spare_fd);
		int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		taken = fd >= 0;
		l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	uint64_t now = grove_monotonic_ms();
	if (!taken)
		listener_rest(l, now + LISTENER_REST_MS);
	l->emfile_refused++;
	if (l->emfile_logged_ms && now - l->emfile_logged_ms < EMFILE_LOG_MS)
		return;
	if (l->emfile_refused == 1)
		log_line("out of file descriptors: refusing new connections, serving the %zu open (one line every %d s "
			 "while it lasts)", l->conns.n, EMFILE_LOG_MS / 1000);
	else
		log_line("out of file descriptors: refused %zu connection(s) in the last %llu s, serving the %zu open",
			 l->emfile_refused, (unsigned long long)(now - l->emfile_logged_ms) / 1000, l->conns.n);
	l->emfile_logged_ms = now;
	l->emfile_refused = 0;
}

static void accept_all(struct loop *l)
{
	for (int accepted = 0; accepted < 256; accepted++) {
		struct sockaddr_in addr;
		socklen_t alen = sizeof(addr);
		int fd = accept4(l->listen_fd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				refuse_for_lack_of_descriptors(l);
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_line("accept: %s", strerror(errno));
			return;
		}
		struct loop_conn *c = calloc(1, sizeof(*c));
		if (!c || idmap_put(&l->conns, 0, l->next_id + 1, c)) {
			free(c);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->kind = ENDPOINT_CONN;
		c->loop = l;
		c->fd = fd;
		c->id = ++l->next_id;
		char ip[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(addr.sin_port));
		frame_reader_init(&c->in, l->cfg.handshake_max_frame);
		frame_writer_init(&c->out);
		c->events = EPOLLIN;
		if (epoll_set(l, EPOLL_CTL_ADD, fd, c, EPOLLIN)) {
			idmap_remove(&l->conns, 0, c->id);
			close(fd);
			free(c);
			continue;
		}
		list_append(&l->fresh, c, LINK_ORDER);
		c->since_ms = grove_monotonic_ms();
	}
}

/* Whether @p c's replies (or everyone's) are not draining: it is not read from, and a deadline runs. */
static bool output_over_limit(const struct loop_conn *c)
{
	if (c->server_peer)
		return false;
	size_t queued = frame_writer_queued(&c->out);
	return queued > c->loop->cfg.output_max || (queued && c->loop->total_out > c->loop->cfg.output_total_max);
}

/* Whether @p c has as many requests in flight as it may: it is not read from until one is answered. */
static bool pending_at_limit(const struct loop_conn *c)
{
	return !c->server_peer && c->in_flight >= c->loop->cfg.pending_max;
}

/* Whether @p c must not be read from now. */
static bool paused(const struct loop_conn *c)
{
	return output_over_limit(c) || pending_at_limit(c);
}

/* Hand out the whole frames buffered, while @p c is not paused and up to the turn's budget. */
static void dispatch_frames(struct loop *l, struct loop_conn *c)
{
	c->input_waiting = false;
	c->dispatched_turn = l->turn;
	for (unsigned n = 0; !c->closing && !c->dead; n++) {
		const uint8_t *payload;
		size_t len;
		int ready = frame_reader_next(&c->in, &payload, &len);
		if (ready == 0)
			return;
		if (ready < 0) {
			char reason[128];
			snprintf(reason, sizeof(reason), "frame of %zu bytes exceeds the limit of %u%s", len, c->in.max,
				 c->authenticated ? "" : " before the handshake");
			if (l->hooks.too_large)
				l->hooks.too_large(l->hooks.ctx, c, reason);
			loop_close_after_send(c, reason);
			return;
		}
		if (n == FRAMES_PER_TURN || paused(c)) {
			c->input_waiting = true;
			return;
		}
		l->hooks.frame(l->hooks.ctx, c, payload, len);
		frame_reader_consume(&c->in, len);
	}
}

static void read_conn(struct loop *l, struct loop_conn *c)
{
	int err = frame_reader_fill(&c->in, c->fd);
	if (err == GROVE_ENOTFOUND) {
		c->dead = true;
	} else if (err) {
		log_line("%s: read failed: %s; closing the connection", c->peer, strerror(errno));
		c->dead = true;
	} else {
		touch(c);
		dispatch_frames(l, c);
	}
	mark_dirty(c);
}

/* Write what was queued, set the epoll interest if it changed, close what must close. */
static void settle(struct loop *l, struct loop_conn *c)
{
	c->dirty = false;
	size_t before = frame_writer_queued(&c->out);
	if (!c->dead && before && frame_writer_flush(&c->out, c->fd) != GROVE_OK)
		c->dead = true;
	size_t after = frame_writer_queued(&c->out);
	l->total_out -= before - after;
	if (after < before)
		touch(c);
	if (c->dead || (c->closing && !after)) {
		conn_free(l, c);
		return;
	}
	bool over = output_over_limit(c);
	if (over && !c->over_since_ms)
		c->over_since_ms = grove_monotonic_ms();
	else if (!over)
		c->over_since_ms = 0;
	bool stop_reading = over || pending_at_limit(c);
	if (!stop_reading && !c->input_waiting)
		list_remove(c, LINK_BLOCKED);
	else if (!c->link[LINK_BLOCKED].list)
		list_append(&l->blocked, c, LINK_BLOCKED);
	uint32_t want = (stop_reading || c->closing ? 0 : EPOLLIN) | (after ? EPOLLOUT : 0);
	if (want != c->events) {
		c->events = want;
		epoll_set(l, EPOLL_CTL_MOD, c->fd, c, want);
	}
}

static void settle_all(struct loop *l)
{
	while (l->dirty) {
		struct loop_conn *c = l->dirty;
		l->dirty = c->next_dirty;
		settle(l, c);
	}
}

/*
 * Blocked connections no longer paused (their output drained or everyone's went under the total, and
 * answers brought their requests in flight under the limit): read from them again, handing out the frames
 * that waited, unless they had their turn's budget already. Only the blocked ones are visited; those still
 * paused are no work, so the next turn waits for an event. Returns whether the next turn has work without
 * waiting for an event.
 */
static bool resume_blocked(struct loop *l)
{
	bool work = false;
	for (struct loop_conn *c = l->blocked.head; c; c = c->link[LINK_BLOCKED].next) {
		if (c->dirty || paused(c))
			continue;
		work = true;
		if (c->input_waiting && c->dispatched_turn == l->turn)
			continue;
		if (c->input_waiting)
			dispatch_frames(l, c);
		mark_dirty(c);
	}
	return work;
}

/* A deadline passed: close now. What is queued is dropped: the other end is not reading it. */
static void expire(struct loop_conn *c, const char *reason)
{
	list_remove(c, LINK_ORDER);
	if (!c->closing && !c->dead)
		log_line("%s: %s; closing the connection", c->peer, reason);
	c->dead = true;
	mark_dirty(c);
}

/* Deadlines: the handshake, idleness, and output that does not drain. Only expired ones are visited. */
static void sweep(struct loop *l)
{
	uint64_t now = grove_monotonic_ms();
	char reason[96];
	while (l->fresh.head && now - l->fresh.head->since_ms >= l->cfg.handshake_ms) {
		snprintf(reason, sizeof(reason), "no handshake within %u ms", l->cfg.handshake_ms);
		expire(l->fresh.head, reason);
	}
	while (l->cfg.idle_ms != UINT32_MAX && l->active.head && now - l->active.head->since_ms >= l->cfg.idle_ms) {
		snprintf(reason, sizeof(reason), "idle for %u s", l->cfg.idle_ms / 1000);
		expire(l->active.head, reason);
	}
	if (l->listener_rests_until_ms && now >= l->listener_rests_until_ms) {
		if (l->spare_fd < 0)
			l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		listener_rest(l, 0);
	}
	if (now - l->last_sweep_ms < 1000)
		return;
	l->last_sweep_ms = now;
	/* Once a second, the blocked connections: those over their output limit for too long are closed. */
	for (struct loop_conn *c = l->blocked.head; c; c = c->link[LINK_BLOCKED].next) {
		if (c->over_since_ms && now - c->over_since_ms >= l->cfg.output_stall_ms && !c->dead) {
			log_line("%s: its replies did not drain for %u s (%zu bytes waiting); closing the connection",
				 c->peer, l->cfg.output_stall_ms / 1000, frame_writer_queued(&c->out));
			c->dead = true; /* what is queued will never be read */
			mark_dirty(c);
		}
	}
}

void loop_wake_after(struct loop *l, uint64_t ns)
{
	uint64_t at = grove_monotonic_ns() + ns;
	if (!l->wake_at_ns || at < l->wake_at_ns)
		l->wake_at_ns = at;
}

/* How long the next wait for events may last: until a wanted turn (rounded up to a ms), or a second. */
static int wait_ms(struct loop *l, bool resumed)
{
	if (resumed)
		return 0;
	if (!l->wake_at_ns)
		return 1000;
	uint64_t now = grove_monotonic_ns();
	if (now >= l->wake_at_ns)
		return 0;
	uint64_t ms = (l->wake_at_ns - now + 999999) / 1000000;
	return ms < 1000 ? (int)ms : 1000;
}

int loop_run(struct loop *l)
{
	struct epoll_event events[256];
	bool resumed = false;
	while (!l->stopping) {
		l->turn++;
		int n = epoll_wait(l->epoll_fd, events, 256, wait_ms(l, resumed));
		if (l->wake_at_ns && grove_monotonic_ns() >= l->wake_at_ns)
			l->wake_at_ns = 0; /* this turn is the one wanted */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_line("epoll_wait: %s", strerror(errno));
			return GROVE_EIO;
		}
		uint64_t expirations = 0;
		for (int i = 0; i < n; i++) {
			enum endpoint *kind = events[i].data.ptr;
			if (*kind == ENDPOINT_LISTENER) {
				accept_all(l);
			} else if (*kind == ENDPOINT_SIGNAL) {
				struct signalfd_siginfo si;
				if (read(l->signal_fd, &si, sizeof(si)) == sizeof(si)) {
					log_line("received %s; stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
					l->stopping = true;
				}
			} else if (*kind == ENDPOINT_TIMER) {
				if (read(l->timer_fd, &expirations, sizeof(expirations)) != sizeof(expirations))
					expirations = 0;
			} else if (*kind == ENDPOINT_WATCH) {
				struct loop_watch *w = events[i].data.ptr;
				if (!w->gone)
					w->fn(w->ctx, events[i].events);
			} else {
				struct loop_conn *c = events[i].data.ptr;
				if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					read_conn(l, c);
				if (events[i].events & EPOLLOUT)
					mark_dirty(c);
			}
		}
		/*
		 * Ticks are logical time: a late wake-up counts every missed tick, but not without bound, and only
		 * after what this turn read. Counted before, the time a stall missed timed out the heartbeats and
		 * answers that had arrived during it: followers campaigned and leaders stepped down, all alive.
		 */
		if (expirations) {
			for (uint64_t t = 0; t < expirations && t < 10; t++)
				l->hooks.tick(l->hooks.ctx);
			sweep(l);
		}
		l->hooks.turn(l->hooks.ctx);
		settle_all(l);
		free_unwatched(l);
		resumed = resume_blocked(l);
	}
	return GROVE_OK;
}

static void free_conn(void *ctx, uint64_t a, uint64_t b, void *value)
{
	(void)a, (void)b;
	struct loop_conn *c = value;
	struct loop *l = ctx;
	l->hooks.closed(l->hooks.ctx, c);
	close(c->fd);
	frame_reader_free(&c->in);
	frame_writer_free(&c->out);
	free(c);
}

void loop_destroy(struct loop *l)
{
	if (!l)
		return;
	idmap_for_each(&l->conns, free_conn, l);
	idmap_free(&l->conns);
	free_unwatched(l);
	int fds[] = {l->listen_fd, l->signal_fd, l->timer_fd, l->epoll_fd, l->spare_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(l);
}
