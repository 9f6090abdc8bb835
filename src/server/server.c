#include "src/server/server.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "proto/grove.pb-c.h"
#include "src/server/backup.h"
#include "src/common/clock.h"
#include "src/common/error.h"
#include "src/common/token.h"
#include "src/net/frame.h"
#include "src/net/wire.h"
#include "src/server/balance.h"
#include "src/server/cut.h"
#include "src/server/follow.h"
#include "src/server/handlers.h"
#include "src/server/host.h"
#include "src/server/httpd.h"
#include "src/server/log.h"
#include "src/server/metrics.h"
#include "src/server/loop.h"
#include "src/server/serverclock.h"
#include "src/server/transport.h"
#include "src/server/tree_sm.h"
#include "src/server/txnplan.h"
#include "src/server/xshard.h"
#include "src/txn/codec.h"
#include "src/common/grow.h"
#include "storage/snapshot.h"

/* /readyz: a member that has applied all but this many entries of what it knows was committed is ready. */
#define READY_MAX_LAG 100

/* Largest snapshot chunk in one reply, and largest snapshot a client may restore. */
#define SNAPSHOT_CHUNK (4u << 20)
#define SNAPSHOT_RESTORE_MAX (16ull << 30)
/* Bytes of exported scenes held for clients fetching them in chunks, at most (a new one past it: retry). */
#define EXPORTING_BYTES_MAX ((size_t)1 << 30)
/* Room left in a frame beside an export's chunk. */
#define EXPORT_CHUNK_HEADROOM 4096

/* What the server keeps per connection. */
struct client {
	bool authenticated;                 /* its hello was accepted */
	bool godot;                         /* it speaks the Godot gateway protocol (follow.h) */
	uint64_t peer_id;                   /* a server that said hello as a peer, else 0 */
	struct snapshot saving;             /* the snapshot this client is fetching */
	struct grove_buf exporting;         /* the scene this client is fetching in chunks */
	uint64_t export_index;              /* the applied index it reflects */
	struct snapshot_receiver restoring; /* the snapshot this client is sending */
};

/* Backups written on a schedule (--snapshot-every): the list is the loop's; one job at a time changes it. */
struct backups {
	char dir[4096];              /* DATA_DIR/backups */
	uint64_t every_ms;           /* 0: none are written */
	size_t keep;
	struct backup_list list;     /* what is kept, oldest first */
	struct offload *offload;     /* their own thread, so that exports never wait behind a backup */
	bool running;                /* a backup job is out */
	uint64_t due_ms;             /* monotonic time of the next backup */
	uint64_t last_index;         /* the applied index of the newest backup (0: none) */
	uint64_t began_ms;           /* monotonic time the running one began, for the log */
	uint64_t changes_at_last;    /* host_changes_applied() when the newest backup's read was taken (UINT64_MAX:
	                                not known, as before the first backup of a world with shards) */
	uint64_t changes_at_read;    /* and when the running one's was */
};

struct server {
	struct server_config config;
	struct loop *loop;
	struct transport *transport;
	struct host *host;
	struct follow *follow;
	struct change_hub hub;
	struct loop_watch *log_watch;
	struct offload *offload;      /* snapshots of subscribers, written beside the loop */
	struct server_clock clock;    /* stamps frames to peers and proposed commands */
	struct metrics metrics;       /* latencies and counters (the host counts into it) */
	struct httpd *httpd;          /* /metrics, /healthz, /readyz; NULL without --metrics */
	struct backups backups;
	size_t peer_conns;            /* connections in from peers (the rest are clients) */
	uint64_t start_ns;
	int failed;
	struct xshard *xshard;        /* cross-shard writes coordinated here, and recoveries */
	struct cut_list *cuts;        /* consistent reads of a world with shards, for snapshots and backups */
	uint64_t next_balance_ms;     /* when to look at the spread of leaderships again */
	uint64_t next_held_scan_ms;   /* when to look for abandoned transactions again */
	struct record_cursor *cursors; /* per group, where the walk of its transaction records stopped */
	size_t n_cursors, cap_cursors;
	struct txn_garbage *garbage;  /* groups whose transaction state has something to forget */
	size_t n_garbage, cap_garbage;
	uint64_t gc_after_ns;         /* transaction state older than this is forgotten */
	uint64_t next_gc_ms;          /* when to propose those collections again */
	struct parked_request *parked;   /* reads waiting for a transaction's intent to be resolved */
	size_t n_parked, cap_parked;
	struct parked_request *parked_writes; /* writes waiting likewise, to be routed and proposed then */
	size_t n_parked_writes, cap_parked_writes;
	size_t parked_bytes;          /* the requests both lists hold: at most PARKED_BYTES_MAX */
	bool txn_applied_since;       /* transaction commands were applied since the parked writes were looked at */
	bool parked_for_apply;        /* a parked write waits for this member to apply what its shards committed */
	uint64_t writes_waited;       /* writes parked for a held shard (each once) */
	uint64_t reads_waited;        /* reads parked likewise */
	uint64_t leaders_handed;      /* groups handed over by balance_leaders() */
	size_t exporting_bytes;       /* of the scenes clients fetch in chunks: at most EXPORTING_BYTES_MAX */
};

/*
 * A read (the whole request) or write (its WriteRequest) that met a shard held by a cross-shard transaction:
 * served once the intent is resolved.
 */
struct parked_request {
	struct host_ticket ticket;
	uint8_t *request;             /* the request, owned */
	size_t len;
	uint64_t deadline_ms;         /* then it is answered with GROVE_EINTENT */
};

/* How long a read waits for a transaction's intent to be resolved (an abandoned one takes the expiry and a recovery). */
#define PARKED_READ_MS 10000

/*
 * How long a transaction waits here for the parts of transactions coordinated elsewhere that hold its shards
 * (part_waits()) before it begins anyway. Another member's transactions may hold them one after the other
 * without a gap; once begun, its intents wait in the transaction layer, where the older of two goes first
 * (xshard.h), instead of here until the deadline. The coordinator's retry interval.
 */
#define PARKED_TXN_PATIENCE_MS 200
/* Bytes of requests kept waiting for held shards; past it, more are refused at once (retryable). */
#define PARKED_BYTES_MAX ((size_t)64 << 20)
/* Early resolutions counted for `grove shard list` at most. */
#define RESOLVED_EARLY_SHOWN 10000
/* How often the shards this member leads are looked at for abandoned transactions, and how many early
 * resolutions, and records, of one shard a look examines at most (the rest at the next looks, as these are
 * recovered). */
#define HELD_SCAN_MS 250
#define UNFINISHED_PER_SCAN 256
/* How often a member looks at who leads each group (balance.h), and how long it waits after a hand-over of
 * its own, so that every member sees the counts it left before it looks again. */
#define BALANCE_EVERY_MS 1000
#define BALANCE_SETTLE_MS 3000
/* A member counts for balancing only if heard from this lately: three of its links' keepalives (and well
 * inside an election timeout, so that one just gone is left out before the others take its groups). */
#define BALANCE_HEARD_MS 300
/* Transaction state kept (--txn-gc-after), and the longest wait between two collections. */
#define TXN_GC_AFTER_MS 60000
#define TXN_GC_EVERY_MS 10000

/* Where the last look at a group's transaction records stopped: the next one goes on from there. */
struct record_cursor {
	uint64_t group;
	uint64_t after;  /* the last transaction id looked at; 0: from the start */
};

/* A group that applied transaction commands: the newest applied here (CLOCK_REALTIME, ns). */
struct txn_garbage {
	uint64_t group;
	uint64_t newest_ns;
};

/* ---- replies ---- */

static void pack_into(void *ctx, uint8_t *out)
{
	grove__envelope__pack(ctx, out);
}

static void send_envelope(struct loop_conn *c, Grove__Envelope *env)
{
	env->version = 1;
	loop_send_with(c, grove__envelope__get_packed_size(env), pack_into, env);
}

static void send_error(struct loop_conn *c, uint64_t request_id, int code, const char *message, const char *leader)
{
	Grove__ErrorReply er = GROVE__ERROR_REPLY__INIT;
	er.code = (uint32_t)code;
	er.message = (char *)message;
	er.leader = (char *)(leader ? leader : "");
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_ERROR;
	env.error = &er;
	send_envelope(c, &env);
}

static void shard_reply(struct loop_conn *c, uint64_t request_id, Grove__ShardReply *sr)
{
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SHARD_REPLY;
	env.shard_reply = sr;
	send_envelope(c, &env);
}

/* Answer a request for group @p group that this member cannot serve: where its leader is, or that there is none yet. */
static void send_not_leader(struct server *s, struct loop_conn *c, uint64_t request_id, int err, uint64_t group)
{
	const char *leader = host_leader_address(s->host, group);
	char message[160];
	if (err == GROVE_ENOTLEADER && leader[0]) {
		snprintf(message, sizeof(message), "not the leader; the leader is at %s", leader);
		send_error(c, request_id, GROVE_ENOTLEADER, message, leader);
	} else if (err == GROVE_ENOTLEADER || err == GROVE_EUNAVAILABLE) {
		send_error(c, request_id, GROVE_EUNAVAILABLE, "no leader is known yet; retry shortly", "");
	} else {
		send_error(c, request_id, err, grove_strerror(err), "");
	}
}

/* The host took a request for @p group (@p err 0) and answers it later: until then it is in flight on @p c. */
static void handed_over(struct server *s, struct loop_conn *c, uint64_t request_id, int err, uint64_t group)
{
	char why[512];
	if (err == GROVE_ENOSPC && host_disk_full(s->host, why, sizeof(why)))
		send_error(c, request_id, err, why, "");
	else if (err)
		send_not_leader(s, c, request_id, err, group);
	else
		loop_conn_pending(c);
}

static struct client *client_of(struct loop_conn *c)
{
	struct client *cl = loop_conn_data(c);
	if (!cl && (cl = calloc(1, sizeof(*cl))))
		loop_conn_set_data(c, cl);
	return cl;
}

/* What status and read replies say of this server and of group @p group. */
static void fill_state(struct server *s, struct server_state *st, uint64_t group)
{
	memset(st, 0, sizeof(*st));
	struct host_status hs;
	host_status(s->host, group, &hs);
	st->server_id = s->config.id;
	st->applied_index = hs.group.applied;
	st->writes_applied = hs.writes_applied;
	st->group_commits = hs.log_flushes;
	st->clients = loop_connections(s->loop);
	st->start_ns = s->start_ns;
	st->max_reply_bytes = s->config.max_frame ? s->config.max_frame : FRAME_DEFAULT_MAX;
	st->role = hs.group.role == RAFT_LEADER     ? "leader"
		   : hs.group.role != RAFT_FOLLOWER ? "candidate"
		   : hs.group.voter                 ? "follower"
						    : "learner"; /* or not a member yet: it only follows */
	st->term = hs.group.term;
	st->leader_id = hs.group.leader;
	snprintf(st->leader_address, sizeof(st->leader_address), "%s",
		 hs.group.role == RAFT_LEADER ? s->config.listen : host_leader_address(s->host, group));
	st->commit_index = hs.group.commit;
	st->n_members = hs.n_members;
	for (size_t i = 0; i < hs.n_members && i < sizeof(st->members) / sizeof(st->members[0]); i++) {
		st->members[i].id = hs.members[i].id;
		snprintf(st->members[i].address, sizeof(st->members[i].address), "%s", hs.members[i].address);
		st->members[i].voter = hs.members[i].voter;
		st->members[i].match = hs.members[i].match;
	}
	st->hlc = server_clock_now(&s->clock);
	uint64_t now_ms = grove_monotonic_ms();
	const size_t cap = sizeof(st->peer_clocks) / sizeof(st->peer_clocks[0]);
	for (size_t i = 0; i < st->n_members && st->n_peer_clocks < cap; i++) {
		if (st->members[i].id == s->config.id)
			continue;
		const struct server_clock_peer *p = server_clock_peer(&s->clock, st->members[i].id);
		st->peer_clocks[st->n_peer_clocks].id = st->members[i].id;
		if (p && p->measured_ms) {
			st->peer_clocks[st->n_peer_clocks].measured = true;
			st->peer_clocks[st->n_peer_clocks].offset_ns = p->offset_ns;
			st->peer_clocks[st->n_peer_clocks].age_ms = now_ms - p->measured_ms;
			st->peer_clocks[st->n_peer_clocks].refused = p->refused;
		}
		st->n_peer_clocks++;
	}
}

/* The node a read or an export names. */
static const Grove__NodeRef *read_target(const Grove__Envelope *req)
{
	if (req->body_case == GROVE__ENVELOPE__BODY_READ)
		return req->read->node;
	if (req->body_case == GROVE__ENVELOPE__BODY_EXPORT_SCENE)
		return req->export_scene->node;
	return NULL;
}

/* The group a read-only request is for: the shard of the node it names (the world's when it names none). */
static uint64_t read_group(struct server *s, const Grove__Envelope *req)
{
	const Grove__NodeRef *node = read_target(req);
	uint64_t group = HOST_WORLD_GROUP;
	char why[16];
	if (node) {
		struct host_ref ref = {node->path, node->id};
		host_route(s->host, &ref, 1, &group, why, sizeof(why));
	}
	return group;
}

/* Nodes in every group's tree: the world's size. */
static uint64_t world_nodes(struct server *s, struct store_txn *txn)
{
	const struct shard_map *map = host_shard_map(s->host);
	uint64_t total = 0;
	for (size_t i = 0; i < map->n; i++) {
		const struct tree *t = host_tree(s->host, map->entries[i].group);
		uint64_t n = 0;
		if (t && map->entries[i].state == SHARD_ACTIVE && tree_node_count(t, txn, &n) == GROVE_OK)
			total += n;
	}
	return total;
}

/*
 * The tree that reads group @p group: with shards, through @p view (filled here; release it with
 * tree_view_free()), so that a subtree is read across them as this member applied them.
 */
static const struct tree *read_tree(struct server *s, uint64_t group, struct tree_view *view)
{
	memset(view, 0, sizeof(*view));
	if (host_sharded(s->host) && host_view(s->host, view) == GROVE_OK)
		return tree_view_group(view, group);
	return host_tree(s->host, group);
}

/* Let the scene client @p cl was fetching go. */
static void forget_export(struct server *s, struct client *cl)
{
	s->exporting_bytes -= cl->exporting.len;
	grove_buf_free(&cl->exporting);
}

/*
 * Answer export request @p request_id with the chunk at @p offset (@p max_bytes at most, and no more than a
 * snapshot chunk or a frame) of the scene the client fetches in chunks; its last chunk lets the scene go.
 */
static void export_chunk_reply(struct server *s, struct loop_conn *c, uint64_t request_id, uint64_t offset,
			       uint32_t max_bytes)
{
	struct client *cl = client_of(c);
	size_t frame = s->config.max_frame ? s->config.max_frame : SNAPSHOT_CHUNK;
	size_t cap = frame > 2 * EXPORT_CHUNK_HEADROOM ? frame - EXPORT_CHUNK_HEADROOM : EXPORT_CHUNK_HEADROOM;
	if (cap > SNAPSHOT_CHUNK)
		cap = SNAPSHOT_CHUNK;
	Grove__ExportReply er = GROVE__EXPORT_REPLY__INIT;
	if (!cl || !cl->exporting.data || offset > cl->exporting.len) {
		er.code = cl ? GROVE_ERANGE : GROVE_ENOMEM;
		er.message = cl ? "no scene is being fetched here at that offset: ask for it from offset 0" : "out of memory";
	} else {
		size_t want = max_bytes && max_bytes < cap ? max_bytes : cap;
		size_t left = cl->exporting.len - offset;
		er.message = "";
		er.scene.data = cl->exporting.data + offset;
		er.scene.len = left < want ? left : want;
		er.total = cl->exporting.len;
		er.applied_index = cl->export_index;
	}
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_EXPORT_REPLY;
	env.export_reply = &er;
	send_envelope(c, &env);
	if (cl && !er.code && offset + er.scene.len == cl->exporting.len)
		forget_export(s, cl);
}

/*
 * Send @p r, the answer to @p req (a read-only request): an export asked for in chunks keeps its scene in the
 * client and answers its first chunk.
 */
static void send_read_reply(struct server *s, struct loop_conn *c, const Grove__Envelope *req,
			    struct handler_reply *r)
{
	struct client *cl = req->body_case == GROVE__ENVELOPE__BODY_EXPORT_SCENE && req->export_scene->max_bytes &&
					    r->env.body_case == GROVE__ENVELOPE__BODY_EXPORT_REPLY &&
					    !r->env.export_reply->code
				    ? client_of(c)
				    : NULL;
	if (!cl) {
		send_envelope(c, &r->env);
		return;
	}
	ProtobufCBinaryData *scene = &r->env.export_reply->scene;
	size_t len = scene->len;
	forget_export(s, cl);
	if (s->exporting_bytes + len > EXPORTING_BYTES_MAX) {
		send_error(c, req->request_id, GROVE_EUNAVAILABLE,
			   "this server holds as many exported scenes as it may while their chunks are fetched; retry", "");
		return;
	}
	/* Taken from the reply, not copied: a scene may be hundreds of megabytes. */
	uint8_t *data = handler_reply_release(r, scene->data);
	if (!data) {
		send_error(c, req->request_id, GROVE_ENOMEM, "out of memory for the scene", "");
		return;
	}
	cl->exporting = (struct grove_buf){.data = data, .len = len, .cap = len};
	cl->export_index = r->env.export_reply->applied_index;
	s->exporting_bytes += len;
	export_chunk_reply(s, c, req->request_id, 0, req->export_scene->max_bytes);
}

/*
 * Serve a read-only request from the store as it is now. With shards, a subtree is read across them
 * (struct tree_view): each shard's part as this member applied it, all in one store transaction.
 */
static void serve_from_store(struct server *s, struct loop_conn *c, const Grove__Envelope *req)
{
	struct server_state st;
	uint64_t group = read_group(s, req);
	fill_state(s, &st, group);
	struct store_txn *txn;
	if (store_txn_begin(host_store(s->host), NULL, false, &txn) != GROVE_OK) {
		send_error(c, req->request_id, GROVE_ESTORAGE, "cannot read the store", "");
		return;
	}
	struct tree_view view;
	const struct tree *t = read_tree(s, group, &view);
	if (host_sharded(s->host))
		st.node_count = world_nodes(s, txn);
	struct handler_reply r;
	handle_read_request(t, txn, &st, req, &r);
	send_read_reply(s, c, req, &r);
	handler_reply_free(&r);
	tree_view_free(&view);
	store_txn_abort(txn);
}

/* An export of a subtree as a scene, answered from a read transaction taken in the loop, written beside it. */
struct export_job {
	struct server *s;
	uint64_t conn;
	Grove__Envelope *req;     /* owned */
	struct server_state state;
	struct tree_view view;    /* the shards' view the export reads through (owned) */
	const struct tree *tree;
	struct store_txn *txn;    /* owned until run() ends it */
	struct handler_reply reply;
};

static void export_run(void *arg)
{
	struct export_job *j = arg;
	handle_read_request(j->tree, j->txn, &j->state, j->req, &j->reply);
	store_txn_abort(j->txn);
	j->txn = NULL;
}

static void export_done(void *arg, bool cancelled)
{
	struct export_job *j = arg;
	struct loop_conn *c = cancelled ? NULL : loop_conn_find(j->s->loop, j->conn);
	if (c)
		send_read_reply(j->s, c, j->req, &j->reply);
	handler_reply_free(&j->reply);
	tree_view_free(&j->view);
	store_txn_abort(j->txn);
	grove__envelope__free_unpacked(j->req, NULL);
	free(j);
}

/* Take @p req (an export) to the offload thread; false if it cannot go there and must be served here. */
static bool export_beside_the_loop(struct server *s, struct loop_conn *c, Grove__Envelope *req)
{
	struct export_job *j = calloc(1, sizeof(*j));
	if (!j || store_txn_begin(host_store(s->host), NULL, false, &j->txn) != GROVE_OK) {
		free(j);
		return false;
	}
	j->s = s;
	j->conn = loop_conn_id(c);
	j->req = req;
	uint64_t group = read_group(s, req);
	fill_state(s, &j->state, group);
	j->tree = read_tree(s, group, &j->view);
	struct offload_job job = {.job = j, .run = export_run, .done = export_done};
	if (offload_submit(s->offload, &job) != GROVE_OK) {
		tree_view_free(&j->view);
		store_txn_abort(j->txn);
		free(j);
		return false;
	}
	return true;
}

/* ---- snapshots ---- */

/* Answer save request @p request_id with the chunk of the client's snapshot at @p offset, or with @p err (@p why). */
static void save_reply(struct loop_conn *c, uint64_t request_id, uint64_t offset, uint64_t max_bytes, int err,
		       const char *why)
{
	struct client *cl = client_of(c);
	Grove__SnapshotSaveReply sr = GROVE__SNAPSHOT_SAVE_REPLY__INIT;
	if (!err && (!cl || !cl->saving.data || offset > cl->saving.len))
		err = cl ? GROVE_ERANGE : GROVE_ENOMEM;
	sr.code = (uint32_t)err;
	sr.message = (char *)(err && why && why[0] ? why : err ? grove_strerror(err) : "");
	if (!err) {
		size_t want = max_bytes && max_bytes < SNAPSHOT_CHUNK ? max_bytes : SNAPSHOT_CHUNK;
		size_t left = cl->saving.len - offset;
		sr.chunk.data = cl->saving.data + offset;
		sr.chunk.len = left < want ? left : want;
		sr.total = cl->saving.len;
		sr.applied_index = cl->saving.applied_index;
	}
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE_REPLY;
	env.snapshot_save_reply = &sr;
	send_envelope(c, &env);
}

/* A snapshot a client saves: read begun in the loop, built beside it (offload.h), then sent in chunks. */
struct save_job {
	struct server *s;
	uint64_t conn;
	uint64_t request_id;
	uint32_t max_bytes;            /* of the first chunk */
	struct host_snapshot_read read; /* owned until built */
	struct snapshot snap;          /* what run() built */
	int err;
};

static void save_run(void *arg)
{
	struct save_job *j = arg;
	j->err = host_snapshot_build(&j->read, &j->snap);
}

/* The snapshot is built: it becomes the client's, and its first chunk is the answer. */
static void save_done(void *arg, bool cancelled)
{
	struct save_job *j = arg;
	struct loop_conn *c = cancelled ? NULL : loop_conn_find(j->s->loop, j->conn);
	struct client *cl = c ? client_of(c) : NULL;
	if (c)
		loop_conn_answered(c);
	if (cl && !j->err) {
		snapshot_free(&cl->saving);
		cl->saving = j->snap;
		j->snap = (struct snapshot){0};
		log_line("%s: snapshot of %zu bytes at index %llu", loop_conn_peer(c), cl->saving.len,
			 (unsigned long long)cl->saving.applied_index);
	}
	if (c)
		save_reply(c, j->request_id, 0, j->max_bytes, j->err, NULL);
	host_snapshot_abandon(&j->read);
	snapshot_free(&j->snap);
	free(j);
}

/*
 * Build the snapshot begun in @p rd (taken over) for save request @p request_id beside the loop, which a
 * whole world's snapshot would stall (every group's replication with it); here if it cannot go there.
 */
static void save_beside_the_loop(struct server *s, struct loop_conn *c, uint64_t request_id, uint32_t max_bytes,
				 struct host_snapshot_read *rd)
{
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j) {
		host_snapshot_abandon(rd);
		save_reply(c, request_id, 0, max_bytes, GROVE_ENOMEM, NULL);
		return;
	}
	*j = (struct save_job){.s = s, .conn = loop_conn_id(c), .request_id = request_id, .max_bytes = max_bytes,
			       .read = *rd};
	loop_conn_pending(c);
	struct offload_job job = {.job = j, .run = save_run, .done = save_done};
	if (offload_submit(s->offload, &job) != GROVE_OK) {
		save_run(j);
		save_done(j, false);
	}
}

/*
 * A save request of a world without shards: at offset 0 the snapshot of the world's group is begun (once the
 * read was confirmed, so that it holds every write acknowledged before it), then chunks.
 */
static void snapshot_save_reply(struct server *s, struct loop_conn *c, const Grove__Envelope *req)
{
	const Grove__SnapshotSaveRequest *rq = req->snapshot_save;
	struct host_snapshot_read rd;
	if (rq->offset > 0)
		save_reply(c, req->request_id, rq->offset, rq->max_bytes, GROVE_OK, NULL);
	else if (host_snapshot_begin(s->host, HOST_WORLD_GROUP, &rd) == GROVE_OK)
		save_beside_the_loop(s, c, req->request_id, rq->max_bytes, &rd);
	else
		save_reply(c, req->request_id, 0, rq->max_bytes, GROVE_ESTORAGE, "cannot read the store");
}

/* The cut a save of a world with shards asked for (cut.h) was taken, or failed. */
static void save_cut_taken(struct server *s, const struct cut_for *who, int err, const char *why,
			   struct host_snapshot_read *rd)
{
	struct loop_conn *c = loop_conn_find(s->loop, who->conn);
	if (c)
		loop_conn_answered(c);
	if (c && !err)
		save_beside_the_loop(s, c, who->request_id, (uint32_t)who->detail, rd);
	else if (c)
		save_reply(c, who->request_id, 0, who->detail, err, why);
	else
		host_snapshot_abandon(rd);
}

static void restore_reply(struct loop_conn *c, uint64_t request_id, int err, const char *why, bool installed,
			  uint64_t applied_index)
{
	struct client *cl = client_of(c);
	Grove__SnapshotRestoreReply rr = GROVE__SNAPSHOT_RESTORE_REPLY__INIT;
	rr.code = (uint32_t)err;
	rr.message = why && why[0] ? (char *)why : err ? (char *)grove_strerror(err) : "";
	rr.installed = installed;
	rr.applied_index = applied_index;
	rr.next_offset = cl ? cl->restoring.len : 0;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE_REPLY;
	env.snapshot_restore_reply = &rr;
	send_envelope(c, &env);
}

static bool world_is_empty(struct server *s)
{
	struct store_txn *txn;
	if (store_txn_begin(host_store(s->host), NULL, false, &txn) != GROVE_OK)
		return false;
	bool empty = tree_is_empty(host_tree(s->host, HOST_WORLD_GROUP), txn);
	store_txn_abort(txn);
	return empty;
}

/*
 * A chunk of a snapshot to restore. Once every byte arrived and it verifies, it is proposed as one entry,
 * which every member applies only if its world is still empty then.
 */
static void snapshot_restore(struct server *s, struct loop_conn *c, const Grove__Envelope *req,
			     const struct host_ticket *t)
{
	struct client *cl = client_of(c);
	const Grove__SnapshotRestoreRequest *rq = req->snapshot_restore;
	char why[200] = "";
	if (!cl) {
		restore_reply(c, req->request_id, GROVE_ENOMEM, NULL, false, 0);
		return;
	}
	if (rq->offset == 0) {
		snapshot_receiver_free(&cl->restoring);
		if (!world_is_empty(s)) {
			restore_reply(c, req->request_id, GROVE_EEXIST, "restore needs an empty world; this one has data",
				      false, 0);
			return;
		}
	}
	int err = snapshot_receiver_put(&cl->restoring, rq->offset, rq->total, rq->chunk.data, rq->chunk.len,
					SNAPSHOT_RESTORE_MAX);
	if (err == GROVE_ERANGE && rq->offset != cl->restoring.len)
		err = GROVE_OK; /* out of place: the reply's next offset says where to resume */
	else if (err)
		snprintf(why, sizeof(why), "%s", err == GROVE_ETOOBIG ? "the snapshot is too large" : grove_strerror(err));
	if (err || !snapshot_receiver_complete(&cl->restoring)) {
		if (err)
			snapshot_receiver_free(&cl->restoring);
		restore_reply(c, req->request_id, err, why, false, 0);
		return;
	}
	err = snapshot_verify(cl->restoring.data, cl->restoring.len, NULL, why, sizeof(why));
	/* The entry travels to followers in one message, which must fit in a peer frame beside its envelope. */
	uint32_t max_frame = s->config.max_frame ? s->config.max_frame : (64u << 20);
	uint32_t room = max_frame - (max_frame / 2 < (1u << 20) ? max_frame / 2 : (1u << 20));
	if (!err && cl->restoring.len > room) {
		err = GROVE_ETOOBIG;
		snprintf(why, sizeof(why), "a snapshot of %zu bytes is too large to restore into a cluster whose --max-frame is %u",
			 cl->restoring.len, max_frame);
	}
	if (!err) {
		err = host_propose(s->host, HOST_WORLD_GROUP, t, TREE_CMD_RESTORE, cl->restoring.data, cl->restoring.len);
		if (err == GROVE_ENOTLEADER || err == GROVE_EUNAVAILABLE) {
			snapshot_receiver_free(&cl->restoring);
			send_not_leader(s, c, req->request_id, err, HOST_WORLD_GROUP);
			return;
		}
		if (!err)
			loop_conn_pending(c);
	}
	snapshot_receiver_free(&cl->restoring);
	if (err)
		restore_reply(c, req->request_id, err, why, false, 0);
	/* else answered once applied */
}

/* ---- host hooks ---- */

static void host_send(void *ctx, uint64_t to, const uint8_t *msg, size_t len)
{
	struct server *s = ctx;
	transport_send(s->transport, to, msg, len);
}

static void host_flush_sends(void *ctx)
{
	struct server *s = ctx;
	transport_flush(s->transport);
}

static size_t host_backlog(void *ctx, uint64_t to)
{
	struct server *s = ctx;
	return transport_backlog(s->transport, to);
}

static void write_done(void *ctx, const struct host_ticket *t, const struct host_write_done *w)
{
	struct server *s = ctx;
	struct loop_conn *c = loop_conn_find(s->loop, t->conn);
	if (!c)
		return;
	loop_conn_answered(c);
	if (w->restore) {
		if (!w->code)
			log_line("restored a snapshot into the world at index %llu", (unsigned long long)w->index);
		restore_reply(c, t->request_id, w->code, w->message, !w->code, w->index);
		return;
	}
	Grove__WriteReply wr = GROVE__WRITE_REPLY__INIT;
	wr.code = (uint32_t)w->code;
	wr.message = (char *)(w->code ? w->message : "");
	wr.failed_op = w->code && w->code != GROVE_EUNAVAILABLE ? (uint32_t)w->failed_op : 0;
	wr.ids = (uint64_t *)w->ids;
	wr.n_ids = w->n_ids;
	wr.applied_index = w->code == GROVE_EUNAVAILABLE ? 0 : w->index;
	wr.server_receive_ns = t->receive_ns;
	wr.server_durable_ns = w->durable_ns;
	wr.server_reply_ns = grove_realtime_ns();
	wr.server_proposed_ns = w->proposed_ns;
	wr.server_committed_ns = w->committed_ns;
	wr.server_applied_ns = w->applied_ns;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = t->request_id;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE_REPLY;
	env.write_reply = &wr;
	send_envelope(c, &env);
}

/* Whether a cross-shard transaction's intent holds any shard, as this member applied them. */
static bool any_shard_held(struct server *s)
{
	const struct shard_map *map = host_shard_map(s->host);
	for (size_t i = 0; i < map->n; i++)
		if (host_held(s->host, map->entries[i].group, NULL))
			return true;
	return false;
}

/*
 * Whether what @p req reads is held by a cross-shard transaction's intent here: its part is not in the
 * tree yet though the transaction may have been acknowledged, so the read must wait for it, unless it
 * reads, in the shard of the node it names, only nodes that the part leaves as they are (host_read_waits()):
 * a listing, or an export of the node's subtree (what an export states beyond a listing, a node's
 * connections, groups and the resources its values name, changes only with an op on the node). A read reaches
 * the shard of the node it names and, for a subtree or an export, every shard whose root is below that
 * node; one that names no node by a path in canonical form (a snapshot, a node by id) may reach any shard.
 * The nodes above a shard's root, through which a path is resolved, never change in a transaction (they
 * cannot be moved, renamed or deleted).
 */
static bool read_meets_intent(struct server *s, const Grove__Envelope *req)
{
	if (!host_sharded(s->host))
		return false;
	const Grove__NodeRef *node = read_target(req);
	uint64_t group = read_group(s, req);
	bool reading = req->body_case == GROVE__ENVELOPE__BODY_READ;
	bool exporting = req->body_case == GROVE__ENVELOPE__BODY_EXPORT_SCENE;
	bool whole = exporting || (reading && req->read->depth != 0);
	if (node && (reading || exporting) ? host_read_waits(s->host, group, &(struct host_ref){node->path, node->id}, whole)
					   : host_held(s->host, group, NULL))
		return true;
	if (req->body_case == GROVE__ENVELOPE__BODY_READ && req->read->depth == 0)
		return false;
	if (!node || node->id || !node->path || !shard_path_canonical(node->path))
		return any_shard_held(s);
	const struct shard_map *map = host_shard_map(s->host);
	for (size_t i = 0; i < map->n; i++)
		if (shard_path_within(map->entries[i].path, node->path) && host_held(s->host, map->entries[i].group, NULL))
			return true;
	return false;
}

/*
 * Keep @p request (copied) in @p list until @p deadline_ms (0: PARKED_READ_MS from now).
 * @return GROVE_OK, GROVE_ETOOBIG (PARKED_BYTES_MAX are waiting already), GROVE_ENOMEM.
 */
static int park(struct server *s, struct parked_request **list, size_t *n, size_t *cap, const struct host_ticket *t,
		const uint8_t *request, size_t len, uint64_t deadline_ms)
{
	if (s->parked_bytes + len > PARKED_BYTES_MAX)
		return GROVE_ETOOBIG;
	if (grove_grow((void **)list, cap, *n, sizeof(**list)))
		return GROVE_ENOMEM;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return GROVE_ENOMEM;
	memcpy(copy, request, len);
	s->parked_bytes += len;
	(*list)[(*n)++] = (struct parked_request){*t, copy, len, deadline_ms ? deadline_ms : grove_monotonic_ms() + PARKED_READ_MS};
	return GROVE_OK;
}

static int park_read(struct server *s, const struct host_ticket *t, const uint8_t *request, size_t len)
{
	return park(s, &s->parked, &s->n_parked, &s->cap_parked, t, request, len, 0);
}

static void serve_read(struct server *s, struct loop_conn *c, Grove__Envelope *req)
{
	loop_conn_answered(c);
	/* A scene of a large subtree takes seconds to write: not in the loop, which would stall every group. */
	if (req->body_case == GROVE__ENVELOPE__BODY_EXPORT_SCENE && export_beside_the_loop(s, c, req))
		return;
	if (req->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE)
		snapshot_save_reply(s, c, req);
	else
		serve_from_store(s, c, req);
	grove__envelope__free_unpacked(req, NULL);
}

/* Serve the parked reads whose shards are free now; answer those that waited too long. */
static void serve_parked(struct server *s)
{
	uint64_t now = grove_monotonic_ms();
	/* Reads are served from committed state: the resolution that freed a shard may be only applied yet. */
	host_commit_applied(s->host);
	size_t kept = 0;
	for (size_t i = 0; i < s->n_parked; i++) {
		struct parked_request *p = &s->parked[i];
		struct loop_conn *c = loop_conn_find(s->loop, p->ticket.conn);
		Grove__Envelope *req = c ? grove__envelope__unpack(NULL, p->len, p->request) : NULL;
		if (req && read_meets_intent(s, req) && now < p->deadline_ms) {
			grove__envelope__free_unpacked(req, NULL);
			s->parked[kept++] = *p;
			continue;
		}
		if (req && now >= p->deadline_ms && read_meets_intent(s, req)) {
			loop_conn_answered(c);
			send_error(c, p->ticket.request_id, GROVE_EINTENT,
				   "a cross-shard transaction still holds a shard this read needs; retry", "");
			grove__envelope__free_unpacked(req, NULL);
		} else if (req) {
			serve_read(s, c, req);
		}
		s->parked_bytes -= p->len;
		free(p->request);
	}
	s->n_parked = kept;
}

static void read_ready(void *ctx, const struct host_ticket *t, const uint8_t *request, size_t len)
{
	struct server *s = ctx;
	struct loop_conn *c = loop_conn_find(s->loop, t->conn);
	if (!c)
		return;
	Grove__Envelope *req = grove__envelope__unpack(NULL, len, request);
	if (!req) {
		loop_conn_answered(c);
		return;
	}
	if (!read_meets_intent(s, req)) {
		serve_read(s, c, req);
		return;
	}
	/* Served now it would miss a transaction's part: it waits, or (too many waiting) is told to retry. */
	xshard_release(s->xshard);
	if (park_read(s, t, request, len) != GROVE_OK) {
		loop_conn_answered(c);
		send_error(c, t->request_id, GROVE_EINTENT, "a cross-shard transaction holds a shard this read needs, and "
			   "too many requests wait for it already; retry", "");
	} else {
		s->reads_waited++;
	}
	grove__envelope__free_unpacked(req, NULL);
}

static void read_failed(void *ctx, const struct host_ticket *t, int code, const char *why)
{
	struct server *s = ctx;
	struct loop_conn *c = loop_conn_find(s->loop, t->conn);
	if (!c)
		return;
	loop_conn_answered(c);
	send_error(c, t->request_id, code, why, host_leader_address(s->host, HOST_WORLD_GROUP));
}

/* ---- cross-shard writes ---- */

static int xshard_send(void *ctx, uint64_t group, const uint8_t *cmd, size_t len)
{
	struct server *s = ctx;
	return host_send_command(s->host, group, TREE_CMD_TXN, cmd, len);
}


/* The lanes of the transactions that hold @p group as this member applied it (xshard_hooks.lanes_held). */
static uint32_t lanes_held(void *ctx, uint64_t group)
{
	struct server *s = ctx;
	struct txn_meta held[TREE_SM_HOLDERS_MAX];
	size_t n = host_holders(s->host, group, held, TREE_SM_HOLDERS_MAX);
	uint32_t lanes = 0;
	for (size_t k = 0; k < n; k++)
		lanes |= 1u << tree_sm_lane(held[k].id);
	return lanes;
}

/* A cross-shard write ended: answered in the protocol of the client that sent it (a Godot submit, or a write). */
static void xshard_done(void *ctx, const struct host_ticket *t, const struct xshard_outcome *o)
{
	struct server *s = ctx;
	if (cut_owns(t)) {
		cut_txn_ended(s->cuts, t, o);
		return;
	}
	struct loop_conn *c = loop_conn_find(s->loop, t->conn);
	struct client *cl = c ? loop_conn_data(c) : NULL;
	if (cl && cl->godot) {
		follow_submit_done(s->follow, t, o->key, o->index, o->code, o->message, o->failed_op);
		return;
	}
	struct host_write_done w = {.group = o->group, .index = o->index, .code = o->code, .message = o->message,
				    .failed_op = o->failed_op, .ids = o->ids, .n_ids = o->n_ids};
	write_done(ctx, t, &w);
}

/* Group @p group applied a transaction command at @p now (ns): its state will have something to forget. */
static void note_txn_garbage(struct server *s, uint64_t group, const struct tree_result *res, uint64_t now)
{
	struct txn_cmd cmd;
	if (txn_cmd_decode(res->txn_cmd.data, res->txn_cmd.len, &cmd, NULL) != GROVE_OK)
		return;
	bool collection = cmd.type == TXN_CMD_GC; /* what it leaves is not garbage */
	txn_cmd_release(&cmd);
	if (collection)
		return;
	for (size_t i = 0; i < s->n_garbage; i++) {
		if (s->garbage[i].group == group) {
			s->garbage[i].newest_ns = now;
			return;
		}
	}
	if (!grove_grow((void **)&s->garbage, &s->cap_garbage, s->n_garbage, sizeof(*s->garbage)))
		s->garbage[s->n_garbage++] = (struct txn_garbage){group, now};
}

static void txn_applied(void *ctx, uint64_t group, uint64_t index, const struct tree_result *res)
{
	struct server *s = ctx;
	uint64_t now = grove_realtime_ns();
	s->txn_applied_since = true;
	xshard_applied(s->xshard, group, index, res, now);
	note_txn_garbage(s, group, res, now);
}

/*
 * Forget what transactions left in the shards this member leads once it is older than --txn-gc-after
 * (txn_gc(): timestamp cache entries, finished markers, every version but the newest; a record is its
 * coordinator's to delete, txn_forget()): a
 * TXN_CMD_GC whose low-water mark is that far behind this member's clock, proposed to each group that
 * applied transaction commands since, until the mark has passed the newest of them. Groups without
 * transactions get none, so they stay quiescent. Every member notes what it applied; the leader proposes.
 */
static void collect_txn_garbage(struct server *s)
{
	uint64_t now_ms = grove_monotonic_ms();
	if (!s->n_garbage || now_ms < s->next_gc_ms)
		return;
	uint64_t every_ms = s->gc_after_ns / 1000000 / 4;
	s->next_gc_ms = now_ms + (every_ms > TXN_GC_EVERY_MS ? TXN_GC_EVERY_MS : every_ms ? every_ms : 1);
	uint64_t now = grove_realtime_ns();
	if (now <= s->gc_after_ns)
		return;
	struct txn_cmd gc = {.type = TXN_CMD_GC, .at = {now - s->gc_after_ns, 0}};
	uint8_t *body = NULL;
	size_t len = 0;
	if (txn_cmd_encode(&gc, &body, &len) != GROVE_OK)
		return;
	size_t kept = 0;
	for (size_t i = 0; i < s->n_garbage; i++) {
		struct txn_garbage *g = &s->garbage[i];
		if (host_leads(s->host, g->group))
			host_send_command(s->host, g->group, TREE_CMD_TXN, body, len);
		/* A transaction's timestamp is at most the clock offset ahead of the member that applied it. */
		if (gc.at.wall <= g->newest_ns + s->clock.hlc.max_offset_ns)
			s->garbage[kept++] = *g;
	}
	s->n_garbage = kept;
	free(body);
}

/*
 * Recover transaction @p met, met on @p group (holding it, or resolved there early), if nobody will finish
 * it: its coordinator's heartbeat expired, or its record is final and half the expiry passed since the last
 * heartbeat (a live coordinator resolves as soon as the record is final, having heartbeat at most a quarter
 * of the expiry before; a recovery at once did the same work beside it). A pushed record has no heartbeat:
 * what it left is recovered at once. A transaction resolved early without a record was forgotten after its
 * confirmation: nothing to do.
 */
static void recover_if_abandoned(struct server *s, const struct txn_meta *met, uint64_t group, bool early, uint64_t now)
{
	struct txn_record rec = {0};
	if (xshard_busy_with(s->xshard, met->id) || host_txn_record(s->host, met->anchor, met->id, &rec) != GROVE_OK)
		return;
	uint64_t heard = rec.status == TXN_NONE ? met->start.wall : rec.heartbeat;
	uint64_t patience = xshard_expiry(s->xshard) / (txn_status_is_final(rec.status) ? 2 : 1);
	if ((!early || rec.status != TXN_NONE) && heard + patience < now) {
		log_line("transactions: recovering %016llx, %s shard %llu (its record: %s)", (unsigned long long)met->id,
			 early ? "resolved early on" : "which holds", (unsigned long long)group,
			 txn_status_name(rec.status));
		xshard_recover(s->xshard, met, group, now);
	}
	txn_record_free(&rec);
}

/* The cursor of @p group's records, made at its start if there is none; NULL when out of memory. */
static uint64_t *record_cursor(struct server *s, uint64_t group)
{
	for (size_t i = 0; i < s->n_cursors; i++)
		if (s->cursors[i].group == group)
			return &s->cursors[i].after;
	if (grove_grow((void **)&s->cursors, &s->cap_cursors, s->n_cursors, sizeof(*s->cursors)))
		return NULL;
	s->cursors[s->n_cursors] = (struct record_cursor){group, 0};
	return &s->cursors[s->n_cursors++].after;
}

/*
 * Recover the transactions whose records @p group anchors and that wait for a coordinator that is gone: its
 * heartbeat expired (a coordinator stops heartbeating once its record is final, and resolving takes far less
 * than the expiry). A coordinator can die after its record became final and before its FORGET, with no
 * intent left for anyone to meet; without this its record would never be collected. A look examines at most
 * UNFINISHED_PER_SCAN records (the table holds every record of the last --txn-gc-after) and the next goes on
 * where it stopped, starting over at the end.
 */
static void recover_unresolved_records(struct server *s, uint64_t group, uint64_t now)
{
	uint64_t *after = record_cursor(s, group);
	struct txn_record rec;
	uint64_t id;
	bool waits;
	for (int k = 0; after && k < UNFINISHED_PER_SCAN; k++, *after = id) {
		int err = host_txn_next_record(s->host, group, *after, &id, &rec, &waits);
		if (err) {
			*after = 0;
			return;
		}
		struct txn_meta met = {.id = id, .anchor = group, .epoch = rec.epoch, .seq = rec.seq, .ts = rec.ts,
				       .start = rec.ts};
		if (waits && !xshard_busy_with(s->xshard, id) && rec.heartbeat + xshard_expiry(s->xshard) < now) {
			log_line("transactions: recovering %016llx, whose %s record shard %llu keeps", (unsigned long long)id,
				 txn_status_name(rec.status), (unsigned long long)group);
			xshard_recover(s->xshard, &met, group, now);
		}
		txn_record_free(&rec);
	}
}

/*
 * Recover the transactions that hold a shard this member leads, that it resolved early, or whose records it
 * keeps, and that nobody will finish (recover_if_abandoned(), recover_unresolved_records()). Every member
 * could; the shard's leader does, so that one recovery runs, not one per member.
 */
static void recover_abandoned(struct server *s)
{
	uint64_t now_ms = grove_monotonic_ms();
	if (now_ms < s->next_held_scan_ms || !host_sharded(s->host))
		return;
	s->next_held_scan_ms = now_ms + HELD_SCAN_MS;
	uint64_t now = grove_realtime_ns();
	const struct shard_map *map = host_shard_map(s->host);
	for (size_t i = 0; i < map->n; i++) {
		uint64_t group = map->entries[i].group;
		struct txn_meta met;
		if (!host_leads(s->host, group))
			continue;
		struct txn_meta held[TREE_SM_HOLDERS_MAX];
		size_t n = host_holders(s->host, group, held, TREE_SM_HOLDERS_MAX);
		for (size_t k = 0; k < n; k++)
			recover_if_abandoned(s, &held[k], group, false, now);
		uint64_t after = 0;
		for (int k = 0; k < UNFINISHED_PER_SCAN && host_txn_early(s->host, group, after, &met) == GROVE_OK; k++) {
			recover_if_abandoned(s, &met, group, true, now);
			after = met.id;
		}
		recover_unresolved_records(s, group, now);
	}
}

static void forward(void *ctx, uint64_t to, uint64_t group, const uint8_t *data, size_t len)
{
	struct server *s = ctx;
	transport_send_proposal(s->transport, to, group, data, len);
}

static void submit_done(void *ctx, const struct host_ticket *t, const char *key, uint64_t index, int code,
			const char *message, size_t failed_op)
{
	struct server *s = ctx;
	follow_submit_done(s->follow, t, key, index, code, message, failed_op);
}

static void publish(void *ctx, uint64_t group, uint64_t index, const struct tree_change *changes, size_t n,
		    const struct tree_paths *paths, const struct entry_times *times, const struct change_txn *txn)
{
	struct server *s = ctx;
	if (s->follow)
		follow_publish(s->follow, group, index, changes, n, paths, times, txn);
}

static void moved(void *ctx, uint64_t group, uint64_t index, const char *path, uint64_t to, uint64_t born_at)
{
	struct server *s = ctx;
	if (s->follow)
		follow_moved(s->follow, group, index, path, to, born_at);
}

static void installed(void *ctx, uint64_t group, uint64_t index)
{
	struct server *s = ctx;
	if (s->follow)
		follow_installed(s->follow, group, index);
}

static void shard_done(void *ctx, const struct host_ticket *t, int code, const char *message, uint64_t group)
{
	struct server *s = ctx;
	struct loop_conn *c = loop_conn_find(s->loop, t->conn);
	if (!c)
		return;
	loop_conn_answered(c);
	Grove__ShardReply sr = GROVE__SHARD_REPLY__INIT;
	sr.code = (uint32_t)code;
	sr.message = (char *)(message ? message : "");
	sr.group = group;
	sr.server_id = s->config.id;
	shard_reply(c, t->request_id, &sr);
}

static struct hlc_ts clock_stamp(void *ctx)
{
	struct server *s = ctx;
	return server_clock_now(&s->clock);
}

static void clock_observe(void *ctx, struct hlc_ts ts)
{
	struct server *s = ctx;
	server_clock_observe(&s->clock, ts);
}

static void member_added(void *ctx, uint64_t id, const char *address)
{
	struct server *s = ctx;
	log_line("raft: member %llu is at %s", (unsigned long long)id, address);
	transport_add_peer(s->transport, id, address);
}

/* ---- requests ---- */

static void refuse(struct loop_conn *c, uint64_t request_id, int code, const char *reason)
{
	send_error(c, request_id, code, reason, "");
	loop_close_after_send(c, reason);
}

static void handle_hello(struct server *s, struct loop_conn *c, const Grove__Envelope *env)
{
	const Grove__Hello *hello = env->hello;
	if (hello->role == GROVE__HELLO__ROLE__PEER) {
		char reason[96];
		if (!grove_token_equal(s->config.cluster_token, hello->token))
			snprintf(reason, sizeof(reason), "wrong cluster token from a peer");
		else if (hello->cluster_id != s->config.cluster_id)
			snprintf(reason, sizeof(reason), "peer of cluster %llu, this is cluster %llu",
				 (unsigned long long)hello->cluster_id, (unsigned long long)s->config.cluster_id);
		else if (!transport_has_peer(s->transport, hello->peer_id))
			snprintf(reason, sizeof(reason), "unknown peer id %llu", (unsigned long long)hello->peer_id);
		else
			reason[0] = '\0';
		struct client *cl = client_of(c);
		if (reason[0] || !cl) {
			refuse(c, env->request_id, GROVE_EAUTH, reason[0] ? reason : "server out of memory");
			return;
		}
		cl->authenticated = true;
		cl->peer_id = hello->peer_id;
		s->peer_conns++;
		loop_conn_authenticated(c, true);
		return;
	}
	if (!grove_token_equal(s->config.token, hello->token)) {
		refuse(c, env->request_id, GROVE_EAUTH, "wrong client token");
		return;
	}
	client_of(c)->authenticated = true;
	loop_conn_authenticated(c, false);
	Grove__HelloReply hr = GROVE__HELLO_REPLY__INIT;
	hr.server_id = s->config.id;
	hr.server_version = GROVE_VERSION;
	Grove__Envelope reply = GROVE__ENVELOPE__INIT;
	reply.request_id = env->request_id;
	reply.body_case = GROVE__ENVELOPE__BODY_HELLO_REPLY;
	reply.hello_reply = &hr;
	send_envelope(c, &reply);
}

/* Raft messages from an authenticated peer, one or a batch. */
static void handle_peer_frame(struct server *s, struct loop_conn *c, uint64_t peer, const struct wire_envelope_view *v)
{
	Grove__RaftMessage **msgs = NULL;
	size_t n = 0;
	int err;
	Grove__RaftBatch *batch = NULL;
	Grove__RaftMessage *one = NULL;
	if (v->body == GROVE__ENVELOPE__BODY_RAFT_BATCH && (batch = grove__raft_batch__unpack(NULL, v->body_len, v->body_data))) {
		/* A clock too far ahead: the frame is dropped whole, and it does not even count as a sign of life.
		 * A batch without a stamp comes from a server from before stamps. */
		struct hlc_ts stamp = {batch->hlc_wall, batch->hlc_logical};
		if (stamp.wall && server_clock_receive(&s->clock, peer, stamp) != GROVE_OK) {
			grove__raft_batch__free_unpacked(batch, NULL);
			return;
		}
		msgs = batch->messages;
		n = batch->n_messages;
	} else if (v->body == GROVE__ENVELOPE__BODY_RAFT && (one = grove__raft_message__unpack(NULL, v->body_len, v->body_data))) {
		msgs = &one;
		n = 1;
	} else {
		refuse(c, v->request_id, GROVE_EPROTO, "a peer sent something other than raft messages");
		return;
	}
	host_peer_heard(s->host, peer);
	for (size_t i = 0; i < n; i++)
		if ((err = host_step(s->host, peer, msgs[i])) != GROVE_OK && err != GROVE_ENOTFOUND)
			log_line("%s: malformed raft message (type %u, group %llu) refused", loop_conn_peer(c), msgs[i]->type,
				 (unsigned long long)msgs[i]->group);
	for (size_t i = 0; batch && i < batch->n_proposals; i++)
		host_forwarded(s->host, peer, batch->proposals[i]->group, batch->proposals[i]->data.data,
			       batch->proposals[i]->data.len);
	if (batch)
		grove__raft_batch__free_unpacked(batch, NULL);
	if (one)
		grove__raft_message__free_unpacked(one, NULL);
}

static void handle_cluster(struct server *s, struct loop_conn *c, const Grove__Envelope *req)
{
	const Grove__ClusterRequest *rq = req->cluster;
	int op = 0;
	const char *what = "transfer leadership to";
	switch (rq->op) {
	case GROVE__CLUSTER_REQUEST__OP__ADD_LEARNER:
		op = RAFT_CONF_ADD_LEARNER, what = "add learner";
		break;
	case GROVE__CLUSTER_REQUEST__OP__PROMOTE:
		op = RAFT_CONF_PROMOTE, what = "promote";
		break;
	case GROVE__CLUSTER_REQUEST__OP__REMOVE:
		op = RAFT_CONF_REMOVE, what = "remove";
		break;
	default:
		break;
	}
	/* A learner's peers dial its address as given: a host name or a missing port would never connect. */
	bool bad_address = op == RAFT_CONF_ADD_LEARNER && !loop_address_valid(rq->address);
	/* Made to the world's group; every other group follows it (host.h). */
	int err = bad_address ? GROVE_EINVAL : host_admin(s->host, HOST_WORLD_GROUP, op, rq->node, rq->address);
	if (err == GROVE_ENOTLEADER) {
		send_not_leader(s, c, req->request_id, err, HOST_WORLD_GROUP);
		return;
	}
	Grove__ClusterReply cr = GROVE__CLUSTER_REPLY__INIT;
	char message[256];
	if (bad_address)
		snprintf(message, sizeof(message), "cannot %s %llu: \"%.40s\" is not IPv4-ADDRESS:PORT (the address "
			 "its peers reach it at, e.g. 127.0.0.1:7404)", what, (unsigned long long)rq->node, rq->address);
	else if (err)
		snprintf(message, sizeof(message), "cannot %s %llu: %s", what, (unsigned long long)rq->node,
			 err == GROVE_EUNAVAILABLE ? "another change is still pending" : grove_strerror(err));
	else if (op && host_sharded(s->host))
		snprintf(message, sizeof(message), "%s %llu: proposed; every shard's group follows", what,
			 (unsigned long long)rq->node);
	else
		snprintf(message, sizeof(message), "%s %llu: proposed", what, (unsigned long long)rq->node);
	cr.code = (uint32_t)err;
	cr.message = message;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = req->request_id;
	env.body_case = GROVE__ENVELOPE__BODY_CLUSTER_REPLY;
	env.cluster_reply = &cr;
	send_envelope(c, &env);
}

/* Answer a write with @p code and @p message without proposing it. */
static void write_refused(struct loop_conn *c, uint64_t request_id, int code, const char *message)
{
	Grove__WriteReply wr = GROVE__WRITE_REPLY__INIT;
	wr.code = (uint32_t)code;
	wr.message = (char *)message;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = request_id;
	env.body_case = GROVE__ENVELOPE__BODY_WRITE_REPLY;
	env.write_reply = &wr;
	send_envelope(c, &env);
}

/*
 * A write that meets a shard held by a transaction waits here (until @p deadline_ms, 0: from now), and is
 * routed and proposed again once no shard is held, instead of being refused at apply and retried.
 */
static void wait_for_shards(struct server *s, struct loop_conn *c, const struct wire_envelope_view *v,
			    const struct host_ticket *t, uint64_t deadline_ms)
{
	if (deadline_ms && grove_monotonic_ms() >= deadline_ms) {
		write_refused(c, v->request_id, GROVE_EINTENT, "cross-shard transactions in flight still hold what this "
			      "write needs (a shard, or this member's room for one more); retry");
		return;
	}
	if (park(s, &s->parked_writes, &s->n_parked_writes, &s->cap_parked_writes, t, v->body_data, v->body_len,
		 deadline_ms) != GROVE_OK)
		write_refused(c, v->request_id, GROVE_EINTENT, "cross-shard transactions in flight hold what this write "
			      "needs, and too many requests wait for them already; retry");
	else if (!deadline_ms)
		s->writes_waited++; /* parked for the first time, not parked again */
}

static const struct tree *plan_group_tree(void *ctx, uint64_t group)
{
	struct server *s = ctx;
	return host_tree(s->host, group);
}

/* The plan of write @p wr across shards, from everything applied here (committed to LMDB or not: no fsync per write). */
static int plan_across_shards(struct server *s, const Grove__WriteRequest *wr, struct txn_plan *plan, char *why,
			      size_t why_cap)
{
	struct store_txn *txn = host_applied_txn(s->host);
	struct tree_view view = {0};
	int err = txn ? host_view(s->host, &view) : GROVE_ESTORAGE;
	if (!err) {
		struct txn_plan_world w = {.map = host_shard_map(s->host), .txn = txn, .view = &view,
					   .group_tree = plan_group_tree, .ctx = s};
		err = txn_plan_build(wr, &w, plan, why, why_cap);
	}
	tree_view_free(&view);
	return err;
}

/* A write to check against the parts of transactions coordinated here (held_for_writes()). */
struct write_check {
	struct host *host;
	uint64_t group;
	const uint8_t *request;
	size_t len;
};

static bool write_meets_part(void *ctx, const uint8_t *part, size_t len)
{
	const struct write_check *w = ctx;
	return host_write_meets(w->host, w->group, part, len, w->request, w->len);
}

static bool parts_meet(void *ctx, const uint8_t *part, size_t len)
{
	const struct write_check *w = ctx;
	return host_parts_meet(w->host, w->group, part, len, w->request, w->len);
}

static bool resolution_sent(void *ctx, uint64_t txn_id)
{
	return xshard_resolution_sent(ctx, txn_id);
}

/* Whether a transaction holding @p group (as applied here) has resolutions that did not go out from here yet. */
static bool holder_unresolved(struct server *s, uint64_t group)
{
	struct txn_meta held[TREE_SM_HOLDERS_MAX];
	size_t n = host_holders(s->host, group, held, TREE_SM_HOLDERS_MAX);
	for (size_t k = 0; k < n; k++)
		if (!xshard_resolution_sent(s->xshard, held[k].id))
			return true;
	return false;
}

/*
 * Whether write @p request to @p group must wait for a transaction: one coordinated here is writing to it
 * (its intent may not be applied here yet) and the write meets its part, or one holds it and the write meets
 * its part (host_write_meets(), host_write_waits()), unless every one that holds it was coordinated here and
 * its resolutions went out already. A write that commutes with a part is applied beside it, before or after
 * its intent: each is checked against the other at apply time. Behind those, a write proposed now is applied
 * after the resolution, in log order; the apply refuses it (GROVE_EINTENT) in the rare case it is not (the
 * group's leader changed in between).
 */
static bool held_for_writes(struct server *s, uint64_t group, const uint8_t *request, size_t len)
{
	struct write_check w = {s->host, group, request, len};
	if (xshard_any_part_to(s->xshard, group, write_meets_part, &w))
		return true;
	if (!holder_unresolved(s, group))
		return false;
	xshard_release(s->xshard); /* a resolution held back goes now, ahead of this write */
	return holder_unresolved(s, group) && host_write_waits(s->host, group, request, len);
}

/*
 * Whether the part @p part of a transaction to begin must wait before its intent is sent to @p group: a
 * transaction coordinated here is writing a part there that it does not commute with, or one holds the group
 * with such a part (host_part_waits(): its own intent would be refused as a conflict, and wait), unless it
 * @p waited_enough for those (PARKED_TXN_PATIENCE_MS). A part planned
 * without reading the trees does not wait for one whose resolutions went out from here: its intent is applied
 * after them, in log order. One planned from the trees (@p reads_tree: a subtree carried, a node located)
 * waits until such a part is applied, since what the plan read may not be what the part leaves. Parts that
 * commute hold a shard at once (tree_sm_txn_key()).
 */
static bool part_waits(struct server *s, uint64_t group, const struct txn_plan_part *part, bool reads_tree,
		       bool waited_enough)
{
	struct write_check w = {s->host, group, part->request, part->request_len};
	bool (*passes)(void *, uint64_t) = reads_tree ? NULL : resolution_sent;
	if (xshard_any_part_to(s->xshard, group, parts_meet, &w))
		return true;
	if (waited_enough || !host_part_waits(s->host, group, part->request, part->request_len, passes, s->xshard))
		return false;
	xshard_release(s->xshard); /* a resolution held back goes now, ahead of this part */
	return host_part_waits(s->host, group, part->request, part->request_len, passes, s->xshard);
}

/* Whether a transaction's part not applied yet holds @p group; what was held back goes, since this waits for it. */
static bool held_for_reads(struct server *s, uint64_t group)
{
	if (!host_held(s->host, group, NULL))
		return false;
	xshard_release(s->xshard);
	return true;
}

/*
 * Whether this member applied every entry it knows committed in the shards it leads. A transaction
 * acknowledged by another member (its coordinator, which answers once its own member applied every intent)
 * may have an intent that this one, though the leader of its shard, has committed and not applied yet: a
 * plan that fails here may miss what that part brings.
 */
static bool applied_all_committed(struct server *s)
{
	const struct shard_map *map = host_shard_map(s->host);
	for (size_t i = 0; i < map->n; i++) {
		struct host_status hs;
		if (host_leads(s->host, map->entries[i].group) &&
		    host_status(s->host, map->entries[i].group, &hs) == GROVE_OK && hs.group.applied < hs.group.commit)
			return false;
	}
	return true;
}

/*
 * Whether a plan (or its failure, @p err) must wait for a transaction's part that is not applied yet: a
 * plan of several parts (a transaction) while one of its parts meets another transaction's there
 * (part_waits()); a plan of one shard that read the trees while that shard is held (the part is not in that
 * tree yet) or written to by a transaction coordinated here, one of paths alone only while held_for_writes()
 * says so; a failed one while any shard is held, or an entry committed here is not applied yet (what it
 * missed may be a part: a node it creates or moves in).
 * Shards the plan does not touch may stay held: a transaction elsewhere in the world does not hold this one
 * back. A transaction that @p waited_enough no longer waits for those coordinated elsewhere (part_waits()).
 */
static bool plan_meets_intent(struct server *s, int err, const struct txn_plan *plan, bool waited_enough)
{
	if (err) {
		bool behind = !applied_all_committed(s);
		s->parked_for_apply |= behind; /* looked at again once this member applied what it led to commit */
		return behind || any_shard_held(s);
	}
	for (size_t i = 0; i < plan->n_parts; i++) {
		uint64_t group = plan->parts[i].group;
		const struct txn_plan_part *part = &plan->parts[i];
		if (plan->n_parts > 1 ? part_waits(s, group, part, plan->reads_tree, waited_enough)
		    : plan->reads_tree ? held_for_reads(s, group) || xshard_writing_to(s->xshard, group)
				       : held_for_writes(s, group, part->request, part->request_len))
			return true;
	}
	return false;
}

static void dispatch_parked_writes(struct server *s);

/* Begin the transaction of a plan of several parts, with the write's submit @p key; xshard_done() answers it. */
static int begin_across_shards(struct server *s, const struct txn_plan *plan, const struct host_ticket *t,
			       const char *key)
{
	struct xshard_part *parts = calloc(plan->n_parts, sizeof(*parts));
	if (!parts)
		return GROVE_ENOMEM;
	for (size_t i = 0; i < plan->n_parts; i++)
		parts[i] = (struct xshard_part){plan->parts[i].group, plan->parts[i].request, plan->parts[i].request_len};
	struct xshard_ops ops = {plan->op_part, plan->op_index, plan->n_ops};
	int err = xshard_begin(s->xshard, t, key, parts, plan->n_parts, &ops, grove_realtime_ns());
	free(parts);
	return err;
}

/* What the first op that names a node names (a batch may begin with resources, which name none); NULL: none. */
static const Grove__NodeRef *first_named(const Grove__WriteRequest *wr)
{
	for (size_t i = 0; i < wr->n_ops; i++) {
		const Grove__NodeRef *node = wr->ops[i]->node;
		if (node && ((node->path && node->path[0]) || node->id > 0))
			return node;
	}
	return NULL;
}

/*
 * The fast path of a keyed write across shards: the index at which its first op's shard (the anchor of its
 * first attempt, or the shard a split gave the anchor's keys) applied its key, as this member applied it; 0
 * if not seen. A hint only, read from the same applied state the plan reads: a first attempt whose effects
 * make the batch unplannable now (a node it moved away) is answered as applied instead of refused. What
 * decides is the anchor's apply (tree_sm.h): a key not seen here is checked there.
 */
static uint64_t key_applied_before(struct server *s, const Grove__WriteRequest *wr)
{
	const Grove__NodeRef *first = first_named(wr);
	uint64_t group, index = 0;
	char why[200];
	if (wr->submit_key[0] && first &&
	    host_route(s->host, &(struct host_ref){first->path, first->id}, 1, &group, why, sizeof(why)) == GROVE_OK &&
	    host_key_applied(s->host, group, wr->submit_key, &index) != GROVE_OK)
		index = 0;
	return index;
}

/*
 * A write across shards: planned as one part per shard from what this member applied, and committed as a
 * transaction coordinated here. Answered here if it cannot start, else by the coordinator. A submit key
 * goes with every part, whose groups keep it (tree_sm.h): a retry applies once, wherever it runs.
 */
static void write_across_shards(struct server *s, struct loop_conn *c, const struct wire_envelope_view *v,
				const Grove__WriteRequest *wr, const struct host_ticket *t, uint64_t deadline_ms)
{
	/*
	 * Coordinated by the leader of the first op's shard, whose state is the latest there is: what a move
	 * across shards carries is read from it (a follower's could be behind, and its plan refused). A leader
	 * just elected may not have applied what its predecessor committed: the write is asked again shortly.
	 */
	uint64_t anchor = HOST_WORLD_GROUP;
	char why[600] = "";
	const Grove__NodeRef *first = first_named(wr);
	if (first && host_route(s->host, &(struct host_ref){first->path, first->id}, 1, &anchor, why, sizeof(why)) ==
			     GROVE_OK) {
		if (!host_leads(s->host, anchor)) {
			send_not_leader(s, c, v->request_id, GROVE_ENOTLEADER, anchor);
			return;
		}
		if (!host_leads_current(s->host, anchor)) {
			send_error(c, v->request_id, GROVE_EUNAVAILABLE,
				   "no leader is ready yet: the shard's new leader is applying its log; retry shortly", "");
			return;
		}
	}
	/*
	 * Writes that wait here came first: they go (or wait again) before this one, which would otherwise begin
	 * ahead of them whenever it finds the shards free, as a client whose last transaction was just answered
	 * does each time.
	 */
	if (!deadline_ms && s->n_parked_writes) {
		s->txn_applied_since = true;
		dispatch_parked_writes(s);
	}
	uint64_t applied_at = key_applied_before(s, wr);
	if (applied_at) {
		loop_conn_pending(c); /* write_done() answers it, as it answers a duplicate found at apply */
		write_done(s, t, &(struct host_write_done){.index = applied_at, .message = ""});
		return;
	}
	struct txn_plan plan = {0};
	int err = plan_across_shards(s, wr, &plan, why, sizeof(why));
	/* A parked write's deadline is PARKED_READ_MS after it was first parked (wait_for_shards()). */
	bool waited_enough = deadline_ms && grove_monotonic_ms() + PARKED_READ_MS >= deadline_ms + PARKED_TXN_PATIENCE_MS;
	if (plan_meets_intent(s, err, &plan, waited_enough) || (!err && plan.n_parts > 1 && xshard_full(s->xshard))) {
		wait_for_shards(s, c, v, t, deadline_ms);
	} else if (!err && plan.n_parts == 1) {
		err = host_propose(s->host, plan.parts[0].group, t, TREE_CMD_WRITE, v->body_data, v->body_len);
		handed_over(s, c, v->request_id, err, plan.parts[0].group);
	} else if (!err) {
		err = begin_across_shards(s, &plan, t, wr->submit_key);
		if (!err)
			loop_conn_pending(c);
		else
			write_refused(c, v->request_id, err, grove_strerror(err));
	} else {
		write_refused(c, v->request_id, err, why[0] ? why : grove_strerror(err));
	}
	txn_plan_free(&plan);
}

/*
 * A Godot client's submit whose batch spans shards (follow.h submit_across): the same transaction as a
 * write's. Refused while a transaction coordinated here writes a part it meets, or a shard it needs is held
 * in a way that makes its plan wait, as a submit to a held shard is at apply: the client sends it again with
 * its key. It does not wait for parts coordinated elsewhere (nothing parks a submit): it begins, and waits
 * for them in the shards with its age (tree_sm.h, reservations), so that another member's stream of
 * transactions cannot refuse it each time it is sent.
 */
static int submit_across_shards(void *ctx, const struct host_ticket *t, const char *key, const uint8_t *request,
				size_t len, uint64_t *applied_at, char *why, size_t why_cap)
{
	struct server *s = ctx;
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, len, request);
	if (!wr)
		return GROVE_EPROTO;
	struct txn_plan plan = {0};
	*applied_at = key_applied_before(s, wr);
	int err = *applied_at ? GROVE_OK : plan_across_shards(s, wr, &plan, why, why_cap);
	if (!*applied_at && plan_meets_intent(s, err, &plan, true)) {
		snprintf(why, why_cap, "a cross-shard transaction holds a shard this batch needs; retry with the same key");
		err = GROVE_EINTENT;
	} else if (!err && plan.n_parts > 1 && xshard_full(s->xshard)) {
		snprintf(why, why_cap, "this member coordinates as many cross-shard transactions as it may; retry with the "
			 "same key");
		err = GROVE_EINTENT;
	} else if (!err && plan.n_parts == 1)
		err = host_submit(s->host, plan.parts[0].group, t, key, request, len);
	else if (!err && plan.n_parts > 1)
		err = begin_across_shards(s, &plan, t, key);
	txn_plan_free(&plan);
	grove__write_request__free_unpacked(wr, NULL);
	return err;
}

/*
 * The group a write goes to: the shard of the nodes it names. Without shards that is the world's, and the
 * request is not even decoded here; with them it is decoded once more, for its paths and ids. A write
 * across shards is taken here (true): refused, or begun as a transaction.
 */
static bool route_write(struct server *s, struct loop_conn *c, const struct wire_envelope_view *v,
			const struct host_ticket *t, uint64_t deadline_ms, uint64_t *group)
{
	*group = HOST_WORLD_GROUP;
	if (!host_sharded(s->host))
		return false;
	Grove__WriteRequest *wr = grove__write_request__unpack(NULL, v->body_len, v->body_data);
	if (!wr)
		return false; /* refused at apply, like every member refuses it */
	struct host_ref *refs = calloc(2 * wr->n_ops + 1, sizeof(*refs));
	size_t n = 0;
	bool deletes = false;
	for (size_t i = 0; refs && i < wr->n_ops; i++) {
		const Grove__NodeRef *named[2] = {wr->ops[i]->node, wr->ops[i]->target};
		for (size_t k = 0; k < 2; k++)
			if (named[k] && ((named[k]->path && named[k]->path[0]) || named[k]->id > 0))
				refs[n++] = (struct host_ref){named[k]->path, named[k]->id};
		deletes |= wr->ops[i]->kind == TREE_OP_DELETE;
	}
	char why[600];
	int err = refs ? host_route(s->host, refs, n, group, why, sizeof(why)) : GROVE_ENOMEM;
	free(refs);
	if (!err && deletes && host_connected_across(s->host, *group))
		err = GROVE_ECROSSSHARD; /* planned: what it deletes may be connected to another shard's nodes */
	if (err == GROVE_ECROSSSHARD)
		write_across_shards(s, c, v, wr, t, deadline_ms);
	else if (err)
		write_refused(c, v->request_id, err, grove_strerror(err));
	grove__write_request__free_unpacked(wr, NULL);
	return err != GROVE_OK;
}

/* ---- shards ---- */

/* One shard as this member sees it. */
/*
 * What this member knows of group @p group's replication, into @p info: members (@p members has room for
 * RAFT_MAX_MEMBERS ids: the group's voters and learners, which @p info borrows), leader, term, indexes, lag.
 * False if the group has not started here.
 */
static bool describe_group(struct server *s, uint64_t group, Grove__ShardInfo *info, uint64_t *members)
{
	struct host_status hs;
	if (host_status(s->host, group, &hs) != GROVE_OK)
		return false;
	info->members = members;
	info->n_members = 0;
	for (size_t i = 0; i < hs.n_members; i++)
		if (hs.members[i].voter)
			members[info->n_members++] = hs.members[i].id;
	info->learners = members + info->n_members;
	for (size_t i = 0; i < hs.n_members; i++)
		if (!hs.members[i].voter)
			info->learners[info->n_learners++] = hs.members[i].id;
	info->leader_id = hs.group.leader;
	info->leader_address = (char *)(hs.group.role == RAFT_LEADER ? s->config.listen
								      : host_leader_address(s->host, group));
	info->term = hs.group.term;
	info->commit_index = hs.group.commit;
	info->applied_index = hs.group.applied;
	info->quiesced = hs.quiesced;
	if (hs.group.role == RAFT_LEADER) {
		for (size_t i = 0; i < hs.n_members; i++)
			if (hs.members[i].id != s->config.id && hs.group.last - hs.members[i].match > info->lag)
				info->lag = hs.group.last - hs.members[i].match;
	} else {
		info->lag = hs.group.commit - hs.group.applied;
	}
	return true;
}

/* Fill @p info with shard @p e as this member sees it (@p members as for describe_group()). */
static void describe_shard(struct server *s, struct store_txn *txn, const struct shard_entry *e, Grove__ShardInfo *info,
			   uint64_t *members)
{
	grove__shard_info__init(info);
	info->path = e->path;
	info->group = e->group;
	info->state = (char *)(e->state == SHARD_ACTIVE ? "active" : "splitting");
	info->source = e->source;
	info->members = (uint64_t *)e->members;
	info->n_members = e->n_members;
	const struct tree *t = host_tree(s->host, e->group);
	if (!t || !describe_group(s, e->group, info, members))
		return; /* not started here yet: the members the split gave it */
	struct txn_meta held;
	if (host_held(s->host, e->group, &held))
		info->held_by = held.id;
	for (uint64_t after = 0; info->resolved_early < RESOLVED_EARLY_SHOWN &&
				 host_txn_early(s->host, e->group, after, &held) == GROVE_OK;
	     after = held.id)
		info->resolved_early++;
	tree_node_count(t, txn, &info->nodes);
}

static void shard_list(struct server *s, struct loop_conn *c, uint64_t request_id)
{
	const struct shard_map *map = host_shard_map(s->host);
	Grove__ShardReply sr = GROVE__SHARD_REPLY__INIT;
	sr.server_id = s->config.id;
	struct store_txn *txn;
	Grove__ShardInfo *items = calloc(map->n ? map->n : 1, sizeof(*items));
	Grove__ShardInfo **ptrs = calloc(map->n ? map->n : 1, sizeof(*ptrs));
	uint64_t *members = calloc((map->n ? map->n : 1) * RAFT_MAX_MEMBERS, sizeof(*members));
	if (!items || !ptrs || !members || host_commit_applied(s->host) != GROVE_OK ||
	    store_txn_begin(host_store(s->host), NULL, false, &txn) != GROVE_OK) {
		sr.code = GROVE_ESTORAGE;
		sr.message = "cannot read the store";
		shard_reply(c, request_id, &sr);
		free(items);
		free(ptrs);
		free(members);
		return;
	}
	/* The world's shard first (its path "/root" sorts first), then by path. */
	for (size_t i = 0; i < map->n; i++) {
		describe_shard(s, txn, &map->entries[i], &items[i], members + i * RAFT_MAX_MEMBERS);
		ptrs[i] = &items[i];
	}
	sr.shards = ptrs;
	sr.n_shards = map->n;
	Grove__ShardInfo meta = GROVE__SHARD_INFO__INIT;
	uint64_t meta_members[RAFT_MAX_MEMBERS];
	meta.group = HOST_META_GROUP;
	meta.path = (char *)"";
	meta.state = (char *)"active";
	if (describe_group(s, HOST_META_GROUP, &meta, meta_members))
		sr.meta = &meta;
	sr.message = "";
	shard_reply(c, request_id, &sr);
	store_txn_abort(txn);
	free(items);
	free(ptrs);
	free(members);
}

/* Hand the leadership of the shard whose root is rq->path to member rq->node: answered by that shard's leader. */
static void shard_transfer_leader(struct server *s, struct loop_conn *c, uint64_t request_id,
				  const Grove__ShardRequest *rq)
{
	Grove__ShardReply sr = GROVE__SHARD_REPLY__INIT;
	char message[TREE_TEXT_MAX + 200];
	const struct shard_entry *e = shard_map_lookup(host_shard_map(s->host), rq->path);
	int err = GROVE_EINVAL;
	if (!e)
		snprintf(message, sizeof(message), "%s: no shard holds that path", rq->path);
	else if (strcmp(e->path, rq->path) != 0)
		snprintf(message, sizeof(message), "%s is not a shard's root: it is in shard %llu, whose root is %s",
			 rq->path, (unsigned long long)e->group, e->path);
	else if ((err = host_admin(s->host, e->group, 0, rq->node, "")) == GROVE_ENOTLEADER) {
		send_not_leader(s, c, request_id, err, e->group);
		return;
	} else if (err)
		snprintf(message, sizeof(message), "cannot hand shard %llu (%s) to member %llu: %s",
			 (unsigned long long)e->group, e->path, (unsigned long long)rq->node,
			 err == GROVE_EINVAL ? "it leads it already, or is not a voter of it" : grove_strerror(err));
	else
		snprintf(message, sizeof(message), "shard %llu (%s): leadership handed to member %llu",
			 (unsigned long long)e->group, e->path, (unsigned long long)rq->node);
	sr.code = (uint32_t)err;
	sr.message = message;
	sr.group = e ? e->group : 0;
	shard_reply(c, request_id, &sr);
}

static void handle_shard(struct server *s, struct loop_conn *c, const Grove__Envelope *req, const struct host_ticket *t)
{
	const Grove__ShardRequest *rq = req->shard;
	if (rq->op == GROVE__SHARD_REQUEST__OP__LIST) {
		shard_list(s, c, req->request_id);
		return;
	}
	if (rq->op == GROVE__SHARD_REQUEST__OP__TRANSFER_LEADER) {
		shard_transfer_leader(s, c, req->request_id, rq);
		return;
	}
	char why[256] = "";
	int err = host_shard_split(s->host, t, rq->path, why, sizeof(why));
	if (err == GROVE_ENOTLEADER || err == GROVE_EUNAVAILABLE) {
		send_not_leader(s, c, req->request_id, err, HOST_META_GROUP);
		return;
	}
	if (!err) {
		loop_conn_pending(c);
		return;
	}
	Grove__ShardReply sr = GROVE__SHARD_REPLY__INIT;
	sr.code = (uint32_t)err;
	sr.message = why[0] ? why : (char *)grove_strerror(err);
	shard_reply(c, req->request_id, &sr);
}

/* ---- backups ---- */

/* One backup: its read begun in the loop, built and written beside it, with the list it leaves. */
struct backup_job {
	struct server *s;
	struct host_snapshot_read read;
	uint64_t unix_ms;
	uint64_t began_ms;             /* monotonic, for the log */
	struct backup_list list;       /* the kept backups when it began; run() adds the new one and prunes */
	struct backup_file written;
	int err;
	char why[400];
};

static void backup_run(void *arg)
{
	struct backup_job *j = arg;
	const struct backups *b = &j->s->backups;
	struct snapshot snap;
	j->err = host_snapshot_build(&j->read, &snap);
	if (j->err) {
		snprintf(j->why, sizeof(j->why), "cannot take the snapshot: %s", grove_strerror(j->err));
		return;
	}
	j->err = backup_write(b->dir, &snap, j->unix_ms, &j->written, j->why, sizeof(j->why));
	snapshot_free(&snap);
	if (!j->err)
		j->err = backup_list_add(&j->list, &j->written);
	if (!j->err && backup_prune(b->dir, &j->list, b->keep) != GROVE_OK)
		log_line("backups: an old backup could not be deleted; more than %zu are kept", b->keep);
}

static void backup_done(void *arg, bool cancelled)
{
	struct backup_job *j = arg;
	struct backups *b = &j->s->backups;
	host_snapshot_abandon(&j->read);
	if (!cancelled && j->err) {
		log_line("backups: no backup this time: %s", j->why[0] ? j->why : grove_strerror(j->err));
	} else if (!cancelled) {
		log_line("backups: wrote %s/%s (%" PRIu64 " bytes, applied index %" PRIu64 ") in %" PRIu64 " ms", b->dir,
			 j->written.name, j->written.size, j->written.applied_index, grove_monotonic_ms() - j->began_ms);
		struct backup_list old = b->list;
		b->list = j->list;
		j->list = old;
		b->last_index = j->written.applied_index;
		b->changes_at_last = b->changes_at_read;
	}
	backup_list_free(&j->list);
	b->running = false;
	free(j);
}

/* Write the backup whose snapshot @p rd began (taken over), beside the loop. */
static void backup_start(struct server *s, struct host_snapshot_read *rd)
{
	struct backups *b = &s->backups;
	struct backup_job *j = calloc(1, sizeof(*j));
	int err = j ? backup_list_copy(&j->list, &b->list) : GROVE_ENOMEM;
	if (!err) {
		j->s = s;
		j->unix_ms = grove_realtime_ns() / 1000000u;
		j->began_ms = b->began_ms;
		j->read = *rd;
		memset(rd, 0, sizeof(*rd));
		struct offload_job job = {.job = j, .run = backup_run, .done = backup_done};
		err = offload_submit(b->offload, &job);
	}
	if (err) {
		log_line("backups: no backup this time: %s", grove_strerror(err));
		host_snapshot_abandon(rd);
		if (j) {
			host_snapshot_abandon(&j->read);
			backup_list_free(&j->list);
		}
		free(j);
		b->running = false;
	}
}

/* The cut a backup of a world with shards asked for (cut.h) was taken, or failed. */
static void backup_cut_taken(struct server *s, int err, const char *why, struct host_snapshot_read *rd)
{
	if (err) {
		log_line("backups: no backup this time: %s", why);
		s->backups.running = false;
		return;
	}
	s->backups.changes_at_read = host_changes_applied(s->host);
	backup_start(s, rd);
}

/* Start a backup if one is due, none is out, and the world changed since the last one. */
static void backups_tick(struct server *s)
{
	struct backups *b = &s->backups;
	uint64_t now = grove_monotonic_ms();
	if (!b->every_ms || b->running || now < b->due_ms)
		return;
	b->due_ms = now + b->every_ms;
	if (host_sharded(s->host)) {
		/* The shards' indexes move with every transaction's bookkeeping: count changes of the tree instead. */
		if (host_changes_applied(s->host) == b->changes_at_last)
			return;
		b->running = true;
		b->began_ms = now;
		cut_begin(s->cuts, &(struct cut_for){0});
		return;
	}
	if (host_applied(s->host, HOST_WORLD_GROUP) <= b->last_index)
		return;
	struct host_snapshot_read rd;
	int err = host_snapshot_begin(s->host, HOST_WORLD_GROUP, &rd);
	if (err) {
		log_line("backups: no backup this time: %s", grove_strerror(err));
		return;
	}
	b->running = true;
	b->began_ms = now;
	b->changes_at_read = UINT64_MAX;
	backup_start(s, &rd);
}

/* A cut was taken for a client's save or for a backup. */
static void cut_taken(void *ctx, const struct cut_for *who, int err, const char *why, struct host_snapshot_read *rd)
{
	struct server *s = ctx;
	if (who->conn)
		save_cut_taken(s, who, err, why, rd);
	else
		backup_cut_taken(s, err, why, rd);
}

/* Find the kept backups and start the schedule. */
static int backups_open(struct server *s)
{
	struct backups *b = &s->backups;
	/* Absolute, so that `grove snapshot list` names files a person can find from anywhere. */
	char data[PATH_MAX];
	int n = snprintf(b->dir, sizeof(b->dir), "%s/" BACKUP_DIR_NAME,
			 realpath(s->config.data_dir, data) ? data : s->config.data_dir);
	if (n < 0 || (size_t)n >= sizeof(b->dir)) {
		log_line("backups: the data directory's path is too long");
		return GROVE_EINVAL;
	}
	b->every_ms = s->config.snapshot_every_ms;
	b->changes_at_last = UINT64_MAX;
	b->keep = s->config.snapshot_keep ? s->config.snapshot_keep : BACKUP_DEFAULT_KEEP;
	int err = backup_scan(b->dir, &b->list);
	if (err) {
		log_line("backups: cannot read %s: %s", b->dir, grove_strerror(err));
		return err;
	}
	if (b->list.n)
		b->last_index = b->list.files[b->list.n - 1].applied_index;
	if (!b->every_ms)
		return GROVE_OK;
	b->due_ms = grove_monotonic_ms() + b->every_ms;
	log_line("backups: every %" PRIu64 " ms into %s, keeping the newest %zu (%zu there now)", b->every_ms, b->dir,
		 b->keep, b->list.n);
	return offload_create(s->loop, &b->offload);
}

static void snapshot_list_reply(struct server *s, struct loop_conn *c, const Grove__Envelope *req)
{
	const struct backups *b = &s->backups;
	Grove__SnapshotListReply lr = GROVE__SNAPSHOT_LIST_REPLY__INIT;
	Grove__Backup *items = calloc(b->list.n ? b->list.n : 1, sizeof(*items));
	Grove__Backup **ptrs = calloc(b->list.n ? b->list.n : 1, sizeof(*ptrs));
	if (!items || !ptrs) {
		lr.code = GROVE_ENOMEM;
		lr.message = (char *)grove_strerror(GROVE_ENOMEM);
	} else {
		for (size_t i = 0; i < b->list.n; i++) {
			const struct backup_file *f = &b->list.files[i];
			char path[4200];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", b->dir, f->name);
			grove__backup__init(&items[i]);
			items[i].name = (char *)f->name;
			items[i].applied_index = f->applied_index;
			items[i].unix_ms = f->unix_ms;
			items[i].size = f->size;
			/* A file removed or changed since it was verified is no longer vouched for. */
			items[i].verified = stat(path, &st) == 0 && (uint64_t)st.st_size == f->size;
			ptrs[i] = &items[i];
		}
		lr.backups = ptrs;
		lr.n_backups = b->list.n;
	}
	lr.every_ms = b->every_ms;
	lr.keep = (uint32_t)b->keep;
	lr.directory = (char *)b->dir;
	lr.applied_index = host_applied(s->host, HOST_WORLD_GROUP);
	lr.server_id = s->config.id;
	Grove__Envelope env = GROVE__ENVELOPE__INIT;
	env.request_id = req->request_id;
	env.body_case = GROVE__ENVELOPE__BODY_SNAPSHOT_LIST_REPLY;
	env.snapshot_list_reply = &lr;
	send_envelope(c, &env);
	free(items);
	free(ptrs);
}

/* A write: to the leader of its shard, or a transaction across shards; it waits while its shard is held. */
static void dispatch_write(struct server *s, struct loop_conn *c, const struct wire_envelope_view *v,
			   const struct host_ticket *t, uint64_t deadline_ms)
{
	uint64_t group;
	if (route_write(s, c, v, t, deadline_ms, &group))
		return;
	if (host_sharded(s->host) && host_leads(s->host, group) && held_for_writes(s, group, v->body_data, v->body_len)) {
		wait_for_shards(s, c, v, t, deadline_ms);
		return;
	}
	int err = host_propose(s->host, group, t, TREE_CMD_WRITE, v->body_data, v->body_len);
	handed_over(s, c, v->request_id, err, group);
}

/*
 * Route and propose the parked writes once transaction commands were applied (only a resolution frees a
 * shard), each to go if its own shards are free now; answer them at their deadline.
 */
static void dispatch_parked_writes(struct server *s)
{
	bool caught_up = s->parked_for_apply && applied_all_committed(s);
	if (!s->txn_applied_since && !caught_up && grove_monotonic_ms() < s->parked_writes[0].deadline_ms)
		return; /* the oldest waits longest: nothing is due */
	s->txn_applied_since = false;
	s->parked_for_apply = false;
	struct parked_request *writes = s->parked_writes;
	size_t n = s->n_parked_writes;
	s->parked_writes = NULL;
	s->n_parked_writes = s->cap_parked_writes = 0;
	for (size_t i = 0; i < n; i++)
		s->parked_bytes -= writes[i].len; /* taken out: dispatching may park them again */
	for (size_t i = 0; i < n; i++) {
		struct loop_conn *c = loop_conn_find(s->loop, writes[i].ticket.conn);
		struct wire_envelope_view v = {1, writes[i].ticket.request_id, GROVE__ENVELOPE__BODY_WRITE, writes[i].request,
					       writes[i].len};
		if (c)
			dispatch_write(s, c, &v, &writes[i].ticket, writes[i].deadline_ms);
		free(writes[i].request);
	}
	free(writes);
}

/* A request of an authenticated client. A write's bytes go to the log as they came: decoded once, at apply. */
static void handle_request(struct server *s, struct loop_conn *c, const uint8_t *payload, size_t len,
			   const struct wire_envelope_view *v)
{
	struct host_ticket t = {loop_conn_id(c), v->request_id, grove_realtime_ns()};
	int err;
	uint64_t group;
	switch (v->body) {
	case GROVE__ENVELOPE__BODY_WRITE:
		dispatch_write(s, c, v, &t, 0);
		return;
	case GROVE__ENVELOPE__BODY_STATUS:
	case GROVE__ENVELOPE__BODY_READ:
	case GROVE__ENVELOPE__BODY_EXPORT_SCENE:
	case GROVE__ENVELOPE__BODY_SHARD:
	case GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE:
	case GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE:
	case GROVE__ENVELOPE__BODY_SNAPSHOT_LIST:
	case GROVE__ENVELOPE__BODY_CLUSTER:
	case GROVE__ENVELOPE__BODY_SUBSCRIBE:
	case GROVE__ENVELOPE__BODY_SUBSCRIBERS:
		break;
	case GROVE__ENVELOPE__BODY_HELLO:
		send_error(c, v->request_id, GROVE_EPROTO, "already authenticated", "");
		return;
	default:
		send_error(c, v->request_id, GROVE_EPROTO, "unsupported request", "");
		return;
	}
	Grove__Envelope *req = grove__envelope__unpack(NULL, len, payload);
	if (!req) {
		refuse(c, v->request_id, GROVE_EPROTO, "malformed frame (not a grove message)");
		return;
	}
	if (req->body_case == GROVE__ENVELOPE__BODY_EXPORT_SCENE && req->export_scene->offset > 0) {
		export_chunk_reply(s, c, v->request_id, req->export_scene->offset, req->export_scene->max_bytes);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_READ || req->body_case == GROVE__ENVELOPE__BODY_EXPORT_SCENE) {
		/* Linearizable in the shard of the node named: served once a quorum confirms its leader. */
		group = read_group(s, req);
		err = host_read(s->host, group, &t, payload, len);
		handed_over(s, c, v->request_id, err, group);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_STATUS) {
		/* Not linearizable, but it sees what this member applied. */
		host_commit_applied(s->host);
		serve_from_store(s, c, req);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SHARD) {
		handle_shard(s, c, req, &t);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_LIST) {
		snapshot_list_reply(s, c, req);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE && host_sharded(s->host)) {
		restore_reply(c, v->request_id, GROVE_ECROSSSHARD,
			      "restore needs an empty world, and this one has shards: restore into a new cluster", false, 0);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE && req->snapshot_save->offset > 0) {
		snapshot_save_reply(s, c, req);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE && host_sharded(s->host)) {
		/* Every shard at one point: a cut (cut.h), which also holds every write acknowledged before it. */
		loop_conn_pending(c);
		cut_begin(s->cuts, &(struct cut_for){loop_conn_id(c), v->request_id, req->snapshot_save->max_bytes});
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_SAVE) {
		/* A snapshot holds every write acknowledged before it: taken like a read. */
		err = host_read(s->host, HOST_WORLD_GROUP, &t, payload, len);
		handed_over(s, c, v->request_id, err, HOST_WORLD_GROUP);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SNAPSHOT_RESTORE) {
		snapshot_restore(s, c, req, &t);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SUBSCRIBE) {
		follow_subscribe(s->follow, c, req);
	} else if (req->body_case == GROVE__ENVELOPE__BODY_SUBSCRIBERS) {
		follow_subscribers(s->follow, c, req);
	} else {
		handle_cluster(s, c, req);
	}
	grove__envelope__free_unpacked(req, NULL);
}

static void on_frame(void *ctx, struct loop_conn *c, const uint8_t *payload, size_t len)
{
	struct server *s = ctx;
	struct client *cl = client_of(c);
	struct wire_envelope_view v;
	if (!cl) {
		refuse(c, 0, GROVE_ENOMEM, "server out of memory");
		return;
	}
	if (cl->godot) {
		follow_godot_frame(s->follow, c, payload, len);
		return;
	}
	if (!cl->authenticated && !cl->peer_id && follow_godot_hello(s->follow, c, payload, len)) {
		cl->godot = true;
		return;
	}
	if (wire_peek_envelope(payload, len, &v) != GROVE_OK) {
		refuse(c, 0, GROVE_EPROTO, "malformed frame (not a grove message)");
		return;
	}
	if (cl->peer_id) {
		handle_peer_frame(s, c, cl->peer_id, &v);
		return;
	}
	if (cl->authenticated) {
		handle_request(s, c, payload, len, &v);
		return;
	}
	Grove__Envelope *env = v.body == GROVE__ENVELOPE__BODY_HELLO ? grove__envelope__unpack(NULL, len, payload) : NULL;
	if (env)
		handle_hello(s, c, env);
	else
		refuse(c, v.request_id, v.body == GROVE__ENVELOPE__BODY_HELLO ? GROVE_EPROTO : GROVE_EAUTH,
		       v.body == GROVE__ENVELOPE__BODY_HELLO ? "malformed hello" : "first message must be a hello");
	if (env)
		grove__envelope__free_unpacked(env, NULL);
}

static void on_too_large(void *ctx, struct loop_conn *c, const char *reason)
{
	struct server *s = ctx;
	struct client *cl = loop_conn_data(c);
	if (cl && cl->peer_id)
		return; /* a peer's link logs it; Raft sends again */
	if (!s->follow || !follow_godot_error(s->follow, c, GROVE_ETOOBIG, reason))
		send_error(c, 0, GROVE_ETOOBIG, reason, "");
}

static void on_closed(void *ctx, struct loop_conn *c)
{
	struct server *s = ctx;
	if (s->follow)
		follow_closed(s->follow, c);
	struct client *cl = loop_conn_data(c);
	if (!cl)
		return;
	if (cl->peer_id)
		s->peer_conns--;
	snapshot_free(&cl->saving);
	forget_export(s, cl);
	snapshot_receiver_free(&cl->restoring);
	free(cl);
}

/*
 * Persist the clock's bound once the clock comes near it, or @p anyway (the applied state is committed now:
 * the bound moves on in that commit, and rarely needs one of its own). Called before anything stamped this
 * turn leaves the process (frames, log flushes), so that no timestamp above the persisted bound is out when
 * the process dies.
 */
static void persist_clock_bound(struct server *s, bool anyway)
{
	uint64_t bound;
	if (!server_clock_bound_due(&s->clock, &bound) && !anyway)
		return;
	int err = host_save_clock_bound(s->host, bound);
	if (err)
		log_line("clock: cannot persist its bound: %s; a restart may hand out smaller timestamps",
			 grove_strerror(err));
	else
		server_clock_bound_saved(&s->clock, bound);
}

/* Whether @p member has every entry of the group that @p hs describes (its leader's view) committed. */
static bool caught_up(const struct host_status *hs, uint64_t member)
{
	for (size_t i = 0; i < hs->n_members; i++)
		if (hs->members[i].id == member)
			return hs->members[i].match >= hs->group.commit;
	return false;
}

/*
 * Hand one of the groups this member leads to the member that leads the fewest, if this one leads two more
 * (balance.h). Only members heard from lately count (BALANCE_HEARD_MS): a leader proposes nothing while its
 * transfer runs, so a transfer to a member that is down would stop the group for an election timeout. A group a transaction
 * holds or writes to stays where it is until it is done; one whose receiver lags waits for it to catch up.
 */
static void balance_leaders(struct server *s)
{
	uint64_t now_ms = grove_monotonic_ms();
	if (s->config.no_leader_balance || !host_sharded(s->host) || now_ms < s->next_balance_ms)
		return;
	s->next_balance_ms = now_ms + BALANCE_EVERY_MS;
	const struct shard_map *map = host_shard_map(s->host);
	const struct shard_entry *world = shard_map_find_group(map, HOST_WORLD_GROUP);
	struct balance_group *groups = calloc(map->n, sizeof(*groups));
	if (!world || !groups) {
		free(groups);
		return;
	}
	uint64_t live[SHARD_MAX_MEMBERS];
	size_t n_live = 0;
	for (size_t m = 0; m < world->n_members; m++)
		if (host_peer_lately_heard(s->host, world->members[m], BALANCE_HEARD_MS))
			live[n_live++] = world->members[m];
	size_t n = 0;
	for (size_t i = 0; i < map->n; i++) {
		const struct shard_entry *e = &map->entries[i];
		struct host_status hs;
		if (e->state != SHARD_ACTIVE || host_status(s->host, e->group, &hs) != GROVE_OK)
			continue;
		groups[n++] = (struct balance_group){e->group, hs.group.leader, e->members, e->n_members,
						     !host_held(s->host, e->group, NULL) &&
							     !xshard_writing_to(s->xshard, e->group)};
	}
	uint64_t group, to;
	struct host_status hs;
	if (balance_pick(s->config.id, live, n_live, groups, n, &group, &to) &&
	    host_status(s->host, group, &hs) == GROVE_OK && caught_up(&hs, to) &&
	    host_admin(s->host, group, 0, to, "") == GROVE_OK) {
		const struct shard_entry *e = shard_map_find_group(map, group);
		log_line("leaders: handing shard %llu (%s) to member %llu, which leads fewer", (unsigned long long)group,
			 e ? e->path : "?", (unsigned long long)to);
		s->next_balance_ms = now_ms + BALANCE_SETTLE_MS;
		s->leaders_handed++;
	}
	free(groups);
}

static void on_tick(void *ctx)
{
	struct server *s = ctx;
	persist_clock_bound(s, host_commit_due(s->host));
	host_tick(s->host);
	transport_keepalive(s->transport);
	follow_tick(s->follow);
	xshard_tick(s->xshard, grove_realtime_ns());
	recover_abandoned(s);
	collect_txn_garbage(s);
	balance_leaders(s);
	backups_tick(s);
}

static void on_turn(void *ctx)
{
	struct server *s = ctx;
	persist_clock_bound(s, false);
	xshard_release_due(s->xshard, grove_realtime_ns());
	int err = host_process(s->host);
	if (err && !s->failed) {
		s->failed = err;
		log_line("replication failed: %s; stopping to protect the data", grove_strerror(err));
		loop_stop(s->loop);
	}
	if (cut_pending(s->cuts))
		cut_turn(s->cuts);
	if (s->n_parked)
		serve_parked(s);
	if (s->n_parked_writes)
		dispatch_parked_writes(s);
	transport_flush(s->transport);
	/* After the flush: replication never waits for subscribers' catch-ups. */
	if (s->follow)
		follow_turn(s->follow);
	if (s->httpd)
		httpd_sweep(s->httpd, grove_monotonic_ms());
	uint64_t now = grove_realtime_ns(), due = xshard_held_until(s->xshard);
	if (due)
		loop_wake_after(s->loop, due > now ? due - now : 0);
}

static void on_log_event(void *ctx, uint32_t events)
{
	(void)events;
	struct server *s = ctx;
	host_log_event(s->host);
}

/* ---- metrics and health over HTTP ---- */

/* Render every metric: the counters and histograms, and the states gathered now. */
static void serve_metrics(struct server *s, struct httpd_response *r)
{
	size_t n = host_group_ids(s->host, NULL, 0);
	uint64_t *ids = calloc(n ? n : 1, sizeof(*ids));
	struct metrics_group *groups = calloc(n ? n : 1, sizeof(*groups));
	if (!ids || !groups) {
		free(ids);
		free(groups);
		r->body.failed = true;
		return;
	}
	n = host_group_ids(s->host, ids, n);
	struct metrics_gauges g = {.server_id = s->config.id, .groups = groups, .n_groups = n};
	for (size_t i = 0; i < n; i++) {
		struct host_status hs;
		host_status(s->host, ids[i], &hs);
		groups[i] = (struct metrics_group){.group = ids[i], .term = hs.group.term,
						   .leader = hs.group.role == RAFT_LEADER, .leader_id = hs.group.leader,
						   .commit = hs.group.commit, .applied = hs.group.applied};
		g.writes_applied = hs.writes_applied;
		g.log_flushes = hs.log_flushes;
	}
	g.connections = loop_connections(s->loop);
	g.clients = g.connections - s->peer_conns;
	g.queued_clients = loop_queued_total(s->loop);
	g.client_pending_peak = loop_pending_peak(s->loop);
	g.client_pending_pauses = loop_pending_pauses(s->loop);
	g.writes_waited = s->writes_waited;
	g.reads_waited = s->reads_waited;
	g.leaders_handed = s->leaders_handed;
	g.queued_peers = transport_backlog_total(s->transport);
	struct subs_summary subs;
	follow_summarize(s->follow, &subs);
	g.subscribers = subs.subscribers;
	g.subscribers_catching_up = subs.catching_up;
	g.subscriber_lag_max = subs.lag_max;
	g.subscriber_lag_sum = subs.lag_sum;
	metrics_render(&s->metrics, &g, &r->body);
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	free(ids);
	free(groups);
}

static void put_line(struct httpd_response *r, int status, const char *line)
{
	r->status = status;
	grove_buf_put(&r->body, line, strlen(line));
	grove_buf_put(&r->body, "\n", 1);
}

static void http_get(void *ctx, const char *path, struct httpd_response *r)
{
	struct server *s = ctx;
	char why[200];
	if (strcmp(path, "/metrics") == 0) {
		serve_metrics(s, r);
	} else if (strcmp(path, "/healthz") == 0) {
		/* The loop answers, so it runs; a failed store stops the server, but may not have yet. */
		put_line(r, s->failed ? 503 : 200, s->failed ? "the store failed; stopping" : "ok");
	} else if (strcmp(path, "/readyz") == 0) {
		if (host_ready(s->host, HOST_WORLD_GROUP, READY_MAX_LAG, why, sizeof(why)) && !s->failed)
			put_line(r, 200, "ready");
		else
			put_line(r, 503, s->failed ? "the store failed; stopping" : why);
	} else {
		put_line(r, 404, "not found: try /metrics, /healthz or /readyz");
	}
}

/* ---- set-up ---- */

/* The founding members: --peers, or this server alone; NULL-free message on a configuration that cannot work. */
static int founders(const struct server_config *cfg, int port, struct membership *out)
{
	if (!cfg->peers) {
		char self[MEMBER_ADDRESS_MAX + 1];
		const char *colon = strrchr(cfg->listen, ':');
		snprintf(self, sizeof(self), "%.*s:%d", (int)(colon - cfg->listen), cfg->listen, port);
		memset(out, 0, sizeof(*out));
		membership_add(out, cfg->id, self, strlen(self));
		return GROVE_OK;
	}
	if (membership_parse(cfg->peers, out) != GROVE_OK) {
		log_line("cannot read --peers \"%s\": expected ID=HOST:PORT,ID=HOST:PORT,... with distinct ids",
			 cfg->peers);
		return GROVE_EINVAL;
	}
	for (size_t i = 0; i < out->n; i++) {
		if (!loop_address_valid(out->members[i].address)) {
			log_line("--peers: member %llu's address \"%s\" is not IPv4-ADDRESS:PORT (e.g. 127.0.0.1:7402; host "
				 "names are not looked up)", (unsigned long long)out->members[i].id, out->members[i].address);
			return GROVE_EINVAL;
		}
	}
	const struct member *me = membership_find(out, cfg->id);
	if (!me) {
		log_line("--id %llu is not one of --peers (%s): give every member, this one included",
			 (unsigned long long)cfg->id, cfg->peers);
		return GROVE_EINVAL;
	}
	if (!membership_same_endpoint(cfg->listen, me->address)) {
		log_line("--listen %s is not member %llu's address in --peers (%s): peers would never reach this "
			 "server; make them the same",
			 cfg->listen, (unsigned long long)cfg->id, me->address);
		return GROVE_EINVAL;
	}
	return GROVE_OK;
}

/* Start the clock above every timestamp handed out before the restart (the bound persisted in the store). */
static int start_clock(struct server *s)
{
	uint64_t bound = 0;
	int err = host_clock_bound(s->host, &bound);
	if (err) {
		log_line("cannot read the clock's bound: %s", grove_strerror(err));
		return err;
	}
	server_clock_restart_from(&s->clock, bound);
	uint64_t pt = server_clock_physical(&s->clock);
	if (bound > pt)
		log_line("clock: starting %.1f ms ahead of physical time, above every timestamp handed out before the "
			 "restart", (double)(bound - pt) / 1e6);
	if (s->config.test_clock_shift_ms)
		log_line("clock: physical time shifted by %lld ms (GROVE_TEST_CLOCK_OFFSET_MS, tests only)",
			 (long long)s->config.test_clock_shift_ms);
	return GROVE_OK;
}

int server_create(const struct server_config *config, struct server **out)
{
	*out = NULL;
	struct server *s = calloc(1, sizeof(*s));
	if (!s)
		return GROVE_ENOMEM;
	s->config = *config;
	s->start_ns = grove_realtime_ns();
	s->gc_after_ns = (config->txn_gc_after_ms ? config->txn_gc_after_ms : TXN_GC_AFTER_MS) * 1000000;
	server_clock_init(&s->clock, config->max_clock_offset_ms ? config->max_clock_offset_ms
								  : SERVER_CLOCK_DEFAULT_MAX_OFFSET_MS,
			  config->test_clock_shift_ms);
	struct loop_config lc = {.listen = config->listen, .max_frame = config->max_frame,
				 .idle_ms = config->idle_timeout_s ? config->idle_timeout_s * 1000u : 0,
				 .output_max = config->output_max, .output_stall_ms = config->output_stall_s * 1000u,
				 .pending_max = config->max_inflight,
				 .handshake_ms = config->handshake_timeout_s * 1000u};
	struct loop_hooks lh = {.ctx = s, .frame = on_frame, .closed = on_closed, .tick = on_tick, .turn = on_turn,
				.too_large = on_too_large};
	struct transport_config tc = {.self = config->id, .cluster_id = config->cluster_id,
				      .cluster_token = config->cluster_token, .stamp = clock_stamp, .ctx = s};
	struct host_config hc = {.self = config->id, .data_dir = config->data_dir, .join = config->join,
				 .no_sync = config->no_sync, .compact_at = config->compact_at,
				 .snapshot_chunk = config->snapshot_chunk, .history_entries = config->history_entries,
				 .history_bytes = config->history_bytes, .metrics = &s->metrics};
	struct host_hooks hh = {.ctx = s, .send = host_send, .backlog = host_backlog, .flush_sends = host_flush_sends,
				.write_done = write_done, .read_ready = read_ready, .read_failed = read_failed, .member_added = member_added,
				.forward = forward, .submit_done = submit_done, .shard_done = shard_done,
				.stamp = clock_stamp, .observe = clock_observe, .txn_applied = txn_applied};
	struct xshard_config xc = {.self = config->id, .clock = &s->clock.hlc, .two_phase = config->txn_two_phase};
	struct xshard_hooks xh = {.ctx = s, .send = xshard_send, .done = xshard_done, .lanes_held = lanes_held};
	s->hub = (struct change_hub){.ctx = s, .publish = publish, .moved = moved, .installed = installed};
	hc.hub = &s->hub;
	struct follow_config fc = {.token = config->token, .server_id = config->id, .version = GROVE_VERSION,
				   .submit_across = submit_across_shards, .ctx = s};
	int err = GROVE_OK;
	if (config->peers && config->listen && strrchr(config->listen, ':') &&
	    strcmp(strrchr(config->listen, ':'), ":0") == 0) {
		log_line("--listen with port 0 cannot be used with --peers: the other members must know the port");
		err = GROVE_EINVAL;
	}
	if (!err)
		err = loop_create(&lc, &lh, &s->loop);
	if (!err)
		err = founders(config, loop_port(s->loop), &hc.founders);
	if (!err)
		err = transport_create(s->loop, &tc, &s->transport);
	if (!err) {
		err = host_open(&hc, &hh, &s->host);
		if (err)
			log_line("cannot start with the data in %s: %s", config->data_dir, grove_strerror(err));
	}
	if (!err)
		err = start_clock(s);
	if (!err)
		err = xshard_create(&xc, &xh, &s->xshard);
	struct cut_hooks ch = {.ctx = s, .taken = cut_taken};
	if (!err)
		err = cut_list_create(s->host, s->xshard, &ch, &s->cuts);
	if (!err)
		err = offload_create(s->loop, &s->offload);
	if (!err)
		err = backups_open(s);
	fc.offload = s->offload;
	if (!err)
		err = follow_create(s->loop, s->host, &fc, &s->follow);
	if (!err && !(s->log_watch = loop_watch(s->loop, host_log_fd(s->host), EPOLLIN, on_log_event, s)))
		err = GROVE_EIO;
	if (!err && config->metrics_listen) {
		struct httpd_config hcfg = {.address = config->metrics_listen};
		struct httpd_hooks hhooks = {.ctx = s, .get = http_get};
		err = httpd_create(s->loop, &hcfg, &hhooks, &s->httpd);
	}
	if (err) {
		server_destroy(s);
		return err;
	}
	*out = s;
	return GROVE_OK;
}

int server_port(const struct server *s)
{
	return loop_port(s->loop);
}

int server_metrics_port(const struct server *s)
{
	return s->httpd ? httpd_port(s->httpd) : 0;
}

int server_run(struct server *s)
{
	log_line("serving on port %d, data in %s", loop_port(s->loop), s->config.data_dir);
	if (s->httpd)
		log_line("metrics on port %d: /metrics, /healthz, /readyz", httpd_port(s->httpd));
	int err = loop_run(s->loop);
	return err ? err : s->failed;
}

void server_destroy(struct server *s)
{
	if (!s)
		return;
	/* The transport's links, the log's eventfd and the offload's are the loop's watches: gone before it. */
	loop_unwatch(s->log_watch);
	httpd_destroy(s->httpd);
	offload_destroy(s->backups.offload); /* finishes a backup being written, before the store closes */
	offload_destroy(s->offload);
	transport_destroy(s->transport);
	loop_destroy(s->loop);
	follow_destroy(s->follow);
	host_close(s->host);
	cut_list_destroy(s->cuts);
	xshard_destroy(s->xshard);
	for (size_t i = 0; i < s->n_parked; i++)
		free(s->parked[i].request);
	free(s->parked);
	for (size_t i = 0; i < s->n_parked_writes; i++)
		free(s->parked_writes[i].request);
	free(s->parked_writes);
	free(s->garbage);
	free(s->cursors);
	backup_list_free(&s->backups.list);
	free(s);
}
