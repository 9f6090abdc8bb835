#include "src/server/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/grove.pb-c.h"
#include "src/common/buf.h"
#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/net/frame.h"
#include "src/raft/raft.h"
#include "src/server/log.h"

/* A link whose peer does not drain it is reset rather than buffering without bound. */
#define LINK_BACKLOG_MAX (256u << 20)
/* A batch that grows past this leaves in a frame of its own, well under any peer's frame limit. */
#define BATCH_MAX (4u << 20)
#define RECONNECT_MS 100

struct link {
	struct transport *t;
	uint64_t id;
	char address[64];
	int fd;                     /* -1 when not connected */
	bool connected;             /* connect() finished */
	uint64_t retry_at_ms;       /* earliest next connection attempt */
	struct loop_watch *watch;
	struct frame_writer out;
	struct frame_reader in;     /* the peer's answer to the hello (only a refusal is expected) */
	struct grove_buf batch;     /* RaftBatch.messages fields queued this turn */
	uint64_t sent_ms;           /* when a batch was last queued (monotonic) */
};

struct transport {
	struct loop *loop;
	struct transport_config cfg;
	struct link links[RAFT_MAX_MEMBERS];
	size_t n_links;
};

int transport_create(struct loop *l, const struct transport_config *cfg, struct transport **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return GROVE_ENOMEM;
	(*out)->loop = l;
	(*out)->cfg = *cfg;
	return GROVE_OK;
}

static struct link *link_of(struct transport *t, uint64_t id)
{
	for (size_t i = 0; i < t->n_links; i++)
		if (t->links[i].id == id)
			return &t->links[i];
	return NULL;
}

static void link_close(struct link *l)
{
	loop_unwatch(l->watch);
	l->watch = NULL;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->connected = false;
	l->retry_at_ms = grove_monotonic_ms() + RECONNECT_MS;
	/* Raft sends again what a dead link lost. */
	frame_writer_free(&l->out);
	frame_writer_init(&l->out);
	frame_reader_free(&l->in);
	frame_reader_init(&l->in, 0);
	l->batch.len = 0;
}

void transport_destroy(struct transport *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_links; i++) {
		link_close(&t->links[i]);
		frame_writer_free(&t->links[i].out);
		frame_reader_free(&t->links[i].in);
		grove_buf_free(&t->links[i].batch);
	}
	free(t);
}

void transport_add_peer(struct transport *t, uint64_t id, const char *address)
{
	if (id == t->cfg.self || link_of(t, id) || t->n_links == RAFT_MAX_MEMBERS)
		return;
	struct link *l = &t->links[t->n_links++];
	memset(l, 0, sizeof(*l));
	l->t = t;
	l->id = id;
	snprintf(l->address, sizeof(l->address), "%s", address);
	l->fd = -1;
	frame_writer_init(&l->out);
	frame_reader_init(&l->in, 0);
}

static void pack_into(void *ctx, uint8_t *out)
{
	grove__envelope__pack(ctx, out);
}

size_t transport_backlog_total(const struct transport *t)
{
	size_t total = 0;
	for (size_t i = 0; i < t->n_links; i++)
		total += transport_backlog(t, t->links[i].id);
	return total;
}

static void link_event(void *ctx, uint32_t events);

static void link_connect(struct link *l)
{
	const char *colon = strrchr(l->address, ':');
	char host[64];
	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - l->address) : 0, l->address);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(colon ? (uint16_t)atoi(colon + 1) : 0)};
	l->retry_at_ms = grove_monotonic_ms() + RECONNECT_MS;
	if (!colon || inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return;
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return;
	int one = 1;
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((connect(l->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS) ||
	    !(l->watch = loop_watch(l->t->loop, l->fd, EPOLLIN | EPOLLOUT, link_event, l))) {
		link_close(l);
		return;
	}
	/* The hello goes first; Raft messages queue behind it. */
	Grove__Hello hello = GROVE__HELLO__INIT;
	hello.role = GROVE__HELLO__ROLE__PEER;
	hello.token = (char *)(l->t->cfg.cluster_token ? l->t->cfg.cluster_token : "");
	hello.client_name = "groved";
	hello.peer_id = l->t->cfg.self;
	hello.cluster_id = l->t->cfg.cluster_id;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.version = 1;
	env.body_case = GROVE__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	frame_writer_put_with(&l->out, grove__envelope__get_packed_size(&env), pack_into, &env);
}

static size_t varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/*
 * The batch as a frame: an Envelope {version = 1, raft_batch = RaftBatch {messages..., hlc_wall, hlc_logical}}
 * written directly, since the batch already holds the encoded repeated fields (protobuf concatenates them)
 * and the stamp's fields may follow them.
 */
struct batch_frame {
	const struct grove_buf *batch;
	uint8_t head[16];
	size_t head_len;
	uint8_t stamp[24];
	size_t stamp_len;
};

static void fill_batch(void *ctx, uint8_t *out)
{
	const struct batch_frame *f = ctx;
	memcpy(out, f->head, f->head_len);
	if (f->batch->len) /* an empty batch (a keepalive) may have no buffer yet */
		memcpy(out + f->head_len, f->batch->data, f->batch->len);
	memcpy(out + f->head_len + f->batch->len, f->stamp, f->stamp_len);
}

/* Queue the batch as a frame; an empty one only with @p even_empty. */
static void frame_batch_of(struct link *l, bool even_empty)
{
	if (!l->batch.len && !even_empty)
		return;
	if (frame_writer_queued(&l->out) > LINK_BACKLOG_MAX) {
		log_line("peer %llu is not reading; resetting the link", (unsigned long long)l->id);
		link_close(l);
		return;
	}
	struct batch_frame f = {.batch = &l->batch};
	if (l->t->cfg.stamp) {
		struct hlc_ts ts = l->t->cfg.stamp(l->t->cfg.ctx);
		f.stamp[f.stamp_len++] = 0x18; /* field 3 (hlc_wall), varint */
		f.stamp_len += varint(f.stamp + f.stamp_len, ts.wall);
		f.stamp[f.stamp_len++] = 0x20; /* field 4 (hlc_logical), varint */
		f.stamp_len += varint(f.stamp + f.stamp_len, ts.logical);
	}
	size_t body_len = l->batch.len + f.stamp_len;
	f.head[f.head_len++] = 0x08; /* field 1 (version), varint */
	f.head[f.head_len++] = 1;
	f.head_len += varint(f.head + f.head_len, (101u << 3) | 2); /* field 101 (raft_batch), length-delimited */
	f.head_len += varint(f.head + f.head_len, body_len);
	frame_writer_put_with(&l->out, f.head_len + body_len, fill_batch, &f);
	l->batch.len = 0;
	l->sent_ms = grove_monotonic_ms();
}

static void frame_batch(struct link *l)
{
	frame_batch_of(l, false);
}

/* The link to @p to, connecting it if it may; NULL if there is none to queue on now. */
static struct link *ready_link(struct transport *t, uint64_t to)
{
	struct link *l = link_of(t, to);
	if (!l)
		return NULL;
	if (l->fd < 0) {
		if (grove_monotonic_ms() < l->retry_at_ms)
			return NULL; /* dropped: Raft sends again */
		link_connect(l);
		if (l->fd < 0)
			return NULL;
	}
	return l;
}

/* Append length-delimited field @p field of @p len bytes (written by the caller after) to the batch. */
static void batch_field(struct link *l, unsigned field, size_t len)
{
	uint8_t head[11];
	head[0] = (uint8_t)(field << 3 | 2);
	size_t n = 1 + varint(head + 1, len);
	grove_buf_put(&l->batch, head, n);
}

/* Whether appending to the batch failed (then it is dropped, as a lost link's would be); frames it when full. */
static void batch_done(struct link *l)
{
	if (l->batch.failed) {
		l->batch.len = 0;
		l->batch.failed = false;
		return; /* dropped: Raft sends again */
	}
	if (l->batch.len >= BATCH_MAX)
		frame_batch(l);
}

void transport_send(struct transport *t, uint64_t to, const uint8_t *msg, size_t len)
{
	struct link *l = ready_link(t, to);
	if (!l)
		return;
	batch_field(l, 1, len); /* RaftBatch.messages */
	grove_buf_put(&l->batch, msg, len);
	batch_done(l);
}

void transport_send_proposal(struct transport *t, uint64_t to, uint64_t group, const uint8_t *data, size_t len)
{
	struct link *l = ready_link(t, to);
	if (!l)
		return;
	uint8_t head[24];
	size_t n = 0;
	head[n++] = 0x08; /* Proposal.group */
	n += varint(head + n, group);
	head[n++] = 0x12; /* Proposal.data */
	n += varint(head + n, len);
	batch_field(l, 2, n + len); /* RaftBatch.proposals */
	grove_buf_put(&l->batch, head, n);
	grove_buf_put(&l->batch, data, len);
	batch_done(l);
}

static void flush_link(struct link *l)
{
	frame_batch(l);
	if (l->fd < 0 || !l->connected)
		return;
	if (frame_writer_flush(&l->out, l->fd) != GROVE_OK) {
		link_close(l);
		return;
	}
	loop_watch_events(l->watch, frame_writer_pending(&l->out) ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

void transport_flush(struct transport *t)
{
	for (size_t i = 0; i < t->n_links; i++)
		flush_link(&t->links[i]);
}

void transport_keepalive(struct transport *t)
{
	uint64_t now = grove_monotonic_ms();
	for (size_t i = 0; i < t->n_links; i++) {
		struct link *l = &t->links[i];
		if (now - l->sent_ms < TRANSPORT_KEEPALIVE_MS || !ready_link(t, l->id))
			continue;
		frame_batch_of(l, true);
		flush_link(l);
	}
}

bool transport_has_peer(const struct transport *t, uint64_t id)
{
	for (size_t i = 0; i < t->n_links; i++)
		if (t->links[i].id == id)
			return true;
	return false;
}

size_t transport_backlog(const struct transport *t, uint64_t to)
{
	for (size_t i = 0; i < t->n_links; i++)
		if (t->links[i].id == to)
			return t->links[i].fd >= 0 ? frame_writer_queued(&t->links[i].out) + t->links[i].batch.len : 0;
	return 0;
}

static void link_event(void *ctx, uint32_t events)
{
	struct link *l = ctx;
	if (events & (EPOLLERR | EPOLLHUP)) {
		link_close(l);
		return;
	}
	if ((events & EPOLLOUT) && !l->connected) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			link_close(l);
			return;
		}
		l->connected = true;
	}
	if (events & EPOLLIN) {
		/* The peer answers only the hello; a refusal is logged and the link retried later. */
		int err = frame_reader_fill(&l->in, l->fd);
		const uint8_t *payload;
		size_t len;
		while (!err && frame_reader_next(&l->in, &payload, &len) == 1) {
			Grove__Envelope *env = grove__envelope__unpack(NULL, len, payload);
			frame_reader_consume(&l->in, len);
			if (env && env->body_case == GROVE__ENVELOPE__BODY_ERROR)
				log_line("peer %llu refused us: %s", (unsigned long long)l->id, env->error->message);
			if (env)
				grove__envelope__free_unpacked(env, NULL);
		}
		if (err) {
			link_close(l);
			return;
		}
	}
	flush_link(l);
}
