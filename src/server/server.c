#include "src/server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/net/frame.h"
#include "src/net/wire.h"
#include "src/server/handlers.h"
#include "src/server/internal.h"
#include "src/server/log.h"
#include "src/tree/tree.h"
#include "storage/snapshot.h"
#include "storage/store.h"

uint64_t srv_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- set-up ---- */

static int parse_listen(const char *listen, struct sockaddr_in *addr)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return GROVE_EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return GROVE_EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? GROVE_OK : GROVE_EINVAL;
}

int srv_epoll_watch(struct server *s, int fd, void *ptr, uint32_t events, int op)
{
	struct epoll_event ev = {.events = events, .data.ptr = ptr};
	return epoll_ctl(s->epoll_fd, op, fd, &ev) == 0 ? GROVE_OK : GROVE_EIO;
}

int server_create(const struct server_config *config, struct server **out)
{
	*out = NULL;
	struct sockaddr_in addr;
	if (parse_listen(config->listen, &addr)) {
		log_line("cannot listen on \"%s\": expected IPv4-ADDRESS:PORT", config->listen);
		return GROVE_EINVAL;
	}
	struct server *s = calloc(1, sizeof(*s));
	if (!s)
		return GROVE_ENOMEM;
	s->config = *config;
	s->listen_fd = s->epoll_fd = s->signal_fd = s->timer_fd = -1;
	s->state.start_ns = srv_realtime_ns();
	s->state.server_id = config->id;
	/* A replicated server's Raft log replays whatever a crash undid in the store (cluster.h). */
	struct store_options opts = {.no_sync = config->no_sync, .lazy_sync = config->peers != NULL};
	int err = store_open(&s->store, config->data_dir, &opts);
	if (err)
		goto fail;
	struct store_txn *txn;
	err = store_txn_begin(s->store, NULL, true, &txn);
	if (!err) {
		err = tree_init(txn);
		if (!err)
			err = store_meta_get_u64(txn, "applied_index", 0, &s->state.applied_index);
		if (err)
			store_txn_abort(txn);
		else
			err = store_txn_commit(txn);
	}
	if (err) {
		log_line("cannot initialize the store in %s: %s", config->data_dir, grove_strerror(err));
		goto fail;
	}
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(s->listen_fd, 512) != 0) {
		log_line("cannot listen on %s: %s", config->listen, strerror(errno));
		err = GROVE_EIO;
		goto fail;
	}
	socklen_t alen = sizeof(addr);
	getsockname(s->listen_fd, (struct sockaddr *)&addr, &alen);
	s->port = ntohs(addr.sin_port);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->signal_fd < 0 || s->epoll_fd < 0 || srv_epoll_watch(s, s->listen_fd, &s->listen_fd, EPOLLIN, EPOLL_CTL_ADD) ||
	    srv_epoll_watch(s, s->signal_fd, &s->signal_fd, EPOLLIN, EPOLL_CTL_ADD)) {
		log_line("cannot set up the event loop: %s", strerror(errno));
		err = GROVE_EIO;
		goto fail;
	}
	if (config->peers && (err = replication_start(s)) != GROVE_OK)
		goto fail;
	*out = s;
	return GROVE_OK;
fail:
	server_destroy(s);
	return err;
}

int server_port(const struct server *s)
{
	return s->port;
}

/* ---- connections ---- */

static void conn_free(struct server *s, struct conn *c)
{
	if (s->cluster)
		replication_forget_conn(s, c);
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	frame_reader_free(&c->in);
	frame_writer_free(&c->out);
	snapshot_free(&c->saving);
	snapshot_receiver_free(&c->restoring);
	free(c);
	s->state.clients--;
}

static void accept_all(struct server *s)
{
	for (;;) {
		struct sockaddr_in addr;
		socklen_t alen = sizeof(addr);
		int fd = accept4(s->listen_fd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_line("accept: %s", strerror(errno));
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->kind = ENDPOINT_CONN;
		c->fd = fd;
		char ip[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(addr.sin_port));
		frame_reader_init(&c->in, s->config.max_frame);
		frame_writer_init(&c->out);
		if (srv_epoll_watch(s, fd, c, EPOLLIN, EPOLL_CTL_ADD)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		s->conns = c;
		s->state.clients++;
	}
}

static void pack_into(void *ctx, uint8_t *out)
{
	grove__envelope__pack(ctx, out);
}

/* Queue @p env on @p c's output. */
void srv_send_envelope(struct conn *c, Grove__Envelope *env)
{
	env->version = 1;
	size_t len = grove__envelope__get_packed_size(env);
	if (frame_writer_put_with(&c->out, len, pack_into, env) != GROVE_OK) {
		log_line("%s: cannot queue a reply of %zu bytes; closing", c->peer, len);
		c->dead = true;
	}
}

void srv_send_error(struct conn *c, uint64_t request_id, int code, const char *message)
{
	Grove__ErrorReply er = GROVE__ERROR_REPLY__INIT;
	er.code = (uint32_t)code;
	er.message = (char *)message;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_ERROR;
	env.error = &er;
	srv_send_envelope(c, &env);
}

/* Refuse the connection: one log line, an error reply when possible, then close. */
static void refuse(struct conn *c, uint64_t request_id, int code, const char *reason)
{
	log_line("%s: %s; closing the connection", c->peer, reason);
	srv_send_error(c, request_id, code, reason);
	c->closing = true;
}

static bool token_ok(const struct server *s, const char *token)
{
	const char *want = s->config.token ? s->config.token : "";
	size_t a = strlen(want), b = token ? strlen(token) : 0;
	/* Compare every byte whatever the result, so timing does not leak the token. */
	unsigned diff = (unsigned)(a != b);
	for (size_t i = 0; i < a; i++)
		diff |= (unsigned)(want[i] ^ (i < b ? token[i] : 0));
	return diff == 0;
}

static void handle_hello(struct server *s, struct conn *c, Grove__Envelope *env)
{
	if (env->hello->role == GROVE__HELLO__ROLE__PEER) {
		if (!s->cluster) {
			refuse(c, env->request_id, GROVE_EAUTH, "peer connections are not accepted by a single node");
		} else if (replication_accept_peer(s, c, env->hello)) {
			c->authenticated = true;
		} else {
			c->closing = true;
		}
		return;
	}
	if (!token_ok(s, env->hello->token)) {
		refuse(c, env->request_id, GROVE_EAUTH, "wrong client token");
		return;
	}
	c->authenticated = true;
	Grove__HelloReply hr = GROVE__HELLO_REPLY__INIT;
	hr.server_id = s->config.id;
	hr.server_version = GROVE_VERSION;
	Grove__Envelope reply = GROVE__ENVELOPE__INIT;
	reply.request_id = env->request_id;
	reply.body_case = GROVE__ENVELOPE__BODY_HELLO_REPLY;
	reply.hello_reply = &hr;
	srv_send_envelope(c, &reply);
}

static int queue_pending(struct server *s, struct conn *c, Grove__Envelope *env)
{
	if (grove_grow((void **)&s->pending, &s->pending_cap, s->n_pending, sizeof(*s->pending)))
		return GROVE_ENOMEM;
	s->pending[s->n_pending++] = (struct pending){.conn = c, .env = env, .receive_ns = srv_realtime_ns()};
	return GROVE_OK;
}

/* Read and dispatch every whole frame the connection has. */
static void read_conn(struct server *s, struct conn *c)
{
	int err = frame_reader_fill(&c->in, c->fd);
	if (err == GROVE_ENOTFOUND) {
		c->dead = true;
		return;
	}
	if (err) {
		log_line("%s: read failed: %s; closing the connection", c->peer, strerror(errno));
		c->dead = true;
		return;
	}
	while (!c->closing && !c->dead) {
		const uint8_t *payload;
		size_t len;
		int ready = frame_reader_next(&c->in, &payload, &len);
		if (ready == 0)
			return;
		if (ready < 0) {
			char reason[96];
			snprintf(reason, sizeof(reason), "frame of %zu bytes exceeds the limit of %u", len, c->in.max);
			refuse(c, 0, GROVE_ETOOBIG, reason);
			return;
		}
		Grove__Envelope *env = grove__envelope__unpack(NULL, len, payload);
		frame_reader_consume(&c->in, len);
		if (!env) {
			refuse(c, 0, GROVE_EPROTO, "malformed frame (not a grove message)");
			return;
		}
		if (!c->authenticated) {
			if (env->body_case == GROVE__ENVELOPE__BODY_HELLO)
				handle_hello(s, c, env);
			else
				refuse(c, env->request_id, GROVE_EAUTH, "first message must be a hello");
			grove__envelope__free_unpacked(env, NULL);
			continue;
		}
		if (c->peer_id) {
			/* A peer's connection carries Raft messages and nothing else. */
			if (env->body_case == GROVE__ENVELOPE__BODY_RAFT)
				replication_peer_message(s, c, env);
			else
				refuse(c, env->request_id, GROVE_EPROTO, "a peer sent something other than a raft message");
			grove__envelope__free_unpacked(env, NULL);
			continue;
		}
		switch (env->body_case) {
		case GROVE__ENVELOPE__BODY_WRITE:
		case GROVE__ENVELOPE__BODY_READ:
		case GROVE__ENVELOPE__BODY_STATUS:
		case GROVE__ENVELOPE__BODY_EXPORT_SCENE:
		case GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE:
		case GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE:
		case GROVE__ENVELOPE__BODY_CLUSTER:
			if (queue_pending(s, c, env) == GROVE_OK)
				continue;
			srv_send_error(c, env->request_id, GROVE_ENOMEM, "server out of memory");
			break;
		case GROVE__ENVELOPE__BODY_HELLO:
			srv_send_error(c, env->request_id, GROVE_EPROTO, "already authenticated");
			break;
		default:
			srv_send_error(c, env->request_id, GROVE_EPROTO, "unsupported request");
			break;
		}
		grove__envelope__free_unpacked(env, NULL);
	}
}

/* ---- the turn: group commit, then replies ---- */

/* Apply every pending write in one transaction; returns the commit's result. */
static int apply_writes(struct server *s, size_t *n_writes)
{
	*n_writes = 0;
	for (size_t i = 0; i < s->n_pending; i++)
		*n_writes += s->pending[i].env->body_case == GROVE__ENVELOPE__BODY_WRITE;
	if (*n_writes == 0)
		return GROVE_OK;
	struct store_txn *txn;
	int err = store_txn_begin(s->store, NULL, true, &txn);
	if (err)
		return err;
	uint64_t applied = s->state.applied_index;
	for (size_t i = 0; i < s->n_pending && !err; i++) {
		struct pending *p = &s->pending[i];
		if (p->env->body_case != GROVE__ENVELOPE__BODY_WRITE)
			continue;
		struct wire_batch batch;
		int derr = wire_decode_batch(p->env->write, &batch, p->result.message, sizeof(p->result.message));
		if (derr) {
			p->result.err = derr;
			continue;
		}
		struct tree_batch tb = {batch.ops, batch.count};
		int aerr = tree_apply_batch(txn, &tb, &p->result);
		wire_batch_free(&batch);
		if (aerr == GROVE_ESTORAGE || aerr == GROVE_ENOMEM || aerr == GROVE_ECORRUPT) {
			/* Not the batch's fault: the whole turn fails. */
			err = aerr;
			break;
		}
		if (aerr == GROVE_OK) {
			p->applied = true;
			applied++;
		}
	}
	if (!err && applied != s->state.applied_index)
		err = store_meta_put_u64(txn, "applied_index", applied);
	if (err || applied == s->state.applied_index) {
		/* Every batch was refused (nothing to make durable), or the turn failed. */
		store_txn_abort(txn);
		return err;
	}
	err = store_txn_commit(txn);
	if (err)
		return err;
	s->state.writes_applied += applied - s->state.applied_index;
	s->state.applied_index = applied;
	s->state.group_commits++;
	return GROVE_OK;
}

static void reply_write(struct pending *p, int commit_err, uint64_t durable_ns, uint64_t index)
{
	Grove__WriteReply wr = GROVE__WRITE_REPLY__INIT;
	int code = commit_err ? commit_err : p->result.err;
	wr.code = (uint32_t)code;
	wr.failed_op = code && !commit_err ? (uint32_t)p->result.failed_op : 0;
	wr.message = code ? (commit_err ? (char *)grove_strerror(commit_err) : p->result.message) : "";
	if (!code) {
		wr.ids = p->result.ids;
		wr.n_ids = p->result.count;
		wr.applied_index = index;
	}
	wr.server_receive_ns = p->receive_ns;
	wr.server_durable_ns = durable_ns;
	wr.server_reply_ns = srv_realtime_ns();
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = p->env->request_id;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE_REPLY;
	env.write_reply = &wr;
	srv_send_envelope(p->conn, &env);
}

void srv_snapshot_save(struct server *s, struct conn *c, const Grove__Envelope *request)
{
	const Grove__SnapshotSaveRequest *rq = request->snapshot_save;
	Grove__SnapshotSaveReply sr = GROVE__SNAPSHOT_SAVE_REPLY__INIT;
	int err = GROVE_OK;
	if (rq->offset == 0) {
		snapshot_free(&c->saving);
		err = snapshot_create(s->store, 0, &c->saving);
		if (!err)
			log_line("%s: snapshot of %zu bytes at index %llu", c->peer, c->saving.len,
				 (unsigned long long)c->saving.applied_index);
	} else if (!c->saving.data || rq->offset > c->saving.len) {
		err = GROVE_ERANGE;
	}
	sr.code = (uint32_t)err;
	sr.message = err ? (char *)grove_strerror(err) : "";
	if (!err) {
		size_t want = rq->max_bytes && rq->max_bytes < SNAPSHOT_CHUNK ? rq->max_bytes : SNAPSHOT_CHUNK;
		size_t left = c->saving.len - rq->offset;
		sr.chunk.data = c->saving.data + rq->offset;
		sr.chunk.len = left < want ? left : want;
		sr.total = c->saving.len;
		sr.applied_index = c->saving.applied_index;
	}
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request->request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE_REPLY;
	env.snapshot_save_reply = &sr;
	srv_send_envelope(c, &env);
}

/* Only an empty world may be replaced by a restore. */
static bool world_is_empty(struct server *s)
{
	struct store_txn *txn;
	if (store_txn_begin(s->store, NULL, false, &txn) != GROVE_OK)
		return false;
	bool empty = tree_is_empty(txn);
	store_txn_abort(txn);
	return empty;
}

int srv_restore_chunk(struct server *s, struct conn *c, const Grove__SnapshotRestoreRequest *rq, char *why,
		      size_t why_cap, bool *complete)
{
	*complete = false;
	if (rq->offset == 0) {
		snapshot_receiver_free(&c->restoring);
		if (!world_is_empty(s)) {
			snprintf(why, why_cap, "restore needs an empty world; this one has data");
			return GROVE_EEXIST;
		}
	}
	int err = snapshot_receiver_put(&c->restoring, rq->offset, rq->total, rq->chunk.data, rq->chunk.len,
					SNAPSHOT_RESTORE_MAX);
	if (err == GROVE_ERANGE && rq->offset != c->restoring.len)
		return GROVE_OK; /* out of place: the reply's next offset says where to resume */
	if (err) {
		snprintf(why, why_cap, "%s", err == GROVE_ETOOBIG ? "the snapshot is too large" : grove_strerror(err));
		snapshot_receiver_free(&c->restoring);
		return err;
	}
	if (!snapshot_receiver_complete(&c->restoring))
		return GROVE_OK;
	err = snapshot_verify(c->restoring.data, c->restoring.len, NULL, why, why_cap);
	if (err)
		snapshot_receiver_free(&c->restoring);
	*complete = !err;
	return err;
}

void srv_restore_reply(struct conn *c, uint64_t request_id, int err, const char *why, bool installed,
		       uint64_t applied_index)
{
	Grove__SnapshotRestoreReply rr = GROVE__SNAPSHOT_RESTORE_REPLY__INIT;
	rr.code = (uint32_t)err;
	rr.message = why && why[0] ? (char *)why : err ? (char *)grove_strerror(err) : "";
	rr.installed = installed;
	rr.applied_index = applied_index;
	rr.next_offset = c->restoring.len;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE_REPLY;
	env.snapshot_restore_reply = &rr;
	srv_send_envelope(c, &env);
}

static void handle_snapshot_restore(struct server *s, struct pending *p)
{
	struct conn *c = p->conn;
	char why[200] = "";
	bool complete;
	uint64_t applied = 0;
	bool installed = false;
	int err = srv_restore_chunk(s, c, p->env->snapshot_restore, why, sizeof(why), &complete);
	if (!err && complete) {
		err = snapshot_install(s->store, c->restoring.data, c->restoring.len, why, sizeof(why));
		if (!err) {
			struct store_txn *txn;
			if (store_txn_begin(s->store, NULL, false, &txn) == GROVE_OK) {
				store_meta_get_u64(txn, "applied_index", 0, &applied);
				store_txn_abort(txn);
			}
			s->state.applied_index = applied;
			installed = true;
			log_line("%s: restored a snapshot of %zu bytes at index %llu", c->peer, c->restoring.len,
				 (unsigned long long)applied);
		}
		snapshot_receiver_free(&c->restoring);
	}
	srv_restore_reply(c, p->env->request_id, err, why, installed, applied);
}

static void free_pending(struct server *s)
{
	for (size_t i = 0; i < s->n_pending; i++) {
		tree_result_free(&s->pending[i].result);
		if (s->pending[i].env)
			grove__envelope__free_unpacked(s->pending[i].env, NULL);
	}
	s->n_pending = 0;
}

static void run_turn(struct server *s)
{
	if (s->cluster) {
		replication_turn(s);
		free_pending(s);
		return;
	}
	size_t n_writes;
	uint64_t index = s->state.applied_index;
	int commit_err = apply_writes(s, &n_writes);
	uint64_t durable_ns = srv_realtime_ns();
	if (commit_err)
		log_line("group commit of %zu batches failed: %s", n_writes, grove_strerror(commit_err));
	struct store_txn *read_txn = NULL;
	for (size_t i = 0; i < s->n_pending; i++) {
		struct pending *p = &s->pending[i];
		if (p->env->body_case == GROVE__ENVELOPE__BODY_WRITE) {
			if (p->applied && !commit_err)
				index++;
			reply_write(p, commit_err, durable_ns, index);
			continue;
		}
		if (p->env->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE) {
			srv_snapshot_save(s, p->conn, p->env);
			continue;
		}
		if (p->env->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE) {
			handle_snapshot_restore(s, p);
			continue;
		}
		if (p->env->body_case == GROVE__ENVELOPE__BODY_CLUSTER) {
			srv_send_error(p->conn, p->env->request_id, GROVE_EINVAL, "this server runs alone (no --peers)");
			continue;
		}
		if (!read_txn && store_txn_begin(s->store, NULL, false, &read_txn) != GROVE_OK) {
			srv_send_error(p->conn, p->env->request_id, GROVE_ESTORAGE, "cannot read the store");
			continue;
		}
		struct handler_reply r;
		handle_read_request(read_txn, &s->state, p->env, &r);
		srv_send_envelope(p->conn, &r.env);
		handler_reply_free(&r);
	}
	store_txn_abort(read_txn);
	free_pending(s);
}

/* Flush outputs, update interest in EPOLLOUT, and close what must close. */
static void settle_connections(struct server *s)
{
	if (s->cluster)
		replication_flush_links(s);
	struct conn **link = &s->conns;
	while (*link) {
		struct conn *c = *link;
		if (!c->dead && frame_writer_flush(&c->out, c->fd) != GROVE_OK)
			c->dead = true;
		bool pending = frame_writer_pending(&c->out);
		if (c->dead || (c->closing && !pending)) {
			*link = c->next;
			conn_free(s, c);
			continue;
		}
		srv_epoll_watch(s, c->fd, c, pending ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
		link = &c->next;
	}
}

int server_run(struct server *s)
{
	log_line("serving on port %d, data in %s", s->port, s->config.data_dir);
	struct epoll_event events[256];
	while (!s->stopping) {
		int n = epoll_wait(s->epoll_fd, events, 256, 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_line("epoll_wait: %s", strerror(errno));
			return GROVE_EIO;
		}
		for (int i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;
			if (ptr == &s->listen_fd) {
				accept_all(s);
			} else if (ptr == &s->signal_fd) {
				struct signalfd_siginfo si;
				if (read(s->signal_fd, &si, sizeof(si)) == sizeof(si)) {
					log_line("received %s; stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
					s->stopping = true;
				}
			} else if (ptr == &s->timer_fd) {
				replication_timer(s);
			} else if (*(enum endpoint_kind *)ptr == ENDPOINT_LINK) {
				replication_link_event(s, ptr, events[i].events);
			} else {
				struct conn *c = ptr;
				if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					read_conn(s, c);
			}
		}
		if (s->n_pending || s->cluster)
			run_turn(s);
		settle_connections(s);
	}
	return GROVE_OK;
}

void server_destroy(struct server *s)
{
	if (!s)
		return;
	while (s->conns) {
		struct conn *c = s->conns;
		s->conns = c->next;
		conn_free(s, c);
	}
	if (s->cluster)
		replication_stop(s);
	free_pending(s);
	free(s->pending);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	store_close(s->store);
	free(s);
}
