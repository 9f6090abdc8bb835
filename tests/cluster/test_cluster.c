/* A real 3-node groved cluster on 127.0.0.1: the leader is killed with SIGKILL during a stream of writes and
 * every acknowledged write is on all three nodes afterwards; a follower that was down while thousands of
 * writes landed catches up, through a snapshot once the log was compacted past it, and a subscriber of a
 * follower that installs such a snapshot is told to take a new one; leadership transfer;
 * peers with the wrong cluster token or id are refused. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/grove.pb-c.h"
#include "src/common/error.h"
#include "src/net/client.h"
#include "src/net/wire.h"
#include "src/server/groupstate.h"
#include "src/server/tree_sm.h"
#include "src/tree/tree.h"
#include "storage/store.h"
#include "storage/wal.h"
#include "cluster.h"
#include "harness.h"
#include "support.h"

/* The world's tree (group 1) of the store the test opened last, and its groups' state. */
static struct tree world;
static store_db state_db;

/* Small chunks, so that every snapshot sent to a follower travels in many pieces. */
#define SNAPSHOT_CHUNK "16384"

/* Every member compacts its Raft log past @p compact_at applied entries. */
static void start_compacting(struct cluster *c, int compact_at)
{
	char at[32];
	snprintf(at, sizeof(at), "%d", compact_at);
	const char *const args[] = {"--raft-compact-at", at, "--snapshot-chunk", SNAPSHOT_CHUNK, NULL};
	cluster_start(c, args);
}

/* Start node @p node expecting it to refuse within 10 s: returns its exit status. */
static int node_start_refused(struct cluster *c, int node)
{
	int out, status;
	pid_t pid = cluster_node_spawn(c, node, &out);
	close(out);
	for (int t = 0; t < 100; t++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("node %d started when it should have refused", node);
	return status;
}

/* ---- writers ---- */

/* How long the writers may take: 50,000 writes take about 50 s in the sanitizer build on a quiet 2-core machine. */
#define WRITERS_SECONDS 300

struct writer {
	struct cluster *c;
	int first, count;
	volatile int acked;        /* writes acknowledged, a prefix of first.. */
	volatile bool stop;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	struct grove_client *cl = NULL;
	time_t deadline = time(NULL) + WRITERS_SECONDS;
	int i = 0, node = 1;
	while (i < w->count && !w->stop && time(NULL) < deadline) {
		if (!cl) {
			char address[32];
			node = node % CLUSTER_NODES + 1;
			cluster_address(w->c, node, address, sizeof(address));
			if (grove_client_connect(address, NULL, 2000, &cl, NULL, 0)) {
				cl = NULL;
				usleep(50000);
				continue;
			}
		}
		char prop[32];
		snprintf(prop, sizeof(prop), "p%d", w->first + i);
		int code = client_set_int(cl, "/root", prop, w->first + i);
		if (code == 0) {
			i++;
			w->acked = i;
		} else {
			/* The connection died with its node, or the write was refused during an election: a
			 * write not acknowledged may or may not be there; it is simply written again. */
			grove_client_close(cl);
			cl = NULL;
		}
	}
	grove_client_close(cl);
	return NULL;
}

/* Whom run_writers() kills with SIGKILL in the middle of the writes. */
enum victims { KILL_NONE, KILL_LEADER, KILL_ALL };

/*
 * @p threads writers write @p each properties each. With @p kill, once @p kill_after writes are
 * acknowledged, the leader (or every node at once) is killed with SIGKILL and started again 1.5 s later.
 */
static void run_writers(struct cluster *c, struct writer *w, int threads, int each, enum victims kill,
			int kill_after)
{
	pthread_t t[8];
	for (int i = 0; i < threads; i++) {
		w[i] = (struct writer){.c = c, .first = i * each, .count = each};
		pthread_create(&t[i], NULL, write_loop, &w[i]);
	}
	if (kill != KILL_NONE) {
		time_t deadline = time(NULL) + 60;
		for (;;) {
			int total = 0;
			for (int i = 0; i < threads; i++)
				total += w[i].acked;
			if (total >= kill_after || time(NULL) > deadline)
				break;
			usleep(2000);
		}
		uint64_t applied[CLUSTER_NODES + 1];
		int leader = cluster_leader(c, applied);
		assert_true(leader > 0);
		for (int n = 1; n <= CLUSTER_NODES; n++)
			if (n == leader || kill == KILL_ALL)
				cluster_node_signal(c, n, SIGKILL);
		print_message("kill -9 of %s after %d acknowledged writes\n", kill == KILL_ALL ? "every node" : "the leader",
			      kill_after);
		/* Bring them back a little later: the writers meanwhile retry. */
		usleep(1500000);
		for (int n = 1; n <= CLUSTER_NODES; n++)
			if (!c->pids[n])
				cluster_node_start(c, n);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
}

/* Open node @p node's store (its process stopped) and a read transaction on it. */
static struct store_txn *open_store(struct cluster *c, int node, struct store **s)
{
	char data[4096];
	snprintf(data, sizeof(data), "%s/node%d", c->dir, node);
	assert_int_equal(store_open(s, data, NULL), GROVE_OK);
	assert_int_equal(tree_open(*s, 1, &world), GROVE_OK);
	assert_int_equal(groupstate_open(*s, &state_db), GROVE_OK);
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(*s, NULL, false, &txn), GROVE_OK);
	return txn;
}

/* Check every acknowledged write in node @p node's store (the cluster is stopped). */
static uint64_t check_store(struct cluster *c, int node, struct writer *w, int threads)
{
	struct store *s;
	struct store_txn *txn = open_store(c, node, &s);
	for (int t = 0; t < threads; t++)
		for (int i = 0; i < w[t].acked; i++) {
			char prop[32];
			snprintf(prop, sizeof(prop), "p%d", w[t].first + i);
			struct variant v;
			int err = tree_get_prop(&world, txn, TREE_ROOT_ID, prop, &v);
			if (err)
				fail_msg("node %d lost acknowledged write %s", node, prop);
			assert_int_equal(v.as.i, w[t].first + i);
		}
	uint64_t applied;
	assert_int_equal(groupstate_get_applied(txn, state_db, 1, &applied), GROVE_OK);
	store_txn_abort(txn);
	store_close(s);
	return applied;
}

/*
 * Every member's store holds at least what all had applied when they converged at @p applied: a member
 * stopped later may have applied more, e.g. the empty entry of a leader elected while the others stopped.
 */
static void check_stores(struct cluster *c, struct writer *w, int threads, uint64_t applied)
{
	for (int n = 1; n <= CLUSTER_NODES; n++)
		assert_true(check_store(c, n, w, threads) >= applied);
}

/*
 * 4,000 writes from four writers, with @p kill after 1,500 of them: every acknowledged write is on every
 * node's store afterwards, however many nodes had to bring it back from their own Raft log.
 */
static void kill_during_writes(enum victims kill)
{
	struct cluster c;
	start_compacting(&c, 20000);
	cluster_wait_leader(&c);
	struct writer w[4];
	run_writers(&c, w, 4, 1000, kill, 1500);
	int total = 0;
	for (int i = 0; i < 4; i++)
		total += w[i].acked;
	print_message("%d writes acknowledged\n", total);
	assert_int_equal(total, 4000);
	uint64_t applied = cluster_wait_converged(&c);
	cluster_stop(&c);
	check_stores(&c, w, 4, applied);
	test_rmtree(c.dir);
}

static void test_kill_leader_keeps_acknowledged_writes(void **state)
{
	(void)state;
	kill_during_writes(KILL_LEADER);
}

static void test_kill_all_keeps_acknowledged_writes(void **state)
{
	(void)state;
	kill_during_writes(KILL_ALL);
}

/*
 * A follower is stopped while 50,000 writes land, then restarted: it must end with every acknowledged write,
 * through the log when the leader kept it, through a snapshot (sent in chunks) when the log was compacted.
 */
static void follower_catches_up(int compact_at, bool by_snapshot)
{
	struct cluster c;
	start_compacting(&c, compact_at);
	int leader = cluster_wait_leader(&c);
	int follower = leader % CLUSTER_NODES + 1;
	cluster_node_signal(&c, follower, SIGTERM);
	struct writer w[8];
	time_t start = time(NULL);
	run_writers(&c, w, 8, 6250, KILL_NONE, 0);
	int total = 0;
	for (int i = 0; i < 8; i++)
		total += w[i].acked;
	print_message("%d writes acknowledged in %lld s while node %d was down\n", total, (long long)(time(NULL) - start),
		      follower);
	if (total != 50000)
		fail_msg("only %d of 50000 writes were acknowledged within %d s", total, WRITERS_SECONDS);
	cluster_node_start(&c, follower);
	uint64_t applied = cluster_wait_converged(&c);
	cluster_stop(&c);
	check_stores(&c, w, 8, applied);
	char line[512];
	bool installed = cluster_log_has(&c, follower, "installed a snapshot", line, sizeof(line));
	assert_int_equal(installed, by_snapshot);
	if (by_snapshot) {
		unsigned long long bytes = 0;
		assert_int_equal(sscanf(strstr(line, "installed a snapshot"), "installed a snapshot of %llu bytes", &bytes),
				 1);
		print_message("node %d %s", follower, strstr(line, "installed"));
		assert_true(bytes > (unsigned long long)atoi(SNAPSHOT_CHUNK)); /* it came in several chunks */
	}
	test_rmtree(c.dir);
}

static void test_follower_catches_up_by_log(void **state)
{
	(void)state;
	follower_catches_up(200000, false);
}

static void test_follower_catches_up_by_snapshot(void **state)
{
	(void)state;
	follower_catches_up(5000, true); /* compact past 5,000 entries: the follower misses far more */
}

/*
 * A subscriber of a follower that falls behind the leader's compacted log: once the follower installs a
 * snapshot, the entries it covers were never applied there, so the subscriber is told "compacted" (it takes a
 * new snapshot, which holds them) instead of being handed the entries after the snapshot as if nothing lay
 * between. The new snapshot has the last value.
 */
static void test_subscriber_of_a_follower_that_installs_a_snapshot(void **state)
{
	(void)state;
	struct cluster c;
	start_compacting(&c, 200);
	int leader = cluster_wait_leader(&c);
	int follower = leader % CLUSTER_NODES + 1;
	struct grove_client *cl = cluster_connect(&c, leader);
	struct tree_op make = {.kind = TREE_OP_CREATE, .node = {.path = "/root"}, .name = "N", .text = "Node", .index = -1};
	assert_int_equal(client_write_ops(cl, &make, 1), GROVE_OK);
	cluster_wait_converged(&c);
	struct grove_client *sub = cluster_connect(&c, follower);
	assert_int_equal(client_subscribe(sub, "/root", false, 0), GROVE_OK);
	Grove__Envelope *msg;
	do {
		assert_int_equal(grove_client_receive(sub, 10000, &msg), GROVE_OK);
		assert_int_equal(msg->body_case, GROVE__ENVELOPE__BODY_SUBSCRIBE_EVENT);
		bool snapshot_done = msg->subscribe_event->kind == GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT &&
				     msg->subscribe_event->last;
		grove__envelope__free_unpacked(msg, NULL);
		if (snapshot_done)
			break;
	} while (true);
	assert_int_equal(kill(c.pids[follower], SIGSTOP), 0);
	enum { WRITES = 1000 };
	for (int i = 1; i <= WRITES; i++)
		assert_int_equal(client_set_int(cl, "/root/N", "v", i), GROVE_OK);
	assert_int_equal(kill(c.pids[follower], SIGCONT), 0);
	cluster_wait_converged(&c);
	assert_int_equal(client_set_int(cl, "/root/N", "v", WRITES + 1), GROVE_OK); /* one more once it is back */
	int64_t last_value = 0;
	bool compacted = false;
	for (int events = 0; events < 10 * WRITES && !compacted; events++) {
		assert_int_equal(grove_client_receive(sub, 10000, &msg), GROVE_OK);
		const Grove__SubscribeEvent *ev = msg->subscribe_event;
		assert_non_null(ev);
		compacted = ev->kind == GROVE__SUBSCRIBE_EVENT__KIND__COMPACTED;
		if (compacted)
			assert_non_null(strstr(ev->reason, "replaced by a snapshot"));
		for (size_t i = 0; i < ev->n_changes; i++) {
			struct variant v;
			if (strcmp(ev->changes[i]->name, "v") != 0 ||
			    variant_decode(&v, ev->changes[i]->value.data, ev->changes[i]->value.len, NULL) != GROVE_OK)
				continue;
			if (v.as.i != last_value + 1)
				fail_msg("the subscriber got v = %lld after %lld, with nothing in between", (long long)v.as.i,
					 (long long)last_value);
			last_value = v.as.i;
		}
		grove__envelope__free_unpacked(msg, NULL);
	}
	assert_true(compacted);
	char line[512];
	assert_true(cluster_log_has(&c, follower, "installed a snapshot", line, sizeof(line)));
	print_message("the follower's subscriber had %lld of %d values when it was told to take a new snapshot\n",
		      (long long)last_value, WRITES);
	/* "compacted" can come before the follower applied the last write, answered with the other follower's ack. */
	cluster_wait_converged(&c);
	assert_int_equal(client_subscribe(sub, "/root", false, 0), GROVE_OK);
	assert_int_equal(grove_client_receive(sub, 10000, &msg), GROVE_OK);
	assert_int_equal(msg->subscribe_event->kind, GROVE__SUBSCRIBE_EVENT__KIND__SNAPSHOT);
	char want[32];
	snprintf(want, sizeof(want), "v = %d", WRITES + 1);
	char *scene = strndup((const char *)msg->subscribe_event->data.data, msg->subscribe_event->data.len);
	assert_non_null(strstr(scene, want));
	free(scene);
	grove__envelope__free_unpacked(msg, NULL);
	grove_client_close(sub);
	grove_client_close(cl);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

static void test_bad_peers_refused(void **state)
{
	(void)state;
	struct cluster c;
	start_compacting(&c, 20000);
	cluster_wait_leader(&c);
	const struct {
		const char *token;
		uint64_t cluster_id, peer_id;
		const char *logged;
	} bad[] = {{"wrong", 1, 2, "wrong cluster token"}, {"test-token", 99, 2, "this is cluster 1"},
		   {"test-token", 1, 42, "unknown peer id"}};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c.ports[1])};
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		Grove__Hello hello = GROVE__HELLO__INIT;
		hello.role = GROVE__HELLO__ROLE__PEER;
		hello.token = (char *)bad[k].token;
		hello.cluster_id = bad[k].cluster_id;
		hello.peer_id = bad[k].peer_id;
		Grove__Envelope env = GROVE__ENVELOPE__INIT;
		env.version = 1;
		env.body_case = GROVE__ENVELOPE__BODY_HELLO;
		env.hello = &hello;
		uint8_t buf[256];
		size_t len = grove__envelope__pack(&env, buf + 4);
		buf[0] = (uint8_t)len;
		buf[1] = buf[2] = buf[3] = 0;
		assert_int_equal(send(fd, buf, len + 4, 0), (ssize_t)(len + 4));
		struct timeval tv = {.tv_sec = 5};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char rbuf[512];
		ssize_t n;
		while ((n = recv(fd, rbuf, sizeof(rbuf), 0)) > 0) {
		}
		assert_int_equal(n, 0); /* closed by the server */
		close(fd);
		char log[4096];
		snprintf(log, sizeof(log), "%s/node1.log", c.dir);
		FILE *f = fopen(log, "r");
		char line[512];
		bool found = false;
		while (f && fgets(line, sizeof(line), f))
			found |= strstr(line, bad[k].logged) != NULL;
		if (f)
			fclose(f);
		assert_true(found);
	}
	/* The cluster did not notice. */
	struct writer w[1];
	run_writers(&c, w, 1, 10, KILL_NONE, 0);
	assert_int_equal(w[0].acked, 10);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

static void test_transfer_leader(void **state)
{
	(void)state;
	struct cluster c;
	start_compacting(&c, 20000);
	int leader = cluster_wait_leader(&c);
	int target = leader % CLUSTER_NODES + 1;
	char address[32];
	cluster_address(&c, leader, address, sizeof(address));
	struct grove_client *cl;
	assert_int_equal(grove_client_connect(address, NULL, 5000, &cl, NULL, 0), GROVE_OK);
	Grove__ClusterRequest rq = GROVE__CLUSTER_REQUEST__INIT;
	rq.op = GROVE__CLUSTER_REQUEST__OP__TRANSFER_LEADER;
	rq.node = (uint64_t)target;
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_CLUSTER;
	env.cluster = &rq;
	assert_int_equal(grove_client_call(cl, &env, &reply), GROVE_OK);
	assert_int_equal(reply->body_case, GROVE__ENVELOPE__BODY_CLUSTER_REPLY);
	assert_int_equal(reply->cluster_reply->code, 0);
	grove__envelope__free_unpacked(reply, NULL);
	grove_client_close(cl);
	uint64_t applied[CLUSTER_NODES + 1];
	int now = 0;
	for (int t = 0; t < 50 && now != target; t++) {
		usleep(100000);
		now = cluster_leader(&c, applied);
	}
	assert_int_equal(now, target);
	struct writer w[1];
	run_writers(&c, w, 1, 20, KILL_NONE, 0);
	assert_int_equal(w[0].acked, 20);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

static int cluster_admin(struct cluster *c, int via, Grove__ClusterRequest__Op op, uint64_t node, const char *address)
{
	char server[32];
	cluster_address(c, via, server, sizeof(server));
	struct grove_client *cl;
	assert_int_equal(grove_client_connect(server, NULL, 5000, &cl, NULL, 0), GROVE_OK);
	Grove__ClusterRequest rq = GROVE__CLUSTER_REQUEST__INIT;
	rq.op = op;
	rq.node = node;
	rq.address = (char *)(address ? address : "");
	Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
	env.body_case = GROVE__ENVELOPE__BODY_CLUSTER;
	env.cluster = &rq;
	assert_int_equal(grove_client_call(cl, &env, &reply), GROVE_OK);
	int code = reply->body_case == GROVE__ENVELOPE__BODY_CLUSTER_REPLY ? (int)reply->cluster_reply->code : -1;
	grove__envelope__free_unpacked(reply, NULL);
	grove_client_close(cl);
	return code;
}

/* A fourth server joins as a learner, catches up, is promoted; then an original member is removed. */
static void test_add_learner_promote_remove(void **state)
{
	(void)state;
	struct cluster c;
	start_compacting(&c, 20000);
	int leader = cluster_wait_leader(&c);
	struct writer w[2];
	run_writers(&c, w, 2, 300, KILL_NONE, 0);
	/* Node 4: it knows the others' addresses, waits to be added. */
	char listen4[32];
	pid_t pid4 = cluster_spawn_joiner(&c, 4, listen4, sizeof(listen4));
	usleep(300000);
	/* An address its peers could not dial (a host name, no port) is refused before anything is proposed. */
	assert_int_equal(cluster_admin(&c, leader, GROVE__CLUSTER_REQUEST__OP__ADD_LEARNER, 4, "localhost:7404"),
			 GROVE_EINVAL);
	assert_int_equal(cluster_admin(&c, leader, GROVE__CLUSTER_REQUEST__OP__ADD_LEARNER, 4, "127.0.0.1"),
			 GROVE_EINVAL);
	assert_int_equal(cluster_admin(&c, leader, GROVE__CLUSTER_REQUEST__OP__ADD_LEARNER, 4, listen4), 0);
	/* Promotion waits until the learner has caught up with the leader. */
	uint64_t applied4 = 0, applied[CLUSTER_NODES + 1];
	for (int t = 0; t < 100; t++) {
		cluster_leader(&c, applied);
		struct grove_client *cl;
		if (grove_client_connect(listen4, NULL, 1000, &cl, NULL, 0) == GROVE_OK) {
			Grove__StatusRequest sr = GROVE__STATUS_REQUEST__INIT;
			Grove__Envelope env = GROVE__ENVELOPE__INIT, *reply;
			env.body_case = GROVE__ENVELOPE__BODY_STATUS;
			env.status = &sr;
			if (grove_client_call(cl, &env, &reply) == GROVE_OK) {
				applied4 = reply->status_reply->applied_index;
				if (t == 0 || applied4 < applied[leader])
					assert_string_equal(reply->status_reply->role, "learner");
				grove__envelope__free_unpacked(reply, NULL);
			}
			grove_client_close(cl);
		}
		if (applied4 > 0 && applied4 >= applied[leader])
			break;
		usleep(100000);
	}
	assert_true(applied4 >= applied[leader]);
	int code;
	for (int t = 0; t < 50 && (code = cluster_admin(&c, leader, GROVE__CLUSTER_REQUEST__OP__PROMOTE, 4, NULL)) != 0; t++)
		usleep(100000); /* the add may still be pending */
	assert_int_equal(code, 0);
	/* Remove a follower that is not the leader; writes keep committing. */
	int gone = leader % CLUSTER_NODES + 1;
	for (int t = 0; t < 50 && (code = cluster_admin(&c, leader, GROVE__CLUSTER_REQUEST__OP__REMOVE, (uint64_t)gone, NULL)) != 0; t++)
		usleep(100000);
	assert_int_equal(code, 0);
	usleep(500000);
	cluster_node_signal(&c, gone, SIGTERM);
	struct writer more[1];
	run_writers(&c, more, 1, 50, KILL_NONE, 0);
	assert_int_equal(more[0].acked, 50);
	kill(pid4, SIGTERM);
	waitpid(pid4, NULL, 0);
	cluster_stop(&c);
	test_rmtree(c.dir);
}

/* Run the grove CLI against node @p node; @p r receives its exit status and output. */
#define CLI(c, node, r, ...)                                                      \
	do {                                                                      \
		struct groved_proc target_ = {0};                                 \
		cluster_address(c, node, target_.address, sizeof(target_.address));    \
		cli_run(&target_, r, __VA_ARGS__, (char *)NULL);                  \
		if ((r)->status)                                                  \
			print_message("grove: exit %d: %s", (r)->status, (r)->err); \
	} while (0)

/* Whether node @p node's store (its cluster stopped) holds @p path. */
static bool store_has(struct cluster *c, int node, const char *path)
{
	struct store *s;
	struct store_txn *txn = open_store(c, node, &s);
	uint64_t id;
	bool found = tree_resolve_path(&world, txn, path, &id) == GROVE_OK;
	store_txn_abort(txn);
	store_close(s);
	return found;
}

/*
 * A world saved from one cluster is restored into a fresh cluster through a follower (redirected to the
 * leader), reaches every member, keeps its ids and values, and accepts writes after; a second restore into
 * the now non-empty world is refused.
 */
static void test_restore_into_fresh_cluster(void **state)
{
	(void)state;
	struct cli_result *r = malloc(sizeof(*r));
	struct cluster a;
	start_compacting(&a, 200000);
	int leader = cluster_wait_leader(&a);
	CLI(&a, leader, r, "add", "/root/World", "Node3D");
	assert_int_equal(r->status, 0);
	CLI(&a, leader, r, "add", "/root/World/Player", "KinematicBody");
	assert_int_equal(r->status, 0);
	CLI(&a, leader, r, "set", "/root/World/Player", "translation", "Vector3(1, 2, 3)");
	assert_int_equal(r->status, 0);
	char file[4096];
	snprintf(file, sizeof(file), "%s/world.snap", a.dir);
	CLI(&a, leader, r, "snapshot", "save", file);
	assert_int_equal(r->status, 0);
	cluster_stop(&a);

	struct cluster b;
	start_compacting(&b, 200000);
	int follower = cluster_wait_leader(&b) % CLUSTER_NODES + 1;
	CLI(&b, follower, r, "snapshot", "restore", file);
	assert_int_equal(r->status, 0);
	print_message("%s", r->out);
	CLI(&b, follower, r, "get", "/root/World/Player", "translation");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "Vector3(1, 2, 3)"));
	CLI(&b, follower, r, "add", "/root/World/Enemy", "KinematicBody");
	assert_int_equal(r->status, 0);
	CLI(&b, follower, r, "snapshot", "restore", file);
	assert_int_not_equal(r->status, 0);
	assert_non_null(strstr(r->err, "empty world"));
	cluster_wait_converged(&b);
	cluster_stop(&b);
	for (int n = 1; n <= CLUSTER_NODES; n++) {
		assert_true(store_has(&b, n, "/root/World/Player"));
		assert_true(store_has(&b, n, "/root/World/Enemy"));
	}
	test_rmtree(b.dir);
	test_rmtree(a.dir);
	free(r);
}

/*
 * Write @p each properties from each of @p n writers into a new cluster, stop it, let @p tamper change the
 * stopped nodes' files, start it again and write 20 more. Returns the applied index the nodes converged to;
 * the cluster is stopped.
 */
static uint64_t restart_tampered(struct cluster *c, struct writer *w, int n, int each,
				 void (*tamper)(struct cluster *c))
{
	start_compacting(c, 20000);
	cluster_wait_leader(c);
	run_writers(c, w, n, each, KILL_NONE, 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(w[i].acked, each);
	cluster_wait_converged(c);
	cluster_stop(c);
	tamper(c);
	for (int i = 1; i <= CLUSTER_NODES; i++)
		cluster_node_start(c, i);
	cluster_wait_leader(c);
	struct writer more[1];
	run_writers(c, more, 1, 20, KILL_NONE, 0);
	assert_int_equal(more[0].acked, 20);
	uint64_t applied = cluster_wait_converged(c);
	cluster_stop(c);
	return applied;
}

/*
 * Leave node 2 as a crash between the two halves of a snapshot install would: the store notes a snapshot
 * at its applied index, and the log goes on after it with an entry of a far later term, one that the
 * install dropped (it sets property "stale").
 */
static void interrupt_install(struct cluster *c)
{
	const int node = 2;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/node%d/raft-log", c->dir, node);
	struct wal *w;
	struct wal_contents log;
	assert_int_equal(wal_open(&w, dir, &log), GROVE_OK);
	struct store *s;
	struct store_txn *txn = open_store(c, node, &s);
	uint64_t applied;
	assert_int_equal(groupstate_get_applied(txn, state_db, 1, &applied), GROVE_OK);
	store_txn_abort(txn);
	const struct wal_group *g = wal_contents_group(&log, 1);
	assert_non_null(g);
	assert_true(applied > g->snapshot_index && applied - g->snapshot_index <= g->n_entries);
	uint64_t term = g->entries[applied - g->snapshot_index - 1].term;
	assert_int_equal(store_txn_begin(s, NULL, true, &txn), GROVE_OK);
	assert_int_equal(groupstate_put_snapshot(txn, state_db, 1, applied, term), GROVE_OK);
	assert_int_equal(store_txn_commit(txn), GROVE_OK);
	store_close(s);

	struct variant v;
	variant_set_int(&v, 1);
	struct tree_op op = {.kind = TREE_OP_SET_PROP, .node = {.path = "/root"}, .name = "stale", .value = &v};
	struct wire_request wr;
	assert_int_equal(wire_encode_batch(&op, 1, &wr), GROVE_OK);
	uint8_t packed[256];
	packed[0] = TREE_CMD_WRITE;
	size_t len = 1 + grove__write_request__pack(&wr.req, packed + 1);
	wire_request_free(&wr);
	struct wal_entry stale = {applied + 1, 99, 0, packed, len};
	struct wal_hard_state hs = {99, 0, applied};
	assert_int_equal(wal_append(w, 1, &stale, 1), GROVE_OK);
	assert_int_equal(wal_set_hard_state(w, 1, &hs), GROVE_OK);
	assert_int_equal(wal_sync(w), GROVE_OK);
	wal_close(w);
	wal_contents_free(&log);
}

/*
 * A follower restarted after a crash in the middle of a snapshot install finishes it: the entries the
 * snapshot replaced never come back, even one of a term that would win it every election.
 */
static void test_interrupted_install_is_finished(void **state)
{
	(void)state;
	struct cluster c;
	struct writer w[1];
	uint64_t applied = restart_tampered(&c, w, 1, 50, interrupt_install);
	for (int n = 1; n <= CLUSTER_NODES; n++) {
		assert_true(check_store(&c, n, w, 1) >= applied);
		struct store *s;
		struct store_txn *txn = open_store(&c, n, &s);
		struct variant v;
		if (tree_get_prop(&world, txn, TREE_ROOT_ID, "stale", &v) != GROVE_ENOTFOUND)
			fail_msg("node %d applied an entry that a snapshot had replaced", n);
		store_txn_abort(txn);
		store_close(s);
	}
	char line[512];
	assert_true(cluster_log_has(&c, 2, "finishing the install", line, sizeof(line)));
	test_rmtree(c.dir);
}

/* A node whose Raft log is gone but whose store has applied entries refuses to start rather than bootstrap. */
static void test_missing_log_refused(void **state)
{
	(void)state;
	struct cluster c;
	start_compacting(&c, 20000);
	cluster_wait_leader(&c);
	struct writer w[1];
	run_writers(&c, w, 1, 10, KILL_NONE, 0);
	assert_int_equal(w[0].acked, 10);
	cluster_wait_converged(&c);
	cluster_stop(&c);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/node2/raft-log", c.dir);
	test_rmtree(strdup(dir));
	int status = node_start_refused(&c, 2);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	char line[512];
	assert_true(cluster_log_has(&c, 2, "but its log is missing", line, sizeof(line)));
	test_rmtree(c.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_leader_keeps_acknowledged_writes),
		cmocka_unit_test(test_kill_all_keeps_acknowledged_writes),
		cmocka_unit_test(test_follower_catches_up_by_log),
		cmocka_unit_test(test_follower_catches_up_by_snapshot),
		cmocka_unit_test(test_subscriber_of_a_follower_that_installs_a_snapshot),
		cmocka_unit_test(test_bad_peers_refused),
		cmocka_unit_test(test_transfer_leader),
		cmocka_unit_test(test_add_learner_promote_remove),
		cmocka_unit_test(test_restore_into_fresh_cluster),
		cmocka_unit_test(test_interrupted_install_is_finished),
		cmocka_unit_test(test_missing_log_refused),
	};
	/* GROVE_TEST_FILTER=test_transfer* runs only the matching tests. */
	if (getenv("GROVE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GROVE_TEST_FILTER"));
	return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
