/* groved in replicated mode: peer links, Raft ticks, proposals and linearizable reads. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "src/common/error.h"
#include "src/common/grow.h"
#include "src/net/wire.h"
#include "src/server/internal.h"
#include "src/server/log.h"

#define TICK_MS 10
/* A link whose peer does not drain it is reset rather than buffering without bound. */
#define LINK_BACKLOG_MAX (256u << 20)

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct peer_link *link_of(struct server *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_links; i++)
		if (s->links[i].id == id)
			return &s->links[i];
	return NULL;
}

static void link_close(struct server *s, struct peer_link *l)
{
	if (l->fd >= 0) {
		epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, l->fd, NULL);
		close(l->fd);
	}
	l->fd = -1;
	l->connected = false;
	l->retry_at_ms = monotonic_ms() + 100;
	/* Raft retransmits what a dead link lost. */
	frame_writer_free(&l->out);
	frame_writer_init(&l->out);
	frame_reader_free(&l->in);
	frame_reader_init(&l->in, 0);
}

static void pack_into(void *ctx, uint8_t *out)
{
	grove__envelope__pack(ctx, out);
}

static void link_connect(struct server *s, struct peer_link *l)
{
	char host[64];
	const char *colon = strrchr(l->address, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - l->address), l->address);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		l->retry_at_ms = monotonic_ms() + 1000;
		return;
	}
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return;
	int one = 1;
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(l->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS) {
		link_close(s, l);
		return;
	}
	srv_epoll_watch(s, l->fd, l, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
	/* The hello goes first; Raft messages queue behind it. */
	Grove__Hello hello = GROVE__HELLO__INIT;
	hello.role = GROVE__HELLO__ROLE__PEER;
	hello.token = (char *)(s->config.cluster_token ? s->config.cluster_token : "");
	hello.client_name = "groved";
	hello.peer_id = s->config.id;
	hello.cluster_id = s->cluster_config.cluster_id;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.version = 1;
	env.body_case = GROVE__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	frame_writer_put_with(&l->out, grove__envelope__get_packed_size(&env), pack_into, &env);
}

static void send_to_peer(void *ctx, uint64_t to, const uint8_t *frame, size_t len)
{
	struct server *s = ctx;
	struct peer_link *l = link_of(s, to);
	if (!l)
		return;
	if (l->fd < 0) {
		if (monotonic_ms() < l->retry_at_ms)
			return; /* dropped: Raft will send again */
		link_connect(s, l);
		if (l->fd < 0)
			return;
	}
	if (l->out.len - l->out.sent > LINK_BACKLOG_MAX) {
		log_line("peer %llu is not reading; resetting the link", (unsigned long long)l->id);
		link_close(s, l);
		return;
	}
	frame_writer_put(&l->out, frame, len);
}

static void flush_links(void *ctx)
{
	replication_flush_links(ctx);
}

static size_t peer_backlog(void *ctx, uint64_t to)
{
	struct peer_link *l = link_of(ctx, to);
	return l && l->fd >= 0 ? l->out.len - l->out.sent : 0;
}

/* ---- applied entries and confirmed reads ---- */

static struct proposal *proposal_at(struct server *s, uint64_t index)
{
	for (size_t i = 0; i < s->n_proposals; i++)
		if (s->proposals[i].index == index)
			return &s->proposals[i];
	return NULL;
}

static void on_applied(void *ctx, const struct cluster_applied *a)
{
	struct server *s = ctx;
	s->state.writes_applied++;
	s->state.applied_index = a->index;
	struct proposal *p = proposal_at(s, a->index);
	if (!p)
		return;
	if (p->conn && p->restore) {
		bool lost = p->term != a->term;
		int err = lost ? GROVE_EUNAVAILABLE : a->result.err;
		const char *why = lost ? "the restore was lost in a leadership change; retry" : a->result.message;
		if (!err)
			log_line("restored a snapshot into the cluster at index %llu", (unsigned long long)a->index);
		srv_restore_reply(p->conn, p->request_id, err, why, !err, a->index);
	} else if (p->conn) {
		Grove__WriteReply wr = GROVE__WRITE_REPLY__INIT;
		if (p->term != a->term) {
			/* Another leader's entry took this index: the proposal was lost. */
			wr.code = GROVE_EUNAVAILABLE;
			wr.message = "the write was lost in a leadership change; retry";
		} else {
			wr.code = (uint32_t)a->result.err;
			wr.message = (char *)a->result.message;
			wr.failed_op = (uint32_t)a->result.failed_op;
			if (!a->result.err) {
				wr.ids = a->result.ids;
				wr.n_ids = a->result.count;
			}
			wr.applied_index = a->index;
		}
		wr.server_receive_ns = p->receive_ns;
		wr.server_durable_ns = p->durable_ns;
		wr.server_reply_ns = srv_realtime_ns();
		Grove__Envelope env = GROVE__ENVELOPE__INIT;
		env.request_id = p->request_id;
		env.body_case = GROVE__ENVELOPE__BODY_WRITE_REPLY;
		env.write_reply = &wr;
		srv_send_envelope(p->conn, &env);
	}
	*p = s->proposals[--s->n_proposals];
}

static void on_read_ready(void *ctx, uint64_t context)
{
	struct server *s = ctx;
	for (size_t i = 0; i < s->n_reads; i++) {
		struct waiting_read *w = &s->reads[i];
		if (w->context != context)
			continue;
		if (w->conn && w->env->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE) {
			srv_snapshot_save(s, w->conn, w->env);
		} else if (w->conn) {
			struct store_txn *txn;
			if (store_txn_begin(s->store, NULL, false, &txn) == GROVE_OK) {
				struct handler_reply r;
				handle_read_request(txn, &s->state, w->env, &r);
				srv_send_envelope(w->conn, &r.env);
				handler_reply_free(&r);
				store_txn_abort(txn);
			} else {
				srv_send_error(w->conn, w->env->request_id, GROVE_ESTORAGE, "cannot read the store");
			}
		}
		grove__envelope__free_unpacked(w->env, NULL);
		s->reads[i] = s->reads[--s->n_reads];
		return;
	}
}

static void add_link(struct server *s, uint64_t id, const char *address)
{
	if (id == s->config.id || link_of(s, id) || s->n_links == CLUSTER_MAX_PEERS)
		return;
	struct peer_link *l = &s->links[s->n_links++];
	memset(l, 0, sizeof(*l));
	l->kind = ENDPOINT_LINK;
	l->id = id;
	snprintf(l->address, sizeof(l->address), "%s", address);
	l->fd = -1;
	frame_writer_init(&l->out);
	frame_reader_init(&l->in, 0);
}

static void on_member_added(void *ctx, uint64_t id, const char *address)
{
	struct server *s = ctx;
	log_line("raft: member %llu at %s joined", (unsigned long long)id, address);
	add_link(s, id, address);
}

/* ---- set-up ---- */

int replication_start(struct server *s)
{
	struct cluster_config *cc = &s->cluster_config;
	memset(cc, 0, sizeof(*cc));
	cc->id = s->config.id;
	cc->tick_ms = TICK_MS;
	cc->cluster_id = s->config.cluster_id;
	cc->compact_at = s->config.compact_at;
	cc->snapshot_chunk = s->config.snapshot_chunk;
	if (cluster_parse_peers(s->config.peers, cc) != GROVE_OK) {
		log_line("cannot read --peers \"%s\": expected ID=HOST:PORT,ID=HOST:PORT,...", s->config.peers);
		return GROVE_EINVAL;
	}
	cc->join = s->config.join;
	char log_dir[4096];
	snprintf(log_dir, sizeof(log_dir), "%s/raft-log", s->config.data_dir);
	cc->log_dir = log_dir;
	cc->no_sync = s->config.no_sync;
	struct cluster_hooks hooks = {.send = send_to_peer, .applied = on_applied, .read_ready = on_read_ready,
				      .member_added = on_member_added, .backlog = peer_backlog,
				      .flush = flush_links, .ctx = s};
	int err = cluster_create(cc, s->store, &hooks, &s->cluster);
	if (err) {
		log_line("cannot start replication: %s (is --id %llu one of --peers?)", grove_strerror(err),
			 (unsigned long long)s->config.id);
		return err;
	}
	struct cluster_peer peers[CLUSTER_MAX_PEERS];
	uint64_t match[CLUSTER_MAX_PEERS];
	bool voter[CLUSTER_MAX_PEERS];
	for (size_t i = 0; i < cc->n_peers; i++)
		add_link(s, cc->peers[i].id, cc->peers[i].address);
	/* Members added at runtime, learnt from the store. */
	size_t n = cluster_members(s->cluster, peers, match, voter, CLUSTER_MAX_PEERS);
	for (size_t i = 0; i < n; i++)
		add_link(s, peers[i].id, peers[i].address);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L}, .it_value = {0, TICK_MS * 1000000L}};
	if (s->timer_fd < 0 || timerfd_settime(s->timer_fd, 0, &its, NULL) != 0 ||
	    srv_epoll_watch(s, s->timer_fd, &s->timer_fd, EPOLLIN, EPOLL_CTL_ADD) != GROVE_OK) {
		log_line("cannot start the Raft timer: %s", strerror(errno));
		return GROVE_EIO;
	}
	return GROVE_OK;
}

void replication_stop(struct server *s)
{
	for (size_t i = 0; i < s->n_links; i++) {
		link_close(s, &s->links[i]);
		frame_writer_free(&s->links[i].out);
		frame_reader_free(&s->links[i].in);
	}
	for (size_t i = 0; i < s->n_reads; i++)
		grove__envelope__free_unpacked(s->reads[i].env, NULL);
	free(s->reads);
	free(s->proposals);
	if (s->timer_fd > 0)
		close(s->timer_fd);
	cluster_destroy(s->cluster);
	s->cluster = NULL;
}

void replication_timer(struct server *s)
{
	uint64_t expirations = 0;
	if (read(s->timer_fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	/* Ticks are logical time: a late wake-up counts every missed tick, but not without bound. */
	if (expirations > 10)
		expirations = 10;
	for (uint64_t i = 0; i < expirations; i++)
		cluster_tick(s->cluster);
}

void replication_link_event(struct server *s, struct peer_link *l, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP)) {
		link_close(s, l);
		return;
	}
	if ((events & EPOLLOUT) && !l->connected) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			link_close(s, l);
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
			link_close(s, l);
			return;
		}
	}
}

void replication_flush_links(struct server *s)
{
	for (size_t i = 0; i < s->n_links; i++) {
		struct peer_link *l = &s->links[i];
		if (l->fd < 0 || !l->connected)
			continue;
		if (frame_writer_flush(&l->out, l->fd) != GROVE_OK) {
			link_close(s, l);
			continue;
		}
		srv_epoll_watch(s, l->fd, l, frame_writer_pending(&l->out) ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
	}
}

bool replication_accept_peer(struct server *s, struct conn *c, const Grove__Hello *hello)
{
	const char *want = s->config.cluster_token ? s->config.cluster_token : "";
	if (strcmp(hello->token ? hello->token : "", want) != 0) {
		log_line("%s: wrong cluster token from a peer; closing the connection", c->peer);
		srv_send_error(c, 0, GROVE_EAUTH, "wrong cluster token");
		return false;
	}
	if (hello->cluster_id != s->cluster_config.cluster_id) {
		log_line("%s: peer of cluster %llu, this is cluster %llu; closing the connection", c->peer,
			 (unsigned long long)hello->cluster_id, (unsigned long long)s->cluster_config.cluster_id);
		srv_send_error(c, 0, GROVE_EAUTH, "wrong cluster id");
		return false;
	}
	if (!link_of(s, hello->peer_id)) {
		log_line("%s: unknown peer id %llu; closing the connection", c->peer, (unsigned long long)hello->peer_id);
		srv_send_error(c, 0, GROVE_EAUTH, "unknown peer id");
		return false;
	}
	c->peer_id = hello->peer_id;
	return true;
}

void replication_peer_message(struct server *s, struct conn *c, const Grove__Envelope *env)
{
	const Grove__RaftMessage *m = env->raft;
	if (m->from != c->peer_id || m->to != s->config.id) {
		log_line("%s: raft message from %llu to %llu on the link of peer %llu; ignored", c->peer,
			 (unsigned long long)m->from, (unsigned long long)m->to, (unsigned long long)c->peer_id);
		return;
	}
	if (cluster_step(s->cluster, m) != GROVE_OK)
		log_line("%s: malformed raft message (type %u) refused", c->peer, m->type);
}

void replication_forget_conn(struct server *s, struct conn *c)
{
	for (size_t i = 0; i < s->n_proposals; i++)
		if (s->proposals[i].conn == c)
			s->proposals[i].conn = NULL;
	for (size_t i = 0; i < s->n_reads; i++)
		if (s->reads[i].conn == c)
			s->reads[i].conn = NULL;
}

/* ---- a loop turn ---- */

static void not_leader(struct server *s, struct conn *c, uint64_t request_id)
{
	Grove__ErrorReply er = GROVE__ERROR_REPLY__INIT;
	const char *leader = cluster_leader_address(s->cluster);
	char message[160];
	if (leader[0])
		snprintf(message, sizeof(message), "not the leader; the leader is at %s", leader);
	else
		snprintf(message, sizeof(message), "no leader is known yet; retry shortly");
	er.code = leader[0] ? GROVE_ENOTLEADER : GROVE_EUNAVAILABLE;
	er.message = message;
	er.leader = (char *)leader;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_ERROR;
	env.error = &er;
	srv_send_envelope(c, &env);
}

/* Remember whom to answer when the entry at @p index is applied. */
static int track_proposal(struct server *s, const struct pending *p, uint64_t index, uint64_t term, bool restore)
{
	if (grove_grow((void **)&s->proposals, &s->cap_proposals, s->n_proposals, sizeof(*s->proposals)))
		return GROVE_ENOMEM;
	s->proposals[s->n_proposals++] = (struct proposal){.conn = p->conn, .request_id = p->env->request_id,
							   .index = index, .term = term, .receive_ns = p->receive_ns,
							   .restore = restore};
	return GROVE_OK;
}

static void propose_write(struct server *s, struct pending *p)
{
	/* Validate before the entry enters the log: a malformed batch is refused now, not replicated. */
	struct wire_batch batch;
	char message[256];
	int err = wire_decode_batch(p->env->write, &batch, message, sizeof(message));
	if (err) {
		Grove__WriteReply wr = GROVE__WRITE_REPLY__INIT;
		wr.code = (uint32_t)err;
		wr.message = message;
		Grove__Envelope env = GROVE__ENVELOPE__INIT;
		env.request_id = p->env->request_id;
		env.body_case = GROVE__ENVELOPE__BODY_WRITE_REPLY;
		env.write_reply = &wr;
		srv_send_envelope(p->conn, &env);
		return;
	}
	wire_batch_free(&batch);
	size_t len = grove__write_request__get_packed_size(p->env->write);
	uint8_t *data = malloc(len ? len : 1);
	if (!data) {
		srv_send_error(p->conn, p->env->request_id, GROVE_ENOMEM, "server out of memory");
		return;
	}
	grove__write_request__pack(p->env->write, data);
	uint64_t index, term;
	err = cluster_propose(s->cluster, data, len, &index, &term);
	free(data);
	if (err == GROVE_ENOTLEADER || err == GROVE_EUNAVAILABLE) {
		not_leader(s, p->conn, p->env->request_id);
		return;
	}
	if (!err)
		err = track_proposal(s, p, index, term, false);
	if (err) /* the entry may still commit; its reply is lost with the slot, so the client retries */
		srv_send_error(p->conn, p->env->request_id, GROVE_ENOMEM, "server out of memory");
}

/*
 * A replicated restore: the leader assembles the client's chunks, verifies the snapshot and commits it as
 * one log entry, which every member applies (src/server/cluster.c); the client is answered once it is
 * applied here.
 */
static void propose_restore(struct server *s, struct pending *p)
{
	struct conn *c = p->conn;
	uint64_t request_id = p->env->request_id;
	enum raft_role role;
	uint64_t term, leader, commit, applied;
	cluster_status(s->cluster, &role, &term, &leader, &commit, &applied);
	if (role != RAFT_LEADER) {
		snapshot_receiver_free(&c->restoring);
		not_leader(s, c, request_id);
		return;
	}
	char why[200] = "";
	bool complete;
	int err = srv_restore_chunk(s, c, p->env->snapshot_restore, why, sizeof(why), &complete);
	if (!err && complete) {
		/* The entry travels to followers in one message, which must fit in a peer frame. */
		uint32_t max_frame = s->config.max_frame ? s->config.max_frame : FRAME_DEFAULT_MAX;
		if (c->restoring.len > max_frame - (1u << 20)) {
			err = GROVE_ETOOBIG;
			snprintf(why, sizeof(why),
				 "a snapshot of %zu bytes is too large to restore into a cluster whose --max-frame is %u",
				 c->restoring.len, max_frame);
		} else {
			Grove__WriteRequest wr = GROVE__WRITE_REQUEST__INIT;
			wr.restore_snapshot.data = c->restoring.data;
			wr.restore_snapshot.len = c->restoring.len;
			size_t len = grove__write_request__get_packed_size(&wr);
			uint8_t *data = malloc(len);
			uint64_t index, term_of;
			err = data ? GROVE_OK : GROVE_ENOMEM;
			if (data) {
				grove__write_request__pack(&wr, data);
				err = cluster_propose(s->cluster, data, len, &index, &term_of);
				free(data);
			}
			if (!err)
				err = track_proposal(s, p, index, term_of, true);
		}
		snapshot_receiver_free(&c->restoring);
		if (!err)
			return; /* answered once applied */
	}
	srv_restore_reply(c, request_id, err, why, false, 0);
}

static void wait_read(struct server *s, struct pending *p)
{
	uint64_t context = ++s->next_read_context;
	int err = cluster_read(s->cluster, context);
	if (err) {
		not_leader(s, p->conn, p->env->request_id);
		grove__envelope__free_unpacked(p->env, NULL);
		return;
	}
	if (grove_grow((void **)&s->reads, &s->cap_reads, s->n_reads, sizeof(*s->reads))) {
		srv_send_error(p->conn, p->env->request_id, GROVE_ENOMEM, "server out of memory");
		grove__envelope__free_unpacked(p->env, NULL);
		return;
	}
	s->reads[s->n_reads++] = (struct waiting_read){.conn = p->conn, .env = p->env, .context = context};
}

static void refresh_state(struct server *s)
{
	enum raft_role role;
	uint64_t applied;
	cluster_status(s->cluster, &role, &s->state.term, &s->state.leader_id, &s->state.commit_index, &applied);
	s->state.applied_index = applied; /* entries, or a snapshot that jumped ahead */
	s->state.role = role == RAFT_LEADER ? "leader" : role == RAFT_FOLLOWER ? "follower" : "candidate";
	snprintf(s->state.leader_address, sizeof(s->state.leader_address), "%s",
		 role == RAFT_LEADER ? s->config.listen : cluster_leader_address(s->cluster));
	struct cluster_peer peers[16];
	uint64_t match[16];
	bool voter[16];
	size_t n = cluster_members(s->cluster, peers, match, voter, 16);
	s->state.n_members = n;
	bool self_voter = false;
	for (size_t i = 0; i < n; i++)
		self_voter |= peers[i].id == s->config.id && voter[i];
	if (role == RAFT_FOLLOWER && !self_voter)
		s->state.role = "learner"; /* or not a member (yet): it only follows */
	for (size_t i = 0; i < n; i++) {
		s->state.members[i].id = peers[i].id;
		snprintf(s->state.members[i].address, sizeof(s->state.members[i].address), "%s", peers[i].address);
		s->state.members[i].voter = voter[i];
		s->state.members[i].match = match[i];
	}
}

void replication_turn(struct server *s)
{
	for (size_t i = 0; i < s->n_pending; i++) {
		struct pending *p = &s->pending[i];
		switch (p->env->body_case) {
		case GROVE__ENVELOPE__BODY_WRITE:
			propose_write(s, p);
			break;
		case GROVE__ENVELOPE__BODY_READ:
		case GROVE__ENVELOPE__BODY_EXPORT_SCENE:
			/* Linearizable: served once a quorum confirms this leader and the state caught up. */
			wait_read(s, p);
			p->env = NULL; /* owned by the waiting read now */
			break;
		case GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE:
			if (p->env->snapshot_save->offset == 0) {
				/* A snapshot holds every write acknowledged before it: taken like a read. */
				wait_read(s, p);
				p->env = NULL;
			} else {
				srv_snapshot_save(s, p->conn, p->env);
			}
			break;
		case GROVE__ENVELOPE__BODY_CLUSTER: {
			const Grove__ClusterRequest *rq = p->env->cluster;
			int err;
			const char *what = "transfer leadership to";
			switch (rq->op) {
			case GROVE__CLUSTER_REQUEST__OP__ADD_LEARNER:
				err = cluster_change_membership(s->cluster, RAFT_CONF_ADD_LEARNER, rq->node, rq->address);
				what = "add learner";
				break;
			case GROVE__CLUSTER_REQUEST__OP__PROMOTE:
				err = cluster_change_membership(s->cluster, RAFT_CONF_PROMOTE, rq->node, NULL);
				what = "promote";
				break;
			case GROVE__CLUSTER_REQUEST__OP__REMOVE:
				err = cluster_change_membership(s->cluster, RAFT_CONF_REMOVE, rq->node, NULL);
				what = "remove";
				break;
			default:
				err = cluster_transfer(s->cluster, rq->node);
				break;
			}
			if (err == GROVE_ENOTLEADER) {
				not_leader(s, p->conn, p->env->request_id);
				break;
			}
			Grove__ClusterReply cr = GROVE__CLUSTER_REPLY__INIT;
			char message[128];
			if (err)
				snprintf(message, sizeof(message), "cannot %s %llu: %s", what, (unsigned long long)rq->node,
					 err == GROVE_EUNAVAILABLE ? "another change is still pending" : grove_strerror(err));
			else
				snprintf(message, sizeof(message), "%s %llu: proposed", what, (unsigned long long)rq->node);
			cr.code = (uint32_t)err;
			cr.message = message;
			Grove__Envelope env = GROVE__ENVELOPE__INIT;
			env.request_id = p->env->request_id;
			env.body_case = GROVE__ENVELOPE__BODY_CLUSTER_REPLY;
			env.cluster_reply = &cr;
			srv_send_envelope(p->conn, &env);
			break;
		}
		case GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE:
			propose_restore(s, p);
			break;
		default: {
			struct store_txn *txn;
			if (store_txn_begin(s->store, NULL, false, &txn) == GROVE_OK) {
				struct handler_reply r;
				refresh_state(s);
				handle_read_request(txn, &s->state, p->env, &r);
				srv_send_envelope(p->conn, &r.env);
				handler_reply_free(&r);
				store_txn_abort(txn);
			}
			break;
		}
		}
	}
	uint64_t durable_ns = srv_realtime_ns();
	for (size_t i = 0; i < s->n_proposals; i++)
		if (!s->proposals[i].durable_ns)
			s->proposals[i].durable_ns = durable_ns;
	if (cluster_process(s->cluster) != GROVE_OK) {
		log_line("replication failed; stopping to protect the data");
		s->stopping = true;
	}
	refresh_state(s);
}
