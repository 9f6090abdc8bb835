/**
 * @file internal.h
 * @brief Private to src/server: the state shared by the event loop
 * (server.c) and replication (replicated.c). Nothing outside src/server
 * includes it.
 */
#ifndef GROVE_SERVER_INTERNAL_H
#define GROVE_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/grove.pb-c.h"
#include "src/net/frame.h"
#include "src/server/cluster.h"
#include "src/server/handlers.h"
#include "src/server/server.h"
#include "src/tree/tree.h"
#include "storage/snapshot.h"
#include "storage/store.h"

/* What an epoll registration points at. */
enum endpoint_kind { ENDPOINT_CONN = 1, ENDPOINT_LINK = 2 };

/* One accepted connection: a client, or a peer sending us Raft messages. */
struct conn {
	enum endpoint_kind kind;    /* ENDPOINT_CONN */
	int fd;
	char peer[64];              /* "ip:port", for logs */
	struct frame_reader in;
	struct frame_writer out;
	bool authenticated;
	uint64_t peer_id;           /* a server that said hello as a peer, else 0 */
	bool closing;               /* close once the output is flushed */
	bool dead;                  /* socket failed: close now, drop output */
	struct snapshot saving;     /* the snapshot this client is fetching */
	struct snapshot_receiver restoring; /* the snapshot this client is sending */
	struct conn *next;          /* list of live connections */
};

/* An outbound connection to a peer, over which this server sends its Raft messages. */
struct peer_link {
	enum endpoint_kind kind;    /* ENDPOINT_LINK */
	uint64_t id;                /* the peer */
	char address[64];           /* where it listens */
	int fd;                     /* -1 when not connected */
	bool connected;             /* connect() finished and the hello is queued */
	uint64_t retry_at_ms;       /* earliest next connection attempt */
	struct frame_writer out;
	struct frame_reader in;     /* the peer's hello reply (or refusal) */
};

/* Largest snapshot chunk in one reply, and largest snapshot a client may restore. */
#define SNAPSHOT_CHUNK (4u << 20)
#define SNAPSHOT_RESTORE_MAX (16ull << 30)

/* A request received in this loop turn, answered after the turn's commit. */
struct pending {
	struct conn *conn;
	Grove__Envelope *env;       /* owned: free with grove__envelope__free_unpacked */
	uint64_t receive_ns;        /* when it was read (CLOCK_REALTIME) */
	struct tree_result result;  /* for writes: what applying it did */
	bool applied;               /* for writes: it reached the commit */
};

/* Replicated mode: a write waiting for its entry to be applied. */
struct proposal {
	struct conn *conn;          /* NULL once the client went away */
	uint64_t request_id;
	uint64_t index, term;       /* where the entry went */
	uint64_t receive_ns, durable_ns;
	bool restore;               /* a snapshot restore: answered with a SnapshotRestoreReply */
};

/* Replicated mode: a read waiting for ReadIndex confirmation. */
struct waiting_read {
	struct conn *conn;          /* NULL once the client went away */
	Grove__Envelope *env;       /* owned */
	uint64_t context;           /* the ReadIndex context */
};

struct server {
	struct server_config config;
	struct store *store;
	struct server_state state;  /* counters shared with the handlers */
	int listen_fd;
	int epoll_fd;
	int signal_fd;
	int port;
	struct conn *conns;
	struct pending *pending;
	size_t n_pending, pending_cap;
	bool stopping;
	/* Replicated mode (NULL cluster: a single node). */
	struct cluster *cluster;
	struct cluster_config cluster_config;
	int timer_fd;
	struct peer_link links[CLUSTER_MAX_PEERS];
	size_t n_links;
	struct proposal *proposals;
	size_t n_proposals, cap_proposals;
	struct waiting_read *reads;
	size_t n_reads, cap_reads;
	uint64_t next_read_context;
};

uint64_t srv_realtime_ns(void);
int srv_epoll_watch(struct server *s, int fd, void *ptr, uint32_t events, int op);
void srv_send_envelope(struct conn *c, Grove__Envelope *env);
void srv_send_error(struct conn *c, uint64_t request_id, int code, const char *message);
/* Answer a snapshot save request: offset 0 takes a new snapshot of the store, later offsets read its chunks. */
void srv_snapshot_save(struct server *s, struct conn *c, const Grove__Envelope *request);
/*
 * Add a chunk of a snapshot being restored to @p c's receiver. GROVE_OK with @p complete set once every
 * byte arrived and the snapshot verifies; a chunk out of place is not an error (the reply's next offset
 * tells the client where to resume); GROVE_EEXIST when the world is not empty; with a reason in @p why.
 */
int srv_restore_chunk(struct server *s, struct conn *c, const Grove__SnapshotRestoreRequest *rq, char *why,
		      size_t why_cap, bool *complete);
/* Answer a restore request (with where to send the next chunk, or that the snapshot is installed). */
void srv_restore_reply(struct conn *c, uint64_t request_id, int err, const char *why, bool installed,
		       uint64_t applied_index);

/* replicated.c */
int replication_start(struct server *s);
void replication_stop(struct server *s);
void replication_timer(struct server *s);
void replication_link_event(struct server *s, struct peer_link *l, uint32_t events);
bool replication_accept_peer(struct server *s, struct conn *c, const Grove__Hello *hello);
void replication_peer_message(struct server *s, struct conn *c, const Grove__Envelope *env);
void replication_turn(struct server *s);
void replication_forget_conn(struct server *s, struct conn *c);
void replication_flush_links(struct server *s);

#endif
