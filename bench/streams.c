/* The subscribers, watchers, writer and rounds the stream benchmarks share (streams.h). */
#include "streams.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "stats.h"
#include "support.h"

#define MAX_RECEIVERS 8
/* Waits that end the benchmark rather than hang it. */
#define READY_TIMEOUT_NS 60000000000ull
#define DRAIN_TIMEOUT_NS 10000000000ull

#define RAW_CAP (1u << 18)

static void note_value(struct sub *s, int64_t value, uint64_t at)
{
	int64_t i = value - s->base;
	if (i >= 0 && (size_t)i < s->values && !__atomic_load_n(&s->arrival[i], __ATOMIC_RELAXED))
		__atomic_store_n(&s->arrival[i], at, __ATOMIC_RELEASE);
}

/* ---- grove subscribers ---- */

static void grove_event(struct sub *s, const Grove__SubscribeEvent *ev, uint64_t at)
{
	if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT && ev->last) {
		__atomic_store_n(&s->ready, true, __ATOMIC_RELEASE);
	} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__ERROR || ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED) {
		fprintf(stderr, "grove subscriber at member %d: %s\n", s->member + 1, ev->reason);
		__atomic_store_n(&s->failed, true, __ATOMIC_RELEASE);
	} else if (ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__CHANGES) {
		for (size_t i = 0; i < ev->n_changes; i++) {
			const Grove__Change *ch = ev->changes[i];
			struct variant v;
			if (ch->op != TREE_OP_SET_PROP || strcmp(ch->name, "seq") != 0 ||
			    variant_decode(&v, ch->value.data, ch->value.len, NULL) != GROVE_OK)
				continue;
			if (v.type == VARIANT_INT) {
				int64_t k = v.as.i - s->base;
				if (s->events && k >= 0 && (size_t)k < s->values)
					s->events[k] = (struct event_times){ev->index, ev->committed_ns, ev->applied_ns, ev->sent_ns};
				note_value(s, v.as.i, at);
			}
			variant_free(&v);
		}
	}
}

static bool grove_fill(struct sub *s)
{
	return frame_reader_fill(&s->frames, s->fd) == GROVE_OK;
}

static bool grove_parse(struct sub *s, uint64_t at)
{
	const uint8_t *payload;
	size_t len;
	int ready;
	while ((ready = frame_reader_next(&s->frames, &payload, &len)) == 1) {
		Grove__Envelope *msg = grove__envelope__unpack(NULL, len, payload);
		frame_reader_consume(&s->frames, len);
		if (!msg)
			return false;
		if (msg->body_case == GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT)
			grove_event(s, msg->subscribe_event, at);
		grove__envelope__free_unpacked(msg, NULL);
	}
	return ready == 0;
}

static bool grove_subscribe(struct sub *s, const char *address)
{
	if (grove_client_connect(address, NULL, 10000, &s->grove, NULL, 0) != GROVE_OK)
		return false;
	Grove__SubscribeRequest rq = GROVE__SUBSCRIBE_REQUEST__INIT;
	rq.path = "/root/World";
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.body_case = GROVE__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &rq;
	if (grove_client_send(s->grove, &env) != GROVE_OK)
		return false;
	/* The client read exactly its hello reply; everything after it is read here, from its socket. */
	s->fd = grove_client_fd(s->grove);
	frame_reader_init(&s->frames, 0);
	s->fill = grove_fill;
	s->parse = grove_parse;
	return true;
}

/* ---- etcd watchers: a chunked HTTP response of JSON messages, one a line ---- */

static void etcd_message(struct sub *s, uint64_t at)
{
	s->line[s->line_len] = '\0';
	if (strstr(s->line, "\"created\":true"))
		__atomic_store_n(&s->ready, true, __ATOMIC_RELEASE);
	for (char *v = strstr(s->line, "\"value\":\""); v; v = strstr(v + 1, "\"value\":\"")) {
		char decoded[64];
		size_t n = strcspn(v + 9, "\"");
		if (n >= 80)
			continue;
		decoded[base64_decode(v + 9, n, decoded)] = '\0';
		note_value(s, atoll(decoded), at);
	}
	s->line_len = 0;
}

/* Take the response's framing off what was read: headers once, then chunk sizes and CRLFs. */
static bool etcd_dechunk(struct sub *s, uint64_t at)
{
	size_t pos = 0;
	while (pos < s->raw_len) {
		char *start = s->raw + pos;
		size_t avail = s->raw_len - pos;
		if (!s->in_body) {
			char *end = memmem(start, avail, "\r\n\r\n", 4);
			if (!end)
				break;
			if (strncmp(s->raw, "HTTP/1.1 200", 12) != 0)
				return false;
			s->in_body = true;
			pos += (size_t)(end + 4 - start);
		} else if (s->chunk_left == 0) {
			char *eol = memmem(start, avail, "\r\n", 2);
			if (!eol)
				break;
			size_t size = strtoul(start, NULL, 16);
			if (size == 0)
				return false; /* the stream ended */
			s->chunk_left = size + 2;
			pos += (size_t)(eol + 2 - start);
		} else {
			size_t take = avail < s->chunk_left ? avail : s->chunk_left;
			for (size_t i = 0; i < take; i++) {
				/* The chunk's own CRLF is the last 2 of chunk_left: framing, not JSON. */
				bool framing = s->chunk_left - i <= 2;
				if (framing)
					continue;
				if (start[i] == '\n')
					etcd_message(s, at);
				else if (s->line_len < RAW_CAP - 1)
					s->line[s->line_len++] = start[i];
			}
			s->chunk_left -= take;
			pos += take;
		}
	}
	memmove(s->raw, s->raw + pos, s->raw_len - pos);
	s->raw_len -= pos;
	return true;
}

static bool etcd_fill(struct sub *s)
{
	if (s->raw_len == RAW_CAP)
		return false;
	ssize_t n = recv(s->fd, s->raw + s->raw_len, RAW_CAP - s->raw_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false;
	s->raw_len += (size_t)n;
	return true;
}

static bool etcd_watch(struct sub *s, int port)
{
	s->http = http_connect(port);
	if (!s->http)
		return false;
	char key[64], end[64], body[256];
	base64_encode("/world/", 7, key);
	base64_encode("/world0", 7, end); /* '0' follows '/': the whole prefix */
	snprintf(body, sizeof(body), "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\"}}", key, end);
	if (http_send_post(s->http, "/v3/watch", body))
		return false;
	s->fd = s->http->fd;
	s->raw = malloc(RAW_CAP);
	s->line = malloc(RAW_CAP);
	s->fill = etcd_fill;
	s->parse = etcd_dechunk;
	return s->raw && s->line;
}

/* ---- receivers ---- */

struct receiver {
	pthread_t thread;
	int epoll_fd;
	uint64_t (*clock)(void); /* the round's */
	volatile bool stop;
};

static void *receive(void *arg)
{
	struct receiver *r = arg;
	struct epoll_event events[64];
	/* Bounded like every loop here: the main thread stops it, or this much time ends it. */
	uint64_t deadline = now_ns() + 3600000000000ull;
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && now_ns() < deadline) {
		int n = epoll_wait(r->epoll_fd, events, 64, 20);
		/* Every ready socket is read and timed before any message is decoded, so that decoding one
		 * subscriber's does not count as the next one's delivery time. A time taken after the read is
		 * never before the bytes were there. */
		uint64_t at[64];
		bool ok[64];
		for (int i = 0; i < n; i++) {
			struct sub *s = events[i].data.ptr;
			ok[i] = s->fill(s);
			at[i] = r->clock();
		}
		for (int i = 0; i < n; i++) {
			struct sub *s = events[i].data.ptr;
			if (!ok[i] || !s->parse(s, at[i])) {
				__atomic_store_n(&s->failed, true, __ATOMIC_RELEASE);
				epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
			}
		}
	}
	return NULL;
}


void add_sample(struct samples *s, uint64_t ns)
{
	s->v[s->n++] = ns;
}

double sorted_pct(struct samples *s, double p)
{
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	return pct(s->v, s->n, p);
}

static void close_sub(struct sub *s)
{
	if (s->grove) {
		grove_client_close(s->grove);
		frame_reader_free(&s->frames);
	}
	http_close(s->http);
	free(s->raw);
	free(s->line);
	free(s->arrival);
	free(s->events);
}

static bool all_ready(struct sub *subs, int n)
{
	for (int i = 0; i < n; i++)
		if (!__atomic_load_n(&subs[i].ready, __ATOMIC_ACQUIRE) || __atomic_load_n(&subs[i].failed, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

static bool all_delivered(struct sub *subs, int n, size_t last)
{
	for (int i = 0; i < n; i++)
		if (!__atomic_load_n(&subs[i].failed, __ATOMIC_ACQUIRE) && !__atomic_load_n(&subs[i].arrival[last], __ATOMIC_ACQUIRE))
			return false;
	return true;
}

static void wait_until(bool (*done)(struct sub *, int, size_t), struct sub *subs, int n, size_t arg, uint64_t limit_ns)
{
	uint64_t t0 = now_ns();
	while (!done(subs, n, arg) && now_ns() - t0 < limit_ns)
		usleep(1000);
}

static bool ready_adapter(struct sub *subs, int n, size_t unused)
{
	(void)unused;
	return all_ready(subs, n);
}


static int start_receivers(struct receiver *rx, int subscribers, uint64_t (*clock)(void))
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int n = subscribers < cores ? subscribers : (int)cores;
	n = n < 1 ? 1 : n > MAX_RECEIVERS ? MAX_RECEIVERS : n;
	for (int t = 0; t < n; t++)
		rx[t] = (struct receiver){.epoll_fd = epoll_create1(EPOLL_CLOEXEC), .clock = clock};
	return n;
}

static void stop_receivers(struct receiver *rx, int n)
{
	for (int t = 0; t < n; t++)
		__atomic_store_n(&rx[t].stop, true, __ATOMIC_RELEASE);
	for (int t = 0; t < n; t++)
		pthread_join(rx[t].thread, NULL);
	for (int t = 0; t < n; t++)
		close(rx[t].epoll_fd);
}

/* Subscribe @p n subscribers, each to member k % 3, and hand them to the receivers; with @p times, each notes
 * its events' stage times too. */
static bool open_subscribers(const struct store *st, struct sub *subs, int n, struct receiver *rx, int receivers,
			     size_t values, int64_t base, bool times)
{
	for (int k = 0; k < n; k++) {
		struct sub *s = &subs[k];
		s->member = k % CLUSTER_MEMBERS;
		s->on_leader = s->member == st->leader;
		s->values = values;
		s->base = base;
		s->arrival = calloc(values, sizeof(uint64_t));
		s->events = times ? calloc(values, sizeof(*s->events)) : NULL;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
		if (!s->arrival || (times && !s->events) || !st->open(s, st) || epoll_ctl(rx[k % receivers].epoll_fd, EPOLL_CTL_ADD, s->fd, &ev))
			return false;
	}
	return true;
}

/* A round's subscribers, subscribed and read by its receivers. */
struct round_subs {
	struct sub *subs;
	int n;
	struct receiver rx[MAX_RECEIVERS];
	int receivers;
};

/* Subscribe @p n subscribers, each noting @p values values from @p base (and their stage times, with
 * @p times: a rate's worth of them would take gigabytes), start their receivers, open the
 * writers (@p open_writer with @p ctx), and wait until every subscriber has its snapshot. @return whether all
 * of that was done; if not, the receivers are stopped (round_close() still frees the subscribers). */
static bool round_subscribe(const struct store *st, int n, size_t values, int64_t base, bool times,
			    struct round_subs *rs, bool (*open_writer)(const struct store *st, void *ctx), void *ctx)
{
	rs->n = n;
	rs->subs = calloc((size_t)n, sizeof(*rs->subs));
	rs->receivers = start_receivers(rs->rx, n, st->clock ? st->clock : now_ns);
	bool opened = rs->subs && open_subscribers(st, rs->subs, n, rs->rx, rs->receivers, values, base, times);
	for (int t = 0; t < rs->receivers; t++)
		pthread_create(&rs->rx[t].thread, NULL, receive, &rs->rx[t]);
	opened = opened && open_writer(st, ctx);
	if (opened)
		wait_until(ready_adapter, rs->subs, n, 0, READY_TIMEOUT_NS);
	if (opened && all_ready(rs->subs, n))
		return true;
	fprintf(stderr, "%s: %d subscribers could not all subscribe\n", st->name, n);
	stop_receivers(rs->rx, rs->receivers);
	return false;
}

static void round_close(struct round_subs *rs)
{
	for (int k = 0; rs->subs && k < rs->n; k++)
		close_sub(&rs->subs[k]);
	free(rs->subs);
}

static bool open_sequential_writer(const struct store *st, void *ctx)
{
	void **writer = ctx;
	*writer = st->writer(st);
	return *writer != NULL;
}

bool stream_round(const struct store *st, int n, int ops, double seconds, int64_t base,
		  void (*summary)(void *ctx, const struct round_log *log), void *ctx)
{
	uint64_t (*clock)(void) = st->clock ? st->clock : now_ns;
	size_t warmup = ops / 10 > 20 ? (size_t)ops / 10 : 20, total = warmup + (size_t)ops;
	struct round_subs rs;
	void *writer = NULL;
	bool ok = round_subscribe(st, n, total, base, true, &rs, open_sequential_writer, &writer);
	if (ok) {
		uint64_t *sent = calloc(total, sizeof(uint64_t)), *acked = calloc(total, sizeof(uint64_t));
		uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
		size_t written = 0;
		for (; written < total && now_ns() < end; written++) {
			sent[written] = clock();
			if (!st->write(writer, base + (int64_t)written))
				break;
			acked[written] = clock();
		}
		if (written)
			wait_until(all_delivered, rs.subs, n, written - 1, DRAIN_TIMEOUT_NS);
		stop_receivers(rs.rx, rs.receivers);
		struct round_log log = {rs.subs, n, sent, acked, warmup, written, 0, 0};
		summary(ctx, &log);
		free(sent);
		free(acked);
	}
	if (writer)
		st->close_writer(writer);
	round_close(&rs);
	return ok;
}

/* ---- pipelined rounds ---- */

/* One submitter of a pipelined round: its values are base + first + stride * k. */
struct submitter {
	pthread_t thread;
	const struct store *st;
	void *conn;
	size_t first, stride, cap; /* value indexes first, first + stride, ... below cap */
	int window;
	int64_t base;
	uint64_t end_ns;           /* sends nothing after this */
	uint64_t *sent, *acked;    /* shared by the round's submitters, each writing only its own indexes */
	size_t last;               /* the index of its last acknowledged value (valid when any) */
	size_t acknowledged, refused;
	bool lost;                 /* its connection failed */
};

static void *submit(void *arg)
{
	struct submitter *s = arg;
	const struct pipeline_ops *p = s->st->pipeline;
	uint64_t (*clock)(void) = s->st->clock ? s->st->clock : now_ns;
	bool *ok = calloc((size_t)s->window, sizeof(bool));
	size_t queued = 0, answered = 0; /* writes sent and answered, counted in this submitter's own sequence */
	/* Bounded by its end, then by the answers it waits for, each within 10 s. */
	while (ok && !s->lost) {
		size_t from = queued;
		while (queued - answered < (size_t)s->window && s->first + s->stride * queued < s->cap &&
		       now_ns() < s->end_ns) {
			if (!p->queue(s->conn, s->base + (int64_t)(s->first + s->stride * queued)))
				break;
			queued++;
		}
		if (queued > from) {
			uint64_t at = clock();
			for (size_t k = from; k < queued; k++)
				s->sent[s->first + s->stride * k] = at;
			if (!p->flush(s->conn)) {
				s->lost = true;
				break;
			}
		}
		if (answered == queued)
			break;
		int got = p->take_acks(s->conn, 10000, ok, s->window);
		uint64_t at = clock();
		if (got <= 0) {
			s->lost = true;
			break;
		}
		for (int k = 0; k < got; k++, answered++) {
			size_t index = s->first + s->stride * answered;
			if (ok[k]) {
				s->acked[index] = at;
				s->last = index;
				s->acknowledged++;
			} else {
				s->refused++;
			}
		}
	}
	free(ok);
	return NULL;
}

struct submitters {
	struct submitter *s;
	int n;
};

static bool open_submitters(const struct store *st, void *ctx)
{
	struct submitters *all = ctx;
	for (int p = 0; p < all->n; p++)
		if (!(all->s[p].conn = st->pipeline->open(st)))
			return false;
	return true;
}

bool stream_round_pipelined(const struct store *st, int n, int submitters, int window, size_t cap, double seconds,
			    int64_t base, void (*summary)(void *ctx, const struct round_log *log), void *ctx)
{
	if (!st->pipeline || submitters < 1 || window < 1)
		return false;
	struct submitters all = {calloc((size_t)submitters, sizeof(struct submitter)), submitters};
	struct round_subs rs;
	bool ok = all.s && round_subscribe(st, n, cap, base, false, &rs, open_submitters, &all);
	if (ok) {
		uint64_t *sent = calloc(cap, sizeof(uint64_t)), *acked = calloc(cap, sizeof(uint64_t));
		uint64_t start = now_ns(), span = (uint64_t)(seconds * 1e9);
		for (int p = 0; p < submitters; p++) {
			struct submitter *s = &all.s[p];
			*s = (struct submitter){.st = st, .conn = s->conn, .first = (size_t)p, .stride = (size_t)submitters,
						.cap = cap, .window = window, .base = base, .end_ns = start + span,
						.sent = sent, .acked = acked};
			pthread_create(&s->thread, NULL, submit, s);
		}
		size_t refused = 0;
		for (int p = 0; p < submitters; p++) {
			pthread_join(all.s[p].thread, NULL);
			refused += all.s[p].refused;
		}
		uint64_t drain_end = now_ns() + DRAIN_TIMEOUT_NS;
		for (int p = 0; p < submitters; p++) {
			uint64_t now = now_ns();
			if (all.s[p].acknowledged && now < drain_end)
				wait_until(all_delivered, rs.subs, n, all.s[p].last, drain_end - now);
		}
		stop_receivers(rs.rx, rs.receivers);
		uint64_t (*clock)(void) = st->clock ? st->clock : now_ns;
		/* The warm-up: what was sent in the first tenth of the time, on the round's clock. */
		uint64_t counted_from = clock() - (now_ns() - start) + span / 10;
		struct round_log log = {rs.subs, n, sent, acked, 0, cap, counted_from, refused};
		summary(ctx, &log);
		free(sent);
		free(acked);
	}
	for (int p = 0; all.s && p < submitters; p++)
		if (all.s[p].conn)
			st->pipeline->close(all.s[p].conn);
	free(all.s);
	if (all.s)
		round_close(&rs);
	return ok;
}

/* ---- grove as a store ---- */

bool grove_open(struct sub *s, const struct store *st)
{
	const struct grove_cluster *c = st->ctx;
	return grove_subscribe(s, c->addresses[s->member]);
}

void *grove_writer(const struct store *st)
{
	const struct grove_cluster *c = st->ctx;
	struct grove_client *w;
	return grove_client_connect(c->addresses[st->leader], NULL, 10000, &w, NULL, 0) == GROVE_OK ? w : NULL;
}

bool grove_write_seq(void *writer, int64_t value)
{
	return client_set_int(writer, "/root/World/Target", "seq", value) == 0;
}

void grove_close_writer(void *writer)
{
	grove_client_close(writer);
}

/* Pipelined writes to the leader: the writes of one flush leave in one send, their answers are read as
 * they come. */
struct grove_pipe {
	struct grove_client *client; /* owns fd */
	int fd;
	struct frame_writer out;
	struct frame_reader in;
	uint64_t next_request_id;
};

static void *grove_pipe_open(const struct store *st)
{
	const struct grove_cluster *c = st->ctx;
	struct grove_pipe *p = calloc(1, sizeof(*p));
	if (!p || grove_client_connect(c->addresses[st->leader], NULL, 10000, &p->client, NULL, 0) != GROVE_OK) {
		free(p);
		return NULL;
	}
	/* The client read exactly its hello reply; the rest of the connection is this pipe's. */
	p->fd = grove_client_fd(p->client);
	frame_writer_init(&p->out);
	frame_reader_init(&p->in, 0);
	return p;
}

static void pack_envelope(void *env, uint8_t *out)
{
	grove__envelope__pack(env, out);
}

static bool grove_pipe_queue(void *conn, int64_t value)
{
	struct grove_pipe *p = conn;
	struct variant v;
	variant_set_int(&v, value);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root/World/Target"}, .name = "seq", .value = &v};
	struct wire_request wr;
	if (wire_encode_batch(&op, 1, &wr) != GROVE_OK)
		return false;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.version = 1;
	env.request_id = ++p->next_request_id;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE;
	env.write = &wr.req;
	bool ok = frame_writer_put_with(&p->out, grove__envelope__get_packed_size(&env), pack_envelope, &env) == GROVE_OK;
	wire_request_free(&wr);
	return ok;
}

static bool grove_pipe_flush(void *conn)
{
	struct grove_pipe *p = conn;
	/* Bounded: the server reads while it answers, so a full socket drains; 10 s ends a server that hangs. */
	uint64_t deadline = now_ns() + 10000000000ull;
	while (frame_writer_pending(&p->out) && now_ns() < deadline) {
		if (frame_writer_flush(&p->out, p->fd) != GROVE_OK)
			return false;
		if (frame_writer_pending(&p->out)) {
			struct pollfd pfd = {.fd = p->fd, .events = POLLOUT};
			poll(&pfd, 1, 100);
		}
	}
	return !frame_writer_pending(&p->out);
}

static int grove_pipe_take_acks(void *conn, int timeout_ms, bool *ok, int max)
{
	struct grove_pipe *p = conn;
	int got = 0;
	const uint8_t *payload;
	size_t len;
	int ready = 0;
	for (;;) {
		while (got < max && (ready = frame_reader_next(&p->in, &payload, &len)) == 1) {
			Grove__Envelope *msg = grove__envelope__unpack(NULL, len, payload);
			frame_reader_consume(&p->in, len);
			if (!msg)
				return -1;
			ok[got++] = msg->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY && msg->write_reply->code == 0;
			grove__envelope__free_unpacked(msg, NULL);
		}
		if (got || ready < 0)
			return ready < 0 ? -1 : got;
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		int n = poll(&pfd, 1, timeout_ms);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return n == 0 ? 0 : -1;
		if (frame_reader_fill(&p->in, p->fd) != GROVE_OK)
			return -1;
	}
}

static void grove_pipe_close(void *conn)
{
	struct grove_pipe *p = conn;
	frame_writer_free(&p->out);
	frame_reader_free(&p->in);
	grove_client_close(p->client);
	free(p);
}

const struct pipeline_ops grove_pipeline = {grove_pipe_open, grove_pipe_queue, grove_pipe_flush, grove_pipe_take_acks,
					    grove_pipe_close};

/* /root/World and the node the writer writes, and every member has applied them. Plain Nodes: a class
 * every Godot has, so that grove_bench_e2e's Godot 3 follower can instance the snapshot. */
bool grove_make_world(const struct grove_cluster *c, int leader)
{
	struct tree_op ops[] = {
		{.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = "World", .text = "Node", .index = -1},
		{.kind = TREE_OP_CREATE, .node = {.id = -1}, .name = "Target", .text = "Node", .index = -1},
	};
	struct wire_request wr;
	if (wire_encode_batch(ops, 2, &wr))
		return false;
	struct grove_client *w;
	bool ok = false;
	if (grove_client_connect(c->addresses[leader], NULL, 10000, &w, NULL, 0) == GROVE_OK) {
		Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
		env.body_case = GROVE__ENVELOPE__BODY_WRITE;
		env.write = &wr.req;
		if (grove_client_call(w, &env, &reply) == GROVE_OK) {
			ok = reply->body_case == GROVE__ENVELOPE__BODY_WRITE_REPLY && reply->write_reply->code == 0;
			grove__envelope__free_unpacked(reply, NULL);
		}
		grove_client_close(w);
	}
	wire_request_free(&wr);
	return ok && grove_members_caught_up(c, leader);
}

int grove_world_start(struct grove_cluster *c, const char *dir)
{
	grove_cluster_init(c, dir, "grove", NULL);
	int leader = grove_cluster_start(c);
	if (leader < 0 || !grove_make_world(c, leader)) {
		fprintf(stderr, "grove: no leader, or /root/World could not be made\n");
		grove_cluster_stop(c);
		return -1;
	}
	return leader;
}

bool grove_members_caught_up(const struct grove_cluster *c, int leader)
{
	uint64_t target = grove_member_applied(c, leader, NULL);
	bool ok = true;
	for (int i = 0; i < CLUSTER_MEMBERS && ok; i++) {
		uint64_t t0 = now_ns();
		while (grove_member_applied(c, i, NULL) < target && now_ns() - t0 < 10000000000ull)
			usleep(10000);
		ok = grove_member_applied(c, i, NULL) >= target;
	}
	return ok;
}

/* ---- etcd as a store ---- */

bool etcd_open(struct sub *s, const struct store *st)
{
	const struct etcd_cluster *e = st->ctx;
	return etcd_watch(s, e->client_ports[s->member]);
}

void *etcd_writer(const struct store *st)
{
	const struct etcd_cluster *e = st->ctx;
	return http_connect(e->client_ports[st->leader]);
}

bool etcd_put_seq(void *writer, int64_t value)
{
	char text[32], key[64], encoded[64], body[256];
	int len = snprintf(text, sizeof(text), "%lld", (long long)value);
	base64_encode("/world/target", 13, key);
	base64_encode(text, (size_t)len, encoded);
	snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", key, encoded);
	return http_post(writer, "/v3/kv/put", body) == 200;
}

void etcd_close_writer(void *writer)
{
	http_close(writer);
}
